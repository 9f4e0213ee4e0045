//! The TSDB's own metrics (`prometheus_tsdb_*`, Prometheus's names, types and help texts), counted where the events happen and rendered by [`crate::db::Db::write_metrics`].
//!
//! Counters live in per-area structs: `HeadMetrics` (appends, series, chunks, head
//! truncation and checkpoints), [`WalMetrics`] (one per write log: page flushes, fsyncs,
//! record parts), [`CompactorMetrics`] (block writes) and `DbMetrics` (reloads,
//! retention, compaction runs). The head's chunk count is kept at the events that change
//! it (`HeadMetrics::chunks`); other state (series, sizes, time bounds) is read from the
//! structures when rendering, without walking the series. `Families` collects the
//! rendered families and writes them sorted by name, as Go's registry does.

use std::sync::atomic::{AtomicI64, Ordering};

use model::exposition::write_header;
use model::metrics::{Counter, Gauge, Histogram, SUMMARY_QUANTILES, Summary, exponential_buckets};

/// Index of the `type="float"` member of a per-type counter pair.
pub(crate) const FLOAT: usize = 0;
/// Index of the `type="histogram"` member of a per-type counter pair.
pub(crate) const HISTOGRAM: usize = 1;

/// Families of the text exposition format, each with its header, written sorted by name.
#[derive(Debug, Default)]
pub(crate) struct Families {
    list: Vec<(String, String)>,
}

impl Families {
    /// Starts family `name` (its header written) and returns the buffer for its samples.
    pub(crate) fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut String {
        let mut text = String::new();
        write_header(&mut text, name, kind, help);
        self.list.push((name.to_string(), text));
        &mut self.list.last_mut().expect("just pushed").1
    }

    /// A family with one unlabelled sample.
    pub(crate) fn single(&mut self, name: &str, kind: &str, help: &str, v: f64) {
        model::metrics::write_sample(self.family(name, kind, help), name, &[], v);
    }

    /// A counter with a `type` label: `float` always, `histogram` always when `both`,
    /// otherwise once it is non-zero (Go creates that label value on first use).
    pub(crate) fn by_type(&mut self, name: &str, help: &str, c: &[Counter; 2], both: bool) {
        let out = self.family(name, "counter", help);
        model::metrics::write_sample(out, name, &[("type", "float")], c[FLOAT].get());
        if both || c[HISTOGRAM].get() != 0.0 {
            model::metrics::write_sample(out, name, &[("type", "histogram")], c[HISTOGRAM].get());
        }
    }

    /// Adds already rendered families (each starting with its `# HELP` line).
    pub(crate) fn text(&mut self, text: &str) {
        let mut rest = text;
        while !rest.is_empty() {
            let end = rest[1..].find("\n# HELP ").map_or(rest.len(), |i| i + 2);
            let (one, tail) = rest.split_at(end);
            let name = one
                .strip_prefix("# HELP ")
                .and_then(|s| s.split(' ').next())
                .unwrap_or_default();
            self.list.push((name.to_string(), one.to_string()));
            rest = tail;
        }
    }

    /// Appends every family to `out`, sorted by name.
    pub(crate) fn write(mut self, out: &mut String) {
        self.list.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, text) in self.list {
            out.push_str(&text);
        }
    }
}

/// The head's counters (Go's `headMetrics`).
#[derive(Debug)]
pub(crate) struct HeadMetrics {
    pub(crate) active_appenders: Gauge,
    /// Chunks in the head (Go's `headChunks`): memory-mapped ones plus open ones holding
    /// a sample. Kept at the events that change it (an open chunk's first sample, removal
    /// at truncation, chunks given to series at replay), so that rendering it does not
    /// walk the series; an integer, as it only ever moves by whole chunks.
    pub(crate) chunks: AtomicI64,
    pub(crate) series_created: Counter,
    pub(crate) series_removed: Counter,
    pub(crate) series_not_found: Counter,
    pub(crate) chunks_created: Counter,
    pub(crate) chunks_removed: Counter,
    pub(crate) mmap_chunks: Counter,
    pub(crate) gc_duration: Summary,
    pub(crate) samples_appended: [Counter; 2],
    pub(crate) ooo_appended: [Counter; 2],
    pub(crate) out_of_bound: [Counter; 2],
    pub(crate) out_of_order: [Counter; 2],
    pub(crate) too_old: [Counter; 2],
    pub(crate) truncations: Counter,
    pub(crate) truncations_failed: Counter,
    pub(crate) wal_truncate_duration: Summary,
    pub(crate) checkpoint_creations: Counter,
    pub(crate) checkpoint_creations_failed: Counter,
    pub(crate) checkpoint_deletions: Counter,
    pub(crate) checkpoint_deletions_failed: Counter,
    pub(crate) replay_duration: Gauge,
}

