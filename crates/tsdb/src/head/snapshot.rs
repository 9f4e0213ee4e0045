//! Chunk snapshots (Prometheus's `memory-snapshot-on-shutdown`, `tsdb/head_wal.go`).
//!
//! At close the head writes `chunk_snapshot.<segment>.<offset>` into its directory: a log
//! in the WAL's segment format holding one record per series (its labels and open chunk),
//! then one tombstones record, then exemplar records. `<segment>.<offset>` is the end of
//! the WAL when the snapshot was taken, so at the next open the snapshot is loaded first
//! and only the WAL after that position is replayed (plus the memory-mapped chunks). A
//! snapshot that cannot be read is dropped and the whole WAL replayed instead.
//!
//! Record layouts, as Prometheus writes them (big-endian integers):
//! - series (1): ref (8 bytes), labels (uvarint count, uvarint-prefixed names and
//!   values), a zero 8-byte word (once the chunk range), uvarint 0 without an open chunk
//!   or 1 followed by its min and max time, encoding byte, uvarint-prefixed chunk bytes,
//!   and the last value: for XOR chunks 48 zero bytes, a zero time and the value's bits;
//!   for histogram chunks the last histogram as in WAL histogram records.
//! - tombstones (2): the uvarint-prefixed tombstones encoding (format byte 1, then per
//!   interval uvarint ref and varint min and max time).
//! - exemplars (3): an exemplars WAL record's body (after its type byte).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use model::Labels;

use super::{HIST_END_COMPUTED, Head, HeadChunk, LOGGED, ReplayStats, add_interval};
use crate::chunkenc::Chunk;
use crate::error::{Error, Result, io_err};
use crate::record::{self, Decbuf, RefExemplar, encode_labels, put_uvarint, put_varint};
use crate::wlog::reader::{Reader, SegmentReader};
use crate::wlog::{self, SyncPolicy, Wal, WalOptions};

/// The name prefix of chunk snapshot directories.
pub const CHUNK_SNAPSHOT_PREFIX: &str = "chunk_snapshot.";

const REC_SERIES: u8 = 1;
const REC_TOMBSTONES: u8 = 2;
const REC_EXEMPLARS: u8 = 3;
/// Series records are logged in batches of about this many bytes (as Prometheus).
const FLUSH_BYTES: usize = 10 * 1024 * 1024;
/// Exemplars per exemplar record (as Prometheus).
const EXEMPLARS_PER_RECORD: usize = 10_000;
/// An XOR series record's last-value tail: three zero (time, value) pairs of the old
/// four-sample buffer, then a zero time before the value.
const XOR_TAIL_ZEROS: usize = 3 * 16 + 8;
/// Header of a one-sample histogram WAL record: type, base ref and time, ref and time
/// deltas (both 0, one byte each).
const HIST_RECORD_HEADER: usize = 1 + 8 + 8 + 1 + 1;

/// What [`Head::chunk_snapshot`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkSnapshotStats {
    /// Series written.
    pub total_series: usize,
    /// The snapshot directory; empty when nothing was written (nothing changed since the
    /// last snapshot, or no WAL).
    pub dir: PathBuf,
}

/// The directory name of a snapshot taken at WAL `segment` and `offset`
/// (`chunk_snapshot.000012.0000032768`).
pub fn chunk_snapshot_name(segment: u64, offset: u64) -> String {
    format!("{CHUNK_SNAPSHOT_PREFIX}{segment:06}.{offset:010}")
}

/// The WAL segment and offset of a snapshot directory name; `None` for other names
/// (including `.tmp` directories of unfinished snapshots).
fn parse_name(name: &str) -> Option<(u64, u64)> {
    let (segment, offset) = name.strip_prefix(CHUNK_SNAPSHOT_PREFIX)?.split_once('.')?;
    Some((segment.parse().ok()?, offset.parse().ok()?))
}

