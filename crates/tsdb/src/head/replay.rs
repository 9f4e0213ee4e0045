//! Rebuilding the head at startup, as Prometheus's `Head.Init` and `loadWAL`: memory-mapped
//! chunks first, then the last WAL checkpoint, then every segment after it.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{
    Appended, Head, HistSample, LOGGED, MemSeries, MmappedChunk, SHARDS, U64Map, add_interval,
};
use crate::checkpoint;
use crate::error::{Error, Result};
use crate::record::{self, RecordType, RefExemplar, RefSample, RefSeries, RefTombstone};
use crate::wlog::reader::{Reader, SegmentReader};
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
    /// Exemplars read (added to the exemplar storage when it is on and they are in order).
    pub exemplars: u64,
    /// Exemplars for series no record defined (dropped).
    pub unknown_series_exemplars: u64,
    /// Memory-mapped head chunks attached to series.
    pub mmapped_chunks: u64,
    /// Memory-mapped head chunk markers read (only meaningful for out-of-order chunks, which
    /// this head keeps in memory; counted and ignored).
    pub mmap_markers: u64,
    /// Series records whose labels already belonged to another ref.
    pub duplicate_series: u64,
    /// Series metadata entries read (records of type 6).
    pub metadata: u64,
    /// Metadata entries for series no record defined (dropped).
    pub unknown_series_metadata: u64,
    /// Records replay does not apply: start-time histogram records and unknown types
    /// (Prometheus ignores unknown types too, so that users can roll back).
    pub skipped_records: u64,
    /// The WAL corruption that was repaired by truncating the log there, if any.
    pub wal_corruption: Option<String>,
    /// The `chunks_head/` corruption whose files were deleted, if any.
    pub head_chunks_corruption: Option<String>,
    /// The chunk snapshot loaded before the WAL after it, if any.
    pub chunk_snapshot: Option<PathBuf>,
    /// Series records read from the chunk snapshot.
    pub chunk_snapshot_series: u64,
    /// Why the chunk snapshot could not be loaded (the whole WAL was replayed instead), if
    /// one was there but unreadable (Prometheus's
    /// `prometheus_tsdb_snapshot_replay_error_total`).
    pub chunk_snapshot_error: Option<String>,
    /// Why chunk snapshots were ignored without an error: one newer than the WAL (deleted,
    /// as Prometheus does), a data directory that could not be listed for them, or a
    /// snapshot set aside because damaged head chunks were dropped (the whole WAL is
    /// replayed then).
    pub chunk_snapshot_warning: Option<String>,
}

struct ReplayState {
    mmapped: U64Map<Vec<MmappedChunk>>,
    multi_ref: U64Map<u64>,
    stats: ReplayStats,
    samples: Vec<RefSample>,
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
        let total_start = Instant::now();
        let mut st = ReplayState {
            mmapped: U64Map::default(),
            multi_ref: U64Map::default(),
            stats: ReplayStats::default(),
            samples: Vec::new(),
        };
        // The snapshot comes first, so that memory-mapped chunks attach to its series.
        let snapshot_start = Instant::now();
        let mut snapshot = if self.opts.memory_snapshot_on_shutdown && self.opts.wal.is_some() {
            self.replay_chunk_snapshot(&mut st.stats)?
        } else {
            None
        };
        let snapshot_duration = snapshot_start.elapsed();
        let min_valid = self.min_valid_time();
        tracing::info!("Replaying on-disk memory mappable chunks if any");
        let mmap_start = Instant::now();
        let mut out_of_sequence = None;
        let res = self.mapper.iterate_all_chunks(|c| {
            if c.ooo || c.maxt < min_valid {
                return;
            }
            let list = st.mmapped.entry(c.series_ref).or_default();
            if let Some(l) = list.last()
                && l.max_time >= c.mint
            {
                out_of_sequence.get_or_insert_with(|| {
                    format!(
                        "out of sequence memory-mapped chunk for series ref {}: last chunk \
                         [{}, {}], new [{}, {}]",
                        c.series_ref, l.min_time, l.max_time, c.mint, c.maxt
                    )
                });
                return;
            }
            list.push(MmappedChunk {
                chunk_ref: c.chunk_ref,
                min_time: c.mint,
                max_time: c.maxt,
            });
        });
        // Damage (a torn tail after a crash mid-write, or worse) drops the chunks from the
        // damaged file on; chunks out of sequence for their series drop every file, as
        // Prometheus does (a `CorruptionErr` without a file index). Their samples come back
        // from the WAL.
        let corrupt = match (res, out_of_sequence) {
            (Err(c), _) => Some((c.file, c.msg)),
            (Ok(()), Some(msg)) => Some((0, msg)),
            (Ok(()), None) => None,
        };
        if let Some((file, msg)) = corrupt {
            st.stats.head_chunks_corruption = Some(if file == 0 {
                format!("head chunk files: {msg}")
            } else {
                format!("head chunk file {file}: {msg}")
            });
            self.mapper.delete_from(file)?;
            for list in st.mmapped.values_mut() {
                list.retain(|c| c.chunk_ref >> 32 < file);
            }
            st.mmapped.retain(|_, list| !list.is_empty());
            // The snapshot's series and open chunks assume the dropped chunks: like
            // Prometheus, forget it and replay the whole WAL instead.
            if snapshot.take().is_some() {
                self.reset_in_memory_state();
                st.stats.chunk_snapshot_series = 0;
                if let Some(path) = st.stats.chunk_snapshot.take() {
                    st.stats.chunk_snapshot_warning = Some(format!(
                        "{}: the head chunks were repaired, so the whole WAL was replayed",
                        path.display()
                    ));
                }
            }
        }

