//! [`HttpClient`]: a pooled hyper-util client over rustls that adds the configured
//! authentication and headers to every request and follows redirects like Go's client.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use config::HttpClientConfig;
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::auth::Headers;
use crate::dial::{self, CountingConnector, DialerSlot};
use crate::oauth2::OAuth2;
use crate::proxy::{Connector, Proxy};
use crate::sigv4::{Credentials, Signer};
use crate::{Error, Result, tls};

/// The `User-Agent` of requests that do not set one.
pub const USER_AGENT: &str = concat!("Prometheus/", env!("CARGO_PKG_VERSION"));

/// Redirects followed at most per request, as Go's client does.
pub const MAX_REDIRECTS: usize = 10;

struct Inner {
    client: Client<HttpsConnector<Connector>, Full<Bytes>>,
    /// The dialer its connections count under (`net_conntrack_dialer_*`).
    dialer: DialerSlot,
    headers: Headers,
    oauth2: Option<OAuth2>,
    sigv4: Option<Signer>,
    proxy: Option<Arc<Proxy>>,
    follow_redirects: bool,
}

/// An HTTP client built from one [`HttpClientConfig`] (Go's `config.NewClientFromConfig`).
/// Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("headers", &self.inner.headers)
            .field("oauth2", &self.inner.oauth2)
            .field("sigv4", &self.inner.sigv4)
            .field("follow_redirects", &self.inner.follow_redirects)
            .finish_non_exhaustive()
    }
}

impl Default for HttpClient {
    /// A client with the default options (system CAs, no authentication, redirects
    /// followed).
    fn default() -> Self {
        HttpClient::new(&HttpClientConfig::default())
            .expect("the default HTTP client options name no files and no unsupported option")
    }
}

impl HttpClient {
    /// Builds a client: reads and checks the `tls_config` files now (so a broken file fails
    /// a config load), and checks every other option.
    ///
    /// Secret files (`password_file`, `credentials_file`, header `files`) are read at every
    /// request, as Prometheus does, so their errors surface from [`HttpClient::send`].
    ///
    /// # Errors
    /// [`Error::Unsupported`] naming an option this client does not implement (secret
    /// references, the OAuth 2.0 JWT bearer grant, a `proxy_url` scheme other than http,
    /// https, socks5 and socks5h);
    /// [`Error::Tls`] for unusable TLS settings (of the client or of `oauth2`);
    /// [`Error::InvalidHeader`] for a bad `http_headers` entry; [`Error::OAuth2`] for a bad
    /// `token_url` or `endpoint_params`.
    pub fn new(cfg: &HttpClientConfig) -> Result<HttpClient> {
        HttpClient::build(cfg, None)
    }

