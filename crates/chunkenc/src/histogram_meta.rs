//! What both histogram chunk encodings share (Go's `chunkenc/histogram_meta.go`): the chunk
//! header's counter-reset bits, the chunk bytes and the iterator state around the encoded
//! values, the bucket layout written by a chunk's first sample, the span arithmetic behind
//! appending a histogram whose buckets differ from the chunk's, and the appender's rules.

use model::histogram::CUSTOM_BUCKETS_SCHEMA;
use std::borrow::Cow;

use model::value::is_stale_nan;
use model::{CounterResetHint, Span};

use super::histogram::HistogramAppend;
use crate::Result;

mod chunk;

pub(crate) use chunk::{
    AppendState, ChunkStream, HistogramChunkBase, IterCore, histogram_chunk_common,
    histogram_iterator_common,
};

use super::bstream::{BitReader, BitWriter};
use super::varbit::{put_varbit_int, put_varbit_uint, read_varbit_int, read_varbit_uint};

/// Bytes before a histogram chunk's bit stream: a big-endian `u16` sample count and a flag
/// byte whose top two bits are the [`CounterResetHeader`].
pub(crate) const HISTOGRAM_HEADER_SIZE: usize = 3;
/// Where the flag byte sits.
pub(crate) const HISTOGRAM_FLAG_POS: usize = 2;
const COUNTER_RESET_MASK: u8 = 0b1100_0000;

/// The top two bits of a histogram chunk's flag byte: why the chunk was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterResetHeader {
    /// Not known whether the chunk starts with a counter reset (checked at query time).
    Unknown,
    /// The chunk was cut because of a counter reset.
    CounterReset,
    /// The chunk was cut without a counter reset.
    NotCounterReset,
    /// The chunk holds gauge histograms.
    Gauge,
}

impl CounterResetHeader {
    /// The header's bits in the flag byte.
    pub fn bits(self) -> u8 {
        match self {
            CounterResetHeader::Unknown => 0,
            CounterResetHeader::CounterReset => 0b1000_0000,
            CounterResetHeader::NotCounterReset => 0b0100_0000,
            CounterResetHeader::Gauge => 0b1100_0000,
        }
    }

    /// The header held by a flag byte.
    pub fn from_flags(b: u8) -> CounterResetHeader {
        match b & COUNTER_RESET_MASK {
            0b1000_0000 => CounterResetHeader::CounterReset,
            0b0100_0000 => CounterResetHeader::NotCounterReset,
            0b1100_0000 => CounterResetHeader::Gauge,
            _ => CounterResetHeader::Unknown,
        }
    }

    /// The header for a histogram's own hint (Go's `CounterResetHintToHeader`).
    pub fn from_hint(hint: CounterResetHint) -> CounterResetHeader {
        match hint {
            CounterResetHint::CounterReset => CounterResetHeader::CounterReset,
            CounterResetHint::NotCounterReset => CounterResetHeader::NotCounterReset,
            CounterResetHint::Gauge => CounterResetHeader::Gauge,
            CounterResetHint::Unknown => CounterResetHeader::Unknown,
        }
    }
}

/// The hint a read histogram gets: gauge in gauge chunks, "not a reset" after a chunk's
/// first sample, otherwise unknown (the previous chunk may be gone, so even a chunk cut on a
/// counter reset does not claim one: Go's `counterResetHint`).
pub(crate) fn counter_reset_hint(h: CounterResetHeader, num_read: u16) -> CounterResetHint {
    match h {
        CounterResetHeader::Gauge => CounterResetHint::Gauge,
        _ if num_read > 1 => CounterResetHint::NotCounterReset,
        _ => CounterResetHint::Unknown,
    }
}

pub(crate) fn set_header(stream: &mut [u8], h: CounterResetHeader) {
    stream[HISTOGRAM_FLAG_POS] = (stream[HISTOGRAM_FLAG_POS] & !COUNTER_RESET_MASK) | h.bits();
}

/// A chunk's bucket layout, written before its first sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Layout {
    pub(crate) schema: i32,
    pub(crate) zero_threshold: f64,
    pub(crate) positive_spans: Vec<Span>,
    pub(crate) negative_spans: Vec<Span>,
    pub(crate) custom_values: Vec<f64>,
}

pub(crate) fn write_layout(w: &mut BitWriter, l: &Layout) {
    put_zero_threshold(w, l.zero_threshold);
    put_varbit_int(w, i64::from(l.schema));
    put_spans(w, &l.positive_spans);
    put_spans(w, &l.negative_spans);
    if l.schema == CUSTOM_BUCKETS_SCHEMA {
        put_varbit_uint(w, l.custom_values.len() as u64);
        for &b in &l.custom_values {
            put_custom_bound(w, b);
        }
    }
}

