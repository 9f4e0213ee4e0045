//! Writing blocks and leveled compaction of blocks (Go's `tsdb/compact.go`).
//!
//! [`BlockWriter::write`] persists a set of series (e.g. the head's) as a new level-1 block;
//! [`LeveledCompactor`] plans and runs compactions of existing blocks into larger ones
//! (ranges from [`exponential_block_ranges`], overlapping blocks merged first), writing
//! `level`, `sources` and `parents` into the new block's meta.json as Prometheus does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use model::Labels;

use crate::block::{
    Block, BlockDesc, BlockMeta, BlockMetaCompaction, BlockStats, CHUNKS_DIRNAME, INDEX_FILENAME,
    META_VERSION_1, Ulid, block_dirs, sync_dir,
};
use crate::chunkenc::{Encoding, SAMPLES_PER_CHUNK, XorChunk};
use crate::chunks::ChunkWriter;
use crate::error::{Error, Result};
use crate::index::{ChunkMeta, IndexWriter};
use crate::tombstones::{Interval, Tombstones};

/// A chunk to write: its time range (first and last sample, inclusive) and data.
#[derive(Debug, Clone, PartialEq)]
pub struct MemChunk {
    /// Timestamp of the first sample.
    pub min_time: i64,
    /// Timestamp of the last sample.
    pub max_time: i64,
    /// The samples.
    pub chunk: XorChunk,
}

