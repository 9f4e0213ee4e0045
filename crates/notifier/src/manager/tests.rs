//! Manager tests against in-test Alertmanager stand-ins on 127.0.0.1.

use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use tokio::sync::mpsc;

use super::*;

/// One POST an Alertmanager stand-in received.
#[derive(Debug)]
struct Post {
    path: String,
    content_type: String,
    user_agent: String,
    alerts: serde_json::Value,
}

/// An Alertmanager stand-in: records every request and answers with `status`, once `open`
/// holds `true` (a closed gate keeps the sender's batch in flight).
struct Server {
    addr: std::net::SocketAddr,
    posts: mpsc::UnboundedReceiver<Post>,
    status: Arc<AtomicU16>,
    open: Arc<watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start() -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, posts) = mpsc::unbounded_channel();
        let status = Arc::new(AtomicU16::new(200));
        let open = Arc::new(watch::Sender::new(true));
        let task = tokio::spawn({
            let (status, open) = (status.clone(), open.clone());
            async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let (tx, status, open) = (tx.clone(), status.clone(), open.clone());
                    tokio::spawn(async move {
                        let svc = service_fn(move |req: Request<Incoming>| {
                            let (tx, status) = (tx.clone(), status.clone());
                            let mut open = open.subscribe();
                            async move {
                                let (parts, body) = req.into_parts();
                                let body = body.collect().await?.to_bytes();
                                let header = |h: http::HeaderName| {
                                    parts.headers.get(h).map_or(String::new(), |v| {
                                        v.to_str().unwrap_or_default().to_owned()
                                    })
                                };
                                let _ = tx.send(Post {
                                    path: parts.uri.path().to_owned(),
                                    content_type: header(http::header::CONTENT_TYPE),
                                    user_agent: header(http::header::USER_AGENT),
                                    alerts: serde_json::from_slice(&body).unwrap(),
                                });
                                let _ = open.wait_for(|o| *o).await;
                                let code =
                                    StatusCode::from_u16(status.load(Ordering::Relaxed)).unwrap();
                                let mut resp = Response::new(Full::new(Bytes::new()));
                                *resp.status_mut() = code;
                                Ok::<_, hyper::Error>(resp)
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                            .await;
                    });
                }
            }
        });
        Server {
            addr,
            posts,
            status,
            open,
            task,
        }
    }

    async fn next(&mut self) -> Post {
        tokio::time::timeout(Duration::from_secs(10), self.posts.recv())
            .await
            .expect("a POST within 10s")
            .expect("the server runs")
    }

    /// The `alertname`s of a POST's alerts, in order.
    async fn next_names(&mut self) -> Vec<String> {
        names(&self.next().await.alerts)
    }

    /// The next POST as runs of equal `alertname`s, e.g. `"R1x10 R2x6"`.
    async fn next_runs(&mut self) -> String {
        runs(&self.next_names().await)
    }
}

/// `names` as runs of equal names: `["a", "a", "b"]` is `"ax2 bx1"`.
fn runs(names: &[String]) -> String {
    let mut out: Vec<(String, usize)> = Vec::new();
    for n in names {
        match out.last_mut() {
            Some((last, count)) if last == n => *count += 1,
            _ => out.push((n.clone(), 1)),
        }
    }
    let parts: Vec<String> = out.into_iter().map(|(n, c)| format!("{n}x{c}")).collect();
    parts.join(" ")
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn names(alerts: &serde_json::Value) -> Vec<String> {
    alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap().to_owned())
        .collect()
}

fn alert(name: &str, extra: &[(&str, &str)]) -> Alert {
    let mut pairs = vec![("alertname", name)];
    pairs.extend_from_slice(extra);
    Alert {
        labels: Labels::from_pairs(pairs),
        annotations: Labels::from_pairs([("summary", "down")]),
        starts_at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_250),
        ends_at: Some(UNIX_EPOCH + Duration::from_millis(1_700_000_600_000)),
        generator_url: "http://prom/graph".into(),
    }
}

fn load(yaml: &str) -> config::Config {
    config::Config::load_str(yaml, "").unwrap()
}

