//! End-to-end tests of the credential sources against loopback fakes: the OAuth 2.0 JWT
//! bearer grant's token endpoint, secret references, and `sigv4`'s default chain (STS web
//! identity, the container endpoint, the instance metadata service, SSO's portal and OIDC
//! refresh, `credential_process`). No test reaches a link-local address: every endpoint is
//! set to a loopback fake through the environment the signer is given.

use super::*;

/// The claims of a JWT (its signature is checked in `oauth2::jwt`'s own tests).
fn jwt_claims(jwt: &str) -> serde_json::Value {
    let claims = jwt.split('.').nth(1).unwrap();
    let std_b64: String = claims
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut bits, mut n, mut out) = (0u32, 0, Vec::new());
    for c in std_b64.bytes() {
        bits = (bits << 6) | u32::try_from(ALPHABET.iter().position(|&a| a == c).unwrap()).unwrap();
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push(u8::try_from((bits >> n) & 0xff).unwrap());
        }
    }
    serde_json::from_slice(&out).unwrap()
}

#[tokio::test]
async fn oauth2_jwt_bearer_grant_posts_a_signed_assertion() {
    let tokens = Server::start(None, token_server(3600)).await;
    let srv = Server::start(None, Arc::new(ok)).await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::copy(testdata("client.key"), &key).unwrap();
    let c = client(&format!(
        "  oauth2:\n    client_id: cid\n    grant_type: urn:ietf:params:oauth:grant-type:jwt-bearer\n    client_certificate_key_file: '{}'\n    client_certificate_key_id: k1\n    signature_algorithm: RS384\n    scopes: [read]\n    claims: {{tenant: t1}}\n    token_url: 'http://{}/token'\n    endpoint_params: {{resource: r}}\n",
        key.display(),
        tokens.addr
    ))
    .unwrap();
    let url = format!("http://{}/m", srv.addr);
    c.send(get(&url)).await.unwrap();
    c.send(get(&url)).await.unwrap();
    let t = tokens.seen();
    assert_eq!(t.len(), 1, "the token is cached");
    assert!(!t[0].headers.contains_key("authorization"));
    let f = form(&t[0].body);
    let keys: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["assertion", "grant_type", "resource"]);
    assert_eq!(f[1].1, "urn:ietf:params:oauth:grant-type:jwt-bearer");
    let claims = jwt_claims(&f[0].1);
    assert_eq!(claims["iss"], "cid");
    assert_eq!(claims["sub"], "cid");
    assert_eq!(claims["aud"], format!("http://{}/token", tokens.addr));
    assert_eq!(claims["scope"], "read");
    assert_eq!(claims["tenant"], "t1");
    for s in srv.seen() {
        assert_eq!(s.headers["authorization"], "Bearer tok-1");
    }

    // A changed key fetches a new token; an unusable one fails the request, worded as
    // golang-jwt words it.
    std::fs::write(&key, "garbage").unwrap();
    let err = c.send(get(&url)).await.unwrap_err().to_string();
    assert_eq!(
        err,
        format!("Get {url:?}: invalid key: Key must be a PEM encoded PKCS1 or PKCS8 key")
    );
    std::fs::copy(testdata("client.rsa.key"), &key).unwrap();
    c.send(get(&url)).await.unwrap();
    assert_eq!(tokens.seen().len(), 2);
    assert_eq!(
        srv.seen().last().unwrap().headers["authorization"],
        "Bearer tok-2"
    );
}

