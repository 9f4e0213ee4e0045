//! The evaluator: walks a preprocessed expression over all steps of a query at once.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use model::{Labels, LabelsBuilder};
use storage::{Querier, SelectHints};

use super::stats::{Consumer, SampleCounts};
use super::{CancelToken, node_id};
use crate::functions;
use crate::parser::{
    self, AggregateExpr, BinaryExpr, Call, Expr, MatrixSelector, PosRange, SubqueryExpr, UnaryOp,
    ValueType, VectorSelector,
};
use crate::value::{
    Annotations, FPoint, HPoint, Matrix, Sample, Scalar, Series, StringValue, Value, Vector,
};
use crate::{Error, Result};

/// The samples of one selected series, loaded once for the whole query.
pub(crate) struct LoadedSeries {
    pub(crate) labels: Labels,
    /// Points without staleness markers (what range selectors see).
    pub(crate) live: Vec<FPoint>,
    /// All points including staleness markers, when there are any (what instant selectors
    /// see); `None` means "same as `live`". A histogram staleness marker is a stale float
    /// here.
    pub(crate) all: Option<Vec<FPoint>>,
    /// The histogram points (never staleness markers).
    pub(crate) hists: Vec<HPoint>,
    /// The start timestamps of `live`, `all` and `hists` (aligned with them; all empty
    /// when no sample of the series has one).
    pub(crate) live_st: Vec<i64>,
    pub(crate) all_st: Option<Vec<i64>>,
    pub(crate) hists_st: Vec<i64>,
}

/// The start timestamps of a series' points, aligned with the point lists a
/// [`SeriesFn`] gets (0 where a sample has none); all empty when no sample of the series
/// has one, so series without start timestamps cost nothing.
#[derive(Clone, Copy, Default)]
pub(crate) struct SampleSts<'s> {
    /// Of all float points (staleness markers included).
    pub(crate) all: &'s [i64],
    /// Of the float points without staleness markers.
    pub(crate) live: &'s [i64],
    /// Of the histogram points.
    pub(crate) hists: &'s [i64],
}

/// State shared by all evaluators of one query.
pub(crate) struct QueryCtx {
    /// The query's querier; `None` in the contexts of parallel workers, which never select.
    querier: Option<Box<dyn Querier>>,
    hints: HashMap<usize, SelectHints>,
    cache: RefCell<HashMap<usize, Rc<Vec<LoadedSeries>>>>,
    deadline: Option<Instant>,
    /// When a speculative run gives up ([`super::QueryOpts::budget`]).
    pub(crate) budget: Option<Instant>,
    cancel: Option<CancelToken>,
    query: String,
    pub(crate) annotations: RefCell<Annotations>,
    pub(crate) peak_samples: Cell<usize>,
    /// The selectors (by node id) whose histograms only feed `histogram_count`,
    /// `histogram_sum` or `histogram_avg`: read as Go's `HistogramStatsIterator` does.
    pub(crate) stats_selectors: HashSet<StatsKey>,
    /// Whether start timestamps are read from storage (`EngineOpts::enable_start_timestamps`).
    pub(crate) start_timestamps: bool,
    /// How per-series work may run on worker threads (`None`: serially).
    pub(crate) parallel: Option<super::parallel::Plan>,
}

/// Identifies a selector across clones of it (range functions clone theirs): its position
/// and its metric name.
pub(crate) type StatsKey = (usize, usize, String);

fn stats_key(vs: &VectorSelector) -> StatsKey {
    (vs.pos.start, vs.pos.end, vs.name.clone())
}

/// The selectors whose histograms are read for their count and sum only (Go's
/// `detectHistogramStatsDecoding`): the nearest enclosing call is `histogram_count`,
/// `histogram_sum` or `histogram_avg` (and not `histogram_quantile` or
/// `histogram_fraction`), with no binary operator or subquery in between.
pub(crate) fn stats_selectors(expr: &Expr) -> HashSet<StatsKey> {
    fn walk(e: &Expr, stats: Option<bool>, out: &mut HashSet<StatsKey>) {
        match e {
            Expr::VectorSelector(vs) => {
                if stats == Some(true) {
                    out.insert(stats_key(vs));
                }
            }
            Expr::MatrixSelector(ms) => {
                if stats == Some(true) {
                    out.insert(stats_key(&ms.vector_selector));
                }
            }
            Expr::Binary(b) => {
                walk(&b.lhs, None, out);
                walk(&b.rhs, None, out);
            }
            // A subquery's counter reset detection needs the buckets.
            Expr::Subquery(sq) => walk(&sq.expr, None, out),
            Expr::Call(c) => {
                let stats = match c.func.name {
                    "histogram_count" | "histogram_sum" | "histogram_avg" => Some(true),
                    "histogram_quantile" | "histogram_fraction" => Some(false),
                    _ => stats,
                };
                for a in &c.args {
                    walk(a, stats, out);
                }
            }
            other => {
                for c in other.children() {
                    walk(c, stats, out);
                }
            }
        }
    }
    let mut out = HashSet::new();
    walk(expr, None, &mut out);
    out
}

impl QueryCtx {
    pub(crate) fn new(
        querier: Box<dyn Querier>,
        hints: HashMap<usize, SelectHints>,
        deadline: Option<Instant>,
        cancel: Option<CancelToken>,
        query: String,
    ) -> QueryCtx {
        QueryCtx {
            querier: Some(querier),
            hints,
            cache: RefCell::new(HashMap::new()),
            deadline,
            budget: None,
            cancel,
            query,
            annotations: RefCell::new(Annotations::default()),
            peak_samples: Cell::new(0),
            stats_selectors: HashSet::new(),
            start_timestamps: false,
            parallel: None,
        }
    }

    /// What a parallel worker needs to build its own context (which, holding `RefCell`s,
    /// cannot be shared between threads).
    pub(crate) fn worker_seed(&self) -> WorkerSeed {
        WorkerSeed {
            deadline: self.deadline,
            budget: self.budget,
            cancel: self.cancel.clone(),
            query: self.query.clone(),
            stats_selectors: self.stats_selectors.clone(),
            start_timestamps: self.start_timestamps,
        }
    }

    /// The context of a parallel worker: the query's limits and text, no querier (workers
    /// get their series handed over), its own annotations and peak.
    pub(crate) fn for_worker(seed: &WorkerSeed) -> QueryCtx {
        QueryCtx {
            querier: None,
            hints: HashMap::new(),
            cache: RefCell::new(HashMap::new()),
            deadline: seed.deadline,
            budget: seed.budget,
            cancel: seed.cancel.clone(),
            query: seed.query.clone(),
            annotations: RefCell::new(Annotations::default()),
            peak_samples: Cell::new(0),
            stats_selectors: seed.stats_selectors.clone(),
            start_timestamps: seed.start_timestamps,
            parallel: None,
        }
    }
}

