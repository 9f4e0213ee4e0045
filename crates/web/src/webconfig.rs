//! `--web.config.file`: TLS, security headers, basic auth and rate limiting of the web server,
//! read as Prometheus's exporter-toolkit reads its web configuration file.
//!
//! As in the toolkit, the file is re-read while serving: for every request (headers, users)
//! and for every new TLS connection (certificates, client CAs), so renewed certificates and
//! changed passwords apply without a restart. Whether TLS is on, the HTTP/2 switch and the
//! rate limiter are fixed when the server starts.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use crate::error::{Error, Result};

mod file;

/// The security headers the toolkit lets a web config set, with their allowed values (an
/// empty list allows any value).
const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// A parsed web configuration file (the toolkit's `web.Config`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebConfig {
    /// `tls_server_config`.
    pub tls: TlsServerConfig,
    /// `http_server_config.http2` (default true; only used with TLS).
    pub http2: bool,
    /// `http_server_config.headers`: security headers added to every response.
    pub headers: BTreeMap<String, String>,
    /// `basic_auth_users`: user name to bcrypt hash. Empty: no authentication.
    pub basic_auth_users: BTreeMap<String, String>,
    /// `rate_limit`: `(interval, burst)` of the token bucket, `None` when off.
    pub rate_limit: Option<(Duration, u32)>,
}

/// A TLS protocol version as the web config names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// `TLS10`.
    Tls10,
    /// `TLS11`.
    Tls11,
    /// `TLS12`.
    Tls12,
    /// `TLS13`.
    Tls13,
}

/// How the server treats client certificates (`client_auth_type`, Go's `tls.ClientAuthType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum ClientAuth {
    /// `NoClientCert` (default): none is asked for.
    #[default]
    NoClientCert,
    /// `RequestClientCert`: asked for, not required, not verified.
    RequestClientCert,
    /// `RequireAnyClientCert` (or `RequireClientCert`): required, not verified.
    RequireAnyClientCert,
    /// `VerifyClientCertIfGiven`: verified against the client CAs when sent.
    VerifyClientCertIfGiven,
    /// `RequireAndVerifyClientCert`: required and verified against the client CAs.
    RequireAndVerifyClientCert,
}

/// `tls_server_config`, with relative file names resolved against the config file's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsServerConfig {
    /// `cert`: the server certificate (PEM) inline.
    pub cert: String,
    /// `key`: the server key (PEM) inline.
    pub key: String,
    /// `client_ca`: client CA certificates (PEM) inline.
    pub client_ca: String,
    /// `cert_file`.
    pub cert_file: Option<PathBuf>,
    /// `key_file`.
    pub key_file: Option<PathBuf>,
    /// `client_ca_file`.
    pub client_ca_file: Option<PathBuf>,
    /// `client_auth_type` as written (`""` is `NoClientCert`).
    pub client_auth_type: String,
    /// `client_allowed_sans`.
    pub client_allowed_sans: Option<Vec<String>>,
    /// `min_version` (default TLS12).
    pub min_version: TlsVersion,
    /// `max_version` (default TLS13).
    pub max_version: TlsVersion,
    /// `cipher_suites` (Go names).
    pub cipher_suites: Vec<String>,
    /// `curve_preferences` (Go names).
    pub curve_preferences: Vec<String>,
    /// `prefer_server_cipher_suites` (default true).
    pub prefer_server_cipher_suites: bool,
}

impl Default for TlsServerConfig {
    fn default() -> Self {
        TlsServerConfig {
            cert: String::new(),
            key: String::new(),
            client_ca: String::new(),
            cert_file: None,
            key_file: None,
            client_ca_file: None,
            client_auth_type: String::new(),
            client_allowed_sans: None,
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
            cipher_suites: Vec::new(),
            curve_preferences: Vec::new(),
            prefer_server_cipher_suites: true,
        }
    }
}

impl TlsServerConfig {
    /// Whether any TLS field is set (the toolkit's `IsEnabled`): the server then speaks only
    /// TLS.
    pub fn is_enabled(&self) -> bool {
        !self.cert.is_empty()
            || !self.key.is_empty()
            || !self.client_ca.is_empty()
            || self.cert_file.is_some()
            || self.key_file.is_some()
            || self.client_ca_file.is_some()
            || !self.client_auth_type.is_empty()
    }
}

/// Joins a relative file name with the config file's folder, as the toolkit's `SetDirectory`.
fn join_dir(dir: &Path, file: Option<String>) -> Option<PathBuf> {
    let file = file.filter(|f| !f.is_empty())?;
    let path = PathBuf::from(file);
    Some(if path.is_absolute() {
        path
    } else {
        dir.join(path)
    })
}

