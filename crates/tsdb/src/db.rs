//! The database: a data directory with persistent blocks, the head with its WAL, compaction,
//! retention and deletion (Prometheus's `tsdb/db.go`). The entry point for embedding.
//!
//! ```
//! use model::{Labels, MatchType, Matcher};
//! use storage::{Appendable, Queryable, ValueType};
//! use tsdb::db::{Db, Options};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let db = Db::open(dir.path(), Options::default()).unwrap();
//!
//! let up = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
//! let mut app = db.appender();
//! let r = app.append(0, &up, 1_000, 1.0).unwrap();
//! app.append(r, &up, 16_000, 0.0).unwrap();
//! app.commit().unwrap(); // in the WAL (and visible) from here on
//!
//! let q = db.querier(0, 60_000).unwrap();
//! let mut set = q.select(true, None, &[Matcher::new(MatchType::Equal, "job", "node").unwrap()]);
//! let series = set.next().unwrap().unwrap();
//! let mut it = series.iterator();
//! let mut samples = Vec::new();
//! while it.next() == ValueType::Float {
//!     samples.push(it.at());
//! }
//! assert_eq!(samples, [(1_000, 1.0), (16_000, 0.0)]);
//! db.close().unwrap();
//! ```

use std::fs::{self, File, OpenOptions};
use std::hash::BuildHasher;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use model::{Matcher, Timestamp};
use parking_lot::{Mutex, RwLock};
use storage::{LabelHints, Querier, SelectHints, SeriesSet};

use crate::block::{self, Block};
use crate::compact::{self, BlockWriter, LeveledCompactor};
use crate::error::{Error, Result, io_err};
use crate::head::{self, Head, HeadAppender, HeadOptions, HeadStats};
use crate::metrics::{CompactorMetrics, DbMetrics, Families};
use crate::periodic::Periodic;
use crate::querier::{self as bquerier, BlockQuerier};
use crate::record::RefTombstone;
use crate::tombstones::{Interval, Tombstones};
use crate::wlog::{Compression, SyncPolicy, WalOptions};

mod read_only;
pub use read_only::ReadOnlyDb;

/// One day in milliseconds.
const DAY: i64 = 24 * 60 * 60 * 1000;

/// The default of [`Options::compaction_delay_max_percent`].
pub const DEFAULT_COMPACTION_DELAY_MAX_PERCENT: i64 = 10;

/// Options of a [`Db`], with Prometheus's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Blocks whose data is older than this (ms, relative to the newest block) are deleted;
    /// 0 disables time retention. Default 15 days (`--storage.tsdb.retention.time`).
    pub retention_duration: i64,
    /// Oldest blocks are deleted while blocks, WAL and head chunks together exceed this many
    /// bytes; 0 disables size retention (`--storage.tsdb.retention.size`).
    pub max_bytes: u64,
    /// WAL record compression (`--storage.tsdb.wal-compression`, on by default: snappy).
    pub wal_compression: Compression,
    /// WAL segment size; a multiple of 32 KiB. Default 128 MiB.
    pub wal_segment_size: usize,
    /// When the WAL is fsynced (see [`SyncPolicy`]).
    pub wal_sync: SyncPolicy,
    /// Whether to keep a WAL at all (without one, unpersisted samples are lost on restart).
    pub wal_enabled: bool,
    /// The head is compacted into blocks of this range (ms). Default 2 h.
    pub min_block_duration: i64,
    /// Compacted blocks grow up to this range (ms). Default: 10% of the default retention
    /// (at most 31 days), as Prometheus derives it; [`Options::with_retention`] derives it
    /// again for another retention.
    pub max_block_duration: i64,
    /// Accept samples up to this much (ms) older than the newest; 0 rejects them.
    pub out_of_order_time_window: i64,
    /// Target samples per chunk (120).
    pub samples_per_chunk: usize,
    /// Do not create a `lock` file in the data directory.
    pub no_lockfile: bool,
    /// Wait a random time, once the head is due, before compacting it (Prometheus's
    /// `delayed-compaction` feature), so that many servers do not all compact at once.
    pub enable_delayed_compaction: bool,
    /// The delay's upper limit, in percent of the head chunk range (10).
    pub compaction_delay_max_percent: i64,
    /// The size of the in-memory exemplar ring buffer; 0 (the default) keeps no exemplars
    /// (Prometheus's `exemplar-storage` feature off). Resize with [`Db::resize_exemplars`].
    pub max_exemplars: i64,
    /// Write a chunk snapshot of the head at [`Db::close`] and start from it at the next
    /// open, replaying only the WAL after it (`--enable-feature=memory-snapshot-on-shutdown`;
    /// see [`Head::chunk_snapshot`]).
    pub enable_memory_snapshot_on_shutdown: bool,
    /// Write the chunk segments of new blocks with direct I/O, bypassing the page cache
    /// (`--enable-feature=use-uncached-io`, Linux only; see
    /// [`ChunkWriter::with_uncached_io`](crate::chunks::ChunkWriter::with_uncached_io)).
    pub use_uncached_io: bool,
}

