//! Tests of [`HttpClient`] against loopback HTTP and HTTPS servers (certificates in
//! `testdata/`: a CA, a server certificate for `localhost`, `test.invalid` and 127.0.0.1,
//! and a client certificate).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt;
use hyper::service::service_fn;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::*;

fn testdata(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
        .display()
        .to_string()
}

/// What a test server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    headers: http::HeaderMap,
    body: Bytes,
}

type Handler = Arc<dyn Fn(&Seen) -> Response<Full<Bytes>> + Send + Sync>;

struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start(tls: Option<Arc<rustls::ServerConfig>>, handler: Handler) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (handler, seen, tls) = (handler.clone(), seen2.clone(), tls.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let (handler, seen) = (handler.clone(), seen.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await?.to_bytes();
                            let s = Seen {
                                method: parts.method,
                                path: parts.uri.to_string(),
                                headers: parts.headers,
                                body,
                            };
                            let resp = handler(&s);
                            seen.lock().unwrap().push(s);
                            Ok::<_, hyper::Error>(resp)
                        }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(cfg) => {
                            let Ok(stream) =
                                tokio_rustls::TlsAcceptor::from(cfg).accept(stream).await
                            else {
                                return;
                            };
                            let _ = http
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                                .await;
                        }
                        None => {
                            let _ = http
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                                .await;
                        }
                    }
                });
            }
        });
        Server { addr, seen, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A handler answering every request with `status`, `content_type` and `body`.
fn canned(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Handler {
    let body = body.into();
    Arc::new(move |_: &Seen| {
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Full::new(body.clone()))
            .unwrap()
    })
}

fn ok(_: &Seen) -> Response<Full<Bytes>> {
    Response::new(Full::new(Bytes::from_static(b"ok")))
}

fn tls_server(require_client_cert: bool, tls12_only: bool) -> Arc<rustls::ServerConfig> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(testdata("server.crt"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(testdata("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone());
    let builder = if tls12_only {
        builder.with_protocol_versions(&[&rustls::version::TLS12])
    } else {
        builder.with_safe_default_protocol_versions()
    }
    .unwrap();
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(testdata("ca.crt")).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    Arc::new(builder.with_single_cert(certs, key).unwrap())
}

fn client(yaml: &str) -> Result<HttpClient> {
    let cfg =
        config::Config::load_str(&format!("scrape_configs:\n- job_name: j\n{yaml}"), "").unwrap();
    HttpClient::new(&cfg.scrape_configs[0].http_client_config)
}

fn get(url: &str) -> Request<Full<Bytes>> {
    Request::get(url).body(Full::new(Bytes::new())).unwrap()
}

async fn body_of(resp: Response<Incoming>) -> String {
    String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap()
}

#[tokio::test]
async fn https_verifies_against_the_configured_ca() {
    let srv = Server::start(Some(tls_server(false, false)), Arc::new(ok)).await;
    let url = format!("https://127.0.0.1:{}/x", srv.addr.port());
    let ca = testdata("ca.crt");

    let c = client(&format!("  tls_config: {{ca_file: '{ca}'}}\n")).unwrap();
    let resp = c.send(get(&url)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(body_of(resp).await, "ok");

    // Inline CA works the same.
    let pem = std::fs::read_to_string(&ca).unwrap();
    let mut cfg = HttpClientConfig::default();
    cfg.tls_config.ca = pem;
    let resp = HttpClient::new(&cfg)
        .unwrap()
        .send(get(&url))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // Unknown issuer without the CA; accepted with insecure_skip_verify.
    let err = client("")
        .unwrap()
        .send(get(&url))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with(&format!("Get {url:?}: ")), "{err}");
    assert!(err.contains("certificate"), "{err}");
    let c = client("  tls_config: {insecure_skip_verify: true}\n").unwrap();
    assert_eq!(c.send(get(&url)).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn server_name_overrides_the_host_checked_in_the_certificate() {
    let srv = Server::start(Some(tls_server(false, false)), Arc::new(ok)).await;
    let url = format!("https://127.0.0.1:{}/", srv.addr.port());
    let ca = testdata("ca.crt");
    let c = client(&format!(
        "  tls_config: {{ca_file: '{ca}', server_name: test.invalid}}\n"
    ))
    .unwrap();
    assert_eq!(c.send(get(&url)).await.unwrap().status(), StatusCode::OK);
    let c = client(&format!(
        "  tls_config: {{ca_file: '{ca}', server_name: other.invalid}}\n"
    ))
    .unwrap();
    let err = c.send(get(&url)).await.unwrap_err().to_string();
    assert!(err.contains("certificate"), "{err}");
}

#[tokio::test]
async fn client_certificates_are_presented() {
    let srv = Server::start(Some(tls_server(true, false)), Arc::new(ok)).await;
    let url = format!("https://localhost:{}/", srv.addr.port());
    let ca = testdata("ca.crt");
    let c = client(&format!(
        "  tls_config: {{ca_file: '{ca}', cert_file: '{}', key_file: '{}'}}\n",
        testdata("client.crt"),
        testdata("client.key")
    ))
    .unwrap();
    assert_eq!(c.send(get(&url)).await.unwrap().status(), StatusCode::OK);
    // Without one the server ends the handshake.
    let c = client(&format!("  tls_config: {{ca_file: '{ca}'}}\n")).unwrap();
    assert!(c.send(get(&url)).await.is_err());
}

#[tokio::test]
async fn min_version_is_enforced() {
    let srv = Server::start(Some(tls_server(false, true)), Arc::new(ok)).await;
    let url = format!("https://127.0.0.1:{}/", srv.addr.port());
    let ca = testdata("ca.crt");
    let c = client(&format!(
        "  tls_config: {{ca_file: '{ca}', min_version: TLS12}}\n"
    ))
    .unwrap();
    assert_eq!(c.send(get(&url)).await.unwrap().status(), StatusCode::OK);
    let c = client(&format!(
        "  tls_config: {{ca_file: '{ca}', min_version: TLS13}}\n"
    ))
    .unwrap();
    let err = c.send(get(&url)).await.unwrap_err().to_string();
    assert!(err.to_lowercase().contains("version"), "{err}");
}

#[test]
fn unusable_tls_files_and_unsupported_options_fail_at_creation() {
    let err = client("  tls_config: {ca_file: /nonexistent/ca.pem}\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("unable to read CA cert: unable to read file /nonexistent/ca.pem: open /nonexistent/ca.pem: no such file or directory"),
        "{err}"
    );
    let err = client(&format!(
        "  tls_config: {{cert_file: '{}', key_file: '{}'}}\n",
        testdata("client.crt"),
        testdata("ca.crt")
    ))
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("unable to parse client key"), "{err}");
    let err = client(
        "  oauth2: {client_id: c, client_secret_ref: s, token_url: 'http://127.0.0.1:1/t'}\n",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unable to use client secret: cannot use secret ref without manager"
    );
}

#[tokio::test]
async fn auth_and_custom_headers_are_sent() {
    let srv = Server::start(None, Arc::new(ok)).await;
    let url = format!("http://{}/p?q=1", srv.addr);
    let c =
        client("  basic_auth: {username: u, password: p}\n  http_headers: {X-A: {values: [v]}}\n")
            .unwrap();
    c.send(get(&url)).await.unwrap();
    let seen = srv.seen();
    assert_eq!(seen[0].path, "/p?q=1");
    assert_eq!(seen[0].headers["authorization"], "Basic dTpw");
    assert_eq!(seen[0].headers["x-a"], "v");
    assert_eq!(seen[0].headers["user-agent"], USER_AGENT);

    // A caller's User-Agent wins.
    let req = Request::get(&url)
        .header("user-agent", "mine")
        .body(Full::new(Bytes::new()))
        .unwrap();
    c.send(req).await.unwrap();
    assert_eq!(srv.seen()[1].headers["user-agent"], "mine");
}

fn redirecting(s: &Seen) -> Response<Full<Bytes>> {
    let (status, to) = match s.path.as_str() {
        "/302" => (StatusCode::FOUND, "/target"),
        "/307" => (StatusCode::TEMPORARY_REDIRECT, "target"),
        "/loop" => (StatusCode::FOUND, "/loop"),
        _ => return Response::new(Full::new(s.body.clone())),
    };
    Response::builder()
        .status(status)
        .header("location", to)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test]
async fn redirects_are_followed_as_go_follows_them() {
    let srv = Server::start(None, Arc::new(redirecting)).await;
    let c = client("").unwrap();
    let post = |path: &str| {
        Request::post(format!("http://{}{path}", srv.addr))
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::from_static(b"payload")))
            .unwrap()
    };

    // 302 turns a POST into a GET without body; 307 repeats the POST with its body.
    let resp = c.send(post("/302")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(body_of(resp).await, "");
    let resp = c.send(post("/307")).await.unwrap();
    assert_eq!(body_of(resp).await, "payload");
    let seen = srv.seen();
    let summary: Vec<(String, String)> = seen
        .iter()
        .map(|s| (s.method.to_string(), s.path.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            ("POST".into(), "/302".into()),
            ("GET".into(), "/target".into()),
            ("POST".into(), "/307".into()),
            ("POST".into(), "/target".into()),
        ]
    );
    assert!(!seen[1].headers.contains_key("content-type"));

    let err = c.send(post("/loop")).await.unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "Get \"http://{}/loop\": stopped after 10 redirects",
            srv.addr
        )
    );

    // Without follow_redirects the 3xx is the answer.
    let c = client("  follow_redirects: false\n").unwrap();
    let resp = c.send(post("/302")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
}

/// Callers spawn `send` on multi-threaded runtimes.
#[test]
fn send_futures_are_send() {
    fn is_send<T: Send>(_: &T) {}
    let c = HttpClient::default();
    is_send(&c.send(get("http://127.0.0.1:1/")));
}

#[test]
fn go_style_method_names() {
    assert_eq!(go_method(&Method::GET), "Get");
    assert_eq!(go_method(&Method::POST), "Post");
}

/// A forward proxy on loopback: answers plain HTTP requests itself (saying which absolute
/// URL it was asked for) and tunnels CONNECT requests to their destination. Records each
/// request head.
struct TestProxy {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One proxied connection of [`TestProxy`].
async fn serve_proxied<S>(stream: S, heads: Arc<Mutex<Vec<String>>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut stream = tokio::io::BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    heads.lock().unwrap().push(head.clone());
    let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
    if head.starts_with("CONNECT ") {
        let mut upstream = tokio::net::TcpStream::connect(&target).await.unwrap();
        stream
            .get_mut()
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .unwrap();
        let _ = tokio::io::copy_bidirectional(stream.get_mut(), &mut upstream).await;
    } else {
        let body = format!("via proxy {target}");
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.get_mut().write_all(resp.as_bytes()).await;
        let _ = stream.get_mut().shutdown().await;
    }
}

impl TestProxy {
    async fn start() -> TestProxy {
        TestProxy::start_with(None).await
    }

    /// A proxy that speaks TLS to its clients (an `https://` proxy) when `tls` is given.
    async fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> TestProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let h = heads.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (h, tls) = (h.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(cfg) => {
                            if let Ok(s) = tokio_rustls::TlsAcceptor::from(cfg).accept(stream).await
                            {
                                serve_proxied(s, h).await;
                            }
                        }
                        None => serve_proxied(stream, h).await,
                    }
                });
            }
        });
        TestProxy { addr, heads, task }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn plain_http_goes_to_the_proxy_in_absolute_form() {
    let proxy = TestProxy::start().await;
    let c = client(&format!("  proxy_url: 'http://user:pw@{}'\n", proxy.addr)).unwrap();
    let resp = c.send(get("http://127.0.0.1:9/metrics")).await.unwrap();
    assert_eq!(body_of(resp).await, "via proxy http://127.0.0.1:9/metrics");
    let head = &proxy.heads()[0];
    assert!(
        head.starts_with("GET http://127.0.0.1:9/metrics HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase().contains(
            &format!(
                "proxy-authorization: basic {}",
                crate::auth::base64(b"user:pw")
            )
            .to_ascii_lowercase()
        ),
        "{head}"
    );
}

