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
    /// read, worded as Prometheus words it: `unable to read authorization credentials:
    /// unable to read file /x: open /x: no such file or directory`.
    #[error("unable to read {what}: unable to read file {path}: {message}")]
    ReadFile {
        /// What the file holds, e.g. `basic auth password`.
        what: &'static str,
        /// The file.
        path: String,
        /// The I/O error, as Go's `os` package words it (`open /x: no such file or directory`).
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

/// An I/O error on `path` as Go's `os` package words it: `open /x: no such file or
/// directory`.
pub(crate) fn go_io_error(op: &str, path: &str, e: &std::io::Error) -> String {
    let why = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::IsADirectory => "is a directory".to_owned(),
        std::io::ErrorKind::NotADirectory => "not a directory".to_owned(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error ") {
                Some(i) => text[..i].to_lowercase(),
                None => text,
            }
        }
    };
    format!("{op} {path}: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_files_are_worded_as_prometheus_words_them() {
        let e = std::fs::read("/nonexistent/x").expect_err("no such file");
        let err = Error::ReadFile {
            what: "authorization credentials",
            path: "/nonexistent/x".into(),
            message: go_io_error("open", "/nonexistent/x", &e),
        };
        assert_eq!(
            err.to_string(),
            "unable to read authorization credentials: unable to read file /nonexistent/x: open /nonexistent/x: no such file or directory"
        );
    }
}
