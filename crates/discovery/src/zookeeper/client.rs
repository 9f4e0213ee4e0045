//! A minimal ZooKeeper client over Tokio TCP, behaving as the Go client Prometheus uses
//! (`go-zookeeper/zk`) where discovery can tell: `getData`/`getChildren2` with watches, a
//! session kept alive by pings and re-attached (its watches re-set) after a reconnect.
//!
//! One task owns the connection. Servers are tried in turn from a random one on, each with
//! a one-second connect timeout; after a full round without a session it waits a second
//! and fails the queued requests ([`ZkError::NoServer`]). The session timeout asked for is
//! the configured one; the negotiated one decides the ping interval (a third of it) and
//! when a silent server is given up (two thirds). A session the server no longer knows is
//! expired: every watcher is told ([`EventType::NotWatching`]) and a new session starts.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::jute::{self, Reader, Writer};

/// ZooKeeper's default client port, added to a server given without one.
const DEFAULT_PORT: u16 = 2181;
/// go-zookeeper's connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// go-zookeeper's pause after every server was tried.
const ROUND_PAUSE: Duration = Duration::from_secs(1);

/// What a watch reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    /// The node was created.
    Created,
    /// The node was deleted.
    Deleted,
    /// The node's data changed.
    DataChanged,
    /// The node's children changed.
    ChildrenChanged,
    /// The watch is gone with the session (go-zookeeper's `EventNotWatching`).
    NotWatching,
}

/// One fired watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WatchEvent {
    pub(crate) kind: EventType,
    pub(crate) path: String,
}

/// Where a watch's event goes. Watches of one path and kind are kept once per channel.
pub(crate) type Watcher = mpsc::UnboundedSender<WatchEvent>;

/// A failed request, with go-zookeeper's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ZkError {
    /// The node does not exist.
    NoNode,
    /// No server could be reached in a full round.
    NoServer,
    /// The connection broke before the reply came.
    ConnectionClosed,
    /// The client is closing.
    Closing,
    /// Another error code from the server.
    Code(i32),
    /// A reply that does not decode.
    Malformed,
}

