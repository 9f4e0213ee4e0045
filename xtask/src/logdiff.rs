//! `cargo xtask logdiff`: ours and Prometheus 3.5 through the same events, their log lines compared.
//!
//! Both servers run side by side on loopback with one configuration (scraping themselves, a
//! rule whose evaluation fails, an Alertmanager and a remote-write endpoint that are down,
//! 10s blocks so that the head compacts within the run) through: start over an empty data
//! directory, a good and a broken `/-/reload`, SIGTERM, a restart over the same data and
//! SIGTERM again, once with `--log.format=logfmt` and once with `json`, at
//! `--log.level=debug`. Every line is reduced to its event: level, message, component and
//! the keys after the message in order (`time`, `level`, `source`, `msg` first). Each event
//! Prometheus logged must be among ours, except those [`KNOWN`] explains and those
//! [`TIMING`] names (background work a short run may or may not reach).

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::servers::{announce_peers, fresh_dir, our_binary, request};

/// Messages only Prometheus logs, and why.
const KNOWN: &[(&str, &str)] = &[
    ("updated GOGC", "Go runtime setting"),
    ("Leaving GOMAXPROCS", "Go runtime setting (automaxprocs)"),
    ("GOMEMLIMIT is updated", "Go runtime setting (automemlimit)"),
    (
        "Watcher is reading the WAL due to timeout",
        "our WAL watcher polls; Go's waits for write notifications",
    ),
];

/// Messages of background work whose timing decides whether a short run shows them.
const TIMING: &[&str] = &[
    "write block",
    "compact blocks",
    "Head GC completed",
    "Creating checkpoint",
    "WAL checkpoint complete",
    "WAL checkpoint loaded",
    "Found healthy block",
    "Failed to flush all samples on shutdown",
    "non-recoverable error",
    "Failed to send batch, retrying",
    "runShard timer ticked, sending buffered data",
    "New checkpoint detected",
    "Reading checkpoint",
    "Read series references from checkpoint",
];

/// One log line reduced to what must match.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Event {
    level: String,
    msg: String,
    component: String,
    keys: Vec<String>,
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.level, self.msg)?;
        if !self.component.is_empty() {
            write!(f, " component={:?}", self.component)?;
        }
        write!(f, " keys=[{}]", self.keys.join(" "))
    }
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let no_build = args.iter().any(|a| a == "--no-build");
    let ours = our_binary(no_build, false)?;
    let theirs = announce_peers(&ours)?;
    let work = fresh_dir("logdiff")?;
    let rules = work.join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: g1\n    interval: 1s\n    rules:\n      - record: dup:bad\n        expr: '{__name__=~\"up|scrape_samples_scraped\"} * 0'\n      - alert: AlwaysFiring\n        expr: vector(1)\n",
    )?;
    // Ports nobody listens on: the Alertmanager and the remote-write endpoint are down.
    let (dead_am, dead_rw) = (free_port()?, free_port()?);
    let mut failures = 0;
    for format in ["logfmt", "json"] {
        let scenario = |name: &str, bin: PathBuf| {
            let dir = work.join(format!("{name}-{format}"));
            let rules = rules.clone();
            std::thread::spawn(move || scenario(&bin, &dir, &rules, format, dead_am, dead_rw))
        };
        let go = scenario("prometheus3", theirs.clone());
        let rs = scenario("ours", ours.clone());
        let go = go
            .join()
            .map_err(|_| anyhow::anyhow!("the Prometheus 3 run panicked"))??;
        let rs = rs
            .join()
            .map_err(|_| anyhow::anyhow!("our run panicked"))??;
        let go_events = events(&go)?;
        let our_events = events(&rs)?;
        let (mut matched, mut total) = (0, 0);
        for e in &go_events {
            total += 1;
            if our_events.contains(e) {
                matched += 1;
                continue;
            }
            let same_msg: Vec<&Event> = our_events.iter().filter(|o| o.msg == e.msg).collect();
            if let Some((_, why)) = KNOWN.iter().find(|(m, _)| e.msg.starts_with(m)) {
                println!("  known: {e} ({why})");
            } else if TIMING.contains(&e.msg.as_str()) && same_msg.is_empty() {
                println!("  not reached in this run: {e}");
            } else {
                failures += 1;
                println!("DIFF {format}: Prometheus 3.5 logs {e}");
                for o in same_msg {
                    println!("     ours:                {o}");
                }
            }
        }
        println!(
            "{format}: {matched}/{total} of Prometheus 3.5's events logged alike (logs in {} and {})",
            go.display(),
            rs.display()
        );
    }
    if failures > 0 {
        bail!("{failures} log event(s) differ from Prometheus 3.5's");
    }
    println!("logdiff: ok");
    Ok(())
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding a loopback port")?;
    Ok(l.local_addr()?.port())
}