impl Default for HeadMetrics {
    fn default() -> Self {
        HeadMetrics {
            active_appenders: Gauge::default(),
            chunks: AtomicI64::new(0),
            series_created: Counter::default(),
            series_removed: Counter::default(),
            series_not_found: Counter::default(),
            chunks_created: Counter::default(),
            chunks_removed: Counter::default(),
            mmap_chunks: Counter::default(),
            // Go's head summaries have no objectives: only sum and count.
            gc_duration: Summary::with_quantiles(&[]),
            samples_appended: Default::default(),
            ooo_appended: Default::default(),
            out_of_bound: Default::default(),
            out_of_order: Default::default(),
            too_old: Default::default(),
            truncations: Counter::default(),
            truncations_failed: Counter::default(),
            wal_truncate_duration: Summary::with_quantiles(&[]),
            checkpoint_creations: Counter::default(),
            checkpoint_creations_failed: Counter::default(),
            checkpoint_deletions: Counter::default(),
            checkpoint_deletions_failed: Counter::default(),
            replay_duration: Gauge::default(),
        }
    }
}

impl HeadMetrics {
    /// Moves the head's chunk count by `delta`.
    #[inline]
    pub(crate) fn add_chunks(&self, delta: i64) {
        if delta != 0 {
            self.chunks.fetch_add(delta, Ordering::Relaxed);
        }
    }

