//! Exemplar storage end to end (`--enable-feature=exemplar-storage`): exemplars scraped
//! from an OpenMetrics target are served by `/api/v1/query_exemplars`, resized on reload,
//! and the exemplar WAL records pass both ways between this server and Debian's real
//! Prometheus 2.42 on one data directory.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{
    OURS, Prometheus, REAL, free_port, http_response, real_installed, serve_http, start_agent,
    tsdb_path, wait_for,
};

/// A target answering every request with the current body as OpenMetrics text.
struct Target {
    port: u16,
    body: Arc<Mutex<String>>,
}

impl Target {
    fn start(body: &str) -> Target {
        let body = Arc::new(Mutex::new(body.to_owned()));
        let shared = body.clone();
        let port = serve_http(move |_| {
            let body = shared.lock().unwrap().clone();
            http_response(
                "200 OK",
                "Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nConnection: close\r\n",
                body.as_bytes(),
            )
        });
        Target { port, body }
    }

    fn set(&self, body: &str) {
        *self.body.lock().unwrap() = body.to_owned();
    }
}

/// A counter with one exemplar (timestamped) and a histogram bucket with one (not).
fn exposition(trace: &str, value: f64, ts_seconds: f64) -> String {
    format!(
        "# TYPE http_requests counter\nhttp_requests_total{{code=\"200\"}} 5 # {{trace_id=\"{trace}\"}} {value} {ts_seconds}\n# TYPE latency histogram\nlatency_bucket{{le=\"0.1\"}} 1 # {{trace_id=\"{trace}-h\"}} 0.05\nlatency_bucket{{le=\"+Inf\"}} 2\nlatency_sum 0.3\nlatency_count 2\n# EOF\n"
    )
}

fn scrape_config(target: &Target, max_exemplars: i64) -> String {
    format!(
        "global:\n  scrape_interval: 1s\nstorage:\n  exemplars:\n    max_exemplars: {max_exemplars}\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
        target.port
    )
}

/// Starts `bin` on `data` (which outlives the process) with exemplar storage on.
fn start(bin: &str, config: &Path, data: &Path, extra: &[&str]) -> Prometheus {
    let args = [
        tsdb_path(data),
        "--enable-feature=exemplar-storage".to_owned(),
        "--web.enable-lifecycle".to_owned(),
    ]
    .into_iter()
    .chain(extra.iter().map(|s| (*s).to_owned()));
    let mut p = Prometheus::spawn(bin, config, free_port(), args, tempfile::tempdir().unwrap());
    p.wait_ready();
    p
}

/// Writes `dir/empty.yml`, a config that scrapes nothing.
fn empty_config(dir: &Path) -> PathBuf {
    let empty = dir.join("empty.yml");
    std::fs::write(
        &empty,
        "global:\n  scrape_interval: 1s\nscrape_configs: []\n",
    )
    .unwrap();
    empty
}

/// Starts `bin` with its remote-write receiver on, nothing to scrape, and its data in
/// `dir/name`.
fn receiver(bin: &str, dir: &Path, name: &str) -> Prometheus {
    let empty = empty_config(dir);
    start(
        bin,
        &empty,
        &dir.join(name),
        &["--web.enable-remote-write-receiver"],
    )
}

/// Writes `dir/name`: scrape `target` and remote-write with exemplars to 127.0.0.1:`port`.
fn sending_config(dir: &Path, name: &str, target: &Target, port: u16) -> PathBuf {
    let config = dir.join(name);
    std::fs::write(
        &config,
        format!(
            "{}remote_write:\n  - url: http://127.0.0.1:{port}/api/v1/write\n    send_exemplars: true\n    queue_config: {{batch_send_deadline: 1s}}\n",
            scrape_config(target, 100),
        ),
    )
    .unwrap();
    config
}

fn stop(mut p: Prometheus) {
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(60)).code(), Some(0));
}

const QUERY: &str = "/api/v1/query_exemplars?query=http_requests_total%20or%20latency_bucket";

