//! `cargo xtask wirediff`: our wire formats (remote write 1.0/2.0 sent, `/federate`, `/api/v1/read`, the `/api/v1/write` receiver) against Prometheus 3.5, decoded and compared.
//!
//! Steps (everything under `target/wirediff/`):
//! 1. builds our server unless `--no-build` and finds Prometheus 3 ([`servers::prometheus3`]);
//! 2. serves two expositions from a thread: `/om` (OpenMetrics: counters, gauges with a unit,
//!    a classic histogram and a summary, info, stateset, unknown, exemplars) and `/pb`
//!    (delimited protobuf: integer and float native histograms, a gauge native histogram, a
//!    classic histogram, a counter, exemplars). Most samples carry one fixed timestamp `T0`
//!    (appended once: later scrapes are duplicates), so that what each server sends and
//!    answers is deterministic; the others are compared by value with their timestamps
//!    masked (`*`);
//! 3. starts one fake remote-write receiver per server and both servers with the same
//!    configuration ([`config_text`]: remote write 1.0 and 2.0 endpoints with exemplars,
//!    native histograms, metadata, write relabelling, custom headers; endpoints that answer
//!    500, 429 with `Retry-After`, 400, and 2.0 endpoints that confirm nothing written or
//!    send no counts at all) and `--enable-feature=native-histograms,exemplar-storage,
//!    metadata-wal-records`;
//! 4. after ~12s compares, endpoint by endpoint, the decoded series, samples, histograms,
//!    exemplars and metadata received (as sets: batching and order are Go's scheduling, not
//!    a contract), the request headers, the shape of the messages (one sample per
//!    `TimeSeries` entry, as Go sends), remote write 2.0's symbol-table conventions, the
//!    retry behaviour and the senders' failure counters;
//! 5. a list of well-formed and malformed `/api/v1/write` requests (status, error body, the
//!    written-count headers of 2.0), then `/federate` in text and protobuf (Accept
//!    negotiation, `match[]`, external labels, `instance=""` on the pushed series, native
//!    histograms) and `/api/v1/read` (SAMPLES and STREAMED_XOR_CHUNKS, chunk bytes compared
//!    as they are).
//!
//! Each difference is printed; [`KNOWN`] lists the ones explained, each with its reason.
//! Fails on any other difference.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use prompb::Message;

use crate::scrapediff::{diff_maps, is_known};
use crate::servers::{self, Server, exchange, fresh_dir, read_head_and_body};

/// Differences explained: a pattern (`*` matches any text; a difference starting with it
/// matches) and the reason.
pub(crate) const KNOWN: &[(&str, &str)] = &[
    (
        "rw-headers * user-agent: ours Prometheus-rs/",
        "our User-Agent names this implementation (Prometheus-rs/VERSION), not Go's \
         Prometheus/VERSION; receivers only log it",
    ),
    (
        "rw-shape * entry samples=",
        "batching, not data: we put all samples (and their exemplars) of a series in one send \
         into one TimeSeries entry, Go one entry per sample or exemplar; the protocol allows \
         both, receivers read both, and the decoded series, samples, histograms and exemplars \
         compare equal (rw-data)",
    ),
    (
        "rw-shape * symbols in Go's interning order",
        "the 2.0 symbol table is in each sender's interning order; the spec asks only for \
         \"\" first and valid references, which both keep (rw-problems is empty)",
    ),
    (
        "write * v2 missing symbol: ours 400 * | prometheus no answer",
        "Prometheus 3.5 panics on a label reference past the symbol table (index out of \
         range in desymbolizeLabels) and drops the connection; we answer 400",
    ),
    (
        "write * v2 odd label refs: ours 400 * | prometheus no answer",
        "Prometheus 3.5 panics on an odd number of label references; we answer 400",
    ),
    (
        "write * v2 missing help symbol: ours 400 * | prometheus no answer",
        "Prometheus 3.5 panics on a metadata help reference past the symbol table; we \
         answer 400",
    ),
    (
        "write * gzip encoding: ours 415 * | prometheus 415 * only snappy is acceptable\\nsnappy: corrupt input",
        "Prometheus 3.5 goes on after its 415 (a missing return after http.Error) and \
         appends the snappy error of the body to the answer",
    ),
    (
        "write * v1 duplicate sample different value: ours 400 * \"duplicate sample for timestamp\\n\" | prometheus 400 * \"duplicate sample for timestamp ",
        "Go's head error carries the timestamp and both values; our storage error \
         (storage::Error::DuplicateSampleForTimestamp, shared by every storage) has none",
    ),
    (
        "write * v1 snappy but not protobuf: ours 400 * \"protobuf decoding: unsupported wire type 7\\n\" | prometheus 400 * \"proto: illegal wireType 7\\n\"",
        "protobuf decode errors are each decoder's own words (gogo-protobuf's there, our \
         in-place reader's here)",
    ),
];

/// The remote-write endpoints of each server: name, protobuf message, extra YAML (indented
/// by four spaces, under the `remote_write` entry).
const ENDPOINTS: &[(&str, &str, &str)] = &[
    (
        "rw1",
        "prometheus.WriteRequest",
        "send_exemplars: true\n    send_native_histograms: true\n    headers:\n      X-Wirediff: one\n    metadata_config:\n      send: true\n      send_interval: 1s",
    ),
    (
        "rw1relabel",
        "prometheus.WriteRequest",
        "write_relabel_configs:\n      - source_labels: [job]\n        regex: om\n        action: keep\n      - regex: path\n        action: labeldrop\n      - source_labels: [__name__]\n        regex: wd_temperature_celsius\n        target_label: renamed\n        replacement: yes\n    metadata_config:\n      send: false",
    ),
    (
        "rw2",
        "io.prometheus.write.v2.Request",
        "send_exemplars: true\n    send_native_histograms: true\n    headers:\n      X-Wirediff: two",
    ),
    (
        "retry",
        "prometheus.WriteRequest",
        "queue_config:\n      retry_on_http_429: true\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 2s\n    metadata_config:\n      send: false",
    ),
    (
        "noretry429",
        "prometheus.WriteRequest",
        "queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 2s\n    metadata_config:\n      send: false",
    ),
    (
        "bad400",
        "prometheus.WriteRequest",
        "queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 2s\n    metadata_config:\n      send: false",
    ),
    (
        "rw2partial",
        "io.prometheus.write.v2.Request",
        "send_native_histograms: true",
    ),
    (
        "rw2nocounts",
        "io.prometheus.write.v2.Request",
        "send_native_histograms: true",
    ),
];

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROTOBUF: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

// ---------------------------------------------------------------------------------------
// A tiny HTTP/1.1 server and client.

/// A request as a test server received it.
#[derive(Clone, Debug)]
struct HttpReq {
    method: String,
    target: String,
    /// Lower-case names, in arrival order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    at: Instant,
}

impl HttpReq {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An answer: status, headers, body.
type HttpResp = (u16, Vec<(String, String)>, Vec<u8>);

type Handler = Arc<dyn Fn(&HttpReq) -> HttpResp + Send + Sync>;

/// Serves `handler` on a fresh loopback port from threads (keep-alive honoured); returns
/// the address.
fn serve_http(handler: Handler) -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a loopback port")?;
    let addr = listener.local_addr()?.to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let h = handler.clone();
            std::thread::spawn(move || {
                let _ = serve_conn(conn, &h);
            });
        }
    });
    Ok(addr)
}

fn serve_conn(conn: TcpStream, handler: &Handler) -> Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut r = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    loop {
        let Some(req) = read_request(&mut r)? else {
            return Ok(());
        };
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let (status, headers, body) = handler(&req);
        let mut head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\n",
            reason(status),
            body.len()
        );
        for (k, v) in &headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        w.write_all(head.as_bytes())?;
        w.write_all(&body)?;
        w.flush()?;
        if close {
            return Ok(());
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

fn read_request<R: BufRead>(r: &mut R) -> Result<Option<HttpReq>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let (headers, body) = read_head_and_body(r)?;
    Ok(Some(HttpReq {
        method,
        target,
        headers,
        body,
        at: Instant::now(),
    }))
}

// ---------------------------------------------------------------------------------------
// The expositions.