/// Target groups with one static group per set, as static discovery produces them.
fn static_groups(cfg: &config::Config) -> TargetSets {
    cfg.alerting
        .alertmanagers
        .iter()
        .enumerate()
        .map(|(i, am)| {
            let groups = am
                .service_discovery_configs
                .static_configs()
                .map(|sc| TargetGroup {
                    targets: sc
                        .targets
                        .iter()
                        .map(|t| Labels::from_pairs([("__address__", t.as_str())]))
                        .collect(),
                    labels: Labels::from_pairs(
                        sc.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    ),
                    source: "0".into(),
                })
                .collect();
            (set_key(i), groups)
        })
        .collect()
}

/// A running manager for `cfg` with its static Alertmanagers applied.
fn start(cfg: &config::Config, options: Options) -> (Manager, tokio::task::JoinHandle<()>) {
    let m = Manager::new(options);
    m.apply_config(cfg).unwrap();
    let (_tx, rx) = watch::channel(static_groups(cfg));
    let runner = m.clone();
    let task = tokio::spawn(async move {
        let _keep_sender = _tx;
        runner.run(rx).await;
    });
    (m, task)
}

fn metrics_text(m: &Manager) -> String {
    let mut out = String::new();
    m.write_metrics(&mut out);
    out
}

#[tokio::test]
async fn posts_api_v2_json_with_external_labels_and_relabeling() {
    let mut am = Server::start().await;
    let cfg = load(&format!(
        concat!(
            "global: {{external_labels: {{cluster: eu, team: ext}}}}\n",
            "alerting:\n",
            "  alert_relabel_configs:\n",
            "  - {{source_labels: [severity], regex: debug, action: drop}}\n",
            "  - {{target_label: relabeled, replacement: 'yes'}}\n",
            "  alertmanagers:\n",
            "  - path_prefix: /prefix/\n",
            "    static_configs: [{{targets: ['{}']}}]\n",
        ),
        am.addr
    ));
    let (m, task) = start(&cfg, Options::default());
    m.send(vec![
        alert("Kept", &[("team", "own")]),
        alert("Dropped", &[("severity", "debug")]),
    ]);
    let post = am.next().await;
    assert_eq!(post.path, "/prefix/api/v2/alerts");
    assert_eq!(post.content_type, "application/json");
    assert!(
        post.user_agent.starts_with("Prometheus/"),
        "{}",
        post.user_agent
    );
    assert_eq!(
        post.alerts,
        serde_json::json!([{
            "annotations": {"summary": "down"},
            "endsAt": "2023-11-14T22:23:20.000Z",
            "startsAt": "2023-11-14T22:13:20.250Z",
            "generatorURL": "http://prom/graph",
            "labels": {"alertname": "Kept", "cluster": "eu", "relabeled": "yes", "team": "own"},
        }])
    );
    let url = format!("http://{}/prefix/api/v2/alerts", am.addr);
    assert_eq!(m.alertmanagers(), (vec![url.clone()], vec![]));
    m.stop().await;
    task.await.unwrap();
    assert_eq!(m.inner.metrics.counts(&url), (Some(1), Some(0)));
    let text = metrics_text(&m);
    assert!(
        text.contains(&format!(
            "prometheus_notifications_sent_total{{alertmanager=\"{url}\"}} 1\n"
        )),
        "{text}"
    );
    assert!(
        text.contains("prometheus_notifications_alertmanagers_discovered 1\n"),
        "{text}"
    );
    assert!(
        text.contains("prometheus_notifications_queue_capacity 10000\n"),
        "{text}"
    );
    assert!(
        text.contains("prometheus_notifications_dropped_total 0\n"),
        "{text}"
    );
}

#[tokio::test]
async fn per_set_alert_relabeling_and_every_set_gets_the_batch() {
    let (mut a, mut b) = (Server::start().await, Server::start().await);
    let cfg = load(&format!(
        concat!(
            "alerting:\n",
            "  alertmanagers:\n",
            "  - static_configs: [{{targets: ['{}']}}]\n",
            "  - static_configs: [{{targets: ['{}']}}]\n",
            "    alert_relabel_configs:\n",
            "    - {{source_labels: [severity], regex: info, action: drop}}\n",
            "    - {{target_label: set, replacement: b}}\n",
        ),
        a.addr, b.addr
    ));
    let (m, task) = start(&cfg, Options::default());
    m.send(vec![
        alert("Page", &[("severity", "critical")]),
        alert("Info", &[("severity", "info")]),
    ]);
    assert_eq!(a.next_names().await, ["Page", "Info"]);
    let post_b = b.next().await;
    assert_eq!(names(&post_b.alerts), ["Page"]);
    assert_eq!(post_b.alerts[0]["labels"]["set"], "b");
    // The first set's alerts are not touched by the second set's relabeling.
    m.send(vec![alert("Info2", &[("severity", "info")])]);
    let post_a = a.next().await;
    assert_eq!(names(&post_a.alerts), ["Info2"]);
    assert!(post_a.alerts[0]["labels"].get("set").is_none());
    m.stop().await;
    task.await.unwrap();
    // Set b got no POST for the second batch: everything was relabeled away.
    assert!(b.posts.try_recv().is_err());
    assert_eq!(m.dropped_total(), 0);
}

