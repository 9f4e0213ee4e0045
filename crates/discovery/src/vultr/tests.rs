//! Tests of vultr_sd against a fake Vultr API serving the instance list of upstream's
//! `discovery/vultr/mock_test.go`.

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const API_KEY: &str = "ABCBTDG35OTGH2UKCC3S6CNMDUPCN3ZWSGFQ";

/// upstream's `HandleInstanceList` answer (without the long `kvm` console URLs).
const INSTANCES: &str = r#"
{
    "instances": [
        {
            "id": "dbdbd38c-9884-4c92-95fe-899e50dee717",
            "os": "Marketplace",
            "ram": 4096,
            "disk": 128,
            "main_ip": "149.28.234.27",
            "vcpu_count": 2,
            "region": "ewr",
            "plan": "vhf-2c-4gb",
            "date_created": "2022-03-10T02:25:30+00:00",
            "status": "active",
            "allowed_bandwidth": 3000,
            "netmask_v4": "255.255.254.0",
            "gateway_v4": "149.28.234.1",
            "power_status": "running",
            "server_status": "ok",
            "v6_network": "",
            "v6_main_ip": "",
            "v6_network_size": 0,
            "label": "np-2-eae38a19b0f3",
            "internal_ip": "10.1.96.5",
            "hostname": "np-2-eae38a19b0f3",
            "os_id": 426,
            "app_id": 0,
            "image_id": "vke-worker",
            "firewall_group_id": "",
            "features": ["backups"],
            "tags": ["tag1", "tag2", "tag3"]
        },
        {
            "id": "fccb117c-62f7-4b17-995d-a8e56dd30b33",
            "os": "Marketplace",
            "ram": 4096,
            "disk": 128,
            "main_ip": "45.63.1.222",
            "vcpu_count": 2,
            "region": "ewr",
            "plan": "vhf-2c-4gb",
            "date_created": "2022-03-10T02:25:32+00:00",
            "status": "active",
            "allowed_bandwidth": 3000,
            "netmask_v4": "255.255.254.0",
            "gateway_v4": "45.63.0.1",
            "power_status": "running",
            "server_status": "ok",
            "v6_network": "",
            "v6_main_ip": "",
            "v6_network_size": 0,
            "label": "np-2-fd0714b5fe42",
            "internal_ip": "10.1.96.6",
            "hostname": "np-2-fd0714b5fe42",
            "os_id": 426,
            "app_id": 0,
            "image_id": "vke-worker",
            "firewall_group_id": "",
            "features": [],
            "tags": []
        },
        {
            "id": "c4e58767-f61b-4c5e-9bce-43761cc04868",
            "os": "Marketplace",
            "ram": 4096,
            "disk": 128,
            "main_ip": "149.28.237.151",
            "vcpu_count": 2,
            "region": "ewr",
            "plan": "vhf-2c-4gb",
            "date_created": "2022-03-10T02:25:33+00:00",
            "status": "active",
            "allowed_bandwidth": 3000,
            "netmask_v4": "255.255.254.0",
            "gateway_v4": "149.28.236.1",
            "power_status": "running",
            "server_status": "ok",
            "v6_network": "",
            "v6_main_ip": "",
            "v6_network_size": 0,
            "label": "np-2-d04e7829fa43",
            "internal_ip": "10.1.96.7",
            "hostname": "np-2-d04e7829fa43",
            "os_id": 426,
            "app_id": 0,
            "image_id": "vke-worker",
            "firewall_group_id": "",
            "features": [],
            "tags": []
        }
    ],
    "meta": {
        "total": 3,
        "links": {
            "next": "",
            "prev": ""
        }
    }
}
"#;

/// Upstream's mock: the instance list for the right bearer token, 403 otherwise.
fn mock(seen: &Seen) -> Reply {
    if seen
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {API_KEY}"))
    {
        return Reply::status(403, "");
    }
    match seen.uri.split('?').next().unwrap_or_default() {
        "/v2/instances" => Reply::json(INSTANCES),
        _ => Reply::status(404, "not found"),
    }
}

