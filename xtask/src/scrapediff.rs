//! `cargo xtask scrapediff`: our scraping against Prometheus 3.5 on the same payloads and scrape configuration.
//!
//! Steps (everything under `target/scrapediff/`):
//! 1. builds our server (`cargo build --release -p prometheus --bin prometheus`, in
//!    `CARGO_TARGET_DIR` when set) unless `--no-build`, and finds Prometheus 3
//!    ([`servers::prometheus3`], or `PROMETHEUS3_BIN`);
//! 2. serves each file of `testdata/scrapediff/` on 127.0.0.1 from a thread, at `/<stem>`
//!    (`.prom`: text 0.0.4, `.om`: OpenMetrics 1.0.0, `.pb`: delimited protobuf, each with
//!    its Content-Type; `/notype/<stem>` serves the same bytes without one). `@NOW@` and
//!    `@NOWSEC@` in a payload become the current time in ms and in seconds. Each request's
//!    Accept, Accept-Encoding and X-Prometheus-Scrape-Timeout-Seconds headers are recorded
//!    by server and job (the `srv` and `j` URL parameters), and compared too;
//! 3. starts node_exporter on a loopback port;
//! 4. starts both servers with the same configuration ([`config_text`]): one job per
//!    payload plus the jobs of [`EXTRA_JOBS`] (honor_labels, honor_timestamps, metric
//!    relabelling, limits, scrape protocols, fallback protocol, NHCB conversion), all
//!    scraped every second;
//! 5. after ~7 scrapes queries both with `{__name__=~".+"}[4s]` at one fixed time and
//!    compares every series's sample count and values (timestamps differ between the two
//!    servers and are not compared; node_exporter's values and every
//!    `scrape_duration_seconds` are not compared either), then `/api/v1/targets` (health
//!    and lastError per job), `/api/v1/targets/metadata` and `/api/v1/metadata`;
//! 6. makes every payload answer 503 and, after three more scrapes, compares the series an
//!    instant query still returns (stale markers end the others);
//! 7. with `--ct-zero`, the same with `--enable-feature=created-timestamp-zero-ingestion`.
//!
//! Each difference is printed (the payload server's and node_exporter's addresses as
//! `PAYLOAD` and `NODE`); `testdata/scrapediff/known-differences.txt` lists the ones
//! explained (one prefix a line, `*` matching any text, `#` comments; a line tagged
//! `[ct-zero] ` applies to the `--ct-zero` run only). Fails on any other difference.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::servers::{self, Server, fresh_dir};
use crate::workspace_root;

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROTOBUF: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// Jobs beyond one per payload: name, payload path (as served), extra YAML lines of the
/// job (indented by four spaces).
pub(crate) const EXTRA_JOBS: &[(&str, &str, &str)] = &[
    (
        "honor_labels_true",
        "/text_label_conflict",
        "honor_labels: true",
    ),
    (
        "honor_timestamps_false",
        "/text_timestamps",
        "honor_timestamps: false",
    ),
    (
        "track_timestamps_staleness",
        "/text_timestamps",
        "track_timestamps_staleness: true",
    ),
    (
        "metric_relabel",
        "/text_edge",
        "metric_relabel_configs:\n\
         \x20     - source_labels: [__name__, v]\n\
         \x20       regex: special_values;nan\n\
         \x20       action: drop\n\
         \x20     - source_labels: [path]\n\
         \x20       regex: 'C:\\\\(.*)'\n\
         \x20       target_label: drive_path\n\
         \x20       replacement: 'd=$1'\n\
         \x20     - regex: nl\n\
         \x20       action: labeldrop\n\
         \x20     - source_labels: [__name__]\n\
         \x20       regex: 'untyped_metric'\n\
         \x20       target_label: __name__\n\
         \x20       replacement: renamed_untyped",
    ),
    (
        "metric_relabel_reserved",
        "/text_reserved_labels",
        "metric_relabel_configs:\n\
         \x20     - regex: '__tmp_(.+)'\n\
         \x20       action: labelmap\n\
         \x20       replacement: 'tmp_$1'",
    ),
    ("sample_limit_exceeded", "/classic", "sample_limit: 5"),
    ("sample_limit_ok", "/classic", "sample_limit: 100"),
    ("label_limit", "/text_edge", "label_limit: 2"),
    (
        "label_name_length_limit",
        "/text_edge",
        "label_name_length_limit: 3",
    ),
    (
        "label_value_length_limit",
        "/text_edge",
        "label_value_length_limit: 5",
    ),
    ("body_size_limit", "/classic", "body_size_limit: 100B"),
    (
        "protocols_text_first",
        "/om_basic",
        "scrape_protocols: [PrometheusText0.0.4, OpenMetricsText1.0.0]",
    ),
    (
        "protocols_om_only",
        "/om_basic",
        "scrape_protocols: [OpenMetricsText1.0.0]",
    ),
    (
        "protocols_text1",
        "/text_edge",
        "scrape_protocols: [PrometheusText1.0.0, PrometheusProto]",
    ),
    ("no_content_type", "/notype/text_edge", ""),
    (
        "fallback_text",
        "/notype/text_edge",
        "fallback_scrape_protocol: PrometheusText0.0.4",
    ),
    (
        "fallback_om",
        "/notype/om_basic",
        "fallback_scrape_protocol: OpenMetricsText1.0.0",
    ),
    (
        "nhcb",
        "/classic",
        "convert_classic_histograms_to_nhcb: true",
    ),
    (
        "nhcb_keep_classic",
        "/classic",
        "convert_classic_histograms_to_nhcb: true\n    always_scrape_classic_histograms: true",
    ),
    (
        "nhcb_om",
        "/om_basic",
        "convert_classic_histograms_to_nhcb: true",
    ),
    (
        "always_classic",
        "/classic",
        "always_scrape_classic_histograms: true",
    ),
    (
        "protobuf_always_classic",
        "/protobuf",
        "always_scrape_classic_histograms: true",
    ),
    (
        "protobuf_nhcb",
        "/protobuf",
        "convert_classic_histograms_to_nhcb: true",
    ),
    (
        "protobuf_proto_first",
        "/protobuf",
        "scrape_protocols: [PrometheusProto, OpenMetricsText1.0.0]",
    ),
];

