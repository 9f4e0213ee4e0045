//! Amazon Lightsail service discovery (`lightsail_sd_configs`), as Prometheus's
//! `discovery/aws` Lightsail role: every `refresh_interval` one `GetInstances` call (AWS
//! JSON 1.1 protocol, signed with SigV4 for service `lightsail`; only the first page, as
//! upstream), one group (source: the region) with a target `<private IP>:<port>` per
//! instance that has a private IP, labelled `__meta_lightsail_*`. Region and credentials
//! are found as for ec2_sd.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use config::discovery::AwsSdConfig;
use model::{Labels, TargetGroup};

use crate::api;
use crate::aws::LazyClients;
use crate::util::{join_host_port, sanitize};

const PREFIX: &str = "__meta_lightsail_";
const SEPARATOR: &str = ",";

/// One lightsail_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    /// Region, API endpoint and signing client, made at the first refresh.
    clients: LazyClients,
    port: u16,
    timeout: Duration,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GetInstances {
    instances: Vec<Instance>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Instance {
    name: String,
    blueprint_id: String,
    bundle_id: String,
    support_code: String,
    location: Location,
    state: State,
    private_ip_address: Option<String>,
    public_ip_address: Option<String>,
    ipv6_addresses: Vec<String>,
    tags: Vec<Tag>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Location {
    availability_zone: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct State {
    name: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Tag {
    key: Option<String>,
    value: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ApiError {
    #[serde(rename = "__type")]
    kind: String,
    message: Option<String>,
    #[serde(rename = "Message")]
    message_upper: Option<String>,
}

impl Discovery {
    /// A provider for `cfg`; its region, credentials and HTTP client options are looked up
    /// at the first refresh ([`LazyClients`]).
    ///
    /// # Errors
    /// None so far: everything that can fail waits for the first refresh.
    pub(crate) fn new(cfg: &AwsSdConfig) -> Result<Discovery, String> {
        Ok(Discovery {
            clients: LazyClients::new(cfg, "Lightsail", &["lightsail"]),
            port: cfg.port,
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
        })
    }

    /// One refresh: the region's group.
    ///
    /// # Errors
    /// No clients ([`LazyClients::get`]) or a failed `GetInstances` (`could not get
    /// instances: …`); the caller keeps the last targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let clients = self.clients.get().await?;
        let url = format!("{}/", clients.endpoint.trim_end_matches('/'));
        let a = api::send(
            clients.client(),
            http::Method::POST,
            &url,
            &[
                ("Content-Type", "application/x-amz-json-1.1"),
                ("X-Amz-Target", "Lightsail_20161128.GetInstances"),
                ("User-Agent", httpclient::USER_AGENT),
            ],
            Bytes::from_static(b"{}"),
            self.timeout,
        )
        .await
        .map_err(|e| {
            format!("could not get instances: operation error Lightsail: GetInstances, {e}")
        })?;
        if !a.status.is_success() {
            let err: ApiError = serde_json::from_slice(&a.body).unwrap_or_default();
            let code = err.kind.rsplit('#').next().unwrap_or_default().to_owned();
            return Err(format!(
                "could not get instances: operation error Lightsail: GetInstances, https response error StatusCode: {}, RequestID: {}, api error {code}: {}",
                a.status.as_u16(),
                a.header("x-amzn-requestid"),
                err.message.or(err.message_upper).unwrap_or_default()
            ));
        }
        let out: GetInstances = serde_json::from_slice(&a.body)
            .map_err(|e| format!("could not get instances: decoding the answer: {e}"))?;
        let mut targets = Vec::new();
        for i in &out.instances {
            let Some(private) = &i.private_ip_address else {
                continue;
            };
            let mut set: BTreeMap<String, String> = BTreeMap::new();
            let mut put = |k: &str, v: String| {
                set.insert(format!("{PREFIX}{k}"), v);
            };
            put("availability_zone", i.location.availability_zone.clone());
            put("blueprint_id", i.blueprint_id.clone());
            put("bundle_id", i.bundle_id.clone());
            put("instance_name", i.name.clone());
            put("instance_state", i.state.name.clone());
            put("instance_support_code", i.support_code.clone());
            put("private_ip", private.clone());
            put("region", clients.region.clone());
            if let Some(p) = &i.public_ip_address {
                put("public_ip", p.clone());
            }
            if !i.ipv6_addresses.is_empty() {
                put(
                    "ipv6_addresses",
                    format!("{SEPARATOR}{}{SEPARATOR}", i.ipv6_addresses.join(SEPARATOR)),
                );
            }
            for t in &i.tags {
                if let (Some(k), Some(v)) = (&t.key, &t.value) {
                    put(&format!("tag_{}", sanitize(k)), v.clone());
                }
            }
            set.insert("__address__".into(), join_host_port(private, self.port));
            targets.push(Labels::from_pairs(set));
        }
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: clients.region.clone(),
        }])
    }
}

#[cfg(test)]
mod tests;
