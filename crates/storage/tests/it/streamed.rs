//! Streamed remote read (STREAMED_XOR_CHUNKS): our client against our server, and both
//! sides against a real Prometheus 2.42 on loopback (skipped when it is not installed).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use model::{Labels, MatchType, Matcher};
use parking_lot::Mutex;
use prompb::Message;
use prompb::read_request::ResponseType;
use storage::remote::{ReadAnswer, ReadLimits, ReadOptions, RemoteRead};
use storage::{Appendable, MemStorage, Queryable, ValueType};

use super::peers::{PROMETHEUS, free_port, http_get, now_ms, prometheus_peer_with, skip};
use super::{Handler, serve};

/// Every float sample of the series `select` finds: (labels, [(t, v)]).
fn read_all(
    client: &RemoteRead,
    mint: i64,
    maxt: i64,
    name: &str,
) -> Vec<(String, Vec<(i64, f64)>)> {
    let q = client.querier(mint, maxt).unwrap();
    let mut set = q.select(
        true,
        None,
        &[Matcher::new(MatchType::Equal, "__name__", name).unwrap()],
    );
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let s = s.unwrap();
        let mut it = s.iterator();
        let mut samples = Vec::new();
        while it.next() == ValueType::Float {
            samples.push(it.at());
        }
        out.push((s.labels().to_string(), samples));
    }
    out
}

/// A remote-read server over `db` answering the negotiated type, counting streamed answers
/// and remembering the accepted types of the last request.
fn read_server(
    db: Arc<MemStorage>,
    limits: ReadLimits,
    streamed: Arc<AtomicUsize>,
    accepted: Arc<Mutex<Vec<i32>>>,
) -> Handler {
    Arc::new(move |_, body| {
        let answer = storage::remote::decode_read_request(body).and_then(|req| {
            *accepted.lock() = req.accepted_response_types.clone();
            storage::remote::serve_read_with(&req, db.as_ref(), &Labels::empty(), &limits)
        });
        match answer {
            Ok(answer) => {
                if matches!(answer, ReadAnswer::Streamed(_)) {
                    streamed.fetch_add(1, Ordering::Relaxed);
                }
                let mut headers = vec![("content-type", answer.content_type().to_owned())];
                if let Some(enc) = answer.content_encoding() {
                    headers.push(("content-encoding", enc.to_owned()));
                }
                (200, headers, answer.into_body())
            }
            Err(e) => (400, vec![], e.to_string().into_bytes()),
        }
    })
}

fn fill(
    db: &MemStorage,
    t0: i64,
    series: usize,
    per_series: i64,
) -> Vec<(String, Vec<(i64, f64)>)> {
    let mut app = db.appender();
    let mut want = Vec::new();
    for i in 0..series {
        let l = Labels::from_pairs([("__name__", "streamed".to_string()), ("i", i.to_string())]);
        let mut samples = Vec::new();
        for k in 0..per_series {
            // Irregular steps and values exercise every timestamp and value bucket.
            let t = t0 + k * 10_000 + (k * k % 7) * 3;
            let v = (k as f64).sin() * 1e3 + i as f64;
            app.append(0, &l, t, v).unwrap();
            samples.push((t, v));
        }
        want.push((l.to_string(), samples));
    }
    app.commit().unwrap();
    want
}

