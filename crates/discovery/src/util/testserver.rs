//! A fake API server on 127.0.0.1 for provider tests: a handler function answers each
//! request (by path and query), and every request's URI and headers are recorded.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;

/// What the fake server saw of a request.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: http::Method,
    /// Path and query, as sent.
    pub(crate) uri: String,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: String,
}

/// The fake server's answer to one request.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
    /// Held back this long first (a blocking query that waits).
    pub(crate) delay: Duration,
}

impl Reply {
    /// A 200 answer with a JSON body.
    pub(crate) fn json(body: impl Into<String>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// An answer with `status` and a plain-text body.
    pub(crate) fn status(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// Adds a header.
    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Delays the answer.
    pub(crate) fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// The fake server; stops when dropped.
pub(crate) struct FakeApi {
    pub(crate) addr: SocketAddr,
    handler: Arc<Mutex<Handler>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves one connection with the shared handler, recording what it sees.
async fn serve<S>(stream: S, h: Arc<Mutex<Handler>>, s: Arc<Mutex<Vec<Seen>>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req: http::Request<Incoming>| {
        let (h, s) = (h.clone(), s.clone());
        async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            let seen = Seen {
                method: parts.method,
                uri: parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default(),
                headers: parts.headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            s.lock().unwrap().push(seen.clone());
            let handler = h.lock().unwrap().clone();
            let reply = handler(&seen);
            if !reply.delay.is_zero() {
                tokio::time::sleep(reply.delay).await;
            }
            let mut resp = http::Response::builder().status(reply.status);
            for (k, v) in &reply.headers {
                resp = resp.header(k, v);
            }
            Ok::<_, Infallible>(resp.body(Full::new(Bytes::from(reply.body))).unwrap())
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
        .await;
}

impl FakeApi {
    /// Starts a server on 127.0.0.1 answering with `handler`.
    pub(crate) async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> FakeApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handler: Arc<Mutex<Handler>> = Arc::new(Mutex::new(Arc::new(handler)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (h, s) = (handler.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(stream, h.clone(), s.clone()));
            }
        });
        FakeApi {
            addr,
            handler,
            seen,
            task,
        }
    }

    /// Starts a server on the unix socket `path` answering with `handler` (`addr` is then
    /// meaningless).
    pub(crate) async fn start_unix(
        path: &std::path::Path,
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> FakeApi {
        let listener = tokio::net::UnixListener::bind(path).unwrap();
        let handler: Arc<Mutex<Handler>> = Arc::new(Mutex::new(Arc::new(handler)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (h, s) = (handler.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(stream, h.clone(), s.clone()));
            }
        });
        FakeApi {
            addr: ([127, 0, 0, 1], 0).into(),
            handler,
            seen,
            task,
        }
    }

    /// Replaces the handler.
    pub(crate) fn set(&self, handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) {
        *self.handler.lock().unwrap() = Arc::new(handler);
    }

    /// The requests seen so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl FakeApi {
    /// Starts a server on 127.0.0.1 speaking TLS with the httpclient crate's test
    /// certificate (for `localhost` and 127.0.0.1, signed by [`test_ca`]).
    pub(crate) async fn start_tls(
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> FakeApi {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<_> = CertificateDer::pem_file_iter(httpclient_testdata("server.crt"))
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let key = PrivateKeyDer::from_pem_file(httpclient_testdata("server.key")).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handler: Arc<Mutex<Handler>> = Arc::new(Mutex::new(Arc::new(handler)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (h, s) = (handler.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, h, s) = (acceptor.clone(), h.clone(), s.clone());
                tokio::spawn(async move {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        serve(stream, h, s).await;
                    }
                });
            }
        });
        FakeApi {
            addr,
            handler,
            seen,
            task,
        }
    }
}

/// A file of the httpclient crate's test certificates.
fn httpclient_testdata(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../httpclient/testdata")
        .join(name)
        .display()
        .to_string()
}

/// The CA file that signed [`FakeApi::start_tls`]'s certificate.
pub(crate) fn test_ca() -> String {
    httpclient_testdata("ca.crt")
}
