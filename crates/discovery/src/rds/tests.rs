//! Tests of RDS discovery against a fake RDS query API on 127.0.0.1: an Aurora cluster
//! with a writer and a reader (the instances split over two pages), request parameters,
//! configured clusters and filters, and the SDK's error wording.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const CLUSTER_ARN: &str = "arn:aws:rds:us-east-1:123456789012:cluster:aurora-1";

fn form(seen: &Seen) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(seen.body.as_bytes())
        .into_owned()
        .collect()
}

fn clusters_xml() -> String {
    format!(
        r#"<DescribeDBClustersResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">
  <DescribeDBClustersResult>
    <DBClusters>
      <DBCluster>
        <DBClusterArn>{CLUSTER_ARN}</DBClusterArn>
        <DBClusterIdentifier>aurora-1</DBClusterIdentifier>
        <Engine>aurora-mysql</Engine>
        <EngineVersion>8.0.mysql_aurora.3.04.0</EngineVersion>
        <Status>available</Status>
        <Endpoint>aurora-1.cluster-x.us-east-1.rds.amazonaws.com</Endpoint>
        <ReaderEndpoint>aurora-1.cluster-ro-x.us-east-1.rds.amazonaws.com</ReaderEndpoint>
        <Port>3306</Port>
        <MultiAZ>true</MultiAZ>
        <ClusterCreateTime>2024-01-15T10:30:00.123Z</ClusterCreateTime>
        <DBSubnetGroup>default</DBSubnetGroup>
        <ActivityStreamStatus></ActivityStreamStatus>
        <DatabaseName></DatabaseName>
        <DBClusterMembers>
          <DBClusterMember><DBInstanceIdentifier>aurora-1-a</DBInstanceIdentifier><IsClusterWriter>true</IsClusterWriter></DBClusterMember>
          <DBClusterMember><DBInstanceIdentifier>aurora-1-b</DBInstanceIdentifier><IsClusterWriter>false</IsClusterWriter></DBClusterMember>
        </DBClusterMembers>
        <TagList><Tag><Key>team-name</Key><Value>db</Value></Tag></TagList>
      </DBCluster>
    </DBClusters>
  </DescribeDBClustersResult>
</DescribeDBClustersResponse>"#
    )
}

fn instance_xml(id: &str, az: &str, marker: &str) -> String {
    format!(
        r#"<DescribeDBInstancesResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">
  <DescribeDBInstancesResult>
    {marker}
    <DBInstances>
      <DBInstance>
        <DBInstanceArn>arn:aws:rds:us-east-1:123456789012:db:{id}</DBInstanceArn>
        <DBInstanceIdentifier>{id}</DBInstanceIdentifier>
        <DBInstanceClass>db.r6g.large</DBInstanceClass>
        <DBInstanceStatus>available</DBInstanceStatus>
        <DBClusterIdentifier>aurora-1</DBClusterIdentifier>
        <Engine>aurora-mysql</Engine>
        <AvailabilityZone>{az}</AvailabilityZone>
        <PromotionTier>1</PromotionTier>
        <PubliclyAccessible>false</PubliclyAccessible>
        <InstanceCreateTime>2024-01-16T00:00:00Z</InstanceCreateTime>
        <Endpoint><Address>{id}.x.us-east-1.rds.amazonaws.com</Address><Port>3306</Port><HostedZoneId>Z1</HostedZoneId></Endpoint>
        <DBSubnetGroup><DBSubnetGroupName>default</DBSubnetGroupName><VpcId>vpc-1</VpcId></DBSubnetGroup>
        <TagList><Tag><Key>role</Key><Value>{id}</Value></Tag></TagList>
      </DBInstance>
    </DBInstances>
  </DescribeDBInstancesResult>
</DescribeDBInstancesResponse>"#
    )
}

fn mock(seen: &Seen) -> Reply {
    if !seen
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("/us-east-1/rds/aws4_request"))
    {
        return Reply::status(
            403,
            "<ErrorResponse><Error><Code>InvalidClientTokenId</Code><Message>unsigned</Message></Error></ErrorResponse>",
        );
    }
    let f = form(seen);
    match f.get("Action").map(String::as_str) {
        Some("DescribeDBClusters") => Reply::status(200, clusters_xml()),
        Some("DescribeDBInstances") if f.contains_key("Marker") => {
            Reply::status(200, instance_xml("aurora-1-b", "us-east-1b", ""))
        }
        Some("DescribeDBInstances") => Reply::status(
            200,
            instance_xml("aurora-1-a", "us-east-1a", "<Marker>page2</Marker>"),
        ),
        _ => Reply::status(
            400,
            "<ErrorResponse><Error><Code>InvalidAction</Code><Message>no</Message></Error></ErrorResponse>",
        ),
    }
}

