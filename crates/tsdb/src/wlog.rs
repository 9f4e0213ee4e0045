//! The write-ahead log (`wal/`): segment files of 32 KiB pages holding checksummed record
//! fragments, in Prometheus's exact format (`tsdb/wlog`).
//!
//! A WAL directory holds segments named by an 8-digit index (`00000000`, `00000001`, ...) of at
//! most [`DEFAULT_SEGMENT_SIZE`] bytes, and optionally checkpoints (`checkpoint.NNNNNNNN/`, see
//! [`crate::checkpoint`]). A segment is a sequence of [`PAGE_SIZE`] pages; a record is split
//! into fragments that never cross a page, and a record never crosses a segment (so whole
//! segments can be deleted safely). Each fragment is
//!
//! ```text
//! type (1 B: 3 unused bits | zstd flag | snappy flag | 3-bit full/first/middle/last)
//! length (u16 BE) | CRC32-Castagnoli of the data (u32 BE) | data
//! ```
//!
//! A type byte of 0 means that the rest of the page is zero padding.
//!
//! [`Wal`] writes records ([`Wal::log`]); [`reader::Reader`] reads them back over one or more
//! segments ([`reader::SegmentReader`]) and reports a [`CorruptionError`] with the segment and
//! offset of the first damage, which [`Wal::repair`] uses to truncate the log there, as
//! Prometheus does.

pub mod reader;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::error::{Error, Result, io_err};
use crate::metrics::WalMetrics;

/// The directory name of the write-behind log of out-of-order samples.
pub const WBL_DIR_NAME: &str = "wbl";

/// The default maximum size of a segment: 128 MiB.
pub const DEFAULT_SEGMENT_SIZE: usize = 128 * 1024 * 1024;
/// The size of a page: 32 KiB. Segments are written page by page.
pub const PAGE_SIZE: usize = 32 * 1024;
/// The size of a fragment header: type, length, CRC.
pub const RECORD_HEADER_SIZE: usize = 7;

const SNAPPY_MASK: u8 = 1 << 3;
const ZSTD_MASK: u8 = 1 << 4;
const REC_TYPE_MASK: u8 = SNAPPY_MASK - 1;

/// The zstd level used for compressed records (Go's `zstd.SpeedDefault` corresponds to 3).
const ZSTD_LEVEL: i32 = 3;

/// The kind of a fragment (the low 3 bits of its type byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FragmentType {
    /// The rest of the page is zero padding.
    PageTerm,
    /// A whole record.
    Full,
    /// The first fragment of a record.
    First,
    /// A middle fragment of a record.
    Middle,
    /// The last fragment of a record.
    Last,
    /// Anything else: corruption.
    Invalid(u8),
}

impl FragmentType {
    pub(crate) fn from_header(b: u8) -> FragmentType {
        match b & REC_TYPE_MASK {
            0 => FragmentType::PageTerm,
            1 => FragmentType::Full,
            2 => FragmentType::First,
            3 => FragmentType::Middle,
            4 => FragmentType::Last,
            other => FragmentType::Invalid(other),
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            FragmentType::PageTerm => 0,
            FragmentType::Full => 1,
            FragmentType::First => 2,
            FragmentType::Middle => 3,
            FragmentType::Last => 4,
            FragmentType::Invalid(b) => b,
        }
    }
}

/// How records are compressed before they are split into fragments.
///
/// Readers always understand every kind, whatever the writer uses; a record that would not
/// shrink is stored uncompressed, as Prometheus does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// No compression.
    None,
    /// Snappy block format (Prometheus's `--storage.tsdb.wal-compression`, the default there).
    #[default]
    Snappy,
    /// Zstandard frames.
    Zstd,
}

/// When the WAL calls `fsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// As Prometheus: a segment is fsynced when it is complete (in a background thread) and on
    /// close. A committed record is in the operating system's page cache, so it survives a
    /// crash of the process but not of the machine.
    #[default]
    OnSegmentClose,
    /// Additionally fsync after every [`Wal::log`] call (every commit): slower, but committed
    /// records survive power loss.
    Always,
}

