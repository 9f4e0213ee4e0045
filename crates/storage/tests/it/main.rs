//! Integration tests of remote write and remote read (feature `remote`): a loopback receiver,
//! a fake WAL, and real VictoriaMetrics and Prometheus 2.42 peers when installed.
#![cfg(feature = "remote")]
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod histograms;
mod metadata;
mod peers;
mod streamed;
mod v2;

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use model::{Labels, MatchType, Matcher};
use parking_lot::Mutex;
use storage::remote::{
    QueueManager, QueueOptions, ReadOptions, RemoteRead, WalRecord, WalSource, Watcher,
    WatcherOptions, WriteOptions,
};
use storage::{Appendable, MemStorage, Queryable, Result, ValueType};
use tokio_util::sync::CancellationToken;

/// What a handler answers: status, headers, body.
type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);
type Handler = Arc<dyn Fn(&hyper::http::request::Parts, &[u8]) -> Answer + Send + Sync>;

/// Serves `handler` on a free loopback port until the returned token is cancelled.
async fn serve(handler: Handler) -> (SocketAddr, CancellationToken) {
    serve_with(handler, None).await
}

/// [`serve`], over TLS when `tls` is set.
async fn serve_with(
    handler: Handler,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (SocketAddr, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let stop2 = stop.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                r = listener.accept() => r.unwrap(),
                () = stop2.cancelled() => return,
            };
            let handler = handler.clone();
            let conn_stop = stop2.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let (status, headers, out) = handler(&parts, &body);
                        let mut resp = Response::builder().status(status);
                        for (k, v) in headers {
                            resp = resp.header(k, v);
                        }
                        Ok::<_, Infallible>(resp.body(Full::new(Bytes::from(out))).unwrap())
                    }
                });
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    None => {
                        let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
                        tokio::select! {
                            _ = conn => {}
                            () = conn_stop.cancelled() => {}
                        }
                    }
                    Some(cfg) => {
                        let Ok(stream) = tokio_rustls::TlsAcceptor::from(cfg).accept(stream).await
                        else {
                            return;
                        };
                        let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
                        tokio::select! {
                            _ = conn => {}
                            () = conn_stop.cancelled() => {}
                        }
                    }
                }
            });
        }
    });
    (addr, stop)
}