fn discovery(url: &str, block: &str, extra: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  {block}\n    region: us-east-1\n    endpoint: {url}\n    access_key: AKID\n    secret_key: SECRET\n    port: 9104\n{extra}"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Aws(c) | config::ServiceDiscoveryConfig::Rds(c) => {
            Discovery::new(c).unwrap()
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn refresh_gives_upstreams_labels() {
    let api = FakeApi::start(mock).await;
    let d = discovery(
        &format!("http://{}", api.addr),
        "aws_sd_configs:\n  - role: rds",
        "",
    );
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "us-east-1");
    let cluster = [
        ("__meta_rds_cluster_arn", CLUSTER_ARN),
        ("__meta_rds_cluster_identifier", "aurora-1"),
        ("__meta_rds_cluster_engine", "aurora-mysql"),
        (
            "__meta_rds_cluster_engine_version",
            "8.0.mysql_aurora.3.04.0",
        ),
        ("__meta_rds_cluster_status", "available"),
        (
            "__meta_rds_cluster_endpoint",
            "aurora-1.cluster-x.us-east-1.rds.amazonaws.com",
        ),
        (
            "__meta_rds_cluster_reader_endpoint",
            "aurora-1.cluster-ro-x.us-east-1.rds.amazonaws.com",
        ),
        ("__meta_rds_cluster_port", "3306"),
        ("__meta_rds_cluster_multi_az", "true"),
        (
            "__meta_rds_cluster_cluster_create_time",
            "2024-01-15T10:30:00Z",
        ),
        ("__meta_rds_cluster_subnet_group", "default"),
        // An empty string is a value; an empty enumeration is not.
        ("__meta_rds_cluster_database_name", ""),
        ("__meta_rds_cluster_tag_team_name", "db"),
    ];
    let instance = |id: &'static str, az: &'static str, writer: &'static str| {
        let mut l: BTreeMap<String, String> = cluster
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let address = format!("{id}.x.us-east-1.rds.amazonaws.com");
        for (k, v) in [
            ("__address__", format!("{address}:9104")),
            (
                "__meta_rds_instance_arn",
                format!("arn:aws:rds:us-east-1:123456789012:db:{id}"),
            ),
            ("__meta_rds_instance_identifier", id.to_owned()),
            ("__meta_rds_instance_is_cluster_writer", writer.to_owned()),
            ("__meta_rds_instance_class", "db.r6g.large".to_owned()),
            ("__meta_rds_instance_status", "available".to_owned()),
            (
                "__meta_rds_instance_db_cluster_identifier",
                "aurora-1".to_owned(),
            ),
            ("__meta_rds_instance_engine", "aurora-mysql".to_owned()),
            ("__meta_rds_instance_availability_zone", az.to_owned()),
            ("__meta_rds_instance_promotion_tier", "1".to_owned()),
            (
                "__meta_rds_instance_publicly_accessible",
                "false".to_owned(),
            ),
            (
                "__meta_rds_instance_instance_create_time",
                "2024-01-16T00:00:00Z".to_owned(),
            ),
            ("__meta_rds_instance_endpoint_address", address.clone()),
            ("__meta_rds_instance_endpoint_port", "3306".to_owned()),
            (
                "__meta_rds_instance_endpoint_hosted_zone_id",
                "Z1".to_owned(),
            ),
            ("__meta_rds_instance_subnet_group", "default".to_owned()),
            ("__meta_rds_instance_tag_role", id.to_owned()),
        ] {
            l.insert(k.to_owned(), v);
        }
        Labels::from_pairs(l)
    };
    assert_eq!(
        groups[0].targets,
        [
            instance("aurora-1-a", "us-east-1a", "true"),
            instance("aurora-1-b", "us-east-1b", "false"),
        ]
    );
    assert!(
        groups[0].targets[0]
            .get("__meta_rds_cluster_activity_stream_status")
            .is_none()
    );

    let seen: Vec<BTreeMap<String, String>> = api.seen().iter().map(form).collect();
    let actions: Vec<&str> = seen.iter().map(|f| f["Action"].as_str()).collect();
    assert_eq!(
        actions,
        [
            "DescribeDBClusters",
            "DescribeDBClusters",
            "DescribeDBInstances",
            "DescribeDBInstances"
        ]
    );
    assert!(seen.iter().all(|f| f["Version"] == "2014-10-31"));
    // The credential check asks for nothing; the listing pages by 100.
    assert!(!seen[0].contains_key("MaxRecords"));
    assert_eq!(seen[1]["MaxRecords"], "100");
    assert_eq!(seen[2]["Filters.Filter.1.Name"], "db-cluster-id");
    assert_eq!(seen[2]["Filters.Filter.1.Values.Value.1"], CLUSTER_ARN);
    assert!(!seen[2].contains_key("Marker"));
    assert_eq!(seen[3]["Marker"], "page2");

    // The credential check happens once.
    d.refresh().await.unwrap();
    assert_eq!(api.seen().len(), 7);
}

