//! The remote-write queue manager: relabeling, sharding, batching, sending with retries, and
//! resharding with throughput (Prometheus's `storage/remote/queue_manager.go`, simplified).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use model::exposition::{write_escaped_label_value, write_header};
use model::{Labels, LabelsBuilder, Timestamp, relabel};
use prompb::{Sample, TimeSeries, WriteRequest};
use tokio::sync::{RwLock, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::codec::{encode_write_request, labels_to_proto};
use super::histogram::{HistogramSample, float_histogram_to_proto, histogram_to_proto};
use super::http::Endpoint;
use super::write_v2::{VERSION_HEADER, WriteProtoMsg, WriteStats};
use crate::{Error, Result, SeriesRef};

mod metadata;
mod v2;

pub use metadata::{MetadataOptions, MetadataSource, MetadataWatcher, MetricMetadata};

/// Resharding ignores changes smaller than this fraction of the current shard count
/// (Prometheus's `shardToleranceFraction`).
const SHARD_TOLERANCE: f64 = 0.3;

/// Shard queue tuning: `queue_config` of a `remote_write` block, with Prometheus's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueOptions {
    /// Samples buffered per shard before appends wait.
    pub capacity: usize,
    /// Most shards (concurrent requests).
    pub max_shards: usize,
    /// Fewest shards; also the count a queue starts with.
    pub min_shards: usize,
    /// Most samples in one request.
    pub max_samples_per_send: usize,
    /// Longest a sample waits in a shard before a partial batch is sent.
    pub batch_send_deadline: Duration,
    /// First retry delay; doubled on every retry up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Retry on HTTP 429 (otherwise a 429 drops the batch, as any other 4xx).
    pub retry_on_http_429: bool,
    /// Samples older than this are dropped instead of sent (zero: never).
    pub sample_age_limit: Duration,
    /// How often the shard count is recomputed (Prometheus: 10 s; not a config field).
    pub reshard_interval: Duration,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2_000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: false,
            sample_age_limit: Duration::ZERO,
            reshard_interval: Duration::from_secs(10),
        }
    }
}

/// One `remote_write` endpoint, as the binary maps it from `config::RemoteWriteConfig`.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// The endpoint (`http://host:port/path`).
    pub url: String,
    /// The queue name (`remote_name` label of the metrics); defaults to a hash of the URL
    /// in Prometheus, the binary decides.
    pub name: String,
    /// Timeout of one request.
    pub remote_timeout: Duration,
    /// Extra headers sent with every request.
    pub headers: Vec<(String, String)>,
    /// The HTTP client (TLS, authentication, `http_headers`), built from the endpoint's
    /// HTTP client options; the default has none of them.
    pub client: httpclient::HttpClient,
    /// `write_relabel_configs`, applied after the external labels.
    pub write_relabel_configs: Vec<relabel::Config>,
    /// `global.external_labels`: added to every series that lacks them.
    pub external_labels: Labels,
    /// Shard queue tuning.
    pub queue: QueueOptions,
    /// `send_exemplars`: exemplars read from the WAL are sent along with the samples.
    pub send_exemplars: bool,
    /// `send_native_histograms`: native histograms read from the WAL are sent (in the time
    /// series' `histograms`); without it they are ignored, as in Prometheus.
    pub send_native_histograms: bool,
    /// `protobuf_message`: remote write 1.0 (`prometheus.WriteRequest`, the default) or 2.0
    /// (`io.prometheus.write.v2.Request`).
    pub protobuf_message: WriteProtoMsg,
    /// `metadata_config`: how remote write 1.0 sends the scrape manager's metadata.
    pub metadata: MetadataOptions,
}

/// Upper bounds (seconds) of `prometheus_remote_storage_sent_batch_duration_seconds`'s buckets:
/// Go's `prometheus.DefBuckets` plus 25, 60, 120 and 300, as in Prometheus.
pub const SENT_BATCH_DURATION_BUCKETS: [f64; 15] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0, 120.0, 300.0,
];

/// The `prometheus_remote_storage_*` metrics of one queue, as plain counters and gauges.
#[derive(Debug, Default)]
pub struct RemoteWriteMetrics {
    /// Samples sent, counted once per attempt (`samples_total`).
    pub samples_total: AtomicU64,
    /// Enqueues that found their shard's queue full and waited (`enqueue_retries_total`).
    pub enqueue_retries_total: AtomicU64,
    /// Samples that failed on non-recoverable errors (`samples_failed_total`).
    pub samples_failed_total: AtomicU64,
    /// Samples sent again after recoverable errors (`samples_retried_total`).
    pub samples_retried_total: AtomicU64,
    /// Samples dropped by relabeling, age limit or unknown series (`samples_dropped_total`).
    pub samples_dropped_total: AtomicU64,
    /// Samples queued and not yet sent or failed (`samples_pending`).
    pub samples_pending: AtomicI64,
    /// Compressed request bytes sent (`bytes_total`).
    pub bytes_total: AtomicU64,
    /// Sum of request durations in nanoseconds (`sent_batch_duration_seconds_sum`).
    pub sent_batch_duration_nanos_sum: AtomicU64,
    /// Number of requests (`sent_batch_duration_seconds_count`).
    pub sent_batch_duration_count: AtomicU64,
    /// Requests per bucket of [`SENT_BATCH_DURATION_BUCKETS`], not cumulative: entry `i` counts
    /// durations in `(bound[i-1], bound[i]]`; longer ones only count in `_count`.
    pub sent_batch_duration_buckets: [AtomicU64; SENT_BATCH_DURATION_BUCKETS.len()],
    /// Running shards (`shards`).
    pub shards: AtomicI64,
    /// Shards the last calculation wanted (`shards_desired`).
    pub shards_desired: AtomicI64,
    /// Configured maximum shards (`shards_max`).
    pub shards_max: AtomicI64,
    /// Configured minimum shards (`shards_min`).
    pub shards_min: AtomicI64,
    /// Newest timestamp (ms) successfully sent (`queue_highest_sent_timestamp_seconds`).
    pub highest_sent_timestamp_ms: AtomicI64,
    /// Samples and native histograms handed to the queue (before relabeling).
    pub samples_in_total: AtomicU64,
    /// Exemplars sent, counted once per attempt (`exemplars_total`).
    pub exemplars_total: AtomicU64,
    /// Exemplars that failed on non-recoverable errors (`exemplars_failed_total`).
    pub exemplars_failed_total: AtomicU64,
    /// Exemplars sent again after recoverable errors (`exemplars_retried_total`).
    pub exemplars_retried_total: AtomicU64,
    /// Exemplars dropped by relabeling, age limit or unknown series
    /// (`exemplars_dropped_total`).
    pub exemplars_dropped_total: AtomicU64,
    /// Exemplars queued and not yet sent or failed (`exemplars_pending`).
    pub exemplars_pending: AtomicI64,
    /// Native histograms sent, counted once per attempt (`histograms_total`).
    pub histograms_total: AtomicU64,
    /// Histograms that failed on non-recoverable errors (`histograms_failed_total`).
    pub histograms_failed_total: AtomicU64,
    /// Histograms sent again after recoverable errors (`histograms_retried_total`).
    pub histograms_retried_total: AtomicU64,
    /// Histograms dropped by relabeling, age limit or unknown series
    /// (`histograms_dropped_total`).
    pub histograms_dropped_total: AtomicU64,
    /// Histograms queued and not yet sent or failed (`histograms_pending`).
    pub histograms_pending: AtomicI64,
    /// Metadata entries sent (`metadata_total`).
    pub metadata_total: AtomicU64,
    /// Metadata entries that failed on non-recoverable errors (`metadata_failed_total`).
    pub metadata_failed_total: AtomicU64,
    /// Metadata entries sent again after recoverable errors (`metadata_retried_total`).
    pub metadata_retried_total: AtomicU64,
    /// Compressed metadata request bytes sent (`metadata_bytes_total`).
    pub metadata_bytes_total: AtomicU64,
}