/// The parts of a [`QueryCtx`] a parallel worker copies into its own.
#[derive(Clone)]
pub(crate) struct WorkerSeed {
    deadline: Option<Instant>,
    budget: Option<Instant>,
    cancel: Option<CancelToken>,
    query: String,
    stats_selectors: HashSet<StatsKey>,
    start_timestamps: bool,
}

/// The value of an expression over all steps: series with one point per step (scalars are
/// one series without labels), or a string.
pub(crate) enum Val {
    Matrix(Matrix),
    String(String),
}

/// The per-step callback of [`Evaluator::range_eval`]: the evaluator, the arguments' vectors
/// at this step, their join-signature ordinals, the step time and the output vector.
pub(crate) type StepFn<'f, 'a> =
    dyn FnMut(&mut Evaluator<'a>, &[Vector], &[Vec<usize>], i64, &mut Vector) -> Result<()> + 'f;

/// The per-series callback of [`Evaluator::for_each_series`]: labels, all float points,
/// float points without staleness markers, histogram points (staleness markers of
/// histograms are stale floats in the first list), and their start timestamps. Returning
/// `Ok(false)` stops the iteration.
pub(crate) type SeriesFn<'f, 'a> = dyn FnMut(
        &mut Evaluator<'a>,
        &Labels,
        &[FPoint],
        &[FPoint],
        &[HPoint],
        SampleSts<'_>,
    ) -> Result<bool>
    + 'f;

/// The per-series part of [`Evaluator::map_series_of`]: the same arguments as a
/// [`SeriesFn`], for any evaluator (the query's own, or a parallel worker's), producing a
/// value per series. It may run on another thread, so it reaches the query only through the
/// evaluator it is given, and does its sample accounting with [`Evaluator::add_samples`].
pub(crate) type MapFn<'f, T> = dyn for<'e> Fn(
        &mut Evaluator<'e>,
        &Labels,
        &[FPoint],
        &[FPoint],
        &[HPoint],
        SampleSts<'_>,
    ) -> Result<T>
    + Sync
    + 'f;

/// The serial part of [`Evaluator::map_series_of`]: consumes each series' value in series
/// order on the query's evaluator. Returning `Ok(false)` stops the iteration.
pub(crate) type ReduceFn<'f, 'a, T> = dyn FnMut(&mut Evaluator<'a>, T) -> Result<bool> + 'f;

/// Evaluates expressions over the steps `start..=end` every `interval` ms.
pub(crate) struct Evaluator<'a> {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) interval: i64,
    pub(crate) lookback: i64,
    pub(crate) max_samples: usize,
    pub(crate) current_samples: usize,
    pub(crate) delayed_name_removal: bool,
    pub(crate) no_step_subquery_interval: i64,
    /// The sample statistics of this evaluator's steps.
    pub(crate) samples: SampleCounts,
    pub(crate) ctx: &'a QueryCtx,
}

/// The labels Go's `DropReserved(schema.IsMetadataLabel)` removes.
pub(crate) fn drop_metadata(l: &Labels) -> Labels {
    // One pass over the (sorted) names: usually only `__name__` is there, which
    // `without_metric_name` drops with a single allocation.
    let (mut name, mut other) = (false, false);
    for (n, _) in l.iter() {
        match n {
            "__name__" => name = true,
            "__type__" | "__unit__" => other = true,
            _ => {}
        }
    }
    if !other {
        return if name {
            l.without_metric_name()
        } else {
            l.clone()
        };
    }
    let mut b = LabelsBuilder::new(l);
    b.del("__name__").del("__type__").del("__unit__");
    b.labels()
}

/// Whether two entries of a vector have the same labels.
pub(crate) fn contains_same_labelset(v: &[Sample]) -> bool {
    match v {
        [] | [_] => false,
        [a, b] => a.metric == b.metric,
        _ => {
            // Equal label sets have equal packed bytes: sort by a hash of those (cheaper
            // than Prometheus's label hash) and compare the neighbours that share one.
            use std::hash::BuildHasher as _;
            let state = std::hash::RandomState::new();
            let mut hashed: Vec<(u64, &Labels)> = v
                .iter()
                .map(|s| (state.hash_one(&s.metric), &s.metric))
                .collect();
            // Ties (rare) are ordered by the labels, so equal sets end up side by side.
            hashed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
            hashed
                .windows(2)
                .any(|w| w[0].0 == w[1].0 && w[0].1 == w[1].1)
        }
    }
}

impl<'a> Evaluator<'a> {
    /// An evaluator for another step grid (a subquery or a step-invariant part) sharing
    /// this one's memory accounting; its sample counts start empty, without per-step counts.
    pub(crate) fn sub(&self, start: i64, end: i64, interval: i64) -> Evaluator<'a> {
        let steps = if end < start || interval <= 0 {
            0
        } else {
            usize::try_from((end - start) / interval + 1).unwrap_or(0)
        };
        Evaluator {
            start,
            end,
            interval,
            lookback: self.lookback,
            max_samples: self.max_samples,
            current_samples: self.current_samples,
            delayed_name_removal: self.delayed_name_removal,
            no_step_subquery_interval: self.no_step_subquery_interval,
            samples: SampleCounts::new(steps, false),
            ctx: self.ctx,
        }
    }

    /// The step of time `ts` on this evaluator's grid.
    #[inline]
    pub(crate) fn step_of(&self, ts: i64) -> usize {
        usize::try_from((ts - self.start) / self.interval.max(1)).unwrap_or(0)
    }

    pub(crate) fn num_steps(&self) -> usize {
        usize::try_from((self.end - self.start) / self.interval + 1).unwrap_or(0)
    }

    /// Fails when the query ran out of time or was cancelled (a deadline first: a caller
    /// cancelling at its deadline gets a timeout, as with Go's context), or when a
    /// speculative run used up its budget.
    pub(crate) fn check(&self) -> Result<()> {
        let now = (self.ctx.deadline.is_some() || self.ctx.budget.is_some()).then(Instant::now);
        if let (Some(d), Some(now)) = (self.ctx.deadline, now)
            && now >= d
        {
            return Err(Error::Timeout("expression evaluation".into()));
        }
        if let Some(c) = &self.ctx.cancel
            && c.is_cancelled()
        {
            return Err(Error::Canceled("expression evaluation".into()));
        }
        if let (Some(b), Some(now)) = (self.ctx.budget, now)
            && now >= b
        {
            return Err(Error::OverBudget);
        }
        Ok(())
    }

    pub(crate) fn add_samples(&mut self, n: usize) -> Result<()> {
        self.current_samples += n;
        self.update_peak();
        if self.current_samples > self.max_samples {
            return Err(Error::TooManySamples("query execution".into()));
        }
        Ok(())
    }

    /// Records the samples now held as the peak if they are the most so far (Go's
    /// `UpdatePeak`).
    #[inline]
    pub(crate) fn update_peak(&self) {
        if self.current_samples > self.ctx.peak_samples.get() {
            self.ctx.peak_samples.set(self.current_samples);
        }
    }

    /// Go's `PositionRange.StartPosInput`: `line:column` of a node.
    pub(crate) fn pos(&self, p: PosRange) -> String {
        let q = &self.ctx.query;
        if q.is_empty() {
            return "unknown position".into();
        }
        let start = p.start.min(q.len());
        let before = q.get(..start).unwrap_or("");
        let line = 1 + before.matches('\n').count();
        let col = match before.rfind('\n') {
            Some(i) => start - i,
            None => start + 1,
        };
        format!("{line}:{col}")
    }

    pub(crate) fn warn(&self, msg: String, p: PosRange) {
        let m = format!("PromQL warning: {msg} ({})", self.pos(p));
        self.ctx.annotations.borrow_mut().warn(m);
    }

    pub(crate) fn info(&self, msg: String, p: PosRange) {
        let m = format!("PromQL info: {msg} ({})", self.pos(p));
        self.ctx.annotations.borrow_mut().info(m);
    }

    /// Evaluates the top-level expression and shapes the result like Go's `execEvalStmt`.
    pub(crate) fn eval_top(&mut self, expr: &Expr, instant: bool) -> Result<Value> {
        let val = self.eval(expr)?;
        let mut mat = match val {
            Val::String(s) => {
                return Ok(Value::String(StringValue {
                    t: self.start,
                    v: s,
                }));
            }
            Val::Matrix(m) => m,
        };
        if self.delayed_name_removal {
            mat = self.cleanup_metric_labels(mat)?;
        }
        // Matrix results are sorted by labels by the caller (`Engine::exec` times it).
        if !instant {
            return Ok(Value::Matrix(mat));
        }
        match expr.value_type() {
            ValueType::Vector => Ok(Value::Vector(
                mat.into_iter()
                    .map(|s| Sample {
                        t: self.start,
                        f: s.floats.first().map_or(0.0, |p| p.f),
                        h: if s.floats.is_empty() {
                            s.histograms.into_iter().next().map(|p| p.h)
                        } else {
                            None
                        },
                        metric: s.metric,
                        drop_name: false,
                    })
                    .collect(),
            )),
            ValueType::Scalar => Ok(Value::Scalar(Scalar {
                t: self.start,
                v: mat
                    .first()
                    .and_then(|s| s.floats.first())
                    .map_or(f64::NAN, |p| p.f),
            })),
            _ => Ok(Value::Matrix(mat)),
        }
    }

    fn cleanup_metric_labels(&mut self, mut mat: Matrix) -> Result<Matrix> {
        for s in &mut mat {
            if s.drop_name {
                s.metric = drop_metadata(&s.metric);
                s.drop_name = false;
            }
        }
        self.merge_series_with_same_labelset(mat)
    }

    /// Merges series with identical labels whose points do not overlap (Go's
    /// `mergeSeriesWithSameLabelset`).
    pub(crate) fn merge_series_with_same_labelset(&mut self, mat: Matrix) -> Result<Matrix> {
        if mat.len() <= 1 {
            return Ok(mat);
        }
        let mut index: HashMap<u64, usize> = HashMap::with_capacity(mat.len());
        let mut dup = false;
        for (i, s) in mat.iter().enumerate() {
            if index.insert(s.metric.hash(), i).is_some() {
                dup = true;
                break;
            }
        }
        if !dup {
            return Ok(mat);
        }
        index.clear();
        let mut out: Matrix = Vec::with_capacity(mat.len());
        let mut merged = Vec::new();
        for s in mat {
            match index.get(&s.metric.hash()) {
                Some(&i) => {
                    let base: &mut Series = &mut out[i];
                    base.floats.extend(s.floats);
                    base.histograms.extend(s.histograms);
                    merged.push(i);
                }
                None => {
                    index.insert(s.metric.hash(), out.len());
                    out.push(s);
                }
            }
        }
        for i in merged {
            let series = &mut out[i];
            series.floats.sort_by_key(|p| p.t);
            series.histograms.sort_by_key(|p| p.t);
            let (f, h) = (&series.floats, &series.histograms);
            if f.windows(2).any(|w| w[0].t == w[1].t)
                || h.windows(2).any(|w| w[0].t == w[1].t)
                || h.iter()
                    .any(|p| f.binary_search_by_key(&p.t, |q| q.t).is_ok())
            {
                return Err(Error::Eval(
                    "vector cannot contain metrics with the same labelset".into(),
                ));
            }
        }
        Ok(out)
    }

    pub(crate) fn eval_matrix(&mut self, expr: &Expr) -> Result<Matrix> {
        match self.eval(expr)? {
            Val::Matrix(m) => Ok(m),
            Val::String(_) => Err(Error::Eval(
                "unexpected string where a vector or scalar was expected".into(),
            )),
        }
    }

    pub(crate) fn eval(&mut self, expr: &Expr) -> Result<Val> {
        self.check()?;
        if self.end < self.start {
            return Ok(Val::Matrix(Vec::new()));
        }
        match expr {
            Expr::Aggregate(a) => self.eval_aggregate(a).map(Val::Matrix),
            Expr::Call(c) => self.eval_call(c),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Unary(u) => {
                let mut mat = self.eval_matrix(&u.expr)?;
                if u.op == UnaryOp::Sub {
                    for s in &mut mat {
                        if !self.delayed_name_removal {
                            s.metric = drop_metadata(&s.metric);
                        }
                        s.drop_name = true;
                        for p in &mut s.floats {
                            p.f = -p.f;
                        }
                        for p in &mut s.histograms {
                            p.h = Arc::new(negate_histogram(&p.h));
                        }
                    }
                    if !self.delayed_name_removal {
                        mat = self.merge_series_with_same_labelset(mat)?;
                    }
                }
                Ok(Val::Matrix(mat))
            }
            Expr::Binary(b) => self.eval_binary(b).map(Val::Matrix),
            Expr::NumberLiteral(n) => {
                let v = n.val;
                let steps = self.num_steps();
                let floats = (0..steps)
                    .map(|i| FPoint {
                        t: self.start + i as i64 * self.interval,
                        f: v,
                    })
                    .collect();
                self.add_samples(steps)?;
                Ok(Val::Matrix(vec![Series {
                    metric: Labels::empty(),
                    floats,
                    histograms: Vec::new(),
                    drop_name: false,
                }]))
            }
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::VectorSelector(vs) => self.eval_vector_selector(vs).map(Val::Matrix),
            Expr::MatrixSelector(ms) => {
                if self.start != self.end {
                    return Err(Error::Eval(
                        "cannot do range evaluation of matrix selector".into(),
                    ));
                }
                self.eval_matrix_selector(ms).map(Val::Matrix)
            }
            Expr::Subquery(sq) => self.eval_subquery(sq).map(Val::Matrix),
            Expr::StepInvariant(si) => self.eval_step_invariant(&si.expr),
            Expr::Duration(_) => Err(Error::Eval(
                "duration expression was not resolved before evaluation".into(),
            )),
        }
    }

    fn eval_step_invariant(&mut self, inner: &Expr) -> Result<Val> {
        let mut sub = self.sub(self.start, self.start, self.interval);
        let res = sub.eval(inner)?;
        self.current_samples = sub.current_samples;
        // Evaluated once, counted at every step as an instant query at that step would;
        // read once.
        self.samples.add_each_step(sub.samples.total);
        self.samples.add_read(0, sub.samples.read);
        let mut mat = match res {
            Val::String(s) => return Ok(Val::String(s)),
            Val::Matrix(m) => m,
        };
        if matches!(
            inner.unwrap_parens(),
            Expr::MatrixSelector(_) | Expr::Subquery(_)
        ) {
            return Ok(Val::Matrix(mat));
        }
        let extra = self.num_steps().saturating_sub(1);
        let mut added = 0;
        for s in &mut mat {
            if let Some(first) = s.floats.first().copied() {
                s.floats.truncate(1);
                s.floats.reserve(extra);
                let mut ts = self.start + self.interval;
                while ts <= self.end {
                    s.floats.push(FPoint { t: ts, f: first.f });
                    ts += self.interval;
                }
                added += extra;
            } else if let Some(first) = s.histograms.first().cloned() {
                s.histograms.truncate(1);
                s.histograms.reserve(extra);
                let mut ts = self.start + self.interval;
                while ts <= self.end {
                    s.histograms.push(HPoint {
                        t: ts,
                        h: first.h.clone(),
                    });
                    ts += self.interval;
                }
                added += extra * first.size();
            }
        }
        self.add_samples(added)?;
        self.update_peak();
        Ok(Val::Matrix(mat))
    }

    /// Streams the series of a selector from storage, calling `f` with each series' labels,
    /// all its points in the selector's time range (staleness markers included) and the
    /// points without staleness markers. The point buffers are reused between series.
    pub(crate) fn for_each_series(
        &mut self,
        vs: &VectorSelector,
        f: &mut SeriesFn<'_, 'a>,
    ) -> Result<()> {
        self.for_each_series_of(vs, node_id(vs), f)
    }

    /// [`Evaluator::for_each_series`] for a copy of the selector whose node in the query
    /// had identity `id` (the storage hints are kept by node).
    pub(crate) fn for_each_series_of(
        &mut self,
        vs: &VectorSelector,
        id: usize,
        f: &mut SeriesFn<'_, 'a>,
    ) -> Result<()> {
        let hints = self.ctx.hints.get(&id).cloned();
        let stats = !self.ctx.stats_selectors.is_empty()
            && self.ctx.stats_selectors.contains(&stats_key(vs));
        self.for_each_selected(&vs.matchers, hints.as_ref(), stats, f)
    }

    /// Like [`Evaluator::for_each_series`] for explicit matchers and hints.
    pub(crate) fn for_each_matching(
        &mut self,
        matchers: &[model::Matcher],
        hints: Option<&SelectHints>,
        f: &mut SeriesFn<'_, 'a>,
    ) -> Result<()> {
        self.for_each_selected(matchers, hints, false, f)
    }

    /// [`Evaluator::for_each_matching`]; with `stats`, histograms keep only their count and
    /// sum, and an unknown counter reset hint is replaced by what comparing with the
    /// previous histogram of the series shows (Go's `HistogramStatsIterator`).
    fn for_each_selected(
        &mut self,
        matchers: &[model::Matcher],
        hints: Option<&SelectHints>,
        stats: bool,
        f: &mut SeriesFn<'_, 'a>,
    ) -> Result<()> {
        let opts = self.decode_opts(hints, stats);
        let mut set = self.querier()?.select(false, hints, matchers);
        let mut buf = SeriesBuf::default();
        while let Some(series) = set.next() {
            self.check()?;
            let series = series.map_err(Error::Storage)?;
            buf.decode(&*series, &opts)?;
            if !f(
                self,
                series.labels(),
                &buf.all,
                buf.live(),
                &buf.hists,
                buf.sts(),
            )? {
                break;
            }
        }
        for w in set.warnings() {
            self.ctx.annotations.borrow_mut().warn(w);
        }
        Ok(())
    }

    /// Streams the series of a copy of a selector (whose node in the query had identity
    /// `id`) through `map`, one series at a time, and hands each result to `reduce` in
    /// series order: `map` + `reduce` behave exactly as one [`SeriesFn`] doing both. Big
    /// selections switch to running `map` on worker threads
    /// ([`super::parallel`]); what `map` did to its evaluator is then replayed on this one
    /// in series order, so results, errors, sample accounting and statistics are the same.
    pub(crate) fn map_series_of<T: Send>(
        &mut self,
        vs: &VectorSelector,
        id: usize,
        map: &MapFn<'_, T>,
        reduce: &mut ReduceFn<'_, 'a, T>,
    ) -> Result<()> {
        let hints = self.ctx.hints.get(&id).cloned();
        let stats = !self.ctx.stats_selectors.is_empty()
            && self.ctx.stats_selectors.contains(&stats_key(vs));
        let opts = self.decode_opts(hints.as_ref(), stats);
        let mut set = self.querier()?.select(false, hints.as_ref(), &vs.matchers);
        // Per-step statistics are kept per evaluator, not per series: such queries stay
        // serial.
        let plan = self.ctx.parallel.filter(|_| !self.samples.keeps_per_step());
        let steps = self.num_steps();
        let (mut work, mut seen) = (0usize, 0usize);
        let mut buf = SeriesBuf::default();
        while let Some(series) = set.next() {
            self.check()?;
            let series = series.map_err(Error::Storage)?;
            buf.decode(&*series, &opts)?;
            let out = map(
                self,
                series.labels(),
                &buf.all,
                buf.live(),
                &buf.hists,
                buf.sts(),
            )?;
            if !reduce(self, out)? {
                break;
            }
            if let Some(plan) = plan {
                work += buf.all.len() + buf.hists.len() + steps;
                seen += 1;
                if super::parallel::worth_threads(&plan, work, seen) {
                    // Enough work to be worth threads: the rest goes parallel.
                    super::parallel::run(self, &mut *set, &opts, plan, work / seen, map, reduce)?;
                    break;
                }
            }
        }
        for w in set.warnings() {
            self.ctx.annotations.borrow_mut().warn(w);
        }
        Ok(())
    }

    fn querier(&self) -> Result<&dyn Querier> {
        self.ctx
            .querier
            .as_deref()
            .ok_or_else(|| Error::Eval("a parallel worker cannot select series".into()))
    }

    fn decode_opts(&self, hints: Option<&SelectHints>, stats: bool) -> DecodeOpts {
        let (mint, maxt) = hints.map_or((i64::MIN, i64::MAX), |h| (h.start, h.end));
        DecodeOpts {
            mint,
            maxt,
            stats,
            read_st: self.ctx.start_timestamps,
        }
    }

    /// Loads the series of a selector into memory (once per query).
    pub(crate) fn select(&mut self, vs: &VectorSelector) -> Result<Rc<Vec<LoadedSeries>>> {
        let id = node_id(vs);
        if let Some(s) = self.ctx.cache.borrow().get(&id) {
            return Ok(s.clone());
        }
        let mut out = Vec::new();
        self.for_each_series(vs, &mut |_, labels, all, live, hists, sts| {
            let has_stale = all.len() != live.len();
            out.push(LoadedSeries {
                labels: labels.clone(),
                live: live.to_vec(),
                all: has_stale.then(|| all.to_vec()),
                hists: hists.to_vec(),
                live_st: sts.live.to_vec(),
                all_st: (has_stale && !sts.all.is_empty()).then(|| sts.all.to_vec()),
                hists_st: sts.hists.to_vec(),
            });
            Ok(true)
        })?;
        let rc = Rc::new(out);
        self.ctx.cache.borrow_mut().insert(id, rc.clone());
        Ok(rc)
    }

    /// The time a selector reads at for evaluation step `ts`.
    fn ref_time(ts: i64, timestamp: Option<i64>, offset: i64) -> i64 {
        timestamp.unwrap_or(ts) - offset
    }

    fn eval_vector_selector(&mut self, vs: &VectorSelector) -> Result<Matrix> {
        if vs.smoothed {
            return self.eval_smoothed_selector(vs);
        }
        let steps = self.num_steps();
        let mut mat = Vec::new();
        let (start, end, interval, lookback) = (self.start, self.end, self.interval, self.lookback);
        let map = |ev: &mut Evaluator<'_>,
                   labels: &Labels,
                   pts: &[FPoint],
                   _: &[FPoint],
                   hs: &[HPoint],
                   _: SampleSts<'_>|
         -> Result<Option<Series>> {
            let mut floats = Vec::new();
            let mut histograms = Vec::new();
            let (mut cur, mut hcur) = (0usize, 0usize);
            let mut ts = start;
            while ts <= end {
                let r = Self::ref_time(ts, vs.timestamp, vs.original_offset);
                match lookback_sample(pts, &mut cur, hs, &mut hcur, r, lookback) {
                    Some(Looked::Float(f)) => {
                        if floats.is_empty() {
                            floats.reserve_exact(steps);
                        }
                        floats.push(FPoint { t: ts, f });
                    }
                    Some(Looked::Histogram(h)) => histograms.push(HPoint {
                        t: ts,
                        h: h.clone(),
                    }),
                    None => {}
                }
                ts += interval;
            }
            if floats.is_empty() && histograms.is_empty() {
                return Ok(None);
            }
            let hsize: usize = histograms.iter().map(HPoint::size).sum();
            ev.add_samples(floats.len() + hsize)?;
            ev.samples.add_points(start, interval, &floats);
            ev.samples.add_hpoints(start, interval, &histograms);
            Ok(Some(Series {
                metric: labels.clone(),
                floats,
                histograms,
                drop_name: false,
            }))
        };
        self.map_series_of(vs, node_id(vs), &map, &mut |_, s| {
            mat.extend(s);
            Ok(true)
        })?;
        Ok(mat)
    }

    /// The experimental `smoothed` instant selector: interpolates between the samples
    /// around each step.
    fn eval_smoothed_selector(&mut self, vs: &VectorSelector) -> Result<Matrix> {
        let series = self.select(vs)?;
        let mut mat = Vec::with_capacity(series.len());
        for s in series.iter() {
            let pts = &s.live;
            let hs = &s.hists;
            let mut floats = Vec::new();
            let mut histograms = Vec::new();
            let mut ts = self.start;
            while ts <= self.end {
                let r = Self::ref_time(ts, vs.timestamp, vs.original_offset);
                let lo = pts.partition_point(|p| p.t <= r - self.lookback);
                let hi = pts.partition_point(|p| p.t <= r + self.lookback);
                let w = &pts[lo..hi];
                let hlo = hs.partition_point(|p| p.t <= r - self.lookback);
                let hhi = hs.partition_point(|p| p.t <= r + self.lookback);
                let hw = &hs[hlo..hhi];
                let name = || model::strconv::quote(s.labels.metric_name().unwrap_or(""));
                if !w.is_empty() && !hw.is_empty() {
                    self.warn(
                        format!(
                            "encountered a mix of histograms and floats for metric name {}",
                            name()
                        ),
                        vs.pos,
                    );
                } else if !hw.is_empty() {
                    match smoothed_histogram(hw, r) {
                        Ok(Some(h)) => histograms.push(HPoint { t: ts, h }),
                        Ok(None) => {}
                        Err(_) => self.warn(
                            format!(
                                "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {}",
                                name()
                            ),
                            vs.pos,
                        ),
                    }
                } else if !w.is_empty() {
                    let i = w.partition_point(|p| p.t < r);
                    if i < w.len() && w[i].t == r {
                        floats.push(FPoint { t: ts, f: w[i].f });
                    } else if i > 0 && i < w.len() {
                        floats.push(FPoint {
                            t: ts,
                            f: functions::interpolate(w[i - 1], w[i], r, false),
                        });
                    } else if i > 0 {
                        floats.push(FPoint {
                            t: ts,
                            f: w[i - 1].f,
                        });
                    }
                }
                ts += self.interval;
            }
            if !floats.is_empty() || !histograms.is_empty() {
                let hsize: usize = histograms.iter().map(HPoint::size).sum();
                self.add_samples(floats.len() + hsize)?;
                mat.push(Series {
                    metric: s.labels.clone(),
                    floats,
                    histograms,
                    drop_name: false,
                });
            }
        }
        Ok(mat)
    }

    fn eval_matrix_selector(&mut self, ms: &MatrixSelector) -> Result<Matrix> {
        let vs = &ms.vector_selector;
        let series = self.select(vs)?;
        let maxt = Self::ref_time(self.start, vs.timestamp, vs.original_offset);
        let mint = maxt - ms.range;
        let mut mat = Vec::with_capacity(series.len());
        for s in series.iter() {
            let histograms = if vs.anchored || vs.smoothed {
                Vec::new()
            } else {
                let lo = s.hists.partition_point(|p| p.t <= mint);
                let hi = s.hists.partition_point(|p| p.t <= maxt);
                s.hists[lo..hi].to_vec()
            };
            let floats = if vs.anchored || vs.smoothed {
                let lo_t = mint - self.lookback;
                let hi_t = if vs.smoothed {
                    maxt + self.lookback
                } else {
                    maxt
                };
                let lo = s.live.partition_point(|p| p.t <= lo_t);
                let hi = s.live.partition_point(|p| p.t <= hi_t);
                functions::extend_floats(&s.live[lo..hi], mint, maxt, vs.smoothed)
            } else {
                let lo = s.live.partition_point(|p| p.t <= mint);
                let hi = s.live.partition_point(|p| p.t <= maxt);
                s.live[lo..hi].to_vec()
            };
            let hsize: usize = histograms.iter().map(HPoint::size).sum();
            self.samples.add_both(0, (floats.len() + hsize) as u64);
            if !floats.is_empty() || !histograms.is_empty() {
                self.add_samples(floats.len() + hsize)?;
                mat.push(Series {
                    metric: s.labels.clone(),
                    floats,
                    histograms,
                    drop_name: false,
                });
            }
        }
        Ok(mat)
    }

    /// A subquery as a value of its own (at the top of an instant query or of a
    /// step-invariant part): its samples count at the evaluator's last step.
    fn eval_subquery(&mut self, sq: &SubqueryExpr) -> Result<Matrix> {
        let (m, sub) = self.run_subquery(sq, false)?;
        let step = self.step_of(self.end);
        self.samples.add(step, sub.samples.total);
        self.samples.add_read(step, sub.samples.read);
        Ok(m)
    }

    /// A subquery consumed by a range function: its own sample counts are dropped (the
    /// function counts the subquery's output points in each window), its reads count once,
    /// at the first step whose window consumes them.
    fn eval_subquery_arg(&mut self, sq: &SubqueryExpr) -> Result<Matrix> {
        let steps = self.num_steps();
        let (m, sub) = self.run_subquery(sq, steps > 1)?;
        self.samples.merge_subquery_reads(
            &sub.samples,
            sub.start,
            sub.interval,
            &Consumer {
                start: self.start,
                interval: self.interval,
                steps,
                offset: sq.original_offset,
                range: sq.range,
                at: sq.timestamp,
            },
        );
        Ok(m)
    }

    /// Evaluates a subquery's expression on its own step grid; with `read_steps` the
    /// returned evaluator kept its reads per step.
    fn run_subquery(
        &mut self,
        sq: &SubqueryExpr,
        read_steps: bool,
    ) -> Result<(Matrix, Evaluator<'a>)> {
        let interval = if sq.step != 0 {
            sq.step
        } else {
            self.no_step_subquery_interval
        };
        if interval <= 0 {
            return Err(Error::Eval(format!(
                "subquery step must be positive, got {interval}ms"
            )));
        }
        let (base_start, base_end) = match sq.timestamp {
            Some(t) => (t, t),
            None => (self.start, self.end),
        };
        let end = base_end.saturating_sub(sq.original_offset);
        let lower = base_start
            .saturating_sub(sq.original_offset)
            .saturating_sub(sq.range);
        let mut start = interval * (lower / interval);
        if start <= lower {
            start = start.saturating_add(interval);
        }
        // Each step of the grid is allocated up front, where Go goes step by step and fails
        // once `max_samples` points are held: a grid of more steps than that (`x[100y:1ms]`)
        // fails the same way instead of asking for memory that could abort the process.
        let steps = end
            .checked_sub(start)
            .map_or(i64::MAX, |d| d / interval + 1);
        if usize::try_from(steps).is_ok_and(|n| n > self.max_samples.max(super::API_MAX_POINTS)) {
            return Err(Error::TooManySamples("query execution".into()));
        }
        let mut sub = self.sub(start, end, interval);
        if read_steps {
            sub.samples = SampleCounts::with_read_steps(sub.num_steps());
        }
        let m = sub.eval_matrix(&sq.expr)?;
        self.current_samples = sub.current_samples;
        Ok((m, sub))
    }

    /// Evaluates each argument over all steps, then calls `f` once per step with the
    /// arguments' vectors at that step (Go's `rangeEval`). With `matching`, also passes each
    /// sample's join-signature ordinal.
    pub(crate) fn range_eval(
        &mut self,
        args: &[&Expr],
        matching: Option<&parser::VectorMatching>,
        f: &mut StepFn<'_, 'a>,
    ) -> Result<Matrix> {
        let original = self.current_samples;
        let mut matrixes: Vec<Matrix> = Vec::with_capacity(args.len());
        for a in args {
            if a.value_type() == ValueType::String {
                matrixes.push(Vec::new());
            } else {
                matrixes.push(self.eval_matrix(a)?);
            }
        }
        // The arguments stay in memory until the last step is done.
        let with_args = self.current_samples;
        // Join signatures, computed once per input series.
        let mut series_sigs: Vec<Vec<usize>> = Vec::new();
        if let Some(m) = matching {
            let mut names: Vec<String> = m.matching_labels.clone();
            if !m.on {
                names.push(model::METRIC_NAME.to_string());
            }
            names.sort();
            let mut ordinals: HashMap<u64, usize> = HashMap::new();
            for mat in &matrixes {
                let mut sigs = Vec::with_capacity(mat.len());
                for s in mat {
                    let h = if m.on {
                        s.metric.hash_for_labels(&names)
                    } else {
                        s.metric.hash_without_labels(&names)
                    };
                    let n = ordinals.len();
                    sigs.push(*ordinals.entry(h).or_insert(n));
                }
                series_sigs.push(sigs);
            }
        }
        let mut cursors: Vec<Vec<usize>> = matrixes.iter().map(|m| vec![0; m.len()]).collect();
        let mut hcursors: Vec<Vec<usize>> = matrixes.iter().map(|m| vec![0; m.len()]).collect();
        let mut vectors: Vec<Vector> = matrixes
            .iter()
            .map(|m| Vec::with_capacity(m.len()))
            .collect();
        let mut sigs: Vec<Vec<usize>> = vec![Vec::new(); matrixes.len()];
        let biggest = matrixes.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let mut out: Vector = Vec::with_capacity(biggest);
        let mut index: HashMap<u64, usize> = HashMap::with_capacity(biggest);
        let mut result: Vec<(Series, i64)> = Vec::new();
        let steps = self.num_steps();
        let mut ts = self.start;
        let mut total = 0usize;
        while ts <= self.end {
            self.check()?;
            for (i, mat) in matrixes.iter().enumerate() {
                vectors[i].clear();
                sigs[i].clear();
                for (j, s) in mat.iter().enumerate() {
                    let c = &mut cursors[i][j];
                    let hc = &mut hcursors[i][j];
                    let sample = if let Some(p) = s.floats.get(*c)
                        && p.t == ts
                    {
                        *c += 1;
                        Some((p.f, None))
                    } else if let Some(p) = s.histograms.get(*hc)
                        && p.t == ts
                    {
                        *hc += 1;
                        Some((0.0, Some(p.h.clone())))
                    } else {
                        None
                    };
                    if let Some((f, h)) = sample {
                        vectors[i].push(Sample {
                            metric: s.metric.clone(),
                            t: ts,
                            f,
                            h,
                            drop_name: s.drop_name,
                        });
                        if matching.is_some() {
                            sigs[i].push(series_sigs[i][j]);
                        }
                    }
                }
            }
            out.clear();
            self.current_samples = with_args + total;
            f(self, &vectors, &sigs, ts, &mut out)?;
            let out_size: usize = out.iter().map(sample_size).sum();
            self.add_samples(out_size)?;
            total += out_size;
            if self.start == self.end {
                if !self.delayed_name_removal && contains_same_labelset(&out) {
                    return Err(Error::Eval(
                        "vector cannot contain metrics with the same labelset".into(),
                    ));
                }
                self.current_samples = original + out_size;
                self.update_peak();
                return Ok(out
                    .drain(..)
                    .map(|s| {
                        let (floats, histograms) = match s.h {
                            Some(h) => (Vec::new(), vec![HPoint { t: ts, h }]),
                            None => (vec![FPoint { t: ts, f: s.f }], Vec::new()),
                        };
                        Series {
                            metric: s.metric,
                            floats,
                            histograms,
                            drop_name: s.drop_name,
                        }
                    })
                    .collect());
            }
            for s in out.drain(..) {
                let h = s.metric.hash();
                match index.get(&h) {
                    Some(&i) => {
                        let (series, last) = &mut result[i];
                        if *last == ts {
                            return Err(Error::Eval(
                                "vector cannot contain metrics with the same labelset".into(),
                            ));
                        }
                        *last = ts;
                        match s.h {
                            Some(h) => series.histograms.push(HPoint { t: ts, h }),
                            None => series.floats.push(FPoint { t: ts, f: s.f }),
                        }
                    }
                    None => {
                        index.insert(h, result.len());
                        let mut series = Series {
                            metric: s.metric,
                            floats: Vec::new(),
                            histograms: Vec::new(),
                            drop_name: s.drop_name,
                        };
                        match s.h {
                            Some(h) => series.histograms.push(HPoint { t: ts, h }),
                            None => {
                                series.floats.reserve(steps.min(1024));
                                series.floats.push(FPoint { t: ts, f: s.f });
                            }
                        }
                        result.push((series, ts));
                    }
                }
            }
            ts += self.interval;
        }
        self.current_samples = original + total;
        self.update_peak();
        Ok(result.into_iter().map(|(s, _)| s).collect())
    }

    fn eval_binary(&mut self, b: &BinaryExpr) -> Result<Matrix> {
        super::binop::eval_binary(self, b)
    }

    fn eval_aggregate(&mut self, a: &AggregateExpr) -> Result<Matrix> {
        super::aggregation::eval_aggregate(self, a)
    }

    fn eval_call(&mut self, c: &Call) -> Result<Val> {
        functions::eval_call(self, c)
    }

    /// Evaluates a range-vector argument (matrix selector or subquery) into per-series
    /// point lists, with the read time of each step: `(series, timestamp, offset, range,
    /// anchored, smoothed)`.
    pub(crate) fn range_arg(&mut self, arg: &Expr) -> Result<Option<RangeArg>> {
        match arg {
            Expr::MatrixSelector(ms) => {
                let vs = &ms.vector_selector;
                Ok(Some(RangeArg {
                    series: RangeSeries::Selector(vs.clone(), node_id(vs)),
                    timestamp: vs.timestamp,
                    offset: vs.original_offset,
                    range: ms.range,
                    anchored: vs.anchored,
                    smoothed: vs.smoothed,
                }))
            }
            Expr::Subquery(sq) => {
                let mat = self.eval_subquery_arg(sq)?;
                Ok(Some(RangeArg {
                    series: RangeSeries::Evaluated(mat),
                    timestamp: sq.timestamp,
                    offset: sq.original_offset,
                    range: sq.range,
                    anchored: false,
                    smoothed: false,
                }))
            }
            Expr::Paren(p) => self.range_arg(&p.expr),
            Expr::StepInvariant(s) => self.range_arg(&s.expr),
            _ => Ok(None),
        }
    }
}

