//! Remote write and read end to end: our receiver, our queues sending to a second instance of
//! this server, remote read between the two, and a real Prometheus 2.42 writing into ours.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{
    OURS, Prometheus, REAL, e2e_write, free_port, histogram_5, label, now_ms, post_write,
    real_installed, self_scrape_config, snappy, wait_for, write_config,
};

/// Starts this server on `port` with `config` (YAML text) and `extra` flags, and waits until
/// it is ready.
fn start_with(dir: &Path, port: u16, config: &str, extra: &[&str]) -> Prometheus {
    let file = write_config(dir, port, config);
    let extra: Vec<&str> = ["--scrape.discovery-reload-interval=100ms"]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    Prometheus::ready(OURS, &file, port, &extra)
}

/// Starts this server with its remote-write receiver on and nothing to scrape.
fn receiver(dir: &Path) -> Prometheus {
    start_with(
        dir,
        free_port(),
        "global:\n  scrape_interval: 1s\n",
        &["--web.enable-remote-write-receiver"],
    )
}

/// Polls the instant query `query` on `p` until the answer contains `want`.
fn wait_query(p: &Prometheus, query: &str, want: &str, limit: Duration) -> String {
    wait_for(p, &format!("/api/v1/query?query={query}"), &[want], limit)
}

/// Waits until `p` has `up` of job `job` scraped from `127.0.0.1:port`, with `extra`
/// labels (`,"origin":"sender"`) after the job.
fn wait_up(p: &Prometheus, job: &str, port: u16, extra: &str, limit: Duration) -> String {
    wait_query(
        p,
        &format!("up%7Bjob%3D%22{job}%22%7D"),
        &format!(
            r#"{{"metric":{{"__name__":"up","instance":"127.0.0.1:{port}","job":"{job}"{extra}}},"value":"#
        ),
        limit,
    )
}

