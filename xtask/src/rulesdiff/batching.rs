//! The batching run: how alerts are cut into POSTs, compared POST by POST with Prometheus 3.5.

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{FakeAm, Received, Timeline, parse_rfc3339_ms, read_request};
use crate::servers::{self, Server};

/// Two groups of one alerting rule each (a group's alerts are sent in one call; two groups
/// evaluate at different hashed slots of the same second).
const RULES: &str = r#"groups:
  - name: batch_one
    rules:
      - alert: R1
        expr: batch_r1 > 0
        annotations:
          escapes: '{{ "<&>" }} {{ $labels.i }}'
  - name: batch_two
    rules:
      - alert: R2
        expr: batch_r2 > 0
"#;
/// How many series (and so alerts) each rule has.
const ALERTS_PER_RULE: usize = 30;
/// When the target exposes the series (seconds after the run's start): both rules fire in
/// the first evaluation after the first scrape that has them, and resolve after the last.
const WINDOW: (f64, f64) = (6.0, 16.0);
/// From when the Alertmanager of the second set answers 500 (before the resolved alerts
/// are sent, after the firing ones have been).
const SECOND_SET_FAILS: f64 = 15.0;
/// When the POSTs are compared.
const END: f64 = 26.0;
/// How long every fake Alertmanager takes to answer: longer than the one second in which
/// both rules send, so the second send always finds the first batch in flight; short
/// enough that the four POSTs of the firing alerts are done before they resolve.
const AM_DELAY_MS: u64 = 1_500;
/// The flags of both servers: a queue smaller than the two sends together (the oldest are
/// dropped), batches smaller than one send, and no resending within the run.
const FLAGS: &[&str] = &[
    "--alertmanager.notification-queue-capacity=40",
    "--alertmanager.notification-batch-size=16",
    "--rules.alert.resend-delay=1m",
];

/// What the target exposes `t` seconds into the run.
fn target_text(t: f64) -> String {
    let mut s = String::from("batch_idle 1\n");
    if (WINDOW.0..WINDOW.1).contains(&t) {
        for rule in ["batch_r1", "batch_r2"] {
            for i in 0..ALERTS_PER_RULE {
                s.push_str(&format!("{rule}{{i=\"{i:02}\"}} 1\n"));
            }
        }
    }
    s
}

fn serve_target(conn: TcpStream, tl: &Timeline) -> Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut r = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    while read_request(&mut r)?.is_some() {
        let body = target_text(tl.elapsed());
        write!(
            w,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        w.flush()?;
    }
    Ok(())
}

/// One server's configuration: Alertmanagers 0 and 1 in one set, 2 in a set whose
/// `alert_relabel_configs` drop `R2`.
fn config_text(rules: &str, target: &str, ams: &[FakeAm]) -> String {
    format!(
        concat!(
            "global: {{scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}}\n",
            "rule_files: ['{}']\n",
            "alerting:\n",
            "  alertmanagers:\n",
            "    - static_configs: [{{targets: ['{}', '{}']}}]\n",
            "      timeout: 10s\n",
            "    - static_configs: [{{targets: ['{}']}}]\n",
            "      timeout: 10s\n",
            "      alert_relabel_configs: [{{source_labels: [alertname], regex: R2, action: drop}}]\n",
            "scrape_configs:\n",
            "  - job_name: batch\n",
            "    static_configs: [{{targets: ['{}']}}]\n",
        ),
        rules, ams[0].addr, ams[1].addr, ams[2].addr, target
    )
}

/// A POST as runs of `alertname`s, resolved alerts marked: `R1x10 R2x6`,
/// `R1(resolved)x16`; then how Go's escaping shows in the raw body (`<`, `>`, `&` escaped
/// as `\u003c`, `\u003e`, `\u0026`).
fn post_shape(r: &Received) -> String {
    let text = String::from_utf8_lossy(&r.body);
    let Ok(Value::Array(alerts)) = serde_json::from_str::<Value>(&text) else {
        return format!("not a JSON array: {text}");
    };
    let mut runs: Vec<(String, usize)> = Vec::new();
    for a in &alerts {
        let name = a["labels"]["alertname"].as_str().unwrap_or("?");
        let resolved = a["endsAt"]
            .as_str()
            .and_then(parse_rfc3339_ms)
            .is_some_and(|e| e > 0 && e <= r.at_ms);
        let key = if resolved {
            format!("{name}(resolved)")
        } else {
            name.to_string()
        };
        match runs.last_mut() {
            Some((k, n)) if *k == key => *n += 1,
            _ => runs.push((key, 1)),
        }
    }
    let runs: Vec<String> = runs.iter().map(|(k, n)| format!("{k}x{n}")).collect();
    let count = |s: &str| text.matches(s).count();
    format!(
        "{} (escaped {}, raw {})",
        runs.join(" "),
        count("\\u003c") + count("\\u003e") + count("\\u0026"),
        count("<") + count(">") + count("&")
    )
}

