//! Google Compute Engine service discovery (`gce_sd_configs`), as Prometheus's
//! `discovery/gce`: every `refresh_interval` the zone's instances through the Compute API
//! (`GET projects/<project>/zones/<zone>/instances`, with `filter`, following
//! `nextPageToken`), one group (source `GCE_<project>_<zone>`) with a target
//! `<first interface's private IP>:<port>` per instance that has a network interface,
//! labelled `__meta_gce_*`.
//!
//! Credentials are Google's application default credentials, looked up as Go's
//! `google.DefaultClient` does: the JSON file named by `GOOGLE_APPLICATION_CREDENTIALS`
//! (a `service_account` key, signed into an RS256 JWT and exchanged at its `token_uri`, or an
//! `authorized_user` refresh token), else gcloud's
//! `~/.config/gcloud/application_default_credentials.json`, else the metadata server:
//! the one `GCE_METADATA_HOST` names, or the link-local one when the machine is on GCE
//! (probed once per process as Go's `metadata.OnGCE` probes: an HTTP request to
//! 169.254.169.254 answered with `Metadata-Flavor: Google`, and whether
//! `metadata.google.internal` resolves to it, each given 2 seconds; the first answer
//! decides unless the DMI product name says Google, when either may say yes). Both files
//! may also hold `external_account` credentials (workload identity federation): a subject
//! token read from a file or URL (text, or a JSON field), exchanged at Google's STS
//! (`token_url`), then for a service account's token when
//! `service_account_impersonation_url` is set; AWS, executable and certificate subject
//! tokens are refused when the provider is created. Without any credentials, creating the
//! provider fails with Go's "could not find default credentials" error.
//!
//! For tests (and private API mirrors), the hidden environment variable
//! `PROMETHEUS_GCE_COMPUTE_ENDPOINT` replaces the Compute API's base URL
//! (`https://compute.googleapis.com/compute/v1`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use config::discovery::GceSdConfig;
use model::{Labels, TargetGroup};

use crate::api;
use crate::util::{encode_query, sanitize};

const PREFIX: &str = "__meta_gce_";
/// The Compute API's base URL.
const API_URL: &str = "https://compute.googleapis.com/compute/v1";
/// The hidden override of [`API_URL`].
const ENDPOINT_ENV: &str = "PROMETHEUS_GCE_COMPUTE_ENDPOINT";
/// Google's OAuth2 token endpoint (for credentials files without `token_uri`).
const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The scope asked for (`compute.ComputeReadonlyScope`).
const SCOPE: &str = "https://www.googleapis.com/auth/compute.readonly";
/// The scope asked of STS before impersonating a service account.
const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google's STS token endpoint (for external accounts without `token_url`).
const STS_URL: &str = "https://sts.googleapis.com/v1/token";
/// The lifetime asked of an impersonated service account's token.
const IMPERSONATION_LIFETIME: u64 = 3600;
/// The link-local metadata server.
const METADATA_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(169, 254, 169, 254);
/// The metadata server's DNS name on GCE.
const METADATA_NAME: &str = "metadata.google.internal";
/// How long each probe of the metadata server may take (Go's dial timeout).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the second probe is awaited when the machine looks like GCE.
const PROBE_PATIENCE: Duration = Duration::from_secs(5);
/// Go's error when no credentials are found.
const NO_CREDENTIALS: &str = "google: could not find default credentials. See https://cloud.google.com/docs/authentication/external/set-up-adc for more information";

/// Where access tokens come from.
#[derive(Debug, Clone)]
enum Credentials {
    /// A service account key: a JWT signed with `key` exchanged at `token_uri`.
    ServiceAccount {
        email: String,
        /// The PKCS#8 DER of the private key.
        key: Vec<u8>,
        token_uri: String,
    },
    /// A user's refresh token (gcloud's application default credentials).
    AuthorizedUser {
        client_id: String,
        client_secret: String,
        refresh_token: String,
        token_uri: String,
    },
    /// The metadata server at this base URL.
    Metadata(String),
    /// Workload identity federation (`external_account`).
    ExternalAccount(Box<ExternalAccount>),
}

