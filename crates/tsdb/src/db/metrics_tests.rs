//! Tests of the database's own metrics: each drives the real event and reads the sample back from [`Db::write_metrics`].

use super::*;
use model::Labels;
use storage::{Appendable, Queryable};

fn lbls(name: &str, i: usize) -> Labels {
    Labels::from_pairs([("__name__", name.to_string()), ("i", i.to_string())])
}

fn render(db: &Db) -> String {
    let mut out = String::new();
    db.write_metrics(&mut out);
    out
}

/// The value of the sample `series` (name with labels, exactly as rendered).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {series} in\n{text}"))
        .parse()
        .expect("a number")
}

const MIN: i64 = 60_000;

fn fill(db: &Db, from_min: i64, to_min: i64, series: usize) {
    for m in from_min..to_min {
        let mut app = db.appender();
        for i in 0..series {
            app.append(0, &lbls("m", i), m * MIN, (m * 10 + i as i64) as f64)
                .expect("append");
        }
        app.commit().expect("commit");
    }
}

#[test]
fn appends_count_samples_series_chunks_and_appenders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let text = render(&db);
    assert_eq!(value(&text, "prometheus_tsdb_clean_start"), 1.0);
    assert_eq!(value(&text, "prometheus_tsdb_reloads_total"), 1.0);
    assert_eq!(
        value(&text, "prometheus_tsdb_head_min_time"),
        i64::MAX as f64
    );
    let mut app = db.head_appender();
    let r = app.append(0, &lbls("a", 1), 1000, 1.0).expect("append");
    app.append(r, &lbls("a", 1), 2000, 2.0).expect("append");
    app.append(0, &lbls("a", 2), 2000, 2.0).expect("append");
    let h = model::Histogram {
        count: 1,
        sum: 1.0,
        zero_count: 1,
        ..model::Histogram::default()
    };
    app.append_histogram(0, &lbls("h", 1), 3000, Some(&h), None)
        .expect("append histogram");
    assert_eq!(
        value(&render(&db), "prometheus_tsdb_head_active_appenders"),
        1.0
    );
    app.commit().expect("commit");
    let text = render(&db);
    assert_eq!(
        value(
            &text,
            "prometheus_tsdb_head_samples_appended_total{type=\"float\"}"
        ),
        3.0
    );
    assert_eq!(
        value(
            &text,
            "prometheus_tsdb_head_samples_appended_total{type=\"histogram\"}"
        ),
        1.0
    );
    assert_eq!(value(&text, "prometheus_tsdb_head_active_appenders"), 0.0);
    assert_eq!(value(&text, "prometheus_tsdb_head_series"), 3.0);
    assert_eq!(
        value(&text, "prometheus_tsdb_head_series_created_total"),
        3.0
    );
    assert_eq!(value(&text, "prometheus_tsdb_head_chunks"), 3.0);
    assert_eq!(
        value(&text, "prometheus_tsdb_head_chunks_created_total"),
        3.0
    );
    assert_eq!(value(&text, "prometheus_tsdb_head_min_time"), 1000.0);
    assert_eq!(value(&text, "prometheus_tsdb_head_max_time"), 3000.0);
    assert_eq!(value(&text, "prometheus_tsdb_head_max_time_seconds"), 3.0);
    assert_eq!(value(&text, "prometheus_tsdb_lowest_timestamp"), 1000.0);
    assert_eq!(
        value(&text, "prometheus_tsdb_retention_limit_seconds"),
        1_296_000.0
    );
    // A rollback counts nothing but the appender.
    let mut app = db.head_appender();
    app.append(0, &lbls("a", 1), 5000, 1.0).expect("append");
    app.rollback();
    let text = render(&db);
    assert_eq!(value(&text, "prometheus_tsdb_head_active_appenders"), 0.0);
    assert_eq!(
        value(
            &text,
            "prometheus_tsdb_head_samples_appended_total{type=\"float\"}"
        ),
        3.0
    );
}

