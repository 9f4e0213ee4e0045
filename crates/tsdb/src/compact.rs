//! Writing blocks and leveled compaction of blocks (Go's `tsdb/compact.go`).
//!
//! [`BlockWriter::write`] persists a set of series (e.g. the head's) as a new level-1 block;
//! [`LeveledCompactor`] plans and runs compactions of existing blocks into larger ones
//! (ranges from [`exponential_block_ranges`], overlapping blocks merged first), writing
//! `level`, `sources` and `parents` into the new block's meta.json as Prometheus does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use model::Labels;

use crate::block::{
    Block, BlockDesc, BlockMeta, BlockMetaCompaction, BlockStats, CHUNKS_DIRNAME, INDEX_FILENAME,
    META_VERSION_1, Ulid, block_dirs, sync_dir,
};
use crate::chunkenc::{
    Chunk, ChunkIterator, Encoding, FloatHistogramChunk, HistogramAppend, HistogramChunk,
    SAMPLES_PER_CHUNK, Value, XorChunk, decode_all,
};
use crate::chunks::ChunkWriter;
use crate::error::{Error, Result};
use crate::index::{ChunkMeta, IndexWriter};
use crate::metrics::CompactorMetrics;
use crate::tombstones::{Interval, Tombstones};

/// A chunk to write: its time range (first and last sample, inclusive) and data.
#[derive(Debug, Clone, PartialEq)]
pub struct MemChunk {
    /// Timestamp of the first sample.
    pub min_time: i64,
    /// Timestamp of the last sample.
    pub max_time: i64,
    /// The samples (floats or native histograms).
    pub chunk: Chunk,
}

impl MemChunk {
    /// Wraps a chunk, reading its time range from the samples. Fails on an empty or
    /// corrupt chunk.
    pub fn from_chunk(chunk: XorChunk) -> Result<MemChunk> {
        MemChunk::from_any_chunk(Chunk::Xor(chunk))
    }

    /// Wraps a chunk of any encoding, reading its time range from the samples.
    pub fn from_any_chunk(chunk: Chunk) -> Result<MemChunk> {
        let mut it = chunk.iter();
        let mut range = None;
        while it.next() != storage::ValueType::None {
            let t = it.at_t();
            range = Some(range.map_or((t, t), |(a, _)| (a, t)));
        }
        if let Some(e) = it.err() {
            return Err(Error::CorruptChunk(e.to_string()));
        }
        let (min_time, max_time) =
            range.ok_or_else(|| Error::InvalidArgument("empty chunk".to_string()))?;
        Ok(MemChunk {
            min_time,
            max_time,
            chunk,
        })
    }
}

/// Encodes samples into chunks of at most [`SAMPLES_PER_CHUNK`] samples, each in the fewest
/// bytes the XOR format allows ([`XorChunk::encode_optimal`]).
pub fn encode_chunks(samples: &[(i64, f64)]) -> Result<Vec<MemChunk>> {
    let mut out = Vec::with_capacity(samples.len().div_ceil(SAMPLES_PER_CHUNK));
    for part in samples.chunks(SAMPLES_PER_CHUNK) {
        out.push(MemChunk {
            min_time: part[0].0,
            max_time: part[part.len() - 1].0,
            chunk: Chunk::Xor(XorChunk::encode_optimal(part)?),
        });
    }
    Ok(out)
}