/// The OpenMetrics exposition; `T0S` is replaced by the fixed timestamp in seconds.
const OM_PAYLOAD: &str = r#"# TYPE wd_requests counter
# HELP wd_requests Requests handled.
wd_requests_total{path="/a"} 10 T0S
wd_requests_total{path="/b"} 20 # {trace_id="t1"} 1.5 T0S
wd_requests_total{path="/c"} 30 # {trace_id="t2",span_id="s"} 2.5
# TYPE wd_temperature_celsius gauge
# UNIT wd_temperature_celsius celsius
# HELP wd_temperature_celsius Temperature "inside", with a \\ and a \n newline.
wd_temperature_celsius{room="x"} 21.5 T0S
wd_temperature_celsius{room="y"} -3.25
wd_temperature_celsius{room="z\"q"} NaN T0S
# TYPE wd_latency_seconds histogram
# UNIT wd_latency_seconds seconds
# HELP wd_latency_seconds Latency.
wd_latency_seconds_bucket{le="0.1"} 2 T0S # {trace_id="h1"} 0.05 T0S
wd_latency_seconds_bucket{le="1.0"} 5 T0S # {trace_id="h2"} 0.5 T0S
wd_latency_seconds_bucket{le="+Inf"} 6 T0S
wd_latency_seconds_sum 3.5 T0S
wd_latency_seconds_count 6 T0S
# TYPE wd_rpc_seconds summary
# HELP wd_rpc_seconds RPC latency.
wd_rpc_seconds{quantile="0.5"} 0.2 T0S
wd_rpc_seconds{quantile="0.99"} 1.25e-07 T0S
wd_rpc_seconds_sum 10 T0S
wd_rpc_seconds_count 4 T0S
# TYPE wd_build info
# HELP wd_build Build information.
wd_build_info{version="1.2"} 1 T0S
# TYPE wd_state stateset
wd_state{wd_state="a"} 1 T0S
wd_state{wd_state="b"} 0 T0S
# TYPE wd_unknown unknown
wd_unknown 7e+300 T0S
wd_unknown{inf="yes"} +Inf T0S
# EOF
"#;

fn om_payload(t0: i64) -> Vec<u8> {
    OM_PAYLOAD
        .replace("T0S", &servers::api_time(t0))
        .into_bytes()
}

/// Protobuf encoding by hand (client_model's metrics.proto).
mod pb {
    pub(super) fn varint(out: &mut Vec<u8>, mut n: u64) {
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }
    fn key(out: &mut Vec<u8>, field: u32, wire: u32) {
        varint(out, u64::from(field << 3 | wire));
    }
    pub(super) fn uint(out: &mut Vec<u8>, field: u32, n: u64) {
        key(out, field, 0);
        varint(out, n);
    }
    pub(super) fn sint(out: &mut Vec<u8>, field: u32, n: i64) {
        key(out, field, 0);
        varint(out, ((n << 1) ^ (n >> 63)) as u64);
    }
    pub(super) fn double(out: &mut Vec<u8>, field: u32, x: f64) {
        key(out, field, 1);
        out.extend_from_slice(&x.to_le_bytes());
    }
    pub(super) fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
        key(out, field, 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }
    pub(super) fn label(out: &mut Vec<u8>, field: u32, name: &str, value: &str) {
        let mut l = Vec::new();
        bytes(&mut l, 1, name.as_bytes());
        bytes(&mut l, 2, value.as_bytes());
        bytes(out, field, &l);
    }
    /// An exemplar with one `trace_id` label at `ts` ms.
    pub(super) fn exemplar(trace: &str, value: f64, ts: i64) -> Vec<u8> {
        let mut e = Vec::new();
        label(&mut e, 1, "trace_id", trace);
        double(&mut e, 2, value);
        let mut t = Vec::new();
        uint(&mut t, 1, (ts / 1000) as u64);
        if ts % 1000 != 0 {
            uint(&mut t, 2, (ts % 1000 * 1_000_000) as u64);
        }
        bytes(&mut e, 3, &t);
        e
    }
    pub(super) fn span(out: &mut Vec<u8>, field: u32, offset: i64, length: u64) {
        let mut s = Vec::new();
        sint(&mut s, 1, offset);
        uint(&mut s, 2, length);
        bytes(out, field, &s);
    }
    /// A family, length-delimited.
    pub(super) fn family(out: &mut Vec<u8>, name: &str, help: &str, typ: u64, metrics: &[Vec<u8>]) {
        let mut f = Vec::new();
        bytes(&mut f, 1, name.as_bytes());
        bytes(&mut f, 2, help.as_bytes());
        uint(&mut f, 3, typ);
        for m in metrics {
            bytes(&mut f, 4, m);
        }
        varint(out, f.len() as u64);
        out.extend_from_slice(&f);
    }
}

/// The protobuf exposition (see the module doc).
fn pb_payload(t0: i64) -> Vec<u8> {
    const COUNTER: u64 = 0;
    const HISTOGRAM: u64 = 4;
    const GAUGE_HISTOGRAM: u64 = 5;
    let mut out = Vec::new();
    // A counter with an exemplar, at T0.
    let mut c = Vec::new();
    pb::double(&mut c, 1, 42.0);
    pb::bytes(&mut c, 2, &pb::exemplar("c1", 1.0, t0));
    let mut m = Vec::new();
    pb::label(&mut m, 1, "kind", "pb");
    pb::bytes(&mut m, 3, &c);
    pb::uint(&mut m, 6, t0 as u64);
    pb::family(
        &mut out,
        "wd_pb_total",
        "A protobuf counter.",
        COUNTER,
        &[m],
    );

    // An integer native histogram at T0 with exemplars; schema 0, both signs, zero bucket.
    let native = |ts: Option<i64>, schema: i64, exemplars: bool| {
        let mut h = Vec::new();
        pb::uint(&mut h, 1, 9);
        pb::double(&mut h, 2, 12.5);
        pb::sint(&mut h, 5, schema);
        pb::double(&mut h, 6, 0.001);
        pb::uint(&mut h, 7, 1);
        pb::span(&mut h, 9, 0, 1);
        pb::sint(&mut h, 10, 2);
        pb::span(&mut h, 12, 0, 2);
        pb::span(&mut h, 12, 1, 1);
        for d in [2, 1, -2] {
            pb::sint(&mut h, 13, d);
        }
        if exemplars {
            pb::bytes(&mut h, 16, &pb::exemplar("n1", 0.7, t0));
            pb::bytes(&mut h, 16, &pb::exemplar("n2", -1.5, t0 + 1));
        }
        let mut m = Vec::new();
        pb::label(&mut m, 1, "kind", "int");
        pb::bytes(&mut m, 7, &h);
        if let Some(ts) = ts {
            pb::uint(&mut m, 6, ts as u64);
        }
        m
    };
    pb::family(
        &mut out,
        "wd_pb_native_seconds",
        "A native histogram.",
        HISTOGRAM,
        &[native(Some(t0), 0, true)],
    );
    // The same shape without a timestamp (a sample every scrape), schema 3.
    pb::family(
        &mut out,
        "wd_pb_native_live_seconds",
        "A native histogram without timestamp.",
        HISTOGRAM,
        &[native(None, 3, false)],
    );
    // A float native histogram (float counts) at T0.
    let mut h = Vec::new();
    pb::double(&mut h, 4, 5.5);
    pb::double(&mut h, 2, -1.25);
    pb::sint(&mut h, 5, -1);
    pb::double(&mut h, 6, 0.0);
    pb::double(&mut h, 8, 0.5);
    pb::span(&mut h, 12, -2, 2);
    pb::double(&mut h, 14, 2.0);
    pb::double(&mut h, 14, 3.0);
    let mut m = Vec::new();
    pb::bytes(&mut m, 7, &h);
    pb::uint(&mut m, 6, t0 as u64);
    pb::family(
        &mut out,
        "wd_pb_float_native",
        "A float native histogram.",
        HISTOGRAM,
        &[m],
    );
    // A gauge native histogram at T0.
    let mut h = Vec::new();
    pb::uint(&mut h, 1, 3);
    pb::double(&mut h, 2, 7.0);
    pb::sint(&mut h, 5, 1);
    pb::double(&mut h, 6, 0.0);
    pb::uint(&mut h, 7, 0);
    pb::span(&mut h, 12, 1, 2);
    pb::sint(&mut h, 13, 1);
    pb::sint(&mut h, 13, 1);
    let mut m = Vec::new();
    pb::bytes(&mut m, 7, &h);
    pb::uint(&mut m, 6, t0 as u64);
    pb::family(
        &mut out,
        "wd_pb_gauge_native",
        "A gauge native histogram.",
        GAUGE_HISTOGRAM,
        &[m],
    );
    // A classic histogram at T0.
    let mut h = Vec::new();
    pb::uint(&mut h, 1, 4);
    pb::double(&mut h, 2, 2.0);
    for (cum, le) in [(1u64, 0.5), (3, 1.0)] {
        let mut b = Vec::new();
        pb::uint(&mut b, 1, cum);
        pb::double(&mut b, 2, le);
        pb::bytes(&mut h, 3, &b);
    }
    let mut m = Vec::new();
    pb::bytes(&mut m, 7, &h);
    pb::uint(&mut m, 6, t0 as u64);
    pb::family(
        &mut out,
        "wd_pb_classic",
        "A classic histogram.",
        HISTOGRAM,
        &[m],
    );
    out
}

/// Serves `/om` and `/pb`.
fn start_exposition(t0: i64) -> Result<String> {
    let (om, pbody) = (om_payload(t0), pb_payload(t0));
    serve_http(Arc::new(move |req: &HttpReq| {
        let path = req.target.split('?').next().unwrap_or("");
        match path {
            "/om" => (
                200,
                vec![("Content-Type".into(), OPENMETRICS.into())],
                om.clone(),
            ),
            "/pb" => (
                200,
                vec![("Content-Type".into(), PROTOBUF.into())],
                pbody.clone(),
            ),
            _ => (404, Vec::new(), Vec::new()),
        }
    }))
}

// ---------------------------------------------------------------------------------------
// The fake remote-write receiver.

