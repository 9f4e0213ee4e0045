//! The experimental `info()` function: adds data labels of info metrics (by default
//! `target_info`) to series with the same `instance` and `job` (Go's promql/info.go).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use model::{Labels, LabelsBuilder, MatchType, Matcher};
use storage::SelectHints;

use super::unwrap_arg;
use crate::engine::Evaluator;
use crate::parser::{Call, Expr};
use crate::value::{FPoint, HPoint, Matrix, Series};
use crate::{Error, Result};

const TARGET_INFO: &str = "target_info";
const IDENTIFYING: [&str; 2] = ["instance", "job"];

/// Go's `regexp.QuoteMeta`.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn matches_all(ms: &[Matcher], v: &str) -> bool {
    ms.iter().all(|m| m.matches(v))
}

/// The join key of a series for one info metric name.
fn signature(name: &str, l: &Labels) -> String {
    let mut s = String::from(name);
    for id in IDENTIFYING {
        s.push('\u{ff}');
        if let Some(v) = l.get(id) {
            s.push('=');
            s.push_str(v);
        }
    }
    s
}

pub(crate) fn eval_info(ev: &mut Evaluator<'_>, c: &Call) -> Result<Matrix> {
    let mat = ev.eval_matrix(&c.args[0])?;
    let mut data: BTreeMap<String, Vec<Matcher>> = BTreeMap::new();
    let mut name_matchers: Vec<Matcher> = Vec::new();
    if let Some(arg) = c.args.get(1) {
        let Expr::VectorSelector(vs) = unwrap_arg(arg) else {
            return Err(Error::Eval(
                "the second argument of info() must be a label selector".into(),
            ));
        };
        for m in &vs.matchers {
            data.entry(m.name.clone()).or_default().push(m.clone());
            if m.name == model::METRIC_NAME {
                name_matchers.push(m.clone());
            }
        }
    } else {
        name_matchers.push(Matcher::equal(model::METRIC_NAME, TARGET_INFO));
    }
    // Info series themselves are not enriched.
    // Only a positive name matcher says which metrics are info metrics; negative ones just
    // exclude names.
    let has_positive = name_matchers
        .iter()
        .any(|m| matches!(m.match_type, MatchType::Equal | MatchType::RegexMatch));
    let ignore: HashSet<u64> = mat
        .iter()
        .filter(|s| {
            has_positive && matches_all(&name_matchers, s.metric.metric_name().unwrap_or(""))
        })
        .map(|s| s.metric.hash())
        .collect();
    let info_mat = fetch_info_series(ev, c, &mat, &ignore, &mut data)?;
    combine(ev, &mat, &info_mat, &ignore, &data)
}

