//! Persistent blocks: a directory holding meta.json, index, chunk segments and tombstones.

pub(crate) mod mmap;
mod ulid;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use ulid::{InvalidUlid, Ulid};

use crate::chunks::ChunkReader;
use crate::error::{Error, Result};
use crate::index::IndexReader;
use crate::tombstones::Tombstones;

/// The meta file name inside a block.
pub const META_FILENAME: &str = "meta.json";
/// The index file name inside a block.
pub const INDEX_FILENAME: &str = "index";
/// The chunk segment directory inside a block.
pub const CHUNKS_DIRNAME: &str = "chunks";
/// The meta.json format version.
pub const META_VERSION_1: u32 = 1;

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// A block's statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    /// Samples in the block.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_samples: u64,
    /// Float samples (newer Prometheus versions).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_float_samples: u64,
    /// Histogram samples (newer Prometheus versions).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_histogram_samples: u64,
    /// Series in the block.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_series: u64,
    /// Chunks in the block.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_chunks: u64,
    /// Tombstone intervals in the block.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_tombstones: u64,
}

/// A parent block of a compacted block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDesc {
    /// The parent's ULID.
    pub ulid: Ulid,
    /// The parent's minimum time.
    pub min_time: i64,
    /// The parent's maximum time.
    pub max_time: i64,
}

/// How a block came to be.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMetaCompaction {
    /// 1 for blocks cut from the head, one more than the highest parent for compactions.
    pub level: u32,
    /// The level-1 blocks this block's data comes from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Ulid>,
    /// Set when the block is empty and may be deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deletable: bool,
    /// The blocks compacted into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<BlockDesc>,
    /// Set when compacting this block failed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
    /// Prometheus's compaction hints: [`FROM_OUT_OF_ORDER`] marks a block written from the
    /// out-of-order head.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
}

/// The hint of blocks Prometheus writes from its out-of-order head
/// ([`BlockMetaCompaction::hints`]).
pub const FROM_OUT_OF_ORDER: &str = "from-out-of-order";

impl BlockMetaCompaction {
    /// Whether the block was written from an out-of-order head (Go's `FromOutOfOrder`).
    pub fn from_out_of_order(&self) -> bool {
        self.hints.iter().any(|h| h == FROM_OUT_OF_ORDER)
    }
}

/// The contents of a block's `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    /// The block's ULID (also its directory name).
    pub ulid: Ulid,
    /// The earliest sample time in the block (inclusive).
    pub min_time: i64,
    /// The end of the block's time range (exclusive).
    pub max_time: i64,
    /// Statistics.
    #[serde(default)]
    pub stats: BlockStats,
    /// Compaction history.
    #[serde(default)]
    pub compaction: BlockMetaCompaction,
    /// The meta format version (1).
    pub version: u32,
}

impl BlockMeta {
    /// Reads `dir/meta.json`.
    pub fn read(dir: &Path) -> Result<BlockMeta> {
        let path = dir.join(META_FILENAME);
        let b = std::fs::read(&path).map_err(|source| Error::Io {
            op: "reading",
            path: path.clone(),
            source,
        })?;
        let meta: BlockMeta = serde_json::from_slice(&b).map_err(|source| Error::Meta {
            path: path.clone(),
            source,
        })?;
        if meta.version != META_VERSION_1 {
            return Err(Error::Corrupt {
                path,
                offset: 0,
                msg: format!("unsupported meta.json version {}", meta.version),
            });
        }
        Ok(meta)
    }

    /// The JSON Prometheus writes (tab-indented, as Go's `json.MarshalIndent`).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        self.serialize(&mut ser).map_err(|source| Error::Meta {
            path: PathBuf::from(META_FILENAME),
            source,
        })?;
        Ok(out)
    }

    /// Writes `dir/meta.json` through a temporary file, fsynced, renamed into place.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let tmp = dir.join(format!("{META_FILENAME}.tmp"));
        write_file_synced(&tmp, &self.to_json()?)?;
        let path = dir.join(META_FILENAME);
        std::fs::rename(&tmp, &path).map_err(|source| Error::Io {
            op: "renaming",
            path,
            source,
        })
    }
}

/// Writes `data` to a new file at `path` and fsyncs it.
pub(crate) fn write_file_synced(path: &Path, data: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        op: "writing",
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::create(path).map_err(io)?;
    f.write_all(data).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Fsyncs a directory (so that renames inside it are durable).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|source| Error::Io {
            op: "syncing",
            path: dir.to_path_buf(),
            source,
        })
}

struct BlockInner {
    dir: PathBuf,
    meta: BlockMeta,
    index: IndexReader,
    chunks: ChunkReader,
    tombstones: Tombstones,
    /// The size of the block's files in bytes, when opened.
    size: u64,
}

/// A persistent block opened from disk; cheap to clone (shared).
#[derive(Clone)]
pub struct Block {
    inner: Arc<BlockInner>,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("dir", &self.inner.dir)
            .field("meta", &self.inner.meta)
            .finish_non_exhaustive()
    }
}

