//! HTTP client options shared by scrape jobs, remote write/read, Alertmanagers and many
//! service discoveries (prometheus/common `config/http_config.go`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config_struct;
use crate::yaml::Validate;

/// A secret string (password, token, key). Prints as `<secret>` when serialized or
/// debug-formatted, so `/api/v1/status/config` and logs never reveal it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret value itself, for the code that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty (unset).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() {
            s.serialize_none()
        } else {
            s.serialize_str("<secret>")
        }
    }
}

impl crate::yaml::GoType for Secret {
    fn go_type() -> String {
        "config.Secret".into()
    }
    fn go_inner() -> String {
        "config.plain".into()
    }
}

impl crate::yaml::GoType for Url {
    fn go_type() -> String {
        "*config.URL".into()
    }
    fn go_inner() -> String {
        "string".into()
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A URL as Prometheus's `config.URL` holds it: anything Go's lenient `url.Parse` accepts,
/// including relative references. Serializes with its password replaced by `xxxxx`, as Go's
/// `URL.Redacted` does.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Url {
    raw: String,
    parsed: Option<url::Url>,
}

impl Url {
    /// Parses `s` the way Go's `url.Parse` would accept it.
    pub fn parse(s: &str) -> Result<Url, String> {
        // Go's url.Parse refuses a host with characters it would have to escape.
        if s.contains("://") {
            let host = authority(s);
            let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
            if let Some(c) = host
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:[]<>\"%".contains(*c)))
            {
                return Err(format!(
                    "parse {s:?}: invalid character {:?} in host name",
                    c.to_string()
                ));
            }
        }
        match url::Url::parse(s) {
            Ok(u) => Ok(Url {
                raw: s.to_string(),
                parsed: Some(u),
            }),
            Err(url::ParseError::RelativeUrlWithoutBase)
                if !s.starts_with(':')
                    && s.split('/').next().is_some_and(|seg| seg.contains(':')) =>
            {
                // Go's url.Parse: no valid scheme, and a colon before the first slash.
                Err(format!(
                    "parse {s:?}: first path segment in URL cannot contain colon"
                ))
            }
            Err(url::ParseError::RelativeUrlWithoutBase | url::ParseError::EmptyHost)
                if !s.starts_with(':') =>
            {
                Ok(Url {
                    raw: s.to_string(),
                    parsed: None,
                })
            }
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                Err(format!("parse {s:?}: missing protocol scheme"))
            }
            Err(url::ParseError::InvalidIpv6Address)
                if authority(s).starts_with('[') && !authority(s).contains(']') =>
            {
                Err(format!("parse {s:?}: missing ']' in host"))
            }
            Err(url::ParseError::InvalidPort) => {
                let host = authority(s);
                let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
                let port = match host.rfind(']') {
                    Some(i) => &host[i + 1..],
                    None => host.find(':').map_or("", |i| &host[i..]),
                };
                Err(format!("parse {s:?}: invalid port {port:?} after host"))
            }
            Err(e) => Err(format!("parse {s:?}: {e}")),
        }
    }

    /// The URL as written in the configuration.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The parsed absolute URL, or `None` for a relative reference.
    pub fn absolute(&self) -> Option<&url::Url> {
        self.parsed.as_ref()
    }

    /// The scheme, empty for a relative reference.
    pub fn scheme(&self) -> &str {
        match &self.parsed {
            Some(u) => u.scheme(),
            None => match self.raw.split_once(':') {
                Some((scheme, _))
                    if !scheme.is_empty()
                        && scheme
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
                {
                    scheme
                }
                _ => "",
            },
        }
    }

    /// The host, empty when there is none.
    pub fn host(&self) -> &str {
        self.parsed
            .as_ref()
            .and_then(|u| u.host_str())
            .unwrap_or("")
    }

    /// Checks what Prometheus checks for SD endpoints: `http` or `https`, and a host.
    pub(crate) fn check_http(&self) -> Result<(), String> {
        if self.scheme() != "http" && self.scheme() != "https" {
            return Err("URL scheme must be 'http' or 'https'".into());
        }
        if self.host().is_empty() {
            return Err("host is missing in URL".into());
        }
        Ok(())
    }

    fn redacted(&self) -> String {
        match &self.parsed {
            Some(u) if u.password().is_some() => {
                let mut u = u.clone();
                // Setting a password only fails for URLs that cannot have one, and this one has.
                let _ = u.set_password(Some("xxxxx"));
                u.to_string()
            }
            _ => self.raw.clone(),
        }
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for Url {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.raw.is_empty() {
            s.serialize_none()
        } else {
            s.serialize_str(&self.redacted())
        }
    }
}

