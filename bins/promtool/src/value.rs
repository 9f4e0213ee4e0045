//! Query results as client_golang's `model` package holds and prints them: decoded from
//! the HTTP API's JSON or converted from our engine's values, then printed as Go's
//! promtool does (`-o promql`: the values' `String()`; `-o json`: `encoding/json`).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::gofmt::{format_f, format_g, format_model_time, json_string};

/// A metric's labels, sorted by name (Go's `model.Metric`, a map).
pub(crate) type Metric = BTreeMap<String, String>;

/// A query result (Go's `model.Value`). Times are milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum QueryValue {
    Scalar {
        t: i64,
        v: f64,
    },
    String {
        t: i64,
        v: String,
    },
    Vector(Vec<(Metric, i64, SampleValue)>),
    /// Series with their float points and their histogram points.
    Matrix(Vec<MatrixSeries>),
}

/// The value of a vector sample: a float or a native histogram.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SampleValue {
    Float(f64),
    Histogram(SampleHistogram),
}

/// A native histogram as client_golang's `model.SampleHistogram` holds it: count, sum and
/// the populated buckets (`None`: the API sent none, printed `null` in JSON).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SampleHistogram {
    pub(crate) count: f64,
    pub(crate) sum: f64,
    pub(crate) buckets: Option<Vec<HistogramBucket>>,
}

/// One bucket (`model.HistogramBucket`): the API's boundary rule (0: `(l,u]`, 1: `[l,u)`,
/// 2: `(l,u)`, 3: `[l,u]`), bounds and count.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HistogramBucket {
    pub(crate) boundaries: i32,
    pub(crate) lower: f64,
    pub(crate) upper: f64,
    pub(crate) count: f64,
}

/// Go's `%f` of a float: six decimals, `NaN`, `+Inf`, `-Inf`.
fn go_percent_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v:.6}")
    }
}

impl SampleHistogram {
    /// `SampleHistogram.String()`: `Count: 2.000000, Sum: 3.000000, Buckets: [(0.5,1]:2]`.
    fn go_string(&self) -> String {
        let buckets: Vec<String> = self
            .buckets
            .iter()
            .flatten()
            .map(|b| {
                let lower_inclusive = b.boundaries == 1 || b.boundaries == 3;
                let upper_inclusive = b.boundaries == 0 || b.boundaries == 3;
                format!(
                    "{}{},{}{}:{}",
                    if lower_inclusive { '[' } else { '(' },
                    format_g(b.lower),
                    format_g(b.upper),
                    if upper_inclusive { ']' } else { ')' },
                    format_f(b.count)
                )
            })
            .collect();
        format!(
            "Count: {}, Sum: {}, Buckets: [{}]",
            go_percent_f(self.count),
            go_percent_f(self.sum),
            buckets.join(" ")
        )
    }

    /// Go's `encoding/json` of the histogram: `{"count":"2","sum":"3","buckets":[[0,"0.5","1","2"]]}`.
    fn write_json(&self, out: &mut String) {
        out.push_str("{\"count\":");
        json_string(out, &format_f(self.count));
        out.push_str(",\"sum\":");
        json_string(out, &format_f(self.sum));
        out.push_str(",\"buckets\":");
        match &self.buckets {
            None => out.push_str("null"),
            Some(bs) => {
                out.push('[');
                for (i, b) in bs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "[{},", b.boundaries);
                    json_string(out, &format_f(b.lower));
                    out.push(',');
                    json_string(out, &format_f(b.upper));
                    out.push(',');
                    json_string(out, &format_f(b.count));
                    out.push(']');
                }
                out.push(']');
            }
        }
        out.push('}');
    }

    /// Converts an engine histogram as Prometheus's API writes it: the buckets of
    /// `AllBucketIterator` that hold any count.
    fn from_float_histogram(h: &model::FloatHistogram) -> SampleHistogram {
        let buckets: Vec<HistogramBucket> = h
            .all_bucket_iter()
            .filter(|b| b.count != 0.0)
            .map(|b| HistogramBucket {
                boundaries: match (b.lower_inclusive, b.upper_inclusive) {
                    (false, true) => 0,
                    (true, false) => 1,
                    (false, false) => 2,
                    (true, true) => 3,
                },
                lower: b.lower,
                upper: b.upper,
                count: b.count,
            })
            .collect();
        SampleHistogram {
            count: h.count,
            sum: h.sum,
            buckets: (!buckets.is_empty()).then_some(buckets),
        }
    }
}

fn histogram_pair_string(t: i64, h: &SampleHistogram) -> String {
    format!("{} @[{}]", h.go_string(), format_model_time(t))
}

