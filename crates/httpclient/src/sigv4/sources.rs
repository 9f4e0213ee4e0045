//! Where `sigv4` credentials come from and how they are fetched, as the AWS SDK for Go v2
//! fetches them: static keys, STS `AssumeRole` and `AssumeRoleWithWebIdentity`, the ECS/EKS
//! container credentials endpoint, the EC2 instance metadata service (IMDSv2, falling back
//! to v1), IAM Identity Center (SSO) with the token `aws sso login` cached, and a
//! `credential_process`; [`Cached`] keeps them until 30 s before they expire.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};

use super::{Credentials, EXPIRY_WINDOW, sign_request, sigv4_err};
use crate::{Error, HttpClient, HttpClientConfig, Result};

/// Credentials and when they expire (`None`: never).
pub(crate) type Expiring = (Credentials, Option<SystemTime>);

/// At most this much of an answer (STS, container endpoint, IMDS) is read.
const MAX_RESPONSE: usize = 1 << 20;

/// How long one request to the instance metadata service may take (it answers locally; the
/// SDK gives it about as long).
const IMDS_TIMEOUT: Duration = Duration::from_secs(1);

/// Attempts per instance metadata request (the SDK's retryer makes three).
const IMDS_ATTEMPTS: usize = 3;

/// How long one request to the container credentials endpoint or STS may take.
const REMOTE_TIMEOUT: Duration = Duration::from_secs(30);

/// The lifetime asked of an IMDSv2 session token (the SDK's: 6 hours).
const IMDS_TOKEN_TTL: &str = "21600";

/// One source of credentials.
pub(crate) enum Source {
    /// Keys that never change (config, environment, shared files).
    Static(Credentials),
    /// STS `AssumeRole` signed with other credentials (`role_arn`).
    AssumeRole(Box<AssumeRole>),
    /// STS `AssumeRoleWithWebIdentity` with a token file (EKS IRSA).
    WebIdentity(WebIdentity),
    /// The ECS/EKS container credentials endpoint.
    Container(Container),
    /// The EC2 instance metadata service.
    Imds(Imds),
    /// IAM Identity Center (SSO) role credentials.
    Sso(Sso),
    /// A profile's `credential_process`.
    Process(Process),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Static(c) => f
                .debug_tuple("Static")
                .field(&c.access_key)
                .finish_non_exhaustive(),
            Source::AssumeRole(a) => f
                .debug_struct("AssumeRole")
                .field("role_arn", &a.role_arn)
                .field("endpoint", &a.endpoint.to_string())
                .field("base", &a.base.source)
                .finish_non_exhaustive(),
            Source::WebIdentity(w) => f
                .debug_struct("WebIdentity")
                .field("token_file", &w.token_file)
                .field("role_arn", &w.role_arn)
                .field("endpoint", &w.endpoint.to_string())
                .finish_non_exhaustive(),
            Source::Container(c) => f
                .debug_struct("Container")
                .field("uri", &c.uri.to_string())
                .finish_non_exhaustive(),
            Source::Imds(i) => f
                .debug_struct("Imds")
                .field("endpoint", &i.endpoint)
                .field("disabled", &i.disabled)
                .finish(),
            Source::Sso(s) => f
                .debug_struct("Sso")
                .field("cache_file", &s.cache_file)
                .field("account_id", &s.account_id)
                .field("role_name", &s.role_name)
                .field("portal", &s.portal)
                .field("refreshable", &s.oidc.is_some())
                .finish(),
            Source::Process(p) => f
                .debug_struct("Process")
                .field("command", &p.command)
                .finish(),
        }
    }
}

type Fetch<'a> = Pin<Box<dyn Future<Output = Result<Expiring>> + Send + 'a>>;

impl Source {
    /// Whether the credentials are known without asking anyone.
    pub(crate) fn is_static(&self) -> bool {
        matches!(self, Source::Static(_))
    }

