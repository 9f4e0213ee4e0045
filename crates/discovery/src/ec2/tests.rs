//! Tests of ec2_sd against a fake EC2 query API on loopback (`endpoint`), with instances
//! shaped as the cases of upstream's `discovery/aws/ec2_test.go`: signed requests, filters,
//! `NextToken` pages, availability-zone ids, IPv6-only instances and API errors.

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const AZS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeAvailabilityZonesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>e23c5a54-a29c-43ee-8b55-0c13c26e9e01</requestId>
  <availabilityZoneInfo>
    <item><zoneName>us-east-1a</zoneName><zoneId>use1-az1</zoneId><zoneState>available</zoneState></item>
    <item><zoneName>us-east-1b</zoneName><zoneId>use1-az2</zoneId><zoneState>available</zoneState></item>
  </availabilityZoneInfo>
</DescribeAvailabilityZonesResponse>"#;

const PAGE_1: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>8f7724cf-496f-496e-8fe3-example</requestId>
  <reservationSet>
    <item>
      <reservationId>r-1234567890abcdef0</reservationId>
      <ownerId>123456789012</ownerId>
      <instancesSet>
        <item>
          <instanceId>instance-id-02</instanceId>
          <imageId>ami-1</imageId>
          <instanceState><code>16</code><name>running</name></instanceState>
          <privateDnsName>private-dns</privateDnsName>
          <dnsName>public-dns</dnsName>
          <instanceType>t3a.medium</instanceType>
          <placement><availabilityZone>us-east-1a</availabilityZone><tenancy>default</tenancy></placement>
          <platform>windows</platform>
          <subnetId>azid-1</subnetId>
          <vpcId>vpc-id-1</vpcId>
          <privateIpAddress>10.0.0.2</privateIpAddress>
          <ipAddress>1.1.1.2</ipAddress>
          <architecture>x86_64</architecture>
          <instanceLifecycle>spot</instanceLifecycle>
          <tagSet>
            <item><key>Name</key><value>server-2</value></item>
            <item><key>k8s.io/role</key><value>worker</value></item>
          </tagSet>
          <networkInterfaceSet>
            <item>
              <subnetId>azid-1</subnetId>
              <attachment><deviceIndex>0</deviceIndex></attachment>
              <ipv6AddressesSet>
                <item><ipv6Address>2001:db8:1::1</ipv6Address><isPrimaryIpv6>true</isPrimaryIpv6></item>
                <item><ipv6Address>2001:db8:1::2</ipv6Address></item>
              </ipv6AddressesSet>
            </item>
            <item>
              <subnetId>azid-2</subnetId>
              <attachment><deviceIndex>2</deviceIndex></attachment>
              <ipv6AddressesSet>
                <item><ipv6Address>2001:db8:2::1</ipv6Address><isPrimaryIpv6>true</isPrimaryIpv6></item>
              </ipv6AddressesSet>
            </item>
            <item>
              <subnetId>azid-1</subnetId>
              <attachment><deviceIndex>1</deviceIndex></attachment>
            </item>
          </networkInterfaceSet>
        </item>
        <item>
          <instanceId>instance-id-no-ip</instanceId>
          <imageId>ami-1</imageId>
          <instanceState><code>48</code><name>terminated</name></instanceState>
          <instanceType>t3a.medium</instanceType>
          <placement><availabilityZone>us-east-1a</availabilityZone></placement>
        </item>
      </instancesSet>
    </item>
  </reservationSet>
  <nextToken>page 2/token</nextToken>
</DescribeInstancesResponse>"#;

const PAGE_2: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <reservationSet>
    <item>
      <reservationId>r-2</reservationId>
      <ownerId>123456789012</ownerId>
      <instancesSet>
        <item>
          <instanceId>instance-id-ipv6-only</instanceId>
          <imageId>ami-2</imageId>
          <instanceState><code>16</code><name>running</name></instanceState>
          <instanceType>t4g.nano</instanceType>
          <placement><availabilityZone>us-east-1c</availabilityZone></placement>
          <subnetId>azid-3</subnetId>
          <vpcId>vpc-id-2</vpcId>
          <architecture>arm64</architecture>
          <networkInterfaceSet>
            <item>
              <subnetId>azid-3</subnetId>
              <attachment><deviceIndex>0</deviceIndex></attachment>
              <ipv6AddressesSet>
                <item><ipv6Address>2001:db8:3::7</ipv6Address><isPrimaryIpv6>false</isPrimaryIpv6></item>
              </ipv6AddressesSet>
            </item>
          </networkInterfaceSet>
        </item>
        <item>
          <instanceId>instance-id-classic</instanceId>
          <privateIpAddress>10.0.0.9</privateIpAddress>
          <instanceType>m1.small</instanceType>
        </item>
      </instancesSet>
    </item>
  </reservationSet>
