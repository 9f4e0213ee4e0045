//! Tests of the database: appends and queries over head and blocks, compaction, retention,
//! deletion, locking.

use super::*;
use model::{Labels, MatchType};
use storage::{Appendable, Queryable, ValueType};

fn lbls(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())])
}

fn query(db: &Db, mint: i64, maxt: i64, ms: &[Matcher]) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let q = db.querier(mint, maxt).expect("querier");
    let mut set = q.select(true, None, ms);
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let s = s.expect("series");
        let mut it = s.iterator();
        let mut v = Vec::new();
        while it.next() == ValueType::Float {
            v.push(it.at());
        }
        assert!(it.err().is_none());
        out.push((s.labels().clone(), v));
    }
    out
}

fn all() -> Vec<Matcher> {
    vec![Matcher::new(MatchType::Equal, "__name__", "m").expect("matcher")]
}

const MIN: i64 = 60_000;

fn fill(db: &Db, from_min: i64, to_min: i64, series: usize) {
    for m in from_min..to_min {
        let mut app = db.appender();
        for i in 0..series {
            app.append(0, &lbls(i), m * MIN, (m * 10 + i as i64) as f64)
                .expect("append");
        }
        app.commit().expect("commit");
    }
}

#[test]
fn head_compaction_writes_blocks_and_queries_span_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    // 5 hours of data: the head spans more than 1.5 x 2 h, so one block is cut.
    fill(&db, 0, 300, 5);
    let before = query(&db, i64::MIN, i64::MAX, &all());
    assert_eq!(before.len(), 5);
    assert_eq!(before[0].1.len(), 300);
    let n = db.compact().expect("compact");
    assert!(n >= 1, "{n}");
    let metas = db.blocks();
    assert_eq!(metas[0].min_time, 0);
    assert_eq!(metas[0].max_time, 2 * 60 * MIN);
    assert!(db.head().min_time() >= 2 * 60 * MIN);
    assert_eq!(query(&db, i64::MIN, i64::MAX, &all()), before);
    // A range inside the block only.
    let part = query(&db, 10 * MIN, 20 * MIN, &all());
    assert_eq!(part[0].1.len(), 11);
    db.close().expect("close");
    drop(db);
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    assert_eq!(query(&db, i64::MIN, i64::MAX, &all()), before);
}

#[test]
fn samples_before_the_newest_block_are_out_of_bounds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    fill(&db, 0, 300, 1);
    db.compact().expect("compact");
    let mut app = db.appender();
    assert!(matches!(
        app.append(0, &lbls(0), 10 * MIN, 1.0),
        Err(storage::Error::OutOfBounds)
    ));
}

#[test]
fn delete_and_clean_tombstones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    fill(&db, 0, 300, 3);
    db.compact().expect("compact");
    let one = vec![
        Matcher::new(MatchType::Equal, "__name__", "m").expect("m"),
        Matcher::new(MatchType::Equal, "i", "1").expect("m"),
    ];
    // Deletes across the block and the head.
    db.delete(&one, 100 * MIN, 250 * MIN).expect("delete");
    let got = query(&db, i64::MIN, i64::MAX, &one);
    assert_eq!(got[0].1.len(), 300 - 151);
    assert!(
        got[0]
            .1
            .iter()
            .all(|(t, _)| *t < 100 * MIN || *t > 250 * MIN)
    );
    assert_eq!(query(&db, i64::MIN, i64::MAX, &all())[0].1.len(), 300);
    db.clean_tombstones().expect("clean");
    assert!(db.blocks().iter().all(|m| m.stats.num_tombstones == 0));
    let again = query(&db, i64::MIN, i64::MAX, &one);
    assert_eq!(again, got);
    drop(db);
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    assert_eq!(query(&db, i64::MIN, i64::MAX, &one), got);
}

#[test]
fn retention_by_time_deletes_old_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options {
        retention_duration: 4 * 60 * MIN,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).expect("open");
    fill(&db, 0, 12 * 60, 1);
    db.compact().expect("compact");
    let metas = db.blocks();
    assert!(!metas.is_empty());
    let newest = metas.iter().map(|m| m.max_time).max().expect("blocks");
    assert!(
        metas.iter().all(|m| newest - m.max_time < 4 * 60 * MIN),
        "{metas:?}"
    );
}

#[test]
fn retention_by_size_keeps_the_newest_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    fill(&db, 0, 12 * 60, 20);
    db.compact().expect("compact");
    let n_before = db.blocks().len();
    assert!(n_before >= 2);
    drop(db);
    let opts = Options {
        max_bytes: 1,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).expect("reopen");
    assert!(db.blocks().is_empty(), "every block exceeds one byte");
}

