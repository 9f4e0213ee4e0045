//! HTTP-based service discovery (`http_sd_configs`), as Prometheus's `discovery/http`: GETs
//! a URL every `refresh_interval` and reads a JSON list of target groups.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use config::discovery::HttpSdConfig;
use http_body_util::{BodyExt, Full};
use model::{Labels, LabelsBuilder, TargetGroup};

/// The label holding the URL a target group was fetched from.
pub const META_URL: &str = "__meta_url";

const USER_AGENT: &str = concat!("Prometheus/", env!("CARGO_PKG_VERSION"));

/// One http_sd provider: its client and how many groups the last good answer held.
#[derive(Debug)]
pub(crate) struct Discovery {
    url: String,
    client: httpclient::HttpClient,
    refresh_interval: Duration,
    last_len: usize,
}

#[derive(serde::Deserialize)]
struct Group {
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Go's `matchContentType`: `application/json`, optionally with a UTF-8 charset, any case.
pub(crate) fn is_json_content_type(ct: &str) -> bool {
    let ct = ct.trim().to_ascii_lowercase();
    let Some(rest) = ct.strip_prefix("application/json") else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(rest) = rest.strip_prefix(';') else {
        return false;
    };
    matches!(
        rest.trim_start_matches(char::is_whitespace),
        "charset=utf-8" | "charset=\"utf-8\""
    )
}

impl Discovery {
    /// A provider for `cfg`.
    ///
    /// # Errors
    /// The HTTP client options cannot be used (see [`httpclient::HttpClient::new`]).
    pub(crate) fn new(cfg: &HttpSdConfig) -> Result<Discovery, httpclient::Error> {
        Ok(Discovery {
            url: cfg.url.as_str().to_owned(),
            client: httpclient::HttpClient::new(&cfg.http_client_config)?.named("http"),
            refresh_interval: cfg.refresh_interval.to_std(),
            last_len: 0,
        })
    }

    /// Fetches the target groups: each group's source is `url:index` and its labels gain
    /// [`META_URL`]; groups the previous answer had beyond this one's length come back empty,
    /// so their targets go away.
    ///
    /// # Errors
    /// A message for a failed request, a status other than 200, a content type other than
    /// JSON or a body that is not a list of target groups. The caller keeps the last targets.
    pub(crate) async fn refresh(&mut self) -> Result<Vec<TargetGroup>, String> {
        let fetch = self.fetch();
        let groups = match tokio::time::timeout(self.refresh_interval, fetch).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(format!(
                    "Get {:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                    self.url
                ));
            }
        };
        let mut out = Vec::with_capacity(groups.len().max(self.last_len));
        for (i, g) in groups.into_iter().enumerate() {
            let Some(g) = g else {
                return Err("nil target group item found".into());
            };
            let mut lb = LabelsBuilder::new(&Labels::empty());
            for (k, v) in g.labels.iter().flatten() {
                lb.set(k, v);
            }
            lb.set(META_URL, &self.url);
            out.push(TargetGroup {
                targets: g
                    .targets
                    .iter()
                    .flatten()
                    .map(|t| Labels::from_pairs([("__address__", t.as_str())]))
                    .collect(),
                labels: lb.labels(),
                source: self.source(i),
            });
        }
        let len = out.len();
        for i in len..self.last_len {
            out.push(TargetGroup {
                targets: Vec::new(),
                labels: Labels::empty(),
                source: self.source(i),
            });
        }
        self.last_len = len;
        Ok(out)
    }

    fn source(&self, i: usize) -> String {
        format!("{}:{i}", self.url)
    }

    async fn fetch(&self) -> Result<Vec<Option<Group>>, String> {
        let req = http::Request::get(&self.url)
            .header(http::header::USER_AGENT, USER_AGENT)
            .header(http::header::ACCEPT, "application/json")
            .header(
                "X-Prometheus-Refresh-Interval-Seconds",
                self.refresh_interval.as_secs_f64().to_string(),
            )
            .body(Full::new(Bytes::new()))
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
        if !is_json_content_type(&ct) {
            return Err(format!("unsupported content type {ct:?}"));
        }
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer of {}: {e}", self.url))?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
pub(crate) mod tests;
