//! A data directory opened for reading only, as Go's `tsdb.DBReadOnly`.

use std::path::Path;
use std::sync::Arc;

use model::Timestamp;
use storage::{Querier, Queryable};

use super::{io_err, merged_querier};
use crate::block::{self, Block};
use crate::error::{Error, Result};
use crate::head::{Head, HeadOptions};

/// The persistent blocks (sorted by minimum time, as Go sorts them) and, with
/// [`ReadOnlyDb::open`], the head of a data directory, replayed from a private copy of
/// `wal/`, `chunks_head/` and `wbl/`: nothing in the directory is written, locked or
/// repaired (the copy costs time and temporary space in proportion to the WAL).
///
/// It takes no lock, so a running Prometheus may write the directory meanwhile: the view
/// is then a best-effort snapshot (blocks compacted away while reading fail to read).
pub struct ReadOnlyDb {
    blocks: Vec<Arc<Block>>,
    head: Option<Arc<Head>>,
    /// Holds the head's copied WAL until the view is dropped.
    _head_dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for ReadOnlyDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnlyDb")
            .field("blocks", &self.blocks.len())
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl ReadOnlyDb {
    /// Opens the blocks of `dir`, without the head.
    ///
    /// # Errors
    /// When `dir` is missing or not a directory, or a block fails to open.
    pub fn open_blocks(dir: impl AsRef<Path>) -> Result<ReadOnlyDb> {
        let dir = dir.as_ref();
        match std::fs::metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoDbDir(dir.to_path_buf()));
            }
            Err(e) => return Err(io_err("opening the db dir: stat", dir)(e)),
            Ok(m) if !m.is_dir() => return Err(Error::NotADbDir(dir.to_path_buf())),
            Ok(_) => {}
        }
        let mut blocks = Vec::new();
        for d in block::block_dirs(dir)? {
            let b = Block::open(&d).map_err(|e| Error::OpenBlock {
                dir: d.clone(),
                source: Box::new(e),
            })?;
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
    ///
    /// # Errors
    /// As [`ReadOnlyDb::open_blocks`], and when copying or replaying the WAL fails.
    pub fn open(dir: impl AsRef<Path>) -> Result<ReadOnlyDb> {
        let dir = dir.as_ref();
        let mut db = ReadOnlyDb::open_blocks(dir)?;
        let wal = dir.join("wal");
        if !wal.is_dir() {
            return Ok(db);
        }
        let tmp = tempfile::tempdir().map_err(io_err(
            "creating a temporary directory for the WAL in",
            &std::env::temp_dir(),
        ))?;
        copy_dir(&wal, &tmp.path().join("wal"))?;
        // Head chunks and the out-of-order samples' WBL, where present.
        for sub in ["chunks_head", crate::wlog::WBL_DIR_NAME] {
            let from = dir.join(sub);
            if from.is_dir() {
                copy_dir(&from, &tmp.path().join(sub))?;
            }
        }
        let min_valid = db.blocks.last().map_or(i64::MIN, |b| b.meta().max_time);
        let head = Head::open(tmp.path(), HeadOptions::default(), min_valid).map_err(|e| {
            Error::ReplayWal {
                dir: dir.to_path_buf(),
                source: Box::new(e),
            }
        })?;
        db.head = Some(head);
        db._head_dir = Some(tmp);
        Ok(db)
    }

    /// The persistent blocks, oldest first.
    pub fn blocks(&self) -> &[Arc<Block>] {
        &self.blocks
    }

    /// The replayed head, when opened with [`ReadOnlyDb::open`] and there is a WAL.
    pub fn head(&self) -> Option<&Arc<Head>> {
        self.head.as_ref()
    }
}

/// Copies the regular files of `from` (recursively) into `to`.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(io_err("creating", to))?;
    for e in std::fs::read_dir(from).map_err(io_err("listing", from))? {
        let e = e.map_err(io_err("listing", from))?;
        let src = e.path();
        let dst = to.join(e.file_name());
        let ty = e.file_type().map_err(io_err("reading", &src))?;
        if ty.is_dir() {
            copy_dir(&src, &dst)?;
        } else if ty.is_file() {
            std::fs::copy(&src, &dst).map_err(io_err("copying", &src))?;
        }
    }
    Ok(())
}

impl Queryable for ReadOnlyDb {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> storage::Result<Box<dyn Querier>> {
        Ok(merged_querier(
            self.blocks.iter().cloned(),
            self.head.as_ref(),
            false,
            mint,
            maxt,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Labels, MatchType, Matcher};
    use storage::{Appendable as _, ValueType};

    use crate::db::{Db, Options};

    #[test]
    fn replays_the_head_without_writing_the_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Labels::from_pairs([("__name__", "a")]);
        let db = Db::open(dir.path(), Options::default()).expect("db opens");
        let mut app = db.appender();
        app.append(0, &a, 1_000, 1.0).expect("append");
        app.commit().expect("commit");
        db.close().expect("close");
        drop(db);

        let before = test_support::dir_listing(dir.path());
        let ro = ReadOnlyDb::open(dir.path()).expect("opens read-only");
        assert!(ro.blocks().is_empty());
        let q = ro.querier(0, 10_000).expect("querier");
        let all = [Matcher::new(MatchType::Equal, "__name__", "a").expect("valid")];
        let mut set = q.select(true, None, &all);
        let s = set.next().expect("one series").expect("ok");
        let mut it = s.iterator();
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.at(), (1_000, 1.0));
        assert_eq!(it.next(), ValueType::None);
        assert!(set.next().is_none());
        drop((set, q, ro));
        assert_eq!(
            test_support::dir_listing(dir.path()),
            before,
            "the data directory was written"
        );

        let blocks_only = ReadOnlyDb::open_blocks(dir.path()).expect("opens");
        assert!(blocks_only.head().is_none());
    }

    #[test]
    fn a_missing_directory_reads_like_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing");
        let err = ReadOnlyDb::open(&missing).expect_err("missing");
        assert_eq!(
            err.to_string(),
            format!(
                "opening the db dir: stat {}: no such file or directory",
                missing.display()
            )
        );
        assert!(!missing.exists());
    }
}