#[test]
fn lock_file_keeps_a_second_db_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    assert!(matches!(
        Db::open(dir.path(), Options::default()),
        Err(Error::Locked(_))
    ));
    assert!(dir.path().join("lock").exists());
    db.close().expect("close");
    // Released and deleted, as Go's DirLocker does: a lock file left over means a crash.
    assert!(!dir.path().join("lock").exists());
    let _again = Db::open(dir.path(), Options::default()).expect("lock released by close");
}

#[test]
fn head_stats_count_series_and_labels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    fill(&db, 0, 3, 4);
    let st = db.head_stats(10);
    assert_eq!(st.num_series, 4);
    assert_eq!(st.series_count_by_metric_name, vec![("m".to_string(), 4)]);
    assert_eq!(st.label_value_count_by_label_name[0], ("i".to_string(), 4));
    assert_eq!((st.min_time, st.max_time), (0, 2 * MIN));
}

#[test]
fn background_compactor_runs_and_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(Db::open(dir.path(), Options::default()).expect("open"));
    fill(&db, 0, 300, 1);
    let c = Db::spawn_compactor(&db, Duration::from_millis(10));
    for _ in 0..500 {
        if !db.blocks().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(c.stop().is_empty());
    assert!(!db.blocks().is_empty());
}

#[test]
fn a_commit_leaving_the_head_compactable_wakes_the_compactor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(Db::open(dir.path(), Options::default()).expect("open"));
    // An hour's interval: only the wake of the commit can compact within the test.
    let c = Db::spawn_compactor(&db, Duration::from_secs(3600));
    fill(&db, 0, 300, 1);
    for _ in 0..1000 {
        if !db.blocks().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(c.stop().is_empty());
    assert_eq!(db.blocks().len(), 1);
    assert_eq!(db.blocks()[0].max_time, 120 * MIN);
}

#[test]
fn a_block_from_out_of_order_samples_keeps_the_in_order_wal_at_open() {
    // A block [0, 2h) as Prometheus writes it from its out-of-order head.
    let src = tempfile::tempdir().expect("tempdir");
    let db = Db::open(src.path(), Options::default()).expect("open");
    fill(&db, 0, 300, 1);
    db.compact().expect("compact");
    let mut meta = db.blocks()[0].clone();
    assert_eq!(meta.max_time, 120 * MIN);
    db.close().expect("close");
    meta.compaction.hints = vec![block::FROM_OUT_OF_ORDER.to_owned()];
    // In-order samples of another series within its range, in the WAL only.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    for m in 0..=60 {
        let mut app = db.appender();
        app.append(0, &lbls(7), m * MIN, 1.0).expect("append");
        app.commit().expect("commit");
    }
    db.close().expect("close");
    let to = dir.path().join(meta.ulid.to_string());
    fs::create_dir_all(to.join("chunks")).expect("mkdir");
    let from = src.path().join(meta.ulid.to_string());
    for f in ["index", "tombstones", "chunks/000001"] {
        fs::copy(from.join(f), to.join(f)).expect("copy");
    }
    fs::write(to.join("meta.json"), meta.to_json().expect("json")).expect("meta");

    let db = Db::open(dir.path(), Options::default()).expect("open");
    assert!(db.blocks()[0].compaction.from_out_of_order());
    let got = query(&db, 0, 300 * MIN, &all());
    let ours = got
        .iter()
        .find(|(l, _)| l == &lbls(7))
        .expect("the WAL's series");
    assert_eq!(ours.1.len(), 61);
    assert_eq!(got.len(), 2);
}

#[test]
fn wbl_samples_older_than_the_newest_block_are_replayed_and_compacted() {
    // Prometheus keeps out-of-order samples of already persisted ranges in its WBL until its
    // out-of-order compaction: a directory it stopped with before that.
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options {
        out_of_order_time_window: 4 * 60 * MIN,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts.clone()).expect("open");
    fill(&db, 0, 300, 1);
    db.compact().expect("compact");
    assert_eq!(db.blocks()[0].max_time, 120 * MIN);
    let mut app = db.appender();
    let r = app.append(0, &lbls(0), 300 * MIN, 3000.0).expect("append");
    app.commit().expect("commit");
    db.close().expect("close");
    drop(db);
    let mut wbl = crate::wlog::Wal::open(
        &dir.path().join(crate::wlog::WBL_DIR_NAME),
        crate::wlog::WalOptions::default(),
    )
    .expect("wbl");
    let mut buf = Vec::new();
    crate::record::encode_samples(
        &[crate::record::RefSample {
            series_ref: r,
            t: 100 * MIN + 1,
            v: -1.0,
        }],
        &mut buf,
    );
    wbl.log(&[&buf]).expect("log");
    wbl.close().expect("close");

    let db = Db::open(dir.path(), opts).expect("open");
    let late = |db: &Db| query(db, 100 * MIN, 100 * MIN + 1, &all())[0].1.clone();
    assert_eq!(late(&db), vec![(100 * MIN, 1000.0), (100 * MIN + 1, -1.0)]);
    // The next compaction writes it to a block; the head lets it go.
    assert!(db.head().min_time() < 120 * MIN);
    db.compact().expect("compact");
    assert!(db.head().min_time() >= 120 * MIN);
    assert_eq!(late(&db), vec![(100 * MIN, 1000.0), (100 * MIN + 1, -1.0)]);
    db.close().expect("close");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    assert_eq!(late(&db), vec![(100 * MIN, 1000.0), (100 * MIN + 1, -1.0)]);
}