    /// The head's chunk count.
    pub(crate) fn chunks(&self) -> u64 {
        u64::try_from(self.chunks.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Counts a sample refused at append time (`histogram`: a native histogram).
    pub(crate) fn count_refused(&self, e: &storage::Error, histogram: bool) {
        let i = if histogram { HISTOGRAM } else { FLOAT };
        match e {
            storage::Error::OutOfBounds => self.out_of_bound[i].inc(),
            storage::Error::OutOfOrderSample => self.out_of_order[i].inc(),
            storage::Error::TooOldSample => self.too_old[i].inc(),
            _ => {}
        }
    }

    /// Renders the counters (the state gauges are the head's own).
    pub(crate) fn families(&self, f: &mut Families) {
        let counters: [(&str, &str, &Counter); 12] = [
            (
                "prometheus_tsdb_head_series_created_total",
                "Total number of series created in the head",
                &self.series_created,
            ),
            (
                "prometheus_tsdb_head_series_removed_total",
                "Total number of series removed in the head",
                &self.series_removed,
            ),
            (
                "prometheus_tsdb_head_series_not_found_total",
                "Total number of requests for series that were not found.",
                &self.series_not_found,
            ),
            (
                "prometheus_tsdb_head_chunks_created_total",
                "Total number of chunks created in the head",
                &self.chunks_created,
            ),
            (
                "prometheus_tsdb_head_chunks_removed_total",
                "Total number of chunks removed in the head",
                &self.chunks_removed,
            ),
            (
                "prometheus_tsdb_mmap_chunks_total",
                "Total number of chunks that were memory-mapped.",
                &self.mmap_chunks,
            ),
            (
                "prometheus_tsdb_head_truncations_total",
                "Total number of head truncations attempted.",
                &self.truncations,
            ),
            (
                "prometheus_tsdb_head_truncations_failed_total",
                "Total number of head truncations that failed.",
                &self.truncations_failed,
            ),
            (
                "prometheus_tsdb_checkpoint_creations_total",
                "Total number of checkpoint creations attempted.",
                &self.checkpoint_creations,
            ),
            (
                "prometheus_tsdb_checkpoint_creations_failed_total",
                "Total number of checkpoint creations that failed.",
                &self.checkpoint_creations_failed,
            ),
            (
                "prometheus_tsdb_checkpoint_deletions_total",
                "Total number of checkpoint deletions attempted.",
                &self.checkpoint_deletions,
            ),
            (
                "prometheus_tsdb_checkpoint_deletions_failed_total",
                "Total number of checkpoint deletions that failed.",
                &self.checkpoint_deletions_failed,
            ),
        ];
        for (name, help, c) in counters {
            f.single(name, "counter", help, c.get());
        }
        f.single(
            "prometheus_tsdb_head_active_appenders",
            "gauge",
            "Number of currently active appender transactions",
            self.active_appenders.get(),
        );
        f.single(
            "prometheus_tsdb_data_replay_duration_seconds",
            "gauge",
            "Time taken to replay the data on disk.",
            self.replay_duration.get(),
        );
        f.by_type(
            "prometheus_tsdb_head_samples_appended_total",
            "Total number of appended samples.",
            &self.samples_appended,
            true,
        );
        f.by_type(
            "prometheus_tsdb_head_out_of_order_samples_appended_total",
            "Total number of appended out of order samples.",
            &self.ooo_appended,
            true,
        );
        f.by_type(
            "prometheus_tsdb_out_of_order_samples_total",
            "Total number of out of order samples ingestion failed attempts due to out of order being disabled.",
            &self.out_of_order,
            true,
        );
        f.by_type(
            "prometheus_tsdb_out_of_bound_samples_total",
            "Total number of out of bound samples ingestion failed attempts with out of order support disabled.",
            &self.out_of_bound,
            false,
        );
        f.by_type(
            "prometheus_tsdb_too_old_samples_total",
            "Total number of out of order samples ingestion failed attempts with out of support enabled, but sample outside of time window.",
            &self.too_old,
            false,
        );
        let name = "prometheus_tsdb_head_gc_duration_seconds";
        self.gc_duration.write(
            f.family(
                name,
                "summary",
                "Runtime of garbage collection in the head block.",
            ),
            name,
            &[],
        );
        let name = "prometheus_tsdb_wal_truncate_duration_seconds";
        self.wal_truncate_duration.write(
            f.family(name, "summary", "Duration of WAL truncation."),
            name,
            &[],
        );
    }
}

/// A write log's counters (Go's `wlMetrics`).
#[derive(Debug)]
pub struct WalMetrics {
    pub(crate) fsync_duration: Summary,
    pub(crate) page_flushes: Counter,
    pub(crate) completed_pages: Counter,
    pub(crate) truncations: Counter,
    pub(crate) truncations_failed: Counter,
    pub(crate) segment_current: Gauge,
    pub(crate) writes_failed: Counter,
    pub(crate) record_part_writes: Counter,
    pub(crate) record_part_bytes: Counter,
    pub(crate) record_bytes_saved: Counter,
}

impl Default for WalMetrics {
    fn default() -> Self {
        WalMetrics {
            fsync_duration: Summary::with_quantiles(&SUMMARY_QUANTILES),
            page_flushes: Counter::default(),
            completed_pages: Counter::default(),
            truncations: Counter::default(),
            truncations_failed: Counter::default(),
            segment_current: Gauge::default(),
            writes_failed: Counter::default(),
            record_part_writes: Counter::default(),
            record_part_bytes: Counter::default(),
            record_bytes_saved: Counter::default(),
        }
    }
}

impl WalMetrics {
    /// Renders the metrics of the write log in `dir` under `prefix` (`prometheus_tsdb_wal_`),
    /// with its record compression (`none`, `snappy` or `zstd`; the bytes-saved counter
    /// only exists with compression, as in Go).
    pub(crate) fn families(
        &self,
        f: &mut Families,
        prefix: &str,
        dir: &std::path::Path,
        compression: Option<&str>,
    ) {
        let n = |s: &str| format!("{prefix}{s}");
        let name = n("fsync_duration_seconds");
        self.fsync_duration.write(
            f.family(&name, "summary", "Duration of write log fsync."),
            &name,
            &[],
        );
        let counters: [(&str, &str, &Counter); 7] = [
            (
                "page_flushes_total",
                "Total number of page flushes.",
                &self.page_flushes,
            ),
            (
                "completed_pages_total",
                "Total number of completed pages.",
                &self.completed_pages,
            ),
            (
                "truncations_total",
                "Total number of write log truncations attempted.",
                &self.truncations,
            ),
            (
                "truncations_failed_total",
                "Total number of write log truncations that failed.",
                &self.truncations_failed,
            ),
            (
                "writes_failed_total",
                "Total number of write log writes that failed.",
                &self.writes_failed,
            ),
            (
                "record_part_writes_total",
                "Total number of record parts written before flushing.",
                &self.record_part_writes,
            ),
            (
                "record_parts_bytes_written_total",
                "Total number of record part bytes written before flushing, including CRC and compression headers.",
                &self.record_part_bytes,
            ),
        ];
        for (suffix, help, c) in counters {
            f.single(&n(suffix), "counter", help, c.get());
        }
        f.single(
            &n("segment_current"),
            "gauge",
            "Write log segment index that TSDB is currently writing to.",
            self.segment_current.get(),
        );
        #[allow(clippy::cast_precision_loss)]
        f.single(
            &n("storage_size_bytes"),
            "gauge",
            "Size of the write log directory.",
            crate::wlog::dir_size(dir) as f64,
        );
        if let Some(c) = compression {
            let name = n("record_bytes_saved_total");
            model::metrics::write_sample(
                f.family(
                    &name,
                    "counter",
                    "Total number of bytes saved by the optional record compression. Use this metric to learn about the effectiveness compression.",
                ),
                &name,
                &[("compression", c)],
                self.record_bytes_saved.get(),
            );
        }
    }
}

/// The block writers' counters (Go's `CompactorMetrics`).
#[derive(Debug)]
pub struct CompactorMetrics {
    pub(crate) ran: Counter,
    pub(crate) populating_block: Gauge,
    pub(crate) overlapping_blocks: Counter,
    pub(crate) duration: Histogram,
    pub(crate) chunk_size: Histogram,
    pub(crate) chunk_samples: Histogram,
    pub(crate) chunk_range: Histogram,
}

impl Default for CompactorMetrics {
    fn default() -> Self {
        CompactorMetrics {
            ran: Counter::default(),
            populating_block: Gauge::default(),
            overlapping_blocks: Counter::default(),
            duration: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            chunk_size: Histogram::new(exponential_buckets(32.0, 1.5, 12)),
            chunk_samples: Histogram::new(exponential_buckets(4.0, 1.5, 12)),
            chunk_range: Histogram::new(exponential_buckets(100.0, 4.0, 10)),
        }
    }
}

impl CompactorMetrics {
    /// Records the chunks of a level-1 block (Go's `instrumentedChunkWriter`): size in
    /// bytes, samples, and time range (milliseconds, whatever the family's name says).
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn observe_chunk(&self, bytes: usize, samples: u64, min_time: i64, max_time: i64) {
        self.chunk_size.observe(bytes as f64);
        self.chunk_samples.observe(samples as f64);
        self.chunk_range.observe((max_time - min_time) as f64);
    }

    pub(crate) fn families(&self, f: &mut Families) {
        f.single(
            "prometheus_tsdb_compactions_total",
            "counter",
            "Total number of compactions that were executed for the partition.",
            self.ran.get(),
        );
        f.single(
            "prometheus_tsdb_compaction_populating_block",
            "gauge",
            "Set to 1 when a block is currently being written to the disk.",
            self.populating_block.get(),
        );
        f.single(
            "prometheus_tsdb_vertical_compactions_total",
            "counter",
            "Total number of compactions done on overlapping blocks.",
            self.overlapping_blocks.get(),
        );
        let hists: [(&str, &str, &Histogram); 4] = [
            (
                "prometheus_tsdb_compaction_duration_seconds",
                "Duration of compaction runs",
                &self.duration,
            ),
            (
                "prometheus_tsdb_compaction_chunk_size_bytes",
                "Final size of chunks on their first compaction",
                &self.chunk_size,
            ),
            (
                "prometheus_tsdb_compaction_chunk_samples",
                "Final number of samples on their first compaction",
                &self.chunk_samples,
            ),
            (
                "prometheus_tsdb_compaction_chunk_range_seconds",
                "Final time range of chunks on their first compaction",
                &self.chunk_range,
            ),
        ];
        for (name, help, h) in hists {
            h.write(f.family(name, "histogram", help), name, &[]);
        }
    }
}

/// The database's counters (Go's `dbMetrics`).
#[derive(Debug)]
pub(crate) struct DbMetrics {
    pub(crate) reloads: Counter,
    pub(crate) reloads_failed: Counter,
    pub(crate) compactions_triggered: Counter,
    pub(crate) compactions_failed: Counter,
    pub(crate) time_retentions: Counter,
    pub(crate) size_retentions: Counter,
    pub(crate) tombstone_cleanup: Histogram,
}

impl Default for DbMetrics {
    fn default() -> Self {
        DbMetrics {
            reloads: Counter::default(),
            reloads_failed: Counter::default(),
            compactions_triggered: Counter::default(),
            compactions_failed: Counter::default(),
            time_retentions: Counter::default(),
            size_retentions: Counter::default(),
            // Go's is a native histogram without classic buckets: only `+Inf` in text.
            tombstone_cleanup: Histogram::new(Vec::new()),
        }
    }
}

impl DbMetrics {
    pub(crate) fn families(&self, f: &mut Families) {
        let counters: [(&str, &str, &Counter); 6] = [
            (
                "prometheus_tsdb_reloads_total",
                "Number of times the database reloaded block data from disk.",
                &self.reloads,
            ),
            (
                "prometheus_tsdb_reloads_failures_total",
                "Number of times the database failed to reloadBlocks block data from disk.",
                &self.reloads_failed,
            ),
            (
                "prometheus_tsdb_compactions_triggered_total",
                "Total number of triggered compactions for the partition.",
                &self.compactions_triggered,
            ),
            (
                "prometheus_tsdb_compactions_failed_total",
                "Total number of compactions that failed for the partition.",
                &self.compactions_failed,
            ),
            (
                "prometheus_tsdb_time_retentions_total",
                "The number of times that blocks were deleted because the maximum time limit was exceeded.",
                &self.time_retentions,
            ),
            (
                "prometheus_tsdb_size_retentions_total",
                "The number of times that blocks were deleted because the maximum number of bytes was exceeded.",
                &self.size_retentions,
            ),
        ];
        for (name, help, c) in counters {
            f.single(name, "counter", help, c.get());
        }
        let name = "prometheus_tsdb_tombstone_cleanup_seconds";
        self.tombstone_cleanup.write(
            f.family(
                name,
                "histogram",
                "The time taken to recompact blocks to remove tombstones.",
            ),
            name,
            &[],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_sorted_by_name_and_rendered_text_is_split() {
        let mut f = Families::default();
        f.single("b_total", "counter", "B.", 2.0);
        f.text("# HELP c_x C.\n# TYPE c_x gauge\nc_x 1\n# HELP a_x A.\n# TYPE a_x gauge\na_x 3\n");
        let mut out = String::new();
        f.write(&mut out);
        assert_eq!(
            out,
            "# HELP a_x A.\n# TYPE a_x gauge\na_x 3\n\
             # HELP b_total B.\n# TYPE b_total counter\nb_total 2\n\
             # HELP c_x C.\n# TYPE c_x gauge\nc_x 1\n"
        );
    }

    #[test]
    fn refused_samples_count_by_error_and_type() {
        let m = HeadMetrics::default();
        m.count_refused(&storage::Error::OutOfBounds, false);
        m.count_refused(&storage::Error::TooOldSample, true);
        m.count_refused(&storage::Error::DuplicateSampleForTimestamp, false);
        let mut f = Families::default();
        m.families(&mut f);
        let mut out = String::new();
        f.write(&mut out);
        assert!(out.contains("prometheus_tsdb_out_of_bound_samples_total{type=\"float\"} 1\n"));
        assert!(!out.contains("prometheus_tsdb_out_of_bound_samples_total{type=\"histogram\"}"));
        assert!(out.contains("prometheus_tsdb_too_old_samples_total{type=\"histogram\"} 1\n"));
        assert!(out.contains("prometheus_tsdb_out_of_order_samples_total{type=\"histogram\"} 0\n"));
        assert!(out.contains(
            "# TYPE prometheus_tsdb_head_gc_duration_seconds summary\n\
             prometheus_tsdb_head_gc_duration_seconds_sum 0\n\
             prometheus_tsdb_head_gc_duration_seconds_count 0\n"
        ));
    }
}
