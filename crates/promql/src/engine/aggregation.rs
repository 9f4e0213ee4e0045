//! Aggregation operators (sum, avg, count, topk, quantile, count_values, limitk, ...).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use model::{CounterResetHint, FloatHistogram, Labels, LabelsBuilder};

use super::eval::Evaluator;
use super::hist;
use crate::functions::{self, format_go_float, go_g, kahan_inc, quantile};
use crate::parser::{AggregateExpr, AggregateOp, Expr, PosRange};
use crate::value::{FPoint, HPoint, Matrix, Sample, Series, Vector};
use crate::{Error, Result};

const MAX_INT64: f64 = 9_223_372_036_854_774_784.0;
const MIN_INT64: f64 = -9_223_372_036_854_775_808.0;

fn grouping_key(metric: &Labels, grouping: &[String], without: bool) -> u64 {
    if without {
        metric.hash_without_labels(grouping)
    } else if grouping.is_empty() {
        0
    } else {
        metric.hash_for_labels(grouping)
    }
}

fn grouping_labels(metric: &Labels, grouping: &[String], without: bool) -> Labels {
    if without {
        let mut b = LabelsBuilder::new(metric);
        for g in grouping {
            b.del(g);
        }
        b.del(model::METRIC_NAME);
        b.labels()
    } else if !grouping.is_empty() {
        let mut b = LabelsBuilder::new(metric);
        b.keep(grouping);
        b.labels()
    } else {
        Labels::empty()
    }
}

/// The per-step values of an aggregation parameter (Go's `fParams`).
struct Params {
    values: Vec<f64>,
    constant: Option<f64>,
    idx: usize,
}

impl Params {
    fn next(&mut self) -> f64 {
        if let Some(c) = self.constant {
            return c;
        }
        let v = self.values.get(self.idx).copied().unwrap_or(f64::NAN);
        self.idx += 1;
        v
    }
    fn all(&self) -> &[f64] {
        match &self.constant {
            Some(c) => std::slice::from_ref(c),
            None => &self.values,
        }
    }
    /// The largest value; NaN if any value is NaN (as Go's `math.Max`).
    fn max(&self) -> f64 {
        if self.has_nan() {
            return f64::NAN;
        }
        self.all().iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }
    /// The smallest value; NaN if any value is NaN (as Go's `math.Min`).
    fn min(&self) -> f64 {
        if self.has_nan() {
            return f64::NAN;
        }
        self.all().iter().copied().fold(f64::INFINITY, f64::min)
    }
    fn has_nan(&self) -> bool {
        self.all().iter().any(|v| v.is_nan())
    }
}

fn eval_params(ev: &mut Evaluator<'_>, param: Option<&Expr>) -> Result<Params> {
    let Some(p) = param else {
        return Ok(Params {
            values: Vec::new(),
            constant: Some(f64::NAN),
            idx: 0,
        });
    };
    if let Expr::NumberLiteral(n) = p.unwrap_parens() {
        return Ok(Params {
            values: Vec::new(),
            constant: Some(n.val),
            idx: 0,
        });
    }
    let mat = ev.eval_matrix(p)?;
    let steps = ev.num_steps();
    let mut values = vec![f64::NAN; steps];
    if let Some(s) = mat.first() {
        for pt in &s.floats {
            let i = usize::try_from((pt.t - ev.start) / ev.interval).unwrap_or(usize::MAX);
            if let Some(v) = values.get_mut(i) {
                *v = pt.f;
            }
        }
    }
    Ok(Params {
        values,
        constant: None,
        idx: 0,
    })
}

/// An annotation raised while aggregating, emitted at the aggregated expression.
enum AggNote {
    Info(String),
    Warn(String),
}

fn emit_notes(ev: &Evaluator<'_>, notes: &mut Vec<AggNote>, pos: PosRange) {
    for n in notes.drain(..) {
        match n {
            AggNote::Info(m) => ev.info(m, pos),
            AggNote::Warn(m) => ev.warn(m, pos),
        }
    }
}

fn ignored(notes: &mut Vec<AggNote>, op: AggregateOp) {
    notes.push(AggNote::Info(format!(
        "ignored histogram in {} aggregation",
        op.as_str()
    )));
}

/// Go's `handleAggregationError`.
fn combine_failed(notes: &mut Vec<AggNote>, e: hist::CombineError, metric_name: &str) {
    let what = match e {
        hist::CombineError::IncompatibleSchema => {
            "vector contains a mix of histograms with exponential and custom buckets schemas for metric name"
        }
        hist::CombineError::IncompatibleBounds => {
            "vector contains histograms with incompatible custom buckets for metric name"
        }
    };
    notes.push(AggNote::Warn(format!(
        "{what} {}",
        model::strconv::quote(metric_name)
    )));
}

