//! The `storage`, `tracing` and `otlp` blocks.

use std::collections::BTreeMap;
use std::path::Path;

use model::Duration;

use crate::config_struct;
use crate::http_config::{TlsConfig, is_false};
use crate::remote::check_headers;
use crate::units::ByteSize;
use crate::yaml::Validate;

config_struct! {
    /// The `storage` block: settings applied to the local TSDB and exemplar storage on reload.
    #[derive(Default)]
    pub struct StorageConfig [go = "config.StorageConfig", "config.StorageConfig"] {
        /// TSDB settings.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub tsdb: Option<TsdbConfig>,
        /// Exemplar storage settings.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub exemplars: Option<ExemplarsConfig>,
    }
}

impl Validate for StorageConfig {}

impl StorageConfig {
    fn is_empty(&self) -> bool {
        self.tsdb.is_none() && self.exemplars.is_none()
    }
}

pub(crate) fn storage_is_empty(s: &StorageConfig) -> bool {
    s.is_empty()
}

config_struct! {
    /// `storage.tsdb`.
    #[derive(Default)]
    pub struct TsdbConfig [go = "*config.TSDBConfig", "config.plain"] {
        /// How far back out-of-order samples are accepted (0: not at all).
        pub out_of_order_time_window: Duration,
        /// Fraction of stale series that triggers an early head compaction (0: off).
        #[serde(skip_serializing_if = "is_zero_f64")]
        pub stale_series_compaction_threshold: f64,
        /// Retention overriding the command-line flags.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub retention: Option<TsdbRetentionConfig>,
        /// Chunk encodings.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub chunk_encoding: Option<ChunkEncodingConfig>,
    }
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

impl Validate for TsdbConfig {
    fn validate(&mut self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.stale_series_compaction_threshold) {
            return Err(format!(
                "stale_series_compaction_threshold must be between 0 and 1, got {}",
                self.stale_series_compaction_threshold
            ));
        }
        Ok(())
    }
}

config_struct! {
    /// `storage.tsdb.retention`.
    #[derive(Default)]
    pub struct TsdbRetentionConfig {
        /// How long to keep samples.
        pub time: Duration,
        /// Maximum bytes of blocks.
        pub size: ByteSize,
        /// Maximum share of the disk, in percent.
        #[serde(skip_serializing_if = "is_zero_f64")]
        pub percentage: f64,
    }
}

impl Validate for TsdbRetentionConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.size.0 < 0 {
            return Err(format!(
                "retention size must not be negative, got {}",
                self.size.0
            ));
        }
        if !(0.0..=100.0).contains(&self.percentage) {
            return Err(format!(
                "retention percentage must be between 0 and 100, got {}",
                self.percentage
            ));
        }
        Ok(())
    }
}

config_struct! {
    /// `storage.tsdb.chunk_encoding`.
    #[derive(Default)]
    pub struct ChunkEncodingConfig {
        /// Float chunk encoding: `xor` (default) or `xor2`.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub floats: String,
    }
}

impl Validate for ChunkEncodingConfig {
    fn validate(&mut self) -> Result<(), String> {
        match self.floats.as_str() {
            "" | "xor" | "xor2" => Ok(()),
            other => Err(format!(
                "unknown float chunk encoding {other:?}, must be one of \"xor\" or \"xor2\""
            )),
        }
    }
}

config_struct! {
    /// `storage.exemplars`.
    pub struct ExemplarsConfig [go = "*config.ExemplarsConfig", "config.ExemplarsConfig"] {
        /// Size of the exemplar ring buffer (default 100000; 0 or less disables it).
        pub max_exemplars: i64 [go = "int64"],
    }
}

impl Default for ExemplarsConfig {
    fn default() -> Self {
        ExemplarsConfig {
            max_exemplars: 100_000,
        }
    }
}

impl Validate for ExemplarsConfig {}

config_struct! {
    /// The `tracing` block (OpenTelemetry export of Prometheus's own traces).
    pub struct TracingConfig {
        /// `grpc` (default) or `http`.
        pub client_type: String,
        /// Collector endpoint.
        pub endpoint: String,
        /// Share of traces sampled.
        #[serde(skip_serializing_if = "is_zero_f64")]
        pub sampling_fraction: f64,
        /// Disable TLS.
        #[serde(skip_serializing_if = "is_false")]
        pub insecure: bool,
        /// TLS options.
        pub tls_config: TlsConfig,
        /// Extra headers.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub headers: BTreeMap<String, String> [with = crate::yaml::string_map],
        /// Compression (`gzip` or none).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub compression: String,
        /// Export timeout.
        pub timeout: Duration,
    }
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig {
            client_type: "grpc".into(),
            endpoint: String::new(),
            sampling_fraction: 0.0,
            insecure: false,
            tls_config: TlsConfig::default(),
            headers: BTreeMap::new(),
            compression: String::new(),
            timeout: Duration::ZERO,
        }
    }
}

