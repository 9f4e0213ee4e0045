//! Tests of chunk snapshots: writing, loading, and falling back to the WAL.

use super::*;
use std::sync::Arc;

use model::{FloatHistogram, Histogram, MatchType, Matcher, Span};
use storage::{Querier, ValueType};

use crate::chunkenc::XorChunk;
use crate::head::HeadOptions;
use crate::record::RefTombstone;

fn opts() -> HeadOptions {
    HeadOptions {
        memory_snapshot_on_shutdown: true,
        max_exemplars: 100,
        wal: Some(WalOptions {
            segment_size: 4 * wlog::PAGE_SIZE,
            ..WalOptions::default()
        }),
        ..HeadOptions::default()
    }
}

fn series(name: &str, i: usize) -> Labels {
    Labels::from_pairs([("__name__", name.to_string()), ("i", i.to_string())])
}

fn all() -> Vec<Matcher> {
    vec![Matcher::new(MatchType::NotEqual, "__name__", "").expect("matcher")]
}

#[derive(Debug, Clone, PartialEq)]
enum V {
    F(f64),
    H(Histogram),
    Fh(FloatHistogram),
}

/// Every sample of the head by series, histograms with their counter-reset hints cleared
/// (the hint of a chunk's first histogram depends on how the chunk was cut).
fn dump(head: &Arc<Head>) -> Vec<(Labels, Vec<(i64, V)>)> {
    let q = head.querier(i64::MIN, i64::MAX);
    let mut set = q.select(true, None, &all());
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let s = s.expect("series");
        let mut it = s.iterator();
        let mut v = Vec::new();
        loop {
            match it.next() {
                ValueType::Float => {
                    let (t, x) = it.at();
                    v.push((t, V::F(x)));
                }
                ValueType::Histogram => {
                    let (t, mut h) = it.at_histogram();
                    h.counter_reset_hint = model::CounterResetHint::Unknown;
                    v.push((t, V::H(h)));
                }
                ValueType::FloatHistogram => {
                    let (t, mut h) = it.at_float_histogram();
                    h.counter_reset_hint = model::CounterResetHint::Unknown;
                    v.push((t, V::Fh(h)));
                }
                _ => break,
            }
        }
        assert!(it.err().is_none());
        out.push((s.labels().clone(), v));
    }
    out
}

fn hist(k: i64) -> Histogram {
    Histogram {
        schema: 1,
        zero_threshold: 0.001,
        zero_count: k as u64,
        count: 3 * k as u64,
        sum: 1.5 * k as f64,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![k, 0],
        ..Histogram::default()
    }
}

fn nhcb(k: i64) -> FloatHistogram {
    FloatHistogram {
        schema: model::histogram::CUSTOM_BUCKETS_SCHEMA,
        count: 2.0 * k as f64,
        sum: 0.5 * k as f64,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![k as f64, k as f64],
        custom_values: vec![0.1, 1.0],
        ..FloatHistogram::default()
    }
}

/// Floats for series a/0..4 (the first crosses chunk boundaries), integer histograms for
/// h/0 and custom-bucket float histograms for n/0, at steps `from..to` (15 s apart).
fn fill(head: &Arc<Head>, from: i64, to: i64) {
    for k in from..to {
        let t = k * 15_000;
        let mut app = head.appender();
        for i in 0..4 {
            app.append(0, &series("a", i), t, (k * (i as i64 + 1)) as f64)
                .expect("append");
        }
        app.append_histogram(0, &series("h", 0), t, Some(&hist(k)), None)
            .expect("histogram");
        app.append_histogram(0, &series("n", 0), t, None, Some(&nhcb(k)))
            .expect("float histogram");
        app.commit().expect("commit");
    }
}

fn snapshots(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.starts_with(CHUNK_SNAPSHOT_PREFIX))
        .collect();
    v.sort();
    v
}

#[test]
fn names_parse_as_prometheus_writes_them() {
    assert_eq!(
        chunk_snapshot_name(12, 32768),
        "chunk_snapshot.000012.0000032768"
    );
    assert_eq!(
        parse_name("chunk_snapshot.000012.0000032768"),
        Some((12, 32768))
    );
    assert_eq!(parse_name("chunk_snapshot.000012.0000032768.tmp"), None);
    assert_eq!(parse_name("chunk_snapshot.x.1"), None);
    assert_eq!(parse_name("checkpoint.00000001"), None);
}

