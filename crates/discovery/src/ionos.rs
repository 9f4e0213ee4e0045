//! IONOS Cloud service discovery (`ionos_sd_configs`), as Prometheus's `discovery/ionos`:
//! every `refresh_interval` the servers of the data center `datacenter_id`
//! (`GET /cloudapi/v6/datacenters/<id>/servers?depth=3`, credentials from the HTTP client
//! options), one group (source `ionos`) with a target `<first IP>:<port>` per server that
//! has NIC addresses, labelled `__meta_ionos_server_*`.

use std::collections::BTreeMap;
use std::time::Duration;

use config::discovery::IonosSdConfig;
use model::{Labels, TargetGroup};

use crate::api;
use crate::util::{join_host_port, sanitize};

const PREFIX: &str = "__meta_ionos_server_";
const SEPARATOR: &str = ",";
/// The IONOS Cloud API host (the SDK's default; its base path is added to it).
const API_URL: &str = "https://api.ionos.com";
/// The SDK's base path.
const BASE_PATH: &str = "/cloudapi/v6";

/// One ionos_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    client: httpclient::HttpClient,
    /// The API host (tests point it at a fake).
    pub(crate) base: String,
    datacenter_id: String,
    port: u16,
    timeout: Duration,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Servers {
    id: String,
    items: Vec<Server>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Server {
    id: String,
    metadata: Metadata,
    properties: Properties,
    entities: Option<Entities>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Metadata {
    state: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Properties {
    name: String,
    availability_zone: String,
    vm_state: String,
    cpu_family: String,
    #[serde(rename = "type")]
    kind: String,
    boot_cdrom: Option<Reference>,
    boot_volume: Option<Reference>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Reference {
    id: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Entities {
    nics: Option<Collection<Nic>>,
    volumes: Option<Collection<Volume>>,
}

#[derive(serde::Deserialize)]
struct Collection<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Nic {
    properties: NicProperties,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct NicProperties {
    name: Option<String>,
    ips: Option<Vec<String>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Volume {
    properties: VolumeProperties,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct VolumeProperties {
    image: Option<String>,
}

fn join(v: &[String]) -> String {
    format!("{SEPARATOR}{}{SEPARATOR}", v.join(SEPARATOR))
}

impl Discovery {
    /// A provider for `cfg`.
    ///
    /// # Errors
    /// Unusable HTTP client options.
    pub(crate) fn new(cfg: &IonosSdConfig) -> Result<Discovery, String> {
        Ok(Discovery {
            client: httpclient::HttpClient::new(&cfg.http_client_config)
                .map(|c| c.named("ionos_sd"))
                .map_err(|e| e.to_string())?,
            base: API_URL.to_owned(),
            datacenter_id: cfg.datacenter_id.clone(),
            port: cfg.port,
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
        })
    }

    /// One refresh: the `ionos` group.
    ///
    /// # Errors
    /// A failed request or an answer that does not decode; the caller keeps the last
    /// targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let url = format!(
            "{}{BASE_PATH}/datacenters/{}/servers?depth=3",
            self.base.trim_end_matches('/'),
            self.datacenter_id
        );
        let agent = format!("Prometheus/{}", env!("CARGO_PKG_VERSION"));
        let servers: Servers = api::get_json(
            &self.client,
            "listing IONOS Cloud servers",
            &url,
            &[("Accept", "application/json"), ("User-Agent", &agent)],
            self.timeout,
        )
        .await?;
        let mut targets = Vec::new();
        for s in &servers.items {
            // Each NIC's addresses go before those seen so far, as upstream builds them.
            let mut ips: Vec<String> = Vec::new();
            let mut by_nic: BTreeMap<String, Vec<String>> = BTreeMap::new();
            let nics = s.entities.as_ref().and_then(|e| e.nics.as_ref());
            for nic in nics.map(|n| n.items.as_slice()).unwrap_or_default() {
                let name = nic
                    .properties
                    .name
                    .clone()
                    .unwrap_or_else(|| "unnamed".to_owned());
                let nic_ips = nic.properties.ips.clone().unwrap_or_default();
                ips.splice(0..0, nic_ips.iter().cloned());
                by_nic.entry(name).or_default().splice(0..0, nic_ips);
            }
            let Some(first) = ips.first() else {
                continue;
            };
            let mut set: BTreeMap<String, String> = BTreeMap::new();
            let mut put = |k: &str, v: String| {
                set.insert(format!("{PREFIX}{k}"), v);
            };
            put("availability_zone", s.properties.availability_zone.clone());
            put("cpu_family", s.properties.cpu_family.clone());
            put("servers_id", servers.id.clone());
            put("id", s.id.clone());
            put("ip", join(&ips));
            put("lifecycle", s.metadata.state.clone());
            put("name", s.properties.name.clone());
            put("state", s.properties.vm_state.clone());
            put("type", s.properties.kind.clone());
            for (name, nic_ips) in &by_nic {
                put(&format!("nic_ip_{}", sanitize(name)), join(nic_ips));
            }
            if let Some(c) = &s.properties.boot_cdrom {
                put("boot_cdrom_id", c.id.clone());
            }
            if let Some(v) = &s.properties.boot_volume {
                put("boot_volume_id", v.id.clone());
            }
            let volumes = s.entities.as_ref().and_then(|e| e.volumes.as_ref());
            if let Some(image) = volumes
                .and_then(|v| v.items.first())
                .and_then(|v| v.properties.image.clone())
            {
                put("boot_image_id", image);
            }
            set.insert("__address__".into(), join_host_port(first, self.port));
            targets.push(Labels::from_pairs(set));
        }
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: "ionos".to_owned(),
        }])
    }
}

#[cfg(test)]
mod tests;
