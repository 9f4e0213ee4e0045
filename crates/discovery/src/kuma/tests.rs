//! Tests of kuma_sd against a fake Kuma control plane on 127.0.0.1 serving upstream's
//! `testKumaMadsV1Resources` (`discovery/xds/kuma_test.go`) as protojson, and 304 once the
//! client names the served version.

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const RESOURCES: &str = r#"{
  "versionInfo": "1",
  "resources": [
    {
      "@type": "type.googleapis.com/kuma.observability.v1.MonitoringAssignment",
      "mesh": "metrics", "service": "prometheus",
      "targets": [
        {"name": "prometheus-01", "scheme": "http", "address": "10.1.4.32:9090",
         "metricsPath": "/custom-metrics", "labels": {"commit_hash": "620506a88"}},
        {"name": "prometheus-02", "scheme": "http", "address": "10.1.4.33:9090",
         "labels": {"commit_hash": "3513bba00"}}
      ],
      "labels": {"kuma.io/zone": "us-east-1", "team": "infra"}
    },
    {
      "@type": "type.googleapis.com/kuma.observability.v1.MonitoringAssignment",
      "mesh": "metrics", "service": "grafana", "targets": [],
      "labels": {"kuma.io/zone": "us-east-1", "team": "infra"}
    },
    {
      "@type": "type.googleapis.com/kuma.observability.v1.MonitoringAssignment",
      "mesh": "data", "service": "elasticsearch",
      "targets": [
        {"name": "elasticsearch-01", "scheme": "http", "address": "10.1.1.1",
         "labels": {"role": "ml"}}
      ]
    }
  ],
  "typeUrl": "type.googleapis.com/kuma.observability.v1.MonitoringAssignment",
  "nonce": "abc"
}"#;

fn mock(seen: &Seen) -> Reply {
    if seen.method != http::Method::POST
        || !seen.uri.starts_with("/v3/discovery:monitoringassignments?")
    {
        return Reply::status(404, "not found");
    }
    let req: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    if req["version_info"] == "1" {
        return Reply::status(304, "");
    }
    Reply::json(RESOURCES)
}

fn discovery(server: &str, extra: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  kuma_sd_configs:\n  - server: {server}\n{extra}"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Kuma(c) => Discovery::new(c).unwrap(),
        other => panic!("{other:?}"),
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

#[tokio::test]
async fn fetch_gives_upstreams_targets_then_skips_unchanged() {
    let api = FakeApi::start(mock).await;
    let d = discovery(
        &format!("http://{}", api.addr),
        "    client_id: prom-1\n    fetch_timeout: 30s\n",
    );
    let groups = d.fetch().await.unwrap().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "kuma");
    let expected = vec![
        labels(&[
            ("__address__", "10.1.4.32:9090"),
            ("__metrics_path__", "/custom-metrics"),
            ("__scheme__", "http"),
            ("instance", "prometheus-01"),
            ("__meta_kuma_mesh", "metrics"),
            ("__meta_kuma_service", "prometheus"),
            ("__meta_kuma_label_team", "infra"),
            ("__meta_kuma_label_kuma_io_zone", "us-east-1"),
            ("__meta_kuma_label_commit_hash", "620506a88"),
            ("__meta_kuma_dataplane", "prometheus-01"),
        ]),
        labels(&[
            ("__address__", "10.1.4.33:9090"),
            ("__metrics_path__", ""),
            ("__scheme__", "http"),
            ("instance", "prometheus-02"),
            ("__meta_kuma_mesh", "metrics"),
            ("__meta_kuma_service", "prometheus"),
            ("__meta_kuma_label_team", "infra"),
            ("__meta_kuma_label_kuma_io_zone", "us-east-1"),
            ("__meta_kuma_label_commit_hash", "3513bba00"),
            ("__meta_kuma_dataplane", "prometheus-02"),
        ]),
        labels(&[
            ("__address__", "10.1.1.1"),
            ("__metrics_path__", ""),
            ("__scheme__", "http"),
            ("instance", "elasticsearch-01"),
            ("__meta_kuma_mesh", "data"),
            ("__meta_kuma_service", "elasticsearch"),
            ("__meta_kuma_label_role", "ml"),
            ("__meta_kuma_dataplane", "elasticsearch-01"),
        ]),
    ];
    assert_eq!(groups[0].targets, expected);

    // The next request names the version and nonce; the server has nothing newer.
    assert_eq!(d.fetch().await.unwrap(), None);
    let seen = api.seen();
    assert_eq!(
        seen[0].uri,
        "/v3/discovery:monitoringassignments?fetch-timeout=30s"
    );
    assert_eq!(seen[0].headers["content-type"], "application/json");
    let first: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(
        first,
        serde_json::json!({
            "node": {"id": "prom-1"},
            "type_url": "type.googleapis.com/kuma.observability.v1.MonitoringAssignment",
        })
    );
    let second: serde_json::Value = serde_json::from_str(&seen[1].body).unwrap();
    assert_eq!(
        second,
        serde_json::json!({
            "version_info": "1",
            "node": {"id": "prom-1"},
            "type_url": "type.googleapis.com/kuma.observability.v1.MonitoringAssignment",
            "response_nonce": "abc",
        })
    );
}

#[tokio::test]
async fn bad_answers_fail_the_fetch() {
    let api = FakeApi::start(|_: &Seen| Reply::status(503, "busy")).await;
    let server = format!("http://{}/prefix/", api.addr);
    let d = discovery(&server, "");
    assert_eq!(
        d.fetch().await.unwrap_err(),
        "non 200 status '503' response during xDS fetch"
    );
    assert_eq!(
        api.seen()[0].uri,
        "/prefix/v3/discovery:monitoringassignments?fetch-timeout=2m"
    );

    api.set(|_: &Seen| {
        Reply::json(r#"{"versionInfo": "2", "typeUrl": "type.googleapis.com/some.api.v1.Monitoring", "resources": []}"#)
    });
    assert_eq!(
        d.fetch().await.unwrap_err(),
        "received invalid typeURL for Kuma MADS v1 Resource: type.googleapis.com/some.api.v1.Monitoring"
    );

    api.set(|_: &Seen| Reply::json(format!(r#"{{"typeUrl": "{TYPE_URL}", "resources": []}}"#)));
    let groups = d.fetch().await.unwrap().unwrap();
    assert!(groups[0].targets.is_empty());
}

#[test]
fn server_urls() {
    assert_eq!(
        endpoint("https://kuma:5676", "2m").unwrap(),
        "https://kuma:5676/v3/discovery:monitoringassignments?fetch-timeout=2m"
    );
    assert_eq!(
        endpoint("ftp://kuma:5676", "2m").unwrap_err(),
        "kuma_sd: invalid xDS server URL protocol. must be either 'http' or 'https'"
    );
}
