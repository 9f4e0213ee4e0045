//! Docker service discovery (`docker_sd_configs`), as Prometheus's `discovery/moby/docker.go`:
//! every `refresh_interval` the Engine API's `/containers/json` (with the configured
//! `filters`) and `/networks`, over http(s) through [`httpclient`] or over a unix socket.
//!
//! One group (source `Docker`) with a target per container, network and TCP port (or one
//! per network on the fallback `port`; `host_networking_host` for host-networking
//! containers), labelled `__meta_docker_container_{id,name,network_mode,image,image_id}`,
//! `__meta_docker_container_label_<k>`, `__meta_docker_network_{id,name,scope,internal,
//! ingress,ip}`, `__meta_docker_network_label_<k>` and `__meta_docker_port_{private,public,
//! public_ip}`. Containers sharing another container's network (`container:<id>`) get its
//! networks; `match_first_network` keeps only the first network by name.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use config::discovery::DockerSdConfig;
use model::{Labels, TargetGroup};

use crate::util::{self, Answer, encode_query, join_host_port, sanitize};

const PREFIX: &str = "__meta_docker_";
/// The API version asked for when the daemon supports it (the Go client's default).
const DEFAULT_API_VERSION: &str = "1.47";
/// The version a daemon that names none speaks (the Go client's assumption).
const OLDEST_API_VERSION: &str = "1.24";
/// The `Host` of requests over a unix socket (the Go client's `DummyHost`).
const UNIX_HOST: &str = "api.moby.localhost";

/// How requests reach the daemon.
#[derive(Debug)]
enum Transport {
    /// `http(s)://host:port` (or `tcp://`, spoken as http) through the HTTP client.
    Http {
        client: httpclient::HttpClient,
        base: String,
    },
    /// A unix socket.
    Unix(PathBuf),
}

/// The Docker Engine API client docker_sd and dockerswarm_sd share: the transport, the
/// time limit of a request and the negotiated API version.
#[derive(Debug)]
pub(crate) struct Api {
    transport: Transport,
    timeout: Duration,
    /// The negotiated API version, once known.
    version: Mutex<Option<String>>,
}

/// One docker_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    api: Api,
    /// The `filters` query parameter (JSON), empty without filters.
    filters: String,
    port: u16,
    host_networking_host: String,
    match_first_network: bool,
    include_no_network_targets: bool,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Container {
    id: String,
    names: Option<Vec<String>>,
    image: String,
    #[serde(rename = "ImageID")]
    image_id: String,
    ports: Option<Vec<Port>>,
    labels: Option<BTreeMap<String, String>>,
    host_config: HostConfig,
    network_settings: Option<NetworkSettings>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct HostConfig {
    network_mode: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct NetworkSettings {
    networks: Option<BTreeMap<String, Option<Endpoint>>>,
}

#[derive(serde::Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
struct Endpoint {
    #[serde(rename = "NetworkID")]
    network_id: String,
    #[serde(rename = "IPAddress")]
    ip_address: String,
    #[serde(rename = "GlobalIPv6Address")]
    global_ipv6_address: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Port {
    #[serde(rename = "IP")]
    ip: String,
    private_port: u16,
    public_port: u16,
    #[serde(rename = "Type")]
    kind: String,
}

/// A network of `/networks`.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct Network {
    name: String,
    id: String,
    scope: String,
    internal: bool,
    ingress: bool,
    labels: Option<BTreeMap<String, String>>,
}

type Set = BTreeMap<String, String>;

/// Go's `versions.LessThan`: dot-separated numbers compared in order.
fn version_less(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(a) < parse(b)
}

/// The labels of every network by id (Go's `getNetworksLabels`), names starting with
/// `prefix` (`__meta_docker_` or `__meta_dockerswarm_`).
pub(crate) fn network_labels<'a>(networks: &'a [Network], prefix: &str) -> HashMap<&'a str, Set> {
    networks
        .iter()
        .map(|n| {
            let mut set = Set::new();
            set.insert(format!("{prefix}network_id"), n.id.clone());
            set.insert(format!("{prefix}network_name"), n.name.clone());
            set.insert(format!("{prefix}network_scope"), n.scope.clone());
            set.insert(format!("{prefix}network_internal"), n.internal.to_string());
            set.insert(format!("{prefix}network_ingress"), n.ingress.to_string());
            for (k, v) in n.labels.iter().flatten() {
                set.insert(format!("{prefix}network_label_{}", sanitize(k)), v.clone());
            }
            (n.id.as_str(), set)
        })
        .collect()
}

