//! Tests of marathon_sd against a fake Marathon serving the app lists of upstream's
//! `discovery/marathon/marathon_test.go` (there Go structs, here the JSON Marathon sends).

use std::sync::{Arc, Mutex};

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

/// upstream's `marathonTestAppList(marathonValidLabel, 1)`.
const APP_LIST: &str = r#"{"apps": [{
    "id": "test-service",
    "tasks": [{"id": "test-task-1", "host": "mesos-slave1", "ports": [31000]}],
    "tasksRunning": 1,
    "labels": {"prometheus": "yes"},
    "container": {"docker": {"image": "repo/image:tag", "portMappings": [{"labels": {"prometheus": "yes"}}]}},
    "portDefinitions": [{"labels": {}}]
}]}"#;

/// upstream's `marathonTestAppListWithMultiplePorts`.
const MULTIPLE_PORTS: &str = r#"{"apps": [{
    "id": "test-service",
    "tasks": [{"id": "test-task-1", "host": "mesos-slave1", "ports": [31000, 32000]}],
    "labels": {"prometheus": "yes"},
    "container": {"docker": {"image": "repo/image:tag",
        "portMappings": [{"labels": {"prometheus": "yes"}}, {"labels": {}}]}},
    "portDefinitions": [{"labels": {}}, {"labels": {"prometheus": "yes"}}]
}]}"#;

/// upstream's `marathonTestZeroTaskPortAppList`.
const ZERO_TASK_PORTS: &str = r#"{"apps": [{
    "id": "test-service-zero-ports",
    "tasks": [{"id": "test-task-2", "host": "mesos-slave-2", "ports": []}],
    "labels": {"prometheus": "yes"},
    "container": {"docker": {"image": "repo/image:tag"}}
}]}"#;

/// upstream's `marathonTestAppListWithoutPortMappings`.
const WITHOUT_PORT_MAPPINGS: &str = r#"{"apps": [{
    "id": "test-service",
    "tasks": [{"id": "test-task-1", "host": "mesos-slave1", "ports": [31000, 32000]}],
    "labels": {"prometheus": "yes"},
    "container": {"docker": {"image": "repo/image:tag"}},
    "portDefinitions": [{"labels": {}}, {"labels": {"prometheus": "yes"}}]
}]}"#;

/// upstream's `marathonTestAppListWithContainerPortMappings`.
const CONTAINER_PORT_MAPPINGS: &str = r#"{"apps": [{
    "id": "test-service",
    "tasks": [{"id": "test-task-1", "host": "mesos-slave1", "ports": [31000, 32000]}],
    "labels": {"prometheus": "yes"},
    "container": {"docker": {"image": "repo/image:tag"},
        "portMappings": [{"labels": {"prometheus": "yes"}, "hostPort": 0}, {"labels": {}, "hostPort": 0}]}
}]}"#;

/// upstream's `marathonTestAppListWithContainerNetworkAndPortMappings`.
const CONTAINER_NETWORK: &str = r#"{"apps": [{
    "id": "test-service",
    "tasks": [{"id": "test-task-1", "host": "mesos-slave1", "ports": [31000, 32000],
               "ipAddresses": [{"ipAddress": "1.2.3.4", "protocol": "IPv4"}]}],
    "labels": {"prometheus": "yes"},
    "container": {"docker": {"image": "repo/image:tag"},
        "portMappings": [{"labels": {"prometheus": "yes"}, "containerPort": 8080, "hostPort": 31000},
                         {"labels": {}, "containerPort": 1234, "hostPort": 32000}]},
    "networks": [{"mode": "container", "name": "test-network"}]
}]}"#;

/// upstream's `marathonTestAppListWithPortDefinitionsRequirePorts`.
const REQUIRE_PORTS: &str = r#"{"apps": [{
    "id": "test-service",
    "tasks": [{"id": "test-task-1", "host": "mesos-slave1", "ports": [31000, 32000]}],
    "labels": {"prometheus": "yes"},
    "container": {"docker": {"image": "repo/image:tag"}},
    "requirePorts": true,
    "portDefinitions": [{"labels": {}, "port": 31000}, {"labels": {"prometheus": "yes"}, "port": 32000}]
}]}"#;

fn discovery(servers: &str, extra: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!("scrape_configs:\n- job_name: j\n  marathon_sd_configs:\n  - servers: {servers}\n{extra}"),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Marathon(c) => Discovery::new(c).unwrap(),
        other => panic!("{other:?}"),
    }
}

/// A fake Marathon answering `/v2/apps/?embed=apps.tasks` with the current body.
async fn marathon(body: &'static str) -> (FakeApi, Discovery) {
    let api = FakeApi::start(move |seen: &Seen| {
        if seen.uri == "/v2/apps/?embed=apps.tasks" {
            Reply::json(body)
        } else {
            Reply::status(404, "not found")
        }
    })
    .await;
    let d = discovery(&format!("['http://{}']", api.addr), "");
    (api, d)
}

const PM: &str = "__meta_marathon_port_mapping_label_prometheus";
const PD: &str = "__meta_marathon_port_definition_label_prometheus";

