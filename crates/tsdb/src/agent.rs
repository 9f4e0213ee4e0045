//! WAL-only storage for agent mode (`prometheus --agent`), as Go's `tsdb/agent`.
//!
//! An agent [`Db`] keeps no chunks, blocks or index: appended samples are written to a
//! write-ahead log in `<dir>/wal` (Prometheus's segment and record format, so the remote-write
//! WAL watcher tails it as it tails a server's WAL), and memory holds only each series'
//! reference, labels and newest timestamp. It implements `storage::Appendable` and nothing to
//! query with.
//!
//! - Appends are checked per series: a sample not newer than the series' newest committed
//!   sample (minus [`Options::out_of_order_time_window`]) is rejected with
//!   `storage::Error::OutOfOrderSample`. A commit writes one series record (new series) and
//!   one samples record; a rollback still writes the series record, because the series
//!   exist in memory from the first append on.
//! - [`Db::open`] replays the newest checkpoint and the segments after it to rebuild the
//!   series (references stay stable across restarts) and their newest timestamps, repairing
//!   a damaged WAL tail as Prometheus does.
//! - [`Db::truncate`] forgets series without samples since `mint` and checkpoints the older
//!   two thirds of the segments; [`Db::spawn_truncator`] runs it every
//!   [`Options::truncate_frequency`], at the timestamp [`truncation_time`] derives from what
//!   remote write has sent.
//!
//! ```
//! use model::Labels;
//! use storage::Appendable;
//! use tsdb::agent::{Db, Options};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let db = Db::open(dir.path(), Options::default()).unwrap();
//! let up = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
//! let mut app = db.appender();
//! let r = app.append(0, &up, 1_000, 1.0).unwrap();
//! app.commit().unwrap();
//! let mut app = db.appender();
//! assert!(app.append(r, &up, 1_000, 1.0).is_err()); // not newer than the last sample
//! app.rollback().unwrap();
//! db.close().unwrap();
//!
//! let db = Db::open(dir.path(), Options::default()).unwrap();
//! assert_eq!(db.num_series(), 1); // replayed from dir/wal
//! ```

mod metrics;
mod series;

use std::collections::HashMap;
use std::fs;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use model::{Labels, Timestamp};
use parking_lot::{Mutex, RwLock};
use storage::{Appendable, Appender, SeriesRef};

use crate::checkpoint;
use crate::db::lock_dir;
use crate::error::{Error, Result, io_err};
use crate::periodic::Periodic;
use crate::record::{self, RecordType, RefExemplar, RefSample, RefSeries};
use crate::wlog::reader::{Reader, SegmentReader};
use crate::wlog::{self, Compression, CorruptionError, Wal, WalOptions};

pub use metrics::Metrics;
use series::{MemSeries, SeriesMap};

/// How often the WAL is truncated by default (Go's `DefaultTruncateFrequency`): 2 h.
pub const DEFAULT_TRUNCATE_FREQUENCY: Duration = Duration::from_secs(2 * 3600);
/// Default minimum age (ms) of samples before a truncation may drop them: 5 min.
pub const DEFAULT_MIN_WAL_TIME: i64 = 5 * 60 * 1000;
/// Default maximum age (ms) of samples in the WAL, whatever remote write sent: 4 h.
pub const DEFAULT_MAX_WAL_TIME: i64 = 4 * 3600 * 1000;

/// Options of an agent [`Db`] (Go's `agent.Options`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Maximum size of a WAL segment (a multiple of [`wlog::PAGE_SIZE`]).
    pub wal_segment_size: usize,
    /// Compression of new WAL records (`--storage.agent.wal-compression`).
    pub wal_compression: Compression,
    /// How often [`Db::spawn_truncator`] truncates (`--storage.agent.wal-truncate-frequency`).
    pub truncate_frequency: Duration,
    /// Samples younger than this (ms) before the lowest timestamp remote write sent are kept
    /// (`--storage.agent.retention.min-time`).
    pub min_wal_time: i64,
    /// Samples older than this (ms) are dropped even if remote write has not sent them
    /// (`--storage.agent.retention.max-time`).
    pub max_wal_time: i64,
    /// Do not create (or honour) the `lock` file (`--storage.agent.no-lockfile`).
    pub no_lockfile: bool,
    /// How far (ms) behind a series' newest sample a new one may be; 0 rejects every sample
    /// not newer than the newest.
    pub out_of_order_time_window: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            wal_segment_size: wlog::DEFAULT_SEGMENT_SIZE,
            wal_compression: Compression::Snappy,
            truncate_frequency: DEFAULT_TRUNCATE_FREQUENCY,
            min_wal_time: DEFAULT_MIN_WAL_TIME,
            max_wal_time: DEFAULT_MAX_WAL_TIME,
            no_lockfile: false,
            out_of_order_time_window: 0,
        }
    }
}

