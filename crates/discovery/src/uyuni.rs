//! Uyuni service discovery (`uyuni_sd_configs`), as Prometheus's `discovery/uyuni`: every
//! `refresh_interval`, through the server's XML-RPC API (`<server>/rpc/api`), the systems
//! with the configured entitlement and their groups, network data and monitoring endpoints;
//! one group (source: the API URL) with a target `<hostname>:<port>` per endpoint, labelled
//! `__meta_uyuni_*`. The session token (`auth.login`, ten minutes) is renewed after half
//! its life and after any failed refresh.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use config::discovery::UyuniSdConfig;
use model::{Labels, TargetGroup};
use roxmltree::Node;

use crate::api;

const PREFIX: &str = "__meta_uyuni_";
/// The lifetime asked for a session token.
const TOKEN_DURATION: Duration = Duration::from_secs(600);

/// An XML-RPC value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Int(i64),
    Bool(bool),
    Str(String),
    Double(f64),
    Array(Vec<Value>),
    Struct(BTreeMap<String, Value>),
    Nil,
}

impl Value {
    fn int(&self) -> i64 {
        match self {
            Value::Int(i) => *i,
            _ => 0,
        }
    }

    fn str(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            _ => String::new(),
        }
    }

    fn bool(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    fn member(&self, name: &str) -> &Value {
        match self {
            Value::Struct(m) => m.get(name).unwrap_or(&Value::Nil),
            _ => &Value::Nil,
        }
    }

    fn items(&self) -> &[Value] {
        match self {
            Value::Array(a) => a,
            _ => &[],
        }
    }

    /// The value as XML-RPC `<value>` text.
    fn write(&self, out: &mut String) {
        out.push_str("<value>");
        match self {
            Value::Int(i) => out.push_str(&format!("<int>{i}</int>")),
            Value::Bool(b) => out.push_str(&format!("<boolean>{}</boolean>", u8::from(*b))),
            Value::Str(s) => {
                out.push_str("<string>");
                for c in s.chars() {
                    match c {
                        '<' => out.push_str("&lt;"),
                        '>' => out.push_str("&gt;"),
                        '&' => out.push_str("&amp;"),
                        '"' => out.push_str("&quot;"),
                        '\'' => out.push_str("&apos;"),
                        c => out.push(c),
                    }
                }
                out.push_str("</string>");
            }
            Value::Double(d) => out.push_str(&format!("<double>{d}</double>")),
            Value::Array(a) => {
                out.push_str("<array><data>");
                for v in a {
                    v.write(out);
                }
                out.push_str("</data></array>");
            }
            Value::Struct(m) => {
                out.push_str("<struct>");
                for (k, v) in m {
                    out.push_str(&format!("<member><name>{k}</name>"));
                    v.write(out);
                    out.push_str("</member>");
                }
                out.push_str("</struct>");
            }
            Value::Nil => out.push_str("<nil/>"),
        }
        out.push_str("</value>");
    }
}

fn elements<'a, 'i>(n: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(Node::is_element)
}

/// Reads a `<value>` element.
fn read_value(n: Node<'_, '_>) -> Result<Value, String> {
    let Some(typed) = elements(n).next() else {
        // No type element: a string.
        return Ok(Value::Str(
            n.children().filter_map(|c| c.text()).collect::<String>(),
        ));
    };
    let text = || typed.text().unwrap_or_default().trim().to_owned();
    Ok(match typed.tag_name().name() {
        "int" | "i4" | "i8" => Value::Int(
            text()
                .parse()
                .map_err(|e| format!("xml-rpc integer {:?}: {e}", text()))?,
        ),
        "boolean" => Value::Bool(text() == "1"),
        "string" | "dateTime.iso8601" | "base64" => {
            Value::Str(typed.text().unwrap_or_default().to_owned())
        }
        "double" => Value::Double(
            text()
                .parse()
                .map_err(|e| format!("xml-rpc double {:?}: {e}", text()))?,
        ),
        "array" => {
            let mut out = Vec::new();
            for data in elements(typed).filter(|d| d.tag_name().name() == "data") {
                for v in elements(data) {
                    out.push(read_value(v)?);
                }
            }
            Value::Array(out)
        }
        "struct" => {
            let mut out = BTreeMap::new();
            for m in elements(typed).filter(|m| m.tag_name().name() == "member") {
                let name = elements(m)
                    .find(|c| c.tag_name().name() == "name")
                    .and_then(|c| c.text())
                    .unwrap_or_default()
                    .to_owned();
                if let Some(v) = elements(m).find(|c| c.tag_name().name() == "value") {
                    out.insert(name, read_value(v)?);
                }
            }
            Value::Struct(out)
        }
        "nil" => Value::Nil,
        other => return Err(format!("unsupported xml-rpc type {other:?}")),
    })
}