impl WebConfig {
    /// Reads `path` strictly (unknown fields are errors) and checks the headers.
    pub fn load(path: &Path) -> Result<WebConfig> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::WebConfigRead {
            path: path.to_owned(),
            source,
        })?;
        WebConfig::parse(&text, path.parent().unwrap_or(Path::new(""))).map_err(|message| {
            Error::WebConfig {
                path: path.to_owned(),
                message,
            }
        })
    }

    /// Parses the YAML `text` of a web config whose relative file names are relative to `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<WebConfig, String> {
        let raw: Option<file::RawConfig> =
            config::yaml::from_str_typed(text).map_err(|e| e.to_string())?;
        let raw = raw.unwrap_or_default();
        let t = raw.tls_server_config;
        let tls = TlsServerConfig {
            cert: t.cert,
            key: t.key.expose().to_string(),
            client_ca: t.client_ca,
            cert_file: join_dir(dir, Some(t.cert_file)),
            key_file: join_dir(dir, Some(t.key_file)),
            client_ca_file: join_dir(dir, Some(t.client_ca_file)),
            client_auth_type: t.client_auth_type,
            client_allowed_sans: t.client_allowed_sans,
            min_version: t.min_version.0,
            max_version: t.max_version.0,
            cipher_suites: t.cipher_suites.into_iter().map(|c| c.0).collect(),
            curve_preferences: t.curve_preferences.into_iter().map(|c| c.0).collect(),
            prefer_server_cipher_suites: t.prefer_server_cipher_suites,
        };
        let h = raw.http_server_config;
        validate_headers(&h.headers)?;
        let r = raw.rate_limit;
        // Go limits only for a positive interval (`rate.Every` of less is no limit).
        let rate_limit = u64::try_from(r.interval.0)
            .ok()
            .filter(|&n| n > 0)
            .map(|n| {
                let burst = u32::try_from(r.burst.max(0)).unwrap_or(u32::MAX);
                (Duration::from_nanos(n), burst)
            });
        Ok(WebConfig {
            tls,
            http2: h.http2,
            headers: h.headers,
            basic_auth_users: raw
                .basic_auth_users
                .into_iter()
                .map(|(k, v)| (k, v.expose().to_string()))
                .collect(),
            rate_limit,
        })
    }

    /// Checks the bcrypt hashes (the toolkit's `validateUsers`).
    fn validate_users(&self) -> Result<(), String> {
        for (user, hash) in &self.basic_auth_users {
            // Go checks only what `bcrypt.Cost` reads; the full parse below is ours.
            file::bcrypt_cost(hash).map_err(|e| format!("basic_auth_users: {e}"))?;
            hash.parse::<bcrypt::HashParts>().map_err(|e| {
                format!(
                    "basic_auth_users: the password hash of user {user:?} is not a bcrypt hash: {e}"
                )
            })?;
        }
        Ok(())
    }
}

/// Checks a web config file as Prometheus does at start-up and as `promtool check web-config`
/// does: the YAML, the users' bcrypt hashes, and, when TLS is configured, the certificate, key
/// and client CAs (and every TLS setting this server must support).
pub fn check_web_config(path: &Path) -> Result<()> {
    let cfg = WebConfig::load(path)?;
    let invalid = |message: String| Error::WebConfig {
        path: path.to_owned(),
        message,
    };
    cfg.validate_users().map_err(invalid)?;
    if cfg.tls.is_enabled() {
        build_tls(&cfg, &[]).map_err(invalid)?;
    }
    Ok(())
}

fn validate_headers(headers: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, value) in headers {
        let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _)| n == name) else {
            return Err(format!("HTTP header {name:?} can not be configured"));
        };
        if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
            return Err(format!(
                "invalid value for {name}. Expected one of: {allowed:?}, but got: {value:?}"
            ));
        }
        if http::HeaderValue::from_str(value).is_err() {
            return Err(format!("invalid value for {name}: {value:?}"));
        }
    }
    Ok(())
}

/// The TLS 1.2 cipher suites of Go's `tls.CipherSuites()` that rustls implements, by Go name.
fn tls12_suite(name: &str) -> Option<rustls::SupportedCipherSuite> {
    use rustls::crypto::ring::cipher_suite as cs;
    Some(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return None,
    })
}

