//! `/api/v1/rules`, `/api/v1/alerts` and `/api/v1/alertmanagers`: the narrow traits the
//! binary implements over the rule manager and the notifier, and Prometheus's JSON shapes.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::SystemTime;

use model::Labels;

use crate::error::ApiError;
use crate::json;
use crate::params::{Form, go_quote, parse_matchers};
use crate::timefmt::{GoTime, format_rfc3339};

/// What the rule manager shows of its groups (Go's `RulesRetriever`). The binary implements
/// it over the `rules` crate; without it the server has no rules, as a Prometheus without
/// rule files.
pub trait RulesSource: Send + Sync {
    /// Every rule group, in the order of the rule files and groups.
    fn rule_groups(&self) -> Vec<RuleGroupView>;
}

/// Which Alertmanagers the notifier sends to (Go's `AlertmanagerRetriever`).
pub trait AlertmanagersSource: Send + Sync {
    /// The active and the dropped Alertmanager URLs (`http://host:9093/api/v2/alerts`).
    fn alertmanagers(&self) -> (Vec<String>, Vec<String>);
}

/// One rule group as `/api/v1/rules` shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleGroupView {
    /// The group's name.
    pub name: String,
    /// The rule file it comes from.
    pub file: String,
    /// The evaluation interval in seconds.
    pub interval_secs: f64,
    /// The group's `limit` (0: none).
    pub limit: i64,
    /// How long the last evaluation took, in seconds.
    pub evaluation_time_secs: f64,
    /// When the group was last evaluated (`None`: never).
    pub last_evaluation: Option<SystemTime>,
    /// The rules, in file order.
    pub rules: Vec<RuleView>,
}

/// Whether a rule's last evaluation worked (Go's `RuleHealth`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RuleHealth {
    /// Not evaluated yet.
    #[default]
    Unknown,
    /// The last evaluation succeeded.
    Ok,
    /// The last evaluation failed.
    Err,
}

impl RuleHealth {
    fn as_str(self) -> &'static str {
        match self {
            RuleHealth::Unknown => "unknown",
            RuleHealth::Ok => "ok",
            RuleHealth::Err => "err",
        }
    }
}

/// The state of an alerting rule or alert (Go's `AlertState`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AlertState {
    /// Not active.
    #[default]
    Inactive,
    /// Active, waiting for its `for` duration.
    Pending,
    /// Firing.
    Firing,
}

impl AlertState {
    fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One rule of a group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleView {
    /// The recorded metric name or the alert name.
    pub name: String,
    /// The rule's expression, as Prometheus prints it.
    pub query: String,
    /// The labels the rule adds.
    pub labels: Labels,
    /// The health of the last evaluation.
    pub health: RuleHealth,
    /// The last evaluation's error, if it failed.
    pub last_error: Option<String>,
    /// How long the last evaluation took, in seconds.
    pub evaluation_time_secs: f64,
    /// When the rule was last evaluated (`None`: never).
    pub last_evaluation: Option<SystemTime>,
    /// `Some` for an alerting rule, `None` for a recording rule.
    pub alerting: Option<AlertingView>,
}

/// What only alerting rules have.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertingView {
    /// The rule's state (the most advanced of its alerts).
    pub state: AlertState,
    /// The `for` duration in seconds.
    pub duration_secs: f64,
    /// The `keep_firing_for` duration in seconds.
    pub keep_firing_for_secs: f64,
    /// The rule's annotations (templates, unexpanded).
    pub annotations: Labels,
    /// The active (pending or firing) alerts.
    pub alerts: Vec<AlertView>,
}

/// One active alert.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertView {
    /// The alert's labels.
    pub labels: Labels,
    /// The expanded annotations.
    pub annotations: Labels,
    /// Pending or firing.
    pub state: AlertState,
    /// When the alert became active.
    pub active_at: Option<SystemTime>,
    /// Since when it keeps firing after its condition cleared (`None`: it does not).
    pub keep_firing_since: Option<SystemTime>,
    /// The sample value that triggered it.
    pub value: f64,
}