/// An `external_account` credentials file: a subject token exchanged at Google's STS,
/// then for a service account's token when impersonating.
#[derive(Debug, Clone)]
struct ExternalAccount {
    audience: String,
    subject_token_type: String,
    token_url: String,
    /// Empty: the STS token is used itself.
    impersonation_url: String,
    /// With `client_secret`, STS is asked with HTTP basic authentication.
    client_id: String,
    client_secret: String,
    source: SubjectSource,
}

/// Where an external account's subject token is read, at every exchange.
#[derive(Debug, Clone)]
enum SubjectSource {
    /// A file (Kubernetes and others rotate it).
    File {
        path: String,
        /// For JSON: the field holding the token.
        field: Option<String>,
    },
    /// A URL GETted with `headers`.
    Url {
        url: String,
        headers: Vec<(String, String)>,
        field: Option<String>,
    },
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct CredentialSource {
    file: String,
    url: String,
    headers: BTreeMap<String, String>,
    format: SourceFormat,
    environment_id: String,
    executable: Option<serde_json::Value>,
    certificate: Option<serde_json::Value>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct SourceFormat {
    #[serde(rename = "type")]
    kind: String,
    subject_token_field_name: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct CredentialsFile {
    #[serde(rename = "type")]
    kind: String,
    client_email: String,
    private_key: String,
    token_uri: String,
    client_id: String,
    client_secret: String,
    refresh_token: String,
    audience: String,
    subject_token_type: String,
    token_url: String,
    service_account_impersonation_url: String,
    credential_source: Option<CredentialSource>,
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: u64,
}

/// One gce_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    client: httpclient::HttpClient,
    /// The Compute API's base URL.
    base: String,
    project: String,
    zone: String,
    filter: String,
    port: u16,
    separator: String,
    timeout: Duration,
    credentials: Credentials,
    /// The current access token and when it stops being used.
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct InstanceList {
    items: Vec<Instance>,
    next_page_token: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Instance {
    /// A uint64, which the API sends as a string.
    id: String,
    name: String,
    zone: String,
    status: String,
    machine_type: String,
    network_interfaces: Vec<NetworkInterface>,
    tags: Option<Tags>,
    metadata: Option<Metadata>,
    labels: BTreeMap<String, String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct NetworkInterface {
    name: String,
    network: String,
    subnetwork: String,
    #[serde(rename = "networkIP")]
    network_ip: String,
    access_configs: Vec<AccessConfig>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct AccessConfig {
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "natIP")]
    nat_ip: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Tags {
    items: Vec<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Metadata {
    items: Vec<MetadataItem>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct MetadataItem {
    key: String,
    value: Option<String>,
}

/// The DER inside a PEM block.
fn pem_der(pem: &str) -> Result<Vec<u8>, String> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| format!("private key is not valid PEM: {e}"))
}

/// The external account of an `external_account` credentials file.
fn external_account(f: CredentialsFile) -> Result<Credentials, String> {
    let src = f.credential_source.unwrap_or_default();
    let field = match src.format.kind.as_str() {
        "" | "text" => None,
        "json" if src.format.subject_token_field_name.is_empty() => {
            return Err(
                "oauth2/google: missing subject_token_field_name for JSON credential_source format"
                    .to_owned(),
            );
        }
        "json" => Some(src.format.subject_token_field_name),
        other => {
            return Err(format!(
                "oauth2/google: invalid credential_source format {other:?}"
            ));
        }
    };
    let unsupported = |what: &str| {
        Err(format!(
            "google: external account credentials with {what} subject tokens are not supported"
        ))
    };
    let source = if !src.environment_id.is_empty() {
        return unsupported("AWS");
    } else if src.executable.is_some() {
        return unsupported("executable-sourced");
    } else if src.certificate.is_some() {
        return unsupported("X.509 certificate");
    } else if !src.file.is_empty() {
        SubjectSource::File {
            path: src.file,
            field,
        }
    } else if !src.url.is_empty() {
        SubjectSource::Url {
            url: src.url,
            headers: src.headers.into_iter().collect(),
            field,
        }
    } else {
        return Err("oauth2/google: unable to parse credential source".to_owned());
    };
    if f.audience.is_empty() {
        return Err("oauth2/google: external account credentials need an audience".to_owned());
    }
    if f.subject_token_type.is_empty() {
        return Err(
            "oauth2/google: external account credentials need a subject_token_type".to_owned(),
        );
    }
    Ok(Credentials::ExternalAccount(Box::new(ExternalAccount {
        audience: f.audience,
        subject_token_type: f.subject_token_type,
        token_url: if f.token_url.is_empty() {
            STS_URL.to_owned()
        } else {
            f.token_url
        },
        impersonation_url: f.service_account_impersonation_url,
        client_id: f.client_id,
        client_secret: f.client_secret,
        source,
    })))
}

/// The credentials in a credentials file's text.
fn parse_credentials(text: &str) -> Result<Credentials, String> {
    let f: CredentialsFile =
        serde_json::from_str(text).map_err(|e| format!("google: invalid JSON credentials: {e}"))?;
    if f.kind == "external_account" {
        return external_account(f);
    }
    let token_uri = if f.token_uri.is_empty() {
        TOKEN_URL.to_owned()
    } else {
        f.token_uri
    };
    match f.kind.as_str() {
        "service_account" => {
            let key = pem_der(&f.private_key)?;
            ring::signature::RsaKeyPair::from_pkcs8(&key)
                .map_err(|e| format!("google: private key is not a PKCS#8 RSA key: {e}"))?;
            Ok(Credentials::ServiceAccount {
                email: f.client_email,
                key,
                token_uri,
            })
        }
        "authorized_user" => Ok(Credentials::AuthorizedUser {
            client_id: f.client_id,
            client_secret: f.client_secret,
            refresh_token: f.refresh_token,
            token_uri,
        }),
        "" => Err("google: missing 'type' field in credentials".to_owned()),
        other => Err(format!("google: unknown credential type: {other:?}")),
    }
}

/// Application default credentials, with `env` giving environment variables and `on_gce`
/// saying whether the link-local metadata server answers ([`on_gce`] in production).
fn find_credentials(
    env: &dyn Fn(&str) -> Option<String>,
    on_gce: &dyn Fn() -> bool,
) -> Result<Credentials, String> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(path) = var("GOOGLE_APPLICATION_CREDENTIALS") {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("google: error getting credentials using GOOGLE_APPLICATION_CREDENTIALS environment variable: open {path}: {e}"))?;
        return parse_credentials(&text).map_err(|e| {
            format!("google: error getting credentials using GOOGLE_APPLICATION_CREDENTIALS environment variable: {e}")
        });
    }
    let well_known = var("CLOUDSDK_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| var("HOME").map(|h| std::path::Path::new(&h).join(".config/gcloud")))
        .map(|d| d.join("application_default_credentials.json"));
    if let Some(path) = well_known.filter(|p| p.exists()) {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("google: error reading {}: {e}", path.display()))?;
        return parse_credentials(&text).map_err(|e| {
            format!(
                "google: error getting credentials using well-known file ({}): {e}",
                path.display()
            )
        });
    }
    if let Some(host) = var("GCE_METADATA_HOST") {
        return Ok(Credentials::Metadata(format!("http://{host}")));
    }
    if on_gce() {
        return Ok(Credentials::Metadata(format!("http://{METADATA_IP}")));
    }
    Err(NO_CREDENTIALS.to_owned())
}

/// Whether this process runs on GCE, probed once (Go's `metadata.OnGCE`, cached the same
/// way).
fn on_gce() -> bool {
    static ON_GCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON_GCE.get_or_init(|| {
        probe_metadata_server(
            std::net::SocketAddr::from((METADATA_IP, 80)),
            METADATA_NAME,
            system_suggests_gce(),
        )
    })
}

/// Whether the DMI product name is Google's (Linux; elsewhere never).
fn system_suggests_gce() -> bool {
    std::fs::read_to_string("/sys/class/dmi/id/product_name")
        .is_ok_and(|n| matches!(n.trim(), "Google" | "Google Compute Engine"))
}

/// Go's `testOnGCE`: an HTTP GET of `addr` answered with `Metadata-Flavor: Google`, and
/// whether `name` resolves to `addr`'s IP, run at once, each within 2 seconds. The first
/// to answer decides, unless `try_harder` (the machine looks like GCE): then a no waits up
/// to 5 seconds for the other's yes. Blocks; the probes run on threads of their own.
fn probe_metadata_server(addr: std::net::SocketAddr, name: &str, try_harder: bool) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    let http = tx.clone();
    std::thread::spawn(move || {
        let _ = http.send(http_probe(addr));
    });
    let name = name.to_owned();
    std::thread::spawn(move || {
        use std::net::ToSocketAddrs as _;
        let found = (name.as_str(), 80)
            .to_socket_addrs()
            .is_ok_and(|mut addrs| addrs.any(|a| a.ip() == addr.ip()));
        let _ = tx.send(found);
    });
    match rx.recv() {
        Ok(true) => true,
        Ok(false) if try_harder => rx.recv_timeout(PROBE_PATIENCE).unwrap_or(false),
        _ => false,
    }
}

/// Whether the HTTP server at `addr` answers `GET /` with `Metadata-Flavor: Google`.
fn http_probe(addr: std::net::SocketAddr) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) else {
        return false;
    };
    if stream.set_read_timeout(Some(PROBE_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(PROBE_TIMEOUT)).is_err()
    {
        return false;
    }
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\nConnection: close\r\n\r\n",
        addr.ip(),
        httpclient::USER_AGENT
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = Vec::new();
    let mut buf = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&head)
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .any(|(k, v)| k.trim().eq_ignore_ascii_case("metadata-flavor") && v.trim() == "Google")
}

