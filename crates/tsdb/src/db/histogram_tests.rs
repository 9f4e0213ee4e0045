//! Native histograms through the database: head appends and queries, series switching
//! between floats and histograms, WAL replay, checkpoints, compaction into blocks and
//! block merges.

use std::sync::Arc;

use super::*;
use crate::block::Block;
use crate::chunkenc::Value;
use crate::compact::{BlockWriter, compact_blocks, encode_any_chunks};
use crate::querier::BlockQuerier;
use model::{CounterResetHint, FloatHistogram, Histogram, Labels, MatchType, Span};
use storage::{Appendable, Querier, Queryable, ValueType};

const MIN: i64 = 60_000;

fn name(n: &str) -> Labels {
    Labels::from_pairs([("__name__", n)])
}

fn matcher(n: &str) -> Vec<Matcher> {
    vec![Matcher::new(MatchType::Equal, "__name__", n).expect("matcher")]
}

/// A growing counter histogram; a bucket is added at minute 50 (recoding the chunk) and the
/// counts reset at minute 150.
fn hist(m: i64) -> Histogram {
    let k = if m >= 150 { (m - 150) as u64 } else { m as u64 };
    let wide = m >= 50;
    Histogram {
        schema: 1,
        zero_threshold: 0.001,
        zero_count: k,
        count: 3 * k + u64::from(wide),
        sum: 1.5 * k as f64,
        positive_spans: vec![Span {
            offset: 0,
            length: if wide { 3 } else { 2 },
        }],
        positive_buckets: if wide {
            vec![k as i64, 0, 1 - k as i64]
        } else {
            vec![k as i64, 0]
        },
        ..Histogram::default()
    }
}

fn fhist(m: i64) -> FloatHistogram {
    let mut h = hist(m).to_float();
    h.counter_reset_hint = CounterResetHint::Gauge;
    h.sum = -(m as f64);
    h
}

/// What a query returns for a series, hints dropped (they depend on chunk boundaries).
fn read(q: &dyn Querier, n: &str) -> Vec<(i64, Value)> {
    let mut set = q.select(true, None, &matcher(n));
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let s = s.expect("series");
        let mut it = s.iterator();
        loop {
            match it.next() {
                ValueType::Float => {
                    let (t, v) = it.at();
                    out.push((t, Value::Float(v)));
                }
                ValueType::Histogram => {
                    let (t, mut h) = it.at_histogram();
                    h.counter_reset_hint = CounterResetHint::Unknown;
                    assert_eq!(it.at_float_histogram().1.count, h.count as f64);
                    out.push((t, Value::Histogram(h)));
                }
                ValueType::FloatHistogram => {
                    let (t, mut h) = it.at_float_histogram();
                    if h.counter_reset_hint != CounterResetHint::Gauge {
                        h.counter_reset_hint = CounterResetHint::Unknown;
                    }
                    out.push((t, Value::FloatHistogram(h)));
                }
                _ => break,
            }
        }
        assert!(it.err().is_none(), "{:?}", it.err());
    }
    out
}

/// A histogram's observable content: counts, sum, layout parameters and the non-empty
/// buckets by index (recoding may add empty buckets to earlier samples, as in Prometheus).
#[derive(Debug, PartialEq)]
enum Norm {
    Float(i64, u64),
    Hist(i64, bool, [u64; 4], i32, Vec<(i64, u64)>, Vec<(i64, u64)>),
}

fn buckets(spans: &[Span], counts: &[f64]) -> Vec<(i64, u64)> {
    let mut out = Vec::new();
    let mut idx = 0i64;
    let mut k = 0;
    for s in spans {
        idx += i64::from(s.offset);
        for _ in 0..s.length {
            if counts[k] != 0.0 {
                out.push((idx, counts[k].to_bits()));
            }
            idx += 1;
            k += 1;
        }
    }
    out
}

fn norm(v: &[(i64, Value)]) -> Vec<Norm> {
    v.iter()
        .map(|(t, v)| {
            let (fh, int) = match v {
                Value::Float(f) => return Norm::Float(*t, f.to_bits()),
                Value::Histogram(h) => (h.to_float(), true),
                Value::FloatHistogram(h) => (h.clone(), false),
            };
            Norm::Hist(
                *t,
                int,
                [fh.count, fh.zero_count, fh.sum, fh.zero_threshold].map(f64::to_bits),
                fh.schema,
                buckets(&fh.positive_spans, &fh.positive_buckets),
                buckets(&fh.negative_spans, &fh.negative_buckets),
            )
        })
        .collect()
}

