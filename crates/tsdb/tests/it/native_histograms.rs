//! Native histograms are byte-compatible with Prometheus 2.42 both ways: a data directory
//! we write (WAL with histogram records, head chunks and a block with histogram chunks) is
//! read by the real Prometheus 2.42 (queried through its HTTP API), and the WAL Prometheus
//! 2.42 writes for histograms it receives over remote write is replayed here.

use std::time::{SystemTime, UNIX_EPOCH};

use model::{CounterResetHint, Histogram, Labels, MatchType, Matcher, Span};
use storage::{Appendable, Queryable, ValueType};
use tsdb::chunkenc::Value;
use tsdb::compact::{BlockWriter, encode_any_chunks};
use tsdb::db::{Db, Options};

use super::real::{Real, have_prometheus, proto, secs};

const NATIVE_HISTOGRAMS: &str = "--enable-feature=native-histograms";

/// The single value of an instant query at `t` (ms), as Prometheus formats it.
fn query_value(real: &Real, q: &str, t: i64) -> Option<String> {
    let v = real.get_json(&format!(
        "/api/v1/query?query={}&time={}",
        q.replace('(', "%28").replace(')', "%29"),
        secs(t)
    ));
    let res = v["data"]["result"].as_array()?;
    Some(res.first()?["value"][1].as_str()?.to_string())
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

    let real = Real::start(&data, &[NATIVE_HISTOGRAMS]);
    for k in [0, 1, 39, 40, 41, 120, 149, 150, 151, 199] {
        let t = start + k * 15_000;
        let h = hist(k);
        assert_eq!(
            query_value(&real, "histogram_count(x)", t).as_deref(),
            Some(h.count.to_string().as_str()),
            "count of x at step {k}"
        );
        assert_eq!(
            query_value(&real, "histogram_sum(x)", t).as_deref(),
            Some(format!("{}", h.sum).as_str()),
            "sum of x at step {k}"
        );
        let t = block_start + k * 30_000;
        assert_eq!(
            query_value(&real, "histogram_count(y)", t).as_deref(),
            Some(h.count.to_string().as_str()),
            "count of block series y at step {k}"
        );
    }
    real.stop();
}

fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

fn encode_histogram(h: &Histogram, t: i64) -> Vec<u8> {
    let mut m = Vec::new();
    proto::u64_field(&mut m, 1, h.count);
    proto::f64_field(&mut m, 3, h.sum);
    proto::u64_field(&mut m, 4, zigzag(i64::from(h.schema)));
    proto::f64_field(&mut m, 5, h.zero_threshold);
    proto::u64_field(&mut m, 6, h.zero_count);
    for (spans_f, deltas_f, spans, deltas) in [
        (8, 9, &h.negative_spans, &h.negative_buckets),
        (11, 12, &h.positive_spans, &h.positive_buckets),
    ] {
        for s in spans {
            let mut sb = Vec::new();
            proto::u64_field(&mut sb, 1, zigzag(i64::from(s.offset)));
            proto::u64_field(&mut sb, 2, u64::from(s.length));
            proto::bytes_field(&mut m, spans_f, &sb);
        }
        let mut packed = Vec::new();
        for &d in deltas {
            proto::varint(&mut packed, zigzag(d));
        }
        if !packed.is_empty() {
            proto::bytes_field(&mut m, deltas_f, &packed);
        }
    }
    proto::u64_field(&mut m, 15, t as u64);
    m
}

fn write_request(series: &str, hs: &[(i64, Histogram)]) -> Vec<u8> {
    let mut ts = Vec::new();
    proto::labels(&mut ts, 1, &name(series));
    for (t, h) in hs {
        proto::bytes_field(&mut ts, 4, &encode_histogram(h, *t));
    }
    proto::request(&[ts])
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
    let real = Real::start(
        &data,
        &[NATIVE_HISTOGRAMS, "--web.enable-remote-write-receiver"],
    );
    for part in sent.chunks(50) {
        real.remote_write(&write_request("rw", part));
    }
    // Prometheus 2.42 has them (so they are in its WAL) before it stops.
    let k = 199;
    assert_eq!(
        query_value(&real, "histogram_count(rw)", start + k * 15_000).as_deref(),
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
