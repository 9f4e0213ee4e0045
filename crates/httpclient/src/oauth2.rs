//! `oauth2`: the client credentials grant as golang.org/x/oauth2's `clientcredentials` runs
//! it for Prometheus, and the JWT bearer grant (RFC 7523) as prometheus/common runs it: the
//! token is cached until 10 s before it expires, fetched again when the client secret or
//! key (file) changes, and the token request goes through its own client
//! (`oauth2.tls_config`, `oauth2.proxy_url`, ...).

mod jwt;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};

use crate::auth::{Secret, base64};
use crate::{Error, HttpClient, HttpClientConfig, Result};

/// A token is renewed this long before it expires (x/oauth2's `expiryDelta`).
pub(crate) const EXPIRY_DELTA: Duration = Duration::from_secs(10);

/// At most this much of a token response is read (x/oauth2 reads 1 MiB).
const MAX_RESPONSE: usize = 1 << 20;

/// How the client authenticates to the token endpoint. Unknown at first: the header is
/// tried, then the form parameters, and what worked is kept (x/oauth2's auto-detection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Unknown,
    Header,
    Params,
}

struct Token {
    header: HeaderValue,
    expiry: Option<Instant>,
}

impl Token {
    fn valid(&self, now: Instant) -> bool {
        self.expiry.is_none_or(|e| now + EXPIRY_DELTA < e)
    }
}

/// Which grant the token endpoint is asked for.
enum Grant {
    ClientCredentials,
    /// `grant_type: urn:ietf:params:oauth:grant-type:jwt-bearer`: a JWT signed with the
    /// client certificate key is the assertion.
    JwtBearer(jwt::Assertion),
}

struct State {
    secret: String,
    token: Option<Token>,
    style: Style,
}

/// The token source of one client.
pub(crate) struct OAuth2 {
    grant: Grant,
    client_id: String,
    secret: Secret,
    token_url: String,
    uri: Uri,
    params: BTreeMap<String, String>,
    client: HttpClient,
    state: tokio::sync::Mutex<State>,
}

impl std::fmt::Debug for OAuth2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2")
            .field("client_id", &self.client_id)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

fn oauth2_err(message: String) -> Error {
    Error::OAuth2 { message }
}

