//! Tests of docker_sd against a fake Docker Engine API serving the payloads of upstream's
//! `discovery/moby/testdata` (dockerprom, dockeripv6, nomad_consul_connect).

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

/// upstream testdata/dockerprom/containers/json.json
const CONTAINERS: &str = r#"[
  {
    "Id": "c301b928faceb1a18fe379f6bc178727ef920bb30b0f9b8592b32b36255a0eca",
    "Names": ["/dockersd_node_1"],
    "Image": "prom/node-exporter:v1.1.2",
    "ImageID": "sha256:c19ae228f0699185488b6a1c0debb9c6b79672181356ad455c9a7924a41a01bb",
    "Command": "/bin/node_exporter",
    "Created": 1616273136,
    "Ports": [{"PrivatePort": 9100, "Type": "tcp"}],
    "Labels": {
      "com.docker.compose.project": "dockersd",
      "com.docker.compose.service": "node",
      "com.docker.compose.version": "1.25.0",
      "maintainer": "The Prometheus Authors <prometheus-developers@googlegroups.com>",
      "prometheus-job": "node"
    },
    "State": "running",
    "Status": "Up 40 seconds",
    "HostConfig": {"NetworkMode": "dockersd_default"},
    "NetworkSettings": {
      "Networks": {
        "dockersd_default": {
          "IPAMConfig": null, "Links": null, "Aliases": null,
          "NetworkID": "7189986ab399e144e52a71b7451b4e04e2158c044b4cd2f3ae26fc3a285d3798",
          "EndpointID": "423198ed568efa36699c5f13289c46230580a0ad6453d9e726f5e3cf1a911f77",
          "Gateway": "172.19.0.1", "IPAddress": "172.19.0.2", "IPPrefixLen": 16,
          "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
          "MacAddress": "02:42:ac:13:00:02", "DriverOpts": null
        }
      }
    },
    "Mounts": []
  },
  {
    "Id": "c301b928faceb1a18fe379f6bc178727ef920bb30b0f9b8592b32b36255a0eca",
    "Names": ["/dockersd_noport_1"],
    "Image": "prom/node-exporter:v1.1.2",
    "ImageID": "sha256:c19ae228f0699185488b6a1c0debb9c6b79672181356ad455c9a7924a41a01bb",
    "Command": "/bin/node_exporter",
    "Created": 1616273136,
    "Ports": [],
    "Labels": {
      "com.docker.compose.project": "dockersd",
      "com.docker.compose.service": "noport",
      "com.docker.compose.version": "1.25.0",
      "maintainer": "The Prometheus Authors <prometheus-developers@googlegroups.com>",
      "prometheus-job": "noport"
    },
    "State": "running",
    "Status": "Up 40 seconds",
    "HostConfig": {"NetworkMode": "dockersd_default"},
    "NetworkSettings": {
      "Networks": {
        "dockersd_default": {
          "IPAMConfig": null, "Links": null, "Aliases": null,
          "NetworkID": "7189986ab399e144e52a71b7451b4e04e2158c044b4cd2f3ae26fc3a285d3798",
          "EndpointID": "423198ed568efa36699c5f13289c46230580a0ad6453d9e726f5e3cf1a911f77",
          "Gateway": "172.19.0.1", "IPAddress": "172.19.0.3", "IPPrefixLen": 16,
          "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
          "MacAddress": "02:42:ac:13:00:03", "DriverOpts": null
        }
      }
    },
    "Mounts": []
  },
  {
    "Id": "54ed6cc5c0988260436cb0e739b7b6c9cad6c439a93b4c4fdbe9753e1c94b189",
    "Names": ["/dockersd_host_networking_1"],
    "Image": "httpd",
    "ImageID": "sha256:73b8cfec11558fe86f565b4357f6d6c8560f4c49a5f15ae970a24da86c9adc93",
    "Command": "httpd-foreground",
    "Created": 1627440494,
    "Ports": [],
    "Labels": {
      "com.docker.compose.project": "dockersd",
      "com.docker.compose.service": "host_networking",
      "com.docker.compose.version": "1.25.0"
    },
    "State": "running",
    "Status": "Up 3 minutes",
    "HostConfig": { "NetworkMode": "host" },
    "NetworkSettings": {
      "Networks": {
        "host": {
          "IPAMConfig": null, "Links": null, "Aliases": null,
          "NetworkID": "80c4459fa193c5c8b57e90e117d2f899d1a86708e548738149d62e03df0ec35c",
          "EndpointID": "e9bea4c499c34bd41609b0e1e9b38f9964c69180c1a22130f28b6af802c156d8",
          "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
          "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
          "MacAddress": "", "DriverOpts": null
        }
      }
    },
    "Mounts": []
  },
  {
    "Id": "f9ade4b83199d6f83020b7c0bfd1e8281b19dbf9e6cef2cf89bc45c8f8d20fe8",
    "Names": ["/dockersd_mysql"],
    "Image": "mysql:5.7.29",
    "ImageID": "sha256:5d9483f9a7b21c87e0f5b9776c3e06567603c28c0062013eda127c968175f5e8",
    "Command": "mysqld",
    "Created": 1616273136,
    "Ports": [{"PrivatePort": 3306, "Type": "tcp"}, {"PrivatePort": 33060, "Type": "tcp"}],
    "Labels": {
      "com.docker.compose.project": "dockersd",
      "com.docker.compose.service": "mysql",
      "com.docker.compose.version": "2.2.2"
    },
    "State": "running",
    "Status": "Up 40 seconds",
    "HostConfig": {"NetworkMode": "dockersd_private"},
    "NetworkSettings": {
      "Networks": {
        "dockersd_private": {
          "IPAMConfig": null, "Links": null, "Aliases": null,
          "NetworkID": "e804771e55254a360fdb70dfdd78d3610fdde231b14ef2f837a00ac1eeb9e601",
          "EndpointID": "80f8a61b37701a9991bb98c75ddd23fd9b7c16b5575ca81343f6b44ff4a2a9d9",
          "Gateway": "172.20.0.1", "IPAddress": "172.20.0.2", "IPPrefixLen": 16,
          "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
          "MacAddress": "02:42:ac:14:00:0a", "DriverOpts": null
        },
        "dockersd_private1": {
          "IPAMConfig": {}, "Links": null, "Aliases": ["mysql", "mysql", "f9ade4b83199"],
          "NetworkID": "bfcf66a6b64f7d518f009e34290dc3f3c66a08164257ad1afc3bd31d75f656e8",
          "EndpointID": "f80921d10e78c99a5907705aae75befea40c3d3e9f820e66ab392f7274be16b8",
          "Gateway": "172.21.0.1", "IPAddress": "172.21.0.2", "IPPrefixLen": 24,
          "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
          "MacAddress": "02:42:ac:15:00:02", "DriverOpts": null
        }
      }
    },
    "Mounts": []
  },
  {
    "Id": "59bf76e8816af98856b90dd619c91027145ca501043b1c51756d03b085882e06",
    "Names": ["/dockersd_mysql_exporter"],
    "Image": "prom/mysqld-exporter:latest",
    "ImageID": "sha256:121b8a7cd0525dd89aaec58ad7d34c3bb3714740e5a67daf6510ccf71ab219a9",
    "Command": "/bin/mysqld_exporter",
    "Created": 1616273136,
    "Ports": [{"PrivatePort": 9104, "Type": "tcp"}],
    "Labels": {
      "com.docker.compose.project": "dockersd",
      "com.docker.compose.service": "mysqlexporter",
      "com.docker.compose.version": "2.2.2",
      "maintainer": "The Prometheus Authors <prometheus-developers@googlegroups.com>"
    },
    "State": "running",
    "Status": "Up 40 seconds",
    "HostConfig": {"NetworkMode": "container:f9ade4b83199d6f83020b7c0bfd1e8281b19dbf9e6cef2cf89bc45c8f8d20fe8"},
    "NetworkSettings": {"Networks": {}},
    "Mounts": []
  },
  {
    "Id": "f84b2a0cfaa58d9e70b0657e2b3c6f44f0e973de4163a871299b4acf127b224f",
    "Names": ["/dockersd_multi_networks"],
    "Image": "mysql:5.7.29",
    "ImageID": "sha256:16ae2f4625ba63a250462bedeece422e741de9f0caf3b1d89fd5b257aca80cd1",
    "Command": "mysqld",
    "Created": 1616273136,
    "Ports": [{"PrivatePort": 3306, "Type": "tcp"}, {"PrivatePort": 33060, "Type": "tcp"}],
    "Labels": {
      "com.docker.compose.project": "dockersd",
      "com.docker.compose.service": "mysql",
      "com.docker.compose.version": "2.2.2"
    },
    "State": "running",
    "Status": "Up 40 seconds",
    "HostConfig": {"NetworkMode": "dockersd_private_none"},
    "NetworkSettings": {
      "Networks": {
        "dockersd_private": {
          "IPAMConfig": null, "Links": null, "Aliases": null,
          "NetworkID": "e804771e55254a360fdb70dfdd78d3610fdde231b14ef2f837a00ac1eeb9e601",
          "EndpointID": "972d6807997369605ace863af58de6cb90c787a5bf2ffc4105662d393ae539b7",
          "Gateway": "172.20.0.1", "IPAddress": "172.20.0.3", "IPPrefixLen": 16,
          "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
          "MacAddress": "02:42:ac:14:00:02", "DriverOpts": null
        },
        "dockersd_private1": {
          "IPAMConfig": {}, "Links": null, "Aliases": ["mysql", "mysql", "f9ade4b83199"],
          "NetworkID": "bfcf66a6b64f7d518f009e34290dc3f3c66a08164257ad1afc3bd31d75f656e8",
          "EndpointID": "91a98405344ee1cb7d977cafabe634837876651544b32da20a5e0155868e6f5f",
          "Gateway": "172.21.0.1", "IPAddress": "172.21.0.3", "IPPrefixLen": 24,
          "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
          "MacAddress": "02:42:ac:15:00:02", "DriverOpts": null
        }
      }
    },
    "Mounts": []
  }
]"#;

