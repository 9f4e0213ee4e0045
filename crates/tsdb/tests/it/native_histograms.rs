//! Native histograms are byte-compatible with Prometheus 2.42 both ways: a data directory
//! we write (WAL with histogram records, head chunks and a block with histogram chunks) is
//! read by the real Prometheus 2.42 (queried through its HTTP API), and the WAL Prometheus
//! 2.42 writes for histograms it receives over remote write is replayed here.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use model::{CounterResetHint, Histogram, Labels, MatchType, Matcher, Span};
use storage::{Appendable, Queryable, ValueType};
use tsdb::chunkenc::Value;
use tsdb::compact::{BlockWriter, encode_any_chunks};
use tsdb::db::{Db, Options};

const REAL: &str = "/usr/bin/prometheus";

fn have_prometheus() -> bool {
    if Path::new(REAL).is_file() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{REAL} is not installed (package prometheus)"
    );
    eprintln!("notice: skipping, {REAL} is not installed");
    false
}

struct Real {
    child: Child,
    port: u16,
}

impl Real {
    fn start(data: &Path, extra: &[&str]) -> Real {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = data.with_extension("yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1h\n").unwrap();
        let child = Command::new(REAL)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg("--enable-feature=native-histograms")
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut r = Real { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some((200, _)) = r.http("GET", "/-/ready", &[], b"") {
                return r;
            }
            if let Some(status) = r.child.try_wait().unwrap() {
                panic!("prometheus 2.42 exited early with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "prometheus 2.42 never became ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Option<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).ok()?;
        s.write_all(body).ok()?;
        let mut raw = String::new();
        s.read_to_string(&mut raw).ok()?;
        let (head, body) = raw.split_once("\r\n\r\n")?;
        Some((head.split(' ').nth(1)?.parse().ok()?, body.to_string()))
    }

    /// The single value of an instant query at `t` (ms), as Prometheus formats it.
    fn query_value(&self, q: &str, t: i64) -> Option<String> {
        let path = format!(
            "/api/v1/query?query={}&time={}.{:03}",
            q.replace('(', "%28").replace(')', "%29"),
            t / 1000,
            t % 1000
        );
        let (status, body) = self.http("GET", &path, &[], b"")?;
        assert_eq!(status, 200, "{path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let res = v["data"]["result"].as_array()?;
        Some(res.first()?["value"][1].as_str()?.to_string())
    }

    fn stop(mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "prometheus 2.42 exited with {status}");
                return;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("prometheus 2.42 did not exit");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Real {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A counter histogram at step `k`; buckets appear over time (recoding chunks) and the
/// counts reset at step 150.
fn hist(k: i64) -> Histogram {
    let k = if k >= 150 { k - 150 } else { k };
    let n = (k / 40 + 2) as u32;
    let mut buckets = vec![0i64; n as usize];
    buckets[0] = k;
    let total: i64 = k * i64::from(n);
    Histogram {
        schema: 3,
        zero_threshold: 2f64.powi(-128),
        zero_count: k as u64,
        count: (total + k) as u64,
        sum: 0.25 * k as f64,
        positive_spans: vec![Span {
            offset: -1,
            length: n,
        }],
        positive_buckets: buckets,
        negative_spans: vec![Span {
            offset: 2,
            length: 1,
        }],
        negative_buckets: vec![0],
        ..Histogram::default()
    }
}

fn name(n: &str) -> Labels {
    Labels::from_pairs([("__name__", n)])
}

#[test]
fn prometheus_242_reads_the_histograms_we_write() {
    if !have_prometheus() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let now = now_ms();
    // 200 histograms 15 s apart ending now: in the WAL and in head chunks.
    let start = now - 199 * 15_000;
    {
        let db = Db::open(&data, Options::default()).unwrap();
        for k in 0..200 {
            let mut app = db.appender();
            app.append_histogram(0, &name("x"), start + k * 15_000, Some(&hist(k)), None)
                .unwrap();
            app.commit().unwrap();
        }
        db.close().unwrap();
    }
    // And a block of histograms six hours ago.
    let block_start = now - 6 * 3_600_000;
    let block_samples: Vec<(i64, Value)> = (0..200)
        .map(|k| (block_start + k * 30_000, Value::Histogram(hist(k))))
        .collect();
    BlockWriter::new(&data)
        .write(
            [(name("y"), encode_any_chunks(&block_samples).unwrap())],
            block_start,
            block_start + 2 * 3_600_000,
        )
        .unwrap()
        .expect("a block");

    let real = Real::start(&data, &[]);
    for k in [0, 1, 39, 40, 41, 120, 149, 150, 151, 199] {
        let t = start + k * 15_000;
        let h = hist(k);
        assert_eq!(
            real.query_value("histogram_count(x)", t).as_deref(),
            Some(h.count.to_string().as_str()),
            "count of x at step {k}"
        );
        assert_eq!(
            real.query_value("histogram_sum(x)", t).as_deref(),
            Some(format!("{}", h.sum).as_str()),
            "sum of x at step {k}"
        );
        let t = block_start + k * 30_000;
        assert_eq!(
            real.query_value("histogram_count(y)", t).as_deref(),
            Some(h.count.to_string().as_str()),
            "count of block series y at step {k}"
        );
    }
    real.stop();
}

/// Protobuf helpers for a remote-write request (prompb's WriteRequest).
fn varint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

fn field(out: &mut Vec<u8>, num: u32, wire: u8) {
    varint(out, (u64::from(num) << 3) | u64::from(wire));
}

fn bytes_field(out: &mut Vec<u8>, num: u32, b: &[u8]) {
    field(out, num, 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

fn encode_histogram(h: &Histogram, t: i64) -> Vec<u8> {
    let mut m = Vec::new();
    field(&mut m, 1, 0);
    varint(&mut m, h.count);
    field(&mut m, 3, 1);
    m.extend_from_slice(&h.sum.to_le_bytes());
    field(&mut m, 4, 0);
    varint(&mut m, zigzag(i64::from(h.schema)));
    field(&mut m, 5, 1);
    m.extend_from_slice(&h.zero_threshold.to_le_bytes());
    field(&mut m, 6, 0);
    varint(&mut m, h.zero_count);
    for (spans_f, deltas_f, spans, deltas) in [
        (8, 9, &h.negative_spans, &h.negative_buckets),
        (11, 12, &h.positive_spans, &h.positive_buckets),
    ] {
        for s in spans {
            let mut sb = Vec::new();
            field(&mut sb, 1, 0);
            varint(&mut sb, zigzag(i64::from(s.offset)));
            field(&mut sb, 2, 0);
            varint(&mut sb, u64::from(s.length));
            bytes_field(&mut m, spans_f, &sb);
        }
        let mut packed = Vec::new();
        for &d in deltas {
            varint(&mut packed, zigzag(d));
        }
        if !packed.is_empty() {
            bytes_field(&mut m, deltas_f, &packed);
        }
    }
    field(&mut m, 15, 0);
    varint(&mut m, t as u64);
    m
}

fn write_request(series: &str, hs: &[(i64, Histogram)]) -> Vec<u8> {
    let mut ts = Vec::new();
    let mut label = Vec::new();
    bytes_field(&mut label, 1, b"__name__");
    bytes_field(&mut label, 2, series.as_bytes());
    bytes_field(&mut ts, 1, &label);
    for (t, h) in hs {
        bytes_field(&mut ts, 4, &encode_histogram(h, *t));
    }
    let mut req = Vec::new();
    bytes_field(&mut req, 1, &ts);
    snap::raw::Encoder::new().compress_vec(&req).unwrap()
}

#[test]
fn we_replay_the_histograms_prometheus_242_writes() {
    if !have_prometheus() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let now = now_ms();
    let start = now - 199 * 15_000;
    let sent: Vec<(i64, Histogram)> = (0..200).map(|k| (start + k * 15_000, hist(k))).collect();
    let real = Real::start(&data, &["--web.enable-remote-write-receiver"]);
    for part in sent.chunks(50) {
        let (status, body) = real
            .http(
                "POST",
                "/api/v1/write",
                &[
                    ("Content-Type", "application/x-protobuf"),
                    ("Content-Encoding", "snappy"),
                    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
                ],
                &write_request("rw", part),
            )
            .expect("remote write answered");
        assert!(status / 100 == 2, "remote write: {status} {body}");
    }
    // Prometheus 2.42 has them (so they are in its WAL) before it stops.
    let k = 199;
    assert_eq!(
        real.query_value("histogram_count(rw)", start + k * 15_000)
            .as_deref(),
        Some(hist(k).count.to_string().as_str())
    );
    real.stop();
    assert!(
        std::fs::read_dir(data.join("wal")).unwrap().count() > 0,
        "prometheus 2.42 left a WAL"
    );

    let db = Db::open(&data, Options::default()).unwrap();
    assert!(db.head().replay_stats().wal_corruption.is_none());
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let m = [Matcher::new(MatchType::Equal, "__name__", "rw").unwrap()];
    let mut set = q.select(true, None, &m);
    let s = set.next().expect("the series").unwrap();
    let mut it = s.iterator();
    let mut got = Vec::new();
    while it.next() == ValueType::Histogram {
        got.push(it.at_histogram());
    }
    assert!(it.err().is_none());
    assert_eq!(got.len(), sent.len());
    for ((gt, g), (wt, w)) in got.iter().zip(&sent) {
        assert_eq!(gt, wt);
        // Recoding may add empty buckets to earlier samples; compare what is observable.
        let (gf, wf) = (g.to_float(), w.to_float());
        assert_eq!(
            (gf.count, gf.zero_count, gf.sum, gf.schema),
            (wf.count, wf.zero_count, wf.sum, wf.schema),
            "at {gt}"
        );
        let nonzero = |h: &model::FloatHistogram| -> f64 { h.positive_buckets.iter().sum() };
        assert_eq!(nonzero(&gf), nonzero(&wf), "at {gt}");
        assert_ne!(g.counter_reset_hint, CounterResetHint::Gauge);
    }
    db.close().unwrap();
}
