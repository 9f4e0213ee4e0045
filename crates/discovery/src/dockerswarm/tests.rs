//! Tests of dockerswarm_sd against a fake Engine API serving a subset of upstream's
//! `discovery/moby/testdata/swarmprom` (the services, tasks, nodes and networks the
//! expected label sets below come from, with the fields discovery reads).

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const NETWORKS: &str = r#"[
  {"Name": "ingress", "Id": "qvwhwd6p61k4o0ulsknqb066z", "Scope": "swarm", "Driver": "overlay",
   "Internal": false, "Attachable": false, "Ingress": true, "Labels": {}},
  {"Name": "mon_net", "Id": "npq2closzy836m07eaq1425k3", "Scope": "swarm", "Driver": "overlay",
   "Internal": false, "Attachable": true, "Ingress": false,
   "Labels": {"com.docker.stack.namespace": "mon"}}
]"#;

const SERVICES: &str = r#"[
  {
    "ID": "3qvd7bwfptmoht16t1f7jllb6",
    "Spec": {
      "Name": "mon_node-exporter",
      "Labels": {
        "com.docker.stack.image": "stefanprodan/swarmprom-node-exporter:v0.16.0",
        "com.docker.stack.namespace": "mon"
      },
      "TaskTemplate": {
        "ContainerSpec": {
          "Image": "stefanprodan/swarmprom-node-exporter:v0.16.0@sha256:1d2518ec0501dd848e718bf008df37852b1448c862d6f256f2d39244975758d6",
          "Labels": {"com.docker.stack.namespace": "mon"}
        }
      },
      "Mode": {"Global": {}}
    },
    "Endpoint": {
      "Ports": [{"Protocol": "tcp", "TargetPort": 9100, "PublishedPort": 9100, "PublishMode": "ingress"}],
      "VirtualIPs": [
        {"NetworkID": "qvwhwd6p61k4o0ulsknqb066z", "Addr": "10.0.0.7/24"},
        {"NetworkID": "npq2closzy836m07eaq1425k3", "Addr": "10.0.1.2/24"}
      ]
    }
  },
  {
    "ID": "9bbq7j55tzzz85k2gg52x73rg",
    "Spec": {
      "Name": "mon_unsee",
      "Labels": {"com.docker.stack.image": "cloudflare/unsee:v0.8.0", "com.docker.stack.namespace": "mon"},
      "TaskTemplate": {
        "ContainerSpec": {
          "Image": "cloudflare/unsee:v0.8.0@sha256:28398f47f63feb1647887999701fa730da351fc6d3cc7228e5da44b40a663ada"
        }
      },
      "Mode": {"Replicated": {"Replicas": 1}}
    },
    "Endpoint": {
      "VirtualIPs": [{"NetworkID": "npq2closzy836m07eaq1425k3", "Addr": "10.0.1.34/24"}]
    }
  },
  {
    "ID": "iml8vdd2dudvq457sbirpf66z",
    "Spec": {
      "Name": "mon_cadvisor",
      "Labels": {"com.docker.stack.image": "google/cadvisor", "com.docker.stack.namespace": "mon"},
      "TaskTemplate": {
        "ContainerSpec": {
          "Image": "google/cadvisor:latest@sha256:815386ebbe9a3490f38785ab11bda34ec8dacf4634af77b8912832d4f85dca04"
        }
      },
      "Mode": {"Global": {}}
    },
    "Endpoint": {
      "VirtualIPs": [{"NetworkID": "npq2closzy836m07eaq1425k3", "Addr": "10.0.1.23/24"}]
    }
  },
  {
    "ID": "tkv91uso46cck763aaqcb4rek",
    "Spec": {
      "Name": "mon_caddy",
      "Labels": {"com.docker.stack.image": "stefanprodan/caddy", "com.docker.stack.namespace": "mon"},
      "TaskTemplate": {
        "ContainerSpec": {
          "Image": "stefanprodan/caddy:latest@sha256:44541cfacb66f4799f81f17fcfb3cb757ccc8f327592745549f5930c42d115c9"
        }
      },
      "Mode": {"Replicated": {"Replicas": 1}}
    },
    "Endpoint": {
      "Ports": [
        {"Protocol": "tcp", "TargetPort": 9090, "PublishedPort": 9090, "PublishMode": "ingress"},
        {"Protocol": "tcp", "TargetPort": 9093, "PublishedPort": 9093, "PublishMode": "ingress"},
        {"Protocol": "tcp", "TargetPort": 9094, "PublishedPort": 9094, "PublishMode": "ingress"}
      ],
      "VirtualIPs": [
        {"NetworkID": "qvwhwd6p61k4o0ulsknqb066z", "Addr": "10.0.0.13/24"},
        {"NetworkID": "npq2closzy836m07eaq1425k3", "Addr": "10.0.1.15/24"}
      ]
    }
  }
]"#;

