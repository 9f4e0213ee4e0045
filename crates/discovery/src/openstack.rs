//! OpenStack service discovery (`openstack_sd_configs`), as Prometheus's
//! `discovery/openstack`: at every refresh a Keystone v3 token (password or application
//! credential; version discovery at the identity endpoint's root, as gophercloud does),
//! then, from the catalog's endpoints of the region and `availability`:
//! - `hypervisor`: the compute service's hypervisors (`os-hypervisors/detail`), a target
//!   `<host_ip>:<port>` each, labelled `__meta_openstack_hypervisor_*`;
//! - `instance`: the network service's ports and floating IPs, then the compute service's
//!   servers (`servers/detail`, `all_tenants` on request), a target per fixed address that
//!   is not itself a floating IP, labelled `__meta_openstack_*` (public IP from the
//!   floating IP bound to that address);
//! - `loadbalancer`: the load-balancer service's (Octavia) load balancers with a
//!   `PROMETHEUS` listener, a target `<vip>:<listener port>` each, labelled
//!   `__meta_openstack_loadbalancer_*` (floating IP from the network service).
//!
//! One group per refresh (source `OS_<region>`). Without `identity_endpoint`, the
//! credentials come from the `OS_*` environment variables. Keystone v2.0 is not
//! implemented (a clear error at the point of use).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use config::discovery::OpenStackSdConfig;
use model::{Labels, TargetGroup};
use serde_json::{Value, json};

use crate::api;
use crate::util::{join_host_port, sanitize};

const PREFIX: &str = "__meta_openstack_";
/// Time limit of one request (gophercloud has none; the refresh interval bounds a refresh).
const TIMEOUT: Duration = Duration::from_secs(60);

/// Keystone credentials (gophercloud's `AuthOptions`).
#[derive(Debug, Clone, Default)]
struct AuthOptions {
    identity_endpoint: String,
    username: String,
    user_id: String,
    password: String,
    project_name: String,
    project_id: String,
    domain_name: String,
    domain_id: String,
    application_credential_name: String,
    application_credential_id: String,
    application_credential_secret: String,
}

impl AuthOptions {
    fn from_config(c: &OpenStackSdConfig) -> AuthOptions {
        AuthOptions {
            identity_endpoint: c.identity_endpoint.clone(),
            username: c.username.clone(),
            user_id: c.userid.clone(),
            password: c.password.expose().to_owned(),
            project_name: c.project_name.clone(),
            project_id: c.project_id.clone(),
            domain_name: c.domain_name.clone(),
            domain_id: c.domain_id.clone(),
            application_credential_name: c.application_credential_name.clone(),
            application_credential_id: c.application_credential_id.clone(),
            application_credential_secret: c.application_credential_secret.expose().to_owned(),
        }
    }

    /// gophercloud's `AuthOptionsFromEnv`.
    fn from_env() -> Result<AuthOptions, String> {
        let env = |k: &str| std::env::var(k).unwrap_or_default();
        let first = |a: &str, b: &str| {
            let v = env(a);
            if v.is_empty() { env(b) } else { v }
        };
        let o = AuthOptions {
            identity_endpoint: env("OS_AUTH_URL"),
            username: env("OS_USERNAME"),
            user_id: env("OS_USERID"),
            password: env("OS_PASSWORD"),
            project_name: first("OS_PROJECT_NAME", "OS_TENANT_NAME"),
            project_id: first("OS_PROJECT_ID", "OS_TENANT_ID"),
            domain_name: first("OS_DOMAIN_NAME", "OS_USER_DOMAIN_NAME"),
            domain_id: first("OS_DOMAIN_ID", "OS_USER_DOMAIN_ID"),
            application_credential_name: env("OS_APPLICATION_CREDENTIAL_NAME"),
            application_credential_id: env("OS_APPLICATION_CREDENTIAL_ID"),
            application_credential_secret: env("OS_APPLICATION_CREDENTIAL_SECRET"),
        };
        if o.identity_endpoint.is_empty() {
            return Err("Missing environment variable [OS_AUTH_URL]".into());
        }
        Ok(o)
    }

    fn domain(&self) -> Option<Value> {
        if !self.domain_id.is_empty() {
            Some(json!({ "id": self.domain_id }))
        } else if !self.domain_name.is_empty() {
            Some(json!({ "name": self.domain_name }))
        } else {
            None
        }
    }

