//! Tests of the ECS role against a fake ECS JSON API and EC2 query API on 127.0.0.1: an
//! awsvpc task on Fargate with a public ENI, a bridge task on an EC2 container instance,
//! a standalone task, and a task without an address (shapes as upstream's `ecs_test.go`
//! mocks).

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const CLUSTER: &str = "arn:aws:ecs:us-west-2:123456789012:cluster/test-cluster";
const SERVICE: &str = "arn:aws:ecs:us-west-2:123456789012:service/test-cluster/web-service";
const CONTAINER: &str = "arn:aws:ecs:us-west-2:123456789012:container-instance/test-cluster/ci-1";

fn ecs(op: &str, body: &serde_json::Value) -> Reply {
    let json = |v: serde_json::Value| Reply::json(v.to_string());
    match op {
        "DescribeClusters" if body.get("clusters").is_none() => {
            json(serde_json::json!({"clusters": []}))
        }
        "ListClusters" => {
            if body.get("nextToken").is_some() {
                json(serde_json::json!({"clusterArns": []}))
            } else {
                json(serde_json::json!({"clusterArns": [CLUSTER], "nextToken": "t2"}))
            }
        }
        "DescribeClusters" => json(serde_json::json!({"clusters": [{
            "clusterArn": CLUSTER, "clusterName": "test-cluster",
            "tags": [{"key": "Environment", "value": "test"}]
        }]})),
        "ListServices" => json(serde_json::json!({"serviceArns": [SERVICE]})),
        "DescribeServices" => json(serde_json::json!({"services": [{
            "serviceArn": SERVICE, "serviceName": "web-service", "clusterArn": CLUSTER,
            "status": "ACTIVE", "tags": [{"key": "team", "value": "web"}]
        }]})),
        "ListTasks" => json(serde_json::json!({"taskArns": ["t-awsvpc", "t-bridge", "t-none"]})),
        "DescribeTasks" => json(serde_json::json!({"tasks": [
            {
                "taskArn": "t-awsvpc", "group": "service:web-service",
                "taskDefinitionArn": "arn:aws:ecs:us-west-2:123456789012:task-definition/web:1",
                "launchType": "FARGATE", "availabilityZone": "us-west-2a",
                "desiredStatus": "RUNNING", "lastStatus": "RUNNING", "healthStatus": "HEALTHY",
                "platformFamily": "Linux", "platformVersion": "1.4.0",
                "attachments": [{"type": "ElasticNetworkInterface", "details": [
                    {"name": "subnetId", "value": "subnet-12345"},
                    {"name": "privateIPv4Address", "value": "10.0.1.100"},
                    {"name": "networkInterfaceId", "value": "eni-1"}
                ]}],
                "tags": [{"key": "version", "value": "v1"}]
            },
            {
                "taskArn": "t-bridge", "group": "service:web-service",
                "taskDefinitionArn": "arn:aws:ecs:us-west-2:123456789012:task-definition/web:1",
                "launchType": "EC2", "availabilityZone": "us-west-2b",
                "desiredStatus": "RUNNING", "lastStatus": "RUNNING", "healthStatus": "UNKNOWN",
                "containerInstanceArn": CONTAINER
            },
            {
                "taskArn": "t-standalone", "group": "family:batch",
                "taskDefinitionArn": "arn:aws:ecs:us-west-2:123456789012:task-definition/batch:3",
                "launchType": "FARGATE", "availabilityZone": "us-west-2c",
                "desiredStatus": "RUNNING", "lastStatus": "RUNNING", "healthStatus": "UNKNOWN",
                "attachments": [{"type": "ElasticNetworkInterface", "details": [
                    {"name": "privateIPv4Address", "value": "10.0.3.7"}
                ]}],
                "tags": [{"key": "Role", "value": "batch"}]
            },
            {
                "taskArn": "t-none", "group": "g", "taskDefinitionArn": "d", "launchType": "FARGATE",
                "availabilityZone": "us-west-2a", "desiredStatus": "PENDING", "lastStatus": "PROVISIONING"
            }
        ]})),
        "DescribeContainerInstances" => json(serde_json::json!({"containerInstances": [
            {"containerInstanceArn": CONTAINER, "ec2InstanceId": "i-0123"}
        ]})),
        _ => Reply::status(400, r#"{"__type": "InvalidAction", "message": "no"}"#),
    }
}

fn ec2(form: &BTreeMap<String, String>) -> Reply {
    match form.get("Action").map(String::as_str) {
        Some("DescribeInstances") => Reply::status(
            200,
            r#"<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <reservationSet><item><instancesSet><item>
    <instanceId>i-0123</instanceId><instanceType>t3.medium</instanceType>
    <privateIpAddress>10.0.2.50</privateIpAddress><ipAddress>54.1.2.3</ipAddress>
    <subnetId>subnet-67890</subnetId>
    <tagSet><item><key>Name</key><value>ecs-host</value></item></tagSet>
  </item></instancesSet></item></reservationSet>
</DescribeInstancesResponse>"#,
        ),
        Some("DescribeNetworkInterfaces") => Reply::status(
            200,
            r#"<DescribeNetworkInterfacesResponse>
  <networkInterfaceSet><item>
    <networkInterfaceId>eni-1</networkInterfaceId>
    <association><publicIp>52.1.1.1</publicIp></association>
  </item></networkInterfaceSet>
</DescribeNetworkInterfacesResponse>"#,
        ),
        _ => Reply::status(
            400,
            "<Response><Errors><Error><Code>InvalidAction</Code></Error></Errors></Response>",
        ),
    }
}

fn mock(seen: &Seen) -> Reply {
    if !seen
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256 Credential=AKID/"))
    {
        return Reply::status(
            403,
            r#"{"__type": "UnrecognizedClientException", "message": "unsigned"}"#,
        );
    }
    match seen
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        Some(t) => {
            let op = t.strip_prefix(TARGET_PREFIX).unwrap_or_default();
            ecs(op, &serde_json::from_str(&seen.body).unwrap())
        }
        None => ec2(&url::form_urlencoded::parse(seen.body.as_bytes())
            .into_owned()
            .collect()),
    }
}

