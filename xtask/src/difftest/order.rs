//! Result order against Prometheus 3: instant vectors must list their series in its order wherever Go's order is determined, on the shared block and on head data created in an order that is not label order.
//!
//! Go's engine does not sort instant vectors: a selector lists series as the storage hands
//! them out (a block, or several sources merged: label order; the head alone: creation
//! order), functions and binary operations keep their input's order, aggregations list
//! their groups in the order they first appear. Its order is not determined (so not
//! compared) under a subquery (a range evaluation collects series in a map), for `topk`,
//! `bottomk`, `limitk`, `limit_ratio` and `count_values`, for `histogram_quantile` and
//! `histogram_fraction` (classic buckets are grouped in a map), for `info` (its result is
//! collected in a map), and for the sorting functions, whose order the main comparison
//! checks itself.

use anyhow::{Context, Result};
use promql::parser::{AggregateOp, Expr, parse_expr};
use serde_json::Value;

use super::render_labels;
use crate::servers::{self, BLOCK_END, Case, Server, api_time};

/// Why Go's order of `expr`'s result is not determined, or `None` when it is.
pub(super) fn undetermined(expr: &str) -> Option<&'static str> {
    match parse_expr(expr) {
        Ok(e) => walk(&e),
        Err(_) => Some("does not parse"),
    }
}

fn walk(e: &Expr) -> Option<&'static str> {
    match e {
        Expr::Subquery(_) => Some("subquery"),
        Expr::Aggregate(a) => {
            if matches!(
                a.op,
                AggregateOp::Topk
                    | AggregateOp::Bottomk
                    | AggregateOp::Limitk
                    | AggregateOp::LimitRatio
                    | AggregateOp::CountValues
            ) {
                return Some("k-aggregation or count_values");
            }
            a.param.as_deref().and_then(walk).or_else(|| walk(&a.expr))
        }
        Expr::Binary(b) => walk(&b.lhs).or_else(|| walk(&b.rhs)),
        Expr::Call(c) => {
            if matches!(c.func.name, "histogram_quantile" | "histogram_fraction") {
                return Some("classic histogram buckets");
            }
            if c.func.name == "info" {
                return Some("info's result is collected in a map");
            }
            if c.func.name.starts_with("sort") {
                return Some("sorting function");
            }
            c.args.iter().find_map(walk)
        }
        Expr::Paren(p) => walk(&p.expr),
        Expr::Unary(u) => walk(&u.expr),
        Expr::StepInvariant(s) => walk(&s.expr),
        Expr::MatrixSelector(_)
        | Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::Duration(_) => None,
    }
}

/// The series of a successful vector answer, labels rendered, in answer order.
fn vector_order(v: &Value) -> Option<Vec<String>> {
    if v["status"] != "success" || v["data"]["resultType"] != "vector" {
        return None;
    }
    Some(
        v["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                s["metric"].as_object().map_or_else(String::new, |m| {
                    render_labels(
                        m.iter()
                            .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default())),
                    )
                })
            })
            .collect(),
    )
}

/// What comparing the order of one instant answer found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Order {
    /// Not compared: not an instant vector on both sides, fewer than two series, or Go's
    /// order is not determined.
    Skipped,
    /// The same series in the same order.
    Same,
    /// The same series in another order (how, in words).
    Differs(String),
}

/// Compares the order of `ours` and `theirs` (API answers to the instant query `expr`).
/// Answers with different series are left to the set comparison.
pub(super) fn compare(expr: &str, ours: &Value, theirs: &Value) -> Order {
    let (Some(a), Some(b)) = (vector_order(ours), vector_order(theirs)) else {
        return Order::Skipped;
    };
    if a.len() < 2 || undetermined(expr).is_some() {
        return Order::Skipped;
    }
    let (mut sa, mut sb) = (a.clone(), b.clone());
    sa.sort();
    sb.sort();
    if sa != sb {
        return Order::Skipped;
    }
    match a.iter().zip(&b).position(|(x, y)| x != y) {
        None => Order::Same,
        Some(at) => Order::Differs(format!(
            "order: position {at} is {} in ours, {} in 3.x",
            a[at], b[at]
        )),
    }
}

/// First sample of the head data: two hours after the block, so that no block case reaches it.
pub(super) const HEAD_START: i64 = BLOCK_END + 7_200_000;
/// Samples per head series, 15 s apart.
const HEAD_SAMPLES: i64 = 10;
/// When the head cases are evaluated: 7.5 s after the last sample.
pub(super) const HEAD_TIME: i64 = HEAD_START + (HEAD_SAMPLES - 1) * 15_000 + 7_500;

/// The head series, in the order they are created: not label order. `up` shares its name
/// with the block's series, so a range reaching back into the block merges both.
const HEAD_SERIES: &[&[(&str, &str)]] = &[
    &[("__name__", "order_probe"), ("inst", "c"), ("job", "late")],
    &[("__name__", "order_probe"), ("inst", "a"), ("job", "late")],
    &[("__name__", "order_probe"), ("inst", "d"), ("job", "late")],
    &[("__name__", "order_probe"), ("inst", "b"), ("job", "late")],
    &[
        ("__name__", "order_probe_total"),
        ("code", "500"),
        ("job", "late"),
    ],
    &[
        ("__name__", "order_probe_total"),
        ("code", "200"),
        ("job", "late"),
    ],
    &[
        ("__name__", "order_probe_total"),
        ("code", "404"),
        ("job", "late"),
    ],
    &[("__name__", "zeta_probe"), ("job", "late")],
    &[("__name__", "alpha_probe"), ("job", "late")],
    &[("__name__", "up"), ("instance", "late-c"), ("job", "late")],
    &[("__name__", "up"), ("instance", "late-a"), ("job", "late")],
    &[("__name__", "up"), ("instance", "late-b"), ("job", "late")],
];

