//! The error type of the httpclient crate.

/// Errors returned by the httpclient crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An HTTP client option this client does not implement yet.
    #[error("{option} is not supported yet by this server's HTTP client")]
    Unsupported {
        /// The option as written in the configuration, e.g. `oauth2`.
        option: &'static str,
    },
    /// A secret-manager reference (`*_ref`) is configured, but no secret manager is: a
    /// plain Prometheus build registers none either, and refuses the option with this text
    /// (`unable to use credentials: cannot use secret ref without manager`).
    #[error("unable to use {what}: cannot use secret ref without manager")]
    SecretRef {
        /// The secret, as Prometheus names it: `CA cert`, `client cert`, `client key`,
        /// `credentials`, `username`, `password`, `client secret`, `client certificate`.
        what: &'static str,
    },
    /// The `tls_config` cannot be used (unreadable or invalid certificate, key or CA, or an
    /// impossible TLS version range). The message is worded as Prometheus words it.
    #[error("{message}")]
    Tls {
        /// What is wrong.
        message: String,
    },
    /// A header name or value of `http_headers` (or of a credentials file) is not valid in
    /// HTTP.
    #[error("invalid header {name:?}: {message}")]
    InvalidHeader {
        /// The header name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A secret file (`password_file`, `credentials_file`, a header file, ...) could not be
    /// read when a request was about to be sent.
    #[error("unable to read {what} {path}: {message}")]
    ReadFile {
        /// Which option names the file, e.g. `basic auth password file`.
        what: &'static str,
        /// The file.
        path: String,
        /// The I/O error.
        message: String,
    },
    /// `oauth2` cannot be used (bad `token_url` or `endpoint_params`), or the token
    /// endpoint failed; the message names the endpoint.
    #[error("{message}")]
    OAuth2 {
        /// What is wrong.
        message: String,
    },
    /// `sigv4` cannot be used: no credentials or no region found, the first fetch of
    /// credentials failed, or a request cannot be signed. Worded as prometheus/sigv4 words
    /// it.
    #[error("{message}")]
    SigV4 {
        /// What is wrong.
        message: String,
    },
    /// The request failed (connection, TLS handshake, protocol), worded as Go's client words
    /// it: `Get "http://h:1/metrics": ...`.
    #[error("{method} {url:?}: {message}")]
    Request {
        /// The method, capitalized as Go prints it (`Get`, `Post`).
        method: String,
        /// The URL of the request that failed (after redirects).
        url: String,
        /// What went wrong, with its causes.
        message: String,
    },
}

/// The result type of the httpclient crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
