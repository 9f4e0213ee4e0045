//! Tests of scaleway_sd against a fake Scaleway API: the three servers of upstream's
//! `discovery/scaleway/testdata/instance.json` (trimmed to the fields discovery reads) with
//! upstream's expected labels, and a baremetal zone.

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const SECRET: &str = "6d6579e5-a5b9-49fc-a35f-b4feb9b87301";
const PROJECT: &str = "8feda53f-15f0-447f-badf-ebe32dad2fc0";

const INSTANCES: &str = r#"{
  "servers": [
    {
      "id": "93c18a61-b681-49d0-a1cc-62b43883ae89", "name": "scw-nervous-shirley",
      "organization": "cb334986-b054-4725-9d3a-40850fdc6015",
      "project": "cb334986-b054-4725-9d5a-30850fdc6015",
      "commercial_type": "DEV1-S", "hostname": "scw-nervous-shirley", "tags": [],
      "image": {"id": "45a86b35-eca6-4055-9b34-ca69845da146", "name": "Ubuntu 18.04 Bionic Beaver", "arch": "x86_64"},
      "public_ip": null, "public_ips": [],
      "private_ip": "10.70.60.57",
      "location": {"cluster_id": "40", "hypervisor_id": "1601", "node_id": "29", "platform_id": "14", "zone_id": "par1"},
      "ipv6": {"address": "2001:bc8:630:1e1c::1", "gateway": "2001:bc8:630:1e1c::", "netmask": "64"},
      "boot_type": "local", "state": "running",
      "security_group": {"id": "a6a794b7-c05b-4b20-b9fe-e17a9bb85cf0", "name": "Default security group"},
      "zone": "fr-par-1"
    },
    {
      "id": "5b6198b4-c677-41b5-9c05-04557264ae1f", "name": "scw-quizzical-feistel",
      "organization": "cb334986-b054-4725-9d3a-40850fdc6015",
      "project": "cb334986-b054-4725-9d5a-30850fdc6015",
      "commercial_type": "DEV1-S", "hostname": "scw-quizzical-feistel", "tags": [],
      "image": {"id": "71733b74-260f-4d0d-8f18-f37dcfa56d6f", "name": "Debian Buster", "arch": "x86_64"},
      "public_ip": {"id": "c4a7bd85-d0a6-493f-a204-456a7fb4a475", "address": "151.115.45.127", "dynamic": false},
      "private_ip": "10.193.162.9",
      "location": {"cluster_id": "4", "hypervisor_id": "201", "node_id": "5"},
      "ipv6": {"address": "2001:bc8:1e00:6204::1", "gateway": "2001:bc8:1e00:6204::", "netmask": "64"},
      "boot_type": "local", "state": "running",
      "security_group": {"id": "d35dd210-8392-44dc-8854-121e419a0f56", "name": "Default security group"},
      "zone": "fr-par-1"
    },
    {
      "id": "4904366a-7e26-4b65-b97b-6392c761247a", "name": "routed-dualstack",
      "organization": "20b3d507-96ac-454c-a795-bc731b46b12f",
      "project": "20b3d507-96ac-454c-a795-bc731b46b12f",
      "commercial_type": "DEV1-S", "hostname": "routed-dualstack", "tags": [],
      "image": {"id": "3e0a5b84-1d69-4993-8fa4-0d7df52d5160", "name": "Ubuntu 22.04 Jammy Jellyfish", "arch": "x86_64"},
      "public_ip": {"id": "53f8f861-7a11-4b16-a024-d5a1b7ab6d4a", "address": "51.158.183.115", "family": "inet"},
      "public_ips": [
        {"id": "53f8f861-7a11-4b16-a024-d5a1b7ab6d4a", "address": "51.158.183.115", "family": "inet"},
        {"id": "f52a8c81-0875-4aee-b96e-eccfc6bec367", "address": "2001:bc8:1640:1568:dc00:ff:fe21:91b", "family": "inet6"}
      ],
      "private_ip": null,
      "location": {"cluster_id": "19", "hypervisor_id": "1201", "node_id": "24"},
      "ipv6": null, "boot_type": "local", "state": "running",
      "security_group": {"id": "984414da-9fc2-49c0-a925-fed6266fe092", "name": "Default security group"},
      "zone": "nl-ams-1"
    },
    {
      "id": "no-address", "name": "no-address", "public_ip": null, "private_ip": null,
      "ipv6": null, "zone": "fr-par-1"
    }
  ],
  "total_count": 4
}"#;

