//! Proxies (`proxy_url`, `no_proxy`, `proxy_from_environment`, `proxy_connect_header`) as
//! Go's transport uses them: plain HTTP requests go to an `http://` or `https://` proxy in
//! absolute form, HTTPS ones through a CONNECT tunnel; `socks5://` (and `socks5h://`)
//! proxies get a SOCKS5 CONNECT with the host name resolved by the proxy and the URL's user
//! and password as credentials.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use config::http_config::ProxyConfig;
use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::proxy::{SocksV5, Tunnel};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::proxy::matcher::{Intercept, Matcher};

use crate::dial::{CountingConnector, forward_io};
use crate::{Error, Result};

/// Which destinations go through which proxy.
#[derive(Debug)]
pub(crate) struct Proxy {
    matcher: Matcher,
    /// Go's `httpproxy` (used with `no_proxy` and for the environment) never proxies
    /// `localhost` and loopback addresses; a bare `proxy_url` proxies everything.
    direct_loopback: bool,
    connect_headers: HeaderMap,
}

/// Proxy URL schemes this client speaks.
const SCHEMES: &[&str] = &["http", "https", "socks5", "socks5h"];

impl Proxy {
    /// The proxy rules of `cfg`, `None` when no proxy is configured.
    pub(crate) fn new(cfg: &ProxyConfig) -> Result<Option<Proxy>> {
        Proxy::with_env(cfg, &|name| std::env::var(name).ok())
    }

    /// [`Proxy::new`] reading `proxy_from_environment`'s variables through `env`:
    /// `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` (or their lower-case forms), with
    /// `HTTP_PROXY` ignored in a CGI process (`REQUEST_METHOD` set), as Go's
    /// `httpproxy.FromEnvironment`.
    pub(crate) fn with_env(
        cfg: &ProxyConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Proxy>> {
        let url = cfg
            .proxy_url
            .as_ref()
            .map(|u| u.as_str())
            .filter(|u| !u.is_empty());
        let (matcher, direct_loopback) = match url {
            Some(url) => {
                let scheme = url.split_once("://").map_or("", |(s, _)| s);
                if !SCHEMES.iter().any(|s| scheme.eq_ignore_ascii_case(s)) {
                    return Err(Error::Unsupported {
                        option: "proxy_url with a scheme other than http, https, socks5 or socks5h",
                    });
                }
                let mut b = Matcher::builder().all(url.to_owned());
                if !cfg.no_proxy.is_empty() {
                    b = b.no(cfg.no_proxy.clone());
                }
                (b.build(), !cfg.no_proxy.is_empty())
            }
            None if cfg.proxy_from_environment => {
                let get = |names: [&str; 2]| {
                    names
                        .iter()
                        .find_map(|n| env(n).filter(|v| !v.is_empty()))
                        .unwrap_or_default()
                };
                let http = if env("REQUEST_METHOD").is_some() {
                    String::new()
                } else {
                    get(["HTTP_PROXY", "http_proxy"])
                };
                let matcher = Matcher::builder()
                    .http(http)
                    .https(get(["HTTPS_PROXY", "https_proxy"]))
                    .no(get(["NO_PROXY", "no_proxy"]))
                    .build();
                (matcher, true)
            }
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
            direct_loopback,
            connect_headers,
        }))
    }

    /// The proxy for `dst`, if it is to be proxied.
    pub(crate) fn intercept(&self, dst: &Uri) -> Option<Intercept> {
        if self.direct_loopback && dst.host().is_some_and(is_loopback) {
            return None;
        }
        self.matcher.intercept(dst)
    }
}

/// `localhost` or a loopback IP address (bracketed for IPv6 in a URI).
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `uri` with its port made explicit (`default` when it has none and its scheme does not
/// imply one).
fn with_port(uri: &Uri, default: u16) -> std::result::Result<Uri, BoxError> {
    if uri.port().is_some() {
        return Ok(uri.clone());
    }
    let port = match uri.scheme_str() {
        Some("http") => 80,
        Some("https") => 443,
        _ => default,
    };
    let host = uri.host().ok_or("URL without host")?;
    let mut parts = uri.clone().into_parts();
    parts.authority = Some(format!("{host}:{port}").parse()?);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    Ok(Uri::from_parts(parts)?)
}

/// The I/O of one connection: plain TCP, or TLS to an `https://` proxy.
trait Io: hyper::rt::Read + hyper::rt::Write + Connection + Send + Unpin + 'static {}

impl<T: hyper::rt::Read + hyper::rt::Write + Connection + Send + Unpin + 'static> Io for T {}

/// A connection, direct or through a proxy. Plain HTTP to an HTTP proxy is marked as
/// proxied so that requests are sent in absolute form.
pub(crate) struct Stream {
    io: Box<dyn Io>,
    proxied: bool,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("proxied", &self.proxied)
            .finish_non_exhaustive()
    }
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.proxied)
    }
}