/// How the samples of selected series are read.
#[derive(Clone, Copy)]
pub(crate) struct DecodeOpts {
    /// The time range read (both inclusive).
    mint: i64,
    maxt: i64,
    /// Histograms keep only their count and sum ([`Evaluator::for_each_matching`]).
    stats: bool,
    /// Start timestamps are read.
    read_st: bool,
}

/// The decoded points of one series, reused from series to series.
#[derive(Default)]
pub(crate) struct SeriesBuf {
    /// All float points, staleness markers included.
    all: Vec<FPoint>,
    /// The float points without staleness markers, when `all` has any.
    live: Vec<FPoint>,
    hists: Vec<HPoint>,
    /// Start timestamps, aligned with the point lists once a sample has one.
    all_st: Vec<i64>,
    live_st: Vec<i64>,
    hists_st: Vec<i64>,
    stale: bool,
}

impl SeriesBuf {
    /// Reads the samples of `series` in the time range.
    pub(crate) fn decode(&mut self, series: &dyn storage::Series, o: &DecodeOpts) -> Result<()> {
        let mut it = series.iterator();
        self.all.clear();
        self.live.clear();
        self.hists.clear();
        self.all_st.clear();
        self.live_st.clear();
        self.hists_st.clear();
        let mut has_st = false;
        let mut stale = false;
        let mut last: Option<model::FloatHistogram> = None;
        let mut vt = it.seek(o.mint);
        loop {
            if !o.read_st {
                // The common case first: a run of floats without start timestamps.
                while vt == storage::ValueType::Float {
                    let (t, f) = it.at();
                    if t > o.maxt {
                        vt = storage::ValueType::None;
                        break;
                    }
                    stale |= model::value::is_stale_nan(f);
                    self.all.push(FPoint { t, f });
                    vt = it.next();
                }
            }
            let st = if o.read_st { it.at_st() } else { 0 };
            if st != 0 && !has_st && vt != storage::ValueType::None {
                has_st = true;
                self.all_st.resize(self.all.len(), 0);
                self.hists_st.resize(self.hists.len(), 0);
            }
            match vt {
                storage::ValueType::None => break,
                storage::ValueType::Float => {
                    let (t, f) = it.at();
                    if t > o.maxt {
                        break;
                    }
                    stale |= model::value::is_stale_nan(f);
                    self.all.push(FPoint { t, f });
                    if has_st {
                        self.all_st.push(st);
                    }
                }
                storage::ValueType::Histogram | storage::ValueType::FloatHistogram => {
                    let (t, h) = it.at_float_histogram();
                    if t > o.maxt {
                        break;
                    }
                    if model::value::is_stale_nan(h.sum) {
                        // A histogram staleness marker hides the series like a float one.
                        stale = true;
                        self.all.push(FPoint {
                            t,
                            f: model::value::stale_nan(),
                        });
                        if has_st {
                            self.all_st.push(0);
                        }
                    } else if o.stats {
                        let hint = match (h.counter_reset_hint, &last) {
                            (model::CounterResetHint::Unknown, Some(prev)) => {
                                if h.detect_reset(prev) {
                                    model::CounterResetHint::CounterReset
                                } else {
                                    model::CounterResetHint::NotCounterReset
                                }
                            }
                            (hint, _) => hint,
                        };
                        // Buckets are dropped; the schema stays, so that mixes of
                        // exponential and custom buckets are still noticed.
                        let reduced = model::FloatHistogram {
                            counter_reset_hint: hint,
                            schema: h.schema,
                            count: h.count,
                            sum: h.sum,
                            custom_values: h.custom_values.clone(),
                            ..model::FloatHistogram::default()
                        };
                        last = Some(h);
                        self.hists.push(HPoint {
                            t,
                            h: Arc::new(reduced),
                        });
                        if has_st {
                            self.hists_st.push(st);
                        }
                    } else {
                        self.hists.push(HPoint { t, h: Arc::new(h) });
                        if has_st {
                            self.hists_st.push(st);
                        }
                    }
                }
                other => {
                    return Err(Error::Eval(format!(
                        "unexpected sample type {other:?} in series {}",
                        series.labels()
                    )));
                }
            }
            vt = it.next();
        }
        if let Some(e) = it.err() {
            return Err(Error::Eval(format!("expanding series: {e}")));
        }
        self.stale = stale;
        if stale {
            self.live.extend(
                self.all
                    .iter()
                    .copied()
                    .filter(|p| !model::value::is_stale_nan(p.f)),
            );
            if has_st {
                self.live_st.extend(
                    self.all
                        .iter()
                        .zip(&self.all_st)
                        .filter(|(p, _)| !model::value::is_stale_nan(p.f))
                        .map(|(_, &st)| st),
                );
            }
        }
        Ok(())
    }

