//! The AWS blocks (`aws_sd_configs`, `ec2_sd_configs`, `ecs_sd_configs`, `rds_sd_configs`,
//! `msk_sd_configs`, `elasticache_sd_configs`, `lightsail_sd_configs`, `mq_sd_configs`):
//! one Rust type, [`AwsSdConfig`], whose [`AwsSdKind`] decides which keys it accepts, its
//! defaults and how it prints, as upstream's one Go struct per block does.
//!
//! Upstream decodes each block into its own struct, so a key another block has (`port` in
//! `mq_sd_configs`, `request_concurrency` in `aws_sd_configs`) is `field X not found in
//! type ...` there. `#[serde(flatten)]` of a shared part cannot express that (flattened
//! structs see no unknown keys), so one hand-written map reader serves every block and
//! checks each key against the block's own list before reading it.

use model::Duration;
use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use crate::discovery::Filter;
use crate::http_config::{HttpClientConfig, Secret};
use crate::yaml::{Inline, Spanned, Validate, unknown_field};

/// Which block an [`AwsSdConfig`] was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AwsSdKind {
    /// `aws_sd_configs`: one of the others, chosen by `role`.
    #[default]
    Aws,
    /// `ec2_sd_configs`.
    Ec2,
    /// `ecs_sd_configs`.
    Ecs,
    /// `rds_sd_configs`.
    Rds,
    /// `msk_sd_configs`.
    Msk,
    /// `elasticache_sd_configs`.
    Elasticache,
    /// `lightsail_sd_configs`.
    Lightsail,
    /// `mq_sd_configs`.
    Mq,
}

/// The keys every AWS block has (besides the HTTP client options, which all inline).
const COMMON: &[&str] = &[
    "region",
    "endpoint",
    "access_key",
    "secret_key",
    "profile",
    "role_arn",
    "external_id",
    "refresh_interval",
];

impl AwsSdKind {
    const ALL: [AwsSdKind; 8] = [
        AwsSdKind::Aws,
        AwsSdKind::Ec2,
        AwsSdKind::Ecs,
        AwsSdKind::Rds,
        AwsSdKind::Msk,
        AwsSdKind::Elasticache,
        AwsSdKind::Lightsail,
        AwsSdKind::Mq,
    ];

    /// The keys of this block beyond [`COMMON`] and the HTTP client options, as upstream's
    /// struct for it declares them.
    fn own_keys(self) -> &'static [&'static str] {
        match self {
            AwsSdKind::Aws => &["role", "port", "filters", "clusters"],
            AwsSdKind::Ec2 => &["port", "filters"],
            AwsSdKind::Ecs | AwsSdKind::Msk | AwsSdKind::Elasticache => {
                &["clusters", "port", "request_concurrency"]
            }
            AwsSdKind::Rds => &["clusters", "port", "filters", "request_concurrency"],
            AwsSdKind::Lightsail => &["port"],
            AwsSdKind::Mq => &["request_concurrency"],
        }
    }

    /// Whether `key` may appear in this block: its own keys, the common ones, and any
    /// key that is no AWS field at all (the HTTP client options decide about those).
    fn accepts(self, key: &str) -> bool {
        let aws_field = |k: &str| {
            COMMON.contains(&k)
                || k == "request_concurrency"
                || AwsSdKind::ALL
                    .iter()
                    .any(|kind| kind.own_keys().contains(&k))
        };
        COMMON.contains(&key) || self.own_keys().contains(&key) || !aws_field(key)
    }

    /// The type named in `field X not found in type ...` errors.
    fn type_name(self) -> &'static str {
        match self {
            AwsSdKind::Aws => "AwsSdConfig",
            AwsSdKind::Ec2 => "Ec2SdConfig",
            AwsSdKind::Ecs => "EcsSdConfig",
            AwsSdKind::Rds => "RdsSdConfig",
            AwsSdKind::Msk => "MskSdConfig",
            AwsSdKind::Elasticache => "ElasticacheSdConfig",
            AwsSdKind::Lightsail => "LightsailSdConfig",
            AwsSdKind::Mq => "MqSdConfig",
        }
    }

    /// The `request_concurrency` upstream fills in when the block is read (its
    /// `Default*SDConfig`), for the blocks that have the field.
    pub fn default_request_concurrency(self) -> Option<u32> {
        match self {
            AwsSdKind::Ecs => Some(20),
            AwsSdKind::Rds | AwsSdKind::Msk | AwsSdKind::Elasticache | AwsSdKind::Mq => Some(10),
            AwsSdKind::Aws | AwsSdKind::Ec2 | AwsSdKind::Lightsail => None,
        }
    }

    /// The SD name in `request_concurrency` errors (`ecs_sd: ...`).
    fn sd_name(self) -> &'static str {
        match self {
            AwsSdKind::Aws => "aws_sd",
            AwsSdKind::Ec2 => "ec2_sd",
            AwsSdKind::Ecs => "ecs_sd",
            AwsSdKind::Rds => "rds_sd",
            AwsSdKind::Msk => "msk_sd",
            AwsSdKind::Elasticache => "elasticache_sd",
            AwsSdKind::Lightsail => "lightsail_sd",
            AwsSdKind::Mq => "mq_sd",
        }
    }

    const fn code(self) -> u8 {
        self as u8
    }

    fn from_code(code: u8) -> AwsSdKind {
        AwsSdKind::ALL
            .into_iter()
            .find(|k| k.code() == code)
            .unwrap_or_default()
    }
}

