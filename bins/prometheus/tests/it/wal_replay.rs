//! WAL replay end to end: the server opens (a copy of) a data directory left by a killed
//! Prometheus 2.42 and serves every sample that Prometheus served before the kill.

use std::path::Path;

use serde_json::Value;

use super::{OURS, Prometheus, free_port, tsdb_path};

/// Copies `from` into `to` recursively, making every copied file writable (the fixtures are
/// read-only, and the server appends to and may repair its WAL).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            let mut perms = std::fs::metadata(&target).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            std::fs::set_permissions(&target, perms).unwrap();
        }
    }
}

/// A sample as the query API renders it: (timestamp in ms, value text).
fn samples(values: &Value) -> Vec<(i64, String)> {
    values
        .as_array()
        .expect("values is an array")
        .iter()
        .map(|pair| {
            let seconds = pair[0].as_f64().expect("timestamp is a number");
            #[allow(clippy::cast_possible_truncation)]
            let ms = (seconds * 1000.0).round() as i64;
            let value = pair[1].as_str().expect("value is a string").to_owned();
            (ms, value)
        })
        .collect()
}

/// A series selector matching exactly the labels of `metric`.
fn selector(metric: &Value) -> String {
    let pairs: Vec<String> = metric
        .as_object()
        .expect("metric is an object")
        .iter()
        .map(|(name, value)| {
            let value = value.as_str().expect("label value is a string");
            format!("{name}={}", Value::from(value))
        })
        .collect();
    format!("{{{}}}", pairs.join(","))
}

/// Formats milliseconds as the API's seconds parameter (`1795473694.369`).
fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

#[test]
fn serves_every_sample_of_a_prometheus_2_42_wal_after_replay() {
    let Some(fixture) = test_support::testdata_dir("prom-2.42/wal-replay") else {
        return;
    };
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("truth.json")).unwrap())
            .unwrap();
    let truth = truth["data"]["result"]
        .as_array()
        .expect("truth.json holds a matrix")
        .clone();
    assert!(!truth.is_empty());

    // The data directory is the fixture folder itself (`wal/` and `chunks_head/`).
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    copy_dir(&fixture.join("wal"), &data.path().join("wal"));
    std::fs::create_dir_all(data.path().join("chunks_head")).unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 1m\nscrape_configs: []\n",
    )
    .unwrap();

    // The samples are older than the default 15d retention by the time this runs.
    let args = [
        tsdb_path(data.path()),
        "--storage.tsdb.retention.time=100y".to_owned(),
    ];
    let mut p = Prometheus::spawn(OURS, &config, free_port(), args, data);
    p.wait_ready();

    let mut checked_samples = 0;
    for series in &truth {
        let want = samples(&series["values"]);
        let (first, last) = (want[0].0, want[want.len() - 1].0);
        // Prometheus 3 range windows are left-open: (last - span, last] must hold `first`.
        let query = format!("{}[{}ms]", selector(&series["metric"]), last - first + 1);
        let (status, body) = p.get(&format!(
            "/api/v1/query?query={}&time={}",
            model::strutil::query_escape(&query),
            seconds(last)
        ));
        assert_eq!(status, 200, "{query}: {body}");
        let got: Value = serde_json::from_str(&body).unwrap();
        let result = got["data"]["result"].as_array().expect("a matrix").clone();
        assert_eq!(result.len(), 1, "{query}: {body}");
        assert_eq!(result[0]["metric"], series["metric"], "{query}");
        assert_eq!(samples(&result[0]["values"]), want, "{query}");
        checked_samples += want.len();
    }

    // The query truth.json answered, at the last scrape, gives back exactly the same matrix.
    let last = truth
        .iter()
        .filter_map(|s| samples(&s["values"]).last().map(|&(t, _)| t))
        .max()
        .expect("samples");
    let query = r#"{__name__=~"up|prometheus_tsdb_head_series|go_goroutines|prometheus_http_requests_total"}[1h]"#;
    let (status, body) = p.get(&format!(
        "/api/v1/query?query={}&time={}",
        model::strutil::query_escape(query),
        seconds(last)
    ));
    assert_eq!(status, 200, "{body}");
    let got: Value = serde_json::from_str(&body).unwrap();
    let result = got["data"]["result"].as_array().expect("a matrix");
    assert_eq!(result.len(), truth.len(), "{body}");
    for (got, want) in result.iter().zip(&truth) {
        assert_eq!(got["metric"], want["metric"]);
        assert_eq!(samples(&got["values"]), samples(&want["values"]));
    }
    assert_eq!((truth.len(), checked_samples), (4, 39));
}