#[tokio::test]
async fn https_is_tunnelled_through_connect_with_the_connect_headers() {
    let srv = Server::start(Some(tls_server(false, false)), Arc::new(ok)).await;
    let proxy = TestProxy::start().await;
    let c = client(&format!(
        "  proxy_url: 'http://{}'\n  proxy_connect_header: {{X-Proxy-Token: [secret]}}\n  tls_config: {{ca_file: '{}'}}\n",
        proxy.addr,
        testdata("ca.crt")
    ))
    .unwrap();
    let url = format!("https://localhost:{}/x", srv.addr.port());
    let resp = c.send(get(&url)).await.unwrap();
    assert_eq!(body_of(resp).await, "ok");
    let head = &proxy.heads()[0];
    assert!(
        head.starts_with(&format!(
            "CONNECT localhost:{} HTTP/1.1\r\n",
            srv.addr.port()
        )),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase().contains("x-proxy-token: secret"),
        "{head}"
    );
    assert_eq!(srv.seen()[0].path, "/x");
}

#[tokio::test]
async fn no_proxy_hosts_are_reached_directly() {
    let srv = Server::start(None, Arc::new(ok)).await;
    let proxy = TestProxy::start().await;
    let c = client(&format!(
        "  proxy_url: 'http://{}'\n  no_proxy: 'example.org,127.0.0.1'\n",
        proxy.addr
    ))
    .unwrap();
    let resp = c
        .send(get(&format!("http://{}/direct", srv.addr)))
        .await
        .unwrap();
    assert_eq!(body_of(resp).await, "ok");
    assert!(proxy.heads().is_empty());
    let err = client("  proxy_url: 'socks4://127.0.0.1:1080'\n").unwrap_err();
    assert_eq!(
        err,
        Error::Unsupported {
            option: "proxy_url with a scheme other than http, https, socks5 or socks5h"
        }
    );
}

