//! Tests of ElastiCache discovery against a fake ElastiCache query API on 127.0.0.1: a
//! serverless cache and a two-node cache cluster (its list split over two pages), tags,
//! request parameters, ARN-restricted lookups and the SDK's error wording.

use std::collections::BTreeMap;

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const SERVERLESS_ARN: &str = "arn:aws:elasticache:us-east-1:123456789012:serverlesscache:sc-1";
const CLUSTER_ARN: &str = "arn:aws:elasticache:us-east-1:123456789012:cluster:redis-1";

fn form(seen: &Seen) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(seen.body.as_bytes())
        .into_owned()
        .collect()
}

const SERVERLESS_XML: &str = r#"<DescribeServerlessCachesResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/">
  <DescribeServerlessCachesResult>
    <ServerlessCaches>
      <member>
        <ServerlessCacheName>sc-1</ServerlessCacheName>
        <Description>cache</Description>
        <CreateTime>2024-02-01T08:00:00.000Z</CreateTime>
        <Status>available</Status>
        <Engine>valkey</Engine>
        <MajorEngineVersion>8</MajorEngineVersion>
        <FullEngineVersion>8.0</FullEngineVersion>
        <CacheUsageLimits>
          <DataStorage><Maximum>10</Maximum><Unit>GB</Unit></DataStorage>
          <ECPUPerSecond><Minimum>1000</Minimum></ECPUPerSecond>
        </CacheUsageLimits>
        <SecurityGroupIds><SecurityGroupId>sg-1</SecurityGroupId><SecurityGroupId>sg-2</SecurityGroupId></SecurityGroupIds>
        <Endpoint><Address>sc-1.serverless.use1.cache.amazonaws.com</Address><Port>6379</Port></Endpoint>
        <ReaderEndpoint><Address>sc-1-ro.serverless.use1.cache.amazonaws.com</Address><Port>6380</Port></ReaderEndpoint>
        <ARN>arn:aws:elasticache:us-east-1:123456789012:serverlesscache:sc-1</ARN>
        <SubnetIds><member>subnet-1</member></SubnetIds>
        <SnapshotRetentionLimit>1</SnapshotRetentionLimit>
      </member>
    </ServerlessCaches>
  </DescribeServerlessCachesResult>
</DescribeServerlessCachesResponse>"#;

fn clusters_xml(node: &str, marker: &str) -> String {
    format!(
        r#"<DescribeCacheClustersResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/">
  <DescribeCacheClustersResult>
    {marker}
    <CacheClusters>
      <CacheCluster>
        <CacheClusterId>redis-1</CacheClusterId>
        <ARN>{CLUSTER_ARN}</ARN>
        <CacheNodeType>cache.t3.micro</CacheNodeType>
        <Engine>redis</Engine>
        <EngineVersion>7.1</EngineVersion>
        <CacheClusterStatus>available</CacheClusterStatus>
        <NumCacheNodes>1</NumCacheNodes>
        <CacheClusterCreateTime>2024-02-01T09:00:00.5Z</CacheClusterCreateTime>
        <CacheParameterGroup><CacheParameterGroupName>default.redis7</CacheParameterGroupName></CacheParameterGroup>
        <SecurityGroups><member><SecurityGroupId>sg-9</SecurityGroupId><Status>active</Status></member></SecurityGroups>
        <TransitEncryptionEnabled>false</TransitEncryptionEnabled>
        <NetworkType></NetworkType>
        <CacheNodes>
          <CacheNode>
            <CacheNodeId>{node}</CacheNodeId>
            <CacheNodeStatus>available</CacheNodeStatus>
            <Endpoint><Address>redis-1-{node}.use1.cache.amazonaws.com</Address><Port>6379</Port></Endpoint>
            <CustomerAvailabilityZone>us-east-1a</CustomerAvailabilityZone>
          </CacheNode>
        </CacheNodes>
      </CacheCluster>
    </CacheClusters>
  </DescribeCacheClustersResult>
</DescribeCacheClustersResponse>"#
    )
}