/// Encodes samples of any kind (in time order) into chunks: runs of floats as
/// [`encode_chunks`] does, native histograms with Prometheus's histogram chunk appenders
/// (a new chunk on a counter reset, a layout change, a kind change or every
/// [`SAMPLES_PER_CHUNK`] samples).
pub fn encode_any_chunks(samples: &[(i64, Value)]) -> Result<Vec<MemChunk>> {
    let mut out = Vec::new();
    for run in samples.chunk_by(|a, b| std::mem::discriminant(&a.1) == std::mem::discriminant(&b.1))
    {
        if let Value::Float(_) = run[0].1 {
            let floats: Vec<(i64, f64)> = run
                .iter()
                .map(|(t, v)| match v {
                    Value::Float(v) => (*t, *v),
                    _ => (*t, 0.0),
                })
                .collect();
            out.extend(encode_chunks(&floats)?);
            continue;
        }
        let mut cur: Option<MemChunk> = None;
        for (t, v) in run {
            let full = cur
                .as_ref()
                .is_none_or(|c| c.chunk.num_samples() >= SAMPLES_PER_CHUNK);
            if full {
                let mut fresh = match v {
                    Value::Histogram(_) => Chunk::Histogram(HistogramChunk::new()),
                    _ => Chunk::FloatHistogram(FloatHistogramChunk::new()),
                };
                let prev = cur.as_mut().map(|c| &mut c.chunk);
                match (&mut fresh, v, prev) {
                    (Chunk::Histogram(c), Value::Histogram(h), p) => {
                        let p = match p {
                            Some(Chunk::Histogram(p)) => Some(p),
                            _ => None,
                        };
                        c.append(p, *t, h)?;
                    }
                    (Chunk::FloatHistogram(c), Value::FloatHistogram(h), p) => {
                        let p = match p {
                            Some(Chunk::FloatHistogram(p)) => Some(p),
                            _ => None,
                        };
                        c.append(p, *t, h)?;
                    }
                    _ => {}
                }
                out.extend(cur.take());
                cur = Some(MemChunk {
                    min_time: *t,
                    max_time: *t,
                    chunk: fresh,
                });
                continue;
            }
            let c = cur.as_mut().expect("a chunk is open");
            let next = match (&mut c.chunk, v) {
                (Chunk::Histogram(c), Value::Histogram(h)) => match c.append(None, *t, h)? {
                    HistogramAppend::NewChunk(n) => Some(Chunk::Histogram(n)),
                    _ => None,
                },
                (Chunk::FloatHistogram(c), Value::FloatHistogram(h)) => {
                    match c.append(None, *t, h)? {
                        HistogramAppend::NewChunk(n) => Some(Chunk::FloatHistogram(n)),
                        _ => None,
                    }
                }
                _ => None,
            };
            match next {
                Some(n) => {
                    out.extend(cur.take());
                    cur = Some(MemChunk {
                        min_time: *t,
                        max_time: *t,
                        chunk: n,
                    });
                }
                None => c.max_time = *t,
            }
        }
        out.extend(cur);
    }
    Ok(out)
}

/// Writes blocks into a data directory.
#[derive(Debug, Clone)]
pub struct BlockWriter {
    dir: PathBuf,
    segment_size: u64,
    metrics: Option<Arc<CompactorMetrics>>,
    uncached_io: bool,
}

impl BlockWriter {
    /// A writer placing new blocks in `dir` (a data directory).
    pub fn new(dir: &Path) -> BlockWriter {
        BlockWriter {
            dir: dir.to_path_buf(),
            segment_size: crate::chunks::DEFAULT_MAX_SEGMENT_SIZE,
            metrics: None,
            uncached_io: false,
        }
    }

    /// Writes the chunk segments with direct I/O (Prometheus's `use-uncached-io`; see
    /// [`ChunkWriter::with_uncached_io`]).
    #[must_use]
    pub fn with_uncached_io(mut self, on: bool) -> BlockWriter {
        self.uncached_io = on;
        self
    }

