//! Static, file, DNS, HTTP and the smaller server-based service discoveries.

use std::collections::BTreeMap;

use model::Duration;

use crate::config_struct;
use crate::http_config::{HttpClientConfig, Secret, TlsConfig, Url};
use crate::yaml::Validate;

use super::check_label_set;

config_struct! {
    /// A static target group (`static_configs` entry).
    #[derive(Default)]
    pub struct StaticConfig [go = "*targetgroup.Group", "struct { Targets []string \"yaml:\\\"targets\\\"\"; Labels model.LabelSet \"yaml:\\\"labels\\\"\" }"] {
        /// Target addresses (`host:port`).
        pub targets: Vec<String>,
        /// Labels attached to every target.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub labels: BTreeMap<String, String> [with = crate::yaml::string_map] [go = "model.LabelSet"],
    }
}

impl Validate for StaticConfig {
    fn validate(&mut self) -> Result<(), String> {
        check_label_set(&self.labels)
    }
}

impl StaticConfig {
    /// The group as service discovery hands it over; `index` is its position in the job's
    /// `static_configs` (Go uses it as the group's source).
    pub fn to_target_group(&self, index: usize) -> model::TargetGroup {
        model::TargetGroup {
            targets: self
                .targets
                .iter()
                .map(|t| model::Labels::from_pairs([("__address__", t.as_str())]))
                .collect(),
            labels: model::Labels::from_pairs(
                self.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            ),
            source: index.to_string(),
        }
    }
}

config_struct! {
    /// `file_sd_configs` entry: target groups read from JSON or YAML files.
    pub struct FileSdConfig [go = "*file.SDConfig", "file.plain"] {
        /// File patterns (`*` allowed in the last path element only).
        pub files: Vec<String>,
        /// How often the files are re-read (default 5m).
        pub refresh_interval: Duration,
    }
}

impl Default for FileSdConfig {
    fn default() -> Self {
        FileSdConfig {
            files: Vec::new(),
            refresh_interval: Duration::from_secs(300),
        }
    }
}

/// Whether a file pattern is acceptable for file SD and rule files: a `*` may only appear
/// in the last path element (Go's `patFileSDName` / `patRulePath`).
pub(crate) fn valid_glob_path(p: &str) -> bool {
    match p.find('*') {
        None => true,
        Some(i) => !p[i..].contains('/'),
    }
}

impl Validate for FileSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.files.is_empty() {
            return Err("file service discovery config must contain at least one path name".into());
        }
        for name in &self.files {
            let ext_ok = [".json", ".yml", ".yaml"].iter().any(|e| name.ends_with(e));
            if name.trim().is_empty() || !valid_glob_path(name) || !ext_ok {
                return Err(format!(
                    "path name {name:?} is not valid for file discovery"
                ));
            }
        }
        Ok(())
    }
}

config_struct! {
    /// `dns_sd_configs` entry.
    pub struct DnsSdConfig [go = "*dns.SDConfig", "dns.plain"] {
        /// Names to query.
        pub names: Vec<String>,
        /// Re-query interval (default 30s).
        pub refresh_interval: Duration,
        /// Record type: SRV (default), A, AAAA, MX or NS.
        pub r#type: String,
        /// Port for non-SRV records.
        #[serde(skip_serializing_if = "is_zero_u16")]
        pub port: u16,
    }
}

fn is_zero_u16(p: &u16) -> bool {
    *p == 0
}

impl Default for DnsSdConfig {
    fn default() -> Self {
        DnsSdConfig {
            names: Vec::new(),
            refresh_interval: Duration::from_secs(30),
            r#type: "SRV".into(),
            port: 0,
        }
    }
}

impl Validate for DnsSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.names.is_empty() {
            return Err("DNS-SD config must contain at least one SRV record name".into());
        }
        self.r#type = self.r#type.to_ascii_uppercase();
        match self.r#type.as_str() {
            "SRV" => {}
            "A" | "AAAA" | "MX" | "NS" => {
                if self.port == 0 {
                    return Err(
                        "a port is required in DNS-SD configs for all record types except SRV"
                            .into(),
                    );
                }
            }
            other => return Err(format!("invalid DNS-SD records type {other}")),
        }
        Ok(())
    }
}

config_struct! {
    /// `http_sd_configs` entry.
    pub struct HttpSdConfig [go = "*http.SDConfig", "http.plain"] {
        /// The endpoint returning target groups as JSON.
        pub url: Url,
        /// Re-fetch interval (default 60s).
        pub refresh_interval: Duration,
    }
    inline {
        /// HTTP client options.
        pub http_client_config: HttpClientConfig,
    }
}

