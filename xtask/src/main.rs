//! Developer tasks, run as `cargo xtask <task>`:
//!
//! - `tidy`: checks the crate graph and house rules (also a `#[test]`).
//! - `conformance [config|promql|all]`: runs the upstream conformance suites and prints
//!   their scorecards.
//! - `difftest`: the same PromQL queries against our server, Prometheus 2.42 and Prometheus 3
//!   (Debian's 3.5 package, fetched into `target/peers/`) on one shared block, diffed series
//!   by series; each difference from 2.42 is proven to be the 3.x semantic
//!   `testdata/difftest/known-differences.txt` names for it, and every answer must equal
//!   Prometheus 3's.
//! - `bench [--runs N] [--no-build] [--hold SECS]`: query latency, RSS, bytes per sample and remote-write ingest of
//!   both servers side by side, plus the scale comparison with VictoriaMetrics; writes
//!   `target/bench/report.md`. `bench --scale` runs only the latter (`target/bench/scale.md`).
//! - `walbench`: WAL bytes per sample and WAL replay time of our `tsdb` and Prometheus 2.42
//!   on one workload (see `walbench.rs`).
//! - `scrapebench`: CPU and RSS of scraping 500 synthetic targets x 1000 series every 15s,
//!   ours and Prometheus 2.42 (see `scrapebench.rs`).
//! - `apicheck`: our HTTP API against prometheus-api-client and schemathesis on upstream's
//!   OpenAPI file (needs PyPI; see `apicheck.rs`).
//! - `scrapediff [--no-build] [--ct-zero]`: our scraping against Prometheus 3.5 on the
//!   payloads of `testdata/scrapediff/` and node_exporter (see `scrapediff.rs`).
//! - `rulesdiff [--no-build] [--release]`: our rules and alerting against Prometheus 3.5
//!   (see `rulesdiff.rs`).
//! - `wirediff [--no-build]`: our remote write (1.0 and 2.0), `/federate`, `/api/v1/read`
//!   and `/api/v1/write` against Prometheus 3.5, decoded and compared (see `wirediff.rs`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod apicheck;
mod bench;
mod difftest;
mod logdiff;
mod rulesdiff;
mod scrapebench;
mod scrapediff;
mod servers;
mod tidy;
mod walbench;
mod wirediff;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  tidy                          check the crate graph and house rules
  conformance [SUITE...]        run upstream conformance suites (config, promql; default all)
  difftest                      diff PromQL results of ours, Prometheus 2.42 (/usr/bin/prometheus)
                                and Prometheus 3 (Debian unstable's package, fetched once into
                                target/peers/, or PROMETHEUS3_BIN) on one generated block
                                (testdata/difftest/queries.txt and known-differences.txt); each
                                difference from 2.42 is proven to be its named 3.x semantic;
                                fails on an unexplained difference, a failed proof or any
                                difference from Prometheus 3
  bench [--runs N] [--no-build] [--hold SECS] [--queries-only] [--ab BIN]
                                ours vs Prometheus 2.42: query latency p50/p90, RSS (and its
                                anon/file split), bytes/sample, remote-write ingest; writes
                                target/bench/report.md; --hold keeps the servers up after
                                each phase for inspection; ends with the --scale comparison
                                (--queries-only skips it); --ab BIN adds a second build of
                                ours as the last column
  bench --scale [--runs N] [--no-build] [--hold SECS]
                                20k series x 481 samples by remote write into ours, 2.42 and
                                VictoriaMetrics: ingest samples/s, RSS per series, a 2h `rate`
                                and `histogram_quantile` range query (median of N, default 5),
                                answers cross-checked; writes target/bench/scale.md
  bench --ingest-only [--upstream] [--no-build]
                                only the push into ours (or 2.42), for profiling the receiver
  walbench                      ours vs Prometheus 2.42: WAL bytes/sample (none, snappy, zstd)
                                and WAL replay time on one workload, under target/walbench
  scrapebench [--targets N] [--series N] [--interval S] [--intervals N] [--no-upstream] [--no-build]
                                CPU s per scrape interval and RSS of ours and Prometheus 2.42
                                scraping synthetic loopback targets (default 500 x 1000, 15s, 4
                                intervals); writes target/scrapebench/report.md
  apicheck                      our server (scraping itself) against prometheus-api-client and
                                schemathesis (upstream OpenAPI file); needs PyPI; target/apicheck
  scrapediff [--no-build] [--ct-zero]
                                ours vs Prometheus 3.5 scraping the same payloads
                                (testdata/scrapediff/: text, OpenMetrics edge cases) and
                                node_exporter with one config (limits, relabelling, protocols,
                                NHCB): stored series and values, report series, targets'
                                health/lastError, metadata, request headers, staleness;
                                --ct-zero adds a run with created-timestamp-zero-ingestion;
                                fails on differences not in known-differences.txt
  wirediff [--no-build]         ours vs Prometheus 3.5 on the wire, same config and scraped data:
                                what remote write 1.0/2.0 sends (series, samples, histograms,
                                exemplars, metadata, headers, retries, symbol tables),
                                /federate (text, protobuf), /api/v1/read (samples, streamed)
                                and /api/v1/write answers to well-formed and malformed requests;
                                fails on differences not explained in wirediff.rs's KNOWN
  rulesdiff [--no-build] [--release]
                                ours (debug build, or --release) vs Prometheus 3.5 evaluating
                                the same rules over changing targets: /api/v1/rules (filters,
                                pagination), /api/v1/alerts, /api/v1/alertmanagers, recorded
                                and ALERTS series, what a fake Alertmanager received; plus
                                the upstream rule fixtures; fails on differences not in
                                testdata/rulesdiff/known-differences.txt
  logdiff [--no-build]          ours vs Prometheus 3.5 through start, WAL replay, reloads (good
                                and broken), failing rules, a down Alertmanager and remote
                                write, compaction and shutdown, in logfmt and JSON at debug:
                                each of Prometheus's log events (level, message, component,
                                keys in order) must be among ours; fails on differences not
                                explained in logdiff.rs's KNOWN";

