//! `--enable-feature=memory-snapshot-on-shutdown` end to end: SIGTERM leaves a chunk
//! snapshot in the data directory, the next start loads it (and says so in its metrics),
//! and every sample is served again.

use std::time::Duration;

use super::{
    OURS, Prometheus, e2e_write, free_port, now_ms, post_write, snappy, tsdb_path, wait_for,
    write_config,
};

const FLAGS: [&str; 2] = [
    "--enable-feature=memory-snapshot-on-shutdown",
    "--web.enable-remote-write-receiver",
];

fn start(data: &std::path::Path, config: &std::path::Path, port: u16) -> Prometheus {
    let args = std::iter::once(tsdb_path(data)).chain(FLAGS.iter().map(|s| (*s).to_owned()));
    let mut p = Prometheus::spawn(OURS, config, port, args, tempfile::tempdir().unwrap());
    p.wait_ready();
    p
}

fn snapshots(data: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(data)
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.starts_with("chunk_snapshot."))
        .collect()
}

#[test]
fn sigterm_writes_a_snapshot_the_next_start_loads() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let config = write_config(dir.path(), port, "global:\n  scrape_interval: 1h\n");
    let t = now_ms() - 60_000;

    let mut p = start(&data, &config, port);
    for k in 0..5 {
        let (status, body) = post_write(
            port,
            &snappy(&e2e_write("snap_e2e", k as f64, t + k * 1000)),
        );
        assert_eq!(status / 100, 2, "{body}");
    }
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(30)).code(), Some(0));
    let snaps = snapshots(&data);
    assert_eq!(snaps.len(), 1, "{snaps:?}");

    let mut p = start(&data, &config, port);
    wait_for(
        &p,
        "/metrics",
        &["\nprometheus_tsdb_snapshot_replay_error_total 0\n"],
        Duration::from_secs(10),
    );
    let body = wait_for(
        &p,
        &format!(
            "/api/v1/query?query=snap_e2e%5B1m%5D&time={}.{:03}",
            (t + 5000) / 1000,
            (t + 5000) % 1000
        ),
        &["snap_e2e"],
        Duration::from_secs(10),
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let values = v["data"]["result"][0]["values"].as_array().unwrap();
    let got: Vec<&str> = values.iter().map(|p| p[1].as_str().unwrap()).collect();
    assert_eq!(got, ["0", "1", "2", "3", "4"], "{body}");
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(30)).code(), Some(0));
    assert_eq!(snapshots(&data).len(), 1, "the older snapshot is deleted");
}