impl OAuth2 {
    /// The token source for `cfg`: the JWT bearer grant when `grant_type` says so (its
    /// secret is the client certificate key), else the client credentials grant. Fails for
    /// a secret reference (no secret manager, as in Prometheus) and a bad `token_url` or
    /// `endpoint_params`.
    pub(crate) fn new(cfg: &config::http_config::OAuth2) -> Result<OAuth2> {
        let jwt_bearer = cfg.grant_type == jwt::GRANT_TYPE;
        let secret = if jwt_bearer {
            if !cfg.client_certificate_key_ref.is_empty()
                && cfg.client_certificate_key.is_empty()
                && cfg.client_certificate_key_file.is_empty()
            {
                return Err(Error::SecretRef {
                    what: "client certificate",
                });
            }
            Secret::new(
                cfg.client_certificate_key.expose(),
                "oauth2 client certificate key",
                &cfg.client_certificate_key_file,
            )
        } else {
            if !cfg.client_secret_ref.is_empty()
                && cfg.client_secret.is_empty()
                && cfg.client_secret_file.is_empty()
            {
                return Err(Error::SecretRef {
                    what: "client secret",
                });
            }
            Secret::new(
                cfg.client_secret.expose(),
                "oauth2 client secret",
                &cfg.client_secret_file,
            )
        };
        let uri: Uri = cfg.token_url.parse().map_err(|e| {
            oauth2_err(format!(
                "oauth2: invalid token_url {:?}: {e}",
                cfg.token_url
            ))
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(oauth2_err(format!(
                "oauth2: token_url {:?} is not an http or https URL",
                cfg.token_url
            )));
        }
        let mut params = BTreeMap::new();
        let grant = if jwt_bearer {
            // The scopes travel in the assertion; the grant type and assertion are set
            // at each request, over any endpoint parameter of the same name.
            Grant::JwtBearer(jwt::Assertion::new(cfg))
        } else {
            params.insert("grant_type".to_owned(), "client_credentials".to_owned());
            if !cfg.scopes.is_empty() {
                params.insert("scope".to_owned(), cfg.scopes.join(" "));
            }
            Grant::ClientCredentials
        };
        for (k, v) in &cfg.endpoint_params {
            // grant_type may be overridden, for non-compliant servers.
            if k != "grant_type" && params.contains_key(k) {
                return Err(oauth2_err(format!(
                    "oauth2: cannot overwrite parameter {k:?}"
                )));
            }
            params.insert(k.clone(), v.clone());
        }
        let token_client = HttpClientConfig {
            tls_config: cfg.tls_config.clone(),
            proxy: cfg.proxy.clone(),
            ..HttpClientConfig::default()
        };
        Ok(OAuth2 {
            grant,
            client_id: cfg.client_id.clone(),
            secret,
            token_url: cfg.token_url.clone(),
            uri,
            params,
            client: HttpClient::new(&token_client)?.uncounted(),
            state: tokio::sync::Mutex::new(State {
                secret: String::new(),
                token: None,
                style: Style::Unknown,
            }),
        })
    }

    /// The `Authorization` header for the next request: the cached token while it is valid
    /// and the client secret unchanged, else a new one from the token endpoint. Concurrent
    /// callers wait for one fetch.
    pub(crate) async fn authorization(&self) -> Result<HeaderValue> {
        let secret = self.secret.get()?;
        let mut state = self.state.lock().await;
        if state.secret != secret {
            state.secret = secret.clone();
            state.token = None;
        }
        if let Some(t) = state.token.as_ref().filter(|t| t.valid(Instant::now())) {
            return Ok(t.header.clone());
        }
        if let Grant::JwtBearer(assertion) = &self.grant {
            let token = self.fetch_jwt(assertion, &secret).await?;
            let header = token.header.clone();
            state.token = Some(token);
            return Ok(header);
        }
        let token = match state.style {
            Style::Unknown => match self.fetch(&secret, Style::Header).await {
                Ok(t) => {
                    state.style = Style::Header;
                    t
                }
                Err(_) => {
                    let t = self.fetch(&secret, Style::Params).await?;
                    state.style = Style::Params;
                    t
                }
            },
            style => self.fetch(&secret, style).await?,
        };
        let header = token.header.clone();
        state.token = Some(token);
        Ok(header)
    }

    /// One token request.
    async fn fetch(&self, secret: &str, style: Style) -> Result<Token> {
        let mut params = self.params.clone();
        if style == Style::Params {
            params.insert("client_id".to_owned(), self.client_id.clone());
            if !secret.is_empty() {
                params.insert("client_secret".to_owned(), secret.to_owned());
            }
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        let mut req = Request::post(self.uri.clone()).header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        );
        if style == Style::Header {
            let credentials = format!("{}:{}", query_escape(&self.client_id), query_escape(secret));
            let mut v = HeaderValue::from_str(&format!("Basic {}", base64(credentials.as_bytes())))
                .map_err(|e| oauth2_err(format!("oauth2: client credentials: {e}")))?;
            v.set_sensitive(true);
            req = req.header(http::header::AUTHORIZATION, v);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| oauth2_err(format!("oauth2: token request: {e}")))?;
        self.request_token(req, false).await
    }

    /// One token request of the JWT bearer grant: a fresh assertion signed with `key` (the
    /// PEM client certificate key), no client authentication, a JSON answer.
    async fn fetch_jwt(&self, assertion: &jwt::Assertion, key: &str) -> Result<Token> {
        let mut params = self.params.clone();
        params.insert("grant_type".to_owned(), jwt::GRANT_TYPE.to_owned());
        params.insert(
            "assertion".to_owned(),
            assertion.sign(key, std::time::SystemTime::now())?,
        );
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        let req = Request::post(self.uri.clone())
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| oauth2_err(format!("oauth2: token request: {e}")))?;
        self.request_token(req, true).await
    }

