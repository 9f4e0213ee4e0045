//! Tests of the WAL writer, reader and repair.

use super::reader::{Reader, SegmentReader, read_all};
use super::*;
use proptest::prelude::*;

fn opts(pages: usize, compression: Compression) -> WalOptions {
    WalOptions {
        segment_size: pages * PAGE_SIZE,
        compression,
        sync: SyncPolicy::OnSegmentClose,
    }
}

fn read_dir_records(dir: &Path) -> (Vec<Vec<u8>>, Option<CorruptionError>) {
    let mut out = Vec::new();
    for k in list_segments(dir).expect("list") {
        let mut r = Reader::new(SegmentReader::open(dir, Some(k), Some(k)).expect("open"));
        loop {
            match r.next_record() {
                Ok(Some(rec)) => out.push(rec.to_vec()),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fn record(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| ((i * 31 + j * 7) % 251) as u8).collect()
}

#[test]
fn records_round_trip_across_pages_with_every_compression() {
    for c in [Compression::None, Compression::Snappy, Compression::Zstd] {
        let dir = tempfile::tempdir().expect("tempdir");
        let sizes = [
            0,
            1,
            7,
            100,
            PAGE_SIZE - 7,
            PAGE_SIZE,
            3 * PAGE_SIZE + 5,
            20,
            0,
        ];
        let recs: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| record(i, n))
            .collect();
        {
            let mut w = Wal::open(dir.path(), opts(16, c)).expect("open");
            for r in &recs {
                w.log(&[r]).expect("log");
            }
            w.close().expect("close");
        }
        let (got, err) = read_dir_records(dir.path());
        assert_eq!(err, None, "{c:?}");
        assert_eq!(got, recs, "{c:?}");
    }
}

#[test]
fn reading_while_the_page_is_partly_written_sees_committed_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut w = Wal::open(dir.path(), opts(4, Compression::None)).expect("open");
    w.log(&[b"one", b"two"]).expect("log");
    // Not closed: the page is partly written, as after a SIGKILL.
    let (got, err) = read_dir_records(dir.path());
    assert_eq!(err, None);
    assert_eq!(got, vec![b"one".to_vec(), b"two".to_vec()]);
    drop(w);
}

#[test]
fn records_never_cross_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recs: Vec<Vec<u8>> = (0..60).map(|i| record(i, 10_000 + i * 37)).collect();
    {
        let mut w = Wal::open(dir.path(), opts(3, Compression::None)).expect("open");
        for r in &recs {
            w.log(&[r]).expect("log");
        }
        w.close().expect("close");
    }
    let segs = list_segments(dir.path()).expect("list");
    assert!(segs.len() > 5, "{segs:?}");
    // Each segment on its own holds whole records only.
    let mut all = Vec::new();
    for k in segs {
        let path = segment_name(dir.path(), k);
        let data = fs::read(&path).expect("read");
        assert!(data.len() <= 3 * PAGE_SIZE);
        let (got, err) = read_all(&data);
        assert_eq!(err, None, "segment {k}");
        all.extend(got);
    }
    assert_eq!(all, recs);
}

#[test]
fn reopening_starts_a_new_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..3 {
        let mut w = Wal::open(dir.path(), opts(4, Compression::Snappy)).expect("open");
        assert_eq!(w.current_segment(), i);
        w.log(&[format!("rec{i}").as_bytes()]).expect("log");
    }
    let (got, err) = read_dir_records(dir.path());
    assert_eq!(err, None);
    assert_eq!(got.len(), 3);
}

#[test]
fn oversized_record_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut w = Wal::open(dir.path(), opts(1, Compression::None)).expect("open");
    let big = vec![1u8; 2 * PAGE_SIZE];
    assert!(w.log(&[&big]).is_err());
}

#[test]
fn truncate_deletes_older_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut w = Wal::open(dir.path(), opts(4, Compression::None)).expect("open");
    for _ in 0..4 {
        w.log(&[b"x"]).expect("log");
        w.next_segment().expect("next");
    }
    w.truncate(3).expect("truncate");
    assert_eq!(list_segments(dir.path()).expect("list"), vec![3, 4]);
}

