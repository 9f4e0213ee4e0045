//! PuppetDB service discovery (`puppetdb_sd_configs`), as Prometheus's `discovery/puppetdb`:
//! every `refresh_interval` the configured PQL `query` is POSTed to `<url>/pdb/query/v4`,
//! and each returned resource becomes a target `<certname>:<port>` in one group (source
//! `<api url>?query=<query>`).
//!
//! Labels: `__meta_puppetdb_{query,certname,resource,type,title,exported,file,environment}`,
//! `__meta_puppetdb_tags` (joined and surrounded by `,`) when there are tags, and with
//! `include_parameters` the resource's parameters as `__meta_puppetdb_parameter_<name>`
//! (nested objects flattened with `_`, lists joined with `,`).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use config::discovery::PuppetDbSdConfig;
use http_body_util::{BodyExt, Full};
use model::{Labels, TargetGroup};

use crate::util::{join_host_port, sanitize};

const PREFIX: &str = "__meta_puppetdb_";
const SEPARATOR: &str = ",";

/// One puppetdb_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    client: httpclient::HttpClient,
    url: String,
    query: String,
    port: u16,
    include_parameters: bool,
    timeout: Duration,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Resource {
    certname: String,
    resource: String,
    #[serde(rename = "type")]
    kind: String,
    title: String,
    exported: bool,
    tags: Option<Vec<String>>,
    file: String,
    environment: String,
    parameters: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A scalar parameter as Go's `toLabels` prints it (`None` for other kinds).
fn scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Number(n) => n.as_f64().map(model::strconv::format_float_g),
        _ => None,
    }
}

/// Go's `Parameters.toLabels`: label names (sanitized, without the prefix) and values;
/// empty values are left out.
fn parameter_labels(
    params: &serde_json::Map<String, serde_json::Value>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in params {
        let value = match v {
            serde_json::Value::Array(items) => {
                if items.is_empty() {
                    continue;
                }
                items
                    .iter()
                    .map(|i| scalar(i).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(SEPARATOR)
            }
            serde_json::Value::Object(sub) => {
                let prefix = sanitize(&format!("{k}_"));
                for (sk, sv) in parameter_labels(sub) {
                    out.insert(format!("{prefix}{sk}"), sv);
                }
                continue;
            }
            other => match scalar(other) {
                Some(s) => s,
                None => continue,
            },
        };
        if !value.is_empty() {
            out.insert(sanitize(k), value);
        }
    }
    out
}

impl Discovery {
    /// A provider for `cfg` (Go's `NewDiscovery`): the API URL is `url` with
    /// `pdb/query/v4` joined to its path.
    ///
    /// # Errors
    /// A URL that does not parse, or unusable HTTP client options.
    pub(crate) fn new(cfg: &PuppetDbSdConfig) -> Result<Discovery, String> {
        let mut url = url::Url::parse(&cfg.url).map_err(|e| format!("parse {:?}: {e}", cfg.url))?;
        let path = format!("{}/pdb/query/v4", url.path().trim_end_matches('/'));
        url.set_path(&path);
        Ok(Discovery {
            client: httpclient::HttpClient::new(&cfg.http_client_config)
                .map(|c| c.named("http"))
                .map_err(|e| e.to_string())?,
            url: url.to_string(),
            query: cfg.query.clone(),
            port: cfg.port,
            include_parameters: cfg.include_parameters,
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
        })
    }

    async fn fetch(&self) -> Result<Vec<Resource>, String> {
        let body = serde_json::json!({ "query": self.query }).to_string();
        let req = http::Request::post(&self.url)
            .header(http::header::USER_AGENT, httpclient::USER_AGENT)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("building request for {}: {e}", self.url))?;
        let resp = self.client.send(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        if status != http::StatusCode::OK {
            return Err(format!(
                "server returned HTTP status {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or_default()
            ));
        }
        let ct = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        if !crate::http::is_json_content_type(&ct) {
            return Err(format!("unsupported content type {ct}"));
        }
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer of {}: {e}", self.url))?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    }

    /// One refresh (Go's `refresh`).
    ///
    /// # Errors
    /// A failed request, a status other than 200, a content type other than JSON or a body
    /// that is not a list of resources; the caller keeps the last targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let resources = match tokio::time::timeout(self.timeout, self.fetch()).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(format!(
                    "Post {:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                    self.url
                ));
            }
        };
        let targets = resources
            .iter()
            .map(|r| {
                let mut set: BTreeMap<String, String> = BTreeMap::new();
                let mut put = |k: &str, v: String| {
                    set.insert(format!("{PREFIX}{k}"), v);
                };
                put("query", self.query.clone());
                put("certname", r.certname.clone());
                put("resource", r.resource.clone());
                put("type", r.kind.clone());
                put("title", r.title.clone());
                put("exported", r.exported.to_string());
                put("file", r.file.clone());
                put("environment", r.environment.clone());
                let tags = r.tags.as_deref().unwrap_or_default();
                if !tags.is_empty() {
                    put(
                        "tags",
                        format!("{SEPARATOR}{}{SEPARATOR}", tags.join(SEPARATOR)),
                    );
                }
                if self.include_parameters
                    && let Some(params) = &r.parameters
                {
                    for (k, v) in parameter_labels(params) {
                        put(&format!("parameter_{k}"), v);
                    }
                }
                set.insert("__address__".into(), join_host_port(&r.certname, self.port));
                Labels::from_pairs(set)
            })
            .collect();
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: format!("{}?query={}", self.url, self.query),
        }])
    }
}

#[cfg(test)]
mod tests;
