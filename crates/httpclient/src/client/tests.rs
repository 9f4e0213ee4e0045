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
        err.starts_with("unable to read CA cert /nonexistent/ca.pem"),
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
    let err = client("  oauth2: {client_id: c, token_url: 'http://127.0.0.1:1/t'}\n").unwrap_err();
    assert_eq!(err, Error::Unsupported { option: "oauth2" });
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

impl TestProxy {
    async fn start() -> TestProxy {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let h = heads.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let h = h.clone();
                tokio::spawn(async move {
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
                    h.lock().unwrap().push(head.clone());
                    let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    if head.starts_with("CONNECT ") {
                        let mut upstream = tokio::net::TcpStream::connect(&target).await.unwrap();
                        stream
                            .get_mut()
                            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                            .await
                            .unwrap();
                        let _ =
                            tokio::io::copy_bidirectional(stream.get_mut(), &mut upstream).await;
                    } else {
                        let body = format!("via proxy {target}");
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = stream.get_mut().write_all(resp.as_bytes()).await;
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
    let err = client("  proxy_url: 'socks5://127.0.0.1:1080'\n").unwrap_err();
    assert_eq!(
        err,
        Error::Unsupported {
            option: "proxy_url with a scheme other than http"
        }
    );
}