        if snapshot.is_some() {
            self.attach_snapshot_chunks(&mut st);
        }
        let mmap_duration = mmap_start.elapsed();
        tracing::info!(
            duration = go_duration(mmap_duration),
            "On-disk memory mappable chunks replay completed"
        );

        if self.opts.wal.is_none() {
            *self.replay.lock() = st.stats;
            return Ok(());
        }
        let wal_dir = self.dir.join("wal");
        checkpoint::delete_temp_checkpoints(&wal_dir);
        let mut sources = Vec::new();
        let mut start = 0;
        if let Some((idx, cp)) = checkpoint::last_checkpoint(&wal_dir)? {
            // A checkpoint older than the snapshot is covered by it (Go's `startFrom >=
            // snapIdx`).
            if snapshot.is_none_or(|(k, _)| idx >= k) {
                sources.push(WalSource::Checkpoint(cp));
                start = idx + 1;
            } else {
                start = idx;
            }
        }
        if let Some((k, _)) = snapshot {
            start = start.max(k);
        }
        for k in wlog::list_segments(&wal_dir)? {
            match snapshot {
                Some((sk, offset)) if k == sk && k >= start => {
                    sources.push(WalSource::SegmentFrom(wal_dir.clone(), k, offset));
                }
                _ if k >= start => sources.push(WalSource::Segment(wal_dir.clone(), k)),
                _ => {}
            }
        }
        tracing::info!("Replaying WAL, this may take a while");
        let max_segment = sources.iter().filter_map(WalSource::segment).max();
        let (mut checkpoint_duration, wal_start) = (Duration::ZERO, Instant::now());
        let mut corruption = None;
        // One source at a time, to say how long each took, as Prometheus does.
        for source in sources {
            let (segment, start) = (source.segment(), Instant::now());
            let found = self.load_wal(vec![source], &mut st)?;
            match segment {
                None => {
                    checkpoint_duration = start.elapsed();
                    tracing::info!(
                        checkpoint_replay_duration = go_duration(checkpoint_duration),
                        "WAL checkpoint loaded"
                    );
                }
                Some(k) => tracing::info!(
                    segment = k,
                    maxSegment = max_segment.unwrap_or(k),
                    duration = go_duration(start.elapsed()),
                    "WAL segment loaded"
                ),
            }
            if found.is_some() {
                corruption = found;
                break;
            }
        }
        let wal_duration = wal_start.elapsed().saturating_sub(checkpoint_duration);
        if let Some(c) = corruption {
            st.stats.wal_corruption = Some(c.to_string());
            if let Some(w) = self.wal.lock().as_mut() {
                w.repair(&c)?;
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
        let wbl_start = Instant::now();
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
                    match RecordType::of(rec) {
                        RecordType::Samples | RecordType::SamplesV2 => {}
                        RecordType::HistogramSamples | RecordType::FloatHistogramSamples => {
                            match decode_histogram_record(rec) {
                                Ok(hs) => self.apply_ooo_histograms(hs, &mut st),
                                Err(_) => st.stats.skipped_records += 1,
                            }
                            continue;
                        }
                        _ => {
                            st.stats.skipped_records += 1;
                            continue;
                        }
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
        tracing::info!(
            checkpoint_replay_duration = go_duration(checkpoint_duration),
            wal_replay_duration = go_duration(wal_duration),
            wbl_replay_duration = go_duration(wbl_start.elapsed()),
            chunk_snapshot_load_duration = go_duration(snapshot_duration),
            mmap_chunk_replay_duration = go_duration(mmap_duration),
            total_replay_duration = go_duration(total_start.elapsed()),
            "WAL replay completed"
        );
        *self.replay.lock() = st.stats;
        Ok(())
    }

    /// Hands each replayed sample to `apply`, with its series (duplicate series records
    /// resolved) and the stats; counts the samples and those of unknown series.
    ///
    /// Unlike the WAL's, the WBL's samples count whatever their age, as Prometheus's
    /// (`processWBLSamples`: "we don't check for minValidTime for ooo samples"): out-of-order
    /// samples older than the newest in-order block wait in the head for the next compaction
    /// (Prometheus 3.5 leaves such in its WBL when it stops before compacting them).
    fn for_each_sample(
        &self,
        st: &mut ReplayState,
        mut apply: impl FnMut(&mut MemSeries, u64, &RefSample, &mut ReplayStats) -> Result<()>,
    ) -> Result<()> {
        for s in &st.samples {
            st.stats.samples += 1;
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
                self.note_replayed_ooo(s.t);
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

    /// Inserts native histograms of the WBL into their series' out-of-order buffers.
    fn apply_ooo_histograms(&self, hs: Vec<(u64, i64, HistSample)>, st: &mut ReplayState) {
        let mut mint = i64::MAX;
        for (r, t, h) in hs {
            st.stats.samples += 1;
            let r = st.series_ref(r);
            let mut shard = self.shard(r).write();
            let Some(ms) = shard.series.get_mut(&r) else {
                st.stats.unknown_series_samples += 1;
                continue;
            };
            if ms.insert_ooo_histogram(t, &h) {
                self.note_replayed_ooo(t);
                st.stats.samples_applied += 1;
                mint = mint.min(t);
            }
        }
        if mint != i64::MAX {
            self.min_time.fetch_min(mint, Ordering::AcqRel);
        }
    }

    /// Replays WAL records in parallel, as Prometheus's `loadWAL`: a reader thread reads,
    /// checks and decompresses records; this thread decodes them, applies series and
    /// tombstone records, and hands samples in batches to worker threads, each owning the
    /// series of some shards (so each series' samples are applied in WAL order, by one
    /// thread). Returns the corruption that ended a segment, if any; a damaged checkpoint is
    /// an error.
    fn load_wal(
        &self,
        sources: Vec<WalSource>,
        st: &mut ReplayState,
    ) -> Result<Option<CorruptionError>> {
        let workers = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .clamp(1, MAX_REPLAY_WORKERS);
        let pool = SamplePool::default();
        let batches = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            let pool = &pool;
            let mut d = Dispatcher {
                txs: Vec::with_capacity(workers),
                parts: Vec::with_capacity(workers),
                pool,
            };
            let mut handles = Vec::with_capacity(workers);
            for _ in 0..workers {
                let (tx, rx) = mpsc::sync_channel(WORK_QUEUE);
                d.txs.push(tx);
                d.parts.push(pool.get());
                handles.push(scope.spawn(move || self.replay_worker(&rx, pool)));
            }
            let batches = &batches;
            let (read_tx, read_rx) = mpsc::sync_channel(READ_QUEUE);
            scope.spawn(move || read_records(sources, &read_tx, batches));
            let outcome = self.read_wal(&read_rx, batches, &mut d, st);
            // Stops the reader if it is still reading.
            drop(read_rx);
            // Everything read before an error or damage is applied, as sequentially.
            d.flush_all();
            // Closing the queues lets the workers drain them and exit.
            drop(d);
            let mut worker_err = None;
            for h in handles {
                match h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)) {
                    Ok(w) => {
                        st.stats.samples_applied += w.applied;
                        st.stats.unknown_series_samples += w.unknown;
                        st.stats.mmapped_chunks += w.mmapped_chunks;
                        self.update_min_max(w.mint, w.maxt);
                    }
                    Err(e) => {
                        worker_err.get_or_insert(e);
                    }
                }
            }
            let corruption = outcome?;
            match worker_err {
                Some(e) => Err(e),
                None => Ok(corruption),
            }
        })
    }