impl Validate for TracingConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.client_type != "grpc" && self.client_type != "http" {
            return Err(format!(
                "expected tracing client type to be to be http or grpc, but got {}",
                self.client_type
            ));
        }
        check_headers(&self.headers, true)?;
        if self.endpoint.is_empty() {
            return Err("tracing endpoint must be set".into());
        }
        if !self.compression.is_empty() && self.compression != "gzip" {
            return Err(format!(
                "invalid compression type {} provided, valid options: gzip",
                self.compression
            ));
        }
        Ok(())
    }
}

impl TracingConfig {
    /// Joins relative file paths with `dir`.
    pub fn set_directory(&mut self, dir: &Path) {
        self.tls_config.set_directory(dir);
    }
}

/// OTLP metric name translation strategies.
pub const OTLP_TRANSLATION_STRATEGIES: [&str; 4] = [
    "UnderscoreEscapingWithSuffixes",
    "UnderscoreEscapingWithoutSuffixes",
    "NoUTF8EscapingWithSuffixes",
    "NoTranslation",
];

config_struct! {
    /// The `otlp` block: how OTLP metrics received on the write endpoint are translated.
    pub struct OtlpConfig {
        /// Promote every resource attribute to a label.
        #[serde(skip_serializing_if = "is_false")]
        pub promote_all_resource_attributes: bool,
        /// Resource attributes promoted to labels.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub promote_resource_attributes: Vec<String>,
        /// Resource attributes not promoted (with `promote_all_resource_attributes`).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub ignore_resource_attributes: Vec<String>,
        /// Metric name translation strategy.
        pub translation_strategy: String,
        /// Keep `service.name` and friends on `target_info`.
        #[serde(skip_serializing_if = "is_false")]
        pub keep_identifying_resource_attributes: bool,
        /// Convert explicit-bucket histograms to NHCB.
        #[serde(skip_serializing_if = "is_false")]
        pub convert_histograms_to_nhcb: bool,
        /// Promote scope metadata to labels.
        #[serde(skip_serializing_if = "is_false")]
        pub promote_scope_metadata: bool,
        /// Prefix `key_` to labels starting with one underscore (default true).
        pub label_name_underscore_sanitization: bool,
        /// Keep runs of underscores in sanitized names (default true).
        pub label_name_preserve_multiple_underscores: bool,
    }
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            promote_all_resource_attributes: false,
            promote_resource_attributes: Vec::new(),
            ignore_resource_attributes: Vec::new(),
            translation_strategy: "UnderscoreEscapingWithSuffixes".into(),
            keep_identifying_resource_attributes: false,
            convert_histograms_to_nhcb: false,
            promote_scope_metadata: false,
            label_name_underscore_sanitization: true,
            label_name_preserve_multiple_underscores: true,
        }
    }
}

/// Trims the attributes and reports every empty or duplicated one (Go's
/// `sanitizeAttributes`, which joins all problems).
fn sanitize_attributes(attrs: &mut [String], adjective: &str) -> Result<(), String> {
    let mut errs = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for a in attrs.iter_mut() {
        *a = a.trim().to_string();
        if a.is_empty() {
            errs.push(format!("empty {adjective} OTel resource attribute"));
            continue;
        }
        if seen.contains(a) {
            errs.push(format!(
                "duplicated {adjective} OTel resource attribute {a:?}"
            ));
            continue;
        }
        seen.push(a.clone());
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("\n"))
    }
}

impl Validate for OtlpConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.promote_all_resource_attributes {
            if !self.promote_resource_attributes.is_empty() {
                return Err("'promote_all_resource_attributes' and 'promote_resource_attributes' cannot be configured simultaneously".into());
            }
            sanitize_attributes(&mut self.ignore_resource_attributes, "ignored")
                .map_err(|e| format!("invalid 'ignore_resource_attributes': {e}"))?;
        } else {
            if !self.ignore_resource_attributes.is_empty() {
                return Err("'ignore_resource_attributes' cannot be configured unless 'promote_all_resource_attributes' is true".into());
            }
            sanitize_attributes(&mut self.promote_resource_attributes, "promoted")
                .map_err(|e| format!("invalid 'promote_resource_attributes': {e}"))?;
        }
        Ok(())
    }
}