    /// Fetches credentials now.
    pub(crate) fn fetch(&self) -> Fetch<'_> {
        Box::pin(async move {
            match self {
                Source::Static(c) => Ok((c.clone(), None)),
                Source::AssumeRole(a) => a.fetch().await,
                Source::WebIdentity(w) => w.fetch().await,
                Source::Container(c) => c.fetch().await,
                Source::Imds(i) => i.fetch().await,
                Source::Sso(s) => s.fetch().await,
                Source::Process(p) => p.fetch().await,
            }
        })
    }
}

/// A source whose credentials are kept until 30 s before they expire (prometheus/sigv4's
/// credential cache window); concurrent callers wait for one fetch.
pub(crate) struct Cached {
    pub(crate) source: Source,
    slot: tokio::sync::Mutex<Option<Expiring>>,
}

impl Cached {
    pub(crate) fn new(source: Source) -> Cached {
        Cached {
            source,
            slot: tokio::sync::Mutex::new(None),
        }
    }

    /// A cache already holding `first` (fetched when the signer was created).
    pub(crate) fn seeded(source: Source, first: Expiring) -> Cached {
        Cached {
            source,
            slot: tokio::sync::Mutex::new(Some(first)),
        }
    }

    /// The credentials to sign with now.
    pub(crate) async fn get(&self) -> Result<Credentials> {
        let mut slot = self.slot.lock().await;
        if let Some((c, expiry)) = slot.as_ref()
            && expiry.is_none_or(|e| SystemTime::now() + EXPIRY_WINDOW < e)
        {
            return Ok(c.clone());
        }
        let fresh = self.source.fetch().await?;
        let creds = fresh.0.clone();
        *slot = Some(fresh);
        Ok(creds)
    }
}

/// A client for one credential request: fresh each time, so that no pooled connection
/// outlives the runtime it was made on (the first fetch runs on a runtime of its own).
fn fetch_client() -> Result<HttpClient> {
    HttpClient::new(&HttpClientConfig::default()).map(HttpClient::uncounted)
}

