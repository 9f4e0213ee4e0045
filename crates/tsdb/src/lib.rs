//! Prometheus's time series database (TSDB), embeddable and compatible with Prometheus's own
//! data directories: a data directory written by Prometheus opens here, and blocks written
//! here open in Prometheus and its `promtool`.
//!
//! Samples arrive in the in-memory *head* (backed by a write-ahead log, see `wlog` and
//! `head`), are cut into compressed chunks of about 120 samples, and are periodically
//! compacted into immutable, persistent *blocks* that each cover a time range. Queries merge
//! the head and every block overlapping their range. The database as a whole ([`db::Db`], which
//! implements `storage::Appendable` and `storage::Queryable`) ties these together.
//!
//! Main types of the on-disk side:
//! - [`chunkenc::XorChunk`] with [`chunkenc::XorIterator`]: Prometheus's Gorilla-style float
//!   chunk encoding, bit-exact with Go when appended to (stale markers keep their NaN bit
//!   pattern); blocks get [`chunkenc::XorChunk::encode_optimal`], the same format with the
//!   value windows chosen for the fewest bytes (about 16% smaller for counters).
//! - [`chunkenc::HistogramChunk`] and [`chunkenc::FloatHistogramChunk`]: native histogram
//!   chunks (encodings 2 and 3) with Prometheus's appender rules; the head stores them
//!   ([`head::HeadAppender::append_histogram`], WAL records 7 to 10) and blocks carry them.
//! - [`block::Block`]: a persistent block opened from disk ([`block::BlockMeta`],
//!   [`index::IndexReader`], [`chunks::ChunkReader`], [`tombstones::Tombstones`]), queried
//!   through [`querier::BlockQuerier`], which implements `storage::Querier`.
//! - [`compact::BlockWriter`] writes a block from a set of series (the head uses it), and
//!   [`compact::LeveledCompactor`] merges blocks into larger ones (2h, 6h, 18h, ...).
//! - [`agent::Db`]: WAL-only storage for agent mode (appends go to `wal/` only, for remote
//!   write; nothing to query).
//!
//! ```
//! use std::sync::Arc;
//! use model::{Labels, MatchType, Matcher};
//! use storage::{Querier, ValueType};
//! use tsdb::{block::Block, compact::{BlockWriter, encode_chunks}, querier::BlockQuerier};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let series = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
//! let samples: Vec<(i64, f64)> = (0..300).map(|k| (k * 15_000, 1.0)).collect();
//! let ulid = BlockWriter::new(dir.path())
//!     .write([(series.clone(), encode_chunks(&samples).unwrap())], 0, 7_200_000)
//!     .unwrap()
//!     .expect("a block with samples is written");
//!
//! let block = Block::open(&dir.path().join(ulid.to_string())).unwrap();
//! let querier = BlockQuerier::new(Arc::new(block), 0, 60_000);
//! let mut set = querier.select(true, None, &[Matcher::new(MatchType::Equal, "job", "node").unwrap()]);
//! let found = set.next().unwrap().unwrap();
//! assert_eq!(found.labels(), &series);
//! let mut it = found.iterator();
//! let mut n = 0;
//! while it.next() == ValueType::Float {
//!     n += 1;
//! }
//! assert_eq!(n, 5); // 0, 15 s, 30 s, 45 s and 60 s
//! ```
//!
//! # On-disk layout
//! ```text
//! data/
//!   01BKGV7JBM69T2G1BGBGM6KB12/   one block per ULID
//!     meta.json                   time range [minTime, maxTime), stats, compaction level, sources, parents
//!     index                       symbols, series (label refs + chunk metas), postings, offset tables, TOC
//!     chunks/000001               chunk segments (magic 0x85BD40DD), chunk ref = segment<<32 | offset
//!     tombstones                  deleted time ranges per series
//!   chunks_head/                  memory-mapped chunks of the head
//!   wal/00000000                  write-ahead log segments (8 digits), checkpoints in wal/checkpoint.N
//! ```
//! Every checksum is CRC32-Castagnoli, fixed-width integers are big-endian, and varints
//! follow Go's `encoding/binary`. The index is written in format v2 and read in v1 and v2.
#![warn(missing_docs)]

pub mod error;

pub mod agent;
pub mod block;
pub mod checkpoint;
pub use chunkenc;
pub mod chunks;
pub mod compact;
pub mod db;
pub mod exemplar;
pub mod head;
pub mod index;
pub mod metrics;
mod periodic;
pub mod querier;
pub mod record;
pub mod tombstones;
pub mod wlog;

pub use error::{Error, Result};
