//! Serving the handler over HTTP/1 (and HTTP/2 over TLS) with hyper, with graceful shutdown.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::handler::Handler;
use crate::metrics::ListenerMetrics;
use crate::notifications::into_served;
use crate::webconfig::{Source, Verdict};

/// How long open connections may take to finish their requests after shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Limits and security of the HTTP server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// `--web.max-connections`: connections beyond this wait to be accepted (0: no limit).
    pub max_connections: usize,
    /// `--web.read-timeout`: how long an HTTP/1 client may take to send a request's
    /// headers (Go's `ReadTimeout` also bounds the body; hyper bounds only the headers), and
    /// a TLS client to finish its handshake.
    pub read_timeout: Duration,
    /// `--web.config.file`: TLS, security headers, basic auth and rate limiting, as
    /// Prometheus's exporter-toolkit reads them (see [`WebConfig`](crate::WebConfig)). The
    /// file is checked when serving starts and re-read for every request and TLS connection.
    pub web_config_file: Option<PathBuf>,
}

impl Default for ServeOptions {
    /// Prometheus's defaults: 512 connections, 5 minutes, no web config.
    fn default() -> Self {
        ServeOptions {
            max_connections: 512,
            read_timeout: Duration::from_secs(300),
            web_config_file: None,
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
///
/// Fails at once when the web config file is invalid or its TLS certificate cannot be
/// loaded.
pub async fn serve(
    listener: TcpListener,
    handler: Handler,
    options: ServeOptions,
    shutdown: CancellationToken,
) -> Result<()> {
    let conns = handler.listener_metrics();
    // Open notification streams end when serving stops, so that shutdown need not wait
    // for their clients.
    let notifications = handler.status().notifications_store().clone();
    let closing = shutdown.clone();
    tokio::spawn(async move {
        closing.cancelled().await;
        notifications.close_subscriptions();
    });
    let app = move |req: http::Request<hyper::body::Incoming>| {
        let handler = handler.clone();
        async move { handler.handle(req).await }
    };
    serve_app(listener, app, options, shutdown, conns).await
}

/// The response type every route answers with.
type Response = http::Response<http_body_util::Full<bytes::Bytes>>;

/// [`serve`] for any request handler `app` (tests serve a stub), counting the accepted and
/// closed connections in `conns`.
async fn serve_app<F, Fut>(
    listener: TcpListener,
    app: F,
    options: ServeOptions,
    shutdown: CancellationToken,
    conns: Arc<ListenerMetrics>,
) -> Result<()>
where
    F: Fn(http::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    let web_config = match &options.web_config_file {
        Some(path) => Some(Arc::new(Source::open(path)?)),
        None => None,
    };
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(address = %address, "Listening on");
    match &web_config {
        Some(source) if source.tls_enabled() => {
            tracing::info!(http2 = source.http2(), address = %address, "TLS is enabled.");
        }
        _ => tracing::info!(http2 = false, address = %address, "TLS is disabled."),
    }
    let graceful = GracefulShutdown::new();
    // Plain HTTP is HTTP/1 only, as Go's server without TLS (no h2c): no protocol sniffing.
    let mut plain = hyper::server::conn::http1::Builder::new();
    plain
        .timer(TokioTimer::new())
        .header_read_timeout(options.read_timeout);
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
        let (stream, peer, conn_count) = match accepted {
            Ok((stream, peer)) => {
                // As Go's net package, which sets TCP_NODELAY on every connection.
                if let Err(err) = stream.set_nodelay(true) {
                    tracing::debug!(err = %err, "setting TCP_NODELAY failed");
                }
                (stream, peer, conns.accepted())
            }
            Err(err) => {
                // Running out of file descriptors is temporary; back off instead of
                // spinning or giving up.
                tracing::warn!(err = %err, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        let source = web_config.clone();
        let service =
            hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(crate::handler::RemoteAddr(peer));
                let app = app.clone();
                let source = source.clone();
                async move {
                    let Some(source) = source else {
                        return Ok::<_, Infallible>(into_served(app(req).await));
                    };
                    match source.check(req.headers()).await {
                        Verdict::Refuse(resp) => Ok(into_served(resp)),
                        Verdict::Serve(headers) => {
                            let mut resp = into_served(app(req).await);
                            for (name, value) in headers {
                                resp.headers_mut().insert(name, value);
                            }
                            Ok(resp)
                        }
                    }
                }
            });
        match web_config.as_ref().filter(|s| s.tls_enabled()) {
            None => {
                let conn = graceful.watch(plain.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    let _permit = permit;
                    let _conn_count = conn_count;
                    if let Err(err) = conn.await {
                        tracing::debug!(err = %err, "HTTP connection ended with an error");
                    }
                });
            }
            Some(source) => {
                // The handshake runs in the connection's task, so a slow client cannot hold
                // up the accept loop; the TLS config is read anew for every connection.
                let source = source.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                let timeout = options.read_timeout;
                let mut stream = stream;
                tokio::spawn(async move {
                    let _permit = permit;
                    let _conn_count = conn_count;
                    let peer = stream
                        .peer_addr()
                        .map(|a| a.to_string())
                        .unwrap_or_default();
                    if answered_plain_http(&mut stream, timeout).await {
                        return;
                    }
                    let config = match source.tls_config() {
                        Ok(config) => config,
                        Err(err) => {
                            tracing::error!(err = %err, remote = %peer, "TLS handshake error: loading the TLS config");
                            return;
                        }
                    };
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    let tls = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(err)) => {
                            tracing::debug!(err = %err, remote = %peer, "TLS handshake error");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(remote = %peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let conn = builder
                        .serve_connection(TokioIo::new(tls), service)
                        .into_owned();
                    if let Err(err) = watcher.watch(conn).await {
                        tracing::debug!(err = %err, "HTTPS connection ended with an error");
                    }
                });
            }
        }
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

/// As Go's TLS server: a client speaking plain HTTP to the TLS port gets a 400 saying so
/// (seen from the first bytes, which a TLS client never sends). Returns whether it did.
async fn answered_plain_http(stream: &mut tokio::net::TcpStream, timeout: Duration) -> bool {
    let mut head = [0u8; 5];
    let peeked = tokio::time::timeout(timeout, async {
        // Wait until five bytes are there (or the client stops sending).
        loop {
            match stream.peek(&mut head).await {
                Ok(n) if n >= head.len() => return true,
                Ok(0) | Err(_) => return false,
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    })
    .await;
    if peeked != Ok(true) {
        return false;
    }
    let looks_like_http = matches!(&head, b"GET /" | b"HEAD " | b"POST " | b"PUT /" | b"OPTIO");
    if looks_like_http {
        use tokio::io::AsyncWriteExt as _;
        let _ = stream
            .write_all(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
            .await;
    }
    looks_like_http
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::path::Path;

    use bytes::Bytes;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair,
    };
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate")
    }

    /// A certificate for `name` signed by `ca`, and its key, both PEM.
    fn leaf(
        ca: &CertifiedIssuer<'static, KeyPair>,
        name: &str,
        usage: ExtendedKeyUsagePurpose,
    ) -> (String, String) {
        let key = KeyPair::generate().expect("leaf key");
        let mut params = CertificateParams::new(vec![name.to_owned()]).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, ca).expect("leaf certificate");
        (cert.pem(), key.serialize_pem())
    }

    fn ok_app(_req: http::Request<hyper::body::Incoming>) -> std::future::Ready<super::Response> {
        std::future::ready(http::Response::new(http_body_util::Full::new(
            Bytes::from_static(b"ok"),
        )))
    }

    /// Serves the stub app with the web config at `path` on a loopback port.
    async fn start(path: &Path) -> (SocketAddr, CancellationToken) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let shutdown = CancellationToken::new();
        let options = ServeOptions {
            web_config_file: Some(path.to_owned()),
            ..ServeOptions::default()
        };
        // Open the config before spawning so that a broken one fails the test here.
        Source::open(path).expect("web config");
        tokio::spawn(serve_app(
            listener,
            ok_app,
            options,
            shutdown.clone(),
            Arc::default(),
        ));
        (addr, shutdown)
    }

    /// One `GET /` over TLS trusting `ca_pem`, optionally with a client certificate and an
    /// `Authorization` header; the raw response.
    async fn https_get(
        addr: SocketAddr,
        ca_pem: &str,
        client: Option<&(String, String)>,
        authorization: Option<&str>,
    ) -> std::io::Result<String> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA PEM"))
            .expect("root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
        let config = match client {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(cert.as_bytes()).expect("cert")],
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key"),
                )
                .expect("client auth"),
            None => builder.with_no_client_auth(),
        };
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").expect("server name");
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await?;
        let auth = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        tls.write_all(
            format!("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}\r\n")
                .as_bytes(),
        )
        .await?;
        let mut out = Vec::new();
        tls.read_to_end(&mut out).await?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn basic(user: &str, pass: &str) -> String {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
    }

    struct Setup {
        dir: tempfile::TempDir,
        ca: CertifiedIssuer<'static, KeyPair>,
    }

    /// A folder with a server certificate (`server.crt`/`server.key` for `localhost`) and
    /// `web.yml` holding `extra` after the TLS file names.
    fn setup(extra: &str) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = ca("test CA");
        let (cert, key) = leaf(&ca, "localhost", ExtendedKeyUsagePurpose::ServerAuth);
        std::fs::write(dir.path().join("server.crt"), cert).expect("write cert");
        std::fs::write(dir.path().join("server.key"), key).expect("write key");
        std::fs::write(
            dir.path().join("web.yml"),
            format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{extra}"),
        )
        .expect("write web.yml");
        Setup { dir, ca }
    }

    #[tokio::test]
    async fn tls_and_basic_auth_guard_every_request() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let s = setup(&format!(
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\nbasic_auth_users:\n  alice: {hash}\n"
        ));
        let (addr, shutdown) = start(&s.dir.path().join("web.yml")).await;
        let ca_pem = s.ca.pem();

        let ok = https_get(addr, &ca_pem, None, Some(&basic("alice", "s3cret")))
            .await
            .expect("request");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.to_ascii_lowercase().contains("x-frame-options: deny"),
            "{ok}"
        );
        assert!(ok.ends_with("ok"), "{ok}");
        // The second time the cached outcome answers.
        let again = https_get(addr, &ca_pem, None, Some(&basic("alice", "s3cret")))
            .await
            .expect("request");
        assert!(again.starts_with("HTTP/1.1 200 OK\r\n"), "{again}");

        for auth in [
            Some(basic("alice", "wrong")),
            Some(basic("bob", "s3cret")),
            Some("Bearer s3cret".to_owned()),
            None,
        ] {
            let denied = https_get(addr, &ca_pem, None, auth.as_deref())
                .await
                .expect("request");
            assert!(
                denied.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
                "{denied}"
            );
            assert!(
                denied
                    .to_ascii_lowercase()
                    .contains("www-authenticate: basic\r\n"),
                "{denied}"
            );
            assert!(denied.ends_with("Unauthorized\n"), "{denied}");
        }

        // A plain-HTTP client is told it spoke HTTP to the TLS port, as Go does.
        let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .expect("write");
        let mut out = Vec::new();
        let _ = tcp.read_to_end(&mut out).await;
        assert_eq!(
            String::from_utf8_lossy(&out),
            "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
        );

        // A client that does not trust the server's CA fails the handshake.
        let other = ca("other CA").pem();
        assert!(
            https_get(addr, &other, None, Some(&basic("alice", "s3cret")))
                .await
                .is_err()
        );
        shutdown.cancel();
    }

