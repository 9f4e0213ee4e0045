//! Scraping: pulling samples from targets over HTTP and appending them to storage.
//!
//! This crate will hold Prometheus's scrape side: the scrape manager, one scrape pool per job
//! and one scrape loop per target (staleness markers, sample and label limits), fed with
//! target groups on a channel that the binary connects to service discovery.
//!
//! Today it holds only the exposition-format parsers, in [`textparse`] (Go's
//! `model/textparse`):
//! - [`textparse::PromParser`] for the Prometheus text format 0.0.4 and
//!   [`textparse::OpenMetricsParser`] for OpenMetrics 1.0 text, both streaming over a borrowed
//!   byte slice, behind the [`textparse::Parser`] trait;
//! - [`textparse::new`], which picks the parser from a scrape response's `Content-Type` with
//!   Prometheus's fallback rules (`fallback_scrape_protocol`);
//! - [`textparse::write_text`] and [`textparse::write_openmetrics`], which print parsed
//!   [`textparse::MetricFamily`] values back (for tests, benchmarks and tools).
//!
//! The protobuf scrape format and native histograms are not parsed yet: asking for them returns
//! [`Error::UnsupportedFormat`].
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

mod error;
pub mod textparse;

pub use error::{Error, Result};
