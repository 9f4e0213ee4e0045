//! `cargo xtask difftest`: the same PromQL queries against our server and Prometheus 2.42 on one shared block, results diffed series by series.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::servers::{self, Server, UPSTREAM_BIN};
use crate::workspace_root;

/// A query result reduced to what is compared.
#[derive(Debug)]
enum Outcome {
    /// `status: error` (the type is kept, the message is not compared).
    Error(String),
    /// Result type and series (labels rendered sorted -> samples).
    Data(String, BTreeMap<String, Vec<(f64, String)>>),
}

fn outcome(status: u16, body: &[u8]) -> Result<Outcome> {
    let v: Value = serde_json::from_slice(body).with_context(|| {
        format!(
            "HTTP {status}: not JSON: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )
    })?;
    if v["status"] != "success" {
        return Ok(Outcome::Error(
            v["errorType"].as_str().unwrap_or("?").to_string(),
        ));
    }
    let data = &v["data"];
    let rtype = data["resultType"].as_str().unwrap_or("?").to_string();
    let mut series = BTreeMap::new();
    let point = |p: &Value| -> (f64, String) {
        (
            p[0].as_f64().unwrap_or(f64::NAN),
            p[1].as_str().unwrap_or("?").to_string(),
        )
    };
    match rtype.as_str() {
        "scalar" | "string" => {
            series.insert(String::new(), vec![point(&data["result"])]);
        }
        _ => {
            for s in data["result"].as_array().into_iter().flatten() {
                let labels = s["metric"]
                    .as_object()
                    .map(|m| {
                        let mut pairs: Vec<String> =
                            m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        pairs.sort();
                        format!("{{{}}}", pairs.join(", "))
                    })
                    .unwrap_or_default();
                let mut points: Vec<(f64, String)> = Vec::new();
                if let Some(p) = s.get("value") {
                    points.push(point(p));
                }
                for p in s["values"].as_array().into_iter().flatten() {
                    points.push(point(p));
                }
                // Two series with the same labels would be a bug on either side: keep both.
                let mut key = labels.clone();
                while series.contains_key(&key) {
                    key.push_str(" (dup)");
                }
                series.insert(key, points);
            }
        }
    }
    Ok(Outcome::Data(rtype, series))
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

fn values_equal(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (parse_value(a), parse_value(b)) {
        (Some(x), Some(y)) => {
            if x.is_nan() || y.is_nan() {
                return x.is_nan() && y.is_nan();
            }
            if x == y {
                return true;
            }
            if x.is_infinite() || y.is_infinite() {
                return false;
            }
            let scale = x.abs().max(y.abs());
            (x - y).abs() <= 1e-9 * scale
        }
        _ => false,
    }
}

/// A short description of how `ours` differs from `theirs`, or `None` when they agree.
fn diff(ours: &Outcome, theirs: &Outcome) -> Option<String> {
    match (ours, theirs) {
        (Outcome::Error(_), Outcome::Error(_)) => None,
        (Outcome::Error(e), Outcome::Data(t, s)) => Some(format!(
            "ours: error ({e}); 2.42: {t} with {} series",
            s.len()
        )),
        (Outcome::Data(t, s), Outcome::Error(e)) => Some(format!(
            "ours: {t} with {} series; 2.42: error ({e})",
            s.len()
        )),
        (Outcome::Data(ta, a), Outcome::Data(tb, b)) => {
            if ta != tb {
                return Some(format!("result type: ours {ta}, 2.42 {tb}"));
            }
            let mut lines = Vec::new();
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                lines.push(format!("only ours: {k}"));
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                lines.push(format!("only 2.42: {k}"));
            }
            for (k, pa) in a {
                let Some(pb) = b.get(k) else { continue };
                if pa.len() != pb.len() {
                    lines.push(format!(
                        "{k}: {} points ours, {} points 2.42",
                        pa.len(),
                        pb.len()
                    ));
                    continue;
                }
                if let Some(((t1, v1), (t2, v2))) = pa
                    .iter()
                    .zip(pb)
                    .find(|((t1, v1), (t2, v2))| t1 != t2 || !values_equal(v1, v2))
                {
                    lines.push(format!("{k}: ours {v1}@{t1}, 2.42 {v2}@{t2}"));
                }
            }
            if lines.is_empty() {
                return None;
            }
            let n = lines.len();
            lines.truncate(4);
            if n > 4 {
                lines.push(format!("... {} more", n - 4));
            }
            Some(lines.join("\n      "))
        }
    }
}

/// The first point whose value strings differ although they denote the same float: a
/// formatting difference of the JSON encoder, not of PromQL.
fn format_mismatch(ours: &Outcome, theirs: &Outcome) -> Option<String> {
    let (Outcome::Data(_, a), Outcome::Data(_, b)) = (ours, theirs) else {
        return None;
    };
    for (k, pa) in a {
        let Some(pb) = b.get(k) else { continue };
        for ((_, v1), (_, v2)) in pa.iter().zip(pb) {
            if v1 != v2
                && let (Some(x), Some(y)) = (parse_value(v1), parse_value(v2))
                && x.to_bits() == y.to_bits()
            {
                return Some(format!("ours {v1:?}, 2.42 {v2:?}"));
            }
        }
    }
    None
}

/// `testdata/difftest/known-differences.txt`: `QUERY -> reason` lines.
fn known_differences() -> Result<Vec<(String, String)>> {
    let path = workspace_root().join("testdata/difftest/known-differences.txt");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            l.rsplit_once(" -> ")
                .map(|(q, r)| (q.trim().to_string(), r.trim().to_string()))
        })
        .collect())
}

