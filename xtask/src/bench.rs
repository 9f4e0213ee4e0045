//! `cargo xtask bench`: our server and Prometheus 2.42 side by side on the same block (query latency, RSS, bytes per sample), then the remote-write scale comparison with VictoriaMetrics too (`bench/scale.rs`).

mod scale;

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::servers::{self, Case, Server, UPSTREAM_BIN};
use crate::workspace_root;

struct Latency {
    p50: Duration,
    p90: Duration,
    errors: usize,
    /// p50 and p90 over the cases every server answered with 200 in every timed run: the
    /// same work on each side (a case one server refuses at parse time, say a function
    /// 2.42 does not have, is no latency comparison).
    p50_answered: Duration,
    p90_answered: Duration,
    /// How many cases that is.
    answered_cases: usize,
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
    let mut refused = vec![false; cases.len()];
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
                        refused[c] = true;
                    }
                }
            }
        }
    }
    let answered_cases = refused.iter().filter(|r| !**r).count();
    let answered: Vec<Vec<Duration>> = (0..servers.len())
        .map(|k| {
            let mut v: Vec<Duration> = per_case
                .iter()
                .zip(&refused)
                .filter(|(_, r)| !**r)
                .flat_map(|(per_server, _)| per_server[k].iter().copied())
                .collect();
            v.sort();
            v
        })
        .collect();
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
        .zip(answered)
        .map(|((mut v, errors), answered)| {
            v.sort();
            Latency {
                p50: percentile(&v, 0.5),
                p90: percentile(&v, 0.9),
                errors,
                p50_answered: percentile(&answered, 0.5),
                p90_answered: percentile(&answered, 0.9),
                answered_cases,
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

/// The label fields of a `prometheus.TimeSeries` message.
pub(crate) fn encode_labels(labels: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    let mut l = Vec::with_capacity(64);
    for (name, value) in labels {
        l.clear();
        put_bytes(&mut l, 1, name.as_bytes());
        put_bytes(&mut l, 2, value.as_bytes());
        put_bytes(&mut out, 1, &l);
    }
    out
}

/// The samples field of a `prometheus.TimeSeries` message holding one sample.
fn put_sample(buf: &mut Vec<u8>, t: i64, v: f64) {
    let mut s = Vec::with_capacity(20);
    put_varint(&mut s, 1 << 3 | 1); // value: double
    s.extend_from_slice(&v.to_le_bytes());
    put_varint(&mut s, 2 << 3); // timestamp: int64 varint
    put_varint(&mut s, t as u64);
    put_bytes(buf, 2, &s);
}

/// One `prometheus.TimeSeries` message with a single sample.
pub(crate) fn encode_series(labels: &[(&str, &str)], t: i64, v: f64) -> Vec<u8> {
    let mut ts = encode_labels(labels);
    put_sample(&mut ts, t, v);
    ts
}

/// Appends a `timeseries` field (of a `prometheus.WriteRequest`) with `labels` (from
/// [`encode_labels`]) and one sample.
pub(crate) fn put_series(req: &mut Vec<u8>, labels: &[u8], t: i64, v: f64) {
    let mut sample = Vec::with_capacity(24);
    put_sample(&mut sample, t, v);
    put_varint(req, 1 << 3 | 2);
    put_varint(req, (labels.len() + sample.len()) as u64);
    req.extend_from_slice(labels);
    req.extend_from_slice(&sample);
}

/// Pushes the snappy-compressed remote-write `bodies` (one list per sender, each sent in
/// order from its own thread) to `server`'s `/api/v1/write`; returns how long it took.
fn push(server: &Server, bodies: &[Vec<Vec<u8>>]) -> Result<Duration> {
    let t0 = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = bodies
            .iter()
            .map(|bodies| {
                let addr = server.addr.clone();
                scope.spawn(move || -> Result<()> {
                    for body in bodies {
                        servers::remote_write(&addr, body)?;
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
    Ok(t0.elapsed())
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
        "== bench: {name} (pid {}) ingesting {} series x {} samples",
        server.pid(),
        scale::SERIES,
        scale::SAMPLES
    );
    // The request bodies are encoded and compressed before the clock starts: the load
    // generator shares the machine's cores with the server.
    let workload = scale::Workload::ending_now()?;
    let bodies = workload.bodies()?;
    let ticks = crate::scrapebench::ticks_per_second();
    let cpu0 = crate::scrapebench::cpu_seconds(server.pid(), ticks)?;
    let took = push(&server, &bodies)?;
    let cpu = crate::scrapebench::cpu_seconds(server.pid(), ticks)? - cpu0;
    let rate = (scale::SERIES * scale::SAMPLES) as f64 / took.as_secs_f64();
    let rss = server.rss_bytes()?;
    let stored = stored_samples(&server, workload.last())?;
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

/// How many of the pushed samples (the last at `last`) a query sees (so that a server that
/// answers 204 and drops the data cannot win).
fn stored_samples(server: &Server, last: i64) -> Result<u64> {
    let (status, body) = server.post_form(
        "/api/v1/query",
        &[
            ("query", "sum(count_over_time({job=\"loadgen\"}[3h]))"),
            ("time", &servers::api_time(last + 1_000)),
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
            "== bench: holding {} (pid {}, http://{}) for {:?}",
            s.name,
            s.pid(),
            s.addr,
            hold
        );
    }
    std::thread::sleep(hold);
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1048576.0)
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn ratio(ours: f64, theirs: f64) -> String {
    if theirs == 0.0 {
        "-".to_string()
    } else {
        format!("{:.2}x", ours / theirs)
    }
}

/// Prometheus 3 for a third column ([`servers::prometheus3`]), or `None` with a note when
/// it cannot be had (the comparison with 2.42, the yardstick, runs regardless).
fn prometheus3() -> Option<std::path::PathBuf> {
    match servers::prometheus3() {
        Ok(bin) => Some(bin),
        Err(e) => {
            println!("== bench: no Prometheus 3 ({e:#}); comparing with 2.42 only");
            None
        }
    }
}

/// Runs of each scale query (after one warm-up) unless `--runs` says otherwise.
const SCALE_RUNS: usize = 5;

fn number_after(args: &[String], flag: &str) -> Result<Option<u64>> {
    match args.iter().position(|a| a == flag) {
        Some(i) => Ok(Some(
            args.get(i + 1)
                .and_then(|n| n.parse().ok())
                .with_context(|| format!("{flag} needs a number"))?,
        )),
        None => Ok(None),
    }
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let runs = number_after(args, "--runs")?.map(|n| n as usize);
    // `--hold SECS`: keep the servers up that long after each phase, for inspecting them
    // (`/proc/PID/smaps_rollup`, heaptrack attach, ...).
    let hold = Duration::from_secs(number_after(args, "--hold")?.unwrap_or(0));
    let no_build = args.iter().any(|a| a == "--no-build");
    if args.iter().any(|a| a == "--ingest-only") || args.iter().any(|a| a == "--scale") {
        let ours_bin = if no_build {
            workspace_root().join("target/release/prometheus")
        } else {
            servers::build()?.0
        };
        if args.iter().any(|a| a == "--scale") {
            let prom3 = prometheus3();
            return scale::run(
                &ours_bin,
                prom3.as_deref(),
                runs.unwrap_or(SCALE_RUNS),
                hold,
            );
        }
        return ingest_only(&ours_bin, args.iter().any(|a| a == "--upstream"));
    }
    let runs = runs.unwrap_or(3);
    let (ours_bin, block_writer) = if no_build {
        let release = workspace_root().join("target/release");
        (
            release.join("prometheus"),
            release.join("examples/bench_block"),
        )
    } else {
        servers::build()?
    };
    let mut breakdown = String::new();
    let work = servers::fresh_dir("bench/data")?;
    let prom3_bin = prometheus3();
    let block = servers::prepare_data(
        &block_writer,
        &work,
        &["ours", "upstream", "prom3", "ours-b"],
    )?;
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
    let mut all = vec![ours, upstream];
    if let Some(bin) = &prom3_bin {
        // The corpus has experimental functions, which our server always parses.
        all.push(Server::start(
            "prometheus 3",
            bin,
            &work.join("prom3"),
            &["--enable-feature=promql-experimental-functions"],
        )?);
    }
    // `--ab BIN`: a second build of ours on the same block, as the last column (an A/B
    // comparison of two builds in one run, taking turns with the others).
    if let Some(bin) = args
        .iter()
        .position(|a| a == "--ab")
        .map(|i| {
            args.get(i + 1)
                .context("--ab needs the path of a prometheus binary")
        })
        .transpose()?
    {
        all.push(Server::start(
            "ours (B)",
            Path::new(bin),
            &work.join("ours-b"),
            &[],
        )?);
    }
    let all_refs: Vec<&Server> = all.iter().collect();
    let all_names: Vec<&'static str> = all.iter().map(|s| s.name).collect();
    std::thread::sleep(Duration::from_secs(2));
    let rss_loaded = all
        .iter()
        .map(Server::rss_bytes)
        .collect::<Result<Vec<u64>>>()?;
    println!(
        "== bench: {} cases x {runs} runs (+1 warm-up) on each server",
        cases.len()
    );
    let (lat, medians) = latencies(&cases, &all_refs, runs)?;
    let rss_after = all
        .iter()
        .map(Server::rss_bytes)
        .collect::<Result<Vec<u64>>>()?;
    for s in &all {
        breakdown.push_str(&memory_row("after queries", s));
    }
    pause(hold, &all_refs);
    drop(all_refs);
    drop(all);

    // Scale phase: fresh, empty data dirs with the remote-write receiver enabled; ours,
    // 2.42, Prometheus 3 and VictoriaMetrics.
    // `--queries-only` skips it (for comparing query latency alone).
    let scale = if args.iter().any(|a| a == "--queries-only") {
        Err("skipped (--queries-only)".to_owned())
    } else {
        scale::compare(&ours_bin, prom3_bin.as_deref(), SCALE_RUNS, hold)
            .map_err(|e| format!("{e:#}"))
    };
    if let Ok(scale) = &scale {
        breakdown.push_str(&scale.breakdown);
    }

    let mut md = String::new();
    writeln!(
        md,
        "# Benchmark: ours vs Prometheus 2.42{}\n",
        if all_names.len() > 2 {
            " and Prometheus 3"
        } else {
            ""
        }
    )?;
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
    // Columns: each server, then ours relative to each of the others.
    let names = &all_names;
    let header: Vec<String> = names[1..].iter().map(|n| format!("ours / {n}")).collect();
    writeln!(
        md,
        "| metric | {} | {} |",
        names.join(" | "),
        header.join(" | ")
    )?;
    writeln!(md, "|{}", " --- |".repeat(2 * names.len()))?;
    let row = |md: &mut String, label: &str, v: &[f64], show: &dyn Fn(f64) -> String| {
        let cells: Vec<String> = v.iter().map(|x| show(*x)).collect();
        let vs: Vec<String> = v[1..].iter().map(|t| ratio(v[0], *t)).collect();
        writeln!(
            md,
            "| {label} | {} | {} |",
            cells.join(" | "),
            vs.join(" | ")
        )
    };
    let secs = |d: Duration| d.as_secs_f64();
    let show_ms = |x: f64| ms(Duration::from_secs_f64(x));
    let show_mib = |x: f64| mib(x as u64);
    let answered = lat.first().map_or(0, |l| l.answered_cases);
    row(
        &mut md,
        &format!(
            "query latency p50, the {answered} of {} cases every server answers",
            cases.len()
        ),
        &lat.iter().map(|l| secs(l.p50_answered)).collect::<Vec<_>>(),
        &show_ms,
    )?;
    row(
        &mut md,
        "query latency p90, the same cases",
        &lat.iter().map(|l| secs(l.p90_answered)).collect::<Vec<_>>(),
        &show_ms,
    )?;
    row(
        &mut md,
        "query latency p50, all cases (errors included)",
        &lat.iter().map(|l| secs(l.p50)).collect::<Vec<_>>(),
        &show_ms,
    )?;
    row(
        &mut md,
        "query latency p90, all cases",
        &lat.iter().map(|l| secs(l.p90)).collect::<Vec<_>>(),
        &show_ms,
    )?;
    writeln!(
        md,
        "| queries answered with an error (all timed runs) | {} |{}",
        lat.iter()
            .map(|l| l.errors.to_string())
            .collect::<Vec<_>>()
            .join(" | "),
        " |".repeat(names.len() - 1)
    )?;
    row(
        &mut md,
        "RSS after load",
        &rss_loaded.iter().map(|b| *b as f64).collect::<Vec<_>>(),
        &show_mib,
    )?;
    row(
        &mut md,
        "RSS after queries",
        &rss_after.iter().map(|b| *b as f64).collect::<Vec<_>>(),
        &show_mib,
    )?;
    row(
        &mut md,
        "block bytes/sample (same block)",
        &vec![block_bytes as f64 / samples.max(1) as f64; names.len()],
        &|x| format!("{x:.3}"),
    )?;
    match &scale {
        Ok(scale) => {
            // The same servers as the columns (VictoriaMetrics has its own table below).
            let o: Vec<&scale::Outcome> = names
                .iter()
                .filter_map(|n| scale.outcomes.iter().find(|o| o.name == *n))
                .collect();
            if o.len() == names.len() {
                row(
                    &mut md,
                    &format!(
                        "remote-write ingest ({} series x {} samples, {} senders), samples/s",
                        scale::SERIES,
                        scale::SAMPLES,
                        scale::SENDERS
                    ),
                    &o.iter().map(|o| o.rate).collect::<Vec<_>>(),
                    &|x| format!("{x:.0}"),
                )?;
                writeln!(
                    md,
                    "| samples queryable after the push (of {}) | {} |{}",
                    scale::SERIES * scale::SAMPLES,
                    o.iter()
                        .map(|o| o.stored.to_string())
                        .collect::<Vec<_>>()
                        .join(" | "),
                    " |".repeat(names.len() - 1)
                )?;
                row(
                    &mut md,
                    "RSS after the push",
                    &o.iter().map(|o| o.rss_pushed as f64).collect::<Vec<_>>(),
                    &show_mib,
                )?;
            }
        }
        Err(e) => writeln!(
            md,
            "| remote-write ingest | failed |\n\nScale phase failed: {}",
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
    if let Ok(scale) = &scale {
        writeln!(md, "\n{}", scale.markdown()?)?;
    }
    print!("{md}");
    let dir = workspace_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    // Every case's median per server, for looking past the percentiles.
    let mut csv = format!("case,kind,{}\n", all_names.join(","));
    for (case, per_server) in cases.iter().zip(&medians) {
        let times: Vec<String> = per_server
            .iter()
            .map(|d| format!("{:.6}", d.as_secs_f64() * 1000.0))
            .collect();
        writeln!(
            csv,
            "\"{}\",{},{}",
            case.query().replace('"', "\"\""),
            case.kind(),
            times.join(",")
        )?;
    }
    std::fs::write(dir.join("cases.csv"), csv).context("writing target/bench/cases.csv")?;
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
