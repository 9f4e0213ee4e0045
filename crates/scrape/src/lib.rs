//! Scraping: pulling samples from targets over HTTP and appending them to storage, as
//! Prometheus's `scrape` package does.
//!
//! - [`Manager`] (Go's `scrape.Manager`): one scrape pool per job, fed with target groups
//!   ([`TargetSets`], `HashMap<job, Vec<TargetGroup>>`) on a `tokio::sync::watch` channel that
//!   the binary connects to service discovery, reconfigured by [`Manager::apply_config`] and
//!   stopped by [`Manager::stop`] (which writes staleness markers and waits for every loop).
//! - One loop per target, at a stable hashed offset in its interval ([`target`]: Go's
//!   `PopulateLabels`, `Target.offset`, the target URL), scraping over HTTP (timeout, basic
//!   and `Authorization` credentials, custom headers, redirects, gzip, `body_size_limit`,
//!   `Accept` negotiation from `scrape_protocols`: see [`accept_header`]), parsing with
//!   [`textparse`], applying `honor_labels`, `honor_timestamps`, `metric_relabel_configs` and
//!   the sample and label limits, and appending through one `storage::Appender` per scrape,
//!   committed at the end or rolled back on failure. Native histograms (protobuf format,
//!   with `scrape_native_histograms`) go through `Appender::append_histogram`, their
//!   resolution lowered to meet `native_histogram_min_bucket_factor` and
//!   `native_histogram_bucket_limit`; `always_scrape_classic_histograms` keeps their classic
//!   series too. OpenMetrics and protobuf exemplars follow their
//!   sample through `Appender::append_exemplar` (rejections never fail a scrape; out-of-order
//!   ones are counted for [`Manager::write_metrics`]). Each scrape also appends `up`,
//!   `scrape_duration_seconds`, `scrape_samples_scraped`,
//!   `scrape_samples_post_metric_relabeling` and `scrape_series_added` (and, with
//!   `extra_scrape_metrics`, whose default is [`Options::extra_scrape_metrics`],
//!   `scrape_timeout_seconds`, `scrape_sample_limit` and `scrape_body_size_bytes`); series
//!   that disappear, and every series of a target that goes away, get stale markers. With
//!   [`Options::enable_type_and_unit_labels`] series of a family get its type and unit as
//!   `__type__` and `__unit__` labels; with [`Options::append_metadata`] new series, and
//!   those of a family whose metadata changed, get it through `Appender::update_metadata`.
//! - [`Target`] reports health, last error, last scrape time and duration (for
//!   `/api/v1/targets`) and the metadata cache (type, help, unit per metric family, for
//!   `/api/v1/metadata`).
//! - [`Manager::write_metrics`]: Prometheus's own `prometheus_target_*` metrics (pool
//!   creations, reloads and syncs, targets and limits per `scrape_job`, the metadata cache
//!   size, the actual scrape intervals per `interval`, and scrapes and samples rejected by
//!   limits or the storage), updated once per scrape, never per sample.
//!
//! `convert_classic_histograms_to_nhcb` turns classic histograms into native histograms with
//! custom buckets in every format ([`textparse::NhcbParser`] for the text formats).
//!
//! Not implemented yet: the options `httpclient` reports as unsupported (OAuth 2.0, some
//! proxies).
//!
//! The exposition-format parsers live in [`textparse`] (Go's `model/textparse`):
//!
//! ```
//! use scrape::textparse::{self, Entry, Parser, ParserOptions};
//!
//! let body = b"# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 1027 1395066363000\n";
//! let (mut p, warning) = textparse::new(body, "text/plain; version=0.0.4", &ParserOptions::default())?;
//! assert!(warning.is_none());
//! let mut samples = Vec::new();
//! while let Some(entry) = p.next()? {
//!     if entry == Entry::Series {
//!         let (_, t, v) = p.series();
//!         samples.push((p.labels()?.to_string(), t, v));
//!     }
//! }
//! assert_eq!(
//!     samples,
//!     [(r#"{__name__="http_requests_total", code="200"}"#.to_string(), Some(1395066363000), 1027.0)]
//! );
//! # Ok::<(), scrape::Error>(())
//! ```

#[doc(hidden)]
pub mod bench;
mod error;
mod manager;
mod metrics;
mod scrape;
pub mod target;
pub mod textparse;

pub use error::{Error, Result};
pub use manager::{Manager, Options, TargetSets};
pub use scrape::client::accept_header;
pub use target::{Health, MetricMetadata, Target};
