//! The log lines an operator greps for (start, TSDB open and WAL replay, reloads good and
//! broken, shutdown), in logfmt and JSON, against the texts, keys, key order, levels and
//! components Prometheus 3.5.3 writes for the same events.

use std::process::{Command, Stdio};
use std::time::Duration;

use std::sync::atomic::{AtomicI64, Ordering};

use super::{OURS, free_port, http, http_response, now_ms, serve_http, tsdb_path};

/// One parsed log line: its keys and values in order.
#[derive(Debug)]
struct Line(Vec<(String, Value)>);

/// A value as written: a string, or (JSON only) a bare number or boolean.
#[derive(Debug, PartialEq)]
enum Value {
    Str(String),
    Bare(String),
}

impl Line {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| match v {
            Value::Str(s) | Value::Bare(s) => s.as_str(),
        })
    }

    fn msg(&self) -> &str {
        self.get("msg").unwrap_or_default()
    }

    /// The keys after `msg`.
    fn attrs(&self) -> Vec<&str> {
        self.0.iter().skip(4).map(|(k, _)| k.as_str()).collect()
    }
}

/// Reads a logfmt line as Go's slog text handler writes it.
fn parse_logfmt(line: &str) -> Line {
    let mut pairs = Vec::new();
    let mut rest = line;
    while let Some((key, tail)) = rest.trim_start().split_once('=') {
        let (value, tail) = if let Some(quoted) = tail.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, 'n')) => out.push('\n'),
                        Some((_, c)) => out.push(c),
                        None => {}
                    },
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
        pairs.push((key.to_owned(), Value::Str(value)));
        rest = tail;
    }
    Line(pairs)
}

/// Reads a JSON line, keeping its key order.
fn parse_json(line: &str) -> Line {
    let value: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {line}"));
    let mut pairs: Vec<(String, Value)> = object
        .iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => Value::Str(s.clone()),
                other => Value::Bare(other.to_string()),
            };
            (k.clone(), v)
        })
        .collect();
    // serde_json's map sorts its keys: put them back in the order of the text.
    pairs.sort_by_key(|(k, _)| line.find(&format!("\"{k}\":")).unwrap_or(usize::MAX));
    Line(pairs)
}