pub(crate) fn read_layout(r: &mut BitReader, data: &[u8]) -> Option<Layout> {
    let zero_threshold = read_zero_threshold(r, data)?;
    let schema = i32::try_from(read_varbit_int(r, data)?).ok()?;
    let positive_spans = read_spans(r, data)?;
    let negative_spans = read_spans(r, data)?;
    let mut custom_values = Vec::new();
    if schema == CUSTOM_BUCKETS_SCHEMA {
        let n = read_varbit_uint(r, data)?;
        for _ in 0..n {
            custom_values.push(read_custom_bound(r, data)?);
        }
    }
    Some(Layout {
        schema,
        zero_threshold,
        positive_spans,
        negative_spans,
        custom_values,
    })
}

fn put_spans(w: &mut BitWriter, spans: &[Span]) {
    put_varbit_uint(w, spans.len() as u64);
    for s in spans {
        put_varbit_uint(w, u64::from(s.length));
        put_varbit_int(w, i64::from(s.offset));
    }
}

fn read_spans(r: &mut BitReader, data: &[u8]) -> Option<Vec<Span>> {
    let n = read_varbit_uint(r, data)?;
    // Each span takes at least two bits: a corrupt count cannot allocate beyond the data.
    if n > data.len() as u64 * 4 {
        return None;
    }
    let mut spans = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let length = read_varbit_uint(r, data)? as u32;
        let offset = read_varbit_int(r, data)? as i32;
        spans.push(Span { offset, length });
    }
    Some(spans)
}

/// The zero threshold in one byte for 0 and powers of two from 2^-243 to 2^10 (the
/// exponent plus 243), otherwise 255 and the 8 bytes of the float.
fn put_zero_threshold(w: &mut BitWriter, threshold: f64) {
    if threshold == 0.0 {
        w.write_byte(0);
        return;
    }
    match frexp_power_of_two(threshold) {
        Some(exp) if (-242..=11).contains(&exp) => w.write_byte((exp + 243) as u8),
        _ => {
            w.write_byte(255);
            w.write_bits(threshold.to_bits(), 64);
        }
    }
}

/// The `exp` of Go's `math.Frexp(x)` when its fraction is exactly 0.5 (a positive normal
/// power of two); `None` otherwise.
fn frexp_power_of_two(x: f64) -> Option<i32> {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if x <= 0.0 || bits & ((1 << 52) - 1) != 0 || biased == 0 || biased == 0x7ff {
        return None;
    }
    Some(biased - 1022)
}

fn read_zero_threshold(r: &mut BitReader, data: &[u8]) -> Option<f64> {
    match r.read_byte(data)? {
        0 => Some(0.0),
        255 => Some(f64::from_bits(r.read_bits(data, 64)?)),
        b => Some(0.5 * 2f64.powi(i32::from(b) - 243)),
    }
}

/// A custom bucket bound: multiples of 0.001 from 0 to 33554.430 as `bound*1000 + 1` in
/// unsigned varbit, anything else as a zero bit and the 8 bytes of the float.
fn put_custom_bound(w: &mut BitWriter, f: f64) {
    let tf = f * 1000.0;
    let whole = {
        let i = (f * 1000.0).round();
        i >= 0.0 && (i as u64) as f64 / 1000.0 == f
    };
    if !(0.0..=33_554_430.0).contains(&tf) || !whole {
        w.write_bits(0, 1);
        w.write_bits(f.to_bits(), 64);
        return;
    }
    put_varbit_uint(w, tf.round() as u64 + 1);
}

fn read_custom_bound(r: &mut BitReader, data: &[u8]) -> Option<f64> {
    match read_varbit_uint(r, data)? {
        0 => Some(f64::from_bits(r.read_bits(data, 64)?)),
        b => Some((b - 1) as f64 / 1000.0),
    }
}

/// Walks the bucket indices the spans cover (Go's `bucketIterator`).
pub(crate) struct BucketIndices<'a> {
    spans: &'a [Span],
    span: usize,
    bucket: i64,
    idx: i64,
}

impl<'a> BucketIndices<'a> {
    pub(crate) fn new(spans: &'a [Span]) -> BucketIndices<'a> {
        BucketIndices {
            spans,
            span: 0,
            bucket: -1,
            idx: -1 + spans.first().map_or(0, |s| i64::from(s.offset)),
        }
    }
}

impl Iterator for BucketIndices<'_> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        let cur = self.spans.get(self.span)?;
        if self.bucket < i64::from(cur.length) - 1 {
            self.bucket += 1;
            self.idx += 1;
            return Some(self.idx);
        }
        while self.span + 1 < self.spans.len() {
            self.span += 1;
            let s = self.spans[self.span];
            self.idx += i64::from(s.offset) + 1;
            self.bucket = 0;
            if s.length == 0 {
                self.idx -= 1;
                continue;
            }
            return Some(self.idx);
        }
        None
    }
}

