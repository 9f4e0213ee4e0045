//! Tests of lightsail_sd against a fake Lightsail API on loopback (`endpoint`): a signed
//! JSON 1.1 `GetInstances`, instances with and without private IPs, tags, IPv6 addresses,
//! and an API error.

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const INSTANCES: &str = r#"{
  "instances": [
    {
      "name": "web-1", "arn": "arn:aws:lightsail:us-east-1:123456789012:Instance/1",
      "supportCode": "123456789012/i-0a1b2c3d", "createdAt": 1.6e9,
      "location": {"availabilityZone": "us-east-1a", "regionName": "us-east-1"},
      "resourceType": "Instance",
      "tags": [{"key": "env", "value": "prod"}, {"key": "team.name", "value": "infra"}, {"key": "novalue"}],
      "blueprintId": "ubuntu_22_04", "blueprintName": "Ubuntu", "bundleId": "nano_3_0",
      "isStaticIp": false, "privateIpAddress": "172.26.0.10", "publicIpAddress": "3.3.3.3",
      "ipv6Addresses": ["2600:1f18::1", "2600:1f18::2"], "ipAddressType": "dualstack",
      "state": {"code": 16, "name": "running"}
    },
    {
      "name": "no-private-ip", "supportCode": "x", "location": {"availabilityZone": "us-east-1b"},
      "blueprintId": "b", "bundleId": "n", "state": {"code": 80, "name": "stopped"}
    },
    {
      "name": "db-1", "supportCode": "123456789012/i-0d4c3b2a",
      "location": {"availabilityZone": "us-east-1b", "regionName": "us-east-1"},
      "blueprintId": "debian_12", "bundleId": "micro_3_0", "privateIpAddress": "172.26.0.11",
      "state": {"code": 80, "name": "stopped"}
    }
  ]
}"#;

fn mock(seen: &Seen) -> Reply {
    let auth = seen
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
        || !auth.contains("/us-east-1/lightsail/aws4_request")
    {
        return Reply::status(
            400,
            r#"{"__type": "UnrecognizedClientException", "message": "The security token included in the request is invalid."}"#,
        )
        .header("x-amzn-RequestId", "req-9");
    }
    let target = seen
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    if seen.method != http::Method::POST
        || seen.uri != "/"
        || target != Some("Lightsail_20161128.GetInstances")
        || seen.body != "{}"
    {
        return Reply::status(
            400,
            r#"{"__type": "InvalidInputException", "message": "bad"}"#,
        );
    }
    Reply::json(INSTANCES)
}

fn discovery(url: &str, key: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  lightsail_sd_configs:\n  - region: us-east-1\n    endpoint: {url}\n    access_key: {key}\n    secret_key: SECRET\n"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Lightsail(c) => Discovery::new(c).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn instances_with_private_ips_become_targets() {
    let api = FakeApi::start(mock).await;
    let d = discovery(&format!("http://{}", api.addr), "AKIDTEST");
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "us-east-1");
    let expected = vec![
        Labels::from_pairs([
            ("__address__", "172.26.0.10:80"),
            ("__meta_lightsail_availability_zone", "us-east-1a"),
            ("__meta_lightsail_blueprint_id", "ubuntu_22_04"),
            ("__meta_lightsail_bundle_id", "nano_3_0"),
            ("__meta_lightsail_instance_name", "web-1"),
            ("__meta_lightsail_instance_state", "running"),
            (
                "__meta_lightsail_instance_support_code",
                "123456789012/i-0a1b2c3d",
            ),
            ("__meta_lightsail_private_ip", "172.26.0.10"),
            ("__meta_lightsail_public_ip", "3.3.3.3"),
            ("__meta_lightsail_region", "us-east-1"),
            (
                "__meta_lightsail_ipv6_addresses",
                ",2600:1f18::1,2600:1f18::2,",
            ),
            ("__meta_lightsail_tag_env", "prod"),
            ("__meta_lightsail_tag_team_name", "infra"),
        ]),
        Labels::from_pairs([
            ("__address__", "172.26.0.11:80"),
            ("__meta_lightsail_availability_zone", "us-east-1b"),
            ("__meta_lightsail_blueprint_id", "debian_12"),
            ("__meta_lightsail_bundle_id", "micro_3_0"),
            ("__meta_lightsail_instance_name", "db-1"),
            ("__meta_lightsail_instance_state", "stopped"),
            (
                "__meta_lightsail_instance_support_code",
                "123456789012/i-0d4c3b2a",
            ),
            ("__meta_lightsail_private_ip", "172.26.0.11"),
            ("__meta_lightsail_region", "us-east-1"),
        ]),
    ];
    assert_eq!(groups[0].targets, expected);
    assert_eq!(
        api.seen()[0].headers["content-type"],
        "application/x-amz-json-1.1"
    );

    let d = discovery(&format!("http://{}", api.addr), "WRONG");
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "could not get instances: operation error Lightsail: GetInstances, https response error StatusCode: 400, RequestID: req-9, api error UnrecognizedClientException: The security token included in the request is invalid."
    );
}
