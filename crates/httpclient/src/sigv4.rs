//! `sigv4`: AWS Signature Version 4 signing of every request (remote write to Amazon Managed
//! Service for Prometheus and compatible endpoints), as prometheus/sigv4's round tripper does,
//! with credentials from the AWS SDK's default chain (`sigv4/chain.rs`: the config, the
//! environment, the shared AWS files, web identity, the container endpoint, the instance
//! metadata service; fetched by `sigv4/sources.rs`), optionally exchanged for a role's
//! through STS `AssumeRole` (`role_arn`).

mod chain;
mod sources;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use config::remote::SigV4Config;
use http::{HeaderMap, HeaderValue, Method, Uri};
use ring::{digest, hmac};

use crate::{Error, Result};
use sources::{AssumeRole, Cached, Source};

/// Credentials that expire are renewed this long before (prometheus/sigv4's credential
/// cache window).
pub(crate) const EXPIRY_WINDOW: Duration = Duration::from_secs(30);

/// Headers never signed: set or changed on the way (Go's signer and prometheus/sigv4's
/// deny list).
const UNSIGNED_HEADERS: &[&str] = &[
    "authorization",
    "user-agent",
    "x-amzn-trace-id",
    "expect",
    "transfer-encoding",
    "uber-trace-id",
    "proxy-authorization",
    "connection",
];

/// Static AWS credentials.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) access_key: String,
    pub(crate) secret_key: String,
    pub(crate) session_token: String,
}

/// Signs requests for one region and service.
pub(crate) struct Signer {
    region: String,
    service: String,
    /// Shared by the signers of one identity for several services
    /// ([`Signer::for_service`]).
    credentials: std::sync::Arc<Cached>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("region", &self.region)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

pub(crate) fn sigv4_err(message: impl Into<String>) -> Error {
    Error::SigV4 {
        message: message.into(),
    }
}

impl Signer {
    /// A signer for `cfg`, with credentials and region resolved now from the process
    /// environment and the shared AWS files.
    pub(crate) fn new(cfg: &SigV4Config) -> Result<Signer> {
        Signer::with_env(cfg, &|name| std::env::var(name).ok())
    }

