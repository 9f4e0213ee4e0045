//! The alert sent to Alertmanagers, its API v2 JSON form, and alert relabeling.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use model::{Labels, LabelsBuilder, relabel};
use serde::Serialize;

/// An alert as Prometheus sends it to Alertmanagers (Go's `notifier.Alert`).
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The identifying labels; must include `alertname`.
    pub labels: Labels,
    /// Extra information that does not identify the alert.
    pub annotations: Labels,
    /// When the alert started firing.
    pub starts_at: SystemTime,
    /// When the alert ends (resolved or valid-until time); `None` for open-ended.
    pub ends_at: Option<SystemTime>,
    /// A link back to the expression that produced the alert (may be empty).
    pub generator_url: String,
}

impl Alert {
    /// The alert's name (its `alertname` label, empty when missing).
    pub fn name(&self) -> &str {
        self.labels.get("alertname").unwrap_or("")
    }

    /// Whether the alert's activity ended at or before `t` (Go's `ResolvedAt`).
    pub fn resolved_at(&self, t: SystemTime) -> bool {
        self.ends_at.is_some_and(|e| e <= t)
    }
}

/// One element of Alertmanager API v2's `PostableAlerts`, in the field order Go's generated
/// models write them.
#[derive(Serialize)]
struct PostableAlert<'a> {
    #[serde(skip_serializing_if = "Labels::is_empty")]
    annotations: &'a Labels,
    #[serde(rename = "endsAt")]
    ends_at: String,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "generatorURL", skip_serializing_if = "str::is_empty")]
    generator_url: &'a str,
    labels: &'a Labels,
}

/// The Alertmanager API v2 `PostableAlerts` JSON body for `alerts`: a list of objects with
/// `labels` and `annotations` as string maps, `startsAt`/`endsAt` as RFC 3339 with
/// milliseconds (an open end is Go's zero time, `0001-01-01T00:00:00.000Z`) and
/// `generatorURL` (left out when empty). Strings are escaped as Go's `json.Marshal` does
/// (`<`, `>`, `&`, U+2028 and U+2029 too), so the body is byte for byte Prometheus's.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let alert = notifier::Alert {
///     labels: model::Labels::from_pairs([("alertname", "Down")]),
///     annotations: model::Labels::empty(),
///     starts_at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
///     ends_at: None,
///     generator_url: String::new(),
/// };
/// assert_eq!(
///     notifier::encode_postable_alerts(&[alert]),
///     r#"[{"endsAt":"0001-01-01T00:00:00.000Z","startsAt":"2023-11-14T22:13:20.123Z","labels":{"alertname":"Down"}}]"#,
/// );
/// ```
pub fn encode_postable_alerts(alerts: &[Alert]) -> String {
    let postable: Vec<PostableAlert<'_>> = alerts
        .iter()
        .map(|a| PostableAlert {
            annotations: &a.annotations,
            ends_at: a
                .ends_at
                .map_or_else(|| GO_ZERO_TIME.to_owned(), format_rfc3339_millis),
            starts_at: format_rfc3339_millis(a.starts_at),
            generator_url: &a.generator_url,
            labels: &a.labels,
        })
        .collect();
    let mut out = Vec::with_capacity(alerts.len() * 256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoEscapes);
    postable
        .serialize(&mut ser)
        .expect("string maps and strings always serialize");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Writes strings as Go's `encoding/json` (`json.Marshal`, which Prometheus's notifier
/// uses) escapes them: beyond what `serde_json` escapes (quotes, backslashes, control
/// characters, with the same `\b`, `\f`, `\n`, `\r`, `\t` short forms and lowercase
/// `\u00XX`), `<`, `>` and `&` become `\u003c`, `\u003e`, `\u0026`, and U+2028 and U+2029
/// become `\u2028` and `\u2029`.
struct GoEscapes;

impl serde_json::ser::Formatter for GoEscapes {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let b = fragment.as_bytes();
        let mut start = 0;
        let mut i = 0;
        while i < b.len() {
            let (escape, len) = match b[i] {
                b'<' => ("\\u003c", 1),
                b'>' => ("\\u003e", 1),
                b'&' => ("\\u0026", 1),
                // U+2028 and U+2029 are E2 80 A8 and E2 80 A9 in UTF-8.
                0xe2 if b.get(i + 1) == Some(&0x80) && b.get(i + 2) == Some(&0xa8) => {
                    ("\\u2028", 3)
                }
                0xe2 if b.get(i + 1) == Some(&0x80) && b.get(i + 2) == Some(&0xa9) => {
                    ("\\u2029", 3)
                }
                _ => {
                    i += 1;
                    continue;
                }
            };
            writer.write_all(&b[start..i])?;
            writer.write_all(escape.as_bytes())?;
            i += len;
            start = i;
        }
        writer.write_all(&b[start..])
    }
}

