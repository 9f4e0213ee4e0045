//! The request handler: routing, readiness gate, lifecycle endpoints, gzip and request
//! counting around the API.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiResult, Route};
use crate::error::ApiError;
use crate::json;
use crate::metrics::{self, HttpMetrics, ListenerMetrics, WebMetrics};
use crate::params::Form;
use crate::status::{Readiness, Status};

/// Build information shown by `/api/v1/status/buildinfo` and `prometheus_build_info`
/// (Prometheus's `PrometheusVersion`; `goVersion` holds the Rust toolchain here).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BuildInfo {
    /// Release version.
    pub version: String,
    /// Source revision.
    pub revision: String,
    /// Source branch.
    pub branch: String,
    /// Who built it.
    #[serde(rename = "buildUser")]
    pub build_user: String,
    /// When it was built.
    #[serde(rename = "buildDate")]
    pub build_date: String,
    /// The compiler that built it.
    #[serde(rename = "goVersion")]
    pub go_version: String,
}

/// What `/api/v1/status/tsdb` shows (Prometheus's `TSDBStatus`), in Go's units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TsdbStatus {
    /// Series in the head.
    pub num_series: u64,
    /// Distinct label name/value pairs in the head's index.
    pub num_label_pairs: u64,
    /// Chunks in the head.
    pub chunk_count: i64,
    /// Earliest sample time in the head (ms).
    pub min_time: i64,
    /// Latest sample time in the head (ms).
    pub max_time: i64,
    /// Top metric names by series count.
    pub series_count_by_metric_name: Vec<(String, u64)>,
    /// Top label names by number of values.
    pub label_value_count_by_label_name: Vec<(String, u64)>,
    /// Top label names by bytes used by their values.
    pub memory_in_bytes_by_label_name: Vec<(String, u64)>,
    /// Top label pairs by series count.
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
}

/// The TSDB statistics the web handler reads; the binary implements it over the TSDB (the
/// web crate does not depend on `tsdb`).
pub trait TsdbStats: Send + Sync {
    /// The head's statistics with at most `limit` entries per top list.
    fn tsdb_status(&self, limit: usize) -> Result<TsdbStatus, String>;

    /// How many WAL corruptions were found (and repaired) since start-up, shown as
    /// `corruptionCount` by `/api/v1/status/runtimeinfo`.
    fn wal_corruptions(&self) -> i64;

    /// The metas of the persistent blocks, oldest first (`/api/v1/status/tsdb/blocks`).
    fn block_metas(&self) -> Result<Vec<BlockMetaView>, String>;
}

/// A block's `meta.json` as `/api/v1/status/tsdb/blocks` shows it (Go's `tsdb.BlockMeta`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMetaView {
    /// The block's ULID.
    pub ulid: String,
    /// Earliest sample time (ms, inclusive).
    pub min_time: i64,
    /// End of the time range (ms, exclusive).
    pub max_time: i64,
    /// Statistics.
    pub stats: BlockStatsView,
    /// Compaction history.
    pub compaction: BlockCompactionView,
    /// The meta format version.
    pub version: u32,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// A block's statistics (zero counts are left out, as in Go).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStatsView {
    /// Samples.
    #[serde(skip_serializing_if = "is_zero")]
    pub num_samples: u64,
    /// Float samples.
    #[serde(skip_serializing_if = "is_zero")]
    pub num_float_samples: u64,
    /// Histogram samples.
    #[serde(skip_serializing_if = "is_zero")]
    pub num_histogram_samples: u64,
    /// Series.
    #[serde(skip_serializing_if = "is_zero")]
    pub num_series: u64,
    /// Chunks.
    #[serde(skip_serializing_if = "is_zero")]
    pub num_chunks: u64,
    /// Tombstone intervals.
    #[serde(skip_serializing_if = "is_zero")]
    pub num_tombstones: u64,
}

/// A parent of a compacted block.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDescView {
    /// The parent's ULID.
    pub ulid: String,
    /// Its minimum time.
    pub min_time: i64,
    /// Its maximum time.
    pub max_time: i64,
}

/// How a block came to be.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BlockCompactionView {
    /// Compaction level (1: cut from the head).
    pub level: u32,
    /// The level-1 blocks its data comes from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Set when the block may be deleted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deletable: bool,
    /// The blocks compacted into it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<BlockDescView>,
    /// Set when compacting it failed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
}

/// The TSDB administration the admin API (`--web.enable-admin-api`) performs; the binary
/// implements it over the TSDB.
pub trait TsdbAdmin: Send + Sync {
    /// Deletes the samples in `[mint, maxt]` (ms) of the series matching `matchers`.
    fn delete_series(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[model::Matcher],
    ) -> Result<(), String>;
    /// Rewrites blocks without their deleted data.
    fn clean_tombstones(&self) -> Result<(), String>;
    /// Writes a snapshot into `<data dir>/snapshots/<name>` (the whole head too when
    /// `with_head`). The error is Prometheus's message (`create snapshot: ...` or `create
    /// snapshot directory: ...`).
    fn snapshot(&self, name: &str, with_head: bool) -> Result<(), String>;
}

/// A `/-/reload` request: the reload handler answers on the channel with the outcome.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// Appends more samples to `/metrics`, in the text exposition format (for example the
/// remote-write queues' `prometheus_remote_storage_*` metrics, which the binary owns).
pub type MetricsHook = Arc<dyn Fn(&mut String) + Send + Sync>;