impl Options {
    /// The options with Go's `validateOptions` applied: unset (zero) values take their
    /// defaults, `max_wal_time` is at least `min_wal_time` and at least the truncation
    /// frequency.
    pub fn validated(mut self) -> Options {
        if self.wal_segment_size == 0 {
            self.wal_segment_size = wlog::DEFAULT_SEGMENT_SIZE;
        }
        if self.truncate_frequency.is_zero() {
            self.truncate_frequency = DEFAULT_TRUNCATE_FREQUENCY;
        }
        if self.min_wal_time <= 0 {
            self.min_wal_time = DEFAULT_MIN_WAL_TIME;
        }
        if self.max_wal_time <= 0 {
            self.max_wal_time = DEFAULT_MAX_WAL_TIME;
        }
        if self.min_wal_time > self.max_wal_time {
            self.max_wal_time = self.min_wal_time;
        }
        let freq = i64::try_from(self.truncate_frequency.as_millis()).unwrap_or(i64::MAX);
        if self.max_wal_time < freq {
            self.max_wal_time = freq;
        }
        self.out_of_order_time_window = self.out_of_order_time_window.max(0);
        self
    }
}

/// The timestamp a periodic truncation uses (Go's agent `run` loop): `min_wal_time` before
/// the lowest timestamp every remote-write queue has sent (never negative), but no earlier
/// than `max_wal_time` before `now`, so that an unreachable endpoint does not grow the WAL
/// forever. With no queue, pass 0 as Prometheus does: everything older than `max_wal_time`
/// goes.
pub fn truncation_time(opts: &Options, lowest_sent: Timestamp, now: Timestamp) -> Timestamp {
    let ts = lowest_sent.saturating_sub(opts.min_wal_time).max(0);
    ts.max(now.saturating_sub(opts.max_wal_time))
}

/// State shared by the database and its appenders.
struct Inner {
    wal_dir: PathBuf,
    opts: Options,
    /// `None` once closed.
    wal: Mutex<Option<Wal>>,
    series: RwLock<SeriesMap>,
    /// Series removed from memory, with the last segment that may hold their samples; their
    /// series records survive checkpoints until the checkpoint passes that segment.
    deleted: Mutex<HashMap<u64, u64>>,
    next_ref: AtomicU64,
    /// Serialises truncations.
    truncation: Mutex<()>,
    /// The newest exemplar appended per series, to drop repeats of it (Go's
    /// `GetLatestExemplar`).
    last_exemplars: Mutex<HashMap<u64, storage::Exemplar>>,
    metrics: Metrics,
    /// The WAL's own counters (`prometheus_tsdb_wal_*`, registered in agent mode too).
    wal_metrics: Arc<crate::metrics::WalMetrics>,
    lock_file: Mutex<Option<crate::db::DirLock>>,
    closed: AtomicBool,
}

