//! The PromQL parser: lexer, AST, printer and function table (mirrors Go's promql/parser).
//!
//! Structure:
//! - [`lex`]: a hand-written lexer (Go's `lex.go` state machine rewritten as small nom
//!   recognisers) producing [`lex::Token`]s with byte positions;
//! - [`parse`]: a precedence-climbing (Pratt) parser over the tokens that builds the
//!   [`ast`] and then type-checks it like Go's `checkAST`;
//! - [`printer`]: `Display for Expr` (Go's `String()`) and [`prettify`] (Go's `Pretty`);
//! - [`functions`]: the function table;
//! - [`series`]: `load` line descriptions for the test language (Go's `ParseSeriesDesc`).

pub mod ast;
pub mod functions;

pub use ast::*;
pub use functions::{FUNCTIONS, Function, get_function};
