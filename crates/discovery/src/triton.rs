//! Triton service discovery (`triton_sd_configs`), as Prometheus's `discovery/triton`:
//! every `refresh_interval` the containers (`https://<endpoint>:<port>/v<version>/discover`)
//! or compute nodes (`.../gz/discover`, role `cn`) that triton-cmon lists, optionally only
//! of `groups`, through a client with `tls_config`; one group (source: that URL) with a
//! target `<uuid>.<dns_suffix>:<port>` each, labelled `__meta_triton_*`.

use std::time::Duration;

use config::discovery::TritonSdConfig;
use model::{Labels, TargetGroup};

use crate::util::encode_query;

const PREFIX: &str = "__meta_triton_";

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Containers {
    containers: Vec<Container>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Container {
    groups: Vec<String>,
    server_uuid: String,
    vm_alias: String,
    vm_brand: String,
    vm_image_uuid: String,
    vm_uuid: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ComputeNodes {
    cns: Vec<ComputeNode>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ComputeNode {
    server_uuid: String,
    server_hostname: String,
}

/// One triton_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    client: httpclient::HttpClient,
    /// The discovery URL, also the group's source.
    endpoint: String,
    compute_nodes: bool,
    dns_suffix: String,
    port: u16,
    timeout: Duration,
}

impl Discovery {
    /// A provider for `cfg` (Go's `New`).
    ///
    /// # Errors
    /// Unusable TLS options.
    pub(crate) fn new(cfg: &TritonSdConfig) -> Result<Discovery, String> {
        let compute_nodes = cfg.role == "cn";
        let mut endpoint = format!(
            "https://{}:{}/v{}/{}discover",
            cfg.endpoint,
            cfg.port,
            cfg.version,
            if compute_nodes { "gz/" } else { "" }
        );
        if !cfg.groups.is_empty() {
            // Go escapes the joined list as one value.
            let q = encode_query(&[("groups".to_owned(), cfg.groups.join(","))]);
            endpoint = format!("{endpoint}?{q}");
        }
        let http = config::HttpClientConfig {
            tls_config: cfg.tls_config.clone(),
            ..Default::default()
        };
        Ok(Discovery {
            client: httpclient::HttpClient::new(&http)
                .map(|c| c.named("triton_sd"))
                .map_err(|e| e.to_string())?,
            endpoint,
            compute_nodes,
            dns_suffix: cfg.dns_suffix.clone(),
            port: cfg.port,
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
        })
    }

    /// One refresh (Go's `refresh`): the endpoint's group.
    ///
    /// # Errors
    /// A failed request or a body that does not decode; the caller keeps the last targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let a = crate::util::get(&self.client, &self.endpoint, &[], self.timeout)
            .await
            .map_err(|e| {
                format!(
                    "an error occurred when requesting targets from the discovery endpoint: {e}"
                )
            })?;
        let target = |uuid: &str, mut pairs: Vec<(String, String)>| {
            pairs.push((
                "__address__".to_owned(),
                format!("{uuid}.{}:{}", self.dns_suffix, self.port),
            ));
            Labels::from_pairs(pairs)
        };
        let meta = |k: &str, v: &str| (format!("{PREFIX}{k}"), v.to_owned());
        let targets = if self.compute_nodes {
            let r: ComputeNodes = serde_json::from_slice(&a.body).map_err(|e| {
                format!(
                    "an error occurred unmarshaling the compute node discovery response json: {e}"
                )
            })?;
            r.cns
                .iter()
                .map(|cn| {
                    target(
                        &cn.server_uuid,
                        vec![
                            meta("machine_id", &cn.server_uuid),
                            meta("machine_alias", &cn.server_hostname),
                        ],
                    )
                })
                .collect()
        } else {
            let r: Containers = serde_json::from_slice(&a.body).map_err(|e| {
                format!("an error occurred unmarshaling the discovery response json: {e}")
            })?;
            r.containers
                .iter()
                .map(|c| {
                    let mut pairs = vec![
                        meta("machine_id", &c.vm_uuid),
                        meta("machine_alias", &c.vm_alias),
                        meta("machine_brand", &c.vm_brand),
                        meta("machine_image", &c.vm_image_uuid),
                        meta("server_id", &c.server_uuid),
                    ];
                    if !c.groups.is_empty() {
                        pairs.push(meta("groups", &format!(",{},", c.groups.join(","))));
                    }
                    target(&c.vm_uuid, pairs)
                })
                .collect()
        };
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: self.endpoint.clone(),
        }])
    }
}

#[cfg(test)]
mod tests;