/// One received request and the status answered.
#[derive(Clone, Debug)]
struct Received {
    req: HttpReq,
    status: u16,
}

type Log = Arc<Mutex<BTreeMap<String, Vec<Received>>>>;

/// Counts of a decoded 2.0 request: samples, histograms, exemplars.
fn v2_counts(body: &[u8]) -> Option<(usize, usize, usize)> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).ok()?;
    let req = prompb::write_v2::Request::decode(raw.as_slice()).ok()?;
    let mut n = (0, 0, 0);
    for ts in &req.timeseries {
        n.0 += ts.samples.len();
        n.1 += ts.histograms.len();
        n.2 += ts.exemplars.len();
    }
    Some(n)
}

/// The receiver's answer to the `n`th request (0-based) of an endpoint.
fn receiver_answer(endpoint: &str, n: usize, body: &[u8]) -> HttpResp {
    let written = |s: usize, h: usize, e: usize| {
        vec![
            (
                "X-Prometheus-Remote-Write-Samples-Written".to_string(),
                s.to_string(),
            ),
            (
                "X-Prometheus-Remote-Write-Histograms-Written".to_string(),
                h.to_string(),
            ),
            (
                "X-Prometheus-Remote-Write-Exemplars-Written".to_string(),
                e.to_string(),
            ),
        ]
    };
    match (endpoint, n) {
        ("retry", 0) => (500, Vec::new(), b"boom\n".to_vec()),
        ("retry", 1) | ("noretry429", 0) => (
            429,
            vec![("Retry-After".to_string(), "1".to_string())],
            b"slow down\n".to_vec(),
        ),
        ("bad400", 0) => (400, Vec::new(), b"no thanks\n".to_vec()),
        ("rw2" | "rw2partial", _) => {
            let (s, h, e) = v2_counts(body).unwrap_or_default();
            if endpoint == "rw2partial" {
                (204, written(0, 0, 0), Vec::new())
            } else {
                (204, written(s, h, e), Vec::new())
            }
        }
        _ => (204, Vec::new(), Vec::new()),
    }
}

fn start_receiver(log: Log) -> Result<String> {
    serve_http(Arc::new(move |req: &HttpReq| {
        let endpoint = req.target.trim_start_matches('/').to_string();
        if req.method != "POST" {
            return (405, Vec::new(), Vec::new());
        }
        let Ok(mut map) = log.lock() else {
            return (500, Vec::new(), Vec::new());
        };
        let entries = map.entry(endpoint.clone()).or_default();
        let resp = receiver_answer(&endpoint, entries.len(), &req.body);
        entries.push(Received {
            req: req.clone(),
            status: resp.0,
        });
        resp
    }))
}

// ---------------------------------------------------------------------------------------
// Configuration.

/// The configuration both servers run; ours also says `scrape_native_histograms: true`
/// (Prometheus 3.8's setting, which 3.5 refuses: it scrapes them by the feature flag).
fn config_text(exposition: &str, receiver: &str, ours: bool) -> String {
    let native = if ours {
        "    scrape_native_histograms: true\n"
    } else {
        ""
    };
    let mut out = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1m\n  external_labels:\n    cluster: wd\n    replica: r1\n\
         scrape_configs:\n\
         \x20 - job_name: om\n    metrics_path: /om\n    scrape_protocols: [OpenMetricsText1.0.0]\n    static_configs:\n      - targets: ['{exposition}']\n\
         \x20 - job_name: pb\n    metrics_path: /pb\n    scrape_protocols: [PrometheusProto]\n{native}    static_configs:\n      - targets: ['{exposition}']\n        labels:\n          team: wire\n\
         remote_write:\n"
    );
    for (name, msg, extra) in ENDPOINTS {
        out.push_str(&format!(
            "  - name: {name}\n    url: http://{receiver}/{name}\n    protobuf_message: {msg}\n"
        ));
        if !extra.contains("queue_config") {
            out.push_str("    queue_config:\n      batch_send_deadline: 1s\n");
        }
        out.push_str(&format!("    {extra}\n"));
    }
    out
}

const FLAGS: &[&str] = &[
    "--enable-feature=native-histograms,exemplar-storage,metadata-wal-records",
    "--web.enable-remote-write-receiver",
];

// ---------------------------------------------------------------------------------------
// Canonical forms of what was sent.

/// Renders a float, telling Prometheus's stale NaN from other NaNs.
fn fmt_f(v: f64) -> String {
    if v.to_bits() == 0x7ff0_0000_0000_0002 {
        "StaleNaN".into()
    } else if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v:?}")
    }
}

/// A timestamp: `T0` when it is the fixed one, else `*`.
fn fmt_t(t: i64, t0: i64) -> String {
    match t - t0 {
        0 => "T0".into(),
        1 => "T0+1".into(),
        _ => "*".into(),
    }
}

fn labels_str<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let inner: Vec<String> = pairs
        .map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.to_string())))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// Whether the values of a series are not compared (they measure the run).
fn masked_value(series: &str) -> bool {
    series.contains("__name__=\"scrape_duration_seconds\"")
}

fn hist_str(h: &prompb::Histogram, t0: i64) -> String {
    let count = match h.count {
        Some(prompb::histogram::Count::CountInt(n)) => format!("count={n}"),
        Some(prompb::histogram::Count::CountFloat(n)) => format!("count_float={}", fmt_f(n)),
        None => "count=none".into(),
    };
    let zero = match h.zero_count {
        Some(prompb::histogram::ZeroCount::ZeroCountInt(n)) => format!("zero={n}"),
        Some(prompb::histogram::ZeroCount::ZeroCountFloat(n)) => format!("zero_float={}", fmt_f(n)),
        None => "zero=none".into(),
    };
    let spans = |s: &[prompb::BucketSpan]| {
        s.iter()
            .map(|s| format!("{}:{}", s.offset, s.length))
            .collect::<Vec<_>>()
            .join(",")
    };
    let floats = |v: &[f64]| v.iter().map(|x| fmt_f(*x)).collect::<Vec<_>>().join(",");
    format!(
        "t={} {count} sum={} schema={} zt={} {zero} neg=[{}]{:?}{} pos=[{}]{:?}{} hint={} cv=[{}]",
        fmt_t(h.timestamp, t0),
        fmt_f(h.sum),
        h.schema,
        fmt_f(h.zero_threshold),
        spans(&h.negative_spans),
        h.negative_deltas,
        floats(&h.negative_counts),
        spans(&h.positive_spans),
        h.positive_deltas,
        floats(&h.positive_counts),
        h.reset_hint,
        floats(&h.custom_values),
    )
}

/// What one endpoint of one server received, decoded: per series the set of samples,
/// histograms and exemplars, the metadata, the header values and the message shapes.
#[derive(Default, Debug)]
struct Sent {
    data: BTreeMap<String, BTreeSet<String>>,
    metadata: BTreeSet<String>,
    headers: BTreeMap<String, BTreeSet<String>>,
    shapes: BTreeSet<String>,
    problems: BTreeSet<String>,
    statuses: Vec<u16>,
}

/// Request headers compared (values) and ignored (neither name nor value).
const COMPARED_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "x-prometheus-remote-write-version",
    "user-agent",
    "x-wirediff",
];
const IGNORED_HEADERS: &[&str] = &["host", "content-length", "connection"];

fn record_headers(sent: &mut Sent, req: &HttpReq) {
    let names: Vec<&str> = req
        .headers
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !IGNORED_HEADERS.contains(k))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    sent.headers
        .entry("names".into())
        .or_default()
        .insert(names.join(","));
    for h in COMPARED_HEADERS {
        let mut v = req.header(h).unwrap_or("(none)").to_string();
        if *h == "user-agent" {
            // Shape only: the version differs by nature.
            v = v
                .split('/')
                .next()
                .map(|p| format!("{p}/VERSION"))
                .unwrap_or(v);
        }
        sent.headers.entry((*h).into()).or_default().insert(v);
    }
}

fn decode_v1(sent: &mut Sent, raw: &[u8], t0: i64) -> Result<()> {
    let req = prompb::WriteRequest::decode(raw).context("decoding a WriteRequest")?;
    if req.timeseries.is_empty() && !req.metadata.is_empty() {
        sent.shapes.insert("metadata-only request".into());
    }
    if !req.timeseries.is_empty() && !req.metadata.is_empty() {
        sent.shapes
            .insert("request with series and metadata".into());
    }
    for m in &req.metadata {
        sent.metadata.insert(format!(
            "{} type={} help={:?} unit={:?}",
            m.metric_family_name, m.r#type, m.help, m.unit
        ));
    }
    for ts in &req.timeseries {
        let key = labels_str(
            ts.labels
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str())),
        );
        check_labels(sent, ts.labels.iter().map(|l| l.name.as_str()));
        sent.shapes.insert(format!(
            "entry samples={} histograms={} exemplars={}",
            ts.samples.len().min(2),
            ts.histograms.len().min(2),
            ts.exemplars.len().min(2)
        ));
        let set = sent.data.entry(key.clone()).or_default();
        for s in &ts.samples {
            let v = if masked_value(&key) {
                "*".into()
            } else {
                fmt_f(s.value)
            };
            set.insert(format!("sample t={} v={v}", fmt_t(s.timestamp, t0)));
        }
        for h in &ts.histograms {
            set.insert(format!("histogram {}", hist_str(h, t0)));
        }
        for e in &ts.exemplars {
            set.insert(format!(
                "exemplar {} v={} t={}",
                labels_str(e.labels.iter().map(|l| (l.name.as_str(), l.value.as_str()))),
                fmt_f(e.value),
                fmt_t(e.timestamp, t0)
            ));
        }
    }
    Ok(())
}

