//! Tests of consul_sd against a fake Consul agent serving the payloads of upstream's
//! `discovery/consul/consul_test.go`.

use std::sync::Mutex;

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const AGENT_ANSWER: &str = r#"{"Config": {"Datacenter": "test-dc"}}"#;

const SERVICE_TEST_ANSWER: &str = r#"
[{
	"Node": {
		"ID": "b78c2e48-5ef3-1814-31b8-0d880f50471e",
		"Node": "node1",
		"Address": "1.1.1.1",
		"Datacenter": "test-dc",
		"TaggedAddresses": {
			"lan": "192.168.10.10",
			"wan": "10.0.10.10"
		},
		"Meta": {"rack_name": "2304"},
		"CreateIndex": 1,
		"ModifyIndex": 1
	},
	"Service": {
		"ID": "test",
		"Service": "test",
		"Tags": ["tag1"],
		"Address": "",
		"Meta": {"version":"1.0.0","environment":"staging"},
		"Port": 3341,
		"Weights": {
			"Passing": 1,
			"Warning": 1
		},
		"EnableTagOverride": false,
		"ProxyDestination": "",
		"Proxy": {},
		"Connect": {},
		"CreateIndex": 1,
		"ModifyIndex": 1
	},
	"Checks": [{
		"Node": "node1",
		"CheckID": "serfHealth",
		"Name": "Serf Health Status",
		"Status": "passing"
	}]
}]"#;

const SERVICES_TEST_ANSWER: &str = r#"{"test": ["tag1"], "other": ["tag2"]}"#;

/// The expected target of the `test` service (Go's labels for `SERVICE_TEST_ANSWER`).
const TEST_TARGET: &str = concat!(
    r#"{__address__="1.1.1.1:3341", __meta_consul_address="1.1.1.1", "#,
    r#"__meta_consul_health="passing", __meta_consul_metadata_rack_name="2304", "#,
    r#"__meta_consul_namespace="", __meta_consul_node="node1", __meta_consul_partition="", "#,
    r#"__meta_consul_service_address="", __meta_consul_service_id="test", "#,
    r#"__meta_consul_service_metadata_environment="staging", "#,
    r#"__meta_consul_service_metadata_version="1.0.0", __meta_consul_service_port="3341", "#,
    r#"__meta_consul_tagged_address_lan="192.168.10.10", "#,
    r#"__meta_consul_tagged_address_wan="10.0.10.10", __meta_consul_tags=",tag1,"}"#
);

/// Upstream's stub: answers by path; a blocking query that already has the current index
/// (1) waits, as Consul holds it until something changes.
fn stub(seen: &Seen) -> Reply {
    let (path, query) = seen.uri.split_once('?').unwrap_or((&seen.uri, ""));
    let blocked = query.split('&').any(|p| p == "index=1");
    let body = match path {
        "/v1/agent/self" => AGENT_ANSWER,
        "/v1/health/service/test" => SERVICE_TEST_ANSWER,
        "/v1/health/service/other" => "[]",
        "/v1/catalog/services" => SERVICES_TEST_ANSWER,
        _ => return Reply::status(404, "unknown path"),
    };
    let reply = Reply::json(body).header("X-Consul-Index", "1");
    if blocked {
        reply.delayed(Duration::from_secs(30))
    } else {
        reply
    }
}

fn discovery(yaml: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!("scrape_configs:\n- job_name: j\n  consul_sd_configs:\n  - {yaml}\n"),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Consul(c) => {
            let mut d = Discovery::new(c).unwrap();
            d.retry_interval = Duration::from_millis(20);
            d
        }
        other => panic!("{other:?}"),
    }
}

