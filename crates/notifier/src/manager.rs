//! The notification manager: the alert queue, Alertmanager sets and the send loop.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use model::{Labels, TargetGroup, relabel};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::alert::{Alert, encode_postable_alerts, relabel_alerts};
use crate::alertmanager::{alertmanagers_from_group, set_key};
use crate::client::post;
use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// Target groups per Alertmanager set key (`config-0`, ...), as discovery sends them.
pub type TargetSets = HashMap<String, Vec<TargetGroup>>;

/// Prometheus's default `--alertmanager.notification-queue-capacity`.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
/// Go's `DefaultMaxBatchSize`: at most this many alerts per POST.
pub const DEFAULT_MAX_BATCH_SIZE: usize = 256;

/// Options of a [`Manager`] (Go's `notifier.Options`).
#[derive(Debug, Clone)]
pub struct Options {
    /// How many alerts wait to be sent at most; the oldest are dropped beyond it
    /// (`--alertmanager.notification-queue-capacity`, default 10000).
    pub queue_capacity: usize,
    /// At most this many alerts go in one POST (default 256).
    pub max_batch_size: usize,
    /// Whether [`Manager::stop`] sends what is still queued
    /// (`--alertmanager.drain-notification-queue-on-shutdown`, default true).
    pub drain_on_shutdown: bool,
    /// How long draining may take at most; what is left then is dropped and counted.
    /// `None` (the default) drains until the queue is empty, as Prometheus does: each
    /// POST is still bounded by its set's `timeout`.
    pub drain_timeout: Option<Duration>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            drain_on_shutdown: true,
            drain_timeout: None,
        }
    }
}

/// The Alertmanagers discovered for one `alertmanagers` entry.
#[derive(Debug, Default, Clone)]
struct Discovered {
    /// Alerts endpoint URLs, deduplicated, in discovery order.
    active: Vec<String>,
    /// Endpoint URLs (of the labels before relabeling) that relabeling dropped.
    dropped: Vec<String>,
}

/// One `alertmanagers` entry: its config, HTTP client and discovered endpoints (Go's
/// `alertmanagerSet`).
#[derive(Debug)]
struct AlertmanagerSet {
    key: String,
    cfg: config::AlertmanagerConfig,
    client: httpclient::HttpClient,
    discovered: RwLock<Discovered>,
}

impl AlertmanagerSet {
    /// Replaces the endpoints with those of `groups` (Go's `alertmanagerSet.sync`); a group
    /// with an invalid address is logged and skipped.
    fn sync(&self, groups: &[TargetGroup], metrics: &Metrics) {
        let mut next = Discovered::default();
        for tg in groups {
            match alertmanagers_from_group(tg, &self.cfg) {
                Ok((active, dropped)) => {
                    next.active.extend(active);
                    next.dropped.extend(dropped);
                }
                Err(err) => {
                    tracing::error!(set = %self.key, err = %err, "Creating discovered Alertmanagers failed");
                }
            }
        }
        let mut seen = HashSet::new();
        next.active.retain(|u| seen.insert(u.clone()));
        for url in &next.active {
            metrics.init_alertmanager(url);
        }
        let previous = std::mem::replace(&mut *self.discovered.write(), next);
        for url in previous.active.iter().filter(|u| !seen.contains(*u)) {
            metrics.remove_alertmanager(url);
        }
    }
}

#[derive(Debug)]
struct State {
    queue: VecDeque<Alert>,
    external_labels: Labels,
    relabel_configs: Vec<relabel::Config>,
    /// In config order (`config-0` first).
    sets: Vec<Arc<AlertmanagerSet>>,
}

#[derive(Debug)]
struct Inner {
    options: Options,
    state: Mutex<State>,
    metrics: Metrics,
    /// Signalled when the queue gains alerts (holds one permit, like Go's `more` channel).
    more: Notify,
    stop: CancellationToken,
    /// `true` while [`Manager::run`] runs; waited on by [`Manager::stop`].
    running: watch::Sender<bool>,
}