/// Notes label sets that are not sorted by name or hold duplicates or empty names.
fn check_labels<'a>(sent: &mut Sent, names: impl Iterator<Item = &'a str>) {
    let names: Vec<&str> = names.collect();
    if names.windows(2).any(|w| w[0] >= w[1]) {
        sent.problems
            .insert(format!("labels not strictly sorted: {names:?}"));
    }
    if names.iter().any(|n| n.is_empty()) {
        sent.problems.insert("empty label name".into());
    }
}

fn decode_v2(sent: &mut Sent, raw: &[u8], t0: i64) -> Result<()> {
    let req = prompb::write_v2::Request::decode(raw).context("decoding a v2 Request")?;
    let syms = &req.symbols;
    if syms.first().map(String::as_str) != Some("") {
        sent.problems
            .insert("symbols[0] is not the empty string".into());
    }
    let distinct: BTreeSet<&String> = syms.iter().collect();
    if distinct.len() != syms.len() {
        sent.problems.insert("duplicate symbols".into());
    }
    let mut used = BTreeSet::from([0u32]);
    let mut get = |r: u32, sent: &mut Sent| -> String {
        used.insert(r);
        match syms.get(r as usize) {
            Some(s) => s.clone(),
            None => {
                sent.problems.insert(format!("symbol ref {r} out of range"));
                String::new()
            }
        }
    };
    // Go interns, per series in batch order: help and unit of its metadata, its labels,
    // then exemplar labels. Record whether the table is exactly that order of first use.
    let mut order: Vec<u32> = Vec::new();
    let mut note = |r: u32| {
        if r != 0 && !order.contains(&r) {
            order.push(r);
        }
    };
    for ts in &req.timeseries {
        if let Some(m) = &ts.metadata {
            note(m.help_ref);
            note(m.unit_ref);
        }
        for &r in &ts.labels_refs {
            note(r);
        }
        for e in &ts.exemplars {
            for &r in &e.labels_refs {
                note(r);
            }
        }
    }
    let expected: Vec<u32> = (1..syms.len() as u32).collect();
    sent.shapes.insert(format!(
        "symbols in Go's interning order (metadata, labels, exemplar labels): {}",
        order == expected
    ));
    for ts in &req.timeseries {
        if ts.labels_refs.len() % 2 == 1 {
            sent.problems.insert("odd labels_refs".into());
        }
        let pairs: Vec<(String, String)> = ts
            .labels_refs
            .chunks(2)
            .map(|p| (get(p[0], sent), get(*p.get(1).unwrap_or(&0), sent)))
            .collect();
        check_labels(sent, pairs.iter().map(|(n, _)| n.as_str()));
        let key = labels_str(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        sent.shapes.insert(format!(
            "entry samples={} histograms={} exemplars={} metadata={} ct={}",
            ts.samples.len().min(2),
            ts.histograms.len().min(2),
            ts.exemplars.len().min(2),
            ts.metadata.is_some(),
            ts.created_timestamp != 0
        ));
        let mut lines = Vec::new();
        if let Some(m) = &ts.metadata {
            let (help, unit) = (get(m.help_ref, sent), get(m.unit_ref, sent));
            lines.push(format!(
                "metadata type={} help={help:?} unit={unit:?}",
                m.r#type
            ));
        }
        for s in &ts.samples {
            let v = if masked_value(&key) {
                "*".into()
            } else {
                fmt_f(s.value)
            };
            lines.push(format!("sample t={} v={v}", fmt_t(s.timestamp, t0)));
        }
        for h in &ts.histograms {
            lines.push(format!("histogram {}", hist_str(h, t0)));
        }
        for e in &ts.exemplars {
            let pairs: Vec<(String, String)> = e
                .labels_refs
                .chunks(2)
                .map(|p| (get(p[0], sent), get(*p.get(1).unwrap_or(&0), sent)))
                .collect();
            lines.push(format!(
                "exemplar {} v={} t={}",
                labels_str(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                fmt_f(e.value),
                fmt_t(e.timestamp, t0)
            ));
        }
        sent.data.entry(key).or_default().extend(lines);
    }
    if used.len() < syms.len() {
        sent.problems.insert("unused symbols".into());
    }
    Ok(())
}

/// Decodes what `endpoint` received.
fn decode_endpoint(reqs: &[Received], v2: bool, t0: i64) -> Sent {
    let mut sent = Sent::default();
    for r in reqs {
        sent.statuses.push(r.status);
        record_headers(&mut sent, &r.req);
        let raw = match snap::raw::Decoder::new().decompress_vec(&r.req.body) {
            Ok(raw) => raw,
            Err(e) => {
                sent.problems.insert(format!("body is not snappy: {e}"));
                continue;
            }
        };
        let res = if v2 {
            decode_v2(&mut sent, &raw, t0)
        } else {
            decode_v1(&mut sent, &raw, t0)
        };
        if let Err(e) = res {
            sent.problems.insert(format!("{e:#}"));
        }
    }
    sent
}

/// The retry pattern of an endpoint: for each of the first requests, its status and
/// whether the next request carried the same body (a retry), and the wait before it.
fn retry_pattern(reqs: &[Received], upto: usize) -> String {
    let mut out = Vec::new();
    for (i, r) in reqs.iter().take(upto).enumerate() {
        let next = reqs.get(i + 1);
        let same = next.is_some_and(|n| n.req.body == r.req.body);
        let waited = next.map(|n| n.req.at.duration_since(r.req.at));
        let wait = match waited {
            Some(d) if same && d >= Duration::from_millis(950) => " after>=1s",
            Some(_) if same => " after<1s",
            _ => "",
        };
        out.push(format!(
            "{} {}{wait}",
            r.status,
            if same { "retried" } else { "not-retried" }
        ));
    }
    out.join(", ")
}

// ---------------------------------------------------------------------------------------
// The servers' own state.

/// Health and last error per scrape job.
fn targets(server: &Server) -> Result<BTreeMap<String, String>> {
    let (status, _, body) = exchange(&server.addr, "GET", "/api/v1/targets", &[], None)?;
    if status != 200 {
        bail!("{} /api/v1/targets: status {status}", server.name);
    }
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(crate::scrapediff::targets_from(&v))
}

/// `prometheus_remote_storage_*_total` per endpoint, as `0` or `>0`.
fn sender_counters(server: &Server) -> Result<BTreeMap<String, String>> {
    let (status, _, body) = exchange(&server.addr, "GET", "/metrics", &[], None)?;
    if status != 200 {
        bail!("{} /metrics: status {status}", server.name);
    }
    let text = String::from_utf8_lossy(&body);
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Some(name) = series.split('{').next() else {
            continue;
        };
        let wanted = [
            "prometheus_remote_storage_samples_failed_total",
            "prometheus_remote_storage_samples_retried_total",
            "prometheus_remote_storage_histograms_failed_total",
            "prometheus_remote_storage_exemplars_failed_total",
            "prometheus_remote_storage_metadata_failed_total",
            "prometheus_remote_storage_metadata_retried_total",
        ];
        if !wanted.contains(&name) {
            continue;
        }
        let Some(remote) = series
            .split("remote_name=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
        else {
            continue;
        };
        let v: f64 = value.parse().unwrap_or(0.0);
        out.insert(
            format!("{name}{{remote_name={remote}}}"),
            if v > 0.0 { ">0".into() } else { "0".into() },
        );
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Generic protobuf rendering (federation answers).

#[derive(Debug)]
enum PbVal {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(Vec<u8>),
}

fn read_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    let mut shift = 0;
    loop {
        let byte = *b.get(*pos)?;
        *pos += 1;
        n |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(n);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

fn pb_fields(b: &[u8]) -> Option<Vec<(u32, PbVal)>> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < b.len() {
        let key = read_varint(b, &mut pos)?;
        let (field, wire) = ((key >> 3) as u32, key & 7);
        if field == 0 || field > 64 {
            return None;
        }
        let v = match wire {
            0 => PbVal::Varint(read_varint(b, &mut pos)?),
            1 => {
                let s = b.get(pos..pos + 8)?;
                pos += 8;
                PbVal::Fixed64(u64::from_le_bytes(s.try_into().ok()?))
            }
            5 => {
                let s = b.get(pos..pos + 4)?;
                pos += 4;
                PbVal::Fixed32(u32::from_le_bytes(s.try_into().ok()?))
            }
            2 => {
                let n = read_varint(b, &mut pos)? as usize;
                let s = b.get(pos..pos.checked_add(n)?)?;
                pos += n;
                PbVal::Bytes(s.to_vec())
            }
            _ => return None,
        };
        out.push((field, v));
    }
    Some(out)
}

/// Renders a message generically: `field:value` pairs, nested messages in braces, strings
/// quoted; doubles (wire type 1) as floats. Metrics of a family (field 4 at depth 0) are
/// sorted, and a metric's timestamp (field 6 at depth 1) is masked unless it is T0.
fn pb_render(b: &[u8], depth: usize, t0: i64) -> String {
    let Some(fields) = pb_fields(b) else {
        return format!("{:?}", String::from_utf8_lossy(b));
    };
    let mut parts = Vec::new();
    let mut metrics = Vec::new();
    for (f, v) in fields {
        let s = match v {
            PbVal::Varint(n) if depth == 1 && f == 6 => fmt_t(n as i64, t0),
            PbVal::Varint(n) => n.to_string(),
            PbVal::Fixed64(n) => fmt_f(f64::from_bits(n)),
            PbVal::Fixed32(n) => n.to_string(),
            PbVal::Bytes(bytes) => {
                // Strings (label names and values, names, help) are valid UTF-8 without
                // control bytes; anything else is tried as a message.
                let text = std::str::from_utf8(&bytes).ok().filter(|s| {
                    !s.chars().any(|c| c.is_control() && c != '\n') && (depth != 1 || f == 1)
                });
                match text {
                    Some(t) if !matches!((depth, f), (0, 4)) => format!("{t:?}"),
                    _ => format!("{{{}}}", pb_render(&bytes, depth + 1, t0)),
                }
            }
        };
        if depth == 0 && f == 4 {
            metrics.push(s);
        } else {
            parts.push(format!("{f}:{s}"));
        }
    }
    metrics.sort();
    parts.extend(metrics.into_iter().map(|m| format!("4:{m}")));
    parts.join(" ")
}

/// Splits a delimited protobuf stream into its messages, rendered.
fn pb_delimited(body: &[u8], t0: i64) -> Vec<String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let Some(n) = read_varint(body, &mut pos) else {
            out.push("(bad varint)".into());
            break;
        };
        let Some(msg) = body.get(pos..pos + n as usize) else {
            out.push("(truncated message)".into());
            break;
        };
        pos += n as usize;
        out.push(pb_render(msg, 0, t0));
    }
    out
}

/// A text exposition with every family's sample lines sorted and timestamps masked
/// (unless T0).
fn text_canonical(body: &str, t0: i64) -> Vec<String> {
    let mut out = Vec::new();
    let mut samples: Vec<String> = Vec::new();
    let flush = |out: &mut Vec<String>, samples: &mut Vec<String>| {
        samples.sort();
        out.append(samples);
    };
    for line in body.lines() {
        if line.starts_with('#') {
            flush(&mut out, &mut samples);
            out.push(line.to_string());
            continue;
        }
        let (rest, ts) = line.rsplit_once(' ').unwrap_or((line, ""));
        let ts = ts.parse::<i64>().map(|t| fmt_t(t, t0)).unwrap_or_default();
        samples.push(format!("{rest} {ts}"));
    }
    flush(&mut out, &mut samples);
    out
}

// ---------------------------------------------------------------------------------------
// Federation.

/// Federation requests: name, query string, Accept header.
const FEDERATE_CASES: &[(&str, &str, &str)] = &[
    (
        "om-text",
        "match[]={job=\"om\",__name__!=\"scrape_duration_seconds\"}",
        "",
    ),
    (
        "om-text-accept",
        "match[]={job=\"om\",__name__!=\"scrape_duration_seconds\"}",
        "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    ),
    (
        "om-proto",
        "match[]={job=\"om\",__name__!=\"scrape_duration_seconds\"}",
        PROTOBUF,
    ),
    ("pb-text", "match[]={job=\"pb\",__name__=~\"wd_.*\"}", ""),
    (
        "pb-proto",
        "match[]={job=\"pb\",__name__=~\"wd_.*\"}",
        PROTOBUF,
    ),
    (
        "two-matchers-overlap",
        "match[]={__name__=\"wd_unknown\"}&match[]={__name__=~\"wd_unk.*\"}&match[]=up",
        PROTOBUF,
    ),
    (
        "own-external-label",
        "match[]={__name__=\"wd_pb_total\"}",
        "",
    ),
    (
        "openmetrics-accept",
        "match[]={__name__=\"wd_unknown\"}",
        OPENMETRICS,
    ),
    ("no-match", "", ""),
    ("bad-match", "match[]={job=~\"(\"}", ""),
    ("empty-matcher", "match[]={job=\"\"}", ""),
    // Series the receiver cases wrote: no instance label, so federation adds instance="".
    ("pushed-text", "match[]={job=~\"rx|s\"}", ""),
    ("pushed-proto", "match[]={job=~\"rx|s\"}", PROTOBUF),
];

fn federate(server: &Server, query: &str, accept: &str, t0: i64) -> Result<String> {
    let q: String = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => format!("{}={}", servers::url_encode(k), servers::url_encode(v)),
            None => servers::url_encode(p),
        })
        .collect::<Vec<_>>()
        .join("&");
    let headers: Vec<(&str, &str)> = if accept.is_empty() {
        Vec::new()
    } else {
        vec![("Accept", accept)]
    };
    let (status, h, body) = exchange(
        &server.addr,
        "GET",
        &format!("/federate?{q}"),
        &headers,
        None,
    )?;
    let ctype = h
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let rendered = if ctype.contains("encoding=delimited") {
        pb_delimited(&body, t0).join("\n  ")
    } else {
        text_canonical(&String::from_utf8_lossy(&body), t0).join("\n  ")
    };
    Ok(format!(
        "status {status} content-type {ctype:?}\n  {rendered}"
    ))
}

// ---------------------------------------------------------------------------------------
// Remote read.

fn matcher(t: i32, name: &str, value: &str) -> prompb::LabelMatcher {
    prompb::LabelMatcher {
        r#type: t,
        name: name.into(),
        value: value.into(),
    }
}

/// Remote-read queries: name and matchers (EQ 0, NEQ 1, RE 2, NRE 3).
fn read_queries() -> Vec<(&'static str, Vec<prompb::LabelMatcher>)> {
    vec![
        (
            "eq",
            vec![
                matcher(0, "__name__", "wd_temperature_celsius"),
                matcher(1, "room", "y"),
            ],
        ),
        (
            "regex",
            vec![matcher(2, "__name__", "wd_latency_seconds_.*|wd_rpc.*")],
        ),
        (
            "native",
            vec![
                matcher(2, "__name__", "wd_pb_(native|float_native|gauge_native).*"),
                matcher(3, "__name__", ".*live.*"),
            ],
        ),
        (
            "external-label",
            vec![
                matcher(0, "__name__", "wd_unknown"),
                matcher(0, "cluster", "wd"),
            ],
        ),
        (
            "external-label-mismatch",
            vec![
                matcher(0, "__name__", "wd_unknown"),
                matcher(0, "cluster", "other"),
            ],
        ),
        ("none", vec![matcher(0, "__name__", "wd_nothing")]),
        (
            "pb-counter-and-classic",
            vec![matcher(2, "__name__", "wd_pb_(total|classic.*)")],
        ),
    ]
}

fn encode_read(queries: &[prompb::Query], types: &[i32]) -> Vec<u8> {
    let req = prompb::ReadRequest {
        queries: queries.to_vec(),
        accepted_response_types: types.to_vec(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap_or_default()
}

fn labels_of(ls: &[prompb::Label]) -> String {
    labels_str(ls.iter().map(|l| (l.name.as_str(), l.value.as_str())))
}

/// A receiver's error answer as Prometheus writes it (Go's `http.Error`: the message and a
/// newline as `text/plain; charset=utf-8`). Our receivers send the same message in the API's
/// JSON error form instead, as the OpenAPI description documents these endpoints (upstream's
/// golden file, which `cargo xtask apicheck` holds us to): a known difference of form,
/// normalized here so that the message itself is compared. Other answers pass unchanged.
fn as_go_http_error(
    (status, mut headers, body): (u16, Vec<(String, String)>, Vec<u8>),
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let json_error = (400..600).contains(&status)
        && headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("application/json"));
    let message = json_error
        .then(|| serde_json::from_slice::<serde_json::Value>(&body).ok())
        .flatten()
        .filter(|v| v["status"] == "error")
        .and_then(|v| v["error"].as_str().map(str::to_owned));
    let Some(message) = message else {
        return (status, headers, body);
    };
    for (k, v) in &mut headers {
        if k == "content-type" {
            *v = "text/plain; charset=utf-8".to_owned();
        }
    }
    (status, headers, format!("{message}\n").into_bytes())
}

/// Renders a remote-read answer (SAMPLES or frames of STREAMED_XOR_CHUNKS).
fn render_read(status: u16, headers: &[(String, String)], body: &[u8], t0: i64) -> String {
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let ctype = get("content-type");
    let mut out = vec![format!(
        "status {status} content-type {ctype:?} content-encoding {:?}",
        get("content-encoding")
    )];
    if status != 200 {
        out.push(format!("body {:?}", String::from_utf8_lossy(body)));
    } else if ctype.starts_with("application/x-streamed-protobuf") {
        let mut pos = 0;
        while pos < body.len() {
            let Some(n) = read_varint(body, &mut pos) else {
                out.push("bad frame size".into());
                break;
            };
            let Some(crc) = body.get(pos..pos + 4) else {
                out.push("truncated frame".into());
                break;
            };
            pos += 4;
            let Some(msg) = body.get(pos..pos + n as usize) else {
                out.push("truncated frame".into());
                break;
            };
            pos += n as usize;
            let crc_ok = crc32c(msg).to_be_bytes() == crc;
            match prompb::ChunkedReadResponse::decode(msg) {
                Ok(r) => {
                    out.push(format!("frame query={} crc_ok={crc_ok}", r.query_index));
                    for s in &r.chunked_series {
                        out.push(format!("  series {}", labels_of(&s.labels)));
                        for c in &s.chunks {
                            out.push(format!(
                                "    chunk {}..{} type={} data={}",
                                fmt_t(c.min_time_ms, t0),
                                fmt_t(c.max_time_ms, t0),
                                c.r#type,
                                c.data
                                    .iter()
                                    .map(|b| format!("{b:02x}"))
                                    .collect::<String>()
                            ));
                        }
                    }
                }
                Err(e) => out.push(format!("frame not a ChunkedReadResponse: {e}")),
            }
        }
    } else {
        let decoded = snap::raw::Decoder::new()
            .decompress_vec(body)
            .map_err(|e| e.to_string())
            .and_then(|raw| {
                prompb::ReadResponse::decode(raw.as_slice()).map_err(|e| e.to_string())
            });
        match decoded {
            Ok(r) => {
                for (i, q) in r.results.iter().enumerate() {
                    out.push(format!("result {i}"));
                    // Go answers SAMPLES from an unsorted select (the head's series
                    // order): not a contract, so series are compared sorted.
                    let mut series: Vec<&prompb::TimeSeries> = q.timeseries.iter().collect();
                    series.sort_by_cached_key(|ts| labels_of(&ts.labels));
                    for ts in series {
                        out.push(format!("  series {}", labels_of(&ts.labels)));
                        for s in &ts.samples {
                            out.push(format!(
                                "    sample t={} v={}",
                                fmt_t(s.timestamp, t0),
                                fmt_f(s.value)
                            ));
                        }
                        for h in &ts.histograms {
                            out.push(format!("    histogram {}", hist_str(h, t0)));
                        }
                        if !ts.exemplars.is_empty() {
                            out.push(format!("    {} exemplars", ts.exemplars.len()));
                        }
                    }
                }
            }
            Err(e) => out.push(format!("undecodable: {e}")),
        }
    }
    out.join("\n  ")
}

/// Castagnoli CRC-32 (bitwise; answers are small).
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A remote-read case: name, request body, request headers.
type ReadCase = (String, Vec<u8>, Vec<(&'static str, &'static str)>);

/// The remote-read cases over the fixed-timestamp data.
fn read_cases(t0: i64) -> Vec<ReadCase> {
    let std_headers = vec![
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "snappy"),
        ("X-Prometheus-Remote-Read-Version", "0.1.0"),
    ];
    let query = |m: &[prompb::LabelMatcher]| prompb::Query {
        start_timestamp_ms: t0 - 60_000,
        end_timestamp_ms: t0 + 1_000,
        matchers: m.to_vec(),
        hints: None,
    };
    let mut out = Vec::new();
    for (name, m) in read_queries() {
        for (kind, types) in [("samples", vec![0]), ("streamed", vec![1])] {
            out.push((
                format!("{name} {kind}"),
                encode_read(&[query(&m)], &types),
                std_headers.clone(),
            ));
        }
    }
    let all: Vec<prompb::Query> = read_queries().iter().map(|(_, m)| query(m)).collect();
    out.push((
        "all queries samples".into(),
        encode_read(&all, &[0]),
        std_headers.clone(),
    ));
    out.push((
        "all queries streamed-first".into(),
        encode_read(&all, &[1, 0]),
        std_headers.clone(),
    ));
    out.push((
        "no response types".into(),
        encode_read(&[query(&read_queries()[0].1)], &[]),
        std_headers.clone(),
    ));
    out.push((
        "no matchers".into(),
        encode_read(&[query(&[])], &[0]),
        std_headers.clone(),
    ));
    out.push((
        "bad snappy".into(),
        b"not snappy at all".to_vec(),
        std_headers.clone(),
    ));
    out.push((
        "unknown response type".into(),
        encode_read(&[query(&read_queries()[0].1)], &[7]),
        std_headers,
    ));
    out
}

// ---------------------------------------------------------------------------------------
// The receiver.

fn snappy(b: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(b)
        .unwrap_or_default()
}

fn v1_body(series: Vec<prompb::TimeSeries>) -> Vec<u8> {
    snappy(
        &prompb::WriteRequest {
            timeseries: series,
            metadata: Vec::new(),
        }
        .encode_to_vec(),
    )
}

fn v2_body(symbols: &[&str], series: Vec<prompb::write_v2::TimeSeries>) -> Vec<u8> {
    snappy(
        &prompb::write_v2::Request {
            symbols: symbols.iter().map(|s| (*s).to_string()).collect(),
            timeseries: series,
        }
        .encode_to_vec(),
    )
}

fn v2_series(refs: &[u32], samples: &[(i64, f64)]) -> prompb::write_v2::TimeSeries {
    prompb::write_v2::TimeSeries {
        labels_refs: refs.to_vec(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| prompb::write_v2::Sample { value, timestamp })
            .collect(),
        ..Default::default()
    }
}

const V1_CT: &str = "application/x-protobuf";
const V2_CT: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

/// One `/api/v1/write` case: name, content type (`None`: no header), content encoding,
/// version header, body.
type WriteCase = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    Vec<u8>,
);

