//! Integration tests of the discovery crate through its public API: Kubernetes SD against
//! a fake Kubernetes API server on 127.0.0.1 that serves lists and watch streams.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use discovery::{Manager, Options, TargetSets};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use model::TargetGroup;
use serde_json::json;
use tokio::sync::{mpsc, watch};

/// A response body fed line by line through a channel: a watch stream.
struct Stream(mpsc::UnboundedReceiver<Bytes>);

impl Body for Stream {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

type Reply = http_body_util::combinators::UnsyncBoxBody<Bytes, std::convert::Infallible>;

#[derive(Default)]
struct ApiState {
    /// The list answer per path.
    lists: HashMap<String, serde_json::Value>,
    /// Every request's path and query.
    requests: Vec<String>,
    /// Every request's `Authorization` header.
    authorizations: Vec<String>,
    /// The open watch streams per path, newest last.
    watches: HashMap<String, Vec<mpsc::UnboundedSender<Bytes>>>,
}

/// A fake Kubernetes API server: lists answer with what the test set, watches stay open and
/// stream what the test sends.
struct FakeApi {
    addr: SocketAddr,
    state: Arc<Mutex<ApiState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApi {
    async fn start() -> FakeApi {
        FakeApi::start_with(None).await
    }

    /// A server speaking TLS with the httpclient crate's test certificate (for `localhost`
    /// and 127.0.0.1, signed by its `ca.crt`).
    async fn start_tls() -> FakeApi {
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
        FakeApi::start_with(Some(Arc::new(cfg))).await
    }

    async fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> FakeApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(ApiState::default()));
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (st, tls) = (st.clone(), tls.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: http::Request<Incoming>| {
                        let st = st.clone();
                        async move { Ok::<_, std::convert::Infallible>(answer(&st, &req)) }
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
        FakeApi { addr, state, task }
    }

    fn set_list(&self, path: &str, rv: &str, items: Vec<serde_json::Value>) {
        self.state.lock().unwrap().lists.insert(
            path.into(),
            json!({"kind": "List", "metadata": {"resourceVersion": rv}, "items": items}),
        );
    }

    /// Serves the list of `path` in pages: page `i` carries the continue token `p<i+1>`,
    /// the last none.
    fn set_pages(&self, path: &str, rv: &str, pages: Vec<Vec<serde_json::Value>>) {
        let n = pages.len();
        let pages: Vec<serde_json::Value> = pages
            .into_iter()
            .enumerate()
            .map(|(i, items)| {
                let token = if i + 1 < n {
                    format!("p{}", i + 1)
                } else {
                    String::new()
                };
                json!({"metadata": {"resourceVersion": rv, "continue": token}, "items": items})
            })
            .collect();
        self.state
            .lock()
            .unwrap()
            .lists
            .insert(path.into(), serde_json::Value::Array(pages));
    }

    fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Sends a watch event on the newest watch of `path`; false while none is open.
    fn send(&self, path: &str, kind: &str, object: serde_json::Value) -> bool {
        let st = self.state.lock().unwrap();
        let Some(tx) = st.watches.get(path).and_then(|w| w.last()) else {
            return false;
        };
        let line = json!({"type": kind, "object": object}).to_string() + "\n";
        tx.send(Bytes::from(line)).is_ok()
    }

    fn watch_count(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .watches
            .get(path)
            .map_or(0, Vec::len)
    }
}

/// A file of the httpclient crate's TLS test data.
fn httpclient_testdata(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../httpclient/testdata")
        .join(name)
        .display()
        .to_string()
}

fn answer(st: &Mutex<ApiState>, req: &http::Request<Incoming>) -> http::Response<Reply> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let mut st = st.lock().unwrap();
    st.requests.push(format!("{path}?{query}"));
    let auth = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    st.authorizations.push(auth);
    if query.split('&').any(|kv| kv == "watch=true") {
        let (tx, rx) = mpsc::unbounded_channel();
        st.watches.entry(path).or_default().push(tx);
        return http::Response::builder()
            .header("content-type", "application/json")
            .body(Stream(rx).boxed_unsync())
            .unwrap();
    }
    let page = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("continue=p"))
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(0);
    let list = match st.lists.get(&path) {
        Some(serde_json::Value::Array(pages)) => pages.get(page).cloned(),
        other => other.cloned(),
    };
    match list {
        Some(list) => http::Response::builder()
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(list.to_string())).boxed_unsync())
            .unwrap(),
        None => http::Response::builder()
            .status(404)
            .body(Full::new(Bytes::from_static(b"{}")).boxed_unsync())
            .unwrap(),
    }
}

