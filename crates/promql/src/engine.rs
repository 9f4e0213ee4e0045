//! The PromQL evaluation engine (mirrors Go's promql/engine.go): instant and range queries
//! over any `storage::Queryable`, with limits on samples, time, cancellation and concurrency.
//!
//! A query opens one querier for its whole time range and selects each selector's series
//! once; every node is then evaluated for all steps at once (range vectors as sliding
//! windows over the loaded samples), as Prometheus does.
//!
//! Big selections use several threads ([`EngineOpts::parallelism`]): a selection's first
//! series are evaluated on the query's thread; once they add up to
//! [`EngineOpts::parallel_threshold`], the remaining series are decoded and run through
//! their range function (or instant selector lookback) on worker threads, in batches, and
//! their outputs go to the serial rest of the query (aggregation, binary operators, output
//! order) in series order. What each series did to the query's accounting (samples held
//! against `max_samples`, statistics, annotations, errors) is replayed in that order too,
//! so results, errors and statistics are the same as with `parallelism: 1`, bit for bit.
//!
//! ```
//! use std::sync::Arc;
//! use model::Labels;
//! use promql::{Engine, EngineOpts, value::Value};
//! use storage::{Appendable, MemStorage};
//!
//! let db = Arc::new(MemStorage::new());
//! let mut app = db.appender();
//! let s = Labels::from_pairs([("__name__", "requests_total"), ("job", "api")]);
//! for i in 0..=20 {
//!     app.append(0, &s, i * 15_000, (i * 30) as f64).unwrap();
//! }
//! app.commit().unwrap();
//!
//! let engine = Engine::new(EngineOpts::default());
//! let res = engine.instant_query(db, "rate(requests_total[1m])", 300_000).unwrap();
//! let Value::Vector(v) = res.value else { panic!("a vector") };
//! assert_eq!(v[0].metric, Labels::from_pairs([("job", "api")]));
//! assert!((v[0].f - 2.0).abs() < 1e-9);
//! ```

mod aggregation;
mod binop;
pub(crate) mod eval;
pub(crate) mod hist;
mod metrics;
#[cfg(test)]
mod order_tests;
mod parallel;
mod querylog;
pub(crate) mod stats;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use model::Matcher;
use storage::{Queryable, SelectHints};

use crate::parser::{self, AtModifier, Expr};
use crate::value::{Annotations, Value};
use crate::{Error, Result};

pub(crate) use eval::Evaluator;
pub use querylog::{
    FloatStyle, JsonFileLogger, OriginGuard, QueryLogEntry, QueryLogger, QueryOrigin, QueryTimings,
    write_stats_json,
};

/// Options of an [`Engine`] (Go's `EngineOpts`). The `@` modifier and negative offsets are
/// always enabled, as in Prometheus 3.
#[derive(Debug, Clone)]
pub struct EngineOpts {
    /// The most samples a query may hold in memory at once (Go's `--query.max-samples`).
    pub max_samples: usize,
    /// The longest a query may run (Go's `--query.timeout`).
    pub timeout: Duration,
    /// How far back an instant selector looks for a sample (default 5m).
    pub lookback_delta: Duration,
    /// How many queries may run at once (`None`: unlimited). Further queries wait.
    pub max_concurrency: Option<usize>,
    /// The step of a subquery without an explicit step, in milliseconds (default 1m, the
    /// default global evaluation interval).
    pub no_step_subquery_interval: i64,
    /// Remove `__name__` only at the end of evaluation (Prometheus's
    /// `promql-delayed-name-removal` feature).
    pub enable_delayed_name_removal: bool,
    /// Allow queries to ask for per-step sample statistics
    /// ([`QueryOpts::enable_per_step_stats`]; Prometheus's `promql-per-step-stats` feature).
    pub enable_per_step_stats: bool,
    /// Use the samples' start timestamps ([`storage::SampleIterator::at_st`]): `rate`,
    /// `irate`, `increase` and `resets` see start-timestamp resets and a counter starting
    /// inside the range, and `start_timestamp()` returns them (Prometheus's
    /// `use-start-timestamps` feature). Off, start timestamps are not even read and
    /// `start_timestamp()` returns nothing.
    pub enable_start_timestamps: bool,
    /// The most threads one query evaluates series on, its own included (default: the
    /// available parallelism, at most [`DEFAULT_MAX_PARALLELISM`]; `0` and `1`: serially,
    /// on the caller's thread). The per-series work of a selection (reading and decoding
    /// samples, a range function's sliding window such as `rate`'s, an instant selector's
    /// lookback) runs on worker threads once the selection is big enough
    /// ([`EngineOpts::parallel_threshold`]); aggregation, binary operators and output
    /// order stay serial in series order, so results are bit-identical to serial
    /// evaluation, and so are errors, `max_samples`, statistics and annotations. Queries
    /// keeping per-step statistics run serially.
    pub parallelism: usize,
    /// How much work a selection must have shown before it goes parallel, in samples read
    /// plus steps evaluated (default [`DEFAULT_PARALLEL_THRESHOLD`], about two
    /// milliseconds of serial work). The first series up to the threshold are evaluated
    /// serially, so small queries never start a thread. Selections whose series average
    /// fewer than 128 samples read plus steps (instant queries over short ranges) stay
    /// serial too: reading series from storage and the serial stage would take as long as
    /// the part threads share. `0` makes every selection of more than one series parallel
    /// (for tests).
    pub parallel_threshold: usize,
}

/// The most points per series the HTTP API lets a range query ask for (Go's
/// `"exceeded maximum resolution of 11,000 points per timeseries"`).
pub(crate) const API_MAX_POINTS: usize = 11_000;

/// The farthest query time from the epoch the engine evaluates at (ms, about 256 million
/// years, where i64 milliseconds end at 292 million): the margin of 2^60 ms holds any
/// sum of PromQL durations (each at most Go's 292 years) a query can nest.
const MAX_QUERY_TIME: i64 = i64::MAX - (1 << 60);

/// The cap on [`EngineOpts::parallelism`]'s default: the serial stage (reading series,
/// aggregating) limits what more threads gain, and a server runs several queries at once.
pub const DEFAULT_MAX_PARALLELISM: usize = 4;

/// The default [`EngineOpts::parallel_threshold`].
pub const DEFAULT_PARALLEL_THRESHOLD: usize = 100_000;

impl Default for EngineOpts {
    fn default() -> Self {
        EngineOpts {
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            lookback_delta: Duration::from_secs(300),
            max_concurrency: None,
            no_step_subquery_interval: 60_000,
            enable_delayed_name_removal: false,
            enable_per_step_stats: false,
            enable_start_timestamps: false,
            parallelism: std::thread::available_parallelism()
                .map_or(1, |n| n.get().min(DEFAULT_MAX_PARALLELISM)),
            parallel_threshold: DEFAULT_PARALLEL_THRESHOLD,
        }
    }
}

/// Lets a caller abort a running query from another thread.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Asks every query holding this token to stop ("query was canceled ...").
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Per-query options.
#[derive(Debug, Clone, Default)]
pub struct QueryOpts {
    /// Overrides the engine's lookback delta for this query.
    pub lookback_delta: Option<Duration>,
    /// Cancels the query when triggered.
    pub cancel: Option<CancelToken>,
    /// Keep per-step sample statistics ([`QueryStats::total_samples_per_step`]); only
    /// honoured when the engine allows it ([`EngineOpts::enable_per_step_stats`]), as the
    /// API's `stats=all` with Prometheus's `promql-per-step-stats` feature.
    pub enable_per_step_stats: bool,
    /// Stop the query with a timeout error at this instant, if that comes before the
    /// engine's timeout (the API's `timeout` parameter, Go's context deadline).
    pub deadline: Option<Instant>,
    /// Where the query came from, for the query log (`None`: the origin the calling thread
    /// [entered](QueryOrigin::enter), if any).
    pub origin: Option<Arc<QueryOrigin>>,
    /// Run speculatively: give up with [`Error::OverBudget`] once evaluation took this
    /// long, or at once when the engine is at its concurrency limit (instead of waiting
    /// for a slot). A query that gives up leaves no trace: no query log entry, no engine
    /// metrics. For callers on a thread that must not block for long (an async runtime's)
    /// that answer small queries there and hand the rest to a thread of their own.
    pub budget: Option<Duration>,
}

