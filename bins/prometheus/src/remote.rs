//! Remote storage: one remote-write queue and WAL watcher per `remote_write` entry, the
//! query storage that adds `remote_read` endpoints to the local TSDB, and the append path to
//! the TSDB that counts what comes in (Prometheus's `remote.Storage` plus the fanout in
//! front of it).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, bail};
use model::{Labels, Matcher, Timestamp};
use storage::remote::{
    AppendedMetrics, MetadataOptions, MetadataSource, MetadataWatcher, MetricMetadata,
    QueueManager, QueueOptions, ReadOptions, RemoteRead, Watcher, WatcherOptions, WriteOptions,
};
use storage::{Appendable, Appender, Fanout, Querier, Queryable, SeriesRef};
use tokio_util::sync::CancellationToken;

use crate::ready::ReadyStorage;
use crate::remote_wal::{TsdbWalSource, WatcherMetrics};

/// How often a watcher polls the live WAL segment once it has read it to its end.
const WAL_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// One running remote-write queue and the watcher feeding it.
struct Writer {
    /// The configuration it runs with (with the external labels): an unchanged entry keeps
    /// its queue across reloads.
    key: (config::RemoteWriteConfig, Labels),
    queue: QueueManager,
    /// Its WAL watcher's `prometheus_wal_watcher_*` metrics.
    watcher_metrics: Arc<WatcherMetrics>,
    stop: CancellationToken,
    watcher: tokio::task::JoinHandle<()>,
    /// The `metadata_config` sender (a task that returns at once when not sending).
    metadata: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct State {
    writers: Vec<Writer>,
    /// The local storage merged with the `remote_read` endpoints (`None`: none configured).
    fanout: Option<Fanout>,
    closed: bool,
}

/// Remote write and remote read, reconfigured on every (re)load.
pub(crate) struct RemoteStorage {
    wal_dir: PathBuf,
    local: Arc<ReadyStorage>,
    runtime: tokio::runtime::Handle,
    flush_deadline: Duration,
    state: Mutex<State>,
    /// What remote write 1.0 queues send as metadata: the scrape manager's targets.
    metadata_source: Mutex<Option<Arc<dyn MetadataSource>>>,
    /// What the appends through [`RemoteStorage::appendable`] committed (Go's
    /// `prometheus_remote_storage_*_in` metrics).
    appended: Arc<AppendedMetrics>,
    /// Whether appends go through here (set by [`RemoteStorage::appendable`]): only then
    /// are the `*_in` metrics true, and written.
    appends_through: AtomicBool,
}

impl RemoteStorage {
    /// Remote storage reading the WAL of the data directory `tsdb_path`, querying `local`
    /// first; queues and watchers run on the current runtime.
    pub(crate) fn new(
        tsdb_path: &std::path::Path,
        local: Arc<ReadyStorage>,
        flush_deadline: Duration,
    ) -> RemoteStorage {
        RemoteStorage {
            wal_dir: tsdb_path.join("wal"),
            local,
            runtime: tokio::runtime::Handle::current(),
            flush_deadline,
            state: Mutex::new(State::default()),
            metadata_source: Mutex::new(None),
            appended: Arc::default(),
            appends_through: AtomicBool::new(false),
        }
    }

    /// The local storage as the scrape manager, the rules and the receivers append to it:
    /// through this remote storage, which counts every committed batch in
    /// `prometheus_remote_storage_{samples,histograms,exemplars}_in_total` and
    /// `prometheus_remote_storage_highest_timestamp_in_seconds`, as Prometheus's fanout
    /// hands each append to its remote storage too.
    pub(crate) fn appendable(self: &Arc<Self>) -> Arc<dyn Appendable> {
        self.appends_through.store(true, Ordering::Relaxed);
        self.clone()
    }

