//! Embedding the TSDB: open a data directory, append samples, commit, query with matchers.
//!
//! Run with `cargo run -p tsdb --example embed_db [DATA_DIR]` (a temporary directory by
//! default). Running it twice on the same directory shows the WAL replay at work.
#![allow(clippy::print_stdout)]

use tsdb::model::{Labels, MatchType, Matcher};
use tsdb::storage::{Appendable, Queryable, ValueType};
use tsdb::{Db, Options};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Removed at the end unless a directory was given.
    let tmp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| tmp.path().to_path_buf(), std::path::PathBuf::from);
    let db = Db::open(&dir, Options::default())?;
    println!(
        "opened {} ({} series replayed)",
        dir.display(),
        db.head().num_series()
    );

    // Append a few samples for two series in one batch; they become visible (and are in
    // the WAL) when commit returns.
    let now = tsdb::model::timestamp::now();
    let mut app = db.appender();
    for (job, base) in [("api", 1.0), ("db", 100.0)] {
        let labels = Labels::from_pairs([("__name__", "requests_total"), ("job", job)]);
        let mut r = 0;
        for i in 0..5 {
            r = app.append(r, &labels, now + i * 15_000, base + i as f64)?;
        }
    }
    app.commit()?;

    // Query the last hour for job=~"api|db".
    let q = db.querier(now - 3_600_000, now + 3_600_000)?;
    let matchers = [
        Matcher::new(MatchType::Equal, "__name__", "requests_total")?,
        Matcher::new(MatchType::RegexMatch, "job", "api|db")?,
    ];
    let mut set = q.select(true, None, &matchers);
    while let Some(series) = set.next() {
        let series = series?;
        let mut it = series.iterator();
        let mut samples = Vec::new();
        while it.next() == ValueType::Float {
            samples.push(it.at());
        }
        println!(
            "{} -> {} samples, last {:?}",
            series.labels(),
            samples.len(),
            samples.last()
        );
    }
    println!(
        "label values of job: {:?}",
        q.label_values("job", None, &[])?
    );
    let stats = db.head_stats(10);
    println!(
        "head: {} series, {} chunks",
        stats.num_series, stats.num_chunks
    );
    db.close()?;
    Ok(())
}
