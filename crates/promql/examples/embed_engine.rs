//! Embedding the PromQL engine: append samples to an in-memory storage and query them.
//!
//! Run with `cargo run -p promql --example embed_engine`.

#![allow(clippy::print_stdout)]

use std::sync::Arc;

use model::Labels;
use promql::value::Value;
use promql::{Engine, EngineOpts};
use storage::{Appendable, MemStorage, Queryable};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = Arc::new(MemStorage::new());

    // Two counters scraped every 15s for 10 minutes.
    let mut app = db.appender();
    for (job, per_second) in [("api", 2.0), ("web", 0.5)] {
        let series = Labels::from_pairs([("__name__", "http_requests_total"), ("job", job)]);
        for i in 0..=40i64 {
            let t = i * 15_000;
            app.append(0, &series, t, per_second * (t / 1000) as f64)?;
        }
    }
    app.commit()?;

    let engine = Engine::new(EngineOpts::default());
    let queryable: Arc<dyn Queryable> = db;

    let res = engine.instant_query(
        queryable.clone(),
        "sum by (job) (rate(http_requests_total[5m]))",
        600_000,
    )?;
    if let Value::Vector(v) = &res.value {
        for s in v {
            println!("{} => {}", s.metric, s.f);
        }
    }

    let res = engine.range_query(
        queryable,
        "sum(rate(http_requests_total[1m]))",
        300_000,
        600_000,
        60_000,
    )?;
    if let Value::Matrix(m) = &res.value {
        for s in m {
            let points: Vec<String> = s
                .floats
                .iter()
                .map(|p| format!("{}@{}", p.f, p.t))
                .collect();
            println!("{} => [{}]", s.metric, points.join(", "));
        }
    }
    println!("samples processed: {}", res.stats.total_samples);
    Ok(())
}
