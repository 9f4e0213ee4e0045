//! The storage the web handler queries before the TSDB is open: Go's `readyStorage`.

use std::sync::{Arc, RwLock};

use model::{Labels, Timestamp};
use storage::{Appendable, Appender, Querier, Queryable, SeriesRef};

/// Answers [`storage::Error::NotReady`] until [`ReadyStorage::set`] hands it the opened
/// TSDB, and again after [`ReadyStorage::clear`] (the TSDB is closing).
#[derive(Default)]
pub(crate) struct ReadyStorage {
    db: RwLock<Option<Arc<tsdb::db::Db>>>,
}

impl ReadyStorage {
    pub(crate) fn set(&self, db: Arc<tsdb::db::Db>) {
        *self
            .db
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(db);
    }

    pub(crate) fn clear(&self) {
        *self
            .db
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// The open TSDB's earliest sample time (`None`: not open, or empty).
    pub(crate) fn start_time(&self) -> Option<i64> {
        self.get().and_then(|db| db.start_time())
    }

    fn get(&self) -> Option<Arc<tsdb::db::Db>> {
        self.db
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Queryable for ReadyStorage {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> storage::Result<Box<dyn Querier>> {
        match self.get() {
            Some(db) => db.querier(mint, maxt),
            None => Err(storage::Error::NotReady),
        }
    }
}

impl Appendable for ReadyStorage {
    fn appender(&self) -> Box<dyn Appender> {
        match self.get() {
            Some(db) => db.appender(),
            None => Box::new(NotReadyAppender),
        }
    }
}

impl web::TsdbStats for ReadyStorage {
    fn tsdb_status(&self, limit: usize) -> Result<web::TsdbStatus, String> {
        let db = self
            .get()
            .ok_or_else(|| storage::Error::NotReady.to_string())?;
        let stats = db.head_stats(limit);
        // Every (name, value) pair of the head's index, as Prometheus's `NumLabelPairs`;
        // without matchers the head lists names and values from its postings, whatever the
        // time range.
        let querier = db.head().querier(i64::MIN, i64::MAX);
        let mut num_label_pairs = 0u64;
        let names = Querier::label_names(&querier, None, &[]).map_err(|e| e.to_string())?;
        for name in names {
            let values =
                Querier::label_values(&querier, &name, None, &[]).map_err(|e| e.to_string())?;
            num_label_pairs += u64::try_from(values.len()).unwrap_or(u64::MAX);
        }
        Ok(web::TsdbStatus {
            num_series: stats.num_series,
            num_label_pairs,
            chunk_count: i64::try_from(stats.num_chunks).unwrap_or(i64::MAX),
            min_time: stats.min_time,
            max_time: stats.max_time,
            series_count_by_metric_name: stats.series_count_by_metric_name,
            label_value_count_by_label_name: stats.label_value_count_by_label_name,
            memory_in_bytes_by_label_name: stats.memory_in_bytes_by_label_name,
            series_count_by_label_value_pair: stats.series_count_by_label_value_pair,
        })
    }

    fn wal_corruptions(&self) -> i64 {
        // Corruptions repaired while opening: the WAL's, and the head chunks' files.
        self.replay_corruptions()
    }

    fn block_metas(&self) -> Result<Vec<web::BlockMetaView>, String> {
        let db = self
            .get()
            .ok_or_else(|| storage::Error::NotReady.to_string())?;
        Ok(db
            .blocks()
            .into_iter()
            .map(|m| web::BlockMetaView {
                ulid: m.ulid.to_string(),
                min_time: m.min_time,
                max_time: m.max_time,
                stats: web::BlockStatsView {
                    num_samples: m.stats.num_samples,
                    num_float_samples: m.stats.num_float_samples,
                    num_histogram_samples: m.stats.num_histogram_samples,
                    num_series: m.stats.num_series,
                    num_chunks: m.stats.num_chunks,
                    num_tombstones: m.stats.num_tombstones,
                },
                compaction: web::BlockCompactionView {
                    level: m.compaction.level,
                    sources: m
                        .compaction
                        .sources
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                    deletable: m.compaction.deletable,
                    parents: m
                        .compaction
                        .parents
                        .iter()
                        .map(|p| web::BlockDescView {
                            ulid: p.ulid.to_string(),
                            min_time: p.min_time,
                            max_time: p.max_time,
                        })
                        .collect(),
                    failed: m.compaction.failed,
                },
                version: m.version,
            })
            .collect())
    }
}

impl storage::ExemplarQueryable for ReadyStorage {
    fn exemplar_querier(&self) -> storage::Result<Box<dyn storage::ExemplarQuerier>> {
        match self.get() {
            Some(db) => db.exemplar_querier(),
            None => Err(storage::Error::NotReady),
        }
    }
}

impl ReadyStorage {
    /// Applies `storage.exemplars.max_exemplars` to the open TSDB's exemplar storage
    /// (Prometheus's `Head.ApplyConfig`, with `--enable-feature=exemplar-storage`).
    pub(crate) fn apply_exemplar_config(&self, cfg: &config::Config) {
        let Some(db) = self.get() else {
            return;
        };
        let size = max_exemplars(cfg);
        let from = db.head().exemplars().max_exemplars();
        if usize::try_from(size).unwrap_or(0) == from {
            return;
        }
        let migrated = db.resize_exemplars(size);
        tracing::info!(from, to = size, migrated, "Exemplar storage resized");
    }

    /// Applies `storage.tsdb.out_of_order_time_window` to the open TSDB (Prometheus's
    /// `DB.ApplyConfig`: a window turned on opens the WBL).
    ///
    /// # Errors
    /// When the WBL cannot be opened.
    pub(crate) fn apply_tsdb_config(&self, cfg: &config::Config) -> anyhow::Result<()> {
        let Some(db) = self.get() else {
            return Ok(());
        };
        let window = cfg
            .storage
            .tsdb
            .as_ref()
            .map_or(0, |t| t.out_of_order_time_window.as_millis());
        if window != db.head().out_of_order_time_window() {
            db.set_out_of_order_time_window(window)?;
        }
        Ok(())
    }

    /// Appends the open TSDB's own metrics (`prometheus_tsdb_*`: head, WAL, checkpoints,
    /// compaction, blocks, retention, exemplar storage, and the chunk snapshot's replay
    /// error of `memory-snapshot-on-shutdown`), sorted by name; nothing before it is open.
    pub(crate) fn write_tsdb_metrics(&self, out: &mut String) {
        if let Some(db) = self.get() {
            db.write_metrics(out);
        }
    }

    fn replay_corruptions(&self) -> i64 {
        self.get().map_or(0, |db| {
            let replay = db.head().replay_stats();
            i64::from(replay.wal_corruption.is_some())
                + i64::from(replay.head_chunks_corruption.is_some())
        })
    }
}

impl web::TsdbAdmin for ReadyStorage {
    fn delete_series(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[model::Matcher],
    ) -> Result<(), String> {
        let db = self
            .get()
            .ok_or_else(|| storage::Error::NotReady.to_string())?;
        db.delete(matchers, mint, maxt).map_err(|e| e.to_string())
    }

    fn clean_tombstones(&self) -> Result<(), String> {
        let db = self
            .get()
            .ok_or_else(|| storage::Error::NotReady.to_string())?;
        db.clean_tombstones().map_err(|e| e.to_string())
    }

    fn snapshot(&self, name: &str, with_head: bool) -> Result<(), String> {
        let db = self
            .get()
            .ok_or_else(|| storage::Error::NotReady.to_string())?;
        let dir = db.dir().join("snapshots").join(name);
        std::fs::create_dir_all(&dir).map_err(|e| format!("create snapshot directory: {e}"))?;
        db.snapshot(&dir, with_head)
            .map_err(|e| format!("create snapshot: {e}"))
    }
}

/// Logs what the TSDB's open repaired (damaged WAL or head chunk files) and did with a
/// chunk snapshot (`memory-snapshot-on-shutdown`), as Prometheus's head does.
pub(crate) fn log_replay(db: &tsdb::db::Db) {
    let replay = db.head().replay_stats();
    if let Some(err) = &replay.head_chunks_corruption {
        tracing::info!(
            err = %err,
            "Loading on-disk chunks failed, the damaged head chunk files were deleted and their samples replayed from the WAL"
        );
    }
    if let Some(err) = &replay.wal_corruption {
        tracing::warn!(err = %err, "Encountered WAL read error, the WAL was repaired");
    }
    if let Some(dir) = &replay.chunk_snapshot {
        tracing::info!(
            dir = %dir.display(),
            num_series = replay.chunk_snapshot_series,
            "chunk snapshot loaded"
        );
    }
    if let Some(err) = &replay.chunk_snapshot_error {
        tracing::error!(
            err = %err,
            "Failed to load chunk snapshot, the whole WAL was replayed instead"
        );
    }
    if let Some(warning) = &replay.chunk_snapshot_warning {
        tracing::warn!("chunk snapshot not used: {warning}");
    }
}

/// The WAL segments a start-up replay reads (`<dir>/wal/00000001`...), as Prometheus's
/// `WALReplayStatus` counts them: the first and last segment numbers, with `current` at the
/// first (all zero without a WAL).
pub(crate) fn wal_replay_range(dir: &std::path::Path) -> web::WalReplayStatus {
    let segments: Vec<i64> = std::fs::read_dir(dir.join("wal"))
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i64>().ok())
                .collect()
        })
        .unwrap_or_default();
    let min = segments.iter().copied().min().unwrap_or(0);
    let max = segments.iter().copied().max().unwrap_or(0);
    web::WalReplayStatus {
        min,
        max,
        current: min,
    }
}

