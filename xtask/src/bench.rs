//! `cargo xtask bench`: our server and Prometheus 2.42 side by side on the same block: query latency, RSS, bytes per sample, remote-write ingest.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use crate::servers::{self, Case, Server, UPSTREAM_BIN};
use crate::workspace_root;

/// Remote-write load: series, samples per series, concurrent senders.
const RW_SERIES: usize = 20_000;
const RW_SAMPLES: usize = 480;
const RW_SENDERS: usize = 4;

struct Latency {
    p50: Duration,
    p90: Duration,
    errors: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs every case once to warm up, then `runs` times, alternating servers per case.
/// Returns the latency summary per server and each case's median per server.
fn latencies(
    cases: &[Case],
    servers: &[&Server],
    runs: usize,
) -> Result<(Vec<Latency>, Vec<Vec<Duration>>)> {
    let mut all: Vec<Vec<Duration>> = vec![Vec::new(); servers.len()];
    let mut per_case: Vec<Vec<Vec<Duration>>> = vec![vec![Vec::new(); servers.len()]; cases.len()];
    let mut errors = vec![0; servers.len()];
    for round in 0..=runs {
        for (c, case) in cases.iter().enumerate() {
            for (k, s) in servers.iter().enumerate() {
                let t0 = Instant::now();
                let (status, _) = case.run(s)?;
                let took = t0.elapsed();
                if round > 0 {
                    all[k].push(took);
                    per_case[c][k].push(took);
                    if status != 200 {
                        errors[k] += 1;
                    }
                }
            }
        }
    }
    let medians = per_case
        .into_iter()
        .map(|per_server| {
            per_server
                .into_iter()
                .map(|mut v| {
                    v.sort();
                    percentile(&v, 0.5)
                })
                .collect()
        })
        .collect();
    let summary = all
        .into_iter()
        .zip(errors)
        .map(|(mut v, errors)| {
            v.sort();
            Latency {
                p50: percentile(&v, 0.5),
                p90: percentile(&v, 0.9),
                errors,
            }
        })
        .collect();
    Ok((summary, medians))
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

pub(crate) fn put_bytes(buf: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_varint(buf, (field << 3) | 2);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// One `prometheus.TimeSeries` message with a single sample.
pub(crate) fn encode_series(labels: &[(&str, &str)], t: i64, v: f64) -> Vec<u8> {
    let mut ts = Vec::with_capacity(128);
    let mut l = Vec::with_capacity(64);
    for (name, value) in labels {
        l.clear();
        put_bytes(&mut l, 1, name.as_bytes());
        put_bytes(&mut l, 2, value.as_bytes());
        put_bytes(&mut ts, 1, &l);
    }
    let mut s = Vec::with_capacity(20);
    put_varint(&mut s, 1 << 3 | 1); // value: double
    s.extend_from_slice(&v.to_le_bytes());
    put_varint(&mut s, 2 << 3); // timestamp: int64 varint
    put_varint(&mut s, t as u64);
    put_bytes(&mut ts, 2, &s);
    ts
}

/// The snappy-compressed remote-write bodies one sender pushes: one request per step with
/// one sample for each of its `RW_SERIES / RW_SENDERS` series.
fn sender_bodies(sender: usize, base: i64) -> Result<Vec<Vec<u8>>> {
    let per_sender = RW_SERIES / RW_SENDERS;
    let names: Vec<(String, String, String)> = (0..per_sender)
        .map(|i| {
            let id = sender * per_sender + i;
            (
                format!("rw_metric_{}", id % 20),
                format!("host-{}", id / 200),
                id.to_string(),
            )
        })
        .collect();
    let mut enc = snap::raw::Encoder::new();
    (0..RW_SAMPLES)
        .map(|step| {
            let t = base + step as i64 * 15_000;
            let mut req = Vec::with_capacity(per_sender * 100);
            for (i, (name, host, id)) in names.iter().enumerate() {
                let ts = encode_series(
                    &[
                        ("__name__", name),
                        ("instance", host),
                        ("job", "loadgen"),
                        ("series", id),
                    ],
                    t,
                    (step * 10 + i % 7) as f64,
                );
                put_bytes(&mut req, 1, &ts);
            }
            enc.compress_vec(&req).context("snappy")
        })
        .collect()
}

/// Pushes RW_SERIES x RW_SAMPLES samples (15s apart, ending now) to `server`'s
/// `/api/v1/write` from RW_SENDERS threads; returns samples per second and how many
/// samples a query then counts, and the server's RSS after that.
fn ingest(server: &Server) -> Result<(f64, u64, u64)> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("clock before 1970")?
        .as_millis() as i64;
    let base = now - RW_SAMPLES as i64 * 15_000;
    // The request bodies are encoded and compressed before the clock starts: the load
    // generator shares the machine's cores with the server, and building ~2000 requests
    // of 5000 series costs more CPU than receiving them (it ran at 11 CPU seconds against
    // the server's 8 before), which measured the generator rather than the server.
    let bodies: Vec<Vec<Vec<u8>>> = (0..RW_SENDERS)
        .map(|sender| sender_bodies(sender, base))
        .collect::<Result<_>>()?;
    let t0 = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = bodies
            .iter()
            .map(|bodies| {
                let addr = server.addr.clone();
                scope.spawn(move || -> Result<()> {
                    for body in bodies {
                        let (status, resp) = servers::request(
                            &addr,
                            "POST",
                            "/api/v1/write",
                            Some((
                                "application/x-protobuf",
                                &[
                                    ("Content-Encoding", "snappy"),
                                    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
                                ],
                                body,
                            )),
                        )?;
                        if !(200..300).contains(&status) {
                            anyhow::bail!(
                                "remote write answered {status}: {}",
                                String::from_utf8_lossy(&resp)
                            );
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a sender panicked"))??;
        }
        Ok(())
    })?;
    let rate = (RW_SERIES * RW_SAMPLES) as f64 / t0.elapsed().as_secs_f64();
    Ok((rate, stored_samples(server, now)?, server.rss_bytes()?))
}

/// `bench --ingest-only [--upstream] [--no-build]`: only the remote-write phase, on our server (or on
/// Prometheus 2.42 with `--upstream`), for profiling the receiver (attach `perf record -p` to
/// the printed pid).
fn ingest_only(ours_bin: &Path, upstream: bool) -> Result<()> {
    let work = servers::fresh_dir("bench/ingest")?;
    let flag = ["--web.enable-remote-write-receiver"];
    let (name, bin) = if upstream {
        ("prometheus 2.42", Path::new(UPSTREAM_BIN))
    } else {
        ("ours", ours_bin)
    };
    let server = Server::start(name, bin, &work.join("rw"), &flag)?;
    println!(
        "== bench: {name} (pid {}) ingesting {RW_SERIES} series x {RW_SAMPLES} samples",
        server.pid()
    );
    let ticks = crate::scrapebench::ticks_per_second();
    let cpu0 = crate::scrapebench::cpu_seconds(server.pid(), ticks)?;
    let (rate, stored, rss) = ingest(&server)?;
    let cpu = crate::scrapebench::cpu_seconds(server.pid(), ticks)? - cpu0;
    println!(
        "{name}: {rate:.0} samples/s, {cpu:.2} CPU s, {stored} samples queryable, RSS {}",
        mib(rss)
    );
    // `BENCH_HOLD=SECS` keeps the server up afterwards (to inspect its memory: gdb, /proc).
    if let Some(secs) = std::env::var("BENCH_HOLD")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(Duration::from_secs(secs));
        println!("{name}: RSS {} after {secs} s", mib(server.rss_bytes()?));
    }
    Ok(())
}

/// How many of the pushed samples a query sees (so that a server that answers 204 and drops
/// the data cannot win).
fn stored_samples(server: &Server, now: i64) -> Result<u64> {
    let (status, body) = server.post_form(
        "/api/v1/query",
        &[
            ("query", "sum(count_over_time({job=\"loadgen\"}[3h]))"),
            ("time", &servers::api_time(now + 1_000)),
        ],
    )?;
    let v: serde_json::Value = serde_json::from_slice(&body)
        .with_context(|| format!("counting stored samples: HTTP {status}"))?;
    Ok(v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(0.0) as u64)
}

/// One table row: `phase`, the server's anonymous and file-backed resident memory and its
/// thread count (empty fields when /proc cannot be read).
fn memory_row(phase: &str, server: &Server) -> String {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let kb = |name: &str| {
        field(name)
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kb| mib(kb * 1024))
            .unwrap_or_default()
    };
    format!(
        "| {phase} | {} | {} | {} | {} |\n",
        server.name,
        kb("RssAnon:"),
        kb("RssFile:"),
        field("Threads:")
    )
}

/// Keeps `servers` up for `hold` (nothing when zero), printing their pids.
fn pause(hold: Duration, servers: &[&Server]) {
    if hold.is_zero() {
        return;
    }
    for s in servers {
        println!(
            "== bench: holding {} (pid {}) for {:?}",
            s.name,
            s.pid(),
            hold
        );
    }
    std::thread::sleep(hold);
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1048576.0)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn ratio(ours: f64, theirs: f64) -> String {
    if theirs == 0.0 {
        "-".to_string()
    } else {
        format!("{:.2}x", ours / theirs)
    }
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let runs: usize = match args.iter().position(|a| a == "--runs") {
        Some(i) => args
            .get(i + 1)
            .context("--runs needs a number")?
            .parse()
            .context("--runs needs a number")?,
        None => 3,
    };
    if args.iter().any(|a| a == "--ingest-only") {
        let ours_bin = if args.iter().any(|a| a == "--no-build") {
            workspace_root().join("target/release/prometheus")
        } else {
            servers::build()?.0
        };
        return ingest_only(&ours_bin, args.iter().any(|a| a == "--upstream"));
    }
    let (ours_bin, block_writer) = if args.iter().any(|a| a == "--no-build") {
        let release = workspace_root().join("target/release");
        (
            release.join("prometheus"),
            release.join("examples/bench_block"),
        )
    } else {
        servers::build()?
    };
    // `--hold SECS`: keep both servers up that long after each phase, for inspecting them
    // (`/proc/PID/smaps_rollup`, heaptrack attach, ...).
    let hold = match args.iter().position(|a| a == "--hold") {
        Some(i) => Duration::from_secs(
            args.get(i + 1)
                .context("--hold needs seconds")?
                .parse()
                .context("--hold needs seconds")?,
        ),
        None => Duration::ZERO,
    };
    let mut breakdown = String::new();
    let work = servers::fresh_dir("bench/data")?;
    let block = servers::prepare_data(&block_writer, &work)?;
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(block.join("meta.json")).context("reading the block's meta.json")?,
    )?;
    let samples = meta["stats"]["numSamples"].as_u64().unwrap_or(0);
    let series = meta["stats"]["numSeries"].as_u64().unwrap_or(0);
    let block_bytes = servers::dir_bytes(&block)?;
    let cases = servers::load_cases()?;

    // Query phase: both servers up at once on the same block (they take turns per query).
    let ours = Server::start("ours", &ours_bin, &work.join("ours"), &[])?;
    let upstream = Server::start(
        "prometheus 2.42",
        Path::new(UPSTREAM_BIN),
        &work.join("upstream"),
        &[],
    )?;
    std::thread::sleep(Duration::from_secs(2));
    let rss_loaded = [ours.rss_bytes()?, upstream.rss_bytes()?];
    println!(
        "== bench: {} cases x {runs} runs (+1 warm-up) on each server",
        cases.len()
    );
    let (lat, medians) = latencies(&cases, &[&ours, &upstream], runs)?;
    let rss_after = [ours.rss_bytes()?, upstream.rss_bytes()?];
    for s in [&ours, &upstream] {
        breakdown.push_str(&memory_row("after queries", s));
    }
    pause(hold, &[&ours, &upstream]);
    drop(ours);
    drop(upstream);

    // Ingest phase: fresh, empty data dirs with the remote-write receiver enabled.
    println!("== bench: remote write of {RW_SERIES} series x {RW_SAMPLES} samples");
    let flag = ["--web.enable-remote-write-receiver"];
    let ingest_ours = match Server::start("ours", &ours_bin, &work.join("rw-ours"), &flag) {
        Ok(s) => match ingest(&s) {
            Ok(r) => {
                breakdown.push_str(&memory_row("after the push", &s));
                pause(hold, &[&s]);
                Ok(r)
            }
            Err(e) => Err(format!("{e:#}")),
        },
        Err(e) => Err(format!("{e:#}")),
    };
    let ingest_upstream = {
        let s = Server::start(
            "prometheus 2.42",
            Path::new(UPSTREAM_BIN),
            &work.join("rw-upstream"),
            &flag,
        )?;
        let r = ingest(&s)?;
        breakdown.push_str(&memory_row("after the push", &s));
        r
    };

    let mut md = String::new();
    writeln!(md, "# Benchmark: ours vs Prometheus 2.42\n")?;
    writeln!(
        md,
        "Block: {series} series, {samples} samples, {} on disk ({:.3} bytes/sample), written by `tsdb --example bench_block`, served by both.\n",
        mib(block_bytes),
        block_bytes as f64 / samples.max(1) as f64
    )?;
    writeln!(
        md,
        "Queries: {} cases from testdata/difftest/queries.txt, {runs} timed runs each after one warm-up; HTTP/1.1 on loopback, one connection per request.\n",
        cases.len()
    )?;
    writeln!(md, "| metric | ours | Prometheus 2.42 | ours / 2.42 |")?;
    writeln!(md, "| --- | --- | --- | --- |")?;
    writeln!(
        md,
        "| query latency p50 | {} | {} | {} |",
        ms(lat[0].p50),
        ms(lat[1].p50),
        ratio(lat[0].p50.as_secs_f64(), lat[1].p50.as_secs_f64())
    )?;
    writeln!(
        md,
        "| query latency p90 | {} | {} | {} |",
        ms(lat[0].p90),
        ms(lat[1].p90),
        ratio(lat[0].p90.as_secs_f64(), lat[1].p90.as_secs_f64())
    )?;
    writeln!(
        md,
        "| queries answered with an error (all timed runs) | {} | {} | |",
        lat[0].errors, lat[1].errors
    )?;
    writeln!(
        md,
        "| RSS after load | {} | {} | {} |",
        mib(rss_loaded[0]),
        mib(rss_loaded[1]),
        ratio(rss_loaded[0] as f64, rss_loaded[1] as f64)
    )?;
    writeln!(
        md,
        "| RSS after queries | {} | {} | {} |",
        mib(rss_after[0]),
        mib(rss_after[1]),
        ratio(rss_after[0] as f64, rss_after[1] as f64)
    )?;
    writeln!(
        md,
        "| block bytes/sample (same block) | {0:.3} | {0:.3} | 1.00x |",
        block_bytes as f64 / samples.max(1) as f64
    )?;
    let (up_rate, up_stored, up_rss) = ingest_upstream;
    match &ingest_ours {
        Ok((r, stored, rss)) => {
            writeln!(
                md,
                "| remote-write ingest ({RW_SERIES} series x {RW_SAMPLES} samples, {RW_SENDERS} senders) | {r:.0} samples/s | {up_rate:.0} samples/s | {} |",
                ratio(*r, up_rate)
            )?;
            writeln!(
                md,
                "| samples queryable after the push (of {}) | {stored} | {up_stored} | |",
                RW_SERIES * RW_SAMPLES
            )?;
            writeln!(
                md,
                "| RSS after the push | {} | {} | {} |",
                mib(*rss),
                mib(up_rss),
                ratio(*rss as f64, up_rss as f64)
            )?;
        }
        Err(e) => writeln!(
            md,
            "| remote-write ingest | not available | {up_rate:.0} samples/s | - |\n\nOurs: remote write not available: {}",
            e.lines().next().unwrap_or("")
        )?,
    }
    writeln!(
        md,
        "\nMemory breakdown (from /proc/PID/status):\n\n| phase | server | RssAnon | RssFile | threads |\n| --- | --- | --- | --- | --- |\n{breakdown}"
    )?;
    writeln!(
        md,
        "\nSlowest cases relative to 2.42 (median of the timed runs; ours / 2.42):\n"
    )?;
    writeln!(md, "| case | ours | 2.42 | ratio |")?;
    writeln!(md, "| --- | --- | --- | --- |")?;
    let mut order: Vec<usize> = (0..cases.len()).collect();
    let rel = |i: usize| medians[i][0].as_secs_f64() / medians[i][1].as_secs_f64().max(1e-6);
    order.sort_by(|&a, &b| rel(b).total_cmp(&rel(a)));
    for &i in order.iter().take(10) {
        writeln!(
            md,
            "| `{}` {} | {} | {} | {:.2}x |",
            cases[i].query().replace('|', "\\|"),
            cases[i].kind(),
            ms(medians[i][0]),
            ms(medians[i][1]),
            rel(i)
        )?;
    }
    print!("{md}");
    let dir = workspace_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("report.md"), &md).context("writing target/bench/report.md")?;
    println!("\nwritten to target/bench/report.md");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_encode_as_protobuf() {
        let mut b = Vec::new();
        put_varint(&mut b, 300);
        assert_eq!(b, [0xac, 0x02]);
    }

    #[test]
    fn a_series_message_holds_labels_then_the_sample() {
        let m = encode_series(&[("a", "b")], 1, 2.0);
        // labels: field 1, len 6, {field 1 "a", field 2 "b"}
        assert_eq!(&m[..8], &[0x0a, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'b']);
        // samples: field 2, len 11, double 2.0, timestamp 1
        assert_eq!(&m[8..11], &[0x12, 11, 0x09]);
        assert_eq!(&m[11..19], &2.0f64.to_le_bytes());
        assert_eq!(&m[19..], &[0x10, 0x01]);
    }
}
