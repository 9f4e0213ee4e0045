//! `global.query_log_file`: the API's queries land in the file as Prometheus's JSON lines,
//! and a reload without the field stops the log.

use super::*;

/// The lines of `path` so far, each parsed as JSON.
fn logged(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The logged lines of the HTTP API (rule evaluations aside).
fn api_lines(path: &Path) -> Vec<serde_json::Value> {
    logged(path)
        .into_iter()
        .filter(|l| l.get("httpRequest").is_some())
        .collect()
}

#[test]
fn query_log_file_records_api_queries_until_a_reload_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("query.log");
    let config = dir.path().join("prometheus.yml");
    let with_log = format!("global:\n  query_log_file: {}\n", log.display());
    std::fs::write(&config, &with_log).unwrap();
    let mut p = Prometheus::start(&config, &["--web.enable-lifecycle"]);
    p.wait_ready();
    let (_, m) = p.get("/metrics");
    assert!(
        m.contains("\nprometheus_engine_query_log_enabled 1\n"),
        "{m}"
    );

    let (status, body) = p.get("/api/v1/query?query=vector(1)&time=1700000000.5");
    assert_eq!(status, 200, "{body}");
    let (status, body) = p.get(
        "/api/v1/query_range?query=sum(rate(up%5B1m%5D))&start=1700000000&end=1700000060&step=15",
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = p.get("/api/v1/query?query=label_replace(vector(1),%22a%22,%22b%22,%22c%22,%22(%22)&time=1700000000");
    assert_eq!(status, 422, "{body}");

    let lines = api_lines(&log);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let instant = &lines[0];
    assert_eq!(instant["level"], "INFO");
    assert_eq!(instant["msg"], "promql query logged");
    assert!(
        instant["time"].as_str().unwrap().ends_with('Z'),
        "{instant}"
    );
    assert_eq!(
        instant["params"],
        serde_json::json!({
            "end": "2023-11-14T22:13:20.500Z",
            "query": "vector(1)",
            "start": "2023-11-14T22:13:20.500Z",
            "step": 0
        })
    );
    assert_eq!(
        instant["httpRequest"],
        serde_json::json!({"clientIP": "127.0.0.1", "method": "GET", "path": "/api/v1/query"})
    );
    for key in [
        "evalTotalTime",
        "resultSortTime",
        "queryPreparationTime",
        "innerEvalTime",
        "execQueueTime",
        "execTotalTime",
    ] {
        assert!(
            instant["stats"]["timings"][key].is_f64() || instant["stats"]["timings"][key].is_u64(),
            "{key}: {instant}"
        );
    }
    assert_eq!(instant["stats"]["samples"]["totalQueryableSamples"], 0);
    assert!(
        instant["stats"]["samples"]["peakSamples"].is_u64(),
        "{instant}"
    );
    assert!(instant.get("error").is_none(), "{instant}");

    let range = &lines[1];
    assert_eq!(
        range["params"],
        serde_json::json!({
            "end": "2023-11-14T22:14:20.000Z",
            "query": "sum(rate(up[1m]))",
            "start": "2023-11-14T22:13:20.000Z",
            "step": 15
        })
    );
    assert_eq!(range["httpRequest"]["path"], "/api/v1/query_range");

    let failed = &lines[2];
    assert_eq!(
        failed["error"],
        "invalid regular expression in label_replace(): ("
    );
    assert!(failed["stats"]["timings"].is_object(), "{failed}");

    // A reload without the field stops the log; the file keeps what it has.
    std::fs::write(&config, "global:\n  scrape_interval: 15s\n").unwrap();
    let (status, body) = p.request("POST", "/-/reload").unwrap();
    assert_eq!(status, 200, "{body}");
    let (_, m) = p.get("/metrics");
    assert!(
        m.contains("\nprometheus_engine_query_log_enabled 0\n"),
        "{m}"
    );
    let (status, _) = p.get("/api/v1/query?query=vector(2)");
    assert_eq!(status, 200);
    assert_eq!(api_lines(&log).len(), 3);

    // A file that cannot be opened fails the reload, as in Prometheus.
    std::fs::write(
        &config,
        format!(
            "global:\n  query_log_file: {}\n",
            dir.path().join("no/such/dir.log").display()
        ),
    )
    .unwrap();
    let (status, body) = p.request("POST", "/-/reload").unwrap();
    assert_eq!(status, 500, "{body}");
    let (_, m) = p.get("/metrics");
    assert!(
        m.contains("prometheus_config_last_reload_successful 0\n"),
        "{m}"
    );

    // Back on: logging resumes, appended to the same file.
    std::fs::write(&config, &with_log).unwrap();
    p.signal("HUP");
    wait_for(
        &p,
        "/metrics",
        &[
            "\nprometheus_engine_query_log_enabled 1\n",
            "prometheus_config_last_reload_successful 1\n",
        ],
        Duration::from_secs(30),
    );
    let (status, _) = p.get("/api/v1/query?query=vector(3)");
    assert_eq!(status, 200);
    let lines = api_lines(&log);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert_eq!(lines[3]["params"]["query"], "vector(3)");
    let (_, m) = p.get("/metrics");
    assert!(
        m.contains("\nprometheus_engine_query_log_failures_total 0\n"),
        "{m}"
    );

    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(5)).code(), Some(0));
}