impl<'de> Deserialize<'de> for Url {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Url::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The authority of a URL (`user@host:port`), for Go's wording of URL errors.
fn authority(s: &str) -> &str {
    let rest = s.split_once("//").map_or(s, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

/// Joins a relative path with the config file's directory and cleans it lexically (Go's
/// `config.JoinDir`, which uses `filepath.Join`); empty and absolute paths are left alone.
pub(crate) fn join_dir(dir: &Path, file: &mut String) {
    if file.is_empty() || Path::new(file.as_str()).is_absolute() {
        return;
    }
    *file = clean(&dir.join(file.as_str()))
        .to_string_lossy()
        .into_owned();
}

/// Go's `filepath.Clean` for joined paths: drops `.` and resolves `..` against preceding
/// normal components.
fn clean(path: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            _ => out.push(c),
        }
    }
    if out.is_empty() {
        return std::path::PathBuf::from(".");
    }
    out.iter().collect()
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// A TLS protocol version (`TLS10` … `TLS13`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum TlsVersion {
    /// TLS 1.0.
    #[serde(rename = "TLS10")]
    Tls10,
    /// TLS 1.1.
    #[serde(rename = "TLS11")]
    Tls11,
    /// TLS 1.2.
    #[serde(rename = "TLS12")]
    Tls12,
    /// TLS 1.3.
    #[serde(rename = "TLS13")]
    Tls13,
}

/// Read as Go's `TLSVersion.UnmarshalYAML`: a string, an unknown one stopping the load.
impl<'de> Deserialize<'de> for TlsVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "TLS10" => TlsVersion::Tls10,
            "TLS11" => TlsVersion::Tls11,
            "TLS12" => TlsVersion::Tls12,
            "TLS13" => TlsVersion::Tls13,
            _ => {
                return Err(serde::de::Error::custom(format!(
                    "unknown TLS version: {s}"
                )));
            }
        })
    }
}

config_struct! {
    /// TLS options (`tls_config`).
    #[derive(Default)]
    pub struct TlsConfig [go = "config.TLSConfig", "config.plain"] {
        /// Inline PEM CA certificate.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub ca: String,
        /// File holding the CA certificate.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub ca_file: String,
        /// Secret-manager reference to the CA certificate.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub ca_ref: String,
        /// Inline PEM client certificate.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub cert: String,
        /// File holding the client certificate.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub cert_file: String,
        /// Secret-manager reference to the client certificate.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub cert_ref: String,
        /// Inline PEM client key.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub key: Secret,
        /// File holding the client key.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub key_file: String,
        /// Secret-manager reference to the client key.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub key_ref: String,
        /// Server name for SNI and certificate verification.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub server_name: String,
        /// Disables server certificate verification.
        pub insecure_skip_verify: bool,
        /// Minimum TLS version.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub min_version: Option<TlsVersion>,
        /// Maximum TLS version.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub max_version: Option<TlsVersion>,
    }
}

fn count_set(values: &[bool]) -> usize {
    values.iter().filter(|&&b| b).count()
}

