//! The server's own metric families against Prometheus 3.5.3's (`testdata/metrics/prometheus-3.5-families.txt`, and `prometheus-3.5-agent-families.txt` for `--agent`): each one a self-scraping Prometheus exposes is on our `/metrics` with the same TYPE, apart from the exceptions below with their reasons.

use std::collections::BTreeMap;

use super::*;

/// Families of Prometheus 3.5.3 we do not expose, and why. Everything else must be there.
const EXCEPTIONS: &[(&str, &str)] = &[
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

/// The families listed in `testdata/metrics/<file>`.
fn listed(file: &str) -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/metrics")
        .join(file);
    let listed = std::fs::read_to_string(&path).unwrap();
    let want = families(listed.lines().filter(|l| !l.starts_with('#')));
    assert!(want.len() > 100, "{} families listed", want.len());
    want
}

/// Checks `metrics` (a `/metrics` body) against `want`: every family there with the same
/// type unless excepted, and no exception that is exposed after all.
fn check_families(want: &BTreeMap<String, String>, metrics: &str, exceptions: &[(&str, &str)]) {
    let ours = families(metrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")));
    let excepted = |name: &str| exceptions.iter().any(|(n, _)| *n == name);
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
    let stale: Vec<&str> = exceptions
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| ours.contains_key(*n))
        .collect();
    assert!(
        missing.is_empty() && mistyped.is_empty() && stale.is_empty(),
        "missing: {missing:#?}\nmistyped: {mistyped:#?}\nexcepted but exposed now: {stale:#?}"
    );
}

/// The scrape pool's client dials under the job's name, as in Prometheus: the
/// self-scrapes (job `self`) connected and none failed; `default` is listed, unused.
fn check_self_dialer(metrics: &str) {
    let sample = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
    };
    let dialer = "net_conntrack_dialer_conn";
    let attempted = sample(&format!("{dialer}_attempted_total{{dialer_name=\"self\"}}"));
    assert!(attempted >= 1.0, "{attempted}");
    assert_eq!(
        sample(&format!(
            "{dialer}_established_total{{dialer_name=\"self\"}}"
        )),
        attempted
    );
    for reason in ["refused", "resolution", "timeout", "unknown"] {
        let failed = format!("{dialer}_failed_total{{dialer_name=\"self\",reason=\"{reason}\"}}");
        assert_eq!(sample(&failed), 0.0, "{failed}");
    }
    assert_eq!(
        sample(&format!(
            "{dialer}_attempted_total{{dialer_name=\"default\"}}"
        )),
        0.0
    );
}

#[test]
fn self_metrics_cover_prometheus_3_families() {
    let want = listed("prometheus-3.5-families.txt");

    // One scrape stored and one query answered, as when the list was made.
    let (p, _dir) = self_scraping();
    // The interval length summary appears with the second scrape, as in Go.
    let metrics = wait_for(
        &p,
        "/metrics",
        &["prometheus_target_interval_length_seconds{"],
        Duration::from_secs(60),
    );
    check_families(&want, &metrics, EXCEPTIONS);
    check_self_dialer(&metrics);
}

/// As `--agent` (scraping itself, remote-writing to a receiver in the test) against the
/// families of a Prometheus 3.5.3 agent: the `prometheus_agent_*` storage, the remote
/// storage's `*_in` counters and queue families, and the notifier's idle families.
#[test]
fn agent_metrics_cover_prometheus_3_agent_families() {
    let want = listed("prometheus-3.5-agent-families.txt");
    let receiver = serve_http(|_| http_response("204 No Content", "", b""));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(
        dir.path(),
        port,
        &(self_scrape_config(port)
            + &format!(
                "remote_write:\n  - url: http://127.0.0.1:{receiver}/api/v1/write\n    queue_config: {{batch_send_deadline: 100ms}}\n"
            )),
    );
    let mut p = start_agent(&config, &dir.path().join("data-agent"), port, &[]);
    p.wait_ready();
    // Two scrapes (the interval summary) and a batch sent.
    let metrics = wait_for(
        &p,
        "/metrics",
        &[
            "prometheus_target_interval_length_seconds{",
            "prometheus_remote_storage_sent_batch_duration_seconds_count{",
        ],
        Duration::from_secs(60),
    );
    // The server's exceptions that apply (the agent has no others).
    let exceptions: Vec<(&str, &str)> = EXCEPTIONS
        .iter()
        .filter(|(n, _)| want.contains_key(*n))
        .copied()
        .collect();
    check_families(&want, &metrics, &exceptions);
    check_self_dialer(&metrics);
    // Series Prometheus's agent has too: the idle notifier's discovery manager, the WAL
    // watcher reading what was scraped.
    for series in [
        "prometheus_sd_updates_total{name=\"notify\"} 0\n",
        "prometheus_notifications_queue_capacity 10000\n",
        "prometheus_wal_watcher_records_read_total{consumer=\"",
    ] {
        assert!(metrics.contains(series), "no {series} in\n{metrics}");
    }
    // What agent mode leaves out, as Prometheus's agent does.
    for absent in [
        "prometheus_engine_",
        "prometheus_rule_",
        "prometheus_tsdb_head_",
    ] {
        assert!(
            !metrics.contains(absent),
            "{absent} in agent mode:\n{metrics}"
        );
    }
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(30)).code(), Some(0));
}