    /// Counts the blocks written in `metrics` (runs, durations, and the chunks of these
    /// level-1 blocks), as Prometheus's compactor does.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<CompactorMetrics>) -> BlockWriter {
        self.metrics = Some(metrics);
        self
    }

    /// Persists `series` as a new level-1 block covering `[mint, maxt)` and returns its
    /// ULID, or `None` when there is no sample to write (Prometheus writes no empty blocks).
    ///
    /// Series may come in any order; series without chunks are left out, and samples
    /// outside `[mint, maxt)` are trimmed off (chunks crossing the bounds are re-encoded).
    pub fn write(
        &self,
        series: impl IntoIterator<Item = (Labels, Vec<MemChunk>)>,
        mint: i64,
        maxt: i64,
    ) -> Result<Option<Ulid>> {
        let start = std::time::Instant::now();
        let ulid = Ulid::new();
        let meta = BlockMeta {
            ulid,
            min_time: mint,
            max_time: maxt,
            stats: BlockStats::default(),
            compaction: BlockMetaCompaction {
                level: 1,
                sources: vec![ulid],
                ..BlockMetaCompaction::default()
            },
            version: META_VERSION_1,
        };
        let mut all: Vec<(Labels, Vec<MemChunk>)> = Vec::new();
        for (labels, chunks) in series {
            let chunks = trim_chunks(chunks, mint, maxt)?;
            if !chunks.is_empty() {
                all.push((labels, chunks));
            }
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = all.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::InvalidArgument(format!(
                "series {} given twice",
                w[0].0
            )));
        }
        let written = self.write_sorted(meta, all)?;
        if let Some(ulid) = written {
            tracing::info!(
                mint,
                maxt,
                ulid = %ulid,
                duration = crate::head::replay::go_duration(start.elapsed()),
                ooo = false,
                "write block"
            );
        }
        Ok(written)
    }

    /// Writes sorted, distinct series with the given meta (stats are filled in here).
    fn write_sorted(
        &self,
        meta: BlockMeta,
        series: Vec<(Labels, Vec<MemChunk>)>,
    ) -> Result<Option<Ulid>> {
        let symbols: BTreeSet<String> = series
            .iter()
            .flat_map(|(l, _)| {
                l.iter()
                    .flat_map(|(n, v)| [n.to_string(), v.to_string()])
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut b = BlockBuilder::new(
            &self.dir,
            meta,
            symbols,
            self.segment_size,
            self.metrics.clone(),
            self.uncached_io,
        )?;
        for (labels, chunks) in &series {
            let raw: Vec<RawChunk<'_>> = chunks.iter().map(RawChunk::from).collect();
            b.add_series(labels, &raw)?;
        }
        b.finish()
    }
}

/// A chunk as it is stored: time range, encoding byte, data and sample count.
struct RawChunk<'a> {
    min_time: i64,
    max_time: i64,
    encoding: u8,
    data: &'a [u8],
    samples: u64,
}

impl<'a> From<&'a MemChunk> for RawChunk<'a> {
    fn from(c: &'a MemChunk) -> Self {
        RawChunk {
            min_time: c.min_time,
            max_time: c.max_time,
            encoding: c.chunk.encoding().as_u8(),
            data: c.chunk.bytes(),
            samples: c.chunk.num_samples() as u64,
        }
    }
}

/// Writes a block series by series into `<ulid>.tmp-for-creation`, then renames it into
/// place; the temporary directory is removed if the build fails or is dropped unfinished.
struct BlockBuilder {
    parent: PathBuf,
    tmp: PathBuf,
    meta: BlockMeta,
    cw: Option<ChunkWriter>,
    iw: Option<IndexWriter>,
    done: bool,
    /// Where the build is counted, and when it started.
    metrics: Option<(Arc<CompactorMetrics>, Instant)>,
}

impl BlockBuilder {
    fn new(
        parent: &Path,
        mut meta: BlockMeta,
        symbols: BTreeSet<String>,
        segment_size: u64,
        metrics: Option<Arc<CompactorMetrics>>,
        uncached_io: bool,
    ) -> Result<BlockBuilder> {
        let metrics = metrics.map(|m| {
            m.populating_block.set(1.0);
            (m, Instant::now())
        });
        let tmp = parent.join(format!("{}.tmp-for-creation", meta.ulid));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|source| Error::Io {
                op: "removing",
                path: tmp.clone(),
                source,
            })?;
        }
        std::fs::create_dir_all(&tmp).map_err(|source| Error::Io {
            op: "creating",
            path: tmp.clone(),
            source,
        })?;
        meta.stats = BlockStats::default();
        let mut b = BlockBuilder {
            parent: parent.to_path_buf(),
            tmp,
            meta,
            cw: None,
            iw: None,
            done: false,
            metrics,
        };
        b.cw = Some(
            ChunkWriter::with_segment_size(&b.tmp.join(CHUNKS_DIRNAME), segment_size)?
                .with_uncached_io(uncached_io),
        );
        b.iw = Some(IndexWriter::new(symbols)?);
        Ok(b)
    }

    /// Adds the next series (in label order); a series without chunks is left out.
    fn add_series(&mut self, labels: &Labels, chunks: &[RawChunk<'_>]) -> Result<()> {
        if chunks.is_empty() {
            return Ok(());
        }
        let (Some(cw), Some(iw)) = (self.cw.as_mut(), self.iw.as_mut()) else {
            return Err(Error::InvalidArgument(
                "block builder already finished".to_string(),
            ));
        };
        let mut metas = Vec::with_capacity(chunks.len());
        let level1 = self.meta.compaction.level == 1;
        for c in chunks {
            if level1 && let Some((m, _)) = &self.metrics {
                m.observe_chunk(c.data.len(), c.samples, c.min_time, c.max_time);
            }
            let chunk_ref = cw.write_chunk(c.encoding, c.data)?;
            metas.push(ChunkMeta {
                min_time: c.min_time,
                max_time: c.max_time,
                chunk_ref,
            });
            self.meta.stats.num_samples += c.samples;
        }
        iw.add_series(labels, &metas)?;
        self.meta.stats.num_series += 1;
        self.meta.stats.num_chunks += chunks.len() as u64;
        Ok(())
    }

    /// Completes the block; `None` (and nothing left on disk) when it holds no sample.
    fn finish(mut self) -> Result<Option<Ulid>> {
        let (Some(cw), Some(iw)) = (self.cw.take(), self.iw.take()) else {
            return Err(Error::InvalidArgument(
                "block builder already finished".to_string(),
            ));
        };
        if self.meta.stats.num_samples == 0 {
            return Ok(None);
        }
        cw.finish()?;
        iw.finish(&self.tmp.join(INDEX_FILENAME))?;
        self.meta.write(&self.tmp)?;
        Tombstones::new().write(&self.tmp)?;
        sync_dir(&self.tmp)?;
        let dest = self.parent.join(self.meta.ulid.to_string());
        std::fs::rename(&self.tmp, &dest).map_err(|source| Error::Io {
            op: "renaming",
            path: self.tmp.clone(),
            source,
        })?;
        self.done = true;
        sync_dir(&self.parent)?;
        Ok(Some(self.meta.ulid))
    }
}