/// The job scraping node_exporter (only its series and metadata are compared).
const NODE_JOB: &str = "node";

/// A payload: URL path (`/<stem>`), Content-Type, bytes.
#[derive(Clone, Debug)]
pub(crate) struct Payload {
    pub(crate) path: String,
    pub(crate) content_type: &'static str,
    pub(crate) body: Vec<u8>,
}

/// Reads the payloads of `dir` (`.prom`, `.om`, `.pb`), sorted by name.
pub(crate) fn load_payloads(dir: &Path) -> Result<Vec<Payload>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = e?.path();
        let content_type = match path.extension().and_then(|e| e.to_str()) {
            Some("prom") => TEXT,
            Some("om") => OPENMETRICS,
            Some("pb") => PROTOBUF,
            _ => continue,
        };
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .context("payload name")?;
        out.push(Payload {
            path: format!("/{stem}"),
            content_type,
            body: std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Replaces `@NOW@` (ms) and `@NOWSEC@` (seconds with three decimals) in a text payload.
pub(crate) fn substitute_now(body: &[u8], now_ms: i64) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(body) else {
        return body.to_vec();
    };
    if !text.contains("@NOW") {
        return body.to_vec();
    }
    text.replace("@NOWSEC@", &servers::api_time(now_ms))
        .replace("@NOW@", &now_ms.to_string())
        .into_bytes()
}

/// The scrape request headers recorded per (server, job), from the `srv` and `j` URL
/// parameters.
type Seen = Arc<Mutex<BTreeMap<(String, String), String>>>;

/// The payload server: a thread accepting on a loopback port.
struct PayloadServer {
    addr: String,
    down: Arc<AtomicBool>,
    seen: Seen,
}

impl PayloadServer {
    fn start(payloads: Vec<Payload>) -> Result<PayloadServer> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the payload server")?;
        let addr = listener.local_addr()?.to_string();
        let down = Arc::new(AtomicBool::new(false));
        let seen: Seen = Arc::default();
        let payloads = Arc::new(payloads);
        let (d, s) = (down.clone(), seen.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (p, d, s) = (payloads.clone(), d.clone(), s.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &p, &d, &s);
                });
            }
        });
        Ok(PayloadServer { addr, down, seen })
    }
}

