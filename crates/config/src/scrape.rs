//! Scrape jobs (`scrape_configs` entries).

use std::collections::BTreeMap;
use std::path::Path;

use model::{Duration, ValidationScheme, relabel};

use crate::config_struct;
use crate::discovery::ServiceDiscoveryConfigs;
use crate::global::{
    ESCAPING_SCHEMES, GlobalConfig, ScrapeProtocol, default_proto_first_scrape_protocols,
    default_scrape_protocols, validate_scrape_protocols,
};
use crate::http_config::{HttpClientConfig, is_false, join_dir};
use crate::units::ByteSize;
use crate::yaml::Validate;

config_struct! {
    /// One scrape job. After loading, every inheritable field holds its effective value
    /// (interval, timeout, limits and protocols filled from `global`).
    pub struct ScrapeConfig [go = "*config.ScrapeConfig", "config.ScrapeConfig"] {
        /// The job name (the `job` label's default value).
        pub job_name: String,
        /// Keep the scraped labels on conflict instead of renaming them `exported_*`.
        #[serde(skip_serializing_if = "is_false")]
        pub honor_labels: bool,
        /// Use the timestamps the target exposes (default true).
        pub honor_timestamps: bool,
        /// Write staleness markers for series with explicit timestamps.
        pub track_timestamps_staleness: bool,
        /// URL query parameters.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub params: BTreeMap<String, Vec<String>> [go = "url.Values"],
        /// Scrape interval (inherits `global.scrape_interval`).
        pub scrape_interval: Duration,
        /// Scrape timeout (inherits, at most the interval).
        pub scrape_timeout: Duration,
        /// Protocols to negotiate, most preferred first.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub scrape_protocols: Option<Vec<ScrapeProtocol>>,
        /// Protocol assumed when the target's Content-Type is missing or unknown.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub fallback_scrape_protocol: Option<ScrapeProtocol>,
        /// Scrape native histograms (inherits).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub scrape_native_histograms: Option<bool>,
        /// Also keep classic histograms exposed as native ones (inherits).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub always_scrape_classic_histograms: Option<bool>,
        /// Convert classic histograms to NHCB (inherits).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub convert_classic_histograms_to_nhcb: Option<bool>,
        /// File scrape failures are logged to (inherits).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub scrape_failure_log_file: String,
        /// HTTP path of the metrics (default `/metrics`).
        pub metrics_path: String,
        /// URL scheme (default `http`).
        pub scheme: String,
        /// Ask for compressed responses (default true).
        pub enable_compression: bool,
        /// Uncompressed body size limit (inherits; 0: none).
        #[serde(skip_serializing_if = "is_zero_bytes")]
        pub body_size_limit: ByteSize,
        /// Sample limit per scrape (inherits; 0: none).
        #[serde(skip_serializing_if = "is_zero")]
        pub sample_limit: u64,
        /// Target limit for the job (inherits; 0: none).
        #[serde(skip_serializing_if = "is_zero")]
        pub target_limit: u64,
        /// Label count limit per series (inherits; 0: none).
        #[serde(skip_serializing_if = "is_zero")]
        pub label_limit: u64,
        /// Label name length limit (inherits; 0: none).
        #[serde(skip_serializing_if = "is_zero")]
        pub label_name_length_limit: u64,
        /// Label value length limit (inherits; 0: none).
        #[serde(skip_serializing_if = "is_zero")]
        pub label_value_length_limit: u64,
        /// Native histogram bucket limit (0: none).
        #[serde(skip_serializing_if = "is_zero")]
        pub native_histogram_bucket_limit: u64,
        /// Minimum growth factor between native histogram buckets.
        #[serde(skip_serializing_if = "is_zero_f64")]
        pub native_histogram_min_bucket_factor: f64,
        /// Dropped targets kept for the UI (inherits; 0: all).
        #[serde(skip_serializing_if = "is_zero")]
        pub keep_dropped_targets: u64,
        /// Name validation scheme (inherits).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub metric_name_validation_scheme: Option<ValidationScheme> [with = crate::yaml::scrape_validation_scheme],
        /// Escaping scheme requested from targets (inferred when empty).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub metric_name_escaping_scheme: String,
        /// Store extra per-scrape series (inherits; unset: the scrape manager's default).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub extra_scrape_metrics: Option<bool>,
        /// Target relabeling.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub relabel_configs: Vec<relabel::Config> [non_null = "empty or null target relabeling rule in scrape config"] [with = crate::yaml::go::relabel_rules],
        /// Metric relabeling.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub metric_relabel_configs: Vec<relabel::Config> [non_null = "empty or null metric relabeling rule in scrape config"] [with = crate::yaml::go::relabel_rules],
    }
    inline {
        /// Target discovery.
        pub service_discovery_configs: ServiceDiscoveryConfigs,
        /// HTTP client options for scraping.
        pub http_client_config: HttpClientConfig,
    }
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

fn is_zero_bytes(v: &ByteSize) -> bool {
    v.0 == 0
}

impl Default for ScrapeConfig {
    fn default() -> Self {
        ScrapeConfig {
            job_name: String::new(),
            honor_labels: false,
            honor_timestamps: true,
            track_timestamps_staleness: false,
            params: BTreeMap::new(),
            scrape_interval: Duration::ZERO,
            scrape_timeout: Duration::ZERO,
            scrape_protocols: None,
            fallback_scrape_protocol: None,
            scrape_native_histograms: None,
            always_scrape_classic_histograms: None,
            convert_classic_histograms_to_nhcb: None,
            scrape_failure_log_file: String::new(),
            metrics_path: "/metrics".into(),
            scheme: "http".into(),
            enable_compression: true,
            body_size_limit: ByteSize(0),
            sample_limit: 0,
            target_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            native_histogram_bucket_limit: 0,
            native_histogram_min_bucket_factor: 0.0,
            keep_dropped_targets: 0,
            metric_name_validation_scheme: None,
            metric_name_escaping_scheme: String::new(),
            extra_scrape_metrics: None,
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
            service_discovery_configs: ServiceDiscoveryConfigs::default(),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

/// Go's `CheckTargetAddress`: a target must be `host:port`, not a URL.
pub fn check_target_address(address: &str) -> Result<(), String> {
    if address.contains('/') {
        return Err(format!("{address:?} is not a valid hostname"));
    }
    Ok(())
}

pub(crate) fn check_static_targets(sd: &ServiceDiscoveryConfigs) -> Result<(), String> {
    for sc in sd.static_configs() {
        for t in &sc.targets {
            check_target_address(t)?;
        }
    }
    Ok(())
}

impl Validate for ScrapeConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.job_name.is_empty() {
            return Err("job_name is empty".into());
        }
        self.http_client_config.check()?;
        if self.relabel_configs.is_empty() {
            check_static_targets(&self.service_discovery_configs)?;
        }
        Ok(())
    }
}

impl ScrapeConfig {
    /// Go's `ScrapeConfig.Validate`: fills what is inherited from `global` and checks the
    /// result (timeout within interval, protocols, name validation and escaping, relabeling).
    pub fn apply_global(&mut self, global: &GlobalConfig) -> Result<(), String> {
        let job = &self.job_name;
        if self.scrape_interval == Duration::ZERO {
            self.scrape_interval = global.scrape_interval;
        }
        if self.scrape_timeout > self.scrape_interval {
            return Err(format!(
                "scrape timeout greater than scrape interval for scrape config with job name {job:?}"
            ));
        }
        if self.scrape_timeout == Duration::ZERO {
            self.scrape_timeout = global.scrape_timeout.min(self.scrape_interval);
        }
        if self.body_size_limit.0 == 0 {
            self.body_size_limit = global.body_size_limit;
        }
        for (local, global) in [
            (&mut self.sample_limit, global.sample_limit),
            (&mut self.target_limit, global.target_limit),
            (&mut self.label_limit, global.label_limit),
            (
                &mut self.label_name_length_limit,
                global.label_name_length_limit,
            ),
            (
                &mut self.label_value_length_limit,
                global.label_value_length_limit,
            ),
            (&mut self.keep_dropped_targets, global.keep_dropped_targets),
        ] {
            if *local == 0 {
                *local = global;
            }
        }
        if self.scrape_failure_log_file.is_empty() {
            self.scrape_failure_log_file = global.scrape_failure_log_file.clone();
        }
        if self.scrape_native_histograms.is_none() {
            self.scrape_native_histograms = global.scrape_native_histograms;
        }
        if self.extra_scrape_metrics.is_none() {
            self.extra_scrape_metrics = global.extra_scrape_metrics;
        }
        if self.scrape_protocols.is_none() {
            self.scrape_protocols = Some(match &global.scrape_protocols {
                Some(p) => p.clone(),
                None if self.scrape_native_histograms_enabled()
                    || crate::global::proto_first_default() =>
                {
                    default_proto_first_scrape_protocols()
                }
                None => default_scrape_protocols(),
            });
        }
        if let Some(ps) = &self.scrape_protocols {
            validate_scrape_protocols(ps)
                .map_err(|e| format!("{e} for scrape config with job name {job:?}"))?;
        }
        if let Some(p) = &self.fallback_scrape_protocol {
            p.validate().map_err(|e| {
                format!(
                    "invalid fallback_scrape_protocol for scrape config with job name {job:?}: {e}"
                )
            })?;
        }

        let global_scheme = global.validation_scheme();
        let local_unset = self.metric_name_validation_scheme.is_none();
        let scheme = *self
            .metric_name_validation_scheme
            .get_or_insert(global_scheme);
        let mut global_escaping = global.metric_name_escaping_scheme.clone();
        if global_escaping.is_empty() {
            global_escaping = match global_scheme {
                ValidationScheme::Legacy => "underscores".into(),
                ValidationScheme::Utf8 => "allow-utf-8".into(),
            };
        } else if !ESCAPING_SCHEMES.contains(&global_escaping.as_str()) {
            return Err(format!(
                "unknown global name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got {global_escaping:?}"
            ));
        }
        if self.metric_name_escaping_scheme.is_empty() {
            self.metric_name_escaping_scheme = if local_unset {
                global_escaping
            } else if scheme == ValidationScheme::Legacy {
                "underscores".into()
            } else {
                "allow-utf-8".into()
            };
        }
        match self.metric_name_escaping_scheme.as_str() {
            "allow-utf-8" => {
                if scheme != ValidationScheme::Utf8 {
                    return Err(
                        "utf8 metric names requested but validation scheme is not set to UTF8"
                            .into(),
                    );
                }
            }
            "underscores" | "dots" | "values" => {}
            other => {
                return Err(format!(
                    "unknown scrape config name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got {other:?}"
                ));
            }
        }
        if self.convert_classic_histograms_to_nhcb.is_none() {
            self.convert_classic_histograms_to_nhcb =
                Some(global.convert_classic_histograms_to_nhcb);
        }
        if self.always_scrape_classic_histograms.is_none() {
            self.always_scrape_classic_histograms = Some(global.always_scrape_classic_histograms);
        }
        for rc in self
            .relabel_configs
            .iter_mut()
            .chain(self.metric_relabel_configs.iter_mut())
        {
            rc.validate(scheme).map_err(|e| e.to_string())?;
            rc.name_validation_scheme = scheme;
        }
        Ok(())
    }

    /// Whether native histograms are scraped.
    pub fn scrape_native_histograms_enabled(&self) -> bool {
        self.scrape_native_histograms == Some(true)
    }

    /// Joins relative file paths with `dir` (Go's `SetDirectory`).
    pub fn set_directory(&mut self, dir: &Path) {
        self.service_discovery_configs.set_directory(dir);
        self.http_client_config.set_directory(dir);
        join_dir(dir, &mut self.scrape_failure_log_file);
    }
}

config_struct! {
    /// The content of a file listed in `scrape_config_files`.
    #[derive(Default)]
    pub struct ScrapeConfigs [go = "config.ScrapeConfigs", "config.ScrapeConfigs"] {
        /// The jobs.
        pub scrape_configs: Vec<ScrapeConfig> [non_null = "empty or null scrape config section"],
    }
}

impl Validate for ScrapeConfigs {}