/// One AWS block (see the module docs). The region may be omitted: it is then looked up
/// at discovery time, never while loading.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsSdConfig {
    /// The block this was read from (not a YAML key).
    pub kind: AwsSdKind,
    /// For `aws_sd_configs`: which discovery (ec2, ecs, elasticache, lightsail, msk,
    /// rds).
    pub role: String,
    /// AWS region.
    pub region: String,
    /// Custom API endpoint.
    pub endpoint: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: Secret,
    /// Named profile.
    pub profile: String,
    /// Role to assume.
    pub role_arn: String,
    /// External id passed to STS `AssumeRole` with `role_arn`.
    pub external_id: String,
    /// Re-query interval (default 60s).
    pub refresh_interval: Duration,
    /// Target port (default 80; MQ has none).
    pub port: u16,
    /// API filters (EC2, RDS).
    pub filters: Vec<Filter>,
    /// Clusters to restrict to (ECS, MSK, RDS, ElastiCache).
    pub clusters: Vec<String>,
    /// Most API requests in flight at once (ECS, MSK, RDS, ElastiCache, MQ): the
    /// block's default ([`AwsSdKind::default_request_concurrency`]) once read, as
    /// upstream fills it in; `None` for the blocks without the field.
    pub request_concurrency: Option<u32>,
    /// HTTP client options.
    pub http_client_config: HttpClientConfig,
}

impl Default for AwsSdConfig {
    fn default() -> Self {
        AwsSdConfig::for_kind(AwsSdKind::Aws)
    }
}

impl AwsSdConfig {
    /// The defaults of the block `kind`.
    pub fn for_kind(kind: AwsSdKind) -> AwsSdConfig {
        AwsSdConfig {
            kind,
            role: String::new(),
            region: String::new(),
            endpoint: String::new(),
            access_key: String::new(),
            secret_key: Secret::default(),
            profile: String::new(),
            role_arn: String::new(),
            external_id: String::new(),
            refresh_interval: Duration::from_secs(60),
            port: 80,
            filters: Vec::new(),
            clusters: Vec::new(),
            request_concurrency: kind.default_request_concurrency(),
            http_client_config: HttpClientConfig::default(),
        }
    }

    /// `request_concurrency`, or `default` (Prometheus's: 20 for ECS, 10 for MSK, RDS,
    /// ElastiCache and MQ) when unset (the `aws_sd_configs` roles).
    pub fn request_concurrency_or(&self, default: u32) -> usize {
        usize::try_from(self.request_concurrency.unwrap_or(default).max(1)).unwrap_or(1)
    }

