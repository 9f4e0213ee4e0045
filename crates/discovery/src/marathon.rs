//! Marathon service discovery (`marathon_sd_configs`), as Prometheus's `discovery/marathon`:
//! every `refresh_interval` one of the `servers` (picked at random) lists its apps with
//! their tasks (`/v2/apps/?embed=apps.tasks`); one group per app (source: the app id) with
//! `__meta_marathon_app`, `__meta_marathon_image` and `__meta_marathon_app_label_<k>`, and a
//! target per task and port with `__meta_marathon_task`, `__meta_marathon_port_index` and
//! the port's `__meta_marathon_port_mapping_label_<k>` or
//! `__meta_marathon_port_definition_label_<k>`. Apps that disappear get an empty group.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use config::discovery::MarathonSdConfig;
use model::{Labels, TargetGroup};

use crate::util::{self, join_host_port, sanitize};

const PREFIX: &str = "__meta_marathon_";
const APP_LIST_PATH: &str = "/v2/apps/?embed=apps.tasks";

/// How requests are authorized beyond the HTTP client options (DC/OS's `token=` scheme).
#[derive(Debug)]
enum AuthToken {
    None,
    Token(String),
    File(String),
}

/// One marathon_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    client: httpclient::HttpClient,
    servers: Vec<String>,
    token: AuthToken,
    timeout: Duration,
    /// The sources of the last refresh, to clear apps that disappear.
    last: std::sync::Mutex<BTreeSet<String>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Task {
    id: String,
    host: String,
    ports: Option<Vec<u32>>,
    ip_addresses: Option<Vec<IpAddress>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct IpAddress {
    #[serde(rename = "ipAddress")]
    address: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct PortMapping {
    labels: Option<BTreeMap<String, String>>,
    container_port: u32,
    host_port: u32,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct DockerContainer {
    image: String,
    port_mappings: Option<Vec<PortMapping>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Container {
    docker: DockerContainer,
    port_mappings: Option<Vec<PortMapping>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct PortDefinition {
    labels: Option<BTreeMap<String, String>>,
    port: u32,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Network {
    mode: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct App {
    id: String,
    tasks: Option<Vec<Task>>,
    labels: Option<BTreeMap<String, String>>,
    container: Container,
    port_definitions: Option<Vec<PortDefinition>>,
    networks: Option<Vec<Network>>,
    require_ports: bool,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct AppList {
    apps: Option<Vec<App>>,
}

impl App {
    /// Whether the app's first network is in `container` mode.
    fn is_container_net(&self) -> bool {
        self.networks
            .as_ref()
            .and_then(|n| n.first())
            .is_some_and(|n| n.mode == "container")
    }
}

/// The Marathon labels of each port (absent when the port has none).
type PortLabels<'a> = Vec<Option<&'a BTreeMap<String, String>>>;

/// Ports and their labels from port mappings: the container port in a container network,
/// otherwise the host port (0 when Mesos assigns it).
fn port_mappings(mappings: &[PortMapping], container_net: bool) -> (Vec<u32>, PortLabels<'_>) {
    mappings
        .iter()
        .map(|m| {
            let port = if container_net {
                m.container_port
            } else {
                m.host_port
            };
            (port, m.labels.as_ref())
        })
        .unzip()
}

/// Go's `targetsForApp`.
fn targets_for_app(app: &App) -> Vec<Labels> {
    let container_net = app.is_container_net();
    let (mut ports, labels, prefix): (Vec<u32>, PortLabels<'_>, &str) = if let Some(m) = app
        .container
        .port_mappings
        .as_deref()
        .filter(|m| !m.is_empty())
    {
        let (p, l) = port_mappings(m, container_net);
        (p, l, "port_mapping_label_")
    } else if let Some(m) = app
        .container
        .docker
        .port_mappings
        .as_deref()
        .filter(|m| !m.is_empty())
    {
        let (p, l) = port_mappings(m, container_net);
        (p, l, "port_mapping_label_")
    } else if let Some(d) = app.port_definitions.as_deref().filter(|d| !d.is_empty()) {
        // Without requirePorts the definition's port is the service port; the listen
        // port comes from the task.
        let ports = d
            .iter()
            .map(|d| if app.require_ports { d.port } else { 0 })
            .collect();
        (
            ports,
            d.iter().map(|d| d.labels.as_ref()).collect(),
            "port_definition_label_",
        )
    } else {
        (Vec::new(), Vec::new(), "")
    };

    let mut out = Vec::new();
    for t in app.tasks.iter().flatten() {
        let task_ports = t.ports.as_deref().unwrap_or_default();
        // Only `ports` (host networking): the first task with ports gives them to all.
        if ports.is_empty() && !task_ports.is_empty() {
            ports = task_ports.to_vec();
        }
        for (i, &port) in ports.iter().enumerate() {
            // A zero port is assigned by Mesos: the task knows it.
            let port = if port == 0 && task_ports.len() == ports.len() {
                task_ports[i]
            } else {
                port
            };
            let host = match t.ip_addresses.as_deref().and_then(|a| a.first()) {
                Some(ip) if container_net => ip.address.as_str(),
                _ => t.host.as_str(),
            };
            let mut set: BTreeMap<String, String> = BTreeMap::new();
            set.insert("__address__".into(), join_host_port(host, port));
            set.insert(format!("{PREFIX}task"), t.id.clone());
            set.insert(format!("{PREFIX}port_index"), i.to_string());
            if let Some(Some(l)) = labels.get(i) {
                for (k, v) in *l {
                    set.insert(format!("{PREFIX}{prefix}{}", sanitize(k)), v.clone());
                }
            }
            out.push(Labels::from_pairs(set));
        }
    }
    out
}

/// Go's `createTargetGroup`.
fn app_group(app: &App) -> TargetGroup {
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    labels.insert(format!("{PREFIX}app"), app.id.clone());
    labels.insert(format!("{PREFIX}image"), app.container.docker.image.clone());
    for (k, v) in app.labels.iter().flatten() {
        labels.insert(format!("{PREFIX}app_label_{}", sanitize(k)), v.clone());
    }
    TargetGroup {
        targets: targets_for_app(app),
        labels: Labels::from_pairs(labels),
        source: app.id.clone(),
    }
}

/// A random index below `n` (which server to ask).
fn random_index(n: usize) -> usize {
    let r = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    usize::try_from(r % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
}

impl Discovery {
    /// A provider for `cfg` (Go's `NewDiscovery`).
    ///
    /// # Errors
    /// Unusable HTTP client options, or an `auth_token_file` that cannot be read.
    pub(crate) fn new(cfg: &MarathonSdConfig) -> Result<Discovery, String> {
        let token = if !cfg.auth_token.is_empty() {
            AuthToken::Token(cfg.auth_token.expose().to_owned())
        } else if !cfg.auth_token_file.is_empty() {
            std::fs::read(&cfg.auth_token_file).map_err(|e| {
                format!(
                    "unable to read auth token file {}: {e}",
                    cfg.auth_token_file
                )
            })?;
            AuthToken::File(cfg.auth_token_file.clone())
        } else {
            AuthToken::None
        };
        Ok(Discovery {
            client: httpclient::HttpClient::new(&cfg.http_client_config)
                .map(|c| c.named("marathon_sd"))
                .map_err(|e| e.to_string())?,
            servers: cfg.servers.clone(),
            token,
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
            last: std::sync::Mutex::new(BTreeSet::new()),
        })
    }

    async fn fetch_apps(&self, url: &str) -> Result<AppList, String> {
        let authorization = match &self.token {
            AuthToken::None => None,
            AuthToken::Token(t) => Some(format!("token={t}")),
            AuthToken::File(f) => {
                let b = std::fs::read(f)
                    .map_err(|e| format!("unable to read auth token file {f}: {e}"))?;
                Some(format!("token={}", String::from_utf8_lossy(&b).trim()))
            }
        };
        let mut headers = Vec::new();
        if let Some(a) = &authorization {
            headers.push(("Authorization", a.as_str()));
        }
        let a = util::get(&self.client, url, &headers, self.timeout).await?;
        if !a.status.is_success() {
            return Err(format!(
                "non 2xx status '{}' response during marathon service discovery",
                a.status.as_u16()
            ));
        }
        serde_json::from_slice(&a.body).map_err(|e| format!("{url:?}: {e}"))
    }

    /// One refresh (Go's `refresh`): a group per app, sorted by source, then empty groups
    /// for the apps of the previous refresh that are gone.
    ///
    /// # Errors
    /// A failed request, a status other than 2xx or a body that is not an app list; the
    /// caller keeps the last targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let server = self
            .servers
            .get(random_index(self.servers.len()))
            .ok_or("marathon_sd: must contain at least one Marathon server")?;
        let url = format!("{server}{APP_LIST_PATH}");
        let apps = self.fetch_apps(&url).await?;
        let groups: BTreeMap<String, TargetGroup> = apps
            .apps
            .iter()
            .flatten()
            .map(|a| {
                let g = app_group(a);
                (g.source.clone(), g)
            })
            .collect();
        let current: BTreeSet<String> = groups.keys().cloned().collect();
        let mut out: Vec<TargetGroup> = groups.into_values().collect();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        for gone in last.difference(&current) {
            out.push(TargetGroup {
                targets: Vec::new(),
                labels: Labels::empty(),
                source: gone.clone(),
            });
        }
        *last = current;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
