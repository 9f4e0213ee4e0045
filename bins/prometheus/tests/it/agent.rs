//! Agent mode end to end: `--agent` scrapes a local endpoint into its WAL and remote-writes
//! every scraped sample to a receiver running in the test.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prompb::Message as _;

use super::{
    Prometheus, REAL, e2e_write, free_port, http, http_response, now_ms, post_write, prometheus3,
    real_installed, serve_http, snappy, start_agent,
};

/// Serves `agent_e2e_scrapes_total N` with N counting the scrapes served (1, 2, ...).
fn start_target() -> (u16, Arc<AtomicU64>) {
    let served = Arc::new(AtomicU64::new(0));
    let count = served.clone();
    let port = serve_http(move |_| {
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        let body = format!("# TYPE agent_e2e_scrapes_total counter\nagent_e2e_scrapes_total {n}\n");
        http_response(
            "200 OK",
            "Content-Type: text/plain; version=0.0.4\r\nConnection: close\r\n",
            body.as_bytes(),
        )
    });
    (port, served)
}

/// Samples received over remote write: (metric name, value).
type Received = Arc<Mutex<Vec<(String, f64)>>>;

/// A remote-write receiver: decodes every request and answers 204.
fn start_receiver() -> (u16, Received) {
    let received: Received = Arc::default();
    let store = received.clone();
    let port = serve_http(move |req| {
        record(&store, &req.body);
        http_response("204 No Content", "", b"")
    });
    (port, received)
}

/// Decodes a remote-write body into `store`.
fn record(store: &Received, body: &[u8]) {
    let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
    let req = prompb::WriteRequest::decode(raw.as_slice()).unwrap();
    let mut store = store.lock().unwrap();
    for ts in &req.timeseries {
        let name = ts
            .labels
            .iter()
            .find(|l| l.name == "__name__")
            .map(|l| l.value.clone())
            .unwrap_or_default();
        for s in &ts.samples {
            store.push((name.clone(), s.value));
        }
    }
}

/// Writes `agent.yml` in `dir`: `head` (e.g. a `global` section), then a job `target`
/// scraping 127.0.0.1:`port` every `interval` when `scrape` is given, then remote write to
/// 127.0.0.1:`port` with `queue_config` `queue` when `remote` is given.
fn agent_config(
    dir: &Path,
    head: &str,
    scrape: Option<(u16, &str)>,
    remote: Option<(u16, &str)>,
) -> PathBuf {
    let mut text = head.to_owned();
    if let Some((target, interval)) = scrape {
        text.push_str(&format!(
            "scrape_configs:\n  - job_name: target\n    scrape_interval: {interval}\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
        ));
    }
    if let Some((receiver, queue)) = remote {
        text.push_str(&format!(
            "remote_write:\n  - url: http://127.0.0.1:{receiver}/api/v1/write\n    queue_config: {queue}\n"
        ));
    }
    let config = dir.join("agent.yml");
    std::fs::write(&config, text).unwrap();
    config
}

/// The queue settings that send within 100ms.
const FAST_QUEUE: &str = "{batch_send_deadline: 100ms}";