/// The exemplar storage size a configuration asks for (`storage.exemplars.max_exemplars`,
/// Prometheus's default 100000 when the block is absent).
pub(crate) fn max_exemplars(cfg: &config::Config) -> i64 {
    cfg.storage
        .exemplars
        .clone()
        .unwrap_or_default()
        .max_exemplars
}

/// The appender of a storage that is not open: every append fails with "not ready".
pub(crate) struct NotReadyAppender;

impl Appender for NotReadyAppender {
    fn append(
        &mut self,
        _: SeriesRef,
        _: &Labels,
        _: Timestamp,
        _: f64,
    ) -> storage::Result<SeriesRef> {
        Err(storage::Error::NotReady)
    }

    fn append_exemplar(
        &mut self,
        _: SeriesRef,
        _: &Labels,
        _: &storage::Exemplar,
    ) -> storage::Result<SeriesRef> {
        Err(storage::Error::NotReady)
    }

    fn commit(self: Box<Self>) -> storage::Result<()> {
        Ok(())
    }

    fn rollback(self: Box<Self>) -> storage::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_ready_until_set() {
        let s = ReadyStorage::default();
        assert!(matches!(s.querier(0, 1), Err(storage::Error::NotReady)));
        let mut app = s.appender();
        assert!(matches!(
            app.append(0, &Labels::from_pairs([("a", "b")]), 0, 1.0),
            Err(storage::Error::NotReady)
        ));
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(tsdb::db::Db::open(dir.path(), tsdb::db::Options::default()).unwrap());
        let mut app = db.appender();
        let series = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        app.append(0, &series, 1_000, 1.0).unwrap();
        app.commit().unwrap();
        let mut text = String::new();
        s.write_tsdb_metrics(&mut text);
        assert!(text.is_empty(), "nothing before the TSDB is open");
        s.set(db);
        s.write_tsdb_metrics(&mut text);
        assert!(text.contains("\nprometheus_tsdb_head_series 1\n"), "{text}");
        assert!(text.contains("\nprometheus_tsdb_snapshot_replay_error_total 0\n"));
        assert!(s.querier(0, 1).is_ok());
        assert!(web::TsdbStats::block_metas(&s).unwrap().is_empty());
        web::TsdbAdmin::snapshot(&s, "snap", true).unwrap();
        assert!(dir.path().join("snapshots/snap").is_dir());
        let replay = wal_replay_range(dir.path());
        assert_eq!((replay.min, replay.current), (0, 0));
        let status = web::TsdbStats::tsdb_status(&s, 10).unwrap();
        assert_eq!(status.num_series, 1);
        assert_eq!(status.num_label_pairs, 2);
        assert_eq!(status.series_count_by_metric_name, [("up".to_owned(), 1)]);
        let job = model::Matcher::equal("job", "a");
        web::TsdbAdmin::delete_series(&s, 0, 10_000, std::slice::from_ref(&job)).unwrap();
        web::TsdbAdmin::clean_tombstones(&s).unwrap();
        // No sample of the series is left (whether the empty series itself is still listed
        // is the TSDB's business).
        let querier = s.querier(0, 10_000).unwrap();
        let mut set = querier.select(true, None, &[job]);
        while let Some(series) = set.next() {
            let mut it = series.unwrap().iterator();
            assert_eq!(it.next(), storage::ValueType::None);
        }
        s.clear();
        assert!(matches!(s.querier(0, 1), Err(storage::Error::NotReady)));
        assert_eq!(
            web::TsdbStats::tsdb_status(&s, 10).unwrap_err(),
            "TSDB not ready"
        );
    }

    #[test]
    fn wal_replay_range_spans_the_segment_files() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            wal_replay_range(dir.path()),
            web::WalReplayStatus::default()
        );
        let wal = dir.path().join("wal");
        std::fs::create_dir(&wal).unwrap();
        for name in ["00000003", "00000004", "00000007", "checkpoint.00000002"] {
            std::fs::write(wal.join(name), b"").unwrap();
        }
        assert_eq!(
            wal_replay_range(dir.path()),
            web::WalReplayStatus {
                min: 3,
                max: 7,
                current: 3
            }
        );
    }
}
