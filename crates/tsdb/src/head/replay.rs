//! Rebuilding the head at startup, as Prometheus's `Head.Init` and `loadWAL`: memory-mapped
//! chunks first, then the last WAL checkpoint, then every segment after it.

use std::io::Read;
use std::sync::atomic::Ordering;

use super::{Appended, Head, LOGGED, MemSeries, MmappedChunk, U64Map, add_interval};
use crate::checkpoint;
use crate::error::{Error, Result};
use crate::record::{self, RecordType, RefMmapMarker, RefSample, RefSeries, RefTombstone};
use crate::wlog::reader::{Position, Reader, SegmentReader};
use crate::wlog::{self, CorruptionError};

/// What the WAL replay at open found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Series records read.
    pub series: u64,
    /// Samples read (including those dropped).
    pub samples: u64,
    /// Samples appended to the head.
    pub samples_applied: u64,
    /// Samples for series no record defined (dropped, as Prometheus does).
    pub unknown_series_samples: u64,
    /// Tombstone intervals read.
    pub tombstones: u64,
    /// Memory-mapped head chunks attached to series.
    pub mmapped_chunks: u64,
    /// Memory-mapped head chunk markers read (only meaningful for out-of-order chunks, which
    /// this head keeps in memory; counted and ignored).
    pub mmap_markers: u64,
    /// Series records whose labels already belonged to another ref.
    pub duplicate_series: u64,
    /// Records replay does not apply: exemplars, metadata, native histograms and unknown
    /// types (Prometheus ignores unknown types too, so that users can roll back).
    pub skipped_records: u64,
    /// The WAL corruption that was repaired by truncating the log there, if any.
    pub wal_corruption: Option<String>,
    /// The `chunks_head/` corruption whose files were deleted, if any.
    pub head_chunks_corruption: Option<String>,
}

struct ReplayState {
    mmapped: U64Map<Vec<MmappedChunk>>,
    multi_ref: U64Map<u64>,
    stats: ReplayStats,
    series: Vec<RefSeries>,
    samples: Vec<RefSample>,
    stones: Vec<RefTombstone>,
    markers: Vec<RefMmapMarker>,
}

impl ReplayState {
    /// The series a WAL reference stands for (a duplicate series record's reference maps
    /// to the first one's).
    fn series_ref(&self, r: u64) -> u64 {
        self.multi_ref.get(&r).copied().unwrap_or(r)
    }
}

