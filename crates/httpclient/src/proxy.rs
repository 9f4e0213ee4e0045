//! Proxies (`proxy_url`, `no_proxy`, `proxy_from_environment`, `proxy_connect_header`): plain
//! HTTP requests go to the proxy in absolute form, HTTPS ones through an HTTP CONNECT tunnel,
//! as Go's transport does.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use config::http_config::ProxyConfig;
use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::{Error, Result};

/// Which destinations go through which proxy.
#[derive(Debug)]
pub(crate) struct Proxy {
    matcher: Matcher,
    connect_headers: HeaderMap,
}

impl Proxy {
    /// The proxy rules of `cfg`, `None` when no proxy is configured.
    pub(crate) fn new(cfg: &ProxyConfig) -> Result<Option<Proxy>> {
        let url = cfg
            .proxy_url
            .as_ref()
            .map(|u| u.as_str())
            .filter(|u| !u.is_empty());
        let matcher = match url {
            Some(url) => {
                let scheme = url.split_once("://").map_or("", |(s, _)| s);
                if !scheme.eq_ignore_ascii_case("http") {
                    return Err(Error::Unsupported {
                        option: "proxy_url with a scheme other than http",
                    });
                }
                Matcher::builder()
                    .all(url)
                    .no(cfg.no_proxy.as_str())
                    .build()
            }
            None if cfg.proxy_from_environment => Matcher::from_env(),
            None => return Ok(None),
        };
        let mut connect_headers = HeaderMap::new();
        for (name, values) in &cfg.proxy_connect_header {
            let header =
                HeaderName::from_bytes(name.as_bytes()).map_err(|e| Error::InvalidHeader {
                    name: name.clone(),
                    message: e.to_string(),
                })?;
            for v in values {
                let mut value =
                    HeaderValue::from_str(v.expose()).map_err(|e| Error::InvalidHeader {
                        name: name.clone(),
                        message: e.to_string(),
                    })?;
                value.set_sensitive(true);
                connect_headers.append(header.clone(), value);
            }
        }
        Ok(Some(Proxy {
            matcher,
            connect_headers,
        }))
    }

    /// The proxy for `dst`, if it is to be proxied.
    pub(crate) fn intercept(&self, dst: &Uri) -> Option<Intercept> {
        self.matcher.intercept(dst)
    }
}

/// A connection, direct or through a proxy. Plain HTTP to a proxy is marked as proxied so
/// that requests are sent in absolute form.
#[derive(Debug)]
pub(crate) struct Stream {
    io: TokioIo<TcpStream>,
    proxied: bool,
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        self.io.inner().connected().proxy(self.proxied)
    }
}

impl hyper::rt::Read for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The TCP connector under TLS: connects directly, to the proxy, or through a tunnel.
#[derive(Clone)]
pub(crate) struct Connector {
    http: HttpConnector,
    proxy: Option<Arc<Proxy>>,
}

impl Connector {
    pub(crate) fn new(http: HttpConnector, proxy: Option<Arc<Proxy>>) -> Connector {
        Connector { http, proxy }
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let mut http = self.http.clone();
        let intercept = self.proxy.as_ref().and_then(|p| p.intercept(&dst));
        let proxy = self.proxy.clone();
        Box::pin(async move {
            match intercept {
                None => Ok(Stream {
                    io: http.call(dst).await?,
                    proxied: false,
                }),
                Some(i) if dst.scheme_str() == Some("https") => {
                    let mut tunnel = Tunnel::new(i.uri().clone(), http);
                    if let Some(auth) = i.basic_auth() {
                        tunnel = tunnel.with_auth(auth.clone());
                    }
                    if let Some(p) = proxy.as_ref().filter(|p| !p.connect_headers.is_empty()) {
                        tunnel = tunnel.with_headers(p.connect_headers.clone());
                    }
                    Ok(Stream {
                        io: tunnel.call(dst).await?,
                        proxied: false,
                    })
                }
                Some(i) => Ok(Stream {
                    io: http.call(i.uri().clone()).await?,
                    proxied: true,
                }),
            }
        })
    }
}
