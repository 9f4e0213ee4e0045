//! Recording and alerting rules, as Prometheus's `rules/` and `model/rulefmt` packages.
//!
//! - [`rulefmt`]: rule files (YAML), strict about unknown fields, with Prometheus's
//!   validations and error texts ([`rulefmt::parse_file`], [`rulefmt::RuleGroups`]).
//! - [`Rule`]: a [`RecordingRule`] (its query's result written under a new name) or an
//!   [`AlertingRule`] (one [`Alert`] per result series: pending, firing after `for`, kept
//!   firing for `keep_firing_for`, resolved; `ALERTS` and `ALERTS_FOR_STATE` series).
//! - [`Group`]: rules evaluated in order at one timestamp ([`Group::eval`]), slotted on
//!   its interval ([`Group::eval_timestamp`]), with staleness markers for series that
//!   disappear and `for`-state restoration ([`Group::restore_for_state`]). With
//!   [`ManagerOptions::concurrent_evals`] (`concurrent-rule-eval`), rules whose
//!   dependencies allow it (Go's dependency analysis: which rule reads which rule's output)
//!   run on threads of their own while slots are free.
//! - [`Manager`]: loads files into groups ([`Manager::update`]), runs one tokio task per
//!   group once [`Manager::run`] is called, stops them ([`Manager::stop`]), and lists them
//!   for the API ([`Manager::rule_groups`]) and its metrics ([`Manager::write_metrics`]).
//!
//! Queries run through a [`QueryFn`] (usually [`engine_query_fn`]) and alerts leave
//! through a [`NotifyFn`] callback, so this crate knows neither the HTTP API nor the
//! notifier.
//!
//! ```
//! use std::sync::Arc;
//! use model::Labels;
//! use rules::{Manager, ManagerOptions, NotifyFn};
//! use storage::MemStorage;
//!
//! let db = Arc::new(MemStorage::new());
//! let engine = Arc::new(promql::Engine::new(promql::EngineOpts::default()));
//! let notify: NotifyFn = Arc::new(|_expr: &str, _alerts: &[rules::Alert]| {});
//! let opts = ManagerOptions::new(rules::engine_query_fn(engine, db.clone()), notify, db.clone(), db);
//! let manager = Manager::new(opts);
//! assert!(manager.rule_groups().is_empty());
//! let _ = Labels::empty();
//! ```

pub mod alerting;
mod error;
pub mod group;
mod manager;
mod metrics;
pub mod recording;
pub mod rule;
pub mod rulefmt;
mod ruletext;
mod tmpl;
pub mod unittest;

use std::sync::Arc;

pub use alerting::{Alert, AlertState, AlertingRule};
pub use error::{Error, Result, RuleProblem};
pub use group::{Group, group_key};
pub use manager::{Manager, ManagerOptions, expand_rule_files};
pub use recording::RecordingRule;
pub use rule::{Health, Rule};

use model::{Labels, Timestamp};
use promql::value::{Sample, Value, Vector};

/// Runs a rule's query at a time (milliseconds) and returns an instant vector (Go's
/// `QueryFunc`).
pub type QueryFn = Arc<dyn Fn(&str, Timestamp) -> Result<Vector> + Send + Sync>;

/// Receives the alerts of one alerting rule that need sending, with the rule's query
/// (Go's `NotifyFunc`). Called only with a non-empty list.
pub type NotifyFn = Arc<dyn Fn(&str, &[Alert]) + Send + Sync>;

/// A [`QueryFn`] that runs instant queries on `engine` over `queryable`, turning scalar
/// results into one-sample vectors (Go's `EngineQueryFunc`).
pub fn engine_query_fn(
    engine: Arc<promql::Engine>,
    queryable: Arc<dyn storage::Queryable>,
) -> QueryFn {
    Arc::new(move |q: &str, t: Timestamp| {
        let res = engine.instant_query(queryable.clone(), q, t)?;
        match res.value {
            Value::Vector(v) => Ok(v),
            Value::Scalar(s) => Ok(vec![Sample {
                h: None,
                metric: Labels::empty(),
                t: s.t,
                f: s.v,
                drop_name: false,
            }]),
            _ => Err(Error::Query(
                "rule result is not a vector or scalar".to_string(),
            )),
        }
    })
}

/// The path of the expression browser's table view for `expr` (Go's
/// `strutil.TableLinkForExpression`): alerts' generator URL is the external URL followed by
/// this.
pub use model::strutil::table_link_for_expression;
