//! Consul service discovery (`consul_sd_configs`), as Prometheus's `discovery/consul`: the
//! catalog's service list and each watched service's health entries, read with Consul's
//! blocking queries (`index` + `wait=120000ms`), at most once per `refresh_interval` each.
//!
//! One group per service (source: the service name) with `__meta_consul_service` and
//! `__meta_consul_dc`; one target per service instance with `__meta_consul_address`,
//! `_node`, `_namespace`, `_partition`, `_tags` (joined and surrounded by `tag_separator`),
//! `_service_address`, `_service_port`, `_service_id`, `_health` (the checks' aggregated
//! status), `_metadata_<k>`, `_service_metadata_<k>` and `_tagged_address_<k>`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use config::discovery::ConsulSdConfig;
use model::{Labels, TargetGroup};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::util::{self, encode_query, join_host_port, sanitize};

const PREFIX: &str = "__meta_consul_";
/// How long a blocking query may wait on the server (Go's `watchTimeout`).
const WATCH_TIMEOUT: Duration = Duration::from_secs(120);
/// The HTTP time limit: the blocking wait plus 15 s, as Prometheus sets it.
const HTTP_TIMEOUT: Duration = Duration::from_secs(135);
/// Pause after a failed request (Go's `retryInterval`).
const RETRY_INTERVAL: Duration = Duration::from_secs(15);

/// The HTTP side: where Consul is and what every request carries.
#[derive(Debug)]
struct Api {
    client: httpclient::HttpClient,
    /// `scheme://server` plus `path_prefix` (only the prefix over a unix socket).
    base: String,
    /// The agent's unix socket, for a `unix://` server (the Consul client then speaks
    /// plain HTTP over it, without the HTTP client options).
    socket: Option<std::path::PathBuf>,
    token: String,
    /// `dc`, `ns` and `partition` as configured (every request has them).
    params: Vec<(String, String)>,
    allow_stale: bool,
    node_meta: BTreeMap<String, String>,
}

/// One answer of a blocking query: the body and `X-Consul-Index`.
struct Indexed<T> {
    value: T,
    index: u64,
}

impl Api {
    fn url(&self, path: &str, params: &[(String, String)]) -> String {
        let q = encode_query(params);
        if q.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?{q}", self.base)
        }
    }

    /// GETs `path` and decodes its JSON, as the Consul client does (`requireOK`, then
    /// `X-Consul-Index`).
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        params: &[(String, String)],
    ) -> Result<Indexed<T>, String> {
        let url = self.url(path, params);
        let mut headers = vec![("Accept", "application/json")];
        if !self.token.is_empty() {
            headers.push(("X-Consul-Token", self.token.as_str()));
        }
        let answer = match &self.socket {
            Some(socket) => {
                util::unix_get(socket, "localhost", &url, &headers, HTTP_TIMEOUT).await?
            }
            None => util::get(&self.client, &url, &headers, HTTP_TIMEOUT).await?,
        };
        if answer.status != http::StatusCode::OK {
            return Err(format!(
                "Unexpected response code: {} ({})",
                answer.status.as_u16(),
                String::from_utf8_lossy(&answer.body).trim()
            ));
        }
        let index = match answer.header("X-Consul-Index") {
            s if s.is_empty() => 0,
            s => s
                .parse()
                .map_err(|e| format!("Failed to parse X-Consul-Index: {e}"))?,
        };
        let value = serde_json::from_slice(&answer.body).map_err(|e| e.to_string())?;
        Ok(Indexed { value, index })
    }

    /// The query options of a blocking query (Go's `QueryOptions` with `WaitIndex`,
    /// `WaitTime`, `AllowStale`, `NodeMeta` and `Filter`).
    fn blocking(&self, index: u64, filter: &str) -> Vec<(String, String)> {
        let mut p = self.params.clone();
        if self.allow_stale {
            p.push(("stale".into(), String::new()));
        }
        if index != 0 {
            p.push(("index".into(), index.to_string()));
        }
        p.push(("wait".into(), format!("{}ms", WATCH_TIMEOUT.as_millis())));
        if !filter.is_empty() {
            p.push(("filter".into(), filter.to_owned()));
        }
        for (k, v) in &self.node_meta {
            p.push(("node-meta".into(), format!("{k}:{v}")));
        }
        p
    }
}