impl Drop for BlockBuilder {
    fn drop(&mut self) {
        // Every build is counted, finished or failed, as Go's compactor does.
        if let Some((m, start)) = &self.metrics {
            m.populating_block.set(0.0);
            m.ran.inc();
            m.duration.observe(start.elapsed().as_secs_f64());
        }
        if !self.done {
            // Best effort: a leftover temporary directory is also removed when a Db opens.
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Drops samples outside `[mint, maxt)`, re-encoding chunks that cross the bounds.
fn trim_chunks(chunks: Vec<MemChunk>, mint: i64, maxt: i64) -> Result<Vec<MemChunk>> {
    let mut out = Vec::with_capacity(chunks.len());
    for c in chunks {
        if c.chunk.num_samples() == 0 || c.max_time < mint || c.min_time >= maxt {
            continue;
        }
        if c.min_time >= mint && c.max_time < maxt {
            out.push(c);
            continue;
        }
        let mut samples = Vec::new();
        decode_all(c.chunk.iter(), &mut samples)?;
        samples.retain(|(t, _)| mint <= *t && *t < maxt);
        out.extend(encode_any_chunks(&samples)?);
    }
    Ok(out)
}

/// Prometheus's block ranges: `steps` ranges starting at `min_size`, each `step_size`
/// times the previous (2h, 6h, 18h, ... for the defaults 2h, 3, 3).
pub fn exponential_block_ranges(min_size: i64, steps: usize, step_size: i64) -> Vec<i64> {
    let mut out = Vec::with_capacity(steps);
    let mut cur = min_size;
    for _ in 0..steps {
        out.push(cur);
        cur = cur.saturating_mul(step_size);
    }
    out
}

/// Plans and runs compactions of the blocks in a data directory.
#[derive(Debug, Clone)]
pub struct LeveledCompactor {
    ranges: Vec<i64>,
    metrics: Option<Arc<CompactorMetrics>>,
    uncached_io: bool,
}

#[derive(Debug, Clone)]
struct DirMeta {
    dir: PathBuf,
    meta: BlockMeta,
}

impl LeveledCompactor {
    /// A compactor for the given block ranges (milliseconds, ascending).
    pub fn new(ranges: Vec<i64>) -> Result<LeveledCompactor> {
        if ranges.is_empty() || ranges.windows(2).any(|w| w[0] >= w[1]) || ranges[0] <= 0 {
            return Err(Error::InvalidArgument(format!(
                "block ranges must be positive and ascending: {ranges:?}"
            )));
        }
        Ok(LeveledCompactor {
            ranges,
            metrics: None,
            uncached_io: false,
        })
    }

    /// Writes the chunk segments with direct I/O (Prometheus's `use-uncached-io`; see
    /// [`ChunkWriter::with_uncached_io`]).
    #[must_use]
    pub fn with_uncached_io(mut self, on: bool) -> LeveledCompactor {
        self.uncached_io = on;
        self
    }

    /// Counts the compactions in `metrics`, as Prometheus's compactor does.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<CompactorMetrics>) -> LeveledCompactor {
        self.metrics = Some(metrics);
        self
    }

    /// The blocks of `dir` to compact next, as Go's `LeveledCompactor.Plan`: overlapping
    /// blocks first; else the oldest full range of blocks (the newest block is left out, so
    /// that it can still be backed up as is); else a large block with many tombstones.
    pub fn plan(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut dms = Vec::new();
        for d in block_dirs(dir)? {
            let meta = BlockMeta::read(&d)?;
            dms.push(DirMeta { dir: d, meta });
        }
        Ok(self.plan_metas(dms))
    }

    fn plan_metas(&self, mut dms: Vec<DirMeta>) -> Vec<PathBuf> {
        dms.sort_by_key(|d| d.meta.min_time);
        let overlapping = select_overlapping_dirs(&dms);
        if !overlapping.is_empty() {
            return overlapping;
        }
        if dms.is_empty() {
            return Vec::new();
        }
        dms.pop();
        let selected = self.select_dirs(&dms);
        if !selected.is_empty() {
            return selected.into_iter().map(|d| d.dir.clone()).collect();
        }
        let half = self.ranges[self.ranges.len() / 2];
        for d in dms.iter().rev() {
            let m = &d.meta;
            if m.max_time - m.min_time < half {
                break;
            }
            if m.stats.num_tombstones as f64 / (m.stats.num_series + 1) as f64 > 0.05 {
                return vec![d.dir.clone()];
            }
        }
        Vec::new()
    }

    fn select_dirs<'a>(&self, ds: &'a [DirMeta]) -> Vec<&'a DirMeta> {
        if self.ranges.len() < 2 || ds.is_empty() {
            return Vec::new();
        }
        let high_time = ds[ds.len() - 1].meta.min_time;
        for &iv in &self.ranges[1..] {
            for p in split_by_range(ds, iv) {
                if p.iter().any(|d| d.meta.compaction.failed) {
                    continue;
                }
                let mint = p[0].meta.min_time;
                let maxt = p[p.len() - 1].meta.max_time;
                if (maxt - mint == iv || maxt <= high_time) && p.len() > 1 {
                    return p;
                }
            }
        }
        Vec::new()
    }

