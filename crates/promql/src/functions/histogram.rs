//! PromQL functions on native histograms (Go's `functions.go` and `quantile.go`): the
//! `histogram_*` readers, quantiles and fractions, and the range functions over windows
//! holding histogram points (rates, resets, changes, `*_over_time`).

use std::sync::Arc;

use model::{CounterResetHint, FloatHistogram, Labels, LabelsBuilder};

use super::RangeCtx;
use crate::engine::Evaluator;
use crate::parser::PosRange;
use crate::value::{FPoint, HPoint, Sample, Vector};

/// Why a native histogram quantile is not what it seems: the histogram has NaN
/// observations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QuantileNan {
    /// The quantile falls among the NaN observations: the result is NaN.
    Result,
    /// NaN observations count as +Inf, so the result is skewed higher.
    Skew,
}

/// The `q`-quantile of a native histogram (Go's `HistogramQuantile`): the bucket holding
/// the rank is interpolated on a logarithmic scale for exponential buckets and linearly for
/// custom buckets and the zero bucket; 0 is the natural bound of the zero bucket of a
/// histogram with buckets on one side only, and the outer custom buckets give their finite
/// bound. `q` outside [0, 1] gives ∓Inf, an empty histogram or `q` NaN gives NaN.
pub(crate) fn quantile(q: f64, h: &FloatHistogram) -> (f64, Option<QuantileNan>) {
    if q < 0.0 {
        return (f64::NEG_INFINITY, None);
    }
    if q > 1.0 {
        return (f64::INFINITY, None);
    }
    if h.count == 0.0 || q.is_nan() {
        return (f64::NAN, None);
    }
    let forward = h.sum.is_nan() || q < 0.5;
    let mut it: Box<dyn Iterator<Item = model::histogram::Bucket> + '_> = if forward {
        Box::new(h.all_bucket_iter())
    } else {
        Box::new(h.all_reverse_bucket_iter())
    };
    let mut rank = if forward {
        q * h.count
    } else {
        (1.0 - q) * h.count
    };
    let mut bucket = model::histogram::Bucket {
        lower: 0.0,
        upper: 0.0,
        lower_inclusive: false,
        upper_inclusive: false,
        count: 0.0,
        index: 0,
    };
    let mut count = 0.0;
    for b in it.by_ref() {
        if b.count == 0.0 {
            continue;
        }
        bucket = b;
        count += b.count;
        if count >= rank {
            break;
        }
    }
    let custom = h.uses_custom_buckets();
    if !custom && bucket.lower < 0.0 && bucket.upper > 0.0 {
        if h.negative_buckets.is_empty() && !h.positive_buckets.is_empty() {
            bucket.lower = 0.0;
        } else if h.positive_buckets.is_empty() && !h.negative_buckets.is_empty() {
            bucket.upper = 0.0;
        }
    } else if custom {
        if bucket.lower == f64::NEG_INFINITY {
            if bucket.upper <= 0.0 {
                return (bucket.upper, None);
            }
            bucket.lower = 0.0;
        } else if bucket.upper == f64::INFINITY {
            return (bucket.lower, None);
        }
    }
    if count > h.count {
        count = h.count;
    }
    if count < rank {
        if h.sum.is_nan() {
            return (f64::NAN, Some(QuantileNan::Result));
        }
        return (bucket.upper, None);
    }
    if forward {
        rank -= count - bucket.count;
    } else {
        rank = count - rank;
    }
    let mut nan = None;
    if h.sum.is_nan() {
        let mut total = count;
        for b in it {
            total += b.count;
        }
        if total < h.count {
            nan = Some(QuantileNan::Skew);
        }
    }
    let fraction = rank / bucket.count;
    if custom || (bucket.lower <= 0.0 && bucket.upper >= 0.0) {
        return (bucket.lower + (bucket.upper - bucket.lower) * fraction, nan);
    }
    let log_lower = bucket.lower.abs().log2();
    let log_upper = bucket.upper.abs().log2();
    let v = if bucket.lower > 0.0 {
        (log_lower + (log_upper - log_lower) * fraction).exp2()
    } else {
        -(log_upper + (log_lower - log_upper) * (1.0 - fraction)).exp2()
    };
    (v, nan)
}

/// The fraction of the observations of `h` between `lower` and `upper` (Go's
/// `HistogramFraction`), interpolated as [`quantile`] does; the second value says the
/// histogram has NaN observations, which are in no fraction.
pub(crate) fn fraction(lower: f64, upper: f64, h: &FloatHistogram) -> (f64, bool) {
    if h.count == 0.0 || lower.is_nan() || upper.is_nan() {
        return (f64::NAN, false);
    }
    // NaN observations are counted but in no bucket: they are excluded from every range.
    let mut total = h.count;
    let mut has_nans = false;
    if h.sum.is_nan() {
        let in_buckets: f64 = h.all_bucket_iter().map(|b| b.count).sum();
        if in_buckets < h.count {
            total = in_buckets;
            has_nans = true;
        }
    }
    if lower >= upper {
        return (0.0, has_nans);
    }
    let custom = h.uses_custom_buckets();
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    for mut b in h.all_bucket_iter() {
        let mut zero_bucket = false;
        if b.lower <= 0.0 && b.upper >= 0.0 {
            zero_bucket = true;
            if h.negative_buckets.is_empty() && !h.positive_buckets.is_empty() {
                b.lower = 0.0;
            } else if h.positive_buckets.is_empty() && !h.negative_buckets.is_empty() {
                b.upper = 0.0;
            }
        }
        let linear = custom || zero_bucket;
        let interpolate = |v: f64| -> f64 {
            if linear {
                // An infinite bucket cannot be interpolated: none of it counts.
                if b.lower == f64::NEG_INFINITY {
                    return rank + b.count;
                }
                return rank + b.count * (v - b.lower) / (b.upper - b.lower);
            }
            let log_lower = b.lower.abs().log2();
            let log_upper = b.upper.abs().log2();
            let log_v = v.abs().log2();
            let frac = if v > 0.0 {
                (log_v - log_lower) / (log_upper - log_lower)
            } else {
                1.0 - (log_v - log_upper) / (log_lower - log_upper)
            };
            rank + b.count * frac
        };
        if !lower_set && b.lower >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && b.lower >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && b.lower < lower && b.upper > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && b.lower < upper && b.upper > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank += b.count;
    }
    if !lower_set || lower_rank > total {
        lower_rank = total;
    }
    if !upper_set || upper_rank > total {
        upper_rank = total;
    }
    ((upper_rank - lower_rank) / h.count, has_nans)
}

