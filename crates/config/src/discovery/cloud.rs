//! Cloud-provider service discoveries: AWS, Azure, GCE, OpenStack, OCI, Outscale, Hetzner,
//! DigitalOcean, Vultr, Linode, IONOS, Scaleway, OVHcloud, STACKIT.

use model::Duration;

use crate::config_struct;
use crate::http_config::{HttpClientConfig, Secret, TlsConfig, Url};
use crate::yaml::Validate;

mod aws;

pub(crate) use aws::{AwsSdBlock, block as aws_block};
pub use aws::{AwsSdConfig, AwsSdKind};

config_struct! {
    /// `azure_sd_configs` entry.
    pub struct AzureSdConfig [go = "*azure.SDConfig", "azure.plain"] {
        /// Cloud environment (default `AzurePublicCloud`).
        pub environment: String,
        /// `OAuth` (default), `ManagedIdentity` or `SDK`.
        pub authentication_method: String,
        /// Subscription id.
        pub subscription_id: String,
        /// Tenant id (OAuth).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub tenant_id: String,
        /// Client id.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub client_id: String,
        /// Client secret (OAuth).
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub client_secret: Secret,
        /// Resource group to restrict to.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub resource_group: String,
        /// Re-query interval (default 5m).
        pub refresh_interval: Duration,
        /// Target port (default 80).
        pub port: u16,
    }
    inline {
        /// HTTP client options.
        pub http_client_config: HttpClientConfig,
    }
}

impl Default for AzureSdConfig {
    fn default() -> Self {
        AzureSdConfig {
            environment: "AzurePublicCloud".into(),
            authentication_method: "OAuth".into(),
            subscription_id: String::new(),
            tenant_id: String::new(),
            client_id: String::new(),
            client_secret: Secret::default(),
            resource_group: String::new(),
            refresh_interval: Duration::from_secs(300),
            port: 80,
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for AzureSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        let require = |v: &str, name: &str| {
            if v.is_empty() {
                Err(format!("azure SD configuration requires a {name}"))
            } else {
                Ok(())
            }
        };
        require(&self.subscription_id, "subscription_id")?;
        if self.authentication_method == "OAuth" {
            require(&self.tenant_id, "tenant_id")?;
            require(&self.client_id, "client_id")?;
            require(self.client_secret.expose(), "client_secret")?;
        }
        if !["OAuth", "ManagedIdentity", "SDK"].contains(&self.authentication_method.as_str()) {
            return Err(format!(
                "unknown authentication_type {:?}. Supported types are \"OAuth\", \"ManagedIdentity\" or \"SDK\"",
                self.authentication_method
            ));
        }
        self.http_client_config.check()
    }
}

config_struct! {
    /// `gce_sd_configs` entry.
    pub struct GceSdConfig [go = "*gce.SDConfig", "gce.plain"] {
        /// GCP project.
        pub project: String,
        /// Zone.
        pub zone: String,
        /// Instance filter.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub filter: String,
        /// Re-query interval (default 60s).
        pub refresh_interval: Duration,
        /// Target port (default 80).
        pub port: u16,
        /// Separator for joined tags (default `,`).
        pub tag_separator: String,
    }
}

impl Default for GceSdConfig {
    fn default() -> Self {
        GceSdConfig {
            project: String::new(),
            zone: String::new(),
            filter: String::new(),
            refresh_interval: Duration::from_secs(60),
            port: 80,
            tag_separator: ",".into(),
        }
    }
}

impl Validate for GceSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.project.is_empty() {
            return Err("GCE SD configuration requires a project".into());
        }
        if self.zone.is_empty() {
            return Err("GCE SD configuration requires a zone".into());
        }
        Ok(())
    }
}

config_struct! {
    /// `openstack_sd_configs` entry.
    pub struct OpenStackSdConfig [go = "*openstack.SDConfig", "openstack.plain"] {
        /// Keystone endpoint.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub identity_endpoint: String,
        /// User name.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub username: String,
        /// User id.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub userid: String,
        /// Password.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub password: Secret,
        /// Project (tenant) name.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub project_name: String,
        /// Project (tenant) id.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub project_id: String,
        /// Domain name.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub domain_name: String,
        /// Domain id.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub domain_id: String,
        /// Application credential name.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub application_credential_name: String,
        /// Application credential id.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub application_credential_id: String,
        /// Application credential secret.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub application_credential_secret: Secret,
        /// Role: instance, hypervisor or loadbalancer.
        pub role: String,
        /// Region.
        pub region: String,
        /// Re-query interval (default 60s).
        pub refresh_interval: Duration,
        /// Target port (default 80).
        pub port: u16,
        /// Endpoint availability: public (default), admin or internal.
        pub availability: String,
        /// Discover instances of all projects.
        pub all_tenants: bool,
        /// TLS options.
        pub tls_config: TlsConfig,
    }
}