fn json_histogram_pair(out: &mut String, t: i64, h: &SampleHistogram) {
    out.push('[');
    out.push_str(&format_model_time(t));
    out.push(',');
    h.write_json(out);
    out.push(']');
}

/// `model.Metric.String()`: `name{a="1", b="2"}`, `name`, or `{}`.
pub(crate) fn metric_string(m: &Metric) -> String {
    let name = m.get("__name__");
    let mut out = name.cloned().unwrap_or_default();
    let rest: Vec<String> = m
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| format!("{k}={}", model::strconv::quote(v)))
        .collect();
    if rest.is_empty() {
        if name.is_none() {
            out.push_str("{}");
        }
        return out;
    }
    let _ = write!(out, "{{{}}}", rest.join(", "));
    out
}

/// `model.LabelSet.String()`: every label, the name too: `{__name__="up", job="x"}`.
pub(crate) fn label_set_string(m: &Metric) -> String {
    let parts: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={}", model::strconv::quote(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// `model.LabelSet.Before`: fewer labels first, then by the values of the names in order.
fn before(a: &Metric, b: &Metric) -> Ordering {
    if a.len() != b.len() {
        return a.len().cmp(&b.len());
    }
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    for n in names {
        match (a.get(n), b.get(n)) {
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    Ordering::Equal
}

fn pair_string(t: i64, v: f64) -> String {
    format!("{} @[{}]", format_f(v), format_model_time(t))
}

impl QueryValue {
    /// The value as `fmt.Println(v)` prints it, without the final newline.
    pub(crate) fn promql_string(&self) -> String {
        match self {
            QueryValue::Scalar { t, v } => {
                format!("scalar: {} @[{}]", format_f(*v), format_model_time(*t))
            }
            QueryValue::String { v, .. } => v.clone(),
            QueryValue::Vector(samples) => samples
                .iter()
                .map(|(m, t, v)| {
                    let pair = match v {
                        SampleValue::Float(v) => pair_string(*t, *v),
                        SampleValue::Histogram(h) => histogram_pair_string(*t, h),
                    };
                    format!("{} => {pair}", metric_string(m))
                })
                .collect::<Vec<_>>()
                .join("\n"),
            QueryValue::Matrix(series) => {
                let mut sorted: Vec<&MatrixSeries> = series.iter().collect();
                sorted.sort_by(|a, b| before(&a.0, &b.0));
                sorted
                    .iter()
                    .map(|(m, points, hpoints)| {
                        let vals: Vec<String> = points
                            .iter()
                            .map(|(t, v)| pair_string(*t, *v))
                            .chain(hpoints.iter().map(|(t, h)| histogram_pair_string(*t, h)))
                            .collect();
                        format!("{} =>\n{}", metric_string(m), vals.join("\n"))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
    }

    /// The value as Go's `json.Encoder` writes it, without the final newline.
    pub(crate) fn json_string(&self) -> String {
        let mut out = String::new();
        match self {
            QueryValue::Scalar { t, v } => json_pair(&mut out, *t, &format_f(*v)),
            QueryValue::String { t, v } => {
                out.push('[');
                out.push_str(&format_model_time(*t));
                out.push(',');
                json_string(&mut out, v);
                out.push(']');
            }
            QueryValue::Vector(samples) => {
                out.push('[');
                for (i, (m, t, v)) in samples.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"metric\":");
                    json_metric(&mut out, m);
                    match v {
                        SampleValue::Float(v) => {
                            out.push_str(",\"value\":");
                            json_pair(&mut out, *t, &format_f(*v));
                        }
                        SampleValue::Histogram(h) => {
                            out.push_str(",\"histogram\":");
                            json_histogram_pair(&mut out, *t, h);
                        }
                    }
                    out.push('}');
                }
                out.push(']');
            }
            QueryValue::Matrix(series) => {
                out.push('[');
                for (i, (m, points, hpoints)) in series.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"metric\":");
                    json_metric(&mut out, m);
                    // Go's SampleStream.MarshalJSON: "values" unless the series holds only
                    // histograms, "histograms" when it holds any.
                    if !points.is_empty() || hpoints.is_empty() {
                        out.push_str(",\"values\":[");
                        for (j, (t, v)) in points.iter().enumerate() {
                            if j > 0 {
                                out.push(',');
                            }
                            json_pair(&mut out, *t, &format_f(*v));
                        }
                        out.push(']');
                    }
                    if !hpoints.is_empty() {
                        out.push_str(",\"histograms\":[");
                        for (j, (t, h)) in hpoints.iter().enumerate() {
                            if j > 0 {
                                out.push(',');
                            }
                            json_histogram_pair(&mut out, *t, h);
                        }
                        out.push(']');
                    }
                    out.push('}');
                }
                out.push(']');
            }
        }
        out
    }
}

/// A series of a matrix: labels, float points, histogram points.
pub(crate) type MatrixSeries = (Metric, Vec<(i64, f64)>, Vec<(i64, SampleHistogram)>);

fn json_pair(out: &mut String, t: i64, v: &str) {
    out.push('[');
    out.push_str(&format_model_time(t));
    out.push(',');
    json_string(out, v);
    out.push(']');
}

/// A label map as Go's `encoding/json` writes a map: keys sorted.
pub(crate) fn json_metric(out: &mut String, m: &Metric) {
    out.push('{');
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(out, k);
        out.push(':');
        json_string(out, v);
    }
    out.push('}');
}

/// A list of strings as Go's `encoding/json` writes it.
pub(crate) fn json_strings(values: &[String]) -> String {
    let mut out = String::from("[");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(&mut out, v);
    }
    out.push(']');
    out
}

/// A list of label sets as Go's `encoding/json` writes it.
pub(crate) fn json_label_sets(sets: &[Metric]) -> String {
    let mut out = String::from("[");
    for (i, m) in sets.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_metric(&mut out, m);
    }
    out.push(']');
    out
}