/// The estimated variance of the observations (Go's `histogramVariance`): every bucket's
/// observations sit at its arithmetic (custom buckets), zero (zero bucket) or geometric
/// (exponential buckets) midpoint.
pub(crate) fn variance(h: &FloatHistogram) -> f64 {
    let mean = h.sum / h.count;
    let custom = h.uses_custom_buckets();
    let (mut var, mut c) = (0.0, 0.0);
    for b in h.all_bucket_iter() {
        if b.count == 0.0 {
            continue;
        }
        let val = if custom {
            (b.upper + b.lower) / 2.0
        } else if b.lower <= 0.0 && b.upper >= 0.0 {
            0.0
        } else {
            let g = (b.upper * b.lower).sqrt();
            if b.upper < 0.0 { -g } else { g }
        };
        let delta = val - mean;
        (var, c) = super::kahan_inc(b.count * delta * delta, var, c);
    }
    (var + c) / h.count
}

/// `histogram_count`, `histogram_sum`, `histogram_avg`, `histogram_stddev` and
/// `histogram_stdvar` of the histogram samples of `v` (floats are ignored).
pub(crate) fn simple_histogram_fn(ev: &Evaluator<'_>, name: &str, v: &Vector, out: &mut Vector) {
    for s in v {
        let Some(h) = s.h.as_deref() else {
            continue;
        };
        let f = match name {
            "histogram_count" => h.count,
            "histogram_sum" => h.sum,
            "histogram_avg" => h.sum / h.count,
            "histogram_stddev" => variance(h).sqrt(),
            _ => variance(h),
        };
        let metric = if ev.delayed_name_removal {
            s.metric.clone()
        } else {
            let mut b = LabelsBuilder::new(&s.metric);
            b.del(model::METRIC_NAME);
            b.labels()
        };
        out.push(Sample {
            h: None,
            metric,
            t: s.t,
            f,
            drop_name: true,
        });
    }
}

/// Reports the NaN observations found by `histogram_quantile` (Go's
/// `NewNativeHistogramQuantileNaN{Result,Skew}Info`).
pub(crate) fn info_quantile_nan(ev: &Evaluator<'_>, nan: QuantileNan, name: &str, pos: PosRange) {
    let what = match nan {
        QuantileNan::Result => "result is NaN",
        QuantileNan::Skew => "result is skewed higher",
    };
    ev.info(
        with_metric_name(
            format!("input to histogram_quantile has NaN observations, {what}"),
            name,
        ),
        pos,
    );
}

/// Reports NaN observations excluded by `histogram_fraction`.
pub(crate) fn info_fraction_nan(ev: &Evaluator<'_>, name: &str, pos: PosRange) {
    ev.info(
        with_metric_name(
            "input to histogram_fraction has NaN observations, which are excluded from all fractions"
                .into(),
            name,
        ),
        pos,
    );
}

/// Go's `maybeAddMetricName`.
fn with_metric_name(msg: String, name: &str) -> String {
    if name.is_empty() {
        msg
    } else {
        format!("{msg} for metric name {name:?}")
    }
}

/// The metric name the annotations of a histogram function name (empty once the name was
/// dropped).
pub(crate) fn annotation_name(ev: &Evaluator<'_>, metric: &Labels) -> String {
    if ev.delayed_name_removal {
        metric.metric_name().unwrap_or("").to_string()
    } else {
        String::new()
    }
}

/// What a range function yields for one step.
pub(crate) enum RangeOut {
    /// A float result.
    F(f64),
    /// A histogram result.
    H(FloatHistogram),
    /// An input histogram passed through unchanged.
    Shared(Arc<FloatHistogram>),
}

fn metric_name<'a>(c: &RangeCtx<'a>) -> &'a str {
    c.labels.metric_name().unwrap_or("")
}

fn warn_mixed(ev: &Evaluator<'_>, c: &RangeCtx<'_>) {
    ev.warn(
        format!(
            "encountered a mix of histograms and floats for metric name {:?}",
            metric_name(c)
        ),
        c.first_arg_pos,
    );
}

fn warn_mixed_schemas(ev: &Evaluator<'_>, c: &RangeCtx<'_>) {
    ev.warn(
        format!(
            "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {:?}",
            metric_name(c)
        ),
        c.first_arg_pos,
    );
}

fn warn_not_counter(ev: &Evaluator<'_>, c: &RangeCtx<'_>) {
    ev.warn(
        format!(
            "this native histogram metric is not a counter: {:?}",
            metric_name(c)
        ),
        c.first_arg_pos,
    );
}

fn warn_not_gauge(ev: &Evaluator<'_>, c: &RangeCtx<'_>) {
    ev.warn(
        format!(
            "this native histogram metric is not a gauge: {:?}",
            metric_name(c)
        ),
        c.first_arg_pos,
    );
}

