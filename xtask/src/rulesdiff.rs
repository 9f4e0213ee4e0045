//! `cargo xtask rulesdiff`: our rule evaluation and alerting against Prometheus 3.5 with one configuration, rule files and targets.
//!
//! Steps (everything under `target/rulesdiff/`):
//! 1. builds our server (`cargo build -p prometheus --bin prometheus`, `--release` for the
//!    release profile) unless `--no-build`, and finds Prometheus 3 ([`servers::prometheus3`]);
//! 2. serves three targets from threads on 127.0.0.1 whose values follow one timeline
//!    ([`metrics_text`]): two get hot (alerts go pending, then firing, then resolve), the third
//!    answers 503 for a while (`up == 0` with `keep_firing_for`); starts one fake Alertmanager
//!    per server that records every POST;
//! 3. writes the rule files of [`RULES`] (recording and alerting rules, `for`,
//!    `keep_firing_for`, templates with `$value`, `$labels`, `humanize*`, `query`, group
//!    `limit`, `interval`, `query_offset` and `labels`, evaluation errors) and starts both
//!    servers with the same configuration ([`config_text`]: 1s scrapes and evaluations,
//!    external labels, alert relabelling, a dropped Alertmanager) and
//!    `--rules.alert.resend-delay=1s`;
//! 4. at two points of the timeline compares `/api/v1/rules` (every filter, pagination and
//!    the refused parameters), `/api/v1/alerts`, `/api/v1/alertmanagers`, the recorded,
//!    `ALERTS` and `ALERTS_FOR_STATE` series and the `prometheus_rule_*` and
//!    `prometheus_notifications_*` metrics (both Alertmanagers answer 500 for a while
//!    before the second); at the end compares what each fake Alertmanager received, per
//!    alert: fields, annotations, generator URL, `startsAt`, `endsAt` (how far ahead a firing
//!    alert's reaches, when a resolved one ended), how many firing and resolved
//!    notifications, when the first came; then changes the rule files, reloads both
//!    (`/-/reload`) and compares everything again (`s3`);
//! 5. a restart run: both evaluate [`RESTART_RULES`], are killed and started again on their
//!    data, and their restored alerts are compared ([`restart_run`]);
//! 6. a batching run ([`batching::run`]): two rules of 30 alerts each, a queue of 40,
//!    batches of 16 and slow fake Alertmanagers (two in one set, one in a set whose
//!    `alert_relabel_configs` drop one rule): every POST (alert names in order, resolved or
//!    not, Go's JSON escaping) and the notifier counters compared exactly;
//! 7. runs the upstream rule fixtures (`rules/fixtures/*.yaml` and `cmd/promtool/testdata`
//!    rule files that promtool 3.5 accepts) in another pair of servers and compares
//!    `/api/v1/rules` (states and errors only of rules both have evaluated).
//!
//! Times are compared within [`TIME_TOLERANCE_MS`] (the two servers scrape and evaluate on
//! the same hashed slots, so with `RULESDIFF_TIME_TOLERANCE_MS=0` only wall-clock times and
//! start-up differ; but a scrape or evaluation can fall either side of a change), evaluation
//! durations not at all, `rate`
//! recordings within 5%; ports become `AM`, `T0`..`T2`. Every other difference is printed
//! and must be listed in `testdata/rulesdiff/known-differences.txt` (one prefix a line, `*`
//! matching any text, `#` comments, the reason above it).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::scrapediff::{diff_maps_by, print_diffs, query_answer, series_key};
use crate::servers::{self, Server, fresh_dir};
use crate::workspace_root;

mod batching;

/// The external URL both servers run with (so that generator URLs and `$externalURL` agree).
const EXTERNAL_URL: &str = "http://rulesdiff.example:9090/";
/// How far apart two times of the same event may be.
const TIME_TOLERANCE_MS: i64 = 2_500;

