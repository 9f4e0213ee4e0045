//! `cargo xtask scrapebench`: CPU and memory of scraping many targets, ours (release build)
//! and Prometheus 2.42 on the same synthetic targets.
//!
//! The synthetic exporter runs inside this process: `--targets` loopback listeners (default
//! 500), each serving `--series` series (default 1000, in families of 10 with HELP and TYPE)
//! in the text format, with values that change at every scrape. A server scrapes them every
//! `--interval` (default 15s); after a warm-up (every target scraped once, so series
//! creation is excluded) the server's CPU time (utime + stime of all its threads, from
//! /proc) is measured over `--intervals` intervals (default 4), and its RSS (VmRSS, VmHWM)
//! at the end. Writes `target/scrapebench/report.md`.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::servers::{self, Server, UPSTREAM_BIN};
use crate::workspace_root;

struct Options {
    targets: usize,
    series: usize,
    interval_s: u64,
    intervals: u64,
    upstream: bool,
    build: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        targets: 500,
        series: 1000,
        interval_s: 15,
        intervals: 4,
        upstream: true,
        build: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<u64> {
            it.next()
                .with_context(|| format!("{name} needs a number"))?
                .parse()
                .with_context(|| format!("{name} needs a number"))
        };
        match a.as_str() {
            "--targets" => o.targets = usize::try_from(num(a)?)?,
            "--series" => o.series = usize::try_from(num(a)?)?,
            "--interval" => o.interval_s = num(a)?,
            "--intervals" => o.intervals = num(a)?,
            "--no-upstream" => o.upstream = false,
            "--no-build" => o.build = false,
            other => bail!("unknown scrapebench option {other:?}"),
        }
    }
    if o.series == 0 || o.targets == 0 || o.interval_s == 0 || o.intervals == 0 {
        bail!("--targets, --series, --interval and --intervals must be positive");
    }
    Ok(o)
}

/// The synthetic exporter: one listener per target, a thread per connection.
struct Exporter {
    ports: Vec<u16>,
    scrapes: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loops so their threads end.
        for p in &self.ports {
            let _ = TcpStream::connect(("127.0.0.1", *p));
        }
    }
}

/// The exposition of one target at its `n`-th scrape: families of 10 series, counters whose
/// values grow with `n`, so every scrape appends new values.
fn payload(prefixes: &[String], target: usize, n: u64) -> Vec<u8> {
    let mut out = String::with_capacity(prefixes.len() * 64);
    for (j, p) in prefixes.iter().enumerate() {
        if j % 10 == 0 {
            let fam = j / 10;
            let _ = writeln!(
                out,
                "# HELP synthetic_metric_{fam}_total A synthetic counter."
            );
            let _ = writeln!(out, "# TYPE synthetic_metric_{fam}_total counter");
        }
        let v = n * (j as u64 % 97 + 1) + target as u64;
        let _ = writeln!(out, "{p} {v}");
    }
    out.into_bytes()
}

fn serve_connection(
    stream: TcpStream,
    target: usize,
    prefixes: &[String],
    scrapes: &AtomicU64,
) -> Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(300)))?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        // Request line and headers; requests have no body.
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line.trim_end().is_empty() {
                break;
            }
        }
        let n = scrapes.fetch_add(1, Ordering::Relaxed);
        let body = payload(prefixes, target, n);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        writer.write_all(head.as_bytes())?;
        writer.write_all(&body)?;
    }
}

