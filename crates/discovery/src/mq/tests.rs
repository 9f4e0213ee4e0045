//! Tests of MQ discovery against a fake MQ REST API on 127.0.0.1: a RabbitMQ cluster
//! broker with two https endpoints on one instance and an ActiveMQ broker with one https
//! and one non-https endpoint (the broker list split over two pages), and the SDK's error
//! wording.

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

fn mock(seen: &Seen) -> Reply {
    if !seen
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("/eu-west-1/mq/aws4_request"))
    {
        return Reply::status(403, r#"{"message": "unsigned"}"#);
    }
    let path = seen.uri.split('?').next().unwrap_or_default();
    match path {
        "/v1/brokers" if seen.uri.contains("nextToken=p2") => Reply::json(
            serde_json::json!({"brokerSummaries": [{"brokerId": "b-2"}]}).to_string(),
        ),
        "/v1/brokers" => Reply::json(
            serde_json::json!({"brokerSummaries": [{"brokerId": "b-1"}], "nextToken": "p2"})
                .to_string(),
        ),
        "/v1/brokers/b-1" => Reply::json(
            serde_json::json!({
                "brokerId": "b-1", "brokerArn": "arn:aws:mq:eu-west-1:1:broker:rabbit:b-1",
                "brokerName": "rabbit", "brokerState": "RUNNING",
                "authenticationStrategy": "SIMPLE", "deploymentMode": "CLUSTER_MULTI_AZ",
                "engineType": "RABBITMQ", "engineVersion": "3.13",
                "hostInstanceType": "mq.m5.large", "autoMinorVersionUpgrade": true,
                "publiclyAccessible": false, "storageType": "EBS",
                "securityGroups": ["sg-1", "sg-2"], "subnetIds": ["subnet-1"],
                "created": "2024-03-01T12:00:00.123Z",
                "configurations": {"current": {"id": "c-1", "revision": 3}},
                "encryptionOptions": {"useAwsOwnedKey": true},
                "logs": {"general": true, "generalLogGroup": "/aws/mq/general"},
                "maintenanceWindowStartTime": {"dayOfWeek": "MONDAY", "timeOfDay": "02:00", "timeZone": "UTC"},
                "tags": {"team-name": "msg"},
                "brokerInstances": [{
                    "consoleURL": "https://b-1.mq.eu-west-1.amazonaws.com",
                    "endpoints": [
                        "amqps://b-1.mq.eu-west-1.amazonaws.com:5671",
                        "https://b-1.mq.eu-west-1.amazonaws.com:15671",
                        "https://b-1.mq.eu-west-1.amazonaws.com:15672"
                    ]
                }]
            })
            .to_string(),
        ),
        "/v1/brokers/b-2" => Reply::json(
            serde_json::json!({
                "brokerId": "b-2", "brokerName": "active", "brokerState": "RUNNING",
                "authenticationStrategy": "LDAP", "deploymentMode": "SINGLE_INSTANCE",
                "engineType": "ACTIVEMQ", "storageType": "EFS",
                "securityGroups": [], "subnetIds": [],
                "dataReplicationMode": "NONE", "pendingAuthenticationStrategy": "",
                "ldapServerMetadata": {"hosts": ["ldap1", "ldap2"], "roleSearchSubtree": true},
                "brokerInstances": [{
                    "ipAddress": "10.0.0.5",
                    "endpoints": ["ssl://b-2:61617", "https://b-2.mq.eu-west-1.amazonaws.com:8162"]
                }]
            })
            .to_string(),
        ),
        _ => Reply::status(404, r#"{"message": "no such broker"}"#)
            .header("x-amzn-ErrorType", "NotFoundException:http://internal")
            .header("x-amzn-RequestId", "req-4"),
    }
}

fn discovery(url: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  mq_sd_configs:\n  - region: eu-west-1\n    endpoint: {url}\n    access_key: AKID\n    secret_key: SECRET\n"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Mq(c) => Discovery::new(c).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn refresh_gives_upstreams_labels() {
    let api = FakeApi::start(mock).await;
    let d = discovery(&format!("http://{}", api.addr));
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups[0].source, "eu-west-1");
    let rabbit = [
        ("__meta_mq_authentication_strategy", "SIMPLE"),
        ("__meta_mq_broker_state", "RUNNING"),
        ("__meta_mq_deployment_mode", "CLUSTER_MULTI_AZ"),
        ("__meta_mq_engine_type", "RABBITMQ"),
        ("__meta_mq_security_groups", "sg-1,sg-2"),
        ("__meta_mq_storage_type", "EBS"),
        ("__meta_mq_subnet_ids", "subnet-1"),
        ("__meta_mq_auto_minor_version_upgrade", "true"),
        (
            "__meta_mq_broker_arn",
            "arn:aws:mq:eu-west-1:1:broker:rabbit:b-1",
        ),
        ("__meta_mq_broker_id", "b-1"),
        ("__meta_mq_broker_name", "rabbit"),
        ("__meta_mq_configurations_current_id", "c-1"),
        ("__meta_mq_configurations_current_revision", "3"),
        ("__meta_mq_created", "2024-03-01T12:00:00Z"),
        ("__meta_mq_encryption_options_use_aws_owned_key", "true"),
        ("__meta_mq_engine_version", "3.13"),
        ("__meta_mq_host_instance_type", "mq.m5.large"),
        ("__meta_mq_logs_general", "true"),
        ("__meta_mq_logs_general_log_group", "/aws/mq/general"),
        (
            "__meta_mq_maintenance_window_start_time_day_of_week",
            "MONDAY",
        ),
        (
            "__meta_mq_maintenance_window_start_time_time_of_day",
            "02:00",
        ),
        ("__meta_mq_maintenance_window_start_time_time_zone", "UTC"),
        ("__meta_mq_publicly_accessible", "false"),
        ("__meta_mq_tags_team_name", "msg"),
    ];
    let with = |base: &[(&'static str, &'static str)], extra: &[(&'static str, &'static str)]| {
        Labels::from_pairs(base.iter().chain(extra).copied())
    };
    let active = [
        ("__meta_mq_authentication_strategy", "LDAP"),
        ("__meta_mq_broker_state", "RUNNING"),
        ("__meta_mq_deployment_mode", "SINGLE_INSTANCE"),
        ("__meta_mq_engine_type", "ACTIVEMQ"),
        ("__meta_mq_security_groups", ""),
        ("__meta_mq_storage_type", "EFS"),
        ("__meta_mq_subnet_ids", ""),
        ("__meta_mq_broker_id", "b-2"),
        ("__meta_mq_broker_name", "active"),
        ("__meta_mq_data_replication_mode", "NONE"),
        ("__meta_mq_ldap_server_metadata_hosts", "ldap1,ldap2"),
        ("__meta_mq_ldap_server_metadata_role_search_subtree", "true"),
    ];
    assert_eq!(
        groups[0].targets,
        [
            with(
                &rabbit,
                &[
                    ("__address__", "b-1.mq.eu-west-1.amazonaws.com:15671"),
                    (
                        "__meta_mq_broker_instance_endpoint",
                        "https://b-1.mq.eu-west-1.amazonaws.com:15671"
                    ),
                ]
            ),
            with(
                &rabbit,
                &[
                    ("__address__", "b-1.mq.eu-west-1.amazonaws.com:15672"),
                    (
                        "__meta_mq_broker_instance_endpoint",
                        "https://b-1.mq.eu-west-1.amazonaws.com:15672"
                    ),
                ]
            ),
            with(
                &active,
                &[
                    ("__address__", "b-2.mq.eu-west-1.amazonaws.com:8162"),
                    (
                        "__meta_mq_broker_instance_endpoint",
                        "https://b-2.mq.eu-west-1.amazonaws.com:8162"
                    ),
                    ("__meta_mq_broker_instance_ip_address", "10.0.0.5"),
                ]
            ),
        ]
    );
    let uris: Vec<String> = api.seen().iter().map(|s| s.uri.clone()).collect();
    assert_eq!(
        uris,
        [
            "/v1/brokers",
            "/v1/brokers?maxResults=100",
            "/v1/brokers?maxResults=100&nextToken=p2",
            "/v1/brokers/b-1",
            "/v1/brokers/b-2",
        ]
    );
    assert!(api.seen().iter().all(|s| s.method == http::Method::GET));
}

