//! The float native histogram chunk (encoding 3): appender with Prometheus's counter-reset
//! and recoding rules, and iterator (Go's `chunkenc/float_histogram.go`).
//!
//! The first sample writes the bucket layout, the timestamp (varbit) and the raw 64 bits of
//! count, zero count, sum and every bucket. Later samples store the timestamp's
//! delta-of-delta and every value XORed against its previous value, each with its own
//! leading/trailing-zero window.

use model::histogram::CUSTOM_BUCKETS_SCHEMA;
use model::value::is_stale_nan;
use model::{CounterResetHint, FloatHistogram};

use super::bstream::{BitReader, BitWriter};
use super::histogram::HistogramAppend;
use super::histogram_meta::{
    CounterResetHeader, HISTOGRAM_FLAG_POS, HISTOGRAM_HEADER_SIZE, HistogramChunkOps, Insert,
    Layout, append_histogram, count_spans, counter_reset_hint, expand_spans_and_buckets,
    read_layout, set_header, write_layout,
};
use super::varbit::{put_varbit_int, read_varbit_int, xor_read, xor_write};
use crate::error::{Error, Result};

/// A value with its XOR window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct XorValue {
    value: f64,
    leading: u8,
    trailing: u8,
}

impl XorValue {
    fn fresh(value: f64) -> XorValue {
        XorValue {
            value,
            leading: 0xff,
            trailing: 0,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct AppendState {
    layout: Layout,
    t: i64,
    t_delta: i64,
    sum: XorValue,
    cnt: XorValue,
    z_cnt: XorValue,
    p_buckets: Vec<XorValue>,
    n_buckets: Vec<XorValue>,
}

/// A chunk of float native histograms in Prometheus's encoding (3).
#[derive(Debug, Clone)]
pub struct FloatHistogramChunk {
    w: BitWriter,
    /// Boxed: a float series' open chunk shares the head's chunk type, and this state is
    /// large.
    app: Option<Box<AppendState>>,
}

impl Default for FloatHistogramChunk {
    fn default() -> Self {
        FloatHistogramChunk::new()
    }
}

impl PartialEq for FloatHistogramChunk {
    fn eq(&self, other: &Self) -> bool {
        self.w.stream == other.w.stream
    }
}

impl FloatHistogramChunk {
    /// An empty chunk.
    pub fn new() -> FloatHistogramChunk {
        FloatHistogramChunk {
            w: BitWriter::with_bytes(vec![0; HISTOGRAM_HEADER_SIZE], 0),
            app: Some(Box::new(AppendState {
                t: i64::MIN,
                sum: XorValue::fresh(0.0),
                cnt: XorValue::fresh(0.0),
                z_cnt: XorValue::fresh(0.0),
                ..AppendState::default()
            })),
        }
    }

    /// A chunk over stored bytes (after the encoding byte).
    pub fn from_bytes(data: Vec<u8>) -> Result<FloatHistogramChunk> {
        if data.len() < HISTOGRAM_HEADER_SIZE {
            return Err(Error::CorruptChunk(format!(
                "float histogram chunk of {} bytes has no header",
                data.len()
            )));
        }
        Ok(FloatHistogramChunk {
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
    pub fn iter(&self) -> FloatHistogramIterator<&[u8]> {
        FloatHistogramIterator::new(self.bytes())
    }

    fn state(&mut self) -> Result<&mut AppendState> {
        if self.app.is_none() {
            let mut it = FloatHistogramIterator::new(self.w.stream.as_slice());
            while it.next() {}
            if let Some(e) = it.err.take() {
                return Err(e);
            }
            // Appending continues right after the last sample's bits.
            let bits = it.br.bits_read();
            let zip = |v: &[f64], l: &[u8], t: &[u8]| -> Vec<XorValue> {
                v.iter()
                    .zip(l.iter().zip(t))
                    .map(|(&value, (&leading, &trailing))| XorValue {
                        value,
                        leading,
                        trailing,
                    })
                    .collect()
            };
            self.app = Some(Box::new(AppendState {
                t: it.t,
                t_delta: it.t_delta,
                sum: it.sum,
                cnt: it.cnt,
                z_cnt: it.z_cnt,
                p_buckets: zip(&it.p_buckets, &it.p_leading, &it.p_trailing),
                n_buckets: zip(&it.n_buckets, &it.n_leading, &it.n_trailing),
                layout: it.layout,
            }));
            let len = bits.div_ceil(8);
            self.w.truncate(len, (len * 8 - bits) as u8);
        }
        Ok(self.app.as_mut().expect("append state was just built"))
    }

    /// Whether a new chunk starting with `h` after this one starts with a counter reset.
    pub fn header_for_next(&mut self, h: &FloatHistogram) -> Result<CounterResetHeader> {
        Ok(if self.appendable(h)?.1 {
            CounterResetHeader::CounterReset
        } else {
            CounterResetHeader::NotCounterReset
        })
    }

    /// Go's `appendable` for float histograms: the inserts when `h` fits, and whether it is
    /// a counter reset.
    fn appendable(&mut self, h: &FloatHistogram) -> Result<(Option<[Vec<Insert>; 4]>, bool)> {
        if self.num_samples() > 0 && self.counter_reset_header() == CounterResetHeader::Gauge {
            return Ok((None, false));
        }
        if h.counter_reset_hint == CounterResetHint::CounterReset {
            return Ok((None, true));
        }
        if is_stale_nan(h.sum) {
            return Ok((Some(Default::default()), false));
        }
        let a = self.state()?;
        if is_stale_nan(a.sum.value) {
            return Ok((None, false));
        }
        if h.count < a.cnt.value {
            return Ok((None, true));
        }
        if h.schema != a.layout.schema || h.zero_threshold != a.layout.zero_threshold {
            return Ok((None, false));
        }
        if h.schema == CUSTOM_BUCKETS_SCHEMA && h.custom_values != a.layout.custom_values {
            return Ok((None, true));
        }
        if h.zero_count < a.z_cnt.value {
            return Ok((None, true));
        }
        let pa: Vec<f64> = a.p_buckets.iter().map(|x| x.value).collect();
        let na: Vec<f64> = a.n_buckets.iter().map(|x| x.value).collect();
        let Some((pf, pb)) = expand_spans_and_buckets(
            &a.layout.positive_spans,
            &h.positive_spans,
            &pa,
            &h.positive_buckets,
            false,
        ) else {
            return Ok((None, true));
        };
        let Some((nf, nb)) = expand_spans_and_buckets(
            &a.layout.negative_spans,
            &h.negative_spans,
            &na,
            &h.negative_buckets,
            false,
        ) else {
            return Ok((None, true));
        };
        Ok((Some([pf, nf, pb, nb]), false))
    }

    /// Appends a float histogram at `t`, with the same rules as
    /// [`super::HistogramChunk::append`].
    ///
    /// # Errors
    /// When a chunk read from disk turns out corrupt.
    pub fn append(
        &mut self,
        prev: Option<&mut FloatHistogramChunk>,
        t: i64,
        h: &FloatHistogram,
    ) -> Result<HistogramAppend<FloatHistogramChunk>> {
        append_histogram(self, prev, t, h)
    }

    /// Calls `f` with every sample of the chunk, in order.
    fn for_each_sample(&self, mut f: impl FnMut(i64, FloatHistogram) -> Result<()>) -> Result<()> {
        let mut it = FloatHistogramIterator::new(self.w.stream.as_slice());
        while it.next() {
            let (t, h) = it.at_float_histogram();
            f(t, h)?;
        }
        match it.err.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Go's `appendFloatHistogram`: writes the sample, no checks.
    fn append_raw(&mut self, t: i64, h: &FloatHistogram) -> Result<()> {
        let num = self.num_samples();
        if num >= usize::from(u16::MAX) {
            return Err(Error::CorruptChunk(
                "float histogram chunk is full (65535 samples)".into(),
            ));
        }
        let stale_h;
        let h = if is_stale_nan(h.sum) {
            stale_h = FloatHistogram {
                sum: h.sum,
                ..FloatHistogram::default()
            };
            &stale_h
        } else {
            h
        };
        self.state()?;
        let a = self.app.as_mut().expect("append state exists");
        let w = &mut self.w;
        let mut t_delta = 0;
        if num == 0 {
            a.layout = Layout {
                schema: h.schema,
                zero_threshold: h.zero_threshold,
                positive_spans: h.positive_spans.clone(),
                negative_spans: h.negative_spans.clone(),
                custom_values: h.custom_values.clone(),
            };
            write_layout(w, &a.layout);
            let np = count_spans(&h.positive_spans);
            let nn = count_spans(&h.negative_spans);
            a.p_buckets = (0..np)
                .map(|i| XorValue::fresh(h.positive_buckets.get(i).copied().unwrap_or(0.0)))
                .collect();
            a.n_buckets = (0..nn)
                .map(|i| XorValue::fresh(h.negative_buckets.get(i).copied().unwrap_or(0.0)))
                .collect();
            put_varbit_int(w, t);
            w.write_bits(h.count.to_bits(), 64);
            w.write_bits(h.zero_count.to_bits(), 64);
            w.write_bits(h.sum.to_bits(), 64);
            a.cnt.value = h.count;
            a.z_cnt.value = h.zero_count;
            a.sum.value = h.sum;
            for b in h.positive_buckets.iter().chain(&h.negative_buckets) {
                w.write_bits(b.to_bits(), 64);
            }
        } else {
            t_delta = t.wrapping_sub(a.t);
            put_varbit_int(w, t_delta.wrapping_sub(a.t_delta));
            for (x, v) in [
                (&mut a.cnt, h.count),
                (&mut a.z_cnt, h.zero_count),
                (&mut a.sum, h.sum),
            ] {
                xor_write(w, v, x.value, &mut x.leading, &mut x.trailing);
                x.value = v;
            }
            for (x, &v) in a.p_buckets.iter_mut().zip(&h.positive_buckets) {
                xor_write(w, v, x.value, &mut x.leading, &mut x.trailing);
                x.value = v;
            }
            for (x, &v) in a.n_buckets.iter_mut().zip(&h.negative_buckets) {
                xor_write(w, v, x.value, &mut x.leading, &mut x.trailing);
                x.value = v;
            }
        }
        let n = (num as u16 + 1).to_be_bytes();
        w.stream[0] = n[0];
        w.stream[1] = n[1];
        a.t = t;
        a.t_delta = t_delta;
        Ok(())
    }
}

impl HistogramChunkOps for FloatHistogramChunk {
    type H = FloatHistogram;
    fn empty() -> Self {
        FloatHistogramChunk::new()
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
    fn header_for_next(&mut self, h: &FloatHistogram) -> Result<CounterResetHeader> {
        FloatHistogramChunk::header_for_next(self, h)
    }
    fn appendable(
        &mut self,
        h: &FloatHistogram,
    ) -> Result<(Option<[Vec<Insert>; 4]>, CounterResetHeader)> {
        {
            let (inserts, reset) = FloatHistogramChunk::appendable(self, h)?;
            let hdr = if reset {
                CounterResetHeader::CounterReset
            } else if inserts.is_some() {
                CounterResetHeader::NotCounterReset
            } else {
                CounterResetHeader::Unknown
            };
            Ok((inserts, hdr))
        }
    }
    fn layout(&mut self) -> Result<(&Layout, bool)> {
        let a = self.state()?;
        Ok((&a.layout, is_stale_nan(a.sum.value)))
    }
    fn for_each_sample(&self, f: impl FnMut(i64, FloatHistogram) -> Result<()>) -> Result<()> {
        FloatHistogramChunk::for_each_sample(self, f)
    }
    fn append_raw(&mut self, t: i64, h: &FloatHistogram) -> Result<()> {
        FloatHistogramChunk::append_raw(self, t, h)
    }
}

/// Iterates over the float histograms of a chunk's bytes.
#[derive(Debug)]
pub struct FloatHistogramIterator<B> {
    data: B,
    br: BitReader,
    num_total: u16,
    num_read: u16,
    header: CounterResetHeader,
    layout: Layout,
    t: i64,
    t_delta: i64,
    sum: XorValue,
    cnt: XorValue,
    z_cnt: XorValue,
    p_buckets: Vec<f64>,
    n_buckets: Vec<f64>,
    p_leading: Vec<u8>,
    p_trailing: Vec<u8>,
    n_leading: Vec<u8>,
    n_trailing: Vec<u8>,
    err: Option<Error>,
}

impl<B: AsRef<[u8]>> FloatHistogramIterator<B> {
    /// An iterator over stored chunk bytes.
    pub fn new(data: B) -> FloatHistogramIterator<B> {
        let d = data.as_ref();
        let (num_total, header, err) = if d.len() < HISTOGRAM_HEADER_SIZE {
            (
                0,
                CounterResetHeader::Unknown,
                Some(Error::CorruptChunk(
                    "float histogram chunk has no header".into(),
                )),
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
        FloatHistogramIterator {
            data,
            br,
            num_total,
            num_read: 0,
            header,
            layout: Layout::default(),
            t: i64::MIN,
            t_delta: 0,
            sum: XorValue::default(),
            cnt: XorValue::default(),
            z_cnt: XorValue::default(),
            p_buckets: Vec::new(),
            n_buckets: Vec::new(),
            p_leading: Vec::new(),
            p_trailing: Vec::new(),
            n_leading: Vec::new(),
            n_trailing: Vec::new(),
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

    /// The current sample (a stale marker comes back holding only the stale NaN sum).
    pub fn at_float_histogram(&self) -> (i64, FloatHistogram) {
        if is_stale_nan(self.sum.value) {
            return (
                self.t,
                FloatHistogram {
                    sum: self.sum.value,
                    ..FloatHistogram::default()
                },
            );
        }
        (
            self.t,
            FloatHistogram {
                counter_reset_hint: counter_reset_hint(self.header, self.num_read),
                schema: self.layout.schema,
                zero_threshold: self.layout.zero_threshold,
                zero_count: self.z_cnt.value,
                count: self.cnt.value,
                sum: self.sum.value,
                positive_spans: self.layout.positive_spans.clone(),
                negative_spans: self.layout.negative_spans.clone(),
                positive_buckets: self.p_buckets.clone(),
                negative_buckets: self.n_buckets.clone(),
                custom_values: self.layout.custom_values.clone(),
            },
        )
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
            "float histogram chunk: {what} of sample {} is cut short or invalid",
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
                    "float histogram chunk has unknown schema {}",
                    layout.schema
                )));
                return false;
            }
            let (np, nn) = (
                count_spans(&layout.positive_spans),
                count_spans(&layout.negative_spans),
            );
            if (np + nn).saturating_mul(64) > data.len().saturating_mul(8) {
                return self.fail("bucket count");
            }
            let Some(t) = read_varbit_int(br, data) else {
                return self.fail("timestamp");
            };
            let mut vals = Vec::with_capacity(3 + np + nn);
            for _ in 0..3 + np + nn {
                let Some(v) = br.read_bits(data, 64) else {
                    return self.fail("value");
                };
                vals.push(f64::from_bits(v));
            }
            self.t = t;
            self.cnt.value = vals[0];
            self.z_cnt.value = vals[1];
            self.sum.value = vals[2];
            self.p_buckets = vals[3..3 + np].to_vec();
            self.n_buckets = vals[3 + np..].to_vec();
            self.p_leading = vec![0; np];
            self.p_trailing = vec![0; np];
            self.n_leading = vec![0; nn];
            self.n_trailing = vec![0; nn];
            self.layout = layout;
            self.num_read = 1;
            return true;
        }
        let Some(t_dod) = read_varbit_int(br, data) else {
            return self.fail("timestamp");
        };
        self.t_delta = self.t_delta.wrapping_add(t_dod);
        self.t = self.t.wrapping_add(self.t_delta);
        for x in [&mut self.cnt, &mut self.z_cnt, &mut self.sum] {
            if xor_read(br, data, &mut x.value, &mut x.leading, &mut x.trailing).is_none() {
                self.err = Some(Error::CorruptChunk(
                    "float histogram chunk: value is cut short".into(),
                ));
                return false;
            }
        }
        if is_stale_nan(self.sum.value) {
            self.num_read += 1;
            return true;
        }
        let buckets = self
            .p_buckets
            .iter_mut()
            .zip(self.p_leading.iter_mut().zip(self.p_trailing.iter_mut()))
            .chain(
                self.n_buckets
                    .iter_mut()
                    .zip(self.n_leading.iter_mut().zip(self.n_trailing.iter_mut())),
            );
        for (v, (l, tr)) in buckets {
            if xor_read(br, data, v, l, tr).is_none() {
                self.err = Some(Error::CorruptChunk(
                    "float histogram chunk: bucket is cut short".into(),
                ));
                return false;
            }
        }
        self.num_read += 1;
        true
    }
}
