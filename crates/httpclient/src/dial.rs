//! Dial counters by client name (go-conntrack's `net_conntrack_dialer_*`, reported by every HTTP client Prometheus names) and the TCP connector that counts them.
//!
//! Prometheus gives each HTTP client a name (`NewClientFromConfig(cfg, name)`): a scrape
//! pool's job name, `alertmanager`, `remote_storage_write_client`,
//! `remote_storage_read_client`, a discovery's (`http`, `consul_sd`, ...). go-conntrack
//! counts, per name and in the process-wide registry, the dials (one per TCP connection
//! the transport opens, to the server or to a proxy, name resolution included), those
//! that connected, those that failed by reason, and the connections closed. Names are
//! never unregistered, and `default` (go-conntrack's name for an unnamed dialer) is
//! always there, as in a Prometheus process.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use model::metrics::{Counter, write_sample};

/// go-conntrack's name for a dialer created without one.
pub const DEFAULT_DIALER: &str = "default";

/// Why a dial failed, as go-conntrack tells them apart (the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// Connection refused.
    Refused = 0,
    /// The host name could not be resolved.
    Resolution = 1,
    /// The dial ran out of time (its own timeout, or the request's: the dial was dropped).
    Timeout = 2,
    /// Anything else.
    Unknown = 3,
}

/// The `reason` label values, in the order of [`Reason`] (and of Go's output).
const REASONS: [&str; 4] = ["refused", "resolution", "timeout", "unknown"];

/// The counters of one dialer name.
#[derive(Debug, Default)]
pub(crate) struct Dialer {
    attempted: Counter,
    established: Counter,
    failed: [Counter; 4],
    closed: Counter,
}

impl Dialer {
    /// Counts a failed dial. As go-conntrack's classification, whose checks fall through,
    /// a refused or timed-out dial also counts as `unknown` (Prometheus 3.5 shows both
    /// for a refused connection); a resolution failure counts once.
    pub(crate) fn failed(&self, reason: Reason) {
        self.failed[reason as usize].inc();
        if matches!(reason, Reason::Refused | Reason::Timeout) {
            self.failed[Reason::Unknown as usize].inc();
        }
    }
}

/// Every dialer name used in this process, with its counters.
static DIALERS: LazyLock<Mutex<BTreeMap<String, Arc<Dialer>>>> = LazyLock::new(|| {
    Mutex::new(BTreeMap::from([(
        DEFAULT_DIALER.to_owned(),
        Arc::new(Dialer::default()),
    )]))
});

/// The counters of dialer `name`, registered (at zero) on first use.
pub(crate) fn dialer(name: &str) -> Arc<Dialer> {
    let mut all = DIALERS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(d) = all.get(name) {
        return Arc::clone(d);
    }
    let d = Arc::new(Dialer::default());
    all.insert(name.to_owned(), Arc::clone(&d));
    d
}

/// Appends the `net_conntrack_dialer_*` families (text format, Go's names, help texts and
/// label order) for every dialer name used in this process, sorted by name.
pub fn write_metrics(out: &mut String) {
    let all: Vec<(String, Arc<Dialer>)> = DIALERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|(n, d)| (n.clone(), Arc::clone(d)))
        .collect();
    type Get = fn(&Dialer) -> &Counter;
    let families: [(&str, &str, Get); 3] = [
        (
            "net_conntrack_dialer_conn_attempted_total",
            "Total number of connections attempted by the given dialer a given name.",
            |d| &d.attempted,
        ),
        (
            "net_conntrack_dialer_conn_closed_total",
            "Total number of connections closed which originated from the dialer of a given name.",
            |d| &d.closed,
        ),
        (
            "net_conntrack_dialer_conn_established_total",
            "Total number of connections successfully established by the given dialer a given name.",
            |d| &d.established,
        ),
    ];
    for (name, help, get) in families {
        model::exposition::write_header(out, name, "counter", help);
        for (dialer, d) in &all {
            write_sample(out, name, &[("dialer_name", dialer)], get(d).get());
        }
    }
    let name = "net_conntrack_dialer_conn_failed_total";
    model::exposition::write_header(
        out,
        name,
        "counter",
        "Total number of connections failed to dial by the dialer a given name.",
    );
    for (dialer, d) in &all {
        for (reason, c) in REASONS.iter().zip(&d.failed) {
            write_sample(
                out,
                name,
                &[("dialer_name", dialer), ("reason", reason)],
                c.get(),
            );
        }
    }
}

