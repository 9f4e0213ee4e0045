//! Azure service discovery (`azure_sd_configs`), as Prometheus's `discovery/azure`: every
//! `refresh_interval` the subscription's (or `resource_group`'s) virtual machines and the
//! virtual machines of its scale sets through the Azure Resource Manager API (following
//! `nextLink`), then each machine's network interfaces (cached for ten to thirteen refresh
//! intervals); one group with a target `<private IP>:<port>` per allocated machine with a
//! primary interface, labelled `__meta_azure_*`.
//!
//! Tokens come from OAuth client credentials (`OAuth`), the managed identity endpoint
//! (`ManagedIdentity`: `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` when set, else the instance
//! metadata service), or for `SDK` azidentity's `DefaultAzureCredential` chain: the
//! environment's client secret, workload identity, the managed identity, the Azure CLI
//! (`azure/credential.rs`). `AZURE_AUTHORITY_HOST`
//! replaces the login host, as in the Azure SDK; the hidden `PROMETHEUS_AZURE_ARM_ENDPOINT`
//! replaces the Resource Manager endpoint (for tests and private clouds).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use config::discovery::AzureSdConfig;
use model::{Labels, TargetGroup};

use crate::api;
use crate::util::{Answer, encode_query, join_host_port, sanitize};
use credential::Credential;

mod credential;

const PREFIX: &str = "__meta_azure_";
/// The hidden override of the Resource Manager endpoint.
const ARM_ENV: &str = "PROMETHEUS_AZURE_ARM_ENDPOINT";
const COMPUTE_API: &str = "2024-03-01";
const NETWORK_API: &str = "2023-09-01";
/// The only version scale-set network interfaces are served in.
const VMSS_NETWORK_API: &str = "2018-10-01";
/// Network interfaces kept at most.
const CACHE_CAPACITY: usize = 5000;

/// One Azure cloud's endpoints.
#[derive(Debug, Clone)]
struct Cloud {
    authority: String,
    resource_manager: String,
    audience: String,
}

/// The cloud named `name` (Go's `CloudConfigurationFromName`).
fn cloud(name: &str) -> Result<Cloud, String> {
    let (authority, rm, audience) = match name.to_uppercase().as_str() {
        "AZURECHINACLOUD" => (
            "https://login.chinacloudapi.cn/",
            "https://management.chinacloudapi.cn",
            "https://management.core.chinacloudapi.cn",
        ),
        "AZURECLOUD" | "AZUREGERMANCLOUD" | "AZUREPUBLICCLOUD" => (
            "https://login.microsoftonline.com/",
            "https://management.azure.com",
            "https://management.core.windows.net/",
        ),
        "AZUREUSGOVERNMENT" | "AZUREUSGOVERNMENTCLOUD" => (
            "https://login.microsoftonline.us/",
            "https://management.usgovcloudapi.net",
            "https://management.core.usgovcloudapi.net",
        ),
        _ => {
            return Err(format!(
                "there is no cloud configuration matching the name {:?}",
                name.to_uppercase()
            ));
        }
    };
    Ok(Cloud {
        authority: authority.to_owned(),
        resource_manager: rm.to_owned(),
        audience: audience.to_owned(),
    })
}

/// What a refresh needs that can fail to set up (Go builds it in every refresh).
#[derive(Debug)]
struct Setup {
    cloud: Cloud,
    credential: Credential,
}