/// Our client asks for streamed chunks first; our server streams; the samples match bit
/// for bit, also when series are split over many small frames.
#[test]
fn ours_to_ours_streams_and_matches_samples() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = Arc::new(MemStorage::new());
    let want = fill(&db, 1_000_000, 3, 500);
    for max_bytes_in_frame in [1_048_576, 64] {
        let streamed = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let limits = ReadLimits {
            max_bytes_in_frame,
            ..ReadLimits::default()
        };
        let handler = read_server(db.clone(), limits, streamed.clone(), accepted.clone());
        let (addr, stop) = rt.block_on(serve(handler));
        let client = RemoteRead::new(ReadOptions {
            url: format!("http://{addr}/api/v1/read"),
            remote_timeout: Duration::from_secs(5),
            ..ReadOptions::default()
        })
        .unwrap();
        let got = read_all(&client, 0, i64::MAX / 2, "streamed");
        assert_eq!(got.len(), want.len());
        for ((gl, gs), (wl, ws)) in got.iter().zip(&want) {
            assert_eq!(gl, wl);
            assert_eq!(gs.len(), ws.len());
            assert!(
                gs.iter()
                    .zip(ws)
                    .all(|(g, w)| g.0 == w.0 && g.1.to_bits() == w.1.to_bits())
            );
        }
        // A range cuts whole chunks down to the samples inside it.
        let part = read_all(&client, 1_100_000, 1_200_000, "streamed");
        assert_eq!(part[0].1.len(), 10);
        assert_eq!(streamed.load(Ordering::Relaxed), 2);
        assert_eq!(
            *accepted.lock(),
            [
                ResponseType::StreamedXorChunks as i32,
                ResponseType::Samples as i32
            ]
        );
        stop.cancel();
    }

    // The sample limit fails SAMPLES answers with a 400, as Prometheus's does.
    let limits = ReadLimits {
        sample_limit: 100,
        ..ReadLimits::default()
    };
    let req = prompb::ReadRequest {
        queries: vec![prompb::Query {
            start_timestamp_ms: 0,
            end_timestamp_ms: i64::MAX / 2,
            matchers: storage::remote::matchers_to_proto(&[Matcher::new(
                MatchType::Equal,
                "__name__",
                "streamed",
            )
            .unwrap()]),
            hints: None,
        }],
        accepted_response_types: vec![ResponseType::Samples as i32],
    };
    let err =
        storage::remote::serve_read_with(&req, db.as_ref(), &Labels::empty(), &limits).unwrap_err();
    assert!(
        err.to_string().contains("exceeded sample limit (100)"),
        "{err}"
    );
}

/// A blocking HTTP/1.0 POST on loopback: (status, headers, body).
fn http_post(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), buf[split + 4..].to_vec())
}