#[tokio::test]
async fn configured_clusters_filters_and_errors() {
    let api = FakeApi::start(mock).await;
    let d = discovery(
        &format!("http://{}", api.addr),
        "rds_sd_configs:\n  -",
        "    clusters: [aurora-1]\n    request_concurrency: 1\n    filters: [{name: engine, values: [aurora-mysql, aurora-postgresql]}]\n",
    );
    assert_eq!(d.concurrency, 1);
    assert_eq!(d.refresh().await.unwrap()[0].targets.len(), 2);
    let seen: Vec<BTreeMap<String, String>> = api.seen().iter().map(form).collect();
    assert_eq!(seen[1]["DBClusterIdentifier"], "aurora-1");
    assert_eq!(seen[2]["Filters.Filter.2.Name"], "engine");
    assert_eq!(
        seen[2]["Filters.Filter.2.Values.Value.2"],
        "aurora-postgresql"
    );

    api.set(|_: &Seen| {
        Reply::status(
            403,
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not allowed</Message></Error><RequestId>req-9</RequestId></ErrorResponse>",
        )
    });
    let fresh = discovery(
        &format!("http://{}", api.addr),
        "aws_sd_configs:\n  - role: rds",
        "",
    );
    assert_eq!(
        fresh.refresh().await.unwrap_err(),
        "RDS credential test failed: operation error RDS: DescribeDBClusters, https response error StatusCode: 403, RequestID: req-9, api error AccessDenied: not allowed"
    );

    // A configured cluster that does not exist fails the refresh.
    api.set(|s: &Seen| {
        if form(s).contains_key("DBClusterIdentifier") {
            Reply::status(
                200,
                "<DescribeDBClustersResponse><DescribeDBClustersResult><DBClusters/></DescribeDBClustersResult></DescribeDBClustersResponse>",
            )
        } else {
            mock(s)
        }
    });
    let missing = discovery(
        &format!("http://{}", api.addr),
        "rds_sd_configs:\n  -",
        "    clusters: [gone]\n",
    );
    assert_eq!(
        missing.refresh().await.unwrap_err(),
        "error describing DB clusters: no DB cluster found for ARN gone"
    );
}

/// Waits until the manager, running `cfg`, sends job `j` with `want` targets.
pub(crate) async fn manager_sends(cfg: &config::Config, want: usize) {
    let m = crate::Manager::new(crate::Options {
        update_interval: Duration::from_millis(20),
        ..Default::default()
    });
    let mut rx = m.subscribe();
    m.apply_config(cfg).unwrap();
    let runner = m.clone();
    let task = tokio::spawn(async move { runner.run().await });
    loop {
        rx.changed().await.unwrap();
        let n = rx
            .borrow()
            .get("j")
            .map_or(0, |g| g.iter().map(|g| g.targets.len()).sum::<usize>());
        if n == want {
            break;
        }
    }
    m.stop();
    task.await.unwrap();
}

#[tokio::test]
async fn aws_sd_role_rds_and_rds_sd_configs_run_through_the_manager() {
    let api = FakeApi::start(mock).await;
    for block in [
        "aws_sd_configs:\n  - role: rds\n   ",
        "rds_sd_configs:\n  -",
    ] {
        let cfg = config::Config::load_str(
            &format!(
                "scrape_configs:\n- job_name: j\n  {block} region: us-east-1\n    endpoint: http://{}\n    access_key: AKID\n    secret_key: SECRET\n    refresh_interval: 50ms\n",
                api.addr
            ),
            "",
        )
        .unwrap();
        manager_sends(&cfg, 2).await;
    }
}