#[derive(Clone, Default)]
struct Group {
    seen: bool,
    hist: Option<FloatHistogram>,
    /// The Kahan compensation of `hist` (sum, and avg until it would overflow).
    hist_c: Option<FloatHistogram>,
    /// avg of histograms switched to the incremental mean (the sum would overflow).
    hist_incremental: bool,
    has_float: bool,
    has_hist: bool,
    incompatible: bool,
    counter_reset_seen: bool,
    not_counter_reset_seen: bool,
    acc: FloatAcc,
    drop_name: bool,
    heap: Vec<Sample>,
    complete: bool,
}

/// The float part of a group's state: what `sum`, `avg`, `count`, `min`, `max`, `group`,
/// `stddev` and `stdvar` keep of float inputs (and `count` and `avg` of histograms).
#[derive(Clone, Copy, Default)]
struct FloatAcc {
    value: f64,
    mean: f64,
    /// The Kahan compensation of `value` (of `mean` once `incremental_mean` is set).
    c: f64,
    count: f64,
    /// avg switched to the incremental mean (the sum would overflow).
    incremental_mean: bool,
}

impl FloatAcc {
    /// The state after a group's first value `f` (for histograms, `f` is 0).
    #[inline(always)]
    fn first(op: AggregateOp, f: f64) -> FloatAcc {
        let value = match op {
            AggregateOp::Stddev | AggregateOp::Stdvar => {
                if f.is_nan() || f.is_infinite() {
                    f64::NAN
                } else {
                    0.0
                }
            }
            AggregateOp::Group => 1.0,
            _ => f,
        };
        FloatAcc {
            value,
            mean: f,
            c: 0.0,
            count: 1.0,
            incremental_mean: false,
        }
    }

    /// Adds a further float value (every op but `quantile`, which keeps its values).
    #[inline(always)]
    fn add(&mut self, op: AggregateOp, f: f64) {
        match op {
            AggregateOp::Sum => (self.value, self.c) = kahan_inc(f, self.value, self.c),
            AggregateOp::Avg => {
                self.count += 1.0;
                if !self.incremental_mean {
                    let (nv, nc) = kahan_inc(f, self.value, self.c);
                    if !nv.is_infinite() {
                        self.value = nv;
                        self.c = nc;
                        return;
                    }
                    self.incremental_mean = true;
                    self.mean = self.value / (self.count - 1.0);
                    self.c /= self.count - 1.0;
                }
                let qq = (self.count - 1.0) / self.count;
                (self.mean, self.c) = kahan_inc(f / self.count, qq * self.mean, qq * self.c);
            }
            AggregateOp::Max if self.value < f || self.value.is_nan() => self.value = f,
            AggregateOp::Min if self.value > f || self.value.is_nan() => self.value = f,
            AggregateOp::Count => self.count += 1.0,
            AggregateOp::Stddev | AggregateOp::Stdvar => {
                self.count += 1.0;
                let delta = f - self.mean;
                self.mean += delta / self.count;
                self.value += delta * (f - self.mean);
            }
            _ => {}
        }
    }

    /// The aggregated float value (every op but `quantile`).
    #[inline]
    fn result(&self, op: AggregateOp) -> f64 {
        match op {
            AggregateOp::Avg => {
                if self.incremental_mean {
                    self.mean + self.c
                } else {
                    self.value / self.count + self.c / self.count
                }
            }
            AggregateOp::Count => self.count,
            AggregateOp::Stdvar => self.value / self.count,
            AggregateOp::Stddev => (self.value / self.count).sqrt(),
            AggregateOp::Sum => self.value + self.c,
            _ => self.value,
        }
    }
}

pub(crate) fn eval_aggregate(ev: &mut Evaluator<'_>, a: &AggregateExpr) -> Result<Matrix> {
    let mut grouping = a.grouping.clone();
    grouping.sort();
    if a.op == AggregateOp::CountValues {
        let label = match a.param.as_deref().map(Expr::unwrap_parens) {
            Some(Expr::StringLiteral(s)) => s.val.clone(),
            _ => return Err(Error::Eval("count_values needs a string parameter".into())),
        };
        if label.is_empty() {
            return Err(Error::Eval(format!("invalid label name {label:?}")));
        }
        if !a.without {
            grouping.push(label.clone());
            grouping.sort();
        }
        let without = a.without;
        return ev.range_eval(&[&a.expr], None, &mut |_, v, _, _, out| {
            count_values(&v[0], &grouping, without, &label, out);
            Ok(())
        });
    }
    let original = ev.current_samples;
    if let Some(result) = try_fused(ev, a, &grouping)? {
        let total: usize = result.iter().map(series_size).sum();
        ev.current_samples = original + total;
        ev.update_peak();
        return Ok(result);
    }
    let mut params = eval_params(ev, a.param.as_deref())?;
    let input = ev.eval_matrix(&a.expr)?;
    let result = range_eval_agg(ev, a, &grouping, input, &mut params)?;
    let total: usize = result.iter().map(series_size).sum();
    ev.current_samples = original + total;
    ev.update_peak();
    Ok(result)
}

