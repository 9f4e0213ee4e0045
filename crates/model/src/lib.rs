//! Prometheus's core data model, shared by every other crate: no I/O, no async.
//!
//! Main types:
//! - [`Labels`]: an immutable, sorted label set packed into one shared allocation (cheap to
//!   clone and hash, hashed exactly as Go's `labels.Hash`), and [`LabelsBuilder`] to derive
//!   new sets.
//! - [`Matcher`] and [`MatchType`]: label matchers (`=`, `!=`, `=~`, `!~`); regexes are fully
//!   anchored and follow Go's RE2 syntax and semantics (see [`regexp`] for how, and for the
//!   known differences), with fast paths for literal sets and prefixes.
//! - [`Duration`]: Prometheus durations such as `1y2w3d4h5m6s7ms`.
//! - [`relabel`]: relabel configs and [`relabel::process`].
//! - [`TargetGroup`]: what service discovery hands to scrape and notifier.
//! - [`value`]: the staleness-marker NaN; [`validation`]: metric and label name rules;
//!   [`strconv`]: Go-compatible quoting and float formatting; [`strutil`]: Go's URL query
//!   escaping and expression-browser links; [`exposition`]: metric family headers and
//!   label values of the text format; [`metrics`]: counters, gauges, summaries and
//!   histograms for a component's own `/metrics` samples; [`civil`]: calendar dates from
//!   day counts.
//! - [`Histogram`] and [`FloatHistogram`]: native histograms (see [`histogram`]).
//! - [`Timestamp`] (milliseconds since the epoch; [`timestamp`] converts from and to
//!   `SystemTime`), [`METRIC_NAME`], and [`Error`].
//!
//! ```
//! use model::{Labels, MatchType, Matcher};
//! let series = Labels::from_pairs([("__name__", "http_requests_total"), ("code", "200")]);
//! let m = Matcher::new(MatchType::RegexMatch, "code", "2..").unwrap();
//! assert!(series.matches(&[m]));
//! ```
#![warn(missing_docs)]

pub mod civil;
mod duration;
mod error;
pub mod exposition;
pub mod histogram;
mod labels;
mod matcher;
pub mod metrics;
pub mod regexp;
pub mod relabel;
pub mod strconv;
pub mod strutil;
mod target_group;
pub mod timestamp;
pub mod validation;
pub mod value;

pub use duration::Duration;
pub use error::{Error, HistogramError, HistogramErrorKind, Result};
pub use histogram::{CounterResetHint, FloatHistogram, Histogram, Span};
pub use labels::{Iter as LabelsIter, Labels, LabelsBuilder};
pub use matcher::{MatchType, Matcher};
pub use target_group::TargetGroup;
pub use validation::ValidationScheme;

/// Milliseconds since the Unix epoch, as Prometheus stores sample times.
pub type Timestamp = i64;

/// What a sample iterator (a storage `SampleIterator`, a chunk iterator) is positioned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueType {
    /// The iterator is exhausted (or failed).
    None,
    /// A float sample.
    Float,
    /// A native histogram with integer counts.
    Histogram,
    /// A native histogram with float counts.
    FloatHistogram,
}

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";
