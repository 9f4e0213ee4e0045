//! Status endpoints beyond the basic ones: `/status/tsdb/blocks`, `/status/walreplay`,
//! `/status/self_metrics`, `/notifications` and `/features`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use scrape::textparse::{self, MetricType, Sample};

use super::{ApiData, ApiResult, blocking};
use crate::error::{ApiError, ErrorType};
use crate::handler::Inner;
use crate::json;
use crate::params::Form;

/// `/api/v1/status/tsdb/blocks`: `{"blocks":[meta.json, ...]}`.
pub(super) async fn tsdb_blocks(inner: &Arc<Inner>) -> ApiResult {
    let Some(stats) = inner.opts.tsdb_stats.clone() else {
        return Err(ApiError::not_implemented("TSDB block listing"));
    };
    let metas = blocking(move || stats.block_metas()).await?.map_err(|e| {
        ApiError::new(
            ErrorType::Internal,
            format!("error getting block metadata: {e}"),
        )
    })?;
    let mut out = String::from("{\"blocks\":");
    out.push_str(&json::to_go_json(&metas));
    out.push('}');
    Ok(ApiData::json(out))
}

/// `/api/v1/status/walreplay`: `{"min":0,"max":3,"current":3}`.
pub(super) fn wal_replay(inner: &Arc<Inner>) -> String {
    let s = inner.opts.status.wal_replay();
    format!(
        "{{\"min\":{},\"max\":{},\"current\":{}}}",
        s.min, s.max, s.current
    )
}

/// `/api/v1/notifications`: the active notifications, oldest first.
pub(super) fn notifications(inner: &Arc<Inner>) -> String {
    let mut out = String::from("[");
    for (i, n) in inner.opts.status.notifications().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        crate::notifications::write_json(&mut out, n);
    }
    out.push(']');
    out
}

/// `/api/v1/features`: what this server supports, by category, as Prometheus's feature
/// registry reports it (`{"api":{"admin":false,...},"promql_functions":{"abs":true,...}}`).
pub(super) fn features(inner: &Arc<Inner>) -> String {
    let opts = &inner.opts;
    let enabled_flags = opts
        .flags
        .get("enable-feature")
        .map(String::as_str)
        .unwrap_or_default();
    let flag_on = |name: &str| enabled_flags.split(',').any(|f| f.trim() == name);
    let mut all: BTreeMap<&str, BTreeMap<String, bool>> = BTreeMap::new();
    let api = all.entry("api").or_default();
    for (name, on) in [
        ("admin", opts.enable_admin_api),
        ("exclude_alerts", true),
        ("label_values_match", true),
        ("lifecycle", opts.enable_lifecycle),
        ("otlp_write_receiver", opts.otlp_write_receiver.is_some()),
        ("query_stats", true),
        ("query_warnings", true),
        (
            "remote_write_receiver",
            opts.remote_write_receiver.is_some(),
        ),
        ("time_range_labels", true),
        ("time_range_series", true),
    ] {
        api.insert(name.to_owned(), on);
    }
    let prometheus = all.entry("prometheus").or_default();
    prometheus.insert("agent_mode".into(), opts.agent);
    prometheus.insert("server_mode".into(), !opts.agent);
    let experimental = flag_on("promql-experimental-functions");
    let functions = all.entry("promql_functions").or_default();
    for f in promql::parser::FUNCTIONS {
        functions.insert(f.name.to_owned(), !f.experimental || experimental);
    }
    let promql = all.entry("promql").or_default();
    for (name, on) in [
        ("at_modifier", true),
        ("negative_offset", true),
        ("experimental_functions", experimental),
        (
            "delayed_name_removal",
            inner.opts.engine.opts().enable_delayed_name_removal,
        ),
        (
            "per_step_stats",
            inner.opts.engine.opts().enable_per_step_stats,
        ),
    ] {
        promql.insert(name.to_owned(), on);
    }
    json::to_go_json(&all)
}

/// `/api/v1/status/self_metrics` (`metric_name_pattern`): the server's own metrics, as
/// Prometheus returns its registry's families in protobuf-JSON form.
pub(super) fn self_metrics(inner: &Arc<Inner>, form: &Form) -> ApiResult {
    let pattern = form.value("metric_name_pattern");
    let filter = if pattern.is_empty() {
        None
    } else {
        Some(
            model::regexp::Regex::new(pattern)
                .map_err(|e| ApiError::bad_data(format!("invalid metric_name_pattern: {e}")))?,
        )
    };
    let text = crate::metrics::render(inner);
    let mut text = text;
    if let Some(hook) = &inner.opts.metrics_hook {
        hook(&mut text);
    }
    let mut parser = textparse::PromParser::new(text.as_bytes());
    let families = textparse::collect_families(&mut parser)
        .map_err(|e| ApiError::new(ErrorType::Internal, format!("error gathering metrics: {e}")))?;
    let mut out = String::from("[");
    let mut first = true;
    for fam in &families {
        if filter.as_ref().is_some_and(|re| !re.is_match(&fam.name)) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_family(&mut out, fam);
    }
    out.push(']');
    Ok(ApiData::json(out))
}

