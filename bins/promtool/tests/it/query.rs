//! `promtool query ...` and `check healthy|ready` against a real Prometheus 2.42 started
//! here on a free loopback port (scraping itself every second), our output compared with
//! the real promtool's against the same server.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{REAL_PROMTOOL, ours, run};

const REAL_PROMETHEUS: &str = "/usr/bin/prometheus";

/// A Prometheus child process, killed on drop.
pub(super) struct Server {
    child: Child,
    pub(super) url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a loopback port")
        .local_addr()
        .expect("local address")
        .port()
}

/// Starts Prometheus scraping itself and waits (bounded) until it has.
pub(super) fn start_prometheus() -> Option<Server> {
    let server = spawn_prometheus(None, true)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = run(ours(), &["query", "instant", &server.url, "up"]);
        if out.status.success() && String::from_utf8_lossy(&out.stdout).contains("job=\"self\"") {
            // Two more scrapes, so that a range of a few seconds is full.
            std::thread::sleep(Duration::from_secs(2));
            return Some(server);
        }
        assert!(
            Instant::now() < deadline,
            "prometheus did not scrape itself within 60 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Starts Prometheus on a free loopback port, on `data` (a fresh directory when `None`),
/// scraping itself every second when `self_scrape`, and waits (bounded) until it is ready.
pub(super) fn spawn_prometheus(
    data: Option<&std::path::Path>,
    self_scrape: bool,
) -> Option<Server> {
    spawn_prometheus_with(data, self_scrape, &[])
}

/// [`spawn_prometheus`] with extra server flags.
pub(super) fn spawn_prometheus_with(
    data: Option<&std::path::Path>,
    self_scrape: bool,
    extra: &[&str],
) -> Option<Server> {
    if !std::path::Path::new(REAL_PROMETHEUS).is_file() {
        eprintln!("notice: skipping, {REAL_PROMETHEUS} not found");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let config = dir.path().join("prometheus.yml");
    let scrape = if self_scrape {
        format!(
            "scrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['{addr}']\n"
        )
    } else {
        String::new()
    };
    std::fs::write(&config, format!("global:\n  scrape_interval: 1s\n{scrape}"))
        .expect("write config");
    let data = data.map_or_else(|| dir.path().join("data"), std::path::Path::to_path_buf);
    let child = Command::new(REAL_PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address={addr}"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus starts");
    let server = Server {
        child,
        url: format!("http://{addr}"),
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !run(ours(), &["check", "ready", "--url", &server.url])
        .status
        .success()
    {
        assert!(
            Instant::now() < deadline,
            "prometheus was not ready within 60 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    Some(server)
}

/// Whole seconds, a second ago: a time whose data no longer changes.
fn settled_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        - 1
}

#[test]
fn queries_print_like_real_promtool() {
    let Some(server) = start_prometheus() else {
        return;
    };
    let s = server.url.as_str();
    let t = settled_time();
    let time = format!("--time={t}");
    let (start, end) = (format!("--start={}", t - 3), format!("--end={t}"));
    let (late_start, early_end) = (format!("--start={t}"), format!("--end={}", t - 3));

    // Our own expectations, independent of the real promtool.
    let out = run(ours(), &["query", "instant", &time, s, "vector(1)"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{{}} => 1 @[{t}]\n")
    );
    let out = run(ours(), &["query", "instant", &time, s, "nothing_here"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "\n");
    let out = run(ours(), &["query", "instant", s, "sum("]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("query error: bad_data: "),
        "{out:?}"
    );
    let out = run(ours(), &["query", "labels", s, "job"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "self\n");

    let cases: Vec<Vec<&str>> = vec![
        vec!["query", "instant", &time, s, "vector(1)"],
        vec!["query", "instant", &time, s, "time()"],
        vec!["query", "instant", &time, s, "up"],
        vec!["query", "instant", &time, s, "nothing_here"],
        vec!["query", "instant", &time, s, "up or vector(0.25)"],
        vec!["query", "instant", &time, s, "prometheus_build_info"],
        vec!["query", "instant", &time, s, "up[3s]"],
        vec![
            "query",
            "instant",
            &time,
            s,
            "label_replace(vector(1e21), \"a\", \"x\\ny\u{e9}<&>\", \"\", \"\")",
        ],
        vec!["query", "instant", &time, s, "1/0"],
        vec!["query", "instant", "--time=1700000000.5", s, "vector(-0.1)"],
        vec!["query", "instant", s, "sum("],
        vec!["query", "range", &start, &end, "--step=1s", s, "up"],
        vec![
            "query",
            "range",
            &start,
            &end,
            "--step=1s",
            s,
            "vector(1) or up",
        ],
        vec!["query", "range", &start, &end, s, "up"],
        vec!["query", "range", &late_start, &early_end, s, "up"],
        vec![
            "query",
            "series",
            "--match=up",
            "--match=prometheus_build_info",
            s,
        ],
        vec!["query", "series", "--match=nothing_here", s],
        vec!["query", "labels", s, "job"],
        vec!["query", "labels", "--match=up", s, "__name__"],
        vec!["query", "labels", s, "nothing_here"],
    ];
    let real = std::path::Path::new(REAL_PROMTOOL).is_file();
    if !real {
        eprintln!("notice: {REAL_PROMTOOL} not found, not comparing");
        return;
    }
    for case in &cases {
        for json in [false, true] {
            let mut args: Vec<&str> = case.clone();
            if json {
                args.insert(1, "-o");
                args.insert(2, "json");
            }
            let a = run(ours(), &args);
            let b = run(REAL_PROMTOOL, &args);
            assert_eq!(a.status.code(), b.status.code(), "exit code of {args:?}");
            assert_eq!(
                String::from_utf8_lossy(&a.stdout),
                String::from_utf8_lossy(&b.stdout),
                "stdout of {args:?}"
            );
            assert_eq!(
                String::from_utf8_lossy(&a.stderr),
                String::from_utf8_lossy(&b.stderr),
                "stderr of {args:?}"
            );
        }
    }
}

#[test]
fn health_and_readiness() {
    let Some(server) = start_prometheus() else {
        return;
    };
    for (what, body) in [
        ("healthy", "Prometheus Server is Healthy."),
        ("ready", "Prometheus Server is Ready."),
    ] {
        let out = run(ours(), &["check", what, "--url", &server.url]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("  SUCCESS:  {body}\n\n")
        );
    }
    // Nothing listens on a fresh port once its listener is gone.
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let out = run(ours(), &["check", "healthy", "--url", &nobody]);
    assert_eq!(out.status.code(), Some(1));
    let out = run(ours(), &["query", "instant", &nobody, "up"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.starts_with(&format!("query error: Post \"{nobody}/api/v1/query\": ")),
        "{err}"
    );
}

/// A query's printed answer with its series in a canonical order: lines sorted (`promql`),
/// or the JSON array's elements sorted by their text (`json`).
fn as_set(out: &[u8], format: &str) -> String {
    let text = String::from_utf8_lossy(out);
    if format == "json" {
        let Ok(serde_json::Value::Array(items)) = serde_json::from_str(&text) else {
            return text.into_owned();
        };
        let mut items: Vec<String> = items.iter().map(ToString::to_string).collect();
        items.sort();
        return items.join("\n");
    }
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines.join("\n")
}

/// `query --tsdb.path` on one copy of a crashed 2.42 data directory (blocks, WAL with a
/// checkpoint, head chunks) prints what the real promtool prints from a real Prometheus
/// serving another copy. Times are off the 15 s sample grid and the functions avoid float
/// summation order, where Prometheus 3 semantics (ours) differ from 2.42 by design.
#[test]
fn tsdb_path_queries_match_a_real_server_on_the_same_data() {
    let Some((_ours_tmp, ours_dir)) = super::tsdb::copy_fixture("prom-2.42/full-datadir/data")
    else {
        return;
    };
    let Some((_srv_tmp, srv_dir)) = super::tsdb::copy_fixture("prom-2.42/full-datadir/data") else {
        return;
    };
    if !std::path::Path::new(REAL_PROMTOOL).is_file() {
        eprintln!("notice: skipping, {REAL_PROMTOOL} not found");
        return;
    }
    let Some(server) = spawn_prometheus(Some(&srv_dir), false) else {
        return;
    };
    let d = ours_dir.to_str().expect("utf-8 path");
    let s = server.url.as_str();
    let queries = [
        "fx_flappy",
        "max by (instance) (fx_temperature_celsius)",
        "fx_latency_seconds_bucket{instance=\"host-3:9100\"}",
        "fx_requests_total offset 1h",
        "timestamp(fx_flappy)",
        "count_over_time(fx_flappy[30m])",
        "last_over_time(fx_temperature_celsius[1m])",
        "histogram_quantile(0.9, sum by (le) (rate(fx_latency_seconds_bucket[10m])))",
    ];
    // In a block (18:00-20:00), in the newest block, and in the head replayed from the WAL.
    for t in ["1795460007", "1795470007", "1795477300"] {
        for q in queries {
            for format in ["promql", "json"] {
                let time = format!("--time={t}");
                let a = run(
                    ours(),
                    &["query", "-o", format, "instant", "--tsdb.path", d, &time, q],
                );
                let b = run(
                    REAL_PROMTOOL,
                    &["query", "-o", format, "instant", &time, s, q],
                );
                // Only the head answers at the last time: 2.42 lists its series sorted,
                // Prometheus 3 (as we do) in creation order (xtask difftest checks that
                // order against 3.5), so there the series are compared as sets.
                let (ours_out, real_out) = if t == "1795477300" {
                    (as_set(&a.stdout, format), as_set(&b.stdout, format))
                } else {
                    (
                        String::from_utf8_lossy(&a.stdout).into_owned(),
                        String::from_utf8_lossy(&b.stdout).into_owned(),
                    )
                };
                assert_eq!(
                    ours_out,
                    real_out,
                    "{q} at {t} ({format}); ours: {}",
                    String::from_utf8_lossy(&a.stderr)
                );
                assert!(a.status.success() && b.status.success());
            }
        }
    }
    let range = ["--start=1795437787", "--end=1795477387", "--step=60s"];
    for q in [
        "fx_flappy",
        "fx_temperature_celsius{instance=\"host-2:9100\"}",
    ] {
        let mut ours_args = vec!["query", "range", "--tsdb.path", d];
        ours_args.extend(range);
        ours_args.push(q);
        let mut real_args = vec!["query", "range"];
        real_args.extend(range);
        real_args.extend([s, q]);
        let a = run(ours(), &ours_args);
        let b = run(REAL_PROMTOOL, &real_args);
        assert!(a.stdout.len() > 1000, "{q}: {a:?}");
        assert_eq!(
            String::from_utf8_lossy(&a.stdout),
            String::from_utf8_lossy(&b.stdout),
            "{q}"
        );
    }
}

/// `query instant|range --tsdb.path` over a data directory holding native histograms (an
/// integer histogram written by our TSDB's head and WAL) prints client_golang's forms:
/// `Count: .., Sum: .., Buckets: [..]` for `-o promql`, the API's `"histogram"` and
/// `"histograms"` for `-o json`; `histogram_count` of them is a float.
#[test]
fn tsdb_path_queries_print_native_histograms() {
    let tmp = tempfile::tempdir().expect("tempdir");
    {
        let db = ::tsdb::db::Db::open(tmp.path(), ::tsdb::db::Options::default()).expect("open");
        let mut app = storage::Appendable::appender(&db);
        let l = model::Labels::from_pairs([("__name__", "h"), ("job", "a")]);
        for (i, t) in [1_700_000_000_000i64, 1_700_000_030_000]
            .into_iter()
            .enumerate()
        {
            let n = i as u64 + 1;
            let h = model::Histogram {
                count: 3 * n,
                zero_count: n,
                zero_threshold: 0.001,
                sum: 2.5 * n as f64,
                schema: 0,
                positive_spans: vec![model::Span {
                    offset: 0,
                    length: 2,
                }],
                positive_buckets: vec![n as i64, 0],
                ..model::Histogram::default()
            };
            app.append_histogram(0, &l, t, Some(&h), None)
                .expect("append");
        }
        app.commit().expect("commit");
        db.close().expect("close");
    }
    let d = tmp.path().to_str().expect("utf-8 path");
    let instant = |format: &str, q: &str| {
        let out = run(
            ours(),
            &[
                "query",
                "-o",
                format,
                "instant",
                "--tsdb.path",
                d,
                "--time=1700000030",
                q,
            ],
        );
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        instant("promql", "h"),
        "h{job=\"a\"} => Count: 6.000000, Sum: 5.000000, Buckets: [[-0.001,0.001]:2 (0.5,1]:2 (1,2]:2] @[1700000030]\n"
    );
    assert_eq!(
        instant("json", "h"),
        "[{\"metric\":{\"__name__\":\"h\",\"job\":\"a\"},\"histogram\":[1700000030,{\"count\":\"6\",\"sum\":\"5\",\"buckets\":[[3,\"-0.001\",\"0.001\",\"2\"],[0,\"0.5\",\"1\",\"2\"],[0,\"1\",\"2\",\"2\"]]}]}]\n"
    );
    assert_eq!(
        instant("promql", "histogram_count(h)"),
        "{job=\"a\"} => 6 @[1700000030]\n"
    );
    let out = run(
        ours(),
        &[
            "query",
            "-o",
            "json",
            "range",
            "--tsdb.path",
            d,
            "--start=1700000000",
            "--end=1700000030",
            "--step=30s",
            "h",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "[{\"metric\":{\"__name__\":\"h\",\"job\":\"a\"},\"histograms\":[[1700000000,{\"count\":\"3\",\"sum\":\"2.5\",\"buckets\":[[3,\"-0.001\",\"0.001\",\"1\"],[0,\"0.5\",\"1\",\"1\"],[0,\"1\",\"2\",\"1\"]]}],[1700000030,{\"count\":\"6\",\"sum\":\"5\",\"buckets\":[[3,\"-0.001\",\"0.001\",\"2\"],[0,\"0.5\",\"1\",\"2\"],[0,\"1\",\"2\",\"2\"]]}]]}]\n"
    );
}

/// `query analyze` of a classic histogram the server exposes about itself: one stats line
/// for the selected series, the ten distributions, the count and Go's histogram map.
#[test]
fn analyze_classic_histograms() {
    let Some(server) = start_prometheus() else {
        return;
    };
    let out = run(
        ours(),
        &[
            "query",
            "analyze",
            "--server",
            &server.url,
            "--type=classichistograms",
            "--duration=1m",
            "--match=prometheus_http_request_duration_seconds_sum{handler=\"/metrics\"}",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 13, "{text}");
    assert!(
        lines[0].starts_with(
            "prometheus_http_request_duration_seconds_bucket{handler=\"/metrics\",instance=\""
        ) && lines[0].contains("}[1m0s]=Bucket stats (min/avg/max) - number of buckets changed: "),
        "{text}"
    );
    assert_eq!(lines[11], "count - 1");
    assert!(
        lines[12].starts_with("&{map[") && lines[12].ends_with("]}"),
        "{text}"
    );
    let bad = run(
        ours(),
        &[
            "query",
            "analyze",
            "--server",
            &server.url,
            "--type=x",
            "--match=up",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
}
