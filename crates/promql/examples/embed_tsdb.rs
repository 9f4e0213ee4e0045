//! Embedding the TSDB and the PromQL engine together, without the server: open a data
//! directory, append float and native histogram samples, run instant and range queries
//! (with a deadline and a cancellation), list series, label names and values with matchers,
//! take a snapshot, close and reopen.
//!
//! Run with `cargo run -p promql --example embed_tsdb [DATA_DIR]` (a temporary directory by
//! default).

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use promql::model::{Histogram, Labels, MatchType, Matcher, Span};
use promql::storage::{Appendable, Queryable, ValueType};
use promql::{CancelToken, Engine, EngineOpts, QueryOpts, Value};
use tsdb::{Db, Options};

/// Every error of tsdb, storage, model and promql converts into this with `?`.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

const MINUTE: i64 = 60_000;

fn main() -> Result<(), BoxError> {
    let tmp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| tmp.path().to_path_buf(), Into::into);

    let db = Arc::new(Db::open(&dir, Options::default())?);
    append(&db)?;
    query(&db)?;
    list(&db)?;

    // A snapshot holds the blocks and (with `true`) the head's samples as one more block.
    let snap = dir.join("snapshot");
    db.snapshot(&snap, true)?;
    println!("snapshot in {}", snap.display());

    // Close (flushes the WAL, releases the lock file) and reopen: the WAL is replayed.
    db.close()?;
    drop(db);
    let db = Db::open(&dir, Options::default())?;
    println!("reopened: {} series in the head", db.head().num_series());
    db.close()?;
    Ok(())
}

/// Ten minutes of two counters and a native histogram, one sample every 15 seconds.
fn append(db: &Db) -> Result<(), BoxError> {
    let mut app = db.appender();
    for (job, per_second) in [("api", 2.0), ("db", 0.5)] {
        let labels = Labels::from_pairs([("__name__", "requests_total"), ("job", job)]);
        // The reference `append` returns skips the label lookup for the next sample.
        let mut r = 0;
        for i in 0..=40 {
            let t = i * 15_000;
            r = app.append(r, &labels, t, per_second * (t / 1000) as f64)?;
        }
    }
    let labels = Labels::from_pairs([("__name__", "request_duration_seconds"), ("job", "api")]);
    let mut r = 0;
    for i in 0..=40u32 {
        // Schema 0: buckets (0.5, 1] and (1, 2]; i observations in each so far.
        let h = Histogram {
            count: 2 * u64::from(i),
            sum: 2.0 * f64::from(i),
            positive_spans: vec![Span {
                offset: 0,
                length: 2,
            }],
            positive_buckets: vec![i64::from(i), 0], // delta-encoded counts
            ..Histogram::default()
        };
        r = app.append_histogram(r, &labels, i64::from(i) * 15_000, Some(&h), None)?;
    }
    // Nothing is visible (or in the WAL) before commit.
    app.commit()?;
    Ok(())
}

fn query(db: &Arc<Db>) -> Result<(), BoxError> {
    let engine = Engine::new(EngineOpts {
        timeout: Duration::from_secs(30),
        ..EngineOpts::default()
    });
    // `Arc<Db>` coerces to the `Arc<dyn Queryable>` the engine takes.
    let res = engine.instant_query(
        db.clone(),
        "sum by (job) (rate(requests_total[5m]))",
        10 * MINUTE,
    )?;
    if let Value::Vector(v) = &res.value {
        for s in v {
            println!("rate {} = {}", s.metric, s.f);
        }
    }
    let res = engine.instant_query(
        db.clone(),
        "histogram_quantile(0.9, rate(request_duration_seconds[5m]))",
        10 * MINUTE,
    )?;
    println!("p90 latency: {}", res.value);
    for warning in res.annotations.warnings() {
        println!("warning: {warning}");
    }

    // A range query with per-query options: a deadline and a token that cancels it.
    let cancel = CancelToken::new();
    let opts = QueryOpts {
        deadline: Some(Instant::now() + Duration::from_secs(5)),
        cancel: Some(cancel.clone()),
        ..QueryOpts::default()
    };
    let res = engine.range_query_with(
        db.clone(),
        "sum(rate(requests_total[1m]))",
        5 * MINUTE,
        10 * MINUTE,
        MINUTE,
        &opts,
    )?;
    if let Value::Matrix(m) = &res.value {
        for s in m {
            let points: Vec<String> = s
                .floats
                .iter()
                .map(|p| format!("{}@{}", p.f, p.t))
                .collect();
            println!("range {} = [{}]", s.metric, points.join(", "));
        }
    }
    println!(
        "samples: {} looked at, peak {} held",
        res.stats.total_samples, res.stats.peak_samples
    );

    // Cancelling (from any thread) stops the queries holding the token.
    std::thread::scope(|s| {
        s.spawn(|| cancel.cancel());
    });
    match engine.range_query_with(db.clone(), "requests_total", 0, 10 * MINUTE, MINUTE, &opts) {
        Err(promql::Error::Canceled(phase)) => println!("cancelled in {phase}"),
        other => println!("expected a cancellation, got {other:?}"),
    }

    // A parse error says where: "1:5: parse error: ...".
    if let Err(e) = engine.instant_query(db.clone(), "sum(", 0) {
        println!("bad query: {e}");
    }
    Ok(())
}

/// Series, label names and label values through a querier, selected by matchers.
fn list(db: &Db) -> Result<(), BoxError> {
    let q = db.querier(0, 10 * MINUTE)?;
    println!("label names: {:?}", q.label_names(None, &[])?);
    let not_db = Matcher::new(MatchType::NotEqual, "job", "db")?;
    println!(
        "metric names without job=\"db\": {:?}",
        q.label_values("__name__", None, &[not_db])?
    );

    // Matchers from a series selector, as the HTTP API's `match[]` takes them.
    let matchers = promql::parser::parse_metric_selector(r#"{__name__=~"request.*", job="api"}"#)?;
    let mut set = q.select(true, None, &matchers);
    while let Some(series) = set.next() {
        let series = series?;
        let (mut floats, mut histograms) = (0, 0);
        let mut it = series.iterator();
        loop {
            match it.next() {
                ValueType::Float => floats += 1,
                ValueType::Histogram | ValueType::FloatHistogram => histograms += 1,
                _ => break,
            }
        }
        if let Some(e) = it.err() {
            return Err(format!("reading {}: {e}", series.labels()).into());
        }
        println!(
            "{}: {floats} floats, {histograms} histograms",
            series.labels()
        );
    }
    Ok(())
}