/// WAL-only storage: see the [module docs](self).
///
/// Cheap to share behind an `Arc`; appenders may be used from any thread at once.
pub struct Db {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("wal_dir", &self.inner.wal_dir)
            .field("series", &self.num_series())
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Opens (creating it if needed) the agent storage in `dir`: takes the `lock` file,
    /// opens `dir/wal` and replays it. A damaged WAL segment is repaired (records after
    /// the damage are lost, as in Prometheus); a damaged checkpoint is an error.
    ///
    /// # Errors
    /// When the directory is locked by another process, on I/O errors, or when the WAL
    /// cannot be replayed or repaired.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let dir = dir.as_ref();
        let opts = opts.validated();
        fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        // Go's DirLocker: -1 without a lock file, 0 when one was left behind, 1 otherwise.
        let (lock_file, clean_start) = if opts.no_lockfile {
            (None, -1)
        } else {
            let left_over = crate::db::left_over_lock(dir);
            (Some(lock_dir(dir)?), if left_over { 0 } else { 1 })
        };
        let wal_dir = dir.join("wal");
        let mut wal = Wal::open(
            &wal_dir,
            WalOptions {
                segment_size: opts.wal_segment_size,
                compression: opts.wal_compression,
                ..WalOptions::default()
            },
        )?;
        let inner = Inner {
            wal_dir,
            opts,
            wal: Mutex::new(None),
            series: RwLock::new(SeriesMap::default()),
            deleted: Mutex::new(HashMap::new()),
            next_ref: AtomicU64::new(0),
            truncation: Mutex::new(()),
            last_exemplars: Mutex::new(HashMap::new()),
            metrics: Metrics {
                clean_start: AtomicI64::new(clean_start),
                ..Metrics::default()
            },
            wal_metrics: Arc::clone(wal.metrics()),
            lock_file: Mutex::new(lock_file),
            closed: AtomicBool::new(false),
        };
        let start = Instant::now();
        if let Err(err) = inner.replay() {
            let Error::WalCorrupt(corruption) = err else {
                return Err(err);
            };
            Metrics::inc(&inner.metrics.corruptions);
            // Only the segments can be repaired; a damaged checkpoint stays an error.
            wal.repair(&corruption)?;
        }
        Metrics::observe(&inner.metrics.replay_duration_nanos, start.elapsed());
        *inner.wal.lock() = Some(wal);
        Ok(Db {
            inner: Arc::new(inner),
        })
    }

    /// The WAL directory (`<dir>/wal`), which remote write tails.
    pub fn wal_dir(&self) -> &Path {
        &self.inner.wal_dir
    }

    /// The options in effect (after [`Options::validated`]).
    pub fn options(&self) -> &Options {
        &self.inner.opts
    }

    /// The number of series in memory.
    pub fn num_series(&self) -> usize {
        self.inner.series.read().len()
    }

    /// The newest committed timestamp of series `r`, if it is in memory.
    pub fn last_timestamp(&self, r: SeriesRef) -> Option<Timestamp> {
        self.inner.series.read().by_ref(r).map(|s| s.last_ts())
    }

    /// The reference of the series with exactly `labels`, if it is in memory.
    pub fn series_ref(&self, labels: &Labels) -> Option<SeriesRef> {
        self.inner
            .series
            .read()
            .by_labels(labels)
            .map(|s| s.series_ref)
    }

    /// The storage's self-metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Appends the `prometheus_agent_*` metrics and the WAL's `prometheus_tsdb_wal_*` ones
    /// in the text exposition format, sorted by name.
    pub fn write_metrics(&self, out: &mut String) {
        self.inner.metrics.write_text(out);
        let compression = match self.inner.opts.wal_compression {
            crate::wlog::Compression::None => None,
            crate::wlog::Compression::Snappy => Some("snappy"),
            crate::wlog::Compression::Zstd => Some("zstd"),
        };
        let mut f = crate::metrics::Families::default();
        self.inner.wal_metrics.families(
            &mut f,
            "prometheus_tsdb_wal_",
            &self.inner.wal_dir,
            compression,
        );
        f.write(out);
    }

    /// Forgets series without a sample at or after `mint`, starts a new segment, and, when
    /// there are enough segments, writes a checkpoint of the older two thirds (keeping live
    /// series, recently forgotten ones, and samples at or after `mint`) and deletes the
    /// segments and checkpoints it replaces (Go's agent `truncate`).
    ///
    /// # Errors
    /// When the segments can't be listed, a new segment can't be started, or the checkpoint
    /// fails (segment deletion failures are only counted: the next truncation retries).
    pub fn truncate(&self, mint: Timestamp) -> Result<()> {
        self.inner.truncate(mint)
    }

    /// Runs [`Db::truncate`] on a std thread every [`Options::truncate_frequency`], at
    /// [`truncation_time`]`(lowest_sent(), now)`. `lowest_sent` reports the lowest timestamp
    /// every remote-write queue has sent (0 without queues).
    pub fn spawn_truncator(
        &self,
        lowest_sent: Box<dyn Fn() -> Timestamp + Send>,
        on_error: Box<dyn Fn(&Error) + Send>,
    ) -> Truncator {
        let inner = Arc::clone(&self.inner);
        let thread = Periodic::spawn(self.inner.opts.truncate_frequency, move || {
            if inner.closed.load(Ordering::Acquire) {
                return ControlFlow::Break(());
            }
            let ts = truncation_time(&inner.opts, lowest_sent(), now_ms());
            if let Err(e) = inner.truncate(ts) {
                on_error(&e);
            }
            ControlFlow::Continue(())
        });
        Truncator { thread }
    }

    /// Flushes and fsyncs the WAL and releases the lock file. Later appends fail.
    ///
    /// # Errors
    /// On I/O errors.
    pub fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let _truncation = self.inner.truncation.lock();
        let res = match self.inner.wal.lock().take() {
            Some(mut wal) => wal.close(),
            None => Ok(()),
        };
        if let Some(lock) = self.inner.lock_file.lock().take() {
            lock.release();
        }
        res
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // Best effort: what is not flushed here is what a crash would lose.
        let _ = self.close();
    }
}

