//! Tests of series metadata in the head: WAL records of type 6, replay and checkpoints.

use super::*;
use crate::record::RecordType;
use crate::wlog::reader::{Reader, SegmentReader};
use storage::{Metadata, MetricType};

fn lbls(name: &str, i: usize) -> Labels {
    Labels::from_pairs([("__name__", name.to_string()), ("i", i.to_string())])
}

fn meta(t: MetricType, help: &str) -> Metadata {
    Metadata {
        metric_type: t,
        unit: String::new(),
        help: help.into(),
    }
}

/// The types of every WAL record, in order, with the decoded metadata records.
fn wal_records(dir: &Path) -> (Vec<RecordType>, Vec<record::RefMetadata>) {
    let mut r = Reader::new(SegmentReader::open(&dir.join("wal"), None, None).expect("open"));
    let (mut types, mut md) = (Vec::new(), Vec::new());
    while let Some(rec) = r.next_record().expect("read") {
        types.push(RecordType::of(rec));
        if RecordType::of(rec) == RecordType::Metadata {
            record::decode_metadata(rec, &mut md).expect("decode");
        }
    }
    (types, md)
}

#[test]
fn changed_metadata_is_logged_after_the_series_and_replayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let counter = meta(MetricType::Counter, "Requests.");
    {
        let head = Head::open(dir.path(), HeadOptions::default(), i64::MIN).expect("open");
        let mut app = head.appender();
        let r = app.append(0, &lbls("a", 1), 1000, 1.0).expect("append");
        assert_eq!(
            app.update_metadata(r, &lbls("a", 1), &counter)
                .expect("update"),
            r
        );
        // Found by labels when the ref is unknown.
        let r2 = app.append(0, &lbls("a", 2), 1000, 1.0).expect("append");
        assert_eq!(
            app.update_metadata(0, &lbls("a", 2), &counter)
                .expect("update"),
            r2
        );
        app.commit().expect("commit");
        assert_eq!(head.series_metadata(&lbls("a", 1)), Some(counter.clone()));

        // The same metadata again writes nothing; a change is logged.
        let mut app = head.appender();
        app.append(r, &lbls("a", 1), 2000, 2.0).expect("append");
        app.update_metadata(r, &lbls("a", 1), &counter)
            .expect("same");
        app.update_metadata(r2, &lbls("a", 2), &meta(MetricType::Gauge, "Now a gauge."))
            .expect("changed");
        app.commit().expect("commit");

        // Rolled back metadata is forgotten.
        let mut app = head.appender();
        app.update_metadata(r, &lbls("a", 1), &meta(MetricType::Summary, "x"))
            .expect("update");
        app.rollback();
        assert_eq!(head.series_metadata(&lbls("a", 1)), Some(counter.clone()));

        let mut app = head.appender();
        let err = app
            .update_metadata(0, &lbls("nope", 0), &counter)
            .expect_err("unknown series");
        assert!(err.to_string().contains("unknown series"), "{err}");
        head.close().expect("close");
    }
    let (types, md) = wal_records(dir.path());
    assert_eq!(
        types,
        [
            RecordType::Series,
            RecordType::Metadata,
            RecordType::Samples,
            RecordType::Metadata,
            RecordType::Samples,
        ]
    );
    assert_eq!(md.len(), 3);
    assert_eq!((md[0].typ, md[0].help.as_str()), (1, "Requests."));
    assert_eq!((md[2].typ, md[2].help.as_str()), (2, "Now a gauge."));

    let head = Head::open(dir.path(), HeadOptions::default(), i64::MIN).expect("reopen");
    assert_eq!(head.series_metadata(&lbls("a", 1)), Some(counter.clone()));
    assert_eq!(
        head.series_metadata(&lbls("a", 2)),
        Some(meta(MetricType::Gauge, "Now a gauge."))
    );
    let st = head.replay_stats();
    assert_eq!((st.metadata, st.unknown_series_metadata), (3, 0));
    assert_eq!(st.skipped_records, 0);
    // Replayed metadata counts as known: repeating it logs nothing.
    let mut app = head.appender();
    app.update_metadata(0, &lbls("a", 1), &counter)
        .expect("same");
    assert!(app.metadata.is_empty());
}

#[test]
fn checkpoints_keep_the_newest_metadata_of_kept_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = HeadOptions {
        wal: Some(WalOptions {
            segment_size: crate::wlog::PAGE_SIZE,
            compression: crate::wlog::Compression::None,
            ..WalOptions::default()
        }),
        ..HeadOptions::default()
    };
    let head = Head::open(dir.path(), o.clone(), i64::MIN).expect("open");
    for batch in 0..300i64 {
        let mut app = head.appender();
        for i in 0..30 {
            if batch < 10 {
                let r = app
                    .append(0, &lbls("old", i), batch * 60_000, 1.0)
                    .expect("append");
                app.update_metadata(r, &lbls("old", i), &meta(MetricType::Gauge, "old"))
                    .expect("metadata");
            }
            let r = app
                .append(0, &lbls("new", i), batch * 60_000, batch as f64)
                .expect("append");
            // The help changes once, early: the checkpoint keeps the second.
            let help = if batch < 5 { "first" } else { "second" };
            app.update_metadata(r, &lbls("new", i), &meta(MetricType::Counter, help))
                .expect("metadata");
        }
        app.commit().expect("commit");
    }
    head.truncate(150 * 60_000).expect("truncate");
    assert_eq!(head.num_series(), 30);
    let (_, cp_dir) = crate::checkpoint::last_checkpoint(&dir.path().join("wal"))
        .expect("list")
        .expect("a checkpoint");
    let mut r = Reader::new(SegmentReader::open(&cp_dir, None, None).expect("open"));
    let mut md = Vec::new();
    while let Some(rec) = r.next_record().expect("read") {
        if RecordType::of(rec) == RecordType::Metadata {
            record::decode_metadata(rec, &mut md).expect("decode");
        }
    }
    // One entry per series the checkpoint keeps: the live ones, and the collected ones
    // whose records the WAL still needs (as their series records, Go's `keep`).
    assert_eq!(md.len(), 60, "{md:?}");
    assert_eq!(
        md.iter()
            .filter(|m| m.help == "second" && m.typ == 1)
            .count(),
        30
    );
    assert_eq!(
        md.iter().filter(|m| m.help == "old" && m.typ == 2).count(),
        30
    );
    head.close().expect("close");
    drop(head);
    let head = Head::open(dir.path(), o, 150 * 60_000).expect("reopen");
    assert_eq!(
        head.series_metadata(&lbls("new", 3)),
        Some(meta(MetricType::Counter, "second"))
    );
}