/// upstream testdata/dockerprom/networks.json (the networks the containers use; the host
/// network's id differs from the host container's endpoint, as upstream's does).
const NETWORKS: &str = r#"[
  {
    "Name": "host",
    "Id": "50e3f3df9b82eb4a9912d730e431378e7f9e297ce5c524089bfea183201b20a6",
    "Created": "2018-03-22T02:44:55.903299699+01:00",
    "Scope": "local", "Driver": "host", "EnableIPv6": false,
    "IPAM": {"Driver": "default", "Options": null, "Config": []},
    "Internal": false, "Attachable": false, "Ingress": false,
    "ConfigFrom": {"Network": ""}, "ConfigOnly": false,
    "Containers": {}, "Options": {}, "Labels": {}
  },
  {
    "Name": "bridge",
    "Id": "03c5e4fd4ca3b43384b4ee088369251071dc455b4e1783af8de5031e493a4920",
    "Created": "2021-03-20T21:19:50.639982673+01:00",
    "Scope": "local", "Driver": "bridge", "EnableIPv6": false,
    "IPAM": {"Driver": "default", "Options": null,
             "Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]},
    "Internal": false, "Attachable": false, "Ingress": false,
    "ConfigFrom": {"Network": ""}, "ConfigOnly": false, "Containers": {},
    "Options": {"com.docker.network.bridge.default_bridge": "true",
                "com.docker.network.bridge.name": "docker0"},
    "Labels": {}
  },
  {
    "Name": "dockersd_default",
    "Id": "7189986ab399e144e52a71b7451b4e04e2158c044b4cd2f3ae26fc3a285d3798",
    "Created": "2021-03-20T21:45:36.392538652+01:00",
    "Scope": "local", "Driver": "bridge", "EnableIPv6": false,
    "IPAM": {"Driver": "default", "Options": null,
             "Config": [{"Subnet": "172.19.0.0/16", "Gateway": "172.19.0.1"}]},
    "Internal": false, "Attachable": true, "Ingress": false,
    "ConfigFrom": {"Network": ""}, "ConfigOnly": false, "Containers": {}, "Options": {},
    "Labels": {
      "com.docker.compose.network": "default",
      "com.docker.compose.project": "dockersd",
      "com.docker.compose.version": "1.25.0"
    }
  },
  {
    "Name": "dockersd_private",
    "Id": "e804771e55254a360fdb70dfdd78d3610fdde231b14ef2f837a00ac1eeb9e601",
    "Created": "2022-03-25T09:21:17.718370976+08:00",
    "Scope": "local", "Driver": "bridge", "EnableIPv6": false,
    "IPAM": {"Driver": "default", "Options": null,
             "Config": [{"Subnet": "172.20.0.1/16"}]},
    "Internal": false, "Attachable": false, "Ingress": false,
    "ConfigFrom": {"Network": ""}, "ConfigOnly": false, "Containers": {}, "Options": {},
    "Labels": {}
  },
  {
    "Name": "dockersd_private1",
    "Id": "bfcf66a6b64f7d518f009e34290dc3f3c66a08164257ad1afc3bd31d75f656e8",
    "Created": "2022-03-25T09:21:17.718370976+08:00",
    "Scope": "local", "Driver": "bridge", "EnableIPv6": false,
    "IPAM": {"Driver": "default", "Options": null,
             "Config": [{"Subnet": "172.21.0.1/16"}]},
    "Internal": false, "Attachable": false, "Ingress": false,
    "ConfigFrom": {"Network": ""}, "ConfigOnly": false, "Containers": {}, "Options": {},
    "Labels": {}
  },
  {
    "Name": "none",
    "Id": "4f77bf4a633f2ad042177e4d55852c85acc59e71bea90129908371a747624a7c",
    "Created": "2018-03-22T02:44:55.859947227+01:00",
    "Scope": "local", "Driver": "null", "EnableIPv6": false,
    "IPAM": {"Driver": "default", "Options": null, "Config": []},
    "Internal": false, "Attachable": false, "Ingress": false,
    "ConfigFrom": {"Network": ""}, "ConfigOnly": false, "Containers": {}, "Options": {},
    "Labels": {}
  }
]"#;

