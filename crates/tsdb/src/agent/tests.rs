//! Tests of the agent storage: appends, replay, out-of-order rejection, truncation.

use std::sync::atomic::Ordering;

use model::Labels;
use storage::Appendable;

use super::*;
use crate::wlog::reader::{Reader, SegmentReader};

fn labels(name: &str) -> Labels {
    Labels::from_pairs([("__name__", name), ("job", "agent")])
}

fn open(dir: &Path) -> Db {
    Db::open(dir, Options::default()).unwrap()
}

/// Appends one sample per `(name, t)` and commits; returns the references.
fn append(db: &Db, samples: &[(&str, i64)]) -> Vec<u64> {
    let mut app = db.appender();
    let refs = samples
        .iter()
        .map(|&(n, t)| app.append(0, &labels(n), t, t as f64).unwrap())
        .collect();
    app.commit().unwrap();
    refs
}

/// Series records `(ref, labels)` and samples `(ref, t)`.
type Contents = (Vec<(u64, Labels)>, Vec<(u64, i64)>);

/// Every record of the newest checkpoint and the segments after it, decoded.
/// Samples in the (checkpoint-free) WAL whose series record comes only later or never.
fn samples_before_their_series(wal: &Path) -> usize {
    let mut known = std::collections::HashSet::new();
    let mut early = 0;
    let mut r = Reader::new(SegmentReader::open(wal, None, None).unwrap());
    while let Some(rec) = r.next_record().unwrap() {
        match RecordType::of(rec) {
            RecordType::Series => {
                let mut out = Vec::new();
                record::decode_series(rec, &mut out).unwrap();
                known.extend(out.into_iter().map(|s| s.series_ref));
            }
            RecordType::Samples => {
                let mut out = Vec::new();
                record::decode_samples(rec, &mut out).unwrap();
                early += out
                    .iter()
                    .filter(|s| !known.contains(&s.series_ref))
                    .count();
            }
            _ => {}
        }
    }
    early
}

fn wal_contents(wal: &Path) -> Contents {
    let mut series = Vec::new();
    let mut samples = Vec::new();
    let mut dirs = Vec::new();
    if let Some((_, cp)) = checkpoint::last_checkpoint(wal).unwrap() {
        dirs.push((cp, None));
        let idx = checkpoint::last_checkpoint(wal).unwrap().unwrap().0;
        dirs.push((wal.to_path_buf(), Some(idx + 1)));
    } else {
        dirs.push((wal.to_path_buf(), None));
    }
    for (dir, first) in dirs {
        let mut r = Reader::new(SegmentReader::open(&dir, first, None).unwrap());
        while let Some(rec) = r.next_record().unwrap() {
            match RecordType::of(rec) {
                RecordType::Series => {
                    let mut out = Vec::new();
                    record::decode_series(rec, &mut out).unwrap();
                    series.extend(out.into_iter().map(|s| (s.series_ref, s.labels)));
                }
                RecordType::Samples => {
                    let mut out = Vec::new();
                    record::decode_samples(rec, &mut out).unwrap();
                    samples.extend(out.into_iter().map(|s| (s.series_ref, s.t)));
                }
                other => panic!("unexpected record {other:?}"),
            }
        }
    }
    (series, samples)
}

#[test]
fn commit_writes_series_and_samples_records_in_prometheus_format() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let refs = append(&db, &[("a", 10), ("b", 10)]);
    assert_eq!(refs, [1, 2]);
    // The same series again: same reference, no new series record.
    let mut app = db.appender();
    assert_eq!(app.append(0, &labels("a"), 20, 1.0).unwrap(), 1);
    // A known reference wins over the labels passed along.
    assert_eq!(app.append(2, &labels("ignored"), 20, 1.0).unwrap(), 2);
    app.commit().unwrap();
    let (series, samples) = wal_contents(db.wal_dir());
    assert_eq!(series, [(1, labels("a")), (2, labels("b"))]);
    assert_eq!(samples, [(1, 10), (2, 10), (1, 20), (2, 20)]);
    assert_eq!(db.num_series(), 2);
    assert_eq!(db.last_timestamp(1), Some(20));
    assert_eq!(db.metrics().samples_appended.load(Ordering::Relaxed), 4);
    assert_eq!(db.metrics().active_series.load(Ordering::Relaxed), 2);
    assert!(dir.path().join("wal").is_dir());
}