#[test]
fn receiver_appends_remote_writes_and_remote_read_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = receiver(dir.path());
    let t = now_ms();
    let req = e2e_write("pushed_total", 42.0, t);
    let body = snappy(&req);
    let (status, answer) = post_write(receiver.port, &body);
    assert_eq!(status, 204, "{answer}");
    let secs = format!("{}.{:03}", t / 1000, t % 1000);
    let (_, answer) = receiver.get(&format!("/api/v1/query?query=pushed_total&time={secs}"));
    assert!(
        answer.contains(r#"{"metric":{"__name__":"pushed_total","job":"e2e"},"value":["#)
            && answer.contains(r#","42"]}"#),
        "{answer}"
    );
    // Garbage is bad data, as in Prometheus.
    let (status, _) = post_write(receiver.port, b"not snappy");
    assert_eq!(status, 400);

    // A second server reads it back through remote_read (read_recent: its own TSDB is empty).
    let reader = start_with(
        dir.path(),
        free_port(),
        &format!(
            "global:\n  scrape_interval: 1s\nremote_read:\n  - url: http://127.0.0.1:{}/api/v1/read\n    read_recent: true\n",
            receiver.port
        ),
        &[],
    );
    let (_, answer) = reader.get(&format!("/api/v1/query?query=pushed_total&time={secs}"));
    assert!(answer.contains(r#","42"]}"#), "{answer}");

    // Without the flag the endpoint is not found, as in Prometheus.
    let (status, answer) = post_write(reader.port, &body);
    assert_eq!(status, 404, "{answer}");
}

#[test]
fn remote_write_queue_sends_scraped_samples_to_a_second_server() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = receiver(dir.path());
    let port = free_port();
    let mut sender = start_with(
        dir.path(),
        port,
        &format!(
            "global:\n  scrape_interval: 1s\n  external_labels: {{origin: sender}}\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\nremote_write:\n  - url: http://127.0.0.1:{}/api/v1/write\n    queue_config: {{batch_send_deadline: 200ms}}\n",
            receiver.port
        ),
        &[],
    );
    wait_up(
        &receiver,
        "self",
        port,
        ",\"origin\":\"sender\"",
        Duration::from_secs(60),
    );
    let (_, metrics) = sender.get("/metrics");
    assert!(
        metrics.contains("prometheus_remote_storage_samples_total{remote_name=\""),
        "{metrics}"
    );
    sender.signal("TERM");
    assert_eq!(sender.wait_exit(Duration::from_secs(30)).code(), Some(0));
}

#[test]
fn real_prometheus_remote_writes_into_ours() {
    if !real_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ours = receiver(dir.path());
    let port = free_port();
    let config = dir.path().join("real.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: real\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\nremote_write:\n  - url: http://127.0.0.1:{0}/api/v1/write\n    queue_config: {{batch_send_deadline: 1s}}\nremote_read:\n  - url: http://127.0.0.1:{0}/api/v1/read\n    read_recent: true\n",
            ours.port
        ),
    )
    .unwrap();
    // Killed on drop like ours.
    let real = Prometheus::start_bin(REAL, &config, port, &[]);
    wait_up(&ours, "real", port, "", Duration::from_secs(90));
    wait_query(
        &ours,
        "prometheus_build_info%7Bjob%3D%22real%22%7D",
        r#""version":"2.42"#,
        Duration::from_secs(30),
    );

    // And it reads from ours: a sample only ours holds comes back through its remote_read.
    let req = e2e_write("only_in_ours", 7.0, now_ms());
    let body = snappy(&req);
    assert_eq!(post_write(ours.port, &body).0, 204);
    wait_query(
        &real,
        "only_in_ours",
        r#"{"metric":{"__name__":"only_in_ours","job":"e2e"},"value":["#,
        Duration::from_secs(30),
    );
}

/// A native histogram pushed into one server (remote-write receiver) lands in its WAL, its
/// remote-write queue (`send_native_histograms`) ships it to a second server, and PromQL
/// there sees it.
#[test]
fn native_histograms_travel_from_our_wal_to_a_second_server() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = receiver(dir.path());
    let sender = start_with(
        dir.path(),
        free_port(),
        &format!(
            "global:\n  scrape_interval: 1s\nremote_write:\n  - url: http://127.0.0.1:{}/api/v1/write\n    send_native_histograms: true\n    queue_config: {{batch_send_deadline: 200ms}}\n",
            receiver.port
        ),
        &["--web.enable-remote-write-receiver"],
    );
    // The queue sends what is newer than its start: push a few, a moment apart.
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = loop {
        let req = prompb::WriteRequest {
            timeseries: vec![prompb::TimeSeries {
                labels: vec![label("__name__", "pushed_hist"), label("job", "e2e")],
                histograms: vec![histogram_5(now_ms())],
                ..Default::default()
            }],
            ..Default::default()
        };
        let body = snappy(&req);
        let (status, answer) = post_write(sender.port, &body);
        assert_eq!(status, 204, "{answer}");
        let (_, answer) = receiver.get("/api/v1/query?query=histogram_count%28pushed_hist%29");
        if answer.contains(r#","5"]}"#) || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        answer.contains(r#"{"metric":{"job":"e2e"},"value":["#) && answer.contains(r#","5"]}"#),
        "{answer}"
    );
    let (_, answer) = receiver.get("/api/v1/query?query=histogram_sum%28pushed_hist%29");
    assert!(answer.contains(r#","2.5"]}"#), "{answer}");
    let (_, metrics) = sender.get("/metrics");
    assert!(
        metrics.contains("prometheus_remote_storage_histograms_total{remote_name=\""),
        "{metrics}"
    );
}

#[test]
fn remote_write_2_0_between_two_of_our_servers() {
    let dir = tempfile::tempdir().unwrap();
    // A receiver with the default --web.remote-write-receiver.accepted-protobuf-messages
    // (both), and one that accepts only 1.0.
    let receiver = receiver(dir.path());
    let v1_only = start_with(
        dir.path(),
        free_port(),
        "global:\n  scrape_interval: 1s\n",
        &[
            "--web.enable-remote-write-receiver",
            "--web.remote-write-receiver.accepted-protobuf-messages=prometheus.WriteRequest",
        ],
    );
    let port = free_port();
    let mut sender = start_with(
        dir.path(),
        port,
        &(self_scrape_config(port)
            + &format!(
                "remote_write:\n  - url: http://127.0.0.1:{}/api/v1/write\n    name: v2\n    protobuf_message: io.prometheus.write.v2.Request\n    queue_config: {{batch_send_deadline: 200ms}}\n  - url: http://127.0.0.1:{}/api/v1/write\n    name: refused\n    protobuf_message: io.prometheus.write.v2.Request\n    queue_config: {{batch_send_deadline: 200ms}}\n",
                receiver.port, v1_only.port
            )),
        &[],
    );
    wait_up(&receiver, "self", port, "", Duration::from_secs(60));
    // The 1.0-only receiver answers 415, which is not retried: the samples fail.
    wait_for(
        &sender,
        "/metrics",
        &["prometheus_remote_storage_samples_failed_total{remote_name=\"refused\""],
        Duration::from_secs(60),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, metrics) = sender.get("/metrics");
        let failed = metrics
            .lines()
            .find(|l| {
                l.starts_with(
                    "prometheus_remote_storage_samples_failed_total{remote_name=\"refused\"",
                )
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        let ok = metrics.lines().any(|l| {
            l.starts_with("prometheus_remote_storage_samples_failed_total{remote_name=\"v2\"")
                && l.ends_with(" 0")
        });
        if failed > 0.0 && ok {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, answer) = v1_only.get("/api/v1/query?query=up");
    assert!(answer.contains(r#""result":[]"#), "{answer}");
    sender.signal("TERM");
    assert_eq!(sender.wait_exit(Duration::from_secs(30)).code(), Some(0));
}

/// The value of the sample line `series` (name and labels as written) in `/metrics` text.
fn sample_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn self_metrics_scrape_and_remote_storage_families() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let p = start_with(dir.path(), port, &self_scrape_config(port), &[]);
    wait_query(&p, "up", r#""job":"self""#, Duration::from_secs(60));
    // Two scrapes: the first actual interval is observed.
    let metrics = wait_for(
        &p,
        "/metrics",
        &["prometheus_target_interval_length_seconds_count{interval=\"1s\"}"],
        Duration::from_secs(60),
    );
    for (family, typ) in [
        ("prometheus_target_interval_length_seconds", "summary"),
        ("prometheus_target_metadata_cache_bytes", "gauge"),
        ("prometheus_target_metadata_cache_entries", "gauge"),
        (
            "prometheus_target_scrape_pool_exceeded_label_limits_total",
            "counter",
        ),
        (
            "prometheus_target_scrape_pool_exceeded_target_limit_total",
            "counter",
        ),
        (
            "prometheus_target_scrape_pool_reloads_failed_total",
            "counter",
        ),
        ("prometheus_target_scrape_pool_reloads_total", "counter"),
        ("prometheus_target_scrape_pool_sync_total", "counter"),
        ("prometheus_target_scrape_pool_target_limit", "gauge"),
        ("prometheus_target_scrape_pool_targets", "gauge"),
        ("prometheus_target_scrape_pools_failed_total", "counter"),
        ("prometheus_target_scrape_pools_total", "counter"),
        (
            "prometheus_target_scrapes_exceeded_body_size_limit_total",
            "counter",
        ),
        (
            "prometheus_target_scrapes_exceeded_native_histogram_bucket_limit_total",
            "counter",
        ),
        (
            "prometheus_target_scrapes_exceeded_sample_limit_total",
            "counter",
        ),
        (
            "prometheus_target_scrapes_exemplar_out_of_order_total",
            "counter",
        ),
        (
            "prometheus_target_scrapes_sample_duplicate_timestamp_total",
            "counter",
        ),
        (
            "prometheus_target_scrapes_sample_out_of_bounds_total",
            "counter",
        ),
        (
            "prometheus_target_scrapes_sample_out_of_order_total",
            "counter",
        ),
        ("prometheus_target_sync_failed_total", "counter"),
        ("prometheus_target_sync_length_seconds", "summary"),
        ("prometheus_remote_storage_exemplars_in_total", "counter"),
        (
            "prometheus_remote_storage_highest_timestamp_in_seconds",
            "gauge",
        ),
        ("prometheus_remote_storage_histograms_in_total", "counter"),
        ("prometheus_remote_storage_samples_in_total", "counter"),
    ] {
        assert!(
            metrics.contains(&format!("\n# TYPE {family} {typ}\n")),
            "{family} {typ} missing from\n{metrics}"
        );
    }
    let job = "{scrape_job=\"self\"}";
    assert_eq!(
        sample_value(&metrics, "prometheus_target_scrape_pools_total"),
        Some(1.0)
    );
    assert_eq!(
        sample_value(
            &metrics,
            &format!("prometheus_target_scrape_pool_targets{job}")
        ),
        Some(1.0)
    );
    // Our own families have metadata: the cache holds it.
    assert!(
        sample_value(
            &metrics,
            &format!("prometheus_target_metadata_cache_entries{job}")
        )
        .is_some_and(|n| n > 10.0)
    );
    // Every scraped sample came in through the remote storage's appender.
    let scraped = sample_value(&metrics, "prometheus_remote_storage_samples_in_total").unwrap();
    assert!(scraped > 100.0, "{scraped}");
    let highest = sample_value(
        &metrics,
        "prometheus_remote_storage_highest_timestamp_in_seconds",
    )
    .unwrap();
    assert!(
        (highest - now_ms() as f64 / 1000.0).abs() < 120.0,
        "{highest}"
    );
}

/// As in Prometheus 3.5.3 (whose `dbAppender.Commit` wakes the compactor): a commit that
/// leaves the head spanning more than 1.5 block ranges is compacted at once, not at the next
/// minute's tick. Three and a half hours of history, remote-written in one request and
/// starting an hour into a two-hour block range, are in a block well within that minute
/// (exactly one: the 2.5 hours left in the head are not due).
#[test]
fn remote_written_history_past_three_hours_is_compacted_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = receiver(dir.path());
    let range_start = (now_ms() - 8 * 3_600_000).div_euclid(7_200_000) * 7_200_000;
    let start = range_start + 3_600_000;
    let req = prompb::WriteRequest {
        timeseries: vec![prompb::TimeSeries {
            labels: vec![label("__name__", "history"), label("job", "e2e")],
            samples: (0..=210)
                .map(|m| prompb::Sample {
                    value: m as f64,
                    timestamp: start + m * 60_000,
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let (status, answer) = post_write(receiver.port, &snappy(&req));
    assert_eq!(status, 204, "{answer}");
    // Generous, but short of the timer's minute.
    wait_for(
        &receiver,
        "/metrics",
        &["prometheus_tsdb_blocks_loaded 1\n"],
        Duration::from_secs(30),
    );
}
