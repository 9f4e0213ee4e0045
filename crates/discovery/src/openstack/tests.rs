//! Tests of openstack_sd against a fake Keystone, Nova and Neutron on one loopback server,
//! with answers shaped as upstream's `discovery/openstack/mock_test.go` (trimmed): version
//! discovery, password and application-credential tokens, catalog lookup by region and
//! interface, hypervisors, and instances with ports and floating IPs.

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const TOKEN: &str = "cbc36478b0bd8e67e89469c7749d4127";

fn catalog(base: &str) -> String {
    format!(
        r#"{{"token": {{
  "methods": ["password"], "expires_at": "2030-01-01T00:00:00.000000Z",
  "catalog": [
    {{"type": "identity", "name": "keystone", "endpoints": [
      {{"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": "{base}/v3/"}}]}},
    {{"type": "compute", "name": "nova", "endpoints": [
      {{"interface": "admin", "region": "RegionOne", "region_id": "RegionOne", "url": "{base}/wrong/"}},
      {{"interface": "public", "region": "RegionTwo", "region_id": "RegionTwo", "url": "{base}/wrong/"}},
      {{"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": "{base}/compute/v2.1"}}]}},
    {{"type": "network", "name": "neutron", "endpoints": [
      {{"interface": "public", "region_id": "RegionOne", "url": "{base}/network"}}]}},
    {{"type": "load-balancer", "name": "octavia", "endpoints": [
      {{"interface": "public", "region_id": "RegionOne", "url": "{base}/lb/"}}]}}
  ]
}}}}"#
    )
}

const HYPERVISORS: &str = r#"{
  "hypervisors": [
    {"status": "enabled", "service": {"host": "nc14.cloud.com", "id": 16}, "vcpus_used": 18,
     "hypervisor_type": "QEMU", "id": 1, "state": "up", "host_ip": "172.16.70.14",
     "hypervisor_hostname": "nc14.cloud.com"},
    {"status": "enabled", "hypervisor_type": "QEMU", "id": 721, "state": "up",
     "host_ip": "172.16.70.13", "hypervisor_hostname": "cc13.cloud.com"}
  ]
}"#;

const PORTS: &str = r#"{"ports": [
  {"id": "d5597901-48c8-4a69-a041-cfc5be158a04", "device_id": "87caf8ed-d92a-41f6-9dcd-d1399e39899f"},
  {"id": "4a45b012-0478-484d-8cf3-c8abdb194d08", "device_id": "9e5476bd-a4ec-4653-a9d7-ae5c4c9e0fb3"},
  {"id": "unused-port", "device_id": ""}
]}"#;

const FLOATING_IPS: &str = r#"{"floatingips": [
  {"id": "fip-1", "floating_ip_address": "10.10.10.2", "fixed_ip_address": "10.0.0.32",
   "port_id": "d5597901-48c8-4a69-a041-cfc5be158a04"},
  {"id": "fip-2", "floating_ip_address": "10.10.10.4", "fixed_ip_address": "10.0.0.31",
   "port_id": "4a45b012-0478-484d-8cf3-c8abdb194d08"},
  {"id": "fip-unbound", "floating_ip_address": "10.10.10.9", "fixed_ip_address": null, "port_id": null},
  {"id": "fip-lost", "floating_ip_address": "10.10.10.8", "fixed_ip_address": "10.0.0.99", "port_id": "gone"}
]}"#;