#[test]
fn out_of_order_and_duplicate_timestamps_are_rejected_per_series() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    append(&db, &[("a", 100)]);
    let mut app = db.appender();
    assert!(matches!(
        app.append(1, &labels("a"), 99, 0.0),
        Err(storage::Error::OutOfOrderSample)
    ));
    assert!(matches!(
        app.append(1, &labels("a"), 100, 0.0),
        Err(storage::Error::OutOfOrderSample)
    ));
    // A rejection does not poison the batch, and other series are independent.
    app.append(1, &labels("a"), 101, 0.0).unwrap();
    app.append(0, &labels("b"), 5, 0.0).unwrap();
    app.commit().unwrap();
    assert_eq!(db.last_timestamp(1), Some(101));
    assert_eq!(db.metrics().out_of_order_samples.load(Ordering::Relaxed), 2);

    // With an out-of-order window, older samples inside it are accepted.
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        out_of_order_time_window: 50,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    append(&db, &[("a", 100)]);
    let mut app = db.appender();
    app.append(1, &labels("a"), 60, 0.0).unwrap();
    assert!(app.append(1, &labels("a"), 50, 0.0).is_err());
    app.commit().unwrap();
    assert_eq!(
        db.last_timestamp(1),
        Some(100),
        "the newest timestamp stays"
    );
}

#[test]
fn invalid_label_sets_are_refused_and_empty_values_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let mut app = db.appender();
    assert!(matches!(
        app.append(0, &Labels::empty(), 1, 0.0),
        Err(storage::Error::InvalidLabels { .. })
    ));
    assert!(matches!(
        app.append(0, &Labels::from_pairs([("a", "")]), 1, 0.0),
        Err(storage::Error::InvalidLabels { .. })
    ));
    let r = app
        .append(
            0,
            &Labels::from_pairs([("__name__", "x"), ("empty", "")]),
            1,
            0.0,
        )
        .unwrap();
    app.commit().unwrap();
    assert_eq!(
        db.series_ref(&Labels::from_pairs([("__name__", "x")])),
        Some(r)
    );
}

#[test]
fn replay_restores_series_references_and_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open(dir.path());
        append(&db, &[("a", 10), ("b", 20)]);
        append(&db, &[("a", 30)]);
        // Rolled back: the series exists (its record is written), its sample does not.
        let mut app = db.appender();
        app.append(0, &labels("c"), 40, 0.0).unwrap();
        app.rollback().unwrap();
        // Dropped without commit: the same.
        let mut app = db.appender();
        app.append(0, &labels("d"), 50, 0.0).unwrap();
        drop(app);
        db.close().unwrap();
    }
    let db = open(dir.path());
    assert_eq!(db.num_series(), 4);
    assert_eq!(db.series_ref(&labels("a")), Some(1));
    assert_eq!(db.series_ref(&labels("d")), Some(4));
    assert_eq!(db.last_timestamp(1), Some(30));
    assert_eq!(db.last_timestamp(2), Some(20));
    assert_eq!(db.last_timestamp(3), Some(0), "no sample: timestamp 0");
    // Replayed timestamps reject older samples; new series get new references.
    let mut app = db.appender();
    assert!(app.append(1, &labels("a"), 30, 0.0).is_err());
    assert_eq!(app.append(0, &labels("e"), 1, 0.0).unwrap(), 5);
    app.commit().unwrap();
    db.close().unwrap();
}