/// Sample statistics of one query (Go's `stats.QuerySamples`), counted as Prometheus counts
/// them: per evaluation step, as if each step ran as an instant query.
///
/// An instant selector counts one sample per series with a point at the step; a range
/// function counts its whole window at every step (so overlapping windows count a sample
/// again); a part evaluated once for all steps (`@`, constant subexpressions) counts its
/// samples at every step; a subquery counts through the function consuming its output (its
/// output points in each window); a top-level matrix selector counts its points.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Samples looked at, summed over all steps (Go's `totalQueryableSamples`).
    pub total_samples: u64,
    /// `total_samples` per step as `(step time in ms, count)`, when per-step statistics
    /// were asked for and allowed (Go's `totalQueryableSamplesPerStep`).
    pub total_samples_per_step: Option<Vec<(i64, u64)>>,
    /// Samples read (Go's `samplesRead`): like `total_samples`, but a range function counts
    /// at each step only the points its window adds over the previous step's window, a part
    /// evaluated once counts once (at the first step), and a subquery's reads count once,
    /// at the first step whose window consumes them.
    pub samples_read: u64,
    /// `samples_read` per step, when per-step statistics were asked for and allowed (Go's
    /// `samplesReadPerStep`).
    pub samples_read_per_step: Option<Vec<(i64, u64)>>,
    /// The most samples held in memory at once (Go's `peakSamples`, the figure
    /// `max_samples` limits).
    pub peak_samples: usize,
}

/// The outcome of a successful query.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The value: a vector, scalar, string or matrix for instant queries, a matrix for range
    /// queries.
    pub value: Value,
    /// Warnings and info notes.
    pub annotations: Annotations,
    /// Sample statistics.
    pub stats: QueryStats,
    /// Where the query's time went.
    pub timings: QueryTimings,
}

/// The PromQL engine. Cheap to share between threads (`&Engine` or `Arc<Engine>`).
#[derive(Debug)]
pub struct Engine {
    opts: EngineOpts,
    /// Concurrency slots in use, and how many queries wait for one.
    slots: Mutex<Slots>,
    slot_freed: Condvar,
    metrics: metrics::EngineMetrics,
    query_logger: querylog::LoggerSlot,
}

/// The functions whose value depends on the evaluation time even when their arguments do not
/// (Go's `AtModifierUnsafeFunctions`).
pub const AT_MODIFIER_UNSAFE_FUNCTIONS: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
];

impl Engine {
    /// A new engine.
    pub fn new(opts: EngineOpts) -> Engine {
        let mut opts = opts;
        if opts.lookback_delta.is_zero() {
            opts.lookback_delta = Duration::from_secs(300);
        }
        Engine {
            opts,
            slots: Mutex::new(Slots::default()),
            slot_freed: Condvar::new(),
            metrics: metrics::EngineMetrics::default(),
            query_logger: querylog::LoggerSlot::default(),
        }
    }

    /// Sets the query logger (Go's `SetQueryLogger`): every query that reaches evaluation
    /// is then logged when it ends, failed ones too; `None` turns the log off. A replaced
    /// logger is dropped once the queries logging to it are done (a [`JsonFileLogger`]
    /// closes its file then). Shown in `prometheus_engine_query_log_enabled`.
    pub fn set_query_logger(&self, logger: Option<Arc<dyn QueryLogger>>) {
        let enabled = self.query_logger.set(logger);
        self.metrics.set_query_log_enabled(enabled);
    }

    /// Whether a query logger is set: a caller can skip working out
    /// [`QueryOpts::origin`] when nothing will log it.
    pub fn logs_queries(&self) -> bool {
        self.query_logger.get().is_some()
    }

    /// Appends the engine's own metrics in the text exposition format, as Prometheus's
    /// engine registers them: `prometheus_engine_queries`,
    /// `prometheus_engine_queries_concurrent_max` (-1 without a limit),
    /// `prometheus_engine_query_duration_seconds{slice=...}`,
    /// `prometheus_engine_query_log_enabled`, `prometheus_engine_query_log_failures_total`
    /// and `prometheus_engine_query_samples_total`.
    pub fn write_metrics(&self, out: &mut String) {
        self.metrics.write(out, self.opts.max_concurrency);
    }

    /// The engine's options.
    pub fn opts(&self) -> &EngineOpts {
        &self.opts
    }

    /// Evaluates `query` at time `t` (ms since the epoch), under the engine's limits. The
    /// value is a [`Value::Vector`], [`Value::Scalar`], [`Value::String`] or (for a range
    /// selector such as `up[5m]`) a [`Value::Matrix`].
    ///
    /// `queryable` is any storage: an `Arc<tsdb::Db>` or `Arc<storage::MemStorage>`
    /// coerces to `Arc<dyn Queryable>` at the call (clone the `Arc` to keep yours).
    ///
    /// # Errors
    /// [`Error::Parse`] for invalid PromQL, [`Error::Timeout`] past
    /// [`EngineOpts::timeout`], [`Error::TooManySamples`] past [`EngineOpts::max_samples`],
    /// [`Error::Storage`] when the storage fails, [`Error::Eval`] for Prometheus's
    /// evaluation errors.
    pub fn instant_query(
        &self,
        queryable: Arc<dyn Queryable>,
        query: &str,
        t: i64,
    ) -> Result<QueryResult> {
        self.instant_query_with(queryable, query, t, &QueryOpts::default())
    }

    /// [`Engine::instant_query`] with per-query options: a deadline, a [`CancelToken`], a
    /// lookback delta, per-step statistics.
    ///
    /// # Errors
    /// As [`Engine::instant_query`], plus [`Error::Timeout`] at [`QueryOpts::deadline`] and
    /// [`Error::Canceled`] once [`QueryOpts::cancel`] is cancelled.
    ///
    /// # Examples
    /// ```
    /// use std::sync::Arc;
    /// use std::time::{Duration, Instant};
    /// use promql::{CancelToken, Engine, EngineOpts, Error, QueryOpts, Value};
    ///
    /// let db = Arc::new(storage::MemStorage::new());
    /// let engine = Engine::new(EngineOpts::default());
    /// let cancel = CancelToken::new();
    /// let opts = QueryOpts {
    ///     deadline: Some(Instant::now() + Duration::from_secs(10)),
    ///     cancel: Some(cancel.clone()), // cancel() from another thread stops the query
    ///     ..QueryOpts::default()
    /// };
    /// let res = engine.instant_query_with(db.clone(), "vector(1) + 1", 0, &opts).unwrap();
    /// assert!(matches!(&res.value, Value::Vector(v) if v[0].f == 2.0));
    ///
    /// cancel.cancel();
    /// let err = engine.instant_query_with(db, "vector(1)", 0, &opts).unwrap_err();
    /// assert!(matches!(err, Error::Canceled(_)));
    /// ```
    pub fn instant_query_with(
        &self,
        queryable: Arc<dyn Queryable>,
        query: &str,
        t: i64,
        opts: &QueryOpts,
    ) -> Result<QueryResult> {
        let expr = parser::parse_expr(query)?;
        self.exec(queryable, &expr, query, t, t, 0, opts)
    }