fn info_ignored_in_mixed_range(ev: &Evaluator<'_>, c: &RangeCtx<'_>) {
    ev.info(
        format!(
            "ignored histograms in a range containing both floats and histograms for metric name {:?}",
            metric_name(c)
        ),
        c.first_arg_pos,
    );
}

fn info_reconciled(ev: &Evaluator<'_>, c: &RangeCtx<'_>, op: &str) {
    ev.info(
        format!("mismatched custom buckets were reconciled during {op}"),
        c.first_arg_pos,
    );
}

fn is_schema_error(e: &model::histogram::HistogramError) -> bool {
    matches!(
        e.kind(),
        Some(model::histogram::HistogramErrorKind::IncompatibleSchema)
    )
}

/// A range function over a window that holds histogram points (`hw` non-empty) and maybe
/// float points `w` too, as Go's functions treat such windows: rates and sums of
/// histograms, mixes warned about and dropped, float-only functions ignoring the histograms
/// with an info.
pub(crate) fn range_function(
    ev: &mut Evaluator<'_>,
    name: &str,
    w: &[FPoint],
    hw: &[HPoint],
    c: &RangeCtx<'_>,
) -> crate::Result<Option<RangeOut>> {
    Ok(match name {
        "rate" | "increase" | "delta" => {
            if !w.is_empty() {
                warn_mixed(ev, c);
                return Ok(None);
            }
            if c.anchored || c.smoothed {
                return Ok(
                    extended_rate(ev, hw, c, name != "delta", name == "rate").map(RangeOut::H)
                );
            }
            // One histogram is enough when its start timestamp lies inside the range.
            if hw.is_empty() || (hw.len() < 2 && c.hist_sts.is_empty()) {
                return Ok(None);
            }
            extrapolated_rate(ev, hw, c, name != "delta", name == "rate").map(RangeOut::H)
        }
        "irate" | "idelta" => instant_value(ev, w, hw, c, name == "irate"),
        "resets" | "changes" => resets_or_changes(w, hw, c, name == "resets").map(RangeOut::F),
        "sum_over_time" | "avg_over_time" => {
            if !w.is_empty() {
                warn_mixed(ev, c);
                return Ok(None);
            }
            sum_or_avg(ev, hw, c, name == "avg_over_time").map(RangeOut::H)
        }
        "count_over_time" => Some(RangeOut::F((w.len() + hw.len()) as f64)),
        "present_over_time" | "absent_over_time" => Some(RangeOut::F(1.0)),
        "last_over_time" => {
            let h = hw.last().expect("histogram window is not empty");
            match w.last() {
                Some(f) if h.t < f.t => Some(RangeOut::F(f.f)),
                _ => Some(RangeOut::Shared(h.h.clone())),
            }
        }
        "first_over_time" => {
            let h = hw.first().expect("histogram window is not empty");
            match w.first() {
                Some(f) if f.t < h.t => Some(RangeOut::F(f.f)),
                _ => Some(RangeOut::Shared(h.h.clone())),
            }
        }
        "ts_of_first_over_time" => {
            let th = hw.first().map_or(i64::MAX, |p| p.t);
            let tf = w.first().map_or(i64::MAX, |p| p.t);
            Some(RangeOut::F(th.min(tf) as f64 / 1000.0))
        }
        "ts_of_last_over_time" => {
            let th = hw.last().map_or(0, |p| p.t);
            let tf = w.last().map_or(0, |p| p.t);
            Some(RangeOut::F(th.max(tf) as f64 / 1000.0))
        }
        "deriv" | "predict_linear" | "double_exponential_smoothing" => {
            if w.len() < 2 {
                if w.len() == 1 {
                    info_ignored_in_mixed_range(ev, c);
                }
                return Ok(None);
            }
            let v = super::range_function(ev, name, w, c)?;
            info_ignored_in_mixed_range(ev, c);
            v.map(RangeOut::F)
        }
        _ => {
            // Float-only functions: no floats, no result; histograms ignored with an info.
            if w.is_empty() {
                return Ok(None);
            }
            if name == "quantile_over_time" {
                let q = c.scalars.first().copied().unwrap_or(f64::NAN);
                super::warn_invalid_quantile(ev, q, c.first_arg_pos);
                info_ignored_in_mixed_range(ev, c);
                let mut vals: Vec<f64> = w.iter().map(|p| p.f).collect();
                return Ok(Some(RangeOut::F(super::quantile(q, &mut vals))));
            }
            info_ignored_in_mixed_range(ev, c);
            super::range_function(ev, name, w, c)?.map(RangeOut::F)
        }
    })
}