/// `num` new buckets go before the `pos`th bucket of the original list; the first of them
/// has bucket index `bucket_idx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Insert {
    pub(crate) pos: usize,
    pub(crate) num: usize,
    pub(crate) bucket_idx: i64,
}

impl Insert {
    /// Ends the pending run of new buckets (keeping it when non-empty) and moves past one
    /// bucket of the original list.
    fn advance(&mut self, inserts: &mut Vec<Insert>) {
        self.flush(inserts);
        self.pos += 1;
    }

    /// Keeps the pending run of new buckets when non-empty and starts an empty one.
    fn flush(&mut self, inserts: &mut Vec<Insert>) {
        if self.num > 0 {
            inserts.push(*self);
            self.num = 0;
        }
    }
}

pub(crate) fn count_spans(spans: &[Span]) -> usize {
    spans.iter().map(|s| s.length as usize).sum()
}

/// The absolute bucket counts behind a list (deltas for integer histograms). Integer
/// arithmetic wraps, as Go's does, so corrupt data cannot overflow.
pub(crate) trait BucketCount: Copy + Default + PartialOrd {
    /// Whether the value is zero.
    fn is_zero(self) -> bool;
    /// `self + other`.
    fn plus(self, other: Self) -> Self;
    /// `-self`.
    fn negate(self) -> Self;
}

impl BucketCount for i64 {
    fn is_zero(self) -> bool {
        self == 0
    }
    fn plus(self, other: i64) -> i64 {
        self.wrapping_add(other)
    }
    fn negate(self) -> i64 {
        self.wrapping_neg()
    }
}

impl BucketCount for f64 {
    fn is_zero(self) -> bool {
        self == 0.0
    }
    fn plus(self, other: f64) -> f64 {
        self + other
    }
    fn negate(self) -> f64 {
        -self
    }
}

/// Which side of a two-way bucket walk moves next.
enum Step {
    /// Both are at this bucket.
    Both(i64),
    /// Only `a` has this (lower) bucket.
    A(i64),
    /// Only `b` has this (lower) bucket.
    B(i64),
    /// Both ran out.
    Done,
}

fn step(a: Option<i64>, b: Option<i64>) -> Step {
    match (a, b) {
        (Some(x), Some(y)) if x == y => Step::Both(x),
        (Some(x), Some(y)) if x > y => Step::B(y),
        (Some(x), _) => Step::A(x),
        (None, Some(y)) => Step::B(y),
        (None, None) => Step::Done,
    }
}

/// Go's `expandIntSpansAndBuckets`/`expandFloatSpansAndBuckets`: the inserts that expand
/// the chunk's layout `a` to cover `b` (forward), and those that expand `b` with the
/// chunk's buckets it lacks (backward, allowed only where the chunk's count is 0). `None`
/// when `b` lacks a used bucket of `a` or any bucket count went down (a counter reset).
/// `a_counts` are absolute counts; `b_buckets` are deltas when `deltas` is set.
pub(crate) fn expand_spans_and_buckets<V: BucketCount>(
    a: &[Span],
    b: &[Span],
    a_counts: &[V],
    b_buckets: &[V],
    deltas: bool,
) -> Option<(Vec<Insert>, Vec<Insert>)> {
    let mut ai = BucketIndices::new(a);
    let mut bi = BucketIndices::new(b);
    let (mut a_inserts, mut b_inserts) = (Vec::new(), Vec::new());
    let (mut a_inter, mut b_inter) = (Insert::default(), Insert::default());
    let mut a_idx = ai.next();
    let mut b_idx = bi.next();
    let (mut a_pos, mut b_pos) = (0usize, 0usize);
    let mut b_count = b_buckets.first().copied().unwrap_or_default();

    fn add_insert(inserts: &mut Vec<Insert>, ins: &mut Insert, other: i64) {
        if ins.num == 0 {
            ins.bucket_idx = other;
        } else if ins.bucket_idx + ins.num as i64 != other {
            inserts.push(*ins);
            ins.num = 0;
            ins.bucket_idx = other;
        }
        ins.num += 1;
    }

    // Moves past the current bucket of `a`.
    macro_rules! advance_a {
        () => {
            a_inter.advance(&mut a_inserts);
            a_idx = ai.next();
            a_pos += 1;
        };
    }
    // Moves past the current bucket of `b`, reading its count.
    macro_rules! advance_b {
        () => {
            b_inter.advance(&mut b_inserts);
            b_idx = bi.next();
            b_pos += 1;
            if b_idx.is_some() {
                let next = b_buckets.get(b_pos).copied().unwrap_or_default();
                b_count = if deltas { b_count.plus(next) } else { next };
            }
        };
    }

    loop {
        let a_count = a_idx.map(|_| a_counts.get(a_pos).copied().unwrap_or_default());
        match step(a_idx, b_idx) {
            Step::Both(_) => {
                if a_count? > b_count {
                    return None;
                }
                advance_a!();
                advance_b!();
            }
            Step::A(x) => {
                // b misses a bucket of a: fine only when a's count is zero.
                if !a_count?.is_zero() {
                    return None;
                }
                add_insert(&mut b_inserts, &mut b_inter, x);
                advance_a!();
            }
            Step::B(y) => {
                add_insert(&mut a_inserts, &mut a_inter, y);
                advance_b!();
            }
            Step::Done => {
                a_inter.flush(&mut a_inserts);
                b_inter.flush(&mut b_inserts);
                return Some((a_inserts, b_inserts));
            }
        }
    }
}