const TASKS: &str = r#"[
  {
    "ID": "40wy6ekgchzz38dqjv07qt79w",
    "Spec": {"ContainerSpec": {"Labels": {"com.docker.stack.namespace": "mon"}}},
    "ServiceID": "3qvd7bwfptmoht16t1f7jllb6",
    "NodeID": "ldawcom10uqi6owysgi28n4ve",
    "Status": {
      "State": "running",
      "ContainerStatus": {"ContainerID": "a137690f7070c536470aeae2d40cd4ecabe59842e5c2fce0cc7596f7d3d85c59", "PID": 555},
      "PortStatus": {}
    },
    "DesiredState": "running",
    "NetworksAttachments": [
      {"Network": {"ID": "qvwhwd6p61k4o0ulsknqb066z"}, "Addresses": ["10.0.0.8/24"]},
      {"Network": {"ID": "npq2closzy836m07eaq1425k3"}, "Addresses": ["10.0.1.3/24"]}
    ]
  },
  {
    "ID": "7ogolpkgw2d2amnht1fbtm9oq",
    "Spec": {"ContainerSpec": {"Labels": {"com.docker.stack.namespace": "mon"}}},
    "ServiceID": "iml8vdd2dudvq457sbirpf66z",
    "NodeID": "i9woemzxymn1n98o9ufebclgm",
    "Status": {
      "State": "rejected",
      "ContainerStatus": {"ContainerID": "", "PID": 0},
      "PortStatus": {}
    },
    "DesiredState": "ready",
    "NetworksAttachments": [
      {"Network": {"ID": "npq2closzy836m07eaq1425k3"}, "Addresses": ["10.0.1.88/24"]}
    ]
  }
]"#;

const NODES: &str = r#"[
  {
    "ID": "d3cw2msquo0d71yn42qrnb0tu",
    "Spec": {"Labels": {}, "Role": "manager", "Availability": "active"},
    "Description": {"Hostname": "oxygen", "Platform": {"Architecture": "x86_64", "OS": "linux"},
                    "Engine": {"EngineVersion": "19.03.5-ce"}},
    "Status": {"State": "ready", "Addr": "10.0.232.1"},
    "ManagerStatus": {"Leader": true, "Reachability": "reachable", "Addr": "10.0.232.1:2377"}
  },
  {
    "ID": "i9woemzxymn1n98o9ufebclgm",
    "Spec": {"Labels": {}, "Role": "manager", "Availability": "active"},
    "Description": {"Hostname": "master-2", "Platform": {"Architecture": "x86_64", "OS": "linux"},
                    "Engine": {"EngineVersion": "19.03.11"}},
    "Status": {"State": "ready", "Addr": "10.0.232.2"},
    "ManagerStatus": {"Reachability": "reachable", "Addr": "10.0.232.2:2377"}
  },
  {
    "ID": "ldawcom10uqi6owysgi28n4ve",
    "Spec": {"Labels": {}, "Role": "worker", "Availability": "active"},
    "Description": {"Hostname": "worker-2", "Platform": {"Architecture": "x86_64", "OS": "linux"},
                    "Engine": {"EngineVersion": "19.03.11"}},
    "Status": {"State": "ready", "Addr": "10.0.232.5"}
  }
]"#;