impl Default for Options {
    fn default() -> Self {
        let retention = 15 * DAY;
        Options {
            retention_duration: retention,
            max_bytes: 0,
            wal_compression: Compression::Snappy,
            wal_segment_size: crate::wlog::DEFAULT_SEGMENT_SIZE,
            wal_sync: SyncPolicy::OnSegmentClose,
            wal_enabled: true,
            min_block_duration: head::DEFAULT_CHUNK_RANGE,
            max_block_duration: (retention / 10).clamp(head::DEFAULT_CHUNK_RANGE, 31 * DAY),
            out_of_order_time_window: 0,
            samples_per_chunk: crate::chunkenc::SAMPLES_PER_CHUNK,
            no_lockfile: false,
            enable_delayed_compaction: false,
            compaction_delay_max_percent: DEFAULT_COMPACTION_DELAY_MAX_PERCENT,
            max_exemplars: 0,
            enable_memory_snapshot_on_shutdown: false,
            use_uncached_io: false,
        }
    }
}

impl Options {
    /// These options with a time retention of `retention` ms (0: none) and the longest
    /// compacted block Prometheus derives from it: 10% of the retention, at least
    /// [`Options::min_block_duration`], at most 31 days (31 days without time retention),
    /// as `--storage.tsdb.retention.time` does without `--storage.tsdb.max-block-duration`.
    ///
    /// ```
    /// let opts = tsdb::Options::default().with_retention(7 * 24 * 3_600_000); // 7 days
    /// assert_eq!(opts.max_block_duration, 7 * 24 * 3_600_000 / 10);
    /// let short = tsdb::Options::default().with_retention(3_600_000);
    /// assert_eq!(short.max_block_duration, short.min_block_duration);
    /// ```
    #[must_use]
    pub fn with_retention(mut self, retention: i64) -> Options {
        let month = 31 * DAY;
        self.retention_duration = retention;
        self.max_block_duration = if retention > 0 {
            (retention / 10).clamp(self.min_block_duration.min(month), month)
        } else {
            month
        };
        self
    }
}