/// Go's `extrapolatedRate` for histograms: the increase between the first and last
/// histogram (counter resets added back for counters), extrapolated to the range
/// boundaries as for floats.
fn extrapolated_rate(
    ev: &Evaluator<'_>,
    hw: &[HPoint],
    c: &RangeCtx<'_>,
    is_counter: bool,
    is_rate: bool,
) -> Option<FloatHistogram> {
    let n1 = hw.len() - 1;
    let mut result = if n1 > 0 {
        Some(histogram_rate(ev, hw, c, is_counter)?)
    } else {
        None
    };
    let first_t = hw[0].t;
    let last_t = hw[n1].t;
    let mut duration_to_start = (first_t - c.range_start) as f64 / 1000.0;
    let mut duration_to_end = (c.range_end - last_t) as f64 / 1000.0;
    let mut sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let avg = if n1 > 0 {
        sampled_interval / n1 as f64
    } else {
        0.0
    };
    let threshold = avg * 1.1;
    let first_st = super::st_at(c.hist_sts, 0);
    if is_counter && first_st != 0 && first_st > c.range_start && first_st < first_t {
        // The counter started inside the range: assume a zero histogram at its start
        // timestamp instead of extrapolating to the left.
        duration_to_start = 0.0;
        sampled_interval = (last_t - first_st) as f64 / 1000.0;
        match result.as_mut() {
            None => result = Some((*hw[0].h).clone()),
            Some(r) => match r.add(&hw[0].h) {
                Ok(o) => {
                    if o.nhcb_bounds_reconciled {
                        info_reconciled(ev, c, "addition");
                    }
                }
                Err(e) if is_schema_error(&e) => {
                    warn_mixed_schemas(ev, c);
                    return None;
                }
                Err(_) => {}
            },
        }
    } else if n1 == 0 {
        return None;
    } else {
        let r = result.as_ref()?;
        if duration_to_start >= threshold {
            duration_to_start = avg / 2.0;
        }
        if is_counter {
            let mut duration_to_zero = duration_to_start;
            if r.count > 0.0 && hw[0].h.count >= 0.0 {
                duration_to_zero = sampled_interval * (hw[0].h.count / r.count);
            }
            if duration_to_zero < duration_to_start {
                duration_to_start = duration_to_zero;
            }
        }
    }
    let mut result = result?;
    if duration_to_end >= threshold {
        duration_to_end = avg / 2.0;
    }
    let mut factor = if sampled_interval == 0.0 {
        1.0
    } else {
        (sampled_interval + duration_to_start + duration_to_end) / sampled_interval
    };
    if is_rate {
        factor /= c.range as f64 / 1000.0;
    }
    result.mul(factor);
    Some(result)
}

/// Go's `interpolateHistograms`: the histogram at `t` on the line between two points; after
/// a counter reset the counter restarts from zero.
fn interpolate(
    ev: &Evaluator<'_>,
    c: &RangeCtx<'_>,
    p1: &HPoint,
    p2: &HPoint,
    t: i64,
    is_counter: bool,
) -> Result<FloatHistogram, ()> {
    if t == p1.t {
        return Ok((*p1.h).clone());
    }
    if t == p2.t {
        return Ok((*p2.h).clone());
    }
    let fraction = (t - p1.t) as f64 / (p2.t - p1.t) as f64;
    let mut r = (*p2.h).clone();
    if is_counter && p2.h.detect_reset(&p1.h) {
        r.mul(fraction);
        return Ok(r);
    }
    combine(ev, c, &mut r, &p1.h, true)?;
    r.mul(fraction);
    combine(ev, c, &mut r, &p1.h, false)?;
    Ok(r)
}

/// `base += other` (or `-=`), with Go's annotations; `Err` when they cannot be combined.
fn combine(
    ev: &Evaluator<'_>,
    c: &RangeCtx<'_>,
    base: &mut FloatHistogram,
    other: &FloatHistogram,
    subtract: bool,
) -> Result<(), ()> {
    let res = if subtract {
        base.sub(other)
    } else {
        base.add(other)
    };
    match res {
        Ok(o) => {
            if o.nhcb_bounds_reconciled {
                info_reconciled(ev, c, if subtract { "subtraction" } else { "addition" });
            }
            Ok(())
        }
        Err(e) => {
            if is_schema_error(&e) {
                warn_mixed_schemas(ev, c);
            }
            Err(())
        }
    }
}

/// Go's `extendedHistogramRate` for anchored and smoothed selectors: the histogram at the
/// range end minus the one at the range start (picked, or interpolated when smoothed), with
/// the counter resets in between added back for counters.
fn extended_rate(
    ev: &Evaluator<'_>,
    h: &[HPoint],
    c: &RangeCtx<'_>,
    is_counter: bool,
    is_rate: bool,
) -> Option<FloatHistogram> {
    let mut last = h.len() - 1;
    let first = h[..last]
        .partition_point(|p| p.t <= c.range_start)
        .saturating_sub(1);
    if c.smoothed {
        last = h[..last].partition_point(|p| p.t < c.range_end);
    }
    if h[last].t <= c.range_start {
        return None;
    }
    if c.smoothed && h[first].t > c.range_end {
        return None;
    }
    let custom = h[first].h.uses_custom_buckets();
    for p in &h[first..=last] {
        if p.h.uses_custom_buckets() != custom {
            warn_mixed_schemas(ev, c);
            return None;
        }
        if is_counter && p.h.counter_reset_hint == CounterResetHint::Gauge {
            warn_not_counter(ev, c);
        }
    }
    let left = if c.smoothed && h[first].t < c.range_start {
        interpolate(ev, c, &h[first], &h[first + 1], c.range_start, is_counter).ok()?
    } else {
        (*h[first].h).clone()
    };
    let right = if c.smoothed && last > 0 && h[last].t > c.range_end {
        interpolate(ev, c, &h[last - 1], &h[last], c.range_end, is_counter).ok()?
    } else {
        (*h[last].h).clone()
    };
    if !is_counter
        && (left.counter_reset_hint != CounterResetHint::Gauge
            || right.counter_reset_hint != CounterResetHint::Gauge)
    {
        warn_not_gauge(ev, c);
    }
    let mut result = right.clone();
    combine(ev, c, &mut result, &left, true).ok()?;
    if is_counter {
        // The left boundary stands for h[first]; h[last] is the right boundary.
        let mut lo = first + 1;
        let mut prev: &FloatHistogram = &left;
        if c.smoothed && h[first].t < c.range_start && h[first + 1].h.detect_reset(&h[first].h) {
            // The left interpolation already spanned this reset.
            prev = &h[first + 1].h;
            lo += 1;
        }
        let mut correction: Option<FloatHistogram> = None;
        let mut add_correction = |x: &FloatHistogram| -> Result<(), ()> {
            match correction.as_mut() {
                None => {
                    correction = Some(x.clone());
                    Ok(())
                }
                Some(corr) => combine(ev, c, corr, x, false),
            }
        };
        if lo <= last {
            for p in &h[lo..last] {
                if p.h.detect_reset(prev) {
                    add_correction(prev).ok()?;
                }
                prev = &p.h;
            }
            if right.detect_reset(prev) {
                add_correction(prev).ok()?;
            }
        }
        if let Some(corr) = correction {
            combine(ev, c, &mut result, &corr, false).ok()?;
        }
    }
    if is_rate {
        result.div(c.range as f64 / 1000.0);
    }
    result.counter_reset_hint = CounterResetHint::Gauge;
    result.compact(0);
    Some(result)
}

