//! OVHcloud service discovery (`ovhcloud_sd_configs`), as Prometheus's
//! `discovery/ovhcloud`: every `refresh_interval` the names of the account's VPS
//! (`service: vps`, `GET /vps`) or dedicated servers (`service: dedicated_server`,
//! `GET /dedicated/server`), then each one's details and IPs; one group (source
//! `ovhcloud_<service>`) with a target per server whose address is its IPv4 (else IPv6)
//! without a port, `instance` set to the server name, labelled `__meta_ovhcloud_vps_*` or
//! `__meta_ovhcloud_dedicated_server_*`. A server whose details or IPs cannot be read is
//! left out with a warning.
//!
//! Requests are signed as go-ovh does (`X-Ovh-Application`, `X-Ovh-Consumer`,
//! `X-Ovh-Timestamp` corrected by the server clock of `/auth/time`, and the `$1$` SHA-1
//! `X-Ovh-Signature`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use config::discovery::OvhCloudSdConfig;
use model::{Labels, TargetGroup};

use crate::api;

/// The API roots of go-ovh's named endpoints.
const ENDPOINTS: &[(&str, &str)] = &[
    ("ovh-eu", "https://eu.api.ovh.com/1.0"),
    ("ovh-ca", "https://ca.api.ovh.com/1.0"),
    ("ovh-us", "https://api.us.ovhcloud.com/1.0"),
    ("kimsufi-eu", "https://eu.api.kimsufi.com/1.0"),
    ("kimsufi-ca", "https://ca.api.kimsufi.com/1.0"),
    ("soyoustart-eu", "https://eu.api.soyoustart.com/1.0"),
    ("soyoustart-ca", "https://ca.api.soyoustart.com/1.0"),
];

/// Requests of one refresh time out after this (go-ovh's default client timeout).
const TIMEOUT: Duration = Duration::from_secs(180);