/// Everything the handler reads from the rest of the server.
pub struct Options {
    /// The storage queries and metadata requests read.
    pub queryable: Arc<dyn storage::Queryable>,
    /// The PromQL engine.
    pub engine: Arc<promql::Engine>,
    /// Readiness, configuration and reload outcome, written by the binary.
    pub status: Arc<Status>,
    /// TSDB statistics for `/api/v1/status/tsdb` (`None`: the endpoint says they are not
    /// available).
    pub tsdb_stats: Option<Arc<dyn TsdbStats>>,
    /// The scrape manager, for `/api/v1/targets` (`None`: not available).
    pub scrape: Option<scrape::Manager>,
    /// How the server is reached from outside (for targets' `globalUrl`).
    pub global_url: crate::api::GlobalUrlOptions,
    /// TSDB administration for `/api/v1/admin/tsdb/*` (`None`: not available).
    pub tsdb_admin: Option<Arc<dyn TsdbAdmin>>,
    /// `--web.enable-lifecycle`: whether `/-/reload` and `/-/quit` work.
    pub enable_lifecycle: bool,
    /// `--web.enable-admin-api`.
    pub enable_admin_api: bool,
    /// `--web.cors.origin` when it is not the default `.*`: only matching origins are
    /// allowed (`None` allows every origin, answering `Access-Control-Allow-Origin: *`).
    pub cors_origin: Option<model::Matcher>,
    /// `--web.route-prefix` (normalized: starts with `/`, no trailing `/` unless it is `/`).
    pub route_prefix: String,
    /// Every command-line flag and its value, for `/api/v1/status/flags`.
    pub flags: BTreeMap<String, String>,
    /// Build information.
    pub build_info: BuildInfo,
    /// The retention shown by `/api/v1/status/runtimeinfo` (e.g. `15d`).
    pub storage_retention: String,
    /// Cancelled by `/-/quit`.
    pub quit: CancellationToken,
    /// Where `/-/reload` sends its requests.
    pub reload: mpsc::Sender<ReloadRequest>,
    /// `--web.enable-remote-write-receiver`: the storage `/api/v1/write` appends to (`None`:
    /// the receiver is off and the endpoint answers 404, as in Prometheus).
    pub remote_write_receiver: Option<Arc<dyn storage::Appendable>>,
    /// `--web.remote-write-receiver.accepted-protobuf-messages`: the remote-write messages
    /// `/api/v1/write` accepts (Prometheus 3's default: both, `storage::remote::
    /// WriteProtoMsg::ALL`); a request carrying another one is answered 415.
    pub remote_write_messages: Vec<storage::remote::WriteProtoMsg>,
    /// `--web.enable-otlp-receiver`: the storage `/api/v1/otlp/v1/metrics` appends to
    /// (`None`: the receiver is off and the endpoint answers 404, as in Prometheus).
    pub otlp_write_receiver: Option<Arc<dyn storage::Appendable>>,
    /// The `--enable-feature` switches that change what the push receivers append.
    pub receiver_features: ReceiverFeatures,
    /// The storage `/api/v1/read` serves: the local TSDB, without remote-read endpoints
    /// (`None`: `queryable`).
    pub remote_read_queryable: Option<Arc<dyn storage::Queryable>>,
    /// `--storage.remote.read-{sample-limit,concurrent-limit,max-bytes-in-frame}`.
    pub remote_read_limits: storage::remote::ReadLimits,
    /// Appends more samples to `/metrics`.
    pub metrics_hook: Option<MetricsHook>,
    /// `--agent`: the query, metadata, rules and TSDB endpoints answer as Prometheus's
    /// agent does (`422 execution: unavailable with Prometheus Agent`).
    pub agent: bool,
    /// The rule manager, for `/api/v1/rules` and `/api/v1/alerts` (`None`: no rules, and
    /// the lists are empty, as in a Prometheus without rule files).
    pub rules: Option<Arc<dyn crate::api::RulesSource>>,
    /// The notifier, for `/api/v1/alertmanagers` (`None`: no Alertmanagers).
    pub alertmanagers: Option<Arc<dyn crate::api::AlertmanagersSource>>,
    /// The exemplar storage `/api/v1/query_exemplars` reads (`None`: every answer is an
    /// empty list, as Prometheus's without its `exemplar-storage` feature).
    pub exemplar_queryable: Option<Arc<dyn storage::ExemplarQueryable>>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("enable_lifecycle", &self.enable_lifecycle)
            .field("enable_admin_api", &self.enable_admin_api)
            .field("route_prefix", &self.route_prefix)
            .field("agent", &self.agent)
            .finish_non_exhaustive()
    }
}

/// The feature flags of the push receivers (`/api/v1/write`, `/api/v1/otlp/v1/metrics`),
/// as Prometheus's web options carry them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverFeatures {
    /// `created-timestamp-zero-ingestion`: remote write 2.0 created timestamps and OTLP
    /// start timestamps become zero samples.
    pub created_timestamp_zero_ingestion: bool,
    /// `type-and-unit-labels`: OTLP series get `__type__` and `__unit__` labels.
    pub type_and_unit_labels: bool,
    /// `otlp-native-delta-ingestion`: OTLP delta sums and histograms are stored as they are
    /// (refused otherwise).
    pub otlp_native_delta_ingestion: bool,
    /// `otlp-deltatocumulative`: OTLP delta sums and histograms are made cumulative by one
    /// processor shared by all requests (exclusive with `otlp_native_delta_ingestion`).
    pub otlp_delta_to_cumulative: bool,
}