/// Options of a [`Wal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// Maximum size of a segment; a multiple of [`PAGE_SIZE`].
    pub segment_size: usize,
    /// Record compression for new records.
    pub compression: Compression,
    /// When to fsync.
    pub sync: SyncPolicy,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
            compression: Compression::Snappy,
            sync: SyncPolicy::OnSegmentClose,
        }
    }
}

/// Damage found while reading a WAL: where it is, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct CorruptionError {
    /// The directory of the segment, when reading segment files.
    pub dir: Option<PathBuf>,
    /// The segment index, when reading segment files.
    pub segment: Option<u64>,
    /// Byte offset into the segment (or into the stream when `segment` is `None`).
    pub offset: u64,
    /// What is wrong.
    pub msg: String,
}

impl CorruptionError {
    fn describe(&self) -> String {
        match (&self.dir, self.segment) {
            (Some(dir), Some(seg)) => format!(
                "corruption in WAL segment {} at offset {}: {}",
                segment_name(dir, seg).display(),
                self.offset,
                self.msg
            ),
            _ => format!("WAL corruption after {} bytes: {}", self.offset, self.msg),
        }
    }
}

/// The path of segment `index` in `dir` (8 digits, as Prometheus's code writes them).
pub fn segment_name(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:08}"))
}

/// The indexes of the segments in `dir`, sorted. Entries whose name is not a number are
/// ignored (checkpoints, temporary files).
///
/// # Errors
/// When the directory can't be read or the segments are not consecutive.
pub fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let mut refs = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("listing", dir))? {
        let entry = entry.map_err(io_err("listing", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(k) = name.parse::<u64>() {
            refs.push(k);
        }
    }
    refs.sort_unstable();
    for w in refs.windows(2) {
        if w[0] + 1 != w[1] {
            return Err(Error::InvalidArgument(format!(
                "WAL segments in {} are not sequential: {} is followed by {}",
                dir.display(),
                w[0],
                w[1]
            )));
        }
    }
    Ok(refs)
}

/// The first and last segment index in `dir`, or `None` when there is none.
///
/// # Errors
/// As [`list_segments`].
pub fn segment_range(dir: &Path) -> Result<Option<(u64, u64)>> {
    let refs = list_segments(dir)?;
    Ok(match (refs.first(), refs.last()) {
        (Some(&f), Some(&l)) => Some((f, l)),
        _ => None,
    })
}

/// The total size of the files in `dir`, recursively.
pub fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            total += dir_size(&entry.path());
        } else {
            total += meta.len();
        }
    }
    total
}

/// The page being filled; written to the segment file on every flush.
struct Page {
    alloc: usize,
    flushed: usize,
    buf: Box<[u8; PAGE_SIZE]>,
}

impl Page {
    fn new() -> Page {
        Page {
            alloc: 0,
            flushed: 0,
            buf: Box::new([0; PAGE_SIZE]),
        }
    }

    fn remaining(&self) -> usize {
        PAGE_SIZE - self.alloc
    }

    fn full(&self) -> bool {
        PAGE_SIZE - self.alloc < RECORD_HEADER_SIZE
    }

    fn reset(&mut self) {
        self.buf.fill(0);
        self.alloc = 0;
        self.flushed = 0;
    }
}

