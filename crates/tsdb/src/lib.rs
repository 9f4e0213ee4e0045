//! Prometheus's time series database (TSDB), embeddable and compatible with Prometheus's own
//! data directories: a data directory written by Prometheus opens here, and blocks written
//! here open in Prometheus and its `promtool`.
//!
//! Samples arrive in the in-memory *head* (backed by a write-ahead log, see `wlog` and
//! `head`), are cut into compressed chunks of about 120 samples, and are periodically
//! compacted into immutable, persistent *blocks* that each cover a time range. Queries merge
//! the head and every block overlapping their range. The database as a whole ([`Db`], which
//! implements `storage::Appendable` and `storage::Queryable`) ties these together.
//!
//! # Embedding
//!
//! [`Db::open`] opens (or creates) a data directory with [`Options`] (Prometheus's
//! defaults). Writing and reading go through the traits of the `storage` crate, which this
//! crate re-exports as [`tsdb::storage`](storage) together with [`tsdb::model`](model)
//! (labels, matchers, histograms), so that an embedder can depend on `tsdb` alone:
//! - [`Appendable::appender`](storage::Appendable::appender) starts a batch;
//!   [`Appender::append`](storage::Appender::append) and
//!   [`Appender::append_histogram`](storage::Appender::append_histogram) add float and
//!   native histogram samples, and [`Appender::commit`](storage::Appender::commit) writes
//!   the batch to the WAL and makes it visible (see [`Db`] for durability and isolation).
//! - [`Queryable::querier`](storage::Queryable::querier) opens a
//!   [`Querier`](storage::Querier) over a time range (milliseconds, both ends inclusive):
//!   series by label matchers, label names and values.
//! - [`Db::close`] flushes the WAL and releases the directory's lock file; the next
//!   [`Db::open`] replays the WAL. [`Db::snapshot`] writes a copy (the head as a block),
//!   [`Db::compact`] turns the head into blocks once it spans 1.5 block ranges.
//!
//! Everything is blocking and needs no async runtime (from async code, call it through the
//! runtime's blocking pool); no background thread runs unless [`Db::spawn_compactor`]
//! starts one (short-lived ones replay the WAL at open and fsync finished WAL segments). [`Db`] is `Send + Sync`: share it as an `Arc<Db>`, which is
//! also what `promql::Engine` queries take (the `promql` crate's docs and its `embed_tsdb`
//! example show PromQL over a [`Db`]). All errors ([`Error`], `storage::Error`) implement
//! `std::error::Error + Send + Sync`, so `?` turns them into `Box<dyn Error + Send + Sync>`
//! or `anyhow::Error`; a message says what failed and where, its cause is the error's
//! `source()` (anyhow's `{:#}` prints the chain). See also `cargo run -p tsdb --example
//! embed_db`.
//!
//! ```
//! use tsdb::model::{Histogram, Labels, MatchType, Matcher, Span};
//! use tsdb::storage::{Appendable, LabelHints, Queryable, ValueType};
//! use tsdb::{Db, Options};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let dir = tempfile::tempdir()?;
//! let db = Db::open(dir.path(), Options::default())?;
//!
//! let up = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
//! let latency = Labels::from_pairs([("__name__", "latency_seconds"), ("job", "node")]);
//! // A native histogram: 1 observation in the zero bucket, 1 in (0.5, 1] and 1 in (1, 2].
//! let h = Histogram {
//!     count: 3,
//!     sum: 2.5,
//!     zero_count: 1,
//!     positive_spans: vec![Span { offset: 0, length: 2 }],
//!     positive_buckets: vec![1, 0], // delta-encoded: 1, then 1 + 0
//!     ..Histogram::default()
//! };
//! let mut app = db.appender();
//! let mut r = 0; // a series reference: 0 looks the series up by its labels
//! for i in 0..4 {
//!     r = app.append(r, &up, i * 15_000, 1.0)?;
//! }
//! app.append_histogram(0, &latency, 0, Some(&h), None)?;
//! app.commit()?;
//!
//! let q = db.querier(0, 60_000)?;
//! assert_eq!(q.label_names(None, &[])?, ["__name__", "job"]);
//! let first = LabelHints { limit: 1 };
//! assert_eq!(q.label_values("__name__", Some(&first), &[])?, ["latency_seconds"]);
//! let matchers = [Matcher::new(MatchType::RegexMatch, "__name__", "up|latency_.*")?];
//! let mut set = q.select(true, None, &matchers);
//! while let Some(series) = set.next() {
//!     let series = series?;
//!     let mut it = series.iterator();
//!     loop {
//!         match it.next() {
//!             ValueType::Float => assert_eq!(it.at().1, 1.0),
//!             ValueType::Histogram => assert_eq!(it.at_histogram().1.count, 3),
//!             _ => break, // the end, or an error:
//!         }
//!     }
//!     if let Some(e) = it.err() {
//!         return Err(e.to_string().into());
//!     }
//! }
//! drop(q);
//!
//! db.close()?;
//! drop(db);
//! let db = Db::open(dir.path(), Options::default())?; // replays the WAL
//! assert_eq!(db.head().num_series(), 2);
//! # Ok(())
//! # }
//! ```
//!
//! # Inside
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
pub use db::{Compactor, Db, Options, ReadOnlyDb};
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

/// The `model` crate this crate is built on (labels, matchers, histograms), re-exported so
/// that embedders name the same version.
pub use model;
/// The `storage` crate whose traits [`Db`] implements, re-exported so that embedders name
/// the same version.
pub use storage;

#[cfg(test)]
mod tests {
    /// What the crate docs promise embedders: share the database across threads, move its
    /// errors into `Box<dyn Error + Send + Sync>`.
    #[test]
    fn embedding_types_are_send_sync_and_errors_are_std_errors() {
        fn send_sync<T: Send + Sync + 'static>() {}
        fn error<T: std::error::Error + Send + Sync + 'static>() {}
        send_sync::<crate::Db>();
        send_sync::<crate::ReadOnlyDb>();
        send_sync::<crate::agent::Db>();
        send_sync::<crate::Options>();
        error::<crate::Error>();
        error::<storage::Error>();
        error::<model::Error>();
    }
}