/// A swarm manager speaking API 1.40; container inspection fails as in upstream's mock
/// unless `inspect` answers.
fn daemon(inspect: Option<&'static str>) -> impl Fn(&Seen) -> Reply {
    move |seen: &Seen| {
        let path = seen.uri.split('?').next().unwrap_or_default();
        let reply = match path {
            "/_ping" => Reply::status(200, "OK"),
            "/v1.40/networks" => Reply::json(NETWORKS),
            "/v1.40/services" => Reply::json(SERVICES),
            "/v1.40/tasks" => Reply::json(TASKS),
            "/v1.40/nodes" => Reply::json(NODES),
            p if p.starts_with("/v1.40/containers/") => match inspect {
                Some(body) => Reply::json(body),
                None => Reply::status(500, r#"{"message": "no such container"}"#),
            },
            _ => Reply::status(404, r#"{"message": "page not found"}"#),
        };
        reply.header("Api-Version", "1.40")
    }
}

fn discovery(host: &str, role: &str, extra: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  dockerswarm_sd_configs:\n  - host: '{host}'\n    role: {role}\n{extra}"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::DockerSwarm(c) => Discovery::new(c).unwrap(),
        other => panic!("{other:?}"),
    }
}

fn set(pairs: &[(&str, &str)]) -> Set {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn labels(parts: &[&Set], extra: &[(&str, &str)]) -> Labels {
    let mut all = Set::new();
    for p in parts {
        all.extend((*p).clone());
    }
    all.extend(set(extra));
    Labels::from_pairs(all)
}

fn ingress() -> Set {
    set(&[
        ("__meta_dockerswarm_network_id", "qvwhwd6p61k4o0ulsknqb066z"),
        ("__meta_dockerswarm_network_ingress", "true"),
        ("__meta_dockerswarm_network_internal", "false"),
        ("__meta_dockerswarm_network_name", "ingress"),
        ("__meta_dockerswarm_network_scope", "swarm"),
    ])
}

fn mon_net() -> Set {
    set(&[
        ("__meta_dockerswarm_network_id", "npq2closzy836m07eaq1425k3"),
        ("__meta_dockerswarm_network_ingress", "false"),
        ("__meta_dockerswarm_network_internal", "false"),
        (
            "__meta_dockerswarm_network_label_com_docker_stack_namespace",
            "mon",
        ),
        ("__meta_dockerswarm_network_name", "mon_net"),
        ("__meta_dockerswarm_network_scope", "swarm"),
    ])
}

fn service(id: &str, name: &str, stack_image: &str, mode: &str) -> Set {
    set(&[
        ("__meta_dockerswarm_service_id", id),
        (
            "__meta_dockerswarm_service_label_com_docker_stack_image",
            stack_image,
        ),
        (
            "__meta_dockerswarm_service_label_com_docker_stack_namespace",
            "mon",
        ),
        ("__meta_dockerswarm_service_mode", mode),
        ("__meta_dockerswarm_service_name", name),
    ])
}

fn node_exporter() -> Set {
    service(
        "3qvd7bwfptmoht16t1f7jllb6",
        "mon_node-exporter",
        "stefanprodan/swarmprom-node-exporter:v0.16.0",
        "global",
    )
}

fn task_image(image: &str) -> Set {
    set(&[
        ("__meta_dockerswarm_service_task_container_hostname", ""),
        ("__meta_dockerswarm_service_task_container_image", image),
    ])
}

const INGRESS_PORT: &[(&str, &str)] = &[
    ("__meta_dockerswarm_service_endpoint_port_name", ""),
    (
        "__meta_dockerswarm_service_endpoint_port_publish_mode",
        "ingress",
    ),
];

#[tokio::test]
async fn services_as_upstream() {
    // Upstream's TestDockerSwarmSDServicesRefresh, for these services.
    let api = FakeApi::start(daemon(None)).await;
    let d = discovery(&format!("http://{}", api.addr), "services", "");
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "DockerSwarm");
    let ne_image = task_image(
        "stefanprodan/swarmprom-node-exporter:v0.16.0@sha256:1d2518ec0501dd848e718bf008df37852b1448c862d6f256f2d39244975758d6",
    );
    let unsee = service(
        "9bbq7j55tzzz85k2gg52x73rg",
        "mon_unsee",
        "cloudflare/unsee:v0.8.0",
        "replicated",
    );
    let unsee_image = task_image(
        "cloudflare/unsee:v0.8.0@sha256:28398f47f63feb1647887999701fa730da351fc6d3cc7228e5da44b40a663ada",
    );
    let cadvisor = service(
        "iml8vdd2dudvq457sbirpf66z",
        "mon_cadvisor",
        "google/cadvisor",
        "global",
    );
    let cadvisor_image = task_image(
        "google/cadvisor:latest@sha256:815386ebbe9a3490f38785ab11bda34ec8dacf4634af77b8912832d4f85dca04",
    );
    let caddy = service(
        "tkv91uso46cck763aaqcb4rek",
        "mon_caddy",
        "stefanprodan/caddy",
        "replicated",
    );
    let caddy_image = task_image(
        "stefanprodan/caddy:latest@sha256:44541cfacb66f4799f81f17fcfb3cb757ccc8f327592745549f5930c42d115c9",
    );
    let with_port = |addr: &'static str| {
        let mut e = INGRESS_PORT.to_vec();
        e.push(("__address__", addr));
        e
    };
    let expected = vec![
        labels(
            &[&node_exporter(), &ne_image, &ingress()],
            &with_port("10.0.0.7:9100"),
        ),
        labels(
            &[&node_exporter(), &ne_image, &mon_net()],
            &with_port("10.0.1.2:9100"),
        ),
        labels(
            &[&unsee, &unsee_image, &mon_net()],
            &[("__address__", "10.0.1.34:80")],
        ),
        labels(
            &[&cadvisor, &cadvisor_image, &mon_net()],
            &[("__address__", "10.0.1.23:80")],
        ),
        labels(
            &[&caddy, &caddy_image, &ingress()],
            &with_port("10.0.0.13:9090"),
        ),
        labels(
            &[&caddy, &caddy_image, &ingress()],
            &with_port("10.0.0.13:9093"),
        ),
        labels(
            &[&caddy, &caddy_image, &ingress()],
            &with_port("10.0.0.13:9094"),
        ),
        labels(
            &[&caddy, &caddy_image, &mon_net()],
            &with_port("10.0.1.15:9090"),
        ),
        labels(
            &[&caddy, &caddy_image, &mon_net()],
            &with_port("10.0.1.15:9093"),
        ),
        labels(
            &[&caddy, &caddy_image, &mon_net()],
            &with_port("10.0.1.15:9094"),
        ),
    ];
    assert_eq!(groups[0].targets.len(), expected.len());
    for (got, want) in groups[0].targets.iter().zip(&expected) {
        assert_eq!(got, want);
    }
}

