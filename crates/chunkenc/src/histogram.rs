//! The native histogram chunk (encoding 2), integer counts: appender with Prometheus's
//! counter-reset and recoding rules, and iterator (Go's `chunkenc/histogram.go`).
//!
//! The first sample writes the bucket layout, then the timestamp (varbit), count and zero
//! count (unsigned varbit), the sum (64 raw bits) and every bucket delta (varbit). Later
//! samples store delta-of-deltas of the timestamp, counts and buckets, and the sum XORed
//! against the previous one.

use model::value::is_stale_nan;
use model::{FloatHistogram, Histogram};

use super::bstream::BitWriter;
use super::histogram_meta::{
    AppendState, ChunkHistogram, ChunkStream, CounterResetHeader, HistogramChunkBase,
    HistogramChunkOps, IterCore, LastSample, Layout, absolute, append_histogram, count_spans,
    histogram_chunk_common, histogram_iterator_common,
};
use super::varbit::{
    put_varbit_int, put_varbit_uint, read_varbit_int, read_varbit_uint, xor_read, xor_write,
};
use crate::Result;

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

/// The last sample's values as encoding 2 continues from them: counts, their deltas, the
/// stored bucket deltas and their deltas, the sum and its XOR window.
#[derive(Debug, Clone, Default)]
pub(crate) struct Values {
    cnt: u64,
    z_cnt: u64,
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
    s: ChunkStream,
    /// Boxed: a float series' open chunk shares the head's chunk type, and this state is
    /// large.
    app: Option<Box<AppendState<Values>>>,
}

histogram_chunk_common!(
    HistogramChunk,
    HistogramIterator,
    Histogram,
    at_histogram,
    "histogram"
);

impl HistogramChunkOps for HistogramChunk {
    fn layout(&mut self) -> Result<(&Layout, bool)> {
        let a = self.state()?;
        Ok((&a.layout, is_stale_nan(a.v.sum)))
    }
    fn last(&mut self) -> Result<LastSample<'_, Histogram>> {
        let a = self.state()?;
        Ok(LastSample {
            layout: &a.layout,
            sum: a.v.sum,
            count: a.v.cnt,
            zero_count: a.v.z_cnt,
            positive: absolute(&a.v.p_buckets),
            negative: absolute(&a.v.n_buckets),
        })
    }

    fn put_first_values(w: &mut BitWriter, v: &mut Values, h: &Histogram) {
        let (np, nn) = (
            count_spans(&h.positive_spans),
            count_spans(&h.negative_spans),
        );
        v.p_buckets = vec![0; np];
        v.p_deltas = vec![0; np];
        v.n_buckets = vec![0; nn];
        v.n_deltas = vec![0; nn];
        put_varbit_uint(w, h.count);
        put_varbit_uint(w, h.zero_count);
        w.write_bits(h.sum.to_bits(), 64);
        for &b in h.positive_buckets.iter().chain(&h.negative_buckets) {
            put_varbit_int(w, b);
        }
        v.remember(h, 0, 0);
    }

    fn put_next_values(w: &mut BitWriter, v: &mut Values, h: &Histogram) {
        let cnt_delta = (h.count as i64).wrapping_sub(v.cnt as i64);
        let z_cnt_delta = (h.zero_count as i64).wrapping_sub(v.z_cnt as i64);
        let (mut cnt_dod, mut z_cnt_dod) = (
            cnt_delta.wrapping_sub(v.cnt_delta),
            z_cnt_delta.wrapping_sub(v.z_cnt_delta),
        );
        if is_stale_nan(h.sum) {
            cnt_dod = 0;
            z_cnt_dod = 0;
        }
        put_varbit_int(w, cnt_dod);
        put_varbit_int(w, z_cnt_dod);
        xor_write(w, h.sum, v.sum, &mut v.leading, &mut v.trailing);
        put_bucket_dods(w, &h.positive_buckets, &v.p_buckets, &mut v.p_deltas);
        put_bucket_dods(w, &h.negative_buckets, &v.n_buckets, &mut v.n_deltas);
        v.remember(h, cnt_delta, z_cnt_delta);
    }
}

impl Values {
    /// The state of an empty chunk's appender.
    fn fresh() -> Values {
        Values {
            leading: 0xff,
            ..Values::default()
        }
    }

    /// Takes `h`'s counts, buckets and sum, with the count deltas it was written with.
    fn remember(&mut self, h: &Histogram, cnt_delta: i64, z_cnt_delta: i64) {
        self.cnt = h.count;
        self.z_cnt = h.zero_count;
        self.cnt_delta = cnt_delta;
        self.z_cnt_delta = z_cnt_delta;
        for (dst, src) in self.p_buckets.iter_mut().zip(&h.positive_buckets) {
            *dst = *src;
        }
        for (dst, src) in self.n_buckets.iter_mut().zip(&h.negative_buckets) {
            *dst = *src;
        }
        self.sum = h.sum;
    }
}