fn fetch_info_series(
    ev: &mut Evaluator<'_>,
    c: &Call,
    mat: &Matrix,
    ignore: &HashSet<u64>,
    data: &mut BTreeMap<String, Vec<Matcher>>,
) -> Result<Matrix> {
    let mut id_values: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for s in mat {
        if ignore.contains(&s.metric.hash()) {
            continue;
        }
        for id in IDENTIFYING {
            if let Some(v) = s.metric.get(id)
                && !v.is_empty()
            {
                id_values.entry(id).or_default().insert(v.to_string());
            }
        }
    }
    let name_ms: Vec<&Matcher> = data.get(model::METRIC_NAME).into_iter().flatten().collect();
    let has_name = !name_ms.is_empty();
    let has_positive_name = name_ms
        .iter()
        .any(|m| matches!(m.match_type, MatchType::Equal | MatchType::RegexMatch));
    let mut matchers: Vec<Matcher> = Vec::new();
    for (name, vals) in &id_values {
        let re = vals
            .iter()
            .map(|v| quote_meta(v))
            .collect::<Vec<_>>()
            .join("|");
        matchers.push(
            Matcher::new(MatchType::RegexMatch, *name, re)
                .map_err(|e| Error::Eval(format!("info(): {e}")))?,
        );
    }
    for ms in data.values() {
        matchers.extend(ms.iter().cloned());
    }
    data.remove(model::METRIC_NAME);
    if id_values.is_empty() {
        return Ok(Vec::new());
    }
    if !has_name {
        matchers.insert(0, Matcher::equal(model::METRIC_NAME, TARGET_INFO));
    } else if !has_positive_name {
        // Only negative name matchers: they narrow down the info metrics, not all metrics.
        matchers.insert(
            0,
            Matcher::new(MatchType::RegexMatch, model::METRIC_NAME, ".+_info")
                .map_err(|e| Error::Eval(format!("info(): {e}")))?,
        );
    }
    // The time range of the first selector of the first argument.
    let mut at = None;
    let mut offset = 0;
    let mut found = false;
    c.args[0].walk(&mut |e| {
        if found {
            return;
        }
        match e {
            Expr::VectorSelector(vs) => {
                found = true;
                at = vs.timestamp;
                offset = vs.original_offset;
            }
            Expr::MatrixSelector(ms) => {
                found = true;
                at = ms.vector_selector.timestamp;
                offset = ms.vector_selector.original_offset;
            }
            Expr::Subquery(sq) => {
                found = true;
                at = sq.timestamp;
                offset = sq.original_offset;
            }
            _ => {}
        }
    });
    let (mut start, mut end) = match at {
        Some(t) => (t, t),
        None => (ev.start, ev.end),
    };
    start -= ev.lookback - 1 + offset;
    end -= offset;
    let hints = SelectHints {
        start,
        end,
        step: ev.interval,
        func: Some("info".into()),
        ..SelectHints::default()
    };
    // Each point holds the original timestamp of the info sample it came from.
    let (s0, e0, step, lookback) = (ev.start, ev.end, ev.interval, ev.lookback);
    let mut out = Vec::new();
    ev.for_each_matching(
        &matchers,
        Some(&hints),
        &mut |ev, labels, all, _, hists, _| {
            if !hists.is_empty() {
                return Err(Error::Eval(format!(
                    "this should be an info metric, with float samples: {labels}"
                )));
            }
            let mut floats = Vec::new();
            let mut cur = 0usize;
            let mut ts = s0;
            while ts <= e0 {
                // The info series are read at the time the base series was read.
                let r = at.unwrap_or(ts) - offset;
                while cur < all.len() && all[cur].t <= r {
                    cur += 1;
                }
                if cur > 0 {
                    let p = all[cur - 1];
                    if p.t > r - lookback && !model::value::is_stale_nan(p.f) {
                        floats.push(FPoint {
                            t: ts,
                            f: p.t as f64,
                        });
                    }
                }
                ts += step;
            }
            if !floats.is_empty() {
                ev.add_samples(floats.len())?;
                ev.samples.add_points(s0, step, &floats);
                out.push(Series {
                    histograms: Vec::new(),
                    metric: labels.clone(),
                    floats,
                    drop_name: false,
                });
            }
            Ok(true)
        },
    )?;
    Ok(out)
}