/// Answers one request on `conn` (then closes it).
fn serve(conn: TcpStream, payloads: &[Payload], down: &AtomicBool, seen: &Seen) -> Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut r = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if matches!(
                k.as_str(),
                "accept" | "accept-encoding" | "x-prometheus-scrape-timeout-seconds"
            ) {
                headers.push(format!("{k}: {}", v.trim()));
            }
        }
    }
    headers.sort();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or("?")
            .to_string()
    };
    seen.lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .insert((param("srv"), param("j")), headers.join("\n"));
    let (plain, typed) = match path.strip_prefix("/notype") {
        Some(rest) => (rest, false),
        None => (path, true),
    };
    let mut w = conn;
    let found = payloads.iter().find(|p| p.path == plain);
    match found {
        Some(p) if !down.load(Ordering::SeqCst) => {
            let body = substitute_now(&p.body, model::timestamp::now());
            let mut head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            if typed {
                head.push_str(&format!("Content-Type: {}\r\n", p.content_type));
            }
            head.push_str("\r\n");
            w.write_all(head.as_bytes())?;
            w.write_all(&body)?;
        }
        _ => {
            let status = if found.is_some() {
                "503 Service Unavailable"
            } else {
                "404 Not Found"
            };
            w.write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )?;
        }
    }
    w.flush()?;
    Ok(())
}

/// The configuration both servers run (`srv` tells the payload server who is asking).
pub(crate) fn config_text(
    srv: &str,
    payload_addr: &str,
    node_addr: Option<&str>,
    payloads: &[Payload],
) -> String {
    let mut out = String::from(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1m\nscrape_configs:\n",
    );
    let job = |out: &mut String, name: &str, path: &str, addr: &str, extra: &str| {
        out.push_str(&format!(
            "  - job_name: {name}\n    metrics_path: {path}\n    params:\n      srv: [{srv}]\n      j: [{name}]\n    static_configs:\n      - targets: ['{addr}']\n"
        ));
        if !extra.is_empty() {
            out.push_str(&format!("    {extra}\n"));
        }
    };
    for p in payloads {
        job(&mut out, &p.path[1..], &p.path, payload_addr, "");
    }
    for (name, path, extra) in EXTRA_JOBS {
        job(&mut out, name, path, payload_addr, extra);
    }
    if let Some(node) = node_addr {
        job(&mut out, NODE_JOB, "/metrics", node, "");
    }
    out
}

/// The canonical name of a series from the API's `metric` object: `name{k="v",...}` with
/// labels sorted.
pub(crate) fn series_key(metric: &Value) -> String {
    let Some(obj) = metric.as_object() else {
        return metric.to_string();
    };
    let name = obj.get("__name__").and_then(Value::as_str).unwrap_or("");
    let mut labels: Vec<(&String, String)> = obj
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().escape_debug().to_string()))
        .collect();
    labels.sort();
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

/// Whether the values of series `key` are compared (not node_exporter's, not the scrape
/// durations).
pub(crate) fn values_compared(key: &str) -> bool {
    !key.starts_with("scrape_duration_seconds{") && !key.contains(&format!("job=\"{NODE_JOB}\""))
}

/// One server's stored series from a matrix or vector result: key to `n=COUNT VALUES`
/// (values are `-` where not compared).
pub(crate) fn series_from_result(body: &Value) -> Result<BTreeMap<String, String>> {
    let result = body
        .pointer("/data/result")
        .and_then(Value::as_array)
        .with_context(|| format!("no data.result in {body}"))?;
    let mut out = BTreeMap::new();
    for s in result {
        let key = series_key(&s["metric"]);
        let mut vals: Vec<String> = Vec::new();
        for field in ["values", "histograms"] {
            for v in s[field].as_array().into_iter().flatten() {
                vals.push(match &v[1] {
                    Value::String(f) => f.clone(),
                    other => other.to_string(),
                });
            }
        }
        for field in ["value", "histogram"] {
            if let Some(v) = s.get(field) {
                vals.push(match &v[1] {
                    Value::String(f) => f.clone(),
                    other => other.to_string(),
                });
            }
        }
        let shown = if values_compared(&key) {
            format!("n={} {}", vals.len(), vals.join(" "))
        } else {
            "-".to_string()
        };
        out.insert(key, shown);
    }
    Ok(out)
}