const SERVERS_1: &str = r#"{
  "servers": [
    {
      "status": "ACTIVE", "id": "ef079b0c-e610-4dfb-b1aa-b49f07ac48e5", "name": "herp",
      "tenant_id": "fcad67a6189847c4aecfa3c81a05783b", "user_id": "9349aff8be7545ac9d2f1d00999a23cd",
      "flavor": {"id": "1", "links": []},
      "image": {"id": "f90f6034-2570-4974-8351-6b49732ef2eb"},
      "metadata": {},
      "addresses": {"private": [{"version": 4, "addr": "10.0.0.32", "OS-EXT-IPS:type": "fixed"}]}
    },
    {
      "status": "ACTIVE", "id": "9e5476bd-a4ec-4653-a9d7-ae5c4c9e0fb3", "name": "derp",
      "tenant_id": "fcad67a6189847c4aecfa3c81a05783b", "user_id": "9349aff8be7545ac9d2f1d00999a23cd",
      "flavor": {"vcpus": 1, "ram": 512, "disk": 1, "original_name": "m1.tiny"},
      "image": "",
      "metadata": {"env": "prod", "app.name": "web"},
      "addresses": {
        "private": [
          {"version": 4, "addr": "10.0.0.31", "OS-EXT-IPS:type": "fixed"},
          {"version": 4, "addr": "10.10.10.4", "OS-EXT-IPS:type": "floating"}
        ],
        "storage": [{"version": 6, "addr": "fd00::31", "OS-EXT-IPS:type": "fixed"}]
      }
    }
  ],
  "servers_links": [{"rel": "next", "href": "NEXT/servers/detail?marker=9e5476bd"}]
}"#;

const SERVERS_2: &str = r#"{
  "servers": [
    {
      "status": "ACTIVE", "id": "87caf8ed-d92a-41f6-9dcd-d1399e39899f", "name": "merp",
      "tenant_id": "fcad67a6189847c4aecfa3c81a05783b", "user_id": "9349aff8be7545ac9d2f1d00999a23cd",
      "flavor": {"id": "4"},
      "addresses": {"private": [{"version": 4, "addr": "10.0.0.32"}]}
    },
    {"status": "BUILD", "id": "no-address", "name": "nope", "flavor": {"id": "1"}, "addresses": {}},
    {"status": "ACTIVE", "id": "no-flavor", "name": "odd", "flavor": {},
     "addresses": {"private": [{"addr": "10.0.0.50"}]}}
  ]
}"#;

const LOAD_BALANCERS: &str = r#"{"loadbalancers": [
  {"id": "ef079b0c-e610-4dfb-b1aa-b49f07ac48e5", "name": "lb1", "project_id": "fcad67a6189847c4aecfa3c81a05783b",
   "vip_address": "10.0.0.32", "vip_port_id": "d5597901-48c8-4a69-a041-cfc5be158a04",
   "provider": "amphora", "operating_status": "ONLINE", "provisioning_status": "ACTIVE",
   "availability_zone": "az1", "tags": ["tag1", "tag2"]},
  {"id": "d92c471e-8d3e-4b9f-b2b5-9c72a9e3ef54", "name": "lb3", "project_id": "ac57f03dba1a4fdebff3e67201bc7a85",
   "vip_address": "fd00::5", "vip_port_id": "no-fip", "provider": "amphora",
   "operating_status": "OFFLINE", "provisioning_status": "PENDING_UPDATE", "availability_zone": "az3", "tags": []},
  {"id": "no-prometheus-listener", "name": "lb4", "vip_address": "10.0.0.40"},
  {"id": "no-listener", "name": "lb5", "vip_address": "10.0.0.41"}
]}"#;

const LISTENERS: &str = r#"{"listeners": [
  {"id": "l1", "protocol": "HTTP", "protocol_port": 80, "loadbalancers": [{"id": "ef079b0c-e610-4dfb-b1aa-b49f07ac48e5"}]},
  {"id": "l2", "protocol": "PROMETHEUS", "protocol_port": 9273, "loadbalancers": [{"id": "ef079b0c-e610-4dfb-b1aa-b49f07ac48e5"}]},
  {"id": "l3", "protocol": "PROMETHEUS", "protocol_port": 8080, "loadbalancers": [{"id": "d92c471e-8d3e-4b9f-b2b5-9c72a9e3ef54"}]},
  {"id": "l4", "protocol": "TCP", "protocol_port": 22, "loadbalancers": [{"id": "no-prometheus-listener"}]}
]}"#;

