//! The scrape manager's own `prometheus_target_*` metrics (Go's `scrapeMetrics`), shared by its pools and loops.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use model::exposition::write_header;
use model::metrics::{Counter, SUMMARY_QUANTILES_TARGET, Summary, write_sample};

/// The manager-wide counters and the per-interval summaries. Loops update them once per
/// scrape (never per sample).
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// Scrape pool creation attempts (`prometheus_target_scrape_pools_total`).
    pub(crate) scrape_pools: Counter,
    /// Failed creations (`prometheus_target_scrape_pools_failed_total`).
    pub(crate) scrape_pools_failed: Counter,
    /// Pool reloads for a changed configuration (`prometheus_target_scrape_pool_reloads_total`).
    pub(crate) pool_reloads: Counter,
    /// Failed reloads (`prometheus_target_scrape_pool_reloads_failed_total`).
    pub(crate) pool_reloads_failed: Counter,
    /// Syncs and reloads that found more targets than `target_limit`.
    pub(crate) exceeded_target_limit: Counter,
    /// Scrapes failed by `label_limit` or the label length limits.
    pub(crate) exceeded_label_limits: Counter,
    /// Scrapes failed by `body_size_limit`.
    pub(crate) exceeded_body_size_limit: Counter,
    /// Scrapes failed by `sample_limit`.
    pub(crate) exceeded_sample_limit: Counter,
    /// Scrapes failed by `native_histogram_bucket_limit`.
    pub(crate) exceeded_bucket_limit: Counter,
    /// Exemplars rejected as out of order (all of a series' exemplars in one scrape).
    pub(crate) exemplar_out_of_order: Counter,
    /// Samples the storage rejected as duplicates (same timestamp, other value).
    pub(crate) sample_duplicate: Counter,
    /// Samples the storage rejected as out of bounds.
    pub(crate) sample_out_of_bounds: Counter,
    /// Samples the storage rejected as out of order.
    pub(crate) sample_out_of_order: Counter,
    /// `prometheus_target_interval_length_seconds` by its `interval` label.
    interval_length: Mutex<BTreeMap<String, Arc<Summary>>>,
    /// `prometheus_target_reload_length_seconds` by its `interval` label.
    reload_length: Mutex<BTreeMap<String, Arc<Summary>>>,
}

/// The summary of `interval` in `map`, created on first use.
fn summary_for(map: &Mutex<BTreeMap<String, Arc<Summary>>>, interval: Duration) -> Arc<Summary> {
    let label = model::strconv::format_go_duration(
        i128::try_from(interval.as_nanos()).unwrap_or(i128::MAX),
    );
    let mut map = map
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    map.entry(label)
        .or_insert_with(|| Arc::new(Summary::with_quantiles(&SUMMARY_QUANTILES_TARGET)))
        .clone()
}

/// What one scrape pool reports under its `scrape_job` label.
#[derive(Debug)]
pub(crate) struct PoolMetrics {
    /// Syncs with new target groups (`prometheus_target_scrape_pool_sync_total`).
    pub(crate) syncs: Counter,
    /// Their durations (`prometheus_target_sync_length_seconds`).
    pub(crate) sync_length: Summary,
    /// Targets that could not be built from their groups (`prometheus_target_sync_failed_total`).
    pub(crate) sync_failed: Counter,
}

impl Default for PoolMetrics {
    fn default() -> Self {
        PoolMetrics {
            syncs: Counter::default(),
            sync_length: Summary::with_quantiles(&SUMMARY_QUANTILES_TARGET),
            sync_failed: Counter::default(),
        }
    }
}

/// A pool's state at render time.
pub(crate) struct PoolView {
    pub(crate) job: String,
    pub(crate) metrics: Arc<PoolMetrics>,
    /// Active targets (`prometheus_target_scrape_pool_targets`).
    pub(crate) targets: usize,
    /// The configured `target_limit` (`prometheus_target_scrape_pool_target_limit`).
    pub(crate) target_limit: u64,
    /// Metadata entries of the pool's targets (`prometheus_target_metadata_cache_entries`).
    pub(crate) metadata_entries: usize,
    /// Their help, unit and type bytes (`prometheus_target_metadata_cache_bytes`).
    pub(crate) metadata_bytes: usize,
}