/// The result of a `<methodResponse>`, or its fault as kolo/xmlrpc words it.
pub(crate) fn parse_response(body: &str) -> Result<Value, String> {
    let doc = roxmltree::Document::parse(body).map_err(|e| format!("xml-rpc answer: {e}"))?;
    let root = doc.root_element();
    if let Some(fault) = elements(root).find(|c| c.tag_name().name() == "fault") {
        let v = elements(fault)
            .next()
            .map(read_value)
            .transpose()?
            .unwrap_or(Value::Nil);
        return Err(format!(
            "Fault({}): {}",
            v.member("faultCode").int(),
            v.member("faultString").str()
        ));
    }
    let value = elements(root)
        .find(|c| c.tag_name().name() == "params")
        .and_then(|p| elements(p).next())
        .and_then(|p| elements(p).next());
    match value {
        Some(v) => read_value(v),
        None => Ok(Value::Nil),
    }
}

/// One uyuni_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    client: httpclient::HttpClient,
    api_url: String,
    username: String,
    password: String,
    entitlement: String,
    separator: String,
    timeout: Duration,
    /// The session token and when to log in again.
    token: Mutex<Option<(String, Instant)>>,
}

impl Discovery {
    /// A provider for `cfg`.
    ///
    /// # Errors
    /// An unusable server URL or HTTP client options.
    pub(crate) fn new(cfg: &UyuniSdConfig) -> Result<Discovery, String> {
        let mut url = url::Url::parse(&cfg.server).map_err(|e| e.to_string())?;
        let path = format!("{}/rpc/api", url.path().trim_end_matches('/'));
        url.set_path(&path);
        Ok(Discovery {
            client: httpclient::HttpClient::new(&cfg.http_client_config)
                .map(|c| c.named("uyuni_sd"))
                .map_err(|e| e.to_string())?,
            api_url: url.to_string(),
            username: cfg.username.clone(),
            password: cfg.password.expose().to_owned(),
            entitlement: cfg.entitlement.clone(),
            separator: cfg.separator.clone(),
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
            token: Mutex::new(None),
        })
    }

