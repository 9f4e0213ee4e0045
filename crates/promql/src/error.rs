//! Errors returned by the PromQL parser and engine.

use std::fmt;

/// A PromQL parse error: what went wrong and where (byte offsets into the query).
///
/// `Display` reads like Prometheus's `ParseErr`: `1:5: parse error: unexpected ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset range `[start, end)` of the offending text in the query.
    pub span: std::ops::Range<usize>,
    /// The message, without position prefix (e.g. `unexpected end of input`).
    pub message: String,
    /// The query the error refers to (used to compute line and column).
    pub query: String,
    /// Line offset added when the query was embedded in a larger text (test scripts).
    pub line_offset: usize,
}

impl ParseError {
    /// The 1-based line and column of the start of the span, counted in bytes as Go's
    /// `PositionRange.StartPosInput` does.
    pub fn position(&self) -> (usize, usize) {
        let pos = self.span.start.min(self.query.len());
        let before = &self.query.as_bytes()[..pos];
        match before.iter().rposition(|&b| b == b'\n') {
            None => (self.line_offset + 1, pos + 1),
            Some(last) => {
                let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
                (line + self.line_offset, pos - last)
            }
        }
    }

    /// The same error reported against `query` (the text its span points into).
    pub fn with_query(mut self, query: &str) -> ParseError {
        self.query = query.to_string();
        self
    }

    /// The same error with its line shifted by `lines` (for queries embedded in a larger
    /// text such as a test script).
    pub fn with_line_offset(mut self, lines: usize) -> ParseError {
        self.line_offset = lines;
        self
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.query.is_empty() {
            return write!(f, "unknown position: parse error: {}", self.message);
        }
        let (line, col) = self.position();
        write!(f, "{line}:{col}: parse error: {}", self.message)
    }
}

impl std::error::Error for ParseError {}

/// Everything that can fail in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The query text is not valid PromQL.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The query ran longer than the engine's timeout (`where` names the phase).
    #[error("query timed out in {0}")]
    Timeout(String),
    /// The caller cancelled the query.
    #[error("query was canceled in {0}")]
    Canceled(String),
    /// A speculative run gave up at its [`QueryOpts::budget`](crate::engine::QueryOpts::budget)
    /// (or at once, finding the engine at its concurrency limit); the query left no trace
    /// and can be run again without a budget.
    #[error("query did not finish within its evaluation budget")]
    OverBudget,
    /// The query would hold more samples in memory than the engine allows.
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(String),
    /// The storage failed while the query read from it.
    #[error(transparent)]
    Storage(#[from] storage::Error),
    /// Evaluation failed; the message is Prometheus's (e.g. "vector cannot contain metrics
    /// with the same labelset").
    #[error("{0}")]
    Eval(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
