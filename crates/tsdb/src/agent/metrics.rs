//! The agent storage's self-metrics (`prometheus_agent_*`, as Go's `tsdb/agent` registers them).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use model::exposition::write_header;

/// Counters and gauges of an agent [`super::Db`]; read them with [`Metrics::write_text`].
#[derive(Debug, Default)]
pub struct Metrics {
    /// Series currently tracked (`prometheus_agent_active_series`).
    pub active_series: AtomicI64,
    /// How the lock file was taken at open (`prometheus_agent_clean_start`): -1 lock file
    /// disabled, 0 a lock file left by an earlier run was replaced, 1 a clean start.
    pub clean_start: AtomicI64,
    /// Series removed from memory whose records the WAL still keeps
    /// (`prometheus_agent_deleted_series`).
    pub deleted_series: AtomicI64,
    /// Float samples accepted by appenders (`prometheus_agent_samples_appended_total`).
    pub samples_appended: AtomicU64,
    /// Native histograms accepted by appenders (`prometheus_agent_samples_appended_total`
    /// with `type="histogram"`).
    pub histograms_appended: AtomicU64,
    /// Exemplars accepted by appenders (`prometheus_agent_exemplars_appended_total`).
    pub exemplars_appended: AtomicU64,
    /// Rejected out-of-order samples (`prometheus_agent_out_of_order_samples_total`).
    pub out_of_order_samples: AtomicU64,
    /// WAL corruptions found (`prometheus_agent_corruptions_total`).
    pub corruptions: AtomicU64,
    /// Replay time in nanoseconds (`prometheus_agent_data_replay_duration_seconds`).
    pub replay_duration_nanos: AtomicU64,
    /// Checkpoint creations attempted (`prometheus_agent_checkpoint_creations_total`).
    pub checkpoint_creations: AtomicU64,
    /// Checkpoint creations failed (`prometheus_agent_checkpoint_creations_failed_total`).
    pub checkpoint_creations_failed: AtomicU64,
    /// Checkpoint deletions attempted (`prometheus_agent_checkpoint_deletions_total`).
    pub checkpoint_deletions: AtomicU64,
    /// Checkpoint deletions failed (`prometheus_agent_checkpoint_deletions_failed_total`).
    pub checkpoint_deletions_failed: AtomicU64,
    /// Sum of truncation durations in nanoseconds
    /// (`prometheus_agent_truncate_duration_seconds_sum`).
    pub truncate_duration_nanos: AtomicU64,
    /// Completed truncations (`prometheus_agent_truncate_duration_seconds_count`).
    pub truncations: AtomicU64,
}

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

fn secs(nanos: u64) -> f64 {
    Duration::from_nanos(nanos).as_secs_f64()
}

impl Metrics {
    pub(crate) fn inc(a: &AtomicU64) {
        a.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn observe(a: &AtomicU64, d: Duration) {
        a.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Appends every family in the text exposition format, with Prometheus's names and help.
    pub fn write_text(&self, out: &mut String) {
        let gauge_i = |a: &AtomicI64| a.load(Ordering::Relaxed).to_string();
        let counter = |a: &AtomicU64| load(a).to_string();
        let families: [(&str, &str, &str, String); 11] = [
            (
                "prometheus_agent_active_series",
                "Number of active series being tracked by the WAL storage",
                "gauge",
                gauge_i(&self.active_series),
            ),
            (
                "prometheus_agent_checkpoint_creations_failed_total",
                "Total number of checkpoint creations that failed.",
                "counter",
                counter(&self.checkpoint_creations_failed),
            ),
            (
                "prometheus_agent_checkpoint_creations_total",
                "Total number of checkpoint creations attempted.",
                "counter",
                counter(&self.checkpoint_creations),
            ),
            (
                "prometheus_agent_checkpoint_deletions_failed_total",
                "Total number of checkpoint deletions that failed.",
                "counter",
                counter(&self.checkpoint_deletions_failed),
            ),
            (
                "prometheus_agent_checkpoint_deletions_total",
                "Total number of checkpoint deletions attempted.",
                "counter",
                counter(&self.checkpoint_deletions),
            ),
            (
                "prometheus_agent_clean_start",
                "-1: lockfile is disabled. 0: a lockfile from a previous execution was replaced. 1: lockfile creation was clean",
                "gauge",
                gauge_i(&self.clean_start),
            ),
            (
                "prometheus_agent_corruptions_total",
                "Total number of WAL corruptions.",
                "counter",
                counter(&self.corruptions),
            ),
            (
                "prometheus_agent_data_replay_duration_seconds",
                "Time taken to replay the data on disk.",
                "gauge",
                secs(load(&self.replay_duration_nanos)).to_string(),
            ),
            (
                "prometheus_agent_deleted_series",
                "Number of series pending deletion from the WAL",
                "gauge",
                gauge_i(&self.deleted_series),
            ),
            (
                "prometheus_agent_exemplars_appended_total",
                "Total number of exemplars appended to the storage",
                "counter",
                counter(&self.exemplars_appended),
            ),
            (
                "prometheus_agent_out_of_order_samples_total",
                "Total number of out of order samples ingestion failed attempts.",
                "counter",
                counter(&self.out_of_order_samples),
            ),
        ];
        for (name, help, typ, value) in families {
            write_header(out, name, typ, help);
            let _ = writeln!(out, "{name} {value}");
        }
        let name = "prometheus_agent_samples_appended_total";
        write_header(
            out,
            name,
            "counter",
            "Total number of samples appended to the storage",
        );
        let _ = writeln!(
            out,
            "{name}{{type=\"float\"}} {}",
            load(&self.samples_appended)
        );
        // Go creates the `histogram` child with the first native histogram appended.
        let histograms = load(&self.histograms_appended);
        if histograms > 0 {
            let _ = writeln!(out, "{name}{{type=\"histogram\"}} {histograms}");
        }
        let name = "prometheus_agent_truncate_duration_seconds";
        write_header(out, name, "summary", "Duration of WAL truncation.");
        let _ = writeln!(
            out,
            "{name}_sum {}\n{name}_count {}",
            secs(load(&self.truncate_duration_nanos)),
            load(&self.truncations)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_has_one_header_per_family_and_go_names() {
        let m = Metrics::default();
        m.active_series.store(3, Ordering::Relaxed);
        Metrics::inc(&m.samples_appended);
        Metrics::observe(&m.truncate_duration_nanos, Duration::from_millis(250));
        Metrics::inc(&m.truncations);
        let mut out = String::new();
        m.write_text(&mut out);
        assert!(
            out.contains("\nprometheus_agent_active_series 3\n"),
            "{out}"
        );
        assert!(
            out.contains("prometheus_agent_samples_appended_total{type=\"float\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("prometheus_agent_truncate_duration_seconds_sum 0.25\n"),
            "{out}"
        );
        assert!(
            out.contains("prometheus_agent_truncate_duration_seconds_count 1\n"),
            "{out}"
        );
        let types = out.lines().filter(|l| l.starts_with("# TYPE")).count();
        let helps = out.lines().filter(|l| l.starts_with("# HELP")).count();
        assert_eq!((types, helps), (13, 13));
        assert!(out.contains("\nprometheus_agent_clean_start 0\n"), "{out}");
        assert!(!out.contains("type=\"histogram\""), "{out}");
        Metrics::inc(&m.histograms_appended);
        out.clear();
        m.write_text(&mut out);
        assert!(
            out.contains("prometheus_agent_samples_appended_total{type=\"histogram\"} 1\n"),
            "{out}"
        );
    }
}
