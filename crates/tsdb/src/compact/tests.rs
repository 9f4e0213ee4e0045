//! Tests of block writing and compaction.

use std::sync::Arc;

use model::{Labels, MatchType, Matcher};
use storage::{Querier, ValueType};

use super::*;
use crate::querier::BlockQuerier;

const H2: i64 = 2 * 3_600_000;

fn labels(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())])
}

fn write(dir: &Path, mint: i64, maxt: i64, step: i64) -> Ulid {
    let series = (0..3).map(|i| {
        let samples: Vec<(i64, f64)> = (mint..maxt)
            .step_by(step as usize)
            .map(|t| (t, (t / 1000 + i as i64) as f64))
            .collect();
        (labels(i), encode_chunks(&samples).unwrap())
    });
    BlockWriter::new(dir)
        .write(series, mint, maxt)
        .unwrap()
        .unwrap()
}

fn all_samples(block: Block) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let q = BlockQuerier::new(Arc::new(block), i64::MIN, i64::MAX);
    let ms = [Matcher::new(MatchType::RegexMatch, "__name__", ".+").unwrap()];
    let mut set = q.select(true, None, &ms);
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let s = s.unwrap();
        let mut it = s.iterator();
        let mut v = Vec::new();
        while it.next() == ValueType::Float {
            v.push(it.at());
        }
        out.push((s.labels().clone(), v));
    }
    out
}

#[test]
fn exponential_ranges_match_prometheus() {
    assert_eq!(exponential_block_ranges(H2, 3, 3), vec![H2, 3 * H2, 9 * H2]);
}

#[test]
fn write_trims_to_range_and_skips_empty_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let samples: Vec<(i64, f64)> = (0..10).map(|t| (t * 100, t as f64)).collect();
    let ulid = BlockWriter::new(dir.path())
        .write([(labels(0), encode_chunks(&samples).unwrap())], 200, 500)
        .unwrap()
        .unwrap();
    let block = Block::open(&dir.path().join(ulid.to_string())).unwrap();
    assert_eq!(block.meta().stats.num_samples, 3);
    assert_eq!(block.meta().compaction.level, 1);
    assert_eq!(block.meta().compaction.sources, vec![ulid]);
    assert_eq!(
        all_samples(block)[0].1,
        vec![(200, 2.0), (300, 3.0), (400, 4.0)]
    );
    let none = BlockWriter::new(dir.path())
        .write([(labels(0), encode_chunks(&samples).unwrap())], 5000, 6000)
        .unwrap();
    assert!(none.is_none());
}

#[test]
fn plans_and_compacts_a_full_range_with_correct_meta() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), 0, H2, 60_000);
    let b = write(dir.path(), H2, 2 * H2, 60_000);
    let c = write(dir.path(), 2 * H2, 3 * H2, 60_000);
    let d = write(dir.path(), 3 * H2, 4 * H2, 60_000);
    let before: Vec<_> = [a, b, c]
        .iter()
        .map(|u| all_samples(Block::open(&dir.path().join(u.to_string())).unwrap()))
        .collect();
    let comp = LeveledCompactor::new(exponential_block_ranges(H2, 3, 3)).unwrap();
    let plan = comp.plan(dir.path()).unwrap();
    let names: Vec<String> = plan
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    assert_eq!(names, vec![a.to_string(), b.to_string(), c.to_string()]);
    let written = comp.run(dir.path()).unwrap();
    assert_eq!(written.len(), 1);
    let block = Block::open(&dir.path().join(written[0].to_string())).unwrap();
    let meta = block.meta().clone();
    assert_eq!((meta.min_time, meta.max_time), (0, 3 * H2));
    assert_eq!(meta.compaction.level, 2);
    // Sources are sorted by ULID, as Prometheus's CompactBlockMetas sorts them; ULIDs made in
    // the same millisecond need not sort in creation order.
    let mut sources = vec![a, b, c];
    sources.sort();
    assert_eq!(meta.compaction.sources, sources);
    assert_eq!(
        meta.compaction
            .parents
            .iter()
            .map(|p| p.ulid)
            .collect::<Vec<_>>(),
        vec![a, b, c]
    );
    assert_eq!(meta.stats.num_series, 3);
    assert_eq!(meta.stats.num_samples, 3 * 3 * 120);
    // The merged block holds exactly the samples of its parents.
    let merged = all_samples(block);
    for (i, (l, s)) in merged.iter().enumerate() {
        let want: Vec<(i64, f64)> = before.iter().flat_map(|b| b[i].1.clone()).collect();
        assert_eq!(l, &before[0][i].0);
        assert_eq!(s, &want);
    }
    // The parents are gone; the newest block is kept.
    let left = block_dirs(dir.path()).unwrap();
    assert_eq!(left.len(), 2);
    assert!(dir.path().join(d.to_string()).exists());
}

