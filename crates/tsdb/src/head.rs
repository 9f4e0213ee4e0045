//! The head: the in-memory, writable part of the TSDB (Prometheus's `tsdb/head*.go`).
//!
//! Series live in shards keyed by their reference, with a second set of shards mapping the
//! labels hash to references for get-or-create, and an inverted index (postings per label pair) for
//! queries. Each series keeps one open XOR chunk in memory; a full chunk is written to
//! `chunks_head/` ([`chunks::ChunkDiskMapper`]) and only its location stays in memory. Every
//! committed batch is first written to the WAL ([`crate::wlog`]), from which the head is
//! rebuilt at startup ([`Head::open`]).
//!
//! # Appends
//! An append by labels finds its series through the hash shards with `series_hash` (XXH64
//! of the packed labels, memory only), an append with a known ref through the series shard
//! alone. A commit logs the batch in append order, then applies it one series shard at a
//! time (each shard locked once, each series' samples in order).
//!
//! # Memory layout
//! A series costs one map entry holding a compact struct (labels as one shared allocation,
//! the open chunk inline, a vector of on-disk chunk locations), one hash-map entry, and one
//! postings entry per label pair; there is no per-series lock (the shard's lock covers it).

pub mod chunks;
mod postings;
mod querier;
pub(crate) mod replay;
mod snapshot;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use model::{FloatHistogram, Histogram, Labels};
use parking_lot::{Mutex, MutexGuard, RwLock};

use crate::chunkenc::{
    self, Chunk, FloatHistogramChunk, HistogramAppend, HistogramChunk, XorChunk,
};
use crate::error::{Error, Result};
use crate::exemplar::CircularExemplarStorage;
use crate::metrics::{FLOAT, Families, HISTOGRAM, HeadMetrics, WalMetrics};
use crate::record::{self, RefSample, RefSeries, RefTombstone};
use crate::wlog::{Wal, WalOptions};
use postings::MemPostings;

pub use chunks::ChunkDiskMapper;
pub use querier::{HeadQuerier, HeadSeries};
pub use replay::ReplayStats;
pub use snapshot::{
    CHUNK_SNAPSHOT_PREFIX, ChunkSnapshotStats, chunk_snapshot_name, delete_chunk_snapshots,
    last_chunk_snapshot,
};

/// Two hours in milliseconds: the default chunk range (and minimum block duration).
pub const DEFAULT_CHUNK_RANGE: i64 = 2 * 60 * 60 * 1000;

const SHARDS: usize = 64;

/// The series shard of series `r`.
fn shard_index(r: u64) -> usize {
    (r as usize) % SHARDS
}

/// A hasher for keys that are already well-mixed `u64`s (label hashes, series refs).
#[derive(Default)]
pub(crate) struct U64Hasher(u64);

impl Hasher for U64Hasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing spreads sequential refs over the table.
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (n >> 29);
    }
}

pub(crate) type U64Map<V> = HashMap<u64, V, BuildHasherDefault<U64Hasher>>;

/// The hash the head finds series by: XXH64 over a label set's packed form in one shot.
/// Unlike [`Labels::hash`] (Go's `labels.Hash`, which lays the pairs out again before
/// hashing them) it decodes and copies nothing; it never leaves memory, so it need not
/// match Go's. Consistent with `Labels`'s equality, which compares the packed forms.
pub(crate) fn series_hash(labels: &Labels) -> u64 {
    let mut h = PackedHasher(0);
    std::hash::Hash::hash(labels, &mut h);
    h.finish()
}

/// A hasher for `Labels`'s derived `Hash`: one XXH64 call per byte string (there is one,
/// the packed labels), the few integers around it folded in cheaply.
struct PackedHasher(u64);

impl PackedHasher {
    fn fold(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

impl Hasher for PackedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh64::xxh64(bytes, self.0);
    }
    fn write_u8(&mut self, n: u8) {
        self.fold(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.fold(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.fold(n as u64);
    }
    fn write_isize(&mut self, n: isize) {
        self.fold(n as u64);
    }
}

/// Options of the head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadOptions {
    /// Chunks never cross a multiple of this range (ms); it is also the block range the head
    /// is compacted in. Default 2 h.
    pub chunk_range: i64,
    /// The number of samples a chunk aims for (Prometheus: 120).
    pub samples_per_chunk: usize,
    /// Accept samples up to this much older (ms) than the newest sample of the head; 0 (the
    /// default) rejects every out-of-order sample.
    pub out_of_order_time_window: i64,
    /// The WAL, or `None` to run without one (nothing survives a restart).
    pub wal: Option<WalOptions>,
    /// The size of the exemplar ring buffer ([`crate::exemplar`]); 0 (the default) keeps
    /// no exemplars, as Prometheus without its `exemplar-storage` feature. Resizable later
    /// through [`Head::exemplars`].
    pub max_exemplars: i64,
    /// Write a chunk snapshot at [`Head::close`] and load it at open, replaying only the WAL
    /// after it (Prometheus's `memory-snapshot-on-shutdown`; see [`Head::chunk_snapshot`]).
    pub memory_snapshot_on_shutdown: bool,
}

impl Default for HeadOptions {
    fn default() -> Self {
        HeadOptions {
            chunk_range: DEFAULT_CHUNK_RANGE,
            samples_per_chunk: chunkenc::SAMPLES_PER_CHUNK,
            out_of_order_time_window: 0,
            wal: Some(WalOptions::default()),
            max_exemplars: 0,
            memory_snapshot_on_shutdown: false,
        }
    }
}

/// Where a full chunk of a series lives in `chunks_head/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MmappedChunk {
    pub(crate) chunk_ref: u64,
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
}

/// The open chunk of a series.
#[derive(Debug)]
pub(crate) struct HeadChunk {
    /// Float samples (XOR) or native histograms: a series switching between them cuts a
    /// new chunk.
    pub(crate) chunk: Chunk,
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
}

/// Flag: the series record is in the WAL.
const LOGGED: u8 = 1;
/// Flag: an appender holds an accepted sample for this series.
const PENDING: u8 = 2;
/// Flag: the open histogram chunk's end time was estimated from its size (Go's
/// `histogramChunkHasComputedEndTime`).
const HIST_END_COMPUTED: u8 = 4;
/// Prometheus's target size of a histogram chunk (`TargetBytesPerHistogramChunk`).
const HISTOGRAM_CHUNK_TARGET_BYTES: usize = 1024;
/// Prometheus's `MinSamplesPerHistogramChunk`.
const HISTOGRAM_CHUNK_MIN_SAMPLES: usize = 10;

/// One series of the head.
#[derive(Debug)]
pub(crate) struct MemSeries {
    pub(crate) labels: Labels,
    pub(crate) mmapped: Vec<MmappedChunk>,
    pub(crate) head: Option<HeadChunk>,
    /// Out-of-order samples (only with an out-of-order window). Boxed: 8 bytes in every
    /// series, and most series never get one.
    pub(crate) ooo: Option<Box<OooSamples>>,
    pub(crate) next_at: i64,
    pub(crate) last_value: u64,
    pub(crate) flags: u8,
}

/// The out-of-order samples of a series: floats and native histograms, each list sorted
/// by time, no time in both.
#[derive(Debug, Default)]
pub(crate) struct OooSamples {
    /// Float samples.
    pub(crate) floats: Vec<(i64, f64)>,
    /// Native histogram samples.
    pub(crate) histograms: Vec<(i64, HistSample)>,
}

impl OooSamples {
    fn first_time(&self) -> Option<i64> {
        match (self.floats.first(), self.histograms.first()) {
            (Some(a), Some(b)) => Some(a.0.min(b.0)),
            (a, b) => a.map(|x| x.0).or(b.map(|x| x.0)),
        }
    }

    fn is_empty(&self) -> bool {
        self.floats.is_empty() && self.histograms.is_empty()
    }

    /// Whether a sample lies in `[mint, maxt]`.
    pub(crate) fn any_in(&self, mint: i64, maxt: i64) -> bool {
        self.floats.iter().any(|x| x.0 >= mint && x.0 <= maxt)
            || self.histograms.iter().any(|x| x.0 >= mint && x.0 <= maxt)
    }

    fn retain_from(&mut self, mint: i64) {
        self.floats.retain(|s| s.0 >= mint);
        self.histograms.retain(|s| s.0 >= mint);
    }

    /// The samples in `[mint, maxt]` merged by time.
    pub(crate) fn values_in(&self, mint: i64, maxt: i64) -> Vec<(i64, chunkenc::Value)> {
        let in_range = |t: i64| t >= mint && t <= maxt;
        let mut f = self.floats.iter().filter(|x| in_range(x.0)).peekable();
        let mut h = self.histograms.iter().filter(|x| in_range(x.0)).peekable();
        let mut out = Vec::new();
        loop {
            let take_float = match (f.peek(), h.peek()) {
                (Some(a), Some(b)) => a.0 < b.0,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return out,
            };
            if take_float {
                let &(t, v) = f.next().expect("peeked");
                out.push((t, chunkenc::Value::Float(v)));
            } else {
                let (t, hs) = h.next().expect("peeked");
                out.push((
                    *t,
                    match hs {
                        HistSample::Int(x) => chunkenc::Value::Histogram(x.clone()),
                        HistSample::Float(x) => chunkenc::Value::FloatHistogram(x.clone()),
                    },
                ));
            }
        }
    }
}

/// Whether a sample at `t` that is not newer than its series' newest sample (or before the
/// minimum valid time) may go to the out-of-order buffer (Go's rules): `Ok` if so, else
/// the error to refuse it with.
fn ooo_verdict(t: i64, b: &Bounds) -> std::result::Result<(), storage::Error> {
    if b.ooo_window > 0 && t >= b.head_maxt.saturating_sub(b.ooo_window) {
        // Unlike Prometheus, which compacts such samples into overlapping blocks, the
        // head refuses out-of-order samples in a range already persisted as a block.
        if t < b.persisted_until {
            return Err(storage::Error::OutOfBounds);
        }
        return Ok(());
    }
    if b.ooo_window > 0 {
        return Err(storage::Error::TooOldSample);
    }
    if t < b.min_valid_time {
        return Err(storage::Error::OutOfBounds);
    }
    Err(storage::Error::OutOfOrderSample)
}

/// The limits an appender checks samples against, fixed when it is created.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    /// The head's newest sample time.
    head_maxt: i64,
    /// In-order samples before this are out of bounds (newest block end, or the range a
    /// compaction may be persisting).
    min_valid_time: i64,
    /// The out-of-order window (0 = off).
    ooo_window: i64,
    /// The end of the newest persisted block.
    persisted_until: i64,
}

/// The WAL records of a batch's histograms: integer ones (type 7, or 9 with custom
/// buckets) and float ones (8, or 10), as Prometheus splits them.
fn encode_histogram_records(histograms: &[(u64, i64, HistSample)]) -> Vec<Vec<u8>> {
    // Indexed by "uses custom buckets".
    let mut ints: [Vec<(u64, i64, &Histogram)>; 2] = Default::default();
    let mut floats: [Vec<(u64, i64, &FloatHistogram)>; 2] = Default::default();
    for &(series_ref, t, ref h) in histograms {
        match h {
            HistSample::Int(h) => {
                ints[usize::from(h.uses_custom_buckets())].push((series_ref, t, h))
            }
            HistSample::Float(fh) => {
                floats[usize::from(fh.uses_custom_buckets())].push((series_ref, t, fh))
            }
        }
    }
    let mut out = Vec::new();
    encode_nonempty(&mut out, ints, record::encode_histogram_sample_refs);
    encode_nonempty(&mut out, floats, record::encode_float_histogram_sample_refs);
    out
}

/// Appends to `out` one record per non-empty group, encoded by `encode`: the group without
/// custom buckets, then the one with.
fn encode_nonempty<S>(
    out: &mut Vec<Vec<u8>>,
    groups: [Vec<S>; 2],
    encode: fn(&[S], bool, &mut Vec<u8>),
) {
    for (v, custom) in groups.into_iter().zip([false, true]) {
        if !v.is_empty() {
            let mut buf = Vec::new();
            encode(&v, custom, &mut buf);
            out.push(buf);
        }
    }
}

/// Whether two histogram samples are the same (Go's `Equals`: the hint is not compared).
fn same_histogram(a: &HistSample, b: &HistSample) -> bool {
    match (a, b) {
        (HistSample::Int(a), HistSample::Int(b)) => a.equals(b),
        (HistSample::Float(a), HistSample::Float(b)) => a.equals(b),
        _ => false,
    }
}

/// The error for a histogram that fails validation (spans and buckets disagree, negative
/// counts, ...), refused before it reaches a chunk.
pub(crate) fn invalid_histogram(e: model::HistogramError) -> storage::Error {
    storage::Error::InvalidHistogram(e.to_string())
}

/// A native histogram sample on its way into the head.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HistSample {
    /// Integer counts.
    Int(Histogram),
    /// Float counts.
    Float(FloatHistogram),
}