/// The newest chunk snapshot in `dir` (highest segment, then offset): its path, segment
/// and offset.
///
/// # Errors
/// When `dir` can't be listed, or an entry named like a snapshot is not a directory.
pub fn last_chunk_snapshot(dir: &Path) -> Result<Option<(PathBuf, u64, u64)>> {
    let mut best: Option<(PathBuf, u64, u64)> = None;
    for e in fs::read_dir(dir).map_err(io_err("listing", dir))? {
        let e = e.map_err(io_err("listing", dir))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(CHUNK_SNAPSHOT_PREFIX) {
            continue;
        }
        if !e.path().is_dir() {
            return Err(Error::InvalidArgument(format!(
                "chunk snapshot {} is not a directory",
                e.path().display()
            )));
        }
        let Some((k, off)) = parse_name(name) else {
            continue;
        };
        if best.as_ref().is_none_or(|b| (k, off) > (b.1, b.2)) {
            best = Some((e.path(), k, off));
        }
    }
    Ok(best)
}

/// Deletes the chunk snapshots of `dir` older than WAL position (`segment`, `offset`).
///
/// # Errors
/// When `dir` can't be listed or a snapshot can't be deleted (the others are still tried).
pub fn delete_chunk_snapshots(dir: &Path, segment: u64, offset: u64) -> Result<()> {
    let mut first_err = None;
    for e in fs::read_dir(dir).map_err(io_err("listing", dir))?.flatten() {
        let name = e.file_name();
        let Some((k, off)) = name.to_str().and_then(parse_name) else {
            continue;
        };
        if (k, off) < (segment, offset) {
            let p = e.path();
            if let Err(err) = fs::remove_dir_all(&p).map_err(io_err("deleting", &p)) {
                first_err.get_or_insert(err);
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Appends the body of a histogram WAL record sample (Go's `record.EncodeHistogram`).
fn encode_last_histogram(chunk: &Chunk, buf: &mut Vec<u8>) {
    let mut rec = Vec::new();
    match chunk {
        Chunk::Histogram(c) => {
            let mut it = c.iter();
            let mut h = model::Histogram::default();
            while it.next() {
                h = it.at_histogram().1;
            }
            let custom = h.schema == model::histogram::CUSTOM_BUCKETS_SCHEMA;
            let s = record::RefHistogramSample {
                series_ref: 0,
                t: 0,
                h,
            };
            record::encode_histogram_samples(&[s], custom, &mut rec);
        }
        Chunk::FloatHistogram(c) => {
            let mut it = c.iter();
            let mut fh = model::FloatHistogram::default();
            while it.next() {
                fh = it.at_float_histogram().1;
            }
            let custom = fh.schema == model::histogram::CUSTOM_BUCKETS_SCHEMA;
            let s = record::RefFloatHistogramSample {
                series_ref: 0,
                t: 0,
                fh,
            };
            record::encode_float_histogram_samples(&[s], custom, &mut rec);
        }
        Chunk::Xor(_) => return,
    }
    buf.extend_from_slice(&rec[HIST_RECORD_HEADER..]);
}

/// Checks the last-histogram tail of a series record (its value is not kept: the head
/// reads the newest histogram back from the open chunk).
fn check_last_histogram(typ: u8, tail: &[u8]) -> std::result::Result<(), String> {
    let mut rec = Vec::with_capacity(HIST_RECORD_HEADER + tail.len());
    rec.push(typ);
    rec.extend_from_slice(&[0; HIST_RECORD_HEADER - 1]);
    rec.extend_from_slice(tail);
    let res = if typ == 7 {
        record::decode_histogram_samples(&rec, &mut Vec::new())
    } else {
        record::decode_float_histogram_samples(&rec, &mut Vec::new())
    };
    res.map_err(|e| format!("last histogram: {e}"))
}

/// Appends the snapshot record of a series.
fn encode_series_record(
    r: u64,
    labels: &Labels,
    head: Option<&HeadChunk>,
    last: u64,
    buf: &mut Vec<u8>,
) {
    buf.push(REC_SERIES);
    buf.extend_from_slice(&r.to_be_bytes());
    encode_labels(labels, buf);
    buf.extend_from_slice(&0i64.to_be_bytes());
    let Some(h) = head.filter(|h| h.chunk.num_samples() > 0) else {
        put_uvarint(buf, 0);
        return;
    };
    put_uvarint(buf, 1);
    buf.extend_from_slice(&h.min_time.to_be_bytes());
    buf.extend_from_slice(&h.max_time.to_be_bytes());
    buf.push(h.chunk.encoding().as_u8());
    let bytes = h.chunk.bytes();
    put_uvarint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
    match &h.chunk {
        Chunk::Xor(_) => {
            buf.extend_from_slice(&[0; XOR_TAIL_ZEROS]);
            buf.extend_from_slice(&last.to_be_bytes());
        }
        c => encode_last_histogram(c, buf),
    }
}

/// A decoded series record.
struct SnapshotSeries {
    series_ref: u64,
    labels: Labels,
    /// The open chunk and, for XOR chunks, the last value's bits.
    head: Option<(HeadChunk, u64)>,
}

fn decode_series_record(rec: &[u8]) -> std::result::Result<SnapshotSeries, String> {
    let mut d = Decbuf::new(rec);
    let typ = d.byte()?;
    if typ != REC_SERIES {
        return Err(format!("invalid record type {typ:x}"));
    }
    let series_ref = d.be64()?;
    let labels = d.labels(&mut Vec::new())?;
    let _chunk_range = d.be64()?;
    if d.uvarint()? == 0 {
        return Ok(SnapshotSeries {
            series_ref,
            labels,
            head: None,
        });
    }
    let min_time = d.be64()? as i64;
    let max_time = d.be64()? as i64;
    let enc = d.byte()?;
    let bytes = d.uvarint_bytes()?;
    let chunk =
        Chunk::from_data(enc, bytes.to_vec()).map_err(|e| format!("chunk from data: {e}"))?;
    let last = match &chunk {
        Chunk::Xor(_) => {
            for _ in 0..XOR_TAIL_ZEROS / 8 {
                d.be64()?;
            }
            d.be64()?
        }
        Chunk::Histogram(_) => {
            check_last_histogram(7, rest(&d, rec))?;
            0
        }
        Chunk::FloatHistogram(_) => {
            check_last_histogram(8, rest(&d, rec))?;
            0
        }
    };
    Ok(SnapshotSeries {
        series_ref,
        labels,
        head: Some((
            HeadChunk {
                chunk,
                min_time,
                max_time,
            },
            last,
        )),
    })
}

/// The bytes of `rec` that `d` has not read yet.
fn rest<'a>(d: &Decbuf<'a>, rec: &'a [u8]) -> &'a [u8] {
    &rec[rec.len() - d.len()..]
}

fn encode_tombstones_record(stones: &[(u64, Vec<(i64, i64)>)]) -> Vec<u8> {
    let mut body = vec![crate::tombstones::TOMBSTONE_FORMAT_V1];
    for (r, ivs) in stones {
        for &(mint, maxt) in ivs {
            put_uvarint(&mut body, *r);
            put_varint(&mut body, mint);
            put_varint(&mut body, maxt);
        }
    }
    let mut rec = vec![REC_TOMBSTONES];
    put_uvarint(&mut rec, body.len() as u64);
    rec.extend_from_slice(&body);
    rec
}

fn decode_tombstones_record(rec: &[u8]) -> std::result::Result<Vec<(u64, i64, i64)>, String> {
    let mut d = Decbuf::new(rec);
    d.byte()?;
    let body = d.uvarint_bytes()?;
    let mut d = Decbuf::new(body);
    let format = d.byte()?;
    if format != crate::tombstones::TOMBSTONE_FORMAT_V1 {
        return Err(format!("invalid tombstone format {format:x}"));
    }
    let mut out = Vec::new();
    while d.len() > 0 {
        out.push((d.uvarint()?, d.varint()?, d.varint()?));
    }
    Ok(out)
}

impl Head {
    /// Writes a chunk snapshot of the head (Prometheus's `ChunkSnapshot`): every series
    /// with its open chunk, the tombstones and the exemplars, into
    /// `chunk_snapshot.<segment>.<offset>` (the WAL's end), then deletes older snapshots.
    /// Nothing is written without a WAL or when the WAL has not moved since the last
    /// snapshot. [`Head::close`] calls this when
    /// [`HeadOptions::memory_snapshot_on_shutdown`](super::HeadOptions) is set; taken
    /// while appends are still being committed, a sample logged just before the position
    /// may be missing from it.
    ///
    /// # Errors
    /// On I/O errors (an unfinished snapshot directory is removed).
    pub fn chunk_snapshot(&self) -> Result<ChunkSnapshotStats> {
        let (segment, offset, compression) = {
            let wal = self.wal.lock();
            let Some(w) = wal.as_ref() else {
                return Ok(ChunkSnapshotStats::default());
            };
            let segment = w.current_segment();
            let path = wlog::segment_name(w.dir(), segment);
            let offset = fs::metadata(&path)
                .map_err(io_err("reading metadata of", &path))?
                .len();
            (segment, offset, w.compression())
        };
        if let Some((_, k, off)) = last_chunk_snapshot(&self.dir)?
            && (k, off) == (segment, offset)
        {
            return Ok(ChunkSnapshotStats::default());
        }
        let dir = self.dir.join(chunk_snapshot_name(segment, offset));
        let tmp = self
            .dir
            .join(format!("{}.tmp", chunk_snapshot_name(segment, offset)));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io_err("deleting", &tmp))?;
        }
        let written = self.write_snapshot(&tmp, compression);
        let total_series = match written {
            Ok(n) => n,
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io_err("deleting", &dir))?;
        }
        fs::rename(&tmp, &dir).map_err(io_err("renaming", &tmp))?;
        crate::block::sync_dir(&self.dir)?;
        // Leftover older snapshots only take space: a newer one exists.
        let _ = delete_chunk_snapshots(&self.dir, segment, offset);
        Ok(ChunkSnapshotStats { total_series, dir })
    }

    /// Waits, at most `limit`, until no appender holds accepted samples that its commit
    /// has not applied yet (no series is marked pending), so that a snapshot taken at close
    /// has every sample logged before it. Called once the head refuses new samples.
    /// Returns whether that point was reached.
    pub(super) fn wait_for_pending_appends(&self, limit: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let pending = self.shards.iter().any(|shard| {
                shard
                    .read()
                    .series
                    .values()
                    .any(|s| s.flags & super::PENDING != 0)
            });
            if !pending {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Writes the snapshot's records into a new log in `tmp`; returns the series count.
    fn write_snapshot(&self, tmp: &Path, compression: wlog::Compression) -> Result<usize> {
        let mut cp = Wal::open(
            tmp,
            WalOptions {
                segment_size: wlog::DEFAULT_SEGMENT_SIZE,
                compression,
                sync: SyncPolicy::OnSegmentClose,
            },
        )?;
        let mut buf = Vec::new();
        let mut ends = Vec::new();
        let mut total = 0;
        let flush = |cp: &mut Wal, buf: &mut Vec<u8>, ends: &mut Vec<usize>| -> Result<()> {
            let mut start = 0;
            let recs: Vec<&[u8]> = ends
                .iter()
                .map(|&end| {
                    let r = &buf[start..end];
                    start = end;
                    r
                })
                .collect();
            cp.log(&recs)?;
            buf.clear();
            ends.clear();
            Ok(())
        };
        for shard in self.shards.iter() {
            let shard = shard.read();
            for (&r, ms) in &shard.series {
                let last = ms.last_value;
                encode_series_record(r, &ms.labels, ms.head.as_ref(), last, &mut buf);
                ends.push(buf.len());
                total += 1;
                if buf.len() > FLUSH_BYTES {
                    flush(&mut cp, &mut buf, &mut ends)?;
                }
            }
        }
        let stones: Vec<(u64, Vec<(i64, i64)>)> = self
            .tombstones
            .lock()
            .iter()
            .map(|(r, ivs)| (*r, ivs.clone()))
            .collect();
        buf.extend_from_slice(&encode_tombstones_record(&stones));
        ends.push(buf.len());
        flush(&mut cp, &mut buf, &mut ends)?;

        // Collected first, so that no series lock is taken under the exemplar lock.
        let mut stored = Vec::new();
        self.exemplars
            .iterate(|series, e| stored.push((series.clone(), e.clone())));
        let mut batch = Vec::with_capacity(EXEMPLARS_PER_RECORD.min(stored.len()));
        for (series, e) in stored {
            // Exemplars of series no longer in the head are dropped, as Prometheus does.
            let Some(r) = self.lookup(&series) else {
                continue;
            };
            batch.push(RefExemplar {
                series_ref: r,
                t: e.ts,
                v: e.value,
                labels: e.labels,
            });
            if batch.len() >= EXEMPLARS_PER_RECORD {
                log_exemplars(&mut cp, &batch)?;
                batch.clear();
            }
        }
        if !batch.is_empty() {
            log_exemplars(&mut cp, &batch)?;
        }
        cp.close()?;
        Ok(total)
    }

    /// Loads the newest chunk snapshot of the head's directory when
    /// [`HeadOptions::memory_snapshot_on_shutdown`](super::HeadOptions) is set (Prometheus's
    /// `loadChunkSnapshot`). Returns the WAL position the snapshot covers, from which the
    /// replay continues. A snapshot newer than the WAL is deleted and ignored; one that
    /// cannot be read is noted in `stats` and the head is emptied again, so that the
    /// whole WAL is replayed.
    pub(super) fn replay_chunk_snapshot(
        &self,
        stats: &mut ReplayStats,
    ) -> Result<Option<(u64, u64)>> {
        let found = match last_chunk_snapshot(&self.dir) {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(None),
            Err(e) => {
                stats.chunk_snapshot_warning = Some(format!("find last chunk snapshot: {e}"));
                return Ok(None);
            }
        };
        let (path, segment, offset) = found;
        let wal_dir = self.dir.join("wal");
        if let Some((_, last)) = wlog::segment_range(&wal_dir)?
            && last < segment
        {
            // The WAL was replaced since: the snapshot describes data that is gone.
            stats.chunk_snapshot_warning = Some(format!(
                "last WAL segment {last} is behind chunk snapshot {}, removing snapshots",
                path.display()
            ));
            let _ = delete_chunk_snapshots(&self.dir, u64::MAX, u64::MAX);
            return Ok(None);
        }
        match self.load_chunk_snapshot(&path) {
            Ok(n) => {
                stats.chunk_snapshot = Some(path);
                stats.chunk_snapshot_series = n;
                // Older ones (left by a crash right after a snapshot) are superseded.
                let _ = delete_chunk_snapshots(&self.dir, segment, offset);
                Ok(Some((segment, offset)))
            }
            Err(e) => {
                stats.chunk_snapshot_error =
                    Some(format!("load chunk snapshot {}: {e}", path.display()));
                self.reset_in_memory_state();
                Ok(None)
            }
        }
    }

    /// Reads every record of the snapshot in `dir` into the head; returns the number of
    /// series records.
    fn load_chunk_snapshot(&self, dir: &Path) -> Result<u64> {
        let corrupt = |offset: u64, msg: String| Error::Corrupt {
            path: dir.to_path_buf(),
            offset,
            msg,
        };
        let mut r = Reader::new(SegmentReader::open(dir, None, None)?);
        let mut refs: HashMap<u64, u64> = HashMap::new();
        let mut num_series = 0;
        let mut pending = Vec::new();
        let mut exemplars = Vec::new();
        let mut rec = Vec::new();
        loop {
            match r.next_record() {
                Ok(Some(next)) => {
                    rec.clear();
                    rec.extend_from_slice(next);
                }
                Ok(None) => break,
                Err(c) => return Err(corrupt(c.offset, format!("read records: {c}"))),
            }
            let rec = rec.as_slice();
            let at = r.offset();
            if rec.first() != Some(&REC_SERIES) {
                // Series records come first; the others may refer to them.
                self.create_snapshot_series(&mut pending, &mut refs);
            }
            match rec.first().copied() {
                Some(REC_SERIES) => {
                    num_series += 1;
                    pending.push(
                        decode_series_record(rec)
                            .map_err(|m| corrupt(at, format!("decode series record: {m}")))?,
                    );
                }
                Some(REC_TOMBSTONES) => {
                    let stones = decode_tombstones_record(rec)
                        .map_err(|m| corrupt(at, format!("decode tombstones: {m}")))?;
                    let mut ts = self.tombstones.lock();
                    for (r, mint, maxt) in stones {
                        add_interval(ts.entry(r).or_default(), mint, maxt);
                    }
                }
                Some(REC_EXEMPLARS) => {
                    if !self.exemplars.enabled() {
                        continue;
                    }
                    let mut as_wal = Vec::with_capacity(rec.len());
                    as_wal.push(4);
                    as_wal.extend_from_slice(&rec[1..]);
                    exemplars.clear();
                    record::decode_exemplars(&as_wal, &mut exemplars)
                        .map_err(|e| corrupt(at, format!("exemplars from buffer: {e}")))?;
                    for e in exemplars.drain(..) {
                        let Some(&r) = refs.get(&e.series_ref) else {
                            continue;
                        };
                        let Some(series) = self
                            .shard(r)
                            .read()
                            .series
                            .get(&r)
                            .map(|s| s.labels.clone())
                        else {
                            continue;
                        };
                        self.exemplars
                            .add(
                                &series,
                                storage::Exemplar {
                                    labels: e.labels,
                                    value: e.v,
                                    ts: e.t,
                                    has_ts: false,
                                },
                            )
                            .map_err(|e| corrupt(at, format!("add exemplar: {e}")))?;
                    }
                }
                other => {
                    return Err(corrupt(
                        at,
                        format!(
                            "unsupported snapshot record type 0b{:b}",
                            other.unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        self.create_snapshot_series(&mut pending, &mut refs);
        Ok(num_series)
    }

    /// Creates the series of decoded snapshot records with their open chunks, in order of
    /// their refs (so that postings lists grow by appending), and maps each snapshot ref to
    /// the head's.
    fn create_snapshot_series(
        &self,
        pending: &mut Vec<SnapshotSeries>,
        refs: &mut HashMap<u64, u64>,
    ) {
        let min_valid = self.min_valid_time();
        pending.sort_unstable_by_key(|s| s.series_ref);
        for s in pending.drain(..) {
            let (r, _, range) = self.with_series(&s.labels, Some(s.series_ref), |_, ms| {
                ms.flags |= LOGGED;
                let (h, last) = s.head?;
                if h.max_time < min_valid || ms.head.is_some() {
                    return None;
                }
                // The next append cuts a new chunk, as after Prometheus's load.
                ms.next_at = h.max_time;
                ms.flags &= !HIST_END_COMPUTED;
                ms.last_value = last;
                let range = (h.min_time, h.max_time);
                let before = ms.num_chunks();
                ms.head = Some(h);
                self.metrics.add_chunks(ms.num_chunks() - before);
                Some(range)
            });
            refs.insert(s.series_ref, r);
            if let Some((mint, maxt)) = range {
                self.update_min_max(mint, maxt);
            }
        }
    }

    /// Forgets everything a partly loaded snapshot put into the head (Go's
    /// `resetInMemoryState`).
    pub(super) fn reset_in_memory_state(&self) {
        for s in self.shards.iter() {
            s.write().series.clear();
        }
        for h in self.hashes.iter() {
            let mut h = h.lock();
            h.first.clear();
            h.more.clear();
        }
        *self.postings.write() = super::MemPostings::default();
        self.tombstones.lock().clear();
        let size = self.exemplars.max_exemplars();
        self.exemplars.resize(0);
        self.exemplars
            .resize(i64::try_from(size).unwrap_or(i64::MAX));
        self.min_time.store(i64::MAX, Ordering::Release);
        self.max_time.store(i64::MIN, Ordering::Release);
        self.last_series_id.store(0, Ordering::Release);
        self.num_series.store(0, Ordering::Release);
        self.metrics.chunks.store(0, Ordering::Relaxed);
    }
}

fn log_exemplars(cp: &mut Wal, batch: &[RefExemplar]) -> Result<()> {
    let mut rec = Vec::new();
    record::encode_exemplars(batch, &mut rec);
    rec[0] = REC_EXEMPLARS;
    cp.log(&[&rec])
}

#[cfg(test)]
mod tests;