/// `/api/v1/targets`: `job` to `health lastError`.
pub(crate) fn targets_from(body: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for t in body
        .pointer("/data/activeTargets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let job = t["scrapePool"].as_str().unwrap_or("?").to_string();
        let health = t["health"].as_str().unwrap_or("?");
        let err = t["lastError"].as_str().unwrap_or("");
        out.insert(job, format!("{health} {err:?}"));
    }
    out
}

/// `/api/v1/targets/metadata`: `job metric` to `type help unit`.
pub(crate) fn target_metadata_from(body: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for m in body
        .pointer("/data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let job = m
            .pointer("/target/job")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let metric = m["metric"].as_str().unwrap_or("?");
        out.insert(
            format!("{job} {metric}"),
            format!(
                "{} {:?} {:?}",
                m["type"].as_str().unwrap_or("?"),
                m["help"].as_str().unwrap_or(""),
                m["unit"].as_str().unwrap_or("")
            ),
        );
    }
    out
}

/// `/api/v1/metadata`: metric to its entries (sorted).
pub(crate) fn metadata_from(body: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(obj) = body.pointer("/data").and_then(Value::as_object) {
        for (metric, entries) in obj {
            let mut list: Vec<String> = entries
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    format!(
                        "{} {:?} {:?}",
                        e["type"].as_str().unwrap_or("?"),
                        e["help"].as_str().unwrap_or(""),
                        e["unit"].as_str().unwrap_or("")
                    )
                })
                .collect();
            list.sort();
            out.insert(metric.clone(), list.join(" | "));
        }
    }
    out
}

/// The differences of two maps, each `SECTION KEY: ...`.
pub(crate) fn diff_maps(
    section: &str,
    ours: &BTreeMap<String, String>,
    theirs: &BTreeMap<String, String>,
) -> Vec<String> {
    diff_maps_by(section, ours, theirs, |a, b| a == b)
}

/// The differences of two maps whose values `same` compares, each `SECTION KEY: ...`.
pub(crate) fn diff_maps_by<V: std::fmt::Display>(
    section: &str,
    ours: &BTreeMap<String, V>,
    theirs: &BTreeMap<String, V>,
    same: impl Fn(&V, &V) -> bool,
) -> Vec<String> {
    let keys: BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
    let mut out = Vec::new();
    for k in keys {
        match (ours.get(k), theirs.get(k)) {
            (Some(a), Some(b)) if same(a, b) => {}
            (Some(a), Some(b)) => out.push(format!("{section} {k}: ours {a} | prometheus {b}")),
            (Some(a), None) => out.push(format!("{section} {k}: only ours ({a})")),
            (None, Some(b)) => out.push(format!("{section} {k}: only prometheus ({b})")),
            (None, None) => {}
        }
    }
    out
}

/// Prints each difference, `known` (matched by [`is_known`]) or `DIFF` (unexplained), and
/// returns how many of each.
pub(crate) fn print_diffs(diffs: &[String], known: &[String]) -> (usize, usize) {
    let (known_n, new): (Vec<&String>, Vec<&String>) =
        diffs.iter().partition(|d| is_known(d, known));
    for d in &known_n {
        println!("known {d}");
    }
    for d in &new {
        println!("DIFF {d}");
    }
    (known_n.len(), new.len())
}

/// Whether `diff` starts with one of the `known` patterns (`*` matches any text).
pub(crate) fn is_known(diff: &str, known: &[String]) -> bool {
    known.iter().any(|k| {
        let mut parts = k.split('*');
        let first = parts.next().unwrap_or_default();
        let Some(mut rest) = diff.strip_prefix(first) else {
            return false;
        };
        for part in parts {
            match rest.find(part) {
                Some(i) => rest = &rest[i + part.len()..],
                None => return false,
            }
        }
        true
    })
}