/// [`TIME_TOLERANCE_MS`], or `RULESDIFF_TIME_TOLERANCE_MS` (to see how close the times are).
fn time_tolerance_ms() -> i64 {
    std::env::var("RULESDIFF_TIME_TOLERANCE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(TIME_TOLERANCE_MS)
}
/// The window (seconds after the timeline's start) in which targets 0 and 1 are hot.
const HOT: (f64, f64) = (4.0, 14.0);
/// The window in which target 2 answers 503.
const DOWN: (f64, f64) = (6.0, 16.0);
/// When the API and series are compared (seconds after the start), away from transitions.
const SNAPSHOTS: [(&str, f64); 2] = [("s1", 11.5), ("s2", 21.5)];
/// The window in which both fake Alertmanagers answer 500.
const AM_FAILING: (f64, f64) = (16.5, 19.5);
/// When the notifications are compared.
const END: f64 = 30.0;
/// Number of scrape targets.
const TARGETS: usize = 3;

/// The rule files: name and content. `{{`/`}}` are Go template braces.
const RULES: &[(&str, &str)] = &[
    (
        "a.yml",
        r#"groups:
  - name: recording
    rules:
      - record: job:app_requests:rate5s
        expr: sum by (job) (rate(app_requests_total{flaky!="yes"}[5s]))
      - record: instance:app_temperature:max
        expr: max by (instance) (app_temperature_celsius)
        labels:
          source: rulesdiff
      - record: app:temperature:sum
        expr: sum(app_temperature_celsius)
      - record: app:queue:sum
        expr: sum by (queue) (app_queue_length)
      - record: app:odd
        expr: label_replace(vector(0) / 0, "v", "nan", "", "") or label_replace(vector(-1) / 0, "v", "-inf", "", "") or label_replace(vector(1e-300), "v", "tiny", "", "")
      - record: app:recorded:ratio
        expr: app:temperature:sum / on() group_left sum(app_queue_length)
  - name: alerts
    labels:
      team: infra
    rules:
      - alert: HighTemperature
        expr: app_temperature_celsius > 50
        for: 3s
        labels:
          severity: page
          temp_bucket: '{{ if gt $value 92.0 }}very-hot{{ else }}hot{{ end }}'
        annotations:
          summary: 'Instance {{ $labels.instance }} is at {{ $value | humanize }} degrees'
          description: '{{ $labels.job }}: {{ humanizePercentage 0.1234 }} {{ humanize1024 2048 }} {{ humanizeDuration 3725 }} {{ humanizeTimestamp 1700000000 }} {{ $value }}'
          total: '{{ with query "sum(app_temperature_celsius)" }}{{ . | first | value | humanize }}{{ end }}'
          listing: '{{ range query "app_queue_length" | sortByLabel "instance" | sortByLabel "queue" }}{{ .Labels.queue }}={{ .Value }} {{ end }}'
          ext: '{{ $externalLabels.cluster }} {{ $externalURL }} {{ title "hot stuff" }} {{ toUpper "x" }} {{ reReplaceAll "(a+)" "<$1>" "baaad" }}'
      - alert: HighTemperatureLong
        expr: app_temperature_celsius > 50
        for: 1m
        annotations:
          summary: '{{ printf "%.1f" $value }} {{ $labels }}'
      - alert: TargetDown
        expr: up{job="app"} == 0
        for: 2s
        keep_firing_for: 10s
        labels:
          severity: page
        annotations:
          summary: '{{ $labels.instance }} down, value {{ $value }}'
      - alert: AlwaysFiring
        expr: vector(1)
        labels:
          severity: info
      - alert: OddValues
        expr: label_replace(vector(1) / 0, "v", "inf", "", "") or label_replace(vector(0) / 0, "v", "nan", "", "") or label_replace(vector(1.5e-7), "v", "tiny", "", "") or label_replace(vector(-1e21), "v", "huge", "", "") or label_replace(vector(123456.789), "v", "plain", "", "")
        labels:
          severity: info
        annotations:
          v: '{{ $value }} {{ $value | humanize }} {{ $value | humanize1024 }} {{ printf "%g %e %.3f" $value $value $value }}'
      - alert: TemplateZoo
        expr: app_temperature_celsius{flaky!="yes"} > 50
        labels:
          port: '{{ $labels.instance | stripPort }}'
          empty: '{{ if false }}x{{ end }}'
        annotations:
          a: '{{ $labels.instance | stripDomain }} {{ "a.b.c:80" | stripDomain }} {{ "[::1]:80" | stripPort }} {{ match "^T[0-9]$" "T1" }}'
          b: '{{ 1.5e6 | humanize }} {{ 0.000012 | humanize }} {{ 1048576 | humanize1024 }} {{ 0.25 | humanizeDuration }} {{ 86400.5 | humanizeDuration }} {{ -3 | humanizeDuration }}'
          c: '{{ 1700000000.5 | toTime }} {{ parseDuration "1h30m" }} {{ pathPrefix }} {{ externalURL }}'
          d: '{{ with query "app_queue_length{queue=\"b\"}" }}{{ range sortByLabel "instance" . }}{{ label "instance" . }}:{{ strvalue . }}:{{ value . }};{{ end }}{{ end }}'
          e: '{{ $x := args 1 "two" }}{{ $x.arg0 }} {{ $x.arg1 }} {{ graphLink "up" }} {{ tableLink "up" }} {{ safeHtml "<b>" }} {{ "<i>" }} {{ html "<i>" }} {{ js "it''s" }} {{ urlquery "a b" }}'
          f: '{{ printf "%5.2f|%d|%q|%v|%s" 3.14159 42 "q" $value "s" }} {{ len $labels }} {{ index $labels "job" }} {{ toLower "ABC" }} {{ $value | printf "%.0f" }}'
          g: '{{ with query "nothing_here" }}{{ . | first | value }}{{ else }}none{{ end }} {{ humanizeTimestamp 1.7e9 }} {{ humanizePercentage 2 }} {{ .Value }} {{ .Labels.job }} {{ .ExternalLabels.cluster }} {{ .ExternalURL }}'
      - alert: BadTemplate
        expr: app_temperature_celsius > 50
        annotations:
          broken: '{{ humanizeDuration "abc" }}'
          missing: '{{ $labels.nothere }}|{{ .Labels.nothere }}'
"#,
    ),
    (
        "b.yml",
        r#"groups:
  - name: limited
    limit: 1
    rules:
      - record: limited:queue
        expr: app_queue_length
      - alert: LimitedAlert
        expr: app_queue_length > 0
  - name: offset
    interval: 2s
    query_offset: 3s
    rules:
      - record: offset:temp:sum
        expr: sum(app_temperature_celsius)
      - alert: OffsetHot
        expr: sum(app_temperature_celsius) > 100
        annotations:
          value: '{{ $value }}'
  - name: errors
    rules:
      - record: errors:many_to_many
        expr: app_queue_length + on(job) app_queue_length
      - record: dup:rec
        expr: sum by (queue) (app_queue_length)
        labels:
          queue: same
      - alert: DuplicateAlert
        expr: app_queue_length
        labels:
          queue: same
      - record: errors:histogram
        expr: histogram_quantile(0.9, app_temperature_celsius)
"#,
    ),
];

/// [`RULES`] as changed for the reload.
fn reloaded_rules() -> Vec<(&'static str, String)> {
    RULES
        .iter()
        .map(|(name, text)| {
            let text = text
                .replace(
                    "      - alert: BadTemplate\n",
                    "      - alert: AddedOnReload\n        expr: vector(2)\n      - alert: BadTemplate\n",
                )
                .replace("  - name: limited\n    limit: 1\n", "  - name: limited_gone\n    limit: 1\n")
                .replace("    interval: 2s\n    query_offset: 3s\n", "    interval: 1s\n    query_offset: 3s\n")
                .replace("  - name: offset\n", "  - name: added\n    rules:\n      - record: added:one\n        expr: vector(1)\n  - name: offset\n");
            (*name, text)
        })
        .collect()
}

/// The rule API requests compared at each snapshot (beyond the pagination chain).
fn rule_requests(b_file: &str) -> Vec<String> {
    let file = servers::url_encode(b_file);
    vec![
        "/api/v1/rules".into(),
        "/api/v1/rules?type=alert".into(),
        "/api/v1/rules?type=record".into(),
        "/api/v1/rules?type=ALERT".into(),
        "/api/v1/rules?rule_name[]=HighTemperature&rule_name[]=offset:temp:sum".into(),
        "/api/v1/rules?rule_group[]=alerts&rule_group[]=limited".into(),
        format!("/api/v1/rules?file[]={file}"),
        format!(
            "/api/v1/rules?match[]={}",
            servers::url_encode("{severity=\"page\"}")
        ),
        format!(
            "/api/v1/rules?match[]={}&match[]={}",
            servers::url_encode("{team=\"infra\"}"),
            servers::url_encode("{source=~\"rules.*\"}")
        ),
        "/api/v1/rules?exclude_alerts=true".into(),
        "/api/v1/rules?exclude_alerts=1&type=alert".into(),
        "/api/v1/rules?type=record&rule_group[]=alerts".into(),
        // Refused parameters: status and error text are compared.
        "/api/v1/rules?type=foo".into(),
        "/api/v1/rules?exclude_alerts=maybe".into(),
        "/api/v1/rules?group_limit=0".into(),
        "/api/v1/rules?group_limit=abc".into(),
        "/api/v1/rules?group_next_token=abc".into(),
        "/api/v1/rules?group_limit=1&group_next_token=abc".into(),
        format!(
            "/api/v1/rules?match[]={}",
            servers::url_encode("{severity=~\"(\"}")
        ),
    ]
}

/// The series queried at each snapshot.
const SERIES_QUERY: &str = r#"{__name__=~"job:.+|instance:.+|app:.+|limited:.+|offset:.+|errors:.+|dup:.+|ALERTS|ALERTS_FOR_STATE"}"#;

/// The shared timeline: its start in ms (`i64::MAX` until started).
#[derive(Clone)]
struct Timeline(Arc<AtomicI64>);

impl Timeline {
    fn new() -> Timeline {
        Timeline(Arc::new(AtomicI64::new(i64::MAX)))
    }

    fn start_at(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }

    /// Seconds since the start (negative before it).
    fn elapsed(&self) -> f64 {
        let t0 = self.0.load(Ordering::SeqCst);
        if t0 == i64::MAX {
            return -1e9;
        }
        (model::timestamp::now() - t0) as f64 / 1000.0
    }

    /// Sleeps until `secs` after the start.
    fn sleep_until(&self, secs: f64) {
        let left = secs - self.elapsed();
        if left > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(left));
        }
    }
}

