//! The float native histogram chunk (encoding 3): appender with Prometheus's counter-reset
//! and recoding rules, and iterator (Go's `chunkenc/float_histogram.go`).
//!
//! The first sample writes the bucket layout, the timestamp (varbit) and the raw 64 bits of
//! count, zero count, sum and every bucket. Later samples store the timestamp's
//! delta-of-delta and every value XORed against its previous value, each with its own
//! leading/trailing-zero window.

use model::FloatHistogram;
use model::value::is_stale_nan;

use super::bstream::BitWriter;
use super::histogram::HistogramAppend;
use super::histogram_meta::{
    AppendState, ChunkHistogram, ChunkStream, CounterResetHeader, HistogramChunkBase,
    HistogramChunkOps, Insert, IterCore, LastSample, Layout, append_histogram, appendable,
    count_spans, histogram_chunk_common, histogram_iterator_common,
};
use super::varbit::{read_varbit_int, xor_read, xor_write};
use crate::Result;

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

    /// Writes `v` XORed against this value and makes it the value.
    fn write(&mut self, w: &mut BitWriter, v: f64) {
        xor_write(w, v, self.value, &mut self.leading, &mut self.trailing);
        self.value = v;
    }
}

/// The last sample's values as encoding 3 continues from them, each with its XOR window.
#[derive(Debug, Clone, Default)]
pub(crate) struct Values {
    sum: XorValue,
    cnt: XorValue,
    z_cnt: XorValue,
    p_buckets: Vec<XorValue>,
    n_buckets: Vec<XorValue>,
}

/// A chunk of float native histograms in Prometheus's encoding (3).
#[derive(Debug, Clone)]
pub struct FloatHistogramChunk {
    s: ChunkStream,
    /// Boxed: a float series' open chunk shares the head's chunk type, and this state is
    /// large.
    app: Option<Box<AppendState<Values>>>,
}

histogram_chunk_common!(
    FloatHistogramChunk,
    FloatHistogramIterator,
    FloatHistogram,
    at_float_histogram,
    "float histogram"
);

impl Values {
    /// The state of an empty chunk's appender.
    fn fresh() -> Values {
        Values {
            sum: XorValue::fresh(0.0),
            cnt: XorValue::fresh(0.0),
            z_cnt: XorValue::fresh(0.0),
            ..Values::default()
        }
    }
}

impl HistogramChunkOps for FloatHistogramChunk {
    /// Go's float appender reports a counter reset or none: any other verdict is "no reset".
    fn header_for_next(&mut self, h: &FloatHistogram) -> Result<CounterResetHeader> {
        Ok(match appendable(self, h)?.1 {
            CounterResetHeader::CounterReset => CounterResetHeader::CounterReset,
            _ => CounterResetHeader::NotCounterReset,
        })
    }

    /// Go's float `appendable` says only whether `h` fits and whether it is a counter
    /// reset: a chunk it does not fit without a reset starts with an unknown header.
    fn appendable(
        &mut self,
        h: &FloatHistogram,
    ) -> Result<(Option<[Vec<Insert>; 4]>, CounterResetHeader)> {
        let (inserts, hdr) = appendable(self, h)?;
        let hdr = match hdr {
            CounterResetHeader::CounterReset => hdr,
            _ if inserts.is_some() => CounterResetHeader::NotCounterReset,
            _ => CounterResetHeader::Unknown,
        };
        Ok((inserts, hdr))
    }

    fn layout(&mut self) -> Result<(&Layout, bool)> {
        let a = self.state()?;
        Ok((&a.layout, is_stale_nan(a.v.sum.value)))
    }

    fn last(&mut self) -> Result<LastSample<'_, FloatHistogram>> {
        let a = self.state()?;
        let values = |b: &[XorValue]| b.iter().map(|x| x.value).collect();
        Ok(LastSample {
            layout: &a.layout,
            sum: a.v.sum.value,
            count: a.v.cnt.value,
            zero_count: a.v.z_cnt.value,
            positive: values(&a.v.p_buckets),
            negative: values(&a.v.n_buckets),
        })
    }

    fn put_first_values(w: &mut BitWriter, v: &mut Values, h: &FloatHistogram) {
        let fresh = |b: &[f64], n: usize| -> Vec<XorValue> {
            (0..n)
                .map(|i| XorValue::fresh(b.get(i).copied().unwrap_or(0.0)))
                .collect()
        };
        v.p_buckets = fresh(&h.positive_buckets, count_spans(&h.positive_spans));
        v.n_buckets = fresh(&h.negative_buckets, count_spans(&h.negative_spans));
        w.write_bits(h.count.to_bits(), 64);
        w.write_bits(h.zero_count.to_bits(), 64);
        w.write_bits(h.sum.to_bits(), 64);
        v.cnt.value = h.count;
        v.z_cnt.value = h.zero_count;
        v.sum.value = h.sum;
        for b in h.positive_buckets.iter().chain(&h.negative_buckets) {
            w.write_bits(b.to_bits(), 64);
        }
    }

    fn put_next_values(w: &mut BitWriter, v: &mut Values, h: &FloatHistogram) {
        v.cnt.write(w, h.count);
        v.z_cnt.write(w, h.zero_count);
        v.sum.write(w, h.sum);
        for (x, &b) in v.p_buckets.iter_mut().zip(&h.positive_buckets) {
            x.write(w, b);
        }
        for (x, &b) in v.n_buckets.iter_mut().zip(&h.negative_buckets) {
            x.write(w, b);
        }
    }
}

