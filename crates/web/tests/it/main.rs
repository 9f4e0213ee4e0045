//! Drives the web handler in process over a `storage::MemStorage` and checks the exact
//! bodies Prometheus would answer.

#![allow(clippy::unwrap_used)]

mod otlp;
mod querylog;
mod remote_write_v2;

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use model::Labels;
use storage::{Appendable, MemStorage};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use web::{Handler, Options, Readiness, ReloadRequest, Status};

struct Server {
    handler: Handler,
    quit: CancellationToken,
    reloads: mpsc::Receiver<ReloadRequest>,
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// Handler options with nothing turned on over `queryable`: ready, a default engine, no
/// receivers, admin API, lifecycle, rules or agent mode. Tests set what they need with
/// `Options { field, ..bare_options(q) }`.
fn bare_options(queryable: Arc<dyn storage::Queryable>) -> Options {
    let status = Arc::new(Status::new(SystemTime::now()));
    status.set_readiness(Readiness::Ready);
    let (reload, _reloads) = mpsc::channel(1);
    Options {
        queryable,
        engine: Arc::new(promql::Engine::new(promql::EngineOpts::default())),
        status,
        tsdb_stats: None,
        tsdb_admin: None,
        scrape: None,
        global_url: Default::default(),
        enable_lifecycle: false,
        enable_admin_api: false,
        cors_origin: None,
        route_prefix: "/".into(),
        flags: Default::default(),
        build_info: Default::default(),
        storage_retention: String::new(),
        quit: CancellationToken::new(),
        reload,
        remote_write_receiver: None,
        remote_write_messages: storage::remote::WriteProtoMsg::ALL.to_vec(),
        otlp_write_receiver: None,
        receiver_features: Default::default(),
        remote_read_queryable: None,
        remote_read_limits: storage::remote::ReadLimits::default(),
        metrics_hook: None,
        agent: false,
        rules: None,
        alertmanagers: None,
        exemplar_queryable: None,
    }
}

/// A handler over a small store:
/// - `up{instance="x",job="a"}`: 1 at 1s and 2s;
/// - `up{instance="y",job="b"}`: 0 at 1s, 1 at 2s;
/// - `go_goroutines{job="a"}`: 42.5 at 1s.
fn server(lifecycle: bool) -> Server {
    server_with(lifecycle, false, 0, "")
}

/// [`server`] with `--web.enable-admin-api`.
fn server_with_admin() -> Server {
    server_with(false, true, 0, "")
}

/// [`server`] with the admin API on or off, the samples shifted by `offset_ms` and
/// `extra_global` appended to the configuration's `global` block.
fn server_with(lifecycle: bool, admin: bool, offset_ms: i64, extra_global: &str) -> Server {
    server_full(
        lifecycle,
        admin,
        offset_ms,
        extra_global,
        false,
        None,
        false,
    )
}

/// [`server`] in agent mode (`--agent`).
fn agent_server() -> Server {
    server_full(false, false, 0, "", true, None, false)
}

fn server_full(
    lifecycle: bool,
    admin: bool,
    offset_ms: i64,
    extra_global: &str,
    agent: bool,
    exemplar_queryable: Option<Arc<dyn storage::ExemplarQueryable>>,
    per_step_stats: bool,
) -> Server {
    let db = Arc::new(MemStorage::new());
    let mut app = db.appender();
    let x = labels(&[("__name__", "up"), ("instance", "x"), ("job", "a")]);
    let y = labels(&[("__name__", "up"), ("instance", "y"), ("job", "b")]);
    let g = labels(&[("__name__", "go_goroutines"), ("job", "a")]);
    app.append(0, &x, offset_ms + 1_000, 1.0).unwrap();
    app.append(0, &x, offset_ms + 2_000, 1.0).unwrap();
    app.append(0, &y, offset_ms + 1_000, 0.0).unwrap();
    app.append(0, &y, offset_ms + 2_000, 1.0).unwrap();
    app.append(0, &g, offset_ms + 1_000, 42.5).unwrap();
    app.commit().unwrap();

    let status = Arc::new(Status::new(SystemTime::now()));
    status.set_readiness(Readiness::Ready);
    let cfg = config::Config::load_str(
        &format!("global:\n  scrape_interval: 15s\n{extra_global}scrape_configs:\n  - job_name: prometheus\n    basic_auth: {{username: u, password: hunter2}}\n    static_configs: [{{targets: ['localhost:9090']}}]\n"),
        "",
    )
    .unwrap();
    status.record_reload(Some(Arc::new(cfg)), SystemTime::now());
    let (reload, reloads) = mpsc::channel(1);
    let quit = CancellationToken::new();
    let handler = Handler::new(Options {
        queryable: db.clone(),
        engine: Arc::new(promql::Engine::new(promql::EngineOpts {
            enable_per_step_stats: per_step_stats,
            ..promql::EngineOpts::default()
        })),
        status,
        tsdb_stats: Some(Arc::new(FixedStats)),
        tsdb_admin: Some(Arc::new(MemAdmin)),
        scrape: None,
        global_url: Default::default(),
        enable_lifecycle: lifecycle,
        enable_admin_api: admin,
        cors_origin: None,
        route_prefix: "/".into(),
        flags: [
            ("query.timeout".to_owned(), "2m".to_owned()),
            ("web.enable-lifecycle".to_owned(), lifecycle.to_string()),
        ]
        .into_iter()
        .collect(),
        build_info: web::BuildInfo {
            version: "0.1.0".into(),
            revision: "abc".into(),
            branch: "main".into(),
            build_user: "me@host".into(),
            build_date: "20261124-00:00:00".into(),
            go_version: "rust1.95".into(),
        },
        storage_retention: "15d".into(),
        quit: quit.clone(),
        reload,
        remote_write_receiver: Some(db.clone()),
        remote_write_messages: storage::remote::WriteProtoMsg::ALL.to_vec(),
        otlp_write_receiver: Some(db.clone()),
        receiver_features: Default::default(),
        remote_read_queryable: None,
        remote_read_limits: storage::remote::ReadLimits::default(),
        metrics_hook: None,
        agent,
        rules: None,
        alertmanagers: None,
        exemplar_queryable,
    });
    Server {
        handler,
        quit,
        reloads,
    }
}

/// TSDB statistics as a TSDB would report them for the store above.
struct FixedStats;

impl web::TsdbStats for FixedStats {
    fn tsdb_status(&self, limit: usize) -> Result<web::TsdbStatus, String> {
        let mut by_name = vec![("up".to_owned(), 2), ("go_goroutines".to_owned(), 1)];
        by_name.truncate(limit);
        Ok(web::TsdbStatus {
            num_series: 3,
            num_label_pairs: 6,
            chunk_count: 3,
            min_time: 1_000,
            max_time: 2_000,
            series_count_by_metric_name: by_name,
            ..web::TsdbStatus::default()
        })
    }

    fn wal_corruptions(&self) -> i64 {
        1
    }

    fn block_metas(&self) -> Result<Vec<web::BlockMetaView>, String> {
        Ok(vec![web::BlockMetaView {
            ulid: "01BKGV7JBM69T2G1BGBGM6KB12".into(),
            min_time: 0,
            max_time: 7_200_000,
            stats: web::BlockStatsView {
                num_samples: 10,
                num_series: 2,
                num_chunks: 2,
                ..Default::default()
            },
            compaction: web::BlockCompactionView {
                level: 1,
                sources: vec!["01BKGV7JBM69T2G1BGBGM6KB12".into()],
                ..Default::default()
            },
            version: 1,
        }])
    }
}

/// Records admin calls instead of deleting (`MemStorage` has no deletion).
struct MemAdmin;

static DELETED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

impl web::TsdbAdmin for MemAdmin {
    fn delete_series(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[model::Matcher],
    ) -> Result<(), String> {
        let m: Vec<String> = matchers.iter().map(ToString::to_string).collect();
        DELETED
            .lock()
            .unwrap()
            .push(format!("{mint} {maxt} {}", m.join(",")));
        Ok(())
    }

    fn clean_tombstones(&self) -> Result<(), String> {
        Err("disk on fire".into())
    }

