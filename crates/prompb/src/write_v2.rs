//! Remote-write 2.0 messages (`io/prometheus/write/v2/types.proto`, package
//! `io.prometheus.write.v2`), written by hand as prost types, and the [`SymbolTable`] senders
//! use to build them.
//!
//! A [`Request`] carries every string once, in `symbols` (which starts with the empty
//! string); time series, exemplars and metadata refer to them by index (`*_refs`). Native
//! histograms and bucket spans are the same messages, field for field, as remote write 1.0's,
//! so [`Histogram`] and [`BucketSpan`] are [`crate::Histogram`] and [`crate::BucketSpan`].
//!
//! ```
//! use prompb::Message;
//! use prompb::write_v2::{Request, Sample, SymbolTable, TimeSeries};
//! let mut symbols = SymbolTable::new();
//! let mut refs = Vec::new();
//! symbols.symbolize_labels([("__name__", "up"), ("job", "node")], &mut refs);
//! let req = Request {
//!     symbols: symbols.symbols().to_vec(),
//!     timeseries: vec![TimeSeries {
//!         labels_refs: refs,
//!         samples: vec![Sample { value: 1.0, timestamp: 1_000 }],
//!         ..Default::default()
//!     }],
//! };
//! let back = Request::decode(req.encode_to_vec().as_slice()).unwrap();
//! assert_eq!(back.symbols, ["", "__name__", "up", "job", "node"]);
//! assert_eq!(back.timeseries[0].labels_refs, [1, 2, 3, 4]);
//! ```

use std::collections::HashMap;

pub use crate::{BucketSpan, Histogram};

/// The fully qualified name of [`Request`], as `Content-Type`'s `proto=` parameter carries
/// it.
pub const REQUEST_NAME: &str = "io.prometheus.write.v2.Request";

/// `Request`: a batch of time series and the symbols they refer to.
///
/// Fields 1 to 3 are reserved (they were remote write 1.0's), so a 1.0 `WriteRequest`
/// decodes as an empty `Request`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Request {
    /// Every string of the request once; must start with `""`.
    #[prost(string, repeated, tag = "4")]
    pub symbols: Vec<String>,
    /// The time series.
    #[prost(message, repeated, tag = "5")]
    pub timeseries: Vec<TimeSeries>,
}

/// `TimeSeries`: one series' samples or histograms, exemplars, metadata and created
/// timestamp.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TimeSeries {
    /// Label name and value pairs as indexes into `Request.symbols`: an even count, sorted by
    /// name.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// Float samples, oldest first (a series has samples or histograms, not both).
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Native histogram samples, oldest first.
    #[prost(message, repeated, tag = "3")]
    pub histograms: Vec<Histogram>,
    /// Exemplars of the series' samples.
    #[prost(message, repeated, tag = "4")]
    pub exemplars: Vec<Exemplar>,
    /// The series' metadata (type, help, unit).
    #[prost(message, optional, tag = "5")]
    pub metadata: Option<Metadata>,
    /// When the counter or histogram started counting, in ms (0: unknown).
    #[prost(int64, tag = "6")]
    pub created_timestamp: i64,
}

/// `Exemplar`: an example observation (typically with a `trace_id` label).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Exemplar {
    /// Label pairs as indexes into `Request.symbols`, like a series' `labels_refs`.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// The observed value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// When it was observed, in ms (0: not set).
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// `Sample`: one float sample.
#[derive(Clone, Copy, PartialEq, ::prost::Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// The timestamp in ms.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `Metadata`: what a series is, with help and unit as symbol references.
#[derive(Clone, Copy, PartialEq, ::prost::Message)]
pub struct Metadata {
    /// The metric type ([`metadata::MetricType`]).
    #[prost(enumeration = "metadata::MetricType", tag = "1")]
    pub r#type: i32,
    /// The help text, as an index into `Request.symbols` (0: none).
    #[prost(uint32, tag = "3")]
    pub help_ref: u32,
    /// The unit, as an index into `Request.symbols` (0: none).
    #[prost(uint32, tag = "4")]
    pub unit_ref: u32,
}