/// What target `i` exposes `t` seconds into the timeline (`None`: it answers 503), with
/// its counter at `uptime` seconds.
fn metrics_text(i: usize, t: f64, uptime: f64) -> Option<String> {
    if i == 2 && (DOWN.0..DOWN.1).contains(&t) {
        return None;
    }
    let hot = i < 2 && (HOT.0..HOT.1).contains(&t);
    let temp = if hot { 90 + 5 * i } else { 20 + i };
    let requests = (10 * (i + 1)) as f64 * uptime;
    let mut s = String::new();
    s.push_str(
        "# HELP app_temperature_celsius The temperature.\n# TYPE app_temperature_celsius gauge\n",
    );
    s.push_str(&format!("app_temperature_celsius {temp}\n"));
    s.push_str("# TYPE app_requests_total counter\n");
    s.push_str(&format!(
        "app_requests_total{{code=\"200\"}} {requests:.3}\n"
    ));
    s.push_str("# TYPE app_queue_length gauge\n");
    s.push_str(&format!(
        "app_queue_length{{queue=\"a\"}} {}\napp_queue_length{{queue=\"b\"}} {}\n",
        i + 1,
        2 * (i + 1)
    ));
    Some(s)
}

/// Starts the scrape targets; returns their `host:port`s.
fn start_targets(timeline: &Timeline) -> Result<Vec<String>> {
    let started = model::timestamp::now();
    let mut addrs = Vec::new();
    for i in 0..TARGETS {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding a target")?;
        addrs.push(listener.local_addr()?.to_string());
        let tl = timeline.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let tl = tl.clone();
                std::thread::spawn(move || {
                    let _ = serve_target(conn, i, &tl, started);
                });
            }
        });
    }
    Ok(addrs)
}

/// One request: its request line, header lines and body.
type Request = (String, Vec<String>, Vec<u8>);

/// Reads one request's head (request line and headers) and body; `None` at end of stream.
fn read_request(r: &mut BufReader<TcpStream>) -> Result<Option<Request>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':')
            && k.trim().eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().context("content-length")?;
        }
        headers.push(h.trim_end().to_string());
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body)?;
    Ok(Some((line.trim_end().to_string(), headers, body)))
}

fn serve_target(conn: TcpStream, i: usize, tl: &Timeline, started: i64) -> Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut r = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    while read_request(&mut r)?.is_some() {
        let uptime = (model::timestamp::now() - started) as f64 / 1000.0;
        match metrics_text(i, tl.elapsed(), uptime) {
            Some(body) => {
                write!(
                    w,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )?;
            }
            None => {
                w.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")?
            }
        }
        w.flush()?;
    }
    Ok(())
}

/// One POST a fake Alertmanager received.
#[derive(Clone, Debug)]
struct Received {
    at_ms: i64,
    path: String,
    content_type: String,
    body: Vec<u8>,
}

/// A fake Alertmanager: records every request and answers 200 (500 while `failing`),
/// `delay_ms` after it arrived.
struct FakeAm {
    addr: String,
    got: Arc<Mutex<Vec<Received>>>,
    failing: Arc<std::sync::atomic::AtomicBool>,
    delay_ms: Arc<AtomicU64>,
}

impl FakeAm {
    fn start() -> Result<FakeAm> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding a fake Alertmanager")?;
        let addr = listener.local_addr()?.to_string();
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (g, f, d) = (got.clone(), failing.clone(), delay_ms.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (g, f, d) = (g.clone(), f.clone(), d.clone());
                std::thread::spawn(move || {
                    let _ = serve_am(conn, &g, &f, &d);
                });
            }
        });
        Ok(FakeAm {
            addr,
            got,
            failing,
            delay_ms,
        })
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

fn serve_am(
    conn: TcpStream,
    got: &Mutex<Vec<Received>>,
    failing: &std::sync::atomic::AtomicBool,
    delay_ms: &AtomicU64,
) -> Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut r = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    while let Some((line, headers, body)) = read_request(&mut r)? {
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let content_type = headers
            .iter()
            .find_map(|h| {
                let (k, v) = h.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-type")
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_default();
        if let Ok(mut g) = got.lock() {
            g.push(Received {
                at_ms: model::timestamp::now(),
                path,
                content_type,
                body,
            });
        }
        let delay = delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        if failing.load(Ordering::SeqCst) {
            w.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom")?;
        } else {
            w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")?;
        }
        w.flush()?;
    }
    Ok(())
}

/// The configuration of one server.
fn config_text(rule_files: &[String], targets: &[String], am: &str) -> String {
    let mut out = String::from(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n  external_labels:\n    cluster: rd\n",
    );
    out.push_str("rule_files:\n");
    for f in rule_files {
        out.push_str(&format!("  - '{f}'\n"));
    }
    out.push_str(&format!(
        "alerting:\n  alert_relabel_configs:\n    - source_labels: [severity]\n      regex: info\n      action: drop\n    - source_labels: [alertname, instance]\n      regex: 'TargetDown;(.*)'\n      target_label: relabelled\n      replacement: 'down-$1'\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']\n      path_prefix: /am/\n      timeout: 5s\n    - static_configs:\n        - targets: ['127.0.0.1:1']\n      relabel_configs:\n        - source_labels: [__address__]\n          regex: '127.0.0.1:1'\n          action: drop\n"
    ));
    // The last target goes down for a while: its group is labelled `flaky`.
    let (steady, flaky) = targets.split_at(targets.len().saturating_sub(1));
    let list = |ts: &[String]| {
        ts.iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str(&format!(
        "scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: [{}]\n      - targets: [{}]\n        labels:\n          flaky: 'yes'\n",
        list(steady),
        list(flaky)
    ));
    out
}

/// Milliseconds of an RFC 3339 time (`2026-01-02T03:04:05.678Z`, any fraction, `Z` or an
/// offset).
fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut frac_ms = 0i64;
    if let Some(f) = rest.strip_prefix('.') {
        let digits = f.bytes().take_while(u8::is_ascii_digit).count();
        let padded = format!("{:0<3}", &f[..digits.min(3)]);
        frac_ms = padded.parse().ok()?;
        rest = &f[digits..];
    }
    let offset_min = match rest {
        "Z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let h: i64 = rest.get(1..3)?.parse().ok()?;
            let m: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (h * 60 + m)
        }
    };
    let days = model::civil::days_from_civil(y, u32::try_from(mo).ok()?, u32::try_from(d).ok()?);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs * 1000 + frac_ms)
}

/// The form of a time string: its digits as `0`, and a fraction of more than three
/// digits as `.ns` (Go's RFC 3339 with nanoseconds drops trailing zeros).
fn shape(s: &str) -> String {
    let zeroed: String = s
        .chars()
        .map(|c| if c.is_ascii_digit() { '0' } else { c })
        .collect();
    match zeroed.split_once('.') {
        Some((head, frac)) => {
            let digits = frac.bytes().take_while(|b| *b == b'0').count();
            if digits > 3 {
                format!("{head}.ns{}", &frac[digits..])
            } else {
                zeroed
            }
        }
        None => zeroed,
    }
}

