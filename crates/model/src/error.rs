//! The error type of the `model` crate.

/// Errors returned by the `model` crate: invalid regexes, durations, names and relabel configs.
///
/// Messages follow Prometheus's wording where users may compare them (regex and duration
/// errors are worded as Go's `regexp/syntax` and `common/model` word them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A regular expression failed to parse or compile. `code` is Go's error code text
    /// (`missing closing )`), `expr` the offending part of the expression.
    #[error("error parsing regexp: {code}: `{expr}`")]
    InvalidRegex {
        /// Go's error code text, e.g. `invalid nested repetition operator`.
        code: String,
        /// The part of the expression the error points at.
        expr: String,
    },
    /// A Prometheus duration string failed to parse; `message` is Go's message.
    #[error("{message}")]
    InvalidDuration {
        /// The input that failed to parse.
        input: String,
        /// The message, worded as `model.ParseDuration` words it.
        message: String,
    },
    /// A label name is not valid under the validation scheme in use.
    #[error("{} is not a valid label name", crate::strconv::quote(.name))]
    InvalidLabelName {
        /// The rejected name.
        name: String,
    },
    /// A metric name is not valid under the validation scheme in use.
    #[error("{} is not a valid metric name", crate::strconv::quote(.name))]
    InvalidMetricName {
        /// The rejected name.
        name: String,
    },
    /// A relabel config failed validation; the message is worded as Go's `Config.Validate`.
    #[error("{0}")]
    InvalidRelabelConfig(String),
}

/// The `Result` type of the `model` crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
