//! `promtool tsdb bench write`: Go's write benchmark. Reads up to `--metrics` distinct
//! label sets from a file of one `{"name":"value",...}` object a line (upstream's
//! `tsdb/testdata/20kseries.json`), appends `--scrapes` scrapes of them (30 s apart, in
//! shards of 1000 series and 100 scrapes, the shards of a round in parallel) into a fresh
//! TSDB below `--out`, and prints each stage's time and the ingestion rate.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use model::Labels;
use storage::{Appendable as _, SeriesRef};

use crate::gofmt;

/// Milliseconds between two simulated scrapes (Go's `timeDelta`).
const TIME_DELTA: i64 = 30_000;

/// Series appended by one worker.
const SHARD_SERIES: usize = 1000;

/// Scrapes one worker appends per round.
const SHARD_SCRAPES: usize = 100;

/// Runs the benchmark, printing as Go's promtool prints.
pub(crate) fn write_benchmark(
    out_path: &Path,
    samples_file: &Path,
    num_metrics: usize,
    num_scrapes: usize,
) -> anyhow::Result<()> {
    if out_path.exists() {
        std::fs::remove_dir_all(out_path)
            .with_context(|| format!("removing {}", out_path.display()))?;
    }
    std::fs::create_dir_all(out_path)
        .with_context(|| format!("creating {}", out_path.display()))?;
    let db = tsdb::db::Db::open(out_path.join("storage"), tsdb::db::Options::default())
        .context("opening the TSDB")?;

    let mut series = Vec::new();
    measure("readData", || {
        let file = std::fs::File::open(samples_file).map_err(|e| {
            anyhow::anyhow!(
                "open {}: {} (the samples file: one JSON object of labels a line, as \
                 tsdb/testdata/20kseries.json of the Prometheus repository)",
                samples_file.display(),
                gofmt::io_error(&e)
            )
        })?;
        series = read_label_sets(std::io::BufReader::new(file), num_metrics)
            .with_context(|| format!("reading {}", samples_file.display()))?;
        Ok(())
    })?;

    let mut total = 0u64;
    let took = measure("ingestScrapes", || {
        total = ingest(&db, &series, num_scrapes)?;
        Ok(())
    })?;
    println!(" > total samples: {total}");
    println!(
        " > samples/sec: {}",
        model::strconv::format_float_g(total as f64 / took.as_secs_f64())
    );

    measure("stopStorage", || db.close().context("closing the TSDB"))?;
    Ok(())
}

/// Runs one stage between Go's `>> start` and `>> completed` lines; returns its time.
fn measure(stage: &str, f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    println!(">> start stage={stage}");
    let _ = std::io::stdout().flush();
    let start = Instant::now();
    f()?;
    let took = start.elapsed();
    println!(
        ">> completed stage={stage} duration={}",
        gofmt::format_duration(took)
    );
    Ok(took)
}

/// Go's `readPrometheusLabels`: quotes and braces dropped, pairs split at `,` and their
/// first `:`, duplicates (after sorting by name) skipped, at most `n` label sets.
fn read_label_sets(r: impl std::io::BufRead, n: usize) -> anyhow::Result<Vec<Labels>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in r.lines().enumerate() {
        if out.len() >= n {
            break;
        }
        let line = line?;
        let line = line.replace(['"', '{', '}'], "");
        let mut pairs = Vec::new();
        for chunk in line.split(',') {
            let mut parts = chunk.split(':');
            let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
                bail!("line {}: {chunk:?} is not a name:value pair", i + 1);
            };
            pairs.push((name.to_owned(), value.to_owned()));
        }
        let labels = Labels::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if seen.insert(labels.clone()) {
            out.push(labels);
        }
    }
    Ok(out)
}

/// Go's `ingestScrapes`: rounds of [`SHARD_SCRAPES`] scrapes (as many rounds as needed to
/// reach `scrapes`), each round's shards of [`SHARD_SERIES`] series appended in parallel.
fn ingest(db: &tsdb::db::Db, series: &[Labels], scrapes: usize) -> anyhow::Result<u64> {
    let mut total = 0u64;
    for round in (0..scrapes).step_by(SHARD_SCRAPES) {
        let base = TIME_DELTA * i64::try_from(round).context("too many scrapes")?;
        let results: Vec<anyhow::Result<u64>> = std::thread::scope(|s| {
            let workers: Vec<_> = series
                .chunks(SHARD_SERIES)
                .map(|shard| s.spawn(move || ingest_shard(db, shard, base)))
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("an ingestion worker panicked")))
                })
                .collect()
        });
        for r in results {
            total += r?;
        }
    }
    println!("ingestion completed");
    Ok(total)
}

/// Go's `ingestScrapesShard`: [`SHARD_SCRAPES`] scrapes of `series` after `base`, each
/// series' value growing by 1000 a scrape from 123456789, one commit a scrape.
fn ingest_shard(db: &tsdb::db::Db, series: &[Labels], base: i64) -> anyhow::Result<u64> {
    let mut refs: Vec<SeriesRef> = vec![0; series.len()];
    let mut values = vec![123_456_789i64; series.len()];
    let mut total = 0;
    let mut ts = base;
    for _ in 0..SHARD_SCRAPES {
        ts += TIME_DELTA;
        let mut app = db.appender();
        for ((labels, r), v) in series.iter().zip(&mut refs).zip(&mut values) {
            *v += 1000;
            *r = app
                .append(*r, labels, ts, *v as f64)
                .with_context(|| format!("appending {labels} at {ts}"))?;
            total += 1;
        }
        app.commit().context("committing a scrape")?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_are_read_like_go() {
        let text = "{\"__name__\":\"a\",\"job\":\"x\"}\n{\"job\":\"x\",\"__name__\":\"a\"}\n{\"__name__\":\"b\",\"url\":\"http://h\"}\n{\"__name__\":\"c\"}\n";
        let got = read_label_sets(text.as_bytes(), 10).expect("read");
        assert_eq!(
            got,
            vec![
                Labels::from_pairs([("__name__", "a"), ("job", "x")]),
                // Like Go, a value is cut at its first colon.
                Labels::from_pairs([("__name__", "b"), ("url", "http")]),
                Labels::from_pairs([("__name__", "c")]),
            ]
        );
        assert_eq!(read_label_sets(text.as_bytes(), 2).expect("read").len(), 2);
        let err = read_label_sets("{\"a\"}\n".as_bytes(), 10).expect_err("no pair");
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