forward_io!(Stream);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The TCP connector under TLS: connects directly, to the proxy, or through a tunnel.
#[derive(Clone)]
pub(crate) struct Connector {
    http: CountingConnector,
    /// TLS to `https://` proxies (the client's `tls_config`).
    proxy_tls: HttpsConnector<CountingConnector>,
    proxy: Option<Arc<Proxy>>,
}

impl Connector {
    pub(crate) fn new(
        http: CountingConnector,
        proxy_tls: HttpsConnector<CountingConnector>,
        proxy: Option<Arc<Proxy>>,
    ) -> Connector {
        Connector {
            http,
            proxy_tls,
            proxy,
        }
    }
}

fn boxed<T: Io>(io: T, proxied: bool) -> Stream {
    Stream {
        io: Box::new(io),
        proxied,
    }
}

/// A connection already made to a SOCKS proxy, handed to hyper-util's handshake as its
/// connector, so that a failed TCP connect keeps its cause (hyper-util's SOCKS errors drop
/// it).
struct Established<T>(Option<T>);

impl<T> tower_service::Service<Uri> for Established<T> {
    type Response = T;
    type Error = std::io::Error;
    type Future = std::future::Ready<std::io::Result<T>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _dst: Uri) -> Self::Future {
        std::future::ready(
            self.0
                .take()
                .ok_or_else(|| std::io::Error::other("SOCKS proxy connection used twice")),
        )
    }
}

/// Turns a failed proxy handshake (`what`: SOCKS or CONNECT) into an error naming the
/// proxy and the destination: `proxyconnect tcp 127.0.0.1:3128->example.org:443: ...`.
fn failed<E: std::fmt::Display>(
    what: &'static str,
    proxy: &Uri,
    dst: &Uri,
) -> impl FnOnce(E) -> BoxError {
    let authority = |u: &Uri| u.authority().map_or("", |a| a.as_str()).to_owned();
    let (proxy, dst) = (authority(proxy), authority(dst));
    move |e| format!("{what} tcp {proxy}->{dst}: {e}").into()
}

