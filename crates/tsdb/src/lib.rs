//! Prometheus's time series database (TSDB), embeddable and compatible with Prometheus's own
//! data directories.
//!
//! Samples arrive in the in-memory *head* (backed by a write-ahead log), are cut into
//! compressed chunks, and are periodically compacted into immutable, persistent *blocks* that
//! cover a fixed time range. Queries merge the head and every block overlapping their range.
//!
//! Main types:
//! - [`chunkenc::XorChunk`] with its [`chunkenc::XorAppender`] and [`chunkenc::XorIterator`]:
//!   Prometheus's Gorilla-style float chunk encoding, bit-exact with Go.
//! - [`block::Block`]: a persistent block opened from disk (meta, index, chunks, tombstones),
//!   queried through [`querier::BlockQuerier`], which implements `storage::Querier`.
//! - [`compact`]: writing blocks and leveled compaction.
//!
//! # On-disk layout
//! ```text
//! data/
//!   01BKGV7JBM69T2G1BGBGM6KB12/   one block per ULID
//!     meta.json                   time range, stats, compaction level, sources, parents
//!     index                       symbols, series (label refs + chunk metas), postings, TOC
//!     chunks/000001               chunk segments (magic 0x85BD40DD), chunk ref = segment<<32|offset
//!     tombstones                  deleted time ranges per series
//!   chunks_head/                  memory-mapped chunks of the head
//!   wal/00000000                  write-ahead log segments, checkpoints in wal/checkpoint.N
//! ```
//! Every checksum is CRC32-Castagnoli; fixed-width integers are big-endian.
#![warn(missing_docs)]

pub mod error;

pub mod block;
pub mod chunkenc;
pub mod checkpoint;
pub mod chunks;
pub mod compact;
pub mod head;
pub mod index;
pub mod querier;
pub mod record;
pub mod tombstones;
pub mod wlog;

pub use error::{Error, Result};
