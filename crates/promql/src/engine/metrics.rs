//! The engine's own metrics (Go's `engineMetrics` of `promql/engine.go`), counted by the query entry point and written by [`Engine::write_metrics`](super::Engine::write_metrics).

use model::exposition::write_header;
use model::metrics::{Counter, Gauge, Summary, write_sample};

/// What the engine counts about its queries. Each query updates these a handful of times
/// (never per sample), so that their locks and atomics stay off the hot paths.
#[derive(Debug, Default)]
pub(crate) struct EngineMetrics {
    /// `prometheus_engine_queries`: queries executing or waiting for a slot.
    queries: Gauge,
    /// `prometheus_engine_query_samples_total`: samples loaded by all queries (each query's
    /// `QueryStats::total_samples`).
    samples: Counter,
    /// The `slice="queue_time"` summary: waiting for a concurrency slot (only observed when
    /// there is a limit, as Go observes it only with its active query tracker).
    pub(crate) queue_time: Summary,
    /// The `slice="prepare_time"` summary: the time range, select hints and querier.
    pub(crate) prepare_time: Summary,
    /// The `slice="inner_eval"` summary: evaluating the expression.
    pub(crate) inner_eval: Summary,
    /// The `slice="result_sort"` summary: sorting a matrix result by labels.
    pub(crate) result_sort: Summary,
    /// `prometheus_engine_query_log_enabled`: 1 while a query logger is set.
    query_log_enabled: Gauge,
    /// `prometheus_engine_query_log_failures_total`: entries the query logger could not
    /// write.
    query_log_failures: Counter,
}

/// Counts a query in `prometheus_engine_queries` for as long as it lives.
pub(crate) struct Running<'a>(&'a EngineMetrics);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.queries.dec();
    }
}

