//! Linode service discovery (`linode_sd_configs`), as Prometheus's `discovery/linode`: all
//! instances, IP addresses and IPv6 ranges of the account (`/v4/linode/instances`,
//! `/v4/networking/ips`, `/v4/networking/ipv6/ranges`, 500 per page, restricted to `region`
//! by an `X-Filter` header when set), one group (source `Linode`) with a target
//! `<public IPv4>:<port>` per instance that has IPv4 addresses, labelled `__meta_linode_*`.
//! After the first full read, a refresh asks `/v4/account/events` for events since the last
//! one and re-reads only when there are some (or after ten quiet polls); a token without the
//! events scope (401) turns this off for good.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use config::discovery::LinodeSdConfig;
use model::{Labels, TargetGroup};

use crate::api;
use crate::util::{encode_query, join_host_port};

const PREFIX: &str = "__meta_linode_";
/// The Linode API (linodego's default base URL).
const API_URL: &str = "https://api.linode.com/v4";
/// Quiet event polls after which the data is re-read anyway.
const MAX_QUIET_POLLS: u32 = 10;

/// One linode_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    client: httpclient::HttpClient,
    /// The API's base URL with its version (tests point it at a fake).
    pub(crate) base: String,
    port: u16,
    region: String,
    separator: String,
    timeout: Duration,
    state: Mutex<PollState>,
}

/// What the event polling remembers between refreshes.
#[derive(Debug)]
struct PollState {
    last_refresh: SystemTime,
    poll_count: u32,
    last_results: Option<Vec<TargetGroup>>,
    events_enabled: bool,
}