    #[tokio::test]
    async fn client_certificates_are_required_and_verified() {
        let s = setup(
            "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-ca.crt\n",
        );
        let client_ca = ca("client CA");
        std::fs::write(s.dir.path().join("client-ca.crt"), client_ca.pem()).expect("write");
        let (addr, shutdown) = start(&s.dir.path().join("web.yml")).await;
        let ca_pem = s.ca.pem();

        let good = leaf(&client_ca, "client", ExtendedKeyUsagePurpose::ClientAuth);
        let ok = https_get(addr, &ca_pem, Some(&good), None)
            .await
            .expect("request");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");

        let no_cert = https_get(addr, &ca_pem, None, None).await;
        assert!(
            no_cert.as_ref().map_or(true, |r| !r.contains("200 OK")),
            "{no_cert:?}"
        );
        let stranger = leaf(
            &ca("stranger CA"),
            "client",
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let wrong_ca = https_get(addr, &ca_pem, Some(&stranger), None).await;
        assert!(
            wrong_ca.as_ref().map_or(true, |r| !r.contains("200 OK")),
            "{wrong_ca:?}"
        );
        shutdown.cancel();
    }

    #[tokio::test]
    async fn client_allowed_sans_restrict_verified_clients() {
        let s = setup(
            "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-ca.crt\n  client_allowed_sans: [reader.example, 10.1.2.3]\n",
        );
        let client_ca = ca("client CA");
        std::fs::write(s.dir.path().join("client-ca.crt"), client_ca.pem()).expect("write");
        let (addr, shutdown) = start(&s.dir.path().join("web.yml")).await;
        let ca_pem = s.ca.pem();
        for allowed in ["reader.example", "10.1.2.3"] {
            let cert = leaf(&client_ca, allowed, ExtendedKeyUsagePurpose::ClientAuth);
            let ok = https_get(addr, &ca_pem, Some(&cert), None)
                .await
                .expect("request");
            assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{allowed}: {ok}");
        }
        let other = leaf(
            &client_ca,
            "writer.example",
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let refused = https_get(addr, &ca_pem, Some(&other), None).await;
        assert!(
            refused.as_ref().map_or(true, |r| !r.contains("200 OK")),
            "{refused:?}"
        );
        shutdown.cancel();
    }

    #[tokio::test]
    async fn certificates_are_read_again_for_every_connection() {
        let s = setup("");
        let (addr, shutdown) = start(&s.dir.path().join("web.yml")).await;
        let ok = https_get(addr, &s.ca.pem(), None, None)
            .await
            .expect("request");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");

        // Renew the certificate under another CA: the next connection presents it.
        let renewed_ca = ca("renewed CA");
        let (cert, key) = leaf(
            &renewed_ca,
            "localhost",
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        std::fs::write(s.dir.path().join("server.crt"), cert).expect("write cert");
        std::fs::write(s.dir.path().join("server.key"), key).expect("write key");
        assert!(https_get(addr, &s.ca.pem(), None, None).await.is_err());
        let ok = https_get(addr, &renewed_ca.pem(), None, None)
            .await
            .expect("request");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        shutdown.cancel();
    }

    #[tokio::test]
    async fn rate_limit_answers_429_beyond_the_burst() {
        let s = setup("rate_limit:\n  interval: 1h\n  burst: 1\n");
        let (addr, shutdown) = start(&s.dir.path().join("web.yml")).await;
        let first = https_get(addr, &s.ca.pem(), None, None)
            .await
            .expect("request");
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
        let second = https_get(addr, &s.ca.pem(), None, None)
            .await
            .expect("request");
        assert!(
            second.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
            "{second}"
        );
        shutdown.cancel();
    }

    #[tokio::test]
    async fn a_broken_web_config_fails_the_start() {
        let s = setup("  min_version: TLS10\n");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let options = ServeOptions {
            web_config_file: Some(s.dir.path().join("web.yml")),
            ..ServeOptions::default()
        };
        let err = serve_app(
            listener,
            ok_app,
            options,
            CancellationToken::new(),
            Arc::default(),
        )
        .await
        .expect_err("TLS10 is refused");
        assert!(
            err.to_string().ends_with(
                "tls_server_config.min_version: TLS10 is not supported by this server (rustls supports TLS12 and TLS13)"
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn without_tls_basic_auth_still_applies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hash = bcrypt::hash("pw", 4).expect("hash");
        let path = dir.path().join("web.yml");
        std::fs::write(&path, format!("basic_auth_users:\n  bob: {hash}\n")).expect("write");
        let (addr, shutdown) = start(&path).await;
        let get = |auth: Option<String>| async move {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let auth = auth
                .map(|a| format!("Authorization: {a}\r\n"))
                .unwrap_or_default();
            tcp.write_all(
                format!("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}\r\n").as_bytes(),
            )
            .await
            .expect("write");
            let mut out = Vec::new();
            tcp.read_to_end(&mut out).await.expect("read");
            String::from_utf8_lossy(&out).into_owned()
        };
        assert!(
            get(Some(basic("bob", "pw")))
                .await
                .starts_with("HTTP/1.1 200 OK")
        );
        assert!(get(None).await.starts_with("HTTP/1.1 401 Unauthorized"));
        shutdown.cancel();
    }

    #[tokio::test]
    async fn plain_http_speaks_http1_only_as_go_does_without_tls() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let shutdown = CancellationToken::new();
        tokio::spawn(serve_app(
            listener,
            ok_app,
            ServeOptions::default(),
            shutdown.clone(),
            Arc::default(),
        ));
        let exchange = |bytes: &'static [u8]| async move {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            tcp.write_all(bytes).await.expect("write");
            let mut out = Vec::new();
            // The server may reset the connection after its answer to a bad request.
            let _ = tcp.read_to_end(&mut out).await;
            String::from_utf8_lossy(&out).into_owned()
        };
        let http1 = exchange(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        assert!(http1.starts_with("HTTP/1.1 200 OK"), "{http1}");
        // An HTTP/2 client with prior knowledge (h2c) gets no HTTP/2 settings frame back:
        // Prometheus's Go server answers its preface as a malformed HTTP/1 request.
        let h2c = exchange(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
        assert!(h2c.is_empty() || h2c.starts_with("HTTP/1.1 "), "{h2c:?}");
        shutdown.cancel();
    }
}