/// `s` with its fraction of a second cut to milliseconds (whose form then always matches).
fn shape_neutral(s: &str) -> String {
    match s.split_once('.') {
        Some((head, frac)) => {
            let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
            let rest = &frac[digits.len()..];
            format!("{head}.{:0<3}{rest}", &digits[..digits.len().min(3)])
        }
        None => s.to_string(),
    }
}

/// One compared value: text, or a time (ms, and how it was written) or a number compared
/// within a tolerance.
#[derive(Clone, Debug, PartialEq)]
enum Leaf {
    Text(String),
    Time { ms: i64, text: String },
    Near { v: f64, abs: f64, rel: f64 },
}

impl std::fmt::Display for Leaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Leaf::Text(s) => write!(f, "{s}"),
            Leaf::Time { text, .. } => write!(f, "{text}"),
            Leaf::Near { v, .. } => write!(f, "{v}"),
        }
    }
}

fn leaves_equal(a: &Leaf, b: &Leaf) -> bool {
    match (a, b) {
        (Leaf::Time { ms: x, text: tx }, Leaf::Time { ms: y, text: ty }) => {
            (x - y).abs() <= time_tolerance_ms() && shape(tx) == shape(ty)
        }
        (
            Leaf::Near {
                v: x,
                abs: ax,
                rel: rx,
            },
            Leaf::Near { v: y, .. },
        ) => {
            if x.is_nan() || y.is_nan() {
                return x.is_nan() && y.is_nan();
            }
            x == y || (x - y).abs() <= ax.max(rx * x.abs().max(y.abs()))
        }
        _ => a == b,
    }
}

/// The keys whose string values are times.
const TIME_KEYS: &[&str] = &[
    "activeAt",
    "lastEvaluation",
    "keepFiringSince",
    "startsAt",
    "endsAt",
];

/// The key of an array element: its labels for alerts (whose order Go leaves to a map),
/// its name for groups and rules, its URL for Alertmanagers, else its index. The second
/// value says whether the array's order is compared.
fn element_key(v: &Value, idx: usize) -> (String, bool) {
    if let Some(obj) = v.as_object() {
        if let Some(name) = obj.get("name").and_then(Value::as_str) {
            return match obj.get("file").and_then(Value::as_str) {
                Some(f) => (
                    format!(
                        "{}:{name}",
                        Path::new(f)
                            .file_name()
                            .and_then(|n| n.to_str())
                            .unwrap_or(f)
                    ),
                    true,
                ),
                None => (name.to_string(), true),
            };
        }
        if let Some(labels) = obj.get("labels") {
            return (series_key(labels), false);
        }
        if let Some(url) = obj.get("url").and_then(Value::as_str) {
            return (url.to_string(), true);
        }
    }
    (idx.to_string(), true)
}

/// Flattens a JSON value into `path -> Leaf`.
fn flatten(v: &Value, path: &str, out: &mut BTreeMap<String, Leaf>) {
    match v {
        Value::Object(obj) if obj.is_empty() => {
            out.insert(path.to_string(), Leaf::Text("{}".into()));
        }
        Value::Object(obj) => {
            for (k, v) in obj {
                let p = format!("{path}.{k}");
                if k == "evaluationTime" && v.is_number() {
                    out.insert(p, Leaf::Text("(duration)".into()));
                } else if TIME_KEYS.contains(&k.as_str())
                    && let Some(s) = v.as_str()
                    && let Some(ms) = parse_rfc3339_ms(s)
                    && !s.starts_with("0001-")
                {
                    // `lastEvaluation` is the wall clock, whose nanoseconds Go prints
                    // without trailing zeros: only its time is compared, not its form.
                    let text = if k == "lastEvaluation" {
                        shape_neutral(s)
                    } else {
                        s.to_string()
                    };
                    out.insert(p, Leaf::Time { ms, text });
                } else {
                    flatten(v, &p, out);
                }
            }
        }
        Value::Array(items) if items.is_empty() => {
            out.insert(path.to_string(), Leaf::Text("[]".into()));
        }
        Value::Array(items) => {
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            let mut order = Vec::new();
            let mut ordered = true;
            for (i, item) in items.iter().enumerate() {
                let (mut key, o) = element_key(item, i);
                ordered &= o;
                let n = seen.entry(key.clone()).or_default();
                *n += 1;
                if *n > 1 {
                    key = format!("{key}#{n}");
                }
                order.push(key.clone());
                flatten(item, &format!("{path}[{key}]"), out);
            }
            if ordered {
                out.insert(format!("{path}#order"), Leaf::Text(order.join(" ")));
            } else {
                out.insert(format!("{path}#len"), Leaf::Text(items.len().to_string()));
            }
        }
        Value::String(s) => {
            out.insert(path.to_string(), Leaf::Text(s.clone()));
        }
        other => {
            out.insert(path.to_string(), Leaf::Text(other.to_string()));
        }
    }
}

/// The differences of two flattened maps, each `SECTION PATH: ...`.
fn diff_leaves(
    section: &str,
    ours: &BTreeMap<String, Leaf>,
    theirs: &BTreeMap<String, Leaf>,
) -> Vec<String> {
    diff_maps_by(section, ours, theirs, leaves_equal)
}

/// A server with the replacements that make its answers comparable.
struct Peer {
    server: Server,
    /// (text, replacement) applied to every answer.
    replace: Vec<(String, String)>,
}

impl Peer {
    /// GETs `path`; returns status and the normalised body.
    fn get(&self, path: &str) -> Result<(u16, String)> {
        let (status, body) = servers::request(&self.server.addr, "GET", path, None)?;
        let mut text = String::from_utf8_lossy(&body).into_owned();
        for (from, to) in &self.replace {
            text = text.replace(from, to);
        }
        Ok((status, text))
    }
}

/// Compares one GET on both servers (status, and the JSON flattened).
fn compare_get(section: &str, path: &str, ours: &Peer, theirs: &Peer) -> Result<Vec<String>> {
    let (sa, a) = ours.get(path)?;
    let (sb, b) = theirs.get(path)?;
    let mut diffs = Vec::new();
    if sa != sb {
        diffs.push(format!(
            "{section} {path} status: ours {sa} | prometheus {sb}"
        ));
    }
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::String(s.to_string()));
    let (mut fa, mut fb) = (BTreeMap::new(), BTreeMap::new());
    flatten(&parse(&a), "", &mut fa);
    flatten(&parse(&b), "", &mut fb);
    diffs.extend(diff_leaves(&format!("{section} {path}"), &fa, &fb));
    Ok(diffs)
}

/// Follows `group_limit=2` pagination to its end on both servers, comparing each page.
fn compare_pages(section: &str, ours: &Peer, theirs: &Peer) -> Result<Vec<String>> {
    let mut diffs = Vec::new();
    let mut token = String::new();
    for page in 0..20 {
        let path = if token.is_empty() {
            "/api/v1/rules?group_limit=2".to_string()
        } else {
            format!("/api/v1/rules?group_limit=2&group_next_token={token}")
        };
        diffs.extend(compare_get(
            &format!("{section} page{page}"),
            &path,
            ours,
            theirs,
        )?);
        let (_, body) = theirs.get(&path)?;
        let v: Value = serde_json::from_str(&body).unwrap_or_default();
        match v.pointer("/data/groupNextToken").and_then(Value::as_str) {
            Some(t) => token = t.to_string(),
            None => break,
        }
    }
    Ok(diffs)
}