    /// Compacts the blocks in `dirs` into one new block in `dest` and returns its ULID
    /// (`None` if nothing is left, e.g. everything was deleted). Overlapping data is merged
    /// (a timestamp present in several blocks is kept once) and tombstones are applied.
    pub fn compact(&self, dest: &Path, dirs: &[PathBuf]) -> Result<Option<Ulid>> {
        let start = std::time::Instant::now();
        let blocks: Vec<Block> = dirs.iter().map(|d| Block::open(d)).collect::<Result<_>>()?;
        let written =
            compact_blocks_uncached(dest, &blocks, self.metrics.as_ref(), self.uncached_io)?;
        if let Some(ulid) = written {
            let metas: Vec<&BlockMeta> = blocks.iter().map(Block::meta).collect();
            let sources: Vec<String> = metas.iter().map(|m| m.ulid.to_string()).collect();
            tracing::info!(
                count = blocks.len(),
                mint = metas.iter().map(|m| m.min_time).min().unwrap_or(0),
                maxt = metas.iter().map(|m| m.max_time).max().unwrap_or(0),
                ulid = %ulid,
                sources = format!("[{}]", sources.join(" ")),
                duration = crate::head::replay::go_duration(start.elapsed()),
                "compact blocks"
            );
        }
        Ok(written)
    }

    /// Runs compactions in `dir` until the plan is empty, deleting the compacted blocks;
    /// returns the ULIDs of the blocks written.
    pub fn run(&self, dir: &Path) -> Result<Vec<Ulid>> {
        let mut written = Vec::new();
        loop {
            let plan = self.plan(dir)?;
            if plan.is_empty() {
                return Ok(written);
            }
            let ulid = self.compact(dir, &plan)?;
            if let Some(u) = ulid {
                written.push(u);
            }
            for d in &plan {
                crate::block::delete_block_dir(d)?;
            }
        }
    }
}

