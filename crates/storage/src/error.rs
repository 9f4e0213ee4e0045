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
    /// A created-timestamp zero sample ([`crate::Appender::append_ct_zero_sample`]) would
    /// be older than the newest sample of its series: not appended, normally ignored.
    #[error("created timestamp out of order, ignoring")]
    OutOfOrderCt,
    /// A created timestamp is not before its sample's timestamp.
    #[error("CT is newer or the same as sample's timestamp, ignoring")]
    CtNewerThanSample,
    /// An exemplar is older than the newest exemplar of its series.
    #[error("out of order exemplar")]
    OutOfOrderExemplar,
    /// An exemplar repeats the newest exemplar of its series.
    #[error("duplicate exemplar")]
    DuplicateExemplar,
    /// An exemplar's label names and values are longer than
    /// [`crate::EXEMPLAR_MAX_LABEL_SET_LENGTH`] characters together.
    #[error("label length for exemplar exceeds maximum of 128 UTF-8 characters")]
    ExemplarLabelLength,
    /// The storage does not keep native histograms.
    #[error("native histograms are not supported by this storage")]
    NativeHistogramsUnsupported,
    /// The storage keeps no exemplars (none at all, or its exemplar storage has size 0).
    #[error("exemplar storage is disabled or max exemplars is less than or equal to 0")]
    ExemplarsDisabled,
    /// A label set is not acceptable (empty, duplicate names, empty names).
    #[error("invalid labels {labels}: {reason}")]
    InvalidLabels {
        /// The offending label set, printed like Prometheus prints label sets.
        labels: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A native histogram fails validation (Go's histogram errors: spans and buckets
    /// disagree, negative bucket counts, a count below the buckets' total, a custom-bucket
    /// histogram with bad bounds, ...). Remote-write receivers answer it with HTTP 400.
    #[error("invalid histogram: {0}")]
    InvalidHistogram(String),
    /// The storage is not ready yet (for example the TSDB is still replaying its WAL).
    #[error("TSDB not ready")]
    NotReady,
    /// The query or append was cancelled by the caller.
    #[error("operation cancelled")]
    Cancelled,
    /// A remote-write or remote-read request (or response) is malformed: bad snappy, bad
    /// protobuf, invalid labels or unsupported options. Servers answer it with HTTP 400.
    #[error("invalid remote {what}: {reason}")]
    InvalidRemoteRequest {
        /// What was being decoded or checked (for example `write request`).
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Some samples of a remote-write request were rejected (out of order, out of bounds,
    /// duplicates); the rest were committed. Prometheus answers this with HTTP 400.
    #[error("{rejected} of the request's samples were rejected, the first with: {first}")]
    SamplesRejected {
        /// How many samples were rejected.
        rejected: usize,
        /// The first rejection, with its series.
        first: String,
    },
    /// A remote endpoint answered with an HTTP error status.
    #[error("server returned HTTP status {status} from {url}: {body}")]
    RemoteStatus {
        /// The endpoint.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// A remote endpoint could not be reached, or the request timed out.
    #[error("request to {url} failed: {reason}")]
    RemoteRequest {
        /// The endpoint.
        url: String,
        /// The transport failure.
        reason: String,
    },
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

#[cfg(all(test, feature = "remote"))]
mod tests {
    use super::*;

    #[test]
    fn invalid_histograms_are_bad_requests_for_remote_write() {
        let e =
            Error::InvalidHistogram("histogram's observation count should be at least 5".into());
        assert_eq!(
            e.to_string(),
            "invalid histogram: histogram's observation count should be at least 5"
        );
        assert_eq!(crate::remote::write_response_status::<()>(&Err(e)), 400);
    }
}
