//! `remote_write` and `remote_read` blocks, with their queue, metadata and cloud
//! authentication options.

use std::collections::BTreeMap;
use std::path::Path;

use model::{Duration, relabel};

use crate::config_struct;
use crate::http_config::{HttpClientConfig, Secret, Url, is_false, join_dir};
use crate::yaml::Validate;

/// Headers remote write/read and tracing may not set (config.go `reservedHeaders`).
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

pub(crate) fn check_headers(
    headers: &BTreeMap<String, String>,
    tracing: bool,
) -> Result<(), String> {
    for name in headers.keys() {
        let lower = name.to_ascii_lowercase();
        if lower == "authorization" {
            return Err(if tracing {
                "custom authorization header configuration is not yet supported".into()
            } else {
                "authorization header must be changed via the basic_auth, authorization, oauth2, or sigv4 parameter".into()
            });
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(format!(
                "{name} is a reserved header. It must not be changed"
            ));
        }
    }
    Ok(())
}

/// The remote-write 1.0 message.
pub const WRITE_V1_MESSAGE: &str = "prometheus.WriteRequest";
/// The remote-write 2.0 message.
pub const WRITE_V2_MESSAGE: &str = "io.prometheus.write.v2.Request";

config_struct! {
    /// One `remote_write` endpoint.
    pub struct RemoteWriteConfig [go = "*config.RemoteWriteConfig", "config.plain"] {
        /// Endpoint URL.
        pub url: Option<Url>,
        /// Request timeout (default 30s).
        pub remote_timeout: Duration,
        /// Extra HTTP headers.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub headers: BTreeMap<String, String> [with = crate::yaml::string_map],
        /// Relabeling before sending.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub write_relabel_configs: Vec<relabel::Config> [non_null = "empty or null relabeling rule in remote write config"] [with = crate::yaml::go::relabel_rules],
        /// Queue name (unique among remote writes).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub name: String,
        /// Send exemplars.
        #[serde(skip_serializing_if = "is_false")]
        pub send_exemplars: bool,
        /// Send native histograms.
        #[serde(skip_serializing_if = "is_false")]
        pub send_native_histograms: bool,
        /// Spread requests over all resolved addresses.
        #[serde(skip_serializing_if = "is_false")]
        pub round_robin_dns: bool,
        /// Protobuf message: `prometheus.WriteRequest` (1.0, default) or
        /// `io.prometheus.write.v2.Request` (2.0).
        pub protobuf_message: String,
        /// Shard queue tuning.
        pub queue_config: QueueConfig,
        /// Metadata sending.
        pub metadata_config: MetadataConfig,
        /// AWS SigV4 signing.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub sigv4: Option<SigV4Config>,
        /// Azure AD authentication.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub azuread: Option<AzureAdConfig>,
        /// Google IAM authentication.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub google_iam: Option<GoogleIamConfig>,
    }
    inline {
        /// HTTP client options (HTTP/2 off by default for remote write).
        pub http_client_config: HttpClientConfig,
    }
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        RemoteWriteConfig {
            url: None,
            remote_timeout: Duration::from_secs(30),
            headers: BTreeMap::new(),
            write_relabel_configs: Vec::new(),
            name: String::new(),
            send_exemplars: false,
            send_native_histograms: false,
            round_robin_dns: false,
            protobuf_message: WRITE_V1_MESSAGE.into(),
            queue_config: QueueConfig::default(),
            metadata_config: MetadataConfig::default(),
            sigv4: None,
            azuread: None,
            google_iam: None,
            http_client_config: HttpClientConfig {
                enable_http2: false,
                ..HttpClientConfig::default()
            },
        }
    }
}