#[tokio::test]
async fn errors_are_the_sdks() {
    let api = FakeApi::start(mock).await;
    api.set(|s: &Seen| {
        if s.uri.starts_with("/v1/brokers/") {
            Reply::status(404, r#"{"message": "no such broker"}"#)
                .header("x-amzn-ErrorType", "NotFoundException:http://internal")
                .header("x-amzn-RequestId", "req-4")
        } else {
            mock(s)
        }
    });
    let d = discovery(&format!("http://{}", api.addr));
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "error describing brokers: error describing broker b-1: operation error mq: DescribeBroker, https response error StatusCode: 404, RequestID: req-4, api error NotFoundException: no such broker"
    );
    api.set(|_: &Seen| Reply::status(403, r#"{"message": "denied"}"#));
    let fresh = discovery(&format!("http://{}", api.addr));
    assert_eq!(
        fresh.refresh().await.unwrap_err(),
        "MQ credential test failed: operation error mq: ListBrokers, https response error StatusCode: 403, RequestID: , api error : denied"
    );
}

#[tokio::test]
async fn mq_sd_configs_blocks_run_through_the_manager() {
    let api = FakeApi::start(mock).await;
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  mq_sd_configs:\n  - region: eu-west-1\n    endpoint: http://{}\n    access_key: AKID\n    secret_key: SECRET\n    refresh_interval: 50ms\n",
            api.addr
        ),
        "",
    )
    .unwrap();
    crate::rds::tests::manager_sends(&cfg, 3).await;
}