fn discovery(url: &str, extra: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  ecs_sd_configs:\n  - region: us-west-2\n    endpoint: {url}\n    access_key: AKID\n    secret_key: SECRET\n    port: 9100\n{extra}"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Ecs(c) => {
            let mut d = Discovery::new(c).unwrap();
            d.ec2_endpoint = url.to_owned();
            d
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn refresh_gives_upstreams_labels() {
    let api = FakeApi::start(mock).await;
    let d = discovery(&format!("http://{}", api.addr), "");
    assert_eq!(d.concurrency, 20, "upstream's ECS default");
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "us-west-2");
    let cluster = [
        ("__meta_ecs_cluster", "test-cluster"),
        ("__meta_ecs_cluster_arn", CLUSTER),
        ("__meta_ecs_region", "us-west-2"),
        ("__meta_ecs_desired_status", "RUNNING"),
        ("__meta_ecs_last_status", "RUNNING"),
        ("__meta_ecs_tag_cluster_Environment", "test"),
    ];
    let common = [
        ("__meta_ecs_service", "web-service"),
        ("__meta_ecs_service_arn", SERVICE),
        ("__meta_ecs_service_status", "ACTIVE"),
        ("__meta_ecs_task_group", "service:web-service"),
        (
            "__meta_ecs_task_definition",
            "arn:aws:ecs:us-west-2:123456789012:task-definition/web:1",
        ),
        ("__meta_ecs_tag_service_team", "web"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        Labels::from_pairs(
            cluster
                .iter()
                .chain(common.iter())
                .chain(extra.iter())
                .copied(),
        )
    };
    let expected = vec![
        with(&[
            ("__address__", "10.0.1.100:9100"),
            ("__meta_ecs_task_arn", "t-awsvpc"),
            ("__meta_ecs_ip_address", "10.0.1.100"),
            ("__meta_ecs_launch_type", "FARGATE"),
            ("__meta_ecs_availability_zone", "us-west-2a"),
            ("__meta_ecs_health_status", "HEALTHY"),
            ("__meta_ecs_network_mode", "awsvpc"),
            ("__meta_ecs_subnet_id", "subnet-12345"),
            ("__meta_ecs_public_ip", "52.1.1.1"),
            ("__meta_ecs_platform_family", "Linux"),
            ("__meta_ecs_platform_version", "1.4.0"),
            ("__meta_ecs_tag_task_version", "v1"),
        ]),
        with(&[
            ("__address__", "10.0.2.50:9100"),
            ("__meta_ecs_task_arn", "t-bridge"),
            ("__meta_ecs_ip_address", "10.0.2.50"),
            ("__meta_ecs_launch_type", "EC2"),
            ("__meta_ecs_availability_zone", "us-west-2b"),
            ("__meta_ecs_health_status", "UNKNOWN"),
            ("__meta_ecs_network_mode", "bridge"),
            ("__meta_ecs_subnet_id", "subnet-67890"),
            ("__meta_ecs_container_instance_arn", CONTAINER),
            ("__meta_ecs_ec2_instance_id", "i-0123"),
            ("__meta_ecs_ec2_instance_type", "t3.medium"),
            ("__meta_ecs_ec2_instance_private_ip", "10.0.2.50"),
            ("__meta_ecs_ec2_instance_public_ip", "54.1.2.3"),
            ("__meta_ecs_public_ip", "54.1.2.3"),
            ("__meta_ecs_tag_ec2_Name", "ecs-host"),
        ]),
        // A standalone task: no service labels.
        Labels::from_pairs(cluster.iter().copied().chain([
            ("__address__", "10.0.3.7:9100"),
            ("__meta_ecs_task_arn", "t-standalone"),
            ("__meta_ecs_task_group", "family:batch"),
            (
                "__meta_ecs_task_definition",
                "arn:aws:ecs:us-west-2:123456789012:task-definition/batch:3",
            ),
            ("__meta_ecs_ip_address", "10.0.3.7"),
            ("__meta_ecs_launch_type", "FARGATE"),
            ("__meta_ecs_availability_zone", "us-west-2c"),
            ("__meta_ecs_health_status", "UNKNOWN"),
            ("__meta_ecs_network_mode", "awsvpc"),
            ("__meta_ecs_tag_task_Role", "batch"),
        ])),
    ];
    assert_eq!(groups[0].targets, expected);

    let ops: Vec<String> = api
        .seen()
        .iter()
        .map(|s| match s.headers.get("x-amz-target") {
            Some(t) => t
                .to_str()
                .unwrap()
                .trim_start_matches(TARGET_PREFIX)
                .to_owned(),
            None => url::form_urlencoded::parse(s.body.as_bytes())
                .find(|(k, _)| k == "Action")
                .unwrap()
                .1
                .into_owned(),
        })
        .collect();
    // The credential check, the cluster listing's two pages, then requests that run
    // side by side.
    assert_eq!(
        ops[..3],
        ["DescribeClusters", "ListClusters", "ListClusters"]
    );
    let mut rest = ops[3..].to_vec();
    rest.sort();
    assert_eq!(
        rest,
        [
            "DescribeClusters",
            "DescribeContainerInstances",
            "DescribeInstances",
            "DescribeNetworkInterfaces",
            "DescribeServices",
            "DescribeTasks",
            "ListServices",
            "ListTasks",
        ]
    );
    let body = |op: &str| -> serde_json::Value {
        let seen = api.seen();
        let s = seen
            .iter()
            .find(|s| {
                s.headers
                    .get("x-amz-target")
                    .is_some_and(|t| t.to_str().unwrap() == format!("{TARGET_PREFIX}{op}"))
            })
            .unwrap();
        serde_json::from_str(&s.body).unwrap()
    };
    // Tasks are listed per cluster (standalone ones too), 100 a page.
    assert_eq!(
        body("ListTasks"),
        serde_json::json!({"cluster": CLUSTER, "maxResults": 100})
    );
    assert_eq!(
        body("ListServices"),
        serde_json::json!({"cluster": CLUSTER, "maxResults": 100})
    );
    assert_eq!(
        body("DescribeTasks")["tasks"],
        serde_json::json!(["t-awsvpc", "t-bridge", "t-none"])
    );
    // The credential check happens once.
    d.refresh().await.unwrap();
    assert_eq!(api.seen().len(), 21);
}

#[tokio::test]
async fn configured_clusters_and_failures() {
    let api = FakeApi::start(mock).await;
    let d = discovery(
        &format!("http://{}", api.addr),
        &format!("    clusters: ['{CLUSTER}']\n    request_concurrency: 1\n"),
    );
    assert_eq!(d.concurrency, 1);
    assert_eq!(d.refresh().await.unwrap()[0].targets.len(), 3);
    assert!(api.seen().iter().all(|s| {
        s.headers
            .get("x-amz-target")
            .is_none_or(|t| t != "AmazonEC2ContainerServiceV20141113.ListClusters")
    }));

    api.set(|_: &Seen| {
        Reply::status(
            400,
            r#"{"__type": "com.amazonaws.ecs#AccessDeniedException", "Message": "not allowed"}"#,
        )
        .header("x-amzn-RequestId", "req-1")
    });
    let fresh = discovery(&format!("http://{}", api.addr), "");
    assert_eq!(
        fresh.refresh().await.unwrap_err(),
        "ECS credential test failed: operation error ECS: DescribeClusters, https response error StatusCode: 400, RequestID: req-1, api error AccessDeniedException: not allowed"
    );
}