/// The known patterns of one run: lines tagged `[ct-zero] ` apply only to the
/// `--ct-zero` run (tag removed), the others to every run.
pub(crate) fn known_for_run(known: &[String], ct_zero: bool) -> Vec<String> {
    known
        .iter()
        .filter_map(|k| match k.strip_prefix("[ct-zero] ") {
            Some(rest) => ct_zero.then(|| rest.to_string()),
            None => Some(k.clone()),
        })
        .collect()
}

fn get_json(server: &Server, path: &str) -> Result<Value> {
    let (status, body) = servers::request(&server.addr, "GET", path, None)?;
    if status != 200 {
        bail!(
            "{} {path}: status {status}: {}",
            server.name,
            String::from_utf8_lossy(&body)
        );
    }
    serde_json::from_slice(&body).with_context(|| format!("{} {path}: not JSON", server.name))
}

fn query(server: &Server, expr: &str, time_ms: i64) -> Result<Value> {
    let body = query_answer(server, expr, time_ms)?;
    serde_json::from_slice(&body).with_context(|| format!("{}: query answer not JSON", server.name))
}

/// The body of an instant query of `expr` at `time_ms` (POSTed as a form); an error unless
/// the status is 200.
pub(crate) fn query_answer(server: &Server, expr: &str, time_ms: i64) -> Result<Vec<u8>> {
    let (status, body) = server.post_form(
        "/api/v1/query",
        &[("query", expr), ("time", &servers::api_time(time_ms))],
    )?;
    if status != 200 {
        bail!(
            "{} query {expr}: status {status}: {}",
            server.name,
            String::from_utf8_lossy(&body)
        );
    }
    Ok(body)
}

/// node_exporter on a free loopback port, killed on drop.
struct NodeExporter {
    addr: String,
    child: Child,
}

