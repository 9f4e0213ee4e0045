//! Oracle Cloud Infrastructure service discovery (`oci_sd_configs`), as Prometheus's
//! `discovery/oci`: every `refresh_interval` the compute instances of the configured
//! `compartments` (or, when none are listed, of every active compartment reachable from
//! the tenancy, walked breadth-first through the Identity API's `ListCompartments`), each
//! with its primary VNIC (`ListVnicAttachments`, then `GetVnic` per attached VNIC until the
//! primary one). One group (source `OCI`) with a target per instance that has an address:
//! the primary VNIC's private IP (else its public IP) on `port`, labelled `__meta_oci_*`.
//!
//! Every request is signed with the API key of `auth: api_key` (see [`sign`]), paged with
//! `opc-next-page`, held to 10 requests a second (bursts of 50) as upstream, and retried
//! twice on 429 and 5xx answers. A failed instance listing fails the refresh (the last
//! targets stay); an instance whose VNICs cannot be read is skipped with a warning, and a
//! compartment whose children cannot be listed is walked no further. `auth:
//! instance_principal` (the instance metadata service's certificates exchanged for a
//! session token) and encrypted key files are refused with a clear error.
//!
//! Endpoints: `https://iaas.<region>.<domain>` and `https://identity.<region>.oci.<domain>`,
//! the region given by identifier or key and the domain its realm's, as the OCI Go SDK's
//! tables have them ([`region`]).

mod region;
mod sign;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use config::discovery::OciSdConfig;
use model::{Labels, TargetGroup};
use serde::Deserialize;

use crate::api;
use crate::util::{Answer, encode_query, join_host_port, rsa_key, sanitize};

const PREFIX: &str = "__meta_oci_";
/// The API version of the compute, network and identity paths.
const API: &str = "/20160918";
/// Items asked for per page.
const PAGE_LIMIT: &str = "100";
/// Upstream's rate limit: requests a second, and the burst.
const RATE: f64 = 10.0;
const BURST: f64 = 50.0;
/// Attempts per request on 429 and 5xx answers.
const ATTEMPTS: u32 = 3;

/// A compute instance, as `ListInstances` returns it.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Instance {
    id: Option<String>,
    display_name: Option<String>,
    lifecycle_state: String,
    shape: Option<String>,
    availability_domain: Option<String>,
    fault_domain: Option<String>,
    region: Option<String>,
    compartment_id: Option<String>,
    image_id: Option<String>,
    freeform_tags: BTreeMap<String, String>,
    defined_tags: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
}

/// A VNIC attachment, as `ListVnicAttachments` returns it.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct VnicAttachment {
    vnic_id: Option<String>,
    lifecycle_state: String,
}

/// A VNIC, as `GetVnic` returns it.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Vnic {
    id: Option<String>,
    is_primary: Option<bool>,
    private_ip: Option<String>,
    public_ip: Option<String>,
    hostname_label: Option<String>,
    ipv6_addresses: Vec<String>,
}

/// A compartment, as `ListCompartments` returns it.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Compartment {
    id: Option<String>,
    lifecycle_state: String,
}

/// An OCI error answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ApiError {
    code: String,
    message: String,
}

/// Upstream's token bucket over every request of one provider.
#[derive(Debug)]
struct Limiter {
    state: tokio::sync::Mutex<(f64, Instant)>,
}

impl Limiter {
    fn new() -> Limiter {
        Limiter {
            state: tokio::sync::Mutex::new((BURST, Instant::now())),
        }
    }

    /// Waits for a token.
    async fn wait(&self) {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        let (tokens, last) = *state;
        let mut tokens = (tokens + now.duration_since(last).as_secs_f64() * RATE).min(BURST);
        if tokens < 1.0 {
            tokio::time::sleep(Duration::from_secs_f64((1.0 - tokens) / RATE)).await;
            tokens = 1.0;
        }
        *state = (tokens - 1.0, Instant::now());
    }
}

