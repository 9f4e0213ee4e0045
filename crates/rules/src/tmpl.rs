//! Label and annotation templates of alerting rules: the one place that calls the
//! `template` crate (Go's text/template with Prometheus's prelude and functions).

use model::{Labels, Timestamp};
use promql::value::Sample;
use template::SampleValue;

use crate::QueryFn;

/// What a template sees (Go's `template.AlertTemplateData`).
pub(crate) struct Data<'a> {
    pub(crate) labels: &'a Labels,
    pub(crate) external_labels: &'a Labels,
    pub(crate) external_url: &'a str,
    /// The sample's float, or its histogram (Prometheus 3 passes `smpl.H` when set).
    pub(crate) value: SampleValue,
}

/// The template value of a query result sample: its histogram if it has one, else its float.
pub(crate) fn sample_value(s: &Sample) -> SampleValue {
    match &s.h {
        Some(h) => SampleValue::Histogram(h.clone()),
        None => SampleValue::Float(s.f),
    }
}

/// Parses `text` as template `name` without running it (promtool check rules).
pub(crate) fn check(name: &str, text: &str) -> Result<(), String> {
    template::check(name, text).map_err(|e| e.to_string())
}

/// Expands template `name` for one alert evaluated at `ts`; the template's `query`
/// function runs through `query` at the same time.
pub(crate) fn expand(
    name: &str,
    text: &str,
    data: &Data<'_>,
    ts: Timestamp,
    query: &QueryFn,
) -> Result<String, String> {
    let td = template::TemplateData {
        labels: data.labels.clone(),
        external_labels: data.external_labels.clone(),
        external_url: data.external_url.to_string(),
        value: data.value.clone(),
    };
    let run_query = |q: &str| {
        query(q, ts)
            .map(|v| {
                v.into_iter()
                    .map(|s| template::QuerySample {
                        value: sample_value(&s),
                        labels: s.metric,
                    })
                    .collect()
            })
            .map_err(|e| e.to_string())
    };
    template::expand(name, text, &td, ts, &run_query).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn prelude_variables_functions_and_queries_expand() {
        let labels = Labels::from_pairs([("instance", "a:1")]);
        let ext = Labels::from_pairs([("dc", "eu")]);
        let data = Data {
            labels: &labels,
            external_labels: &ext,
            external_url: "http://x",
            value: 0.5.into(),
        };
        let q: QueryFn = Arc::new(|expr: &str, t| {
            Ok(vec![Sample {
                h: None,
                metric: Labels::from_pairs([("q", expr)]),
                t,
                f: 42.0,
                drop_name: false,
            }])
        });
        assert_eq!(
            expand(
                "t",
                "{{ $labels.instance }} is {{ $value | humanizePercentage }} in {{$externalLabels.dc}} {{ $externalURL }}; {{ with query \"up\" }}{{ . | first | value }}{{ end }}",
                &data,
                0,
                &q
            )
            .as_deref(),
            Ok("a:1 is 50% in eu http://x; 42")
        );
    }

    #[test]
    fn undefined_variables_fail_the_check() {
        assert_eq!(
            check(
                "__alert_InstanceDown",
                "Instance {{ $label.instance }} down"
            ),
            Err("template: __alert_InstanceDown:1: undefined variable \"$label\"".to_string())
        );
        assert!(check("x", "{{ $labels.instance }} {{ $value }}").is_ok());
    }
}