/// A protobuf-JSON double: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
fn proto_double(v: f64) -> String {
    if v.is_nan() {
        "\"NaN\"".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "\"Infinity\"".into()
        } else {
            "\"-Infinity\"".into()
        }
    } else {
        model::strconv::format_float_json(v)
    }
}

/// The labels of a sample without `__name__` and the given bucket label, in protobuf-JSON.
fn write_label_pairs(out: &mut String, sample: &Sample, skip: &str) {
    out.push_str("\"label\":[");
    let mut first = true;
    for (name, value) in sample.labels.iter() {
        if name == "__name__" || name == skip {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str("{\"name\":");
        json::write_str(out, name);
        out.push_str(",\"value\":");
        json::write_str(out, value);
        out.push('}');
    }
    out.push(']');
}

/// A sample's labels without `__name__` and the bucket label.
type SeriesKey = Vec<(String, String)>;

/// The series key of a sample, without `__name__` and `skip` (to group histogram lines).
fn group_key(sample: &Sample, skip: &str) -> SeriesKey {
    sample
        .labels
        .iter()
        .filter(|(n, _)| *n != "__name__" && *n != skip)
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

fn write_family(out: &mut String, fam: &textparse::MetricFamily) {
    let ty = fam.metric_type.unwrap_or(MetricType::Unknown);
    out.push_str("{\"name\":");
    json::write_str(out, &fam.name);
    if let Some(help) = &fam.help {
        out.push_str(",\"help\":");
        json::write_str(out, help);
    }
    let type_name = match ty {
        MetricType::Counter => "COUNTER",
        MetricType::Gauge => "GAUGE",
        MetricType::Histogram => "HISTOGRAM",
        MetricType::Summary => "SUMMARY",
        _ => "UNTYPED",
    };
    let _ = write!(out, ",\"type\":\"{type_name}\",\"metric\":[");
    match ty {
        MetricType::Histogram | MetricType::Summary => {
            let (skip, field) = if ty == MetricType::Histogram {
                ("le", "histogram")
            } else {
                ("quantile", "summary")
            };
            // Samples of one series are adjacent in the exposition.
            let mut groups: Vec<(SeriesKey, Vec<&Sample>)> = Vec::new();
            for s in &fam.samples {
                let key = group_key(s, skip);
                match groups.last_mut() {
                    Some((k, list)) if *k == key => list.push(s),
                    _ => groups.push((key, vec![s])),
                }
            }
            for (i, (_, samples)) in groups.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('{');
                write_label_pairs(out, samples[0], skip);
                let _ = write!(out, ",\"{field}\":{{");
                let mut count = 0.0;
                let mut sum = 0.0;
                let mut points = Vec::new();
                for s in samples {
                    let name = s.labels.get("__name__").unwrap_or("");
                    if name.ends_with("_count") {
                        count = s.value;
                    } else if name.ends_with("_sum") {
                        sum = s.value;
                    } else if let Some(b) = s.labels.get(skip) {
                        let bound = b.parse::<f64>().unwrap_or(f64::NAN);
                        points.push((bound, s.value));
                    }
                }
                // Counts are uint64, which protobuf-JSON writes as strings.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let _ = write!(
                    out,
                    "\"sampleCount\":\"{}\",\"sampleSum\":{}",
                    count as u64,
                    proto_double(sum)
                );
                if ty == MetricType::Histogram {
                    out.push_str(",\"bucket\":[");
                    for (j, (bound, c)) in points.iter().filter(|(b, _)| b.is_finite()).enumerate()
                    {
                        if j > 0 {
                            out.push(',');
                        }
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        let _ = write!(
                            out,
                            "{{\"cumulativeCount\":\"{}\",\"upperBound\":{}}}",
                            *c as u64,
                            proto_double(*bound)
                        );
                    }
                } else {
                    out.push_str(",\"quantile\":[");
                    for (j, (q, v)) in points.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        let _ = write!(
                            out,
                            "{{\"quantile\":{},\"value\":{}}}",
                            proto_double(*q),
                            proto_double(*v)
                        );
                    }
                }
                out.push_str("]}}");
            }
        }
        _ => {
            let field = match ty {
                MetricType::Counter => "counter",
                MetricType::Gauge => "gauge",
                _ => "untyped",
            };
            for (i, s) in fam.samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('{');
                write_label_pairs(out, s, "");
                let _ = write!(
                    out,
                    ",\"{field}\":{{\"value\":{}}}}}",
                    proto_double(s.value)
                );
            }
        }
    }
    out.push_str("]}");
}