impl Validate for TlsConfig {
    fn validate(&mut self) -> Result<(), String> {
        if count_set(&[
            !self.ca.is_empty(),
            !self.ca_file.is_empty(),
            !self.ca_ref.is_empty(),
        ]) > 1
        {
            return Err("at most one of ca, ca_file & ca_ref must be configured".into());
        }
        let cert = count_set(&[
            !self.cert.is_empty(),
            !self.cert_file.is_empty(),
            !self.cert_ref.is_empty(),
        ]);
        let key = count_set(&[
            !self.key.is_empty(),
            !self.key_file.is_empty(),
            !self.key_ref.is_empty(),
        ]);
        if cert > 1 {
            return Err("at most one of cert, cert_file & cert_ref must be configured".into());
        }
        if key > 1 {
            return Err("at most one of key and key_file must be configured".into());
        }
        if cert > 0 && key == 0 {
            return Err(
                "exactly one of key or key_file must be configured when a client certificate is configured"
                    .into(),
            );
        }
        if key > 0 && cert == 0 {
            return Err(
                "exactly one of cert or cert_file must be configured when a client key is configured"
                    .into(),
            );
        }
        if let (Some(min), Some(max)) = (self.min_version, self.max_version)
            && min > max
        {
            return Err(format!(
                "tls_config.max_version must be greater than or equal to tls_config.min_version if both are specified, got min_version {min:?} and max_version {max:?}"
            ));
        }
        Ok(())
    }
}

impl TlsConfig {
    /// Joins relative file paths with `dir`.
    pub fn set_directory(&mut self, dir: &Path) {
        join_dir(dir, &mut self.ca_file);
        join_dir(dir, &mut self.cert_file);
        join_dir(dir, &mut self.key_file);
    }

    fn is_default(&self) -> bool {
        *self == TlsConfig::default()
    }
}

config_struct! {
    /// HTTP basic authentication (`basic_auth`).
    #[derive(Default)]
    pub struct BasicAuth [go = "*config.BasicAuth", "config.plain"] {
        /// The user name.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub username: String,
        /// File holding the user name.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub username_file: String,
        /// Secret-manager reference to the user name.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub username_ref: String,
        /// The password.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub password: Secret,
        /// File holding the password.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub password_file: String,
        /// Secret-manager reference to the password.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub password_ref: String,
    }
}

impl Validate for BasicAuth {
    fn validate(&mut self) -> Result<(), String> {
        if count_set(&[
            !self.username.is_empty(),
            !self.username_file.is_empty(),
            !self.username_ref.is_empty(),
        ]) > 1
        {
            return Err(
                "at most one of basic_auth username, username_file & username_ref must be configured"
                    .into(),
            );
        }
        if count_set(&[
            !self.password.is_empty(),
            !self.password_file.is_empty(),
            !self.password_ref.is_empty(),
        ]) > 1
        {
            return Err(
                "at most one of basic_auth password, password_file & password_ref must be configured"
                    .into(),
            );
        }
        Ok(())
    }
}

config_struct! {
    /// The `Authorization` header (`authorization`).
    #[derive(Default)]
    pub struct Authorization [go = "*config.Authorization", "config.Authorization"] {
        /// The scheme (`Bearer` when empty).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub r#type: String,
        /// The credentials.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub credentials: Secret,
        /// File holding the credentials.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub credentials_file: String,
        /// Secret-manager reference to the credentials.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub credentials_ref: String,
    }
}

impl Validate for Authorization {}

config_struct! {
    /// OAuth 2.0 client credentials (`oauth2`).
    #[derive(Default)]
    pub struct OAuth2 [go = "*config.OAuth2", "config.plain"] {
        /// The client id.
        pub client_id: String,
        /// The client secret.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub client_secret: Secret,
        /// File holding the client secret.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub client_secret_file: String,
        /// Secret-manager reference to the client secret.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub client_secret_ref: String,
        /// Key id of the client certificate key (JWT bearer grant).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub client_certificate_key_id: String,
        /// Inline client certificate key (JWT bearer grant).
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub client_certificate_key: Secret,
        /// File holding the client certificate key.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub client_certificate_key_file: String,
        /// Secret-manager reference to the client certificate key.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub client_certificate_key_ref: String,
        /// OAuth2 grant type.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub grant_type: String,
        /// JWT signature algorithm.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub signature_algorithm: String,
        /// JWT issuer.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub iss: String,
        /// JWT audience.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub audience: String,
        /// Extra JWT claims.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub claims: BTreeMap<String, String>,
        /// Requested scopes.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub scopes: Vec<String>,
        /// The token endpoint.
        pub token_url: String,
        /// Extra parameters for the token request.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub endpoint_params: BTreeMap<String, String>,
        /// TLS options for the token endpoint.
        #[serde(skip_serializing_if = "TlsConfig::is_default")]
        pub tls_config: TlsConfig,
    }
    inline {
        /// Proxy for the token endpoint.
        pub proxy: ProxyConfig,
    }
}