/// What a commit gathers while applying its sub-batches.
struct ApplyState {
    mint: i64,
    maxt: i64,
    first_err: Option<Error>,
    /// Out-of-order samples taken, for the WBL.
    ooo: Vec<RefSample>,
    /// Out-of-order native histograms taken, for the WBL.
    ooo_histograms: Vec<(u64, i64, HistSample)>,
    /// Samples appended in order, by type ([`FLOAT`], [`HISTOGRAM`]).
    appended: [usize; 2],
    /// Samples refused at commit as out of order, by type.
    refused: [usize; 2],
}

/// Counts a refused sample in `metrics` and hands the error back.
#[cold]
fn refused(e: storage::Error, metrics: &HeadMetrics, histogram: bool) -> storage::Error {
    metrics.count_refused(&e, histogram);
    e
}

/// A sample the open chunk refused: the chunk, counted at that sample, is not when it is
/// still empty.
#[cold]
fn refused_first_sample(samples: usize, e: chunkenc::Error, head: &Head) -> Error {
    if samples == 0 {
        head.metrics.add_chunks(-1);
    }
    e.into()
}

/// Keeps `e` as the first error of a batch unless one at an earlier entry than `i` is.
fn keep_first_err(first: &mut Option<(usize, Error)>, i: usize, e: Error) {
    if first.as_ref().is_none_or(|f| f.0 > i) {
        *first = Some((i, e));
    }
}

/// What happened to a sample given to [`MemSeries::append`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Appended in order.
    InOrder,
    /// Rejected: not newer than the series' last sample.
    NotInOrder,
}

impl MemSeries {
    fn new(labels: Labels) -> MemSeries {
        MemSeries {
            labels,
            mmapped: Vec::new(),
            head: None,
            ooo: None,
            next_at: i64::MIN,
            last_value: 0,
            flags: 0,
        }
    }

    /// The time of the newest in-order sample.
    pub(crate) fn max_time(&self) -> Option<i64> {
        match &self.head {
            Some(h) if h.chunk.num_samples() > 0 => Some(h.max_time),
            _ => self.mmapped.last().map(|c| c.max_time),
        }
    }

    pub(crate) fn min_time(&self) -> Option<i64> {
        let in_order = self.mmapped.first().map(|c| c.min_time).or(self
            .head
            .as_ref()
            .filter(|h| h.chunk.num_samples() > 0)
            .map(|h| h.min_time));
        let ooo = self.ooo.as_ref().and_then(|o| o.first_time());
        match (in_order, ooo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The series' in-order chunks as the head counts them (Go's `headChunks`): the
    /// memory-mapped ones and the open one once it holds a sample.
    pub(crate) fn num_chunks(&self) -> i64 {
        let open = self
            .head
            .as_ref()
            .is_some_and(|h| h.chunk.num_samples() > 0);
        i64::try_from(self.mmapped.len()).unwrap_or(i64::MAX) + i64::from(open)
    }

    fn is_empty(&self) -> bool {
        self.mmapped.is_empty()
            && self
                .head
                .as_ref()
                .is_none_or(|h| h.chunk.num_samples() == 0)
            && self.ooo.as_ref().is_none_or(|o| o.is_empty())
    }

    /// The value of the newest in-order sample (reading it back from disk if the open chunk
    /// is gone, as after a restart).
    fn last_value_bits(&self, mapper: &ChunkDiskMapper) -> Option<u64> {
        if self
            .head
            .as_ref()
            .is_some_and(|h| h.chunk.num_samples() > 0)
        {
            return Some(self.last_value);
        }
        let last = self.mmapped.last()?;
        let (_, data) = mapper.chunk(last.chunk_ref).ok()?;
        let chunk = XorChunk::from_bytes(data).ok()?;
        let mut it = chunk.iter();
        let mut v = None;
        while it.next() {
            v = Some(it.at().1.to_bits());
        }
        v
    }

    /// Whether a sample can be appended, given the committed state (Go's `appendable`).
    /// `Ok(true)` means it goes to the out-of-order buffer.
    fn appendable(
        &self,
        t: i64,
        v: f64,
        b: &Bounds,
        mapper: &ChunkDiskMapper,
    ) -> std::result::Result<bool, storage::Error> {
        if t >= b.min_valid_time {
            match self.max_time() {
                None => return Ok(false),
                Some(maxt) if t > maxt => return Ok(false),
                Some(maxt) if t == maxt => {
                    // Exact duplicates are accepted (and ignored); only the value differing
                    // is an error.
                    return match self.last_value_bits(mapper) {
                        Some(bits) if bits != v.to_bits() => {
                            Err(storage::Error::DuplicateSampleForTimestamp)
                        }
                        _ => Ok(false),
                    };
                }
                Some(_) => {}
            }
        }
        ooo_verdict(t, b).map(|()| true)
    }

    /// Appends an in-order sample, cutting a new chunk (and writing the full one to disk)
    /// when Prometheus would.
    pub(crate) fn append(
        &mut self,
        series_ref: u64,
        t: i64,
        v: f64,
        head: &Head,
    ) -> Result<Appended> {
        let (opts, mapper) = (&head.opts, &head.mapper);
        // A stale marker for a series of histograms becomes a stale histogram (as
        // Prometheus's appender does), so the histogram chunk records the staleness.
        if model::value::is_stale_nan(v) {
            let stale = match self.last_encoding(mapper) {
                Some(chunkenc::Encoding::Histogram) => Some(HistSample::Int(Histogram {
                    sum: v,
                    ..Histogram::default()
                })),
                Some(chunkenc::Encoding::FloatHistogram) => {
                    Some(HistSample::Float(FloatHistogram {
                        sum: v,
                        ..FloatHistogram::default()
                    }))
                }
                _ => None,
            };
            if let Some(stale) = stale {
                return self.append_histogram(series_ref, t, &stale, head);
            }
        }
        let spc = opts.samples_per_chunk.max(4);
        let need_cut = match &self.head {
            None => {
                if self.mmapped.last().is_some_and(|c| c.max_time >= t) {
                    return Ok(Appended::NotInOrder);
                }
                true
            }
            Some(h) => {
                let n = h.chunk.num_samples();
                if n > 0 && h.max_time >= t {
                    return Ok(Appended::NotInOrder);
                }
                if !matches!(h.chunk, Chunk::Xor(_)) {
                    // The series switches from histograms to floats.
                    return self.cut_and_append_float(series_ref, t, v, head);
                }
                if n == 0 {
                    self.next_at = chunkenc::range_for_timestamp(t, opts.chunk_range);
                } else if n == spc / 4 {
                    self.next_at =
                        chunkenc::compute_chunk_end_time(h.min_time, h.max_time, self.next_at, 4.0);
                }
                n > 0 && (t >= self.next_at || n >= spc * 2)
            }
        };
        if need_cut {
            self.cut_head_chunk(series_ref, t, head)?;
        }
        let h = self
            .head
            .as_mut()
            .expect("a head chunk exists after cutting");
        if h.chunk.num_samples() == 0 {
            h.min_time = t;
            // The open chunk counts from its first sample on.
            head.metrics.add_chunks(1);
        }
        match &mut h.chunk {
            Chunk::Xor(c) => {
                if let Err(e) = c.append(t, v) {
                    return Err(refused_first_sample(c.num_samples(), e, head));
                }
            }
            _ => unreachable!("the head chunk was cut to a float chunk above"),
        }
        h.max_time = t;
        self.last_value = v.to_bits();
        Ok(Appended::InOrder)
    }

    /// The histogram at `t` when it is the newest sample and in the open chunk.
    fn last_histogram(&self, t: i64) -> Option<HistSample> {
        let h = self.head.as_ref().filter(|h| h.max_time == t)?;
        match &h.chunk {
            Chunk::Histogram(c) => {
                let mut it = c.iter();
                let mut last = None;
                while it.next() {
                    last = Some(it.at_histogram().1);
                }
                last.map(HistSample::Int)
            }
            Chunk::FloatHistogram(c) => {
                let mut it = c.iter();
                let mut last = None;
                while it.next() {
                    last = Some(it.at_float_histogram().1);
                }
                last.map(HistSample::Float)
            }
            Chunk::Xor(_) => None,
        }
    }

    /// The encoding of the chunk holding the newest in-order sample (read from disk when
    /// there is no open chunk).
    fn last_encoding(&self, mapper: &ChunkDiskMapper) -> Option<chunkenc::Encoding> {
        if let Some(h) = self.head.as_ref().filter(|h| h.chunk.num_samples() > 0) {
            return Some(h.chunk.encoding());
        }
        let last = self.mmapped.last()?;
        let (enc, _) = mapper.chunk(last.chunk_ref).ok()?;
        chunkenc::Encoding::from_u8(enc).ok()
    }

    fn cut_and_append_float(
        &mut self,
        series_ref: u64,
        t: i64,
        v: f64,
        head: &Head,
    ) -> Result<Appended> {
        self.cut_head_chunk(series_ref, t, head)?;
        self.append(series_ref, t, v, head)
    }

    /// Appends an in-order native histogram (integer or float), cutting a new chunk when
    /// the encoding changes, the chunk is full (1 KiB and 10 samples, as Prometheus), the
    /// chunk range ends, or the histogram chunk appender asks for one (counter reset,
    /// layout change).
    pub(crate) fn append_histogram(
        &mut self,
        series_ref: u64,
        t: i64,
        h: &HistSample,
        head: &Head,
    ) -> Result<Appended> {
        let opts = &head.opts;
        if self.max_time().is_some_and(|m| m >= t) {
            return Ok(Appended::NotInOrder);
        }
        let same_kind = |c: &Chunk| {
            matches!(
                (c, h),
                (Chunk::Histogram(_), HistSample::Int(_))
                    | (Chunk::FloatHistogram(_), HistSample::Float(_))
            )
        };
        // Go's `histogramsAppendPreprocessor`: histogram chunks are cut by size.
        let need_cut = match &self.head {
            None => true,
            Some(hc) if !same_kind(&hc.chunk) || hc.chunk.num_samples() == 0 => true,
            Some(hc) => {
                let n = hc.chunk.num_samples();
                let bytes = hc.chunk.bytes().len();
                let computed = self.flags & HIST_END_COMPUTED != 0;
                let next_range_start = if computed {
                    chunkenc::range_for_timestamp(hc.min_time, opts.chunk_range)
                } else {
                    self.next_at
                };
                if !computed && bytes >= HISTOGRAM_CHUNK_TARGET_BYTES / 4 {
                    let ratio = HISTOGRAM_CHUNK_TARGET_BYTES as f64 / bytes as f64;
                    self.next_at = chunkenc::compute_chunk_end_time(
                        hc.min_time,
                        hc.max_time,
                        self.next_at,
                        ratio,
                    );
                    self.flags |= HIST_END_COMPUTED;
                }
                ((t >= self.next_at || bytes >= HISTOGRAM_CHUNK_TARGET_BYTES * 2)
                    && (n >= HISTOGRAM_CHUNK_MIN_SAMPLES || t >= next_range_start))
                    || n >= usize::from(u16::MAX) - 1
            }
        };
        if need_cut {
            let mut old = self.head.take();
            let mut fresh = match h {
                HistSample::Int(_) => Chunk::Histogram(HistogramChunk::new()),
                HistSample::Float(_) => Chunk::FloatHistogram(FloatHistogramChunk::new()),
            };
            let prev = old.as_mut().map(|o| &mut o.chunk);
            let appended = match (&mut fresh, h, prev) {
                (Chunk::Histogram(c), HistSample::Int(x), p) => {
                    let p = match p {
                        Some(Chunk::Histogram(p)) if p.num_samples() > 0 => Some(p),
                        _ => None,
                    };
                    c.append(p, t, x).map(drop)
                }
                (Chunk::FloatHistogram(c), HistSample::Float(x), p) => {
                    let p = match p {
                        Some(Chunk::FloatHistogram(p)) if p.num_samples() > 0 => Some(p),
                        _ => None,
                    };
                    c.append(p, t, x).map(drop)
                }
                _ => unreachable!("the fresh chunk matches the sample"),
            };
            // The open chunk stays when the fresh one refuses the sample.
            self.head = old;
            appended?;
            self.replace_head_chunk(series_ref, fresh, t, head)?;
            return Ok(Appended::InOrder);
        }
        let hc = self
            .head
            .as_mut()
            .expect("a head chunk exists when not cut");
        let next = match (&mut hc.chunk, h) {
            (Chunk::Histogram(c), HistSample::Int(x)) => match c.append(None, t, x)? {
                HistogramAppend::NewChunk(n) => Some(Chunk::Histogram(n)),
                _ => None,
            },
            (Chunk::FloatHistogram(c), HistSample::Float(x)) => match c.append(None, t, x)? {
                HistogramAppend::NewChunk(n) => Some(Chunk::FloatHistogram(n)),
                _ => None,
            },
            _ => unreachable!("a chunk of another kind is cut above"),
        };
        match next {
            Some(n) => self.replace_head_chunk(series_ref, n, t, head)?,
            None => hc.max_time = t,
        }
        Ok(Appended::InOrder)
    }

    /// Writes the open chunk (if it has samples) to disk and makes `chunk`, already holding
    /// one sample at `t`, the open chunk.
    fn replace_head_chunk(
        &mut self,
        series_ref: u64,
        chunk: Chunk,
        t: i64,
        head: &Head,
    ) -> Result<()> {
        self.cut_head_chunk(series_ref, t, head)?;
        self.head = Some(HeadChunk {
            chunk,
            min_time: t,
            max_time: t,
        });
        // `chunk` holds its first sample already.
        head.metrics.add_chunks(1);
        self.flags &= !HIST_END_COMPUTED;
        Ok(())
    }

    /// Writes the open chunk (if it has samples) to disk and starts a new one at `t`.
    fn cut_head_chunk(&mut self, series_ref: u64, t: i64, head: &Head) -> Result<()> {
        if let Some(old) = self.head.take()
            && old.chunk.num_samples() > 0
        {
            let chunk_ref = match head.mapper.write_chunk(
                series_ref,
                old.min_time,
                old.max_time,
                old.chunk.encoding().as_u8(),
                old.chunk.bytes(),
            ) {
                Ok(r) => r,
                Err(e) => {
                    // The chunk stays open (and counted) when it cannot be written.
                    self.head = Some(old);
                    return Err(e);
                }
            };
            // Open before, memory-mapped now: the head's chunk count stays.
            self.mmapped.push(MmappedChunk {
                chunk_ref,
                min_time: old.min_time,
                max_time: old.max_time,
            });
            head.metrics.mmap_chunks.inc();
        }
        self.head = Some(HeadChunk {
            chunk: Chunk::Xor(XorChunk::new()),
            min_time: t,
            max_time: i64::MIN,
        });
        head.metrics.chunks_created.inc();
        self.next_at = chunkenc::range_for_timestamp(t, head.opts.chunk_range);
        Ok(())
    }

    /// Inserts an out-of-order sample; an existing sample at `t` wins. Returns whether it
    /// was inserted.
    fn insert_ooo(&mut self, t: i64, v: f64) -> bool {
        let ooo = self.ooo.get_or_insert_with(Default::default);
        if ooo.histograms.binary_search_by_key(&t, |s| s.0).is_ok() {
            return false;
        }
        match ooo.floats.binary_search_by_key(&t, |s| s.0) {
            Ok(_) => false,
            Err(i) => {
                ooo.floats.insert(i, (t, v));
                true
            }
        }
    }

    /// Inserts an out-of-order native histogram; an existing sample at `t` wins. Returns
    /// whether it was inserted.
    pub(crate) fn insert_ooo_histogram(&mut self, t: i64, h: &HistSample) -> bool {
        let ooo = self.ooo.get_or_insert_with(Default::default);
        if ooo.floats.binary_search_by_key(&t, |s| s.0).is_ok() {
            return false;
        }
        match ooo.histograms.binary_search_by_key(&t, |s| s.0) {
            Ok(_) => false,
            Err(i) => {
                ooo.histograms.insert(i, (t, h.clone()));
                true
            }
        }
    }

    /// Drops everything before `mint`; returns the number of chunks removed.
    fn truncate_before(&mut self, mint: i64) -> usize {
        let before = self.mmapped.len();
        self.mmapped.retain(|c| c.max_time >= mint);
        let mut removed = before - self.mmapped.len();
        if self
            .head
            .as_ref()
            .is_some_and(|h| h.chunk.num_samples() > 0 && h.max_time < mint)
        {
            self.head = None;
            removed += 1;
        }
        if let Some(ooo) = self.ooo.as_mut() {
            ooo.retain_from(mint);
            if ooo.is_empty() {
                self.ooo = None;
            }
        }
        if self.mmapped.capacity() > self.mmapped.len() * 2 + 4 {
            self.mmapped.shrink_to_fit();
        }
        removed
    }
}

/// A value alone on its cache lines (two, as adjacent-line prefetching pairs them), so that
/// appenders working on neighbouring shards do not invalidate each other's lock words.
#[repr(align(128))]
struct CacheLine<T>(T);

impl<T> std::ops::Deref for CacheLine<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

#[derive(Default)]
struct SeriesShard {
    series: U64Map<MemSeries>,
    /// Start timestamps of in-memory samples, by series: `(t, st)` sorted by `t`, only for
    /// samples appended with one. Kept in memory only: neither the WAL, the chunks nor
    /// blocks hold them (docs/ARCHITECTURE.md).
    sts: U64Map<Vec<(i64, i64)>>,
    /// Metadata of series, by series: the last [`HeadAppender::update_metadata`] committed
    /// (logged as WAL records of type 6) or replayed.
    meta: U64Map<storage::Metadata>,
}

#[derive(Default)]
struct HashShard {
    /// Labels hash -> series ref.
    first: U64Map<u64>,
    /// Further refs for hashes that collide (rare).
    more: U64Map<Vec<u64>>,
}

/// Statistics of the head for `/api/v1/status/tsdb`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadStats {
    /// Number of series.
    pub num_series: u64,
    /// Number of chunks (on disk and open).
    pub num_chunks: u64,
    /// Earliest sample time (ms), `i64::MAX` if empty.
    pub min_time: i64,
    /// Latest sample time (ms), `i64::MIN` if empty.
    pub max_time: i64,
    /// Top metric names by series count.
    pub series_count_by_metric_name: Vec<(String, u64)>,
    /// Top label names by number of distinct values.
    pub label_value_count_by_label_name: Vec<(String, u64)>,
    /// Top label names by memory used by their values (bytes).
    pub memory_in_bytes_by_label_name: Vec<(String, u64)>,
    /// Top label pairs by series count.
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
}

