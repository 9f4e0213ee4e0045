//! Eureka service discovery (`eureka_sd_configs`), as Prometheus's `discovery/eureka`: every
//! `refresh_interval` the server's `/apps` XML, one group (source `eureka`) with a target
//! per application instance.
//!
//! Targets: `__address__` (`hostName:port`, port 80 without one), `instance` (the instance
//! id), `__meta_eureka_app_name` and `__meta_eureka_app_instance_{hostname,homepage_url,
//! statuspage_url,healthcheck_url,ip_addr,vip_address,secure_vip_address,status,country_id,
//! id}`, `_port`/`_port_enabled` and `_secure_port`/`_secure_port_enabled` when present,
//! `_datacenterinfo_name` and `_datacenterinfo_metadata_<k>`, and `_metadata_<k>`.

use std::collections::BTreeMap;
use std::time::Duration;

use config::discovery::EurekaSdConfig;
use model::{Labels, TargetGroup};
use roxmltree::Node;

use crate::util::{self, join_host_port, sanitize};

const PREFIX: &str = "__meta_eureka_app_instance_";

/// One eureka_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    client: httpclient::HttpClient,
    url: String,
    timeout: Duration,
}

/// The child elements of `n` named `name`.
fn children<'a, 'i>(n: Node<'a, 'i>, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

/// The last child element named `name` (Go's decoder keeps the last of repeated fields).
fn child<'a, 'i>(n: Node<'a, 'i>, name: &'a str) -> Option<Node<'a, 'i>> {
    children(n, name).last()
}

/// The character data directly inside `n`.
fn text(n: Node<'_, '_>) -> String {
    n.children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect()
}

fn child_text(n: Node<'_, '_>, name: &str) -> String {
    child(n, name).map(text).unwrap_or_default()
}

/// Go's `strconv.ParseInt` of trimmed character data (empty is 0).
fn parse_int(s: &str, what: &str) -> Result<i64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(0);
    }
    s.parse()
        .map_err(|_| format!("strconv.ParseInt: parsing {s:?}: invalid syntax (in {what})"))
}

/// Go's `strconv.ParseBool` of a trimmed attribute (absent is false).
fn parse_bool(s: Option<&str>) -> Result<bool, String> {
    match s.map(str::trim) {
        None | Some("") => Ok(false),
        Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
        Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
        Some(other) => Err(format!(
            "strconv.ParseBool: parsing {other:?}: invalid syntax"
        )),
    }
}

/// The raw XML between an element's tags (Go's `,innerxml`).
fn inner_xml<'i>(n: Node<'_, 'i>, doc: &'i str) -> &'i str {
    match (n.first_child(), n.last_child()) {
        (Some(first), Some(last)) => doc
            .get(first.range().start..last.range().end)
            .unwrap_or_default(),
        _ => "",
    }
}

/// The `<port enabled="…">N</port>` of an instance, when present.
fn port(instance: Node<'_, '_>, name: &str) -> Result<Option<(i64, bool)>, String> {
    child(instance, name)
        .map(|p| {
            Ok((
                parse_int(&text(p), name)?,
                parse_bool(p.attribute("enabled"))?,
            ))
        })
        .transpose()
}

/// The targets of an `<applications>` document (Go's `targetsForApp` over every app).
///
/// # Errors
/// Not XML, or a number or boolean that does not parse.
fn targets(doc: &str) -> Result<Vec<Labels>, String> {
    let tree = roxmltree::Document::parse(doc).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for app in children(tree.root_element(), "application") {
        let app_name = child_text(app, "name");
        for t in children(app, "instance") {
            let host = child_text(t, "hostName");
            let id = child_text(t, "instanceId");
            let plain_port = port(t, "port")?;
            let secure_port = port(t, "securePort")?;
            let mut set: BTreeMap<String, String> = BTreeMap::new();
            let mut put = |k: &str, v: String| {
                set.insert(format!("{PREFIX}{k}"), v);
            };
            put("hostname", host.clone());
            put("homepage_url", child_text(t, "homePageUrl"));
            put("statuspage_url", child_text(t, "statusPageUrl"));
            put("healthcheck_url", child_text(t, "healthCheckUrl"));
            put("ip_addr", child_text(t, "ipAddr"));
            put("vip_address", child_text(t, "vipAddress"));
            put("secure_vip_address", child_text(t, "secureVipAddress"));
            put("status", child_text(t, "status"));
            put(
                "country_id",
                parse_int(&child_text(t, "countryId"), "countryId")?.to_string(),
            );
            put("id", id.clone());
            if let Some((p, enabled)) = plain_port {
                put("port", p.to_string());
                put("port_enabled", enabled.to_string());
            }
            if let Some((p, enabled)) = secure_port {
                put("secure_port", p.to_string());
                put("secure_port_enabled", enabled.to_string());
            }
            if let Some(dc) = child(t, "dataCenterInfo") {
                put("datacenterinfo_name", child_text(dc, "name"));
                if let Some(meta) = child(dc, "metadata") {
                    for m in meta.children().filter(Node::is_element) {
                        put(
                            &format!("datacenterinfo_metadata_{}", sanitize(m.tag_name().name())),
                            inner_xml(m, doc).to_owned(),
                        );
                    }
                }
            }
            if let Some(meta) = child(t, "metadata") {
                for m in meta.children().filter(Node::is_element) {
                    put(
                        &format!("metadata_{}", sanitize(m.tag_name().name())),
                        inner_xml(m, doc).to_owned(),
                    );
                }
            }
            set.insert("__meta_eureka_app_name".into(), app_name.clone());
            set.insert(
                "__address__".into(),
                join_host_port(&host, plain_port.map_or(80, |(p, _)| p)),
            );
            set.insert("instance".into(), id);
            out.push(Labels::from_pairs(set));
        }
    }
    Ok(out)
}

impl Discovery {
    /// A provider for `cfg` (Go's `NewDiscovery`).
    ///
    /// # Errors
    /// Unusable HTTP client options.
    pub(crate) fn new(cfg: &EurekaSdConfig) -> Result<Discovery, String> {
        Ok(Discovery {
            client: httpclient::HttpClient::new(&cfg.http_client_config)
                .map(|c| c.named("eureka_sd"))
                .map_err(|e| e.to_string())?,
            url: format!("{}/apps", cfg.server),
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
        })
    }

    /// One refresh: the `eureka` group.
    ///
    /// # Errors
    /// A failed request, a status other than 2xx, or a document that does not decode; the
    /// caller keeps the last targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let a = util::get(
            &self.client,
            &self.url,
            &[("User-Agent", httpclient::USER_AGENT)],
            self.timeout,
        )
        .await?;
        if !a.status.is_success() {
            return Err(format!(
                "non 2xx status '{}' response during eureka service discovery",
                a.status.as_u16()
            ));
        }
        let doc = std::str::from_utf8(&a.body).map_err(|e| format!("{:?}: {e}", self.url))?;
        let targets = targets(doc).map_err(|e| format!("{:?}: {e}", self.url))?;
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: "eureka".to_owned(),
        }])
    }
}

#[cfg(test)]
mod tests;