#[test]
fn a_reload_turns_the_out_of_order_window_on_and_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    fill(&db, 0, 10, 1);
    let late = |db: &Db| {
        let mut app = db.appender();
        let res = app.append(0, &lbls(0), 5 * MIN + 1, -1.0);
        app.commit().expect("commit");
        res
    };
    assert!(matches!(late(&db), Err(storage::Error::OutOfOrderSample)));
    assert!(!dir.path().join("wbl").exists());
    db.set_out_of_order_time_window(60 * MIN)
        .expect("window on");
    assert_eq!(db.head().out_of_order_time_window(), 60 * MIN);
    late(&db).expect("accepted in the window");
    assert!(dir.path().join("wbl").is_dir());
    db.set_out_of_order_time_window(0).expect("window off");
    assert!(matches!(late(&db), Err(storage::Error::OutOfOrderSample)));
    db.close().expect("close");
    drop(db);
    // The WBL is replayed though the window is off now.
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let got = query(&db, 5 * MIN, 6 * MIN, &all());
    assert_eq!(
        got[0].1,
        vec![(5 * MIN, 50.0), (5 * MIN + 1, -1.0), (6 * MIN, 60.0)]
    );
}

#[test]
fn out_of_order_samples_are_accepted_in_the_window_but_not_into_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options {
        out_of_order_time_window: 4 * 60 * MIN,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts.clone()).expect("open");
    fill(&db, 0, 300, 1);
    db.compact().expect("compact");
    assert_eq!(db.blocks()[0].max_time, 120 * MIN);
    // Delete one in-order sample, then put it back out of order.
    let mut app = db.appender();
    assert!(matches!(
        app.append(0, &lbls(0), 100 * MIN + 1, 1.0),
        Err(storage::Error::OutOfBounds)
    ));
    app.append(0, &lbls(0), 150 * MIN + 1, 7.0)
        .expect("out of order in window");
    app.commit().expect("commit");
    let got = query(&db, 150 * MIN, 151 * MIN, &all());
    assert_eq!(
        got[0].1,
        vec![
            (150 * MIN, 1500.0),
            (150 * MIN + 1, 7.0),
            (151 * MIN, 1510.0)
        ]
    );
    db.close().expect("close");
    drop(db);
    let db = Db::open(dir.path(), opts).expect("reopen");
    let again = query(&db, 150 * MIN, 151 * MIN, &all());
    assert_eq!(again, got);
}