/// Go's `tls.CipherSuites()` entries rustls does not implement (CBC modes), and the TLS 1.3
/// suites, which Go accepts in the list but does not let a config choose.
const GO_CBC_SUITES: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
];
const GO_TLS13_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// The crypto provider for `tls`: ring with the configured TLS 1.2 suites and curves.
fn provider(tls: &TlsServerConfig) -> Result<rustls::crypto::CryptoProvider, String> {
    use rustls::crypto::ring::kx_group;
    let mut provider = rustls::crypto::ring::default_provider();
    if !tls.cipher_suites.is_empty() {
        let mut tls12 = Vec::new();
        for name in &tls.cipher_suites {
            if let Some(suite) = tls12_suite(name) {
                tls12.push(suite);
            } else if GO_CBC_SUITES.contains(&name.as_str()) {
                return Err(format!(
                    "tls_server_config.cipher_suites: {name} is not supported by this server (rustls implements no CBC cipher suites)"
                ));
            } else if !GO_TLS13_SUITES.contains(&name.as_str()) {
                return Err(format!(
                    "tls_server_config.cipher_suites: unknown cipher: {name}"
                ));
            }
        }
        // As in Go, TLS 1.3 suites are not configurable: keep them all.
        provider
            .cipher_suites
            .retain(|s| s.version() == &rustls::version::TLS13);
        provider.cipher_suites.extend(tls12);
    }
    if !tls.curve_preferences.is_empty() {
        let mut groups: Vec<&'static dyn rustls::crypto::SupportedKxGroup> = Vec::new();
        for name in &tls.curve_preferences {
            groups.push(match name.as_str() {
                "X25519" => kx_group::X25519,
                "CurveP256" => kx_group::SECP256R1,
                "CurveP384" => kx_group::SECP384R1,
                "CurveP521" => {
                    return Err(
                        "tls_server_config.curve_preferences: CurveP521 is not supported by this server (rustls offers X25519, CurveP256 and CurveP384)"
                            .to_owned(),
                    );
                }
                other => {
                    return Err(format!(
                        "tls_server_config.curve_preferences: unknown curve: {other}"
                    ));
                }
            });
        }
        provider.kx_groups = groups;
    }
    Ok(provider)
}

fn read_pem_source(field: &str, inline: &str, file: Option<&Path>) -> Result<Vec<u8>, String> {
    match file {
        Some(path) => std::fs::read(path)
            .map_err(|e| format!("failed to read {field} ({}): {e}", path.display())),
        None => Ok(inline.as_bytes().to_vec()),
    }
}

/// Everything a TLS server config is built from, read from disk now: the config's fields
/// plus the bytes of its certificate, key and CA files. Equal inputs build equal configs, so
/// a connection reuses the last config while nothing changed.
#[derive(PartialEq, Eq)]
struct TlsInputs {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Vec<u8>,
}

fn read_tls_inputs(tls: &TlsServerConfig) -> Result<TlsInputs, String> {
    if tls.cert_file.is_none() && tls.cert.is_empty() {
        return Err("tls_server_config: missing one of cert or cert_file".to_owned());
    }
    if tls.key_file.is_none() && tls.key.is_empty() {
        return Err("tls_server_config: missing one of key or key_file".to_owned());
    }
    let cert = read_pem_source("cert_file", &tls.cert, tls.cert_file.as_deref())?;
    let key = read_pem_source("key_file", &tls.key, tls.key_file.as_deref())?;
    // Go parses the key pair before it reads the client CAs or looks at any other setting.
    key_pair_blocks(&cert, &key)
        .and_then(|()| key_pair_matches(&cert, &key))
        .map_err(|e| format!("failed to load X509KeyPair: {e}"))?;
    // Go reads the client CA file with nothing around its error.
    let client_ca = match tls.client_ca_file.as_deref() {
        Some(path) => std::fs::read(path).map_err(|e| format!("open {}: {e}", path.display()))?,
        None => tls.client_ca.as_bytes().to_vec(),
    };
    Ok(TlsInputs {
        cert,
        key,
        client_ca,
    })
}

/// The types of the PEM blocks in `data` (`CERTIFICATE`, `PRIVATE KEY`), in order, as Go's
/// `pem.Decode` finds them: a `-----BEGIN T-----` line, headers (`Key: value`) and base64,
/// then its `-----END T-----` line.
fn pem_block_types(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let mut types = Vec::new();
    // The open block's type and whether its body is still base64.
    let mut open: Option<(&str, bool)> = None;
    for line in text.lines().map(str::trim) {
        match open {
            None => {
                open = line
                    .strip_prefix("-----BEGIN ")
                    .and_then(|l| l.strip_suffix("-----"))
                    .map(|t| (t, true));
            }
            Some((t, valid)) => {
                if line
                    .strip_prefix("-----END ")
                    .and_then(|l| l.strip_suffix("-----"))
                    == Some(t)
                {
                    if valid {
                        types.push(t.to_string());
                    }
                    open = None;
                } else if !line.contains(':') {
                    let base64 = line
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
                    open = Some((t, valid && base64));
                }
            }
        }
    }
    types
}

/// The key algorithm of a certificate's public key, found by its OID in the DER.
fn cert_key_algorithm(cert: &[u8]) -> Option<rustls::SignatureAlgorithm> {
    const RSA: &[u8] = &[6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 1];
    const EC: &[u8] = &[6, 7, 0x2a, 0x86, 0x48, 0xce, 0x3d, 2, 1];
    const ED25519: &[u8] = &[6, 3, 0x2b, 0x65, 0x70];
    let has = |oid: &[u8]| cert.windows(oid.len()).any(|w| w == oid);
    [
        (RSA, rustls::SignatureAlgorithm::RSA),
        (EC, rustls::SignatureAlgorithm::ECDSA),
        (ED25519, rustls::SignatureAlgorithm::ED25519),
    ]
    .into_iter()
    .find(|(oid, _)| has(oid))
    .map(|(_, a)| a)
}