fn combine(
    ev: &mut Evaluator<'_>,
    mat: &Matrix,
    info: &Matrix,
    ignore: &HashSet<u64>,
    data: &BTreeMap<String, Vec<Matcher>>,
) -> Result<Matrix> {
    let info_names: BTreeSet<&str> = info.iter().filter_map(|s| s.metric.metric_name()).collect();
    let base_sigs: Vec<Vec<(&str, String)>> = mat
        .iter()
        .map(|s| {
            info_names
                .iter()
                .map(|n| (*n, signature(n, &s.metric)))
                .collect()
        })
        .collect();
    let info_sigs: Vec<String> = info
        .iter()
        .map(|s| signature(s.metric.metric_name().unwrap_or(""), &s.metric))
        .collect();
    let all_match_empty = data.values().flatten().all(|m| m.matches(""));
    // Per base series: the next float and the next histogram point.
    let mut base_cur = vec![(0usize, 0usize); mat.len()];
    let mut info_cur = vec![0usize; info.len()];
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut result: Vec<(Series, i64)> = Vec::new();
    let mut right: HashMap<&str, (usize, i64)> = HashMap::new();
    let mut ts = ev.start;
    while ts <= ev.end {
        ev.check()?;
        right.clear();
        for (i, s) in info.iter().enumerate() {
            let Some(p) = s.floats.get(info_cur[i]) else {
                continue;
            };
            if p.t != ts {
                continue;
            }
            info_cur[i] += 1;
            let orig = p.f as i64;
            let sig = info_sigs[i].as_str();
            match right.get(sig) {
                Some(&(j, existing)) if existing == orig => {
                    return Err(Error::Eval(format!(
                        "found duplicate series for info metric: existing {} @ {existing}, new {} @ {orig}",
                        info[j].metric, s.metric
                    )));
                }
                Some(&(_, existing)) if existing > orig => {}
                _ => {
                    right.insert(sig, (i, orig));
                }
            }
        }
        for (bi, bs) in mat.iter().enumerate() {
            // Native histograms are enriched like floats.
            let (fi, hi) = &mut base_cur[bi];
            let value = match (bs.floats.get(*fi), bs.histograms.get(*hi)) {
                (Some(p), _) if p.t == ts => {
                    *fi += 1;
                    Ok(p.f)
                }
                (_, Some(p)) if p.t == ts => {
                    *hi += 1;
                    Err(p.h.clone())
                }
                _ => continue,
            };
            let drop_name = bs.drop_name;
            let metric = if ignore.contains(&bs.metric.hash()) {
                bs.metric.clone()
            } else {
                let mut lb = LabelsBuilder::new(&Labels::empty());
                let mut seen = 0;
                for (name, sig) in &base_sigs[bi] {
                    let Some(&(j, _)) = right.get(sig.as_str()) else {
                        continue;
                    };
                    let _ = name;
                    for (ln, lv) in info[j].metric.iter() {
                        if ln == model::METRIC_NAME {
                            continue;
                        }
                        if !data.is_empty() && !data.contains_key(ln) {
                            continue;
                        }
                        if let Some(v) = lb.get(ln)
                            && !v.is_empty()
                            && v != lv
                        {
                            return Err(Error::Eval(format!("conflicting label: {ln}")));
                        }
                        if bs.metric.has(ln) {
                            continue;
                        }
                        lb.set(ln, lv);
                    }
                    seen += 1;
                }
                if seen == 0 && !all_match_empty {
                    continue;
                }
                let extra = lb.labels();
                let mut b = LabelsBuilder::new(&bs.metric);
                for (n, v) in extra.iter() {
                    b.set(n, v);
                }
                b.labels()
            };
            let h = metric.hash();
            match index.get(&h) {
                Some(&i) => {
                    let (series, last) = &mut result[i];
                    if *last == ts {
                        return Err(Error::Eval(
                            "vector cannot contain metrics with the same labelset".into(),
                        ));
                    }
                    *last = ts;
                    match value {
                        Ok(f) => series.floats.push(FPoint { t: ts, f }),
                        Err(h) => series.histograms.push(HPoint { t: ts, h }),
                    }
                }
                None => {
                    index.insert(h, result.len());
                    let mut series = Series {
                        histograms: Vec::new(),
                        metric,
                        floats: Vec::new(),
                        drop_name,
                    };
                    match value {
                        Ok(f) => series.floats.push(FPoint { t: ts, f }),
                        Err(h) => series.histograms.push(HPoint { t: ts, h }),
                    }
                    result.push((series, ts));
                }
            }
        }
        ts += ev.interval;
    }
    let total: usize = result
        .iter()
        .map(|(s, _)| s.floats.len() + s.histograms.iter().map(HPoint::size).sum::<usize>())
        .sum();
    ev.add_samples(total)?;
    Ok(result.into_iter().map(|(s, _)| s).collect())
}