impl Head {
    pub(super) fn replay(&self) -> Result<()> {
        let mut st = ReplayState {
            mmapped: U64Map::default(),
            multi_ref: U64Map::default(),
            stats: ReplayStats::default(),
            series: Vec::new(),
            samples: Vec::new(),
            stones: Vec::new(),
            markers: Vec::new(),
        };
        let min_valid = self.min_valid_time();
        let mut loaded = 0u64;
        let res = self.mapper.iterate_all_chunks(|c| {
            if c.ooo || c.maxt < min_valid {
                return;
            }
            let list = st.mmapped.entry(c.series_ref).or_default();
            if list.last().is_some_and(|l| l.max_time >= c.mint) {
                // Out of sequence for its series: Prometheus treats this as corruption; the
                // samples are still in the WAL, so dropping the chunk loses nothing.
                return;
            }
            loaded += 1;
            list.push(MmappedChunk {
                chunk_ref: c.chunk_ref,
                min_time: c.mint,
                max_time: c.maxt,
            });
        });
        if let Err(corrupt) = res {
            st.stats.head_chunks_corruption =
                Some(format!("head chunk file {}: {}", corrupt.file, corrupt.msg));
            self.mapper.delete_from(corrupt.file)?;
            for list in st.mmapped.values_mut() {
                list.retain(|c| c.chunk_ref >> 32 < corrupt.file);
            }
        }

        if self.opts.wal.is_none() {
            *self.replay.lock() = st.stats;
            return Ok(());
        }
        let wal_dir = self.dir.join("wal");
        checkpoint::delete_temp_checkpoints(&wal_dir);
        let mut start = 0;
        if let Some((idx, cp)) = checkpoint::last_checkpoint(&wal_dir)? {
            let r = Reader::new(SegmentReader::open(&cp, None, None)?);
            self.load_wal(r, &mut st).map_err(|e| match e {
                LoadError::Corrupt(c) => Error::WalCorrupt(c),
                LoadError::Other(e) => e,
            })?;
            start = idx + 1;
        }
        for k in wlog::list_segments(&wal_dir)? {
            if k < start {
                continue;
            }
            let r = Reader::new(SegmentReader::open(&wal_dir, Some(k), Some(k))?);
            match self.load_wal(r, &mut st) {
                Ok(()) => {}
                Err(LoadError::Corrupt(c)) => {
                    st.stats.wal_corruption = Some(c.to_string());
                    if let Some(w) = self.wal.lock().as_mut() {
                        w.repair(&c)?;
                    }
                    break;
                }
                Err(LoadError::Other(e)) => return Err(e),
            }
        }
        // A series record whose labels already had another ref must stay in checkpoints
        // while segments still refer to it (Go's updateWALExpiry): keep it until every
        // segment that exists now is truncated.
        if !st.multi_ref.is_empty() {
            let current = self.wal.lock().as_ref().map_or(0, |w| w.current_segment());
            let mut deleted = self.deleted.lock();
            for &walref in st.multi_ref.keys() {
                deleted.insert(walref, current);
            }
        }
        let wbl_dir = self.dir.join(wlog::WBL_DIR_NAME);
        if self.wbl.lock().is_some() {
            for k in wlog::list_segments(&wbl_dir)? {
                let mut r = Reader::new(SegmentReader::open(&wbl_dir, Some(k), Some(k))?);
                loop {
                    let rec = match r.next_record() {
                        Ok(Some(rec)) => rec,
                        Ok(None) => break,
                        Err(c) => {
                            // Prometheus repairs the WBL like the WAL.
                            st.stats.wal_corruption = Some(c.to_string());
                            if let Some(w) = self.wbl.lock().as_mut() {
                                w.repair(&c)?;
                            }
                            break;
                        }
                    };
                    if !matches!(
                        RecordType::of(rec),
                        RecordType::Samples | RecordType::SamplesV2
                    ) {
                        st.stats.skipped_records += 1;
                        continue;
                    }
                    st.samples.clear();
                    if record::decode_samples(rec, &mut st.samples).is_err() {
                        st.stats.skipped_records += 1;
                        continue;
                    }
                    self.apply_ooo_samples(&mut st);
                }
            }
        }
        *self.replay.lock() = st.stats;
        Ok(())
    }

    /// Hands each replayed sample not older than the minimum valid time to `apply`, with
    /// its series (duplicate series records resolved) and the stats; counts the samples and
    /// those of unknown series.
    fn for_each_sample(
        &self,
        st: &mut ReplayState,
        mut apply: impl FnMut(&mut MemSeries, u64, &RefSample, &mut ReplayStats) -> Result<()>,
    ) -> Result<()> {
        let min_valid = self.min_valid_time();
        for s in &st.samples {
            st.stats.samples += 1;
            if s.t < min_valid {
                continue;
            }
            let r = st.series_ref(s.series_ref);
            let mut shard = self.shard(r).write();
            let Some(ms) = shard.series.get_mut(&r) else {
                st.stats.unknown_series_samples += 1;
                continue;
            };
            apply(ms, r, s, &mut st.stats)?;
        }
        Ok(())
    }

    fn apply_ooo_samples(&self, st: &mut ReplayState) {
        let mut mint = i64::MAX;
        let applied = self.for_each_sample(st, |ms, _, s, stats| {
            if ms.insert_ooo(s.t, s.v) {
                stats.samples_applied += 1;
                mint = mint.min(s.t);
            }
            Ok(())
        });
        debug_assert!(
            applied.is_ok(),
            "inserting out-of-order samples cannot fail"
        );
        if mint != i64::MAX {
            self.min_time.fetch_min(mint, Ordering::AcqRel);
        }
    }

