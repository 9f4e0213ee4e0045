//! The `global` block, scrape protocols and the `runtime` block.

use std::collections::BTreeMap;
use std::fmt;

use model::{Duration, ValidationScheme};
use serde::{Deserialize, Serialize};

use crate::config_struct;
use crate::http_config::{is_false, join_dir};
use crate::units::ByteSize;
use crate::yaml::Validate;

/// A scrape protocol for content negotiation (`PrometheusProto`, `OpenMetricsText1.0.0`, …).
/// Kept as written and checked during validation, so the error names the job.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScrapeProtocol(pub String);

/// Every protocol Prometheus negotiates, sorted, with its `Accept` media type.
pub const SCRAPE_PROTOCOLS: [(&str, &str); 5] = [
    (
        "OpenMetricsText0.0.1",
        "application/openmetrics-text;version=0.0.1",
    ),
    (
        "OpenMetricsText1.0.0",
        "application/openmetrics-text;version=1.0.0",
    ),
    (
        "PrometheusProto",
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
    ),
    ("PrometheusText0.0.4", "text/plain;version=0.0.4"),
    ("PrometheusText1.0.0", "text/plain;version=1.0.0"),
];

impl crate::yaml::GoType for ScrapeProtocol {
    fn go_type() -> String {
        "config.ScrapeProtocol".into()
    }
}

impl ScrapeProtocol {
    /// The protocol's `Accept` header media type, or `None` for an unknown protocol.
    pub fn header(&self) -> Option<&'static str> {
        SCRAPE_PROTOCOLS
            .iter()
            .find(|(n, _)| *n == self.0)
            .map(|(_, h)| *h)
    }

    /// Checks that the protocol is known.
    pub fn validate(&self) -> Result<(), String> {
        if self.header().is_some() {
            return Ok(());
        }
        let names: Vec<&str> = SCRAPE_PROTOCOLS.iter().map(|(n, _)| *n).collect();
        Err(format!(
            "unknown scrape protocol {}, supported: [{}]",
            self.0,
            names.join(" ")
        ))
    }
}

impl fmt::Display for ScrapeProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn protocols(names: &[&str]) -> Vec<ScrapeProtocol> {
    names
        .iter()
        .map(|n| ScrapeProtocol((*n).to_string()))
        .collect()
}

/// The default scrape protocols, most preferred first.
pub fn default_scrape_protocols() -> Vec<ScrapeProtocol> {
    protocols(&[
        "OpenMetricsText1.0.0",
        "OpenMetricsText0.0.1",
        "PrometheusText1.0.0",
        "PrometheusText0.0.4",
    ])
}

/// The default scrape protocols when native histograms are scraped (protobuf first).
pub fn default_proto_first_scrape_protocols() -> Vec<ScrapeProtocol> {
    protocols(&[
        "PrometheusProto",
        "OpenMetricsText1.0.0",
        "OpenMetricsText0.0.1",
        "PrometheusText1.0.0",
        "PrometheusText0.0.4",
    ])
}

