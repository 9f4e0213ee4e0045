//! Prometheus 3's `--enable-feature` flags end to end: the server scrapes itself with extra
//! scrape metrics and type-and-unit labels, evaluates a chain of rules concurrently, and
//! accepts OTLP through the deprecated `otlp-write-receiver` spelling.

use std::time::Duration;

use super::{OURS, Prometheus, free_port, wait_for, write_config};

#[test]
fn prometheus_3_feature_flags_take_effect() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: chain\n    rules:\n      - record: e2e:b\n        expr: e2e:a * 2\n      - record: e2e:a\n        expr: vector(1)\n      - record: e2e:c\n        expr: vector(3)\n",
    )
    .unwrap();
    let config = write_config(
        dir.path(),
        port,
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n  external_labels:\n    home: '${{HOME}}'\nrule_files: [rules.yml]\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    );
    let features = "--enable-feature=extra-scrape-metrics,type-and-unit-labels,concurrent-rule-eval,otlp-write-receiver,expand-external-labels,no-default-scrape-port,delayed-compaction";
    let p = Prometheus::ready(
        OURS,
        &config,
        port,
        &[features, "--scrape.discovery-reload-interval=100ms"],
    );
    let limit = Duration::from_secs(30);

    // extra-scrape-metrics: the job sets nothing, so the feature's default applies.
    wait_for(
        &p,
        "/api/v1/query?query=scrape_timeout_seconds",
        &[r#""job":"self""#, r#""instance":"127.0.0.1:"#],
        limit,
    );
    // type-and-unit-labels: the server's own counters carry their type.
    wait_for(
        &p,
        "/api/v1/query?query=%7B__type__%3D%22counter%22%2Cjob%3D%22self%22%7D",
        &[r#""__type__":"counter""#],
        limit,
    );
    // concurrent-rule-eval: e2e:b reads e2e:a, written earlier in the same evaluation
    // although it comes first in the file.
    let body = wait_for(&p, "/api/v1/query?query=e2e:b", &[r#""e2e:b""#], limit);
    assert!(body.contains(r#""2"]"#), "{body}");
    // otlp-write-receiver turns the receiver on: an empty export is accepted.
    let (status, _, _) = super::post(
        port,
        "/api/v1/otlp/v1/metrics",
        "Content-Type: application/x-protobuf\r\n",
        b"",
    );
    assert_eq!(status, 200);
    // expand-external-labels is Prometheus 3's behaviour: $HOME is expanded.
    if let Some(home) = std::env::var_os("HOME") {
        let (_, config) = p.get("/api/v1/status/config");
        assert!(
            config.contains(&format!("home: {}", home.to_string_lossy())),
            "{config}"
        );
    }
    let (_, flags) = p.get("/api/v1/status/flags");
    assert!(flags.contains("concurrent-rule-eval"), "{flags}");
}

/// `created-timestamp-zero-ingestion` makes protobuf the first default scrape protocol, as in
/// Prometheus (created timestamps come with protobuf); a job's own list stays.
#[test]
fn created_timestamp_zero_ingestion_scrapes_protobuf_first() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(
        dir.path(),
        port,
        "scrape_configs:\n  - job_name: default\n    static_configs: [{targets: ['127.0.0.1:1']}]\n  - job_name: own\n    scrape_protocols: [PrometheusText0.0.4]\n    static_configs: [{targets: ['127.0.0.1:1']}]\n",
    );
    let mut p = Prometheus::start_bin(
        OURS,
        &config,
        port,
        &["--enable-feature=created-timestamp-zero-ingestion"],
    );
    p.wait_ready();
    let body = wait_for(
        &p,
        "/api/v1/status/config",
        &["job_name: own"],
        Duration::from_secs(30),
    );
    let yaml = serde_json::from_str::<serde_json::Value>(&body).unwrap()["data"]["yaml"]
        .as_str()
        .unwrap()
        .to_owned();
    let default_job =
        &yaml[yaml.find("job_name: default").unwrap()..yaml.find("job_name: own").unwrap()];
    assert!(
        default_job.contains("scrape_protocols:\n  - PrometheusProto\n  - OpenMetricsText1.0.0"),
        "{default_job}"
    );
    let own_job = &yaml[yaml.find("job_name: own").unwrap()..];
    assert!(
        own_job.contains("scrape_protocols:\n  - PrometheusText0.0.4\n"),
        "{own_job}"
    );
}

#[test]
fn last_flags_answer_as_prometheus_3_5_3() {
    // Unknown to 3.5.3: kingpin's two lines and status 1.
    let out = std::process::Command::new(OURS)
        .arg("--scrape.name-escaping-scheme=values")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error parsing command line arguments: unknown long flag '--scrape.name-escaping-scheme'\nprometheus: error: unknown long flag '--scrape.name-escaping-scheme'\n"
    );

    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("assets");
    std::fs::create_dir_all(assets.join("sub")).unwrap();
    std::fs::write(assets.join("a.txt"), "hello\n").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "secret\n").unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, "global: {}\n");
    let user_assets = format!("--web.user-assets={}", assets.display());
    let p = Prometheus::ready(
        OURS,
        &config,
        port,
        &[
            &user_assets,
            // Direct I/O for blocks; `old-ui` only warns, as in Debian's 3.5.3.
            "--enable-feature=use-uncached-io,old-ui",
        ],
    );
    assert_eq!(p.get("/user/a.txt"), (200, "hello\n".to_owned()));
    assert_eq!(p.get("/user/missing").0, 404);
    let (code, listing) = p.get("/user/");
    assert_eq!(code, 200);
    assert!(listing.contains("<a href=\"a.txt\">a.txt</a>") && listing.contains("sub/"));
    // `..` is cleaned away before the directory is looked at.
    let (code, body) = p.get("/user/../secret.txt");
    assert_eq!(code, 301, "{body}");
    assert_ne!(p.get("/user/%2e%2e/secret.txt").1, "secret\n");
}