    fn snapshot(&self, name: &str, with_head: bool) -> Result<(), String> {
        DELETED
            .lock()
            .unwrap()
            .push(format!("snapshot {} {with_head}", name.len()));
        Ok(())
    }
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

async fn send(handler: &Handler, req: Request<Full<Bytes>>) -> Answer {
    let resp = handler.handle(req).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn get(handler: &Handler, uri: &str) -> Answer {
    send(handler, Request::get(uri).body(Full::default()).unwrap()).await
}

async fn post_form(handler: &Handler, uri: &str, form: &str) -> Answer {
    let req = Request::post(uri)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(form.to_owned())))
        .unwrap();
    send(handler, req).await
}

#[tokio::test]
async fn instant_query_returns_a_vector() {
    let s = server(false);
    let a = get(&s.handler, "/api/v1/query?query=up&time=2").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["content-type"], "application/json");
    assert!(!a.headers.contains_key("access-control-allow-origin"));
    // As Prometheus 3.5: `Vary: Origin` always, and the default `.*` echoes the origin.
    assert_eq!(a.headers["vary"], "Origin");
    let req = Request::get("/api/v1/query?query=up&time=2")
        .header("Origin", "http://anywhere")
        .body(Full::<Bytes>::default())
        .unwrap();
    assert_eq!(
        send(&s.handler, req).await.headers["access-control-allow-origin"],
        "http://anywhere"
    );
    assert_eq!(
        a.body,
        concat!(
            r#"{"status":"success","data":{"resultType":"vector","result":["#,
            r#"{"metric":{"__name__":"up","instance":"x","job":"a"},"value":[2,"1"]},"#,
            r#"{"metric":{"__name__":"up","instance":"y","job":"b"},"value":[2,"1"]}]}}"#
        )
    );
}

#[tokio::test]
async fn instant_query_at_fractional_rfc3339_time() {
    let s = server(false);
    let a = get(
        &s.handler,
        "/api/v1/query?query=go_goroutines&time=1970-01-01T00:00:01.781Z",
    )
    .await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"go_goroutines","job":"a"},"value":[1.781,"42.5"]}]}}"#
    );
}

#[tokio::test]
async fn instant_query_returns_a_matrix_for_a_range_selector() {
    let s = server(false);
    let a = get(
        &s.handler,
        "/api/v1/query?query=up%7Bjob%3D%22b%22%7D%5B5s%5D&time=2.5",
    )
    .await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"up","instance":"y","job":"b"},"values":[[1,"0"],[2,"1"]]}]}}"#
    );
}

#[tokio::test]
async fn scalar_and_string_results() {
    let s = server(false);
    let a = get(&s.handler, "/api/v1/query?query=1%2F0&time=1435781451.781").await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":{"resultType":"scalar","result":[1435781451.781,"+Inf"]}}"#
    );
    let a = get(&s.handler, "/api/v1/query?query=%22a%3Cb%22&time=10").await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":{"resultType":"string","result":[10,"a\u003cb"]}}"#
    );
}

#[tokio::test]
async fn post_form_query_prefers_body_values() {
    let s = server(false);
    let a = post_form(
        &s.handler,
        "/api/v1/query?query=nonexistent",
        "query=sum(up)&time=2",
    )
    .await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[2,"2"]}]}}"#
    );
}

#[tokio::test]
async fn range_query_returns_a_matrix() {
    let s = server(false);
    let a = get(
        &s.handler,
        "/api/v1/query_range?query=up%7Bjob%3D%22b%22%7D&start=1&end=3&step=1",
    )
    .await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"up","instance":"y","job":"b"},"values":[[1,"0"],[2,"1"],[3,"1"]]}]}}"#
    );
    let a = get(
        &s.handler,
        "/api/v1/query_range?query=time()&start=0&end=1&step=500ms",
    )
    .await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[0,"0"],[0.500,"0.5"],[1,"1"]]}]}}"#
    );
}

#[tokio::test]
async fn range_query_parameter_errors() {
    let s = server(false);
    let cases = [
        (
            "/api/v1/query_range?query=up&start=x&end=1&step=1",
            r#"invalid parameter \"start\": cannot parse \"x\" to a valid timestamp"#,
        ),
        (
            "/api/v1/query_range?query=up&start=2&end=1&step=1",
            r#"invalid parameter \"end\": end timestamp must not be before start time"#,
        ),
        (
            "/api/v1/query_range?query=up&start=1&end=2&step=0",
            r#"invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer"#,
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=11001&step=1",
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ),
        (
            "/api/v1/query_range?query=up%5B5m%5D&start=0&end=1&step=1",
            r#"invalid parameter \"query\": invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"#,
        ),
    ];
    for (uri, message) in cases {
        let a = get(&s.handler, uri).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(
            a.body,
            format!(r#"{{"status":"error","errorType":"bad_data","error":"{message}"}}"#),
            "{uri}"
        );
    }
    // Exactly 11,000 points is still allowed.
    let a = get(
        &s.handler,
        "/api/v1/query_range?query=1&start=0&end=11000&step=1",
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_query_is_bad_data_with_the_parsers_message() {
    let s = server(false);
    let a = get(&s.handler, "/api/v1/query?query=foo%7B").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.body,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unexpected end of input inside braces"}"#
    );
}

#[tokio::test]
async fn bad_time_parameter_is_bad_data() {
    let s = server(false);
    let a = get(&s.handler, "/api/v1/query?query=up&time=yesterday").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.body,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"time\": invalid time value for 'time': cannot parse \"yesterday\" to a valid timestamp"}"#
    );
    let a = get(&s.handler, "/api/v1/query?query=up&timeout=soon").await;
    assert_eq!(
        a.body,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"timeout\": cannot parse \"soon\" to a valid duration"}"#
    );
}

#[tokio::test]
async fn execution_errors_are_422() {
    let s = server(false);
    // An invalid regular expression is only found while evaluating.
    let a = get(
        &s.handler,
        "/api/v1/query?query=label_replace(up%2C%22a%22%2C%22b%22%2C%22c%22%2C%22(%22)&time=2",
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(
        a.body
            .starts_with(r#"{"status":"error","errorType":"execution","error":"#),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn a_timeout_of_zero_or_less_is_bad_data() {
    let s = server(false);
    for t in ["0", "-1", "-2.3906795750120844e-38", "0s"] {
        let a = get(
            &s.handler,
            &format!("/api/v1/query?query=up&time=2&timeout={t}"),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "timeout={t}");
        assert_eq!(
            a.body,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"timeout\": must be positive"}"#
        );
    }
}

/// A storage that is still opening.
struct NotReady;

impl storage::Queryable for NotReady {
    fn querier(&self, _: i64, _: i64) -> storage::Result<Box<dyn storage::Querier>> {
        Err(storage::Error::NotReady)
    }
}

#[tokio::test]
async fn a_storage_that_is_not_ready_is_unavailable() {
    let handler = Handler::new(Options {
        cors_origin: Some(
            model::Matcher::new(
                model::MatchType::RegexMatch,
                "origin",
                "https?://grafana\\.example",
            )
            .unwrap(),
        ),
        route_prefix: "/prom".into(),
        ..bare_options(Arc::new(NotReady))
    });
    for uri in ["/prom/api/v1/query?query=up", "/prom/api/v1/labels"] {
        let a = get(&handler, uri).await;
        // Prometheus's respondError has no case for `unavailable`: it answers 500.
        assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR, "{uri}");
        assert_eq!(
            a.body, r#"{"status":"error","errorType":"unavailable","error":"TSDB not ready"}"#,
            "{uri}"
        );
    }
    // CORS: only for a matching Origin.
    let req = Request::get("/prom/api/v1/labels")
        .header("Origin", "https://grafana.example")
        .body(Full::<Bytes>::default())
        .unwrap();
    let a = send(&handler, req).await;
    assert_eq!(
        a.headers["access-control-allow-origin"],
        "https://grafana.example"
    );
    let req = Request::get("/prom/api/v1/labels")
        .header("Origin", "https://evil.example")
        .body(Full::<Bytes>::default())
        .unwrap();
    let a = send(&handler, req).await;
    assert!(!a.headers.contains_key("access-control-allow-origin"));
    assert_eq!(
        a.headers["access-control-allow-methods"],
        "GET, POST, OPTIONS"
    );
    // Outside the route prefix nothing is served.
    let a = get(&handler, "/api/v1/labels").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    // The root redirects to the query page under the prefix, as Prometheus does.
    for uri in ["/prom", "/prom/"] {
        let a = get(&handler, uri).await;
        assert_eq!(a.status, StatusCode::FOUND, "{uri}");
        assert_eq!(a.headers["location"], "/prom/query", "{uri}");
    }
    // Go's router: the root takes GET only, under the prefix and outside it; the prefix
    // without its slash is unknown to any other method.
    for uri in ["/prom/", "/"] {
        let req = Request::post(uri).body(Full::<Bytes>::default()).unwrap();
        let a = send(&handler, req).await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{uri}");
        assert_eq!(a.headers["allow"], "GET, OPTIONS", "{uri}");
        assert_eq!(a.headers["x-content-type-options"], "nosniff", "{uri}");
        let req = Request::options(uri)
            .body(Full::<Bytes>::default())
            .unwrap();
        let a = send(&handler, req).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}");
        assert_eq!(a.headers["allow"], "GET, OPTIONS", "{uri}");
    }
    let req = Request::post("/prom")
        .body(Full::<Bytes>::default())
        .unwrap();
    assert_eq!(send(&handler, req).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn series_lists_matching_label_sets() {
    let s = server(false);
    let a = get(
        &s.handler,
        "/api/v1/series?match[]=up&match[]=go_goroutines&start=0&end=10",
    )
    .await;
    assert_eq!(
        a.body,
        concat!(
            r#"{"status":"success","data":[{"__name__":"go_goroutines","job":"a"},"#,
            r#"{"__name__":"up","instance":"x","job":"a"},{"__name__":"up","instance":"y","job":"b"}]}"#
        )
    );
    let a = post_form(&s.handler, "/api/v1/series", "match[]=up&limit=1").await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":[{"__name__":"up","instance":"x","job":"a"}],"warnings":["results truncated due to limit"]}"#
    );
    let a = get(&s.handler, "/api/v1/series").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.body,
        r#"{"status":"error","errorType":"bad_data","error":"no match[] parameter provided"}"#
    );
    let a = get(&s.handler, "/api/v1/series?match[]=up&start=abc").await;
    assert_eq!(
        a.body,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"start\": invalid time value for 'start': cannot parse \"abc\" to a valid timestamp"}"#
    );
}