fn mock(seen: &Seen) -> Reply {
    if !seen
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("/us-east-1/elasticache/aws4_request"))
    {
        return Reply::status(
            403,
            "<ErrorResponse><Error><Code>Unsigned</Code></Error></ErrorResponse>",
        );
    }
    let f = form(seen);
    match f.get("Action").map(String::as_str) {
        Some("DescribeServerlessCaches") => Reply::status(200, SERVERLESS_XML),
        // The first page of the "not in replication groups" listing has a second page;
        // the other listing is empty.
        Some("DescribeCacheClusters")
            if f.get("ShowCacheClustersNotInReplicationGroups")
                .map(String::as_str)
                == Some("false") =>
        {
            Reply::status(
                200,
                "<DescribeCacheClustersResponse><DescribeCacheClustersResult><CacheClusters/></DescribeCacheClustersResult></DescribeCacheClustersResponse>",
            )
        }
        Some("DescribeCacheClusters") if f.contains_key("Marker") => {
            Reply::status(200, clusters_xml("0002", ""))
        }
        Some("DescribeCacheClusters") => {
            Reply::status(200, clusters_xml("0001", "<Marker>m2</Marker>"))
        }
        Some("ListTagsForResource") => {
            let key = if f["ResourceName"] == SERVERLESS_ARN {
                "app-name"
            } else {
                "env"
            };
            Reply::status(
                200,
                format!(
                    "<ListTagsForResourceResponse><ListTagsForResourceResult><TagList><Tag><Key>{key}</Key><Value>v</Value></Tag></TagList></ListTagsForResourceResult></ListTagsForResourceResponse>"
                ),
            )
        }
        _ => Reply::status(
            400,
            "<ErrorResponse><Error><Code>InvalidAction</Code><Message>no</Message></Error></ErrorResponse>",
        ),
    }
}

fn discovery(url: &str, block: &str, extra: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  {block}\n    region: us-east-1\n    endpoint: {url}\n    access_key: AKID\n    secret_key: SECRET\n{extra}"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Aws(c) | config::ServiceDiscoveryConfig::Elasticache(c) => {
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
        "aws_sd_configs:\n  - role: elasticache",
        "",
    );
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups[0].source, "us-east-1");
    let s = "__meta_elasticache_serverless_cache_";
    let serverless = [
        (
            "__address__",
            "sc-1.serverless.use1.cache.amazonaws.com:6379",
        ),
        ("__meta_elasticache_deployment_option", "serverless"),
        (&format!("{s}arn") as &str, SERVERLESS_ARN),
        (&format!("{s}name"), "sc-1"),
        (&format!("{s}description"), "cache"),
        (&format!("{s}create_time"), "2024-02-01T08:00:00Z"),
        (&format!("{s}status"), "available"),
        (&format!("{s}engine"), "valkey"),
        (&format!("{s}major_engine_version"), "8"),
        (&format!("{s}full_engine_version"), "8.0"),
        (&format!("{s}cache_usage_limit_data_storagemaximum"), "10"),
        (&format!("{s}cache_usage_limit_data_storageunit"), "GB"),
        (
            &format!("{s}cache_usage_limit_ecpu_per_secondminimum"),
            "1000",
        ),
        (&format!("{s}security_group_id_0"), "sg-1"),
        (&format!("{s}security_group_id_1"), "sg-2"),
        (&format!("{s}subnet_id_0"), "subnet-1"),
        (
            &format!("{s}endpoint_address"),
            "sc-1.serverless.use1.cache.amazonaws.com",
        ),
        (&format!("{s}endpoint_port"), "6379"),
        (
            &format!("{s}endpoint_reader_address"),
            "sc-1-ro.serverless.use1.cache.amazonaws.com",
        ),
        (&format!("{s}endpoint_reader_port"), "6380"),
        (&format!("{s}snapshot_retention_limit"), "1"),
        (&format!("{s}tag_app_name"), "v"),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    let c = "__meta_elasticache_cache_cluster_";
    let node = |id: &str| {
        let address = format!("redis-1-{id}.use1.cache.amazonaws.com");
        let pairs: Vec<(String, String)> = [
            ("__address__".to_owned(), format!("{address}:6379")),
            (
                "__meta_elasticache_deployment_option".to_owned(),
                "node".to_owned(),
            ),
            (format!("{c}arn"), CLUSTER_ARN.to_owned()),
            (format!("{c}cache_cluster_id"), "redis-1".to_owned()),
            (format!("{c}cache_node_type"), "cache.t3.micro".to_owned()),
            (format!("{c}engine"), "redis".to_owned()),
            (format!("{c}engine_version"), "7.1".to_owned()),
            (format!("{c}cache_cluster_status"), "available".to_owned()),
            (format!("{c}num_cache_nodes"), "1".to_owned()),
            (
                format!("{c}cache_cluster_create_time"),
                "2024-02-01T09:00:00Z".to_owned(),
            ),
            (
                format!("{c}cache_parameter_group"),
                "default.redis7".to_owned(),
            ),
            (
                format!("{c}security_group_membership_id_0"),
                "sg-9".to_owned(),
            ),
            (
                format!("{c}security_group_membership_status_0"),
                "active".to_owned(),
            ),
            (format!("{c}transit_encryption_enabled"), "false".to_owned()),
            (format!("{c}tag_env"), "v".to_owned()),
            (format!("{c}node_id"), id.to_owned()),
            (format!("{c}node_status"), "available".to_owned()),
            (format!("{c}node_endpoint_address"), address.clone()),
            (format!("{c}node_endpoint_port"), "6379".to_owned()),
            (
                format!("{c}node_availability_zone"),
                "us-east-1a".to_owned(),
            ),
        ]
        .into();
        Labels::from_pairs(pairs)
    };
    assert_eq!(
        groups[0].targets,
        [
            Labels::from_pairs(serverless.iter().map(|(k, v)| (k.as_str(), *v))),
            node("0001"),
            node("0002"),
        ]
    );

    let seen: Vec<BTreeMap<String, String>> = api.seen().iter().map(form).collect();
    let ops: Vec<&str> = seen.iter().map(|f| f["Action"].as_str()).collect();
    assert_eq!(ops[0], "DescribeCacheClusters");
    assert_eq!(seen[0].len(), 2, "the credential check asks for nothing");
    assert!(seen.iter().all(|f| f["Version"] == "2015-02-02"));
    let listings: Vec<&BTreeMap<String, String>> = seen[1..]
        .iter()
        .filter(|f| f["Action"] == "DescribeCacheClusters")
        .collect();
    assert_eq!(listings.len(), 3);
    assert!(
        listings
            .iter()
            .all(|f| f["ShowCacheNodeInfo"] == "true" && f["MaxRecords"] == "100")
    );
    let serverless_asks: Vec<_> = seen
        .iter()
        .filter(|f| f["Action"] == "DescribeServerlessCaches")
        .collect();
    assert_eq!(serverless_asks.len(), 1);
    assert_eq!(serverless_asks[0]["MaxResults"], "50");
    let mut tagged: Vec<&str> = seen
        .iter()
        .filter(|f| f["Action"] == "ListTagsForResource")
        .map(|f| f["ResourceName"].as_str())
        .collect();
    tagged.sort_unstable();
    // One ask per described resource, as upstream (the fake's two pages each hold the
    // cluster).
    assert_eq!(tagged, [CLUSTER_ARN, CLUSTER_ARN, SERVERLESS_ARN]);
}