impl EngineMetrics {
    /// Counts a query as executing or waiting until the guard is dropped.
    pub(crate) fn running(&self) -> Running<'_> {
        self.queries.inc();
        Running(self)
    }

    /// Records whether a query logger is set.
    pub(crate) fn set_query_log_enabled(&self, enabled: bool) {
        self.query_log_enabled.set(if enabled { 1.0 } else { 0.0 });
    }

    /// Counts an entry the query logger failed to write.
    pub(crate) fn query_log_failed(&self) {
        self.query_log_failures.inc();
    }

    /// Adds a finished (or failed) query's samples to the total.
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn add_samples(&self, n: u64) {
        self.samples.add(n as f64);
    }

    /// Appends the families in the text format, sorted by name as Go's registry writes
    /// them; `max_concurrency` is `--query.max-concurrency` (`None`: no limit, shown as -1).
    pub(crate) fn write(&self, out: &mut String, max_concurrency: Option<usize>) {
        write_header(
            out,
            "prometheus_engine_queries",
            "gauge",
            "The current number of queries being executed or waiting.",
        );
        write_sample(out, "prometheus_engine_queries", &[], self.queries.get());
        write_header(
            out,
            "prometheus_engine_queries_concurrent_max",
            "gauge",
            "The max number of concurrent queries.",
        );
        #[allow(clippy::cast_precision_loss)]
        let max = max_concurrency.map_or(-1.0, |n| n as f64);
        write_sample(out, "prometheus_engine_queries_concurrent_max", &[], max);
        write_header(
            out,
            "prometheus_engine_query_duration_seconds",
            "summary",
            "Query timings",
        );
        for (slice, summary) in [
            ("inner_eval", &self.inner_eval),
            ("prepare_time", &self.prepare_time),
            ("queue_time", &self.queue_time),
            ("result_sort", &self.result_sort),
        ] {
            summary.write(
                out,
                "prometheus_engine_query_duration_seconds",
                &[("slice", slice)],
            );
        }
        write_header(
            out,
            "prometheus_engine_query_log_enabled",
            "gauge",
            "State of the query log.",
        );
        write_sample(
            out,
            "prometheus_engine_query_log_enabled",
            &[],
            self.query_log_enabled.get(),
        );
        write_header(
            out,
            "prometheus_engine_query_log_failures_total",
            "counter",
            "The number of query log failures.",
        );
        write_sample(
            out,
            "prometheus_engine_query_log_failures_total",
            &[],
            self.query_log_failures.get(),
        );
        write_header(
            out,
            "prometheus_engine_query_samples_total",
            "counter",
            "The total number of samples loaded by all queries.",
        );
        write_sample(
            out,
            "prometheus_engine_query_samples_total",
            &[],
            self.samples.get(),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use model::Labels;
    use storage::{Appendable, MemStorage};

    use crate::{Engine, EngineOpts};

    fn db() -> Arc<MemStorage> {
        let db = Arc::new(MemStorage::new());
        let mut app = db.appender();
        for job in ["a", "b"] {
            let s = Labels::from_pairs([("__name__", "up"), ("job", job)]);
            for i in 0..10 {
                app.append(0, &s, i * 15_000, 1.0).expect("append");
            }
        }
        app.commit().expect("commit");
        db
    }

    fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
        out.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{out}"))
    }

    #[test]
    fn queries_count_their_samples_and_timings() {
        let engine = Engine::new(EngineOpts {
            max_concurrency: Some(20),
            ..EngineOpts::default()
        });
        let mut out = String::new();
        engine.write_metrics(&mut out);
        assert!(out.contains("# TYPE prometheus_engine_query_duration_seconds summary\n"));
        assert!(out.contains(
            "prometheus_engine_query_duration_seconds{slice=\"inner_eval\",quantile=\"0.5\"} NaN\n"
        ));
        assert_eq!(
            line(&out, "prometheus_engine_queries_concurrent_max "),
            "prometheus_engine_queries_concurrent_max 20"
        );

        let db = db();
        // Two series, one sample each at t=60s.
        engine
            .instant_query(db.clone(), "up", 60_000)
            .expect("instant");
        // Two series at 3 steps: 6 samples; a range result is sorted.
        engine
            .range_query(db.clone(), "up", 0, 30_000, 15_000)
            .expect("range");
        // A failed query still counts.
        assert!(engine.instant_query(db, "up + on() up", 60_000).is_err());

        let mut out = String::new();
        engine.write_metrics(&mut out);
        assert_eq!(
            line(&out, "prometheus_engine_queries "),
            "prometheus_engine_queries 0"
        );
        assert_eq!(
            line(&out, "prometheus_engine_query_samples_total "),
            "prometheus_engine_query_samples_total 12"
        );
        for (slice, n) in [
            ("inner_eval", 3),
            ("prepare_time", 3),
            ("queue_time", 3),
            ("result_sort", 1),
        ] {
            let prefix =
                format!("prometheus_engine_query_duration_seconds_count{{slice=\"{slice}\"}} ");
            assert_eq!(line(&out, &prefix), format!("{prefix}{n}"), "{out}");
        }
    }

    #[test]
    fn without_a_limit_the_max_is_minus_one_and_nothing_queues() {
        let engine = Engine::new(EngineOpts {
            max_concurrency: None,
            ..EngineOpts::default()
        });
        engine.instant_query(db(), "up", 60_000).expect("instant");
        let mut out = String::new();
        engine.write_metrics(&mut out);
        assert_eq!(
            line(&out, "prometheus_engine_queries_concurrent_max "),
            "prometheus_engine_queries_concurrent_max -1"
        );
        assert_eq!(
            line(
                &out,
                "prometheus_engine_query_duration_seconds_count{slice=\"queue_time\"} "
            ),
            "prometheus_engine_query_duration_seconds_count{slice=\"queue_time\"} 0"
        );
    }

    #[test]
    fn query_log_families_follow_the_logger() {
        let engine = Engine::new(EngineOpts::default());
        let value = |engine: &Engine, name: &str| {
            let mut out = String::new();
            engine.write_metrics(&mut out);
            assert!(out.contains(&format!("# TYPE {name} ")), "{out}");
            line(&out, &format!("{name} ")).to_owned()
        };
        assert_eq!(
            value(&engine, "prometheus_engine_query_log_enabled"),
            "prometheus_engine_query_log_enabled 0"
        );
        let failing = |_: &crate::QueryLogEntry<'_>| -> std::io::Result<()> {
            Err(std::io::Error::other("disk full"))
        };
        engine.set_query_logger(Some(Arc::new(failing)));
        assert_eq!(
            value(&engine, "prometheus_engine_query_log_enabled"),
            "prometheus_engine_query_log_enabled 1"
        );
        engine.instant_query(db(), "up", 60_000).expect("instant");
        engine.instant_query(db(), "up", 60_000).expect("instant");
        assert_eq!(
            value(&engine, "prometheus_engine_query_log_failures_total"),
            "prometheus_engine_query_log_failures_total 2"
        );
        engine.set_query_logger(None);
        engine.instant_query(db(), "up", 60_000).expect("instant");
        assert_eq!(
            value(&engine, "prometheus_engine_query_log_enabled"),
            "prometheus_engine_query_log_enabled 0"
        );
        assert_eq!(
            value(&engine, "prometheus_engine_query_log_failures_total"),
            "prometheus_engine_query_log_failures_total 2"
        );
    }
}