    /// Evaluates `query` from `start` to `end` (ms, inclusive) every `step` ms. The value
    /// is a [`Value::Matrix`]: one [`Series`](crate::value::Series) per output label set,
    /// sorted by labels, with a point at each step where it had a value.
    ///
    /// # Errors
    /// As [`Engine::instant_query`], and [`Error::Eval`] when `step` is not positive, `end`
    /// is before `start`, or the expression is not a scalar or an instant vector;
    /// [`Error::TooManySamples`] at once for more steps than [`EngineOpts::max_samples`]
    /// (when that is beyond the HTTP API's limit of 11,000 points per series).
    pub fn range_query(
        &self,
        queryable: Arc<dyn Queryable>,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult> {
        self.range_query_with(queryable, query, start, end, step, &QueryOpts::default())
    }

    /// [`Engine::range_query`] with per-query options (see [`Engine::instant_query_with`]).
    ///
    /// # Errors
    /// As [`Engine::range_query`] and [`Engine::instant_query_with`].
    pub fn range_query_with(
        &self,
        queryable: Arc<dyn Queryable>,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
        opts: &QueryOpts,
    ) -> Result<QueryResult> {
        let expr = parser::parse_expr(query)?;
        self.range_query_expr(queryable, &expr, query, start, end, step, opts)
    }

    /// Evaluates a parsed expression at `t` with per-query options. `query` is the text the
    /// expression came from (used for positions in annotations; may be empty).
    pub fn instant_query_expr(
        &self,
        queryable: Arc<dyn Queryable>,
        expr: &Expr,
        query: &str,
        t: i64,
        opts: &QueryOpts,
    ) -> Result<QueryResult> {
        self.exec(queryable, expr, query, t, t, 0, opts)
    }

    /// Evaluates a parsed expression as a range query with per-query options.
    #[allow(clippy::too_many_arguments)]
    pub fn range_query_expr(
        &self,
        queryable: Arc<dyn Queryable>,
        expr: &Expr,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
        opts: &QueryOpts,
    ) -> Result<QueryResult> {
        if step <= 0 {
            return Err(Error::Eval(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end < start {
            return Err(Error::Eval(
                "end timestamp must not be before start time".into(),
            ));
        }
        let ty = expr.value_type();
        if ty != parser::ValueType::Vector && ty != parser::ValueType::Scalar {
            return Err(Error::Eval(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                ty.documented()
            )));
        }
        self.exec(queryable, expr, query, start, end, step, opts)
    }

    /// A concurrency slot: waits for one, or (`wait` false) gives up when none is free.
    fn acquire(&self, wait: bool) -> Option<SlotGuard<'_>> {
        if let Some(max) = self.opts.max_concurrency {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            while slots.running >= max.max(1) {
                if !wait {
                    return None;
                }
                slots.waiting += 1;
                slots = self
                    .slot_freed
                    .wait(slots)
                    .unwrap_or_else(|e| e.into_inner());
                slots.waiting -= 1;
            }
            slots.running += 1;
        }
        Some(SlotGuard { engine: self })
    }

    /// Runs a query, then records its metrics and logs it (Go's `exec` with its
    /// query-logging `defer`); a speculative run that gave up records nothing.
    #[allow(clippy::too_many_arguments)]
    fn exec(
        &self,
        queryable: Arc<dyn Queryable>,
        expr: &Expr,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
        opts: &QueryOpts,
    ) -> Result<QueryResult> {
        let _running = self.metrics.running();
        let queued = Instant::now();
        // Evaluation subtracts ranges, offsets and the lookback from query times: far
        // beyond any stored sample (an API time of -1e300 s), times are held where that
        // cannot overflow. Durations are at most Go's ~292 years, far less than the margin.
        let (start, end) = (
            start.clamp(-MAX_QUERY_TIME, MAX_QUERY_TIME),
            end.clamp(-MAX_QUERY_TIME, MAX_QUERY_TIME),
        );
        let mut trace = Trace::default();
        let mut res = self.exec_timed(queryable, expr, query, (start, end, step), opts, &mut trace);
        if matches!(res, Err(Error::OverBudget)) {
            return res;
        }
        let Trace {
            mut timings,
            failed_stats,
            evaluated,
            sorted,
        } = trace;
        timings.exec_total = queued.elapsed();
        timings.eval_total = timings.exec_total.saturating_sub(timings.exec_queue);
        let m = &self.metrics;
        // As Go, which times the wait only with its active query tracker.
        if self.opts.max_concurrency.is_some() {
            m.queue_time.observe(timings.exec_queue.as_secs_f64());
        }
        m.prepare_time
            .observe(timings.query_preparation.as_secs_f64());
        if let Some(samples) = evaluated {
            m.inner_eval.observe(timings.inner_eval.as_secs_f64());
            // As Go: a failed query's samples count too.
            m.add_samples(samples);
        }
        if sorted {
            m.result_sort.observe(timings.result_sort.as_secs_f64());
        }
        if let Ok(r) = &mut res {
            r.timings = timings;
        }
        if let Some(logger) = self.query_logger.get() {
            let text = if query.is_empty() {
                expr.to_string()
            } else {
                query.to_string()
            };
            let origin = opts.origin.clone().or_else(QueryOrigin::current);
            let entry = QueryLogEntry {
                query: &text,
                start,
                end,
                step,
                error: res.as_ref().err(),
                stats: res.as_ref().map_or(&failed_stats, |r| &r.stats),
                timings: &timings,
                origin: origin.as_deref(),
            };
            if logger.log(&entry).is_err() {
                self.metrics.query_log_failed();
            }
        }
        res
    }

    /// The query itself: fills `trace` with its timings (all but the totals), what ran
    /// and, should it fail, the statistics counted until then.
    fn exec_timed(
        &self,
        queryable: Arc<dyn Queryable>,
        expr: &Expr,
        query: &str,
        (start, end, step): (i64, i64, i64),
        opts: &QueryOpts,
        trace: &mut Trace,
    ) -> Result<QueryResult> {
        let queued = Instant::now();
        let Some(_slot) = self.acquire(opts.budget.is_none()) else {
            return Err(Error::OverBudget);
        };
        if self.opts.max_concurrency.is_some() {
            trace.timings.exec_queue = queued.elapsed();
        }
        let budget = opts.budget.and_then(|b| Instant::now().checked_add(b));
        let deadline = match (Instant::now().checked_add(self.opts.timeout), opts.deadline) {
            (Some(own), Some(asked)) => Some(own.min(asked)),
            (own, asked) => own.or(asked),
        };
        let lookback = opts
            .lookback_delta
            .filter(|d| !d.is_zero())
            .unwrap_or(self.opts.lookback_delta);
        let lookback = i64::try_from(lookback.as_millis()).unwrap_or(i64::MAX);
        let query_text = if query.is_empty() {
            expr.to_string()
        } else {
            query.to_string()
        };
        let expr = preprocess(expr, start, end, step)?;
        let prepare = Instant::now();
        let mut hints = HashMap::new();
        let (mint, maxt) = collect_hints(&expr, start, end, step, lookback, self, &mut hints);
        let querier = queryable.querier(mint, maxt).map_err(Error::Storage);
        trace.timings.query_preparation = prepare.elapsed();
        let querier = querier?;
        let mut ctx =
            eval::QueryCtx::new(querier, hints, deadline, opts.cancel.clone(), query_text);
        ctx.budget = budget;
        ctx.stats_selectors = eval::stats_selectors(&expr);
        ctx.start_timestamps = self.opts.enable_start_timestamps;
        ctx.parallel = (self.opts.parallelism > 1).then_some(parallel::Plan {
            threads: self.opts.parallelism,
            min_work: self.opts.parallel_threshold,
        });
        let instant = step == 0;
        let interval = if instant { 1 } else { step };
        // Evaluation keeps per-step arrays, allocated up front, where Go goes step by step
        // and fails once `max_samples` points are held: so refuse more steps than
        // `max_samples` (an allocation that size could abort the process) unless the HTTP
        // API could have sent the query (at most 11,000 points), which keeps Go's answers.
        let steps = end
            .checked_sub(start)
            .and_then(|d| usize::try_from(d / interval + 1).ok())
            .filter(|&n| instant || n <= self.opts.max_samples.max(API_MAX_POINTS))
            .ok_or_else(|| Error::TooManySamples("query execution".into()))?;
        let per_step = self.opts.enable_per_step_stats && opts.enable_per_step_stats;
        let mut ev = Evaluator {
            start,
            end,
            interval,
            lookback,
            max_samples: self.opts.max_samples,
            current_samples: 0,
            delayed_name_removal: self.opts.enable_delayed_name_removal,
            no_step_subquery_interval: self.opts.no_step_subquery_interval,
            samples: stats::SampleCounts::new(steps, per_step),
            ctx: &ctx,
        };
        let eval_start = Instant::now();
        let value = ev.eval_top(&expr, instant);
        trace.timings.inner_eval = eval_start.elapsed();
        trace.evaluated = Some(ev.samples.total);
        if value.is_err() {
            trace.failed_stats.total_samples = ev.samples.total;
            trace.failed_stats.samples_read = ev.samples.read;
            trace.failed_stats.peak_samples = ctx.peak_samples.get();
        }
        let mut value = value?;
        if let Value::Matrix(mat) = &mut value {
            let sort_start = Instant::now();
            mat.sort_by(|a, b| a.metric.cmp(&b.metric));
            trace.timings.result_sort = sort_start.elapsed();
            trace.sorted = true;
        }
        let (total_steps, read_steps) = ev.samples.per_step();
        let with_times = |v: Option<Vec<u64>>| {
            v.map(|v| {
                v.into_iter()
                    .enumerate()
                    .map(|(i, n)| (start + i as i64 * interval, n))
                    .collect()
            })
        };
        let stats = QueryStats {
            total_samples: ev.samples.total,
            total_samples_per_step: with_times(total_steps),
            samples_read: ev.samples.read,
            samples_read_per_step: with_times(read_steps),
            peak_samples: ctx.peak_samples.get(),
        };
        Ok(QueryResult {
            value,
            annotations: ctx.annotations.into_inner(),
            stats,
            timings: QueryTimings::default(),
        })
    }
}

/// What one run of a query measured: its metrics, query log entry and API statistics.
#[derive(Default)]
struct Trace {
    timings: QueryTimings,
    /// The statistics counted until a failure.
    failed_stats: QueryStats,
    /// The samples evaluation looked at, once it ran (`None`: the query failed before).
    evaluated: Option<u64>,
    /// Whether the result (a matrix) was sorted.
    sorted: bool,
}

/// The engine's concurrency slots (`--query.max-concurrency`).
#[derive(Debug, Default)]
struct Slots {
    running: usize,
    waiting: usize,
}

struct SlotGuard<'a> {
    engine: &'a Engine,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        if self.engine.opts.max_concurrency.is_some() {
            let mut slots = self.engine.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.running = slots.running.saturating_sub(1);
            // A condvar notification is a system call even with nobody waiting.
            if slots.waiting > 0 {
                self.engine.slot_freed.notify_one();
            }
        }
    }
}