    /// All float points, staleness markers included.
    pub(crate) fn all(&self) -> &[FPoint] {
        &self.all
    }

    /// The float points without staleness markers.
    pub(crate) fn live(&self) -> &[FPoint] {
        if self.stale { &self.live } else { &self.all }
    }

    /// The histogram points.
    pub(crate) fn hists(&self) -> &[HPoint] {
        &self.hists
    }

    /// The start timestamps of the point lists.
    pub(crate) fn sts(&self) -> SampleSts<'_> {
        SampleSts {
            all: &self.all_st,
            live: if self.stale {
                &self.live_st
            } else {
                &self.all_st
            },
            hists: &self.hists_st,
        }
    }
}

/// The series a range function iterates over.
pub(crate) enum RangeSeries {
    /// Series streamed from storage: a copy of the selector, and the identity of its node
    /// in the query (which its storage hints are kept under).
    Selector(VectorSelector, usize),
    /// The result of a subquery.
    Evaluated(Matrix),
}

/// A range-vector argument of a function.
pub(crate) struct RangeArg {
    pub(crate) series: RangeSeries,
    pub(crate) timestamp: Option<i64>,
    pub(crate) offset: i64,
    pub(crate) range: i64,
    pub(crate) anchored: bool,
    pub(crate) smoothed: bool,
}