/// Docker's `filters` query parameter (`{"name":{"value":true}}`) of `filters`, empty
/// when there are none.
pub(crate) fn filters_param(filters: &[config::discovery::Filter]) -> String {
    let mut map: BTreeMap<&str, BTreeMap<&str, bool>> = BTreeMap::new();
    for f in filters {
        for v in &f.values {
            map.entry(&f.name).or_default().insert(v, true);
        }
    }
    if map.is_empty() {
        String::new()
    } else {
        serde_json::to_string(&map).unwrap_or_default()
    }
}

/// The body of a Docker error answer (`{"message": …}`), or the body itself.
fn daemon_error(a: &Answer) -> String {
    #[derive(serde::Deserialize)]
    struct Message {
        message: String,
    }
    match serde_json::from_slice::<Message>(&a.body) {
        Ok(m) => format!("Error response from daemon: {}", m.message),
        Err(_) => format!(
            "Error response from daemon: {}",
            String::from_utf8_lossy(&a.body).trim()
        ),
    }
}

impl Api {
    /// A client of the daemon at `host` (`http(s)://`, `tcp://` or `unix://`). The HTTP
    /// client options apply to http and https hosts only, as in Prometheus; `timeout` limits
    /// each request (Prometheus: the refresh interval).
    ///
    /// # Errors
    /// A host with an unknown scheme, or unusable HTTP client options.
    pub(crate) fn new(
        host: &str,
        http_client_config: &config::HttpClientConfig,
        timeout: Duration,
        dialer: &str,
    ) -> Result<Api, String> {
        let (scheme, rest) = host
            .split_once("://")
            .ok_or_else(|| format!("unable to parse docker host `{host}`"))?;
        let transport = match scheme {
            "http" | "https" => Transport::Http {
                client: httpclient::HttpClient::new(http_client_config)
                    .map_err(|e| e.to_string())?
                    .named(dialer),
                base: host.trim_end_matches('/').to_owned(),
            },
            "tcp" => Transport::Http {
                client: httpclient::HttpClient::default().named(dialer),
                base: format!("http://{}", rest.trim_end_matches('/')),
            },
            "unix" => Transport::Unix(PathBuf::from(rest)),
            other => return Err(format!("protocol not available: {other}")),
        };
        Ok(Api {
            transport,
            timeout: timeout.max(Duration::from_millis(1)),
            version: Mutex::new(None),
        })
    }

    /// GETs `path_and_query` from the daemon.
    async fn get(&self, path_and_query: &str) -> Result<Answer, String> {
        match &self.transport {
            Transport::Http { client, base } => {
                util::get(
                    client,
                    &format!("{base}{path_and_query}"),
                    &[("User-Agent", httpclient::USER_AGENT)],
                    self.timeout,
                )
                .await
            }
            Transport::Unix(path) => {
                util::unix_get(
                    path,
                    UNIX_HOST,
                    path_and_query,
                    &[("User-Agent", httpclient::USER_AGENT)],
                    self.timeout,
                )
                .await
            }
        }
    }

    /// The API version to speak: negotiated with `/_ping` once (the lower of the daemon's
    /// and ours).
    async fn api_version(&self) -> Result<String, String> {
        if let Some(v) = self
            .version
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(v);
        }
        let ping = self.get("/_ping").await?;
        let mut server = ping.header("API-Version");
        if server.is_empty() {
            server = OLDEST_API_VERSION.to_owned();
        }
        let v = if version_less(&server, DEFAULT_API_VERSION) {
            server
        } else {
            DEFAULT_API_VERSION.to_owned()
        };
        *self.version.lock().unwrap_or_else(|e| e.into_inner()) = Some(v.clone());
        Ok(v)
    }

    /// GETs the versioned `path` with `params` and decodes its JSON.
    ///
    /// # Errors
    /// A failed exchange, an error status (`Error response from daemon: …`) or a body
    /// that does not decode.
    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        params: &[(String, String)],
    ) -> Result<T, String> {
        let version = self.api_version().await?;
        let q = encode_query(params);
        let url = if q.is_empty() {
            format!("/v{version}{path}")
        } else {
            format!("/v{version}{path}?{q}")
        };
        let a = self.get(&url).await?;
        if !a.status.is_success() {
            return Err(daemon_error(&a));
        }
        serde_json::from_slice(&a.body).map_err(|e| e.to_string())
    }
}

impl Discovery {
    /// A provider for `cfg` (Go's `NewDockerDiscovery`).
    ///
    /// # Errors
    /// A host with an unknown scheme, or unusable HTTP client options.
    pub(crate) fn new(cfg: &DockerSdConfig) -> Result<Discovery, String> {
        Ok(Discovery {
            api: Api::new(
                &cfg.host,
                &cfg.http_client_config,
                cfg.refresh_interval.to_std(),
                "docker_sd",
            )?,
            filters: filters_param(&cfg.filters),
            port: cfg.port,
            host_networking_host: cfg.host_networking_host.clone(),
            match_first_network: cfg.match_first_network,
            include_no_network_targets: cfg.include_no_network_targets,
        })
    }

