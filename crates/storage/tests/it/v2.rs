//! Remote write 2.0 end to end: our queue sending `io.prometheus.write.v2.Request`s to our
//! receiver on loopback (samples, native histograms, exemplars), and the sender's handling of
//! receivers that do not speak 2.0.

use super::histograms::int_histogram;
use super::*;
use model::{CounterResetHint, FloatHistogram, Span};
use storage::remote::{HistogramSample, WriteProtoMsg, WriteStats};
use storage::{Appender, Exemplar};

/// Exemplars as (series, exemplar labels, timestamp, value).
type Exemplars = Vec<(String, String, i64, f64)>;

/// MemStorage that also keeps the exemplars appended to it (MemStorage has no exemplar
/// storage).
#[derive(Default, Clone)]
struct WithExemplars {
    db: Arc<MemStorage>,
    exemplars: Arc<Mutex<Exemplars>>,
}

impl Appendable for WithExemplars {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(OwnedApp {
            inner: self.db.appender(),
            owner: self.exemplars.clone(),
            exemplars: Vec::new(),
        })
    }
}

/// The appender of [`WithExemplars`].
struct OwnedApp {
    inner: Box<dyn Appender>,
    owner: Arc<Mutex<Exemplars>>,
    exemplars: Exemplars,
}

impl Appender for OwnedApp {
    fn append(&mut self, r: u64, l: &Labels, t: i64, v: f64) -> Result<u64> {
        self.inner.append(r, l, t, v)
    }
    fn append_histogram(
        &mut self,
        r: u64,
        l: &Labels,
        t: i64,
        h: Option<&model::Histogram>,
        fh: Option<&FloatHistogram>,
    ) -> Result<u64> {
        self.inner.append_histogram(r, l, t, h, fh)
    }
    fn append_exemplar(&mut self, _: u64, l: &Labels, e: &Exemplar) -> Result<u64> {
        self.exemplars
            .push((l.to_string(), e.labels.to_string(), e.ts, e.value));
        Ok(1)
    }
    fn commit(self: Box<Self>) -> Result<()> {
        self.owner.lock().extend(self.exemplars);
        self.inner.commit()
    }
    fn rollback(self: Box<Self>) -> Result<()> {
        self.inner.rollback()
    }
}

/// A receiver doing what `/api/v1/write` does for 2.0: negotiation by `Content-Type`, then
/// the append, answering with the written counts. Records the headers it saw.
fn v2_receiver(db: Arc<WithExemplars>, seen: Arc<Mutex<Vec<String>>>) -> Handler {
    Arc::new(move |parts, body| {
        let h = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        seen.lock().push(format!(
            "{} | {} | {}",
            h("content-type"),
            h("content-encoding"),
            h("x-prometheus-remote-write-version")
        ));
        match storage::remote::parse_content_type(&h("content-type")) {
            Ok(WriteProtoMsg::V2) => {}
            Ok(WriteProtoMsg::V1) => return (415, vec![], b"1.0 not accepted".to_vec()),
            Err(e) => return (415, vec![], e.into_bytes()),
        }
        let out = storage::remote::append_write_v2_body(body, db.as_ref());
        let headers = out.stats.map(|s| s.headers().to_vec()).unwrap_or_default();
        (
            out.status,
            headers,
            out.error.unwrap_or_default().into_bytes(),
        )
    })
}

fn v2_opts(url: String) -> WriteOptions {
    WriteOptions {
        protobuf_message: WriteProtoMsg::V2,
        send_exemplars: true,
        send_native_histograms: true,
        ..opts(url)
    }
}

