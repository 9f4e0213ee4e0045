//! End-to-end: runs the built `prometheus` binary on a loopback port with a temporary data
//! directory, talks to it over HTTP and stops it the ways an operator would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

mod agent;
mod alerting;
mod datadir_interop;
mod exemplars;
mod features;
mod logging;
mod metadata;
mod metric_families;
mod native_histograms;
mod notifications;
mod otlp;
mod query_log;
mod remote;
mod snapshot;
mod tsdb_metrics;
mod wal_replay;

/// The example configuration shipped in `documentation/examples`.
fn example_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../documentation/examples/prometheus.yml")
}

/// This server's binary.
const OURS: &str = env!("CARGO_BIN_EXE_prometheus");

/// Debian's Prometheus 2.42.
const REAL: &str = "/usr/bin/prometheus";

/// Whether Debian's Prometheus is installed; when it is not, says so (and fails under `CI`).
#[allow(
    clippy::print_stderr,
    reason = "the skip notice, as in the tests themselves"
)]
fn real_installed() -> bool {
    if Path::new(REAL).is_file() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{REAL} is not installed (package prometheus)"
    );
    eprintln!("skipping: {REAL} is not installed");
    false
}

/// The `--storage.tsdb.path` flag for `dir`.
fn tsdb_path(dir: &Path) -> String {
    format!("--storage.tsdb.path={}", dir.display())
}

/// Writes `text` to `dir/prometheus-{port}.yml` and returns that path.
fn write_config(dir: &Path, port: u16, text: &str) -> PathBuf {
    let file = dir.join(format!("prometheus-{port}.yml"));
    std::fs::write(&file, text).unwrap();
    file
}

/// Spawns this server in agent mode on `port` with its WAL in `data` (which outlives the
/// process) and `extra` flags; does not wait until it is ready.
fn start_agent(config: &Path, data: &Path, port: u16, extra: &[&str]) -> Prometheus {
    let args = [
        "--agent".to_owned(),
        format!("--storage.agent.path={}", data.display()),
        "--scrape.discovery-reload-interval=100ms".to_owned(),
    ]
    .into_iter()
    .chain(extra.iter().map(|s| (*s).to_owned()));
    Prometheus::spawn(OURS, config, port, args, tempfile::tempdir().unwrap())
}

/// One request a [`serve_http`] server got.
struct TestRequest {
    /// The request line and headers, each line with its `\r\n`.
    head: String,
    body: Vec<u8>,
}

impl TestRequest {
    /// Whether a header `name` (any case) holds `part`.
    fn header_contains(&self, name: &str, part: &str) -> bool {
        self.head.lines().skip(1).any(|l| {
            l.split_once(':')
                .is_some_and(|(k, v)| k.trim().eq_ignore_ascii_case(name) && v.contains(part))
        })
    }
}

/// A whole HTTP/1.1 response with `Content-Length` (and `extra_headers`, each ending in
/// `\r\n`).
fn http_response(status: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\n{extra_headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A loopback HTTP/1.1 server on threads until the test process ends: every request (on
/// keep-alive connections too) is answered with the bytes `answer` makes of it. Returns
/// its port.
fn serve_http(answer: impl Fn(&TestRequest) -> Vec<u8> + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || serve_connection(stream, &*answer));
        }
    });
    port
}