impl Default for OpenStackSdConfig {
    fn default() -> Self {
        OpenStackSdConfig {
            identity_endpoint: String::new(),
            username: String::new(),
            userid: String::new(),
            password: Secret::default(),
            project_name: String::new(),
            project_id: String::new(),
            domain_name: String::new(),
            domain_id: String::new(),
            application_credential_name: String::new(),
            application_credential_id: String::new(),
            application_credential_secret: Secret::default(),
            role: String::new(),
            region: String::new(),
            refresh_interval: Duration::from_secs(60),
            port: 80,
            availability: "public".into(),
            all_tenants: false,
            tls_config: TlsConfig::default(),
        }
    }
}

impl Validate for OpenStackSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        match self.role.as_str() {
            "" | "instance" | "hypervisor" | "loadbalancer" => {}
            other => return Err(format!("unknown OpenStack SD role {other:?}")),
        }
        match self.availability.as_str() {
            "public" | "internal" | "admin" => {}
            other => {
                return Err(format!(
                    "unknown availability {other}, must be one of admin, internal or public"
                ));
            }
        }
        if self.role.is_empty() {
            return Err("role missing (one of: instance, hypervisor, loadbalancer)".into());
        }
        if self.region.is_empty() {
            return Err("openstack SD configuration requires a region".into());
        }
        Ok(())
    }
}

