//! The `io.prometheus.client` exposition messages (client_model's `metrics.proto`), written by hand as prost types.
//!
//! Field numbers and wire types follow `io/prometheus/client/metrics.proto` as Prometheus
//! vendors it (proto3 syntax; the proto2 original has the same numbers, and prost reads its
//! unpacked repeated scalars too). A scrape body in this format is a sequence of
//! `MetricFamily` messages, each preceded by its length as a varint ("delimited"
//! encoding): [`encode_delimited`] writes one, [`super::ProtobufParser`] reads it.
//!
//! ```
//! use scrape::textparse::dto::{self, Gauge, Metric, MetricFamily, MetricType};
//! let body = dto::encode_delimited(&[MetricFamily {
//!     name: "temperature".into(),
//!     r#type: MetricType::Gauge as i32,
//!     metric: vec![Metric { gauge: Some(Gauge { value: 21.5 }), ..Default::default() }],
//!     ..Default::default()
//! }]);
//! assert_eq!(body[0] as usize, body.len() - 1);
//! ```

use prost::Message;

/// A label of a metric or exemplar.
#[derive(Clone, PartialEq, Message)]
pub struct LabelPair {
    /// The label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// The type of a metric family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    /// Uses [`Metric::counter`].
    Counter = 0,
    /// Uses [`Metric::gauge`].
    Gauge = 1,
    /// Uses [`Metric::summary`].
    Summary = 2,
    /// Uses [`Metric::untyped`].
    Untyped = 3,
    /// Uses [`Metric::histogram`].
    Histogram = 4,
    /// Uses [`Metric::histogram`].
    GaugeHistogram = 5,
}

/// A gauge value.
#[derive(Clone, PartialEq, Message)]
pub struct Gauge {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
}

/// A counter value with an optional exemplar and created timestamp.
#[derive(Clone, PartialEq, Message)]
pub struct Counter {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// An exemplar.
    #[prost(message, optional, tag = "2")]
    pub exemplar: Option<Exemplar>,
    /// When the counter was created (reset to zero).
    #[prost(message, optional, tag = "3")]
    pub created_timestamp: Option<Timestamp>,
}

/// A quantile of a summary.
#[derive(Clone, PartialEq, Message)]
pub struct Quantile {
    /// The quantile (0 to 1).
    #[prost(double, tag = "1")]
    pub quantile: f64,
    /// Its value.
    #[prost(double, tag = "2")]
    pub value: f64,
}

/// A summary.
#[derive(Clone, PartialEq, Message)]
pub struct Summary {
    /// Number of observations.
    #[prost(uint64, tag = "1")]
    pub sample_count: u64,
    /// Sum of observations.
    #[prost(double, tag = "2")]
    pub sample_sum: f64,
    /// The quantiles.
    #[prost(message, repeated, tag = "3")]
    pub quantile: Vec<Quantile>,
    /// When the summary was created.
    #[prost(message, optional, tag = "4")]
    pub created_timestamp: Option<Timestamp>,
}

/// An untyped value.
#[derive(Clone, PartialEq, Message)]
pub struct Untyped {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
}