#[tokio::test]
async fn queue_overflow_drops_the_oldest_and_batches_are_capped() {
    let mut am = Server::start().await;
    let cfg = load(&format!(
        "alerting: {{alertmanagers: [{{static_configs: [{{targets: ['{}']}}]}}]}}\n",
        am.addr
    ));
    let m = Manager::new(Options {
        queue_capacity: 5,
        max_batch_size: 2,
        ..Options::default()
    });
    m.apply_config(&cfg).unwrap();
    // Not running yet: everything waits in the queue.
    m.send((0..4).map(|i| alert(&format!("a{i}"), &[])).collect());
    m.send((4..7).map(|i| alert(&format!("a{i}"), &[])).collect());
    assert_eq!(m.queue_len(), 5);
    assert_eq!(m.dropped_total(), 2);
    // A single call larger than the queue keeps its newest alerts.
    m.send((7..14).map(|i| alert(&format!("a{i}"), &[])).collect());
    assert_eq!(m.queue_len(), 5);
    assert_eq!(m.dropped_total(), 9);
    let text = metrics_text(&m);
    assert!(
        text.contains("prometheus_notifications_queue_length 5\n"),
        "{text}"
    );
    assert!(
        text.contains("prometheus_notifications_dropped_total 9\n"),
        "{text}"
    );

    let (_tx, rx) = watch::channel(static_groups(&cfg));
    let runner = m.clone();
    let task = tokio::spawn(async move { runner.run(rx).await });
    assert_eq!(am.next_names().await, ["a9", "a10"]);
    assert_eq!(am.next_names().await, ["a11", "a12"]);
    assert_eq!(am.next_names().await, ["a13"]);
    m.stop().await;
    task.await.unwrap();
    assert_eq!(m.queue_len(), 0);
}

#[tokio::test]
async fn failed_sends_count_errors_and_drops() {
    let mut am = Server::start().await;
    am.status.store(500, Ordering::Relaxed);
    let cfg = load(&format!(
        "alerting: {{alertmanagers: [{{static_configs: [{{targets: ['{}']}}]}}]}}\n",
        am.addr
    ));
    let (m, task) = start(&cfg, Options::default());
    m.send(vec![alert("A", &[]), alert("B", &[])]);
    assert_eq!(am.next_names().await, ["A", "B"]);
    m.stop().await;
    task.await.unwrap();
    // Prometheus 3.5 counts failed POSTs' alerts as sent too.
    let url = format!("http://{}/api/v2/alerts", am.addr);
    assert_eq!(m.inner.metrics.counts(&url), (Some(2), Some(2)));
    assert_eq!(m.dropped_total(), 2);
}

#[tokio::test]
async fn one_reachable_alertmanager_per_set_is_enough() {
    let mut up = Server::start().await;
    let down = Server::start().await;
    let down_addr = down.addr;
    drop(down);
    let cfg = load(&format!(
        "alerting: {{alertmanagers: [{{timeout: 2s, static_configs: [{{targets: ['{}', '{}']}}]}}]}}\n",
        up.addr, down_addr
    ));
    let (m, task) = start(&cfg, Options::default());
    m.send(vec![alert("A", &[])]);
    assert_eq!(up.next_names().await, ["A"]);
    m.stop().await;
    task.await.unwrap();
    assert_eq!(m.dropped_total(), 0);
    let down_url = format!("http://{down_addr}/api/v2/alerts");
    assert_eq!(m.inner.metrics.counts(&down_url), (Some(1), Some(1)));
}

