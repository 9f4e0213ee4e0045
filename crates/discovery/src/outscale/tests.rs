//! Tests of outscale_sd against a fake OUTSCALE API on 127.0.0.1 serving the VMs of
//! upstream's `vm_test.go` cases over two `ReadVms` pages.

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

fn mock(seen: &Seen) -> Reply {
    let auth = seen
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !auth.contains("Credential=AK/") || !auth.contains("/eu-west-2/oapi/aws4_request") {
        return Reply::status(
            401,
            r#"{"Errors": [{"Code": "1", "Type": "AccessDenied"}]}"#,
        );
    }
    if seen.uri != "/api/v1/ReadVms" {
        return Reply::status(404, "{}");
    }
    if seen.body.contains("NextPageToken") {
        return Reply::json(
            r#"{"Vms": [
                {"VmId": "i-pub", "State": "running", "PublicIp": "203.0.113.10"},
                {"VmId": "i-1", "State": "running"}
            ], "ResponseContext": {"RequestId": "r2"}}"#,
        );
    }
    Reply::json(
        r#"{"Vms": [
            {"VmId": "i-abc", "State": "running", "PrivateIp": "10.1.2.3", "PublicIp": "1.2.3.4"},
            {"VmId": "i-tagged", "State": "stopped", "PrivateIp": "10.0.0.5",
             "Placement": {"SubregionName": "eu-west-2a"},
             "Tags": [{"Key": "Name", "Value": "my-vm"}, {"Key": "env", "Value": "prod"},
                      {"Key": "", "Value": "skip"}, {"Key": "EmptyVal", "Value": ""}]}
        ], "NextPageToken": "p2", "ResponseContext": {"RequestId": "r1"}}"#,
    )
}

fn discovery(extra: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  outscale_sd_configs:\n  - access_key: AK\n{extra}"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Outscale(c) => Discovery::new(c).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn refresh_gives_upstreams_labels() {
    let api = FakeApi::start(mock).await;
    let d = discovery(&format!(
        "    secret_key: SK\n    port: 9090\n    endpoint: http://{}/api/v1\n",
        api.addr
    ));
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups[0].source, "eu-west-2");
    let l = |pairs: &[(&str, &str)]| Labels::from_pairs(pairs.iter().copied());
    assert_eq!(
        groups[0].targets,
        vec![
            l(&[
                ("__address__", "10.1.2.3:9090"),
                ("__meta_outscale_vm_instance_id", "i-abc"),
                ("__meta_outscale_vm_region", "eu-west-2"),
                ("__meta_outscale_vm_state", "running"),
                ("__meta_outscale_vm_private_ip", "10.1.2.3"),
                ("__meta_outscale_vm_public_ip", "1.2.3.4"),
            ]),
            l(&[
                ("__address__", "10.0.0.5:9090"),
                ("__meta_outscale_vm_instance_id", "i-tagged"),
                ("__meta_outscale_vm_region", "eu-west-2"),
                ("__meta_outscale_vm_state", "stopped"),
                ("__meta_outscale_vm_subregion", "eu-west-2a"),
                ("__meta_outscale_vm_private_ip", "10.0.0.5"),
                ("__meta_outscale_vm_tag_Name", "my-vm"),
                ("__meta_outscale_vm_tag_env", "prod"),
            ]),
            l(&[
                ("__address__", "203.0.113.10:9090"),
                ("__meta_outscale_vm_instance_id", "i-pub"),
                ("__meta_outscale_vm_region", "eu-west-2"),
                ("__meta_outscale_vm_state", "running"),
                ("__meta_outscale_vm_public_ip", "203.0.113.10"),
            ]),
        ]
    );
    let seen = api.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, "{}");
    assert_eq!(seen[1].body, r#"{"NextPageToken":"p2"}"#);
}

#[tokio::test]
async fn secret_files_and_errors() {
    let api = FakeApi::start(mock).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sk");
    std::fs::write(&file, "WRONG\n").unwrap();
    let d = discovery(&format!(
        "    secret_key_file: {}\n    endpoint: http://{}/api/v1\n    region: us-east-2\n",
        file.display(),
        api.addr
    ));
    assert_eq!(
        d.refresh().await.unwrap_err(),
        r#"outscale ReadVms: 401 Unauthorized: {"Errors": [{"Code": "1", "Type": "AccessDenied"}]}"#
    );
    let err = config::Config::load_str(
        "scrape_configs:\n- job_name: j\n  outscale_sd_configs:\n  - {region: eu-west-2, secret_key: s}\n",
        "",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("outscale SD configuration requires access_key and secret_key"),
        "{err}"
    );
    // The region defaults to eu-west-2 and the endpoint to the region's.
    let cfg = config::Config::load_str(
        "scrape_configs:\n- job_name: j\n  outscale_sd_configs:\n  - {access_key: a, secret_key: b}\n",
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Outscale(c) => {
            assert_eq!(
                Discovery::new(c).unwrap().endpoint,
                "https://api.eu-west-2.outscale.com/api/v1"
            );
        }
        other => panic!("{other:?}"),
    }
}
