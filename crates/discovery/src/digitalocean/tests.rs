//! Tests of digitalocean_sd against a fake DigitalOcean API serving the two droplet pages
//! of upstream's `discovery/digitalocean/mock_test.go` (without the long size and region
//! lists discovery does not read).

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const TOKEN: &str = "3c9a75a2-24fd-4508-b4f2-11f18aa97411";

const PAGE_1: &str = r#"
{
  "droplets": [
    {
      "id": 3164444,
      "name": "example.com",
      "memory": 1024,
      "vcpus": 1,
      "disk": 25,
      "locked": false,
      "status": "active",
      "kernel": {"id": 2233, "name": "Ubuntu 14.04 x64 vmlinuz-3.13.0-37-generic", "version": "3.13.0-37-generic"},
      "created_at": "2014-11-14T16:29:21Z",
      "features": ["backups", "ipv6", "virtio"],
      "backup_ids": [7938002],
      "snapshot_ids": [],
      "image": {
        "id": 6918990, "name": "14.04 x64", "distribution": "Ubuntu", "slug": "ubuntu-16-04-x64",
        "public": true, "created_at": "2014-10-17T20:24:33Z", "type": "snapshot",
        "min_disk_size": 20, "size_gigabytes": 2.34
      },
      "volume_ids": [],
      "size": {},
      "size_slug": "s-1vcpu-1gb",
      "networks": {
        "v4": [{"ip_address": "104.236.32.182", "netmask": "255.255.192.0", "gateway": "104.236.0.1", "type": "public"}],
        "v6": [{"ip_address": "2604:A880:0800:0010:0000:0000:02DD:4001", "netmask": 64,
                "gateway": "2604:A880:0800:0010:0000:0000:0000:0001", "type": "public"}]
      },
      "region": {"name": "New York 3", "slug": "nyc3", "sizes": [], "features": ["virtio"], "available": null},
      "tags": [],
      "vpc_uuid": "f9b0769c-e118-42fb-a0c4-fed15ef69662"
    },
    {
      "id": 3164494,
      "name": "prometheus",
      "memory": 1024,
      "vcpus": 1,
      "disk": 25,
      "locked": false,
      "status": "active",
      "created_at": "2014-11-14T16:36:31Z",
      "features": ["virtio"],
      "image": {
        "id": 6918990, "name": "14.04 x64", "distribution": "Ubuntu", "slug": "ubuntu-16-04-x64",
        "public": true, "type": "snapshot"
      },
      "size": {},
      "size_slug": "s-1vcpu-1gb",
      "networks": {
        "v4": [{"ip_address": "104.131.186.241", "netmask": "255.255.240.0", "gateway": "104.131.176.1", "type": "public"}]
      },
      "region": {"name": "New York 3", "slug": "nyc3", "available": true},
      "tags": ["monitor"],
      "vpc_uuid": "f9b0769c-e118-42fb-a0c4-fed15ef69662"
    }
  ],
  "links": {
    "pages": {
      "next": "https://api.digitalocean.com/v2/droplets?page=2&per_page=2",
      "last": "https://api.digitalocean.com/v2/droplets?page=2&per_page=2"
    }
  },
  "meta": {"total": 4}
}"#;