fn pod(name: &str, rv: &str, ip: &str, ports: &[i32]) -> serde_json::Value {
    let ports: Vec<_> = ports
        .iter()
        .map(|p| json!({"name": format!("p{p}"), "containerPort": p, "protocol": "TCP"}))
        .collect();
    json!({
        "metadata": {"name": name, "namespace": "default", "resourceVersion": rv,
            "labels": {"app": "web"}},
        "spec": {"nodeName": "node1", "containers": [{"name": "c", "image": "img", "ports": ports}]},
        "status": {"podIP": ip, "hostIP": "10.1.0.1", "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}]}
    })
}

fn groups(sets: &TargetSets, job: &str) -> Vec<TargetGroup> {
    let mut g = sets.get(job).cloned().unwrap_or_default();
    g.sort_by(|a, b| a.source.cmp(&b.source));
    g
}

fn addresses(g: &TargetGroup) -> Vec<&str> {
    g.targets
        .iter()
        .map(|t| t.get("__address__").unwrap_or_default())
        .collect()
}

/// Waits (bounded) until the received target sets satisfy `pred`.
async fn wait_for(
    rx: &mut watch::Receiver<TargetSets>,
    what: &str,
    pred: impl Fn(&TargetSets) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if pred(&rx.borrow_and_update()) {
            return;
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!("timed out waiting for {what}; last: {:#?}", *rx.borrow()),
        }
    }
}