/// The in-memory head of the TSDB.
pub struct Head {
    /// Open queriers and their time ranges: memory truncation after a compaction waits
    /// for those that may still read the data it drops.
    readers: Mutex<Readers>,
    /// The database's compactor thread, woken by a commit that leaves the head compactable
    /// (Go's `dbAppender.Commit`); `None` without one.
    compaction_waker: Mutex<Option<crate::periodic::Waker>>,
    readers_done: parking_lot::Condvar,
    opts: HeadOptions,
    dir: PathBuf,
    shards: Box<[CacheLine<RwLock<SeriesShard>>]>,
    hashes: Box<[CacheLine<Mutex<HashShard>>]>,
    postings: RwLock<MemPostings>,
    wal: Mutex<Option<Wal>>,
    /// The write-behind log (`wbl/`) of out-of-order samples, as Prometheus's.
    wbl: Mutex<Option<Wal>>,
    mapper: ChunkDiskMapper,
    min_time: AtomicI64,
    max_time: AtomicI64,
    min_valid_time: AtomicI64,
    /// The oldest out-of-order sample replayed from the WBL before `min_valid_time`
    /// (`i64::MAX` when none): readable until a compaction writes it to a block.
    ooo_floor: AtomicI64,
    last_series_id: AtomicU64,
    num_series: AtomicU64,
    tombstones: Mutex<U64Map<Vec<(i64, i64)>>>,
    /// Series removed by garbage collection -> the WAL segment that was current then: their
    /// records are kept in checkpoints until segments up to there are gone.
    deleted: Mutex<U64Map<u64>>,
    closed: AtomicBool,
    replay: Mutex<ReplayStats>,
    exemplars: Arc<CircularExemplarStorage>,
    /// The head's own counters (`prometheus_tsdb_head_*` and friends).
    pub(crate) metrics: HeadMetrics,
    /// The WAL's counters (`None` without a WAL).
    wal_metrics: Option<Arc<WalMetrics>>,
    /// The WBL's counters (`None` without a WBL).
    wbl_metrics: Mutex<Option<Arc<WalMetrics>>>,
    /// The out-of-order window in force (ms; a config reload may change it).
    ooo_window: AtomicI64,
}

/// The open readers of a head.
#[derive(Debug, Default)]
struct Readers {
    next_id: u64,
    open: HashMap<u64, (i64, i64)>,
}

/// An open reader of the head (see [`Head::register_reader`]); unregisters on drop.
pub(crate) struct ReaderGuard {
    head: Arc<Head>,
    id: u64,
}

impl std::fmt::Debug for ReaderGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderGuard").field("id", &self.id).finish()
    }
}

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        self.head.readers.lock().open.remove(&self.id);
        self.head.readers_done.notify_all();
    }
}

impl std::fmt::Debug for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Head")
            .field("dir", &self.dir)
            .field("num_series", &self.num_series())
            .field("min_time", &self.min_time())
            .field("max_time", &self.max_time())
            .finish_non_exhaustive()
    }
}

impl Head {
    /// Opens the head of the data directory `dir`: maps `dir/chunks_head`, replays
    /// `dir/wal` (its last checkpoint, then the segments after it), and repairs a damaged WAL
    /// tail by truncating it at the damage, as Prometheus does. Samples before
    /// `min_valid_time` (the end of the newest persisted block) are dropped.
    ///
    /// # Errors
    /// On I/O errors or a damaged checkpoint.
    pub fn open(dir: &Path, opts: HeadOptions, min_valid_time: i64) -> Result<Arc<Head>> {
        if opts.chunk_range <= 0 {
            return Err(Error::InvalidArgument(format!(
                "head chunk range {} must be positive",
                opts.chunk_range
            )));
        }
        let mapper = ChunkDiskMapper::open(&dir.join("chunks_head"))?;
        let wal = match &opts.wal {
            Some(w) => Some(Wal::open(&dir.join("wal"), *w)?),
            None => None,
        };
        // Out-of-order samples go to the WBL; it is also replayed when the window was
        // turned off since, so that no accepted sample is lost.
        let wbl_dir = dir.join(crate::wlog::WBL_DIR_NAME);
        let wbl = match &opts.wal {
            Some(w) if opts.out_of_order_time_window > 0 || wbl_dir.exists() => {
                Some(Wal::open(&wbl_dir, *w)?)
            }
            _ => None,
        };
        let exemplars = Arc::new(CircularExemplarStorage::new(opts.max_exemplars));
        let wal_metrics = wal.as_ref().map(|w| Arc::clone(w.metrics()));
        let wbl_metrics = wbl.as_ref().map(|w| Arc::clone(w.metrics()));
        let head = Arc::new(Head {
            compaction_waker: Mutex::new(None),
            metrics: HeadMetrics::default(),
            wal_metrics,
            wbl_metrics: Mutex::new(wbl_metrics),
            ooo_window: AtomicI64::new(opts.out_of_order_time_window),
            exemplars,
            opts,
            dir: dir.to_path_buf(),
            shards: (0..SHARDS)
                .map(|_| CacheLine(RwLock::new(SeriesShard::default())))
                .collect(),
            hashes: (0..SHARDS)
                .map(|_| CacheLine(Mutex::new(HashShard::default())))
                .collect(),
            postings: RwLock::new(MemPostings::default()),
            wal: Mutex::new(wal),
            wbl: Mutex::new(wbl),
            mapper,
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            min_valid_time: AtomicI64::new(min_valid_time),
            ooo_floor: AtomicI64::new(i64::MAX),
            last_series_id: AtomicU64::new(0),
            num_series: AtomicU64::new(0),
            tombstones: Mutex::new(U64Map::default()),
            deleted: Mutex::new(U64Map::default()),
            closed: AtomicBool::new(false),
            replay: Mutex::new(ReplayStats::default()),
            readers: Mutex::new(Readers::default()),
            readers_done: parking_lot::Condvar::new(),
        });
        let start = std::time::Instant::now();
        head.replay()?;
        head.metrics
            .replay_duration
            .set(start.elapsed().as_secs_f64());
        #[allow(clippy::cast_precision_loss)]
        head.metrics
            .chunks_created
            .add(head.replay.lock().mmapped_chunks as f64);
        Ok(head)
    }

    /// The head's options.
    pub fn options(&self) -> &HeadOptions {
        &self.opts
    }

    /// The exemplar storage (size 0 unless [`HeadOptions::max_exemplars`] or a resize
    /// gave it room).
    pub fn exemplars(&self) -> &Arc<CircularExemplarStorage> {
        &self.exemplars
    }

    /// The metadata of the series with these labels (see [`HeadAppender::update_metadata`]).
    pub fn series_metadata(&self, labels: &Labels) -> Option<storage::Metadata> {
        let r = self.lookup(labels)?;
        self.shard(r).read().meta.get(&r).cloned()
    }

    /// Keeps metadata with its series (those still in the head), after commit or replay;
    /// returns how many entries had no series.
    fn set_metadata(&self, metadata: Vec<(u64, storage::Metadata)>) -> u64 {
        let mut unknown = 0;
        for (r, m) in metadata {
            let mut shard = self.shard(r).write();
            if shard.series.contains_key(&r) {
                shard.meta.insert(r, m);
            } else {
                unknown += 1;
            }
        }
        unknown
    }

