//! Tests of the ZooKeeper discoveries against an in-process fake ZooKeeper server.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::jute::{self, Reader, Writer};
use super::*;

#[derive(Debug)]
struct ZNode {
    data: Vec<u8>,
    /// The zxid of the last data change.
    mzxid: i64,
    /// The zxid of the last change of the children.
    pzxid: i64,
}

#[derive(Debug)]
struct FakeConn {
    id: u64,
    tx: mpsc::UnboundedSender<Bytes>,
    data_watches: HashSet<String>,
    child_watches: HashSet<String>,
    kill: CancellationToken,
}

#[derive(Debug, Default)]
struct State {
    nodes: BTreeMap<String, ZNode>,
    zxid: i64,
    sessions: HashSet<i64>,
    next_session: i64,
    next_conn: u64,
    conns: Vec<FakeConn>,
    /// Sessions created or re-attached, in order (`true`: a new session).
    handshakes: Vec<bool>,
}

/// A ZooKeeper server speaking the subset the client uses, on 127.0.0.1, with a tree the
/// test changes directly (each change fires the watches as ZooKeeper does).
struct FakeZk {
    state: Arc<Mutex<State>>,
    addr: SocketAddr,
    listener: Mutex<(
        CancellationToken,
        Option<tokio::sync::oneshot::Receiver<()>>,
    )>,
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "/",
    }
}

fn watch_event(kind: i32, path: &str) -> Bytes {
    Writer::new()
        .i32(jute::XID_WATCH)
        .i64(-1)
        .i32(0)
        .i32(kind)
        .i32(jute::STATE_SYNC_CONNECTED)
        .string(path)
        .finish()
}

impl State {
    fn fire(&mut self, kind: i32, path: &str) {
        for c in &mut self.conns {
            let data = matches!(
                kind,
                jute::EVENT_NODE_CREATED | jute::EVENT_NODE_DATA_CHANGED | jute::EVENT_NODE_DELETED
            ) && c.data_watches.remove(path);
            let child = matches!(
                kind,
                jute::EVENT_NODE_CHILDREN_CHANGED | jute::EVENT_NODE_DELETED
            ) && c.child_watches.remove(path);
            if data || child {
                let _ = c.tx.send(watch_event(kind, path));
            }
        }
    }

    fn children(&self, path: &str) -> Vec<String> {
        self.nodes
            .keys()
            .filter(|k| k.as_str() != path && parent(k) == path)
            .map(|k| k.rsplit('/').next().unwrap_or_default().to_owned())
            .collect()
    }

    fn conn(&mut self, id: u64) -> Option<&mut FakeConn> {
        self.conns.iter_mut().find(|c| c.id == id)
    }
}

impl FakeZk {
    async fn start() -> FakeZk {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut state = State::default();
        state.nodes.insert(
            "/".into(),
            ZNode {
                data: Vec::new(),
                mzxid: 0,
                pzxid: 0,
            },
        );
        let zk = FakeZk {
            state: Arc::new(Mutex::new(state)),
            addr,
            listener: Mutex::new((CancellationToken::new(), None)),
        };
        zk.serve(listener);
        zk
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    fn serve(&self, listener: TcpListener) {
        let cancel = CancellationToken::new();
        let (closed_tx, closed) = tokio::sync::oneshot::channel();
        *self.listener.lock().unwrap() = (cancel.clone(), Some(closed));
        let state = self.state.clone();
        tokio::spawn(async move {
            let _closed = closed_tx;
            loop {
                let stream = tokio::select! {
                    () = cancel.cancelled() => return,
                    r = listener.accept() => match r { Ok((s, _)) => s, Err(_) => return },
                };
                tokio::spawn(connection(state.clone(), stream, cancel.child_token()));
            }
        });
    }

    fn create(&self, path: &str, data: &[u8]) {
        let mut s = self.lock();
        assert!(s.nodes.contains_key(parent(path)), "no parent of {path}");
        s.zxid += 1;
        let z = s.zxid;
        s.nodes.insert(
            path.into(),
            ZNode {
                data: data.to_vec(),
                mzxid: z,
                pzxid: z,
            },
        );
        if let Some(p) = s.nodes.get_mut(parent(path)) {
            p.pzxid = z;
        }
        s.fire(jute::EVENT_NODE_CREATED, path);
        s.fire(jute::EVENT_NODE_CHILDREN_CHANGED, parent(path));
    }

    fn set(&self, path: &str, data: &[u8]) {
        let mut s = self.lock();
        s.zxid += 1;
        let z = s.zxid;
        let n = s.nodes.get_mut(path).expect("set on a missing node");
        n.data = data.to_vec();
        n.mzxid = z;
        s.fire(jute::EVENT_NODE_DATA_CHANGED, path);
    }

    fn delete(&self, path: &str) {
        let mut s = self.lock();
        assert!(s.children(path).is_empty(), "{path} has children");
        s.zxid += 1;
        let z = s.zxid;
        s.nodes.remove(path);
        if let Some(p) = s.nodes.get_mut(parent(path)) {
            p.pzxid = z;
        }
        s.fire(jute::EVENT_NODE_DELETED, path);
        s.fire(jute::EVENT_NODE_CHILDREN_CHANGED, parent(path));
    }

    /// Breaks every connection; sessions stay valid, as after a network blip.
    fn drop_connections(&self) {
        for c in self.lock().conns.drain(..) {
            c.kill.cancel();
        }
    }

    /// Stops listening (the port is free when this returns) and breaks every connection.
    async fn stop(&self) {
        let closed = {
            let mut l = self.listener.lock().unwrap();
            l.0.cancel();
            l.1.take()
        };
        if let Some(closed) = closed {
            let _ = closed.await;
        }
        self.drop_connections();
    }

    /// Listens again on the same port; `forget_sessions` as a server whose sessions
    /// expired while it was away.
    async fn restart(&self, forget_sessions: bool) {
        if forget_sessions {
            self.lock().sessions.clear();
        }
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.addr).unwrap();
        self.serve(socket.listen(16).unwrap());
    }

