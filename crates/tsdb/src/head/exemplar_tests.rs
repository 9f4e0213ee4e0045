//! Tests of the head's exemplars: appends, commit, WAL replay and checkpoints.

use super::*;
use model::{MatchType, Matcher};

fn series(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "req_total".to_string()), ("i", i.to_string())])
}

fn ex(trace: &str, v: f64, ts: i64) -> storage::Exemplar {
    storage::Exemplar {
        labels: Labels::from_pairs([("trace_id", trace)]),
        value: v,
        ts,
        has_ts: true,
    }
}

fn with_exemplars(n: i64) -> HeadOptions {
    HeadOptions {
        max_exemplars: n,
        wal: Some(WalOptions {
            segment_size: crate::wlog::PAGE_SIZE,
            compression: crate::wlog::Compression::None,
            ..WalOptions::default()
        }),
        ..HeadOptions::default()
    }
}

/// (series index label, exemplar trace id, value, ts) of every stored exemplar.
fn stored(head: &Head) -> Vec<(String, String, f64, i64)> {
    let all = vec![Matcher::new(MatchType::Equal, "__name__", "req_total").expect("matcher")];
    head.exemplars()
        .select(i64::MIN, i64::MAX, &[all])
        .into_iter()
        .flat_map(|r| {
            let i = r.series_labels.get("i").unwrap_or("").to_owned();
            r.exemplars.into_iter().map(move |e| {
                let trace = e.labels.get("trace_id").unwrap_or("").to_owned();
                (i.clone(), trace, e.value, e.ts)
            })
        })
        .collect()
}

#[test]
fn exemplars_become_visible_at_commit_and_come_back_from_the_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(dir.path(), with_exemplars(10), i64::MIN).expect("open");
    let mut app = head.appender();
    let r = app.append(0, &series(1), 1000, 1.0).expect("append");
    assert_eq!(
        app.append_exemplar(r, &series(1), &ex("a", 0.5, 900)).ok(),
        Some(r)
    );
    // Found by labels when the ref is unknown.
    app.append(0, &series(2), 1000, 1.0).expect("append");
    let r2 = app
        .append_exemplar(0, &series(2), &ex("b", 0.7, 950))
        .expect("by labels");
    assert_ne!(r2, 0);
    assert!(stored(&head).is_empty(), "not visible before commit");
    app.commit().expect("commit");
    assert_eq!(
        stored(&head),
        [
            ("1".into(), "a".into(), 0.5, 900),
            ("2".into(), "b".into(), 0.7, 950)
        ]
    );
    let mut app = head.appender();
    let err = app.append_exemplar(0, &series(9), &ex("c", 1.0, 1000));
    assert!(
        err.as_ref()
            .is_err_and(|e| e.to_string().contains("unknown HeadSeriesRef")),
        "{err:?}"
    );
    assert!(matches!(
        app.append_exemplar(r, &series(1), &ex("a", 0.1, 800)),
        Err(storage::Error::OutOfOrderExemplar)
    ));
    // The newest again is dropped quietly; empty labels are dropped.
    assert_eq!(
        app.append_exemplar(r, &series(1), &ex("a", 0.5, 900)).ok(),
        Some(0)
    );
    let mut e = ex("d", 2.0, 2000);
    e.labels = Labels::from_pairs([("trace_id", "d"), ("span_id", "")]);
    app.append_exemplar(r, &series(1), &e).expect("append");
    app.rollback();
    assert_eq!(stored(&head).len(), 2, "rolled back");
    let mut app = head.appender();
    app.append_exemplar(r, &series(1), &e).expect("append");
    app.commit().expect("exemplars alone are committed too");
    head.close().expect("close");
    drop(head);

    let head = Head::open(dir.path(), with_exemplars(10), i64::MIN).expect("reopen");
    assert_eq!(
        stored(&head),
        [
            ("1".into(), "a".into(), 0.5, 900),
            ("1".into(), "d".into(), 2.0, 2000),
            ("2".into(), "b".into(), 0.7, 950)
        ]
    );
    let got = head.exemplars().select(
        1000,
        3000,
        &[vec![
            Matcher::new(MatchType::Equal, "i", "1").expect("matcher"),
        ]],
    );
    assert_eq!(
        got[0].exemplars[0].labels,
        Labels::from_pairs([("trace_id", "d")])
    );
    assert_eq!(head.replay_stats().exemplars, 3);
    head.close().expect("close");
    drop(head);

    // With the storage off, the records are read and dropped, and appends are no-ops.
    let head = Head::open(dir.path(), with_exemplars(0), i64::MIN).expect("reopen");
    assert!(stored(&head).is_empty());
    assert_eq!(head.replay_stats().exemplars, 3);
    let mut app = head.appender();
    assert_eq!(
        app.append_exemplar(r, &series(1), &ex("z", 9.0, 9000)).ok(),
        Some(0)
    );
    app.commit().expect("commit");
    head.exemplars().resize(5);
    assert!(stored(&head).is_empty(), "nothing was kept while off");
}

#[test]
fn an_exemplar_of_a_rejected_sample_still_logs_its_series_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(dir.path(), with_exemplars(10), i64::MIN).expect("open");
    let mut app = head.appender();
    app.append(0, &series(1), 10_000_000, 1.0).expect("append");
    app.commit().expect("commit");
    // A series that exists (its appender rolled back) but was never logged, whose next
    // sample is rejected: its exemplar must still find its series record in the WAL.
    let mut app = head.appender();
    let r = app.append(0, &series(2), 10_000_000, 1.0).expect("append");
    app.rollback();
    let mut app = head.appender();
    assert!(matches!(
        app.append(r, &series(2), 1000, 1.0),
        Err(storage::Error::OutOfBounds)
    ));
    app.append_exemplar(r, &series(2), &ex("x", 1.0, 1000))
        .expect("exemplar of a series whose record is not logged yet");
    app.commit().expect("commit");
    head.close().expect("close");
    drop(head);
    let head = Head::open(dir.path(), with_exemplars(10), i64::MIN).expect("reopen");
    assert_eq!(stored(&head), [("2".into(), "x".into(), 1.0, 1000)]);
    assert_eq!(head.replay_stats().unknown_series_exemplars, 0);
}

#[test]
fn checkpoints_keep_exemplars_from_the_truncation_time_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = with_exemplars(10_000);
    let head = Head::open(dir.path(), o.clone(), i64::MIN).expect("open");
    for batch in 0..200i64 {
        let mut app = head.appender();
        let t = batch * 60_000;
        for i in 0..20 {
            let r = app.append(0, &series(i), t, batch as f64).expect("append");
            app.append_exemplar(r, &series(i), &ex(&format!("t{batch}"), 1.0, t))
                .expect("exemplar");
        }
        app.commit().expect("commit");
    }
    head.truncate(150 * 60_000).expect("truncate");
    let wal = dir.path().join("wal");
    assert!(
        crate::checkpoint::last_checkpoint(&wal)
            .expect("list")
            .is_some()
    );
    head.close().expect("close");
    drop(head);
    let head = Head::open(dir.path(), o, 150 * 60_000).expect("reopen");
    let got: Vec<_> = stored(&head).into_iter().filter(|e| e.0 == "1").collect();
    assert_eq!(got.len(), 50, "{got:?}");
    assert_eq!(got[0].3, 150 * 60_000);
    assert_eq!(got[49].3, 199 * 60_000);
}
