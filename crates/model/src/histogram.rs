//! Native histograms: [`Histogram`] (integer counts, as scraped and stored) and
//! [`FloatHistogram`] (float counts, as PromQL computes with them), with Prometheus's
//! exponential bucket layout described by [`Span`]s, and custom-bucket histograms (schema
//! [`CUSTOM_BUCKETS_SCHEMA`], NHCB).

mod arith;
mod bounds;
mod compact;
mod iter;
mod kahan;
mod notation;
mod validate;

pub use arith::AddOutcome;
pub use notation::{MAX_NOTATION_EXPANSION, NotationItem};

pub use bounds::{
    bucket_bound, custom_bounds_match, exponential_bound, is_exponential_schema, is_known_schema,
    is_valid_schema, target_index,
};
pub use iter::{AllBucketIter, Bucket, BucketIter, ReverseBucketIter};
pub use kahan::kahan_inc;

pub use crate::error::{HistogramError, HistogramErrorKind};

/// The schema of histograms with custom bucket boundaries (`custom_values`).
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;
/// The smallest exponential schema (each bucket spans a factor of 2^(2^4) = 65536).
pub const EXPONENTIAL_SCHEMA_MIN: i32 = -4;
/// The largest exponential schema (each bucket spans a factor of 2^(2^-8)).
pub const EXPONENTIAL_SCHEMA_MAX: i32 = 8;

/// What is known about a counter reset between a histogram and the one before it in its
/// series (Go's `histogram.CounterResetHint`; the numbers are the encoding in chunks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CounterResetHint {
    /// Nothing is known: a reset is detected by comparing with the previous histogram.
    #[default]
    Unknown = 0,
    /// There was a counter reset.
    CounterReset = 1,
    /// There was no counter reset.
    NotCounterReset = 2,
    /// The histogram is a gauge histogram: counter resets do not apply.
    Gauge = 3,
}

/// A run of consecutive buckets: `offset` empty buckets are skipped (relative to the end of
/// the previous span, or to bucket index 0 for the first span), then `length` buckets follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// Gap to the previous span (for the first span: the index of its first bucket).
    pub offset: i32,
    /// Number of consecutive buckets.
    pub length: u32,
}

/// A native histogram with integer counts (Go's `histogram.Histogram`). Bucket counts are
/// delta-encoded: each entry of `positive_buckets`/`negative_buckets` is the difference to
/// the previous bucket's count (the first is absolute).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// What is known about a counter reset before this histogram.
    pub counter_reset_hint: CounterResetHint,
    /// Resolution: bucket boundaries are powers of 2^(2^-schema), or
    /// [`CUSTOM_BUCKETS_SCHEMA`] for custom boundaries.
    pub schema: i32,
    /// Width of the zero bucket: observations with |v| <= threshold land there.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// Total number of observations (including NaN observations, which are in no bucket).
    pub count: u64,
    /// Sum of all observations.
    pub sum: f64,
    /// Spans of the positive buckets.
    pub positive_spans: Vec<Span>,
    /// Spans of the negative buckets.
    pub negative_spans: Vec<Span>,
    /// Delta-encoded positive bucket counts, one per bucket of `positive_spans`.
    pub positive_buckets: Vec<i64>,
    /// Delta-encoded negative bucket counts, one per bucket of `negative_spans`.
    pub negative_buckets: Vec<i64>,
    /// Upper bounds of the custom buckets (schema [`CUSTOM_BUCKETS_SCHEMA`] only; the last
    /// bucket up to +Inf is implied).
    pub custom_values: Vec<f64>,
}

/// A native histogram with float counts (Go's `histogram.FloatHistogram`). Bucket counts
/// are absolute, not delta-encoded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatHistogram {
    /// What is known about a counter reset before this histogram.
    pub counter_reset_hint: CounterResetHint,
    /// Resolution, as [`Histogram::schema`].
    pub schema: i32,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: f64,
    /// Total number of observations.
    pub count: f64,
    /// Sum of all observations.
    pub sum: f64,
    /// Spans of the positive buckets.
    pub positive_spans: Vec<Span>,
    /// Spans of the negative buckets.
    pub negative_spans: Vec<Span>,
    /// Absolute positive bucket counts, one per bucket of `positive_spans`.
    pub positive_buckets: Vec<f64>,
    /// Absolute negative bucket counts, one per bucket of `negative_spans`.
    pub negative_buckets: Vec<f64>,
    /// Upper bounds of the custom buckets (schema [`CUSTOM_BUCKETS_SCHEMA`] only).
    pub custom_values: Vec<f64>,
}

impl Histogram {
    /// Whether the histogram uses custom bucket boundaries.
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// The same histogram with float counts (deltas resolved into absolute counts).
    pub fn to_float(&self) -> FloatHistogram {
        FloatHistogram {
            counter_reset_hint: self.counter_reset_hint,
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: self.zero_count as f64,
            count: self.count as f64,
            sum: self.sum,
            positive_spans: self.positive_spans.clone(),
            negative_spans: self.negative_spans.clone(),
            positive_buckets: absolute_counts(&self.positive_buckets),
            negative_buckets: absolute_counts(&self.negative_buckets),
            custom_values: self.custom_values.clone(),
        }
    }
}

impl FloatHistogram {
    /// Whether the histogram uses custom bucket boundaries.
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }
}

/// Resolves delta-encoded bucket counts into absolute float counts.
fn absolute_counts(deltas: &[i64]) -> Vec<f64> {
    let mut current = 0i64;
    deltas
        .iter()
        .map(|d| {
            current = current.wrapping_add(*d);
            current as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_float_resolves_deltas() {
        let h = Histogram {
            schema: 0,
            count: 9,
            sum: 12.5,
            zero_count: 2,
            zero_threshold: 0.001,
            positive_spans: vec![Span {
                offset: 0,
                length: 3,
            }],
            positive_buckets: vec![1, 2, -1],
            negative_spans: vec![Span {
                offset: 1,
                length: 1,
            }],
            negative_buckets: vec![2],
            ..Histogram::default()
        };
        let f = h.to_float();
        assert_eq!(f.positive_buckets, [1.0, 3.0, 2.0]);
        assert_eq!(f.negative_buckets, [2.0]);
        assert_eq!((f.count, f.zero_count, f.sum), (9.0, 2.0, 12.5));
        assert_eq!(f.positive_spans, h.positive_spans);
        assert!(!f.uses_custom_buckets());
    }
}