/// Go's `histogramRate`: last minus first (at the lowest schema of the window), plus the
/// histogram before every counter reset for counters; a gauge result.
fn histogram_rate(
    ev: &Evaluator<'_>,
    hw: &[HPoint],
    c: &RangeCtx<'_>,
    is_counter: bool,
) -> Option<FloatHistogram> {
    let first: &FloatHistogram = &hw[0].h;
    let last: &FloatHistogram = &hw[hw.len() - 1].h;
    if is_counter
        && (first.counter_reset_hint == CounterResetHint::Gauge
            || last.counter_reset_hint == CounterResetHint::Gauge)
    {
        warn_not_counter(ev, c);
    }
    let mut prev: std::borrow::Cow<'_, FloatHistogram> = std::borrow::Cow::Borrowed(first);
    let mut using_custom = first.uses_custom_buckets();
    let sts = c.hist_sts;
    let st_reset = |i: usize| {
        super::is_st_reset(
            super::st_at(sts, i - 1),
            hw[i - 1].t,
            super::st_at(sts, i),
            hw[i].t,
        )
    };
    if is_counter && hw.len() > 1 {
        let second: &FloatHistogram = &hw[1].h;
        if st_reset(1) || second.detect_reset(first) {
            prev = std::borrow::Cow::Owned(FloatHistogram {
                schema: second.schema,
                custom_values: second.custom_values.clone(),
                ..FloatHistogram::default()
            });
            using_custom = second.uses_custom_buckets();
        }
    }
    if last.uses_custom_buckets() != using_custom {
        warn_mixed_schemas(ev, c);
        return None;
    }
    let mut min_schema = last.schema.min(prev.schema);
    if hw.len() > 2 {
        for p in &hw[1..hw.len() - 1] {
            if !is_counter {
                continue;
            }
            if p.h.counter_reset_hint == CounterResetHint::Gauge {
                warn_not_counter(ev, c);
            }
            min_schema = min_schema.min(p.h.schema);
            if p.h.uses_custom_buckets() != using_custom {
                warn_mixed_schemas(ev, c);
                return None;
            }
        }
    }
    let mut h = match last.copy_to_schema(min_schema) {
        Ok(h) => h,
        Err(_) => {
            warn_mixed_schemas(ev, c);
            return None;
        }
    };
    match h.sub(&prev) {
        Ok(o) => {
            if o.nhcb_bounds_reconciled {
                info_reconciled(ev, c, "subtraction");
            }
        }
        Err(e) if is_schema_error(&e) => {
            warn_mixed_schemas(ev, c);
            return None;
        }
        Err(_) => {}
    }
    if is_counter {
        let mut overlap_warned = false;
        for (i, p) in hw.iter().enumerate().skip(1) {
            let curr: &FloatHistogram = &p.h;
            if !overlap_warned
                && !sts.is_empty()
                && super::st_overlaps(super::st_at(sts, i - 1), hw[i - 1].t, super::st_at(sts, i))
            {
                overlap_warned = true;
                super::warn_st_overlap(ev, c);
            }
            if st_reset(i) || curr.detect_reset(&prev) {
                match h.add(&prev) {
                    Ok(o) => {
                        if o.nhcb_bounds_reconciled {
                            info_reconciled(ev, c, "addition");
                        }
                    }
                    Err(e) if is_schema_error(&e) => {
                        warn_mixed_schemas(ev, c);
                        return None;
                    }
                    Err(_) => {}
                }
            }
            prev = std::borrow::Cow::Borrowed(curr);
        }
    } else if first.counter_reset_hint != CounterResetHint::Gauge
        || last.counter_reset_hint != CounterResetHint::Gauge
    {
        warn_not_gauge(ev, c);
    }
    h.counter_reset_hint = CounterResetHint::Gauge;
    h.compact(0);
    Some(h)
}