/// How one metric family is exposed: its type and where its value comes from.
enum FamilyKind {
    Counter(fn(&RemoteWriteMetrics) -> f64),
    Gauge(fn(&RemoteWriteMetrics) -> f64),
    Histogram,
}

/// One `prometheus_remote_storage_*` family with Prometheus's help text.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: FamilyKind,
}

fn counter(a: &AtomicU64) -> f64 {
    a.load(Ordering::Relaxed) as f64
}

fn gauge(a: &AtomicI64) -> f64 {
    a.load(Ordering::Relaxed) as f64
}

/// The families, sorted by name as Prometheus's registry writes them.
const FAMILIES: &[Family] = &[
    Family {
        name: "prometheus_remote_storage_bytes_total",
        help: "The total number of bytes of data (not metadata) sent by the queue after compression. Note that when exemplars over remote write is enabled the exemplars included in a remote write request count towards this metric.",
        kind: FamilyKind::Counter(|m| counter(&m.bytes_total)),
    },
    Family {
        name: "prometheus_remote_storage_enqueue_retries_total",
        help: "Total number of times enqueue has failed because a shards queue was full.",
        kind: FamilyKind::Counter(|m| counter(&m.enqueue_retries_total)),
    },
    Family {
        name: "prometheus_remote_storage_exemplars_dropped_total",
        help: "Total number of exemplars which were dropped after being read from the WAL before being sent via remote write, either via relabelling, due to being too old or unintentionally because of an unknown reference ID.",
        kind: FamilyKind::Counter(|m| counter(&m.exemplars_dropped_total)),
    },
    Family {
        name: "prometheus_remote_storage_exemplars_failed_total",
        help: "Total number of exemplars which failed on send to remote storage, non-recoverable errors.",
        kind: FamilyKind::Counter(|m| counter(&m.exemplars_failed_total)),
    },
    Family {
        name: "prometheus_remote_storage_exemplars_pending",
        help: "The number of exemplars pending in the queues shards to be sent to the remote storage.",
        kind: FamilyKind::Gauge(|m| gauge(&m.exemplars_pending)),
    },
    Family {
        name: "prometheus_remote_storage_exemplars_retried_total",
        help: "Total number of exemplars which failed on send to remote storage but were retried because the send error was recoverable.",
        kind: FamilyKind::Counter(|m| counter(&m.exemplars_retried_total)),
    },
    Family {
        name: "prometheus_remote_storage_exemplars_total",
        help: "Total number of exemplars sent to remote storage.",
        kind: FamilyKind::Counter(|m| counter(&m.exemplars_total)),
    },
    Family {
        name: "prometheus_remote_storage_histograms_dropped_total",
        help: "Total number of histograms which were dropped after being read from the WAL before being sent via remote write, either via relabelling, due to being too old or unintentionally because of an unknown reference ID.",
        kind: FamilyKind::Counter(|m| counter(&m.histograms_dropped_total)),
    },
    Family {
        name: "prometheus_remote_storage_histograms_failed_total",
        help: "Total number of histograms which failed on send to remote storage, non-recoverable errors.",
        kind: FamilyKind::Counter(|m| counter(&m.histograms_failed_total)),
    },
    Family {
        name: "prometheus_remote_storage_histograms_pending",
        help: "The number of histograms pending in the queues shards to be sent to the remote storage.",
        kind: FamilyKind::Gauge(|m| gauge(&m.histograms_pending)),
    },
    Family {
        name: "prometheus_remote_storage_histograms_retried_total",
        help: "Total number of histograms which failed on send to remote storage but were retried because the send error was recoverable.",
        kind: FamilyKind::Counter(|m| counter(&m.histograms_retried_total)),
    },
    Family {
        name: "prometheus_remote_storage_histograms_total",
        help: "Total number of histograms sent to remote storage.",
        kind: FamilyKind::Counter(|m| counter(&m.histograms_total)),
    },
    Family {
        name: "prometheus_remote_storage_metadata_bytes_total",
        help: "The total number of bytes of metadata sent by the queue after compression.",
        kind: FamilyKind::Counter(|m| counter(&m.metadata_bytes_total)),
    },
    Family {
        name: "prometheus_remote_storage_metadata_failed_total",
        help: "Total number of metadata entries which failed on send to remote storage, non-recoverable errors.",
        kind: FamilyKind::Counter(|m| counter(&m.metadata_failed_total)),
    },
    Family {
        name: "prometheus_remote_storage_metadata_retried_total",
        help: "Total number of metadata entries which failed on send to remote storage but were retried because the send error was recoverable.",
        kind: FamilyKind::Counter(|m| counter(&m.metadata_retried_total)),
    },
    Family {
        name: "prometheus_remote_storage_metadata_total",
        help: "Total number of metadata entries sent to remote storage.",
        kind: FamilyKind::Counter(|m| counter(&m.metadata_total)),
    },
    Family {
        name: "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
        help: "Timestamp from a WAL sample, the highest timestamp successfully sent by this queue, in seconds since epoch. Initialized to 0 when no data has been sent yet.",
        kind: FamilyKind::Gauge(|m| gauge(&m.highest_sent_timestamp_ms) / 1e3),
    },
    Family {
        name: "prometheus_remote_storage_samples_dropped_total",
        help: "Total number of samples which were dropped after being read from the WAL before being sent via remote write, either via relabelling, due to being too old or unintentionally because of an unknown reference ID.",
        kind: FamilyKind::Counter(|m| counter(&m.samples_dropped_total)),
    },
    Family {
        name: "prometheus_remote_storage_samples_failed_total",
        help: "Total number of samples which failed on send to remote storage, non-recoverable errors.",
        kind: FamilyKind::Counter(|m| counter(&m.samples_failed_total)),
    },
    Family {
        name: "prometheus_remote_storage_samples_pending",
        help: "The number of samples pending in the queues shards to be sent to the remote storage.",
        kind: FamilyKind::Gauge(|m| gauge(&m.samples_pending)),
    },
    Family {
        name: "prometheus_remote_storage_samples_retried_total",
        help: "Total number of samples which failed on send to remote storage but were retried because the send error was recoverable.",
        kind: FamilyKind::Counter(|m| counter(&m.samples_retried_total)),
    },
    Family {
        name: "prometheus_remote_storage_samples_total",
        help: "Total number of samples sent to remote storage.",
        kind: FamilyKind::Counter(|m| counter(&m.samples_total)),
    },
    Family {
        name: "prometheus_remote_storage_sent_batch_duration_seconds",
        help: "Duration of send calls to the remote storage.",
        kind: FamilyKind::Histogram,
    },
    Family {
        name: "prometheus_remote_storage_shards",
        help: "The number of shards used for parallel sending to the remote storage.",
        kind: FamilyKind::Gauge(|m| gauge(&m.shards)),
    },
    Family {
        name: "prometheus_remote_storage_shards_desired",
        help: "The number of shards that the queues shard calculation wants to run based on the rate of samples in vs. samples out.",
        kind: FamilyKind::Gauge(|m| gauge(&m.shards_desired)),
    },
    Family {
        name: "prometheus_remote_storage_shards_max",
        help: "The maximum number of shards that the queue is allowed to run.",
        kind: FamilyKind::Gauge(|m| gauge(&m.shards_max)),
    },
    Family {
        name: "prometheus_remote_storage_shards_min",
        help: "The minimum number of shards that the queue is allowed to run.",
        kind: FamilyKind::Gauge(|m| gauge(&m.shards_min)),
    },
];