/// Writes records, damages the last segment with `damage`, and checks that reading reports a
/// corruption or a prefix, that repair leaves a readable prefix, and that writing continues.
fn damage_and_repair(damage: impl Fn(&mut Vec<u8>)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let recs: Vec<Vec<u8>> = (0..40).map(|i| record(i, 50 + i * 400)).collect();
    {
        let mut w = Wal::open(dir.path(), opts(64, Compression::Snappy)).expect("open");
        for r in &recs {
            w.log(&[r]).expect("log");
        }
    }
    let path = segment_name(dir.path(), 0);
    let mut data = fs::read(&path).expect("read");
    damage(&mut data);
    fs::write(&path, &data).expect("write");

    let mut w = Wal::open(dir.path(), opts(64, Compression::Snappy)).expect("reopen");
    let (got, err) = read_dir_records(dir.path());
    assert!(got.len() <= recs.len());
    assert_eq!(
        got[..],
        recs[..got.len()],
        "records before the damage are intact"
    );
    if let Some(err) = err {
        w.repair(&err).expect("repair");
        let (again, err2) = read_dir_records(dir.path());
        assert_eq!(err2, None, "repaired WAL reads cleanly");
        assert!(again.len() <= got.len());
        assert_eq!(again[..], recs[..again.len()]);
    }
    w.log(&[b"after repair"]).expect("log after repair");
    w.close().expect("close");
    let (last, err3) = read_dir_records(dir.path());
    assert_eq!(err3, None);
    assert_eq!(last.last().map(Vec::as_slice), Some(&b"after repair"[..]));
}

#[test]
fn truncated_segment_is_repaired_at_the_damage() {
    for cut in [1, 7, 100, 5000, 40_000, 100_000] {
        damage_and_repair(|d| {
            let n = d.len().saturating_sub(cut);
            d.truncate(n);
        });
    }
}

#[test]
fn bit_flips_are_detected_and_repaired() {
    for pos in [0, 3, 10, 1000, 33_000, 70_000, 150_000] {
        damage_and_repair(|d| {
            if pos < d.len() {
                d[pos] ^= 0x40;
            }
        });
    }
}

#[test]
fn repair_keeps_records_of_earlier_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut w = Wal::open(dir.path(), opts(4, Compression::None)).expect("open");
        w.log(&[b"a"]).expect("log");
        w.next_segment().expect("next");
        w.log(&[b"b", b"c"]).expect("log");
    }
    let path = segment_name(dir.path(), 1);
    let mut data = fs::read(&path).expect("read");
    // Damage the CRC of the second record ("c").
    data[8 + 3] ^= 1;
    fs::write(&path, &data).expect("write");
    let mut w = Wal::open(dir.path(), opts(4, Compression::None)).expect("reopen");
    let (got, err) = read_dir_records(dir.path());
    assert_eq!(got, vec![b"a".to_vec(), b"b".to_vec()]);
    let err = err.expect("corruption");
    assert_eq!(err.segment, Some(1));
    w.repair(&err).expect("repair");
    assert_eq!(w.current_segment(), 2);
    let (got, err) = read_dir_records(dir.path());
    assert_eq!(err, None);
    assert_eq!(got, vec![b"a".to_vec(), b"b".to_vec()]);
}

fn compression() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        Just(Compression::Snappy),
        Just(Compression::Zstd)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn arbitrary_records_round_trip(
        recs in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..200),
                proptest::collection::vec(any::<u8>(), 0..70_000),
                proptest::collection::vec(0u8..4, 0..70_000),
            ],
            0..12,
        ),
        batch in 1usize..4,
        c in compression(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut w = Wal::open(dir.path(), opts(4, c)).expect("open");
            for chunk in recs.chunks(batch) {
                let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
                w.log(&refs).expect("log");
            }
            w.close().expect("close");
        }
        let (got, err) = read_dir_records(dir.path());
        prop_assert_eq!(err, None);
        prop_assert_eq!(got, recs);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40_000)) {
        let _ = read_all(&data);
    }
}