impl Metrics {
    /// The summary a loop scraping every `interval` observes its actual intervals in.
    pub(crate) fn interval_length(&self, interval: Duration) -> Arc<Summary> {
        summary_for(&self.interval_length, interval)
    }

    /// The summary a reload of a pool scraping every `interval` observes its duration in.
    pub(crate) fn reload_length(&self, interval: Duration) -> Arc<Summary> {
        summary_for(&self.reload_length, interval)
    }

    /// Writes every family, sorted by name as Go's registry does; `pools` sorted by job.
    /// Families with labels and no series yet are left out, as Go leaves them out.
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn write(&self, out: &mut String, pools: &[PoolView]) {
        let counter = |out: &mut String, name: &str, help: &str, c: &Counter| {
            write_header(out, name, "counter", help);
            write_sample(out, name, &[], c.get());
        };
        let per_pool =
            |out: &mut String, name: &str, typ: &str, help: &str, v: &dyn Fn(&PoolView) -> f64| {
                if pools.is_empty() {
                    return;
                }
                write_header(out, name, typ, help);
                for p in pools {
                    write_sample(out, name, &[("scrape_job", &p.job)], v(p));
                }
            };
        let summaries = |out: &mut String,
                         name: &str,
                         help: &str,
                         map: &Mutex<BTreeMap<String, Arc<Summary>>>| {
            let map: Vec<(String, Arc<Summary>)> = map
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if map.is_empty() {
                return;
            }
            write_header(out, name, "summary", help);
            for (interval, s) in &map {
                s.write(out, name, &[("interval", interval)]);
            }
        };
        summaries(
            out,
            "prometheus_target_interval_length_seconds",
            "Actual intervals between scrapes.",
            &self.interval_length,
        );
        per_pool(
            out,
            "prometheus_target_metadata_cache_bytes",
            "gauge",
            "The number of bytes that are currently used for storing metric metadata in the cache",
            &|p| p.metadata_bytes as f64,
        );
        per_pool(
            out,
            "prometheus_target_metadata_cache_entries",
            "gauge",
            "Total number of metric metadata entries in the cache",
            &|p| p.metadata_entries as f64,
        );
        summaries(
            out,
            "prometheus_target_reload_length_seconds",
            "Actual interval to reload the scrape pool with a given configuration.",
            &self.reload_length,
        );
        counter(
            out,
            "prometheus_target_scrape_pool_exceeded_label_limits_total",
            "Total number of times scrape pools hit the label limits, during sync or config reload.",
            &self.exceeded_label_limits,
        );
        counter(
            out,
            "prometheus_target_scrape_pool_exceeded_target_limit_total",
            "Total number of times scrape pools hit the target limit, during sync or config reload.",
            &self.exceeded_target_limit,
        );
        counter(
            out,
            "prometheus_target_scrape_pool_reloads_failed_total",
            "Total number of failed scrape pool reloads.",
            &self.pool_reloads_failed,
        );
        counter(
            out,
            "prometheus_target_scrape_pool_reloads_total",
            "Total number of scrape pool reloads.",
            &self.pool_reloads,
        );
        per_pool(
            out,
            "prometheus_target_scrape_pool_sync_total",
            "counter",
            "Total number of syncs that were executed on a scrape pool.",
            &|p| p.metrics.syncs.get(),
        );
        per_pool(
            out,
            "prometheus_target_scrape_pool_target_limit",
            "gauge",
            "Maximum number of targets allowed in this scrape pool.",
            &|p| p.target_limit as f64,
        );
        per_pool(
            out,
            "prometheus_target_scrape_pool_targets",
            "gauge",
            "Current number of targets in this scrape pool.",
            &|p| p.targets as f64,
        );
        counter(
            out,
            "prometheus_target_scrape_pools_failed_total",
            "Total number of scrape pool creations that failed.",
            &self.scrape_pools_failed,
        );
        counter(
            out,
            "prometheus_target_scrape_pools_total",
            "Total number of scrape pool creation attempts.",
            &self.scrape_pools,
        );
        counter(
            out,
            "prometheus_target_scrapes_exceeded_body_size_limit_total",
            "Total number of scrapes that hit the body size limit",
            &self.exceeded_body_size_limit,
        );
        counter(
            out,
            "prometheus_target_scrapes_exceeded_native_histogram_bucket_limit_total",
            "Total number of scrapes that hit the native histogram bucket limit and were rejected.",
            &self.exceeded_bucket_limit,
        );
        counter(
            out,
            "prometheus_target_scrapes_exceeded_sample_limit_total",
            "Total number of scrapes that hit the sample limit and were rejected.",
            &self.exceeded_sample_limit,
        );
        counter(
            out,
            "prometheus_target_scrapes_exemplar_out_of_order_total",
            "Total number of exemplar rejected due to not being out of the expected order.",
            &self.exemplar_out_of_order,
        );
        counter(
            out,
            "prometheus_target_scrapes_sample_duplicate_timestamp_total",
            "Total number of samples rejected due to duplicate timestamps but different values.",
            &self.sample_duplicate,
        );
        counter(
            out,
            "prometheus_target_scrapes_sample_out_of_bounds_total",
            "Total number of samples rejected due to timestamp falling outside of the time bounds.",
            &self.sample_out_of_bounds,
        );
        counter(
            out,
            "prometheus_target_scrapes_sample_out_of_order_total",
            "Total number of samples rejected due to not being out of the expected order.",
            &self.sample_out_of_order,
        );
        per_pool(
            out,
            "prometheus_target_sync_failed_total",
            "counter",
            "Total number of target sync failures.",
            &|p| p.metrics.sync_failed.get(),
        );
        if !pools.is_empty() {
            let name = "prometheus_target_sync_length_seconds";
            write_header(
                out,
                name,
                "summary",
                "Actual interval to sync the scrape pool.",
            );
            for p in pools {
                p.metrics
                    .sync_length
                    .write(out, name, &[("scrape_job", &p.job)]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(out: &str) -> Vec<&str> {
        out.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn families_come_sorted_and_labelled_families_only_with_series() {
        let m = Metrics::default();
        let mut out = String::new();
        m.write(&mut out, &[]);
        assert!(!out.contains("scrape_job"), "{out}");
        assert!(!out.contains("interval_length"), "{out}");
        assert!(out.contains("# TYPE prometheus_target_scrape_pools_total counter\nprometheus_target_scrape_pools_total 0\n"));

        m.scrape_pools.inc();
        m.sample_out_of_order.add(3.0);
        let pool = Arc::new(PoolMetrics::default());
        pool.syncs.inc();
        pool.sync_length.observe(0.5);
        m.interval_length(Duration::from_secs(60)).observe(60.0);
        m.interval_length(Duration::from_millis(1500)).observe(1.5);
        let mut out = String::new();
        m.write(
            &mut out,
            &[PoolView {
                job: "node".into(),
                metrics: pool,
                targets: 2,
                target_limit: 10,
                metadata_entries: 3,
                metadata_bytes: 40,
            }],
        );
        let names: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap_or_default())
            .collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert_eq!(names.len(), 21, "{names:?}");
        let s = samples(&out);
        for line in [
            "prometheus_target_interval_length_seconds{interval=\"1.5s\",quantile=\"0.01\"} 1.5",
            "prometheus_target_interval_length_seconds_count{interval=\"1m0s\"} 1",
            "prometheus_target_metadata_cache_bytes{scrape_job=\"node\"} 40",
            "prometheus_target_metadata_cache_entries{scrape_job=\"node\"} 3",
            "prometheus_target_scrape_pool_sync_total{scrape_job=\"node\"} 1",
            "prometheus_target_scrape_pool_target_limit{scrape_job=\"node\"} 10",
            "prometheus_target_scrape_pool_targets{scrape_job=\"node\"} 2",
            "prometheus_target_scrape_pools_total 1",
            "prometheus_target_scrapes_sample_out_of_order_total 3",
            "prometheus_target_sync_failed_total{scrape_job=\"node\"} 0",
            "prometheus_target_sync_length_seconds{scrape_job=\"node\",quantile=\"0.99\"} 0.5",
            "prometheus_target_sync_length_seconds_sum{scrape_job=\"node\"} 0.5",
        ] {
            assert!(s.contains(&line), "{line} missing from\n{out}");
        }
    }
}