/// Sends `req` within `limit`; transport failures and the time limit are `Err(message)`.
async fn exchange(
    req: Request<Full<Bytes>>,
    limit: Duration,
) -> std::result::Result<(StatusCode, String), String> {
    let client = fetch_client().map_err(|e| e.to_string())?;
    let resp = match tokio::time::timeout(limit, client.send(req)).await {
        Ok(r) => r.map_err(|e| e.to_string())?,
        Err(_) => return Err(format!("no answer within {limit:?}")),
    };
    let status = resp.status();
    let body = tokio::time::timeout(
        limit,
        http_body_util::Limited::new(resp.into_body(), MAX_RESPONSE).collect(),
    )
    .await
    .map_err(|_| format!("no complete answer within {limit:?}"))?
    .map_err(|e| format!("reading the response: {e}"))?
    .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The first 512 characters of an answer, for error messages.
fn snippet(text: &str) -> String {
    text.trim().chars().take(512).collect()
}

/// The text of the first `<name>...</name>` element (STS answers are flat enough for
/// this), with XML's predefined entities decoded.
pub(crate) fn xml_text(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(
        xml[start..end]
            .trim()
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// Posts an STS query-API form to `endpoint` (signed with `signed` as `(credentials,
/// region)`, anonymous without) and reads the `Credentials` of the answer; `err` words
/// failures.
async fn sts_credentials(
    endpoint: &Uri,
    form: Vec<(&str, &str)>,
    signed: Option<(&Credentials, &str)>,
    err: &(dyn Fn(String) -> Error + Sync),
) -> Result<Expiring> {
    let now = SystemTime::now();
    let body = Bytes::from(
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish(),
    );
    let mut uri = endpoint.clone();
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
    );
    if let Some((creds, region)) = signed {
        sign_request(
            creds,
            region,
            "sts",
            &Method::POST,
            &mut uri,
            &mut headers,
            &body,
            now,
        )?;
    }
    let mut req = Request::new(Full::new(body));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    let (status, text) = exchange(req, REMOTE_TIMEOUT).await.map_err(err)?;
    if !status.is_success() {
        let detail = match (xml_text(&text, "Code"), xml_text(&text, "Message")) {
            (Some(code), Some(msg)) => format!("{code}: {msg}"),
            (Some(code), None) => code,
            _ => snippet(&text),
        };
        return Err(err(format!("{status}: {detail}")));
    }
    let field =
        |name: &str| xml_text(&text, name).ok_or_else(|| err(format!("no {name} in the response")));
    let creds = Credentials {
        access_key: field("AccessKeyId")?,
        secret_key: field("SecretAccessKey")?,
        session_token: field("SessionToken")?,
    };
    let expiration = field("Expiration")?;
    let expiry =
        parse_rfc3339(&expiration).ok_or_else(|| err(format!("bad Expiration {expiration:?}")))?;
    Ok((creds, Some(expiry)))
}

/// A role session name unique enough: the SDK's, the time in nanoseconds.
fn session_name(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    )
}

/// `role_arn`: credentials of an assumed role, from STS `AssumeRole` signed with the base
/// credentials.
pub(crate) struct AssumeRole {
    pub(crate) base: Cached,
    pub(crate) role_arn: String,
    pub(crate) external_id: String,
    /// The session name; a generated one when empty.
    pub(crate) session_name: String,
    pub(crate) endpoint: Uri,
    pub(crate) region: String,
}

impl AssumeRole {
    async fn fetch(&self) -> Result<Expiring> {
        let err = |what: String| {
            sigv4_err(format!(
                "could not assume role {} through STS at {}: {what}",
                self.role_arn, self.endpoint
            ))
        };
        let base = self.base.get().await.map_err(|e| err(e.to_string()))?;
        let session = if self.session_name.is_empty() {
            session_name("prometheus-")
        } else {
            self.session_name.clone()
        };
        let mut form = vec![
            ("Action", "AssumeRole"),
            ("RoleArn", self.role_arn.as_str()),
            ("RoleSessionName", session.as_str()),
            ("Version", "2011-06-15"),
        ];
        if !self.external_id.is_empty() {
            form.push(("ExternalId", self.external_id.as_str()));
        }
        sts_credentials(&self.endpoint, form, Some((&base, &self.region)), &err).await
    }
}

/// STS `AssumeRoleWithWebIdentity` with the token in `token_file`, read at every fetch
/// (Kubernetes rotates it): `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN`, or a profile's
/// `web_identity_token_file` and `role_arn`.
pub(crate) struct WebIdentity {
    pub(crate) token_file: String,
    pub(crate) role_arn: String,
    /// The session name; the time in nanoseconds when empty, as the SDK names it.
    pub(crate) session_name: String,
    pub(crate) endpoint: Uri,
}

impl WebIdentity {
    async fn fetch(&self) -> Result<Expiring> {
        let err = |what: String| {
            sigv4_err(format!(
                "could not assume role {} with web identity through STS at {}: {what}",
                self.role_arn, self.endpoint
            ))
        };
        let token = std::fs::read_to_string(&self.token_file).map_err(|e| {
            err(format!(
                "failed to retrieve jwt from provide source, unable to read file at {}: {e}",
                self.token_file
            ))
        })?;
        let session = if self.session_name.is_empty() {
            session_name("")
        } else {
            self.session_name.clone()
        };
        let form = vec![
            ("Action", "AssumeRoleWithWebIdentity"),
            ("RoleArn", self.role_arn.as_str()),
            ("RoleSessionName", session.as_str()),
            ("Version", "2011-06-15"),
            ("WebIdentityToken", token.trim()),
        ];
        sts_credentials(&self.endpoint, form, None, &err).await
    }
}

/// Where the container endpoint's authorization token comes from.
pub(crate) enum ContainerToken {
    None,
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
    Inline(String),
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, read at every fetch (EKS Pod Identity
    /// rotates it).
    File(String),
}

/// The ECS/EKS container credentials endpoint (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or
/// `_FULL_URI`).
pub(crate) struct Container {
    pub(crate) uri: Uri,
    pub(crate) token: ContainerToken,
}

/// The JSON credentials the container endpoint and IMDS answer with.
fn json_credentials(
    text: &str,
    err: &dyn Fn(String) -> Error,
) -> Result<(serde_json::Map<String, serde_json::Value>, Expiring)> {
    let Ok(serde_json::Value::Object(doc)) = serde_json::from_str::<serde_json::Value>(text) else {
        return Err(err(format!(
            "the answer is not a JSON object: {}",
            snippet(text)
        )));
    };
    let field = |name: &str| doc.get(name).and_then(|v| v.as_str()).unwrap_or("");
    let (access_key, secret_key) = (field("AccessKeyId"), field("SecretAccessKey"));
    if access_key.is_empty() || secret_key.is_empty() {
        return Err(err("no AccessKeyId or SecretAccessKey in the answer".into()));
    }
    let expiration = field("Expiration");
    let expiry = if expiration.is_empty() {
        None
    } else {
        Some(
            parse_rfc3339(expiration)
                .ok_or_else(|| err(format!("bad Expiration {expiration:?}")))?,
        )
    };
    let creds = Credentials {
        access_key: access_key.to_owned(),
        secret_key: secret_key.to_owned(),
        session_token: field("Token").to_owned(),
    };
    Ok((doc, (creds, expiry)))
}

impl Container {
    async fn fetch(&self) -> Result<Expiring> {
        let err = |what: String| {
            sigv4_err(format!(
                "failed to load credentials from the container endpoint {}: {what}",
                self.uri
            ))
        };
        let token = match &self.token {
            ContainerToken::None => None,
            ContainerToken::Inline(t) => Some(t.clone()),
            ContainerToken::File(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| {
                        err(format!(
                            "unable to read the authorization token file {path}: {e}"
                        ))
                    })?
                    .trim()
                    .to_owned(),
            ),
        };
        let mut req =
            Request::get(self.uri.clone()).header(http::header::ACCEPT, "application/json");
        if let Some(token) = token {
            if token.contains("\r\n") {
                return Err(err(
                    "authorization token contains invalid newline sequence".into()
                ));
            }
            let mut v = HeaderValue::from_str(&token)
                .map_err(|e| err(format!("authorization token: {e}")))?;
            v.set_sensitive(true);
            req = req.header(http::header::AUTHORIZATION, v);
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|e| err(e.to_string()))?;
        let (status, text) = exchange(req, REMOTE_TIMEOUT).await.map_err(err)?;
        if !status.is_success() {
            let detail = match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Object(o)) => {
                    let s = |k: &str| o.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
                    format!("{}: {}", s("code"), s("message"))
                }
                _ => snippet(&text),
            };
            return Err(err(format!("{status}: {detail}")));
        }
        json_credentials(&text, &err).map(|(_, c)| c)
    }
}