/// One consul_sd provider.
#[derive(Debug, Clone)]
pub(crate) struct Discovery {
    api: Arc<Api>,
    datacenter: String,
    tag_separator: String,
    services: Vec<String>,
    tags: Vec<String>,
    filter: String,
    health_filter: String,
    refresh_interval: Duration,
    retry_interval: Duration,
    /// Where RPC failures and durations count (`prometheus_sd_consul_rpc_*`).
    metrics: Metrics,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ServiceEntry {
    node: Option<Node>,
    service: Option<Service>,
    checks: Option<Vec<Check>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Node {
    node: String,
    address: String,
    tagged_addresses: Option<BTreeMap<String, String>>,
    meta: Option<BTreeMap<String, String>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Service {
    #[serde(rename = "ID")]
    id: String,
    tags: Option<Vec<String>>,
    address: String,
    meta: Option<BTreeMap<String, String>>,
    port: i64,
    namespace: String,
    partition: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Check {
    #[serde(rename = "CheckID")]
    check_id: String,
    status: String,
}

/// The Consul client's `HealthChecks.AggregatedStatus`: maintenance wins, then critical,
/// warning and passing; an unknown status makes it empty; no checks are passing.
fn aggregated_status(checks: &[Check]) -> &'static str {
    let (mut warning, mut critical, mut maintenance) = (false, false, false);
    for c in checks {
        if c.check_id == "_node_maintenance" || c.check_id.starts_with("_service_maintenance:") {
            maintenance = true;
            continue;
        }
        match c.status.as_str() {
            "passing" => {}
            "warning" => warning = true,
            "critical" => critical = true,
            _ => return "",
        }
    }
    if maintenance {
        "maintenance"
    } else if critical {
        "critical"
    } else if warning {
        "warning"
    } else {
        "passing"
    }
}

impl Discovery {
    /// A provider for `cfg` (Go's `NewDiscovery`).
    ///
    /// # Errors
    /// Unusable HTTP client options, or a `server` with a scheme other than http or https.
    pub(crate) fn new(cfg: &ConsulSdConfig) -> Result<Discovery, String> {
        let client =
            httpclient::HttpClient::new(&cfg.http_client_config).map_err(|e| e.to_string())?;
        let client = client.named("consul_sd");
        let mut scheme = cfg.scheme.as_str();
        let mut address = cfg.server.as_str();
        let mut socket = None;
        if let Some((proto, rest)) = address.split_once("://") {
            match proto {
                "http" => {}
                "https" => scheme = "https",
                "unix" => socket = Some(std::path::PathBuf::from(rest)),
                other => return Err(format!("unknown protocol scheme: {other}")),
            }
            address = rest;
        }
        let scheme = if scheme.is_empty() { "http" } else { scheme };
        let base = if socket.is_some() {
            cfg.path_prefix.clone()
        } else {
            format!("{scheme}://{address}{}", cfg.path_prefix)
        };
        let mut params = Vec::new();
        for (k, v) in [
            ("dc", &cfg.datacenter),
            ("ns", &cfg.namespace),
            ("partition", &cfg.partition),
        ] {
            if !v.is_empty() {
                params.push((k.to_owned(), v.clone()));
            }
        }
        Ok(Discovery {
            api: Arc::new(Api {
                client,
                base,
                socket,
                token: cfg.token.expose().to_owned(),
                params,
                allow_stale: cfg.allow_stale,
                node_meta: cfg.node_meta.clone(),
            }),
            datacenter: cfg.datacenter.clone(),
            tag_separator: cfg.tag_separator.clone(),
            services: cfg.services.clone(),
            tags: cfg.tags.clone(),
            filter: cfg.filter.clone(),
            health_filter: cfg.health_filter.clone(),
            refresh_interval: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
            retry_interval: RETRY_INTERVAL,
            metrics: Metrics::default(),
        })
    }

    /// Go's `shouldWatch`: a configured service name (or any when none are configured)
    /// carrying every configured tag.
    fn should_watch(&self, name: &str, tags: &[String]) -> bool {
        (self.services.is_empty() || self.services.iter().any(|s| s == name))
            && self.tags.iter().all(|t| tags.contains(t))
    }

    /// The local agent's datacenter (`/v1/agent/self`, `Config.Datacenter`).
    async fn agent_datacenter(&self) -> Result<String, String> {
        let info: Indexed<serde_json::Value> = self.api.get("/v1/agent/self", &[]).await?;
        match &info.value["Config"]["Datacenter"] {
            serde_json::Value::String(dc) => Ok(dc.clone()),
            serde_json::Value::Null => {
                Err("invalid value '<nil>' for Config.Datacenter".to_owned())
            }
            other => Err(format!("invalid value '{other}' for Config.Datacenter")),
        }
    }

    /// Runs until `cancel`, handing groups to `send`: first the datacenter (retried every
    /// 15 s until known), then either the catalog (no `services`, or `tags` configured) or
    /// the configured services directly.
    ///
    /// RPC failures (the datacenter, the catalog and each service's entries) count in
    /// `prometheus_sd_consul_rpc_failures_total`, catalog and service queries are timed in
    /// `prometheus_sd_consul_rpc_duration_seconds`, all in `metrics`.
    pub(crate) async fn run(
        mut self,
        cancel: CancellationToken,
        send: impl Fn(Vec<TargetGroup>) + Send,
        metrics: Metrics,
    ) {
        self.metrics = metrics;
        while self.datacenter.is_empty() {
            match self.agent_datacenter().await {
                Ok(dc) => self.datacenter = dc,
                Err(e) => {
                    self.metrics.sd().consul.rpc_failures.inc();
                    tracing::error!(err = %e, "Error retrieving datacenter name");
                    if !sleep(self.retry_interval, &cancel).await {
                        return;
                    }
                }
            }
            if cancel.is_cancelled() {
                return;
            }
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut tasks = tokio::task::JoinSet::new();
        if self.services.is_empty() || !self.tags.is_empty() {
            tasks.spawn(self.clone().watch_catalog(cancel.clone(), tx));
        } else {
            for name in &self.services {
                tasks.spawn(
                    self.clone()
                        .watch_service(name.clone(), cancel.clone(), tx.clone()),
                );
            }
            drop(tx);
        }
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                g = rx.recv() => match g {
                    Some(groups) => send(groups),
                    None => break,
                },
            }
        }
        tasks.shutdown().await;
    }

    /// Go's `Run` loop over `watchServices`: one catalog query per `refresh_interval`.
    async fn watch_catalog(
        self,
        cancel: CancellationToken,
        tx: mpsc::UnboundedSender<Vec<TargetGroup>>,
    ) {
        let mut ticker = ticker(self.refresh_interval);
        let mut last_index = 0;
        let mut watched: HashMap<String, CancellationToken> = HashMap::new();
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = self.watch_services(&cancel, &tx, &mut last_index, &mut watched, &mut tasks) => {}
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = ticker.tick() => {}
            }
        }
    }

