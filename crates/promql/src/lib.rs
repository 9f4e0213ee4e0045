//! PromQL for Prometheus in Rust: the query language's parser, AST and printer
//! ([`parser`]), and the engine that evaluates it against a `storage::Queryable`.
//!
//! Main types: [`parser::Expr`] (the AST, which holds no data), [`parser::parse_expr`],
//! [`ParseError`] (with the byte span of the problem) and the crate-wide [`Error`].
//!
//! # Embedding
//!
//! An [`Engine`] ([`EngineOpts`]: limits on samples, time and concurrent queries, with
//! Prometheus's defaults) evaluates queries over any storage implementing
//! `storage::Queryable`: the `tsdb` crate's `Db`, `storage::MemStorage`, a remote-read
//! client, or your own. [`Engine::instant_query`] and [`Engine::range_query`] take the
//! query text and times in milliseconds since the epoch; [`Engine::instant_query_with`]
//! and [`Engine::range_query_with`] also take [`QueryOpts`] (a deadline, a
//! [`CancelToken`]). A [`QueryResult`] holds the [`Value`] (see [`value`] for its vectors,
//! matrices and native histogram points), annotations (Prometheus's warnings and info
//! notes) and statistics. The engine is `Send + Sync` and blocking: share one as
//! `Arc<Engine>`, query from any thread (from async code, through the runtime's blocking
//! pool). Every error implements `std::error::Error + Send + Sync`. This crate re-exports
//! [`storage`] and [`model`], the crates its API names.
//!
//! A complete embedding over the TSDB (more in `cargo run -p promql --example embed_tsdb`,
//! and over the in-memory storage in `--example embed_engine`):
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, Instant};
//! use promql::{Engine, EngineOpts, QueryOpts, Value};
//! use promql::model::Labels;
//! use promql::storage::Appendable;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let dir = tempfile::tempdir()?;
//! let db = Arc::new(tsdb::Db::open(dir.path(), tsdb::Options::default())?);
//!
//! // A counter growing by 30 every 15 s: 2 per second.
//! let mut app = db.appender();
//! let series = Labels::from_pairs([("__name__", "requests_total"), ("job", "api")]);
//! for i in 0..=40 {
//!     app.append(0, &series, i * 15_000, (i * 30) as f64)?;
//! }
//! app.commit()?;
//!
//! let engine = Engine::new(EngineOpts {
//!     timeout: Duration::from_secs(30),
//!     ..EngineOpts::default()
//! });
//! let res = engine.instant_query(db.clone(), "sum by (job) (rate(requests_total[5m]))", 600_000)?;
//! let Value::Vector(vector) = res.value else { unreachable!("an aggregation is a vector") };
//! assert_eq!(vector[0].metric, Labels::from_pairs([("job", "api")]));
//! assert!((vector[0].f - 2.0).abs() < 1e-9);
//!
//! let opts = QueryOpts {
//!     deadline: Some(Instant::now() + Duration::from_secs(5)),
//!     ..QueryOpts::default()
//! };
//! let res = engine.range_query_with(db.clone(), "rate(requests_total[1m])", 300_000, 600_000, 60_000, &opts)?;
//! let Value::Matrix(matrix) = res.value else { unreachable!("range queries answer a matrix") };
//! assert_eq!(matrix[0].floats.len(), 6); // one point per step
//! assert!(res.annotations.is_empty());
//!
//! // Errors are values: here a parse error, with Prometheus's message.
//! let err = engine.instant_query(db.clone(), "rate(requests_total[5m]", 0).unwrap_err();
//! assert!(matches!(err, promql::Error::Parse(_)));
//! db.close()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Parallelism
//!
//! The engine evaluates big queries on several threads: the
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
pub use value::Value;

/// The `model` crate (labels, matchers, histograms) this crate's API names, re-exported so
/// that embedders name the same version.
pub use model;
/// The `storage` crate whose `Queryable` the engine reads, re-exported so that embedders
/// name the same version.
pub use storage;

#[cfg(test)]
mod tests {
    /// What the crate docs promise embedders: share the engine across threads, send
    /// results and options to other threads, move errors into `Box<dyn Error + Send + Sync>`.
    #[test]
    fn embedding_types_are_send_sync_and_errors_are_std_errors() {
        fn send_sync<T: Send + Sync + 'static>() {}
        fn error<T: std::error::Error + Send + Sync + 'static>() {}
        send_sync::<crate::Engine>();
        send_sync::<crate::EngineOpts>();
        send_sync::<crate::QueryOpts>();
        send_sync::<crate::QueryResult>();
        send_sync::<crate::CancelToken>();
        send_sync::<crate::parser::Expr>();
        error::<crate::Error>();
        error::<crate::ParseError>();
    }
}
