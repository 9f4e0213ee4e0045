//! Tests of the MSK role against a fake Kafka REST API on 127.0.0.1: a provisioned cluster
//! with open monitoring, two brokers (two endpoints for one) and a controller.

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const ARN: &str = "arn:aws:kafka:us-east-1:123456789012:cluster/test-cluster/abc-123";

fn cluster() -> serde_json::Value {
    serde_json::json!({
        "clusterArn": ARN, "clusterName": "test-cluster", "clusterType": "PROVISIONED",
        "state": "ACTIVE", "currentVersion": "K3AEGXETSR30VB",
        "tags": {"Environment": "test", "team-name": "data"},
        "provisioned": {
            "currentBrokerSoftwareInfo": {
                "kafkaVersion": "3.5.1",
                "configurationArn": "arn:aws:kafka:us-east-1:123456789012:configuration/c/1",
                "configurationRevision": 2
            },
            "openMonitoring": {"prometheus": {
                "jmxExporter": {"enabledInBroker": true},
                "nodeExporter": {"enabledInBroker": false}
            }}
        }
    })
}

fn mock(seen: &Seen) -> Reply {
    if !seen
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("/us-east-1/kafka/aws4_request"))
    {
        return Reply::status(403, r#"{"message": "unsigned"}"#);
    }
    let escaped = path_escape(ARN);
    let path = seen.uri.split('?').next().unwrap_or_default();
    if path == "/api/v2/clusters" {
        return Reply::json(serde_json::json!({"clusterInfoList": [cluster()]}).to_string());
    }
    if path == format!("/api/v2/clusters/{escaped}") {
        return Reply::json(serde_json::json!({"clusterInfo": cluster()}).to_string());
    }
    if path == format!("/v1/clusters/{escaped}/nodes") {
        if seen.uri.contains("nextToken=p2") {
            return Reply::json(
                serde_json::json!({"nodeInfoList": [{
                    "nodeARN": "arn:node/ctl", "addedToClusterTime": "2024-01-01T00:00:00Z",
                    "instanceType": "kafka.m5.large",
                    "controllerNodeInfo": {"endpoints": ["c-1.test.kafka.us-east-1.amazonaws.com"]}
                }]})
                .to_string(),
            );
        }
        return Reply::json(
            serde_json::json!({"nodeInfoList": [
                {
                    "nodeARN": "arn:node/b1", "addedToClusterTime": "2024-01-01T00:00:00Z",
                    "instanceType": "kafka.m5.large", "nodeType": "BROKER",
                    "brokerNodeInfo": {
                        "attachedENIId": "eni-1", "brokerId": 1.0, "clientSubnet": "subnet-1",
                        "clientVpcIpAddress": "10.0.1.10",
                        "endpoints": ["b-1.test.kafka.us-east-1.amazonaws.com", "10.0.1.10"]
                    }
                },
                {"nodeARN": "arn:node/unknown"}
            ], "nextToken": "p2"})
            .to_string(),
        );
    }
    Reply::status(404, r#"{"message": "not found"}"#)
        .header("x-amzn-ErrorType", "NotFoundException:http://internal")
}

fn discovery(url: &str, extra: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  msk_sd_configs:\n  - region: us-east-1\n    endpoint: {url}\n    access_key: AKID\n    secret_key: SECRET\n    port: 11001\n{extra}"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Msk(c) => Discovery::new(c).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn refresh_gives_upstreams_labels() {
    let api = FakeApi::start(mock).await;
    let d = discovery(&format!("http://{}", api.addr), "");
    assert_eq!(d.concurrency, 10, "upstream's MSK default");
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups[0].source, "us-east-1");
    let common = [
        ("__meta_msk_cluster_name", "test-cluster"),
        ("__meta_msk_cluster_arn", ARN),
        ("__meta_msk_cluster_state", "ACTIVE"),
        ("__meta_msk_cluster_type", "PROVISIONED"),
        ("__meta_msk_cluster_version", "K3AEGXETSR30VB"),
        ("__meta_msk_cluster_kafka_version", "3.5.1"),
        (
            "__meta_msk_cluster_configuration_arn",
            "arn:aws:kafka:us-east-1:123456789012:configuration/c/1",
        ),
        ("__meta_msk_cluster_configuration_revision", "2"),
        ("__meta_msk_cluster_jmx_exporter_enabled", "true"),
        ("__meta_msk_cluster_tag_Environment", "test"),
        ("__meta_msk_cluster_tag_team_name", "data"),
        ("__meta_msk_node_added_time", "2024-01-01T00:00:00Z"),
        ("__meta_msk_node_instance_type", "kafka.m5.large"),
    ];
    let broker = [
        ("__meta_msk_node_arn", "arn:node/b1"),
        ("__meta_msk_node_type", "BROKER"),
        ("__meta_msk_node_attached_eni", "eni-1"),
        ("__meta_msk_broker_id", "1"),
        ("__meta_msk_broker_client_subnet", "subnet-1"),
        ("__meta_msk_broker_client_vpc_ip", "10.0.1.10"),
        ("__meta_msk_broker_node_exporter_enabled", "false"),
    ];
    let with = |a: &[(&'static str, &'static str)], b: &[(&'static str, &'static str)]| {
        Labels::from_pairs(common.iter().chain(a).chain(b).copied())
    };
    let expected = vec![
        with(
            &broker,
            &[
                (
                    "__address__",
                    "b-1.test.kafka.us-east-1.amazonaws.com:11001",
                ),
                ("__meta_msk_broker_endpoint_index", "0"),
            ],
        ),
        with(
            &broker,
            &[
                ("__address__", "10.0.1.10:11001"),
                ("__meta_msk_broker_endpoint_index", "1"),
            ],
        ),
        with(
            &[
                ("__meta_msk_node_arn", "arn:node/ctl"),
                ("__meta_msk_node_type", "CONTROLLER"),
            ],
            &[
                (
                    "__address__",
                    "c-1.test.kafka.us-east-1.amazonaws.com:11001",
                ),
                ("__meta_msk_controller_endpoint_index", "0"),
            ],
        ),
    ];
    assert_eq!(groups[0].targets, expected);
    let uris: Vec<String> = api.seen().iter().map(|s| s.uri.clone()).collect();
    assert_eq!(
        uris[0],
        "/api/v2/clusters?clusterTypeFilter=PROVISIONED&maxResults=100"
    );
    assert_eq!(
        uris[2],
        format!("/v1/clusters/{}/nodes?maxResults=100", path_escape(ARN))
    );
}