/// Which dialer a client's connections count under: shared by the client, its clones and
/// its connectors, so that [`crate::HttpClient::named`] can name it after it is built.
/// `None`: not counted (the clients this crate makes for itself, as OAuth 2.0 token and
/// credential fetches, which go-conntrack does not see in Prometheus either).
pub(crate) type DialerSlot = Arc<Mutex<Option<Arc<Dialer>>>>;

/// A new slot holding dialer `name`.
pub(crate) fn slot(name: &str) -> DialerSlot {
    Arc::new(Mutex::new(Some(dialer(name))))
}

/// Sets the dialer of `slot`.
pub(crate) fn set(slot: &DialerSlot, d: Option<Arc<Dialer>>) {
    *slot.lock().unwrap_or_else(PoisonError::into_inner) = d;
}

fn current(slot: &DialerSlot) -> Option<Arc<Dialer>> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The reason of a failed connect of hyper-util's [`HttpConnector`] (whose error type is
/// not exported): its message tells name resolution from connecting, the I/O error under
/// it refused from timed out.
pub(crate) fn reason(e: &(dyn std::error::Error + 'static)) -> Reason {
    if e.to_string() == "dns error" {
        return Reason::Resolution;
    }
    let mut src = e.source();
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => Reason::Refused,
                std::io::ErrorKind::TimedOut => Reason::Timeout,
                _ => Reason::Unknown,
            };
        }
        src = s.source();
    }
    Reason::Unknown
}

/// [`HttpConnector`] counting its dials under the dialer of its slot.
#[derive(Clone)]
pub(crate) struct CountingConnector {
    http: HttpConnector,
    dialer: DialerSlot,
}

impl CountingConnector {
    pub(crate) fn new(http: HttpConnector, dialer: DialerSlot) -> CountingConnector {
        CountingConnector { http, dialer }
    }
}

/// Counts a dial dropped before it finished (the request's time ran out) as timed out.
struct Pending(Option<Arc<Dialer>>);

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            d.failed(Reason::Timeout);
        }
    }
}

impl tower_service::Service<Uri> for CountingConnector {
    type Response = Counted<<HttpConnector as tower_service::Service<Uri>>::Response>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let dialer = current(&self.dialer);
        let connect = self.http.call(dst);
        Box::pin(async move {
            let Some(dialer) = dialer else {
                let io = connect.await?;
                return Ok(Counted { io, dialer: None });
            };
            dialer.attempted.inc();
            let mut pending = Pending(Some(Arc::clone(&dialer)));
            let res = connect.await;
            pending.0 = None;
            match res {
                Ok(io) => {
                    dialer.established.inc();
                    Ok(Counted {
                        io,
                        dialer: Some(dialer),
                    })
                }
                Err(e) => {
                    dialer.failed(reason(&e));
                    Err(e.into())
                }
            }
        })
    }
}

/// A connection of a [`CountingConnector`]: counted as closed when dropped.
pub(crate) struct Counted<T> {
    io: T,
    dialer: Option<Arc<Dialer>>,
}

impl<T> Drop for Counted<T> {
    fn drop(&mut self) {
        if let Some(d) = &self.dialer {
            d.closed.inc();
        }
    }
}

impl<T: Connection> Connection for Counted<T> {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}