#[test]
fn refused_samples_are_counted_by_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let mut app = db.appender();
    app.append(0, &lbls("a", 1), 10_000_000, 1.0)
        .expect("append");
    app.commit().expect("commit");
    let mut app = db.appender();
    // Older than the head's newest by more than half a block range: out of bounds.
    assert!(matches!(
        app.append(0, &lbls("a", 1), 1000, 1.0),
        Err(storage::Error::OutOfBounds)
    ));
    // Within the range, but older than the series' newest: out of order.
    assert!(matches!(
        app.append(0, &lbls("a", 1), 9_000_000, 1.0),
        Err(storage::Error::OutOfOrderSample)
    ));
    let h = model::Histogram {
        count: 1,
        zero_count: 1,
        ..model::Histogram::default()
    };
    let mut hist = db.head_appender();
    hist.append_histogram(0, &lbls("h", 1), 10_000_000, Some(&h), None)
        .expect("append histogram");
    hist.commit().expect("commit");
    let mut hist = db.head_appender();
    assert!(matches!(
        hist.append_histogram(0, &lbls("h", 1), 9_000_000, Some(&h), None),
        Err(storage::Error::OutOfOrderSample)
    ));
    assert!(matches!(
        hist.append_histogram(0, &lbls("h", 1), 1000, Some(&h), None),
        Err(storage::Error::OutOfBounds)
    ));
    hist.rollback();
    let _ = app.rollback();
    let text = render(&db);
    assert_eq!(
        value(
            &text,
            "prometheus_tsdb_out_of_bound_samples_total{type=\"float\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "prometheus_tsdb_out_of_order_samples_total{type=\"float\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "prometheus_tsdb_too_old_samples_total{type=\"float\"}"
        ),
        0.0
    );
    assert_eq!(
        value(
            &text,
            "prometheus_tsdb_out_of_order_samples_total{type=\"histogram\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "prometheus_tsdb_out_of_bound_samples_total{type=\"histogram\"}"
        ),
        1.0
    );
}

#[test]
fn out_of_order_window_counts_accepted_and_too_old_samples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options {
        out_of_order_time_window: 10 * MIN,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).expect("open");
    let mut app = db.appender();
    app.append(0, &lbls("a", 1), 100 * MIN, 1.0)
        .expect("append");
    app.commit().expect("commit");
    let mut app = db.appender();
    app.append(0, &lbls("a", 1), 95 * MIN, 1.0)
        .expect("in the window");
    assert!(matches!(
        app.append(0, &lbls("a", 1), 50 * MIN, 1.0),
        Err(storage::Error::TooOldSample)
    ));
    app.commit().expect("commit");
    let text = render(&db);
    assert_eq!(
        value(
            &text,
            "prometheus_tsdb_head_out_of_order_samples_appended_total{type=\"float\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "prometheus_tsdb_too_old_samples_total{type=\"float\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "prometheus_tsdb_head_samples_appended_total{type=\"float\"}"
        ),
        1.0
    );
    // The out-of-order sample went to the WBL, which has its own families.
    assert!(
        value(
            &text,
            "prometheus_tsdb_out_of_order_wbl_record_part_writes_total"
        ) >= 1.0
    );
    assert!(value(&text, "prometheus_tsdb_out_of_order_wbl_storage_size_bytes") > 0.0);
}

#[test]
fn wal_counts_pages_parts_and_bytes_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    fill(&db, 0, 3, 50);
    let text = render(&db);
    // Three commits: each writes one or more record parts and flushes its page.
    assert!(value(&text, "prometheus_tsdb_wal_page_flushes_total") >= 3.0);
    assert!(value(&text, "prometheus_tsdb_wal_record_part_writes_total") >= 3.0);
    assert_eq!(
        value(&text, "prometheus_tsdb_wal_completed_pages_total"),
        0.0
    );
    // No page was completed, so the segment holds exactly the parts written.
    assert_eq!(
        value(
            &text,
            "prometheus_tsdb_wal_record_parts_bytes_written_total"
        ),
        value(&text, "prometheus_tsdb_wal_storage_size_bytes")
    );
    assert!(
        value(
            &text,
            "prometheus_tsdb_wal_record_bytes_saved_total{compression=\"snappy\"}"
        ) > 0.0
    );
    assert_eq!(value(&text, "prometheus_tsdb_wal_segment_current"), 0.0);
    assert!(
        !text.contains("prometheus_tsdb_out_of_order_wbl_"),
        "no WBL without a window"
    );
    assert!(text.contains("# TYPE prometheus_tsdb_wal_fsync_duration_seconds summary\n"));
    db.sync_wal().expect("sync");
    assert_eq!(
        value(
            &render(&db),
            "prometheus_tsdb_wal_fsync_duration_seconds_count"
        ),
        1.0
    );
}

#[test]
fn compaction_counts_blocks_chunks_truncations_and_reloads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    // 5 hours of two series: one 2 h block is cut from the head.
    fill(&db, 0, 300, 2);
    assert_eq!(db.compact().expect("compact"), 1);
    let text = render(&db);
    assert_eq!(
        value(&text, "prometheus_tsdb_compactions_triggered_total"),
        1.0
    );
    assert_eq!(
        value(&text, "prometheus_tsdb_compactions_failed_total"),
        0.0
    );
    assert_eq!(value(&text, "prometheus_tsdb_compactions_total"), 1.0);
    assert_eq!(
        value(&text, "prometheus_tsdb_compaction_populating_block"),
        0.0
    );
    assert_eq!(value(&text, "prometheus_tsdb_blocks_loaded"), 1.0);
    assert_eq!(value(&text, "prometheus_tsdb_reloads_total"), 2.0);
    assert_eq!(value(&text, "prometheus_tsdb_head_truncations_total"), 1.0);
    assert_eq!(
        value(&text, "prometheus_tsdb_head_gc_duration_seconds_count"),
        1.0
    );
    assert_eq!(
        value(&text, "prometheus_tsdb_compaction_duration_seconds_count"),
        1.0
    );
    // 120 samples per series (2 h at one a minute) in chunks of at most 120 samples.
    let chunks = value(&text, "prometheus_tsdb_compaction_chunk_samples_count");
    assert!(chunks >= 2.0, "{chunks}");
    assert_eq!(
        value(&text, "prometheus_tsdb_compaction_chunk_samples_sum"),
        240.0
    );
    assert_eq!(
        value(&text, "prometheus_tsdb_compaction_chunk_size_bytes_count"),
        chunks
    );
    assert!(value(&text, "prometheus_tsdb_storage_blocks_bytes") > 0.0);
    // Symbols: "__name__", "m", "i", "0", "1".
    assert!(value(&text, "prometheus_tsdb_symbol_table_size_bytes") >= 14.0);
    assert_eq!(value(&text, "prometheus_tsdb_lowest_timestamp"), 0.0);
    // The head dropped the chunks before the block's end.
    assert!(value(&text, "prometheus_tsdb_head_chunks_removed_total") >= 2.0);
    assert_eq!(
        value(&text, "prometheus_tsdb_vertical_compactions_total"),
        0.0
    );
}

#[test]
fn retention_and_tombstone_cleanup_are_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options {
        retention_duration: 4 * 60 * MIN,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).expect("open");
    fill(&db, 0, 12 * 60, 1);
    db.compact().expect("compact");
    let text = render(&db);
    assert_eq!(value(&text, "prometheus_tsdb_time_retentions_total"), 1.0);
    assert_eq!(value(&text, "prometheus_tsdb_size_retentions_total"), 0.0);
    let m = model::Matcher::equal("__name__", "m");
    db.delete(&[m], 0, i64::MAX).expect("delete");
    db.clean_tombstones().expect("clean");
    let text = render(&db);
    assert_eq!(
        value(&text, "prometheus_tsdb_tombstone_cleanup_seconds_count"),
        1.0
    );
    assert!(text.contains("prometheus_tsdb_tombstone_cleanup_seconds_bucket{le=\"+Inf\"} 1\n"));
}