/// Go's `instantValue` (`irate`/`idelta`) over a window with histograms: the last two
/// samples of either kind.
fn instant_value(
    ev: &Evaluator<'_>,
    w: &[FPoint],
    hw: &[HPoint],
    c: &RangeCtx<'_>,
    is_rate: bool,
) -> Option<RangeOut> {
    #[derive(Clone)]
    enum S {
        F(f64),
        H(Arc<FloatHistogram>),
    }
    if w.len() + hw.len() < 2 {
        return None;
    }
    // (time, value, start timestamp) of the last two samples of either kind.
    let fstart = w.len().saturating_sub(2);
    let mut ss: Vec<(i64, S, i64)> = w[fstart..]
        .iter()
        .enumerate()
        .map(|(k, p)| (p.t, S::F(p.f), super::st_at(c.float_sts, fstart + k)))
        .collect();
    let hstart = hw.len().saturating_sub(2);
    for (k, p) in hw[hstart..].iter().enumerate() {
        let s = (p.t, S::H(p.h.clone()), super::st_at(c.hist_sts, hstart + k));
        match ss.len() {
            0 => ss.push(s),
            1 => {
                if s.0 < ss[0].0 {
                    ss.insert(0, s);
                } else {
                    ss.push(s);
                }
            }
            _ => {
                if s.0 < ss[0].0 {
                } else if s.0 > ss[1].0 {
                    ss[0] = ss[1].clone();
                    ss[1] = s;
                } else {
                    ss[0] = s;
                }
            }
        }
    }
    let interval = ss[1].0 - ss[0].0;
    if interval == 0 {
        return None;
    }
    let st_reset = super::is_st_reset(ss[0].2, ss[0].0, ss[1].2, ss[1].0);
    match (&ss[0].1, &ss[1].1) {
        (S::F(a), S::F(b)) => {
            let (a, b) = (*a, *b);
            let mut v = if is_rate && (b < a || st_reset) {
                b
            } else {
                b - a
            };
            if is_rate {
                v /= interval as f64 / 1000.0;
            }
            Some(RangeOut::F(v))
        }
        (S::H(a), S::H(b)) => {
            let mut r = (**b).clone();
            if is_rate
                && (b.counter_reset_hint == CounterResetHint::Gauge
                    || a.counter_reset_hint == CounterResetHint::Gauge)
            {
                warn_not_counter(ev, c);
            }
            if !is_rate
                && (b.counter_reset_hint != CounterResetHint::Gauge
                    || a.counter_reset_hint != CounterResetHint::Gauge)
            {
                warn_not_gauge(ev, c);
            }
            if !is_rate || (!st_reset && !b.detect_reset(a)) {
                match r.sub(a) {
                    Ok(o) => {
                        if o.nhcb_bounds_reconciled {
                            info_reconciled(ev, c, "subtraction");
                        }
                    }
                    Err(e) if is_schema_error(&e) => {
                        warn_mixed_schemas(ev, c);
                        return None;
                    }
                    Err(_) => {}
                }
            }
            r.counter_reset_hint = CounterResetHint::Gauge;
            r.compact(0);
            if is_rate {
                r.div(interval as f64 / 1000.0);
            }
            Some(RangeOut::H(r))
        }
        _ => {
            warn_mixed(ev, c);
            None
        }
    }
}

