//! The error type of the `model` crate.

/// Errors returned by the `model` crate: invalid regexes, durations, names, relabel configs
/// and native histograms.
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
    /// A native histogram is invalid, or an operation on histograms failed.
    #[error(transparent)]
    Histogram(#[from] HistogramError),
}

/// Which of Go's `histogram.Err*` sentinel errors a [`HistogramError::Invalid`] wraps (the
/// rule a histogram broke), so callers can tell errors apart as Go's `errors.Is` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HistogramErrorKind {
    /// `ErrHistogramCountNotBigEnough`.
    CountNotBigEnough,
    /// `ErrHistogramCountMismatch`.
    CountMismatch,
    /// `ErrHistogramNegativeCount`.
    NegativeCount,
    /// `ErrHistogramNegativeBucketCount`.
    NegativeBucketCount,
    /// `ErrHistogramSpanNegativeOffset`.
    SpanNegativeOffset,
    /// `ErrHistogramSpansBucketsMismatch`.
    SpansBucketsMismatch,
    /// `ErrHistogramCustomBucketsMismatch`.
    CustomBucketsMismatch,
    /// `ErrHistogramCustomBucketsInvalid`.
    CustomBucketsInvalid,
    /// `ErrHistogramCustomBucketsInfinite`.
    CustomBucketsInfinite,
    /// `ErrHistogramCustomBucketsNaN`.
    CustomBucketsNaN,
    /// `ErrHistogramsIncompatibleSchema`.
    IncompatibleSchema,
    /// `ErrHistogramCustomBucketsZeroCount`.
    CustomBucketsZeroCount,
    /// `ErrHistogramCustomBucketsZeroThresh`.
    CustomBucketsZeroThresh,
    /// `ErrHistogramCustomBucketsNegSpans`.
    CustomBucketsNegSpans,
    /// `ErrHistogramCustomBucketsNegBuckets`.
    CustomBucketsNegBuckets,
    /// `ErrHistogramExpSchemaCustomBounds`.
    ExpSchemaCustomBounds,
    /// `ErrHistogramsInvalidSchema`.
    InvalidSchema,
    /// `ErrHistogramsUnknownSchema`.
    UnknownSchema,
}

impl HistogramErrorKind {
    /// Go's message of the sentinel error.
    pub fn message(self) -> &'static str {
        use HistogramErrorKind::*;
        match self {
            CountNotBigEnough => {
                "histogram's observation count should be at least the number of observations found in the buckets"
            }
            CountMismatch => {
                "histogram's observation count should equal the number of observations found in the buckets (in absence of NaN)"
            }
            NegativeCount => "histogram's observation count is negative",
            NegativeBucketCount => "histogram has a bucket whose observation count is negative",
            SpanNegativeOffset => "histogram has a span whose offset is negative",
            SpansBucketsMismatch => {
                "histogram spans specify different number of buckets than provided"
            }
            CustomBucketsMismatch => "histogram custom bounds are too few",
            CustomBucketsInvalid => "histogram custom bounds must be in strictly increasing order",
            CustomBucketsInfinite => "histogram custom bounds must be finite",
            CustomBucketsNaN => "histogram custom bounds must not be NaN",
            IncompatibleSchema => {
                "cannot apply this operation on histograms with a mix of exponential and custom bucket schemas"
            }
            CustomBucketsZeroCount => "custom buckets: must have zero count of 0",
            CustomBucketsZeroThresh => "custom buckets: must have zero threshold of 0",
            CustomBucketsNegSpans => "custom buckets: must not have negative spans",
            CustomBucketsNegBuckets => "custom buckets: must not have negative buckets",
            ExpSchemaCustomBounds => {
                "histogram with exponential schema must not have custom bounds"
            }
            InvalidSchema => {
                "histogram has an invalid schema, which must be between -4 and 8 for exponential buckets, or -53 for custom buckets"
            }
            UnknownSchema => {
                "histogram has an unknown schema, which must be between -9 and 52 for exponential buckets, or -53 for custom buckets"
            }
        }
    }
}

/// Errors of native histogram validation, arithmetic and the test notation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HistogramError {
    /// The histogram breaks rule `kind`; `message` is Go's full error text, context first
    /// (`positive side: spans need 2 buckets, have 1 buckets: histogram spans specify ...`).
    #[error("{message}")]
    Invalid {
        /// The rule that was broken (Go's sentinel error).
        kind: HistogramErrorKind,
        /// The full message, as Go's wrapped error prints.
        message: String,
    },
    /// The operation cannot be applied to these arguments (Go's programming errors, such as
    /// `cannot reduce resolution from schema 0 to 1`); the message is Go's.
    #[error("{0}")]
    Unsupported(String),
    /// The `{{...}}` histogram notation of the test language failed to parse.
    #[error("{0}")]
    Notation(String),
}

impl HistogramError {
    /// The error for a broken rule, with Go's wrapping context in front of the rule's
    /// message (`context: message`), or the bare message when `context` is empty.
    pub fn invalid(kind: HistogramErrorKind, context: impl Into<String>) -> HistogramError {
        let context = context.into();
        let message = if context.is_empty() {
            kind.message().to_string()
        } else {
            format!("{context}: {}", kind.message())
        };
        HistogramError::Invalid { kind, message }
    }

    /// Go's `InvalidSchemaError`: the schema is neither exponential (-4 to 8) nor custom
    /// buckets (-53).
    pub fn invalid_schema(schema: i32) -> HistogramError {
        HistogramError::Invalid {
            kind: HistogramErrorKind::InvalidSchema,
            message: format!(
                "{}, got schema {schema}",
                HistogramErrorKind::InvalidSchema.message()
            ),
        }
    }

    /// Go's `UnknownSchemaError`: the schema is not even one of the reserved ones (-9 to
    /// 52, or -53) that can be reduced to a valid one.
    pub fn unknown_schema(schema: i32) -> HistogramError {
        HistogramError::Invalid {
            kind: HistogramErrorKind::UnknownSchema,
            message: format!(
                "{}, got schema {schema}",
                HistogramErrorKind::UnknownSchema.message()
            ),
        }
    }

    /// The sentinel error this error wraps, if it is a broken rule.
    pub fn kind(&self) -> Option<HistogramErrorKind> {
        match self {
            HistogramError::Invalid { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Wraps the message in more context, as Go's `fmt.Errorf("context: %w", err)`.
    pub(crate) fn context(self, context: &str) -> HistogramError {
        match self {
            HistogramError::Invalid { kind, message } => HistogramError::Invalid {
                kind,
                message: format!("{context}: {message}"),
            },
            HistogramError::Unsupported(m) => {
                HistogramError::Unsupported(format!("{context}: {m}"))
            }
            HistogramError::Notation(m) => HistogramError::Notation(format!("{context}: {m}")),
        }
    }
}

/// The `Result` type of the `model` crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
