//! Errors of parsing and expanding templates, worded exactly as Go's and Prometheus's.

/// A template failed to parse or to execute. `Display` prints Go's text, so that alert
/// annotations that embed it (`<error expanding template: ...>`) read as Prometheus's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text does not parse; what [`check`](crate::check) returns:
    /// `template: NAME:LINE: MESSAGE`.
    #[error("template: {name}:{line}: {message}")]
    Syntax {
        /// The template's name.
        name: String,
        /// The line (1-based) Go reports.
        line: usize,
        /// Go's message, e.g. `unexpected "}" in operand`.
        message: String,
    },
    /// [`expand`](crate::expand) could not parse the text:
    /// `error parsing template NAME: template: NAME:LINE: MESSAGE`.
    #[error("error parsing template {name}: template: {name}:{line}: {message}")]
    Parse {
        /// The template's name.
        name: String,
        /// The line (1-based) Go reports.
        line: usize,
        /// Go's message.
        message: String,
    },
    /// Execution failed: `error executing template NAME: template: LOCATION: executing
    /// "TEMPLATE" at <CONTEXT>: MESSAGE`.
    #[error(
        "error executing template {name}: template: {location}: executing {} at <{context}>: {message}",
        model::strconv::quote(.template)
    )]
    Execute {
        /// The name given to `expand`.
        name: String,
        /// `NAME:LINE:COLUMN` of the node being evaluated (column is a 0-based byte
        /// offset, as Go counts it; positions include the `$labels`... prelude).
        location: String,
        /// The (possibly `define`d) template executing.
        template: String,
        /// The node being evaluated, as template text.
        context: String,
        /// What went wrong, e.g. `error calling first: first() called on vector with no
        /// elements`.
        message: String,
    },
}
