//! The `prometheus_notifications_*` metrics and their text exposition.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use model::exposition::write_header;
use model::metrics::{Summary, write_sample, write_single};
use parking_lot::Mutex;

#[derive(Debug, Default)]
struct PerAlertmanager {
    sent: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    latency: BTreeMap<String, Summary>,
}

/// The notifier's metrics (Go's `alertMetrics`). Queue length and the number of
/// discovered Alertmanagers are read from the manager when rendering.
#[derive(Debug)]
pub(crate) struct Metrics {
    queue_capacity: usize,
    dropped: Mutex<u64>,
    per_am: Mutex<PerAlertmanager>,
}

impl Metrics {
    pub(crate) fn new(queue_capacity: usize) -> Metrics {
        Metrics {
            queue_capacity,
            dropped: Mutex::new(0),
            per_am: Mutex::new(PerAlertmanager::default()),
        }
    }

    pub(crate) fn add_dropped(&self, n: usize) {
        if n > 0 {
            *self.dropped.lock() += n as u64;
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        *self.dropped.lock()
    }

    /// Starts the counters of a newly discovered Alertmanager at zero.
    pub(crate) fn init_alertmanager(&self, url: &str) {
        let mut m = self.per_am.lock();
        m.sent.entry(url.to_owned()).or_default();
        m.errors.entry(url.to_owned()).or_default();
    }

    /// Forgets the series of an Alertmanager that went away.
    pub(crate) fn remove_alertmanager(&self, url: &str) {
        let mut m = self.per_am.lock();
        m.sent.remove(url);
        m.errors.remove(url);
        m.latency.remove(url);
    }

    /// Records one POST of `count` alerts to `url`. As in Prometheus 3.5, `sent` counts the
    /// alerts of every POST, failed ones too; `errors` counts those of the failed ones.
    pub(crate) fn record_send(&self, url: &str, count: usize, ok: bool, latency: Duration) {
        let mut m = self.per_am.lock();
        if !ok {
            *m.errors.entry(url.to_owned()).or_default() += count as u64;
        }
        *m.sent.entry(url.to_owned()).or_default() += count as u64;
        m.latency
            .entry(url.to_owned())
            .or_default()
            .observe(latency.as_secs_f64());
    }

    /// `(sent, errors)` counted for `url` so far.
    #[cfg(test)]
    pub(crate) fn counts(&self, url: &str) -> (Option<u64>, Option<u64>) {
        let m = self.per_am.lock();
        (m.sent.get(url).copied(), m.errors.get(url).copied())
    }

    /// Writes every family in the text format, sorted by name as Go's registry does;
    /// per-Alertmanager families without series are left out.
    pub(crate) fn write_text(&self, queue_length: usize, discovered: usize, out: &mut String) {
        gauge(
            out,
            "prometheus_notifications_alertmanagers_discovered",
            "The number of alertmanagers discovered and active.",
            discovered as f64,
        );
        write_header(
            out,
            "prometheus_notifications_dropped_total",
            "counter",
            "Total number of alerts dropped due to errors when sending to Alertmanager.",
        );
        let _ = writeln!(
            out,
            "prometheus_notifications_dropped_total {}",
            self.dropped()
        );
        let m = self.per_am.lock();
        counter_vec(
            out,
            "prometheus_notifications_errors_total",
            "Total number of sent alerts affected by errors.",
            &m.errors,
        );
        if !m.latency.is_empty() {
            let name = "prometheus_notifications_latency_seconds";
            write_header(
                out,
                name,
                "summary",
                "Latency quantiles for sending alert notifications.",
            );
            for (url, s) in &m.latency {
                s.write(out, name, &[("alertmanager", url)]);
            }
        }
        gauge(
            out,
            "prometheus_notifications_queue_capacity",
            "The capacity of the alert notifications queue.",
            self.queue_capacity as f64,
        );
        gauge(
            out,
            "prometheus_notifications_queue_length",
            "The number of alert notifications in the queue.",
            queue_length as f64,
        );
        counter_vec(
            out,
            "prometheus_notifications_sent_total",
            "Total number of alerts sent.",
            &m.sent,
        );
    }
}

fn gauge(out: &mut String, name: &str, help: &str, v: f64) {
    write_single(out, name, "gauge", help, v);
}

fn counter_vec(out: &mut String, name: &str, help: &str, values: &BTreeMap<String, u64>) {
    if values.is_empty() {
        return;
    }
    write_header(out, name, "counter", help);
    for (url, v) in values {
        #[allow(clippy::cast_precision_loss)]
        write_sample(out, name, &[("alertmanager", url)], *v as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_exposition() {
        let m = Metrics::new(10);
        m.init_alertmanager("http://a/api/v2/alerts");
        m.record_send(
            "http://a/api/v2/alerts",
            3,
            true,
            Duration::from_millis(250),
        );
        m.record_send(
            "http://a/api/v2/alerts",
            2,
            false,
            Duration::from_millis(250),
        );
        m.add_dropped(2);
        let mut out = String::new();
        m.write_text(4, 1, &mut out);
        let expected = r#"# HELP prometheus_notifications_alertmanagers_discovered The number of alertmanagers discovered and active.
# TYPE prometheus_notifications_alertmanagers_discovered gauge
prometheus_notifications_alertmanagers_discovered 1
# HELP prometheus_notifications_dropped_total Total number of alerts dropped due to errors when sending to Alertmanager.
# TYPE prometheus_notifications_dropped_total counter
prometheus_notifications_dropped_total 2
# HELP prometheus_notifications_errors_total Total number of sent alerts affected by errors.
# TYPE prometheus_notifications_errors_total counter
prometheus_notifications_errors_total{alertmanager="http://a/api/v2/alerts"} 2
# HELP prometheus_notifications_latency_seconds Latency quantiles for sending alert notifications.
# TYPE prometheus_notifications_latency_seconds summary
prometheus_notifications_latency_seconds{alertmanager="http://a/api/v2/alerts",quantile="0.5"} 0.25
prometheus_notifications_latency_seconds{alertmanager="http://a/api/v2/alerts",quantile="0.9"} 0.25
prometheus_notifications_latency_seconds{alertmanager="http://a/api/v2/alerts",quantile="0.99"} 0.25
prometheus_notifications_latency_seconds_sum{alertmanager="http://a/api/v2/alerts"} 0.5
prometheus_notifications_latency_seconds_count{alertmanager="http://a/api/v2/alerts"} 2
# HELP prometheus_notifications_queue_capacity The capacity of the alert notifications queue.
# TYPE prometheus_notifications_queue_capacity gauge
prometheus_notifications_queue_capacity 10
# HELP prometheus_notifications_queue_length The number of alert notifications in the queue.
# TYPE prometheus_notifications_queue_length gauge
prometheus_notifications_queue_length 4
# HELP prometheus_notifications_sent_total Total number of alerts sent.
# TYPE prometheus_notifications_sent_total counter
prometheus_notifications_sent_total{alertmanager="http://a/api/v2/alerts"} 5
"#;
        assert_eq!(out, expected);
        m.remove_alertmanager("http://a/api/v2/alerts");
        let mut out = String::new();
        m.write_text(0, 0, &mut out);
        assert!(!out.contains("alertmanager=\""), "{out}");
    }
}