/// Runs the server through start, a good and a broken `/-/reload`, SIGTERM, a restart over
/// the same data and SIGTERM again, with `--log.format=format`; returns the two runs' lines.
fn run(format: &str) -> (Vec<Line>, Vec<Line>, String, u16) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("prometheus.yml");
    let port = free_port();
    // A target whose sample goes back a minute at every scrape: out of order from the second.
    let back = AtomicI64::new(0);
    let target = serve_http(move |_| {
        let t = now_ms() - 60_000 * back.fetch_add(1, Ordering::Relaxed);
        let ct = "Content-Type: text/plain; version=0.0.4\r\n";
        http_response(
            "200 OK",
            ct,
            format!("# TYPE a gauge\na 1 {t}\n").as_bytes(),
        )
    });
    let good = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n  - job_name: ooo\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
    );
    std::fs::write(&config, &good).unwrap();
    let one_run = |reloads: bool| {
        let log_file = dir.path().join("log");
        let mut child = Command::new(OURS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(tsdb_path(&data))
            .arg("--web.enable-lifecycle")
            .arg("--scrape.discovery-reload-interval=100ms")
            .arg(format!("--log.format={format}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_file).unwrap())
            .spawn()
            .unwrap();
        wait_ready(port);
        if reloads {
            // The out-of-order target's warning, before the reloads.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while !std::fs::read_to_string(&log_file)
                .unwrap()
                .contains("Error on ingesting out-of-order samples")
            {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no out-of-order warning"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            assert_eq!(http(port, "POST", "/-/reload").map(|r| r.0), Some(200));
            std::fs::write(&config, "global:\n  scrape_interval: [1s\n").unwrap();
            assert_eq!(http(port, "POST", "/-/reload").map(|r| r.0), Some(500));
            std::fs::write(&config, &good).unwrap();
        }
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = wait_exit(&mut child, Duration::from_secs(30));
        assert_eq!(status.code(), Some(0));
        let text = std::fs::read_to_string(&log_file).unwrap();
        let parse = if format == "json" {
            parse_json
        } else {
            parse_logfmt
        };
        text.lines().map(parse).collect::<Vec<_>>()
    };
    let first = one_run(true);
    let second = one_run(false);
    (first, second, config.display().to_string(), target)
}

fn wait_ready(port: u16) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if let Some((200, _)) = http(port, "GET", "/-/ready") {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("prometheus did not become ready");
}

fn wait_exit(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            panic!("prometheus did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// (level, msg, component, the keys after msg and component) of lines Prometheus 3.5.3
/// writes for a start over an empty data directory, in this order.
const START: &[(&str, &str, Option<&str>, &[&str])] = &[
    (
        "INFO",
        "No time or size retention was set so using the default time retention",
        None,
        &["duration"],
    ),
    (
        "INFO",
        "Starting Prometheus Server",
        None,
        &["mode", "version"],
    ),
    (
        "INFO",
        "operational information",
        None,
        &["build_context", "host_details", "fd_limits", "vm_limits"],
    ),
    (
        "INFO",
        "Start listening for connections",
        Some("web"),
        &["address"],
    ),
    ("INFO", "Starting TSDB ...", None, &[]),
    (
        "INFO",
        "Replaying on-disk memory mappable chunks if any",
        Some("tsdb"),
        &[],
    ),
    (
        "INFO",
        "On-disk memory mappable chunks replay completed",
        Some("tsdb"),
        &["duration"],
    ),
    (
        "INFO",
        "Replaying WAL, this may take a while",
        Some("tsdb"),
        &[],
    ),
    (
        "INFO",
        "WAL segment loaded",
        Some("tsdb"),
        &["segment", "maxSegment", "duration"],
    ),
    (
        "INFO",
        "WAL replay completed",
        Some("tsdb"),
        &[
            "checkpoint_replay_duration",
            "wal_replay_duration",
            "wbl_replay_duration",
            "chunk_snapshot_load_duration",
            "mmap_chunk_replay_duration",
            "total_replay_duration",
        ],
    ),
    ("INFO", "filesystem information", None, &["fs_type"]),
    ("INFO", "TSDB started", None, &[]),
    ("INFO", "Loading configuration file", None, &["filename"]),
    (
        "INFO",
        "Completed loading of configuration file",
        None,
        &[
            "db_storage",
            "remote_storage",
            "web_handler",
            "query_engine",
            "scrape",
            "scrape_sd",
            "notify",
            "notify_sd",
            "rules",
            "tracing",
            "filename",
            "totalDuration",
        ],
    ),
    (
        "INFO",
        "Server is ready to receive web requests.",
        None,
        &[],
    ),
];

/// A good reload, then a broken one.
/// A scrape loop's warning, with the loop's pool and target (Go's `With`) before its own key.
const OUT_OF_ORDER: (&str, &str, Option<&str>, &[&str]) = (
    "WARN",
    "Error on ingesting out-of-order samples",
    Some("scrape manager"),
    &["scrape_pool", "target", "num_dropped"],
);

const RELOADS: &[(&str, &str, Option<&str>, &[&str])] = &[
    ("INFO", "Loading configuration file", None, &["filename"]),
    (
        "INFO",
        "Completed loading of configuration file",
        None,
        &[
            "db_storage",
            "remote_storage",
            "web_handler",
            "query_engine",
            "scrape",
            "scrape_sd",
            "notify",
            "notify_sd",
            "rules",
            "tracing",
            "filename",
            "totalDuration",
        ],
    ),
    ("INFO", "Loading configuration file", None, &["filename"]),
    ("ERROR", "Error reloading config", None, &["err"]),
];

/// SIGTERM: the lines in the order Prometheus's run group writes them (the "... stopped"
/// lines of actors that return on their own are checked apart: their order is a race).
const SHUTDOWN: &[(&str, &str, Option<&str>, &[&str])] = &[
    (
        "WARN",
        "Received an OS signal, exiting gracefully...",
        None,
        &["signal"],
    ),
    ("INFO", "Stopping scrape discovery manager...", None, &[]),
    ("INFO", "Stopping notify discovery manager...", None, &[]),
    (
        "INFO",
        "Stopping rule manager...",
        Some("rule manager"),
        &[],
    ),
    ("INFO", "Rule manager stopped", Some("rule manager"), &[]),
    ("INFO", "Stopping scrape manager...", None, &[]),
    (
        "INFO",
        "Stopping notification manager...",
        Some("notifier"),
        &[],
    ),
    ("INFO", "Notifier manager stopped", None, &[]),
    ("INFO", "See you next time!", None, &[]),
];

const STOPPED: &[(&str, &str, Option<&str>, &[&str])] = &[
    ("INFO", "Scrape discovery manager stopped", None, &[]),
    ("INFO", "Notify discovery manager stopped", None, &[]),
    ("INFO", "Scrape manager stopped", None, &[]),
    (
        "INFO",
        "Notification manager stopped",
        Some("notifier"),
        &[],
    ),
];

fn matches(line: &Line, want: &(&str, &str, Option<&str>, &[&str])) -> bool {
    let (level, msg, component, keys) = *want;
    if line.msg() != msg {
        return false;
    }
    let head: Vec<&str> = line.0.iter().take(4).map(|(k, _)| k.as_str()).collect();
    assert_eq!(head, ["time", "level", "source", "msg"], "{line:?}");
    assert_eq!(line.get("level"), Some(level), "{line:?}");
    let mut attrs = line.attrs();
    match component {
        Some(c) => {
            assert_eq!(attrs.first(), Some(&"component"), "{line:?}");
            assert_eq!(line.get("component"), Some(c), "{line:?}");
            attrs.remove(0);
        }
        None => assert!(!attrs.contains(&"component"), "{line:?}"),
    }
    assert_eq!(attrs, keys, "{msg}: {line:?}");
    true
}

/// Checks that `want` appear in `lines` in this order (other lines between them), and
/// returns the index after the last one.
fn in_order(lines: &[Line], from: usize, want: &[(&str, &str, Option<&str>, &[&str])]) -> usize {
    let mut at = from;
    for w in want {
        let found = lines[at..].iter().position(|l| matches(l, w));
        let Some(i) = found else {
            panic!("{:?} not found after line {at}: {lines:#?}", w.1);
        };
        at += i + 1;
    }
    at
}

/// A Go duration as `time.Duration.String` writes it (`1.5ms`, `0s`, `2m3s`).
fn is_go_duration(s: &str) -> bool {
    let units = ["ns", "µs", "ms", "s", "m", "h"];
    !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_digit())
        && units.iter().any(|u| s.ends_with(u))
        && s.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || "nsµmh".contains(c))
}

fn check(format: &str) {
    let (first, second, config, target) = run(format);
    let at = in_order(&first, 0, START);
    let ooo = in_order(&first, at, &[OUT_OF_ORDER]) - 1;
    assert_eq!(first[ooo].get("scrape_pool"), Some("ooo"));
    let url = format!("http://127.0.0.1:{target}/metrics");
    assert_eq!(first[ooo].get("target"), Some(url.as_str()));
    assert_eq!(first[ooo].get("num_dropped"), Some("1"));
    let at = in_order(&first, at, RELOADS);
    let at = in_order(&first, at, SHUTDOWN);
    assert_eq!(at, first.len(), "See you next time! is the last line");
    for w in STOPPED {
        assert!(first.iter().any(|l| matches(l, w)), "{:?} missing", w.1);
    }

    let line = |lines: &[Line], msg: &str| -> usize {
        lines
            .iter()
            .position(|l| l.msg() == msg)
            .unwrap_or_else(|| panic!("{msg} missing"))
    };
    let start = &first[line(&first, "Starting Prometheus Server")];
    assert_eq!(start.get("mode"), Some("server"));
    assert!(
        start
            .get("version")
            .is_some_and(|v| v.starts_with("(version=")),
        "{start:?}"
    );
    let ops = &first[line(&first, "operational information")];
    assert!(
        ops.get("fd_limits")
            .is_some_and(|v| v.starts_with("(soft=")),
        "{ops:?}"
    );
    let retention = &first[line(
        &first,
        "No time or size retention was set so using the default time retention",
    )];
    assert_eq!(retention.get("duration"), Some("15d"));
    let signal = &first[line(&first, "Received an OS signal, exiting gracefully...")];
    assert_eq!(signal.get("signal"), Some("terminated"));
    let loading = &first[line(&first, "Loading configuration file")];
    assert_eq!(loading.get("filename"), Some(config.as_str()));
    let completed = &first[line(&first, "Completed loading of configuration file")];
    for key in ["db_storage", "rules", "tracing", "totalDuration"] {
        let v = completed.get(key).unwrap_or_default();
        assert!(is_go_duration(v), "{key}={v}");
    }
    let replay = &first[line(&first, "WAL replay completed")];
    assert!(is_go_duration(
        replay.get("total_replay_duration").unwrap_or_default()
    ));
    let failed = &first[line(&first, "Error reloading config")];
    // Prometheus 3.5.3's text up to go-yaml's own message.
    let prefix = format!(
        "couldn't load configuration (--config.file=\"{config}\"): parsing YAML file {config}: yaml: "
    );
    assert!(
        failed.get("err").is_some_and(|e| e.starts_with(&prefix)),
        "{failed:?}"
    );
    // JSON writes Go's numbers and booleans bare, durations as strings.
    if format == "json" {
        let tls = &first[line(&first, "TLS is disabled.")];
        assert!(
            tls.0
                .contains(&("http2".to_owned(), Value::Bare("false".to_owned()))),
            "{tls:?}"
        );
        let segment = &first[line(&first, "WAL segment loaded")];
        assert!(
            matches!(
                segment.0.iter().find(|(k, _)| k == "segment"),
                Some((_, Value::Bare(_)))
            ),
            "{segment:?}"
        );
        assert!(
            matches!(
                segment.0.iter().find(|(k, _)| k == "duration"),
                Some((_, Value::Str(_)))
            ),
            "{segment:?}"
        );
        let time = first[0].get("time").unwrap_or_default();
        assert!(time.ends_with('Z') && time.len() >= 20, "{time}");
    } else {
        let time = first[0].get("time").unwrap_or_default();
        assert_eq!(time.len(), "2026-11-24T21:30:00.123Z".len(), "{time}");
    }

    // The second start replays the WAL the first one wrote, segment by segment.
    let at = in_order(&second, 0, &START[..11]);
    in_order(&second, at, SHUTDOWN);
    let segments: Vec<&Line> = second
        .iter()
        .filter(|l| l.msg() == "WAL segment loaded")
        .collect();
    assert!(!segments.is_empty());
    let max = segments[0].get("maxSegment").unwrap_or_default().to_owned();
    assert_eq!(
        segments.last().and_then(|l| l.get("segment")),
        Some(max.as_str()),
        "{segments:?}"
    );
}

#[test]
fn logfmt_lines_read_like_prometheus_3_5() {
    check("logfmt");
}

#[test]
fn json_lines_read_like_prometheus_3_5() {
    check("json");
}

/// Start-up failures Prometheus 3.5.3 reports in these words (exit code 1 both times): a
/// taken port, and a data directory another process holds.
#[test]
fn startup_failures_read_like_prometheus_3_5() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1s\n").unwrap();
    let run = |port: u16, data: &std::path::Path| {
        let out = Command::new(OURS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(tsdb_path(data))
            .output()
            .unwrap();
        let lines: Vec<Line> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(parse_logfmt)
            .collect();
        (out.status.code(), lines)
    };

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (code, lines) = run(port, &dir.path().join("a"));
    assert_eq!(code, Some(1));
    let last = lines.last().expect("a line");
    assert_eq!(last.msg(), "Unable to start web listener");
    assert_eq!(last.get("level"), Some("ERROR"));
    let want = format!("listen tcp 127.0.0.1:{port}: bind: address already in use");
    assert_eq!(last.get("err"), Some(want.as_str()));
    drop(taken);

    // A running server holds its data directory.
    let data = dir.path().join("b");
    let port = free_port();
    let mut holder = Command::new(OURS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(tsdb_path(&data))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(port);
    let (code, lines) = run(free_port(), &data);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(code, Some(1));
    let replaced = lines
        .iter()
        .find(|l| {
            l.msg() == "A lockfile from a previous execution already existed. It was replaced"
        })
        .expect("the lock file warning");
    assert_eq!(replaced.get("component"), Some("tsdb"));
    let lock = std::path::absolute(data.join("lock")).unwrap();
    assert_eq!(replaced.get("file"), Some(lock.to_str().unwrap()));
    let last = lines.last().expect("a line");
    assert_eq!(
        (last.msg(), last.get("level")),
        ("Fatal error", Some("ERROR"))
    );
    assert_eq!(
        last.get("err"),
        Some("opening storage failed: lock DB directory: resource temporarily unavailable")
    );
}
