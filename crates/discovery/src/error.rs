//! The error type of the discovery crate.

/// Errors returned by the discovery crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A service-discovery mechanism of the configuration has no provider in this crate yet.
    #[error("{key} in job {job:?} is not supported yet")]
    Unsupported {
        /// The configuration key, e.g. `kubernetes_sd_configs`.
        key: &'static str,
        /// The job (or Alertmanager set) that uses it.
        job: String,
    },
    /// A supported mechanism is configured with an option (or role) this crate does not
    /// implement.
    #[error("{key} in job {job:?}: {option} is not supported yet")]
    UnsupportedOption {
        /// The configuration key, e.g. `kubernetes_sd_configs`.
        key: &'static str,
        /// The job (or Alertmanager set) that uses it.
        job: String,
        /// The option, e.g. a Kubernetes role this crate does not know.
        option: String,
    },
    /// The HTTP client options of an SD block cannot be used (unreadable TLS files, options
    /// the shared HTTP client does not implement).
    #[error("{key} in job {job:?}: {error}")]
    HttpClient {
        /// The configuration key, e.g. `http_sd_configs`.
        key: &'static str,
        /// The job (or Alertmanager set) that uses it.
        job: String,
        /// What is wrong with the options.
        error: httpclient::Error,
    },
    /// A provider cannot be created from its configuration (for instance a server address
    /// it cannot use).
    #[error("{key} in job {job:?}: {message}")]
    Provider {
        /// The configuration key, e.g. `consul_sd_configs`.
        key: &'static str,
        /// The job (or Alertmanager set) that uses it.
        job: String,
        /// What is wrong.
        message: String,
    },
    /// Providers are tasks: the manager must be used inside a Tokio runtime.
    #[error("the discovery manager must run inside a Tokio runtime")]
    NoRuntime,
    /// A file_sd file could not be read or parsed.
    #[error("reading file_sd file {path}: {message}")]
    ReadFile {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// The result type of the discovery crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