pub(crate) fn run() -> Result<()> {
    let (ours_bin, block_writer) = servers::build()?;
    let work = servers::fresh_dir("difftest")?;
    servers::prepare_data(&block_writer, &work)?;
    let cases = servers::load_cases()?;
    let known = known_differences()?;
    let ours = Server::start("ours", &ours_bin, &work.join("ours"), &[])?;
    let upstream = Server::start(
        "prometheus 2.42",
        std::path::Path::new(UPSTREAM_BIN),
        &work.join("upstream"),
        &[],
    )?;
    println!(
        "== difftest: {} cases against {} ({}) and {} ({})",
        cases.len(),
        ours.name,
        ours.addr,
        upstream.name,
        upstream.addr
    );
    let (mut same, mut explained, mut unexplained) = (0usize, 0usize, 0usize);
    let mut formatting = 0usize;
    let mut both_errors = 0usize;
    let mut unused: Vec<&(String, String)> = known.iter().collect();
    for case in &cases {
        let (sa, ba) = case.run(&ours)?;
        let (sb, bb) = case.run(&upstream)?;
        let a = outcome(sa, &ba).with_context(|| format!("ours on {}", case.query()))?;
        let b = outcome(sb, &bb).with_context(|| format!("2.42 on {}", case.query()))?;
        if let Some(m) = format_mismatch(&a, &b) {
            formatting += 1;
            if formatting <= 3 {
                println!("FORMAT {} [{}]: {m}", case.query(), case.kind());
            }
        }
        if let (Outcome::Error(ea), Outcome::Error(eb)) = (&a, &b) {
            both_errors += 1;
            println!(
                "ERROR  {} [{}]: both refuse it (ours {ea}, 2.42 {eb})",
                case.query(),
                case.kind()
            );
        }
        let Some(d) = diff(&a, &b) else {
            same += 1;
            continue;
        };
        let reason = known.iter().find(|(q, _)| q == case.query());
        unused.retain(|k| k.0 != case.query());
        match reason {
            Some((_, r)) => {
                explained += 1;
                println!("KNOWN  {} [{}]: {r}\n      {d}", case.query(), case.kind());
            }
            None => {
                unexplained += 1;
                println!("DIFF   {} [{}]\n      {d}", case.query(), case.kind());
            }
        }
    }
    for (q, _) in &unused {
        println!("note: known difference no longer seen: {q}");
    }
    if formatting > 0 {
        println!(
            "note: {formatting} case(s) print equal floats differently (a JSON encoding difference, counted by value)"
        );
    }
    if both_errors > 0 {
        println!("note: {both_errors} case(s) are errors on both sides (counted as identical)");
    }
    let total = cases.len();
    println!(
        "{same} identical, {} different ({explained} known, {unexplained} unexplained) of {total} cases; {:.1}% identical or explained",
        explained + unexplained,
        100.0 * (same + explained) as f64 / total.max(1) as f64
    );
    drop(ours);
    drop(upstream);
    if unexplained > 0 {
        bail!("{unexplained} unexplained difference(s)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_compare_with_relative_tolerance_and_nan() {
        assert!(values_equal("NaN", "NaN"));
        assert!(values_equal("1", "1.0000000000001"));
        assert!(!values_equal("1", "1.001"));
        assert!(values_equal("+Inf", "+Inf"));
        assert!(!values_equal("+Inf", "-Inf"));
        assert!(!values_equal("NaN", "1"));
    }

    #[test]
    fn vectors_differ_by_missing_series_and_values() {
        let a = outcome(200, br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"2"]}]}}"#).expect("valid");
        let b = outcome(200, br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"2.0000000000000004"]}]}}"#).expect("valid");
        let c = outcome(
            200,
            br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
        )
        .expect("valid");
        assert!(diff(&a, &b).is_none());
        assert!(diff(&a, &c).is_some_and(|d| d.contains("only ours")));
    }
}