fn node(id: &str, host: &str, addr: &str, role: &str) -> Set {
    set(&[
        ("__meta_dockerswarm_node_address", addr),
        ("__meta_dockerswarm_node_availability", "active"),
        ("__meta_dockerswarm_node_hostname", host),
        ("__meta_dockerswarm_node_id", id),
        ("__meta_dockerswarm_node_platform_architecture", "x86_64"),
        ("__meta_dockerswarm_node_platform_os", "linux"),
        ("__meta_dockerswarm_node_role", role),
        ("__meta_dockerswarm_node_status", "ready"),
    ])
}

fn task(id: &str, container: &str, desired: &str, state: &str) -> Set {
    set(&[
        (
            "__meta_dockerswarm_container_label_com_docker_stack_namespace",
            "mon",
        ),
        ("__meta_dockerswarm_task_container_id", container),
        ("__meta_dockerswarm_task_desired_state", desired),
        ("__meta_dockerswarm_task_id", id),
        ("__meta_dockerswarm_task_slot", "0"),
        ("__meta_dockerswarm_task_state", state),
    ])
}

#[tokio::test]
async fn tasks_as_upstream() {
    // Upstream's TestDockerSwarmTasksSDRefresh, its first three targets.
    let api = FakeApi::start(daemon(None)).await;
    let d = discovery(&format!("http://{}", api.addr), "tasks", "");
    let groups = d.refresh().await.unwrap();
    let worker2 = node(
        "ldawcom10uqi6owysgi28n4ve",
        "worker-2",
        "10.0.232.5",
        "worker",
    );
    let master2 = node(
        "i9woemzxymn1n98o9ufebclgm",
        "master-2",
        "10.0.232.2",
        "manager",
    );
    let t1 = task(
        "40wy6ekgchzz38dqjv07qt79w",
        "a137690f7070c536470aeae2d40cd4ecabe59842e5c2fce0cc7596f7d3d85c59",
        "running",
        "running",
    );
    let t2 = task("7ogolpkgw2d2amnht1fbtm9oq", "", "ready", "rejected");
    let cadvisor = service(
        "iml8vdd2dudvq457sbirpf66z",
        "mon_cadvisor",
        "google/cadvisor",
        "global",
    );
    let mode = ("__meta_dockerswarm_task_port_publish_mode", "ingress");
    let expected = vec![
        labels(
            &[&t1, &node_exporter(), &worker2, &ingress()],
            &[mode, ("__address__", "10.0.0.8:9100")],
        ),
        labels(
            &[&t1, &node_exporter(), &worker2, &mon_net()],
            &[mode, ("__address__", "10.0.1.3:9100")],
        ),
        labels(
            &[&t2, &cadvisor, &master2, &mon_net()],
            &[("__address__", "10.0.1.88:80")],
        ),
    ];
    assert_eq!(groups[0].targets, expected);
    let uris: Vec<String> = api.seen().into_iter().map(|s| s.uri).collect();
    assert!(
        uris.contains(
            &"/v1.40/containers/a137690f7070c536470aeae2d40cd4ecabe59842e5c2fce0cc7596f7d3d85c59/json"
                .to_owned()
        ),
        "{uris:?}"
    );
}

