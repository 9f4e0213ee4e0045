//! The server's own metrics on `/metrics`, under Prometheus's names, in the text format.
//!
//! Only metrics whose values are real are exposed: build info, readiness, configuration
//! reload outcome and notification subscribers (from [`Status`](crate::Status)), HTTP requests, their latencies and
//! response sizes counted by this handler, `/metrics`'s own scrapes, federation errors, the
//! listener's connections, the PromQL engine's and the template expander's counters, and
//! the process's CPU time, memory, file descriptors and network bytes (from `/proc`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use model::exposition::{escape_label_value, write_header};
use model::metrics::{Counter, Gauge, Histogram, exponential_buckets, write_sample, write_single};

use crate::handler::Inner;
use crate::status::Readiness;

/// The upper bounds of `prometheus_http_request_duration_seconds` (Prometheus's web.go).
const DURATION_BUCKETS: [f64; 9] = [0.1, 0.2, 0.4, 1.0, 3.0, 8.0, 20.0, 60.0, 120.0];

/// One handler's latency and response size histograms.
#[derive(Debug)]
struct HandlerHistograms {
    duration: Histogram,
    size: Histogram,
}

impl HandlerHistograms {
    fn new() -> HandlerHistograms {
        HandlerHistograms {
            duration: Histogram::new(DURATION_BUCKETS.to_vec()),
            // Go's `prometheus.ExponentialBuckets(100, 10, 8)`.
            size: Histogram::new(exponential_buckets(100.0, 10.0, 8)),
        }
    }
}

#[derive(Debug, Default)]
struct HttpData {
    /// Answered requests by (handler, status code).
    requests: BTreeMap<(&'static str, u16), u64>,
    /// Latencies and sizes by handler, from a handler's first request on (as Go's curried
    /// histogram vectors create a handler's series when it is first observed).
    handlers: BTreeMap<&'static str, HandlerHistograms>,
}

/// Answered HTTP requests: counts by (handler, status code), latency and response size
/// histograms by handler.
#[derive(Debug, Default)]
pub(crate) struct HttpMetrics {
    data: Mutex<HttpData>,
}

impl HttpMetrics {
    fn data(&self) -> std::sync::MutexGuard<'_, HttpData> {
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one answered request that took `seconds` and whose body was `size` bytes.
    pub(crate) fn observe(&self, handler: &'static str, code: u16, seconds: f64, size: u64) {
        let mut data = self.data();
        *data.requests.entry((handler, code)).or_insert(0) += 1;
        let h = data
            .handlers
            .entry(handler)
            .or_insert_with(HandlerHistograms::new);
        h.duration.observe(seconds);
        #[allow(clippy::cast_precision_loss)]
        h.size.observe(size as f64);
    }

    fn snapshot(&self) -> BTreeMap<(&'static str, u16), u64> {
        self.data().requests.clone()
    }