#[tokio::test]
async fn stop_drains_the_queue_or_counts_it_dropped() {
    for drain in [true, false] {
        let mut am = Server::start().await;
        let cfg = load(&format!(
            "alerting: {{alertmanagers: [{{static_configs: [{{targets: ['{}']}}]}}]}}\n",
            am.addr
        ));
        let m = Manager::new(Options {
            max_batch_size: 2,
            drain_on_shutdown: drain,
            ..Options::default()
        });
        m.apply_config(&cfg).unwrap();
        m.sync(&static_groups(&cfg));
        m.send((0..5).map(|i| alert(&format!("a{i}"), &[])).collect());
        // Stop before run starts: run sees the stop at once and only drains.
        m.inner.stop.cancel();
        let (_tx, rx) = watch::channel(TargetSets::new());
        m.run(rx).await;
        m.stop().await;
        assert_eq!(m.queue_len(), 0);
        if drain {
            let mut got = Vec::new();
            while got.len() < 5 {
                got.extend(am.next_names().await);
            }
            assert_eq!(got, ["a0", "a1", "a2", "a3", "a4"]);
            assert_eq!(m.dropped_total(), 0);
        } else {
            assert!(am.posts.try_recv().is_err());
            assert_eq!(m.dropped_total(), 5);
        }
    }
}

#[tokio::test]
async fn stop_without_run_returns() {
    let m = Manager::new(Options::default());
    m.send(vec![alert("A", &[])]);
    m.stop().await;
    m.stop().await;
    assert_eq!(m.queue_len(), 1);
}

#[tokio::test]
async fn target_updates_relabeling_and_reload() {
    let cfg = load(concat!(
        "alerting:\n",
        "  alertmanagers:\n",
        "  - static_configs: [{targets: ['a:9093']}]\n",
        "    relabel_configs:\n",
        "    - {source_labels: [role], regex: standby, action: drop}\n",
        "  - scheme: https\n",
        "    static_configs: [{targets: ['c:9093']}]\n",
    ));
    let m = Manager::new(Options::default());
    m.apply_config(&cfg).unwrap();
    let (tx, rx) = watch::channel(TargetSets::new());
    let runner = m.clone();
    let task = tokio::spawn(async move { runner.run(rx).await });
    let group = |targets: &[(&str, &str)]| TargetGroup {
        targets: targets
            .iter()
            .map(|(addr, role)| Labels::from_pairs([("__address__", *addr), ("role", *role)]))
            .collect(),
        labels: Labels::empty(),
        source: "0".into(),
    };
    let sets: TargetSets = [
        (
            "config-0".to_owned(),
            vec![group(&[
                ("a:9093", "main"),
                ("b:9093", "standby"),
                ("a:9093", ""),
            ])],
        ),
        ("config-1".to_owned(), vec![group(&[("c:9093", "main")])]),
        ("config-9".to_owned(), vec![group(&[("x:9093", "main")])]),
    ]
    .into();
    tx.send(sets).unwrap();
    let want = (
        vec![
            "http://a:9093/api/v2/alerts".to_owned(),
            "https://c:9093/api/v2/alerts".to_owned(),
        ],
        vec!["http://b:9093/api/v2/alerts".to_owned()],
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while m.alertmanagers() != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            m.alertmanagers()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let text = metrics_text(&m);
    assert!(
        text.contains("prometheus_notifications_alertmanagers_discovered 2\n"),
        "{text}"
    );

    // Reload: the unchanged first set keeps its Alertmanagers, the changed one starts empty.
    let mut changed = cfg.clone();
    changed.alerting.alertmanagers[1].path_prefix = "/new".into();
    m.apply_config(&changed).unwrap();
    assert_eq!(
        m.alertmanagers(),
        (
            vec!["http://a:9093/api/v2/alerts".to_owned()],
            vec!["http://b:9093/api/v2/alerts".to_owned()]
        )
    );
    m.stop().await;
    task.await.unwrap();
}

#[tokio::test]
async fn apply_config_refuses_api_v1_and_keeps_the_old_config() {
    let cfg = load("alerting: {alertmanagers: [{static_configs: [{targets: ['a:1']}]}]}\n");
    let m = Manager::new(Options::default());
    m.apply_config(&cfg).unwrap();
    m.sync(&static_groups(&cfg));
    let mut v1 = cfg.clone();
    v1.alerting.alertmanagers[0].api_version = "v1".into();
    v1.alerting.alertmanagers[0].path_prefix = "/other".into();
    let err = m.apply_config(&v1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "alertmanager set config-0: api_version \"v1\" is not supported (Prometheus 3 sends alerts over API v2 only)"
    );
    assert_eq!(m.alertmanagers().0, ["http://a:1/api/v2/alerts"]);
}

#[test]
fn encode_is_what_is_posted_for_open_ended_alerts() {
    let a = Alert {
        ends_at: None,
        annotations: Labels::empty(),
        generator_url: String::new(),
        ..alert("A", &[])
    };
    let json: serde_json::Value = serde_json::from_str(&encode_postable_alerts(&[a])).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{
            "endsAt": "0001-01-01T00:00:00.000Z",
            "startsAt": "2023-11-14T22:13:20.250Z",
            "labels": {"alertname": "A"},
        }])
    );
}

