//! The `rate-extrapolation` proof: raw samples from 2.42, both versions' extrapolation formulas, and the query's outer part re-evaluated in-process on the two results.
//!
//! Prometheus 2.42's `extrapolatedRate` clamps the start extrapolation to the counter's zero
//! point first and then applies the "more than 1.1 average intervals away: extrapolate only
//! half an interval" rule; 3.x (prometheus#13725, 2.51) applies the half-interval rule first
//! and the zero-point limit after it. Both read the same samples here (the evaluation times
//! of the cases lie off the sample grid, and the window is cut for each version's
//! closedness anyway).
//!
//! The proof of a case: every `rate`/`increase` call of the query becomes a synthetic
//! series (see [`super::rewrite::extract_rate_calls`]); its values per series and step are
//! computed here from the raw samples with the 2.42 formula into one in-memory storage and
//! with the 3.x formula into another. Next to them go the raw series of the query's other
//! matrix selectors, and for each bare vector selector what 2.42 answered for it at each
//! step ([`super::rewrite::extract_vector_selectors`]). Our engine then evaluates the rewritten query on both: on the 2.42 values it
//! must give 2.42's answer, on the 3.x values ours, within [`FORMULA_TOLERANCE`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use model::Labels;
use promql::parser::{AtModifier, VectorSelector, parse_expr};
use promql::{Engine, EngineOpts};
use serde_json::Value;
use storage::{Appendable, MemStorage};

use super::rewrite::{extract_rate_calls, extract_vector_selectors, raw_selector, selectors};
use super::{Outcome, diff_within, render_labels};
use crate::servers::{BLOCK_END, Case, Server, api_time};

/// Relative tolerance between a formula's result and a server's answer.
pub(crate) const FORMULA_TOLERANCE: f64 = 1e-12;

/// The raw-sample query: `sel[RAW_RANGE]` at `RAW_TIME` covers the whole block.
const RAW_RANGE: i64 = 86_400_000;
const RAW_TIME: i64 = BLOCK_END + 60_000;

/// Samples `(t in ms, value)` in time order.
type Samples = [(i64, f64)];