/// Iterates over the float histograms of a chunk's bytes.
#[derive(Debug)]
pub struct FloatHistogramIterator<B> {
    data: B,
    core: IterCore,
    sum: XorValue,
    cnt: XorValue,
    z_cnt: XorValue,
    p_buckets: Vec<f64>,
    n_buckets: Vec<f64>,
    p_leading: Vec<u8>,
    p_trailing: Vec<u8>,
    n_leading: Vec<u8>,
    n_trailing: Vec<u8>,
}

histogram_iterator_common!(FloatHistogramIterator);

impl<B> FloatHistogramIterator<B> {
    /// The iterator's frame and values after the last sample read, for the appender.
    fn into_parts(self) -> (IterCore, Values) {
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
        let v = Values {
            sum: self.sum,
            cnt: self.cnt,
            z_cnt: self.z_cnt,
            p_buckets: zip(&self.p_buckets, &self.p_leading, &self.p_trailing),
            n_buckets: zip(&self.n_buckets, &self.n_leading, &self.n_trailing),
        };
        (self.core, v)
    }
}

impl<B: AsRef<[u8]>> FloatHistogramIterator<B> {
    /// An iterator over stored chunk bytes.
    pub fn new(data: B) -> FloatHistogramIterator<B> {
        let core = IterCore::new(data.as_ref(), "float histogram");
        FloatHistogramIterator {
            data,
            core,
            sum: XorValue::default(),
            cnt: XorValue::default(),
            z_cnt: XorValue::default(),
            p_buckets: Vec::new(),
            n_buckets: Vec::new(),
            p_leading: Vec::new(),
            p_trailing: Vec::new(),
            n_leading: Vec::new(),
            n_trailing: Vec::new(),
        }
    }

    /// The current sample (a stale marker comes back holding only the stale NaN sum).
    pub fn at_float_histogram(&self) -> (i64, FloatHistogram) {
        let c = &self.core;
        if is_stale_nan(self.sum.value) {
            return (c.t, FloatHistogram::stale_marker(self.sum.value));
        }
        (
            c.t,
            FloatHistogram {
                counter_reset_hint: c.hint(),
                schema: c.layout.schema,
                zero_threshold: c.layout.zero_threshold,
                zero_count: self.z_cnt.value,
                count: self.cnt.value,
                sum: self.sum.value,
                positive_spans: c.layout.positive_spans.clone(),
                negative_spans: c.layout.negative_spans.clone(),
                positive_buckets: self.p_buckets.clone(),
                negative_buckets: self.n_buckets.clone(),
                custom_values: c.layout.custom_values.clone(),
            },
        )
    }

    /// Advances to the next sample; false at the end or on corrupt data (see `err`).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> bool {
        if self.core.done() {
            return false;
        }
        let data = self.data.as_ref();
        let c = &mut self.core;
        if c.num_read == 0 {
            // Each bucket takes 64 bits.
            let Some((layout, np, nn)) = c.read_layout(data, 64) else {
                return false;
            };
            let Some(t) = read_varbit_int(&mut c.br, data) else {
                return c.fail("timestamp");
            };
            let mut vals = Vec::with_capacity(3 + np + nn);
            for _ in 0..3 + np + nn {
                let Some(v) = c.br.read_bits(data, 64) else {
                    return c.fail("value");
                };
                vals.push(f64::from_bits(v));
            }
            c.t = t;
            self.cnt.value = vals[0];
            self.z_cnt.value = vals[1];
            self.sum.value = vals[2];
            self.p_buckets = vals[3..3 + np].to_vec();
            self.n_buckets = vals[3 + np..].to_vec();
            self.p_leading = vec![0; np];
            self.p_trailing = vec![0; np];
            self.n_leading = vec![0; nn];
            self.n_trailing = vec![0; nn];
            c.layout = layout;
            c.num_read = 1;
            return true;
        }
        let Some(t_dod) = read_varbit_int(&mut c.br, data) else {
            return c.fail("timestamp");
        };
        c.t_delta = c.t_delta.wrapping_add(t_dod);
        c.t = c.t.wrapping_add(c.t_delta);
        for x in [&mut self.cnt, &mut self.z_cnt, &mut self.sum] {
            if xor_read(
                &mut c.br,
                data,
                &mut x.value,
                &mut x.leading,
                &mut x.trailing,
            )
            .is_none()
            {
                return c.cut_short("value");
            }
        }
        if is_stale_nan(self.sum.value) {
            c.num_read += 1;
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
            if xor_read(&mut c.br, data, v, l, tr).is_none() {
                return c.cut_short("bucket");
            }
        }
        c.num_read += 1;
        true
    }
}
