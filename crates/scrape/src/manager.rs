//! The scrape manager (Go's `scrape.Manager`): one scrape pool per job, fed with target
//! groups from discovery, reconfigured by [`Manager::apply_config`].

use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use config::ScrapeConfig;
use model::{Labels, TargetGroup};
use storage::Appendable;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::scrape::{ScrapePool, client};
use crate::target::{MetricMetadata, Target};
use crate::{Error, Result};

/// Target groups per job, as discovery sends them.
pub type TargetSets = HashMap<String, Vec<TargetGroup>>;

/// Options of a [`Manager`].
#[derive(Debug, Clone)]
pub struct Options {
    /// How often new target groups are applied at most (Prometheus's
    /// `DiscoveryReloadInterval`, 5 s).
    pub discovery_reload_interval: Duration,
    /// Append a zero sample at each sample's created timestamp (protobuf
    /// `created_timestamp`, OpenMetrics `_created` lines, which are then not ingested as
    /// series): `--enable-feature=created-timestamp-zero-ingestion`.
    pub enable_created_timestamp_zero_ingestion: bool,
    /// Whether jobs that do not set `extra_scrape_metrics` (nor the global block) report
    /// `scrape_timeout_seconds`, `scrape_sample_limit` and `scrape_body_size_bytes`: the
    /// default `--enable-feature=extra-scrape-metrics` turns on, as Prometheus 3 does.
    pub extra_scrape_metrics: bool,
    /// Add the metric type and unit the target exposes to its series as `__type__` and
    /// `__unit__` labels (`--enable-feature=type-and-unit-labels`).
    pub enable_type_and_unit_labels: bool,
    /// Hand each series' metadata (type, unit, help of its family) to the appender with
    /// `Appender::update_metadata` when the series is new or its family's metadata changed
    /// (`--enable-feature=metadata-wal-records`; the TSDB head logs it to the WAL).
    pub append_metadata: bool,
    /// Align each scrape's timestamp to the loop's schedule when the tick came at most
    /// `timestamp_tolerance` late (`--scrape.adjust-timestamps`, on by default): equal
    /// timestamp deltas compress to almost nothing in the TSDB (prometheus#7846).
    pub adjust_timestamps: bool,
    /// `--scrape.timestamp-tolerance` (2 ms), capped at 1% of the scrape interval.
    pub timestamp_tolerance: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            discovery_reload_interval: Duration::from_secs(5),
            enable_created_timestamp_zero_ingestion: false,
            extra_scrape_metrics: false,
            enable_type_and_unit_labels: false,
            append_metadata: false,
            adjust_timestamps: true,
            timestamp_tolerance: Duration::from_millis(2),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    configs: HashMap<String, Arc<ScrapeConfig>>,
    pools: BTreeMap<String, ScrapePool>,
    target_sets: TargetSets,
    offset_seed: u64,
    stopped: bool,
}

struct Inner {
    appendable: Arc<dyn Appendable>,
    metrics: Arc<Metrics>,
    options: Options,
    state: Mutex<State>,
    cancel: CancellationToken,
}

/// The scrape manager. Cheap to clone; clones share the manager.
///
/// Lifecycle: [`Manager::apply_config`] sets the jobs, [`Manager::run`] consumes target
/// groups until [`Manager::stop`], which stops every loop and writes staleness markers before
/// it returns.
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// The name the offset seed starts from: Go's `osutil.GetFQDN`, which looks the hostname's
/// IPv4 addresses up and returns the first name of the first one that has one (else the
/// hostname). Only the hosts file is consulted (where the name of a machine is normally
/// found; Go's resolver asks it first too), so a name known only to DNS stays the hostname.
fn hostname() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    fqdn_from_hosts(&host, &hosts)
}