/// A histogram: classic buckets, native (sparse) buckets, or both.
#[derive(Clone, PartialEq, Message)]
pub struct Histogram {
    /// Number of observations.
    #[prost(uint64, tag = "1")]
    pub sample_count: u64,
    /// Overrides `sample_count` if > 0 (float histograms).
    #[prost(double, tag = "4")]
    pub sample_count_float: f64,
    /// Sum of observations.
    #[prost(double, tag = "2")]
    pub sample_sum: f64,
    /// Classic buckets, by increasing upper bound; the `+Inf` bucket is optional.
    #[prost(message, repeated, tag = "3")]
    pub bucket: Vec<Bucket>,
    /// When the histogram was created.
    #[prost(message, optional, tag = "15")]
    pub created_timestamp: Option<Timestamp>,
    /// Native histogram schema.
    #[prost(sint32, tag = "5")]
    pub schema: i32,
    /// Width of the zero bucket.
    #[prost(double, tag = "6")]
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    #[prost(uint64, tag = "7")]
    pub zero_count: u64,
    /// Overrides `zero_count` if > 0 (float histograms).
    #[prost(double, tag = "8")]
    pub zero_count_float: f64,
    /// Spans of the negative buckets.
    #[prost(message, repeated, tag = "9")]
    pub negative_span: Vec<BucketSpan>,
    /// Negative bucket counts as deltas (integer histograms).
    #[prost(sint64, repeated, tag = "10")]
    pub negative_delta: Vec<i64>,
    /// Negative bucket counts (float histograms).
    #[prost(double, repeated, tag = "11")]
    pub negative_count: Vec<f64>,
    /// Spans of the positive buckets (a no-op span marks an empty native histogram).
    #[prost(message, repeated, tag = "12")]
    pub positive_span: Vec<BucketSpan>,
    /// Positive bucket counts as deltas (integer histograms).
    #[prost(sint64, repeated, tag = "13")]
    pub positive_delta: Vec<i64>,
    /// Positive bucket counts (float histograms).
    #[prost(double, repeated, tag = "14")]
    pub positive_count: Vec<f64>,
    /// Exemplars of the native histogram (they must have a timestamp).
    #[prost(message, repeated, tag = "16")]
    pub exemplars: Vec<Exemplar>,
}

/// A classic histogram bucket.
#[derive(Clone, PartialEq, Message)]
pub struct Bucket {
    /// Cumulative count.
    #[prost(uint64, tag = "1")]
    pub cumulative_count: u64,
    /// Overrides `cumulative_count` if > 0.
    #[prost(double, tag = "4")]
    pub cumulative_count_float: f64,
    /// Inclusive upper bound.
    #[prost(double, tag = "2")]
    pub upper_bound: f64,
    /// An exemplar.
    #[prost(message, optional, tag = "3")]
    pub exemplar: Option<Exemplar>,
}

/// Consecutive native histogram buckets.
#[derive(Clone, PartialEq, Message)]
pub struct BucketSpan {
    /// Gap to the previous span, or the first bucket's index for the first span.
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    /// Number of buckets.
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

/// An exemplar.
#[derive(Clone, PartialEq, Message)]
pub struct Exemplar {
    /// Its labels.
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    /// Its value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// When it was observed.
    #[prost(message, optional, tag = "3")]
    pub timestamp: Option<Timestamp>,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Message)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// Milliseconds since the epoch, as Prometheus computes them (wrapping like Go's
    /// integer arithmetic for absurd values).
    pub fn millis(&self) -> i64 {
        self.seconds
            .wrapping_mul(1000)
            .wrapping_add(i64::from(self.nanos / 1_000_000))
    }
}

/// One metric (one label set) of a family.
#[derive(Clone, PartialEq, Message)]
pub struct Metric {
    /// Its labels.
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    /// Gauge value.
    #[prost(message, optional, tag = "2")]
    pub gauge: Option<Gauge>,
    /// Counter value.
    #[prost(message, optional, tag = "3")]
    pub counter: Option<Counter>,
    /// Summary value.
    #[prost(message, optional, tag = "4")]
    pub summary: Option<Summary>,
    /// Untyped value.
    #[prost(message, optional, tag = "5")]
    pub untyped: Option<Untyped>,
    /// Histogram value.
    #[prost(message, optional, tag = "7")]
    pub histogram: Option<Histogram>,
    /// Timestamp in milliseconds (0: none).
    #[prost(int64, tag = "6")]
    pub timestamp_ms: i64,
}

/// A metric family: name, help, type, unit and its metrics.
#[derive(Clone, PartialEq, Message)]
pub struct MetricFamily {
    /// The family name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The help text.
    #[prost(string, tag = "2")]
    pub help: String,
    /// The [`MetricType`] as its number.
    #[prost(enumeration = "MetricType", tag = "3")]
    pub r#type: i32,
    /// The metrics.
    #[prost(message, repeated, tag = "4")]
    pub metric: Vec<Metric>,
    /// The unit.
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// Encodes families in the delimited form a protobuf scrape body has.
pub fn encode_delimited(families: &[MetricFamily]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in families {
        // Writing into a Vec cannot run out of space.
        let _ = f.encode_length_delimited(&mut out);
    }
    out
}