    /// Appends the histogram lines of every handler seen so far (handlers sorted).
    fn write_histograms(
        &self,
        out: &mut String,
        name: &str,
        pick: fn(&HandlerHistograms) -> &Histogram,
    ) {
        let data = self.data();
        for (handler, h) in &data.handlers {
            pick(h).write(out, name, &[("handler", handler)]);
        }
    }
}

/// The web handler's other counters: `/metrics`'s own scrapes (Go's promhttp handler) and
/// `/federate`'s errors and warnings.
#[derive(Debug, Default)]
pub(crate) struct WebMetrics {
    /// `promhttp_metric_handler_requests_in_flight`.
    pub(crate) scrapes_in_flight: Gauge,
    /// `promhttp_metric_handler_requests_total{code="200"}` (`/metrics` answers nothing
    /// else: the 500 and 503 series stay at zero, as Go shows them).
    pub(crate) scrapes_ok: Counter,
    /// `prometheus_web_federation_errors_total`.
    pub(crate) federation_errors: Counter,
    /// `prometheus_web_federation_warnings_total`.
    pub(crate) federation_warnings: Counter,
}

/// `net_conntrack_listener_conn_{accepted,closed}_total{listener_name="http"}`: the
/// connections the web listener accepted and those that have been closed since.
#[derive(Debug, Default)]
pub(crate) struct ListenerMetrics {
    accepted: Counter,
    closed: Counter,
}

/// An accepted connection, counted as closed when dropped.
pub(crate) struct Connection(Arc<ListenerMetrics>);

impl ListenerMetrics {
    /// Counts an accepted connection; the guard counts its close.
    pub(crate) fn accepted(self: &Arc<Self>) -> Connection {
        self.accepted.inc();
        Connection(self.clone())
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.closed.inc();
    }
}

/// What Go's procfs reads as the kernel's clock ticks per second (`USER_HZ`, 100 on
/// Linux), the unit of the CPU times in `/proc/self/stat`.
const USER_HZ: f64 = 100.0;

/// User plus system CPU time of this process in seconds: fields 14 and 15 (`utime`,
/// `stime`) of `/proc/self/stat`, in clock ticks.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    cpu_seconds_of(&stat)
}

fn cpu_seconds_of(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // `rest` starts at field 3 (state); utime is field 14.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    #[allow(clippy::cast_precision_loss)]
    Some((utime + stime) as f64 / USER_HZ)
}

/// The soft limit on the address space (`RLIMIT_AS`) from `/proc/self/limits`; unlimited
/// is Go procfs's `math.MaxUint64`.
fn max_virtual_memory() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    limit_of(&limits, "Max address space")
}

/// A soft limit of a `/proc/self/limits` text (`unlimited`: `u64::MAX`, as Go's procfs).
fn limit_of(limits: &str, name: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with(name))?;
    match line[name.len()..].split_whitespace().next()? {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    }
}

/// The bytes received and sent over IP in this process's network namespace: `InOctets`
/// and `OutOctets` of the `IpExt` lines of `/proc/self/net/netstat`, which is what Go's
/// process collector reports as the process's network bytes.
fn network_bytes() -> Option<(u64, u64)> {
    let netstat = std::fs::read_to_string("/proc/self/net/netstat").ok()?;
    network_bytes_of(&netstat)
}

fn network_bytes_of(netstat: &str) -> Option<(u64, u64)> {
    let mut lines = netstat.lines().filter(|l| l.starts_with("IpExt:"));
    let names = lines.next()?.split_whitespace().skip(1);
    let values = lines.next()?.split_whitespace().skip(1);
    let (mut rx, mut tx) = (None, None);
    for (name, value) in names.zip(values) {
        match name {
            "InOctets" => rx = value.parse().ok(),
            "OutOctets" => tx = value.parse().ok(),
            _ => {}
        }
    }
    Some((rx.unwrap_or(0), tx.unwrap_or(0)))
}

/// The resident set size of this process in bytes: `VmRSS` of `/proc/self/status` (in
/// kB). This is the same number as `/proc/self/statm`'s resident pages times the page
/// size, without having to know the page size.
fn resident_memory_bytes() -> Option<u64> {
    proc_status_kb("VmRSS:").map(|kb| kb * 1024)
}

/// A `kB` field of `/proc/self/status`.
fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The number of open file descriptors (entries of `/proc/self/fd`).
fn open_fds() -> Option<u64> {
    let n = std::fs::read_dir("/proc/self/fd").ok()?.count();
    u64::try_from(n).ok()
}