/// The conformance suites: name, cargo package, test target.
const SUITES: &[(&str, &str, &str)] = &[
    ("config", "config", "conformance"),
    ("promql", "promql", "scripts"),
];

fn workspace_root() -> PathBuf {
    // xtask lives one level below the workspace root.
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(task) = args.first() else {
        bail!("no task given\n{USAGE}");
    };
    match task.as_str() {
        "tidy" => {
            let problems = tidy::check(&workspace_root())?;
            for p in &problems {
                println!("{p}");
            }
            if !problems.is_empty() {
                bail!("tidy found {} problem(s)", problems.len());
            }
            println!("tidy: ok");
            Ok(())
        }
        "conformance" => conformance(&args[1..]),
        "difftest" => difftest::run(),
        "bench" => bench::run(&args[1..]),
        "walbench" => walbench::run(),
        "scrapebench" => scrapebench::run(&args[1..]),
        "apicheck" => apicheck::run(),
        "scrapediff" => scrapediff::run(&args[1..]),
        "rulesdiff" => rulesdiff::run(&args[1..]),
        "wirediff" => wirediff::run(&args[1..]),
        "logdiff" => logdiff::run(&args[1..]),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown task {other:?}\n{USAGE}"),
    }
}

fn conformance(which: &[String]) -> Result<()> {
    let wanted: Vec<&str> = if which.is_empty() || which.iter().any(|w| w == "all") {
        SUITES.iter().map(|s| s.0).collect()
    } else {
        which.iter().map(String::as_str).collect()
    };
    let mut failed = Vec::new();
    for name in wanted {
        let Some(&(_, package, target)) = SUITES.iter().find(|s| s.0 == name) else {
            bail!(
                "unknown conformance suite {name:?}; known: {}",
                SUITES.iter().map(|s| s.0).collect::<Vec<_>>().join(", ")
            );
        };
        println!("== conformance {name} (cargo test -p {package} --test {target})");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["test", "-p", package, "--test", target, "--", "--nocapture"])
            .current_dir(workspace_root())
            .status()
            .with_context(|| format!("running the {name} suite"))?;
        if !status.success() {
            failed.push(name);
        }
    }
    if !failed.is_empty() {
        bail!("conformance suites failed: {}", failed.join(", "));
    }
    Ok(())
}