    /// The ref of the series with exactly these labels, if the head has it.
    fn lookup(&self, labels: &Labels) -> Option<u64> {
        let hash = series_hash(labels);
        let hs = self.hash_shard(hash).lock();
        let first = *hs.first.get(&hash)?;
        std::iter::once(first)
            .chain(hs.more.get(&hash).into_iter().flatten().copied())
            .find(|r| {
                self.shard(*r)
                    .read()
                    .series
                    .get(r)
                    .is_some_and(|s| &s.labels == labels)
            })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the last WAL replay found.
    pub fn replay_stats(&self) -> ReplayStats {
        self.replay.lock().clone()
    }

    /// Go's `compactable`: whether the head spans more than one and a half chunk ranges
    /// (block ranges), so that its oldest range is due to be written as a block.
    pub fn compactable(&self) -> bool {
        let (mint, maxt) = (self.min_time(), self.max_time());
        mint != i64::MAX && maxt.saturating_sub(mint) > self.opts.chunk_range / 2 * 3
    }

    /// Has every commit that leaves the head compactable wake `waker` (the database's
    /// compactor thread).
    pub(crate) fn set_compaction_waker(&self, waker: crate::periodic::Waker) {
        *self.compaction_waker.lock() = Some(waker);
    }

    /// Earliest sample time in the head (ms); `i64::MAX` when empty.
    pub fn min_time(&self) -> i64 {
        self.min_time.load(Ordering::Acquire)
    }

    /// Latest sample time in the head (ms); `i64::MIN` when empty.
    pub fn max_time(&self) -> i64 {
        self.max_time.load(Ordering::Acquire)
    }

    /// How far behind the newest sample (ms) out-of-order samples are accepted; 0: not at
    /// all.
    pub fn out_of_order_time_window(&self) -> i64 {
        self.ooo_window.load(Ordering::Acquire)
    }

    /// Changes the out-of-order window (Prometheus's `Head.ApplyConfig` on a config
    /// reload); turning it on opens the WBL when there is none yet (and a WAL).
    ///
    /// # Errors
    /// When the WBL cannot be opened; the window is then left as it was.
    pub fn set_out_of_order_time_window(&self, window: i64) -> Result<()> {
        if window > 0
            && let Some(w) = &self.opts.wal
        {
            let mut wbl = self.wbl.lock();
            if wbl.is_none() {
                let opened = Wal::open(&self.dir.join(crate::wlog::WBL_DIR_NAME), *w)?;
                *self.wbl_metrics.lock() = Some(Arc::clone(opened.metrics()));
                *wbl = Some(opened);
            }
        }
        self.ooo_window.store(window.max(0), Ordering::Release);
        Ok(())
    }

    /// No sample before this time (ms) is accepted: it is covered by persisted blocks.
    pub fn min_valid_time(&self) -> i64 {
        self.min_valid_time.load(Ordering::Acquire)
    }

    /// Where the head's readable range starts: the minimum valid time, or the oldest
    /// out-of-order sample replayed from the WBL before it (until compacted).
    pub(crate) fn read_floor(&self) -> i64 {
        self.min_valid_time()
            .min(self.ooo_floor.load(Ordering::Acquire))
    }

    /// Notes an out-of-order sample at `t` replayed from the WBL.
    pub(crate) fn note_replayed_ooo(&self, t: i64) {
        if t < self.min_valid_time() {
            self.ooo_floor.fetch_min(t, Ordering::AcqRel);
        }
    }

    /// The number of series in the head.
    pub fn num_series(&self) -> u64 {
        self.num_series.load(Ordering::Acquire)
    }

    /// The size of the WAL directory in bytes (0 without a WAL).
    pub fn wal_size(&self) -> u64 {
        self.wal.lock().as_ref().map_or(0, Wal::size)
    }

    /// The size of the memory-mapped chunk files in bytes.
    pub fn chunks_size(&self) -> u64 {
        self.mapper.size()
    }

    pub(crate) fn mapper(&self) -> &ChunkDiskMapper {
        &self.mapper
    }

    fn update_min_max(&self, mint: i64, maxt: i64) {
        if mint <= maxt {
            self.min_time.fetch_min(mint, Ordering::AcqRel);
            self.max_time.fetch_max(maxt, Ordering::AcqRel);
        }
    }

    fn shard(&self, r: u64) -> &RwLock<SeriesShard> {
        &self.shards[shard_index(r)]
    }

    fn hash_shard(&self, h: u64) -> &Mutex<HashShard> {
        &self.hashes[(h as usize) % SHARDS]
    }

    /// Runs `f` on the series with exactly these labels (found through the hash shards, so
    /// the labels are hashed once) under its shard's write lock, creating the series (with a
    /// new ref, or `with_ref`) if missing. Returns its ref, whether it was created, and what
    /// `f` returned.
    fn with_series<R>(
        &self,
        labels: &Labels,
        with_ref: Option<u64>,
        f: impl FnOnce(u64, &mut MemSeries) -> R,
    ) -> (u64, bool, R) {
        let hash = series_hash(labels);
        let hs = self.hash_shard(hash).lock();
        let (f, mut hs) = match self.find_locked(hs, hash, labels, f) {
            Ok((r, out)) => return (r, false, out),
            Err(back) => back,
        };
        let r = match with_ref {
            Some(r) => {
                self.last_series_id.fetch_max(r, Ordering::AcqRel);
                r
            }
            None => self.last_series_id.fetch_add(1, Ordering::AcqRel) + 1,
        };
        let out = {
            let mut shard = self.shard(r).write();
            let s = shard
                .series
                .entry(r)
                .insert_entry(MemSeries::new(labels.clone()))
                .into_mut();
            f(r, s)
        };
        match hs.first.entry(hash) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(r);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                hs.more.entry(hash).or_default().push(r);
            }
        }
        self.postings.write().add(r, labels);
        drop(hs);
        self.num_series.fetch_add(1, Ordering::AcqRel);
        self.metrics.series_created.inc();
        (r, true, out)
    }

    /// Runs `f` on the existing series with these labels (whose hash is `hash`, its hash
    /// shard locked as `hs`) under its shard's write lock, unlocking `hs` first; hands `f`
    /// and `hs` back when there is no such series.
    #[allow(clippy::type_complexity)]
    fn find_locked<'a, R, F: FnOnce(u64, &mut MemSeries) -> R>(
        &self,
        hs: MutexGuard<'a, HashShard>,
        hash: u64,
        labels: &Labels,
        f: F,
    ) -> std::result::Result<(u64, R), (F, MutexGuard<'a, HashShard>)> {
        let Some(&first) = hs.first.get(&hash) else {
            return Err((f, hs));
        };
        let candidates =
            std::iter::once(first).chain(hs.more.get(&hash).into_iter().flatten().copied());
        for r in candidates {
            let mut shard = self.shard(r).write();
            if let Some(s) = shard.series.get_mut(&r)
                && &s.labels == labels
            {
                // The series is pinned by the shard lock from here on.
                drop(hs);
                return Ok((r, f(r, s)));
            }
        }
        Err((f, hs))
    }

    /// Runs `f` on the existing series with exactly these labels under its shard's write
    /// lock, as [`Head::with_series`] without creating one: hands `f` back when there is
    /// none.
    fn with_existing_series<R, F: FnOnce(u64, &mut MemSeries) -> R>(
        &self,
        labels: &Labels,
        f: F,
    ) -> std::result::Result<(u64, R), F> {
        let hash = series_hash(labels);
        let hs = self.hash_shard(hash).lock();
        self.find_locked(hs, hash, labels, f).map_err(|(f, _)| f)
    }

    /// The series with these labels, created (with a new ref, or `with_ref`) if missing.
    /// Returns its ref and whether it was created.
    pub(crate) fn get_or_create(&self, labels: &Labels, with_ref: Option<u64>) -> (u64, bool) {
        let (r, created, ()) = self.with_series(labels, with_ref, |_, _| ());
        (r, created)
    }

    /// A new appender. Samples become visible (and durable in the WAL) at commit.
    pub fn appender(self: &Arc<Self>) -> HeadAppender {
        let head_maxt = self.max_time();
        // No sample may land in the range a compaction could be persisting, nor before the
        // newest block (Go's appendableMinValidTime). An empty head has no such window yet.
        let min_valid = if head_maxt == i64::MIN {
            self.min_valid_time()
        } else {
            self.min_valid_time()
                .max(head_maxt.saturating_sub(self.opts.chunk_range / 2))
        };
        self.metrics.active_appenders.inc();
        HeadAppender {
            head: Arc::clone(self),
            bounds: Bounds {
                head_maxt,
                min_valid_time: min_valid,
                ooo_window: self.out_of_order_time_window(),
                persisted_until: self.min_valid_time(),
            },
            samples: Vec::new(),
            histograms: Vec::new(),
            histograms_newest: U64Map::default(),
            exemplars: Vec::new(),
            refs_pending: Vec::new(),
            unlogged: Vec::new(),
            batch_ends: Vec::new(),
            types: None,
            grouped: true,
            wal_written: false,
            sts: Vec::new(),
            metadata: Vec::new(),
        }
    }

    /// A querier over samples in `[mint, maxt]`.
    pub fn querier(self: &Arc<Self>, mint: i64, maxt: i64) -> HeadQuerier {
        HeadQuerier::new(Arc::clone(self), mint, maxt)
    }

    /// Registers an open reader of `[mint, maxt]` until the guard is dropped (Go's pending
    /// readers), so that [`Head::wait_for_readers_before`] can hold back a truncation.
    pub(crate) fn register_reader(self: &Arc<Self>, mint: i64, maxt: i64) -> ReaderGuard {
        let mut r = self.readers.lock();
        r.next_id += 1;
        let id = r.next_id;
        r.open.insert(id, (mint, maxt));
        ReaderGuard {
            head: Arc::clone(self),
            id,
        }
    }

    /// Waits until no registered reader overlaps `[.., t)`, for at most `limit`. Returns
    /// whether it got there (a reader held open longer does not stall compaction forever).
    pub(crate) fn wait_for_readers_before(&self, t: i64, limit: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        let mut r = self.readers.lock();
        while r.open.values().any(|&(mint, _)| mint < t) {
            if self.readers_done.wait_until(&mut r, deadline).timed_out() {
                return !r.open.values().any(|&(mint, _)| mint < t);
            }
        }
        true
    }

    /// Logs series records (for those of `unlogged` not yet in the WAL), the encoded
    /// sample records `data` (float and histogram records, in append order) and exemplars.
    /// `unlogged` lists the series of the batch that were not logged when their sample was
    /// appended; every other series of the batch already has its record in the WAL.
    fn log_batch(
        &self,
        data: &[Vec<u8>],
        exemplars: &[(u64, storage::Exemplar)],
        unlogged: &[u64],
    ) -> Result<()> {
        let mut wal = self.wal.lock();
        let Some(w) = wal.as_mut() else {
            return Ok(());
        };
        // Series records are written while the WAL lock is held, so a sample record of any
        // appender always follows the record of its series.
        let mut new_series = Vec::new();
        for &r in unlogged {
            let shard = self.shard(r).read();
            if let Some(ms) = shard.series.get(&r)
                && ms.flags & LOGGED == 0
                && new_series
                    .last()
                    .is_none_or(|s: &RefSeries| s.series_ref != r)
            {
                new_series.push(RefSeries {
                    series_ref: r,
                    labels: ms.labels.clone(),
                });
            }
        }
        // Exemplars go after the samples, as Prometheus logs them.
        let mut buf_exemplars = Vec::new();
        if !exemplars.is_empty() {
            let recs: Vec<record::RefExemplar> = exemplars
                .iter()
                .map(|(r, e)| record::RefExemplar {
                    series_ref: *r,
                    t: e.ts,
                    v: e.value,
                    labels: e.labels.clone(),
                })
                .collect();
            record::encode_exemplars(&recs, &mut buf_exemplars);
        }
        let mut buf_series = Vec::new();
        if !new_series.is_empty() {
            record::encode_series(&new_series, &mut buf_series);
        }
        let recs: Vec<&[u8]> = [&buf_series]
            .into_iter()
            .chain(data)
            .chain([&buf_exemplars])
            .filter(|b| !b.is_empty())
            .map(Vec::as_slice)
            .collect();
        if recs.is_empty() {
            return Ok(());
        }
        w.log(&recs)?;
        if new_series.is_empty() {
            return Ok(());
        }
        // Marked only once written (still under the WAL lock): a failed write leaves the
        // records to the next batch.
        for s in &new_series {
            if let Some(ms) = self
                .shard(s.series_ref)
                .write()
                .series
                .get_mut(&s.series_ref)
            {
                ms.flags |= LOGGED;
            }
        }
        Ok(())
    }

    /// Adds tombstones (deleted intervals) for series, writing them to the WAL first.
    pub(crate) fn add_tombstones(&self, stones: &[RefTombstone]) -> Result<()> {
        if stones.is_empty() {
            return Ok(());
        }
        if let Some(w) = self.wal.lock().as_mut() {
            let mut buf = Vec::new();
            record::encode_tombstones(stones, &mut buf);
            w.log(&[&buf])?;
        }
        let mut ts = self.tombstones.lock();
        for s in stones {
            add_interval(ts.entry(s.series_ref).or_default(), s.mint, s.maxt);
        }
        Ok(())
    }

    pub(crate) fn tombstones_of(&self, r: u64) -> Vec<(i64, i64)> {
        self.tombstones.lock().get(&r).cloned().unwrap_or_default()
    }

    /// Calls `f` with each run of consecutive entries of one series among `n` entries
    /// (`series(i)` is entry `i`'s series) and the run's shard, shard by shard, each shard
    /// locked once, the runs of a shard in entry order (so that every series gets its
    /// entries in order).
    fn for_runs_by_shard(
        &self,
        n: usize,
        series: impl Fn(usize) -> u64,
        mut f: impl FnMut(&mut SeriesShard, std::ops::Range<usize>),
    ) {
        // Where each run starts, and the runs ordered by shard (a counting sort).
        let mut run_starts: Vec<usize> = Vec::new();
        let mut shard_starts = [0usize; SHARDS + 1];
        let mut prev = None;
        for i in 0..n {
            let r = series(i);
            if prev != Some(r) {
                run_starts.push(i);
                shard_starts[shard_index(r) + 1] += 1;
                prev = Some(r);
            }
        }
        for k in 1..=SHARDS {
            shard_starts[k] += shard_starts[k - 1];
        }
        let mut next = shard_starts;
        let mut by_shard = vec![0usize; run_starts.len()];
        for (run, &i) in run_starts.iter().enumerate() {
            let slot = &mut next[shard_index(series(i))];
            by_shard[*slot] = run;
            *slot += 1;
        }
        for (k, shard) in self.shards.iter().enumerate() {
            let runs = &by_shard[shard_starts[k]..shard_starts[k + 1]];
            if runs.is_empty() {
                continue;
            }
            let mut shard = shard.write();
            for &run in runs {
                let end = run_starts.get(run + 1).copied().unwrap_or(n);
                f(&mut shard, run_starts[run]..end);
            }
        }
    }

    /// Marks the series of a batch as having (or no longer having) pending samples.
    /// Each shard is locked once.
    fn set_pending(&self, refs: &[u64], on: bool) {
        let mut by_shard = refs.to_vec();
        by_shard.sort_unstable_by_key(|&r| shard_index(r));
        for group in by_shard.chunk_by(|&a, &b| shard_index(a) == shard_index(b)) {
            let mut shard = self.shard(group[0]).write();
            for r in group {
                if let Some(s) = shard.series.get_mut(r) {
                    if on {
                        s.flags |= PENDING;
                    } else {
                        s.flags &= !PENDING;
                    }
                }
            }
        }
    }

    /// Drops all data before `mint` from memory and disk: chunks, empty series, head chunk
    /// files, and WAL segments (after writing a checkpoint of what is still needed).
    ///
    /// # Errors
    /// On I/O errors.
    pub fn truncate(&self, mint: i64) -> Result<()> {
        self.metrics.truncations.inc();
        let res = self.truncate_inner(mint);
        if res.is_err() {
            self.metrics.truncations_failed.inc();
        }
        res
    }

    fn truncate_inner(&self, mint: i64) -> Result<()> {
        self.min_valid_time.fetch_max(mint, Ordering::AcqRel);
        // Out-of-order samples before `mint` are in the block just written, or dropped.
        self.ooo_floor.fetch_max(mint, Ordering::AcqRel);
        if self.min_time() < mint {
            self.min_time.store(mint, Ordering::Release);
        }
        let start = std::time::Instant::now();
        self.gc(mint);
        self.metrics.gc_duration.observe_since(start);
        tracing::info!(
            caller = "truncateMemory",
            duration = replay::go_duration(start.elapsed()),
            "Head GC completed"
        );
        self.mapper.truncate(mint)?;
        self.truncate_wal(mint)?;
        self.truncate_wbl()
    }

    /// Truncates chunks before `mint` and removes series left without data.
    fn gc(&self, mint: i64) {
        let current_segment = self.wal.lock().as_ref().map_or(0, Wal::current_segment);
        let mut removed: Vec<(u64, Labels)> = Vec::new();
        let mut new_min = i64::MAX;
        let mut chunks_removed = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.write();
            shard.series.retain(|&r, s| {
                chunks_removed += s.truncate_before(mint);
                if s.is_empty() && s.flags & PENDING == 0 {
                    removed.push((r, s.labels.clone()));
                    false
                } else {
                    if let Some(t) = s.min_time() {
                        new_min = new_min.min(t);
                    }
                    true
                }
            });
            if !shard.sts.is_empty() {
                let SeriesShard { series, sts, .. } = &mut *shard;
                sts.retain(|r, v| {
                    v.retain(|&(t, _)| t >= mint);
                    !v.is_empty() && series.contains_key(r)
                });
            }
            if !shard.meta.is_empty() {
                let SeriesShard { series, meta, .. } = &mut *shard;
                meta.retain(|r, _| series.contains_key(r));
            }
            if shard.series.capacity() > shard.series.len() * 2 + 16 {
                shard.series.shrink_to_fit();
            }
        }
        #[allow(clippy::cast_precision_loss)]
        {
            self.metrics.chunks_removed.add(chunks_removed as f64);
            self.metrics.series_removed.add(removed.len() as f64);
        }
        self.metrics
            .add_chunks(-i64::try_from(chunks_removed).unwrap_or(i64::MAX));
        if removed.is_empty() {
            if new_min != i64::MAX {
                self.min_time.store(new_min.max(mint), Ordering::Release);
            }
            return;
        }
        {
            let mut postings = self.postings.write();
            for (r, labels) in &removed {
                postings.delete(*r, labels);
            }
            postings.shrink();
        }
        for (r, labels) in &removed {
            let hash = series_hash(labels);
            let mut guard = self.hash_shard(hash).lock();
            let HashShard { first, more } = &mut *guard;
            if first.get(&hash) == Some(r) {
                first.remove(&hash);
                if let Some(list) = more.get_mut(&hash) {
                    if let Some(next) = list.pop() {
                        first.insert(hash, next);
                    }
                    if list.is_empty() {
                        more.remove(&hash);
                    }
                }
            } else if let Some(list) = more.get_mut(&hash) {
                list.retain(|x| x != r);
                if list.is_empty() {
                    more.remove(&hash);
                }
            }
        }
        {
            let mut deleted = self.deleted.lock();
            let mut ts = self.tombstones.lock();
            for (r, _) in &removed {
                deleted.insert(*r, current_segment);
                ts.remove(r);
            }
        }
        self.num_series
            .fetch_sub(removed.len() as u64, Ordering::AcqRel);
        if new_min == i64::MAX {
            // The head is empty.
            self.min_time.store(i64::MAX, Ordering::Release);
            self.max_time.store(i64::MIN, Ordering::Release);
        } else {
            self.min_time.store(new_min.max(mint), Ordering::Release);
        }
    }

    /// Rewrites the out-of-order samples still in memory into a new WBL segment and deletes
    /// the older segments (Prometheus instead truncates the WBL after compacting the
    /// out-of-order head; this head keeps those samples in memory until they are compacted
    /// with the in-order data of their range).
    fn truncate_wbl(&self) -> Result<()> {
        let mut wbl = self.wbl.lock();
        let Some(w) = wbl.as_mut() else {
            return Ok(());
        };
        let keep_from = w.next_segment()?;
        let mut samples = Vec::new();
        let mut histograms = Vec::new();
        for shard in self.shards.iter() {
            for (&r, s) in &shard.read().series {
                if let Some(ooo) = &s.ooo {
                    samples.extend(ooo.floats.iter().map(|&(t, v)| RefSample {
                        series_ref: r,
                        t,
                        v,
                    }));
                    histograms.extend(ooo.histograms.iter().map(|(t, h)| (r, *t, h.clone())));
                }
            }
        }
        for part in samples.chunks(10_000) {
            let mut buf = Vec::new();
            record::encode_samples(part, &mut buf);
            w.log(&[&buf])?;
        }
        for part in histograms.chunks(1_000) {
            let recs = encode_histogram_records(part);
            let recs: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
            w.log(&recs)?;
        }
        w.truncate(keep_from)
    }

    /// Writes a checkpoint of the older two thirds of the WAL segments and deletes them, as
    /// Prometheus's `truncateWAL`.
    fn truncate_wal(&self, mint: i64) -> Result<()> {
        let mut wal = self.wal.lock();
        let Some(w) = wal.as_mut() else {
            return Ok(());
        };
        let Some((first, last)) = crate::wlog::segment_range(w.dir())? else {
            return Ok(());
        };
        // Start a new segment so that a low-volume TSDB does not keep more WAL than needed.
        w.next_segment()?;
        if last == 0 {
            return Ok(());
        }
        // Never consider the last segment; the lower two thirds hold mostly obsolete data.
        let last = last - 1;
        let last = first + (last - first) * 2 / 3;
        if last <= first {
            return Ok(());
        }
        let dir = w.dir().to_path_buf();
        let compression = w.compression();
        drop(wal);
        let start = std::time::Instant::now();
        let deleted = self.deleted.lock().clone();
        let keep = |r: u64| {
            self.shard(r).read().series.contains_key(&r)
                || deleted.get(&r).is_some_and(|&seg| seg > last)
        };
        self.metrics.checkpoint_creations.inc();
        tracing::info!(
            from_segment = first,
            to_segment = last,
            mint,
            "Creating checkpoint"
        );
        if let Err(e) = crate::checkpoint::checkpoint(&dir, first, last, &keep, mint, compression) {
            self.metrics.checkpoint_creations_failed.inc();
            return Err(e);
        }
        if let Some(w) = self.wal.lock().as_mut() {
            w.truncate(last + 1)?;
        }
        self.deleted.lock().retain(|_, seg| *seg > last);
        self.metrics.checkpoint_deletions.inc();
        if let Err(e) = crate::checkpoint::delete_checkpoints(&dir, last) {
            self.metrics.checkpoint_deletions_failed.inc();
            return Err(e);
        }
        self.metrics.wal_truncate_duration.observe_since(start);
        tracing::info!(
            first,
            last,
            duration = replay::go_duration(start.elapsed()),
            "WAL checkpoint complete"
        );
        Ok(())
    }

    /// The refs of all series, sorted.
    pub(crate) fn series_refs(&self) -> Vec<u64> {
        self.postings.read().all().to_vec()
    }

    /// Series `r`'s samples in `[mint, maxt)` re-encoded as block chunks (tombstones
    /// applied), or `None` when it has none there.
    pub(crate) fn series_chunks_for_block(
        &self,
        r: u64,
        mint: i64,
        maxt: i64,
    ) -> Result<Option<(Labels, Vec<crate::compact::MemChunk>)>> {
        let Some(((labels, samples), hists)) =
            querier::read_series(self, r, mint, maxt.saturating_sub(1))?
        else {
            return Ok(None);
        };
        if hists.is_empty() {
            if samples.is_empty() {
                return Ok(None);
            }
            return Ok(Some((labels, crate::compact::encode_chunks(&samples)?)));
        }
        // A series with native histograms: floats and histograms merged in time order.
        let mut all: Vec<(i64, chunkenc::Value)> = samples
            .into_iter()
            .map(|(t, v)| (t, chunkenc::Value::Float(v)))
            .chain(hists)
            .collect();
        all.sort_by_key(|s| s.0);
        Ok(Some((labels, crate::compact::encode_any_chunks(&all)?)))
    }

    /// The refs of series matching `matchers` with data in `[mint, maxt]`.
    pub(crate) fn refs_with_data(
        &self,
        matchers: &[model::Matcher],
        mint: i64,
        maxt: i64,
    ) -> Vec<u64> {
        let refs = self.postings.read().postings_for_matchers(matchers);
        refs.into_iter()
            .filter(|&r| {
                self.shard(r).read().series.get(&r).is_some_and(|s| {
                    s.min_time().is_some_and(|a| a <= maxt)
                        && s.max_time().is_none_or(|b| b >= mint)
                        || s.ooo.as_ref().is_some_and(|o| o.any_in(mint, maxt))
                })
            })
            .collect()
    }

    /// Writes buffered head chunks to their file (they are otherwise written in batches),
    /// as a crash after a buffer flush would leave them; for tests that inspect the files.
    #[doc(hidden)]
    pub fn mapper_flush_for_tests(&self) {
        // A failed flush leaves the chunks to the WAL replay, as a crash would.
        let _ = self.mapper.flush();
    }

    /// Fsyncs the WAL's current segment.
    ///
    /// # Errors
    /// On I/O errors.
    pub fn sync_wal(&self) -> Result<()> {
        match self.wal.lock().as_mut() {
            Some(w) => w.sync(),
            None => Ok(()),
        }
    }

    /// Counts a commit's samples: appended in order and refused as out of order (by type,
    /// [`FLOAT`] and [`HISTOGRAM`]), and taken into the out-of-order buffers.
    #[allow(clippy::cast_precision_loss)]
    fn count_commit(&self, appended: [usize; 2], refused: [usize; 2], ooo: [usize; 2]) {
        let m = &self.metrics;
        for i in [FLOAT, HISTOGRAM] {
            if appended[i] > 0 {
                m.samples_appended[i].add(appended[i] as f64);
            }
            if refused[i] > 0 {
                m.out_of_order[i].add(refused[i] as f64);
            }
            if ooo[i] > 0 {
                m.ooo_appended[i].add(ooo[i] as f64);
            }
        }
    }

    /// The number of chunks in the head: memory-mapped ones and open ones with samples.
    /// The number of chunks in the head (memory-mapped ones and open ones holding a
    /// sample), kept as chunks come and go.
    pub fn num_chunks(&self) -> u64 {
        self.metrics.chunks()
    }

    /// [`Head::num_chunks`] counted by walking every series: what the kept count must
    /// equal.
    #[cfg(test)]
    pub(crate) fn num_chunks_by_walk(&self) -> u64 {
        let mut n = 0i64;
        for shard in self.shards.iter() {
            for s in shard.read().series.values() {
                n += s.num_chunks();
            }
        }
        u64::try_from(n).expect("chunk counts are not negative")
    }

    /// Renders the head's metrics, its WAL's and its exemplar storage's.
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn metric_families(&self, f: &mut Families) {
        self.metrics.families(f);
        let gauges: [(&str, &str, f64); 7] = [
            (
                "prometheus_tsdb_head_series",
                "Total number of series in the head block.",
                self.num_series() as f64,
            ),
            (
                "prometheus_tsdb_head_chunks",
                "Total number of chunks in the head block.",
                self.num_chunks() as f64,
            ),
            (
                "prometheus_tsdb_head_chunks_storage_size_bytes",
                "Size of the chunks_head directory.",
                self.mapper.size() as f64,
            ),
            (
                "prometheus_tsdb_head_max_time",
                "Maximum timestamp of the head block. The unit is decided by the library consumer.",
                self.max_time() as f64,
            ),
            (
                "prometheus_tsdb_head_min_time",
                "Minimum time bound of the head block. The unit is decided by the library consumer.",
                self.min_time() as f64,
            ),
            (
                "prometheus_tsdb_head_max_time_seconds",
                "Maximum timestamp of the head block.",
                (self.max_time() / 1000) as f64,
            ),
            (
                "prometheus_tsdb_head_min_time_seconds",
                "Minimum time bound of the head block.",
                (self.min_time() / 1000) as f64,
            ),
        ];
        for (name, help, v) in gauges {
            f.single(name, "gauge", help, v);
        }
        let replay = self.replay.lock().clone();
        let once: [(&str, &str, bool); 3] = [
            (
                "prometheus_tsdb_mmap_chunk_corruptions_total",
                "Total number of memory-mapped chunk corruptions.",
                replay.head_chunks_corruption.is_some(),
            ),
            (
                "prometheus_tsdb_wal_corruptions_total",
                "Total number of WAL corruptions.",
                replay.wal_corruption.is_some(),
            ),
            (
                "prometheus_tsdb_snapshot_replay_error_total",
                "Total number snapshot replays that failed.",
                replay.chunk_snapshot_error.is_some(),
            ),
        ];
        for (name, help, happened) in once {
            f.single(name, "counter", help, f64::from(u8::from(happened)));
        }
        if let (Some(m), Some(w)) = (&self.wal_metrics, &self.opts.wal) {
            let compression = match w.compression {
                crate::wlog::Compression::None => None,
                crate::wlog::Compression::Snappy => Some("snappy"),
                crate::wlog::Compression::Zstd => Some("zstd"),
            };
            m.families(
                f,
                "prometheus_tsdb_wal_",
                &self.dir.join("wal"),
                compression,
            );
            // The out-of-order samples' log, under Go's name for it.
            if let Some(m) = self.wbl_metrics.lock().clone() {
                m.families(
                    f,
                    "prometheus_tsdb_out_of_order_wbl_",
                    &self.dir.join(crate::wlog::WBL_DIR_NAME),
                    compression,
                );
            }
        }
        let mut text = String::new();
        self.exemplars.write_metrics(&mut text);
        f.text(&text);
    }

    /// Appends the head's own metrics (`prometheus_tsdb_head_*`, the WAL's, the exemplar
    /// storage's and the append counters) in the text exposition format, sorted by name.
    /// [`crate::db::Db::write_metrics`] adds the database's to these.
    pub fn write_metrics(&self, out: &mut String) {
        let mut f = Families::default();
        self.metric_families(&mut f);
        f.write(out);
    }

    /// Statistics for `/api/v1/status/tsdb`, with the top `limit` entries per list.
    pub fn stats(&self, limit: usize) -> HeadStats {
        let num_chunks = self.num_chunks();
        let postings = self.postings.read();
        let top = |mut v: Vec<(String, u64)>| {
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(limit);
            v
        };
        let by_metric = postings
            .value_counts(model::METRIC_NAME)
            .into_iter()
            .map(|(n, c)| (n, c as u64))
            .collect();
        let (_, values_per_name, pairs) = postings.cardinality();
        let mut memory: Vec<(String, u64)> = Vec::new();
        for n in postings.label_names() {
            let bytes: usize = postings.values(n).map(|(v, l)| v.len() * l.len()).sum();
            memory.push((n.to_string(), bytes as u64));
        }
        HeadStats {
            num_series: self.num_series(),
            num_chunks,
            min_time: self.min_time(),
            max_time: self.max_time(),
            series_count_by_metric_name: top(by_metric),
            label_value_count_by_label_name: top(values_per_name
                .into_iter()
                .map(|(n, c)| (n, c as u64))
                .collect()),
            memory_in_bytes_by_label_name: top(memory),
            series_count_by_label_value_pair: top(pairs
                .into_iter()
                .map(|(n, c)| (n, c as u64))
                .collect()),
        }
    }

    /// Flushes and closes the chunk files, writes a chunk snapshot when
    /// [`HeadOptions::memory_snapshot_on_shutdown`] is set (after commits under way, for at
    /// most 5 s, and only once the chunk files are safe: the snapshot leaves their samples
    /// out), then closes the WAL. Appends fail afterwards.
    ///
    /// # Errors
    /// On I/O errors (a failed snapshot is reported after the WAL is closed).
    pub fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if self.opts.memory_snapshot_on_shutdown {
            // Commits already under way finish first, so that the snapshot has them.
            self.wait_for_pending_appends(std::time::Duration::from_secs(5));
        }
        let mapper = self.mapper.close();
        let snapshot = if mapper.is_ok() && self.opts.memory_snapshot_on_shutdown {
            self.chunk_snapshot().map(|_| ())
        } else {
            Ok(())
        };
        if let Some(w) = self.wal.lock().as_mut() {
            w.close()?;
        }
        if let Some(w) = self.wbl.lock().as_mut() {
            w.close()?;
        }
        mapper?;
        snapshot
    }
}