fn float_histogram(k: i64) -> FloatHistogram {
    FloatHistogram {
        counter_reset_hint: CounterResetHint::Gauge,
        schema: 1,
        count: 3.5 + k as f64,
        sum: 2.25,
        zero_count: 1.0,
        zero_threshold: 0.01,
        positive_spans: vec![Span {
            offset: 1,
            length: 1,
        }],
        positive_buckets: vec![2.5 + k as f64],
        ..FloatHistogram::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_v2_sender_reaches_our_v2_receiver_with_everything() {
    let db = Arc::new(WithExemplars::default());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let (addr, stop) = serve(v2_receiver(db.clone(), seen.clone())).await;
    let qm = QueueManager::new(v2_opts(format!("http://{addr}/api/v1/write"))).unwrap();
    qm.start().await;
    // Series 1-3 carry floats, 10 integer histograms, 11 float histograms.
    let mut all = series(3);
    all.push((
        10,
        Labels::from_pairs([("__name__", "rw_hist"), ("kind", "int")]),
    ));
    all.push((
        11,
        Labels::from_pairs([("__name__", "rw_hist"), ("kind", "float")]),
    ));
    qm.store_series(&all, 0);
    assert!(qm.append(&samples(3, 20, 1_000)).await);
    let trace = |id: &str| Labels::from_pairs([("trace_id", id)]);
    assert!(
        qm.append_exemplars(&[(1, 1_500, 0.5, trace("a")), (10, 2_000, 7.0, trace("b"))])
            .await
    );
    let hists: Vec<(u64, i64, HistogramSample)> = (0..5)
        .flat_map(|k| {
            [
                (
                    10,
                    1_000 + k * 1_000,
                    HistogramSample::Int(int_histogram(0, k)),
                ),
                (
                    11,
                    1_000 + k * 1_000,
                    HistogramSample::Float(float_histogram(k)),
                ),
            ]
        })
        .collect();
    assert!(qm.append_histograms(hists).await);
    qm.stop(Duration::from_secs(30)).await;
    stop.cancel();

    let m = qm.metrics();
    assert_eq!(m.samples_total.load(Ordering::Relaxed), 60);
    assert_eq!(m.histograms_total.load(Ordering::Relaxed), 10);
    assert_eq!(m.exemplars_total.load(Ordering::Relaxed), 2);
    assert_eq!(m.samples_failed_total.load(Ordering::Relaxed), 0);
    assert_eq!(m.histograms_failed_total.load(Ordering::Relaxed), 0);
    assert_eq!(m.samples_retried_total.load(Ordering::Relaxed), 0);
    for h in seen.lock().iter() {
        assert_eq!(
            h,
            "application/x-protobuf;proto=io.prometheus.write.v2.Request | snappy | 2.0.0"
        );
    }

    // The floats, read back.
    let q = db.db.querier(i64::MIN, i64::MAX).unwrap();
    let mut set = q.select(
        true,
        None,
        &[Matcher::new(MatchType::Equal, "__name__", "rw_test").unwrap()],
    );
    let mut got = BTreeSet::new();
    while let Some(s) = set.next() {
        let s = s.unwrap();
        let mut it = s.iterator();
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            got.insert((s.labels().to_string(), t, v.to_bits()));
        }
    }
    assert_eq!(got, expected(3, 20, 1_000));

    // The histograms, exactly.
    let q = db.db.querier(i64::MIN, i64::MAX).unwrap();
    for (kind, want) in [
        (
            "int",
            (0..5)
                .map(|k| int_histogram(0, k).to_float())
                .collect::<Vec<_>>(),
        ),
        ("float", (0..5).map(float_histogram).collect()),
    ] {
        let mut set = q.select(
            true,
            None,
            &[Matcher::new(MatchType::Equal, "kind", kind).unwrap()],
        );
        let s = set.next().unwrap().unwrap();
        assert!(set.next().is_none());
        let mut it = s.iterator();
        let mut got = Vec::new();
        loop {
            match it.next() {
                ValueType::None => break,
                ValueType::Float => panic!("floats in a histogram series"),
                _ => {
                    let (t, mut fh) = it.at_float_histogram();
                    if fh.counter_reset_hint != CounterResetHint::Gauge {
                        fh.counter_reset_hint = CounterResetHint::Unknown;
                    }
                    got.push((t, fh));
                }
            }
        }
        let want: Vec<_> = want
            .into_iter()
            .enumerate()
            .map(|(k, fh)| (1_000 + k as i64 * 1_000, fh))
            .collect();
        assert_eq!(got, want, "{kind}");
    }

    // The exemplars, with their series.
    let mut ex = db.exemplars.lock().clone();
    ex.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        ex,
        [
            (
                r#"{__name__="rw_hist", kind="int"}"#.to_owned(),
                r#"{trace_id="b"}"#.to_owned(),
                2_000,
                7.0
            ),
            (
                r#"{__name__="rw_test", i="0"}"#.to_owned(),
                r#"{trace_id="a"}"#.to_owned(),
                1_500,
                0.5
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2xx_without_written_headers_fails_the_batch() {
    // A 1.0 receiver that ignores the Content-Type: it answers 204 but writes nothing and
    // sets no X-Prometheus-Remote-Write-*-Written header.
    let requests = Arc::new(AtomicUsize::new(0));
    let n = requests.clone();
    let handler: Handler = Arc::new(move |_, _| {
        n.fetch_add(1, Ordering::SeqCst);
        (204, vec![], vec![])
    });
    let (addr, stop) = serve(handler).await;
    let qm = QueueManager::new(v2_opts(format!("http://{addr}/api/v1/write"))).unwrap();
    qm.start().await;
    qm.store_series(&series(2), 0);
    assert!(qm.append(&samples(2, 5, 1_000)).await);
    qm.stop(Duration::from_secs(30)).await;
    stop.cancel();
    let m = qm.metrics();
    assert_eq!(m.samples_total.load(Ordering::Relaxed), 10);
    assert_eq!(m.samples_failed_total.load(Ordering::Relaxed), 10);
    assert_eq!(m.samples_retried_total.load(Ordering::Relaxed), 0);
    assert_eq!(m.samples_pending.load(Ordering::Relaxed), 0);
    assert_eq!(m.highest_sent_timestamp_ms.load(Ordering::Relaxed), 0);
    assert!(requests.load(Ordering::SeqCst) >= 1);

    // The same receiver confirming what it wrote is a success.
    let handler: Handler = Arc::new(move |_, _| {
        let stats = WriteStats {
            samples: 10,
            ..WriteStats::default()
        };
        (204, stats.headers().to_vec(), vec![])
    });
    let (addr, stop) = serve(handler).await;
    let qm = QueueManager::new(v2_opts(format!("http://{addr}/api/v1/write"))).unwrap();
    qm.start().await;
    qm.store_series(&series(2), 0);
    assert!(qm.append(&samples(2, 5, 1_000)).await);
    qm.stop(Duration::from_secs(30)).await;
    stop.cancel();
    let m = qm.metrics();
    assert_eq!(m.samples_failed_total.load(Ordering::Relaxed), 0);
    assert_eq!(m.highest_sent_timestamp_ms.load(Ordering::Relaxed), 5_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_refusing_2_0_with_415_is_not_retried() {
    let db = Arc::new(WithExemplars::default());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let (addr, stop) = serve(v2_receiver(db, seen.clone())).await;
    // A 1.0 sender to a 2.0-only receiver: 415, dropped.
    let qm = QueueManager::new(opts(format!("http://{addr}/api/v1/write"))).unwrap();
    qm.start().await;
    qm.store_series(&series(1), 0);
    assert!(qm.append(&samples(1, 3, 1_000)).await);
    qm.stop(Duration::from_secs(30)).await;
    stop.cancel();
    let m = qm.metrics();
    assert_eq!(m.samples_failed_total.load(Ordering::Relaxed), 3);
    assert_eq!(m.samples_retried_total.load(Ordering::Relaxed), 0);
    assert_eq!(
        seen.lock().first().map(String::as_str),
        Some("application/x-protobuf | snappy | 0.1.0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_carry_retry_attempt() {
    let attempts: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = attempts.clone();
    let handler: Handler = Arc::new(move |parts, _| {
        let mut seen = seen.lock();
        seen.push(
            parts
                .headers
                .get("retry-attempt")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned(),
        );
        if seen.len() < 3 {
            return (503, vec![], b"try later".to_vec());
        }
        let stats = WriteStats {
            samples: 1,
            ..WriteStats::default()
        };
        (204, stats.headers().to_vec(), vec![])
    });
    let (addr, stop) = serve(handler).await;
    let qm = QueueManager::new(v2_opts(format!("http://{addr}/api/v1/write"))).unwrap();
    qm.start().await;
    qm.store_series(&series(1), 0);
    assert!(qm.append(&samples(1, 1, 1_000)).await);
    qm.stop(Duration::from_secs(30)).await;
    stop.cancel();
    assert_eq!(*attempts.lock(), ["-", "1", "2"]);
    let m = qm.metrics();
    assert_eq!(m.samples_retried_total.load(Ordering::Relaxed), 2);
    assert_eq!(m.samples_failed_total.load(Ordering::Relaxed), 0);
}