/// What an instant selector sees at one step.
enum Looked<'p> {
    Float(f64),
    Histogram(&'p Arc<model::FloatHistogram>),
}

/// The last sample (float or histogram) at or before `r` and after `r - lookback`,
/// advancing the cursors (which must only move forward across calls with increasing `r`).
/// Staleness markers hide the series.
fn lookback_sample<'p>(
    pts: &[FPoint],
    cur: &mut usize,
    hs: &'p [HPoint],
    hcur: &mut usize,
    r: i64,
    lookback: i64,
) -> Option<Looked<'p>> {
    while *cur < pts.len() && pts[*cur].t <= r {
        *cur += 1;
    }
    while *hcur < hs.len() && hs[*hcur].t <= r {
        *hcur += 1;
    }
    let f = cur.checked_sub(1).map(|i| pts[i]);
    let h = hcur.checked_sub(1).map(|i| &hs[i]);
    let (t, looked) = match (f, h) {
        (None, None) => return None,
        (Some(p), Some(hp)) if hp.t > p.t => (hp.t, Looked::Histogram(&hp.h)),
        (Some(p), _) => {
            if model::value::is_stale_nan(p.f) {
                return None;
            }
            (p.t, Looked::Float(p.f))
        }
        (None, Some(hp)) => (hp.t, Looked::Histogram(&hp.h)),
    };
    (t > r - lookback).then_some(looked)
}