/// Go's zero `time.Time` in `strfmt.DateTime`'s format.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00.000Z";

/// `t` in UTC as RFC 3339 with exactly three fractional digits (truncated), as
/// `strfmt.DateTime` marshals it: `2006-01-02T15:04:05.000Z`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// assert_eq!(
///     notifier::format_rfc3339_millis(UNIX_EPOCH + Duration::from_micros(86_400_001_999)),
///     "1970-01-02T00:00:00.001Z",
/// );
/// ```
pub fn format_rfc3339_millis(t: SystemTime) -> String {
    let ms: i64 = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => {
            // Before 1970: round toward negative infinity so the fraction stays positive.
            let d = e.duration();
            let whole = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            let partial = i64::from(d.as_nanos() % 1_000_000 != 0);
            -whole.saturating_add(partial)
        }
    };
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, mo, d) = model::civil::civil_from_days(days);
    let mut out = String::with_capacity(24);
    let _ = write!(
        out,
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    );
    out
}

/// The `generatorURL` Prometheus gives an alert of a rule with expression `expr`:
/// `external_url` followed by the table-view link of `expr` (Go's
/// `strutil.TableLinkForExpression`, the expression escaped as `url.QueryEscape` does).
///
/// ```
/// assert_eq!(
///     notifier::generator_url("http://prom:9090", "rate(x[5m]) > 0.5"),
///     "http://prom:9090/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+0.5&g0.tab=1",
/// );
/// ```
pub fn generator_url(external_url: &str, expr: &str) -> String {
    format!(
        "{external_url}{}",
        model::strutil::table_link_for_expression(expr)
    )
}