/// Go's `expandSpansBothWays` (gauge histograms): forward inserts for `a`, backward inserts
/// for `b`, and the merged spans covering both.
pub(crate) fn expand_spans_both_ways(
    a: &[Span],
    b: &[Span],
) -> (Vec<Insert>, Vec<Insert>, Vec<Span>) {
    let mut ai = BucketIndices::new(a);
    let mut bi = BucketIndices::new(b);
    let (mut f_inserts, mut b_inserts) = (Vec::new(), Vec::new());
    let mut merged = SpanBuilder::default();
    let (mut f_inter, mut b_inter) = (Insert::default(), Insert::default());
    let mut av = ai.next();
    let mut bv = bi.next();
    loop {
        match step(av, bv) {
            Step::Both(x) => {
                f_inter.advance(&mut f_inserts);
                b_inter.advance(&mut b_inserts);
                merged.add(x);
                av = ai.next();
                bv = bi.next();
            }
            Step::A(x) => {
                b_inter.num += 1;
                f_inter.advance(&mut f_inserts);
                merged.add(x);
                av = ai.next();
            }
            Step::B(y) => {
                f_inter.num += 1;
                b_inter.advance(&mut b_inserts);
                merged.add(y);
                bv = bi.next();
            }
            Step::Done => {
                f_inter.flush(&mut f_inserts);
                b_inter.flush(&mut b_inserts);
                return (f_inserts, b_inserts, merged.spans);
            }
        }
    }
}

/// Builds spans from increasing bucket indices.
#[derive(Default)]
struct SpanBuilder {
    spans: Vec<Span>,
    last: i64,
}

impl SpanBuilder {
    fn add(&mut self, b: i64) {
        let mut offset = b - self.last - 1;
        match self.spans.last_mut() {
            Some(s) if offset == 0 => s.length += 1,
            _ => {
                if self.spans.is_empty() {
                    offset += 1;
                }
                self.spans.push(Span {
                    offset: offset as i32,
                    length: 1,
                });
            }
        }
        self.last = b;
    }
}

/// Go's `insert`: `input` with the inserted buckets, as zeros (absolute counts) or as the
/// deltas that make them zero and keep the following bucket's count (`deltas`).
pub(crate) fn insert<V: BucketCount>(input: &[V], inserts: &[Insert], deltas: bool) -> Vec<V> {
    let extra: usize = inserts.iter().map(|i| i.num).sum();
    let mut out = Vec::with_capacity(input.len() + extra);
    let mut v = V::default();
    let mut ii = 0;
    let push_new = |out: &mut Vec<V>, num: usize, v: V| {
        out.push(if deltas { v.negate() } else { V::default() });
        for _ in 1..num {
            out.push(V::default());
        }
    };
    for (i, &d) in input.iter().enumerate() {
        if ii < inserts.len() && i == inserts[ii].pos {
            push_new(&mut out, inserts[ii].num, v);
            ii += 1;
            out.push(if deltas { d.plus(v) } else { d });
            v = d.plus(v);
            continue;
        }
        out.push(d);
        v = v.plus(d);
    }
    // Inserts after the last bucket (one at most for inserts made by the functions above).
    while ii < inserts.len() {
        push_new(&mut out, inserts[ii].num, v);
        v = V::default();
        ii += 1;
    }
    out
}

