//! Scaleway service discovery (`scaleway_sd_configs`), as Prometheus's `discovery/scaleway`,
//! one group (source `scaleway`) per refresh for either role:
//! - `instance`: the servers of the zone (`GET /instance/v1/zones/<zone>/servers`, all
//!   pages, filtered by project, `name_filter` and `tags_filter`), a target per server that
//!   has an address (private IPv4 first, then the public IPv4, then IPv6), labelled
//!   `__meta_scaleway_instance_*`;
//! - `baremetal`: the Elastic Metal servers of the zone with their offers and operating
//!   systems, labelled `__meta_scaleway_baremetal_*`.
//!
//! Requests carry the secret key (or the current content of `secret_key_file`) as
//! `X-Auth-Token`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use config::discovery::ScalewaySdConfig;
use model::{Labels, TargetGroup};

use crate::api;
use crate::util::{encode_query, join_host_port};

const SEPARATOR: &str = ",";

/// One scaleway_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    client: httpclient::HttpClient,
    baremetal: bool,
    /// The API's base URL (`api_url`; tests point it at a fake).
    pub(crate) base: String,
    zone: String,
    project: String,
    secret_key: String,
    secret_key_file: String,
    name_filter: String,
    tags_filter: Vec<String>,
    port: u16,
    timeout: Duration,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct InstancePage {
    servers: Vec<Instance>,
    total_count: Option<u64>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Instance {
    id: String,
    name: String,
    hostname: String,
    organization: String,
    project: String,
    state: String,
    commercial_type: String,
    zone: String,
    boot_type: String,
    tags: Vec<String>,
    image: Option<InstanceImage>,
    location: Option<InstanceLocation>,
    security_group: Option<SecurityGroup>,
    public_ip: Option<Address>,
    public_ips: Option<Vec<PublicIp>>,
    ipv6: Option<Address>,
    private_ip: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct InstanceImage {
    id: String,
    name: String,
    arch: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct InstanceLocation {
    cluster_id: String,
    hypervisor_id: String,
    node_id: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct SecurityGroup {
    id: String,
    name: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Address {
    address: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct PublicIp {
    address: String,
    family: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct BaremetalPage {
    servers: Vec<Baremetal>,
    offers: Vec<Offer>,
    os: Vec<Os>,
    total_count: Option<u64>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Baremetal {
    id: String,
    name: String,
    zone: String,
    status: String,
    project_id: String,
    offer_id: String,
    install: Option<Install>,
    tags: Vec<String>,
    ips: Vec<BaremetalIp>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Install {
    os_id: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct BaremetalIp {
    address: String,
    version: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Offer {
    id: String,
    name: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Os {
    id: String,
    name: String,
    version: String,
}

/// An address as Go's `net.IP.String` prints it (kept as given when it does not parse).
fn ip(s: &str) -> String {
    s.parse::<IpAddr>()
        .map_or_else(|_| s.to_owned(), |ip| ip.to_string())
}

/// The region of a zone (`fr-par-1` → `fr-par`), when the zone has one.
fn region(zone: &str) -> Option<&str> {
    let (region, n) = zone.rsplit_once('-')?;
    (region.contains('-') && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .then_some(region)
}

fn surround(v: &[String]) -> String {
    format!("{SEPARATOR}{}{SEPARATOR}", v.join(SEPARATOR))
}

impl Discovery {
    /// A provider for `cfg` (Go's `NewDiscovery`).
    ///
    /// # Errors
    /// Unusable HTTP client options or an unreadable `secret_key_file`.
    pub(crate) fn new(cfg: &ScalewaySdConfig) -> Result<Discovery, String> {
        let d = Discovery {
            client: httpclient::HttpClient::new(&cfg.http_client_config)
                .map(|c| c.named("scaleway_sd"))
                .map_err(|e| e.to_string())?,
            baremetal: cfg.role == "baremetal",
            base: cfg.api_url.clone(),
            zone: cfg.zone.clone(),
            project: cfg.project_id.clone(),
            secret_key: cfg.secret_key.expose().to_owned(),
            secret_key_file: cfg.secret_key_file.clone(),
            name_filter: cfg.name_filter.clone(),
            tags_filter: cfg.tags_filter.clone(),
            port: cfg.port,
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
        };
        d.token()?;
        Ok(d)
    }

    /// The secret key, read from `secret_key_file` each time when that is set.
    fn token(&self) -> Result<String, String> {
        if self.secret_key_file.is_empty() {
            return Ok(self.secret_key.clone());
        }
        std::fs::read_to_string(&self.secret_key_file)
            .map(|s| s.trim().to_owned())
            .map_err(|e| {
                format!(
                    "unable to read auth token file {}: {e}",
                    self.secret_key_file
                )
            })
    }

    /// Every page of `path` (the SDK's `WithAllPages`): pages from 1 until `total_count`
    /// items (or an empty page) were seen.
    async fn all_pages<T, F>(
        &self,
        what: &str,
        path: &str,
        params: &[(String, String)],
        items: F,
    ) -> Result<Vec<T>, String>
    where
        T: serde::de::DeserializeOwned + Default,
        F: Fn(T) -> (usize, Option<u64>, T),
    {
        let token = self.token()?;
        let mut out = Vec::new();
        let mut seen = 0u64;
        for page in 1u32.. {
            let mut q = params.to_vec();
            q.push(("page".to_owned(), page.to_string()));
            let url = format!(
                "{}{path}?{}",
                self.base.trim_end_matches('/'),
                encode_query(&q)
            );
            let agent = format!("Prometheus/{}", env!("CARGO_PKG_VERSION"));
            let body: T = api::get_json(
                &self.client,
                what,
                &url,
                &[
                    ("Accept", "application/json"),
                    ("User-Agent", &agent),
                    ("X-Auth-Token", &token),
                ],
                self.timeout,
            )
            .await?;
            let (n, total, body) = items(body);
            out.push(body);
            seen += n as u64;
            if n == 0 || total.is_none_or(|t| seen >= t) {
                break;
            }
        }
        Ok(out)
    }

    /// One refresh: the `scaleway` group of the configured role.
    ///
    /// # Errors
    /// A failed request, an answer that does not decode or an IP of unknown version; the
    /// caller keeps the last targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let targets = if self.baremetal {
            self.baremetal_targets().await?
        } else {
            self.instance_targets().await?
        };
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: "scaleway".to_owned(),
        }])
    }

    fn filters(&self, project_key: &str) -> Vec<(String, String)> {
        let mut params = Vec::new();
        if !self.project.is_empty() {
            params.push((project_key.to_owned(), self.project.clone()));
        }
        if !self.name_filter.is_empty() {
            params.push(("name".to_owned(), self.name_filter.clone()));
        }
        if !self.tags_filter.is_empty() {
            params.push(("tags".to_owned(), self.tags_filter.join(",")));
        }
        params
    }

    async fn instance_targets(&self) -> Result<Vec<Labels>, String> {
        let path = format!("/instance/v1/zones/{}/servers", self.zone);
        let pages = self
            .all_pages(
                "listing Scaleway instances",
                &path,
                &self.filters("project"),
                |p: InstancePage| (p.servers.len(), p.total_count, p),
            )
            .await?;
        let mut targets = Vec::new();
        for s in pages.into_iter().flat_map(|p| p.servers) {
            let mut set: BTreeMap<String, String> = BTreeMap::new();
            let mut put = |k: &str, v: String| {
                set.insert(format!("__meta_scaleway_instance_{k}"), v);
            };
            put("boot_type", s.boot_type.clone());
            put("hostname", s.hostname.clone());
            put("id", s.id.clone());
            put("name", s.name.clone());
            put("organization_id", s.organization.clone());
            put("project_id", s.project.clone());
            put("status", s.state.clone());
            put("type", s.commercial_type.clone());
            put("zone", s.zone.clone());
            if let Some(img) = &s.image {
                put("image_arch", img.arch.clone());
                put("image_id", img.id.clone());
                put("image_name", img.name.clone());
            }
            if let Some(l) = &s.location {
                put("location_cluster_id", l.cluster_id.clone());
                put("location_hypervisor_id", l.hypervisor_id.clone());
                put("location_node_id", l.node_id.clone());
            }
            if let Some(g) = &s.security_group {
                put("security_group_id", g.id.clone());
                put("security_group_name", g.name.clone());
            }
            if let Some(r) = region(&s.zone) {
                put("region", r.to_owned());
            }
            if !s.tags.is_empty() {
                put("tags", surround(&s.tags));
            }
            let mut addr = String::new();
            let public_ips = s.public_ips.as_deref().unwrap_or_default();
            let v4: Vec<String> = public_ips
                .iter()
                .filter(|p| p.family == "inet")
                .map(|p| ip(&p.address))
                .collect();
            let v6: Vec<String> = public_ips
                .iter()
                .filter(|p| p.family == "inet6")
                .map(|p| ip(&p.address))
                .collect();
            if let Some(first) = v6.first() {
                addr.clone_from(first);
                put("public_ipv6_addresses", surround(&v6));
            }
            if let Some(first) = v4.first() {
                addr.clone_from(first);
                put("public_ipv4_addresses", surround(&v4));
            }
            if let Some(a) = &s.ipv6 {
                put("public_ipv6", ip(&a.address));
                addr = ip(&a.address);
            }
            if let Some(a) = &s.public_ip {
                put("public_ipv4", ip(&a.address));
                addr = ip(&a.address);
            }
            if let Some(p) = &s.private_ip {
                put("private_ipv4", p.clone());
                addr.clone_from(p);
            }
            if !addr.is_empty() {
                set.insert("__address__".into(), join_host_port(&addr, self.port));
                targets.push(Labels::from_pairs(set));
            }
        }
        Ok(targets)
    }

    async fn baremetal_targets(&self) -> Result<Vec<Labels>, String> {
        let zone = &self.zone;
        let servers = self
            .all_pages(
                "listing Scaleway baremetal servers",
                &format!("/baremetal/v1/zones/{zone}/servers"),
                &self.filters("project_id"),
                |p: BaremetalPage| (p.servers.len(), p.total_count, p),
            )
            .await?;
        let offers = self
            .all_pages(
                "listing Scaleway baremetal offers",
                &format!("/baremetal/v1/zones/{zone}/offers"),
                &[],
                |p: BaremetalPage| (p.offers.len(), p.total_count, p),
            )
            .await?;
        let oses = self
            .all_pages(
                "listing Scaleway baremetal operating systems",
                &format!("/baremetal/v1/zones/{zone}/os"),
                &[],
                |p: BaremetalPage| (p.os.len(), p.total_count, p),
            )
            .await?;
        let offers: Vec<Offer> = offers.into_iter().flat_map(|p| p.offers).collect();
        let oses: Vec<Os> = oses.into_iter().flat_map(|p| p.os).collect();
        let mut targets = Vec::new();
        for s in servers.into_iter().flat_map(|p| p.servers) {
            let mut set: BTreeMap<String, String> = BTreeMap::new();
            let key = |k: &str| format!("__meta_scaleway_baremetal_{k}");
            set.insert(key("id"), s.id.clone());
            set.insert(key("name"), s.name.clone());
            set.insert(key("zone"), s.zone.clone());
            set.insert(key("status"), s.status.clone());
            set.insert(key("project_id"), s.project_id.clone());
            if let Some(o) = offers.iter().find(|o| o.id == s.offer_id) {
                set.insert(key("type"), o.name.clone());
            }
            if let Some(install) = &s.install
                && let Some(os) = oses.iter().find(|o| o.id == install.os_id)
            {
                set.insert(key("os_name"), os.name.clone());
                set.insert(key("os_version"), os.version.clone());
            }
            if !s.tags.is_empty() {
                set.insert(key("tags"), surround(&s.tags));
            }
            for a in &s.ips {
                let address = ip(&a.address);
                match a.version.as_str() {
                    "IPv4" => {
                        if set.contains_key(&key("public_ipv4")) {
                            continue;
                        }
                        set.insert(key("public_ipv4"), address.clone());
                        set.insert("__address__".into(), join_host_port(&address, self.port));
                    }
                    "IPv6" => {
                        if set.contains_key(&key("public_ipv6")) {
                            continue;
                        }
                        set.insert(key("public_ipv6"), address.clone());
                        set.entry("__address__".into())
                            .or_insert_with(|| join_host_port(&address, self.port));
                    }
                    other => return Err(format!("unknown IP version: {other}")),
                }
            }
            targets.push(Labels::from_pairs(set));
        }
        Ok(targets)
    }
}

#[cfg(test)]
mod tests;