#[tokio::test]
async fn arns_restrict_the_lookups_and_errors_are_the_sdks() {
    let api = FakeApi::start(mock).await;
    let d = discovery(
        &format!("http://{}", api.addr),
        "elasticache_sd_configs:\n  -",
        &format!(
            "    clusters: ['{SERVERLESS_ARN}', 'arn:aws:elasticache:us-east-1:1:replicationgroup:rg-1', 'bad']\n"
        ),
    );
    d.refresh().await.unwrap();
    let seen: Vec<BTreeMap<String, String>> = api.seen().iter().map(form).collect();
    let named: Vec<&BTreeMap<String, String>> = seen
        .iter()
        .filter(|f| f["Action"] == "DescribeServerlessCaches")
        .collect();
    assert_eq!(named.len(), 1);
    assert_eq!(named[0]["ServerlessCacheName"], "sc-1");
    let by_id: Vec<&BTreeMap<String, String>> = seen
        .iter()
        .filter(|f| f.contains_key("CacheClusterId"))
        .collect();
    assert_eq!(by_id.len(), 2, "asked with and without replication groups");
    assert!(by_id.iter().all(|f| f["CacheClusterId"] == "rg-1"));

    api.set(|_: &Seen| {
        Reply::status(
            403,
            "<ErrorResponse><Error><Code>AccessDenied</Code><Message>not allowed</Message></Error><RequestId>r-2</RequestId></ErrorResponse>",
        )
    });
    let fresh = discovery(
        &format!("http://{}", api.addr),
        "elasticache_sd_configs:\n  -",
        "",
    );
    assert_eq!(
        fresh.refresh().await.unwrap_err(),
        "elasticache credential test failed: operation error ElastiCache: DescribeCacheClusters, https response error StatusCode: 403, RequestID: r-2, api error AccessDenied: not allowed"
    );
}

#[tokio::test]
async fn elasticache_blocks_run_through_the_manager() {
    let api = FakeApi::start(mock).await;
    for block in [
        "aws_sd_configs:\n  - role: elasticache\n   ",
        "elasticache_sd_configs:\n  -",
    ] {
        let cfg = config::Config::load_str(
            &format!(
                "scrape_configs:\n- job_name: j\n  {block} region: us-east-1\n    endpoint: http://{}\n    access_key: AKID\n    secret_key: SECRET\n    refresh_interval: 50ms\n",
                api.addr
            ),
            "",
        )
        .unwrap();
        crate::rds::tests::manager_sends(&cfg, 3).await;
    }
}
