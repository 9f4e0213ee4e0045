//! The signed JWT of the OAuth 2.0 JWT bearer grant (RFC 7523 section 2.1), as
//! prometheus/common builds it: RS256, RS384 or RS512 over `iss`, `sub`, `aud`, `jti`,
//! `iat`, `exp` (10 minutes on), `scope` and the configured extra `claims`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

use crate::auth::base64;
use crate::{Error, Result};

/// The grant type that selects the JWT bearer grant.
pub(crate) const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// How long an assertion is valid (golang-jwt's default in prometheus/common).
const LIFETIME: Duration = Duration::from_secs(600);

/// What every assertion of one client says; the key is read at each token fetch.
#[derive(Debug, Clone)]
pub(crate) struct Assertion {
    algorithm: &'static str,
    key_id: String,
    issuer: String,
    subject: String,
    audience: String,
    scopes: Vec<String>,
    claims: BTreeMap<String, String>,
}

impl Assertion {
    /// The assertion of `cfg`: `signature_algorithm` (RS256 unless RS384 or RS512),
    /// `client_certificate_key_id` as `kid`, `iss` (else `client_id`), `client_id` as
    /// `sub`, `audience` (else `token_url`), `scopes` and `claims`.
    pub(crate) fn new(cfg: &config::http_config::OAuth2) -> Assertion {
        let algorithm = match cfg.signature_algorithm.as_str() {
            "RS384" => "RS384",
            "RS512" => "RS512",
            _ => "RS256",
        };
        Assertion {
            algorithm,
            key_id: cfg.client_certificate_key_id.clone(),
            issuer: if cfg.iss.is_empty() {
                cfg.client_id.clone()
            } else {
                cfg.iss.clone()
            },
            subject: cfg.client_id.clone(),
            audience: if cfg.audience.is_empty() {
                cfg.token_url.clone()
            } else {
                cfg.audience.clone()
            },
            scopes: cfg.scopes.clone(),
            claims: cfg.claims.clone(),
        }
    }

    /// The signed JWT (`header.claims.signature`, base64url without padding) for the PEM
    /// `key` (PKCS#1 or PKCS#8 RSA) at `now`.
    pub(crate) fn sign(&self, key: &str, now: SystemTime) -> Result<String> {
        let key = rsa_key(key.as_bytes())?;
        let rng = SystemRandom::new();
        let mut header = serde_json::Map::new();
        header.insert("alg".into(), self.algorithm.into());
        header.insert("typ".into(), "JWT".into());
        if !self.key_id.is_empty() {
            header.insert("kid".into(), self.key_id.clone().into());
        }
        let iat = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut claims = serde_json::Map::new();
        claims.insert("iss".into(), self.issuer.clone().into());
        claims.insert("sub".into(), self.subject.clone().into());
        claims.insert("jti".into(), uuid_v4(&rng)?.into());
        claims.insert("aud".into(), self.audience.clone().into());
        claims.insert("iat".into(), iat.into());
        claims.insert("exp".into(), (iat + LIFETIME.as_secs()).into());
        if !self.scopes.is_empty() {
            claims.insert("scope".into(), self.scopes.join(" ").into());
        }
        for (k, v) in &self.claims {
            claims.insert(k.clone(), v.clone().into());
        }
        let signing_input = format!(
            "{}.{}",
            base64url(serde_json::Value::Object(header).to_string().as_bytes()),
            base64url(serde_json::Value::Object(claims).to_string().as_bytes())
        );
        let padding = match self.algorithm {
            "RS384" => &signature::RSA_PKCS1_SHA384,
            "RS512" => &signature::RSA_PKCS1_SHA512,
            _ => &signature::RSA_PKCS1_SHA256,
        };
        let mut sig = vec![0; key.public().modulus_len()];
        key.sign(padding, &rng, signing_input.as_bytes(), &mut sig)
            .map_err(|_| oauth2_err("oauth2: cannot sign the JWT assertion".into()))?;
        Ok(format!("{signing_input}.{}", base64url(&sig)))
    }
}

fn oauth2_err(message: String) -> Error {
    Error::OAuth2 { message }
}

/// The RSA key of a PEM block, worded as golang-jwt's `ParseRSAPrivateKeyFromPEM` fails.
fn rsa_key(pem: &[u8]) -> Result<RsaKeyPair> {
    let der = PrivateKeyDer::from_pem_slice(pem).map_err(|_| {
        oauth2_err("invalid key: Key must be a PEM encoded PKCS1 or PKCS8 key".into())
    })?;
    let parsed = match &der {
        PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
        PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
        _ => return Err(oauth2_err("key is not a valid RSA private key".into())),
    };
    // ring also refuses RSA keys shorter than 2048 bits, which Go would use.
    parsed.map_err(|_| oauth2_err("key is not a valid RSA private key".into()))
}