/// One server's series of an instant query: key to leaf (values near each other for
/// `rate` recordings and `ALERTS_FOR_STATE`).
fn series_leaves(peer: &Peer, expr: &str, time_ms: i64) -> Result<BTreeMap<String, Leaf>> {
    let body = query_answer(&peer.server, expr, time_ms)?;
    let mut text = String::from_utf8_lossy(&body).into_owned();
    for (from, to) in &peer.replace {
        text = text.replace(from, to);
    }
    let v: Value = serde_json::from_str(&text).context("query answer not JSON")?;
    let mut out = BTreeMap::new();
    for s in v
        .pointer("/data/result")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = series_key(&s["metric"]);
        let raw = s.pointer("/value/1").and_then(Value::as_str).unwrap_or("?");
        let leaf = if key.starts_with("ALERTS_FOR_STATE{") {
            Leaf::Near {
                v: raw.parse().unwrap_or(f64::NAN),
                abs: time_tolerance_ms() as f64 / 1000.0,
                rel: 0.0,
            }
        } else if key.contains(":rate") {
            Leaf::Near {
                v: raw.parse().unwrap_or(f64::NAN),
                abs: 0.0,
                rel: 0.05,
            }
        } else {
            Leaf::Text(raw.to_string())
        };
        out.insert(key, leaf);
    }
    Ok(out)
}

/// One server's rule manager and notifier metrics (`prometheus_rule_*`,
/// `prometheus_notifications_*`): series to value; timings are not compared, counters
/// within 25% (the two servers have run for different times).
fn own_metrics(peer: &Peer) -> Result<BTreeMap<String, Leaf>> {
    let (status, text) = peer.get("/metrics")?;
    if status != 200 {
        bail!("{} /metrics: status {status}", peer.server.name);
    }
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#')
            || !(line.starts_with("prometheus_rule_")
                || line.starts_with("prometheus_notifications_"))
        {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series);
        let leaf = if ["duration", "latency", "timestamp", "queue_length"]
            .iter()
            .any(|w| name.contains(w))
        {
            Leaf::Text("(timing)".into())
        } else if name.ends_with("_total") {
            Leaf::Near {
                v: value.parse().unwrap_or(f64::NAN),
                abs: 2.0,
                rel: 0.25,
            }
        } else {
            Leaf::Text(value.to_string())
        };
        out.insert(series.to_string(), leaf);
    }
    Ok(out)
}

/// One snapshot: every API answer and the series.
fn compare_snapshot(name: &str, b_file: &str, ours: &Peer, theirs: &Peer) -> Result<Vec<String>> {
    let mut diffs = Vec::new();
    // A time both have evaluated at (the same hashed slots, each second).
    let t = model::timestamp::now() - 1_500;
    diffs.extend(diff_leaves(
        &format!("{name} series"),
        &series_leaves(ours, SERIES_QUERY, t)?,
        &series_leaves(theirs, SERIES_QUERY, t)?,
    ));
    for path in rule_requests(b_file) {
        diffs.extend(compare_get(name, &path, ours, theirs)?);
    }
    diffs.extend(compare_pages(name, ours, theirs)?);
    diffs.extend(compare_get(name, "/api/v1/alerts", ours, theirs)?);
    diffs.extend(compare_get(name, "/api/v1/alertmanagers", ours, theirs)?);
    diffs.extend(diff_leaves(
        &format!("{name} metrics"),
        &own_metrics(ours)?,
        &own_metrics(theirs)?,
    ));
    Ok(diffs)
}

/// What one fake Alertmanager received, per alert (its labels): leaves to compare.
fn notifications(got: &[Received], replace: &[(String, String)]) -> BTreeMap<String, Leaf> {
    #[derive(Default)]
    struct PerAlert {
        fields: BTreeSet<String>,
        annotations: BTreeSet<String>,
        generator: BTreeSet<String>,
        starts: BTreeMap<String, i64>,
        firing: usize,
        resolved: usize,
        first_at: Option<i64>,
        ahead: Vec<i64>,
        resolved_ends: BTreeMap<String, i64>,
    }
    let mut out = BTreeMap::new();
    let mut per: BTreeMap<String, PerAlert> = BTreeMap::new();
    let mut paths = BTreeSet::new();
    let mut types = BTreeSet::new();
    for r in got {
        paths.insert(r.path.clone());
        types.insert(r.content_type.clone());
        let mut text = String::from_utf8_lossy(&r.body).into_owned();
        for (from, to) in replace {
            text = text.replace(from, to);
        }
        let Ok(Value::Array(alerts)) = serde_json::from_str::<Value>(&text) else {
            out.insert(
                format!("payload not a JSON array: {text}"),
                Leaf::Text(String::new()),
            );
            continue;
        };
        for a in alerts {
            let key = series_key(&a["labels"]);
            let p = per.entry(key).or_default();
            if let Some(obj) = a.as_object() {
                p.fields
                    .insert(obj.keys().cloned().collect::<Vec<_>>().join(","));
            }
            p.annotations.insert(a["annotations"].to_string());
            p.generator
                .insert(a["generatorURL"].as_str().unwrap_or("-").to_string());
            let starts = a["startsAt"].as_str().unwrap_or("");
            let ends = a["endsAt"].as_str().unwrap_or("");
            if let Some(ms) = parse_rfc3339_ms(starts) {
                p.starts.insert(starts.to_string(), ms);
            }
            match parse_rfc3339_ms(ends) {
                Some(e) if e <= r.at_ms => {
                    p.resolved += 1;
                    p.resolved_ends.insert(ends.to_string(), e);
                }
                Some(e) => {
                    p.firing += 1;
                    p.first_at.get_or_insert(r.at_ms);
                    p.ahead.push(e - r.at_ms);
                }
                None => {
                    p.firing += 1;
                    p.first_at.get_or_insert(r.at_ms);
                }
            }
        }
    }
    out.insert("paths".into(), Leaf::Text(format!("{paths:?}")));
    out.insert("content-types".into(), Leaf::Text(format!("{types:?}")));
    for (k, p) in per {
        let text =
            |s: &BTreeSet<String>| Leaf::Text(s.iter().cloned().collect::<Vec<_>>().join(" | "));
        out.insert(format!("{k} fields"), text(&p.fields));
        out.insert(format!("{k} annotations"), text(&p.annotations));
        out.insert(format!("{k} generatorURL"), text(&p.generator));
        out.insert(
            format!("{k} distinct startsAt"),
            Leaf::Text(p.starts.len().to_string()),
        );
        if let Some((s, ms)) = p.starts.iter().next() {
            out.insert(
                format!("{k} startsAt"),
                Leaf::Time {
                    ms: *ms,
                    text: s.clone(),
                },
            );
        }
        let count = |n: usize| Leaf::Near {
            v: n as f64,
            abs: 1.0,
            rel: 0.0,
        };
        out.insert(format!("{k} firing notifications"), count(p.firing));
        out.insert(format!("{k} resolved notifications"), count(p.resolved));
        if let Some(at) = p.first_at {
            out.insert(
                format!("{k} first firing notification"),
                Leaf::Time {
                    ms: at,
                    text: format!("{at}ms"),
                },
            );
        }
        if !p.ahead.is_empty() {
            let mut a = p.ahead.clone();
            a.sort_unstable();
            let median = a[a.len() / 2];
            out.insert(
                format!("{k} firing endsAt ahead of receipt (median ms)"),
                Leaf::Near {
                    v: median as f64,
                    abs: 1_500.0,
                    rel: 0.0,
                },
            );
        }
        out.insert(
            format!("{k} distinct resolved endsAt"),
            Leaf::Text(p.resolved_ends.len().to_string()),
        );
        if let Some((s, ms)) = p.resolved_ends.iter().next() {
            out.insert(
                format!("{k} resolved endsAt"),
                Leaf::Time {
                    ms: *ms,
                    text: s.clone(),
                },
            );
        }
    }
    out
}

