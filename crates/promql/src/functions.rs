//! PromQL functions (mirrors Go's promql/functions.go): range-vector functions evaluated over
//! sliding windows, instant-vector functions per step, and the label functions.

mod histogram;
mod info;
mod quantile;

use std::collections::HashMap;

use model::civil::civil_from_days;
use model::{Labels, LabelsBuilder, MatchType};

pub(crate) use quantile::quantile;
use quantile::{Bucket, BucketQuantile, bucket_fraction, bucket_quantile};

use crate::engine::Evaluator;
use crate::engine::eval::{
    LoadedSeries, RangeArg, RangeSeries, Val, contains_same_labelset, drop_metadata,
};
use crate::parser::{Call, Expr, PosRange};
use crate::value::{FPoint, HPoint, Matrix, Sample, Series, Vector};
use crate::{Error, Result};

/// Neumaier's improved Kahan summation step (Go's `kahansum.Inc`).
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)` and `%g` (shortest representation).
pub(crate) use model::strconv::{format_float_f as format_go_float, format_float_g as go_g};

/// Linear interpolation between two points at time `t`; counters restart from 0 after a
/// reset (Go's `interpolate`).
pub(crate) fn interpolate(p1: FPoint, p2: FPoint, t: i64, is_counter: bool) -> f64 {
    let mut y1 = p1.f;
    let y2 = p2.f;
    if is_counter && y2 < y1 {
        y1 = 0.0;
    }
    y1 + (y2 - y1) * (t - p1.t) as f64 / (p2.t - p1.t) as f64
}

/// Go's `extendFloats` for anchored and smoothed range selectors: replaces the samples at
/// the range boundaries by points exactly at `mint` and `maxt`. `pts` holds the samples of
/// the extended window (from `mint - lookback`, and to `maxt + lookback` when smoothed).
pub(crate) fn extend_floats(pts: &[FPoint], mint: i64, maxt: i64, smoothed: bool) -> Vec<FPoint> {
    if pts.is_empty() {
        return Vec::new();
    }
    let mut last = pts.len() - 1;
    let first = pts[..last]
        .partition_point(|p| p.t <= mint)
        .saturating_sub(1);
    if smoothed {
        last = pts[..last].partition_point(|p| p.t < maxt);
    }
    if pts[last].t <= mint {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(last.saturating_sub(first) + 2);
    out.push(FPoint {
        t: mint,
        f: pick_left(pts, first, mint, smoothed, false),
    });
    if first + 1 < last {
        out.extend_from_slice(&pts[first + 1..last]);
    }
    out.push(FPoint {
        t: maxt,
        f: pick_right(pts, last, maxt, smoothed, false),
    });
    out
}

fn pick_left(pts: &[FPoint], first: usize, start: i64, smoothed: bool, counter: bool) -> f64 {
    if smoothed && pts[first].t < start && first + 1 < pts.len() {
        return interpolate(pts[first], pts[first + 1], start, counter);
    }
    pts[first].f
}

fn pick_right(pts: &[FPoint], last: usize, end: i64, smoothed: bool, counter: bool) -> f64 {
    if smoothed && last > 0 && pts[last].t > end {
        return interpolate(pts[last - 1], pts[last], end, counter);
    }
    pts[last].f
}

fn unwrap_arg(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unwrap_arg(&p.expr),
        Expr::StepInvariant(s) => unwrap_arg(&s.expr),
        e => e,
    }
}

fn string_arg(e: &Expr) -> Result<String> {
    match unwrap_arg(e) {
        Expr::StringLiteral(s) => Ok(s.val.clone()),
        _ => Err(Error::Eval("expected a string literal argument".into())),
    }
}

const RANGE_FUNCTIONS: &[&str] = &[
    "rate",
    "increase",
    "delta",
    "irate",
    "idelta",
    "resets",
    "changes",
    "deriv",
    "predict_linear",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "quantile_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "last_over_time",
    "first_over_time",
    "present_over_time",
    "absent_over_time",
    "mad_over_time",
    "ts_of_min_over_time",
    "ts_of_max_over_time",
    "ts_of_first_over_time",
    "ts_of_last_over_time",
    "double_exponential_smoothing",
];

/// Evaluates a function call.
pub(crate) fn eval_call(ev: &mut Evaluator<'_>, c: &Call) -> Result<Val> {
    let name = c.func.name;
    if matches!(name, "timestamp" | "start_timestamp")
        && let Some(Expr::VectorSelector(vs)) = c.args.first().map(unwrap_arg)
    {
        return timestamp_of_selector(ev, vs, name == "start_timestamp").map(Val::Matrix);
    }
    match name {
        "label_replace" => return label_replace(ev, c).map(Val::Matrix),
        "label_join" => return label_join(ev, c).map(Val::Matrix),
        "info" => return info::eval_info(ev, c).map(Val::Matrix),
        _ => {}
    }
    let matrix_idx = c
        .args
        .iter()
        .position(|a| matches!(unwrap_arg(a), Expr::MatrixSelector(_) | Expr::Subquery(_)));
    let Some(mi) = matrix_idx else {
        if matches!(
            name,
            "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc"
        ) && ev.start != ev.end
        {
            ev.warn(
                "sort is ineffective for range queries since results are always ordered by labels"
                    .into(),
                c.pos,
            );
        }
        let args: Vec<&Expr> = c.args.iter().collect();
        let mut state = VecFnState::default();
        let m = ev.range_eval(&args, None, &mut |ev, v, _, ts, out| {
            vector_function(ev, c, v, ts, out, &mut state)
        })?;
        return Ok(Val::Matrix(m));
    };
    if !RANGE_FUNCTIONS.contains(&name) {
        return Err(Error::Eval(format!(
            "function {name} does not take a range vector"
        )));
    }
    range_function_call(ev, c, mi).map(Val::Matrix)
}

/// Per-node state of instant-vector functions kept across steps.
#[derive(Default)]
struct VecFnState {
    buckets: HashMap<u64, (Labels, Vec<Bucket>)>,
}

/// Whether `sum`/`avg`/`count`/`min`/`max`/`group` over this call can consume its series one
/// at a time instead of materialising the whole matrix: a range function (other than
/// `absent_over_time`) over a plain range selector.
pub(crate) fn fusable_range_call(c: &Call) -> Option<usize> {
    if !RANGE_FUNCTIONS.contains(&c.func.name) || c.func.name == "absent_over_time" {
        return None;
    }
    let mi = c
        .args
        .iter()
        .position(|a| matches!(unwrap_arg(a), Expr::MatrixSelector(_) | Expr::Subquery(_)))?;
    match unwrap_arg(&c.args[mi]) {
        Expr::MatrixSelector(ms)
            if !ms.vector_selector.anchored && !ms.vector_selector.smoothed =>
        {
            Some(mi)
        }
        _ => None,
    }
}

/// Streams the output series of a range-function call to `sink` (which returns `false` to
/// stop early).
pub(crate) fn for_each_range_output(
    ev: &mut Evaluator<'_>,
    c: &Call,
    mi: usize,
    sink: &mut dyn FnMut(&mut Evaluator<'_>, Series) -> Result<bool>,
) -> Result<()> {
    let (spec, ra) = prepare_range_call(ev, c, mi)?;
    match &ra.series {
        RangeSeries::Selector(vs, id) => {
            // Each series' window sliding runs on its own (possibly on a worker thread);
            // the sink takes the outputs in series order.
            let spec = &spec;
            ev.map_series_of(
                vs,
                *id,
                &|ev: &mut Evaluator<'_>, labels: &Labels, _: &[FPoint], live, hists, sts| {
                    range_series(ev, spec, labels, (live, sts.live), (hists, sts.hists))
                },
                &mut |ev, s| match s {
                    Some(s) => sink(ev, s),
                    None => Ok(true),
                },
            )
        }
        RangeSeries::Evaluated(m) => {
            // Subqueries cut the propagation of start timestamps.
            for series in m {
                if let Some(s) = range_series(
                    ev,
                    &spec,
                    &series.metric,
                    (&series.floats, &[]),
                    (&series.histograms, &[]),
                )? && !sink(ev, s)?
                {
                    break;
                }
            }
            // The subquery's output is dropped once the function is done with it.
            let held: usize = m
                .iter()
                .map(|s| s.floats.len() + s.histograms.iter().map(HPoint::size).sum::<usize>())
                .sum();
            ev.current_samples = ev.current_samples.saturating_sub(held);
            Ok(())
        }
    }
}

fn prepare_range_call<'c>(
    ev: &mut Evaluator<'_>,
    c: &'c Call,
    mi: usize,
) -> Result<(RangeSpec<'c>, RangeArg)> {
    let name = c.func.name;
    // Non-matrix arguments are scalars: one value per step.
    let mut scalar_args: Vec<Vec<f64>> = Vec::new();
    let steps = ev.num_steps();
    for (i, a) in c.args.iter().enumerate() {
        if i == mi {
            continue;
        }
        let m = ev.eval_matrix(a)?;
        let mut vals = vec![f64::NAN; steps];
        if let Some(s) = m.first() {
            for p in &s.floats {
                let idx = usize::try_from((p.t - ev.start) / ev.interval).unwrap_or(usize::MAX);
                if let Some(v) = vals.get_mut(idx) {
                    *v = p.f;
                }
            }
        }
        scalar_args.push(vals);
    }
    let Some(mut ra) = ev.range_arg(&c.args[mi])? else {
        return Err(Error::Eval(format!(
            "function {name} needs a range vector argument"
        )));
    };
    if ra.anchored && !matches!(name, "resets" | "changes" | "rate" | "increase" | "delta") {
        return Err(Error::Eval(format!(
            "anchored modifier can only be used with: changes, delta, increase, rate, resets - not with {name}"
        )));
    }
    if ra.smoothed && !matches!(name, "rate" | "increase" | "delta") {
        return Err(Error::Eval(format!(
            "smoothed modifier can only be used with: delta, increase, rate - not with {name}"
        )));
    }
    if let RangeSeries::Evaluated(m) = &mut ra.series {
        for s in m.iter_mut() {
            if s.drop_name {
                s.metric = drop_metadata(&s.metric);
            }
            // A subquery's points are not consecutive samples: their counter reset hints
            // would skip or invent resets, so they are detected afresh (Go's
            // prometheus/prometheus#15987).
            for p in &mut s.histograms {
                if matches!(
                    p.h.counter_reset_hint,
                    model::CounterResetHint::CounterReset
                        | model::CounterResetHint::NotCounterReset
                ) {
                    std::sync::Arc::make_mut(&mut p.h).counter_reset_hint =
                        model::CounterResetHint::Unknown;
                }
            }
        }
    }
    let drop_name = name != "last_over_time" && name != "first_over_time";
    Ok((
        RangeSpec {
            name,
            scalar_args,
            timestamp: ra.timestamp,
            offset: ra.offset,
            range: ra.range,
            anchored: ra.anchored,
            smoothed: ra.smoothed,
            drop_name,
            arg_pos: c.args.get(mi).map_or(c.pos, Expr::pos),
            first_arg_pos: c.args.first().map_or(c.pos, Expr::pos),
            reads_storage: matches!(ra.series, RangeSeries::Selector(..)),
        },
        ra,
    ))
}

fn range_function_call(ev: &mut Evaluator<'_>, c: &Call, mi: usize) -> Result<Matrix> {
    let name = c.func.name;
    let drop_name = name != "last_over_time" && name != "first_over_time";
    let mut mat = Vec::new();
    for_each_range_output(ev, c, mi, &mut |_, s| {
        mat.push(s);
        Ok(true)
    })?;
    if name == "absent_over_time" {
        let steps = ev.num_steps();
        if mat.iter().any(|s| s.floats.len() == steps) {
            return Ok(Vec::new());
        }
        let mut found = std::collections::HashSet::new();
        for s in &mat {
            for p in &s.floats {
                found.insert(p.t);
            }
        }
        let mut floats = Vec::new();
        let mut ts = ev.start;
        while ts <= ev.end {
            if !found.contains(&ts) {
                floats.push(FPoint { t: ts, f: 1.0 });
            }
            ts += ev.interval;
        }
        if floats.is_empty() {
            return Ok(Vec::new());
        }
        return Ok(vec![Series {
            histograms: Vec::new(),
            metric: absent_labels(&c.args[0]),
            floats,
            drop_name,
        }]);
    }
    if !ev.delayed_name_removal {
        let samples: Vec<Sample> = mat
            .iter()
            .map(|s| Sample {
                h: None,
                metric: s.metric.clone(),
                t: 0,
                f: 0.0,
                drop_name: false,
            })
            .collect();
        if contains_same_labelset(&samples) {
            return Err(Error::Eval(
                "vector cannot contain metrics with the same labelset".into(),
            ));
        }
    }
    Ok(mat)
}

/// What a range-vector function call needs for each of its series.
struct RangeSpec<'a> {
    name: &'a str,
    /// Per-step values of the scalar arguments.
    scalar_args: Vec<Vec<f64>>,
    timestamp: Option<i64>,
    offset: i64,
    range: i64,
    anchored: bool,
    smoothed: bool,
    drop_name: bool,
    arg_pos: PosRange,
    first_arg_pos: PosRange,
    /// The series come from storage (not from a subquery), so window growth counts as
    /// samples read.
    reads_storage: bool,
}

/// Slides the window of one series over all steps and applies the function. The points
/// come with their start timestamps (aligned with them, or empty when there are none).
fn range_series(
    ev: &mut Evaluator<'_>,
    spec: &RangeSpec<'_>,
    labels: &Labels,
    (pts, pts_st): (&[FPoint], &[i64]),
    (hs, hs_st): (&[HPoint], &[i64]),
) -> Result<Option<Series>> {
    ev.check()?;
    // Histogram windows: their bounds and the samples each point counts as.
    let (mut hlo, mut hhi) = (0usize, 0usize);
    let mut hread_to = 0usize;
    let hsize_before: Vec<usize> = if hs.is_empty() {
        Vec::new()
    } else {
        let mut acc = 0;
        let mut v = Vec::with_capacity(hs.len() + 1);
        v.push(0);
        for p in hs {
            acc += p.size();
            v.push(acc);
        }
        v
    };
    let mut histograms: Vec<HPoint> = Vec::new();
    let name = spec.name;
    let lookback = ev.lookback;
    let mut scalars = vec![0.0; spec.scalar_args.len()];
    let mut floats: Vec<FPoint> = Vec::new();
    let (mut lo, mut hi) = (0usize, 0usize);
    let mut ts = ev.start;
    let mut step = 0usize;
    let mut range_start = 0;
    let mut range_end = 0;
    let mut have_window = false;
    // The end of the previous step's window: points before it were read already.
    let mut read_to = 0usize;
    // For counters, resets_before[i] counts the decreases among pts[..=i], so a window
    // without resets is recognised in O(1) and its reset scan skipped.
    let resets_before: Vec<u32> = if matches!(name, "rate" | "increase") && pts_st.is_empty() {
        let mut n = 0u32;
        let mut out = Vec::with_capacity(pts.len());
        for (i, p) in pts.iter().enumerate() {
            if i > 0 && p.f < pts[i - 1].f {
                n += 1;
            }
            out.push(n);
        }
        out
    } else {
        Vec::new()
    };
    if hs.is_empty()
        && pts_st.is_empty()
        && spec.timestamp.is_none()
        && spec.scalar_args.is_empty()
        && !spec.anchored
        && !spec.smoothed
        && matches!(name, "rate" | "increase" | "delta")
    {
        // The common case in a tight loop: `rate`, `increase` or `delta` of plain float
        // samples, its window moving with the steps (the same counts and values as below).
        let (is_counter, is_rate) = (name != "delta", name == "rate");
        let steps = ev.num_steps();
        let mut memo = Extrapolation::default();
        while ts <= ev.end {
            let maxt = ts - spec.offset;
            let mint = maxt - spec.range;
            while hi < pts.len() && pts[hi].t <= maxt {
                hi += 1;
            }
            while lo < hi && pts[lo].t <= mint {
                lo += 1;
            }
            if lo < hi {
                let n = hi - lo;
                ev.samples.add(step, n as u64);
                if spec.reads_storage {
                    ev.samples.add_read(step, (hi - lo.max(read_to)) as u64);
                    read_to = hi;
                }
                ev.add_samples(n)?;
                ev.current_samples -= n;
                let maybe_resets =
                    resets_before.is_empty() || resets_before[hi - 1] != resets_before[lo];
                if let Some(v) = plain_extrapolated_rate(
                    &pts[lo..hi],
                    (mint, maxt, spec.range),
                    is_counter,
                    is_rate,
                    maybe_resets,
                    &mut memo,
                ) {
                    if floats.is_empty() {
                        floats.reserve_exact(steps - step);
                    }
                    floats.push(FPoint { t: ts, f: v });
                }
            }
            ts += ev.interval;
            step += 1;
        }
    }
    while ts <= ev.end {
        for (k, vals) in spec.scalar_args.iter().enumerate() {
            scalars[k] = vals.get(step).copied().unwrap_or(f64::NAN);
        }
        if !have_window || spec.timestamp.is_none() {
            have_window = true;
            let maxt = spec.timestamp.unwrap_or(ts) - spec.offset;
            let mint = maxt - spec.range;
            range_start = mint;
            range_end = maxt;
            let (lo_t, hi_t) = if spec.anchored {
                (mint - lookback, maxt)
            } else if spec.smoothed {
                (mint - lookback, maxt + lookback)
            } else {
                (mint, maxt)
            };
            while hi < pts.len() && pts[hi].t <= hi_t {
                hi += 1;
            }
            while lo < hi && pts[lo].t <= lo_t {
                lo += 1;
            }
            while hhi < hs.len() && hs[hhi].t <= hi_t {
                hhi += 1;
            }
            while hlo < hhi && hs[hlo].t <= lo_t {
                hlo += 1;
            }
        }
        let window: &[FPoint] = &pts[lo..hi];
        if hlo < hhi {
            let hwindow: &[HPoint] = &hs[hlo..hhi];
            let hsize = hsize_before[hhi] - hsize_before[hlo];
            let n = window.len() + hsize;
            ev.samples.add(step, n as u64);
            if spec.reads_storage {
                let new_h = hsize_before[hhi] - hsize_before[hlo.max(hread_to)];
                ev.samples
                    .add_read(step, (hi - lo.max(read_to) + new_h) as u64);
                read_to = hi;
                hread_to = hhi;
            }
            ev.add_samples(n)?;
            ev.current_samples -= n;
            let ctx = RangeCtx {
                ts,
                range_start,
                range_end,
                range: spec.range,
                scalars: &scalars,
                anchored: spec.anchored,
                smoothed: spec.smoothed,
                labels,
                first_arg_pos: spec.first_arg_pos,
                maybe_resets: true,
                float_sts: pts_st.get(lo..hi).unwrap_or_default(),
                hist_sts: hs_st.get(hlo..hhi).unwrap_or_default(),
            };
            match histogram::range_function(ev, name, window, hwindow, &ctx)? {
                Some(histogram::RangeOut::F(v)) => floats.push(FPoint { t: ts, f: v }),
                Some(histogram::RangeOut::H(h)) => histograms.push(HPoint {
                    t: ts,
                    h: std::sync::Arc::new(h),
                }),
                Some(histogram::RangeOut::Shared(h)) => histograms.push(HPoint { t: ts, h }),
                None => {}
            }
        } else if !window.is_empty() {
            // Every step looks at its whole window; only the points not in the previous
            // step's window are read.
            ev.samples.add(step, window.len() as u64);
            if spec.reads_storage {
                ev.samples.add_read(step, (hi - lo.max(read_to)) as u64);
                read_to = hi;
            }
            ev.add_samples(window.len())?;
            ev.current_samples -= window.len();
            let ctx = RangeCtx {
                ts,
                range_start,
                range_end,
                range: spec.range,
                scalars: &scalars,
                anchored: spec.anchored,
                smoothed: spec.smoothed,
                labels,
                first_arg_pos: spec.first_arg_pos,
                maybe_resets: resets_before.is_empty()
                    || resets_before[hi - 1] != resets_before[lo],
                float_sts: pts_st.get(lo..hi).unwrap_or_default(),
                hist_sts: &[],
            };
            if let Some(v) = range_function(ev, name, window, &ctx)? {
                if floats.is_empty() {
                    floats.reserve_exact(ev.num_steps() - step);
                }
                floats.push(FPoint { t: ts, f: v });
            }
        }
        ts += ev.interval;
        step += 1;
    }
    if floats.is_empty() && histograms.is_empty() {
        return Ok(None);
    }
    // The output joins the outputs of earlier series while the last window is still held
    // (Go's accounting after each series).
    let held = hi - lo + hsize_before.get(hhi).map_or(0, |e| e - hsize_before[hlo]);
    ev.current_samples += held;
    ev.add_samples(floats.len() + histograms.iter().map(HPoint::size).sum::<usize>())?;
    ev.current_samples -= held;
    if (name == "rate" || name == "increase")
        && !floats.is_empty()
        && let Some(metric_name) = labels.metric_name()
        && !["_total", "_sum", "_count", "_bucket"]
            .iter()
            .any(|s| metric_name.ends_with(s))
    {
        ev.info(
            format!(
                "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {metric_name:?}"
            ),
            spec.arg_pos,
        );
    }
    let metric = if !ev.delayed_name_removal && spec.drop_name {
        drop_metadata(labels)
    } else {
        labels.clone()
    };
    Ok(Some(Series {
        histograms,
        metric,
        floats,
        drop_name: spec.drop_name,
    }))
}

/// Everything a range function needs besides the window.
struct RangeCtx<'a> {
    ts: i64,
    range_start: i64,
    range_end: i64,
    range: i64,
    scalars: &'a [f64],
    anchored: bool,
    smoothed: bool,
    labels: &'a Labels,
    first_arg_pos: PosRange,
    /// Whether the window may hold a counter reset; `false` only when known for sure, so
    /// the reset scan can be skipped.
    maybe_resets: bool,
    /// The start timestamps of the window's float points (aligned with them), empty when
    /// there are none (a subquery's points never have any).
    float_sts: &'a [i64],
    /// The start timestamps of the window's histogram points, as `float_sts`.
    hist_sts: &'a [i64],
}

/// Go's `isStartTimestampReset`: whether the start timestamps show a counter reset between
/// two consecutive samples. A start timestamp of 0 is unknown, one after its sample's time
/// invalid, and one equal to it OTel's "unknown start". A start timestamp pointing exactly
/// at the previous sample is a delta sample (a reset) when the previous sample had a known,
/// valid start of its own, and a cumulative series with unknown start otherwise.
fn is_st_reset(prev_st: i64, prev_t: i64, cur_st: i64, cur_t: i64) -> bool {
    if cur_st == 0 || cur_st >= cur_t || cur_st < prev_t {
        return false;
    }
    if cur_st > prev_t {
        return true;
    }
    if prev_st > prev_t {
        return false;
    }
    prev_st != 0 && prev_st != prev_t
}

/// Go's `checkStartTimeOverlap`: a sample that claims to have started counting before the
/// previous sample was taken, without being that sample's continuation.
fn st_overlaps(prev_st: i64, prev_t: i64, cur_st: i64) -> bool {
    cur_st != 0 && cur_st < prev_t && cur_st != prev_st
}

/// The start timestamp at `i` of a window's start timestamps (0 when there are none).
fn st_at(sts: &[i64], i: usize) -> i64 {
    sts.get(i).copied().unwrap_or(0)
}

fn range_function(
    ev: &mut Evaluator<'_>,
    name: &str,
    w: &[FPoint],
    c: &RangeCtx<'_>,
) -> Result<Option<f64>> {
    let _ = c.labels;
    Ok(match name {
        "rate" => extrapolated_rate(ev, w, c, true, true),
        "increase" => extrapolated_rate(ev, w, c, true, false),
        "delta" => extrapolated_rate(ev, w, c, false, false),
        "irate" => instant_value(w, c.float_sts, true),
        "idelta" => instant_value(w, c.float_sts, false),
        "resets" => {
            let Some(first) = first_sample_index(w, c) else {
                return Ok(None);
            };
            let mut n = 0;
            for i in first + 1..w.len() {
                let (a, b) = (w[i - 1], w[i]);
                if b.f < a.f
                    || is_st_reset(st_at(c.float_sts, i - 1), a.t, st_at(c.float_sts, i), b.t)
                {
                    n += 1;
                }
            }
            Some(f64::from(n))
        }
        "changes" => {
            let Some(first) = first_sample_index(w, c) else {
                return Ok(None);
            };
            let mut n = 0;
            for p in w[first..].windows(2) {
                if p[1].f != p[0].f && !(p[1].f.is_nan() && p[0].f.is_nan()) {
                    n += 1;
                }
            }
            Some(f64::from(n))
        }
        "deriv" => {
            if w.len() < 2 {
                None
            } else {
                Some(linear_regression(w, w[0].t).0)
            }
        }
        "predict_linear" => {
            if w.len() < 2 {
                None
            } else {
                let d = c.scalars.first().copied().unwrap_or(f64::NAN);
                let (slope, intercept) = linear_regression(w, c.ts);
                Some(slope * d + intercept)
            }
        }
        "avg_over_time" => Some(avg_over_time(w)),
        "min_over_time" => Some(compare_over_time(w, |cur, m| cur < m || m.is_nan(), false)),
        "max_over_time" => Some(compare_over_time(w, |cur, m| cur > m || m.is_nan(), false)),
        "ts_of_min_over_time" => Some(compare_over_time(w, |cur, m| cur <= m || m.is_nan(), true)),
        "ts_of_max_over_time" => Some(compare_over_time(w, |cur, m| cur >= m || m.is_nan(), true)),
        "sum_over_time" => {
            let (mut sum, mut comp) = (0.0, 0.0);
            for p in w {
                (sum, comp) = kahan_inc(p.f, sum, comp);
            }
            Some(if sum.is_infinite() { sum } else { sum + comp })
        }
        "count_over_time" => Some(w.len() as f64),
        "quantile_over_time" => {
            let q = c.scalars.first().copied().unwrap_or(f64::NAN);
            warn_invalid_quantile(ev, q, c.first_arg_pos);
            let mut vals: Vec<f64> = w.iter().map(|p| p.f).collect();
            Some(quantile(q, &mut vals))
        }
        "stddev_over_time" => Some(variance_over_time(w).sqrt()),
        "stdvar_over_time" => Some(variance_over_time(w)),
        "last_over_time" => w.last().map(|p| p.f),
        "first_over_time" => w.first().map(|p| p.f),
        "ts_of_first_over_time" => w.first().map(|p| p.t as f64 / 1000.0),
        "ts_of_last_over_time" => w.last().map(|p| p.t as f64 / 1000.0),
        "present_over_time" | "absent_over_time" => Some(1.0),
        "mad_over_time" => {
            if w.iter().any(|p| p.f.is_nan()) {
                return Ok(Some(f64::NAN));
            }
            let mut vals: Vec<f64> = w.iter().map(|p| p.f).collect();
            let median = quantile(0.5, &mut vals);
            let mut dev: Vec<f64> = w.iter().map(|p| (p.f - median).abs()).collect();
            Some(quantile(0.5, &mut dev))
        }
        "double_exponential_smoothing" => {
            let sf = c.scalars.first().copied().unwrap_or(f64::NAN);
            let tf = c.scalars.get(1).copied().unwrap_or(f64::NAN);
            if sf <= 0.0 || sf >= 1.0 || sf.is_nan() {
                return Err(Error::Eval(format!(
                    "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
                )));
            }
            if tf <= 0.0 || tf >= 1.0 || tf.is_nan() {
                return Err(Error::Eval(format!(
                    "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
                )));
            }
            double_exponential_smoothing(w, sf, tf)
        }
        _ => None,
    })
}

fn extrapolated_rate(
    ev: &Evaluator<'_>,
    w: &[FPoint],
    c: &RangeCtx<'_>,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if c.anchored || c.smoothed {
        return extended_rate(w, c, is_counter, is_rate);
    }
    let sts = c.float_sts;
    if sts.is_empty() {
        return plain_extrapolated_rate(
            w,
            (c.range_start, c.range_end, c.range),
            is_counter,
            is_rate,
            c.maybe_resets,
            &mut Extrapolation::default(),
        );
    }
    // One sample is enough when its start timestamp lies inside the range.
    if w.is_empty() || (w.len() < 2 && sts.is_empty()) {
        return None;
    }
    let n1 = w.len() - 1;
    let first_t = w[0].t;
    let last_t = w[n1].t;
    let mut result = w[n1].f - w[0].f;
    if is_counter && c.maybe_resets {
        let mut overlap_warned = false;
        for i in 1..w.len() {
            let (prev, cur) = (w[i - 1], w[i]);
            let (prev_st, cur_st) = (st_at(sts, i - 1), st_at(sts, i));
            if !overlap_warned && !sts.is_empty() && st_overlaps(prev_st, prev.t, cur_st) {
                overlap_warned = true;
                warn_st_overlap(ev, c);
            }
            if cur.f < prev.f || is_st_reset(prev_st, prev.t, cur_st, cur.t) {
                result += prev.f;
            }
        }
    }
    let finish = |result: f64, sampled_interval: f64, to_start: f64, to_end: f64| {
        let mut factor = if sampled_interval == 0.0 {
            1.0
        } else {
            (sampled_interval + to_start + to_end) / sampled_interval
        };
        if is_rate {
            factor /= c.range as f64 / 1000.0;
        }
        result * factor
    };
    let mut duration_to_start = (first_t - c.range_start) as f64 / 1000.0;
    let mut duration_to_end = (c.range_end - last_t) as f64 / 1000.0;
    let mut sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let avg = if n1 > 0 {
        sampled_interval / n1 as f64
    } else {
        0.0
    };
    let threshold = avg * 1.1;
    let first_st = st_at(sts, 0);
    if is_counter && first_st != 0 && first_st > c.range_start && first_st < first_t {
        // The counter started inside the range: assume a zero sample at its start
        // timestamp instead of extrapolating to the left.
        duration_to_start = 0.0;
        sampled_interval = (last_t - first_st) as f64 / 1000.0;
        result += w[0].f;
    } else if n1 == 0 {
        return None;
    } else {
        if duration_to_start >= threshold {
            duration_to_start = avg / 2.0;
        }
        if is_counter {
            let mut duration_to_zero = duration_to_start;
            if result > 0.0 && w[0].f >= 0.0 {
                duration_to_zero = sampled_interval * (w[0].f / result);
            }
            if duration_to_zero < duration_to_start {
                duration_to_start = duration_to_zero;
            }
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = avg / 2.0;
    }
    Some(finish(
        result,
        sampled_interval,
        duration_to_start,
        duration_to_end,
    ))
}

/// The part of an extrapolation that depends on the window's times only, which the
/// windows of regularly spaced samples share from step to step: computed once per window
/// shape by [`plain_extrapolated_rate`].
#[derive(Clone, Copy, Default)]
struct Extrapolation {
    /// The shape it was computed for: the window's distances to the range's start and end,
    /// its sampled interval (ms) and its number of samples minus one.
    shape: Option<(i64, i64, i64, usize)>,
    sampled_interval: f64,
    /// The extrapolation to the start, before the counter's zero point limits it.
    duration_to_start: f64,
    duration_to_end: f64,
    /// The factor with `duration_to_start` as it is.
    factor: f64,
}

/// The extrapolation factor of a window (Go's `extrapolatedRate`, its last lines).
fn extrapolation_factor(
    sampled_interval: f64,
    duration_to_start: f64,
    duration_to_end: f64,
    range: i64,
    is_rate: bool,
) -> f64 {
    let mut factor = if sampled_interval == 0.0 {
        1.0
    } else {
        (sampled_interval + duration_to_start + duration_to_end) / sampled_interval
    };
    if is_rate {
        factor /= range as f64 / 1000.0;
    }
    factor
}

/// [`extrapolated_rate`] of samples without start timestamps, over the range
/// `(range_start, range_end]` of length `range` (Go's `extrapolatedRate`); `maybe_resets`
/// `false` skips the counter reset scan of a window known to have none. `memo` keeps the
/// time-only part for the next window of the same series (the same inputs give the same
/// floats, so results do not depend on it).
fn plain_extrapolated_rate(
    w: &[FPoint],
    (range_start, range_end, range): (i64, i64, i64),
    is_counter: bool,
    is_rate: bool,
    maybe_resets: bool,
    memo: &mut Extrapolation,
) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let n1 = w.len() - 1;
    let first_t = w[0].t;
    let last_t = w[n1].t;
    let mut result = w[n1].f - w[0].f;
    if is_counter && maybe_resets {
        for p in w.windows(2) {
            if p[1].f < p[0].f {
                result += p[0].f;
            }
        }
    }
    let shape = (
        first_t - range_start,
        range_end - last_t,
        last_t - first_t,
        n1,
    );
    if memo.shape != Some(shape) {
        let mut duration_to_start = shape.0 as f64 / 1000.0;
        let mut duration_to_end = shape.1 as f64 / 1000.0;
        let sampled_interval = shape.2 as f64 / 1000.0;
        let avg = sampled_interval / n1 as f64;
        let threshold = avg * 1.1;
        if duration_to_start >= threshold {
            duration_to_start = avg / 2.0;
        }
        if duration_to_end >= threshold {
            duration_to_end = avg / 2.0;
        }
        *memo = Extrapolation {
            shape: Some(shape),
            sampled_interval,
            duration_to_start,
            duration_to_end,
            factor: extrapolation_factor(
                sampled_interval,
                duration_to_start,
                duration_to_end,
                range,
                is_rate,
            ),
        };
    }
    let mut factor = memo.factor;
    if is_counter && result > 0.0 && w[0].f >= 0.0 {
        // A counter is not extrapolated below zero.
        let duration_to_zero = memo.sampled_interval * (w[0].f / result);
        if duration_to_zero < memo.duration_to_start {
            factor = extrapolation_factor(
                memo.sampled_interval,
                duration_to_zero,
                memo.duration_to_end,
                range,
                is_rate,
            );
        }
    }
    Some(result * factor)
}

/// The warning for a sample whose start timestamp overlaps the previous sample.
fn warn_st_overlap(ev: &Evaluator<'_>, c: &RangeCtx<'_>) {
    ev.warn(
        format!(
            "sample has start time that overlaps with previous sample timestamp for metric {:?}",
            c.labels.metric_name().unwrap_or("")
        ),
        c.first_arg_pos,
    );
}

/// Go's `extendedRate` for anchored and smoothed selectors: `w` also holds the samples
/// before the range (and after it, when smoothed).
fn extended_rate(w: &[FPoint], c: &RangeCtx<'_>, is_counter: bool, is_rate: bool) -> Option<f64> {
    if w.is_empty() {
        return None;
    }
    let mut last = w.len() - 1;
    let mut first = w[..last]
        .partition_point(|p| p.t <= c.range_start)
        .saturating_sub(1);
    if c.smoothed {
        last = w[..last].partition_point(|p| p.t < c.range_end);
    }
    if w[last].t <= c.range_start {
        return None;
    }
    if c.smoothed && w[0].t > c.range_end {
        // Only data after the range: nothing to interpolate from.
        return None;
    }
    let left = pick_left(w, first, c.range_start, c.smoothed, is_counter);
    let right = pick_right(w, last, c.range_end, c.smoothed, is_counter);
    let mut result = right - left;
    if is_counter {
        if w[first].t <= c.range_start {
            first += 1;
        }
        let inner_end = if w[last].t >= c.range_end {
            last
        } else {
            last + 1
        };
        let inner = if first < inner_end {
            &w[first..inner_end]
        } else {
            &[][..]
        };
        let mut correction = 0.0;
        let mut prev = left;
        for p in inner {
            if p.f < prev {
                correction += prev;
            }
            prev = p.f;
        }
        if right < prev {
            correction += prev;
        }
        result += correction;
    }
    if is_rate {
        result /= c.range as f64 / 1000.0;
    }
    Some(result)
}

/// Go's `pickFirstSampleIndex`: for anchored selectors, start at the last sample at or
/// before the range start; `None` when no sample is inside the range.
fn first_sample_index(w: &[FPoint], c: &RangeCtx<'_>) -> Option<usize> {
    if !c.anchored {
        return Some(0);
    }
    if w.is_empty() || w[w.len() - 1].t <= c.range_start {
        return None;
    }
    Some(
        w[..w.len() - 1]
            .partition_point(|p| p.t <= c.range_start)
            .saturating_sub(1),
    )
}

fn instant_value(w: &[FPoint], sts: &[i64], is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (ia, ib) = (w.len() - 2, w.len() - 1);
    let a = w[ia];
    let b = w[ib];
    let interval = b.t - a.t;
    if interval == 0 {
        return None;
    }
    let reset = is_rate && (b.f < a.f || is_st_reset(st_at(sts, ia), a.t, st_at(sts, ib), b.t));
    let mut v = if reset { b.f } else { b.f - a.f };
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

/// Least-squares regression: (slope, intercept at `intercept_time`).
fn linear_regression(w: &[FPoint], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut cx, mut sum_y, mut cy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut cxy, mut sum_x2, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = w[0].f;
    let mut const_y = true;
    for (i, p) in w.iter().enumerate() {
        if const_y && i > 0 && p.f != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (p.t - intercept_time) as f64 / 1e3;
        (sum_x, cx) = kahan_inc(x, sum_x, cx);
        (sum_y, cy) = kahan_inc(p.f, sum_y, cy);
        (sum_xy, cxy) = kahan_inc(x * p.f, sum_xy, cxy);
        (sum_x2, cx2) = kahan_inc(x * x, sum_x2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += cx;
    sum_y += cy;
    sum_xy += cxy;
    sum_x2 += cx2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

fn avg_over_time(w: &[FPoint]) -> f64 {
    let (mut sum, mut count) = (w[0].f, 1.0f64);
    let (mut mean, mut kahan_c) = (0.0f64, 0.0f64);
    let mut incremental = false;
    for (i, p) in w.iter().enumerate().skip(1) {
        count = (i + 1) as f64;
        if !incremental {
            let (ns, nc) = kahan_inc(p.f, sum, kahan_c);
            if !ns.is_infinite() {
                sum = ns;
                kahan_c = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            kahan_c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, kahan_c) = kahan_inc(p.f / count, q * mean, q * kahan_c);
    }
    if incremental {
        mean + kahan_c
    } else {
        sum / count + kahan_c / count
    }
}

fn compare_over_time(w: &[FPoint], cmp: impl Fn(f64, f64) -> bool, ts: bool) -> f64 {
    let mut best = w[0].f;
    let mut best_t = w[0].t;
    for p in w {
        if cmp(p.f, best) {
            best = p.f;
            best_t = p.t;
        }
    }
    if ts { best_t as f64 / 1000.0 } else { best }
}

fn variance_over_time(w: &[FPoint]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in w {
        count += 1.0;
        let delta = p.f - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (p.f - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

fn double_exponential_smoothing(w: &[FPoint], sf: f64, tf: f64) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let mut s0 = 0.0;
    let mut s1 = w[0].f;
    let mut b = w[1].f - w[0].f;
    for (i, p) in w.iter().enumerate().skip(1) {
        let x = sf * p.f;
        b = if i - 1 == 0 {
            b
        } else {
            tf * (s1 - s0) + (1.0 - tf) * b
        };
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}

/// `timestamp()` of a plain selector returns the samples' own timestamps;
/// `start_timestamp()` (`start`) their start timestamps (0 where a sample has none).
fn timestamp_of_selector(
    ev: &mut Evaluator<'_>,
    vs: &crate::parser::VectorSelector,
    start: bool,
) -> Result<Matrix> {
    if start && !ev.ctx.start_timestamps {
        // Start timestamps are not read (`EngineOpts::enable_start_timestamps`).
        return Ok(Vec::new());
    }
    let series: std::rc::Rc<Vec<LoadedSeries>> = ev.select(vs)?;
    let lookback = ev.lookback;
    let mut cursors = vec![0usize; series.len()];
    let mut hcursors = vec![0usize; series.len()];
    let delayed = ev.delayed_name_removal;
    let empty: [&Expr; 0] = [];
    ev.range_eval(&empty, None, &mut |ev, _, _, ts, out| {
        let r = vs.timestamp.unwrap_or(ts) - vs.original_offset;
        for (i, s) in series.iter().enumerate() {
            let pts = s.all.as_deref().unwrap_or(&s.live);
            let cur = &mut cursors[i];
            while *cur < pts.len() && pts[*cur].t <= r {
                *cur += 1;
            }
            let hcur = &mut hcursors[i];
            while *hcur < s.hists.len() && s.hists[*hcur].t <= r {
                *hcur += 1;
            }
            // The newest sample of either kind (a histogram hides older floats).
            let ht = hcur.checked_sub(1).map(|j| s.hists[j].t);
            let pts_st = s.all_st.as_deref().unwrap_or(&s.live_st);
            let (p, st) = match (cur.checked_sub(1).map(|j| (pts[j], j)), ht) {
                (Some((p, _)), Some(t)) if t > p.t => {
                    (FPoint { t, f: 0.0 }, st_at(&s.hists_st, *hcur - 1))
                }
                (Some((p, j)), _) => (p, st_at(pts_st, j)),
                (None, Some(t)) => (FPoint { t, f: 0.0 }, st_at(&s.hists_st, *hcur - 1)),
                (None, None) => continue,
            };
            if p.t <= r - lookback || model::value::is_stale_nan(p.f) {
                continue;
            }
            out.push(Sample {
                h: None,
                metric: output_labels(delayed, &s.labels),
                t: p.t,
                f: if start { st } else { p.t } as f64 / 1000.0,
                drop_name: true,
            });
        }
        // The selected samples are held besides the output, and count as looked at.
        let step = ev.step_of(ts);
        ev.samples.add_both(step, out.len() as u64);
        ev.add_samples(out.len())?;
        Ok(())
    })
}

fn label_replace(ev: &mut Evaluator<'_>, c: &Call) -> Result<Matrix> {
    let dst = string_arg(&c.args[1])?;
    let repl = string_arg(&c.args[2])?;
    let src = string_arg(&c.args[3])?;
    let regex_str = string_arg(&c.args[4])?;
    let re = model::regexp::Regex::cached(&regex_str).map_err(|_| {
        Error::Eval(format!(
            "invalid regular expression in label_replace(): {regex_str}"
        ))
    })?;
    if dst.is_empty() {
        return Err(Error::Eval(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut mat = ev.eval_matrix(&c.args[0])?;
    for s in &mut mat {
        let src_val = s.metric.get(&src).unwrap_or("");
        if let Some(res) = re.expand(src_val, &repl) {
            set_label(s, &dst, &res);
        }
    }
    ev.merge_series_with_same_labelset(mat)
}

fn label_join(ev: &mut Evaluator<'_>, c: &Call) -> Result<Matrix> {
    let dst = string_arg(&c.args[1])?;
    let sep = string_arg(&c.args[2])?;
    let mut srcs = Vec::new();
    for a in &c.args[3..] {
        let s = string_arg(a)?;
        if s.is_empty() {
            return Err(Error::Eval(format!(
                "invalid source label name in label_join(): {s}"
            )));
        }
        srcs.push(s);
    }
    if dst.is_empty() {
        return Err(Error::Eval(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let mut mat = ev.eval_matrix(&c.args[0])?;
    for s in &mut mat {
        let joined = srcs
            .iter()
            .map(|n| s.metric.get(n).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(&sep);
        set_label(s, &dst, &joined);
    }
    ev.merge_series_with_same_labelset(mat)
}

/// Sets label `name` of `s` to `value` (an empty value deletes it); a metric name set so
/// is kept, not dropped later.
fn set_label(s: &mut Series, name: &str, value: &str) {
    let mut b = LabelsBuilder::new(&s.metric);
    b.set(name, value);
    s.metric = b.labels();
    if name == model::METRIC_NAME {
        s.drop_name = false;
    }
}

/// The labels `absent()` reports: the equality matchers of a selector argument.
fn absent_labels(e: &Expr) -> Labels {
    let matchers = match unwrap_arg(e) {
        Expr::VectorSelector(vs) => &vs.matchers,
        Expr::MatrixSelector(ms) => &ms.vector_selector.matchers,
        _ => return Labels::empty(),
    };
    let mut b = LabelsBuilder::new(&Labels::empty());
    let mut has: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name == model::METRIC_NAME {
            continue;
        }
        if m.match_type == MatchType::Equal && !has.contains(&m.name.as_str()) {
            b.set(&m.name, &m.value);
            has.push(&m.name);
        } else {
            b.del(&m.name);
        }
    }
    b.labels()
}

fn simple(ev: &Evaluator<'_>, v: &Vector, out: &mut Vector, f: impl Fn(f64) -> f64) {
    // Histogram samples are dropped, as Go's `simpleFloatFunc` does.
    for s in v.iter().filter(|s| s.h.is_none()) {
        out.push(Sample {
            h: None,
            metric: output_labels(ev.delayed_name_removal, &s.metric),
            t: s.t,
            f: f(s.f),
            drop_name: true,
        });
    }
}

/// Go's `natsort.Compare`: whether `a` sorts before `b`, comparing digit runs numerically.
fn natsort_less(a: &str, b: &str) -> bool {
    fn chunks(s: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let bytes = s.as_bytes();
        let mut start = 0;
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                if start < i {
                    out.push(&s[start..i]);
                }
                start = i;
            }
        }
        out
    }
    let ca = chunks(a);
    let cb = chunks(b);
    for i in 0..ca.len() {
        if i >= cb.len() {
            return false;
        }
        let ai = ca[i].parse::<i64>();
        let bi = cb[i].parse::<i64>();
        if let (Ok(x), Ok(y)) = (&ai, &bi) {
            if x == y {
                if i == ca.len() - 1 {
                    return true;
                } else if i == cb.len() - 1 {
                    return false;
                }
                continue;
            }
            return x < y;
        }
        if ca[i] == cb[i] {
            if i == ca.len() - 1 {
                return true;
            } else if i == cb.len() - 1 {
                return false;
            }
            continue;
        }
        return ca[i] < cb[i];
    }
    false
}

/// Go's `math.Max`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN wins.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn date_fn(name: &str, secs: f64) -> f64 {
    // Go converts NaN and out-of-range values to i64::MIN, and `time.Unix` wraps that
    // around to 292277026596-12-04T15:30:08Z: one second after i64::MAX, the same day,
    // hour and minute.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    let secs = if secs.is_nan() || secs >= LIMIT || secs <= -LIMIT {
        i64::MAX
    } else {
        secs as i64
    };
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    match name {
        "minute" => ((sod / 60) % 60) as f64,
        "hour" => (sod / 3600) as f64,
        "day_of_month" => f64::from(d),
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "day_of_year" => {
            const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
            let mut doy = CUM[(m - 1) as usize] + d;
            if m > 2 && is_leap(y) {
                doy += 1;
            }
            f64::from(doy)
        }
        "month" => f64::from(m),
        "year" => y as f64,
        "days_in_month" => match m {
            2 => {
                if is_leap(y) {
                    29.0
                } else {
                    28.0
                }
            }
            4 | 6 | 9 | 11 => 30.0,
            _ => 31.0,
        },
        _ => f64::NAN,
    }
}

fn vector_function(
    ev: &mut Evaluator<'_>,
    c: &Call,
    v: &[Vector],
    ts: i64,
    out: &mut Vector,
    state: &mut VecFnState,
) -> Result<()> {
    let name = c.func.name;
    let scalar = |i: usize| v.get(i).and_then(|x| x.first()).map_or(f64::NAN, |s| s.f);
    match name {
        "abs" => simple(ev, &v[0], out, f64::abs),
        "ceil" => simple(ev, &v[0], out, f64::ceil),
        "floor" => simple(ev, &v[0], out, f64::floor),
        "exp" => simple(ev, &v[0], out, f64::exp),
        "sqrt" => simple(ev, &v[0], out, f64::sqrt),
        "ln" => simple(ev, &v[0], out, f64::ln),
        "log2" => simple(ev, &v[0], out, f64::log2),
        "log10" => simple(ev, &v[0], out, f64::log10),
        "sin" => simple(ev, &v[0], out, f64::sin),
        "cos" => simple(ev, &v[0], out, f64::cos),
        "tan" => simple(ev, &v[0], out, f64::tan),
        "asin" => simple(ev, &v[0], out, f64::asin),
        "acos" => simple(ev, &v[0], out, f64::acos),
        "atan" => simple(ev, &v[0], out, f64::atan),
        "sinh" => simple(ev, &v[0], out, f64::sinh),
        "cosh" => simple(ev, &v[0], out, f64::cosh),
        "tanh" => simple(ev, &v[0], out, f64::tanh),
        "asinh" => simple(ev, &v[0], out, f64::asinh),
        "acosh" => simple(ev, &v[0], out, f64::acosh),
        "atanh" => simple(ev, &v[0], out, f64::atanh),
        "rad" => simple(ev, &v[0], out, |x| x * std::f64::consts::PI / 180.0),
        "deg" => simple(ev, &v[0], out, |x| x * 180.0 / std::f64::consts::PI),
        "sgn" => simple(ev, &v[0], out, |x| {
            if x < 0.0 {
                -1.0
            } else if x > 0.0 {
                1.0
            } else {
                x
            }
        }),
        "round" => {
            let to_nearest = if c.args.len() >= 2 { scalar(1) } else { 1.0 };
            let inv = 1.0 / to_nearest;
            simple(ev, &v[0], out, |x| (x * inv + 0.5).floor() / inv);
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let (lo, hi) = match name {
                "clamp" => (scalar(1), scalar(2)),
                "clamp_min" => (scalar(1), f64::INFINITY),
                _ => (f64::NEG_INFINITY, scalar(1)),
            };
            if hi < lo {
                return Ok(());
            }
            simple(ev, &v[0], out, |x| go_max(lo, go_min(hi, x)));
        }
        "timestamp" => {
            for s in &v[0] {
                out.push(Sample {
                    h: None,
                    metric: output_labels(ev.delayed_name_removal, &s.metric),
                    t: s.t,
                    f: s.t as f64 / 1000.0,
                    drop_name: true,
                });
            }
        }
        "time" => out.push(Sample {
            h: None,
            metric: Labels::empty(),
            t: ts,
            f: ts as f64 / 1000.0,
            drop_name: false,
        }),
        "pi" => out.push(Sample {
            h: None,
            metric: Labels::empty(),
            t: ts,
            f: std::f64::consts::PI,
            drop_name: false,
        }),
        "scalar" => {
            let mut floats = v[0].iter().filter(|s| s.h.is_none());
            let f = match (floats.next(), floats.next()) {
                (Some(s), None) => s.f,
                _ => f64::NAN,
            };
            out.push(Sample {
                h: None,
                metric: Labels::empty(),
                t: ts,
                f,
                drop_name: false,
            });
        }
        "vector" => out.push(Sample {
            h: None,
            metric: Labels::empty(),
            t: ts,
            f: scalar(0),
            drop_name: false,
        }),
        "sort" | "sort_desc" => {
            let desc = name == "sort_desc";
            // Histogram samples are dropped, as in Go.
            let mut vv: Vector = v[0].iter().filter(|s| s.h.is_none()).cloned().collect();
            vv.sort_by(|a, b| {
                use std::cmp::Ordering;
                match (a.f.is_nan(), b.f.is_nan()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    _ => {
                        let o = a.f.partial_cmp(&b.f).unwrap_or(Ordering::Equal);
                        if desc { o.reverse() } else { o }
                    }
                }
            });
            out.extend(vv);
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let desc = name == "sort_by_label_desc";
            let mut names = Vec::new();
            for a in &c.args[1..] {
                names.push(string_arg(a)?);
            }
            let mut vv = v[0].clone();
            vv.sort_by(|a, b| {
                use std::cmp::Ordering;
                for l in &names {
                    let x = a.metric.get(l).unwrap_or("");
                    let y = b.metric.get(l).unwrap_or("");
                    if x == y {
                        continue;
                    }
                    let less = natsort_less(x, y);
                    let o = if less {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    };
                    return if desc { o.reverse() } else { o };
                }
                let o = a.metric.cmp(&b.metric);
                if desc { o.reverse() } else { o }
            });
            out.extend(vv);
        }
        "absent" => {
            if v[0].is_empty() {
                out.push(Sample {
                    h: None,
                    metric: absent_labels(&c.args[0]),
                    t: ts,
                    f: 1.0,
                    drop_name: false,
                });
            }
        }
        "days_in_month" | "day_of_month" | "day_of_week" | "day_of_year" | "hour" | "minute"
        | "month" | "year" => {
            if c.args.is_empty() {
                out.push(Sample {
                    h: None,
                    metric: Labels::empty(),
                    t: ts,
                    f: date_fn(name, (ts / 1000) as f64),
                    drop_name: false,
                });
            } else {
                simple(ev, &v[0], out, |x| date_fn(name, x));
            }
        }
        "histogram_quantile" => histogram_quantile(ev, c, scalar(0), &v[1], ts, out, state),
        "histogram_fraction" => {
            let (lower, upper) = (scalar(0), scalar(1));
            let natives = collect_buckets(ev, &v[2], &c.args[2], state);
            for s in natives {
                let Some(h) = s.h.as_deref() else { continue };
                let metric = output_labels(ev.delayed_name_removal, &s.metric);
                let (f, nans) = histogram::fraction(lower, upper, h);
                if nans {
                    let name = histogram::annotation_name(ev, &metric);
                    histogram::info_fraction_nan(ev, &name, c.args[2].pos());
                }
                out.push(Sample {
                    h: None,
                    metric,
                    t: ts,
                    f,
                    drop_name: true,
                });
            }
            for (_, (metric, buckets)) in state.buckets.iter_mut() {
                if buckets.is_empty() {
                    continue;
                }
                let f = bucket_fraction(lower, upper, buckets);
                out.push(Sample {
                    h: None,
                    metric: output_labels(ev.delayed_name_removal, metric),
                    t: ts,
                    f,
                    drop_name: true,
                });
            }
        }
        "histogram_quantiles" => histogram_quantiles(ev, c, v, ts, out, state)?,
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
        | "histogram_stdvar" => histogram::simple_histogram_fn(ev, name, &v[0], out),
        "start_timestamp" => {
            // Only a plain selector carries start timestamps (see `eval_call`); those of
            // an expression's result are unknown, so there is no output.
        }
        other => {
            return Err(Error::Eval(format!("function {other} is not supported")));
        }
    }
    Ok(())
}

/// Groups classic histogram buckets by their series without `le` and returns the native
/// histogram samples (Go's `resetHistograms`); a native histogram with the labels of a
/// classic one drops both with a warning.
fn collect_buckets<'v>(
    ev: &Evaluator<'_>,
    v: &'v Vector,
    arg: &Expr,
    state: &mut VecFnState,
) -> Vec<&'v Sample> {
    for (_, b) in state.buckets.values_mut() {
        b.clear();
    }
    let mut natives = Vec::new();
    for s in v {
        if s.h.is_some() {
            natives.push(s);
            continue;
        }
        let le = s.metric.get("le").unwrap_or("");
        let Some(upper) = parse_go_float(le) else {
            let name = if ev.delayed_name_removal {
                s.metric.metric_name().unwrap_or("")
            } else {
                ""
            };
            ev.warn(
                format!(
                    "bucket label \"le\" is missing or has a malformed value of {le:?} for metric name {name:?}"
                ),
                arg.pos(),
            );
            continue;
        };
        let key = s.metric.hash_without_labels(&["le"]) ^ name_hash(&s.metric);
        let entry = state.buckets.entry(key).or_insert_with(|| {
            let mut b = LabelsBuilder::new(&s.metric);
            b.del("le");
            (b.labels(), Vec::new())
        });
        entry.1.push(Bucket {
            upper_bound: upper,
            count: s.f,
        });
    }
    natives.retain(|s| {
        let key = s.metric.hash_without_labels(&["le"]) ^ name_hash(&s.metric);
        match state.buckets.get_mut(&key) {
            Some((_, b)) if !b.is_empty() => {
                b.clear();
                ev.warn(
                    format!(
                        "vector contains a mix of classic and native histograms for metric name {:?}",
                        s.metric.metric_name().unwrap_or("")
                    ),
                    arg.pos(),
                );
                false
            }
            _ => true,
        }
    });
    natives
}

/// `hash_without_labels` skips `__name__`; mix it back in so differently named histograms
/// stay apart.
fn name_hash(l: &Labels) -> u64 {
    match l.metric_name() {
        Some(n) => Labels::from_pairs([("__name__", n)]).hash().rotate_left(17),
        None => 0,
    }
}

/// Parses a float like Go's `strconv.ParseFloat` (accepting `+Inf`, `Inf`, `NaN`).
fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    let lower = t.to_ascii_lowercase();
    match lower.trim_start_matches(['+', '-']) {
        "inf" | "infinity" => {
            return Some(if lower.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    t.parse::<f64>().ok()
}

fn histogram_quantile(
    ev: &Evaluator<'_>,
    c: &Call,
    q: f64,
    v: &Vector,
    ts: i64,
    out: &mut Vector,
    state: &mut VecFnState,
) {
    warn_invalid_quantile(ev, q, c.args[0].pos());
    let natives = collect_buckets(ev, v, &c.args[1], state);
    for s in natives {
        let Some(h) = s.h.as_deref() else { continue };
        let metric = output_labels(ev.delayed_name_removal, &s.metric);
        let (f, nan) = histogram::quantile(q, h);
        if let Some(nan) = nan {
            let name = histogram::annotation_name(ev, &metric);
            histogram::info_quantile_nan(ev, nan, &name, c.args[1].pos());
        }
        out.push(Sample {
            h: None,
            metric,
            t: ts,
            f,
            drop_name: true,
        });
    }
    let mut keys: Vec<u64> = state.buckets.keys().copied().collect();
    keys.sort_unstable();
    for k in keys {
        let Some((metric, buckets)) = state.buckets.get_mut(&k) else {
            continue;
        };
        if buckets.is_empty() {
            continue;
        }
        let r = bucket_quantile(q, buckets);
        info_forced_monotonic(ev, metric, &r, c.args[1].pos());
        out.push(Sample {
            h: None,
            metric: output_labels(ev.delayed_name_removal, metric),
            t: ts,
            f: r.value,
            drop_name: true,
        });
    }
}

/// The labels of a function's output sample: the input's, with the metric name and
/// metadata dropped now unless name removal is delayed (dropped at the end then).
fn output_labels(delayed_name_removal: bool, l: &Labels) -> Labels {
    if delayed_name_removal {
        l.clone()
    } else {
        drop_metadata(l)
    }
}

/// Warns that the quantile `q` is not in [0, 1] (NaN included), as Go's
/// `NewInvalidQuantileWarning`.
fn warn_invalid_quantile(ev: &Evaluator<'_>, q: f64, pos: PosRange) {
    if q.is_nan() || !(0.0..=1.0).contains(&q) {
        ev.warn(
            format!("quantile value should be between 0 and 1, got {}", go_g(q)),
            pos,
        );
    }
}

/// Informs that the buckets of `metric` had to be made monotonic for `r`, as Go's
/// `NewHistogramQuantileForcedMonotonicityInfo`.
fn info_forced_monotonic(ev: &Evaluator<'_>, metric: &Labels, r: &BucketQuantile, pos: PosRange) {
    if !r.forced_monotonic {
        return;
    }
    let name = if ev.delayed_name_removal {
        metric.metric_name().unwrap_or("").to_string()
    } else {
        String::new()
    };
    ev.info(
        format!(
            "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {name:?}, from buckets {} to {}, with a max diff of {}",
            go_g(r.min_bucket),
            go_g(r.max_bucket),
            go_g(r.max_diff)
        ),
        pos,
    );
}

/// Go's `labels.FormatOpenMetricsFloat`: like `%g` but always with a `.0` for integers.
fn format_openmetrics_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = go_g(f);
    if s.contains(['.', 'e']) {
        s
    } else {
        format!("{s}.0")
    }
}

fn histogram_quantiles(
    ev: &Evaluator<'_>,
    c: &Call,
    v: &[Vector],
    ts: i64,
    out: &mut Vector,
    state: &mut VecFnState,
) -> Result<()> {
    let label = string_arg(&c.args[1])?;
    let mut qs = Vec::new();
    for (i, vec) in v.iter().enumerate().skip(2) {
        let q = vec.first().map_or(f64::NAN, |s| s.f);
        warn_invalid_quantile(ev, q, c.args[i].pos());
        qs.push(q);
    }
    let natives = collect_buckets(ev, &v[0], &c.args[0], state);
    let mut keys: Vec<u64> = state.buckets.keys().copied().collect();
    keys.sort_unstable();
    for q in qs {
        let qs = format_openmetrics_float(q);
        for s in &natives {
            let Some(h) = s.h.as_deref() else { continue };
            let base = output_labels(ev.delayed_name_removal, &s.metric);
            let (f, nan) = histogram::quantile(q, h);
            if let Some(nan) = nan {
                let name = s.metric.metric_name().unwrap_or("").to_string();
                histogram::info_quantile_nan(ev, nan, &name, c.args[0].pos());
            }
            let mut lb = LabelsBuilder::new(&base);
            lb.set(&label, &qs);
            out.push(Sample {
                h: None,
                metric: lb.labels(),
                t: ts,
                f,
                drop_name: true,
            });
        }
        for k in &keys {
            let Some((metric, buckets)) = state.buckets.get(k) else {
                continue;
            };
            if buckets.is_empty() {
                continue;
            }
            let mut b = buckets.clone();
            let r = bucket_quantile(q, &mut b);
            info_forced_monotonic(ev, metric, &r, c.args[0].pos());
            let base = output_labels(ev.delayed_name_removal, metric);
            let mut lb = LabelsBuilder::new(&base);
            lb.set(&label, &qs);
            out.push(Sample {
                h: None,
                metric: lb.labels(),
                t: ts,
                f: r.value,
                drop_name: true,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natsort_compares_numbers_numerically() {
        assert!(natsort_less("a2", "a10"));
        assert!(!natsort_less("a10", "a2"));
        assert!(natsort_less("abc", "abd"));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(date_fn("day_of_week", 0.0), 4.0);
        // NaN, infinities and out-of-range values read as Go's wrapped i64::MIN.
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1e19] {
            assert_eq!(date_fn("hour", x), 15.0);
            assert_eq!(date_fn("minute", x), 30.0);
            assert_eq!(date_fn("day_of_week", x), 0.0);
            assert_eq!(date_fn("year", x), 292_277_026_596.0);
        }
        assert_eq!(date_fn("days_in_month", 1_582_934_400.0), 29.0); // 2020-02-29
        assert_eq!(date_fn("day_of_year", 1_609_372_800.0), 366.0); // 2020-12-31
    }

    #[test]
    fn start_timestamp_resets_and_overlaps() {
        // Unknown, invalid (after the sample) and OTel's "unknown start" (at the sample).
        assert!(!is_st_reset(0, 10, 0, 20));
        assert!(!is_st_reset(0, 10, 21, 20));
        assert!(!is_st_reset(0, 10, 20, 20));
        // A cumulative series keeping its start; one restarting after the previous sample.
        assert!(!is_st_reset(5, 10, 5, 20));
        assert!(is_st_reset(5, 10, 11, 20));
        // Pointing at the previous sample: a delta when that one had its own start, a
        // cumulative series with unknown start otherwise (or when it was invalid).
        assert!(is_st_reset(5, 10, 10, 20));
        assert!(!is_st_reset(0, 10, 10, 20));
        assert!(!is_st_reset(10, 10, 10, 20));
        assert!(!is_st_reset(15, 10, 10, 20));
        assert!(st_overlaps(0, 10, 5));
        assert!(!st_overlaps(5, 10, 5));
        assert!(!st_overlaps(5, 10, 10));
        assert!(!st_overlaps(5, 10, 0));
    }

    #[test]
    fn kahan_keeps_small_terms() {
        let (s, c) = kahan_inc(1e-16, 1.0, 0.0);
        assert_eq!(s + c, 1.0 + 1e-16);
    }
}
