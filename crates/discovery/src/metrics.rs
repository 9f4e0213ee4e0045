//! The `prometheus_sd_*` metrics (Go's `discovery/metrics*.go` and each mechanism's
//! `metrics.go`): the managers' own, the refresh loop's per mechanism, and those of file_sd,
//! dns_sd, http_sd, kubernetes_sd, consul_sd, linode_sd and nomad_sd, written in the text
//! format.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use model::exposition::write_header;
pub(crate) use model::metrics::Summary;
use model::metrics::write_sample as sample;

/// The Kubernetes roles `prometheus_sd_kubernetes_events_total` is pre-initialised for,
/// sorted as they are written.
pub(crate) const KUBERNETES_ROLES: [&str; 6] = [
    "endpoints",
    "endpointslice",
    "ingress",
    "node",
    "pod",
    "service",
];
/// The Kubernetes event kinds, sorted as they are written.
pub(crate) const KUBERNETES_EVENTS: [&str; 3] = ["add", "delete", "update"];

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data: a panic elsewhere leaves it usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A monotonic counter (or a gauge that is only ever set to a count).
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn inc(&self) {
        self.add(1);
    }

    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

fn counter_family(out: &mut String, name: &str, help: &str, v: u64) {
    #[allow(clippy::cast_precision_loss)]
    model::metrics::write_single(out, name, "counter", help, v as f64);
}

/// The metrics of one discovery manager (Go's `discovery.Metrics`), labelled with its name.
#[derive(Debug, Default)]
pub(crate) struct ManagerMetrics {
    /// `prometheus_sd_failed_configs`: SD blocks whose provider could not be created at the
    /// last apply.
    pub(crate) failed_configs: Counter,
    /// `prometheus_sd_discovered_targets` per target set (job or Alertmanager set).
    discovered: Mutex<BTreeMap<String, u64>>,
    /// `prometheus_sd_received_updates_total`.
    pub(crate) received: Counter,
    /// `prometheus_sd_updates_delayed_total`.
    pub(crate) delayed: Counter,
    /// `prometheus_sd_updates_total`.
    pub(crate) sent: Counter,
}

impl ManagerMetrics {
    /// Sets the discovered-targets gauge of `config`.
    pub(crate) fn set_discovered(&self, config: &str, n: u64) {
        lock(&self.discovered).insert(config.to_owned(), n);
    }

    /// Starts the gauge of `config` at zero unless it exists.
    pub(crate) fn init_discovered(&self, config: &str) {
        lock(&self.discovered).entry(config.to_owned()).or_insert(0);
    }

    /// Keeps the gauges of `configs` only (removed jobs lose their series).
    pub(crate) fn retain_discovered(&self, configs: &[String]) {
        lock(&self.discovered).retain(|c, _| configs.contains(c));
    }
}

/// The refresh loop's metrics of one mechanism (Go's `discovery.RefreshMetrics`).
#[derive(Debug, Default)]
pub(crate) struct RefreshMetrics {
    /// `prometheus_sd_refresh_failures_total{mechanism}`.
    pub(crate) failures: Counter,
    /// `prometheus_sd_refresh_duration_seconds{mechanism}`.
    pub(crate) duration: Summary,
}

/// file_sd's metrics (Go's `discovery/file/metrics.go`).
#[derive(Debug, Default)]
pub(crate) struct FileMetrics {
    /// `prometheus_sd_file_read_errors_total`.
    pub(crate) read_errors: Counter,
    /// `prometheus_sd_file_scan_duration_seconds`.
    pub(crate) scan_duration: Summary,
    /// `prometheus_sd_file_watcher_errors_total`.
    pub(crate) watcher_errors: Counter,
    /// `prometheus_sd_file_mtime_seconds`: per file_sd provider, the modification time
    /// (Unix seconds) of each file it last read.
    mtimes: Mutex<BTreeMap<u64, BTreeMap<String, f64>>>,
    next_provider: AtomicU64,
}

/// The mtime series of one file_sd provider; dropped with the provider (Go's
/// `removeDiscoverer`).
#[derive(Debug)]
pub(crate) struct FileMtimes {
    metrics: Metrics,
    id: u64,
}

impl FileMtimes {
    pub(crate) fn set(&self, path: &str, mtime: f64) {
        lock(&self.metrics.0.file.mtimes)
            .entry(self.id)
            .or_default()
            .insert(path.to_owned(), mtime);
    }