#[tokio::test]
async fn an_app_is_a_group_with_upstreams_labels() {
    // Upstream's TestMarathonSDSendGroup.
    let (_api, d) = marathon(APP_LIST).await;
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    let g = &groups[0];
    assert_eq!(g.source, "test-service");
    assert_eq!(
        g.labels.to_string(),
        r#"{__meta_marathon_app="test-service", __meta_marathon_app_label_prometheus="yes", __meta_marathon_image="repo/image:tag"}"#
    );
    assert_eq!(
        g.targets[0].to_string(),
        r#"{__address__="mesos-slave1:31000", __meta_marathon_port_index="0", __meta_marathon_port_mapping_label_prometheus="yes", __meta_marathon_task="test-task-1"}"#
    );
    assert_eq!(g.targets.len(), 1);
}

#[tokio::test]
async fn port_sources_as_upstream() {
    // (payload, [(address, port mapping label, port definition label)]), from upstream's
    // TestMarathonSDSendGroupWith{MultiplePort,outPortMappings,ContainerPortMappings,
    // ContainerNetworkAndPortMapping,PortDefinitionsRequirePorts} and TestMarathonZeroTaskPorts.
    type Want = &'static [(&'static str, Option<&'static str>, Option<&'static str>)];
    let cases: &[(&str, Want)] = &[
        (
            MULTIPLE_PORTS,
            &[
                ("mesos-slave1:31000", Some("yes"), None),
                ("mesos-slave1:32000", None, None),
            ],
        ),
        (
            WITHOUT_PORT_MAPPINGS,
            &[
                ("mesos-slave1:31000", None, None),
                ("mesos-slave1:32000", None, Some("yes")),
            ],
        ),
        (
            CONTAINER_PORT_MAPPINGS,
            &[
                ("mesos-slave1:31000", Some("yes"), None),
                ("mesos-slave1:32000", None, None),
            ],
        ),
        (
            CONTAINER_NETWORK,
            &[
                ("1.2.3.4:8080", Some("yes"), None),
                ("1.2.3.4:1234", None, None),
            ],
        ),
        (
            REQUIRE_PORTS,
            &[
                ("mesos-slave1:31000", None, None),
                ("mesos-slave1:32000", None, Some("yes")),
            ],
        ),
        (ZERO_TASK_PORTS, &[]),
    ];
    for (body, want) in cases {
        let (_api, d) = marathon(body).await;
        let groups = d.refresh().await.unwrap();
        let got: Vec<(&str, Option<&str>, Option<&str>)> = groups[0]
            .targets
            .iter()
            .map(|t| (t.get("__address__").unwrap(), t.get(PM), t.get(PD)))
            .collect();
        assert_eq!(&got, want, "{body}");
        for (i, t) in groups[0].targets.iter().enumerate() {
            assert_eq!(
                t.get("__meta_marathon_port_index"),
                Some(i.to_string().as_str())
            );
        }
    }
}

#[tokio::test]
async fn removed_apps_get_an_empty_group() {
    // Upstream's TestMarathonSDRemoveApp.
    let body = Arc::new(Mutex::new(APP_LIST));
    let b = body.clone();
    let api = FakeApi::start(move |_: &Seen| Reply::json(*b.lock().unwrap())).await;
    let d = discovery(&format!("['http://{}']", api.addr), "");
    assert_eq!(d.refresh().await.unwrap()[0].source, "test-service");
    *body.lock().unwrap() = r#"{"apps": []}"#;
    assert_eq!(
        d.refresh().await.unwrap(),
        [TargetGroup {
            targets: Vec::new(),
            labels: Labels::empty(),
            source: "test-service".into()
        }]
    );
    // And only once.
    assert!(d.refresh().await.unwrap().is_empty());
}

#[tokio::test]
async fn errors_and_auth_tokens() {
    // Upstream's Test500ErrorHttpResponseWithValidJSONBody.
    let api = FakeApi::start(|_: &Seen| Reply::status(500, "{}")).await;
    let d = discovery(&format!("['http://{}']", api.addr), "");
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "non 2xx status '500' response during marathon service discovery"
    );
    api.set(|_: &Seen| Reply::json(r#"{"apps": "nope"}"#));
    let err = d.refresh().await.unwrap_err();
    assert!(
        err.starts_with(&format!(
            "\"http://{}/v2/apps/?embed=apps.tasks\": ",
            api.addr
        )),
        "{err}"
    );

    api.set(|_: &Seen| Reply::json(r#"{"apps": []}"#));
    let d = discovery(
        &format!("['http://{}']", api.addr),
        "    auth_token: s3cr3t\n",
    );
    d.refresh().await.unwrap();
    assert_eq!(
        api.seen().last().unwrap().headers["authorization"],
        "token=s3cr3t"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "from-file\n").unwrap();
    let d = discovery(
        &format!("['http://{}']", api.addr),
        &format!("    auth_token_file: '{}'\n", file.display()),
    );
    d.refresh().await.unwrap();
    assert_eq!(
        api.seen().last().unwrap().headers["authorization"],
        "token=from-file"
    );

    let cfg = MarathonSdConfig {
        servers: vec!["http://localhost:8080".into()],
        auth_token_file: "/nonexistent/token".into(),
        ..Default::default()
    };
    assert!(
        Discovery::new(&cfg)
            .unwrap_err()
            .starts_with("unable to read auth token file /nonexistent/token: "),
    );
}