    /// The replay loop of [`Head::load_wal`]: applies the records the reader thread sends,
    /// in order, up to the first damage.
    fn read_wal(
        &self,
        rx: &mpsc::Receiver<ReadMsg>,
        batches: &Mutex<Vec<RecordBatch>>,
        d: &mut Dispatcher<'_>,
        st: &mut ReplayState,
    ) -> Result<Option<CorruptionError>> {
        let min_valid = self.min_valid_time();
        let mut samples = Vec::new();
        let mut markers = Vec::new();
        let mut exemplars = Vec::new();
        for msg in rx {
            let (batch, in_checkpoint, dir) = match msg {
                ReadMsg::Records {
                    batch,
                    in_checkpoint,
                    dir,
                } => (batch, in_checkpoint, dir),
                ReadMsg::Damaged {
                    in_checkpoint: true,
                    err,
                } => return Err(Error::WalCorrupt(err)),
                ReadMsg::Damaged {
                    in_checkpoint: false,
                    err,
                } => return Ok(Some(err)),
                ReadMsg::Failed(e) => return Err(e),
            };
            let mut start = 0;
            for &(end, segment, offset) in &batch.recs {
                let rec = &batch.data[start..end];
                start = end;
                let decoded = match RecordType::of(rec) {
                    RecordType::Series => {
                        let mut series = Vec::new();
                        record::decode_series(rec, &mut series)
                            .map(|()| self.apply_series(series, st, d))
                    }
                    RecordType::Samples | RecordType::SamplesV2 => {
                        samples.clear();
                        record::decode_samples(rec, &mut samples).map(|()| {
                            st.stats.samples += samples.len() as u64;
                            for s in &samples {
                                if s.t >= min_valid {
                                    d.push(RefSample {
                                        series_ref: st.series_ref(s.series_ref),
                                        ..*s
                                    });
                                }
                            }
                        })
                    }
                    RecordType::HistogramSamples => {
                        let mut hs = Vec::new();
                        record::decode_histogram_samples(rec, &mut hs).map(|()| {
                            st.stats.samples += hs.len() as u64;
                            let hs = hs
                                .into_iter()
                                .filter(|s| s.t >= min_valid)
                                .map(|s| (st.series_ref(s.series_ref), s.t, HistSample::Int(s.h)))
                                .collect();
                            d.histograms(hs);
                        })
                    }
                    RecordType::FloatHistogramSamples => {
                        let mut hs = Vec::new();
                        record::decode_float_histogram_samples(rec, &mut hs).map(|()| {
                            st.stats.samples += hs.len() as u64;
                            let hs = hs
                                .into_iter()
                                .filter(|s| s.t >= min_valid)
                                .map(|s| {
                                    (st.series_ref(s.series_ref), s.t, HistSample::Float(s.fh))
                                })
                                .collect();
                            d.histograms(hs);
                        })
                    }
                    RecordType::Tombstones => {
                        let mut stones = Vec::new();
                        record::decode_tombstones(rec, &mut stones)
                            .map(|()| self.apply_tombstones(&stones, st))
                    }
                    RecordType::Exemplars => {
                        exemplars.clear();
                        record::decode_exemplars(rec, &mut exemplars)
                            .map(|()| self.apply_exemplars(&exemplars, st))
                    }
                    RecordType::Metadata => {
                        let mut md = Vec::new();
                        record::decode_metadata(rec, &mut md).map(|()| {
                            let md = md
                                .into_iter()
                                .map(|m| {
                                    let meta = storage::Metadata {
                                        metric_type: storage::MetricType::from_wal_code(m.typ),
                                        unit: m.unit,
                                        help: m.help,
                                    };
                                    (st.series_ref(m.series_ref), meta)
                                })
                                .collect::<Vec<_>>();
                            st.stats.metadata += md.len() as u64;
                            st.stats.unknown_series_metadata += self.set_metadata(md);
                        })
                    }
                    RecordType::MmapMarkers => {
                        markers.clear();
                        record::decode_mmap_markers(rec, &mut markers)
                            .map(|()| st.stats.mmap_markers += markers.len() as u64)
                    }
                    _ => {
                        st.stats.skipped_records += 1;
                        Ok(())
                    }
                };
                if let Err(e) = decoded {
                    // Where the reader was after this record, as it would have reported it.
                    let err = CorruptionError {
                        dir: segment.map(|_| dir.clone()),
                        segment,
                        offset,
                        msg: e.to_string(),
                    };
                    return if in_checkpoint {
                        Err(Error::WalCorrupt(err))
                    } else {
                        Ok(Some(err))
                    };
                }
            }
            recycle(batches, batch);
        }
        Ok(None)
    }

