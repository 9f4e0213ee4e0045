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
