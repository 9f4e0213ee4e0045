//! Tests of http_sd against a loopback HTTP server whose answer the test sets.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::service::service_fn;

use super::*;

/// What the server answers: status, content type, body.
type Reply = (u16, &'static str, String);

/// A loopback HTTP server answering every request with the current [`Reply`] and recording
/// the request headers.
pub(crate) struct SdServer {
    pub(crate) addr: SocketAddr,
    reply: Arc<Mutex<Reply>>,
    seen: Arc<Mutex<Vec<http::HeaderMap>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SdServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SdServer {
    pub(crate) async fn start(reply: Reply) -> SdServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reply = Arc::new(Mutex::new(reply));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (r, s) = (reply.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (r, s) = (r.clone(), s.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: http::Request<Incoming>| {
                        let (r, s) = (r.clone(), s.clone());
                        async move {
                            s.lock().unwrap().push(req.headers().clone());
                            let (status, ct, body) = r.lock().unwrap().clone();
                            Ok::<_, std::convert::Infallible>(
                                http::Response::builder()
                                    .status(status)
                                    .header("content-type", ct)
                                    .body(Full::new(Bytes::from(body)))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        SdServer {
            addr,
            reply,
            seen,
            task,
        }
    }

    pub(crate) fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/sd", self.addr)
    }
}

fn discovery(yaml_extra: &str, url: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  http_sd_configs:\n  - url: '{url}'\n    refresh_interval: 15s\n{yaml_extra}"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Http(h) => Discovery::new(h).unwrap(),
        other => panic!("{other:?}"),
    }
}

const TWO_GROUPS: &str = r#"[
  {"targets": ["a:1", "b:2"], "labels": {"env": "prod"}},
  {"targets": ["c:3"], "unknown": "ignored"}
]"#;

#[tokio::test]
async fn groups_get_the_url_label_and_sources_and_shrinking_clears_groups() {
    let srv = SdServer::start((200, "application/json", TWO_GROUPS.into())).await;
    let url = srv.url();
    let mut d = discovery("", &url);
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].source, format!("{url}:0"));
    assert_eq!(
        groups[0].labels.to_string(),
        format!(r#"{{__meta_url="{url}", env="prod"}}"#)
    );
    let addrs: Vec<_> = groups[0]
        .targets
        .iter()
        .map(|t| t.get("__address__").unwrap().to_string())
        .collect();
    assert_eq!(addrs, ["a:1", "b:2"]);
    assert_eq!(groups[1].source, format!("{url}:1"));
    assert_eq!(groups[1].labels.get(META_URL), Some(url.as_str()));

    let headers = srv.seen.lock().unwrap()[0].clone();
    assert_eq!(headers["accept"], "application/json");
    assert_eq!(headers["x-prometheus-refresh-interval-seconds"], "15");
    assert!(
        headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("Prometheus/")
    );

    // One group fewer: the second comes back empty so its targets go away.
    srv.set((
        200,
        "application/json; charset=utf-8",
        r#"[{"targets": ["d:4"]}]"#.into(),
    ));
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].targets.len(), 1);
    assert!(groups[1].targets.is_empty());
    assert_eq!(groups[1].source, format!("{url}:1"));
    // And only once.
    assert_eq!(d.refresh().await.unwrap().len(), 1);
}

#[tokio::test]
async fn bad_answers_are_errors() {
    let srv = SdServer::start((500, "application/json", "[]".into())).await;
    let mut d = discovery("", &srv.url());
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "server returned HTTP status 500 Internal Server Error"
    );
    srv.set((200, "text/plain", "[]".into()));
    assert_eq!(
        d.refresh().await.unwrap_err(),
        r#"unsupported content type "text/plain""#
    );
    srv.set((200, "application/json", "[null]".into()));
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "nil target group item found"
    );
    srv.set((200, "application/json", "{}".into()));
    assert!(d.refresh().await.is_err());
}

#[tokio::test]
async fn the_http_client_options_apply() {
    let srv = SdServer::start((200, "application/json", "[]".into())).await;
    let mut d = discovery("    basic_auth: {username: u, password: p}\n", &srv.url());
    d.refresh().await.unwrap();
    assert_eq!(srv.seen.lock().unwrap()[0]["authorization"], "Basic dTpw");
}

#[test]
fn json_content_types_as_prometheus_accepts_them() {
    for ok in [
        "application/json",
        "Application/JSON",
        " application/json ",
        "application/json;charset=utf-8",
        "application/json; charset=\"UTF-8\"",
    ] {
        assert!(is_json_content_type(ok), "{ok}");
    }
    for bad in [
        "",
        "text/json",
        "application/jsonx",
        "application/json; charset=latin1",
        "application/json;",
    ] {
        assert!(!is_json_content_type(bad), "{bad}");
    }
}
