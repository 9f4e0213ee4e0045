//! The native histogram chunk (encoding 2), integer counts: appender with Prometheus's
//! counter-reset and recoding rules, and iterator (Go's `chunkenc/histogram.go`).
//!
//! The first sample writes the bucket layout, then the timestamp (varbit), count and zero
//! count (unsigned varbit), the sum (64 raw bits) and every bucket delta (varbit). Later
//! samples store delta-of-deltas of the timestamp, counts and buckets, and the sum XORed
//! against the previous one.

use model::histogram::CUSTOM_BUCKETS_SCHEMA;
use model::value::is_stale_nan;
use model::{CounterResetHint, FloatHistogram, Histogram};

use super::bstream::{BitReader, BitWriter};
use super::histogram_meta::{
    CounterResetHeader, HISTOGRAM_FLAG_POS, HISTOGRAM_HEADER_SIZE, HistogramChunkOps, Insert,
    Layout, absolute, append_histogram, count_spans, counter_reset_hint, expand_spans_and_buckets,
    read_layout, set_header, write_layout,
};
use super::varbit::{
    put_varbit_int, put_varbit_uint, read_varbit_int, read_varbit_uint, xor_read, xor_write,
};
use crate::error::{Error, Result};

/// What appending a histogram to a chunk did.
#[derive(Debug)]
pub enum HistogramAppend<C> {
    /// The sample went into the chunk as it was.
    Appended,
    /// The chunk was rewritten with a larger bucket layout, then the sample appended.
    Recoded,
    /// The sample could not go into this chunk (counter reset, schema or zero-threshold
    /// change, stale sample after a stale one, ...): it starts the returned chunk, which
    /// replaces this one as the series' open chunk.
    NewChunk(C),
}

#[derive(Debug, Clone, Default)]
struct AppendState {
    layout: Layout,
    t: i64,
    cnt: u64,
    z_cnt: u64,
    t_delta: i64,
    cnt_delta: i64,
    z_cnt_delta: i64,
    p_buckets: Vec<i64>,
    n_buckets: Vec<i64>,
    p_deltas: Vec<i64>,
    n_deltas: Vec<i64>,
    sum: f64,
    leading: u8,
    trailing: u8,
}

/// A chunk of integer native histograms in Prometheus's encoding (2).
#[derive(Debug, Clone)]
pub struct HistogramChunk {
    w: BitWriter,
    /// Boxed: a float series' open chunk shares the head's chunk type, and this state is
    /// large.
    app: Option<Box<AppendState>>,
}

impl Default for HistogramChunk {
    fn default() -> Self {
        HistogramChunk::new()
    }
}

impl PartialEq for HistogramChunk {
    fn eq(&self, other: &Self) -> bool {
        self.w.stream == other.w.stream
    }
}

impl HistogramChunk {
    /// An empty chunk.
    pub fn new() -> HistogramChunk {
        HistogramChunk {
            w: BitWriter::with_bytes(vec![0; HISTOGRAM_HEADER_SIZE], 0),
            app: Some(Box::new(AppendState {
                t: i64::MIN,
                leading: 0xff,
                ..AppendState::default()
            })),
        }
    }

    /// A chunk over stored bytes (after the encoding byte). Fails when the header is
    /// missing; samples are checked as they are read.
    pub fn from_bytes(data: Vec<u8>) -> Result<HistogramChunk> {
        if data.len() < HISTOGRAM_HEADER_SIZE {
            return Err(Error::CorruptChunk(format!(
                "histogram chunk of {} bytes has no header",
                data.len()
            )));
        }
        Ok(HistogramChunk {
            w: BitWriter::with_bytes(data, 0),
            app: None,
        })
    }

    /// The bytes Prometheus stores for this chunk.
    pub fn bytes(&self) -> &[u8] {
        &self.w.stream
    }

    /// The number of histograms in the chunk.
    pub fn num_samples(&self) -> usize {
        usize::from(u16::from_be_bytes([self.w.stream[0], self.w.stream[1]]))
    }

    /// Why the chunk was started.
    pub fn counter_reset_header(&self) -> CounterResetHeader {
        CounterResetHeader::from_flags(self.w.stream[HISTOGRAM_FLAG_POS])
    }

    /// Sets the header bits.
    pub fn set_counter_reset_header(&mut self, h: CounterResetHeader) {
        set_header(&mut self.w.stream, h);
    }

