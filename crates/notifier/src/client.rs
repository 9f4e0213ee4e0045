//! The one function that POSTs alerts to an Alertmanager, over the shared HTTP client.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Full};
use httpclient::HttpClient;

use crate::error::Error;

/// POSTs `body` as JSON to `url` within `timeout`; any 2xx answer is success (Go's
/// `sendOne`). The response body is read to the end so the connection is reused.
pub(crate) async fn post(
    client: &HttpClient,
    url: &str,
    body: Bytes,
    timeout: Duration,
) -> Result<(), Error> {
    let send = async {
        let req = Request::post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| Error::Send {
                url: url.to_owned(),
                message: format!("Post {url:?}: {e}"),
            })?;
        let resp = client.send(req).await.map_err(|e| Error::Send {
            url: url.to_owned(),
            // Failed exchanges already read `Post "url": ...`; the rest get that prefix.
            message: match e {
                httpclient::Error::Request { .. } => e.to_string(),
                other => format!("Post {url:?}: {other}"),
            },
        })?;
        let status = resp.status();
        // A failure while draining does not change the outcome: the status has arrived.
        let _ = resp.into_body().collect().await;
        if !status.is_success() {
            return Err(Error::BadStatus {
                url: url.to_owned(),
                status,
            });
        }
        Ok(())
    };
    tokio::time::timeout(timeout, send)
        .await
        .unwrap_or_else(|_| {
            Err(Error::Timeout {
                url: url.to_owned(),
                timeout,
            })
        })
}