pub(crate) struct Inner {
    pub(crate) opts: Options,
    pub(crate) http: HttpMetrics,
    /// `/metrics`'s and `/federate`'s own counters.
    pub(crate) web_metrics: WebMetrics,
    /// The connections of the listeners this handler is served on.
    pub(crate) listener: Arc<ListenerMetrics>,
    /// The remote-write receiver's options, with its invalid-labels counter.
    pub(crate) receiver: storage::remote::ReceiverOptions,
    /// The OTLP receiver's delta-to-cumulative state (`otlp-deltatocumulative`).
    pub(crate) delta_to_cumulative: Option<Arc<storage::remote::otlp::DeltaToCumulative>>,
    /// The OTLP receiver's counters.
    pub(crate) otlp_counters: Arc<storage::remote::otlp::OtlpCounters>,
    /// Permits of `/api/v1/read` (`--storage.remote.read-concurrent-limit`).
    remote_read_gate: tokio::sync::Semaphore,
    /// `prometheus_remote_read_handler_queries`: reads being answered.
    remote_read_queries: std::sync::atomic::AtomicI64,
    quitting: AtomicBool,
}

/// Counts one request in a gauge for as long as it lives.
struct InFlight<'a>(&'a std::sync::atomic::AtomicI64);

impl<'a> InFlight<'a> {
    fn new(gauge: &'a std::sync::atomic::AtomicI64) -> InFlight<'a> {
        gauge.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Answers HTTP requests: cheap to clone, shared by every connection.
#[derive(Clone)]
pub struct Handler {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("opts", &self.inner.opts)
            .finish()
    }
}

/// The largest form body parsed, as Go's `ParseForm` (10 MB).
const MAX_FORM_BYTES: usize = 10 << 20;

pub(crate) type Body = Full<Bytes>;

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Go's `http.NotFound`.
fn not_found() -> Response<Body> {
    crate::assets::error(StatusCode::NOT_FOUND, "404 page not found")
}

/// The `Allow` header Go's router sends: the route's methods and `OPTIONS`, sorted.
fn allow_header(allowed: &[Method]) -> HeaderValue {
    let mut names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    names.push("OPTIONS");
    names.sort_unstable();
    names.dedup();
    HeaderValue::from_str(&names.join(", ")).unwrap_or_else(|_| HeaderValue::from_static("OPTIONS"))
}

/// Go's router for a method the route does not take: 405 with the methods it takes.
fn method_not_allowed(allowed: &[Method]) -> Response<Body> {
    let mut resp = crate::assets::error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    resp.headers_mut()
        .insert(header::ALLOW, allow_header(allowed));
    resp
}

/// Go's router answering `OPTIONS` itself: 200, no body, the methods in `Allow`.
fn options_allowed(allowed: &[Method]) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    resp.headers_mut()
        .insert(header::ALLOW, allow_header(allowed));
    resp
}

fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The API envelope: `{"status":"success","data":...,"warnings":[...],"infos":[...]}` or
/// `{"status":"error","errorType":"...","error":"..."}`, or 204 without data.
fn api_response(result: ApiResult) -> Response<Body> {
    match result {
        Ok(data) => {
            let Some(payload) = data.data else {
                if data.status_only {
                    return json_response(StatusCode::OK, "{\"status\":\"success\"}".to_owned());
                }
                let mut resp = Response::new(Full::new(Bytes::new()));
                *resp.status_mut() = StatusCode::NO_CONTENT;
                return resp;
            };
            // The envelope goes around the payload in its own buffer (the query encoder
            // leaves room): a large answer is shifted once, not copied into a new one.
            let mut out = payload;
            out.insert_str(0, "{\"status\":\"success\",\"data\":");
            if !data.warnings.is_empty() {
                out.push_str(",\"warnings\":");
                json::write_str_list(&mut out, data.warnings.iter().map(String::as_str));
            }
            if !data.infos.is_empty() {
                out.push_str(",\"infos\":");
                json::write_str_list(&mut out, data.infos.iter().map(String::as_str));
            }
            out.push('}');
            json_response(StatusCode::OK, out)
        }
        Err(err) => json_response(err.kind.status(), error_body(&err)),
    }
}

/// An error of the remote-write, remote-read and OTLP receivers at `status`, with
/// Prometheus's message. Prometheus writes it as text (Go's `http.Error`); the API's OpenAPI
/// description (upstream's golden file, which `cargo xtask apicheck` holds us to) documents
/// the API's JSON error form for these endpoints, which is what we send. Remote senders log
/// the body either way; `cargo xtask wirediff` compares the message.
pub(crate) fn receiver_error(status: StatusCode, message: &str) -> Response<Body> {
    let kind = match status.as_u16() {
        400 | 415 => "bad_data",
        404 => "not_found",
        503 => "unavailable",
        _ => "internal",
    };
    let mut out = String::from("{\"status\":\"error\",\"errorType\":\"");
    out.push_str(kind);
    out.push_str("\",\"error\":");
    json::write_str(&mut out, message.trim_end());
    out.push('}');
    json_response(status, out)
}

fn error_body(err: &ApiError) -> String {
    let mut out = String::from("{\"status\":\"error\",\"errorType\":\"");
    out.push_str(err.kind.as_str());
    out.push_str("\",\"error\":");
    json::write_str(&mut out, &err.message);
    out.push('}');
    out
}

/// Whether the client accepts gzip (`Accept-Encoding: gzip`, not with `q=0`).
fn accepts_gzip(req_headers: &http::HeaderMap) -> bool {
    req_headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut it = part.split(';');
            let coding = it.next().unwrap_or("").trim();
            let q_zero = it.any(|p| {
                let p = p.trim();
                p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
            });
            coding.eq_ignore_ascii_case("gzip") && !q_zero
        })
}