/// Go's `tls.X509KeyPair` check that the private key belongs to the certificate, with its
/// error texts.
fn key_pair_matches(cert: &[u8], key: &[u8]) -> Result<(), String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("certificate: {e}"))?;
    let Some(first) = certs.first().cloned() else {
        return Ok(());
    };
    let unparsable = || "tls: failed to parse private key".to_string();
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|_| unparsable())?;
    let signing = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|_| unparsable())?;
    let algorithm = signing.algorithm();
    match rustls::sign::CertifiedKey::new(certs, signing).keys_match() {
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(if cert_key_algorithm(&first) == Some(algorithm) {
                "tls: private key does not match public key".to_string()
            } else {
                "tls: private key type does not match public key type".to_string()
            })
        }
        // What cannot be compared is left to the TLS setup.
        _ => Ok(()),
    }
}

/// Go's `tls.X509KeyPair` checks of which PEM blocks the certificate and key hold, with its
/// error texts.
fn key_pair_blocks(cert: &[u8], key: &[u8]) -> Result<(), String> {
    let cert_types = pem_block_types(cert);
    if !cert_types.iter().any(|t| t == "CERTIFICATE") {
        return Err(match cert_types.as_slice() {
            [] => "tls: failed to find any PEM data in certificate input".to_string(),
            [one] if one.ends_with("PRIVATE KEY") => "tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched".to_string(),
            skipped => format!(
                "tls: failed to find \"CERTIFICATE\" PEM block in certificate input after skipping PEM blocks of the following types: [{}]",
                skipped.join(" ")
            ),
        });
    }
    let key_types = pem_block_types(key);
    let is_key = |t: &String| t == "PRIVATE KEY" || t.ends_with(" PRIVATE KEY");
    match key_types.iter().position(is_key) {
        Some(_) => Ok(()),
        None => Err(match key_types.as_slice() {
            [] => "tls: failed to find any PEM data in key input".to_string(),
            [one] if one == "CERTIFICATE" => {
                "tls: found a certificate rather than a key in the PEM for the private key"
                    .to_string()
            }
            skipped => format!(
                "tls: failed to find PEM block with type ending in \"PRIVATE KEY\" in key input after skipping PEM blocks of the following types: [{}]",
                skipped.join(" ")
            ),
        }),
    }
}

/// Builds the rustls server config of `cfg` (TLS must be enabled), offering `alpn`.
fn build_tls(cfg: &WebConfig, alpn: &[Vec<u8>]) -> Result<ServerConfig, String> {
    let inputs = read_tls_inputs(&cfg.tls)?;
    build_tls_from(cfg, &inputs, alpn)
}