    fn handshakes(&self) -> Vec<bool> {
        self.lock().handshakes.clone()
    }
}

/// One client connection of the fake server.
async fn connection(state: Arc<Mutex<State>>, mut stream: TcpStream, cancel: CancellationToken) {
    let mut buf = BytesMut::new();
    let Ok(frame) = jute::read_frame(&mut stream, &mut buf).await else {
        return;
    };
    let mut r = Reader::new(&frame);
    let (Ok(_), Ok(_), Ok(timeout), Ok(session), Ok(_)) =
        (r.i32(), r.i64(), r.i32(), r.i64(), r.buffer())
    else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let kill = cancel.child_token();
    let (id, session) = {
        let mut s = state.lock().unwrap();
        let session = if session == 0 {
            s.next_session += 1;
            let id = s.next_session;
            s.sessions.insert(id);
            s.handshakes.push(true);
            Some(id)
        } else if s.sessions.contains(&session) {
            s.handshakes.push(false);
            Some(session)
        } else {
            None
        };
        s.next_conn += 1;
        let id = s.next_conn;
        if session.is_some() {
            s.conns.push(FakeConn {
                id,
                tx: tx.clone(),
                data_watches: HashSet::new(),
                child_watches: HashSet::new(),
                kill: kill.clone(),
            });
        }
        (id, session)
    };
    let Some(session) = session else {
        // Expired: ZooKeeper answers with a zero session and timeout, then closes.
        let reply = Writer::new().i32(0).i32(0).i64(0).buffer(&[0; 16]).finish();
        let _ = stream.write_all(&reply).await;
        return;
    };
    let reply = Writer::new()
        .i32(0)
        .i32(timeout)
        .i64(session)
        .buffer(&[7; 16])
        .finish();
    if stream.write_all(&reply).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            () = kill.cancelled() => break,
            out = rx.recv() => {
                let Some(out) = out else { break };
                if stream.write_all(&out).await.is_err() {
                    break;
                }
            }
            frame = jute::read_frame(&mut stream, &mut buf) => {
                let Ok(frame) = frame else { break };
                if !request(&state, id, session, &frame, &tx) {
                    break;
                }
            }
        }
    }
    let mut s = state.lock().unwrap();
    s.conns.retain(|c| c.id != id);
}