fn gzip(resp: Response<Body>, body: Bytes) -> Response<Body> {
    // Go's default level (6), as Prometheus's compression handler uses; the output buffer
    // starts at an eighth of the body so a large answer regrows it only a few times.
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 8),
        flate2::Compression::default(),
    );
    if enc.write_all(&body).is_err() {
        return resp;
    }
    let Ok(compressed) = enc.finish() else {
        return resp;
    };
    let (mut parts, _) = resp.into_parts();
    parts
        .headers
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    parts
        .headers
        .append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Full::new(Bytes::from(compressed)))
}

/// Which of the handler's own (non-API) routes a path is.
enum Page {
    Root,
    Healthy,
    Ready,
    Reload,
    Quit,
    Metrics,
    Federate,
    Ui,
    Api(String),
    NotFound,
}

const GET: &[Method] = &[Method::GET];
const GET_HEAD: &[Method] = &[Method::GET, Method::HEAD];
const GET_POST_PUT: &[Method] = &[Method::GET, Method::POST, Method::PUT];

impl Page {
    /// The methods Prometheus registers for the page (none: the API routes its own, and an
    /// unknown path has none).
    fn methods(&self) -> &'static [Method] {
        match self {
            Page::Root | Page::Ui | Page::Metrics | Page::Federate => GET,
            Page::Healthy | Page::Ready => GET_HEAD,
            Page::Reload | Page::Quit => GET_POST_PUT,
            Page::Api(_) | Page::NotFound => &[],
        }
    }

    fn of(path: &str) -> Page {
        match path {
            "/" => Page::Root,
            "/-/healthy" => Page::Healthy,
            "/-/ready" => Page::Ready,
            "/-/reload" => Page::Reload,
            "/-/quit" => Page::Quit,
            "/metrics" => Page::Metrics,
            "/federate" => Page::Federate,
            p if crate::ui::is_ui_path(p) => Page::Ui,
            p => match p.strip_prefix("/api/v1") {
                Some(rest) if rest.starts_with('/') => Page::Api(rest.to_owned()),
                _ => Page::NotFound,
            },
        }
    }
}

impl Inner {
    /// The push receivers' counters, each registered (as in Prometheus) only with its
    /// receiver.
    pub(crate) fn receiver_counters(&self) -> metrics::ReceiverCounters {
        let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        metrics::ReceiverCounters {
            remote_write: self.opts.remote_write_receiver.as_ref().map(|_| {
                [
                    load(&self.receiver.invalid_labels_samples),
                    load(&self.receiver.without_metadata_samples),
                ]
            }),
            otlp: self.opts.otlp_write_receiver.as_ref().map(|_| {
                [
                    load(&self.otlp_counters.without_metadata),
                    load(&self.otlp_counters.out_of_order_exemplars),
                ]
            }),
            // Prometheus's agent registers the remote read handler too.
            remote_read_queries: Some(
                self.remote_read_queries
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
        }
    }
}

impl Handler {
    /// A handler for `opts`.
    pub fn new(opts: Options) -> Handler {
        Handler {
            inner: Arc::new(Inner {
                receiver: storage::remote::ReceiverOptions {
                    ingest_ct_zero_sample: opts.receiver_features.created_timestamp_zero_ingestion,
                    ..Default::default()
                },
                delta_to_cumulative: opts
                    .receiver_features
                    .otlp_delta_to_cumulative
                    .then(Default::default),
                otlp_counters: Arc::default(),
                remote_read_gate: tokio::sync::Semaphore::new(
                    match opts.remote_read_limits.concurrent_limit {
                        0 => tokio::sync::Semaphore::MAX_PERMITS,
                        n => n,
                    },
                ),
                remote_read_queries: std::sync::atomic::AtomicI64::new(0),
                opts,
                http: HttpMetrics::default(),
                web_metrics: WebMetrics::default(),
                listener: Arc::default(),
                quitting: AtomicBool::new(false),
            }),
        }
    }

    /// The shared server state this handler reads.
    pub fn status(&self) -> &Arc<Status> {
        &self.inner.opts.status
    }

    /// The connection counters of the listeners serving this handler.
    pub(crate) fn listener_metrics(&self) -> Arc<ListenerMetrics> {
        self.inner.listener.clone()
    }