    pub(crate) fn remove(&self, path: &str) {
        if let Some(files) = lock(&self.metrics.0.file.mtimes).get_mut(&self.id) {
            files.remove(path);
        }
    }
}

impl Drop for FileMtimes {
    fn drop(&mut self) {
        lock(&self.metrics.0.file.mtimes).remove(&self.id);
    }
}

/// kubernetes_sd's metrics (Go's `discovery/kubernetes/metrics.go`).
#[derive(Debug)]
pub(crate) struct KubernetesMetrics {
    /// `prometheus_sd_kubernetes_events_total{role,event}`, pre-initialised for every role
    /// and event; indexed `[event][role]` in the orders of [`KUBERNETES_EVENTS`] and
    /// [`KUBERNETES_ROLES`].
    events: [[Counter; 6]; 3],
    /// `prometheus_sd_kubernetes_failures_total`: failed LIST and WATCH requests.
    pub(crate) failures: Counter,
}

impl Default for KubernetesMetrics {
    fn default() -> Self {
        KubernetesMetrics {
            events: std::array::from_fn(|_| std::array::from_fn(|_| Counter::default())),
            failures: Counter::default(),
        }
    }
}

impl KubernetesMetrics {
    /// Counts one event (`add`, `update` or `delete`) of `role`'s objects; roles and events
    /// outside the pre-initialised set are not counted.
    pub(crate) fn event(&self, role: &str, event: &str) {
        let r = KUBERNETES_ROLES.iter().position(|x| *x == role);
        let e = KUBERNETES_EVENTS.iter().position(|x| *x == event);
        if let (Some(r), Some(e)) = (r, e) {
            self.events[e][r].inc();
        }
    }

    #[cfg(test)]
    pub(crate) fn events(&self, role: &str, event: &str) -> u64 {
        let r = KUBERNETES_ROLES.iter().position(|x| *x == role);
        let e = KUBERNETES_EVENTS.iter().position(|x| *x == event);
        match (r, e) {
            (Some(r), Some(e)) => self.events[e][r].get(),
            _ => 0,
        }
    }
}

/// consul_sd's metrics (Go's `discovery/consul/metrics.go`).
#[derive(Debug, Default)]
pub(crate) struct ConsulMetrics {
    /// `prometheus_sd_consul_rpc_failures_total`.
    pub(crate) rpc_failures: Counter,
    /// `prometheus_sd_consul_rpc_duration_seconds{endpoint="catalog",call="service"}`.
    pub(crate) service_duration: Summary,
    /// `prometheus_sd_consul_rpc_duration_seconds{endpoint="catalog",call="services"}`.
    pub(crate) services_duration: Summary,
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    managers: Mutex<BTreeMap<String, Arc<ManagerMetrics>>>,
    refresh: Mutex<BTreeMap<&'static str, Arc<RefreshMetrics>>>,
    pub(crate) file: FileMetrics,
    /// `prometheus_sd_dns_lookups_total`.
    pub(crate) dns_lookups: Counter,
    /// `prometheus_sd_dns_lookup_failures_total`.
    pub(crate) dns_lookup_failures: Counter,
    /// `prometheus_sd_http_failures_total`.
    pub(crate) http_failures: Counter,
    pub(crate) kubernetes: KubernetesMetrics,
    pub(crate) consul: ConsulMetrics,
    /// `prometheus_sd_azure_cache_hit_total`.
    pub(crate) azure_cache_hits: Counter,
    /// `prometheus_sd_azure_failures_total`.
    pub(crate) azure_failures: Counter,
    /// `prometheus_sd_kuma_fetch_duration_seconds`.
    pub(crate) kuma_fetch_duration: Summary,
    /// `prometheus_sd_kuma_fetch_failures_total`.
    pub(crate) kuma_fetch_failures: Counter,
    /// `prometheus_sd_kuma_fetch_skipped_updates_total`.
    pub(crate) kuma_fetch_skipped_updates: Counter,
    /// `prometheus_sd_linode_failures_total`.
    pub(crate) linode_failures: Counter,
    /// `prometheus_sd_nomad_failures_total`.
    pub(crate) nomad_failures: Counter,
    /// `prometheus_treecache_zookeeper_failures_total`: a serverset or nerve tree cache
    /// went into failure mode (lost its session or could not read its tree).
    pub(crate) zookeeper_failures: Counter,
}