#[tokio::test]
async fn draining_is_bounded_by_the_drain_timeout() {
    // An Alertmanager that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let cfg = load(&format!(
        "alerting: {{alertmanagers: [{{timeout: 1h, static_configs: [{{targets: ['{addr}']}}]}}]}}\n"
    ));
    let m = Manager::new(Options {
        max_batch_size: 2,
        drain_timeout: Some(Duration::from_millis(200)),
        ..Options::default()
    });
    m.apply_config(&cfg).unwrap();
    m.sync(&static_groups(&cfg));
    m.send((0..5).map(|i| alert(&format!("a{i}"), &[])).collect());
    m.inner.stop.cancel();
    let (_tx, rx) = watch::channel(TargetSets::new());
    m.run(rx).await;
    assert_eq!(m.queue_len(), 0);
    assert_eq!(m.dropped_total(), 5);
    hold.abort();
}

/// `n` alerts named `name`, told apart by an `i` label.
fn many(name: &str, n: usize) -> Vec<Alert> {
    (0..n)
        .map(|i| alert(name, &[("i", &format!("{i:02}"))]))
        .collect()
}

/// What Prometheus 3.5.3 POSTs when alerts queue up behind a slow Alertmanager (measured
/// with `cargo xtask rulesdiff`'s batching run, which this mirrors): a batch is what the
/// queue holds when the send loop takes it, at most `max_batch_size`, oldest first; a full
/// queue drops its oldest alerts; every Alertmanager of every set gets each batch in one
/// POST (after the set's own relabeling, skipped when that leaves nothing).
#[tokio::test]
async fn batches_form_behind_a_slow_alertmanager_as_in_prometheus() {
    let (mut a, mut b, mut c) = (
        Server::start().await,
        Server::start().await,
        Server::start().await,
    );
    let cfg = load(&format!(
        concat!(
            "alerting:\n",
            "  alertmanagers:\n",
            "  - static_configs: [{{targets: ['{}', '{}']}}]\n",
            "  - static_configs: [{{targets: ['{}']}}]\n",
            "    alert_relabel_configs: [{{source_labels: [alertname], regex: R2, action: drop}}]\n",
        ),
        a.addr, b.addr, c.addr
    ));
    for am in [&a, &b, &c] {
        am.open.send_replace(false);
    }
    let (m, task) = start(
        &cfg,
        Options {
            queue_capacity: 40,
            max_batch_size: 16,
            ..Options::default()
        },
    );
    m.send(many("R1", 30));
    // The first batch is in flight (held) once every Alertmanager has it.
    for am in [&mut a, &mut b, &mut c] {
        assert_eq!(am.next_runs().await, "R1x16");
    }
    assert_eq!(m.queue_len(), 14);
    // 14 + 30 > 40: the 4 oldest queued alerts go.
    m.send(many("R2", 30));
    assert_eq!(m.queue_len(), 40);
    assert_eq!(m.dropped_total(), 4);
    for am in [&a, &b, &c] {
        am.open.send_replace(true);
    }
    for am in [&mut a, &mut b] {
        assert_eq!(am.next_runs().await, "R1x10 R2x6");
        assert_eq!(am.next_runs().await, "R2x16");
        assert_eq!(am.next_runs().await, "R2x8");
    }
    // The relabeling set gets the first batch without R2; the other two leave it nothing.
    assert_eq!(c.next_runs().await, "R1x10");
    m.stop().await;
    task.await.unwrap();
    for am in [&mut a, &mut b, &mut c] {
        assert!(am.posts.try_recv().is_err(), "one POST per batch");
    }
    let text = metrics_text(&m);
    for (am, sent) in [(&a, 56), (&b, 56), (&c, 26)] {
        let url = format!("http://{}/api/v2/alerts", am.addr);
        assert_eq!(m.inner.metrics.counts(&url), (Some(sent), Some(0)), "{url}");
    }
    assert!(
        text.contains("prometheus_notifications_dropped_total 4\n"),
        "{text}"
    );
}