/// Nested types of [`Metadata`].
pub mod metadata {
    /// `Metadata.MetricType`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum MetricType {
        /// `METRIC_TYPE_UNSPECIFIED`.
        Unspecified = 0,
        /// `METRIC_TYPE_COUNTER`.
        Counter = 1,
        /// `METRIC_TYPE_GAUGE`.
        Gauge = 2,
        /// `METRIC_TYPE_HISTOGRAM`.
        Histogram = 3,
        /// `METRIC_TYPE_GAUGEHISTOGRAM`.
        Gaugehistogram = 4,
        /// `METRIC_TYPE_SUMMARY`.
        Summary = 5,
        /// `METRIC_TYPE_INFO`.
        Info = 6,
        /// `METRIC_TYPE_STATESET`.
        Stateset = 7,
    }
}

/// Collects the distinct strings of one request and hands out their indexes (Prometheus's
/// `writev2.SymbolsTable`). Index 0 is always the empty string, as the specification
/// requires.
#[derive(Debug, Clone)]
pub struct SymbolTable {
    symbols: Vec<String>,
    index: HashMap<String, u32>,
}

impl Default for SymbolTable {
    fn default() -> Self {
        SymbolTable::new()
    }
}

impl SymbolTable {
    /// A table holding only the empty string.
    pub fn new() -> SymbolTable {
        let mut index = HashMap::new();
        index.insert(String::new(), 0);
        SymbolTable {
            symbols: vec![String::new()],
            index,
        }
    }

    /// The index of `s`, adding it when new.
    pub fn symbolize(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = u32::try_from(self.symbols.len())
            .expect("a request holds fewer than 2^32 distinct strings");
        self.symbols.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }

    /// Appends the name and value index of every pair to `refs` (which is not cleared).
    pub fn symbolize_labels<'a>(
        &mut self,
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
        refs: &mut Vec<u32>,
    ) {
        for (name, value) in labels {
            refs.push(self.symbolize(name));
            refs.push(self.symbolize(value));
        }
    }

    /// The strings in index order, for `Request.symbols`.
    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// Takes the strings out (for `Request.symbols`), leaving the table as new.
    pub fn take_symbols(&mut self) -> Vec<String> {
        self.index.clear();
        self.index.insert(String::new(), 0);
        std::mem::replace(&mut self.symbols, vec![String::new()])
    }

    /// Forgets every string but the empty one, keeping the allocations.
    pub fn reset(&mut self) {
        self.symbols.truncate(1);
        self.index.clear();
        self.index.insert(String::new(), 0);
    }
}

/// Why symbol references do not resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SymbolError {
    /// A reference list of odd length (pairs expected).
    OddRefs(usize),
    /// A reference past the end of `symbols`.
    OutOfRange {
        /// The reference.
        r#ref: u32,
        /// How many symbols there are.
        len: usize,
    },
}

impl std::fmt::Display for SymbolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SymbolError::OddRefs(n) => {
                write!(f, "odd number of label references ({n}), pairs expected")
            }
            SymbolError::OutOfRange { r#ref, len } => {
                write!(f, "symbol reference {ref} out of range (symbols: {len})")
            }
        }
    }
}

impl std::error::Error for SymbolError {}

/// Looks one reference up in `symbols`.
pub fn resolve(symbols: &[String], r: u32) -> Result<&str, SymbolError> {
    symbols
        .get(r as usize)
        .map(String::as_str)
        .ok_or(SymbolError::OutOfRange {
            r#ref: r,
            len: symbols.len(),
        })
}

