//! Tests of when the background compactor runs: commits that leave the head compactable wake
//! it (Go's `compactc`), the delay of delayed compaction holds, failures back off.

use super::*;
use model::Labels;
use storage::Appendable;

fn series() -> Labels {
    Labels::from_pairs([("__name__", "m".to_string())])
}

/// Appends one sample at `t` (ms) in a commit of its own, through the database's appender.
fn commit_at(db: &Db, t: i64) {
    let mut app = db.appender();
    app.append(0, &series(), t, t as f64).expect("append");
    app.commit().expect("commit");
}

/// Waits (generously) until `done` holds.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("gave up waiting for {what}");
}

#[test]
fn appending_past_one_and_a_half_block_ranges_compacts_without_the_timer() {
    let dir = tempfile::tempdir().expect("tempdir");
    // One-second blocks: the head is compactable once it spans more than 1.5 s.
    let opts = Options {
        min_block_duration: 1000,
        max_block_duration: 1000,
        ..Options::default()
    };
    let db = Arc::new(Db::open(dir.path(), opts).expect("open"));
    // An hour's interval: the timer cannot be what compacts within the test.
    let c = Db::spawn_compactor(&db, Duration::from_secs(3600));
    for t in (0..=1500).step_by(100) {
        commit_at(&db, t);
    }
    // Exactly 1.5 ranges is not yet compactable.
    assert!(!db.head_compactable());
    assert!(db.blocks().is_empty());
    commit_at(&db, 1600);
    wait_for("the head block", || !db.blocks().is_empty());
    assert!(c.stop().is_empty());
    let blocks = db.blocks();
    assert_eq!(blocks.len(), 1);
    assert_eq!((blocks[0].min_time, blocks[0].max_time), (0, 1000));
    assert_eq!(db.head().min_time(), 1000);
    assert_eq!(db.metrics.compactions_triggered.get(), 1.0);
}

#[test]
fn a_wake_within_the_compaction_delay_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options {
        min_block_duration: 1000,
        max_block_duration: 1000,
        enable_delayed_compaction: true,
        ..Options::default()
    };
    let mut db = Db::open(dir.path(), opts).expect("open");
    db.compaction_delay = Duration::from_secs(3600);
    let db = Arc::new(db);
    let c = Db::spawn_compactor(&db, Duration::from_secs(3600));
    for t in (0..=1600).step_by(100) {
        commit_at(&db, t);
    }
    // The commit woke the compactor, which found the head due and started the delay.
    wait_for("the delay to start", || {
        db.compaction_due_since.lock().is_some()
    });
    assert!(c.stop().is_empty());
    assert!(db.metrics.compactions_triggered.get() >= 1.0);
    assert!(db.blocks().is_empty());
    assert_eq!(db.head().min_time(), 0);
}

#[test]
fn a_database_without_a_compactor_thread_compacts_only_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options {
        min_block_duration: 1000,
        max_block_duration: 1000,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).expect("open");
    for t in (0..=1600).step_by(100) {
        commit_at(&db, t);
    }
    // No thread to wake, and the commit itself does not compact.
    assert!(db.blocks().is_empty());
    assert_eq!(db.metrics.compactions_triggered.get(), 0.0);
    assert_eq!(db.compact().expect("compact"), 1);
}

#[test]
fn failed_compactions_back_off_from_a_second_to_a_minute() {
    let mut d = Duration::ZERO;
    let mut seen = Vec::new();
    for _ in 0..8 {
        d = compaction_backoff(d);
        seen.push(d.as_secs());
    }
    assert_eq!(seen, [1, 2, 4, 8, 16, 32, 60, 60]);
}

/// Appends one sample per minute in `[from, to)` minutes, a commit each.
fn minutes(db: &Db, from: i64, to: i64) {
    for m in from..to {
        commit_at(db, m * 60_000);
    }
}

#[test]
fn block_compaction_gives_way_to_a_due_head() {
    const H: i64 = 3_600_000;
    let dir = tempfile::tempdir().expect("tempdir");
    // Four 2 h blocks, written without leveled compaction (one block range only).
    let flat = Options {
        max_block_duration: 2 * H,
        ..Options::default()
    };
    let db = Db::open(dir.path(), flat).expect("open");
    minutes(&db, 0, 600);
    assert_eq!(db.compact().expect("compact"), 4);
    db.close().expect("close");
    drop(db);

    // Reopened with 6 h and 18 h ranges: the oldest three blocks are due for a 6 h block,
    // but the head (8 h to 14 h) is due too, and comes first.
    let db = Db::open(dir.path(), Options::default()).expect("open");
    minutes(&db, 600, 840);
    assert!(db.head_compactable());
    let compactor = LeveledCompactor::new(vec![2 * H, 6 * H, 18 * H]).expect("ranges");
    assert_eq!(db.compact_blocks(&compactor).expect("compact blocks"), 0);
    assert_eq!(db.blocks().len(), 4);
    // A compaction run persists the head, then merges the blocks.
    assert_eq!(db.compact().expect("compact"), 2);
    let ranges: Vec<(i64, i64)> = db
        .blocks()
        .iter()
        .map(|b| (b.min_time, b.max_time))
        .collect();
    assert_eq!(ranges[0], (0, 6 * H));
    assert!(!ranges.iter().any(|&(a, b)| (a, b) == (0, 2 * H)));
}
