//! Outscale service discovery (`outscale_sd_configs`), as Prometheus's `discovery/outscale`:
//! every `refresh_interval` the account's VMs through the OUTSCALE API (`POST
//! <endpoint>/ReadVms`, following `NextPageToken`), signed with SigV4 (service `oapi`, the
//! configured region); one group (source: the region) with a target `<private IP>:<port>`
//! (else the public IP) per VM with an address, labelled `__meta_outscale_vm_*`.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use config::discovery::OutscaleSdConfig;
use model::{Labels, TargetGroup};

use crate::api;
use crate::util::{join_host_port, sanitize};

const PREFIX: &str = "__meta_outscale_vm_";

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct ReadVms {
    vms: Option<Vec<Vm>>,
    next_page_token: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct Vm {
    vm_id: Option<String>,
    state: Option<String>,
    private_ip: Option<String>,
    public_ip: Option<String>,
    placement: Option<Placement>,
    tags: Option<Vec<Tag>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct Placement {
    subregion_name: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct Tag {
    key: String,
    value: String,
}

/// One outscale_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    client: httpclient::HttpClient,
    endpoint: String,
    region: String,
    port: u16,
    timeout: Duration,
}

impl Discovery {
    /// A provider for `cfg` (Go's `NewDiscovery`).
    ///
    /// # Errors
    /// An unreadable `secret_key_file` or unusable HTTP client options.
    pub(crate) fn new(cfg: &OutscaleSdConfig) -> Result<Discovery, String> {
        let secret = if cfg.secret_key_file.is_empty() {
            cfg.secret_key.expose().to_owned()
        } else {
            std::fs::read_to_string(&cfg.secret_key_file)
                .map_err(|e| format!("reading secret_key_file {}: {e}", cfg.secret_key_file))?
                .trim()
                .to_owned()
        };
        let sigv4 = config::remote::SigV4Config {
            region: cfg.region.clone(),
            access_key: cfg.access_key.clone(),
            secret_key: config::Secret::new(secret),
            service_name: "oapi".to_owned(),
            ..Default::default()
        };
        let endpoint = if cfg.endpoint.is_empty() {
            format!("https://api.{}.outscale.com/api/v1", cfg.region)
        } else {
            cfg.endpoint.clone()
        };
        Ok(Discovery {
            client: httpclient::HttpClient::with_sigv4(&cfg.http_client_config, &sigv4)
                .map(|c| c.named("outscale_sd"))
                .map_err(|e| format!("outscale SD client config: {e}"))?,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            region: cfg.region.clone(),
            port: cfg.port,
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
        })
    }

    /// One refresh (Go's `refresh`): the region's group.
    ///
    /// # Errors
    /// A failed `ReadVms` page; the caller keeps the last targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let url = format!("{}/ReadVms", self.endpoint);
        let mut vms = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let body = match &token {
                Some(t) => serde_json::json!({ "NextPageToken": t }),
                None => serde_json::json!({}),
            };
            let a = api::send(
                &self.client,
                http::Method::POST,
                &url,
                &[
                    ("Content-Type", "application/json"),
                    ("Accept", "application/json"),
                    ("User-Agent", httpclient::USER_AGENT),
                ],
                Bytes::from(body.to_string()),
                self.timeout,
            )
            .await
            .map_err(|e| format!("outscale ReadVms: {e}"))?;
            if !a.status.is_success() {
                return Err(format!(
                    "outscale ReadVms: {} {}: {}",
                    a.status.as_u16(),
                    a.status.canonical_reason().unwrap_or_default(),
                    String::from_utf8_lossy(&a.body).trim()
                ));
            }
            let page: ReadVms = serde_json::from_slice(&a.body)
                .map_err(|e| format!("outscale ReadVms: decoding the answer: {e}"))?;
            vms.extend(page.vms.unwrap_or_default());
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(vec![TargetGroup {
            targets: vms.iter().filter_map(|vm| self.target(vm)).collect(),
            labels: Labels::empty(),
            source: self.region.clone(),
        }])
    }

    /// Go's `vmsToLabelSets` for one VM; none without an address.
    fn target(&self, vm: &Vm) -> Option<Labels> {
        let nonempty = |ip: &Option<String>| ip.clone().filter(|ip| !ip.is_empty());
        let address = nonempty(&vm.private_ip).or_else(|| nonempty(&vm.public_ip))?;
        let mut set: BTreeMap<String, String> = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            set.insert(format!("{PREFIX}{k}"), v.to_owned());
        };
        put("instance_id", vm.vm_id.as_deref().unwrap_or_default());
        put("region", &self.region);
        put("state", vm.state.as_deref().unwrap_or_default());
        if let Some(s) = vm
            .placement
            .as_ref()
            .and_then(|p| p.subregion_name.as_ref())
        {
            put("subregion", s);
        }
        if let Some(ip) = &vm.private_ip {
            put("private_ip", ip);
        }
        if let Some(ip) = &vm.public_ip {
            put("public_ip", ip);
        }
        for t in vm.tags.iter().flatten() {
            if !t.key.is_empty() && !t.value.is_empty() {
                put(&format!("tag_{}", sanitize(&t.key)), &t.value);
            }
        }
        set.insert(
            "__address__".to_owned(),
            join_host_port(&address, self.port),
        );
        Some(Labels::from_pairs(set))
    }
}

#[cfg(test)]
mod tests;