impl RemoteWriteMetrics {
    /// `(metric name, value)` pairs with Prometheus's names, for the web layer to print with
    /// labels `remote_name` and `url`.
    pub fn snapshot(&self) -> Vec<(&'static str, f64)> {
        let c = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        let g = |a: &AtomicI64| a.load(Ordering::Relaxed) as f64;
        vec![
            (
                "prometheus_remote_storage_samples_total",
                c(&self.samples_total),
            ),
            (
                "prometheus_remote_storage_samples_failed_total",
                c(&self.samples_failed_total),
            ),
            (
                "prometheus_remote_storage_samples_retried_total",
                c(&self.samples_retried_total),
            ),
            (
                "prometheus_remote_storage_samples_dropped_total",
                c(&self.samples_dropped_total),
            ),
            (
                "prometheus_remote_storage_samples_pending",
                g(&self.samples_pending),
            ),
            (
                "prometheus_remote_storage_histograms_total",
                c(&self.histograms_total),
            ),
            (
                "prometheus_remote_storage_histograms_failed_total",
                c(&self.histograms_failed_total),
            ),
            (
                "prometheus_remote_storage_histograms_retried_total",
                c(&self.histograms_retried_total),
            ),
            (
                "prometheus_remote_storage_histograms_dropped_total",
                c(&self.histograms_dropped_total),
            ),
            (
                "prometheus_remote_storage_histograms_pending",
                g(&self.histograms_pending),
            ),
            (
                "prometheus_remote_storage_bytes_total",
                c(&self.bytes_total),
            ),
            (
                "prometheus_remote_storage_metadata_total",
                c(&self.metadata_total),
            ),
            (
                "prometheus_remote_storage_metadata_failed_total",
                c(&self.metadata_failed_total),
            ),
            (
                "prometheus_remote_storage_metadata_retried_total",
                c(&self.metadata_retried_total),
            ),
            (
                "prometheus_remote_storage_metadata_bytes_total",
                c(&self.metadata_bytes_total),
            ),
            (
                "prometheus_remote_storage_sent_batch_duration_seconds_sum",
                c(&self.sent_batch_duration_nanos_sum) / 1e9,
            ),
            (
                "prometheus_remote_storage_sent_batch_duration_seconds_count",
                c(&self.sent_batch_duration_count),
            ),
            ("prometheus_remote_storage_shards", g(&self.shards)),
            (
                "prometheus_remote_storage_shards_desired",
                g(&self.shards_desired),
            ),
            ("prometheus_remote_storage_shards_max", g(&self.shards_max)),
            ("prometheus_remote_storage_shards_min", g(&self.shards_min)),
            (
                "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
                g(&self.highest_sent_timestamp_ms) / 1e3,
            ),
        ]
    }