    /// Reads the value of `key` (any AWS field, or an HTTP client option) from `map`;
    /// false for a key that is neither.
    fn set_field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        fn value<'de, T: Deserialize<'de> + Default + crate::yaml::GoType, A: MapAccess<'de>>(
            map: &mut A,
            key: &str,
        ) -> Result<T, A::Error> {
            let v = map.next_value::<Option<T>>().inspect_err(|_| {
                crate::yaml::go::note_value_error(key, (T::go_type(), T::go_inner()));
            })?;
            Ok(v.unwrap_or_default())
        }
        match key {
            "role" => self.role = value(map, key)?,
            "region" => self.region = value(map, key)?,
            "endpoint" => self.endpoint = value(map, key)?,
            "access_key" => self.access_key = value(map, key)?,
            "secret_key" => self.secret_key = value(map, key)?,
            "profile" => self.profile = value(map, key)?,
            "role_arn" => self.role_arn = value(map, key)?,
            "external_id" => self.external_id = value(map, key)?,
            "refresh_interval" => self.refresh_interval = value(map, key)?,
            "port" => self.port = value(map, key)?,
            "filters" => self.filters = value(map, key)?,
            "clusters" => self.clusters = value(map, key)?,
            "request_concurrency" => {
                // `null` keeps the default, as go-yaml leaves an int alone for it.
                // Go's field is an `int`: a negative value reads, then fails the check.
                if let Some(n) = map.next_value::<Option<i64>>().inspect_err(|_| {
                    crate::yaml::go::note_value_error(key, ("int".into(), "int".into()));
                })? {
                    self.request_concurrency = Some(u32::try_from(n).map_err(|_| {
                        de::Error::custom(format!(
                            "{}: request_concurrency must be positive, got {n}",
                            self.kind.sd_name()
                        ))
                    })?);
                }
            }
            _ => return self.http_client_config.set_field(key, map),
        }
        Ok(true)
    }

    /// Reads one block of `kind`: its defaults, then each key (refused unless the block
    /// has it), then [`Validate`].
    fn read<'de, A: MapAccess<'de>>(kind: AwsSdKind, mut map: A) -> Result<AwsSdConfig, A::Error> {
        let mut out = AwsSdConfig::for_kind(kind);
        let issues = crate::yaml::go::issue_count();
        while let Some(key) = map
            .next_key::<Spanned<String>>()
            .inspect_err(|_| crate::yaml::go::note_key_error(AWS_GO_TYPE))?
        {
            if !kind.accepts(&key.value) || !out.set_field(&key.value, &mut map)? {
                unknown_field(&key, AWS_GO_TYPE, &mut map)?;
            }
        }
        if crate::yaml::go::issue_count() == issues {
            out.validate().map_err(de::Error::custom)?;
        }
        Ok(out)
    }
}

impl Validate for AwsSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.kind == AwsSdKind::Aws {
            match self.role.as_str() {
                "ec2" | "ecs" | "elasticache" | "lightsail" | "msk" | "rds" => {}
                other => return Err(format!("unknown AWS SD role {other:?}")),
            }
        }
        if self.request_concurrency == Some(0) {
            return Err(format!(
                "{}: request_concurrency must be positive, got 0",
                self.kind.sd_name()
            ));
        }
        for f in &self.filters {
            if f.values.is_empty() {
                return Err("EC2 SD configuration filter values cannot be empty".into());
            }
        }
        self.http_client_config.check()
    }
}

/// The type go-yaml names in the AWS blocks' type errors (their `UnmarshalYAML`'s).
const AWS_GO_TYPE: &str = "aws.plain";

impl crate::yaml::GoType for AwsSdConfig {
    fn go_type() -> String {
        "*aws.EC2SDConfig".into()
    }
    fn go_inner() -> String {
        AWS_GO_TYPE.into()
    }
}

struct AwsVisitor(AwsSdKind);

