//! Tests of hetzner_sd against fake Hetzner Cloud and Robot APIs serving answers shaped as
//! upstream's `discovery/hetzner/mock_test.go` (trimmed to the fields discovery reads).

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const TOKEN: &str = "4234e-4235c-3451f-5151";

const SERVERS: &str = r#"{
  "servers": [
    {
      "id": 42, "name": "my-server", "status": "running",
      "public_net": {
        "ipv4": {"ip": "1.2.3.4", "blocked": false, "dns_ptr": "server01.example.com"},
        "ipv6": {"ip": "2001:db8::/64", "blocked": false, "dns_ptr": []},
        "floating_ips": [478]
      },
      "private_net": [{"network": 4711, "ip": "10.0.0.2", "alias_ips": [], "mac_address": "86:00:ff:2a:7d:e1"}],
      "server_type": {"id": 1, "name": "cx11", "cores": 1, "cpu_type": "shared", "memory": 1, "disk": 25},
      "datacenter": {
        "id": 1, "name": "fsn1-dc8",
        "location": {"id": 1, "name": "fsn1", "network_zone": "eu-central"}
      },
      "location": {"id": 1, "name": "fsn1", "network_zone": "eu-central"},
      "image": {
        "id": 4711, "type": "system", "status": "available", "name": "ubuntu-20.04",
        "description": "Ubuntu 20.04 Standard 64 bit", "os_flavor": "ubuntu", "os_version": "20.04"
      },
      "labels": {"my-key": "my-value"}
    },
    {
      "id": 44, "name": "another-server", "status": "stopped",
      "public_net": {
        "ipv4": {"ip": "1.2.3.5"},
        "ipv6": {"ip": "2001:db9::1/64"}
      },
      "private_net": [],
      "server_type": {"name": "cpx11", "cores": 2, "cpu_type": "shared", "memory": 1.5, "disk": 50},
      "datacenter": {
        "name": "fsn1-dc14",
        "location": {"name": "fsn1", "network_zone": "eu-central"}
      },
      "image": {
        "name": null, "description": "Ubuntu 20.04 Standard 64 bit", "os_flavor": "ubuntu",
        "os_version": null
      },
      "labels": {"key": "", "other-key": "value"}
    },
    {
      "id": 36, "name": "deleted-image-server", "status": "stopped",
      "public_net": {"ipv4": null, "ipv6": null},
      "private_net": [],
      "server_type": {"name": "cpx11", "cores": 2, "cpu_type": "shared", "memory": 1, "disk": 50},
      "datacenter": null,
      "location": {"name": "hel1", "network_zone": "eu-central"},
      "image": null,
      "labels": {}
    }
  ],
  "meta": {"pagination": {"page": 1, "per_page": 50, "previous_page": null, "next_page": null, "last_page": 1, "total_entries": 3}}
}"#;

const NETWORKS: &str = r#"{
  "networks": [
    {"id": 4711, "name": "mynet", "ip_range": "10.0.0.0/16", "servers": [42], "labels": {}}
  ],
  "meta": {"pagination": {"page": 1, "per_page": 50, "next_page": null, "last_page": 1, "total_entries": 1}}
}"#;

const ROBOT_SERVERS: &str = r#"[
  {
    "server": {
      "server_ip": "123.123.123.123", "server_ipv6_net": "2a01:4f8:111:4221::",
      "server_number": 321, "server_name": "server1", "product": "DS 3000", "dc": "NBG1-DC1",
      "traffic": "5 TB", "status": "ready", "cancelled": false, "paid_until": "2010-09-02",
      "ip": ["123.123.123.123"],
      "subnet": [{"ip": "2a01:4f8:111:4221::", "mask": "64"}]
    }
  },
  {
    "server": {
      "server_ip": "123.123.123.124", "server_number": 421, "server_name": "server2",
      "product": "X5", "dc": "FSN1-DC10", "traffic": "2 TB", "status": "in process",
      "cancelled": true, "paid_until": "2010-06-11", "ip": ["123.123.123.124"], "subnet": null
    }
  }
]"#;

fn hcloud_mock(seen: &Seen) -> Reply {
    if seen
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return Reply::status(401, r#"{"error": {"code": "unauthorized"}}"#);
    }
    match seen.uri.split('?').next().unwrap_or_default() {
        "/v1/servers" => Reply::json(SERVERS),
        "/v1/networks" => Reply::json(NETWORKS),
        _ => Reply::status(404, "not found"),
    }
}

fn robot_mock(seen: &Seen) -> Reply {
    // Basic auth of my-hetzner:mypassword.
    if seen
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some("Basic bXktaGV0em5lcjpteXBhc3N3b3Jk")
    {
        return Reply::status(401, "");
    }
    match seen.uri.as_str() {
        "/server" => Reply::json(ROBOT_SERVERS),
        _ => Reply::status(404, "not found"),
    }
}