/// Adds `[mint, maxt]` to sorted, non-overlapping intervals, merging as needed.
pub(crate) fn add_interval(ivs: &mut Vec<(i64, i64)>, mint: i64, maxt: i64) {
    ivs.push((mint, maxt));
    ivs.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(ivs.len());
    for &(a, b) in ivs.iter() {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    *ivs = out;
}

/// A batch of appends to the head; nothing is visible or written until
/// [`HeadAppender::commit`].
///
/// # Durability
/// `commit` writes the batch to the WAL (series records for new series, then one samples
/// record) and hands it to the operating system with a `write` call before applying it to
/// memory. So when `commit` returns `Ok`, the samples survive a crash of the process
/// (SIGKILL, panic, OOM kill). They survive a crash of the machine or a power loss only once
/// fsynced: with [`crate::wlog::SyncPolicy::Always`] at every commit, otherwise when the WAL
/// segment is complete (every 128 MiB), at [`Head::close`], or through
/// [`crate::db::Db::sync_wal`].
pub struct HeadAppender {
    head: Arc<Head>,
    bounds: Bounds,
    samples: Vec<RefSample>,
    /// Native histograms of the batch, in append order.
    histograms: Vec<(u64, i64, HistSample)>,
    /// For each series of `histograms`: its newest time there, and where (the last entry
    /// with that time).
    histograms_newest: U64Map<(i64, usize)>,
    /// Where each closed sub-batch ends in `samples` and `histograms`. A series that
    /// switches between float and histogram samples closes the current sub-batch, so the
    /// WAL and the head see its samples in append order (Prometheus's `batches`); within
    /// one sub-batch floats are applied before histograms.
    batch_ends: Vec<(usize, usize)>,
    /// Whether each series of the current sub-batch has histogram (`true`) or float
    /// samples; `None` until the appender's first histogram, so float-only batches pay
    /// nothing for it.
    types: Option<HashMap<u64, bool, BuildHasherDefault<U64Hasher>>>,
    /// Exemplars of the batch with their series, validated when appended.
    exemplars: Vec<(u64, storage::Exemplar)>,
    /// The series this appender marked [`PENDING`] (to unmark at commit or rollback).
    refs_pending: Vec<u64>,
    /// Series of the batch whose record was not in the WAL when their sample was appended.
    unlogged: Vec<u64>,
    /// Whether each series of `samples` occupies one run of consecutive samples and was
    /// marked pending by this appender at the start of its run: then commit clears
    /// [`PENDING`] as it applies each run, with no extra pass over `refs_pending`.
    grouped: bool,
    /// Set once commit has written the batch to the WAL.
    wal_written: bool,
    /// Start timestamps of the batch's samples that have one: `(series, t, st)`.
    sts: Vec<(u64, i64, i64)>,
    /// Metadata of the batch that differs from what its series has: `(series, metadata)`.
    metadata: Vec<(u64, storage::Metadata)>,
}

impl std::fmt::Debug for HeadAppender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadAppender")
            .field("samples", &self.samples.len())
            .finish_non_exhaustive()
    }
}