/// Go's `time.Time` JSON (RFC 3339 with nanoseconds; the zero time when `None`).
fn write_time(out: &mut String, t: Option<SystemTime>) {
    let s = match t {
        None => "0001-01-01T00:00:00Z".to_owned(),
        Some(t) => format_rfc3339(GoTime::from_system(t)),
    };
    json::write_str(out, &s);
}

/// Go's `json.Marshal` of a float64 field (shortest form, exponent from 1e21 and below
/// 1e-6).
fn write_f64(out: &mut String, v: f64) {
    if v.is_finite() {
        out.push_str(&model::strconv::format_float_json(v));
    } else {
        // Go refuses to encode these; durations and timings never are.
        out.push('0');
    }
}

fn write_alert(out: &mut String, a: &AlertView) {
    out.push_str("{\"labels\":");
    json::write_labels(out, &a.labels);
    out.push_str(",\"annotations\":");
    json::write_labels(out, &a.annotations);
    out.push_str(",\"state\":\"");
    out.push_str(a.state.as_str());
    out.push_str("\",\"activeAt\":");
    write_time(out, a.active_at);
    if let Some(since) = a.keep_firing_since {
        out.push_str(",\"keepFiringSince\":");
        write_time(out, Some(since));
    }
    out.push_str(",\"value\":");
    // Go's strconv.FormatFloat(v, 'e', -1, 64).
    json::write_str(out, &format_float_e(a.value));
    out.push('}');
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: `1e+00`, `4.2e+01`, `NaN`, `+Inf`.
fn format_float_e(v: f64) -> String {
    model::strconv::format_float_e(v)
}

fn write_alert_list<'a>(out: &mut String, alerts: impl IntoIterator<Item = &'a AlertView>) {
    out.push('[');
    for (i, a) in alerts.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_alert(out, a);
    }
    out.push(']');
}

/// Answers `/api/v1/alerts`: every active alert of every alerting rule.
pub(super) fn alerts(source: Option<&dyn RulesSource>) -> String {
    let groups = source.map(RulesSource::rule_groups).unwrap_or_default();
    let alerts = groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter_map(|r| r.alerting.as_ref())
        .flat_map(|a| &a.alerts);
    let mut out = String::from("{\"alerts\":");
    write_alert_list(&mut out, alerts);
    out.push('}');
    out
}

/// Answers `/api/v1/alertmanagers`.
pub(super) fn alertmanagers(source: Option<&dyn AlertmanagersSource>) -> String {
    let (active, dropped) = source.map(|s| s.alertmanagers()).unwrap_or_default();
    let list = |out: &mut String, urls: &[String]| {
        out.push('[');
        for (i, u) in urls.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"url\":");
            json::write_str(out, u);
            out.push('}');
        }
        out.push(']');
    };
    let mut out = String::from("{\"activeAlertmanagers\":");
    list(&mut out, &active);
    out.push_str(",\"droppedAlertmanagers\":");
    list(&mut out, &dropped);
    out.push('}');
    out
}