fn discovery(url: &str, key: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  vultr_sd_configs:\n  - authorization: {{credentials: {key}}}\n"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Vultr(c) => {
            let mut d = Discovery::new(c).unwrap();
            d.base = url.to_owned();
            d
        }
        other => panic!("{other:?}"),
    }
}

fn instance(id: &str, ip: &str, label: &str, internal: &str) -> Vec<(String, String)> {
    [
        ("__address__", format!("{ip}:80")),
        ("__meta_vultr_instance_id", id.to_owned()),
        ("__meta_vultr_instance_label", label.to_owned()),
        ("__meta_vultr_instance_os", "Marketplace".to_owned()),
        ("__meta_vultr_instance_os_id", "426".to_owned()),
        ("__meta_vultr_instance_region", "ewr".to_owned()),
        ("__meta_vultr_instance_plan", "vhf-2c-4gb".to_owned()),
        ("__meta_vultr_instance_main_ip", ip.to_owned()),
        ("__meta_vultr_instance_internal_ip", internal.to_owned()),
        ("__meta_vultr_instance_main_ipv6", String::new()),
        ("__meta_vultr_instance_hostname", label.to_owned()),
        ("__meta_vultr_instance_server_status", "ok".to_owned()),
        ("__meta_vultr_instance_vcpu_count", "2".to_owned()),
        ("__meta_vultr_instance_ram_mb", "4096".to_owned()),
        ("__meta_vultr_instance_disk_gb", "128".to_owned()),
        (
            "__meta_vultr_instance_allowed_bandwidth_gb",
            "3000".to_owned(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[tokio::test]
async fn refresh_gives_upstreams_labels() {
    // Upstream's TestVultrSDRefresh.
    let api = FakeApi::start(mock).await;
    let d = discovery(&format!("http://{}/", api.addr), API_KEY);
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "Vultr");
    let mut first = instance(
        "dbdbd38c-9884-4c92-95fe-899e50dee717",
        "149.28.234.27",
        "np-2-eae38a19b0f3",
        "10.1.96.5",
    );
    first.push(("__meta_vultr_instance_features".into(), ",backups,".into()));
    first.push((
        "__meta_vultr_instance_tags".into(),
        ",tag1,tag2,tag3,".into(),
    ));
    let expected = vec![
        Labels::from_pairs(first),
        Labels::from_pairs(instance(
            "fccb117c-62f7-4b17-995d-a8e56dd30b33",
            "45.63.1.222",
            "np-2-fd0714b5fe42",
            "10.1.96.6",
        )),
        Labels::from_pairs(instance(
            "c4e58767-f61b-4c5e-9bce-43761cc04868",
            "149.28.237.151",
            "np-2-d04e7829fa43",
            "10.1.96.7",
        )),
    ];
    assert_eq!(groups[0].targets, expected);
    assert_eq!(api.seen()[0].uri, "/v2/instances?per_page=100");
}

#[tokio::test]
async fn pages_follow_the_cursor_and_errors_keep_targets() {
    let api = FakeApi::start(|seen: &Seen| match seen.uri.as_str() {
        "/v2/instances?per_page=100" => Reply::json(
            r#"{"instances": [{"id": "a", "main_ip": "10.0.0.1"}], "meta": {"links": {"next": "bmV4dA=="}}}"#,
        ),
        "/v2/instances?cursor=bmV4dA%3D%3D&per_page=100" => Reply::json(
            r#"{"instances": [{"id": "b", "main_ip": "::1"}], "meta": {"links": {"next": ""}}}"#,
        ),
        _ => Reply::status(404, "not found"),
    })
    .await;
    let d = discovery(&format!("http://{}", api.addr), API_KEY);
    let groups = d.refresh().await.unwrap();
    let addrs: Vec<&str> = groups[0]
        .targets
        .iter()
        .map(|t| t.get("__address__").unwrap())
        .collect();
    assert_eq!(addrs, ["10.0.0.1:80", "[::1]:80"]);

    let api = FakeApi::start(mock).await;
    let d = discovery(&format!("http://{}", api.addr), "wrong");
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "listing Vultr instances: server returned HTTP status 403 Forbidden"
    );
}