/// [`hostname`]'s lookups over the text of a hosts file.
fn fqdn_from_hosts(host: &str, hosts: &str) -> String {
    let entries: Vec<(&str, Vec<&str>)> = hosts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('#').next()?.split_whitespace();
            let addr = fields.next()?;
            Some((addr, fields.collect::<Vec<_>>()))
        })
        .collect();
    let wanted = host.trim_end_matches('.');
    let ips = entries.iter().filter(|(addr, names)| {
        addr.parse::<std::net::Ipv4Addr>().is_ok()
            && names
                .iter()
                .any(|n| n.trim_end_matches('.').eq_ignore_ascii_case(wanted))
    });
    for (ip, _) in ips {
        let first = entries
            .iter()
            .filter(|(addr, _)| addr == ip)
            .find_map(|(_, names)| names.first());
        if let Some(name) = first {
            return name.trim_end_matches('.').to_string();
        }
    }
    host.to_string()
}

impl Manager {
    /// A manager appending to `appendable`.
    pub fn new(appendable: Arc<dyn Appendable>, options: Options) -> Manager {
        Manager {
            inner: Arc::new(Inner {
                appendable,
                metrics: Arc::default(),
                options,
                state: Mutex::new(State::default()),
                cancel: CancellationToken::new(),
            }),
        }
    }