#[tokio::test]
async fn oauth2_jwt_bearer_grant_wants_json_and_names_failures() {
    let tokens = Server::start(
        None,
        canned(200, "application/x-www-form-urlencoded", "access_token=a"),
    )
    .await;
    let c = client(&format!(
        "  oauth2:\n    client_id: cid\n    grant_type: urn:ietf:params:oauth:grant-type:jwt-bearer\n    client_certificate_key_file: '{}'\n    token_url: 'http://{}/token'\n",
        testdata("client.key"),
        tokens.addr
    ))
    .unwrap();
    let url = "http://127.0.0.1:1/m";
    let err = c.send(get(url)).await.unwrap_err().to_string();
    assert!(err.contains("is not JSON"), "{err}");

    let tokens = Server::start(
        None,
        canned(400, "application/json", r#"{"error":"invalid_grant"}"#),
    )
    .await;
    let token_url = format!("http://{}/token", tokens.addr);
    let c = client(&format!(
        "  oauth2:\n    client_id: cid\n    grant_type: urn:ietf:params:oauth:grant-type:jwt-bearer\n    client_certificate_key_file: '{}'\n    token_url: '{token_url}'\n",
        testdata("client.key"),
    ))
    .unwrap();
    let err = c.send(get(url)).await.unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "Get {url:?}: oauth2: cannot fetch token from {token_url}: 400 Bad Request: \"invalid_grant\""
        )
    );
}

#[test]
fn secret_references_are_refused_as_prometheus_refuses_them() {
    for (yaml, want) in [
        ("  tls_config: {ca_ref: x}\n", "unable to use CA cert"),
        (
            "  tls_config: {cert_ref: x, key_ref: y}\n",
            "unable to use client cert",
        ),
        (
            "  authorization: {credentials_ref: x}\n",
            "unable to use credentials",
        ),
        (
            "  basic_auth: {username_ref: x}\n",
            "unable to use username",
        ),
        (
            "  basic_auth: {username: u, password_ref: x}\n",
            "unable to use password",
        ),
        (
            "  oauth2: {client_id: c, client_secret_ref: s, token_url: 'http://127.0.0.1:1/t'}\n",
            "unable to use client secret",
        ),
        (
            "  oauth2: {client_id: c, grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', client_certificate_key_ref: s, token_url: 'http://127.0.0.1:1/t'}\n",
            "unable to use client certificate",
        ),
        // TLS is looked at before authentication.
        (
            "  tls_config: {ca_ref: x}\n  authorization: {credentials_ref: x}\n",
            "unable to use CA cert",
        ),
    ] {
        let err = client(yaml).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{want}: cannot use secret ref without manager"),
            "{yaml}"
        );
    }
}