    /// Sends a token request and reads the token from the answer (JSON, or by content
    /// type unless `json_only`).
    async fn request_token(&self, req: Request<Full<Bytes>>, json_only: bool) -> Result<Token> {
        let requested = Instant::now();
        let resp = self
            .client
            .send_without_oauth2(req)
            .await
            .map_err(|e| match e {
                Error::Request { .. } => oauth2_err(format!("oauth2: cannot fetch token: {e}")),
                other => other,
            })?;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| {
                oauth2_err(format!(
                    "oauth2: cannot fetch token from {}: reading the response: {e}",
                    self.token_url
                ))
            })?
            .to_bytes();
        let content_type = if json_only {
            "application/json"
        } else {
            content_type.as_str()
        };
        let fields = parse_response(content_type, &body);
        if !status.is_success() {
            return Err(oauth2_err(self.status_message(status, &fields, &body)));
        }
        if json_only && serde_json::from_slice::<serde_json::Value>(&body).is_err() {
            return Err(oauth2_err(format!(
                "oauth2: cannot fetch token: the answer of {} is not JSON",
                self.token_url
            )));
        }
        let access_token = fields.get("access_token").cloned().unwrap_or_default();
        if access_token.is_empty() {
            return Err(oauth2_err(format!(
                "oauth2: server response missing access_token (token_url {})",
                self.token_url
            )));
        }
        let token_type = match fields.get("token_type").map(String::as_str).unwrap_or("") {
            t if t.is_empty() || t.eq_ignore_ascii_case("bearer") => "Bearer".to_owned(),
            t if t.eq_ignore_ascii_case("mac") => "MAC".to_owned(),
            t if t.eq_ignore_ascii_case("basic") => "Basic".to_owned(),
            t => t.to_owned(),
        };
        let expiry = expiry(requested, fields.get("expires_in").map(String::as_str));
        let mut header =
            HeaderValue::from_str(&format!("{token_type} {access_token}")).map_err(|e| {
                oauth2_err(format!(
                    "oauth2: token from {} is not a valid header value: {e}",
                    self.token_url
                ))
            })?;
        header.set_sensitive(true);
        Ok(Token { header, expiry })
    }

    /// Why a non-2xx answer of the token endpoint failed, naming the endpoint.
    fn status_message(
        &self,
        status: StatusCode,
        fields: &BTreeMap<String, String>,
        body: &[u8],
    ) -> String {
        let mut msg = format!(
            "oauth2: cannot fetch token from {}: {status}",
            self.token_url
        );
        match fields.get("error").filter(|e| !e.is_empty()) {
            Some(code) => {
                msg.push_str(&format!(": {code:?}"));
                for f in ["error_description", "error_uri"] {
                    if let Some(v) = fields.get(f).filter(|v| !v.is_empty()) {
                        msg.push_str(&format!(" {v:?}"));
                    }
                }
            }
            None => {
                let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
                let text = text.trim();
                if !text.is_empty() {
                    msg.push_str(": response: ");
                    msg.push_str(text);
                }
            }
        }
        msg
    }
}

/// When a token fetched at `requested` expires, by the response's `expires_in` seconds:
/// `None` (never) without it or for 0; a negative or unparsable value counts as 0 and a
/// larger one than `i32::MAX` as `i32::MAX`, as x/oauth2 clamps it (so that no answer can
/// overflow the clock).
fn expiry(requested: Instant, expires_in: Option<&str>) -> Option<Instant> {
    let secs = expires_in
        .and_then(|e| e.trim().parse::<i64>().ok())
        .unwrap_or(0)
        .clamp(0, i64::from(i32::MAX));
    if secs == 0 {
        return None;
    }
    let secs = u64::try_from(secs).unwrap_or(0);
    requested.checked_add(Duration::from_secs(secs))
}