    /// Agent mode's counterpart of [`RemoteStorage::appendable`]: `local` (the WAL-only
    /// storage) as scraping and the receivers append to it, each committed batch counted in
    /// the `prometheus_remote_storage_*_in` metrics (Go's agent appends through the same
    /// fanout of local and remote storage as the server).
    pub(crate) fn appendable_over(
        self: &Arc<Self>,
        local: Arc<dyn Appendable>,
    ) -> Arc<dyn Appendable> {
        self.appends_through.store(true, Ordering::Relaxed);
        Arc::new(TrackedAppends {
            appended: self.appended.clone(),
            local,
        })
    }

    /// The scrape manager whose targets' metadata remote write 1.0 queues send every
    /// `metadata_config.send_interval` (Prometheus's `ReadyScrapeManager`); queues started
    /// before it is set send none.
    pub(crate) fn set_metadata_source(&self, scraper: &scrape::Manager) {
        let source: Arc<dyn MetadataSource> = Arc::new(ScrapeMetadata(scraper.clone()));
        *self
            .metadata_source
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(source);
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `remote_write` and `remote_read` of `cfg`. Must run outside the async
    /// threads (the reloaders run on the blocking pool): it waits for changed queues to
    /// flush. An invalid entry fails the whole apply and leaves everything as it was.
    pub(crate) fn apply_config(&self, cfg: &config::Config) -> anyhow::Result<()> {
        let external_labels = Labels::from_pairs(
            cfg.global
                .external_labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        // Everything is validated (and every queue built) before anything changes.
        let mut new_writes = Vec::with_capacity(cfg.remote_write.len());
        for rw in &cfg.remote_write {
            let key = (rw.clone(), external_labels.clone());
            let queue = QueueManager::new(write_options(rw, &external_labels)?)
                .with_context(|| format!("remote_write {}", url_of(rw.url.as_ref())))?;
            new_writes.push((key, queue));
        }
        let mut secondaries: Vec<Arc<dyn storage::Storage>> = Vec::new();
        for rr in &cfg.remote_read {
            let client = RemoteRead::new(read_options(rr, &external_labels)?)
                .with_context(|| format!("remote_read {}", url_of(rr.url.as_ref())))?;
            secondaries.push(Arc::new(ReadEndpoint {
                client,
                read_recent: rr.read_recent,
                local: self.local.clone(),
            }));
        }

        // Reloads are serialized by the reload handler; the lock is only held briefly so
        // that /metrics and queries never wait for a queue to flush.
        let mut old = {
            let mut state = self.state();
            if state.closed {
                bail!("remote storage is closed");
            }
            std::mem::take(&mut state.writers)
        };
        let mut writers = Vec::with_capacity(new_writes.len());
        for (key, queue) in new_writes {
            // An unchanged entry keeps its running queue (the new one never started).
            if let Some(i) = old.iter().position(|w| w.key == key) {
                writers.push(old.swap_remove(i));
            } else {
                writers.push(self.start_writer(key, queue));
            }
        }
        {
            let mut state = self.state();
            state.writers = writers;
            state.fanout = (!secondaries.is_empty()).then(|| {
                let local: Arc<dyn storage::Storage> = self.local.clone();
                Fanout::new(local, secondaries)
            });
        }
        // Queues whose entry changed or went away flush and stop.
        self.runtime
            .block_on(stop_writers(old, self.flush_deadline));
        Ok(())
    }

    fn start_writer(
        &self,
        key: (config::RemoteWriteConfig, Labels),
        queue: QueueManager,
    ) -> Writer {
        tracing::info!(
            component = "remote",
            remote_name = queue.name(),
            url = queue.url(),
            queue = queue.name(),
            "Starting WAL watcher"
        );
        self.runtime.block_on(queue.start());
        let watcher_metrics = Arc::new(WatcherMetrics::default());
        let watcher = Watcher::new(
            Box::new(TsdbWalSource::with_metrics(
                &self.wal_dir,
                watcher_metrics.clone(),
            )),
            queue.clone(),
            WatcherOptions {
                poll_interval: WAL_POLL_INTERVAL,
                // As Prometheus: a restart does not resend what the WAL already holds.
                start_timestamp: model::timestamp::now(),
            },
        );
        let stop = CancellationToken::new();
        let source = self
            .metadata_source
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if source.is_some() {
            tracing::info!(
                component = "remote",
                remote_name = queue.name(),
                url = queue.url(),
                "Starting scraped metadata watcher"
            );
        }
        let metadata = self.runtime.spawn({
            let stop = stop.clone();
            let queue = queue.clone();
            async move {
                if let Some(source) = source {
                    MetadataWatcher::new(queue, source).run(stop).await;
                }
            }
        });
        let name = queue.name().to_owned();
        let watcher = self.runtime.spawn({
            let stop = stop.clone();
            async move {
                if let Err(err) = watcher.run(stop).await {
                    tracing::error!(remote_name = %name, err = %err, "WAL watcher stopped");
                }
            }
        });
        Writer {
            key,
            queue,
            watcher_metrics,
            stop,
            watcher,
            metadata,
        }
    }

    /// Stops every watcher and flushes every queue (for at most the flush deadline); later
    /// reloads are refused. Called by the TSDB actor before the TSDB closes.
    pub(crate) async fn close(&self) {
        let writers = {
            let mut state = self.state();
            state.closed = true;
            state.fanout = None;
            std::mem::take(&mut state.writers)
        };
        stop_writers(writers, self.flush_deadline).await;
    }

    /// The lowest of the newest timestamps each queue has sent, 0 without queues (Go's
    /// `LowestSentTimestamp`): the agent keeps WAL data remote write still needs.
    pub(crate) fn lowest_sent_timestamp(&self) -> Timestamp {
        let state = self.state();
        state
            .writers
            .iter()
            .map(|w| {
                w.queue
                    .metrics()
                    .highest_sent_timestamp_ms
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .min()
            .unwrap_or(0)
    }

    /// The `prometheus_remote_storage_*` metrics of every queue: one `# HELP`/`# TYPE` header
    /// per family, followed by that family's series for all queues.
    pub(crate) fn write_metrics(&self, out: &mut String) {
        let state = self.state();
        let queues: Vec<_> = state
            .writers
            .iter()
            .map(|w| (w.queue.name(), w.queue.url(), w.queue.metrics()))
            .collect();
        let refs: Vec<(&str, &str, &storage::remote::RemoteWriteMetrics)> = queues
            .iter()
            .map(|(name, url, m)| (*name, *url, m.as_ref()))
            .collect();
        storage::remote::RemoteWriteMetrics::write_text_all(&refs, out);
        write_queue_settings(&state.writers, out);
        if self.appends_through.load(Ordering::Relaxed) {
            self.appended.write_text(out);
        }
        let watchers: Vec<(&str, &WatcherMetrics)> = state
            .writers
            .iter()
            .map(|w| (w.queue.name(), w.watcher_metrics.as_ref()))
            .collect();
        WatcherMetrics::write_text_all(&watchers, out);
    }
}

impl Appendable for RemoteStorage {
    fn appender(&self) -> Box<dyn Appender> {
        self.appended.track(self.local.appender())
    }
}

/// Appends to another storage, counted in [`AppendedMetrics`] (see
/// [`RemoteStorage::appendable_over`]).
struct TrackedAppends {
    appended: Arc<AppendedMetrics>,
    local: Arc<dyn Appendable>,
}

impl Appendable for TrackedAppends {
    fn appender(&self) -> Box<dyn Appender> {
        self.appended.track(self.local.appender())
    }
}

impl Queryable for RemoteStorage {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> storage::Result<Box<dyn Querier>> {
        let fanout = self.state().fanout.clone();
        match fanout {
            Some(f) => f.querier(mint, maxt),
            None => self.local.querier(mint, maxt),
        }
    }
}

/// The two queue-configuration gauges Prometheus exposes per queue
/// (`prometheus_remote_storage_max_samples_per_send` and `..._shard_capacity`), read from
/// each queue's `queue_config`.
fn write_queue_settings(writers: &[Writer], out: &mut String) {
    use model::exposition::{write_escaped_label_value, write_header};
    use std::fmt::Write as _;
    if writers.is_empty() {
        return;
    }
    type Setting = fn(&config::QueueConfig) -> i64;
    let families: [(&str, &str, Setting); 2] = [
        (
            "prometheus_remote_storage_max_samples_per_send",
            "The maximum number of samples to be sent, in a single request, to the remote storage. Note that, when sending of exemplars over remote write is enabled, exemplars count towards this limt.",
            |q| q.max_samples_per_send,
        ),
        (
            "prometheus_remote_storage_shard_capacity",
            "The capacity of each shard of the queue used for parallel sending to the remote storage.",
            |q| q.capacity,
        ),
    ];
    for (name, help, value) in families {
        write_header(out, name, "gauge", help);
        for w in writers {
            let mut labels = String::from("remote_name=\"");
            write_escaped_label_value(&mut labels, w.queue.name());
            labels.push_str("\",url=\"");
            write_escaped_label_value(&mut labels, w.queue.url());
            labels.push('"');
            let _ = writeln!(out, "{name}{{{labels}}} {}", value(&w.key.0.queue_config));
        }
    }
}

/// Stops each writer as Prometheus's `QueueManager.Stop`: the queue first (which releases a
/// WAL watcher waiting for room in it, and flushes for at most the deadline), then the WAL
/// watcher, then the metadata watcher.
async fn stop_writers(writers: Vec<Writer>, flush_deadline: Duration) {
    for w in writers {
        let (name, url) = (w.queue.name().to_owned(), w.queue.url().to_owned());
        tracing::info!(component = "remote", remote_name = %name, url = %url, "Stopping remote storage...");
        w.stop.cancel();
        let _ = tokio::join!(w.queue.stop(flush_deadline), w.watcher);
        tracing::info!(component = "remote", remote_name = %name, url = %url, queue = %name, "WAL watcher stopped");
        tracing::info!(component = "remote", remote_name = %name, url = %url, "Stopping metadata watcher...");
        // A metadata request under way may wait for its endpoint: as Go's metadata watcher,
        // give it the flush deadline, then cancel it.
        let mut metadata = w.metadata;
        if tokio::time::timeout(flush_deadline, &mut metadata)
            .await
            .is_err()
        {
            metadata.abort();
        }
        tracing::info!(component = "remote", remote_name = %name, url = %url, "Scraped metadata watcher stopped");
        tracing::info!(component = "remote", remote_name = %name, url = %url, "Remote storage stopped.");
    }
}

fn url_of(url: Option<&config::Url>) -> &str {
    url.map_or("", config::Url::as_str)
}

/// The endpoint URL (http or https).
fn http_url(url: Option<&config::Url>, what: &str) -> anyhow::Result<String> {
    let url = url_of(url);
    if !url.starts_with("http://") && !url.starts_with("https://") {
        bail!("{what} {url}: only http:// and https:// URLs are supported");
    }
    Ok(url.to_owned())
}

/// The endpoint's HTTP client (TLS, authentication, `http_headers`); options the shared
/// client does not implement are refused, naming the option.
fn client(
    h: &config::HttpClientConfig,
    what: &str,
    url: &str,
) -> anyhow::Result<httpclient::HttpClient> {
    httpclient::HttpClient::new(h)
        .map(|c| c.named(dialer_name(what)))
        .with_context(|| format!("{what} {url}"))
}

/// Go's names of the remote storage clients' dialers (`net_conntrack_dialer_*`).
fn dialer_name(what: &str) -> &'static str {
    if what == "remote_read" {
        "remote_storage_read_client"
    } else {
        "remote_storage_write_client"
    }
}

/// Prometheus names an unnamed queue by a hash of its configuration; this is a short
/// FNV-1a hash of the URL and the rest of the entry.
fn default_name(what: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in what.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")[..6].to_owned()
}

fn headers(h: &BTreeMap<String, String>) -> Vec<(String, String)> {
    h.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Maps a `remote_write` entry to the queue's options.
fn write_options(
    rw: &config::RemoteWriteConfig,
    external_labels: &Labels,
) -> anyhow::Result<WriteOptions> {
    let what = "remote_write";
    let url = http_url(rw.url.as_ref(), what)?;
    // Config validation already refused any other message name.
    let Some(protobuf_message) = storage::remote::WriteProtoMsg::from_name(&rw.protobuf_message)
    else {
        bail!(
            "{what} {url}: unknown protobuf_message {}",
            rw.protobuf_message
        );
    };
    if rw.azuread.is_some() || rw.google_iam.is_some() {
        bail!("{what} {url}: azuread and google_iam are not supported yet by this server");
    }
    let q = &rw.queue_config;
    let size = |v: i64| usize::try_from(v).unwrap_or(usize::MAX);
    Ok(WriteOptions {
        name: if rw.name.is_empty() {
            default_name(&format!("{rw:?}"))
        } else {
            rw.name.clone()
        },
        remote_timeout: rw.remote_timeout.to_std(),
        headers: headers(&rw.headers),
        client: match &rw.sigv4 {
            Some(sigv4) => httpclient::HttpClient::with_sigv4(&rw.http_client_config, sigv4)
                .map(|c| c.named(dialer_name(what)))
                .with_context(|| format!("{what} {url}"))?,
            None => client(&rw.http_client_config, what, &url)?,
        },
        write_relabel_configs: rw.write_relabel_configs.clone(),
        external_labels: external_labels.clone(),
        queue: QueueOptions {
            capacity: size(q.capacity),
            max_shards: size(q.max_shards),
            min_shards: size(q.min_shards),
            max_samples_per_send: size(q.max_samples_per_send),
            batch_send_deadline: q.batch_send_deadline.to_std(),
            min_backoff: q.min_backoff.to_std(),
            max_backoff: q.max_backoff.to_std(),
            retry_on_http_429: q.retry_on_http_429,
            sample_age_limit: q.sample_age_limit.to_std(),
            ..QueueOptions::default()
        },
        send_exemplars: rw.send_exemplars,
        send_native_histograms: rw.send_native_histograms,
        protobuf_message,
        metadata: MetadataOptions {
            send: rw.metadata_config.send,
            send_interval: rw.metadata_config.send_interval.to_std(),
            max_samples_per_send: size(rw.metadata_config.max_samples_per_send),
        },
        url,
    })
}

/// The scrape manager as the metadata watcher's source: every active target's metadata.
struct ScrapeMetadata(scrape::Manager);

impl MetadataSource for ScrapeMetadata {
    fn metadata(&self) -> Option<Vec<MetricMetadata>> {
        Some(
            self.0
                .metadata()
                .into_iter()
                .flat_map(|(_, md)| md)
                .map(|m| MetricMetadata {
                    meta: storage::Metadata {
                        metric_type: storage::MetricType::from_name(m.metric_type.as_str()),
                        unit: m.unit,
                        help: m.help,
                    },
                    metric_family: m.metric_family,
                })
                .collect(),
        )
    }
}

/// Maps a `remote_read` entry to the client's options.
fn read_options(
    rr: &config::RemoteReadConfig,
    external_labels: &Labels,
) -> anyhow::Result<ReadOptions> {
    let what = "remote_read";
    let url = http_url(rr.url.as_ref(), what)?;
    Ok(ReadOptions {
        name: if rr.name.is_empty() {
            default_name(&format!("{rr:?}"))
        } else {
            rr.name.clone()
        },
        remote_timeout: rr.remote_timeout.to_std(),
        headers: headers(&rr.headers),
        client: client(&rr.http_client_config, what, &url)?,
        required_matchers: headers(&rr.required_matchers),
        external_labels: external_labels.clone(),
        filter_external_labels: rr.filter_external_labels,
        url,
    })
}

/// A `remote_read` endpoint as a fanout secondary: read-only, and without `read_recent`
/// asked only for queries reaching before the local TSDB's first sample (Prometheus's
/// `PreferLocalStorageFilter`).
struct ReadEndpoint {
    client: RemoteRead,
    read_recent: bool,
    local: Arc<ReadyStorage>,
}

impl Queryable for ReadEndpoint {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> storage::Result<Box<dyn Querier>> {
        if !self.read_recent
            && let Some(start) = self.local.start_time()
            && mint > start
        {
            return Ok(Box::new(EmptyQuerier));
        }
        self.client.querier(mint, maxt)
    }
}

impl Appendable for ReadEndpoint {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(ReadOnlyAppender)
    }
}

/// The fanout only queries; an append to a read endpoint is an error.
struct ReadOnlyAppender;

impl Appender for ReadOnlyAppender {
    fn append(
        &mut self,
        _: SeriesRef,
        _: &Labels,
        _: Timestamp,
        _: f64,
    ) -> storage::Result<SeriesRef> {
        Err(storage::Error::backend(std::io::Error::other(
            "remote_read endpoints are read-only",
        )))
    }
    fn commit(self: Box<Self>) -> storage::Result<()> {
        Ok(())
    }
    fn rollback(self: Box<Self>) -> storage::Result<()> {
        Ok(())
    }
}

struct EmptyQuerier;

impl Querier for EmptyQuerier {
    fn select(
        &self,
        _: bool,
        _: Option<&storage::SelectHints>,
        _: &[Matcher],
    ) -> Box<dyn storage::SeriesSet> {
        Box::new(storage::EmptySeriesSet)
    }
    fn label_values(
        &self,
        _: &str,
        _: Option<&storage::LabelHints>,
        _: &[Matcher],
    ) -> storage::Result<Vec<String>> {
        Ok(Vec::new())
    }
    fn label_names(
        &self,
        _: Option<&storage::LabelHints>,
        _: &[Matcher],
    ) -> storage::Result<Vec<String>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> config::Config {
        config::Config::load_str(yaml, "").unwrap()
    }

    #[test]
    fn write_config_maps_to_queue_options() {
        let cfg = load(
            "global:\n  external_labels: {dc: eu}\nremote_write:\n  - url: http://127.0.0.1:1/api/v1/write\n    headers: {X-Team: a}\n    authorization: {credentials: tok}\n    queue_config: {max_shards: 3, max_samples_per_send: 7, batch_send_deadline: 2s}\n",
        );
        let ext = Labels::from_pairs([("dc", "eu")]);
        let o = write_options(&cfg.remote_write[0], &ext).unwrap();
        assert_eq!(o.url, "http://127.0.0.1:1/api/v1/write");
        assert_eq!(o.name.len(), 6);
        assert_eq!(o.headers, [("X-Team".to_owned(), "a".to_owned())]);
        assert_eq!(o.external_labels, ext);
        assert_eq!(o.queue.max_shards, 3);
        assert_eq!(o.queue.max_samples_per_send, 7);
        assert_eq!(o.queue.batch_send_deadline, Duration::from_secs(2));
        assert_eq!(o.remote_timeout, Duration::from_secs(30));
        assert_eq!(o.metadata, MetadataOptions::default());
        let cfg = load(
            "remote_write:\n  - url: http://127.0.0.1:1/api/v1/write\n    metadata_config: {send: false, send_interval: 30s, max_samples_per_send: 9}\n",
        );
        let o = write_options(&cfg.remote_write[0], &ext).unwrap();
        assert_eq!(
            o.metadata,
            MetadataOptions {
                send: false,
                send_interval: Duration::from_secs(30),
                max_samples_per_send: 9,
            }
        );
    }

    #[test]
    fn https_tls_config_and_basic_auth_are_accepted_and_bad_files_refused() {
        let cfg = load(
            "remote_write:\n  - url: https://127.0.0.1:9/write\n    basic_auth: {username: u, password: p}\n    tls_config: {insecure_skip_verify: true, server_name: example.invalid}\nremote_read:\n  - url: https://127.0.0.1:9/read\n    tls_config: {insecure_skip_verify: true}\n",
        );
        write_options(&cfg.remote_write[0], &Labels::empty()).unwrap();
        read_options(&cfg.remote_read[0], &Labels::empty()).unwrap();
        let cfg = load(
            "remote_write:\n  - url: https://127.0.0.1:9/write\n    tls_config: {ca_file: /nonexistent/ca.pem}\n",
        );
        let err = write_options(&cfg.remote_write[0], &Labels::empty()).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "remote_write https://127.0.0.1:9/write: unable to read CA cert: unable to read file /nonexistent/ca.pem: open /nonexistent/ca.pem: no such file or directory"
        );
    }

    fn running(remote: &RemoteStorage) -> Vec<(String, Arc<storage::remote::RemoteWriteMetrics>)> {
        remote
            .state()
            .writers
            .iter()
            .map(|w| (w.queue.name().to_owned(), w.queue.metrics()))
            .collect()
    }

    /// The hook's output for two queues, read back with our own exposition parser: it parses,
    /// every family has exactly one `# HELP` and one `# TYPE` line before its series, and the
    /// send durations form a histogram.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn metrics_parse_with_one_header_per_family() {
        use std::collections::{BTreeMap, BTreeSet};

        use scrape::textparse::{Entry, MetricType, Parser, PromParser};

        let dir = tempfile::tempdir().unwrap();
        let remote = Arc::new(RemoteStorage::new(
            dir.path(),
            Arc::new(ReadyStorage::default()),
            Duration::from_secs(1),
        ));
        let r = remote.clone();
        tokio::task::spawn_blocking(move || {
            r.apply_config(&load("remote_write:\n  - {url: 'http://127.0.0.1:9/a', name: a}\n  - {url: 'http://127.0.0.1:9/b', name: b}\n"))
        })
        .await
        .unwrap()
        .unwrap();
        running(&remote)[0]
            .1
            .observe_sent_batch_duration(Duration::from_millis(20));
        let mut text = String::new();
        remote.write_metrics(&mut text);
        remote.close().await;

        let mut p = PromParser::new(text.as_bytes());
        let mut helps: BTreeMap<String, usize> = BTreeMap::new();
        let mut types: BTreeMap<String, MetricType> = BTreeMap::new();
        let mut type_lines = 0;
        // Series metric names, with the family header that was current when they appeared.
        let mut series: Vec<(String, String)> = Vec::new();
        let mut current = String::new();
        while let Some(entry) = p.next().unwrap_or_else(|e| panic!("{e}\n{text}")) {
            match entry {
                Entry::Help => {
                    let name = p.help().0.into_owned();
                    *helps.entry(name.clone()).or_default() += 1;
                    current = name;
                }
                Entry::Type => {
                    let (name, t) = p.metric_type();
                    type_lines += 1;
                    assert!(
                        types.insert(name.clone().into_owned(), t).is_none(),
                        "# TYPE {name} twice\n{text}"
                    );
                }
                Entry::Series => {
                    let labels = p.labels().unwrap();
                    let name = labels.metric_name().unwrap().to_owned();
                    series.push((name, current.clone()));
                }
                _ => {}
            }
        }
        assert_eq!(type_lines, types.len());
        assert!(helps.values().all(|&n| n == 1), "{helps:?}\n{text}");
        assert_eq!(
            helps.keys().collect::<BTreeSet<_>>(),
            types.keys().collect::<BTreeSet<_>>()
        );
        assert!(!series.is_empty());
        let families: BTreeSet<&str> = series.iter().map(|(_, f)| f.as_str()).collect();
        for (name, family) in &series {
            assert!(
                name.starts_with("prometheus_remote_storage_")
                    || name.starts_with("prometheus_wal_watcher_"),
                "{name}"
            );
            let base = match types.get(family) {
                Some(MetricType::Histogram) => ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(name),
                _ => name,
            };
            assert_eq!(base, family, "{name} outside its family's header\n{text}");
            assert!(
                helps.contains_key(base) && types.contains_key(base),
                "{name}"
            );
        }
        assert_eq!(families.len(), types.len(), "a header without series");
        // Each family holds both queues' series.
        for f in &families {
            let label = if f.starts_with("prometheus_wal_watcher_") {
                "consumer"
            } else {
                "remote_name"
            };
            for q in ["a", "b"].map(|n| format!("{label}=\"{n}\"")) {
                assert!(
                    text.lines().any(|l| l.starts_with(f) && l.contains(&q)),
                    "{f} lacks {q}\n{text}"
                );
            }
        }
        // The queue settings, as Prometheus exposes them (defaults here).
        for line in [
            "prometheus_remote_storage_max_samples_per_send{remote_name=\"a\",url=\"http://127.0.0.1:9/a\"} 2000\n",
            "prometheus_remote_storage_shard_capacity{remote_name=\"b\",url=\"http://127.0.0.1:9/b\"} 10000\n",
            "prometheus_wal_watcher_record_decode_failures_total{consumer=\"a\"} 0\n",
        ] {
            assert!(text.contains(line), "{line}{text}");
        }
        let hist = "prometheus_remote_storage_sent_batch_duration_seconds";
        assert_eq!(types.get(hist), Some(&MetricType::Histogram));
        assert_eq!(
            types.get("prometheus_remote_storage_samples_total"),
            Some(&MetricType::Counter)
        );
        assert_eq!(
            types.get("prometheus_remote_storage_shards"),
            Some(&MetricType::Gauge)
        );
        for line in [
            "_bucket{remote_name=\"a\",url=\"http://127.0.0.1:9/a\",le=\"0.01\"} 0",
            "_bucket{remote_name=\"a\",url=\"http://127.0.0.1:9/a\",le=\"0.025\"} 1",
            "_bucket{remote_name=\"a\",url=\"http://127.0.0.1:9/a\",le=\"+Inf\"} 1",
            "_count{remote_name=\"a\",url=\"http://127.0.0.1:9/a\"} 1",
            "_bucket{remote_name=\"b\",url=\"http://127.0.0.1:9/b\",le=\"+Inf\"} 0",
        ] {
            assert!(text.contains(&format!("{hist}{line}\n")), "{line}\n{text}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reload_restarts_only_changed_queues() {
        let dir = tempfile::tempdir().unwrap();
        let remote = Arc::new(RemoteStorage::new(
            dir.path(),
            Arc::new(ReadyStorage::default()),
            Duration::from_secs(1),
        ));
        let apply = |yaml: &'static str| {
            let remote = remote.clone();
            tokio::task::spawn_blocking(move || remote.apply_config(&load(yaml)))
        };
        apply("remote_write:\n  - {url: 'http://127.0.0.1:9/a', name: a}\n  - {url: 'http://127.0.0.1:9/b', name: b}\n")
            .await
            .unwrap()
            .unwrap();
        let before = running(&remote);
        assert_eq!(before.len(), 2);
        let mut text = String::new();
        remote.write_metrics(&mut text);
        assert!(
            text.contains("prometheus_remote_storage_shards{remote_name=\"a\",url=\"http://127.0.0.1:9/a\"} 1\n"),
            "{text}"
        );

        // b changes, a does not.
        apply("remote_write:\n  - {url: 'http://127.0.0.1:9/a', name: a}\n  - {url: 'http://127.0.0.1:9/b2', name: b}\n")
            .await
            .unwrap()
            .unwrap();
        let after = running(&remote);
        assert!(Arc::ptr_eq(&before[0].1, &after[0].1), "a kept its queue");
        assert!(!Arc::ptr_eq(&before[1].1, &after[1].1), "b got a new queue");

        // An invalid entry changes nothing.
        let err = apply(
            "remote_write:\n  - {url: 'https://127.0.0.1:9/a', name: a, tls_config: {ca_file: /nonexistent}}\n",
        )
        .await
        .unwrap()
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("unable to read CA cert"),
            "{err:#}"
        );
        assert_eq!(running(&remote).len(), 2);

        remote.close().await;
        assert!(running(&remote).is_empty());
        let err = apply("global: {}\n").await.unwrap().unwrap_err();
        assert!(err.to_string().contains("closed"), "{err}");
    }
}