/// Base64url without padding.
fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// The signed JWT a service account exchanges for a token.
fn jwt_assertion(email: &str, key: &[u8], token_uri: &str, now: u64) -> Result<String, String> {
    let header = b64url(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "iss": email,
        "scope": SCOPE,
        "aud": token_uri,
        "iat": now,
        "exp": now + 3600,
    });
    let input = format!("{header}.{}", b64url(claims.to_string().as_bytes()));
    let pair = ring::signature::RsaKeyPair::from_pkcs8(key)
        .map_err(|e| format!("google: private key: {e}"))?;
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .map_err(|e| format!("google: signing the token request: {e}"))?;
    Ok(format!("{input}.{}", b64url(&sig)))
}

/// The message of a failed Compute API answer, as Go's `googleapi.Error`.
fn api_error(status: http::StatusCode, body: &[u8]) -> String {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Wrapper {
        error: Option<ApiError>,
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct ApiError {
        code: u16,
        message: String,
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct ErrorItem {
        reason: String,
        message: String,
    }
    match serde_json::from_slice::<Wrapper>(body)
        .ok()
        .and_then(|w| w.error)
    {
        Some(e) => {
            let code = if e.code == 0 { status.as_u16() } else { e.code };
            let mut out = format!("googleapi: Error {code}: {}", e.message);
            if e.errors.len() == 1 && e.errors[0].message == e.message {
                out.push_str(&format!(", {}", e.errors[0].reason));
            }
            out.trim_end().to_owned()
        }
        None => format!(
            "googleapi: got HTTP response code {} with body: {}",
            status.as_u16(),
            String::from_utf8_lossy(body)
        ),
    }
}

impl Discovery {
    /// A provider for `cfg` (Go's `NewDiscovery`), with credentials from the environment.
    ///
    /// # Errors
    /// No usable credentials.
    pub(crate) fn new(cfg: &GceSdConfig) -> Result<Discovery, String> {
        Discovery::with_env(cfg, &|k| std::env::var(k).ok(), &on_gce)
    }

    /// A provider for `cfg` reading environment variables through `env`, with `on_gce`
    /// saying whether the link-local metadata server is there.
    fn with_env(
        cfg: &GceSdConfig,
        env: &dyn Fn(&str) -> Option<String>,
        on_gce: &dyn Fn() -> bool,
    ) -> Result<Discovery, String> {
        let setup = |e: String| format!("error setting up communication with GCE service: {e}");
        let credentials = find_credentials(env, on_gce).map_err(setup)?;
        Ok(Discovery {
            client: httpclient::HttpClient::new(&config::HttpClientConfig::default())
                // Go's GCE client is Google's, outside the counted dialers.
                .map(httpclient::HttpClient::uncounted)
                .map_err(|e| setup(e.to_string()))?,
            base: env(ENDPOINT_ENV)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| API_URL.to_owned()),
            project: cfg.project.clone(),
            zone: cfg.zone.clone(),
            filter: cfg.filter.clone(),
            port: cfg.port,
            separator: cfg.tag_separator.clone(),
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
            credentials,
            token: tokio::sync::Mutex::new(None),
        })
    }

    /// A valid access token, fetched again a minute before the last one expires.
    async fn token(&self) -> Result<String, String> {
        let mut cached = self.token.lock().await;
        if let Some((t, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let answer = match &self.credentials {
            Credentials::ExternalAccount(x) => {
                let (token, expires_in) = self.external_token(x).await?;
                let life = Duration::from_secs(expires_in.saturating_sub(60));
                *cached = Some((token.clone(), Instant::now() + life));
                return Ok(token);
            }
            Credentials::Metadata(host) => {
                let url = format!(
                    "{host}/computeMetadata/v1/instance/service-accounts/default/token?{}",
                    encode_query(&[("scopes".to_owned(), SCOPE.to_owned())])
                );
                api::send(
                    &self.client,
                    http::Method::GET,
                    &url,
                    &[("Metadata-Flavor", "Google")],
                    Bytes::new(),
                    self.timeout,
                )
                .await?
            }
            Credentials::ServiceAccount {
                email,
                key,
                token_uri,
            } => {
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or_default();
                let form = encode_query(&[
                    (
                        "grant_type".to_owned(),
                        "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
                    ),
                    (
                        "assertion".to_owned(),
                        jwt_assertion(email, key, token_uri, now)?,
                    ),
                ]);
                self.post_form(token_uri, form).await?
            }
            Credentials::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
            } => {
                let form = encode_query(&[
                    ("client_id".to_owned(), client_id.clone()),
                    ("client_secret".to_owned(), client_secret.clone()),
                    ("grant_type".to_owned(), "refresh_token".to_owned()),
                    ("refresh_token".to_owned(), refresh_token.clone()),
                ]);
                self.post_form(token_uri, form).await?
            }
        };
        if !answer.status.is_success() {
            return Err(format!(
                "oauth2: cannot fetch token: {} {}\nResponse: {}",
                answer.status.as_u16(),
                answer.status.canonical_reason().unwrap_or_default(),
                String::from_utf8_lossy(&answer.body).trim()
            ));
        }
        let t: TokenAnswer = serde_json::from_slice(&answer.body)
            .map_err(|e| format!("oauth2: cannot parse token answer: {e}"))?;
        if t.access_token.is_empty() {
            return Err("oauth2: server response missing access_token".to_owned());
        }
        let life = Duration::from_secs(t.expires_in.saturating_sub(60));
        *cached = Some((t.access_token.clone(), Instant::now() + life));
        Ok(t.access_token)
    }

    /// The subject token of an external account, read now.
    async fn subject_token(&self, source: &SubjectSource) -> Result<String, String> {
        let (text, field) = match source {
            SubjectSource::File { path, field } => (
                std::fs::read_to_string(path).map_err(|e| {
                    format!("oauth2/google: failed to open credential file {path:?}: {e}")
                })?,
                field,
            ),
            SubjectSource::Url {
                url,
                headers,
                field,
            } => {
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let a = api::send(
                    &self.client,
                    http::Method::GET,
                    url,
                    &headers,
                    Bytes::new(),
                    self.timeout,
                )
                .await
                .map_err(|e| {
                    format!("oauth2/google: invalid response when retrieving subject token: {e}")
                })?;
                if !a.status.is_success() {
                    return Err(format!(
                        "oauth2/google: status code {}: {}",
                        a.status.as_u16(),
                        String::from_utf8_lossy(&a.body).trim()
                    ));
                }
                (String::from_utf8_lossy(&a.body).into_owned(), field)
            }
        };
        let token = match field {
            None => text.trim().to_owned(),
            Some(name) => serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get(name)?.as_str().map(str::to_owned))
                .ok_or_else(|| {
                    format!("oauth2/google: unable to parse subject_token_field_name {name:?}")
                })?,
        };
        if token.is_empty() {
            return Err("oauth2/google: the subject token is empty".to_owned());
        }
        Ok(token)
    }

    /// An access token of an external account and its lifetime in seconds: the subject
    /// token exchanged at STS (RFC 8693), then, when impersonating, the service account's
    /// `generateAccessToken`.
    async fn external_token(&self, x: &ExternalAccount) -> Result<(String, u64), String> {
        let subject = self.subject_token(&x.source).await?;
        let scope = if x.impersonation_url.is_empty() {
            SCOPE
        } else {
            CLOUD_PLATFORM_SCOPE
        };
        let form = encode_query(&[
            (
                "grant_type".to_owned(),
                "urn:ietf:params:oauth:grant-type:token-exchange".to_owned(),
            ),
            ("audience".to_owned(), x.audience.clone()),
            ("scope".to_owned(), scope.to_owned()),
            (
                "requested_token_type".to_owned(),
                "urn:ietf:params:oauth:token-type:access_token".to_owned(),
            ),
            ("subject_token".to_owned(), subject),
            (
                "subject_token_type".to_owned(),
                x.subject_token_type.clone(),
            ),
        ]);
        let basic = (!x.client_id.is_empty()).then(|| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", x.client_id, x.client_secret))
            )
        });
        let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
        if let Some(b) = &basic {
            headers.push(("Authorization", b));
        }
        let a = api::send(
            &self.client,
            http::Method::POST,
            &x.token_url,
            &headers,
            Bytes::from(form),
            self.timeout,
        )
        .await?;
        if !a.status.is_success() {
            return Err(format!(
                "oauth2/google: status code {}: {}",
                a.status.as_u16(),
                String::from_utf8_lossy(&a.body).trim()
            ));
        }
        let sts: TokenAnswer = serde_json::from_slice(&a.body).map_err(|e| {
            format!(
                "oauth2/google: failed to unmarshal response body from Secure Token Server: {e}"
            )
        })?;
        if sts.access_token.is_empty() {
            return Err("oauth2: server response missing access_token".to_owned());
        }
        if x.impersonation_url.is_empty() {
            return Ok((sts.access_token, sts.expires_in));
        }
        #[derive(serde::Deserialize, Default)]
        #[serde(default, rename_all = "camelCase")]
        struct Impersonated {
            access_token: String,
        }
        let body = serde_json::json!({
            "lifetime": format!("{IMPERSONATION_LIFETIME}s"),
            "scope": [SCOPE],
        })
        .to_string();
        let auth = format!("Bearer {}", sts.access_token);
        let a = api::send(
            &self.client,
            http::Method::POST,
            &x.impersonation_url,
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &auth),
            ],
            Bytes::from(body),
            self.timeout,
        )
        .await?;
        if !a.status.is_success() {
            return Err(format!(
                "oauth2/google: status code {}: {}",
                a.status.as_u16(),
                String::from_utf8_lossy(&a.body).trim()
            ));
        }
        let t: Impersonated = serde_json::from_slice(&a.body)
            .map_err(|e| format!("oauth2/google: unable to parse response: {e}"))?;
        if t.access_token.is_empty() {
            return Err("oauth2/google: the impersonation answer has no accessToken".to_owned());
        }
        Ok((t.access_token, IMPERSONATION_LIFETIME))
    }

    async fn post_form(&self, url: &str, form: String) -> Result<crate::util::Answer, String> {
        api::send(
            &self.client,
            http::Method::POST,
            url,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            Bytes::from(form),
            self.timeout,
        )
        .await
    }

    /// One page of the instance list.
    async fn page(&self, page_token: &str) -> Result<InstanceList, String> {
        let token = self.token().await?;
        let mut params = vec![
            ("alt".to_owned(), "json".to_owned()),
            ("prettyPrint".to_owned(), "false".to_owned()),
        ];
        if !self.filter.is_empty() {
            params.push(("filter".to_owned(), self.filter.clone()));
        }
        if !page_token.is_empty() {
            params.push(("pageToken".to_owned(), page_token.to_owned()));
        }
        let mut path = String::new();
        model::strutil::write_query_escaped(&mut path, &self.project);
        let project = path.replace('+', "%20");
        path.clear();
        model::strutil::write_query_escaped(&mut path, &self.zone);
        let zone = path.replace('+', "%20");
        let url = format!(
            "{}/projects/{project}/zones/{zone}/instances?{}",
            self.base.trim_end_matches('/'),
            encode_query(&params)
        );
        let auth = format!("Bearer {token}");
        let a = api::send(
            &self.client,
            http::Method::GET,
            &url,
            &[
                ("Authorization", &auth),
                ("Accept", "application/json"),
                ("User-Agent", httpclient::USER_AGENT),
            ],
            Bytes::new(),
            self.timeout,
        )
        .await?;
        if !a.status.is_success() {
            return Err(api_error(a.status, &a.body));
        }
        serde_json::from_slice(&a.body).map_err(|e| format!("decoding the answer of {url}: {e}"))
    }

    /// One refresh (Go's `refresh`): the zone's group.
    ///
    /// # Errors
    /// A failed token or list request, or an answer that does not decode; the caller keeps
    /// the last targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let mut targets = Vec::new();
        let mut page_token = String::new();
        loop {
            let list = self
                .page(&page_token)
                .await
                .map_err(|e| format!("error retrieving refresh targets from gce: {e}"))?;
            for inst in &list.items {
                if let Some(t) = self.target(inst) {
                    targets.push(t);
                }
            }
            if list.next_page_token.is_empty() {
                break;
            }
            page_token = list.next_page_token;
        }
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: format!("GCE_{}_{}", self.project, self.zone),
        }])
    }

    /// The target of one instance, none without network interfaces.
    fn target(&self, inst: &Instance) -> Option<Labels> {
        let primary = inst.network_interfaces.first()?;
        let mut set: BTreeMap<String, String> = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            set.insert(format!("{PREFIX}{k}"), v.to_owned());
        };
        put("project", &self.project);
        put("zone", &inst.zone);
        put("instance_id", &inst.id);
        put("instance_name", &inst.name);
        put("instance_status", &inst.status);
        put("machine_type", &inst.machine_type);
        put("network", &primary.network);
        put("subnetwork", &primary.subnetwork);
        put("private_ip", &primary.network_ip);
        for iface in &inst.network_interfaces {
            put(
                &format!("interface_ipv4_{}", sanitize(&iface.name)),
                &iface.network_ip,
            );
        }
        if let Some(tags) = inst.tags.as_ref().filter(|t| !t.items.is_empty()) {
            let sep = &self.separator;
            put("tags", &format!("{sep}{}{sep}", tags.items.join(sep)));
        }
        if let Some(md) = &inst.metadata {
            for item in &md.items {
                if let Some(v) = &item.value {
                    put(&format!("metadata_{}", sanitize(&item.key)), v);
                }
            }
        }
        for (k, v) in &inst.labels {
            put(&format!("label_{}", sanitize(k)), v);
        }
        if let Some(ac) = primary.access_configs.first()
            && ac.kind == "ONE_TO_ONE_NAT"
        {
            put("public_ip", &ac.nat_ip);
        }
        set.insert(
            "__address__".to_owned(),
            format!("{}:{}", primary.network_ip, self.port),
        );
        Some(Labels::from_pairs(set))
    }
}

#[cfg(test)]
pub(crate) mod tests;
