//! Metric metadata over remote write: 1.0 metadata-only requests from a metadata source
//! (the scrape manager in the binary), and 2.0 per-series metadata from WAL records.

use super::*;
use storage::remote::{MetadataSource, MetadataWatcher, MetricMetadata, WriteProtoMsg};
use storage::{Metadata, MetricType};

/// Metadata entries per request: family, type, help, unit.
type Requests = Arc<Mutex<Vec<Vec<(String, i32, String, String)>>>>;

/// Records the metadata entries of accepted 1.0 requests, answering with `script` first.
fn metadata_receiver(got: Requests, script: Vec<u16>) -> Handler {
    let script = Arc::new(Mutex::new(script.into_iter().rev().collect::<Vec<_>>()));
    Arc::new(move |parts, body| {
        assert_eq!(
            parts
                .headers
                .get("x-prometheus-remote-write-version")
                .unwrap(),
            "0.1.0"
        );
        if let Some(status) = script.lock().pop() {
            return (status, vec![], b"scripted".to_vec());
        }
        let req = storage::remote::decode_write_request(body).unwrap();
        assert!(req.timeseries.is_empty(), "metadata-only requests");
        got.lock().push(
            req.metadata
                .into_iter()
                .map(|m| (m.metric_family_name, m.r#type, m.help, m.unit))
                .collect(),
        );
        (204, vec![], vec![])
    })
}

fn entry(name: &str, t: MetricType, help: &str) -> MetricMetadata {
    MetricMetadata {
        metric_family: name.into(),
        meta: Metadata {
            metric_type: t,
            unit: String::new(),
            help: help.into(),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_is_sent_in_batches_with_retries_and_counted() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let (addr, stop) = serve(metadata_receiver(got.clone(), vec![503, 400])).await;
    let mut o = opts(format!("http://{addr}/api/v1/write"));
    o.metadata.max_samples_per_send = 2;
    let qm = QueueManager::new(o).unwrap();
    let md = [
        entry("a_total", MetricType::Counter, "A."),
        entry("b", MetricType::Gauge, "B."),
        entry("c_seconds", MetricType::Histogram, "C."),
    ];
    // The first request gets 503 and is retried, then 400: given up. The rest go through.
    qm.append_metadata(&md).await;
    qm.append_metadata(&md).await;
    stop.cancel();
    let got = got.lock().clone();
    let ab = vec![
        ("a_total".into(), 1, "A.".into(), String::new()),
        ("b".into(), 2, "B.".into(), String::new()),
    ];
    let c = vec![("c_seconds".into(), 3, "C.".into(), String::new())];
    assert_eq!(got, [c.clone(), ab, c]);
    let m = qm.metrics();
    assert_eq!(m.metadata_total.load(Ordering::Relaxed), 4);
    assert_eq!(m.metadata_retried_total.load(Ordering::Relaxed), 2);
    assert_eq!(m.metadata_failed_total.load(Ordering::Relaxed), 2);
    assert!(m.metadata_bytes_total.load(Ordering::Relaxed) > 0);
    assert_eq!(m.bytes_total.load(Ordering::Relaxed), 0, "data bytes only");
    let mut text = String::new();
    m.write_text("q", "u", &mut text);
    assert!(
        text.contains("prometheus_remote_storage_metadata_total{remote_name=\"q\",url=\"u\"} 4\n"),
        "{text}"
    );
}

struct Source(Mutex<Option<Vec<MetricMetadata>>>);

impl MetadataSource for Source {
    fn metadata(&self) -> Option<Vec<MetricMetadata>> {
        self.0.lock().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_sends_deduplicated_metadata_every_interval_once_ready() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let (addr, stop) = serve(metadata_receiver(got.clone(), vec![])).await;
    let mut o = opts(format!("http://{addr}/api/v1/write"));
    o.metadata.send_interval = Duration::from_millis(20);
    let qm = QueueManager::new(o).unwrap();
    // Not ready at first: nothing is sent.
    let source = Arc::new(Source(Mutex::new(None)));
    let w = MetadataWatcher::new(qm.clone(), source.clone());
    assert!(w.enabled());
    let wstop = CancellationToken::new();
    let task = tokio::spawn(w.run(wstop.clone()));
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(got.lock().is_empty());
    // Two targets exposing the same family, and one family with two help texts.
    *source.0.lock() = Some(vec![
        entry("up", MetricType::Gauge, "Up."),
        entry("x", MetricType::Counter, "One."),
        entry("up", MetricType::Gauge, "Up."),
        entry("x", MetricType::Counter, "Two."),
    ]);
    for _ in 0..500 {
        if got.lock().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wstop.cancel();
    task.await.unwrap();
    stop.cancel();
    let got = got.lock().clone();
    assert!(got.len() >= 2, "sent every interval: {got:?}");
    assert_eq!(
        got[0],
        [
            ("up".into(), 2, "Up.".into(), String::new()),
            ("x".into(), 1, "One.".into(), String::new()),
            ("x".into(), 1, "Two.".into(), String::new()),
        ]
    );

    // Remote write 2.0 and `send: false` queues do not run it.
    let mut o = opts("http://127.0.0.1:9/api/v1/write".into());
    o.protobuf_message = WriteProtoMsg::V2;
    let v2 = MetadataWatcher::new(QueueManager::new(o).unwrap(), source.clone());
    assert!(!v2.enabled());
    let mut o = opts("http://127.0.0.1:9/api/v1/write".into());
    o.metadata.send = false;
    assert!(!MetadataWatcher::new(QueueManager::new(o).unwrap(), source).enabled());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_2_sends_series_metadata_from_the_wal() {
    // Per series: (labels, type, help, unit) as decoded from the symbol table.
    type Seen = Vec<(String, i32, String, String)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let s2 = seen.clone();
    let handler: Handler = Arc::new(move |_, body| {
        let req = storage::remote::decode_write_v2_request(body).unwrap();
        let sym = |i: u32| req.symbols[i as usize].clone();
        for ts in &req.timeseries {
            let labels: Vec<String> = ts
                .labels_refs
                .chunks(2)
                .map(|p| format!("{}={}", sym(p[0]), sym(p[1])))
                .collect();
            let (t, help, unit) = ts.metadata.map_or((0, String::new(), String::new()), |m| {
                (m.r#type, sym(m.help_ref), sym(m.unit_ref))
            });
            s2.lock().push((labels.join(","), t, help, unit));
        }
        let n = req
            .timeseries
            .iter()
            .map(|t| t.samples.len())
            .sum::<usize>();
        (
            204,
            vec![(storage::remote::WRITTEN_SAMPLES_HEADER, n.to_string())],
            vec![],
        )
    });
    let (addr, stop) = serve(handler).await;
    let mut o = opts(format!("http://{addr}/api/v1/write"));
    o.protobuf_message = WriteProtoMsg::V2;
    let qm = QueueManager::new(o).unwrap();
    qm.start().await;
    let wal = Arc::new(Mutex::new(FakeWal::default()));
    let seconds = Metadata {
        metric_type: MetricType::Counter,
        unit: "seconds".into(),
        help: "Time spent.".into(),
    };
    // Series 1's metadata is in the checkpoint, series 2's in the segment; series 3 has none.
    wal.lock().checkpoint = Some((
        0,
        vec![
            WalRecord::Series(series(1)),
            WalRecord::Metadata(vec![(1, seconds.clone())]),
        ],
    ));
    let three = series(3);
    wal.lock().segments.insert(
        1,
        vec![
            WalRecord::Series(three[1..].to_vec()),
            WalRecord::Metadata(vec![(
                2,
                Metadata {
                    metric_type: MetricType::Gauge,
                    unit: String::new(),
                    help: "Now.".into(),
                },
            )]),
            WalRecord::Samples(vec![(1, 1000, 1.0), (2, 1000, 2.0), (3, 1000, 3.0)]),
        ],
    );
    let watcher = Watcher::new(
        Box::new(FakeSource(wal.clone())),
        qm.clone(),
        WatcherOptions {
            poll_interval: Duration::from_millis(10),
            start_timestamp: 0,
        },
    );
    let wstop = CancellationToken::new();
    let task = tokio::spawn(watcher.run(wstop.clone()));
    for _ in 0..500 {
        if seen.lock().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wstop.cancel();
    task.await.unwrap().unwrap();
    qm.stop(Duration::from_secs(5)).await;
    stop.cancel();
    let mut got = seen.lock().clone();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "__name__=rw_test,i=0".into(),
                1,
                "Time spent.".into(),
                "seconds".into()
            ),
            (
                "__name__=rw_test,i=1".into(),
                2,
                "Now.".into(),
                String::new()
            ),
            (
                "__name__=rw_test,i=2".into(),
                0,
                String::new(),
                String::new()
            ),
        ]
    );
}
