//! Metric metadata end to end: a remote write 1.0 queue sends the scrape manager's metadata
//! every `metadata_config.send_interval`, and with `--enable-feature=metadata-wal-records`
//! a 2.0 queue sends each series' metadata, which the scrape loop handed to the head, the
//! head logged to the WAL and the WAL watcher read back, with its samples.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prompb::Message as _;

use super::{OURS, Prometheus, free_port, http_response, serve_http, write_config};

const EXPOSITION: &str = "# HELP md_e2e_requests_total Requests served.\n\
# TYPE md_e2e_requests_total counter\n\
md_e2e_requests_total{code=\"200\"} 7\n\
# HELP md_e2e_temp_celsius Temperature now.\n\
# TYPE md_e2e_temp_celsius gauge\n\
md_e2e_temp_celsius 21\n";

/// Serves [`EXPOSITION`] on a loopback port.
fn start_target() -> u16 {
    serve_http(|_| {
        http_response(
            "200 OK",
            "Content-Type: text/plain; version=0.0.4\r\nConnection: close\r\n",
            EXPOSITION.as_bytes(),
        )
    })
}

/// What the receiver saw: 1.0 metadata entries `(family, type, help)` and 2.0 series
/// metadata `(metric name, type, help)`.
#[derive(Default)]
struct Seen {
    v1: Vec<(String, i32, String)>,
    v2: Vec<(String, i32, String)>,
}

/// A receiver for both protocols (by `Content-Type`) answering 204 with written counts.
fn start_receiver() -> (u16, Arc<Mutex<Seen>>) {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let store = seen.clone();
    let port = serve_http(move |req| {
        let raw = snap::raw::Decoder::new().decompress_vec(&req.body).unwrap();
        let mut written = 0;
        let mut seen = store.lock().unwrap();
        if req.header_contains("content-type", "write.v2") {
            let req = prompb::write_v2::Request::decode(raw.as_slice()).unwrap();
            let sym = |i: u32| req.symbols[i as usize].clone();
            for ts in &req.timeseries {
                written += ts.samples.len();
                let name = ts
                    .labels_refs
                    .chunks(2)
                    .find(|p| sym(p[0]) == "__name__")
                    .map(|p| sym(p[1]))
                    .unwrap_or_default();
                if let Some(m) = ts.metadata {
                    seen.v2.push((name, m.r#type, sym(m.help_ref)));
                }
            }
        } else {
            let req = prompb::WriteRequest::decode(raw.as_slice()).unwrap();
            for m in req.metadata {
                seen.v1.push((m.metric_family_name, m.r#type, m.help));
            }
        }
        http_response(
            "204 No Content",
            &format!("X-Prometheus-Remote-Write-Samples-Written: {written}\r\n"),
            b"",
        )
    });
    (port, seen)
}

#[test]
fn metadata_reaches_the_wal_and_both_remote_write_protocols() {
    let dir = tempfile::tempdir().unwrap();
    let target = start_target();
    let (receiver, seen) = start_receiver();
    let port = free_port();
    let config = write_config(
        dir.path(),
        port,
        &format!(
            "global:\n  scrape_interval: 200ms\nscrape_configs:\n  - job_name: md\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\nremote_write:\n  - url: http://127.0.0.1:{receiver}/v1\n    name: v1\n    metadata_config: {{send_interval: 500ms}}\n    queue_config: {{batch_send_deadline: 100ms}}\n  - url: http://127.0.0.1:{receiver}/v2\n    name: v2\n    protobuf_message: io.prometheus.write.v2.Request\n    queue_config: {{batch_send_deadline: 100ms}}\n"
        ),
    );
    let data = tempfile::tempdir().unwrap();
    let args = vec![
        format!("--storage.tsdb.path={}", data.path().display()),
        "--enable-feature=metadata-wal-records".to_owned(),
        "--scrape.discovery-reload-interval=100ms".to_owned(),
    ];
    let mut server = Prometheus::spawn(OURS, &config, port, args, data);
    server.wait_ready();

    let counter = (
        "md_e2e_requests_total".to_owned(),
        1,
        "Requests served.".to_owned(),
    );
    let gauge = (
        "md_e2e_temp_celsius".to_owned(),
        2,
        "Temperature now.".to_owned(),
    );
    // Report series get theirs too (in the WAL only: they are no target family).
    let up = (
        "up".to_owned(),
        2,
        "Health of the scrape target. 1 means the target is healthy, 0 if the scrape failed."
            .to_owned(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        {
            let s = seen.lock().unwrap();
            if [&counter, &gauge]
                .iter()
                .all(|m| s.v1.contains(m) && s.v2.contains(m))
                && s.v2.contains(&up)
            {
                break;
            }
            assert!(Instant::now() < deadline, "v1 {:?}\nv2 {:?}", s.v1, s.v2);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, metrics) = server.get("/metrics");
    assert!(
        metrics.lines().any(|l| l
            .starts_with("prometheus_remote_storage_metadata_total{remote_name=\"v1\"")
            && !l.ends_with(" 0")),
        "{metrics}"
    );
    let s = seen.lock().unwrap();
    // Remote write 2.0 queues do not send 1.0 metadata requests; every 1.0 entry is one of
    // the target's two families.
    assert!(
        s.v1.iter().all(|m| *m == counter || *m == gauge),
        "{:?}",
        s.v1
    );
}
