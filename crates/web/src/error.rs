//! Errors of the web crate, and the one mapping from API errors to HTTP status and
//! Prometheus's `errorType`.

use http::StatusCode;

/// What can fail while setting up or running the web server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listen address could not be bound.
    #[error("listening on {address}")]
    Listen {
        /// The address from `--web.listen-address`.
        address: String,
        /// Why binding failed.
        #[source]
        source: std::io::Error,
    },
    /// The web config file (`--web.config.file`) could not be read.
    #[error("reading web config file {}", path.display())]
    WebConfigRead {
        /// The file.
        path: std::path::PathBuf,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },
    /// The web config file is invalid, or asks for something this server does not support.
    #[error("web config file {}: {message}", path.display())]
    WebConfig {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong, naming the field.
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Prometheus's API error types (web/api/v1/api.go), each with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// A request parameter is malformed (400).
    BadData,
    /// The query failed while running (422).
    Execution,
    /// The query ran out of time (503).
    Timeout,
    /// The query was cancelled (503).
    Canceled,
    /// The server failed (500).
    Internal,
    /// The thing asked for does not exist (404).
    NotFound,
    /// The storage is not ready yet (503).
    Unavailable,
    /// The endpoint's feature is not built into this server yet (501, `unavailable`).
    NotImplemented,
}

impl ErrorType {
    /// The `errorType` field of the response.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
            ErrorType::Internal => "internal",
            ErrorType::NotFound => "not_found",
            ErrorType::Unavailable | ErrorType::NotImplemented => "unavailable",
        }
    }

    /// The HTTP status of the response. This is the only place the API chooses one.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            // As Prometheus's respondError: nginx's "client closed request".
            ErrorType::Canceled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            // Prometheus has no case for `unavailable` and falls through to 500.
            ErrorType::Internal | ErrorType::Unavailable => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
            ErrorType::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        }
    }
}

/// An error answered by an API endpoint: a type and Prometheus's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The error's type, which decides the HTTP status.
    pub kind: ErrorType,
    /// The `error` field of the response.
    pub message: String,
}

impl ApiError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorType, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    /// A `bad_data` error.
    pub fn bad_data(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorType::BadData, message)
    }

    /// Go's `invalidParamError`: `invalid parameter "time": <cause>` as `bad_data`.
    pub fn invalid_param(param: &str, cause: impl std::fmt::Display) -> ApiError {
        ApiError::bad_data(format!("invalid parameter \"{param}\": {cause}"))
    }

    /// The answer of an endpoint whose feature this server does not have yet.
    pub fn not_implemented(feature: &str) -> ApiError {
        ApiError::new(
            ErrorType::NotImplemented,
            format!("{feature} is not available yet in this server"),
        )
    }
}

impl From<promql::Error> for ApiError {
    /// As Go's `returnAPIError`: cancellation and timeouts keep their type, storage failures
    /// are internal (a storage that is not ready yet is unavailable), everything else is an
    /// execution error.
    fn from(err: promql::Error) -> ApiError {
        let kind = match &err {
            promql::Error::Parse(_) => ErrorType::BadData,
            promql::Error::Timeout(_) => ErrorType::Timeout,
            promql::Error::Canceled(_) => ErrorType::Canceled,
            promql::Error::Storage(storage::Error::NotReady) => ErrorType::Unavailable,
            promql::Error::Storage(_) => ErrorType::Internal,
            _ => ErrorType::Execution,
        };
        ApiError::new(kind, err.to_string())
    }
}

impl From<storage::Error> for ApiError {
    fn from(err: storage::Error) -> ApiError {
        let kind = match &err {
            storage::Error::NotReady => ErrorType::Unavailable,
            storage::Error::Cancelled => ErrorType::Canceled,
            _ => ErrorType::Internal,
        };
        ApiError::new(kind, err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_map_to_prometheus_statuses() {
        let cases = [
            (ErrorType::BadData, 400, "bad_data"),
            (ErrorType::Execution, 422, "execution"),
            (ErrorType::Timeout, 503, "timeout"),
            (ErrorType::Canceled, 499, "canceled"),
            (ErrorType::Internal, 500, "internal"),
            (ErrorType::NotFound, 404, "not_found"),
            (ErrorType::Unavailable, 500, "unavailable"),
            (ErrorType::NotImplemented, 501, "unavailable"),
        ];
        for (kind, status, name) in cases {
            assert_eq!(kind.status().as_u16(), status);
            assert_eq!(kind.as_str(), name);
        }
    }

    #[test]
    fn engine_errors_keep_their_kind() {
        let err = ApiError::from(promql::Error::Timeout("query execution".into()));
        assert_eq!(err.kind, ErrorType::Timeout);
        assert_eq!(err.message, "query timed out in query execution");
        let err = ApiError::from(promql::Error::Storage(storage::Error::NotReady));
        assert_eq!(err.kind, ErrorType::Unavailable);
        let err = ApiError::from(promql::Error::Eval("boom".into()));
        assert_eq!(err.kind, ErrorType::Execution);
    }
}