/// Writes each bucket's delta-of-delta against the previous sample's bucket `prev` and its
/// delta `deltas` (updated), for as many buckets as both have.
fn put_bucket_dods(w: &mut BitWriter, buckets: &[i64], prev: &[i64], deltas: &mut [i64]) {
    for ((&b, &p), d) in buckets.iter().zip(prev).zip(deltas.iter_mut()) {
        let delta = b.wrapping_sub(p);
        put_varbit_int(w, delta.wrapping_sub(*d));
        *d = delta;
    }
}

/// Iterates over the histograms of a chunk's bytes.
#[derive(Debug)]
pub struct HistogramIterator<B> {
    data: B,
    core: IterCore,
    v: Values,
}

histogram_iterator_common!(HistogramIterator);

impl<B> HistogramIterator<B> {
    /// The iterator's frame and values after the last sample read, for the appender.
    fn into_parts(self) -> (IterCore, Values) {
        (self.core, self.v)
    }
}

impl<B: AsRef<[u8]>> HistogramIterator<B> {
    /// An iterator over stored chunk bytes.
    pub fn new(data: B) -> HistogramIterator<B> {
        let core = IterCore::new(data.as_ref(), "histogram");
        HistogramIterator {
            data,
            core,
            v: Values::default(),
        }
    }

    /// The current sample (a stale marker comes back as a histogram holding only the
    /// stale NaN sum).
    pub fn at_histogram(&self) -> (i64, Histogram) {
        let (c, v) = (&self.core, &self.v);
        if is_stale_nan(v.sum) {
            return (c.t, Histogram::stale_marker(v.sum));
        }
        (
            c.t,
            Histogram {
                counter_reset_hint: c.hint(),
                schema: c.layout.schema,
                zero_threshold: c.layout.zero_threshold,
                zero_count: v.z_cnt,
                count: v.cnt,
                sum: v.sum,
                positive_spans: c.layout.positive_spans.clone(),
                negative_spans: c.layout.negative_spans.clone(),
                positive_buckets: v.p_buckets.clone(),
                negative_buckets: v.n_buckets.clone(),
                custom_values: c.layout.custom_values.clone(),
            },
        )
    }

    /// The current sample as a float histogram.
    pub fn at_float_histogram(&self) -> (i64, FloatHistogram) {
        let (t, h) = self.at_histogram();
        (t, h.to_float())
    }

    /// Advances to the next sample; false at the end or on corrupt data (see `err`).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> bool {
        if self.core.done() {
            return false;
        }
        let data = self.data.as_ref();
        let (c, v) = (&mut self.core, &mut self.v);
        if c.num_read == 0 {
            // Each bucket takes at least one bit.
            let Some((layout, np, nn)) = c.read_layout(data, 1) else {
                return false;
            };
            let br = &mut c.br;
            let (Some(t), Some(cnt), Some(z_cnt), Some(sum)) = (
                read_varbit_int(br, data),
                read_varbit_uint(br, data),
                read_varbit_uint(br, data),
                br.read_bits(data, 64),
            ) else {
                return c.fail("first sample");
            };
            let mut p = Vec::with_capacity(np);
            let mut n = Vec::with_capacity(nn);
            for i in 0..np + nn {
                let Some(b) = read_varbit_int(&mut c.br, data) else {
                    return c.fail("bucket");
                };
                if i < np { p.push(b) } else { n.push(b) }
            }
            c.layout = layout;
            c.t = t;
            v.cnt = cnt;
            v.z_cnt = z_cnt;
            v.sum = f64::from_bits(sum);
            v.p_deltas = vec![0; np];
            v.n_deltas = vec![0; nn];
            v.p_buckets = p;
            v.n_buckets = n;
            c.num_read = 1;
            return true;
        }
        let br = &mut c.br;
        let (Some(t_dod), Some(cnt_dod), Some(z_dod)) = (
            read_varbit_int(br, data),
            read_varbit_int(br, data),
            read_varbit_int(br, data),
        ) else {
            return c.fail("deltas");
        };
        c.t_delta = c.t_delta.wrapping_add(t_dod);
        c.t = c.t.wrapping_add(c.t_delta);
        v.cnt_delta = v.cnt_delta.wrapping_add(cnt_dod);
        v.cnt = (v.cnt as i64).wrapping_add(v.cnt_delta) as u64;
        v.z_cnt_delta = v.z_cnt_delta.wrapping_add(z_dod);
        v.z_cnt = (v.z_cnt as i64).wrapping_add(v.z_cnt_delta) as u64;
        if xor_read(br, data, &mut v.sum, &mut v.leading, &mut v.trailing).is_none() {
            return c.fail("sum");
        }
        if is_stale_nan(v.sum) {
            c.num_read += 1;
            return true;
        }
        for (b, d) in v
            .p_buckets
            .iter_mut()
            .zip(v.p_deltas.iter_mut())
            .chain(v.n_buckets.iter_mut().zip(v.n_deltas.iter_mut()))
        {
            let Some(dod) = read_varbit_int(&mut c.br, data) else {
                return c.cut_short("bucket");
            };
            *d = d.wrapping_add(dod);
            *b = b.wrapping_add(*d);
        }
        c.num_read += 1;
        true
    }
}

#[cfg(test)]
mod tests;
