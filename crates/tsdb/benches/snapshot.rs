//! Head open time with a chunk snapshot (`memory-snapshot-on-shutdown`) against a full WAL
//! replay of the same data: `cargo bench -p tsdb --bench snapshot` prints the best of three
//! opens each way (`SNAPSHOT_BENCH_SERIES` series, default 20000, of
//! `SNAPSHOT_BENCH_SAMPLES` samples, default 200).
#![allow(clippy::print_stderr, clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use model::Labels;
use tsdb::head::{Head, HeadOptions};

fn labels(i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", format!("metric_{}", i % 500)),
        ("instance", format!("host-{}:9100", i / 500)),
        ("job", "node".to_string()),
    ])
}

fn opts(snapshot: bool) -> HeadOptions {
    HeadOptions {
        memory_snapshot_on_shutdown: snapshot,
        ..HeadOptions::default()
    }
}

/// Opens the head of `dir` and returns how long that took and how many series it has.
fn open(dir: &Path, snapshot: bool) -> (Duration, u64) {
    let start = Instant::now();
    let head = Head::open(dir, opts(snapshot), i64::MIN).unwrap();
    let took = start.elapsed();
    let n = head.num_series();
    // Not closed: closing would write a new snapshot (the WAL gained a segment).
    drop(head);
    (took, n)
}

fn best_of_three(dir: &Path, snapshot: bool) -> (Duration, u64) {
    (0..3)
        .map(|_| open(dir, snapshot))
        .min_by_key(|(d, _)| *d)
        .unwrap()
}

fn main() {
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let series = env("SNAPSHOT_BENCH_SERIES", 20_000);
    let samples = env("SNAPSHOT_BENCH_SAMPLES", 200) as i64;
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts(true), i64::MIN).unwrap();
    let refs: Vec<Labels> = (0..series).map(labels).collect();
    for k in 0..samples {
        let mut app = head.appender();
        for (i, l) in refs.iter().enumerate() {
            app.append(0, l, k * 15_000, (k as usize * i) as f64)
                .unwrap();
        }
        app.commit().unwrap();
    }
    head.close().unwrap();
    drop(head);

    let (wal, n_wal) = best_of_three(dir.path(), false);
    let (snap, n_snap) = best_of_three(dir.path(), true);
    assert_eq!(n_wal, n_snap);
    eprintln!(
        "head open, {series} series x {samples} samples: full WAL replay {:.1} ms, \
         from the chunk snapshot {:.1} ms ({:.1}x)",
        wal.as_secs_f64() * 1e3,
        snap.as_secs_f64() * 1e3,
        wal.as_secs_f64() / snap.as_secs_f64()
    );
}
