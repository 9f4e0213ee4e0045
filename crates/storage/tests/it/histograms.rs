//! Native histograms end to end: WAL histogram records through the watcher and queue into our
//! own receiver, then back out through remote read.

use super::*;
use model::{CounterResetHint, FloatHistogram, Histogram, Span};

/// The integer histogram of series `i` at step `k` (counts grow with `k`).
pub(crate) fn int_histogram(i: u64, k: i64) -> Histogram {
    let k = k as u64;
    Histogram {
        schema: 0,
        zero_threshold: 0.001,
        zero_count: k,
        count: 4 * k + i + 3,
        sum: (k * 10 + i) as f64 + 0.5,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![k as i64 + 1, k as i64],
        negative_spans: vec![Span {
            offset: 1,
            length: 1,
        }],
        negative_buckets: vec![i as i64 + 1],
        ..Histogram::default()
    }
}

fn float_histogram(k: i64) -> FloatHistogram {
    FloatHistogram {
        counter_reset_hint: CounterResetHint::Gauge,
        schema: 2,
        count: 2.5 + k as f64,
        sum: -1.25,
        positive_spans: vec![Span {
            offset: -2,
            length: 1,
        }],
        positive_buckets: vec![2.5 + k as f64],
        ..FloatHistogram::default()
    }
}

/// A receiver appending into `db` exactly as `/api/v1/write` does.
fn receiver(db: Arc<MemStorage>) -> Handler {
    Arc::new(move |_, body| {
        let res = storage::remote::append_write_body(body, db.as_ref());
        let status = storage::remote::write_response_status(&res);
        let msg = res.err().map(|e| e.to_string()).unwrap_or_default();
        (status, vec![], msg.into_bytes())
    })
}

