//! `/api/v1/write` with remote write 2.0: content negotiation, written-count headers, bad
//! payloads, and our queue sending to this handler over loopback; the push receivers'
//! feature flags (1.0, 2.0 and OTLP).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use model::Labels;
use prompb::otlp::number_data_point::Value;
use prompb::write_v2::{self, SymbolTable};
use storage::remote::{HistogramSample, QueueManager, WriteOptions, WriteProtoMsg};
use storage::{MemStorage, Queryable, ValueType};
use tokio_util::sync::CancellationToken;
use web::{Handler, Options, ReceiverFeatures};

/// A handler whose remote-write receiver appends to `db` and accepts `messages`.
fn receiver(db: Arc<MemStorage>, messages: Vec<WriteProtoMsg>) -> Handler {
    receiver_with(db, messages, ReceiverFeatures::default())
}

/// [`receiver`] with the receivers' feature flags.
fn receiver_with(
    db: Arc<MemStorage>,
    messages: Vec<WriteProtoMsg>,
    receiver_features: ReceiverFeatures,
) -> Handler {
    Handler::new(Options {
        remote_write_receiver: Some(db.clone()),
        remote_write_messages: messages,
        otlp_write_receiver: Some(db.clone()),
        receiver_features,
        ..super::bare_options(db)
    })
}

/// Posts a snappy remote-write 2.0 request.
async fn post_v2(
    handler: &Handler,
    req: &write_v2::Request,
) -> (StatusCode, http::HeaderMap, String) {
    post(
        handler,
        V2,
        "snappy",
        storage::remote::encode_write_v2_request(req),
    )
    .await
}