/// Stops the thread [`Db::spawn_truncator`] started.
#[derive(Debug)]
pub struct Truncator {
    thread: Periodic,
}

impl Truncator {
    /// Stops the thread, waiting for a truncation in progress to finish.
    pub fn stop(mut self) {
        self.thread.stop();
    }
}

fn now_ms() -> Timestamp {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

impl Inner {
    /// Rebuilds the series from the newest checkpoint and the segments after it.
    fn replay(&self) -> Result<()> {
        tracing::info!(dir = %self.wal_dir.display(), "replaying WAL, this may take a while");
        let mut first_segment = 0;
        if let Some((index, cp)) = checkpoint::last_checkpoint(&self.wal_dir)? {
            let mut r = Reader::new(SegmentReader::open(&cp, None, None)?);
            self.load(&mut r)?;
            first_segment = index + 1;
        }
        // Segment by segment (no record spans two), saying so as Prometheus's agent does; a
        // segment missing in between fails to open, as there.
        let segments: Vec<u64> = wlog::list_segments(&self.wal_dir)?
            .into_iter()
            .filter(|&k| k >= first_segment)
            .collect();
        let (Some(&first), Some(&last)) = (segments.first(), segments.last()) else {
            return Ok(());
        };
        for k in first..=last {
            let mut r = Reader::new(SegmentReader::open(&self.wal_dir, Some(k), Some(k))?);
            self.load(&mut r)?;
            tracing::info!(segment = k, maxSegment = last, "WAL segment loaded");
        }
        Ok(())
    }

    fn load(&self, r: &mut Reader<SegmentReader>) -> Result<()> {
        let mut map = self.series.write();
        let mut last_ref = self.next_ref.load(Ordering::Acquire);
        let result = self.load_records(r, &mut map, &mut last_ref);
        self.next_ref.store(last_ref, Ordering::Release);
        self.metrics
            .active_series
            .store(map.len() as i64, Ordering::Relaxed);
        result
    }

    fn load_records(
        &self,
        r: &mut Reader<SegmentReader>,
        map: &mut SeriesMap,
        last_ref: &mut u64,
    ) -> Result<()> {
        let (mut series, mut samples) = (Vec::new(), Vec::new());
        loop {
            let rec = match r.next_record() {
                Ok(Some(rec)) => rec,
                Ok(None) => break,
                Err(e) => return Err(e.into()),
            };
            let corrupt = |e: Error, r: &Reader<SegmentReader>| -> Error {
                Error::WalCorrupt(CorruptionError {
                    msg: e.to_string(),
                    ..r.corruption(String::new())
                })
            };
            match RecordType::of(rec) {
                RecordType::Series => {
                    series.clear();
                    if let Err(e) = record::decode_series(rec, &mut series) {
                        return Err(corrupt(e, r));
                    }
                    for s in series.drain(..) {
                        if map.contains(s.series_ref) {
                            continue;
                        }
                        *last_ref = (*last_ref).max(s.series_ref);
                        // A series without samples keeps timestamp 0 and goes at the next
                        // truncation, as in Prometheus.
                        let m = MemSeries::new(s.series_ref, s.labels, 0);
                        m.mark_logged();
                        map.insert(Arc::new(m));
                    }
                }
                RecordType::Samples | RecordType::SamplesV2 => {
                    samples.clear();
                    if let Err(e) = record::decode_samples(rec, &mut samples) {
                        return Err(corrupt(e, r));
                    }
                    // Samples of unknown series are skipped, as in Prometheus.
                    for s in &samples {
                        if let Some(m) = map.by_ref(s.series_ref) {
                            m.raise_timestamp(s.t);
                        }
                    }
                }
                RecordType::HistogramSamples => {
                    let mut hs = Vec::new();
                    if let Err(e) = record::decode_histogram_samples(rec, &mut hs) {
                        return Err(corrupt(e, r));
                    }
                    for s in &hs {
                        if let Some(m) = map.by_ref(s.series_ref) {
                            m.raise_timestamp(s.t);
                        }
                    }
                }
                RecordType::FloatHistogramSamples => {
                    let mut hs = Vec::new();
                    if let Err(e) = record::decode_float_histogram_samples(rec, &mut hs) {
                        return Err(corrupt(e, r));
                    }
                    for s in &hs {
                        if let Some(m) = map.by_ref(s.series_ref) {
                            m.raise_timestamp(s.t);
                        }
                    }
                }
                // Tombstones, exemplars, metadata: nothing to rebuild.
                _ => {}
            }
        }
        Ok(())
    }

    fn truncate(&self, mint: Timestamp) -> Result<()> {
        let _serial = self.truncation.lock();
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::InvalidArgument("the agent storage is closed".into()));
        }
        let start = Instant::now();
        self.gc(mint)?;

        let Some((first, last)) = wlog::segment_range(&self.wal_dir)? else {
            return Ok(());
        };
        // A new segment, so that a quiet agent does not keep more WAL than needed.
        match self.wal.lock().as_mut() {
            Some(wal) => {
                wal.next_segment()?;
            }
            None => return Err(Error::InvalidArgument("the agent storage is closed".into())),
        }
        // Never checkpoint the newest segment; the lower two thirds hold mostly old samples,
        // and fewer than two segments are not worth a checkpoint.
        if last == 0 {
            return Ok(());
        }
        let last = first + (last - 1 - first) * 2 / 3;
        if last <= first {
            return Ok(());
        }

        Metrics::inc(&self.metrics.checkpoint_creations);
        let recently_deleted: std::collections::HashSet<u64> = self
            .deleted
            .lock()
            .iter()
            .filter(|&(_, &seg)| seg > last)
            .map(|(&r, _)| r)
            .collect();
        let keep_fn = |r: u64| self.series.read().contains(r) || recently_deleted.contains(&r);
        if let Err(e) = checkpoint::checkpoint(
            &self.wal_dir,
            first,
            last,
            &keep_fn,
            mint,
            self.opts.wal_compression,
        ) {
            Metrics::inc(&self.metrics.checkpoint_creations_failed);
            if matches!(e, Error::WalCorrupt(_)) {
                Metrics::inc(&self.metrics.corruptions);
            }
            return Err(e);
        }
        // A failed deletion is retried by the next truncation; the checkpoint supersedes the
        // leftover segments meanwhile.
        if let Some(wal) = self.wal.lock().as_mut() {
            let _ = wal.truncate(last + 1);
        }
        {
            let mut deleted = self.deleted.lock();
            deleted.retain(|_, seg| *seg > last);
            self.metrics
                .deleted_series
                .store(deleted.len() as i64, Ordering::Relaxed);
        }
        Metrics::inc(&self.metrics.checkpoint_deletions);
        if checkpoint::delete_checkpoints(&self.wal_dir, last).is_err() {
            Metrics::inc(&self.metrics.checkpoint_deletions_failed);
        }
        Metrics::observe(&self.metrics.truncate_duration_nanos, start.elapsed());
        Metrics::inc(&self.metrics.truncations);
        Ok(())
    }

    /// Removes series without samples since `mint`, remembering the newest segment so that
    /// their series records outlive the samples that may still reference them.
    fn gc(&self, mint: Timestamp) -> Result<()> {
        let gone = self.series.write().gc(mint);
        self.metrics
            .active_series
            .fetch_sub(gone.len() as i64, Ordering::Relaxed);
        let last = wlog::segment_range(&self.wal_dir)?.map_or(0, |(_, l)| l);
        let mut deleted = self.deleted.lock();
        let mut last_exemplars = self.last_exemplars.lock();
        for r in gone {
            last_exemplars.remove(&r);
            deleted.insert(r, last);
        }
        drop(last_exemplars);
        self.metrics
            .deleted_series
            .store(deleted.len() as i64, Ordering::Relaxed);
        Ok(())
    }

    /// The oldest timestamp not allowed after `last_ts` (without underflow).
    fn min_valid_time(&self, last_ts: Timestamp) -> Timestamp {
        last_ts.saturating_sub(self.opts.out_of_order_time_window)
    }

    /// Logs records to the WAL.
    fn log(&self, recs: &[&[u8]]) -> Result<()> {
        match self.wal.lock().as_mut() {
            Some(wal) => wal.log(recs),
            None => Err(Error::InvalidArgument("the agent storage is closed".into())),
        }
    }
}