/// Whether jobs without `scrape_protocols` (nor a global one) default to
/// [`default_proto_first_scrape_protocols`] ([`set_proto_first_default`]).
static PROTO_FIRST_DEFAULT: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Makes protobuf the first default scrape protocol of every configuration loaded from now
/// on in this process, as Prometheus's `created-timestamp-zero-ingestion` feature does
/// (Go changes `config.DefaultGlobalConfig.ScrapeProtocols`, process-wide, for the same
/// reason: created timestamps come with the protobuf format).
pub fn set_proto_first_default(on: bool) {
    PROTO_FIRST_DEFAULT.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether [`set_proto_first_default`] is on.
pub(crate) fn proto_first_default() -> bool {
    PROTO_FIRST_DEFAULT.load(std::sync::atomic::Ordering::Relaxed)
}

/// Go's `validateAcceptScrapeProtocols`.
pub(crate) fn validate_scrape_protocols(ps: &[ScrapeProtocol]) -> Result<(), String> {
    if ps.is_empty() {
        return Err("scrape_protocols cannot be empty".into());
    }
    let mut seen: Vec<String> = Vec::new();
    for p in ps {
        let lower = p.0.to_lowercase();
        if seen.contains(&lower) {
            let all: Vec<&str> = ps.iter().map(|p| p.0.as_str()).collect();
            return Err(format!(
                "duplicated protocol in scrape_protocols, got [{}]",
                all.join(" ")
            ));
        }
        p.validate().map_err(|e| format!("scrape_protocols: {e}"))?;
        seen.push(lower);
    }
    Ok(())
}

/// Metric name escaping schemes accepted in `metric_name_escaping_scheme`.
pub const ESCAPING_SCHEMES: [&str; 4] = ["allow-utf-8", "underscores", "dots", "values"];

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

fn is_zero_bytes(v: &ByteSize) -> bool {
    v.0 == 0
}

config_struct! {
    /// The `global` block: defaults for scrape jobs and rule evaluation.
    #[derive(Default)]
    pub struct GlobalConfig {
        /// Default scrape interval (1m).
        pub scrape_interval: Duration,
        /// Default scrape timeout (10s, at most the interval).
        pub scrape_timeout: Duration,
        /// Default scrape protocols (unset: chosen per job).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub scrape_protocols: Option<Vec<ScrapeProtocol>>,
        /// Default rule evaluation interval (1m).
        pub evaluation_interval: Duration,
        /// Default rule query offset.
        pub rule_query_offset: Duration,
        /// File PromQL queries are logged to.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub query_log_file: String,
        /// File scrape failures are logged to.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub scrape_failure_log_file: String,
        /// Labels added to every series sent out (remote write, federation, alerts). `$VAR`
        /// and `${VAR}` are expanded from the environment when loading.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub external_labels: BTreeMap<String, String> [with = crate::yaml::string_map],
        /// Default uncompressed body size limit (0: none).
        #[serde(skip_serializing_if = "is_zero_bytes")]
        pub body_size_limit: ByteSize,
        /// Default per-scrape sample limit (0: none).
        #[serde(skip_serializing_if = "is_zero_u64")]
        pub sample_limit: u64,
        /// Default per-job target limit (0: none).
        #[serde(skip_serializing_if = "is_zero_u64")]
        pub target_limit: u64,
        /// Default per-series label count limit (0: none).
        #[serde(skip_serializing_if = "is_zero_u64")]
        pub label_limit: u64,
        /// Default label name length limit (0: none).
        #[serde(skip_serializing_if = "is_zero_u64")]
        pub label_name_length_limit: u64,
        /// Default label value length limit (0: none).
        #[serde(skip_serializing_if = "is_zero_u64")]
        pub label_value_length_limit: u64,
        /// Default number of dropped targets kept per job (0: all).
        #[serde(skip_serializing_if = "is_zero_u64")]
        pub keep_dropped_targets: u64,
        /// Metric and label name validation (`utf8` by default, or `legacy`).
        pub metric_name_validation_scheme: Option<ValidationScheme> [with = crate::yaml::validation_scheme],
        /// Escaping requested through content negotiation.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub metric_name_escaping_scheme: String,
        /// Scrape native histograms by default.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub scrape_native_histograms: Option<bool>,
        /// Convert classic histograms to native histograms with custom buckets by default.
        #[serde(skip_serializing_if = "is_false")]
        pub convert_classic_histograms_to_nhcb: bool,
        /// Keep scraping classic histograms also exposed as native ones, by default.
        #[serde(skip_serializing_if = "is_false")]
        pub always_scrape_classic_histograms: bool,
        /// Store extra per-scrape series by default. Unset, it is left to the scrape
        /// manager's default (off, on with `--enable-feature=extra-scrape-metrics`).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub extra_scrape_metrics: Option<bool>,
    }
}

impl Validate for GlobalConfig {
    fn validate(&mut self) -> Result<(), String> {
        let scheme = self.validation_scheme();
        // Values need no check: YAML strings are valid UTF-8 here.
        for name in self.external_labels.keys() {
            if !scheme.is_valid_label_name(name) {
                return Err(format!("{name:?} is not a valid label name"));
            }
        }
        if self.scrape_interval == Duration::ZERO {
            self.scrape_interval = Duration::from_secs(60);
        }
        if self.scrape_timeout > self.scrape_interval {
            return Err("global scrape timeout greater than scrape interval".into());
        }
        if self.scrape_timeout == Duration::ZERO {
            self.scrape_timeout = Duration::from_secs(10).min(self.scrape_interval);
        }
        if self.evaluation_interval == Duration::ZERO {
            self.evaluation_interval = Duration::from_secs(60);
        }
        if self.scrape_native_histograms.is_none() {
            self.scrape_native_histograms = Some(false);
        }
        if self.metric_name_validation_scheme.is_none() {
            self.metric_name_validation_scheme = Some(ValidationScheme::Utf8);
        }
        if let Some(ps) = &self.scrape_protocols {
            validate_scrape_protocols(ps).map_err(|e| format!("{e} for global config"))?;
        }
        Ok(())
    }
}

impl GlobalConfig {
    /// The global defaults Prometheus uses when there is no `global` block.
    pub fn defaults() -> GlobalConfig {
        let mut g = GlobalConfig::default();
        // Filling the defaults of an empty block cannot fail.
        let _ = g.validate();
        g
    }

    /// The name validation scheme in force (`utf8` unless `legacy` was asked for).
    pub fn validation_scheme(&self) -> ValidationScheme {
        self.metric_name_validation_scheme
            .unwrap_or(ValidationScheme::Utf8)
    }

    /// The external labels as a label set.
    pub fn external_labels(&self) -> model::Labels {
        model::Labels::from_pairs(
            self.external_labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
    }

    pub(crate) fn set_directory(&mut self, dir: &std::path::Path) {
        join_dir(dir, &mut self.query_log_file);
        join_dir(dir, &mut self.scrape_failure_log_file);
    }
}

config_struct! {
    /// The `runtime` block: process tuning that can change on reload.
    pub struct RuntimeConfig [go = "config.RuntimeConfig", "config.RuntimeConfig"] {
        /// Garbage-collection target percentage (Go's GOGC; default 75). Kept for
        /// compatibility; allocator tuning may map it.
        pub gogc: i64,
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        let gogc = match std::env::var("GOGC") {
            Ok(v) if v.eq_ignore_ascii_case("off") => -1,
            Ok(v) => v.parse().unwrap_or(75),
            Err(_) => 75,
        };
        RuntimeConfig { gogc }
    }
}

impl Validate for RuntimeConfig {}
