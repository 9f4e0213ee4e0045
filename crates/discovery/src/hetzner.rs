//! Hetzner service discovery (`hetzner_sd_configs`), as Prometheus's `discovery/hetzner`,
//! one group (source `hetzner`) per refresh for either role:
//! - `hcloud`: all Hetzner Cloud servers (`GET /v1/servers`, 50 per page, with
//!   `label_selector` when set) and networks (`GET /v1/networks`), a target
//!   `<public IPv4>:<port>` per server labelled `__meta_hetzner_*` and
//!   `__meta_hetzner_hcloud_*`;
//! - `robot`: the dedicated servers of the Robot web service (`GET /server`, basic auth from
//!   the HTTP client options), labelled `__meta_hetzner_*` and `__meta_hetzner_robot_*`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use bytes::Bytes;
use config::discovery::HetznerSdConfig;
use model::{Labels, TargetGroup};

use crate::api;
use crate::util::{encode_query, join_host_port, sanitize};

const PREFIX: &str = "__meta_hetzner_";
/// The Hetzner Cloud API (hcloud-go's default endpoint).
const HCLOUD_URL: &str = "https://api.hetzner.cloud/v1";
/// The Hetzner Robot web service.
const ROBOT_URL: &str = "https://robot-ws.your-server.de";