</DescribeInstancesResponse>"#;

/// The form fields of a query request.
fn form(seen: &Seen) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(seen.body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn mock(seen: &Seen) -> Reply {
    let auth = seen
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
        || !auth.contains("/us-east-1/ec2/aws4_request")
    {
        return Reply::status(
            401,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the provided access credentials</Message></Error></Errors><RequestID>req-1</RequestID></Response>",
        );
    }
    let f = form(seen);
    match (f.get("Action").map(String::as_str), f.get("NextToken")) {
        (Some("DescribeAvailabilityZones"), _) => Reply::json(AZS),
        (Some("DescribeInstances"), None) => Reply::json(PAGE_1),
        (Some("DescribeInstances"), Some(t)) if t == "page 2/token" => Reply::json(PAGE_2),
        _ => Reply::status(400, "bad request"),
    }
}

fn discovery(url: &str, key: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  ec2_sd_configs:\n  - region: us-east-1\n    endpoint: {url}\n    access_key: {key}\n    secret_key: SECRET\n    port: 9100\n    filters:\n    - name: tag:env\n      values: [prod, staging]\n    - name: instance-state-name\n      values: [running]\n"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Ec2(c) => Discovery::new(c).unwrap(),
        other => panic!("{other:?}"),
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

#[tokio::test]
async fn instances_over_pages_with_filters_and_zone_ids() {
    let api = FakeApi::start(mock).await;
    let d = discovery(&format!("http://{}", api.addr), "AKIDTEST");
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "us-east-1");
    let expected = vec![
        labels(&[
            ("__address__", "10.0.0.2:9100"),
            ("__meta_ec2_region", "us-east-1"),
            ("__meta_ec2_instance_id", "instance-id-02"),
            ("__meta_ec2_owner_id", "123456789012"),
            ("__meta_ec2_default_ipv6_address", "2001:db8:1::1"),
            ("__meta_ec2_private_ip", "10.0.0.2"),
            ("__meta_ec2_private_dns_name", "private-dns"),
            ("__meta_ec2_platform", "windows"),
            ("__meta_ec2_public_ip", "1.1.1.2"),
            ("__meta_ec2_public_dns_name", "public-dns"),
            (
                "__meta_ec2_primary_ipv6_addresses",
                ",2001:db8:1::1,,2001:db8:2::1,",
            ),
            (
                "__meta_ec2_ipv6_addresses",
                ",2001:db8:1::1,2001:db8:1::2,2001:db8:2::1,",
            ),
            ("__meta_ec2_ami", "ami-1"),
            ("__meta_ec2_availability_zone", "us-east-1a"),
            ("__meta_ec2_availability_zone_id", "use1-az1"),
            ("__meta_ec2_instance_state", "running"),
            ("__meta_ec2_instance_type", "t3a.medium"),
            ("__meta_ec2_instance_lifecycle", "spot"),
            ("__meta_ec2_architecture", "x86_64"),
            ("__meta_ec2_vpc_id", "vpc-id-1"),
            ("__meta_ec2_primary_subnet_id", "azid-1"),
            ("__meta_ec2_subnet_id", ",azid-1,azid-2,"),
            ("__meta_ec2_tag_Name", "server-2"),
            ("__meta_ec2_tag_k8s_io_role", "worker"),
        ]),
        labels(&[
            ("__address__", "[2001:db8:3::7]:9100"),
            ("__meta_ec2_region", "us-east-1"),
            ("__meta_ec2_instance_id", "instance-id-ipv6-only"),
            ("__meta_ec2_owner_id", "123456789012"),
            ("__meta_ec2_default_ipv6_address", "2001:db8:3::7"),
            ("__meta_ec2_ipv6_addresses", ",2001:db8:3::7,"),
            ("__meta_ec2_ami", "ami-2"),
            ("__meta_ec2_availability_zone", "us-east-1c"),
            ("__meta_ec2_availability_zone_id", ""),
            ("__meta_ec2_instance_state", "running"),
            ("__meta_ec2_instance_type", "t4g.nano"),
            ("__meta_ec2_architecture", "arm64"),
            ("__meta_ec2_vpc_id", "vpc-id-2"),
            ("__meta_ec2_primary_subnet_id", "azid-3"),
            ("__meta_ec2_subnet_id", ",azid-3,"),
        ]),
        labels(&[
            ("__address__", "10.0.0.9:9100"),
            ("__meta_ec2_region", "us-east-1"),
            ("__meta_ec2_instance_id", "instance-id-classic"),
            ("__meta_ec2_owner_id", "123456789012"),
            ("__meta_ec2_private_ip", "10.0.0.9"),
            ("__meta_ec2_instance_type", "m1.small"),
        ]),
    ];
    assert_eq!(groups[0].targets, expected);

    let seen = api.seen();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter()
            .all(|s| s.method == http::Method::POST && s.uri == "/")
    );
    assert!(seen[0].headers.contains_key("x-amz-date"));
    let first = form(&seen[1]);
    let want: BTreeMap<String, String> = [
        ("Action", "DescribeInstances"),
        ("Version", "2016-11-15"),
        ("Filter.1.Name", "tag:env"),
        ("Filter.1.Value.1", "prod"),
        ("Filter.1.Value.2", "staging"),
        ("Filter.2.Name", "instance-state-name"),
        ("Filter.2.Value.1", "running"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(first, want);
    assert_eq!(form(&seen[2])["NextToken"], "page 2/token");

    // The zone ids are known now: the next refresh does not ask again.
    d.refresh().await.unwrap();
    let actions: Vec<String> = api.seen()[3..]
        .iter()
        .map(|s| form(s)["Action"].clone())
        .collect();
    assert_eq!(actions, ["DescribeInstances", "DescribeInstances"]);
}

#[tokio::test]
async fn api_errors_are_worded_as_the_sdk_does() {
    let api = FakeApi::start(mock).await;
    let d = discovery(&format!("http://{}", api.addr), "WRONG");
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "could not describe instances: operation error EC2: DescribeInstances, https response error StatusCode: 401, RequestID: req-1, api error AuthFailure: AWS was not able to validate the provided access credentials"
    );
    // The failed zone lookup is retried at the next refresh.
    let _ = d.refresh().await;
    let actions: Vec<String> = api
        .seen()
        .iter()
        .map(|s| form(s)["Action"].clone())
        .collect();
    assert_eq!(
        actions,
        [
            "DescribeAvailabilityZones",
            "DescribeInstances",
            "DescribeAvailabilityZones",
            "DescribeInstances"
        ]
    );
}

#[test]
fn endpoints_and_config_errors() {
    assert_eq!(
        default_endpoint("ec2", "eu-west-1"),
        "https://ec2.eu-west-1.amazonaws.com"
    );
    assert_eq!(
        default_endpoint("ec2", "cn-north-1"),
        "https://ec2.cn-north-1.amazonaws.com.cn"
    );
    let e = config::Config::load_str(
        "scrape_configs:\n- job_name: j\n  ec2_sd_configs:\n  - region: us-east-1\n    filters: [{name: a, values: []}]\n",
        "",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("EC2 SD configuration filter values cannot be empty"),
        "{e}"
    );
}

#[tokio::test]
async fn aws_sd_role_ec2_runs_through_the_manager() {
    let api = FakeApi::start(mock).await;
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: aws\n  aws_sd_configs:\n  - role: ec2\n    region: us-east-1\n    endpoint: http://{}\n    access_key: AKIDTEST\n    secret_key: SECRET\n",
            api.addr
        ),
        "",
    )
    .unwrap();
    let m = crate::Manager::new(crate::Options {
        update_interval: Duration::from_millis(10),
        ..Default::default()
    });
    let mut rx = m.subscribe();
    m.apply_config(&cfg).unwrap();
    let runner = m.clone();
    let task = tokio::spawn(async move { runner.run().await });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let addrs = loop {
        let addrs: Vec<String> = rx
            .borrow()
            .get("aws")
            .into_iter()
            .flatten()
            .flat_map(|g| g.targets.iter())
            .map(|t| t.get("__address__").unwrap_or_default().to_owned())
            .collect();
        if !addrs.is_empty() {
            break addrs;
        }
        assert!(tokio::time::Instant::now() < deadline, "no aws targets");
        let _ = tokio::time::timeout(Duration::from_secs(1), rx.changed()).await;
    };
    assert_eq!(addrs, ["10.0.0.2:80", "[2001:db8:3::7]:80", "10.0.0.9:80"]);
    m.stop();
    task.await.unwrap();
}