/// The notifier metrics of one server, Alertmanager addresses as `AM0`..`AM2`.
fn notifier_metrics(server: &Server, ams: &[FakeAm]) -> Result<BTreeMap<String, String>> {
    let (status, body) = servers::request(&server.addr, "GET", "/metrics", None)?;
    if status != 200 {
        bail!("{} /metrics: status {status}", server.name);
    }
    let mut text = String::from_utf8_lossy(&body).into_owned();
    for (i, am) in ams.iter().enumerate() {
        text = text.replace(&am.addr, &format!("AM{i}"));
    }
    Ok(text
        .lines()
        .filter(|l| l.starts_with("prometheus_notifications_") && !l.contains("latency"))
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// The batching run: both servers evaluate [`RULES`] against one target whose series come
/// and go, and send to three slow fake Alertmanagers each; every POST's shape
/// ([`post_shape`]) is compared in order, Alertmanager by Alertmanager, and so are the
/// `prometheus_notifications_*` counters (exactly: the second set's Alertmanager fails
/// while the resolved alerts are sent, so a batch counts as dropped though the first set
/// took it). Go orders one rule's alerts by map
/// iteration, so which of them share a POST is not compared, only how many.
pub(super) fn run(work: &Path, ours_bin: &Path, theirs_bin: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(work)?;
    let rules = work.join("batching.yml");
    std::fs::write(&rules, RULES)?;
    let rules = rules.display().to_string();
    let timeline = Timeline::new();
    let listener = TcpListener::bind("127.0.0.1:0").context("binding the batching target")?;
    let target = listener.local_addr()?.to_string();
    {
        let tl = timeline.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let tl = tl.clone();
                std::thread::spawn(move || {
                    let _ = serve_target(conn, &tl);
                });
            }
        });
    }
    let start_ams = || -> Result<Vec<FakeAm>> {
        let ams = (0..3)
            .map(|_| FakeAm::start())
            .collect::<Result<Vec<_>>>()?;
        for am in &ams {
            am.delay_ms.store(AM_DELAY_MS, Ordering::SeqCst);
        }
        Ok(ams)
    };
    let (ams_ours, ams_theirs) = (start_ams()?, start_ams()?);
    let ours = Server::start_with_config("ours", ours_bin, &work.join("ours"), FLAGS, |_| {
        config_text(&rules, &target, &ams_ours)
    })?;
    let theirs = Server::start_with_config(
        "prometheus",
        theirs_bin,
        &work.join("prometheus"),
        FLAGS,
        |_| config_text(&rules, &target, &ams_theirs),
    )?;
    timeline.start_at(model::timestamp::now());
    println!("== batching run: both up; {END}s");
    timeline.sleep_until(SECOND_SET_FAILS);
    for am in [&ams_ours[2], &ams_theirs[2]] {
        am.failing.store(true, Ordering::SeqCst);
    }
    timeline.sleep_until(END);
    let mut diffs = Vec::new();
    let mut log = String::new();
    for (i, (a, b)) in ams_ours.iter().zip(&ams_theirs).enumerate() {
        let (pa, pb) = (a.received(), b.received());
        for (side, posts) in [("ours", &pa), ("prometheus", &pb)] {
            for p in posts.iter() {
                log.push_str(&format!("{side} AM{i} {} {}\n", p.at_ms, post_shape(p)));
            }
        }
        for k in 0..pa.len().max(pb.len()) {
            let shape = |p: Option<&Received>| p.map_or("(none)".to_string(), post_shape);
            let (sa, sb) = (shape(pa.get(k)), shape(pb.get(k)));
            if sa != sb {
                diffs.push(format!(
                    "batching AM{i} POST {k}: ours {sa} | prometheus {sb}"
                ));
            }
        }
    }
    std::fs::write(work.join("posts.txt"), log)?;
    let (ma, mb) = (
        notifier_metrics(&ours, &ams_ours)?,
        notifier_metrics(&theirs, &ams_theirs)?,
    );
    let mut text = String::new();
    for (side, m) in [("ours", &ma), ("prometheus", &mb)] {
        text.extend(m.iter().map(|(k, v)| format!("{side} {k} {v}\n")));
    }
    std::fs::write(work.join("metrics.txt"), text)?;
    for k in ma
        .keys()
        .chain(mb.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (va, vb) = (ma.get(k), mb.get(k));
        if va != vb {
            diffs.push(format!(
                "batching metrics {k}: ours {va:?} | prometheus {vb:?}"
            ));
        }
    }
    Ok(diffs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_shape_counts_runs_resolved_and_escapes() {
        let body = concat!(
            r#"[{"endsAt":"2026-01-01T00:00:10.000Z","generatorURL":"http://p/g?a=1\u0026b=2","labels":{"alertname":"R1"}},"#,
            r#"{"endsAt":"2026-01-01T00:00:10.000Z","labels":{"alertname":"R1"}},"#,
            r#"{"endsAt":"2026-01-01T00:00:01.000Z","labels":{"alertname":"R1"}},"#,
            r#"{"endsAt":"0001-01-01T00:00:00.000Z","annotations":{"a":"<&"},"labels":{"alertname":"R2"}}]"#,
        );
        let r = Received {
            at_ms: parse_rfc3339_ms("2026-01-01T00:00:05.000Z").unwrap(),
            path: "/api/v2/alerts".into(),
            content_type: "application/json".into(),
            body: body.as_bytes().to_vec(),
        };
        assert_eq!(
            post_shape(&r),
            "R1x2 R1(resolved)x1 R2x1 (escaped 1, raw 2)"
        );
    }

    #[test]
    fn the_target_exposes_the_rules_series_only_in_the_window() {
        assert_eq!(target_text(WINDOW.0 - 0.1), "batch_idle 1\n");
        let inside = target_text(WINDOW.0);
        assert_eq!(inside.lines().count(), 1 + 2 * ALERTS_PER_RULE);
        assert!(inside.contains("batch_r2{i=\"29\"} 1\n"), "{inside}");
        assert_eq!(target_text(WINDOW.1), "batch_idle 1\n");
    }
}