/// Go's `strconv.ParseBool`.
pub(super) fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `getRuleGroupNextToken`: the hex SHA-1 of `file;group`.
fn next_token(file: &str, group: &str) -> String {
    let digest = sha1_smol(format!("{file};{group}").as_bytes());
    let mut s = String::with_capacity(40);
    for b in digest {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A small SHA-1 (FIPS 180-1) for the pagination tokens; no cryptographic use.
fn sha1_smol(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for chunk in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (hv, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *hv = hv.wrapping_add(v);
        }
    }
    let mut out = [0u8; 20];
    for (i, v) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

fn write_rule(out: &mut String, r: &RuleView, exclude_alerts: bool) {
    out.push('{');
    if let Some(a) = &r.alerting {
        out.push_str("\"state\":\"");
        out.push_str(a.state.as_str());
        out.push_str("\",");
    }
    out.push_str("\"name\":");
    json::write_str(out, &r.name);
    out.push_str(",\"query\":");
    json::write_str(out, &r.query);
    match &r.alerting {
        Some(a) => {
            out.push_str(",\"duration\":");
            write_f64(out, a.duration_secs);
            out.push_str(",\"keepFiringFor\":");
            write_f64(out, a.keep_firing_for_secs);
            out.push_str(",\"labels\":");
            json::write_labels(out, &r.labels);
            out.push_str(",\"annotations\":");
            json::write_labels(out, &a.annotations);
            out.push_str(",\"alerts\":");
            if exclude_alerts {
                // Go leaves the slice nil.
                out.push_str("null");
            } else {
                write_alert_list(out, &a.alerts);
            }
        }
        None if r.labels.is_empty() => {
            // `labels,omitempty`: Prometheus 3.5 leaves out a recording rule's empty labels.
        }
        None => {
            out.push_str(",\"labels\":");
            json::write_labels(out, &r.labels);
        }
    }
    out.push_str(",\"health\":\"");
    out.push_str(r.health.as_str());
    out.push('"');
    if let Some(e) = r.last_error.as_deref().filter(|e| !e.is_empty()) {
        out.push_str(",\"lastError\":");
        json::write_str(out, e);
    }
    out.push_str(",\"evaluationTime\":");
    write_f64(out, r.evaluation_time_secs);
    out.push_str(",\"lastEvaluation\":");
    write_time(out, r.last_evaluation);
    out.push_str(",\"type\":\"");
    out.push_str(if r.alerting.is_some() {
        "alerting"
    } else {
        "recording"
    });
    out.push_str("\"}");
}

/// Answers `/api/v1/rules` with Prometheus's filters (`type`, `rule_name[]`,
/// `rule_group[]`, `file[]`, `match[]`, `exclude_alerts`) and pagination (`group_limit`,
/// `group_next_token`).
pub(super) fn rules(source: Option<&dyn RulesSource>, form: &Form) -> Result<String, ApiError> {
    let set = |name: &str| -> HashSet<String> {
        form.values(name).into_iter().map(str::to_owned).collect()
    };
    let names = set("rule_name[]");
    let groups_wanted = set("rule_group[]");
    let files = set("file[]");
    let matcher_sets = parse_matchers(&form.values("match[]")).map_err(ApiError::bad_data)?;
    let typ = form.value("type").to_lowercase();
    if !typ.is_empty() && typ != "alert" && typ != "record" {
        return Err(ApiError::invalid_param(
            "type",
            format!("not supported value {}", go_quote(&typ)),
        ));
    }
    let want_alerting = typ.is_empty() || typ == "alert";
    let want_recording = typ.is_empty() || typ == "record";
    let exclude = form.value("exclude_alerts").to_lowercase();
    let exclude_alerts = if exclude.is_empty() {
        false
    } else {
        parse_bool(&exclude).ok_or_else(|| {
            ApiError::invalid_param(
                "exclude_alerts",
                format!(
                    "error converting exclude_alerts: strconv.ParseBool: parsing {}: invalid syntax",
                    go_quote(&exclude)
                ),
            )
        })?
    };
    let max_groups_s = form.value("group_limit");
    let token = form.value("group_next_token");
    if !token.is_empty() && max_groups_s.is_empty() {
        return Err(ApiError::invalid_param(
            "group_next_token",
            "group_limit needs to be present in order to paginate over the groups",
        ));
    }
    let mut max_groups: i64 = -1;
    if !max_groups_s.is_empty() {
        max_groups = max_groups_s.parse::<i32>().map(i64::from).map_err(|e| {
            let why = match e.kind() {
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                    "value out of range"
                }
                _ => "invalid syntax",
            };
            ApiError::invalid_param(
                "group_limit",
                format!(
                    "group_limit needs to be a valid number: strconv.ParseInt: parsing {}: {why}",
                    go_quote(max_groups_s)
                ),
            )
        })?;
        if max_groups <= 0 {
            return Err(ApiError::invalid_param(
                "group_limit",
                "group_limit needs to be greater than 0",
            ));
        }
    }
    let token = if max_groups > 0 { token } else { "" };
    let groups = source.map(RulesSource::rule_groups).unwrap_or_default();
    let mut out_groups: Vec<String> = Vec::new();
    let mut next: Option<String> = None;
    let mut found_token = false;
    for g in &groups {
        if !token.is_empty() && !found_token {
            if token != next_token(&g.file, &g.name) {
                continue;
            }
            found_token = true;
        }
        if !groups_wanted.is_empty() && !groups_wanted.contains(&g.name) {
            continue;
        }
        if !files.is_empty() && !files.contains(&g.file) {
            continue;
        }
        let mut rules = Vec::new();
        for r in &g.rules {
            if !matcher_sets.is_empty() && !matcher_sets.iter().any(|m| r.labels.matches(m)) {
                continue;
            }
            if !names.is_empty() && !names.contains(&r.name) {
                continue;
            }
            let wanted = if r.alerting.is_some() {
                want_alerting
            } else {
                want_recording
            };
            if wanted {
                let mut s = String::new();
                write_rule(&mut s, r, exclude_alerts);
                rules.push(s);
            }
        }
        if rules.is_empty() {
            continue;
        }
        if max_groups > 0 && i64::try_from(out_groups.len()).unwrap_or(i64::MAX) == max_groups {
            next = Some(next_token(&g.file, &g.name));
            break;
        }
        let mut s = String::from("{\"name\":");
        json::write_str(&mut s, &g.name);
        s.push_str(",\"file\":");
        json::write_str(&mut s, &g.file);
        s.push_str(",\"rules\":[");
        s.push_str(&rules.join(","));
        s.push_str("],\"interval\":");
        write_f64(&mut s, g.interval_secs);
        let _ = write!(s, ",\"limit\":{}", g.limit);
        s.push_str(",\"evaluationTime\":");
        write_f64(&mut s, g.evaluation_time_secs);
        s.push_str(",\"lastEvaluation\":");
        write_time(&mut s, g.last_evaluation);
        s.push('}');
        out_groups.push(s);
    }
    if !token.is_empty() && !found_token {
        return Err(ApiError::invalid_param(
            "group_next_token",
            format!("invalid group_next_token '{token}'. were rule groups changed?"),
        ));
    }
    let mut out = String::from("{\"groups\":[");
    out.push_str(&out_groups.join(","));
    out.push(']');
    if let Some(n) = next {
        out.push_str(",\"groupNextToken\":");
        json::write_str(&mut out, &n);
    }
    out.push('}');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Option<SystemTime> {
        Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
    }

    fn sample_groups() -> Vec<RuleGroupView> {
        vec![
            RuleGroupView {
                name: "g1".into(),
                file: "/rules/a.yml".into(),
                interval_secs: 15.0,
                limit: 0,
                evaluation_time_secs: 0.001,
                last_evaluation: at(1_700_000_000),
                rules: vec![
                    RuleView {
                        name: "job:up:sum".into(),
                        query: "sum by (job) (up)".into(),
                        health: RuleHealth::Ok,
                        evaluation_time_secs: 0.0005,
                        last_evaluation: at(1_700_000_000),
                        ..RuleView::default()
                    },
                    RuleView {
                        name: "Down".into(),
                        query: "up == 0".into(),
                        labels: Labels::from_pairs([("severity", "page")]),
                        health: RuleHealth::Ok,
                        alerting: Some(AlertingView {
                            state: AlertState::Firing,
                            duration_secs: 60.0,
                            annotations: Labels::from_pairs([("summary", "down")]),
                            alerts: vec![AlertView {
                                labels: Labels::from_pairs([("alertname", "Down")]),
                                state: AlertState::Firing,
                                active_at: at(1_699_999_000),
                                value: 0.0,
                                ..AlertView::default()
                            }],
                            ..AlertingView::default()
                        }),
                        ..RuleView::default()
                    },
                ],
            },
            RuleGroupView {
                name: "g2".into(),
                file: "/rules/b.yml".into(),
                interval_secs: 60.0,
                rules: vec![RuleView {
                    name: "r2".into(),
                    query: "vector(1)".into(),
                    ..RuleView::default()
                }],
                ..RuleGroupView::default()
            },
        ]
    }

    struct Fixed(Vec<RuleGroupView>);

    impl RulesSource for Fixed {
        fn rule_groups(&self) -> Vec<RuleGroupView> {
            self.0.clone()
        }
    }

    #[test]
    fn rules_render_as_prometheus() {
        let src = Fixed(sample_groups());
        let form = Form::parse(b"", Some("rule_group[]=g1"));
        let out = rules(Some(&src), &form).unwrap();
        assert_eq!(
            out,
            concat!(
                r#"{"groups":[{"name":"g1","file":"/rules/a.yml","rules":["#,
                r#"{"name":"job:up:sum","query":"sum by (job) (up)","health":"ok","evaluationTime":0.0005,"lastEvaluation":"2023-11-14T22:13:20Z","type":"recording"},"#,
                r#"{"state":"firing","name":"Down","query":"up == 0","duration":60,"keepFiringFor":0,"labels":{"severity":"page"},"annotations":{"summary":"down"},"#,
                r#""alerts":[{"labels":{"alertname":"Down"},"annotations":{},"state":"firing","activeAt":"2023-11-14T21:56:40Z","value":"0e+00"}],"#,
                r#""health":"ok","evaluationTime":0,"lastEvaluation":"0001-01-01T00:00:00Z","type":"alerting"}],"#,
                r#""interval":15,"limit":0,"evaluationTime":0.001,"lastEvaluation":"2023-11-14T22:13:20Z"}]}"#
            )
        );
    }

    #[test]
    fn recording_rules_show_labels_only_when_they_have_some() {
        let mut out = String::new();
        let r = RuleView {
            name: "r".into(),
            query: "vector(1)".into(),
            labels: Labels::from_pairs([("source", "x")]),
            ..RuleView::default()
        };
        write_rule(&mut out, &r, false);
        assert!(
            out.contains(r#""query":"vector(1)","labels":{"source":"x"},"health""#),
            "{out}"
        );
        out.clear();
        write_rule(&mut out, &RuleView::default(), false);
        assert!(!out.contains("labels"), "{out}");
    }

    #[test]
    fn rules_filter_and_paginate() {
        let src = Fixed(sample_groups());
        let out = rules(Some(&src), &Form::parse(b"", Some("type=alert"))).unwrap();
        assert!(
            !out.contains("recording") && !out.contains("\"g2\""),
            "{out}"
        );
        let out = rules(
            Some(&src),
            &Form::parse(b"", Some("match[]={severity=\"page\"}")),
        )
        .unwrap();
        assert!(
            out.contains("\"Down\"") && !out.contains("job:up:sum"),
            "{out}"
        );
        let out = rules(Some(&src), &Form::parse(b"", Some("group_limit=1"))).unwrap();
        let token = next_token("/rules/b.yml", "g2");
        assert!(
            out.ends_with(&format!(",\"groupNextToken\":\"{token}\"}}")),
            "{out}"
        );
        let q = format!("group_limit=1&group_next_token={token}");
        let out = rules(Some(&src), &Form::parse(b"", Some(&q))).unwrap();
        assert!(out.contains("\"g2\"") && !out.contains("\"g1\""), "{out}");
        let err = rules(
            Some(&src),
            &Form::parse(b"", Some("group_limit=1&group_next_token=x")),
        );
        assert_eq!(
            err.unwrap_err().message,
            "invalid parameter \"group_next_token\": invalid group_next_token 'x'. were rule groups changed?"
        );
        let err = rules(Some(&src), &Form::parse(b"", Some("type=foo"))).unwrap_err();
        assert_eq!(
            err.message,
            "invalid parameter \"type\": not supported value \"foo\""
        );
        let out = rules(Some(&src), &Form::parse(b"", Some("exclude_alerts=true"))).unwrap();
        assert!(out.contains("\"alerts\":null"), "{out}");
    }

    #[test]
    fn without_rules_everything_is_empty() {
        assert_eq!(rules(None, &Form::default()).unwrap(), r#"{"groups":[]}"#);
        assert_eq!(alerts(None), r#"{"alerts":[]}"#);
        assert_eq!(
            alertmanagers(None),
            r#"{"activeAlertmanagers":[],"droppedAlertmanagers":[]}"#
        );
        let src = Fixed(sample_groups());
        assert!(alerts(Some(&src)).starts_with(r#"{"alerts":[{"labels":{"alertname":"Down"}"#));
    }

    #[test]
    fn sha1_and_float_e_match_go() {
        let hex: String = sha1_smol(b"abc")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(format_float_e(0.0), "0e+00");
        assert_eq!(format_float_e(42.0), "4.2e+01");
        assert_eq!(format_float_e(1.5e-7), "1.5e-07");
        assert_eq!(format_float_e(f64::INFINITY), "+Inf");
    }
}