/// A CONNECT tunnel with the proxy's credentials and `proxy_connect_header`.
fn tunnel<C>(proxy: Uri, inner: C, i: &Intercept, headers: Option<&HeaderMap>) -> Tunnel<C> {
    let mut tunnel = Tunnel::new(proxy, inner);
    if let Some(auth) = i.basic_auth() {
        tunnel = tunnel.with_auth(auth.clone());
    }
    if let Some(h) = headers {
        tunnel = tunnel.with_headers(h.clone());
    }
    tunnel
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
        let proxy_tls = self.proxy_tls.clone();
        let intercept = self.proxy.as_ref().and_then(|p| p.intercept(&dst));
        let proxy = self.proxy.clone();
        Box::pin(async move {
            let Some(i) = intercept else {
                return Ok(boxed(http.call(dst).await?, false));
            };
            let connect_headers = proxy
                .as_ref()
                .map(|p| &p.connect_headers)
                .filter(|h| !h.is_empty());
            let https = dst.scheme_str() == Some("https");
            match i.uri().scheme_str().unwrap_or("http") {
                "socks5" | "socks5h" => {
                    let proxy_uri = with_port(i.uri(), 1080)?;
                    let dst = with_port(&dst, 80)?;
                    let conn = http.call(proxy_uri.clone()).await?;
                    let mut socks = SocksV5::new(proxy_uri.clone(), Established(Some(conn)));
                    if let Some((user, pass)) = i.raw_auth() {
                        socks = socks.with_auth(user.to_owned(), pass.to_owned());
                    }
                    let io = socks.call(dst.clone()).await.map_err(failed(
                        "socks connect",
                        &proxy_uri,
                        &dst,
                    ))?;
                    Ok(boxed(io, false))
                }
                "https" if https => {
                    let mut t = tunnel(i.uri().clone(), proxy_tls, &i, connect_headers);
                    let io =
                        t.call(dst.clone())
                            .await
                            .map_err(failed("proxyconnect", i.uri(), &dst))?;
                    Ok(boxed(io, false))
                }
                "https" => {
                    let mut proxy_tls = proxy_tls;
                    Ok(boxed(proxy_tls.call(i.uri().clone()).await?, true))
                }
                "http" if https => {
                    let mut t = tunnel(i.uri().clone(), http, &i, connect_headers);
                    let io =
                        t.call(dst.clone())
                            .await
                            .map_err(failed("proxyconnect", i.uri(), &dst))?;
                    Ok(boxed(io, false))
                }
                "http" => Ok(boxed(http.call(i.uri().clone()).await?, true)),
                other => Err(format!("proxy scheme {other} is not supported").into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn proxy(yaml: &str, env: &[(&str, &str)]) -> Option<Proxy> {
        let mut cfg: ProxyConfig = ProxyConfig::default();
        for line in yaml.lines() {
            match line.split_once(": ") {
                Some(("proxy_url", v)) => cfg.proxy_url = Some(config::Url::parse(v).unwrap()),
                Some(("no_proxy", v)) => cfg.no_proxy = v.to_owned(),
                Some(("proxy_from_environment", "true")) => cfg.proxy_from_environment = true,
                _ => panic!("unknown line {line}"),
            }
        }
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Proxy::with_env(&cfg, &|n| env.get(n).cloned()).unwrap()
    }

    fn via(p: &Proxy, url: &str) -> Option<String> {
        p.intercept(&url.parse().unwrap())
            .map(|i| i.uri().to_string())
    }

    #[test]
    fn proxy_from_environment_reads_http_https_and_no_proxy() {
        let p = proxy(
            "proxy_from_environment: true",
            &[
                ("http_proxy", "socks5://10.0.0.1:1080"),
                ("HTTPS_PROXY", "https://proxy.example:3128"),
                ("NO_PROXY", "internal.example,.corp"),
            ],
        )
        .unwrap();
        assert_eq!(
            via(&p, "http://target.example/m").as_deref(),
            Some("socks5://10.0.0.1:1080/")
        );
        assert_eq!(
            via(&p, "https://target.example/m").as_deref(),
            Some("https://proxy.example:3128/")
        );
        assert_eq!(via(&p, "http://internal.example/m"), None);
        assert_eq!(via(&p, "http://a.corp/m"), None);
        // Go's httpproxy never proxies loopback destinations.
        assert_eq!(via(&p, "http://127.0.0.1:9090/m"), None);
        assert_eq!(via(&p, "http://localhost:9090/m"), None);
        assert_eq!(via(&p, "http://[::1]:9090/m"), None);

        // In a CGI process HTTP_PROXY may come from a request header: ignored.
        let p = proxy(
            "proxy_from_environment: true",
            &[
                ("HTTP_PROXY", "http://10.0.0.1:3128"),
                ("REQUEST_METHOD", "GET"),
            ],
        )
        .unwrap();
        assert_eq!(via(&p, "http://target.example/m"), None);
        // Nothing set: nothing proxied.
        let p = proxy("proxy_from_environment: true", &[]).unwrap();
        assert_eq!(via(&p, "http://target.example/m"), None);
        assert!(proxy("", &[("HTTP_PROXY", "http://10.0.0.1:3128")]).is_none());
    }

    #[test]
    fn proxy_url_proxies_loopback_unless_no_proxy_is_set() {
        let p = proxy("proxy_url: http://10.0.0.1:3128", &[]).unwrap();
        assert_eq!(
            via(&p, "http://127.0.0.1:9090/").as_deref(),
            Some("http://10.0.0.1:3128/")
        );
        let p = proxy("proxy_url: socks5://10.0.0.1\nno_proxy: skip.example", &[]).unwrap();
        assert_eq!(via(&p, "http://127.0.0.1:9090/"), None);
        assert_eq!(via(&p, "http://skip.example/"), None);
        assert_eq!(
            via(&p, "http://other.example/").as_deref(),
            Some("socks5://10.0.0.1/")
        );
    }

    #[test]
    fn ports_are_made_explicit() {
        let u = |s: &str, d| with_port(&s.parse().unwrap(), d).unwrap().to_string();
        assert_eq!(u("http://h/x", 1080), "http://h:80/x");
        assert_eq!(u("https://h", 1080), "https://h:443/");
        assert_eq!(u("socks5://h", 1080), "socks5://h:1080/");
        assert_eq!(u("http://h:81/", 1080), "http://h:81/");
    }
}
