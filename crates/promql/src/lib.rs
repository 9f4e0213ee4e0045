//! PromQL for Prometheus in Rust: the query language's parser, AST and printer
//! ([`parser`]), and the engine that evaluates it against a `storage::Queryable`.
//!
//! Main types: [`parser::Expr`] (the AST, which holds no data), [`parser::parse_expr`],
//! [`ParseError`] (with the byte span of the problem) and the crate-wide [`Error`].
//!
//! The engine ([`Engine`], [`EngineOpts`]) evaluates big queries on several threads: the
//! per-series work of a selection (decoding samples, a range function's window, an instant
//! selector's lookback) runs on up to [`EngineOpts::parallelism`] threads once it exceeds
//! [`EngineOpts::parallel_threshold`], while aggregation, operators and output order stay
//! serial, so results are bit-identical to serial evaluation. `parallelism: 1` evaluates
//! every query on the caller's thread.
//!
//! ```
//! let expr = promql::parser::parse_expr("sum by (job) (rate(http_requests_total[5m]))")
//!     .expect("valid PromQL");
//! assert_eq!(expr.to_string(), "sum by (job) (rate(http_requests_total[5m]))");
//! ```

#![warn(missing_docs)]

pub mod engine;
pub mod error;
mod functions;
pub mod parser;
pub mod value;

pub use engine::{
    CancelToken, Engine, EngineOpts, JsonFileLogger, QueryLogEntry, QueryLogger, QueryOpts,
    QueryOrigin, QueryResult, QueryStats, QueryTimings,
};
pub use error::{Error, ParseError, Result};