/// The upstream test data folder (`$PROMETHEUS_TESTDATA/upstream`, default
/// `../shared/testdata/upstream`).
fn upstream_dir() -> PathBuf {
    std::env::var_os("PROMETHEUS_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/testdata"))
        .join("upstream")
}

/// Upstream rule files that promtool 3.5 accepts (the others are rule-loading tests, where
/// the server would refuse to start).
fn upstream_rule_files(promtool: &Path) -> Result<Vec<String>> {
    let up = upstream_dir();
    let mut files = Vec::new();
    for dir in ["rules/fixtures", "cmd/promtool/testdata"] {
        let Ok(rd) = std::fs::read_dir(up.join(dir)) else {
            continue;
        };
        let mut names: Vec<PathBuf> = rd.filter_map(|e| Some(e.ok()?.path())).collect();
        names.sort();
        for p in names {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let rule_like = name.starts_with("rules")
                || name.starts_with("alert_rule")
                || dir == "rules/fixtures";
            // rules2_copy.yaml records the same series as rules2.yaml from another group:
            // which of the two appends first, and so which one meets an out-of-order
            // sample, depends on how each server's start-up meets the two slots.
            if !(name.ends_with(".yaml") || name.ends_with(".yml"))
                || !rule_like
                || name == "rules2_copy.yaml"
            {
                continue;
            }
            let ok = Command::new(promtool)
                .args(["check", "rules"])
                .arg(&p)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ok {
                files.push(p.display().to_string());
            }
        }
    }
    Ok(files)
}

/// For rules one side has not evaluated yet (fixture groups on long intervals), drops what
/// only evaluation sets, from both answers, so that only their definitions are compared.
fn strip_unevaluated(a: &mut Value, b: &mut Value) {
    const DYNAMIC: &[&str] = &[
        "health",
        "lastError",
        "lastEvaluation",
        "state",
        "alerts",
        "evaluationTime",
    ];
    let evaluated = |r: &Value| {
        r["lastEvaluation"]
            .as_str()
            .is_some_and(|s| !s.starts_with("0001-"))
    };
    let key = |g: &Value| format!("{}:{}", g["file"], g["name"]);
    let Some(gb) = b.pointer_mut("/data/groups").and_then(Value::as_array_mut) else {
        return;
    };
    let mut theirs: BTreeMap<String, &mut Value> = gb.iter_mut().map(|g| (key(g), g)).collect();
    let Some(ga) = a.pointer_mut("/data/groups").and_then(Value::as_array_mut) else {
        return;
    };
    for g in ga {
        let Some(other) = theirs.get_mut(&key(g)) else {
            continue;
        };
        let both_group = evaluated(g) && evaluated(other);
        if !both_group {
            for v in [&mut *g, &mut **other] {
                if let Some(o) = v.as_object_mut() {
                    o.remove("lastEvaluation");
                    o.remove("evaluationTime");
                }
            }
        }
        let (Some(ra), Some(rb)) = (
            g.get_mut("rules").and_then(Value::as_array_mut),
            other.get_mut("rules").and_then(Value::as_array_mut),
        ) else {
            continue;
        };
        for (x, y) in ra.iter_mut().zip(rb.iter_mut()) {
            if evaluated(x) && evaluated(y) {
                continue;
            }
            for v in [x, y] {
                if let Some(o) = v.as_object_mut() {
                    for k in DYNAMIC {
                        o.remove(*k);
                    }
                }
            }
        }
    }
}

/// Starts both servers on the same rule files and targets, each with its own fake
/// Alertmanager.
fn start_pair(
    work: &Path,
    ours_bin: &Path,
    theirs_bin: &Path,
    rule_files: &[String],
    targets: &[String],
) -> Result<(Peer, FakeAm, Peer, FakeAm)> {
    let am_ours = FakeAm::start()?;
    let am_theirs = FakeAm::start()?;
    let (ours, theirs) = start_peers(
        work,
        ours_bin,
        theirs_bin,
        rule_files,
        targets,
        &am_ours,
        &am_theirs,
        &[],
    )?;
    Ok((ours, am_ours, theirs, am_theirs))
}

/// Starts both servers (in `work/ours` and `work/prometheus`, kept data as it is) sending
/// to the given fake Alertmanagers, with `extra` flags.
#[allow(clippy::too_many_arguments)]
fn start_peers(
    work: &Path,
    ours_bin: &Path,
    theirs_bin: &Path,
    rule_files: &[String],
    targets: &[String],
    am_ours: &FakeAm,
    am_theirs: &FakeAm,
    extra: &[&str],
) -> Result<(Peer, Peer)> {
    let external = format!("--web.external-url={EXTERNAL_URL}");
    let mut flags = vec![
        "--rules.alert.resend-delay=1s",
        "--web.enable-lifecycle",
        external.as_str(),
    ];
    flags.extend_from_slice(extra);
    let base: Vec<(String, String)> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), format!("T{i}")))
        .collect();
    let ours = Server::start_with_config("ours", ours_bin, &work.join("ours"), &flags, |_| {
        config_text(rule_files, targets, &am_ours.addr)
    })?;
    let theirs = Server::start_with_config(
        "prometheus",
        theirs_bin,
        &work.join("prometheus"),
        &flags,
        |_| config_text(rule_files, targets, &am_theirs.addr),
    )?;
    let peer = |server: Server, am: &FakeAm| {
        let mut replace = vec![(am.addr.clone(), "AM".to_string())];
        replace.extend(base.iter().cloned());
        Peer { server, replace }
    };
    Ok((peer(ours, am_ours), peer(theirs, am_theirs)))
}

/// The rule file of the restart run: alerts whose `for` is at least the grace period
/// (restored from `ALERTS_FOR_STATE`) and one whose `for` is shorter (not restored).
const RESTART_RULES: &str = r#"groups:
  - name: restore
    rules:
      - alert: LongPending
        expr: app_queue_length{queue="a"} > 0
        for: 1m
      - alert: RestoredFiring
        expr: app_queue_length{queue="a", flaky!="yes"} > 0
        for: 12s
        annotations:
          since: '{{ $value }}'
      - alert: ShortFor
        expr: app_queue_length{queue="b"} > 0
        for: 3s