/// Waits (bounded) until `cond` holds.
async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn group<'a>(sets: &'a TargetSets, source: &str) -> Option<&'a TargetGroup> {
    sets.get("k8s")?.iter().find(|g| g.source == source)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_pods_follow_list_and_watch_events() {
    const PODS: &str = "/api/v1/namespaces/default/pods";
    let api = FakeApi::start().await;
    api.set_list(PODS, "100", vec![pod("a", "90", "10.0.0.1", &[8080])]);

    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: k8s\n  kubernetes_sd_configs:\n  - role: pod\n    api_server: 'http://{}'\n    namespaces: {{names: [default]}}\n    selectors: [{{role: pod, label: 'app=web', field: 'spec.nodeName=node1'}}]\n",
            api.addr
        ),
        "",
    )
    .unwrap();
    let m = Manager::new(Options {
        update_interval: Duration::from_millis(20),
        ..Options::default()
    });
    let mut rx = m.subscribe();
    m.apply_config(&cfg).unwrap();
    let runner = m.clone();
    let task = tokio::spawn(async move { runner.run().await });

    // The list.
    wait_for(&mut rx, "pod a", |s| {
        group(s, "pod/default/a").is_some_and(|g| addresses(g) == ["10.0.0.1:8080"])
    })
    .await;
    let a = groups(&rx.borrow(), "k8s").remove(0);
    assert_eq!(a.labels.get("__meta_kubernetes_namespace"), Some("default"));
    assert_eq!(a.labels.get("__meta_kubernetes_pod_label_app"), Some("web"));
    assert_eq!(a.labels.get("__meta_kubernetes_pod_ready"), Some("true"));
    assert_eq!(
        a.targets[0].get("__meta_kubernetes_pod_container_port_name"),
        Some("p8080")
    );
    // Selectors are query parameters; the watch starts at the list's version.
    let requests = api.requests();
    assert_eq!(
        requests[0],
        format!("{PODS}?labelSelector=app%3Dweb&fieldSelector=spec.nodeName%3Dnode1&limit=500")
    );
    wait_until("the watch", || api.watch_count(PODS) == 1).await;
    let watch = api.requests()[1].clone();
    assert!(watch.contains("watch=true"), "{watch}");
    assert!(watch.contains("resourceVersion=100"), "{watch}");
    assert!(watch.contains("labelSelector=app%3Dweb"), "{watch}");

    // ADDED, MODIFIED, DELETED.
    assert!(api.send(PODS, "ADDED", pod("b", "101", "10.0.0.2", &[9090])));
    wait_for(&mut rx, "pod b", |s| {
        group(s, "pod/default/b").is_some_and(|g| addresses(g) == ["10.0.0.2:9090"])
    })
    .await;
    assert!(api.send(PODS, "MODIFIED", pod("a", "102", "10.0.0.1", &[8080, 8081])));
    wait_for(&mut rx, "pod a with two ports", |s| {
        group(s, "pod/default/a")
            .is_some_and(|g| addresses(g) == ["10.0.0.1:8080", "10.0.0.1:8081"])
    })
    .await;
    assert!(api.send(
        PODS,
        "BOOKMARK",
        json!({"metadata": {"resourceVersion": "103"}})
    ));
    assert!(api.send(PODS, "DELETED", pod("b", "104", "10.0.0.2", &[9090])));
    // The emptied group is dropped by the manager (Go's updateGroup), so it is not sent.
    wait_for(&mut rx, "pod b's group gone", |s| {
        group(s, "pod/default/b").is_none() && group(s, "pod/default/a").is_some()
    })
    .await;

    // The stream ends: the watch resumes from the last version seen.
    api.state.lock().unwrap().watches.clear();
    wait_until("the second watch", || api.watch_count(PODS) == 1).await;
    let watch = api.requests().last().cloned().unwrap();
    assert!(watch.contains("resourceVersion=104"), "{watch}");

    // 410 Gone: list again; objects the new list lacks get empty groups (dropped).
    api.set_list(PODS, "200", vec![pod("c", "150", "10.0.0.3", &[7070])]);
    let lists_before = api
        .requests()
        .iter()
        .filter(|r| !r.contains("watch=true"))
        .count();
    assert!(api.send(
        PODS,
        "ERROR",
        json!({"kind": "Status", "code": 410, "reason": "Expired", "message": "too old resource version"})
    ));
    wait_for(&mut rx, "the relist", |s| {
        group(s, "pod/default/c").is_some_and(|g| addresses(g) == ["10.0.0.3:7070"])
            && group(s, "pod/default/a").is_none()
    })
    .await;
    let lists_after = api
        .requests()
        .iter()
        .filter(|r| !r.contains("watch=true"))
        .count();
    assert_eq!(lists_after, lists_before + 1);
    // The server still holds the stream the client left; the new watch comes second.
    wait_until("the watch after the relist", || api.watch_count(PODS) == 2).await;
    let watch = api.requests().last().cloned().unwrap();
    assert!(watch.contains("resourceVersion=200"), "{watch}");

    // The expired watch counts as a failed WATCH; b's deletion and a's disappearance from
    // the relist as pod delete events.
    let mut text = String::new();
    m.metrics().write_text(&mut text);
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{series} in {text}"))
    };
    assert!(value("prometheus_sd_kubernetes_failures_total") >= 1.0);
    assert_eq!(
        value("prometheus_sd_kubernetes_events_total{event=\"delete\",role=\"pod\"}"),
        2.0
    );
    assert!(value("prometheus_sd_kubernetes_events_total{event=\"add\",role=\"pod\"}") >= 3.0);

    m.stop();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_endpoints_join_services_and_pods() {
    const EPS: &str = "/api/v1/endpoints";
    const SVCS: &str = "/api/v1/services";
    const PODS: &str = "/api/v1/pods";
    let api = FakeApi::start().await;
    api.set_list(
        EPS,
        "10",
        vec![json!({
            "metadata": {"name": "web", "namespace": "default", "resourceVersion": "5"},
            "subsets": [{
                "addresses": [{"ip": "10.0.0.1", "targetRef": {"kind": "Pod", "name": "a", "namespace": "default"}}],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
            }]
        })],
    );
    api.set_list(
        SVCS,
        "10",
        vec![json!({"metadata": {"name": "web", "namespace": "default", "labels": {"tier": "front"}}})],
    );
    api.set_list(PODS, "10", vec![pod("a", "3", "10.0.0.1", &[8080])]);

    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: k8s\n  kubernetes_sd_configs: [{{role: endpoints, api_server: 'http://{}'}}]\n",
            api.addr
        ),
        "",
    )
    .unwrap();
    let m = Manager::new(Options {
        update_interval: Duration::from_millis(20),
        ..Options::default()
    });
    let mut rx = m.subscribe();
    m.apply_config(&cfg).unwrap();
    let runner = m.clone();
    let task = tokio::spawn(async move { runner.run().await });

    wait_for(&mut rx, "endpoints web", |s| {
        group(s, "endpoints/default/web").is_some_and(|g| addresses(g) == ["10.0.0.1:8080"])
    })
    .await;
    let g = group(&rx.borrow(), "endpoints/default/web")
        .cloned()
        .unwrap();
    assert_eq!(
        g.labels.get("__meta_kubernetes_service_label_tier"),
        Some("front")
    );
    assert_eq!(g.targets[0].get("__meta_kubernetes_pod_name"), Some("a"));
    assert_eq!(
        g.targets[0].get("__meta_kubernetes_endpoint_port_name"),
        Some("http")
    );

    // A service change reaches the endpoints' group.
    wait_until("the service watch", || api.watch_count(SVCS) == 1).await;
    assert!(api.send(
        SVCS,
        "MODIFIED",
        json!({"metadata": {"name": "web", "namespace": "default", "resourceVersion": "11", "labels": {"tier": "back"}}})
    ));
    wait_for(&mut rx, "the new service label", |s| {
        group(s, "endpoints/default/web")
            .is_some_and(|g| g.labels.get("__meta_kubernetes_service_label_tier") == Some("back"))
    })
    .await;
    m.stop();
    task.await.unwrap();
}

