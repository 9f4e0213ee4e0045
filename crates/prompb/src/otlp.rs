//! The OTLP metrics messages Prometheus's OTLP receiver reads, written by hand as prost types.
//!
//! They follow `opentelemetry/proto/collector/metrics/v1/metrics_service.proto`,
//! `metrics/v1/metrics.proto`, `common/v1/common.proto` and `resource/v1/resource.proto`
//! (packages `opentelemetry.proto.*`), keeping the field numbers and wire types but only the
//! fields the translation to Prometheus samples reads. Everything else (min/max, metric
//! metadata, entity refs, dropped-attribute counts) is skipped by prost as unknown fields, which is exactly how protobuf treats fields a reader
//! does not know.
//!
//! ```
//! use prompb::Message;
//! use prompb::otlp::{metric, ExportMetricsServiceRequest, Gauge, Metric, NumberDataPoint,
//!     ResourceMetrics, ScopeMetrics, number_data_point};
//! let req = ExportMetricsServiceRequest {
//!     resource_metrics: vec![ResourceMetrics {
//!         scope_metrics: vec![ScopeMetrics {
//!             metrics: vec![Metric {
//!                 name: "queue.length".into(),
//!                 data: Some(metric::Data::Gauge(Gauge {
//!                     data_points: vec![NumberDataPoint {
//!                         time_unix_nano: 1_000_000_000,
//!                         value: Some(number_data_point::Value::AsInt(3)),
//!                         ..Default::default()
//!                     }],
//!                 })),
//!                 ..Default::default()
//!             }],
//!             ..Default::default()
//!         }],
//!         ..Default::default()
//!     }],
//! };
//! let bytes = req.encode_to_vec();
//! assert_eq!(ExportMetricsServiceRequest::decode(bytes.as_slice()).unwrap(), req);
//! ```

/// `ExportMetricsServiceRequest`: what an OTLP exporter POSTs to `/v1/metrics`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ExportMetricsServiceRequest {
    /// The metrics, grouped by the resource that produced them.
    #[prost(message, repeated, tag = "1")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

/// `ExportMetricsServiceResponse`: the answer; empty on full success.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ExportMetricsServiceResponse {
    /// Set when some data points were refused.
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportMetricsPartialSuccess>,
}

/// `ExportMetricsPartialSuccess`: how many data points were refused, and why.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ExportMetricsPartialSuccess {
    /// The number of refused data points (0 with a message: warnings only).
    #[prost(int64, tag = "1")]
    pub rejected_data_points: i64,
    /// A human-readable explanation.
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// `ResourceMetrics`: the metrics of one resource (a service instance, a host, ...).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ResourceMetrics {
    /// The resource; absent means a resource without attributes.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// The metrics, grouped by instrumentation scope.
    #[prost(message, repeated, tag = "2")]
    pub scope_metrics: Vec<ScopeMetrics>,
    /// The schema URL of the resource.
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

/// `Resource`: the entity producing telemetry, described by attributes.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Resource {
    /// The resource attributes (`service.name`, `service.instance.id`, ...).
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

/// `ScopeMetrics`: the metrics of one instrumentation scope.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ScopeMetrics {
    /// The instrumentation scope (library name and version).
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// The metrics.
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
    /// The schema URL of the scope's data.
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

/// `InstrumentationScope`: the library that recorded the metrics.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct InstrumentationScope {
    /// The scope's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The scope's version.
    #[prost(string, tag = "2")]
    pub version: String,
    /// The scope's attributes.
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
}

/// `Metric`: one named metric with its data points.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Metric {
    /// The metric's name (`http.server.request.duration`).
    #[prost(string, tag = "1")]
    pub name: String,
    /// The description, Prometheus's HELP.
    #[prost(string, tag = "2")]
    pub description: String,
    /// The UCUM unit (`s`, `By`, `1`, `{requests}`).
    #[prost(string, tag = "3")]
    pub unit: String,
    /// The data, by kind; absent is an invalid metric.
    #[prost(oneof = "metric::Data", tags = "5, 7, 9, 10, 11")]
    pub data: Option<metric::Data>,
}

/// Nested types of [`Metric`].
pub mod metric {
    /// The kinds of metric data.
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Data {
        /// A gauge.
        #[prost(message, tag = "5")]
        Gauge(super::Gauge),
        /// A sum (counter when monotonic).
        #[prost(message, tag = "7")]
        Sum(super::Sum),
        /// An explicit-bucket histogram.
        #[prost(message, tag = "9")]
        Histogram(super::Histogram),
        /// An exponential histogram.
        #[prost(message, tag = "10")]
        ExponentialHistogram(super::ExponentialHistogram),
        /// A summary.
        #[prost(message, tag = "11")]
        Summary(super::Summary),
    }
}