    /// Records one request's duration in `sent_batch_duration_seconds` (buckets, sum, count).
    pub fn observe_sent_batch_duration(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = SENT_BATCH_DURATION_BUCKETS
            .iter()
            .position(|&le| secs <= le)
        {
            self.sent_batch_duration_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sent_batch_duration_nanos_sum.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.sent_batch_duration_count
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Appends this queue's metrics in the text exposition format (with `# HELP` and `# TYPE`
    /// lines), labelled with the queue's name and URL. For several queues use
    /// [`RemoteWriteMetrics::write_text_all`], which writes each family header once.
    pub fn write_text(&self, remote_name: &str, url: &str, out: &mut String) {
        Self::write_text_all(&[(remote_name, url, self)], out);
    }

    /// Appends the metrics of every queue `(remote_name, url, metrics)` in the text exposition
    /// format: per family one `# HELP` and one `# TYPE` line, then that family's series for all
    /// queues in the given order. Writes nothing when there are no queues, as Prometheus
    /// exposes no family without series.
    pub fn write_text_all(queues: &[(&str, &str, &RemoteWriteMetrics)], out: &mut String) {
        if queues.is_empty() {
            return;
        }
        for f in FAMILIES {
            let kind = match f.kind {
                FamilyKind::Counter(_) => "counter",
                FamilyKind::Gauge(_) => "gauge",
                FamilyKind::Histogram => "histogram",
            };
            write_header(out, f.name, kind, f.help);
            for &(remote_name, url, m) in queues {
                let mut labels = String::from("remote_name=\"");
                write_escaped_label_value(&mut labels, remote_name);
                labels.push_str("\",url=\"");
                write_escaped_label_value(&mut labels, url);
                labels.push('"');
                match f.kind {
                    FamilyKind::Counter(value) | FamilyKind::Gauge(value) => {
                        let _ = writeln!(
                            out,
                            "{}{{{labels}}} {}",
                            f.name,
                            model::strconv::format_float_g(value(m))
                        );
                    }
                    FamilyKind::Histogram => m.write_duration_histogram(f.name, &labels, out),
                }
            }
        }
    }

    /// Writes `sent_batch_duration_seconds`'s `_bucket`, `_sum` and `_count` series.
    fn write_duration_histogram(&self, name: &str, labels: &str, out: &mut String) {
        let mut cumulative = 0u64;
        for (le, n) in SENT_BATCH_DURATION_BUCKETS
            .iter()
            .zip(&self.sent_batch_duration_buckets)
        {
            cumulative += n.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        // Loaded after the buckets, which are bumped first, so +Inf never falls below them.
        let count = self
            .sent_batch_duration_count
            .load(Ordering::Relaxed)
            .max(cumulative);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let sum = counter(&self.sent_batch_duration_nanos_sum) / 1e9;
        let _ = writeln!(
            out,
            "{name}_sum{{{labels}}} {}",
            model::strconv::format_float_g(sum)
        );
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// A sample (or an exemplar, or a native histogram) on its way to a shard.
#[derive(Debug, Clone)]
struct Queued {
    labels: Labels,
    t: Timestamp,
    v: f64,
    /// The exemplar's own labels when this is an exemplar of the series, not a sample.
    exemplar: Option<Labels>,
    /// The histogram when this is a native histogram sample (`v` unused).
    histogram: Option<Box<HistogramSample>>,
    /// The series' metadata from the WAL (remote write 2.0 only).
    metadata: Option<Arc<crate::Metadata>>,
}

/// A series the WAL declared: its labels after external labels and relabeling (`None` when
/// relabeling dropped it), and the segment that declared it last.
#[derive(Debug)]
struct SeriesEntry {
    labels: Option<Labels>,
    segment: u64,
    /// Its metadata from the WAL's metadata records (kept for remote write 2.0 only).
    meta: Option<Arc<crate::Metadata>>,
}

struct Shards {
    senders: Vec<mpsc::Sender<Queued>>,
    tasks: Vec<JoinHandle<()>>,
}

struct Inner {
    opts: WriteOptions,
    endpoint: Endpoint,
    metrics: Arc<RemoteWriteMetrics>,
    series: parking_lot::Mutex<HashMap<SeriesRef, SeriesEntry>>,
    shards: RwLock<Shards>,
    /// No more appends; shards flush what they hold.
    stopping: CancellationToken,
    /// Give up retrying (the flush deadline passed).
    hard_stop: CancellationToken,
    /// Samples, exemplars and histograms the shards dropped unsent at the hard stop
    /// (Go's `samplesDroppedOnHardShutdown` and its siblings).
    dropped_on_hard_stop: [AtomicU64; 3],
}

/// One remote-write queue: see the [module docs](super).
///
/// Cloning is cheap and shares the queue.
#[derive(Clone)]
pub struct QueueManager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for QueueManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueManager")
            .field("name", &self.inner.opts.name)
            .field("url", &self.inner.opts.url)
            .finish_non_exhaustive()
    }
}

impl QueueManager {
    /// A queue for one endpoint; nothing runs until [`QueueManager::start`].
    pub fn new(opts: WriteOptions) -> Result<QueueManager> {
        let q = &opts.queue;
        if q.min_shards == 0
            || q.max_shards < q.min_shards
            || q.max_samples_per_send == 0
            || q.capacity == 0
        {
            return Err(Error::InvalidRemoteRequest {
                what: "queue config",
                reason: format!(
                    "need 0 < min_shards <= max_shards and positive capacity and max_samples_per_send, got {q:?}"
                ),
            });
        }
        let endpoint = Endpoint::new(
            &opts.url,
            opts.remote_timeout,
            opts.headers.clone(),
            opts.client.clone(),
        )?;
        let metrics = Arc::new(RemoteWriteMetrics::default());
        metrics
            .shards_max
            .store(q.max_shards as i64, Ordering::Relaxed);
        metrics
            .shards_min
            .store(q.min_shards as i64, Ordering::Relaxed);
        Ok(QueueManager {
            inner: Arc::new(Inner {
                opts,
                endpoint,
                metrics,
                series: parking_lot::Mutex::new(HashMap::new()),
                shards: RwLock::new(Shards {
                    senders: Vec::new(),
                    tasks: Vec::new(),
                }),
                stopping: CancellationToken::new(),
                hard_stop: CancellationToken::new(),
                dropped_on_hard_stop: Default::default(),
            }),
        })
    }

    /// The queue's metrics.
    pub fn metrics(&self) -> Arc<RemoteWriteMetrics> {
        self.inner.metrics.clone()
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.inner.opts.name
    }

    /// The endpoint URL.
    pub fn url(&self) -> &str {
        self.inner.endpoint.url()
    }

    /// Starts `min_shards` shard tasks and the resharding loop on the current tokio runtime.
    pub async fn start(&self) {
        let n = self.inner.opts.queue.min_shards;
        *self.inner.shards.write().await = self.inner.spawn_shards(n);
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.reshard_loop().await });
    }

    /// Stops accepting samples, lets the shards send what they hold, and waits for them for at
    /// most `flush_deadline`. After that (Prometheus's hard shutdown) the requests under way
    /// are cancelled and everything still queued is dropped unsent; all of it counts as
    /// failed, and the queued part is logged as "Failed to flush all samples on shutdown".
    pub async fn stop(&self, flush_deadline: Duration) {
        self.inner.stopping.cancel();
        // The deadline runs from here: a reshard in progress may hold the shards while its old
        // shards retry, and must give up too.
        let hard_stop = self.inner.hard_stop.clone();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(flush_deadline).await;
            hard_stop.cancel();
        });
        let m = &self.inner.metrics;
        let mut shards = self.inner.shards.write().await;
        shards.senders.clear();
        for t in std::mem::take(&mut shards.tasks) {
            let _ = t.await;
        }
        timer.abort();
        m.shards.store(0, Ordering::Relaxed);
        if self.inner.hard_stop.is_cancelled() {
            // As Prometheus after its hard shutdown: what was still queued, unsent (the
            // batches whose requests were cancelled logged "non-recoverable error").
            let dropped = &self.inner.dropped_on_hard_stop;
            for (i, what) in ["samples", "exemplars", "histograms"].iter().enumerate() {
                let count = dropped[i].load(Ordering::Relaxed);
                if count > 0 {
                    tracing::error!(remote_name = %self.inner.opts.name, url = %self.url(), count,
                        "Failed to flush all {what} on shutdown");
                }
            }
        }
    }

    /// Records series from the WAL (Prometheus's `StoreSeries`): applies external labels and
    /// `write_relabel_configs` once per series. `segment` is the WAL segment (or checkpoint)
    /// that declared them.
    pub fn store_series(&self, series: &[(SeriesRef, Labels)], segment: u64) {
        let opts = &self.inner.opts;
        let mut map = self.inner.series.lock();
        for (r, labels) in series {
            let with_ext = if opts.external_labels.is_empty() {
                labels.clone()
            } else {
                let mut b = LabelsBuilder::new(labels);
                for (name, value) in opts.external_labels.iter() {
                    if !labels.has(name) {
                        b.set(name, value);
                    }
                }
                b.labels()
            };
            let labels = if opts.write_relabel_configs.is_empty() {
                Some(with_ext)
            } else {
                relabel::process(&with_ext, &opts.write_relabel_configs).filter(|l| !l.is_empty())
            };
            // A series declared again (a later segment, a checkpoint) keeps its metadata.
            match map.entry(*r) {
                std::collections::hash_map::Entry::Occupied(mut o) => {
                    let e = o.get_mut();
                    (e.labels, e.segment) = (labels, segment);
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(SeriesEntry {
                        labels,
                        segment,
                        meta: None,
                    });
                }
            }
        }
    }

    /// Records series metadata from the WAL's metadata records (Prometheus's
    /// `StoreMetadata`): remote write 2.0 sends it with the series' samples; 1.0 queues
    /// ignore it (they send the scrape manager's metadata, see
    /// [`QueueManager::append_metadata`]). Metadata of series not stored is dropped.
    pub fn store_metadata(&self, metadata: &[(SeriesRef, crate::Metadata)]) {
        if self.inner.opts.protobuf_message == WriteProtoMsg::V1 {
            return;
        }
        let mut map = self.inner.series.lock();
        for (r, m) in metadata {
            if let Some(e) = map.get_mut(r) {
                e.meta = Some(Arc::new(m.clone()));
            }
        }
    }

    /// Forgets series last declared in a segment before `segment` (Prometheus's
    /// `SeriesReset`, called when a checkpoint up to `segment` appears).
    pub fn series_reset(&self, segment: u64) {
        self.inner.series.lock().retain(|_, e| e.segment >= segment);
    }

    /// Queues samples of series previously given to [`QueueManager::store_series`]. Waits while
    /// the shards are full (the WAL keeps the data meanwhile). Returns `false` once the queue
    /// is stopping, with the remaining samples not queued.
    pub async fn append(&self, samples: &[(SeriesRef, Timestamp, f64)]) -> bool {
        let m = &self.inner.metrics;
        m.samples_in_total
            .fetch_add(samples.len() as u64, Ordering::Relaxed);
        self.enqueue(
            samples.iter().copied(),
            |&(r, t, _)| (r, t),
            |(_, t, v), labels| Queued {
                labels,
                t,
                v,
                exemplar: None,
                histogram: None,
                metadata: None,
            },
            &m.samples_dropped_total,
            &m.samples_pending,
        )
        .await
    }

    /// Resolves each item to its series' labels (dropping, and counting in `dropped`, those
    /// of unknown or relabeled-away series and those older than the sample age limit), then
    /// sends them to their series' shard, counting them in `pending`. Waits while the shards
    /// are full; returns `false` once the queue is stopping.
    async fn enqueue<T>(
        &self,
        items: impl IntoIterator<Item = T>,
        key: impl Fn(&T) -> (SeriesRef, Timestamp),
        queued: impl Fn(T, Labels) -> Queued,
        dropped: &AtomicU64,
        pending: &AtomicI64,
    ) -> bool {
        let inner = &self.inner;
        let age_limit = inner.opts.queue.sample_age_limit;
        let min_t = if age_limit.is_zero() {
            Timestamp::MIN
        } else {
            now_ms() - age_limit.as_millis() as i64
        };
        let resolved: Vec<Queued> = {
            let map = inner.series.lock();
            items
                .into_iter()
                .filter_map(|item| {
                    let (r, t) = key(&item);
                    match map.get(&r) {
                        Some(SeriesEntry {
                            labels: Some(labels),
                            meta,
                            ..
                        }) if t >= min_t => {
                            let mut q = queued(item, labels.clone());
                            q.metadata = meta.clone();
                            Some(q)
                        }
                        _ => {
                            dropped.fetch_add(1, Ordering::Relaxed);
                            None
                        }
                    }
                })
                .collect()
        };
        let shards = tokio::select! {
            s = inner.shards.read() => s,
            () = inner.stopping.cancelled() => return false,
        };
        if shards.senders.is_empty() {
            return false;
        }
        let n = shards.senders.len() as u64;
        for q in resolved {
            let shard = (shard_hash(&q.labels) % n) as usize;
            pending.fetch_add(1, Ordering::Relaxed);
            let sent = match shards.senders[shard].try_send(q) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Closed(_)) => false,
                // A full shard: Go counts the failed enqueue and retries; this waits.
                Err(mpsc::error::TrySendError::Full(q)) => {
                    inner
                        .metrics
                        .enqueue_retries_total
                        .fetch_add(1, Ordering::Relaxed);
                    tokio::select! {
                        r = shards.senders[shard].send(q) => r.is_ok(),
                        () = inner.stopping.cancelled() => false,
                    }
                }
            };
            if !sent {
                pending.fetch_sub(1, Ordering::Relaxed);
                return false;
            }
        }
        true
    }
}