#[test]
fn series_records_round_trip_floats_and_histograms() {
    let mut x = XorChunk::new();
    x.append(1000, 1.5).expect("append");
    x.append(2000, 2.5).expect("append");
    let h = HeadChunk {
        chunk: Chunk::Xor(x),
        min_time: 1000,
        max_time: 2000,
    };
    let mut rec = Vec::new();
    encode_series_record(7, &series("a", 1), Some(&h), 2.5f64.to_bits(), &mut rec);
    let s = decode_series_record(&rec).expect("decode");
    assert_eq!((s.series_ref, &s.labels), (7, &series("a", 1)));
    let (got, last) = s.head.expect("a head chunk");
    assert_eq!((got.min_time, got.max_time), (1000, 2000));
    assert_eq!(got.chunk.bytes(), h.chunk.bytes());
    assert_eq!(f64::from_bits(last), 2.5);
    // Type, ref, labels (count, then length-prefixed names and values), the zero word,
    // flag, times, encoding, length-prefixed chunk bytes, then 64 bytes of last value.
    let labels_len = 1 + (1 + 8) + (1 + 1) + (1 + 1) + (1 + 1);
    let want = 1 + 8 + labels_len + 8 + 1 + 16 + 1 + 1 + h.chunk.bytes().len() + 64;
    assert_eq!(rec.len(), want);
    assert_eq!(&rec[rec.len() - 16..rec.len() - 8], &[0; 8]);
    assert_eq!(&rec[rec.len() - 8..], &2.5f64.to_bits().to_be_bytes());

    let mut c = crate::chunkenc::HistogramChunk::new();
    c.append(None, 1000, &hist(3)).expect("append");
    let h = HeadChunk {
        chunk: Chunk::Histogram(c),
        min_time: 1000,
        max_time: 1000,
    };
    rec.clear();
    encode_series_record(9, &series("h", 0), Some(&h), 0, &mut rec);
    let s = decode_series_record(&rec).expect("decode");
    assert_eq!(s.head.expect("chunk").0.chunk.bytes(), h.chunk.bytes());
    // A damaged histogram tail is an error, not a silent success.
    rec.truncate(rec.len() - 3);
    assert!(decode_series_record(&rec).is_err());

    rec.clear();
    encode_series_record(3, &series("e", 0), None, 0, &mut rec);
    let s = decode_series_record(&rec).expect("decode");
    assert!(s.head.is_none());
}

#[test]
fn close_writes_a_snapshot_that_open_loads_instead_of_the_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
    fill(&head, 0, 300);
    let mut app = head.appender();
    app.append_exemplar(
        0,
        &series("a", 1),
        &storage::Exemplar {
            labels: Labels::from_pairs([("trace_id", "abc")]),
            value: 2.0,
            ts: 299 * 15_000,
            has_ts: true,
        },
    )
    .expect("exemplar");
    app.commit().expect("commit");
    let r = head.lookup(&series("a", 2)).expect("series");
    head.add_tombstones(&[RefTombstone {
        series_ref: r,
        mint: 0,
        maxt: 150 * 15_000,
    }])
    .expect("tombstone");
    let before = dump(&head);
    let exemplars_before = exemplars(&head);
    let segment = head.wal.lock().as_ref().expect("wal").current_segment();
    head.close().expect("close");

    let names = snapshots(dir.path());
    assert_eq!(names.len(), 1, "{names:?}");
    let (k, off) = parse_name(&names[0]).expect("name");
    assert_eq!(k, segment);
    assert!(off > 0);
    // An older snapshot, as a crash between writing a snapshot and deleting the previous
    // one leaves, is deleted once the newer one is loaded.
    fs::create_dir(dir.path().join(chunk_snapshot_name(0, 1))).expect("mkdir");

    let head = Head::open(dir.path(), opts(), i64::MIN).expect("reopen");
    let st = head.replay_stats();
    assert_eq!(st.chunk_snapshot_error, None);
    assert_eq!(st.chunk_snapshot_series, 6);
    assert!(st.chunk_snapshot.is_some());
    assert_eq!(
        st.samples, 0,
        "nothing after the snapshot to replay: {st:?}"
    );
    assert_eq!(dump(&head), before);
    assert_eq!(exemplars(&head), exemplars_before);
    assert_eq!(head.tombstones_of(r), vec![(0, 150 * 15_000)]);
    assert_eq!((head.min_time(), head.max_time()), (0, 299 * 15_000));
    assert_eq!(snapshots(dir.path()), names);

    // Appends continue the series after the snapshot's chunks, and survive another cycle.
    fill(&head, 300, 320);
    let after = dump(&head);
    assert_eq!(after[0].1.len(), 320);
    head.close().expect("close");
    assert_eq!(
        snapshots(dir.path()).len(),
        1,
        "older snapshots are deleted"
    );
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("reopen");
    assert_eq!(dump(&head), after);
    head.close().expect("close");

    // Without the option the WAL alone has everything.
    let plain = HeadOptions {
        memory_snapshot_on_shutdown: false,
        ..opts()
    };
    let head = Head::open(dir.path(), plain, i64::MIN).expect("reopen");
    assert!(head.replay_stats().chunk_snapshot.is_none());
    assert_eq!(dump(&head), after);
}