/// Go's `adjustForInserts`: the spans with the inserted buckets added.
pub(crate) fn adjust_for_inserts(spans: &[Span], inserts: &[Insert]) -> Vec<Span> {
    if inserts.is_empty() {
        return spans.to_vec();
    }
    let mut merged = SpanBuilder::default();
    let mut i = 0;
    let mut insert_idx = inserts[0].bucket_idx;
    let mut insert_num = inserts[0].num;
    let consume = |i: &mut usize, insert_idx: &mut i64, insert_num: &mut usize| {
        *insert_num -= 1;
        if *insert_num == 0 {
            *i += 1;
            if let Some(next) = inserts.get(*i) {
                *insert_idx = next.bucket_idx;
                *insert_num = next.num;
            }
        } else {
            *insert_idx += 1;
        }
    };
    let mut it = BucketIndices::new(spans);
    let mut bucket = it.next();
    while let Some(b) = bucket {
        if i < inserts.len() && insert_idx < b {
            merged.add(insert_idx);
            consume(&mut i, &mut insert_idx, &mut insert_num);
        } else {
            merged.add(b);
            bucket = it.next();
        }
    }
    while i < inserts.len() {
        merged.add(insert_idx);
        consume(&mut i, &mut insert_idx, &mut insert_num);
    }
    merged.spans
}

/// Absolute counts from delta-encoded buckets.
pub(crate) fn absolute(deltas: &[i64]) -> Vec<i64> {
    let mut cur = 0i64;
    deltas
        .iter()
        .map(|d| {
            cur = cur.wrapping_add(*d);
            cur
        })
        .collect()
}

/// The histogram types a histogram chunk holds (integer or float counts): what the shared
/// appender reads of a sample and how it adds empty buckets to one.
pub(crate) trait ChunkHistogram: Clone {
    /// The type of the count and zero count (`u64`, `f64`).
    type Count: PartialOrd + Copy;
    /// The type of a stored bucket (`i64` deltas, `f64` absolute counts).
    type Bucket: BucketCount;
    /// Whether buckets are delta-encoded.
    const DELTAS: bool;
    fn hint(&self) -> CounterResetHint;
    fn count(&self) -> Self::Count;
    fn zero_count(&self) -> Self::Count;
    fn positive_buckets(&self) -> &[Self::Bucket];
    fn negative_buckets(&self) -> &[Self::Bucket];
    /// A stale marker as chunks store it: the stale NaN `sum`, nothing else.
    fn stale_marker(sum: f64) -> Self;
    fn sum(&self) -> f64;
    fn schema(&self) -> i32;
    fn zero_threshold(&self) -> f64;
    fn custom_values(&self) -> &[f64];
    fn positive_spans(&self) -> &[Span];
    fn negative_spans(&self) -> &[Span];
    fn set_spans(&mut self, positive: Vec<Span>, negative: Vec<Span>);
    /// Go's `recodeHistogram`: adds the backward inserts (empty buckets).
    fn recode_buckets(&mut self, pb: &[Insert], nb: &[Insert]);
}

macro_rules! chunk_histogram_impl {
    ($t:ty, $count:ty, $bucket:ty, $deltas:expr) => {
        impl ChunkHistogram for $t {
            type Count = $count;
            type Bucket = $bucket;
            const DELTAS: bool = $deltas;
            fn hint(&self) -> CounterResetHint {
                self.counter_reset_hint
            }
            fn count(&self) -> $count {
                self.count
            }
            fn zero_count(&self) -> $count {
                self.zero_count
            }
            fn positive_buckets(&self) -> &[$bucket] {
                &self.positive_buckets
            }
            fn negative_buckets(&self) -> &[$bucket] {
                &self.negative_buckets
            }
            fn stale_marker(sum: f64) -> Self {
                Self {
                    sum,
                    ..Self::default()
                }
            }
            fn sum(&self) -> f64 {
                self.sum
            }
            fn schema(&self) -> i32 {
                self.schema
            }
            fn zero_threshold(&self) -> f64 {
                self.zero_threshold
            }
            fn custom_values(&self) -> &[f64] {
                &self.custom_values
            }
            fn positive_spans(&self) -> &[Span] {
                &self.positive_spans
            }
            fn negative_spans(&self) -> &[Span] {
                &self.negative_spans
            }
            fn set_spans(&mut self, positive: Vec<Span>, negative: Vec<Span>) {
                self.positive_spans = positive;
                self.negative_spans = negative;
            }
            fn recode_buckets(&mut self, pb: &[Insert], nb: &[Insert]) {
                if !pb.is_empty() {
                    self.positive_buckets = insert(&self.positive_buckets, pb, $deltas);
                }
                if !nb.is_empty() {
                    self.negative_buckets = insert(&self.negative_buckets, nb, $deltas);
                }
            }
        }
    };
}

chunk_histogram_impl!(model::Histogram, u64, i64, true);
chunk_histogram_impl!(model::FloatHistogram, f64, f64, false);

/// `h`, or the stale marker chunks store for it when its sum is the stale NaN.
pub(crate) fn stale_marker_or<H: ChunkHistogram>(h: &H) -> Cow<'_, H> {
    if is_stale_nan(h.sum()) {
        Cow::Owned(H::stale_marker(h.sum()))
    } else {
        Cow::Borrowed(h)
    }
}