#[test]
fn a_damaged_wal_tail_is_repaired_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let seg;
    {
        let db = open(dir.path());
        append(&db, &[("a", 10)]);
        seg = wlog::segment_range(db.wal_dir()).unwrap().unwrap().1;
        db.close().unwrap();
    }
    // A segment after the last one that starts with a fragment of an invalid type.
    let path = wlog::segment_name(&dir.path().join("wal"), seg + 1);
    fs::write(&path, [7, 0, 1, 0, 0, 0, 0, 42]).unwrap();

    let db = open(dir.path());
    assert_eq!(db.metrics().corruptions.load(Ordering::Relaxed), 1);
    assert_eq!(db.last_timestamp(1), Some(10));
    append(&db, &[("a", 20)]);
    db.close().unwrap();
    let db = open(dir.path());
    assert_eq!(db.last_timestamp(1), Some(20));
    assert_eq!(db.metrics().corruptions.load(Ordering::Relaxed), 0);
}

#[test]
fn the_lock_file_keeps_a_second_agent_out() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    assert!(matches!(
        Db::open(dir.path(), Options::default()),
        Err(Error::Locked(_))
    ));
    let no_lock = Options {
        no_lockfile: true,
        ..Options::default()
    };
    let unlocked = Db::open(dir.path(), no_lock).unwrap();
    assert_eq!(unlocked.metrics().clean_start.load(Ordering::Relaxed), -1);
    drop(unlocked);
    assert_eq!(db.metrics().clean_start.load(Ordering::Relaxed), 1);
    db.close().unwrap();
    let mut app = db.appender();
    assert!(app.append(0, &labels("a"), 1, 0.0).is_err(), "closed");
    drop(open(dir.path()));
}

/// `prometheus_agent_clean_start` is 0 when a lock file from a run that did not close
/// (a crash) is taken over, as Go's DirLocker reports it.
#[test]
fn a_left_over_lock_file_is_no_clean_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lock"), b"").unwrap();
    let db = open(dir.path());
    assert_eq!(db.metrics().clean_start.load(Ordering::Relaxed), 0);
    let mut text = String::new();
    db.write_metrics(&mut text);
    assert!(
        text.contains("\nprometheus_agent_clean_start 0\n"),
        "{text}"
    );
    db.close().unwrap();
    assert!(!dir.path().join("lock").exists(), "released");
    assert_eq!(
        open(dir.path())
            .metrics()
            .clean_start
            .load(Ordering::Relaxed),
        1
    );
}

#[test]
fn truncate_collects_idle_series_and_checkpoints_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let wal = db.wal_dir().to_path_buf();
    append(&db, &[("idle", 10), ("busy", 10)]);
    // Each truncation starts a new segment; a checkpoint needs at least four.
    for (k, mint) in [(1, 50), (2, 150), (3, 250)] {
        append(&db, &[("busy", k * 100)]);
        db.truncate(mint).unwrap();
        assert!(checkpoint::last_checkpoint(&wal).unwrap().is_none());
    }
    assert_eq!(db.num_series(), 1, "idle was collected");
    assert_eq!(db.series_ref(&labels("idle")), None);
    assert_eq!(db.metrics().deleted_series.load(Ordering::Relaxed), 1);
    assert_eq!(wlog::segment_range(&wal).unwrap(), Some((0, 3)));

    append(&db, &[("busy", 400)]);
    db.truncate(350).unwrap();
    // Segments 0..=1 went into checkpoint.00000001.
    let (idx, _) = checkpoint::last_checkpoint(&wal).unwrap().unwrap();
    assert_eq!(idx, 1);
    assert_eq!(wlog::segment_range(&wal).unwrap(), Some((2, 4)));
    assert_eq!(db.metrics().deleted_series.load(Ordering::Relaxed), 0);
    assert_eq!(db.metrics().checkpoint_creations.load(Ordering::Relaxed), 1);
    assert_eq!(db.metrics().truncations.load(Ordering::Relaxed), 1);

    let (series, samples) = wal_contents(&wal);
    // The idle series' record was dropped, the busy one's kept; old samples are gone.
    assert_eq!(series, [(2, labels("busy"))]);
    assert!(
        samples.iter().all(|&(r, t)| r == 2 && t >= 300),
        "{samples:?}"
    );
    assert!(samples.contains(&(2, 400)));

    db.close().unwrap();
    let db = open(dir.path());
    assert_eq!(db.num_series(), 1);
    assert_eq!(db.last_timestamp(2), Some(400));
    // A new series does not reuse a collected reference.
    assert_eq!(append(&db, &[("new", 500)]), [3]);
}

