//! Measures WAL bytes per sample (per compression) and WAL replay speed of `tsdb::db::Db`.
//!
//! Run in release mode:
//! - `cargo run --release -p tsdb --example wal_bench -- write DIR none|snappy|zstd`
//!   appends the workload below into a fresh data directory `DIR` (one commit per target and
//!   scrape round, no compaction) and prints the size of `DIR/wal/` per sample.
//! - `cargo run --release -p tsdb --example wal_bench -- replay DIR [RUNS]` opens fresh copies
//!   of the data directory `DIR` (for example holding a copy of the `wal/` Prometheus 2.42
//!   wrote) RUNS times (3), and prints the time each `Db::open` took, the series and samples
//!   it replayed, and the median.
//!
//! The workload: 10 targets x 1000 series (5 counter and 5 gauge metric names x 100 label
//! combinations) x 480 samples 15 s apart, starting at 2023-11-14T22:13:20Z. `cargo xtask
//! walbench` pushes the very same samples (same generator) to a remote-write receiver, so the
//! WAL of Prometheus 2.42 can be compared with ours.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use model::Labels;
use storage::Appendable;
use tsdb::db::{Db, Options};
use tsdb::wlog::Compression;

/// Targets (instances) in the workload; one commit per target and scrape round.
const TARGETS: usize = 10;
/// Series per target.
const SERIES_PER_TARGET: usize = 1000;
/// Samples per series.
const STEPS: usize = 480;
/// Scrape interval (ms).
const INTERVAL: i64 = 15_000;
/// Timestamp of the first sample (ms).
const START: i64 = 1_700_000_000_000;

const METRICS: [&str; 10] = [
    "http_requests_total",
    "http_response_size_bytes_total",
    "rpc_calls_total",
    "process_cpu_seconds_total",
    "node_cpu_seconds_total",
    "node_memory_MemFree_bytes",
    "node_filesystem_avail_bytes",
    "go_goroutines",
    "node_load1",
    "http_request_duration_seconds_p99",
];
const CODES: [&str; 5] = ["200", "201", "404", "500", "503"];

/// SplitMix64: a deterministic pseudo-random stream.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Label pairs of series `id` (0..TARGETS*SERIES_PER_TARGET), `__name__` first.
fn series_labels(id: usize) -> Vec<(String, String)> {
    let target = id / SERIES_PER_TARGET;
    let j = id % SERIES_PER_TARGET;
    let k = j / METRICS.len();
    vec![
        ("__name__".into(), METRICS[j % METRICS.len()].into()),
        ("code".into(), CODES[k / 20].into()),
        ("env".into(), "prod".into()),
        ("handler".into(), format!("/api/v1/endpoint_{}", k % 20)),
        (
            "instance".into(),
            format!("node-{target:02}.prod.internal:9100"),
        ),
        ("job".into(), "node".into()),
    ]
}

/// The value of series `id` at `step`, given its previous value `prev` (0 before the first).
fn next_value(id: usize, step: usize, prev: f64) -> f64 {
    let r = mix(((id as u64) << 32) | step as u64);
    match (id % SERIES_PER_TARGET) % METRICS.len() {
        0 | 2 => prev + (r % 50) as f64,
        1 => prev + (r % 100_000) as f64,
        3 | 4 => prev + (r % 1500) as f64 / 100.0,
        5 => 8e9 + ((r % 1_000_000) * 4096) as f64,
        6 => {
            if step == 0 {
                5e11
            } else {
                prev - ((r % 4) * 4096) as f64
            }
        }
        7 => (50 + r % 30) as f64,
        8 => (r % 400) as f64 / 100.0,
        _ => 0.05 + (r % 1000) as f64 / 10_000.0,
    }
}

fn parse_compression(s: &str) -> Result<Compression, String> {
    match s {
        "none" => Ok(Compression::None),
        "snappy" => Ok(Compression::Snappy),
        "zstd" => Ok(Compression::Zstd),
        other => Err(format!(
            "unknown compression {other:?} (none, snappy, zstd)"
        )),
    }
}

fn write(dir: &Path, compression: Compression) -> Result<(), Box<dyn std::error::Error>> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(format!("{} is not empty", dir.display()).into());
    }
    let opts = Options {
        wal_compression: compression,
        ..Options::default()
    };
    let db = Db::open(dir, opts)?;
    let n = TARGETS * SERIES_PER_TARGET;
    let labels: Vec<Labels> = (0..n)
        .map(|id| Labels::from_pairs(series_labels(id)))
        .collect();
    let mut refs = vec![0; n];
    let mut values = vec![0.0; n];
    let t0 = Instant::now();
    for step in 0..STEPS {
        let t = START + step as i64 * INTERVAL;
        for target in 0..TARGETS {
            let mut app = db.appender();
            for id in target * SERIES_PER_TARGET..(target + 1) * SERIES_PER_TARGET {
                values[id] = next_value(id, step, values[id]);
                refs[id] = app.append(refs[id], &labels[id], t, values[id])?;
            }
            app.commit()?;
        }
    }
    let took = t0.elapsed();
    let samples = (n * STEPS) as f64;
    let wal = tsdb::wlog::dir_size(&dir.join("wal"));
    println!(
        "compression={compression:?} series={n} samples={} append={:.2}s wal_bytes={wal} bytes/sample={:.3}",
        n * STEPS,
        took.as_secs_f64(),
        wal as f64 / samples
    );
    db.close()?;
    let wal_closed = tsdb::wlog::dir_size(&dir.join("wal"));
    println!(
        "after close: wal_bytes={wal_closed} bytes/sample={:.3} blocks={}",
        wal_closed as f64 / samples,
        db.blocks().len()
    );
    Ok(())
}

fn copy_dir(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let to = dst.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to)?;
        } else {
            std::fs::copy(e.path(), &to)?;
        }
    }
    Ok(())
}

fn replay(src: &Path, runs: usize) -> Result<(), Box<dyn std::error::Error>> {
    let mut times = Vec::new();
    for run in 1..=runs {
        let copy = PathBuf::from(format!("{}.replay-{run}", src.display()));
        if copy.exists() {
            std::fs::remove_dir_all(&copy)?;
        }
        copy_dir(src, &copy)?;
        let t0 = Instant::now();
        let db = Db::open(&copy, Options::default())?;
        let took = t0.elapsed();
        let stats = db.head().replay_stats();
        println!(
            "run {run}: open {:.3}s series={} samples={} applied={} mmapped_chunks={} samples/s={:.0}",
            took.as_secs_f64(),
            db.head().num_series(),
            stats.samples,
            stats.samples_applied,
            stats.mmapped_chunks,
            stats.samples as f64 / took.as_secs_f64()
        );
        times.push(took.as_secs_f64());
        drop(db);
        std::fs::remove_dir_all(&copy)?;
    }
    times.sort_by(f64::total_cmp);
    println!("median open {:.3}s", times[times.len() / 2]);
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["write", dir, compression] => write(Path::new(dir), parse_compression(compression)?),
        ["replay", dir] => replay(Path::new(dir), 3),
        ["replay", dir, runs] => replay(Path::new(dir), runs.parse()?),
        _ => Err(
            "usage: wal_bench write DIR none|snappy|zstd | wal_bench replay DIR [RUNS (3)]".into(),
        ),
    }
}