impl Validate for OAuth2 {
    fn validate(&mut self) -> Result<(), String> {
        if self.client_id.is_empty() {
            return Err("oauth2 client_id must be configured".into());
        }
        if count_set(&[
            !self.client_secret.is_empty(),
            !self.client_secret_file.is_empty(),
            !self.client_secret_ref.is_empty(),
        ]) > 1
        {
            return Err(
                "at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured"
                    .into(),
            );
        }
        if self.token_url.is_empty() {
            return Err("oauth2 token_url must be configured".into());
        }
        if self.grant_type == "urn:ietf:params:oauth:grant-type:jwt-bearer"
            && !self.signature_algorithm.is_empty()
            && !["RS256", "RS384", "RS512"].contains(&self.signature_algorithm.as_str())
        {
            return Err("valid signature algorithms are RS256, RS384 and RS512".into());
        }
        self.proxy.check()
    }
}

config_struct! {
    /// Proxy options, inlined into the HTTP client and OAuth2 options.
    #[derive(Default)]
    pub struct ProxyConfig [go = "config.ProxyConfig", "config.ProxyConfig"] {
        /// Proxy URL.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub proxy_url: Option<Url>,
        /// Comma-separated hosts that bypass the proxy.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub no_proxy: String,
        /// Use the proxy from `HTTP(S)_PROXY`/`NO_PROXY`.
        #[serde(skip_serializing_if = "is_false")]
        pub proxy_from_environment: bool,
        /// Headers sent on CONNECT to the proxy.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub proxy_connect_header: BTreeMap<String, Vec<Secret>> [go = "config.ProxyHeader"],
    }
}

impl Validate for ProxyConfig {}

impl ProxyConfig {
    fn check(&self) -> Result<(), String> {
        let has_url = self
            .proxy_url
            .as_ref()
            .is_some_and(|u| !u.as_str().is_empty());
        if self.proxy_from_environment && has_url {
            return Err(
                "if proxy_from_environment is configured, proxy_url must not be configured".into(),
            );
        }
        if self.proxy_from_environment && !self.no_proxy.is_empty() {
            return Err(
                "if proxy_from_environment is configured, no_proxy must not be configured".into(),
            );
        }
        if !has_url && !self.no_proxy.is_empty() {
            return Err("if no_proxy is configured, proxy_url must also be configured".into());
        }
        if !has_url && !self.proxy_from_environment && !self.proxy_connect_header.is_empty() {
            return Err(
                "if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured"
                    .into(),
            );
        }
        Ok(())
    }
}

config_struct! {
    /// One custom header (`http_headers.NAME`): plain values, secret values and files.
    #[derive(Default)]
    pub struct Header [go = "config.Header", "config.Header"] {
        /// Plain values.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub values: Vec<String>,
        /// Secret values.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub secrets: Vec<Secret>,
        /// Files whose contents are values.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub files: Vec<String>,
    }
}

impl Validate for Header {}

/// Headers that `http_headers` may not set (prometheus/common `reservedHeaders`).
const RESERVED_HTTP_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-prometheus-scrape-timeout-seconds",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

