//! Tests of ionos_sd against a fake IONOS Cloud API serving servers shaped as upstream's
//! `discovery/ionos/testdata/servers.json` (trimmed), with upstream's expected labels.

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const DATACENTER: &str = "8feda53f-15f0-447f-badf-ebe32dad2fc0";

const SERVERS: &str = r#"{
  "id": "8feda53f-15f0-447f-badf-ebe32dad2fc0/servers",
  "type": "collection",
  "items": [
    {
      "id": "b501942c-4e08-43e6-8ec1-00e59c64e0e4", "type": "server",
      "metadata": {"etag": "1", "state": "AVAILABLE"},
      "properties": {
        "name": "prometheus-2", "cores": 2, "ram": 4096, "availabilityZone": "ZONE_2",
        "vmState": "RUNNING",
        "bootCdrom": {"id": "0e4d57f9-cd78-11e9-b88c-525400f64d8d", "type": "image"},
        "bootVolume": null, "cpuFamily": "INTEL_SKYLAKE", "type": "ENTERPRISE"
      },
      "entities": {
        "volumes": {"items": [{"properties": {"name": "data", "image": null}}]},
        "nics": {"items": [
          {"id": "n3", "properties": {"name": null, "ips": ["85.215.238.118"], "dhcp": true}},
          {"id": "n2", "properties": {"name": null, "ips": ["185.56.150.9"]}},
          {"id": "n1", "properties": {"name": "metrics", "ips": ["85.215.243.177"]}}
        ]}
      }
    },
    {
      "id": "no-nics", "metadata": {"state": "AVAILABLE"},
      "properties": {"name": "no-ips", "vmState": "SHUTOFF"},
      "entities": {"nics": {"items": []}}
    },
    {
      "id": "523415e6-ff8c-4dc0-86d3-09c256039b30", "type": "server",
      "metadata": {"state": "AVAILABLE"},
      "properties": {
        "name": "prometheus-1", "availabilityZone": "ZONE_1", "vmState": "RUNNING",
        "bootCdrom": {"id": "0e4d57f9-cd78-11e9-b88c-525400f64d8d"},
        "cpuFamily": "INTEL_SKYLAKE", "type": "ENTERPRISE"
      },
      "entities": {
        "nics": {"items": [{"properties": {"ips": ["85.215.248.84"]}}]}
      }
    },
    {
      "id": "with-volume", "metadata": {"state": "BUSY"},
      "properties": {
        "name": "prometheus-3", "availabilityZone": "AUTO", "vmState": "RUNNING",
        "bootVolume": {"id": "vol-1"}, "cpuFamily": "AMD_OPTERON", "type": "CUBE"
      },
      "entities": {
        "volumes": {"items": [{"properties": {"image": "img-1"}}, {"properties": {"image": "img-2"}}]},
        "nics": {"items": [{"properties": {"name": "eth-0", "ips": ["10.0.0.1", "10.0.0.2"]}}]}
      }
    }
  ]
}"#;

fn mock(seen: &Seen) -> Reply {
    if seen
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some("Bearer jwt")
    {
        return Reply::status(401, "bad token");
    }
    if seen.uri != format!("/cloudapi/v6/datacenters/{DATACENTER}/servers?depth=3") {
        return Reply::status(404, format!("bad url: {}", seen.uri));
    }
    Reply::json(SERVERS)
}

fn discovery(url: &str, token: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  ionos_sd_configs:\n  - datacenter_id: {DATACENTER}\n    authorization: {{credentials: {token}}}\n"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Ionos(c) => {
            let mut d = Discovery::new(c).unwrap();
            d.base = url.to_owned();
            d
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn servers_with_upstreams_labels() {
    let api = FakeApi::start(mock).await;
    let d = discovery(&format!("http://{}", api.addr), "jwt");
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "ionos");
    let servers_id = "8feda53f-15f0-447f-badf-ebe32dad2fc0/servers";
    let expected = vec![
        Labels::from_pairs([
            ("__address__", "85.215.243.177:80"),
            ("__meta_ionos_server_availability_zone", "ZONE_2"),
            (
                "__meta_ionos_server_boot_cdrom_id",
                "0e4d57f9-cd78-11e9-b88c-525400f64d8d",
            ),
            ("__meta_ionos_server_cpu_family", "INTEL_SKYLAKE"),
            (
                "__meta_ionos_server_id",
                "b501942c-4e08-43e6-8ec1-00e59c64e0e4",
            ),
            (
                "__meta_ionos_server_ip",
                ",85.215.243.177,185.56.150.9,85.215.238.118,",
            ),
            ("__meta_ionos_server_nic_ip_metrics", ",85.215.243.177,"),
            (
                "__meta_ionos_server_nic_ip_unnamed",
                ",185.56.150.9,85.215.238.118,",
            ),
            ("__meta_ionos_server_lifecycle", "AVAILABLE"),
            ("__meta_ionos_server_name", "prometheus-2"),
            ("__meta_ionos_server_servers_id", servers_id),
            ("__meta_ionos_server_state", "RUNNING"),
            ("__meta_ionos_server_type", "ENTERPRISE"),
        ]),
        Labels::from_pairs([
            ("__address__", "85.215.248.84:80"),
            ("__meta_ionos_server_availability_zone", "ZONE_1"),
            (
                "__meta_ionos_server_boot_cdrom_id",
                "0e4d57f9-cd78-11e9-b88c-525400f64d8d",
            ),
            ("__meta_ionos_server_cpu_family", "INTEL_SKYLAKE"),
            (
                "__meta_ionos_server_id",
                "523415e6-ff8c-4dc0-86d3-09c256039b30",
            ),
            ("__meta_ionos_server_ip", ",85.215.248.84,"),
            ("__meta_ionos_server_nic_ip_unnamed", ",85.215.248.84,"),
            ("__meta_ionos_server_lifecycle", "AVAILABLE"),
            ("__meta_ionos_server_name", "prometheus-1"),
            ("__meta_ionos_server_servers_id", servers_id),
            ("__meta_ionos_server_state", "RUNNING"),
            ("__meta_ionos_server_type", "ENTERPRISE"),
        ]),
        Labels::from_pairs([
            ("__address__", "10.0.0.1:80"),
            ("__meta_ionos_server_availability_zone", "AUTO"),
            ("__meta_ionos_server_boot_volume_id", "vol-1"),
            ("__meta_ionos_server_boot_image_id", "img-1"),
            ("__meta_ionos_server_cpu_family", "AMD_OPTERON"),
            ("__meta_ionos_server_id", "with-volume"),
            ("__meta_ionos_server_ip", ",10.0.0.1,10.0.0.2,"),
            ("__meta_ionos_server_nic_ip_eth_0", ",10.0.0.1,10.0.0.2,"),
            ("__meta_ionos_server_lifecycle", "BUSY"),
            ("__meta_ionos_server_name", "prometheus-3"),
            ("__meta_ionos_server_servers_id", servers_id),
            ("__meta_ionos_server_state", "RUNNING"),
            ("__meta_ionos_server_type", "CUBE"),
        ]),
    ];
    assert_eq!(groups[0].targets, expected);

    let d = discovery(&format!("http://{}", api.addr), "wrong");
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "listing IONOS Cloud servers: server returned HTTP status 401 Unauthorized: bad token"
    );
}

#[test]
fn datacenter_id_is_required() {
    let e = config::Config::load_str(
        "scrape_configs:\n- job_name: j\n  ionos_sd_configs:\n  - port: 80\n",
        "",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("datacenter id can't be empty"), "{e}");
}
