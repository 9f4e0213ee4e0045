//! OCI API request signatures (HTTP Signatures, draft-cavage, version 1, `rsa-sha256`), as
//! the OCI SDKs sign every request made with an API key.
//!
//! A GET, HEAD or DELETE signs `date (request-target) host`; a request with a body also
//! signs `content-length content-type x-content-sha256` (the body's SHA-256, base64). The
//! `keyId` is `<tenancy>/<user>/<fingerprint>`.

use base64::Engine as _;

/// Signs requests with one API key.
#[derive(Debug)]
pub(crate) struct Signer {
    key_id: String,
    key: ring::signature::RsaKeyPair,
}

/// A request body as signed: its bytes and `Content-Type`.
pub(crate) struct Body<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) content_type: &'a str,
}

impl Signer {
    /// A signer for the key of `tenancy`'s `user` with `fingerprint`.
    pub(crate) fn new(
        tenancy: &str,
        user: &str,
        fingerprint: &str,
        key: ring::signature::RsaKeyPair,
    ) -> Signer {
        Signer {
            key_id: format!("{tenancy}/{user}/{fingerprint}"),
            key,
        }
    }

    /// The headers to send with a request of `method` to `host` (the URL's authority, with
    /// its port if it has one) and `path_and_query`, made at `date` (an HTTP date): `date`,
    /// the body headers when there is a body, and `authorization`.
    ///
    /// # Errors
    /// Only when ring cannot sign (it has no randomness).
    pub(crate) fn headers(
        &self,
        method: &http::Method,
        host: &str,
        path_and_query: &str,
        date: &str,
        body: Option<Body<'_>>,
    ) -> Result<Vec<(&'static str, String)>, String> {
        let mut headers = vec![("date", date.to_owned())];
        let mut lines = vec![
            format!("date: {date}"),
            format!(
                "(request-target): {} {path_and_query}",
                method.as_str().to_ascii_lowercase()
            ),
            format!("host: {host}"),
        ];
        let mut names = "date (request-target) host".to_owned();
        if let Some(body) = body {
            let digest = ring::digest::digest(&ring::digest::SHA256, body.bytes);
            let sha = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
            let len = body.bytes.len().to_string();
            lines.push(format!("content-length: {len}"));
            lines.push(format!("content-type: {}", body.content_type));
            lines.push(format!("x-content-sha256: {sha}"));
            names.push_str(" content-length content-type x-content-sha256");
            headers.push(("content-length", len));
            headers.push(("content-type", body.content_type.to_owned()));
            headers.push(("x-content-sha256", sha));
        }
        let signing_string = lines.join("\n");
        let mut sig = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                signing_string.as_bytes(),
                &mut sig,
            )
            .map_err(|e| format!("signing the request: {e}"))?;
        headers.push((
            "authorization",
            format!(
                "Signature version=\"1\",keyId=\"{}\",algorithm=\"rsa-sha256\",headers=\"{names}\",signature=\"{}\"",
                self.key_id,
                base64::engine::general_purpose::STANDARD.encode(sig)
            ),
        ));
        Ok(headers)
    }
}

/// `t` (seconds since the epoch) as an HTTP date (RFC 7231 IMF-fixdate), e.g.
/// `Thu, 05 Jan 2014 21:31:40 GMT`.
pub(crate) fn http_date(t: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = i64::try_from(t / 86_400).unwrap_or(i64::MAX / 2);
    let secs = t % 86_400;
    let (y, m, d) = model::civil::civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = DAYS[usize::try_from((days + 4).rem_euclid(7)).unwrap_or(0)];
    let month = MONTHS[usize::try_from(m.saturating_sub(1)).unwrap_or(0) % 12];
    format!(
        "{weekday}, {d:02} {month} {y:04} {:02}:{:02}:{:02} GMT",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_388_957_500), "Sun, 05 Jan 2014 21:31:40 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    /// The signing string and header list of a request with a body, checked against the
    /// key's public half.
    #[test]
    fn bodies_sign_their_length_type_and_digest() {
        let key = crate::util::rsa_key(super::super::tests::TEST_KEY).unwrap();
        let public = key.public().as_ref().to_vec();
        let signer = Signer::new("ocid1.tenancy.oc1..t", "ocid1.user.oc1..u", "aa:bb", key);
        let body = br#"{"a":1}"#;
        let headers = signer
            .headers(
                &http::Method::POST,
                "iaas.us-ashburn-1.oraclecloud.com",
                "/20160918/things?x=1",
                "Thu, 05 Jan 2014 21:31:40 GMT",
                Some(Body {
                    bytes: body,
                    content_type: "application/json",
                }),
            )
            .unwrap();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let sha = base64::engine::general_purpose::STANDARD
            .encode(ring::digest::digest(&ring::digest::SHA256, body).as_ref());
        assert_eq!(get("x-content-sha256"), sha);
        assert_eq!(get("content-length"), "7");
        let auth = get("authorization");
        assert!(auth.starts_with(
            "Signature version=\"1\",keyId=\"ocid1.tenancy.oc1..t/ocid1.user.oc1..u/aa:bb\",\
             algorithm=\"rsa-sha256\",headers=\"date (request-target) host content-length \
             content-type x-content-sha256\",signature=\""
        ));
        let sig = auth
            .rsplit_once("signature=\"")
            .map(|(_, s)| s.trim_end_matches('"'))
            .unwrap();
        let signing_string = format!(
            "date: Thu, 05 Jan 2014 21:31:40 GMT\n(request-target): post /20160918/things?x=1\n\
             host: iaas.us-ashburn-1.oraclecloud.com\ncontent-length: 7\n\
             content-type: application/json\nx-content-sha256: {sha}"
        );
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &public,
        )
        .verify(
            signing_string.as_bytes(),
            &base64::engine::general_purpose::STANDARD
                .decode(sig)
                .unwrap(),
        )
        .unwrap();
    }
}