/// The requests of one connection, until the client closes it.
fn serve_connection(stream: TcpStream, answer: &dyn Fn(&TestRequest) -> Vec<u8>) {
    use std::io::BufRead as _;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut reader = std::io::BufReader::new(stream);
    loop {
        let mut head = String::new();
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
            head.push_str(&line);
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let out = answer(&TestRequest { head, body });
        if reader.get_mut().write_all(&out).is_err() {
            return;
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Prometheus {
    child: Child,
    port: u16,
    _data: tempfile::TempDir,
}

impl Prometheus {
    /// Spawns `bin` listening on 127.0.0.1:`port` with `--config.file=config` and `args`
    /// (storage flags included); `keep`, usually its data directory, lives as long as the
    /// process. Does not wait until it is ready.
    fn spawn<I>(bin: &str, config: &Path, port: u16, args: I, keep: tempfile::TempDir) -> Prometheus
    where
        I: IntoIterator,
        I::Item: AsRef<OsStr>,
    {
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
        Prometheus {
            child,
            port,
            _data: keep,
        }
    }

    /// Spawns `bin` on `port` over a fresh TSDB directory, with `extra` flags.
    fn start_bin(bin: &str, config: &Path, port: u16, extra: &[&str]) -> Prometheus {
        let data = tempfile::tempdir().unwrap();
        let args =
            std::iter::once(tsdb_path(data.path())).chain(extra.iter().map(|s| (*s).to_owned()));
        Prometheus::spawn(bin, config, port, args, data)
    }

    /// Spawns this server on a free port over a fresh TSDB directory, with `extra` flags.
    fn start(config: &Path, extra: &[&str]) -> Prometheus {
        Prometheus::start_bin(OURS, config, free_port(), extra)
    }

    /// As [`Prometheus::start_bin`], and waits until it is ready.
    fn ready(bin: &str, config: &Path, port: u16, extra: &[&str]) -> Prometheus {
        let mut p = Prometheus::start_bin(bin, config, port, extra);
        p.wait_ready();
        p
    }

    fn request(&self, method: &str, path: &str) -> Option<(u16, String)> {
        http(self.port, method, path)
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path).expect("server answers")
    }

    /// Polls `/-/ready` until it answers 200.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some((200, _)) = self.request("GET", "/-/ready") {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("prometheus exited early with {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("prometheus did not become ready");
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name}");
    }

    /// Waits for the process to exit, for at most `limit`.
    fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("prometheus did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `path` until its body contains every one of `want`; returns that body.
fn wait_for(p: &Prometheus, path: &str, want: &[&str], limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let (status, body) = p.get(path);
        if status == 200 && want.iter().all(|w| body.contains(w)) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never held {want:?} on port {}; last answer {status}: {body}",
            p.port
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A configuration that scrapes this server itself on `port` every second (job `self`);
/// further sections (`remote_write`, ...) can be appended.
fn self_scrape_config(port: u16) -> String {
    format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    )
}

/// Starts this server scraping itself every second (job `self`) and waits until its first
/// scrape is stored and queried; the temporary directory holds the configuration.
fn self_scraping() -> (Prometheus, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, &self_scrape_config(port));
    let mut p = Prometheus::start_bin(
        OURS,
        &config,
        port,
        &["--scrape.discovery-reload-interval=100ms"],
    );
    p.wait_ready();
    wait_for(
        &p,
        "/api/v1/query?query=up",
        &[r#""job":"self""#],
        Duration::from_secs(60),
    );
    (p, dir)
}

/// Sends one HTTP/1.1 request and returns (status, body); `None` if the server is not
/// accepting connections (yet).
fn http(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let chunked = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Some((status, body))
}

/// POSTs `body` to `path` with `headers` (each line ending in `\r\n`); returns (status,
/// response head, response body).
fn post(port: u16, path: &str, headers: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, raw[split + 4..].to_vec())
}

/// POSTs a snappy-compressed remote-write 1.0 body to `/api/v1/write`; returns (status, body).
fn post_write(port: u16, body: &[u8]) -> (u16, String) {
    let (status, _, body) = post(
        port,
        "/api/v1/write",
        "Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\n",
        body,
    );
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A remote-write request as the snappy-compressed protobuf body Prometheus posts.
fn snappy(req: &prompb::WriteRequest) -> Vec<u8> {
    use prompb::Message as _;
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap()
}

fn label(name: &str, value: &str) -> prompb::Label {
    prompb::Label {
        name: name.into(),
        value: value.into(),
    }
}

/// A write request holding one float sample of `name{job="e2e"}`.
fn e2e_write(name: &str, value: f64, t: i64) -> prompb::WriteRequest {
    prompb::WriteRequest {
        timeseries: vec![prompb::TimeSeries {
            labels: vec![label("__name__", name), label("job", "e2e")],
            samples: vec![prompb::Sample {
                value,
                timestamp: t,
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// An integer native histogram at `t`: count 5, sum 2.5, zero bucket 1 (threshold 0.001),
/// schema 0 buckets (0.5,1] 1 and (1,2] 3 (delta-encoded 1, 2).
fn histogram_5(t: i64) -> prompb::Histogram {
    prompb::Histogram {
        count: Some(prompb::histogram::Count::CountInt(5)),
        zero_count: Some(prompb::histogram::ZeroCount::ZeroCountInt(1)),
        zero_threshold: 0.001,
        sum: 2.5,
        schema: 0,
        positive_spans: vec![prompb::BucketSpan {
            offset: 0,
            length: 2,
        }],
        positive_deltas: vec![1, 2],
        timestamp: t,
        ..Default::default()
    }
}

/// Now, in milliseconds since the epoch.
fn now_ms() -> i64 {
    model::timestamp::now()
}

/// Prometheus 3.5.3 (`PROMETHEUS3_BIN`, else Debian's package unpacked under
/// `target/peers/` by `.ci/run` or `cargo xtask`); `None`, with a notice, when it is absent
/// (fetching it is best effort: Debian drops old files from its pool).
#[allow(clippy::print_stderr, reason = "the skip notice")]
fn prometheus3() -> Option<String> {
    let bin = std::env::var("PROMETHEUS3_BIN").unwrap_or_else(|_| {
        format!(
            "{}/../../target/peers/prometheus_3.5.3+ds1-6_amd64/usr/bin/prometheus",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    if Path::new(&bin).is_file() {
        return Some(bin);
    }
    eprintln!("skipping: no Prometheus 3.5 at {bin}");
    None
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

#[test]
fn serves_queries_and_exits_zero_on_sigterm() {
    let mut p = Prometheus::start(&example_config(), &[]);
    p.wait_ready();

    let (status, body) = p.get("/api/v1/query?query=vector(1)&time=1435781451.781");
    assert_eq!(status, 200);
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1435781451.781,"1"]}]}}"#
    );
    let (status, body) = p.get("/api/v1/status/buildinfo");
    assert_eq!(status, 200);
    assert!(
        body.starts_with(&format!(
            r#"{{"status":"success","data":{{"version":"{}","#,
            env!("CARGO_PKG_VERSION")
        )),
        "{body}"
    );
    let (_, body) = p.get("/api/v1/status/config");
    assert!(body.contains(r#"job_name: prometheus"#), "{body}");
    let (status, body) = p.get("/api/v1/status/tsdb");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""headStats":{"numSeries":0,"#), "{body}");
    let (_, body) = p.get("/api/v1/status/flags");
    assert!(body.contains(r#""web.enable-lifecycle":"false""#), "{body}");
    // Without --web.enable-lifecycle, /-/quit is refused.
    let (status, body) = p.request("POST", "/-/quit").unwrap();
    assert_eq!(
        (status, body.as_str()),
        (403, "Lifecycle API is not enabled.")
    );

    p.signal("TERM");
    let status = p.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn broken_reload_keeps_the_old_config_and_quit_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::copy(example_config(), &config).unwrap();
    let mut p = Prometheus::start(&config, &["--web.enable-lifecycle"]);
    p.wait_ready();
    let (_, metrics) = p.get("/metrics");
    assert!(
        metrics.contains("prometheus_config_last_reload_successful 1\n"),
        "{metrics}"
    );

    std::fs::write(
        &config,
        "global:\n  bogus: 1\n  evaluation_interval: [1m]\n",
    )
    .unwrap();
    let (status, body) = p.request("POST", "/-/reload").unwrap();
    assert_eq!(status, 500, "{body}");
    // Prometheus 3.5's answer, go-yaml's wording included.
    let path = config.display();
    assert_eq!(
        body,
        format!(
            "failed to reload config: couldn't load configuration (--config.file=\"{path}\"): \
             parsing YAML file {path}: yaml: unmarshal errors:\n  line 2: field bogus not found in type config.plain\n  \
             line 3: cannot unmarshal !!seq into string\n"
        )
    );
    let (_, metrics) = p.get("/metrics");
    assert!(
        metrics.contains("prometheus_config_last_reload_successful 0\n"),
        "{metrics}"
    );
    let (_, body) = p.get("/api/v1/status/config");
    assert!(
        body.contains("job_name: prometheus"),
        "the old config stays: {body}"
    );

    // SIGHUP re-reads the file, which is valid again.
    std::fs::copy(example_config(), &config).unwrap();
    p.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, metrics) = p.get("/metrics");
        if metrics.contains("prometheus_config_last_reload_successful 1\n") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reload: {metrics}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let (status, body) = p.request("POST", "/-/quit").unwrap();
    assert_eq!(
        (status, body.as_str()),
        (200, "Requesting termination... Goodbye!")
    );
    let status = p.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn auto_reload_config_applies_a_changed_file_without_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  external_labels: {stage: one}\n").unwrap();
    let mut p = Prometheus::start(
        &config,
        &[
            "--enable-feature=auto-reload-config",
            "--config.auto-reload-interval=1s",
        ],
    );
    p.wait_ready();
    let (_, flags) = p.get("/api/v1/status/flags");
    assert!(
        flags.contains(r#""config.auto-reload-interval":"1s""#),
        "{flags}"
    );
    std::fs::write(&config, "global:\n  external_labels: {stage: two}\n").unwrap();
    wait_for(
        &p,
        "/api/v1/status/config",
        &["stage: two"],
        Duration::from_secs(15),
    );
    // A broken file is tried and refused; the last good one stays.
    std::fs::write(&config, "global:\n  scrape_interval: soon\n").unwrap();
    wait_for(
        &p,
        "/metrics",
        &["prometheus_config_last_reload_successful 0\n"],
        Duration::from_secs(15),
    );
    let (_, body) = p.get("/api/v1/status/config");
    assert!(body.contains("stage: two"), "{body}");
}

#[test]
fn listens_on_every_listen_address() {
    let second = free_port();
    let mut p = Prometheus::start(
        &example_config(),
        &[&format!("--web.listen-address=127.0.0.1:{second}")],
    );
    p.wait_ready();
    let (status, body) = http(second, "GET", "/-/healthy").expect("second address answers");
    assert_eq!(
        (status, body.as_str()),
        (200, "Prometheus Server is Healthy.\n")
    );
    p.signal("INT");
    assert_eq!(p.wait_exit(Duration::from_secs(5)).code(), Some(0));
}

#[test]
fn scrapes_itself() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    let port = free_port();
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .unwrap();
    let mut p = Prometheus::start_bin(
        OURS,
        &config,
        port,
        &["--scrape.discovery-reload-interval=100ms"],
    );
    p.wait_ready();
    let want = format!(
        r#"{{"metric":{{"__name__":"up","instance":"127.0.0.1:{port}","job":"prometheus"}},"value":"#
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = p.get("/api/v1/query?query=up");
        if body.contains(&want) && body.contains(r#","1"]}"#) {
            break;
        }
        assert!(Instant::now() < deadline, "never scraped itself: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, body) = p.get("/api/v1/targets");
    assert!(body.contains(r#""scrapePool":"prometheus""#), "{body}");
    assert!(body.contains(r#""health":"up""#), "{body}");
    assert!(
        body.contains(&format!(r#""scrapeUrl":"http://127.0.0.1:{port}/metrics""#)),
        "{body}"
    );
    let (_, body) = p.get("/api/v1/metadata?metric=prometheus_http_requests_total");
    assert_eq!(
        body,
        r#"{"status":"success","data":{"prometheus_http_requests_total":[{"type":"counter","help":"Counter of HTTP requests.","unit":""}]}}"#
    );
    let (_, body) =
        p.get("/api/v1/targets/metadata?metric=up&match_target=%7Bjob%3D%22prometheus%22%7D");
    assert_eq!(body, r#"{"status":"success","data":[]}"#);
    let (_, body) = p.get("/api/v1/scrape_pools");
    assert_eq!(
        body,
        r#"{"status":"success","data":{"scrapePools":["prometheus"]}}"#
    );
    // Its own metrics arrived too.
    let (_, body) = p.get("/api/v1/series?match[]=prometheus_build_info");
    assert!(body.contains(r#""job":"prometheus""#), "{body}");
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(5)).code(), Some(0));
}

/// The engine's, web handler's, template expander's and process's own families after
/// start-up, one self-scrape and one query: present with Prometheus's types, and the
/// values that must have moved have.
#[test]
fn self_metrics_engine_web_process_families() {
    // One scrape stored, then one query that finds it.
    let (mut p, _dir) = self_scraping();
    let (_, m) = p.get("/metrics");
    for (name, kind) in [
        ("net_conntrack_listener_conn_accepted_total", "counter"),
        ("net_conntrack_listener_conn_closed_total", "counter"),
        ("process_cpu_seconds_total", "counter"),
        ("process_network_receive_bytes_total", "counter"),
        ("process_network_transmit_bytes_total", "counter"),
        ("process_virtual_memory_max_bytes", "gauge"),
        ("prometheus_engine_queries", "gauge"),
        ("prometheus_engine_queries_concurrent_max", "gauge"),
        ("prometheus_engine_query_duration_seconds", "summary"),
        ("prometheus_engine_query_samples_total", "counter"),
        ("prometheus_http_request_duration_seconds", "histogram"),
        ("prometheus_http_response_size_bytes", "histogram"),
        ("prometheus_ready", "gauge"),
        (
            "prometheus_template_text_expansion_failures_total",
            "counter",
        ),
        ("prometheus_template_text_expansions_total", "counter"),
        ("prometheus_web_federation_errors_total", "counter"),
        ("prometheus_web_federation_warnings_total", "counter"),
        ("promhttp_metric_handler_requests_in_flight", "gauge"),
        ("promhttp_metric_handler_requests_total", "counter"),
    ] {
        assert!(
            m.contains(&format!("\n# TYPE {name} {kind}\n")),
            "no {kind} {name} in\n{m}"
        );
    }
    let value = |series: &str| -> f64 {
        m.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{m}"))
    };
    assert_eq!(value("prometheus_ready"), 1.0);
    assert_eq!(value("prometheus_engine_queries_concurrent_max"), 20.0);
    assert!(value("prometheus_engine_query_samples_total") >= 1.0);
    assert!(value("prometheus_engine_query_duration_seconds_count{slice=\"inner_eval\"}") >= 1.0);
    // The self-scrape and the test's own requests came through the listener.
    assert!(value("net_conntrack_listener_conn_accepted_total{listener_name=\"http\"}") >= 2.0);
    assert!(value("promhttp_metric_handler_requests_total{code=\"200\"}") >= 1.0);
    assert_eq!(value("promhttp_metric_handler_requests_in_flight"), 1.0);
    assert!(
        value("prometheus_http_request_duration_seconds_count{handler=\"/api/v1/query\"}") >= 1.0
    );
    assert!(value("prometheus_http_response_size_bytes_count{handler=\"/metrics\"}") >= 1.0);
    // Whole ticks of 10 ms: a young, idle server may not have spent one yet.
    assert!(value("process_cpu_seconds_total") >= 0.0);
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(5)).code(), Some(0));
}

#[test]
fn invalid_configs_are_logged_as_prometheus_3_5_logs_them() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs.yml");
    std::fs::write(&jobs, "scrape_configs:\n- job_name: a\n  bogus: 1\n").unwrap();
    let jobs_abs = jobs.display().to_string();
    let cases = [
        (
            "global:\n  scrape_interval: 1m\n   bad: x: y\n".to_string(),
            "msg=\"Error loading config (--config.file=CONFIG)\" file=CONFIG err=\"parsing YAML file CONFIG: yaml: line 3: mapping values are not allowed in this context\"".to_string(),
        ),
        (
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 2s\n".to_string(),
            "err=\"parsing YAML file CONFIG: global scrape timeout greater than scrape interval\"".to_string(),
        ),
        (
            "global: {foo: 1}\nscrape_configs:\n- job_name: a\n  honor_labels: maybe\n".to_string(),
            "err=\"parsing YAML file CONFIG: yaml: unmarshal errors:\\n  line 1: field foo not found in type config.plain\\n  line 4: cannot unmarshal !!str `maybe` into bool\"".to_string(),
        ),
        (
            format!("scrape_config_files: [{jobs_abs}]\n"),
            format!("msg=\"Error loading dynamic scrape config files from config (--config.file=\\\"CONFIG\\\")\" file=CONFIG err=\"\\\"{jobs_abs}\\\": yaml: unmarshal errors:\\n  line 3: field bogus not found in type config.ScrapeConfig\""),
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let config = dir.path().join(format!("bad{i}.yml"));
        std::fs::write(&config, text).unwrap();
        let data = tempfile::tempdir().unwrap();
        let out = Command::new(OURS)
            .arg(format!("--config.file={}", config.display()))
            .arg("--web.listen-address=127.0.0.1:0")
            .arg(tsdb_path(data.path()))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{text}");
        let log = String::from_utf8_lossy(&out.stderr);
        let want = want.replace("CONFIG", &config.display().to_string());
        assert!(log.contains(&want), "{text}: want {want}\nin\n{log}");
    }
}

#[test]
fn invalid_config_exits_two() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        "scrape_configs:\n  - job_name: a\n    nonsense: 1\n",
    )
    .unwrap();
    let mut p = Prometheus::start(&config, &[]);
    let status = p.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(2));
}