/// Resolves duration expressions and `@ start()`/`@ end()`, and wraps step-invariant parts in
/// [`parser::StepInvariantExpr`] (Go's `PreprocessExpr`).
fn preprocess(expr: &Expr, start: i64, end: i64, step: i64) -> Result<Expr> {
    let mut e = expr.clone();
    let times = parser::QueryTimes {
        start: start as f64 / 1000.0,
        end: end as f64 / 1000.0,
        step: step as f64 / 1000.0,
    };
    resolve_durations(&mut e, &times)?;
    let (_, wrap) = wrap_invariant(&mut e, start, end);
    if wrap {
        e = Expr::StepInvariant(parser::StepInvariantExpr { expr: Box::new(e) });
    }
    Ok(e)
}

fn duration_ms(d: &parser::DurationExpr, times: &parser::QueryTimes) -> Result<i64> {
    let secs = d.eval(times);
    if !secs.is_finite() {
        return Err(Error::Eval(format!(
            "duration expression evaluated to an invalid value: {secs}"
        )));
    }
    Ok((secs * 1000.0).round() as i64)
}

fn resolve_durations(e: &mut Expr, times: &parser::QueryTimes) -> Result<()> {
    match e {
        Expr::VectorSelector(vs) => resolve_vs(vs, times)?,
        Expr::MatrixSelector(ms) => {
            resolve_vs(&mut ms.vector_selector, times)?;
            if let Some(r) = ms.range_expr.take() {
                ms.range = duration_ms(&r, times)?;
                if ms.range <= 0 {
                    return Err(Error::Eval(format!(
                        "{}: range duration must be positive",
                        r.pos().start
                    )));
                }
            }
        }
        Expr::Subquery(sq) => {
            if let Some(r) = sq.range_expr.take() {
                sq.range = duration_ms(&r, times)?;
            }
            if let Some(s) = sq.step_expr.take() {
                sq.step = duration_ms(&s, times)?;
            }
            if let Some(o) = sq.original_offset_expr.take() {
                sq.original_offset = duration_ms(&o, times)?;
            }
            sq.offset = sq.original_offset;
            resolve_durations(&mut sq.expr, times)?;
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &mut a.param {
                resolve_durations(p, times)?;
            }
            resolve_durations(&mut a.expr, times)?;
        }
        Expr::Binary(b) => {
            resolve_durations(&mut b.lhs, times)?;
            resolve_durations(&mut b.rhs, times)?;
        }
        Expr::Call(c) => {
            for a in &mut c.args {
                resolve_durations(a, times)?;
            }
        }
        Expr::Paren(p) => resolve_durations(&mut p.expr, times)?,
        Expr::Unary(u) => resolve_durations(&mut u.expr, times)?,
        Expr::StepInvariant(s) => resolve_durations(&mut s.expr, times)?,
        Expr::Duration(d) => {
            // `step()`, `start()`, ... used as a scalar: a constant for the whole query.
            let val = d.eval(times);
            let pos = d.pos();
            *e = Expr::NumberLiteral(parser::NumberLiteral {
                val,
                duration: false,
                pos,
            });
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
    }
    Ok(())
}

fn resolve_vs(vs: &mut parser::VectorSelector, times: &parser::QueryTimes) -> Result<()> {
    if let Some(o) = vs.original_offset_expr.take() {
        vs.original_offset = duration_ms(&o, times)?;
    }
    vs.offset = vs.original_offset;
    Ok(())
}

/// Resolves `@ start()`/`@ end()`, and holds an `@` time within the engine's range of
/// query times (`MAX_QUERY_TIME`), as the query's own times are.
fn resolve_at(ts: &mut Option<i64>, se: Option<AtModifier>, start: i64, end: i64) {
    match se {
        Some(AtModifier::Start) => *ts = Some(start),
        Some(AtModifier::End) => *ts = Some(end),
        None => {}
    }
    if let Some(t) = ts {
        *t = (*t).clamp(-MAX_QUERY_TIME, MAX_QUERY_TIME);
    }
}

fn unwrap_paren_box(e: &mut Box<Expr>) {
    while let Expr::Paren(p) = &mut **e {
        let inner = std::mem::replace(
            &mut p.expr,
            Box::new(Expr::NumberLiteral(parser::NumberLiteral {
                val: 0.0,
                duration: false,
                pos: parser::PosRange::default(),
            })),
        );
        *e = inner;
    }
}

fn unwrap_paren(e: &mut Expr) {
    while let Expr::Paren(p) = e {
        let inner = std::mem::replace(
            &mut *p.expr,
            Expr::NumberLiteral(parser::NumberLiteral {
                val: 0.0,
                duration: false,
                pos: parser::PosRange::default(),
            }),
        );
        *e = inner;
    }
}

fn wrap(e: &mut Expr) {
    let inner = std::mem::replace(
        e,
        Expr::NumberLiteral(parser::NumberLiteral {
            val: 0.0,
            duration: false,
            pos: parser::PosRange::default(),
        }),
    );
    *e = Expr::StepInvariant(parser::StepInvariantExpr {
        expr: Box::new(inner),
    });
}

/// Go's `preprocessExprHelper`: returns (is step invariant, should wrap).
fn wrap_invariant(e: &mut Expr, start: i64, end: i64) -> (bool, bool) {
    match e {
        Expr::VectorSelector(vs) => {
            resolve_at(&mut vs.timestamp, vs.start_or_end, start, end);
            (vs.timestamp.is_some(), vs.timestamp.is_some())
        }
        Expr::Aggregate(a) => {
            unwrap_paren_box(&mut a.expr);
            if let Some(p) = &mut a.param {
                unwrap_paren_box(p);
            }
            wrap_invariant(&mut a.expr, start, end)
        }
        Expr::Binary(b) => {
            let (il, wl) = wrap_invariant(&mut b.lhs, start, end);
            let (ir, wr) = wrap_invariant(&mut b.rhs, start, end);
            if il && ir {
                return (true, true);
            }
            if wl {
                wrap(&mut b.lhs);
            }
            if wr {
                wrap(&mut b.rhs);
            }
            (false, false)
        }
        Expr::Call(c) => {
            let mut invariant = !AT_MODIFIER_UNSAFE_FUNCTIONS.contains(&c.func.name);
            let mut should = Vec::with_capacity(c.args.len());
            for a in &mut c.args {
                unwrap_paren(a);
                let (i, w) = wrap_invariant(a, start, end);
                invariant &= i;
                should.push(w);
            }
            if invariant {
                return (true, true);
            }
            for (a, w) in c.args.iter_mut().zip(should) {
                if w {
                    wrap(a);
                }
            }
            (false, false)
        }
        Expr::MatrixSelector(ms) => {
            let vs = &mut ms.vector_selector;
            resolve_at(&mut vs.timestamp, vs.start_or_end, start, end);
            (vs.timestamp.is_some(), false)
        }
        Expr::Subquery(sq) => {
            let (inv, _) = wrap_invariant(&mut sq.expr, start, end);
            if inv {
                wrap(&mut sq.expr);
            }
            resolve_at(&mut sq.timestamp, sq.start_or_end, start, end);
            (sq.timestamp.is_some(), sq.timestamp.is_some())
        }
        Expr::Paren(p) => wrap_invariant(&mut p.expr, start, end),
        Expr::Unary(u) => wrap_invariant(&mut u.expr, start, end),
        Expr::StringLiteral(_) | Expr::NumberLiteral(_) | Expr::Duration(_) => (true, false),
        Expr::StepInvariant(_) => (true, false),
    }
}

/// The identity of a selector node inside one preprocessed expression.
pub(crate) fn node_id(vs: &parser::VectorSelector) -> usize {
    std::ptr::from_ref(vs) as usize
}

#[derive(Clone, Copy)]
struct SubqCtx {
    offset: i64,
    range: i64,
    ts: Option<i64>,
    interval: i64,
}

/// Computes the storage hints of every selector and the overall time range to query
/// (Go's `FindMinMaxTime` and `populateSeries`).
fn collect_hints(
    e: &Expr,
    start: i64,
    end: i64,
    step: i64,
    lookback: i64,
    engine: &Engine,
    out: &mut HashMap<usize, SelectHints>,
) -> (i64, i64) {
    let mut mint = i64::MAX;
    let mut maxt = i64::MIN;
    let ctx = SubqCtx {
        offset: 0,
        range: 0,
        ts: None,
        interval: step,
    };
    walk_hints(
        e,
        start,
        end,
        lookback,
        engine,
        ctx,
        None,
        &[],
        out,
        &mut mint,
        &mut maxt,
    );
    if maxt == i64::MIN {
        return (0, 0);
    }
    (mint, maxt)
}

#[allow(clippy::too_many_arguments)]
fn walk_hints(
    e: &Expr,
    start: i64,
    end: i64,
    lookback: i64,
    engine: &Engine,
    sq: SubqCtx,
    func: Option<&str>,
    grouping: &[String],
    out: &mut HashMap<usize, SelectHints>,
    mint: &mut i64,
    maxt: &mut i64,
) {
    let mut selector = |vs: &parser::VectorSelector, range: i64, func: Option<&str>| {
        let (mut s, mut en) = (start, end);
        if let Some(t) = sq.ts {
            s = t;
            en = t;
        }
        // Saturating: query times at the ends of i64 (an API time of -1e300 s) must not
        // overflow; Go's arithmetic wraps there, and either way nothing is stored so far out.
        if let Some(t) = vs.timestamp {
            s = t;
            en = t;
        } else {
            s = s.saturating_sub(sq.offset).saturating_sub(sq.range);
            en = en.saturating_sub(sq.offset);
        }
        let before = if range == 0 {
            if vs.smoothed {
                en = en.saturating_add(lookback);
            }
            lookback - 1
        } else if vs.anchored {
            lookback.saturating_add(range) - 1
        } else if vs.smoothed {
            en = en.saturating_add(lookback);
            lookback.saturating_add(range) - 1
        } else {
            range - 1
        };
        s = s.saturating_sub(before).saturating_sub(vs.original_offset);
        en = en.saturating_sub(vs.original_offset);
        *mint = (*mint).min(s);
        *maxt = (*maxt).max(en);
        out.insert(
            node_id(vs),
            SelectHints {
                start: s,
                end: en,
                step: sq.interval,
                range,
                func: func.map(str::to_string),
                grouping: grouping.to_vec(),
                by: false,
                limit: 0,
            },
        );
    };
    match e {
        Expr::VectorSelector(vs) => selector(vs, 0, func),
        Expr::MatrixSelector(ms) => selector(&ms.vector_selector, ms.range, func),
        Expr::Subquery(s) => {
            let mut inner = sq;
            inner.offset += s.original_offset;
            inner.range += s.range;
            if let Some(t) = s.timestamp {
                inner.offset = s.original_offset;
                inner.range = s.range;
                inner.ts = Some(t);
            }
            inner.interval = if s.step != 0 {
                s.step
            } else {
                engine.opts.no_step_subquery_interval
            };
            walk_hints(
                &s.expr, start, end, lookback, engine, inner, func, grouping, out, mint, maxt,
            );
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                walk_hints(
                    p, start, end, lookback, engine, sq, func, grouping, out, mint, maxt,
                );
            }
            walk_hints(
                &a.expr,
                start,
                end,
                lookback,
                engine,
                sq,
                Some(a.op.as_str()),
                &a.grouping,
                out,
                mint,
                maxt,
            );
        }
        Expr::Call(c) => {
            for a in &c.args {
                walk_hints(
                    a,
                    start,
                    end,
                    lookback,
                    engine,
                    sq,
                    Some(c.func.name),
                    &[],
                    out,
                    mint,
                    maxt,
                );
            }
        }
        Expr::Binary(b) => {
            for side in [&b.lhs, &b.rhs] {
                walk_hints(
                    side,
                    start,
                    end,
                    lookback,
                    engine,
                    sq,
                    None,
                    &[],
                    out,
                    mint,
                    maxt,
                );
            }
        }
        Expr::Paren(p) => walk_hints(
            &p.expr, start, end, lookback, engine, sq, func, grouping, out, mint, maxt,
        ),
        Expr::Unary(u) => walk_hints(
            &u.expr, start, end, lookback, engine, sq, func, grouping, out, mint, maxt,
        ),
        Expr::StepInvariant(s) => walk_hints(
            &s.expr, start, end, lookback, engine, sq, func, grouping, out, mint, maxt,
        ),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Duration(_) => {}
    }
}