/// upstream testdata/dockeripv6/containers/json.json
const IPV6_CONTAINERS: &str = r#"[
  {
    "Id": "d43780927f21e5c56cc823545ddd546ac01cbcdd3d4d69104d01d4217e2361aa",
    "Names": ["/web-server"],
    "HostConfig": {"NetworkMode": "mynetwork"},
    "Labels": {},
    "Ports": [{"PrivatePort": 80, "Type": "tcp"}],
    "NetworkSettings": {
      "Networks": {
        "mynetwork": {
          "NetworkID": "03e01a4a093e66fe982403a640451f31860aa41026d9cdda213e081dd406b1e5",
          "IPAddress": "", "IPPrefixLen": 0, "Gateway": "",
          "GlobalIPv6Address": "fc00::2", "GlobalIPv6PrefixLen": 64,
          "IPv6Gateway": "fc00::1", "MacAddress": "e6:8d:01:e6:b3:b1"
        }
      }
    }
  }
]"#;

/// upstream testdata/dockeripv6/networks.json (its one network)
const IPV6_NETWORKS: &str = r#"[
  {
    "Name": "mynetwork",
    "Id": "03e01a4a093e66fe982403a640451f31860aa41026d9cdda213e081dd406b1e5",
    "Scope": "local", "Driver": "bridge", "EnableIPv6": true,
    "Internal": false, "Attachable": false, "Ingress": false, "Labels": {}
  }
]"#;

