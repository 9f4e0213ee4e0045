//! The `alerting` block: alert relabeling and Alertmanager discovery.

use std::path::Path;

use model::{Duration, ValidationScheme, relabel};

use crate::config_struct;
use crate::discovery::ServiceDiscoveryConfigs;
use crate::http_config::HttpClientConfig;
use crate::remote::SigV4Config;
use crate::scrape::check_static_targets;
use crate::yaml::Validate;

config_struct! {
    /// The `alerting` block.
    #[derive(Default)]
    pub struct AlertingConfig {
        /// Relabeling applied to every alert before sending.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub alert_relabel_configs: Vec<relabel::Config> [non_null = "empty or null alert relabeling rule"] [with = crate::yaml::go::relabel_rules],
        /// The Alertmanagers to send to.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub alertmanagers: Vec<AlertmanagerConfig> [non_null = "empty or null alertmanager config section"],
    }
}

impl Validate for AlertingConfig {}

impl AlertingConfig {
    pub(crate) fn check(&mut self, scheme: ValidationScheme) -> Result<(), String> {
        for rc in &mut self.alert_relabel_configs {
            rc.validate(scheme).map_err(|e| e.to_string())?;
            rc.name_validation_scheme = scheme;
        }
        for am in &mut self.alertmanagers {
            for rc in am
                .alert_relabel_configs
                .iter_mut()
                .chain(am.relabel_configs.iter_mut())
            {
                rc.validate(scheme).map_err(|e| e.to_string())?;
                rc.name_validation_scheme = scheme;
            }
        }
        Ok(())
    }

    /// Whether the block is empty (as after `alerting: {}`).
    pub fn is_empty(&self) -> bool {
        self.alert_relabel_configs.is_empty() && self.alertmanagers.is_empty()
    }
}

config_struct! {
    /// One set of Alertmanagers (`alertmanagers` entry).
    pub struct AlertmanagerConfig [go = "*config.AlertmanagerConfig", "config.AlertmanagerConfig"] {
        /// URL scheme (default `http`).
        pub scheme: String,
        /// Path prefix before `/api/v2/alerts`.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub path_prefix: String,
        /// Send timeout (default 10s).
        pub timeout: Duration,
        /// Alertmanager API version (only `v2`).
        pub api_version: String,
        /// AWS SigV4 request signing.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub sigv4: Option<SigV4Config>,
        /// Relabeling of the discovered Alertmanager targets.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub relabel_configs: Vec<relabel::Config> [non_null = "empty or null Alertmanager target relabeling rule"] [with = crate::yaml::go::relabel_rules],
        /// Relabeling of alerts sent to these Alertmanagers.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub alert_relabel_configs: Vec<relabel::Config> [non_null = "empty or null Alertmanager alert relabeling rule"] [with = crate::yaml::go::relabel_rules],
    }
    inline {
        /// Alertmanager discovery.
        pub service_discovery_configs: ServiceDiscoveryConfigs,
        /// HTTP client options.
        pub http_client_config: HttpClientConfig,
    }
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        AlertmanagerConfig {
            scheme: "http".into(),
            path_prefix: String::new(),
            timeout: Duration::from_secs(10),
            api_version: "v2".into(),
            sigv4: None,
            relabel_configs: Vec::new(),
            alert_relabel_configs: Vec::new(),
            service_discovery_configs: ServiceDiscoveryConfigs::default(),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Validate for AlertmanagerConfig {
    fn validate(&mut self) -> Result<(), String> {
        // `api_version:` with no value: go-yaml never calls the version's own check for a
        // null, so Prometheus accepts it (and talks v2, its only version).
        if self.api_version.is_empty() {
            self.api_version = "v2".into();
        }
        if self.api_version != "v2" {
            return Err(format!(
                "expected Alertmanager api version to be one of [v2] but got {}",
                self.api_version
            ));
        }
        self.http_client_config.check()?;
        if self.http_client_config.has_auth() && self.sigv4.is_some() {
            return Err(
                "at most one of basic_auth, authorization, oauth2, & sigv4 must be configured"
                    .into(),
            );
        }
        if self.relabel_configs.is_empty() {
            check_static_targets(&self.service_discovery_configs)?;
        }
        Ok(())
    }
}

impl AlertmanagerConfig {
    /// Joins relative file paths with `dir`.
    pub fn set_directory(&mut self, dir: &Path) {
        self.service_discovery_configs.set_directory(dir);
        self.http_client_config.set_directory(dir);
    }
}