fn build_tls_from(
    cfg: &WebConfig,
    inputs: &TlsInputs,
    alpn: &[Vec<u8>],
) -> Result<ServerConfig, String> {
    let tls = &cfg.tls;
    let mut versions = Vec::new();
    for (field, v) in [
        ("min_version", tls.min_version),
        ("max_version", tls.max_version),
    ] {
        if v < TlsVersion::Tls12 {
            return Err(format!(
                "tls_server_config.{field}: {} is not supported by this server (rustls supports TLS12 and TLS13)",
                if v == TlsVersion::Tls10 {
                    "TLS10"
                } else {
                    "TLS11"
                }
            ));
        }
    }
    if tls.min_version > tls.max_version {
        return Err("tls_server_config: min_version is above max_version".to_owned());
    }
    if tls.min_version <= TlsVersion::Tls12 && tls.max_version >= TlsVersion::Tls12 {
        versions.push(&rustls::version::TLS12);
    }
    if tls.max_version >= TlsVersion::Tls13 {
        versions.push(&rustls::version::TLS13);
    }

    let provider = Arc::new(provider(tls)?);
    let client_auth = match tls.client_auth_type.as_str() {
        "" | "NoClientCert" => ClientAuth::NoClientCert,
        "RequestClientCert" => ClientAuth::RequestClientCert,
        "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
        "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
        other => {
            return Err(format!(
                "tls_server_config.client_auth_type: invalid ClientAuth: {other}"
            ));
        }
    };
    let has_ca = tls.client_ca_file.is_some() || !tls.client_ca.is_empty();
    if has_ca && client_auth == ClientAuth::NoClientCert {
        return Err("client CA's have been configured without a Client Auth Policy".to_owned());
    }
    let allowed_sans = match &tls.client_allowed_sans {
        None => None,
        Some(sans) => {
            if !matches!(
                client_auth,
                ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
            ) {
                return Err("client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert".to_owned());
            }
            Some(parse_allowed_sans(sans)?)
        }
    };
    let verifier: Arc<dyn ClientCertVerifier> = match client_auth {
        ClientAuth::NoClientCert => WebPkiClientVerifier::no_client_auth(),
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            Arc::new(AnyClientCert {
                mandatory: client_auth == ClientAuth::RequireAnyClientCert,
                algorithms: provider.signature_verification_algorithms,
            })
        }
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            if !has_ca {
                return Err(format!(
                    "tls_server_config.client_auth_type: {} needs client_ca_file or client_ca (this server does not verify client certificates against the system roots)",
                    tls.client_auth_type
                ));
            }
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&inputs.client_ca) {
                let cert = cert.map_err(|e| format!("tls_server_config: client CA: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("tls_server_config: client CA: {e}"))?;
            }
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let builder = if client_auth == ClientAuth::VerifyClientCertIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder
                .build()
                .map_err(|e| format!("tls_server_config: client CA: {e}"))?
        }
    };
    let verifier = match allowed_sans {
        Some(allowed) => Arc::new(AllowedSans {
            inner: verifier,
            allowed,
            listed: tls.client_allowed_sans.clone().unwrap_or_default(),
        }),
        None => verifier,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&inputs.cert)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("failed to load X509KeyPair: certificate: {e}"))?;
    if certs.is_empty() {
        return Err(
            "failed to load X509KeyPair: no certificate found in cert or cert_file".to_owned(),
        );
    }
    let key = PrivateKeyDer::from_pem_slice(&inputs.key)
        .map_err(|e| format!("failed to load X509KeyPair: key: {e}"))?;

    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| format!("failed to load X509KeyPair: {e}"))?;
    config.ignore_client_order = tls.prefer_server_cipher_suites;
    config.alpn_protocols = alpn.to_vec();
    Ok(config)
}

/// Go's `RequestClientCert` and `RequireAnyClientCert`: a client certificate is asked for
/// (and, when mandatory, required) but not verified against any CA; the handshake signature
/// is still checked, so the client holds the certificate's key.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `client_allowed_sans` as names a certificate can be checked against: DNS names and IP
/// addresses (the e-mail and URI SANs Go also compares are not supported).
fn parse_allowed_sans(sans: &[String]) -> Result<Vec<ServerName<'static>>, String> {
    sans.iter()
        .map(|san| {
            ServerName::try_from(san.clone()).map_err(|_| {
                format!(
                    "tls_server_config.client_allowed_sans: {san:?}: only DNS names and IP addresses are supported by this server"
                )
            })
        })
        .collect()
}

/// Go's `VerifyPeerCertificate` for `client_allowed_sans`: after the usual verification,
/// the client certificate must carry one of the allowed names among its SANs.
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<ServerName<'static>>,
    /// The list as configured, for the error message.
    listed: Vec<String>,
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(|e| {
            rustls::Error::General(format!("error parsing client certificate: {e}"))
        })?;
        if self
            .allowed
            .iter()
            .any(|name| cert.verify_is_valid_for_subject_name(name).is_ok())
        {
            Ok(verified)
        } else {
            Err(rustls::Error::General(format!(
                "could not find allowed SANs in client cert, found: {:?}",
                self.listed
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A bcrypt hash of "fakepassword" checked for unknown users, so that timing does not tell
/// which user names exist (as the toolkit does).
const FAKE_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

/// How many verified (user, hash, password) outcomes are remembered (the toolkit's 100).
const AUTH_CACHE_SIZE: usize = 100;

/// Go's `rate.Limiter`: a token bucket refilled one token per interval, holding at most
/// `burst`, starting full.
#[derive(Debug)]
struct Limiter {
    interval: Duration,
    burst: u32,
    state: Mutex<(f64, Instant)>,
}

impl Limiter {
    fn allow(&self) -> bool {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let (tokens, last) = *state;
        let refill = now.duration_since(last).as_secs_f64() / self.interval.as_secs_f64();
        let tokens = (tokens + refill).min(f64::from(self.burst));
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            true
        } else {
            *state = (tokens, now);
            false
        }
    }
}

/// A TLS config and what it was built from.
type BuiltTls = (Arc<WebConfig>, TlsInputs, Arc<ServerConfig>);

/// The web config of a running server: re-read for every request and TLS connection, parsed
/// again only when the file changed; with the basic-auth cache and the rate limiter.
#[derive(Debug)]
pub(crate) struct Source {
    path: PathBuf,
    /// The file's text and what it parsed to, last time it was read.
    parsed: Mutex<Option<(String, Arc<WebConfig>)>>,
    /// The last TLS config built and its inputs.
    tls: Mutex<Option<BuiltTls>>,
    /// Outcomes of bcrypt checks by (user, hash, password).
    auth_cache: Mutex<HashMap<(String, String, String), bool>>,
    /// Serializes bcrypt checks, which are slow on purpose.
    bcrypt_lock: Mutex<()>,
    limiter: Option<Limiter>,
    alpn: Vec<Vec<u8>>,
    tls_enabled: bool,
}

impl std::fmt::Debug for TlsInputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsInputs")
    }
}

/// What the web config says about one request.
pub(crate) enum Verdict {
    /// Serve it, then add these headers to the response.
    Serve(Vec<(http::HeaderName, http::HeaderValue)>),
    /// Answer this instead.
    Refuse(http::Response<http_body_util::Full<bytes::Bytes>>),
}

fn plain(
    status: http::StatusCode,
    headers: &[(http::HeaderName, http::HeaderValue)],
) -> http::Response<http_body_util::Full<bytes::Bytes>> {
    let body = format!("{}\n", status.canonical_reason().unwrap_or(""));
    let mut resp = http::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    for (k, v) in headers {
        h.insert(k.clone(), v.clone());
    }
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        http::HeaderValue::from_static("nosniff"),
    );
    resp
}

