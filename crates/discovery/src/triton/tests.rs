//! Tests of triton_sd against a fake triton-cmon on 127.0.0.1 over TLS, serving the
//! containers and compute nodes of upstream's `discovery/triton/triton_test.go`.

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen, test_ca};

const CONTAINERS: &str = r#"{"containers": [
  {
    "groups": ["foo", "bar", "baz"],
    "server_uuid": "44454c4c-5000-104d-8037-b7c04f5a5131",
    "vm_alias": "server01", "vm_brand": "lx",
    "vm_image_uuid": "7b27a514-89d7-11e6-bee6-3f96f367bee7",
    "vm_uuid": "ad466fbf-46a2-4027-9b64-8d3cdb7e9072"
  },
  {
    "server_uuid": "a5894692-bd32-4ca1-908a-e2dda3c3a5e6",
    "vm_alias": "server02", "vm_brand": "kvm",
    "vm_image_uuid": "a5894692-bd32-4ca1-908a-e2dda3c3a5e6",
    "vm_uuid": "7b27a514-89d7-11e6-bee6-3f96f367bee7"
  }
]}"#;

const COMPUTE_NODES: &str = r#"{"cns": [
  {"server_uuid": "44454c4c-5000-104d-8037-b7c04f5a5131", "server_hostname": "cn01"},
  {"server_uuid": "a5894692-bd32-4ca1-908a-e2dda3c3a5e6", "server_hostname": "cn02"}
]}"#;

fn mock(seen: &Seen) -> Reply {
    match seen.uri.split('?').next().unwrap_or_default() {
        "/v1/discover" => Reply::json(CONTAINERS),
        "/v1/gz/discover" => Reply::json(COMPUTE_NODES),
        _ => Reply::status(404, "not found"),
    }
}

fn discovery(port: u16, extra: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  triton_sd_configs:\n  - account: testAccount\n    dns_suffix: triton.example.com\n    endpoint: 127.0.0.1\n    port: {port}\n    tls_config: {{ca_file: {}}}\n{extra}",
            test_ca()
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Triton(c) => Discovery::new(c).unwrap(),
        other => panic!("{other:?}"),
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

#[tokio::test]
async fn containers_over_tls() {
    let api = FakeApi::start_tls(mock).await;
    let port = api.addr.port();
    let d = discovery(port, "    groups: [foo, bar]\n");
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(
        groups[0].source,
        format!("https://127.0.0.1:{port}/v1/discover?groups=foo%2Cbar")
    );
    assert_eq!(api.seen()[0].uri, "/v1/discover?groups=foo%2Cbar");
    let addr1 = format!("ad466fbf-46a2-4027-9b64-8d3cdb7e9072.triton.example.com:{port}");
    let addr2 = format!("7b27a514-89d7-11e6-bee6-3f96f367bee7.triton.example.com:{port}");
    assert_eq!(
        groups[0].targets,
        vec![
            labels(&[
                ("__address__", &addr1),
                (
                    "__meta_triton_machine_id",
                    "ad466fbf-46a2-4027-9b64-8d3cdb7e9072"
                ),
                ("__meta_triton_machine_alias", "server01"),
                ("__meta_triton_machine_brand", "lx"),
                (
                    "__meta_triton_machine_image",
                    "7b27a514-89d7-11e6-bee6-3f96f367bee7"
                ),
                (
                    "__meta_triton_server_id",
                    "44454c4c-5000-104d-8037-b7c04f5a5131"
                ),
                ("__meta_triton_groups", ",foo,bar,baz,"),
            ]),
            labels(&[
                ("__address__", &addr2),
                (
                    "__meta_triton_machine_id",
                    "7b27a514-89d7-11e6-bee6-3f96f367bee7"
                ),
                ("__meta_triton_machine_alias", "server02"),
                ("__meta_triton_machine_brand", "kvm"),
                (
                    "__meta_triton_machine_image",
                    "a5894692-bd32-4ca1-908a-e2dda3c3a5e6"
                ),
                (
                    "__meta_triton_server_id",
                    "a5894692-bd32-4ca1-908a-e2dda3c3a5e6"
                ),
            ]),
        ]
    );
}

#[tokio::test]
async fn compute_nodes_and_bad_answers() {
    let api = FakeApi::start_tls(mock).await;
    let port = api.addr.port();
    let d = discovery(port, "    role: cn\n");
    let groups = d.refresh().await.unwrap();
    assert_eq!(
        groups[0].source,
        format!("https://127.0.0.1:{port}/v1/gz/discover")
    );
    let addr = format!("44454c4c-5000-104d-8037-b7c04f5a5131.triton.example.com:{port}");
    assert_eq!(groups[0].targets.len(), 2);
    assert_eq!(
        groups[0].targets[0],
        labels(&[
            ("__address__", &addr),
            (
                "__meta_triton_machine_id",
                "44454c4c-5000-104d-8037-b7c04f5a5131"
            ),
            ("__meta_triton_machine_alias", "cn01"),
        ])
    );

    api.set(|_: &Seen| Reply::json("{\"cns\": 5}"));
    let err = d.refresh().await.unwrap_err();
    assert!(
        err.starts_with(
            "an error occurred unmarshaling the compute node discovery response json: "
        ),
        "{err}"
    );
}

#[test]
fn config_errors_are_upstreams() {
    let err = config::Config::load_str(
        "scrape_configs:\n- job_name: j\n  triton_sd_configs:\n  - {account: a, dns_suffix: s, endpoint: e, role: vm}\n",
        "",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("triton SD configuration requires role to be 'container' or 'cn'"),
        "{err}"
    );
}
