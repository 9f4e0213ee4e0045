//! The error type of the notifier crate.

/// Errors returned by the notifier crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An `alertmanagers` entry asks for an Alertmanager API other than v2.
    #[error(
        "alertmanager set {set}: api_version {version:?} is not supported (Prometheus 3 sends alerts over API v2 only)"
    )]
    UnsupportedApiVersion {
        /// The set (`config-0`, `config-1`, ... in config order).
        set: String,
        /// The configured version.
        version: String,
    },
    /// An `alertmanagers` entry uses an option this notifier cannot honour yet.
    #[error("alertmanager set {set}: {what} is not supported yet")]
    Unsupported {
        /// The set (`config-0`, ...).
        set: String,
        /// The option, e.g. `sigv4`.
        what: &'static str,
    },
    /// The HTTP client of an `alertmanagers` entry could not be built.
    #[error("alertmanager set {set}: building the HTTP client")]
    Client {
        /// The set (`config-0`, ...).
        set: String,
        /// Why the client could not be built.
        #[source]
        source: httpclient::Error,
    },
    /// A POST to an Alertmanager failed before a response arrived; worded as Go's client
    /// words it (`Post "http://am:9093/api/v2/alerts": ...`).
    #[error("{message}")]
    Send {
        /// The Alertmanager's alerts endpoint.
        url: String,
        /// What went wrong, naming the URL.
        message: String,
    },
    /// An Alertmanager answered with a status other than 2xx (Prometheus's wording; the
    /// log line it goes to names the Alertmanager).
    #[error("bad response status {status}")]
    BadStatus {
        /// The Alertmanager's alerts endpoint.
        url: String,
        /// The HTTP status.
        status: http::StatusCode,
    },
    /// A POST to an Alertmanager did not finish within the set's `timeout` (Go's words for
    /// a request whose context expired).
    #[error("Post {url:?}: context deadline exceeded")]
    Timeout {
        /// The Alertmanager's alerts endpoint.
        url: String,
        /// The set's timeout.
        timeout: std::time::Duration,
    },
}

/// The result type of the notifier crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