impl QueueManager {
    /// Queues exemplars `(series, timestamp, value, exemplar labels)` of series previously
    /// given to [`QueueManager::store_series`], when the endpoint has `send_exemplars` (else
    /// they are ignored, as in Prometheus). They go to the shard of their series, in the same
    /// batches as samples. Returns `false` once the queue is stopping.
    pub async fn append_exemplars(
        &self,
        exemplars: &[(SeriesRef, Timestamp, f64, Labels)],
    ) -> bool {
        if !self.inner.opts.send_exemplars {
            return true;
        }
        let m = &self.inner.metrics;
        self.enqueue(
            exemplars.iter(),
            |(r, t, _, _)| (*r, *t),
            |(_, t, v, e), labels| Queued {
                labels,
                t: *t,
                v: *v,
                exemplar: Some(e.clone()),
                histogram: None,
                metadata: None,
            },
            &m.exemplars_dropped_total,
            &m.exemplars_pending,
        )
        .await
    }
}

impl QueueManager {
    /// Queues native histograms `(series, timestamp, histogram)` of series previously given
    /// to [`QueueManager::store_series`], when the endpoint has `send_native_histograms`
    /// (else they are ignored, as in Prometheus). They go to the shard of their series, in
    /// the same batches as samples, and count towards `max_samples_per_send`. Returns
    /// `false` once the queue is stopping.
    pub async fn append_histograms(
        &self,
        histograms: Vec<(SeriesRef, Timestamp, HistogramSample)>,
    ) -> bool {
        if !self.inner.opts.send_native_histograms {
            return true;
        }
        let m = &self.inner.metrics;
        m.samples_in_total
            .fetch_add(histograms.len() as u64, Ordering::Relaxed);
        self.enqueue(
            histograms,
            |&(r, t, _)| (r, t),
            |(_, t, h), labels| Queued {
                labels,
                t,
                v: 0.0,
                exemplar: None,
                histogram: Some(Box::new(h)),
                metadata: None,
            },
            &m.histograms_dropped_total,
            &m.histograms_pending,
        )
        .await
    }
}

/// The written counts a response's headers report (unparsable values count as 0, logged).
fn written(headers: &hyper::HeaderMap) -> WriteStats {
    let (stats, errors) =
        WriteStats::from_headers(|name| headers.get(name).and_then(|v| v.to_str().ok()));
    if !errors.is_empty() {
        tracing::warn!(errors = ?errors, "parsing rw write statistics failed; partial or no stats");
    }
    stats
}

fn shard_hash(labels: &Labels) -> u64 {
    labels.hash()
}

fn now_ms() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Resolves when `token` is cancelled; never without one.
async fn cancelled(token: Option<&CancellationToken>) {
    match token {
        Some(t) => t.cancelled().await,
        None => std::future::pending().await,
    }
}

