//! Alerting rules (Go's `rules/alerting.go`): alerts per result series, pending until `for`
//! has passed, firing, kept firing for `keep_firing_for`, resolved and kept 15 minutes so
//! the resolution reaches Alertmanager; `ALERTS` and `ALERTS_FOR_STATE` series.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use model::{Labels, Timestamp};
use promql::value::{Sample, Vector};

use crate::rule::Status;
use crate::{Error, NotifyFn, QueryFn, tmpl};

/// The metric name of the synthetic alert series.
pub const ALERT_METRIC_NAME: &str = "ALERTS";
/// The metric name of the series that remember when an alert became active.
pub const ALERT_FOR_STATE_METRIC_NAME: &str = "ALERTS_FOR_STATE";
/// The label holding the alert's name.
pub const ALERT_NAME_LABEL: &str = "alertname";
/// The label holding the alert's state in `ALERTS`.
pub const ALERT_STATE_LABEL: &str = "alertstate";

/// How long a resolved alert is kept (and sent again) so Alertmanager learns of it.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// The state of an alert, or of an alerting rule (the highest of its alerts').
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertState {
    /// A rule not evaluated yet.
    #[default]
    Unknown,
    /// Neither pending nor firing.
    Inactive,
    /// Active for less than the rule's `for`.
    Pending,
    /// Active for at least the rule's `for`.
    Firing,
}

impl AlertState {
    /// Prometheus's spelling: `unknown`, `inactive`, `pending`, `firing`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Unknown => "unknown",
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of an alerting rule. Times are milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Pending, firing, or inactive (resolved).
    pub state: AlertState,
    /// The result series' labels without `__name__`, with the rule's labels (expanded) and
    /// `alertname`.
    pub labels: Labels,
    /// The rule's annotations, expanded for this alert.
    pub annotations: Labels,
    /// The query result's value at the last evaluation (0 for a histogram result, as Go's
    /// `smpl.F`; templates see the histogram itself).
    pub value: f64,
    /// When the alert became active.
    pub active_at: Timestamp,
    /// When it started firing.
    pub fired_at: Option<Timestamp>,
    /// When it was resolved (`None` while active).
    pub resolved_at: Option<Timestamp>,
    /// When it was last sent to Alertmanager.
    pub last_sent_at: Option<Timestamp>,
    /// Until when the last sent notification holds (Alertmanager's `endsAt` while firing).
    pub valid_until: Option<Timestamp>,
    /// Since when it has been kept firing although its condition cleared.
    pub keep_firing_since: Option<Timestamp>,
}

impl Alert {
    /// Go's `needsSending`: firing or resolved alerts, when resolved since the last send
    /// or when the last send is older than `resend_delay`.
    fn needs_sending(&self, ts: Timestamp, resend_delay: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        let last = self.last_sent_at.unwrap_or(i64::MIN);
        if self.resolved_at.is_some_and(|r| r > last) {
            return true;
        }
        self.last_sent_at
            .is_none_or(|l| l.saturating_add(resend_delay) < ts)
    }
}

/// A rule that turns each series of its query's result into an alert.
#[derive(Debug)]
pub struct AlertingRule {
    name: String,
    query: String,
    hold_ms: i64,
    keep_firing_for_ms: i64,
    labels: Labels,
    annotations: Labels,
    external_labels: Labels,
    external_url: String,
    restored: AtomicBool,
    active: Mutex<HashMap<Labels, Alert>>,
    pub(crate) status: Status,
}