#[tokio::test]
async fn configured_clusters_and_errors() {
    let api = FakeApi::start(mock).await;
    let d = discovery(
        &format!("http://{}", api.addr),
        &format!("    clusters: ['{ARN}', '{ARN}']\n    request_concurrency: 2\n"),
    );
    assert_eq!(d.concurrency, 2);
    // Each configured cluster is described and its nodes listed (side by side).
    assert_eq!(d.refresh().await.unwrap()[0].targets.len(), 6);
    let node_lists = api
        .seen()
        .iter()
        .filter(|s| s.uri.starts_with("/v1/clusters/") && !s.uri.contains("nextToken"))
        .count();
    assert_eq!(node_lists, 2);
    assert!(
        api.seen()
            .iter()
            .any(|s| s.uri == format!("/api/v2/clusters/{}", path_escape(ARN)))
    );

    let d = discovery(
        &format!("http://{}", api.addr),
        "    clusters: ['arn:aws:kafka:us-east-1:1:cluster/gone/x']\n",
    );
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "could not describe cluster arn:aws:kafka:us-east-1:1:cluster/gone/x: operation error Kafka: DescribeClusterV2, https response error StatusCode: 404, RequestID: , api error NotFoundException: not found"
    );
}

#[tokio::test]
async fn msk_sd_configs_blocks_run_through_the_manager() {
    let api = FakeApi::start(mock).await;
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  msk_sd_configs:\n  - region: us-east-1\n    endpoint: http://{}\n    access_key: AKID\n    secret_key: SECRET\n    refresh_interval: 50ms\n",
            api.addr
        ),
        "",
    )
    .unwrap();
    let m = crate::Manager::new(crate::Options {
        update_interval: Duration::from_millis(20),
        ..Default::default()
    });
    let mut rx = m.subscribe();
    m.apply_config(&cfg).unwrap();
    let runner = m.clone();
    let task = tokio::spawn(async move { runner.run().await });
    loop {
        rx.changed().await.unwrap();
        let n = rx
            .borrow()
            .get("j")
            .map_or(0, |g| g.iter().map(|g| g.targets.len()).sum::<usize>());
        if n == 3 {
            break;
        }
    }
    m.stop();
    task.await.unwrap();
}