/// One hetzner_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    client: httpclient::HttpClient,
    robot: bool,
    /// The API's base URL (tests point it at a fake).
    pub(crate) base: String,
    port: u16,
    label_selector: String,
    timeout: Duration,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ServerPage {
    servers: Vec<Server>,
    meta: Meta,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct NetworkPage {
    networks: Vec<Network>,
    meta: Meta,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Meta {
    pagination: Option<Pagination>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Pagination {
    next_page: Option<u32>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Network {
    id: i64,
    name: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Server {
    id: i64,
    name: String,
    status: String,
    public_net: PublicNet,
    private_net: Vec<PrivateNet>,
    server_type: ServerType,
    datacenter: Option<Datacenter>,
    location: Option<Location>,
    image: Option<Image>,
    labels: BTreeMap<String, String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct PublicNet {
    ipv4: Option<Ip>,
    ipv6: Option<Ip>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Ip {
    ip: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct PrivateNet {
    network: i64,
    ip: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ServerType {
    name: String,
    cores: i64,
    cpu_type: String,
    memory: f64,
    disk: i64,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Datacenter {
    name: String,
    location: Option<Location>,
}

#[derive(serde::Deserialize, Default, Clone)]
#[serde(default)]
struct Location {
    name: String,
    network_zone: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Image {
    name: Option<String>,
    description: String,
    os_flavor: String,
    os_version: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct RobotEntry {
    server: RobotServer,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct RobotServer {
    server_ip: String,
    server_number: i64,
    server_name: String,
    dc: String,
    status: String,
    product: String,
    cancelled: bool,
    subnet: Option<Vec<Subnet>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Subnet {
    ip: String,
    mask: String,
}

/// An IP as Go's `net.IP.String` prints it (`<nil>` for none or an unparsable one).
fn ip_string(ip: Option<&Ip>) -> String {
    ip.and_then(|i| i.ip.parse::<IpAddr>().ok())
        .map_or_else(|| "<nil>".to_owned(), |ip| ip.to_string())
}

/// An IPv6 network as Go's `net.IPNet.String` prints what `net.ParseCIDR` read: the address
/// masked to its prefix (`<nil>` for none or an unparsable one).
fn network_string(ip: Option<&Ip>) -> String {
    let parsed = ip.and_then(|i| {
        let (addr, len) = i.ip.split_once('/')?;
        let addr: Ipv6Addr = addr.parse().ok()?;
        let len: u32 = len.parse().ok().filter(|l| *l <= 128)?;
        let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
        Some(format!("{}/{len}", Ipv6Addr::from(u128::from(addr) & mask)))
    });
    parsed.unwrap_or_else(|| "<nil>".to_owned())
}

impl Discovery {
    /// A provider for `cfg` (Go's `NewDiscovery`).
    ///
    /// # Errors
    /// Unusable HTTP client options.
    pub(crate) fn new(cfg: &HetznerSdConfig) -> Result<Discovery, String> {
        let robot = cfg.role == "robot";
        Ok(Discovery {
            client: httpclient::HttpClient::new(&cfg.http_client_config)
                .map(|c| c.named("hetzner_sd"))
                .map_err(|e| e.to_string())?,
            robot,
            base: if robot { ROBOT_URL } else { HCLOUD_URL }.to_owned(),
            port: cfg.port,
            label_selector: cfg.label_selector.clone(),
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
        })
    }

    /// One refresh: the `hetzner` group of the configured role.
    ///
    /// # Errors
    /// A failed request or an answer that does not decode; the caller keeps the last
    /// targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let targets = if self.robot {
            self.robot_targets().await?
        } else {
            self.hcloud_targets().await?
        };
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: "hetzner".to_owned(),
        }])
    }

    async fn hcloud_get<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
        params: Vec<(String, String)>,
    ) -> Result<T, String> {
        let url = format!(
            "{}{path}?{}",
            self.base.trim_end_matches('/'),
            encode_query(&params)
        );
        let agent = format!("Prometheus/{}", env!("CARGO_PKG_VERSION"));
        api::get_json(
            &self.client,
            what,
            &url,
            &[("Accept", "application/json"), ("User-Agent", &agent)],
            self.timeout,
        )
        .await
    }

    async fn hcloud_targets(&self) -> Result<Vec<Labels>, String> {
        let mut servers = Vec::new();
        let mut page = 1;
        loop {
            let mut params = vec![
                ("page".to_owned(), page.to_string()),
                ("per_page".to_owned(), "50".to_owned()),
            ];
            if !self.label_selector.is_empty() {
                params.push(("label_selector".to_owned(), self.label_selector.clone()));
            }
            let p: ServerPage = self
                .hcloud_get("listing Hetzner Cloud servers", "/servers", params)
                .await?;
            servers.extend(p.servers);
            match p.meta.pagination.and_then(|p| p.next_page) {
                Some(next) if next > page => page = next,
                _ => break,
            }
        }
        let mut networks = Vec::new();
        let mut page = 1;
        loop {
            let params = vec![
                ("page".to_owned(), page.to_string()),
                ("per_page".to_owned(), "50".to_owned()),
            ];
            let p: NetworkPage = self
                .hcloud_get("listing Hetzner Cloud networks", "/networks", params)
                .await?;
            networks.extend(p.networks);
            match p.meta.pagination.and_then(|p| p.next_page) {
                Some(next) if next > page => page = next,
                _ => break,
            }
        }
        let mut targets = Vec::with_capacity(servers.len());
        for s in &servers {
            let mut set: BTreeMap<String, String> = BTreeMap::new();
            let mut put = |k: &str, v: String| {
                set.insert(format!("{PREFIX}{k}"), v);
            };
            let ipv4 = ip_string(s.public_net.ipv4.as_ref());
            // hcloud-go fills the server's location from the datacenter's when absent.
            let location = s
                .location
                .clone()
                .or_else(|| s.datacenter.as_ref().and_then(|d| d.location.clone()))
                .unwrap_or_default();
            put("role", "hcloud".to_owned());
            put("server_id", s.id.to_string());
            put("server_name", s.name.clone());
            put("public_ipv4", ipv4.clone());
            put(
                "public_ipv6_network",
                network_string(s.public_net.ipv6.as_ref()),
            );
            put("server_status", s.status.clone());
            put("hcloud_location", location.name.clone());
            put(
                "hcloud_location_network_zone",
                location.network_zone.clone(),
            );
            put("hcloud_datacenter_location", location.name.clone());
            put(
                "hcloud_datacenter_location_network_zone",
                location.network_zone.clone(),
            );
            put("hcloud_server_type", s.server_type.name.clone());
            put("hcloud_cpu_cores", s.server_type.cores.to_string());
            put("hcloud_cpu_type", s.server_type.cpu_type.clone());
            // Go's int(float32) truncates.
            #[allow(clippy::cast_possible_truncation)]
            put(
                "hcloud_memory_size_gb",
                (s.server_type.memory.trunc() as i64).to_string(),
            );
            put("hcloud_disk_size_gb", s.server_type.disk.to_string());
            if let Some(dc) = &s.datacenter {
                put("datacenter", dc.name.clone());
            }
            if let Some(img) = &s.image {
                put("hcloud_image_name", img.name.clone().unwrap_or_default());
                put("hcloud_image_description", img.description.clone());
                put(
                    "hcloud_image_os_version",
                    img.os_version.clone().unwrap_or_default(),
                );
                put("hcloud_image_os_flavor", img.os_flavor.clone());
            }
            for p in &s.private_net {
                for n in networks.iter().filter(|n| n.id == p.network) {
                    let ip =
                        p.ip.parse::<IpAddr>()
                            .map_or_else(|_| "<nil>".to_owned(), |ip| ip.to_string());
                    put(&format!("hcloud_private_ipv4_{}", sanitize(&n.name)), ip);
                }
            }
            for (k, v) in &s.labels {
                put(
                    &format!("hcloud_labelpresent_{}", sanitize(k)),
                    "true".into(),
                );
                put(&format!("hcloud_label_{}", sanitize(k)), v.clone());
            }
            set.insert("__address__".into(), join_host_port(&ipv4, self.port));
            targets.push(Labels::from_pairs(set));
        }
        Ok(targets)
    }

    async fn robot_targets(&self) -> Result<Vec<Labels>, String> {
        let url = format!("{}/server", self.base.trim_end_matches('/'));
        let a = api::send(
            &self.client,
            http::Method::GET,
            &url,
            &[("User-Agent", httpclient::USER_AGENT)],
            Bytes::new(),
            self.timeout,
        )
        .await?;
        if !a.status.is_success() {
            return Err(format!(
                "non 2xx status '{}' response during hetzner service discovery with role robot",
                a.status.as_u16()
            ));
        }
        let servers: Vec<RobotEntry> =
            serde_json::from_slice(&a.body).map_err(|e| format!("{url:?}: {e}"))?;
        let mut targets = Vec::with_capacity(servers.len());
        for RobotEntry { server: s } in &servers {
            let mut set: BTreeMap<String, String> = BTreeMap::new();
            let mut put = |k: &str, v: String| {
                set.insert(format!("{PREFIX}{k}"), v);
            };
            put("role", "robot".to_owned());
            put("server_id", s.server_number.to_string());
            put("server_name", s.server_name.clone());
            put("datacenter", s.dc.to_lowercase());
            put("public_ipv4", s.server_ip.clone());
            put("server_status", s.status.clone());
            put("robot_product", s.product.clone());
            put("robot_cancelled", s.cancelled.to_string());
            // The first subnet that is not IPv4 (Go's `To4() == nil`, true for junk too).
            let v6 = s.subnet.iter().flatten().find(|n| {
                !matches!(n.ip.parse::<IpAddr>(), Ok(IpAddr::V4(_)))
                    && !matches!(n.ip.parse::<Ipv6Addr>(), Ok(a) if a.to_ipv4_mapped().is_some())
            });
            if let Some(n) = v6 {
                put("public_ipv6_network", format!("{}/{}", n.ip, n.mask));
            }
            set.insert(
                "__address__".into(),
                join_host_port(&s.server_ip, self.port),
            );
            targets.push(Labels::from_pairs(set));
        }
        Ok(targets)
    }
}

#[cfg(test)]
mod tests;