/// A random (version 4) UUID, as the `jti` claim.
fn uuid_v4(rng: &SystemRandom) -> Result<String> {
    let mut b = [0u8; 16];
    rng.fill(&mut b)
        .map_err(|_| oauth2_err("oauth2: no randomness for the JWT id".into()))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// Base64url without padding (RFC 7515's encoding of JWT parts).
pub(crate) fn base64url(input: &[u8]) -> String {
    base64(input)
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> String {
        std::fs::read_to_string(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("testdata")
                .join(name),
        )
        .unwrap()
    }

    fn decode_b64url(s: &str) -> Vec<u8> {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut bits = 0u32;
        let mut n = 0;
        let mut out = Vec::new();
        for c in s.bytes() {
            let v = u32::try_from(ALPHABET.iter().position(|&a| a == c).unwrap()).unwrap();
            bits = (bits << 6) | v;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push(u8::try_from((bits >> n) & 0xff).unwrap());
            }
        }
        out
    }

    /// The header and claims of `jwt`, after checking its signature with `key`'s public
    /// half under `alg`.
    pub(crate) fn verify(
        jwt: &str,
        key_pem: &str,
        alg: &'static dyn signature::VerificationAlgorithm,
    ) -> (serde_json::Value, serde_json::Value) {
        let key = rsa_key(key_pem.as_bytes()).unwrap();
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        signature::UnparsedPublicKey::new(alg, key.public().as_ref())
            .verify(input.as_bytes(), &decode_b64url(sig))
            .expect("signature verifies");
        let (h, c) = input.split_once('.').unwrap();
        (
            serde_json::from_slice(&decode_b64url(h)).unwrap(),
            serde_json::from_slice(&decode_b64url(c)).unwrap(),
        )
    }

    fn cfg() -> config::http_config::OAuth2 {
        config::http_config::OAuth2 {
            client_id: "client".into(),
            token_url: "http://127.0.0.1:1/token".into(),
            grant_type: GRANT_TYPE.into(),
            ..Default::default()
        }
    }

    #[test]
    fn assertions_carry_the_prometheus_claims_and_verify() {
        let key = testdata("client.key");
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let jwt = Assertion::new(&cfg()).sign(&key, now).unwrap();
        let (h, c) = verify(&jwt, &key, &signature::RSA_PKCS1_2048_8192_SHA256);
        assert_eq!(h, serde_json::json!({"alg": "RS256", "typ": "JWT"}));
        assert_eq!(c["iss"], "client");
        assert_eq!(c["sub"], "client");
        assert_eq!(c["aud"], "http://127.0.0.1:1/token");
        assert_eq!(c["iat"], 1_700_000_000);
        assert_eq!(c["exp"], 1_700_000_600);
        assert!(c.get("scope").is_none());
        let jti = c["jti"].as_str().unwrap();
        assert_eq!(jti.len(), 36);
        assert_eq!(&jti[14..15], "4");

        let mut cfg = cfg();
        cfg.signature_algorithm = "RS512".into();
        cfg.client_certificate_key_id = "kid-1".into();
        cfg.iss = "issuer".into();
        cfg.audience = "https://aud.example".into();
        cfg.scopes = vec!["a".into(), "b".into()];
        cfg.claims.insert("sub".into(), "overridden".into());
        cfg.claims.insert("tenant".into(), "t1".into());
        let jwt = Assertion::new(&cfg).sign(&key, now).unwrap();
        let (h, c) = verify(&jwt, &key, &signature::RSA_PKCS1_2048_8192_SHA512);
        assert_eq!(h["alg"], "RS512");
        assert_eq!(h["kid"], "kid-1");
        assert_eq!(c["iss"], "issuer");
        assert_eq!(c["aud"], "https://aud.example");
        assert_eq!(c["scope"], "a b");
        assert_eq!(c["sub"], "overridden");
        assert_eq!(c["tenant"], "t1");
        // Two assertions differ in their id.
        let again = Assertion::new(&cfg).sign(&key, now).unwrap();
        assert_ne!(
            verify(&again, &key, &signature::RSA_PKCS1_2048_8192_SHA512).1["jti"],
            c["jti"]
        );
    }

    #[test]
    fn pkcs1_keys_sign_too_and_bad_keys_fail_like_golang_jwt() {
        let pkcs1 = testdata("client.rsa.key");
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let jwt = Assertion::new(&cfg())
            .sign(&pkcs1, SystemTime::now())
            .unwrap();
        verify(&jwt, &pkcs1, &signature::RSA_PKCS1_2048_8192_SHA256);
        let a = Assertion::new(&cfg());
        assert_eq!(
            a.sign("not a key", SystemTime::now())
                .unwrap_err()
                .to_string(),
            "invalid key: Key must be a PEM encoded PKCS1 or PKCS8 key"
        );
        assert_eq!(
            a.sign(&testdata("ec.key"), SystemTime::now())
                .unwrap_err()
                .to_string(),
            "key is not a valid RSA private key"
        );
        let cert = testdata("client.crt");
        assert_eq!(
            a.sign(&cert, SystemTime::now()).unwrap_err().to_string(),
            "invalid key: Key must be a PEM encoded PKCS1 or PKCS8 key"
        );
    }

    #[test]
    fn base64url_has_no_padding_and_url_safe_digits() {
        assert_eq!(base64url(b"\xfb\xff"), "-_8");
        assert_eq!(base64url(b"a"), "YQ");
        assert_eq!(decode_b64url(&base64url(b"hello, world")), b"hello, world");
    }
}