/// Runs `d` and collects what it sends until `done` holds for it (bounded), then stops.
async fn run_until(
    d: Discovery,
    what: &str,
    done: impl Fn(&[TargetGroup]) -> bool,
) -> Vec<TargetGroup> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let cancel = CancellationToken::new();
    let sink = got.clone();
    let task = tokio::spawn(d.run(
        cancel.clone(),
        move |groups| {
            sink.lock().unwrap().extend(groups);
        },
        Metrics::new(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if done(&got.lock().unwrap()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; got {:?}",
            got.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    task.await.unwrap();
    got.lock().unwrap().clone()
}

fn by_source<'a>(groups: &'a [TargetGroup], source: &str) -> Option<&'a TargetGroup> {
    groups.iter().rev().find(|g| g.source == source)
}

fn has(source: &'static str) -> impl Fn(&[TargetGroup]) -> bool {
    move |g| by_source(g, source).is_some()
}

fn uris(api: &FakeApi) -> Vec<String> {
    api.seen().into_iter().map(|s| s.uri).collect()
}

#[tokio::test]
async fn all_services_of_the_catalog_are_watched_with_upstreams_labels() {
    let api = FakeApi::start(stub).await;
    let d = discovery(&format!(
        "{{server: '{}', token: fake-token, refresh_interval: 1s}}",
        api.addr
    ));
    let groups = run_until(d, "both services", |g| has("test")(g) && has("other")(g)).await;
    let test = by_source(&groups, "test").unwrap();
    assert_eq!(
        test.labels.to_string(),
        r#"{__meta_consul_dc="test-dc", __meta_consul_service="test"}"#
    );
    assert_eq!(test.targets.len(), 1);
    assert_eq!(test.targets[0].to_string(), TEST_TARGET);
    let other = by_source(&groups, "other").unwrap();
    assert!(other.targets.is_empty());
    assert_eq!(other.labels.get("__meta_consul_service"), Some("other"));
    assert_eq!(other.labels.get("__meta_consul_dc"), Some("test-dc"));

    let seen = api.seen();
    assert_eq!(seen[0].uri, "/v1/agent/self");
    assert!(
        seen.iter()
            .all(|s| s.headers["x-consul-token"] == "fake-token")
    );
    let uris = uris(&api);
    for want in [
        "/v1/catalog/services?stale=&wait=120000ms",
        "/v1/health/service/test?stale=&wait=120000ms",
        "/v1/health/service/other?stale=&wait=120000ms",
    ] {
        assert!(uris.iter().any(|u| u == want), "{want} not in {uris:?}");
    }
}

#[tokio::test]
async fn tag_node_meta_and_stale_options_reach_the_queries() {
    // Upstream's TestAllOptions: a configured service with tags still goes through the
    // catalog, and every query carries the options.
    let api = FakeApi::start(stub).await;
    let d = discovery(&format!(
        "{{server: '{}', services: [test], node_meta: {{rack_name: '2304'}}, tags: [tag1], allow_stale: true}}",
        api.addr
    ));
    let groups = run_until(d, "the test service", has("test")).await;
    assert_eq!(
        by_source(&groups, "test").unwrap().targets[0].to_string(),
        TEST_TARGET
    );
    assert!(by_source(&groups, "other").is_none(), "other lacks tag1");
    let uris = uris(&api);
    assert!(
        uris.iter()
            .any(|u| u == "/v1/catalog/services?node-meta=rack_name%3A2304&stale=&wait=120000ms"),
        "{uris:?}"
    );
    assert!(
        uris.iter().any(|u| u
            == "/v1/health/service/test?node-meta=rack_name%3A2304&stale=&tag=tag1&wait=120000ms"),
        "{uris:?}"
    );
    assert!(
        !uris
            .iter()
            .any(|u| u.starts_with("/v1/health/service/other")),
        "{uris:?}"
    );
}

#[tokio::test]
async fn configured_services_without_tags_skip_the_catalog() {
    let api = FakeApi::start(stub).await;
    let d = discovery(&format!(
        "{{server: 'http://{}', services: [test], allow_stale: false, datacenter: dc1, namespace: ns1, partition: p1}}",
        api.addr
    ));
    let groups = run_until(d, "the test service", has("test")).await;
    let test = by_source(&groups, "test").unwrap();
    assert_eq!(test.labels.get("__meta_consul_dc"), Some("dc1"));
    let uris = uris(&api);
    assert_eq!(
        uris[0],
        "/v1/health/service/test?dc=dc1&ns=ns1&partition=p1&wait=120000ms"
    );
    assert!(
        !uris.iter().any(|u| u.starts_with("/v1/catalog")),
        "{uris:?}"
    );
    assert!(!uris.iter().any(|u| u == "/v1/agent/self"), "{uris:?}");
}

#[tokio::test]
async fn an_empty_group_is_sent_when_no_service_matches() {
    // Upstream's TestNoTargets.
    let api = FakeApi::start(stub).await;
    let d = discovery(&format!("{{server: '{}', tags: [missing]}}", api.addr));
    let groups = run_until(d, "the empty group", |g| !g.is_empty()).await;
    assert_eq!(groups[0], TargetGroup::default());
}

#[tokio::test]
async fn filters_path_prefix_and_index_follow_consul_blocking_queries() {
    let api = FakeApi::start(|seen: &Seen| {
        let (path, query) = seen.uri.split_once('?').unwrap_or((&seen.uri, ""));
        let index: u64 = query
            .split('&')
            .find_map(|p| p.strip_prefix("index="))
            .map_or(0, |i| i.parse().unwrap());
        match (path, index) {
            ("/consul/v1/catalog/services", 0) => {
                Reply::json(SERVICES_TEST_ANSWER).header("X-Consul-Index", "5")
            }
            // The catalog changes: `test` is gone.
            ("/consul/v1/catalog/services", 5) => {
                Reply::json(r#"{"other": ["tag2"]}"#).header("X-Consul-Index", "6")
            }
            ("/consul/v1/health/service/test", 0) => {
                Reply::json(SERVICE_TEST_ANSWER).header("X-Consul-Index", "7")
            }
            // Same index: the wait ended without change; nothing is sent.
            ("/consul/v1/health/service/test", 7) => {
                Reply::json("[]").header("X-Consul-Index", "7")
            }
            ("/consul/v1/health/service/other", 0) => {
                Reply::json("[]").header("X-Consul-Index", "8")
            }
            _ => Reply::json("{}")
                .header("X-Consul-Index", index.to_string())
                .delayed(Duration::from_secs(30)),
        }
    })
    .await;
    let d = discovery(&format!(
        "{{server: '{}', path_prefix: /consul, datacenter: dc1, filter: 'ServiceTags contains \"x\"', health_filter: 'Service.Port > 1', refresh_interval: 50ms}}",
        api.addr
    ));
    let groups = run_until(d, "test cleared", |g| {
        g.iter().filter(|g| g.source == "test").count() >= 2
    })
    .await;
    let tests: Vec<&TargetGroup> = groups.iter().filter(|g| g.source == "test").collect();
    assert_eq!(tests[0].targets[0].to_string(), TEST_TARGET);
    assert_eq!(
        tests[1],
        &TargetGroup {
            targets: Vec::new(),
            labels: Labels::empty(),
            source: "test".into()
        }
    );
    let uris = uris(&api);
    assert!(
        uris.iter().any(|u| u
            == "/consul/v1/catalog/services?dc=dc1&filter=ServiceTags+contains+%22x%22&stale=&wait=120000ms"),
        "{uris:?}"
    );
    assert!(
        uris.iter().any(|u| u
            == "/consul/v1/catalog/services?dc=dc1&filter=ServiceTags+contains+%22x%22&index=5&stale=&wait=120000ms"),
        "{uris:?}"
    );
    assert!(
        uris.iter().any(|u| u
            == "/consul/v1/health/service/test?dc=dc1&filter=Service.Port+%3E+1&stale=&wait=120000ms"),
        "{uris:?}"
    );
}

#[tokio::test]
async fn datacenter_lookup_failures_are_upstreams_errors() {
    // Upstream's TestGetDatacenterShouldReturnError.
    let api = FakeApi::start(|_: &Seen| Reply::status(500, "")).await;
    let d = discovery(&format!("{{server: '{}'}}", api.addr));
    assert_eq!(
        d.agent_datacenter().await.unwrap_err(),
        "Unexpected response code: 500 ()"
    );
    api.set(|_: &Seen| Reply::json(r#"{"Config": {"Not-Datacenter": "test-dc"}}"#));
    assert_eq!(
        d.agent_datacenter().await.unwrap_err(),
        "invalid value '<nil>' for Config.Datacenter"
    );
    // Retried until it works.
    api.set(|seen: &Seen| {
        if seen.uri == "/v1/agent/self" {
            Reply::json(AGENT_ANSWER)
        } else {
            stub(seen)
        }
    });
    let groups = run_until(d, "targets", has("test")).await;
    assert_eq!(
        by_source(&groups, "test")
            .unwrap()
            .labels
            .get("__meta_consul_dc"),
        Some("test-dc")
    );
}

#[test]
fn should_watch_as_upstream() {
    // Upstream's TestConfiguredServiceWithTags (and friends).
    let mk = |services: &[&str], tags: &[&str]| {
        let mut d = discovery("{server: 'localhost:8500'}");
        d.services = services.iter().map(|s| s.to_string()).collect();
        d.tags = tags.iter().map(|s| s.to_string()).collect();
        d
    };
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // (services, tags, service name, its tags, watched?)
    type Case<'a> = (&'a [&'a str], &'a [&'a str], &'a str, &'a [&'a str], bool);
    let cases: &[Case] = &[
        (&["svc"], &[], "svc", &[""], true),
        (&["svc"], &[], "other", &[""], false),
        (&["svc"], &["http"], "svc", &[""], false),
        (&["svc"], &["http"], "svc", &["http"], true),
        (&["svc"], &["http"], "other", &["http"], false),
        (&["svc"], &["http", "v1"], "svc", &[""], false),
        (&["svc"], &["http", "v1"], "svc", &["http", "v1"], true),
        (&["svc"], &["http", "v1"], "other", &["http, v1"], false),
        (
            &["svc"],
            &["http", "v1"],
            "svc",
            &["http", "v1", "foo"],
            true,
        ),
        (
            &["svc"],
            &["http", "v1", "foo"],
            "svc",
            &["http", "v1", "foo"],
            true,
        ),
        (
            &["svc"],
            &["http", "v1"],
            "svc",
            &["http", "v1", "v1"],
            true,
        ),
        (&[], &[], "anything", &[""], true),
    ];
    for (services, tags, name, have, want) in cases {
        assert_eq!(
            mk(services, tags).should_watch(name, &s(have)),
            *want,
            "{services:?} {tags:?} {name} {have:?}"
        );
    }
}

#[test]
fn aggregated_status_as_the_consul_client() {
    let c = |id: &str, status: &str| Check {
        check_id: id.into(),
        status: status.into(),
    };
    assert_eq!(aggregated_status(&[]), "passing");
    assert_eq!(
        aggregated_status(&[c("a", "passing"), c("b", "warning")]),
        "warning"
    );
    assert_eq!(
        aggregated_status(&[c("a", "critical"), c("b", "warning")]),
        "critical"
    );
    assert_eq!(
        aggregated_status(&[c("a", "critical"), c("_node_maintenance", "critical")]),
        "maintenance"
    );
    assert_eq!(
        aggregated_status(&[c("_service_maintenance:x", "critical")]),
        "maintenance"
    );
    assert_eq!(aggregated_status(&[c("a", "bogus")]), "");
}

#[tokio::test]
async fn unix_socket_agents_are_spoken_to_directly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("consul.sock");
    let api = FakeApi::start_unix(&path, stub).await;
    let d = discovery(&format!(
        "{{server: 'unix://{}', services: [test], token: t0k3n}}",
        path.display()
    ));
    let groups = run_until(d, "the test service", has("test")).await;
    assert_eq!(
        by_source(&groups, "test").unwrap().targets[0].to_string(),
        TEST_TARGET
    );
    let seen = api.seen();
    assert_eq!(seen[0].uri, "/v1/agent/self");
    assert!(seen.iter().all(|s| s.headers["x-consul-token"] == "t0k3n"));
}

#[test]
fn unknown_server_schemes_are_refused() {
    let cfg = ConsulSdConfig {
        server: "ftp://localhost:8500".into(),
        ..Default::default()
    };
    assert_eq!(
        Discovery::new(&cfg).unwrap_err(),
        "unknown protocol scheme: ftp"
    );
}