/// Runs `bin` through the events with its data and log under `dir`; returns the log file.
fn scenario(
    bin: &Path,
    dir: &Path,
    rules: &Path,
    format: &str,
    dead_am: u16,
    dead_rw: u16,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let port = free_port()?;
    let config = dir.join("prometheus.yml");
    let good = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{dead_am}']\nremote_write:\n  - url: http://127.0.0.1:{dead_rw}/api/v1/write\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n",
        rules.display()
    );
    std::fs::write(&config, &good)?;
    let log = dir.join("log");
    let log_file = std::fs::File::create(&log)?;
    let start = |log_file: &std::fs::File| -> Result<Child> {
        Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args([
                "--web.enable-lifecycle",
                "--log.level=debug",
                "--storage.tsdb.min-block-duration=10s",
                "--storage.tsdb.max-block-duration=10s",
                "--storage.remote.flush-deadline=5s",
            ])
            .arg(format!("--log.format={format}"))
            .stdout(Stdio::null())
            .stderr(log_file.try_clone()?)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))
    };
    let addr = format!("127.0.0.1:{port}");
    let mut child = start(&log_file)?;
    wait_ready(&addr)?;
    std::thread::sleep(Duration::from_secs(20));
    let reload = |want: u16| -> Result<()> {
        let (status, body) = request(&addr, "POST", "/-/reload", None)?;
        if status != want {
            bail!(
                "/-/reload answered {status}, not {want}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(())
    };
    reload(200)?;
    std::fs::write(&config, "global:\n  scrape_interval: [1s\n")?;
    reload(500)?;
    std::fs::write(&config, &good)?;
    stop(&mut child)?;
    let mut child = start(&log_file)?;
    wait_ready(&addr)?;
    std::thread::sleep(Duration::from_secs(3));
    stop(&mut child)?;
    Ok(log)
}

fn wait_ready(addr: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok((200, _)) = request(addr, "GET", "/-/ready", None) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{addr} did not become ready")
}

/// SIGTERM, then waits (at most 30s) for exit code 0.
fn stop(child: &mut Child) -> Result<()> {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?
        .success();
    if !ok {
        bail!("kill -TERM {} failed", child.id());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(());
            }
            bail!("exited with {status} after SIGTERM");
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("did not exit within 30s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The distinct events of a log file (logfmt or JSON lines).
fn events(log: &Path) -> Result<BTreeSet<Event>> {
    let text =
        std::fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    Ok(text.lines().filter_map(event).collect())
}

fn event(line: &str) -> Option<Event> {
    let pairs = if line.starts_with('{') {
        json_pairs(line)?
    } else if line.starts_with("time=") {
        logfmt_pairs(line)
    } else {
        return None;
    };
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    Some(Event {
        level: get("level"),
        msg: get("msg"),
        component: get("component"),
        keys: pairs
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !["time", "level", "source", "msg"].contains(&k.as_str()))
            .collect(),
    })
}

/// `key=value` pairs of a slog text line (values quoted Go-style when needed).
fn logfmt_pairs(line: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = line;
    while let Some((key, tail)) = rest.trim_start().split_once('=') {
        let (value, tail) = if let Some(quoted) = tail.strip_prefix('"') {
            let mut out = String::new();
            let mut end = quoted.len();
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, c)) = chars.next() {
                            out.push(c);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => out.push(c),
                }
            }
            (out, &quoted[end..])
        } else {
            let end = tail.find(' ').unwrap_or(tail.len());
            (tail[..end].to_owned(), &tail[end..])
        };
        pairs.push((key.to_owned(), value));
        rest = tail;
    }
    pairs
}

/// The members of a JSON line in the order of the text.
fn json_pairs(line: &str) -> Option<Vec<(String, String)>> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let mut pairs: Vec<(String, String)> = value
        .as_object()?
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect();
    pairs.sort_by_key(|(k, _)| line.find(&format!("\"{k}\":")).unwrap_or(usize::MAX));
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_reduce_to_the_same_event_in_both_formats() {
        let text = r#"time=2026-11-24T21:22:10.355Z level=INFO source=watcher.go:225 msg="Starting WAL watcher" component=remote remote_name=9e5e54 url=http://x/ queue=9e5e54"#;
        let json = r#"{"time":"2026-11-24T21:22:10.355Z","level":"INFO","source":"watcher.go:225","msg":"Starting WAL watcher","component":"remote","remote_name":"9e5e54","url":"http://x/","queue":"9e5e54"}"#;
        let a = event(text).unwrap();
        assert_eq!(a, event(json).unwrap());
        assert_eq!(a.component, "remote");
        assert_eq!(a.keys, ["component", "remote_name", "url", "queue"]);
        assert_eq!(event("#### not a log line"), None);
    }
}