impl Block {
    /// Opens the block in `dir`: reads meta.json and tombstones, maps index and chunks.
    pub fn open(dir: &Path) -> Result<Block> {
        let meta = BlockMeta::read(dir)?;
        let index = IndexReader::open(&dir.join(INDEX_FILENAME))?;
        let chunks = ChunkReader::open(&dir.join(CHUNKS_DIRNAME))?;
        let tombstones = Tombstones::read(dir)?;
        Ok(Block {
            inner: Arc::new(BlockInner {
                dir: dir.to_path_buf(),
                meta,
                index,
                chunks,
                tombstones,
                size: crate::wlog::dir_size(dir),
            }),
        })
    }

    /// The size of the block's files in bytes (measured when opened; rewriting its
    /// tombstones reopens it).
    pub fn size(&self) -> u64 {
        self.inner.size
    }

    /// The block's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The block's meta.json.
    pub fn meta(&self) -> &BlockMeta {
        &self.inner.meta
    }

    /// The block's index.
    pub fn index(&self) -> &IndexReader {
        &self.inner.index
    }

    /// The block's chunk segments.
    pub fn chunks(&self) -> &ChunkReader {
        &self.inner.chunks
    }

    /// The block's tombstones.
    pub fn tombstones(&self) -> &Tombstones {
        &self.inner.tombstones
    }

    /// Whether the block's time range `[min_time, max_time)` overlaps `[mint, maxt]`.
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.inner.meta.min_time <= maxt && mint < self.inner.meta.max_time
    }
}

/// Deletes a block directory crash-safely, as Prometheus does: the directory is first renamed
/// to `<ulid>.tmp-for-deletion` (which [`block_dirs`] never lists and `Db::open` removes), so a
/// crash in the middle of the recursive delete cannot leave a half-deleted block that still
/// looks like a block.
pub fn delete_block_dir(dir: &Path) -> Result<()> {
    let mut doomed = dir.as_os_str().to_owned();
    doomed.push(".tmp-for-deletion");
    let doomed = PathBuf::from(doomed);
    std::fs::rename(dir, &doomed).map_err(|source| Error::Io {
        op: "renaming",
        path: dir.to_path_buf(),
        source,
    })?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    std::fs::remove_dir_all(&doomed).map_err(|source| Error::Io {
        op: "deleting",
        path: doomed,
        source,
    })
}

/// The ULID-named block directories in `dir`, sorted by name.
pub fn block_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|source| Error::Io {
        op: "listing",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|source| Error::Io {
            op: "listing",
            path: dir.to_path_buf(),
            source,
        })?;
        let is_ulid = e
            .file_name()
            .to_str()
            .is_some_and(|n| n.parse::<Ulid>().is_ok());
        if is_ulid && e.path().join(META_FILENAME).is_file() {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleted_block_dirs_are_never_listed() {
        let dir = tempfile::tempdir().unwrap();
        let block = dir.path().join("01M85944VXNRR3RJMHHP4P5NDK");
        std::fs::create_dir_all(block.join("chunks")).unwrap();
        std::fs::write(block.join(META_FILENAME), "{}").unwrap();
        assert_eq!(block_dirs(dir.path()).unwrap(), vec![block.clone()]);
        delete_block_dir(&block).unwrap();
        assert!(block_dirs(dir.path()).unwrap().is_empty());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn meta_json_round_trips_in_go_layout() {
        let meta = BlockMeta {
            ulid: "01M85944VXNRR3RJMHHP4P5NDK".parse().unwrap(),
            min_time: 1_700_000_000_000,
            max_time: 1_700_006_390_001,
            stats: BlockStats {
                num_samples: 1926,
                num_series: 9,
                num_chunks: 9,
                ..BlockStats::default()
            },
            compaction: BlockMetaCompaction {
                level: 1,
                sources: vec!["01M85944VXNRR3RJMHHP4P5NDK".parse().unwrap()],
                ..BlockMetaCompaction::default()
            },
            version: 1,
        };
        let json = String::from_utf8(meta.to_json().unwrap()).unwrap();
        let want = "{\n\t\"ulid\": \"01M85944VXNRR3RJMHHP4P5NDK\",\n\t\"minTime\": 1700000000000,\n\t\"maxTime\": 1700006390001,\n\t\"stats\": {\n\t\t\"numSamples\": 1926,\n\t\t\"numSeries\": 9,\n\t\t\"numChunks\": 9\n\t},\n\t\"compaction\": {\n\t\t\"level\": 1,\n\t\t\"sources\": [\n\t\t\t\"01M85944VXNRR3RJMHHP4P5NDK\"\n\t\t]\n\t},\n\t\"version\": 1\n}";
        assert_eq!(json, want);
        let dir = tempfile::tempdir().unwrap();
        meta.write(dir.path()).unwrap();
        assert_eq!(BlockMeta::read(dir.path()).unwrap(), meta);
    }

    #[test]
    fn broken_meta_json_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(META_FILENAME), b"{\"ulid\": 3").unwrap();
        let err = BlockMeta::read(dir.path()).unwrap_err();
        assert!(err.to_string().contains("meta.json"), "{err}");
    }
}