/// Answers one request; false to close the connection.
fn request(
    state: &Mutex<State>,
    conn: u64,
    session: i64,
    frame: &[u8],
    tx: &mpsc::UnboundedSender<Bytes>,
) -> bool {
    let mut s = state.lock().unwrap();
    let mut r = Reader::new(frame);
    let (Ok(xid), Ok(op)) = (r.i32(), r.i32()) else {
        return false;
    };
    let zxid = s.zxid;
    let header = |err: i32| Writer::new().i32(xid).i64(zxid).i32(err);
    let reply = match op {
        jute::OP_PING => header(0).finish(),
        jute::OP_CLOSE => {
            s.sessions.remove(&session);
            let _ = tx.send(header(0).finish());
            return false;
        }
        jute::OP_GET_DATA | jute::OP_GET_CHILDREN2 => {
            let (Ok(path), Ok(watch)) = (r.string(), r.bool()) else {
                return false;
            };
            if !s.nodes.contains_key(&path) {
                header(jute::ERR_NO_NODE).finish()
            } else if op == jute::OP_GET_DATA {
                let data = s.nodes[&path].data.clone();
                if watch && let Some(c) = s.conn(conn) {
                    c.data_watches.insert(path);
                }
                header(0).buffer(&data).raw(&[0; jute::STAT_LEN]).finish()
            } else {
                let children = s.children(&path);
                if watch && let Some(c) = s.conn(conn) {
                    c.child_watches.insert(path);
                }
                header(0)
                    .strings(&children)
                    .raw(&[0; jute::STAT_LEN])
                    .finish()
            }
        }
        jute::OP_SET_WATCHES => {
            let (Ok(rel), Ok(data), Ok(exist), Ok(child)) =
                (r.i64(), r.strings(), r.strings(), r.strings())
            else {
                return false;
            };
            assert!(exist.is_empty());
            let mut events = Vec::new();
            for p in data {
                match s.nodes.get(&p) {
                    None => events.push((jute::EVENT_NODE_DELETED, p)),
                    Some(n) if n.mzxid > rel => events.push((jute::EVENT_NODE_DATA_CHANGED, p)),
                    Some(_) => {
                        if let Some(c) = s.conn(conn) {
                            c.data_watches.insert(p);
                        }
                    }
                }
            }
            for p in child {
                match s.nodes.get(&p) {
                    None => events.push((jute::EVENT_NODE_DELETED, p)),
                    Some(n) if n.pzxid > rel => events.push((jute::EVENT_NODE_CHILDREN_CHANGED, p)),
                    Some(_) => {
                        if let Some(c) = s.conn(conn) {
                            c.child_watches.insert(p);
                        }
                    }
                }
            }
            let _ = tx.send(header(0).finish());
            for (kind, p) in events {
                let _ = tx.send(watch_event(kind, &p));
            }
            return true;
        }
        _ => header(-6).finish(),
    };
    let _ = tx.send(reply);
    true
}

/// The groups a running discovery sent, by source, as the manager keeps them.
#[derive(Clone, Default)]
struct Groups(Arc<Mutex<BTreeMap<String, TargetGroup>>>);

impl Groups {
    fn targets(&self, source: &str) -> Vec<Labels> {
        self.0
            .lock()
            .unwrap()
            .get(source)
            .map(|g| g.targets.clone())
            .unwrap_or_default()
    }

    /// The sources with targets.
    fn sources(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .values()
            .filter(|g| !g.targets.is_empty())
            .map(|g| g.source.clone())
            .collect()
    }