const PAGE_2: &str = r#"
{
  "droplets": [
    {
      "id": 175072239,
      "name": "prometheus-demo-old",
      "status": "off",
      "kernel": null,
      "features": ["ipv6", "private_networking"],
      "next_backup_window": null,
      "image": {"id": 53893572, "name": "18.04.3 (LTS) x64", "distribution": "Ubuntu", "slug": "ubuntu-18-04-x64"},
      "size": {"slug": "s-1vcpu-1gb", "memory": 1024, "vcpus": 1, "disk": 25},
      "size_slug": "s-1vcpu-1gb",
      "networks": {
        "v4": [
          {"ip_address": "167.172.111.118", "netmask": "255.255.240.0", "gateway": "167.172.176.1", "type": "public"},
          {"ip_address": "10.135.64.211", "netmask": "255.255.0.0", "gateway": "10.135.0.1", "type": "private"}
        ],
        "v6": []
      },
      "region": {"name": "Frankfurt 1", "slug": "fra1", "available": true},
      "tags": [],
      "vpc_uuid": "953d698c-dc84-11e8-80bc-3cfdfea9fba1"
    },
    {
      "id": 176011507,
      "name": "prometheus-demo",
      "status": "active",
      "kernel": null,
      "features": ["ipv6", "private_networking"],
      "image": {"id": 53893572, "name": "18.04.3 (LTS) x64", "distribution": "Ubuntu", "slug": "ubuntu-18-04-x64"},
      "size": {"slug": "s-1vcpu-1gb"},
      "size_slug": "s-1vcpu-1gb",
      "networks": {
        "v4": [
          {"ip_address": "138.65.56.69", "netmask": "255.255.240.0", "gateway": "138.65.64.1", "type": "public"},
          {"ip_address": "154.245.26.111", "netmask": "255.255.252.0", "gateway": "154.245.24.1", "type": "public"},
          {"ip_address": "10.135.64.212", "netmask": "255.255.0.0", "gateway": "10.135.0.1", "type": "private"}
        ],
        "v6": [{"ip_address": "2a03:b0c0:3:f0::cf2:4", "netmask": 64, "gateway": "2a03:b0c0:3:f0::1", "type": "public"}]
      },
      "region": {"name": "Frankfurt 1", "slug": "fra1", "available": true},
      "tags": [],
      "vpc_uuid": "953d698c-dc84-11e8-80bc-3cfdfea9fba1"
    }
  ],
  "links": {
    "pages": {
      "first": "https://api.digitalocean.com/v2/droplets?page=1&per_page=2",
      "prev": "https://api.digitalocean.com/v2/droplets?page=1&per_page=2"
    }
  },
  "meta": {"total": 4}
}"#;

/// Upstream's mock: 403 without the token, else the page asked for (202, as there).
fn mock(seen: &Seen) -> Reply {
    if seen
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return Reply::status(
            403,
            r#"{"id": "forbidden", "message": "You do not have access for the attempted action."}"#,
        );
    }
    let mut reply = match seen.uri.as_str() {
        "/v2/droplets" => Reply::json(PAGE_1),
        "/v2/droplets?page=2" => Reply::json(PAGE_2),
        _ => return Reply::status(404, "not found"),
    };
    reply.status = 202;
    reply
}