fn same(got: Vec<(i64, Value)>, want: Vec<(i64, Value)>, what: &str) {
    let (g, w) = (norm(&got), norm(&want));
    assert_eq!(g.len(), w.len(), "{what}: sample count");
    if let Some(i) = (0..g.len()).find(|&i| g[i] != w[i]) {
        panic!(
            "{what}: sample {i} differs:\n got {:?}\nwant {:?}",
            g[i], w[i]
        );
    }
}

fn expected(minutes: std::ops::Range<i64>) -> [Vec<(i64, Value)>; 3] {
    let mut h = Vec::new();
    let mut f = Vec::new();
    let mut mix = Vec::new();
    for m in minutes {
        h.push((m * MIN, Value::Histogram(hist(m))));
        f.push((m * MIN, Value::FloatHistogram(fhist(m))));
        mix.push((
            m * MIN,
            if (100..200).contains(&m) {
                Value::Histogram(hist(m))
            } else {
                Value::Float(m as f64)
            },
        ));
    }
    [h, f, mix]
}

fn fill(db: &Db, minutes: std::ops::Range<i64>) {
    for m in minutes {
        let mut app = db.appender();
        app.append_histogram(0, &name("h"), m * MIN, Some(&hist(m)), None)
            .expect("histogram");
        app.append_histogram(0, &name("fh"), m * MIN, None, Some(&fhist(m)))
            .expect("float histogram");
        if (100..200).contains(&m) {
            app.append_histogram(0, &name("mix"), m * MIN, Some(&hist(m)), None)
                .expect("mixed histogram");
        } else {
            app.append(0, &name("mix"), m * MIN, m as f64)
                .expect("mixed float");
        }
        app.commit().expect("commit");
    }
}

fn check_all(db: &Db, minutes: std::ops::Range<i64>) {
    let q = db.querier(i64::MIN, i64::MAX).expect("querier");
    let [h, f, mix] = expected(minutes);
    same(read(&*q, "h"), h, "h");
    same(read(&*q, "fh"), f, "fh");
    same(read(&*q, "mix"), mix, "mix");
}

#[test]
fn histograms_are_stored_replayed_and_compacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    fill(&db, 0..300);
    check_all(&db, 0..300);

    // The WAL brings them back after a restart.
    db.close().expect("close");
    drop(db);
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    check_all(&db, 0..300);

    // Compaction persists them into a block (and checkpoints the WAL).
    let n = db.compact().expect("compact");
    assert!(n >= 1, "{n}");
    assert!(!db.blocks().is_empty());
    check_all(&db, 0..300);
    db.close().expect("close");
    drop(db);
    let db = Db::open(dir.path(), Options::default()).expect("reopen after compaction");
    check_all(&db, 0..300);
}

#[test]
fn out_of_order_histograms_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let mut app = db.appender();
    app.append_histogram(0, &name("h"), 10 * MIN, Some(&hist(10)), None)
        .expect("first");
    assert!(matches!(
        app.append_histogram(0, &name("h"), 5 * MIN, Some(&hist(5)), None),
        Err(storage::Error::OutOfOrderSample)
    ));
    assert!(
        app.append_histogram(0, &name("h"), MIN, None, None)
            .is_err()
    );
    app.commit().expect("commit");
    // The same histogram again at the newest time is accepted; another one is a duplicate.
    let mut app = db.appender();
    app.append_histogram(0, &name("h"), 10 * MIN, Some(&hist(10)), None)
        .expect("same histogram again");
    assert!(matches!(
        app.append_histogram(0, &name("h"), 10 * MIN, Some(&hist(11)), None),
        Err(storage::Error::DuplicateSampleForTimestamp)
    ));
    app.commit().expect("commit");
    let q = db.querier(i64::MIN, i64::MAX).expect("querier");
    assert_eq!(read(&*q, "h").len(), 1);
}

