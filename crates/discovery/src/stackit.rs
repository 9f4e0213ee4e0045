//! STACKIT service discovery (`stackit_sd_configs`), as Prometheus's `discovery/stackit`:
//! every `refresh_interval` the project's servers from the IaaS API
//! (`GET <endpoint>/v1/projects/<project>/servers?details=true`, the endpoint defaulting to
//! `https://iaas.api.<region>.stackit.cloud`), one group (source `stackit`) with a target
//! per server with an address (its first public IP, else its first private IPv4) on
//! `port`, labelled `__meta_stackit_*`.
//!
//! With a service account key (`service_account_key` or `service_account_key_path`) the
//! requests carry a token from STACKIT's key flow: an RS512 JWT signed with the key's (or
//! `private_key`'s) private key exchanged at `https://service-account.api.stackit.cloud/token`;
//! without one, only the HTTP client options authenticate, as upstream.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use config::discovery::StackitSdConfig;
use model::{Labels, TargetGroup};

use crate::api;
use crate::util::{encode_query, join_host_port, rsa_key, sanitize};

const PREFIX: &str = "__meta_stackit_";
/// STACKIT's key flow token endpoint.
const TOKEN_URL: &str = "https://service-account.api.stackit.cloud/token";

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ServerList {
    items: Option<Vec<Server>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Server {
    availability_zone: String,
    id: String,
    labels: BTreeMap<String, serde_json::Value>,
    machine_type: String,
    name: String,
    nics: Option<Vec<Nic>>,
    power_status: String,
    status: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Nic {
    network_name: String,
    ipv4: Option<String>,
    public_ip: Option<String>,
}

/// A service account key file (Go decodes it case-insensitively; both spellings seen in
/// the wild are taken).
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ServiceAccountKey {
    #[serde(alias = "Credentials")]
    credentials: KeyCredentials,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct KeyCredentials {
    #[serde(alias = "Kid")]
    kid: String,
    #[serde(alias = "Iss")]
    iss: String,
    #[serde(alias = "Sub")]
    sub: String,
    #[serde(alias = "Aud")]
    aud: String,
    #[serde(rename = "privateKey", alias = "PrivateKey")]
    private_key: String,
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: u64,
}

/// The key flow's signer.
#[derive(Debug)]
struct KeyFlow {
    kid: String,
    iss: String,
    sub: String,
    aud: String,
    key: ring::signature::RsaKeyPair,
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// The `exp` claim of a JWT access token (0 when it has none).
fn jwt_expiry(token: &str) -> u64 {
    token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok())
        .and_then(|c| c["exp"].as_u64())
        .unwrap_or_default()
}

/// A random (version 4) UUID, the JWT's `jti`.
fn uuid4() -> String {
    let mut b = [0u8; 16];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl KeyFlow {
    /// The signer of `cfg`'s service account key; `None` without one (no key flow).
    fn from_config(cfg: &StackitSdConfig) -> Result<Option<KeyFlow>, String> {
        let read = |path: &str, what: &str| {
            std::fs::read_to_string(path).map_err(|e| format!("reading {what} {path}: {e}"))
        };
        let key_json = if !cfg.service_account_key.expose().is_empty() {
            cfg.service_account_key.expose().to_owned()
        } else if !cfg.service_account_key_path.is_empty() {
            read(&cfg.service_account_key_path, "service account key")?
        } else {
            return Ok(None);
        };
        let sa: ServiceAccountKey = serde_json::from_str(&key_json)
            .map_err(|e| format!("unmarshalling service account key: {e}"))?;
        let pem = if !cfg.private_key.expose().is_empty() {
            cfg.private_key.expose().to_owned()
        } else if !cfg.private_key_path.is_empty() {
            read(&cfg.private_key_path, "private key")?
        } else if !sa.credentials.private_key.is_empty() {
            sa.credentials.private_key.clone()
        } else {
            return Err("key flow: private key is missing".to_owned());
        };
        Ok(Some(KeyFlow {
            key: rsa_key(&pem)?,
            kid: sa.credentials.kid,
            iss: sa.credentials.iss,
            sub: sa.credentials.sub,
            aud: sa.credentials.aud,
        }))
    }

    /// The signed assertion exchanged for a token.
    fn assertion(&self, now: u64) -> Result<String, String> {
        let header = serde_json::json!({"alg": "RS512", "typ": "JWT", "kid": self.kid});
        let claims = serde_json::json!({
            "iss": self.iss,
            "sub": self.sub,
            "aud": self.aud,
            "iat": now,
            "exp": now + 600,
            "jti": uuid4(),
        });
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let mut sig = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PKCS1_SHA512,
                &ring::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|e| format!("signing the key flow assertion: {e}"))?;
        Ok(format!("{input}.{}", b64url(&sig)))
    }
}

/// One stackit_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    client: httpclient::HttpClient,
    /// The IaaS API base URL.
    endpoint: String,
    project: String,
    port: u16,
    timeout: Duration,
    key_flow: Option<KeyFlow>,
    /// The key flow's token endpoint (upstream's test-only `tokenURL`).
    pub(crate) token_url: String,
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl Discovery {
    /// A provider for `cfg` (Go's `newServerDiscovery`).
    ///
    /// # Errors
    /// Unusable HTTP client options, or a service account or private key that cannot be
    /// read.
    pub(crate) fn new(cfg: &StackitSdConfig) -> Result<Discovery, String> {
        let endpoint = if cfg.endpoint.is_empty() {
            format!("https://iaas.api.{}.stackit.cloud", cfg.region)
        } else {
            cfg.endpoint.clone()
        };
        Ok(Discovery {
            client: httpclient::HttpClient::new(&cfg.http_client_config)
                .map(|c| c.named("stackit_sd"))
                .map_err(|e| e.to_string())?,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            project: cfg.project.clone(),
            port: cfg.port,
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
            key_flow: KeyFlow::from_config(cfg)
                .map_err(|e| format!("setting up authentication: {e}"))?,
            token_url: TOKEN_URL.to_owned(),
            token: tokio::sync::Mutex::new(None),
        })
    }

    /// The key flow's current token (fetched again five seconds before it expires).
    async fn token(&self, flow: &KeyFlow) -> Result<String, String> {
        let mut cached = self.token.lock().await;
        if let Some((t, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let form = encode_query(&[
            (
                "grant_type".to_owned(),
                "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
            ),
            ("assertion".to_owned(), flow.assertion(now)?),
        ]);
        let a = api::send(
            &self.client,
            http::Method::POST,
            &self.token_url,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            Bytes::from(form),
            self.timeout,
        )
        .await?;
        if !a.status.is_success() {
            return Err(format!(
                "key flow: token request failed with status {}: {}",
                a.status.as_u16(),
                String::from_utf8_lossy(&a.body).trim()
            ));
        }
        let t: TokenAnswer = serde_json::from_slice(&a.body)
            .map_err(|e| format!("key flow: decoding the token answer: {e}"))?;
        let life = if t.expires_in > 0 {
            t.expires_in
        } else {
            jwt_expiry(&t.access_token).saturating_sub(now)
        };
        let until = Instant::now() + Duration::from_secs(life.saturating_sub(5));
        *cached = Some((t.access_token.clone(), until));
        Ok(t.access_token)
    }

    /// One refresh (Go's `refresh`): the project's group.
    ///
    /// # Errors
    /// A failed request, a status other than 200, or an answer that does not decode; the
    /// caller keeps the last targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let url = format!(
            "{}/v1/projects/{}/servers?details=true",
            self.endpoint, self.project
        );
        let auth = match &self.key_flow {
            Some(flow) => Some(format!(
                "Bearer {}",
                self.token(flow)
                    .await
                    .map_err(|e| format!("sending request: {e}"))?
            )),
            None => None,
        };
        let mut headers = vec![
            ("Accept", "application/json"),
            ("User-Agent", httpclient::USER_AGENT),
        ];
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth));
        }
        let a = api::send(
            &self.client,
            http::Method::GET,
            &url,
            &headers,
            Bytes::new(),
            self.timeout,
        )
        .await
        .map_err(|e| format!("sending request: {e}"))?;
        if a.status != http::StatusCode::OK {
            return Err(format!(
                "unexpected status code {}: {}",
                a.status.as_u16(),
                String::from_utf8_lossy(&a.body)
            ));
        }
        let list: Option<ServerList> =
            serde_json::from_slice(&a.body).map_err(|e| format!("decoding response: {e}"))?;
        let mut targets = Vec::new();
        for server in list.and_then(|l| l.items).unwrap_or_default() {
            if let Some(t) = self.target(&server) {
                targets.push(t);
            }
        }
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: "stackit".to_owned(),
        }])
    }

    /// The target of one server; none without interfaces or addresses.
    fn target(&self, server: &Server) -> Option<Labels> {
        let nics = server.nics.as_ref()?;
        let mut set: BTreeMap<String, String> = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            set.insert(format!("{PREFIX}{k}"), v.to_owned());
        };
        put("role", "server");
        put("project", &self.project);
        put("id", &server.id);
        put("name", &server.name);
        put("availability_zone", &server.availability_zone);
        put("status", &server.status);
        put("power_status", &server.power_status);
        put("type", &server.machine_type);
        let (mut address, mut public) = (String::new(), String::new());
        for nic in nics {
            if let Some(ip) = nic.public_ip.as_deref().filter(|ip| !ip.is_empty())
                && public.is_empty()
            {
                public = ip.to_owned();
                address = ip.to_owned();
            }
            if let Some(ip) = nic.ipv4.as_deref().filter(|ip| !ip.is_empty()) {
                put(&format!("private_ipv4_{}", sanitize(&nic.network_name)), ip);
                if address.is_empty() {
                    address = ip.to_owned();
                }
            }
        }
        if address.is_empty() {
            return None;
        }
        if !public.is_empty() {
            put("public_ipv4", &public);
        }
        for (k, v) in &server.labels {
            if let Some(v) = v.as_str() {
                put(&format!("labelpresent_{}", sanitize(k)), "true");
                put(&format!("label_{}", sanitize(k)), v);
            }
        }
        set.insert(
            "__address__".to_owned(),
            join_host_port(&address, self.port),
        );
        Some(Labels::from_pairs(set))
    }
}

#[cfg(test)]
mod tests;
