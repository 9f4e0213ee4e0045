//! Tests of linode_sd against a fake Linode API serving instances, addresses and IPv6
//! ranges shaped as upstream's `discovery/linode/testdata` (two of its instances, trimmed to
//! the fields discovery reads, and one without IPv4).

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const TOKEN: &str = "7b2c56dd51edd90952c1b94c472b94b176f20c5c777e376849edd8ad1c6c03bb";

const INSTANCES: &str = r#"{
  "data": [
    {
      "id": 26838044, "label": "prometheus-linode-sd-exporter-1", "group": "",
      "status": "running", "type": "g6-standard-2",
      "ipv4": ["45.33.82.151", "96.126.108.16", "192.168.170.51", "192.168.201.25"],
      "ipv6": "2600:3c03::f03c:92ff:fe1a:1382/128",
      "image": "linode/arch", "region": "us-east",
      "specs": {"disk": 81920, "memory": 4096, "vcpus": 2, "gpus": 0, "transfer": 4000},
      "backups": {"enabled": false, "schedule": {"day": null, "window": null}},
      "hypervisor": "kvm", "tags": ["monitoring"]
    },
    {
      "id": 26837992, "label": "prometheus-linode-sd-exporter-4", "group": "",
      "status": "running", "type": "g6-nanode-1",
      "ipv4": ["66.228.47.103", "172.104.18.104", "192.168.148.94"],
      "ipv6": "2600:3c03::f03c:92ff:fe1a:fb4c/128",
      "image": "linode/ubuntu20.04", "region": "us-east",
      "specs": {"disk": 25600, "memory": 1024, "vcpus": 1, "gpus": 0, "transfer": 1000},
      "backups": {"enabled": true}, "hypervisor": "kvm", "tags": []
    },
    {
      "id": 1, "label": "no-ipv4", "ipv4": [], "ipv6": null, "image": null,
      "region": "us-east", "specs": {}, "backups": {}, "tags": null
    }
  ],
  "page": 1, "pages": 1, "results": 3
}"#;

const IPS: &str = r#"{
  "data": [
    {"address": "45.33.82.151", "public": true, "rdns": "li1028-151.members.linode.com", "type": "ipv4", "region": "us-east", "linode_id": 26838044},
    {"address": "96.126.108.16", "public": true, "rdns": "li365-16.members.linode.com", "type": "ipv4", "region": "us-east", "linode_id": 26838044},
    {"address": "192.168.170.51", "public": false, "rdns": null, "type": "ipv4", "region": "us-east", "linode_id": 26838044},
    {"address": "192.168.201.25", "public": false, "rdns": null, "type": "ipv4", "region": "us-east", "linode_id": 26838044},
    {"address": "2600:3c03::f03c:92ff:fe1a:1382", "public": true, "rdns": null, "type": "ipv6", "region": "us-east", "linode_id": 26838044},
    {"address": "66.228.47.103", "public": true, "rdns": "li328-103.members.linode.com", "type": "ipv4", "region": "us-east", "linode_id": 26837992},
    {"address": "172.104.18.104", "public": true, "rdns": "li1832-104.members.linode.com", "type": "ipv4", "region": "us-east", "linode_id": 26837992},
    {"address": "192.168.148.94", "public": false, "rdns": "null", "type": "ipv4", "region": "us-east", "linode_id": 26837992},
    {"address": "2600:3c03::f03c:92ff:fe1a:fb4c", "public": true, "rdns": "v6.example.com", "type": "ipv6", "region": "us-east", "linode_id": 26837992}
  ],
  "page": 1, "pages": 1, "results": 9
}"#;

const RANGES: &str = r#"{
  "data": [
    {"range": "2600:3c03:e000:123::", "prefix": 64, "region": "us-east", "route_target": "2600:3c03::f03c:92ff:fe1a:1382"},
    {"range": "2600:3c03:e000:456::", "prefix": 56, "region": "us-east", "route_target": "2600:3c03::f03c:92ff:fe1a:1382"}
  ],
  "page": 1, "pages": 1, "results": 2
}"#;