/// upstream testdata/nomad_consul_connect/containers/json.json
const NO_NETWORK_CONTAINERS: &str = r#"[
  {
    "Id": "f5a1207ad17d3ce586a4ea34f3ed0cd5ddfc56aa2289766e3334fa5157fdb7bc",
    "Names": ["/frontend-9f19aeb5-ceff-1a87-809d-87ef8e83b828"],
    "Image": "phashicorpnomad/uuid-fe:v5",
    "ImageID": "sha256:31775c6c1948dc3651399b71dce313ea07e28d1c7c2fab732472af5447fb9d2f",
    "Command": "/opt/uuid-fe",
    "Created": 1707577830,
    "Ports": [{"PrivatePort": 8080, "Type": "tcp"}],
    "Labels": {},
    "State": "running",
    "Status": "Up 5 minutes",
    "HostConfig": {"NetworkMode": ""},
    "NetworkSettings": {"Networks": {}},
    "Mounts": []
  }
]"#;

/// A fake daemon speaking API 1.40 (upstream's headers.yml) with these payloads.
fn daemon(containers: &'static str, networks: &'static str) -> impl Fn(&Seen) -> Reply {
    move |seen: &Seen| {
        let path = seen.uri.split('?').next().unwrap_or_default();
        let reply = match path {
            "/_ping" => Reply::status(200, "OK"),
            "/v1.40/containers/json" => Reply::json(containers),
            "/v1.40/networks" => Reply::json(networks),
            _ => Reply::json(r#"{"message": "page not found"}"#),
        };
        reply
            .header("Api-Version", "1.40")
            .header("Ostype", "linux")
            .header("Server", "Docker/19.03.5-ce (linux)")
    }
}

fn discovery(host: &str, extra: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  docker_sd_configs:\n  - host: '{host}'\n{extra}"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Docker(c) => Discovery::new(c).unwrap(),
        other => panic!("{other:?}"),
    }
}

/// Label sets sorted by address (upstream's `sortFunc`).
fn sorted(mut targets: Vec<Labels>) -> Vec<Labels> {
    targets.sort_by(|a, b| a.get("__address__").cmp(&b.get("__address__")));
    targets
}

