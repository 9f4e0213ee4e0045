//! Vultr service discovery (`vultr_sd_configs`), as Prometheus's `discovery/vultr`: every
//! `refresh_interval` all instances of the account (`GET /v2/instances`, 100 per page,
//! following the `meta.links.next` cursor; the API key goes in the HTTP client options'
//! `authorization`), one group (source `Vultr`) with a target `<main_ip>:<port>` per instance
//! labelled `__meta_vultr_instance_*`.

use std::collections::BTreeMap;
use std::time::Duration;

use config::discovery::PortRefreshHttpSdConfig;
use model::{Labels, TargetGroup};

use crate::util::{self, encode_query, join_host_port};

const PREFIX: &str = "__meta_vultr_instance_";
const SEPARATOR: &str = ",";
/// The Vultr API (govultr's default base URL).
const API_URL: &str = "https://api.vultr.com";

/// One vultr_sd provider.
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
struct InstancePage {
    instances: Option<Vec<Instance>>,
    meta: Meta,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Meta {
    links: Links,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Links {
    next: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Instance {
    id: String,
    os: String,
    ram: i64,
    disk: i64,
    main_ip: String,
    vcpu_count: i64,
    region: String,
    plan: String,
    allowed_bandwidth: i64,
    server_status: String,
    v6_main_ip: String,
    label: String,
    internal_ip: String,
    hostname: String,
    os_id: i64,
    features: Option<Vec<String>>,
    tags: Option<Vec<String>>,
}

impl Discovery {
    /// A provider for `cfg` (Go's `NewDiscovery`).
    ///
    /// # Errors
    /// Unusable HTTP client options.
    pub(crate) fn new(cfg: &PortRefreshHttpSdConfig) -> Result<Discovery, String> {
        Ok(Discovery {
            client: httpclient::HttpClient::new(&cfg.http_client_config)
                .map(|c| c.named("vultr_sd"))
                .map_err(|e| e.to_string())?,
            base: API_URL.to_owned(),
            port: cfg.port,
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
        })
    }

    /// Every instance, page by page.
    async fn instances(&self) -> Result<Vec<Instance>, String> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let mut params = vec![("per_page".to_owned(), "100".to_owned())];
            if !cursor.is_empty() {
                params.push(("cursor".to_owned(), cursor.clone()));
            }
            let url = format!(
                "{}/v2/instances?{}",
                self.base.trim_end_matches('/'),
                encode_query(&params)
            );
            let a = util::get(
                &self.client,
                &url,
                &[
                    ("Accept", "application/json"),
                    ("User-Agent", httpclient::USER_AGENT),
                ],
                self.timeout,
            )
            .await?;
            if !a.status.is_success() {
                let body = String::from_utf8_lossy(&a.body);
                let mut err = format!(
                    "listing Vultr instances: server returned HTTP status {} {}",
                    a.status.as_u16(),
                    a.status.canonical_reason().unwrap_or_default()
                );
                if !body.trim().is_empty() {
                    err = format!("{err}: {}", body.trim());
                }
                return Err(err);
            }
            let page: InstancePage =
                serde_json::from_slice(&a.body).map_err(|e| format!("{url:?}: {e}"))?;
            out.extend(page.instances.unwrap_or_default());
            if page.meta.links.next.is_empty() {
                return Ok(out);
            }
            cursor = page.meta.links.next;
        }
    }

    /// One refresh (Go's `refresh`): the `Vultr` group.
    ///
    /// # Errors
    /// A failed request or an answer that does not decode; the caller keeps the last
    /// targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let targets = self
            .instances()
            .await?
            .iter()
            .map(|i| {
                let mut set: BTreeMap<String, String> = BTreeMap::new();
                let mut put = |k: &str, v: String| {
                    set.insert(format!("{PREFIX}{k}"), v);
                };
                put("id", i.id.clone());
                put("label", i.label.clone());
                put("os", i.os.clone());
                put("os_id", i.os_id.to_string());
                put("region", i.region.clone());
                put("plan", i.plan.clone());
                put("vcpu_count", i.vcpu_count.to_string());
                put("ram_mb", i.ram.to_string());
                put("allowed_bandwidth_gb", i.allowed_bandwidth.to_string());
                put("disk_gb", i.disk.to_string());
                put("main_ip", i.main_ip.clone());
                put("main_ipv6", i.v6_main_ip.clone());
                put("internal_ip", i.internal_ip.clone());
                put("hostname", i.hostname.clone());
                put("server_status", i.server_status.clone());
                let join = |v: &[String]| format!("{SEPARATOR}{}{SEPARATOR}", v.join(SEPARATOR));
                if let Some(f) = i.features.as_deref().filter(|f| !f.is_empty()) {
                    put("features", join(f));
                }
                if let Some(t) = i.tags.as_deref().filter(|t| !t.is_empty()) {
                    put("tags", join(t));
                }
                set.insert("__address__".into(), join_host_port(&i.main_ip, self.port));
                Labels::from_pairs(set)
            })
            .collect();
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: "Vultr".to_owned(),
        }])
    }
}

#[cfg(test)]
mod tests;