impl HeadAppender {
    /// Adds a sample. `r` is a ref returned by an earlier append (0 if unknown); it is
    /// trusted when the head knows it, otherwise the series is found (or created) by labels.
    ///
    /// # Errors
    /// The error Prometheus returns: [`storage::Error::OutOfBounds`] (before the head's
    /// valid range), [`storage::Error::OutOfOrderSample`], [`storage::Error::TooOldSample`]
    /// (with an out-of-order window), [`storage::Error::DuplicateSampleForTimestamp`] (same
    /// time, other value; the same value again is accepted and ignored), or
    /// [`storage::Error::InvalidLabels`] for an empty label set.
    pub fn append(
        &mut self,
        r: u64,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> std::result::Result<u64, storage::Error> {
        let head = &self.head;
        if self.bounds.ooo_window == 0 && t < self.bounds.min_valid_time {
            head.metrics
                .count_refused(&storage::Error::OutOfBounds, false);
            return Err(storage::Error::OutOfBounds);
        }
        if head.closed.load(Ordering::Acquire) {
            return Err(storage::Error::backend(Error::InvalidArgument(
                "the head is closed".into(),
            )));
        }
        let prev = self.samples.last().map_or(0, |s| s.series_ref);
        // Everything an accepted sample needs from its series, done under one lookup with
        // the shard's write lock held.
        let mut check = |r: u64, s: &mut MemSeries| -> std::result::Result<(), storage::Error> {
            // Refusals are counted where they happen, so that accepted samples pay nothing.
            s.appendable(t, v, &self.bounds, &head.mapper)
                .map_err(|e| refused(e, &head.metrics, false))?;
            if s.flags & PENDING == 0 {
                s.flags |= PENDING;
                self.refs_pending.push(r);
            } else if r != prev {
                self.grouped = false;
            }
            if s.flags & LOGGED == 0 && self.unlogged.last() != Some(&r) {
                self.unlogged.push(r);
            }
            Ok(())
        };
        let mut found = false;
        if r != 0 {
            let mut shard = head.shard(r).write();
            if let Some(s) = shard.series.get_mut(&r) {
                check(r, s)?;
                found = true;
            }
        }
        let r = if found {
            r
        } else if labels.is_empty() {
            return Err(storage::Error::InvalidLabels {
                labels: labels.to_string(),
                reason: "empty label set",
            });
        } else if let Ok((r, res)) = head.with_existing_series(labels, &mut check) {
            // A series of the head has no empty label value, so labels naming one need no
            // check: only a new series needs the scan below.
            res?;
            r
        } else {
            // One pass: is any value empty, are all of them?
            let (mut any_empty, mut all_empty) = (false, true);
            for (_, v) in labels.iter() {
                if v.is_empty() {
                    any_empty = true;
                } else {
                    all_empty = false;
                }
            }
            if all_empty {
                return Err(storage::Error::InvalidLabels {
                    labels: labels.to_string(),
                    reason: "empty label set",
                });
            }
            let (r, _, res) = if any_empty {
                // Prometheus drops empty labels before storing a series.
                let clean = Labels::from_pairs(labels.iter().filter(|(_, v)| !v.is_empty()));
                head.with_series(&clean, None, check)
            } else {
                head.with_series(labels, None, check)
            };
            res?;
            r
        };
        self.note_type(r, false);
        self.samples.push(RefSample {
            series_ref: r,
            t,
            v,
        });
        Ok(r)
    }

    /// Records that series `r` gets a sample of this type next, first closing the current
    /// sub-batch when the series has samples of the other type in it.
    fn note_type(&mut self, r: u64, histogram: bool) {
        if self.types.is_none() {
            if !histogram {
                return;
            }
            let start = self.batch_ends.last().map_or(0, |e| e.0);
            self.types = Some(
                self.samples[start..]
                    .iter()
                    .map(|s| (s.series_ref, false))
                    .collect(),
            );
        }
        let types = self.types.as_mut().expect("the type map was just created");
        if types
            .insert(r, histogram)
            .is_some_and(|was| was != histogram)
        {
            self.batch_ends
                .push((self.samples.len(), self.histograms.len()));
            types.clear();
            types.insert(r, histogram);
            // A series may now have float runs in several sub-batches.
            self.grouped = false;
        }
    }

    /// Adds an exemplar to an existing series: `r` if the head knows it, else the series
    /// with `labels` (Prometheus's `headAppender.AppendExemplar`). With the exemplar storage
    /// off (size 0), or for a duplicate of the series' newest exemplar, nothing is added
    /// and `Ok(0)` returned. Empty exemplar labels are dropped.
    ///
    /// # Errors
    /// [`storage::Error::OutOfOrderExemplar`], [`storage::Error::ExemplarLabelLength`], or
    /// a backend error when no series has this ref or these labels.
    pub fn append_exemplar(
        &mut self,
        r: u64,
        labels: &Labels,
        e: &storage::Exemplar,
    ) -> std::result::Result<u64, storage::Error> {
        let head = &self.head;
        if !head.exemplars.enabled() {
            return Ok(0);
        }
        // The series' labels and whether it is logged.
        let state = |r: u64| {
            let shard = head.shard(r).read();
            let s = shard.series.get(&r)?;
            Some((s.labels.clone(), s.flags & LOGGED != 0))
        };
        let known = if r != 0 { state(r) } else { None };
        let (r, (series, logged)) = match known {
            Some(st) => (r, st),
            None => {
                let r = head.lookup(labels).ok_or_else(|| {
                    storage::Error::backend(Error::InvalidArgument(format!(
                        "unknown HeadSeriesRef when trying to add exemplar: {r}"
                    )))
                })?;
                match state(r) {
                    Some(st) => (r, st),
                    None => return Ok(0),
                }
            }
        };
        let mut e = e.clone();
        if e.labels.iter().any(|(_, v)| v.is_empty()) {
            e.labels = Labels::from_pairs(e.labels.iter().filter(|(_, v)| !v.is_empty()));
        }
        match head.exemplars.validate(&series, &e) {
            Ok(()) => {}
            Err(storage::Error::DuplicateExemplar | storage::Error::ExemplarsDisabled) => {
                return Ok(0);
            }
            Err(err) => return Err(err),
        }
        // The series record must be in the WAL before the exemplar record refers to it
        // (the sample of this series may have been rejected).
        if !logged && !self.unlogged.contains(&r) {
            self.unlogged.push(r);
        }
        self.exemplars.push((r, e));
        Ok(r)
    }

    /// Records the metadata of series `r` (or, when the head does not know `r`, of the series
    /// with `labels`), as Prometheus's `headAppender.UpdateMetadata`: when it differs from
    /// what the series has, commit logs it (a WAL record of type 6, after the series
    /// records and before the samples) and keeps it with the series. Returns the series' ref.
    ///
    /// # Errors
    /// A backend error when no series has this ref or these labels.
    pub fn update_metadata(
        &mut self,
        r: u64,
        labels: &Labels,
        meta: &storage::Metadata,
    ) -> std::result::Result<u64, storage::Error> {
        let head = &self.head;
        // Whether the metadata differs from the series', and whether the series is logged.
        let state = |r: u64| {
            let shard = head.shard(r).read();
            let s = shard.series.get(&r)?;
            Some((shard.meta.get(&r) != Some(meta), s.flags & LOGGED != 0))
        };
        let known = if r != 0 { state(r) } else { None };
        let (r, (changed, logged)) = match known {
            Some(st) => (r, st),
            None => {
                let r = head.lookup(labels).ok_or_else(|| {
                    storage::Error::backend(Error::InvalidArgument(format!(
                        "unknown series when trying to add metadata with HeadSeriesRef: {r} and labels: {labels}"
                    )))
                })?;
                match state(r) {
                    Some(st) => (r, st),
                    None => return Ok(r),
                }
            }
        };
        if !changed {
            return Ok(r);
        }
        // The series record must be in the WAL before the metadata record refers to it;
        // usually the series' sample was just appended and put it last in `unlogged`.
        if !logged && self.unlogged.last() != Some(&r) && !self.unlogged.contains(&r) {
            self.unlogged.push(r);
        }
        self.metadata.push((r, meta.clone()));
        Ok(r)
    }

    /// Writes the batch to the WAL, then makes it visible. See the type's documentation for
    /// what is durable when this returns.
    ///
    /// # Errors
    /// When the WAL write fails (nothing is applied), or when writing a full chunk to
    /// `chunks_head/` fails (the samples are in the WAL and come back at the next open).
    pub fn commit(mut self) -> Result<()> {
        let samples = std::mem::take(&mut self.samples);
        let histograms = std::mem::take(&mut self.histograms);
        let result = self.commit_samples(&samples, &histograms);
        let pending = std::mem::take(&mut self.refs_pending);
        // When `grouped`, a successful WAL write let commit_samples clear every flag already.
        if !(self.grouped && self.wal_written) {
            self.head.set_pending(&pending, false);
        }
        // Even after a failed commit, as Go's `dbAppender.Commit`: part of it may be in.
        if let Some(waker) = &*self.head.compaction_waker.lock()
            && self.head.compactable()
        {
            waker.wake();
        }
        result
    }

    fn commit_samples(
        &mut self,
        samples: &[RefSample],
        histograms: &[(u64, i64, HistSample)],
    ) -> Result<()> {
        if samples.is_empty()
            && self.exemplars.is_empty()
            && histograms.is_empty()
            && self.metadata.is_empty()
        {
            return Ok(());
        }
        // The sub-batches as (samples, histograms) slices, in append order.
        let mut batches = Vec::with_capacity(self.batch_ends.len() + 1);
        let (mut s0, mut h0) = (0, 0);
        for &(s1, h1) in self
            .batch_ends
            .iter()
            .chain([&(samples.len(), histograms.len())])
        {
            batches.push((&samples[s0..s1], &histograms[h0..h1]));
            (s0, h0) = (s1, h1);
        }
        let mut recs = Vec::new();
        if !self.metadata.is_empty() {
            recs.push(encode_metadata_record(&self.metadata));
        }
        for (fs, hs) in &batches {
            if !fs.is_empty() {
                let mut buf = Vec::with_capacity(17 + fs.len() * 12);
                record::encode_samples(fs, &mut buf);
                recs.push(buf);
            }
            recs.extend(encode_histogram_records(hs));
        }
        self.head
            .log_batch(&recs, &self.exemplars, &self.unlogged)?;
        self.wal_written = true;
        self.commit_exemplars();
        let _ = self.head.set_metadata(std::mem::take(&mut self.metadata));
        let head = &self.head;
        let clear = if self.grouped { PENDING } else { 0 };
        let mut st = ApplyState {
            mint: i64::MAX,
            maxt: i64::MIN,
            first_err: None,
            ooo: Vec::new(),
            ooo_histograms: Vec::new(),
            appended: [0; 2],
            refused: [0; 2],
        };
        for (fs, hs) in batches {
            self.apply_floats(fs, clear, &mut st);
            self.apply_histograms(hs, &mut st);
        }
        self.apply_sts(&self.sts);
        let ApplyState {
            mint,
            maxt,
            mut first_err,
            ooo,
            ooo_histograms,
            appended,
            refused,
        } = st;
        head.update_min_max(mint, maxt);
        head.count_commit(appended, refused, [ooo.len(), ooo_histograms.len()]);
        if !(ooo.is_empty() && ooo_histograms.is_empty())
            && let Some(w) = head.wbl.lock().as_mut()
        {
            let mut recs = Vec::new();
            if !ooo.is_empty() {
                let mut buf = Vec::with_capacity(17 + ooo.len() * 12);
                record::encode_samples(&ooo, &mut buf);
                recs.push(buf);
            }
            recs.extend(encode_histogram_records(&ooo_histograms));
            let recs: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
            if let Err(e) = w.log(&recs) {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Applies float samples to their series, clearing `clear` from each series' flags
    /// after its samples, shard by shard (see [`Head::for_runs_by_shard`]); the
    /// out-of-order samples for the WBL and the first error are those of append order.
    fn apply_floats(&self, samples: &[RefSample], clear: u8, st: &mut ApplyState) {
        let head = &self.head;
        let mut ooo: Vec<(usize, RefSample)> = Vec::new();
        let mut first_err: Option<(usize, Error)> = None;
        head.for_runs_by_shard(
            samples.len(),
            |i| samples[i].series_ref,
            |shard, run| {
                let r = samples[run.start].series_ref;
                let Some(ms) = shard.series.get_mut(&r) else {
                    return;
                };
                for i in run {
                    let s = &samples[i];
                    match ms.appendable(s.t, s.v, &self.bounds, &head.mapper) {
                        Ok(false) => match ms.append(r, s.t, s.v, head) {
                            Ok(Appended::InOrder) => {
                                st.mint = st.mint.min(s.t);
                                st.maxt = st.maxt.max(s.t);
                                st.appended[FLOAT] += 1;
                            }
                            // A duplicate of the newest sample, or one another appender
                            // overtook: Go counts both as out of order at commit.
                            Ok(Appended::NotInOrder) => st.refused[FLOAT] += 1,
                            Err(e) => keep_first_err(&mut first_err, i, e),
                        },
                        Ok(true) => {
                            if ms.insert_ooo(s.t, s.v) {
                                ooo.push((i, *s));
                            }
                            st.mint = st.mint.min(s.t);
                        }
                        // Another appender committed a conflicting sample first: dropped, as
                        // Prometheus does at commit time.
                        Err(_) => st.refused[FLOAT] += 1,
                    }
                }
                ms.flags &= !clear;
            },
        );
        ooo.sort_unstable_by_key(|x| x.0);
        st.ooo.extend(ooo.into_iter().map(|x| x.1));
        if let Some((_, e)) = first_err {
            st.first_err.get_or_insert(e);
        }
    }

    /// Applies native histogram samples to their series, shard by shard as
    /// [`HeadAppender::apply_floats`].
    fn apply_histograms(&self, histograms: &[(u64, i64, HistSample)], st: &mut ApplyState) {
        let head = &self.head;
        let mut ooo: Vec<usize> = Vec::new();
        let mut first_err: Option<(usize, Error)> = None;
        head.for_runs_by_shard(
            histograms.len(),
            |i| histograms[i].0,
            |shard, run| {
                let r = histograms[run.start].0;
                let Some(ms) = shard.series.get_mut(&r) else {
                    return;
                };
                for i in run {
                    let (_, t, ref h) = histograms[i];
                    let in_order =
                        t >= self.bounds.min_valid_time && ms.max_time().is_none_or(|m| t >= m);
                    if !in_order {
                        // Checked again: another appender may have committed newer samples
                        // since.
                        if ooo_verdict(t, &self.bounds).is_err() {
                            st.refused[HISTOGRAM] += 1;
                        } else if ms.insert_ooo_histogram(t, h) {
                            ooo.push(i);
                            st.mint = st.mint.min(t);
                        }
                        continue;
                    }
                    match ms.append_histogram(r, t, h, head) {
                        Ok(Appended::InOrder) => {
                            st.mint = st.mint.min(t);
                            st.maxt = st.maxt.max(t);
                            st.appended[HISTOGRAM] += 1;
                        }
                        Ok(Appended::NotInOrder) => st.refused[HISTOGRAM] += 1,
                        Err(e) => keep_first_err(&mut first_err, i, e),
                    }
                }
            },
        );
        ooo.sort_unstable();
        st.ooo_histograms
            .extend(ooo.into_iter().map(|i| histograms[i].clone()));
        if let Some((_, e)) = first_err {
            st.first_err.get_or_insert(e);
        }
    }

    /// Records the start timestamps of the batch's samples with their series (in memory
    /// only: see [`SeriesShard::sts`]).
    fn apply_sts(&self, sts: &[(u64, i64, i64)]) {
        for &(r, t, st) in sts {
            let mut shard = self.head.shard(r).write();
            if !shard.series.contains_key(&r) {
                continue;
            }
            let v = shard.sts.entry(r).or_default();
            match v.last() {
                Some(&(last, _)) if last >= t => match v.binary_search_by_key(&t, |e| e.0) {
                    Ok(i) => v[i].1 = st,
                    Err(i) => v.insert(i, (t, st)),
                },
                _ => v.push((t, st)),
            }
        }
    }

    /// Adds a sample with its start timestamp `st` (0: unknown), as
    /// [`HeadAppender::append`]. The start timestamp is kept in memory only: a restart
    /// (WAL replay), the head chunks on disk and compacted blocks lose it.
    ///
    /// # Errors
    /// As [`HeadAppender::append`].
    pub fn append_with_st(
        &mut self,
        r: u64,
        labels: &Labels,
        st: i64,
        t: i64,
        v: f64,
    ) -> std::result::Result<u64, storage::Error> {
        let r = self.append(r, labels, t, v)?;
        if st != 0 {
            self.sts.push((r, t, st));
        }
        Ok(r)
    }

    /// [`HeadAppender::append_histogram`] with the sample's start timestamp, kept as
    /// [`HeadAppender::append_with_st`] keeps it.
    ///
    /// # Errors
    /// As [`HeadAppender::append_histogram`].
    pub fn append_histogram_with_st(
        &mut self,
        r: u64,
        labels: &Labels,
        st: i64,
        t: i64,
        h: Option<&Histogram>,
        fh: Option<&FloatHistogram>,
    ) -> std::result::Result<u64, storage::Error> {
        let r = self.append_histogram(r, labels, t, h, fh)?;
        if st != 0 {
            self.sts.push((r, t, st));
        }
        Ok(r)
    }

    /// Whether a created-timestamp zero sample at `ct` would land before the newest sample
    /// of its series (Go's `AppendCTZeroSample` refuses those even with an out-of-order
    /// window: a zero in the middle of a counter's history would be a false reset).
    fn ct_out_of_order(&self, r: u64, labels: &Labels, ct: i64) -> bool {
        let head = &self.head;
        // The series' newest time, if the series exists.
        let newest = |r: u64| head.shard(r).read().series.get(&r).map(MemSeries::max_time);
        let known = if r != 0 { newest(r) } else { None };
        known
            .or_else(|| head.lookup(labels).and_then(newest))
            .flatten()
            .is_some_and(|m| ct < m)
    }

    /// Adds a zero sample at the created timestamp `ct` of the sample at `t` that follows
    /// (Go's `headAppender.AppendCTZeroSample`, for `created-timestamp-zero-ingestion`).
    ///
    /// # Errors
    /// [`storage::Error::CtNewerThanSample`] when `ct >= t`, [`storage::Error::OutOfOrderCt`]
    /// when the series has a newer sample, otherwise as [`HeadAppender::append`].
    pub fn append_ct_zero_sample(
        &mut self,
        r: u64,
        labels: &Labels,
        t: i64,
        ct: i64,
    ) -> std::result::Result<u64, storage::Error> {
        if ct >= t {
            return Err(storage::Error::CtNewerThanSample);
        }
        if self.ct_out_of_order(r, labels, ct) {
            return Err(storage::Error::OutOfOrderCt);
        }
        match self.append(r, labels, ct, 0.0) {
            Err(storage::Error::OutOfOrderSample) => Err(storage::Error::OutOfOrderCt),
            other => other,
        }
    }

    /// [`HeadAppender::append_ct_zero_sample`] for a native histogram: an empty histogram
    /// (a counter reset) with the schema, zero threshold and custom bounds of `h` or `fh`.
    ///
    /// # Errors
    /// As [`HeadAppender::append_ct_zero_sample`] and [`HeadAppender::append_histogram`].
    pub fn append_histogram_ct_zero_sample(
        &mut self,
        r: u64,
        labels: &Labels,
        t: i64,
        ct: i64,
        h: Option<&Histogram>,
        fh: Option<&FloatHistogram>,
    ) -> std::result::Result<u64, storage::Error> {
        if ct >= t {
            return Err(storage::Error::CtNewerThanSample);
        }
        if self.ct_out_of_order(r, labels, ct) {
            return Err(storage::Error::OutOfOrderCt);
        }
        let res = match (h, fh) {
            (Some(h), _) => {
                let zero = Histogram {
                    counter_reset_hint: model::CounterResetHint::CounterReset,
                    schema: h.schema,
                    zero_threshold: h.zero_threshold,
                    custom_values: h.custom_values.clone(),
                    ..Histogram::default()
                };
                self.append_histogram(r, labels, ct, Some(&zero), None)
            }
            (None, Some(fh)) => {
                let zero = FloatHistogram {
                    counter_reset_hint: model::CounterResetHint::CounterReset,
                    schema: fh.schema,
                    zero_threshold: fh.zero_threshold,
                    custom_values: fh.custom_values.clone(),
                    ..FloatHistogram::default()
                };
                self.append_histogram(r, labels, ct, None, Some(&zero))
            }
            (None, None) => return Ok(r),
        };
        match res {
            Err(storage::Error::OutOfOrderSample) => Err(storage::Error::OutOfOrderCt),
            other => other,
        }
    }

    /// Adds the batch's exemplars to the exemplar storage. Rejections (an exemplar that
    /// became out of order since it was appended) only count in the storage's metrics, as
    /// in Prometheus.
    fn commit_exemplars(&mut self) {
        let head = &self.head;
        for (r, e) in std::mem::take(&mut self.exemplars) {
            let series = match head.shard(r).read().series.get(&r) {
                Some(s) => s.labels.clone(),
                None => continue,
            };
            let _ = head.exemplars.add(&series, e);
        }
    }

    /// Adds a native histogram sample (`h` with integer counts or `fh` with float counts;
    /// exactly one must be given). A series may switch between float and histogram samples:
    /// each switch cuts a new chunk. With an out-of-order window, an older histogram within
    /// the window goes to the series' out-of-order buffer (and the WBL), as a float does.
    ///
    /// # Errors
    /// [`storage::Error::InvalidHistogram`] when the histogram fails validation,
    /// [`storage::Error::OutOfBounds`], [`storage::Error::OutOfOrderSample`] (no window),
    /// [`storage::Error::TooOldSample`] (older than the window),
    /// [`storage::Error::DuplicateSampleForTimestamp`], [`storage::Error::InvalidLabels`],
    /// or a backend error when neither or both histograms are given.
    pub fn append_histogram(
        &mut self,
        r: u64,
        labels: &Labels,
        t: i64,
        h: Option<&Histogram>,
        fh: Option<&FloatHistogram>,
    ) -> std::result::Result<u64, storage::Error> {
        let sample = match (h, fh) {
            (Some(h), None) => {
                h.validate().map_err(invalid_histogram)?;
                HistSample::Int(h.clone())
            }
            (None, Some(fh)) => {
                fh.validate().map_err(invalid_histogram)?;
                HistSample::Float(fh.clone())
            }
            _ => {
                return Err(storage::Error::backend(Error::InvalidArgument(
                    "append_histogram needs exactly one of an integer and a float histogram".into(),
                )));
            }
        };
        let head = &self.head;
        if self.bounds.ooo_window == 0 && t < self.bounds.min_valid_time {
            head.metrics
                .count_refused(&storage::Error::OutOfBounds, true);
            return Err(storage::Error::OutOfBounds);
        }
        if head.closed.load(Ordering::Acquire) {
            return Err(storage::Error::backend(Error::InvalidArgument(
                "the head is closed".into(),
            )));
        }
        let batch = &self.histograms;
        let batch_newest = &self.histograms_newest;
        let bounds = &self.bounds;
        let mut newly_pending = None;
        let mut unlogged = None;
        let mut check = |r: u64, s: &mut MemSeries| -> std::result::Result<(), storage::Error> {
            // The newest time of the series among this batch's pending samples too.
            let pending = batch_newest.get(&r).copied();
            let newest = s.max_time().max(pending.map(|p| p.0));
            if t < bounds.min_valid_time || newest.is_some_and(|m| t < m) {
                // For the out-of-order buffer, or refused.
                ooo_verdict(t, bounds).map_err(|e| refused(e, &head.metrics, true))?;
            } else if newest == Some(t) {
                // The same histogram again is accepted (and ignored at commit); another one
                // at the same time is a duplicate, as in Prometheus.
                let same = match pending {
                    Some((pt, i)) if pt == t => same_histogram(&batch[i].2, &sample),
                    _ => s
                        .last_histogram(t)
                        .is_some_and(|l| same_histogram(&l, &sample)),
                };
                if !same {
                    return Err(storage::Error::DuplicateSampleForTimestamp);
                }
            }
            if s.flags & PENDING == 0 {
                s.flags |= PENDING;
                newly_pending = Some(r);
            }
            if s.flags & LOGGED == 0 {
                unlogged = Some(r);
            }
            Ok(())
        };
        let mut found = None;
        let mut created = false;
        if r != 0 {
            let mut shard = head.shard(r).write();
            if let Some(s) = shard.series.get_mut(&r) {
                found = Some((r, check(r, s)));
            }
        }
        let (r, res) = match found {
            Some(x) => x,
            None if labels.is_empty() => {
                return Err(storage::Error::InvalidLabels {
                    labels: labels.to_string(),
                    reason: "empty label set",
                });
            }
            // Labels of an existing series have no empty value (see `append`).
            None => match head.with_existing_series(labels, &mut check) {
                Ok(x) => x,
                Err(_) => {
                    if labels.iter().all(|(_, v)| v.is_empty()) {
                        return Err(storage::Error::InvalidLabels {
                            labels: labels.to_string(),
                            reason: "empty label set",
                        });
                    }
                    let (r, new, res) = if labels.iter().any(|(_, v)| v.is_empty()) {
                        let clean =
                            Labels::from_pairs(labels.iter().filter(|(_, v)| !v.is_empty()));
                        head.with_series(&clean, None, check)
                    } else {
                        head.with_series(labels, None, check)
                    };
                    created = new;
                    (r, res)
                }
            },
        };
        res?;
        if let Some(p) = newly_pending {
            self.refs_pending.push(p);
            self.grouped = false;
        }
        // A series created just now cannot be in `unlogged` yet.
        if let Some(u) = unlogged
            && (created || !self.unlogged.contains(&u))
        {
            self.unlogged.push(u);
        }
        self.note_type(r, true);
        let newest = self
            .histograms_newest
            .entry(r)
            .or_insert((t, self.histograms.len()));
        if t >= newest.0 {
            *newest = (t, self.histograms.len());
        }
        self.histograms.push((r, t, sample));
        Ok(r)
    }

    /// Discards the batch.
    pub fn rollback(mut self) {
        self.sts.clear();
        self.metadata.clear();
        self.histograms.clear();
        self.samples.clear();
        self.exemplars.clear();
        let pending = std::mem::take(&mut self.refs_pending);
        self.head.set_pending(&pending, false);
    }
}

impl Drop for HeadAppender {
    fn drop(&mut self) {
        self.head.metrics.active_appenders.dec();
        if !self.refs_pending.is_empty() {
            let pending = std::mem::take(&mut self.refs_pending);
            self.head.set_pending(&pending, false);
        }
    }
}

impl storage::Appender for HeadAppender {
    fn append(
        &mut self,
        r: storage::SeriesRef,
        labels: &Labels,
        t: model::Timestamp,
        v: f64,
    ) -> storage::Result<storage::SeriesRef> {
        HeadAppender::append(self, r, labels, t, v)
    }

    fn append_exemplar(
        &mut self,
        r: storage::SeriesRef,
        labels: &Labels,
        exemplar: &storage::Exemplar,
    ) -> storage::Result<storage::SeriesRef> {
        HeadAppender::append_exemplar(self, r, labels, exemplar)
    }

    fn update_metadata(
        &mut self,
        r: storage::SeriesRef,
        labels: &Labels,
        meta: &storage::Metadata,
    ) -> storage::Result<storage::SeriesRef> {
        HeadAppender::update_metadata(self, r, labels, meta)
    }

    fn append_histogram(
        &mut self,
        r: storage::SeriesRef,
        labels: &Labels,
        t: model::Timestamp,
        h: Option<&Histogram>,
        fh: Option<&FloatHistogram>,
    ) -> storage::Result<storage::SeriesRef> {
        HeadAppender::append_histogram(self, r, labels, t, h, fh)
    }

    fn append_with_st(
        &mut self,
        r: storage::SeriesRef,
        labels: &Labels,
        st: model::Timestamp,
        t: model::Timestamp,
        v: f64,
    ) -> storage::Result<storage::SeriesRef> {
        HeadAppender::append_with_st(self, r, labels, st, t, v)
    }

    fn append_histogram_with_st(
        &mut self,
        r: storage::SeriesRef,
        labels: &Labels,
        st: model::Timestamp,
        t: model::Timestamp,
        h: Option<&Histogram>,
        fh: Option<&FloatHistogram>,
    ) -> storage::Result<storage::SeriesRef> {
        HeadAppender::append_histogram_with_st(self, r, labels, st, t, h, fh)
    }

    fn append_ct_zero_sample(
        &mut self,
        r: storage::SeriesRef,
        labels: &Labels,
        t: model::Timestamp,
        ct: model::Timestamp,
    ) -> storage::Result<storage::SeriesRef> {
        HeadAppender::append_ct_zero_sample(self, r, labels, t, ct)
    }

    fn append_histogram_ct_zero_sample(
        &mut self,
        r: storage::SeriesRef,
        labels: &Labels,
        t: model::Timestamp,
        ct: model::Timestamp,
        h: Option<&Histogram>,
        fh: Option<&FloatHistogram>,
    ) -> storage::Result<storage::SeriesRef> {
        HeadAppender::append_histogram_ct_zero_sample(self, r, labels, t, ct, h, fh)
    }

    fn commit(self: Box<Self>) -> storage::Result<()> {
        HeadAppender::commit(*self).map_err(storage::Error::backend)
    }

    fn rollback(self: Box<Self>) -> storage::Result<()> {
        HeadAppender::rollback(*self);
        Ok(())
    }
}

#[cfg(test)]
mod exemplar_tests;
#[cfg(test)]
mod metadata_tests;
#[cfg(test)]
mod tests;

/// The WAL metadata record (type 6) of `(series, metadata)` pairs.
fn encode_metadata_record(metadata: &[(u64, storage::Metadata)]) -> Vec<u8> {
    let recs: Vec<record::RefMetadata> = metadata
        .iter()
        .map(|(r, m)| record::RefMetadata {
            series_ref: *r,
            typ: m.metric_type.wal_code(),
            unit: m.unit.clone(),
            help: m.help.clone(),
        })
        .collect();
    let mut buf = Vec::new();
    record::encode_metadata(&recs, &mut buf);
    buf
}