/// The string fields of a token response, JSON or form-encoded (by content type, as
/// x/oauth2 decides). Numbers become their decimal text.
fn parse_response(content_type: &str, body: &[u8]) -> BTreeMap<String, String> {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media == "application/x-www-form-urlencoded" || media == "text/plain" {
        return url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    }
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return BTreeMap::new();
    };
    map.into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            serde_json::Value::Number(n) => Some((k, n.to_string())),
            _ => None,
        })
        .collect()
}

/// Go's `url.QueryEscape`, which x/oauth2 applies to the client id and secret before
/// putting them in the basic authentication header.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_as_json_or_form() {
        let f = parse_response(
            "application/json; charset=utf-8",
            br#"{"access_token":"a","token_type":"bearer","expires_in":3600,"scope":["x"]}"#,
        );
        assert_eq!(f["access_token"], "a");
        assert_eq!(f["expires_in"], "3600");
        assert!(!f.contains_key("scope"));
        let f = parse_response(
            "application/x-www-form-urlencoded",
            b"access_token=b%20c&expires_in=60",
        );
        assert_eq!(f["access_token"], "b c");
        assert!(parse_response("application/json", b"not json").is_empty());
    }

    #[test]
    fn expiry_is_clamped_and_never_overflows() {
        let now = Instant::now();
        assert_eq!(expiry(now, None), None);
        assert_eq!(expiry(now, Some("0")), None);
        assert_eq!(expiry(now, Some("soon")), None);
        assert_eq!(expiry(now, Some("-5")), None);
        assert_eq!(
            expiry(now, Some(" 60 ")),
            Some(now + Duration::from_secs(60))
        );
        let max = now.checked_add(Duration::from_secs(u64::from(i32::MAX.unsigned_abs())));
        assert_eq!(expiry(now, Some("9223372036854775807")), max);
        assert_eq!(expiry(now, Some("99999999999999999999999")), None);
    }

    #[test]
    fn query_escape_is_gos() {
        assert_eq!(query_escape("a b+c/d~e"), "a+b%2Bc%2Fd~e");
    }

    #[test]
    fn tokens_expire_early() {
        let now = Instant::now();
        let t = |expiry| Token {
            header: HeaderValue::from_static("Bearer x"),
            expiry,
        };
        assert!(t(None).valid(now));
        assert!(t(Some(now + Duration::from_secs(60))).valid(now));
        assert!(!t(Some(now + Duration::from_secs(5))).valid(now));
    }

    #[test]
    fn secret_references_and_bad_params_fail_at_creation() {
        let mut cfg = config::http_config::OAuth2 {
            client_id: "c".into(),
            token_url: "http://127.0.0.1:1/token".into(),
            grant_type: jwt::GRANT_TYPE.into(),
            client_certificate_key_ref: "k".into(),
            ..Default::default()
        };
        assert_eq!(
            OAuth2::new(&cfg).unwrap_err().to_string(),
            "unable to use client certificate: cannot use secret ref without manager"
        );
        // The other grant's reference is not looked at.
        cfg.grant_type = String::new();
        assert!(OAuth2::new(&cfg).is_ok());
        cfg.client_secret_ref = "s".into();
        assert_eq!(
            OAuth2::new(&cfg).unwrap_err().to_string(),
            "unable to use client secret: cannot use secret ref without manager"
        );
        let mut cfg = config::http_config::OAuth2 {
            client_id: "c".into(),
            token_url: "http://127.0.0.1:1/token".into(),
            scopes: vec!["a".into()],
            ..Default::default()
        };
        cfg.endpoint_params.insert("scope".into(), "b".into());
        assert_eq!(
            OAuth2::new(&cfg).unwrap_err().to_string(),
            "oauth2: cannot overwrite parameter \"scope\""
        );
        cfg.endpoint_params.clear();
        cfg.token_url = "ftp://x/token".into();
        assert!(
            OAuth2::new(&cfg)
                .unwrap_err()
                .to_string()
                .contains("not an http or https URL")
        );
    }
}
