//! The server's own metric families against Prometheus 3.5.3's (`testdata/metrics/prometheus-3.5-families.txt`): each one a self-scraping Prometheus exposes is on our `/metrics` with the same TYPE, apart from the exceptions below with their reasons.

use std::collections::BTreeMap;

use super::*;

/// Families of Prometheus 3.5.3 we do not expose, and why. Everything else must be there.
const EXCEPTIONS: &[(&str, &str)] = &[
    (
        "net_conntrack_dialer_conn_attempted_total",
        "not built: per-client dialer counters (upstream names every HTTP client)",
    ),
    (
        "net_conntrack_dialer_conn_closed_total",
        "not built: per-client dialer counters",
    ),
    (
        "net_conntrack_dialer_conn_established_total",
        "not built: per-client dialer counters",
    ),
    (
        "net_conntrack_dialer_conn_failed_total",
        "not built: per-client dialer counters",
    ),
    (
        "prometheus_api_notification_active_subscribers",
        "/api/v1/notifications/live takes no subscribers (answers 204)",
    ),
    (
        "prometheus_api_notification_updates_dropped_total",
        "/api/v1/notifications/live takes no subscribers",
    ),
    (
        "prometheus_api_notification_updates_sent_total",
        "/api/v1/notifications/live takes no subscribers",
    ),
    (
        "prometheus_remote_storage_string_interner_zero_reference_releases_total",
        "remote write has no string interner",
    ),
    (
        "prometheus_target_scrape_pool_symboltable_items",
        "scrape pools have no symbol table",
    ),
    (
        "prometheus_target_scrapes_cache_flush_forced_total",
        "the scrape cache never needs a forced flush (it ages entries on every scrape)",
    ),
    (
        "prometheus_treecache_watcher_goroutines",
        "ZooKeeper watches are not goroutines here",
    ),
    (
        "prometheus_tsdb_compactions_skipped_total",
        "compaction cannot be turned off, so nothing is ever skipped",
    ),
    (
        "prometheus_tsdb_isolation_high_watermark",
        "the head has no isolation append IDs",
    ),
    (
        "prometheus_tsdb_isolation_low_watermark",
        "the head has no isolation append IDs",
    ),
];

/// `name -> type` from `name type` lines.
fn families<'a>(lines: impl Iterator<Item = &'a str>) -> BTreeMap<String, String> {
    lines
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
        })
        .collect()
}

#[test]
fn self_metrics_cover_prometheus_3_families() {
    let listed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/metrics/prometheus-3.5-families.txt");
    let listed = std::fs::read_to_string(&listed).unwrap();
    let want = families(listed.lines().filter(|l| !l.starts_with('#')));
    assert!(want.len() > 100, "{} families listed", want.len());

    // One scrape stored and one query answered, as when the list was made.
    let (p, _dir) = self_scraping();
    // The interval length summary appears with the second scrape, as in Go.
    let metrics = wait_for(
        &p,
        "/metrics",
        &["prometheus_target_interval_length_seconds{"],
        Duration::from_secs(60),
    );
    let ours = families(metrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")));

    let excepted = |name: &str| EXCEPTIONS.iter().any(|(n, _)| *n == name);
    let missing: Vec<&str> = want
        .keys()
        .map(String::as_str)
        .filter(|n| !ours.contains_key(*n) && !excepted(n))
        .collect();
    let mistyped: Vec<String> = want
        .iter()
        .filter_map(|(n, t)| {
            let o = ours.get(n)?;
            (o != t).then(|| format!("{n}: ours {o}, Prometheus {t}"))
        })
        .collect();
    let stale: Vec<&str> = EXCEPTIONS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| ours.contains_key(*n))
        .collect();
    assert!(
        missing.is_empty() && mistyped.is_empty() && stale.is_empty(),
        "missing: {missing:#?}\nmistyped: {mistyped:#?}\nexcepted but exposed now: {stale:#?}"
    );
}