    fn load_wal<R: Read + Position>(
        &self,
        mut r: Reader<R>,
        st: &mut ReplayState,
    ) -> std::result::Result<(), LoadError> {
        loop {
            let rec = match r.next_record() {
                Ok(Some(rec)) => rec,
                Ok(None) => return Ok(()),
                Err(c) => return Err(LoadError::Corrupt(c)),
            };
            let corrupt = |e: Error, r: &Reader<R>| LoadError::Corrupt(r.corruption(e.to_string()));
            match RecordType::of(rec) {
                RecordType::Series => {
                    st.series.clear();
                    if let Err(e) = record::decode_series(rec, &mut st.series) {
                        return Err(corrupt(e, &r));
                    }
                    self.apply_series(st);
                }
                RecordType::Samples | RecordType::SamplesV2 => {
                    st.samples.clear();
                    if let Err(e) = record::decode_samples(rec, &mut st.samples) {
                        return Err(corrupt(e, &r));
                    }
                    self.apply_samples(st).map_err(LoadError::Other)?;
                }
                RecordType::Tombstones => {
                    st.stones.clear();
                    if let Err(e) = record::decode_tombstones(rec, &mut st.stones) {
                        return Err(corrupt(e, &r));
                    }
                    self.apply_tombstones(st);
                }
                RecordType::MmapMarkers => {
                    st.markers.clear();
                    if let Err(e) = record::decode_mmap_markers(rec, &mut st.markers) {
                        return Err(corrupt(e, &r));
                    }
                    st.stats.mmap_markers += st.markers.len() as u64;
                }
                _ => st.stats.skipped_records += 1,
            }
        }
    }

    fn apply_series(&self, st: &mut ReplayState) {
        for s in st.series.drain(..) {
            st.stats.series += 1;
            let (r, created) = self.get_or_create(&s.labels, Some(s.series_ref));
            self.last_series_id
                .fetch_max(s.series_ref, Ordering::AcqRel);
            let chunks = st.mmapped.remove(&s.series_ref).unwrap_or_default();
            let mut shard = self.shard(r).write();
            let Some(ms) = shard.series.get_mut(&r) else {
                continue;
            };
            ms.flags |= LOGGED;
            if r != s.series_ref {
                st.stats.duplicate_series += 1;
                st.multi_ref.insert(s.series_ref, r);
            }
            if chunks.is_empty() || !(created || ms.is_empty()) {
                continue;
            }
            st.stats.mmapped_chunks += chunks.len() as u64;
            let (mint, maxt) = (chunks[0].min_time, chunks[chunks.len() - 1].max_time);
            ms.mmapped = chunks;
            ms.head = None;
            drop(shard);
            self.update_min_max(mint, maxt);
        }
    }

    fn apply_samples(&self, st: &mut ReplayState) -> Result<()> {
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        let applied = self.for_each_sample(st, |ms, r, s, stats| {
            if ms.mmapped.last().is_some_and(|c| s.t <= c.max_time) {
                return Ok(());
            }
            match ms.append(r, s.t, s.v, &self.opts, &self.mapper)? {
                Appended::InOrder => {
                    stats.samples_applied += 1;
                    mint = mint.min(s.t);
                    maxt = maxt.max(s.t);
                }
                // Out-of-order samples are in the WAL too, but come back from the WBL.
                Appended::NotInOrder => {}
            }
            Ok(())
        });
        applied?;
        self.update_min_max(mint, maxt);
        Ok(())
    }

    fn apply_tombstones(&self, st: &mut ReplayState) {
        let min_valid = self.min_valid_time();
        let mut ts = self.tombstones.lock();
        for s in &st.stones {
            st.stats.tombstones += 1;
            self.last_series_id
                .fetch_max(s.series_ref, Ordering::AcqRel);
            if s.maxt < min_valid {
                continue;
            }
            let r = st.series_ref(s.series_ref);
            if !self.shard(r).read().series.contains_key(&r) {
                continue;
            }
            add_interval(ts.entry(r).or_default(), s.mint, s.maxt);
        }
    }
}

enum LoadError {
    Corrupt(CorruptionError),
    Other(Error),
}