fn discovery(url: &str, token: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  digitalocean_sd_configs:\n  - authorization: {{credentials: {token}}}\n"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::DigitalOcean(c) => {
            let mut d = Discovery::new(c).unwrap();
            d.base = url.to_owned();
            d
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn refresh_gives_upstreams_labels_across_pages() {
    // Upstream's TestDigitalOceanSDRefresh.
    let api = FakeApi::start(mock).await;
    let d = discovery(&format!("http://{}/", api.addr), TOKEN);
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "DigitalOcean");
    let expected: Vec<Labels> = [
        vec![
            ("__address__", "104.236.32.182:80"),
            ("__meta_digitalocean_droplet_id", "3164444"),
            ("__meta_digitalocean_droplet_name", "example.com"),
            ("__meta_digitalocean_image", "ubuntu-16-04-x64"),
            ("__meta_digitalocean_image_name", "14.04 x64"),
            ("__meta_digitalocean_private_ipv4", ""),
            ("__meta_digitalocean_public_ipv4", "104.236.32.182"),
            (
                "__meta_digitalocean_public_ipv6",
                "2604:A880:0800:0010:0000:0000:02DD:4001",
            ),
            ("__meta_digitalocean_region", "nyc3"),
            ("__meta_digitalocean_size", "s-1vcpu-1gb"),
            ("__meta_digitalocean_status", "active"),
            (
                "__meta_digitalocean_vpc",
                "f9b0769c-e118-42fb-a0c4-fed15ef69662",
            ),
            ("__meta_digitalocean_features", ",backups,ipv6,virtio,"),
        ],
        vec![
            ("__address__", "104.131.186.241:80"),
            ("__meta_digitalocean_droplet_id", "3164494"),
            ("__meta_digitalocean_droplet_name", "prometheus"),
            ("__meta_digitalocean_image", "ubuntu-16-04-x64"),
            ("__meta_digitalocean_image_name", "14.04 x64"),
            ("__meta_digitalocean_private_ipv4", ""),
            ("__meta_digitalocean_public_ipv4", "104.131.186.241"),
            ("__meta_digitalocean_public_ipv6", ""),
            ("__meta_digitalocean_region", "nyc3"),
            ("__meta_digitalocean_size", "s-1vcpu-1gb"),
            ("__meta_digitalocean_status", "active"),
            (
                "__meta_digitalocean_vpc",
                "f9b0769c-e118-42fb-a0c4-fed15ef69662",
            ),
            ("__meta_digitalocean_tags", ",monitor,"),
            ("__meta_digitalocean_features", ",virtio,"),
        ],
        vec![
            ("__address__", "167.172.111.118:80"),
            ("__meta_digitalocean_droplet_id", "175072239"),
            ("__meta_digitalocean_droplet_name", "prometheus-demo-old"),
            ("__meta_digitalocean_image", "ubuntu-18-04-x64"),
            ("__meta_digitalocean_image_name", "18.04.3 (LTS) x64"),
            ("__meta_digitalocean_private_ipv4", "10.135.64.211"),
            ("__meta_digitalocean_public_ipv4", "167.172.111.118"),
            ("__meta_digitalocean_public_ipv6", ""),
            ("__meta_digitalocean_region", "fra1"),
            ("__meta_digitalocean_size", "s-1vcpu-1gb"),
            ("__meta_digitalocean_status", "off"),
            (
                "__meta_digitalocean_vpc",
                "953d698c-dc84-11e8-80bc-3cfdfea9fba1",
            ),
            ("__meta_digitalocean_features", ",ipv6,private_networking,"),
        ],
        vec![
            ("__address__", "138.65.56.69:80"),
            ("__meta_digitalocean_droplet_id", "176011507"),
            ("__meta_digitalocean_droplet_name", "prometheus-demo"),
            ("__meta_digitalocean_image", "ubuntu-18-04-x64"),
            ("__meta_digitalocean_image_name", "18.04.3 (LTS) x64"),
            ("__meta_digitalocean_private_ipv4", "10.135.64.212"),
            ("__meta_digitalocean_public_ipv4", "138.65.56.69"),
            ("__meta_digitalocean_public_ipv6", "2a03:b0c0:3:f0::cf2:4"),
            ("__meta_digitalocean_region", "fra1"),
            ("__meta_digitalocean_size", "s-1vcpu-1gb"),
            ("__meta_digitalocean_status", "active"),
            (
                "__meta_digitalocean_vpc",
                "953d698c-dc84-11e8-80bc-3cfdfea9fba1",
            ),
            ("__meta_digitalocean_features", ",ipv6,private_networking,"),
        ],
    ]
    .into_iter()
    .map(Labels::from_pairs)
    .collect();
    assert_eq!(groups[0].targets, expected);
    let uris: Vec<String> = api.seen().into_iter().map(|s| s.uri).collect();
    assert_eq!(uris, ["/v2/droplets", "/v2/droplets?page=2"]);
}

#[tokio::test]
async fn droplets_without_ipv4_are_skipped_and_errors_name_the_page() {
    let api = FakeApi::start(|_: &Seen| {
        Reply::json(r#"{"droplets": [{"id": 1, "networks": {"v4": []}}, {"id": 2}]}"#)
    })
    .await;
    let d = discovery(&format!("http://{}", api.addr), TOKEN);
    assert!(d.refresh().await.unwrap()[0].targets.is_empty());

    let api = FakeApi::start(mock).await;
    let url = format!("http://{}", api.addr);
    let d = discovery(&url, "wrong");
    assert_eq!(
        d.refresh().await.unwrap_err(),
        format!(
            "error while listing droplets page 0: GET {url}/v2/droplets: 403 You do not have access for the attempted action."
        )
    );
}
