//! `cargo xtask difftest`: the same PromQL queries against our server, Prometheus 2.42 and Prometheus 3 on one shared block, results diffed series by series, known differences proven.
//!
//! Prometheus 3 (Debian's package, see [`servers::prometheus3`]) is the reference for
//! semantics: every answer of ours must be identical to its answer. Against 2.42 the run
//! reports how many answers are identical, and how many of Prometheus 3's own answers are
//! (the share any faithful 3.x can reach on these queries). Instant vectors must also list
//! their series in Prometheus 3's order wherever Go's order is determined, on the block and
//! on head data that remote write creates out of label order afterwards (see [`order`]).
//!
//! A difference is known when its query is listed in `testdata/difftest/known-differences.txt`
//! with a kind; the kinds with a proof are checked mechanically for every differing case:
//! - `left-open`: 2.42 gets the query with every range (matrix selectors and subqueries)
//!   1 ms shorter, which selects 3.x's `(t-r, t]` as a closed window; its answer must then
//!   be identical to ours.
//! - `atan2-name`: 2.42's answer without `__name__` must be identical to ours.
//! - `rate-extrapolation`: see [`rate`].
//! - `prometheus3`: Prometheus 3's answer must be identical to ours (for 3.x changes
//!   without a mechanical proof of their own, such as functions 2.42 does not have).
//!
//! Kind `claimed` has no proof: the reason is counted as claimed, not proven.

mod api;
mod order;
mod rate;
mod rewrite;

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::servers::{self, Case, Server, UPSTREAM_BIN};
use crate::workspace_root;

/// A query result reduced to what is compared.
#[derive(Debug)]
enum Outcome {
    /// `status: error` (the type is kept, the message is not compared).
    Error(String),
    /// Result type and series (labels rendered sorted -> samples).
    Data(String, BTreeMap<String, Vec<(f64, String)>>),
}

fn json(status: u16, body: &[u8]) -> Result<Value> {
    serde_json::from_slice(body).with_context(|| {
        format!(
            "HTTP {status}: not JSON: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )
    })
}

fn outcome(status: u16, body: &[u8]) -> Result<Outcome> {
    Ok(outcome_value(&json(status, body)?))
}

/// Labels rendered as the comparison key: `{a="1", b="2"}`, sorted.
fn render_labels<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut pairs: Vec<String> = labels
        .map(|(k, v)| format!("{k}={}", Value::String(v.to_string())))
        .collect();
    pairs.sort();
    format!("{{{}}}", pairs.join(", "))
}

/// `v` (an API answer) with `__name__` removed from every series.
fn without_name(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(result) = v["data"]["result"].as_array_mut() {
        for s in result {
            if let Some(m) = s["metric"].as_object_mut() {
                m.remove("__name__");
            }
        }
    }
    v
}

fn outcome_value(v: &Value) -> Outcome {
    if v["status"] != "success" {
        return Outcome::Error(v["errorType"].as_str().unwrap_or("?").to_string());
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
                        render_labels(
                            m.iter()
                                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default())),
                        )
                    })
                    .unwrap_or_default();
                let mut points: Vec<(f64, String)> = Vec::new();
                if let Some(p) = s.get("value") {
                    points.push(point(p));
                }
                for p in s["values"].as_array().into_iter().flatten() {
                    points.push(point(p));
                }
                if let Some(p) = s.get("histogram") {
                    histogram_points(p, &mut points);
                }
                for p in s["histograms"].as_array().into_iter().flatten() {
                    histogram_points(p, &mut points);
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
    Outcome::Data(rtype, series)
}

/// A native histogram sample `[t, {count, sum, buckets}]` as points at `t`: the count, the
/// sum, then per bucket its boundaries (compared as text) and its count.
fn histogram_points(p: &Value, points: &mut Vec<(f64, String)>) {
    let t = p[0].as_f64().unwrap_or(f64::NAN);
    let h = &p[1];
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    points.push((t, text(&h["count"])));
    points.push((t, text(&h["sum"])));
    for b in h["buckets"].as_array().into_iter().flatten() {
        points.push((
            t,
            format!("bucket {} {} {}", b[0], text(&b[1]), text(&b[2])),
        ));
        points.push((t, text(&b[3])));
    }
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// Relative tolerance of the plain comparison.
const TOLERANCE: f64 = 1e-9;

fn values_close(a: &str, b: &str, rel: f64) -> bool {
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
            (x - y).abs() <= rel * scale
        }
        _ => false,
    }
}