fn set(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

const NODE_ID: &str = "c301b928faceb1a18fe379f6bc178727ef920bb30b0f9b8592b32b36255a0eca";
const MAINTAINER: &str = "The Prometheus Authors <prometheus-developers@googlegroups.com>";
const DEFAULT_NET: &str = "7189986ab399e144e52a71b7451b4e04e2158c044b4cd2f3ae26fc3a285d3798";
const PRIVATE_NET: &str = "e804771e55254a360fdb70dfdd78d3610fdde231b14ef2f837a00ac1eeb9e601";
const PRIVATE1_NET: &str = "bfcf66a6b64f7d518f009e34290dc3f3c66a08164257ad1afc3bd31d75f656e8";
const MYSQL_ID: &str = "f9ade4b83199d6f83020b7c0bfd1e8281b19dbf9e6cef2cf89bc45c8f8d20fe8";
const MYSQL_IMAGE_ID: &str =
    "sha256:5d9483f9a7b21c87e0f5b9776c3e06567603c28c0062013eda127c968175f5e8";
const MULTI_ID: &str = "f84b2a0cfaa58d9e70b0657e2b3c6f44f0e973de4163a871299b4acf127b224f";
const MULTI_IMAGE_ID: &str =
    "sha256:16ae2f4625ba63a250462bedeece422e741de9f0caf3b1d89fd5b257aca80cd1";
const NODE_IMAGE_ID: &str =
    "sha256:c19ae228f0699185488b6a1c0debb9c6b79672181356ad455c9a7924a41a01bb";

/// A target on a dockersd_private or dockersd_private1 network (upstream's expected sets).
fn private_target(
    container: (&str, &str, &str, &str, &str),
    net: (&str, &str),
    ip: &str,
    port: &str,
) -> Labels {
    let (id, name, image, image_id, mode) = container;
    let address = format!("{ip}:{port}");
    let mut pairs = vec![
        ("__address__", address.as_str()),
        ("__meta_docker_container_id", id),
        ("__meta_docker_container_image", image),
        ("__meta_docker_container_image_id", image_id),
        (
            "__meta_docker_container_label_com_docker_compose_project",
            "dockersd",
        ),
        (
            "__meta_docker_container_label_com_docker_compose_version",
            "2.2.2",
        ),
        ("__meta_docker_container_name", name),
        ("__meta_docker_container_network_mode", mode),
        ("__meta_docker_network_id", net.0),
        ("__meta_docker_network_ingress", "false"),
        ("__meta_docker_network_internal", "false"),
        ("__meta_docker_network_ip", ip),
        ("__meta_docker_network_name", net.1),
        ("__meta_docker_network_scope", "local"),
        ("__meta_docker_port_private", port),
    ];
    if name == "/dockersd_mysql_exporter" {
        pairs.push((
            "__meta_docker_container_label_com_docker_compose_service",
            "mysqlexporter",
        ));
        pairs.push(("__meta_docker_container_label_maintainer", MAINTAINER));
    } else {
        pairs.push((
            "__meta_docker_container_label_com_docker_compose_service",
            "mysql",
        ));
    }
    set(&pairs)
}

const MYSQL: (&str, &str, &str, &str, &str) = (
    MYSQL_ID,
    "/dockersd_mysql",
    "mysql:5.7.29",
    MYSQL_IMAGE_ID,
    "dockersd_private",
);
const EXPORTER: (&str, &str, &str, &str, &str) = (
    "59bf76e8816af98856b90dd619c91027145ca501043b1c51756d03b085882e06",
    "/dockersd_mysql_exporter",
    "prom/mysqld-exporter:latest",
    "sha256:121b8a7cd0525dd89aaec58ad7d34c3bb3714740e5a67daf6510ccf71ab219a9",
    "container:f9ade4b83199d6f83020b7c0bfd1e8281b19dbf9e6cef2cf89bc45c8f8d20fe8",
);
const MULTI: (&str, &str, &str, &str, &str) = (
    MULTI_ID,
    "/dockersd_multi_networks",
    "mysql:5.7.29",
    MULTI_IMAGE_ID,
    "dockersd_private_none",
);
const PRIVATE: (&str, &str) = (PRIVATE_NET, "dockersd_private");
const PRIVATE1: (&str, &str) = (PRIVATE1_NET, "dockersd_private1");

/// The targets on dockersd_default and the host network, which do not depend on
/// `match_first_network`.
fn default_network_targets() -> Vec<Labels> {
    let node_common = |service: &str, name: &str, ip: &str| {
        vec![
            ("__meta_docker_container_id", NODE_ID.to_owned()),
            (
                "__meta_docker_container_image",
                "prom/node-exporter:v1.1.2".to_owned(),
            ),
            ("__meta_docker_container_image_id", NODE_IMAGE_ID.to_owned()),
            (
                "__meta_docker_container_label_com_docker_compose_project",
                "dockersd".into(),
            ),
            (
                "__meta_docker_container_label_com_docker_compose_service",
                service.into(),
            ),
            (
                "__meta_docker_container_label_com_docker_compose_version",
                "1.25.0".into(),
            ),
            (
                "__meta_docker_container_label_maintainer",
                MAINTAINER.into(),
            ),
            (
                "__meta_docker_container_label_prometheus_job",
                service.into(),
            ),
            ("__meta_docker_container_name", name.into()),
            (
                "__meta_docker_container_network_mode",
                "dockersd_default".into(),
            ),
            ("__meta_docker_network_id", DEFAULT_NET.into()),
            ("__meta_docker_network_ingress", "false".into()),
            ("__meta_docker_network_internal", "false".into()),
            ("__meta_docker_network_ip", ip.into()),
            (
                "__meta_docker_network_label_com_docker_compose_network",
                "default".into(),
            ),
            (
                "__meta_docker_network_label_com_docker_compose_project",
                "dockersd".into(),
            ),
            (
                "__meta_docker_network_label_com_docker_compose_version",
                "1.25.0".into(),
            ),
            ("__meta_docker_network_name", "dockersd_default".into()),
            ("__meta_docker_network_scope", "local".into()),
        ]
    };
    let mut node = node_common("node", "/dockersd_node_1", "172.19.0.2");
    node.push(("__address__", "172.19.0.2:9100".into()));
    node.push(("__meta_docker_port_private", "9100".into()));
    let mut noport = node_common("noport", "/dockersd_noport_1", "172.19.0.3");
    noport.push(("__address__", "172.19.0.3:80".into()));
    let host = set(&[
        ("__address__", "localhost"),
        (
            "__meta_docker_container_id",
            "54ed6cc5c0988260436cb0e739b7b6c9cad6c439a93b4c4fdbe9753e1c94b189",
        ),
        ("__meta_docker_container_image", "httpd"),
        (
            "__meta_docker_container_image_id",
            "sha256:73b8cfec11558fe86f565b4357f6d6c8560f4c49a5f15ae970a24da86c9adc93",
        ),
        (
            "__meta_docker_container_label_com_docker_compose_project",
            "dockersd",
        ),
        (
            "__meta_docker_container_label_com_docker_compose_service",
            "host_networking",
        ),
        (
            "__meta_docker_container_label_com_docker_compose_version",
            "1.25.0",
        ),
        (
            "__meta_docker_container_name",
            "/dockersd_host_networking_1",
        ),
        ("__meta_docker_container_network_mode", "host"),
        ("__meta_docker_network_ip", ""),
    ]);
    vec![
        Labels::from_pairs(node.iter().map(|(k, v)| (*k, v.as_str()))),
        Labels::from_pairs(noport.iter().map(|(k, v)| (*k, v.as_str()))),
        host,
    ]
}

#[tokio::test]
async fn refresh_gives_upstreams_targets_on_the_first_network() {
    // Upstream's TestDockerSDRefresh.
    let api = FakeApi::start(daemon(CONTAINERS, NETWORKS)).await;
    let d = discovery(&format!("http://{}", api.addr), "");
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "Docker");
    assert!(groups[0].labels.is_empty());
    let mut expected = default_network_targets();
    expected.extend([
        private_target(MYSQL, PRIVATE, "172.20.0.2", "3306"),
        private_target(MYSQL, PRIVATE, "172.20.0.2", "33060"),
        private_target(EXPORTER, PRIVATE, "172.20.0.2", "9104"),
        private_target(MULTI, PRIVATE, "172.20.0.3", "3306"),
        private_target(MULTI, PRIVATE, "172.20.0.3", "33060"),
    ]);
    let got = sorted(groups[0].targets.clone());
    let expected = sorted(expected);
    assert_eq!(got.len(), 8);
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e);
    }
    let uris: Vec<String> = api.seen().into_iter().map(|s| s.uri).collect();
    assert_eq!(
        uris,
        ["/_ping", "/v1.40/containers/json", "/v1.40/networks"]
    );
}