/// Go's `Request.BasicAuth`: user and password of an `Authorization: Basic` header.
fn basic_auth(headers: &http::HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case("Basic ") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

impl Source {
    /// Loads and checks `path` at start-up: the users' hashes and, when TLS is configured,
    /// a full TLS config (so that a broken certificate fails the start, not the first
    /// client).
    pub(crate) fn open(path: &Path) -> Result<Source> {
        check_web_config(path)?;
        let cfg = WebConfig::load(path)?;
        let alpn = if cfg.http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        Ok(Source {
            path: path.to_owned(),
            parsed: Mutex::new(None),
            tls: Mutex::new(None),
            auth_cache: Mutex::new(HashMap::new()),
            bcrypt_lock: Mutex::new(()),
            limiter: cfg.rate_limit.map(|(interval, burst)| Limiter {
                interval,
                burst,
                state: Mutex::new((f64::from(burst), Instant::now())),
            }),
            alpn,
            tls_enabled: cfg.tls.is_enabled(),
        })
    }

    /// Whether the server speaks TLS (decided at start, as in the toolkit).
    pub(crate) fn tls_enabled(&self) -> bool {
        self.tls_enabled
    }

    /// Whether HTTP/2 is offered over TLS.
    pub(crate) fn http2(&self) -> bool {
        self.alpn.len() > 1
    }

    /// The configuration as the file says now.
    fn current(&self) -> Result<Arc<WebConfig>, String> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("reading web config file {}: {e}", self.path.display()))?;
        let mut parsed = self
            .parsed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((old, cfg)) = parsed.as_ref()
            && *old == text
        {
            return Ok(cfg.clone());
        }
        let cfg = Arc::new(
            WebConfig::parse(&text, self.path.parent().unwrap_or(Path::new("")))
                .map_err(|e| format!("parsing web config file {}: {e}", self.path.display()))?,
        );
        *parsed = Some((text, cfg.clone()));
        Ok(cfg)
    }

    /// The TLS config for a new connection, from the file and certificates as they are now.
    pub(crate) fn tls_config(&self) -> Result<Arc<ServerConfig>, String> {
        let cfg = self.current()?;
        if !cfg.tls.is_enabled() {
            return Err("TLS config is not present".to_owned());
        }
        let inputs = read_tls_inputs(&cfg.tls)?;
        let mut cached = self
            .tls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((old_cfg, old_inputs, server)) = cached.as_ref()
            && **old_cfg == *cfg
            && *old_inputs == inputs
        {
            return Ok(server.clone());
        }
        let server = Arc::new(build_tls_from(&cfg, &inputs, &self.alpn)?);
        *cached = Some((cfg, inputs, server.clone()));
        Ok(server)
    }

    /// Applies the rate limit, the headers and basic auth to a request, as the toolkit's
    /// `webHandler` does before handing it on.
    pub(crate) async fn check(self: &Arc<Self>, headers: &http::HeaderMap) -> Verdict {
        let cfg = match self.current() {
            Ok(cfg) => cfg,
            Err(err) => {
                tracing::error!(err = %err, "Unable to parse configuration");
                return Verdict::Refuse(plain(http::StatusCode::INTERNAL_SERVER_ERROR, &[]));
            }
        };
        if let Some(limiter) = &self.limiter
            && !limiter.allow()
        {
            return Verdict::Refuse(plain(http::StatusCode::TOO_MANY_REQUESTS, &[]));
        }
        let extra: Vec<(http::HeaderName, http::HeaderValue)> = cfg
            .headers
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    http::HeaderName::from_bytes(k.as_bytes()).ok()?,
                    http::HeaderValue::from_str(v).ok()?,
                ))
            })
            .collect();
        if cfg.basic_auth_users.is_empty() {
            return Verdict::Serve(extra);
        }
        if let Some((user, pass)) = basic_auth(headers) {
            let (hash, known) = match cfg.basic_auth_users.get(&user) {
                Some(hash) => (hash.clone(), true),
                None => (FAKE_HASH.to_owned(), false),
            };
            let key = (user, hash, pass);
            let cached = self
                .auth_cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&key)
                .copied();
            let ok = match cached {
                Some(ok) => ok,
                None => {
                    let this = self.clone();
                    let (hash, pass) = (key.1.clone(), key.2.clone());
                    let verified = tokio::task::spawn_blocking(move || {
                        let _one_at_a_time = this
                            .bcrypt_lock
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        bcrypt::verify(pass, &hash).unwrap_or(false)
                    })
                    .await
                    .unwrap_or(false);
                    let ok = known && verified;
                    let mut cache = self
                        .auth_cache
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if cache.len() >= AUTH_CACHE_SIZE {
                        // Drop a tenth at once so this does not run on every request.
                        let evict: Vec<_> = cache
                            .keys()
                            .take(AUTH_CACHE_SIZE / 10 + 1)
                            .cloned()
                            .collect();
                        for k in evict {
                            cache.remove(&k);
                        }
                    }
                    cache.insert(key, ok);
                    ok
                }
            };
            if ok && known {
                return Verdict::Serve(extra);
            }
        }
        let mut with_auth = extra;
        with_auth.push((
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Basic"),
        ));
        Verdict::Refuse(plain(http::StatusCode::UNAUTHORIZED, &with_auth))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebConfig, String> {
        WebConfig::parse(text, Path::new("/etc/prometheus"))
    }

    #[test]
    fn defaults_and_relative_paths_as_the_toolkit() {
        let cfg = parse(
            "tls_server_config:\n  cert_file: tls/server.crt\n  key_file: /abs/server.key\nbasic_auth_users:\n  alice: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n",
        )
        .expect("valid");
        assert!(cfg.tls.is_enabled());
        assert_eq!(
            cfg.tls.cert_file.as_deref(),
            Some(Path::new("/etc/prometheus/tls/server.crt"))
        );
        assert_eq!(
            cfg.tls.key_file.as_deref(),
            Some(Path::new("/abs/server.key"))
        );
        assert_eq!(cfg.tls.min_version, TlsVersion::Tls12);
        assert_eq!(cfg.tls.max_version, TlsVersion::Tls13);
        assert!(cfg.tls.prefer_server_cipher_suites);
        assert!(cfg.http2);
        assert_eq!(cfg.basic_auth_users.len(), 1);
        assert_eq!(cfg.validate_users(), Ok(()));

        let empty = parse("").expect("an empty file is valid");
        assert!(!empty.tls.is_enabled());
        let nulls =
            parse("basic_auth_users:\nhttp_server_config:\n").expect("nulls are zero values");
        assert!(nulls.basic_auth_users.is_empty());
    }

    #[test]
    fn strict_loading_rejects_unknown_fields() {
        let err = parse("tls_server_config:\n  cert_fil: x\n").expect_err("typo");
        assert!(err.contains("cert_fil"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        let err = parse("basic_auth:\n  a: b\n").expect_err("unknown top-level field");
        assert!(err.contains("basic_auth"), "{err}");
    }

    #[test]
    fn headers_are_limited_to_the_security_headers() {
        let err =
            parse("http_server_config:\n  headers:\n    Server: x\n").expect_err("not allowed");
        assert_eq!(err, "HTTP header \"Server\" can not be configured");
        let err = parse("http_server_config:\n  headers:\n    X-Frame-Options: allow\n")
            .expect_err("bad value");
        assert_eq!(
            err,
            "invalid value for X-Frame-Options. Expected one of: [\"deny\", \"sameorigin\"], but got: \"allow\""
        );
        let ok = parse(
            "http_server_config:\n  http2: false\n  headers:\n    Strict-Transport-Security: max-age=31536000\n",
        )
        .expect("valid");
        assert!(!ok.http2);
        assert_eq!(ok.headers["Strict-Transport-Security"], "max-age=31536000");
    }

    #[test]
    fn unsupported_tls_settings_name_their_field() {
        let tls = |extra: &str| {
            // A real key pair, so that Go's first check (the key pair) passes.
            let cfg = parse(&format!("tls_server_config:\n{}{extra}", inline_key_pair()))
                .expect("parses");
            // The TLS settings are checked before the certificate is parsed where they
            // do not need it; provider() and the version checks are the ones that matter.
            provider(&cfg.tls)
                .err()
                .or_else(|| build_tls(&cfg, &[]).err())
                .expect("refused")
        };
        assert_eq!(
            tls("  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\n"),
            "tls_server_config.cipher_suites: TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA is not supported by this server (rustls implements no CBC cipher suites)"
        );
        // Names Go does not know stop the loading, as the toolkit's `UnmarshalYAML` does.
        assert_eq!(
            parse("tls_server_config:\n  cipher_suites: [TLS_FOO]\n").expect_err("unknown"),
            "unknown cipher: TLS_FOO"
        );
        assert_eq!(
            parse("tls_server_config:\n  curve_preferences: [P999]\n").expect_err("unknown"),
            "unknown curve: P999"
        );
        assert_eq!(
            tls("  curve_preferences: [CurveP521]\n"),
            "tls_server_config.curve_preferences: CurveP521 is not supported by this server (rustls offers X25519, CurveP256 and CurveP384)"
        );
        assert_eq!(
            tls("  client_allowed_sans: [a.example]\n"),
            "client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert"
        );
        assert_eq!(
            parse_allowed_sans(&["a.example".to_owned(), "me@example.com".to_owned()])
                .expect_err("e-mail"),
            "tls_server_config.client_allowed_sans: \"me@example.com\": only DNS names and IP addresses are supported by this server"
        );
        let err = parse("tls_server_config:\n  min_version: SSL3\n").expect_err("unknown version");
        assert_eq!(err, "unknown TLS version: SSL3");
    }

    /// `cert:` and `key:` of a fresh self-signed key pair, as YAML lines of a block.
    fn inline_key_pair() -> String {
        let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("self-signed certificate");
        let block = |pem: String| {
            pem.lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        };
        format!(
            "  cert: |\n{}  key: |\n{}",
            block(pair.cert.pem()),
            block(pair.signing_key.serialize_pem())
        )
    }

    #[test]
    fn key_pair_blocks_fail_as_go_x509_key_pair() {
        let cert = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let key = b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(key_pair_blocks(cert, key), Ok(()));
        assert_eq!(
            key_pair_blocks(key, cert),
            Err("tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched".into())
        );
        assert_eq!(
            key_pair_blocks(cert, cert),
            Err("tls: found a certificate rather than a key in the PEM for the private key".into())
        );
        // A body that is no base64 is no PEM block for Go.
        let bad = b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
        assert_eq!(
            key_pair_blocks(bad, key),
            Err("tls: failed to find any PEM data in certificate input".into())
        );
        let params = b"-----BEGIN EC PARAMETERS-----\nBggq\n-----END EC PARAMETERS-----\n";
        assert_eq!(
            key_pair_blocks(cert, params),
            Err("tls: failed to find PEM block with type ending in \"PRIVATE KEY\" in key input after skipping PEM blocks of the following types: [EC PARAMETERS]".into())
        );
    }

    #[test]
    fn check_reports_the_file_and_the_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("web.yml");
        let check = |text: &str| {
            std::fs::write(&path, text).expect("write");
            check_web_config(&path).map_err(|e| e.to_string())
        };
        assert_eq!(check("basic_auth_users: {}\n"), Ok(()));
        let err = check("basic_auth_users:\n  alice: plaintext\n").expect_err("not bcrypt");
        assert!(
            err.contains("crypto/bcrypt: hashedSecret too short to be a bcrypted password"),
            "{err}"
        );
        assert!(
            err.starts_with(&format!("web config file {}: ", path.display())),
            "{err}"
        );
        let err = check("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n")
            .expect_err("missing files");
        assert!(err.contains("failed to read cert_file ("), "{err}");
        let err = check("tls_server_config:\n  key_file: k\n").expect_err("no cert");
        assert!(
            err.ends_with("tls_server_config: missing one of cert or cert_file"),
            "{err}"
        );
        // Go reads the key pair first.
        let err = check("tls_server_config:\n  cert: c\n  key: k\n  client_auth_type: Maybe\n")
            .expect_err("no PEM");
        assert!(
            err.ends_with(
                "failed to load X509KeyPair: tls: failed to find any PEM data in certificate input"
            ),
            "{err}"
        );
        let err = check(&format!(
            "tls_server_config:\n{}  client_auth_type: Maybe\n",
            inline_key_pair()
        ))
        .expect_err("bad client auth");
        assert!(
            err.ends_with("tls_server_config.client_auth_type: invalid ClientAuth: Maybe"),
            "{err}"
        );
        let err = check_web_config(&dir.path().join("absent.yml")).expect_err("absent");
        assert!(
            err.to_string().starts_with("reading web config file "),
            "{err}"
        );
    }

    #[test]
    fn basic_auth_header_is_parsed_as_go_does() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("basic YWxpY2U6cDphc3M="),
        );
        assert_eq!(
            basic_auth(&h),
            Some(("alice".to_owned(), "p:ass".to_owned()))
        );
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Basic !!!"),
        );
        assert_eq!(basic_auth(&h), None);
    }
}