/// One ovhcloud_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    client: httpclient::HttpClient,
    endpoint: String,
    application_key: String,
    application_secret: String,
    consumer_key: String,
    vps: bool,
    /// Server clock minus ours, in seconds, once asked.
    delta: Mutex<Option<i64>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Vps {
    zone: String,
    model: VpsModel,
    display_name: String,
    cluster: String,
    state: String,
    name: String,
    netboot_mode: String,
    memory_limit: i64,
    offer_type: String,
    vcore: i64,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct VpsModel {
    #[serde(rename = "maximumAdditionnalIp", alias = "maximumAdditionalIp")]
    maximum_additional_ip: i64,
    offer: String,
    datacenter: Option<Vec<String>>,
    vcore: i64,
    version: String,
    name: String,
    disk: i64,
    memory: i64,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct DedicatedServer {
    state: String,
    commercial_range: String,
    link_speed: i64,
    rack: String,
    no_intervention: bool,
    os: String,
    support_level: String,
    server_id: i64,
    reverse: String,
    datacenter: String,
    name: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ApiError {
    message: String,
}

/// The usable addresses of an IP list (Go's `parseIPList`): plain addresses and `/32`
/// prefixes, without unspecified ones.
///
/// # Errors
/// When none is left.
fn parse_ip_list(list: &[String]) -> Result<Vec<IpAddr>, String> {
    let mut out = Vec::new();
    for s in list {
        let ip = match s.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => {
                let parsed = s.split_once('/').and_then(|(a, bits)| {
                    Some((a.parse::<IpAddr>().ok()?, bits.parse::<u8>().ok()?))
                });
                match parsed {
                    Some((ip, bits)) if bits <= if ip.is_ipv4() { 32 } else { 128 } => {
                        if bits != 32 {
                            continue;
                        }
                        ip
                    }
                    _ => return Err("could not parse IP addresses from list".into()),
                }
            }
        };
        if !ip.is_unspecified() {
            out.push(ip);
        }
    }
    if out.is_empty() {
        return Err("could not parse IP addresses from list".into());
    }
    Ok(out)
}

/// The last IPv4 and the last IPv6 address of `ips`.
fn last_addresses(ips: &[IpAddr]) -> (String, String) {
    let (mut v4, mut v6) = (String::new(), String::new());
    for ip in ips {
        match ip {
            IpAddr::V4(a) => v4 = a.to_string(),
            IpAddr::V6(a) => v6 = a.to_string(),
        }
    }
    (v4, v6)
}

impl Discovery {
    /// A provider for `cfg`.
    ///
    /// # Errors
    /// An endpoint that is neither a known name nor a URL.
    pub(crate) fn new(cfg: &OvhCloudSdConfig) -> Result<Discovery, String> {
        let endpoint = if cfg.endpoint.contains('/') {
            cfg.endpoint.clone()
        } else {
            ENDPOINTS
                .iter()
                .find(|(name, _)| *name == cfg.endpoint)
                .map(|(_, url)| (*url).to_owned())
                .ok_or_else(|| {
                    format!(
                        "unknown endpoint '{}', consider checking 'Endpoints' list of using an URL",
                        cfg.endpoint
                    )
                })?
        };
        Ok(Discovery {
            // Go's OVHcloud client is OVH's, outside the counted dialers.
            client: httpclient::HttpClient::default().uncounted(),
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            application_key: cfg.application_key.clone(),
            application_secret: cfg.application_secret.expose().to_owned(),
            consumer_key: cfg.consumer_key.expose().to_owned(),
            vps: cfg.service == "vps",
            delta: Mutex::new(None),
        })
    }

    fn source(&self) -> &'static str {
        if self.vps {
            "ovhcloud_vps"
        } else {
            "ovhcloud_dedicated_server"
        }
    }

    /// The server clock's offset from ours (go-ovh's `getTimeDelta`), asked once.
    async fn time_delta(&self) -> Result<i64, String> {
        if let Some(d) = *self.delta.lock().unwrap_or_else(|e| e.into_inner()) {
            return Ok(d);
        }
        let url = format!("{}/auth/time", self.endpoint);
        let a = api::send(
            &self.client,
            http::Method::GET,
            &url,
            &[("Accept", "application/json")],
            Bytes::new(),
            TIMEOUT,
        )
        .await?;
        Self::check(&a)?;
        let server: i64 = if a.body.is_empty() {
            0
        } else {
            serde_json::from_slice(&a.body).map_err(|e| format!("{url:?}: {e}"))?
        };
        let delta = server - now_secs();
        *self.delta.lock().unwrap_or_else(|e| e.into_inner()) = Some(delta);
        Ok(delta)
    }

    /// go-ovh's `APIError` text for an unsuccessful answer.
    fn check(a: &crate::util::Answer) -> Result<(), String> {
        if a.status.is_success() {
            return Ok(());
        }
        let e: ApiError = serde_json::from_slice(&a.body).unwrap_or_else(|_| ApiError {
            message: String::from_utf8_lossy(&a.body).trim().to_owned(),
        });
        Err(format!("HTTP Error {}: {:?}", a.status.as_u16(), e.message))
    }

    /// An authenticated GET of `path`, decoded.
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let delta = self.time_delta().await?;
        let url = format!("{}{path}", self.endpoint);
        let timestamp = (now_secs() + delta).to_string();
        let payload = format!(
            "{}+{}+GET+{url}++{timestamp}",
            self.application_secret, self.consumer_key
        );
        let digest =
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, payload.as_bytes());
        let signature = format!(
            "$1${}",
            digest
                .as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let a = api::send(
            &self.client,
            http::Method::GET,
            &url,
            &[
                ("Accept", "application/json"),
                ("X-Ovh-Application", &self.application_key),
                ("X-Ovh-Timestamp", &timestamp),
                ("X-Ovh-Consumer", &self.consumer_key),
                ("X-Ovh-Signature", &signature),
            ],
            Bytes::new(),
            TIMEOUT,
        )
        .await?;
        Self::check(&a)?;
        serde_json::from_slice(&a.body).map_err(|e| format!("{url:?}: {e}"))
    }

    /// A server's details and usable IPs.
    async fn details<T: serde::de::DeserializeOwned>(
        &self,
        root: &str,
        name: &str,
    ) -> Result<(T, Vec<IpAddr>), String> {
        let path = format!("{root}/{}", model::strutil::query_escape(name));
        let details: T = self.get(&path).await?;
        let ips: Vec<String> = self.get(&format!("{path}/ips")).await?;
        Ok((details, parse_ip_list(&ips)?))
    }

    /// One refresh: the `ovhcloud_<service>` group.
    ///
    /// # Errors
    /// A failed list of servers; the caller keeps the last targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let root = if self.vps {
            "/vps"
        } else {
            "/dedicated/server"
        };
        let names: Vec<String> = self.get(root).await?;
        let mut targets = Vec::new();
        for name in &names {
            let labels = if self.vps {
                self.details::<Vps>(root, name)
                    .await
                    .map(|(s, ips)| vps_labels(&s, &ips))
            } else {
                self.details::<DedicatedServer>(root, name)
                    .await
                    .map(|(s, ips)| dedicated_labels(&s, &ips))
            };
            match labels {
                Ok(l) => targets.push(l),
                Err(e) => tracing::warn!(
                    err = %e,
                    "{}: Could not get details of {name}",
                    self.source()
                ),
            }
        }
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: self.source().to_owned(),
        }])
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn vps_labels(s: &Vps, ips: &[IpAddr]) -> Labels {
    let (v4, v6) = last_addresses(ips);
    let address = if v4.is_empty() {
        v6.clone()
    } else {
        v4.clone()
    };
    let mut set: BTreeMap<String, String> = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        set.insert(format!("__meta_ovhcloud_vps_{k}"), v);
    };
    put("offer", s.model.offer.clone());
    // Go's `%+v` of a string slice.
    put(
        "datacenter",
        format!(
            "[{}]",
            s.model.datacenter.as_deref().unwrap_or_default().join(" ")
        ),
    );
    put("model_vcore", s.model.vcore.to_string());
    put(
        "maximum_additional_ip",
        s.model.maximum_additional_ip.to_string(),
    );
    put("version", s.model.version.clone());
    put("model_name", s.model.name.clone());
    put("disk", s.model.disk.to_string());
    put("memory", s.model.memory.to_string());
    put("zone", s.zone.clone());
    put("display_name", s.display_name.clone());
    put("cluster", s.cluster.clone());
    put("state", s.state.clone());
    put("name", s.name.clone());
    put("netboot_mode", s.netboot_mode.clone());
    put("memory_limit", s.memory_limit.to_string());
    put("offer_type", s.offer_type.clone());
    put("vcore", s.vcore.to_string());
    put("ipv4", v4);
    put("ipv6", v6);
    set.insert("__address__".into(), address);
    set.insert("instance".into(), s.name.clone());
    Labels::from_pairs(set)
}

fn dedicated_labels(s: &DedicatedServer, ips: &[IpAddr]) -> Labels {
    let (v4, v6) = last_addresses(ips);
    let address = if v4.is_empty() {
        v6.clone()
    } else {
        v4.clone()
    };
    let mut set: BTreeMap<String, String> = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        set.insert(format!("__meta_ovhcloud_dedicated_server_{k}"), v);
    };
    put("state", s.state.clone());
    put("commercial_range", s.commercial_range.clone());
    put("link_speed", s.link_speed.to_string());
    put("rack", s.rack.clone());
    put("no_intervention", s.no_intervention.to_string());
    put("os", s.os.clone());
    put("support_level", s.support_level.clone());
    put("server_id", s.server_id.to_string());
    put("reverse", s.reverse.clone());
    put("datacenter", s.datacenter.clone());
    put("name", s.name.clone());
    put("ipv4", v4);
    put("ipv6", v6);
    set.insert("__address__".into(), address);
    set.insert("instance".into(), s.name.clone());
    Labels::from_pairs(set)
}

#[cfg(test)]
mod tests;