    /// Answers one request. `/api/v1/notifications/live` streams only when served by
    /// [`serve`](crate::serve): here its answer is the stream's headers, without events.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: hyper::body::Body + Send,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let start = std::time::Instant::now();
        let (label, resp) = self.route_and_compress(req).await;
        if let Some(label) = label {
            if let Some(live) = resp.extensions().get::<crate::notifications::LiveStream>() {
                // As Prometheus, whose instrumentation observes a handler when it returns:
                // a notifications stream is counted when it ends, with what it sent.
                let inner = Arc::clone(&self.inner);
                let code = resp.status().as_u16();
                live.on_end(Box::new(move |sent| {
                    inner
                        .http
                        .observe(label, code, start.elapsed().as_secs_f64(), sent);
                }));
                return resp;
            }
            let size = hyper::body::Body::size_hint(resp.body())
                .exact()
                .unwrap_or(0);
            self.inner.http.observe(
                label,
                resp.status().as_u16(),
                start.elapsed().as_secs_f64(),
                size,
            );
        }
        resp
    }

    /// Routes the request and gzips the answer when the client accepts it.
    async fn route_and_compress<B>(&self, req: Request<B>) -> (Option<&'static str>, Response<Body>)
    where
        B: hyper::body::Body + Send,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let gzip_ok = accepts_gzip(req.headers());
        let (label, resp) = self.route(req).await;
        if gzip_ok
            && resp.status() != StatusCode::NO_CONTENT
            // Files from asset directories go out as they are, as Go's file server sends them.
            && !matches!(label, Some("/user/*filepath" | "/classic/static/*filepath"))
            && !resp.headers().contains_key(header::CONTENT_ENCODING)
            // Streamed remote-read frames go out as they are, as in Prometheus.
            && resp.headers().get(header::CONTENT_TYPE).map(HeaderValue::as_bytes)
                != Some(storage::remote::STREAMED_CONTENT_TYPE.as_bytes())
        {
            let body = resp.body().clone();
            let bytes = body
                .collect()
                .await
                .map(http_body_util::Collected::to_bytes)
                .unwrap_or_default();
            if !bytes.is_empty() {
                return (label, gzip(resp, bytes));
            }
        }
        (label, resp)
    }

