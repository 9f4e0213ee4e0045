//! The small HTTP/1.1 client remote write and remote read share (hyper-util's pooled client).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode, header};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

use crate::{Error, Result};

/// The `User-Agent` remote requests carry.
pub const USER_AGENT: &str = concat!("Prometheus-rs/", env!("CARGO_PKG_VERSION"));

/// How requests authenticate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// No `Authorization` header.
    #[default]
    None,
    /// HTTP basic auth.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// `Authorization: <scheme> <credentials>` (`authorization` in the config; the scheme is
    /// `Bearer` by default).
    Authorization {
        /// The scheme, for example `Bearer`.
        scheme: String,
        /// The credentials (token).
        credentials: String,
    },
}

impl Auth {
    fn header_value(&self) -> Option<String> {
        match self {
            Auth::None => None,
            Auth::Basic { username, password } => Some(format!(
                "Basic {}",
                base64_encode(format!("{username}:{password}").as_bytes())
            )),
            Auth::Authorization {
                scheme,
                credentials,
            } => Some(format!("{scheme} {credentials}")),
        }
    }
}

/// Standard base64 with padding (basic auth is the only user; not worth a dependency).
fn base64_encode(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What came back from a POST.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: StatusCode,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) body: Bytes,
}

/// A pooled HTTP client bound to one endpoint.
#[derive(Clone)]
pub(crate) struct Endpoint {
    client: Client<HttpConnector, Full<Bytes>>,
    url: String,
    uri: hyper::Uri,
    timeout: Duration,
    headers: Vec<(String, String)>,
    auth: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// A client for `url` (`http://` only: TLS is not supported by this client yet).
    pub(crate) fn new(
        url: &str,
        timeout: Duration,
        headers: Vec<(String, String)>,
        auth: &Auth,
    ) -> Result<Endpoint> {
        let uri: hyper::Uri = url.parse().map_err(|e| Error::InvalidRemoteRequest {
            what: "endpoint URL",
            reason: format!("{url}: {e}"),
        })?;
        if uri.scheme_str() != Some("http") {
            return Err(Error::InvalidRemoteRequest {
                what: "endpoint URL",
                reason: format!(
                    "{url}: only http:// endpoints are supported (TLS is not implemented in the remote storage client)"
                ),
            });
        }
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build_http();
        Ok(Endpoint {
            client,
            url: url.to_owned(),
            uri,
            timeout,
            headers,
            auth: auth.header_value(),
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// POSTs a snappy-compressed protobuf body with the protocol's headers plus `extra`.
    pub(crate) async fn post(&self, body: Vec<u8>, extra: &[(&str, &str)]) -> Result<Response> {
        let mut req = Request::post(self.uri.clone())
            .header(header::CONTENT_ENCODING, "snappy")
            .header(header::CONTENT_TYPE, "application/x-protobuf")
            .header(header::USER_AGENT, USER_AGENT);
        for (name, value) in extra {
            req = req.header(*name, *value);
        }
        for (name, value) in &self.headers {
            req = req.header(name.as_str(), value.as_str());
        }
        if let Some(auth) = &self.auth {
            req = req.header(header::AUTHORIZATION, auth.as_str());
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| self.request_error(e))?;
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| self.request_error(e))?;
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| self.request_error(e))?
                .to_bytes();
            Ok(Response {
                status,
                retry_after,
                body,
            })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(res) => res,
            Err(_) => Err(Error::RemoteRequest {
                url: self.url.clone(),
                reason: format!("timed out after {:?}", self.timeout),
            }),
        }
    }

    fn request_error(&self, e: impl std::fmt::Display) -> Error {
        Error::RemoteRequest {
            url: self.url.clone(),
            reason: e.to_string(),
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
    fn basic_auth_is_base64_of_user_colon_password() {
        let auth = Auth::Basic {
            username: "Aladdin".into(),
            password: "open sesame".into(),
        };
        assert_eq!(
            auth.header_value().as_deref(),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );
        assert_eq!(base64_encode(b"a"), "YQ==");
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_encode(b""), "");
    }

    #[test]
    fn https_is_refused_clearly() {
        let err = Endpoint::new("https://x/api", Duration::from_secs(1), vec![], &Auth::None)
            .unwrap_err();
        assert!(err.to_string().contains("only http://"), "{err}");
    }
}