    /// An iterator over the chunk's histograms.
    pub fn iter(&self) -> HistogramIterator<&[u8]> {
        HistogramIterator::new(self.bytes())
    }

    fn state(&mut self) -> Result<&mut AppendState> {
        if self.app.is_none() {
            let mut it = HistogramIterator::new(self.w.stream.as_slice());
            while it.next() {}
            if let Some(e) = it.err.take() {
                return Err(e);
            }
            // Appending continues right after the last sample's bits.
            let bits = it.br.bits_read();
            self.app = Some(Box::new(AppendState {
                layout: it.layout,
                t: it.t,
                cnt: it.cnt,
                z_cnt: it.z_cnt,
                t_delta: it.t_delta,
                cnt_delta: it.cnt_delta,
                z_cnt_delta: it.z_cnt_delta,
                p_buckets: it.p_buckets,
                n_buckets: it.n_buckets,
                p_deltas: it.p_deltas,
                n_deltas: it.n_deltas,
                sum: it.sum,
                leading: it.leading,
                trailing: it.trailing,
            }));
            let len = bits.div_ceil(8);
            self.w.truncate(len, (len * 8 - bits) as u8);
        }
        Ok(self.app.as_mut().expect("append state was just built"))
    }

    /// The header a new chunk starting with `h` gets when it continues this one (Go's
    /// `appendable` hint: a reset, no reset, or unknown after a layout change).
    pub fn header_for_next(&mut self, h: &Histogram) -> Result<CounterResetHeader> {
        Ok(self.appendable(h)?.1)
    }

    /// Go's `appendable`: the forward/backward inserts when `h` fits, and the counter-reset
    /// verdict.
    #[allow(clippy::type_complexity)]
    fn appendable(
        &mut self,
        h: &Histogram,
    ) -> Result<(Option<[Vec<Insert>; 4]>, CounterResetHeader)> {
        use CounterResetHeader as C;
        if self.num_samples() > 0 && self.counter_reset_header() == C::Gauge {
            return Ok((None, C::NotCounterReset));
        }
        if h.counter_reset_hint == CounterResetHint::CounterReset {
            return Ok((None, C::CounterReset));
        }
        if is_stale_nan(h.sum) {
            return Ok((Some(Default::default()), C::NotCounterReset));
        }
        let a = self.state()?;
        if is_stale_nan(a.sum) {
            return Ok((None, C::Unknown));
        }
        if h.count < a.cnt {
            return Ok((None, C::CounterReset));
        }
        if h.schema != a.layout.schema || h.zero_threshold != a.layout.zero_threshold {
            return Ok((None, C::Unknown));
        }
        if h.schema == CUSTOM_BUCKETS_SCHEMA && h.custom_values != a.layout.custom_values {
            return Ok((None, C::CounterReset));
        }
        if h.zero_count < a.z_cnt {
            return Ok((None, C::CounterReset));
        }
        let (pa, na) = (absolute(&a.p_buckets), absolute(&a.n_buckets));
        let Some((pf, pb)) = expand_spans_and_buckets(
            &a.layout.positive_spans,
            &h.positive_spans,
            &pa,
            &h.positive_buckets,
            true,
        ) else {
            return Ok((None, C::CounterReset));
        };
        let Some((nf, nb)) = expand_spans_and_buckets(
            &a.layout.negative_spans,
            &h.negative_spans,
            &na,
            &h.negative_buckets,
            true,
        ) else {
            return Ok((None, C::CounterReset));
        };
        Ok((Some([pf, nf, pb, nb]), C::NotCounterReset))
    }

    /// Appends a histogram at `t` (after the chunk's last sample; the head checks order),
    /// following Prometheus's rules: a gauge histogram goes to a gauge chunk, a counter
    /// histogram starts a new chunk on a counter reset or a schema, zero-threshold or
    /// custom-bounds change, and new buckets recode the chunk to the larger layout. `prev`
    /// is the series' previous chunk when this one is empty and continues it (its header
    /// then says whether `h` is a reset).
    ///
    /// # Errors
    /// When a chunk read from disk turns out corrupt.
    pub fn append(
        &mut self,
        prev: Option<&mut HistogramChunk>,
        t: i64,
        h: &Histogram,
    ) -> Result<HistogramAppend<HistogramChunk>> {
        append_histogram(self, prev, t, h)
    }