impl MemChunk {
    /// Wraps a chunk, reading its time range from the samples. Fails on an empty or
    /// corrupt chunk.
    pub fn from_chunk(chunk: XorChunk) -> Result<MemChunk> {
        let mut it = chunk.iter();
        let mut range = None;
        while it.next() {
            let t = it.at_t();
            range = Some(range.map_or((t, t), |(a, _)| (a, t)));
        }
        if let Some(e) = it.take_err() {
            return Err(e);
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

/// Encodes samples into chunks of at most [`SAMPLES_PER_CHUNK`] samples.
pub fn encode_chunks(samples: &[(i64, f64)]) -> Result<Vec<MemChunk>> {
    let mut out = Vec::with_capacity(samples.len().div_ceil(SAMPLES_PER_CHUNK));
    for part in samples.chunks(SAMPLES_PER_CHUNK) {
        let mut c = XorChunk::new();
        for &(t, v) in part {
            c.append(t, v)?;
        }
        out.push(MemChunk {
            min_time: part[0].0,
            max_time: part[part.len() - 1].0,
            chunk: c,
        });
    }
    Ok(out)
}

fn decode_into(chunk: &XorChunk, out: &mut Vec<(i64, f64)>) -> Result<()> {
    let mut it = chunk.iter();
    while it.next() {
        out.push(it.at());
    }
    match it.take_err() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Writes blocks into a data directory.
#[derive(Debug, Clone)]
pub struct BlockWriter {
    dir: PathBuf,
    segment_size: u64,
}

impl BlockWriter {
    /// A writer placing new blocks in `dir` (a data directory).
    pub fn new(dir: &Path) -> BlockWriter {
        BlockWriter {
            dir: dir.to_path_buf(),
            segment_size: crate::chunks::DEFAULT_MAX_SEGMENT_SIZE,
        }
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
        self.write_sorted(meta, all)
    }

    /// Writes sorted, distinct series with the given meta (stats are filled in here).
    fn write_sorted(
        &self,
        mut meta: BlockMeta,
        series: Vec<(Labels, Vec<MemChunk>)>,
    ) -> Result<Option<Ulid>> {
        let num_samples: u64 = series
            .iter()
            .flat_map(|(_, cs)| cs.iter().map(|c| c.chunk.num_samples() as u64))
            .sum();
        if num_samples == 0 {
            return Ok(None);
        }
        let io = |op: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { op, path, source }
        };
        let ulid = meta.ulid;
        let tmp = self.dir.join(format!("{ulid}.tmp-for-creation"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io("removing", &tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(io("creating", &tmp))?;
        let result = (|| -> Result<()> {
            let mut cw =
                ChunkWriter::with_segment_size(&tmp.join(CHUNKS_DIRNAME), self.segment_size)?;
            let symbols: BTreeSet<String> = series
                .iter()
                .flat_map(|(l, _)| {
                    l.iter()
                        .flat_map(|(n, v)| [n.to_string(), v.to_string()])
                        .collect::<Vec<_>>()
                })
                .collect();
            let mut iw = IndexWriter::new(symbols)?;
            let mut stats = BlockStats {
                num_samples,
                ..BlockStats::default()
            };
            let mut metas = Vec::new();
            for (labels, chunks) in &series {
                metas.clear();
                for c in chunks {
                    let chunk_ref = cw.write_chunk(Encoding::Xor.as_u8(), c.chunk.bytes())?;
                    metas.push(ChunkMeta {
                        min_time: c.min_time,
                        max_time: c.max_time,
                        chunk_ref,
                    });
                }
                iw.add_series(labels, &metas)?;
                stats.num_series += 1;
                stats.num_chunks += chunks.len() as u64;
            }
            cw.finish()?;
            iw.finish(&tmp.join(INDEX_FILENAME))?;
            meta.stats = stats;
            meta.write(&tmp)?;
            Tombstones::new().write(&tmp)?;
            sync_dir(&tmp)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let dest = self.dir.join(ulid.to_string());
        std::fs::rename(&tmp, &dest).map_err(io("renaming", &tmp))?;
        sync_dir(&self.dir)?;
        Ok(Some(ulid))
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
        decode_into(&c.chunk, &mut samples)?;
        samples.retain(|&(t, _)| mint <= t && t < maxt);
        out.extend(encode_chunks(&samples)?);
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
        Ok(LeveledCompactor { ranges })
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
        let blocks: Vec<Block> = dirs.iter().map(|d| Block::open(d)).collect::<Result<_>>()?;
        compact_blocks(dest, &blocks)
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
                std::fs::remove_dir_all(d).map_err(|source| Error::Io {
                    op: "removing",
                    path: d.clone(),
                    source,
                })?;
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

/// One block's part of a series: block index, chunk metas, deleted intervals.
type SeriesPart = (usize, Vec<ChunkMeta>, Vec<Interval>);

/// Merges `blocks` into one new block in `dest`.
pub fn compact_blocks(dest: &Path, blocks: &[Block]) -> Result<Option<Ulid>> {
    if blocks.is_empty() {
        return Ok(None);
    }
    let metas: Vec<&BlockMeta> = blocks.iter().map(Block::meta).collect();
    let meta = compact_block_metas(Ulid::new(), &metas);
    // Labels -> chunks from each block, with that block's tombstones for the series.
    let mut by_labels: BTreeMap<Labels, Vec<SeriesPart>> = BTreeMap::new();
    for (bi, b) in blocks.iter().enumerate() {
        let mut chunks = Vec::new();
        for id in b.index().all_postings()? {
            let labels = b.index().series(id, &mut chunks)?;
            let deleted = b.tombstones().get(id).to_vec();
            by_labels
                .entry(labels)
                .or_default()
                .push((bi, chunks.clone(), deleted));
        }
    }
    let mut out = Vec::with_capacity(by_labels.len());
    for (labels, parts) in by_labels {
        // Without tombstones and overlaps, chunks are copied as they are (like Go);
        // otherwise samples are merged and re-encoded.
        let mut all: Vec<(usize, ChunkMeta)> = parts
            .iter()
            .flat_map(|(bi, metas, _)| metas.iter().map(move |m| (*bi, *m)))
            .collect();
        all.sort_by_key(|(_, m)| (m.min_time, m.max_time));
        let simple = parts.iter().all(|(_, _, deleted)| deleted.is_empty())
            && all.windows(2).all(|w| w[0].1.max_time < w[1].1.min_time);
        let mut chunks = Vec::new();
        if simple {
            for (bi, m) in &all {
                let c = blocks[*bi].chunks().chunk(m.chunk_ref)?.to_xor()?;
                chunks.push(MemChunk {
                    min_time: m.min_time,
                    max_time: m.max_time,
                    chunk: c,
                });
            }
        } else {
            // Decode, drop deleted samples, merge by timestamp (first block wins), re-encode.
            let mut samples: BTreeMap<i64, f64> = BTreeMap::new();
            for (bi, metas, deleted) in &parts {
                let mut buf = Vec::new();
                for m in metas {
                    let c = blocks[*bi].chunks().chunk(m.chunk_ref)?.to_xor()?;
                    buf.clear();
                    decode_into(&c, &mut buf)?;
                    for &(t, v) in &buf {
                        if !deleted.iter().any(|iv| iv.contains(t)) {
                            samples.entry(t).or_insert(v);
                        }
                    }
                }
            }
            let samples: Vec<(i64, f64)> = samples.into_iter().collect();
            chunks = encode_chunks(&samples)?;
        }
        if !chunks.is_empty() {
            out.push((labels, chunks));
        }
    }
    BlockWriter::new(dest).write_sorted(meta, out)
}

#[cfg(test)]
mod tests;