    /// A replay worker: applies the samples of its shards' series, in the order received.
    /// After an error it keeps draining its queue (so the replay loop never blocks) and
    /// returns the error at the end.
    fn replay_worker(&self, rx: &mpsc::Receiver<Work>, pool: &SamplePool) -> Result<WorkerStats> {
        let mut acc = WorkerStats {
            mint: i64::MAX,
            maxt: i64::MIN,
            ..WorkerStats::default()
        };
        let mut err = None;
        let mut sorted = Vec::new();
        for work in rx {
            match work {
                Work::Samples(batch) => {
                    if err.is_none()
                        && let Err(e) = self.apply_batch(&batch, &mut sorted, &mut acc)
                    {
                        err = Some(e);
                    }
                    pool.put(batch);
                }
                Work::Histograms(hs) => {
                    if err.is_none() {
                        for (r, t, h) in &hs {
                            let mut shard = self.shard(*r).write();
                            let Some(ms) = shard.series.get_mut(r) else {
                                acc.unknown += 1;
                                continue;
                            };
                            match ms.append_histogram(*r, *t, h, self) {
                                Ok(Appended::InOrder) => {
                                    acc.applied += 1;
                                    acc.mint = acc.mint.min(*t);
                                    acc.maxt = acc.maxt.max(*t);
                                }
                                Ok(Appended::NotInOrder) => {}
                                Err(e) => err = Some(e),
                            }
                        }
                    }
                }
                Work::Attach { series_ref, chunks } => {
                    if err.is_none() {
                        self.attach_chunks(series_ref, chunks, &mut acc);
                    }
                }
            }
        }
        err.map_or(Ok(acc), Err)
    }