/// `AggregationTemporality`: whether data points carry deltas or running totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum AggregationTemporality {
    /// Not set: invalid for sums and histograms.
    Unspecified = 0,
    /// Each point covers the interval since the previous one.
    Delta = 1,
    /// Each point covers the interval since a fixed start.
    Cumulative = 2,
}

/// `DataPointFlags.FLAG_NO_RECORDED_VALUE`: the point marks the absence of a value (becomes
/// a staleness marker).
pub const FLAG_NO_RECORDED_VALUE: u32 = 1;

/// `Gauge`: sampled values.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Gauge {
    /// The points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
}

/// `Sum`: aggregated values, monotonic or not.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Sum {
    /// The points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
    /// Delta or cumulative ([`AggregationTemporality`]).
    #[prost(enumeration = "AggregationTemporality", tag = "2")]
    pub aggregation_temporality: i32,
    /// Whether the sum only goes up (a counter).
    #[prost(bool, tag = "3")]
    pub is_monotonic: bool,
}

/// `Histogram`: explicit-bucket histograms.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Histogram {
    /// The points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<HistogramDataPoint>,
    /// Delta or cumulative ([`AggregationTemporality`]).
    #[prost(enumeration = "AggregationTemporality", tag = "2")]
    pub aggregation_temporality: i32,
}

/// `ExponentialHistogram`: base-2 exponential histograms (Prometheus's native histograms).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ExponentialHistogram {
    /// The points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<ExponentialHistogramDataPoint>,
    /// Delta or cumulative ([`AggregationTemporality`]).
    #[prost(enumeration = "AggregationTemporality", tag = "2")]
    pub aggregation_temporality: i32,
}

/// `Summary`: precomputed quantiles.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Summary {
    /// The points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<SummaryDataPoint>,
}

/// `NumberDataPoint`: one value of a gauge or sum.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct NumberDataPoint {
    /// The point's attributes (its labels).
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    /// Start of the aggregation interval, in Unix nanoseconds.
    #[prost(fixed64, tag = "2")]
    pub start_time_unix_nano: u64,
    /// The point's time, in Unix nanoseconds.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// The value; absent reads as 0.
    #[prost(oneof = "number_data_point::Value", tags = "4, 6")]
    pub value: Option<number_data_point::Value>,
    /// Sampled measurements with their trace.
    #[prost(message, repeated, tag = "5")]
    pub exemplars: Vec<Exemplar>,
    /// [`FLAG_NO_RECORDED_VALUE`] and reserved bits.
    #[prost(uint32, tag = "8")]
    pub flags: u32,
}

/// Nested types of [`NumberDataPoint`].
pub mod number_data_point {
    /// A float or an integer value.
    #[derive(Clone, Copy, PartialEq, ::prost::Oneof)]
    pub enum Value {
        /// A float.
        #[prost(double, tag = "4")]
        AsDouble(f64),
        /// An integer.
        #[prost(sfixed64, tag = "6")]
        AsInt(i64),
    }
}

/// `HistogramDataPoint`: one explicit-bucket histogram.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct HistogramDataPoint {
    /// The point's attributes.
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    /// Start of the aggregation interval, in Unix nanoseconds.
    #[prost(fixed64, tag = "2")]
    pub start_time_unix_nano: u64,
    /// The point's time, in Unix nanoseconds.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// The number of observations.
    #[prost(fixed64, tag = "4")]
    pub count: u64,
    /// The sum of observations; absent means no `_sum` series.
    #[prost(double, optional, tag = "5")]
    pub sum: Option<f64>,
    /// Per-bucket (not cumulative) counts, one more than `explicit_bounds`.
    #[prost(fixed64, repeated, tag = "6")]
    pub bucket_counts: Vec<u64>,
    /// Upper bounds of the buckets but the last.
    #[prost(double, repeated, tag = "7")]
    pub explicit_bounds: Vec<f64>,
    /// Sampled measurements with their trace.
    #[prost(message, repeated, tag = "8")]
    pub exemplars: Vec<Exemplar>,
    /// [`FLAG_NO_RECORDED_VALUE`] and reserved bits.
    #[prost(uint32, tag = "10")]
    pub flags: u32,
}