impl Layout {
    /// The layout a chunk starting with `h` gets.
    pub(crate) fn of<H: ChunkHistogram>(h: &H) -> Layout {
        Layout {
            schema: h.schema(),
            zero_threshold: h.zero_threshold(),
            positive_spans: h.positive_spans().to_vec(),
            negative_spans: h.negative_spans().to_vec(),
            custom_values: h.custom_values().to_vec(),
        }
    }
}

/// The chunk's last sample as [`appendable`] compares a new histogram with it.
pub(crate) struct LastSample<'a, H: ChunkHistogram> {
    pub(crate) layout: &'a Layout,
    pub(crate) sum: f64,
    pub(crate) count: H::Count,
    pub(crate) zero_count: H::Count,
    /// Absolute bucket counts.
    pub(crate) positive: Vec<H::Bucket>,
    pub(crate) negative: Vec<H::Bucket>,
}

/// What the shared appender ([`append_histogram`]) needs of a histogram chunk.
pub(crate) trait HistogramChunkOps: HistogramChunkBase {
    fn samples(&self) -> usize {
        self.stream().num_samples()
    }
    fn header(&self) -> CounterResetHeader {
        self.stream().counter_reset_header()
    }
    fn set_header(&mut self, h: CounterResetHeader) {
        self.stream_mut().set_counter_reset_header(h);
    }
    /// The header a new chunk starting with `h` gets when it continues this one.
    fn header_for_next(&mut self, h: &Self::H) -> Result<CounterResetHeader> {
        Ok(appendable(self, h)?.1)
    }
    /// Go's `appendable`: the inserts when `h` fits the chunk, and the header of the chunk
    /// `h` starts otherwise (`NotCounterReset` when it fits).
    fn appendable(
        &mut self,
        h: &Self::H,
    ) -> Result<(Option<[Vec<Insert>; 4]>, CounterResetHeader)> {
        appendable(self, h)
    }
    /// The chunk's layout, and whether its last sample is a stale marker.
    fn layout(&mut self) -> Result<(&Layout, bool)>;
    /// The chunk's last sample.
    fn last(&mut self) -> Result<LastSample<'_, Self::H>>;
    /// Writes the first sample's values (after the layout and its time).
    fn put_first_values(w: &mut BitWriter, v: &mut Self::Values, h: &Self::H);
    /// Writes a later sample's values (after its time's delta-of-delta).
    fn put_next_values(w: &mut BitWriter, v: &mut Self::Values, h: &Self::H);
    /// Go's `appendHistogram`/`appendFloatHistogram`: writes the sample, no checks. The
    /// first sample writes the layout and its time, later ones their time's delta-of-delta;
    /// the values follow in the encoding's way.
    fn append_raw(&mut self, t: i64, h: &Self::H) -> Result<()> {
        let num = self.stream().room(Self::KIND)?;
        let h = &*stale_marker_or(h);
        let (s, a) = self.parts()?;
        let w = &mut s.w;
        let mut t_delta = 0;
        if num == 0 {
            a.layout = Layout::of(h);
            write_layout(w, &a.layout);
            put_varbit_int(w, t);
            Self::put_first_values(w, &mut a.v, h);
        } else {
            t_delta = t.wrapping_sub(a.t);
            put_varbit_int(w, t_delta.wrapping_sub(a.t_delta));
            Self::put_next_values(w, &mut a.v, h);
        }
        s.count_sample(num);
        a.t = t;
        a.t_delta = t_delta;
        Ok(())
    }
}

/// Go's `appendable` (the integer histogram's, whose verdict is a header): the forward and
/// backward inserts `[pf, nf, pb, nb]` when `h` fits the chunk, and the counter-reset
/// verdict (`NotCounterReset` when it fits; `Unknown` after a layout change or a stale
/// sample, whose reset is not checked).
pub(crate) fn appendable<C: HistogramChunkOps>(
    c: &mut C,
    h: &C::H,
) -> Result<(Option<[Vec<Insert>; 4]>, CounterResetHeader)> {
    use CounterResetHeader as R;
    if c.samples() > 0 && c.header() == R::Gauge {
        return Ok((None, R::NotCounterReset));
    }
    if h.hint() == CounterResetHint::CounterReset {
        return Ok((None, R::CounterReset));
    }
    if is_stale_nan(h.sum()) {
        return Ok((Some(Default::default()), R::NotCounterReset));
    }
    let last = c.last()?;
    if is_stale_nan(last.sum) {
        return Ok((None, R::Unknown));
    }
    if h.count() < last.count {
        return Ok((None, R::CounterReset));
    }
    if h.schema() != last.layout.schema || h.zero_threshold() != last.layout.zero_threshold {
        return Ok((None, R::Unknown));
    }
    if h.schema() == CUSTOM_BUCKETS_SCHEMA && h.custom_values() != last.layout.custom_values {
        return Ok((None, R::CounterReset));
    }
    if h.zero_count() < last.zero_count {
        return Ok((None, R::CounterReset));
    }
    let deltas = <C::H as ChunkHistogram>::DELTAS;
    let Some((pf, pb)) = expand_spans_and_buckets(
        &last.layout.positive_spans,
        h.positive_spans(),
        &last.positive,
        h.positive_buckets(),
        deltas,
    ) else {
        return Ok((None, R::CounterReset));
    };
    let Some((nf, nb)) = expand_spans_and_buckets(
        &last.layout.negative_spans,
        h.negative_spans(),
        &last.negative,
        h.negative_buckets(),
        deltas,
    ) else {
        return Ok((None, R::CounterReset));
    };
    Ok((Some([pf, nf, pb, nb]), R::NotCounterReset))
}