    /// Appends a batch of samples (all of series owned by one worker): sorted by shard,
    /// stably (a counting sort, so each series' samples keep their order), so that each
    /// shard's lock is taken once per batch.
    fn apply_batch(
        &self,
        batch: &[RefSample],
        sorted: &mut Vec<RefSample>,
        acc: &mut WorkerStats,
    ) -> Result<()> {
        let mut starts = [0usize; SHARDS + 1];
        for s in batch {
            starts[shard_of(s.series_ref) + 1] += 1;
        }
        for i in 0..SHARDS {
            starts[i + 1] += starts[i];
        }
        let bounds = starts;
        sorted.clear();
        sorted.extend_from_slice(batch);
        for s in batch {
            let k = &mut starts[shard_of(s.series_ref)];
            sorted[*k] = *s;
            *k += 1;
        }
        for i in 0..SHARDS {
            let part = &sorted[bounds[i]..bounds[i + 1]];
            if part.is_empty() {
                continue;
            }
            let mut shard = self.shards[i].write();
            for s in part {
                let Some(ms) = shard.series.get_mut(&s.series_ref) else {
                    acc.unknown += 1;
                    continue;
                };
                // Samples already in the series' memory-mapped chunks come back as not in
                // order (the open chunk, when there is one, is newer than those), so the
                // chunk list itself (another cache miss) need not be looked at here.
                match ms.append(s.series_ref, s.t, s.v, self)? {
                    Appended::InOrder => {
                        acc.applied += 1;
                        acc.mint = acc.mint.min(s.t);
                        acc.maxt = acc.maxt.max(s.t);
                    }
                    // Out-of-order samples are in the WAL too, but come back from the WBL.
                    Appended::NotInOrder => {}
                }
            }
        }
        Ok(())
    }