config_struct! {
    /// The HTTP client options inlined into every block that talks HTTP (Go's
    /// `config.HTTPClientConfig`). Defaults: `follow_redirects: true`, `enable_http2: true`.
    pub struct HttpClientConfig [go = "config.HTTPClientConfig", "config.plain"] {
        /// Basic authentication.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub basic_auth: Option<BasicAuth>,
        /// `Authorization` header.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub authorization: Option<Authorization>,
        /// OAuth 2.0.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub oauth2: Option<OAuth2>,
        /// Deprecated: use `authorization`. Moved there by validation.
        #[serde(skip_serializing_if = "Secret::is_empty")]
        pub bearer_token: Secret,
        /// Deprecated: use `authorization.credentials_file`. Moved there by validation.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub bearer_token_file: String,
        /// TLS options.
        #[serde(skip_serializing_if = "TlsConfig::is_default")]
        pub tls_config: TlsConfig,
        /// Follow HTTP 3xx redirects.
        pub follow_redirects: bool,
        /// Allow HTTP/2.
        pub enable_http2: bool,
        /// Custom headers.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub http_headers: BTreeMap<String, Header>,
    }
    inline {
        /// Proxy options.
        pub proxy: ProxyConfig,
    }
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            oauth2: None,
            bearer_token: Secret::default(),
            bearer_token_file: String::new(),
            tls_config: TlsConfig::default(),
            follow_redirects: true,
            enable_http2: true,
            http_headers: BTreeMap::new(),
            proxy: ProxyConfig::default(),
        }
    }
}

impl Validate for HttpClientConfig {}