config_struct! {
    /// `oci_sd_configs` entry (Oracle Cloud Infrastructure compute instances), with
    /// upstream's keys and defaults (`discovery/oci`).
    pub struct OciSdConfig [go = "*oci.SDConfig", "oci.plain"] {
        /// Authentication: `api_key` (default) or `instance_principal`.
        pub auth: String,
        /// Tenancy OCID (`api_key`).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub tenancy: String,
        /// User OCID (`api_key`).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub user: String,
        /// API key fingerprint (`api_key`).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub fingerprint: String,
        /// API private key file, PEM (`api_key`).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub key_file: String,
        /// Passphrase of the private key; exclusive with `key_passphrase_file`.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub key_passphrase: Secret,
        /// File holding the passphrase of the private key.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub key_passphrase_file: String,
        /// Region, e.g. `us-ashburn-1` (required).
        pub region: String,
        /// Compartment OCIDs to scan; empty walks every active compartment of the tenancy.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub compartments: Vec<String>,
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

impl Default for OciSdConfig {
    fn default() -> Self {
        OciSdConfig {
            auth: "api_key".into(),
            tenancy: String::new(),
            user: String::new(),
            fingerprint: String::new(),
            key_file: String::new(),
            key_passphrase: Secret::default(),
            key_passphrase_file: String::new(),
            region: String::new(),
            compartments: Vec::new(),
            port: 80,
            refresh_interval: Duration::from_secs(60),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for OciSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.region.is_empty() {
            return Err("oci_sd: region is required".into());
        }
        match self.auth.as_str() {
            "api_key" => {
                for (value, key) in [
                    (&self.tenancy, "tenancy"),
                    (&self.user, "user"),
                    (&self.fingerprint, "fingerprint"),
                    (&self.key_file, "key_file"),
                ] {
                    if value.is_empty() {
                        return Err(format!("oci_sd: api_key auth requires {key}"));
                    }
                }
                if !self.key_passphrase.is_empty() && !self.key_passphrase_file.is_empty() {
                    return Err(
                        "oci_sd: at most one of key_passphrase and key_passphrase_file \
                         must be configured"
                            .into(),
                    );
                }
            }
            "instance_principal" => {
                if !self.tenancy.is_empty()
                    || !self.user.is_empty()
                    || !self.fingerprint.is_empty()
                    || !self.key_file.is_empty()
                    || !self.key_passphrase.is_empty()
                    || !self.key_passphrase_file.is_empty()
                {
                    return Err(
                        "oci_sd: instance_principal auth must not have tenancy, user, \
                         fingerprint, key_file, key_passphrase, or key_passphrase_file set"
                            .into(),
                    );
                }
            }
            other => {
                return Err(format!(
                    "oci_sd: unknown auth method {other:?}, expected \"api_key\" or \
                     \"instance_principal\""
                ));
            }
        }
        if let Some(i) = self.compartments.iter().position(String::is_empty) {
            return Err(format!("oci_sd: compartments[{i}] must not be empty"));
        }
        if self.refresh_interval.as_millis() <= 0 {
            return Err(format!(
                "oci_sd: refresh_interval must be positive, got {}",
                self.refresh_interval
            ));
        }
        self.http_client_config.check()
    }
}

config_struct! {
    /// `outscale_sd_configs` entry.
    pub struct OutscaleSdConfig [go = "*outscale.SDConfig", "outscale.plain"] {
        /// Region.
        pub region: String,
        /// Custom API endpoint.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub endpoint: String,
        /// Access key.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub access_key: String,
        /// Secret key.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub secret_key: Secret,
        /// File holding the secret key.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub secret_key_file: String,
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

impl Default for OutscaleSdConfig {
    fn default() -> Self {
        OutscaleSdConfig {
            region: "eu-west-2".into(),
            endpoint: String::new(),
            access_key: String::new(),
            secret_key: Secret::default(),
            secret_key_file: String::new(),
            port: 80,
            refresh_interval: Duration::from_secs(60),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for OutscaleSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.region.is_empty() {
            return Err("outscale SD configuration requires a region".into());
        }
        check_one_secret(&self.secret_key, &self.secret_key_file)?;
        if self.access_key.is_empty() {
            return Err("outscale SD configuration requires access_key and secret_key".into());
        }
        self.http_client_config.check()
    }
}

fn check_one_secret(key: &Secret, file: &str) -> Result<(), String> {
    match (key.is_empty(), file.is_empty()) {
        (false, false) => {
            Err("at most one of secret_key & secret_key_file must be configured".into())
        }
        (true, true) => Err("one of secret_key & secret_key_file must be configured".into()),
        _ => Ok(()),
    }
}

config_struct! {
    /// `hetzner_sd_configs` entry.
    pub struct HetznerSdConfig [go = "*hetzner.SDConfig", "hetzner.plain"] {
        /// Role: hcloud or robot.
        pub role: String,
        /// Target port (default 80).
        pub port: u16,
        /// Re-query interval (default 60s).
        pub refresh_interval: Duration,
        /// Label selector (hcloud).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub label_selector: String,
    }
    inline {
        /// HTTP client options.
        pub http_client_config: HttpClientConfig,
    }
}

impl Default for HetznerSdConfig {
    fn default() -> Self {
        HetznerSdConfig {
            role: String::new(),
            port: 80,
            refresh_interval: Duration::from_secs(60),
            label_selector: String::new(),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for HetznerSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        match self.role.as_str() {
            "hcloud" | "robot" => {}
            "" => return Err("role missing (one of: robot, hcloud)".into()),
            other => return Err(format!("unknown role {other:?}")),
        }
        self.http_client_config.check()
    }
}

config_struct! {
    /// `digitalocean_sd_configs` and `vultr_sd_configs` entries.
    pub struct PortRefreshHttpSdConfig {
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

impl Default for PortRefreshHttpSdConfig {
    fn default() -> Self {
        PortRefreshHttpSdConfig {
            port: 80,
            refresh_interval: Duration::from_secs(60),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for PortRefreshHttpSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        self.http_client_config.check()
    }
}

config_struct! {
    /// `linode_sd_configs` entry.
    pub struct LinodeSdConfig [go = "*linode.SDConfig", "linode.plain"] {
        /// Target port (default 80).
        pub port: u16,
        /// Separator for joined tags (default `,`).
        pub tag_separator: String,
        /// Re-query interval (default 60s).
        pub refresh_interval: Duration,
        /// Region to restrict to.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub region: String,
    }
    inline {
        /// HTTP client options.
        pub http_client_config: HttpClientConfig,
    }
}

impl Default for LinodeSdConfig {
    fn default() -> Self {
        LinodeSdConfig {
            port: 80,
            tag_separator: ",".into(),
            refresh_interval: Duration::from_secs(60),
            region: String::new(),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for LinodeSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        self.http_client_config.check()
    }
}

config_struct! {
    /// `ionos_sd_configs` entry.
    pub struct IonosSdConfig [go = "*ionos.SDConfig", "ionos.plain"] {
        /// Datacenter id.
        pub datacenter_id: String,
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

impl Default for IonosSdConfig {
    fn default() -> Self {
        IonosSdConfig {
            datacenter_id: String::new(),
            port: 80,
            refresh_interval: Duration::from_secs(60),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for IonosSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.datacenter_id.is_empty() {
            return Err("datacenter id can't be empty".into());
        }
        self.http_client_config.check()
    }
}

config_struct! {
    /// `scaleway_sd_configs` entry.
    pub struct ScalewaySdConfig [go = "*scaleway.SDConfig", "scaleway.plain"] {
        /// Role: instance or baremetal.
        pub role: String,
        /// Project id.
        pub project_id: String,
        /// API URL (default `https://api.scaleway.com`).
        pub api_url: String,
        /// Zone (default `fr-par-1`).
        pub zone: String,
        /// Access key.
        pub access_key: String,
        /// Secret key.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub secret_key: Secret,
        /// File holding the secret key.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub secret_key_file: String,
        /// Name filter.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub name_filter: String,
        /// Tag filter.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub tags_filter: Vec<String>,
        /// Re-query interval (default 60s).
        pub refresh_interval: Duration,
        /// Target port (default 80).
        pub port: u16,
    }
    inline {
        /// HTTP client options.
        pub http_client_config: HttpClientConfig,
    }
}

impl Default for ScalewaySdConfig {
    fn default() -> Self {
        ScalewaySdConfig {
            role: String::new(),
            project_id: String::new(),
            api_url: "https://api.scaleway.com".into(),
            zone: "fr-par-1".into(),
            access_key: String::new(),
            secret_key: Secret::default(),
            secret_key_file: String::new(),
            name_filter: String::new(),
            tags_filter: Vec::new(),
            refresh_interval: Duration::from_secs(60),
            port: 80,
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for ScalewaySdConfig {
    fn validate(&mut self) -> Result<(), String> {
        match self.role.as_str() {
            "instance" | "baremetal" => {}
            "" => return Err("role missing (one of: instance, baremetal)".into()),
            other => return Err(format!("unknown role {other:?}")),
        }
        if self.project_id.is_empty() {
            return Err("project_id is mandatory".into());
        }
        check_one_secret(&self.secret_key, &self.secret_key_file)?;
        if self.access_key.is_empty() {
            return Err("access_key is mandatory".into());
        }
        Url::parse(&self.api_url)?;
        self.http_client_config.check()
    }
}

config_struct! {
    /// `ovhcloud_sd_configs` entry.
    pub struct OvhCloudSdConfig [go = "*ovhcloud.SDConfig", "ovhcloud.plain"] {
        /// API endpoint (default `ovh-eu`).
        pub endpoint: String,
        /// Application key.
        pub application_key: String,
        /// Application secret.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub application_secret: Secret,
        /// Consumer key.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub consumer_key: Secret,
        /// Service: vps or dedicated_server.
        pub service: String,
        /// Re-query interval (default 60s).
        pub refresh_interval: Duration,
    }
}

impl Default for OvhCloudSdConfig {
    fn default() -> Self {
        OvhCloudSdConfig {
            endpoint: "ovh-eu".into(),
            application_key: String::new(),
            application_secret: Secret::default(),
            consumer_key: Secret::default(),
            service: String::new(),
            refresh_interval: Duration::from_secs(60),
        }
    }
}

impl Validate for OvhCloudSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.endpoint.is_empty() {
            return Err("endpoint can not be empty".into());
        }
        if self.application_key.is_empty() {
            return Err("application key can not be empty".into());
        }
        if self.application_secret.is_empty() {
            return Err("application secret can not be empty".into());
        }
        if self.consumer_key.is_empty() {
            return Err("consumer key can not be empty".into());
        }
        match self.service.as_str() {
            "vps" | "dedicated_server" => Ok(()),
            other => Err(format!("unknown service: {other}")),
        }
    }
}

config_struct! {
    /// `stackit_sd_configs` entry.
    pub struct StackitSdConfig [go = "*stackit.SDConfig", "stackit.plain"] {
        /// Custom API endpoint.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub endpoint: String,
        /// Region (default `eu01`).
        pub region: String,
        /// Project id.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub project: String,
        /// Service account key.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub service_account_key: Secret,
        /// File holding the service account key.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub service_account_key_path: String,
        /// Private key.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub private_key: Secret,
        /// File holding the private key.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub private_key_path: String,
        /// Credentials file.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub credentials_file_path: String,
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

impl Default for StackitSdConfig {
    fn default() -> Self {
        StackitSdConfig {
            endpoint: String::new(),
            region: "eu01".into(),
            project: String::new(),
            service_account_key: Secret::default(),
            service_account_key_path: String::new(),
            private_key: Secret::default(),
            private_key_path: String::new(),
            credentials_file_path: String::new(),
            port: 80,
            refresh_interval: Duration::from_secs(60),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for StackitSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.endpoint.is_empty() && self.region.is_empty() {
            return Err("endpoint or region missing".into());
        }
        if !self.endpoint.is_empty() {
            let url = Url::parse(&self.endpoint).map_err(|e| format!("invalid endpoint: {e}"))?;
            if url.scheme().is_empty() || url.host().is_empty() {
                return Err(format!("invalid endpoint {:?}", self.endpoint));
            }
        }
        self.http_client_config.check()
    }
}