fn select_overlapping_dirs(ds: &[DirMeta]) -> Vec<PathBuf> {
    if ds.len() < 2 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut global_maxt = ds[0].meta.max_time;
    for i in 1..ds.len() {
        let d = &ds[i];
        if d.meta.min_time < global_maxt {
            if out.is_empty() {
                out.push(ds[i - 1].dir.clone());
            }
            out.push(d.dir.clone());
        } else if !out.is_empty() {
            break;
        }
        global_maxt = global_maxt.max(d.meta.max_time);
    }
    out
}

fn split_by_range(ds: &[DirMeta], tr: i64) -> Vec<Vec<&DirMeta>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < ds.len() {
        let m = &ds[i].meta;
        let t0 = if m.min_time >= 0 {
            tr * (m.min_time / tr)
        } else {
            tr * ((m.min_time - tr + 1) / tr)
        };
        if m.max_time > t0 + tr {
            i += 1;
            continue;
        }
        let mut group = Vec::new();
        while i < ds.len() && ds[i].meta.max_time <= t0 + tr {
            group.push(&ds[i]);
            i += 1;
        }
        if !group.is_empty() {
            out.push(group);
        }
    }
    out
}

/// The meta of a block compacted from `metas` (Go's `CompactBlockMetas`).
pub fn compact_block_metas(ulid: Ulid, metas: &[&BlockMeta]) -> BlockMeta {
    let mut sources = BTreeSet::new();
    let mut level = 0;
    let mut parents = Vec::new();
    let mut mint = i64::MAX;
    let mut maxt = i64::MIN;
    for m in metas {
        mint = mint.min(m.min_time);
        maxt = maxt.max(m.max_time);
        level = level.max(m.compaction.level);
        sources.extend(m.compaction.sources.iter().copied());
        parents.push(BlockDesc {
            ulid: m.ulid,
            min_time: m.min_time,
            max_time: m.max_time,
        });
    }
    BlockMeta {
        ulid,
        min_time: mint,
        max_time: maxt,
        stats: BlockStats::default(),
        compaction: BlockMetaCompaction {
            level: level + 1,
            sources: sources.into_iter().collect(),
            parents,
            ..BlockMetaCompaction::default()
        },
        version: META_VERSION_1,
    }
}

/// One block's next series in a merge: labels, chunk metas, deleted intervals.
struct Cursor<'a> {
    block: &'a Block,
    ids: std::vec::IntoIter<u64>,
    current: Option<(Labels, Vec<ChunkMeta>, Vec<Interval>)>,
}

impl Cursor<'_> {
    fn advance(&mut self) -> Result<()> {
        self.current = match self.ids.next() {
            Some(id) => {
                let mut chunks = Vec::new();
                let labels = self.block.index().series(id, &mut chunks)?;
                let deleted = self.block.tombstones().get(id).to_vec();
                Some((labels, chunks, deleted))
            }
            None => None,
        };
        Ok(())
    }
}

/// Merges `blocks` into one new block in `dest`, streaming series by series (each block
/// lists its series in label order, so this is a k-way merge).
pub fn compact_blocks(dest: &Path, blocks: &[Block]) -> Result<Option<Ulid>> {
    compact_blocks_with(dest, blocks, None)
}

/// [`compact_blocks`], counted in `metrics` when given (runs, durations, and overlapping
/// blocks as vertical compactions).
pub fn compact_blocks_with(
    dest: &Path,
    blocks: &[Block],
    metrics: Option<&Arc<CompactorMetrics>>,
) -> Result<Option<Ulid>> {
    compact_blocks_uncached(dest, blocks, metrics, false)
}