/// Appends `h` at `t` to `c` with Prometheus's rules (see
/// [`super::HistogramChunk::append`]), for either chunk encoding.
pub(crate) fn append_histogram<C: HistogramChunkOps>(
    c: &mut C,
    prev: Option<&mut C>,
    t: i64,
    h: &C::H,
) -> Result<HistogramAppend<C>> {
    if c.samples() == 0 {
        c.append_raw(t, h)?;
        if h.hint() == CounterResetHint::Gauge {
            c.set_header(CounterResetHeader::Gauge);
        } else if h.hint() == CounterResetHint::CounterReset {
            c.set_header(CounterResetHeader::CounterReset);
        } else if let Some(prev) = prev {
            let hdr = prev.header_for_next(h)?;
            c.set_header(hdr);
        }
        return Ok(HistogramAppend::Appended);
    }
    if h.hint() != CounterResetHint::Gauge {
        let (inserts, hdr) = c.appendable(h)?;
        let Some([pf, nf, pb, nb]) = inserts.filter(|_| hdr == CounterResetHeader::NotCounterReset)
        else {
            let mut n = C::empty();
            n.set_header(hdr);
            n.append_raw(t, h)?;
            return Ok(HistogramAppend::NewChunk(n));
        };
        let mut h = Cow::Borrowed(h);
        if !pb.is_empty() || !nb.is_empty() {
            let hm = h.to_mut();
            if pf.is_empty() && nf.is_empty() {
                let (l, _) = c.layout()?;
                hm.set_spans(l.positive_spans.clone(), l.negative_spans.clone());
            } else {
                let p = adjust_for_inserts(hm.positive_spans(), &pb);
                let n = adjust_for_inserts(hm.negative_spans(), &nb);
                hm.set_spans(p, n);
            }
            hm.recode_buckets(&pb, &nb);
        }
        return finish_append(c, t, &h, &pf, &nf);
    }
    // A gauge histogram.
    let a_gauge = c.header() == CounterResetHeader::Gauge;
    let stale = is_stale_nan(h.sum());
    let (ok, expanded) = {
        let (l, last_stale) = c.layout()?;
        let ok = a_gauge
            && (stale
                || (!last_stale
                    && h.schema() == l.schema
                    && h.zero_threshold() == l.zero_threshold
                    && (h.schema() != CUSTOM_BUCKETS_SCHEMA
                        || h.custom_values() == l.custom_values.as_slice())));
        let expanded = (ok && !stale).then(|| {
            (
                expand_spans_both_ways(&l.positive_spans, h.positive_spans()),
                expand_spans_both_ways(&l.negative_spans, h.negative_spans()),
            )
        });
        (ok, expanded)
    };
    if !ok {
        let mut n = C::empty();
        n.set_header(CounterResetHeader::Gauge);
        n.append_raw(t, h)?;
        return Ok(HistogramAppend::NewChunk(n));
    }
    let Some(((pf, pb, pm), (nf, nb, nm))) = expanded else {
        c.append_raw(t, h)?;
        return Ok(HistogramAppend::Appended);
    };
    let mut h = Cow::Borrowed(h);
    if !pb.is_empty() || !nb.is_empty() {
        let hm = h.to_mut();
        hm.set_spans(pm, nm);
        hm.recode_buckets(&pb, &nb);
    }
    finish_append(c, t, &h, &pf, &nf)
}

/// Rewrites `c` with the layout of `target` (its spans), inserting the empty buckets `pf`
/// and `nf` into every sample but stale markers.
fn recode<C: HistogramChunkOps>(
    c: &mut C,
    pf: &[Insert],
    nf: &[Insert],
    target: &C::H,
) -> Result<()> {
    let mut out = C::empty();
    c.for_each_sample(|t, mut old| {
        if !is_stale_nan(old.sum()) {
            old.set_spans(
                target.positive_spans().to_vec(),
                target.negative_spans().to_vec(),
            );
            old.recode_buckets(pf, nf);
        }
        out.append_raw(t, &old)
    })?;
    out.set_header(c.header());
    *c = out;
    Ok(())
}