impl<'de> Visitor<'de> for AwsVisitor {
    type Value = AwsSdConfig;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a mapping ({})", self.0.type_name())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<AwsSdConfig, A::Error> {
        AwsSdConfig::read(self.0, map)
    }
}

impl<'de> Deserialize<'de> for AwsSdConfig {
    /// Reads an `aws_sd_configs` entry (each other block is read as its own kind when a
    /// configuration is loaded).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(AwsVisitor(AwsSdKind::Aws))
    }
}

/// Reads the block whose [`AwsSdKind`] code is `KIND` (what `ServiceDiscoveryConfigs` reads
/// each AWS key with).
#[derive(Debug)]
pub(crate) struct AwsSdBlock<const KIND: u8>(AwsSdConfig);

impl<'de, const KIND: u8> Deserialize<'de> for AwsSdBlock<KIND> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(AwsVisitor(AwsSdKind::from_code(KIND)))
            .map(AwsSdBlock)
    }
}

impl<const KIND: u8> From<AwsSdBlock<KIND>> for AwsSdConfig {
    fn from(b: AwsSdBlock<KIND>) -> AwsSdConfig {
        b.0
    }
}

/// The [`AwsSdBlock`] code of each block.
pub(crate) mod block {
    use super::AwsSdKind;

    /// `ec2_sd_configs`.
    pub(crate) const EC2: u8 = AwsSdKind::Ec2.code();
    /// `ecs_sd_configs`.
    pub(crate) const ECS: u8 = AwsSdKind::Ecs.code();
    /// `rds_sd_configs`.
    pub(crate) const RDS: u8 = AwsSdKind::Rds.code();
    /// `msk_sd_configs`.
    pub(crate) const MSK: u8 = AwsSdKind::Msk.code();
    /// `elasticache_sd_configs`.
    pub(crate) const ELASTICACHE: u8 = AwsSdKind::Elasticache.code();
    /// `lightsail_sd_configs`.
    pub(crate) const LIGHTSAIL: u8 = AwsSdKind::Lightsail.code();
    /// `mq_sd_configs`.
    pub(crate) const MQ: u8 = AwsSdKind::Mq.code();
}

/// `aws_sd_configs` as upstream prints it: `role` always, `port` only when set (its Go
/// default is 0, the role's discovery then uses 80), the HTTP options before `filters`
/// and `clusters`.
#[derive(Serialize)]
struct RoleView<'a> {
    role: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_key: Option<&'a Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_interval: Option<&'a Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(flatten)]
    http_client_config: &'a HttpClientConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    filters: Option<&'a [Filter]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    clusters: Option<&'a [String]>,
}

/// `ec2_sd_configs` and `lightsail_sd_configs` as upstream prints them (`endpoint` first;
/// `endpoint`, `region`, `port` and EC2's `filters` always).
#[derive(Serialize)]
struct EndpointFirstView<'a> {
    endpoint: &'a str,
    region: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_key: Option<&'a Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_interval: Option<&'a Duration>,
    port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    filters: Option<&'a [Filter]>,
    #[serde(flatten)]
    http_client_config: &'a HttpClientConfig,
}

/// `ecs_sd_configs`, `msk_sd_configs`, `rds_sd_configs`, `elasticache_sd_configs` and
/// `mq_sd_configs` as upstream prints them (`region` first; `region`, `endpoint`, `port`
/// and RDS's `filters` always; MQ without `clusters` and `port`).
#[derive(Serialize)]
struct RegionFirstView<'a> {
    region: &'a str,
    endpoint: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_key: Option<&'a Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    clusters: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_interval: Option<&'a Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filters: Option<&'a [Filter]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_concurrency: Option<u32>,
    #[serde(flatten)]
    http_client_config: &'a HttpClientConfig,
}