/// A write-ahead log open for appending.
///
/// Opening always starts a new segment after the last existing one, as Prometheus does, so
/// existing segments are never modified except by [`Wal::repair`] and [`Wal::truncate`].
/// The log must be read (replayed) before new records are relied upon: a corrupt tail found
/// while reading is removed with [`Wal::repair`].
///
/// `Wal` is not synchronised: callers serialise access (the head holds it in a mutex).
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    segment: File,
    segment_index: u64,
    done_pages: usize,
    page: Page,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    snappy: snap::raw::Encoder,
    syncs: Vec<JoinHandle<()>>,
    closed: bool,
    metrics: Arc<WalMetrics>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("segment", &self.segment_index)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl Wal {
    /// Opens (creating it if needed) the WAL in `dir` and starts a new segment after the last
    /// existing one.
    ///
    /// # Errors
    /// On I/O errors, a segment size that is not a multiple of [`PAGE_SIZE`], or
    /// non-consecutive segments.
    pub fn open(dir: &Path, opts: WalOptions) -> Result<Wal> {
        if opts.segment_size == 0 || !opts.segment_size.is_multiple_of(PAGE_SIZE) {
            return Err(Error::InvalidArgument(format!(
                "WAL segment size {} is not a multiple of the page size {PAGE_SIZE}",
                opts.segment_size
            )));
        }
        fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        let next = match segment_range(dir)? {
            Some((_, last)) => last + 1,
            None => 0,
        };
        let segment = create_segment(dir, next)?;
        let zstd = match opts.compression {
            Compression::Zstd => Some(
                zstd::bulk::Compressor::new(ZSTD_LEVEL)
                    .map_err(io_err("creating zstd encoder for", dir))?,
            ),
            _ => None,
        };
        let mut wal = Wal {
            dir: dir.to_path_buf(),
            opts,
            segment,
            segment_index: next,
            done_pages: 0,
            page: Page::new(),
            zstd,
            snappy: snap::raw::Encoder::new(),
            syncs: Vec::new(),
            closed: false,
            metrics: Arc::default(),
        };
        wal.set_segment_pages()?;
        Ok(wal)
    }

    /// The log's own metrics (page flushes, fsyncs, record parts, truncations).
    pub fn metrics(&self) -> &Arc<WalMetrics> {
        &self.metrics
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The index of the segment being written.
    pub fn current_segment(&self) -> u64 {
        self.segment_index
    }

    /// The compression used for new records.
    pub fn compression(&self) -> Compression {
        self.opts.compression
    }

    fn set_segment_pages(&mut self) -> Result<()> {
        let path = segment_name(&self.dir, self.segment_index);
        let len = self
            .segment
            .metadata()
            .map_err(io_err("reading metadata of", &path))?
            .len();
        self.done_pages = usize::try_from(len).unwrap_or(usize::MAX) / PAGE_SIZE;
        #[allow(clippy::cast_precision_loss)]
        self.metrics.segment_current.set(self.segment_index as f64);
        Ok(())
    }

    fn pages_per_segment(&self) -> usize {
        self.opts.segment_size / PAGE_SIZE
    }

    /// Writes the unflushed part of the page; when `force_clear` (or the page is full) pads it
    /// to its end and starts a new page.
    fn flush_page(&mut self, force_clear: bool) -> Result<()> {
        self.metrics.page_flushes.inc();
        let clear = force_clear || self.page.full();
        if clear {
            self.page.alloc = PAGE_SIZE;
        }
        let (from, to) = (self.page.flushed, self.page.alloc);
        if let Err(source) = self.segment.write_all(&self.page.buf[from..to]) {
            return Err(Error::Io {
                op: "writing",
                path: segment_name(&self.dir, self.segment_index),
                source,
            });
        }
        self.page.flushed = to;
        if clear {
            self.page.reset();
            self.done_pages += 1;
            self.metrics.completed_pages.inc();
        }
        Ok(())
    }

    /// Appends records to the log. Each call ends with a write of the current page to the
    /// segment file, so when it returns the records are in the operating system's hands (and
    /// fsynced too with [`SyncPolicy::Always`]).
    ///
    /// # Errors
    /// On I/O errors, after [`Wal::close`], or for a record larger than a segment.
    pub fn log(&mut self, recs: &[&[u8]]) -> Result<()> {
        if self.closed {
            return Err(Error::InvalidArgument("the WAL is closed".into()));
        }
        for (i, rec) in recs.iter().enumerate() {
            if let Err(e) = self.log_one(rec, i + 1 == recs.len()) {
                self.metrics.writes_failed.inc();
                return Err(e);
            }
        }
        if self.opts.sync == SyncPolicy::Always && !recs.is_empty() {
            self.sync()?;
        }
        Ok(())
    }

    fn compress(&mut self, rec: &[u8]) -> Result<Option<(Vec<u8>, u8)>> {
        let out = match self.opts.compression {
            Compression::None => return Ok(None),
            Compression::Snappy => {
                let enc = self.snappy.compress_vec(rec).map_err(|e| {
                    Error::InvalidArgument(format!("snappy-compressing a WAL record: {e}"))
                })?;
                (enc, SNAPPY_MASK)
            }
            Compression::Zstd => {
                let Some(z) = self.zstd.as_mut() else {
                    return Ok(None);
                };
                let enc = z
                    .compress(rec)
                    .map_err(io_err("zstd-compressing a record for", &self.dir))?;
                (enc, ZSTD_MASK)
            }
        };
        // Keep compression only when it saves bytes, as Prometheus does.
        if out.0.len() >= rec.len() {
            return Ok(None);
        }
        #[allow(clippy::cast_precision_loss)]
        self.metrics
            .record_bytes_saved
            .add((rec.len() - out.0.len()) as f64);
        Ok(Some(out))
    }

    fn log_one(&mut self, rec: &[u8], last: bool) -> Result<()> {
        if self.page.full() {
            self.flush_page(true)?;
        }
        let compressed = self.compress(rec)?;
        let (enc, flag): (&[u8], u8) = match &compressed {
            Some((buf, flag)) => (buf, *flag),
            None => (rec, 0),
        };
        let per_page = PAGE_SIZE - RECORD_HEADER_SIZE;
        if enc.len() > per_page * self.pages_per_segment() {
            return Err(Error::InvalidArgument(format!(
                "WAL record of {} bytes is larger than a segment",
                enc.len()
            )));
        }
        // If the record does not fit in the rest of this segment, start the next one: records
        // never cross segments.
        let left = self.page.remaining() as i64 - RECORD_HEADER_SIZE as i64
            + per_page as i64 * (self.pages_per_segment() as i64 - self.done_pages as i64 - 1);
        if enc.len() as i64 > left {
            self.next_segment_inner()?;
        }

        let mut rest = enc;
        let mut i = 0;
        while i == 0 || !rest.is_empty() {
            let alloc = self.page.alloc;
            let l = rest.len().min(PAGE_SIZE - alloc - RECORD_HEADER_SIZE);
            let part = &rest[..l];
            let typ = match (i == 0, l == rest.len()) {
                (true, true) => FragmentType::Full,
                (false, true) => FragmentType::Last,
                (true, false) => FragmentType::First,
                (false, false) => FragmentType::Middle,
            };
            let buf = &mut self.page.buf[alloc..];
            buf[0] = typ.as_u8() | flag;
            buf[1..3].copy_from_slice(&(l as u16).to_be_bytes());
            buf[3..7].copy_from_slice(&crc32c::crc32c(part).to_be_bytes());
            buf[RECORD_HEADER_SIZE..RECORD_HEADER_SIZE + l].copy_from_slice(part);
            self.page.alloc += l + RECORD_HEADER_SIZE;
            self.metrics.record_part_writes.inc();
            #[allow(clippy::cast_precision_loss)]
            self.metrics
                .record_part_bytes
                .add((l + RECORD_HEADER_SIZE) as f64);
            if self.page.full() {
                self.flush_page(true)?;
            }
            rest = &rest[l..];
            i += 1;
        }
        if last && self.page.alloc > 0 {
            self.flush_page(false)?;
        }
        Ok(())
    }

    /// Closes the current segment (padding its last page) and starts the next one. Returns the
    /// new segment's index.
    ///
    /// # Errors
    /// On I/O errors.
    pub fn next_segment(&mut self) -> Result<u64> {
        if self.closed {
            return Err(Error::InvalidArgument("the WAL is closed".into()));
        }
        self.next_segment_inner()?;
        Ok(self.segment_index)
    }

    fn next_segment_inner(&mut self) -> Result<()> {
        if self.page.alloc > 0 {
            self.flush_page(true)?;
        }
        let next = create_segment(&self.dir, self.segment_index + 1)?;
        let prev = std::mem::replace(&mut self.segment, next);
        self.segment_index += 1;
        self.set_segment_pages()?;
        // Don't block appends on the fsync of the finished segment.
        self.syncs.retain(|h| !h.is_finished());
        let metrics = Arc::clone(&self.metrics);
        self.syncs.push(std::thread::spawn(move || {
            // A failed fsync of a completed segment is not fatal: the data is in the page
            // cache and the next checkpoint rewrites what is still needed.
            let start = Instant::now();
            let _ = prev.sync_all();
            metrics.fsync_duration.observe_since(start);
        }));
        Ok(())
    }

    /// Fsyncs the current segment.
    ///
    /// # Errors
    /// On I/O errors.
    pub fn sync(&mut self) -> Result<()> {
        let path = segment_name(&self.dir, self.segment_index);
        let start = Instant::now();
        let res = self.segment.sync_data().map_err(io_err("syncing", &path));
        self.metrics.fsync_duration.observe_since(start);
        res
    }

    /// Deletes all segments before `index`.
    ///
    /// # Errors
    /// On I/O errors.
    pub fn truncate(&mut self, index: u64) -> Result<()> {
        self.metrics.truncations.inc();
        let res = self.truncate_before(index);
        if res.is_err() {
            self.metrics.truncations_failed.inc();
        }
        res
    }

    fn truncate_before(&mut self, index: u64) -> Result<()> {
        for k in list_segments(&self.dir)? {
            if k >= index {
                break;
            }
            let path = segment_name(&self.dir, k);
            fs::remove_file(&path).map_err(io_err("deleting", &path))?;
        }
        Ok(())
    }

    /// The size of the WAL directory in bytes, checkpoints included.
    pub fn size(&self) -> u64 {
        dir_size(&self.dir)
    }

    /// Repairs the log after `err` was found while reading it, as Prometheus does: segments
    /// after the damaged one are deleted, the damaged segment is rewritten with the records
    /// before the damage, and writing continues in a fresh segment after it.
    ///
    /// # Errors
    /// When `err` carries no segment, or on I/O errors.
    pub fn repair(&mut self, err: &CorruptionError) -> Result<()> {
        let Some(seg) = err.segment else {
            return Err(Error::InvalidArgument(format!(
                "cannot repair the WAL: the corruption has no segment ({err})"
            )));
        };
        if err.dir.as_deref().is_some_and(|d| d != self.dir) {
            return Err(Error::InvalidArgument(format!(
                "cannot repair the WAL in {}: the corruption is elsewhere ({err})",
                self.dir.display()
            )));
        }
        for k in list_segments(&self.dir)? {
            if k <= seg {
                continue;
            }
            let path = segment_name(&self.dir, k);
            fs::remove_file(&path).map_err(io_err("deleting", &path))?;
        }
        let path = segment_name(&self.dir, seg);
        let tmp = path.with_extension("repair");
        fs::rename(&path, &tmp).map_err(io_err("renaming", &path))?;
        self.segment = create_segment(&self.dir, seg)?;
        self.segment_index = seg;
        self.page.reset();
        self.set_segment_pages()?;

        let mut r = reader::Reader::new(reader::SegmentReader::open_files(vec![(
            self.dir.clone(),
            seg,
            tmp.clone(),
        )])?);
        // Records that end before the damage are kept; the reader's error is expected.
        while let Ok(Some(rec)) = r.next_record() {
            let rec = rec.to_vec();
            if r.offset() >= err.offset {
                break;
            }
            self.log_one(&rec, true)?;
        }
        drop(r);
        if self.page.alloc > 0 {
            self.flush_page(true)?;
        }
        self.sync()?;
        fs::remove_file(&tmp).map_err(io_err("deleting", &tmp))?;
        self.segment = create_segment(&self.dir, seg + 1)?;
        self.segment_index = seg + 1;
        self.set_segment_pages()?;
        Ok(())
    }

    /// Flushes and pads the last page, fsyncs and closes the log. Later calls to
    /// [`Wal::log`] fail.
    ///
    /// # Errors
    /// On I/O errors.
    pub fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        // Never flush an empty page: it would mark the segment as done.
        if self.page.alloc > 0 {
            self.flush_page(true)?;
        }
        for h in self.syncs.drain(..) {
            let _ = h.join();
        }
        self.sync()?;
        self.closed = true;
        Ok(())
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if !self.closed {
            // Best effort: losing this write only loses what a crash would have lost.
            let _ = self.close();
        }
    }
}

fn create_segment(dir: &Path, index: u64) -> Result<File> {
    let path = segment_name(dir, index);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_err("creating", &path))
}

#[cfg(test)]
mod tests;