/// Prometheus 2.42 answers a request accepting streamed chunks with frames our reader
/// checks and our XOR decoder reads; our client gets back exactly what was written.
#[test]
fn our_client_reads_prometheus_streamed_chunks() {
    if skip(PROMETHEUS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _peer = prometheus_peer_with(dir.path(), port, "global: {}\n", &[]);
    let t0 = now_ms() - 3_600_000;
    let db = MemStorage::new();
    let want = fill(&db, t0, 2, 300);
    // Write the same samples into Prometheus.
    let timeseries = want
        .iter()
        .enumerate()
        .map(|(i, (_, samples))| prompb::TimeSeries {
            labels: vec![
                prompb::Label {
                    name: "__name__".into(),
                    value: "streamed".into(),
                },
                prompb::Label {
                    name: "i".into(),
                    value: i.to_string(),
                },
            ],
            samples: samples
                .iter()
                .map(|&(timestamp, value)| prompb::Sample { value, timestamp })
                .collect(),
            ..Default::default()
        })
        .collect();
    let write = prompb::WriteRequest {
        timeseries,
        ..Default::default()
    };
    let (status, _, body) = http_post(
        port,
        "/api/v1/write",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ],
        &storage::remote::encode_write_request(&write),
    );
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&body));

    // The raw streamed answer: frames with CRCs holding XOR chunks.
    let read = prompb::ReadRequest {
        queries: vec![prompb::Query {
            start_timestamp_ms: t0,
            end_timestamp_ms: now_ms(),
            matchers: storage::remote::matchers_to_proto(&[Matcher::new(
                MatchType::Equal,
                "__name__",
                "streamed",
            )
            .unwrap()]),
            hints: None,
        }],
        accepted_response_types: vec![
            ResponseType::StreamedXorChunks as i32,
            ResponseType::Samples as i32,
        ],
    };
    let (status, head, body) = http_post(
        port,
        "/api/v1/read",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Read-Version", "0.1.0"),
        ],
        &storage::remote::encode_snappy(&read.encode_to_vec()),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        head.contains(
            "content-type: application/x-streamed-protobuf; proto=prometheus.chunkedreadresponse"
        ),
        "{head}"
    );
    let mut frames = storage::remote::ChunkedReader::new(&body, 1 << 20);
    let mut raw: Vec<(i64, f64)> = Vec::new();
    let mut n_frames = 0;
    while let Some(frame) = frames.next_proto().unwrap() {
        n_frames += 1;
        assert_eq!(frame.query_index, 0);
        for series in &frame.chunked_series {
            for chunk in &series.chunks {
                assert_eq!(chunk.r#type, prompb::chunk::Encoding::Xor as i32);
                let samples = storage::remote::decode_xor_chunk(&chunk.data).unwrap();
                assert_eq!(samples[0].0, chunk.min_time_ms);
                assert_eq!(samples[samples.len() - 1].0, chunk.max_time_ms);
                raw.extend(samples);
            }
        }
    }
    assert_eq!(n_frames, 2, "one frame per series");
    assert_eq!(raw.len(), 600);
    // A corrupt byte in the stream is a clean error.
    let mut bad = body.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    let mut frames = storage::remote::ChunkedReader::new(&bad, 1 << 20);
    assert!((0..3).any(|_| frames.next_proto().is_err()));

    // Our client (streamed first) reads the same samples bit for bit.
    let client = RemoteRead::new(ReadOptions {
        url: format!("http://127.0.0.1:{port}/api/v1/read"),
        remote_timeout: Duration::from_secs(10),
        ..ReadOptions::default()
    })
    .unwrap();
    let got = read_all(&client, t0, now_ms(), "streamed");
    assert_eq!(got.len(), 2);
    for ((gl, gs), (wl, ws)) in got.iter().zip(&want) {
        assert_eq!(gl, wl);
        assert_eq!(gs.len(), ws.len());
        assert!(
            gs.iter()
                .zip(ws)
                .all(|(g, w)| g.0 == w.0 && g.1.to_bits() == w.1.to_bits())
        );
    }
}

/// Prometheus 2.42 with `remote_read` to our server answers its own `/api/v1/query` with
/// the samples we hold.
#[test]
fn prometheus_remote_reads_from_our_server() {
    if skip(PROMETHEUS) {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = Arc::new(MemStorage::new());
    let t = now_ms() - 60_000;
    let mut app = db.appender();
    let l = Labels::from_pairs([("__name__", "from_ours"), ("job", "ours")]);
    for k in 0..100 {
        app.append(0, &l, t - 990_000 + k * 10_000, 0.5 + k as f64)
            .unwrap();
    }
    app.commit().unwrap();
    let streamed = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let handler = read_server(db, ReadLimits::default(), streamed, accepted.clone());
    let (addr, stop) = rt.block_on(serve(handler));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _peer = prometheus_peer_with(
        dir.path(),
        port,
        &format!(
            "global: {{}}\nremote_read:\n  - url: http://{addr}/api/v1/read\n    read_recent: true\n"
        ),
        &[],
    );
    let secs = format!("{}.{:03}", t / 1000, t % 1000);
    let (status, answer) =
        http_get(port, &format!("/api/v1/query?query=from_ours&time={secs}")).unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer.contains(r#"{"metric":{"__name__":"from_ours","job":"ours"},"value":["#)
            && answer.contains(r#","99.5"]}"#),
        "{answer}"
    );
    let (_, answer) = http_get(
        port,
        &format!("/api/v1/query?query=count_over_time(from_ours%5B1h%5D)&time={secs}"),
    )
    .unwrap();
    assert!(answer.contains(r#","100"]}"#), "{answer}");
    // 2.42's client asks for SAMPLES only (no accepted types); newer ones stream.
    assert!(
        accepted
            .lock()
            .iter()
            .all(|&t| t == ResponseType::Samples as i32),
        "{:?}",
        accepted.lock()
    );
    stop.cancel();
}