impl Serialize for AwsSdConfig {
    /// Prints the keys of the block [`AwsSdConfig::kind`] only, in upstream's order, with
    /// Go's `omitempty` where upstream has it.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        fn set(v: &str) -> Option<&str> {
            (!v.is_empty()).then_some(v)
        }
        let secret = (!self.secret_key.is_empty()).then_some(&self.secret_key);
        let refresh = (self.refresh_interval.as_millis() != 0).then_some(&self.refresh_interval);
        let filters = (!self.filters.is_empty()).then_some(self.filters.as_slice());
        let clusters = (!self.clusters.is_empty()).then_some(self.clusters.as_slice());
        match self.kind {
            AwsSdKind::Aws => RoleView {
                role: &self.role,
                region: set(&self.region),
                endpoint: set(&self.endpoint),
                access_key: set(&self.access_key),
                secret_key: secret,
                profile: set(&self.profile),
                role_arn: set(&self.role_arn),
                external_id: set(&self.external_id),
                refresh_interval: refresh,
                port: (self.port != 80).then_some(self.port),
                http_client_config: &self.http_client_config,
                filters,
                clusters,
            }
            .serialize(s),
            AwsSdKind::Ec2 | AwsSdKind::Lightsail => EndpointFirstView {
                endpoint: &self.endpoint,
                region: &self.region,
                access_key: set(&self.access_key),
                secret_key: secret,
                profile: set(&self.profile),
                role_arn: set(&self.role_arn),
                external_id: set(&self.external_id),
                refresh_interval: refresh,
                port: self.port,
                filters: (self.kind == AwsSdKind::Ec2).then_some(self.filters.as_slice()),
                http_client_config: &self.http_client_config,
            }
            .serialize(s),
            kind => RegionFirstView {
                region: &self.region,
                endpoint: &self.endpoint,
                access_key: set(&self.access_key),
                secret_key: secret,
                profile: set(&self.profile),
                role_arn: set(&self.role_arn),
                external_id: set(&self.external_id),
                clusters: if kind == AwsSdKind::Mq {
                    None
                } else {
                    clusters
                },
                port: (kind != AwsSdKind::Mq).then_some(self.port),
                refresh_interval: refresh,
                filters: (kind == AwsSdKind::Rds).then_some(self.filters.as_slice()),
                request_concurrency: self.request_concurrency.filter(|&n| n != 0),
                http_client_config: &self.http_client_config,
            }
            .serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, ServiceDiscoveryConfig};

    use super::*;

    fn blocks(sd: &str) -> Result<Vec<ServiceDiscoveryConfig>, String> {
        Config::load_str(&format!("scrape_configs:\n- job_name: j\n{sd}"), "")
            .map(|c| c.scrape_configs[0].service_discovery_configs.0.clone())
            .map_err(|e| e.to_string())
    }

    fn one(sd: &str) -> AwsSdConfig {
        match blocks(sd).unwrap().remove(0) {
            ServiceDiscoveryConfig::Aws(c)
            | ServiceDiscoveryConfig::Ec2(c)
            | ServiceDiscoveryConfig::Ecs(c)
            | ServiceDiscoveryConfig::Rds(c)
            | ServiceDiscoveryConfig::Msk(c)
            | ServiceDiscoveryConfig::Elasticache(c)
            | ServiceDiscoveryConfig::Lightsail(c)
            | ServiceDiscoveryConfig::Mq(c) => c,
            other => panic!("not an AWS block: {other:?}"),
        }
    }

    /// Every key some AWS block has, with a value of the right type.
    const ALL_KEYS: &[(&str, &str)] = &[
        ("region", "r"),
        ("endpoint", "http://127.0.0.1:1"),
        ("access_key", "a"),
        ("secret_key", "s"),
        ("profile", "p"),
        ("role_arn", "arn:aws:iam::1:role/r"),
        ("external_id", "x"),
        ("refresh_interval", "30s"),
        ("port", "9100"),
        ("filters", "[{name: n, values: [v]}]"),
        ("clusters", "[c]"),
        ("request_concurrency", "3"),
    ];

    #[test]
    fn each_block_accepts_exactly_upstreams_keys() {
        // (block, its keys beyond the common ones, its type in errors)
        let cases: &[(&str, &[&str], &str)] = &[
            (
                "aws_sd_configs",
                &["port", "filters", "clusters"],
                "AwsSdConfig",
            ),
            ("ec2_sd_configs", &["port", "filters"], "Ec2SdConfig"),
            (
                "ecs_sd_configs",
                &["clusters", "port", "request_concurrency"],
                "EcsSdConfig",
            ),
            (
                "msk_sd_configs",
                &["clusters", "port", "request_concurrency"],
                "MskSdConfig",
            ),
            (
                "rds_sd_configs",
                &["clusters", "port", "filters", "request_concurrency"],
                "RdsSdConfig",
            ),
            (
                "elasticache_sd_configs",
                &["clusters", "port", "request_concurrency"],
                "ElasticacheSdConfig",
            ),
            ("lightsail_sd_configs", &["port"], "LightsailSdConfig"),
            ("mq_sd_configs", &["request_concurrency"], "MqSdConfig"),
        ];
        for (block, own, type_name) in cases {
            let role = if *block == "aws_sd_configs" {
                "role: rds\n    "
            } else {
                ""
            };
            for (key, value) in ALL_KEYS {
                let sd = format!("  {block}:\n  - {role}{key}: {value}\n");
                let accepted = COMMON.contains(key) || own.contains(key);
                match blocks(&sd) {
                    Ok(_) => assert!(accepted, "{block} took {key}"),
                    Err(e) => {
                        assert!(!accepted, "{block} refused {key}: {e}");
                        assert!(
                            e.contains(&format!("field {key} not found in type {type_name}"))
                                || e.contains(&format!(
                                    "field {key} not found in type {AWS_GO_TYPE}"
                                )),
                            "{block}/{key}: {e}"
                        );
                    }
                }
            }
            // HTTP client options are inlined in every block; unknown keys are refused.
            blocks(&format!(
                "  {block}:\n  - {role}follow_redirects: false\n    tls_config: {{insecure_skip_verify: true}}\n"
            ))
            .unwrap();
            let e = blocks(&format!("  {block}:\n  - {role}nonsense: 1\n")).unwrap_err();
            assert!(
                e.contains(&format!("field nonsense not found in type {AWS_GO_TYPE}")),
                "{e}"
            );
        }
    }

    #[test]
    fn the_unknown_key_is_pointed_at() {
        let e = blocks("  mq_sd_configs:\n  - region: r\n    port: 9100\n").unwrap_err();
        assert!(
            e.contains("line 5: field port not found in type aws.plain"),
            "{e}"
        );
        let e =
            blocks("  aws_sd_configs:\n  - role: ecs\n    request_concurrency: 3\n").unwrap_err();
        assert!(
            e.contains("field request_concurrency not found in type aws.plain"),
            "{e}"
        );
    }

    #[test]
    fn request_concurrency_defaults_per_block_and_prints_back() {
        for (block, want) in [
            ("ecs_sd_configs", 20),
            ("msk_sd_configs", 10),
            ("rds_sd_configs", 10),
            ("elasticache_sd_configs", 10),
            ("mq_sd_configs", 10),
        ] {
            let c = one(&format!("  {block}:\n  - region: r\n"));
            assert_eq!(c.request_concurrency, Some(want), "{block}");
            let printed = Config::load_str(
                &format!("scrape_configs:\n- job_name: j\n  {block}:\n  - region: r\n"),
                "",
            )
            .unwrap()
            .to_yaml();
            assert!(
                printed.contains(&format!("request_concurrency: {want}")),
                "{block}:\n{printed}"
            );
            // `null` keeps the default, as in Go.
            let c = one(&format!("  {block}:\n  - request_concurrency: ~\n"));
            assert_eq!(c.request_concurrency, Some(want), "{block}");
        }
        for block in [
            "  aws_sd_configs:\n  - role: ecs\n",
            "  ec2_sd_configs:\n  - region: r\n",
            "  lightsail_sd_configs:\n  - region: r\n",
        ] {
            let c = one(block);
            assert_eq!(c.request_concurrency, None, "{block}");
            let printed = Config::load_str(&format!("scrape_configs:\n- job_name: j\n{block}"), "")
                .unwrap()
                .to_yaml();
            assert!(!printed.contains("request_concurrency"), "{printed}");
        }
        // The roles take their discovery's default at discovery time.
        assert_eq!(
            one("  aws_sd_configs:\n  - role: ecs\n").request_concurrency_or(20),
            20
        );
    }

    #[test]
    fn every_block_prints_only_its_own_keys_in_upstreams_order() {
        let printed = |sd: &str| {
            let cfg = Config::load_str(&format!("scrape_configs:\n- job_name: j\n{sd}"), "")
                .unwrap()
                .to_yaml();
            // What we print loads again (Go's round-trip test).
            Config::load_str(&cfg, "").unwrap();
            cfg
        };
        let mq = printed("  mq_sd_configs:\n  - region: eu-west-1\n");
        let block = &mq[mq.find("mq_sd_configs").unwrap()..];
        assert!(!block.contains("port:"), "{mq}");
        assert!(!block.contains("clusters"), "{mq}");
        assert!(
            block.contains("region: eu-west-1\n    endpoint: ''\n")
                || block.contains("region: eu-west-1\n    endpoint: \"\"\n"),
            "{mq}"
        );
        let ec2 = printed("  ec2_sd_configs:\n  - region: us-east-1\n");
        assert!(ec2.contains("filters: []"), "{ec2}");
        assert!(ec2.contains("port: 80"), "{ec2}");
        let ec2 = &ec2[ec2.find("ec2_sd_configs").unwrap()..];
        assert!(
            ec2.find("endpoint:").unwrap() < ec2.find("region:").unwrap(),
            "{ec2}"
        );
        let lightsail = printed("  lightsail_sd_configs:\n  - region: us-east-1\n");
        assert!(!lightsail.contains("filters"), "{lightsail}");
        let role = printed("  aws_sd_configs:\n  - role: msk\n    clusters: [a]\n");
        assert!(role.contains("role: msk"), "{role}");
        assert!(!role.contains("port:"), "{role}");
        assert!(role.contains("refresh_interval: 1m"), "{role}");
        let role = printed("  aws_sd_configs:\n  - role: ec2\n    port: 9100\n");
        assert!(role.contains("port: 9100"), "{role}");
        let rds = printed("  rds_sd_configs:\n  - region: r\n    external_id: e\n");
        assert!(rds.contains("external_id: e"), "{rds}");
        assert!(rds.contains("filters: []"), "{rds}");
    }

    #[test]
    fn roles_and_concurrency_are_checked() {
        let e = blocks("  aws_sd_configs:\n  - role: mq\n").unwrap_err();
        assert!(e.contains("unknown AWS SD role \"mq\""), "{e}");
        let e = blocks("  aws_sd_configs:\n  - region: r\n").unwrap_err();
        assert!(e.contains("unknown AWS SD role \"\""), "{e}");
        let e = blocks("  elasticache_sd_configs:\n  - request_concurrency: 0\n").unwrap_err();
        assert!(
            e.contains("elasticache_sd: request_concurrency must be positive, got 0"),
            "{e}"
        );
        let e = blocks("  ecs_sd_configs:\n  - request_concurrency: 0\n").unwrap_err();
        assert!(
            e.contains("ecs_sd: request_concurrency must be positive, got 0"),
            "{e}"
        );
        let e = blocks("  ecs_sd_configs:\n  - request_concurrency: -1\n").unwrap_err();
        assert!(
            e.contains("ecs_sd: request_concurrency must be positive, got -1"),
            "{e}"
        );
    }

    #[test]
    fn kinds_round_trip_through_their_codes() {
        for kind in AwsSdKind::ALL {
            assert_eq!(AwsSdKind::from_code(kind.code()), kind);
        }
    }
}
