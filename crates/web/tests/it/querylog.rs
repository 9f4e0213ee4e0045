//! The query log sees the API's queries with their HTTP origin (Go's `httpRequest`).

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use storage::{Appendable, MemStorage};
use web::{Handler, Options, RemoteAddr};

use crate::{bare_options, labels, post_form, send};

#[tokio::test]
async fn api_queries_are_logged_with_their_http_origin() {
    let db = Arc::new(MemStorage::new());
    let mut app = db.appender();
    app.append(0, &labels(&[("__name__", "up"), ("job", "a")]), 1_000, 1.0)
        .unwrap();
    app.commit().unwrap();
    let engine = Arc::new(promql::Engine::new(promql::EngineOpts::default()));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    engine.set_query_logger(Some(Arc::new(
        move |e: &promql::QueryLogEntry<'_>| -> std::io::Result<()> {
            let mut line = String::new();
            e.write_json_line(&mut line, SystemTime::now());
            sink.lock().unwrap().push(line);
            Ok(())
        },
    )));
    let handler = Handler::new(Options {
        engine,
        ..bare_options(db)
    });

    let mut req = Request::get("/api/v1/query?query=up&time=2&stats=all")
        .body(Full::<Bytes>::default())
        .unwrap();
    req.extensions_mut()
        .insert(RemoteAddr("[::1]:50123".parse().unwrap()));
    let a = send(&handler, req).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // The API's statistics are the engine's, as the log's are.
    assert!(
        a.body.contains(r#""stats":{"timings":{"evalTotalTime":"#),
        "{}",
        a.body
    );
    let a = post_form(
        &handler,
        "/api/v1/query_range",
        "query=sum(up)&start=1&end=3&step=1",
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // Not evaluated: not logged.
    let a = post_form(&handler, "/api/v1/query", "query=up%2B").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);

    let lines = lines.lock().unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains(r#""params":{"end":"1970-01-01T00:00:02.000Z","query":"up","start":"1970-01-01T00:00:02.000Z","step":0},"stats":{"#),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].ends_with(
            "\"httpRequest\":{\"clientIP\":\"::1\",\"method\":\"GET\",\"path\":\"/api/v1/query\"}}\n"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(r#""query":"sum(up)","start":"1970-01-01T00:00:01.000Z","step":1}"#),
        "{}",
        lines[1]
    );
    // Without the connection's address (a handler called in process), as Go with an
    // empty `RemoteAddr`.
    assert!(
        lines[1].ends_with(
            "\"httpRequest\":{\"clientIP\":\"\",\"method\":\"POST\",\"path\":\"/api/v1/query_range\"}}\n"
        ),
        "{}",
        lines[1]
    );
}
