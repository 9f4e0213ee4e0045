//! Tests of eureka_sd against a fake Eureka server serving the payloads of upstream's
//! `discovery/eureka/eureka_test.go`.

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

/// upstream's TestEurekaSDSendGroup document.
const APPS_XML: &str = r#"<applications>
  <versions__delta>1</versions__delta>
  <apps__hashcode>UP_4_</apps__hashcode>
  <application>
    <name>CONFIG-SERVICE</name>
    <instance>
      <instanceId>config-service001.test.com:config-service:8080</instanceId>
      <hostName>config-service001.test.com</hostName>
      <app>CONFIG-SERVICE</app>
      <ipAddr>192.133.83.31</ipAddr>
      <status>UP</status>
      <overriddenstatus>UNKNOWN</overriddenstatus>
      <port enabled="true">8080</port>
      <securePort enabled="false">8080</securePort>
      <countryId>1</countryId>
      <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo">
        <name>MyOwn</name>
      </dataCenterInfo>
      <leaseInfo>
        <renewalIntervalInSecs>30</renewalIntervalInSecs>
        <durationInSecs>90</durationInSecs>
        <registrationTimestamp>1596003469304</registrationTimestamp>
        <lastRenewalTimestamp>1596110179310</lastRenewalTimestamp>
        <evictionTimestamp>0</evictionTimestamp>
        <serviceUpTimestamp>1547190033103</serviceUpTimestamp>
      </leaseInfo>
      <metadata>
        <instanceId>config-service001.test.com:config-service:8080</instanceId>
      </metadata>
      <homePageUrl>http://config-service001.test.com:8080/</homePageUrl>
      <statusPageUrl>http://config-service001.test.com:8080/info</statusPageUrl>
      <healthCheckUrl>http://config-service001.test.com 8080/health</healthCheckUrl>
      <vipAddress>config-service</vipAddress>
      <isCoordinatingDiscoveryServer>false</isCoordinatingDiscoveryServer>
      <lastUpdatedTimestamp>1596003469304</lastUpdatedTimestamp>
      <lastDirtyTimestamp>1596003469304</lastDirtyTimestamp>
      <actionType>ADDED</actionType>
    </instance>
    <instance>
      <instanceId>config-service002.test.com:config-service:8080</instanceId>
      <hostName>config-service002.test.com</hostName>
      <app>CONFIG-SERVICE</app>
      <ipAddr>192.133.83.31</ipAddr>
      <status>UP</status>
      <overriddenstatus>UNKNOWN</overriddenstatus>
      <port enabled="true">8080</port>
      <securePort enabled="false">8080</securePort>
      <countryId>1</countryId>
      <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo">
        <name>MyOwn</name>
      </dataCenterInfo>
      <leaseInfo>
        <renewalIntervalInSecs>30</renewalIntervalInSecs>
        <durationInSecs>90</durationInSecs>
        <registrationTimestamp>1596003469304</registrationTimestamp>
        <lastRenewalTimestamp>1596110179310</lastRenewalTimestamp>
        <evictionTimestamp>0</evictionTimestamp>
        <serviceUpTimestamp>1547190033103</serviceUpTimestamp>
      </leaseInfo>
      <metadata>
        <instanceId>config-service002.test.com:config-service:8080</instanceId>
      </metadata>
      <homePageUrl>http://config-service002.test.com:8080/</homePageUrl>
      <statusPageUrl>http://config-service002.test.com:8080/info</statusPageUrl>
      <healthCheckUrl>http://config-service002.test.com:8080/health</healthCheckUrl>
      <vipAddress>config-service</vipAddress>
      <isCoordinatingDiscoveryServer>false</isCoordinatingDiscoveryServer>
      <lastUpdatedTimestamp>1596003469304</lastUpdatedTimestamp>
      <lastDirtyTimestamp>1596003469304</lastDirtyTimestamp>
      <actionType>ADDED</actionType>
    </instance>
  </application>
  <application>
    <name>META-SERVICE</name>
    <instance>
      <instanceId>meta-service002.test.com:meta-service:8080</instanceId>
      <hostName>meta-service002.test.com</hostName>
      <app>META-SERVICE</app>
      <ipAddr>192.133.87.237</ipAddr>
      <status>UP</status>
      <overriddenstatus>UNKNOWN</overriddenstatus>
      <port enabled="true">8080</port>
      <securePort enabled="false">443</securePort>
      <countryId>1</countryId>
      <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo">
        <name>MyOwn</name>
      </dataCenterInfo>
      <leaseInfo>
        <renewalIntervalInSecs>30</renewalIntervalInSecs>
        <durationInSecs>90</durationInSecs>
        <registrationTimestamp>1535444352472</registrationTimestamp>
        <lastRenewalTimestamp>1596110168846</lastRenewalTimestamp>
        <evictionTimestamp>0</evictionTimestamp>
        <serviceUpTimestamp>1535444352472</serviceUpTimestamp>
      </leaseInfo>
      <metadata>
        <project>meta-service</project>
        <management.port>8090</management.port>
      </metadata>
      <homePageUrl>http://meta-service002.test.com:8080/</homePageUrl>
      <statusPageUrl>http://meta-service002.test.com:8080/info</statusPageUrl>
      <healthCheckUrl>http://meta-service002.test.com:8080/health</healthCheckUrl>
      <vipAddress>meta-service</vipAddress>
      <secureVipAddress>meta-service</secureVipAddress>
      <isCoordinatingDiscoveryServer>false</isCoordinatingDiscoveryServer>
      <lastUpdatedTimestamp>1535444352472</lastUpdatedTimestamp>
      <lastDirtyTimestamp>1535444352398</lastDirtyTimestamp>
      <actionType>ADDED</actionType>
    </instance>
    <instance>
      <instanceId>meta-service001.test.com:meta-service:8080</instanceId>
      <hostName>meta-service001.test.com</hostName>
      <app>META-SERVICE</app>
      <ipAddr>192.133.87.236</ipAddr>
      <status>UP</status>
      <overriddenstatus>UNKNOWN</overriddenstatus>
      <port enabled="true">8080</port>
      <securePort enabled="false">443</securePort>
      <countryId>1</countryId>
      <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo">
        <name>MyOwn</name>
      </dataCenterInfo>
      <leaseInfo>
        <renewalIntervalInSecs>30</renewalIntervalInSecs>
        <durationInSecs>90</durationInSecs>
        <registrationTimestamp>1535444352472</registrationTimestamp>
        <lastRenewalTimestamp>1596110168846</lastRenewalTimestamp>
        <evictionTimestamp>0</evictionTimestamp>
        <serviceUpTimestamp>1535444352472</serviceUpTimestamp>
      </leaseInfo>
      <metadata>
        <project>meta-service</project>
        <management.port>8090</management.port>
      </metadata>
      <homePageUrl>http://meta-service001.test.com:8080/</homePageUrl>
      <statusPageUrl>http://meta-service001.test.com:8080/info</statusPageUrl>
      <healthCheckUrl>http://meta-service001.test.com:8080/health</healthCheckUrl>
      <vipAddress>meta-service</vipAddress>
      <secureVipAddress>meta-service</secureVipAddress>
      <isCoordinatingDiscoveryServer>false</isCoordinatingDiscoveryServer>
      <lastUpdatedTimestamp>1535444352472</lastUpdatedTimestamp>
      <lastDirtyTimestamp>1535444352398</lastDirtyTimestamp>
      <actionType>ADDED</actionType>
    </instance>
  </application>