/// `ExponentialHistogramDataPoint`: one base-2 exponential histogram.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ExponentialHistogramDataPoint {
    /// The point's attributes.
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
    /// Start of the aggregation interval, in Unix nanoseconds.
    #[prost(fixed64, tag = "2")]
    pub start_time_unix_nano: u64,
    /// The point's time, in Unix nanoseconds.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// The number of observations.
    #[prost(fixed64, tag = "4")]
    pub count: u64,
    /// The sum of observations, when known.
    #[prost(double, optional, tag = "5")]
    pub sum: Option<f64>,
    /// Resolution: bucket boundaries are powers of 2^(2^-scale).
    #[prost(sint32, tag = "6")]
    pub scale: i32,
    /// Observations in the zero bucket.
    #[prost(fixed64, tag = "7")]
    pub zero_count: u64,
    /// Buckets of positive observations.
    #[prost(message, optional, tag = "8")]
    pub positive: Option<exponential_histogram_data_point::Buckets>,
    /// Buckets of negative observations.
    #[prost(message, optional, tag = "9")]
    pub negative: Option<exponential_histogram_data_point::Buckets>,
    /// [`FLAG_NO_RECORDED_VALUE`] and reserved bits.
    #[prost(uint32, tag = "10")]
    pub flags: u32,
    /// Sampled measurements with their trace.
    #[prost(message, repeated, tag = "11")]
    pub exemplars: Vec<Exemplar>,
    /// Width of the zero bucket.
    #[prost(double, tag = "14")]
    pub zero_threshold: f64,
}

/// Nested types of [`ExponentialHistogramDataPoint`].
pub mod exponential_histogram_data_point {
    /// Dense bucket counts from index `offset` on.
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Buckets {
        /// The index of the first bucket.
        #[prost(sint32, tag = "1")]
        pub offset: i32,
        /// Counts of consecutive buckets.
        #[prost(uint64, repeated, tag = "2")]
        pub bucket_counts: Vec<u64>,
    }
}

/// `Exemplar`: one sampled measurement and the trace it was recorded in.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Exemplar {
    /// Attributes of the measurement not already on the data point.
    #[prost(message, repeated, tag = "7")]
    pub filtered_attributes: Vec<KeyValue>,
    /// When it was measured, in Unix nanoseconds.
    #[prost(fixed64, tag = "2")]
    pub time_unix_nano: u64,
    /// The value; absent is invalid.
    #[prost(oneof = "exemplar::Value", tags = "3, 6")]
    pub value: Option<exemplar::Value>,
    /// The span's id (8 bytes; empty when not sampled in a span).
    #[prost(bytes = "vec", tag = "4")]
    pub span_id: Vec<u8>,
    /// The trace's id (16 bytes; empty when not sampled in a trace).
    #[prost(bytes = "vec", tag = "5")]
    pub trace_id: Vec<u8>,
}

/// Nested types of [`Exemplar`].
pub mod exemplar {
    /// A float or an integer value.
    #[derive(Clone, Copy, PartialEq, ::prost::Oneof)]
    pub enum Value {
        /// A float.
        #[prost(double, tag = "3")]
        AsDouble(f64),
        /// An integer.
        #[prost(sfixed64, tag = "6")]
        AsInt(i64),
    }
}

/// `SummaryDataPoint`: one summary.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SummaryDataPoint {
    /// The point's attributes.
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    /// Start of the aggregation interval, in Unix nanoseconds.
    #[prost(fixed64, tag = "2")]
    pub start_time_unix_nano: u64,
    /// The point's time, in Unix nanoseconds.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// The number of observations.
    #[prost(fixed64, tag = "4")]
    pub count: u64,
    /// The sum of observations.
    #[prost(double, tag = "5")]
    pub sum: f64,
    /// The quantiles.
    #[prost(message, repeated, tag = "6")]
    pub quantile_values: Vec<ValueAtQuantile>,
    /// [`FLAG_NO_RECORDED_VALUE`] and reserved bits.
    #[prost(uint32, tag = "8")]
    pub flags: u32,
}

/// `SummaryDataPoint.ValueAtQuantile`.
#[derive(Clone, Copy, PartialEq, ::prost::Message)]
pub struct ValueAtQuantile {
    /// The quantile, in `[0, 1]`.
    #[prost(double, tag = "1")]
    pub quantile: f64,
    /// Its value.
    #[prost(double, tag = "2")]
    pub value: f64,
}