    /// [`Signer::new`] with the environment read through `env` (tests inject theirs).
    ///
    /// Credentials: `access_key`/`secret_key`, else the AWS SDK's default chain
    /// (`sigv4/chain.rs`). Credentials that come from elsewhere than static keys
    /// (web identity, the container endpoint, the instance metadata service, a profile's
    /// role) are fetched now, so that a config without usable credentials fails to load,
    /// as prometheus/sigv4 fails it. Region: `region`, else `AWS_REGION`/
    /// `AWS_DEFAULT_REGION`, else the profile's. With `role_arn`, those credentials sign an
    /// STS `AssumeRole` at the first request.
    pub(crate) fn with_env(
        cfg: &SigV4Config,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Signer> {
        let env = |name: &str| env(name).filter(|v| !v.is_empty());
        let mut chain = chain::Chain::new(&env, cfg.use_fips_sts_endpoint)?;
        let source = chain.resolve(cfg)?;
        let base = if source.is_static() {
            Cached::new(source)
        } else {
            let first = sources::block_on(source.fetch())
                .map_err(|e| sigv4_err(format!("could not get SigV4 credentials: {e}")))?;
            Cached::seeded(source, first)
        };
        let region = chain.region().map(str::to_owned).ok_or_else(|| {
            sigv4_err("region not configured in sigv4 or in default credentials chain")
        })?;
        let credentials = if cfg.role_arn.is_empty() {
            base
        } else {
            Cached::new(Source::AssumeRole(Box::new(AssumeRole {
                base,
                role_arn: cfg.role_arn.clone(),
                external_id: cfg.external_id.clone(),
                session_name: String::new(),
                endpoint: chain.sts_endpoint()?,
                region: region.clone(),
            })))
        };
        Ok(Signer {
            region,
            service: if cfg.service_name.is_empty() {
                "aps".to_owned()
            } else {
                cfg.service_name.clone()
            },
            credentials: std::sync::Arc::new(credentials),
        })
    }

    /// A signer for `service` in the same region with the same credentials cache (one
    /// fetch, one role assumption for both).
    pub(crate) fn for_service(&self, service: &str) -> Signer {
        Signer {
            region: self.region.clone(),
            service: service.to_owned(),
            credentials: std::sync::Arc::clone(&self.credentials),
        }
    }

    /// The credentials to sign with now: cached, fetched again when there are none or
    /// they expire within 30 s.
    pub(crate) async fn credentials(&self) -> Result<Credentials> {
        self.credentials.get().await
    }

    /// Signs a request about to be sent: cleans `uri`'s path as Go does (the request goes
    /// out with the cleaned path), sets `X-Amz-Date`, `X-Amz-Security-Token` (temporary
    /// credentials) and `Authorization`. Every header in `headers` but the unsigned ones is
    /// signed, with the `Host` the client will send.
    pub(crate) fn sign(
        &self,
        creds: &Credentials,
        method: &Method,
        uri: &mut Uri,
        headers: &mut HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<()> {
        sign_request(
            creds,
            &self.region,
            &self.service,
            method,
            uri,
            headers,
            body,
            now,
        )
    }
}

/// The AWS region to use when none is configured, found as the AWS SDK for Go v2 finds it
/// for Prometheus's AWS discoveries (`LoadDefaultConfig`, then the instance metadata
/// service): `AWS_REGION`, `AWS_DEFAULT_REGION`, the `region` of the `AWS_PROFILE` (else
/// `default`) profile in the shared config or credentials file (`AWS_CONFIG_FILE`,
/// `AWS_SHARED_CREDENTIALS_FILE`, else under `~/.aws`), else the EC2 instance metadata
/// service's `placement/region` (IMDSv2, falling back to v1; at
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT` when set, never asked with
/// `AWS_EC2_METADATA_DISABLED=true`). The environment is read through `env` (empty
/// values count as unset). Blocks while it asks the metadata service (on a thread of its
/// own, each request limited to a second and tried three times).
///
/// # Errors
/// [`Error::SigV4`]: `failed to load AWS config: ...` (`AWS_PROFILE` names a missing
/// profile, a shared file cannot be read), `failed to get region from IMDS: ...` or
/// `region not found in AWS config or IMDS`, as upstream words them.
pub fn aws_region(env: &dyn Fn(&str) -> Option<String>) -> Result<String> {
    let env = |name: &str| env(name).filter(|v| !v.is_empty());
    let chain = chain::Chain::new(&env, false)
        .map_err(|e| sigv4_err(format!("failed to load AWS config: {e}")))?;
    if let Some(region) = chain.default_region()? {
        return Ok(region);
    }
    let imds = chain.imds();
    let region = sources::block_on(imds.region())
        .map_err(|e| sigv4_err(format!("failed to get region from IMDS: {e}")))?;
    if region.is_empty() {
        return Err(sigv4_err("region not found in AWS config or IMDS"));
    }
    Ok(region)
}

/// Signs one request (see [`Signer::sign`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sign_request(
    creds: &Credentials,
    region: &str,
    service: &str,
    method: &Method,
    uri: &mut Uri,
    headers: &mut HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<()> {
    let path = clean_path(uri.path());
    if path != uri.path() {
        let mut parts = uri.clone().into_parts();
        let pq = match uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        parts.path_and_query = Some(
            pq.parse()
                .map_err(|e| sigv4_err(format!("cleaned path {pq:?}: {e}")))?,
        );
        *uri = Uri::from_parts(parts).map_err(|e| sigv4_err(e.to_string()))?;
    }
    let (amz_date, date) = amz_timestamp(
        now.duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
    );
    headers.remove(http::header::AUTHORIZATION);
    headers.insert(
        "x-amz-date",
        HeaderValue::from_str(&amz_date).map_err(|e| sigv4_err(e.to_string()))?,
    );
    if creds.session_token.is_empty() {
        headers.remove("x-amz-security-token");
    } else {
        let mut v = HeaderValue::from_str(&creds.session_token)
            .map_err(|e| sigv4_err(format!("session token: {e}")))?;
        v.set_sensitive(true);
        headers.insert("x-amz-security-token", v);
    }
    let host = match headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
    {
        Some(h) => h.to_owned(),
        None => host_header(uri),
    };
    let payload_hash = hex(digest::digest(&digest::SHA256, body).as_ref());
    let authorization = authorization(&SigningInput {
        method: method.as_str(),
        uri,
        host: &host,
        headers,
        payload_hash: &payload_hash,
        amz_date: &amz_date,
        date: &date,
        region,
        service,
        creds,
    });
    let mut v = HeaderValue::from_str(&authorization).map_err(|e| sigv4_err(e.to_string()))?;
    v.set_sensitive(true);
    headers.insert(http::header::AUTHORIZATION, v);
    Ok(())
}

/// Everything one signature covers.
pub(crate) struct SigningInput<'a> {
    pub(crate) method: &'a str,
    pub(crate) uri: &'a Uri,
    pub(crate) host: &'a str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) payload_hash: &'a str,
    pub(crate) amz_date: &'a str,
    pub(crate) date: &'a str,
    pub(crate) region: &'a str,
    pub(crate) service: &'a str,
    pub(crate) creds: &'a Credentials,
}

/// The `Authorization` header value for `input`.
pub(crate) fn authorization(input: &SigningInput<'_>) -> String {
    let (canonical, signed_headers) = canonical_request(input);
    let scope = format!(
        "{}/{}/{}/aws4_request",
        input.date, input.region, input.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        input.amz_date,
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let key = signing_key(
        &input.creds.secret_key,
        input.date,
        input.region,
        input.service,
    );
    let signature = hex(hmac::sign(&key, string_to_sign.as_bytes()).as_ref());
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        input.creds.access_key
    )
}

/// The canonical request and its signed header list.
fn canonical_request(input: &SigningInput<'_>) -> (String, String) {
    let path = if input.service == "s3" {
        // S3 signs the path as sent; every other service encodes it once more.
        input.uri.path().to_owned()
    } else {
        aws_encode(input.uri.path(), false)
    };
    let mut query: Vec<(String, String)> =
        url::form_urlencoded::parse(input.uri.query().unwrap_or("").as_bytes())
            .map(|(k, v)| (aws_encode(&k, true), aws_encode(&v, true)))
            .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers: Vec<(String, String)> = vec![("host".to_owned(), input.host.to_owned())];
    for name in input.headers.keys() {
        let lower = name.as_str();
        if lower == "host" || UNSIGNED_HEADERS.contains(&lower) {
            continue;
        }
        let values: Vec<String> = input
            .headers
            .get_all(name)
            .iter()
            .map(|v| collapse_spaces(&String::from_utf8_lossy(v.as_bytes())))
            .collect();
        headers.push((lower.to_owned(), values.join(",")));
    }
    headers.sort();
    let signed = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let mut canonical = format!("{}\n{path}\n{query}\n", input.method);
    for (n, v) in &headers {
        canonical.push_str(n);
        canonical.push(':');
        canonical.push_str(v);
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&signed);
    canonical.push('\n');
    canonical.push_str(input.payload_hash);
    (canonical, signed)
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let step = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
    };
    let k = step(format!("AWS4{secret}").as_bytes(), date);
    let k = step(k.as_ref(), region);
    let k = step(k.as_ref(), service);
    let k = step(k.as_ref(), "aws4_request");
    hmac::Key::new(hmac::HMAC_SHA256, k.as_ref())
}

/// AWS's URI encoding: unreserved characters stay, every other byte is `%XX` (upper case);
/// `/` stays unless `encode_slash`.
fn aws_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (b == b'/' && !encode_slash)
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Trims and collapses runs of spaces, as canonical header values are.
fn collapse_spaces(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `Host` header hyper sends for `uri`: the host, with the port unless it is the
/// scheme's default.
fn host_header(uri: &Uri) -> String {
    let host = uri.host().unwrap_or("");
    match (uri.scheme_str(), uri.port_u16()) {
        (Some("http"), Some(80)) | (Some("https"), Some(443)) | (_, None) => host.to_owned(),
        (_, Some(port)) => format!("{host}:{port}"),
    }
}

/// Go's `path.Clean` for a request path (which always starts with `/`): no empty, `.` or
/// `..` segments, no trailing slash.
fn clean_path(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// `(YYYYMMDDTHHMMSSZ, YYYYMMDD)` for `secs` since the Unix epoch, in UTC.
pub(crate) fn amz_timestamp(secs: i64) -> (String, String) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = model::civil::civil_from_days(days);
    let date = format!("{y:04}{m:02}{d:02}");
    (
        format!(
            "{date}T{:02}{:02}{:02}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        ),
        date,
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The credentials of AWS's Signature Version 4 test suite.
    fn suite_creds() -> Credentials {
        Credentials {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: String::new(),
        }
    }

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn suite_authorization(method: &str, url: &str, headers: &[(&str, &str)]) -> String {
        let uri: Uri = url.parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
        for (n, v) in headers {
            h.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        authorization(&SigningInput {
            method,
            uri: &uri,
            host: &host_header(&uri),
            headers: &h,
            payload_hash: EMPTY_SHA256,
            amz_date: "20150830T123600Z",
            date: "20150830",
            region: "us-east-1",
            service: "service",
            creds: &suite_creds(),
        })
    }

    #[test]
    fn aws_test_suite_vectors() {
        let prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=";
        // get-vanilla, post-vanilla, get-vanilla-query-order-key-case.
        assert_eq!(
            suite_authorization("GET", "https://example.amazonaws.com/", &[]),
            format!("{prefix}5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        );
        assert_eq!(
            suite_authorization("POST", "https://example.amazonaws.com/", &[]),
            format!("{prefix}5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")
        );
        assert_eq!(
            suite_authorization(
                "GET",
                "https://example.amazonaws.com/?Param2=value2&Param1=value1",
                &[]
            ),
            format!("{prefix}b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
        );
        // Unsigned headers do not change the signature.
        assert_eq!(
            suite_authorization(
                "GET",
                "https://example.amazonaws.com/",
                &[("user-agent", "x"), ("uber-trace-id", "y")]
            ),
            format!("{prefix}5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        );
    }

    #[test]
    fn s3_documented_get_object_example() {
        // Amazon S3 API reference, "Signature Calculations for the Authorization Header",
        // GET Object with a Range header.
        let uri: Uri = "https://examplebucket.s3.amazonaws.com/test.txt"
            .parse()
            .unwrap();
        let mut h = HeaderMap::new();
        h.insert("range", HeaderValue::from_static("bytes=0-9"));
        h.insert(
            "x-amz-content-sha256",
            HeaderValue::from_static(EMPTY_SHA256),
        );
        h.insert("x-amz-date", HeaderValue::from_static("20130524T000000Z"));
        let auth = authorization(&SigningInput {
            method: "GET",
            uri: &uri,
            host: &host_header(&uri),
            headers: &h,
            payload_hash: EMPTY_SHA256,
            amz_date: "20130524T000000Z",
            date: "20130524",
            region: "us-east-1",
            service: "s3",
            creds: &Credentials {
                access_key: "AKIAIOSFODNN7EXAMPLE".into(),
                secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
                session_token: String::new(),
            },
        });
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn timestamps_are_utc_civil_dates() {
        assert_eq!(
            amz_timestamp(1_440_938_160),
            ("20150830T123600Z".into(), "20150830".into())
        );
        assert_eq!(
            amz_timestamp(0),
            ("19700101T000000Z".into(), "19700101".into())
        );
        assert_eq!(
            amz_timestamp(1_709_164_800 + 3661),
            ("20240229T010101Z".into(), "20240229".into())
        );
    }

    #[test]
    fn paths_hosts_and_encoding() {
        assert_eq!(clean_path("/a//b/./c/../d/"), "/a/b/d");
        assert_eq!(clean_path("/"), "/");
        assert_eq!(aws_encode("/a b/%2F~", false), "/a%20b/%252F~");
        let uri: Uri = "http://h:80/x".parse().unwrap();
        assert_eq!(host_header(&uri), "h");
        let uri: Uri = "http://h:9090/x".parse().unwrap();
        assert_eq!(host_header(&uri), "h:9090");
    }

    /// A config from `key: value` lines.
    fn sigv4(lines: &str) -> SigV4Config {
        let mut c = SigV4Config::default();
        for line in lines.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let v = v.trim().to_owned();
            match k.trim() {
                "region" => c.region = v,
                "access_key" => c.access_key = v,
                "secret_key" => c.secret_key = config::Secret::new(v),
                "profile" => c.profile = v,
                "role_arn" => c.role_arn = v,
                other => panic!("unknown key {other}"),
            }
        }
        c
    }

    /// The static credentials a signer signs with (or assumes its role with).
    fn creds(s: &Signer) -> Credentials {
        let source = match &s.credentials.source {
            Source::AssumeRole(a) => &a.base.source,
            other => other,
        };
        match source {
            Source::Static(c) => c.clone(),
            other => panic!("not static: {other:?}"),
        }
    }

    fn signer(cfg: &SigV4Config, env: &[(&str, &str)]) -> Result<Signer> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Signer::with_env(cfg, &|n| env.get(n).cloned())
    }

    #[test]
    fn credentials_come_from_config_then_environment_then_files() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().display().to_string();
        std::fs::create_dir(dir.path().join(".aws")).unwrap();
        std::fs::write(
            dir.path().join(".aws/credentials"),
            "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n\n[other]\naws_access_key_id=OTHERKEY\naws_secret_access_key=othersecret\naws_session_token=othertoken\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join(".aws/config"),
            "[default]\nregion = eu-west-1\n[profile other]\nregion = ap-south-1\n",
        )
        .unwrap();

        let s = signer(
            &sigv4("region: us-east-1\naccess_key: CFGKEY\nsecret_key: cfgsecret"),
            &[
                ("HOME", &home),
                ("AWS_ACCESS_KEY_ID", "ENVKEY"),
                ("AWS_SECRET_ACCESS_KEY", "e"),
            ],
        )
        .unwrap();
        assert_eq!(
            (creds(&s).access_key.as_str(), s.region.as_str()),
            ("CFGKEY", "us-east-1")
        );
        assert_eq!(s.service, "aps");

        let s = signer(
            &sigv4(""),
            &[
                ("HOME", &home),
                ("AWS_ACCESS_KEY_ID", "ENVKEY"),
                ("AWS_SECRET_ACCESS_KEY", "e"),
                ("AWS_SESSION_TOKEN", "tok"),
                ("AWS_REGION", "us-west-2"),
            ],
        )
        .unwrap();
        assert_eq!(creds(&s).access_key, "ENVKEY");
        assert_eq!(creds(&s).session_token, "tok");
        assert_eq!(s.region, "us-west-2");

        let s = signer(&sigv4(""), &[("HOME", &home)]).unwrap();
        assert_eq!(
            (creds(&s).access_key.as_str(), s.region.as_str()),
            ("FILEKEY", "eu-west-1")
        );

        // A named profile wins over the environment's keys.
        let s = signer(
            &sigv4("profile: other"),
            &[
                ("HOME", &home),
                ("AWS_ACCESS_KEY_ID", "ENVKEY"),
                ("AWS_SECRET_ACCESS_KEY", "e"),
            ],
        )
        .unwrap();
        assert_eq!(creds(&s).access_key, "OTHERKEY");
        assert_eq!(creds(&s).session_token, "othertoken");
        assert_eq!(s.region, "ap-south-1");

        let err = signer(&sigv4("profile: missing"), &[("HOME", &home)])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "could not create new AWS session: failed to get shared config profile, missing"
            ),
            "{err}"
        );
        let err = signer(
            &sigv4("access_key: A\nsecret_key: B"),
            &[("HOME", "/nonexistent")],
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "region not configured in sigv4 or in default credentials chain"
        );
        // Nothing found anywhere: the chain ends at the instance metadata service, which
        // is disabled here (tests never reach the link-local address).
        let err = signer(
            &sigv4(""),
            &[
                ("HOME", "/nonexistent"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "could not get SigV4 credentials: no EC2 IMDS role found, access disabled"
            ),
            "{err}"
        );
    }

    #[test]
    fn sign_sets_date_token_and_authorization() {
        let s = signer(
            &sigv4("region: us-east-1"),
            &[
                ("HOME", "/nonexistent"),
                ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
                (
                    "AWS_SECRET_ACCESS_KEY",
                    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                ),
                ("AWS_SESSION_TOKEN", "session"),
            ],
        )
        .unwrap();
        let mut uri: Uri = "http://127.0.0.1:9090/api//v1/./write".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-protobuf"),
        );
        headers.insert("user-agent", HeaderValue::from_static("Prometheus/x"));
        let at = UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        let c = creds(&s).clone();
        s.sign(&c, &Method::POST, &mut uri, &mut headers, b"body", at)
            .unwrap();
        assert_eq!(uri.path(), "/api/v1/write");
        assert_eq!(headers["x-amz-date"], "20150830T123600Z");
        assert_eq!(headers["x-amz-security-token"], "session");
        let auth = headers["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/aps/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="),
            "{auth}"
        );
        // Signing again at the same instant gives the same signature.
        let mut again = headers.clone();
        s.sign(&c, &Method::POST, &mut uri, &mut again, b"body", at)
            .unwrap();
        assert_eq!(again["authorization"], headers["authorization"]);
        s.sign(&c, &Method::POST, &mut uri, &mut again, b"other", at)
            .unwrap();
        assert_ne!(again["authorization"], headers["authorization"]);
    }

    #[test]
    fn role_arn_picks_the_sts_endpoint() {
        let endpoint = |lines: &str, env: &[(&str, &str)]| match &signer(&sigv4(lines), env)
            .unwrap()
            .credentials
            .source
        {
            Source::AssumeRole(a) => (a.endpoint.to_string(), a.role_arn.clone()),
            other => panic!("not an assumed role: {other:?}"),
        };
        let base = "access_key: A\nsecret_key: B\nrole_arn: arn:aws:iam::1:role/r";
        assert_eq!(
            endpoint(&format!("{base}\nregion: eu-west-1"), &[]).0,
            "https://sts.eu-west-1.amazonaws.com/"
        );
        let mut cfg = sigv4(&format!("{base}\nregion: us-east-1"));
        cfg.use_fips_sts_endpoint = true;
        let s = signer(&cfg, &[]).unwrap();
        let Source::AssumeRole(a) = &s.credentials.source else {
            panic!("static credentials")
        };
        assert_eq!(
            a.endpoint.to_string(),
            "https://sts-fips.us-east-1.amazonaws.com/"
        );
        assert_eq!(
            endpoint(&format!("{base}\nregion: cn-north-1"), &[]).0,
            "https://sts.cn-north-1.amazonaws.com.cn/"
        );
        assert_eq!(
            endpoint(
                &format!("{base}\nregion: r"),
                &[("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1/")]
            ),
            (
                "http://127.0.0.1:1/".to_owned(),
                "arn:aws:iam::1:role/r".to_owned()
            )
        );
    }
}