/// `secs` from now as STS and the credential endpoints write times.
fn rfc3339_in(secs: u64) -> String {
    let at = std::time::SystemTime::now() + std::time::Duration::from_secs(secs);
    let secs = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let (amz, _) = crate::sigv4::amz_timestamp(i64::try_from(secs).unwrap());
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

/// A signing client for `cfg` in the environment `env` (nothing of the process's).
fn sigv4_client(cfg: &config::remote::SigV4Config, env: &[(&str, String)]) -> Result<HttpClient> {
    let env: std::collections::HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let signer = crate::sigv4::Signer::with_env(cfg, &|n| env.get(n).cloned())?;
    HttpClient::build(&HttpClientConfig::default(), Some(signer))
}

fn region(r: &str) -> config::remote::SigV4Config {
    config::remote::SigV4Config {
        region: r.into(),
        ..Default::default()
    }
}

/// Answers with JSON credentials `KEY-<n>` (n counts the answers) valid for `valid_for`
/// seconds, when `check` accepts the request; 401 otherwise.
fn json_credentials_server(
    key: &'static str,
    valid_for: u64,
    check: impl Fn(&Seen) -> bool + Send + Sync + 'static,
) -> Handler {
    let issued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    Arc::new(move |s: &Seen| {
        if !check(s) {
            return Response::builder()
                .status(401)
                .body(Full::new(Bytes::from_static(
                    br#"{"code":"Unauthorized","message":"bad token"}"#,
                )))
                .unwrap();
        }
        let n = issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        Response::new(Full::new(Bytes::from(format!(
            r#"{{"Code":"Success","AccessKeyId":"{key}-{n}","SecretAccessKey":"s","Token":"tok-{n}","Expiration":"{}"}}"#,
            rfc3339_in(valid_for)
        ))))
    })
}

fn signed_with(s: &Seen) -> String {
    let auth = s.headers["authorization"].to_str().unwrap();
    auth.split("Credential=")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_web_identity_assumes_the_role_with_the_token_file() {
    let issued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let valid_for = Arc::new(std::sync::atomic::AtomicU64::new(3600));
    let (issued2, valid_for2) = (issued.clone(), valid_for.clone());
    let sts = Server::start(
        None,
        Arc::new(move |s: &Seen| {
            let f = form(&s.body);
            let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            assert!(!s.headers.contains_key("authorization"), "anonymous call");
            assert_eq!(get("Action").as_deref(), Some("AssumeRoleWithWebIdentity"));
            assert_eq!(get("RoleArn").as_deref(), Some("arn:aws:iam::1:role/irsa"));
            assert_eq!(get("RoleSessionName").as_deref(), Some("sess"));
            let n = issued2.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let xml = format!(
                "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>WEB-{}-{n}</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>webtoken</SessionToken><Expiration>{}</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
                get("WebIdentityToken").unwrap_or_default(),
                rfc3339_in(valid_for2.load(std::sync::atomic::Ordering::SeqCst))
            );
            Response::new(Full::new(Bytes::from(xml)))
        }),
    )
    .await;
    let srv = Server::start(None, Arc::new(ok)).await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "jwt1\n").unwrap();
    let env = vec![
        ("HOME", "/nonexistent".to_owned()),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.display().to_string()),
        ("AWS_ROLE_ARN", "arn:aws:iam::1:role/irsa".to_owned()),
        ("AWS_ROLE_SESSION_NAME", "sess".to_owned()),
        ("AWS_ENDPOINT_URL_STS", format!("http://{}/", sts.addr)),
    ];
    let c = sigv4_client(&region("eu-west-1"), &env).unwrap();
    assert_eq!(sts.seen().len(), 1, "fetched when the client is made");
    let url = format!("http://{}/api/v1/write", srv.addr);
    c.send(get(&url)).await.unwrap();
    c.send(get(&url)).await.unwrap();
    assert_eq!(sts.seen().len(), 1, "cached until shortly before expiry");
    for s in srv.seen() {
        assert_eq!(signed_with(&s), "WEB-jwt1-1");
        assert_eq!(s.headers["x-amz-security-token"], "webtoken");
    }

    // Credentials within 30 s of expiry are fetched again, with the token file as it is
    // now (Kubernetes rotates it).
    valid_for.store(20, std::sync::atomic::Ordering::SeqCst);
    let c = sigv4_client(&region("eu-west-1"), &env).unwrap();
    std::fs::write(&token, "jwt2").unwrap();
    c.send(get(&url)).await.unwrap();
    assert_eq!(signed_with(srv.seen().last().unwrap()), "WEB-jwt2-3");

    // No token file: the config fails to load.
    std::fs::remove_file(&token).unwrap();
    let err = sigv4_client(&region("eu-west-1"), &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "could not get SigV4 credentials: could not assume role arn:aws:iam::1:role/irsa with web identity through STS at http://{}/: failed to retrieve jwt from provide source, unable to read file at {}",
            sts.addr,
            token.display()
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_container_credentials_send_the_authorization_token() {
    let creds = Server::start(
        None,
        json_credentials_server("TASK", 3600, |s| {
            s.path == "/creds"
                && s.headers
                    .get("authorization")
                    .is_some_and(|a| a == "secret-token")
        }),
    )
    .await;
    let srv = Server::start(None, Arc::new(ok)).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "secret-token\n").unwrap();
    let uri = format!("http://{}/creds", creds.addr);
    let env = vec![
        ("HOME", "/nonexistent".to_owned()),
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.clone()),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token_file.display().to_string(),
        ),
        // The file wins over the inline token.
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "stale".to_owned()),
    ];
    let c = sigv4_client(&region("us-east-1"), &env).unwrap();
    let url = format!("http://{}/w", srv.addr);
    c.send(get(&url)).await.unwrap();
    assert_eq!(creds.seen().len(), 1);
    assert_eq!(creds.seen()[0].headers["accept"], "application/json");
    assert_eq!(signed_with(&srv.seen()[0]), "TASK-1");
    assert_eq!(srv.seen()[0].headers["x-amz-security-token"], "tok-1");

    // A wrong token is refused; the endpoint's words end up in the error.
    std::fs::write(&token_file, "wrong").unwrap();
    let err = sigv4_client(&region("us-east-1"), &env)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "could not get SigV4 credentials: failed to load credentials from the container endpoint {uri}: 401 Unauthorized: Unauthorized: bad token"
        )
    );
    // Only loopback (or the ECS/EKS addresses) over plain HTTP.
    let mut env = env;
    env[1].1 = "http://192.0.2.1/creds".to_owned();
    let err = sigv4_client(&region("us-east-1"), &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("only loopback/ecs/eks hosts are allowed"),
        "{err}"
    );
}