/// The service-discovery metrics of a process: one set shared by every [`crate::Manager`]
/// given it through [`crate::Options::metrics`] (the scrape and the notify manager), as
/// Prometheus registers them once. Cheap to clone; clones share the metrics.
///
/// [`Metrics::write_text`] writes every `prometheus_sd_*` family for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Metrics(Arc<Registry>);

impl Metrics {
    /// An empty set: manager families gain series as managers are created, refresh
    /// families as providers of a refresh-based mechanism are started.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    pub(crate) fn sd(&self) -> &Registry {
        &self.0
    }

    /// The metrics of the manager called `name` (created on first use).
    pub(crate) fn manager(&self, name: &str) -> Arc<ManagerMetrics> {
        lock(&self.0.managers)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// The refresh metrics of `mechanism`; its series appear from the first call on (Go
    /// instantiates them when a discoverer of the mechanism is created).
    pub(crate) fn refresh(&self, mechanism: &'static str) -> Arc<RefreshMetrics> {
        lock(&self.0.refresh).entry(mechanism).or_default().clone()
    }

    /// A new file_sd provider's mtime series.
    pub(crate) fn file_mtimes(&self) -> FileMtimes {
        let id = self.0.file.next_provider.fetch_add(1, Ordering::Relaxed);
        FileMtimes {
            metrics: self.clone(),
            id,
        }
    }

    /// Appends every `prometheus_sd_*` family in the text exposition format, sorted by name
    /// as Go's registry writes them.
    pub fn write_text(&self, out: &mut String) {
        let r = &*self.0;
        let managers: Vec<(String, Arc<ManagerMetrics>)> = lock(&r.managers)
            .iter()
            .map(|(n, m)| (n.clone(), m.clone()))
            .collect();

        counter_family(
            out,
            "prometheus_sd_azure_cache_hit_total",
            "Number of cache hit during refresh.",
            r.azure_cache_hits.get(),
        );
        counter_family(
            out,
            "prometheus_sd_azure_failures_total",
            "Number of Azure service discovery refresh failures.",
            r.azure_failures.get(),
        );

        let name = "prometheus_sd_consul_rpc_duration_seconds";
        write_header(
            out,
            name,
            "summary",
            "The duration of a Consul RPC call in seconds.",
        );
        for (call, s) in [
            ("service", &r.consul.service_duration),
            ("services", &r.consul.services_duration),
        ] {
            s.write(out, name, &[("call", call), ("endpoint", "catalog")]);
        }
        counter_family(
            out,
            "prometheus_sd_consul_rpc_failures_total",
            "The number of Consul RPC call failures.",
            r.consul.rpc_failures.get(),
        );

        let name = "prometheus_sd_discovered_targets";
        write_header(out, name, "gauge", "Current number of discovered targets.");
        let mut discovered: Vec<(String, &str, u64)> = Vec::new();
        for (manager, m) in &managers {
            for (config, n) in lock(&m.discovered).iter() {
                discovered.push((config.clone(), manager.as_str(), *n));
            }
        }
        discovered.sort();
        for (config, manager, n) in &discovered {
            sample(
                out,
                name,
                &[("config", config), ("name", manager)],
                *n as f64,
            );
        }

        counter_family(
            out,
            "prometheus_sd_dns_lookup_failures_total",
            "The number of DNS-SD lookup failures.",
            r.dns_lookup_failures.get(),
        );
        counter_family(
            out,
            "prometheus_sd_dns_lookups_total",
            "The number of DNS-SD lookups.",
            r.dns_lookups.get(),
        );

        let name = "prometheus_sd_failed_configs";
        write_header(
            out,
            name,
            "gauge",
            "Current number of service discovery configurations that failed to load.",
        );
        for (manager, m) in &managers {
            sample(
                out,
                name,
                &[("name", manager)],
                m.failed_configs.get() as f64,
            );
        }

        // Files read by several providers count once (Go's TimestampCollector).
        let mtimes: BTreeMap<String, f64> = lock(&r.file.mtimes)
            .values()
            .flat_map(|files| files.iter().map(|(f, t)| (f.clone(), *t)))
            .collect();
        if !mtimes.is_empty() {
            let name = "prometheus_sd_file_mtime_seconds";
            write_header(
                out,
                name,
                "gauge",
                "Timestamp (mtime) of files read by FileSD. Timestamp is set at read time.",
            );
            for (file, t) in &mtimes {
                sample(out, name, &[("filename", file)], *t);
            }
        }
        counter_family(
            out,
            "prometheus_sd_file_read_errors_total",
            "The number of File-SD read errors.",
            r.file.read_errors.get(),
        );
        let name = "prometheus_sd_file_scan_duration_seconds";
        write_header(
            out,
            name,
            "summary",
            "The duration of the File-SD scan in seconds.",
        );
        r.file.scan_duration.write(out, name, &[]);
        counter_family(
            out,
            "prometheus_sd_file_watcher_errors_total",
            "The number of File-SD errors caused by filesystem watch failures.",
            r.file.watcher_errors.get(),
        );
        counter_family(
            out,
            "prometheus_sd_http_failures_total",
            "Number of HTTP service discovery refresh failures.",
            r.http_failures.get(),
        );

        let name = "prometheus_sd_kubernetes_events_total";
        write_header(
            out,
            name,
            "counter",
            "The number of Kubernetes events handled.",
        );
        for (e, event) in KUBERNETES_EVENTS.iter().enumerate() {
            for (i, role) in KUBERNETES_ROLES.iter().enumerate() {
                sample(
                    out,
                    name,
                    &[("event", event), ("role", role)],
                    r.kubernetes.events[e][i].get() as f64,
                );
            }
        }
        counter_family(
            out,
            "prometheus_sd_kubernetes_failures_total",
            "The number of failed WATCH/LIST requests.",
            r.kubernetes.failures.get(),
        );
        let name = "prometheus_sd_kuma_fetch_duration_seconds";
        write_header(
            out,
            name,
            "summary",
            "The duration of a Kuma MADS fetch call.",
        );
        r.kuma_fetch_duration.write(out, name, &[]);
        counter_family(
            out,
            "prometheus_sd_kuma_fetch_failures_total",
            "The number of Kuma MADS fetch call failures.",
            r.kuma_fetch_failures.get(),
        );
        counter_family(
            out,
            "prometheus_sd_kuma_fetch_skipped_updates_total",
            "The number of Kuma MADS fetch calls that result in no updates to the targets.",
            r.kuma_fetch_skipped_updates.get(),
        );
        counter_family(
            out,
            "prometheus_sd_linode_failures_total",
            "Number of Linode service discovery refresh failures.",
            r.linode_failures.get(),
        );
        counter_family(
            out,
            "prometheus_sd_nomad_failures_total",
            "Number of nomad service discovery refresh failures.",
            r.nomad_failures.get(),
        );

        manager_counters(
            out,
            "prometheus_sd_received_updates_total",
            "Total number of update events received from the SD providers.",
            &managers,
            |m| &m.received,
        );

        let refresh: Vec<(&'static str, Arc<RefreshMetrics>)> = lock(&r.refresh)
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        if !refresh.is_empty() {
            let name = "prometheus_sd_refresh_duration_seconds";
            write_header(
                out,
                name,
                "summary",
                "The duration of a refresh in seconds for the given SD mechanism.",
            );
            for (mechanism, m) in &refresh {
                m.duration.write(out, name, &[("mechanism", mechanism)]);
            }
            let name = "prometheus_sd_refresh_failures_total";
            write_header(
                out,
                name,
                "counter",
                "Number of refresh failures for the given SD mechanism.",
            );
            for (mechanism, m) in &refresh {
                sample(
                    out,
                    name,
                    &[("mechanism", mechanism)],
                    m.failures.get() as f64,
                );
            }
        }

        manager_counters(
            out,
            "prometheus_sd_updates_delayed_total",
            "Total number of update events that couldn't be sent immediately.",
            &managers,
            |m| &m.delayed,
        );
        manager_counters(
            out,
            "prometheus_sd_updates_total",
            "Total number of update events sent to the SD consumers.",
            &managers,
            |m| &m.sent,
        );
        counter_family(
            out,
            "prometheus_treecache_zookeeper_failures_total",
            "The total number of ZooKeeper failures.",
            r.zookeeper_failures.get(),
        );
    }
}

fn manager_counters(
    out: &mut String,
    name: &str,
    help: &str,
    managers: &[(String, Arc<ManagerMetrics>)],
    counter: impl Fn(&ManagerMetrics) -> &Counter,
) {
    if managers.is_empty() {
        return;
    }
    write_header(out, name, "counter", help);
    for (manager, m) in managers {
        sample(out, name, &[("name", manager)], counter(m).get() as f64);
    }
}

/// The value of one sample line of `text` (`series` as written, e.g.
/// `prometheus_sd_updates_total{name="scrape"}`).
#[cfg(test)]
pub(crate) fn value_of(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
        rest.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_set_writes_the_always_present_families_as_prometheus_3() {
        let m = Metrics::new();
        let mut text = String::new();
        m.write_text(&mut text);
        // Families are sorted by name; counters without labels start at zero.
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert!(text.contains(
            "prometheus_sd_consul_rpc_duration_seconds{call=\"service\",endpoint=\"catalog\",quantile=\"0.5\"} NaN\n"
        ));
        assert!(text.contains(
            "prometheus_sd_consul_rpc_duration_seconds_count{call=\"services\",endpoint=\"catalog\"} 0\n"
        ));
        assert!(text.contains("prometheus_sd_file_scan_duration_seconds{quantile=\"0.99\"} NaN\nprometheus_sd_file_scan_duration_seconds_sum 0\n"));
        assert_eq!(
            text.matches("prometheus_sd_kubernetes_events_total{")
                .count(),
            18
        );
        assert!(
            text.contains("prometheus_sd_kubernetes_events_total{event=\"add\",role=\"endpoints\"} 0\nprometheus_sd_kubernetes_events_total{event=\"add\",role=\"endpointslice\"} 0\n")
        );
        assert!(!text.contains("prometheus_sd_refresh_"));
        assert!(!text.contains("prometheus_sd_file_mtime_seconds"));
        assert!(!text.contains("prometheus_sd_updates_total"));
        assert!(text.ends_with("# TYPE prometheus_treecache_zookeeper_failures_total counter\nprometheus_treecache_zookeeper_failures_total 0\n"));
        m.sd().zookeeper_failures.inc();
        let mut text = String::new();
        m.write_text(&mut text);
        assert!(text.ends_with("prometheus_treecache_zookeeper_failures_total 1\n"));
    }

    #[test]
    fn managers_share_families_and_series_sort_by_label_values() {
        let m = Metrics::new();
        let scrape = m.manager("scrape");
        let notify = m.manager("notify");
        scrape.set_discovered("node", 3);
        notify.set_discovered("config-0", 1);
        scrape.failed_configs.set(2);
        notify.received.add(2);
        m.refresh("http").failures.inc();
        m.refresh("dns").duration.observe(0.25);
        let mtimes = m.file_mtimes();
        mtimes.set("/a.yml", 1_795_510_558.0);
        let mut text = String::new();
        m.write_text(&mut text);
        assert!(text.contains(
            "# TYPE prometheus_sd_discovered_targets gauge\nprometheus_sd_discovered_targets{config=\"config-0\",name=\"notify\"} 1\nprometheus_sd_discovered_targets{config=\"node\",name=\"scrape\"} 3\n"
        ), "{text}");
        assert_eq!(
            value_of(&text, "prometheus_sd_failed_configs{name=\"scrape\"}"),
            Some(2.0)
        );
        assert_eq!(
            value_of(
                &text,
                "prometheus_sd_received_updates_total{name=\"notify\"}"
            ),
            Some(2.0)
        );
        assert!(text.contains("prometheus_sd_refresh_failures_total{mechanism=\"dns\"} 0\nprometheus_sd_refresh_failures_total{mechanism=\"http\"} 1\n"));
        assert!(text.contains(
            "prometheus_sd_refresh_duration_seconds{mechanism=\"dns\",quantile=\"0.5\"} 0.25\n"
        ));
        assert!(
            text.contains(
                "prometheus_sd_file_mtime_seconds{filename=\"/a.yml\"} 1.795510558e+09\n"
            )
        );
        assert_eq!(
            text.matches("# TYPE prometheus_sd_updates_total").count(),
            1
        );
        drop(mtimes);
        let mut text = String::new();
        m.write_text(&mut text);
        assert!(!text.contains("prometheus_sd_file_mtime_seconds"));
    }
}