    /// Calls `method` with `params`.
    async fn call(&self, method: &str, params: &[Value]) -> Result<Value, String> {
        let mut body = String::from("<?xml version=\"1.0\"?>\n<methodCall><methodName>");
        body.push_str(method);
        body.push_str("</methodName><params>");
        for p in params {
            body.push_str("<param>");
            p.write(&mut body);
            body.push_str("</param>");
        }
        body.push_str("</params></methodCall>");
        let a = api::send(
            &self.client,
            http::Method::POST,
            &self.api_url,
            &[
                ("Content-Type", "text/xml"),
                ("User-Agent", httpclient::USER_AGENT),
            ],
            Bytes::from(body),
            self.timeout,
        )
        .await?;
        if !a.status.is_success() {
            return Err(format!(
                "request error: bad status code - {}",
                a.status.as_u16()
            ));
        }
        parse_response(&String::from_utf8_lossy(&a.body))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Option<(String, Instant)>> {
        self.token.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One refresh (Go's `refresh`): the group of all endpoints.
    ///
    /// # Errors
    /// A failed login or call; the caller keeps the last targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let cached = self
            .state()
            .as_ref()
            .filter(|(_, renew)| Instant::now() < *renew)
            .map(|(t, _)| t.clone());
        let token = match cached {
            Some(t) => t,
            None => {
                let duration = i64::try_from(TOKEN_DURATION.as_secs()).unwrap_or(600);
                let t = self
                    .call(
                        "auth.login",
                        &[
                            Value::Str(self.username.clone()),
                            Value::Str(self.password.clone()),
                            Value::Int(duration),
                        ],
                    )
                    .await
                    .map_err(|e| format!("unable to login to Uyuni API: {e}"))?
                    .str();
                // Log in again at half the token's lifetime.
                *self.state() = Some((t.clone(), Instant::now() + TOKEN_DURATION / 2));
                t
            }
        };
        match self.targets(&token).await {
            Ok(targets) => Ok(vec![TargetGroup {
                targets,
                labels: Labels::empty(),
                source: self.api_url.clone(),
            }]),
            Err(e) => {
                // Force a new login at the next refresh.
                *self.state() = None;
                Err(e)
            }
        }
    }

    async fn targets(&self, token: &str) -> Result<Vec<Labels>, String> {
        let groups = self
            .call(
                "system.listSystemGroupsForSystemsWithEntitlement",
                &[
                    Value::Str(token.to_owned()),
                    Value::Str(self.entitlement.clone()),
                ],
            )
            .await
            .map_err(|e| {
                format!(
                    "unable to get the managed system groups information of monitored clients: {e}"
                )
            })?;
        let mut groups_by_system: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for s in groups.items() {
            let names = s
                .member("system_groups")
                .items()
                .iter()
                .map(|g| g.member("name").str())
                .collect();
            groups_by_system.insert(s.member("id").int(), names);
        }
        let ids = Value::Array(groups_by_system.keys().map(|i| Value::Int(*i)).collect());
        let endpoints = self
            .call(
                "system.monitoring.listEndpoints",
                &[Value::Str(token.to_owned()), ids.clone()],
            )
            .await
            .map_err(|e| format!("unable to get endpoints information: {e}"))?;
        let network = self
            .call(
                "system.getNetworkForSystems",
                &[Value::Str(token.to_owned()), ids],
            )
            .await
            .map_err(|e| format!("unable to get the systems network information: {e}"))?;
        let mut network_by_system: BTreeMap<i64, &Value> = BTreeMap::new();
        for n in network.items() {
            network_by_system.insert(n.member("system_id").int(), n);
        }
        let mut targets = Vec::new();
        for e in endpoints.items() {
            let system = e.member("system_id").int();
            let net = network_by_system
                .get(&system)
                .copied()
                .unwrap_or(&Value::Nil);
            let hostname = net.member("hostname").str();
            let groups = groups_by_system
                .get(&system)
                .map(|g| g.join(&self.separator))
                .unwrap_or_default();
            let scheme = if e.member("tls_enabled").bool() {
                "https"
            } else {
                "http"
            };
            let mut set: BTreeMap<String, String> = BTreeMap::new();
            let mut put = |k: &str, v: String| {
                set.insert(format!("{PREFIX}{k}"), v);
            };
            put("minion_hostname", hostname.clone());
            put("primary_fqdn", net.member("primary_fqdn").str());
            put("system_id", system.to_string());
            put("groups", groups);
            put("endpoint_name", e.member("endpoint_name").str());
            put("exporter", e.member("exporter_name").str());
            put("proxy_module", e.member("module").str());
            put("metrics_path", e.member("path").str());
            put("scheme", scheme.to_owned());
            set.insert(
                "__address__".into(),
                format!("{hostname}:{}", e.member("port").int()),
            );
            targets.push(Labels::from_pairs(set));
        }
        Ok(targets)
    }
}

#[cfg(test)]
mod tests;
