//! The head's chunk count (`prometheus_tsdb_head_chunks`), kept at the events, against a walk over every series: after appends (floats, histograms, type switches, stale markers), out-of-order samples, deletes, truncation with series GC, WAL replay and a chunk snapshot.

use super::*;
use model::{Labels, MatchType};
use storage::Appendable;

const MIN: i64 = 60_000;

fn lbls(name: &str, i: usize) -> Labels {
    Labels::from_pairs([("__name__", name.to_string()), ("i", i.to_string())])
}

/// Asserts that the kept count, the rendered gauge and the walk agree; returns the count.
fn check(db: &Db, when: &str) -> u64 {
    let walked = db.head().num_chunks_by_walk();
    assert_eq!(db.head().num_chunks(), walked, "kept count {when}");
    let mut text = String::new();
    db.write_metrics(&mut text);
    let line = format!("prometheus_tsdb_head_chunks {walked}\n");
    assert!(text.contains(&line), "{when}: no {line:?} in\n{text}");
    assert_eq!(db.head_stats(1).num_chunks, walked, "stats {when}");
    walked
}

/// One float sample a minute for `series` series of `name`, minutes `from..to`, and for
/// the 10 series of `old` in the first 100 minutes.
fn floats(db: &Db, name: &str, series: usize, from: i64, to: i64) {
    for m in from..to {
        let mut app = db.appender();
        for i in 0..series {
            app.append(0, &lbls(name, i), m * MIN, (m + i as i64) as f64)
                .expect("append");
        }
        for i in 0..10 {
            if m < 100 {
                app.append(0, &lbls("old", i), m * MIN, 1.0)
                    .expect("append");
            }
        }
        app.commit().expect("commit");
    }
}

fn histogram(k: u64) -> model::Histogram {
    model::Histogram {
        count: k,
        sum: k as f64,
        zero_count: k,
        ..model::Histogram::default()
    }
}

fn opts() -> Options {
    Options {
        out_of_order_time_window: 30 * MIN,
        ..Options::default()
    }
}

#[test]
fn kept_chunk_count_equals_a_walk_over_the_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), opts()).expect("open");
    assert_eq!(check(&db, "when empty"), 0);

    // Floats over 5 h: chunks cut by count and by range, full ones memory-mapped.
    floats(&db, "m", 20, 0, 300);
    let after_floats = check(&db, "after float appends");
    assert!(after_floats >= 20 * 3, "{after_floats}");

    // Out-of-order samples go to their own buffer: no in-order chunk changes.
    let mut app = db.appender();
    for i in 0..20 {
        app.append(0, &lbls("m", i), 290 * MIN + 30_000, 1.0)
            .expect("out-of-order append");
    }
    app.commit().expect("commit");
    assert_eq!(check(&db, "after out-of-order appends"), after_floats);
    assert_eq!(
        db.head().metrics.ooo_appended[crate::metrics::FLOAT].get(),
        20.0
    );

    // Histograms: cut by size, by a counter reset, and by switching to floats and back;
    // a stale marker on a histogram series is a stale histogram.
    for m in 300..360 {
        let mut app = db.head_appender();
        for i in 0..5 {
            let l = lbls("h", i);
            let t = m * MIN;
            match (i, m) {
                (0, 330..=339) => {
                    app.append(0, &l, t, 1.0)
                        .expect("float in a histogram series");
                }
                (1, 345) => {
                    app.append(0, &l, t, model::value::stale_nan())
                        .expect("stale marker");
                }
                _ => {
                    // Series 2 has a counter reset at minute 320.
                    let k = if i == 2 && m >= 320 { m - 319 } else { m };
                    let h = histogram(k as u64);
                    app.append_histogram(0, &l, t, Some(&h), None)
                        .expect("append histogram");
                }
            }
        }
        app.commit().expect("commit");
    }
    let after_histograms = check(&db, "after histogram appends");
    assert!(after_histograms > after_floats);

    // Deletes leave tombstones; the chunks stay until truncation.
    let matcher = model::Matcher::new(MatchType::Equal, "__name__", "old").expect("matcher");
    db.delete(&[matcher], 0, 100 * MIN).expect("delete");
    assert_eq!(check(&db, "after a delete"), after_histograms);

    // Compaction writes the first 2 h to a block and truncates the head: chunks are
    // removed, and series "old" (no data left) is collected.
    let series_before = db.head().num_series();
    assert!(db.compact().expect("compact") >= 1);
    let after_truncation = check(&db, "after head truncation");
    assert!(after_truncation < after_histograms);
    assert_eq!(db.head().num_series(), series_before - 10);
    assert!(db.head().metrics.chunks_removed.get() > 0.0);

    // More data after the truncation, then a crash (no close): the WAL replay and the
    // memory-mapped chunks on disk bring the count back.
    floats(&db, "m", 20, 360, 400);
    let before_crash = check(&db, "before the crash");
    db.head().mapper().flush().expect("flush");
    drop(db);
    let db = Db::open(dir.path(), opts()).expect("reopen after a crash");
    assert!(db.head().replay_stats().mmapped_chunks > 0);
    assert_eq!(check(&db, "after WAL replay"), before_crash);
    floats(&db, "m", 20, 400, 410);
    check(&db, "after appends following replay");
    db.close().expect("close");
    drop(db);

    // A chunk snapshot at close, loaded at the next open.
    let snap = Options {
        enable_memory_snapshot_on_shutdown: true,
        ..opts()
    };
    let db = Db::open(dir.path(), snap.clone()).expect("reopen");
    let before_snapshot = check(&db, "before the snapshot");
    db.close().expect("close with a snapshot");
    drop(db);
    let db = Db::open(dir.path(), snap).expect("reopen from the snapshot");
    assert!(db.head().replay_stats().chunk_snapshot.is_some());
    assert_eq!(check(&db, "after the snapshot load"), before_snapshot);

    // Truncating everything empties the head.
    db.head().truncate(10_000 * MIN).expect("truncate all");
    assert_eq!(check(&db, "after truncating everything"), 0);
}