#[test]
fn overlapping_blocks_with_histograms_merge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let series = name("h");
    let samples = |ms: std::ops::Range<i64>| -> Vec<(i64, Value)> {
        ms.map(|m| (m * MIN, Value::Histogram(hist(m)))).collect()
    };
    let w = BlockWriter::new(dir.path());
    let a = w
        .write(
            [(series.clone(), encode_any_chunks(&samples(0..100)).unwrap())],
            0,
            200 * MIN,
        )
        .unwrap()
        .expect("block a");
    let b = w
        .write(
            [(
                series.clone(),
                encode_any_chunks(&samples(60..200)).unwrap(),
            )],
            0,
            200 * MIN,
        )
        .unwrap()
        .expect("block b");
    let blocks = [a, b].map(|u| Block::open(&dir.path().join(u.to_string())).expect("open"));
    let out = tempfile::tempdir().expect("tempdir");
    let merged = compact_blocks(out.path(), &blocks)
        .unwrap()
        .expect("merged block");
    let block = Block::open(&out.path().join(merged.to_string())).expect("open merged");
    let q = BlockQuerier::new(Arc::new(block), i64::MIN, i64::MAX);
    same(read(&q, "h"), samples(0..200), "merged");
}

#[test]
fn stale_markers_of_histogram_series_become_stale_histograms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let mut app = db.appender();
    app.append_histogram(0, &name("h"), MIN, Some(&hist(1)), None)
        .expect("histogram");
    app.append_histogram(0, &name("fh"), MIN, None, Some(&fhist(1)))
        .expect("float histogram");
    app.commit().expect("commit");
    let mut app = db.appender();
    for n in ["h", "fh"] {
        app.append(0, &name(n), 2 * MIN, model::value::stale_nan())
            .expect("stale marker");
    }
    app.commit().expect("commit");
    let check = |db: &Db, when: &str| {
        let q = db.querier(i64::MIN, i64::MAX).expect("querier");
        for (n, kind) in [
            ("h", ValueType::Histogram),
            ("fh", ValueType::FloatHistogram),
        ] {
            let mut set = q.select(true, None, &matcher(n));
            let s = set.next().expect("series").expect("series");
            let mut it = s.iterator();
            assert_eq!(it.next(), kind);
            assert_eq!(
                it.next(),
                kind,
                "{n} {when}: the stale marker is a histogram"
            );
            let (t, h) = it.at_float_histogram();
            assert_eq!(t, 2 * MIN);
            assert!(model::value::is_stale_nan(h.sum), "{n}");
            assert_eq!(it.next(), ValueType::None);
        }
    };
    check(&db, "before restart");
    db.close().expect("close");
    drop(db);
    check(
        &Db::open(dir.path(), Options::default()).expect("reopen"),
        "after restart",
    );
}

#[test]
fn a_batch_mixing_floats_and_histograms_keeps_append_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    // One commit: "ftoh" floats then histograms, "htof" histograms then floats, "alt"
    // alternating every minute, "f" floats only (its samples span every sub-batch).
    let mut app = db.appender();
    let mut want: [Vec<(i64, Value)>; 4] = Default::default();
    for m in 0..8 {
        let t = m * MIN;
        let as_hist = [m >= 4, m < 4, m % 2 == 1];
        for (k, n) in ["ftoh", "htof", "alt"].into_iter().enumerate() {
            if as_hist[k] {
                app.append_histogram(0, &name(n), t, Some(&hist(m)), None)
                    .expect("histogram");
                want[k].push((t, Value::Histogram(hist(m))));
            } else {
                app.append(0, &name(n), t, m as f64).expect("float");
                want[k].push((t, Value::Float(m as f64)));
            }
        }
        app.append(0, &name("f"), t, m as f64).expect("float");
        want[3].push((t, Value::Float(m as f64)));
    }
    app.commit().expect("commit");
    let check = |db: &Db, when: &str| {
        let q = db.querier(i64::MIN, i64::MAX).expect("querier");
        for (k, n) in ["ftoh", "htof", "alt", "f"].into_iter().enumerate() {
            same(read(&*q, n), want[k].clone(), &format!("{n} {when}"));
        }
    };
    check(&db, "in the head");
    db.close().expect("close");
    drop(db);

    // The WAL holds the records in append order: the replay gets every sample back.
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    check(&db, "after WAL replay");
}