"#;

/// The restart run: both servers evaluate [`RESTART_RULES`] for a while, are killed and
/// started again on the same data, and their alerts are compared after the restart
/// (Go's `RestoreForState`, with `--rules.alert.for-grace-period=10s`).
fn restart_run(
    work: &Path,
    ours_bin: &Path,
    theirs_bin: &Path,
    targets: &[String],
) -> Result<Vec<String>> {
    std::fs::create_dir_all(work)?;
    let file = work.join("restart.yml");
    std::fs::write(&file, RESTART_RULES)?;
    let files = [file.display().to_string()];
    let (am_ours, am_theirs) = (FakeAm::start()?, FakeAm::start()?);
    let extra = ["--rules.alert.for-grace-period=10s"];
    let (ours, theirs) = start_peers(
        work, ours_bin, theirs_bin, &files, targets, &am_ours, &am_theirs, &extra,
    )?;
    println!("== restart run: both up; restarting both in 15s");
    std::thread::sleep(Duration::from_secs(15));
    let mut diffs = compare_get("before-restart", "/api/v1/alerts", &ours, &theirs)?;
    drop(ours);
    drop(theirs);
    std::thread::sleep(Duration::from_secs(2));
    let (ours, theirs) = start_peers(
        work, ours_bin, theirs_bin, &files, targets, &am_ours, &am_theirs, &extra,
    )?;
    // Long enough for `ShortFor` to fire again, so the comparison is not at its transition.
    std::thread::sleep(Duration::from_secs(8));
    diffs.extend(compare_get("restarted", "/api/v1/alerts", &ours, &theirs)?);
    diffs.extend(compare_get("restarted", "/api/v1/rules", &ours, &theirs)?);
    let t = model::timestamp::now() - 1_500;
    let q = r#"{__name__=~"ALERTS|ALERTS_FOR_STATE"}"#;
    diffs.extend(diff_leaves(
        "restarted series",
        &series_leaves(&ours, q, t)?,
        &series_leaves(&theirs, q, t)?,
    ));
    // For a look at what happened around the restart.
    for (side, peer) in [("ours", &ours), ("prometheus", &theirs)] {
        let (_, body) = peer.server.post_form(
            "/api/v1/query",
            &[
                ("query", "ALERTS[30s]"),
                ("time", &servers::api_time(model::timestamp::now())),
            ],
        )?;
        std::fs::write(work.join(format!("alerts-{side}.json")), body)?;
    }
    Ok(diffs)
}