/// Go's `funcResets` / `funcChanges` over floats and histograms in time order: a switch
/// between the kinds counts as a reset and as a change. Anchored, the count starts at the
/// last sample at or before the range start (none when no sample is inside the range).
fn resets_or_changes(w: &[FPoint], hw: &[HPoint], c: &RangeCtx<'_>, resets: bool) -> Option<f64> {
    #[derive(Clone, Copy)]
    enum S<'a> {
        F(f64),
        H(&'a FloatHistogram),
    }
    // (time, value, start timestamp) in time order.
    let mut merged: Vec<(i64, S<'_>, i64)> = Vec::with_capacity(w.len() + hw.len());
    let (mut i, mut j) = (0usize, 0usize);
    while i < w.len() || j < hw.len() {
        if j >= hw.len() || (i < w.len() && w[i].t < hw[j].t) {
            merged.push((w[i].t, S::F(w[i].f), super::st_at(c.float_sts, i)));
            i += 1;
        } else {
            merged.push((hw[j].t, S::H(&hw[j].h), super::st_at(c.hist_sts, j)));
            j += 1;
        }
    }
    let n = merged.len();
    let first = if c.anchored {
        if n == 0 || merged[n - 1].0 <= c.range_start {
            return None;
        }
        merged[..n - 1]
            .partition_point(|p| p.0 <= c.range_start)
            .saturating_sub(1)
    } else {
        0
    };
    let mut count = 0u32;
    for pair in merged[first..].windows(2) {
        let st_reset = resets && super::is_st_reset(pair[0].2, pair[0].0, pair[1].2, pair[1].0);
        let changed = match (pair[0].1, pair[1].1) {
            (S::F(a), S::F(b)) => {
                if resets {
                    b < a || st_reset
                } else {
                    b != a && !(a.is_nan() && b.is_nan())
                }
            }
            (S::H(a), S::H(b)) => {
                if resets {
                    st_reset || b.detect_reset(a)
                } else {
                    !b.equals(a)
                }
            }
            _ => true,
        };
        if changed {
            count += 1;
        }
    }
    Some(f64::from(count))
}

/// Go's `sum_over_time` / `avg_over_time` of histograms: a compensated sum (mean), with
/// warnings about conflicting counter reset hints and infos about reconciled custom
/// buckets.
fn sum_or_avg(
    ev: &Evaluator<'_>,
    hw: &[HPoint],
    c: &RangeCtx<'_>,
    avg: bool,
) -> Option<FloatHistogram> {
    let mut reset_seen = false;
    let mut not_reset_seen = false;
    let mut reconciled = false;
    let mut track = |h: &FloatHistogram| match h.counter_reset_hint {
        CounterResetHint::CounterReset => reset_seen = true,
        CounterResetHint::NotCounterReset => not_reset_seen = true,
        _ => {}
    };
    let mut sum = (*hw[0].h).clone();
    track(&sum);
    let mut comp: Option<FloatHistogram> = None;
    let mut mean: Option<FloatHistogram> = None;
    let mut failed = false;
    for (i, p) in hw.iter().enumerate().skip(1) {
        track(&p.h);
        let count = (i + 1) as f64;
        if mean.is_none() {
            let mut sum_copy = sum.clone();
            match sum_copy.kahan_add(&p.h, comp.clone()) {
                Ok((nc, o)) => {
                    reconciled |= o.nhcb_bounds_reconciled;
                    if !avg || !sum_copy.has_overflow() {
                        sum = sum_copy;
                        comp = Some(nc);
                        continue;
                    }
                }
                Err(_) => {
                    failed = true;
                    break;
                }
            }
            let mut m = sum.clone();
            m.div(count - 1.0);
            mean = Some(m);
            if let Some(k) = comp.as_mut() {
                k.div(count - 1.0);
            }
        }
        let q = (count - 1.0) / count;
        if let Some(k) = comp.as_mut() {
            k.mul(q);
        }
        let mut to_add = (*p.h).clone();
        to_add.div(count);
        let m = mean.as_mut().expect("incremental mean set above");
        m.mul(q);
        match m.kahan_add(&to_add, comp.take()) {
            Ok((nc, o)) => {
                reconciled |= o.nhcb_bounds_reconciled;
                comp = Some(nc);
            }
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    if reset_seen && not_reset_seen {
        ev.warn(
            "conflicting counter resets during histogram aggregation".into(),
            c.first_arg_pos,
        );
    }
    if failed {
        warn_mixed_schemas(ev, c);
        return None;
    }
    let count = hw.len() as f64;
    let mut result = match mean {
        Some(mut m) => {
            if let Some(k) = comp {
                let _ = m.add(&k);
            }
            m
        }
        None => {
            if avg {
                sum.div(count);
            }
            if let Some(mut k) = comp {
                if avg {
                    k.div(count);
                }
                if let Ok(o) = sum.add(&k) {
                    reconciled |= o.nhcb_bounds_reconciled;
                }
            }
            sum
        }
    };
    if reconciled {
        info_reconciled(ev, c, "aggregation");
    }
    result.compact(0);
    Some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(notation: &str) -> FloatHistogram {
        FloatHistogram::parse_notation(notation).expect("valid notation")
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0) || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn quantile_special_cases() {
        let x = h("{{schema:0 count:4 sum:5 buckets:[1 2 1]}}");
        assert_eq!(quantile(-0.1, &x).0, f64::NEG_INFINITY);
        assert_eq!(quantile(1.1, &x).0, f64::INFINITY);
        assert!(quantile(f64::NAN, &x).0.is_nan());
        assert!(quantile(0.5, &h("{{schema:0 count:0 sum:0}}")).0.is_nan());
    }

    #[test]
    fn quantile_interpolates_exponentially() {
        // Buckets (0.5,1]:1 (1,2]:2 (2,4]:1.
        let x = h("{{schema:0 count:4 sum:5 buckets:[1 2 1]}}");
        assert!(close(quantile(0.25, &x).0, 1.0));
        assert!(close(quantile(0.5, &x).0, 2f64.sqrt()));
        assert!(close(quantile(1.0, &x).0, 4.0));
        assert!(close(quantile(0.0, &x).0, 0.5));
        // Negative buckets mirror: (-1,-0.5]:2.
        let n = h("{{schema:0 count:2 sum:-1 n_buckets:[2]}}");
        assert!(close(quantile(0.5, &n).0, -(0.5f64.sqrt())));
    }

    #[test]
    fn quantile_zero_bucket_is_linear_with_natural_bound() {
        // Zero bucket [-0.001, 0.001] with only positive buckets: lower bound 0.
        let x = h("{{schema:0 count:4 sum:2 z_bucket:2 z_bucket_w:0.001 buckets:[2]}}");
        assert!(close(quantile(0.25, &x).0, 0.0005));
    }

    #[test]
    fn quantile_custom_buckets_are_linear_and_bounded() {
        // Bounds 1, 2; buckets (-Inf,1]:2 (1,2]:2 (2,+Inf]:1.
        let x = h("{{schema:-53 count:5 sum:8 custom_values:[1 2] buckets:[2 2 1]}}");
        assert!(close(quantile(0.2, &x).0, 0.5));
        assert!(close(quantile(0.6, &x).0, 1.5));
        assert!(close(quantile(0.99, &x).0, 2.0));
    }

    #[test]
    fn quantile_nan_observations() {
        let all_nan = h("{{schema:0 count:3 sum:NaN}}");
        assert_eq!(quantile(0.4, &all_nan).1, Some(QuantileNan::Result));
        let some_nan = h("{{schema:0 count:15 sum:NaN buckets:[12]}}");
        let (v, nan) = quantile(0.8, &some_nan);
        assert_eq!((v, nan), (1.0, Some(QuantileNan::Skew)));
        let (v, nan) = quantile(0.4, &some_nan);
        assert!(close(v, std::f64::consts::FRAC_1_SQRT_2));
        assert_eq!(nan, Some(QuantileNan::Skew));
        assert_eq!(quantile(0.81, &some_nan).1, Some(QuantileNan::Result));
    }

    #[test]
    fn fraction_cases() {
        let x = h("{{schema:0 count:4 sum:5 buckets:[1 2 1]}}");
        assert!(close(fraction(f64::NEG_INFINITY, f64::INFINITY, &x).0, 1.0));
        assert!(close(fraction(1.0, 2.0, &x).0, 0.5));
        assert!(close(fraction(f64::NEG_INFINITY, 2f64.sqrt(), &x).0, 0.5));
        assert_eq!(fraction(2.0, 1.0, &x).0, 0.0);
        assert!(fraction(f64::NAN, 1.0, &x).0.is_nan());
        let some_nan = h("{{schema:0 count:15 sum:NaN buckets:[12]}}");
        assert_eq!(
            fraction(f64::NEG_INFINITY, f64::INFINITY, &some_nan),
            (0.8, true)
        );
        let (v, nan) = fraction(
            f64::NEG_INFINITY,
            std::f64::consts::FRAC_1_SQRT_2,
            &some_nan,
        );
        assert!(close(v, 0.4) && nan);
        let custom = h("{{schema:-53 count:5 sum:8 custom_values:[1 2] buckets:[2 2 1]}}");
        assert!(close(fraction(1.0, 1.5, &custom).0, 0.2));
    }

    /// A custom-bucket histogram from cumulative classic buckets (Go's `toFloatHistogram`
    /// via convertnhcb).
    fn nhcb(cumulative: &[(f64, f64)]) -> FloatHistogram {
        let mut prev = 0.0;
        let buckets: Vec<f64> = cumulative
            .iter()
            .map(|&(_, c)| {
                let d = c - prev;
                prev = c;
                d
            })
            .collect();
        FloatHistogram {
            schema: model::histogram::CUSTOM_BUCKETS_SCHEMA,
            count: prev,
            custom_values: cumulative
                .iter()
                .map(|b| b.0)
                .filter(|u| u.is_finite())
                .collect(),
            positive_spans: vec![model::histogram::Span {
                offset: 0,
                length: u32::try_from(buckets.len()).expect("few buckets"),
            }],
            positive_buckets: buckets,
            ..FloatHistogram::default()
        }
    }

    /// Go's `TestHistogramFraction` table, on the native (custom bucket) side.
    #[test]
    fn fraction_of_custom_buckets_as_go() {
        let inf = f64::INFINITY;
        let pos = [(1.0, 1.0), (2.0, 3.0), (3.0, 6.0), (inf, 100.0)];
        let neg = [(-3.0, 10.0), (-2.0, 12.0), (-1.0, 15.0), (inf, 100.0)];
        type Case<'a> = (f64, f64, &'a [(f64, f64)], f64);
        let cases: &[Case<'_>] = &[
            (0.0, 1.5, &pos, 0.02),
            (-4.0, -2.0, &neg, 0.02),
            (-inf, -1.5, &neg, 0.135),
            (-inf, inf, &pos, 1.0),
            (-inf, inf, &neg, 1.0),
            (4.0, 5.0, &pos, 0.0),
            (0.0, 1.0, &neg, 0.0),
            (2.0, 5.0, &pos, 0.03),
            (400.0, inf, &pos, 0.94),
            (2.0, 2.0, &pos, 0.0),
            (3.0, 2.0, &pos, 0.0),
            (0.0, 1.0, &[(inf, 100.0)], 0.0),
            (
                0.0,
                5.0,
                &[(1.0, 0.0), (2.0, 0.0), (3.0, 0.0), (inf, 0.0)],
                f64::NAN,
            ),
            (2.0, 3.5, &pos, 0.03),
            (0.5, 2.0, &pos, 0.025),
            (1.0, 3.0, &pos, 0.05),
            (0.1, 0.75, &[(0.5, 2.5), (1.0, 7.5), (inf, 100.0)], 0.045),
            (
                -1.0,
                1.0,
                &[
                    (-2.0, 5.0),
                    (-1.0, 10.0),
                    (0.0, 15.0),
                    (1.0, 20.0),
                    (inf, 100.0),
                ],
                0.1,
            ),
            (f64::NAN, 1.0, &[(1.0, 1.0), (inf, 100.0)], f64::NAN),
            (0.0, f64::NAN, &[(1.0, 1.0), (inf, 100.0)], f64::NAN),
            (-10.0, -5.0, &[(1.0, 1.0), (2.0, 3.0), (inf, 10.0)], 0.0),
            (5.0, 10.0, &[(1.0, 1.0), (2.0, 3.0), (inf, 10.0)], 0.0),
        ];
        for &(lower, upper, buckets, want) in cases {
            let got = fraction(lower, upper, &nhcb(buckets)).0;
            assert!(
                close(got, want),
                "fraction({lower}, {upper}) of {buckets:?} = {got}, want {want}"
            );
        }
    }

    proptest::proptest! {
        /// `histogram_fraction` inverts `histogram_quantile` (Go's documented relation),
        /// for exponential buckets on both sides of a zero bucket.
        #[test]
        fn fraction_inverts_quantile(
            schema in -2i32..4,
            offset in -5i32..5,
            pos in proptest::collection::vec(1u32..20, 1..6),
            neg in proptest::collection::vec(1u32..20, 0..4),
            zero in 0u32..5,
            q in 0.01f64..0.99,
        ) {
            let pos: Vec<f64> = pos.into_iter().map(f64::from).collect();
            let neg: Vec<f64> = neg.into_iter().map(f64::from).collect();
            let count = pos.iter().sum::<f64>() + neg.iter().sum::<f64>() + f64::from(zero);
            let span = |n: usize| {
                if n == 0 {
                    Vec::new()
                } else {
                    vec![model::histogram::Span {
                        offset,
                        length: u32::try_from(n).expect("few buckets"),
                    }]
                }
            };
            let h = FloatHistogram {
                schema,
                count,
                sum: 1.0,
                zero_threshold: 1e-128,
                zero_count: f64::from(zero),
                positive_spans: span(pos.len()),
                negative_spans: span(neg.len()),
                positive_buckets: pos,
                negative_buckets: neg,
                ..FloatHistogram::default()
            };
            let (v, nan) = quantile(q, &h);
            proptest::prop_assert!(nan.is_none());
            let (f, _) = fraction(f64::NEG_INFINITY, v, &h);
            proptest::prop_assert!((f - q).abs() < 1e-9, "quantile {} = {}, fraction {}", q, v, f);
        }
    }

    #[test]
    fn variance_uses_bucket_midpoints() {
        let x = h("{{schema:-53 count:2 sum:4 custom_values:[1 3 5] buckets:[0 1 1]}}");
        // Midpoints 2 and 4, mean 2: deviations 0 and 2.
        assert!(close(variance(&x), 2.0));
    }
}