/// A "proxy" on loopback that reads what a client sends first (up to a blank line for
/// HTTP, one read for SOCKS) and answers every connection with `answer`, then hangs up.
async fn garbage_proxy(answer: Vec<u8>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(&answer).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn garbage_proxy_answers_fail_clearly_and_never_panic() {
    let http_answers: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"garbage\r\n\r\n".to_vec(),
        b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n".to_vec(),
        b"HTTP/1.1 200\r\n".to_vec(),
        b"HTTP/1.1 999999999999 x\r\n\r\n".to_vec(),
        [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &[b'a'; 64 * 1024]].concat(),
        vec![0xff; 100],
    ];
    let socks_answers: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0x05],
        vec![0x04, 0x00],
        vec![0x05, 0xff],
        vec![0x05, 0x02],
        vec![0x05, 0x00, 0x05, 0x01, 0x00, 0x01],
        vec![0x05, 0x00, 0x05, 0x00, 0x00, 0x03, 0xff],
        vec![0x05, 0x00, 0x05, 0x00, 0x00, 0x07, 0, 0, 0, 0, 0, 0],
        vec![0xff; 600],
    ];
    let mut cases = Vec::new();
    for a in http_answers {
        // Plain HTTP through the proxy (its answer is the response) and HTTPS (a tunnel).
        cases.push(("http", "http://127.0.0.1:9/m", a.clone()));
        cases.push(("http", "https://localhost:9/m", a));
    }
    for a in socks_answers {
        cases.push(("socks5", "http://localhost:9/m", a));
    }
    for (scheme, url, answer) in cases {
        let (addr, task) = garbage_proxy(answer.clone()).await;
        let c = client(&format!("  proxy_url: '{scheme}://{addr}'\n")).unwrap();
        let res = tokio::time::timeout(std::time::Duration::from_secs(20), c.send(get(url)))
            .await
            .expect("a garbage answer does not hang the client");
        task.abort();
        let shown = String::from_utf8_lossy(&answer[..answer.len().min(40)]).into_owned();
        let err = match res {
            Ok(resp) => {
                // Only a plain HTTP proxy's own answer can be a response.
                assert!(scheme == "http" && url.starts_with("http:"), "{shown:?}");
                assert!(!resp.status().is_success(), "{shown:?}: {}", resp.status());
                continue;
            }
            Err(e) => e.to_string(),
        };
        assert!(
            err.starts_with(&format!("Get {url:?}: ")) && err.len() > url.len() + 8,
            "{scheme} {shown:?}: {err}"
        );
        // A handshake (SOCKS or a CONNECT tunnel) that failed names the proxy.
        if scheme == "socks5" || url.starts_with("https:") {
            assert!(
                err.contains(&format!("tcp {addr}->")),
                "names the proxy: {err}"
            );
        }
    }
}

/// What [`Socks5`] was given: credentials and the destination `host:port`.
type SocksSeen = Arc<Mutex<Vec<(Option<(String, String)>, String)>>>;