/// The samples a series counts as.
fn series_size(s: &Series) -> usize {
    s.floats.len() + s.histograms.iter().map(HPoint::size).sum::<usize>()
}

/// Above this many groups the fused path gives up (its per-group state grows with the
/// number of steps) and the aggregation runs on the materialised input instead.
const FUSE_MAX_GROUPS: usize = 256;

/// `sum`, `avg`, `count`, `min`, `max` and `group` over a range function of a plain range
/// selector: folds each input series into the groups as soon as it is computed, so the
/// input matrix is never held in memory. Values are added in the same series order as in
/// the unfused evaluation, so results are identical. `None` when not applicable.
fn try_fused(
    ev: &mut Evaluator<'_>,
    a: &AggregateExpr,
    grouping: &[String],
) -> Result<Option<Matrix>> {
    if !matches!(
        a.op,
        AggregateOp::Sum
            | AggregateOp::Avg
            | AggregateOp::Count
            | AggregateOp::Min
            | AggregateOp::Max
            | AggregateOp::Group
    ) {
        return Ok(None);
    }
    let Expr::Call(c) = a.expr.unwrap_parens() else {
        return Ok(None);
    };
    let Some(mi) = functions::fusable_range_call(c) else {
        return Ok(None);
    };
    let steps = ev.num_steps();
    let (start, interval) = (ev.start, ev.interval);
    let delayed = ev.delayed_name_removal;
    let (op, without) = (a.op, a.without);
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut groups: Vec<(Labels, Cells)> = Vec::new();
    let mut seen: HashSet<u64> = HashSet::new();
    let (mut aborted, mut dup) = (false, false);
    let mut notes = Vec::new();
    functions::for_each_range_output(ev, c, mi, &mut |_, s| {
        if !delayed && !seen.insert(s.metric.hash()) {
            dup = true;
            return Ok(false);
        }
        let key = grouping_key(&s.metric, grouping, without);
        let gi = match index.get(&key) {
            Some(&i) => i,
            None => {
                if groups.len() >= FUSE_MAX_GROUPS {
                    aborted = true;
                    return Ok(false);
                }
                index.insert(key, groups.len());
                groups.push((
                    grouping_labels(&s.metric, grouping, without),
                    Cells::Floats(vec![FloatCell::default(); steps]),
                ));
                groups.len() - 1
            }
        };
        let cells = &mut groups[gi].1;
        if !s.histograms.is_empty() {
            cells.make_general(op);
        }
        match cells {
            Cells::Floats(cells) => {
                fold_floats(cells, op, &s.floats, s.drop_name, start, interval);
            }
            Cells::General(g) => {
                let name = s.metric.metric_name().unwrap_or("");
                let mut at = StepCursor::new(start, interval);
                for p in &s.floats {
                    if let Some(gr) = g.get_mut(at.step_of(p.t)) {
                        group_add(gr, op, p.f, None, s.drop_name, name, &mut notes);
                    }
                }
                let mut at = StepCursor::new(start, interval);
                for p in &s.histograms {
                    if let Some(gr) = g.get_mut(at.step_of(p.t)) {
                        group_add(gr, op, 0.0, Some(&p.h), s.drop_name, name, &mut notes);
                    }
                }
            }
        }
        Ok(true)
    })?;
    if dup {
        return Err(Error::Eval(
            "vector cannot contain metrics with the same labelset".into(),
        ));
    }
    if aborted {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(groups.len());
    for (metric, cells) in groups {
        let mut series = Series {
            metric,
            ..Series::default()
        };
        match cells {
            Cells::Floats(cells) => {
                let n = cells.iter().filter(|c| c.seen).count();
                series.floats.reserve_exact(n);
                for (i, cell) in cells.iter().enumerate() {
                    if cell.seen {
                        let t = start + i as i64 * interval;
                        series.drop_name = cell.drop_name;
                        series.floats.push(FPoint {
                            t,
                            f: cell.acc.result(op),
                        });
                    }
                }
            }
            Cells::General(g) => {
                for (i, gr) in g.into_iter().enumerate() {
                    if gr.seen {
                        let t = start + i as i64 * interval;
                        series.drop_name = gr.drop_name;
                        match group_value(gr, op, f64::NAN, &mut notes) {
                            Some((_, Some(h))) => {
                                series.histograms.push(HPoint { t, h: Arc::new(h) });
                            }
                            Some((f, None)) => series.floats.push(FPoint { t, f }),
                            None => {}
                        }
                    }
                }
            }
        }
        if !series.floats.is_empty() || !series.histograms.is_empty() {
            out.push(series);
        }
    }
    emit_notes(ev, &mut notes, a.expr.pos());
    ev.add_samples(0)?;
    Ok(Some(out))
}

/// The per-step states of a fused group.
enum Cells {
    /// While the group has seen floats only: the float state of each step, small and
    /// cheap to update.
    Floats(Vec<FloatCell>),
    /// Once a histogram arrived: the full state of each step.
    General(Vec<Group>),
}

impl Cells {
    /// Switches to the full states (the same states [`group_add`] would have built from
    /// the same floats).
    fn make_general(&mut self, op: AggregateOp) {
        if let Cells::Floats(cells) = self {
            let general = cells
                .iter()
                .map(|c| Group {
                    seen: c.seen,
                    has_float: c.seen && matches!(op, AggregateOp::Sum | AggregateOp::Avg),
                    acc: c.acc,
                    drop_name: c.drop_name,
                    ..Group::default()
                })
                .collect();
            *self = Cells::General(general);
        }
    }
}

/// A group's state at one step while it has seen floats only: [`group_add`] of floats,
/// without the histogram state.
#[derive(Clone, Copy, Default)]
struct FloatCell {
    acc: FloatAcc,
    seen: bool,
    drop_name: bool,
}

impl FloatCell {
    /// [`group_add`] of a float.
    #[inline(always)]
    fn add(&mut self, op: AggregateOp, f: f64, drop_name: bool) {
        if self.seen {
            self.drop_name |= drop_name;
            self.acc.add(op, f);
        } else {
            *self = FloatCell {
                acc: FloatAcc::first(op, f),
                seen: true,
                drop_name,
            };
        }
    }
}

/// Adds the points of a series to the float states of its group: [`FloatCell::add`] with
/// the op fixed per loop.
fn fold_floats(
    cells: &mut [FloatCell],
    op: AggregateOp,
    pts: &[FPoint],
    drop_name: bool,
    start: i64,
    interval: i64,
) {
    #[inline(always)]
    fn fold(
        cells: &mut [FloatCell],
        op: AggregateOp,
        pts: &[FPoint],
        drop_name: bool,
        mut at: StepCursor,
    ) {
        for p in pts {
            if let Some(cell) = cells.get_mut(at.step_of(p.t)) {
                cell.add(op, p.f, drop_name);
            }
        }
    }
    let at = StepCursor::new(start, interval);
    match op {
        AggregateOp::Sum => fold(cells, AggregateOp::Sum, pts, drop_name, at),
        AggregateOp::Avg => fold(cells, AggregateOp::Avg, pts, drop_name, at),
        AggregateOp::Count => fold(cells, AggregateOp::Count, pts, drop_name, at),
        AggregateOp::Min => fold(cells, AggregateOp::Min, pts, drop_name, at),
        AggregateOp::Max => fold(cells, AggregateOp::Max, pts, drop_name, at),
        other => fold(cells, other, pts, drop_name, at),
    }
}

/// Maps the increasing timestamps of a series' points to their steps, without a division
/// where a point is at the step after the previous point's (as a range function's
/// consecutive outputs are).
struct StepCursor {
    start: i64,
    interval: i64,
    /// The next step and its time.
    step: usize,
    t: i64,
}

impl StepCursor {
    fn new(start: i64, interval: i64) -> StepCursor {
        StepCursor {
            start,
            interval,
            step: 0,
            t: start,
        }
    }

    /// The step of `t`, as `(t - start) / interval` (`usize::MAX` when negative).
    #[inline(always)]
    fn step_of(&mut self, t: i64) -> usize {
        if t == self.t {
            let step = self.step;
            self.step += 1;
            self.t += self.interval;
            return step;
        }
        let step = usize::try_from((t - self.start) / self.interval).unwrap_or(usize::MAX);
        if step != usize::MAX && self.start + step as i64 * self.interval == t {
            // On the grid: the next step's time is known.
            self.step = step + 1;
            self.t = t + self.interval;
        }
        step
    }
}

fn count_values(vec: &Vector, grouping: &[String], without: bool, label: &str, out: &mut Vector) {
    let mut result: HashMap<u64, (Labels, usize)> = HashMap::new();
    let mut order = Vec::new();
    for s in vec {
        let mut b = LabelsBuilder::new(&s.metric);
        match &s.h {
            Some(h) => b.set(label, &h.to_go_string()),
            None => b.set(label, &format_go_float(s.f)),
        };
        let metric = b.labels();
        let key = grouping_key(&metric, grouping, without);
        match result.get_mut(&key) {
            Some(g) => g.1 += 1,
            None => {
                order.push(key);
                result.insert(key, (grouping_labels(&metric, grouping, without), 1));
            }
        }
    }
    for k in order {
        if let Some((l, c)) = result.remove(&k) {
            out.push(Sample {
                h: None,
                metric: l,
                t: 0,
                f: c as f64,
                drop_name: false,
            });
        }
    }
}

/// Go's `vectorByValueHeap.Less` (`reverse == false`) and `vectorByReverseValueHeap.Less`.
fn heap_less(h: &[Sample], i: usize, j: usize, reverse: bool) -> bool {
    let (vi, vj) = (h[i].f, h[j].f);
    if vi.is_nan() {
        return true;
    }
    if reverse { vi > vj } else { vi < vj }
}

fn heap_up(h: &mut [Sample], mut j: usize, reverse: bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !heap_less(h, j, i, reverse) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

fn heap_down(h: &mut [Sample], i0: usize, reverse: bool) -> bool {
    let n = h.len();
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        let j2 = j1 + 1;
        if j2 < n && heap_less(h, j2, j1, reverse) {
            j = j2;
        }
        if !heap_less(h, j, i, reverse) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    i > i0
}

fn heap_push(h: &mut Vec<Sample>, s: Sample, reverse: bool) {
    h.push(s);
    let n = h.len() - 1;
    heap_up(h, n, reverse);
}

fn heap_fix0(h: &mut [Sample], reverse: bool) {
    if !heap_down(h, 0, reverse) {
        heap_up(h, 0, reverse);
    }
}

/// Go's `HashRatioSampler.AddRatioSample`, with the hash of Go's default label layout.
fn add_ratio_sample(ratio: f64, s: &Sample) -> bool {
    let offset = crate::value::stringlabels_hash(&s.metric) as f64 / u64::MAX as f64;
    (ratio >= 0.0 && offset < ratio) || (ratio < 0.0 && offset >= 1.0 + ratio)
}

/// The series' value at step `ts` (Go's `nextValues`), advancing its cursors.
fn next_value(
    series: &Series,
    cursor: &mut (usize, usize),
    ts: i64,
) -> Option<(f64, Option<Arc<FloatHistogram>>)> {
    if let Some(p) = series.floats.get(cursor.0)
        && p.t == ts
    {
        cursor.0 += 1;
        return Some((p.f, None));
    }
    if let Some(p) = series.histograms.get(cursor.1)
        && p.t == ts
    {
        cursor.1 += 1;
        return Some((0.0, Some(p.h.clone())));
    }
    None
}

fn range_eval_agg(
    ev: &mut Evaluator<'_>,
    a: &AggregateExpr,
    grouping: &[String],
    input: Matrix,
    params: &mut Params,
) -> Result<Matrix> {
    let op = a.op;
    let is_k = matches!(
        op,
        AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk | AggregateOp::LimitRatio
    );
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut series_to_group = Vec::with_capacity(input.len());
    let mut result: Matrix = Vec::new();
    for s in &input {
        let key = grouping_key(&s.metric, grouping, a.without);
        let n = index.len();
        let g = *index.entry(key).or_insert_with(|| {
            if !is_k {
                result.push(Series {
                    histograms: Vec::new(),
                    metric: grouping_labels(&s.metric, grouping, a.without),
                    floats: Vec::new(),
                    drop_name: false,
                });
            }
            n
        });
        series_to_group.push(g);
    }
    let mut groups = vec![Group::default(); index.len()];
    let param_pos = a.param.as_deref().map(Expr::pos).unwrap_or(a.pos);
    match op {
        AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk => {
            if params.max() < 1.0 {
                return Ok(Vec::new());
            }
            if params.has_nan() {
                return Err(Error::Eval("Parameter value is NaN".into()));
            }
            let min = params.min();
            if min <= MIN_INT64 {
                return Err(Error::Eval(format!(
                    "Scalar value {} underflows int64",
                    go_g(min)
                )));
            }
            let max = params.max();
            if max >= MAX_INT64 {
                return Err(Error::Eval(format!(
                    "Scalar value {} overflows int64",
                    go_g(max)
                )));
            }
        }
        AggregateOp::LimitRatio => {
            if params.max() == 0.0 && params.min() == 0.0 {
                return Ok(Vec::new());
            }
            if params.has_nan() {
                return Err(Error::Eval("Ratio value is NaN".into()));
            }
            if params.max() > 1.0 {
                ev.warn(
                    format!(
                        "ratio value should be between -1 and 1, got {}, capping to {}",
                        go_g(params.max()),
                        go_g(1.0)
                    ),
                    param_pos,
                );
            }
            if params.min() < -1.0 {
                ev.warn(
                    format!(
                        "ratio value should be between -1 and 1, got {}, capping to {}",
                        go_g(params.min()),
                        go_g(-1.0)
                    ),
                    param_pos,
                );
            }
        }
        AggregateOp::Quantile => {
            if params.has_nan() {
                ev.warn(
                    "quantile value should be between 0 and 1, got NaN".into(),
                    param_pos,
                );
            }
            if params.max() > 1.0 {
                ev.warn(
                    format!(
                        "quantile value should be between 0 and 1, got {}",
                        go_g(params.max())
                    ),
                    param_pos,
                );
            }
            if params.min() < 0.0 {
                ev.warn(
                    format!(
                        "quantile value should be between 0 and 1, got {}",
                        go_g(params.min())
                    ),
                    param_pos,
                );
            }
        }
        _ => {}
    }
    let mut cursors = vec![(0usize, 0usize); input.len()];
    let mut notes = Vec::new();
    let mut k_series: Vec<Series> = Vec::new();
    let mut k_index: HashMap<u64, usize> = HashMap::new();
    let instant = ev.start == ev.end;
    let mut ts = ev.start;
    while ts <= ev.end {
        ev.check()?;
        let fparam = params.next();
        if is_k {
            let out = aggregation_k(
                op,
                fparam,
                &input,
                &series_to_group,
                &mut groups,
                &mut cursors,
                ts,
                &mut notes,
            )?;
            emit_notes(ev, &mut notes, a.pos);
            if instant {
                return Ok(out
                    .into_iter()
                    .map(|s| {
                        let (floats, histograms) = match s.h {
                            Some(h) => (Vec::new(), vec![HPoint { t: ts, h }]),
                            None => (vec![FPoint { t: ts, f: s.f }], Vec::new()),
                        };
                        Series {
                            histograms,
                            metric: s.metric,
                            floats,
                            drop_name: s.drop_name,
                        }
                    })
                    .collect());
            }
            for s in out {
                let h = s.metric.hash();
                let i = *k_index.entry(h).or_insert_with(|| {
                    k_series.push(Series {
                        histograms: Vec::new(),
                        metric: s.metric.clone(),
                        floats: Vec::new(),
                        drop_name: s.drop_name,
                    });
                    k_series.len() - 1
                });
                match s.h {
                    Some(h) => k_series[i].histograms.push(HPoint { t: ts, h }),
                    None => k_series[i].floats.push(FPoint { t: ts, f: s.f }),
                }
            }
        } else {
            aggregation(
                op,
                fparam,
                &input,
                &mut result,
                &series_to_group,
                &mut groups,
                &mut cursors,
                ts,
                &mut notes,
            );
            emit_notes(ev, &mut notes, a.expr.pos());
        }
        ev.add_samples(0)?;
        ts += ev.interval;
    }
    if is_k {
        return Ok(k_series);
    }
    result.retain(|s| !s.floats.is_empty() || !s.histograms.is_empty());
    Ok(result)
}

#[allow(clippy::too_many_arguments)]
fn aggregation(
    op: AggregateOp,
    q: f64,
    input: &Matrix,
    result: &mut Matrix,
    series_to_group: &[usize],
    groups: &mut [Group],
    cursors: &mut [(usize, usize)],
    ts: i64,
    notes: &mut Vec<AggNote>,
) {
    for g in groups.iter_mut() {
        g.seen = false;
    }
    for (si, series) in input.iter().enumerate() {
        let Some((f, h)) = next_value(series, &mut cursors[si], ts) else {
            continue;
        };
        let name = series.metric.metric_name().unwrap_or("");
        group_add(
            &mut groups[series_to_group[si]],
            op,
            f,
            h.as_ref(),
            series.drop_name,
            name,
            notes,
        );
    }
    for (ri, g) in groups.iter_mut().enumerate() {
        if !g.seen {
            continue;
        }
        let drop_name = g.drop_name;
        let value = group_value(std::mem::take(g), op, q, notes);
        let s = &mut result[ri];
        match value {
            Some((_, Some(h))) => s.histograms.push(HPoint {
                t: ts,
                h: Arc::new(h),
            }),
            Some((f, None)) => s.floats.push(FPoint { t: ts, f }),
            None => continue,
        }
        s.drop_name = drop_name;
    }
}

fn note_hint(group: &mut Group, h: &FloatHistogram) {
    match h.counter_reset_hint {
        CounterResetHint::CounterReset => group.counter_reset_seen = true,
        CounterResetHint::NotCounterReset => group.not_counter_reset_seen = true,
        _ => {}
    }
}

/// Adds one value (a float, or a histogram when `h` is set) to a group (one step of Go's
/// `aggregation` loop body).
#[allow(clippy::too_many_arguments)]
fn group_add(
    group: &mut Group,
    op: AggregateOp,
    f: f64,
    h: Option<&Arc<FloatHistogram>>,
    drop_name: bool,
    metric_name: &str,
    notes: &mut Vec<AggNote>,
) {
    if !group.seen {
        *group = Group {
            seen: true,
            acc: FloatAcc::first(op, f),
            drop_name,
            ..Group::default()
        };
        match op {
            AggregateOp::Sum | AggregateOp::Avg => match h {
                None => group.has_float = true,
                Some(h) => {
                    group.hist = Some((**h).clone());
                    group.has_hist = true;
                    note_hint(group, h);
                }
            },
            AggregateOp::Stddev
            | AggregateOp::Stdvar
            | AggregateOp::Quantile
            | AggregateOp::Min
            | AggregateOp::Max
                if h.is_some() =>
            {
                group.seen = false;
                ignored(notes, op);
            }
            AggregateOp::Quantile => {
                group.heap = vec![Sample {
                    h: None,
                    metric: Labels::empty(),
                    t: 0,
                    f,
                    drop_name: false,
                }];
            }
            _ => {}
        }
        return;
    }
    if group.incompatible {
        return;
    }
    if drop_name {
        group.drop_name = true;
    }
    if let Some(h) = h {
        match op {
            AggregateOp::Sum => {
                group.has_hist = true;
                if group.hist.is_some() {
                    note_hint(group, h);
                }
                if let Some(acc) = group.hist.as_mut() {
                    match hist::kahan_add(acc, h, group.hist_c.take()) {
                        Ok((c, outcome)) => {
                            if outcome.nhcb_reconciled {
                                reconciled(notes);
                            }
                            group.hist_c = Some(c);
                        }
                        Err(e) => {
                            combine_failed(notes, e, metric_name);
                            group.incompatible = true;
                        }
                    }
                }
            }
            AggregateOp::Avg => {
                group.acc.count += 1.0;
                group.has_hist = true;
                if group.hist.is_some() {
                    note_hint(group, h);
                }
                if !group.hist_incremental
                    && let Some(acc) = group.hist.as_ref()
                {
                    // Direct mean (a compensated sum divided at the end) while the sum
                    // does not overflow, as for floats.
                    let mut next = acc.clone();
                    match hist::kahan_add(&mut next, h, group.hist_c.clone()) {
                        Ok((c, outcome)) if !next.has_overflow() => {
                            if outcome.nhcb_reconciled {
                                reconciled(notes);
                            }
                            group.hist = Some(next);
                            group.hist_c = Some(c);
                            return;
                        }
                        Ok(_) => {
                            // Switch to the incremental mean of what was summed so far.
                            let mut mean = acc.clone();
                            if let Some(c) = group.hist_c.take() {
                                let _ = mean.add(&c);
                            }
                            group.hist = Some(hist::div(&mean, group.acc.count - 1.0));
                            group.hist_incremental = true;
                        }
                        Err(e) => {
                            combine_failed(notes, e, metric_name);
                            group.incompatible = true;
                            return;
                        }
                    }
                }
                if let Some(acc) = &group.hist {
                    let left = hist::div(h, group.acc.count);
                    let right = hist::div(acc, group.acc.count);
                    let step = hist::sub(&left, &right).and_then(|d| {
                        let r1 = d.nhcb_reconciled;
                        hist::add(acc, &d.h).map(|mut c| {
                            c.nhcb_reconciled |= r1;
                            c
                        })
                    });
                    match step {
                        Ok(c) => {
                            if c.nhcb_reconciled {
                                reconciled(notes);
                            }
                            group.hist = Some(c.h);
                        }
                        Err(e) => {
                            combine_failed(notes, e, metric_name);
                            group.incompatible = true;
                        }
                    }
                }
            }
            AggregateOp::Count => group.acc.count += 1.0,
            AggregateOp::Group => {}
            AggregateOp::Max
            | AggregateOp::Min
            | AggregateOp::Stddev
            | AggregateOp::Stdvar
            | AggregateOp::Quantile => ignored(notes, op),
            _ => {}
        }
        return;
    }
    match op {
        AggregateOp::Sum | AggregateOp::Avg => group.has_float = true,
        AggregateOp::Quantile => {
            group.heap.push(Sample {
                h: None,
                metric: Labels::empty(),
                t: 0,
                f,
                drop_name: false,
            });
            return;
        }
        _ => {}
    }
    group.acc.add(op, f);
}

fn reconciled(notes: &mut Vec<AggNote>) {
    notes.push(AggNote::Info(
        "mismatched custom buckets were reconciled during aggregation".into(),
    ));
}

/// The aggregated value of a group at the end of a step: a float, or a histogram for `sum`
/// and `avg` of histograms; `None` when the group has no valid result (mixed floats and
/// histograms, incompatible histograms).
fn group_value(
    mut g: Group,
    op: AggregateOp,
    q: f64,
    notes: &mut Vec<AggNote>,
) -> Option<(f64, Option<FloatHistogram>)> {
    if matches!(op, AggregateOp::Sum | AggregateOp::Avg) {
        if g.has_float && g.has_hist {
            notes.push(AggNote::Warn(
                "encountered a mix of histograms and floats for aggregation".into(),
            ));
            return None;
        }
        if g.incompatible {
            return None;
        }
        if g.counter_reset_seen && g.not_counter_reset_seen {
            notes.push(AggNote::Warn(
                "conflicting counter resets during histogram aggregation".into(),
            ));
        }
        if g.has_hist {
            let mut h = g.hist.take()?;
            if let Some(c) = g.hist_c.take() {
                // Adding the compensation cannot fail: it has the sum's layout.
                let _ = h.add(&c);
            }
            if op == AggregateOp::Avg && !g.hist_incremental {
                h = hist::div(&h, g.acc.count);
            }
            h.compact(0);
            return Some((0.0, Some(h)));
        }
    }
    Some((group_float(&g, op, q), None))
}

/// The aggregated float value of a group.
fn group_float(g: &Group, op: AggregateOp, q: f64) -> f64 {
    match op {
        AggregateOp::Quantile => {
            let mut vals: Vec<f64> = g.heap.iter().map(|s| s.f).collect();
            quantile(q, &mut vals)
        }
        _ => g.acc.result(op),
    }
}

#[allow(clippy::too_many_arguments)]
fn aggregation_k(
    op: AggregateOp,
    fparam: f64,
    input: &Matrix,
    series_to_group: &[usize],
    groups: &mut [Group],
    cursors: &mut [(usize, usize)],
    ts: i64,
    notes: &mut Vec<AggNote>,
) -> Result<Vec<Sample>> {
    let mut remaining = groups.len();
    for g in groups.iter_mut() {
        g.seen = false;
        g.complete = false;
        g.heap.clear();
    }
    let k = if matches!(op, AggregateOp::LimitRatio) {
        0
    } else {
        (fparam as i64).min(input.len() as i64)
    };
    let ratio = fparam.clamp(-1.0, 1.0);
    for (si, series) in input.iter().enumerate() {
        let Some((f, h)) = next_value(series, &mut cursors[si], ts) else {
            continue;
        };
        if h.is_some() && matches!(op, AggregateOp::Topk | AggregateOp::Bottomk) {
            ignored(notes, op);
            continue;
        }
        let s = Sample {
            h,
            metric: series.metric.clone(),
            t: ts,
            f,
            drop_name: series.drop_name,
        };
        match op {
            AggregateOp::LimitRatio => {
                if fparam == 0.0 {
                    advance_rest(input, cursors, si + 1, ts);
                    return Ok(Vec::new());
                }
            }
            _ => {
                if k < 1 {
                    advance_rest(input, cursors, si + 1, ts);
                    return Ok(Vec::new());
                }
            }
        }
        let group = &mut groups[series_to_group[si]];
        let k_us = usize::try_from(k).unwrap_or(0);
        if !group.seen {
            group.seen = true;
            match op {
                AggregateOp::LimitRatio => {
                    if add_ratio_sample(ratio, &s) {
                        heap_push(&mut group.heap, s, false);
                    }
                }
                AggregateOp::Limitk => {
                    group.heap.push(s);
                    if group.heap.len() == k_us && !group.complete {
                        group.complete = true;
                        remaining -= 1;
                        if remaining == 0 {
                            advance_rest(input, cursors, si + 1, ts);
                            break;
                        }
                    }
                }
                AggregateOp::Topk => heap_push(&mut group.heap, s, false),
                _ => heap_push(&mut group.heap, s, true),
            }
            continue;
        }
        match op {
            AggregateOp::Topk => {
                if group.heap.len() < k_us {
                    heap_push(&mut group.heap, s, false);
                } else if group.heap[0].f < s.f || (group.heap[0].f.is_nan() && !s.f.is_nan()) {
                    group.heap[0] = s;
                    if k > 1 {
                        heap_fix0(&mut group.heap, false);
                    }
                }
            }
            AggregateOp::Bottomk => {
                if group.heap.len() < k_us {
                    heap_push(&mut group.heap, s, true);
                } else if group.heap[0].f > s.f || (group.heap[0].f.is_nan() && !s.f.is_nan()) {
                    group.heap[0] = s;
                    if k > 1 {
                        heap_fix0(&mut group.heap, true);
                    }
                }
            }
            AggregateOp::Limitk => {
                if group.heap.len() < k_us {
                    heap_push(&mut group.heap, s, false);
                }
                if !group.complete && group.heap.len() == k_us {
                    group.complete = true;
                    remaining -= 1;
                    if remaining == 0 {
                        advance_rest(input, cursors, si + 1, ts);
                        break;
                    }
                }
            }
            AggregateOp::LimitRatio if add_ratio_sample(ratio, &s) => {
                heap_push(&mut group.heap, s, false);
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for g in groups.iter_mut() {
        if !g.seen {
            continue;
        }
        let mut h = std::mem::take(&mut g.heap);
        match op {
            AggregateOp::Topk => {
                // Sort descending by Go's heap order (NaN last).
                h.sort_by(|a, b| cmp_desc(a.f, b.f));
            }
            AggregateOp::Bottomk => {
                h.sort_by(|a, b| cmp_asc_nan_last(a.f, b.f));
            }
            _ => {}
        }
        out.extend(h);
    }
    Ok(out)
}

/// Descending by value with NaN last (the reverse of `vectorByValueHeap`).
fn cmp_desc(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
    }
}

/// Ascending by value with NaN last (the reverse of `vectorByReverseValueHeap`).
fn cmp_asc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

fn advance_rest(input: &Matrix, cursors: &mut [(usize, usize)], from: usize, ts: i64) {
    for i in from..input.len() {
        next_value(&input[i], &mut cursors[i], ts);
    }
}
