//! Kuma service discovery (`kuma_sd_configs`), as Prometheus's `discovery/xds`: the
//! monitoring assignments of a Kuma control plane through MADS v1 over xDS REST-JSON
//! polling (`POST <server>/v3/discovery:monitoringassignments?fetch-timeout=<t>` with a
//! `DiscoveryRequest` naming the last version and nonce; `304 Not Modified` when nothing
//! changed), one group (source `kuma`) with a target per assignment target, labelled
//! `__meta_kuma_*` and with `instance`, `__scheme__` and `__metrics_path__` set.
//!
//! A poll starts every `refresh_interval` (at once again after one that took longer);
//! each is timed in `prometheus_sd_kuma_fetch_duration_seconds`, failures counted in
//! `prometheus_sd_kuma_fetch_failures_total` and answers without changes in
//! `prometheus_sd_kuma_fetch_skipped_updates_total`.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use config::discovery::KumaSdConfig;
use model::{Labels, TargetGroup};

use crate::api;
use crate::util::{encode_query, sanitize};

/// The MADS v1 resource type URL.
const TYPE_URL: &str = "type.googleapis.com/kuma.observability.v1.MonitoringAssignment";
const PREFIX: &str = "__meta_kuma_";

/// A `DiscoveryResponse` as protojson writes it (camelCase names, proto names accepted).
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct DiscoveryResponse {
    #[serde(rename = "versionInfo", alias = "version_info")]
    version_info: String,
    resources: Vec<Assignment>,
    #[serde(rename = "typeUrl", alias = "type_url")]
    type_url: String,
    nonce: String,
}

/// A `MonitoringAssignment` in an `Any` (its `@type` beside the fields).
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Assignment {
    #[serde(rename = "@type")]
    kind: String,
    mesh: String,
    service: String,
    targets: Vec<Target>,
    labels: BTreeMap<String, String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Target {
    name: String,
    scheme: String,
    address: String,
    #[serde(rename = "metricsPath", alias = "metrics_path")]
    metrics_path: String,
    labels: BTreeMap<String, String>,
}

/// What the polling remembers between fetches.
#[derive(Debug, Default)]
struct Cursor {
    version: String,
    nonce: String,
}

/// One kuma_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    client: httpclient::HttpClient,
    endpoint: String,
    client_id: String,
    timeout: Duration,
    cursor: tokio::sync::Mutex<Cursor>,
}

/// The MADS endpoint under `server` (Go's `makeXDSResourceHTTPEndpointURL`).
fn endpoint(server: &str, fetch_timeout: &str) -> Result<String, String> {
    let url = url::Url::parse(server).map_err(|e| format!("kuma_sd: {e}"))?;
    if url.host_str().unwrap_or_default().is_empty() {
        return Err("kuma_sd: invalid xDS server URL".to_owned());
    }
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(
            "kuma_sd: invalid xDS server URL protocol. must be either 'http' or 'https'".to_owned(),
        );
    }
    let mut out = url.clone();
    let path = format!(
        "{}/v3/discovery:monitoringassignments",
        url.path().trim_end_matches('/')
    );
    out.set_path(&path);
    out.set_query(Some(&encode_query(&[(
        "fetch-timeout".to_owned(),
        fetch_timeout.to_owned(),
    )])));
    out.set_fragment(None);
    Ok(out.to_string())
}

/// The machine's host name, the default client id ("prometheus" without one).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "prometheus".to_owned())
}

