//! Docker Swarm service discovery (`dockerswarm_sd_configs`), as Prometheus's
//! `discovery/moby/{dockerswarm,services,tasks,nodes}.go`: every `refresh_interval` the
//! swarm's services, tasks or nodes (by `role`) through the same Engine API client as
//! docker_sd ([`crate::docker::Api`]), one group (source `DockerSwarm`).
//!
//! - `services`: a target per virtual IP and published TCP port (or the fallback `port`),
//!   labelled `__meta_dockerswarm_service_*` and the VIP's `__meta_dockerswarm_network_*`.
//! - `tasks`: a target per published host-mode port (on the node's address) and per
//!   network attachment address and service TCP port (or the fallback `port`), labelled
//!   `__meta_dockerswarm_task_*`, `__meta_dockerswarm_container_label_*` (container
//!   inspection, then the task's container spec), the service's and the node's labels and
//!   the network's.
//! - `nodes`: a target per node, `<address>:<port>`, labelled `__meta_dockerswarm_node_*`.

use std::collections::{BTreeMap, HashMap};

use config::discovery::DockerSwarmSdConfig;
use model::{Labels, TargetGroup};

use crate::docker::{Api, Network, filters_param, network_labels};
use crate::util::{join_host_port, sanitize};

const PREFIX: &str = "__meta_dockerswarm_";

type Set = BTreeMap<String, String>;

/// Which objects become targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Services,
    Tasks,
    Nodes,
}