/// Parses a sample value as Go's `strconv.ParseFloat` (`NaN`, `+Inf`, `-Inf` included).
fn parse_value(s: &str) -> anyhow::Result<f64> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid sample value {s:?}")),
    }
}

/// `[1700000000.123, "1"]` to (ms, value).
fn parse_pair(j: &Json) -> anyhow::Result<(i64, f64)> {
    let arr = j
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or_else(|| anyhow::anyhow!("sample pair must be a two-element array, got {j}"))?;
    let t = arr[0]
        .as_f64()
        .ok_or_else(|| anyhow::anyhow!("invalid timestamp {}", arr[0]))?;
    let v = arr[1]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("sample value must be a quoted string, got {}", arr[1]))?;
    Ok(((t * 1000.0).round() as i64, parse_value(v)?))
}

/// A JSON float string (`"1.5"`, `"+Inf"`), Go's `FloatString`.
fn parse_float_string(j: &Json, what: &str) -> anyhow::Result<f64> {
    let s = j
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("{what} must be a quoted string, got {j}"))?;
    parse_value(s)
}

/// `[1700000000.123, {"count":"2","sum":"3","buckets":[[0,"0.5","1","2"]]}]`.
fn parse_histogram_pair(j: &Json) -> anyhow::Result<(i64, SampleHistogram)> {
    let arr = j
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or_else(|| anyhow::anyhow!("histogram pair must be a two-element array, got {j}"))?;
    let t = arr[0]
        .as_f64()
        .ok_or_else(|| anyhow::anyhow!("invalid timestamp {}", arr[0]))?;
    let h = &arr[1];
    if h.is_null() {
        anyhow::bail!("histogram is null");
    }
    let count = parse_float_string(h.get("count").unwrap_or(&Json::Null), "histogram count")?;
    let sum = parse_float_string(h.get("sum").unwrap_or(&Json::Null), "histogram sum")?;
    let buckets = match h.get("buckets") {
        None | Some(Json::Null) => None,
        Some(bs) => {
            let bs = bs
                .as_array()
                .ok_or_else(|| anyhow::anyhow!("histogram buckets must be an array"))?;
            let mut out = Vec::with_capacity(bs.len());
            for b in bs {
                let f = b
                    .as_array()
                    .filter(|a| a.len() == 4)
                    .ok_or_else(|| anyhow::anyhow!("wrong number of fields in bucket {b}"))?;
                let boundaries = f[0]
                    .as_i64()
                    .and_then(|v| i32::try_from(v).ok())
                    .ok_or_else(|| anyhow::anyhow!("invalid bucket boundaries {}", f[0]))?;
                out.push(HistogramBucket {
                    boundaries,
                    lower: parse_float_string(&f[1], "bucket lower bound")?,
                    upper: parse_float_string(&f[2], "bucket upper bound")?,
                    count: parse_float_string(&f[3], "bucket count")?,
                });
            }
            Some(out)
        }
    };
    Ok((
        (t * 1000.0).round() as i64,
        SampleHistogram {
            count,
            sum,
            buckets,
        },
    ))
}

/// A JSON object of strings to a [`Metric`].
pub(crate) fn parse_metric(j: &Json) -> anyhow::Result<Metric> {
    let obj = j
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("metric must be an object, got {j}"))?;
    obj.iter()
        .map(|(k, v)| {
            v.as_str()
                .map(|v| (k.clone(), v.to_owned()))
                .ok_or_else(|| anyhow::anyhow!("label value of {k} must be a string"))
        })
        .collect()
}