/// A short description of how `ours` differs from `theirs`, or `None` when they agree.
fn diff(ours: &Outcome, theirs: &Outcome) -> Option<String> {
    diff_within(ours, theirs, TOLERANCE)
}

/// [`diff`] with values compared within the relative tolerance `rel`.
fn diff_within(ours: &Outcome, theirs: &Outcome, rel: f64) -> Option<String> {
    diff_named(ours, theirs, rel, ("ours", "2.42"))
}

/// [`diff_within`] of any two answers, `names` saying whose they are in the description.
fn diff_named(ours: &Outcome, theirs: &Outcome, rel: f64, names: (&str, &str)) -> Option<String> {
    let (na, nb) = names;
    match (ours, theirs) {
        (Outcome::Error(_), Outcome::Error(_)) => None,
        (Outcome::Error(e), Outcome::Data(t, s)) => Some(format!(
            "{na}: error ({e}); {nb}: {t} with {} series",
            s.len()
        )),
        (Outcome::Data(t, s), Outcome::Error(e)) => Some(format!(
            "{na}: {t} with {} series; {nb}: error ({e})",
            s.len()
        )),
        (Outcome::Data(ta, a), Outcome::Data(tb, b)) => {
            if ta != tb {
                return Some(format!("result type: {na} {ta}, {nb} {tb}"));
            }
            let mut lines = Vec::new();
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                lines.push(format!("only {na}: {k}"));
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                lines.push(format!("only {nb}: {k}"));
            }
            for (k, pa) in a {
                let Some(pb) = b.get(k) else { continue };
                if pa.len() != pb.len() {
                    lines.push(format!(
                        "{k}: {} points {na}, {} points {nb}",
                        pa.len(),
                        pb.len()
                    ));
                    continue;
                }
                if let Some(((t1, v1), (t2, v2))) = pa
                    .iter()
                    .zip(pb)
                    .find(|((t1, v1), (t2, v2))| t1 != t2 || !values_close(v1, v2, rel))
                {
                    lines.push(format!("{k}: {na} {v1}@{t1}, {nb} {v2}@{t2}"));
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

/// For an instant query whose outermost function sorts (`sort`, `sort_desc`,
/// `sort_by_label`, `sort_by_label_desc`), how the order of `ours` differs from `theirs`.
/// `sort` and `sort_desc` order ties arbitrarily, so their order counts only when every
/// value is distinct.
fn order_diff(case: &Case, ours: &Value, theirs: &Value) -> Option<String> {
    let Case::Instant { query, .. } = case else {
        return None;
    };
    let by_label = query.starts_with("sort_by_label");
    if !by_label && !query.starts_with("sort(") && !query.starts_with("sort_desc(") {
        return None;
    }
    let order = |v: &Value| -> Vec<(String, String)> {
        v["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let labels = s["metric"].as_object().map_or_else(String::new, |m| {
                    render_labels(
                        m.iter()
                            .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default())),
                    )
                });
                (labels, s["value"][1].as_str().unwrap_or("?").to_string())
            })
            .collect()
    };
    let (a, b) = (order(ours), order(theirs));
    if !by_label {
        let mut values: Vec<&str> = a.iter().map(|(_, v)| v.as_str()).collect();
        values.sort_unstable();
        values.dedup();
        if values.len() != a.len() {
            return None;
        }
    }
    let at = a.iter().zip(&b).position(|(x, y)| x.0 != y.0)?;
    Some(format!(
        "order: position {at} is {} in ours, {} in 3.x",
        a[at].0, b[at].0
    ))
}

/// What a known difference is said to be, and so how it is proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// 3.x's left-open range `(t-r, t]` against 2.42's closed `[t-r, t]`.
    LeftOpen,
    /// 3.x's `atan2` drops `__name__`; 2.42's kept it.
    Atan2Name,
    /// 3.x's rate/increase extrapolation order (prometheus#13725).
    RateExtrapolation,
    /// Any other 3.x change (a function 2.42 lacks, say): Prometheus 3 answers as we do.
    Prometheus3,
    /// A reason without a mechanical proof.
    Claimed,
}

impl Kind {
    const ALL: [(&'static str, Kind); 5] = [
        ("left-open", Kind::LeftOpen),
        ("atan2-name", Kind::Atan2Name),
        ("rate-extrapolation", Kind::RateExtrapolation),
        ("prometheus3", Kind::Prometheus3),
        ("claimed", Kind::Claimed),
    ];

    fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.iter().find(|(n, _)| *n == s).map(|(_, k)| *k)
    }