fn mock(seen: &Seen) -> Reply {
    if seen
        .headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        != Some(SECRET)
    {
        return Reply::status(401, "bad token id");
    }
    let path = seen.uri.split('?').next().unwrap_or_default();
    match path {
        "/instance/v1/zones/fr-par-1/servers" => Reply::json(INSTANCES),
        "/baremetal/v1/zones/fr-par-2/servers" => Reply::json(
            r#"{"total_count": 2, "servers": [
              {"id": "b1", "name": "metal-1", "zone": "fr-par-2", "status": "ready",
               "project_id": "p1", "offer_id": "o1", "install": {"os_id": "os1"},
               "tags": ["a", "b"],
               "ips": [{"address": "2001:bc8::1", "version": "IPv6"},
                       {"address": "51.15.0.1", "version": "IPv4"},
                       {"address": "51.15.0.2", "version": "IPv4"}]},
              {"id": "b2", "name": "metal-2", "zone": "fr-par-2", "status": "stopped",
               "project_id": "p1", "offer_id": "unknown", "install": null, "tags": [], "ips": []}
            ]}"#,
        ),
        "/baremetal/v1/zones/fr-par-2/offers" => {
            Reply::json(r#"{"total_count": 1, "offers": [{"id": "o1", "name": "EM-A210R-HDD"}]}"#)
        }
        "/baremetal/v1/zones/fr-par-2/os" => Reply::json(
            r#"{"total_count": 1, "os": [{"id": "os1", "name": "Ubuntu", "version": "22.04 LTS"}]}"#,
        ),
        _ => Reply::status(404, "bad url"),
    }
}