/// Adds `external` labels the alert lacks (its own label wins), then applies `cfgs`; alerts
/// that relabeling drops are left out (Go's `relabelAlerts`).
pub(crate) fn relabel_alerts(
    cfgs: &[relabel::Config],
    external: &Labels,
    alerts: Vec<Alert>,
) -> Vec<Alert> {
    if cfgs.is_empty() && external.is_empty() {
        return alerts;
    }
    let mut lb = LabelsBuilder::default();
    alerts
        .into_iter()
        .filter_map(|mut a| {
            lb.reset(&a.labels);
            for (name, value) in external.iter() {
                if a.labels.get(name).unwrap_or("").is_empty() {
                    lb.set(name, value);
                }
            }
            if !relabel::process_builder(&mut lb, cfgs) {
                return None;
            }
            a.labels = lb.labels();
            Some(a)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn alert(pairs: &[(&str, &str)]) -> Alert {
        Alert {
            labels: Labels::from_pairs(pairs.iter().copied()),
            annotations: Labels::from_pairs([("summary", "it \"broke\"")]),
            starts_at: UNIX_EPOCH + Duration::from_secs(1_600_000_000),
            ends_at: Some(UNIX_EPOCH + Duration::from_millis(1_600_000_060_500)),
            generator_url: "http://prom:9090/graph?g0.expr=up".into(),
        }
    }

    #[test]
    fn postable_alerts_json() {
        let json = encode_postable_alerts(&[alert(&[("alertname", "A"), ("job", "x")])]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            v,
            serde_json::json!([{
                "annotations": {"summary": "it \"broke\""},
                "endsAt": "2020-09-13T12:27:40.500Z",
                "startsAt": "2020-09-13T12:26:40.000Z",
                "generatorURL": "http://prom:9090/graph?g0.expr=up",
                "labels": {"alertname": "A", "job": "x"},
            }])
        );
        assert_eq!(encode_postable_alerts(&[]), "[]");
    }

    #[test]
    fn strings_are_escaped_as_go_json_marshal_does() {
        // What Prometheus 3.5.3 posted for this annotation and generator URL.
        let mut a = alert(&[("alertname", "Esc")]);
        a.annotations = Labels::from_pairs([(
            "a",
            "<>&\u{8}\u{c}\u{2028}\u{2029}\u{1}\u{7f} \u{e9} \t\n\r \"q\" \\",
        )]);
        a.generator_url = "http://p/graph?g0.expr=up&g0.tab=1".into();
        let json = encode_postable_alerts(&[a]);
        assert!(
            json.starts_with(concat!(
                r#"[{"annotations":{"a":"\u003c\u003e\u0026\b\f\u2028\u2029\u0001"#,
                "\u{7f} \u{e9} ",
                r#"\t\n\r \"q\" \\"},"#,
            )),
            "{json}"
        );
        assert!(
            json.contains(r#""generatorURL":"http://p/graph?g0.expr=up\u0026g0.tab=1""#),
            "{json}"
        );
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            back[0]["annotations"]["a"],
            "<>&\u{8}\u{c}\u{2028}\u{2029}\u{1}\u{7f} \u{e9} \t\n\r \"q\" \\"
        );
    }

    #[test]
    fn rfc3339_before_epoch_and_truncation() {
        assert_eq!(
            format_rfc3339_millis(UNIX_EPOCH - Duration::from_micros(1500)),
            "1969-12-31T23:59:59.998Z"
        );
        assert_eq!(
            format_rfc3339_millis(UNIX_EPOCH + Duration::from_nanos(999_999)),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn external_labels_do_not_override_and_relabel_drops() {
        let external = Labels::from_pairs([("cluster", "ext"), ("region", "eu")]);
        let cfg: relabel::Config = serde_json::from_value(serde_json::json!({
            "source_labels": ["severity"], "regex": "none", "action": "drop"
        }))
        .unwrap();
        let out = relabel_alerts(
            &[cfg],
            &external,
            vec![
                alert(&[("alertname", "A"), ("cluster", "own")]),
                alert(&[("alertname", "B"), ("severity", "none")]),
                alert(&[("alertname", "C"), ("cluster", "")]),
            ],
        );
        let got: Vec<String> = out.iter().map(|a| a.labels.to_string()).collect();
        assert_eq!(
            got,
            [
                r#"{alertname="A", cluster="own", region="eu"}"#,
                r#"{alertname="C", cluster="ext", region="eu"}"#,
            ]
        );
    }

    /// Milliseconds since the epoch of `2006-01-02T15:04:05.000Z`.
    fn parse_rfc3339_millis(s: &str) -> i64 {
        let num = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap();
        assert_eq!(s.len(), 24, "{s}");
        assert_eq!(&s[23..], "Z");
        let days = model::civil::days_from_civil(num(0..4), num(5..7) as u32, num(8..10) as u32);
        ((days * 24 + num(11..13)) * 60 + num(14..16)) * 60_000 + num(17..19) * 1000 + num(20..23)
    }

    proptest::proptest! {
        #[test]
        fn postable_json_round_trips(
            labels in proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,8}", "\\PC{0,12}", 1..5),
            annotations in proptest::collection::btree_map("\\PC{1,8}", "\\PC{0,30}", 0..3),
            start_ms in 0i64..253_402_300_799_999,
            end_ms in proptest::option::of(0i64..253_402_300_799_999),
            generator_url in "\\PC{0,20}",
        ) {
            let at = |ms: i64| UNIX_EPOCH + Duration::from_millis(ms as u64);
            let labels_set = Labels::from_pairs(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let alert = Alert {
                labels: labels_set.clone(),
                annotations: Labels::from_pairs(annotations.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                starts_at: at(start_ms),
                ends_at: end_ms.map(at),
                generator_url: generator_url.clone(),
            };
            let v: serde_json::Value = serde_json::from_str(&encode_postable_alerts(std::slice::from_ref(&alert))).unwrap();
            let got = &v[0];
            let as_map = |labels: &Labels| -> serde_json::Map<String, serde_json::Value> {
                labels.iter().map(|(k, v)| (k.to_owned(), serde_json::Value::from(v))).collect()
            };
            proptest::prop_assert_eq!(got["labels"].as_object().unwrap(), &as_map(&labels_set));
            if alert.annotations.is_empty() {
                proptest::prop_assert!(got.get("annotations").is_none());
            } else {
                proptest::prop_assert_eq!(got["annotations"].as_object().unwrap(), &as_map(&alert.annotations));
            }
            proptest::prop_assert_eq!(parse_rfc3339_millis(got["startsAt"].as_str().unwrap()), start_ms);
            match end_ms {
                Some(ms) => proptest::prop_assert_eq!(parse_rfc3339_millis(got["endsAt"].as_str().unwrap()), ms),
                None => proptest::prop_assert_eq!(got["endsAt"].as_str().unwrap(), GO_ZERO_TIME),
            }
            proptest::prop_assert_eq!(got.get("generatorURL").and_then(|g| g.as_str()).unwrap_or(""), generator_url);
        }
    }

    #[test]
    fn resolved_at() {
        let a = alert(&[("alertname", "A")]);
        assert_eq!(a.name(), "A");
        let end = a.ends_at.unwrap();
        assert!(a.resolved_at(end));
        assert!(!a.resolved_at(end - Duration::from_millis(1)));
        let open = Alert { ends_at: None, ..a };
        assert!(!open.resolved_at(SystemTime::now()));
    }
}
