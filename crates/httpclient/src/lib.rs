//! The HTTP client every outgoing request shares: scrapes, remote write and read, HTTP service
//! discovery and Alertmanagers. The Rust counterpart of prometheus/common's
//! `config.NewClientFromConfig`, so Prometheus's HTTP client options mean the same
//! everywhere.
//!
//! Main type: [`HttpClient`], built from a [`config::HttpClientConfig`]: `tls_config` (CA,
//! client certificate and key, inline or from files, `server_name`, `insecure_skip_verify`,
//! `min_version`/`max_version` from TLS 1.2), `basic_auth` (with `username_file` and
//! `password_file`), `authorization` (with `credentials_file`; the deprecated `bearer_token`
//! options land there), `oauth2` (client credentials grant: `client_secret` or
//! `client_secret_file`, `scopes`, `endpoint_params`; or the JWT bearer grant, RFC 7523:
//! an assertion signed RS256/384/512 with `client_certificate_key`(`_file`), `iss`,
//! `audience`, `claims`; the token endpoint's own `tls_config` and proxy; tokens cached
//! until 10 s before expiry), `http_headers` (values, secrets and
//! files), `follow_redirects`, and proxies (`proxy_url` over `http://`, `https://` or
//! `socks5://` with `no_proxy` and `proxy_connect_header`, or `proxy_from_environment`;
//! HTTPS goes through a CONNECT tunnel). [`HttpClient::with_sigv4`] adds AWS Signature
//! Version 4 signing (`sigv4` of remote write, Alertmanagers and the AWS service
//! discoveries), with credentials from the AWS SDK's default chain (static keys, profiles,
//! web identity, SSO, `credential_process`, the ECS/EKS container endpoint, EC2 instance
//! metadata) and `role_arn`
//! through STS `AssumeRole`; [`aws_region`] finds the region the same way when none is
//! configured (environment, profile, instance metadata). Secret-manager references (`*_ref`) fail with [`Error::SecretRef`], worded
//! as Prometheus, which registers no secret manager either, refuses them.
//!
//! Every TCP connection a client opens (to the server or to a proxy) is counted under the
//! client's dialer name, as go-conntrack counts Prometheus's: [`HttpClient::named`] sets
//! it (a scrape pool's job name, `alertmanager`, `remote_storage_write_client`, ...;
//! [`DEFAULT_DIALER`] otherwise) and [`write_metrics`] renders the
//! `net_conntrack_dialer_conn_{attempted,established,closed,failed}_total` families of
//! every name used in the process.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut cfg = config::HttpClientConfig::default();
//! cfg.authorization = Some(config::http_config::Authorization {
//!     r#type: "Bearer".into(),
//!     credentials: config::Secret::new("token"),
//!     ..Default::default()
//! });
//! let client = httpclient::HttpClient::new(&cfg).unwrap();
//! let req = http::Request::get("http://127.0.0.1:1/metrics")
//!     .body(http_body_util::Full::new(bytes::Bytes::new()))
//!     .unwrap();
//! // Nothing listens on port 1: the error is worded as Go's client words it.
//! let err = client.send(req).await.unwrap_err();
//! assert!(err.to_string().starts_with("Get \"http://127.0.0.1:1/metrics\": "));
//! # }
//! ```

mod auth;
mod client;
mod dial;
mod error;
mod oauth2;
mod proxy;
mod sigv4;
mod tls;

pub use client::{HttpClient, MAX_REDIRECTS, USER_AGENT};
/// The options a client is built from, re-exported so users need not name `config`.
pub use config::{HttpClientConfig, http_config};
pub use dial::{DEFAULT_DIALER, write_metrics};
pub use error::{Error, Result};
pub use sigv4::aws_region;