#[tokio::test]
async fn all_networks_without_match_first_network() {
    // Upstream's TestDockerSDRefreshMatchAllNetworks.
    let api = FakeApi::start(daemon(CONTAINERS, NETWORKS)).await;
    let d = discovery(
        &format!("http://{}", api.addr),
        "    match_first_network: false\n",
    );
    let groups = d.refresh().await.unwrap();
    let mut expected = default_network_targets();
    expected.extend([
        private_target(MYSQL, PRIVATE, "172.20.0.2", "3306"),
        private_target(MYSQL, PRIVATE, "172.20.0.2", "33060"),
        private_target(MYSQL, PRIVATE1, "172.21.0.2", "3306"),
        private_target(MYSQL, PRIVATE1, "172.21.0.2", "33060"),
        private_target(EXPORTER, PRIVATE, "172.20.0.2", "9104"),
        private_target(EXPORTER, PRIVATE1, "172.21.0.2", "9104"),
        private_target(MULTI, PRIVATE, "172.20.0.3", "3306"),
        private_target(MULTI, PRIVATE, "172.20.0.3", "33060"),
        private_target(MULTI, PRIVATE1, "172.21.0.3", "3306"),
        private_target(MULTI, PRIVATE1, "172.21.0.3", "33060"),
    ]);
    let got = sorted(groups[0].targets.clone());
    let expected = sorted(expected);
    assert_eq!(got.len(), 13);
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e);
    }
}

