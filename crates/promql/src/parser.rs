//! The PromQL parser: lexer, AST, printer and function table (mirrors Go's promql/parser).
//!
//! Structure:
//! - [`lex`]: a hand-written lexer (Go's `lex.go` modes) whose small recognisers
//!   (identifiers, spaces, comments) are nom parsers; it yields [`lex::Token`]s with byte
//!   positions;
//! - [`parse`]: a precedence-climbing (Pratt) parser over the tokens that builds the [`ast`]
//!   and then type-checks it like Go's `checkAST`;
//! - [`printer`]: `Display for Expr` (Go's `String()`) and [`prettify`] (Go's `Pretty`);
//! - [`functions`]: the function table;
//! - [`series`]: `load` line descriptions for the test language (Go's `ParseSeriesDesc`),
//!   parsed with nom.
//!
//! Experimental syntax (duration expressions, `anchored`/`smoothed`, `fill` modifiers,
//! experimental functions) is accepted by [`parse_expr`]; [`parse_expr_with`] and
//! [`ParseOptions`] turn it off as Prometheus's feature flags do.

pub mod ast;
pub mod functions;
pub mod lex;
pub mod parse;
pub mod printer;
pub mod series;

pub use ast::*;
pub use functions::{FUNCTIONS, Function, get_function};
pub use parse::{
    MAX_NESTING, ParseOptions, parse_expr, parse_expr_with, parse_metric_selector, parse_number,
    unquote,
};
pub use printer::{format_float, format_float_f, matcher_string, prettify, prettify_width};
pub use series::{MAX_SERIES_VALUES, SequenceValue, parse_metric, parse_series_desc};

#[cfg(test)]
mod tests;