/// A SOCKS5 server on loopback (RFC 1928, with RFC 1929 username/password when `creds` is
/// set) that connects every CONNECT request to `upstream`, whatever it names, and records
/// the credentials and destination it was given.
struct Socks5 {
    addr: SocketAddr,
    seen: SocksSeen,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Socks5 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Socks5 {
    async fn start(creds: Option<(&'static str, &'static str)>, upstream: SocketAddr) -> Socks5 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = Socks5::serve(stream, creds, upstream, s).await;
                });
            }
        });
        Socks5 { addr, seen, task }
    }

    async fn serve(
        mut c: tokio::net::TcpStream,
        creds: Option<(&str, &str)>,
        upstream: SocketAddr,
        seen: SocksSeen,
    ) -> std::io::Result<()> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        async fn bytes(c: &mut tokio::net::TcpStream, n: usize) -> std::io::Result<Vec<u8>> {
            let mut b = vec![0; n];
            c.read_exact(&mut b).await?;
            Ok(b)
        }
        let hello = bytes(&mut c, 2).await?;
        assert_eq!(hello[0], 5);
        let methods = bytes(&mut c, usize::from(hello[1])).await?;
        let mut given = None;
        if let Some((user, pass)) = creds {
            if !methods.contains(&2) {
                c.write_all(&[5, 0xff]).await?;
                return Ok(());
            }
            c.write_all(&[5, 2]).await?;
            let v = bytes(&mut c, 2).await?;
            let u = String::from_utf8_lossy(&bytes(&mut c, usize::from(v[1])).await?).into_owned();
            let plen = bytes(&mut c, 1).await?;
            let p =
                String::from_utf8_lossy(&bytes(&mut c, usize::from(plen[0])).await?).into_owned();
            let ok = u == user && p == pass;
            given = Some((u, p));
            c.write_all(&[1, u8::from(!ok)]).await?;
            if !ok {
                return Ok(());
            }
        } else {
            c.write_all(&[5, 0]).await?;
        }
        let req = bytes(&mut c, 4).await?;
        assert_eq!(req[..3], [5, 1, 0], "a CONNECT request");
        let host = match req[3] {
            1 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes(&mut c, 4).await?).unwrap())
                .to_string(),
            3 => {
                let n = bytes(&mut c, 1).await?;
                String::from_utf8_lossy(&bytes(&mut c, usize::from(n[0])).await?).into_owned()
            }
            other => panic!("address type {other}"),
        };
        let port = bytes(&mut c, 2).await?;
        let port = u16::from_be_bytes([port[0], port[1]]);
        seen.lock().unwrap().push((given, format!("{host}:{port}")));
        let mut up = tokio::net::TcpStream::connect(upstream).await?;
        c.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        tokio::io::copy_bidirectional(&mut c, &mut up).await?;
        Ok(())
    }

    fn seen(&self) -> Vec<(Option<(String, String)>, String)> {
        self.seen.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn socks5_proxies_connect_by_host_name_with_credentials() {
    let srv = Server::start(None, Arc::new(ok)).await;
    let socks = Socks5::start(Some(("user", "pw")), srv.addr).await;
    let c = client(&format!("  proxy_url: 'socks5://user:pw@{}'\n", socks.addr)).unwrap();
    let resp = c.send(get("http://target.invalid:8080/x")).await.unwrap();
    assert_eq!(body_of(resp).await, "ok");
    // Without a port, the scheme's.
    c.send(get("http://target.invalid/y")).await.unwrap();
    let creds = Some(("user".to_owned(), "pw".to_owned()));
    assert_eq!(
        socks.seen(),
        [
            (creds.clone(), "target.invalid:8080".to_owned()),
            (creds, "target.invalid:80".to_owned())
        ]
    );
    // The origin server sees an ordinary request, not a proxy request.
    let paths: Vec<_> = srv.seen().iter().map(|s| s.path.clone()).collect();
    assert_eq!(paths, ["/x", "/y"]);

    let c = client(&format!(
        "  proxy_url: 'socks5://user:wrong@{}'\n",
        socks.addr
    ))
    .unwrap();
    let err = c
        .send(get("http://target.invalid/z"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("Get \"http://target.invalid/z\": "),
        "{err}"
    );
    assert!(
        err.ends_with(&format!(
            "socks connect tcp {}->target.invalid:80: SOCKS error: credentials not accepted",
            socks.addr
        )),
        "{err}"
    );

    // Nothing listening: the connect error is kept.
    let c = client("  proxy_url: 'socks5://127.0.0.1:1'\n").unwrap();
    let err = c
        .send(get("http://target.invalid/"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.to_lowercase().contains("refused"), "{err}");
}

#[tokio::test]
async fn socks5_carries_tls_to_the_destination() {
    let srv = Server::start(Some(tls_server(false, false)), Arc::new(ok)).await;
    let socks = Socks5::start(None, srv.addr).await;
    let c = client(&format!(
        "  proxy_url: 'socks5h://{}'\n  tls_config: {{ca_file: '{}'}}\n",
        socks.addr,
        testdata("ca.crt")
    ))
    .unwrap();
    let url = format!("https://localhost:{}/secure", srv.addr.port());
    let resp = c.send(get(&url)).await.unwrap();
    assert_eq!(body_of(resp).await, "ok");
    assert_eq!(
        socks.seen(),
        [(None, format!("localhost:{}", srv.addr.port()))]
    );
    assert_eq!(srv.seen()[0].path, "/secure");
}

#[tokio::test]
async fn https_proxies_are_reached_over_tls() {
    let srv = Server::start(Some(tls_server(false, false)), Arc::new(ok)).await;
    let proxy = TestProxy::start_with(Some(tls_server(false, false))).await;
    let c = client(&format!(
        "  proxy_url: 'https://{}'\n  proxy_connect_header: {{X-Proxy-Token: [secret]}}\n  tls_config: {{ca_file: '{}'}}\n",
        proxy.addr,
        testdata("ca.crt")
    ))
    .unwrap();
    // Plain HTTP: the request goes to the proxy in absolute form, over TLS.
    let resp = c.send(get("http://target.invalid/metrics")).await.unwrap();
    assert_eq!(
        body_of(resp).await,
        "via proxy http://target.invalid/metrics"
    );
    // HTTPS: a CONNECT tunnel inside TLS to the proxy, TLS to the server inside it.
    let url = format!("https://localhost:{}/x", srv.addr.port());
    let resp = c.send(get(&url)).await.unwrap();
    assert_eq!(body_of(resp).await, "ok");
    let heads = proxy.heads();
    assert!(
        heads[0].starts_with("GET http://target.invalid/metrics HTTP/1.1\r\n"),
        "{heads:?}"
    );
    assert!(
        heads[1].starts_with(&format!(
            "CONNECT localhost:{} HTTP/1.1\r\n",
            srv.addr.port()
        )),
        "{heads:?}"
    );
    assert!(
        heads[1]
            .to_ascii_lowercase()
            .contains("x-proxy-token: secret"),
        "{heads:?}"
    );
    // The proxy's certificate is checked against the configured CA.
    let c = client(&format!("  proxy_url: 'https://{}'\n", proxy.addr)).unwrap();
    let err = c
        .send(get("http://target.invalid/"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("certificate"), "{err}");
}

/// A token endpoint that numbers the tokens it hands out.
fn token_server(expires_in: u64) -> Handler {
    let issued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    Arc::new(move |_: &Seen| {
        let n = issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        Response::builder()
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(format!(
                r#"{{"access_token":"tok-{n}","token_type":"bearer","expires_in":{expires_in}}}"#
            ))))
            .unwrap()
    })
}

fn form(body: &Bytes) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn oauth2_token_is_fetched_once_and_sent_as_bearer() {
    let tokens = Server::start(None, token_server(3600)).await;
    let srv = Server::start(None, Arc::new(ok)).await;
    let c = client(&format!(
        "  oauth2:\n    client_id: my id\n    client_secret: s3cret\n    scopes: [read, write]\n    token_url: 'http://{}/token'\n    endpoint_params: {{audience: prom}}\n",
        tokens.addr
    ))
    .unwrap();
    let url = format!("http://{}/m", srv.addr);
    for _ in 0..3 {
        assert_eq!(c.send(get(&url)).await.unwrap().status(), StatusCode::OK);
    }
    let t = tokens.seen();
    assert_eq!(t.len(), 1, "one token request for three requests");
    assert_eq!(t[0].method, Method::POST);
    assert_eq!(t[0].path, "/token");
    assert_eq!(
        t[0].headers["authorization"],
        format!("Basic {}", crate::auth::base64(b"my+id:s3cret"))
    );
    assert_eq!(
        t[0].headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        form(&t[0].body),
        [
            ("audience".to_owned(), "prom".to_owned()),
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("scope".to_owned(), "read write".to_owned()),
        ]
    );
    for s in srv.seen() {
        assert_eq!(s.headers["authorization"], "Bearer tok-1");
    }
    // A caller's own Authorization header is kept and needs no token.
    let req = Request::get(&url)
        .header("authorization", "Custom x")
        .body(Full::new(Bytes::new()))
        .unwrap();
    c.send(req).await.unwrap();
    assert_eq!(srv.seen()[3].headers["authorization"], "Custom x");
    assert_eq!(tokens.seen().len(), 1);
}

#[tokio::test]
async fn oauth2_token_is_renewed_before_it_expires_and_when_the_secret_changes() {
    // Tokens living 5 s are within the 10 s renewal margin: every request fetches one.
    let tokens = Server::start(None, token_server(5)).await;
    let srv = Server::start(None, Arc::new(ok)).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "one\n").unwrap();
    let c = client(&format!(
        "  oauth2: {{client_id: c, client_secret_file: '{}', token_url: 'http://{}/t'}}\n",
        secret.display(),
        tokens.addr
    ))
    .unwrap();
    let url = format!("http://{}/m", srv.addr);
    c.send(get(&url)).await.unwrap();
    c.send(get(&url)).await.unwrap();
    let auth: Vec<_> = srv
        .seen()
        .iter()
        .map(|s| s.headers["authorization"].clone())
        .collect();
    assert_eq!(auth, ["Bearer tok-1", "Bearer tok-2"]);
    assert_eq!(tokens.seen().len(), 2);

    // Long-lived tokens are kept until the secret file changes.
    let tokens = Server::start(None, token_server(3600)).await;
    let c = client(&format!(
        "  oauth2: {{client_id: c, client_secret_file: '{}', token_url: 'http://{}/t'}}\n",
        secret.display(),
        tokens.addr
    ))
    .unwrap();
    c.send(get(&url)).await.unwrap();
    c.send(get(&url)).await.unwrap();
    assert_eq!(tokens.seen().len(), 1);
    std::fs::write(&secret, "two\n").unwrap();
    c.send(get(&url)).await.unwrap();
    let t = tokens.seen();
    assert_eq!(t.len(), 2);
    assert_eq!(
        t[1].headers["authorization"],
        format!("Basic {}", crate::auth::base64(b"c:two"))
    );
    assert_eq!(
        srv.seen().last().unwrap().headers["authorization"],
        "Bearer tok-2"
    );
}

#[tokio::test]
async fn oauth2_falls_back_to_credentials_in_the_form() {
    // A server that only accepts the client credentials as form parameters.
    let tokens = Server::start(
        None,
        Arc::new(|s: &Seen| {
            if s.headers.contains_key("authorization") {
                return Response::builder()
                    .status(StatusCode::UNAUTHORIZED)
                    .body(Full::new(Bytes::from_static(
                        br#"{"error":"invalid_client"}"#,
                    )))
                    .unwrap();
            }
            Response::builder()
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Full::new(Bytes::from_static(
                    b"access_token=form-tok&token_type=Bearer",
                )))
                .unwrap()
        }),
    )
    .await;
    let srv = Server::start(None, Arc::new(ok)).await;
    let c = client(&format!(
        "  oauth2: {{client_id: c, client_secret: s, token_url: 'http://{}/t'}}\n",
        tokens.addr
    ))
    .unwrap();
    c.send(get(&format!("http://{}/", srv.addr))).await.unwrap();
    assert_eq!(srv.seen()[0].headers["authorization"], "Bearer form-tok");
    let t = tokens.seen();
    assert_eq!(t.len(), 2);
    assert_eq!(
        form(&t[1].body),
        [
            ("client_id".to_owned(), "c".to_owned()),
            ("client_secret".to_owned(), "s".to_owned()),
            ("grant_type".to_owned(), "client_credentials".to_owned()),
        ]
    );
}