#[test]
fn invalid_histograms_are_refused_with_their_validation_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let mut bad = hist(5);
    bad.count = 1; // Below the buckets' total.
    let mut app = db.appender();
    match app.append_histogram(0, &name("h"), MIN, Some(&bad), None) {
        Err(storage::Error::InvalidHistogram(msg)) => {
            assert!(msg.contains("count"), "{msg}")
        }
        other => panic!("unexpected {other:?}"),
    }
    let mut fbad = fhist(5);
    fbad.positive_buckets.push(1.0); // More buckets than the spans say.
    assert!(matches!(
        app.append_histogram(0, &name("fh"), MIN, None, Some(&fbad)),
        Err(storage::Error::InvalidHistogram(_))
    ));
    app.commit().expect("commit");
    let q = db.querier(i64::MIN, i64::MAX).expect("querier");
    assert!(read(&*q, "h").is_empty());
}

#[test]
fn out_of_order_histograms_are_accepted_in_the_window_and_replayed_from_the_wbl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options {
        out_of_order_time_window: 30 * MIN,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts.clone()).expect("open");
    let mut want = Vec::new();
    for m in (0..=60).step_by(2) {
        let mut app = db.appender();
        app.append_histogram(0, &name("h"), m * MIN, Some(&hist(m)), None)
            .expect("in order");
        app.append_histogram(0, &name("fh"), m * MIN, None, Some(&fhist(m)))
            .expect("in order");
        app.commit().expect("commit");
    }
    let mut app = db.appender();
    assert!(matches!(
        app.append_histogram(0, &name("h"), MIN, Some(&hist(1)), None),
        Err(storage::Error::TooOldSample)
    ));
    for m in (31..60).step_by(2) {
        app.append_histogram(0, &name("h"), m * MIN, Some(&hist(m)), None)
            .expect("out of order in the window");
        app.append_histogram(0, &name("fh"), m * MIN, None, Some(&fhist(m)))
            .expect("out of order in the window");
    }
    // The same time again: the first sample wins, as for floats.
    app.append_histogram(0, &name("h"), 31 * MIN, Some(&hist(7)), None)
        .expect("appended, ignored at commit");
    app.append(0, &name("h"), 33 * MIN, 1.0)
        .expect("appended, ignored at commit");
    app.commit().expect("commit");
    let (mut h, mut fh) = (Vec::new(), Vec::new());
    for m in (0..=60).filter(|m| m % 2 == 0 || *m > 30) {
        h.push((m * MIN, Value::Histogram(hist(m))));
        fh.push((m * MIN, Value::FloatHistogram(fhist(m))));
    }
    want.push(h);
    want.push(fh);
    let check = |db: &Db, want: &[Vec<(i64, Value)>], when: &str| {
        let q = db.querier(i64::MIN, i64::MAX).expect("querier");
        same(read(&*q, "h"), want[0].clone(), &format!("h {when}"));
        same(read(&*q, "fh"), want[1].clone(), &format!("fh {when}"));
    };
    check(&db, &want, "in the head");
    db.close().expect("close");
    drop(db);
    let db = Db::open(dir.path(), opts.clone()).expect("reopen");
    check(&db, &want, "after WAL and WBL replay");

    // Compaction persists them with the in-order samples of their range.
    for m in 61..300 {
        let mut app = db.appender();
        app.append_histogram(0, &name("h"), m * MIN, Some(&hist(m)), None)
            .expect("in order");
        app.append_histogram(0, &name("fh"), m * MIN, None, Some(&fhist(m)))
            .expect("in order");
        app.commit().expect("commit");
        want[0].push((m * MIN, Value::Histogram(hist(m))));
        want[1].push((m * MIN, Value::FloatHistogram(fhist(m))));
    }
    assert!(db.compact().expect("compact") >= 1);
    assert_eq!(db.blocks()[0].min_time, 0);
    check(&db, &want, "after compaction");
    db.close().expect("close");
    drop(db);
    let db = Db::open(dir.path(), opts).expect("reopen after compaction");
    check(&db, &want, "after compaction and replay");
}