fn discovery(url: &str, block: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!("scrape_configs:\n- job_name: j\n  hetzner_sd_configs:\n  - {block}\n"),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Hetzner(c) => {
            let mut d = Discovery::new(c).unwrap();
            d.base = url.to_owned();
            d
        }
        other => panic!("{other:?}"),
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

#[tokio::test]
async fn hcloud_servers_with_networks_and_labels() {
    let api = FakeApi::start(hcloud_mock).await;
    let d = discovery(
        &format!("http://{}/v1", api.addr),
        &format!("{{role: hcloud, authorization: {{credentials: {TOKEN}}}}}"),
    );
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "hetzner");
    let expected = vec![
        labels(&[
            ("__address__", "1.2.3.4:80"),
            ("__meta_hetzner_role", "hcloud"),
            ("__meta_hetzner_server_id", "42"),
            ("__meta_hetzner_server_name", "my-server"),
            ("__meta_hetzner_server_status", "running"),
            ("__meta_hetzner_public_ipv4", "1.2.3.4"),
            ("__meta_hetzner_public_ipv6_network", "2001:db8::/64"),
            ("__meta_hetzner_datacenter", "fsn1-dc8"),
            ("__meta_hetzner_hcloud_image_name", "ubuntu-20.04"),
            (
                "__meta_hetzner_hcloud_image_description",
                "Ubuntu 20.04 Standard 64 bit",
            ),
            ("__meta_hetzner_hcloud_image_os_flavor", "ubuntu"),
            ("__meta_hetzner_hcloud_image_os_version", "20.04"),
            ("__meta_hetzner_hcloud_location", "fsn1"),
            ("__meta_hetzner_hcloud_location_network_zone", "eu-central"),
            ("__meta_hetzner_hcloud_datacenter_location", "fsn1"),
            (
                "__meta_hetzner_hcloud_datacenter_location_network_zone",
                "eu-central",
            ),
            ("__meta_hetzner_hcloud_cpu_cores", "1"),
            ("__meta_hetzner_hcloud_cpu_type", "shared"),
            ("__meta_hetzner_hcloud_memory_size_gb", "1"),
            ("__meta_hetzner_hcloud_disk_size_gb", "25"),
            ("__meta_hetzner_hcloud_server_type", "cx11"),
            ("__meta_hetzner_hcloud_private_ipv4_mynet", "10.0.0.2"),
            ("__meta_hetzner_hcloud_labelpresent_my_key", "true"),
            ("__meta_hetzner_hcloud_label_my_key", "my-value"),
        ]),
        labels(&[
            ("__address__", "1.2.3.5:80"),
            ("__meta_hetzner_role", "hcloud"),
            ("__meta_hetzner_server_id", "44"),
            ("__meta_hetzner_server_name", "another-server"),
            ("__meta_hetzner_server_status", "stopped"),
            ("__meta_hetzner_datacenter", "fsn1-dc14"),
            ("__meta_hetzner_public_ipv4", "1.2.3.5"),
            ("__meta_hetzner_public_ipv6_network", "2001:db9::/64"),
            ("__meta_hetzner_hcloud_image_name", ""),
            (
                "__meta_hetzner_hcloud_image_description",
                "Ubuntu 20.04 Standard 64 bit",
            ),
            ("__meta_hetzner_hcloud_image_os_flavor", "ubuntu"),
            ("__meta_hetzner_hcloud_image_os_version", ""),
            ("__meta_hetzner_hcloud_location", "fsn1"),
            ("__meta_hetzner_hcloud_location_network_zone", "eu-central"),
            ("__meta_hetzner_hcloud_datacenter_location", "fsn1"),
            (
                "__meta_hetzner_hcloud_datacenter_location_network_zone",
                "eu-central",
            ),
            ("__meta_hetzner_hcloud_cpu_cores", "2"),
            ("__meta_hetzner_hcloud_cpu_type", "shared"),
            ("__meta_hetzner_hcloud_memory_size_gb", "1"),
            ("__meta_hetzner_hcloud_disk_size_gb", "50"),
            ("__meta_hetzner_hcloud_server_type", "cpx11"),
            ("__meta_hetzner_hcloud_labelpresent_key", "true"),
            ("__meta_hetzner_hcloud_labelpresent_other_key", "true"),
            ("__meta_hetzner_hcloud_label_key", ""),
            ("__meta_hetzner_hcloud_label_other_key", "value"),
        ]),
        labels(&[
            ("__address__", "<nil>:80"),
            ("__meta_hetzner_role", "hcloud"),
            ("__meta_hetzner_server_id", "36"),
            ("__meta_hetzner_server_name", "deleted-image-server"),
            ("__meta_hetzner_server_status", "stopped"),
            ("__meta_hetzner_public_ipv4", "<nil>"),
            ("__meta_hetzner_public_ipv6_network", "<nil>"),
            ("__meta_hetzner_hcloud_location", "hel1"),
            ("__meta_hetzner_hcloud_location_network_zone", "eu-central"),
            ("__meta_hetzner_hcloud_datacenter_location", "hel1"),
            (
                "__meta_hetzner_hcloud_datacenter_location_network_zone",
                "eu-central",
            ),
            ("__meta_hetzner_hcloud_cpu_cores", "2"),
            ("__meta_hetzner_hcloud_cpu_type", "shared"),
            ("__meta_hetzner_hcloud_memory_size_gb", "1"),
            ("__meta_hetzner_hcloud_disk_size_gb", "50"),
            ("__meta_hetzner_hcloud_server_type", "cpx11"),
        ]),
    ];
    assert_eq!(groups[0].targets, expected);
    let uris: Vec<String> = api.seen().iter().map(|s| s.uri.clone()).collect();
    assert_eq!(
        uris,
        [
            "/v1/servers?page=1&per_page=50",
            "/v1/networks?page=1&per_page=50"
        ]
    );
}