/// `rate`/`increase` (`is_counter`) and `delta` as Prometheus 2.42's `extrapolatedRate`
/// computes them for float samples of the window `[range_start, range_end]`, `range` being
/// the selector's range in ms. `None` for fewer than two samples.
pub(crate) fn extrapolated_rate_242(
    s: &Samples,
    range_start: i64,
    range_end: i64,
    range: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (mut correction, mut last) = (0.0, 0.0);
    for &(_, v) in s {
        if is_counter && v < last {
            correction += last;
        }
        last = v;
    }
    let mut result = last - s[0].1 + correction;
    let (first_t, last_t) = (s[0].0, s[s.len() - 1].0);
    let mut to_start = (first_t - range_start) as f64 / 1000.0;
    let to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg = sampled / (s.len() - 1) as f64;
    // 2.42: the zero-point limit comes first ...
    if is_counter && result > 0.0 && s[0].1 >= 0.0 {
        let to_zero = sampled * (s[0].1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    // ... and only then the half-interval rule, on the limited duration.
    let threshold = avg * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg / 2.0
    };
    result *= interval / sampled;
    if is_rate {
        result /= range as f64 / 1000.0;
    }
    Some(result)
}

/// The same as Prometheus 3.x's `extrapolatedRate` computes it (float samples, no start
/// timestamps) for the window `(range_start, range_end]`.
pub(crate) fn extrapolated_rate_3x(
    s: &Samples,
    range_start: i64,
    range_end: i64,
    range: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let n1 = s.len() - 1;
    let mut result = s[n1].1 - s[0].1;
    if is_counter {
        let mut prev = s[0].1;
        for &(_, v) in &s[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let (first_t, last_t) = (s[0].0, s[n1].0);
    let mut to_start = (first_t - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg = sampled / n1 as f64;
    let threshold = avg * 1.1;
    // 3.x: the half-interval rule first ...
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    // ... then the zero-point limit on what it chose.
    if is_counter {
        let mut to_zero = to_start;
        if result > 0.0 && s[0].1 >= 0.0 {
            to_zero = sampled * (s[0].1 / result);
        }
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= range as f64 / 1000.0;
    }
    Some(result * factor)
}

/// One raw series: labels and float samples.
type RawSeries = (Labels, Vec<(i64, f64)>);

/// Every raw sample of the series `vs` selects, from `server` (a matrix-selector instant
/// query over the whole block).
fn fetch_raw(server: &Server, vs: &VectorSelector) -> Result<Vec<RawSeries>, String> {
    let q = raw_selector(vs, RAW_RANGE);
    let (status, body) = server
        .post_form(
            "/api/v1/query",
            &[("query", q.as_str()), ("time", &api_time(RAW_TIME))],
        )
        .map_err(|e| format!("fetching {q}: {e:#}"))?;
    parse_raw(status, &body).map_err(|e| format!("raw samples of {q}: {e}"))
}

/// The series of an API answer (a matrix, or a vector whose points are at the evaluation
/// time).
fn parse_raw(status: u16, body: &[u8]) -> Result<Vec<RawSeries>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("HTTP {status}: {e}"))?;
    let rtype = &v["data"]["resultType"];
    if v["status"] != "success" || (rtype != "matrix" && rtype != "vector") {
        return Err(format!(
            "HTTP {status}: not a vector or matrix: {}",
            v["error"]
        ));
    }
    let mut out = Vec::new();
    for s in v["data"]["result"].as_array().into_iter().flatten() {
        if s.get("histograms").is_some() || s.get("histogram").is_some() {
            return Err("native histogram samples (the proof covers floats)".into());
        }
        let labels = Labels::from_pairs(
            s["metric"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default())),
        );
        let mut samples = Vec::new();
        for p in s["values"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(s.get("value"))
        {
            let t = p[0].as_f64().ok_or("a sample without a timestamp")?;
            let f = p[1]
                .as_str()
                .and_then(super::parse_value)
                .ok_or("a sample without a value")?;
            samples.push(((t * 1000.0).round() as i64, f));
        }
        out.push((labels, samples));
    }
    Ok(out)
}

/// The evaluation times of a case and its query's start and end.
fn times(case: &Case) -> (Vec<i64>, i64, i64) {
    match *case {
        Case::Instant { time, .. } => (vec![time], time, time),
        Case::Range {
            start, end, step, ..
        } => {
            let mut ts = Vec::new();
            let mut t = start;
            while t <= end {
                ts.push(t);
                t += step;
            }
            (ts, start, end)
        }
    }
}

fn append_series(st: &MemStorage, labels: &Labels, samples: &[(i64, f64)]) -> Result<(), String> {
    let mut app = st.appender();
    for &(t, v) in samples {
        app.append(0, labels, t, v)
            .map_err(|e| format!("loading {labels:?}@{t}: {e}"))?;
    }
    app.commit()
        .map_err(|e| format!("committing {labels:?}: {e}"))
}

/// Our engine's answer in the form the servers' answers are compared in.
fn engine_outcome(value: &promql::value::Value) -> Result<Outcome, String> {
    use promql::value::Value as V;
    let secs = |t: i64| t as f64 / 1000.0;
    let num = |f: f64| {
        if f.is_nan() {
            "NaN".to_string()
        } else if f.is_infinite() {
            if f > 0.0 { "+Inf" } else { "-Inf" }.to_string()
        } else {
            format!("{f}")
        }
    };
    let mut series = BTreeMap::new();
    let rtype = match value {
        V::Scalar(s) => {
            series.insert(String::new(), vec![(secs(s.t), num(s.v))]);
            "scalar"
        }
        V::String(_) => return Err("a string result".into()),
        V::Vector(v) => {
            for s in v {
                if s.h.is_some() {
                    return Err("a histogram sample in the result".into());
                }
                series.insert(render_labels(s.metric.iter()), vec![(secs(s.t), num(s.f))]);
            }
            "vector"
        }
        V::Matrix(m) => {
            for s in m {
                if !s.histograms.is_empty() {
                    return Err("a histogram sample in the result".into());
                }
                let points = s.floats.iter().map(|p| (secs(p.t), num(p.f))).collect();
                series.insert(render_labels(s.metric.iter()), points);
            }
            "matrix"
        }
    };
    Ok(Outcome::Data(rtype.to_string(), series))
}

/// Proves that `ours` and `theirs` (2.42's answer) of `case` differ only by the
/// extrapolation formula (see the module doc). `Ok` says what was shown; `Err` why not.
pub(crate) fn prove(
    case: &Case,
    ours: &Outcome,
    theirs: &Outcome,
    upstream: &Server,
) -> Result<String, String> {
    let query = case.query();
    if query.contains(" => ") {
        return Err("the two servers get different spellings of the query".into());
    }
    let mut expr = parse_expr(query).map_err(|e| format!("parsing: {e}"))?;
    let calls = extract_rate_calls(&mut expr)?;
    if calls.is_empty() {
        return Err("the query has no rate or increase call".into());
    }
    let bare = extract_vector_selectors(&mut expr)?;
    let rewritten = expr.to_string();
    let (eval_times, qstart, qend) = times(case);
    let (st242, st3x) = (MemStorage::new(), MemStorage::new());

    // Bare selectors: what 2.42 answered for them at each step (the raw samples through the
    // API lack the staleness markers that end a series' lookback).
    for (n, vs) in bare.iter().enumerate() {
        let text = vs.to_string();
        let (status, body) = case
            .with_query(&text)
            .run(upstream)
            .map_err(|e| format!("sending {text}: {e:#}"))?;
        for (labels, points) in parse_raw(status, &body).map_err(|e| format!("{text}: {e}"))? {
            let mut b = labels.builder();
            b.set("__difftest_sel", &n.to_string());
            let stand_in = b.labels();
            let mut samples = Vec::with_capacity(eval_times.len());
            let mut at = points.iter().peekable();
            for &t in &eval_times {
                match at.next_if(|p| p.0 == t) {
                    Some(&p) => samples.push(p),
                    None => samples.push((t, model::value::stale_nan())),
                }
            }
            if at.next().is_some() {
                return Err(format!("{text}: a point off the query's steps"));
            }
            append_series(&st242, &stand_in, &samples)?;
            append_series(&st3x, &stand_in, &samples)?;
        }
    }

    // The query's other matrix selectors read the raw series as they are (range functions
    // skip staleness markers anyway).
    let mut loaded = BTreeSet::new();
    for vs in selectors(&expr) {
        for (labels, samples) in fetch_raw(upstream, &vs)? {
            if loaded.insert(labels.clone()) {
                append_series(&st242, &labels, &samples)?;
                append_series(&st3x, &labels, &samples)?;
            }
        }
    }

    // Each call becomes a synthetic series per input series: one value per step.
    let (mut points, mut differing) = (0usize, 0usize);
    for call in &calls {
        let vs = &call.selector.vector_selector;
        let range = call.selector.range;
        if vs.original_offset_expr.is_some() || call.selector.range_expr.is_some() {
            return Err("a duration expression in the selector".into());
        }
        for (labels, samples) in fetch_raw(upstream, vs)? {
            let mut b = labels.builder();
            b.set("__name__", &call.synthetic);
            let synthetic = b.labels();
            let (mut v242, mut v3x) = (Vec::new(), Vec::new());
            for &t in &eval_times {
                let at = match (vs.timestamp, vs.start_or_end) {
                    (Some(ts), _) => ts,
                    (None, Some(AtModifier::Start)) => qstart,
                    (None, Some(AtModifier::End)) => qend,
                    (None, None) => t,
                };
                let end = at - vs.original_offset;
                let start = end - range;
                let closed: Vec<(i64, f64)> = samples
                    .iter()
                    .copied()
                    .filter(|&(ts, _)| start <= ts && ts <= end)
                    .collect();
                let left_open: Vec<(i64, f64)> = closed
                    .iter()
                    .copied()
                    .filter(|&(ts, _)| ts > start)
                    .collect();
                let a = extrapolated_rate_242(&closed, start, end, range, true, call.is_rate);
                let b = extrapolated_rate_3x(&left_open, start, end, range, true, call.is_rate);
                if a.is_some() || b.is_some() {
                    points += 1;
                    if a != b {
                        differing += 1;
                    }
                }
                // A missing value is a staleness marker, so that no earlier step's value
                // shows through the lookback.
                v242.push((t, a.unwrap_or_else(model::value::stale_nan)));
                v3x.push((t, b.unwrap_or_else(model::value::stale_nan)));
            }
            append_series(&st242, &synthetic, &v242)?;
            append_series(&st3x, &synthetic, &v3x)?;
        }
    }

    let engine = Engine::new(EngineOpts::default());
    let eval = |st: MemStorage| -> Result<Outcome, String> {
        let q: Arc<dyn storage::Queryable> = Arc::new(st);
        let res = match *case {
            Case::Instant { time, .. } => engine.instant_query(q, &rewritten, time),
            Case::Range {
                start, end, step, ..
            } => engine.range_query(q, &rewritten, start, end, step),
        }
        .map_err(|e| format!("evaluating {rewritten} in-process: {e}"))?;
        engine_outcome(&res.value)
    };
    let with_242 = eval(st242)?;
    let with_3x = eval(st3x)?;
    if let Some(d) = diff_within(&with_242, theirs, FORMULA_TOLERANCE) {
        return Err(format!(
            "2.42's answer is not `{rewritten}` over the 2.42 formula (\"ours\" = formula): {d}"
        ));
    }
    if let Some(d) = diff_within(ours, &with_3x, FORMULA_TOLERANCE) {
        return Err(format!(
            "our answer is not `{rewritten}` over the 3.x formula (\"2.42\" = formula): {d}"
        ));
    }
    Ok(format!(
        "2.42 = `{rewritten}` over the 2.42 formula, ours = the same over the 3.x formula; the formulas differ at {differing} of {points} series-steps"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter that starts inside a 5m window `(0, 300s]`: 12 samples 15s apart from
    /// 112.5s to 277.5s (sampled 165s, average 15s, threshold 16.5s, 22.5s to the end),
    /// rising by 10 each from `first`.
    fn late_start(first: f64) -> Vec<(i64, f64)> {
        (0..12)
            .map(|i| (112_500 + i * 15_000, first + 10.0 * i as f64))
            .collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
    }

    fn both(s: &Samples, is_rate: bool) -> (f64, f64) {
        (
            extrapolated_rate_242(s, 0, 300_000, 300_000, true, is_rate).expect("12 samples"),
            extrapolated_rate_3x(s, 0, 300_000, 300_000, true, is_rate).expect("12 samples"),
        )
    }

    #[test]
    fn the_orders_part_when_the_zero_point_lies_between_half_an_interval_and_the_threshold() {
        // Increase 110. Both: the end is 22.5s >= 16.5s away -> +7.5s there.
        // First value 10: zero point 165 * 10/110 = 15s before the first sample.
        // 2.42: min(112.5, 15) = 15 < 16.5 -> +15s: 165 + 15 + 7.5 = 187.5.
        // 3.x: 112.5 >= 16.5 -> 7.5s, then min(7.5, 15) = 7.5: 165 + 7.5 + 7.5 = 180.
        let (v242, v3x) = both(&late_start(10.0), false);
        assert!(close(v242, 110.0 * 187.5 / 165.0), "{v242}");
        assert!(close(v3x, 110.0 * 180.0 / 165.0), "{v3x}");
        let (r242, r3x) = both(&late_start(10.0), true);
        assert!(close(r242, v242 / 300.0) && close(r3x, v3x / 300.0));
        // First value 1: zero point 1.5s away, below half an interval: both take 1.5s.
        let (v242, v3x) = both(&late_start(1.0), false);
        assert!(
            close(v242, 110.0 * 174.0 / 165.0) && close(v3x, v242),
            "{v242} {v3x}"
        );
        // First value 100: zero point 150s away: both take half an interval.
        let (v242, v3x) = both(&late_start(100.0), false);
        assert!(
            close(v242, 110.0 * 180.0 / 165.0) && close(v3x, v242),
            "{v242} {v3x}"
        );
    }

    #[test]
    fn full_windows_extrapolate_to_both_edges_and_resets_count() {
        // Samples every 15s from start+7.5s to end-7.5s, with a reset in the middle.
        let (start, end) = (0, 60_000);
        let s = [(7_500, 5.0), (22_500, 8.0), (37_500, 2.0), (52_500, 4.0)];
        // increase = 4 - 5 + 8 = 7 over 45s, extrapolated by 7.5s each side: 7 * 60/45.
        for f in [extrapolated_rate_242, extrapolated_rate_3x] {
            let inc = f(&s, start, end, 60_000, true, false).expect("4 samples");
            assert!(close(inc, 7.0 * 60.0 / 45.0), "{inc}");
            let rate = f(&s, start, end, 60_000, true, true).expect("4 samples");
            assert!(close(rate, 7.0 / 45.0), "{rate}");
            assert_eq!(f(&s[..1], start, end, 60_000, true, true), None);
        }
    }

    #[test]
    fn raw_matrices_parse_with_labels_and_millisecond_timestamps() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"c","job":"a"},"values":[[1700000000.015,"1"],[1700000015.015,"NaN"]]}]}}"#;
        let raw = parse_raw(200, body).expect("a matrix");
        assert_eq!(raw.len(), 1);
        assert_eq!(raw[0].0.get("job"), Some("a"));
        assert_eq!(raw[0].1[0], (1_700_000_000_015, 1.0));
        assert!(raw[0].1[1].1.is_nan());
        assert!(parse_raw(200, br#"{"status":"error","error":"x"}"#).is_err());
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"b"},"value":[1700000007.5,"3"]}]}}"#;
        let raw = parse_raw(200, vector).expect("a vector");
        assert_eq!(raw[0].1, vec![(1_700_000_007_500, 3.0)]);
    }

    #[test]
    fn the_outer_query_runs_in_process_on_synthetic_series() {
        let st = MemStorage::new();
        let lab = |job: &str, code: &str| {
            Labels::from_pairs([
                ("__name__", "difftest_rate_0"),
                ("job", job),
                ("code", code),
            ])
        };
        append_series(&st, &lab("a", "200"), &[(10_000, 1.5), (20_000, 2.0)]).expect("loads");
        append_series(
            &st,
            &lab("a", "500"),
            &[(10_000, 0.5), (20_000, model::value::stale_nan())],
        )
        .expect("loads");
        let engine = Engine::new(EngineOpts::default());
        let q: Arc<dyn storage::Queryable> = Arc::new(st);
        let res = engine
            .range_query(
                q,
                "sum by (job) ((difftest_rate_0 * 1))",
                10_000,
                20_000,
                10_000,
            )
            .expect("evaluates");
        let Outcome::Data(t, series) = engine_outcome(&res.value).expect("floats") else {
            panic!("not data")
        };
        assert_eq!(t, "matrix");
        let points = &series[r#"{job="a"}"#];
        assert_eq!(
            points,
            &vec![(10.0, "2".to_string()), (20.0, "2".to_string())]
        );
    }
}
