//! Acceptance tests: scraping local HTTP servers (loopback only) into `storage::MemStorage`, and protobuf native histograms into a capturing storage.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use model::{Labels, MatchType, Matcher, TargetGroup};
use storage::{MemStorage, Queryable, ValueType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

type Samples = BTreeMap<String, Vec<(i64, f64)>>;

/// Every series in `s`, keyed by its printed label set.
fn dump(s: &MemStorage) -> Samples {
    let q = s.querier(i64::MIN, i64::MAX).unwrap();
    let m = Matcher::new(MatchType::RegexMatch, "__name__", ".+").unwrap();
    let mut set = q.select(true, None, &[m]);
    let mut out = Samples::new();
    while let Some(series) = set.next() {
        let series = series.unwrap();
        let mut it = series.iterator();
        let mut samples = Vec::new();
        while it.next() == ValueType::Float {
            samples.push(it.at());
        }
        out.insert(series.labels().to_string(), samples);
    }
    out
}

fn values(s: &Samples, key: &str) -> Vec<f64> {
    s.get(key)
        .map(|v| v.iter().map(|x| x.1).collect())
        .unwrap_or_default()
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the test server answers, and the last request it got.
#[derive(Clone)]
struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    gzip: bool,
    delay: Duration,
    last_request: String,
}

/// A minimal HTTP/1.1 server on 127.0.0.1 answering every request with the current reply.
struct Server {
    addr: String,
    reply: Arc<Mutex<Reply>>,
    task: tokio::task::JoinHandle<()>,
}

/// Answers one HTTP/1.1 request on `conn` with the current reply.
async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut conn: S,
    r: Arc<Mutex<Reply>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let reply = {
        let mut r = r.lock().unwrap();
        r.last_request = String::from_utf8_lossy(&buf).into_owned();
        r.clone()
    };
    tokio::time::sleep(reply.delay).await;
    let (status, ct) = (reply.status, reply.content_type);
    let mut body = reply.body;
    let mut encoding = "";
    if reply.gzip {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&body).unwrap();
        body = enc.finish().unwrap();
        encoding = "Content-Encoding: gzip\r\n";
    }
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {ct}\r\n{encoding}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes()).await;
    let _ = conn.write_all(&body).await;
    let _ = conn.shutdown().await;
}

impl Server {
    async fn start(body: &str) -> Server {
        Server::start_with_tls(body, None).await
    }

    async fn start_with_tls(body: &str, tls: Option<Arc<rustls::ServerConfig>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let reply = Arc::new(Mutex::new(Reply {
            status: 200,
            content_type: "text/plain; version=0.0.4",
            body: body.as_bytes().to_vec(),
            gzip: false,
            delay: Duration::ZERO,
            last_request: String::new(),
        }));
        let r = reply.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                let r = r.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => serve(conn, r).await,
                        Some(cfg) => {
                            let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
                            if let Ok(stream) = acceptor.accept(conn).await {
                                serve(stream, r).await;
                            }
                        }
                    }
                });
            }
        });
        Server { addr, reply, task }
    }

    fn set_body(&self, body: &str) {
        self.reply.lock().unwrap().body = body.as_bytes().to_vec();
    }

    fn stop(&self) {
        self.task.abort();
    }
}

fn config(extra: &str) -> config::Config {
    config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: test\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\n{extra}"
        ),
        "",
    )
    .unwrap()
}

struct Setup {
    storage: Arc<MemStorage>,
    manager: scrape::Manager,
    tx: tokio::sync::watch::Sender<scrape::TargetSets>,
    run: tokio::task::JoinHandle<()>,
}

async fn start(cfg: &config::Config, addr: &str) -> Setup {
    start_with(cfg, addr, scrape::Options::default()).await
}

/// [`start`] with manager options (the reload interval is always short).
async fn start_with(cfg: &config::Config, addr: &str, options: scrape::Options) -> Setup {
    let storage = Arc::new(MemStorage::new());
    let manager = scrape::Manager::new(
        storage.clone(),
        scrape::Options {
            discovery_reload_interval: Duration::from_millis(20),
            ..options
        },
    );
    manager.apply_config(cfg).unwrap();
    let (tx, rx) = tokio::sync::watch::channel(scrape::TargetSets::new());
    let m = manager.clone();
    let run = tokio::spawn(async move { m.run(rx).await });
    set_targets(&tx, &[addr]);
    Setup {
        storage,
        manager,
        tx,
        run,
    }
}

fn set_targets(tx: &tokio::sync::watch::Sender<scrape::TargetSets>, addrs: &[&str]) {
    let group = TargetGroup {
        targets: addrs
            .iter()
            .map(|a| Labels::from_pairs([("__address__", *a)]))
            .collect(),
        labels: Labels::from_pairs([("env", "dev")]),
        source: "0".into(),
    };
    tx.send_replace([("test".to_string(), vec![group])].into());
}

impl Setup {
    async fn stop(self) {
        self.manager.stop().await;
        self.run.await.unwrap();
    }

    fn target(&self) -> Arc<scrape::Target> {
        self.manager.targets_active()["test"][0].clone()
    }
}