impl AlertingRule {
    /// An alerting rule. `restored` says whether `ALERTS`/`ALERTS_FOR_STATE` may be written
    /// right away (false until the `for` state was restored from storage).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        query: &str,
        hold: std::time::Duration,
        keep_firing_for: std::time::Duration,
        labels: Labels,
        annotations: Labels,
        external_labels: Labels,
        external_url: &str,
        restored: bool,
    ) -> AlertingRule {
        AlertingRule {
            name: name.to_string(),
            query: query.to_string(),
            hold_ms: i64::try_from(hold.as_millis()).unwrap_or(i64::MAX),
            keep_firing_for_ms: i64::try_from(keep_firing_for.as_millis()).unwrap_or(i64::MAX),
            labels,
            annotations,
            external_labels,
            external_url: external_url.to_string(),
            restored: AtomicBool::new(restored),
            active: Mutex::new(HashMap::new()),
            status: Status::default(),
        }
    }

    /// The alert name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rule's query.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// The rule's labels (templates).
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// The rule's annotations (templates).
    pub fn annotations(&self) -> &Labels {
        &self.annotations
    }

    /// `for`: how long an alert stays pending.
    pub fn hold_duration(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.hold_ms.unsigned_abs())
    }

    /// `keep_firing_for`.
    pub fn keep_firing_for(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.keep_firing_for_ms.unsigned_abs())
    }

    /// Whether the `for` state has been restored (and alert series are written).
    pub fn restored(&self) -> bool {
        self.restored.load(Ordering::Relaxed)
    }

    pub(crate) fn set_restored(&self, restored: bool) {
        self.restored.store(restored, Ordering::Relaxed);
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<Labels, Alert>> {
        self.active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The highest state of the rule's alerts; `Unknown` before the first evaluation.
    pub fn state(&self) -> AlertState {
        if self.status.get().evaluation_timestamp.is_none() {
            return AlertState::Unknown;
        }
        self.active()
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
            .max(AlertState::Inactive)
    }

    /// The pending and firing alerts (resolved ones left out), sorted by labels.
    pub fn active_alerts(&self) -> Vec<Alert> {
        let mut out: Vec<Alert> = self
            .active()
            .values()
            .filter(|a| a.resolved_at.is_none())
            .cloned()
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Every alert the rule holds, resolved ones included, sorted by labels.
    pub fn current_alerts(&self) -> Vec<Alert> {
        let mut out: Vec<Alert> = self.active().values().cloned().collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// The `ALERTS` sample of `alert` at `ts`.
    fn sample(&self, alert: &Alert, ts: Timestamp) -> Sample {
        let mut b = self.labels.builder();
        for (k, v) in &alert.labels {
            b.set(k, v);
        }
        b.set(model::METRIC_NAME, ALERT_METRIC_NAME);
        b.set(ALERT_NAME_LABEL, &self.name);
        b.set(ALERT_STATE_LABEL, alert.state.as_str());
        Sample {
            h: None,
            metric: b.labels(),
            t: ts,
            f: 1.0,
            drop_name: false,
        }
    }

    /// The `ALERTS_FOR_STATE` labels of `alert` (or of the rule alone).
    pub(crate) fn for_state_labels(&self, alert: Option<&Alert>) -> Labels {
        let mut b = self.labels.builder();
        if let Some(a) = alert {
            for (k, v) in &a.labels {
                b.set(k, v);
            }
        }
        b.set(model::METRIC_NAME, ALERT_FOR_STATE_METRIC_NAME);
        b.set(ALERT_NAME_LABEL, &self.name);
        b.labels()
    }

    /// Runs the query at `ts - query_offset`, updates the alerts and returns the `ALERTS`
    /// and `ALERTS_FOR_STATE` samples to write (none before the state is restored).
    pub fn eval(
        &self,
        query_offset: i64,
        ts: Timestamp,
        query: &QueryFn,
        limit: i64,
    ) -> Result<Vector, Error> {
        let res = query(&self.query, ts - query_offset)?;
        let mut alerts: HashMap<Labels, Alert> = HashMap::with_capacity(res.len());
        for smpl in &res {
            let data = tmpl::Data {
                labels: &smpl.metric,
                external_labels: &self.external_labels,
                external_url: &self.external_url,
                value: tmpl::sample_value(smpl),
            };
            let expand = |text: &str| expand_template(&self.name, text, &data, ts, query);
            let mut b = smpl.metric.builder();
            b.del(model::METRIC_NAME);
            for (k, v) in &self.labels {
                b.set(k, &expand(v));
            }
            b.set(ALERT_NAME_LABEL, &self.name);
            let annotations: Labels = self
                .annotations
                .iter()
                .map(|(k, v)| (k.to_string(), expand(v)))
                .collect();
            let labels = b.labels();
            if alerts.contains_key(&labels) {
                return Err(Error::Eval(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .to_string(),
                ));
            }
            alerts.insert(
                labels.clone(),
                Alert {
                    state: AlertState::Pending,
                    labels,
                    annotations,
                    value: smpl.f,
                    active_at: ts,
                    fired_at: None,
                    resolved_at: None,
                    last_sent_at: None,
                    valid_until: None,
                    keep_firing_since: None,
                },
            );
        }

        let mut active = self.active();
        let result_keys: std::collections::HashSet<Labels> = alerts.keys().cloned().collect();
        for (key, a) in alerts {
            if let Some(existing) = active.get_mut(&key)
                && existing.state != AlertState::Inactive
            {
                existing.value = a.value;
                existing.annotations = a.annotations;
                continue;
            }
            active.insert(key, a);
        }

        let mut vec = Vector::new();
        let mut num_active_pending = 0usize;
        let restored = self.restored();
        let mut remove = Vec::new();
        for (key, a) in active.iter_mut() {
            if !result_keys.contains(key) {
                // The condition no longer holds: keep firing for keep_firing_for, else
                // resolve; drop pending alerts and resolved ones past the retention.
                let mut keep_firing = false;
                if a.state == AlertState::Firing && self.keep_firing_for_ms > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    if ts - since < self.keep_firing_for_ms {
                        keep_firing = true;
                    }
                }
                if a.state == AlertState::Pending
                    || a.resolved_at
                        .is_some_and(|r| ts - r > RESOLVED_RETENTION_MS)
                {
                    remove.push(key.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(ts);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = None;
            }
            num_active_pending += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= self.hold_ms {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
            }
            if restored {
                vec.push(self.sample(a, ts - query_offset));
                vec.push(Sample {
                    h: None,
                    metric: self.for_state_labels(Some(a)),
                    t: ts - query_offset,
                    f: a.active_at.div_euclid(1000) as f64,
                    drop_name: false,
                });
            }
        }
        for key in remove {
            active.remove(&key);
        }
        if limit > 0 && num_active_pending as i64 > limit {
            active.clear();
            return Err(Error::Eval(format!(
                "exceeded limit of {limit} with {num_active_pending} alerts"
            )));
        }
        Ok(vec)
    }

    /// Sends the alerts that need sending through `notify` (Go's `sendAlerts`), marking
    /// them sent at `ts` and valid for four times the larger of `interval` and
    /// `resend_delay`.
    pub(crate) fn send_alerts(
        &self,
        ts: Timestamp,
        resend_delay: i64,
        interval: i64,
        notify: &NotifyFn,
    ) {
        let mut out = Vec::new();
        for a in self.active().values_mut() {
            if a.needs_sending(ts, resend_delay) {
                a.last_sent_at = Some(ts);
                a.valid_until = Some(ts + 4 * interval.max(resend_delay));
                out.push(a.clone());
            }
        }
        if !out.is_empty() {
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            notify(&self.query, &out);
        }
    }

    /// Runs `f` on every alert the rule holds (for state restoration).
    pub(crate) fn for_each_alert(&self, mut f: impl FnMut(&mut Alert)) {
        for a in self.active().values_mut() {
            f(a);
        }
    }

    /// Takes over the alerts of `from` (a reloaded rule with the same name and labels).
    pub(crate) fn copy_alerts_from(&self, from: &AlertingRule) {
        let alerts = from.active().clone();
        self.active().extend(alerts);
    }
}

/// Expands one label or annotation template for an alert; a failing template yields the
/// error text in place, as Prometheus does.
fn expand_template(
    alert: &str,
    text: &str,
    data: &tmpl::Data<'_>,
    ts: Timestamp,
    query: &QueryFn,
) -> String {
    let name = format!("__alert_{alert}");
    match tmpl::expand(&name, text, data, ts, query) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(alert, err = %e, "Expanding alert template failed");
            format!("<error expanding template: {e}>")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    /// A query function whose result the test sets.
    fn fake() -> (Arc<Mutex<Vec<Sample>>>, QueryFn) {
        let result: Arc<Mutex<Vec<Sample>>> = Arc::default();
        let r = result.clone();
        let q: QueryFn = Arc::new(move |_: &str, t| {
            let mut v = r.lock().expect("lock").clone();
            for s in &mut v {
                s.t = t;
            }
            Ok(v)
        });
        (result, q)
    }

    fn set(result: &Mutex<Vec<Sample>>, series: &[(&str, f64)]) {
        *result.lock().expect("lock") = series
            .iter()
            .map(|(inst, f)| Sample {
                h: None,
                metric: Labels::from_pairs([("__name__", "up"), ("instance", *inst)]),
                t: 0,
                f: *f,
                drop_name: false,
            })
            .collect();
    }

    fn rule(hold_s: u64, keep_s: u64) -> AlertingRule {
        AlertingRule::new(
            "Down",
            "up == 0",
            Duration::from_secs(hold_s),
            Duration::from_secs(keep_s),
            Labels::from_pairs([("severity", "page")]),
            Labels::from_pairs([("summary", "{{ $labels.instance }} is {{ $value }}")]),
            Labels::empty(),
            "",
            true,
        )
    }

    fn states(r: &AlertingRule) -> Vec<(String, AlertState)> {
        r.current_alerts()
            .iter()
            .map(|a| (a.labels.get("instance").unwrap_or("").to_string(), a.state))
            .collect()
    }

    #[test]
    fn pending_then_firing_then_resolved_then_dropped() {
        let (res, q) = fake();
        let r = rule(60, 0);
        set(&res, &[("a", 0.0)]);
        let v = r.eval(0, 0, &q, 0).expect("eval");
        assert_eq!(states(&r), [("a".to_string(), AlertState::Pending)]);
        let alerts: Vec<&Sample> = v
            .iter()
            .filter(|s| s.metric.metric_name() == Some("ALERTS"))
            .collect();
        assert_eq!(
            alerts[0].metric,
            Labels::from_pairs([
                ("__name__", "ALERTS"),
                ("alertname", "Down"),
                ("alertstate", "pending"),
                ("instance", "a"),
                ("severity", "page"),
            ])
        );
        let fs = v
            .iter()
            .find(|s| s.metric.metric_name() == Some("ALERTS_FOR_STATE"))
            .expect("for state");
        assert_eq!(fs.f, 0.0);
        assert_eq!(
            r.current_alerts()[0].annotations.get("summary"),
            Some("a is 0")
        );

        r.eval(0, 30_000, &q, 0).expect("eval");
        assert_eq!(states(&r), [("a".to_string(), AlertState::Pending)]);
        r.eval(0, 60_000, &q, 0).expect("eval");
        assert_eq!(states(&r), [("a".to_string(), AlertState::Firing)]);
        assert_eq!(r.current_alerts()[0].fired_at, Some(60_000));
        assert_eq!(
            r.state(),
            AlertState::Unknown,
            "no evaluation timestamp recorded by eval alone"
        );

        set(&res, &[]);
        let v = r.eval(0, 90_000, &q, 0).expect("eval");
        assert!(v.is_empty(), "resolved alerts write no series");
        assert_eq!(states(&r), [("a".to_string(), AlertState::Inactive)]);
        assert_eq!(r.current_alerts()[0].resolved_at, Some(90_000));
        assert!(r.active_alerts().is_empty());
        // Kept for 15 minutes, then dropped.
        r.eval(0, 90_000 + RESOLVED_RETENTION_MS, &q, 0)
            .expect("eval");
        assert_eq!(states(&r).len(), 1);
        r.eval(0, 90_001 + RESOLVED_RETENTION_MS, &q, 0)
            .expect("eval");
        assert!(states(&r).is_empty());
    }

    #[test]
    fn pending_alerts_vanish_with_their_series() {
        let (res, q) = fake();
        let r = rule(60, 0);
        set(&res, &[("a", 0.0), ("b", 0.0)]);
        r.eval(0, 0, &q, 0).expect("eval");
        set(&res, &[("b", 0.0)]);
        r.eval(0, 15_000, &q, 0).expect("eval");
        assert_eq!(states(&r), [("b".to_string(), AlertState::Pending)]);
    }

    #[test]
    fn keep_firing_for_holds_a_cleared_alert() {
        let (res, q) = fake();
        let r = rule(0, 60);
        set(&res, &[("a", 0.0)]);
        r.eval(0, 0, &q, 0).expect("eval");
        assert_eq!(states(&r), [("a".to_string(), AlertState::Firing)]);
        set(&res, &[]);
        r.eval(0, 30_000, &q, 0).expect("eval");
        assert_eq!(states(&r), [("a".to_string(), AlertState::Firing)]);
        assert_eq!(r.current_alerts()[0].keep_firing_since, Some(30_000));
        r.eval(0, 89_999, &q, 0).expect("eval");
        assert_eq!(states(&r), [("a".to_string(), AlertState::Firing)]);
        r.eval(0, 90_000, &q, 0).expect("eval");
        assert_eq!(states(&r), [("a".to_string(), AlertState::Inactive)]);
    }

    #[test]
    fn alert_limit_clears_the_alerts() {
        let (res, q) = fake();
        let r = rule(0, 0);
        set(&res, &[("a", 0.0), ("b", 0.0)]);
        let err = r.eval(0, 0, &q, 1).expect_err("over the limit");
        assert_eq!(err.to_string(), "exceeded limit of 1 with 2 alerts");
        assert!(states(&r).is_empty());
    }

    #[test]
    fn duplicate_alert_labels_are_an_error() {
        let (res, q) = fake();
        let r = rule(0, 0);
        *res.lock().expect("lock") = vec![
            Sample {
                h: None,
                metric: Labels::from_pairs([("__name__", "a"), ("x", "1")]),
                t: 0,
                f: 1.0,
                drop_name: false,
            },
            Sample {
                h: None,
                metric: Labels::from_pairs([("__name__", "b"), ("x", "1")]),
                t: 0,
                f: 1.0,
                drop_name: false,
            },
        ];
        let err = r.eval(0, 0, &q, 0).expect_err("duplicate");
        assert_eq!(
            err.to_string(),
            "vector contains metrics with the same labelset after applying alert labels"
        );
    }

    #[test]
    fn unrestored_rules_write_no_series() {
        let (res, q) = fake();
        let r = rule(0, 0);
        r.set_restored(false);
        set(&res, &[("a", 0.0)]);
        assert!(r.eval(0, 0, &q, 0).expect("eval").is_empty());
        r.set_restored(true);
        assert_eq!(r.eval(0, 1000, &q, 0).expect("eval").len(), 2);
    }

    #[test]
    fn query_offset_shifts_query_and_series_times() {
        let (res, q) = fake();
        let r = rule(0, 0);
        set(&res, &[("a", 0.0)]);
        let v = r.eval(10_000, 100_000, &q, 0).expect("eval");
        assert!(v.iter().all(|s| s.t == 90_000));
        assert_eq!(r.current_alerts()[0].active_at, 100_000);
    }

    #[test]
    fn alerts_are_sent_when_firing_resolved_or_due_again() {
        let (res, q) = fake();
        let r = rule(0, 0);
        let sent: Arc<Mutex<Vec<(String, Alert)>>> = Arc::default();
        let s = sent.clone();
        let notify: NotifyFn = Arc::new(move |expr: &str, alerts: &[Alert]| {
            let mut s = s.lock().expect("lock");
            s.extend(alerts.iter().map(|a| (expr.to_string(), a.clone())));
        });
        let take = || std::mem::take(&mut *sent.lock().expect("lock"));
        set(&res, &[("a", 0.0)]);
        r.eval(0, 0, &q, 0).expect("eval");
        r.send_alerts(0, 60_000, 15_000, &notify);
        let got = take();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "up == 0");
        assert_eq!(got[0].1.valid_until, Some(240_000));
        // Within the resend delay: nothing.
        r.eval(0, 15_000, &q, 0).expect("eval");
        r.send_alerts(15_000, 60_000, 15_000, &notify);
        assert!(take().is_empty());
        // After it: sent again.
        r.eval(0, 61_000, &q, 0).expect("eval");
        r.send_alerts(61_000, 60_000, 15_000, &notify);
        assert_eq!(take().len(), 1);
        // Resolved: sent at once.
        set(&res, &[]);
        r.eval(0, 75_000, &q, 0).expect("eval");
        r.send_alerts(75_000, 60_000, 15_000, &notify);
        let got = take();
        assert_eq!(got[0].1.resolved_at, Some(75_000));
        assert_eq!(got[0].1.state, AlertState::Inactive);
    }

    #[test]
    fn pending_alerts_are_not_sent() {
        let (res, q) = fake();
        let r = rule(60, 0);
        let count = Arc::new(Mutex::new(0));
        let c = count.clone();
        let notify: NotifyFn =
            Arc::new(move |_: &str, a: &[Alert]| *c.lock().expect("lock") += a.len());
        set(&res, &[("a", 0.0)]);
        r.eval(0, 0, &q, 0).expect("eval");
        r.send_alerts(0, 60_000, 15_000, &notify);
        assert_eq!(*count.lock().expect("lock"), 0);
    }

    /// An alert over a histogram sample holds Go's `smpl.F` (0) as its value; its ALERTS
    /// and ALERTS_FOR_STATE series are floats; its templates see the histogram.
    #[test]
    fn an_alert_over_a_histogram_sample_has_value_zero_and_float_series() {
        let (res, q) = fake();
        let r = AlertingRule::new(
            "Down",
            "h",
            Duration::ZERO,
            Duration::ZERO,
            Labels::from_pairs([("count", "{{ $value.Count }}")]),
            Labels::from_pairs([
                ("summary", "{{ $labels.instance }} is {{ $value }}"),
                ("human", "{{ humanize $value }}"),
            ]),
            Labels::empty(),
            "",
            true,
        );
        let h = model::FloatHistogram::parse_notation("{{count:2 sum:3 buckets:[2]}}")
            .expect("notation");
        *res.lock().expect("lock") = vec![Sample {
            h: Some(std::sync::Arc::new(h)),
            metric: Labels::from_pairs([("__name__", "h"), ("instance", "a")]),
            t: 0,
            f: 0.0,
            drop_name: false,
        }];
        let v = r.eval(0, 10_000, &q, 0).expect("eval");
        assert_eq!(states(&r), [("a".to_string(), AlertState::Firing)]);
        let alert = &r.current_alerts()[0];
        assert_eq!(alert.value, 0.0);
        assert_eq!(alert.labels.get("count"), Some("2"));
        assert_eq!(
            alert.annotations.get("summary"),
            Some("a is {count:2, sum:3, (0.5,1]:2}")
        );
        assert_eq!(
            alert.annotations.get("human"),
            Some(
                "<error expanding template: error executing template __alert_Down: template: __alert_Down:1:115: executing \"__alert_Down\" at <humanize $value>: error calling humanize: can't convert *histogram.FloatHistogram to float>"
            )
        );
        assert_eq!(v.len(), 2);
        assert!(v.iter().all(|s| s.h.is_none()));
        let alerts = v
            .iter()
            .find(|s| s.metric.metric_name() == Some("ALERTS"))
            .expect("ALERTS");
        assert_eq!(alerts.f, 1.0);
        let fs = v
            .iter()
            .find(|s| s.metric.metric_name() == Some("ALERTS_FOR_STATE"))
            .expect("for state");
        assert_eq!(fs.f, 10.0);
    }
}