    /// Gives series `r` the memory-mapped chunks of a WAL ref whose series record turned out
    /// to duplicate it, if it has no data yet (by then, in WAL order).
    fn attach_chunks(&self, r: u64, chunks: Vec<MmappedChunk>, acc: &mut WorkerStats) {
        let mut shard = self.shard(r).write();
        let Some(ms) = shard.series.get_mut(&r) else {
            return;
        };
        if !ms.is_empty() {
            return;
        }
        acc.mmapped_chunks += chunks.len() as u64;
        if let (Some(first), Some(last)) = (chunks.first(), chunks.last()) {
            acc.mint = acc.mint.min(first.min_time);
            acc.maxt = acc.maxt.max(last.max_time);
        }
        let before = ms.num_chunks();
        ms.mmapped = chunks;
        ms.head = None;
        self.metrics.add_chunks(ms.num_chunks() - before);
    }

    /// Gives the series loaded from a chunk snapshot their memory-mapped chunks (Go's
    /// `loadMmappedChunks` with snapshot series): an open chunk that a memory-mapped one
    /// reaches was cut after the snapshot and is dropped.
    fn attach_snapshot_chunks(&self, st: &mut ReplayState) {
        let refs: Vec<u64> = st.mmapped.keys().copied().collect();
        for r in refs {
            let mut shard = self.shard(r).write();
            let Some(ms) = shard.series.get_mut(&r) else {
                continue;
            };
            let Some(chunks) = st.mmapped.remove(&r) else {
                continue;
            };
            let (Some(first), Some(last)) = (chunks.first().copied(), chunks.last().copied())
            else {
                continue;
            };
            let before = ms.num_chunks();
            if ms
                .head
                .as_ref()
                .is_some_and(|h| last.max_time >= h.min_time)
            {
                ms.head = None;
                ms.next_at = i64::MIN;
            }
            st.stats.mmapped_chunks += chunks.len() as u64;
            ms.mmapped = chunks;
            self.metrics.add_chunks(ms.num_chunks() - before);
            drop(shard);
            self.update_min_max(first.min_time, last.max_time);
        }
    }

    fn apply_series(&self, series: Vec<RefSeries>, st: &mut ReplayState, d: &mut Dispatcher<'_>) {
        for s in series {
            st.stats.series += 1;
            let (r, created) = self.get_or_create(&s.labels, Some(s.series_ref));
            self.last_series_id
                .fetch_max(s.series_ref, Ordering::AcqRel);
            let chunks = st.mmapped.remove(&s.series_ref).unwrap_or_default();
            if r != s.series_ref {
                st.stats.duplicate_series += 1;
                st.multi_ref.insert(s.series_ref, r);
            }
            let mut shard = self.shard(r).write();
            let Some(ms) = shard.series.get_mut(&r) else {
                continue;
            };
            ms.flags |= LOGGED;
            if chunks.is_empty() {
                continue;
            }
            if !created {
                // Samples of the existing series may still be queued: the worker owning it
                // decides, in WAL order.
                drop(shard);
                d.attach(r, chunks);
                continue;
            }
            st.stats.mmapped_chunks += chunks.len() as u64;
            let (mint, maxt) = (chunks[0].min_time, chunks[chunks.len() - 1].max_time);
            let before = ms.num_chunks();
            ms.mmapped = chunks;
            ms.head = None;
            self.metrics.add_chunks(ms.num_chunks() - before);
            drop(shard);
            self.update_min_max(mint, maxt);
        }
    }

    /// Adds replayed exemplars to the exemplar storage, in WAL order (their series records
    /// came before them), as Prometheus's replay does: without their own-timestamp flag,
    /// and dropping those before the minimum valid time or rejected as out of order.
    fn apply_exemplars(&self, exemplars: &[RefExemplar], st: &mut ReplayState) {
        st.stats.exemplars += exemplars.len() as u64;
        if !self.exemplars.enabled() {
            return;
        }
        let min_valid = self.min_valid_time();
        for e in exemplars {
            if e.t < min_valid {
                continue;
            }
            let r = st.series_ref(e.series_ref);
            let series = match self.shard(r).read().series.get(&r) {
                Some(s) => s.labels.clone(),
                None => {
                    st.stats.unknown_series_exemplars += 1;
                    continue;
                }
            };
            let _ = self.exemplars.add(
                &series,
                storage::Exemplar {
                    labels: e.labels.clone(),
                    value: e.v,
                    ts: e.t,
                    has_ts: false,
                },
            );
        }
    }

