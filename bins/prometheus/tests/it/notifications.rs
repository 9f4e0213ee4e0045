//! `/api/v1/notifications/live` end to end: a subscriber reads the server-sent events of a failed reload, the fixed one and the shutdown, as Prometheus 3.5 sends them.

use std::io::Read as _;
use std::io::Write as _;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Prometheus, example_config};

/// Reads from `stream` into `buf` until it holds `events` events (or the stream ends).
fn read_events(stream: &mut TcpStream, buf: &mut Vec<u8>, events: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while String::from_utf8_lossy(buf).matches("data: ").count() < events {
        assert!(
            Instant::now() < deadline,
            "no event {events} in {}",
            String::from_utf8_lossy(buf)
        );
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("reading the stream: {e}"),
        }
    }
}

/// `(text, active)` of every event in `buf`.
fn events(buf: &[u8]) -> Vec<(String, bool)> {
    String::from_utf8_lossy(buf)
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|j| {
            let v: Value = serde_json::from_str(j).unwrap();
            (
                v["text"].as_str().unwrap().to_owned(),
                v["active"].as_bool().unwrap(),
            )
        })
        .collect()
}

const FAILED: &str = "Configuration reload has failed.";
const STOPPING: &str = "Prometheus is shutting down and gracefully stopping all operations.";

#[test]
fn live_notifications_follow_a_failed_and_a_fixed_reload_and_the_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::copy(example_config(), &config).unwrap();
    let mut p = Prometheus::start(&config, &[]);
    p.wait_ready();

    let mut stream = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    stream
        .write_all(b"GET /api/v1/notifications/live HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Ready and well configured: no notification is active, so only the headers come.
    let mut buf = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !String::from_utf8_lossy(&buf).contains("\r\n\r\n") {
        assert!(Instant::now() < deadline, "no headers");
        let mut chunk = [0u8; 4096];
        if let Ok(n) = stream.read(&mut chunk) {
            buf.extend_from_slice(&chunk[..n]);
        }
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(
        head.contains("content-type: text/event-stream\r\n"),
        "{head}"
    );
    assert!(head.contains("cache-control: no-cache\r\n"), "{head}");
    super::wait_for(
        &p,
        "/metrics",
        &["prometheus_api_notification_active_subscribers 1\n"],
        Duration::from_secs(10),
    );

    std::fs::write(&config, "global: [\n").unwrap();
    p.signal("HUP");
    read_events(&mut stream, &mut buf, 1);
    assert_eq!(events(&buf), [(FAILED.to_owned(), true)]);
    let (_, list) = p.get("/api/v1/notifications");
    assert!(list.contains(FAILED), "{list}");

    std::fs::copy(example_config(), &config).unwrap();
    p.signal("HUP");
    read_events(&mut stream, &mut buf, 2);
    assert_eq!(
        events(&buf),
        [(FAILED.to_owned(), true), (FAILED.to_owned(), false)]
    );
    let (_, list) = p.get("/api/v1/notifications");
    assert_eq!(list, r#"{"status":"success","data":[]}"#);
    let (_, metrics) = p.get("/metrics");
    for line in [
        "prometheus_api_notification_active_subscribers 1\n",
        "prometheus_api_notification_updates_sent_total 2\n",
        "prometheus_api_notification_updates_dropped_total 0\n",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }

    // Shutting down: the subscriber is told, then the stream ends with the process.
    p.signal("TERM");
    read_events(&mut stream, &mut buf, 3);
    assert_eq!(events(&buf).last(), Some(&(STOPPING.to_owned(), true)));
    let status = p.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
}