#[test]
fn overlapping_blocks_are_merged_first() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), 0, H2, 60_000);
    let b = write(dir.path(), H2 / 2, H2 + H2 / 2, 30_000);
    let comp = LeveledCompactor::new(exponential_block_ranges(H2, 3, 3)).unwrap();
    assert_eq!(comp.plan(dir.path()).unwrap().len(), 2);
    let merged = comp
        .compact(dir.path(), &comp.plan(dir.path()).unwrap())
        .unwrap()
        .unwrap();
    let block = Block::open(&dir.path().join(merged.to_string())).unwrap();
    let mut sources = vec![a, b];
    sources.sort();
    assert_eq!(block.meta().compaction.sources, sources);
    let samples = all_samples(block);
    let ts: Vec<i64> = samples[0].1.iter().map(|s| s.0).collect();
    let mut want: Vec<i64> = (0..H2)
        .step_by(60_000)
        .chain((H2 / 2..H2 + H2 / 2).step_by(30_000))
        .collect();
    want.sort();
    want.dedup();
    assert_eq!(ts, want);
}

#[test]
fn compaction_applies_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), 0, H2, 60_000);
    let path = dir.path().join(a.to_string());
    let block = Block::open(&path).unwrap();
    let mut t = Tombstones::new();
    let ids = block.index().all_postings().unwrap();
    // Delete part of the first series and all of the second.
    t.add(
        ids[0],
        Interval {
            mint: 0,
            maxt: 599_999,
        },
    );
    t.add(
        ids[1],
        Interval {
            mint: i64::MIN,
            maxt: i64::MAX,
        },
    );
    t.write(&path).unwrap();
    let before = all_samples(Block::open(&path).unwrap());
    assert_eq!(before.len(), 2);
    let out = tempfile::tempdir().unwrap();
    let u = compact_blocks(out.path(), &[Block::open(&path).unwrap()])
        .unwrap()
        .unwrap();
    let block = Block::open(&out.path().join(u.to_string())).unwrap();
    assert!(block.tombstones().is_empty());
    assert_eq!(block.meta().stats.num_series, 2);
    assert_eq!(all_samples(block), before);
    assert_eq!(before[0].1[0].0, 600_000);
}

#[test]
fn uncached_io_writes_the_same_blocks() {
    // On the build's disk: a tmpfs may refuse O_DIRECT.
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
    let tmp = |what: &str| match target.is_dir() {
        true => tempfile::tempdir_in(&target).expect(what),
        false => tempfile::tempdir().expect(what),
    };
    let (cached, direct) = (tmp("cached dir"), tmp("direct dir"));
    // Enough series for several 8 MiB direct I/O buffers.
    let series = || {
        (0..4000).map(|i| {
            let samples: Vec<(i64, f64)> = (0..H2)
                .step_by(15_000)
                .map(|t| (t, ((t / 1000) as f64 * 1.37 + i as f64).sin()))
                .collect();
            (labels(i), encode_chunks(&samples).unwrap())
        })
    };
    let a = BlockWriter::new(cached.path())
        .write(series(), 0, H2)
        .unwrap()
        .unwrap();
    let b = BlockWriter::new(direct.path())
        .with_uncached_io(true)
        .write(series(), 0, H2)
        .unwrap()
        .unwrap();
    let (da, db) = (
        cached.path().join(a.to_string()),
        direct.path().join(b.to_string()),
    );
    for file in ["chunks/000001", "index"] {
        let (x, y) = (
            std::fs::read(da.join(file)).unwrap(),
            std::fs::read(db.join(file)).unwrap(),
        );
        assert!(
            x.len() > 8 << 20 || file == "index",
            "{file}: {} bytes",
            x.len()
        );
        assert!(x == y, "{file} differs");
    }
    let got = all_samples(Block::open(&db).unwrap());
    assert_eq!(got, all_samples(Block::open(&da).unwrap()));
    assert_eq!(got.len(), 4000);

    // Compacting with direct I/O as well.
    let c = LeveledCompactor::new(vec![H2, 3 * H2])
        .unwrap()
        .with_uncached_io(true);
    let out = tmp("compacted dir");
    let ulid = c
        .compact(out.path(), std::slice::from_ref(&db))
        .unwrap()
        .unwrap();
    let merged = out.path().join(ulid.to_string());
    assert_eq!(
        std::fs::read(merged.join("chunks/000001")).unwrap(),
        std::fs::read(da.join("chunks/000001")).unwrap()
    );
    assert_eq!(all_samples(Block::open(&merged).unwrap()), got);
}
