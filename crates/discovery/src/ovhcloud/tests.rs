//! Tests of ovhcloud_sd against a fake OVHcloud API serving upstream's
//! `discovery/ovhcloud/testdata` answers, checking go-ovh's request signature and
//! upstream's expected labels.

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const APP_KEY: &str = "5fda2d9e3a8a4fd0";
const APP_SECRET: &str = "9b0db5e1ea1b6dd4";
const CONSUMER: &str = "5mBuy6SUQcRw2ZUxg0cG68BoDKpED4KY";
/// The fake server's clock.
const SERVER_TIME: i64 = 1_700_000_000;

const VPS_DETAILS: &str = r#"{
  "offerType": "ssd", "monitoringIpBlocks": [], "displayName": "abc", "zone": "zone",
  "cluster": "cluster_test", "slaMonitoring": false, "name": "abc", "vcore": 1,
  "state": "running", "keymap": null, "netbootMode": "local",
  "model": {
    "name": "vps-value-1-2-40", "availableOptions": [], "maximumAdditionalIp": 16,
    "offer": "VPS abc", "disk": 40, "version": "2019v1", "vcore": 1, "memory": 2048,
    "datacenter": []
  },
  "memoryLimit": 2048
}"#;

const DEDICATED_DETAILS: &str = r#"{
  "ip": "1.2.3.4", "newUpgradeSystem": true, "commercialRange": "Advance-1 Gen 2",
  "rack": "TESTRACK", "rescueMail": null, "supportLevel": "pro", "bootId": 1,
  "linkSpeed": 123, "professionalUse": false, "monitoring": true, "noIntervention": false,
  "name": "abcde", "rootDevice": null, "state": "test", "datacenter": "gra3",
  "os": "debian11_64", "reverse": "abcde-rev", "serverId": 1234
}"#;

