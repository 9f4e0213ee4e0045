//! The rule manager's own metrics under Prometheus's names (`prometheus_rule_*`), kept per
//! group key (`FILE;GROUP`) and written in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use model::exposition::{escape_label_value, write_header};
use model::metrics::{SUMMARY_QUANTILES_TARGET, Summary};

/// Per-group values.
#[derive(Debug, Clone, Default)]
pub(crate) struct GroupMetrics {
    pub(crate) iterations_missed: u64,
    pub(crate) iterations_scheduled: u64,
    pub(crate) evaluations: u64,
    pub(crate) evaluation_failures: u64,
    pub(crate) interval_seconds: f64,
    pub(crate) last_evaluation_timestamp_seconds: f64,
    pub(crate) last_duration_seconds: f64,
    pub(crate) last_rule_duration_sum_seconds: f64,
    /// Set once the group restored its alerts' `for` state (groups loaded at start-up);
    /// groups a reload adds never restore, and show no value, as in Go.
    pub(crate) last_restore_duration_seconds: Option<f64>,
    /// The group was removed by a reload: Go deletes its series except the last restore
    /// and rule duration sum gauges, which it leaves behind.
    removed: bool,
    pub(crate) rules: u64,
    pub(crate) samples: f64,
}

#[derive(Debug, Default)]
struct Inner {
    groups: BTreeMap<String, GroupMetrics>,
}