    /// Go's `watchServices`: starts watching new matching services, stops and clears
    /// vanished ones, and sends an empty group when nothing is watched.
    async fn watch_services(
        &self,
        cancel: &CancellationToken,
        tx: &mpsc::UnboundedSender<Vec<TargetGroup>>,
        last_index: &mut u64,
        watched: &mut HashMap<String, CancellationToken>,
        tasks: &mut tokio::task::JoinSet<()>,
    ) {
        let params = self.api.blocking(*last_index, &self.filter);
        let start = std::time::Instant::now();
        let answer = self
            .api
            .get::<BTreeMap<String, Option<Vec<String>>>>("/v1/catalog/services", &params)
            .await;
        let consul = &self.metrics.sd().consul;
        consul.services_duration.observe_since(start);
        let answer: Indexed<BTreeMap<String, Option<Vec<String>>>> = match answer {
            Ok(a) => a,
            Err(e) => {
                consul.rpc_failures.inc();
                tracing::error!(err = %e, "Error refreshing service list");
                sleep(self.retry_interval, cancel).await;
                return;
            }
        };
        if answer.index == *last_index {
            return;
        }
        *last_index = answer.index;
        let services = answer.value;
        for (name, tags) in &services {
            if !self.should_watch(name, tags.as_deref().unwrap_or_default())
                || watched.contains_key(name)
            {
                continue;
            }
            let token = cancel.child_token();
            tasks.spawn(
                self.clone()
                    .watch_service(name.clone(), token.clone(), tx.clone()),
            );
            watched.insert(name.clone(), token);
        }
        let gone: Vec<String> = watched
            .keys()
            .filter(|n| !services.contains_key(*n))
            .cloned()
            .collect();
        for name in gone {
            if let Some(token) = watched.remove(&name) {
                token.cancel();
            }
            let _ = tx.send(vec![TargetGroup {
                targets: Vec::new(),
                labels: Labels::empty(),
                source: name,
            }]);
        }
        if watched.is_empty() {
            let _ = tx.send(vec![TargetGroup::default()]);
        }
    }