/// One oci_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    client: httpclient::HttpClient,
    signer: sign::Signer,
    tenancy: String,
    compartments: Vec<String>,
    port: u16,
    timeout: Duration,
    limiter: Limiter,
    /// The compute and virtual network API base URL (`iaas`).
    pub(crate) compute_url: String,
    /// The Identity API base URL.
    pub(crate) identity_url: String,
}

impl Discovery {
    /// A provider for `cfg` (Go's `NewDiscovery`): reads and parses the API key.
    ///
    /// # Errors
    /// `auth: instance_principal`, unusable HTTP client options, a key file (or passphrase
    /// file) that cannot be read, an encrypted key, or one that is not an RSA key; each
    /// message names the file.
    pub(crate) fn new(cfg: &OciSdConfig) -> Result<Discovery, String> {
        if cfg.auth == "instance_principal" {
            return Err("oci_sd: instance_principal auth is not supported yet".to_owned());
        }
        let client = httpclient::HttpClient::new(&cfg.http_client_config)
            .map(|c| c.named("oci_sd"))
            .map_err(|e| format!("oci_sd: failed to build HTTP client: {e}"))?;
        let pem = std::fs::read_to_string(&cfg.key_file)
            .map_err(|e| format!("oci_sd: reading OCI key file {:?}: {e}", cfg.key_file))?;
        if !cfg.key_passphrase_file.is_empty() {
            std::fs::read(&cfg.key_passphrase_file).map_err(|e| {
                format!(
                    "oci_sd: reading OCI key passphrase file {:?}: {e}",
                    cfg.key_passphrase_file
                )
            })?;
        }
        if pem.contains("ENCRYPTED") {
            return Err(format!(
                "oci_sd: OCI key file {:?} is encrypted; encrypted keys (key_passphrase) are not \
                 supported yet",
                cfg.key_file
            ));
        }
        let key =
            rsa_key(&pem).map_err(|e| format!("oci_sd: OCI key file {:?}: {e}", cfg.key_file))?;
        let (region, domain) = region::resolve(&cfg.region);
        Ok(Discovery {
            client,
            signer: sign::Signer::new(&cfg.tenancy, &cfg.user, &cfg.fingerprint, key),
            tenancy: cfg.tenancy.clone(),
            compartments: cfg.compartments.clone(),
            port: cfg.port,
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
            limiter: Limiter::new(),
            compute_url: format!("https://iaas.{region}.{domain}"),
            identity_url: format!("https://identity.{region}.oci.{domain}"),
        })
    }