fn start_exporter(targets: usize, series: usize) -> Result<Exporter> {
    let stop = Arc::new(AtomicBool::new(false));
    let scrapes = Arc::new(AtomicU64::new(0));
    let mut ports = Vec::with_capacity(targets);
    for t in 0..targets {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding a loopback port")?;
        ports.push(listener.local_addr()?.port());
        let prefixes: Arc<Vec<String>> = Arc::new(
            (0..series)
                .map(|j| {
                    format!(
                        "synthetic_metric_{}_total{{target=\"{t}\",series=\"{j}\",path=\"/api/v1/item\"}}",
                        j / 10
                    )
                })
                .collect(),
        );
        let (stop, scrapes) = (stop.clone(), scrapes.clone());
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(conn) = conn else { continue };
                    let (prefixes, scrapes) = (prefixes.clone(), scrapes.clone());
                    let _ = std::thread::Builder::new()
                        .stack_size(256 * 1024)
                        .spawn(move || {
                            let _ = serve_connection(conn, t, &prefixes, &scrapes);
                        });
                }
            })
            .context("starting an exporter thread")?;
    }
    Ok(Exporter {
        ports,
        scrapes,
        stop,
    })
}

fn config(o: &Options, ports: &[u16]) -> String {
    let mut c = format!(
        "global:\n  scrape_interval: {i}s\n  scrape_timeout: {t}s\nscrape_configs:\n- job_name: synthetic\n  static_configs:\n  - targets:\n",
        i = o.interval_s,
        t = o.interval_s.min(10)
    );
    for p in ports {
        let _ = writeln!(c, "    - 127.0.0.1:{p}");
    }
    // The server does not scrape itself: only the synthetic targets load it.
    c
}

/// utime + stime of a process (all threads), in seconds.
pub(crate) fn cpu_seconds(pid: u32, ticks_per_s: f64) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').context("malformed /proc/PID/stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11).context("utime")?.parse()?;
    let stime: f64 = f.get(12).context("stime")?.parse()?;
    Ok((utime + stime) / ticks_per_s)
}

fn status_kb(pid: u32, key: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(key))
        .with_context(|| format!("no {key} line"))?;
    Ok(line.split_whitespace().nth(1).context("value")?.parse()?)
}