/// A fake instance metadata service: IMDSv2 session tokens unless `v1_only` (the token
/// API then answers 403), one role `prom`, credentials `IMDS-<n>` or `BASEKEY-<n>`, the
/// region `ap-southeast-2`.
fn imds_server(v1_only: bool, key: &'static str) -> Handler {
    let creds = json_credentials_server(key, 3600, |_| true);
    Arc::new(move |s: &Seen| {
        let token = s.headers.get("x-aws-ec2-metadata-token");
        match (s.method.as_str(), s.path.as_str()) {
            ("PUT", "/latest/api/token") if v1_only => Response::builder()
                .status(403)
                .body(Full::new(Bytes::new()))
                .unwrap(),
            ("PUT", "/latest/api/token") => {
                assert_eq!(s.headers["x-aws-ec2-metadata-token-ttl-seconds"], "21600");
                Response::new(Full::new(Bytes::from_static(b"session")))
            }
            _ if !v1_only && token.is_none_or(|t| t != "session") => Response::builder()
                .status(401)
                .body(Full::new(Bytes::new()))
                .unwrap(),
            _ if v1_only && token.is_some() => Response::builder()
                .status(400)
                .body(Full::new(Bytes::new()))
                .unwrap(),
            ("GET", "/latest/meta-data/iam/security-credentials/") => {
                Response::new(Full::new(Bytes::from_static(b"prom\n")))
            }
            ("GET", "/latest/meta-data/iam/security-credentials/prom") => creds(s),
            ("GET", "/latest/meta-data/placement/region") => {
                Response::new(Full::new(Bytes::from_static(b"ap-southeast-2")))
            }
            _ => Response::builder()
                .status(404)
                .body(Full::new(Bytes::new()))
                .unwrap(),
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_instance_metadata_credentials_over_imdsv2_then_v1() {
    let srv = Server::start(None, Arc::new(ok)).await;
    let url = format!("http://{}/w", srv.addr);
    for v1_only in [false, true] {
        let imds = Server::start(None, imds_server(v1_only, "IMDS")).await;
        let env = vec![
            ("HOME", "/nonexistent".to_owned()),
            (
                "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                format!("http://{}/", imds.addr),
            ),
        ];
        let c = sigv4_client(&region("eu-west-1"), &env).unwrap();
        c.send(get(&url)).await.unwrap();
        c.send(get(&url)).await.unwrap();
        let paths: Vec<String> = imds
            .seen()
            .iter()
            .map(|s| format!("{} {}", s.method, s.path))
            .collect();
        assert_eq!(
            paths,
            [
                "PUT /latest/api/token",
                "GET /latest/meta-data/iam/security-credentials/",
                "GET /latest/meta-data/iam/security-credentials/prom",
            ],
            "v1_only {v1_only}"
        );
        assert_eq!(signed_with(srv.seen().last().unwrap()), "IMDS-1");
    }

    // An instance without a role, an unreachable service, a disabled one.
    let imds = Server::start(None, canned(404, "text/plain", "")).await;
    let env = |endpoint: String| {
        vec![
            ("HOME", "/nonexistent".to_owned()),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint),
        ]
    };
    let err = sigv4_client(&region("eu-west-1"), &env(format!("http://{}", imds.addr)))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("could not get SigV4 credentials: no EC2 IMDS role found, the instance has no instance profile: 404 Not Found"),
        "{err}"
    );
    let err = sigv4_client(&region("eu-west-1"), &env("http://127.0.0.1:1".into()))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("could not get SigV4 credentials: no EC2 IMDS role found, PUT http://127.0.0.1:1/latest/api/token: "),
        "{err}"
    );
    let mut disabled = env(format!("http://{}", imds.addr));
    disabled.push(("AWS_EC2_METADATA_DISABLED", "true".to_owned()));
    let before = imds.seen().len();
    let err = sigv4_client(&region("eu-west-1"), &disabled)
        .unwrap_err()
        .to_string();
    assert!(err.contains("AWS_EC2_METADATA_DISABLED"), "{err}");
    assert_eq!(imds.seen().len(), before, "a disabled service is not asked");
}

/// [`crate::aws_region`] in environment `env`.
fn aws_region_in(env: &[(&str, String)]) -> Result<String> {
    let env: std::collections::HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    crate::aws_region(&|n| env.get(n).cloned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_region_comes_from_the_environment_then_the_profile_then_instance_metadata() {
    let imds = Server::start(None, imds_server(false, "IMDS")).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        "[default]\nregion = eu-north-1\n[profile other]\nregion = sa-east-1\n[profile none]\noutput = json\n",
    )
    .unwrap();
    let base = vec![
        ("HOME", "/nonexistent".to_owned()),
        (
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://{}/", imds.addr),
        ),
    ];
    let with = |extra: &[(&'static str, String)]| {
        let mut env = base.clone();
        env.extend(extra.iter().cloned());
        env
    };
    let file = ("AWS_CONFIG_FILE", config.display().to_string());
    // The environment, then AWS_DEFAULT_REGION, then the profile; nothing is asked.
    let all = with(&[
        ("AWS_REGION", "us-east-2".into()),
        ("AWS_DEFAULT_REGION", "us-west-1".into()),
        file.clone(),
    ]);
    assert_eq!(aws_region_in(&all).unwrap(), "us-east-2");
    let no_aws_region: Vec<_> = all
        .iter()
        .filter(|(k, _)| *k != "AWS_REGION")
        .cloned()
        .collect();
    assert_eq!(aws_region_in(&no_aws_region).unwrap(), "us-west-1");
    assert_eq!(
        aws_region_in(&with(std::slice::from_ref(&file))).unwrap(),
        "eu-north-1"
    );
    assert_eq!(
        aws_region_in(&with(&[file.clone(), ("AWS_PROFILE", "other".into())])).unwrap(),
        "sa-east-1"
    );
    assert!(imds.seen().is_empty());
    // A profile without a region: the instance metadata service, over IMDSv2.
    assert_eq!(
        aws_region_in(&with(&[file.clone(), ("AWS_PROFILE", "none".into())])).unwrap(),
        "ap-southeast-2"
    );
    let paths: Vec<String> = imds
        .seen()
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(
        paths,
        [
            "PUT /latest/api/token",
            "GET /latest/meta-data/placement/region"
        ]
    );
    // IMDSv1 only.
    let v1 = Server::start(None, imds_server(true, "IMDS")).await;
    let mut env = with(&[]);
    env[1].1 = format!("http://{}", v1.addr);
    assert_eq!(aws_region_in(&env).unwrap(), "ap-southeast-2");

    // A profile named but missing fails before anything is asked.
    let err = aws_region_in(&with(&[file.clone(), ("AWS_PROFILE", "gone".into())]))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("failed to load AWS config: failed to get shared config profile, gone"),
        "{err}"
    );
    // Disabled, unreachable, answering nothing or an error.
    let before = imds.seen().len();
    let err = aws_region_in(&with(&[("AWS_EC2_METADATA_DISABLED", "true".into())]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "failed to get region from IMDS: operation error ec2imds: GetRegion, access disabled to EC2 IMDS via client option, or \"AWS_EC2_METADATA_DISABLED\" environment variable"
    );
    assert_eq!(imds.seen().len(), before, "a disabled service is not asked");
    let mut env = with(&[]);
    env[1].1 = "http://127.0.0.1:1".into();
    let err = aws_region_in(&env).unwrap_err().to_string();
    assert!(
        err.starts_with("failed to get region from IMDS: operation error ec2imds: GetRegion, PUT http://127.0.0.1:1/latest/api/token: "),
        "{err}"
    );
    let empty = Server::start(None, canned(200, "text/plain", "")).await;
    env[1].1 = format!("http://{}", empty.addr);
    assert_eq!(
        aws_region_in(&env).unwrap_err().to_string(),
        "region not found in AWS config or IMDS"
    );
    let missing = Server::start(None, canned(404, "text/plain", "")).await;
    env[1].1 = format!("http://{}", missing.addr);
    let err = aws_region_in(&env).unwrap_err().to_string();
    assert!(
        err.starts_with("failed to get region from IMDS: operation error ec2imds: GetRegion, http response error StatusCode: 404"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_role_arn_assumes_the_role_with_instance_credentials() {
    let imds = Server::start(None, imds_server(false, "BASEKEY")).await;
    let sts = Server::start(None, sts_server(3600)).await;
    let srv = Server::start(None, Arc::new(ok)).await;
    let cfg = config::remote::SigV4Config {
        region: "eu-west-1".into(),
        role_arn: "arn:aws:iam::1:role/r".into(),
        external_id: "x".into(),
        ..Default::default()
    };
    let env = vec![
        ("HOME", "/nonexistent".to_owned()),
        (
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://{}", imds.addr),
        ),
        ("AWS_ENDPOINT_URL_STS", format!("http://{}/", sts.addr)),
    ];
    let c = sigv4_client(&cfg, &env).unwrap();
    assert_eq!(
        imds.seen().len(),
        3,
        "the base credentials are fetched first"
    );
    assert!(
        sts.seen().is_empty(),
        "the role is assumed at the first request"
    );
    c.send(get(&format!("http://{}/w", srv.addr)))
        .await
        .unwrap();
    assert_eq!(sts.seen().len(), 1);
    assert_eq!(signed_with(&sts.seen()[0]), "BASEKEY-1");
    assert_eq!(signed_with(&srv.seen()[0]), "ROLEKEY-x");
    assert_eq!(imds.seen().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_sso_session_refreshes_the_cached_token_and_gets_role_credentials() {
    let oidc = Server::start(
        None,
        Arc::new(|s: &Seen| {
            let body: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
            assert_eq!(s.path, "/token");
            assert_eq!(body["grantType"], "refresh_token");
            assert_eq!(body["refreshToken"], "r1");
            assert_eq!(body["clientId"], "cid");
            Response::new(Full::new(Bytes::from_static(
                br#"{"accessToken":"new","expiresIn":3600,"refreshToken":"r2","tokenType":"Bearer"}"#,
            )))
        }),
    )
    .await;
    let portal = Server::start(
        None,
        Arc::new(|s: &Seen| {
            if s.headers.get("x-amz-sso_bearer_token").is_none_or(|t| t != "new") {
                return Response::builder()
                    .status(401)
                    .body(Full::new(Bytes::from_static(
                        br#"{"message":"Session token not found or invalid"}"#,
                    )))
                    .unwrap();
            }
            assert_eq!(
                s.path,
                "/federation/credentials?account_id=222&role_name=admin"
            );
            let ms = (std::time::SystemTime::now() + std::time::Duration::from_secs(3600))
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis();
            Response::new(Full::new(Bytes::from(format!(
                r#"{{"roleCredentials":{{"accessKeyId":"SSOKEY","secretAccessKey":"s","sessionToken":"ssotoken","expiration":{ms}}}}}"#
            ))))
        }),
    )
    .await;
    let srv = Server::start(None, Arc::new(ok)).await;
    let home = tempfile::tempdir().unwrap();
    let aws = home.path().join(".aws");
    std::fs::create_dir_all(aws.join("sso/cache")).unwrap();
    std::fs::write(
        aws.join("config"),
        "[profile dev]\nsso_session = corp\nsso_account_id = 222\nsso_role_name = admin\n\
         [profile old]\nsso_start_url = https://old.awsapps.com/start\nsso_region = us-east-1\nsso_account_id = 1\nsso_role_name = r\n\
         [sso-session corp]\nsso_region = eu-west-1\nsso_start_url = https://corp.awsapps.com/start\n",
    )
    .unwrap();
    // The session's token expires within the 5-minute window: it is refreshed first.
    let cache = aws.join("sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json");
    std::fs::write(
        &cache,
        format!(
            r#"{{"accessToken":"old","expiresAt":"{}","refreshToken":"r1","clientId":"cid","clientSecret":"cs","region":"eu-west-1"}}"#,
            rfc3339_in(60)
        ),
    )
    .unwrap();
    let env = vec![
        ("HOME", home.path().display().to_string()),
        ("AWS_ENDPOINT_URL_SSO", format!("http://{}", portal.addr)),
        (
            "AWS_ENDPOINT_URL_SSO_OIDC",
            format!("http://{}/", oidc.addr),
        ),
    ];
    let cfg = config::remote::SigV4Config {
        region: "eu-west-1".into(),
        profile: "dev".into(),
        ..Default::default()
    };
    let c = sigv4_client(&cfg, &env).unwrap();
    c.send(get(&format!("http://{}/w", srv.addr)))
        .await
        .unwrap();
    assert_eq!(signed_with(&srv.seen()[0]), "SSOKEY");
    assert_eq!(srv.seen()[0].headers["x-amz-security-token"], "ssotoken");
    assert_eq!(oidc.seen().len(), 1);
    let cached: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    assert_eq!(cached["accessToken"], "new");
    assert_eq!(cached["refreshToken"], "r2");
    assert_eq!(cached["clientSecret"], "cs", "other fields are kept");

    // A legacy profile's token cannot be refreshed; an expired one fails the load.
    let key = "https://old.awsapps.com/start";
    let name: String =
        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, key.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
    let old_cache = aws.join(format!("sso/cache/{name}.json"));
    std::fs::write(
        &old_cache,
        r#"{"accessToken":"stale","expiresAt":"2020-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let cfg = config::remote::SigV4Config {
        region: "eu-west-1".into(),
        profile: "old".into(),
        ..Default::default()
    };
    let err = sigv4_client(&cfg, &env).unwrap_err().to_string();
    assert_eq!(
        err,
        "could not get SigV4 credentials: failed to get SSO role credentials for role r of account 1: the SSO session has expired or is invalid (run aws sso login)"
    );
    assert_eq!(oidc.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_credential_process_output_signs() {
    let srv = Server::start(None, Arc::new(ok)).await;
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".aws")).unwrap();
    std::fs::write(
        home.path().join(".aws/config"),
        format!(
            "[profile p]\ncredential_process = printf '{{\"Version\":1,\"AccessKeyId\":\"PROCKEY\",\"SecretAccessKey\":\"s\",\"SessionToken\":\"st\",\"Expiration\":\"{}\"}}'\n\
             [profile bad]\ncredential_process = exit 3\n\
             [profile v2]\ncredential_process = echo '{{\"Version\":2,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\"}}'\n",
            rfc3339_in(3600)
        ),
    )
    .unwrap();
    let env = vec![("HOME", home.path().display().to_string())];
    let profile = |p: &str| config::remote::SigV4Config {
        region: "us-east-1".into(),
        profile: p.into(),
        ..Default::default()
    };
    let c = sigv4_client(&profile("p"), &env).unwrap();
    c.send(get(&format!("http://{}/w", srv.addr)))
        .await
        .unwrap();
    assert_eq!(signed_with(&srv.seen()[0]), "PROCKEY");
    assert_eq!(srv.seen()[0].headers["x-amz-security-token"], "st");
    let err = sigv4_client(&profile("bad"), &env).unwrap_err().to_string();
    assert_eq!(
        err,
        "could not get SigV4 credentials: error in credential_process \"exit 3\": the command failed: exit status: 3"
    );
    let err = sigv4_client(&profile("v2"), &env).unwrap_err().to_string();
    assert!(err.ends_with("unsupported Version (only 1 is)"), "{err}");
}