/// Checks go-ovh's signature of a GET and answers from upstream's test data.
fn mock(base: String) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    move |seen: &Seen| {
        if seen.uri == "/auth/time" {
            return Reply::json(SERVER_TIME.to_string());
        }
        let h = |k: &str| {
            seen.headers
                .get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        if h("x-ovh-application") != APP_KEY {
            return Reply::status(400, r#"{"message": "bad application key"}"#);
        }
        let ts = h("x-ovh-timestamp");
        let payload = format!(
            "{APP_SECRET}+{}+GET+{base}{}++{ts}",
            h("x-ovh-consumer"),
            seen.uri
        );
        let digest =
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, payload.as_bytes());
        let want: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        if h("x-ovh-signature") != format!("$1${want}") || h("x-ovh-consumer") != CONSUMER {
            return Reply::status(403, r#"{"message": "Invalid signature"}"#);
        }
        // The timestamp follows the server's clock, not ours.
        let ts: i64 = ts.parse().unwrap_or_default();
        if (ts - SERVER_TIME).abs() > 60 {
            return Reply::status(400, r#"{"message": "Query out of time"}"#);
        }
        match seen.uri.as_str() {
            "/vps" => Reply::json(r#"["abc", "no%ips"]"#),
            "/vps/abc" => Reply::json(VPS_DETAILS),
            "/vps/abc/ips" => {
                Reply::json(r#"["192.0.2.1/32", "2001:0db1:0000:0000:0000:0000:0000:0001/64"]"#)
            }
            "/vps/no%25ips" => Reply::json(r#"{"name": "no%ips"}"#),
            "/vps/no%25ips/ips" => Reply::json(r#"["2001:db8::/64"]"#),
            "/dedicated/server" => Reply::json(r#"["abcde"]"#),
            "/dedicated/server/abcde" => Reply::json(DEDICATED_DETAILS),
            "/dedicated/server/abcde/ips" => {
                Reply::json(r#"["1.2.3.4/32", "2001:0bc8:1201:0701:0000:0000:0000:0001/64"]"#)
            }
            _ => Reply::status(404, r#"{"message": "not found"}"#),
        }
    }
}

fn discovery(url: &str, service: &str, secret: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  ovhcloud_sd_configs:\n  - service: {service}\n    endpoint: {url}\n    application_key: {APP_KEY}\n    application_secret: {secret}\n    consumer_key: {CONSUMER}\n"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::OvhCloud(c) => Discovery::new(c).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn vps_with_upstreams_labels() {
    let api = FakeApi::start(|_: &Seen| Reply::status(503, "")).await;
    let base = format!("http://{}", api.addr);
    api.set(mock(base.clone()));
    let d = discovery(&base, "vps", APP_SECRET);
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "ovhcloud_vps");
    // "no%ips" has no usable address and is left out.
    assert_eq!(
        groups[0].targets,
        [Labels::from_pairs([
            ("__address__", "192.0.2.1"),
            ("__meta_ovhcloud_vps_ipv4", "192.0.2.1"),
            ("__meta_ovhcloud_vps_ipv6", ""),
            ("__meta_ovhcloud_vps_cluster", "cluster_test"),
            ("__meta_ovhcloud_vps_datacenter", "[]"),
            ("__meta_ovhcloud_vps_disk", "40"),
            ("__meta_ovhcloud_vps_display_name", "abc"),
            ("__meta_ovhcloud_vps_maximum_additional_ip", "16"),
            ("__meta_ovhcloud_vps_memory", "2048"),
            ("__meta_ovhcloud_vps_memory_limit", "2048"),
            ("__meta_ovhcloud_vps_model_name", "vps-value-1-2-40"),
            ("__meta_ovhcloud_vps_name", "abc"),
            ("__meta_ovhcloud_vps_netboot_mode", "local"),
            ("__meta_ovhcloud_vps_offer", "VPS abc"),
            ("__meta_ovhcloud_vps_offer_type", "ssd"),
            ("__meta_ovhcloud_vps_state", "running"),
            ("__meta_ovhcloud_vps_vcore", "1"),
            ("__meta_ovhcloud_vps_model_vcore", "1"),
            ("__meta_ovhcloud_vps_version", "2019v1"),
            ("__meta_ovhcloud_vps_zone", "zone"),
            ("instance", "abc"),
        ])]
    );
    // The server clock is asked once.
    d.refresh().await.unwrap();
    let times = api.seen().iter().filter(|s| s.uri == "/auth/time").count();
    assert_eq!(times, 1);
}

#[tokio::test]
async fn dedicated_servers_and_errors() {
    let api = FakeApi::start(|_: &Seen| Reply::status(503, "")).await;
    let base = format!("http://{}", api.addr);
    api.set(mock(base.clone()));
    let d = discovery(&base, "dedicated_server", APP_SECRET);
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups[0].source, "ovhcloud_dedicated_server");
    assert_eq!(
        groups[0].targets,
        [Labels::from_pairs([
            ("__address__", "1.2.3.4"),
            (
                "__meta_ovhcloud_dedicated_server_commercial_range",
                "Advance-1 Gen 2",
            ),
            ("__meta_ovhcloud_dedicated_server_datacenter", "gra3"),
            ("__meta_ovhcloud_dedicated_server_ipv4", "1.2.3.4"),
            ("__meta_ovhcloud_dedicated_server_ipv6", ""),
            ("__meta_ovhcloud_dedicated_server_link_speed", "123"),
            ("__meta_ovhcloud_dedicated_server_name", "abcde"),
            ("__meta_ovhcloud_dedicated_server_no_intervention", "false"),
            ("__meta_ovhcloud_dedicated_server_os", "debian11_64"),
            ("__meta_ovhcloud_dedicated_server_rack", "TESTRACK"),
            ("__meta_ovhcloud_dedicated_server_reverse", "abcde-rev"),
            ("__meta_ovhcloud_dedicated_server_server_id", "1234"),
            ("__meta_ovhcloud_dedicated_server_state", "test"),
            ("__meta_ovhcloud_dedicated_server_support_level", "pro"),
            ("instance", "abcde"),
        ])]
    );

    let d = discovery(&base, "dedicated_server", "wrong");
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "HTTP Error 403: \"Invalid signature\""
    );
}

#[test]
fn ip_lists_and_endpoints() {
    let ips = |l: &[&str]| parse_ip_list(&l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    assert_eq!(
        ips(&["192.0.2.1/32", "2001:db8::/64", "0.0.0.0", "::1"]).unwrap(),
        [
            "192.0.2.1".parse::<IpAddr>().unwrap(),
            "::1".parse().unwrap()
        ]
    );
    assert_eq!(
        ips(&["2001:db8::/64"]).unwrap_err(),
        "could not parse IP addresses from list"
    );
    assert!(ips(&["junk"]).is_err());
    let cfg = config::Config::load_str(
        "scrape_configs:\n- job_name: j\n  ovhcloud_sd_configs:\n  - {service: vps, endpoint: ovh-ca, application_key: k, application_secret: s, consumer_key: c}\n",
        "",
    )
    .unwrap();
    let config::ServiceDiscoveryConfig::OvhCloud(c) =
        &cfg.scrape_configs[0].service_discovery_configs.0[0]
    else {
        panic!("not ovhcloud");
    };
    assert_eq!(
        Discovery::new(c).unwrap().endpoint,
        "https://ca.api.ovh.com/1.0"
    );
    let mut c = c.clone();
    c.endpoint = "ovh-mars".into();
    assert_eq!(
        Discovery::new(&c).unwrap_err(),
        "unknown endpoint 'ovh-mars', consider checking 'Endpoints' list of using an URL"
    );
}
