//! The notifier: sends alerts to Alertmanagers over API v2, as Prometheus's `notifier`
//! package does.
//!
//! Main types: [`Alert`] (labels, annotations, start and end, generator URL), encoded as
//! Alertmanager API v2 `PostableAlerts` JSON by [`encode_postable_alerts`]; and [`Manager`],
//! which applies external labels and `alert_relabel_configs` to every alert given to
//! [`Manager::send`], keeps them in a bounded queue (the oldest are dropped on overflow),
//! and POSTs batches of up to 256 alerts to every Alertmanager of every `alertmanagers`
//! entry at once (each entry with its own `alert_relabel_configs`, `timeout`, `scheme` and
//! `path_prefix`). Alertmanagers come from target groups keyed `config-0`, `config-1`, ...
//! ([`set_key`], [`sd_configs`]) through the entry's `relabel_configs`, with `__scheme__`
//! and `__alerts_path__` ([`PATH_LABEL`]) as in Go's `AlertmanagerFromGroup`.
//! [`Manager::write_metrics`] renders the `prometheus_notifications_*` metrics.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let cfg = config::Config::load_str(
//!     "global: {external_labels: {cluster: eu}}\nalerting: {alertmanagers: [{static_configs: [{targets: ['127.0.0.1:9093']}]}]}\n",
//!     "",
//! )
//! .unwrap();
//! let manager = notifier::Manager::new(notifier::Options::default());
//! manager.apply_config(&cfg).unwrap();
//! let groups = model::TargetGroup {
//!     targets: vec![model::Labels::from_pairs([("__address__", "127.0.0.1:9093")])],
//!     labels: model::Labels::empty(),
//!     source: "0".into(),
//! };
//! manager.sync(&[("config-0".to_owned(), vec![groups])].into());
//! assert_eq!(manager.alertmanagers().0, ["http://127.0.0.1:9093/api/v2/alerts"]);
//! # }
//! ```

mod alert;
mod alertmanager;
mod client;
mod error;
mod manager;
mod metrics;

pub use alert::{Alert, encode_postable_alerts, format_rfc3339_millis, generator_url};
pub use alertmanager::{PATH_LABEL, sd_configs, set_key};
pub use error::{Error, Result};
pub use manager::{DEFAULT_MAX_BATCH_SIZE, DEFAULT_QUEUE_CAPACITY, Manager, Options, TargetSets};