fn mock(base: String) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    move |seen: &Seen| {
        let path = seen.uri.split('?').next().unwrap_or_default();
        if path == "/" {
            return Reply::json(format!(
                r#"{{"versions": {{"values": [
                  {{"id": "v2.0", "status": "deprecated", "links": [{{"rel": "self", "href": "{base}/v2.0/"}}]}},
                  {{"id": "v3.14", "status": "stable", "links": [{{"rel": "self", "href": "{base}/v3/"}}]}}
                ]}}}}"#
            ));
        }
        if path == "/v3/auth/tokens" {
            let body: Value = serde_json::from_str(&seen.body).unwrap_or_default();
            let identity = &body["auth"]["identity"];
            let ok = identity["password"]["user"]
                == json!({"name": "test", "password": "test", "domain": {"name": "12345"}})
                || identity["application_credential"]
                    == json!({"id": "app-cred", "secret": "s3cret"});
            if !ok {
                return Reply::status(
                    401,
                    r#"{"error": {"code": 401, "message": "The request you have made requires authentication."}}"#,
                );
            }
            return Reply::json(catalog(&base)).header("X-Subject-Token", TOKEN);
        }
        if seen
            .headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            != Some(TOKEN)
        {
            return Reply::status(401, "no token");
        }
        match seen.uri.as_str() {
            "/compute/v2.1/os-hypervisors/detail" => Reply::json(HYPERVISORS),
            "/network/v2.0/ports" => Reply::json(PORTS),
            "/network/v2.0/floatingips" => Reply::json(FLOATING_IPS),
            "/compute/v2.1/servers/detail?all_tenants=True" => {
                Reply::json(SERVERS_1.replace("NEXT", &format!("{base}/compute/v2.1")))
            }
            "/compute/v2.1/servers/detail?marker=9e5476bd" => Reply::json(SERVERS_2),
            "/lb/v2.0/lbaas/loadbalancers" => Reply::json(LOAD_BALANCERS),
            "/lb/v2.0/lbaas/listeners" => Reply::json(LISTENERS),
            _ => Reply::status(404, "not found"),
        }
    }
}

fn discovery(block: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!("scrape_configs:\n- job_name: j\n  openstack_sd_configs:\n  - {block}\n"),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::OpenStack(c) => Discovery::new(c).unwrap(),
        other => panic!("{other:?}"),
    }
}

async fn server() -> (FakeApi, String) {
    let api = FakeApi::start(|_: &Seen| Reply::status(503, "")).await;
    let base = format!("http://{}", api.addr);
    api.set(mock(base.clone()));
    (api, base)
}

#[tokio::test]
async fn hypervisors_with_password_auth() {
    // Upstream's TestOpenstackSDHypervisorRefresh.
    let (api, base) = server().await;
    let d = discovery(&format!(
        "{{role: hypervisor, region: RegionOne, identity_endpoint: '{base}', username: test, password: test, domain_name: '12345', port: 0}}"
    ));
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "OS_RegionOne");
    let hv = |addr: &str, name: &str, ip: &str| {
        Labels::from_pairs([
            ("__address__", addr),
            ("__meta_openstack_hypervisor_hostname", name),
            ("__meta_openstack_hypervisor_type", "QEMU"),
            ("__meta_openstack_hypervisor_host_ip", ip),
            ("__meta_openstack_hypervisor_state", "up"),
            ("__meta_openstack_hypervisor_status", "enabled"),
        ])
    };
    assert_eq!(
        groups[0].targets,
        [
            hv("172.16.70.14:0", "nc14.cloud.com", "172.16.70.14"),
            hv("172.16.70.13:0", "cc13.cloud.com", "172.16.70.13"),
        ]
    );
    let auth: Value = serde_json::from_str(&api.seen()[1].body).unwrap();
    assert_eq!(
        auth["auth"]["scope"],
        json!({"domain": {"name": "12345"}}),
        "a domain without project scopes the token to the domain"
    );
}