impl NodeExporter {
    fn start(log: &Path) -> Result<NodeExporter> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(log)?;
        let child = Command::new("/usr/bin/prometheus-node-exporter")
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting prometheus-node-exporter")?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while servers::request(&addr, "GET", "/metrics", None).is_err() {
            if Instant::now() > deadline {
                bail!("node_exporter not answering on {addr}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(NodeExporter { addr, child })
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the task.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let no_build = args.iter().any(|a| a == "--no-build");
    let ct_zero = args.iter().any(|a| a == "--ct-zero");
    let root = workspace_root();
    let ours_bin = servers::our_binary(no_build, true)?;
    let theirs_bin = servers::announce_peers(&ours_bin)?;
    let payloads = load_payloads(&root.join("testdata/scrapediff"))?;
    let known = servers::load_known("scrapediff")?;
    let work = fresh_dir("scrapediff")?;
    let payload_server = PayloadServer::start(payloads.clone())?;
    let node = NodeExporter::start(&work.join("node_exporter.log"))?;
    let mut runs = vec![Vec::new()];
    if ct_zero {
        runs.push(vec!["--enable-feature=created-timestamp-zero-ingestion"]);
    }
    let mut unexplained = 0;
    for (i, flags) in runs.iter().enumerate() {
        payload_server.down.store(false, Ordering::SeqCst);
        payload_server
            .seen
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .clear();
        let label = if flags.is_empty() {
            "default".to_string()
        } else {
            flags.join(" ")
        };
        println!("== run {i}: {label}");
        let diffs = compare_once(
            &work.join(format!("run{i}")),
            &ours_bin,
            &theirs_bin,
            flags,
            &payload_server,
            &node.addr,
            &payloads,
        )?;
        let known_here = known_for_run(&known, !flags.is_empty());
        let (known_n, new) = print_diffs(&diffs, &known_here);
        println!(
            "== run {i}: {} differences ({known_n} known, {new} unexplained)",
            diffs.len()
        );
        unexplained += new;
    }
    if unexplained > 0 {
        bail!("scrapediff: {unexplained} unexplained difference(s)");
    }
    Ok(())
}

/// One comparison: both servers up on `flags`, compared, stopped. Returns the differences.
fn compare_once(
    work: &Path,
    ours_bin: &Path,
    theirs_bin: &Path,
    flags: &[&str],
    payload_server: &PayloadServer,
    node_addr: &str,
    payloads: &[Payload],
) -> Result<Vec<String>> {
    let ours = Server::start_with_config("ours", ours_bin, &work.join("ours"), flags, |_| {
        config_text("ours", &payload_server.addr, Some(node_addr), payloads)
    })?;
    let theirs = Server::start_with_config(
        "prometheus",
        theirs_bin,
        &work.join("prometheus"),
        flags,
        |_| {
            config_text(
                "prometheus",
                &payload_server.addr,
                Some(node_addr),
                payloads,
            )
        },
    )?;
    println!("== both up; waiting 14s for scrapes (Prometheus applies targets within 5s)");
    std::thread::sleep(Duration::from_secs(14));
    // A time both have scraped (every scrape before it is committed) for four
    // intervals: the window (t-4s, t] holds four samples of each series.
    let t = model::timestamp::now() - 1500;
    let expr = "{__name__=~\".+\"}[4s]";
    let mut diffs = Vec::new();
    let (a, b) = (
        series_from_result(&query(&ours, expr, t)?)?,
        series_from_result(&query(&theirs, expr, t)?)?,
    );
    let n_series = a.len().max(b.len());
    let n_values: usize = b
        .values()
        .filter_map(|v| v.strip_prefix("n="))
        .filter_map(|v| v.split(' ').next()?.parse::<usize>().ok())
        .sum();
    diffs.extend(diff_maps("series", &a, &b));
    diffs.extend(diff_maps(
        "targets",
        &targets_from(&get_json(&ours, "/api/v1/targets")?),
        &targets_from(&get_json(&theirs, "/api/v1/targets")?),
    ));
    diffs.extend(diff_maps(
        "target-metadata",
        &target_metadata_from(&get_json(&ours, "/api/v1/targets/metadata")?),
        &target_metadata_from(&get_json(&theirs, "/api/v1/targets/metadata")?),
    ));
    diffs.extend(diff_maps(
        "metadata",
        &metadata_from(&get_json(&ours, "/api/v1/metadata")?),
        &metadata_from(&get_json(&theirs, "/api/v1/metadata")?),
    ));
    let headers = |srv: &str| -> Result<BTreeMap<String, String>> {
        Ok(payload_server
            .seen
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .iter()
            .filter(|((s, _), _)| s == srv)
            .map(|((_, p), h)| (p.clone(), h.replace('\n', "; ")))
            .collect())
    };
    diffs.extend(diff_maps(
        "request-headers",
        &headers("ours")?,
        &headers("prometheus")?,
    ));

    // Staleness: every payload now answers 503.
    payload_server.down.store(true, Ordering::SeqCst);
    println!("== payloads down; waiting 4s");
    std::thread::sleep(Duration::from_secs(4));
    let t2 = model::timestamp::now() - 500;
    let live = "{__name__=~\".+\",job!=\"node\"}";
    let (a2, b2) = (
        series_from_result(&query(&ours, live, t2)?)?,
        series_from_result(&query(&theirs, live, t2)?)?,
    );
    // Only which series are still there (their values are the failed scrapes' report
    // series, compared above while up).
    let keys = |m: BTreeMap<String, String>| -> BTreeMap<String, String> {
        m.into_keys().map(|k| (k, String::new())).collect()
    };
    diffs.extend(diff_maps("after-down", &keys(a2), &keys(b2)));
    println!(
        "== compared {n_series} series ({n_values} samples of Prometheus's), {} differences",
        diffs.len()
    );
    drop(ours);
    drop(theirs);
    // Ports change from run to run: known-differences.txt names them PAYLOAD and NODE.
    Ok(diffs
        .into_iter()
        .map(|d| {
            d.replace(&payload_server.addr, "PAYLOAD")
                .replace(node_addr, "NODE")
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_key_sorts_labels_and_escapes_values() {
        let m: Value =
            serde_json::from_str(r#"{"b":"x\"y","__name__":"m","a":"1\n"}"#).expect("json");
        assert_eq!(series_key(&m), r#"m{a="1\n",b="x\"y"}"#);
    }

    #[test]
    fn series_from_result_counts_values_and_skips_uncompared() {
        let body: Value = serde_json::from_str(
            r#"{"data":{"result":[
                {"metric":{"__name__":"a","job":"j"},"values":[[1,"1"],[2,"NaN"]]},
                {"metric":{"__name__":"scrape_duration_seconds","job":"j"},"values":[[1,"0.1"]]},
                {"metric":{"__name__":"h","job":"node"},"values":[[1,"5"]]},
                {"metric":{"__name__":"n","job":"j"},"histograms":[[1,{"count":"2"}]]}
            ]}}"#,
        )
        .expect("json");
        let got = series_from_result(&body).expect("result");
        assert_eq!(got[r#"a{job="j"}"#], "n=2 1 NaN");
        assert_eq!(got[r#"scrape_duration_seconds{job="j"}"#], "-");
        assert_eq!(got[r#"h{job="node"}"#], "-");
        assert_eq!(got[r#"n{job="j"}"#], r#"n=1 {"count":"2"}"#);
    }

    #[test]
    fn diff_maps_reports_changed_and_one_sided_keys() {
        let a: BTreeMap<String, String> = [("x", "1"), ("y", "2"), ("z", "3")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let b: BTreeMap<String, String> = [("x", "1"), ("y", "9"), ("w", "0")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            diff_maps("s", &a, &b),
            vec![
                "s w: only prometheus (0)",
                "s y: ours 2 | prometheus 9",
                "s z: only ours (3)"
            ]
        );
        assert!(is_known("s y: ours 2", &["s y:".to_string()]));
        assert!(!is_known("s z: only ours", &["s y:".to_string()]));
        let glob = ["s m{*job=\"n*: only ours".to_string()];
        assert!(is_known("s m{a=\"1\",job=\"nhcb\"}: only ours (x)", &glob));
        assert!(!is_known("s m{a=\"1\",job=\"nhcb\"}: ours 1", &glob));
        assert!(!is_known("t m{job=\"nhcb\"}: only ours", &glob));
    }

    #[test]
    fn tagged_known_differences_apply_to_their_run_only() {
        let known = vec!["a".to_string(), "[ct-zero] b".to_string()];
        assert_eq!(known_for_run(&known, false), ["a"]);
        assert_eq!(known_for_run(&known, true), ["a", "b"]);
    }

    #[test]
    fn targets_and_metadata_are_keyed_by_job_and_metric() {
        let t: Value = serde_json::from_str(
            r#"{"data":{"activeTargets":[{"scrapePool":"j","health":"down","lastError":"boom"}]}}"#,
        )
        .expect("json");
        assert_eq!(targets_from(&t)["j"], "down \"boom\"");
        let m: Value = serde_json::from_str(
            r#"{"data":[{"target":{"job":"j"},"metric":"m","type":"gauge","help":"h","unit":""}]}"#,
        )
        .expect("json");
        assert_eq!(target_metadata_from(&m)["j m"], "gauge \"h\" \"\"");
        let md: Value = serde_json::from_str(
            r#"{"data":{"m":[{"type":"gauge","help":"b","unit":""},{"type":"counter","help":"a","unit":""}]}}"#,
        )
        .expect("json");
        assert_eq!(
            metadata_from(&md)["m"],
            "counter \"a\" \"\" | gauge \"b\" \"\""
        );
    }

    #[test]
    fn payload_now_is_substituted() {
        assert_eq!(
            substitute_now(b"a 1 @NOW@\nb 2 @NOWSEC@\n", 1_700_000_000_123),
            b"a 1 1700000000123\nb 2 1700000000.123\n".to_vec()
        );
    }

    #[test]
    fn config_has_one_job_per_payload_and_the_extra_jobs() {
        let payloads = vec![Payload {
            path: "/p".into(),
            content_type: TEXT,
            body: Vec::new(),
        }];
        let cfg = config_text("ours", "127.0.0.1:1", Some("127.0.0.1:2"), &payloads);
        assert!(cfg.contains("  - job_name: p\n    metrics_path: /p\n"));
        assert!(cfg.contains("srv: [ours]\n      j: [p]\n"));
        assert_eq!(cfg.matches("job_name:").count(), 1 + EXTRA_JOBS.len() + 1);
    }
}