impl Appendable for Db {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(AgentAppender {
            db: Arc::clone(&self.inner),
            pending_series: Vec::new(),
            pending_series_refs: Vec::new(),
            pending_samples: Vec::new(),
            pending_exemplars: Vec::new(),
            pending_histograms: Vec::new(),
            sample_series: Vec::new(),
        })
    }
}

/// An appender of the agent storage: buffers series and samples until commit.
struct AgentAppender {
    db: Arc<Inner>,
    pending_series: Vec<RefSeries>,
    /// The series of `pending_series`, marked logged once their records are written.
    pending_series_refs: Vec<Arc<MemSeries>>,
    pending_samples: Vec<RefSample>,
    pending_exemplars: Vec<RefExemplar>,
    /// The series of each pending sample, for the timestamp update at commit.
    sample_series: Vec<Arc<MemSeries>>,
    /// Pending native histograms (integer or float) with their series.
    pending_histograms: Vec<(Arc<MemSeries>, i64, PendingHistogram)>,
}

/// A native histogram waiting for commit.
enum PendingHistogram {
    Int(model::Histogram),
    Float(model::FloatHistogram),
}

fn backend(e: Error) -> storage::Error {
    match e {
        Error::Storage(e) => e,
        other => storage::Error::backend(other),
    }
}

