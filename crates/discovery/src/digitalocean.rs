//! DigitalOcean service discovery (`digitalocean_sd_configs`), as Prometheus's
//! `discovery/digitalocean`: every `refresh_interval` all droplets of the account
//! (`GET /v2/droplets`, page by page as godo follows `links.pages`; the API token goes in
//! the HTTP client options' `authorization`), one group (source `DigitalOcean`) with a
//! target `<public IPv4>:<port>` per droplet that has IPv4 networks, labelled
//! `__meta_digitalocean_*`.

use std::collections::BTreeMap;
use std::time::Duration;

use config::discovery::PortRefreshHttpSdConfig;
use model::{Labels, TargetGroup};

use crate::util::{self, join_host_port};

const PREFIX: &str = "__meta_digitalocean_";
const SEPARATOR: &str = ",";
/// The DigitalOcean API (godo's default base URL).
const API_URL: &str = "https://api.digitalocean.com";

/// One digitalocean_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    client: httpclient::HttpClient,
    /// The API's base URL (tests point it at a fake).
    pub(crate) base: String,
    port: u16,
    timeout: Duration,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct DropletPage {
    droplets: Option<Vec<Droplet>>,
    links: Option<Links>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Links {
    pages: Option<Pages>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Pages {
    prev: String,
    next: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Droplet {
    id: i64,
    name: String,
    status: String,
    features: Option<Vec<String>>,
    image: Option<Image>,
    size_slug: String,
    networks: Option<Networks>,
    region: Option<Region>,
    tags: Option<Vec<String>>,
    vpc_uuid: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Image {
    name: String,
    slug: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Region {
    slug: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Networks {
    v4: Option<Vec<Network>>,
    v6: Option<Vec<Network>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Network {
    ip_address: String,
    #[serde(rename = "type")]
    kind: String,
}

/// The first address of `kind` (godo's `PublicIPv4` and friends), empty without one.
fn address(networks: Option<&Vec<Network>>, kind: &str) -> String {
    networks
        .into_iter()
        .flatten()
        .find(|n| n.kind == kind)
        .map(|n| n.ip_address.clone())
        .unwrap_or_default()
}

/// The `page` query parameter of a pagination link (godo's `pageForURL`).
fn page_of(link: &str) -> Result<i64, String> {
    let url = url::Url::parse(link).map_err(|e| format!("parse {link:?}: {e}"))?;
    url.query_pairs()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| format!("no page in {link:?}"))
}

impl Discovery {
    /// A provider for `cfg` (Go's `NewDiscovery`).
    ///
    /// # Errors
    /// Unusable HTTP client options.
    pub(crate) fn new(cfg: &PortRefreshHttpSdConfig) -> Result<Discovery, String> {
        Ok(Discovery {
            client: httpclient::HttpClient::new(&cfg.http_client_config)
                .map(|c| c.named("digitalocean_sd"))
                .map_err(|e| e.to_string())?,
            base: API_URL.to_owned(),
            port: cfg.port,
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
        })
    }

    /// Every droplet (Go's `listDroplets`): the first page, then `page=N+1` while the
    /// answer links a next page, N being the current page (1, or the previous link's + 1).
    async fn droplets(&self) -> Result<Vec<Droplet>, String> {
        let mut out = Vec::new();
        let mut page: i64 = 0;
        loop {
            let base = self.base.trim_end_matches('/');
            let url = if page == 0 {
                format!("{base}/v2/droplets")
            } else {
                format!("{base}/v2/droplets?page={page}")
            };
            let a = util::get(
                &self.client,
                &url,
                &[
                    ("Accept", "application/json"),
                    ("User-Agent", httpclient::USER_AGENT),
                ],
                self.timeout,
            )
            .await
            .map_err(|e| format!("error while listing droplets page {page}: {e}"))?;
            if !a.status.is_success() {
                #[derive(serde::Deserialize, Default)]
                #[serde(default)]
                struct ErrorBody {
                    message: String,
                }
                let message = serde_json::from_slice::<ErrorBody>(&a.body)
                    .map(|b| b.message)
                    .unwrap_or_default();
                return Err(format!(
                    "error while listing droplets page {page}: GET {url}: {} {message}",
                    a.status.as_u16()
                ));
            }
            let body: DropletPage = serde_json::from_slice(&a.body)
                .map_err(|e| format!("error while listing droplets page {page}: {e}"))?;
            out.extend(body.droplets.unwrap_or_default());
            let Some(pages) = body.links.and_then(|l| l.pages) else {
                return Ok(out);
            };
            if pages.next.is_empty() {
                return Ok(out);
            }
            let current = if pages.prev.is_empty() {
                1
            } else {
                page_of(&pages.prev)? + 1
            };
            page = current + 1;
        }
    }

    /// One refresh (Go's `refresh`): the `DigitalOcean` group.
    ///
    /// # Errors
    /// A failed request or an answer that does not decode; the caller keeps the last
    /// targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let targets = self
            .droplets()
            .await?
            .iter()
            .filter_map(|d| {
                let networks = d.networks.as_ref()?;
                let v4 = networks.v4.as_ref().filter(|v| !v.is_empty())?;
                let public_ipv4 = address(Some(v4), "public");
                let mut set: BTreeMap<String, String> = BTreeMap::new();
                let mut put = |k: &str, v: String| {
                    set.insert(format!("{PREFIX}{k}"), v);
                };
                put("droplet_id", d.id.to_string());
                put("droplet_name", d.name.clone());
                let image = d.image.as_ref();
                put("image", image.map(|i| i.slug.clone()).unwrap_or_default());
                put(
                    "image_name",
                    image.map(|i| i.name.clone()).unwrap_or_default(),
                );
                put("private_ipv4", address(Some(v4), "private"));
                put("public_ipv4", public_ipv4.clone());
                put("public_ipv6", address(networks.v6.as_ref(), "public"));
                put(
                    "region",
                    d.region
                        .as_ref()
                        .map(|r| r.slug.clone())
                        .unwrap_or_default(),
                );
                put("size", d.size_slug.clone());
                put("status", d.status.clone());
                put("vpc", d.vpc_uuid.clone());
                let join = |v: &[String]| format!("{SEPARATOR}{}{SEPARATOR}", v.join(SEPARATOR));
                if let Some(f) = d.features.as_deref().filter(|f| !f.is_empty()) {
                    put("features", join(f));
                }
                if let Some(t) = d.tags.as_deref().filter(|t| !t.is_empty()) {
                    put("tags", join(t));
                }
                set.insert(
                    "__address__".into(),
                    join_host_port(&public_ipv4, self.port),
                );
                Some(Labels::from_pairs(set))
            })
            .collect();
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: "DigitalOcean".to_owned(),
        }])
    }
}

#[cfg(test)]
mod tests;