impl HttpClientConfig {
    /// Go's `HTTPClientConfig.Validate`: mutually exclusive authentication methods, and the
    /// deprecated bearer token options moved into `authorization`.
    pub fn check(&mut self) -> Result<(), String> {
        let bearer = !self.bearer_token.is_empty() || !self.bearer_token_file.is_empty();
        if !self.bearer_token.is_empty() && !self.bearer_token_file.is_empty() {
            return Err(
                "at most one of bearer_token & bearer_token_file must be configured".into(),
            );
        }
        if (self.basic_auth.is_some() || self.oauth2.is_some()) && bearer {
            return Err(
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
                    .into(),
            );
        }
        if let Some(auth) = &mut self.authorization {
            if bearer {
                return Err(
                    "authorization is not compatible with bearer_token & bearer_token_file".into(),
                );
            }
            if count_set(&[
                !auth.credentials.is_empty(),
                !auth.credentials_file.is_empty(),
                !auth.credentials_ref.is_empty(),
            ]) > 1
            {
                return Err(
                    "at most one of authorization credentials & credentials_file must be configured"
                        .into(),
                );
            }
            auth.r#type = auth.r#type.trim().to_string();
            if auth.r#type.is_empty() {
                auth.r#type = "Bearer".into();
            }
            if auth.r#type.eq_ignore_ascii_case("basic") {
                return Err(
                    "authorization type cannot be set to \"basic\", use \"basic_auth\" instead"
                        .into(),
                );
            }
        }
        if count_set(&[
            self.basic_auth.is_some(),
            self.oauth2.is_some(),
            self.authorization.is_some(),
        ]) > 1
        {
            return Err(
                "at most one of basic_auth, oauth2 & authorization must be configured".into(),
            );
        }
        if bearer {
            self.authorization = Some(Authorization {
                r#type: "Bearer".into(),
                credentials: std::mem::take(&mut self.bearer_token),
                credentials_file: std::mem::take(&mut self.bearer_token_file),
                credentials_ref: String::new(),
            });
        }
        for name in self.http_headers.keys() {
            if RESERVED_HTTP_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(format!("setting header {name:?} is not allowed"));
            }
        }
        self.proxy.check()
    }

    /// Joins relative file paths with `dir` (Go's `SetDirectory`).
    pub fn set_directory(&mut self, dir: &Path) {
        if let Some(b) = &mut self.basic_auth {
            join_dir(dir, &mut b.username_file);
            join_dir(dir, &mut b.password_file);
        }
        if let Some(a) = &mut self.authorization {
            join_dir(dir, &mut a.credentials_file);
        }
        if let Some(o) = &mut self.oauth2 {
            join_dir(dir, &mut o.client_secret_file);
            join_dir(dir, &mut o.client_certificate_key_file);
            o.tls_config.set_directory(dir);
        }
        join_dir(dir, &mut self.bearer_token_file);
        self.tls_config.set_directory(dir);
        for h in self.http_headers.values_mut() {
            for f in &mut h.files {
                join_dir(dir, f);
            }
        }
    }

    /// Whether any authentication method is configured.
    pub fn has_auth(&self) -> bool {
        self.basic_auth.is_some() || self.authorization.is_some() || self.oauth2.is_some()
    }

    /// Whether this differs from the defaults in any way (used by SDs that take either a
    /// kubeconfig or HTTP options).
    pub fn is_default(&self) -> bool {
        *self == HttpClientConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn load(s: &str) -> Result<HttpClientConfig, String> {
        let mut c: HttpClientConfig = yaml::from_str(s).map_err(|e| e.to_string())?;
        c.check()?;
        Ok(c)
    }

    #[test]
    fn defaults_follow_redirects_and_http2() {
        let c = load("{}").unwrap();
        assert!(c.follow_redirects);
        assert!(c.enable_http2);
    }

    #[test]
    fn bearer_token_moves_into_authorization() {
        let c = load("bearer_token: abc").unwrap();
        let auth = c.authorization.unwrap();
        assert_eq!(auth.r#type, "Bearer");
        assert_eq!(auth.credentials.expose(), "abc");
        assert!(c.bearer_token.is_empty());
    }

    #[test]
    fn conflicting_auth_is_rejected() {
        let err = load("basic_auth: {username: a}\nauthorization: {credentials: b}").unwrap_err();
        assert!(
            err.contains("at most one of basic_auth, oauth2 & authorization"),
            "{err}"
        );
        let err = load("basic_auth: {username: a, password: b, password_file: c}").unwrap_err();
        assert!(err.contains("password, password_file"), "{err}");
        let err = load("authorization: {type: basic, credentials: x}").unwrap_err();
        assert!(err.contains("basic_auth"), "{err}");
    }

    #[test]
    fn jwt_bearer_signature_algorithms_are_rsa_only() {
        let jwt = "oauth2: {client_id: c, token_url: 'http://t', grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer'";
        assert!(load(&format!("{jwt}, signature_algorithm: RS512}}")).is_ok());
        let err = load(&format!("{jwt}, signature_algorithm: ES256}}")).unwrap_err();
        assert!(
            err.contains("valid signature algorithms are RS256, RS384 and RS512"),
            "{err}"
        );
        // Only the JWT bearer grant signs anything.
        assert!(
            load("oauth2: {client_id: c, token_url: 'http://t', signature_algorithm: ES256}")
                .is_ok()
        );
    }

    #[test]
    fn secrets_serialize_redacted() {
        let c = load("basic_auth: {username: u, password: hunter2}").unwrap();
        let out = yaml::to_string(&c).unwrap();
        assert!(out.contains("<secret>"), "{out}");
        assert!(!out.contains("hunter2"), "{out}");
        assert_eq!(format!("{:?}", Secret::new("x")), "<secret>");
    }

    #[test]
    fn tls_key_without_cert_is_rejected() {
        let err = load("tls_config: {key_file: k}").unwrap_err();
        assert!(err.contains("exactly one of cert or cert_file"), "{err}");
        assert!(load("tls_config: {min_version: TLS14}").is_err());
    }

    #[test]
    fn reserved_http_headers_are_rejected() {
        let err = load("http_headers: {User-Agent: {values: [x]}}").unwrap_err();
        assert!(err.contains("User-Agent"), "{err}");
    }

    #[test]
    fn relative_files_join_the_config_directory() {
        let mut c = load("tls_config: {cert_file: c.pem, key_file: /abs/k.pem}").unwrap();
        c.set_directory(Path::new("/etc/prom"));
        assert_eq!(c.tls_config.cert_file, "/etc/prom/c.pem");
        assert_eq!(c.tls_config.key_file, "/abs/k.pem");
        assert_eq!(clean(Path::new("a/b/../c/./d")), Path::new("a/c/d"));
        assert_eq!(clean(Path::new("../x")), Path::new("../x"));
        assert_eq!(clean(Path::new("/../x")), Path::new("/x"));
    }

    #[test]
    fn urls_parse_leniently_and_redact_passwords() {
        let u = Url::parse("http://user:pw@host:9090/x").unwrap();
        assert_eq!(u.to_string(), "http://user:xxxxx@host:9090/x");
        assert!(Url::parse("foo").is_ok());
        assert!(Url::parse("://invalid").is_err());
        assert!(Url::parse("http://").unwrap().check_http().is_err());
    }
}