fn exemplars(head: &Head) -> Vec<(Labels, Labels, f64, i64)> {
    let mut v = Vec::new();
    head.exemplars()
        .iterate(|s, e| v.push((s.clone(), e.labels.clone(), e.value, e.ts)));
    v
}

#[test]
fn close_waits_for_a_commit_under_way_before_the_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
    fill(&head, 0, 10);
    let mut app = head.appender();
    app.append(0, &series("late", 0), 10 * 15_000, 7.0)
        .expect("append");
    let (tx, rx) = std::sync::mpsc::channel();
    let committer = std::thread::spawn(move || {
        // Commits only once close has begun.
        rx.recv().expect("go");
        std::thread::sleep(std::time::Duration::from_millis(50));
        app.commit()
    });
    tx.send(()).expect("send");
    head.close().expect("close");
    committer
        .join()
        .expect("join")
        .expect("the commit went through");
    let want = dump(&head);
    assert_eq!(want.len(), 7);

    let head = Head::open(dir.path(), opts(), i64::MIN).expect("reopen");
    let st = head.replay_stats();
    assert!(st.chunk_snapshot.is_some());
    assert_eq!(st.samples, 0, "all in the snapshot: {st:?}");
    assert_eq!(dump(&head), want);
}

#[test]
fn the_wal_after_the_snapshot_is_replayed_from_its_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
    fill(&head, 0, 100);
    let stats = head.chunk_snapshot().expect("snapshot");
    assert_eq!(stats.total_series, 6);
    // More samples (and new series) after the snapshot, crossing chunk boundaries so that
    // the snapshot's open chunks were cut and memory-mapped in the meantime.
    fill(&head, 100, 260);
    let mut app = head.appender();
    app.append(0, &series("late", 0), 260 * 15_000, 1.0)
        .expect("append");
    app.commit().expect("commit");
    let want = dump(&head);
    head.mapper_flush_for_tests();
    // A crash: no close, so no new snapshot.
    drop(head.wal.lock().take());
    drop(head);

    let head = Head::open(dir.path(), opts(), i64::MIN).expect("reopen");
    let st = head.replay_stats();
    assert_eq!(st.chunk_snapshot_error, None);
    assert!(st.chunk_snapshot.is_some());
    assert_eq!(st.wal_corruption, None);
    // Only the samples logged after the snapshot were read from the WAL.
    assert_eq!(st.samples, 160 * 6 + 1);
    assert_eq!(dump(&head), want);
}

#[test]
fn a_corrupt_snapshot_falls_back_to_the_whole_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
    fill(&head, 0, 200);
    let want = dump(&head);
    head.close().expect("close");
    let name = snapshots(dir.path()).pop().expect("a snapshot");
    let seg = wlog::segment_name(&dir.path().join(&name), 0);
    let mut b = fs::read(&seg).expect("read");
    b[40] ^= 0xff;
    fs::write(&seg, b).expect("write");

    let head = Head::open(dir.path(), opts(), i64::MIN).expect("reopen");
    let st = head.replay_stats();
    let err = st.chunk_snapshot_error.expect("the snapshot failed");
    assert!(err.contains(&name), "{err}");
    assert!(st.chunk_snapshot.is_none());
    assert_eq!(st.samples, 200 * 6);
    assert_eq!(dump(&head), want);
    assert_eq!(head.num_series(), 6);
}