/// Recodes `c` when forward inserts are needed, then appends `h`.
fn finish_append<C: HistogramChunkOps>(
    c: &mut C,
    t: i64,
    h: &C::H,
    pf: &[Insert],
    nf: &[Insert],
) -> Result<HistogramAppend<C>> {
    if !pf.is_empty() || !nf.is_empty() {
        recode(c, pf, nf, h)?;
        c.append_raw(t, h)?;
        return Ok(HistogramAppend::Recoded);
    }
    c.append_raw(t, h)?;
    Ok(HistogramAppend::Appended)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(v: &[(i32, u32)]) -> Vec<Span> {
        v.iter()
            .map(|&(offset, length)| Span { offset, length })
            .collect()
    }

    #[test]
    fn zero_threshold_encodings_match_go() {
        for (t, bytes) in [
            (0.0, 1usize),
            (2f64.powi(-128), 1),
            (1024.0, 1),
            (0.001, 9),
            (2048.0, 9),
        ] {
            let mut w = BitWriter::with_bytes(Vec::new(), 0);
            put_zero_threshold(&mut w, t);
            assert_eq!(w.stream.len(), bytes, "threshold {t}");
            let mut r = BitReader::new();
            assert_eq!(read_zero_threshold(&mut r, &w.stream), Some(t));
        }
        // Go: the default threshold 2^-128 is stored as the byte 116.
        let mut w = BitWriter::with_bytes(Vec::new(), 0);
        put_zero_threshold(&mut w, 2f64.powi(-128));
        assert_eq!(w.stream, [116]);
    }

    #[test]
    fn custom_bounds_round_trip() {
        for b in [
            0.0,
            0.001,
            1.5,
            33_554.43,
            33_554.431,
            -1.0,
            0.0001,
            f64::INFINITY,
        ] {
            let mut w = BitWriter::with_bytes(Vec::new(), 0);
            put_custom_bound(&mut w, b);
            let mut r = BitReader::new();
            assert_eq!(read_custom_bound(&mut r, &w.stream), Some(b), "bound {b}");
        }
    }

    #[test]
    fn bucket_indices_skip_empty_spans() {
        let s = sp(&[(0, 2), (2, 1), (3, 2), (3, 0), (1, 1)]);
        let got: Vec<i64> = BucketIndices::new(&s).collect();
        assert_eq!(got, [0, 1, 4, 8, 9, 14]);
    }

    #[test]
    fn go_expand_example_forward_inserts_and_deltas() {
        // The example of Go's expandSpansForward doc comment.
        let a = sp(&[(0, 2), (2, 1), (3, 2), (3, 1), (1, 1)]);
        let b = sp(&[(0, 3), (1, 1), (1, 4), (3, 3)]);
        let a_abs = [6i64, 3, 3, 2, 4, 5, 1];
        let b_deltas = [6i64, -3, -3, 3, -3, 0, 2, 2, 1, -5, 1];
        let (fwd, bwd) =
            expand_spans_and_buckets(&a, &b, &a_abs, &b_deltas, true).expect("appendable");
        assert!(bwd.is_empty());
        assert_eq!(
            fwd.iter().map(|i| (i.pos, i.num)).collect::<Vec<_>>(),
            [(2, 1), (3, 2), (6, 1)]
        );
        let a_deltas = [6i64, -3, 0, -1, 2, 1, -4];
        assert_eq!(insert(&a_deltas, &fwd, true), b_deltas);
        let (f2, b2, merged) = expand_spans_both_ways(&a, &b);
        assert_eq!(
            f2.iter().map(|i| (i.pos, i.num)).collect::<Vec<_>>(),
            [(2, 1), (3, 2), (6, 1)]
        );
        assert!(b2.is_empty());
        assert_eq!(merged, b);
    }

    #[test]
    fn missing_used_bucket_is_a_reset_and_missing_empty_one_is_backfilled() {
        let a = sp(&[(0, 3)]);
        let b = sp(&[(0, 1), (1, 1)]);
        assert!(expand_spans_and_buckets(&a, &b, &[1i64, 1, 1], &[1, 0], true).is_none());
        let (fwd, bwd) =
            expand_spans_and_buckets(&a, &b, &[1i64, 0, 1], &[1, 0], true).expect("ok");
        assert!(fwd.is_empty());
        assert_eq!(
            bwd,
            [Insert {
                pos: 1,
                num: 1,
                bucket_idx: 1
            }]
        );
        assert_eq!(adjust_for_inserts(&b, &bwd), sp(&[(0, 3)]));
        assert_eq!(insert(&[1i64, 0], &bwd, true), [1, -1, 1]);
    }
}