pub(crate) fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// One instant query's single scalar-ish result value, if any.
fn query_value(server: &Server, q: &str) -> Result<Option<f64>> {
    let (status, body) = server.post_form("/api/v1/query", &[("query", q)])?;
    if status != 200 {
        bail!(
            "query {q}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok()))
}

struct Measured {
    name: &'static str,
    cpu_per_interval: f64,
    rss: u64,
    hwm: u64,
    samples_per_interval: f64,
    up: f64,
}

fn measure(
    name: &'static str,
    bin: &Path,
    o: &Options,
    exporter: &Exporter,
    work: &Path,
) -> Result<Measured> {
    let ticks = ticks_per_second();
    println!("== scrapebench: {name}");
    let server =
        Server::start_with_config(name, bin, &work.join(name.replace(' ', "-")), &[], |_| {
            config(o, &exporter.ports)
        })?;
    // Warm-up: until every target has been scraped once and its series created.
    let interval = Duration::from_secs(o.interval_s);
    let deadline = Instant::now() + interval * 4 + Duration::from_secs(60);
    loop {
        let up = query_value(&server, "count(up == 1)")?.unwrap_or(0.0);
        if up >= o.targets as f64 {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "{name}: only {up} of {} targets up after the warm-up",
                o.targets
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // Let the first full round of scrapes (series creation) finish.
    std::thread::sleep(interval);
    let scrapes0 = exporter.scrapes.load(Ordering::Relaxed);
    let cpu0 = cpu_seconds(server.pid(), ticks)?;
    let t0 = Instant::now();
    std::thread::sleep(interval * u32::try_from(o.intervals)?);
    let cpu1 = cpu_seconds(server.pid(), ticks)?;
    let elapsed = t0.elapsed().as_secs_f64();
    let scrapes = exporter.scrapes.load(Ordering::Relaxed) - scrapes0;
    let intervals = elapsed / o.interval_s as f64;
    let rss = status_kb(server.pid(), "VmRSS:")? * 1024;
    let hwm = status_kb(server.pid(), "VmHWM:")? * 1024;
    let up = query_value(&server, "count(up == 1)")?.unwrap_or(0.0);
    let m = Measured {
        name,
        cpu_per_interval: (cpu1 - cpu0) / intervals,
        rss,
        hwm,
        samples_per_interval: scrapes as f64 * o.series as f64 / intervals,
        up,
    };
    println!(
        "   {:.3} CPU s per interval, RSS {} (peak {}), {:.0} samples/interval, {} targets up",
        m.cpu_per_interval,
        mib(m.rss),
        mib(m.hwm),
        m.samples_per_interval,
        m.up
    );
    Ok(m)
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

fn build_server() -> Result<std::path::PathBuf> {
    let bin = workspace_root().join("target/release/prometheus");
    let args = [
        "build",
        "--release",
        "-p",
        "prometheus",
        "--bin",
        "prometheus",
    ];
    println!("== cargo {}", args.join(" "));
    let status =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(workspace_root())
            .args(args)
            .status()
            .context("running cargo build")?;
    if !status.success() {
        if bin.is_file() && std::env::var_os("XTASK_STRICT_BUILD").is_none() {
            println!(
                "warning: the build failed; using the existing {} (set XTASK_STRICT_BUILD to refuse)",
                bin.display()
            );
        } else {
            bail!("cargo {} failed", args.join(" "));
        }
    }
    Ok(bin)
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let ours_bin = if o.build {
        build_server()?
    } else {
        workspace_root().join("target/release/prometheus")
    };
    let work = servers::fresh_dir("scrapebench")?;
    // A private copy: the shared target/release binary may be rebuilt while we measure.
    let private = work.join("prometheus-ours");
    std::fs::copy(&ours_bin, &private)
        .with_context(|| format!("copying {}", ours_bin.display()))?;
    let ours_bin = private;
    let exporter = start_exporter(o.targets, o.series)?;
    println!(
        "== synthetic exporter: {} targets x {} series on loopback",
        o.targets, o.series
    );
    let mut results = vec![measure("ours", &ours_bin, &o, &exporter, &work)?];
    if o.upstream && Path::new(UPSTREAM_BIN).is_file() {
        results.push(measure(
            "prometheus 2.42",
            Path::new(UPSTREAM_BIN),
            &o,
            &exporter,
            &work,
        )?);
    }
    let mut report = format!(
        "# scrapebench\n\n{} targets x {} series, scrape_interval {}s, measured over {} intervals after one warm-up interval.\nCPU is utime+stime of the server process (all threads); the exporter runs in the xtask process.\n\n| server | CPU s / interval | CPU % of one core | RSS | peak RSS | samples / interval | targets up |\n| --- | --- | --- | --- | --- | --- | --- |\n",
        o.targets, o.series, o.interval_s, o.intervals
    );
    for m in &results {
        let _ = writeln!(
            report,
            "| {} | {:.3} | {:.1} % | {} | {} | {:.0} | {} |",
            m.name,
            m.cpu_per_interval,
            100.0 * m.cpu_per_interval / o.interval_s as f64,
            mib(m.rss),
            mib(m.hwm),
            m.samples_per_interval,
            m.up
        );
    }
    let path = workspace_root().join("target/scrapebench/report.md");
    std::fs::write(&path, &report).with_context(|| format!("writing {}", path.display()))?;
    println!("\n{report}\nwritten to {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_text_format_with_families_of_ten() {
        let prefixes: Vec<String> = (0..20)
            .map(|j| format!("synthetic_metric_{}_total{{series=\"{j}\"}}", j / 10))
            .collect();
        let text = String::from_utf8(payload(&prefixes, 3, 2)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 24);
        assert_eq!(
            lines[0],
            "# HELP synthetic_metric_0_total A synthetic counter."
        );
        assert_eq!(lines[1], "# TYPE synthetic_metric_0_total counter");
        assert_eq!(lines[2], "synthetic_metric_0_total{series=\"0\"} 5");
        assert_eq!(
            lines[12],
            "# HELP synthetic_metric_1_total A synthetic counter."
        );
    }
}
