//! The web layer of the Prometheus server: HTTP API v1, readiness and lifecycle endpoints,
//! and the server's own `/metrics`, on hyper.
//!
//! Only this crate knows the JSON shapes of the API and chooses HTTP status codes (see
//! [`ErrorType::status`], the one mapping from API errors to status and `errorType`).
//! Answers are byte-for-byte Prometheus's: the envelope
//! `{"status":"success","data":...,"warnings":[...],"infos":[...]}`, timestamps as seconds
//! (`1435781451.781`), sample values as Go-formatted strings (`"+Inf"`), parameters parsed
//! as Go parses them (RFC 3339 or unix seconds, durations or float seconds).
//!
//! `/federate` serves the latest sample of every matching series in the text format.
//!
//! Main types:
//! - [`Handler`], built from [`Options`] (the storage and engine it queries, flags, build
//!   info, the lifecycle channels): [`Handler::handle`] answers one request, in process.
//! - [`serve`] runs a handler on a listener from [`listen`] until shut down gracefully;
//!   [`ServeOptions::web_config_file`] adds TLS, security headers, basic auth and rate
//!   limiting as Prometheus's `--web.config.file` ([`WebConfig`], [`check_web_config`]).
//! - The built-in UI: `/` redirects to `/query` (an expression box, a table and an SVG
//!   graph), and Prometheus 3's other UI paths (`/targets`, `/rules`, `/alerts`, `/status`,
//!   ...) answer small self-contained pages rendered in the browser from the API.
//! - [`Status`]: readiness, the applied configuration and reload outcome, written by the
//!   binary and read by `/-/ready`, `/api/v1/status/*` and `/metrics`.
//! - [`ApiError`] / [`ErrorType`] and the crate's [`Error`].
//!
//! Rules, alerts and Alertmanagers come through the narrow traits [`RulesSource`] and
//! [`AlertmanagersSource`] (without them the lists are empty, as in a Prometheus without
//! rule files or Alertmanagers). Exemplar queries read a `storage::ExemplarQueryable`, or
//! answer an empty list without one, as Prometheus does without its exemplar storage. What this server cannot do (TSDB snapshots) answers
//! `501 {"status":"error","errorType":"unavailable","error":"... is not available yet ..."}`
//! instead of made-up data. With `agent` set, the endpoints Prometheus's agent disables
//! answer `422 execution: unavailable with Prometheus Agent`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::Arc;
//! use storage::{Appendable, MemStorage};
//!
//! let db = Arc::new(MemStorage::new());
//! let mut app = db.appender();
//! app.append(0, &model::Labels::from_pairs([("__name__", "up")]), 1_000, 1.0).unwrap();
//! app.commit().unwrap();
//!
//! let status = Arc::new(web::Status::new(std::time::SystemTime::now()));
//! status.set_readiness(web::Readiness::Ready);
//! let (reload, _requests) = tokio::sync::mpsc::channel(1);
//! let handler = web::Handler::new(web::Options {
//!     queryable: db,
//!     engine: Arc::new(promql::Engine::new(promql::EngineOpts::default())),
//!     status,
//!     tsdb_stats: None,
//!     tsdb_admin: None,
//!     scrape: None,
//!     global_url: Default::default(),
//!     enable_lifecycle: false,
//!     enable_admin_api: false,
//!     cors_origin: None,
//!     route_prefix: "/".into(),
//!     flags: Default::default(),
//!     build_info: Default::default(),
//!     storage_retention: "15d".into(),
//!     quit: Default::default(),
//!     reload,
//!     remote_write_receiver: None,
//!     remote_write_messages: storage::remote::WriteProtoMsg::ALL.to_vec(),
//!     otlp_write_receiver: None,
//!     receiver_features: Default::default(),
//!     remote_read_queryable: None,
//!     remote_read_limits: storage::remote::ReadLimits::default(),
//!     metrics_hook: None,
//!     agent: false,
//!     rules: None,
//!     alertmanagers: None,
//!     exemplar_queryable: None,
//! });
//! let req = http::Request::get("/api/v1/query?query=up&time=2")
//!     .body(http_body_util::Empty::<bytes::Bytes>::new())
//!     .unwrap();
//! let resp = handler.handle(req).await;
//! let body = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
//! assert_eq!(
//!     body,
//!     r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up"},"value":[2,"1"]}]}}"#
//! );
//! # }
//! ```

mod api;
mod assets;
mod error;
mod federate;
mod handler;
mod json;
mod metrics;
mod notifications;
mod otlp;
mod params;
mod server;
mod status;
mod timefmt;
mod ui;
mod webconfig;

pub use api::{
    AlertState, AlertView, AlertingView, AlertmanagersSource, GlobalUrlOptions, RuleGroupView,
    RuleHealth, RuleView, RulesSource,
};
pub use error::{ApiError, Error, ErrorType, Result};
pub use handler::{
    BlockCompactionView, BlockDescView, BlockMetaView, BlockStatsView, BuildInfo, Handler,
    MetricsHook, Options, ReceiverFeatures, ReloadRequest, RemoteAddr, TsdbAdmin, TsdbStats,
    TsdbStatus,
};
pub use json::{format_float, write_query_data, write_timestamp};
pub use notifications::{DEFAULT_MAX_SUBSCRIBERS, Notifications, Subscription};
pub use server::{ServeOptions, listen, serve};
pub use status::{Notification, Readiness, Status, WalReplayStatus};
pub use timefmt::format_log_time;
pub use webconfig::{TlsServerConfig, TlsVersion, WebConfig, check_web_config};
