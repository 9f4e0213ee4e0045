//! The `prometheus_notifications_*` metrics and their text exposition.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use model::exposition::{escape_label_value, write_header};
use model::strconv::format_float_g;
use parking_lot::Mutex;

/// How long a latency observation counts toward the summary's quantiles (Go's default
/// `MaxAge` for summaries).
const SUMMARY_MAX_AGE: Duration = Duration::from_secs(600);
/// At most this many observations are kept for quantiles (oldest go first).
const SUMMARY_MAX_SAMPLES: usize = 10_000;
/// The latency summary's quantiles (Go's objectives 0.5, 0.9, 0.99).
const QUANTILES: [(f64, &str); 3] = [(0.5, "0.5"), (0.9, "0.9"), (0.99, "0.99")];

/// Latency observations of one Alertmanager: exact quantiles over a 10-minute window, and
/// cumulative sum and count.
#[derive(Debug, Default)]
struct Summary {
    window: VecDeque<(Instant, f64)>,
    sum: f64,
    count: u64,
}

impl Summary {
    fn observe(&mut self, now: Instant, v: f64) {
        self.prune(now);
        if self.window.len() == SUMMARY_MAX_SAMPLES {
            self.window.pop_front();
        }
        self.window.push_back((now, v));
        self.sum += v;
        self.count += 1;
    }

    fn prune(&mut self, now: Instant) {
        while let Some(&(t, _)) = self.window.front() {
            if now.duration_since(t) <= SUMMARY_MAX_AGE {
                break;
            }
            self.window.pop_front();
        }
    }

    /// Nearest-rank quantiles of the window (NaN when it is empty, as Go reports).
    fn quantiles(&mut self, now: Instant) -> [f64; 3] {
        self.prune(now);
        let mut vs: Vec<f64> = self.window.iter().map(|&(_, v)| v).collect();
        vs.sort_by(f64::total_cmp);
        QUANTILES.map(|(q, _)| {
            if vs.is_empty() {
                return f64::NAN;
            }
            // ceil(q * n) - 1, clamped to the window.
            let rank = (q * vs.len() as f64).ceil() as usize;
            vs[rank.clamp(1, vs.len()) - 1]
        })
    }
}

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

    /// Records one POST of `count` alerts to `url`.
    pub(crate) fn record_send(&self, url: &str, count: usize, ok: bool, latency: Duration) {
        let mut m = self.per_am.lock();
        let counter = if ok { &mut m.sent } else { &mut m.errors };
        *counter.entry(url.to_owned()).or_default() += count as u64;
        m.latency
            .entry(url.to_owned())
            .or_default()
            .observe(Instant::now(), latency.as_secs_f64());
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
        let mut m = self.per_am.lock();
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
            let now = Instant::now();
            for (url, s) in &mut m.latency {
                let label = escape_label_value(url);
                let qs = s.quantiles(now);
                for ((_, q), v) in QUANTILES.iter().zip(qs) {
                    let _ = writeln!(
                        out,
                        "{name}{{alertmanager=\"{label}\",quantile=\"{q}\"}} {}",
                        format_float_g(v)
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_sum{{alertmanager=\"{label}\"}} {}",
                    format_float_g(s.sum)
                );
                let _ = writeln!(out, "{name}_count{{alertmanager=\"{label}\"}} {}", s.count);
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
    write_header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {}", format_float_g(v));
}

fn counter_vec(out: &mut String, name: &str, help: &str, values: &BTreeMap<String, u64>) {
    if values.is_empty() {
        return;
    }
    write_header(out, name, "counter", help);
    for (url, v) in values {
        let _ = writeln!(
            out,
            "{name}{{alertmanager=\"{}\"}} {v}",
            escape_label_value(url)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_quantiles_are_nearest_rank() {
        let mut s = Summary::default();
        let now = Instant::now();
        assert!(s.quantiles(now).iter().all(|q| q.is_nan()));
        for v in 1..=100 {
            s.observe(now, f64::from(v));
        }
        assert_eq!(s.quantiles(now), [50.0, 90.0, 99.0]);
        assert_eq!(s.count, 100);
        assert_eq!(s.sum, 5050.0);
    }

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
prometheus_notifications_sent_total{alertmanager="http://a/api/v2/alerts"} 3
"#;
        assert_eq!(out, expected);
        m.remove_alertmanager("http://a/api/v2/alerts");
        let mut out = String::new();
        m.write_text(0, 0, &mut out);
        assert!(!out.contains("alertmanager=\""), "{out}");
    }
}