    /// Calls `f` with every sample of the chunk, in order.
    fn for_each_sample(&self, mut f: impl FnMut(i64, Histogram) -> Result<()>) -> Result<()> {
        let mut it = HistogramIterator::new(self.w.stream.as_slice());
        while it.next() {
            let (t, h) = it.at_histogram();
            f(t, h)?;
        }
        match it.err.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Go's `appendHistogram`: writes the sample, no checks.
    fn append_raw(&mut self, t: i64, h: &Histogram) -> Result<()> {
        let num = self.num_samples();
        if num >= usize::from(u16::MAX) {
            return Err(Error::CorruptChunk(
                "histogram chunk is full (65535 samples)".into(),
            ));
        }
        let stale_h;
        let h = if is_stale_nan(h.sum) {
            stale_h = Histogram {
                sum: h.sum,
                ..Histogram::default()
            };
            &stale_h
        } else {
            h
        };
        self.state()?;
        let a = self.app.as_mut().expect("append state exists");
        let w = &mut self.w;
        let (mut t_delta, mut cnt_delta, mut z_cnt_delta) = (0, 0, 0);
        if num == 0 {
            a.layout = Layout {
                schema: h.schema,
                zero_threshold: h.zero_threshold,
                positive_spans: h.positive_spans.clone(),
                negative_spans: h.negative_spans.clone(),
                custom_values: h.custom_values.clone(),
            };
            write_layout(w, &a.layout);
            let (np, nn) = (
                count_spans(&h.positive_spans),
                count_spans(&h.negative_spans),
            );
            a.p_buckets = vec![0; np];
            a.p_deltas = vec![0; np];
            a.n_buckets = vec![0; nn];
            a.n_deltas = vec![0; nn];
            put_varbit_int(w, t);
            put_varbit_uint(w, h.count);
            put_varbit_uint(w, h.zero_count);
            w.write_bits(h.sum.to_bits(), 64);
            for &b in h.positive_buckets.iter().chain(&h.negative_buckets) {
                put_varbit_int(w, b);
            }
        } else {
            t_delta = t.wrapping_sub(a.t);
            cnt_delta = (h.count as i64).wrapping_sub(a.cnt as i64);
            z_cnt_delta = (h.zero_count as i64).wrapping_sub(a.z_cnt as i64);
            let t_dod = t_delta.wrapping_sub(a.t_delta);
            let (mut cnt_dod, mut z_cnt_dod) = (
                cnt_delta.wrapping_sub(a.cnt_delta),
                z_cnt_delta.wrapping_sub(a.z_cnt_delta),
            );
            if is_stale_nan(h.sum) {
                cnt_dod = 0;
                z_cnt_dod = 0;
            }
            put_varbit_int(w, t_dod);
            put_varbit_int(w, cnt_dod);
            put_varbit_int(w, z_cnt_dod);
            xor_write(w, h.sum, a.sum, &mut a.leading, &mut a.trailing);
            for (i, &b) in h.positive_buckets.iter().enumerate() {
                let (Some(prev), Some(pd)) = (a.p_buckets.get(i), a.p_deltas.get_mut(i)) else {
                    break;
                };
                let delta = b.wrapping_sub(*prev);
                put_varbit_int(w, delta.wrapping_sub(*pd));
                *pd = delta;
            }
            for (i, &b) in h.negative_buckets.iter().enumerate() {
                let (Some(prev), Some(nd)) = (a.n_buckets.get(i), a.n_deltas.get_mut(i)) else {
                    break;
                };
                let delta = b.wrapping_sub(*prev);
                put_varbit_int(w, delta.wrapping_sub(*nd));
                *nd = delta;
            }
        }
        let n = (num as u16 + 1).to_be_bytes();
        w.stream[0] = n[0];
        w.stream[1] = n[1];
        a.t = t;
        a.cnt = h.count;
        a.z_cnt = h.zero_count;
        a.t_delta = t_delta;
        a.cnt_delta = cnt_delta;
        a.z_cnt_delta = z_cnt_delta;
        for (dst, src) in a.p_buckets.iter_mut().zip(&h.positive_buckets) {
            *dst = *src;
        }
        for (dst, src) in a.n_buckets.iter_mut().zip(&h.negative_buckets) {
            *dst = *src;
        }
        a.sum = h.sum;
        Ok(())
    }
}

impl HistogramChunkOps for HistogramChunk {
    type H = Histogram;
    fn empty() -> Self {
        HistogramChunk::new()
    }
    fn samples(&self) -> usize {
        self.num_samples()
    }
    fn header(&self) -> CounterResetHeader {
        self.counter_reset_header()
    }
    fn set_header(&mut self, h: CounterResetHeader) {
        self.set_counter_reset_header(h);
    }
    fn header_for_next(&mut self, h: &Histogram) -> Result<CounterResetHeader> {
        HistogramChunk::header_for_next(self, h)
    }
    fn appendable(
        &mut self,
        h: &Histogram,
    ) -> Result<(Option<[Vec<Insert>; 4]>, CounterResetHeader)> {
        HistogramChunk::appendable(self, h)
    }
    fn layout(&mut self) -> Result<(&Layout, bool)> {
        let a = self.state()?;
        Ok((&a.layout, is_stale_nan(a.sum)))
    }
    fn for_each_sample(&self, f: impl FnMut(i64, Histogram) -> Result<()>) -> Result<()> {
        HistogramChunk::for_each_sample(self, f)
    }
    fn append_raw(&mut self, t: i64, h: &Histogram) -> Result<()> {
        HistogramChunk::append_raw(self, t, h)
    }
}

/// Iterates over the histograms of a chunk's bytes.
#[derive(Debug)]
pub struct HistogramIterator<B> {
    data: B,
    br: BitReader,
    num_total: u16,
    num_read: u16,
    header: CounterResetHeader,
    layout: Layout,
    t: i64,
    cnt: u64,
    z_cnt: u64,
    t_delta: i64,
    cnt_delta: i64,
    z_cnt_delta: i64,
    p_buckets: Vec<i64>,
    n_buckets: Vec<i64>,
    p_deltas: Vec<i64>,
    n_deltas: Vec<i64>,
    sum: f64,
    leading: u8,
    trailing: u8,
    err: Option<Error>,
}

impl<B: AsRef<[u8]>> HistogramIterator<B> {
    /// An iterator over stored chunk bytes.
    pub fn new(data: B) -> HistogramIterator<B> {
        let d = data.as_ref();
        let (num_total, header, err) = if d.len() < HISTOGRAM_HEADER_SIZE {
            (
                0,
                CounterResetHeader::Unknown,
                Some(Error::CorruptChunk("histogram chunk has no header".into())),
            )
        } else {
            (
                u16::from_be_bytes([d[0], d[1]]),
                CounterResetHeader::from_flags(d[HISTOGRAM_FLAG_POS]),
                None,
            )
        };
        let mut br = BitReader::new();
        if err.is_none() {
            br.read_bits(d, 24);
        }
        HistogramIterator {
            data,
            br,
            num_total,
            num_read: 0,
            header,
            layout: Layout::default(),
            t: i64::MIN,
            cnt: 0,
            z_cnt: 0,
            t_delta: 0,
            cnt_delta: 0,
            z_cnt_delta: 0,
            p_buckets: Vec::new(),
            n_buckets: Vec::new(),
            p_deltas: Vec::new(),
            n_deltas: Vec::new(),
            sum: 0.0,
            leading: 0,
            trailing: 0,
            err,
        }
    }