/// [`compact_blocks_with`], writing the chunk segments with direct I/O when `uncached_io`
/// (Prometheus's `use-uncached-io`; see [`ChunkWriter::with_uncached_io`]).
pub fn compact_blocks_uncached(
    dest: &Path,
    blocks: &[Block],
    metrics: Option<&Arc<CompactorMetrics>>,
    uncached_io: bool,
) -> Result<Option<Ulid>> {
    if blocks.is_empty() {
        return Ok(None);
    }
    if let Some(m) = metrics {
        // Go's check, over the blocks in the order given (sorted by time).
        let mut global_maxt = blocks[0].meta().max_time;
        for b in &blocks[1..] {
            if b.meta().min_time < global_maxt {
                m.overlapping_blocks.inc();
                break;
            }
            global_maxt = global_maxt.max(b.meta().max_time);
        }
    }
    let metas: Vec<&BlockMeta> = blocks.iter().map(Block::meta).collect();
    let meta = compact_block_metas(Ulid::new(), &metas);
    let mut symbols = BTreeSet::new();
    let mut cursors = Vec::with_capacity(blocks.len());
    for b in blocks {
        symbols.extend(b.index().symbols()?);
        let mut c = Cursor {
            block: b,
            ids: b.index().all_postings()?.into_iter(),
            current: None,
        };
        c.advance()?;
        cursors.push(c);
    }
    let mut builder = BlockBuilder::new(
        dest,
        meta,
        symbols,
        crate::chunks::DEFAULT_MAX_SEGMENT_SIZE,
        metrics.cloned(),
        uncached_io,
    )?;
    let mut last: Option<Labels> = None;
    while let Some(labels) = cursors
        .iter()
        .filter_map(|c| c.current.as_ref().map(|(l, _, _)| l))
        .min()
        .cloned()
    {
        if last.as_ref().is_some_and(|l| l >= &labels) {
            return Err(Error::InvalidArgument(format!(
                "series of a block are not in label order at {labels}"
            )));
        }
        // This series' chunks in every block holding it.
        let mut parts: Vec<(&Block, Vec<ChunkMeta>, Vec<Interval>)> = Vec::new();
        for c in cursors.iter_mut() {
            if c.current.as_ref().is_some_and(|(l, _, _)| *l == labels) {
                let (_, chunks, deleted) = c.current.take().expect("checked above");
                parts.push((c.block, chunks, deleted));
                c.advance()?;
            }
        }
        merge_series(&mut builder, &labels, parts)?;
        last = Some(labels);
    }
    builder.finish()
}

/// Writes one series of a compaction: chunks copied as they are when the parts neither
/// overlap nor carry tombstones (like Go), otherwise samples merged (the first block wins a
/// duplicate timestamp), deleted ones dropped, and re-encoded.
fn merge_series(
    builder: &mut BlockBuilder,
    labels: &Labels,
    parts: Vec<(&Block, Vec<ChunkMeta>, Vec<Interval>)>,
) -> Result<()> {
    let mut all: Vec<(usize, ChunkMeta)> = parts
        .iter()
        .enumerate()
        .flat_map(|(pi, (_, metas, _))| metas.iter().map(move |m| (pi, *m)))
        .collect();
    all.sort_by_key(|(_, m)| (m.min_time, m.max_time));
    let simple = parts.iter().all(|(_, _, deleted)| deleted.is_empty())
        && all.windows(2).all(|w| w[0].1.max_time < w[1].1.min_time);
    if simple {
        let stored = all
            .iter()
            .map(|(pi, m)| parts[*pi].0.chunks().chunk(m.chunk_ref).map(|c| (m, c)))
            .collect::<Result<Vec<_>>>()?;
        let raw = stored
            .iter()
            .map(|(m, c)| {
                Ok(RawChunk {
                    min_time: m.min_time,
                    max_time: m.max_time,
                    encoding: c.encoding,
                    data: c.data.as_ref(),
                    samples: sample_count(c.data.as_ref()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        return builder.add_series(labels, &raw);
    }
    let mut samples: BTreeMap<i64, Value> = BTreeMap::new();
    for (block, metas, deleted) in &parts {
        for m in metas {
            let c = block.chunks().chunk(m.chunk_ref)?;
            let mut decoded = Vec::new();
            decode_all(
                ChunkIterator::new(Encoding::from_u8(c.encoding)?, c.data.as_ref()),
                &mut decoded,
            )?;
            for (t, v) in decoded {
                if !deleted.iter().any(|iv| iv.contains(t)) {
                    samples.entry(t).or_insert(v);
                }
            }
        }
    }
    let samples: Vec<(i64, Value)> = samples.into_iter().collect();
    let chunks = encode_any_chunks(&samples)?;
    let raw: Vec<RawChunk<'_>> = chunks.iter().map(RawChunk::from).collect();
    builder.add_series(labels, &raw)
}

/// The sample count at the start of every chunk encoding (0 for a chunk too short).
fn sample_count(data: &[u8]) -> u64 {
    match data {
        [a, b, ..] => u64::from(u16::from_be_bytes([*a, *b])),
        _ => 0,
    }
}

#[cfg(test)]
mod tests;
