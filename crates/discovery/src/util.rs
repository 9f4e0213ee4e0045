//! Helpers the server-based providers (consul, docker, eureka, …) share: Go's label-name
//! sanitizing and `net.JoinHostPort`, sorted query strings, RSA keys from PEM, and one GET
//! through [`httpclient`] with a time limit.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// Go's `strutil.SanitizeLabelName`: every character outside `[a-zA-Z0-9_]` becomes `_`.
pub(crate) fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `host:port`, with brackets around IPv6 addresses (Go's `net.JoinHostPort`).
pub(crate) fn join_host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A query string as Go's `url.Values.Encode` writes it: keys sorted (values of one key in
/// the order given), both escaped with `url.QueryEscape`. Empty for no parameters.
pub(crate) fn encode_query(params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    for (k, v) in sorted {
        if !out.is_empty() {
            out.push('&');
        }
        model::strutil::write_query_escaped(&mut out, k);
        out.push('=');
        model::strutil::write_query_escaped(&mut out, v);
    }
    out
}

/// An RSA key from PEM (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`), for the
/// providers that sign with one (STACKIT's key flow, OCI's request signatures).
///
/// # Errors
/// A message for a block that is not base64 or not an RSA key ring accepts (ring also
/// refuses keys shorter than 2048 bits).
pub(crate) fn rsa_key(pem: &str) -> Result<ring::signature::RsaKeyPair, String> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| format!("private key is not valid PEM: {e}"))?;
    if pem.contains("BEGIN RSA PRIVATE KEY") {
        ring::signature::RsaKeyPair::from_der(&der)
    } else {
        ring::signature::RsaKeyPair::from_pkcs8(&der)
    }
    .map_err(|e| format!("parsing private key: {e}"))
}

/// An HTTP answer read to the end.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: http::StatusCode,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    /// A header's value as text (empty when absent).
    pub(crate) fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    }
}

/// GETs `url` with `headers` through `client`, reading the whole body, within `timeout`.
///
/// # Errors
/// A message for an unbuildable request, a failed exchange or the time limit (Go's
/// `Client.Timeout exceeded` text).
pub(crate) async fn get(
    client: &httpclient::HttpClient,
    url: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<Answer, String> {
    crate::api::send(
        client,
        http::Method::GET,
        url,
        headers,
        bytes::Bytes::new(),
        timeout,
    )
    .await
}

/// GETs `path_and_query` over the unix socket at `socket` (a connection per request, as
/// refreshes are seconds to minutes apart), with `host` as the `Host` header, within
/// `timeout`.
///
/// # Errors
/// A message for a failed connection or exchange, or the time limit.
pub(crate) async fn unix_get(
    socket: &std::path::Path,
    host: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<Answer, String> {
    let url = format!("http://{host}{path_and_query}");
    let fetch = async {
        let stream = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|e| format!("Get {url:?}: dial unix {}: {e}", socket.display()))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("Get {url:?}: {e}"))?;
        let conn = tokio::spawn(conn);
        let mut req = http::Request::get(path_and_query).header(http::header::HOST, host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("building request for {url}: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("Get {url:?}: {e}"))?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("reading the answer of {url}: {e}"))?
            .to_bytes();
        conn.abort();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    match tokio::time::timeout(timeout, fetch).await {
        Ok(r) => r,
        Err(_) => Err(format!("Get {url:?}: context deadline exceeded")),
    }
}

#[cfg(test)]
pub(crate) mod testserver;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_sorted_and_escaped_as_go_does() {
        let q = encode_query(&[
            ("wait".into(), "120000ms".into()),
            ("tag".into(), "b".into()),
            ("node-meta".into(), "rack_name:2304".into()),
            ("tag".into(), "a".into()),
            ("stale".into(), String::new()),
        ]);
        assert_eq!(
            q,
            "node-meta=rack_name%3A2304&stale=&tag=b&tag=a&wait=120000ms"
        );
        assert_eq!(encode_query(&[]), "");
    }

    #[test]
    fn host_ports_and_label_names() {
        assert_eq!(join_host_port("fc00::2", 80), "[fc00::2]:80");
        assert_eq!(join_host_port("1.1.1.1", 80), "1.1.1.1:80");
        assert_eq!(sanitize("com.docker/x-y"), "com_docker_x_y");
    }
}