    /// Go's `watchService`: the service's health entries, once per `refresh_interval`.
    async fn watch_service(
        self,
        name: String,
        cancel: CancellationToken,
        tx: mpsc::UnboundedSender<Vec<TargetGroup>>,
    ) {
        let mut ticker = ticker(self.refresh_interval);
        let mut last_index = 0;
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                g = self.service_group(&name, &mut last_index) => {
                    if let Some(g) = g {
                        let _ = tx.send(vec![g]);
                    }
                }
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = ticker.tick() => {}
            }
        }
    }

    /// One health query of `name`: its group when the index moved, `None` when the
    /// query timed out unchanged or failed (after the retry pause).
    async fn service_group(&self, name: &str, last_index: &mut u64) -> Option<TargetGroup> {
        let mut params = self.api.blocking(*last_index, &self.health_filter);
        for t in &self.tags {
            params.push(("tag".into(), t.clone()));
        }
        let path = format!("/v1/health/service/{}", path_escape(name));
        let start = std::time::Instant::now();
        let answer = self.api.get::<Vec<ServiceEntry>>(&path, &params).await;
        let consul = &self.metrics.sd().consul;
        consul.service_duration.observe_since(start);
        let answer: Indexed<Vec<ServiceEntry>> = match answer {
            Ok(a) => a,
            Err(e) => {
                consul.rpc_failures.inc();
                tracing::error!(service = %name, tags = %self.tags.join(","), err = %e, "Error refreshing service");
                tokio::time::sleep(self.retry_interval).await;
                return None;
            }
        };
        if answer.index == *last_index {
            return None;
        }
        *last_index = answer.index;
        Some(self.group(name, &answer.value))
    }

    /// The target group of service `name` from its health entries.
    fn group(&self, name: &str, entries: &[ServiceEntry]) -> TargetGroup {
        let sep = &self.tag_separator;
        let targets = entries
            .iter()
            .map(|e| {
                let node = e.node.as_ref();
                let node_address = node.map(|n| n.address.as_str()).unwrap_or_default();
                let default_service = Service::default();
                let svc = e.service.as_ref().unwrap_or(&default_service);
                let tags = svc.tags.as_deref().unwrap_or_default();
                let host = if svc.address.is_empty() {
                    node_address
                } else {
                    svc.address.as_str()
                };
                let mut set: BTreeMap<String, String> = BTreeMap::new();
                let mut put = |k: &str, v: &str| {
                    set.insert(format!("{PREFIX}{k}"), v.to_owned());
                };
                put("address", node_address);
                put("node", node.map(|n| n.node.as_str()).unwrap_or_default());
                put("namespace", &svc.namespace);
                put("partition", &svc.partition);
                put("tags", &format!("{sep}{}{sep}", tags.join(sep)));
                put("service_address", &svc.address);
                put("service_port", &svc.port.to_string());
                put("service_id", &svc.id);
                put(
                    "health",
                    aggregated_status(e.checks.as_deref().unwrap_or_default()),
                );
                for (k, v) in node.and_then(|n| n.meta.as_ref()).into_iter().flatten() {
                    put(&format!("metadata_{}", sanitize(k)), v);
                }
                for (k, v) in svc.meta.iter().flatten() {
                    put(&format!("service_metadata_{}", sanitize(k)), v);
                }
                for (k, v) in node
                    .and_then(|n| n.tagged_addresses.as_ref())
                    .into_iter()
                    .flatten()
                {
                    put(&format!("tagged_address_{}", sanitize(k)), v);
                }
                set.insert("__address__".into(), join_host_port(host, svc.port));
                Labels::from_pairs(set)
            })
            .collect();
        TargetGroup {
            targets,
            labels: Labels::from_pairs([
                ("__meta_consul_dc", self.datacenter.as_str()),
                ("__meta_consul_service", name),
            ]),
            source: name.to_owned(),
        }
    }
}

/// Escapes a service name for a URL path segment (Go's `url.PathEscape` of the path the
/// Consul client builds).
fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'$'
            | b'&'
            | b'+'
            | b','
            | b'='
            | b':'
            | b'@' => out.push(char::from(b)),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's `time.NewTicker(d)`: the first tick after `d`, missed ticks skipped.
fn ticker(every: Duration) -> tokio::time::Interval {
    let mut t = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    t
}

/// Sleeps `d`; false when cancelled first.
async fn sleep(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        () = cancel.cancelled() => false,
        () = tokio::time::sleep(d) => true,
    }
}

#[cfg(test)]
mod tests;
