//! The HTTP side of a scrape: request headers (content negotiation, compression, timeout,
//! authentication, custom headers), redirects, gzip and the body size limit.

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use config::{HttpClientConfig, ScrapeConfig};
use http_body_util::{BodyExt, Empty};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::{Error, Result};

const USER_AGENT: &str = concat!("Prometheus/", env!("CARGO_PKG_VERSION"));
const MAX_REDIRECTS: usize = 10;

/// Go's `acceptHeader`: the configured protocols, most preferred first, with descending
/// `q` weights, `escaping=` on the 1.0.0 text formats, and `*/*` last. The protobuf format
/// is left out because this crate cannot parse it yet, so exporters answer in text.
pub fn accept_header(cfg: &ScrapeConfig) -> String {
    let protocols = cfg
        .scrape_protocols
        .clone()
        .unwrap_or_else(config::global::default_scrape_protocols);
    let escaping = if cfg.metric_name_escaping_scheme.is_empty() {
        "allow-utf-8"
    } else {
        cfg.metric_name_escaping_scheme.as_str()
    };
    let mut weight = config::global::SCRAPE_PROTOCOLS.len() + 1;
    let mut vals = Vec::new();
    for p in &protocols {
        let Some(header) = p.header() else { continue };
        if p.0 == "PrometheusProto" {
            continue;
        }
        let mut val = header.to_string();
        if p.0 == "PrometheusText1.0.0" || p.0 == "OpenMetricsText1.0.0" {
            val.push_str(";escaping=");
            val.push_str(escaping);
        }
        val.push_str(&format!(";q=0.{weight}"));
        vals.push(val);
        weight -= 1;
    }
    vals.push(format!("*/*;q=0.{weight}"));
    vals.join(",")
}

/// Fails for HTTP client options that scraping does not implement yet, naming the option
/// and the job.
pub(crate) fn check_supported(job: &str, h: &HttpClientConfig) -> Result<()> {
    let unsupported = |what: &str| Error::Unsupported {
        what: what.to_string(),
        job: job.to_string(),
    };
    if h.oauth2.is_some() {
        return Err(unsupported("oauth2"));
    }
    if h.proxy.proxy_url.is_some() || h.proxy.proxy_from_environment {
        return Err(unsupported("proxy_url"));
    }
    if let Some(b) = &h.basic_auth
        && (!b.username_ref.is_empty() || !b.password_ref.is_empty())
    {
        return Err(unsupported("basic_auth secret references"));
    }
    if let Some(a) = &h.authorization
        && !a.credentials_ref.is_empty()
    {
        return Err(unsupported("authorization.credentials_ref"));
    }
    Ok(())
}

/// Issues scrape requests for one job.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    http: HttpClientConfig,
    accept: String,
    enable_compression: bool,
    body_size_limit: u64,
}

/// A scrape response body (decompressed) and its `Content-Type`.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) body: Vec<u8>,
    pub(crate) content_type: String,
}