    /// The body of `POST /v3/auth/tokens`.
    fn token_request(&self) -> Result<Value, String> {
        let identity = if !self.application_credential_secret.is_empty() {
            let mut cred = json!({ "secret": self.application_credential_secret });
            if !self.application_credential_id.is_empty() {
                cred["id"] = json!(self.application_credential_id);
            } else if !self.application_credential_name.is_empty() {
                cred["name"] = json!(self.application_credential_name);
                cred["user"] = self.user()?;
            } else {
                return Err(
                    "you must provide an application credential ID or name with the secret".into(),
                );
            }
            json!({ "methods": ["application_credential"], "application_credential": cred })
        } else {
            let mut user = self.user()?;
            user["password"] = json!(self.password);
            json!({ "methods": ["password"], "password": { "user": user } })
        };
        let mut auth = json!({ "identity": identity });
        if self.application_credential_secret.is_empty() {
            if !self.project_id.is_empty() {
                auth["scope"] = json!({ "project": { "id": self.project_id } });
            } else if !self.project_name.is_empty() {
                let domain = self.domain().ok_or(
                    "you must provide exactly one of DomainID or DomainName in a Scope with ProjectName",
                )?;
                auth["scope"] =
                    json!({ "project": { "name": self.project_name, "domain": domain } });
            } else if let Some(domain) = self.domain() {
                auth["scope"] = json!({ "domain": domain });
            }
        }
        Ok(json!({ "auth": auth }))
    }

    fn user(&self) -> Result<Value, String> {
        if !self.user_id.is_empty() {
            return Ok(json!({ "id": self.user_id }));
        }
        if self.username.is_empty() {
            return Err("you must provide a username or user ID to authenticate".into());
        }
        let domain = self.domain().ok_or(
            "you must provide exactly one of DomainID or DomainName to authenticate by Username",
        )?;
        Ok(json!({ "name": self.username, "domain": domain }))
    }
}

/// One openstack_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    client: httpclient::HttpClient,
    auth: AuthOptions,
    role: Role,
    region: String,
    availability: String,
    all_tenants: bool,
    port: u16,
}

/// What is discovered.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Hypervisor,
    Instance,
    LoadBalancer,
}

/// The token and service catalog of one authentication.
struct Session {
    token: String,
    catalog: Vec<Value>,
}