/// Queues alerts and sends them to every discovered Alertmanager (Go's `notifier.Manager`).
///
/// Cheap to clone; clones share the queue. Call [`Manager::apply_config`] on every (re)load,
/// [`Manager::run`] once with the Alertmanager target groups, [`Manager::send`] from the
/// rule manager, and [`Manager::stop`] on shutdown.
#[derive(Debug, Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

impl Manager {
    /// A manager with an empty queue and no Alertmanagers.
    pub fn new(mut options: Options) -> Manager {
        if options.max_batch_size == 0 {
            options.max_batch_size = DEFAULT_MAX_BATCH_SIZE;
        }
        let metrics = Metrics::new(options.queue_capacity);
        Manager {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    external_labels: Labels::empty(),
                    relabel_configs: Vec::new(),
                    sets: Vec::new(),
                }),
                options,
                metrics,
                more: Notify::new(),
                stop: CancellationToken::new(),
                running: watch::Sender::new(false),
            }),
        }
    }

    /// Applies the external labels, `alert_relabel_configs` and `alertmanagers` of `cfg`.
    /// A set whose configuration is unchanged keeps its discovered Alertmanagers; the
    /// others get theirs at the next target-group update.
    ///
    /// # Errors
    /// [`Error::UnsupportedApiVersion`] for an `api_version` other than v2,
    /// [`Error::Client`] when the HTTP client cannot be built (including `sigv4` without
    /// credentials or region). Nothing is changed then.
    pub fn apply_config(&self, cfg: &config::Config) -> Result<()> {
        let old_sets = self.inner.state.lock().sets.clone();
        let mut sets = Vec::with_capacity(cfg.alerting.alertmanagers.len());
        for (i, am) in cfg.alerting.alertmanagers.iter().enumerate() {
            let key = set_key(i);
            if am.api_version != "v2" {
                return Err(Error::UnsupportedApiVersion {
                    set: key,
                    version: am.api_version.clone(),
                });
            }
            let client = match &am.sigv4 {
                Some(sigv4) => httpclient::HttpClient::with_sigv4(&am.http_client_config, sigv4),
                None => httpclient::HttpClient::new(&am.http_client_config),
            }
            .map(|c| c.named("alertmanager"))
            .map_err(|source| Error::Client {
                set: key.clone(),
                source,
            })?;
            // Go matches old sets by a hash of their YAML; equal configs keep their targets.
            let discovered = old_sets
                .iter()
                .find(|s| s.cfg == *am)
                .map(|s| s.discovered.read().clone())
                .unwrap_or_default();
            sets.push(Arc::new(AlertmanagerSet {
                key,
                cfg: am.clone(),
                client,
                discovered: RwLock::new(discovered),
            }));
        }
        let mut state = self.inner.state.lock();
        state.external_labels = cfg.global.external_labels();
        state.relabel_configs = cfg.alerting.alert_relabel_configs.clone();
        state.sets = sets;
        Ok(())
    }

    /// Relabels `alerts` (external labels the alert lacks, then `alert_relabel_configs`;
    /// dropped alerts go no further) and queues them. When the queue would overflow, the
    /// oldest alerts are dropped and counted in `prometheus_notifications_dropped_total`.
    pub fn send(&self, alerts: Vec<Alert>) {
        let capacity = self.inner.options.queue_capacity;
        let mut state = self.inner.state.lock();
        let mut alerts = relabel_alerts(&state.relabel_configs, &state.external_labels, alerts);
        if alerts.is_empty() {
            return;
        }
        if alerts.len() > capacity {
            let d = alerts.len() - capacity;
            alerts.drain(..d);
            tracing::warn!(
                num_dropped = d,
                "Alert batch larger than queue capacity, dropping alerts"
            );
            self.inner.metrics.add_dropped(d);
        }
        let over = (state.queue.len() + alerts.len()).saturating_sub(capacity);
        if over > 0 {
            state.queue.drain(..over);
            tracing::warn!(
                num_dropped = over,
                "Alert notification queue full, dropping alerts"
            );
            self.inner.metrics.add_dropped(over);
        }
        state.queue.extend(alerts);
        drop(state);
        self.inner.more.notify_one();
    }

    /// Applies target groups now: each set named in `sets` gets the Alertmanagers of its
    /// groups (what [`Manager::run`] does on each update). Unknown keys are logged.
    pub fn sync(&self, sets: &TargetSets) {
        let current = self.inner.state.lock().sets.clone();
        for (key, groups) in sets {
            match current.iter().find(|s| s.key == *key) {
                Some(set) => set.sync(groups, &self.inner.metrics),
                None => {
                    tracing::error!(err = %format!("invalid id:{key}"), "couldn't sync alert manager set");
                }
            }
        }
    }

    /// Sends queued alerts and applies target-group updates from `targets` (the current
    /// value first) until [`Manager::stop`] is called, then drains the queue (if
    /// [`Options::drain_on_shutdown`], for at most [`Options::drain_timeout`] if set).
    pub async fn run(&self, mut targets: watch::Receiver<TargetSets>) {
        self.inner.running.send_replace(true);
        let stop = &self.inner.stop;
        let updates = async {
            let initial = targets.borrow_and_update().clone();
            if !initial.is_empty() {
                self.sync(&initial);
            }
            loop {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => return,
                    changed = targets.changed() => {
                        if changed.is_err() {
                            // The sender is gone: no more updates, keep the last ones.
                            stop.cancelled().await;
                            return;
                        }
                        let sets = targets.borrow_and_update().clone();
                        self.sync(&sets);
                    }
                }
            }
        };
        let sends = async {
            loop {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    () = self.inner.more.notified() => {
                        self.send_one_batch().await;
                        if self.queue_len() > 0 {
                            self.inner.more.notify_one();
                        }
                    }
                }
            }
            self.drain_queue().await;
        };
        tokio::join!(updates, sends);
        tracing::info!("Notification manager stopped");
        self.inner.running.send_replace(false);
    }

    /// Stops [`Manager::run`] and waits until it has drained the queue and returned. Safe
    /// to call more than once, and before `run` was started (then queued alerts stay
    /// unsent).
    pub async fn stop(&self) {
        tracing::info!("Stopping notification manager...");
        self.inner.stop.cancel();
        let mut running = self.inner.running.subscribe();
        // The sender lives in `inner`, which `self` keeps alive, so this cannot fail.
        let _ = running.wait_for(|r| !*r).await;
    }

    /// The alerts endpoint URLs of the active and of the dropped Alertmanagers, set by set
    /// in config order (for `/api/v1/alertmanagers`).
    pub fn alertmanagers(&self) -> (Vec<String>, Vec<String>) {
        let sets = self.inner.state.lock().sets.clone();
        let mut active = Vec::new();
        let mut dropped = Vec::new();
        for set in &sets {
            let d = set.discovered.read();
            active.extend(d.active.iter().cloned());
            dropped.extend(d.dropped.iter().cloned());
        }
        (active, dropped)
    }

    /// Number of alerts waiting to be sent.
    pub fn queue_len(&self) -> usize {
        self.inner.state.lock().queue.len()
    }

    /// Writes the `prometheus_notifications_*` metrics in the text exposition format (one
    /// `# HELP`/`# TYPE` header per family, families sorted by name).
    pub fn write_metrics(&self, out: &mut String) {
        let active = self.alertmanagers().0.len();
        self.inner.metrics.write_text(self.queue_len(), active, out);
    }

    /// Total alerts dropped so far (`prometheus_notifications_dropped_total`).
    pub fn dropped_total(&self) -> u64 {
        self.inner.metrics.dropped()
    }

    fn next_batch(&self) -> Vec<Alert> {
        let mut state = self.inner.state.lock();
        let n = state.queue.len().min(self.inner.options.max_batch_size);
        state.queue.drain(..n).collect()
    }

    async fn send_one_batch(&self) {
        let alerts = self.next_batch();
        if !self.send_all(&alerts).await {
            self.inner.metrics.add_dropped(alerts.len());
        }
    }

    /// Sends what is queued, batch by batch, until the queue is empty (Go's `drainQueue`),
    /// or drops and counts it when draining is off.
    async fn drain_queue(&self) {
        if !self.inner.options.drain_on_shutdown {
            let remaining = self.queue_len();
            if remaining > 0 {
                tracing::warn!(
                    count = remaining,
                    "Draining remaining notifications on shutdown is disabled, and some notifications have been dropped"
                );
                self.drop_queue();
            }
            return;
        }
        tracing::info!("Draining any remaining notifications...");
        let deadline = self
            .inner
            .options
            .drain_timeout
            .map(|t| tokio::time::Instant::now() + t);
        while self.queue_len() > 0 {
            let alerts = self.next_batch();
            let sent = match deadline {
                Some(d) => tokio::time::timeout_at(d, self.send_all(&alerts)).await,
                None => Ok(self.send_all(&alerts).await),
            };
            match sent {
                Ok(true) => {}
                Ok(false) => self.inner.metrics.add_dropped(alerts.len()),
                Err(_) => {
                    // The batch in flight counts as dropped, and so does the rest.
                    self.inner.metrics.add_dropped(alerts.len());
                    tracing::warn!(
                        count = alerts.len() + self.queue_len(),
                        "Draining notifications timed out, and some notifications have been dropped"
                    );
                    self.drop_queue();
                    return;
                }
            }
        }
        tracing::info!("Remaining notifications drained");
    }

    fn drop_queue(&self) {
        let n = {
            let mut state = self.inner.state.lock();
            let n = state.queue.len();
            state.queue.clear();
            n
        };
        self.inner.metrics.add_dropped(n);
    }

    /// Sends `alerts` to every Alertmanager of every set at once (Go's `sendAll`). Returns
    /// false when some set that had Alertmanagers (and alerts left after its relabeling)
    /// reached none of them.
    async fn send_all(&self, alerts: &[Alert]) -> bool {
        if alerts.is_empty() {
            return true;
        }
        let begin = Instant::now();
        let sets = self.inner.state.lock().sets.clone();
        let mut shared_payload: Option<Bytes> = None;
        let mut posts = Vec::new();
        for (i, set) in sets.iter().enumerate() {
            let urls = set.discovered.read().active.clone();
            if urls.is_empty() {
                continue;
            }
            let (payload, count) = if set.cfg.alert_relabel_configs.is_empty() {
                let p = shared_payload
                    .get_or_insert_with(|| Bytes::from(encode_postable_alerts(alerts)))
                    .clone();
                (p, alerts.len())
            } else {
                let relabeled = relabel_alerts(
                    &set.cfg.alert_relabel_configs,
                    &Labels::empty(),
                    alerts.to_vec(),
                );
                if relabeled.is_empty() {
                    continue;
                }
                (
                    Bytes::from(encode_postable_alerts(&relabeled)),
                    relabeled.len(),
                )
            };
            let timeout = set.cfg.timeout.to_std();
            let metrics = &self.inner.metrics;
            for url in urls {
                let (client, payload) = (set.client.clone(), payload.clone());
                posts.push(async move {
                    // Logged and counted as each POST ends, as Go's per-POST goroutines do.
                    let ok = match post(&client, &url, payload, timeout).await {
                        Ok(()) => true,
                        Err(err) => {
                            tracing::error!(alertmanager = %url, count, err = %err, "Error sending alerts");
                            false
                        }
                    };
                    // Go measures from the start of the whole batch to this POST's end.
                    metrics.record_send(&url, count, ok, begin.elapsed());
                    (i, ok)
                });
            }
        }
        let mut attempted = vec![false; sets.len()];
        let mut covered = vec![false; sets.len()];
        for (i, ok) in futures::future::join_all(posts).await {
            attempted[i] = true;
            covered[i] |= ok;
        }
        attempted.iter().zip(&covered).all(|(a, c)| !a || *c)
    }
}

#[cfg(test)]
mod tests;