#[test]
fn clean_start_reports_a_left_over_or_disabled_lock_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("lock"), b"").expect("lock file");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    assert_eq!(value(&render(&db), "prometheus_tsdb_clean_start"), 0.0);
    db.close().expect("close");
    drop(db);
    let opts = Options {
        no_lockfile: true,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).expect("open");
    assert_eq!(value(&render(&db), "prometheus_tsdb_clean_start"), -1.0);
}

#[test]
fn families_are_sorted_and_typed_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    fill(&db, 0, 2, 2);
    let q = db.querier(0, MIN).expect("querier");
    drop(q);
    let text = render(&db);
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().expect("a name"))
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted, "sorted, no family twice");
    for name in [
        "prometheus_tsdb_exemplar_exemplars_appended_total",
        "prometheus_tsdb_snapshot_replay_error_total",
        "prometheus_tsdb_wal_corruptions_total",
        "prometheus_tsdb_mmap_chunk_corruptions_total",
        "prometheus_tsdb_data_replay_duration_seconds",
        "prometheus_tsdb_checkpoint_creations_total",
    ] {
        assert!(names.contains(&name), "{name} missing");
    }
    // Every sample line belongs to the family above it.
    let mut family = "";
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            family = rest.split(' ').next().expect("a name");
        } else if !l.starts_with('#') {
            assert!(l.starts_with(family), "{l} after {family}");
        }
    }
}