#[test]
fn openmetrics_exemplars_are_queryable_and_resized_on_reload() {
    let target = Target::start(&exposition("abc", 1.5, 1_700_000_000.5));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, scrape_config(&target, 50)).unwrap();
    let data = dir.path().join("data");
    let p = start(OURS, &config, &data, &[]);
    let body = wait_for(
        &p,
        QUERY,
        &[
            r#"{"seriesLabels":{"__name__":"http_requests_total","code":"200","instance":"127.0.0.1:"#,
            r#""exemplars":[{"labels":{"trace_id":"abc"},"value":"1.5","timestamp":1700000000.500}]}"#,
            r#""exemplars":[{"labels":{"trace_id":"abc-h"},"value":"0.05","timestamp":"#,
        ],
        Duration::from_secs(30),
    );
    assert!(
        body.starts_with(r#"{"status":"success","data":[{"seriesLabels":{"#),
        "{body}"
    );
    // Sorted by series labels: http_requests_total before latency_bucket.
    assert!(
        body.find("http_requests_total") < body.find("latency_bucket"),
        "{body}"
    );

    // A new exemplar of the same series is added after the first (the same one again
    // at the next scrapes was dropped as a duplicate).
    target.set(&exposition("def", 2.5, 1_700_000_001.0));
    let body = wait_for(
        &p,
        QUERY,
        &[r#""trace_id":"def"}"#],
        Duration::from_secs(30),
    );
    assert!(
        body.contains(r#"[{"labels":{"trace_id":"abc"},"value":"1.5","timestamp":1700000000.500},{"labels":{"trace_id":"def"},"value":"2.5","timestamp":1700000001}]"#),
        "{body}"
    );
    let (_, metrics) = p.get("/metrics");
    assert!(
        metrics.contains("prometheus_tsdb_exemplar_max_exemplars 50\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE prometheus_target_scrapes_exemplar_out_of_order_total counter\n"),
        "{metrics}"
    );
    // An older exemplar than the stored one is out of order: the scrape counts it (the
    // TSDB's own counter only counts those rejected at commit, as in Prometheus).
    target.set(&exposition("old", 0.5, 1_699_000_000.0));
    let name = "prometheus_target_scrapes_exemplar_out_of_order_total ";
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, metrics) = p.get("/metrics");
        let count = metrics
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("{metrics}"));
        if count != "0" {
            break;
        }
        assert!(Instant::now() < deadline, "never counted: {metrics}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, body) = p.get(QUERY);
    assert!(!body.contains(r#""trace_id":"old"}"#), "{body}");

    // Shrinking on reload keeps the newest.
    std::fs::write(&config, scrape_config(&target, 1)).unwrap();
    assert_eq!(p.request("POST", "/-/reload").unwrap().0, 200);
    let (_, metrics) = p.get("/metrics");
    assert!(
        metrics.contains("prometheus_tsdb_exemplar_max_exemplars 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("prometheus_tsdb_exemplar_exemplars_in_storage 1\n"),
        "{metrics}"
    );
    // No selector: an empty list (Prometheus answers 204 without a body).
    assert_eq!(
        p.get("/api/v1/query_exemplars?query=1"),
        (200, r#"{"status":"success","data":[]}"#.to_owned())
    );
    stop(p);
}

#[test]
fn exemplar_wal_records_replay_both_ways_with_prometheus_2_42() {
    if !real_installed() {
        return;
    }
    let target = Target::start(&exposition("from-242", 3.5, 1_700_000_000.0));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, scrape_config(&target, 100)).unwrap();
    let data = dir.path().join("data");

    // Prometheus 2.42 scrapes the first exemplar into its WAL.
    let real = start(REAL, &config, &data, &[]);
    wait_for(
        &real,
        QUERY,
        &[r#""trace_id":"from-242"}"#],
        Duration::from_secs(30),
    );
    stop(real);

    // We replay it, then scrape a second one into the same WAL.
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 1s\nscrape_configs: []\n",
    )
    .unwrap();
    let ours = start(OURS, &config, &data, &[]);
    let (_, body) = ours.get(QUERY);
    assert!(
        body.contains(r#"{"labels":{"trace_id":"from-242"},"value":"3.5","timestamp":1700000000}"#),
        "replayed from the 2.42 WAL: {body}"
    );
    target.set(&exposition("from-ours", 4.5, 1_700_000_002.0));
    std::fs::write(&config, scrape_config(&target, 100)).unwrap();
    assert_eq!(ours.request("POST", "/-/reload").unwrap().0, 200);
    wait_for(
        &ours,
        QUERY,
        &[r#""trace_id":"from-ours"}"#],
        Duration::from_secs(30),
    );
    stop(ours);

    // Prometheus 2.42 replays both, ours in its place after its own.
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 1s\nscrape_configs: []\n",
    )
    .unwrap();
    let real = start(REAL, &config, &data, &[]);
    let (_, body) = real.get(QUERY);
    assert!(
        body.contains(r#"[{"labels":{"trace_id":"from-242"},"value":"3.5","timestamp":1700000000},{"labels":{"trace_id":"from-ours"},"value":"4.5","timestamp":1700000002}]"#),
        "2.42 replayed our exemplar records: {body}"
    );
    assert!(body.contains(r#""trace_id":"from-ours-h"}"#), "{body}");
    stop(real);
}

#[test]
fn send_exemplars_delivers_them_to_prometheus_2_42_over_remote_write() {
    if !real_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let real = receiver(REAL, dir.path(), "real");
    let target = Target::start(&exposition("sent", 7.5, 1_700_000_003.0));
    let config = sending_config(dir.path(), "ours.yml", &target, real.port);
    let ours = start(OURS, &config, &dir.path().join("ours"), &[]);
    wait_for(
        &real,
        QUERY,
        &[r#"{"labels":{"trace_id":"sent"},"value":"7.5","timestamp":1700000003}"#],
        Duration::from_secs(60),
    );
    let (_, metrics) = ours.get("/metrics");
    assert!(
        metrics.contains("prometheus_remote_storage_exemplars_total{remote_name="),
        "{metrics}"
    );
    stop(ours);
    stop(real);
}

#[test]
fn our_remote_write_receiver_stores_the_exemplars_prometheus_2_42_sends() {
    if !real_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ours = receiver(OURS, dir.path(), "ours");
    let target = Target::start(&exposition("from-real", 8.5, 1_700_000_004.0));
    let config = sending_config(dir.path(), "real.yml", &target, ours.port);
    let real = start(REAL, &config, &dir.path().join("real"), &[]);
    wait_for(
        &ours,
        QUERY,
        &[
            r#"{"labels":{"trace_id":"from-real"},"value":"8.5","timestamp":1700000004}"#,
            r#"{"labels":{"trace_id":"from-real-h"},"value":"0.05","timestamp":"#,
        ],
        Duration::from_secs(60),
    );
    stop(real);
    stop(ours);
}

#[test]
fn agent_mode_sends_scraped_exemplars_to_prometheus_2_42() {
    if !real_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let real = receiver(REAL, dir.path(), "real");
    let target = Target::start(&exposition("from-agent", 9.5, 1_700_000_005.0));
    let config = sending_config(dir.path(), "agent.yml", &target, real.port);
    let mut agent = start_agent(&config, &dir.path().join("agent"), free_port(), &[]);
    agent.wait_ready();
    wait_for(
        &real,
        QUERY,
        &[r#"{"labels":{"trace_id":"from-agent"},"value":"9.5","timestamp":1700000005}"#],
        Duration::from_secs(60),
    );
    let (_, metrics) = agent.get("/metrics");
    assert!(
        !metrics.contains("prometheus_agent_exemplars_appended_total 0\n"),
        "{metrics}"
    );
    stop(agent);
    stop(real);
}