/// One dockerswarm_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    api: Api,
    role: Role,
    port: u16,
    /// The `filters` query parameter (JSON), empty without filters.
    filters: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Service {
    #[serde(rename = "ID")]
    id: String,
    spec: ServiceSpec,
    update_status: Option<UpdateStatus>,
    endpoint: Endpoint,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ServiceSpec {
    name: String,
    labels: Option<BTreeMap<String, String>>,
    task_template: TaskTemplate,
    mode: ServiceMode,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct TaskTemplate {
    container_spec: Option<ContainerSpec>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ContainerSpec {
    image: String,
    hostname: String,
    labels: Option<BTreeMap<String, String>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ServiceMode {
    global: Option<serde_json::Value>,
    replicated: Option<serde_json::Value>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct UpdateStatus {
    state: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Endpoint {
    ports: Option<Vec<PortConfig>>,
    #[serde(rename = "VirtualIPs")]
    virtual_ips: Option<Vec<VirtualIp>>,
}

#[derive(serde::Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
struct PortConfig {
    name: String,
    protocol: String,
    published_port: u32,
    publish_mode: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct VirtualIp {
    #[serde(rename = "NetworkID")]
    network_id: String,
    addr: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Task {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "ServiceID")]
    service_id: String,
    #[serde(rename = "NodeID")]
    node_id: String,
    slot: i64,
    desired_state: String,
    status: TaskStatus,
    spec: TaskSpec,
    networks_attachments: Option<Vec<NetworkAttachment>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct TaskStatus {
    state: String,
    container_status: Option<ContainerStatus>,
    port_status: PortStatus,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ContainerStatus {
    #[serde(rename = "ContainerID")]
    container_id: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct PortStatus {
    ports: Option<Vec<PortConfig>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct TaskSpec {
    container_spec: Option<ContainerSpec>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct NetworkAttachment {
    network: AttachedNetwork,
    addresses: Option<Vec<String>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct AttachedNetwork {
    #[serde(rename = "ID")]
    id: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Node {
    #[serde(rename = "ID")]
    id: String,
    spec: NodeSpec,
    description: NodeDescription,
    status: NodeStatus,
    manager_status: Option<ManagerStatus>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct NodeSpec {
    labels: Option<BTreeMap<String, String>>,
    role: String,
    availability: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct NodeDescription {
    hostname: String,
    platform: Platform,
    engine: Engine,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Platform {
    architecture: String,
    #[serde(rename = "OS")]
    os: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Engine {
    engine_version: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct NodeStatus {
    state: String,
    addr: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ManagerStatus {
    leader: bool,
    reachability: String,
    addr: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ContainerInspect {
    config: Option<ContainerConfig>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ContainerConfig {
    labels: Option<BTreeMap<String, String>>,
}

/// The address part of a CIDR (Go's `net.ParseCIDR`), as Go prints it.
fn parse_cidr(s: &str) -> Result<String, String> {
    let invalid = || format!("invalid CIDR address: {s}");
    let (ip, bits) = s.split_once('/').ok_or_else(invalid)?;
    let ip: std::net::IpAddr = ip.parse().map_err(|_| invalid())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    match bits.parse::<u32>() {
        Ok(b) if b <= max && !bits.starts_with('+') => Ok(ip.to_string()),
        _ => Err(invalid()),
    }
}

/// Go's `getServiceValueMode`.
fn service_mode(s: &Service) -> &'static str {
    if s.spec.mode.global.is_some() {
        "global"
    } else if s.spec.mode.replicated.is_some() {
        "replicated"
    } else {
        ""
    }
}

/// The labels every target of a service (or of its tasks) carries.
fn service_labels(s: &Service) -> Set {
    let mut set = Set::new();
    set.insert(format!("{PREFIX}service_id"), s.id.clone());
    set.insert(format!("{PREFIX}service_name"), s.spec.name.clone());
    set.insert(format!("{PREFIX}service_mode"), service_mode(s).to_owned());
    for (k, v) in s.spec.labels.iter().flatten() {
        set.insert(format!("{PREFIX}service_label_{}", sanitize(k)), v.clone());
    }
    set
}

/// The node labels task targets carry (Go's `getNodesLabels`).
fn node_labels(n: &Node) -> Set {
    let mut set = Set::new();
    set.insert(format!("{PREFIX}node_id"), n.id.clone());
    set.insert(format!("{PREFIX}node_role"), n.spec.role.clone());
    set.insert(format!("{PREFIX}node_address"), n.status.addr.clone());
    set.insert(
        format!("{PREFIX}node_availability"),
        n.spec.availability.clone(),
    );
    set.insert(
        format!("{PREFIX}node_hostname"),
        n.description.hostname.clone(),
    );
    set.insert(
        format!("{PREFIX}node_platform_architecture"),
        n.description.platform.architecture.clone(),
    );
    set.insert(
        format!("{PREFIX}node_platform_os"),
        n.description.platform.os.clone(),
    );
    set.insert(format!("{PREFIX}node_status"), n.status.state.clone());
    for (k, v) in n.spec.labels.iter().flatten() {
        set.insert(format!("{PREFIX}node_label_{}", sanitize(k)), v.clone());
    }
    set
}

fn target(mut set: Set, address: String) -> Labels {
    set.insert("__address__".into(), address);
    Labels::from_pairs(set)
}

impl Discovery {
    /// A provider for `cfg` (Go's `NewDiscovery`).
    ///
    /// # Errors
    /// A host with an unknown scheme, an unknown role, or unusable HTTP client options.
    pub(crate) fn new(cfg: &DockerSwarmSdConfig) -> Result<Discovery, String> {
        let role = match cfg.role.as_str() {
            "services" => Role::Services,
            "tasks" => Role::Tasks,
            "nodes" => Role::Nodes,
            other => {
                return Err(format!(
                    "invalid role {other}, expected tasks, services, or nodes"
                ));
            }
        };
        Ok(Discovery {
            api: Api::new(
                &cfg.host,
                &cfg.http_client_config,
                cfg.refresh_interval.to_std(),
                "dockerswarm_sd",
            )?,
            role,
            port: cfg.port,
            filters: filters_param(&cfg.filters),
        })
    }

    fn filter_params(&self) -> Vec<(String, String)> {
        if self.filters.is_empty() {
            Vec::new()
        } else {
            vec![("filters".to_owned(), self.filters.clone())]
        }
    }

    /// One refresh (Go's `refresh` for the role): the `DockerSwarm` group.
    ///
    /// # Errors
    /// A message when a listing fails or an address is not a CIDR; the caller keeps the
    /// last targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let targets = match self.role {
            Role::Services => self.services().await?,
            Role::Tasks => self.tasks().await?,
            Role::Nodes => self.nodes().await?,
        };
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: "DockerSwarm".to_owned(),
        }])
    }

    async fn networks(&self) -> Result<Vec<Network>, String> {
        self.api
            .get_json("/networks", &[])
            .await
            .map_err(|e| format!("error while computing swarm network labels: {e}"))
    }

    /// Go's `refreshServices`.
    async fn services(&self) -> Result<Vec<Labels>, String> {
        let services: Vec<Service> = self
            .api
            .get_json("/services", &self.filter_params())
            .await
            .map_err(|e| format!("error while listing swarm services: {e}"))?;
        let networks = self.networks().await?;
        let networks = network_labels(&networks, PREFIX);
        let mut out = Vec::new();
        for s in &services {
            let mut common = service_labels(s);
            let spec = s.spec.task_template.container_spec.as_ref();
            common.insert(
                format!("{PREFIX}service_task_container_hostname"),
                spec.map(|c| c.hostname.clone()).unwrap_or_default(),
            );
            common.insert(
                format!("{PREFIX}service_task_container_image"),
                spec.map(|c| c.image.clone()).unwrap_or_default(),
            );
            if let Some(u) = &s.update_status {
                common.insert(format!("{PREFIX}service_updating_status"), u.state.clone());
            }
            for vip in s.endpoint.virtual_ips.iter().flatten() {
                let ip = parse_cidr(&vip.addr)
                    .map_err(|e| format!("error while parsing address {}: {e}", vip.addr))?;
                let net = networks.get(vip.network_id.as_str());
                let mut added = false;
                for p in s
                    .endpoint
                    .ports
                    .iter()
                    .flatten()
                    .filter(|p| p.protocol == "tcp")
                {
                    let mut set = common.clone();
                    set.insert(
                        format!("{PREFIX}service_endpoint_port_name"),
                        p.name.clone(),
                    );
                    set.insert(
                        format!("{PREFIX}service_endpoint_port_publish_mode"),
                        p.publish_mode.clone(),
                    );
                    set.extend(
                        net.into_iter()
                            .flatten()
                            .map(|(k, v)| (k.clone(), v.clone())),
                    );
                    out.push(target(set, join_host_port(&ip, p.published_port)));
                    added = true;
                }
                if !added {
                    let mut set = common.clone();
                    set.extend(
                        net.into_iter()
                            .flatten()
                            .map(|(k, v)| (k.clone(), v.clone())),
                    );
                    out.push(target(set, join_host_port(&ip, self.port)));
                }
            }
        }
        Ok(out)
    }

    /// The container labels of the tasks' containers (Go's `getContainerLabels`); a
    /// container that cannot be inspected has none.
    async fn container_labels(&self, tasks: &[Task]) -> HashMap<String, Set> {
        let mut out: HashMap<String, Set> = HashMap::new();
        for t in tasks {
            let Some(cs) = &t.status.container_status else {
                continue;
            };
            if cs.container_id.is_empty() || out.contains_key(&cs.container_id) {
                continue;
            }
            let path = format!(
                "/containers/{}/json",
                model::strutil::query_escape(&cs.container_id)
            );
            let Ok(c) = self.api.get_json::<ContainerInspect>(&path, &[]).await else {
                continue;
            };
            let Some(config) = c.config else {
                continue;
            };
            let labels = config
                .labels
                .iter()
                .flatten()
                .map(|(k, v)| {
                    (
                        format!("{PREFIX}container_label_{}", sanitize(k)),
                        v.clone(),
                    )
                })
                .collect();
            out.insert(cs.container_id.clone(), labels);
        }
        out
    }

    /// Go's `refreshTasks`.
    async fn tasks(&self) -> Result<Vec<Labels>, String> {
        let tasks: Vec<Task> = self
            .api
            .get_json("/tasks", &self.filter_params())
            .await
            .map_err(|e| format!("error while listing swarm services: {e}"))?;
        let services: Vec<Service> = self
            .api
            .get_json("/services", &[])
            .await
            .map_err(|e| format!("error while computing services labels and ports: {e}"))?;
        let nodes: Vec<Node> = self.api.get_json("/nodes", &[]).await.map_err(|e| {
            format!(
                "error while computing nodes labels and ports: error while listing swarm nodes: {e}"
            )
        })?;
        let networks = self.networks().await?;
        let networks = network_labels(&networks, PREFIX);
        let service_labels: HashMap<&str, Set> = services
            .iter()
            .map(|s| (s.id.as_str(), service_labels(s)))
            .collect();
        let service_ports: HashMap<&str, &[PortConfig]> = services
            .iter()
            .map(|s| {
                (
                    s.id.as_str(),
                    s.endpoint.ports.as_deref().unwrap_or_default(),
                )
            })
            .collect();
        let node_labels: HashMap<&str, Set> = nodes
            .iter()
            .map(|n| (n.id.as_str(), node_labels(n)))
            .collect();
        let container_labels = self.container_labels(&tasks).await;

        let mut out = Vec::new();
        for t in &tasks {
            let mut common = Set::new();
            common.insert(format!("{PREFIX}task_id"), t.id.clone());
            common.insert(
                format!("{PREFIX}task_desired_state"),
                t.desired_state.clone(),
            );
            common.insert(format!("{PREFIX}task_state"), t.status.state.clone());
            common.insert(format!("{PREFIX}task_slot"), t.slot.to_string());
            if let Some(cs) = &t.status.container_status {
                common.insert(
                    format!("{PREFIX}task_container_id"),
                    cs.container_id.clone(),
                );
            }
            if let Some(spec) = &t.spec.container_spec {
                if let Some(cs) = &t.status.container_status
                    && let Some(labels) = container_labels.get(&cs.container_id)
                {
                    common.extend(labels.clone());
                }
                // The task's own container spec labels win over the image's.
                for (k, v) in spec.labels.iter().flatten() {
                    common.insert(
                        format!("{PREFIX}container_label_{}", sanitize(k)),
                        v.clone(),
                    );
                }
            }
            common.extend(
                service_labels
                    .get(t.service_id.as_str())
                    .cloned()
                    .unwrap_or_default(),
            );
            common.extend(
                node_labels
                    .get(t.node_id.as_str())
                    .cloned()
                    .unwrap_or_default(),
            );

            for p in t
                .status
                .port_status
                .ports
                .iter()
                .flatten()
                .filter(|p| p.protocol == "tcp")
            {
                let mut set = common.clone();
                set.insert(
                    format!("{PREFIX}task_port_publish_mode"),
                    p.publish_mode.clone(),
                );
                let node_address = set
                    .get(&format!("{PREFIX}node_address"))
                    .cloned()
                    .unwrap_or_default();
                out.push(target(set, join_host_port(&node_address, p.published_port)));
            }

            for attachment in t.networks_attachments.iter().flatten() {
                let net = networks.get(attachment.network.id.as_str());
                for address in attachment.addresses.iter().flatten() {
                    let ip = parse_cidr(address)
                        .map_err(|e| format!("error while parsing address {address}: {e}"))?;
                    let mut added = false;
                    let ports = service_ports
                        .get(t.service_id.as_str())
                        .copied()
                        .unwrap_or_default();
                    for p in ports.iter().filter(|p| p.protocol == "tcp") {
                        let mut set = common.clone();
                        set.insert(
                            format!("{PREFIX}task_port_publish_mode"),
                            p.publish_mode.clone(),
                        );
                        set.extend(
                            net.into_iter()
                                .flatten()
                                .map(|(k, v)| (k.clone(), v.clone())),
                        );
                        out.push(target(set, join_host_port(&ip, p.published_port)));
                        added = true;
                    }
                    if !added {
                        let mut set = common.clone();
                        set.extend(
                            net.into_iter()
                                .flatten()
                                .map(|(k, v)| (k.clone(), v.clone())),
                        );
                        out.push(target(set, join_host_port(&ip, self.port)));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Go's `refreshNodes`.
    async fn nodes(&self) -> Result<Vec<Labels>, String> {
        let nodes: Vec<Node> = self
            .api
            .get_json("/nodes", &self.filter_params())
            .await
            .map_err(|e| format!("error while listing swarm nodes: {e}"))?;
        Ok(nodes
            .iter()
            .map(|n| {
                let mut set = node_labels(n);
                set.insert(
                    format!("{PREFIX}node_engine_version"),
                    n.description.engine.engine_version.clone(),
                );
                if let Some(m) = &n.manager_status {
                    set.insert(format!("{PREFIX}node_manager_leader"), m.leader.to_string());
                    set.insert(
                        format!("{PREFIX}node_manager_reachability"),
                        m.reachability.clone(),
                    );
                    set.insert(format!("{PREFIX}node_manager_address"), m.addr.clone());
                }
                target(set, join_host_port(&n.status.addr, self.port))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
