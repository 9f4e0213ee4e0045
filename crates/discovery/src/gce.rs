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
//! `~/.config/gcloud/application_default_credentials.json`, else the metadata server named by
//! `GCE_METADATA_HOST` (the link-local server is not probed). Without any, creating the
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

/// The credentials in a credentials file's text.
fn parse_credentials(text: &str) -> Result<Credentials, String> {
    let f: CredentialsFile =
        serde_json::from_str(text).map_err(|e| format!("google: invalid JSON credentials: {e}"))?;
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

/// Application default credentials, with `env` giving environment variables.
fn find_credentials(env: &dyn Fn(&str) -> Option<String>) -> Result<Credentials, String> {
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
    Err(NO_CREDENTIALS.to_owned())
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
        Discovery::with_env(cfg, &|k| std::env::var(k).ok())
    }

    /// A provider for `cfg` reading environment variables through `env`.
    fn with_env(
        cfg: &GceSdConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Discovery, String> {
        let setup = |e: String| format!("error setting up communication with GCE service: {e}");
        let credentials = find_credentials(env).map_err(setup)?;
        Ok(Discovery {
            client: httpclient::HttpClient::new(&config::HttpClientConfig::default())
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