/// An error as Prometheus's queue logs it: a failed request is Go's client text alone
/// (`Post "URL": dial tcp HOST:PORT: connect: connection refused`).
fn log_text(err: &Error) -> String {
    match err {
        Error::RemoteRequest { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

impl Inner {
    fn spawn_shards(self: &Arc<Self>, n: usize) -> Shards {
        let cap = self.opts.queue.capacity;
        let (senders, tasks) = (0..n)
            .map(|shard| {
                let (tx, rx) = mpsc::channel(cap);
                let inner = self.clone();
                (
                    tx,
                    tokio::spawn(async move { inner.run_shard(shard, rx).await }),
                )
            })
            .unzip();
        self.metrics.shards.store(n as i64, Ordering::Relaxed);
        Shards { senders, tasks }
    }

    /// One shard: collects samples into batches of `max_samples_per_send`, sending a partial
    /// batch once its oldest sample waited `batch_send_deadline`. Ends when its channel closes,
    /// after sending what it holds, or at the hard stop, dropping what it holds.
    async fn run_shard(self: Arc<Self>, shard: usize, mut rx: mpsc::Receiver<Queued>) {
        let max = self.opts.queue.max_samples_per_send;
        let deadline = self.opts.queue.batch_send_deadline;
        let mut batch: Vec<Queued> = Vec::with_capacity(max);
        let timer = tokio::time::sleep(deadline);
        tokio::pin!(timer);
        loop {
            if self.hard_stop.is_cancelled() {
                self.drop_at_hard_stop(&mut rx, batch);
                return;
            }
            let was_empty = batch.is_empty();
            let room = max - batch.len();
            tokio::select! {
                biased;
                () = self.hard_stop.cancelled() => {}
                n = rx.recv_many(&mut batch, room) => {
                    if n == 0 {
                        if !batch.is_empty() {
                            self.send_batch(std::mem::take(&mut batch)).await;
                        }
                        return;
                    }
                    if was_empty {
                        timer.as_mut().reset(tokio::time::Instant::now() + deadline);
                    }
                    if batch.len() >= max {
                        self.send_batch(std::mem::replace(&mut batch, Vec::with_capacity(max))).await;
                    }
                }
                () = &mut timer, if !batch.is_empty() => {
                    let histograms = batch.iter().filter(|q| q.histogram.is_some()).count();
                    let exemplars = batch.iter().filter(|q| q.exemplar.is_some()).count();
                    tracing::debug!(remote_name = %self.opts.name, url = %self.endpoint.url(),
                        samples = batch.len() - histograms - exemplars, exemplars, shard,
                        histograms, "runShard timer ticked, sending buffered data");
                    self.send_batch(std::mem::replace(&mut batch, Vec::with_capacity(max))).await;
                }
            }
        }
    }

    /// Go's shard after its hard shutdown: drops the partial batch and everything still in
    /// the channel unsent, counting it failed and in [`Inner::dropped_on_hard_stop`].
    fn drop_at_hard_stop(&self, rx: &mut mpsc::Receiver<Queued>, mut batch: Vec<Queued>) {
        rx.close();
        while let Ok(q) = rx.try_recv() {
            batch.push(q);
        }
        let ne = batch.iter().filter(|q| q.exemplar.is_some()).count() as u64;
        let nh = batch.iter().filter(|q| q.histogram.is_some()).count() as u64;
        let n = batch.len() as u64 - ne - nh;
        let m = &self.metrics;
        let kinds = [
            (n, &m.samples_failed_total, &m.samples_pending),
            (ne, &m.exemplars_failed_total, &m.exemplars_pending),
            (nh, &m.histograms_failed_total, &m.histograms_pending),
        ];
        for (i, (count, failed, pending)) in kinds.into_iter().enumerate() {
            failed.fetch_add(count, Ordering::Relaxed);
            pending.fetch_sub(count as i64, Ordering::Relaxed);
            self.dropped_on_hard_stop[i].fetch_add(count, Ordering::Relaxed);
        }
    }

    /// Sends one batch, retrying recoverable failures with exponential backoff until it
    /// succeeds, fails for good, or the flush deadline of a stopping queue passes (which
    /// also cancels a request under way, as Go's hard shutdown cancels its context).
    async fn send_batch(&self, batch: Vec<Queued>) {
        let m = &self.metrics;
        let ne = batch.iter().filter(|q| q.exemplar.is_some()).count() as u64;
        let nh = batch.iter().filter(|q| q.histogram.is_some()).count() as u64;
        let n = batch.len() as u64 - ne - nh;
        let highest = batch
            .iter()
            .filter(|q| q.exemplar.is_none())
            .map(|q| q.t)
            .max()
            .unwrap_or(0);
        let proto = self.opts.protobuf_message;
        let body = match proto {
            WriteProtoMsg::V1 => encode_write_request(&build_write_request(&batch)),
            WriteProtoMsg::V2 => super::write_v2::encode_write_v2_request(&v2::build(&batch)),
        };
        let headers = [
            (VERSION_HEADER, proto.version()),
            ("Content-Type", proto.content_type()),
        ];
        // The batch given up: failed, no longer pending.
        let fail = || {
            m.samples_failed_total.fetch_add(n, Ordering::Relaxed);
            m.samples_pending.fetch_sub(n as i64, Ordering::Relaxed);
            m.exemplars_failed_total.fetch_add(ne, Ordering::Relaxed);
            m.exemplars_pending.fetch_sub(ne as i64, Ordering::Relaxed);
            m.histograms_failed_total.fetch_add(nh, Ordering::Relaxed);
            m.histograms_pending.fetch_sub(nh as i64, Ordering::Relaxed);
        };
        let sent = || {
            m.samples_total.fetch_add(n, Ordering::Relaxed);
            m.exemplars_total.fetch_add(ne, Ordering::Relaxed);
            m.histograms_total.fetch_add(nh, Ordering::Relaxed);
            m.bytes_total
                .fetch_add(body.len() as u64, Ordering::Relaxed);
        };
        let retried = || {
            m.samples_retried_total.fetch_add(n, Ordering::Relaxed);
            m.exemplars_retried_total.fetch_add(ne, Ordering::Relaxed);
            m.histograms_retried_total.fetch_add(nh, Ordering::Relaxed);
        };
        let answer = self
            .post_until_final(
                "batch",
                &body,
                &headers,
                [Some(&self.hard_stop), None],
                Some(&self.hard_stop),
                sent,
                retried,
            )
            .await;
        let failed = |err: &dyn std::fmt::Display| {
            tracing::error!(remote_name = %self.opts.name, url = %self.endpoint.url(),
                failedSampleCount = n, failedHistogramCount = nh, failedExemplarCount = ne,
                err = %err, "non-recoverable error");
        };
        let Some(resp) = answer else {
            // Stopped while waiting to retry: Go's request context is cancelled.
            failed(&"context canceled");
            fail();
            return;
        };
        if !resp.status.is_success() {
            failed(&self.endpoint.status_error(&resp));
            fail();
        } else if proto == WriteProtoMsg::V2 && written(&resp.headers).no_data_written() {
            // Remote write 2.0: a receiver answering 2xx without having written anything
            // (no written-count headers) is most likely a 1.0 receiver that ignored the
            // Content-Type; the batch is lost, as in Prometheus.
            tracing::error!(remote_name = %self.opts.name, url = %self.endpoint.url(),
                "sent v2 request with {n} samples, {nh} histograms and {ne} exemplars; got {}, but the remote write 2.0 response headers say nothing was written; assuming failure (the receiver probably only supports remote write 1.0 and ignores the Content-Type header)",
                resp.status);
            fail();
        } else {
            m.highest_sent_timestamp_ms
                .fetch_max(highest, Ordering::Relaxed);
            m.samples_pending.fetch_sub(n as i64, Ordering::Relaxed);
            m.exemplars_pending.fetch_sub(ne as i64, Ordering::Relaxed);
            m.histograms_pending.fetch_sub(nh as i64, Ordering::Relaxed);
        }
    }

    /// Posts `body` (a `what`, for the log) until the answer is final, and returns it: a 2xx
    /// or a status not worth retrying. Network errors, 5xx and (when configured) 429 are
    /// retried with the queue's exponential backoff or the server's `Retry-After`, each
    /// retry saying which attempt it is (`Retry-Attempt`, as Prometheus's client does).
    /// `attempted` runs before each attempt, `retried` after each recoverable failure.
    /// `None` when one of `stops` is cancelled while waiting to retry, or `abort` while
    /// waiting to retry or for an answer (a cancelled request, logged as Go logs one).
    // The arguments are what a request and its give-up conditions need.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn post_until_final(
        &self,
        what: &str,
        body: &[u8],
        headers: &[(&str, &str)],
        stops: [Option<&CancellationToken>; 2],
        abort: Option<&CancellationToken>,
        attempted: impl Fn(),
        retried: impl Fn(),
    ) -> Option<super::http::Response> {
        let q = &self.opts.queue;
        let mut backoff = q.min_backoff;
        let mut attempt = 0u64;
        loop {
            let attempt_value = attempt.to_string();
            let retry = [("Retry-Attempt", attempt_value.as_str())];
            let all: Vec<(&str, &str)> = headers
                .iter()
                .chain(if attempt > 0 { &retry[..] } else { &[] })
                .copied()
                .collect();
            attempt += 1;
            attempted();
            let start = Instant::now();
            let res = tokio::select! {
                res = self.endpoint.post(body.to_vec(), &all) => res,
                () = cancelled(abort) => {
                    self.metrics.observe_sent_batch_duration(start.elapsed());
                    retried();
                    tracing::warn!(remote_name = %self.opts.name, url = %self.endpoint.url(),
                        err = %format_args!("Post {:?}: context canceled", self.endpoint.url()),
                        "Failed to send {what}, retrying");
                    return None;
                }
            };
            self.metrics.observe_sent_batch_duration(start.elapsed());
            let retry_after = match res {
                Ok(resp)
                    if resp.status.is_server_error()
                        || (resp.status.as_u16() == 429 && q.retry_on_http_429) =>
                {
                    tracing::warn!(remote_name = %self.opts.name, url = %self.endpoint.url(), err = %self.endpoint.status_error(&resp), "Failed to send {what}, retrying");
                    resp.retry_after
                }
                Ok(resp) => return Some(resp),
                Err(err) => {
                    tracing::warn!(remote_name = %self.opts.name, url = %self.endpoint.url(), err = %log_text(&err), "Failed to send {what}, retrying");
                    None
                }
            };
            retried();
            tokio::select! {
                () = tokio::time::sleep(retry_after.unwrap_or(backoff)) => {}
                () = cancelled(stops[0]) => return None,
                () = cancelled(stops[1]) => return None,
                () = cancelled(abort) => return None,
            }
            backoff = (backoff * 2).min(q.max_backoff);
        }
    }

    /// Every `reshard_interval`, recomputes the shard count from throughput and restarts the
    /// shards when it moved by more than 30 %.
    async fn reshard_loop(self: Arc<Self>) {
        let interval = self.opts.queue.reshard_interval;
        let m = &self.metrics;
        let mut last_in = m.samples_in_total.load(Ordering::Relaxed);
        let sent = |m: &RemoteWriteMetrics| {
            m.samples_total.load(Ordering::Relaxed) + m.histograms_total.load(Ordering::Relaxed)
        };
        let mut last_sent = sent(m);
        let mut last_nanos = m.sent_batch_duration_nanos_sum.load(Ordering::Relaxed);
        let mut last_retried = m.samples_retried_total.load(Ordering::Relaxed);
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = self.stopping.cancelled() => return,
            }
            let (now_in, now_sent, now_nanos, now_retried) = (
                m.samples_in_total.load(Ordering::Relaxed),
                sent(m),
                m.sent_batch_duration_nanos_sum.load(Ordering::Relaxed),
                m.samples_retried_total.load(Ordering::Relaxed),
            );
            let current = m.shards.load(Ordering::Relaxed).max(1) as usize;
            let desired = desired_shards(
                &self.opts.queue,
                current,
                interval.as_secs_f64(),
                (now_in - last_in) as f64,
                (now_sent - last_sent) as f64,
                (now_nanos - last_nanos) as f64 / 1e9,
                m.samples_pending.load(Ordering::Relaxed).max(0) as f64,
            );
            let failing = now_retried > last_retried;
            (last_in, last_sent, last_nanos, last_retried) =
                (now_in, now_sent, now_nanos, now_retried);
            m.shards_desired.store(desired as i64, Ordering::Relaxed);
            // More shards do not help an endpoint that is failing (Prometheus skips resharding
            // when the last successful send is too old).
            if desired == current || failing {
                continue;
            }
            let mut shards = self.shards.write().await;
            if self.stopping.is_cancelled() {
                return;
            }
            // Old shards flush before new ones start, so each series stays in order.
            shards.senders.clear();
            for t in std::mem::take(&mut shards.tasks) {
                let _ = t.await;
            }
            *shards = self.spawn_shards(desired);
            tracing::info!(remote_name = %self.opts.name, from = current, to = desired, "remote storage resharding");
        }
    }
}

