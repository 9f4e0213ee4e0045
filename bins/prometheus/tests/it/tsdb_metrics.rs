//! The TSDB's own metric families (`prometheus_tsdb_*`) on `/metrics` after start-up, one self-scrape and one query.

use super::*;

/// Present with Prometheus's types, and the values that must have moved have.
#[test]
fn self_metrics_tsdb_families() {
    let (mut p, _dir) = self_scraping();
    let (_, m) = p.get("/metrics");
    let families: &[(&str, &str)] = &[
        ("prometheus_tsdb_blocks_loaded", "gauge"),
        (
            "prometheus_tsdb_checkpoint_creations_failed_total",
            "counter",
        ),
        ("prometheus_tsdb_checkpoint_creations_total", "counter"),
        (
            "prometheus_tsdb_checkpoint_deletions_failed_total",
            "counter",
        ),
        ("prometheus_tsdb_checkpoint_deletions_total", "counter"),
        ("prometheus_tsdb_clean_start", "gauge"),
        (
            "prometheus_tsdb_compaction_chunk_range_seconds",
            "histogram",
        ),
        ("prometheus_tsdb_compaction_chunk_samples", "histogram"),
        ("prometheus_tsdb_compaction_chunk_size_bytes", "histogram"),
        ("prometheus_tsdb_compaction_duration_seconds", "histogram"),
        ("prometheus_tsdb_compaction_populating_block", "gauge"),
        ("prometheus_tsdb_compactions_failed_total", "counter"),
        ("prometheus_tsdb_compactions_total", "counter"),
        ("prometheus_tsdb_compactions_triggered_total", "counter"),
        ("prometheus_tsdb_data_replay_duration_seconds", "gauge"),
        (
            "prometheus_tsdb_exemplar_exemplars_appended_total",
            "counter",
        ),
        ("prometheus_tsdb_head_active_appenders", "gauge"),
        ("prometheus_tsdb_head_chunks", "gauge"),
        ("prometheus_tsdb_head_chunks_created_total", "counter"),
        ("prometheus_tsdb_head_chunks_removed_total", "counter"),
        ("prometheus_tsdb_head_chunks_storage_size_bytes", "gauge"),
        ("prometheus_tsdb_head_gc_duration_seconds", "summary"),
        ("prometheus_tsdb_head_max_time", "gauge"),
        ("prometheus_tsdb_head_max_time_seconds", "gauge"),
        ("prometheus_tsdb_head_min_time", "gauge"),
        ("prometheus_tsdb_head_min_time_seconds", "gauge"),
        (
            "prometheus_tsdb_head_out_of_order_samples_appended_total",
            "counter",
        ),
        ("prometheus_tsdb_head_samples_appended_total", "counter"),
        ("prometheus_tsdb_head_series", "gauge"),
        ("prometheus_tsdb_head_series_created_total", "counter"),
        ("prometheus_tsdb_head_series_not_found_total", "counter"),
        ("prometheus_tsdb_head_series_removed_total", "counter"),
        ("prometheus_tsdb_head_truncations_failed_total", "counter"),
        ("prometheus_tsdb_head_truncations_total", "counter"),
        ("prometheus_tsdb_lowest_timestamp", "gauge"),
        ("prometheus_tsdb_lowest_timestamp_seconds", "gauge"),
        ("prometheus_tsdb_mmap_chunk_corruptions_total", "counter"),
        ("prometheus_tsdb_mmap_chunks_total", "counter"),
        ("prometheus_tsdb_out_of_bound_samples_total", "counter"),
        ("prometheus_tsdb_out_of_order_samples_total", "counter"),
        ("prometheus_tsdb_reloads_failures_total", "counter"),
        ("prometheus_tsdb_reloads_total", "counter"),
        ("prometheus_tsdb_retention_limit_bytes", "gauge"),
        ("prometheus_tsdb_retention_limit_seconds", "gauge"),
        ("prometheus_tsdb_size_retentions_total", "counter"),
        ("prometheus_tsdb_snapshot_replay_error_total", "counter"),
        ("prometheus_tsdb_storage_blocks_bytes", "gauge"),
        ("prometheus_tsdb_symbol_table_size_bytes", "gauge"),
        ("prometheus_tsdb_time_retentions_total", "counter"),
        ("prometheus_tsdb_tombstone_cleanup_seconds", "histogram"),
        ("prometheus_tsdb_too_old_samples_total", "counter"),
        ("prometheus_tsdb_vertical_compactions_total", "counter"),
        ("prometheus_tsdb_wal_completed_pages_total", "counter"),
        ("prometheus_tsdb_wal_corruptions_total", "counter"),
        ("prometheus_tsdb_wal_fsync_duration_seconds", "summary"),
        ("prometheus_tsdb_wal_page_flushes_total", "counter"),
        ("prometheus_tsdb_wal_record_bytes_saved_total", "counter"),
        ("prometheus_tsdb_wal_record_part_writes_total", "counter"),
        (
            "prometheus_tsdb_wal_record_parts_bytes_written_total",
            "counter",
        ),
        ("prometheus_tsdb_wal_segment_current", "gauge"),
        ("prometheus_tsdb_wal_storage_size_bytes", "gauge"),
        ("prometheus_tsdb_wal_truncate_duration_seconds", "summary"),
        ("prometheus_tsdb_wal_truncations_failed_total", "counter"),
        ("prometheus_tsdb_wal_truncations_total", "counter"),
        ("prometheus_tsdb_wal_writes_failed_total", "counter"),
    ];
    for (name, kind) in families {
        assert_eq!(
            m.matches(&format!("\n# TYPE {name} {kind}\n")).count(),
            1,
            "one {kind} {name} in\n{m}"
        );
    }
    let value = |series: &str| -> f64 {
        m.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{m}"))
    };
    // The self-scrape's samples went through the head and its WAL.
    assert!(value("prometheus_tsdb_head_series") >= 1.0);
    assert!(value("prometheus_tsdb_head_series_created_total") >= 1.0);
    assert!(value("prometheus_tsdb_head_samples_appended_total{type=\"float\"}") >= 1.0);
    assert!(value("prometheus_tsdb_head_chunks") >= 1.0);
    assert!(value("prometheus_tsdb_wal_page_flushes_total") >= 1.0);
    assert!(value("prometheus_tsdb_wal_record_parts_bytes_written_total") > 0.0);
    assert!(value("prometheus_tsdb_wal_storage_size_bytes") > 0.0);
    assert!(value("prometheus_tsdb_head_max_time") > 1.0e12);
    assert_eq!(value("prometheus_tsdb_clean_start"), 1.0);
    assert_eq!(value("prometheus_tsdb_blocks_loaded"), 0.0);
    assert!(value("prometheus_tsdb_reloads_total") >= 1.0);
    // The default retention: 15 days.
    assert_eq!(
        value("prometheus_tsdb_retention_limit_seconds"),
        1_296_000.0
    );
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(5)).code(), Some(0));
}