/// The EC2 instance metadata service: an IMDSv2 session token (IMDSv1 when the token API
/// answers 403, 404 or 405), the instance profile's role name, then its credentials.
pub(crate) struct Imds {
    /// Scheme and authority, no trailing slash: `http://169.254.169.254`, or
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
    pub(crate) endpoint: String,
    /// `AWS_EC2_METADATA_DISABLED=true`.
    pub(crate) disabled: bool,
}

impl Imds {
    /// One metadata request, attempted up to three times on transport failures and 5xx.
    async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&'static str, &str)],
    ) -> std::result::Result<(StatusCode, String), String> {
        let uri = format!("{}{path}", self.endpoint);
        let mut last = String::new();
        for _ in 0..IMDS_ATTEMPTS {
            let mut req = Request::builder().method(method.clone()).uri(&uri);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let req = req
                .body(Full::new(Bytes::new()))
                .map_err(|e| format!("{uri}: {e}"))?;
            match exchange(req, IMDS_TIMEOUT).await {
                Ok((status, text)) if !status.is_server_error() => return Ok((status, text)),
                Ok((status, text)) => last = format!("{status}: {}", snippet(&text)),
                Err(e) => last = e,
            }
        }
        Err(format!("{} {uri}: {last}", method.as_str()))
    }

    /// An IMDSv2 session token, `None` when the service only speaks IMDSv1 (the token
    /// API answers 403, 404 or 405); an error when access is disabled.
    async fn token(&self) -> std::result::Result<Option<String>, String> {
        if self.disabled {
            return Err("access disabled to EC2 IMDS via client option, or \"AWS_EC2_METADATA_DISABLED\" environment variable".into());
        }
        let (status, token) = self
            .request(
                Method::PUT,
                "/latest/api/token",
                &[("x-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL)],
            )
            .await?;
        match status {
            s if s.is_success() => Ok(Some(token.trim().to_owned())),
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => {
                Ok(None)
            }
            s => Err(format!(
                "the token request failed: {s}: {}",
                snippet(&token)
            )),
        }
    }

    /// The instance's region (`placement/region`), as the SDK's IMDS `GetRegion` asks
    /// it; empty when the service answers with nothing.
    ///
    /// # Errors
    /// Access disabled, no answer, or an unsuccessful one, worded as the SDK words them
    /// (`operation error ec2imds: GetRegion, ...`).
    pub(crate) async fn region(&self) -> Result<String> {
        let err = |what: String| sigv4_err(format!("operation error ec2imds: GetRegion, {what}"));
        let token = self.token().await.map_err(err)?;
        let headers: Vec<(&'static str, &str)> = token
            .as_deref()
            .map(|t| ("x-aws-ec2-metadata-token", t))
            .into_iter()
            .collect();
        let (status, text) = self
            .request(Method::GET, "/latest/meta-data/placement/region", &headers)
            .await
            .map_err(err)?;
        if !status.is_success() {
            return Err(err(format!(
                "http response error StatusCode: {}, request to EC2 IMDS failed: {}",
                status.as_u16(),
                snippet(&text)
            )));
        }
        Ok(text.trim().to_owned())
    }

    async fn fetch(&self) -> Result<Expiring> {
        let err = |what: String| sigv4_err(format!("no EC2 IMDS role found, {what}"));
        let token = self.token().await.map_err(err)?;
        let headers: Vec<(&'static str, &str)> = token
            .as_deref()
            .map(|t| ("x-aws-ec2-metadata-token", t))
            .into_iter()
            .collect();
        const CREDENTIALS_PATH: &str = "/latest/meta-data/iam/security-credentials/";
        let (status, roles) = self
            .request(Method::GET, CREDENTIALS_PATH, &headers)
            .await
            .map_err(err)?;
        if !status.is_success() {
            return Err(err(format!(
                "the instance has no instance profile: {status}: {}",
                snippet(&roles)
            )));
        }
        let Some(role) = roles.lines().map(str::trim).find(|l| !l.is_empty()) else {
            return Err(err("the instance profile lists no role".into()));
        };
        let role_err = |what: String| {
            sigv4_err(format!(
                "failed to get {role} EC2 IMDS role credentials, {what}"
            ))
        };
        let (status, text) = self
            .request(Method::GET, &format!("{CREDENTIALS_PATH}{role}"), &headers)
            .await
            .map_err(role_err)?;
        if !status.is_success() {
            return Err(role_err(format!("{status}: {}", snippet(&text))));
        }
        let (doc, creds) = json_credentials(&text, &role_err)?;
        match doc.get("Code").and_then(|c| c.as_str()) {
            None | Some("Success") => Ok(creds),
            Some(code) => Err(role_err(format!(
                "{code}: {}",
                doc.get("Message").and_then(|m| m.as_str()).unwrap_or("")
            ))),
        }
    }
}

/// IAM Identity Center (SSO): the access token `aws sso login` cached in
/// `~/.aws/sso/cache/<sha1>.json` (renewed through the OIDC `CreateToken` refresh grant
/// within 5 minutes of expiry for an `sso_session`, and written back), exchanged for role
/// credentials at the portal's `GetRoleCredentials`.
pub(crate) struct Sso {
    pub(crate) cache_file: String,
    pub(crate) account_id: String,
    pub(crate) role_name: String,
    /// `https://portal.sso.REGION.amazonaws.com`, or `AWS_ENDPOINT_URL_SSO`.
    pub(crate) portal: String,
    /// The OIDC endpoint tokens are refreshed at (`sso_session` profiles only; legacy
    /// profiles' tokens cannot be refreshed).
    pub(crate) oidc: Option<String>,
}

/// How long before its expiry an SSO token is refreshed (the SDK's window).
const SSO_REFRESH_WINDOW: Duration = Duration::from_secs(300);

/// RFC 3339 in UTC, as the SDK writes `expiresAt`.
fn format_rfc3339(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (amz, _) = super::amz_timestamp(i64::try_from(secs).unwrap_or(i64::MAX));
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &amz[0..4],
        &amz[4..6],
        &amz[6..8],
        &amz[9..11],
        &amz[11..13],
        &amz[13..15]
    )
}

impl Sso {
    /// The cached access token, refreshed first when it is about to expire and can be.
    async fn access_token(&self, err: &(dyn Fn(String) -> Error + Sync)) -> Result<String> {
        let text = std::fs::read_to_string(&self.cache_file).map_err(|e| {
            err(format!(
                "failed to read cached SSO token file {}: {e} (run aws sso login)",
                self.cache_file
            ))
        })?;
        let Ok(serde_json::Value::Object(mut token)) = serde_json::from_str(&text) else {
            return Err(err(format!(
                "the cached SSO token file {} is not a JSON object",
                self.cache_file
            )));
        };
        let field = |t: &serde_json::Map<String, serde_json::Value>, k: &str| {
            t.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned()
        };
        let expires_at = field(&token, "expiresAt");
        let expiry = parse_rfc3339(&expires_at).ok_or_else(|| {
            err(format!(
                "the cached SSO token file {} has no valid expiresAt",
                self.cache_file
            ))
        })?;
        let now = SystemTime::now();
        let mut access_token = field(&token, "accessToken");
        let mut expiry = Some(expiry).filter(|_| !access_token.is_empty());
        if let Some(oidc) = &self.oidc
            && expiry.is_none_or(|e| now + SSO_REFRESH_WINDOW >= e)
            && !field(&token, "refreshToken").is_empty()
        {
            let body = serde_json::json!({
                "clientId": field(&token, "clientId"),
                "clientSecret": field(&token, "clientSecret"),
                "grantType": "refresh_token",
                "refreshToken": field(&token, "refreshToken"),
            })
            .to_string();
            let req = Request::post(format!("{oidc}/token"))
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| err(e.to_string()))?;
            let refreshed = match exchange(req, REMOTE_TIMEOUT).await {
                Ok((status, text)) if status.is_success() => {
                    serde_json::from_str::<serde_json::Value>(&text).ok()
                }
                _ => None,
            };
            // A failed refresh leaves a still valid token in use (the SDK's behaviour).
            if let Some(new) = refreshed
                && let Some(t) = new.get("accessToken").and_then(|v| v.as_str())
                && let Some(secs) = new.get("expiresIn").and_then(serde_json::Value::as_u64)
            {
                let new_expiry = now + Duration::from_secs(secs.min(u64::from(u32::MAX)));
                access_token = t.to_owned();
                expiry = Some(new_expiry);
                token.insert("accessToken".into(), t.into());
                token.insert("expiresAt".into(), format_rfc3339(new_expiry).into());
                if let Some(r) = new.get("refreshToken").and_then(|v| v.as_str()) {
                    token.insert("refreshToken".into(), r.into());
                }
                let text = serde_json::Value::Object(token).to_string();
                std::fs::write(&self.cache_file, text).map_err(|e| {
                    err(format!(
                        "unable to write the refreshed SSO token to {}: {e}",
                        self.cache_file
                    ))
                })?;
            }
        }
        match expiry {
            Some(e) if now < e => Ok(access_token),
            _ => Err(err(
                "the SSO session has expired or is invalid (run aws sso login)".into(),
            )),
        }
    }

    async fn fetch(&self) -> Result<Expiring> {
        let err = |what: String| {
            sigv4_err(format!(
                "failed to get SSO role credentials for role {} of account {}: {what}",
                self.role_name, self.account_id
            ))
        };
        let token = self.access_token(&err).await?;
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("account_id", &self.account_id)
            .append_pair("role_name", &self.role_name)
            .finish();
        let mut bearer =
            HeaderValue::from_str(&token).map_err(|e| err(format!("access token: {e}")))?;
        bearer.set_sensitive(true);
        let req = Request::get(format!("{}/federation/credentials?{query}", self.portal))
            .header("x-amz-sso_bearer_token", bearer)
            .body(Full::new(Bytes::new()))
            .map_err(|e| err(e.to_string()))?;
        let (status, text) = exchange(req, REMOTE_TIMEOUT).await.map_err(err)?;
        let doc = serde_json::from_str::<serde_json::Value>(&text).ok();
        if !status.is_success() {
            let message = doc
                .as_ref()
                .and_then(|d| d.get("message").or_else(|| d.get("Message")))
                .and_then(|m| m.as_str())
                .map_or_else(|| snippet(&text), str::to_owned);
            return Err(err(format!("{status}: {message}")));
        }
        let role = doc
            .as_ref()
            .and_then(|d| d.get("roleCredentials"))
            .ok_or_else(|| err("no roleCredentials in the answer".into()))?;
        let field = |k: &str| {
            role.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        let creds = Credentials {
            access_key: field("accessKeyId"),
            secret_key: field("secretAccessKey"),
            session_token: field("sessionToken"),
        };
        if creds.access_key.is_empty() || creds.secret_key.is_empty() {
            return Err(err("no accessKeyId or secretAccessKey in the answer".into()));
        }
        let expiry = role
            .get("expiration")
            .and_then(serde_json::Value::as_u64)
            .and_then(|ms| UNIX_EPOCH.checked_add(Duration::from_millis(ms)));
        Ok((creds, expiry))
    }
}

/// A profile's `credential_process`: a command run through the shell that prints
/// `{"Version": 1, "AccessKeyId": ..., "SecretAccessKey": ..., "SessionToken": ...,
/// "Expiration": ...}`.
pub(crate) struct Process {
    pub(crate) command: String,
}

/// How long a `credential_process` may run (the SDK's limit).
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

impl Process {
    async fn fetch(&self) -> Result<Expiring> {
        let err = |what: String| {
            sigv4_err(format!(
                "error in credential_process {:?}: {what}",
                self.command
            ))
        };
        let command = self.command.clone();
        let run = tokio::task::spawn_blocking(move || {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(&command)
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::inherit())
                .output()
        });
        let output = match tokio::time::timeout(PROCESS_TIMEOUT, run).await {
            Err(_) => return Err(err(format!("no answer within {PROCESS_TIMEOUT:?}"))),
            Ok(Err(e)) => return Err(err(format!("the command did not finish: {e}"))),
            Ok(Ok(Err(e))) => return Err(err(format!("cannot run it: {e}"))),
            Ok(Ok(Ok(o))) => o,
        };
        if !output.status.success() {
            return Err(err(format!("the command failed: {}", output.status)));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let (doc, creds) = json_credentials(&text, &err)?;
        if doc.get("Version").and_then(serde_json::Value::as_u64) != Some(1) {
            return Err(err(
                "the command printed an unsupported Version (only 1 is)".into(),
            ));
        }
        let (mut c, expiry) = creds;
        c.session_token = doc
            .get("SessionToken")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        Ok((c, expiry))
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` as a time; `None` for anything else, including years
/// outside 0000 to 9999 (so that no answer can overflow the arithmetic).
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let digits = |p: &str| -> Option<i64> {
        (!p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse().ok())?
    };
    let mut d = date.splitn(3, '-').map(digits);
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.split('.').next()?;
    let mut t = time.splitn(3, ':').map(digits);
    let (h, min, sec) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 || sec > 60 {
        return None;
    }
    // Howard Hinnant's days-from-civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + h * 3600 + min * 60 + sec).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Runs `fut` to completion on a runtime of its own, on a thread of its own, so that a
/// caller inside (or outside) any runtime can wait for it (the first fetch of credentials
/// when a signer is created, as prometheus/sigv4 fetches them at config load).
pub(crate) fn block_on<T: Send>(fut: impl Future<Output = Result<T>> + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| {
                    sigv4_err(format!("cannot start a runtime to fetch credentials: {e}"))
                })?
                .block_on(fut)
        })
        .join()
        .unwrap_or_else(|_| Err(sigv4_err("the credentials fetch panicked")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sts_answers_parse() {
        let xml = "<AssumeRoleResponse><AssumeRoleResult><Credentials>\n<AccessKeyId>ASIA</AccessKeyId><SecretAccessKey>s&amp;k</SecretAccessKey></Credentials></AssumeRoleResult></AssumeRoleResponse>";
        assert_eq!(xml_text(xml, "AccessKeyId").as_deref(), Some("ASIA"));
        assert_eq!(xml_text(xml, "SecretAccessKey").as_deref(), Some("s&k"));
        assert_eq!(xml_text(xml, "SessionToken"), None);
        let at = |secs| Some(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(parse_rfc3339("2015-08-30T12:36:00Z"), at(1_440_938_160));
        assert_eq!(
            parse_rfc3339("2024-02-29T01:01:01.250Z"),
            at(1_709_164_800 + 3661)
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), at(0));
        assert_eq!(parse_rfc3339("2015-13-30T12:36:00Z"), None);
        assert_eq!(parse_rfc3339("2015-08-30 12:36:00"), None);
        assert_eq!(parse_rfc3339("9999-12-31T23:59:60Z"), at(253_402_300_800));
        for garbage in [
            "-9223372036854775808-01-01T00:00:00Z",
            "9223372036854775807-12-31T23:59:59Z",
            "99999-01-01T00:00:00Z",
            "2015-08-30T-1:00:00Z",
            "2015-+8-30T12:36:00Z",
            "2015-08-30T12:36Z",
            "2015-08-30TZ",
            "T:Z",
            "",
            "Z",
        ] {
            assert_eq!(parse_rfc3339(garbage), None, "{garbage:?}");
        }
        // Dates before 1970 are not representable as credentials' expiry.
        assert_eq!(parse_rfc3339("0000-01-01T00:00:00Z"), None);
        assert_eq!(xml_text("<Code>x", "Code"), None);
        assert_eq!(xml_text("</Code><Code>", "Code"), None);
        assert_eq!(
            xml_text("<Code>\u{e9}</Code>", "Code").as_deref(),
            Some("\u{e9}")
        );
    }

    #[test]
    fn json_credentials_need_keys_and_a_sane_expiration() {
        let err = |m: String| sigv4_err(m);
        let (_, (c, exp)) = json_credentials(
            r#"{"AccessKeyId":"A","SecretAccessKey":"S","Token":"T","Expiration":"2015-08-30T12:36:00Z"}"#,
            &err,
        )
        .unwrap();
        assert_eq!(
            (c.access_key.as_str(), c.session_token.as_str()),
            ("A", "T")
        );
        assert_eq!(exp, Some(UNIX_EPOCH + Duration::from_secs(1_440_938_160)));
        let (_, (_, exp)) =
            json_credentials(r#"{"AccessKeyId":"A","SecretAccessKey":"S"}"#, &err).unwrap();
        assert_eq!(exp, None);
        for bad in [
            "",
            "[]",
            r#"{"AccessKeyId":"A"}"#,
            r#"{"AccessKeyId":1,"SecretAccessKey":"S"}"#,
            r#"{"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"later"}"#,
        ] {
            assert!(json_credentials(bad, &err).is_err(), "{bad}");
        }
    }

    #[test]
    fn cached_credentials_are_kept_until_shortly_before_expiry() {
        let creds = |k: &str| Credentials {
            access_key: k.into(),
            secret_key: "s".into(),
            session_token: String::new(),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        // Seeded credentials far from expiry are used as they are.
        let later = SystemTime::now() + Duration::from_secs(3600);
        let c = Cached::seeded(Source::Static(creds("NEW")), (creds("OLD"), Some(later)));
        assert_eq!(rt.block_on(c.get()).unwrap().access_key, "OLD");
        // Within 30 s of expiry they are fetched again.
        let soon = SystemTime::now() + Duration::from_secs(20);
        let c = Cached::seeded(Source::Static(creds("NEW")), (creds("OLD"), Some(soon)));
        assert_eq!(rt.block_on(c.get()).unwrap().access_key, "NEW");
        assert_eq!(rt.block_on(c.get()).unwrap().access_key, "NEW");
    }
}
