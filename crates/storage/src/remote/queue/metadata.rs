//! Remote write 1.0 metadata: the scrape manager's metadata sent every `send_interval` in
//! metadata-only requests (Prometheus's `MetadataWatcher` and `QueueManager.AppendWatcherMetadata`).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use prompb::{MetricMetadata as ProtoMetadata, WriteRequest};
use tokio_util::sync::CancellationToken;

use super::{QueueManager, VERSION_HEADER, WriteProtoMsg, encode_write_request};

/// `metadata_config` of a `remote_write` block, with Prometheus's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataOptions {
    /// `send`: whether metadata is sent at all.
    pub send: bool,
    /// `send_interval`: how often.
    pub send_interval: Duration,
    /// `max_samples_per_send`: most entries in one request.
    pub max_samples_per_send: usize,
}

impl Default for MetadataOptions {
    fn default() -> Self {
        MetadataOptions {
            send: true,
            send_interval: Duration::from_secs(60),
            max_samples_per_send: 2000,
        }
    }
}

/// One metric family's metadata as a scrape target exposed it (Go's `scrape.MetricMetadata`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MetricMetadata {
    /// The metric family name.
    pub metric_family: String,
    /// Its type, unit and help.
    pub meta: crate::Metadata,
}

/// Where the metadata watcher reads metadata: the binary implements it over the scrape
/// manager (this crate does not know scraping).
pub trait MetadataSource: Send + Sync + 'static {
    /// The metadata of every active target, concatenated (duplicates are fine); `None` while
    /// the scrape manager is not ready.
    fn metadata(&self) -> Option<Vec<MetricMetadata>>;
}

/// Sends the metadata of a [`MetadataSource`] through a remote write 1.0 queue every
/// `send_interval` (Prometheus's `MetadataWatcher`). See [`MetadataWatcher::run`].
pub struct MetadataWatcher {
    queue: QueueManager,
    source: Arc<dyn MetadataSource>,
}

impl std::fmt::Debug for MetadataWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataWatcher")
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl MetadataWatcher {
    /// A watcher sending `source`'s metadata through `queue`.
    pub fn new(queue: QueueManager, source: Arc<dyn MetadataSource>) -> MetadataWatcher {
        MetadataWatcher { queue, source }
    }

    /// Whether this queue's configuration sends metadata this way: `metadata_config.send`
    /// on a remote write 1.0 queue (2.0 sends per-series metadata from the WAL instead).
    pub fn enabled(&self) -> bool {
        let opts = &self.queue.inner.opts;
        opts.metadata.send && opts.protobuf_message == WriteProtoMsg::V1
    }

    /// Every `send_interval` (the first time one interval after the start), collects the
    /// source's metadata, drops duplicates (same family, type, help and unit) and sends it
    /// with [`QueueManager::append_metadata`], until `stop` is cancelled. Returns at once
    /// when not [`enabled`](MetadataWatcher::enabled). A send under way when `stop` is
    /// cancelled finishes its current request but does not retry.
    pub async fn run(self, stop: CancellationToken) {
        if !self.enabled() {
            return;
        }
        let interval = self.queue.inner.opts.metadata.send_interval;
        if interval.is_zero() {
            return;
        }
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = stop.cancelled() => return,
            }
            let Some(all) = self.source.metadata() else {
                continue;
            };
            let mut seen = HashSet::with_capacity(all.len());
            let unique: Vec<MetricMetadata> =
                all.into_iter().filter(|m| seen.insert(m.clone())).collect();
            self.queue.send_metadata(&unique, &stop).await;
        }
    }
}

impl QueueManager {
    /// Sends metadata in requests of at most `metadata_config.max_samples_per_send` entries
    /// (a `WriteRequest` with only `metadata`), retrying recoverable failures with the
    /// queue's backoff until they succeed or the queue stops; counts
    /// `metadata_total`/`metadata_bytes_total` per request sent, `metadata_retried_total`
    /// per retry and `metadata_failed_total` for requests given up. Remote write 2.0
    /// queues ignore it (as Prometheus: they send per-series metadata from the WAL).
    pub async fn append_metadata(&self, metadata: &[MetricMetadata]) {
        self.send_metadata(metadata, &CancellationToken::new())
            .await;
    }

    /// [`QueueManager::append_metadata`], also giving up retries once `stop` is cancelled.
    pub(super) async fn send_metadata(
        &self,
        metadata: &[MetricMetadata],
        stop: &CancellationToken,
    ) {
        let opts = &self.inner.opts;
        if opts.protobuf_message != WriteProtoMsg::V1 || metadata.is_empty() {
            return;
        }
        let per_send = opts.metadata.max_samples_per_send.max(1);
        for chunk in metadata.chunks(per_send) {
            if let Err(err) = self.send_metadata_request(chunk, stop).await {
                let m = &self.inner.metrics;
                m.metadata_failed_total
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                tracing::error!(remote_name = %opts.name, url = %self.url(), count = chunk.len(), %err,
                    "non-recoverable error while sending metadata");
            }
        }
    }

    /// One metadata request with retries; `Err` when it failed for good.
    async fn send_metadata_request(
        &self,
        chunk: &[MetricMetadata],
        stop: &CancellationToken,
    ) -> Result<(), String> {
        let inner = &self.inner;
        let m = &inner.metrics;
        let req = WriteRequest {
            timeseries: Vec::new(),
            metadata: chunk.iter().map(to_proto).collect(),
        };
        let body = encode_write_request(&req);
        let headers = [
            (VERSION_HEADER, WriteProtoMsg::V1.version()),
            ("Content-Type", WriteProtoMsg::V1.content_type()),
        ];
        let retried = || {
            m.metadata_retried_total
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        };
        let answer = inner
            .post_until_final(
                "metadata",
                &body,
                &headers,
                [Some(stop), Some(&inner.stopping)],
                None,
                || {},
                retried,
            )
            .await;
        match answer {
            None => Err("stopped while retrying".into()),
            Some(resp) if resp.status.is_success() => {
                m.metadata_total
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                m.metadata_bytes_total
                    .fetch_add(body.len() as u64, Ordering::Relaxed);
                Ok(())
            }
            Some(resp) => Err(inner.endpoint.status_error(&resp).to_string()),
        }
    }
}

/// The remote write 1.0 message of one entry (Go's `prompb.FromMetadataType` codes equal the
/// WAL's).
fn to_proto(m: &MetricMetadata) -> ProtoMetadata {
    ProtoMetadata {
        r#type: i32::from(m.meta.metric_type.wal_code()),
        metric_family_name: m.metric_family.clone(),
        help: m.meta.help.clone(),
        unit: m.meta.unit.clone(),
    }
}