    /// One signed GET of `base` + `path` with `params`, retried on 429 and 5xx answers;
    /// `service` names the API in errors, as the OCI SDK's errors do.
    async fn get(
        &self,
        service: &str,
        base: &str,
        path: &str,
        params: &[(String, String)],
    ) -> Result<Answer, String> {
        let query = encode_query(params);
        let path_and_query = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        let url = format!("{base}{path_and_query}");
        let host = url::Url::parse(&url)
            .ok()
            .and_then(|u| {
                let host = u.host_str()?.to_owned();
                Some(match u.port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host,
                })
            })
            .ok_or_else(|| format!("invalid OCI endpoint {url:?}"))?;
        let mut attempt = 1;
        loop {
            self.limiter.wait().await;
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            let signed = self.signer.headers(
                &http::Method::GET,
                &host,
                &path_and_query,
                &sign::http_date(now),
                None,
            )?;
            let mut headers: Vec<(&str, &str)> = vec![
                ("host", &host),
                ("accept", "application/json"),
                ("user-agent", httpclient::USER_AGENT),
            ];
            headers.extend(signed.iter().map(|(k, v)| (*k, v.as_str())));
            let answer = api::send(
                &self.client,
                http::Method::GET,
                &url,
                &headers,
                Bytes::new(),
                self.timeout,
            )
            .await;
            // A failed exchange already waited up to the time limit: not tried again.
            let retry = answer
                .as_ref()
                .is_ok_and(|a| a.status.as_u16() == 429 || a.status.is_server_error());
            if retry && attempt < ATTEMPTS {
                tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                attempt += 1;
                continue;
            }
            let a = answer?;
            if a.status != http::StatusCode::OK {
                let e: ApiError = serde_json::from_slice(&a.body).unwrap_or_default();
                return Err(format!(
                    "Error returned by {service} Service. Http Status Code: {}. Error Code: {}. \
                     Opc request id: {}. Message: {}",
                    a.status.as_u16(),
                    e.code,
                    a.header("opc-request-id"),
                    if e.message.is_empty() {
                        String::from_utf8_lossy(&a.body).trim().to_owned()
                    } else {
                        e.message
                    }
                ));
            }
            return Ok(a);
        }
    }

    /// Every page of a list operation (`limit` 100, `page` from `opc-next-page`).
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        service: &str,
        base: &str,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<Vec<T>, String> {
        let mut items = Vec::new();
        let mut page = String::new();
        loop {
            let mut p: Vec<(String, String)> = params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            p.push(("limit".to_owned(), PAGE_LIMIT.to_owned()));
            if !page.is_empty() {
                p.push(("page".to_owned(), page.clone()));
            }
            let a = self.get(service, base, path, &p).await?;
            let mut batch: Vec<T> = serde_json::from_slice(&a.body)
                .map_err(|e| format!("decoding the {service} answer of {path}: {e}"))?;
            items.append(&mut batch);
            page = a.header("opc-next-page");
            if page.is_empty() {
                return Ok(items);
            }
        }
    }

    /// The tenancy and every active compartment below it (Go's `listAllCompartments`),
    /// breadth-first; a compartment whose children cannot be listed is logged and its
    /// subtree skipped.
    async fn all_compartments(&self) -> Vec<String> {
        let mut all = Vec::new();
        let mut visited = HashSet::new();
        let mut queue = VecDeque::from([self.tenancy.clone()]);
        while let Some(current) = queue.pop_front() {
            if !visited.insert(current.clone()) {
                continue;
            }
            all.push(current.clone());
            let children: Result<Vec<Compartment>, String> = self
                .list(
                    "Identity",
                    &self.identity_url,
                    &format!("{API}/compartments"),
                    &[
                        ("compartmentId", &current),
                        ("accessLevel", "ACCESSIBLE"),
                        ("compartmentIdInSubtree", "false"),
                    ],
                )
                .await;
            match children {
                Ok(children) => queue.extend(
                    children
                        .into_iter()
                        .filter(|c| c.lifecycle_state == "ACTIVE")
                        .filter_map(|c| c.id)
                        .filter(|id| !visited.contains(id)),
                ),
                Err(err) => tracing::warn!(
                    compartment_id = %current,
                    err = %err,
                    "OCI SD failed to list child compartments, skipping subtree"
                ),
            }
        }
        all
    }

    /// The primary VNIC of `inst` (attached VNICs fetched one by one until it is found).
    async fn primary_vnic(&self, compartment: &str, instance: &str) -> Result<Vnic, String> {
        let attachments: Vec<VnicAttachment> = self
            .list(
                "Compute",
                &self.compute_url,
                &format!("{API}/vnicAttachments"),
                &[("compartmentId", compartment), ("instanceId", instance)],
            )
            .await
            .map_err(|e| format!("listing VNIC attachments for instance {instance}: {e}"))?;
        for att in attachments {
            let Some(vnic_id) = att.vnic_id.filter(|_| att.lifecycle_state == "ATTACHED") else {
                continue;
            };
            let a = self
                .get(
                    "VirtualNetwork",
                    &self.compute_url,
                    &format!("{API}/vnics/{vnic_id}"),
                    &[],
                )
                .await
                .map_err(|e| format!("fetching VNIC {vnic_id}: {e}"))?;
            let vnic: Vnic = serde_json::from_slice(&a.body)
                .map_err(|e| format!("decoding VNIC {vnic_id}: {e}"))?;
            if vnic.is_primary == Some(true) {
                return Ok(vnic);
            }
        }
        Ok(Vnic::default())
    }

    /// One refresh (Go's `refresh`): one group, source `OCI`, over all compartments.
    ///
    /// # Errors
    /// A failed instance listing in any compartment; the caller keeps the last targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let compartments = if self.compartments.is_empty() {
            self.all_compartments().await
        } else {
            self.compartments.clone()
        };
        let mut targets = Vec::new();
        for compartment in &compartments {
            let instances: Vec<Instance> = self
                .list(
                    "Compute",
                    &self.compute_url,
                    &format!("{API}/instances"),
                    &[("compartmentId", compartment)],
                )
                .await
                .map_err(|e| format!("listing OCI instances in compartment {compartment}: {e}"))?;
            for inst in instances {
                let (Some(id), Some(comp)) = (&inst.id, &inst.compartment_id) else {
                    tracing::warn!(
                        compartment_id = %compartment,
                        "OCI SD skipping instance with missing OCID fields"
                    );
                    continue;
                };
                let vnic = match self.primary_vnic(comp, id).await {
                    Ok(v) => v,
                    Err(err) => {
                        tracing::warn!(
                            instance_id = %id,
                            err = %err,
                            "OCI SD failed to resolve VNIC IPs, skipping instance"
                        );
                        continue;
                    }
                };
                if let Some(t) = self.target(&inst, &vnic) {
                    targets.push(t);
                } else {
                    tracing::debug!(instance_id = %id, "OCI SD skipping instance with no usable IP address");
                }
            }
        }
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: "OCI".to_owned(),
        }])
    }

    /// The target of one instance (Go's `instanceLabels`); none without an address.
    fn target(&self, inst: &Instance, vnic: &Vnic) -> Option<Labels> {
        let private = vnic.private_ip.as_deref().unwrap_or_default();
        let public = vnic.public_ip.as_deref().unwrap_or_default();
        let address = if private.is_empty() { public } else { private };
        if address.is_empty() {
            return None;
        }
        let mut set: BTreeMap<String, String> = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            set.insert(format!("{PREFIX}{k}"), v.to_owned());
        };
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        put("instance_id", &s(&inst.id));
        put("instance_name", &s(&inst.display_name));
        put("instance_state", &inst.lifecycle_state);
        put("instance_shape", &s(&inst.shape));
        put("availability_domain", &s(&inst.availability_domain));
        put("fault_domain", &s(&inst.fault_domain));
        put("region", &s(&inst.region));
        put("tenancy_id", &self.tenancy);
        put("compartment_id", &s(&inst.compartment_id));
        put("image_id", &s(&inst.image_id));
        put("vnic_id", &s(&vnic.id));
        put("private_ip", private);
        put("public_ip", public);
        if let Some(h) = vnic.hostname_label.as_deref().filter(|h| !h.is_empty()) {
            put("hostname_label", h);
        }
        if !vnic.ipv6_addresses.is_empty() {
            let mut v6 = vnic.ipv6_addresses.clone();
            v6.sort();
            put("ipv6_addresses", &format!(",{},", v6.join(",")));
        }
        for (k, v) in &inst.freeform_tags {
            put(&format!("tag_{}", sanitize(k)), v);
        }
        for (ns, tags) in &inst.defined_tags {
            for (k, v) in tags {
                if let Some(v) = defined_tag_value(v) {
                    put(&format!("defined_tag_{}_{}", sanitize(ns), sanitize(k)), &v);
                }
            }
        }
        set.insert("__address__".to_owned(), join_host_port(address, self.port));
        Some(Labels::from_pairs(set))
    }
}

/// A defined tag's value as text (Go's `stringifyDefinedTag`): strings as they are,
/// booleans and numbers printed (numbers as Go's `FormatFloat(f, 'f', -1, 64)`); null,
/// lists and objects have none.
fn defined_tag_value(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Number(n) => Some(match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => f.to_string(),
            _ => n.to_string(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
