//! The HTTP side of a scrape: request headers (content negotiation, compression, timeout),
//! gzip and the body size limit, over the shared HTTP client (TLS, authentication, custom
//! headers, redirects).

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use config::ScrapeConfig;
use http_body_util::{BodyExt, Full};

use crate::{Error, Result};

const USER_AGENT: &str = concat!("Prometheus/", env!("CARGO_PKG_VERSION"));

/// Go's `acceptHeader`: the configured protocols, most preferred first, with descending
/// `q` weights, `escaping=` on the 1.0.0 text formats, and `*/*` last. `PrometheusProto`
/// comes first by default when `scrape_native_histograms` is on.
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

/// Issues scrape requests for one job over the shared [`httpclient::HttpClient`] (TLS,
/// authentication, `http_headers`, redirects).
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    client: httpclient::HttpClient,
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

impl HttpClient {
    /// A client for the job's HTTP options.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for options the HTTP client does not implement and
    /// [`Error::Tls`] for unusable settings, both naming the job.
    pub(crate) fn new(cfg: &ScrapeConfig) -> Result<HttpClient> {
        // The job names the client's dialer, as in Prometheus.
        let client = httpclient::HttpClient::new(&cfg.http_client_config)
            .map(|c| c.named(&cfg.job_name))
            .map_err(|e| match e {
                httpclient::Error::Unsupported { option } => Error::Unsupported {
                    what: option.to_string(),
                    job: cfg.job_name.clone(),
                },
                other => Error::Tls {
                    job: cfg.job_name.clone(),
                    message: other.to_string(),
                },
            })?;
        Ok(HttpClient {
            client,
            accept: accept_header(cfg),
            enable_compression: cfg.enable_compression,
            body_size_limit: u64::try_from(cfg.body_size_limit.bytes()).unwrap_or(0),
        })
    }

    fn request(&self, url: &str, timeout: Duration) -> Result<http::Request<Full<Bytes>>> {
        http::Request::get(url)
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
            )
            .body(Full::new(Bytes::new()))
            .map_err(|e| Error::Http {
                url: url.to_string(),
                message: e.to_string(),
            })
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
        let req = self.request(url, timeout)?;
        let resp = self.client.send(req).await.map_err(|e| match e {
            httpclient::Error::Request { url, message, .. } => Error::Http { url, message },
            other => Error::Http {
                url: url.to_string(),
                message: other.to_string(),
            },
        })?;
        let status = resp.status();
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
                url: url.to_string(),
                message: error_chain(&e),
            })?;
            if let Ok(data) = frame.into_data() {
                raw.extend_from_slice(&data);
                if !gzip && self.body_size_limit > 0 && raw.len() as u64 > self.body_size_limit {
                    return Err(Error::BodySizeLimit);
                }
            }
        }
        let body = if gzip { self.gunzip(&raw)? } else { raw };
        Ok(Response { body, content_type })
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
    fn accept_header_prefers_protobuf_with_native_histograms() {
        let cfg = config::Config::load_str(
            "global:\n  scrape_native_histograms: true\nscrape_configs:\n- job_name: j\n",
            "",
        )
        .unwrap();
        assert_eq!(
            accept_header(&cfg.scrape_configs[0]),
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
        );
        // An explicit list is sent as written, protobuf included.
        let cfg = config::Config::load_str(
            "scrape_configs:\n- job_name: j\n  scrape_protocols: [PrometheusText0.0.4, PrometheusProto]\n",
            "",
        )
        .unwrap();
        assert_eq!(
            accept_header(&cfg.scrape_configs[0]),
            "text/plain;version=0.0.4;q=0.6,application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5,*/*;q=0.4"
        );
    }
}