#[tokio::test]
async fn oauth2_token_endpoint_failures_name_the_endpoint() {
    let tokens = Server::start(
        None,
        canned(
            400,
            "application/json",
            &br#"{"error":"invalid_scope","error_description":"no such scope"}"#[..],
        ),
    )
    .await;
    let srv = Server::start(None, Arc::new(ok)).await;
    let token_url = format!("http://{}/t", tokens.addr);
    let c = client(&format!(
        "  oauth2: {{client_id: c, client_secret: s, token_url: '{token_url}'}}\n"
    ))
    .unwrap();
    let url = format!("http://{}/m", srv.addr);
    let err = c.send(get(&url)).await.unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "Get {url:?}: oauth2: cannot fetch token from {token_url}: 400 Bad Request: \"invalid_scope\" \"no such scope\""
        )
    );
    assert!(srv.seen().is_empty(), "no request without a token");

    // Unreachable token endpoint.
    let c =
        client("  oauth2: {client_id: c, client_secret: s, token_url: 'http://127.0.0.1:1/t'}\n")
            .unwrap();
    let err = c.send(get(&url)).await.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "Get {url:?}: oauth2: cannot fetch token: Post \"http://127.0.0.1:1/t\": "
        )),
        "{err}"
    );
}

#[tokio::test]
async fn oauth2_garbage_token_answers_fail_clearly_and_never_panic() {
    let huge = "x".repeat(2 << 20);
    /// The Authorization header sent with the token, or a part of the error.
    type Want = Result<&'static str, &'static str>;
    // (status, content type, body, what happens)
    let cases: Vec<(u16, &str, Vec<u8>, Want)> = vec![
        (
            200,
            "application/json",
            br#"{"access_token":"t","expires_in":9223372036854775807}"#.to_vec(),
            Ok("Bearer t"),
        ),
        (
            200,
            "application/json",
            br#"{"access_token":"t","expires_in":-5,"token_type":"MAC"}"#.to_vec(),
            Ok("MAC t"),
        ),
        (
            200,
            "text/plain",
            b"access_token=f&expires_in=1e999".to_vec(),
            Ok("Bearer f"),
        ),
        (
            200,
            "application/json",
            b"not json".to_vec(),
            Err("server response missing access_token"),
        ),
        (
            200,
            "application/json",
            b"[1, 2]".to_vec(),
            Err("server response missing access_token"),
        ),
        (
            200,
            "application/json",
            b"\xff\xfe{\"access_token\"".to_vec(),
            Err("server response missing access_token"),
        ),
        (
            200,
            "application/json",
            br#"{"access_token":"a\nb"}"#.to_vec(),
            Err("is not a valid header value"),
        ),
        (
            200,
            "application/json",
            br#"{"access_token":"a","token_type":"\u0000"}"#.to_vec(),
            Err("is not a valid header value"),
        ),
        (
            200,
            "application/json",
            huge.clone().into_bytes(),
            Err("reading the response"),
        ),
        (
            502,
            "text/html",
            b"\xff<html>bad gateway</html>".to_vec(),
            Err("502 Bad Gateway: response: \u{fffd}<html>bad gateway</html>"),
        ),
        (401, "application/json", Vec::new(), Err("401 Unauthorized")),
    ];
    let srv = Server::start(None, Arc::new(ok)).await;
    let url = format!("http://{}/m", srv.addr);
    for (status, content_type, body, want) in cases {
        let tokens = Server::start(None, canned(status, content_type, body)).await;
        let token_url = format!("http://{}/t", tokens.addr);
        let c = client(&format!(
            "  oauth2: {{client_id: c, client_secret: s, token_url: '{token_url}'}}\n"
        ))
        .unwrap();
        match (c.send(get(&url)).await, want) {
            (Ok(resp), Ok(auth)) => {
                assert_eq!(resp.status(), StatusCode::OK);
                let sent = srv.seen().pop().unwrap();
                assert_eq!(sent.headers["authorization"], auth);
            }
            (Err(e), Err(part)) => {
                let e = e.to_string();
                assert!(e.contains(part), "{status} {content_type}: {e}");
                assert!(e.contains(&token_url), "names the endpoint: {e}");
            }
            (got, want) => panic!("{status} {content_type}: got {got:?}, want {want:?}"),
        }
    }
}

