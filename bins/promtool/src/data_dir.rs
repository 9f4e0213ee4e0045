//! A data directory opened for reading only, as Go's `tsdb.DBReadOnly`: its persistent
//! blocks, plus the head replayed from a private copy of `wal/`, `chunks_head/` and `wbl/`
//! (so nothing in the directory is written, locked or repaired; the copy costs time and
//! temporary space in proportion to the WAL).
//!
//! It takes no lock, so a running Prometheus may write the directory meanwhile: the view
//! is then a best-effort snapshot (blocks compacted away while reading fail to read).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use model::{Matcher, Timestamp};
use storage::{LabelHints, Querier, Queryable, SelectHints, SeriesSet};
use tsdb::block::{Block, block_dirs};
use tsdb::head::{Head, HeadOptions};
use tsdb::querier::BlockQuerier;

/// The blocks (sorted by minimum time, as Go sorts them) and the head of a data directory.
pub(crate) struct ReadOnlyDb {
    blocks: Vec<Arc<Block>>,
    head: Option<Arc<Head>>,
    /// Holds the head's copied WAL until the view is dropped.
    _head_dir: Option<tempfile::TempDir>,
}

impl ReadOnlyDb {
    /// Opens the blocks of `dir`, without the head.
    pub(crate) fn open_blocks(dir: &Path) -> anyhow::Result<ReadOnlyDb> {
        // Go's wording (`tsdb.OpenDBReadOnly`).
        match std::fs::metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
                "opening the db dir: stat {}: no such file or directory",
                dir.display()
            ),
            Err(e) => anyhow::bail!("opening the db dir: stat {}: {e}", dir.display()),
            Ok(m) if !m.is_dir() => {
                anyhow::bail!("opening the db dir: {} is not a directory", dir.display())
            }
            Ok(_) => {}
        }
        let mut blocks = Vec::new();
        for d in block_dirs(dir)? {
            let b = Block::open(&d).with_context(|| format!("opening block {}", d.display()))?;
            blocks.push(Arc::new(b));
        }
        blocks.sort_by_key(|b| (b.meta().min_time, b.meta().ulid.to_string()));
        Ok(ReadOnlyDb {
            blocks,
            head: None,
            _head_dir: None,
        })
    }

    /// Opens the blocks and replays the head from a copy of `wal/`, `chunks_head/`, `wbl/`
    /// (samples before the end of the newest block are dropped, as Go's `head.Init`).
    pub(crate) fn open(dir: &Path) -> anyhow::Result<ReadOnlyDb> {
        let mut db = ReadOnlyDb::open_blocks(dir)?;
        let wal = dir.join("wal");
        if !wal.is_dir() {
            return Ok(db);
        }
        let tmp = tempfile::tempdir().context("creating a temporary directory for the WAL")?;
        copy_dir(&wal, &tmp.path().join("wal"))?;
        // Head chunks and the out-of-order samples' WBL, where present.
        for sub in ["chunks_head", "wbl"] {
            let from = dir.join(sub);
            if from.is_dir() {
                copy_dir(&from, &tmp.path().join(sub))?;
            }
        }
        let min_valid = db.blocks.last().map_or(i64::MIN, |b| b.meta().max_time);
        let head = Head::open(tmp.path(), HeadOptions::default(), min_valid)
            .with_context(|| format!("replaying the WAL of {}", dir.display()))?;
        db.head = Some(head);
        db._head_dir = Some(tmp);
        Ok(db)
    }

    /// The persistent blocks, oldest first.
    pub(crate) fn blocks(&self) -> &[Arc<Block>] {
        &self.blocks
    }
}

/// Copies the regular files of `from` (recursively) into `to`.
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for e in std::fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let e = e.with_context(|| format!("listing {}", from.display()))?;
        let src: PathBuf = e.path();
        let dst = to.join(e.file_name());
        let ty = e
            .file_type()
            .with_context(|| format!("reading {}", src.display()))?;
        if ty.is_dir() {
            copy_dir(&src, &dst)?;
        } else if ty.is_file() {
            std::fs::copy(&src, &dst).with_context(|| format!("copying {}", src.display()))?;
        }
    }
    Ok(())
}

impl Queryable for ReadOnlyDb {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> storage::Result<Box<dyn Querier>> {
        let mut queriers: Vec<Box<dyn Querier>> = Vec::new();
        for b in &self.blocks {
            if b.overlaps(mint, maxt) {
                queriers.push(Box::new(BlockQuerier::new(Arc::clone(b), mint, maxt)));
            }
        }
        if let Some(h) = &self.head
            && h.min_time() <= maxt
            && h.max_time() >= mint
        {
            queriers.push(Box::new(h.querier(mint, maxt)));
        }
        Ok(Box::new(MergeQuerier { queriers }))
    }
}