#[tokio::test]
async fn task_container_labels_host_ports_and_filters() {
    let api = FakeApi::start(daemon(Some(
        r#"{"Config": {"Labels": {"com.docker.stack.namespace": "from-image", "org.image": "x"}}}"#,
    )))
    .await;
    let d = discovery(
        &format!("http://{}", api.addr),
        "tasks",
        "    filters: [{name: desired-state, values: [running]}]\n",
    );
    let groups = d.refresh().await.unwrap();
    let t = &groups[0].targets[0];
    // The image's labels, overridden by the task's container spec.
    assert_eq!(
        t.get("__meta_dockerswarm_container_label_com_docker_stack_namespace"),
        Some("mon")
    );
    assert_eq!(
        t.get("__meta_dockerswarm_container_label_org_image"),
        Some("x")
    );
    let tasks_uri = api
        .seen()
        .into_iter()
        .map(|s| s.uri)
        .find(|u| u.starts_with("/v1.40/tasks"))
        .unwrap();
    assert_eq!(
        tasks_uri,
        "/v1.40/tasks?filters=%7B%22desired-state%22%3A%7B%22running%22%3Atrue%7D%7D"
    );

    // A port published in host mode is reached on the node's address.
    api.set(|seen: &Seen| match seen.uri.split('?').next().unwrap_or_default() {
        "/_ping" => Reply::status(200, "OK").header("Api-Version", "1.40"),
        "/v1.40/tasks" => Reply::json(
            r#"[{"ID": "h", "ServiceID": "3qvd7bwfptmoht16t1f7jllb6", "NodeID": "ldawcom10uqi6owysgi28n4ve",
                 "Slot": 2, "Status": {"State": "running", "PortStatus": {"Ports": [
                   {"Protocol": "tcp", "PublishedPort": 9101, "PublishMode": "host"},
                   {"Protocol": "udp", "PublishedPort": 53, "PublishMode": "host"}]}}}]"#,
        ),
        "/v1.40/services" => Reply::json(SERVICES),
        "/v1.40/nodes" => Reply::json(NODES),
        "/v1.40/networks" => Reply::json(NETWORKS),
        _ => Reply::status(404, "{}"),
    });
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups[0].targets.len(), 1);
    let t = &groups[0].targets[0];
    assert_eq!(t.get("__address__"), Some("10.0.232.5:9101"));
    assert_eq!(
        t.get("__meta_dockerswarm_task_port_publish_mode"),
        Some("host")
    );
    assert_eq!(t.get("__meta_dockerswarm_task_slot"), Some("2"));
    assert_eq!(t.get("__meta_dockerswarm_task_container_id"), None);
}