impl Validate for RemoteWriteConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.url.is_none() {
            return Err("url for remote_write is empty".into());
        }
        check_headers(&self.headers, false)?;
        if self.protobuf_message != WRITE_V1_MESSAGE && self.protobuf_message != WRITE_V2_MESSAGE {
            return Err(format!(
                "invalid protobuf_message value: unknown remote write protobuf message {}, supported: {WRITE_V1_MESSAGE}, {WRITE_V2_MESSAGE}",
                self.protobuf_message
            ));
        }
        self.http_client_config.check()?;
        let h = &self.http_client_config;
        let configured: Vec<&str> = [
            (h.basic_auth.is_some(), "basic_auth"),
            (h.authorization.is_some(), "authorization"),
            (h.oauth2.is_some(), "oauth2"),
            (self.sigv4.is_some(), "sigv4"),
            (self.azuread.is_some(), "azuread"),
            (self.google_iam.is_some(), "google_iam"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect();
        if configured.len() > 1 {
            return Err(format!(
                "at most one of basic_auth, authorization, oauth2, or sigv4 must be configured. Currently configured: [{}]",
                configured.join(" ")
            ));
        }
        Ok(())
    }
}

impl RemoteWriteConfig {
    /// Joins relative file paths with `dir`.
    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
        if let Some(g) = &mut self.google_iam {
            join_dir(dir, &mut g.credentials_file);
        }
    }
}

config_struct! {
    /// Remote-write shard queue tuning (`queue_config`).
    pub struct QueueConfig [go = "config.QueueConfig", "config.QueueConfig"] {
        /// Samples buffered per shard (default 10000).
        pub capacity: i64,
        /// Maximum shards (default 50).
        pub max_shards: i64,
        /// Minimum shards (default 1).
        pub min_shards: i64,
        /// Maximum samples per request (default 2000).
        pub max_samples_per_send: i64,
        /// Longest a sample waits in a shard (default 5s).
        pub batch_send_deadline: Duration,
        /// Initial retry backoff (default 30ms).
        pub min_backoff: Duration,
        /// Maximum retry backoff (default 5s).
        pub max_backoff: Duration,
        /// Retry on HTTP 429.
        #[serde(skip_serializing_if = "is_false")]
        pub retry_on_http_429: bool,
        /// Drop samples older than this (0: never).
        pub sample_age_limit: Duration,
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: false,
            sample_age_limit: Duration::ZERO,
        }
    }
}

impl Validate for QueueConfig {
    fn validate(&mut self) -> Result<(), String> {
        for (value, name) in [
            (self.capacity, "capacity"),
            (self.max_shards, "max_shards"),
            (self.min_shards, "min_shards"),
            (self.max_samples_per_send, "max_samples_per_send"),
        ] {
            if value <= 0 {
                return Err(format!(
                    "queue_config.{name} must be greater than 0, got {value}"
                ));
            }
        }
        if self.min_shards > self.max_shards {
            return Err(format!(
                "queue_config.min_shards ({}) must not be greater than queue_config.max_shards ({})",
                self.min_shards, self.max_shards
            ));
        }
        if self.max_backoff < self.min_backoff {
            return Err(format!(
                "queue_config.max_backoff ({}) must not be less than queue_config.min_backoff ({})",
                self.max_backoff, self.min_backoff
            ));
        }
        Ok(())
    }
}

config_struct! {
    /// Remote-write metadata sending (`metadata_config`).
    pub struct MetadataConfig [go = "config.MetadataConfig", "config.MetadataConfig"] {
        /// Send metric metadata (default true).
        pub send: bool,
        /// How often (default 1m).
        pub send_interval: Duration,
        /// Maximum metadata entries per request (default 2000).
        pub max_samples_per_send: i64,
    }
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            send: true,
            send_interval: Duration::from_secs(60),
            max_samples_per_send: 2000,
        }
    }
}

impl Validate for MetadataConfig {}

config_struct! {
    /// AWS Signature Version 4 (`sigv4`).
    #[derive(Default)]
    pub struct SigV4Config [go = "*sigv4.SigV4Config", "sigv4.plain"] {
        /// AWS region.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub region: String,
        /// Access key id.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub access_key: String,
        /// Secret access key.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub secret_key: Secret,
        /// Named profile.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub profile: String,
        /// Role to assume.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub role_arn: String,
        /// External id for the assumed role.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub external_id: String,
        /// Use the FIPS STS endpoint.
        #[serde(skip_serializing_if = "is_false")]
        pub use_fips_sts_endpoint: bool,
        /// Service name to sign for (default `aps`).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub service_name: String,
    }
}