fn text(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The `next` link of a paginated list (`<name>_links`).
fn next_link(page: &Value, name: &str) -> Option<String> {
    page.get(format!("{name}_links"))
        .and_then(Value::as_array)?
        .iter()
        .find(|l| text(l, "rel") == "next")
        .map(|l| text(l, "href"))
        .filter(|h| !h.is_empty())
}

impl Discovery {
    /// A provider for `cfg`.
    ///
    /// # Errors
    /// Unusable TLS options, missing `OS_*` variables or an unknown role.
    pub(crate) fn new(cfg: &OpenStackSdConfig) -> Result<Discovery, String> {
        let role = match cfg.role.as_str() {
            "hypervisor" => Role::Hypervisor,
            "instance" => Role::Instance,
            "loadbalancer" => Role::LoadBalancer,
            other => return Err(format!("unknown OpenStack discovery role {other:?}")),
        };
        let auth = if cfg.identity_endpoint.is_empty() {
            AuthOptions::from_env()?
        } else {
            AuthOptions::from_config(cfg)
        };
        let http = config::http_config::HttpClientConfig {
            tls_config: cfg.tls_config.clone(),
            ..Default::default()
        };
        Ok(Discovery {
            client: httpclient::HttpClient::new(&http)
                .map(|c| c.named("openstack_sd"))
                .map_err(|e| e.to_string())?,
            auth,
            role,
            region: cfg.region.clone(),
            availability: cfg.availability.clone(),
            all_tenants: cfg.all_tenants,
            port: cfg.port,
        })
    }

    async fn get(&self, url: &str, token: &str) -> Result<Value, String> {
        let mut headers = vec![
            ("Accept", "application/json"),
            ("User-Agent", httpclient::USER_AGENT),
        ];
        if !token.is_empty() {
            headers.push(("X-Auth-Token", token));
        }
        let a = api::send(
            &self.client,
            http::Method::GET,
            url,
            &headers,
            Bytes::new(),
            TIMEOUT,
        )
        .await?;
        if !a.status.is_success() {
            return Err(format!(
                "Expected HTTP response code [200] when accessing [GET {url}], but got {} instead: {}",
                a.status.as_u16(),
                String::from_utf8_lossy(&a.body).trim()
            ));
        }
        serde_json::from_slice(&a.body).map_err(|e| format!("{url:?}: {e}"))
    }

    /// The Keystone v3 base URL (gophercloud's `ChooseVersion`, v3 only).
    async fn identity_v3(&self) -> Result<String, String> {
        let endpoint = self.auth.identity_endpoint.trim_end_matches('/').to_owned();
        if endpoint.ends_with("/v3") {
            return Ok(endpoint);
        }
        if endpoint.ends_with("/v2.0") {
            return Err("Keystone v2.0 identity endpoints are not supported yet".into());
        }
        let versions = self.get(&format!("{endpoint}/"), "").await?;
        let values = versions
            .pointer("/versions/values")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for v in &values {
            let id = text(v, "id");
            let status = text(v, "status").to_lowercase();
            if id.starts_with("v3") && ["stable", "current", "supported"].contains(&status.as_str())
            {
                let href = v
                    .get("links")
                    .and_then(Value::as_array)
                    .and_then(|l| l.iter().find(|l| text(l, "rel") == "self"))
                    .map(|l| text(l, "href"))
                    .unwrap_or_default();
                if !href.is_empty() {
                    return Ok(href.trim_end_matches('/').to_owned());
                }
                return Ok(format!("{endpoint}/v3"));
            }
        }
        Err("Unable to find a version of the identity service that is supported (v3)".into())
    }

    async fn authenticate(&self) -> Result<Session, String> {
        let base = self.identity_v3().await?;
        let url = format!("{base}/auth/tokens");
        let body = self.auth.token_request()?.to_string();
        let a = api::send(
            &self.client,
            http::Method::POST,
            &url,
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
                ("User-Agent", httpclient::USER_AGENT),
            ],
            Bytes::from(body),
            TIMEOUT,
        )
        .await?;
        if !a.status.is_success() {
            return Err(format!(
                "Expected HTTP response code [201 202] when accessing [POST {url}], but got {} instead: {}",
                a.status.as_u16(),
                String::from_utf8_lossy(&a.body).trim()
            ));
        }
        let token = a.header("x-subject-token");
        let body: Value = serde_json::from_slice(&a.body).map_err(|e| format!("{url:?}: {e}"))?;
        let catalog = body
            .pointer("/token/catalog")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(Session { token, catalog })
    }

    /// The URL of service `kind` for the region and availability, with a trailing slash.
    fn endpoint(&self, s: &Session, kind: &str) -> Result<String, String> {
        for service in s.catalog.iter().filter(|c| text(c, "type") == kind) {
            let endpoints = service
                .get("endpoints")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for e in &endpoints {
                let region_ok = self.region.is_empty()
                    || text(e, "region") == self.region
                    || text(e, "region_id") == self.region;
                if region_ok && text(e, "interface") == self.availability {
                    let url = text(e, "url");
                    return Ok(format!("{}/", url.trim_end_matches('/')));
                }
            }
        }
        Err("No suitable endpoint could be found in the service catalog.".into())
    }

    /// Every item of a paginated list, following `<name>_links` next links.
    async fn list(&self, first: String, name: &str, token: &str) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        let mut url = Some(first);
        while let Some(u) = url {
            let page = self.get(&u, token).await?;
            let items = page
                .get(name)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let empty = items.is_empty();
            out.extend(items);
            url = next_link(&page, name).filter(|n| *n != u && !empty);
        }
        Ok(out)
    }

    /// One refresh: the `OS_<region>` group.
    ///
    /// # Errors
    /// A failed authentication, catalog lookup or listing; the caller keeps the last
    /// targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let session = self
            .authenticate()
            .await
            .map_err(|e| format!("could not authenticate to OpenStack: {e}"))?;
        let targets = if self.role == Role::LoadBalancer {
            self.load_balancers(&session).await?
        } else {
            let compute = self
                .endpoint(&session, "compute")
                .map_err(|e| format!("could not create OpenStack compute session: {e}"))?;
            if self.role == Role::Hypervisor {
                self.hypervisors(&session, &compute).await?
            } else {
                self.instances(&session, &compute).await?
            }
        };
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: format!("OS_{}", self.region),
        }])
    }

    async fn load_balancers(&self, s: &Session) -> Result<Vec<Labels>, String> {
        let lb = self
            .endpoint(s, "load-balancer")
            .map_err(|e| format!("could not create OpenStack load balancer session: {e}"))?;
        let network = self
            .endpoint(s, "network")
            .map_err(|e| format!("could not create OpenStack network session: {e}"))?;
        let lbs = self
            .list(
                format!("{lb}v2.0/lbaas/loadbalancers"),
                "loadbalancers",
                &s.token,
            )
            .await
            .map_err(|e| format!("failed to list load balancers: {e}"))?;
        let listeners = self
            .list(format!("{lb}v2.0/lbaas/listeners"), "listeners", &s.token)
            .await
            .map_err(|e| format!("failed to list all listeners: {e}"))?;
        let mut by_lb: HashMap<String, Vec<&Value>> = HashMap::new();
        for l in &listeners {
            for owner in l
                .get("loadbalancers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                by_lb.entry(text(owner, "id")).or_default().push(l);
            }
        }
        let fips = self
            .list(
                format!("{network}v2.0/floatingips"),
                "floatingips",
                &s.token,
            )
            .await
            .map_err(|e| format!("failed to list all fips: {e}"))?;
        let fip_of_port: HashMap<String, String> = fips
            .iter()
            .filter(|f| !text(f, "port_id").is_empty())
            .map(|f| (text(f, "port_id"), text(f, "floating_ip_address")))
            .collect();
        let mut targets = Vec::new();
        for b in &lbs {
            let id = text(b, "id");
            let Some(port) = by_lb
                .get(&id)
                .into_iter()
                .flatten()
                .find(|l| text(l, "protocol") == "PROMETHEUS")
                .map(|l| l.get("protocol_port").and_then(Value::as_i64).unwrap_or(0))
            else {
                tracing::debug!(loadbalancer = %id, "Got no PROMETHEUS listener");
                continue;
            };
            let vip = text(b, "vip_address");
            let mut set: BTreeMap<String, String> = BTreeMap::new();
            let mut put = |k: &str, v: String| {
                set.insert(format!("{PREFIX}{k}"), v);
            };
            put("loadbalancer_id", id.clone());
            put("loadbalancer_name", text(b, "name"));
            put("loadbalancer_operating_status", text(b, "operating_status"));
            put(
                "loadbalancer_provisioning_status",
                text(b, "provisioning_status"),
            );
            put(
                "loadbalancer_availability_zone",
                text(b, "availability_zone"),
            );
            put("loadbalancer_vip", vip.clone());
            put("loadbalancer_provider", text(b, "provider"));
            put("project_id", text(b, "project_id"));
            let tags: Vec<String> = b
                .get("tags")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect();
            if !tags.is_empty() {
                put("loadbalancer_tags", tags.join(","));
            }
            if let Some(f) = fip_of_port.get(&text(b, "vip_port_id")) {
                put("loadbalancer_floating_ip", f.clone());
            }
            set.insert("__address__".into(), join_host_port(&vip, port));
            targets.push(Labels::from_pairs(set));
        }
        Ok(targets)
    }

    async fn hypervisors(&self, s: &Session, compute: &str) -> Result<Vec<Labels>, String> {
        let list = self
            .list(
                format!("{compute}os-hypervisors/detail"),
                "hypervisors",
                &s.token,
            )
            .await
            .map_err(|e| format!("could not extract hypervisors: {e}"))?;
        Ok(list
            .iter()
            .map(|h| {
                let ip = text(h, "host_ip");
                Labels::from_pairs([
                    ("__address__".to_owned(), join_host_port(&ip, self.port)),
                    (
                        format!("{PREFIX}hypervisor_hostname"),
                        text(h, "hypervisor_hostname"),
                    ),
                    (format!("{PREFIX}hypervisor_host_ip"), ip),
                    (format!("{PREFIX}hypervisor_status"), text(h, "status")),
                    (format!("{PREFIX}hypervisor_state"), text(h, "state")),
                    (
                        format!("{PREFIX}hypervisor_type"),
                        text(h, "hypervisor_type"),
                    ),
                ])
            })
            .collect())
    }

    async fn instances(&self, s: &Session, compute: &str) -> Result<Vec<Labels>, String> {
        let network = self
            .endpoint(s, "network")
            .map_err(|e| format!("could not create OpenStack network session: {e}"))?;
        let ports = self
            .list(format!("{network}v2.0/ports"), "ports", &s.token)
            .await
            .map_err(|e| format!("failed to list all ports: {e}"))?;
        let device_of: HashMap<String, String> = ports
            .iter()
            .map(|p| (text(p, "id"), text(p, "device_id")))
            .collect();
        let fips = self
            .list(
                format!("{network}v2.0/floatingips"),
                "floatingips",
                &s.token,
            )
            .await?;
        let mut floating: HashMap<(String, String), String> = HashMap::new();
        let mut floating_present: HashSet<String> = HashSet::new();
        for ip in &fips {
            let (port, fixed) = (text(ip, "port_id"), text(ip, "fixed_ip_address"));
            if port.is_empty() || fixed.is_empty() {
                continue;
            }
            let Some(device) = device_of.get(&port) else {
                tracing::warn!(PortID = %port, "Floating IP PortID not found in portList");
                continue;
            };
            let fip = text(ip, "floating_ip_address");
            floating.insert((device.clone(), fixed), fip.clone());
            floating_present.insert(fip);
        }
        let mut first = format!("{compute}servers/detail");
        if self.all_tenants {
            first.push_str("?all_tenants=True");
        }
        let servers = self
            .list(first, "servers", &s.token)
            .await
            .map_err(|e| format!("could not extract instances: {e}"))?;
        let mut targets = Vec::new();
        for srv in &servers {
            let id = text(srv, "id");
            let addresses = srv
                .get("addresses")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if addresses.is_empty() {
                tracing::info!(instance = %id, "Got no IP address");
                continue;
            }
            let mut base: BTreeMap<String, String> = BTreeMap::new();
            base.insert(format!("{PREFIX}instance_id"), id.clone());
            base.insert(format!("{PREFIX}instance_status"), text(srv, "status"));
            base.insert(format!("{PREFIX}instance_name"), text(srv, "name"));
            base.insert(format!("{PREFIX}project_id"), text(srv, "tenant_id"));
            base.insert(format!("{PREFIX}user_id"), text(srv, "user_id"));
            let flavor = srv.get("flavor");
            let flavor_name = flavor
                .and_then(|f| f.get("original_name"))
                .and_then(Value::as_str);
            let flavor_id = flavor.and_then(|f| f.get("id")).and_then(Value::as_str);
            let Some(flavor) = flavor_name.or(flavor_id) else {
                tracing::warn!(
                    "Invalid type for both flavor original_name and flavor id, expected string"
                );
                continue;
            };
            base.insert(format!("{PREFIX}instance_flavor"), flavor.to_owned());
            if let Some(image) = srv
                .get("image")
                .and_then(|i| i.get("id"))
                .and_then(Value::as_str)
            {
                base.insert(format!("{PREFIX}instance_image"), image.to_owned());
            }
            if let Some(meta) = srv.get("metadata").and_then(Value::as_object) {
                for (k, v) in meta {
                    if let Some(v) = v.as_str() {
                        base.insert(format!("{PREFIX}tag_{}", sanitize(k)), v.to_owned());
                    }
                }
            }
            for (pool, list) in &addresses {
                let Some(list) = list.as_array() else {
                    tracing::warn!("Invalid type for address, expected array");
                    continue;
                };
                for a in list {
                    let Some(addr) = a.get("addr").and_then(Value::as_str) else {
                        tracing::warn!("Invalid type for address, expected string");
                        continue;
                    };
                    if floating_present.contains(addr) {
                        continue;
                    }
                    let mut set = base.clone();
                    set.insert(format!("{PREFIX}address_pool"), pool.clone());
                    set.insert(format!("{PREFIX}private_ip"), addr.to_owned());
                    if let Some(public) = floating.get(&(id.clone(), addr.to_owned())) {
                        set.insert(format!("{PREFIX}public_ip"), public.clone());
                    }
                    set.insert("__address__".into(), join_host_port(addr, self.port));
                    targets.push(Labels::from_pairs(set));
                }
            }
        }
        Ok(targets)
    }
}

#[cfg(test)]
mod tests;