    /// A client that also signs every request with AWS Signature Version 4 (`sigv4` of
    /// `remote_write` and `alertmanagers`), after the other headers are set. Credentials
    /// come from `access_key`/`secret_key`, else from the AWS SDK for Go v2's default
    /// chain, as prometheus/sigv4 loads it: the `profile`; `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`; `AWS_WEB_IDENTITY_TOKEN_FILE` with
    /// `AWS_ROLE_ARN` (STS `AssumeRoleWithWebIdentity`, EKS IRSA); the `AWS_PROFILE` (else
    /// `default`) profile of the shared files (static keys, `source_profile`,
    /// `credential_source`, `web_identity_token_file`, SSO with the token `aws sso login`
    /// cached, `credential_process`; under the profile's `role_arn`);
    /// the ECS/EKS container endpoint (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`/`_FULL_URI`,
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)`); the EC2 instance metadata service
    /// (IMDSv2, `AWS_EC2_METADATA_SERVICE_ENDPOINT`, `AWS_EC2_METADATA_DISABLED`).
    /// Credentials other than static keys are fetched now (this call blocks for that
    /// first fetch, on a thread of its own), so that a config without usable credentials
    /// fails to load as in Prometheus; they are renewed 30 s before they expire. The
    /// region comes from `region`, `AWS_REGION`/`AWS_DEFAULT_REGION` or the profile. With
    /// `role_arn`, those credentials sign an STS `AssumeRole` (with `external_id`; at
    /// `sts[-fips].REGION.amazonaws.com`, or `AWS_ENDPOINT_URL_STS`) and the role's
    /// credentials sign the requests; its failures surface from [`HttpClient::send`].
    ///
    /// # Errors
    /// Those of [`HttpClient::new`]; [`Error::SigV4`] when no credentials or region are
    /// found, or the first fetch fails.
    pub fn with_sigv4(
        cfg: &HttpClientConfig,
        sigv4: &config::remote::SigV4Config,
    ) -> Result<HttpClient> {
        HttpClient::build(cfg, Some(Signer::new(sigv4)?))
    }

    /// [`HttpClient::with_sigv4`] for several AWS services under one identity (ECS
    /// discovery asks ECS and EC2): one credentials lookup, one first fetch and one
    /// credentials cache (so `role_arn` is assumed once) shared by one client per entry of
    /// `services`, in order, each signing for its service (`sigv4.service_name` is not
    /// used).
    ///
    /// # Errors
    /// Those of [`HttpClient::with_sigv4`].
    pub fn with_sigv4_services(
        cfg: &HttpClientConfig,
        sigv4: &config::remote::SigV4Config,
        services: &[&str],
    ) -> Result<Vec<HttpClient>> {
        let signer = Signer::new(sigv4)?;
        services
            .iter()
            .map(|service| HttpClient::build(cfg, Some(signer.for_service(service))))
            .collect()
    }

    fn build(cfg: &HttpClientConfig, sigv4: Option<Signer>) -> Result<HttpClient> {
        // TLS first, then authentication, as prometheus/common checks them.
        let tls_cfg = &cfg.tls_config;
        let rustls_cfg = tls::client_config(tls_cfg)?;
        let headers = Headers::new(cfg)?;
        let oauth2 = cfg.oauth2.as_ref().map(OAuth2::new).transpose()?;
        let proxy = Proxy::new(&cfg.proxy)?.map(Arc::new);
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(30)));
        let dialer = dial::slot(dial::DEFAULT_DIALER);
        let http = CountingConnector::new(http, Arc::clone(&dialer));
        let proxy_tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(rustls_cfg.clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http.clone());
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(rustls_cfg)
            .https_or_http();
        let builder = match tls::server_name(tls_cfg)? {
            Some(name) => {
                builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
            }
            None => builder,
        };
        let connector =
            builder
                .enable_http1()
                .wrap_connector(Connector::new(http, proxy_tls, proxy.clone()));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(HttpClient {
            inner: Arc::new(Inner {
                client,
                dialer,
                headers,
                oauth2,
                sigv4,
                proxy,
                follow_redirects: cfg.follow_redirects,
            }),
        })
    }

    /// Names the client's dialer, as the `name` argument of Go's `NewClientFromConfig`
    /// does: its connections are counted in `net_conntrack_dialer_*{dialer_name="NAME"}`
    /// (see [`crate::write_metrics`]) from now on, and the name is listed (at zero) from
    /// now on. A client not named counts under [`crate::DEFAULT_DIALER`]. The name is
    /// the client's and its clones' (they share one connection pool).
    #[must_use]
    pub fn named(self, name: &str) -> HttpClient {
        dial::set(&self.inner.dialer, Some(dial::dialer(name)));
        self
    }

    /// A client whose connections are not counted in `net_conntrack_dialer_*`: for what
    /// Prometheus does outside prometheus/common's HTTP client (OAuth 2.0 token and AWS
    /// credential fetches here; SDK clients, as GCE's or OVHcloud's, in discovery).
    #[must_use]
    pub fn uncounted(self) -> HttpClient {
        dial::set(&self.inner.dialer, None);
        self
    }

    /// Sends `req` with the configured authentication and `http_headers` (and a default
    /// `User-Agent`), following redirects when `follow_redirects` is set: 301, 302 and 303
    /// turn a request other than GET or HEAD into a GET without body, 307 and 308 repeat it.
    /// Without `follow_redirects` a 3xx answer is returned as is. Any status is a response;
    /// only transport failures are errors. Time limits are the caller's (wrap the future in
    /// `tokio::time::timeout`).
    ///
    /// With `oauth2`, a request without an `Authorization` header gets the cached token,
    /// fetched first when there is none or it expires within 10 s. With `sigv4`, every
    /// request (each redirect too) is signed.
    ///
    /// # Errors
    /// [`Error::Request`] when a secret file cannot be read, [`Error::InvalidHeader`] when
    /// its content is not a valid header value, [`Error::SigV4`] when a request cannot be
    /// signed, [`Error::Request`] when the exchange fails, the OAuth 2.0 token cannot be
    /// fetched (the message names the token endpoint) or more than [`MAX_REDIRECTS`]
    /// redirects were followed.
    pub async fn send(&self, mut req: Request<Full<Bytes>>) -> Result<Response<Incoming>> {
        if let Some(oauth2) = &self.inner.oauth2
            && !req.headers().contains_key(http::header::AUTHORIZATION)
        {
            let token = oauth2
                .authorization()
                .await
                .map_err(|e| request_error(req.method(), req.uri(), e.to_string()))?;
            req.headers_mut().insert(http::header::AUTHORIZATION, token);
        }
        self.send_without_oauth2(req).await
    }

    /// [`HttpClient::send`] but for the OAuth 2.0 token (the token requests themselves
    /// go through here, which keeps the futures from containing themselves).
    pub(crate) async fn send_without_oauth2(
        &self,
        req: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>> {
        let creds = match &self.inner.sigv4 {
            Some(signer) => Some(signer.credentials().await.map_err(|e| {
                request_error(
                    req.method(),
                    req.uri(),
                    format!("error retrieving credentials: {e}"),
                )
            })?),
            None => None,
        };
        self.exchange(req, creds.as_ref()).await
    }

    /// Sends `req` with the configured headers, signed with `sigv4` credentials `creds`,
    /// following redirects (STS requests of `sigv4`'s `role_arn` go through here).
    pub(crate) async fn exchange(
        &self,
        req: Request<Full<Bytes>>,
        creds: Option<&Credentials>,
    ) -> Result<Response<Incoming>> {
        let (parts, mut body) = req.into_parts();
        let mut method = parts.method;
        let mut uri = parts.uri;
        let version = parts.version;
        let mut headers = parts.headers;
        // Go's client wraps a round tripper's failure (an unreadable secret file) in the
        // request's `Method "URL": ...`.
        self.inner
            .headers
            .apply(&mut headers)
            .map_err(|e| match e {
                Error::ReadFile { .. } => request_error(&method, &uri, e.to_string()),
                other => other,
            })?;
        if !headers.contains_key(http::header::USER_AGENT) {
            headers.insert(
                http::header::USER_AGENT,
                http::HeaderValue::from_static(USER_AGENT),
            );
        }
        let mut redirects = 0;
        loop {
            let mut req = Request::new(body.clone());
            *req.method_mut() = method.clone();
            *req.uri_mut() = uri.clone();
            *req.version_mut() = version;
            *req.headers_mut() = headers.clone();
            if let (Some(signer), Some(creds)) = (&self.inner.sigv4, creds) {
                let payload = body.clone().collect().await.map_or_else(
                    |never: std::convert::Infallible| match never {},
                    |c| c.to_bytes(),
                );
                let (mut parts, b) = req.into_parts();
                signer.sign(
                    creds,
                    &parts.method,
                    &mut parts.uri,
                    &mut parts.headers,
                    &payload,
                    std::time::SystemTime::now(),
                )?;
                req = Request::from_parts(parts, b);
            }
            self.proxy_authorization(&mut req);
            let resp = self
                .inner
                .client
                .request(req)
                .await
                .map_err(|e| request_error(&method, &uri, send_error_text(&uri, &e)))?;
            let status = resp.status();
            if !self.inner.follow_redirects || !is_followed_redirect(status) {
                return Ok(resp);
            }
            let Some(location) = resp
                .headers()
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
            else {
                return Ok(resp);
            };
            if redirects == MAX_REDIRECTS {
                return Err(request_error(
                    &method,
                    &uri,
                    format!("stopped after {MAX_REDIRECTS} redirects"),
                ));
            }
            redirects += 1;
            uri = resolve_location(&uri, location).map_err(|e| request_error(&method, &uri, e))?;
            if matches!(
                status,
                StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER
            ) && method != Method::GET
                && method != Method::HEAD
            {
                method = Method::GET;
                body = Full::new(Bytes::new());
                for h in [
                    http::header::CONTENT_TYPE,
                    http::header::CONTENT_LENGTH,
                    http::header::CONTENT_ENCODING,
                ] {
                    headers.remove(h);
                }
            }
        }
    }
}

impl HttpClient {
    /// Plain HTTP through a proxy with credentials in its URL carries them in
    /// `Proxy-Authorization` (HTTPS sends them in the CONNECT request instead).
    fn proxy_authorization(&self, req: &mut Request<Full<Bytes>>) {
        if req.uri().scheme_str() != Some("http") {
            return;
        }
        if let Some(auth) = self
            .inner
            .proxy
            .as_ref()
            .and_then(|p| p.intercept(req.uri()))
            .and_then(|i| i.basic_auth().cloned())
        {
            req.headers_mut()
                .insert(http::header::PROXY_AUTHORIZATION, auth);
        }
    }
}

fn is_followed_redirect(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    )
}

/// Go prints the method of a failed request capitalized: `Get "http://…": …`.
fn go_method(method: &Method) -> String {
    let m = method.as_str();
    let mut out = String::with_capacity(m.len());
    for (i, c) in m.chars().enumerate() {
        out.push(if i == 0 { c } else { c.to_ascii_lowercase() });
    }
    out
}

fn request_error(method: &Method, uri: &Uri, message: String) -> Error {
    Error::Request {
        method: go_method(method),
        url: uri.to_string(),
        message,
    }
}

/// `location` resolved against the URL it came from.
fn resolve_location(base: &Uri, location: &str) -> std::result::Result<Uri, String> {
    let base = url::Url::parse(&base.to_string()).map_err(|e| e.to_string())?;
    let next = base
        .join(location)
        .map_err(|e| format!("failed to parse Location header {location:?}: {e}"))?;
    next.as_str()
        .parse()
        .map_err(|e: http::uri::InvalidUri| e.to_string())
}

/// An error with its causes, `: `-separated, as Go prints wrapped errors.
/// What a failed send says: a refused connection in Go's words (`dial tcp HOST:PORT:
/// connect: connection refused`, which operators grep for), anything else as its causes.
fn send_error_text(uri: &Uri, e: &hyper_util::client::legacy::Error) -> String {
    if e.is_connect() && crate::dial::reason(e) == crate::dial::Reason::Refused {
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        let host = uri.host().unwrap_or_default();
        return format!("dial tcp {host}:{port}: connect: connection refused");
    }
    error_chain(e)
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let s_msg = s.to_string();
        if !msg.ends_with(&s_msg) {
            msg.push_str(": ");
            msg.push_str(&s_msg);
        }
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests;