impl std::fmt::Display for ZkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZkError::NoNode => f.write_str("zk: node does not exist"),
            ZkError::NoServer => f.write_str("zk: could not connect to a server"),
            ZkError::ConnectionClosed => f.write_str("zk: connection closed"),
            ZkError::Closing => f.write_str("zk: zookeeper is closing"),
            ZkError::Code(-4) => f.write_str("zk: connection loss"),
            ZkError::Code(-8) => f.write_str("zk: bad arguments"),
            ZkError::Code(-102) => f.write_str("zk: not authenticated"),
            ZkError::Code(-112) => f.write_str("zk: session has been expired by the server"),
            ZkError::Code(-118) => {
                f.write_str("zk: session moved to another server, so operation is ignored")
            }
            ZkError::Code(c) => write!(f, "zk: unknown error code {c}"),
            ZkError::Malformed => f.write_str("zk: malformed reply"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum WatchKind {
    Data,
    Child,
}

#[derive(Debug)]
enum Reply {
    Data(Vec<u8>),
    Children(Vec<String>),
}

#[derive(Debug)]
struct Request {
    kind: WatchKind,
    path: String,
    watch: Watcher,
    reply: oneshot::Sender<Result<Reply, ZkError>>,
}

/// A handle on the connection task; dropping it closes the session.
#[derive(Debug)]
pub(crate) struct Client {
    requests: mpsc::UnboundedSender<Request>,
    cancel: CancellationToken,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Client {
    /// Starts connecting to `servers` (`host[:port]`) in the background; must be called
    /// inside a Tokio runtime.
    pub(crate) fn connect(servers: &[String], session_timeout: Duration) -> Client {
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        let mut servers: Vec<String> = servers
            .iter()
            .map(|s| {
                if s.contains(':') {
                    s.clone()
                } else {
                    format!("{s}:{DEFAULT_PORT}")
                }
            })
            .collect();
        // go-zookeeper shuffles the servers; a random rotation spreads clients as well.
        if !servers.is_empty() {
            let r = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish();
            let n = u64::try_from(servers.len()).unwrap_or(1);
            servers.rotate_left(usize::try_from(r % n).unwrap_or(0));
        }
        let conn = Conn {
            servers,
            timeout_ms: i32::try_from(session_timeout.as_millis()).unwrap_or(i32::MAX),
            session_id: 0,
            passwd: vec![0; 16],
            last_zxid: 0,
            watches: HashMap::new(),
            requests: rx,
            cancel: cancel.clone(),
        };
        tokio::spawn(conn.run());
        Client {
            requests: tx,
            cancel,
        }
    }

    async fn call(&self, kind: WatchKind, path: &str, watch: &Watcher) -> Result<Reply, ZkError> {
        let (reply, rx) = oneshot::channel();
        self.requests
            .send(Request {
                kind,
                path: path.to_owned(),
                watch: watch.clone(),
                reply,
            })
            .map_err(|_| ZkError::Closing)?;
        rx.await.map_err(|_| ZkError::Closing)?
    }

    /// The data of `path`, watching it for changes and deletion (go-zookeeper's `GetW`).
    pub(crate) async fn get_data(&self, path: &str, watch: &Watcher) -> Result<Vec<u8>, ZkError> {
        match self.call(WatchKind::Data, path, watch).await? {
            Reply::Data(d) => Ok(d),
            Reply::Children(_) => Err(ZkError::Malformed),
        }
    }

    /// The children of `path`, watching them (go-zookeeper's `ChildrenW`).
    pub(crate) async fn children(
        &self,
        path: &str,
        watch: &Watcher,
    ) -> Result<Vec<String>, ZkError> {
        match self.call(WatchKind::Child, path, watch).await? {
            Reply::Children(c) => Ok(c),
            Reply::Data(_) => Err(ZkError::Malformed),
        }
    }
}

/// The connection task's state.
struct Conn {
    servers: Vec<String>,
    /// The session timeout asked for, in milliseconds.
    timeout_ms: i32,
    /// 0 while there is no session.
    session_id: i64,
    passwd: Vec<u8>,
    last_zxid: i64,
    watches: HashMap<(WatchKind, String), Vec<Watcher>>,
    requests: mpsc::UnboundedReceiver<Request>,
    cancel: CancellationToken,
}

/// Why a session attempt ended.
enum Ended {
    /// Cancelled, or every handle dropped.
    Closed,
    /// The connection broke; try the next server.
    Lost,
}

/// A request on the wire, waiting for its reply.
struct Pending {
    kind: WatchKind,
    path: String,
    watch: Watcher,
    reply: oneshot::Sender<Result<Reply, ZkError>>,
}

impl Conn {
    async fn run(mut self) {
        if self.servers.is_empty() {
            return;
        }
        let cancel = self.cancel.clone();
        let mut next = 0usize;
        let mut tried = 0usize;
        loop {
            if tried == self.servers.len() {
                tried = 0;
                self.fail_queued(&ZkError::NoServer);
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(ROUND_PAUSE) => {}
                }
                self.fail_queued(&ZkError::NoServer);
            }
            let server = self.servers[next].clone();
            next = (next + 1) % self.servers.len();
            tried += 1;
            let connected = tokio::select! {
                () = cancel.cancelled() => return,
                r = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&server)) => r,
            };
            let mut stream = match connected {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::info!(server, err = %e, "zk: failed to connect");
                    continue;
                }
                Err(_) => {
                    tracing::info!(server, "zk: failed to connect: timeout");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let mut buf = BytesMut::new();
            let negotiated = tokio::select! {
                () = cancel.cancelled() => return,
                r = self.handshake(&mut stream, &mut buf) => r,
            };
            let negotiated = match negotiated {
                Ok(Some(t)) => t,
                Ok(None) => {
                    tracing::info!(
                        server,
                        "zk: authentication failed: zk: session has been expired by the server"
                    );
                    self.expire();
                    continue;
                }
                Err(e) => {
                    tracing::info!(server, err = %e, "zk: authentication failed");
                    continue;
                }
            };
            tracing::debug!(server, session = self.session_id, "zk: connected");
            // The next round ends where this one connected (go-zookeeper's host provider).
            tried = 1;
            match self.serve(&mut stream, buf, negotiated).await {
                Ended::Closed => {
                    let close = Writer::new().i32(1).i32(jute::OP_CLOSE).finish();
                    let _ = tokio::time::timeout(CONNECT_TIMEOUT, stream.write_all(&close)).await;
                    self.fail_queued(&ZkError::Closing);
                    return;
                }
                Ended::Lost => {
                    tracing::info!(server, "zk: connection to server lost");
                }
            }
        }
    }

    /// Fails the requests queued while there is no connection.
    fn fail_queued(&mut self, err: &ZkError) {
        while let Ok(r) = self.requests.try_recv() {
            let _ = r.reply.send(Err(err.clone()));
        }
    }

    /// The session is gone: a new one starts, and every watcher hears that its watches went
    /// with it.
    fn expire(&mut self) {
        self.session_id = 0;
        self.passwd = vec![0; 16];
        self.last_zxid = 0;
        let mut told: Vec<Watcher> = Vec::new();
        for ((_, path), watchers) in self.watches.drain() {
            for w in watchers {
                if told.iter().any(|t| t.same_channel(&w)) {
                    continue;
                }
                let _ = w.send(WatchEvent {
                    kind: EventType::NotWatching,
                    path: path.clone(),
                });
                told.push(w);
            }
        }
    }

    /// Sends the connect request; the negotiated timeout, or `None` for an expired
    /// session.
    async fn handshake(
        &mut self,
        stream: &mut TcpStream,
        buf: &mut BytesMut,
    ) -> std::io::Result<Option<Duration>> {
        let req = Writer::new()
            .i32(0)
            .i64(self.last_zxid)
            .i32(self.timeout_ms)
            .i64(self.session_id)
            .buffer(&self.passwd)
            .finish();
        // go-zookeeper waits ten receive timeouts for the answer.
        let wait = Duration::from_millis(u64::try_from(self.timeout_ms).unwrap_or(0) * 20 / 3)
            .max(CONNECT_TIMEOUT);
        let frame = tokio::time::timeout(wait, async {
            stream.write_all(&req).await?;
            jute::read_frame(stream, buf).await
        })
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        let mut r = Reader::new(&frame);
        let bad = |_| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad connect response");
        let _protocol = r.i32().map_err(bad)?;
        let timeout = r.i32().map_err(bad)?;
        let session_id = r.i64().map_err(bad)?;
        let passwd = r.buffer().map_err(bad)?;
        if session_id == 0 || timeout <= 0 {
            return Ok(None);
        }
        self.session_id = session_id;
        self.passwd = passwd;
        Ok(Some(Duration::from_millis(
            u64::try_from(timeout).unwrap_or(1).max(1),
        )))
    }

    /// Runs one connected session until it breaks or the client closes.
    async fn serve(
        &mut self,
        stream: &mut TcpStream,
        mut buf: BytesMut,
        timeout: Duration,
    ) -> Ended {
        let recv_timeout = timeout * 2 / 3;
        let ping_every = (recv_timeout / 2).max(Duration::from_millis(1));
        let mut pending: HashMap<i32, Pending> = HashMap::new();
        let mut xid: i32 = 0;
        let mut next_xid = || {
            xid = if xid == i32::MAX { 1 } else { xid + 1 };
            xid
        };
        let mut last_recv = Instant::now();
        let mut last_send = Instant::now();
        let ended = 'session: {
            for frame in self.set_watches(&mut next_xid) {
                if write(stream, &frame, recv_timeout).await.is_err() {
                    break 'session Ended::Lost;
                }
            }
            loop {
                tokio::select! {
                    () = self.cancel.cancelled() => break 'session Ended::Closed,
                    req = self.requests.recv() => {
                        let Some(req) = req else { break 'session Ended::Closed };
                        let x = next_xid();
                        let op = match req.kind {
                            WatchKind::Data => jute::OP_GET_DATA,
                            WatchKind::Child => jute::OP_GET_CHILDREN2,
                        };
                        let frame = Writer::new().i32(x).i32(op).string(&req.path).bool(true).finish();
                        pending.insert(x, Pending { kind: req.kind, path: req.path, watch: req.watch, reply: req.reply });
                        if write(stream, &frame, recv_timeout).await.is_err() {
                            break 'session Ended::Lost;
                        }
                        last_send = Instant::now();
                    }
                    frame = jute::read_frame(stream, &mut buf) => {
                        let Ok(frame) = frame else { break 'session Ended::Lost };
                        last_recv = Instant::now();
                        if self.handle(&frame, &mut pending).is_err() {
                            tracing::warn!("zk: malformed frame from server");
                            break 'session Ended::Lost;
                        }
                    }
                    () = tokio::time::sleep_until(last_send + ping_every) => {
                        let frame = Writer::new().i32(jute::XID_PING).i32(jute::OP_PING).finish();
                        if write(stream, &frame, recv_timeout).await.is_err() {
                            break 'session Ended::Lost;
                        }
                        last_send = Instant::now();
                    }
                    () = tokio::time::sleep_until(last_recv + recv_timeout) => {
                        tracing::info!("zk: recv timeout, connection lost");
                        break 'session Ended::Lost;
                    }
                }
            }
        };
        for (_, p) in pending.drain() {
            let _ = p.reply.send(Err(match ended {
                Ended::Closed => ZkError::Closing,
                Ended::Lost => ZkError::ConnectionClosed,
            }));
        }
        ended
    }

    /// The `setWatches` requests re-arming every watch on a re-attached session, each at
    /// most 128 KiB (as go-zookeeper batches them; ZooKeeper refuses frames beyond its
    /// `jute.maxbuffer`).
    fn set_watches(&self, next_xid: &mut impl FnMut() -> i32) -> Vec<Bytes> {
        const BATCH: usize = 128 << 10;
        let mut keys: Vec<&(WatchKind, String)> = self.watches.keys().collect();
        keys.sort();
        let mut frames = Vec::new();
        let (mut data, mut child, mut size) = (Vec::new(), Vec::new(), 0usize);
        for (i, (kind, path)) in keys.iter().enumerate() {
            size += 4 + path.len();
            match kind {
                WatchKind::Data => data.push(path.clone()),
                WatchKind::Child => child.push(path.clone()),
            }
            if size >= BATCH || i + 1 == keys.len() {
                frames.push(
                    Writer::new()
                        .i32(next_xid())
                        .i32(jute::OP_SET_WATCHES)
                        .i64(self.last_zxid)
                        .strings(&std::mem::take(&mut data))
                        .strings(&[])
                        .strings(&std::mem::take(&mut child))
                        .finish(),
                );
                size = 0;
            }
        }
        frames
    }

    /// One frame from the server: a reply, a ping reply or a watch notification.
    fn handle(
        &mut self,
        frame: &Bytes,
        pending: &mut HashMap<i32, Pending>,
    ) -> Result<(), jute::Malformed> {
        let mut r = Reader::new(frame);
        let xid = r.i32()?;
        let zxid = r.i64()?;
        let err = r.i32()?;
        if zxid > 0 {
            self.last_zxid = zxid;
        }
        if xid == jute::XID_WATCH {
            let kind = r.i32()?;
            let _state = r.i32()?;
            let path = r.string()?;
            let (event, kinds): (EventType, &[WatchKind]) = match kind {
                jute::EVENT_NODE_CREATED => (EventType::Created, &[WatchKind::Data]),
                jute::EVENT_NODE_DELETED => {
                    (EventType::Deleted, &[WatchKind::Data, WatchKind::Child])
                }
                jute::EVENT_NODE_DATA_CHANGED => {
                    (EventType::DataChanged, &[WatchKind::Data, WatchKind::Child])
                }
                jute::EVENT_NODE_CHILDREN_CHANGED => {
                    (EventType::ChildrenChanged, &[WatchKind::Child])
                }
                // Session state changes carry no node event.
                _ => return Ok(()),
            };
            for k in kinds {
                for w in self.watches.remove(&(*k, path.clone())).unwrap_or_default() {
                    let _ = w.send(WatchEvent {
                        kind: event,
                        path: path.clone(),
                    });
                }
            }
            return Ok(());
        }
        let Some(p) = pending.remove(&xid) else {
            // Ping and setWatches replies.
            return Ok(());
        };
        let result = if err == jute::ERR_NO_NODE {
            Err(ZkError::NoNode)
        } else if err != 0 {
            Err(ZkError::Code(err))
        } else {
            let reply = match p.kind {
                WatchKind::Data => {
                    let data = r.buffer()?;
                    r.skip(jute::STAT_LEN)?;
                    Reply::Data(data)
                }
                WatchKind::Child => {
                    let children = r.strings()?;
                    r.skip(jute::STAT_LEN)?;
                    Reply::Children(children)
                }
            };
            let list = self.watches.entry((p.kind, p.path)).or_default();
            if !list.iter().any(|w| w.same_channel(&p.watch)) {
                list.push(p.watch);
            }
            Ok(reply)
        };
        let _ = p.reply.send(result);
        Ok(())
    }
}

async fn write(stream: &mut TcpStream, frame: &[u8], limit: Duration) -> std::io::Result<()> {
    tokio::time::timeout(limit, stream.write_all(frame))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Conn {
        let (_tx, requests) = mpsc::unbounded_channel();
        Conn {
            servers: Vec::new(),
            timeout_ms: 10_000,
            session_id: 1,
            passwd: vec![0; 16],
            last_zxid: 42,
            watches: HashMap::new(),
            requests,
            cancel: CancellationToken::new(),
        }
    }

    proptest::proptest! {
        /// Whatever a server sends, reading it fails or succeeds but never panics; a
        /// well-formed reply hands its data to the request and arms the watch.
        #[test]
        fn frames_from_the_server_are_read_safely(
            garbage in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            path in "/[a-z0-9_/]{0,20}",
        ) {
            let mut c = conn();
            let mut pending = HashMap::new();
            let _ = c.handle(&Bytes::from(garbage), &mut pending);
            let (w, mut events) = mpsc::unbounded_channel();
            let (reply, mut rx) = oneshot::channel();
            pending.insert(7, Pending { kind: WatchKind::Data, path: path.clone(), watch: w, reply });
            let frame = Writer::new().i32(7).i64(99).i32(0).buffer(&data).raw(&[0; jute::STAT_LEN]).finish();
            proptest::prop_assert!(c.handle(&frame.slice(4..), &mut pending).is_ok());
            match rx.try_recv() {
                Ok(Ok(Reply::Data(d))) => proptest::prop_assert_eq!(d, data),
                other => proptest::prop_assert!(false, "{other:?}"),
            }
            proptest::prop_assert_eq!(c.last_zxid, 99);
            let event = Writer::new().i32(jute::XID_WATCH).i64(-1).i32(0)
                .i32(jute::EVENT_NODE_DATA_CHANGED).i32(jute::STATE_SYNC_CONNECTED).string(&path).finish();
            proptest::prop_assert!(c.handle(&event.slice(4..), &mut pending).is_ok());
            proptest::prop_assert_eq!(events.try_recv().ok(), Some(WatchEvent { kind: EventType::DataChanged, path }));
            proptest::prop_assert!(c.watches.is_empty());
        }
    }

    #[test]
    fn many_watches_are_set_again_in_batches() {
        let (w, _events) = mpsc::unbounded_channel();
        let mut conn = conn();
        for i in 0..4000 {
            let path = format!("/some/rather/long/serverset/path/member_{i:010}");
            conn.watches
                .insert((WatchKind::Data, path.clone()), vec![w.clone()]);
            conn.watches
                .insert((WatchKind::Child, path), vec![w.clone()]);
        }
        let mut xid = 0;
        let frames = conn.set_watches(&mut || {
            xid += 1;
            xid
        });
        assert!(frames.len() > 1, "{} frames", frames.len());
        let (mut data, mut child) = (0, 0);
        for f in &frames {
            assert!(f.len() < (128 << 10) + 1024, "{}", f.len());
            let mut r = Reader::new(&f[4..]);
            let _xid = r.i32().unwrap();
            assert_eq!(r.i32().unwrap(), jute::OP_SET_WATCHES);
            assert_eq!(r.i64().unwrap(), 42);
            data += r.strings().unwrap().len();
            assert!(r.strings().unwrap().is_empty());
            child += r.strings().unwrap().len();
        }
        assert_eq!((data, child), (4000, 4000));
    }
}