/// `KeyValue`: one attribute.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct KeyValue {
    /// The attribute's name.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The attribute's value; absent is the empty value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// `AnyValue`: an attribute value of any type.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct AnyValue {
    /// The value; absent is the empty value.
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<any_value::Value>,
}

/// Nested types of [`AnyValue`].
pub mod any_value {
    /// The kinds of attribute values.
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Value {
        /// A string.
        #[prost(string, tag = "1")]
        StringValue(String),
        /// A boolean.
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        /// An integer.
        #[prost(int64, tag = "3")]
        IntValue(i64),
        /// A float.
        #[prost(double, tag = "4")]
        DoubleValue(f64),
        /// A list of values.
        #[prost(message, tag = "5")]
        ArrayValue(super::ArrayValue),
        /// A map of values.
        #[prost(message, tag = "6")]
        KvlistValue(super::KeyValueList),
        /// Raw bytes.
        #[prost(bytes = "vec", tag = "7")]
        BytesValue(Vec<u8>),
    }
}

/// `ArrayValue`: a list of attribute values.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ArrayValue {
    /// The values.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

/// `KeyValueList`: a map of attribute values.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct KeyValueList {
    /// The entries, in order.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn field_numbers_and_wire_types_match_the_otlp_protos() {
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: None,
                scope_metrics: vec![ScopeMetrics {
                    scope: None,
                    metrics: vec![Metric {
                        name: "m".into(),
                        data: Some(metric::Data::Sum(Sum {
                            data_points: vec![NumberDataPoint {
                                time_unix_nano: 1,
                                value: Some(number_data_point::Value::AsInt(2)),
                                flags: 1,
                                ..Default::default()
                            }],
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    }],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        // resource_metrics=1 LEN { scope_metrics=2 LEN { metrics=2 LEN { name=1 "m",
        // sum=7 LEN { data_points=1 LEN { time=3 fixed64 1, as_int=6 sfixed64 2, flags=8
        // varint 1 }, temporality=2 varint 2, monotonic=3 varint 1 } } } }
        let point: &[u8] = &[
            0x19, 1, 0, 0, 0, 0, 0, 0, 0, 0x31, 2, 0, 0, 0, 0, 0, 0, 0, 0x40, 1,
        ];
        let mut sum = vec![0x0a, point.len() as u8];
        sum.extend_from_slice(point);
        sum.extend_from_slice(&[0x10, 2, 0x18, 1]);
        let mut metric = vec![0x0a, 1, b'm', 0x3a, sum.len() as u8];
        metric.extend_from_slice(&sum);
        let mut scope = vec![0x12, metric.len() as u8];
        scope.extend_from_slice(&metric);
        let mut rm = vec![0x12, scope.len() as u8];
        rm.extend_from_slice(&scope);
        let mut expected = vec![0x0a, rm.len() as u8];
        expected.extend_from_slice(&rm);
        assert_eq!(req.encode_to_vec(), expected);
        assert_eq!(
            ExportMetricsServiceRequest::decode(expected.as_slice()).expect("decodes"),
            req
        );
    }

    #[test]
    fn unknown_fields_are_skipped() {
        // A NumberDataPoint with an exemplar (5, LEN) holding an unknown varint field 1,
        // then an unknown fixed32 field 99.
        let mut bytes = vec![0x2a, 2, 0x08, 1];
        bytes.extend_from_slice(&[0x9d, 0x06, 1, 2, 3, 4]);
        bytes.extend_from_slice(&[0x21, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
        let p = NumberDataPoint::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(p.value, Some(number_data_point::Value::AsDouble(1.0)));
        assert_eq!(p.exemplars, vec![Exemplar::default()]);
    }

    #[test]
    fn exemplar_field_numbers() {
        let e = Exemplar {
            filtered_attributes: vec![],
            time_unix_nano: 1,
            value: Some(exemplar::Value::AsInt(2)),
            span_id: vec![7],
            trace_id: vec![9],
        };
        // time=2 fixed64, as_int=6 sfixed64, span_id=4 LEN, trace_id=5 LEN (prost writes in
        // declaration order; readers accept any order).
        let expected: &[u8] = &[
            0x11, 1, 0, 0, 0, 0, 0, 0, 0, 0x31, 2, 0, 0, 0, 0, 0, 0, 0, 0x22, 1, 7, 0x2a, 1, 9,
        ];
        assert_eq!(e.encode_to_vec(), expected);
    }
}