#[tokio::test]
async fn oauth2_token_requests_use_their_own_proxy_and_tls() {
    let tokens = Server::start(Some(tls_server(false, false)), token_server(3600)).await;
    let srv = Server::start(None, Arc::new(ok)).await;
    let proxy = TestProxy::start().await;
    let c = client(&format!(
        "  oauth2:\n    client_id: c\n    token_url: 'https://localhost:{}/t'\n    tls_config: {{ca_file: '{}'}}\n    proxy_url: 'http://{}'\n",
        tokens.addr.port(),
        testdata("ca.crt"),
        proxy.addr
    ))
    .unwrap();
    c.send(get(&format!("http://{}/", srv.addr))).await.unwrap();
    assert_eq!(srv.seen()[0].headers["authorization"], "Bearer tok-1");
    assert!(
        proxy.heads()[0].starts_with(&format!("CONNECT localhost:{} ", tokens.addr.port())),
        "{:?}",
        proxy.heads()
    );
    // The resource request itself did not go through the token proxy.
    assert_eq!(proxy.heads().len(), 1);
}

#[tokio::test]
async fn sigv4_signs_what_is_sent() {
    let srv = Server::start(None, Arc::new(ok)).await;
    let sigv4 = config::remote::SigV4Config {
        region: "us-east-1".into(),
        access_key: "AKIDEXAMPLE".into(),
        secret_key: config::Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        ..Default::default()
    };
    let c = HttpClient::with_sigv4(&HttpClientConfig::default(), &sigv4).unwrap();
    let req = Request::post(format!("http://{}/api/v1/write", srv.addr))
        .header("content-type", "application/x-protobuf")
        .header("x-prometheus-remote-write-version", "0.1.0")
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap();
    assert_eq!(c.send(req).await.unwrap().status(), StatusCode::OK);
    let seen = &srv.seen()[0];
    let auth = seen.headers["authorization"].to_str().unwrap().to_owned();
    let prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/";
    assert!(auth.starts_with(prefix), "{auth}");
    let amz_date = seen.headers["x-amz-date"].to_str().unwrap().to_owned();
    assert!(
        auth.contains(&format!("/{}/us-east-1/aps/aws4_request, ", &amz_date[..8])),
        "{auth}"
    );
    let signed = auth
        .split("SignedHeaders=")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap();
    assert_eq!(
        signed,
        "content-type;host;x-amz-date;x-prometheus-remote-write-version"
    );
    // Verify as the server would: recompute over the received signed headers and body.
    let mut headers = http::HeaderMap::new();
    for name in signed.split(';').filter(|n| *n != "host") {
        headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            seen.headers[name].clone(),
        );
    }
    let uri: Uri = seen.path.parse().unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, &seen.body);
    let payload_hash: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let expected = crate::sigv4::authorization(&crate::sigv4::SigningInput {
        method: "POST",
        uri: &uri,
        host: seen.headers["host"].to_str().unwrap(),
        headers: &headers,
        payload_hash: &payload_hash,
        amz_date: &amz_date,
        date: &amz_date[..8],
        region: "us-east-1",
        service: "aps",
        creds: &crate::sigv4::Credentials {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: String::new(),
        },
    });
    assert_eq!(auth, expected);
}

