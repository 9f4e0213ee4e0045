//! Nomad service discovery (`nomad_sd_configs`), as Prometheus's `discovery/nomad`: every
//! `refresh_interval` the service list (`/v1/services`) and each service's registrations
//! (`/v1/service/<name>`), one group (source `Nomad`) with a target per registration.
//!
//! Targets: `__address__` (`address:port`), `__meta_nomad_{address,dc,namespace,node_id,
//! service,service_address,service_id,service_port}` and, when the registration has tags,
//! `__meta_nomad_tags` (joined and surrounded by `tag_separator`).

use std::collections::BTreeMap;
use std::time::Duration;

use config::discovery::NomadSdConfig;
use model::{Labels, TargetGroup};

use crate::util::{self, encode_query, join_host_port};

const PREFIX: &str = "__meta_nomad_";

/// One nomad_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    client: httpclient::HttpClient,
    /// `scheme://host:port` of the server (the Nomad client ignores any path).
    base: String,
    /// `region`, `namespace` and `stale` as configured.
    params: Vec<(String, String)>,
    tag_separator: String,
    timeout: Duration,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct NamespaceServices {
    services: Option<Vec<ServiceStub>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ServiceStub {
    service_name: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Registration {
    #[serde(rename = "ID")]
    id: String,
    service_name: String,
    namespace: String,
    #[serde(rename = "NodeID")]
    node_id: String,
    datacenter: String,
    tags: Option<Vec<String>>,
    address: String,
    port: i64,
}

impl Discovery {
    /// A provider for `cfg` (Go's `NewDiscovery`).
    ///
    /// # Errors
    /// A server address that is not a URL, or unusable HTTP client options.
    pub(crate) fn new(cfg: &NomadSdConfig) -> Result<Discovery, String> {
        let url =
            url::Url::parse(&cfg.server).map_err(|e| format!("parse {:?}: {e}", cfg.server))?;
        let host = url.host_str().unwrap_or_default();
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let base = match url.port() {
            Some(p) => format!("{}://{host}:{p}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        };
        let mut params = Vec::new();
        if !cfg.region.is_empty() {
            params.push(("region".to_owned(), cfg.region.clone()));
        }
        if !cfg.namespace.is_empty() {
            params.push(("namespace".to_owned(), cfg.namespace.clone()));
        }
        if cfg.allow_stale {
            params.push(("stale".to_owned(), String::new()));
        }
        Ok(Discovery {
            client: httpclient::HttpClient::new(&cfg.http_client_config)
                .map(|c| c.named("nomad_sd"))
                .map_err(|e| e.to_string())?,
            base,
            params,
            tag_separator: cfg.tag_separator.clone(),
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
        })
    }

    /// GETs `path` and decodes its JSON, as the Nomad client does.
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let url = format!("{}{path}?{}", self.base, encode_query(&self.params));
        let url = url.trim_end_matches('?');
        let a = util::get(
            &self.client,
            url,
            &[("Accept", "application/json")],
            self.timeout,
        )
        .await?;
        if a.status != http::StatusCode::OK {
            return Err(format!(
                "Unexpected response code: {} ({})",
                a.status.as_u16(),
                String::from_utf8_lossy(&a.body).trim()
            ));
        }
        serde_json::from_slice(&a.body).map_err(|e| e.to_string())
    }

    /// One refresh (Go's `refresh`): the `Nomad` group.
    ///
    /// # Errors
    /// A failed list or service request; the caller keeps the last targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let stubs: Vec<NamespaceServices> = self.get("/v1/services").await?;
        let mut targets = Vec::new();
        for stub in &stubs {
            for service in stub.services.iter().flatten() {
                let path = format!(
                    "/v1/service/{}",
                    model::strutil::query_escape(&service.service_name).replace('+', "%20")
                );
                let instances: Vec<Registration> = self
                    .get(&path)
                    .await
                    .map_err(|e| format!("failed to fetch services: {e}"))?;
                for i in &instances {
                    let mut set: BTreeMap<String, String> = BTreeMap::new();
                    let mut put = |k: &str, v: &str| {
                        set.insert(format!("{PREFIX}{k}"), v.to_owned());
                    };
                    put("address", &i.address);
                    put("dc", &i.datacenter);
                    put("node_id", &i.node_id);
                    put("namespace", &i.namespace);
                    put("service_address", &i.address);
                    put("service_id", &i.id);
                    put("service_port", &i.port.to_string());
                    put("service", &i.service_name);
                    let tags = i.tags.as_deref().unwrap_or_default();
                    if !tags.is_empty() {
                        let sep = &self.tag_separator;
                        put("tags", &format!("{sep}{}{sep}", tags.join(sep)));
                    }
                    set.insert("__address__".into(), join_host_port(&i.address, i.port));
                    targets.push(Labels::from_pairs(set));
                }
            }
        }
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: "Nomad".to_owned(),
        }])
    }
}

#[cfg(test)]
mod tests;