    /// One refresh (Go's `refresh`): the single `Docker` group.
    ///
    /// # Errors
    /// A message when listing containers or networks fails; the caller keeps the last
    /// targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let mut params = Vec::new();
        if !self.filters.is_empty() {
            params.push(("filters".to_owned(), self.filters.clone()));
        }
        let containers: Vec<Container> = self
            .api
            .get_json("/containers/json", &params)
            .await
            .map_err(|e| format!("error while listing containers: {e}"))?;
        let networks: Vec<Network> = self
            .api
            .get_json("/networks", &[])
            .await
            .map_err(|e| format!("error while computing network labels: {e}"))?;
        Ok(vec![TargetGroup {
            targets: self.targets(&containers, &networks),
            labels: Labels::empty(),
            source: "Docker".to_owned(),
        }])
    }

    fn targets(&self, containers: &[Container], networks: &[Network]) -> Vec<Labels> {
        let network_labels = network_labels(networks, PREFIX);
        let by_id: HashMap<&str, &Container> =
            containers.iter().map(|c| (c.id.as_str(), c)).collect();
        let endpoints = |c: &Container| -> BTreeMap<String, Option<Endpoint>> {
            c.network_settings
                .as_ref()
                .and_then(|n| n.networks.clone())
                .unwrap_or_default()
        };
        let mut out = Vec::new();
        for c in containers {
            let Some(name) = c.names.as_ref().and_then(|n| n.first()) else {
                continue;
            };
            let mut common = Set::new();
            common.insert(format!("{PREFIX}container_id"), c.id.clone());
            common.insert(format!("{PREFIX}container_name"), name.clone());
            common.insert(
                format!("{PREFIX}container_network_mode"),
                c.host_config.network_mode.clone(),
            );
            if !c.image.is_empty() {
                common.insert(format!("{PREFIX}container_image"), c.image.clone());
            }
            if !c.image_id.is_empty() {
                common.insert(format!("{PREFIX}container_image_id"), c.image_id.clone());
            }
            for (k, v) in c.labels.iter().flatten() {
                common.insert(
                    format!("{PREFIX}container_label_{}", sanitize(k)),
                    v.clone(),
                );
            }

            let mut networks = endpoints(c);
            let mut mode = c.host_config.network_mode.as_str();
            // A container in another's network namespace uses that one's networks.
            while networks.is_empty() {
                let Some(other) = mode.strip_prefix("container:").and_then(|id| by_id.get(id))
                else {
                    break;
                };
                networks = endpoints(other);
                mode = other.host_config.network_mode.as_str();
            }
            if self.match_first_network && networks.len() > 1 {
                let first = networks
                    .iter()
                    .find(|(_, n)| n.is_some())
                    .map(|(k, n)| (k.clone(), n.clone()));
                if let Some((k, n)) = first {
                    networks = BTreeMap::from([(k, n)]);
                }
            }
            if networks.is_empty() && self.include_no_network_targets {
                out.push(Labels::from_pairs(&common));
                continue;
            }

            for n in networks.values().flatten() {
                let ip = if n.ip_address.is_empty() {
                    n.global_ipv6_address.as_str()
                } else {
                    n.ip_address.as_str()
                };
                let net = network_labels.get(n.network_id.as_str());
                let mut added = false;
                for p in c.ports.iter().flatten().filter(|p| p.kind == "tcp") {
                    let mut set = common.clone();
                    set.insert(format!("{PREFIX}network_ip"), ip.to_owned());
                    set.insert(format!("{PREFIX}port_private"), p.private_port.to_string());
                    if p.public_port > 0 {
                        set.insert(format!("{PREFIX}port_public"), p.public_port.to_string());
                        set.insert(format!("{PREFIX}port_public_ip"), p.ip.clone());
                    }
                    set.extend(
                        net.into_iter()
                            .flatten()
                            .map(|(k, v)| (k.clone(), v.clone())),
                    );
                    set.insert("__address__".into(), join_host_port(ip, p.private_port));
                    out.push(Labels::from_pairs(&set));
                    added = true;
                }
                if !added {
                    // No TCP port: the fallback port, or the configured host for
                    // host-networking containers (which never have ports).
                    let mut set = common.clone();
                    set.insert(format!("{PREFIX}network_ip"), ip.to_owned());
                    set.extend(
                        net.into_iter()
                            .flatten()
                            .map(|(k, v)| (k.clone(), v.clone())),
                    );
                    let addr = if c.host_config.network_mode == "host" {
                        self.host_networking_host.clone()
                    } else {
                        join_host_port(ip, self.port)
                    };
                    set.insert("__address__".into(), addr);
                    out.push(Labels::from_pairs(&set));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