impl AgentAppender {
    fn get_or_create(&mut self, labels: &Labels) -> storage::Result<Arc<MemSeries>> {
        // Empty values mean "no label", as in Prometheus.
        let clean;
        let labels = if labels.iter().any(|(_, v)| v.is_empty()) {
            clean = Labels::from_pairs(labels.iter().filter(|(_, v)| !v.is_empty()));
            &clean
        } else {
            labels
        };
        if labels.is_empty() {
            return Err(storage::Error::InvalidLabels {
                labels: labels.to_string(),
                reason: "empty label set",
            });
        }
        let names: Vec<&str> = labels.iter().map(|(n, _)| n).collect();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(storage::Error::InvalidLabels {
                labels: labels.to_string(),
                reason: "label name is not unique",
            });
        }
        if let Some(s) = self.db.series.read().by_labels(labels) {
            return Ok(s.clone());
        }
        let mut map = self.db.series.write();
        if let Some(s) = map.by_labels(labels) {
            return Ok(s.clone());
        }
        let r = self.db.next_ref.fetch_add(1, Ordering::AcqRel) + 1;
        let s = Arc::new(MemSeries::new(r, labels.clone(), i64::MIN));
        map.insert(s.clone());
        drop(map);
        self.pending_series.push(RefSeries {
            series_ref: r,
            labels: labels.clone(),
        });
        self.pending_series_refs.push(s.clone());
        self.db
            .metrics
            .active_series
            .fetch_add(1, Ordering::Relaxed);
        Ok(s)
    }

    /// Writes the series records of series created by this appender (they exist in memory
    /// whatever happens to the samples).
    fn log_series(&mut self) -> storage::Result<()> {
        if self.pending_series.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        record::encode_series(&self.pending_series, &mut buf);
        self.pending_series.clear();
        self.db.log(&[&buf]).map_err(backend)?;
        self.series_logged();
        Ok(())
    }

    /// Marks the series of the records just written as logged.
    fn series_logged(&mut self) {
        for s in self.pending_series_refs.drain(..) {
            s.mark_logged();
        }
    }

    /// Makes sure the series record of `series` goes to the WAL no later than this batch's
    /// samples: another appender may have created the series and not committed yet (Go's
    /// agent has this race and drops such samples on replay and in remote write).
    fn log_series_with_batch(&mut self, series: &Arc<MemSeries>) {
        if series.is_logged()
            || self
                .pending_series_refs
                .iter()
                .rev()
                .any(|p| Arc::ptr_eq(p, series))
        {
            return;
        }
        self.pending_series.push(RefSeries {
            series_ref: series.series_ref,
            labels: series.labels.clone(),
        });
        self.pending_series_refs.push(series.clone());
    }

    /// The series a sample at `t` goes to (found by `r`, else by `labels`, else created),
    /// after the checks every append makes: the storage is open and `t` is not out of order.
    fn series_for_sample(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: Timestamp,
    ) -> storage::Result<Arc<MemSeries>> {
        if self.db.closed.load(Ordering::Acquire) {
            return Err(backend(Error::InvalidArgument(
                "the agent storage is closed".into(),
            )));
        }
        let known = if r == 0 {
            None
        } else {
            self.db.series.read().by_ref(r).cloned()
        };
        let series = match known {
            Some(s) => s,
            None => self.get_or_create(labels)?,
        };
        self.log_series_with_batch(&series);
        if t <= self.db.min_valid_time(series.last_ts()) {
            Metrics::inc(&self.db.metrics.out_of_order_samples);
            return Err(storage::Error::OutOfOrderSample);
        }
        Ok(series)
    }

    fn clear(&mut self) {
        self.pending_series.clear();
        self.pending_series_refs.clear();
        self.pending_samples.clear();
        self.pending_exemplars.clear();
        self.sample_series.clear();
        self.pending_histograms.clear();
    }

    /// The WAL records of the pending histograms, split by kind and custom buckets as
    /// Prometheus writes them (types 7 to 10).
    fn histogram_records(&self) -> Vec<Vec<u8>> {
        let mut parts: [(
            Vec<record::RefHistogramSample>,
            Vec<record::RefFloatHistogramSample>,
        ); 2] = Default::default();
        for (series, t, h) in &self.pending_histograms {
            match h {
                PendingHistogram::Int(h) => {
                    parts[usize::from(h.uses_custom_buckets())]
                        .0
                        .push(record::RefHistogramSample {
                            series_ref: series.series_ref,
                            t: *t,
                            h: h.clone(),
                        })
                }
                PendingHistogram::Float(fh) => parts[usize::from(fh.uses_custom_buckets())].1.push(
                    record::RefFloatHistogramSample {
                        series_ref: series.series_ref,
                        t: *t,
                        fh: fh.clone(),
                    },
                ),
            }
        }
        let mut out = Vec::new();
        for (custom, (ints, floats)) in parts.iter().enumerate() {
            if !ints.is_empty() {
                let mut buf = Vec::new();
                record::encode_histogram_samples(ints, custom == 1, &mut buf);
                out.push(buf);
            }
            if !floats.is_empty() {
                let mut buf = Vec::new();
                record::encode_float_histogram_samples(floats, custom == 1, &mut buf);
                out.push(buf);
            }
        }
        out
    }
}