    fn apply_tombstones(&self, stones: &[RefTombstone], st: &mut ReplayState) {
        let min_valid = self.min_valid_time();
        let mut ts = self.tombstones.lock();
        for s in stones {
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

/// Where the replay reads records from, in order.
/// `d` as Go's `time.Duration.String` (`1.5ms`), as Prometheus logs durations.
pub(crate) fn go_duration(d: Duration) -> String {
    model::strconv::format_go_duration(i128::try_from(d.as_nanos()).unwrap_or(i128::MAX))
}

impl WalSource {
    /// The WAL segment it reads, `None` for a checkpoint.
    fn segment(&self) -> Option<u64> {
        match self {
            WalSource::Checkpoint(_) => None,
            WalSource::Segment(_, k) | WalSource::SegmentFrom(_, k, _) => Some(*k),
        }
    }
}

enum WalSource {
    /// A checkpoint directory (damage there is an error).
    Checkpoint(PathBuf),
    /// Segment `k` of the WAL directory (damage there is repaired by truncation).
    Segment(PathBuf, u64),
    /// Segment `k` of the WAL directory from a byte offset on (the end of a chunk
    /// snapshot).
    SegmentFrom(PathBuf, u64, u64),
}

/// What the replay loop hands a worker.
enum Work {
    Samples(Vec<RefSample>),
    /// Native histogram samples of the worker's series, in WAL order.
    Histograms(Vec<(u64, i64, HistSample)>),
    Attach {
        series_ref: u64,
        chunks: Vec<MmappedChunk>,
    },
}

/// What a worker applied.
#[derive(Default)]
struct WorkerStats {
    applied: u64,
    unknown: u64,
    mmapped_chunks: u64,
    mint: i64,
    maxt: i64,
}

/// Sample batches waiting for a worker.
const WORK_QUEUE: usize = 16;
/// Samples per batch handed to a worker.
const BATCH: usize = 4096;
/// At most this many worker threads apply samples.
const MAX_REPLAY_WORKERS: usize = 8;

fn shard_of(r: u64) -> usize {
    (r as usize) % SHARDS
}

/// The worker owning series `r` (all series of a shard go to one worker).
fn worker_of(r: u64, workers: usize) -> usize {
    shard_of(r) % workers
}

/// Sample batches going round between the replay loop and the workers, so that the replay
/// does not allocate per batch.
#[derive(Default)]
struct SamplePool(Mutex<Vec<Vec<RefSample>>>);

impl SamplePool {
    fn get(&self) -> Vec<RefSample> {
        self.0.lock().pop().unwrap_or_default()
    }

    fn put(&self, mut v: Vec<RefSample>) {
        v.clear();
        let mut pool = self.0.lock();
        if pool.len() < 4 * WORK_QUEUE {
            pool.push(v);
        }
    }
}

/// Batches samples per worker and sends them.
struct Dispatcher<'a> {
    txs: Vec<mpsc::SyncSender<Work>>,
    /// The batch being filled for each worker.
    parts: Vec<Vec<RefSample>>,
    pool: &'a SamplePool,
}

impl Dispatcher<'_> {
    fn push(&mut self, s: RefSample) {
        let w = worker_of(s.series_ref, self.txs.len());
        self.parts[w].push(s);
        if self.parts[w].len() >= BATCH {
            self.flush(w);
        }
    }

    fn flush(&mut self, w: usize) {
        if self.parts[w].is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.parts[w], self.pool.get());
        // A send only fails when the worker panicked; its join reports that.
        let _ = self.txs[w].send(Work::Samples(batch));
    }

    fn flush_all(&mut self) {
        for w in 0..self.parts.len() {
            self.flush(w);
        }
    }

    /// Has the workers apply native histograms, after the float samples before them.
    fn histograms(&mut self, hs: Vec<(u64, i64, HistSample)>) {
        let n = self.txs.len();
        let mut per: Vec<Vec<(u64, i64, HistSample)>> = (0..n).map(|_| Vec::new()).collect();
        for h in hs {
            per[worker_of(h.0, n)].push(h);
        }
        for (w, part) in per.into_iter().enumerate() {
            if part.is_empty() {
                continue;
            }
            self.flush(w);
            let _ = self.txs[w].send(Work::Histograms(part));
        }
    }