    /// The chunk's counter-reset header.
    pub fn counter_reset_header(&self) -> CounterResetHeader {
        self.header
    }

    /// The number of histograms in the chunk.
    pub fn num_samples(&self) -> usize {
        usize::from(self.num_total)
    }

    /// The current sample's time.
    pub fn at_t(&self) -> i64 {
        self.t
    }

    /// The current sample (a stale marker comes back as a histogram holding only the
    /// stale NaN sum).
    pub fn at_histogram(&self) -> (i64, Histogram) {
        if is_stale_nan(self.sum) {
            return (
                self.t,
                Histogram {
                    sum: self.sum,
                    ..Histogram::default()
                },
            );
        }
        (
            self.t,
            Histogram {
                counter_reset_hint: counter_reset_hint(self.header, self.num_read),
                schema: self.layout.schema,
                zero_threshold: self.layout.zero_threshold,
                zero_count: self.z_cnt,
                count: self.cnt,
                sum: self.sum,
                positive_spans: self.layout.positive_spans.clone(),
                negative_spans: self.layout.negative_spans.clone(),
                positive_buckets: self.p_buckets.clone(),
                negative_buckets: self.n_buckets.clone(),
                custom_values: self.layout.custom_values.clone(),
            },
        )
    }

    /// The current sample as a float histogram.
    pub fn at_float_histogram(&self) -> (i64, FloatHistogram) {
        let (t, h) = self.at_histogram();
        (t, h.to_float())
    }