/// The receiver cases, in order (earlier ones write the series later ones conflict with).
fn write_cases(now: i64) -> Vec<WriteCase> {
    let s = |name: &'static str| [("__name__", name), ("job", "rx")];
    let ok_v1 = v1_body(vec![prompb::TimeSeries::from_samples(
        &s("wd_rx_a"),
        &[(now - 10_000, 1.0), (now - 5_000, 2.0)],
    )]);
    let v2_syms = ["", "__name__", "wd_rx_v2", "job", "rx", "help me", "s"];
    let mut v2_ok_series = v2_series(&[1, 2, 3, 4], &[(now - 10_000, 1.0), (now - 5_000, 2.0)]);
    v2_ok_series.metadata = Some(prompb::write_v2::Metadata {
        r#type: 2,
        help_ref: 5,
        unit_ref: 6,
    });
    v2_ok_series.exemplars = vec![prompb::write_v2::Exemplar {
        labels_refs: vec![3, 4],
        value: 1.0,
        timestamp: now - 5_000,
    }];
    let v2_hist = prompb::write_v2::TimeSeries {
        labels_refs: vec![1, 2, 3, 6],
        histograms: vec![prompb::Histogram {
            count: Some(prompb::histogram::Count::CountInt(3)),
            sum: 2.5,
            schema: 0,
            zero_threshold: 0.001,
            zero_count: Some(prompb::histogram::ZeroCount::ZeroCountInt(1)),
            positive_spans: vec![prompb::BucketSpan {
                offset: 0,
                length: 2,
            }],
            positive_deltas: vec![1, 0],
            timestamp: now - 5_000,
            ..Default::default()
        }],
        ..Default::default()
    };
    vec![
        (
            "v1 ok",
            Some(V1_CT),
            Some("snappy"),
            Some("0.1.0"),
            ok_v1.clone(),
        ),
        (
            "v1 ok again (duplicate samples)",
            Some(V1_CT),
            Some("snappy"),
            Some("0.1.0"),
            ok_v1,
        ),
        (
            "v1 out of order",
            Some(V1_CT),
            Some("snappy"),
            Some("0.1.0"),
            v1_body(vec![prompb::TimeSeries::from_samples(
                &s("wd_rx_a"),
                &[(now - 20_000, 3.0)],
            )]),
        ),
        (
            "v1 duplicate sample different value",
            Some(V1_CT),
            Some("snappy"),
            Some("0.1.0"),
            v1_body(vec![prompb::TimeSeries::from_samples(
                &s("wd_rx_a"),
                &[(now - 5_000, 9.0)],
            )]),
        ),
        (
            "v1 out of bounds (too old)",
            Some(V1_CT),
            Some("snappy"),
            Some("0.1.0"),
            v1_body(vec![prompb::TimeSeries::from_samples(
                &s("wd_rx_b"),
                &[(now - 86_400_000 * 3, 3.0)],
            )]),
        ),
        (
            "v1 duplicate labels",
            Some(V1_CT),
            Some("snappy"),
            None,
            v1_body(vec![prompb::TimeSeries::from_samples(
                &[("__name__", "wd_rx_dup"), ("a", "1"), ("a", "2")],
                &[(now, 1.0)],
            )]),
        ),
        (
            "v1 empty label name",
            Some(V1_CT),
            Some("snappy"),
            None,
            v1_body(vec![prompb::TimeSeries::from_samples(
                &[("", "x"), ("__name__", "wd_rx_empty")],
                &[(now, 1.0)],
            )]),
        ),
        (
            "v1 unsorted labels",
            Some(V1_CT),
            Some("snappy"),
            None,
            v1_body(vec![prompb::TimeSeries::from_samples(
                &[("z", "1"), ("__name__", "wd_rx_unsorted")],
                &[(now, 1.0)],
            )]),
        ),
        (
            "v1 no metric name",
            Some(V1_CT),
            Some("snappy"),
            None,
            v1_body(vec![prompb::TimeSeries::from_samples(
                &[("job", "rx")],
                &[(now, 1.0)],
            )]),
        ),
        (
            "v1 empty label value",
            Some(V1_CT),
            Some("snappy"),
            None,
            v1_body(vec![prompb::TimeSeries::from_samples(
                &[("__name__", "wd_rx_emptyval"), ("e", "")],
                &[(now, 1.0)],
            )]),
        ),
        (
            "v1 invalid utf8 label value",
            Some(V1_CT),
            Some("snappy"),
            None,
            {
                let mut body = prompb::WriteRequest {
                    timeseries: vec![prompb::TimeSeries::from_samples(
                        &[("__name__", "wd_rx_utf8"), ("v", "AB")],
                        &[(now, 1.0)],
                    )],
                    metadata: Vec::new(),
                }
                .encode_to_vec();
                if let Some(i) = body.windows(2).position(|w| w == b"AB") {
                    body[i] = 0xff;
                }
                snappy(&body)
            },
        ),
        (
            "v1 empty body",
            Some(V1_CT),
            Some("snappy"),
            None,
            Vec::new(),
        ),
        (
            "v1 bad snappy",
            Some(V1_CT),
            Some("snappy"),
            None,
            b"definitely not snappy".to_vec(),
        ),
        (
            "v1 snappy but not protobuf",
            Some(V1_CT),
            Some("snappy"),
            None,
            snappy(b"\xff\xff\xff\xff garbage"),
        ),
        (
            "wrong content type",
            Some("application/json"),
            Some("snappy"),
            None,
            Vec::new(),
        ),
        ("no content type", None, Some("snappy"), None, {
            v1_body(vec![prompb::TimeSeries::from_samples(
                &s("wd_rx_noct"),
                &[(now, 1.0)],
            )])
        }),
        (
            "unknown proto",
            Some("application/x-protobuf;proto=foo.Bar"),
            Some("snappy"),
            None,
            Vec::new(),
        ),
        ("gzip encoding", Some(V1_CT), Some("gzip"), None, Vec::new()),
        ("no encoding", Some(V1_CT), None, None, {
            v1_body(vec![prompb::TimeSeries::from_samples(
                &s("wd_rx_noenc"),
                &[(now, 1.0)],
            )])
        }),
        (
            "v1 proto named explicitly",
            Some("application/x-protobuf;proto=prometheus.WriteRequest"),
            Some("snappy"),
            Some("0.1.0"),
            v1_body(vec![prompb::TimeSeries::from_samples(
                &s("wd_rx_named"),
                &[(now, 1.0)],
            )]),
        ),
        (
            "v2 ok",
            Some(V2_CT),
            Some("snappy"),
            Some("2.0.0"),
            v2_body(&v2_syms, vec![v2_ok_series.clone(), v2_hist]),
        ),
        (
            "v2 out of order",
            Some(V2_CT),
            Some("snappy"),
            Some("2.0.0"),
            v2_body(
                &v2_syms,
                vec![v2_series(&[1, 2, 3, 4], &[(now - 20_000, 5.0)])],
            ),
        ),
        (
            "v2 missing symbol",
            Some(V2_CT),
            Some("snappy"),
            Some("2.0.0"),
            v2_body(&v2_syms, vec![v2_series(&[1, 2, 3, 40], &[(now, 5.0)])]),
        ),
        (
            "v2 odd label refs",
            Some(V2_CT),
            Some("snappy"),
            Some("2.0.0"),
            v2_body(&v2_syms, vec![v2_series(&[1, 2, 3], &[(now, 5.0)])]),
        ),
        (
            "v2 missing help symbol",
            Some(V2_CT),
            Some("snappy"),
            Some("2.0.0"),
            {
                let mut s = v2_series(&[1, 2, 3, 4], &[(now, 6.0)]);
                s.metadata = Some(prompb::write_v2::Metadata {
                    r#type: 1,
                    help_ref: 99,
                    unit_ref: 0,
                });
                v2_body(&v2_syms, vec![s])
            },
        ),
        (
            "v2 symbols without empty first",
            Some(V2_CT),
            Some("snappy"),
            Some("2.0.0"),
            v2_body(
                &["__name__", "wd_rx_v2b", "job", "rx"],
                vec![v2_series(&[0, 1, 2, 3], &[(now, 1.0)])],
            ),
        ),
        (
            "v2 no samples",
            Some(V2_CT),
            Some("snappy"),
            Some("2.0.0"),
            v2_body(&v2_syms, vec![v2_series(&[1, 2, 3, 4], &[])]),
        ),
        (
            "v2 empty label name",
            Some(V2_CT),
            Some("snappy"),
            Some("2.0.0"),
            v2_body(
                &["", "__name__", "wd_rx_v2e", "x"],
                vec![v2_series(&[0, 3, 1, 2], &[(now, 1.0)])],
            ),
        ),
        (
            "v2 duplicate labels",
            Some(V2_CT),
            Some("snappy"),
            Some("2.0.0"),
            v2_body(
                &["", "__name__", "wd_rx_v2d", "a", "1", "2"],
                vec![v2_series(&[1, 2, 3, 4, 3, 5], &[(now, 1.0)])],
            ),
        ),
        (
            "v2 bad snappy",
            Some(V2_CT),
            Some("snappy"),
            Some("2.0.0"),
            b"not snappy".to_vec(),
        ),
        (
            "v2 message sent as v1 content type",
            Some(V1_CT),
            Some("snappy"),
            Some("0.1.0"),
            v2_body(&v2_syms, vec![v2_series(&[1, 2, 3, 4], &[(now, 7.0)])]),
        ),
        (
            "v2 without version header",
            Some(V2_CT),
            Some("snappy"),
            None,
            v2_body(
                &["", "__name__", "wd_rx_v2nov"],
                vec![v2_series(&[1, 2], &[(now, 1.0)])],
            ),
        ),
    ]
}