/// Polls `done` every 50ms for up to a minute; panics with `what()` when it stays false.
fn wait_until(mut done: impl FnMut() -> bool, what: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{}", what());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends SIGTERM and expects a clean exit (code 0) within 30s.
fn stop(agent: &mut Prometheus) {
    agent.signal("TERM");
    let status = agent.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
}

/// The values of `agent_e2e_scrapes_total` received so far (stale markers left out).
fn counter_values(received: &Received) -> BTreeSet<u64> {
    received
        .lock()
        .unwrap()
        .iter()
        .filter(|(n, v)| n == "agent_e2e_scrapes_total" && !v.is_nan())
        .map(|&(_, v)| v as u64)
        .collect()
}

#[test]
fn agent_remote_writes_every_scraped_sample() {
    let dir = tempfile::tempdir().unwrap();
    let (target, served) = start_target();
    let (receiver, received) = start_receiver();
    let config = agent_config(
        dir.path(),
        "global:\n  scrape_interval: 1s\n  external_labels: {agent: e2e}\n",
        Some((target, "200ms")),
        Some((receiver, FAST_QUEUE)),
    );
    let data = dir.path().join("data-agent");
    // Truncating every second, the WAL is checkpointed and its segments deleted under the
    // remote-write watcher while it sends.
    let mut agent = start_agent(
        &config,
        &data,
        free_port(),
        &["--storage.agent.wal-truncate-frequency=1s"],
    );
    agent.wait_ready();

    // Let a few scrapes happen, then wait until every one served so far has arrived.
    let wal_files = || {
        std::fs::read_dir(data.join("wal"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
    };
    wait_until(
        || {
            served.load(Ordering::SeqCst) >= 8
                && wal_files().iter().any(|f| f.starts_with("checkpoint."))
        },
        || format!("no scrapes or no checkpoint: {:?}", wal_files()),
    );
    let upto = served.load(Ordering::SeqCst);
    wait_until(
        || {
            let got = counter_values(&received);
            (1..=upto).all(|n| got.contains(&n))
        },
        || {
            format!(
                "scraped values 1..={upto} did not all arrive: {:?}",
                counter_values(&received)
            )
        },
    );
    // The report series travel too.
    assert!(
        received
            .lock()
            .unwrap()
            .iter()
            .any(|(n, v)| n == "up" && *v == 1.0)
    );

    // The WAL is Prometheus's layout under --storage.agent.path; queries are not served.
    assert!(!data.join("wal").join("00000000").exists(), "truncated");
    assert!(data.join("lock").is_file());
    let (status, body) = agent.get("/api/v1/query?query=up");
    assert_eq!(
        (status, body.as_str()),
        (
            422,
            r#"{"status":"error","errorType":"execution","error":"unavailable with Prometheus Agent"}"#
        )
    );
    let (_, metrics) = agent.get("/metrics");
    assert!(
        metrics.contains("prometheus_agent_active_series "),
        "{metrics}"
    );
    assert!(
        !metrics.contains("prometheus_agent_checkpoint_creations_total 0\n")
            && metrics.contains("prometheus_agent_checkpoint_creations_failed_total 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("prometheus_remote_storage_samples_total{remote_name=\""),
        "{metrics}"
    );

    stop(&mut agent);
}

#[test]
fn agent_refuses_server_flags_and_server_configuration() {
    let out = Command::new(env!("CARGO_BIN_EXE_prometheus"))
        .args([
            "--agent",
            "--query.timeout=1m",
            "--web.listen-address=127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("The following flag(s) can not be used in agent mode: [\"--query.timeout\"]"),
        "{stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_prometheus"))
        .args([
            "--storage.agent.retention.max-time=1h",
            "--web.listen-address=127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("can only be used in agent mode: [\"--storage.agent.retention.max-time\"]"),
        "{stderr}"
    );

    // Both lists name the flags as given (`--name`), in command-line order.
    let out = Command::new(env!("CARGO_BIN_EXE_prometheus"))
        .args([
            "--agent",
            "--storage.tsdb.retention.time=1d",
            "--query.timeout=1m",
            "--web.listen-address=127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "The following flag(s) can not be used in agent mode: [\"--storage.tsdb.retention.time\" \"--query.timeout\"]"
    );

    // A WAL segment size out of Prometheus's range is a fatal error when the WAL storage
    // starts (exit 1), as in Prometheus, not a flag error.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.yml");
    std::fs::write(&config, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_prometheus"))
        .arg("--agent")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.agent.path={}",
            dir.path().join("data-agent").display()
        ))
        .args([
            "--storage.agent.wal-segment-size=1KB",
            "--web.listen-address=127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("flag 'storage.agent.wal-segment-size' must be set between 10MB and 256MB"),
        "{stderr}"
    );

    // rule_files has no meaning for an agent: the configuration does not load (exit 2).
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.yml");
    std::fs::write(&config, "rule_files: ['rules.yml']\n").unwrap();
    let data = dir.path().join("data-agent");
    let mut agent = start_agent(&config, &data, free_port(), &[]);
    assert_eq!(agent.wait_exit(Duration::from_secs(30)).code(), Some(2));
    assert!(http(agent.port, "GET", "/-/ready").is_none());
}

/// The WAL of Debian's real Prometheus 2.42 in agent mode replays into our agent storage:
/// same series, same newest timestamps.
#[test]
fn a_prometheus_2_42_agent_wal_replays_here() {
    if !real_installed() {
        return;
    }
    // Prometheus 2.42 turns agent mode on with a feature flag (3.x: `--agent`).
    wal_round_trip(REAL, "--enable-feature=agent");
}

/// The same both ways with Prometheus 3.5.3's `--agent`: its agent WAL directory opens
/// here, and ours opens there.
#[test]
fn a_prometheus_3_5_agent_wal_replays_here_and_ours_there() {
    if let Some(bin) = prometheus3() {
        wal_round_trip(&bin, "--agent");
    }
}

/// Runs `bin` in agent mode (`agent_flag`) scraping a target into a fresh agent directory,
/// replays that directory here (same series, newest timestamps set), appends 100 series of
/// our own, and checks that `bin` replays the result without a warning.
fn wal_round_trip(bin: &str, agent_flag: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (target, served) = start_target();
    let config = agent_config(dir.path(), "", Some((target, "200ms")), None);
    let data = dir.path().join("data-agent");
    let port = free_port();
    let args = [
        agent_flag.to_owned(),
        format!("--storage.agent.path={}", data.display()),
    ];
    let mut p = Prometheus::spawn(bin, &config, port, args, tempfile::tempdir().unwrap());
    wait_until(
        || served.load(Ordering::SeqCst) >= 4,
        || format!("{bin} did not scrape"),
    );
    p.signal("TERM");
    assert!(p.wait_exit(Duration::from_secs(60)).success());
    drop(p);

    let db = tsdb::agent::Db::open(&data, tsdb::agent::Options::default()).unwrap();
    // It released its lock file on the way out.
    assert_eq!(
        db.metrics()
            .clean_start
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let instance = format!("127.0.0.1:{target}");
    for name in ["agent_e2e_scrapes_total", "up", "scrape_duration_seconds"] {
        let labels = model::Labels::from_pairs([
            ("__name__", name),
            ("instance", instance.as_str()),
            ("job", "target"),
        ]);
        let r = db
            .series_ref(&labels)
            .unwrap_or_else(|| panic!("{labels} was not replayed"));
        assert!(db.last_timestamp(r).unwrap() > 0, "{labels}");
    }
    // And the other way round: what we append, it replays without complaint.
    let mut app = storage::Appendable::appender(&db);
    for k in 0..100 {
        let labels = model::Labels::from_pairs([("__name__", "ours"), ("k", &k.to_string())]);
        app.append(0, &labels, 1_000 + k, 1.0).unwrap();
    }
    app.commit().unwrap();
    db.close().unwrap();
    drop(db);
    let port = free_port();
    let mut child = Command::new(bin)
        .arg(agent_flag)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--storage.agent.path={}", data.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {bin} in agent mode: {e}"));
    // Keep draining its log: a Go program dies when stderr's pipe closes.
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = String::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        log.push_str(&line);
        log.push('\n');
        if line.contains("Agent WAL storage started") || line.to_lowercase().contains("level=error")
        {
            break;
        }
    }
    // Its own gauge counts our 100 series (plus the target's).
    let mut active = 0.0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some((200, metrics)) = http(port, "GET", "/metrics")
            && let Some(v) = metrics
                .lines()
                .find_map(|l| l.strip_prefix("prometheus_agent_active_series "))
        {
            active = v.trim().parse().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        active >= 100.0,
        "prometheus_agent_active_series {active} on port {port}\n{log}"
    );
    assert!(log.contains("Agent WAL storage started"), "{log}");
    let lower = log.to_lowercase();
    assert!(
        !lower.contains("wal read error") && !lower.contains("level=warn"),
        "{log}"
    );
}

/// `kill -9` and a restart on the same `--storage.agent.path`: the WAL replays (repairing a
/// torn tail if the kill cut a write) and samples keep flowing.
#[test]
fn agent_restarts_after_kill_9_and_keeps_sending() {
    let dir = tempfile::tempdir().unwrap();
    let (target, served) = start_target();
    let (receiver, received) = start_receiver();
    let config = agent_config(
        dir.path(),
        "",
        Some((target, "100ms")),
        Some((receiver, FAST_QUEUE)),
    );
    let data = dir.path().join("data-agent");
    let wait_for_value = |min: u64| {
        wait_until(
            || counter_values(&received).iter().any(|&v| v >= min),
            || format!("no value >= {min} arrived"),
        );
    };

    let mut agent = start_agent(&config, &data, free_port(), &[]);
    agent.wait_ready();
    wait_for_value(3);
    agent.child.kill().unwrap();
    agent.child.wait().unwrap();

    let before = served.load(Ordering::SeqCst);
    let mut agent = start_agent(&config, &data, free_port(), &[]);
    agent.wait_ready();
    wait_for_value(before + 3);
    // The restarted agent serves its own metrics.
    let (_, metrics) = agent.get("/metrics");
    assert!(
        metrics.contains("prometheus_agent_corruptions_total "),
        "{metrics}"
    );
    stop(&mut agent);
    let db = tsdb::agent::Db::open(&data, tsdb::agent::Options::default()).unwrap();
    let instance = format!("127.0.0.1:{target}");
    let labels = model::Labels::from_pairs([
        ("__name__", "agent_e2e_scrapes_total"),
        ("instance", instance.as_str()),
        ("job", "target"),
    ]);
    let r = db.series_ref(&labels).expect("replayed");
    assert!(db.last_timestamp(r).unwrap() > 0);
    db.close().unwrap();
}

/// Every endpoint an operator or the UI calls, answered as a Prometheus 3.5.3 agent answers
/// them (status and body, read off a real 3.5.3 `--agent` run): the query, rules and TSDB
/// endpoints refuse with 422, federation fails on the WAL-only storage, the rest serve.
#[test]
fn agent_endpoints_answer_as_prometheus_3_5_agent() {
    let dir = tempfile::tempdir().unwrap();
    let (target, _) = start_target();
    let config = agent_config(dir.path(), "", Some((target, "200ms")), None);
    let mut agent = start_agent(&config, &dir.path().join("data-agent"), free_port(), &[]);
    agent.wait_ready();
    let refused =
        r#"{"status":"error","errorType":"execution","error":"unavailable with Prometheus Agent"}"#;
    let mut cases: Vec<(&str, &str, u16, &str)> = vec![
        ("GET", "/-/healthy", 200, "Prometheus Agent is Healthy.\n"),
        ("GET", "/-/ready", 200, "Prometheus Agent is Ready.\n"),
        ("POST", "/-/reload", 403, "Lifecycle API is not enabled."),
        ("POST", "/-/quit", 403, "Lifecycle API is not enabled."),
        ("GET", "/", 302, "<a href=\"/agent\">Found</a>.\n\n"),
        ("GET", "/graph", 302, "<a href=\"/query?\">Found</a>.\n\n"),
        ("GET", "/query", 404, "404 page not found\n"),
        ("GET", "/rules", 404, "404 page not found\n"),
        (
            "GET",
            "/federate?match[]=up",
            500,
            "unsupported operation with WAL-only storage\n",
        ),
        (
            "GET",
            "/api/v1/status/walreplay",
            200,
            r#"{"status":"success","data":{"min":0,"max":0,"current":0}}"#,
        ),
        (
            "GET",
            "/api/v1/notifications",
            200,
            r#"{"status":"success","data":[]}"#,
        ),
        (
            "GET",
            "/api/v1/scrape_pools",
            200,
            r#"{"status":"success","data":{"scrapePools":["target"]}}"#,
        ),
        (
            "GET",
            "/api/v1/metadata?metric=nope",
            200,
            r#"{"status":"success","data":{}}"#,
        ),
    ];
    for (method, path) in [
        ("GET", "/api/v1/query?query=up"),
        ("POST", "/api/v1/query?query=up"),
        ("GET", "/api/v1/query_range?query=up&start=0&end=1&step=1"),
        ("GET", "/api/v1/query_exemplars?query=up"),
        ("GET", "/api/v1/format_query?query=up"),
        ("GET", "/api/v1/parse_query?query=up"),
        ("GET", "/api/v1/series?match[]=up"),
        ("GET", "/api/v1/labels"),
        ("GET", "/api/v1/label/job/values"),
        ("GET", "/api/v1/alertmanagers"),
        ("GET", "/api/v1/alerts"),
        ("GET", "/api/v1/rules"),
        ("GET", "/api/v1/status/tsdb"),
        ("POST", "/api/v1/admin/tsdb/delete_series?match[]=up"),
        ("POST", "/api/v1/admin/tsdb/clean_tombstones"),
        ("POST", "/api/v1/admin/tsdb/snapshot"),
    ] {
        cases.push((method, path, 422, refused));
    }
    for (method, path, status, body) in cases {
        let got = http(agent.port, method, path).expect("the agent answers");
        assert_eq!(got, (status, body.to_owned()), "{method} {path}");
    }
    let (status, body) = agent.get("/api/v1/status/buildinfo");
    assert_eq!(status, 200);
    assert!(
        body.starts_with(r#"{"status":"success","data":{"version":"#),
        "{body}"
    );
    let (status, body) = agent.get("/api/v1/status/flags");
    assert_eq!(status, 200);
    assert!(
        body.contains(r#""agent":"true""#)
            && body.contains(r#""storage.tsdb.retention.time":"0s""#),
        "{body}"
    );
    stop(&mut agent);
}

/// What was scraped while the endpoint refused everything is not resent after a restart,
/// even though the WAL replays it: as Prometheus's WAL watcher, remote write starts at the
/// time it starts (checked against a real 3.5.3 agent, which sends none of it either).
/// Only the samples scraped after the restart arrive.
#[test]
fn a_restart_does_not_resend_what_the_endpoint_refused_before() {
    let dir = tempfile::tempdir().unwrap();
    let (target, served) = start_target();
    let accepting = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let received: Received = Arc::default();
    let receiver = {
        let (accepting, store) = (accepting.clone(), received.clone());
        serve_http(move |req| {
            if !accepting.load(Ordering::SeqCst) {
                return http_response("503 Service Unavailable", "", b"down");
            }
            record(&store, &req.body);
            http_response("204 No Content", "", b"")
        })
    };
    let config = agent_config(
        dir.path(),
        "",
        Some((target, "200ms")),
        Some((
            receiver,
            "{batch_send_deadline: 100ms, min_backoff: 10ms, max_backoff: 100ms}",
        )),
    );
    let data = dir.path().join("data-agent");
    let flags = ["--storage.remote.flush-deadline=1s"];
    let mut agent = start_agent(&config, &data, free_port(), &flags);
    agent.wait_ready();
    wait_until(
        || served.load(Ordering::SeqCst) >= 5,
        || "no scrapes".into(),
    );
    stop(&mut agent);
    let before = served.load(Ordering::SeqCst);
    assert!(received.lock().unwrap().is_empty());

    accepting.store(true, Ordering::SeqCst);
    let mut agent = start_agent(&config, &data, free_port(), &flags);
    agent.wait_ready();
    // The WAL replayed: the series is known again before anything new is scraped.
    let (_, metrics) = agent.get("/metrics");
    assert!(
        !metrics.contains("prometheus_agent_active_series 0\n"),
        "{metrics}"
    );
    wait_until(
        || counter_values(&received).iter().any(|&v| v > before + 2),
        || "nothing arrived after the restart".into(),
    );
    let got = counter_values(&received);
    assert!(
        got.iter().all(|&v| v > before),
        "values scraped before the restart (1..={before}) were resent: {got:?}"
    );
    stop(&mut agent);
}

/// With `--web.enable-remote-write-receiver`, what is pushed to the agent lands in its WAL
/// and goes out through its own remote write, counted in the remote storage's `*_in`
/// metrics as Prometheus's agent counts it (its receiver appends through the same fanout).
#[test]
fn pushed_samples_are_forwarded_and_counted_as_coming_in() {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, received) = start_receiver();
    let config = agent_config(dir.path(), "", None, Some((receiver, FAST_QUEUE)));
    let mut agent = start_agent(
        &config,
        &dir.path().join("data-agent"),
        free_port(),
        &["--web.enable-remote-write-receiver"],
    );
    agent.wait_ready();
    let t = now_ms();
    let (status, body) = post_write(agent.port, &snappy(&e2e_write("pushed_total", 7.0, t)));
    assert_eq!(status, 204, "{body}");
    wait_until(
        || {
            received
                .lock()
                .unwrap()
                .iter()
                .any(|(n, v)| n == "pushed_total" && *v == 7.0)
        },
        || "the pushed sample was not forwarded".into(),
    );
    let (_, metrics) = agent.get("/metrics");
    assert!(
        metrics.contains("\nprometheus_remote_storage_samples_in_total 1\n")
            && metrics.contains(&format!(
                "\nprometheus_remote_storage_highest_timestamp_in_seconds {}\n",
                model::strconv::format_float_g((t / 1000) as f64)
            ))
            && metrics.contains("prometheus_agent_samples_appended_total{type=\"float\"} 1\n"),
        "{metrics}"
    );
    stop(&mut agent);
}
