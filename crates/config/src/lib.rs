//! Prometheus's configuration file (`prometheus.yml`) as typed Rust data.
//!
//! [`Config::load_file`] reads a file the way Prometheus 3 does (`config.LoadFile`): strict
//! YAML (unknown fields and duplicate keys are errors), Go's defaults filled in (scrape jobs
//! inherit `global`), every check Prometheus makes, relative paths joined with the file's
//! directory, external labels expanded from the environment, and the jobs of
//! `scrape_config_files` read in ([`Config::all_scrape_configs`]).
//!
//! Main types: [`Config`] and its blocks [`GlobalConfig`], [`ScrapeConfig`],
//! [`AlertingConfig`], [`RemoteWriteConfig`], [`RemoteReadConfig`], [`StorageConfig`],
//! [`TracingConfig`], [`OtlpConfig`]; the shared [`HttpClientConfig`] and [`TlsConfig`];
//! service discovery as the closed enum [`ServiceDiscoveryConfig`] (schema and validation
//! only: discovering is the `discovery` crate's job); [`Secret`], which prints as
//! `<secret>`; and [`Error`], whose messages are Prometheus 3.5's, go-yaml's wording included
//! (`parsing YAML file prometheus.yml: yaml: unmarshal errors:\n  line 12: field foo not found
//! in type config.ScrapeConfig`; see [`yaml::go`]).
//!
//! Relabeling rules are [`model::relabel::Config`], durations [`model::Duration`]. The YAML
//! library is hidden behind [`yaml`] (see there for why it is serde-saphyr). [`check`] holds
//! what `promtool check config` verifies beyond loading (referenced files exist, file-SD
//! files parse, relabeled static targets are still `host:port`).
//!
//! ```
//! let cfg = config::Config::load_str(
//!     "global: {scrape_interval: 15s}\nscrape_configs:\n  - job_name: node\n    static_configs: [{targets: ['localhost:9100']}]\n",
//!     "",
//! )
//! .unwrap();
//! let job = &cfg.scrape_configs[0];
//! assert_eq!(job.scrape_interval.to_string(), "15s");
//! assert_eq!(job.scrape_timeout.to_string(), "10s");
//! assert_eq!(job.metrics_path, "/metrics");
//! ```

pub mod alerting;
pub mod check;
pub mod discovery;
mod error;
pub mod global;
pub mod http_config;
mod load;
pub mod remote;
pub mod scrape;
pub mod storage;
pub mod units;
pub mod yaml;

pub use alerting::{AlertingConfig, AlertmanagerConfig};
pub use discovery::{ServiceDiscoveryConfig, ServiceDiscoveryConfigs, StaticConfig};
pub use error::{Error, Result};
pub use global::{GlobalConfig, RuntimeConfig, ScrapeProtocol, set_proto_first_default};
pub use http_config::{HttpClientConfig, Secret, TlsConfig, Url};
pub use load::Config;
pub use remote::{QueueConfig, RemoteReadConfig, RemoteWriteConfig};
pub use scrape::ScrapeConfig;
pub use storage::{OtlpConfig, StorageConfig, TracingConfig};
pub use units::ByteSize;