/// Sends `case` and renders the answer: status, the headers a client reads, body.
fn send_write_case(server: &Server, case: &WriteCase) -> Result<String> {
    let (_, ctype, enc, version, body) = case;
    let mut headers = Vec::new();
    if let Some(c) = ctype {
        headers.push(("Content-Type", *c));
    }
    if let Some(e) = enc {
        headers.push(("Content-Encoding", *e));
    }
    if let Some(v) = version {
        headers.push(("X-Prometheus-Remote-Write-Version", *v));
    }
    let (status, h, body) =
        match exchange(&server.addr, "POST", "/api/v1/write", &headers, Some(body)) {
            Ok(answer) => as_go_http_error(answer),
            // Go's net/http closes the connection when a handler panics.
            Err(e) => return Ok(format!("no answer ({e:#})")),
        };
    let mut shown: Vec<String> = h
        .iter()
        .filter(|(k, _)| k.starts_with("x-prometheus-remote-write") || k == "content-type")
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    shown.sort();
    Ok(format!(
        "{status} [{}] {:?}",
        shown.join("; "),
        String::from_utf8_lossy(&body)
    ))
}

// ---------------------------------------------------------------------------------------
// The run.

/// Compares, prints and returns the differences of one section.
fn section(
    name: &str,
    ours: &BTreeMap<String, String>,
    theirs: &BTreeMap<String, String>,
) -> Vec<String> {
    diff_maps(name, ours, theirs)
}