fn mock(seen: &Seen) -> Reply {
    if seen
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return Reply::status(401, r#"{"errors": [{"reason": "Invalid Token"}]}"#);
    }
    match seen.uri.split('?').next().unwrap_or_default() {
        "/v4/linode/instances" => Reply::json(INSTANCES),
        "/v4/networking/ips" => Reply::json(IPS),
        "/v4/networking/ipv6/ranges" => Reply::json(RANGES),
        "/v4/account/events" => Reply::json(r#"{"data": [], "page": 1, "pages": 1, "results": 0}"#),
        _ => Reply::status(404, "not found"),
    }
}

fn discovery(url: &str, extra: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  linode_sd_configs:\n  - authorization: {{credentials: {TOKEN}}}\n{extra}"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Linode(c) => {
            let mut d = Discovery::new(c).unwrap();
            d.base = format!("{url}/v4");
            d
        }
        other => panic!("{other:?}"),
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

#[tokio::test]
async fn refresh_gives_upstreams_labels() {
    let api = FakeApi::start(mock).await;
    let d = discovery(&format!("http://{}", api.addr), "");
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "Linode");
    let expected = vec![
        labels(&[
            ("__address__", "45.33.82.151:80"),
            ("__meta_linode_instance_id", "26838044"),
            (
                "__meta_linode_instance_label",
                "prometheus-linode-sd-exporter-1",
            ),
            ("__meta_linode_image", "linode/arch"),
            ("__meta_linode_private_ipv4", "192.168.170.51"),
            ("__meta_linode_public_ipv4", "45.33.82.151"),
            (
                "__meta_linode_public_ipv6",
                "2600:3c03::f03c:92ff:fe1a:1382",
            ),
            ("__meta_linode_private_ipv4_rdns", ""),
            (
                "__meta_linode_public_ipv4_rdns",
                "li1028-151.members.linode.com",
            ),
            ("__meta_linode_public_ipv6_rdns", ""),
            ("__meta_linode_region", "us-east"),
            ("__meta_linode_type", "g6-standard-2"),
            ("__meta_linode_status", "running"),
            ("__meta_linode_tags", ",monitoring,"),
            ("__meta_linode_group", ""),
            ("__meta_linode_gpus", "0"),
            ("__meta_linode_hypervisor", "kvm"),
            ("__meta_linode_backups", "disabled"),
            ("__meta_linode_specs_disk_bytes", "85899345920"),
            ("__meta_linode_specs_memory_bytes", "4294967296"),
            ("__meta_linode_specs_vcpus", "2"),
            ("__meta_linode_specs_transfer_bytes", "4194304000"),
            ("__meta_linode_extra_ips", ",96.126.108.16,192.168.201.25,"),
            (
                "__meta_linode_ipv6_ranges",
                ",2600:3c03:e000:123::/64,2600:3c03:e000:456::/56,",
            ),
        ]),
        labels(&[
            ("__address__", "66.228.47.103:80"),
            ("__meta_linode_instance_id", "26837992"),
            (
                "__meta_linode_instance_label",
                "prometheus-linode-sd-exporter-4",
            ),
            ("__meta_linode_image", "linode/ubuntu20.04"),
            ("__meta_linode_private_ipv4", "192.168.148.94"),
            ("__meta_linode_public_ipv4", "66.228.47.103"),
            (
                "__meta_linode_public_ipv6",
                "2600:3c03::f03c:92ff:fe1a:fb4c",
            ),
            ("__meta_linode_private_ipv4_rdns", ""),
            (
                "__meta_linode_public_ipv4_rdns",
                "li328-103.members.linode.com",
            ),
            ("__meta_linode_public_ipv6_rdns", "v6.example.com"),
            ("__meta_linode_region", "us-east"),
            ("__meta_linode_type", "g6-nanode-1"),
            ("__meta_linode_status", "running"),
            ("__meta_linode_group", ""),
            ("__meta_linode_gpus", "0"),
            ("__meta_linode_hypervisor", "kvm"),
            ("__meta_linode_backups", "enabled"),
            ("__meta_linode_specs_disk_bytes", "26843545600"),
            ("__meta_linode_specs_memory_bytes", "1073741824"),
            ("__meta_linode_specs_vcpus", "1"),
            ("__meta_linode_specs_transfer_bytes", "1048576000"),
            ("__meta_linode_extra_ips", ",172.104.18.104,"),
        ]),
    ];
    assert_eq!(groups[0].targets, expected);
    let seen = api.seen();
    assert_eq!(seen[0].uri, "/v4/linode/instances?page=1&page_size=500");
    assert!(seen[0].headers.get("x-filter").is_none());

    // The second refresh polls events, finds none and keeps the targets without re-reading.
    let again = d.refresh().await.unwrap();
    assert_eq!(again, groups);
    let seen = api.seen();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[3].uri.split('?').next().unwrap(), "/v4/account/events");
    let filter = seen[3].headers["x-filter"].to_str().unwrap();
    assert!(
        filter.starts_with(r#"{"created": {"+gte": "20"#),
        "{filter}"
    );
}

#[tokio::test]
async fn region_filter_events_scope_and_errors() {
    let api = FakeApi::start(mock).await;
    let d = discovery(&format!("http://{}", api.addr), "    region: us-east\n");
    d.refresh().await.unwrap();
    for s in api.seen() {
        assert_eq!(s.headers["x-filter"], r#"{"region":"us-east"}"#);
    }
    // A token without the events scope: polling stops, every refresh re-reads.
    api.set(|seen: &Seen| {
        if seen.uri.starts_with("/v4/account/events") {
            Reply::status(401, r#"{"errors": [{"reason": "Unauthorized"}]}"#)
        } else {
            mock(seen)
        }
    });
    d.refresh().await.unwrap();
    d.refresh().await.unwrap();
    let paths: Vec<String> = api.seen()[3..]
        .iter()
        .map(|s| s.uri.split('?').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        paths,
        [
            "/v4/account/events",
            "/v4/linode/instances",
            "/v4/networking/ips",
            "/v4/networking/ipv6/ranges",
            "/v4/linode/instances",
            "/v4/networking/ips",
            "/v4/networking/ipv6/ranges",
        ]
    );

    api.set(|_: &Seen| Reply::status(500, "boom"));
    let fresh = discovery(&format!("http://{}", api.addr), "");
    assert_eq!(
        fresh.refresh().await.unwrap_err(),
        "listing Linode instances: server returned HTTP status 500 Internal Server Error: boom"
    );
}

#[test]
fn event_filter_time_format() {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    assert_eq!(format_time(t), "2023-11-14T22:13:20");
}