/// Implements hyper's `Read` and `Write` for a connection wrapper by forwarding every method
/// to its `io` field: `forward_io!(Counted<T>, T)` (generic over `T`) or `forward_io!(Stream)`.
macro_rules! forward_io {
    ($ty:ty $(, $t:ident)?) => {
        impl$(<$t: hyper::rt::Read + Unpin>)? hyper::rt::Read for $ty {
            fn poll_read(
                mut self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: hyper::rt::ReadBufCursor<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
            }
        }

        impl$(<$t: hyper::rt::Write + Unpin>)? hyper::rt::Write for $ty {
            fn poll_write(
                mut self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &[u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                ::std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
            }

            fn poll_flush(
                mut self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::std::pin::Pin::new(&mut self.io).poll_flush(cx)
            }

            fn poll_shutdown(
                mut self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
            }

            fn is_write_vectored(&self) -> bool {
                self.io.is_write_vectored()
            }

            fn poll_write_vectored(
                mut self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                ::std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
            }
        }
    };
}
pub(crate) use forward_io;

forward_io!(Counted<T>, T);

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::HttpClient;

    /// The value of sample `series` (exactly as rendered) in the current metrics.
    fn value(series: &str) -> Option<f64> {
        let mut text = String::new();
        write_metrics(&mut text);
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    fn counts(name: &str) -> [f64; 8] {
        let get = |family: &str, extra: &str| {
            value(&format!(
                "net_conntrack_dialer_conn_{family}{{dialer_name=\"{name}\"{extra}}}"
            ))
            .unwrap_or_else(|| panic!("no {family} sample for {name}"))
        };
        [
            get("attempted_total", ""),
            get("established_total", ""),
            get("closed_total", ""),
            get("failed_total", ",reason=\"refused\""),
            get("failed_total", ",reason=\"resolution\""),
            get("failed_total", ",reason=\"timeout\""),
            get("failed_total", ",reason=\"unknown\""),
            0.0,
        ]
    }

    fn get(url: &str) -> http::Request<Full<Bytes>> {
        http::Request::get(url)
            .body(Full::new(Bytes::new()))
            .unwrap()
    }

    #[tokio::test]
    async fn a_refused_dial_counts_as_refused_and_unknown() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = HttpClient::default().named("dial_test_refused");
        assert_eq!(
            counts("dial_test_refused"),
            [0.0; 8],
            "listed at zero once named"
        );
        let err = client
            .send(get(&format!("http://127.0.0.1:{port}/metrics")))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("refused"), "{err}");
        // attempted, established, closed, refused, resolution, timeout, unknown.
        assert_eq!(
            counts("dial_test_refused"),
            [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]
        );
    }

    #[tokio::test]
    async fn a_successful_dial_is_established_then_closed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0, "request ended early");
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .await
                .unwrap();
        });
        let client = HttpClient::default().named("dial_test_ok");
        let resp = client
            .send(get(&format!("http://{addr}/metrics")))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "ok");
        server.await.unwrap();
        assert_eq!(counts("dial_test_ok")[..2], [1.0, 1.0]);
        // The connection closes as the server asked; the client drops it in its own task.
        let mut closed = 0.0;
        for _ in 0..500 {
            closed = counts("dial_test_ok")[2];
            if closed == 1.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(closed, 1.0);
        assert_eq!(counts("dial_test_ok")[3..7], [0.0; 4]);
    }

    #[tokio::test]
    async fn a_dial_dropped_by_the_request_time_limit_counts_as_timeout() {
        let d = dialer("dial_test_dropped");
        let slot: DialerSlot = Arc::new(Mutex::new(Some(Arc::clone(&d))));
        let mut c = CountingConnector::new(HttpConnector::new(), slot);
        // A listener whose accept queue (backlog 0: one connection) is full: the kernel
        // drops further SYNs, so a dial waits until the time limit drops it.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        let _queued = std::net::TcpStream::connect(addr).unwrap();
        let dial = tower_service::Service::call(&mut c, format!("http://{addr}/").parse().unwrap());
        let res = tokio::time::timeout(Duration::from_millis(300), dial).await;
        assert!(res.is_err(), "the dial waited for the full accept queue");
        assert_eq!(
            counts("dial_test_dropped"),
            [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0]
        );
    }

    #[derive(Debug)]
    struct Wrapped(&'static str, Option<std::io::Error>);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_ref().map(|e| e as _)
        }
    }

    #[test]
    fn connect_errors_are_told_apart_as_go_conntrack_does() {
        use std::io::{Error, ErrorKind};
        let cases = [
            (
                Wrapped("dns error", Some(Error::other("no such host"))),
                Reason::Resolution,
            ),
            (
                Wrapped(
                    "tcp connect error",
                    Some(ErrorKind::ConnectionRefused.into()),
                ),
                Reason::Refused,
            ),
            (
                Wrapped("tcp connect error", Some(ErrorKind::TimedOut.into())),
                Reason::Timeout,
            ),
            (
                Wrapped("tcp connect error", Some(ErrorKind::HostUnreachable.into())),
                Reason::Unknown,
            ),
            (
                Wrapped("invalid URL, host is missing", None),
                Reason::Unknown,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(reason(&e), want, "{e}");
        }
        let d = dialer("dial_test_reasons");
        d.failed(Reason::Resolution);
        assert_eq!(
            counts("dial_test_reasons"),
            [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn families_are_go_conntracks_with_default_always_listed() {
        let mut text = String::new();
        write_metrics(&mut text);
        let types: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        assert_eq!(
            types,
            [
                "net_conntrack_dialer_conn_attempted_total counter",
                "net_conntrack_dialer_conn_closed_total counter",
                "net_conntrack_dialer_conn_established_total counter",
                "net_conntrack_dialer_conn_failed_total counter",
            ]
        );
        assert!(text.contains(
            "net_conntrack_dialer_conn_failed_total{dialer_name=\"default\",reason=\"refused\"} "
        ));
        assert!(text.contains("# HELP net_conntrack_dialer_conn_attempted_total Total number of connections attempted by the given dialer a given name.\n"));
    }
}