/// Blocks and head queried together; series with equal labels are merged.
struct MergeQuerier {
    queriers: Vec<Box<dyn Querier>>,
}

impl MergeQuerier {
    fn strings(
        &self,
        f: impl Fn(&dyn Querier) -> storage::Result<Vec<String>>,
        limit: usize,
    ) -> storage::Result<Vec<String>> {
        let mut all = Vec::new();
        for q in &self.queriers {
            all.extend(f(q.as_ref())?);
        }
        all.sort_unstable();
        all.dedup();
        if limit > 0 {
            all.truncate(limit);
        }
        Ok(all)
    }
}

impl Querier for MergeQuerier {
    fn select(
        &self,
        _sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet> {
        // Always sorted: merging needs it, and Go's merge querier sorts too.
        let sets = self
            .queriers
            .iter()
            .map(|q| q.select(true, hints, matchers))
            .collect();
        storage::merge_series_sets(sets)
    }

    fn label_values(
        &self,
        name: &str,
        hints: Option<&LabelHints>,
        matchers: &[Matcher],
    ) -> storage::Result<Vec<String>> {
        self.strings(
            |q| q.label_values(name, hints, matchers),
            hints.map_or(0, |h| h.limit),
        )
    }

    fn label_names(
        &self,
        hints: Option<&LabelHints>,
        matchers: &[Matcher],
    ) -> storage::Result<Vec<String>> {
        self.strings(
            |q| q.label_names(hints, matchers),
            hints.map_or(0, |h| h.limit),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Labels, MatchType};
    use storage::{Appendable as _, ValueType};
    use tsdb::compact::{BlockWriter, encode_chunks};
    use tsdb::db::{Db, Options};

    fn all_samples(db: &ReadOnlyDb) -> Vec<(String, i64, f64)> {
        let q = db.querier(i64::MIN, i64::MAX).expect("querier");
        let all = [Matcher::new(MatchType::RegexMatch, "__name__", ".+").expect("valid")];
        let mut set = q.select(true, None, &all);
        let mut out = Vec::new();
        while let Some(s) = set.next() {
            let s = s.expect("series");
            let mut it = s.iterator();
            while it.next() == ValueType::Float {
                let (t, v) = it.at();
                out.push((s.labels().to_string(), t, v));
            }
        }
        out
    }

    fn files(dir: &Path) -> Vec<(PathBuf, u64)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("readdir").flatten() {
                let m = e.metadata().expect("metadata");
                if m.is_dir() {
                    stack.push(e.path());
                }
                out.push((e.path(), m.len()));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn merges_blocks_and_the_replayed_head_without_writing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Labels::from_pairs([("__name__", "a")]);
        let b = Labels::from_pairs([("__name__", "b")]);
        // The head (WAL) holds a sample the block below will cover and one after it.
        let db = Db::open(dir.path(), Options::default()).expect("db opens");
        let mut app = db.appender();
        app.append(0, &a, 5_000, 1.0).expect("append");
        app.append(0, &a, 20_000, 2.0).expect("append");
        app.commit().expect("commit");
        db.close().expect("close");
        let samples: Vec<(i64, f64)> = vec![(0, 10.0), (9_000, 11.0)];
        BlockWriter::new(dir.path())
            .write(
                [(b.clone(), encode_chunks(&samples).expect("encodes"))],
                0,
                10_000,
            )
            .expect("block written")
            .expect("a block");

        let before = files(dir.path());
        let ro = ReadOnlyDb::open(dir.path()).expect("opens read-only");
        assert_eq!(ro.blocks().len(), 1);
        assert_eq!(
            all_samples(&ro),
            vec![
                // a's sample at 5 s is older than the block's end: dropped, as Go's head.Init.
                ("{__name__=\"a\"}".to_owned(), 20_000, 2.0),
                ("{__name__=\"b\"}".to_owned(), 0, 10.0),
                ("{__name__=\"b\"}".to_owned(), 9_000, 11.0),
            ]
        );
        let q = ro.querier(0, 30_000).expect("querier");
        assert_eq!(
            q.label_values("__name__", None, &[]).expect("values"),
            vec!["a".to_owned(), "b".to_owned()]
        );
        drop(q);
        drop(ro);
        assert_eq!(files(dir.path()), before, "the data directory was written");

        let blocks_only = ReadOnlyDb::open_blocks(dir.path()).expect("opens");
        assert_eq!(all_samples(&blocks_only).len(), 2);
    }
}