</applications>"#;

fn discovery(server: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!("scrape_configs:\n- job_name: j\n  eureka_sd_configs:\n  - server: '{server}'\n"),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Eureka(c) => Discovery::new(c).unwrap(),
        other => panic!("{other:?}"),
    }
}

fn xml(body: &'static str) -> impl Fn(&Seen) -> Reply {
    move |_: &Seen| Reply::json(body).header("Content-Type", "application/xml")
}

#[tokio::test]
async fn non_2xx_answers_are_upstreams_error() {
    // Upstream's TestEurekaSDHandleError.
    let api = FakeApi::start(|_: &Seen| Reply::status(500, "")).await;
    let d = discovery(&format!("http://{}", api.addr));
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "non 2xx status '500' response during eureka service discovery"
    );
}

#[tokio::test]
async fn an_empty_list_is_one_empty_group() {
    // Upstream's TestEurekaSDEmptyList.
    let api = FakeApi::start(xml(
        "<applications>\n<versions__delta>1</versions__delta>\n<apps__hashcode/>\n</applications>",
    ))
    .await;
    let d = discovery(&format!("http://{}", api.addr));
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "eureka");
    assert!(groups[0].targets.is_empty());
    let seen = api.seen();
    assert_eq!(seen[0].uri, "/apps");
    assert!(
        seen[0].headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("Prometheus/")
    );
}