#[tokio::test]
async fn instances_with_floating_ips_over_pages() {
    let (api, base) = server().await;
    let d = discovery(&format!(
        "{{role: instance, region: RegionOne, identity_endpoint: '{base}/v3/', application_credential_id: app-cred, application_credential_secret: s3cret, all_tenants: true}}"
    ));
    let groups = d.refresh().await.unwrap();
    let common = |id: &str, name: &str, flavor: &str| -> Vec<(String, String)> {
        [
            ("__meta_openstack_instance_id", id),
            ("__meta_openstack_instance_status", "ACTIVE"),
            ("__meta_openstack_instance_name", name),
            ("__meta_openstack_instance_flavor", flavor),
            (
                "__meta_openstack_project_id",
                "fcad67a6189847c4aecfa3c81a05783b",
            ),
            (
                "__meta_openstack_user_id",
                "9349aff8be7545ac9d2f1d00999a23cd",
            ),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    };
    let with = |mut base: Vec<(String, String)>, more: &[(&str, &str)]| {
        base.extend(more.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Labels::from_pairs(base)
    };
    let expected = vec![
        with(
            common("ef079b0c-e610-4dfb-b1aa-b49f07ac48e5", "herp", "1"),
            &[
                ("__address__", "10.0.0.32:80"),
                (
                    "__meta_openstack_instance_image",
                    "f90f6034-2570-4974-8351-6b49732ef2eb",
                ),
                ("__meta_openstack_address_pool", "private"),
                ("__meta_openstack_private_ip", "10.0.0.32"),
            ],
        ),
        with(
            common("9e5476bd-a4ec-4653-a9d7-ae5c4c9e0fb3", "derp", "m1.tiny"),
            &[
                ("__address__", "10.0.0.31:80"),
                ("__meta_openstack_tag_env", "prod"),
                ("__meta_openstack_tag_app_name", "web"),
                ("__meta_openstack_address_pool", "private"),
                ("__meta_openstack_private_ip", "10.0.0.31"),
                ("__meta_openstack_public_ip", "10.10.10.4"),
            ],
        ),
        with(
            common("9e5476bd-a4ec-4653-a9d7-ae5c4c9e0fb3", "derp", "m1.tiny"),
            &[
                ("__address__", "[fd00::31]:80"),
                ("__meta_openstack_tag_env", "prod"),
                ("__meta_openstack_tag_app_name", "web"),
                ("__meta_openstack_address_pool", "storage"),
                ("__meta_openstack_private_ip", "fd00::31"),
            ],
        ),
        with(
            common("87caf8ed-d92a-41f6-9dcd-d1399e39899f", "merp", "4"),
            &[
                ("__address__", "10.0.0.32:80"),
                ("__meta_openstack_address_pool", "private"),
                ("__meta_openstack_private_ip", "10.0.0.32"),
                ("__meta_openstack_public_ip", "10.10.10.2"),
            ],
        ),
    ];
    assert_eq!(groups[0].targets, expected);
    // The endpoint names v3: no version discovery.
    assert_eq!(api.seen()[0].uri, "/v3/auth/tokens");
}

#[tokio::test]
async fn auth_errors_and_missing_endpoints() {
    let (_api, base) = server().await;
    let d = discovery(&format!(
        "{{role: hypervisor, region: RegionOne, identity_endpoint: '{base}', username: test, password: wrong, domain_name: '12345'}}"
    ));
    let e = d.refresh().await.unwrap_err();
    assert!(
        e.starts_with("could not authenticate to OpenStack: Expected HTTP response code [201 202] when accessing [POST "),
        "{e}"
    );
    let d = discovery(&format!(
        "{{role: hypervisor, region: RegionThree, identity_endpoint: '{base}', username: test, password: test, domain_name: '12345'}}"
    ));
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "could not create OpenStack compute session: No suitable endpoint could be found in the service catalog."
    );
}

#[test]
fn token_requests_and_config_errors() {
    let o = AuthOptions {
        username: "u".into(),
        password: "p".into(),
        project_name: "proj".into(),
        domain_id: "default".into(),
        ..Default::default()
    };
    assert_eq!(
        o.token_request().unwrap(),
        json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {"name": "u", "password": "p", "domain": {"id": "default"}}}},
            "scope": {"project": {"name": "proj", "domain": {"id": "default"}}}
        }})
    );
    let o = AuthOptions {
        user_id: "uid".into(),
        password: "p".into(),
        project_id: "pid".into(),
        ..Default::default()
    };
    assert_eq!(
        o.token_request().unwrap()["auth"]["scope"],
        json!({"project": {"id": "pid"}})
    );
    for (block, err) in [
        (
            "{region: r}",
            "role missing (one of: instance, hypervisor, loadbalancer)",
        ),
        (
            "{role: instance}",
            "openstack SD configuration requires a region",
        ),
        (
            "{role: nova, region: r}",
            "unknown OpenStack SD role \"nova\"",
        ),
    ] {
        let e = config::Config::load_str(
            &format!("scrape_configs:\n- job_name: j\n  openstack_sd_configs:\n  - {block}\n"),
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(err), "{e}");
    }
}

