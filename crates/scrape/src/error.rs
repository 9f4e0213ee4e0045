//! The error type of the scrape crate.

/// Errors returned by the scrape crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A payload could not be parsed. `message` is worded as Prometheus words it (for example
    /// `expected equal, got "c\"" ("LNAME") while parsing: "{\"a\", \"b = \"c\""`), `line`
    /// is the 1-based line of the payload where the offending entry starts.
    #[error("line {line}: {message}")]
    Parse {
        /// 1-based line number in the payload.
        line: usize,
        /// What went wrong, in Prometheus's words.
        message: String,
    },
    /// A label name appears twice in one series (Prometheus rejects such a sample).
    #[error("line {line}: label name {name:?} is not unique")]
    DuplicateLabelName {
        /// 1-based line number in the payload.
        line: usize,
        /// The repeated label name.
        name: String,
    },
    /// A metric or label name of a series is not valid UTF-8.
    #[error("line {line}: metric or label name {name} is not valid UTF-8")]
    InvalidUtf8Name {
        /// 1-based line number in the payload.
        line: usize,
        /// The name, quoted as Go's `%q` quotes bytes.
        name: String,
    },
    /// The scrape response's `Content-Type` does not select a parser (and no usable
    /// `fallback_scrape_protocol` is configured), or the fallback had to be used: the message
    /// says which, as Prometheus says it.
    #[error("{message}")]
    ContentType {
        /// What was wrong with the content type.
        message: String,
    },
    /// The selected exposition format has no parser in this crate yet.
    #[error("the {format} scrape format is not supported yet")]
    UnsupportedFormat {
        /// The media type, e.g. `application/vnd.google.protobuf`.
        format: &'static str,
    },
}

/// The result type of the scrape crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