    /// Appends the manager's `prometheus_target_*` metrics in the text exposition format,
    /// families sorted by name: pool creations and reloads, target and label limit hits,
    /// per job (`scrape_job`) syncs, sync durations and failures, targets, target limit and
    /// metadata cache size, the actual scrape intervals (`interval`), and the scrapes and
    /// samples rejected by limits or the storage.
    pub fn write_metrics(&self, out: &mut String) {
        let pools: Vec<crate::metrics::PoolView> =
            self.state().pools.values().map(ScrapePool::view).collect();
        self.inner.metrics.write(out, &pools);
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere leaves consistent plain data behind: keep using it.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the scrape jobs ([`config::Config::all_scrape_configs`]): pools of removed jobs
    /// stop (staleness markers written), pools of changed jobs restart their loops with the
    /// new settings, keeping their caches. The offset seed is derived from the hostname and
    /// the external labels, as Prometheus does.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for HTTP client options scraping does not implement and
    /// [`Error::Tls`] for unusable TLS settings (nothing is changed then);
    /// [`Error::NoRuntime`] outside a Tokio runtime.
    pub fn apply_config(&self, cfg: &config::Config) -> Result<()> {
        let mut configs = HashMap::new();
        for sc in cfg.all_scrape_configs() {
            // Builds (and drops) the job's client so bad TLS files fail the reload here.
            client::HttpClient::new(sc)?;
            configs.insert(sc.job_name.clone(), Arc::new(sc.clone()));
        }
        let handle = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let mut h = fnv::FnvHasher::default();
        h.write(format!("{}{}", hostname(), cfg.global.external_labels()).as_bytes());
        let seed = h.finish();

        let mut state = self.state();
        if state.stopped {
            return Ok(());
        }
        let seed_changed = state.offset_seed != seed;
        state.offset_seed = seed;
        let jobs: Vec<String> = state.pools.keys().cloned().collect();
        for job in jobs {
            match configs.get(&job) {
                None => {
                    if let Some(mut pool) = state.pools.remove(&job) {
                        drop(pool.stop());
                    }
                }
                Some(new) => {
                    let pool = state.pools.get_mut(&job).expect("job listed from pools");
                    if seed_changed || pool.config.as_ref() != new.as_ref() {
                        let m = &self.inner.metrics;
                        m.pool_reloads.inc();
                        let start = std::time::Instant::now();
                        match pool.reload(&handle, new.clone(), seed, &self.inner.options) {
                            Ok(_) => m
                                .reload_length(new.scrape_interval.to_std())
                                .observe_since(start),
                            Err(e) => {
                                m.pool_reloads_failed.inc();
                                tracing::error!(scrape_pool = %job, err = %e, "reloading scrape pool failed");
                            }
                        }
                    }
                }
            }
        }
        state.configs = configs;
        Ok(())
    }

    /// Applies target groups from `targets` (at most once per
    /// [`Options::discovery_reload_interval`]) until [`Manager::stop`] is called.
    pub async fn run(&self, mut targets: watch::Receiver<TargetSets>) {
        let every = self.inner.options.discovery_reload_interval;
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pending = true;
        let mut open = true;
        loop {
            tokio::select! {
                () = self.inner.cancel.cancelled() => return,
                changed = targets.changed(), if open => {
                    if changed.is_ok() {
                        pending = true;
                    } else {
                        open = false;
                    }
                }
                _ = ticker.tick() => {
                    if pending {
                        pending = false;
                        let sets = targets.borrow_and_update().clone();
                        self.sync(sets);
                    }
                }
            }
        }
    }

    /// Applies target groups now (what [`Manager::run`] does on each reload).
    pub fn sync(&self, sets: TargetSets) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            tracing::error!("scrape manager sync outside a Tokio runtime");
            return;
        };
        let mut state = self.state();
        if state.stopped {
            return;
        }
        state.target_sets = sets;
        let State {
            configs,
            pools,
            target_sets,
            offset_seed,
            ..
        } = &mut *state;
        for (job, groups) in target_sets.iter() {
            let pool = match pools.get_mut(job) {
                Some(p) => p,
                None => {
                    let Some(cfg) = configs.get(job) else {
                        tracing::error!(scrape_pool = %job, "error reloading target set: no scrape config for job");
                        continue;
                    };
                    self.inner.metrics.scrape_pools.inc();
                    match ScrapePool::new(
                        cfg.clone(),
                        self.inner.appendable.clone(),
                        *offset_seed,
                        self.inner.metrics.clone(),
                        &self.inner.options,
                    ) {
                        Ok(p) => pools.entry(job.clone()).or_insert(p),
                        Err(e) => {
                            self.inner.metrics.scrape_pools_failed.inc();
                            tracing::error!(scrape_pool = %job, err = %e, "error creating new scrape pool");
                            continue;
                        }
                    }
                }
            };
            drop(pool.sync(&handle, groups.clone()));
        }
    }

    /// Stops every loop, writes staleness markers for every scraped series, and waits for
    /// the loops to finish. Later calls of the other methods do nothing.
    pub async fn stop(&self) {
        self.inner.cancel.cancel();
        let handles: Vec<JoinHandle<()>> = {
            let mut state = self.state();
            state.stopped = true;
            let mut hs = Vec::new();
            for pool in state.pools.values_mut() {
                hs.extend(pool.stop());
            }
            state.pools.clear();
            hs
        };
        for h in handles {
            let _ = h.await;
        }
    }

    /// The active targets per job, each sorted by URL (for `/api/v1/targets`).
    pub fn targets_active(&self) -> BTreeMap<String, Vec<Arc<Target>>> {
        self.state()
            .pools
            .iter()
            .map(|(job, p)| (job.clone(), p.active_targets()))
            .collect()
    }

    /// Discovered label sets of the targets relabeling dropped, per job (at most
    /// `keep_dropped_targets` each when that is set).
    pub fn targets_dropped(&self) -> BTreeMap<String, Vec<Labels>> {
        self.state()
            .pools
            .iter()
            .map(|(job, p)| (job.clone(), p.dropped_targets()))
            .collect()
    }

    /// The metadata of every active target (for `/api/v1/metadata` and
    /// `/api/v1/targets/metadata`): the target and what it last exposed.
    pub fn metadata(&self) -> Vec<(Arc<Target>, Vec<MetricMetadata>)> {
        self.targets_active()
            .into_values()
            .flatten()
            .map(|t| {
                let md = t.metadata();
                (t, md)
            })
            .collect()
    }

    /// The scrape configurations of the current jobs, by job name.
    pub fn scrape_configs(&self) -> HashMap<String, Arc<ScrapeConfig>> {
        self.state().configs.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::fqdn_from_hosts;

    #[test]
    fn the_seed_name_is_the_first_name_of_the_hostnames_address() {
        let hosts = "# comment\n127.0.0.1 localhost\n::1 vm\n127.0.0.1 runsc\n127.0.0.1 vm # me\n";
        // Go's GetFQDN: LookupIP("vm") = 127.0.0.1, LookupAddr gives localhost first.
        assert_eq!(fqdn_from_hosts("vm", hosts), "localhost");
        assert_eq!(
            fqdn_from_hosts("box", "10.0.0.5 box.example.org box\n"),
            "box.example.org"
        );
        assert_eq!(fqdn_from_hosts("other", hosts), "other");
    }
}