/// Decodes the `data` of a `/api/v1/query` or `/api/v1/query_range` reply.
pub(crate) fn parse_query_data(data: &Json) -> anyhow::Result<QueryValue> {
    let ty = data.get("resultType").and_then(Json::as_str).unwrap_or("");
    let result = data.get("result").unwrap_or(&Json::Null);
    let items = || -> anyhow::Result<&Vec<Json>> {
        if result.is_null() {
            static EMPTY: Vec<Json> = Vec::new();
            return Ok(&EMPTY);
        }
        result
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("{ty} result must be an array"))
    };
    match ty {
        "scalar" => {
            let (t, v) = parse_pair(result)?;
            Ok(QueryValue::Scalar { t, v })
        }
        "string" => {
            let arr = result
                .as_array()
                .filter(|a| a.len() == 2)
                .ok_or_else(|| anyhow::anyhow!("string result must be a two-element array"))?;
            let t = arr[0].as_f64().unwrap_or(0.0);
            Ok(QueryValue::String {
                t: (t * 1000.0).round() as i64,
                v: arr[1].as_str().unwrap_or_default().to_owned(),
            })
        }
        "vector" => {
            let mut out = Vec::new();
            for s in items()? {
                let metric = parse_metric(s.get("metric").unwrap_or(&Json::Null))?;
                if let Some(pair) = s.get("histogram") {
                    let (t, h) = parse_histogram_pair(pair)?;
                    out.push((metric, t, SampleValue::Histogram(h)));
                    continue;
                }
                let Some(pair) = s.get("value") else {
                    anyhow::bail!("vector sample has neither a value nor a histogram");
                };
                let (t, v) = parse_pair(pair)?;
                out.push((metric, t, SampleValue::Float(v)));
            }
            Ok(QueryValue::Vector(out))
        }
        "matrix" => {
            let mut out = Vec::new();
            for s in items()? {
                let metric = parse_metric(s.get("metric").unwrap_or(&Json::Null))?;
                let mut points = Vec::new();
                if let Some(vals) = s.get("values").and_then(Json::as_array) {
                    for p in vals {
                        points.push(parse_pair(p)?);
                    }
                }
                let mut hpoints = Vec::new();
                if let Some(hs) = s.get("histograms").and_then(Json::as_array) {
                    for p in hs {
                        hpoints.push(parse_histogram_pair(p)?);
                    }
                }
                out.push((metric, points, hpoints));
            }
            Ok(QueryValue::Matrix(out))
        }
        other => anyhow::bail!("unknown value type {other:?}"),
    }
}