#[tokio::test]
async fn ipv6_only_networks_use_the_global_ipv6_address() {
    // Upstream's TestDockerSDRefreshIPv6Only.
    let api = FakeApi::start(daemon(IPV6_CONTAINERS, IPV6_NETWORKS)).await;
    let d = discovery(&format!("http://{}", api.addr), "");
    let groups = d.refresh().await.unwrap();
    assert_eq!(
        groups[0].targets,
        [set(&[
            ("__address__", "[fc00::2]:80"),
            (
                "__meta_docker_container_id",
                "d43780927f21e5c56cc823545ddd546ac01cbcdd3d4d69104d01d4217e2361aa"
            ),
            ("__meta_docker_container_name", "/web-server"),
            ("__meta_docker_container_network_mode", "mynetwork"),
            (
                "__meta_docker_network_id",
                "03e01a4a093e66fe982403a640451f31860aa41026d9cdda213e081dd406b1e5"
            ),
            ("__meta_docker_network_ingress", "false"),
            ("__meta_docker_network_internal", "false"),
            ("__meta_docker_network_ip", "fc00::2"),
            ("__meta_docker_network_name", "mynetwork"),
            ("__meta_docker_network_scope", "local"),
            ("__meta_docker_port_private", "80"),
        ])]
    );
}

#[tokio::test]
async fn containers_without_networks_only_with_include_no_network_targets() {
    // Upstream's TestDockerSDIncludeNoNetworkOption.
    let api = FakeApi::start(daemon(NO_NETWORK_CONTAINERS, "[]")).await;
    let d = discovery(&format!("http://{}", api.addr), "");
    assert!(d.refresh().await.unwrap()[0].targets.is_empty());
    let d = discovery(
        &format!("http://{}", api.addr),
        "    include_no_network_targets: true\n",
    );
    assert_eq!(
        d.refresh().await.unwrap()[0].targets,
        [set(&[
            (
                "__meta_docker_container_id",
                "f5a1207ad17d3ce586a4ea34f3ed0cd5ddfc56aa2289766e3334fa5157fdb7bc"
            ),
            (
                "__meta_docker_container_image",
                "phashicorpnomad/uuid-fe:v5"
            ),
            (
                "__meta_docker_container_image_id",
                "sha256:31775c6c1948dc3651399b71dce313ea07e28d1c7c2fab732472af5447fb9d2f"
            ),
            (
                "__meta_docker_container_name",
                "/frontend-9f19aeb5-ceff-1a87-809d-87ef8e83b828"
            ),
            ("__meta_docker_container_network_mode", ""),
        ])]
    );
}