#[derive(serde::Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
    #[serde(default)]
    pages: u32,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Instance {
    id: i64,
    label: String,
    image: Option<String>,
    group: String,
    region: String,
    #[serde(rename = "type")]
    kind: String,
    status: String,
    hypervisor: String,
    ipv4: Option<Vec<String>>,
    ipv6: Option<String>,
    backups: Backups,
    specs: Specs,
    tags: Option<Vec<String>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Backups {
    enabled: bool,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Specs {
    disk: i64,
    memory: i64,
    vcpus: i64,
    gpus: i64,
    transfer: i64,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct IpAddress {
    address: String,
    public: bool,
    rdns: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Ipv6Range {
    range: String,
    prefix: i64,
    route_target: String,
}

/// `2006-01-02T15:04:05` in UTC, the events filter's time format.
fn format_time(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    let (y, m, d) = model::civil::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// An rDNS name, unless absent or the API's `null` text.
fn rdns(ip: &IpAddress) -> Option<String> {
    ip.rdns
        .clone()
        .filter(|r| !r.is_empty() && r.as_str() != "null")
}

impl Discovery {
    /// A provider for `cfg` (Go's `NewDiscovery`).
    ///
    /// # Errors
    /// Unusable HTTP client options.
    pub(crate) fn new(cfg: &LinodeSdConfig) -> Result<Discovery, String> {
        Ok(Discovery {
            client: httpclient::HttpClient::new(&cfg.http_client_config)
                .map(|c| c.named("linode_sd"))
                .map_err(|e| e.to_string())?,
            base: API_URL.to_owned(),
            port: cfg.port,
            region: cfg.region.clone(),
            separator: cfg.tag_separator.clone(),
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
            state: Mutex::new(PollState {
                last_refresh: SystemTime::now(),
                poll_count: 0,
                last_results: None,
                events_enabled: true,
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PollState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One page of `path`, with `filter` as the `X-Filter` header when not empty.
    async fn page<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
        page: u32,
        page_size: u32,
        filter: &str,
    ) -> Result<Page<T>, String> {
        let url = format!(
            "{}{path}?{}",
            self.base.trim_end_matches('/'),
            encode_query(&[
                ("page".to_owned(), page.to_string()),
                ("page_size".to_owned(), page_size.to_string()),
            ])
        );
        let mut headers = vec![
            ("Accept", "application/json"),
            ("User-Agent", httpclient::USER_AGENT),
        ];
        if !filter.is_empty() {
            headers.push(("X-Filter", filter));
        }
        api::get_json(&self.client, what, &url, &headers, self.timeout).await
    }

    /// Every page of `path`.
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
        filter: &str,
    ) -> Result<Vec<T>, String> {
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let p: Page<T> = self.page(what, path, page, 500, filter).await?;
            out.extend(p.data);
            if page >= p.pages {
                return Ok(out);
            }
            page += 1;
        }
    }

    /// One refresh (Go's `refresh`): the `Linode` group, re-read when events say so.
    ///
    /// # Errors
    /// A failed request or an answer that does not decode; the caller keeps the last
    /// targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let now = SystemTime::now();
        let (polling, since) = {
            let s = self.state();
            (s.last_results.is_some() && s.events_enabled, s.last_refresh)
        };
        let mut needs_refresh = true;
        if polling {
            let filter = format!(r#"{{"created": {{"+gte": "{}"}}}}"#, format_time(since));
            let events: Result<Page<serde_json::Value>, String> = self
                .page("listing Linode events", "/account/events", 1, 25, &filter)
                .await;
            match events {
                Err(e) if e.contains("HTTP status 401 ") => self.state().events_enabled = false,
                Err(e) => return Err(e),
                Ok(events) => {
                    let mut s = self.state();
                    s.poll_count += 1;
                    if events.data.is_empty() && s.poll_count < MAX_QUIET_POLLS {
                        needs_refresh = false;
                    }
                }
            }
        }
        if needs_refresh {
            let groups = self.refresh_data().await?;
            let mut s = self.state();
            s.poll_count = 0;
            s.last_results = Some(groups);
        }
        let mut s = self.state();
        s.last_refresh = now;
        Ok(s.last_results.clone().unwrap_or_default())
    }

    /// Reads instances, addresses and ranges and builds the group (Go's `refreshData`).
    async fn refresh_data(&self) -> Result<Vec<TargetGroup>, String> {
        let filter = if self.region.is_empty() {
            String::new()
        } else {
            serde_json::json!({ "region": self.region }).to_string()
        };
        let instances: Vec<Instance> = self
            .list("listing Linode instances", "/linode/instances", &filter)
            .await?;
        let ips: Vec<IpAddress> = self
            .list("listing Linode IP addresses", "/networking/ips", &filter)
            .await?;
        let ranges: Vec<Ipv6Range> = self
            .list(
                "listing Linode IPv6 ranges",
                "/networking/ipv6/ranges",
                &filter,
            )
            .await?;
        let sep = &self.separator;
        let surround = |v: &[String]| format!("{sep}{}{sep}", v.join(sep));
        let mut targets = Vec::new();
        for i in &instances {
            let ipv4 = i.ipv4.as_deref().unwrap_or_default();
            if ipv4.is_empty() {
                continue;
            }
            let (mut private4, mut public4, mut public6) =
                (String::new(), String::new(), String::new());
            let (mut private4_rdns, mut public4_rdns, mut public6_rdns) =
                (String::new(), String::new(), String::new());
            let mut extra = Vec::new();
            let mut v6_ranges = Vec::new();
            for ip in ipv4 {
                for d in ips.iter().filter(|d| &d.address == ip) {
                    if d.public && public4.is_empty() {
                        public4.clone_from(&d.address);
                        if let Some(r) = rdns(d) {
                            public4_rdns = r;
                        }
                    } else if !d.public && private4.is_empty() {
                        private4.clone_from(&d.address);
                        if let Some(r) = rdns(d) {
                            private4_rdns = r;
                        }
                    } else {
                        extra.push(d.address.clone());
                    }
                }
            }
            if let Some(v6) = i.ipv6.as_deref().filter(|v| !v.is_empty()) {
                let slaac = v6.split('/').next().unwrap_or_default();
                for d in ips.iter().filter(|d| d.address == slaac) {
                    public6.clone_from(&d.address);
                    if let Some(r) = rdns(d) {
                        public6_rdns = r;
                    }
                }
                for r in ranges.iter().filter(|r| r.route_target == slaac) {
                    v6_ranges.push(format!("{}/{}", r.range, r.prefix));
                }
            }
            let mut set: BTreeMap<String, String> = BTreeMap::new();
            let mut put = |k: &str, v: String| {
                set.insert(format!("{PREFIX}{k}"), v);
            };
            put("instance_id", i.id.to_string());
            put("instance_label", i.label.clone());
            put("image", i.image.clone().unwrap_or_default());
            put("private_ipv4", private4);
            put("public_ipv4", public4.clone());
            put("public_ipv6", public6);
            put("private_ipv4_rdns", private4_rdns);
            put("public_ipv4_rdns", public4_rdns);
            put("public_ipv6_rdns", public6_rdns);
            put("region", i.region.clone());
            put("type", i.kind.clone());
            put("status", i.status.clone());
            put("group", i.group.clone());
            put("gpus", i.specs.gpus.to_string());
            put("hypervisor", i.hypervisor.clone());
            put(
                "backups",
                if i.backups.enabled {
                    "enabled"
                } else {
                    "disabled"
                }
                .to_owned(),
            );
            put("specs_disk_bytes", (i.specs.disk << 20).to_string());
            put("specs_memory_bytes", (i.specs.memory << 20).to_string());
            put("specs_vcpus", i.specs.vcpus.to_string());
            put("specs_transfer_bytes", (i.specs.transfer << 20).to_string());
            if let Some(t) = i.tags.as_deref().filter(|t| !t.is_empty()) {
                put("tags", surround(t));
            }
            if !extra.is_empty() {
                put("extra_ips", surround(&extra));
            }
            if !v6_ranges.is_empty() {
                put("ipv6_ranges", surround(&v6_ranges));
            }
            set.insert("__address__".into(), join_host_port(&public4, self.port));
            targets.push(Labels::from_pairs(set));
        }
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: "Linode".to_owned(),
        }])
    }
}

#[cfg(test)]
mod tests;