#[tokio::test]
async fn every_instance_is_a_target_with_upstreams_labels() {
    // Upstream's TestEurekaSDSendGroup, with every label of the first and third targets.
    let api = FakeApi::start(xml(APPS_XML)).await;
    let d = discovery(&format!("http://{}", api.addr));
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    let g = &groups[0];
    assert_eq!(g.source, "eureka");
    assert_eq!(g.targets.len(), 4);
    assert_eq!(
        g.targets[0].to_string(),
        concat!(
            r#"{__address__="config-service001.test.com:8080", "#,
            r#"__meta_eureka_app_instance_country_id="1", "#,
            r#"__meta_eureka_app_instance_datacenterinfo_name="MyOwn", "#,
            r#"__meta_eureka_app_instance_healthcheck_url="http://config-service001.test.com 8080/health", "#,
            r#"__meta_eureka_app_instance_homepage_url="http://config-service001.test.com:8080/", "#,
            r#"__meta_eureka_app_instance_hostname="config-service001.test.com", "#,
            r#"__meta_eureka_app_instance_id="config-service001.test.com:config-service:8080", "#,
            r#"__meta_eureka_app_instance_ip_addr="192.133.83.31", "#,
            r#"__meta_eureka_app_instance_metadata_instanceId="config-service001.test.com:config-service:8080", "#,
            r#"__meta_eureka_app_instance_port="8080", "#,
            r#"__meta_eureka_app_instance_port_enabled="true", "#,
            r#"__meta_eureka_app_instance_secure_port="8080", "#,
            r#"__meta_eureka_app_instance_secure_port_enabled="false", "#,
            r#"__meta_eureka_app_instance_secure_vip_address="", "#,
            r#"__meta_eureka_app_instance_status="UP", "#,
            r#"__meta_eureka_app_instance_statuspage_url="http://config-service001.test.com:8080/info", "#,
            r#"__meta_eureka_app_instance_vip_address="config-service", "#,
            r#"__meta_eureka_app_name="CONFIG-SERVICE", "#,
            r#"instance="config-service001.test.com:config-service:8080"}"#
        )
    );
    let t = &g.targets[2];
    assert_eq!(t.get("__address__"), Some("meta-service002.test.com:8080"));
    assert_eq!(
        t.get("__meta_eureka_app_instance_metadata_project"),
        Some("meta-service")
    );
    assert_eq!(
        t.get("__meta_eureka_app_instance_metadata_management_port"),
        Some("8090")
    );
    assert_eq!(
        t.get("__meta_eureka_app_instance_secure_vip_address"),
        Some("meta-service")
    );
    assert_eq!(t.get("__meta_eureka_app_instance_secure_port"), Some("443"));
    assert_eq!(t.get("__meta_eureka_app_name"), Some("META-SERVICE"));
}

#[test]
fn defaults_datacenter_metadata_and_bad_documents() {
    let doc = r#"<applications><application><name>A</name><instance>
        <hostName>h</hostName>
        <dataCenterInfo class="x"><name>Amazon</name>
          <metadata><availability-zone>eu-1a</availability-zone><raw><b>x</b> &amp; y</raw></metadata>
        </dataCenterInfo>
      </instance></application></applications>"#;
    let t = &targets(doc).unwrap()[0];
    // No port: 80, and no port labels.
    assert_eq!(t.get("__address__"), Some("h:80"));
    assert_eq!(t.get("__meta_eureka_app_instance_port"), None);
    assert_eq!(t.get("__meta_eureka_app_instance_country_id"), Some("0"));
    assert_eq!(t.get("instance"), Some(""));
    assert_eq!(
        t.get("__meta_eureka_app_instance_datacenterinfo_name"),
        Some("Amazon")
    );
    assert_eq!(
        t.get("__meta_eureka_app_instance_datacenterinfo_metadata_availability_zone"),
        Some("eu-1a")
    );
    // Go's `,innerxml` keeps the raw markup.
    assert_eq!(
        t.get("__meta_eureka_app_instance_datacenterinfo_metadata_raw"),
        Some("<b>x</b> &amp; y")
    );
    assert!(targets("<applications><application>").is_err());
    let err = targets(
        "<applications><application><instance><port>x</port></instance></application></applications>",
    )
    .unwrap_err();
    assert!(err.contains("strconv.ParseInt"), "{err}");
}