impl Validate for SigV4Config {
    fn validate(&mut self) -> Result<(), String> {
        if self.access_key.is_empty() != self.secret_key.is_empty() {
            return Err(
                "must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config"
                    .into(),
            );
        }
        Ok(())
    }
}

config_struct! {
    /// Azure AD authentication for remote write (`azuread`).
    pub struct AzureAdConfig [go = "*azuread.AzureADConfig", "azuread.plain"] {
        /// Azure cloud (default `AzurePublic`).
        pub cloud: String,
        /// Managed identity.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub managed_identity: Option<BTreeMap<String, String>>,
        /// OAuth client credentials.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub oauth: Option<AzureOAuth>,
        /// Azure SDK default credentials.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub sdk: Option<BTreeMap<String, String>>,
        /// Workload identity.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub workload_identity: Option<BTreeMap<String, String>>,
        /// Token scope.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub scope: String,
    }
}

impl Default for AzureAdConfig {
    fn default() -> Self {
        AzureAdConfig {
            cloud: "AzurePublic".into(),
            managed_identity: None,
            oauth: None,
            sdk: None,
            workload_identity: None,
            scope: String::new(),
        }
    }
}

impl Validate for AzureAdConfig {
    fn validate(&mut self) -> Result<(), String> {
        let n = [
            self.managed_identity.is_some(),
            self.oauth.is_some(),
            self.sdk.is_some(),
            self.workload_identity.is_some(),
        ]
        .iter()
        .filter(|&&b| b)
        .count();
        if n == 0 {
            return Err("must provide an Azure Managed Identity, Azure Workload Identity, Azure OAuth or Azure SDK in the Azure AD config".into());
        }
        if n > 1 {
            return Err(
                "cannot provide multiple authentication methods in the Azure AD config".into(),
            );
        }
        Ok(())
    }
}

config_struct! {
    /// Azure AD OAuth client credentials.
    #[derive(Default)]
    pub struct AzureOAuth [go = "*azuread.OAuthConfig", "azuread.OAuthConfig"] {
        /// Client id.
        pub client_id: String,
        /// Client secret.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub client_secret: Secret,
        /// Tenant id.
        pub tenant_id: String,
    }
}

impl Validate for AzureOAuth {}

config_struct! {
    /// Google IAM authentication for remote write (`google_iam`).
    #[derive(Default)]
    pub struct GoogleIamConfig [go = "*googleiam.Config", "googleiam.Config"] {
        /// Service account credentials file (default credentials when empty).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub credentials_file: String,
    }
}

impl Validate for GoogleIamConfig {}

config_struct! {
    /// One `remote_read` endpoint.
    pub struct RemoteReadConfig [go = "*config.RemoteReadConfig", "config.plain"] {
        /// Endpoint URL.
        pub url: Option<Url>,
        /// Request timeout (default 1m).
        pub remote_timeout: Duration,
        /// Maximum size of one streamed frame in bytes (default 50 MB).
        pub chunked_read_limit: u64,
        /// Extra HTTP headers.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub headers: BTreeMap<String, String> [with = crate::yaml::string_map],
        /// Also read ranges the local TSDB covers.
        #[serde(skip_serializing_if = "is_false")]
        pub read_recent: bool,
        /// Name (unique among remote reads).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub name: String,
        /// Equality matchers a query must contain to be sent here.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub required_matchers: BTreeMap<String, String> [with = crate::yaml::string_map] [go = "model.LabelSet"],
        /// Add the external labels as matchers (default true).
        pub filter_external_labels: bool,
    }
    inline {
        /// HTTP client options.
        pub http_client_config: HttpClientConfig,
    }
}

impl Default for RemoteReadConfig {
    fn default() -> Self {
        RemoteReadConfig {
            url: None,
            remote_timeout: Duration::from_secs(60),
            chunked_read_limit: 50_000_000,
            headers: BTreeMap::new(),
            read_recent: false,
            name: String::new(),
            required_matchers: BTreeMap::new(),
            filter_external_labels: true,
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for RemoteReadConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.url.is_none() {
            return Err("url for remote_read is empty".into());
        }
        check_headers(&self.headers, false)?;
        self.http_client_config.check()
    }
}

impl RemoteReadConfig {
    /// Joins relative file paths with `dir`.
    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
    }
}