#[test]
fn truncation_time_follows_remote_write_within_bounds() {
    let opts = Options::default().validated();
    let now = 10 * 3600 * 1000;
    // Remote write sent up to an hour ago: keep five more minutes.
    let sent = now - 3600 * 1000;
    assert_eq!(
        truncation_time(&opts, sent, now),
        sent - DEFAULT_MIN_WAL_TIME
    );
    // Remote write is far behind: no more than four hours are kept.
    assert_eq!(truncation_time(&opts, 0, now), now - DEFAULT_MAX_WAL_TIME);
    // Nothing sent yet, or no queue at all (Prometheus reports 0).
    assert_eq!(truncation_time(&opts, 0, 0), 0);
}

#[test]
fn options_are_validated_as_in_go() {
    let o = Options {
        truncate_frequency: Duration::ZERO,
        min_wal_time: 0,
        max_wal_time: 0,
        wal_segment_size: 0,
        ..Options::default()
    }
    .validated();
    assert_eq!(o, Options::default());
    let o = Options {
        min_wal_time: 10 * 3600 * 1000,
        ..Options::default()
    }
    .validated();
    assert_eq!(o.max_wal_time, 10 * 3600 * 1000);
    let o = Options {
        truncate_frequency: Duration::from_secs(6 * 3600),
        ..Options::default()
    }
    .validated();
    assert_eq!(o.max_wal_time, 6 * 3600 * 1000);
}

#[test]
fn the_truncator_thread_stops_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let t = db.spawn_truncator(Box::new(|| 0), Box::new(|_| {}));
    t.stop();
    db.close().unwrap();
}

#[test]
fn concurrent_appenders_share_series_and_replay_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(open(dir.path()));
    let threads: Vec<_> = (0..4)
        .map(|w| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut accepted = 0;
                for round in 0..50 {
                    let mut app = db.appender();
                    // Every worker appends to the same 20 series, each at its own timestamps;
                    // whatever another worker committed newer is out of order.
                    for k in 0..20 {
                        let t = round * 10 + w;
                        match app.append(0, &labels(&format!("s{k}")), t, 1.0) {
                            Ok(_) => accepted += 1,
                            Err(storage::Error::OutOfOrderSample) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                    app.commit().unwrap();
                }
                accepted
            })
        })
        .collect();
    let accepted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(
        db.num_series(),
        20,
        "one series per label set, whoever created it"
    );
    let (series, samples) = wal_contents(db.wal_dir());
    let refs: std::collections::HashMap<u64, &Labels> =
        series.iter().map(|(r, l)| (*r, l)).collect();
    assert_eq!(refs.len(), 20, "one series per label set");
    assert!(
        series.iter().all(|(r, l)| refs[r] == l),
        "a series record repeated by another appender names the same labels"
    );
    assert_eq!(
        samples_before_their_series(db.wal_dir()),
        0,
        "no sample is logged before its series record"
    );
    assert_eq!(samples.len(), accepted);
    assert!(
        accepted >= 50 * 20,
        "at least one worker's samples per round"
    );
    let newest: Vec<Option<i64>> = (1..=20).map(|r| db.last_timestamp(r)).collect();
    db.close().unwrap();
    drop(db);
    let db = open(dir.path());
    assert_eq!(db.num_series(), 20);
    let replayed: Vec<Option<i64>> = (1..=20).map(|r| db.last_timestamp(r)).collect();
    assert_eq!(replayed, newest);
}