/// The targets of one assignment (Go's `convertKumaV1MonitoringAssignment`).
fn assignment_targets(a: &Assignment, out: &mut Vec<Labels>) {
    let user = |labels: &BTreeMap<String, String>, set: &mut BTreeMap<String, String>| {
        for (k, v) in labels {
            set.insert(format!("{PREFIX}label_{}", sanitize(k)), v.clone());
        }
    };
    for t in &a.targets {
        let mut set = BTreeMap::new();
        // The assignment's labels win over the target's.
        user(&t.labels, &mut set);
        user(&a.labels, &mut set);
        set.insert(format!("{PREFIX}mesh"), a.mesh.clone());
        set.insert(format!("{PREFIX}service"), a.service.clone());
        set.insert(format!("{PREFIX}dataplane"), t.name.clone());
        set.insert("__address__".to_owned(), t.address.clone());
        set.insert("instance".to_owned(), t.name.clone());
        set.insert("__scheme__".to_owned(), t.scheme.clone());
        set.insert("__metrics_path__".to_owned(), t.metrics_path.clone());
        out.push(Labels::from_pairs(set));
    }
}

impl Discovery {
    /// A provider for `cfg` (Go's `NewKumaHTTPDiscovery`).
    ///
    /// # Errors
    /// A server URL that is not http(s), or unusable HTTP client options.
    pub(crate) fn new(cfg: &KumaSdConfig) -> Result<Discovery, String> {
        Ok(Discovery {
            client: httpclient::HttpClient::new(&cfg.http_client_config)
                // Go's xDS client config for Kuma sets no name: the dialer's is empty.
                .map(|c| c.named(""))
                .map_err(|e| format!("kuma_sd: {e}"))?,
            endpoint: endpoint(&cfg.server, &cfg.fetch_timeout.to_string())?,
            client_id: if cfg.client_id.is_empty() {
                host_name()
            } else {
                cfg.client_id.clone()
            },
            // 15s over the timeout sent to the server, for the connection.
            timeout: cfg.fetch_timeout.to_std() + Duration::from_secs(15),
            cursor: tokio::sync::Mutex::new(Cursor::default()),
        })
    }

    /// One fetch: the new group, or `None` when the server has nothing newer (304).
    ///
    /// # Errors
    /// A failed exchange, a status other than 200 or 304, or an answer that does not
    /// decode or is not of the MADS type.
    pub(crate) async fn fetch(&self) -> Result<Option<Vec<TargetGroup>>, String> {
        let mut cursor = self.cursor.lock().await;
        // protojson leaves out empty fields.
        let mut req = serde_json::Map::new();
        if !cursor.version.is_empty() {
            req.insert("version_info".into(), cursor.version.clone().into());
        }
        req.insert("node".into(), serde_json::json!({ "id": self.client_id }));
        req.insert("type_url".into(), TYPE_URL.into());
        if !cursor.nonce.is_empty() {
            req.insert("response_nonce".into(), cursor.nonce.clone().into());
        }
        let body = serde_json::Value::Object(req).to_string();
        let a = api::send(
            &self.client,
            http::Method::POST,
            &self.endpoint,
            &[
                ("User-Agent", httpclient::USER_AGENT),
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ],
            Bytes::from(body),
            self.timeout,
        )
        .await?;
        if a.status == http::StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        if a.status != http::StatusCode::OK {
            return Err(format!(
                "non 200 status '{}' response during xDS fetch",
                a.status.as_u16()
            ));
        }
        let resp: DiscoveryResponse =
            serde_json::from_slice(&a.body).map_err(|e| format!("decoding the xDS answer: {e}"))?;
        cursor.nonce.clone_from(&resp.nonce);
        cursor.version.clone_from(&resp.version_info);
        drop(cursor);
        if resp.type_url != TYPE_URL {
            return Err(format!(
                "received invalid typeURL for Kuma MADS v1 Resource: {}",
                resp.type_url
            ));
        }
        let mut targets = Vec::new();
        for r in &resp.resources {
            if r.kind != TYPE_URL {
                return Err(format!(
                    "mismatched message type: got {:?}, want {:?}",
                    r.kind.rsplit('/').next().unwrap_or_default(),
                    "kuma.observability.v1.MonitoringAssignment"
                ));
            }
            assignment_targets(r, &mut targets);
        }
        tracing::debug!(version = %resp.version_info, targets = targets.len(), "Updated to version");
        Ok(Some(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: "kuma".to_owned(),
        }]))
    }
}

#[cfg(test)]
mod tests;