#[tokio::test]
async fn load_balancers_with_prometheus_listeners() {
    let (_api, base) = server().await;
    let d = discovery(&format!(
        "{{role: loadbalancer, region: RegionOne, identity_endpoint: '{base}/v3', userid: ignored, application_credential_id: app-cred, application_credential_secret: s3cret}}"
    ));
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups[0].source, "OS_RegionOne");
    assert_eq!(
        groups[0].targets,
        [
            Labels::from_pairs([
                ("__address__", "10.0.0.32:9273"),
                (
                    "__meta_openstack_loadbalancer_id",
                    "ef079b0c-e610-4dfb-b1aa-b49f07ac48e5",
                ),
                ("__meta_openstack_loadbalancer_name", "lb1"),
                ("__meta_openstack_loadbalancer_operating_status", "ONLINE"),
                (
                    "__meta_openstack_loadbalancer_provisioning_status",
                    "ACTIVE"
                ),
                ("__meta_openstack_loadbalancer_availability_zone", "az1"),
                ("__meta_openstack_loadbalancer_floating_ip", "10.10.10.2"),
                ("__meta_openstack_loadbalancer_vip", "10.0.0.32"),
                ("__meta_openstack_loadbalancer_provider", "amphora"),
                ("__meta_openstack_loadbalancer_tags", "tag1,tag2"),
                (
                    "__meta_openstack_project_id",
                    "fcad67a6189847c4aecfa3c81a05783b",
                ),
            ]),
            Labels::from_pairs([
                ("__address__", "[fd00::5]:8080"),
                (
                    "__meta_openstack_loadbalancer_id",
                    "d92c471e-8d3e-4b9f-b2b5-9c72a9e3ef54",
                ),
                ("__meta_openstack_loadbalancer_name", "lb3"),
                ("__meta_openstack_loadbalancer_operating_status", "OFFLINE"),
                (
                    "__meta_openstack_loadbalancer_provisioning_status",
                    "PENDING_UPDATE",
                ),
                ("__meta_openstack_loadbalancer_availability_zone", "az3"),
                ("__meta_openstack_loadbalancer_vip", "fd00::5"),
                ("__meta_openstack_loadbalancer_provider", "amphora"),
                (
                    "__meta_openstack_project_id",
                    "ac57f03dba1a4fdebff3e67201bc7a85",
                ),
            ]),
        ]
    );
}