/// All rule metrics of one manager.
#[derive(Debug)]
pub(crate) struct Metrics {
    inner: Mutex<Inner>,
    /// `prometheus_rule_evaluation_duration_seconds`: Go's objectives 0.5, 0.9, 0.99.
    eval_duration: Summary,
    /// `prometheus_rule_group_duration_seconds`: Go's objectives 0.01 to 0.99.
    iteration_duration: Summary,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            inner: Mutex::default(),
            eval_duration: Summary::default(),
            iteration_duration: Summary::with_quantiles(&SUMMARY_QUANTILES_TARGET),
        }
    }
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes the values of group `key` (creating them at zero).
    pub(crate) fn group(&self, key: &str, f: impl FnOnce(&mut GroupMetrics)) {
        let mut m = self.lock();
        let g = m.groups.entry(key.to_string()).or_default();
        if g.removed {
            // Back after a removal: new series, beside the two Go never deleted.
            *g = GroupMetrics {
                last_restore_duration_seconds: g.last_restore_duration_seconds,
                last_rule_duration_sum_seconds: g.last_rule_duration_sum_seconds,
                ..GroupMetrics::default()
            };
        }
        f(g);
    }

    /// Forgets group `key` (a group removed by a reload), as Go's manager does: every
    /// series but `last_restore_duration_seconds` and `last_rule_duration_sum_seconds`.
    pub(crate) fn remove_group(&self, key: &str) {
        if let Some(g) = self.lock().groups.get_mut(key) {
            g.removed = true;
        }
    }

    pub(crate) fn observe_rule_duration(&self, seconds: f64) {
        self.eval_duration.observe(seconds);
    }

    pub(crate) fn observe_iteration_duration(&self, seconds: f64) {
        self.iteration_duration.observe(seconds);
    }

    /// Appends every metric family in the text format.
    pub(crate) fn write(&self, out: &mut String) {
        let summary = |out: &mut String, name: &str, help: &str, s: &Summary| {
            write_header(out, name, "summary", help);
            s.write(out, name, &[]);
        };
        summary(
            out,
            "prometheus_rule_evaluation_duration_seconds",
            "The duration for a rule to execute.",
            &self.eval_duration,
        );
        summary(
            out,
            "prometheus_rule_group_duration_seconds",
            "The duration of rule group evaluations.",
            &self.iteration_duration,
        );
        let m = self.lock();
        type Get = fn(&GroupMetrics) -> Option<f64>;
        let families: [(&str, &str, &str, Get); 11] = [
            (
                "prometheus_rule_evaluation_failures_total",
                "counter",
                "The total number of rule evaluation failures.",
                |g| Some(g.evaluation_failures as f64),
            ),
            (
                "prometheus_rule_evaluations_total",
                "counter",
                "The total number of rule evaluations.",
                |g| Some(g.evaluations as f64),
            ),
            (
                "prometheus_rule_group_interval_seconds",
                "gauge",
                "The interval of a rule group.",
                |g| Some(g.interval_seconds),
            ),
            (
                "prometheus_rule_group_iterations_missed_total",
                "counter",
                "The total number of rule group evaluations missed due to slow rule group evaluation.",
                |g| Some(g.iterations_missed as f64),
            ),
            (
                "prometheus_rule_group_iterations_total",
                "counter",
                "The total number of scheduled rule group evaluations, whether executed or missed.",
                |g| Some(g.iterations_scheduled as f64),
            ),
            (
                "prometheus_rule_group_last_duration_seconds",
                "gauge",
                "The duration of the last rule group evaluation.",
                |g| Some(g.last_duration_seconds),
            ),
            (
                "prometheus_rule_group_last_evaluation_samples",
                "gauge",
                "The number of samples returned during the last rule group evaluation.",
                |g| Some(g.samples),
            ),
            (
                "prometheus_rule_group_last_evaluation_timestamp_seconds",
                "gauge",
                "The timestamp of the last rule group evaluation in seconds.",
                |g| Some(g.last_evaluation_timestamp_seconds),
            ),
            (
                "prometheus_rule_group_last_restore_duration_seconds",
                "gauge",
                "The duration of the last alert rules alerts restoration using the `ALERTS_FOR_STATE` series.",
                |g| g.last_restore_duration_seconds,
            ),
            (
                "prometheus_rule_group_last_rule_duration_sum_seconds",
                "gauge",
                "The sum of time in seconds it took to evaluate each rule in the group regardless of concurrency. This should be higher than the group duration if rules are evaluated concurrently.",
                |g| Some(g.last_rule_duration_sum_seconds),
            ),
            (
                "prometheus_rule_group_rules",
                "gauge",
                "The number of rules.",
                |g| Some(g.rules as f64),
            ),
        ];
        if m.groups.is_empty() {
            return;
        }
        for (name, kind, help, get) in families {
            let kept = name.ends_with("_last_restore_duration_seconds")
                || name.ends_with("_last_rule_duration_sum_seconds");
            let values: Vec<(&String, f64)> = m
                .groups
                .iter()
                .filter(|(_, g)| kept || !g.removed)
                .filter_map(|(key, g)| Some((key, get(g)?)))
                .collect();
            if values.is_empty() {
                continue;
            }
            write_header(out, name, kind, help);
            for (key, v) in values {
                let _ = writeln!(
                    out,
                    "{name}{{rule_group=\"{}\"}} {}",
                    escape_label_value(key),
                    model::strconv::format_float_g(v)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_written_once_with_a_series_per_group() {
        let m = Metrics::default();
        m.group("a.yml;g1", |g| g.evaluations = 3);
        m.group("a.yml;g2", |g| g.evaluation_failures = 1);
        let mut out = String::new();
        m.write(&mut out);
        assert!(out.contains("prometheus_rule_evaluations_total{rule_group=\"a.yml;g1\"} 3\n"));
        assert!(
            out.contains("prometheus_rule_evaluation_failures_total{rule_group=\"a.yml;g2\"} 1\n")
        );
        assert_eq!(
            out.matches("# TYPE prometheus_rule_group_rules gauge")
                .count(),
            1
        );
        // The duration summaries carry Go's quantiles.
        m.observe_iteration_duration(0.5);
        m.observe_rule_duration(0.25);
        let mut out = String::new();
        m.write(&mut out);
        assert!(out.contains("prometheus_rule_group_duration_seconds{quantile=\"0.01\"} 0.5\n"));
        assert!(
            out.contains("prometheus_rule_evaluation_duration_seconds{quantile=\"0.99\"} 0.25\n")
        );
        assert!(out.contains("prometheus_rule_evaluation_duration_seconds_count 1\n"));
        m.group("a.yml;g1", |g| {
            g.last_rule_duration_sum_seconds = 0.5;
            g.last_restore_duration_seconds = Some(0.25);
        });
        m.remove_group("a.yml;g1");
        let mut out = String::new();
        m.write(&mut out);
        // As Go: only the restore and rule duration sum gauges outlive the group.
        let g1: Vec<&str> = out.lines().filter(|l| l.contains("g1")).collect();
        assert_eq!(
            g1,
            [
                "prometheus_rule_group_last_restore_duration_seconds{rule_group=\"a.yml;g1\"} 0.25",
                "prometheus_rule_group_last_rule_duration_sum_seconds{rule_group=\"a.yml;g1\"} 0.5"
            ]
        );
        // A group that never restored (one a reload added) has no restore duration.
        assert!(!out.contains("restore_duration_seconds{rule_group=\"a.yml;g2\"}"));
        m.group("a.yml;g1", |g| g.evaluations = 1);
        let mut out = String::new();
        m.write(&mut out);
        assert!(out.contains("prometheus_rule_evaluations_total{rule_group=\"a.yml;g1\"} 1\n"));
        assert!(out.contains(
            "prometheus_rule_group_last_rule_duration_sum_seconds{rule_group=\"a.yml;g1\"} 0.5\n"
        ));
    }
}