fn key(addr: &str, name: &str, extra: &str) -> String {
    format!(r#"{{__name__="{name}", env="dev", instance="{addr}", job="test"{extra}}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_and_labels_are_stored_exactly_and_up_is_1() {
    let srv = Server::start(
        "# HELP a_total Things.\n# TYPE a_total counter\na_total{x=\"1\",job=\"exposed\"} 5\nb 2 1000\nc{instance=\"i\"} NaN\n",
    )
    .await;
    let s = start(&config(""), &srv.addr).await;
    let up = key(&srv.addr, "up", "");
    wait_until("up 1", || values(&dump(&s.storage), &up).contains(&1.0)).await;
    let d = dump(&s.storage);
    // A clashing exposed `job` is kept as `exported_job`.
    let a = Labels::from_pairs([
        ("__name__", "a_total"),
        ("env", "dev"),
        ("exported_job", "exposed"),
        ("instance", srv.addr.as_str()),
        ("job", "test"),
        ("x", "1"),
    ])
    .to_string();
    assert_eq!(values(&d, &a)[0], 5.0, "{d:#?}");
    let b = key(&srv.addr, "b", "");
    assert_eq!(
        d[&b][0],
        (1000, 2.0),
        "honor_timestamps keeps the exposed timestamp"
    );
    let c = Labels::from_pairs([
        ("__name__", "c"),
        ("env", "dev"),
        ("exported_instance", "i"),
        ("instance", srv.addr.as_str()),
        ("job", "test"),
    ])
    .to_string();
    assert!(values(&d, &c)[0].is_nan() && !model::value::is_stale_nan(values(&d, &c)[0]));
    for (name, v) in [
        ("scrape_samples_scraped", 3.0),
        ("scrape_samples_post_metric_relabeling", 3.0),
        ("scrape_series_added", 3.0),
    ] {
        assert_eq!(values(&d, &key(&srv.addr, name, ""))[0], v, "{name}");
    }
    assert!(values(&d, &key(&srv.addr, "scrape_duration_seconds", ""))[0] >= 0.0);
    // Only the scraped series and the five report series.
    assert_eq!(d.len(), 8, "{d:#?}");

    let t = s.target();
    assert_eq!(t.health(), scrape::Health::Up);
    assert_eq!(t.last_error(), None);
    assert!(t.last_scrape().is_some());
    assert_eq!(t.url(), format!("http://{}/metrics", srv.addr));
    let md = t.get_metadata("a_total").unwrap();
    assert_eq!(md.metric_type.as_str(), "counter");
    assert_eq!(md.help, "Things.");
    s.stop().await;
    srv.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_manager_writes_staleness_markers() {
    let srv = Server::start("a 1\n").await;
    let s = start(&config(""), &srv.addr).await;
    let up = key(&srv.addr, "up", "");
    wait_until("up 1", || values(&dump(&s.storage), &up).contains(&1.0)).await;
    let storage = s.storage.clone();
    s.stop().await;
    let d = dump(&storage);
    for (k, v) in &d {
        let last = v.last().unwrap().1;
        assert!(model::value::is_stale_nan(last), "{k} not stale: {v:?}");
    }
    srv.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_gives_up_0_and_staleness_markers() {
    let srv = Server::start("a 1\nb 2\n").await;
    let s = start(&config(""), &srv.addr).await;
    let up = key(&srv.addr, "up", "");
    wait_until("up 1", || values(&dump(&s.storage), &up).contains(&1.0)).await;
    srv.stop();
    // Let in-flight connections finish, then every new connection is refused.
    wait_until("up 0", || values(&dump(&s.storage), &up).contains(&0.0)).await;
    let d = dump(&s.storage);
    for name in ["a", "b"] {
        let v = values(&d, &key(&srv.addr, name, ""));
        assert!(
            model::value::is_stale_nan(*v.last().unwrap()),
            "{name}: {v:?}"
        );
    }
    let t = s.target();
    assert_eq!(t.health(), scrape::Health::Down);
    let err = t.last_error().unwrap();
    assert!(
        err.starts_with(&format!("Get \"http://{}/metrics\": ", srv.addr)),
        "{err}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disappearing_series_get_staleness_markers() {
    let srv = Server::start("a 1\nb 2\n").await;
    let s = start(&config(""), &srv.addr).await;
    let b = key(&srv.addr, "b", "");
    wait_until("b", || values(&dump(&s.storage), &b).contains(&2.0)).await;
    srv.set_body("a 3\n");
    wait_until("b stale", || {
        values(&dump(&s.storage), &b)
            .last()
            .is_some_and(|v| model::value::is_stale_nan(*v))
    })
    .await;
    let a = key(&srv.addr, "a", "");
    wait_until("a 3", || values(&dump(&s.storage), &a).contains(&3.0)).await;
    // b stays stale (one marker), a keeps going.
    let d = dump(&s.storage);
    let b_vals = values(&d, &b);
    assert_eq!(
        b_vals
            .iter()
            .filter(|v| model::value::is_stale_nan(**v))
            .count(),
        1,
        "{b_vals:?}"
    );
    assert!(!values(&d, &a).iter().any(|v| v.is_nan()));
    s.stop().await;
    srv.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_payload_is_a_clear_error_and_stores_nothing_partial() {
    let srv = Server::start("good 1\nbad{ 1\n").await;
    let s = start(&config(""), &srv.addr).await;
    let up = key(&srv.addr, "up", "");
    wait_until("up 0", || values(&dump(&s.storage), &up).contains(&0.0)).await;
    let d = dump(&s.storage);
    assert!(
        d.keys().all(|k| !k.contains("good")),
        "partial scrape stored: {d:#?}"
    );
    assert_eq!(
        values(&d, &key(&srv.addr, "scrape_samples_scraped", ""))[0],
        1.0
    );
    let err = s.target().last_error().unwrap();
    assert!(err.starts_with("expected "), "{err}");
    assert_eq!(s.target().health(), scrape::Health::Down);
    let storage = s.storage.clone();
    s.stop().await;
    // Even a target that never scraped successfully gets its report series marked stale.
    let up_vals = values(&dump(&storage), &up);
    assert!(
        model::value::is_stale_nan(*up_vals.last().unwrap()),
        "{up_vals:?}"
    );
    srv.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_and_label_limits_fail_the_whole_scrape() {
    let srv = Server::start("a 1\nb 2\nc{l=\"a very long label value\"} 3\n").await;
    let s = start(&config("  sample_limit: 2\n"), &srv.addr).await;
    let up = key(&srv.addr, "up", "");
    wait_until("up 0", || values(&dump(&s.storage), &up).contains(&0.0)).await;
    assert_eq!(
        s.target().last_error().as_deref(),
        Some("sample limit exceeded")
    );
    assert_eq!(dump(&s.storage).len(), 5, "only report series");
    s.stop().await;

    let s = start(&config("  label_value_length_limit: 20\n"), &srv.addr).await;
    wait_until("up 0", || values(&dump(&s.storage), &up).contains(&0.0)).await;
    assert_eq!(
        s.target().last_error().as_deref(),
        Some(
            r#"label_value_length_limit exceeded (metric: c, label name: l, value: "a very long label value", length: 23, limit: 20)"#
        )
    );
    s.stop().await;
    srv.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_relabeling_and_honor_labels_apply() {
    let srv = Server::start("keep{job=\"mine\"} 1\ndrop_me 2\n").await;
    let cfg = config(
        "  honor_labels: true\n  metric_relabel_configs:\n  - {source_labels: [__name__], regex: drop_.*, action: drop}\n",
    );
    let s = start(&cfg, &srv.addr).await;
    let up = key(&srv.addr, "up", "");
    wait_until("up 1", || values(&dump(&s.storage), &up).contains(&1.0)).await;
    let d = dump(&s.storage);
    let keep = Labels::from_pairs([
        ("__name__", "keep"),
        ("env", "dev"),
        ("instance", srv.addr.as_str()),
        ("job", "mine"),
    ])
    .to_string();
    assert_eq!(values(&d, &keep)[0], 1.0, "{d:#?}");
    assert!(d.keys().all(|k| !k.contains("drop_me")));
    assert_eq!(
        values(
            &d,
            &key(&srv.addr, "scrape_samples_post_metric_relabeling", "")
        )[0],
        1.0
    );
    assert_eq!(
        values(&d, &key(&srv.addr, "scrape_samples_scraped", ""))[0],
        2.0
    );
    s.stop().await;
    srv.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_targets_get_staleness_markers() {
    let srv = Server::start("a 1\n").await;
    let s = start(&config(""), &srv.addr).await;
    let a = key(&srv.addr, "a", "");
    wait_until("a", || values(&dump(&s.storage), &a).contains(&1.0)).await;
    set_targets(&s.tx, &[]);
    wait_until("a stale", || {
        values(&dump(&s.storage), &a)
            .last()
            .is_some_and(|v| model::value::is_stale_nan(*v))
    })
    .await;
    assert!(s.manager.targets_active()["test"].is_empty());
    s.stop().await;
    srv.stop();
}

/// GETs `url` over a plain TCP connection with `accept`; returns content type and body.
async fn fetch(addr: &str, accept: &str) -> (String, Vec<u8>) {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    if header("Transfer-Encoding").eq_ignore_ascii_case("chunked") {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(
                std::str::from_utf8(&rest[..eol])
                    .unwrap()
                    .split(';')
                    .next()
                    .unwrap()
                    .trim(),
                16,
            )
            .unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = &rest[eol + 2 + size + 2..];
        }
        body = out;
    }
    (header("Content-Type"), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_exporter_samples_are_all_stored_with_their_labels() {
    const BIN: &str = "/usr/bin/prometheus-node-exporter";
    if !std::path::Path::new(BIN).exists() {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "{BIN} is required when CI is set"
        );
        println!("skipping: {BIN} is not installed");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(BIN)
        .arg(format!("--web.listen-address={addr}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "node exporter did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let cfg = config::Config::load_str(
        "scrape_configs:\n- job_name: node\n  scrape_interval: 1s\n  scrape_timeout: 1s\n",
        "",
    )
    .unwrap();
    let storage = Arc::new(MemStorage::new());
    let manager = scrape::Manager::new(storage.clone(), scrape::Options::default());
    manager.apply_config(&cfg).unwrap();
    manager.sync(
        [(
            "node".to_string(),
            vec![TargetGroup {
                targets: vec![Labels::from_pairs([("__address__", addr.as_str())])],
                labels: Labels::empty(),
                source: "0".into(),
            }],
        )]
        .into(),
    );
    let up = Labels::from_pairs([
        ("__name__", "up"),
        ("instance", addr.as_str()),
        ("job", "node"),
    ])
    .to_string();
    wait_until("node exporter scraped", || {
        !values(&dump(&storage), &up).is_empty()
    })
    .await;
    let accept = scrape::accept_header(&cfg.scrape_configs[0]);
    let (content_type, body) = fetch(&addr, &accept).await;
    let d = dump(&storage);
    assert_eq!(values(&d, &up)[0], 1.0, "{:?}", manager.targets_active());
    let (mut p, _) = scrape::textparse::new(&body, &content_type, &Default::default()).unwrap();
    use scrape::textparse::{Entry, Parser};
    let mut expected = 0;
    let mut missing = Vec::new();
    let mut build_info_checked = false;
    while let Some(e) = p.next().unwrap() {
        if e != Entry::Series {
            continue;
        }
        expected += 1;
        let mut lb = model::LabelsBuilder::new(&p.labels().unwrap());
        lb.set("instance", &addr).set("job", "node");
        let key = lb.labels().to_string();
        match d.get(&key) {
            None => missing.push(key),
            Some(samples) => {
                if key.starts_with("{__name__=\"node_exporter_build_info\"") {
                    assert_eq!(samples[0].1, p.series().2);
                    build_info_checked = true;
                }
            }
        }
    }
    assert!(expected > 100, "only {expected} series exposed");
    assert!(build_info_checked);
    assert!(
        missing.is_empty(),
        "{} of {expected} series not stored: {missing:#?}",
        missing.len()
    );
    // Exposed series plus the five report series.
    assert_eq!(d.len(), expected + 5);
    let took = values(
        &d,
        &Labels::from_pairs([
            ("__name__", "scrape_duration_seconds"),
            ("instance", addr.as_str()),
            ("job", "node"),
        ])
        .to_string(),
    )[0];
    println!("node_exporter: {expected} series stored, first scrape took {took:.4}s (debug build)");

    // node_exporter stops: the next scrape (one interval) records up 0 and a staleness
    // marker for every series it exposed, at that scrape's timestamp.
    let _ = child.kill();
    let _ = child.wait();
    wait_until("up 0 after node_exporter stopped", || {
        values(&dump(&storage), &up).contains(&0.0)
    })
    .await;
    let d = dump(&storage);
    let down_at = d[&up]
        .iter()
        .find(|s| s.1 == 0.0)
        .map(|s| s.0)
        .expect("an up 0 sample");
    let (mut not_stale, mut checked) = (Vec::new(), 0);
    for (key, samples) in &d {
        if !key.contains(&format!("instance=\"{addr}\"")) {
            continue;
        }
        let is_report = [
            "up",
            "scrape_duration_seconds",
            "scrape_samples_scraped",
            "scrape_samples_post_metric_relabeling",
            "scrape_series_added",
        ]
        .iter()
        .any(|n| key.starts_with(&format!("{{__name__=\"{n}\"")));
        let marked = samples
            .iter()
            .any(|&(t, v)| t == down_at && model::value::is_stale_nan(v));
        if !is_report {
            checked += 1;
            if !marked {
                not_stale.push(key.clone());
            }
        }
    }
    manager.stop().await;
    assert_eq!(checked, expected);
    assert!(
        not_stale.is_empty(),
        "{} series without a staleness marker at the failed scrape: {not_stale:#?}",
        not_stale.len()
    );
}

fn tls_server_config(require_client_cert: bool) -> Option<Arc<rustls::ServerConfig>> {
    use rustls_pki_types::pem::PemObject;
    let dir = test_support::testdata_dir("upstream/scrape/testdata")?;
    let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_file_iter(dir.join("server.cer"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pki_types::CertificateDer::pem_file_iter(dir.join("ca.cer")).unwrap() {
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
    Some(Arc::new(builder.with_single_cert(certs, key).unwrap()))
}

fn https_config(tls: &str) -> config::Config {
    config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: test\n  scheme: https\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\n  tls_config: {tls}\n"
        ),
        "",
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_targets_verify_against_the_configured_ca_and_send_client_certs() {
    let Some(server_tls) = tls_server_config(false) else {
        return;
    };
    let dir = test_support::testdata_dir("upstream/scrape/testdata").unwrap();
    let ca = dir.join("ca.cer").display().to_string();
    let srv = Server::start_with_tls("a 1\n", Some(server_tls)).await;
    let up = key(&srv.addr, "up", "");

    let s = start(&https_config(&format!("{{ca_file: '{ca}'}}")), &srv.addr).await;
    wait_until("up 1 with the CA", || {
        values(&dump(&s.storage), &up).contains(&1.0)
    })
    .await;
    assert_eq!(s.target().url(), format!("https://{}/metrics", srv.addr));
    s.stop().await;

    // Without the CA the certificate is unknown; with insecure_skip_verify it is accepted.
    let s = start(&https_config("{}"), &srv.addr).await;
    wait_until("up 0 without the CA", || {
        values(&dump(&s.storage), &up).contains(&0.0)
    })
    .await;
    let err = s.target().last_error().unwrap();
    assert!(err.contains("certificate"), "{err}");
    s.stop().await;
    let s = start(&https_config("{insecure_skip_verify: true}"), &srv.addr).await;
    wait_until("up 1 insecure", || {
        values(&dump(&s.storage), &up).contains(&1.0)
    })
    .await;
    s.stop().await;
    srv.stop();

    // A server that requires a client certificate.
    let srv = Server::start_with_tls("a 1\n", tls_server_config(true)).await;
    let up = key(&srv.addr, "up", "");
    let (cert, key_file) = (dir.join("client.cer"), dir.join("client.key"));
    let s = start(
        &https_config(&format!(
            "{{ca_file: '{ca}', cert_file: '{}', key_file: '{}'}}",
            cert.display(),
            key_file.display()
        )),
        &srv.addr,
    )
    .await;
    wait_until("up 1 with a client cert", || {
        values(&dump(&s.storage), &up).contains(&1.0)
    })
    .await;
    s.stop().await;
    srv.stop();
}

#[tokio::test]
async fn unusable_tls_settings_fail_apply_config() {
    let m = scrape::Manager::new(Arc::new(MemStorage::new()), scrape::Options::default());
    let err = m
        .apply_config(&https_config("{ca_file: /nonexistent/ca.pem}"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("error creating HTTP client for job \"test\": unable to read CA cert: unable to read file /nonexistent/ca.pem"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_carry_prometheus_headers_and_gzip_bodies_are_read() {
    let srv = Server::start("a 1\n").await;
    srv.reply.lock().unwrap().gzip = true;
    let s = start(
        &config("  authorization: {credentials: secret}\n  params: {p: [v]}\n"),
        &srv.addr,
    )
    .await;
    let a = key(&srv.addr, "a", "");
    wait_until("a", || values(&dump(&s.storage), &a).contains(&1.0)).await;
    s.stop().await;
    let req = srv.reply.lock().unwrap().last_request.to_lowercase();
    for want in [
        "get /metrics?p=v http/1.1",
        "accept: application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,",
        "accept-encoding: gzip",
        "authorization: bearer secret",
        "user-agent: prometheus/",
        "x-prometheus-scrape-timeout-seconds: 0.15",
    ] {
        assert!(req.contains(want), "{want:?} not in {req}");
    }
    srv.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_extra_scrape_metrics_feature_is_the_default_jobs_can_override() {
    let srv = Server::start("a 1\nb 2\n").await;
    let feature = scrape::Options {
        extra_scrape_metrics: true,
        ..scrape::Options::default()
    };
    let up = key(&srv.addr, "up", "");
    let size = key(&srv.addr, "scrape_body_size_bytes", "");
    let limit = key(&srv.addr, "scrape_sample_limit", "");
    // Neither the job nor the global block says: the feature's default applies.
    let s = start_with(&config("  sample_limit: 9\n"), &srv.addr, feature.clone()).await;
    wait_until("body size", || !values(&dump(&s.storage), &size).is_empty()).await;
    let d = dump(&s.storage);
    assert_eq!(values(&d, &size)[0], 8.0, "the body's length");
    assert_eq!(values(&d, &limit)[0], 9.0);
    assert_eq!(
        values(&d, &key(&srv.addr, "scrape_timeout_seconds", ""))[0],
        0.15
    );
    s.stop().await;
    // The configuration wins over the feature, globally or per job.
    for extra in [
        "  extra_scrape_metrics: false\n",
        "global: {extra_scrape_metrics: false}\n",
    ] {
        let cfg = if extra.starts_with("global") {
            config::Config::load_str(
                &format!("{extra}scrape_configs:\n- job_name: test\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\n"),
                "",
            )
            .unwrap()
        } else {
            config(extra)
        };
        let s = start_with(&cfg, &srv.addr, feature.clone()).await;
        wait_until("up 1", || values(&dump(&s.storage), &up).contains(&1.0)).await;
        let d = dump(&s.storage);
        assert!(!d.contains_key(&size), "{extra}: {d:?}");
        assert!(!d.contains_key(&limit), "{extra}");
        s.stop().await;
    }
    // Without the feature nothing extra is reported.
    let s = start(&config(""), &srv.addr).await;
    wait_until("up 1", || values(&dump(&s.storage), &up).contains(&1.0)).await;
    assert!(!dump(&s.storage).contains_key(&size));
    s.stop().await;
    srv.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_and_unit_labels_are_added_from_the_exposed_metadata() {
    let srv = Server::start("# HELP a_total A.\n# TYPE a_total counter\na_total 5\nb 1\n").await;
    let options = scrape::Options {
        enable_type_and_unit_labels: true,
        ..scrape::Options::default()
    };
    let s = start_with(&config(""), &srv.addr, options).await;
    let up = key(&srv.addr, "up", "");
    wait_until("up 1", || values(&dump(&s.storage), &up).contains(&1.0)).await;
    let d = dump(&s.storage);
    let a = format!(
        r#"{{__name__="a_total", __type__="counter", env="dev", instance="{}", job="test"}}"#,
        srv.addr
    );
    assert_eq!(values(&d, &a)[0], 5.0, "{d:?}");
    // Series of no family, and the report series, stay as they are.
    assert_eq!(values(&d, &key(&srv.addr, "b", ""))[0], 1.0);
    // The metadata API still reports the family.
    assert_eq!(
        s.target()
            .get_metadata("a_total")
            .map(|m| m.metric_type.as_str()),
        Some("counter")
    );
    s.stop().await;
    srv.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_size_limit_and_bad_statuses_fail_the_scrape() {
    let srv = Server::start("a 1\nb 2\n").await;
    let up = key(&srv.addr, "up", "");
    let s = start(&config("  body_size_limit: 5B\n"), &srv.addr).await;
    wait_until("up 0", || values(&dump(&s.storage), &up).contains(&0.0)).await;
    assert_eq!(
        s.target().last_error().as_deref(),
        Some("body size limit exceeded")
    );
    s.stop().await;

    // extra_scrape_metrics adds the timeout, the sample limit and the body size (-1 when the
    // limit was hit).
    let s = start(
        &config("  body_size_limit: 5B\n  sample_limit: 7\n  extra_scrape_metrics: true\n"),
        &srv.addr,
    )
    .await;
    let size = key(&srv.addr, "scrape_body_size_bytes", "");
    wait_until("body size", || !values(&dump(&s.storage), &size).is_empty()).await;
    let d = dump(&s.storage);
    assert_eq!(values(&d, &size)[0], -1.0);
    assert_eq!(
        values(&d, &key(&srv.addr, "scrape_sample_limit", ""))[0],
        7.0
    );
    assert_eq!(
        values(&d, &key(&srv.addr, "scrape_timeout_seconds", ""))[0],
        0.15
    );
    s.stop().await;

    srv.reply.lock().unwrap().status = 503;
    let s = start(&config(""), &srv.addr).await;
    wait_until("up 0", || values(&dump(&s.storage), &up).contains(&0.0)).await;
    assert_eq!(
        s.target().last_error().as_deref(),
        Some("server returned HTTP status 503 Service Unavailable")
    );
    s.stop().await;
    srv.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_targets_time_out_and_basic_auth_is_sent() {
    let srv = Server::start("a 1\n").await;
    let pw = std::env::temp_dir().join(format!(
        "scrape-it-pw-{}-{}",
        std::process::id(),
        srv.addr.replace([':', '.'], "_")
    ));
    std::fs::write(&pw, "s3cret\n").unwrap();
    srv.reply.lock().unwrap().delay = Duration::from_millis(400);
    let up = key(&srv.addr, "up", "");
    let s = start(
        &config(&format!(
            "  basic_auth: {{username: u, password_file: '{}'}}\n",
            pw.display()
        )),
        &srv.addr,
    )
    .await;
    wait_until("up 0", || values(&dump(&s.storage), &up).contains(&0.0)).await;
    assert_eq!(
        s.target().last_error().unwrap(),
        format!(
            "Get \"http://{}/metrics\": context deadline exceeded",
            srv.addr
        )
    );
    s.stop().await;
    let _ = std::fs::remove_file(&pw);
    let req = srv.reply.lock().unwrap().last_request.clone();
    // "u:s3cret" in base64; the file's trailing newline is trimmed as Prometheus does.
    assert!(
        req.contains("authorization: Basic dTpzM2NyZXQ=")
            || req.contains("Authorization: Basic dTpzM2NyZXQ="),
        "{req}"
    );
    srv.stop();
}

// Native histograms over the protobuf format, into a storage that records histograms
// (MemStorage's histogram support is another crate's business).

type HistogramSamples = Vec<(i64, Option<model::Histogram>, Option<model::FloatHistogram>)>;

/// What the capturing storage was given, by printed label set.
#[derive(Default, Debug, Clone)]
struct Captured {
    floats: BTreeMap<String, Vec<(i64, f64)>>,
    histograms: BTreeMap<String, HistogramSamples>,
    exemplars: BTreeMap<String, Vec<storage::Exemplar>>,
}

#[derive(Default, Clone)]
struct Capture(Arc<Mutex<Captured>>);

struct CaptureAppender {
    into: Arc<Mutex<Captured>>,
    pending: Captured,
}

impl storage::Appendable for Capture {
    fn appender(&self) -> Box<dyn storage::Appender> {
        Box::new(CaptureAppender {
            into: self.0.clone(),
            pending: Captured::default(),
        })
    }
}

impl storage::Appender for CaptureAppender {
    fn append(
        &mut self,
        _r: storage::SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> storage::Result<storage::SeriesRef> {
        let e = self.pending.floats.entry(labels.to_string()).or_default();
        if e.last().is_some_and(|(last, _)| *last >= t) {
            return Err(storage::Error::OutOfOrderSample);
        }
        e.push((t, v));
        Ok(0)
    }

    fn append_exemplar(
        &mut self,
        _r: storage::SeriesRef,
        labels: &Labels,
        exemplar: &storage::Exemplar,
    ) -> storage::Result<storage::SeriesRef> {
        let e = self
            .pending
            .exemplars
            .entry(labels.to_string())
            .or_default();
        e.push(exemplar.clone());
        Ok(0)
    }

    fn append_histogram(
        &mut self,
        _r: storage::SeriesRef,
        labels: &Labels,
        t: i64,
        h: Option<&model::Histogram>,
        fh: Option<&model::FloatHistogram>,
    ) -> storage::Result<storage::SeriesRef> {
        assert!(h.is_some() != fh.is_some(), "exactly one histogram");
        let e = self
            .pending
            .histograms
            .entry(labels.to_string())
            .or_default();
        e.push((t, h.cloned(), fh.cloned()));
        Ok(0)
    }

    fn commit(self: Box<Self>) -> storage::Result<()> {
        let mut into = self.into.lock().unwrap();
        for (k, v) in self.pending.floats {
            into.floats.entry(k).or_default().extend(v);
        }
        for (k, v) in self.pending.histograms {
            into.histograms.entry(k).or_default().extend(v);
        }
        for (k, v) in self.pending.exemplars {
            into.exemplars.entry(k).or_default().extend(v);
        }
        Ok(())
    }

    fn rollback(self: Box<Self>) -> storage::Result<()> {
        Ok(())
    }
}

struct CaptureSetup {
    capture: Capture,
    manager: scrape::Manager,
    run: tokio::task::JoinHandle<()>,
    _tx: tokio::sync::watch::Sender<scrape::TargetSets>,
}

impl CaptureSetup {
    async fn start(cfg: &config::Config, addr: &str) -> CaptureSetup {
        let capture = Capture::default();
        let manager = scrape::Manager::new(
            Arc::new(capture.clone()),
            scrape::Options {
                discovery_reload_interval: Duration::from_millis(20),
                ..scrape::Options::default()
            },
        );
        manager.apply_config(cfg).unwrap();
        let (tx, rx) = tokio::sync::watch::channel(scrape::TargetSets::new());
        let m = manager.clone();
        let run = tokio::spawn(async move { m.run(rx).await });
        set_targets(&tx, &[addr]);
        CaptureSetup {
            capture,
            manager,
            run,
            _tx: tx,
        }
    }

    fn up(&self, addr: &str) -> Vec<f64> {
        let c = self.capture.0.lock().unwrap();
        c.floats
            .get(&key(addr, "up", ""))
            .map(|v| v.iter().map(|x| x.1).collect())
            .unwrap_or_default()
    }

    fn snapshot(&self) -> Captured {
        self.capture.0.lock().unwrap().clone()
    }

    async fn stop(self) {
        self.manager.stop().await;
        self.run.await.unwrap();
    }
}

const PROTO: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// A counter with an exemplar, an integer native histogram that also has classic buckets
/// and native exemplars, and a float gauge histogram.
fn proto_body() -> Vec<u8> {
    use scrape::textparse::dto::*;
    let ex = |id: &str, v: f64, secs: Option<i64>| Exemplar {
        label: vec![LabelPair {
            name: "trace_id".into(),
            value: id.into(),
        }],
        value: v,
        timestamp: secs.map(|seconds| Timestamp { seconds, nanos: 0 }),
    };
    encode_delimited(&[
        MetricFamily {
            name: "requests_total".into(),
            help: "Requests.".into(),
            r#type: MetricType::Counter as i32,
            metric: vec![Metric {
                counter: Some(Counter {
                    value: 7.0,
                    exemplar: Some(ex("c1", 1.0, Some(1_700_000_000))),
                    created_timestamp: None,
                }),
                ..Default::default()
            }],
            ..Default::default()
        },
        MetricFamily {
            name: "latency_seconds".into(),
            help: "Latency.".into(),
            r#type: MetricType::Histogram as i32,
            metric: vec![Metric {
                label: vec![LabelPair {
                    name: "path".into(),
                    value: "/".into(),
                }],
                histogram: Some(Histogram {
                    sample_count: 10,
                    sample_sum: 4.5,
                    bucket: vec![
                        Bucket {
                            cumulative_count: 4,
                            upper_bound: 0.5,
                            ..Default::default()
                        },
                        Bucket {
                            cumulative_count: 9,
                            upper_bound: 1.0,
                            ..Default::default()
                        },
                    ],
                    schema: 1,
                    zero_threshold: 0.001,
                    zero_count: 1,
                    // Buckets -1, 0 (a gap) 2, 3 with counts 3, 2, 3, 1.
                    positive_span: vec![
                        BucketSpan {
                            offset: -1,
                            length: 2,
                        },
                        BucketSpan {
                            offset: 1,
                            length: 2,
                        },
                    ],
                    positive_delta: vec![3, -1, 1, -2],
                    exemplars: vec![
                        ex("h1", 0.3, Some(1_700_000_001)),
                        ex("no-ts", 0.7, None),
                        ex("h2", 1.2, Some(1_700_000_002)),
                    ],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        },
        MetricFamily {
            name: "queue_depth".into(),
            help: "Depth.".into(),
            r#type: MetricType::GaugeHistogram as i32,
            metric: vec![Metric {
                histogram: Some(Histogram {
                    sample_count_float: 2.5,
                    sample_sum: 3.0,
                    schema: 0,
                    positive_span: vec![BucketSpan {
                        offset: 1,
                        length: 1,
                    }],
                    positive_count: vec![2.5],
                    ..Default::default()
                }),
                timestamp_ms: 1_700_000_000_000,
                ..Default::default()
            }],
            ..Default::default()
        },
    ])
}

async fn proto_server() -> Server {
    let srv = Server::start("").await;
    {
        let mut r = srv.reply.lock().unwrap();
        r.content_type = PROTO;
        r.body = proto_body();
    }
    srv
}

fn spans(s: &[(i32, u32)]) -> Vec<model::Span> {
    s.iter()
        .map(|&(offset, length)| model::Span { offset, length })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_histograms_are_scraped_over_protobuf() {
    let srv = proto_server().await;
    let s = CaptureSetup::start(&config("  scrape_native_histograms: true\n"), &srv.addr).await;
    wait_until("up 1", || s.up(&srv.addr).contains(&1.0)).await;
    let accept = srv.reply.lock().unwrap().last_request.clone();
    assert!(
        accept.contains("accept: application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text"),
        "{accept}"
    );
    let c = s.snapshot();
    let lat = key(&srv.addr, "latency_seconds", r#", path="/""#);
    let (_, h, fh) = &c.histograms[&lat][0];
    assert!(fh.is_none());
    assert_eq!(
        h.as_ref().unwrap(),
        &model::Histogram {
            schema: 1,
            zero_threshold: 0.001,
            zero_count: 1,
            count: 10,
            sum: 4.5,
            positive_spans: spans(&[(-1, 2), (1, 2)]),
            positive_buckets: vec![3, -1, 1, -2],
            ..Default::default()
        }
    );
    // Only native exemplars with a timestamp, in order.
    let ex: Vec<(String, i64)> = c.exemplars[&lat]
        .iter()
        .map(|e| (e.labels.to_string(), e.ts))
        .collect();
    assert_eq!(
        ex,
        [
            (r#"{trace_id="h1"}"#.to_string(), 1_700_000_001_000),
            (r#"{trace_id="h2"}"#.to_string(), 1_700_000_002_000)
        ]
    );
    let depth = key(&srv.addr, "queue_depth", "");
    let (t, h, fh) = &c.histograms[&depth][0];
    assert_eq!(*t, 1_700_000_000_000, "exposed timestamp honored");
    assert!(h.is_none());
    let fh = fh.as_ref().unwrap();
    assert_eq!(fh.counter_reset_hint, model::CounterResetHint::Gauge);
    assert_eq!(
        (fh.count, fh.sum, fh.positive_buckets.clone()),
        (2.5, 3.0, vec![2.5])
    );
    let req = key(&srv.addr, "requests_total", "");
    assert_eq!(c.floats[&req][0].1, 7.0);
    assert_eq!(c.exemplars[&req][0].value, 1.0);
    // No classic series of the native histogram without always_scrape_classic_histograms.
    assert!(
        c.floats.keys().all(|k| !k.contains("latency_seconds")),
        "{:#?}",
        c.floats.keys()
    );
    assert_eq!(
        c.floats[&key(&srv.addr, "scrape_samples_scraped", "")][0].1,
        3.0
    );
    s.stop().await;
    srv.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_series_are_kept_and_bucket_limits_lower_the_resolution() {
    let srv = proto_server().await;
    let s = CaptureSetup::start(
        &config(
            "  scrape_native_histograms: true\n  always_scrape_classic_histograms: true\n  native_histogram_bucket_limit: 2\n",
        ),
        &srv.addr,
    )
    .await;
    wait_until("up 1", || s.up(&srv.addr).contains(&1.0)).await;
    let c = s.snapshot();
    let lat = key(&srv.addr, "latency_seconds", r#", path="/""#);
    let h = c.histograms[&lat][0].1.clone().unwrap();
    // Schema 1 buckets -1, 0, 2, 3 (counts 3, 2, 3, 1): schema 0 gives 0, 1, 2 (3 buckets),
    // schema -1 gives 0 (3 + 2) and 1 (3 + 1).
    assert_eq!(h.schema, -1);
    assert_eq!(h.positive_spans, spans(&[(0, 2)]));
    assert_eq!(h.positive_buckets, vec![5, -1]);
    assert_eq!((h.count, h.zero_count), (10, 1));
    for (name, extra, v) in [
        ("latency_seconds_count", r#", path="/""#, 10.0),
        ("latency_seconds_sum", r#", path="/""#, 4.5),
        ("latency_seconds_bucket", r#", le="0.5", path="/""#, 4.0),
        ("latency_seconds_bucket", r#", le="1.0", path="/""#, 9.0),
        ("latency_seconds_bucket", r#", le="+Inf", path="/""#, 10.0),
    ] {
        let k = key(&srv.addr, name, extra);
        assert_eq!(c.floats.get(&k).map(|v| v[0].1), Some(v), "{k}");
    }
    s.stop().await;
    srv.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_scrape_native_histograms_they_are_classic() {
    let srv = proto_server().await;
    let s = CaptureSetup::start(&config(""), &srv.addr).await;
    wait_until("up 1", || s.up(&srv.addr).contains(&1.0)).await;
    let accept = srv.reply.lock().unwrap().last_request.clone();
    assert!(!accept.contains("protobuf"), "{accept}");
    let c = s.snapshot();
    assert!(c.histograms.is_empty(), "{:#?}", c.histograms);
    let k = key(
        &srv.addr,
        "latency_seconds_bucket",
        r#", le="0.5", path="/""#,
    );
    assert_eq!(c.floats[&k][0].1, 4.0);
    let k = key(&srv.addr, "queue_depth_bucket", r#", le="+Inf""#);
    assert_eq!(c.floats[&k][0].1, 2.5);
    s.stop().await;
    srv.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmet_bucket_limits_and_bad_protobuf_fail_the_scrape() {
    let srv = proto_server().await;
    let cfg = config(
        "  scrape_native_histograms: true\n  native_histogram_bucket_limit: 1\n  native_histogram_min_bucket_factor: 100\n",
    );
    let s = CaptureSetup::start(&cfg, &srv.addr).await;
    wait_until("up 0", || s.up(&srv.addr).contains(&0.0)).await;
    let t = s.manager.targets_active()["test"][0].clone();
    assert_eq!(
        t.last_error().as_deref(),
        Some("histogram bucket limit exceeded")
    );
    assert!(s.capture.0.lock().unwrap().histograms.is_empty());
    s.stop().await;

    srv.reply.lock().unwrap().body = vec![0x05, 0x0a, 0x03];
    let s = CaptureSetup::start(&config("  scrape_native_histograms: true\n"), &srv.addr).await;
    wait_until("up 0", || s.up(&srv.addr).contains(&0.0)).await;
    let t = s.manager.targets_active()["test"][0].clone();
    let err = t.last_error().unwrap();
    assert!(err.starts_with("protobuf metric family 1"), "{err}");
    s.stop().await;
    srv.stop();
}

/// Every series and metadata entry of a payload, as printed label sets (values left out:
/// they move between two fetches) plus `# HELP`/`# TYPE` pairs.
fn inventory(body: &[u8], content_type: &str) -> (Vec<String>, Vec<String>) {
    use scrape::textparse::{Entry, Parser};
    let (mut p, _) = scrape::textparse::new(body, content_type, &Default::default()).unwrap();
    let (mut series, mut meta) = (Vec::new(), Vec::new());
    while let Some(e) = p.next().unwrap() {
        match e {
            Entry::Series => series.push(p.labels().unwrap().to_string()),
            Entry::Help => {
                let (n, h) = p.help();
                meta.push(format!("HELP {n} {h}"));
            }
            Entry::Type => {
                let (n, t) = p.metric_type();
                meta.push(format!("TYPE {n} {t}"));
            }
            _ => {}
        }
    }
    series.sort();
    meta.sort();
    (series, meta)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_exporter_protobuf_gives_the_series_of_its_text_format() {
    const BIN: &str = "/usr/bin/prometheus-node-exporter";
    if !std::path::Path::new(BIN).exists() {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "{BIN} is required when CI is set"
        );
        println!("skipping: {BIN} is not installed");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(BIN)
        .arg(format!("--web.listen-address={addr}"))
        // Collectors whose series come and go between two fetches.
        .args(["--no-collector.processes", "--no-collector.interrupts"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "node exporter did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (text_ct, text) = fetch(&addr, "text/plain;version=0.0.4").await;
    let (proto_ct, proto) = fetch(
        &addr,
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
    )
    .await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        proto_ct.starts_with("application/vnd.google.protobuf"),
        "{proto_ct}"
    );
    let (text_series, text_meta) = inventory(&text, &text_ct);
    let (proto_series, proto_meta) = inventory(&proto, &proto_ct);
    assert!(text_series.len() > 100, "{}", text_series.len());
    let only_text: Vec<&String> = text_series
        .iter()
        .filter(|s| proto_series.binary_search(s).is_err())
        .collect();
    let only_proto: Vec<&String> = proto_series
        .iter()
        .filter(|s| text_series.binary_search(s).is_err())
        .collect();
    assert!(
        only_text.is_empty() && only_proto.is_empty(),
        "text only: {only_text:#?}\nprotobuf only: {only_proto:#?}"
    );
    assert_eq!(text_meta, proto_meta);
    println!(
        "node_exporter: {} series, protobuf {} bytes, text {} bytes",
        proto_series.len(),
        proto.len(),
        text.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_protobuf_histograms_convert_to_custom_buckets() {
    use scrape::textparse::dto::*;
    let srv = Server::start("").await;
    {
        let mut r = srv.reply.lock().unwrap();
        r.content_type = PROTO;
        r.body = encode_delimited(&[MetricFamily {
            name: "size_bytes".into(),
            r#type: MetricType::Histogram as i32,
            metric: vec![Metric {
                histogram: Some(Histogram {
                    sample_count: 5,
                    sample_sum: 700.0,
                    bucket: [(1, 100.0), (3, 200.0)]
                        .iter()
                        .map(|&(cumulative_count, upper_bound)| Bucket {
                            cumulative_count,
                            upper_bound,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }]);
    }
    let s = CaptureSetup::start(
        &config("  convert_classic_histograms_to_nhcb: true\n"),
        &srv.addr,
    )
    .await;
    wait_until("up 1", || s.up(&srv.addr).contains(&1.0)).await;
    let c = s.snapshot();
    let h = c.histograms[&key(&srv.addr, "size_bytes", "")][0]
        .1
        .clone()
        .unwrap();
    assert_eq!(h.schema, -53);
    assert_eq!(h.custom_values, vec![100.0, 200.0]);
    assert_eq!(h.positive_spans, spans(&[(0, 3)]));
    // Per-bucket counts 1, 2, 2 as deltas.
    assert_eq!(h.positive_buckets, vec![1, 1, 0]);
    assert!(c.floats.keys().all(|k| !k.contains("size_bytes")));
    s.stop().await;
    srv.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_text_histograms_convert_to_custom_buckets() {
    let srv = Server::start(
        "# TYPE rt_seconds histogram\nrt_seconds_bucket{le=\"0.1\"} 1\nrt_seconds_bucket{le=\"1\"} 3\nrt_seconds_bucket{le=\"+Inf\"} 4\nrt_seconds_sum 2.5\nrt_seconds_count 4\nother 1\n",
    )
    .await;
    let s = CaptureSetup::start(
        &config("  convert_classic_histograms_to_nhcb: true\n  always_scrape_classic_histograms: true\n"),
        &srv.addr,
    )
    .await;
    wait_until("up 1", || s.up(&srv.addr).contains(&1.0)).await;
    let c = s.snapshot();
    let h = c.histograms[&key(&srv.addr, "rt_seconds", "")][0]
        .1
        .clone()
        .unwrap();
    assert_eq!(h.schema, -53);
    assert_eq!(h.custom_values, vec![0.1, 1.0]);
    assert_eq!((h.count, h.sum), (4, 2.5));
    assert_eq!(h.positive_buckets, vec![1, 1, -1]);
    // Kept classic series and other series are stored as usual.
    assert_eq!(
        c.floats[&key(&srv.addr, "rt_seconds_bucket", r#", le="1.0""#)][0].1,
        3.0
    );
    assert_eq!(c.floats[&key(&srv.addr, "other", "")][0].1, 1.0);
    assert_eq!(
        c.floats[&key(&srv.addr, "scrape_samples_scraped", "")][0].1,
        7.0
    );
    s.stop().await;
    srv.stop();
}

/// The value of the sample line `series` (name and labels as written) in `/metrics` text.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn metrics_text(m: &scrape::Manager) -> String {
    let mut out = String::new();
    m.write_metrics(&mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_metrics_count_pools_syncs_intervals_reloads_and_limits() {
    let srv =
        Server::start("# HELP a Things.\n# TYPE a gauge\na 1\n# TYPE b_total counter\nb_total 2\n")
            .await;
    let s = start(&config("  target_limit: 5\n"), &srv.addr).await;
    let interval_count = "prometheus_target_interval_length_seconds_count{interval=\"200ms\"}";
    wait_until("two scrapes", || {
        metric(&metrics_text(&s.manager), interval_count).is_some_and(|n| n >= 1.0)
    })
    .await;
    let text = metrics_text(&s.manager);
    let job = "{scrape_job=\"test\"}";
    for (series, want) in [
        ("prometheus_target_scrape_pools_total".to_string(), 1.0),
        ("prometheus_target_scrape_pools_failed_total".into(), 0.0),
        (format!("prometheus_target_scrape_pool_targets{job}"), 1.0),
        (
            format!("prometheus_target_scrape_pool_target_limit{job}"),
            5.0,
        ),
        (format!("prometheus_target_sync_failed_total{job}"), 0.0),
        // HELP "Things." and type "gauge"; b_total: type "counter".
        (
            format!("prometheus_target_metadata_cache_entries{job}"),
            2.0,
        ),
        (format!("prometheus_target_metadata_cache_bytes{job}"), 19.0),
        ("prometheus_target_scrape_pool_reloads_total".into(), 0.0),
    ] {
        assert_eq!(metric(&text, &series), Some(want), "{series} in\n{text}");
    }
    assert!(
        metric(
            &text,
            &format!("prometheus_target_scrape_pool_sync_total{job}")
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        metric(
            &text,
            &format!("prometheus_target_sync_length_seconds_count{job}")
        )
        .unwrap()
            >= 1.0
    );
    // The actual intervals are about the configured one (no timing bounds: only sanity).
    let q = metric(
        &text,
        "prometheus_target_interval_length_seconds{interval=\"200ms\",quantile=\"0.5\"}",
    )
    .unwrap();
    assert!(q > 0.0, "{q}");

    // A changed job reloads its pool; its one target is within the new limit of 1, two
    // targets are not.
    s.manager
        .apply_config(&config("  target_limit: 1\n"))
        .unwrap();
    let text = metrics_text(&s.manager);
    assert_eq!(
        metric(&text, "prometheus_target_scrape_pool_reloads_total"),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "prometheus_target_scrape_pool_reloads_failed_total"),
        Some(0.0)
    );
    assert_eq!(
        metric(
            &text,
            "prometheus_target_reload_length_seconds_count{interval=\"200ms\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            "prometheus_target_scrape_pool_exceeded_target_limit_total"
        ),
        Some(0.0)
    );
    let other = Server::start("a 1\n").await;
    set_targets(&s.tx, &[&srv.addr, &other.addr]);
    wait_until("target limit hit", || {
        metric(
            &metrics_text(&s.manager),
            "prometheus_target_scrape_pool_exceeded_target_limit_total",
        )
        .is_some_and(|n| n >= 1.0)
    })
    .await;
    s.stop().await;
    other.stop();

    // Bodies over the limit are counted once per scrape.
    let s = start(&config("  body_size_limit: 5B\n"), &srv.addr).await;
    wait_until("body size limit hit", || {
        metric(
            &metrics_text(&s.manager),
            "prometheus_target_scrapes_exceeded_body_size_limit_total",
        )
        .is_some_and(|n| n >= 1.0)
    })
    .await;
    s.stop().await;
    srv.stop();
}