impl Appender for AgentAppender {
    fn append(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> storage::Result<SeriesRef> {
        let series = self.series_for_sample(r, labels, t)?;
        self.pending_samples.push(RefSample {
            series_ref: series.series_ref,
            t,
            v,
        });
        self.sample_series.push(series.clone());
        Metrics::inc(&self.db.metrics.samples_appended);
        Ok(series.series_ref)
    }

    /// Adds a native histogram (`h` or `fh`), logged at commit as Prometheus's histogram
    /// records for remote write.
    ///
    /// # Errors
    /// [`storage::Error::OutOfOrderSample`] at or before the series' newest sample, or when
    /// neither or both histograms are given.
    fn append_histogram(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: Timestamp,
        h: Option<&model::Histogram>,
        fh: Option<&model::FloatHistogram>,
    ) -> storage::Result<SeriesRef> {
        let pending = match (h, fh) {
            (Some(h), None) => {
                h.validate().map_err(crate::head::invalid_histogram)?;
                PendingHistogram::Int(h.clone())
            }
            (None, Some(fh)) => {
                fh.validate().map_err(crate::head::invalid_histogram)?;
                PendingHistogram::Float(fh.clone())
            }
            _ => {
                return Err(backend(Error::InvalidArgument(
                    "append_histogram needs exactly one of an integer and a float histogram".into(),
                )));
            }
        };
        let series = self.series_for_sample(r, labels, t)?;
        let r = series.series_ref;
        self.pending_histograms.push((series, t, pending));
        Metrics::inc(&self.db.metrics.histograms_appended);
        Ok(r)
    }

    /// Adds an exemplar of the series `r` (the agent finds series by reference only, as
    /// Go's agent), logged with the batch for remote write. A repeat of the series' newest
    /// exemplar is dropped (`Ok(0)`), as the TSDB does.
    ///
    /// # Errors
    /// For an unknown reference, or [`storage::Error::ExemplarLabelLength`].
    fn append_exemplar(
        &mut self,
        r: SeriesRef,
        _labels: &Labels,
        exemplar: &storage::Exemplar,
    ) -> storage::Result<SeriesRef> {
        let Some(series) = self.db.series.read().by_ref(r).cloned() else {
            return Err(backend(Error::InvalidArgument(format!(
                "unknown series ref when trying to add exemplar: {r}"
            ))));
        };
        self.log_series_with_batch(&series);
        let mut e = exemplar.clone();
        if e.labels.iter().any(|(_, v)| v.is_empty()) {
            e.labels = Labels::from_pairs(e.labels.iter().filter(|(_, v)| !v.is_empty()));
        }
        crate::exemplar::check_label_length(&e.labels)?;
        {
            let mut last = self.db.last_exemplars.lock();
            if last.get(&r).is_some_and(|prev| *prev == e) {
                return Ok(0);
            }
            last.insert(r, e.clone());
        }
        self.pending_exemplars.push(RefExemplar {
            series_ref: r,
            t: e.ts,
            v: e.value,
            labels: e.labels,
        });
        Metrics::inc(&self.db.metrics.exemplars_appended);
        Ok(r)
    }

    /// Writes the batch to the WAL (not fsynced: like Prometheus, committed samples survive a
    /// crash of the process, not of the machine).
    fn commit(mut self: Box<Self>) -> storage::Result<()> {
        let mut series_buf = Vec::new();
        let mut samples_buf = Vec::new();
        let mut exemplars_buf = Vec::new();
        let mut recs: Vec<&[u8]> = Vec::with_capacity(3);
        if !self.pending_series.is_empty() {
            record::encode_series(&self.pending_series, &mut series_buf);
            recs.push(&series_buf);
        }
        if !self.pending_samples.is_empty() {
            record::encode_samples(&self.pending_samples, &mut samples_buf);
            recs.push(&samples_buf);
        }
        let histogram_bufs = self.histogram_records();
        recs.extend(histogram_bufs.iter().map(Vec::as_slice));
        if !self.pending_exemplars.is_empty() {
            record::encode_exemplars(&self.pending_exemplars, &mut exemplars_buf);
            recs.push(&exemplars_buf);
        }
        if !recs.is_empty() {
            self.db.log(&recs).map_err(backend)?;
        }
        self.pending_series.clear();
        self.series_logged();
        for (s, series) in self.pending_samples.iter().zip(&self.sample_series) {
            if !series.update_timestamp(s.t) {
                Metrics::inc(&self.db.metrics.out_of_order_samples);
            }
        }
        for (series, t, _) in &self.pending_histograms {
            if !series.update_timestamp(*t) {
                Metrics::inc(&self.db.metrics.out_of_order_samples);
            }
        }
        self.clear();
        Ok(())
    }

    fn rollback(mut self: Box<Self>) -> storage::Result<()> {
        let res = self.log_series();
        self.clear();
        res
    }
}

impl Drop for AgentAppender {
    fn drop(&mut self) {
        // Dropped without commit or rollback: the samples go, the series records must not.
        let _ = self.log_series();
    }
}

#[cfg(test)]
mod tests;