/// The soft limit on open files, from `/proc/self/limits` (`None` when unlimited).
fn max_fds() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Maps Rust's architecture names to Go's `GOARCH`, which the `goarch` label carries.
fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// The push receivers' counters, each pair present when its receiver is on.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReceiverCounters {
    /// `prometheus_api_remote_write_invalid_labels_samples_total` and
    /// `prometheus_api_remote_write_without_metadata_appended_samples_total`.
    pub(crate) remote_write: Option<[u64; 2]>,
    /// `prometheus_api_otlp_appended_samples_without_metadata_total` and
    /// `prometheus_api_otlp_out_of_order_exemplars_total`.
    pub(crate) otlp: Option<[u64; 2]>,
    /// `prometheus_remote_read_handler_queries`.
    pub(crate) remote_read_queries: Option<i64>,
}

/// Renders every self-metric in the text exposition format (0.0.4), families sorted by
/// name as the Go client does: the process's, the listener's, build info, readiness,
/// reloads, HTTP, the engine's (not in agent mode, which has no engine), the push
/// receivers' that are on, the template expander's, federation's and `/metrics`'s own.
#[allow(clippy::cast_precision_loss, clippy::too_many_lines)]
pub(crate) fn render(inner: &Inner) -> String {
    let build = &inner.opts.build_info;
    let status = &inner.opts.status;
    let http = &inner.http;
    let receivers = inner.receiver_counters();
    let mut out = String::new();

    let listener = &inner.listener;
    write_header(
        &mut out,
        "net_conntrack_listener_conn_accepted_total",
        "counter",
        "Total number of connections opened to the listener of a given name.",
    );
    write_sample(
        &mut out,
        "net_conntrack_listener_conn_accepted_total",
        &[("listener_name", "http")],
        listener.accepted.get(),
    );
    write_header(
        &mut out,
        "net_conntrack_listener_conn_closed_total",
        "counter",
        "Total number of connections closed that were made to the listener of a given name.",
    );
    write_sample(
        &mut out,
        "net_conntrack_listener_conn_closed_total",
        &[("listener_name", "http")],
        listener.closed.get(),
    );

    if let Some(secs) = cpu_seconds() {
        write_single(
            &mut out,
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            secs,
        );
    }
    if let Some(n) = max_fds() {
        write_single(
            &mut out,
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            n as f64,
        );
    }
    if let Some((rx, tx)) = network_bytes() {
        write_single(
            &mut out,
            "process_network_receive_bytes_total",
            "counter",
            "Number of bytes received by the process over the network.",
            rx as f64,
        );
        write_single(
            &mut out,
            "process_network_transmit_bytes_total",
            "counter",
            "Number of bytes sent by the process over the network.",
            tx as f64,
        );
    }
    if let Some(n) = open_fds() {
        write_single(
            &mut out,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            n as f64,
        );
    }
    if let Some(rss) = resident_memory_bytes() {
        write_single(
            &mut out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            rss as f64,
        );
    }
    write_single(
        &mut out,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        status.start_time_ms() as f64 / 1000.0,
    );
    if let Some(kb) = proc_status_kb("VmSize:") {
        write_single(
            &mut out,
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            (kb * 1024) as f64,
        );
    }
    if let Some(max) = max_virtual_memory() {
        write_single(
            &mut out,
            "process_virtual_memory_max_bytes",
            "gauge",
            "Maximum amount of virtual memory available in bytes.",
            max as f64,
        );
    }

    let notifications = status.notifications_store();
    write_single(
        &mut out,
        "prometheus_api_notification_active_subscribers",
        "gauge",
        "The current number of active notification subscribers.",
        notifications.active_subscribers() as f64,
    );
    write_single(
        &mut out,
        "prometheus_api_notification_updates_dropped_total",
        "counter",
        "Total number of notification updates dropped.",
        notifications.updates_dropped() as f64,
    );
    write_single(
        &mut out,
        "prometheus_api_notification_updates_sent_total",
        "counter",
        "Total number of notification updates sent.",
        notifications.updates_sent() as f64,
    );
    let families = [
        (
            "prometheus_api_otlp_appended_samples_without_metadata_total",
            "The total number of samples ingested from OTLP without corresponding metadata.",
            receivers.otlp.map(|c| c[0]),
        ),
        (
            "prometheus_api_otlp_out_of_order_exemplars_total",
            "The total number of received OTLP exemplars which were rejected because they were out of order.",
            receivers.otlp.map(|c| c[1]),
        ),
        (
            "prometheus_api_remote_write_invalid_labels_samples_total",
            "The total number of received remote write samples and histogram samples which were rejected due to invalid labels.",
            receivers.remote_write.map(|c| c[0]),
        ),
        (
            "prometheus_api_remote_write_without_metadata_appended_samples_total",
            "The total number of received remote write samples (and histogram samples) which were ingested without corresponding metadata.",
            receivers.remote_write.map(|c| c[1]),
        ),
    ];
    for (name, help, n) in families {
        let Some(n) = n else { continue };
        write_single(&mut out, name, "counter", help, n as f64);
    }
    write_header(
        &mut out,
        "prometheus_build_info",
        "gauge",
        "A metric with a constant '1' value labeled by version, revision, branch, goversion from which prometheus was built, and the goos and goarch for the build.",
    );
    let _ = writeln!(
        out,
        "prometheus_build_info{{branch=\"{}\",goarch=\"{}\",goos=\"{}\",goversion=\"{}\",revision=\"{}\",tags=\"\",version=\"{}\"}} 1",
        escape_label_value(&build.branch),
        goarch(),
        std::env::consts::OS,
        escape_label_value(&build.go_version),
        escape_label_value(&build.revision),
        escape_label_value(&build.version),
    );

    write_single(
        &mut out,
        "prometheus_config_last_reload_success_timestamp_seconds",
        "gauge",
        "Timestamp of the last successful configuration reload.",
        (status.last_reload_success_ms() / 1000) as f64,
    );
    write_single(
        &mut out,
        "prometheus_config_last_reload_successful",
        "gauge",
        "Whether the last configuration reload attempt was successful.",
        f64::from(u8::from(status.last_reload_successful())),
    );

    if !inner.opts.agent {
        inner.opts.engine.write_metrics(&mut out);
    }

    write_header(
        &mut out,
        "prometheus_http_request_duration_seconds",
        "histogram",
        "Histogram of latencies for HTTP requests.",
    );
    http.write_histograms(&mut out, "prometheus_http_request_duration_seconds", |h| {
        &h.duration
    });
    write_header(
        &mut out,
        "prometheus_http_requests_total",
        "counter",
        "Counter of HTTP requests.",
    );
    // Sorted by label values (code, then handler), as the Go client sorts series.
    let mut series: Vec<((&str, u16), u64)> = http.snapshot().into_iter().collect();
    series.sort_by(|((h1, c1), _), ((h2, c2), _)| (c1, h1).cmp(&(c2, h2)));
    for ((handler, code), n) in series {
        let _ = writeln!(
            out,
            "prometheus_http_requests_total{{code=\"{code}\",handler=\"{}\"}} {}",
            escape_label_value(handler),
            model::strconv::format_float_g(n as f64)
        );
    }
    write_header(
        &mut out,
        "prometheus_http_response_size_bytes",
        "histogram",
        "Histogram of response size for HTTP requests.",
    );
    http.write_histograms(&mut out, "prometheus_http_response_size_bytes", |h| &h.size);
    write_single(
        &mut out,
        "prometheus_ready",
        "gauge",
        "Whether Prometheus startup was fully completed and the server is ready for normal operation.",
        if status.readiness() == Readiness::Ready {
            1.0
        } else {
            0.0
        },
    );
    if let Some(n) = receivers.remote_read_queries {
        write_single(
            &mut out,
            "prometheus_remote_read_handler_queries",
            "gauge",
            "The current number of remote read queries that are either in execution or queued on the handler.",
            n as f64,
        );
    }
    template::write_metrics(&mut out);

    let web = &inner.web_metrics;
    write_single(
        &mut out,
        "prometheus_web_federation_errors_total",
        "counter",
        "Total number of errors that occurred while sending federation responses.",
        web.federation_errors.get(),
    );
    write_single(
        &mut out,
        "prometheus_web_federation_warnings_total",
        "counter",
        "Total number of warnings that occurred while sending federation responses.",
        web.federation_warnings.get(),
    );
    write_single(
        &mut out,
        "promhttp_metric_handler_requests_in_flight",
        "gauge",
        "Current number of scrapes being served.",
        web.scrapes_in_flight.get(),
    );
    write_header(
        &mut out,
        "promhttp_metric_handler_requests_total",
        "counter",
        "Total number of scrapes by HTTP status code.",
    );
    for (code, n) in [("200", web.scrapes_ok.get()), ("500", 0.0), ("503", 0.0)] {
        write_sample(
            &mut out,
            "promhttp_metric_handler_requests_total",
            &[("code", code)],
            n,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::SystemTime;

    use bytes::Bytes;
    use http_body_util::{BodyExt as _, Empty};
    use storage::{Appendable as _, MemStorage};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::{Handler, Options, Status};

    fn options(queryable: Arc<dyn storage::Queryable>, ready: bool) -> Options {
        let status = Arc::new(Status::new(SystemTime::now()));
        if ready {
            status.set_readiness(Readiness::Ready);
        }
        let (reload, _) = tokio::sync::mpsc::channel(1);
        Options {
            queryable,
            engine: Arc::new(promql::Engine::new(promql::EngineOpts {
                max_concurrency: Some(20),
                ..promql::EngineOpts::default()
            })),
            status,
            tsdb_stats: None,
            tsdb_admin: None,
            scrape: None,
            global_url: Default::default(),
            enable_lifecycle: false,
            enable_admin_api: false,
            cors_origin: None,
            route_prefix: "/".into(),
            flags: Default::default(),
            build_info: Default::default(),
            storage_retention: String::new(),
            quit: Default::default(),
            reload,
            remote_write_receiver: None,
            remote_write_messages: storage::remote::WriteProtoMsg::ALL.to_vec(),
            otlp_write_receiver: None,
            receiver_features: Default::default(),
            remote_read_queryable: None,
            remote_read_limits: storage::remote::ReadLimits::default(),
            metrics_hook: None,
            agent: false,
            rules: None,
            alertmanagers: None,
            exemplar_queryable: None,
        }
    }

    fn store() -> Arc<MemStorage> {
        let db = Arc::new(MemStorage::new());
        let mut app = db.appender();
        let up = model::Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        app.append(0, &up, 1_000, 1.0).expect("append");
        app.commit().expect("commit");
        db
    }

    async fn get(handler: &Handler, path: &str) -> (u16, String) {
        let req = http::Request::get(path)
            .body(Empty::<Bytes>::new())
            .expect("request");
        let resp = handler.handle(req).await;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// The sample line of `series` (name and labels) in `out`, without the series.
    fn value<'a>(out: &'a str, series: &str) -> &'a str {
        out.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{out}"))
    }

    #[test]
    fn proc_files_are_read_as_go_procfs_reads_them() {
        // A command name with spaces and a parenthesis; utime 250, stime 120 ticks.
        let stat = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 120 0 0 20 0 4 0 300 1000 200";
        assert_eq!(cpu_seconds_of(stat), Some(3.7));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 4096                 files\nMax address space         unlimited            unlimited            bytes\n";
        assert_eq!(limit_of(limits, "Max address space"), Some(u64::MAX));
        assert_eq!(limit_of(limits, "Max open files"), Some(1024));
        let netstat =
            "TcpExt: A B\nTcpExt: 1 2\nIpExt: InNoRoutes InOctets OutOctets\nIpExt: 0 123 456\n";
        assert_eq!(network_bytes_of(netstat), Some((123, 456)));
        // This process's own files parse.
        assert!(cpu_seconds().is_some());
        assert!(max_virtual_memory().is_some());
        assert!(network_bytes().is_some());
        let mut out = String::new();
        let max = u64::MAX as f64;
        write_sample(&mut out, "m", &[], max);
        assert_eq!(out, "m 1.8446744073709552e+19\n");
    }

    #[tokio::test]
    async fn requests_scrapes_readiness_and_the_engine_are_counted() {
        let handler = Handler::new(options(store(), false));
        let (_, m) = get(&handler, "/metrics").await;
        assert_eq!(value(&m, "prometheus_ready"), "0");
        // The scrape being served is in flight and not counted yet, as with promhttp.
        assert_eq!(value(&m, "promhttp_metric_handler_requests_in_flight"), "1");
        assert_eq!(
            value(&m, "promhttp_metric_handler_requests_total{code=\"200\"}"),
            "0"
        );
        assert_eq!(
            value(&m, "promhttp_metric_handler_requests_total{code=\"503\"}"),
            "0"
        );
        assert!(m.contains("# TYPE prometheus_http_request_duration_seconds histogram\n"));
        assert!(!m.contains("prometheus_http_request_duration_seconds_bucket"));

        handler.status().set_readiness(Readiness::Ready);
        let (status, answer) = get(&handler, "/api/v1/query?query=up&time=2").await;
        assert_eq!(status, 200);
        let (_, m) = get(&handler, "/metrics").await;
        assert_eq!(value(&m, "prometheus_ready"), "1");
        assert_eq!(
            value(&m, "promhttp_metric_handler_requests_total{code=\"200\"}"),
            "1"
        );
        let q = "handler=\"/api/v1/query\"";
        assert_eq!(
            value(
                &m,
                &format!("prometheus_http_request_duration_seconds_count{{{q}}}")
            ),
            "1"
        );
        assert_eq!(
            value(
                &m,
                &format!("prometheus_http_request_duration_seconds_bucket{{{q},le=\"+Inf\"}}")
            ),
            "1"
        );
        assert_eq!(
            value(
                &m,
                &format!("prometheus_http_response_size_bytes_sum{{{q}}}")
            ),
            answer.len().to_string()
        );
        assert_eq!(
            value(
                &m,
                &format!("prometheus_http_response_size_bytes_bucket{{{q},le=\"100\"}}")
            ),
            "0"
        );
        assert_eq!(
            value(
                &m,
                &format!("prometheus_http_response_size_bytes_bucket{{{q},le=\"1000\"}}")
            ),
            "1"
        );
        // The first scrape is observed too, under its handler.
        assert_eq!(
            value(
                &m,
                "prometheus_http_response_size_bytes_count{handler=\"/metrics\"}"
            ),
            "1"
        );
        // The engine ran one query of one sample, with a concurrency limit of 20.
        assert_eq!(value(&m, "prometheus_engine_query_samples_total"), "1");
        assert_eq!(value(&m, "prometheus_engine_queries_concurrent_max"), "20");
        assert_eq!(
            value(
                &m,
                "prometheus_engine_query_duration_seconds_count{slice=\"inner_eval\"}"
            ),
            "1"
        );
        assert!(m.contains("# TYPE prometheus_template_text_expansions_total counter\n"));
        assert!(
            value(&m, "process_cpu_seconds_total")
                .parse::<f64>()
                .is_ok()
        );
        assert!(m.contains("# TYPE process_virtual_memory_max_bytes gauge\n"));
        assert!(m.contains("# TYPE process_network_receive_bytes_total counter\n"));
    }

    #[tokio::test]
    async fn the_agent_has_no_engine_families() {
        let handler = Handler::new(Options {
            agent: true,
            ..options(store(), true)
        });
        let (_, m) = get(&handler, "/metrics").await;
        assert!(!m.contains("prometheus_engine_"), "{m}");
        assert_eq!(value(&m, "prometheus_ready"), "1");
        // As Prometheus 3.5's agent, which registers the remote read handler too.
        assert_eq!(value(&m, "prometheus_remote_read_handler_queries"), "0");
        let (_, body) = get(&handler, "/-/healthy").await;
        assert_eq!(body, "Prometheus Agent is Healthy.\n");
        let (_, body) = get(&handler, "/-/ready").await;
        assert_eq!(body, "Prometheus Agent is Ready.\n");
    }

    /// A storage whose selections find nothing but warn, or which cannot open a querier.
    struct Flaky {
        fail: bool,
    }

    impl storage::Queryable for Flaky {
        fn querier(&self, _: i64, _: i64) -> storage::Result<Box<dyn storage::Querier>> {
            if self.fail {
                return Err(storage::Error::NotReady);
            }
            Ok(Box::new(Warning))
        }
    }

    struct Warning;

    impl storage::Querier for Warning {
        fn select(
            &self,
            _: bool,
            _: Option<&storage::SelectHints>,
            _: &[model::Matcher],
        ) -> Box<dyn storage::SeriesSet> {
            Box::new(storage::ListSeriesSet::new(Vec::new()).with_warnings(vec!["partial".into()]))
        }
        fn label_values(
            &self,
            _: &str,
            _: Option<&storage::LabelHints>,
            _: &[model::Matcher],
        ) -> storage::Result<Vec<String>> {
            Ok(Vec::new())
        }
        fn label_names(
            &self,
            _: Option<&storage::LabelHints>,
            _: &[model::Matcher],
        ) -> storage::Result<Vec<String>> {
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn federation_counts_storage_errors_and_warnings() {
        let warns = Handler::new(options(Arc::new(Flaky { fail: false }), true));
        let (status, _) = get(&warns, "/federate?match[]=up&match[]=down").await;
        assert_eq!(status, 200);
        // A bad selector is the request's fault, not a federation error.
        let (status, _) = get(&warns, "/federate?match[]=up%7B").await;
        assert_eq!(status, 400);
        let (_, m) = get(&warns, "/metrics").await;
        assert_eq!(value(&m, "prometheus_web_federation_warnings_total"), "2");
        assert_eq!(value(&m, "prometheus_web_federation_errors_total"), "0");

        let fails = Handler::new(options(Arc::new(Flaky { fail: true }), true));
        let (status, _) = get(&fails, "/federate?match[]=up").await;
        assert_eq!(status, 503);
        let (_, m) = get(&fails, "/metrics").await;
        assert_eq!(value(&m, "prometheus_web_federation_errors_total"), "1");
    }

    #[tokio::test]
    async fn the_listener_counts_accepted_and_closed_connections() {
        let handler = Handler::new(options(store(), true));
        let conns = handler.listener_metrics();
        let listener = crate::listen("127.0.0.1:0").await.expect("listen");
        let addr = listener.local_addr().expect("address");
        let shutdown = tokio_util::sync::CancellationToken::new();
        let server = tokio::spawn(crate::serve(
            listener,
            handler,
            crate::ServeOptions::default(),
            shutdown.clone(),
        ));
        let fetch = || async move {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .expect("write");
            let mut out = Vec::new();
            tcp.read_to_end(&mut out).await.expect("read");
            String::from_utf8_lossy(&out).into_owned()
        };
        let first = fetch().await;
        assert!(
            first
                .contains("net_conntrack_listener_conn_accepted_total{listener_name=\"http\"} 1\n"),
            "{first}"
        );
        assert!(
            first.contains("net_conntrack_listener_conn_closed_total{listener_name=\"http\"} 0\n")
        );
        fetch().await;
        // The server closes its side once the answer is out: wait (bounded) for the count.
        for _ in 0..500 {
            if conns.closed.get() >= 2.0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!((conns.accepted.get(), conns.closed.get()), (2.0, 2.0));
        shutdown.cancel();
        server.await.expect("join").expect("serve");
    }
}