impl Default for HttpSdConfig {
    fn default() -> Self {
        HttpSdConfig {
            url: Url::default(),
            refresh_interval: Duration::from_secs(60),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for HttpSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        self.http_client_config.check()?;
        if self.url.as_str().is_empty() {
            return Err("URL is missing".into());
        }
        self.url.check_http()
    }
}

config_struct! {
    /// `consul_sd_configs` entry.
    pub struct ConsulSdConfig [go = "*consul.SDConfig", "consul.plain"] {
        /// Consul server address (default `localhost:8500`).
        pub server: String,
        /// API path prefix.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub path_prefix: String,
        /// ACL token.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub token: Secret,
        /// Datacenter.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub datacenter: String,
        /// Namespace (Consul Enterprise).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub namespace: String,
        /// Admin partition (Consul Enterprise).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub partition: String,
        /// Scheme (default http).
        pub scheme: String,
        /// Deprecated: use basic_auth.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub username: String,
        /// Deprecated: use basic_auth.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub password: Secret,
        /// Services to watch (all when empty).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub services: Vec<String>,
        /// Required service tags.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub tags: Vec<String>,
        /// Separator for joined tags (default `,`).
        pub tag_separator: String,
        /// Required node metadata.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub node_meta: BTreeMap<String, String>,
        /// Allow stale reads (default true).
        pub allow_stale: bool,
        /// Re-query interval (default 30s).
        pub refresh_interval: Duration,
        /// Health filter expression.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub health_filter: String,
        /// Catalog filter expression.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub filter: String,
    }
    inline {
        /// HTTP client options.
        pub http_client_config: HttpClientConfig,
    }
}

impl Default for ConsulSdConfig {
    fn default() -> Self {
        ConsulSdConfig {
            server: "localhost:8500".into(),
            path_prefix: String::new(),
            token: Secret::default(),
            datacenter: String::new(),
            namespace: String::new(),
            partition: String::new(),
            scheme: "http".into(),
            username: String::new(),
            password: Secret::default(),
            services: Vec::new(),
            tags: Vec::new(),
            tag_separator: ",".into(),
            node_meta: BTreeMap::new(),
            allow_stale: true,
            refresh_interval: Duration::from_secs(30),
            health_filter: String::new(),
            filter: String::new(),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for ConsulSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.server.trim().is_empty() {
            return Err("consul SD configuration requires a server address".into());
        }
        if !self.username.is_empty() || !self.password.is_empty() {
            if self.http_client_config.basic_auth.is_some() {
                return Err(
                    "at most one of consul SD configuration username and password and basic auth can be configured"
                        .into(),
                );
            }
            self.http_client_config.basic_auth = Some(crate::http_config::BasicAuth {
                username: std::mem::take(&mut self.username),
                password: std::mem::take(&mut self.password),
                ..Default::default()
            });
        }
        if !self.token.is_empty()
            && (self.http_client_config.authorization.is_some()
                || self.http_client_config.oauth2.is_some())
        {
            return Err(
                "at most one of consul SD token, authorization, or oauth2 can be configured".into(),
            );
        }
        self.http_client_config.check()
    }
}

impl ConsulSdConfig {
    /// The TLS options of the Consul client (inlined HTTP client options).
    pub fn tls_config(&self) -> &TlsConfig {
        &self.http_client_config.tls_config
    }
}

config_struct! {
    /// `docker_sd_configs` entry.
    pub struct DockerSdConfig [go = "*moby.DockerSDConfig", "moby.plain"] {
        /// Docker daemon address.
        pub host: String,
        /// Port for containers without published ports (default 80).
        pub port: u16,
        /// Host to use for host-networking containers (default `localhost`).
        pub host_networking_host: String,
        /// Only the first network of a container (default true).
        pub match_first_network: bool,
        /// Also a target (without `__address__`) for containers without networks.
        pub include_no_network_targets: bool,
        /// Docker API filters.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub filters: Vec<Filter>,
        /// Re-query interval (default 60s).
        pub refresh_interval: Duration,
    }
    inline {
        /// HTTP client options.
        pub http_client_config: HttpClientConfig,
    }
}

impl Default for DockerSdConfig {
    fn default() -> Self {
        DockerSdConfig {
            host: String::new(),
            port: 80,
            host_networking_host: "localhost".into(),
            match_first_network: true,
            include_no_network_targets: false,
            filters: Vec::new(),
            refresh_interval: Duration::from_secs(60),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for DockerSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.host.is_empty() {
            return Err("host missing".into());
        }
        Url::parse(&self.host)?;
        self.http_client_config.check()
    }
}

config_struct! {
    /// A `name`/`values` filter (Docker, EC2).
    #[derive(Default)]
    pub struct Filter [go = "moby.Filter", "moby.Filter"] {
        /// Filter name.
        pub name: String,
        /// Accepted values.
        pub values: Vec<String>,
    }
}

impl Validate for Filter {}

config_struct! {
    /// `dockerswarm_sd_configs` entry.
    pub struct DockerSwarmSdConfig [go = "*moby.DockerSwarmSDConfig", "moby.plain"] {
        /// Docker daemon address.
        pub host: String,
        /// Role: services, tasks or nodes.
        pub role: String,
        /// Port for targets without one (default 80).
        pub port: u16,
        /// Docker API filters.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub filters: Vec<Filter>,
        /// Re-query interval (default 60s).
        pub refresh_interval: Duration,
    }
    inline {
        /// HTTP client options.
        pub http_client_config: HttpClientConfig,
    }
}

impl Default for DockerSwarmSdConfig {
    fn default() -> Self {
        DockerSwarmSdConfig {
            host: String::new(),
            role: String::new(),
            port: 80,
            filters: Vec::new(),
            refresh_interval: Duration::from_secs(60),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for DockerSwarmSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.host.is_empty() {
            return Err("host missing".into());
        }
        Url::parse(&self.host)?;
        match self.role.as_str() {
            "services" | "nodes" | "tasks" => {}
            "" => return Err("role missing (one of: tasks, services, nodes)".into()),
            other => {
                return Err(format!(
                    "invalid role {other}, expected tasks, services, or nodes"
                ));
            }
        }
        self.http_client_config.check()
    }
}

config_struct! {
    /// `marathon_sd_configs` entry.
    pub struct MarathonSdConfig [go = "*marathon.SDConfig", "marathon.plain"] {
        /// Marathon servers.
        pub servers: Vec<String>,
        /// Re-query interval (default 30s).
        pub refresh_interval: Duration,
        /// Auth token.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub auth_token: Secret,
        /// File holding the auth token.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub auth_token_file: String,
    }
    inline {
        /// HTTP client options.
        pub http_client_config: HttpClientConfig,
    }
}

impl Default for MarathonSdConfig {
    fn default() -> Self {
        MarathonSdConfig {
            servers: Vec::new(),
            refresh_interval: Duration::from_secs(30),
            auth_token: Secret::default(),
            auth_token_file: String::new(),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for MarathonSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.servers.is_empty() {
            return Err("marathon_sd: must contain at least one Marathon server".into());
        }
        let token = !self.auth_token.is_empty() || !self.auth_token_file.is_empty();
        let h = &self.http_client_config;
        if !self.auth_token.is_empty() && !self.auth_token_file.is_empty() {
            return Err(
                "marathon_sd: at most one of auth_token & auth_token_file must be configured"
                    .into(),
            );
        }
        if h.basic_auth.is_some() && token {
            return Err(
                "marathon_sd: at most one of basic_auth, auth_token & auth_token_file must be configured"
                    .into(),
            );
        }
        if (!h.bearer_token.is_empty() || !h.bearer_token_file.is_empty()) && token {
            return Err("marathon_sd: at most one of bearer_token, bearer_token_file, auth_token & auth_token_file must be configured".into());
        }
        if h.authorization.is_some() && token {
            return Err(
                "marathon_sd: at most one of auth_token, auth_token_file & authorization must be configured"
                    .into(),
            );
        }
        self.http_client_config.check()
    }
}

config_struct! {
    /// `nomad_sd_configs` entry.
    pub struct NomadSdConfig [go = "*nomad.SDConfig", "nomad.plain"] {
        /// Allow stale reads (default true).
        pub allow_stale: bool,
        /// Namespace (default `default`).
        pub namespace: String,
        /// Re-query interval (default 60s).
        pub refresh_interval: Duration,
        /// Region (default `global`).
        pub region: String,
        /// Nomad server address.
        pub server: String,
        /// Separator for joined tags (default `,`).
        pub tag_separator: String,
    }
    inline {
        /// HTTP client options.
        pub http_client_config: HttpClientConfig,
    }
}

impl Default for NomadSdConfig {
    fn default() -> Self {
        NomadSdConfig {
            allow_stale: true,
            namespace: "default".into(),
            refresh_interval: Duration::from_secs(60),
            region: "global".into(),
            server: "http://localhost:4646".into(),
            tag_separator: ",".into(),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for NomadSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.server.trim().is_empty() {
            return Err("nomad SD configuration requires a server address".into());
        }
        self.http_client_config.check()
    }
}

config_struct! {
    /// `eureka_sd_configs` entry.
    pub struct EurekaSdConfig [go = "*eureka.SDConfig", "eureka.plain"] {
        /// Eureka server URL.
        pub server: String,
        /// Re-query interval (default 30s).
        pub refresh_interval: Duration,
    }
    inline {
        /// HTTP client options.
        pub http_client_config: HttpClientConfig,
    }
}

impl Default for EurekaSdConfig {
    fn default() -> Self {
        EurekaSdConfig {
            server: String::new(),
            refresh_interval: Duration::from_secs(30),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for EurekaSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.server.is_empty() {
            return Err("eureka_sd: empty or null eureka server".into());
        }
        let url = Url::parse(&self.server)?;
        if url.scheme().is_empty() || url.host().is_empty() {
            return Err("eureka_sd: invalid eureka server URL".into());
        }
        self.http_client_config.check()
    }
}

config_struct! {
    /// `kuma_sd_configs` entry (Kuma control plane, xDS).
    pub struct KumaSdConfig [go = "*xds.KumaSDConfig", "xds.plain"] {
        /// Control plane address.
        pub server: String,
        /// Client id reported to the control plane.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub client_id: String,
        /// Re-query interval (default 15s).
        pub refresh_interval: Duration,
        /// Fetch timeout (default 2m).
        pub fetch_timeout: Duration,
    }
    inline {
        /// HTTP client options.
        pub http_client_config: HttpClientConfig,
    }
}

impl Default for KumaSdConfig {
    fn default() -> Self {
        KumaSdConfig {
            server: String::new(),
            client_id: String::new(),
            refresh_interval: Duration::from_secs(15),
            fetch_timeout: Duration::from_secs(120),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for KumaSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.server.is_empty() {
            return Err(format!("kuma SD server must not be empty: {}", self.server));
        }
        let url = Url::parse(&self.server)?;
        if url.scheme().is_empty() || url.host().is_empty() {
            return Err(format!(
                "kuma SD server must not be empty and have a scheme: {}",
                self.server
            ));
        }
        self.http_client_config.check()
    }
}

config_struct! {
    /// `puppetdb_sd_configs` entry.
    pub struct PuppetDbSdConfig [go = "*puppetdb.SDConfig", "puppetdb.plain"] {
        /// PuppetDB URL.
        pub url: String,
        /// PQL query.
        pub query: String,
        /// Include resource parameters as labels.
        pub include_parameters: bool,
        /// Target port (default 80).
        pub port: u16,
        /// Re-query interval (default 60s).
        pub refresh_interval: Duration,
    }
    inline {
        /// HTTP client options.
        pub http_client_config: HttpClientConfig,
    }
}

impl Default for PuppetDbSdConfig {
    fn default() -> Self {
        PuppetDbSdConfig {
            url: String::new(),
            query: String::new(),
            include_parameters: false,
            port: 80,
            refresh_interval: Duration::from_secs(60),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for PuppetDbSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.url.is_empty() {
            return Err("URL is missing".into());
        }
        Url::parse(&self.url)?.check_http()?;
        if self.query.is_empty() {
            return Err("query missing".into());
        }
        self.http_client_config.check()
    }
}

config_struct! {
    /// `uyuni_sd_configs` entry.
    pub struct UyuniSdConfig [go = "*uyuni.SDConfig", "uyuni.plain"] {
        /// Uyuni server URL.
        pub server: String,
        /// User name.
        pub username: String,
        /// Password.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub password: Secret,
        /// Entitlement (default `monitoring_entitled`).
        pub entitlement: String,
        /// Separator for joined groups (default `,`).
        pub separator: String,
        /// Re-query interval (default 60s).
        pub refresh_interval: Duration,
    }
    inline {
        /// HTTP client options.
        pub http_client_config: HttpClientConfig,
    }
}

impl Default for UyuniSdConfig {
    fn default() -> Self {
        UyuniSdConfig {
            server: String::new(),
            username: String::new(),
            password: Secret::default(),
            entitlement: "monitoring_entitled".into(),
            separator: ",".into(),
            refresh_interval: Duration::from_secs(60),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for UyuniSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.server.is_empty() {
            return Err("Uyuni SD configuration requires server host".into());
        }
        Url::parse(&self.server).map_err(|_| "Uyuni Server URL is not valid".to_string())?;
        if self.username.is_empty() {
            return Err("Uyuni SD configuration requires a username".into());
        }
        if self.password.is_empty() {
            return Err("Uyuni SD configuration requires a password".into());
        }
        self.http_client_config.check()
    }
}

config_struct! {
    /// `triton_sd_configs` entry.
    pub struct TritonSdConfig [go = "*triton.SDConfig", "triton.plain"] {
        /// Account.
        pub account: String,
        /// Role: `container` (default) or `cn`.
        pub role: String,
        /// DNS suffix for targets.
        pub dns_suffix: String,
        /// Triton discovery endpoint.
        pub endpoint: String,
        /// Groups to restrict to.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub groups: Vec<String>,
        /// Port (default 9163).
        pub port: u16,
        /// Re-query interval (default 60s).
        pub refresh_interval: Duration,
        /// API version (default 1).
        pub version: i64,
        /// TLS options.
        pub tls_config: TlsConfig,
    }
}

impl Default for TritonSdConfig {
    fn default() -> Self {
        TritonSdConfig {
            account: String::new(),
            role: "container".into(),
            dns_suffix: String::new(),
            endpoint: String::new(),
            groups: Vec::new(),
            port: 9163,
            refresh_interval: Duration::from_secs(60),
            version: 1,
            tls_config: TlsConfig::default(),
        }
    }
}

impl Validate for TritonSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.role != "container" && self.role != "cn" {
            return Err("triton SD configuration requires role to be 'container' or 'cn'".into());
        }
        if self.account.is_empty() {
            return Err("triton SD configuration requires an account".into());
        }
        if self.dns_suffix.is_empty() {
            return Err("triton SD configuration requires a dns_suffix".into());
        }
        if self.endpoint.is_empty() {
            return Err("triton SD configuration requires an endpoint".into());
        }
        if self.refresh_interval.as_millis() <= 0 {
            return Err(
                "triton SD configuration requires RefreshInterval to be a positive integer".into(),
            );
        }
        Ok(())
    }
}

config_struct! {
    /// `nerve_sd_configs` / `serverset_sd_configs` entry (Zookeeper).
    pub struct ZookeeperSdConfig {
        /// Zookeeper servers.
        pub servers: Vec<String>,
        /// Paths to watch (each starting with `/`).
        pub paths: Vec<String>,
        /// Session timeout (default 10s).
        pub timeout: Duration,
    }
}

impl Default for ZookeeperSdConfig {
    fn default() -> Self {
        ZookeeperSdConfig {
            servers: Vec::new(),
            paths: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Checked by `ZookeeperSdBlock`, whose messages name the kind.
impl Validate for ZookeeperSdConfig {}

/// Reads a `serverset_sd_configs` (`NERVE` false) or `nerve_sd_configs` entry, checked as
/// upstream's `ServersetSDConfig` and `NerveSDConfig` are, with their messages.
#[derive(Debug)]
pub(crate) struct ZookeeperSdBlock<const NERVE: bool>(ZookeeperSdConfig);

impl<'de, const NERVE: bool> serde::Deserialize<'de> for ZookeeperSdBlock<NERVE> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let c = ZookeeperSdConfig::deserialize(d)?;
        let kind = if NERVE { "nerve" } else { "serverset" };
        let err = |m: String| Err(serde::de::Error::custom(m));
        if c.servers.is_empty() {
            return err(format!(
                "{kind} SD config must contain at least one Zookeeper server"
            ));
        }
        if c.paths.is_empty() {
            return err(format!("{kind} SD config must contain at least one path"));
        }
        if let Some(p) = c.paths.iter().find(|p| !p.starts_with('/')) {
            return err(format!("{kind} SD config paths must begin with '/': {p}"));
        }
        Ok(ZookeeperSdBlock(c))
    }
}

impl<const NERVE: bool> From<ZookeeperSdBlock<NERVE>> for ZookeeperSdConfig {
    fn from(b: ZookeeperSdBlock<NERVE>) -> ZookeeperSdConfig {
        b.0
    }
}