/// Runs the task.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let started = std::time::Instant::now();
    let no_build = args.iter().any(|a| a == "--no-build");
    let release = args.iter().any(|a| a == "--release");
    let ours_bin = servers::our_binary(no_build, release)?;
    let theirs_bin = servers::announce_peers(&ours_bin)?;
    let known = servers::load_known("rulesdiff")?;
    let work = fresh_dir("rulesdiff")?;
    let rules_dir = work.join("rules");
    std::fs::create_dir_all(&rules_dir)?;
    let mut rule_files = Vec::new();
    for (name, text) in RULES {
        let p = rules_dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        rule_files.push(p.display().to_string());
    }
    let b_file = rules_dir.join("b.yml").display().to_string();
    let timeline = Timeline::new();
    let targets = start_targets(&timeline)?;

    // Run 1: the timeline.
    let mut diffs = Vec::new();
    {
        let (ours, am_ours, theirs, am_theirs) = start_pair(
            &work.join("main"),
            &ours_bin,
            &theirs_bin,
            &rule_files,
            &targets,
        )?;
        // A few baseline scrapes and evaluations before anything changes.
        timeline.start_at(model::timestamp::now() + 3_000);
        println!("== both up; timeline of {END}s starts in 3s");
        for (name, at) in SNAPSHOTS {
            if name == "s2" {
                // The Alertmanagers fail for a while: errors counted, nothing retried.
                timeline.sleep_until(AM_FAILING.0);
                for am in [&am_ours, &am_theirs] {
                    am.failing.store(true, Ordering::SeqCst);
                }
                timeline.sleep_until(AM_FAILING.1);
                for am in [&am_ours, &am_theirs] {
                    am.failing.store(false, Ordering::SeqCst);
                }
            }
            timeline.sleep_until(at);
            println!("== snapshot {name} at +{at}s");
            diffs.extend(compare_snapshot(name, &b_file, &ours, &theirs)?);
        }
        timeline.sleep_until(END);
        let (na, nb) = (
            notifications(&am_ours.received(), &ours.replace),
            notifications(&am_theirs.received(), &theirs.replace),
        );
        println!(
            "== notifications: ours {} POSTs, prometheus {} POSTs",
            am_ours.received().len(),
            am_theirs.received().len()
        );
        for (side, leaves) in [("ours", &na), ("prometheus", &nb)] {
            let text: String = leaves.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
            std::fs::write(work.join(format!("notifications-{side}.txt")), text)?;
        }
        diffs.extend(diff_leaves("notifications", &na, &nb));

        // A reload: a rule added to `alerts` (whose firing alerts keep their state),
        // `limited` removed, `offset` on another interval, a new group.
        for (name, text) in reloaded_rules() {
            std::fs::write(rules_dir.join(name), text)?;
        }
        for peer in [&ours, &theirs] {
            let (status, body) = peer.server.post_form("/-/reload", &[])?;
            if status != 200 {
                bail!(
                    "{} /-/reload: status {status}: {}",
                    peer.server.name,
                    String::from_utf8_lossy(&body)
                );
            }
        }
        std::thread::sleep(Duration::from_millis(3_500));
        println!("== snapshot s3 after a reload");
        diffs.extend(compare_snapshot("s3", &b_file, &ours, &theirs)?);

        // A reload with a broken rule file is refused, and the rules stay.
        std::fs::write(
            rules_dir.join("b.yml"),
            "groups:\n  - name: broken\n    rules:\n      - record: bad\n        expr: sum(\n",
        )?;
        let mut answers = Vec::new();
        for (peer, dir) in [(&ours, "ours"), (&theirs, "prometheus")] {
            let (status, body) = peer.server.post_form("/-/reload", &[])?;
            let data = work.join("main").join(dir).display().to_string();
            let body = String::from_utf8_lossy(&body).replace(&data, "DATA");
            answers.push(format!("{status} {}", body.trim_end()));
        }
        println!(
            "== broken reload answered: {}",
            answers[1].chars().take(160).collect::<String>()
        );
        if answers[0] != answers[1] {
            diffs.push(format!(
                "broken-reload answer: ours {} | prometheus {}",
                answers[0], answers[1]
            ));
        }
        diffs.extend(compare_get(
            "broken-reload",
            "/api/v1/rules?exclude_alerts=true",
            &ours,
            &theirs,
        )?);
    }

    // Run 2: restoring alerts' `for` state after a restart.
    diffs.extend(restart_run(
        &work.join("restart"),
        &ours_bin,
        &theirs_bin,
        &targets,
    )?);

    // Run 3: how alerts are cut into POSTs.
    diffs.extend(batching::run(
        &work.join("batching"),
        &ours_bin,
        &theirs_bin,
    )?);

    // Run 4: the upstream rule fixtures.
    let promtool = theirs_bin
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(|peers| {
            peers.join(servers::PROMETHEUS3_DEB.trim_end_matches(".deb").replacen(
                "prometheus_",
                "promtool_",
                1,
            ))
        })
        .map(|d| d.join("usr/bin/promtool"))
        .filter(|p| p.is_file());
    match promtool {
        Some(promtool) => {
            let fixtures = upstream_rule_files(&promtool)?;
            if fixtures.is_empty() {
                println!(
                    "== notice: no upstream rule fixtures found under {}",
                    upstream_dir().display()
                );
            } else {
                println!("== upstream fixtures: {} rule files", fixtures.len());
                let (ours, _am_o, theirs, _am_t) = start_pair(
                    &work.join("fixtures"),
                    &ours_bin,
                    &theirs_bin,
                    &fixtures,
                    &targets,
                )?;
                std::thread::sleep(Duration::from_secs(5));
                for path in [
                    "/api/v1/rules",
                    "/api/v1/rules?type=alert&exclude_alerts=true",
                ] {
                    let (sa, a) = ours.get(path)?;
                    let (sb, b) = theirs.get(path)?;
                    if sa != sb {
                        diffs.push(format!(
                            "fixtures {path} status: ours {sa} | prometheus {sb}"
                        ));
                    }
                    let mut va: Value = serde_json::from_str(&a).unwrap_or(Value::String(a));
                    let mut vb: Value = serde_json::from_str(&b).unwrap_or(Value::String(b));
                    strip_unevaluated(&mut va, &mut vb);
                    let (mut fa, mut fb) = (BTreeMap::new(), BTreeMap::new());
                    flatten(&va, "", &mut fa);
                    flatten(&vb, "", &mut fb);
                    let up = upstream_dir().display().to_string();
                    diffs.extend(
                        diff_leaves(&format!("fixtures {path}"), &fa, &fb)
                            .into_iter()
                            .map(|d| d.replace(&up, "UPSTREAM")),
                    );
                }
            }
        }
        None => println!("== notice: promtool 3.5 not found beside Prometheus 3; fixtures skipped"),
    }

    let (known_n, new) = print_diffs(&diffs, &known);
    println!(
        "rulesdiff: {} differences ({known_n} known, {new} unexplained) in {:.0}s",
        diffs.len(),
        started.elapsed().as_secs_f64()
    );
    if new > 0 {
        bail!("rulesdiff: {new} unexplained difference(s)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_parse_to_ms() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2023-11-14T22:13:20.5Z"),
            Some(1_700_000_000_500)
        );
        assert_eq!(
            parse_rfc3339_ms("2023-11-14T23:13:20.123456789+01:00"),
            Some(1_700_000_000_123)
        );
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
        assert_eq!(shape("2023-11-14T22:13:20.5Z"), "0000-00-00T00:00:00.0Z");
        assert_eq!(
            shape("2023-11-14T22:13:20.1234Z"),
            shape("2023-11-14T22:13:20.123456789Z")
        );
    }

    #[test]
    fn flatten_keys_alerts_by_labels_and_compares_times_within_tolerance() {
        let a: Value = serde_json::from_str(
            r#"{"alerts":[{"labels":{"b":"2"},"activeAt":"2023-11-14T22:13:20Z","value":"1e+00"},
                          {"labels":{"a":"1"},"activeAt":"2023-11-14T22:13:20Z","value":"1e+00"}],
                "evaluationTime":0.002}"#,
        )
        .expect("json");
        let b: Value = serde_json::from_str(
            r#"{"alerts":[{"labels":{"a":"1"},"activeAt":"2023-11-14T22:13:21Z","value":"1e+00"},
                          {"labels":{"b":"2"},"activeAt":"2023-11-14T22:13:29Z","value":"2e+00"}],
                "evaluationTime":0.5}"#,
        )
        .expect("json");
        let (mut fa, mut fb) = (BTreeMap::new(), BTreeMap::new());
        flatten(&a, "", &mut fa);
        flatten(&b, "", &mut fb);
        assert_eq!(
            diff_leaves("s", &fa, &fb),
            vec![
                "s .alerts[{b=\"2\"}].activeAt: ours 2023-11-14T22:13:20Z | prometheus 2023-11-14T22:13:29Z",
                "s .alerts[{b=\"2\"}].value: ours 1e+00 | prometheus 2e+00",
            ]
        );
    }

    #[test]
    fn targets_follow_the_timeline() {
        let cold = metrics_text(0, 0.0, 1.0).expect("up");
        assert!(cold.contains("app_temperature_celsius 20\n"), "{cold}");
        let hot = metrics_text(1, HOT.0 + 1.0, 1.0).expect("up");
        assert!(hot.contains("app_temperature_celsius 95\n"), "{hot}");
        assert!(metrics_text(2, DOWN.0 + 0.5, 1.0).is_none());
        assert!(metrics_text(2, DOWN.1, 1.0).is_some());
        let reloaded = reloaded_rules();
        assert!(reloaded[0].1.contains("alert: AddedOnReload"));
        assert!(
            reloaded[1].1.contains("name: limited_gone") && reloaded[1].1.contains("name: added\n")
        );
        assert!(reloaded[1].1.contains("interval: 1s\n    query_offset"));
    }

    #[test]
    fn notifications_count_firing_and_resolved_per_alert() {
        let firing = Received {
            at_ms: 1_700_000_000_000,
            path: "/api/v2/alerts".into(),
            content_type: "application/json".into(),
            body: br#"[{"labels":{"alertname":"A"},"annotations":{},"startsAt":"2023-11-14T22:13:19Z","endsAt":"2023-11-14T22:13:24Z","generatorURL":"u"}]"#.to_vec(),
        };
        let resolved = Received {
            at_ms: 1_700_000_010_000,
            body: br#"[{"labels":{"alertname":"A"},"annotations":{},"startsAt":"2023-11-14T22:13:19Z","endsAt":"2023-11-14T22:13:25Z","generatorURL":"u"}]"#.to_vec(),
            ..firing.clone()
        };
        let got = notifications(&[firing, resolved], &[]);
        assert_eq!(
            got["{alertname=\"A\"} distinct startsAt"],
            Leaf::Text("1".into())
        );
        assert!(
            matches!(got["{alertname=\"A\"} firing notifications"], Leaf::Near { v, .. } if v == 1.0)
        );
        assert!(
            matches!(got["{alertname=\"A\"} resolved notifications"], Leaf::Near { v, .. } if v == 1.0)
        );
    }

    #[test]
    fn config_names_every_rule_file_and_target() {
        let targets = ["127.0.0.1:4".to_string(), "127.0.0.1:5".to_string()];
        let cfg = config_text(&["/r/a.yml".into()], &targets, "127.0.0.1:6");
        assert!(cfg.contains("  - '/r/a.yml'\n"));
        assert!(cfg.contains("targets: ['127.0.0.1:6']"));
        assert!(cfg.contains("targets: ['127.0.0.1:4']\n      - targets: ['127.0.0.1:5']\n        labels:\n          flaky: 'yes'\n"));
    }
}
