//! Tests of nomad_sd against a fake Nomad server serving the payloads of upstream's
//! `discovery/nomad/nomad_test.go`.

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const SERVICES: &str = r#"
[
    {
        "Namespace": "default",
        "Services": [
        {
            "ServiceName": "hashicups",
            "Tags": [
            "metrics"
            ]
        }
        ]
    }
]"#;

const HASHICUPS: &str = r#"
[
    {
        "ID": "_nomad-task-6a1d5f0a-7362-3f5d-9baf-5ed438918e50-group-hashicups-hashicups-hashicups_ui",
        "ServiceName": "hashicups",
        "Namespace": "default",
        "NodeID": "d92fdc3c-9c2b-298a-e8f4-c33f3a449f09",
        "Datacenter": "dc1",
        "JobID": "dashboard",
        "AllocID": "6a1d5f0a-7362-3f5d-9baf-5ed438918e50",
        "Tags": [
        "metrics"
        ],
        "Address": "127.0.0.1",
        "Port": 30456,
        "CreateIndex": 226,
        "ModifyIndex": 226
    }
]"#;

fn stub(seen: &Seen) -> Reply {
    match seen.uri.split('?').next().unwrap_or_default() {
        "/v1/services" => Reply::json(SERVICES),
        "/v1/service/hashicups" => Reply::json(HASHICUPS),
        _ => Reply::status(404, "not found"),
    }
}

fn discovery(yaml: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!("scrape_configs:\n- job_name: j\n  nomad_sd_configs:\n  - {yaml}\n"),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Nomad(c) => Discovery::new(c).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn refresh_gives_upstreams_labels() {
    // Upstream's TestNomadSDRefresh (the server URL with a trailing slash, as there).
    let api = FakeApi::start(stub).await;
    let d = discovery(&format!("{{server: 'http://{}/'}}", api.addr));
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "Nomad");
    assert_eq!(
        groups[0].targets,
        [Labels::from_pairs([
            ("__address__", "127.0.0.1:30456"),
            ("__meta_nomad_address", "127.0.0.1"),
            ("__meta_nomad_dc", "dc1"),
            ("__meta_nomad_namespace", "default"),
            (
                "__meta_nomad_node_id",
                "d92fdc3c-9c2b-298a-e8f4-c33f3a449f09"
            ),
            ("__meta_nomad_service", "hashicups"),
            ("__meta_nomad_service_address", "127.0.0.1"),
            (
                "__meta_nomad_service_id",
                "_nomad-task-6a1d5f0a-7362-3f5d-9baf-5ed438918e50-group-hashicups-hashicups-hashicups_ui"
            ),
            ("__meta_nomad_service_port", "30456"),
            ("__meta_nomad_tags", ",metrics,"),
        ])]
    );
    let uris: Vec<String> = api.seen().into_iter().map(|s| s.uri).collect();
    assert_eq!(
        uris,
        [
            "/v1/services?namespace=default&region=global&stale=",
            "/v1/service/hashicups?namespace=default&region=global&stale="
        ]
    );
}

#[tokio::test]
async fn options_and_failures() {
    let api = FakeApi::start(|seen: &Seen| match seen.uri.split('?').next().unwrap_or_default() {
        "/v1/services" => Reply::json(SERVICES),
        "/v1/service/hashicups" => Reply::json(
            r#"[{"ID": "x", "ServiceName": "hashicups", "Address": "::1", "Port": 80, "Tags": []}]"#,
        ),
        _ => Reply::status(404, "not found"),
    })
    .await;
    let d = discovery(&format!(
        "{{server: 'http://{}', namespace: ns1, region: eu, allow_stale: false, tag_separator: ';'}}",
        api.addr
    ));
    let groups = d.refresh().await.unwrap();
    let t = &groups[0].targets[0];
    assert_eq!(t.get("__address__"), Some("[::1]:80"));
    // No tags: no tags label.
    assert_eq!(t.get("__meta_nomad_tags"), None);
    assert_eq!(api.seen()[0].uri, "/v1/services?namespace=ns1&region=eu");

    api.set(
        |seen: &Seen| match seen.uri.split('?').next().unwrap_or_default() {
            "/v1/services" => Reply::json(SERVICES),
            _ => Reply::status(500, "boom"),
        },
    );
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "failed to fetch services: Unexpected response code: 500 (boom)"
    );
    api.set(|_: &Seen| Reply::status(403, "Permission denied"));
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "Unexpected response code: 403 (Permission denied)"
    );
}