    async fn route<B>(&self, req: Request<B>) -> (Option<&'static str>, Response<Body>)
    where
        B: hyper::body::Body + Send,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let prefix = self.inner.opts.route_prefix.trim_end_matches('/');
        let full_path = req.uri().path().to_owned();
        // As Go's server and ServeMux: a bad escape in the path is a bad request, and a path
        // that is not clean (`//`, `.`, `..`) is redirected to its clean form.
        let Some(decoded) = crate::assets::percent_decode(&full_path) else {
            let mut resp = text(StatusCode::BAD_REQUEST, "400 Bad Request");
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return (None, resp);
        };
        if let Some(to) = crate::assets::unclean_redirect(&decoded) {
            return (
                None,
                crate::assets::clean_redirect(&to, req.uri().query(), req.method()),
            );
        }
        // `--web.user-assets` at `/user/`, `--web.local-assets` at `/classic/static/`.
        if let Some(sub) = decoded.strip_prefix(prefix).filter(|p| p.starts_with('/'))
            && let Some(mount) = crate::assets::mount_for(&self.inner.opts.flags, sub)
        {
            let label = (sub != mount.route).then_some(mount.label);
            let resp = crate::assets::serve(
                &mount,
                req.method(),
                &decoded,
                sub,
                req.uri().query(),
                req.headers(),
            );
            return (label, resp);
        }
        let path = match full_path.strip_prefix(prefix) {
            // The prefix without its slash: Go's router redirects only a GET.
            Some("") if req.method() == Method::GET => "/",
            Some(p) if p.starts_with('/') => p,
            // As Prometheus: the bare root redirects into the route prefix.
            _ if full_path == "/" => {
                let resp = match *req.method() {
                    Method::GET => crate::ui::redirect(prefix),
                    Method::OPTIONS => options_allowed(GET),
                    _ => method_not_allowed(GET),
                };
                return (None, resp);
            }
            _ => return (None, not_found()),
        };
        let method = req.method().clone();
        let ready = self.inner.opts.status.readiness();
        let page = Page::of(path);
        let allowed = page.methods();
        if !allowed.is_empty() && !allowed.contains(&method) {
            // Go's router: `OPTIONS` lists the methods, any other gets 405 with them.
            let resp = if method == Method::OPTIONS {
                options_allowed(allowed)
            } else {
                method_not_allowed(allowed)
            };
            return (None, resp);
        }
        match page {
            // Like Prometheus: the root redirects to the query page (under the prefix).
            Page::Root => (
                None,
                crate::ui::redirect_home(&crate::ui::Context::of(&self.inner.opts)),
            ),
            Page::Ui => (
                None,
                crate::ui::serve(
                    &crate::ui::Context::of(&self.inner.opts),
                    path,
                    req.uri().query(),
                ),
            ),
            Page::Healthy => (
                Some("/-/healthy"),
                text(
                    StatusCode::OK,
                    if self.inner.opts.agent {
                        "Prometheus Agent is Healthy.\n"
                    } else {
                        "Prometheus Server is Healthy.\n"
                    },
                ),
            ),
            Page::Ready => (
                Some("/-/ready"),
                not_ready(ready).unwrap_or_else(|| {
                    let body = if self.inner.opts.agent {
                        "Prometheus Agent is Ready.\n"
                    } else {
                        "Prometheus Server is Ready.\n"
                    };
                    text(StatusCode::OK, body)
                }),
            ),
            Page::Reload | Page::Quit if method == Method::GET => (
                None,
                text(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Only POST or PUT requests allowed",
                ),
            ),
            Page::Reload if method == Method::POST || method == Method::PUT => {
                (Some("/-/reload"), self.reload().await)
            }
            Page::Quit if method == Method::POST || method == Method::PUT => {
                (Some("/-/quit"), self.quit())
            }
            Page::Metrics => {
                let scrapes = &self.inner.web_metrics;
                scrapes.scrapes_in_flight.inc();
                let mut body = metrics::render(&self.inner);
                if let Some(hook) = &self.inner.opts.metrics_hook {
                    hook(&mut body);
                }
                scrapes.scrapes_in_flight.dec();
                scrapes.scrapes_ok.inc();
                let mut resp = text(StatusCode::OK, body);
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                (Some("/metrics"), resp)
            }
            Page::Federate => {
                if let Some(resp) = not_ready(ready) {
                    return (Some("/federate"), resp);
                }
                let accept = req
                    .headers()
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let form = match read_form(req).await {
                    Ok(form) => form,
                    Err(err) => {
                        return (
                            Some("/federate"),
                            text(StatusCode::BAD_REQUEST, err.message),
                        );
                    }
                };
                let resp = match crate::federate::federate(&self.inner, &form, &accept).await {
                    Ok((content_type, body)) => {
                        let mut resp = text(StatusCode::OK, body);
                        if let Ok(v) = HeaderValue::from_str(&content_type) {
                            resp.headers_mut().insert(header::CONTENT_TYPE, v);
                        }
                        resp
                    }
                    Err((status, message)) => text(status, message),
                };
                (Some("/federate"), resp)
            }
            Page::Api(rest) => match api::route(&method, &rest) {
                Route::NotFound => (None, not_found()),
                Route::MethodNotAllowed(allowed) => (None, method_not_allowed(allowed)),
                Route::Endpoint(label) => {
                    if !api::answers_before_ready(label)
                        && let Some(resp) = not_ready(ready)
                    {
                        return (Some(label), resp);
                    }
                    if label == "/api/v1/otlp/v1/metrics" && method == Method::POST {
                        return (Some(label), crate::otlp::serve(&self.inner, req).await);
                    }
                    if method == Method::GET && label == "/api/v1/notifications/live" {
                        let mut resp = self.notifications_live();
                        set_cors(
                            &mut resp,
                            req.headers().get(header::ORIGIN),
                            self.inner.opts.cors_origin.as_ref(),
                        );
                        return (Some(label), resp);
                    }
                    if method == Method::POST && label == "/api/v1/write" {
                        return (Some(label), self.remote_write(req).await);
                    }
                    if method == Method::POST && label == "/api/v1/read" {
                        return (Some(label), self.remote_read(req).await);
                    }
                    let origin = req.headers().get(header::ORIGIN).cloned();
                    // Only the query log reads the origin.
                    let query_origin = (matches!(label, "/api/v1/query" | "/api/v1/query_range")
                        && self.inner.opts.engine.logs_queries())
                    .then(|| http_query_origin(&req, &full_path));
                    let mut resp = match read_form(req).await {
                        // The search API answers NDJSON, not the JSON envelope.
                        Ok(form) if rest.starts_with("/search/") && method != Method::OPTIONS => {
                            match api::search::serve(&self.inner, &rest, form).await {
                                Ok(body) => api::search::ndjson_response(body),
                                Err(err) => api_response(Err(err)),
                            }
                        }
                        Ok(form) => api_response(
                            api::serve(&self.inner, &method, &rest, form, query_origin).await,
                        ),
                        Err(err) => api_response(Err(err)),
                    };
                    set_cors(
                        &mut resp,
                        origin.as_ref(),
                        self.inner.opts.cors_origin.as_ref(),
                    );
                    (Some(label), resp)
                }
            },
            Page::Reload | Page::Quit | Page::NotFound => (None, not_found()),
        }
    }

    /// `/api/v1/notifications/live`: subscribes the client to the notifications and
    /// answers with Prometheus's server-sent-events headers; the server streams the
    /// subscription (see `notifications::into_served`). 204 when `--web.max-notifications-
    /// subscribers` are subscribed already.
    fn notifications_live(&self) -> Response<Body> {
        let mut resp = Response::new(Full::new(Bytes::new()));
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        match self.inner.opts.status.notifications_store().subscribe() {
            Some(sub) => {
                resp.extensions_mut()
                    .insert(crate::notifications::LiveStream::new(sub));
            }
            None => *resp.status_mut() = StatusCode::NO_CONTENT,
        }
        resp
    }