    fn name(self) -> &'static str {
        Kind::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }
}

/// One line of known-differences.txt.
#[derive(Debug)]
struct Known {
    query: String,
    kind: Kind,
    reason: String,
}

/// Parses known-differences.txt: `QUERY -> KIND: reason` lines, `#` comments.
fn parse_known(text: &str) -> Result<Vec<Known>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (query, rest) = line
            .rsplit_once(" -> ")
            .with_context(|| format!("line {}: no ` -> ` in {line:?}", i + 1))?;
        let (kind, reason) = rest
            .split_once(':')
            .with_context(|| format!("line {}: no `KIND:` after ` -> `", i + 1))?;
        let kind = Kind::parse(kind.trim()).with_context(|| {
            format!(
                "line {}: unknown kind {kind:?} (one of {})",
                i + 1,
                Kind::ALL.map(|(n, _)| n).join(", ")
            )
        })?;
        out.push(Known {
            query: query.trim().to_string(),
            kind,
            reason: reason.trim().to_string(),
        });
    }
    Ok(out)
}

fn known_differences() -> Result<Vec<Known>> {
    let path = workspace_root().join("testdata/difftest/known-differences.txt");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    parse_known(&text).with_context(|| format!("in {}", path.display()))
}

/// The left-open proof: 2.42 on the query with every range 1 ms shorter must answer as we
/// did. `Ok` says what was run.
fn prove_left_open(case: &Case, ours: &Outcome, upstream: &Server) -> Result<String, String> {
    let query = case.expr_for(upstream);
    let mut expr =
        promql::parser::parse_expr(query).map_err(|e| format!("parsing {query}: {e}"))?;
    let n = rewrite::shorten_ranges(&mut expr)?;
    if n == 0 {
        return Err("the query has no range to shorten".into());
    }
    let shortened = expr.to_string();
    let (status, body) = case
        .with_query(&shortened)
        .run(upstream)
        .map_err(|e| format!("sending {shortened}: {e:#}"))?;
    let theirs = outcome(status, &body).map_err(|e| format!("2.42 on {shortened}: {e:#}"))?;
    match diff(ours, &theirs) {
        None => Ok(format!("2.42 on `{shortened}` is identical")),
        Some(d) => Err(format!("2.42 on `{shortened}` still differs: {d}")),
    }
}

/// The atan2 proof: 2.42's answer without `__name__` must be ours.
fn prove_atan2_name(ours: &Outcome, theirs: &Value) -> Result<String, String> {
    let stripped = outcome_value(&without_name(theirs));
    match diff(ours, &stripped) {
        None => Ok("2.42's answer without __name__ is identical".into()),
        Some(d) => Err(format!("2.42's answer without __name__ still differs: {d}")),
    }
}

/// What became of one differing case.
enum Verdict {
    Proven(String),
    Claimed,
    ProofFailed(String),
    Unexplained,
}