/// Every histogram of `db` as (labels, t, float view), hints cleared (MemStorage sets them).
fn stored(db: &MemStorage) -> Vec<(String, i64, ValueType, FloatHistogram)> {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let mut set = q.select(true, None, &[]);
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let s = s.unwrap();
        let mut it = s.iterator();
        loop {
            match it.next() {
                ValueType::None => break,
                ValueType::Float => {}
                vt => {
                    let (t, mut fh) = it.at_float_histogram();
                    if fh.counter_reset_hint != CounterResetHint::Gauge {
                        fh.counter_reset_hint = CounterResetHint::Unknown;
                    }
                    out.push((s.labels().to_string(), t, vt, fh));
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wal_histograms_reach_our_receiver_and_come_back_through_remote_read() {
    let db = Arc::new(MemStorage::new());
    let (addr, stop) = serve(receiver(db.clone())).await;
    let wal = Arc::new(Mutex::new(FakeWal::default()));
    let gauge = Labels::from_pairs([("__name__", "rw_gauge_hist")]);
    let mut recs = vec![WalRecord::Series(
        series(2).into_iter().chain([(3, gauge.clone())]).collect(),
    )];
    for k in 0..5 {
        recs.push(WalRecord::Histograms(vec![
            (1, 1_000 + k * 1000, int_histogram(0, k)),
            (2, 1_000 + k * 1000, int_histogram(1, k)),
        ]));
        recs.push(WalRecord::FloatHistograms(vec![(
            3,
            1_000 + k * 1000,
            float_histogram(k),
        )]));
    }
    // A float sample too, and a histogram of an unknown series (dropped, counted).
    recs.push(WalRecord::Samples(vec![(1, 500, 1.0)]));
    recs.push(WalRecord::Histograms(vec![(
        99,
        1_000,
        int_histogram(0, 0),
    )]));
    wal.lock().segments.insert(0, recs);

    let qm = QueueManager::new(WriteOptions {
        send_native_histograms: true,
        ..opts(format!("http://{addr}/api/v1/write"))
    })
    .unwrap();
    qm.start().await;
    let watch_stop = CancellationToken::new();
    let watcher = Watcher::new(
        Box::new(FakeSource(wal.clone())),
        qm.clone(),
        WatcherOptions {
            poll_interval: Duration::from_millis(10),
            start_timestamp: i64::MIN,
        },
    );
    let task = tokio::spawn(watcher.run(watch_stop.clone()));
    let m = qm.metrics();
    for _ in 0..500 {
        if m.histograms_total.load(Ordering::Relaxed) >= 15 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    watch_stop.cancel();
    task.await.unwrap().unwrap();
    qm.stop(Duration::from_secs(10)).await;
    assert_eq!(m.histograms_total.load(Ordering::Relaxed), 15);
    assert_eq!(m.histograms_dropped_total.load(Ordering::Relaxed), 1);
    assert_eq!(m.histograms_pending.load(Ordering::Relaxed), 0);
    assert_eq!(m.histograms_failed_total.load(Ordering::Relaxed), 0);
    assert_eq!(m.samples_total.load(Ordering::Relaxed), 1);
    let mut text = String::new();
    m.write_text("test", "u", &mut text);
    assert!(
        text.contains(
            "prometheus_remote_storage_histograms_total{remote_name=\"test\",url=\"u\"} 15\n"
        ),
        "{text}"
    );

    let names: Vec<String> = series(2).iter().map(|(_, l)| l.to_string()).collect();
    let mut want = Vec::new();
    for k in 0..5 {
        want.push((
            gauge.to_string(),
            1_000 + k * 1000,
            ValueType::FloatHistogram,
            float_histogram(k),
        ));
    }
    for (i, name) in names.iter().enumerate() {
        for k in 0..5 {
            want.push((
                name.clone(),
                1_000 + k * 1000,
                ValueType::Histogram,
                int_histogram(i as u64, k).to_float(),
            ));
        }
    }
    assert_eq!(stored(&db), want);

    // Remote read of the receiver's storage returns the same histograms, kinds kept.
    let (server_db, ext) = (db.clone(), Labels::default());
    let read_handler: Handler = Arc::new(move |_, body| {
        let resp = storage::remote::decode_read_request(body)
            .and_then(|req| storage::remote::serve_read(&req, server_db.as_ref(), &ext))
            .unwrap();
        (
            200,
            vec![("content-encoding", "snappy".into())],
            storage::remote::encode_read_response(&resp),
        )
    });
    let (raddr, rstop) = serve(read_handler).await;
    let client = RemoteRead::new(ReadOptions {
        url: format!("http://{raddr}/api/v1/read"),
        remote_timeout: Duration::from_secs(5),
        ..ReadOptions::default()
    })
    .unwrap();
    let got = tokio::task::spawn_blocking(move || {
        let q = client.querier(0, 10_000).unwrap();
        let mut set = q.select(true, None, &[crate::any_name()]);
        let mut out = Vec::new();
        while let Some(s) = set.next() {
            let s = s.unwrap();
            let mut it = s.iterator();
            // Seek skips the float at 500 and lands on the first histogram.
            let mut vt = it.seek(600);
            while vt != ValueType::None {
                let (t, mut fh) = it.at_float_histogram();
                if vt == ValueType::Histogram {
                    assert_eq!(it.at_histogram().1.to_float(), fh);
                }
                if fh.counter_reset_hint != CounterResetHint::Gauge {
                    fh.counter_reset_hint = CounterResetHint::Unknown;
                }
                out.push((s.labels().to_string(), t, vt, fh));
                vt = it.next();
            }
        }
        out
    })
    .await
    .unwrap();
    assert_eq!(got, want);
    rstop.cancel();
    stop.cancel();
}

#[tokio::test]
async fn histograms_stay_home_without_send_native_histograms() {
    let db = Arc::new(MemStorage::new());
    let (addr, stop) = serve(receiver(db.clone())).await;
    let qm = QueueManager::new(opts(format!("http://{addr}/api/v1/write"))).unwrap();
    qm.start().await;
    qm.store_series(&series(1), 0);
    assert!(qm.append(&samples(1, 1, 1_000)).await);
    assert!(
        qm.append_histograms(vec![(
            1,
            2_000,
            storage::remote::HistogramSample::Int(int_histogram(0, 1))
        )])
        .await
    );
    qm.stop(Duration::from_secs(10)).await;
    let m = qm.metrics();
    assert_eq!(m.samples_total.load(Ordering::Relaxed), 1);
    assert_eq!(m.histograms_total.load(Ordering::Relaxed), 0);
    assert_eq!(m.histograms_dropped_total.load(Ordering::Relaxed), 0);
    assert!(stored(&db).is_empty());
    stop.cancel();
}

/// One instant query against a Prometheus peer: `(series label i, value)` per result.
fn instant(port: u16, expr: &str, t_ms: i64) -> Vec<(String, String)> {
    let path = format!(
        "/api/v1/query?query={}&time={}.{:03}",
        expr.replace('(', "%28").replace(')', "%29"),
        t_ms / 1000,
        t_ms % 1000
    );
    let (status, body) = super::peers::http_get(port, &path).unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut out: Vec<(String, String)> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["metric"]["i"].as_str().unwrap_or("").to_owned(),
                r["value"][1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Our sender's native histograms are stored by Prometheus 2.42 (its receiver with
/// `--enable-feature=native-histograms`): its PromQL sees their counts and sums. (2.42
/// predates float histograms over remote write, so only integer ones are sent to it.)
#[test]
fn prometheus_2_42_queries_the_histograms_we_send() {
    use super::peers::{PROMETHEUS, free_port, now_ms, prometheus_peer_with, skip};
    if skip(PROMETHEUS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _peer = prometheus_peer_with(
        dir.path(),
        port,
        "global: {}\n",
        &["--enable-feature=native-histograms"],
    );
    let t0 = now_ms() - 120_000;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let m = rt.block_on(async {
        let qm = QueueManager::new(WriteOptions {
            send_native_histograms: true,
            ..opts(format!("http://127.0.0.1:{port}/api/v1/write"))
        })
        .unwrap();
        qm.start().await;
        let wal = Arc::new(Mutex::new(FakeWal::default()));
        let mut recs = vec![WalRecord::Series(series(2))];
        for k in 0..10 {
            recs.push(WalRecord::Histograms(vec![
                (1, t0 + k * 1000, int_histogram(0, k)),
                (2, t0 + k * 1000, int_histogram(1, k)),
            ]));
        }
        wal.lock().segments.insert(0, recs);
        let watcher = Watcher::new(
            Box::new(FakeSource(wal)),
            qm.clone(),
            WatcherOptions {
                poll_interval: Duration::from_millis(10),
                start_timestamp: i64::MIN,
            },
        );
        let stop = CancellationToken::new();
        let task = tokio::spawn(watcher.run(stop.clone()));
        let m = qm.metrics();
        for _ in 0..1000 {
            if m.histograms_total.load(Ordering::Relaxed) >= 20
                && m.histograms_pending.load(Ordering::Relaxed) == 0
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.cancel();
        task.await.unwrap().unwrap();
        qm.stop(Duration::from_secs(30)).await;
        m
    });
    assert_eq!(m.histograms_total.load(Ordering::Relaxed), 20);
    assert_eq!(m.histograms_failed_total.load(Ordering::Relaxed), 0);
    let at = t0 + 9_000;
    // Series i at step 9: count 4*9+i+3, sum 90+i+0.5.
    assert_eq!(
        instant(port, "histogram_count(rw_test)", at),
        [
            ("0".to_owned(), "39".to_owned()),
            ("1".to_owned(), "40".to_owned())
        ]
    );
    assert_eq!(
        instant(port, "histogram_sum(rw_test)", at),
        [
            ("0".to_owned(), "90.5".to_owned()),
            ("1".to_owned(), "91.5".to_owned())
        ]
    );
    // Every histogram is stored: 10 per series in the last 10 s of the range.
    assert_eq!(
        instant(port, "count_over_time(rw_test[10s])", at),
        [
            ("0".to_owned(), "10".to_owned()),
            ("1".to_owned(), "10".to_owned())
        ]
    );

    // 2.42's remote-read endpoint predates histograms in SAMPLES responses (it answers
    // without them), so reading back is tested against our own server only.
}

/// Protobuf wire helpers for a hand-built exposition.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_uint(out: &mut Vec<u8>, field: u64, v: u64) {
    put_varint(out, field << 3);
    put_varint(out, v);
}

fn put_double(out: &mut Vec<u8>, field: u64, v: f64) {
    put_varint(out, (field << 3) | 1);
    out.extend_from_slice(&v.to_le_bytes());
}

/// A delimited `io.prometheus.client.MetricFamily` `nh_test` holding one native histogram
/// whose counts grow with `n`: zero bucket `n`, one positive bucket (index 0) `n + 1`.
fn exposition(n: u64) -> Vec<u8> {
    let mut span = Vec::new();
    put_uint(&mut span, 2, 1);
    let mut h = Vec::new();
    put_uint(&mut h, 1, 2 * n + 1);
    put_double(&mut h, 2, n as f64 * 1.5);
    put_uint(&mut h, 5, 0); // schema 0 (zigzag 0)
    put_double(&mut h, 6, 0.001);
    put_uint(&mut h, 7, n);
    put_bytes(&mut h, 12, &span);
    let mut deltas = Vec::new();
    put_varint(&mut deltas, (n + 1) << 1); // zigzag of a positive delta
    put_bytes(&mut h, 13, &deltas);
    let mut metric = Vec::new();
    put_bytes(&mut metric, 7, &h);
    let mut family = Vec::new();
    put_bytes(&mut family, 1, b"nh_test");
    put_bytes(&mut family, 2, b"A native histogram.");
    put_uint(&mut family, 3, 4); // HISTOGRAM
    put_bytes(&mut family, 4, &metric);
    let mut out = Vec::new();
    put_varint(&mut out, family.len() as u64);
    out.extend_from_slice(&family);
    out
}

/// Prometheus 2.42 scrapes native histograms (protobuf, `--enable-feature=native-histograms`)
/// and remote-writes them (`send_native_histograms`) into our receiver, which stores them.
#[test]
fn prometheus_2_42_remote_writes_native_histograms_into_our_receiver() {
    use super::peers::{PROMETHEUS, free_port, prometheus_peer_with, skip};
    if skip(PROMETHEUS) {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let scrapes = Arc::new(AtomicUsize::new(0));
    let counter = scrapes.clone();
    let target: Handler = Arc::new(move |_, _| {
        let n = counter.fetch_add(1, Ordering::SeqCst) as u64;
        (
            200,
            vec![(
                "content-type",
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited".into(),
            )],
            exposition(n),
        )
    });
    let (target_addr, stop_target) = rt.block_on(serve(target));
    let db = Arc::new(MemStorage::new());
    let (recv_addr, stop_recv) = rt.block_on(serve(receiver(db.clone())));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: nh\n    static_configs:\n      - targets: ['{target_addr}']\nremote_write:\n  - url: http://{recv_addr}/api/v1/write\n    send_native_histograms: true\n    queue_config:\n      batch_send_deadline: 100ms\n"
    );
    let _peer = prometheus_peer_with(
        dir.path(),
        port,
        &config,
        &["--enable-feature=native-histograms"],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let got = loop {
        let got: Vec<_> = stored(&db)
            .into_iter()
            .filter(|(l, ..)| l.contains("nh_test"))
            .collect();
        if got.len() >= 2 || std::time::Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(got.len() >= 2, "{got:?}");
    for (labels, _, vt, fh) in &got {
        assert_eq!(
            labels,
            &format!(r#"{{__name__="nh_test", instance="{target_addr}", job="nh"}}"#)
        );
        assert_eq!(*vt, ValueType::Histogram);
        let n = fh.zero_count;
        assert_eq!(fh.count, 2.0 * n + 1.0, "{fh:?}");
        assert_eq!(fh.sum, n * 1.5);
        assert_eq!(fh.positive_buckets, [n + 1.0]);
        assert_eq!(fh.schema, 0);
    }
    stop_target.cancel();
    stop_recv.cancel();
}