/// A fake STS answering `AssumeRole` with credentials valid for `valid_for` seconds.
fn sts_server(valid_for: u64) -> Handler {
    Arc::new(move |s: &Seen| {
        let form = form(&s.body);
        let get = |k: &str| {
            form.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let auth = s.headers["authorization"].to_str().unwrap_or("");
        if get("Action") != "AssumeRole"
            || !auth.contains("Credential=BASEKEY")
            || !auth.contains("/eu-west-1/sts/aws4_request")
        {
            return Response::builder()
                .status(StatusCode::FORBIDDEN)
                .body(Full::new(Bytes::from_static(
                    b"<ErrorResponse><Error><Code>AccessDenied</Code><Message>not signed by BASEKEY</Message></Error></ErrorResponse>",
                )))
                .unwrap();
        }
        let expiry = std::time::SystemTime::now() + std::time::Duration::from_secs(valid_for);
        let secs = expiry
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (amz, _) = crate::sigv4::amz_timestamp(i64::try_from(secs).unwrap());
        let rfc3339 = format!(
            "{}-{}-{}T{}:{}:{}Z",
            &amz[0..4],
            &amz[4..6],
            &amz[6..8],
            &amz[9..11],
            &amz[11..13],
            &amz[13..15]
        );
        let xml = format!(
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>ROLEKEY-{}</AccessKeyId><SecretAccessKey>rolesecret</SecretAccessKey><SessionToken>roletoken</SessionToken><Expiration>{rfc3339}</Expiration></Credentials><AssumedRoleUser><Arn>{}</Arn></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>",
            get("ExternalId"),
            get("RoleArn"),
        );
        Response::builder()
            .header("content-type", "text/xml")
            .body(Full::new(Bytes::from(xml)))
            .unwrap()
    })
}

fn role_client(sts: SocketAddr, role: &str) -> HttpClient {
    let cfg = config::remote::SigV4Config {
        region: "eu-west-1".into(),
        access_key: "BASEKEY".into(),
        secret_key: config::Secret::new("basesecret"),
        role_arn: role.into(),
        external_id: "ext".into(),
        ..Default::default()
    };
    let endpoint = format!("http://{sts}/");
    let signer = crate::sigv4::Signer::with_env(&cfg, &|n| {
        (n == "AWS_ENDPOINT_URL_STS").then(|| endpoint.clone())
    })
    .unwrap();
    HttpClient::build(&HttpClientConfig::default(), Some(signer)).unwrap()
}

#[tokio::test]
async fn sigv4_role_arn_signs_with_the_assumed_roles_credentials() {
    let sts = Server::start(None, sts_server(3600)).await;
    let srv = Server::start(None, Arc::new(ok)).await;
    let c = role_client(sts.addr, "arn:aws:iam::123456789012:role/prom");
    let url = format!("http://{}/api/v1/write", srv.addr);
    c.send(get(&url)).await.unwrap();
    c.send(get(&url)).await.unwrap();
    let calls = sts.seen();
    assert_eq!(calls.len(), 1, "assumed credentials are cached");
    assert!(form(&calls[0].body).contains(&(
        "RoleArn".to_owned(),
        "arn:aws:iam::123456789012:role/prom".to_owned()
    )));
    for s in srv.seen() {
        let auth = s.headers["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=ROLEKEY-ext/"),
            "{auth}"
        );
        assert!(auth.contains("/eu-west-1/aps/aws4_request"), "{auth}");
        assert_eq!(s.headers["x-amz-security-token"], "roletoken");
    }

    // Credentials about to expire are fetched again for every request.
    let sts = Server::start(None, sts_server(20)).await;
    let c = role_client(sts.addr, "arn:aws:iam::123456789012:role/prom");
    c.send(get(&url)).await.unwrap();
    c.send(get(&url)).await.unwrap();
    assert_eq!(sts.seen().len(), 2);
}