/// Alerts keep the order they were queued in, across sends, inside each batch; a send
/// larger than the batch size is cut into full batches and the rest.
#[tokio::test]
async fn batches_keep_queue_order_and_split_at_the_batch_size() {
    let mut am = Server::start().await;
    let cfg = load(&format!(
        "alerting: {{alertmanagers: [{{static_configs: [{{targets: ['{}']}}]}}]}}\n",
        am.addr
    ));
    am.open.send_replace(false);
    let (m, task) = start(
        &cfg,
        Options {
            max_batch_size: 4,
            ..Options::default()
        },
    );
    m.send(many("A", 1));
    assert_eq!(am.next_runs().await, "Ax1");
    m.send(many("B", 3));
    m.send(many("C", 6));
    m.send(many("D", 1));
    am.open.send_replace(true);
    let mut got = Vec::new();
    for _ in 0..3 {
        let post = am.next().await;
        got.extend(post.alerts.as_array().unwrap().iter().map(|a| {
            format!(
                "{}{}",
                a["labels"]["alertname"].as_str().unwrap(),
                a["labels"]["i"].as_str().unwrap()
            )
        }));
        got.push("|".into());
    }
    assert_eq!(
        got.join(" "),
        "B00 B01 B02 C00 | C01 C02 C03 C04 | C05 D00 |"
    );
    m.stop().await;
    task.await.unwrap();
    assert!(am.posts.try_recv().is_err());
}

/// Errors read as Prometheus logs them: Go's client wording with the URL, the status.
#[tokio::test]
async fn post_errors_are_worded_as_prometheus_logs_them() {
    let client = httpclient::HttpClient::new(&config::HttpClientConfig::default()).unwrap();
    let down = Server::start().await;
    let down_url = format!("http://{}/api/v2/alerts", down.addr);
    drop(down);
    let err = post(&client, &down_url, Bytes::new(), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("Post \"{down_url}\": ")),
        "{err}"
    );

    let held = Server::start().await;
    held.open.send_replace(false);
    let url = format!("http://{}/api/v2/alerts", held.addr);
    let err = post(&client, &url, Bytes::new(), Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Post \"{url}\": context deadline exceeded")
    );

    let failing = Server::start().await;
    failing.status.store(500, Ordering::Relaxed);
    let url = format!("http://{}/api/v2/alerts", failing.addr);
    let err = post(
        &client,
        &url,
        Bytes::from_static(b"[]"),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad response status 500 Internal Server Error"
    );
}

/// A POST's outcome is counted when it ends, not when the batch's last POST ends.
#[tokio::test]
async fn each_post_is_counted_when_it_ends() {
    let mut held = Server::start().await;
    held.open.send_replace(false);
    let down = Server::start().await;
    let down_addr = down.addr;
    drop(down);
    let cfg = load(&format!(
        "alerting: {{alertmanagers: [{{static_configs: [{{targets: ['{}', '{down_addr}']}}]}}]}}\n",
        held.addr
    ));
    let (m, task) = start(&cfg, Options::default());
    m.send(vec![alert("A", &[]), alert("B", &[])]);
    assert_eq!(held.next_names().await, ["A", "B"]);
    let down_url = format!("http://{down_addr}/api/v2/alerts");
    let held_url = format!("http://{}/api/v2/alerts", held.addr);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while m.inner.metrics.counts(&down_url) != (Some(2), Some(2)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "refused POST never counted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The other POST of the batch is still in flight, uncounted.
    assert_eq!(m.inner.metrics.counts(&held_url), (Some(0), Some(0)));
    held.open.send_replace(true);
    m.stop().await;
    task.await.unwrap();
    assert_eq!(m.inner.metrics.counts(&held_url), (Some(2), Some(0)));
    assert_eq!(m.dropped_total(), 0);
}