#[test]
fn concurrent_appends_queries_and_compactions_agree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(Db::open(dir.path(), Options::default()).expect("open"));
    let writers = 3;
    let steps = 600i64;
    let done = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    // Writers move in lockstep: one far behind the others would (rightly) be out of bounds.
    let barrier = Arc::new(std::sync::Barrier::new(writers));
    for w in 0..writers {
        let (db, barrier) = (Arc::clone(&db), Arc::clone(&barrier));
        handles.push(std::thread::spawn(move || {
            let mut refs = [0u64; 10];
            for m in 0..steps {
                barrier.wait();
                let mut app = db.appender();
                for (i, r) in refs.iter_mut().enumerate() {
                    let l = Labels::from_pairs([
                        ("__name__", "m".to_string()),
                        ("w", w.to_string()),
                        ("i", i.to_string()),
                    ]);
                    *r = app.append(*r, &l, m * MIN, m as f64).expect("append");
                }
                app.commit().expect("commit");
            }
        }));
    }
    let reader = {
        let (db, done) = (Arc::clone(&db), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut n = 0;
            while !done.load(Ordering::Acquire) {
                for (_, samples) in query(&db, i64::MIN, i64::MAX, &all()) {
                    // Whatever is visible is a gap-free prefix... or suffix after compaction
                    // moved the start into a block: always consecutive minutes.
                    assert!(samples.windows(2).all(|p| p[1].0 - p[0].0 == MIN));
                }
                n += 1;
            }
            n
        })
    };
    let compactor = {
        let (db, done) = (Arc::clone(&db), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                db.compact().expect("compact");
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    for h in handles {
        h.join().expect("writer");
    }
    done.store(true, Ordering::Release);
    assert!(reader.join().expect("reader") > 0);
    compactor.join().expect("compactor");
    db.compact().expect("compact");
    let got = query(&db, i64::MIN, i64::MAX, &all());
    assert_eq!(got.len(), writers * 10);
    for (l, samples) in &got {
        assert_eq!(samples.len(), steps as usize, "{l}");
    }
    assert!(!db.blocks().is_empty());
}

#[test]
fn snapshot_holds_blocks_and_head() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    fill(&db, 0, 300, 2);
    db.compact().expect("compact");
    assert_eq!(db.start_time(), Some(0));
    let before = query(&db, i64::MIN, i64::MAX, &all());
    let snap = tempfile::tempdir().expect("tempdir");
    db.snapshot(snap.path(), true).expect("snapshot");
    let copy = Db::open(snap.path(), Options::default()).expect("open snapshot");
    assert_eq!(copy.blocks().len(), db.blocks().len() + 1);
    assert_eq!(query(&copy, i64::MIN, i64::MAX, &all()), before);
}

#[test]
fn delayed_compaction_waits_for_its_delay_once_the_head_is_due() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options {
        enable_delayed_compaction: true,
        ..Options::default()
    };
    let mut db = Db::open(dir.path(), opts).expect("open");
    // Drawn below 10% of the 2 h head chunk range.
    assert!(db.compaction_delay() < Duration::from_secs(12 * 60));
    db.compaction_delay = Duration::from_secs(3600);
    fill(&db, 0, 300, 2);
    // Due, but within its delay: nothing is written, however often compaction runs.
    assert_eq!(db.compact().expect("compact"), 0);
    assert_eq!(db.compact().expect("compact"), 0);
    assert!(db.blocks().is_empty());
    assert_eq!(db.head().min_time(), 0);
    assert!(db.compaction_due_since.lock().is_some());
    // The delay over (as if an hour had passed): the head is compacted, and the clock
    // stops until the head is due again.
    db.compaction_delay = Duration::ZERO;
    assert!(db.compact().expect("compact") >= 1);
    assert_eq!(db.blocks()[0].max_time, 2 * 60 * MIN);
    assert!(db.compaction_due_since.lock().is_none());

    // Without the feature there is no delay at all.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    assert_eq!(db.compaction_delay(), Duration::ZERO);
    fill(&db, 0, 300, 2);
    assert!(db.compact().expect("compact") >= 1);
}

#[test]
fn compaction_delays_stay_within_their_share_of_the_chunk_range() {
    for _ in 0..100 {
        assert!(random_compaction_delay(7_200_000, 10) < Duration::from_millis(720_000));
        assert!(random_compaction_delay(7_200_000, 100) < Duration::from_millis(7_200_000));
    }
    assert_eq!(random_compaction_delay(7_200_000, 0), Duration::ZERO);
    assert_eq!(random_compaction_delay(0, 10), Duration::ZERO);
}

#[test]
fn one_source_keeps_its_order_and_several_merge_in_label_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    // Created 3, 1, 4, 2 (not label order), 5 hours long: compaction cuts a block.
    let created = [3, 1, 4, 2].map(lbls);
    for m in 0..300 {
        let mut app = db.appender();
        for l in &created {
            app.append(0, l, m * MIN, m as f64).expect("append");
        }
        app.commit().expect("commit");
    }
    assert!(db.compact().expect("compact") >= 1);
    let head_start = db.head().min_time();
    let listed = |mint: i64, maxt: i64| -> Vec<Labels> {
        let q = db.querier(mint, maxt).expect("querier");
        let mut set = q.select(false, None, &all());
        let mut out = Vec::new();
        while let Some(s) = set.next() {
            out.push(s.expect("series").labels().clone());
        }
        out
    };
    let mut by_labels = created.to_vec();
    by_labels.sort();
    // Only the head: Go's merge querier hands the one head querier through, unsorted.
    assert_eq!(listed(head_start + MIN, 299 * MIN), created);
    // Block and head: merged, which needs (and gives) label order.
    assert_eq!(listed(head_start - 10 * MIN, 299 * MIN), by_labels);
    // Only the block: its series are in label order anyway.
    assert_eq!(listed(0, 10 * MIN), by_labels);
}
