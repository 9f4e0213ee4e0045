//! End-to-end tests of the credential sources against loopback fakes: the OAuth 2.0 JWT
//! bearer grant's token endpoint, and secret references.

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