/// Prometheus's `calculateDesiredShards`, simplified: the send time per sample times the
/// incoming rate plus enough to drain the backlog within one interval, clamped to
/// `min_shards..=max_shards`, and unchanged when within 30 % of `current`.
fn desired_shards(
    q: &QueueOptions,
    current: usize,
    interval_secs: f64,
    samples_in: f64,
    samples_out: f64,
    send_secs: f64,
    pending: f64,
) -> usize {
    if samples_out <= 0.0 || interval_secs <= 0.0 {
        return current;
    }
    let time_per_sample = send_secs / samples_out;
    let in_rate = samples_in / interval_secs;
    let backlog_rate = pending / interval_secs;
    let desired = time_per_sample * (in_rate + backlog_rate);
    let (lo, hi) = (
        current as f64 * (1.0 - SHARD_TOLERANCE),
        current as f64 * (1.0 + SHARD_TOLERANCE),
    );
    if desired > lo && desired < hi {
        return current;
    }
    (desired.ceil() as usize).clamp(q.min_shards, q.max_shards)
}

/// Groups a batch into one time series per label set, keeping each series' samples in order.
fn build_write_request(batch: &[Queued]) -> WriteRequest {
    let mut index: HashMap<&Labels, usize> = HashMap::new();
    let mut timeseries: Vec<TimeSeries> = Vec::new();
    for q in batch {
        let i = *index.entry(&q.labels).or_insert_with(|| {
            timeseries.push(TimeSeries {
                labels: labels_to_proto(&q.labels),
                ..Default::default()
            });
            timeseries.len() - 1
        });
        match (&q.exemplar, q.histogram.as_deref()) {
            (Some(e), _) => timeseries[i].exemplars.push(prompb::Exemplar {
                labels: labels_to_proto(e),
                value: q.v,
                timestamp: q.t,
            }),
            (None, Some(HistogramSample::Int(h))) => {
                timeseries[i].histograms.push(histogram_to_proto(q.t, h));
            }
            (None, Some(HistogramSample::Float(fh))) => {
                timeseries[i]
                    .histograms
                    .push(float_histogram_to_proto(q.t, fh));
            }
            (None, None) => timeseries[i].samples.push(Sample {
                value: q.v,
                timestamp: q.t,
            }),
        }
    }
    WriteRequest {
        timeseries,
        metadata: Vec::new(),
    }
}

/// Builds a write request from labelled samples: what the queue sends, exposed for the
/// benchmark and for tests.
#[doc(hidden)]
pub fn bench_build_and_encode(samples: &[(Labels, Timestamp, f64)]) -> Vec<u8> {
    let batch: Vec<Queued> = samples
        .iter()
        .map(|(labels, t, v)| Queued {
            labels: labels.clone(),
            t: *t,
            v: *v,
            exemplar: None,
            histogram: None,
            metadata: None,
        })
        .collect();
    encode_write_request(&build_write_request(&batch))
}