    async fn wait(&self, what: &str, pred: impl Fn(&Groups) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !pred(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; groups: {:?}",
                self.0.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Runs a discovery of `kind` for `paths` against `zk` (retrying after 100ms), until the
/// returned token is cancelled.
fn run(zk: &FakeZk, kind: Kind, paths: &[&str]) -> (Groups, CancellationToken, Arc<Mutex<u64>>) {
    let cfg = ZookeeperSdConfig {
        servers: vec![zk.addr.to_string()],
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        ..ZookeeperSdConfig::default()
    };
    let mut d = Discovery::new(&cfg, kind).unwrap();
    d.retry = Duration::from_millis(100);
    let groups = Groups::default();
    let failures = Arc::new(Mutex::new(0u64));
    let cancel = CancellationToken::new();
    let (g, c, f) = (groups.clone(), cancel.clone(), failures.clone());
    tokio::spawn(async move {
        let count = move || *f.lock().unwrap() += 1;
        d.run(
            c,
            |update| {
                let mut g = g.0.lock().unwrap();
                for group in update {
                    g.insert(group.source.clone(), group);
                }
            },
            &count,
        )
        .await;
    });
    (groups, cancel, failures)
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

const MEMBER_A: &[u8] = br#"{"serviceEndpoint":{"host":"10.0.0.1","port":8080},"additionalEndpoints":{"http-admin":{"host":"10.0.0.1","port":9990}},"status":"ALIVE","shard":2}"#;

#[test]
fn serverset_members_are_labelled_as_prometheus_does() {
    let l = parse_serverset_member(MEMBER_A, "/aurora/prod/member_0000000001").unwrap();
    assert_eq!(
        l,
        labels(&[
            ("__address__", "10.0.0.1:8080"),
            ("__meta_serverset_endpoint_host", "10.0.0.1"),
            ("__meta_serverset_endpoint_host_http_admin", "10.0.0.1"),
            ("__meta_serverset_endpoint_port", "8080"),
            ("__meta_serverset_endpoint_port_http_admin", "9990"),
            ("__meta_serverset_path", "/aurora/prod/member_0000000001"),
            ("__meta_serverset_shard", "2"),
            ("__meta_serverset_status", "ALIVE"),
        ])
    );
    // IPv6 hosts are bracketed; keys match whatever their case (Go's encoding/json);
    // missing fields are Go's zero values; unknown ones are ignored.
    let l = parse_serverset_member(
        br#"{"ServiceEndpoint":{"HOST":"::1","Port":80},"x":1}"#,
        "/s/m",
    )
    .unwrap();
    assert_eq!(
        l,
        labels(&[
            ("__address__", "[::1]:80"),
            ("__meta_serverset_endpoint_host", "::1"),
            ("__meta_serverset_endpoint_port", "80"),
            ("__meta_serverset_path", "/s/m"),
            ("__meta_serverset_shard", "0"),
            ("__meta_serverset_status", ""),
        ])
    );
    // JSON null decodes into Go's zero member.
    assert_eq!(
        parse_serverset_member(b"null", "/s")
            .unwrap()
            .get("__address__"),
        Some(":0")
    );
    for bad in [
        &b""[..],
        b"garbage",
        b"[1]",
        b"\"x\"",
        br#"{"serviceEndpoint":{"port":"80"}}"#,
        br#"{"shard":1.5}"#,
        br#"{"additionalEndpoints":[]}"#,
    ] {
        let err = parse_serverset_member(bad, "/s/m").unwrap_err();
        assert!(
            err.starts_with("error unmarshaling serverset member \"/s/m\": "),
            "{err}"
        );
    }
}

/// The `__address__` and the additional endpoints' labels of a serverset member.
fn summary(data: &str) -> Vec<(String, String)> {
    let l = parse_serverset_member(data.as_bytes(), "/m").unwrap();
    l.iter()
        .filter(|(n, _)| *n == "__address__" || n.starts_with("__meta_serverset_endpoint_"))
        .filter(|(n, _)| {
            !matches!(
                *n,
                "__meta_serverset_endpoint_host" | "__meta_serverset_endpoint_port"
            )
        })
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn member_json_is_decoded_as_go_decodes_it() {
    // Each case as Prometheus 2.42 discovered it from a real ZooKeeper (it drops the empty
    // label values later, when it builds targets; here they are still there).
    let cases: &[(&str, &[(&str, &str)])] = &[
        // Keys differing in case fill the same field, the last one winning...
        (
            r#"{"serviceEndpoint":{"host":"x","port":1},"serviceendpoint":{"host":"w","port":2}}"#,
            &[("__address__", "w:2")],
        ),
        // ... into the struct as it was, and into the map as it was.
        (
            r#"{"serviceEndpoint":{"host":"a"},"ServiceEndpoint":{"port":5},"additionalEndpoints":{"x":{"host":"h","port":1}},"AdditionalEndpoints":{"y":{"port":2}}}"#,
            &[
                ("__address__", "a:5"),
                ("__meta_serverset_endpoint_host_x", "h"),
                ("__meta_serverset_endpoint_host_y", ""),
                ("__meta_serverset_endpoint_port_x", "1"),
                ("__meta_serverset_endpoint_port_y", "2"),
            ],
        ),
        // null empties the map; a repeated map key starts from a zero endpoint.
        (
            r#"{"serviceEndpoint":{"host":"b","port":1},"additionalEndpoints":{"x":{"host":"h","port":1}},"AdditionalEndpoints":null}"#,
            &[("__address__", "b:1")],
        ),
        (
            r#"{"serviceEndpoint":{"host":"c","port":1},"additionalEndpoints":{"x":{"host":"h","port":1},"x":{"port":3}}}"#,
            &[
                ("__address__", "c:1"),
                ("__meta_serverset_endpoint_host_x", ""),
                ("__meta_serverset_endpoint_port_x", "3"),
            ],
        ),
        (
            r#"{"serviceEndpoint":{"host":"127.0.0.1","port":8080},"additionalEndpoints":{"a.b":null}}"#,
            &[
                ("__address__", "127.0.0.1:8080"),
                ("__meta_serverset_endpoint_host_a_b", ""),
                ("__meta_serverset_endpoint_port_a_b", "0"),
            ],
        ),
        (
            r#"{"serviceEndpoint":{"host":"x","port":-5},"shard":-1}"#,
            &[("__address__", "x:-5")],
        ),
        // Go's case folding takes the long s for an s.
        (
            r#"{"\u017ferviceEndpoint":{"host":"k","port":7}}"#,
            &[("__address__", "k:7")],
        ),
    ];
    for (data, want) in cases {
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(summary(data), want, "{data}");
    }
    // Numbers that are not integer literals, or too big for an int, fail the member.
    for bad in [
        r#"{"serviceEndpoint":{"port":80.0}}"#,
        r#"{"serviceEndpoint":{"port":1e2}}"#,
        r#"{"shard":9223372036854775808}"#,
    ] {
        assert!(
            parse_serverset_member(bad.as_bytes(), "/m").is_err(),
            "{bad}"
        );
    }
}

proptest::proptest! {
    /// Any bytes decode or fail without a panic.
    #[test]
    fn member_data_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        let _ = parse_serverset_member(&data, "/m");
        let _ = parse_nerve_member(&data, "/m");
    }

    /// A member as a serverset writer encodes it comes back as its labels.
    #[test]
    fn serverset_members_round_trip(
        host in "[a-z0-9.:\\-]{0,20}",
        port in proptest::num::i64::ANY,
        status in "[A-Z_]{0,10}",
        shard in proptest::num::i64::ANY,
        extra in proptest::collection::btree_map("[a-z\\-]{1,8}", ("[a-z0-9.]{1,10}", 0i64..65536), 0..4),
    ) {
        let additional: serde_json::Map<String, serde_json::Value> = extra
            .iter()
            .map(|(n, (h, p))| (n.clone(), serde_json::json!({"host": h, "port": p})))
            .collect();
        let data = serde_json::json!({
            "serviceEndpoint": {"host": host, "port": port},
            "additionalEndpoints": additional,
            "status": status,
            "shard": shard,
        })
        .to_string();
        let l = parse_serverset_member(data.as_bytes(), "/p/m").unwrap();
        let address = crate::util::join_host_port(&host, port);
        let port_s = port.to_string();
        let shard_s = shard.to_string();
        proptest::prop_assert_eq!(l.get("__address__"), Some(address.as_str()));
        proptest::prop_assert_eq!(l.get("__meta_serverset_endpoint_port"), Some(port_s.as_str()));
        proptest::prop_assert_eq!(l.get("__meta_serverset_status"), Some(status.as_str()));
        proptest::prop_assert_eq!(l.get("__meta_serverset_shard"), Some(shard_s.as_str()));
        for (n, (h, p)) in &extra {
            let n = crate::util::sanitize(n);
            let p = p.to_string();
            proptest::prop_assert_eq!(l.get(&format!("__meta_serverset_endpoint_host_{n}")), Some(h.as_str()));
            proptest::prop_assert_eq!(l.get(&format!("__meta_serverset_endpoint_port_{n}")), Some(p.as_str()));
        }
    }
}

#[test]
fn servers_are_checked_as_go_splits_them() {
    for ok in ["zk1", "zk1:2181", "127.0.0.1:2181", "[::1]:2181"] {
        assert_eq!(check_server(ok), Ok(()), "{ok}");
    }
    for (bad, why) in [
        ("::1", "too many colons in address"),
        ("[::1]", "missing port in address"),
        ("[::1:2181", "missing ']' in address"),
        ("a:b:c", "too many colons in address"),
    ] {
        assert_eq!(check_server(bad), Err(format!("address {bad}: {why}")));
    }
}

#[test]
fn nerve_members_are_labelled_as_prometheus_does() {
    let l = parse_nerve_member(
        br#"{"host":"fc00::2","port":1234,"name":"web-1"}"#,
        "/nerve/services/web/services/m1",
    )
    .unwrap();
    assert_eq!(
        l,
        labels(&[
            ("__address__", "[fc00::2]:1234"),
            ("__meta_nerve_endpoint_host", "fc00::2"),
            ("__meta_nerve_endpoint_name", "web-1"),
            ("__meta_nerve_endpoint_port", "1234"),
            ("__meta_nerve_path", "/nerve/services/web/services/m1"),
        ])
    );
    let err = parse_nerve_member(br#"{"host":1}"#, "/n").unwrap_err();
    assert!(
        err.starts_with("error unmarshaling nerve member \"/n\": "),
        "{err}"
    );
}

#[tokio::test]
async fn serverset_members_are_found_and_follow_their_znodes() {
    let zk = FakeZk::start().await;
    zk.create("/aurora", b"");
    zk.create("/aurora/prod", b"");
    zk.create("/aurora/prod/member_0000000001", MEMBER_A);
    zk.create("/aurora/prod/member_0000000002", b"{not json");
    let (groups, cancel, _) = run(&zk, Kind::Serverset, &["/aurora/prod"]);
    let a = "/aurora/prod/member_0000000001";
    groups
        .wait("the first member", |g| !g.targets(a).is_empty())
        .await;
    // The garbage member and the path's own node (empty data) have no targets.
    groups
        .wait("every node's group", |g| g.0.lock().unwrap().len() == 3)
        .await;
    assert_eq!(groups.sources(), [a]);
    assert_eq!(
        groups.targets(a),
        [parse_serverset_member(MEMBER_A, a).unwrap()]
    );

    // A new member appears through the children watch.
    let b = "/aurora/prod/member_0000000003";
    zk.create(
        b,
        br#"{"serviceEndpoint":{"host":"10.0.0.3","port":80},"status":"ALIVE"}"#,
    );
    groups
        .wait("the new member", |g| g.sources() == [a, b])
        .await;
    assert_eq!(groups.targets(b)[0].get("__address__"), Some("10.0.0.3:80"));

    // Changed data through the data watch.
    zk.set(
        b,
        br#"{"serviceEndpoint":{"host":"10.0.0.3","port":81},"status":"STOPPING"}"#,
    );
    groups
        .wait("the changed member", |g| {
            g.targets(b)
                .first()
                .and_then(|l| l.get("__meta_serverset_status"))
                == Some("STOPPING")
        })
        .await;
    assert_eq!(groups.targets(b)[0].get("__address__"), Some("10.0.0.3:81"));

    // The garbage member, fixed, gets its target; broken again, loses it.
    let c = "/aurora/prod/member_0000000002";
    zk.set(c, br#"{"serviceEndpoint":{"host":"h","port":1}}"#);
    groups
        .wait("the fixed member", |g| g.sources() == [a, c, b])
        .await;
    zk.set(c, b"[]");
    groups
        .wait("the broken member", |g| g.sources() == [a, b])
        .await;

    // A deleted member's group is emptied.
    zk.delete(a);
    groups
        .wait("the deleted member", |g| g.sources() == [b])
        .await;
    assert!(groups.targets(a).is_empty());

    // Members in deeper nodes count too (the whole tree is watched).
    zk.create("/aurora/prod/shard", b"");
    zk.create(
        "/aurora/prod/shard/m",
        br#"{"serviceEndpoint":{"host":"d","port":2}}"#,
    );
    groups
        .wait("the deeper member", |g| g.sources().len() == 2)
        .await;
    assert_eq!(
        groups.targets("/aurora/prod/shard/m")[0].get("__address__"),
        Some("d:2")
    );
    cancel.cancel();
}

#[tokio::test]
async fn nerve_members_are_found_on_every_path() {
    let zk = FakeZk::start().await;
    zk.create("/nerve", b"");
    zk.create("/nerve/web", b"");
    zk.create("/nerve/api", b"");
    zk.create(
        "/nerve/web/i-1",
        br#"{"host":"127.0.0.2","port":8000,"name":"web"}"#,
    );
    zk.create(
        "/nerve/api/i-2",
        br#"{"host":"127.0.0.3","port":9000,"name":"api"}"#,
    );
    let (groups, cancel, _) = run(&zk, Kind::Nerve, &["/nerve/web", "/nerve/api"]);
    groups
        .wait("both members", |g| g.sources().len() == 2)
        .await;
    assert_eq!(
        groups.targets("/nerve/web/i-1"),
        [labels(&[
            ("__address__", "127.0.0.2:8000"),
            ("__meta_nerve_endpoint_host", "127.0.0.2"),
            ("__meta_nerve_endpoint_name", "web"),
            ("__meta_nerve_endpoint_port", "8000"),
            ("__meta_nerve_path", "/nerve/web/i-1"),
        ])]
    );
    assert_eq!(
        groups.targets("/nerve/api/i-2")[0].get("__address__"),
        Some("127.0.0.3:9000")
    );
    zk.delete("/nerve/api/i-2");
    groups
        .wait("the deleted member", |g| g.sources() == ["/nerve/web/i-1"])
        .await;
    cancel.cancel();
}

#[tokio::test]
async fn a_missing_path_is_retried_until_it_exists() {
    let zk = FakeZk::start().await;
    let (groups, cancel, failures) = run(&zk, Kind::Nerve, &["/late"]);
    groups
        .wait("a failure", |_| *failures.lock().unwrap() > 0)
        .await;
    zk.create("/late", b"");
    zk.create("/late/m", br#"{"host":"h","port":1,"name":"n"}"#);
    groups
        .wait("the member", |g| g.sources() == ["/late/m"])
        .await;
    // The path going away empties its groups; coming back brings them again.
    zk.delete("/late/m");
    zk.delete("/late");
    groups.wait("no members", |g| g.sources().is_empty()).await;
    zk.create("/late", b"");
    zk.create("/late/m2", br#"{"host":"h","port":2,"name":"n"}"#);
    groups
        .wait("the new member", |g| g.sources() == ["/late/m2"])
        .await;
    cancel.cancel();
}

#[tokio::test]
async fn a_broken_connection_keeps_the_session_and_its_watches() {
    let zk = FakeZk::start().await;
    zk.create("/s", b"");
    zk.create("/s/a", br#"{"serviceEndpoint":{"host":"a","port":1}}"#);
    let (groups, cancel, failures) = run(&zk, Kind::Serverset, &["/s"]);
    groups.wait("the member", |g| g.sources() == ["/s/a"]).await;
    zk.drop_connections();
    // Changes while the client is away are noticed when its watches are set again.
    zk.set("/s/a", br#"{"serviceEndpoint":{"host":"a","port":2}}"#);
    zk.create("/s/b", br#"{"serviceEndpoint":{"host":"b","port":1}}"#);
    groups
        .wait("the changes", |g| {
            g.sources() == ["/s/a", "/s/b"]
                && g.targets("/s/a")[0].get("__address__") == Some("a:2")
        })
        .await;
    assert_eq!(zk.handshakes(), [true, false], "one session, re-attached");
    assert_eq!(*failures.lock().unwrap(), 0);
    // And the watches work on.
    zk.delete("/s/b");
    groups
        .wait("the deleted member", |g| g.sources() == ["/s/a"])
        .await;
    cancel.cancel();
}

#[tokio::test]
async fn an_expired_session_is_replaced_and_the_tree_read_again() {
    let zk = FakeZk::start().await;
    zk.create("/s", b"");
    zk.create("/s/a", br#"{"serviceEndpoint":{"host":"a","port":1}}"#);
    zk.create("/s/b", br#"{"serviceEndpoint":{"host":"b","port":1}}"#);
    let (groups, cancel, failures) = run(&zk, Kind::Serverset, &["/s"]);
    groups
        .wait("the members", |g| g.sources() == ["/s/a", "/s/b"])
        .await;
    zk.stop().await;
    // While the server is away, a member goes and another comes.
    zk.delete("/s/a");
    zk.create("/s/c", br#"{"serviceEndpoint":{"host":"c","port":1}}"#);
    zk.restart(true).await;
    groups
        .wait("the resynced members", |g| g.sources() == ["/s/b", "/s/c"])
        .await;
    assert!(*failures.lock().unwrap() >= 1);
    assert_eq!(
        zk.handshakes().iter().filter(|new| **new).count(),
        2,
        "{:?}",
        zk.handshakes()
    );
    // The new session's watches work.
    zk.set("/s/c", br#"{"serviceEndpoint":{"host":"c","port":2}}"#);
    groups
        .wait("the changed member", |g| {
            g.targets("/s/c").first().and_then(|l| l.get("__address__")) == Some("c:2")
        })
        .await;
    cancel.cancel();
}

#[tokio::test]
async fn requests_fail_without_a_server_and_go_through_once_it_is_up() {
    // A port with nothing listening: the queued request fails after a round of servers.
    let zk = FakeZk::start().await;
    zk.stop().await;
    let client = client::Client::connect(&[zk.addr.to_string()], Duration::from_secs(10));
    let (w, _events) = mpsc::unbounded_channel();
    assert_eq!(
        client.get_data("/", &w).await,
        Err(client::ZkError::NoServer)
    );
    zk.restart(false).await;
    zk.create("/x", b"data");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match client.get_data("/x", &w).await {
            Ok(d) => {
                assert_eq!(d, b"data");
                break;
            }
            Err(e) => assert!(tokio::time::Instant::now() < deadline, "{e}"),
        }
    }
    assert_eq!(
        client.get_data("/nope", &w).await,
        Err(client::ZkError::NoNode)
    );
    let mut children = client.children("/", &w).await.unwrap();
    children.sort();
    assert_eq!(children, ["x"]);
}

/// A bare session for changing a real ZooKeeper's tree: create, setData and delete.
struct Admin {
    stream: TcpStream,
    buf: BytesMut,
    xid: i32,
}

impl Admin {
    async fn connect(server: &str) -> Admin {
        let mut stream = TcpStream::connect(server).await.unwrap();
        let req = Writer::new()
            .i32(0)
            .i64(0)
            .i32(10_000)
            .i64(0)
            .buffer(&[0; 16])
            .finish();
        stream.write_all(&req).await.unwrap();
        let mut buf = BytesMut::new();
        jute::read_frame(&mut stream, &mut buf).await.unwrap();
        Admin {
            stream,
            buf,
            xid: 0,
        }
    }

    /// Sends one request (`body` after the header) and returns the reply's error code.
    async fn call(&mut self, op: i32, body: impl FnOnce(Writer) -> Writer) -> i32 {
        self.xid += 1;
        let frame = body(Writer::new().i32(self.xid).i32(op)).finish();
        self.stream.write_all(&frame).await.unwrap();
        loop {
            let reply = jute::read_frame(&mut self.stream, &mut self.buf)
                .await
                .unwrap();
            let mut r = Reader::new(&reply);
            if r.i32().unwrap() == self.xid {
                let _zxid = r.i64().unwrap();
                return r.i32().unwrap();
            }
        }
    }

    async fn create(&mut self, path: &str, data: &[u8]) {
        let err = self
            .call(1, |w| {
                w.string(path)
                    .buffer(data)
                    .i32(1)
                    .i32(31)
                    .string("world")
                    .string("anyone")
                    .i32(0)
            })
            .await;
        assert_eq!(err, 0, "create {path}");
    }

    async fn set(&mut self, path: &str, data: &[u8]) {
        assert_eq!(
            self.call(5, |w| w.string(path).buffer(data).i32(-1)).await,
            0,
            "set {path}"
        );
    }

    async fn delete(&mut self, path: &str) {
        assert_eq!(
            self.call(2, |w| w.string(path).i32(-1)).await,
            0,
            "delete {path}"
        );
    }
}

/// Against a real ZooKeeper named by `ZOOKEEPER_TEST_SERVER` (e.g. `127.0.0.1:2181` of a
/// local `zookeeper` package's server): the fake's protocol is checked there.
#[tokio::test]
#[ignore = "needs a ZooKeeper server on a loopback address in ZOOKEEPER_TEST_SERVER"]
async fn a_real_zookeeper_is_discovered_and_watched() {
    let Ok(server) = std::env::var("ZOOKEEPER_TEST_SERVER") else {
        eprintln!("skipped: ZOOKEEPER_TEST_SERVER is not set");
        return;
    };
    let root = format!("/prometheus_rs_test_{}", std::process::id());
    let mut admin = Admin::connect(&server).await;
    admin.create(&root, b"").await;
    let a = format!("{root}/member_1");
    admin.create(&a, MEMBER_A).await;
    let cfg = ZookeeperSdConfig {
        servers: vec![server.clone()],
        paths: vec![root.clone()],
        ..ZookeeperSdConfig::default()
    };
    let d = Discovery::new(&cfg, Kind::Serverset).unwrap();
    let groups = Groups::default();
    let cancel = CancellationToken::new();
    let (g, c) = (groups.clone(), cancel.clone());
    let task = tokio::spawn(async move {
        d.run(
            c,
            |update| {
                let mut g = g.0.lock().unwrap();
                for group in update {
                    g.insert(group.source.clone(), group);
                }
            },
            &|| {},
        )
        .await;
    });
    groups
        .wait("the member", |g| g.sources() == [a.clone()])
        .await;
    assert_eq!(
        groups.targets(&a),
        [parse_serverset_member(MEMBER_A, &a).unwrap()]
    );
    let b = format!("{root}/member_2");
    admin
        .create(&b, br#"{"serviceEndpoint":{"host":"127.0.0.9","port":9}}"#)
        .await;
    groups
        .wait("the new member", |g| g.sources() == [a.clone(), b.clone()])
        .await;
    admin
        .set(&b, br#"{"serviceEndpoint":{"host":"127.0.0.9","port":10}}"#)
        .await;
    groups
        .wait("the changed member", |g| {
            g.targets(&b).first().and_then(|l| l.get("__address__")) == Some("127.0.0.9:10")
        })
        .await;
    admin.delete(&a).await;
    groups
        .wait("the deleted member", |g| g.sources() == [b.clone()])
        .await;
    admin.delete(&b).await;
    admin.delete(&root).await;
    groups.wait("nothing", |g| g.sources().is_empty()).await;
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn the_manager_runs_both_kinds_for_their_jobs() {
    let zk = FakeZk::start().await;
    zk.create("/ss", b"");
    zk.create("/ss/m", MEMBER_A);
    zk.create("/nv", b"");
    zk.create(
        "/nv/m",
        br#"{"host":"127.0.0.4","port":9100,"name":"node"}"#,
    );
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: ss\n  serverset_sd_configs: [{{servers: ['{0}'], paths: [/ss]}}]\n- job_name: nv\n  nerve_sd_configs: [{{servers: ['{0}'], paths: [/nv]}}]\n",
            zk.addr
        ),
        "",
    )
    .unwrap();
    let m = crate::Manager::new(crate::Options {
        update_interval: Duration::from_millis(10),
        ..crate::Options::default()
    });
    let mut sets = m.subscribe();
    m.apply_config(&cfg).unwrap();
    let runner = m.clone();
    let task = tokio::spawn(async move { runner.run().await });
    let address = |s: &crate::TargetSets, job: &str| -> Vec<String> {
        s.get(job)
            .into_iter()
            .flatten()
            .flat_map(|g| &g.targets)
            .filter_map(|t| t.get("__address__").map(str::to_owned))
            .collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        {
            let s = sets.borrow_and_update();
            if address(&s, "ss") == ["10.0.0.1:8080"] && address(&s, "nv") == ["127.0.0.4:9100"] {
                break;
            }
        }
        match tokio::time::timeout_at(deadline, sets.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!("timed out; last: {:?}", *sets.borrow()),
        }
    }
    zk.delete("/nv/m");
    loop {
        if address(&sets.borrow_and_update(), "nv").is_empty() {
            break;
        }
        match tokio::time::timeout_at(deadline, sets.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!("timed out; last: {:?}", *sets.borrow()),
        }
    }
    m.stop();
    task.await.unwrap();
}