#[tokio::test]
async fn kubernetes_client_options_that_cannot_work_count_as_a_failed_config() {
    let cfg = config::Config::load_str(
        "scrape_configs:\n- job_name: k\n  kubernetes_sd_configs: [{role: node, api_server: 'https://127.0.0.1:1', tls_config: {ca_file: /nonexistent/ca.pem}}]\n",
        "",
    )
    .unwrap();
    let m = Manager::new(Options::default());
    // Logged ("Cannot create service discovery") and counted; the job has no targets.
    m.apply_config(&cfg).unwrap();
    let mut text = String::new();
    m.metrics().write_text(&mut text);
    assert!(
        text.contains("prometheus_sd_failed_configs{name=\"scrape\"} 1\n"),
        "{text}"
    );
    assert!(m.target_sets()["k"].is_empty());
}

/// Runs a node-role discovery with `sd` (a `kubernetes_sd_configs` entry in flow style) and
/// returns the `Authorization` header of the first request.
async fn first_authorization(api: &FakeApi, sd: &str) -> String {
    api.set_list(
        "/api/v1/nodes",
        "1",
        vec![json!({"metadata": {"name": "n1"}, "status": {
            "addresses": [{"type": "InternalIP", "address": "10.1.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}})],
    );
    let cfg = config::Config::load_str(
        &format!("scrape_configs:\n- job_name: k8s\n  kubernetes_sd_configs: [{sd}]\n"),
        "",
    )
    .unwrap();
    let m = Manager::new(Options {
        update_interval: Duration::from_millis(20),
        ..Options::default()
    });
    let mut rx = m.subscribe();
    m.apply_config(&cfg).unwrap();
    let runner = m.clone();
    let task = tokio::spawn(async move { runner.run().await });
    wait_for(&mut rx, "node n1", |s| {
        group(s, "node/n1").is_some_and(|g| addresses(g) == ["10.1.0.1:10250"])
    })
    .await;
    m.stop();
    task.await.unwrap();
    api.state.lock().unwrap().authorizations[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_credentials_from_a_token_file_or_a_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "file-token\n").unwrap();
    let api = FakeApi::start().await;
    let auth = first_authorization(
        &api,
        &format!(
            "{{role: node, api_server: 'http://{}', authorization: {{credentials_file: '{}'}}}}",
            api.addr,
            token.display()
        ),
    )
    .await;
    assert_eq!(auth, "Bearer file-token");

    let api = FakeApi::start().await;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\ncontexts:\n- name: test\n  context: {{cluster: local, user: me}}\nclusters:\n- name: local\n  cluster: {{server: 'http://{}'}}\nusers:\n- name: me\n  user: {{token: kube-token}}\n",
            api.addr
        ),
    )
    .unwrap();
    let auth = first_authorization(
        &api,
        &format!(
            "{{role: node, kubeconfig_file: '{}'}}",
            kubeconfig.display()
        ),
    )
    .await;
    assert_eq!(auth, "Bearer kube-token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_over_tls_with_a_ca_file_and_a_bearer_token_file() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "sa-token").unwrap();
    let api = FakeApi::start_tls().await;
    let auth = first_authorization(
        &api,
        &format!(
            "{{role: node, api_server: 'https://{}', tls_config: {{ca_file: '{}'}}, authorization: {{credentials_file: '{}'}}}}",
            api.addr,
            httpclient_testdata("ca.crt"),
            token.display()
        ),
    )
    .await;
    assert_eq!(auth, "Bearer sa-token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_lists_are_read_page_by_page() {
    const NODES: &str = "/api/v1/nodes";
    let api = FakeApi::start().await;
    let node = |name: &str, ip: &str| {
        json!({"metadata": {"name": name}, "status": {
            "addresses": [{"type": "InternalIP", "address": ip}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}})
    };
    api.set_pages(
        NODES,
        "7",
        vec![vec![node("n1", "10.1.0.1")], vec![node("n2", "10.1.0.2")]],
    );
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: k8s\n  kubernetes_sd_configs: [{{role: node, api_server: 'http://{}'}}]\n",
            api.addr
        ),
        "",
    )
    .unwrap();
    let m = Manager::new(Options {
        update_interval: Duration::from_millis(20),
        ..Options::default()
    });
    let mut rx = m.subscribe();
    m.apply_config(&cfg).unwrap();
    let runner = m.clone();
    let task = tokio::spawn(async move { runner.run().await });
    wait_for(&mut rx, "both nodes", |s| {
        group(s, "node/n1").is_some() && group(s, "node/n2").is_some()
    })
    .await;
    let sets = rx.borrow().clone();
    assert_eq!(
        group(&sets, "node/n2").map(addresses),
        Some(vec!["10.1.0.2:10250"])
    );
    let requests = api.requests();
    assert_eq!(requests[0], format!("{NODES}?limit=500"));
    assert_eq!(requests[1], format!("{NODES}?limit=500&continue=p1"));
    wait_until("the watch", || api.watch_count(NODES) == 1).await;
    let watch = api.requests()[2].clone();
    assert!(watch.contains("resourceVersion=7"), "{watch}");
    m.stop();
    task.await.unwrap();
}