    /// Has the worker owning series `r` attach `chunks` once the samples before are applied.
    fn attach(&mut self, r: u64, chunks: Vec<MmappedChunk>) {
        let w = worker_of(r, self.txs.len());
        self.flush(w);
        let _ = self.txs[w].send(Work::Attach {
            series_ref: r,
            chunks,
        });
    }
}

/// Records read and decompressed by the reader thread, handed over together.
#[derive(Default)]
struct RecordBatch {
    data: Vec<u8>,
    /// Per record: its end in `data`, and the reader's segment and offset after it (for
    /// reporting a record that does not decode).
    recs: Vec<(usize, Option<u64>, u64)>,
}

/// What the reader thread sends.
enum ReadMsg {
    Records {
        batch: RecordBatch,
        in_checkpoint: bool,
        /// The directory of the segments read.
        dir: PathBuf,
    },
    /// Damage that ends the replay.
    Damaged {
        in_checkpoint: bool,
        err: CorruptionError,
    },
    /// A segment could not be opened.
    Failed(Error),
}

/// Record batches waiting for the replay loop.
const READ_QUEUE: usize = 4;
/// Bytes of records per batch from the reader thread.
const READ_BATCH: usize = 256 * 1024;

fn recycle(batches: &Mutex<Vec<RecordBatch>>, mut b: RecordBatch) {
    b.data.clear();
    b.recs.clear();
    let mut pool = batches.lock();
    if pool.len() < 2 * READ_QUEUE {
        pool.push(b);
    }
}

/// The reader thread: reads and decompresses every record of `sources` in order and sends
/// them in batches; stops at the first damage (or when the receiver is gone).
fn read_records(
    sources: Vec<WalSource>,
    tx: &mpsc::SyncSender<ReadMsg>,
    batches: &Mutex<Vec<RecordBatch>>,
) {
    let take = || batches.lock().pop().unwrap_or_default();
    for src in sources {
        let (opened, in_checkpoint, dir) = match src {
            WalSource::Checkpoint(dir) => (SegmentReader::open(&dir, None, None), true, dir),
            WalSource::Segment(dir, k) => (SegmentReader::open(&dir, Some(k), Some(k)), false, dir),
            WalSource::SegmentFrom(dir, k, offset) => (
                SegmentReader::open_from(&dir, k, offset, Some(k)),
                false,
                dir,
            ),
        };
        let mut r = match opened {
            Ok(r) => Reader::new(r),
            Err(e) => {
                let _ = tx.send(ReadMsg::Failed(e));
                return;
            }
        };
        let mut batch = take();
        let send = |batch: RecordBatch| {
            tx.send(ReadMsg::Records {
                batch,
                in_checkpoint,
                dir: dir.clone(),
            })
            .is_ok()
        };
        loop {
            match r.next_record() {
                Ok(Some(rec)) => {
                    batch.data.extend_from_slice(rec);
                    let end = batch.data.len();
                    batch.recs.push((end, r.segment(), r.offset()));
                    if end >= READ_BATCH && !send(std::mem::replace(&mut batch, take())) {
                        return;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    if !batch.recs.is_empty() && !send(batch) {
                        return;
                    }
                    let _ = tx.send(ReadMsg::Damaged { in_checkpoint, err });
                    return;
                }
            }
        }
        if !batch.recs.is_empty() && !send(batch) {
            return;
        }
    }
}

/// The samples of a histogram record (types 7 to 10) with their series refs.
fn decode_histogram_record(rec: &[u8]) -> Result<Vec<(u64, i64, HistSample)>> {
    if RecordType::of(rec) == RecordType::HistogramSamples {
        let mut hs = Vec::new();
        record::decode_histogram_samples(rec, &mut hs)?;
        Ok(hs
            .into_iter()
            .map(|s| (s.series_ref, s.t, HistSample::Int(s.h)))
            .collect())
    } else {
        let mut hs = Vec::new();
        record::decode_float_histogram_samples(rec, &mut hs)?;
        Ok(hs
            .into_iter()
            .map(|s| (s.series_ref, s.t, HistSample::Float(s.fh)))
            .collect())
    }
}
