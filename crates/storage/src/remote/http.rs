//! The endpoint remote write and remote read POST to, over the shared
//! [`httpclient::HttpClient`] (TLS, authentication and `http_headers` from the endpoint's
//! HTTP client options).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode, header};

use crate::{Error, Result};

/// The `User-Agent` remote requests carry.
pub const USER_AGENT: &str = concat!("Prometheus-rs/", env!("CARGO_PKG_VERSION"));

/// What came back from a POST.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: StatusCode,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) headers: hyper::HeaderMap,
    pub(crate) body: Bytes,
}

/// One endpoint: its URL, the client, the protocol's extra headers and the timeout.
#[derive(Clone)]
pub(crate) struct Endpoint {
    client: httpclient::HttpClient,
    url: String,
    uri: hyper::Uri,
    timeout: Duration,
    headers: Vec<(String, String)>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint at `url` (`http://` or `https://`).
    pub(crate) fn new(
        url: &str,
        timeout: Duration,
        headers: Vec<(String, String)>,
        client: httpclient::HttpClient,
    ) -> Result<Endpoint> {
        let uri: hyper::Uri = url.parse().map_err(|e| Error::InvalidRemoteRequest {
            what: "endpoint URL",
            reason: format!("{url}: {e}"),
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(Error::InvalidRemoteRequest {
                what: "endpoint URL",
                reason: format!("{url}: only http:// and https:// endpoints are supported"),
            });
        }
        Ok(Endpoint {
            client,
            url: url.to_owned(),
            uri,
            timeout,
            headers,
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// POSTs a snappy-compressed protobuf body with the protocol's headers plus `extra`
    /// (which may replace the `Content-Type`, `application/x-protobuf` by default).
    pub(crate) async fn post(&self, body: Vec<u8>, extra: &[(&str, &str)]) -> Result<Response> {
        let mut req = Request::post(self.uri.clone())
            .header(header::CONTENT_ENCODING, "snappy")
            .header(header::USER_AGENT, USER_AGENT);
        if !extra
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(header::CONTENT_TYPE.as_str()))
        {
            req = req.header(header::CONTENT_TYPE, "application/x-protobuf");
        }
        for (name, value) in extra {
            req = req.header(*name, *value);
        }
        for (name, value) in &self.headers {
            req = req.header(name.as_str(), value.as_str());
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| self.request_error(e.to_string()))?;
        let exchange = async {
            // Go's client error text (`Post "URL": dial tcp ...`), as Prometheus logs it.
            let resp = self
                .client
                .send(req)
                .await
                .map_err(|e| self.request_error(e.to_string()))?;
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let headers = resp.headers().clone();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| self.request_error(e.to_string()))?
                .to_bytes();
            Ok(Response {
                status,
                retry_after,
                headers,
                body,
            })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(res) => res,
            Err(_) => Err(self.request_error(format!("timed out after {:?}", self.timeout))),
        }
    }

    fn request_error(&self, reason: String) -> Error {
        Error::RemoteRequest {
            url: self.url.clone(),
            reason,
        }
    }

    /// The error for a non-2xx answer, with the start of its body as Prometheus logs it.
    pub(crate) fn status_error(&self, resp: &Response) -> Error {
        let body = String::from_utf8_lossy(&resp.body[..resp.body.len().min(512)])
            .trim()
            .to_owned();
        Error::RemoteStatus {
            url: self.url.clone(),
            status: resp.status.as_u16(),
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_endpoints() {
        let client = httpclient::HttpClient::default();
        let err = Endpoint::new(
            "ftp://x/api",
            Duration::from_secs(1),
            vec![],
            client.clone(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("only http:// and https://"),
            "{err}"
        );
        Endpoint::new("https://x/api", Duration::from_secs(1), vec![], client).unwrap();
    }
}
