//! One JSON (or text) exchange with a cloud provider's REST API, shared by the refresh-based
//! cloud providers (linode, hetzner, scaleway, …): status check and decoding with messages
//! naming what was asked for.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use crate::util::Answer;

/// Sends `method url` with `headers` and `body` through `client` within `timeout`, reading
/// the whole answer.
///
/// # Errors
/// A message for an unbuildable request, a failed exchange or the time limit.
pub(crate) async fn send(
    client: &httpclient::HttpClient,
    method: http::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Bytes,
    timeout: Duration,
) -> Result<Answer, String> {
    let fetch = async {
        let mut req = http::Request::builder().method(method.clone()).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| format!("building request for {url}: {e}"))?;
        let resp = client.send(req).await.map_err(|e| e.to_string())?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("reading the answer of {url}: {e}"))?
            .to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    match tokio::time::timeout(timeout, fetch).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "{} {url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
            title_case(method.as_str())
        )),
    }
}

/// Go's spelling of a method in client errors (`Get`, `Post`).
fn title_case(method: &str) -> String {
    let mut out = String::with_capacity(method.len());
    for (i, c) in method.chars().enumerate() {
        if i == 0 {
            out.push(c);
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Fails with `what: server returned HTTP status …[: body]` unless the answer is a 2xx.
///
/// # Errors
/// The status (and trimmed body) of an unsuccessful answer.
pub(crate) fn check_status(what: &str, a: &Answer) -> Result<(), String> {
    if a.status.is_success() {
        return Ok(());
    }
    let body = String::from_utf8_lossy(&a.body);
    let mut err = format!(
        "{what}: server returned HTTP status {} {}",
        a.status.as_u16(),
        a.status.canonical_reason().unwrap_or_default()
    );
    if !body.trim().is_empty() {
        err = format!("{err}: {}", body.trim());
    }
    Err(err)
}

/// GETs `url` and decodes a successful JSON answer.
///
/// # Errors
/// A failed exchange, an unsuccessful status or an answer that does not decode.
pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
    client: &httpclient::HttpClient,
    what: &str,
    url: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<T, String> {
    let a = send(
        client,
        http::Method::GET,
        url,
        headers,
        Bytes::new(),
        timeout,
    )
    .await?;
    check_status(what, &a)?;
    serde_json::from_slice(&a.body)
        .map_err(|e| format!("{what}: decoding the answer of {url}: {e}"))
}