/// Converts our engine's result.
pub(crate) fn from_engine(v: &promql::value::Value) -> QueryValue {
    use promql::value::Value;
    let metric = |l: &model::Labels| -> Metric {
        l.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    };
    match v {
        Value::Scalar(s) => QueryValue::Scalar { t: s.t, v: s.v },
        Value::String(s) => QueryValue::String {
            t: s.t,
            v: s.v.clone(),
        },
        Value::Vector(vec) => QueryValue::Vector(
            vec.iter()
                .map(|s| {
                    let v = match &s.h {
                        Some(h) => SampleValue::Histogram(SampleHistogram::from_float_histogram(h)),
                        None => SampleValue::Float(s.f),
                    };
                    (metric(&s.metric), s.t, v)
                })
                .collect(),
        ),
        Value::Matrix(m) => QueryValue::Matrix(
            m.iter()
                .map(|s| {
                    (
                        metric(&s.metric),
                        s.floats.iter().map(|p| (p.t, p.f)).collect(),
                        s.histograms
                            .iter()
                            .map(|p| (p.t, SampleHistogram::from_float_histogram(&p.h)))
                            .collect(),
                    )
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> Metric {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn prints_like_client_golang() {
        let up = m(&[("__name__", "up"), ("job", "self"), ("instance", "a:1")]);
        let v = QueryValue::Vector(vec![
            (up.clone(), 1_795_481_492_603, SampleValue::Float(1.0)),
            (m(&[]), 1_795_481_492_603, SampleValue::Float(2.0)),
        ]);
        assert_eq!(
            v.promql_string(),
            "up{instance=\"a:1\", job=\"self\"} => 1 @[1795481492.603]\n{} => 2 @[1795481492.603]"
        );
        assert_eq!(
            v.json_string(),
            r#"[{"metric":{"__name__":"up","instance":"a:1","job":"self"},"value":[1795481492.603,"1"]},{"metric":{},"value":[1795481492.603,"2"]}]"#
        );
        let s = QueryValue::Scalar {
            t: 1_795_481_488_362,
            v: f64::INFINITY,
        };
        assert_eq!(s.promql_string(), "scalar: +Inf @[1795481488.362]");
        assert_eq!(s.json_string(), r#"[1795481488.362,"+Inf"]"#);
        assert_eq!(metric_string(&m(&[("__name__", "x")])), "x");
        assert_eq!(
            label_set_string(&up),
            r#"{__name__="up", instance="a:1", job="self"}"#
        );
        assert_eq!(metric_string(&m(&[("a", "x\ny\u{e9}")])), "{a=\"x\\nyé\"}");
    }

    #[test]
    fn matrix_sorted_by_label_set_before() {
        let mat = QueryValue::Matrix(vec![
            (m(&[("a", "2"), ("b", "1")]), vec![(1000, 1.0)], vec![]),
            (
                m(&[("a", "1"), ("b", "9")]),
                vec![(1000, 1.0), (2000, 0.5)],
                vec![],
            ),
            (m(&[("z", "1")]), vec![(1000, 3.0)], vec![]),
        ]);
        assert_eq!(
            mat.promql_string(),
            "{z=\"1\"} =>\n3 @[1]\n{a=\"1\", b=\"9\"} =>\n1 @[1]\n0.5 @[2]\n{a=\"2\", b=\"1\"} =>\n1 @[1]"
        );
    }

    #[test]
    fn decodes_api_data() {
        let data: Json = serde_json::from_str(
            r#"{"resultType":"matrix","result":[{"metric":{"__name__":"up"},"values":[[1700000000.5,"1"],[1700000001,"NaN"]]}]}"#,
        )
        .expect("json");
        let v = parse_query_data(&data).expect("decodes");
        let QueryValue::Matrix(series) = &v else {
            panic!("a matrix: {v:?}");
        };
        assert_eq!(series[0].1[0], (1_700_000_000_500, 1.0));
        assert!(series[0].1[1].1.is_nan());
        let data: Json =
            serde_json::from_str(r#"{"resultType":"vector","result":[]}"#).expect("json");
        assert_eq!(
            parse_query_data(&data).expect("decodes"),
            QueryValue::Vector(vec![])
        );
    }

    #[test]
    fn histograms_print_like_client_golang() {
        let fh = model::FloatHistogram::parse_notation(
            "{{schema:0 count:4 sum:5 z_bucket:1 z_bucket_w:0.001 buckets:[1 2]}}",
        )
        .expect("notation");
        let h = SampleHistogram::from_float_histogram(&fh);
        let v = QueryValue::Vector(vec![(
            m(&[("__name__", "h")]),
            1_700_000_000_500,
            SampleValue::Histogram(h.clone()),
        )]);
        assert_eq!(
            v.promql_string(),
            "h => Count: 4.000000, Sum: 5.000000, Buckets: [[-0.001,0.001]:1 (0.5,1]:1 (1,2]:2] @[1700000000.5]"
        );
        let json = r#"[{"metric":{"__name__":"h"},"histogram":[1700000000.5,{"count":"4","sum":"5","buckets":[[3,"-0.001","0.001","1"],[0,"0.5","1","1"],[0,"1","2","2"]]}]}]"#;
        assert_eq!(v.json_string(), json);
        // The API's form decodes to the same value.
        let data: Json =
            serde_json::from_str(&format!(r#"{{"resultType":"vector","result":{}}}"#, json))
                .expect("json");
        assert_eq!(parse_query_data(&data).expect("decodes"), v);

        let empty = SampleHistogram {
            count: 0.0,
            sum: f64::NAN,
            buckets: None,
        };
        let mat = QueryValue::Matrix(vec![(
            m(&[("a", "1")]),
            vec![(1000, 1.0)],
            vec![(2000, empty.clone()), (3000, h)],
        )]);
        assert_eq!(
            mat.promql_string(),
            "{a=\"1\"} =>\n1 @[1]\nCount: 0.000000, Sum: NaN, Buckets: [] @[2]\nCount: 4.000000, Sum: 5.000000, Buckets: [[-0.001,0.001]:1 (0.5,1]:1 (1,2]:2] @[3]"
        );
        let only = QueryValue::Matrix(vec![(m(&[]), vec![], vec![(2000, empty)])]);
        assert_eq!(
            only.json_string(),
            r#"[{"metric":{},"histograms":[[2,{"count":"0","sum":"NaN","buckets":null}]]}]"#
        );
    }
}