async fn post(
    handler: &Handler,
    content_type: &str,
    encoding: &str,
    body: Vec<u8>,
) -> (StatusCode, http::HeaderMap, String) {
    let mut req = Request::post("/api/v1/write");
    if !content_type.is_empty() {
        req = req.header("Content-Type", content_type);
    }
    if !encoding.is_empty() {
        req = req.header("Content-Encoding", encoding);
    }
    let resp = handler
        .handle(req.body(Full::new(Bytes::from(body))).unwrap())
        .await;
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn written(headers: &http::HeaderMap) -> Option<[String; 3]> {
    let get = |n: &str| headers.get(n).map(|v| v.to_str().unwrap().to_owned());
    Some([
        get("X-Prometheus-Remote-Write-Samples-Written")?,
        get("X-Prometheus-Remote-Write-Histograms-Written")?,
        get("X-Prometheus-Remote-Write-Exemplars-Written")?,
    ])
}

/// One series of a test request: its label pairs and `(timestamp, value)` samples.
type TestSeries<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

/// A 2.0 request: `(labels, samples)` per series.
fn v2_request(series: &[TestSeries<'_>]) -> write_v2::Request {
    let mut symbols = SymbolTable::new();
    let timeseries = series
        .iter()
        .map(|(labels, samples)| {
            let mut labels_refs = Vec::new();
            symbols.symbolize_labels(labels.iter().copied(), &mut labels_refs);
            write_v2::TimeSeries {
                labels_refs,
                samples: samples
                    .iter()
                    .map(|&(timestamp, value)| write_v2::Sample { value, timestamp })
                    .collect(),
                ..Default::default()
            }
        })
        .collect();
    write_v2::Request {
        symbols: symbols.take_symbols(),
        timeseries,
    }
}

fn floats(db: &MemStorage, name: &str) -> Vec<(i64, f64)> {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let m = model::Matcher::new(model::MatchType::Equal, "__name__", name).unwrap();
    let mut set = q.select(true, None, &[m]);
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let s = s.unwrap();
        let mut it = s.iterator();
        while it.next() == ValueType::Float {
            out.push(it.at());
        }
    }
    out
}

const V2: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

#[tokio::test]
async fn content_type_negotiation_answers_415() {
    let db = Arc::new(MemStorage::new());
    let h = receiver(db.clone(), WriteProtoMsg::ALL.to_vec());
    let body = storage::remote::encode_write_v2_request(&v2_request(&[]));
    let (status, _, answer) = post(&h, "application/json", "snappy", body.clone()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        answer.contains(
            "expected application/x-protobuf as the first (media) part, got application/json content-type"
        ),
        "{answer}"
    );
    let (status, _, answer) = post(
        &h,
        "application/x-protobuf;proto=io.prometheus.write.v3.Request",
        "snappy",
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        answer.contains("unknown remote write protobuf message io.prometheus.write.v3.Request"),
        "{answer}"
    );
    let (status, _, answer) = post(&h, V2, "gzip", body.clone()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        answer.contains(
            "gzip encoding (compression) is not accepted by this server; only snappy is acceptable"
        ),
        "{answer}"
    );

    // A receiver accepting only 1.0 refuses 2.0, and the other way round.
    let v1_only = receiver(db.clone(), vec![WriteProtoMsg::V1]);
    let (status, headers, answer) = post(&v1_only, V2, "snappy", body.clone()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(written(&headers), None);
    assert!(
        answer.contains(
            "io.prometheus.write.v2.Request protobuf message is not accepted by this server; accepted [prometheus.WriteRequest]"
        ),
        "{answer}"
    );
    let v2_only = receiver(db.clone(), vec![WriteProtoMsg::V2]);
    let v1_body = storage::remote::encode_write_request(&prompb::WriteRequest::default());
    for ct in [
        "",
        "application/x-protobuf",
        "application/x-protobuf;proto=prometheus.WriteRequest",
    ] {
        let (status, _, _) = post(&v2_only, ct, "snappy", v1_body.clone()).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
    }
    let (status, _, _) = post(&v2_only, V2, "", body).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // 1.0 without headers at all still works on the default receiver.
    let (status, headers, _) = post(&h, "", "", v1_body).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(written(&headers), None, "1.0 answers carry no counts");
}

#[tokio::test]
async fn v2_writes_answer_with_written_counts_also_on_partial_failure() {
    let db = Arc::new(MemStorage::new());
    let h = receiver(db.clone(), WriteProtoMsg::ALL.to_vec());
    let req = v2_request(&[(
        &[("__name__", "pushed"), ("job", "rw")],
        &[(1_000, 1.0), (2_000, 2.0)],
    )]);
    let (status, headers, answer) = post_v2(&h, &req).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    assert_eq!(
        written(&headers),
        Some(["2".into(), "0".into(), "0".into()])
    );
    assert_eq!(floats(&db, "pushed"), [(1_000, 1.0), (2_000, 2.0)]);

    // One good series, one without a metric name, one out of order: partial write.
    let req = v2_request(&[
        (
            &[("__name__", "pushed"), ("job", "rw")],
            &[(1_500, 9.0), (3_000, 3.0)],
        ),
        (&[("job", "nameless")], &[(3_000, 1.0)]),
        (&[("__name__", "other")], &[(3_000, 4.0)]),
    ]);
    let (status, headers, answer) = post_v2(&h, &req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(
        written(&headers),
        Some(["2".into(), "0".into(), "0".into()])
    );
    assert!(
        answer.contains(r#"invalid metric name or labels, got {job=\"nameless\"}"#),
        "{answer}"
    );
    assert_eq!(
        floats(&db, "pushed"),
        [(1_000, 1.0), (2_000, 2.0), (3_000, 3.0)]
    );
    assert_eq!(floats(&db, "other"), [(3_000, 4.0)]);

    // Bodies that do not decode: 400, no counts, never a panic.
    for body in [
        b"garbage".to_vec(),
        Vec::new(),
        storage::remote::encode_snappy(&[0x2a, 0x7f, 0x01]),
        storage::remote::encode_snappy(&[0x22, 0x01, 0xff]),
    ] {
        let (status, headers, answer) = post(&h, V2, "snappy", body.clone()).await;
        if body.is_empty() {
            // An empty body is an empty snappy block: an empty request.
            assert!(matches!(
                status,
                StatusCode::NO_CONTENT | StatusCode::BAD_REQUEST
            ));
            continue;
        }
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(written(&headers), None, "{answer}");
        // Prometheus's message in the API's JSON error form.
        assert!(
            answer.starts_with(r#"{"status":"error","errorType":"bad_data""#),
            "{answer}"
        );
    }
    // Symbol references past the end: 400 with zero counts.
    let mut req = v2_request(&[(&[("__name__", "x")], &[(1, 1.0)])]);
    req.timeseries[0].labels_refs = vec![1, 99];
    let (status, headers, answer) = post_v2(&h, &req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        written(&headers),
        Some(["0".into(), "0".into(), "0".into()])
    );
    assert!(
        answer.contains("symbol reference 99 out of range"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_queue_sends_2_0_to_this_handler_over_loopback() {
    let db = Arc::new(MemStorage::new());
    let handler = receiver(db.clone(), WriteProtoMsg::ALL.to_vec());
    let listener = web::listen("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn(web::serve(
        listener,
        handler,
        web::ServeOptions::default(),
        stop.clone(),
    ));
    let qm = QueueManager::new(WriteOptions {
        url: format!("http://{addr}/api/v1/write"),
        name: "v2".into(),
        remote_timeout: Duration::from_secs(5),
        protobuf_message: WriteProtoMsg::V2,
        send_exemplars: true,
        send_native_histograms: true,
        queue: storage::remote::QueueOptions {
            batch_send_deadline: Duration::from_millis(20),
            ..Default::default()
        },
        ..WriteOptions::default()
    })
    .unwrap();
    qm.start().await;
    qm.store_series(
        &[
            (
                1,
                Labels::from_pairs([("__name__", "lb_floats"), ("job", "q")]),
            ),
            (
                2,
                Labels::from_pairs([("__name__", "lb_hist"), ("job", "q")]),
            ),
        ],
        0,
    );
    let samples: Vec<(u64, i64, f64)> = (0..50).map(|k| (1, 1_000 + k * 1_000, k as f64)).collect();
    assert!(qm.append(&samples).await);
    let h = model::Histogram {
        count: 6,
        zero_count: 2,
        sum: 10.0,
        zero_threshold: 0.001,
        positive_spans: vec![model::Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![1, 2],
        ..Default::default()
    };
    assert!(
        qm.append_histograms(vec![(2, 5_000, HistogramSample::Int(h.clone()))])
            .await
    );
    qm.stop(Duration::from_secs(30)).await;
    stop.cancel();
    server.await.unwrap().unwrap();

    let m = qm.metrics();
    assert_eq!(
        m.samples_total.load(std::sync::atomic::Ordering::Relaxed),
        50
    );
    assert_eq!(
        m.histograms_total
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(
        m.samples_failed_total
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert_eq!(
        m.histograms_failed_total
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    let got = floats(&db, "lb_floats");
    assert_eq!(got.len(), 50);
    assert_eq!(got[49], (50_000, 49.0));
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let mut set = q.select(
        true,
        None,
        &[model::Matcher::new(model::MatchType::Equal, "__name__", "lb_hist").unwrap()],
    );
    let s = set.next().unwrap().unwrap();
    let mut it = s.iterator();
    assert_eq!(it.next(), ValueType::Histogram);
    let (t, mut got) = it.at_histogram();
    got.counter_reset_hint = h.counter_reset_hint;
    assert_eq!((t, got), (5_000, h));
}

#[tokio::test]
async fn created_timestamps_are_ingested_with_the_feature_only() {
    let now = (now_ns() / 1_000_000) as i64;
    let mut req = v2_request(&[(&[("__name__", "c")], &[(now, 3.0)])]);
    req.timeseries[0].created_timestamp = now - 1000;
    let body = storage::remote::encode_write_v2_request(&req);
    for (on, want) in [
        (false, vec![(now, 3.0)]),
        (true, vec![(now - 1000, 0.0), (now, 3.0)]),
    ] {
        let db = Arc::new(MemStorage::new());
        let h = receiver_with(
            db.clone(),
            WriteProtoMsg::ALL.to_vec(),
            ReceiverFeatures {
                created_timestamp_zero_ingestion: on,
                ..ReceiverFeatures::default()
            },
        );
        let (status, headers, answer) = post(&h, V2, "snappy", body.clone()).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
        // The zero sample is not counted as written.
        assert_eq!(written(&headers).unwrap()[0], "1");
        assert_eq!(floats(&db, "c"), want, "feature on: {on}");
    }
}

#[tokio::test]
async fn series_with_invalid_labels_are_counted_in_metrics() {
    let db = Arc::new(MemStorage::new());
    let h = receiver(db.clone(), WriteProtoMsg::ALL.to_vec());
    let metric = |h: Handler| async move {
        metrics_text(&h).await.lines().find_map(|l| {
            l.strip_prefix("prometheus_api_remote_write_invalid_labels_samples_total ")
                .map(str::to_owned)
        })
    };
    assert_eq!(metric(h.clone()).await.as_deref(), Some("0"));
    assert!(
        metrics_text(&h)
            .await
            .contains("\nprometheus_api_remote_write_without_metadata_appended_samples_total 0\n")
    );
    // The OTLP receiver is on too: its counters, sorted before remote write's.
    let text = metrics_text(&h).await;
    let otlp = text
        .find("\nprometheus_api_otlp_out_of_order_exemplars_total 0\n")
        .expect("OTLP exemplar counter");
    assert!(
        otlp < text
            .find("prometheus_api_remote_write_")
            .expect("remote write counters")
    );
    // 1.0: a series without a metric name is skipped (one per series), the rest written.
    let series = |name: &str, value: &str| prompb::TimeSeries {
        labels: vec![prompb::Label {
            name: name.into(),
            value: value.into(),
        }],
        samples: vec![prompb::Sample {
            value: 1.0,
            timestamp: 1,
        }],
        ..Default::default()
    };
    let v1 = prompb::WriteRequest {
        timeseries: vec![series("job", "x"), series("__name__", "ok")],
        metadata: vec![],
    };
    let body = storage::remote::encode_write_request(&v1);
    let (status, _, answer) = post(&h, "", "", body).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    assert_eq!(floats(&db, "ok"), [(1, 1.0)]);
    assert_eq!(metric(h.clone()).await.as_deref(), Some("1"));
    // 2.0: the skipped series' samples.
    let req = v2_request(&[(&[("job", "x")], &[(1, 1.0), (2, 2.0)])]);
    let (status, _, _) = post_v2(&h, &req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(metric(h).await.as_deref(), Some("3"));
}

#[tokio::test]
async fn otlp_features_change_the_stored_series() {
    use prompb::Message as _;
    use prompb::otlp::AggregationTemporality;
    let now_ns = now_ns();
    let now = (now_ns / 1_000_000) as i64;
    let sum = |name: &str, temporality| {
        otlp_sum(
            name,
            "s",
            temporality,
            now_ns - 5_000_000_000,
            now_ns,
            Value::AsDouble(4.0),
        )
    };
    let export = otlp_export(vec![
        sum("work", AggregationTemporality::Cumulative),
        sum("jobs", AggregationTemporality::Delta),
    ]);
    let all = |db: &MemStorage| -> Vec<(String, i64, f64)> {
        let q = db.querier(i64::MIN, i64::MAX).unwrap();
        let mut set = q.select(true, None, &[]);
        let mut out = Vec::new();
        while let Some(s) = set.next() {
            let s = s.unwrap();
            let mut it = s.iterator();
            while it.next() == ValueType::Float {
                let (t, v) = it.at();
                out.push((s.labels().to_string(), t, v));
            }
        }
        out
    };

    // Default: the delta sum is refused (partial success), no start or type labels.
    let db = Arc::new(MemStorage::new());
    let h = receiver(db.clone(), WriteProtoMsg::ALL.to_vec());
    let (status, body) = push_otlp(&h, export.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let partial = prompb::otlp::ExportMetricsServiceResponse::decode(body.as_ref())
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(partial.rejected_data_points, 1);
    assert_eq!(
        all(&db),
        [(r#"{__name__="work_seconds_total"}"#.to_owned(), now, 4.0)]
    );

    // All three features.
    let db = Arc::new(MemStorage::new());
    let features = ReceiverFeatures {
        created_timestamp_zero_ingestion: true,
        type_and_unit_labels: true,
        otlp_native_delta_ingestion: true,
        otlp_delta_to_cumulative: false,
    };
    let h = receiver_with(db.clone(), WriteProtoMsg::ALL.to_vec(), features);
    let (status, body) = push_otlp(&h, export).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty(), "full success");
    let work = r#"{__name__="work_seconds_total", __type__="counter", __unit__="seconds"}"#;
    let jobs = r#"{__name__="jobs_seconds_total", __unit__="seconds"}"#;
    assert_eq!(
        all(&db),
        [
            (jobs.to_owned(), now - 5000, 0.0),
            (jobs.to_owned(), now, 4.0),
            (work.to_owned(), now - 5000, 0.0),
            (work.to_owned(), now, 4.0),
        ]
    );
}

#[tokio::test]
async fn otlp_deltas_become_running_totals_with_deltatocumulative() {
    use prompb::otlp::AggregationTemporality;
    let now_ns = now_ns();
    let now = (now_ns / 1_000_000) as i64;
    let export = |t: u64, v: i64| {
        otlp_export(vec![otlp_sum(
            "jobs",
            "",
            AggregationTemporality::Delta,
            now_ns - 60_000_000_000,
            t,
            Value::AsInt(v),
        )])
    };
    let db = Arc::new(MemStorage::new());
    let h = receiver_with(
        db.clone(),
        WriteProtoMsg::ALL.to_vec(),
        ReceiverFeatures {
            otlp_delta_to_cumulative: true,
            ..ReceiverFeatures::default()
        },
    );
    for (t, v) in [(now_ns - 20_000_000_000, 3), (now_ns, 4)] {
        let (status, body) = push_otlp(&h, export(t, v)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.is_empty(), "full success");
    }
    assert_eq!(floats(&db, "jobs_total"), [(now - 20_000, 3.0), (now, 7.0)]);
}

/// Nanoseconds since the epoch.
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A monotonic OTLP sum of one point.
fn otlp_sum(
    name: &str,
    unit: &str,
    temporality: prompb::otlp::AggregationTemporality,
    start_ns: u64,
    t_ns: u64,
    value: Value,
) -> prompb::otlp::Metric {
    use prompb::otlp::{Metric, NumberDataPoint, Sum, metric::Data};
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(Data::Sum(Sum {
            data_points: vec![NumberDataPoint {
                start_time_unix_nano: start_ns,
                time_unix_nano: t_ns,
                value: Some(value),
                ..Default::default()
            }],
            aggregation_temporality: temporality as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

/// An OTLP export of `metrics` (one resource, one scope), encoded.
fn otlp_export(metrics: Vec<prompb::otlp::Metric>) -> Vec<u8> {
    use prompb::Message as _;
    use prompb::otlp::{ExportMetricsServiceRequest, ResourceMetrics, ScopeMetrics};
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// Posts an OTLP protobuf export; the status and body of the answer.
async fn push_otlp(h: &Handler, body: Vec<u8>) -> (StatusCode, Bytes) {
    let resp = h
        .handle(
            Request::post("/api/v1/otlp/v1/metrics")
                .header("Content-Type", "application/x-protobuf")
                .body(Full::new(Bytes::from(body)))
                .unwrap(),
        )
        .await;
    let status = resp.status();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

/// The handler's `/metrics` page.
async fn metrics_text(h: &Handler) -> String {
    let resp = h
        .handle(
            Request::get("/metrics")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}