/// Calls `f` with the matchers of every vector and matrix selector in `expr`.
pub fn walk_selectors(expr: &Expr, f: &mut dyn FnMut(&[Matcher])) {
    expr.walk(&mut |e| match e {
        Expr::VectorSelector(vs) => f(&vs.matchers),
        Expr::MatrixSelector(ms) => f(&ms.vector_selector.matchers),
        _ => {}
    });
}

/// The extra instant queries Prometheus's test harness runs for an `eval instant` at `t`:
/// the query with `@ t` set on every selector and subquery that has none, evaluated at
/// several other times (Go's `atModifierTestCases`). Empty when the query uses a function
/// whose value depends on the evaluation time.
pub fn at_modifier_test_cases(query: &str, t: i64) -> Vec<(String, i64)> {
    let Ok(mut expr) = parser::parse_expr(query) else {
        return Vec::new();
    };
    let mut unsafe_fn = false;
    expr.walk(&mut |e| match e {
        Expr::Call(c) => unsafe_fn |= AT_MODIFIER_UNSAFE_FUNCTIONS.contains(&c.func.name),
        // `start()`, `step()`, ... depend on the query, not on the @ time.
        Expr::Duration(d) => unsafe_fn |= d.depends_on_query(),
        _ => {}
    });
    if unsafe_fn {
        return Vec::new();
    }
    set_at(&mut expr, t);
    let printed = expr.to_string();
    let times: Vec<i64> = if t == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t, 0, t / 5, t, 10 * t]
    };
    times.into_iter().map(|et| (printed.clone(), et)).collect()
}