/// [`bench_build_and_encode`] for remote write 2.0: the same samples as a snappy-compressed
/// `io.prometheus.write.v2.Request`.
#[doc(hidden)]
pub fn bench_build_and_encode_v2(samples: &[(Labels, Timestamp, f64)]) -> Vec<u8> {
    let batch: Vec<Queued> = samples
        .iter()
        .map(|(labels, t, v)| Queued {
            labels: labels.clone(),
            t: *t,
            v: *v,
            exemplar: None,
            histogram: None,
            metadata: None,
        })
        .collect();
    super::write_v2::encode_write_v2_request(&v2::build(&batch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_one_header_per_family_and_a_histogram() {
        let a = RemoteWriteMetrics::default();
        let b = RemoteWriteMetrics::default();
        a.shards.store(2, Ordering::Relaxed);
        a.observe_sent_batch_duration(Duration::from_millis(3));
        a.observe_sent_batch_duration(Duration::from_millis(30));
        a.observe_sent_batch_duration(Duration::from_secs(400));
        let mut out = String::new();
        RemoteWriteMetrics::write_text_all(&[("a", "http://x/a", &a), ("b\"q", "u", &b)], &mut out);

        for f in FAMILIES {
            let help = format!("# HELP {} ", f.name);
            let typ = format!("# TYPE {} ", f.name);
            assert_eq!(out.matches(&help).count(), 1, "{help}\n{out}");
            assert_eq!(out.matches(&typ).count(), 1, "{typ}\n{out}");
        }
        assert!(
            out.contains(
                "# TYPE prometheus_remote_storage_sent_batch_duration_seconds histogram\n"
            )
        );
        assert!(out.contains("# TYPE prometheus_remote_storage_samples_total counter\n"));
        assert!(out.contains("# TYPE prometheus_remote_storage_shards gauge\n"));
        // Both queues' series follow the single header, a before b.
        assert!(
            out.contains(
                "# TYPE prometheus_remote_storage_shards gauge\n\
             prometheus_remote_storage_shards{remote_name=\"a\",url=\"http://x/a\"} 2\n\
             prometheus_remote_storage_shards{remote_name=\"b\\\"q\",url=\"u\"} 0\n"
            ),
            "{out}"
        );
        let hist = "prometheus_remote_storage_sent_batch_duration_seconds";
        let l = "remote_name=\"a\",url=\"http://x/a\"";
        for (le, n) in [
            ("0.005", 1),
            ("0.01", 1),
            ("0.025", 1),
            ("0.05", 2),
            ("300", 2),
            ("+Inf", 3),
        ] {
            let line = format!("{hist}_bucket{{{l},le=\"{le}\"}} {n}\n");
            assert!(out.contains(&line), "{line}\n{out}");
        }
        assert!(out.contains(&format!("{hist}_count{{{l}}} 3\n")), "{out}");
        assert!(
            out.contains(&format!("{hist}_sum{{{l}}} 400.033\n")),
            "{out}"
        );
        assert_eq!(out.matches(&format!("{hist}_bucket{{{l},")).count(), 16);

        let mut none = String::new();
        RemoteWriteMetrics::write_text_all(&[], &mut none);
        assert_eq!(none, "");
    }

    #[test]
    fn desired_shards_follow_throughput_within_bounds() {
        let q = QueueOptions {
            min_shards: 1,
            max_shards: 10,
            ..QueueOptions::default()
        };
        // 1 ms of send time per sample, 5000 samples/s in: 5 shards.
        assert_eq!(
            desired_shards(&q, 1, 10.0, 50_000.0, 50_000.0, 50.0, 0.0),
            5
        );
        // Way more than max: clamped.
        assert_eq!(desired_shards(&q, 1, 10.0, 1e7, 50_000.0, 50.0, 0.0), 10);
        // Within 30 % of the current count: unchanged.
        assert_eq!(
            desired_shards(&q, 5, 10.0, 55_000.0, 50_000.0, 50.0, 0.0),
            5
        );
        // Nothing sent: unchanged.
        assert_eq!(desired_shards(&q, 3, 10.0, 0.0, 0.0, 0.0, 0.0), 3);
        // Idle: back to the minimum.
        assert_eq!(desired_shards(&q, 8, 10.0, 0.0, 100.0, 0.001, 0.0), 1);
    }

    #[test]
    fn batches_group_samples_by_series_in_order() {
        let a = Labels::from_pairs([("__name__", "a")]);
        let b = Labels::from_pairs([("__name__", "b")]);
        let q = |labels: &Labels, t, v, exemplar: Option<&str>| Queued {
            labels: labels.clone(),
            t,
            v,
            exemplar: exemplar.map(|id| Labels::from_pairs([("trace_id", id)])),
            histogram: None,
            metadata: None,
        };
        let batch = [
            q(&a, 1, 1.0, None),
            q(&b, 1, 2.0, None),
            q(&a, 1, 0.5, Some("x")),
            q(&a, 2, 3.0, None),
        ];
        let req = build_write_request(&batch);
        assert_eq!(req.timeseries.len(), 2);
        assert_eq!(req.timeseries[0].labels, labels_to_proto(&a));
        let ts: Vec<_> = req.timeseries[0]
            .samples
            .iter()
            .map(|s| (s.timestamp, s.value))
            .collect();
        assert_eq!(ts, vec![(1, 1.0), (2, 3.0)]);
        // Exemplars travel in their series' time series.
        assert_eq!(
            req.timeseries[0].exemplars,
            [prompb::Exemplar {
                labels: labels_to_proto(&Labels::from_pairs([("trace_id", "x")])),
                value: 0.5,
                timestamp: 1,
            }]
        );
        assert_eq!(req.timeseries[1].samples.len(), 1);
        assert!(req.timeseries[1].exemplars.is_empty());
    }

    #[test]
    fn series_get_external_labels_and_relabeling() {
        let relabel: Vec<relabel::Config> = vec![relabel::Config {
            source_labels: vec!["__name__".into()],
            regex: relabel::Regex::new("drop_me").unwrap(),
            action: relabel::Action::Drop,
            ..relabel::Config::default()
        }];
        let qm = QueueManager::new(WriteOptions {
            url: "http://127.0.0.1:1/api/v1/write".into(),
            external_labels: Labels::from_pairs([("cluster", "eu"), ("job", "ext")]),
            write_relabel_configs: relabel,
            remote_timeout: Duration::from_secs(1),
            ..WriteOptions::default()
        })
        .unwrap();
        qm.store_series(
            &[
                (
                    1,
                    Labels::from_pairs([("__name__", "keep"), ("job", "node")]),
                ),
                (2, Labels::from_pairs([("__name__", "drop_me")])),
            ],
            0,
        );
        let map = qm.inner.series.lock();
        assert_eq!(
            map[&1].labels.as_ref().unwrap().to_string(),
            r#"{__name__="keep", cluster="eu", job="node"}"#
        );
        assert!(map[&2].labels.is_none());
        drop(map);
        qm.series_reset(1);
        assert!(qm.inner.series.lock().is_empty());
    }
}