/// A virtual machine, standalone or of a scale set.
#[derive(Debug, Clone)]
struct Machine {
    id: String,
    name: String,
    computer_name: String,
    location: String,
    os_type: String,
    scale_set: String,
    instance_id: String,
    tags: BTreeMap<String, String>,
    network_interfaces: Vec<String>,
    size: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Page<T> {
    value: Vec<T>,
    next_link: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Vm {
    id: String,
    name: String,
    location: String,
    instance_id: String,
    tags: BTreeMap<String, Option<String>>,
    properties: VmProperties,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct VmProperties {
    storage_profile: StorageProfile,
    network_profile: NetworkProfile,
    os_profile: OsProfile,
    hardware_profile: HardwareProfile,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct StorageProfile {
    os_disk: OsDisk,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct OsDisk {
    os_type: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct NetworkProfile {
    network_interfaces: Vec<IdRef>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct IdRef {
    id: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct OsProfile {
    computer_name: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct HardwareProfile {
    vm_size: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ScaleSet {
    id: String,
    name: String,
}

#[derive(serde::Deserialize, Default, Debug, Clone)]
#[serde(default, rename_all = "camelCase")]
struct Interface {
    properties: Option<InterfaceProperties>,
}

#[derive(serde::Deserialize, Default, Debug, Clone)]
#[serde(default, rename_all = "camelCase")]
struct InterfaceProperties {
    primary: Option<bool>,
    ip_configurations: Vec<IpConfiguration>,
}

#[derive(serde::Deserialize, Default, Debug, Clone)]
#[serde(default, rename_all = "camelCase")]
struct IpConfiguration {
    properties: Option<IpConfigurationProperties>,
}

#[derive(serde::Deserialize, Default, Debug, Clone)]
#[serde(default, rename_all = "camelCase")]
struct IpConfigurationProperties {
    #[serde(rename = "privateIPAddress")]
    private_ip_address: Option<String>,
    #[serde(rename = "publicIPAddress")]
    public_ip_address: Option<PublicIp>,
}

#[derive(serde::Deserialize, Default, Debug, Clone)]
#[serde(default)]
struct PublicIp {
    properties: Option<PublicIpProperties>,
}

#[derive(serde::Deserialize, Default, Debug, Clone)]
#[serde(default, rename_all = "camelCase")]
struct PublicIpProperties {
    ip_address: Option<String>,
}

/// The resource group and name of an ARM resource id (`/subscriptions/<s>/resourceGroups/
/// <g>/providers/<ns>/<type>/<name>...`).
fn parse_resource_id(id: &str) -> Result<(String, String), String> {
    let parts: Vec<&str> = id.split('/').filter(|p| !p.is_empty()).collect();
    let group = parts
        .windows(2)
        .find(|w| w[0].eq_ignore_ascii_case("resourceGroups"))
        .map(|w| w[1].to_owned());
    match (group, parts.last()) {
        (Some(g), Some(name))
            if parts.len() >= 4 && parts[0].eq_ignore_ascii_case("subscriptions") =>
        {
            Ok((g, (*name).to_owned()))
        }
        _ => Err(format!("invalid ID '{id}': invalid resource ID")),
    }
}

/// The message of a failed ARM answer, as the SDK's `ResponseError`.
fn response_error(method: &str, url: &str, a: &Answer) -> String {
    let code = serde_json::from_slice::<serde_json::Value>(&a.body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "UNAVAILABLE".to_owned());
    format!(
        "{method} {url}\n--------------------------------------------------------------------------------\nRESPONSE {}: {} {}\nERROR CODE: {code}\n--------------------------------------------------------------------------------\n{}\n--------------------------------------------------------------------------------\n",
        a.status.as_u16(),
        a.status.as_u16(),
        a.status.canonical_reason().unwrap_or_default(),
        String::from_utf8_lossy(&a.body).trim()
    )
}

/// One azure_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    client: httpclient::HttpClient,
    setup: Result<Setup, String>,
    /// The Resource Manager base URL.
    base: String,
    subscription: String,
    tenant: String,
    resource_group: String,
    port: u16,
    refresh_interval: Duration,
    timeout: Duration,
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
    /// The member of the `SDK` chain that gave a token.
    chosen: Mutex<Option<usize>>,
    /// Network interfaces by id, with when they expire.
    cache: Mutex<HashMap<String, (Interface, Instant)>>,
    /// Cache hits not yet taken by [`Discovery::take_cache_hits`].
    cache_hits: std::sync::atomic::AtomicU64,
}

impl Discovery {
    /// A provider for `cfg` (Go's `NewDiscovery`), reading the environment.
    ///
    /// # Errors
    /// Unusable HTTP client options.
    pub(crate) fn new(cfg: &AzureSdConfig) -> Result<Discovery, String> {
        Discovery::with_env(cfg, &|k| std::env::var(k).ok())
    }

    /// A provider for `cfg` reading environment variables through `env`.
    fn with_env(
        cfg: &AzureSdConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Discovery, String> {
        let var = |k: &str| env(k).filter(|v| !v.is_empty());
        let setup = cloud(&cfg.environment).and_then(|mut cloud| {
            if let Some(host) = var("AZURE_AUTHORITY_HOST") {
                cloud.authority = format!("{}/", host.trim_end_matches('/'));
            }
            Ok(Setup {
                cloud,
                credential: credential::from_config(cfg, &var)?,
            })
        });
        let base = var(ARM_ENV).unwrap_or_else(|| {
            setup
                .as_ref()
                .map(|s| s.cloud.resource_manager.clone())
                .unwrap_or_default()
        });
        Ok(Discovery {
            client: httpclient::HttpClient::new(&cfg.http_client_config)
                .map(|c| c.named("azure_sd"))
                .map_err(|e| e.to_string())?,
            setup,
            base: base.trim_end_matches('/').to_owned(),
            subscription: cfg.subscription_id.clone(),
            tenant: cfg.tenant_id.clone(),
            resource_group: cfg.resource_group.clone(),
            port: cfg.port,
            refresh_interval: cfg.refresh_interval.to_std(),
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
            token: tokio::sync::Mutex::new(None),
            chosen: Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
            cache_hits: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The interface cache hits since the last call (for
    /// `prometheus_sd_azure_cache_hit_total`).
    pub(crate) fn take_cache_hits(&self) -> u64 {
        self.cache_hits
            .swap(0, std::sync::atomic::Ordering::Relaxed)
    }

    fn setup(&self) -> Result<&Setup, String> {
        self.setup
            .as_ref()
            .map_err(|e| format!("could not create Azure client: {e}"))
    }

    /// A valid access token, fetched again a minute before the last one expires.
    async fn token(&self) -> Result<String, String> {
        let mut cached = self.token.lock().await;
        if let Some((t, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let setup = self.setup()?;
        let ctx = credential::Ctx {
            client: &self.client,
            timeout: self.timeout,
            authority: &setup.cloud.authority,
            audience: &setup.cloud.audience,
        };
        let (token, secs) = setup.credential.token(&ctx, &self.chosen).await?;
        let until = Instant::now() + Duration::from_secs(secs.saturating_sub(60));
        *cached = Some((token.clone(), until));
        Ok(token)
    }

    /// GETs one ARM URL (a path under the endpoint, or a full `nextLink`).
    async fn get(&self, url: &str) -> Result<Answer, String> {
        let token = self.token().await?;
        let auth = format!("Bearer {token}");
        let ua = format!("{} azsdk-go", httpclient::USER_AGENT);
        api::send(
            &self.client,
            http::Method::GET,
            url,
            &[
                ("Authorization", &auth),
                ("Accept", "application/json"),
                ("User-Agent", &ua),
            ],
            Bytes::new(),
            self.timeout,
        )
        .await
    }

    /// Every page of a list starting at `path`.
    async fn list<T: serde::de::DeserializeOwned + Default>(
        &self,
        path: &str,
    ) -> Result<Vec<T>, String> {
        let mut url = format!("{}{path}?api-version={COMPUTE_API}", self.base);
        let mut out = Vec::new();
        loop {
            let a = self.get(&url).await?;
            if !a.status.is_success() {
                return Err(response_error("GET", &url, &a));
            }
            let page: Page<T> = serde_json::from_slice(&a.body)
                .map_err(|e| format!("decoding the answer of {url}: {e}"))?;
            out.extend(page.value);
            match page.next_link.filter(|l| !l.is_empty()) {
                Some(next) => url = next,
                None => return Ok(out),
            }
        }
    }

    /// `/subscriptions/<s>[/resourceGroups/<g>]/providers/Microsoft.Compute/<kind>`.
    fn compute_path(&self, kind: &str) -> String {
        if self.resource_group.is_empty() {
            format!(
                "/subscriptions/{}/providers/Microsoft.Compute/{kind}",
                self.subscription
            )
        } else {
            format!(
                "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/{kind}",
                self.subscription, self.resource_group
            )
        }
    }

    /// One network interface; `None` when it does not exist (404).
    async fn interface(&self, m: &Machine, nic_id: &str) -> Result<Option<Interface>, String> {
        let (group, name) = parse_resource_id(nic_id)
            .map_err(|e| format!("could not parse network interface ID: {e}"))?;
        let path = if m.scale_set.is_empty() {
            format!(
                "/subscriptions/{}/resourceGroups/{group}/providers/Microsoft.Network/networkInterfaces/{name}?api-version={NETWORK_API}",
                self.subscription
            )
        } else {
            format!(
                "/subscriptions/{}/resourceGroups/{group}/providers/microsoft.Compute/virtualMachineScaleSets/{}/virtualMachines/{}/networkInterfaces/{name}?api-version={VMSS_NETWORK_API}",
                self.subscription, m.scale_set, m.instance_id
            )
        };
        let url = format!(
            "{}{path}&{}",
            self.base,
            encode_query(&[(
                "$expand".to_owned(),
                "IPConfigurations/PublicIPAddress".to_owned()
            )])
        );
        let a = self.get(&url).await?;
        if a.status == http::StatusCode::NOT_FOUND {
            tracing::warn!(name = nic_id, "Network interface does not exist");
            return Ok(None);
        }
        if !a.status.is_success() {
            return Err(format!(
                "failed to retrieve Interface {nic_id} with error: {}",
                response_error("GET", &url, &a)
            ));
        }
        serde_json::from_slice(&a.body)
            .map(Some)
            .map_err(|e| format!("decoding the answer of {url}: {e}"))
    }

    fn cached(&self, nic_id: &str) -> Option<Interface> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(nic_id)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(i, _)| i.clone())
    }

    /// Keeps `nic` for ten refresh intervals plus up to three more (spread so that the
    /// interfaces do not all expire at once).
    fn remember(&self, nic_id: &str, nic: &Interface) {
        let now = Instant::now();
        let spread_max = (self.refresh_interval * 3).as_secs().max(1);
        let jitter = u64::from(ring_random_u32()) % spread_max;
        let until = now + self.refresh_interval * 10 + Duration::from_secs(jitter);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, (_, u)| now < *u);
            if cache.len() >= CACHE_CAPACITY
                && let Some(oldest) = cache
                    .iter()
                    .min_by_key(|(_, (_, u))| *u)
                    .map(|(k, _)| k.clone())
            {
                cache.remove(&oldest);
            }
        }
        cache.insert(nic_id.to_owned(), (nic.clone(), until));
    }

    /// The target of one machine (Go's `vmToLabelSet`); `None` when it has no usable
    /// primary interface.
    async fn target(&self, m: &Machine) -> Result<Option<Labels>, String> {
        let (group, _) = parse_resource_id(&m.id)?;
        let mut set: BTreeMap<String, String> = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            set.insert(format!("{PREFIX}{k}"), v.to_owned());
        };
        put("subscription_id", &self.subscription);
        put("tenant_id", &self.tenant);
        put("machine_id", &m.id);
        put("machine_name", &m.name);
        put("machine_computer_name", &m.computer_name);
        put("machine_os_type", &m.os_type);
        put("machine_location", &m.location);
        put("machine_resource_group", &group);
        put("machine_size", &m.size);
        if !m.scale_set.is_empty() {
            put("machine_scale_set", &m.scale_set);
        }
        for (k, v) in &m.tags {
            put(&format!("machine_tag_{}", sanitize(k)), v);
        }
        for nic_id in &m.network_interfaces {
            let nic = match self.cached(nic_id) {
                Some(nic) => {
                    self.cache_hits
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    nic
                }
                None => {
                    let Some(nic) = self.interface(m, nic_id).await? else {
                        return Ok(None);
                    };
                    self.remember(nic_id, &nic);
                    nic
                }
            };
            let Some(props) = nic.properties else {
                continue;
            };
            // A deallocated machine's interface has no `primary`.
            let Some(primary) = props.primary else {
                tracing::debug!(machine = %m.name, "Skipping deallocated virtual machine");
                return Ok(None);
            };
            if !primary {
                continue;
            }
            if let Some(ip) = props.ip_configurations.first() {
                let ipp = ip.properties.as_ref();
                if let Some(public) = ipp
                    .and_then(|p| p.public_ip_address.as_ref())
                    .and_then(|p| p.properties.as_ref())
                    .and_then(|p| p.ip_address.as_ref())
                {
                    set.insert(format!("{PREFIX}machine_public_ip"), public.clone());
                }
                return match ipp.and_then(|p| p.private_ip_address.as_ref()) {
                    Some(private) => {
                        set.insert(format!("{PREFIX}machine_private_ip"), private.clone());
                        set.insert("__address__".to_owned(), join_host_port(private, self.port));
                        Ok(Some(Labels::from_pairs(set)))
                    }
                    None => Err(format!("unable to find a private IP for VM {}", m.name)),
                };
            }
        }
        Ok(None)
    }

    /// One refresh (Go's `refresh`): the machines' group.
    ///
    /// # Errors
    /// A failed token or list request, an interface that cannot be read, or a primary
    /// interface without a private address; the caller keeps the last targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        self.setup()?;
        let vms: Vec<Vm> = self
            .list(&self.compute_path("virtualMachines"))
            .await
            .map_err(|e| {
                format!("could not get virtual machines: could not list virtual machines: {e}")
            })?;
        let mut machines: Vec<Machine> = vms.into_iter().map(|v| machine(v, "")).collect();
        let sets: Vec<ScaleSet> = self
            .list(&self.compute_path("virtualMachineScaleSets"))
            .await
            .map_err(|e| {
                format!("could not get virtual machine scale sets: could not list virtual machine scale sets: {e}")
            })?;
        for set in &sets {
            let scale_err = |e: String| format!("could not get virtual machine scale set vms: {e}");
            let (group, _) = parse_resource_id(&set.id)
                .map_err(|e| scale_err(format!("could not parse scale set ID: {e}")))?;
            let vms: Vec<Vm> = self
                .list(&format!(
                    "/subscriptions/{}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachineScaleSets/{}/virtualMachines",
                    self.subscription, set.name
                ))
                .await
                .map_err(|e| {
                    scale_err(format!("could not list virtual machine scale set vms: {e}"))
                })?;
            machines.extend(vms.into_iter().map(|v| machine(v, &set.name)));
        }
        let results = futures_join_all(machines.iter().map(|m| self.target(m))).await;
        let mut targets = Vec::new();
        for r in results {
            match r {
                Ok(Some(t)) => targets.push(t),
                Ok(None) => {}
                Err(e) => return Err(format!("unable to complete Azure service discovery: {e}")),
            }
        }
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: String::new(),
        }])
    }
}

/// Runs `futs` concurrently (the interface requests are slow), results in order.
async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let futs: Vec<std::pin::Pin<Box<F>>> = futs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    let mut pending: Vec<(usize, std::pin::Pin<Box<F>>)> = futs.into_iter().enumerate().collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(i, f)| match f.as_mut().poll(cx) {
            std::task::Poll::Ready(v) => {
                out[*i] = Some(v);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// A random number for the cache expiry spread.
fn ring_random_u32() -> u32 {
    let mut b = [0u8; 4];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    u32::from_le_bytes(b)
}

/// Go's `mapFromVM` / `mapFromVMScaleSetVM`.
fn machine(v: Vm, scale_set: &str) -> Machine {
    Machine {
        id: v.id,
        name: v.name,
        computer_name: v.properties.os_profile.computer_name,
        location: v.location,
        os_type: v.properties.storage_profile.os_disk.os_type,
        scale_set: scale_set.to_owned(),
        instance_id: v.instance_id,
        tags: v
            .tags
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect(),
        network_interfaces: v
            .properties
            .network_profile
            .network_interfaces
            .into_iter()
            .map(|n| n.id)
            .collect(),
        size: v.properties.hardware_profile.vm_size,
    }
}

#[cfg(test)]
mod tests;