/// Instant queries over the head data (at [`HEAD_TIME`]).
pub(super) const HEAD_QUERIES: &[&str] = &[
    "order_probe",
    "order_probe_total",
    r#"{job="late"}"#,
    r#"{__name__=~"zeta_probe|alpha_probe"}"#,
    "up",
    r#"up{job="late"}"#,
    "rate(order_probe_total[1m])",
    "increase(order_probe_total[2m])",
    "order_probe * 2",
    "-order_probe",
    "order_probe > 1",
    "abs(order_probe)",
    "timestamp(order_probe)",
    r#"label_replace(order_probe, "z", "$1", "inst", "(.*)")"#,
    "sum by (inst) (order_probe)",
    "count by (__name__) ({job=\"late\"})",
    "max by (code) (order_probe_total)",
    "order_probe + on (inst) order_probe",
    r#"order_probe unless order_probe{inst="a"}"#,
    "order_probe or zeta_probe",
    "count_over_time(order_probe[1m])",
    "last_over_time(order_probe[1m])",
    // Ranges reaching back into the block: block and head queriers merge, sorted.
    "last_over_time(up[3h])",
    "max_over_time(up[4h])",
    "order_probe[1m]",
];

/// The head cases.
pub(super) fn head_cases() -> Vec<Case> {
    HEAD_QUERIES
        .iter()
        .map(|q| Case::Instant {
            query: (*q).to_string(),
            time: HEAD_TIME,
        })
        .collect()
}

/// The `/api/v1/series` requests over the head data: one `match[]` lists the storage's
/// order (the head's is creation order), several are merged and sorted.
pub(super) fn head_series_requests() -> Vec<String> {
    let start = api_time(HEAD_START);
    let end = api_time(HEAD_TIME);
    let q = |m: &[&str]| {
        let mut parts: Vec<String> = m
            .iter()
            .map(|m| format!("match[]={}", servers::url_encode(m)))
            .collect();
        parts.push(format!("start={start}"));
        parts.push(format!("end={end}"));
        format!("/api/v1/series?{}", parts.join("&"))
    };
    vec![
        q(&["order_probe"]),
        q(&[r#"{job="late"}"#]),
        q(&["order_probe", "zeta_probe"]),
    ]
}

/// Writes the head series to `server` through remote write, one request per sample time,
/// the series in [`HEAD_SERIES`] order.
pub(super) fn write_head(server: &Server) -> Result<()> {
    use prompb::Message as _;
    let mut enc = snap::raw::Encoder::new();
    for k in 0..HEAD_SAMPLES {
        let t = HEAD_START + k * 15_000;
        let timeseries = HEAD_SERIES
            .iter()
            .enumerate()
            .map(|(i, labels)| {
                let v = if labels[0].1 == "order_probe_total" {
                    (k * (i as i64 + 1) * 10) as f64
                } else {
                    i as f64
                };
                prompb::TimeSeries::from_samples(labels, &[(t, v)])
            })
            .collect();
        let body = prompb::WriteRequest {
            timeseries,
            metadata: Vec::new(),
        }
        .encode_to_vec();
        let body = enc.compress_vec(&body).context("snappy")?;
        servers::remote_write(&server.addr, &body)
            .with_context(|| format!("{}: writing the head series", server.name))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(names: &[&str]) -> Value {
        let result: Vec<Value> = names
            .iter()
            .map(|n| serde_json::json!({"metric": {"a": n}, "value": [1, "1"]}))
            .collect();
        serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": result}})
    }

    #[test]
    fn order_counts_only_where_go_determines_it() {
        let (ab, ba) = (answer(&["a", "b"]), answer(&["b", "a"]));
        assert_eq!(compare("up", &ab, &ab), Order::Same);
        assert!(matches!(compare("up", &ab, &ba), Order::Differs(_)));
        assert!(matches!(
            compare("sum by (a) (rate(x[5m]))", &ab, &ba),
            Order::Differs(_)
        ));
        for undetermined in [
            "topk(2, up)",
            "max_over_time(rate(x[5m])[10m:1m])",
            "histogram_quantile(0.9, rate(b[5m]))",
            "sort(up)",
            "count_values(\"v\", up)",
            "info(up)",
        ] {
            assert_eq!(
                compare(undetermined, &ab, &ba),
                Order::Skipped,
                "{undetermined}"
            );
        }
        // Different series are the set comparison's business; one series has no order.
        assert_eq!(compare("up", &ab, &answer(&["a", "c"])), Order::Skipped);
        assert_eq!(
            compare("up", &answer(&["a"]), &answer(&["a"])),
            Order::Skipped
        );
    }
}
