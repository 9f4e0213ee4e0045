//! The HTTP API around PromQL, against Prometheus 3: label and series endpoints, query formatting and parsing (for every query of the corpus) and error answers, compared as status code plus parsed JSON.

use anyhow::{Context, Result};
use serde_json::Value;

use crate::servers::{self, BLOCK_END, BLOCK_START, Server, api_time, url_encode};

/// A GET request with its query string, built from `(name, value)` pairs.
fn get(path: &str, params: &[(&str, &str)]) -> String {
    if params.is_empty() {
        return path.to_string();
    }
    let qs: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect();
    format!("{path}?{}", qs.join("&"))
}

/// The requests compared: fixed metadata and error cases, then `format_query` and
/// `parse_query` of each expression in `exprs`.
pub(super) fn requests(exprs: &[&str]) -> Vec<String> {
    let (start, end) = (api_time(BLOCK_START), api_time(BLOCK_END));
    let mid = api_time(BLOCK_START + 3_600_000);
    let late = api_time(BLOCK_END + 86_400_000);
    let (start, end, mid, late) = (start.as_str(), end.as_str(), mid.as_str(), late.as_str());
    let mut out = vec![
        // Label names and values.
        get("/api/v1/labels", &[]),
        get("/api/v1/labels", &[("match[]", "up")]),
        get(
            "/api/v1/labels",
            &[("match[]", r#"{job="db"}"#), ("start", start), ("end", end)],
        ),
        get("/api/v1/labels", &[("limit", "3")]),
        get(
            "/api/v1/labels",
            &[("match[]", "node_temperature_celsius"), ("match[]", "up")],
        ),
        get("/api/v1/label/job/values", &[]),
        get("/api/v1/label/__name__/values", &[]),
        get(
            "/api/v1/label/instance/values",
            &[("match[]", r#"up{job="api"}"#)],
        ),
        get("/api/v1/label/cpu/values", &[("limit", "2")]),
        get("/api/v1/label/nonexistent/values", &[]),
        get(
            "/api/v1/label/job/values",
            &[("start", late), ("end", late)],
        ),
        // Series.
        get("/api/v1/series", &[("match[]", "up")]),
        get(
            "/api/v1/series",
            &[
                ("match[]", "process_resident_memory_bytes"),
                ("match[]", r#"up{job="db"}"#),
                ("start", mid),
                ("end", end),
            ],
        ),
        get(
            "/api/v1/series",
            &[("match[]", r#"{__name__=~"node_disk.*"}"#), ("limit", "5")],
        ),
        get(
            "/api/v1/series",
            &[("match[]", "up"), ("start", late), ("end", late)],
        ),
        get(
            "/api/v1/query_exemplars",
            &[("query", "up"), ("start", start), ("end", end)],
        ),
        // Errors: missing, malformed and out-of-range parameters.
        get("/api/v1/series", &[]),
        get("/api/v1/series", &[("match[]", "up{")]),
        get("/api/v1/series", &[("match[]", r#"{job=~".*"}"#)]),
        get("/api/v1/label/job/values", &[("start", "abc")]),
        get("/api/v1/label/job%2Fx/values", &[]),
        get("/api/v1/labels", &[("limit", "-1")]),
        get("/api/v1/query", &[]),
        get("/api/v1/query", &[("query", "up"), ("time", "abc")]),
        get("/api/v1/query", &[("query", "sum(")]),
        get("/api/v1/query", &[("query", "up"), ("timeout", "abc")]),
        get("/api/v1/query", &[("query", "rate(up)")]),
        get(
            "/api/v1/query_range",
            &[
                ("query", "up"),
                ("start", start),
                ("end", end),
                ("step", "0"),
            ],
        ),
        get(
            "/api/v1/query_range",
            &[
                ("query", "up"),
                ("start", end),
                ("end", start),
                ("step", "15"),
            ],
        ),
        get(
            "/api/v1/query_range",
            &[
                ("query", "up"),
                ("start", start),
                ("end", end),
                ("step", "0.1"),
            ],
        ),
        get(
            "/api/v1/query_range",
            &[("query", "up"), ("start", start), ("end", end)],
        ),
        get(
            "/api/v1/query_range",
            &[
                ("query", "up"),
                ("start", "x"),
                ("end", end),
                ("step", "15"),
            ],
        ),
        get("/api/v1/format_query", &[]),
        get("/api/v1/format_query", &[("query", "foo{")]),
        get("/api/v1/parse_query", &[("query", "1 +")]),
    ];
    for e in exprs {
        out.push(get("/api/v1/format_query", &[("query", e)]));
        out.push(get("/api/v1/parse_query", &[("query", e)]));
    }
    out
}

/// A request's answer: status code and parsed JSON (or the raw text when not JSON).
fn answer(server: &Server, path: &str) -> Result<(u16, Value)> {
    let (status, body) = servers::request(&server.addr, "GET", path, None)
        .with_context(|| format!("{} on {path}", server.name))?;
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    Ok((status, v))
}

/// Fields of `parse_query`'s tree that upstream added after 3.5 (`translate_ast.go`:
/// the `anchored`/`smoothed` selector modifiers, `fillValues` of vector matching, a
/// subquery's `alignEvalTime`). We print them as current upstream does; they are left out
/// of the comparison only where the reference's answer has no such field.
const NEWER_FIELDS: [&str; 4] = ["anchored", "smoothed", "fillValues", "alignEvalTime"];

/// Removes from `ours` each of [`NEWER_FIELDS`] that `theirs` lacks at the same place.
fn strip_newer(ours: &mut Value, theirs: &Value) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            a.retain(|k, _| !NEWER_FIELDS.contains(&k.as_str()) || b.contains_key(k));
            for (k, v) in a.iter_mut() {
                if let Some(t) = b.get(k) {
                    strip_newer(v, t);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (v, t) in a.iter_mut().zip(b) {
                strip_newer(v, t);
            }
        }
        _ => {}
    }
}

/// Sends every request to both servers; prints each difference. Returns the number of
/// identical answers and of requests.
pub(super) fn compare(
    ours: &Server,
    prom3: &Server,
    prom3_version: &str,
    exprs: &[&str],
) -> Result<(usize, usize)> {
    let requests = requests(exprs);
    let mut same = 0;
    for path in &requests {
        let mut a = answer(ours, path)?;
        let b = answer(prom3, path)?;
        if path.starts_with("/api/v1/parse_query?") {
            strip_newer(&mut a.1, &b.1);
        }
        if a == b {
            same += 1;
        } else {
            println!(
                "API    GET {path}\n      ours: {} {}\n      {prom3_version}: {} {}",
                a.0, a.1, b.0, b.1
            );
        }
    }
    Ok((same, requests.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_newer_fields_the_reference_lacks_are_left_out() {
        let mut ours = serde_json::json!({"data": {"type": "vectorSelector", "anchored": false,
            "smoothed": false, "offset": 0, "args": [{"alignEvalTime": false, "x": 1}]}});
        let theirs = serde_json::json!({"data": {"type": "vectorSelector", "smoothed": true,
            "offset": 0, "args": [{"x": 1}]}});
        strip_newer(&mut ours, &theirs);
        assert_eq!(
            ours,
            serde_json::json!({"data": {"type": "vectorSelector", "smoothed": false,
                "offset": 0, "args": [{"x": 1}]}})
        );
    }

    #[test]
    fn requests_encode_their_parameters() {
        let r = requests(&["sum by (job) (up)"]);
        assert!(r.contains(&"/api/v1/series?match%5B%5D=up".to_string()));
        assert!(
            r.contains(&"/api/v1/format_query?query=sum%20by%20%28job%29%20%28up%29".to_string())
        );
        assert_eq!(
            r.iter()
                .filter(|p| p.starts_with("/api/v1/parse_query?"))
                .count(),
            2
        );
    }
}
