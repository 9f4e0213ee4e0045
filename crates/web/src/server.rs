//! Serving the handler over HTTP/1 and HTTP/2 with hyper, with graceful shutdown.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::handler::Handler;

/// How long open connections may take to finish their requests after shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Limits of the HTTP server.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// `--web.max-connections`: connections beyond this wait to be accepted (0: no limit).
    pub max_connections: usize,
    /// `--web.read-timeout`: how long an HTTP/1 client may take to send a request's
    /// headers (Go's `ReadTimeout` also bounds the body; hyper bounds only the headers).
    pub read_timeout: Duration,
}

impl Default for ServeOptions {
    /// Prometheus's defaults: 512 connections, 5 minutes.
    fn default() -> Self {
        ServeOptions {
            max_connections: 512,
            read_timeout: Duration::from_secs(300),
        }
    }
}

/// Binds the listen address (`--web.listen-address`), so that a taken port fails the start.
pub async fn listen(address: &str) -> Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|source| Error::Listen {
            address: address.to_owned(),
            source,
        })
}

/// Serves `handler` on `listener` with `options` until `shutdown` is cancelled, then stops
/// accepting and lets open connections finish their requests (for at most five seconds).
pub async fn serve(
    listener: TcpListener,
    handler: Handler,
    options: ServeOptions,
    shutdown: CancellationToken,
) -> Result<()> {
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.read_timeout);
    let slots = (options.max_connections > 0)
        .then(|| Arc::new(tokio::sync::Semaphore::new(options.max_connections)));
    loop {
        // Wait for a free connection slot before accepting, as Go's netutil.LimitListener.
        let permit = match &slots {
            Some(slots) => tokio::select! {
                permit = slots.clone().acquire_owned() => permit.ok(),
                () = shutdown.cancelled() => break,
            },
            None => None,
        };
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
            let _permit = permit;
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