    /// `/api/v1/write`: negotiates the message by `Content-Type` (415 for an unknown or not
    /// accepted one, or a `Content-Encoding` other than snappy), decodes a snappy-compressed
    /// remote-write 1.0 or 2.0 request and appends it, answering as Prometheus: 204, 400 for
    /// bad data (what could be appended is committed), 503 while the storage is not ready,
    /// 500 otherwise. A 2.0 answer carries the `X-Prometheus-Remote-Write-*-Written` counts.
    async fn remote_write<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: hyper::body::Body + Send,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let Some(db) = self.inner.opts.remote_write_receiver.clone() else {
            return receiver_error(
                StatusCode::NOT_FOUND,
                "remote write receiver needs to be enabled with --web.enable-remote-write-receiver",
            );
        };
        let msg = match self.negotiate_remote_write(req.headers()) {
            Ok(msg) => msg,
            Err(err) => {
                tracing::error!(err = %err, "Error decoding remote write request");
                return receiver_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, &err);
            }
        };
        let body = match read_body(req.into_body()).await {
            Ok(body) => body,
            Err(msg) => return receiver_error(StatusCode::BAD_REQUEST, &msg),
        };
        let opts = self.inner.receiver.clone();
        if msg == storage::remote::WriteProtoMsg::V2 {
            return remote_write_v2(body, db, opts).await;
        }
        let outcome = tokio::task::spawn_blocking(move || {
            let res = storage::remote::append_write_body_with(&body, db.as_ref(), &opts);
            (
                storage::remote::write_response_status(&res),
                res.err().map(|e| storage::remote::receiver_text(&e)),
            )
        })
        .await;
        match outcome {
            Ok((code, None)) => {
                let mut resp = Response::new(Full::new(Bytes::new()));
                *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::NO_CONTENT);
                resp
            }
            Ok((code, Some(msg))) => {
                tracing::error!(err = %msg, "Error appending remote write");
                receiver_error(
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    &msg,
                )
            }
            Err(err) => receiver_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("remote write task failed: {err}"),
            ),
        }
    }

    /// The remote-write message a request's `Content-Type` names, when this receiver accepts
    /// it and its `Content-Encoding` (if any) is snappy; else the 415 error text.
    fn negotiate_remote_write(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<storage::remote::WriteProtoMsg, String> {
        let value = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        let msg = storage::remote::parse_content_type(value(header::CONTENT_TYPE))?;
        let accepted = &self.inner.opts.remote_write_messages;
        if !accepted.contains(&msg) {
            let names: Vec<&str> = accepted.iter().map(|m| m.name()).collect();
            return Err(format!(
                "{msg} protobuf message is not accepted by this server; accepted [{}]",
                names.join(" ")
            ));
        }
        let enc = value(header::CONTENT_ENCODING);
        if !enc.is_empty() && !enc.eq_ignore_ascii_case("snappy") {
            return Err(format!(
                "{enc} encoding (compression) is not accepted by this server; only snappy is acceptable"
            ));
        }
        Ok(msg)
    }

    /// `/api/v1/read`: answers a snappy-compressed remote-read request from the local storage
    /// in the negotiated response type (SAMPLES, or STREAMED_XOR_CHUNKS frames), adding the
    /// configured external labels, at most `concurrent_limit` at once.
    async fn remote_read<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: hyper::body::Body + Send,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let Ok(_permit) = self.inner.remote_read_gate.acquire().await else {
            return receiver_error(StatusCode::INTERNAL_SERVER_ERROR, "remote read gate closed");
        };
        let _in_flight = InFlight::new(&self.inner.remote_read_queries);
        let opts = &self.inner.opts;
        let db = opts
            .remote_read_queryable
            .clone()
            .unwrap_or_else(|| opts.queryable.clone());
        let limits = opts.remote_read_limits;
        let external_labels = opts.status.config().map_or_else(model::Labels::empty, |c| {
            model::Labels::from_pairs(
                c.global
                    .external_labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
        });
        let body = match read_body(req.into_body()).await {
            Ok(body) => body,
            Err(msg) => return receiver_error(StatusCode::BAD_REQUEST, &msg),
        };
        let outcome = tokio::task::spawn_blocking(move || {
            storage::remote::decode_read_request(&body).and_then(|req| {
                storage::remote::serve_read_with(&req, db.as_ref(), &external_labels, &limits)
            })
        })
        .await;
        match outcome {
            Ok(Ok(answer)) => {
                let content_type = answer.content_type();
                let encoding = answer.content_encoding();
                let mut resp = Response::new(Full::new(Bytes::from(answer.into_body())));
                let h = resp.headers_mut();
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                if let Some(encoding) = encoding {
                    h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
                }
                resp
            }
            Ok(Err(err @ storage::Error::InvalidRemoteRequest { .. })) => receiver_error(
                StatusCode::BAD_REQUEST,
                &storage::remote::receiver_text(&err),
            ),
            Ok(Err(err)) => receiver_error(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
            Err(err) => receiver_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("remote read task failed: {err}"),
            ),
        }
    }

    async fn reload(&self) -> Response<Body> {
        if !self.inner.opts.enable_lifecycle {
            return text(StatusCode::FORBIDDEN, "Lifecycle API is not enabled.");
        }
        let (tx, rx) = oneshot::channel();
        if self.inner.opts.reload.send(tx).await.is_err() {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "failed to reload config: the reload handler has stopped\n",
            );
        }
        match rx.await {
            Ok(Ok(())) => Response::new(Full::new(Bytes::new())),
            Ok(Err(err)) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("failed to reload config: {err}\n"),
            ),
            Err(_) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "failed to reload config: the reload handler has stopped\n",
            ),
        }
    }

    fn quit(&self) -> Response<Body> {
        if !self.inner.opts.enable_lifecycle {
            return text(StatusCode::FORBIDDEN, "Lifecycle API is not enabled.");
        }
        if self.inner.quitting.swap(true, Ordering::SeqCst) {
            return text(StatusCode::OK, "Termination already in progress.");
        }
        self.inner.opts.quit.cancel();
        text(StatusCode::OK, "Requesting termination... Goodbye!")
    }
}