#[test]
fn head_truncation_counts_checkpoints_and_wal_truncations() {
    use crate::head::{Head, HeadOptions};
    let dir = tempfile::tempdir().expect("tempdir");
    let o = HeadOptions {
        wal: Some(WalOptions {
            segment_size: crate::wlog::PAGE_SIZE,
            compression: crate::wlog::Compression::None,
            ..WalOptions::default()
        }),
        ..HeadOptions::default()
    };
    let head = Head::open(dir.path(), o, i64::MIN).expect("open");
    for batch in 0..300i64 {
        let mut app = head.appender();
        for i in 0..30 {
            if batch < 10 {
                app.append(0, &lbls("old", i), batch * MIN, 1.0)
                    .expect("append");
            }
            app.append(0, &lbls("new", i), batch * MIN, batch as f64)
                .expect("append");
        }
        app.commit().expect("commit");
    }
    let mut before = String::new();
    head.write_metrics(&mut before);
    let segment = value(&before, "prometheus_tsdb_wal_segment_current");
    assert!(segment > 2.0, "small segments: {segment}");
    assert!(value(&before, "prometheus_tsdb_wal_completed_pages_total") >= segment);
    head.truncate(150 * MIN).expect("truncate");
    let mut text = String::new();
    head.write_metrics(&mut text);
    for (series, v) in [
        ("prometheus_tsdb_head_truncations_total", 1.0),
        ("prometheus_tsdb_head_truncations_failed_total", 0.0),
        ("prometheus_tsdb_checkpoint_creations_total", 1.0),
        ("prometheus_tsdb_checkpoint_creations_failed_total", 0.0),
        ("prometheus_tsdb_checkpoint_deletions_total", 1.0),
        ("prometheus_tsdb_wal_truncations_total", 1.0),
        ("prometheus_tsdb_wal_truncate_duration_seconds_count", 1.0),
        ("prometheus_tsdb_head_series_removed_total", 30.0),
        ("prometheus_tsdb_head_series", 30.0),
        // Truncation starts a new segment.
        ("prometheus_tsdb_wal_segment_current", segment + 1.0),
    ] {
        assert_eq!(value(&text, series), v, "{series}");
    }
    // Without compactions and blocks, the head alone renders no database families.
    assert!(!text.contains("prometheus_tsdb_blocks_loaded"));
}

#[test]
fn series_gone_before_a_querier_reads_them_are_not_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    fill(&db, 0, 1, 1);
    let head = db.head();
    // Listed by the postings, then collected before being read.
    let q = head.querier(0, MIN);
    let mut set =
        storage::Querier::select(&q, true, None, &[model::Matcher::equal("__name__", "m")]);
    head.truncate(10 * MIN).expect("truncate");
    while set.next().is_some() {}
    assert_eq!(
        value(&render(&db), "prometheus_tsdb_head_series_not_found_total"),
        1.0
    );
}
