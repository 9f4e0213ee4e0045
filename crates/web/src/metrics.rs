//! The server's own metrics on `/metrics`, under Prometheus's names, in the text format.
//!
//! Only metrics whose values are real are exposed: build info, configuration reload
//! outcome (from [`Status`](crate::Status)), HTTP requests counted by this handler, and
//! process start time, memory and file descriptors (from `/proc`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use model::exposition::{escape_label_value, write_header};

use crate::BuildInfo;
use crate::status::Status;

/// Counts of answered HTTP requests by (handler, status code).
#[derive(Debug, Default)]
pub(crate) struct HttpMetrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
}

impl HttpMetrics {
    pub(crate) fn observe(&self, handler: &'static str, code: u16) {
        let mut map = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry((handler, code)).or_insert(0) += 1;
    }

    fn snapshot(&self) -> BTreeMap<(&'static str, u16), u64> {
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
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
    /// `prometheus_remote_read_handler_queries` (not in agent mode, which serves no reads).
    pub(crate) remote_read_queries: Option<i64>,
}

/// Renders every self-metric in the text exposition format (0.0.4), families sorted by
/// name as the Go client does, with the counters of the push receivers that are on.
pub(crate) fn render(
    build: &BuildInfo,
    status: &Status,
    http: &HttpMetrics,
    receivers: ReceiverCounters,
) -> String {
    let mut out = String::new();

    write_header(
        &mut out,
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
    );
    if let Some(n) = max_fds() {
        #[allow(clippy::cast_precision_loss)]
        let _ = writeln!(
            out,
            "process_max_fds {}",
            model::strconv::format_float_g(n as f64)
        );
    }
    write_header(
        &mut out,
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
    );
    if let Some(n) = open_fds() {
        #[allow(clippy::cast_precision_loss)]
        let _ = writeln!(
            out,
            "process_open_fds {}",
            model::strconv::format_float_g(n as f64)
        );
    }
    write_header(
        &mut out,
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
    );
    if let Some(rss) = resident_memory_bytes() {
        #[allow(clippy::cast_precision_loss)]
        let _ = writeln!(
            out,
            "process_resident_memory_bytes {}",
            model::strconv::format_float_g(rss as f64)
        );
    }
    write_header(
        &mut out,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    );
    #[allow(clippy::cast_precision_loss)]
    let _ = writeln!(
        out,
        "process_start_time_seconds {}",
        model::strconv::format_float_g(status.start_time_ms() as f64 / 1000.0)
    );

    write_header(
        &mut out,
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
    );
    if let Some(kb) = proc_status_kb("VmSize:") {
        #[allow(clippy::cast_precision_loss)]
        let _ = writeln!(
            out,
            "process_virtual_memory_bytes {}",
            model::strconv::format_float_g((kb * 1024) as f64)
        );
    }

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
        write_header(&mut out, name, "counter", help);
        #[allow(clippy::cast_precision_loss)]
        let _ = writeln!(out, "{name} {}", model::strconv::format_float_g(n as f64));
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

    write_header(
        &mut out,
        "prometheus_config_last_reload_success_timestamp_seconds",
        "gauge",
        "Timestamp of the last successful configuration reload.",
    );
    #[allow(clippy::cast_precision_loss)]
    let _ = writeln!(
        out,
        "prometheus_config_last_reload_success_timestamp_seconds {}",
        model::strconv::format_float_g((status.last_reload_success_ms() / 1000) as f64)
    );
    write_header(
        &mut out,
        "prometheus_config_last_reload_successful",
        "gauge",
        "Whether the last configuration reload attempt was successful.",
    );
    let _ = writeln!(
        out,
        "prometheus_config_last_reload_successful {}",
        u8::from(status.last_reload_successful())
    );

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
        #[allow(clippy::cast_precision_loss)]
        let _ = writeln!(
            out,
            "prometheus_http_requests_total{{code=\"{code}\",handler=\"{}\"}} {}",
            escape_label_value(handler),
            model::strconv::format_float_g(n as f64)
        );
    }
    if let Some(n) = receivers.remote_read_queries {
        write_header(
            &mut out,
            "prometheus_remote_read_handler_queries",
            "gauge",
            "The current number of remote read queries that are either in execution or queued on the handler.",
        );
        let _ = writeln!(out, "prometheus_remote_read_handler_queries {n}");
    }
    out
}