fn sent_map(s: &Sent) -> BTreeMap<String, BTreeMap<String, String>> {
    let join = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(" | ");
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    out.insert(
        "rw-data".into(),
        s.data.iter().map(|(k, v)| (k.clone(), join(v))).collect(),
    );
    out.insert(
        "rw-metadata".into(),
        s.metadata
            .iter()
            .map(|m| (m.clone(), "sent".to_string()))
            .collect(),
    );
    out.insert(
        "rw-headers".into(),
        s.headers
            .iter()
            .map(|(k, v)| (k.clone(), join(v)))
            .collect(),
    );
    out.insert(
        "rw-shape".into(),
        s.shapes.iter().map(|k| (k.clone(), "yes".into())).collect(),
    );
    out.insert(
        "rw-problems".into(),
        s.problems
            .iter()
            .map(|k| (k.clone(), "yes".into()))
            .collect(),
    );
    out
}

/// Runs the task.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let no_build = args.iter().any(|a| a == "--no-build");
    let ours_bin = servers::our_binary(no_build, true)?;
    let theirs_bin = servers::announce_peers(&ours_bin)?;
    let work = fresh_dir("wirediff")?;
    let t0 = model::timestamp::now() / 1000 * 1000 - 30_000;
    let exposition = start_exposition(t0)?;
    let (log_ours, log_theirs): (Log, Log) = (Arc::default(), Arc::default());
    let recv_ours = start_receiver(log_ours.clone())?;
    let recv_theirs = start_receiver(log_theirs.clone())?;
    let ours = Server::start_with_config("ours", &ours_bin, &work.join("ours"), FLAGS, |_| {
        config_text(&exposition, &recv_ours, true)
    })?;
    let theirs = Server::start_with_config(
        "prometheus",
        &theirs_bin,
        &work.join("prometheus"),
        FLAGS,
        |_| config_text(&exposition, &recv_theirs, false),
    )?;
    println!("== both up; waiting 12s for scrapes and remote writes");
    std::thread::sleep(Duration::from_secs(12));

    let mut diffs = Vec::new();
    // 0. Both scrape the expositions alike (else nothing below compares).
    diffs.extend(section("targets", &targets(&ours)?, &targets(&theirs)?));
    // 1. Remote write senders.
    let (lo, lt) = (
        log_ours
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .clone(),
        log_theirs
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .clone(),
    );
    let mut n_series = 0;
    for (name, msg, _) in ENDPOINTS {
        let v2 = msg.contains("v2");
        let empty = Vec::new();
        let (ro, rt) = (
            lo.get(*name).unwrap_or(&empty),
            lt.get(*name).unwrap_or(&empty),
        );
        let (so, st) = (decode_endpoint(ro, v2, t0), decode_endpoint(rt, v2, t0));
        n_series += st.data.len();
        let (mo, mt) = (sent_map(&so), sent_map(&st));
        for (sec, m) in &mt {
            let empty = BTreeMap::new();
            diffs.extend(section(
                &format!("{sec} {name}"),
                mo.get(sec).unwrap_or(&empty),
                m,
            ));
        }
        if ro.is_empty() || rt.is_empty() {
            diffs.push(format!(
                "rw-requests {name}: ours {} | prometheus {}",
                ro.len(),
                rt.len()
            ));
        }
        if matches!(*name, "retry" | "noretry429" | "bad400") {
            println!(
                "== {name}: ours {} | prometheus {}",
                retry_pattern(ro, 3),
                retry_pattern(rt, 3)
            );
            diffs.extend(section(
                &format!("rw-retry {name}"),
                &BTreeMap::from([("pattern".to_string(), retry_pattern(ro, 3))]),
                &BTreeMap::from([("pattern".to_string(), retry_pattern(rt, 3))]),
            ));
        }
    }
    diffs.extend(section(
        "rw-counters",
        &sender_counters(&ours)?,
        &sender_counters(&theirs)?,
    ));
    println!(
        "== remote write: {} requests from ours, {} from prometheus, {n_series} series",
        lo.values().map(Vec::len).sum::<usize>(),
        lt.values().map(Vec::len).sum::<usize>()
    );

    // 2. The receiver (before federation, which then also serves what it wrote).
    let (mut wo, mut wt) = (BTreeMap::new(), BTreeMap::new());
    let now = model::timestamp::now();
    for (i, case) in write_cases(now).iter().enumerate() {
        let key = format!("{i:02} {}", case.0);
        wo.insert(
            key.clone(),
            send_write_case(&ours, case).with_context(|| format!("ours write {key}"))?,
        );
        wt.insert(
            key.clone(),
            send_write_case(&theirs, case).with_context(|| format!("3.5 write {key}"))?,
        );
    }
    diffs.extend(section("write", &wo, &wt));
    // 3. Federation.
    let (mut fo, mut ft) = (BTreeMap::new(), BTreeMap::new());
    for (name, q, accept) in FEDERATE_CASES {
        fo.insert(
            name.to_string(),
            federate(&ours, q, accept, t0).with_context(|| format!("ours federate {name}"))?,
        );
        ft.insert(
            name.to_string(),
            federate(&theirs, q, accept, t0).with_context(|| format!("3.5 federate {name}"))?,
        );
    }
    diffs.extend(section("federate", &fo, &ft));

    // 4. Remote read.
    let (mut ro, mut rt) = (BTreeMap::new(), BTreeMap::new());
    for (name, body, headers) in read_cases(t0) {
        for (server, out) in [(&ours, &mut ro), (&theirs, &mut rt)] {
            let (status, h, b) =
                exchange(&server.addr, "POST", "/api/v1/read", &headers, Some(&body))
                    .with_context(|| format!("{} read {name}", server.name))?;
            let (status, h, b) = as_go_http_error((status, h, b));
            out.insert(name.clone(), render_read(status, &h, &b, t0));
        }
    }
    diffs.extend(section("read", &ro, &rt));

    drop(ours);
    drop(theirs);

    let mut unexplained = 0;
    let mut known_n = 0;
    for d in &diffs {
        match KNOWN.iter().find(|(p, _)| is_known(d, &[p.to_string()])) {
            Some((_, why)) => {
                known_n += 1;
                println!("known {d}\n  because {why}");
            }
            None => {
                unexplained += 1;
                println!("DIFF {d}");
            }
        }
    }
    println!(
        "== wirediff: {} differences ({known_n} known, {unexplained} unexplained) over {} remote-write endpoints, {} federation, {} remote-read and {} receiver cases",
        diffs.len(),
        ENDPOINTS.len(),
        FEDERATE_CASES.len(),
        ro.len(),
        wo.len()
    );
    if unexplained > 0 {
        bail!("wirediff: {unexplained} unexplained difference(s)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_rendering_sorts_metrics_and_masks_timestamps() {
        let mut m1 = Vec::new();
        pb::label(&mut m1, 1, "a", "2");
        pb::uint(&mut m1, 6, 5);
        let mut m2 = Vec::new();
        pb::label(&mut m2, 1, "a", "1");
        pb::uint(&mut m2, 6, 1000);
        let mut body = Vec::new();
        pb::family(&mut body, "x", "h", 3, &[m1, m2]);
        let got = pb_delimited(&body, 1000);
        assert_eq!(
            got,
            vec!["1:\"x\" 2:\"h\" 3:3 4:{1:{1:\"a\" 2:\"1\"} 6:T0} 4:{1:{1:\"a\" 2:\"2\"} 6:*}"]
        );
    }

    #[test]
    fn text_is_sorted_per_family_with_masked_timestamps() {
        let got = text_canonical(
            "# TYPE a untyped\na{x=\"2\"} 1 5\na{x=\"1\"} 2 1000\n",
            1000,
        );
        assert_eq!(
            got,
            ["# TYPE a untyped", "a{x=\"1\"} 2 T0", "a{x=\"2\"} 1 *"]
        );
    }

    #[test]
    fn crc32c_matches_the_known_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn v2_symbol_conventions_are_checked() {
        let mut sent = Sent::default();
        let req = prompb::write_v2::Request {
            symbols: vec!["x".into(), "x".into()],
            timeseries: vec![v2_series(&[0, 5], &[(1, 1.0)])],
        };
        decode_v2(&mut sent, &req.encode_to_vec(), 0).expect("decodes");
        assert!(sent.problems.contains("symbols[0] is not the empty string"));
        assert!(sent.problems.contains("duplicate symbols"));
        assert!(sent.problems.contains("symbol ref 5 out of range"));
    }

    #[test]
    fn retry_pattern_tells_retries_from_new_batches() {
        let at = Instant::now();
        let r = |body: &[u8], status: u16, ms: u64| Received {
            req: HttpReq {
                method: "POST".into(),
                target: "/x".into(),
                headers: Vec::new(),
                body: body.to_vec(),
                at: at + Duration::from_millis(ms),
            },
            status,
        };
        let reqs = [
            r(b"a", 500, 0),
            r(b"a", 429, 100),
            r(b"a", 204, 1200),
            r(b"b", 204, 1300),
        ];
        assert_eq!(
            retry_pattern(&reqs, 3),
            "500 retried after<1s, 429 retried after>=1s, 204 not-retried"
        );
    }

    #[test]
    fn known_differences_match_what_they_explain() {
        let known = |d: &str| KNOWN.iter().any(|(p, _)| is_known(d, &[p.to_string()]));
        assert!(known(
            "write 22 v2 missing symbol: ours 400 [content-type: text/plain] \"x\" | prometheus no answer (malformed status line)"
        ));
        assert!(known(
            "write 17 gzip encoding: ours 415 [] \"a\\n\" | prometheus 415 [] \"gzip encoding (compression) is not accepted by this server; only snappy is acceptable\\nsnappy: corrupt input\\n\""
        ));
        assert!(known(
            "rw-shape rw1 entry samples=2 histograms=0 exemplars=0: only ours (yes)"
        ));
        // A data difference is never explained by a shape pattern.
        assert!(!known(
            "rw-data rw1 {__name__=\"up\"}: ours sample t=* v=1.0 | prometheus sample t=* v=0.0"
        ));
        assert!(!known(
            "write 22 v2 missing symbol: ours 400 [] \"x\" | prometheus 400 [] \"y\""
        ));
    }

    #[test]
    fn config_has_every_endpoint() {
        let cfg = config_text("127.0.0.1:1", "127.0.0.1:2", true);
        for (name, _, _) in ENDPOINTS {
            assert!(cfg.contains(&format!("url: http://127.0.0.1:2/{name}\n")));
        }
        assert_eq!(cfg.matches("queue_config:").count(), ENDPOINTS.len());
    }
}