#[tokio::test]
async fn role_arn_and_external_id_reach_the_signer() {
    let cfg = config::Config::load_str(
        "scrape_configs:\n- job_name: j\n  aws_sd_configs:\n  - role: ecs\n    region: eu-west-1\n    access_key: AKID\n    secret_key: SECRET\n    role_arn: arn:aws:iam::123456789012:role/prom\n    external_id: ext-42\n",
        "",
    )
    .unwrap();
    let config::ServiceDiscoveryConfig::Aws(c) =
        &cfg.scrape_configs[0].service_discovery_configs.0[0]
    else {
        panic!("not an aws block");
    };
    let s = sigv4_config(c, "eu-west-1", "ecs");
    assert_eq!(s.role_arn, "arn:aws:iam::123456789012:role/prom");
    assert_eq!(s.external_id, "ext-42");
    assert_eq!(s.service_name, "ecs");
    assert_eq!(s.region, "eu-west-1");
    assert_eq!(s.access_key, "AKID");
    // The signer takes it (STS is only asked when a request is signed).
    let clients = crate::aws::LazyClients::new(c, "ECS", &["ecs", "ec2"]);
    let made = clients.get().await.unwrap();
    assert_eq!(made.region, "eu-west-1");
    assert_eq!(made.endpoint, "https://ecs.eu-west-1.amazonaws.com");
    assert_eq!(made.signing.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_region_comes_from_the_environment_or_the_instance_metadata_service() {
    let imds = FakeApi::start(|s: &Seen| match (s.method.as_str(), s.uri.as_str()) {
        ("PUT", "/latest/api/token") => Reply::status(200, "tok"),
        ("GET", "/latest/meta-data/placement/region")
            if s.headers
                .get("x-aws-ec2-metadata-token")
                .is_some_and(|t| t == "tok") =>
        {
            Reply::status(200, "eu-central-2")
        }
        _ => Reply::status(404, ""),
    })
    .await;
    let cfg = config::Config::load_str(
        "scrape_configs:\n- job_name: j\n  ec2_sd_configs:\n  - access_key: AKID\n    secret_key: SECRET\n",
        "",
    )
    .unwrap();
    let config::ServiceDiscoveryConfig::Ec2(c) =
        &cfg.scrape_configs[0].service_discovery_configs.0[0]
    else {
        panic!("not an ec2 block");
    };
    assert!(c.region.is_empty(), "the region is not looked up at load");
    let endpoint = format!("http://{}", imds.addr);
    let env = |extra: &'static [(&'static str, &'static str)]| {
        let endpoint = endpoint.clone();
        move |name: &str| match name {
            "HOME" => Some("/nonexistent".to_owned()),
            "AWS_EC2_METADATA_SERVICE_ENDPOINT" => Some(endpoint.clone()),
            _ => extra
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned()),
        }
    };
    assert_eq!(
        region(c, &env(&[("AWS_REGION", "ca-central-1")])).unwrap(),
        "ca-central-1"
    );
    assert!(imds.seen().is_empty());
    assert_eq!(region(c, &env(&[])).unwrap(), "eu-central-2");
    let err = region(c, &env(&[("AWS_EC2_METADATA_DISABLED", "true")])).unwrap_err();
    assert!(
        err.starts_with("could not determine AWS region: failed to get region from IMDS: operation error ec2imds: GetRegion, access disabled to EC2 IMDS"),
        "{err}"
    );
    // A configured region is used as it is.
    let mut with_region = c.clone();
    with_region.region = "us-east-1".into();
    assert_eq!(region(&with_region, &env(&[])).unwrap(), "us-east-1");
}