#[tokio::test]
async fn filters_public_ports_fallback_port_and_daemon_errors() {
    let containers = r#"[{
        "Id": "abc", "Names": ["/web", "/alias"], "Image": "nginx", "ImageID": "sha256:1",
        "Ports": [
            {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
            {"PrivatePort": 53, "Type": "udp"}
        ],
        "Labels": {"a.b": "c"},
        "HostConfig": {"NetworkMode": "bridge"},
        "NetworkSettings": {"Networks": {"bridge": {"NetworkID": "n1", "IPAddress": "172.17.0.5"}}}
    }, {
        "Id": "udp", "Names": ["/dns"], "Ports": [{"PrivatePort": 53, "Type": "udp"}],
        "HostConfig": {"NetworkMode": "bridge"},
        "NetworkSettings": {"Networks": {"bridge": {"NetworkID": "n1", "IPAddress": "172.17.0.6"}}}
    }, {
        "Id": "nameless", "Names": [], "HostConfig": {"NetworkMode": "bridge"},
        "NetworkSettings": {"Networks": {"bridge": {"NetworkID": "n1", "IPAddress": "172.17.0.7"}}}
    }]"#;
    let networks = r#"[{"Name": "bridge", "Id": "n1", "Scope": "local", "Internal": true,
        "Ingress": false, "Labels": {"x-y": "z"}}]"#;
    // A daemon that names no API version speaks 1.24.
    let api =
        FakeApi::start(
            move |seen: &Seen| match seen.uri.split('?').next().unwrap_or_default() {
                "/_ping" => Reply::status(200, "OK"),
                "/v1.24/containers/json" => Reply::json(containers),
                "/v1.24/networks" => Reply::json(networks),
                _ => Reply::status(404, "{\"message\": \"page not found\"}"),
            },
        )
        .await;
    let d = discovery(
        &format!("http://{}", api.addr),
        "    port: 9999\n    filters: [{name: label, values: ['a=b']}, {name: status, values: [running, paused]}]\n",
    );
    let groups = d.refresh().await.unwrap();
    let targets = sorted(groups[0].targets.clone());
    assert_eq!(targets.len(), 2);
    assert_eq!(
        targets[0].to_string(),
        concat!(
            r#"{__address__="172.17.0.5:80", __meta_docker_container_id="abc", "#,
            r#"__meta_docker_container_image="nginx", __meta_docker_container_image_id="sha256:1", "#,
            r#"__meta_docker_container_label_a_b="c", __meta_docker_container_name="/web", "#,
            r#"__meta_docker_container_network_mode="bridge", __meta_docker_network_id="n1", "#,
            r#"__meta_docker_network_ingress="false", __meta_docker_network_internal="true", "#,
            r#"__meta_docker_network_ip="172.17.0.5", __meta_docker_network_label_x_y="z", "#,
            r#"__meta_docker_network_name="bridge", __meta_docker_network_scope="local", "#,
            r#"__meta_docker_port_private="80", __meta_docker_port_public="8080", "#,
            r#"__meta_docker_port_public_ip="0.0.0.0"}"#
        )
    );
    // Only a UDP port: the fallback port.
    assert_eq!(targets[1].get("__address__"), Some("172.17.0.6:9999"));
    assert_eq!(targets[1].get("__meta_docker_port_private"), None);

    let list = &api.seen()[1].uri;
    let (path, query) = list.split_once('?').unwrap();
    assert_eq!(path, "/v1.24/containers/json");
    let filters = query.strip_prefix("filters=").unwrap();
    let decoded: String = url::form_urlencoded::parse(format!("f={filters}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    assert_eq!(
        decoded,
        r#"{"label":{"a=b":true},"status":{"paused":true,"running":true}}"#
    );

    api.set(|seen: &Seen| match seen.uri.as_str() {
        "/_ping" => Reply::status(200, "OK"),
        _ => Reply::status(500, r#"{"message": "boom"}"#),
    });
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "error while listing containers: Error response from daemon: boom"
    );
}

#[tokio::test]
async fn the_api_version_is_the_lower_of_the_daemons_and_ours() {
    let api = FakeApi::start(|seen: &Seen| match seen.uri.as_str() {
        "/_ping" => Reply::status(200, "OK").header("Api-Version", "1.99"),
        "/v1.47/containers/json" | "/v1.47/networks" => Reply::json("[]"),
        _ => Reply::status(404, "{\"message\": \"page not found\"}"),
    })
    .await;
    let d = discovery(&format!("http://{}", api.addr), "");
    d.refresh().await.unwrap();
    d.refresh().await.unwrap();
    let uris: Vec<String> = api.seen().into_iter().map(|s| s.uri).collect();
    // Negotiated once.
    assert_eq!(
        uris,
        [
            "/_ping",
            "/v1.47/containers/json",
            "/v1.47/networks",
            "/v1.47/containers/json",
            "/v1.47/networks"
        ]
    );
    assert!(version_less("1.9", "1.40"));
    assert!(!version_less("1.47", "1.47"));
}

#[tokio::test]
async fn unix_sockets_are_spoken_to_directly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker.sock");
    let api = FakeApi::start_unix(&path, daemon(IPV6_CONTAINERS, IPV6_NETWORKS)).await;
    let d = discovery(&format!("unix://{}", path.display()), "");
    let groups = d.refresh().await.unwrap();
    assert_eq!(
        groups[0].targets[0].get("__address__"),
        Some("[fc00::2]:80")
    );
    assert!(api.seen().iter().all(|s| s.headers["host"] == UNIX_HOST));
    drop(api);

    let gone = discovery(&format!("unix://{}/nothing.sock", dir.path().display()), "");
    let err = gone.refresh().await.unwrap_err();
    assert!(
        err.starts_with("error while listing containers: Get "),
        "{err}"
    );
}

#[test]
fn hosts_with_unknown_schemes_are_refused() {
    let cfg = DockerSdConfig {
        host: "ftp://localhost".into(),
        ..Default::default()
    };
    assert_eq!(
        Discovery::new(&cfg).unwrap_err(),
        "protocol not available: ftp"
    );
}
