//! Errors returned through the storage traits.

/// An error from appending to or querying a storage.
///
/// The first variants mirror Prometheus's sentinel errors (storage/interface.go) so that
/// callers such as the scrape loop can count and report them the way Prometheus does.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A sample is older than the newest sample of its series (and out-of-order ingestion
    /// is off or the sample is outside the window).
    #[error("out of order sample")]
    OutOfOrderSample,
    /// A sample is outside the time range the storage accepts appends for.
    #[error("out of bounds")]
    OutOfBounds,
    /// A sample is older than the out-of-order window allows.
    #[error("too old sample")]
    TooOldSample,
    /// A sample has the timestamp of an existing sample of its series but another value.
    #[error("duplicate sample for timestamp")]
    DuplicateSampleForTimestamp,
    /// A label set is not acceptable (empty, duplicate names, empty names).
    #[error("invalid labels {labels}: {reason}")]
    InvalidLabels {
        /// The offending label set, printed like Prometheus prints label sets.
        labels: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The storage is not ready yet (for example the TSDB is still replaying its WAL).
    #[error("TSDB not ready")]
    NotReady,
    /// The query or append was cancelled by the caller.
    #[error("operation cancelled")]
    Cancelled,
    /// Any other failure of the storage implementation (I/O, corruption, remote errors).
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Wraps an implementation's own error.
    pub fn backend(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Backend(Box::new(err))
    }
}

/// The result type of the storage traits.
pub type Result<T, E = Error> = std::result::Result<T, E>;