#[test]
fn exemplars_are_logged_for_remote_write_without_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let ex = |id: &str, v: f64| storage::Exemplar {
        labels: Labels::from_pairs([("trace_id", id), ("span_id", "")]),
        value: v,
        ts: 5,
        has_ts: true,
    };
    let mut app = db.appender();
    let r = app.append(0, &labels("a"), 10, 1.0).unwrap();
    assert_eq!(
        app.append_exemplar(r, &labels("a"), &ex("x", 0.5)).unwrap(),
        r
    );
    // The newest exemplar of the series again is dropped.
    assert_eq!(
        app.append_exemplar(r, &labels("a"), &ex("x", 0.5)).unwrap(),
        0
    );
    assert!(
        app.append_exemplar(99, &labels("a"), &ex("y", 1.0))
            .is_err()
    );
    let long = storage::Exemplar {
        labels: Labels::from_pairs([("trace_id", "z".repeat(200))]),
        ..ex("", 1.0)
    };
    assert!(matches!(
        app.append_exemplar(r, &labels("a"), &long),
        Err(storage::Error::ExemplarLabelLength)
    ));
    app.commit().unwrap();
    let mut exemplars = Vec::new();
    let mut r2 = Reader::new(SegmentReader::open(db.wal_dir(), None, None).unwrap());
    while let Some(rec) = r2.next_record().unwrap() {
        if RecordType::of(rec) == RecordType::Exemplars {
            record::decode_exemplars(rec, &mut exemplars).unwrap();
        }
    }
    assert_eq!(
        exemplars,
        [record::RefExemplar {
            series_ref: r,
            t: 5,
            v: 0.5,
            labels: Labels::from_pairs([("trace_id", "x")]),
        }]
    );
    assert_eq!(db.metrics().exemplars_appended.load(Ordering::Relaxed), 1);
    let mut text = String::new();
    db.write_metrics(&mut text);
    assert!(
        text.contains("prometheus_agent_exemplars_appended_total 1\n"),
        "{text}"
    );
    // A replay skips them (remote write reads them from the WAL).
    drop(db);
    let db = open(dir.path());
    assert_eq!(db.num_series(), 1);
}

#[test]
fn histograms_are_logged_as_prometheus_histogram_records_and_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let h = model::Histogram {
        count: 3,
        sum: 1.5,
        schema: 0,
        positive_spans: vec![model::Span {
            offset: 0,
            length: 1,
        }],
        positive_buckets: vec![3],
        ..model::Histogram::default()
    };
    let custom = model::Histogram {
        schema: model::histogram::CUSTOM_BUCKETS_SCHEMA,
        custom_values: vec![1.0],
        ..h.clone()
    };
    {
        let db = open(dir.path());
        let mut app = db.appender();
        let r = app
            .append_histogram(0, &labels("h"), 10, Some(&h), None)
            .unwrap();
        app.append_histogram(r, &labels("h"), 20, None, Some(&h.to_float()))
            .unwrap();
        app.append_histogram(0, &labels("nhcb"), 20, Some(&custom), None)
            .unwrap();
        assert!(
            app.append_histogram(r, &labels("h"), 30, None, None)
                .is_err()
        );
        app.commit().unwrap();
        let mut app = db.appender();
        assert!(matches!(
            app.append_histogram(r, &labels("h"), 20, Some(&h), None),
            Err(storage::Error::OutOfOrderSample)
        ));
        // Histograms count under their own type; the WAL's own families are there too.
        let mut text = String::new();
        db.write_metrics(&mut text);
        assert!(
            text.contains("prometheus_agent_samples_appended_total{type=\"histogram\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("prometheus_agent_samples_appended_total{type=\"float\"} 0\n"));
        let flushes = text
            .lines()
            .find_map(|l| l.strip_prefix("prometheus_tsdb_wal_page_flushes_total "))
            .and_then(|v| v.parse::<f64>().ok());
        assert!(flushes.is_some_and(|n| n >= 1.0), "{text}");
        db.close().unwrap();
    }
    let mut types = Vec::new();
    let mut r = Reader::new(SegmentReader::open(&dir.path().join("wal"), None, None).unwrap());
    while let Some(rec) = r.next_record().unwrap() {
        types.push(rec[0]);
    }
    assert_eq!(types, [1, 7, 8, 9]);
    // The newest timestamps come back from the histogram records.
    let db = open(dir.path());
    let mut app = db.appender();
    assert!(matches!(
        app.append_histogram(0, &labels("h"), 20, Some(&h), None),
        Err(storage::Error::OutOfOrderSample)
    ));
}
