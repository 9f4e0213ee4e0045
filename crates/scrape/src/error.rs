//! The error type of the scrape crate.

/// Errors returned by the scrape crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A payload could not be parsed. `message` is worded as Prometheus words it (for example
    /// `expected equal, got "c\"" ("LNAME") while parsing: "{\"a\", \"b = \"c\""`), `line`
    /// is the 1-based line of the payload where the offending entry starts (not in the
    /// message: the target's last error reads as Prometheus's).
    #[error("{message}")]
    Parse {
        /// 1-based line number in the payload.
        line: usize,
        /// What went wrong, in Prometheus's words.
        message: String,
    },
    /// A label name appears twice in one series (Prometheus rejects such a sample, with the
    /// head appender's message).
    #[error("label name \"{name}\" is not unique: invalid sample")]
    DuplicateLabelName {
        /// 1-based line number in the payload.
        line: usize,
        /// The repeated label name.
        name: String,
    },
    /// A metric or label name of a series is not valid UTF-8.
    #[error("metric or label name {name} is not valid UTF-8")]
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
    /// A configuration option that scraping does not implement yet.
    #[error("{what} in job {job:?} is not supported yet")]
    Unsupported {
        /// The option, e.g. `oauth2`.
        what: String,
        /// The scrape job.
        job: String,
    },
    /// The scrape request failed (connection, timeout, protocol), worded as Go's client
    /// words it: `Get "http://h:1/metrics": context deadline exceeded`.
    #[error("Get {url:?}: {message}")]
    Http {
        /// The scrape URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The target answered with a status other than 200.
    #[error("server returned HTTP status {status}")]
    HttpStatus {
        /// Code and reason, e.g. `500 Internal Server Error`.
        status: String,
    },
    /// The (decompressed) body exceeded `body_size_limit`.
    #[error("body size limit exceeded")]
    BodySizeLimit,
    /// A gzip-encoded body could not be decompressed.
    #[error("decompressing gzip scrape body: {message}")]
    Decompress {
        /// What went wrong.
        message: String,
    },
    /// A protobuf scrape body is malformed: bytes that do not decode, or an invalid metric
    /// name, label, type or unit. The message says what, and in which metric family.
    #[error("{message}")]
    Protobuf {
        /// What is wrong, and where.
        message: String,
    },
    /// A native histogram has more buckets than `native_histogram_bucket_limit` even at the
    /// lowest resolution (or has custom buckets, which cannot be merged).
    #[error("histogram bucket limit exceeded")]
    BucketLimit,
    /// More samples than `sample_limit` remained after metric relabeling.
    #[error("sample limit exceeded")]
    SampleLimit,
    /// A series broke `label_limit`, `label_name_length_limit` or
    /// `label_value_length_limit` (the message says which, as Prometheus says it).
    #[error("{message}")]
    LabelLimit {
        /// Prometheus's message.
        message: String,
    },
    /// Metric relabeling removed `__name__` from a series and kept it.
    #[error("missing metric name (__name__ label)")]
    MissingMetricName,
    /// The job has more targets than `target_limit`.
    #[error("target_limit exceeded (number of targets: {count}, limit: {limit})")]
    TargetLimit {
        /// Targets discovered.
        count: usize,
        /// The limit.
        limit: u64,
    },
    /// The storage refused an append or commit.
    #[error("appending to storage: {message}")]
    Storage {
        /// The storage's error.
        message: String,
    },
    /// A job's HTTP client options cannot be used (an unreadable or invalid `tls_config`
    /// file, an invalid `http_headers` entry).
    #[error("error creating HTTP client for job {job:?}: {message}")]
    Tls {
        /// The scrape job.
        job: String,
        /// What is wrong.
        message: String,
    },
    /// Scrape loops are tasks: the manager must be used inside a Tokio runtime.
    #[error("the scrape manager must run inside a Tokio runtime")]
    NoRuntime,
}

/// The result type of the scrape crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