#[tokio::test]
async fn sigv4_signers_for_several_services_share_one_role_assumption() {
    let sts = Server::start(None, sts_server(3600)).await;
    let srv = Server::start(None, Arc::new(ok)).await;
    let cfg = config::remote::SigV4Config {
        region: "eu-west-1".into(),
        access_key: "BASEKEY".into(),
        secret_key: config::Secret::new("basesecret"),
        role_arn: "arn:aws:iam::1:role/r".into(),
        ..Default::default()
    };
    let endpoint = format!("http://{}/", sts.addr);
    let signer = crate::sigv4::Signer::with_env(&cfg, &|n| {
        (n == "AWS_ENDPOINT_URL_STS").then(|| endpoint.clone())
    })
    .unwrap();
    let ecs = HttpClient::build(
        &HttpClientConfig::default(),
        Some(signer.for_service("ecs")),
    )
    .unwrap();
    let ec2 = HttpClient::build(
        &HttpClientConfig::default(),
        Some(signer.for_service("ec2")),
    )
    .unwrap();
    let url = format!("http://{}/", srv.addr);
    ecs.send(get(&url)).await.unwrap();
    ec2.send(get(&url)).await.unwrap();
    assert_eq!(sts.seen().len(), 1, "the role is assumed once for both");
    let scopes: Vec<String> = srv
        .seen()
        .iter()
        .map(|s| s.headers["authorization"].to_str().unwrap().to_owned())
        .collect();
    assert!(
        scopes[0].contains("/eu-west-1/ecs/aws4_request"),
        "{scopes:?}"
    );
    assert!(
        scopes[1].contains("/eu-west-1/ec2/aws4_request"),
        "{scopes:?}"
    );
    // The public constructor builds one client per service.
    let clients = HttpClient::with_sigv4_services(
        &HttpClientConfig::default(),
        &config::remote::SigV4Config {
            region: "eu-west-1".into(),
            access_key: "AK".into(),
            secret_key: config::Secret::new("SK"),
            ..Default::default()
        },
        &["ecs", "ec2"],
    )
    .unwrap();
    assert_eq!(clients.len(), 2);
}

#[tokio::test]
async fn sigv4_role_arn_failures_name_role_and_endpoint() {
    let sts = Server::start(
        None,
        canned(
            403,
            "text/xml",
            &b"<ErrorResponse><Error><Code>AccessDenied</Code><Message>no trust</Message></Error></ErrorResponse>"[..],
        ),
    )
    .await;
    let srv = Server::start(None, Arc::new(ok)).await;
    let c = role_client(sts.addr, "arn:aws:iam::1:role/r");
    let url = format!("http://{}/w", srv.addr);
    let err = c.send(get(&url)).await.unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "Get {url:?}: error retrieving credentials: could not assume role arn:aws:iam::1:role/r through STS at http://{}/: 403 Forbidden: AccessDenied: no trust",
            sts.addr
        )
    );
    assert!(srv.seen().is_empty());
}

#[tokio::test]
async fn sigv4_garbage_sts_answers_fail_clearly_and_never_panic() {
    let creds = |expiration: &str| {
        format!(
            "<Credentials><AccessKeyId>K</AccessKeyId><SecretAccessKey>S</SecretAccessKey><SessionToken>T</SessionToken><Expiration>{expiration}</Expiration></Credentials>"
        )
        .into_bytes()
    };
    let cases: Vec<(u16, Vec<u8>, &str)> = vec![
        (200, Vec::new(), "no AccessKeyId in the response"),
        (200, b"\xff\xfe<AccessKeyId>".to_vec(), "no AccessKeyId"),
        (
            200,
            b"<AccessKeyId>K</AccessKeyId>".to_vec(),
            "no SecretAccessKey",
        ),
        (200, creds("soon"), "bad Expiration \"soon\""),
        (
            200,
            creds("-9223372036854775808-01-01T00:00:00Z"),
            "bad Expiration",
        ),
        (
            200,
            creds("9223372036854775807-12-31T23:59:59Z"),
            "bad Expiration",
        ),
        (200, vec![b'x'; 2 << 20], "reading the response"),
        (
            500,
            b"\xffoops".to_vec(),
            "500 Internal Server Error: \u{fffd}oops",
        ),
        (
            400,
            b"<Code>Throttled</Code>".to_vec(),
            "400 Bad Request: Throttled",
        ),
    ];
    let srv = Server::start(None, Arc::new(ok)).await;
    let url = format!("http://{}/w", srv.addr);
    for (status, body, want) in cases {
        let sts = Server::start(None, canned(status, "text/xml", body)).await;
        let c = role_client(sts.addr, "arn:aws:iam::1:role/r");
        let err = c.send(get(&url)).await.unwrap_err().to_string();
        let prefix = format!(
            "Get {url:?}: error retrieving credentials: could not assume role arn:aws:iam::1:role/r through STS at http://{}/: ",
            sts.addr
        );
        assert!(
            err.starts_with(&prefix) && err.contains(want),
            "{status} {want}: {err}"
        );
    }
    assert!(srv.seen().is_empty());
}

mod credentials;
