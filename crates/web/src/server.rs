//! Serving the handler over HTTP/1 and HTTP/2 with hyper, with graceful shutdown.

use std::convert::Infallible;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::handler::Handler;

/// How long open connections may take to finish their requests after shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Binds the listen address (`--web.listen-address`), so that a taken port fails the start.
pub async fn listen(address: &str) -> Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|source| Error::Listen {
            address: address.to_owned(),
            source,
        })
}

/// Serves `handler` on `listener` until `shutdown` is cancelled, then stops accepting and
/// lets open connections finish their requests (for at most five seconds).
pub async fn serve(
    listener: TcpListener,
    handler: Handler,
    shutdown: CancellationToken,
) -> Result<()> {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Running out of file descriptors is temporary; back off instead of
                // spinning or giving up.
                tracing::warn!(err = %err, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let handler = handler.clone();
        let service = hyper::service::service_fn(move |req| {
            let handler = handler.clone();
            async move { Ok::<_, Infallible>(handler.handle(req).await) }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(err = %err, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("HTTP connections still open after the shutdown grace period; closing them");
        }
    }
    Ok(())
}