/// A receiver that records every sample of every accepted request, answering with `script`
/// (one status per request) before answering 204 forever.
struct Receiver {
    samples: Mutex<Vec<(String, i64, f64)>>,
    requests: AtomicUsize,
    script: Mutex<Vec<(u16, Option<&'static str>)>>,
}

impl Receiver {
    fn new(script: Vec<(u16, Option<&'static str>)>) -> Arc<Receiver> {
        Arc::new(Receiver {
            samples: Mutex::new(Vec::new()),
            requests: AtomicUsize::new(0),
            script: Mutex::new(script.into_iter().rev().collect()),
        })
    }

    fn handler(self: &Arc<Self>) -> Handler {
        let me = self.clone();
        Arc::new(move |parts, body| {
            me.requests.fetch_add(1, Ordering::SeqCst);
            let h = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
            };
            assert_eq!(h("content-encoding"), "snappy");
            assert_eq!(h("content-type"), "application/x-protobuf");
            assert_eq!(h("x-prometheus-remote-write-version"), "0.1.0");
            assert!(
                h("user-agent").starts_with("Prometheus"),
                "{}",
                h("user-agent")
            );
            if let Some((status, retry_after)) = me.script.lock().pop() {
                let headers = retry_after
                    .map(|r| vec![("retry-after", r.to_string())])
                    .unwrap_or_default();
                return (status, headers, b"scripted failure".to_vec());
            }
            let req = storage::remote::decode_write_request(body).unwrap();
            let mut got = me.samples.lock();
            for ts in req.timeseries {
                let labels = storage::remote::labels_from_proto(&ts.labels)
                    .unwrap()
                    .to_string();
                for s in ts.samples {
                    got.push((labels.clone(), s.timestamp, s.value));
                }
            }
            (204, vec![], vec![])
        })
    }
}

fn opts(url: String) -> WriteOptions {
    WriteOptions {
        url,
        name: "test".into(),
        remote_timeout: Duration::from_secs(5),
        queue: QueueOptions {
            max_samples_per_send: 100,
            batch_send_deadline: Duration::from_millis(20),
            min_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
            min_shards: 1,
            max_shards: 4,
            capacity: 500,
            reshard_interval: Duration::from_millis(100),
            ..QueueOptions::default()
        },
        ..WriteOptions::default()
    }
}

fn series(n: u64) -> Vec<(u64, Labels)> {
    (0..n)
        .map(|i| {
            (
                i + 1,
                Labels::from_pairs([("__name__", "rw_test".to_string()), ("i", i.to_string())]),
            )
        })
        .collect()
}

/// `n_series` series with `per_series` samples each, interleaved, timestamps from `t0`.
fn samples(n_series: u64, per_series: i64, t0: i64) -> Vec<(u64, i64, f64)> {
    let mut out = Vec::new();
    for k in 0..per_series {
        for r in 1..=n_series {
            out.push((r, t0 + k * 1000, (r as i64 * 1_000_000 + k) as f64));
        }
    }
    out
}

fn expected(n_series: u64, per_series: i64, t0: i64) -> BTreeSet<(String, i64, u64)> {
    let names: BTreeMap<u64, String> = series(n_series)
        .into_iter()
        .map(|(r, l)| (r, l.to_string()))
        .collect();
    samples(n_series, per_series, t0)
        .into_iter()
        .map(|(r, t, v)| (names[&r].clone(), t, v.to_bits()))
        .collect()
}

fn received(rx: &Receiver) -> BTreeSet<(String, i64, u64)> {
    rx.samples
        .lock()
        .iter()
        .map(|(l, t, v)| (l.clone(), *t, v.to_bits()))
        .collect()
}

/// The test certificates of the httpclient crate (a CA and a server certificate for
/// 127.0.0.1).
fn cert_file(name: &str) -> String {
    format!(
        "{}/../httpclient/testdata/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn tls_server() -> Arc<rustls::ServerConfig> {
    use rustls_pki_types::pem::PemObject;
    let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_file_iter(cert_file("server.crt"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(cert_file("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_over_https_with_basic_auth() {
    let rx = Receiver::new(vec![]);
    let inner = rx.handler();
    let auths = Arc::new(Mutex::new(Vec::new()));
    let seen = auths.clone();
    let handler: Handler = Arc::new(move |parts, body| {
        let auth = parts
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string());
        seen.lock().push(auth.clone());
        if auth.as_deref() != Some("Basic dTpw") {
            return (401, vec![], b"unauthorized".to_vec());
        }
        inner(parts, body)
    });
    let (addr, stop) = serve_with(handler, Some(tls_server())).await;
    let mut http = httpclient::HttpClientConfig::default();
    http.tls_config.ca_file = cert_file("ca.crt");
    http.basic_auth = Some(httpclient::http_config::BasicAuth {
        username: "u".into(),
        password: config_secret("p"),
        ..Default::default()
    });
    let mut o = opts(format!("https://{addr}/api/v1/write"));
    o.client = httpclient::HttpClient::new(&http).unwrap();
    let qm = QueueManager::new(o).unwrap();
    qm.start().await;
    qm.store_series(&series(3), 0);
    assert!(qm.append(&samples(3, 10, 1_000)).await);
    qm.stop(Duration::from_secs(5)).await;
    stop.cancel();
    assert_eq!(received(&rx), expected(3, 10, 1_000));
    assert!(
        auths
            .lock()
            .iter()
            .all(|a| a.as_deref() == Some("Basic dTpw"))
    );
}

fn config_secret(s: &str) -> httpclient::http_config::Secret {
    httpclient::http_config::Secret::new(s)
}

#[tokio::test]
async fn exemplars_travel_with_their_series_only_with_send_exemplars() {
    type Got = Vec<(String, String, i64, f64)>;
    let got: Arc<Mutex<Got>> = Arc::default();
    let sink = got.clone();
    let handler: Handler = Arc::new(move |_, body| {
        let req = storage::remote::decode_write_request(body).unwrap();
        for ts in req.timeseries {
            let series = storage::remote::labels_from_proto(&ts.labels).unwrap();
            for e in ts.exemplars {
                let labels = storage::remote::labels_from_proto(&e.labels).unwrap();
                sink.lock()
                    .push((series.to_string(), labels.to_string(), e.timestamp, e.value));
            }
        }
        (204, vec![], vec![])
    });
    let (addr, stop) = serve(handler).await;
    for send_exemplars in [false, true] {
        let qm = QueueManager::new(WriteOptions {
            send_exemplars,
            ..opts(format!("http://{addr}/api/v1/write"))
        })
        .unwrap();
        qm.start().await;
        qm.store_series(&series(2), 0);
        assert!(qm.append(&samples(2, 1, 1_000)).await);
        let trace = Labels::from_pairs([("trace_id", "abc")]);
        // Series 9 was never declared: dropped and counted.
        assert!(
            qm.append_exemplars(&[(1, 900, 0.5, trace.clone()), (9, 900, 1.0, trace.clone())])
                .await
        );
        qm.stop(Duration::from_secs(30)).await;
        let m = qm.metrics();
        let sent = u64::from(send_exemplars);
        assert_eq!(m.exemplars_total.load(Ordering::Relaxed), sent);
        assert_eq!(m.exemplars_dropped_total.load(Ordering::Relaxed), sent);
        assert_eq!(m.exemplars_pending.load(Ordering::Relaxed), 0);
        assert_eq!(m.samples_total.load(Ordering::Relaxed), 2);
    }
    stop.cancel();
    assert_eq!(
        *got.lock(),
        [(
            r#"{__name__="rw_test", i="0"}"#.to_owned(),
            r#"{trace_id="abc"}"#.to_owned(),
            900,
            0.5
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_arrives_once_with_sharding() {
    let rx = Receiver::new(vec![]);
    let (addr, stop) = serve(rx.handler()).await;
    let qm = QueueManager::new(opts(format!("http://{addr}/api/v1/write"))).unwrap();
    qm.start().await;
    qm.store_series(&series(50), 0);
    let all = samples(50, 200, 1_000_000);
    for chunk in all.chunks(1000) {
        assert!(qm.append(chunk).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    qm.stop(Duration::from_secs(30)).await;
    stop.cancel();
    assert_eq!(
        rx.samples.lock().len(),
        all.len(),
        "no duplicates, nothing lost"
    );
    assert_eq!(received(&rx), expected(50, 200, 1_000_000));
    // Per series, samples arrive in timestamp order.
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for (l, t, _) in rx.samples.lock().iter() {
        let prev = last.insert(l.clone(), *t);
        assert!(prev.is_none_or(|p| p < *t), "{l} out of order at {t}");
    }
    let m = qm.metrics();
    assert_eq!(m.samples_total.load(Ordering::Relaxed), all.len() as u64);
    assert_eq!(m.samples_pending.load(Ordering::Relaxed), 0);
    let mut text = String::new();
    m.write_text("test", "u", &mut text);
    assert!(
        text.contains(
            "prometheus_remote_storage_samples_total{remote_name=\"test\",url=\"u\"} 10000"
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_429_are_retried_until_success() {
    let rx = Receiver::new(vec![
        (500, None),
        (503, None),
        (429, Some("0")),
        (502, None),
    ]);
    let (addr, stop) = serve(rx.handler()).await;
    let mut o = opts(format!("http://{addr}/api/v1/write"));
    o.queue.retry_on_http_429 = true;
    o.queue.max_shards = 1;
    let qm = QueueManager::new(o).unwrap();
    qm.start().await;
    qm.store_series(&series(3), 0);
    assert!(qm.append(&samples(3, 10, 0)).await);
    qm.stop(Duration::from_secs(30)).await;
    stop.cancel();
    assert_eq!(received(&rx), expected(3, 10, 0));
    let m = qm.metrics();
    // Each of the four failures made one batch (of at least one sample) go again.
    assert!(
        m.samples_retried_total.load(Ordering::Relaxed) >= 4,
        "retried"
    );
    assert!(rx.requests.load(Ordering::SeqCst) >= 5);
    assert_eq!(m.samples_failed_total.load(Ordering::Relaxed), 0);
}

/// A shard whose queue is full (its sender retrying a failing endpoint) makes the enqueue
/// wait, counted in `prometheus_remote_storage_enqueue_retries_total` as Prometheus counts
/// its failed enqueues; nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_shards_count_enqueue_retries() {
    let rx = Receiver::new(vec![(503, None); 5]);
    let (addr, stop) = serve(rx.handler()).await;
    let mut o = opts(format!("http://{addr}/api/v1/write"));
    o.queue.max_shards = 1;
    o.queue.capacity = 2;
    o.queue.max_samples_per_send = 2;
    let qm = QueueManager::new(o).unwrap();
    qm.start().await;
    qm.store_series(&series(2), 0);
    assert!(qm.append(&samples(2, 20, 0)).await);
    qm.stop(Duration::from_secs(30)).await;
    stop.cancel();
    assert_eq!(received(&rx), expected(2, 20, 0));
    let m = qm.metrics();
    assert!(m.enqueue_retries_total.load(Ordering::Relaxed) > 0);
    let mut text = String::new();
    m.write_text("test", "u", &mut text);
    assert!(
        text.contains("# TYPE prometheus_remote_storage_enqueue_retries_total counter\n"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_not_retried() {
    let rx = Receiver::new(vec![(400, None), (429, None)]);
    let (addr, stop) = serve(rx.handler()).await;
    let mut o = opts(format!("http://{addr}/api/v1/write"));
    o.queue.max_shards = 1;
    o.queue.max_samples_per_send = 10;
    o.queue.batch_send_deadline = Duration::from_secs(60);
    let qm = QueueManager::new(o).unwrap();
    qm.start().await;
    qm.store_series(&series(1), 0);
    // Three full batches: the first gets 400, the second 429 (no retry_on_http_429), the
    // third goes through.
    assert!(qm.append(&samples(1, 30, 0)).await);
    qm.stop(Duration::from_secs(30)).await;
    stop.cancel();
    assert_eq!(
        rx.requests.load(Ordering::SeqCst),
        3,
        "one request per batch"
    );
    assert_eq!(rx.samples.lock().len(), 10);
    let m = qm.metrics();
    assert_eq!(m.samples_failed_total.load(Ordering::Relaxed), 20);
    assert_eq!(m.samples_retried_total.load(Ordering::Relaxed), 0);
}

/// An in-memory WAL: segments of records; a record "offset" is its index.
#[derive(Default)]
struct FakeWal {
    segments: BTreeMap<u64, Vec<WalRecord>>,
    checkpoint: Option<(u64, Vec<WalRecord>)>,
}

struct FakeSource(Arc<Mutex<FakeWal>>);

impl WalSource for FakeSource {
    fn segments(&mut self) -> Result<Option<(u64, u64)>> {
        let w = self.0.lock();
        Ok(w.segments
            .keys()
            .next()
            .copied()
            .zip(w.segments.keys().next_back().copied()))
    }
    fn last_checkpoint(&mut self) -> Result<Option<u64>> {
        Ok(self.0.lock().checkpoint.as_ref().map(|c| c.0))
    }
    fn read_checkpoint(&mut self, index: u64) -> Result<Vec<WalRecord>> {
        let w = self.0.lock();
        match &w.checkpoint {
            Some((i, recs)) if *i == index => Ok(recs.clone()),
            _ => Err(storage::Error::NotReady),
        }
    }
    fn read_segment(&mut self, index: u64, offset: u64) -> Result<(Vec<WalRecord>, u64)> {
        let w = self.0.lock();
        let seg = w.segments.get(&index).ok_or(storage::Error::NotReady)?;
        Ok((seg[offset as usize..].to_vec(), seg.len() as u64))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_follows_segments_and_checkpoints_through_an_outage() {
    // The receiver fails its first 20 requests (an outage); everything still arrives.
    let rx = Receiver::new(vec![(503, None); 20]);
    let (addr, stop) = serve(rx.handler()).await;
    let qm = QueueManager::new(opts(format!("http://{addr}/api/v1/write"))).unwrap();
    qm.start().await;

    let wal = Arc::new(Mutex::new(FakeWal::default()));
    // Series 1..=10 live in a checkpoint covering segment 4; segments 5 and on follow.
    wal.lock().checkpoint = Some((
        4,
        vec![
            WalRecord::Series(series(10)),
            WalRecord::Samples(samples(10, 3, 0)),
        ],
    ));
    wal.lock()
        .segments
        .insert(5, vec![WalRecord::Samples(samples(10, 5, 10_000))]);
    let watcher = Watcher::new(
        Box::new(FakeSource(wal.clone())),
        qm.clone(),
        WatcherOptions {
            poll_interval: Duration::from_millis(10),
            start_timestamp: 5_000, // the checkpoint's old samples (t < 3000) are not sent
        },
    );
    let wstop = CancellationToken::new();
    let task = tokio::spawn(watcher.run(wstop.clone()));

    tokio::time::sleep(Duration::from_millis(50)).await;
    // The live segment grows, then a new one starts with a new series.
    wal.lock()
        .segments
        .get_mut(&5)
        .unwrap()
        .push(WalRecord::Samples(samples(10, 5, 20_000)));
    let extra = vec![(
        11,
        Labels::from_pairs([("__name__", "rw_test"), ("i", "new")]),
    )];
    wal.lock().segments.insert(
        6,
        vec![
            WalRecord::Series(extra),
            WalRecord::Other,
            WalRecord::Samples(vec![(11, 30_000, 1.0)]),
        ],
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A checkpoint up to segment 6 appears and segments 5 and 6 are truncated away, while
    // segment 7 gets more samples.
    {
        let mut w = wal.lock();
        let mut all = series(10);
        all.push((
            11,
            Labels::from_pairs([("__name__", "rw_test"), ("i", "new")]),
        ));
        w.checkpoint = Some((6, vec![WalRecord::Series(all)]));
        w.segments.insert(
            7,
            vec![WalRecord::Samples(vec![
                (11, 40_000, 2.0),
                (3, 40_000, 3.0),
            ])],
        );
        w.segments.remove(&5);
        w.segments.remove(&6);
    }
    // Wait until everything arrived (bounded).
    let want = 10 * 10 + 3;
    for _ in 0..500 {
        if rx.samples.lock().len() >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wstop.cancel();
    task.await.unwrap().unwrap();
    qm.stop(Duration::from_secs(10)).await;
    stop.cancel();

    let mut want_set = expected(10, 5, 10_000);
    want_set.extend(expected(10, 5, 20_000));
    let new = r#"{__name__="rw_test", i="new"}"#.to_string();
    want_set.insert((new.clone(), 30_000, 1f64.to_bits()));
    want_set.insert((new, 40_000, 2f64.to_bits()));
    want_set.insert((
        r#"{__name__="rw_test", i="2"}"#.to_string(),
        40_000,
        3f64.to_bits(),
    ));
    assert_eq!(received(&rx), want_set);
    assert!(qm.metrics().samples_retried_total.load(Ordering::Relaxed) > 0);
}

#[test]
fn remote_read_round_trips_through_mem_storage() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = Arc::new(MemStorage::new());
    let mut app = db.appender();
    for i in 0..5 {
        let l = Labels::from_pairs([("__name__", "rr".to_string()), ("i", i.to_string())]);
        for t in 0..100 {
            app.append(0, &l, t * 1000, (i * 100 + t) as f64).unwrap();
        }
    }
    app.commit().unwrap();
    let ext = Labels::from_pairs([("replica", "r1")]);
    let (server_db, server_ext) = (db.clone(), ext.clone());
    let handler: Handler = Arc::new(move |parts, body| {
        assert_eq!(parts.uri.path(), "/api/v1/read");
        match storage::remote::decode_read_request(body)
            .and_then(|req| storage::remote::serve_read(&req, server_db.as_ref(), &server_ext))
        {
            Ok(resp) => (
                200,
                vec![
                    ("content-type", "application/x-protobuf".into()),
                    ("content-encoding", "snappy".into()),
                ],
                storage::remote::encode_read_response(&resp),
            ),
            Err(e) => (400, vec![], e.to_string().into_bytes()),
        }
    });
    let (addr, stop) = rt.block_on(serve(handler));
    let client = RemoteRead::new(ReadOptions {
        url: format!("http://{addr}/api/v1/read"),
        remote_timeout: Duration::from_secs(5),
        external_labels: ext,
        filter_external_labels: true,
        ..ReadOptions::default()
    })
    .unwrap();
    let q = client.querier(10_000, 20_000).unwrap();
    let ms = [Matcher::new(MatchType::RegexMatch, "i", "1|3").unwrap()];
    let mut set = q.select(true, None, &ms);
    let mut got = Vec::new();
    while let Some(s) = set.next() {
        let s = s.unwrap();
        let mut it = s.iterator();
        let mut n = 0;
        while it.next() == ValueType::Float {
            n += 1;
        }
        got.push((s.labels().to_string(), n));
    }
    // The external label the client matched on is stripped again.
    assert_eq!(
        got,
        vec![
            (r#"{__name__="rr", i="1"}"#.to_string(), 11),
            (r#"{__name__="rr", i="3"}"#.to_string(), 11)
        ]
    );
    // Required matchers keep queries away from the endpoint.
    let picky = RemoteRead::new(ReadOptions {
        url: format!("http://{addr}/api/v1/read"),
        remote_timeout: Duration::from_secs(5),
        required_matchers: vec![("env".into(), "prod".into())],
        ..ReadOptions::default()
    })
    .unwrap();
    assert!(
        picky
            .querier(0, 100_000)
            .unwrap()
            .select(true, None, &ms)
            .next()
            .is_none()
    );
    // Callable from inside a runtime too (the web layer runs queries on tokio).
    let n = rt.block_on(async {
        let mut set = client
            .querier(0, 100_000)
            .unwrap()
            .select(false, None, &[any_name()]);
        let mut n = 0;
        while set.next().is_some() {
            n += 1;
        }
        n
    });
    assert_eq!(n, 5);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_gives_up_after_the_flush_deadline_when_the_receiver_stays_down() {
    let rx = Receiver::new(vec![(503, None); 10_000]);
    let (addr, stop) = serve(rx.handler()).await;
    let qm = QueueManager::new(opts(format!("http://{addr}/api/v1/write"))).unwrap();
    qm.start().await;
    qm.store_series(&series(2), 0);
    assert!(qm.append(&samples(2, 50, 0)).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    qm.stop(Duration::from_millis(200)).await;
    stop.cancel();
    let m = qm.metrics();
    assert!(rx.samples.lock().is_empty());
    assert_eq!(m.samples_failed_total.load(Ordering::Relaxed), 100);
    assert_eq!(m.samples_pending.load(Ordering::Relaxed), 0);
    // Appends after stop are refused.
    assert!(!qm.append(&samples(2, 1, 100_000)).await);
}

/// Log lines written while the returned guard lives on this thread (the tests below run on a
/// current-thread runtime, so the queue's tasks log here too).
fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    use tracing_subscriber::util::SubscriberInitExt;
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Arc::new(Mutex::new(Vec::new()));
    let out = buf.clone();
    let guard = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || Sink(out.clone()))
        .finish()
        .set_default();
    (buf, guard)
}

/// The captured lines holding `msg`.
fn lines_with(logs: &Mutex<Vec<u8>>, msg: &str) -> Vec<String> {
    String::from_utf8_lossy(&logs.lock())
        .lines()
        .filter(|l| l.contains(msg))
        .map(str::to_owned)
        .collect()
}

/// One shard of batches of 100, room for everything: 1000 samples of which the first batch
/// is under way when the flush deadline passes.
fn one_shard_opts(url: String) -> WriteOptions {
    let mut o = opts(url);
    o.queue.max_shards = 1;
    o.queue.capacity = 10_000;
    o.remote_timeout = Duration::from_secs(30);
    o
}

#[tokio::test]
async fn the_hard_stop_drops_what_is_queued_and_counts_it_as_go_does() {
    let (logs, _guard) = capture_logs();
    // Every request answers 503: the first batch is retried until the flush deadline.
    let bodies: Arc<Mutex<BTreeSet<Vec<u8>>>> = Arc::default();
    let seen = bodies.clone();
    let handler: Handler = Arc::new(move |_, body| {
        seen.lock().insert(body.to_vec());
        (503, vec![], b"down".to_vec())
    });
    let (addr, stop) = serve(handler).await;
    let qm = QueueManager::new(one_shard_opts(format!("http://{addr}/api/v1/write"))).unwrap();
    qm.start().await;
    qm.store_series(&series(2), 0);
    assert!(qm.append(&samples(2, 500, 0)).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    qm.stop(Duration::from_millis(200)).await;
    stop.cancel();
    let m = qm.metrics();
    assert_eq!(m.samples_failed_total.load(Ordering::Relaxed), 1000);
    assert_eq!(m.samples_pending.load(Ordering::Relaxed), 0);
    // Only the first batch was ever sent: the queued ones are dropped unsent.
    assert_eq!(bodies.lock().len(), 1);
    let cut = lines_with(&logs, "non-recoverable error");
    assert_eq!(cut.len(), 1, "{cut:?}");
    assert!(cut[0].contains("failedSampleCount=100"), "{cut:?}");
    // As Prometheus: the count is every sample still queued, not the batch cut off.
    let flush = lines_with(&logs, "Failed to flush all samples on shutdown");
    assert_eq!(flush.len(), 1, "{flush:?}");
    assert!(flush[0].contains("count=900"), "{flush:?}");
    assert!(lines_with(&logs, "Failed to flush all exemplars").is_empty());
}

#[tokio::test]
async fn the_hard_stop_cancels_a_request_the_receiver_never_answers() {
    let (logs, _guard) = capture_logs();
    // A receiver that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            open.push(conn);
        }
    });
    let qm = QueueManager::new(one_shard_opts(format!("http://{addr}/api/v1/write"))).unwrap();
    qm.start().await;
    qm.store_series(&series(2), 0);
    assert!(qm.append(&samples(2, 500, 0)).await);
    // The 30 s remote timeout would outlast the deadline: the request is cancelled instead.
    qm.stop(Duration::from_millis(200)).await;
    held.abort();
    let m = qm.metrics();
    assert_eq!(m.samples_failed_total.load(Ordering::Relaxed), 1000);
    assert_eq!(m.samples_pending.load(Ordering::Relaxed), 0);
    let retried = lines_with(&logs, "Failed to send batch, retrying");
    assert_eq!(retried.len(), 1, "{retried:?}");
    assert!(retried[0].contains("context canceled"), "{retried:?}");
    let flush = lines_with(&logs, "Failed to flush all samples on shutdown");
    assert_eq!(flush.len(), 1, "{flush:?}");
    assert!(flush[0].contains("count=900"), "{flush:?}");
}

#[test]
fn remote_read_over_https_with_authorization() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = Arc::new(MemStorage::new());
    let mut app = db.appender();
    let l = Labels::from_pairs([("__name__", "rr_tls")]);
    for t in 0..10 {
        app.append(0, &l, t * 1000, t as f64).unwrap();
    }
    app.commit().unwrap();
    let server_db = db.clone();
    let handler: Handler = Arc::new(move |parts, body| {
        if parts.headers.get("authorization").map(|v| v.as_bytes()) != Some(b"Bearer tok") {
            return (401, vec![], b"unauthorized".to_vec());
        }
        let req = storage::remote::decode_read_request(body).unwrap();
        let resp = storage::remote::serve_read(&req, server_db.as_ref(), &Labels::empty()).unwrap();
        (200, vec![], storage::remote::encode_read_response(&resp))
    });
    let (addr, stop) = rt.block_on(serve_with(handler, Some(tls_server())));
    let mut http = httpclient::HttpClientConfig::default();
    http.tls_config.ca_file = cert_file("ca.crt");
    http.authorization = Some(httpclient::http_config::Authorization {
        credentials: httpclient::http_config::Secret::new("tok"),
        ..Default::default()
    });
    let client = RemoteRead::new(ReadOptions {
        url: format!("https://localhost:{}/api/v1/read", addr.port()),
        remote_timeout: Duration::from_secs(5),
        client: httpclient::HttpClient::new(&http).unwrap(),
        ..ReadOptions::default()
    })
    .unwrap();
    let mut set = client
        .querier(0, 100_000)
        .unwrap()
        .select(false, None, &[any_name()]);
    let s = set.next().unwrap().unwrap();
    assert_eq!(s.labels().to_string(), r#"{__name__="rr_tls"}"#);
    let mut it = s.iterator();
    let mut n = 0;
    while it.next() == ValueType::Float {
        n += 1;
    }
    assert_eq!(n, 10);
    stop.cancel();
}

/// `__name__=~".+"`: every series (a remote-read server, as Prometheus's, selects nothing
/// without a matcher).
fn any_name() -> model::Matcher {
    model::Matcher::new(model::MatchType::RegexMatch, "__name__", ".+").unwrap()
}
