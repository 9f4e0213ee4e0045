//! `/federate`: the latest sample of every series matching `match[]`, in the text exposition
//! format, with the external labels attached (Prometheus's web/federate.go).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use model::{Labels, METRIC_NAME};
use storage::{SelectHints, ValueType};

use crate::handler::Inner;
use crate::params::{Form, parse_matchers};
use crate::status::unix_millis;

/// The outcome of a federation request: the body, or an HTTP status and plain-text error.
pub(crate) type Federation = Result<String, (http::StatusCode, String)>;

/// A sample: timestamp (ms) and value.
type Sample = (i64, f64);

/// Answers a federation request at the current time.
pub(crate) async fn federate(inner: &Arc<Inner>, form: &Form) -> Federation {
    let now = unix_millis(SystemTime::now());
    federate_at(inner, form, now).await
}

/// Answers a federation request at `now` (ms), counting errors (the storage's, not the
/// request's) and the storage's warnings in `prometheus_web_federation_*_total`.
pub(crate) async fn federate_at(inner: &Arc<Inner>, form: &Form, now: i64) -> Federation {
    let sets = parse_matchers(&form.values("match[]"))
        .map_err(|e| (http::StatusCode::BAD_REQUEST, format!("{e}\n")))?;
    let lookback =
        i64::try_from(inner.opts.engine.opts().lookback_delta.as_millis()).unwrap_or(i64::MAX);
    let (mint, maxt) = (now.saturating_sub(lookback), now);
    let external = inner
        .opts
        .status
        .config()
        .map(|c| c.global.external_labels())
        .unwrap_or_default();
    let queryable = inner.opts.queryable.clone();
    let counters = inner.clone();
    let task = tokio::task::spawn_blocking(move || -> Federation {
        let querier = queryable.querier(mint, maxt).map_err(|e| {
            let status = if matches!(e, storage::Error::NotReady) {
                http::StatusCode::SERVICE_UNAVAILABLE
            } else {
                http::StatusCode::INTERNAL_SERVER_ERROR
            };
            (status, format!("{e}\n"))
        })?;
        let hints = SelectHints {
            start: mint,
            end: maxt,
            func: Some("series".into()),
            ..SelectHints::default()
        };
        // Latest sample of each series, deduplicated across match[] sets.
        let mut latest: BTreeMap<Labels, Sample> = BTreeMap::new();
        for matchers in &sets {
            let mut set = querier.select(true, Some(&hints), matchers);
            while let Some(series) = set.next() {
                let series = series
                    .map_err(|e| (http::StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")))?;
                let mut it = series.iterator();
                let mut last = None;
                let mut kind = it.seek(mint);
                while kind == ValueType::Float {
                    let (t, v) = it.at();
                    if t > maxt {
                        break;
                    }
                    last = Some((t, v));
                    kind = it.next();
                }
                if let Some((t, v)) = last
                    && !model::value::is_stale_nan(v)
                {
                    latest.insert(series.labels().clone(), (t, v));
                }
            }
            let warnings = set.warnings().len();
            if warnings > 0 {
                tracing::debug!(?warnings, "federation select returned warnings");
                #[allow(clippy::cast_precision_loss)]
                counters
                    .web_metrics
                    .federation_warnings
                    .add(warnings as f64);
            }
        }
        Ok(render(&latest, &external))
    });
    let answer = task.await.map_err(|e| {
        (
            http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("federation failed: {e}\n"),
        )
    });
    let answer = answer.and_then(|a| a);
    if answer.is_err() {
        inner.web_metrics.federation_errors.inc();
    }
    answer
}

/// Writes the samples grouped by metric name (families sorted by name), each family
/// `untyped`, series labels first and then the external labels the series lacks.
fn render(latest: &BTreeMap<Labels, Sample>, external: &Labels) -> String {
    let mut families: BTreeMap<&str, Vec<(&Labels, Sample)>> = BTreeMap::new();
    for (labels, sample) in latest {
        let name = labels.metric_name().unwrap_or("");
        families.entry(name).or_default().push((labels, *sample));
    }
    let mut out = String::new();
    for (name, series) in families {
        let _ = writeln!(out, "# TYPE {name} untyped");
        for (labels, (t, v)) in series {
            out.push_str(name);
            let own: BTreeSet<&str> = labels.iter().map(|(n, _)| n).collect();
            let pairs = labels
                .iter()
                .filter(|(n, _)| *n != METRIC_NAME)
                .chain(external.iter().filter(|(n, _)| !own.contains(n)));
            let mut first = true;
            for (n, v) in pairs {
                out.push(if first { '{' } else { ',' });
                first = false;
                let _ = write!(out, "{n}=\"{}\"", model::exposition::escape_label_value(v));
            }
            if !first {
                out.push('}');
            }
            let _ = writeln!(out, " {} {t}", model::strconv::format_float_g(v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_families_with_external_labels() {
        let mut latest = BTreeMap::new();
        latest.insert(
            Labels::from_pairs([("__name__", "up"), ("job", "a"), ("dc", "own")]),
            (1_000, 1.0),
        );
        latest.insert(
            Labels::from_pairs([("__name__", "go_goroutines"), ("job", "a")]),
            (2_000, 1_234_567.0),
        );
        let external = Labels::from_pairs([("dc", "eu"), ("replica", "x\"y")]);
        assert_eq!(
            render(&latest, &external),
            concat!(
                "# TYPE go_goroutines untyped\n",
                "go_goroutines{job=\"a\",dc=\"eu\",replica=\"x\\\"y\"} 1.234567e+06 2000\n",
                "# TYPE up untyped\n",
                "up{dc=\"own\",job=\"a\",replica=\"x\\\"y\"} 1 1000\n",
            )
        );
    }
}