/// Resolves name/value reference pairs into `out` (cleared first), in the order given.
pub fn resolve_labels<'a>(
    symbols: &'a [String],
    refs: &[u32],
    out: &mut Vec<(&'a str, &'a str)>,
) -> Result<(), SymbolError> {
    out.clear();
    if !refs.len().is_multiple_of(2) {
        return Err(SymbolError::OddRefs(refs.len()));
    }
    for pair in refs.chunks_exact(2) {
        out.push((resolve(symbols, pair[0])?, resolve(symbols, pair[1])?));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;

    #[test]
    fn symbol_table_starts_with_the_empty_string_and_deduplicates() {
        let mut t = SymbolTable::new();
        assert_eq!(t.symbolize(""), 0);
        assert_eq!(t.symbolize("a"), 1);
        assert_eq!(t.symbolize("b"), 2);
        assert_eq!(t.symbolize("a"), 1);
        let mut refs = vec![9];
        t.symbolize_labels([("a", "c"), ("b", "")], &mut refs);
        assert_eq!(refs, [9, 1, 3, 2, 0]);
        assert_eq!(t.symbols(), ["", "a", "b", "c"]);
        assert_eq!(t.take_symbols(), ["", "a", "b", "c"]);
        assert_eq!(t.symbols(), [""]);
        assert_eq!(t.symbolize("z"), 1);
        t.reset();
        assert_eq!(t.symbols(), [""]);
        assert_eq!(t.symbolize("y"), 1);
    }

    #[test]
    fn refs_resolve_or_say_why_not() {
        let symbols: Vec<String> = ["", "__name__", "up"].map(String::from).to_vec();
        let mut out = Vec::new();
        resolve_labels(&symbols, &[1, 2], &mut out).unwrap();
        assert_eq!(out, [("__name__", "up")]);
        assert_eq!(
            resolve_labels(&symbols, &[1], &mut out),
            Err(SymbolError::OddRefs(1))
        );
        let err = resolve_labels(&symbols, &[1, 3], &mut out).unwrap_err();
        assert_eq!(
            err.to_string(),
            "symbol reference 3 out of range (symbols: 3)"
        );
    }

    #[test]
    fn field_numbers_follow_types_proto() {
        let req = Request {
            symbols: vec![String::new(), "a".into()],
            timeseries: vec![TimeSeries {
                labels_refs: vec![1, 1],
                samples: vec![Sample {
                    value: 1.5,
                    timestamp: 7,
                }],
                metadata: Some(Metadata {
                    r#type: metadata::MetricType::Gauge as i32,
                    help_ref: 1,
                    unit_ref: 0,
                }),
                created_timestamp: 3,
                ..Default::default()
            }],
        };
        let bytes = req.encode_to_vec();
        // symbols = 4 (LEN): "" and "a"; timeseries = 5 (LEN): labels_refs = 1 (packed),
        // samples = 2, metadata = 5 (type = 1, help_ref = 3), created_timestamp = 6.
        let expected: &[u8] = &[
            0x22, 0x00, 0x22, 0x01, b'a', 0x2a, 0x19, 0x0a, 0x02, 0x01, 0x01, 0x12, 0x0b, 0x09, 0,
            0, 0, 0, 0, 0, 0xf8, 0x3f, 0x10, 0x07, 0x2a, 0x04, 0x08, 0x02, 0x18, 0x01, 0x30, 0x03,
        ];
        assert_eq!(bytes, expected);
        assert_eq!(Request::decode(bytes.as_slice()).unwrap(), req);
    }

    #[test]
    fn a_v1_write_request_decodes_as_an_empty_v2_request() {
        let v1 = crate::WriteRequest {
            timeseries: vec![crate::TimeSeries {
                labels: vec![crate::Label {
                    name: "a".into(),
                    value: "b".into(),
                }],
                ..Default::default()
            }],
            metadata: vec![],
        };
        let v2 = Request::decode(v1.encode_to_vec().as_slice()).unwrap();
        assert_eq!(v2, Request::default());
    }
}