fn set_at(e: &mut Expr, t: i64) {
    match e {
        Expr::VectorSelector(vs) => {
            if vs.timestamp.is_none() && vs.start_or_end.is_none() {
                vs.timestamp = Some(t);
            }
        }
        Expr::MatrixSelector(ms) => {
            let vs = &mut ms.vector_selector;
            if vs.timestamp.is_none() && vs.start_or_end.is_none() {
                vs.timestamp = Some(t);
            }
        }
        Expr::Subquery(sq) => {
            // As in Go, selectors inside a subquery keep their times: the subquery's @
            // fixes them.
            if sq.timestamp.is_none() && sq.start_or_end.is_none() {
                sq.timestamp = Some(t);
            }
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &mut a.param {
                set_at(p, t);
            }
            set_at(&mut a.expr, t);
        }
        Expr::Binary(b) => {
            set_at(&mut b.lhs, t);
            set_at(&mut b.rhs, t);
        }
        Expr::Call(c) => {
            for a in &mut c.args {
                set_at(a, t);
            }
        }
        Expr::Paren(p) => set_at(&mut p.expr, t),
        Expr::Unary(u) => set_at(&mut u.expr, t),
        Expr::StepInvariant(s) => set_at(&mut s.expr, t),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Duration(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use model::Labels;
    use storage::{Appendable, MemStorage, Querier};

    use super::*;

    fn storage() -> Arc<MemStorage> {
        let db = Arc::new(MemStorage::new());
        let mut app = db.appender();
        for i in 0..10 {
            let l = Labels::from_pairs([("__name__", "x_total"), ("i", &i.to_string())]);
            for t in 0..=60 {
                app.append(0, &l, t * 10_000, (t * i) as f64)
                    .expect("append");
            }
        }
        app.commit().expect("commit");
        db
    }

    /// Counts how often the engine opens queriers and selects series.
    struct Counting {
        inner: Arc<MemStorage>,
        queriers: Arc<AtomicUsize>,
        selects: Arc<AtomicUsize>,
        hints: Arc<std::sync::Mutex<Vec<Option<SelectHints>>>>,
    }

    struct CountingQuerier {
        inner: Box<dyn Querier>,
        selects: Arc<AtomicUsize>,
        hints: Arc<std::sync::Mutex<Vec<Option<SelectHints>>>>,
    }

    impl Queryable for Counting {
        fn querier(&self, mint: i64, maxt: i64) -> storage::Result<Box<dyn Querier>> {
            self.queriers.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(CountingQuerier {
                inner: self.inner.querier(mint, maxt)?,
                selects: self.selects.clone(),
                hints: self.hints.clone(),
            }))
        }
    }

    impl Querier for CountingQuerier {
        fn select(
            &self,
            sorted: bool,
            hints: Option<&SelectHints>,
            matchers: &[Matcher],
        ) -> Box<dyn storage::SeriesSet> {
            self.selects.fetch_add(1, Ordering::SeqCst);
            self.hints.lock().expect("hints").push(hints.cloned());
            self.inner.select(sorted, hints, matchers)
        }
        fn label_values(
            &self,
            name: &str,
            hints: Option<&storage::LabelHints>,
            matchers: &[Matcher],
        ) -> storage::Result<Vec<String>> {
            self.inner.label_values(name, hints, matchers)
        }
        fn label_names(
            &self,
            hints: Option<&storage::LabelHints>,
            matchers: &[Matcher],
        ) -> storage::Result<Vec<String>> {
            self.inner.label_names(hints, matchers)
        }
    }

    #[test]
    fn range_query_selects_each_series_once_for_the_whole_range() {
        let queriers = Arc::new(AtomicUsize::new(0));
        let selects = Arc::new(AtomicUsize::new(0));
        let q: Arc<dyn Queryable> = Arc::new(Counting {
            inner: storage(),
            queriers: queriers.clone(),
            selects: selects.clone(),
            hints: Arc::default(),
        });
        let engine = Engine::new(EngineOpts::default());
        let res = engine
            .range_query(
                q,
                "sum(rate(x_total[1m])) + sum(x_total)",
                60_000,
                600_000,
                10_000,
            )
            .expect("query");
        let Value::Matrix(m) = res.value else {
            panic!("range queries return matrices")
        };
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].floats.len(), 55);
        assert_eq!(queriers.load(Ordering::SeqCst), 1);
        assert_eq!(selects.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn selectors_pass_their_time_range_to_storage() {
        let hints: Arc<std::sync::Mutex<Vec<Option<SelectHints>>>> = Arc::default();
        let q: Arc<dyn Queryable> = Arc::new(Counting {
            inner: storage(),
            queriers: Arc::default(),
            selects: Arc::default(),
            hints: hints.clone(),
        });
        let engine = Engine::new(EngineOpts::default());
        for (query, start, func, range) in [
            ("x_total", 1, None, 0),
            (
                "rate(x_total[1m])",
                300_000 - 60_000 + 1,
                Some("rate"),
                60_000,
            ),
        ] {
            hints.lock().expect("hints").clear();
            engine
                .instant_query(q.clone(), query, 300_000)
                .expect("query");
            let got = hints.lock().expect("hints").clone();
            assert_eq!(got.len(), 1, "{query}");
            let h = got[0]
                .clone()
                .unwrap_or_else(|| panic!("{query}: no hints"));
            assert_eq!(
                (h.start, h.end, h.func.as_deref(), h.range),
                (start, 300_000, func, range),
                "{query}"
            );
        }
    }

    #[test]
    fn rate_of_a_steady_counter() {
        let engine = Engine::new(EngineOpts::default());
        let res = engine
            .instant_query(storage(), "rate(x_total{i=\"2\"}[1m])", 300_000)
            .expect("query");
        let Value::Vector(v) = res.value else {
            panic!("instant vector expected")
        };
        assert_eq!(v.len(), 1);
        assert!((v[0].f - 0.2).abs() < 1e-9, "got {}", v[0].f);
        assert_eq!(v[0].metric, Labels::from_pairs([("i", "2")]));
        assert!(res.stats.total_samples > 0);
    }

    #[test]
    fn start_timestamps_are_used_only_when_enabled() {
        // A delta counter: every sample counts the 30s before it.
        let db = Arc::new(MemStorage::new());
        let mut app = db.appender();
        let l = Labels::from_pairs([("__name__", "d_total")]);
        for t in 1..=5 {
            app.append_with_st(0, &l, t * 60_000 - 30_000, t * 60_000, 60.0)
                .expect("append");
        }
        app.commit().expect("commit");
        let query = |enable: bool, q: &str| {
            let engine = Engine::new(EngineOpts {
                enable_start_timestamps: enable,
                ..EngineOpts::default()
            });
            let res = engine.instant_query(db.clone(), q, 300_000).expect("query");
            let Value::Vector(v) = res.value else {
                panic!("instant vector expected")
            };
            v.iter().map(|s| s.f).collect::<Vec<_>>()
        };
        // Off: a flat counter. On: every sample restarts from 0, and the first one's start
        // (30s) lies inside the range, so it counts in full with no extrapolation.
        assert_eq!(query(false, "increase(d_total[4m45s])"), vec![0.0]);
        assert_eq!(query(true, "increase(d_total[4m45s])"), vec![300.0]);
        assert_eq!(query(false, "start_timestamp(d_total)"), Vec::<f64>::new());
        assert_eq!(query(true, "start_timestamp(d_total)"), vec![270.0]);
    }

    #[test]
    fn too_many_samples_fails_with_prometheus_message() {
        let engine = Engine::new(EngineOpts {
            max_samples: 5,
            ..EngineOpts::default()
        });
        let err = engine
            .instant_query(storage(), "x_total", 300_000)
            .expect_err("10 series exceed 5 samples");
        assert_eq!(
            err.to_string(),
            "query processing would load too many samples into memory in query execution"
        );
    }

    #[test]
    fn range_query_of_more_steps_than_max_samples_fails_instead_of_allocating() {
        let engine = Engine::new(EngineOpts {
            max_samples: 1_000,
            ..EngineOpts::default()
        });
        let err = engine
            .range_query(storage(), "vector(1)", 0, 1_000_000_000_000, 1)
            .expect_err("a trillion steps");
        assert!(matches!(err, Error::TooManySamples(_)), "{err}");
        // Up to what the HTTP API could ask for, the query runs (and fails or not) as in Go.
        let res = engine
            .range_query(storage(), "nothing_here", 0, 10_999, 1)
            .expect("11,000 steps");
        assert_eq!(res.value, Value::Matrix(Vec::new()));
    }

    #[test]
    fn a_subquery_of_more_steps_than_max_samples_fails_instead_of_allocating() {
        let engine = Engine::new(EngineOpts::default());
        for q in ["vector(1)[100y:1ms]", "count_over_time(nothing[100y:1ms])"] {
            let err = engine
                .instant_query(storage(), q, 0)
                .expect_err("trillions of steps");
            assert!(matches!(err, Error::TooManySamples(_)), "{q}: {err}");
        }
        // Small grids run as before.
        let res = engine
            .instant_query(storage(), "count_over_time(vector(1)[1m:1s])", 60_000)
            .expect("60 steps");
        assert!(matches!(res.value, Value::Vector(v) if v[0].f == 60.0));
    }

    #[test]
    fn query_times_at_the_ends_of_i64_do_not_overflow() {
        let engine = Engine::new(EngineOpts::default());
        for t in [i64::MIN, i64::MIN + 1, i64::MAX] {
            for q in [
                "x_total",
                "rate(x_total[5m])",
                "max_over_time(x_total[5m:1m] offset 1h)",
                "rate(x_total[5m] @ 9223372036854775 offset -292y)",
                "rate(x_total[5m] @ -9223372036854775 offset 292y)",
                "max_over_time(x_total[292y:1y] @ 9223372036854775 offset -292y)",
            ] {
                let res = engine.instant_query(storage(), q, t);
                assert!(res.is_ok(), "{q} at {t}: {res:?}");
            }
        }
    }

    #[test]
    fn timeout_and_cancellation_stop_evaluation() {
        let engine = Engine::new(EngineOpts {
            timeout: Duration::ZERO,
            ..EngineOpts::default()
        });
        let err = engine
            .instant_query(storage(), "x_total", 300_000)
            .expect_err("zero timeout");
        assert_eq!(err.to_string(), "query timed out in expression evaluation");

        let engine = Engine::new(EngineOpts::default());
        let cancel = CancelToken::new();
        cancel.cancel();
        let expr = parser::parse_expr("x_total").expect("parse");
        let err = engine
            .instant_query_expr(
                storage(),
                &expr,
                "x_total",
                300_000,
                &QueryOpts {
                    cancel: Some(cancel),
                    ..QueryOpts::default()
                },
            )
            .expect_err("cancelled");
        assert_eq!(
            err.to_string(),
            "query was canceled in expression evaluation"
        );
    }

    #[test]
    fn concurrency_gate_releases_slots_after_errors() {
        let engine = Arc::new(Engine::new(EngineOpts {
            max_concurrency: Some(1),
            ..EngineOpts::default()
        }));
        let db = storage();
        assert!(
            engine
                .instant_query(db.clone(), "x_total[1m] + 1", 0)
                .is_err()
        );
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (engine, db) = (engine.clone(), db.clone());
                std::thread::spawn(move || {
                    engine.instant_query(db, "sum(x_total)", 300_000).is_ok()
                })
            })
            .collect();
        for h in handles {
            assert!(h.join().expect("thread"));
        }
    }

    #[test]
    fn fused_aggregation_matches_the_materialised_one() {
        let db = Arc::new(MemStorage::new());
        let mut app = db.appender();
        for i in 0..300 {
            let l = Labels::from_pairs([
                ("__name__", "y_total"),
                ("i", &i.to_string()),
                ("g", &(i % 3).to_string()),
            ]);
            for t in 0..=60 {
                app.append(0, &l, t * 10_000, (t * (i % 7 + 1)) as f64 * 1.1)
                    .expect("append");
            }
        }
        app.commit().expect("commit");
        let engine = Engine::new(EngineOpts::default());
        // Few groups (fused) and more groups than the fused path keeps (fallback).
        for grouping in ["g", "i"] {
            for op in ["sum", "avg", "count", "min", "max", "group"] {
                let fused = format!("{op} by ({grouping}) (rate(y_total[1m]))");
                let plain = format!("{op} by ({grouping}) (rate(y_total[1m]) + 0)");
                let a = engine
                    .range_query(db.clone(), &fused, 60_000, 600_000, 20_000)
                    .expect("fused");
                let b = engine
                    .range_query(db.clone(), &plain, 60_000, 600_000, 20_000)
                    .expect("plain");
                assert_eq!(a.value, b.value, "{fused}");
            }
        }
    }

    /// A series' labels, float points bit for bit (NaN included) and histograms.
    type SeriesBits = (String, Vec<(i64, u64)>, String);

    /// The series of a matrix, comparable bit for bit.
    fn matrix_bits(v: &Value) -> Vec<SeriesBits> {
        let Value::Matrix(m) = v else {
            panic!("range queries return matrices")
        };
        m.iter()
            .map(|s| {
                let floats = s.floats.iter().map(|p| (p.t, p.f.to_bits())).collect();
                (s.metric.to_string(), floats, format!("{:?}", s.histograms))
            })
            .collect()
    }

    #[test]
    fn fused_aggregation_of_mixed_floats_and_histograms_matches_the_materialised_one() {
        // Many series, and two whose group sees floats first, then histograms.
        for n in [40, 5] {
            check_fused_against_materialised(n);
        }
    }

    fn check_fused_against_materialised(n: i64) {
        let db = Arc::new(MemStorage::new());
        let mut app = db.appender();
        for i in (0..n).filter(|i| n > 5 || *i % 5 == 3 || *i % 5 == 4) {
            let l = Labels::from_pairs([
                ("__name__", "m"),
                ("i", &i.to_string()),
                ("g", &(i % 3).to_string()),
            ]);
            for t in 0..=60i64 {
                if i % 5 == 4 {
                    // Native histograms, in the second half only for some series.
                    if i % 10 == 9 && t < 30 {
                        continue;
                    }
                    let count = (t * (i + 1)) as f64;
                    let fh = model::FloatHistogram {
                        count,
                        sum: count * 0.5,
                        positive_spans: vec![model::Span {
                            offset: 0,
                            length: 2,
                        }],
                        positive_buckets: vec![count / 2.0, count / 2.0],
                        ..model::FloatHistogram::default()
                    };
                    app.append_histogram(0, &l, t * 10_000, None, Some(&fh))
                        .expect("append histogram");
                    continue;
                }
                // Floats with NaNs, infinities and values whose sums overflow (avg's
                // incremental mean).
                let f = match (i * 7 + t) % 23 {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    2 => -f64::INFINITY,
                    3..=6 => 1.7e308,
                    _ => (t * (i % 7 + 1)) as f64 * 1.1,
                };
                app.append(0, &l, t * 10_000, f).expect("append");
            }
        }
        app.commit().expect("commit");
        let engine = Engine::new(EngineOpts::default());
        for inner in [
            "rate(m[1m])",
            "avg_over_time(m[1m])",
            "last_over_time(m[1m])",
        ] {
            for grouping in ["by (g)", "without (i)", ""] {
                for op in ["sum", "avg", "count", "min", "max", "group"] {
                    let fused = format!("{op} {grouping} ({inner})");
                    // A no-op label_replace keeps the aggregation off the fused path.
                    let plain = format!(
                        "{op} {grouping} (label_replace({inner}, \"x\", \"\", \"y\", \".*\"))"
                    );
                    let a = engine
                        .range_query(db.clone(), &fused, 60_000, 600_000, 20_000)
                        .expect("fused");
                    let b = engine
                        .range_query(db.clone(), &plain, 60_000, 600_000, 20_000)
                        .expect("plain");
                    assert_eq!(matrix_bits(&a.value), matrix_bits(&b.value), "{fused}");
                    // The same annotations, at their own positions in each query.
                    let notes = |r: &QueryResult| {
                        r.annotations
                            .iter()
                            .map(|n| {
                                let m = &n.message;
                                m.rsplit_once(" (")
                                    .map_or(m.clone(), |(m, _)| m.to_string())
                            })
                            .collect::<Vec<_>>()
                    };
                    assert_eq!(notes(&a), notes(&b), "{fused}");
                }
            }
        }
    }

    #[test]
    fn rate_fast_path_matches_the_general_window_loop() {
        // Counters with resets, gaps, NaNs and negative values; `@ t` makes the range
        // function take its general loop for the same window.
        let db = Arc::new(MemStorage::new());
        let mut app = db.appender();
        for i in 0..12u64 {
            let l = Labels::from_pairs([("__name__", "c_total"), ("i", &i.to_string())]);
            let mut v = (i as f64 - 4.0) * 3.3;
            for s in 0..200i64 {
                let r = (i * 7919 + s as u64 * 104_729) % 1000;
                if r.is_multiple_of(9) {
                    continue;
                }
                v = match r % 37 {
                    0 => 0.0,
                    1 => f64::NAN,
                    _ => v + r as f64 / 7.0,
                };
                app.append(0, &l, s * 15_000 + (r as i64 % 5) * 1000, v)
                    .expect("append");
            }
        }
        app.commit().expect("commit");
        let engine = Engine::new(EngineOpts::default());
        let mut values = 0;
        for f in ["rate", "increase", "delta"] {
            for sel in ["c_total[1m]", "c_total[5m] offset 2m", "c_total[47s]"] {
                // Windows starting and ending at samples, and between them.
                let (start, end, step) = (0, 3_000_000, 7_000);
                let fast = format!("{f}({sel})");
                let res = engine
                    .range_query(db.clone(), &fast, start, end, step)
                    .expect("fast");
                let Value::Matrix(m) = res.value else {
                    panic!("range queries return matrices")
                };
                let mut got = std::collections::BTreeMap::new();
                for s in &m {
                    for p in &s.floats {
                        got.insert((s.metric.to_string(), p.t), p.f.to_bits());
                    }
                }
                let mut want = std::collections::BTreeMap::new();
                for t in (start..=end).step_by(step as usize) {
                    let general = format!("{f}({sel} @ {})", t as f64 / 1000.0);
                    let res = engine
                        .instant_query(db.clone(), &general, t)
                        .expect("general");
                    let Value::Vector(v) = res.value else {
                        panic!("instant vector expected")
                    };
                    for s in v {
                        want.insert((s.metric.to_string(), t), s.f.to_bits());
                    }
                }
                assert_eq!(got, want, "{fast}");
                values += got.len();
            }
        }
        assert!(values > 10_000, "{values} values compared");
    }

    #[test]
    fn range_query_rejects_range_vectors() {
        let engine = Engine::new(EngineOpts::default());
        let err = engine
            .range_query(storage(), "x_total[1m]", 0, 60_000, 10_000)
            .expect_err("matrix");
        assert_eq!(
            err.to_string(),
            "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
        );
    }

    #[test]
    fn dropping_metadata_keeps_every_other_label() {
        use eval::drop_metadata;
        let l = |pairs: &[(&str, &str)]| Labels::from_pairs(pairs.iter().copied());
        let plain = l(&[("a", "1"), ("b", "2")]);
        assert_eq!(drop_metadata(&plain), plain);
        assert_eq!(
            drop_metadata(&l(&[("__name__", "x"), ("a", "1"), ("b", "2")])),
            plain
        );
        assert_eq!(
            drop_metadata(&l(&[
                ("__name__", "x"),
                ("__type__", "counter"),
                ("__unit__", "seconds"),
                ("a", "1"),
                ("b", "2")
            ])),
            plain
        );
        assert_eq!(
            drop_metadata(&l(&[("__unit__", "seconds"), ("a", "1"), ("b", "2")])),
            plain
        );
        assert_eq!(drop_metadata(&l(&[("__name__", "x")])), Labels::empty());
    }

    #[test]
    fn same_labelsets_are_found_among_any_number_of_samples() {
        use crate::value::Sample;
        use eval::contains_same_labelset;
        let sample = |v: &str| Sample {
            h: None,
            metric: Labels::from_pairs([("a", v)]),
            t: 0,
            f: 0.0,
            drop_name: false,
        };
        let v = |vals: &[&str]| vals.iter().map(|x| sample(x)).collect::<Vec<_>>();
        assert!(!contains_same_labelset(&v(&[])));
        assert!(!contains_same_labelset(&v(&["1"])));
        assert!(!contains_same_labelset(&v(&["1", "2"])));
        assert!(contains_same_labelset(&v(&["1", "1"])));
        assert!(!contains_same_labelset(&v(&["1", "2", "3", "4"])));
        assert!(contains_same_labelset(&v(&["4", "2", "3", "2"])));
    }
}