#[tokio::test]
async fn labels_and_label_values() {
    let s = server(false);
    let a = get(&s.handler, "/api/v1/labels").await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":["__name__","instance","job"]}"#
    );
    let a = get(&s.handler, "/api/v1/labels?match[]=go_goroutines").await;
    assert_eq!(a.body, r#"{"status":"success","data":["__name__","job"]}"#);
    let a = get(&s.handler, "/api/v1/label/job/values").await;
    assert_eq!(a.body, r#"{"status":"success","data":["a","b"]}"#);
    let a = get(
        &s.handler,
        "/api/v1/label/__name__/values?match[]=%7Bjob%3D%22a%22%7D&limit=1",
    )
    .await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":["go_goroutines"],"warnings":["results truncated due to limit"]}"#
    );
    let a = get(
        &s.handler,
        "/api/v1/label/instance/values?match[]=up%7Bjob%3D%22b%22%7D&match[]=nothing",
    )
    .await;
    assert_eq!(a.body, r#"{"status":"success","data":["y"]}"#);
    // No sample of any series lies in [100s, 200s].
    let a = get(&s.handler, "/api/v1/label/job/values?start=100&end=200").await;
    assert_eq!(a.body, r#"{"status":"success","data":[]}"#);
}

#[tokio::test]
async fn format_and_parse_query() {
    let s = server(false);
    let a = get(
        &s.handler,
        "/api/v1/format_query?query=sum(rate(up%5B5m%5D))by(job)",
    )
    .await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":"sum by (job) (rate(up[5m]))"}"#
    );
    let a = get(&s.handler, "/api/v1/parse_query?query=-1").await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":{"type":"numberLiteral","val":"-1"}}"#
    );
    let a = get(&s.handler, "/api/v1/parse_query?query=-%22x%22").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn status_endpoints() {
    let s = server(false);
    let a = get(&s.handler, "/api/v1/status/buildinfo").await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":{"version":"0.1.0","revision":"abc","branch":"main","buildUser":"me@host","buildDate":"20261124-00:00:00","goVersion":"rust1.95"}}"#
    );
    let a = get(&s.handler, "/api/v1/status/flags").await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":{"query.timeout":"2m","web.enable-lifecycle":"false"}}"#
    );
    let a = get(&s.handler, "/api/v1/status/config").await;
    assert!(
        a.body
            .starts_with(r#"{"status":"success","data":{"yaml":"global:\n"#),
        "{}",
        a.body
    );
    assert!(
        a.body.contains("\u{3c}secret\u{3e}") || a.body.contains(r"\u003csecret\u003e"),
        "{}",
        a.body
    );
    assert!(!a.body.contains("hunter2"), "{}", a.body);
    let a = get(&s.handler, "/api/v1/status/tsdb?limit=1").await;
    assert_eq!(
        a.body,
        concat!(
            r#"{"status":"success","data":{"headStats":{"numSeries":3,"numLabelPairs":6,"chunkCount":3,"#,
            r#""minTime":1000,"maxTime":2000},"seriesCountByMetricName":[{"name":"up","value":2}],"#,
            r#""labelValueCountByLabelName":[],"memoryInBytesByLabelName":[],"seriesCountByLabelValuePair":[]}}"#
        )
    );
    let a = get(&s.handler, "/api/v1/status/tsdb?limit=0").await;
    assert_eq!(
        a.body,
        r#"{"status":"error","errorType":"bad_data","error":"limit must be a positive number"}"#
    );
    let a = get(&s.handler, "/api/v1/status/runtimeinfo").await;
    assert!(
        a.body.contains(r#""reloadConfigSuccess":true"#),
        "{}",
        a.body
    );
    assert!(a.body.contains(r#""storageRetention":"15d""#), "{}", a.body);
    assert!(a.body.contains(r#""corruptionCount":1,"#), "{}", a.body);
    // As Prometheus 3: the config's runtime.gogc, and the last reload in whole seconds
    // (read back from its seconds gauge).
    let gogc = config::RuntimeConfig::default().gogc;
    assert!(
        a.body.contains(&format!(r#""GOGC":"{gogc}""#)),
        "{}",
        a.body
    );
    let v: serde_json::Value = serde_json::from_str(&a.body).expect("json");
    let last = v["data"]["lastConfigTime"]
        .as_str()
        .expect("lastConfigTime");
    assert!(last.ends_with('Z') && !last.contains('.'), "{last}");
}

#[tokio::test]
async fn rules_alerts_and_alertmanagers_are_empty_without_a_rule_manager() {
    let s = server(false);
    let a = get(&s.handler, "/api/v1/rules").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, r#"{"status":"success","data":{"groups":[]}}"#);
    let a = get(&s.handler, "/api/v1/alerts").await;
    assert_eq!(a.body, r#"{"status":"success","data":{"alerts":[]}}"#);
    let a = get(&s.handler, "/api/v1/alertmanagers").await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":{"activeAlertmanagers":[],"droppedAlertmanagers":[]}}"#
    );
    let a = post_form(&s.handler, "/api/v1/alerts", "").await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    // Prometheus routes DELETE /series to a 500 "not implemented"; it is not a method the
    // endpoint takes.
    let req = Request::delete("/api/v1/series?match[]=up")
        .body(Full::default())
        .unwrap();
    assert_eq!(
        send(&s.handler, req).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

/// Methods, `Allow` and `nosniff` as Prometheus 3.5.3's router answers them (observed).
#[tokio::test]
async fn methods_are_routed_as_prometheus_routes_them() {
    let s = server(false);
    let send_as = |method: &'static str, uri: &'static str| {
        let h = &s.handler;
        async move {
            let req = Request::builder()
                .method(method)
                .uri(uri)
                .body(Full::default())
                .unwrap();
            send(h, req).await
        }
    };
    for (method, uri, status, allow) in [
        ("HEAD", "/metrics", 405, Some("GET, OPTIONS")),
        ("POST", "/federate", 405, Some("GET, OPTIONS")),
        ("HEAD", "/query", 405, Some("GET, OPTIONS")),
        ("OPTIONS", "/metrics", 200, Some("GET, OPTIONS")),
        ("HEAD", "/-/healthy", 200, None),
        ("DELETE", "/-/ready", 405, Some("GET, HEAD, OPTIONS")),
        ("OPTIONS", "/-/healthy", 200, Some("GET, HEAD, OPTIONS")),
        ("DELETE", "/-/reload", 405, Some("GET, OPTIONS, POST, PUT")),
        ("OPTIONS", "/-/quit", 200, Some("GET, OPTIONS, POST, PUT")),
        ("PUT", "/api/v1/query", 405, Some("GET, OPTIONS, POST")),
        ("GET", "/api/v1/write", 405, Some("OPTIONS, POST")),
        (
            "GET",
            "/api/v1/admin/tsdb/snapshot",
            405,
            Some("OPTIONS, POST, PUT"),
        ),
        ("OPTIONS", "/api/v1/nonexistent", 204, None),
        ("GET", "/api/v1/nonexistent", 404, None),
        ("OPTIONS", "/nonexistent", 404, None),
    ] {
        let a = send_as(method, uri).await;
        assert_eq!(a.status.as_u16(), status, "{method} {uri}");
        assert_eq!(
            a.headers.get("allow").map(|v| v.to_str().unwrap()),
            allow,
            "{method} {uri}"
        );
        // Go's `http.Error` (404 and 405) asks browsers not to sniff.
        assert_eq!(
            a.headers.contains_key("x-content-type-options"),
            status == 404 || status == 405,
            "{method} {uri}"
        );
    }
}

#[tokio::test]
async fn exemplars_are_empty_without_exemplar_storage() {
    let s = server(false);
    let a = get(&s.handler, "/api/v1/query_exemplars?query=up&start=1&end=2").await;
    assert_eq!(a.body, r#"{"status":"success","data":[]}"#);
    // Prometheus answers 204 without a body here; a JSON empty list says the same.
    let a = get(&s.handler, "/api/v1/query_exemplars?query=1").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, r#"{"status":"success","data":[]}"#);
    let a = get(&s.handler, "/api/v1/query_exemplars?query=up&start=2&end=1").await;
    assert_eq!(
        a.body,
        r#"{"status":"error","errorType":"bad_data","error":"end timestamp must not be before start timestamp"}"#
    );
    let a = get(&s.handler, "/api/v1/query_exemplars?query=up{").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

/// An exemplar storage holding two exemplars of `up{instance="x",job="a"}` and one of
/// `go_goroutines{job="a"}`, answering as a storage does (matcher sets, time range).
struct FixedExemplars;

impl storage::ExemplarQueryable for FixedExemplars {
    fn exemplar_querier(&self) -> storage::Result<Box<dyn storage::ExemplarQuerier>> {
        Ok(Box::new(FixedExemplars))
    }
}

impl storage::ExemplarQuerier for FixedExemplars {
    fn select(
        &self,
        start: i64,
        end: i64,
        matcher_sets: &[Vec<model::Matcher>],
    ) -> storage::Result<Vec<storage::ExemplarQueryResult>> {
        let ex = |trace: &str, value: f64, ts: i64| storage::Exemplar {
            labels: labels(&[("trace_id", trace)]),
            value,
            ts,
            has_ts: true,
        };
        let all = [
            (
                labels(&[("__name__", "go_goroutines"), ("job", "a")]),
                vec![ex("g1", 42.5, 1_500)],
            ),
            (
                labels(&[("__name__", "up"), ("instance", "x"), ("job", "a")]),
                vec![
                    ex("EpTxMJ40fUus7aGY", 6.0, 1_000),
                    ex("Olp9XHlq763ccsfa", 19.5, 2_250),
                ],
            ),
        ];
        Ok(all
            .into_iter()
            .filter(|(l, _)| matcher_sets.iter().any(|m| storage::matches_all(l, m)))
            .map(|(series_labels, exemplars)| storage::ExemplarQueryResult {
                series_labels,
                exemplars: exemplars
                    .into_iter()
                    .filter(|e| start <= e.ts && e.ts <= end)
                    .collect(),
            })
            .filter(|r| !r.exemplars.is_empty())
            .collect())
    }
}

#[tokio::test]
async fn exemplars_are_listed_per_series_as_prometheus_shapes_them() {
    let s = server_full(
        false,
        false,
        0,
        "",
        false,
        Some(Arc::new(FixedExemplars)),
        false,
    );
    let a = get(&s.handler, "/api/v1/query_exemplars?query=up&start=0&end=3").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.body,
        r#"{"status":"success","data":[{"seriesLabels":{"__name__":"up","instance":"x","job":"a"},"exemplars":[{"labels":{"trace_id":"EpTxMJ40fUus7aGY"},"value":"6","timestamp":1},{"labels":{"trace_id":"Olp9XHlq763ccsfa"},"value":"19.5","timestamp":2.250}]}]}"#
    );
    // Every selector of the query counts, those of range selectors too; the range is
    // inclusive and in seconds.
    let a = get(
        &s.handler,
        "/api/v1/query_exemplars?query=rate(go_goroutines[5m])%20%2B%20up&start=1.5&end=2",
    )
    .await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":[{"seriesLabels":{"__name__":"go_goroutines","job":"a"},"exemplars":[{"labels":{"trace_id":"g1"},"value":"42.5","timestamp":1.500}]}]}"#
    );
    let a = get(
        &s.handler,
        "/api/v1/query_exemplars?query=up%7Bjob%3D%22b%22%7D",
    )
    .await;
    assert_eq!(a.body, r#"{"status":"success","data":[]}"#);
    let a = get(&s.handler, "/api/v1/query_exemplars?query=vector(1)").await;
    assert_eq!(a.body, r#"{"status":"success","data":[]}"#);
}

#[tokio::test]
async fn query_limit_truncates_with_a_warning_and_stats_are_shaped_as_go() {
    let s = server(false);
    let a = get(&s.handler, "/api/v1/query?query=up&time=2&limit=1").await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"x","job":"a"},"value":[2,"1"]}]},"warnings":["results truncated due to limit"]}"#
    );
    let a = get(&s.handler, "/api/v1/query?query=up&time=2&limit=2").await;
    assert!(!a.body.contains("warnings"), "{}", a.body);
    let a = get(
        &s.handler,
        "/api/v1/query_range?query=up&start=1&end=2&step=1&limit=1",
    )
    .await;
    assert!(
        a.body
            .ends_with(r#"]}]},"warnings":["results truncated due to limit"]}"#),
        "{}",
        a.body
    );
    let a = get(&s.handler, "/api/v1/query?query=up&time=2&stats=all").await;
    let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    let stats = &v["data"]["stats"];
    for k in [
        "evalTotalTime",
        "resultSortTime",
        "queryPreparationTime",
        "innerEvalTime",
        "execQueueTime",
        "execTotalTime",
    ] {
        assert!(stats["timings"][k].is_number(), "{k}: {}", a.body);
    }
    assert!(
        stats["samples"]["totalQueryableSamples"].as_u64().unwrap() > 0,
        "{}",
        a.body
    );
    assert!(stats["samples"]["peakSamples"].is_number(), "{}", a.body);
    let a = get(&s.handler, "/api/v1/query?query=up&limit=-1").await;
    assert_eq!(
        a.body,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"limit\": limit must be non-negative"}"#
    );
}

#[tokio::test]
async fn range_query_stats_all_have_per_step_counts_with_the_feature() {
    // `up` has points at 1s and 2s: steps 1s, 2s, 3s see 2 series each (lookback 5m).
    let uri = "/api/v1/query_range?query=up&start=1&end=3&step=1&stats=all";
    let s = server_full(false, false, 0, "", false, None, true);
    let a = get(&s.handler, uri).await;
    let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    let samples = &v["data"]["stats"]["samples"];
    assert_eq!(
        samples.to_string(),
        r#"{"peakSamples":6,"samplesRead":6,"samplesReadPerStep":[[1,2],[2,2],[3,2]],"totalQueryableSamples":6,"totalQueryableSamplesPerStep":[[1,2],[2,2],[3,2]]}"#
    );
    // Go's field order.
    let at = |k: &str| a.body.find(k).unwrap_or(usize::MAX);
    assert!(at("totalQueryableSamplesPerStep") < at("\"totalQueryableSamples\""));
    assert!(at("\"totalQueryableSamples\"") < at("samplesReadPerStep"));
    assert!(at("samplesReadPerStep") < at("\"samplesRead\""));
    assert!(at("\"samplesRead\"") < at("peakSamples"));
    // `stats=true` has no per-step counts, nor has `stats=all` without the feature.
    let a = get(&s.handler, &uri.replace("stats=all", "stats=true")).await;
    assert!(!a.body.contains("PerStep"), "{}", a.body);
    let s = server(false);
    let a = get(&s.handler, uri).await;
    assert!(!a.body.contains("PerStep"), "{}", a.body);
    assert!(
        a.body
            .contains(r#""totalQueryableSamples":6,"samplesRead":6,"peakSamples":6}"#),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn agent_mode_disables_queries_as_prometheus() {
    let s = agent_server();
    for path in [
        "/api/v1/query?query=up",
        "/api/v1/query_range?query=up&start=1&end=2&step=1",
        "/api/v1/labels",
        "/api/v1/label/job/values",
        "/api/v1/series?match[]=up",
        "/api/v1/rules",
        "/api/v1/alerts",
        "/api/v1/status/tsdb",
        "/api/v1/query_exemplars?query=up",
    ] {
        let a = get(&s.handler, path).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert_eq!(
            a.body,
            r#"{"status":"error","errorType":"execution","error":"unavailable with Prometheus Agent"}"#
        );
    }
    let a = get(&s.handler, "/api/v1/status/buildinfo").await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn status_blocks_walreplay_notifications_and_features() {
    let s = server(false);
    let a = get(&s.handler, "/api/v1/status/tsdb/blocks").await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":{"blocks":[{"ulid":"01BKGV7JBM69T2G1BGBGM6KB12","minTime":0,"maxTime":7200000,"stats":{"numSamples":10,"numSeries":2,"numChunks":2},"compaction":{"level":1,"sources":["01BKGV7JBM69T2G1BGBGM6KB12"]},"version":1}]}}"#
    );
    s.handler.status().set_wal_replay(web::WalReplayStatus {
        min: 0,
        max: 3,
        current: 3,
    });
    let a = get(&s.handler, "/api/v1/status/walreplay").await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":{"min":0,"max":3,"current":3}}"#
    );
    let a = get(&s.handler, "/api/v1/notifications").await;
    assert_eq!(a.body, r#"{"status":"success","data":[]}"#);
    s.handler.status().record_reload(
        None,
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1),
    );
    let a = get(&s.handler, "/api/v1/notifications").await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":[{"text":"Configuration reload has failed.","date":"1970-01-01T00:00:01Z","active":true}]}"#
    );
    let a = get(&s.handler, "/api/v1/features").await;
    let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(v["data"]["api"]["admin"], false, "{}", a.body);
    assert_eq!(v["data"]["promql_functions"]["rate"], true, "{}", a.body);
    let a = get(
        &s.handler,
        "/api/v1/status/self_metrics?metric_name_pattern=prometheus_build_info",
    )
    .await;
    assert!(
        a.body
            .starts_with(r#"{"status":"success","data":[{"name":"prometheus_build_info","help":"#),
        "{}",
        a.body
    );
    assert!(
        a.body.contains(r#""type":"GAUGE","metric":[{"label":["#),
        "{}",
        a.body
    );
    // The WAL replay status answers before the server is ready; queries do not.
    s.handler.status().set_readiness(Readiness::NotReady);
    let a = get(&s.handler, "/api/v1/status/walreplay").await;
    assert_eq!(a.status, StatusCode::OK);
    let a = get(&s.handler, "/api/v1/query?query=up").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn disabled_receivers_and_search_answer_as_a_default_prometheus() {
    let s = server(false);
    let a = get(&s.handler, "/api/v1/search/metric_names?search[]=up").await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        a.body,
        r#"{"status":"error","errorType":"unavailable","error":"search API disabled"}"#
    );
    // The OTLP receiver when off: remote_write_without_the_receiver_is_not_found.
}

/// Reads from `stream` until `buf` holds `events` server-sent events after the headers.
async fn read_events(stream: &mut tokio::net::TcpStream, buf: &mut Vec<u8>, events: usize) {
    use tokio::io::AsyncReadExt as _;
    let count = |buf: &[u8]| String::from_utf8_lossy(buf).matches("data: ").count();
    while count(buf) < events {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("an event within 10 s")
            .expect("read");
        assert!(
            n > 0,
            "stream ended early: {}",
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The `data:` payloads of the events in a raw chunked HTTP answer.
fn event_payloads(raw: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(raw)
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|j| serde_json::from_str(j).unwrap())
        .collect()
}

#[tokio::test]
async fn live_notifications_stream_through_a_failed_and_a_fixed_reload() {
    use tokio::io::AsyncWriteExt as _;
    let s = server(false);
    let status = s.handler.status().clone();
    status.set_max_notification_subscribers(1);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(web::serve(
        listener,
        s.handler.clone(),
        web::ServeOptions::default(),
        shutdown.clone(),
    ));
    status.record_reload(
        None,
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1),
    );

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /api/v1/notifications/live HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    // The active notification comes first.
    read_events(&mut stream, &mut buf, 1).await;
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    for h in [
        "content-type: text/event-stream\r\n",
        "cache-control: no-cache\r\n",
        "transfer-encoding: chunked\r\n",
    ] {
        assert!(head.contains(h), "{h} in {head}");
    }
    assert!(
        String::from_utf8_lossy(&buf).contains(
            "data: {\"text\":\"Configuration reload has failed.\",\"date\":\"1970-01-01T00:00:01Z\",\"active\":true}\n\n"
        ),
        "{}",
        String::from_utf8_lossy(&buf)
    );

    // A second subscriber is over the limit of one: 204 with the same headers.
    let a = get(&s.handler, "/api/v1/notifications/live").await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(a.headers["content-type"], "text/event-stream");

    // Failing again re-dates it; the fixed reload sends it as no longer active.
    status.record_reload(
        None,
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(2),
    );
    status.record_reload(
        Some(Arc::new(config::Config::default())),
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(3),
    );
    read_events(&mut stream, &mut buf, 3).await;
    let events = event_payloads(&buf);
    let summary: Vec<_> = events
        .iter()
        .map(|e| (e["date"].as_str().unwrap(), e["active"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("1970-01-01T00:00:01Z", true),
            ("1970-01-01T00:00:02Z", true),
            ("1970-01-01T00:00:02Z", false)
        ]
    );
    let a = get(&s.handler, "/metrics").await;
    assert!(
        !a.body
            .contains("code=\"200\",handler=\"/api/v1/notifications/live\""),
        "an open stream is not counted yet"
    );
    for line in [
        "prometheus_api_notification_active_subscribers 1\n",
        "prometheus_api_notification_updates_sent_total 2\n",
        "prometheus_api_notification_updates_dropped_total 0\n",
    ] {
        assert!(a.body.contains(line), "{line}");
    }

    // Shutting down: the stream gets the notification, then ends.
    status.set_readiness(Readiness::Stopping);
    shutdown.cancel();
    let mut rest = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        use tokio::io::AsyncReadExt as _;
        stream.read_to_end(&mut rest).await
    })
    .await
    .expect("the stream ends at shutdown")
    .unwrap();
    buf.extend_from_slice(&rest);
    let last = event_payloads(&buf).pop().unwrap();
    assert_eq!(
        last["text"],
        "Prometheus is shutting down and gracefully stopping all operations."
    );
    assert!(String::from_utf8_lossy(&buf).ends_with("0\r\n\r\n"));
    serving.await.unwrap().unwrap();
    assert_eq!(status.notifications_store().active_subscribers(), 0);
    // As Prometheus, the stream's request is counted once it ended.
    let counted =
        "prometheus_http_requests_total{code=\"200\",handler=\"/api/v1/notifications/live\"} 1\n";
    // (The connection task drops the body; wait for it rather than race it.)
    let mut a = get(&s.handler, "/metrics").await;
    for _ in 0..250 {
        if a.body.contains(counted) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        a = get(&s.handler, "/metrics").await;
    }
    assert!(a.body.contains(counted), "{}", a.body);
}

#[tokio::test]
async fn features_not_built_yet_answer_unavailable() {
    let s = server(false);
    let a = get(&s.handler, "/api/v1/targets").await;
    assert_eq!(a.status, StatusCode::NOT_IMPLEMENTED);
    let a = post_form(&s.handler, "/api/v1/admin/tsdb/snapshot", "").await;
    // Prometheus's respondError has no case for `unavailable`: it answers 500.
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        a.body,
        r#"{"status":"error","errorType":"unavailable","error":"admin APIs disabled"}"#
    );
    let a = get(&s.handler, "/api/v1/nonexistent").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn admin_api_deletes_series_when_enabled() {
    let s = server_with_admin();
    let a = post_form(
        &s.handler,
        "/api/v1/admin/tsdb/delete_series",
        "match[]=up%7Bjob%3D%22a%22%7D&start=1&end=2",
    )
    .await;
    // Prometheus answers 204; the OpenAPI description documents 200 with a status.
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body, r#"{"status":"success"}"#);
    assert!(
        DELETED
            .lock()
            .unwrap()
            .contains(&r#"1000 2000 job="a",__name__="up""#.to_owned()),
        "{:?}",
        DELETED.lock().unwrap()
    );
    let a = post_form(&s.handler, "/api/v1/admin/tsdb/delete_series", "").await;
    assert_eq!(
        a.body,
        r#"{"status":"error","errorType":"bad_data","error":"no match[] parameter provided"}"#
    );
    let a = post_form(&s.handler, "/api/v1/admin/tsdb/clean_tombstones", "").await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        a.body,
        r#"{"status":"error","errorType":"internal","error":"disk on fire"}"#
    );
    let a = post_form(&s.handler, "/api/v1/admin/tsdb/snapshot", "skip_head=true").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // `{"name":"20261124T031930Z-0123456789abcdef"}`
    let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    let name = v["data"]["name"].as_str().unwrap();
    let (stamp, random) = name.split_once('-').unwrap();
    assert_eq!(
        (stamp.len(), stamp.as_bytes()[8], stamp.as_bytes()[15]),
        (16, b'T', b'Z')
    );
    assert_eq!(random.len(), 16, "{name}");
    assert!(
        DELETED
            .lock()
            .unwrap()
            .contains(&format!("snapshot {} false", name.len())),
        "{:?}",
        DELETED.lock().unwrap()
    );
    let a = post_form(&s.handler, "/api/v1/admin/tsdb/snapshot", "skip_head=maybe").await;
    assert_eq!(
        a.body,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"skip_head\": unable to parse boolean: strconv.ParseBool: parsing \"maybe\": invalid syntax"}"#
    );
}

#[tokio::test]
async fn readiness_gates_the_api() {
    let s = server(false);
    s.handler.status().set_readiness(Readiness::NotReady);
    let a = get(&s.handler, "/-/ready").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.body, "Service Unavailable");
    assert_eq!(a.headers["x-prometheus-stopping"], "false");
    let a = get(&s.handler, "/api/v1/query?query=up").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    let a = get(&s.handler, "/-/healthy").await;
    assert_eq!(a.body, "Prometheus Server is Healthy.\n");
    s.handler.status().set_readiness(Readiness::Ready);
    let a = get(&s.handler, "/-/ready").await;
    assert_eq!(a.body, "Prometheus Server is Ready.\n");
}

#[tokio::test]
async fn lifecycle_endpoints_need_the_flag() {
    let s = server(false);
    let a = post_form(&s.handler, "/-/quit", "").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.body, "Lifecycle API is not enabled.");
    assert!(!s.quit.is_cancelled());
    let a = get(&s.handler, "/-/reload").await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(a.body, "Only POST or PUT requests allowed");
}

#[tokio::test]
async fn lifecycle_quit_and_reload() {
    let mut s = server(true);
    let handler = s.handler.clone();
    let reload = tokio::spawn(async move { post_form(&handler, "/-/reload", "").await });
    let answer = s.reloads.recv().await.expect("a reload request");
    answer.send(Err("bad config".into())).unwrap();
    let a = reload.await.unwrap();
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(a.body, "failed to reload config: bad config\n");

    let a = post_form(&s.handler, "/-/quit", "").await;
    assert_eq!(a.body, "Requesting termination... Goodbye!");
    assert!(s.quit.is_cancelled());
    let a = post_form(&s.handler, "/-/quit", "").await;
    assert_eq!(a.body, "Termination already in progress.");
}

#[tokio::test]
async fn gzip_when_accepted() {
    let s = server(false);
    let req = Request::get("/api/v1/labels")
        .header("Accept-Encoding", "gzip, deflate")
        .body(Full::<Bytes>::default())
        .unwrap();
    let resp = s.handler.handle(req).await;
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain)
        .unwrap();
    assert_eq!(
        plain,
        r#"{"status":"success","data":["__name__","instance","job"]}"#
    );
}

#[tokio::test]
async fn federate_serves_the_latest_samples() {
    let s = server(false);
    // Far past the samples' lookback window: nothing.
    let a = get(&s.handler, "/federate?match[]=up").await;
    assert_eq!(a.status, StatusCode::OK);
    // Prometheus 3 names the (default) escaping of metric names.
    assert_eq!(
        a.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"
    );
    assert_eq!(a.body, "");
    let a = get(&s.handler, "/federate?match[]=up%7B").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.body,
        "1:4: parse error: unexpected end of input inside braces\n"
    );
}

#[tokio::test]
async fn self_metrics_count_requests() {
    let s = server(false);
    get(&s.handler, "/api/v1/query?query=up").await;
    get(&s.handler, "/api/v1/query?query=up%7B").await;
    let a = get(&s.handler, "/metrics").await;
    assert!(
        a.body
            .contains("prometheus_http_requests_total{code=\"200\",handler=\"/api/v1/query\"} 1\n"),
        "{}",
        a.body
    );
    assert!(
        a.body
            .contains("prometheus_http_requests_total{code=\"400\",handler=\"/api/v1/query\"} 1\n"),
        "{}",
        a.body
    );
    assert!(
        a.body
            .contains("prometheus_config_last_reload_successful 1\n")
    );
    assert!(a.body.contains("prometheus_build_info{branch=\"main\","));
    assert!(
        a.body
            .contains("# TYPE process_resident_memory_bytes gauge\n")
    );
}

/// Posts a binary body and returns the status, headers and raw body.
async fn post_bytes(
    handler: &Handler,
    uri: &str,
    body: Vec<u8>,
) -> (StatusCode, http::HeaderMap, Bytes) {
    // Accepting gzip: the snappy-encoded read response must not be gzipped again.
    let accept = if uri.ends_with("/read") {
        "gzip"
    } else {
        "identity"
    };
    let req = Request::post(uri)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("Accept-Encoding", accept)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = handler.handle(req).await;
    let (status, headers) = (resp.status(), resp.headers().clone());
    (
        status,
        headers,
        resp.into_body().collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test]
async fn remote_write_appends_and_remote_read_serves_the_samples() {
    let s = server(false);
    let write = prompb::WriteRequest {
        timeseries: vec![prompb::TimeSeries {
            labels: vec![
                prompb::Label {
                    name: "__name__".into(),
                    value: "pushed".into(),
                },
                prompb::Label {
                    name: "job".into(),
                    value: "rw".into(),
                },
            ],
            samples: vec![
                prompb::Sample {
                    value: 5.0,
                    timestamp: 3_000,
                },
                prompb::Sample {
                    value: 6.0,
                    timestamp: 4_000,
                },
            ],
            ..Default::default()
        }],
        ..Default::default()
    };
    let body = storage::remote::encode_write_request(&write);
    let (status, _, answer) = post_bytes(&s.handler, "/api/v1/write", body).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer:?}");
    let a = get(&s.handler, "/api/v1/query?query=pushed&time=4").await;
    assert_eq!(
        a.body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"pushed","job":"rw"},"value":[4,"6"]}]}}"#
    );

    // Not snappy: bad data.
    let (status, _, answer) = post_bytes(&s.handler, "/api/v1/write", b"garbage".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer:?}");
    // Go's snappy error text, in the API's JSON error form.
    assert_eq!(
        String::from_utf8_lossy(&answer),
        r#"{"status":"error","errorType":"bad_data","error":"snappy: corrupt input"}"#
    );

    let read = prompb::ReadRequest {
        queries: vec![prompb::Query {
            start_timestamp_ms: 0,
            end_timestamp_ms: 10_000,
            matchers: vec![prompb::LabelMatcher {
                r#type: prompb::label_matcher::Type::Eq as i32,
                name: "__name__".into(),
                value: "pushed".into(),
            }],
            hints: None,
        }],
        accepted_response_types: vec![],
    };
    let (status, headers, answer) = post_bytes(
        &s.handler,
        "/api/v1/read",
        storage::remote::encode_snappy(&prompb::Message::encode_to_vec(&read)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer:?}");
    assert_eq!(headers["content-encoding"], "snappy");
    assert_eq!(headers["content-type"], "application/x-protobuf");
    let raw = storage::remote::decode_snappy(&answer, "read response").unwrap();
    let resp = <prompb::ReadResponse as prompb::Message>::decode(raw.as_slice()).unwrap();
    let series = &resp.results[0].timeseries;
    assert_eq!(series.len(), 1);
    let values: Vec<(i64, f64)> = series[0]
        .samples
        .iter()
        .map(|s| (s.timestamp, s.value))
        .collect();
    assert_eq!(values, [(3_000, 5.0), (4_000, 6.0)]);

    // Streamed XOR chunks when asked for first, as Prometheus's clients do.
    let mut streamed = read.clone();
    streamed.accepted_response_types = vec![
        prompb::read_request::ResponseType::StreamedXorChunks as i32,
        prompb::read_request::ResponseType::Samples as i32,
    ];
    let (status, headers, answer) = post_bytes(
        &s.handler,
        "/api/v1/read",
        storage::remote::encode_snappy(&prompb::Message::encode_to_vec(&streamed)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer:?}");
    assert_eq!(
        headers["content-type"],
        "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"
    );
    assert!(!headers.contains_key("content-encoding"));
    let mut frames = storage::remote::ChunkedReader::new(&answer, 1 << 20);
    let frame = frames.next_proto().unwrap().unwrap();
    assert!(frames.next_proto().unwrap().is_none());
    let chunks = &frame.chunked_series[0].chunks;
    assert_eq!(chunks.len(), 1);
    assert_eq!(
        storage::remote::decode_xor_chunk(&chunks[0].data).unwrap(),
        [(3_000, 5.0), (4_000, 6.0)]
    );
    // Nothing in flight any more.
    let m = get(&s.handler, "/metrics").await;
    assert!(
        m.body
            .contains("# TYPE prometheus_remote_read_handler_queries gauge\nprometheus_remote_read_handler_queries 0\n"),
        "{}",
        m.body
    );
    // Only a type this server does not know: 400.
    streamed.accepted_response_types = vec![9];
    let (status, _, _) = post_bytes(
        &s.handler,
        "/api/v1/read",
        storage::remote::encode_snappy(&prompb::Message::encode_to_vec(&streamed)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _, answer) = post_bytes(&s.handler, "/api/v1/read", b"garbage".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer.starts_with(b"\x1f\x8b"),
        "errors are gzipped as usual"
    );
}

#[tokio::test]
async fn remote_write_without_the_receiver_is_not_found() {
    let handler = Handler::new(Options {
        metrics_hook: Some(Arc::new(|out: &mut String| {
            out.push_str("extra_metric 1\n")
        })),
        ..bare_options(Arc::new(MemStorage::new()))
    });
    let (status, _, answer) = post_bytes(&handler, "/api/v1/write", Vec::new()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer,
        r#"{"status":"error","errorType":"not_found","error":"remote write receiver needs to be enabled with --web.enable-remote-write-receiver"}"#
    );
    let (status, _, answer) = post_bytes(&handler, "/api/v1/otlp/v1/metrics", Vec::new()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer,
        r#"{"status":"error","errorType":"not_found","error":"otlp write receiver needs to be enabled with --web.enable-otlp-receiver"}"#
    );
    let a = get(&handler, "/metrics").await;
    assert!(a.body.ends_with("extra_metric 1\n"), "{}", a.body);
}

#[tokio::test]
async fn ui_pages_and_redirects_as_prometheus_3() {
    let s = server(false);
    let a = get(&s.handler, "/").await;
    assert_eq!(a.status, StatusCode::FOUND);
    assert_eq!(a.headers["location"], "/query");
    let a = get(&s.handler, "/query").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["content-type"], "text/html; charset=utf-8");
    assert!(
        a.body
            .contains("<title>Prometheus Time Series Collection and Processing Server</title>")
    );
    let a = get(&s.handler, "/graph?g0.expr=up&g0.tab=0").await;
    assert_eq!(a.status, StatusCode::FOUND);
    assert_eq!(a.headers["location"], "/query?g0.expr=up&g0.tab=0");
    for page in [
        "/alerts",
        "/rules",
        "/targets",
        "/service-discovery",
        "/alertmanager-discovery",
        "/status",
        "/tsdb-status",
        "/config",
        "/flags",
    ] {
        let a = get(&s.handler, page).await;
        assert_eq!(a.status, StatusCode::OK, "{page}");
        assert!(a.body.contains(&format!("data-page=\"{page}\"")), "{page}");
    }
    let req = Request::post("/query")
        .body(Full::<Bytes>::default())
        .unwrap();
    assert_eq!(
        send(&s.handler, req).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        get(&s.handler, "/agent").await.status,
        StatusCode::NOT_FOUND
    );

    // Agent mode: home is /agent, the query pages are gone.
    let agent = agent_server();
    let a = get(&agent.handler, "/").await;
    assert_eq!(a.headers["location"], "/agent");
    assert_eq!(get(&agent.handler, "/agent").await.status, StatusCode::OK);
    assert_eq!(
        get(&agent.handler, "/query").await.status,
        StatusCode::NOT_FOUND
    );
}

/// A handler with `--enable-feature=search-api` (and `extra_flags`) over Prometheus's search
/// test data, sampled at 4000s: `go_gc_duration_seconds`, `go_gc_heap_goal_bytes`,
/// `go_goroutines` and `process_cpu_seconds_total` of `{instance="localhost:9090",
/// job="prometheus"}`, and `up` of that target and of `{instance="localhost:9091",job="node"}`.
fn search_server(extra_flags: &[(&str, &str)], agent: bool) -> Handler {
    let db = Arc::new(MemStorage::new());
    let mut app = db.appender();
    let prom = [("instance", "localhost:9090"), ("job", "prometheus")];
    for name in [
        "go_gc_duration_seconds",
        "go_gc_heap_goal_bytes",
        "go_goroutines",
        "up",
        "process_cpu_seconds_total",
    ] {
        let mut pairs = vec![("__name__", name)];
        pairs.extend(prom);
        app.append(0, &labels(&pairs), 4_000_000, 1.0).unwrap();
    }
    let node = labels(&[
        ("__name__", "up"),
        ("instance", "localhost:9091"),
        ("job", "node"),
    ]);
    app.append(0, &node, 4_000_000, 1.0).unwrap();
    app.commit().unwrap();
    let mut flags: std::collections::BTreeMap<String, String> =
        [("enable-feature".to_owned(), "search-api".to_owned())].into();
    for (k, v) in extra_flags {
        flags.insert((*k).to_owned(), (*v).to_owned());
    }
    Handler::new(Options {
        flags,
        storage_retention: "15d".into(),
        agent,
        ..bare_options(db)
    })
}

/// The window holding the search test data.
const WINDOW: &str = "start=3600&end=7200";

/// The values of `key` in every result of an NDJSON search answer, and the trailer.
fn search_lines(a: &Answer, key: &str) -> (Vec<Vec<String>>, serde_json::Value) {
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        a.headers["content-type"],
        "application/x-ndjson; charset=utf-8"
    );
    assert!(a.body.ends_with('\n'), "{}", a.body);
    let mut lines: Vec<serde_json::Value> = a
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let trailer = lines.pop().unwrap();
    let batches = lines
        .iter()
        .map(|b| {
            b["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r[key].as_str().unwrap().to_owned())
                .collect()
        })
        .collect();
    (batches, trailer)
}

#[tokio::test]
async fn search_metric_names_streams_batches_and_a_trailer() {
    let h = search_server(&[], false);
    let a = get(
        &h,
        &format!("/api/v1/search/metric_names?search[]=go_gc&{WINDOW}"),
    )
    .await;
    assert_eq!(
        a.headers["content-type"],
        "application/x-ndjson; charset=utf-8"
    );
    assert_eq!(
        a.body,
        concat!(
            "{\"results\":[{\"name\":\"go_gc_duration_seconds\"},{\"name\":\"go_gc_heap_goal_bytes\"}]}\n",
            "{\"status\":\"success\",\"has_more\":false}\n"
        )
    );
    // No search: every metric name, in order.
    let (batches, trailer) = search_lines(
        &get(&h, &format!("/api/v1/search/metric_names?{WINDOW}")).await,
        "name",
    );
    assert_eq!(
        batches,
        [[
            "go_gc_duration_seconds",
            "go_gc_heap_goal_bytes",
            "go_goroutines",
            "process_cpu_seconds_total",
            "up"
        ]]
    );
    assert_eq!(
        trailer,
        serde_json::json!({"status":"success","has_more":false})
    );
    // A limit below the number of names says there is more.
    let (batches, trailer) = search_lines(
        &get(&h, &format!("/api/v1/search/metric_names?limit=2&{WINDOW}")).await,
        "name",
    );
    assert_eq!(
        batches,
        [["go_gc_duration_seconds", "go_gc_heap_goal_bytes"]]
    );
    assert_eq!(trailer["has_more"], true);
    // Five names in batches of two: 2 + 2 + 1, then the trailer.
    let (batches, _) = search_lines(
        &get(
            &h,
            &format!("/api/v1/search/metric_names?batch_size=2&{WINDOW}"),
        )
        .await,
        "name",
    );
    assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    // Descending order; several match[] sets are merged without duplicates.
    let (batches, _) = search_lines(
        &get(
            &h,
            &format!("/api/v1/search/metric_names?sort_by=alpha&sort_dir=dsc&match[]=up&match[]=%7Bjob%3D%22prometheus%22%7D&{WINDOW}"),
        )
        .await,
        "name",
    );
    assert_eq!(batches[0].len(), 5);
    assert_eq!(batches[0][0], "up");
    assert_eq!(batches[0][4], "go_gc_duration_seconds");
    // Outside the default window (the last hour) there is nothing: one empty batch.
    let a = get(&h, "/api/v1/search/metric_names").await;
    assert_eq!(
        a.body,
        "{\"results\":[]}\n{\"status\":\"success\",\"has_more\":false}\n"
    );
}

#[tokio::test]
async fn search_metric_names_scores_and_fuzzy_matches() {
    let h = search_server(&[], false);
    let a = get(
        &h,
        &format!(
            "/api/v1/search/metric_names?search[]=seconds&sort_by=score&include_score=true&{WINDOW}"
        ),
    )
    .await;
    let line: serde_json::Value = serde_json::from_str(a.body.lines().next().unwrap()).unwrap();
    let results = line["results"].as_array().unwrap();
    // "seconds" at byte 12 of 18 possible positions, then at 15 of 15.
    assert_eq!(results[0]["name"], "process_cpu_seconds_total");
    assert!((results[0]["score"].as_f64().unwrap() - 0.4).abs() < 1e-12);
    assert_eq!(results[1]["name"], "go_gc_duration_seconds");
    assert!((results[1]["score"].as_f64().unwrap() - 0.1).abs() < 1e-12);
    assert_eq!(results.len(), 2);
    // A misspelling is found by Jaro-Winkler above the threshold, not without one.
    let (batches, _) = search_lines(
        &get(
            &h,
            &format!(
                "/api/v1/search/metric_names?search[]=go_goroutins&fuzz_threshold=80&{WINDOW}"
            ),
        )
        .await,
        "name",
    );
    assert!(
        batches[0].contains(&"go_goroutines".to_owned()),
        "{batches:?}"
    );
    let (batches, _) = search_lines(
        &get(
            &h,
            &format!("/api/v1/search/metric_names?search[]=go_goroutins&{WINDOW}"),
        )
        .await,
        "name",
    );
    assert!(batches[0].is_empty());
    // Subsequence matching, case-insensitive search, several terms.
    let (batches, _) = search_lines(
        &get(
            &h,
            &format!("/api/v1/search/metric_names?search[]=ggr&fuzz_alg=subsequence&{WINDOW}"),
        )
        .await,
        "name",
    );
    assert_eq!(batches, [["go_gc_duration_seconds", "go_goroutines"]]);
    let (batches, _) = search_lines(
        &get(
            &h,
            &format!("/api/v1/search/metric_names?search[]=GO_GC&case_sensitive=false&{WINDOW}"),
        )
        .await,
        "name",
    );
    assert_eq!(
        batches,
        [["go_gc_duration_seconds", "go_gc_heap_goal_bytes"]]
    );
    let (batches, _) = search_lines(
        &get(
            &h,
            &format!("/api/v1/search/metric_names?search[]=GO_GC&{WINDOW}"),
        )
        .await,
        "name",
    );
    assert!(batches[0].is_empty());
    // Without scraping there is no metadata to add; the names still come.
    let a = get(
        &h,
        &format!("/api/v1/search/metric_names?search[]=up&include_metadata=true&{WINDOW}"),
    )
    .await;
    assert_eq!(
        a.body,
        "{\"results\":[{\"name\":\"up\"}]}\n{\"status\":\"success\",\"has_more\":false}\n"
    );
}

#[tokio::test]
async fn search_label_names_and_values() {
    let h = search_server(&[], false);
    let (batches, _) = search_lines(
        &get(
            &h,
            &format!("/api/v1/search/label_names?search[]=inst&{WINDOW}"),
        )
        .await,
        "name",
    );
    assert_eq!(batches, [["instance"]]);
    let (batches, _) = search_lines(
        &get(&h, &format!("/api/v1/search/label_names?{WINDOW}")).await,
        "name",
    );
    assert_eq!(batches, [["__name__", "instance", "job"]]);
    let a = get(
        &h,
        &format!("/api/v1/search/label_values?label=job&search[]=prom&{WINDOW}"),
    )
    .await;
    assert_eq!(
        a.body,
        "{\"results\":[{\"value\":\"prometheus\"}]}\n{\"status\":\"success\",\"has_more\":false}\n"
    );
    let (batches, _) = search_lines(
        &get(
            &h,
            &format!("/api/v1/search/label_values?label=job&sort_by=alpha&sort_dir=dsc&{WINDOW}"),
        )
        .await,
        "value",
    );
    assert_eq!(batches, [["prometheus", "node"]]);
    let (batches, trailer) = search_lines(
        &get(
            &h,
            &format!("/api/v1/search/label_values?label=instance&limit=1&{WINDOW}"),
        )
        .await,
        "value",
    );
    assert_eq!(batches, [["localhost:9090"]]);
    assert_eq!(trailer["has_more"], true);
    let (batches, _) = search_lines(
        &get(
            &h,
            &format!(
                "/api/v1/search/label_values?label=job&search[]=prometheus&search[]=node&{WINDOW}"
            ),
        )
        .await,
        "value",
    );
    assert_eq!(batches, [["node", "prometheus"]]);
    // match[] scopes the values; POST takes the same parameters in its body.
    let a = post_form(
        &h,
        "/api/v1/search/label_values",
        &format!("label=instance&match[]=go_goroutines&include_score=true&{WINDOW}"),
    )
    .await;
    assert_eq!(
        a.body,
        "{\"results\":[{\"value\":\"localhost:9090\",\"score\":1}]}\n{\"status\":\"success\",\"has_more\":false}\n"
    );
}

#[tokio::test]
async fn search_bad_parameters_answer_400_with_prometheus_errors() {
    let h = search_server(&[], false);
    let cases = [
        (
            "metric_names?sort_by=score",
            "sort_by=score requires search[] to be set",
        ),
        (
            "metric_names?sort_dir=asc",
            "sort_dir is only valid when sort_by is set",
        ),
        (
            "label_names?sort_by=cardinality",
            "invalid sort_by \\\"cardinality\\\" for label_names: must be \\\"alpha\\\" or \\\"score\\\"",
        ),
        (
            "metric_names?fuzz_threshold=200",
            "invalid fuzz_threshold \\\"200\\\": must be 0-100",
        ),
        (
            "metric_names?fuzz_alg=levenshtein",
            "unsupported fuzz_alg \\\"levenshtein\\\": must be one of [jarowinkler subsequence]",
        ),
        (
            "metric_names?include_metadata=maybe",
            "invalid include_metadata \\\"maybe\\\": must be boolean",
        ),
        (
            "label_values?limit=0&label=job",
            "invalid limit \\\"0\\\": must be a positive integer",
        ),
        (
            "label_names?batch_size=-1",
            "invalid batch_size \\\"-1\\\": must be a positive integer",
        ),
        ("label_values", "missing required parameter \\\"label\\\""),
        (
            "metric_names?start=7200&end=3600",
            "end timestamp must not be before start timestamp",
        ),
    ];
    for (query, message) in cases {
        let a = get(&h, &format!("/api/v1/search/{query}")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(a.headers["content-type"], "application/json");
        assert_eq!(
            a.body,
            format!(r#"{{"status":"error","errorType":"bad_data","error":"{message}"}}"#),
            "{query}"
        );
    }
    // Only GET and POST.
    let req = Request::delete("/api/v1/search/label_names")
        .body(Full::default())
        .unwrap();
    assert_eq!(send(&h, req).await.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn search_limit_is_capped_by_the_max_limit_flag_and_off_in_agent_mode() {
    let h = search_server(&[("web.search.max-limit", "3")], false);
    let (batches, trailer) = search_lines(
        &get(&h, &format!("/api/v1/search/metric_names?{WINDOW}")).await,
        "name",
    );
    assert_eq!(batches[0].len(), 3);
    assert_eq!(trailer["has_more"], true);
    let a = get(&h, "/api/v1/search/metric_names?limit=5000").await;
    assert_eq!(
        a.body,
        r#"{"status":"error","errorType":"bad_data","error":"limit 5000 exceeds the configured maximum (3, see --web.search.max-limit)"}"#
    );
    let agent = search_server(&[], true);
    let a = get(&agent, "/api/v1/search/label_names").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        a.body,
        r#"{"status":"error","errorType":"execution","error":"unavailable with Prometheus Agent"}"#
    );
}