fn read_secret_file(path: &str) -> Result<String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| Error::ReadFile {
            path: path.to_string(),
            message: e.to_string(),
        })
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl HttpClient {
    /// A client for the job's HTTP options.
    ///
    /// # Errors
    /// Invalid TLS settings (see [`super::tls::client_config`]).
    pub(crate) fn new(cfg: &ScrapeConfig) -> Result<HttpClient> {
        let job = &cfg.job_name;
        check_supported(job, &cfg.http_client_config)?;
        let tls = &cfg.http_client_config.tls_config;
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(super::tls::client_config(job, tls)?)
            .https_or_http();
        let builder = match super::tls::server_name(job, tls)? {
            Some(name) => {
                builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
            }
            None => builder,
        };
        let connector = builder.enable_http1().wrap_connector(http);
        Ok(HttpClient {
            client: Client::builder(TokioExecutor::new()).build(connector),
            http: cfg.http_client_config.clone(),
            accept: accept_header(cfg),
            enable_compression: cfg.enable_compression,
            body_size_limit: u64::try_from(cfg.body_size_limit.bytes()).unwrap_or(0),
        })
    }

    fn auth_header(&self) -> Result<Option<String>> {
        if let Some(b) = &self.http.basic_auth {
            let user = if b.username_file.is_empty() {
                b.username.clone()
            } else {
                read_secret_file(&b.username_file)?
            };
            let pass = if b.password_file.is_empty() {
                b.password.expose().to_string()
            } else {
                read_secret_file(&b.password_file)?
            };
            return Ok(Some(format!(
                "Basic {}",
                base64(format!("{user}:{pass}").as_bytes())
            )));
        }
        if let Some(a) = &self.http.authorization {
            let creds = if a.credentials_file.is_empty() {
                a.credentials.expose().to_string()
            } else {
                read_secret_file(&a.credentials_file)?
            };
            let kind = if a.r#type.is_empty() {
                "Bearer"
            } else {
                &a.r#type
            };
            return Ok(Some(format!("{kind} {creds}")));
        }
        Ok(None)
    }

    fn request(&self, url: &str, timeout: Duration) -> Result<http::Request<Empty<Bytes>>> {
        let bad = |e: String| Error::Http {
            url: url.to_string(),
            message: e,
        };
        let mut b = http::Request::get(url)
            .header(http::header::ACCEPT, &self.accept)
            .header(
                http::header::ACCEPT_ENCODING,
                if self.enable_compression {
                    "gzip"
                } else {
                    "identity"
                },
            )
            .header(http::header::USER_AGENT, USER_AGENT)
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                timeout.as_secs_f64().to_string(),
            );
        if let Some(auth) = self.auth_header()? {
            b = b.header(http::header::AUTHORIZATION, auth);
        }
        for (name, h) in &self.http.http_headers {
            for v in &h.values {
                b = b.header(name.as_str(), v.as_str());
            }
            for v in &h.secrets {
                b = b.header(name.as_str(), v.expose());
            }
            for f in &h.files {
                b = b.header(name.as_str(), read_secret_file(f)?);
            }
        }
        b.body(Empty::new()).map_err(|e| bad(e.to_string()))
    }

    /// GETs `url` within `timeout`, following redirects if configured, and returns the
    /// decompressed body.
    pub(crate) async fn scrape(&self, url: &str, timeout: Duration) -> Result<Response> {
        match tokio::time::timeout(timeout, self.scrape_inner(url, timeout)).await {
            Ok(r) => r,
            Err(_) => Err(Error::Http {
                url: url.to_string(),
                message: "context deadline exceeded".into(),
            }),
        }
    }

    async fn scrape_inner(&self, url: &str, timeout: Duration) -> Result<Response> {
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let req = self.request(&url, timeout)?;
            let resp = self.client.request(req).await.map_err(|e| Error::Http {
                url: url.clone(),
                message: error_chain(&e),
            })?;
            let status = resp.status();
            if status.is_redirection()
                && self.http.follow_redirects
                && let Some(loc) = resp
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
            {
                url = resolve_location(&url, loc);
                continue;
            }
            if status != http::StatusCode::OK {
                return Err(Error::HttpStatus {
                    status: format!(
                        "{} {}",
                        status.as_u16(),
                        status.canonical_reason().unwrap_or_default()
                    ),
                });
            }
            let header = |name| {
                resp.headers()
                    .get(name)
                    .and_then(|v: &http::HeaderValue| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            let content_type = header(http::header::CONTENT_TYPE);
            let gzip = header(http::header::CONTENT_ENCODING).eq_ignore_ascii_case("gzip");
            let mut body = resp.into_body();
            let mut raw = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| Error::Http {
                    url: url.clone(),
                    message: error_chain(&e),
                })?;
                if let Ok(data) = frame.into_data() {
                    raw.extend_from_slice(&data);
                    if !gzip && self.body_size_limit > 0 && raw.len() as u64 > self.body_size_limit
                    {
                        return Err(Error::BodySizeLimit);
                    }
                }
            }
            let body = if gzip { self.gunzip(&raw)? } else { raw };
            return Ok(Response { body, content_type });
        }
        Err(Error::Http {
            url,
            message: format!("stopped after {MAX_REDIRECTS} redirects"),
        })
    }

    fn gunzip(&self, raw: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let dec = flate2::read::MultiGzDecoder::new(raw);
        let res = if self.body_size_limit > 0 {
            dec.take(self.body_size_limit + 1).read_to_end(&mut out)
        } else {
            let mut dec = dec;
            dec.read_to_end(&mut out)
        };
        res.map_err(|e| Error::Decompress {
            message: e.to_string(),
        })?;
        if self.body_size_limit > 0 && out.len() as u64 > self.body_size_limit {
            return Err(Error::BodySizeLimit);
        }
        Ok(out)
    }
}

fn resolve_location(base: &str, loc: &str) -> String {
    if loc.contains("://") {
        return loc.to_string();
    }
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    if loc.starts_with('/') {
        format!("{}{loc}", &base[..host_end])
    } else {
        let dir_end = base[..base.find('?').unwrap_or(base.len())]
            .rfind('/')
            .filter(|&i| i >= host_end)
            .map_or(host_end, |i| i);
        format!("{}/{loc}", &base[..dir_end])
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_matches_prometheus() {
        let cfg = config::Config::load_str("scrape_configs:\n- job_name: j\n", "").unwrap();
        assert_eq!(
            accept_header(&cfg.scrape_configs[0]),
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        );
    }

    #[test]
    fn base64_and_redirects() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(resolve_location("http://h:1/a/b?x", "/c"), "http://h:1/c");
        assert_eq!(resolve_location("http://h:1/a/b", "c"), "http://h:1/a/c");
        assert_eq!(resolve_location("http://h:1/a", "http://o/x"), "http://o/x");
    }
}