/// A TSDB data directory, open for appends and queries.
///
/// ```text
/// data/
///   lock                 held (flock) while open
///   01H.../              persistent blocks (meta.json, index, chunks/, tombstones)
///   chunks_head/         full head chunks, memory-mapped
///   wal/                 write-ahead log segments and checkpoint.NNNNNNNN/
/// ```
///
/// # Durability
/// [`storage::Appender::commit`] on an appender from [`Db`] writes the batch to the WAL with
/// a `write` system call before making it visible: once it returns, the samples survive a
/// crash or kill of the process. They survive a power loss or kernel crash only after an
/// fsync: after every commit with [`SyncPolicy::Always`], otherwise when a WAL segment is
/// complete, at [`Db::close`], or when the caller calls [`Db::sync_wal`]. Blocks written by
/// compaction are fsynced before they replace head data.
///
/// # Isolation
/// A querier sees every batch whose `commit` returned before it was opened. A batch being
/// committed while a query runs may be seen in part: unlike Prometheus, there is no
/// per-append isolation (append IDs).
///
/// # Background work
/// `tsdb` needs no async runtime and keeps no background thread of its own: short-lived std
/// threads replay the WAL in [`Db::open`] and fsync each finished WAL segment. The caller
/// drives head compaction, leveled compaction and retention by calling [`Db::compact`]
/// periodically (Prometheus does every minute), or lets [`Db::spawn_compactor`] run it on a
/// std thread.
///
/// # Sharing and closing
/// A `Db` is `Send + Sync`: share it as an `Arc<Db>` between threads (and with
/// `promql::Engine`, which takes an `Arc<dyn Queryable>`). [`Db::close`] ends its use and
/// releases the directory; dropping an open `Db` closes it too, ignoring errors. After
/// `close`, appends fail and the directory may be opened again.
pub struct Db {
    dir: PathBuf,
    opts: Options,
    head: Arc<Head>,
    blocks: RwLock<Vec<Block>>,
    compaction: Mutex<()>,
    /// How long a due head compaction waits (zero without delayed compaction).
    compaction_delay: Duration,
    /// When the head was first found due since its last compaction, while delayed.
    compaction_due_since: Mutex<Option<Instant>>,
    lock_file: Mutex<Option<DirLock>>,
    closed: AtomicBool,
    metrics: DbMetrics,
    compactor_metrics: Arc<CompactorMetrics>,
    /// Go's `prometheus_tsdb_clean_start`: -1 without a lock file, 0 when one was left
    /// by an unclean shutdown, 1 otherwise.
    clean_start: i8,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dir", &self.dir)
            .field("blocks", &self.blocks.read().len())
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

/// A taken `dir/lock` file ([`lock_dir`]).
#[derive(Debug)]
pub(crate) struct DirLock {
    file: File,
    path: PathBuf,
}

impl DirLock {
    /// Deletes the lock file and unlocks it, as Go's `DirLocker.Release` does: a lock file
    /// found at the next open means the storage was not closed cleanly. (Deleted while
    /// still locked, so that it never removes another opener's file.)
    pub(crate) fn release(self) {
        let _ = fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Creates and takes `dir/lock` (an exclusive `flock`, released when the file is closed or
/// unlocked), so that a second storage on the same directory fails with [`Error::Locked`].
/// Whether `dir` holds a lock file an earlier process left behind; says so as Prometheus's
/// `DirLocker` does.
pub(crate) fn left_over_lock(dir: &Path) -> bool {
    let path = dir.join("lock");
    let left_over = path.exists();
    if left_over {
        let shown = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
        tracing::warn!(
            file = %shown.display(),
            "A lockfile from a previous execution already existed. It was replaced"
        );
    }
    left_over
}

pub(crate) fn lock_dir(dir: &Path) -> Result<DirLock> {
    let path = dir.join("lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("creating", &path))?;
    match f.try_lock() {
        Ok(()) => Ok(DirLock { file: f, path }),
        Err(fs::TryLockError::WouldBlock) => Err(Error::Locked(dir.to_path_buf())),
        Err(fs::TryLockError::Error(e)) => Err(io_err("locking", &path)(e)),
    }
}

/// Go's `generateCompactionDelay`: uniform in `[0, chunk_range * max_percent / 100)`
/// milliseconds (zero when that is empty).
fn random_compaction_delay(chunk_range: i64, max_percent: i64) -> Duration {
    let limit = u64::try_from(chunk_range.saturating_mul(max_percent) / 100).unwrap_or(0);
    if limit == 0 {
        return Duration::ZERO;
    }
    let r = std::collections::hash_map::RandomState::new().hash_one(limit);
    Duration::from_millis(r % limit)
}

/// Removes leftovers of interrupted block writes and deletions.
fn remove_tmp_dirs(dir: &Path) -> Result<()> {
    for e in fs::read_dir(dir).map_err(io_err("listing", dir))?.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let tmp = name.ends_with(".tmp-for-creation")
            || name.ends_with(".tmp-for-deletion")
            || name.ends_with(".tmp");
        if tmp && e.path().is_dir() {
            let p = e.path();
            fs::remove_dir_all(&p).map_err(io_err("deleting", &p))?;
        }
    }
    Ok(())
}

/// Opens every block of `dir`, deleting blocks that a compacted block replaced.
fn open_blocks(dir: &Path) -> Result<Vec<Block>> {
    let mut blocks = Vec::new();
    for d in block::block_dirs(dir)? {
        blocks.push(Block::open(&d)?);
    }
    let parents: std::collections::HashSet<block::Ulid> = blocks
        .iter()
        .flat_map(|b| b.meta().compaction.parents.iter().map(|p| p.ulid))
        .collect();
    let mut keep = Vec::with_capacity(blocks.len());
    for b in blocks {
        if parents.contains(&b.meta().ulid) {
            let d = b.dir().to_path_buf();
            drop(b);
            block::delete_block_dir(&d)?;
        } else {
            keep.push(b);
        }
    }
    keep.sort_by_key(|b| b.meta().min_time);
    Ok(keep)
}

/// Recreates `src` under `dst` with hard links to its files.
fn link_dir(src: &Path, dst: &Path) -> Result<()> {
    fs::create_dir_all(dst).map_err(io_err("creating", dst))?;
    for e in fs::read_dir(src).map_err(io_err("listing", src))? {
        let e = e.map_err(io_err("listing", src))?;
        let to = dst.join(e.file_name());
        let from = e.path();
        if from.is_dir() {
            link_dir(&from, &to)?;
        } else {
            fs::hard_link(&from, &to).map_err(io_err("linking", &from))?;
        }
    }
    Ok(())
}

/// How long a head truncation after compaction waits for open queriers of its range.
const PENDING_READERS_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

impl Db {
    /// Opens (creating it if needed) the data directory `dir`: takes the lock file, opens
    /// the blocks, and rebuilds the head from `chunks_head/` and the WAL, repairing a
    /// damaged WAL tail as Prometheus does.
    ///
    /// # Errors
    /// [`Error::Locked`] when another [`Db`] (in this or another process) has the
    /// directory open; [`Error::InvalidArgument`] for inconsistent options (block
    /// durations, WAL segment size); otherwise on I/O errors or damaged blocks.
    ///
    /// # Examples
    /// Options are plain fields with Prometheus's defaults; set the ones that differ:
    /// ```
    /// use tsdb::{Db, Error, Options};
    ///
    /// # fn main() -> tsdb::Result<()> {
    /// let dir = tempfile::tempdir().expect("a temporary directory");
    /// let opts = Options {
    ///     out_of_order_time_window: 600_000, // accept samples up to 10 minutes late
    ///     ..Options::default()
    /// }
    /// .with_retention(24 * 3_600_000); // one day, in ms
    /// let db = Db::open(dir.path(), opts.clone())?;
    /// // The lock file keeps a second opener out until the first one closes.
    /// assert!(matches!(Db::open(dir.path(), opts.clone()), Err(Error::Locked(_))));
    /// db.close()?;
    /// let db = Db::open(dir.path(), opts)?;
    /// # drop(db);
    /// # Ok(())
    /// # }
    /// ```
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let dir = dir.as_ref();
        if opts.min_block_duration <= 0 || opts.max_block_duration < opts.min_block_duration {
            return Err(Error::InvalidArgument(format!(
                "block durations must satisfy 0 < min ({}) <= max ({})",
                opts.min_block_duration, opts.max_block_duration
            )));
        }
        fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        let (lock_file, clean_start) = if opts.no_lockfile {
            (None, -1)
        } else {
            let left_over = left_over_lock(dir);
            (Some(lock_dir(dir)?), if left_over { 0 } else { 1 })
        };
        remove_tmp_dirs(dir)?;
        let blocks = open_blocks(dir)?;
        for b in &blocks {
            // Prometheus says so for each block it checks for an old index at open.
            let m = b.meta();
            tracing::info!(mint = m.min_time, maxt = m.max_time, ulid = %m.ulid, "Found healthy block");
        }
        // As Go's `inOrderBlocksMaxTime`: blocks Prometheus wrote from its out-of-order head
        // may reach past the in-order samples still in the WAL, which must not be dropped.
        let min_valid = blocks
            .iter()
            .map(Block::meta)
            .filter(|m| !m.compaction.from_out_of_order())
            .map(|m| m.max_time)
            .max()
            .unwrap_or(i64::MIN);
        let head_opts = HeadOptions {
            chunk_range: opts.min_block_duration,
            samples_per_chunk: opts.samples_per_chunk,
            out_of_order_time_window: opts.out_of_order_time_window,
            wal: opts.wal_enabled.then_some(WalOptions {
                segment_size: opts.wal_segment_size,
                compression: opts.wal_compression,
                sync: opts.wal_sync,
            }),
            max_exemplars: opts.max_exemplars,
            memory_snapshot_on_shutdown: opts.enable_memory_snapshot_on_shutdown,
        };
        let head = Head::open(dir, head_opts, min_valid)?;
        let compaction_delay = if opts.enable_delayed_compaction {
            random_compaction_delay(opts.min_block_duration, opts.compaction_delay_max_percent)
        } else {
            Duration::ZERO
        };
        let db = Db {
            dir: dir.to_path_buf(),
            opts,
            head,
            blocks: RwLock::new(blocks),
            compaction: Mutex::new(()),
            compaction_delay,
            compaction_due_since: Mutex::new(None),
            lock_file: Mutex::new(lock_file),
            closed: AtomicBool::new(false),
            metrics: DbMetrics::default(),
            compactor_metrics: Arc::default(),
            clean_start,
        };
        // Opening the blocks is the first reload.
        db.metrics.reloads.inc();
        db.apply_retention()?;
        Ok(db)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the database was opened with.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The head.
    pub fn head(&self) -> &Arc<Head> {
        &self.head
    }

    /// The metas of the persistent blocks, oldest first.
    pub fn blocks(&self) -> Vec<block::BlockMeta> {
        self.blocks
            .read()
            .iter()
            .map(|b| b.meta().clone())
            .collect()
    }

    /// A new appender on the head; see [`HeadAppender`] for what `commit` guarantees.
    pub fn head_appender(&self) -> HeadAppender {
        self.head.appender()
    }

    /// Head statistics for `/api/v1/status/tsdb`, top `limit` entries per list.
    pub fn head_stats(&self, limit: usize) -> HeadStats {
        self.head.stats(limit)
    }

    /// Fsyncs the WAL's current segment, making every committed sample durable against
    /// power loss.
    ///
    /// # Errors
    /// On I/O errors.
    pub fn sync_wal(&self) -> Result<()> {
        self.head.sync_wal()
    }

    /// Compacts the head into blocks while it spans more than 1.5 block ranges, runs leveled
    /// compaction of the blocks, and applies retention. Returns the number of blocks written
    /// from the head.
    ///
    /// # Errors
    /// On I/O errors; the database stays consistent (a failed block is not used).
    pub fn compact(&self) -> Result<usize> {
        let _guard = self.compaction.lock();
        self.metrics.compactions_triggered.inc();
        let res = self.compact_locked();
        if res.is_err() {
            self.metrics.compactions_failed.inc();
        }
        res
    }

    fn compact_locked(&self) -> Result<usize> {
        let mut written = 0;
        let range = self.opts.min_block_duration;
        let start = Instant::now();
        loop {
            if !self.head_compactable() {
                // Due again later: a new delay starts then.
                *self.compaction_due_since.lock() = None;
                break;
            }
            if self.waiting_for_compaction_delay() {
                break;
            }
            let mint = self.head.min_time();
            let maxt = crate::chunkenc::range_for_timestamp(mint, range);
            self.compact_head(mint, maxt)?;
            written += 1;
        }
        let took = start.elapsed();
        if took.as_millis() > u128::try_from(range).unwrap_or(0) {
            tracing::warn!(
                duration = crate::head::replay::go_duration(took),
                block_range = range,
                "Head compaction took longer than the block time range, compactions are falling behind and won't be able to catch up"
            );
        }
        let ranges: Vec<i64> = compact::exponential_block_ranges(range, 10, 3)
            .into_iter()
            .filter(|&r| r <= self.opts.max_block_duration)
            .collect();
        if ranges.len() > 1 {
            let compactor = LeveledCompactor::new(ranges)?
                .with_metrics(Arc::clone(&self.compactor_metrics))
                .with_uncached_io(self.opts.use_uncached_io);
            let compacted = self.compact_blocks(&compactor);
            // Blocks replaced before a failure stay replaced: reload either way.
            if compacted.as_ref().map_or(true, |&n| n > 0) {
                self.reload_blocks()?;
            }
            compacted?;
        }
        self.apply_retention()?;
        Ok(written)
    }

    /// Go's `compactBlocks`: runs the leveled compactor's plans one by one, deleting the
    /// blocks each replaced, but gives up (to be called again soon) once the head is due
    /// for compaction again, since persisting the head comes first. Returns the number of
    /// plans carried out.
    fn compact_blocks(&self, compactor: &LeveledCompactor) -> Result<usize> {
        let mut done = 0;
        loop {
            if self.head_compactable() && !self.within_compaction_delay() {
                tracing::warn!("aborting block compactions to persist the head block");
                return Ok(done);
            }
            let plan = compactor.plan(&self.dir)?;
            if plan.is_empty() {
                return Ok(done);
            }
            compactor.compact(&self.dir, &plan)?;
            for d in &plan {
                crate::block::delete_block_dir(d)?;
            }
            done += 1;
        }
    }

    /// Whether a delayed head compaction has started its delay and is still within it
    /// (Go's `waitingForCompactionDelay`, which unlike
    /// [`Db::waiting_for_compaction_delay`] starts no clock).
    fn within_compaction_delay(&self) -> bool {
        self.opts.enable_delayed_compaction
            && self
                .compaction_due_since
                .lock()
                .is_some_and(|since| since.elapsed() < self.compaction_delay)
    }

    /// Go's `waitingForCompactionDelay`: with delayed compaction, whether the head has been
    /// due for less than the delay (its clock starts the first time it is found due).
    fn waiting_for_compaction_delay(&self) -> bool {
        if !self.opts.enable_delayed_compaction {
            return false;
        }
        let now = Instant::now();
        let since = *self.compaction_due_since.lock().get_or_insert(now);
        now.duration_since(since) < self.compaction_delay
    }

    /// The delay of head compaction drawn at open (zero without delayed compaction).
    pub fn compaction_delay(&self) -> Duration {
        self.compaction_delay
    }

    fn head_compactable(&self) -> bool {
        self.head.compactable()
    }

    /// Writes the head's samples in `[mint, maxt)` as a block, then drops them from the head
    /// (and the WAL).
    fn compact_head(&self, mint: i64, maxt: i64) -> Result<()> {
        let mut failure = None;
        let series = self.head.series_refs().into_iter().filter_map(|r| {
            match self.head.series_chunks_for_block(r, mint, maxt) {
                Ok(s) => s,
                Err(e) => {
                    failure.get_or_insert(e);
                    None
                }
            }
        });
        let ulid = BlockWriter::new(&self.dir)
            .with_metrics(Arc::clone(&self.compactor_metrics))
            .with_uncached_io(self.opts.use_uncached_io)
            .write(series, mint, maxt)?;
        if let Some(e) = failure {
            if let Some(u) = ulid {
                let d = self.dir.join(u.to_string());
                let _ = fs::remove_dir_all(d);
            }
            return Err(e);
        }
        if let Some(u) = ulid {
            // Go reloads the blocks after writing one from the head.
            self.metrics.reloads.inc();
            let b = match Block::open(&self.dir.join(u.to_string())) {
                Ok(b) => b,
                Err(e) => {
                    self.metrics.reloads_failed.inc();
                    return Err(e);
                }
            };
            let mut blocks = self.blocks.write();
            blocks.push(b);
            blocks.sort_by_key(|b| b.meta().min_time);
        }
        // Queriers opened before the new block was listed read this range from the head:
        // let them finish before it is dropped (Go's WaitForPendingReadersInTimeRange),
        // within a bound so that a querier held open for long cannot stop compaction.
        self.head
            .wait_for_readers_before(maxt, PENDING_READERS_WAIT);
        self.head.truncate(maxt)
    }

    fn reload_blocks(&self) -> Result<()> {
        self.metrics.reloads.inc();
        let blocks = match open_blocks(&self.dir) {
            Ok(b) => b,
            Err(e) => {
                self.metrics.reloads_failed.inc();
                return Err(e);
            }
        };
        *self.blocks.write() = blocks;
        Ok(())
    }

    /// Deletes blocks beyond the time and size retention.
    fn apply_retention(&self) -> Result<()> {
        let mut doomed: Vec<PathBuf> = Vec::new();
        let mut by_time = 0;
        {
            let blocks = self.blocks.read();
            let newest_first: Vec<&Block> = blocks.iter().rev().collect();
            if self.opts.retention_duration > 0
                && let Some(newest) = newest_first.first()
            {
                let newest_max = newest.meta().max_time;
                for b in &newest_first {
                    if newest_max - b.meta().max_time >= self.opts.retention_duration {
                        doomed.push(b.dir().to_path_buf());
                    }
                }
                by_time = doomed.len();
            }
            if self.opts.max_bytes > 0 {
                let mut total = self.head.wal_size() + self.head.chunks_size();
                for b in &newest_first {
                    if doomed.iter().any(|d| d == b.dir()) {
                        continue;
                    }
                    total += b.size();
                    if total > self.opts.max_bytes {
                        doomed.push(b.dir().to_path_buf());
                    }
                }
            }
        }
        if doomed.is_empty() {
            return Ok(());
        }
        // Go counts each retention pass that deletes blocks, once per kind.
        if by_time > 0 {
            self.metrics.time_retentions.inc();
        }
        if doomed.len() > by_time {
            self.metrics.size_retentions.inc();
        }
        self.blocks
            .write()
            .retain(|b| !doomed.iter().any(|d| d == b.dir()));
        for d in doomed {
            block::delete_block_dir(&d)?;
        }
        Ok(())
    }

    /// Marks the samples in `[mint, maxt]` of the series matching `matchers` as deleted
    /// (tombstones in blocks and, through the WAL, in the head). Queries no longer return
    /// them; [`Db::clean_tombstones`] rewrites blocks without them.
    ///
    /// # Errors
    /// On I/O errors.
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<()> {
        let _guard = self.compaction.lock();
        let mut replaced = Vec::new();
        for (i, b) in self.blocks.read().iter().enumerate() {
            if !b.overlaps(mint, maxt) {
                continue;
            }
            let ids = bquerier::postings_for_matchers(b, matchers)?;
            let mut stones = Tombstones::new();
            for (r, ivs) in b.tombstones().iter() {
                for iv in ivs {
                    stones.add(r, *iv);
                }
            }
            let mut chunks = Vec::new();
            let mut added = 0;
            for id in ids {
                b.index().series(id, &mut chunks)?;
                if chunks
                    .iter()
                    .any(|c| c.max_time >= mint && c.min_time <= maxt)
                {
                    stones.add(id, Interval { mint, maxt });
                    added += 1;
                }
            }
            if added == 0 {
                continue;
            }
            stones.write(b.dir())?;
            let mut meta = b.meta().clone();
            meta.stats.num_tombstones = stones.total() as u64;
            meta.write(b.dir())?;
            replaced.push((i, Block::open(b.dir())?));
        }
        {
            let mut blocks = self.blocks.write();
            for (i, b) in replaced {
                blocks[i] = b;
            }
        }
        let stones: Vec<RefTombstone> = self
            .head
            .refs_with_data(matchers, mint, maxt)
            .into_iter()
            .map(|series_ref| RefTombstone {
                series_ref,
                mint,
                maxt,
            })
            .collect();
        self.head.add_tombstones(&stones)
    }

    /// Rewrites every block that has tombstones without the deleted data.
    ///
    /// # Errors
    /// On I/O errors.
    pub fn clean_tombstones(&self) -> Result<()> {
        let _guard = self.compaction.lock();
        let start = Instant::now();
        let res = self.clean_tombstones_locked();
        self.metrics
            .tombstone_cleanup
            .observe(start.elapsed().as_secs_f64());
        res
    }

    fn clean_tombstones_locked(&self) -> Result<()> {
        let targets: Vec<Block> = self
            .blocks
            .read()
            .iter()
            .filter(|b| !b.tombstones().is_empty())
            .cloned()
            .collect();
        for b in targets {
            let ulid = compact::compact_blocks_uncached(
                &self.dir,
                std::slice::from_ref(&b),
                Some(&self.compactor_metrics),
                self.opts.use_uncached_io,
            )?;
            if let Some(u) = ulid {
                // The rewritten block replaces exactly this one: keep its compaction level.
                let new_dir = self.dir.join(u.to_string());
                let mut meta = block::BlockMeta::read(&new_dir)?;
                meta.compaction = b.meta().compaction.clone();
                meta.compaction.parents.clear();
                meta.write(&new_dir)?;
            }
            let old = b.dir().to_path_buf();
            self.blocks.write().retain(|x| x.dir() != old);
            drop(b);
            block::delete_block_dir(&old)?;
        }
        self.reload_blocks()
    }

    /// The earliest sample time in the database (oldest block or head), if any data exists
    /// (Prometheus's `StartTime`, used by remote read and the status page).
    pub fn start_time(&self) -> Option<i64> {
        let blocks = self.blocks.read().first().map(|b| b.meta().min_time);
        let head = Some(self.head.min_time()).filter(|&t| t != i64::MAX);
        match (blocks, head) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Writes a snapshot of the database into `dest` (Prometheus's admin snapshot): hard
    /// links of every block, plus, with `with_head`, the head's data as one more block.
    ///
    /// # Errors
    /// On I/O errors (for example when `dest` is on another file system).
    pub fn snapshot(&self, dest: impl AsRef<Path>, with_head: bool) -> Result<()> {
        let dest = dest.as_ref();
        let _guard = self.compaction.lock();
        fs::create_dir_all(dest).map_err(io_err("creating", dest))?;
        for b in self.blocks.read().iter() {
            let Some(name) = b.dir().file_name() else {
                continue;
            };
            link_dir(b.dir(), &dest.join(name))?;
        }
        if with_head {
            let (mint, maxt) = (self.head.min_time(), self.head.max_time());
            if mint <= maxt {
                let mut failure = None;
                let series = self.head.series_refs().into_iter().filter_map(|r| {
                    match self
                        .head
                        .series_chunks_for_block(r, mint, maxt.saturating_add(1))
                    {
                        Ok(s) => s,
                        Err(e) => {
                            failure.get_or_insert(e);
                            None
                        }
                    }
                });
                BlockWriter::new(dest)
                    .with_metrics(Arc::clone(&self.compactor_metrics))
                    .with_uncached_io(self.opts.use_uncached_io)
                    .write(series, mint, maxt.saturating_add(1))?;
                if let Some(e) = failure {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Starts a std thread calling [`Db::compact`] every `interval` until the returned
    /// handle is dropped or stopped, and at once after a commit through
    /// [`storage::Appendable::appender`] that leaves the head compactable (as Prometheus
    /// does: the commit only signals the thread, it neither waits nor compacts). A failed
    /// compaction is logged ("compaction failed") and kept for [`Compactor::stop`], and the
    /// thread then backs off as Prometheus's `DB.run` does: 1 s, doubling up to a minute,
    /// before it compacts again (a commit's wake meanwhile is kept for after the pause).
    pub fn spawn_compactor(db: &Arc<Db>, interval: Duration) -> Compactor {
        let errors = Arc::new(Mutex::new(Vec::new()));
        // The thread holds the database only weakly, so that a commit's wake cannot keep
        // it alive.
        let (weak, errors2) = (Arc::downgrade(db), Arc::clone(&errors));
        let mut backoff = Duration::ZERO;
        let thread = Periodic::spawn_with_backoff(interval, move || {
            let Some(db) = weak.upgrade() else {
                return ControlFlow::Break(());
            };
            match db.compact() {
                Ok(_) => backoff = Duration::ZERO,
                Err(e) => {
                    tracing::error!(err = %e, "compaction failed");
                    errors2.lock().push(e);
                    backoff = compaction_backoff(backoff);
                }
            }
            ControlFlow::Continue(backoff)
        });
        db.head.set_compaction_waker(thread.waker());
        Compactor { thread, errors }
    }

    /// Flushes and fsyncs the WAL and head chunks and releases the lock file. The head is
    /// not compacted: its data is replayed at the next open.
    ///
    /// # Errors
    /// On I/O errors.
    pub fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let _guard = self.compaction.lock();
        let res = self.head.close();
        if let Some(lock) = self.lock_file.lock().take() {
            lock.release();
        }
        res
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // Best effort: whatever is not flushed here is what a crash would lose, which the
        // WAL design already tolerates.
        let _ = self.close();
    }
}

/// The handle of [`Db::spawn_compactor`]'s thread.
pub struct Compactor {
    thread: Periodic,
    errors: Arc<Mutex<Vec<Error>>>,
}

impl std::fmt::Debug for Compactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compactor").finish_non_exhaustive()
    }
}

impl Compactor {
    /// Stops the thread, waits for it, and returns the errors compactions reported.
    pub fn stop(mut self) -> Vec<Error> {
        self.thread.stop();
        std::mem::take(&mut *self.errors.lock())
    }
}

impl storage::Appendable for Db {
    /// A new batch on the head (a boxed [`HeadAppender`]; [`Db::head_appender`] gives the
    /// unboxed one). `commit` logs the batch to the WAL and makes it visible to queriers
    /// opened afterwards.
    fn appender(&self) -> Box<dyn storage::Appender> {
        Box::new(self.head.appender())
    }
}

/// The pause after a failed compaction that followed a pause of `last` (Go's
/// `exponential(backoff, 1s, 1m)`).
fn compaction_backoff(last: Duration) -> Duration {
    (last * 2).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

impl Db {
    /// Changes the out-of-order window (ms) as a config reload does
    /// (`storage.tsdb.out_of_order_time_window`); see [`Head::set_out_of_order_time_window`].
    ///
    /// # Errors
    /// When the WBL cannot be opened.
    pub fn set_out_of_order_time_window(&self, window: i64) -> Result<()> {
        self.head.set_out_of_order_time_window(window)
    }

    /// Resizes the exemplar storage (a `storage.exemplars.max_exemplars` change on config
    /// reload), keeping the newest exemplars that fit; 0 turns it off. Returns how many
    /// were kept.
    pub fn resize_exemplars(&self, max_exemplars: i64) -> usize {
        self.head.exemplars().resize(max_exemplars)
    }

    /// Appends the `prometheus_tsdb_exemplar_*` metrics in the text exposition format.
    pub fn write_exemplar_metrics(&self, out: &mut String) {
        self.head.exemplars().write_metrics(out);
    }

    /// Appends the database's own metrics in the text exposition format, sorted by name
    /// as Prometheus's registry writes them: the head's (series, chunks, appended and
    /// refused samples, truncations, checkpoints), the WAL's, the exemplar storage's, the
    /// compactor's (block writes and their chunks) and the database's (blocks, reloads,
    /// retention, compaction runs). See `docs/ARCHITECTURE.md` for the families left out.
    #[allow(clippy::cast_precision_loss)]
    pub fn write_metrics(&self, out: &mut String) {
        let mut f = Families::default();
        self.head.metric_families(&mut f);
        self.compactor_metrics.families(&mut f);
        self.metrics.families(&mut f);
        let (loaded, bytes, symbols, first_block) = {
            let blocks = self.blocks.read();
            (
                blocks.len(),
                blocks.iter().map(Block::size).sum::<u64>(),
                blocks
                    .iter()
                    .map(|b| b.index().symbol_table_size())
                    .sum::<u64>(),
                blocks.first().map(|b| b.meta().min_time),
            )
        };
        // Go's `lowest_timestamp`: the oldest block's start, else the head's minimum.
        let lowest = first_block.unwrap_or_else(|| self.head.min_time());
        let gauges: [(&str, &str, f64); 8] = [
            (
                "prometheus_tsdb_blocks_loaded",
                "Number of currently loaded data blocks",
                loaded as f64,
            ),
            (
                "prometheus_tsdb_storage_blocks_bytes",
                "The number of bytes that are currently used for local storage by all blocks.",
                bytes as f64,
            ),
            (
                "prometheus_tsdb_symbol_table_size_bytes",
                "Size of symbol table in memory for loaded blocks",
                symbols as f64,
            ),
            (
                "prometheus_tsdb_retention_limit_bytes",
                "Max number of bytes to be retained in the tsdb blocks, configured 0 means disabled",
                self.opts.max_bytes as f64,
            ),
            (
                "prometheus_tsdb_retention_limit_seconds",
                "How long to retain samples in storage.",
                self.opts.retention_duration as f64 / 1000.0,
            ),
            (
                "prometheus_tsdb_lowest_timestamp",
                "Lowest timestamp value stored in the database. The unit is decided by the library consumer.",
                lowest as f64,
            ),
            (
                "prometheus_tsdb_lowest_timestamp_seconds",
                "Lowest timestamp value stored in the database.",
                (lowest / 1000) as f64,
            ),
            (
                "prometheus_tsdb_clean_start",
                "-1: lockfile is disabled. 0: a lockfile from a previous execution was replaced. 1: lockfile creation was clean",
                f64::from(self.clean_start),
            ),
        ];
        for (name, help, v) in gauges {
            f.single(name, "gauge", help, v);
        }
        f.write(out);
    }
}

impl storage::ExemplarQueryable for Db {
    fn exemplar_querier(&self) -> storage::Result<Box<dyn storage::ExemplarQuerier>> {
        Ok(self.head.exemplars().querier())
    }
}

impl storage::Queryable for Db {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> storage::Result<Box<dyn Querier>> {
        let blocks = self.blocks.read();
        Ok(merged_querier(
            blocks.iter().map(|b| Arc::new(b.clone())),
            Some(&self.head),
            self.head.out_of_order_time_window() > 0,
            mint,
            maxt,
        ))
    }
}

/// A querier over the `blocks` that overlap `[mint, maxt]` and the head, when the range
/// reaches its first sample (as Go's `DB.Querier`, which keeps a head querier even past the
/// head's last sample) or `head_always` (out-of-order samples may lie outside it).
fn merged_querier(
    blocks: impl IntoIterator<Item = Arc<Block>>,
    head: Option<&Arc<Head>>,
    head_always: bool,
    mint: Timestamp,
    maxt: Timestamp,
) -> Box<dyn Querier> {
    let mut queriers: Vec<Box<dyn Querier>> = Vec::new();
    for b in blocks {
        if b.overlaps(mint, maxt) {
            queriers.push(Box::new(BlockQuerier::new(b, mint, maxt)));
        }
    }
    if let Some(h) = head
        && (head_always || h.min_time() <= maxt)
    {
        queriers.push(Box::new(h.querier(mint, maxt)));
    }
    Box::new(DbQuerier { queriers })
}

/// Queries blocks and head together, merging series with equal labels. As Go's merge
/// querier, one source answers alone (in its own order unless sorting is asked for) and
/// several are merged in label order.
struct DbQuerier {
    queriers: Vec<Box<dyn Querier>>,
}

impl DbQuerier {
    fn merge_strings(
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
        if limit > 0 && all.len() > limit {
            all.truncate(limit);
        }
        Ok(all)
    }
}

impl Querier for DbQuerier {
    fn select(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet> {
        if let [only] = self.queriers.as_slice() {
            return only.select(sorted, hints, matchers);
        }
        // Merging needs every set sorted, whatever the caller asked for.
        let sets: Vec<Box<dyn SeriesSet>> = self
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
        self.merge_strings(
            |q| q.label_values(name, hints, matchers),
            hints.map_or(0, |h| h.limit),
        )
    }

    fn label_names(
        &self,
        hints: Option<&LabelHints>,
        matchers: &[Matcher],
    ) -> storage::Result<Vec<String>> {
        self.merge_strings(
            |q| q.label_names(hints, matchers),
            hints.map_or(0, |h| h.limit),
        )
    }
}

#[cfg(test)]
mod chunk_count_tests;
#[cfg(test)]
mod compactor_tests;
#[cfg(test)]
mod histogram_tests;
#[cfg(test)]
mod metrics_tests;
#[cfg(test)]
mod tests;