/// The `smoothed` selector's histogram at `r` from the histograms around it: the one at
/// `r`, the interpolation between its neighbours (a counter that was reset in between
/// restarts from zero: the next histogram scaled by the elapsed fraction), or the last one
/// before `r`. Fails for neighbours that cannot be combined.
fn smoothed_histogram(
    w: &[HPoint],
    r: i64,
) -> std::result::Result<Option<Arc<model::FloatHistogram>>, super::hist::CombineError> {
    let i = w.partition_point(|p| p.t < r);
    if i < w.len() && w[i].t == r {
        return Ok(Some(w[i].h.clone()));
    }
    if i == 0 {
        return Ok(None);
    }
    let prev = &w[i - 1];
    let Some(next) = w.get(i) else {
        return Ok(Some(prev.h.clone()));
    };
    if prev.h.uses_custom_buckets() != next.h.uses_custom_buckets() {
        return Err(super::hist::CombineError::IncompatibleSchema);
    }
    let fraction = (r - prev.t) as f64 / (next.t - prev.t) as f64;
    let counter = next.h.counter_reset_hint != model::CounterResetHint::Gauge;
    if counter && next.h.detect_reset(&prev.h) {
        let mut h = super::hist::mul(&next.h, fraction);
        h.compact(0);
        return Ok(Some(Arc::new(h)));
    }
    let diff = super::hist::sub(&next.h, &prev.h)?;
    let step = super::hist::mul(&diff.h, fraction);
    let mut out = super::hist::add(&prev.h, &step)?.h;
    out.counter_reset_hint = prev.h.counter_reset_hint;
    Ok(Some(Arc::new(out)))
}

/// The number of samples a vector element counts as.
pub(crate) fn sample_size(s: &Sample) -> usize {
    s.h.as_deref().map_or(1, crate::value::histogram_samples)
}

/// The histogram multiplied by -1 (unary minus); the result is a gauge, as in Go.
pub(crate) fn negate_histogram(h: &model::FloatHistogram) -> model::FloatHistogram {
    let mut n = h.clone();
    n.mul(-1.0);
    n.counter_reset_hint = model::CounterResetHint::Gauge;
    n
}