#[tokio::test]
async fn hcloud_pages_and_label_selector() {
    let api = FakeApi::start(|seen: &Seen| match seen.uri.as_str() {
        "/v1/servers?label_selector=env%3Dprod&page=1&per_page=50" => Reply::json(
            r#"{"servers": [{"id": 1, "public_net": {"ipv4": {"ip": "10.0.0.1"}}}], "meta": {"pagination": {"next_page": 2}}}"#,
        ),
        "/v1/servers?label_selector=env%3Dprod&page=2&per_page=50" => Reply::json(
            r#"{"servers": [{"id": 2, "public_net": {"ipv4": {"ip": "10.0.0.2"}}}], "meta": {"pagination": {"next_page": null}}}"#,
        ),
        "/v1/networks?page=1&per_page=50" => Reply::json(r#"{"networks": []}"#),
        _ => Reply::status(404, "not found"),
    })
    .await;
    let d = discovery(
        &format!("http://{}/v1", api.addr),
        "{role: hcloud, label_selector: env=prod, port: 9100}",
    );
    let groups = d.refresh().await.unwrap();
    let addrs: Vec<&str> = groups[0]
        .targets
        .iter()
        .map(|t| t.get("__address__").unwrap())
        .collect();
    assert_eq!(addrs, ["10.0.0.1:9100", "10.0.0.2:9100"]);
}

#[tokio::test]
async fn robot_servers_and_errors() {
    // Upstream's TestRobotSDRefresh and TestRobotSDRefreshHandleError.
    let api = FakeApi::start(robot_mock).await;
    let d = discovery(
        &format!("http://{}", api.addr),
        "{role: robot, basic_auth: {username: my-hetzner, password: mypassword}}",
    );
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups[0].source, "hetzner");
    let expected = vec![
        labels(&[
            ("__address__", "123.123.123.123:80"),
            ("__meta_hetzner_role", "robot"),
            ("__meta_hetzner_server_id", "321"),
            ("__meta_hetzner_server_name", "server1"),
            ("__meta_hetzner_server_status", "ready"),
            ("__meta_hetzner_public_ipv4", "123.123.123.123"),
            (
                "__meta_hetzner_public_ipv6_network",
                "2a01:4f8:111:4221::/64",
            ),
            ("__meta_hetzner_datacenter", "nbg1-dc1"),
            ("__meta_hetzner_robot_product", "DS 3000"),
            ("__meta_hetzner_robot_cancelled", "false"),
        ]),
        labels(&[
            ("__address__", "123.123.123.124:80"),
            ("__meta_hetzner_role", "robot"),
            ("__meta_hetzner_server_id", "421"),
            ("__meta_hetzner_server_name", "server2"),
            ("__meta_hetzner_server_status", "in process"),
            ("__meta_hetzner_public_ipv4", "123.123.123.124"),
            ("__meta_hetzner_datacenter", "fsn1-dc10"),
            ("__meta_hetzner_robot_product", "X5"),
            ("__meta_hetzner_robot_cancelled", "true"),
        ]),
    ];
    assert_eq!(groups[0].targets, expected);

    let d = discovery(&format!("http://{}", api.addr), "{role: robot}");
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "non 2xx status '401' response during hetzner service discovery with role robot"
    );
}

#[test]
fn config_errors_as_upstream() {
    for (block, err) in [
        ("{port: 80}", "role missing (one of: robot, hcloud)"),
        ("{role: cloud}", "unknown role \"cloud\""),
    ] {
        let e = config::Config::load_str(
            &format!("scrape_configs:\n- job_name: j\n  hetzner_sd_configs:\n  - {block}\n"),
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(err), "{e}");
    }
}