#[test]
fn an_unknown_record_type_falls_back_to_the_whole_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
    fill(&head, 0, 50);
    let want = dump(&head);
    head.close().expect("close");
    let name = snapshots(dir.path()).pop().expect("a snapshot");
    // A well-formed log whose last record is of a type Prometheus does not know.
    let mut w = Wal::open(&dir.path().join(&name), WalOptions::default()).expect("wal");
    w.log(&[&[9, 1, 2, 3]]).expect("log");
    w.close().expect("close");

    let head = Head::open(dir.path(), opts(), i64::MIN).expect("reopen");
    let err = head
        .replay_stats()
        .chunk_snapshot_error
        .expect("the snapshot failed");
    assert!(
        err.contains("unsupported snapshot record type 0b1001"),
        "{err}"
    );
    assert_eq!(dump(&head), want);
}

#[test]
fn a_snapshot_ahead_of_the_wal_is_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
    fill(&head, 0, 20);
    let want = dump(&head);
    head.close().expect("close");
    let stale = dir.path().join(chunk_snapshot_name(99, 0));
    fs::create_dir(&stale).expect("mkdir");
    fs::write(stale.join("00000000"), b"").expect("write");

    let head = Head::open(dir.path(), opts(), i64::MIN).expect("reopen");
    let st = head.replay_stats();
    assert_eq!(st.chunk_snapshot_error, None);
    let warning = st.chunk_snapshot_warning.expect("stale snapshot");
    assert!(warning.contains("behind chunk snapshot"), "{warning}");
    assert!(snapshots(dir.path()).is_empty());
    assert_eq!(dump(&head), want);
}

#[test]
fn nothing_is_written_when_the_wal_did_not_move() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
    fill(&head, 0, 5);
    let first = head.chunk_snapshot().expect("snapshot");
    assert_eq!(first.total_series, 6);
    let again = head.chunk_snapshot().expect("snapshot");
    assert_eq!(again, ChunkSnapshotStats::default());
    assert_eq!(snapshots(dir.path()).len(), 1);
    fill(&head, 5, 6);
    let next = head.chunk_snapshot().expect("snapshot");
    assert_ne!(next.dir, first.dir);
    assert_eq!(snapshots(dir.path()).len(), 1, "the older one is deleted");
    assert!(next.dir.is_dir());
}

#[test]
fn without_a_wal_no_snapshot_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = HeadOptions {
        wal: None,
        ..opts()
    };
    let head = Head::open(dir.path(), o, i64::MIN).expect("open");
    fill(&head, 0, 5);
    head.close().expect("close");
    assert!(snapshots(dir.path()).is_empty());
}

proptest::proptest! {
    #[test]
    fn damaged_records_never_panic(
        k in 0usize..4,
        at in 0usize..4096,
        byte in 0u8..=255,
        cut in 0usize..4096,
    ) {
        let mut rec = Vec::new();
        match k {
            0 => {
                let mut x = XorChunk::new();
                for i in 0..20 {
                    x.append(i * 1000, i as f64 * 0.5).expect("append");
                }
                let h = HeadChunk { chunk: Chunk::Xor(x), min_time: 0, max_time: 19_000 };
                encode_series_record(1, &series("a", 0), Some(&h), 0, &mut rec);
            }
            1 => {
                let mut c = crate::chunkenc::HistogramChunk::new();
                for i in 0..5 {
                    c.append(None, i * 1000, &hist(i + 1)).expect("append");
                }
                let h = HeadChunk { chunk: Chunk::Histogram(c), min_time: 0, max_time: 4000 };
                encode_series_record(2, &series("h", 0), Some(&h), 0, &mut rec);
            }
            2 => rec = encode_tombstones_record(&[(3, vec![(1, 5), (9, 12)])]),
            _ => encode_series_record(4, &series("e", 0), None, 0, &mut rec),
        }
        let i = at % rec.len();
        rec[i] = byte;
        rec.truncate(cut.max(1));
        if let Ok(SnapshotSeries { head: Some((h, _)), .. }) = decode_series_record(&rec) {
            // A damaged chunk that decodes is read to its end (or its error) without panic.
            let _ = h.chunk.num_samples();
            let mut it = h.chunk.iter();
            let mut n = 0;
            while n < 10_000 {
                match it.next() {
                    ValueType::Float => drop(it.at()),
                    ValueType::Histogram => drop(it.at_histogram()),
                    ValueType::FloatHistogram => drop(it.at_float_histogram()),
                    _ => break,
                }
                n += 1;
            }
        }
        let _ = decode_tombstones_record(&rec);
    }
}