    /// The first error met, if any.
    pub fn err(&self) -> Option<&Error> {
        self.err.as_ref()
    }

    /// Advances to the first sample at or after `t`; false when there is none.
    pub fn seek(&mut self, t: i64) -> bool {
        if self.err.is_some() {
            return false;
        }
        while self.num_read == 0 || t > self.t {
            if !self.next() {
                return false;
            }
        }
        true
    }

    fn fail(&mut self, what: &str) -> bool {
        self.err = Some(Error::CorruptChunk(format!(
            "histogram chunk: {what} of sample {} is cut short or invalid",
            self.num_read + 1
        )));
        false
    }

    /// Advances to the next sample; false at the end or on corrupt data (see `err`).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> bool {
        if self.err.is_some() || self.num_read >= self.num_total {
            return false;
        }
        let data = self.data.as_ref();
        let br = &mut self.br;
        if self.num_read == 0 {
            let Some(layout) = read_layout(br, data) else {
                return self.fail("layout");
            };
            if !(layout.schema == CUSTOM_BUCKETS_SCHEMA || (-4..=8).contains(&layout.schema)) {
                self.err = Some(Error::CorruptChunk(format!(
                    "histogram chunk has unknown schema {}",
                    layout.schema
                )));
                return false;
            }
            let (np, nn) = (
                count_spans(&layout.positive_spans),
                count_spans(&layout.negative_spans),
            );
            if np + nn > data.len() * 8 {
                return self.fail("bucket count");
            }
            let (Some(t), Some(cnt), Some(z_cnt), Some(sum)) = (
                read_varbit_int(br, data),
                read_varbit_uint(br, data),
                read_varbit_uint(br, data),
                br.read_bits(data, 64),
            ) else {
                return self.fail("first sample");
            };
            let mut p = Vec::with_capacity(np);
            let mut n = Vec::with_capacity(nn);
            for i in 0..np + nn {
                let Some(v) = read_varbit_int(br, data) else {
                    return self.fail("bucket");
                };
                if i < np { p.push(v) } else { n.push(v) }
            }
            self.layout = layout;
            self.t = t;
            self.cnt = cnt;
            self.z_cnt = z_cnt;
            self.sum = f64::from_bits(sum);
            self.p_deltas = vec![0; np];
            self.n_deltas = vec![0; nn];
            self.p_buckets = p;
            self.n_buckets = n;
            self.num_read = 1;
            return true;
        }
        let (Some(t_dod), Some(cnt_dod), Some(z_dod)) = (
            read_varbit_int(br, data),
            read_varbit_int(br, data),
            read_varbit_int(br, data),
        ) else {
            return self.fail("deltas");
        };
        self.t_delta = self.t_delta.wrapping_add(t_dod);
        self.t = self.t.wrapping_add(self.t_delta);
        self.cnt_delta = self.cnt_delta.wrapping_add(cnt_dod);
        self.cnt = (self.cnt as i64).wrapping_add(self.cnt_delta) as u64;
        self.z_cnt_delta = self.z_cnt_delta.wrapping_add(z_dod);
        self.z_cnt = (self.z_cnt as i64).wrapping_add(self.z_cnt_delta) as u64;
        if xor_read(
            br,
            data,
            &mut self.sum,
            &mut self.leading,
            &mut self.trailing,
        )
        .is_none()
        {
            return self.fail("sum");
        }
        if is_stale_nan(self.sum) {
            self.num_read += 1;
            return true;
        }
        for (b, d) in self
            .p_buckets
            .iter_mut()
            .zip(self.p_deltas.iter_mut())
            .chain(self.n_buckets.iter_mut().zip(self.n_deltas.iter_mut()))
        {
            let Some(dod) = read_varbit_int(br, data) else {
                self.err = Some(Error::CorruptChunk(
                    "histogram chunk: bucket is cut short".into(),
                ));
                return false;
            };
            *d = d.wrapping_add(dod);
            *b = b.wrapping_add(*d);
        }
        self.num_read += 1;
        true
    }
}

#[cfg(test)]
mod tests;