#[tokio::test]
async fn nodes_as_upstream() {
    // Upstream's TestDockerSwarmNodesSDRefresh, for these nodes.
    let api = FakeApi::start(daemon(None)).await;
    let d = discovery(&format!("http://{}", api.addr), "nodes", "");
    let groups = d.refresh().await.unwrap();
    let manager = |leader: &'static str, addr: &'static str, mgr: &'static str| {
        vec![
            ("__address__", addr),
            ("__meta_dockerswarm_node_manager_address", mgr),
            ("__meta_dockerswarm_node_manager_leader", leader),
            ("__meta_dockerswarm_node_manager_reachability", "reachable"),
        ]
    };
    let mut oxygen = manager("true", "10.0.232.1:80", "10.0.232.1:2377");
    oxygen.push(("__meta_dockerswarm_node_engine_version", "19.03.5-ce"));
    let mut master2 = manager("false", "10.0.232.2:80", "10.0.232.2:2377");
    master2.push(("__meta_dockerswarm_node_engine_version", "19.03.11"));
    let expected = vec![
        labels(
            &[&node(
                "d3cw2msquo0d71yn42qrnb0tu",
                "oxygen",
                "10.0.232.1",
                "manager",
            )],
            &oxygen,
        ),
        labels(
            &[&node(
                "i9woemzxymn1n98o9ufebclgm",
                "master-2",
                "10.0.232.2",
                "manager",
            )],
            &master2,
        ),
        labels(
            &[&node(
                "ldawcom10uqi6owysgi28n4ve",
                "worker-2",
                "10.0.232.5",
                "worker",
            )],
            &[
                ("__address__", "10.0.232.5:80"),
                ("__meta_dockerswarm_node_engine_version", "19.03.11"),
            ],
        ),
    ];
    assert_eq!(groups[0].targets, expected);
}

#[tokio::test]
async fn errors_name_what_failed() {
    let api = FakeApi::start(|seen: &Seen| match seen.uri.as_str() {
        "/_ping" => Reply::status(200, "OK").header("Api-Version", "1.40"),
        "/v1.40/services" => Reply::json(
            r#"[{"ID": "x", "Endpoint": {"VirtualIPs": [{"NetworkID": "n", "Addr": "10.0.0.1"}]}}]"#,
        ),
        "/v1.40/networks" => Reply::json("[]"),
        _ => Reply::status(503, r#"{"message": "This node is not a swarm manager."}"#),
    })
    .await;
    let host = format!("http://{}", api.addr);
    assert_eq!(
        discovery(&host, "services", "")
            .refresh()
            .await
            .unwrap_err(),
        "error while parsing address 10.0.0.1: invalid CIDR address: 10.0.0.1"
    );
    assert_eq!(
        discovery(&host, "nodes", "").refresh().await.unwrap_err(),
        "error while listing swarm nodes: Error response from daemon: This node is not a swarm manager."
    );
    assert_eq!(
        discovery(&host, "tasks", "").refresh().await.unwrap_err(),
        "error while listing swarm services: Error response from daemon: This node is not a swarm manager."
    );
}

#[test]
fn cidrs_as_go_parses_them() {
    assert_eq!(parse_cidr("10.0.0.7/24").unwrap(), "10.0.0.7");
    assert_eq!(parse_cidr("fd00::1/64").unwrap(), "fd00::1");
    assert!(parse_cidr("10.0.0.7/33").is_err());
    assert!(parse_cidr("10.0.0.7").is_err());
}