/// Go's `testReady`: `None` when ready, else 503 with `X-Prometheus-Stopping`.
fn not_ready(ready: Readiness) -> Option<Response<Body>> {
    let stopping = match ready {
        Readiness::Ready => return None,
        Readiness::NotReady => "false",
        Readiness::Stopping => "true",
    };
    let mut resp = text(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    resp.headers_mut()
        .insert("X-Prometheus-Stopping", HeaderValue::from_static(stopping));
    Some(resp)
}

/// Prometheus 3's `httputil.SetCORS`: `Vary: Origin` on every answer; for requests with an
/// `Origin`, the CORS headers and the origin itself when it matches the allowed regex. The
/// default regex `.*` (`None` here) matches every origin, which Prometheus 3.5 echoes too
/// (2.42 answered `*`; upstream's code still tests for the match-all pattern, which the
/// regex Prometheus 3 compiles from the flag no longer equals).
fn set_cors(
    resp: &mut Response<Body>,
    origin: Option<&HeaderValue>,
    allowed: Option<&model::Matcher>,
) {
    resp.headers_mut()
        .append(header::VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = origin else {
        return;
    };
    let h = resp.headers_mut();
    h.insert(
        "Access-Control-Allow-Headers",
        HeaderValue::from_static("Accept, Authorization, Content-Type, Origin"),
    );
    h.insert(
        "Access-Control-Allow-Methods",
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        "Access-Control-Expose-Headers",
        HeaderValue::from_static("Date"),
    );
    match allowed {
        None => {
            h.insert("Access-Control-Allow-Origin", origin.clone());
        }
        Some(m) => {
            if origin.to_str().is_ok_and(|o| m.matches(o)) {
                h.insert("Access-Control-Allow-Origin", origin.clone());
            }
        }
    }
}

/// Appends a remote-write 2.0 body and answers with its written counts (set whatever the
/// outcome once the body decoded, as Prometheus does).
async fn remote_write_v2(
    body: Bytes,
    db: Arc<dyn storage::Appendable>,
    opts: storage::remote::ReceiverOptions,
) -> Response<Body> {
    let outcome = tokio::task::spawn_blocking(move || {
        storage::remote::append_write_v2_body_with(&body, db.as_ref(), &opts)
    })
    .await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(err) => {
            return receiver_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("remote write task failed: {err}"),
            );
        }
    };
    let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match &outcome.error {
        None => {
            let mut resp = Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = status;
            resp
        }
        Some(msg) => {
            if status.is_server_error() {
                tracing::error!(err = %msg, "Error while remote writing the v2 request");
            } else {
                tracing::error!(err = %msg, "Error decoding or appending v2 remote write request");
            }
            receiver_error(status, msg)
        }
    };
    if let Some(stats) = outcome.stats {
        for (name, value) in stats.headers() {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(name, v);
            }
        }
    }
    resp
}

/// The largest remote write or read body accepted (compressed).
const MAX_REMOTE_BODY_BYTES: usize = 32 << 20;

/// Reads a remote-storage request body, at most [`MAX_REMOTE_BODY_BYTES`].
pub(crate) async fn read_body<B>(body: B) -> Result<Bytes, String>
where
    B: hyper::body::Body + Send,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Limited::new(body, MAX_REMOTE_BODY_BYTES)
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .map_err(|e| format!("reading the request body: {e}\n"))
}

/// The peer address of the connection a request came on, set by [`serve`](crate::serve)
/// as a request extension (embedders calling [`Handler::handle`] may set it too). The
/// query log names its IP address as the query's `clientIP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAddr(pub std::net::SocketAddr);

/// Go's `httputil.ContextFromRequest`: the query's origin for the query log (client IP
/// without port, empty when unknown; method; the URL path as requested).
fn http_query_origin<B>(req: &Request<B>, path: &str) -> Arc<promql::QueryOrigin> {
    let ip = req
        .extensions()
        .get::<RemoteAddr>()
        .map(|a| a.0.ip().to_string())
        .unwrap_or_default();
    Arc::new(promql::QueryOrigin::http_request(
        &ip,
        req.method().as_str(),
        path,
    ))
}

/// The request's form values: a form-encoded body first, then the URL query.
async fn read_form<B>(req: Request<B>) -> Result<Form, ApiError>
where
    B: hyper::body::Body + Send,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let query = parts.uri.query().map(str::to_owned);
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    let has_body = matches!(parts.method, Method::POST | Method::PUT | Method::PATCH);
    if !(is_form && has_body) {
        return Ok(Form::parse(b"", query.as_deref()));
    }
    let bytes = Limited::new(body, MAX_FORM_BYTES)
        .collect()
        .await
        .map_err(|e| {
            let msg = if e.is::<http_body_util::LengthLimitError>() {
                "http: POST too large".to_owned()
            } else {
                e.to_string()
            };
            ApiError::bad_data(format!("error parsing form values: {msg}"))
        })?
        .to_bytes();
    Ok(Form::parse(&bytes, query.as_deref()))
}
