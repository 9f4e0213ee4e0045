//! Writes the engine benchmark's counters (10k series, 740 samples each) into a TSDB block
//! and times `sum by (job) (rate(x[5m]))` over 720 steps on it. The snapshot directory can
//! be served by a real Prometheus for a side-by-side comparison.
//!
//! `cargo run --release -p promqltest --example tsdb_query [DIR]` (default: a `promql-cmp`
//! folder in the system temp dir).

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use model::Labels;
use promql::value::Value;
use storage::{Appendable, Queryable};

const STEP: i64 = 15_000;
const STEPS: i64 = 720;
const START: i64 = 300_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args()
        .nth(1)
        .map_or_else(|| std::env::temp_dir().join("promql-cmp"), Into::into);
    let src = base.join("src");
    let snap = base.join("snap");
    let end = START + (STEPS - 1) * STEP;
    if !snap.exists() {
        let db = tsdb::db::Db::open(&src, tsdb::db::Options::default())?;
        let mut app = db.appender();
        for i in 0..10_000usize {
            let job = format!("job{}", i % 10);
            let inst = format!("i{i}");
            let l = Labels::from_pairs([("__name__", "x"), ("job", &job), ("instance", &inst)]);
            let (mut t, mut v) = (0, 0.0);
            while t <= end {
                v += (i % 7) as f64 + 1.0;
                app.append(0, &l, t, v)?;
                t += STEP;
            }
        }
        app.commit()?;
        db.snapshot(&snap, true)?;
        db.close()?;
        println!("wrote {}", snap.display());
    }
    let q: Arc<dyn Queryable> = Arc::new(tsdb::db::Db::open(&snap, tsdb::db::Options::default())?);
    let engine = promql::Engine::new(promql::EngineOpts::default());
    for _ in 0..3 {
        let t0 = Instant::now();
        let r = engine.range_query(q.clone(), "sum by (job) (rate(x[5m]))", START, end, STEP)?;
        let n = match &r.value {
            Value::Matrix(m) => m.len(),
            _ => 0,
        };
        println!(
            "{n} series, {} samples, {:?}",
            r.stats.total_samples,
            t0.elapsed()
        );
    }
    Ok(())
}