fn discovery(url: &str, extra: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  scaleway_sd_configs:\n  - project_id: {PROJECT}\n    access_key: SCW0TESTACCESSKEY000\n    api_url: {url}\n{extra}"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Scaleway(c) => Discovery::new(c).unwrap(),
        other => panic!("{other:?}"),
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

#[tokio::test]
async fn instances_with_upstreams_labels() {
    let api = FakeApi::start(mock).await;
    let d = discovery(
        &format!("http://{}", api.addr),
        &format!("    role: instance\n    secret_key: {SECRET}\n"),
    );
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "scaleway");
    let common = |id: &str, name: &str| -> Vec<(String, String)> {
        [
            ("__meta_scaleway_instance_boot_type", "local"),
            ("__meta_scaleway_instance_hostname", name),
            ("__meta_scaleway_instance_id", id),
            ("__meta_scaleway_instance_image_arch", "x86_64"),
            ("__meta_scaleway_instance_name", name),
            (
                "__meta_scaleway_instance_security_group_name",
                "Default security group",
            ),
            ("__meta_scaleway_instance_status", "running"),
            ("__meta_scaleway_instance_type", "DEV1-S"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    };
    let with = |mut base: Vec<(String, String)>, more: &[(&str, &str)]| {
        base.extend(more.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Labels::from_pairs(base)
    };
    let expected = vec![
        with(
            common(
                "93c18a61-b681-49d0-a1cc-62b43883ae89",
                "scw-nervous-shirley",
            ),
            &[
                ("__address__", "10.70.60.57:80"),
                (
                    "__meta_scaleway_instance_image_id",
                    "45a86b35-eca6-4055-9b34-ca69845da146",
                ),
                (
                    "__meta_scaleway_instance_image_name",
                    "Ubuntu 18.04 Bionic Beaver",
                ),
                ("__meta_scaleway_instance_location_cluster_id", "40"),
                ("__meta_scaleway_instance_location_hypervisor_id", "1601"),
                ("__meta_scaleway_instance_location_node_id", "29"),
                (
                    "__meta_scaleway_instance_organization_id",
                    "cb334986-b054-4725-9d3a-40850fdc6015",
                ),
                ("__meta_scaleway_instance_private_ipv4", "10.70.60.57"),
                (
                    "__meta_scaleway_instance_project_id",
                    "cb334986-b054-4725-9d5a-30850fdc6015",
                ),
                (
                    "__meta_scaleway_instance_public_ipv6",
                    "2001:bc8:630:1e1c::1",
                ),
                ("__meta_scaleway_instance_region", "fr-par"),
                (
                    "__meta_scaleway_instance_security_group_id",
                    "a6a794b7-c05b-4b20-b9fe-e17a9bb85cf0",
                ),
                ("__meta_scaleway_instance_zone", "fr-par-1"),
            ],
        ),
        with(
            common(
                "5b6198b4-c677-41b5-9c05-04557264ae1f",
                "scw-quizzical-feistel",
            ),
            &[
                ("__address__", "10.193.162.9:80"),
                (
                    "__meta_scaleway_instance_image_id",
                    "71733b74-260f-4d0d-8f18-f37dcfa56d6f",
                ),
                ("__meta_scaleway_instance_image_name", "Debian Buster"),
                ("__meta_scaleway_instance_location_cluster_id", "4"),
                ("__meta_scaleway_instance_location_hypervisor_id", "201"),
                ("__meta_scaleway_instance_location_node_id", "5"),
                (
                    "__meta_scaleway_instance_organization_id",
                    "cb334986-b054-4725-9d3a-40850fdc6015",
                ),
                ("__meta_scaleway_instance_private_ipv4", "10.193.162.9"),
                (
                    "__meta_scaleway_instance_project_id",
                    "cb334986-b054-4725-9d5a-30850fdc6015",
                ),
                ("__meta_scaleway_instance_public_ipv4", "151.115.45.127"),
                (
                    "__meta_scaleway_instance_public_ipv6",
                    "2001:bc8:1e00:6204::1",
                ),
                ("__meta_scaleway_instance_region", "fr-par"),
                (
                    "__meta_scaleway_instance_security_group_id",
                    "d35dd210-8392-44dc-8854-121e419a0f56",
                ),
                ("__meta_scaleway_instance_zone", "fr-par-1"),
            ],
        ),
        with(
            common("4904366a-7e26-4b65-b97b-6392c761247a", "routed-dualstack"),
            &[
                ("__address__", "51.158.183.115:80"),
                (
                    "__meta_scaleway_instance_image_id",
                    "3e0a5b84-1d69-4993-8fa4-0d7df52d5160",
                ),
                (
                    "__meta_scaleway_instance_image_name",
                    "Ubuntu 22.04 Jammy Jellyfish",
                ),
                ("__meta_scaleway_instance_location_cluster_id", "19"),
                ("__meta_scaleway_instance_location_hypervisor_id", "1201"),
                ("__meta_scaleway_instance_location_node_id", "24"),
                (
                    "__meta_scaleway_instance_organization_id",
                    "20b3d507-96ac-454c-a795-bc731b46b12f",
                ),
                (
                    "__meta_scaleway_instance_project_id",
                    "20b3d507-96ac-454c-a795-bc731b46b12f",
                ),
                ("__meta_scaleway_instance_public_ipv4", "51.158.183.115"),
                (
                    "__meta_scaleway_instance_public_ipv4_addresses",
                    ",51.158.183.115,",
                ),
                (
                    "__meta_scaleway_instance_public_ipv6_addresses",
                    ",2001:bc8:1640:1568:dc00:ff:fe21:91b,",
                ),
                ("__meta_scaleway_instance_region", "nl-ams"),
                (
                    "__meta_scaleway_instance_security_group_id",
                    "984414da-9fc2-49c0-a925-fed6266fe092",
                ),
                ("__meta_scaleway_instance_zone", "nl-ams-1"),
            ],
        ),
    ];
    assert_eq!(groups[0].targets, expected);
    assert_eq!(
        api.seen()[0].uri,
        format!("/instance/v1/zones/fr-par-1/servers?page=1&project={PROJECT}")
    );
}

#[tokio::test]
async fn baremetal_secret_file_filters_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("secret_key");
    std::fs::write(&key, format!("{SECRET}\n")).unwrap();
    let api = FakeApi::start(mock).await;
    let d = discovery(
        &format!("http://{}", api.addr),
        &format!(
            "    role: baremetal\n    zone: fr-par-2\n    secret_key_file: {}\n    name_filter: metal\n    tags_filter: [a, b]\n    port: 9100\n",
            key.display()
        ),
    );
    let groups = d.refresh().await.unwrap();
    let expected = vec![
        labels(&[
            ("__address__", "51.15.0.1:9100"),
            ("__meta_scaleway_baremetal_id", "b1"),
            ("__meta_scaleway_baremetal_name", "metal-1"),
            ("__meta_scaleway_baremetal_zone", "fr-par-2"),
            ("__meta_scaleway_baremetal_status", "ready"),
            ("__meta_scaleway_baremetal_project_id", "p1"),
            ("__meta_scaleway_baremetal_type", "EM-A210R-HDD"),
            ("__meta_scaleway_baremetal_os_name", "Ubuntu"),
            ("__meta_scaleway_baremetal_os_version", "22.04 LTS"),
            ("__meta_scaleway_baremetal_tags", ",a,b,"),
            ("__meta_scaleway_baremetal_public_ipv4", "51.15.0.1"),
            ("__meta_scaleway_baremetal_public_ipv6", "2001:bc8::1"),
        ]),
        labels(&[
            ("__meta_scaleway_baremetal_id", "b2"),
            ("__meta_scaleway_baremetal_name", "metal-2"),
            ("__meta_scaleway_baremetal_zone", "fr-par-2"),
            ("__meta_scaleway_baremetal_status", "stopped"),
            ("__meta_scaleway_baremetal_project_id", "p1"),
        ]),
    ];
    assert_eq!(groups[0].targets, expected);
    assert_eq!(
        api.seen()[0].uri,
        format!(
            "/baremetal/v1/zones/fr-par-2/servers?name=metal&page=1&project_id={PROJECT}&tags=a%2Cb"
        )
    );

    // The file is read at each refresh: a new key is used at once.
    std::fs::write(&key, "wrong").unwrap();
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "listing Scaleway baremetal servers: server returned HTTP status 401 Unauthorized: bad token id"
    );
}

#[tokio::test]
async fn pages_until_total_count() {
    let api = FakeApi::start(|seen: &Seen| match seen.uri.as_str() {
        "/instance/v1/zones/fr-par-1/servers?page=1&project=p" => {
            Reply::json(r#"{"servers": [{"id": "a", "private_ip": "10.0.0.1"}], "total_count": 2}"#)
        }
        "/instance/v1/zones/fr-par-1/servers?page=2&project=p" => {
            Reply::json(r#"{"servers": [{"id": "b", "private_ip": "10.0.0.2"}], "total_count": 2}"#)
        }
        _ => Reply::status(404, "bad url"),
    })
    .await;
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  scaleway_sd_configs:\n  - {{role: instance, project_id: p, access_key: k, secret_key: s, api_url: 'http://{}'}}\n",
            api.addr
        ),
        "",
    )
    .unwrap();
    let config::ServiceDiscoveryConfig::Scaleway(c) =
        &cfg.scrape_configs[0].service_discovery_configs.0[0]
    else {
        panic!("not scaleway");
    };
    let groups = Discovery::new(c).unwrap().refresh().await.unwrap();
    let addrs: Vec<&str> = groups[0]
        .targets
        .iter()
        .map(|t| t.get("__address__").unwrap())
        .collect();
    assert_eq!(addrs, ["10.0.0.1:80", "10.0.0.2:80"]);
    assert_eq!(api.seen().len(), 2);
}

#[test]
fn zone_regions() {
    assert_eq!(region("fr-par-1"), Some("fr-par"));
    assert_eq!(region("nl-ams-3"), Some("nl-ams"));
    assert_eq!(region("mars"), None);
}

#[test]
fn config_errors_as_upstream() {
    for (block, err) in [
        (
            "{project_id: p}",
            "role missing (one of: instance, baremetal)",
        ),
        ("{role: instance}", "project_id is mandatory"),
        (
            "{role: instance, project_id: p}",
            "one of secret_key & secret_key_file must be configured",
        ),
        (
            "{role: instance, project_id: p, secret_key: s, secret_key_file: f}",
            "at most one of secret_key & secret_key_file must be configured",
        ),
        (
            "{role: instance, project_id: p, secret_key: s}",
            "access_key is mandatory",
        ),
    ] {
        let e = config::Config::load_str(
            &format!("scrape_configs:\n- job_name: j\n  scaleway_sd_configs:\n  - {block}\n"),
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(err), "{block}: {e}");
    }
}