pub(crate) fn run() -> Result<()> {
    let (ours_bin, block_writer) = servers::build()?;
    let prom3_bin = servers::prometheus3()?;
    let work = servers::fresh_dir("difftest")?;
    // The block with native histograms too (bench's block has floats only).
    servers::prepare_data_with(
        &block_writer,
        &work,
        &["ours", "upstream", "prom3"],
        &["native-histograms"],
    )?;
    let cases = servers::load_cases()?;
    let known = known_differences()?;
    // Remote write brings the head data of the order cases (after the block cases).
    let ours = Server::start(
        "ours",
        &ours_bin,
        &work.join("ours"),
        &["--web.enable-remote-write-receiver"],
    )?;
    let upstream = Server::start(
        "prometheus 2.42",
        std::path::Path::new(UPSTREAM_BIN),
        &work.join("upstream"),
        &[],
    )?;
    // Our server always parses the experimental functions; Prometheus 3 wants the flag.
    let prom3 = Server::start(
        "prometheus 3",
        &prom3_bin,
        &work.join("prom3"),
        &[
            "--enable-feature=promql-experimental-functions",
            "--web.enable-remote-write-receiver",
        ],
    )?;
    let prom3_version = servers::version_line(&prom3_bin)?;
    println!(
        "== difftest: {} cases against {} ({}), {} ({}) and {} ({}: {prom3_version})",
        cases.len(),
        ours.name,
        ours.addr,
        upstream.name,
        upstream.addr,
        prom3.name,
        prom3.addr,
    );
    let (mut same, mut proven, mut claimed, mut failed, mut unexplained) = (0, 0, 0, 0, 0);
    // Against Prometheus 3: ours identical, and (the ceiling) Prometheus 3 identical to 2.42.
    let (mut same3, mut differ3, mut prom3_as_242) = (0, 0, 0);
    // Of the cases Prometheus 3 answers as 2.42 does (no 3.x change applies), how many we do.
    let mut same_where_unchanged = 0usize;
    let mut formatting = 0usize;
    let mut both_errors = 0usize;
    // Instant vectors whose order Go determines: compared, and in Prometheus 3's order.
    let (mut order_compared, mut order_same) = (0usize, 0usize);
    let mut unused: Vec<&Known> = known.iter().collect();
    for case in &cases {
        let (q, kind) = (case.query(), case.kind());
        let (sa, ba) = case.run(&ours)?;
        let (sb, bb) = case.run(&upstream)?;
        let (sc, bc) = case.run(&prom3)?;
        let a = outcome(sa, &ba).with_context(|| format!("ours on {q}"))?;
        let theirs_json = json(sb, &bb).with_context(|| format!("2.42 on {q}"))?;
        let b = outcome_value(&theirs_json);
        let c = outcome(sc, &bc).with_context(|| format!("prometheus 3 on {q}"))?;
        if let Some(m) = format_mismatch(&a, &b) {
            formatting += 1;
            if formatting <= 3 {
                println!("FORMAT {q} [{kind}]: {m}");
            }
        }
        if let (Outcome::Error(ea), Outcome::Error(eb)) = (&a, &b) {
            both_errors += 1;
            println!("ERROR  {q} [{kind}]: both refuse it (ours {ea}, 2.42 {eb})");
        }
        let unchanged_in_3 = diff_named(&c, &b, TOLERANCE, ("3.x", "2.42")).is_none();
        if unchanged_in_3 {
            prom3_as_242 += 1;
        }
        let (ours_json, prom3_json) = (json(sa, &ba).ok(), json(sc, &bc).ok());
        let order3 = ours_json
            .as_ref()
            .zip(prom3_json.as_ref())
            .and_then(|(x, y)| order_diff(case, x, y));
        if let (Case::Instant { .. }, Some(x), Some(y)) = (case, &ours_json, &prom3_json) {
            match order::compare(case.expr_for(&prom3), x, y) {
                order::Order::Skipped => {}
                order::Order::Same => {
                    order_compared += 1;
                    order_same += 1;
                }
                order::Order::Differs(d) => {
                    order_compared += 1;
                    println!("ORDER3 {q} [{kind}] ours against {prom3_version}\n      {d}");
                }
            }
        }
        let as_prom3 = match diff_named(&a, &c, TOLERANCE, ("ours", "3.x")).or(order3) {
            None => {
                same3 += 1;
                true
            }
            Some(d) => {
                differ3 += 1;
                println!("DIFF3  {q} [{kind}] ours against {prom3_version}\n      {d}");
                false
            }
        };
        let Some(d) = diff(&a, &b) else {
            same += 1;
            same_where_unchanged += usize::from(unchanged_in_3);
            continue;
        };
        let entry = known.iter().find(|k| k.query == case.query());
        unused.retain(|k| k.query != case.query());
        let verdict = match entry {
            None => Verdict::Unexplained,
            Some(k) => {
                let proof = match k.kind {
                    Kind::LeftOpen => Some(prove_left_open(case, &a, &upstream)),
                    Kind::Atan2Name => Some(prove_atan2_name(&a, &theirs_json)),
                    Kind::RateExtrapolation => Some(rate::prove(case, &a, &b, &upstream)),
                    Kind::Prometheus3 => Some(if as_prom3 {
                        Ok(format!("{prom3_version} answers exactly as we do"))
                    } else {
                        Err(format!("{prom3_version} answers differently"))
                    }),
                    Kind::Claimed => None,
                };
                match proof {
                    Some(Ok(how)) => Verdict::Proven(how),
                    Some(Err(why)) => Verdict::ProofFailed(why),
                    None => Verdict::Claimed,
                }
            }
        };
        let confirmed = if as_prom3 && entry.is_none_or(|k| k.kind != Kind::Prometheus3) {
            format!("\n      and Prometheus 3 ({prom3_version}) answers exactly as we do")
        } else {
            String::new()
        };
        match (verdict, entry) {
            (Verdict::Proven(how), Some(k)) => {
                proven += 1;
                println!(
                    "PROVEN {q} [{kind}] {}: {}\n      {d}\n      proof: {how}{confirmed}",
                    k.kind.name(),
                    k.reason
                );
            }
            (Verdict::Claimed, Some(k)) => {
                claimed += 1;
                println!("CLAIMED {q} [{kind}]: {}\n      {d}{confirmed}", k.reason);
            }
            (Verdict::ProofFailed(why), Some(k)) => {
                failed += 1;
                println!(
                    "UNPROVEN {q} [{kind}] {}: {}\n      {d}\n      proof failed: {why}{confirmed}",
                    k.kind.name(),
                    k.reason
                );
            }
            _ => {
                unexplained += 1;
                println!("DIFF   {q} [{kind}]\n      {d}{confirmed}");
            }
        }
    }
    for k in &unused {
        println!("note: known difference no longer seen: {}", k.query);
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
    let pct = |n: usize| 100.0 * n as f64 / total as f64;
    println!(
        "against Prometheus 2.42: {same} identical ({:.1}%), {proven} different but proven to be the named 3.x semantic, {} different, reason claimed but not proven ({failed} of them failed their proof), {unexplained} unexplained of {total} cases",
        pct(same),
        claimed + failed
    );
    println!(
        "against {prom3_version}: {same3} identical ({:.1}%), {differ3} different of {total} cases",
        pct(same3)
    );
    println!(
        "{prom3_version} itself against Prometheus 2.42: {prom3_as_242} identical ({:.1}%) of {total} cases",
        pct(prom3_as_242)
    );
    println!(
        "against Prometheus 2.42 where {prom3_version} answers as 2.42 does (no 3.x change applies): {same_where_unchanged} identical of {prom3_as_242} cases ({:.1}%)",
        100.0 * same_where_unchanged as f64 / prom3_as_242.max(1) as f64
    );
    let mut exprs: Vec<&str> = cases.iter().map(|c| c.expr_for(&prom3)).collect();
    exprs.dedup();
    let (api_same, api_total) = api::compare(&ours, &prom3, &prom3_version, &exprs)?;
    println!(
        "HTTP API against {prom3_version} (labels, series, format_query and parse_query of each query, error answers): {api_same} identical of {api_total} requests"
    );
    let head = head_order(&ours, &prom3, &prom3_version)?;
    println!(
        "instant vectors in {prom3_version}'s order (where Go determines it): {order_same} of {order_compared} on the block, {} of {} on head data created out of label order (answers identical, order included; /api/v1/series too)",
        head.0, head.1
    );
    drop(ours);
    drop(upstream);
    drop(prom3);
    let api_differ = api_total - api_same;
    let order_differ = order_compared - order_same + head.1 - head.0;
    if unexplained > 0 || failed > 0 || differ3 > 0 || api_differ > 0 || order_differ > 0 {
        bail!(
            "{unexplained} unexplained difference(s) and {failed} known difference(s) whose proof failed against 2.42; {differ3} difference(s) against Prometheus 3; {api_differ} HTTP API answer(s) unlike Prometheus 3's; {order_differ} answer(s) in another order than Prometheus 3's"
        );
    }
    Ok(())
}

/// Writes head data (series created out of label order, after the block) to `ours` and
/// `prom3`, then compares their instant answers over it (set, values and order) and their
/// `/api/v1/series` lists. Returns (identical, compared).
fn head_order(ours: &Server, prom3: &Server, prom3_version: &str) -> Result<(usize, usize)> {
    order::write_head(ours)?;
    order::write_head(prom3)?;
    let (mut same, mut total) = (0, 0);
    for case in order::head_cases() {
        let q = case.query();
        let (sa, ba) = case.run(ours)?;
        let (sc, bc) = case.run(prom3)?;
        let (a, c) = (json(sa, &ba)?, json(sc, &bc)?);
        total += 1;
        let differs = diff_named(
            &outcome_value(&a),
            &outcome_value(&c),
            TOLERANCE,
            ("ours", "3.x"),
        )
        .or_else(|| match order::compare(q, &a, &c) {
            order::Order::Differs(d) => Some(d),
            order::Order::Same | order::Order::Skipped => None,
        });
        match differs {
            None => same += 1,
            Some(d) => println!(
                "ORDER3 {q} [head data, instant @head+{}s] ours against {prom3_version}\n      {d}",
                (order::HEAD_TIME - order::HEAD_START) as f64 / 1000.0
            ),
        }
    }
    for path in order::head_series_requests() {
        let (sa, ba) = servers::request(&ours.addr, "GET", &path, None)?;
        let (sc, bc) = servers::request(&prom3.addr, "GET", &path, None)?;
        let (a, c) = (json(sa, &ba)?, json(sc, &bc)?);
        total += 1;
        if (sa, &a["data"]) == (sc, &c["data"]) {
            same += 1;
        } else {
            println!(
                "ORDER3 GET {path} [head data] ours against {prom3_version}\n      ours {}\n      3.x  {}",
                a["data"], c["data"]
            );
        }
    }
    Ok((same, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values_equal(a: &str, b: &str) -> bool {
        values_close(a, b, TOLERANCE)
    }

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

    #[test]
    fn native_histograms_compare_by_count_sum_and_buckets() {
        let h = |c: &str| {
            format!(
                r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{}},"histogram":[1,{{"count":"{c}","sum":"3","buckets":[[0,"1","2","{c}"]]}}]}}]}}}}"#
            )
        };
        let a = outcome(200, h("2").as_bytes()).expect("valid");
        let b = outcome(200, h("2.0000000000000004").as_bytes()).expect("valid");
        let c = outcome(200, h("3").as_bytes()).expect("valid");
        assert!(diff(&a, &b).is_none());
        assert!(diff(&a, &c).is_some());
        let Outcome::Data(_, series) = a else {
            panic!("data expected")
        };
        assert_eq!(
            series["{}"].len(),
            4,
            "count, sum, bucket bounds, bucket count"
        );
    }

    #[test]
    fn sort_order_is_compared_only_when_defined() {
        let answer = |pairs: &[(&str, &str)]| -> Value {
            let result: Vec<Value> = pairs
                .iter()
                .map(|(a, v)| serde_json::json!({"metric": {"a": a}, "value": [1, v]}))
                .collect();
            serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": result}})
        };
        let case = |q: &str| Case::Instant {
            query: q.to_string(),
            time: 0,
        };
        let ours = answer(&[("x", "1"), ("y", "2")]);
        let theirs = answer(&[("y", "2"), ("x", "1")]);
        assert!(order_diff(&case("sort(up)"), &ours, &theirs).is_some());
        assert!(order_diff(&case("sum(up)"), &ours, &theirs).is_none());
        // Ties leave sort's order open.
        let tied = answer(&[("x", "1"), ("y", "1")]);
        let tied_other = answer(&[("y", "1"), ("x", "1")]);
        assert!(order_diff(&case("sort(up)"), &tied, &tied_other).is_none());
        assert!(order_diff(&case("sort_by_label(up, \"a\")"), &tied, &tied_other).is_some());
    }

    #[test]
    fn known_differences_carry_a_kind() {
        let known = parse_known(
            "# comment\n\nrate(x[5m]) -> rate-extrapolation: prometheus#13725\nx atan2 1 -> atan2-name: 3.x drops the name: as the others\n",
        )
        .expect("valid");
        assert_eq!(known.len(), 2);
        assert_eq!(known[0].query, "rate(x[5m])");
        assert_eq!(known[0].kind, Kind::RateExtrapolation);
        assert_eq!(known[1].query, "x atan2 1");
        assert_eq!(known[1].kind, Kind::Atan2Name);
        assert_eq!(known[1].reason, "3.x drops the name: as the others");
        assert!(parse_known("up -> no kind here\n").is_err());
        assert!(parse_known("up -> bogus: reason\n").is_err());
    }

    #[test]
    fn atan2_proof_ignores_only_the_name() {
        let ours = outcome(200, br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"0.5"]}]}}"#).expect("valid");
        let theirs: Value = serde_json::from_slice(br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"t","a":"1"},"value":[1,"0.5"]}]}}"#).expect("valid");
        assert!(diff(&ours, &outcome_value(&theirs)).is_some());
        assert!(prove_atan2_name(&ours, &theirs).is_ok());
        let other: Value = serde_json::from_slice(br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"t","a":"1"},"value":[1,"0.6"]}]}}"#).expect("valid");
        assert!(prove_atan2_name(&ours, &other).is_err());
    }
}
