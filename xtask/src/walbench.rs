//! `cargo xtask walbench`: WAL bytes per sample and WAL replay time, our `tsdb` vs Prometheus 2.42, on one workload.
//!
//! Steps (everything under `target/walbench/`):
//! 1. builds `cargo build --release -p tsdb --example wal_bench` and runs its `write` mode for
//!    WAL compression none, snappy and zstd (the workload: 10 targets x 1000 series x 480
//!    samples, 15 s apart; one commit per target and round);
//! 2. starts `/usr/bin/prometheus` (2.42) with `--web.enable-remote-write-receiver
//!    --storage.tsdb.wal-compression`, pushes the same samples by remote write (one request
//!    per target and round, in the same order), prints its head series and appended samples
//!    from `/metrics`, kills it with SIGKILL (nothing compacted: no block may exist) and
//!    measures its `wal/`;
//! 3. copies that `wal/` into fresh data directories and times Prometheus's startup replay
//!    (its "WAL replay completed" log line, and the time until `/-/ready`) and our `Db::open`
//!    (the example's `replay` mode), alternating, three runs each.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::bench::{encode_series, put_bytes};
use crate::servers::{self, Server, UPSTREAM_BIN};
use crate::workspace_root;

// The workload; keep in sync with crates/tsdb/examples/wal_bench.rs.
const TARGETS: usize = 10;
const SERIES_PER_TARGET: usize = 1000;
const STEPS: usize = 480;
const INTERVAL: i64 = 15_000;
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

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

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

/// Pushes the workload to `addr`'s `/api/v1/write`, one request per target and round.
fn push(addr: &str) -> Result<()> {
    let n = TARGETS * SERIES_PER_TARGET;
    let labels: Vec<Vec<(String, String)>> = (0..n).map(series_labels).collect();
    let mut values = vec![0.0; n];
    let mut enc = snap::raw::Encoder::new();
    for step in 0..STEPS {
        let t = START + step as i64 * INTERVAL;
        for target in 0..TARGETS {
            let mut req = Vec::with_capacity(SERIES_PER_TARGET * 160);
            for id in target * SERIES_PER_TARGET..(target + 1) * SERIES_PER_TARGET {
                values[id] = next_value(id, step, values[id]);
                let pairs: Vec<(&str, &str)> = labels[id]
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                put_bytes(&mut req, 1, &encode_series(&pairs, t, values[id]));
            }
            let body = enc.compress_vec(&req).context("snappy")?;
            servers::remote_write(addr, &body)?;
        }
    }
    Ok(())
}

fn run_example(example: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(example)
        .args(args)
        .output()
        .with_context(|| format!("running {}", example.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} failed: {}",
            example.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{s}");
    Ok(s)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for e in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), &target)
                .with_context(|| format!("copying {}", e.path().display()))?;
        }
    }
    Ok(())
}

pub(crate) fn run() -> Result<()> {
    println!("== cargo build --release -p tsdb --example wal_bench");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", "tsdb", "--example", "wal_bench"])
        .current_dir(workspace_root())
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building the wal_bench example failed");
    }
    let example = workspace_root().join("target/release/examples/wal_bench");
    let work = servers::fresh_dir("walbench")?;
    let samples = (TARGETS * SERIES_PER_TARGET * STEPS) as f64;

    println!("== ours: write");
    for c in ["none", "snappy", "zstd"] {
        let dir = work.join(format!("ours-{c}"));
        run_example(&example, &["write", &dir.to_string_lossy(), c])?;
    }

    println!("== Prometheus 2.42: remote write");
    let data = work.join("upstream");
    let server = Server::start(
        "prometheus-2.42",
        Path::new(UPSTREAM_BIN),
        &data,
        &[
            "--web.enable-remote-write-receiver",
            "--storage.tsdb.wal-compression",
        ],
    )?;
    let t0 = Instant::now();
    push(&server.addr)?;
    println!(
        "pushed {samples} samples in {:.2}s",
        t0.elapsed().as_secs_f64()
    );
    let (status, body) = servers::request(&server.addr, "GET", "/metrics", None)?;
    let body = String::from_utf8_lossy(&body);
    for l in body.lines().filter(|l| {
        l.starts_with("prometheus_tsdb_head_samples_appended_total")
            || l.starts_with("prometheus_tsdb_head_series ")
            || l.starts_with("prometheus_tsdb_blocks_loaded ")
    }) {
        println!("/metrics ({status}): {l}");
    }
    drop(server); // SIGKILL: nothing is compacted or checkpointed
    for e in std::fs::read_dir(&data)? {
        let e = e?;
        if e.path().join("meta.json").is_file() {
            bail!(
                "Prometheus cut a block ({}); the WAL is incomplete",
                e.path().display()
            );
        }
    }
    let wal = servers::dir_bytes(&data.join("wal"))?;
    println!(
        "upstream wal_bytes={wal} bytes/sample={:.3}",
        wal as f64 / samples
    );

    // Alternate the two so that load from other processes hits both alike.
    println!("== replay: Prometheus 2.42 and ours (Db::open), alternating, 3 runs each");
    let src = work.join("replay-ours");
    copy_dir(&data.join("wal"), &src.join("wal"))?;
    for run in 1..=3 {
        let dir = work.join(format!("replay-upstream-{run}"));
        copy_dir(&data.join("wal"), &dir.join("wal"))?;
        let t0 = Instant::now();
        let server = Server::start("prometheus-2.42", Path::new(UPSTREAM_BIN), &dir, &[])?;
        let ready = t0.elapsed();
        drop(server);
        let log = std::fs::read_to_string(dir.with_extension("log"))?;
        let line = log
            .lines()
            .find(|l| l.contains("WAL replay completed"))
            .unwrap_or("no \"WAL replay completed\" line");
        println!(
            "upstream run {run}: ready after {:.3}s; {line}",
            ready.as_secs_f64()
        );
        run_example(&example, &["replay", &src.to_string_lossy(), "1"])?;
    }
    Ok(())
}
