//! Prometheus's protobuf messages for remote write 1.0 and remote read (`prompb/types.proto`
//! and `prompb/remote.proto`, package `prometheus`), as prost types.
//!
//! Main types: [`WriteRequest`] (a batch of [`TimeSeries`], each with [`Label`]s,
//! [`Sample`]s, [`Exemplar`]s and native [`Histogram`]s, plus [`MetricMetadata`]),
//! [`ReadRequest`] / [`Query`] / [`ReadResponse`] / [`QueryResult`], and the streamed
//! [`ChunkedReadResponse`]. Encode and decode with [`prost::Message`] (re-exported as
//! [`Message`]); the HTTP layer adds snappy block compression on top.
//!
//! [`otlp`] holds the OpenTelemetry metrics messages of the OTLP receiver
//! ([`otlp::ExportMetricsServiceRequest`] and what it contains), written by hand with the
//! fields the translation reads.
//!
//! [`write_v2`] holds remote write 2.0's `io.prometheus.write.v2.Request` and its parts
//! (hand-written prost types; strings interned in one symbol table per request), with the
//! [`write_v2::SymbolTable`] senders build them with.
//!
//! The Rust code in `src/prometheus.rs` is generated from `proto/*.proto` and checked in, so
//! building this crate needs no `protoc`. The test `generated_code_is_fresh` regenerates it with
//! protox (a pure-Rust protobuf compiler) and prost-build and fails on any difference; run it with
//! `UPDATE_GENERATED=1` to rewrite the file after editing a `.proto`.
//!
//! ```
//! use prompb::{Label, Message, Sample, TimeSeries, WriteRequest};
//! let req = WriteRequest {
//!     timeseries: vec![TimeSeries {
//!         labels: vec![Label { name: "__name__".into(), value: "up".into() }],
//!         samples: vec![Sample { value: 1.0, timestamp: 1_000 }],
//!         ..Default::default()
//!     }],
//!     metadata: vec![],
//! };
//! let bytes = req.encode_to_vec();
//! assert_eq!(WriteRequest::decode(bytes.as_slice()).unwrap(), req);
//! ```

#[allow(missing_docs, unreachable_pub, clippy::all)]
#[rustfmt::skip]
mod prometheus;

pub mod otlp;
pub mod write_v2;
pub use prometheus::*;
pub use prost::Message;

impl TimeSeries {
    /// A series of `labels` (name, value pairs, in the order given) and float `samples`
    /// (timestamp in milliseconds, value), without exemplars or histograms.
    ///
    /// ```
    /// let ts = prompb::TimeSeries::from_samples(&[("__name__", "up")], &[(1_000, 1.0)]);
    /// assert_eq!((ts.labels[0].value.as_str(), ts.samples[0].timestamp), ("up", 1_000));
    /// ```
    pub fn from_samples(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: labels
                .iter()
                .map(|&(name, value)| Label {
                    name: name.into(),
                    value: value.into(),
                })
                .collect(),
            samples: samples
                .iter()
                .map(|&(timestamp, value)| Sample { value, timestamp })
                .collect(),
            ..TimeSeries::default()
        }
    }
}

#[cfg(test)]
mod codegen_tests;
