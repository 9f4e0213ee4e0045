//! `promtool tsdb create-blocks-from openmetrics`: the same blocks (ranges, sample and series
//! counts) and the same samples as the real promtool 2.42 writes from one file, and a real
//! Prometheus 2.42 serving them.

use std::path::Path;

use super::{REAL_PROMTOOL, ours, run, text};

/// An OpenMetrics file: two counters every 15 s and a gauge every 60 s for 10 hours from
/// `base` (Unix seconds); the gauge's timestamps have a fraction.
fn openmetrics(base: u64) -> String {
    let mut s =
        String::from("# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n");
    for (code, step) in [("200", 2), ("500", 1)] {
        for i in (0..10 * 3600).step_by(15) {
            s.push_str(&format!(
                "http_requests_total{{code=\"{code}\"}} {} {}\n",
                i / 15 * step,
                base + i
            ));
        }
    }
    s.push_str("# HELP temp_celsius T.\n# TYPE temp_celsius gauge\n");
    for i in (0..10 * 3600).step_by(60) {
        let v = 20.0 + f64::from(u32::try_from(i % 7).expect("small")) * 0.25;
        s.push_str(&format!(
            "temp_celsius{{room=\"a b\"}} {v} {}.5\n",
            base + i
        ));
    }
    s.push_str("# EOF\n");
    s
}

/// The block table without the ULID, chunk count and size columns (Go's head cuts chunks by
/// time, we by count; both are valid).
fn ranges(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            [cols[1], cols[2], cols[3], cols[4], cols[6]].join(" ")
        })
        .collect()
}

fn dump_with_real_promtool(dir: &Path) -> Vec<String> {
    // 2.42's read-only DB wants a WAL directory.
    std::fs::create_dir_all(dir.join("wal")).expect("wal dir");
    let out = run(
        REAL_PROMTOOL,
        &["tsdb", "dump", dir.to_str().expect("UTF-8")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[test]
fn openmetrics_blocks_match_promtool_2_42_and_open_in_prometheus_2_42() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // Recent enough for the default 15d retention, in whole hours so blocks are stable.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let base = (now - 24 * 3600) / 3600 * 3600;
    let input = tmp.path().join("input.om");
    std::fs::write(&input, openmetrics(base)).expect("write input");
    let ours_dir = tmp.path().join("ours");
    let input_s = input.to_str().expect("UTF-8");
    let out = run(
        ours(),
        &[
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            input_s,
            ours_dir.to_str().expect("UTF-8"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(table.starts_with("BLOCK ULID "), "{table}");
    // 10 hours from a whole hour: blocks for 5 or 6 two-hour ranges.
    assert!((5..=6).contains(&ranges(&table).len()), "{table}");

    // dump-openmetrics of our blocks reads back into the same blocks.
    let dumped = run(
        ours(),
        &[
            "tsdb",
            "dump-openmetrics",
            ours_dir.to_str().expect("UTF-8"),
        ],
    );
    assert!(dumped.status.success(), "{}", text(&dumped));
    let dumped_text = String::from_utf8_lossy(&dumped.stdout).into_owned();
    assert!(dumped_text.ends_with("\n# EOF\n"));
    assert!(
        dumped_text.contains(&format!(
            "\ntemp_celsius{{room=\"a b\"}} 21 {}.500\n",
            base + 60
        )),
        "{dumped_text}"
    );
    let series = run(
        ours(),
        &[
            "tsdb",
            "dump",
            "--format=seriesjson",
            "--sandbox-dir-root=/nonexistent",
            ours_dir.to_str().expect("UTF-8"),
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&series.stdout),
        "{\"__name__\":\"http_requests_total\",\"code\":\"200\"}\n\
         {\"__name__\":\"http_requests_total\",\"code\":\"500\"}\n\
         {\"__name__\":\"temp_celsius\",\"room\":\"a b\"}\n"
    );
    let again_input = tmp.path().join("again.om");
    std::fs::write(&again_input, &dumped_text).expect("write");
    let again = tmp.path().join("again");
    let out = run(
        ours(),
        &[
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            again_input.to_str().expect("UTF-8"),
            again.to_str().expect("UTF-8"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        ranges(&String::from_utf8_lossy(&out.stdout)),
        ranges(&table)
    );

    let quiet = run(
        ours(),
        &[
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--quiet",
            input_s,
            tmp.path().join("quiet").to_str().expect("UTF-8"),
        ],
    );
    assert!(quiet.status.success() && quiet.stdout.is_empty());

    if !Path::new(REAL_PROMTOOL).is_file() {
        eprintln!("notice: {REAL_PROMTOOL} not found, not comparing");
        return;
    }
    let go_dir = tmp.path().join("go");
    let go = run(
        REAL_PROMTOOL,
        &[
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            input_s,
            go_dir.to_str().expect("UTF-8"),
        ],
    );
    assert!(go.status.success(), "{}", text(&go));
    assert_eq!(ranges(&table), ranges(&String::from_utf8_lossy(&go.stdout)));
    let ours_samples = dump_with_real_promtool(&ours_dir);
    assert_eq!(ours_samples.len(), 2 * 2400 + 600);
    assert_eq!(ours_samples, dump_with_real_promtool(&go_dir));

    let Some(server) = super::query::spawn_prometheus(Some(&ours_dir), false) else {
        return;
    };
    let at = format!("--time={}", base + 10 * 3600);
    let got = run(
        ours(),
        &[
            "query",
            "instant",
            &at,
            &server.url,
            "count_over_time({__name__=~\"http_requests_total|temp_celsius\"}[11h])",
        ],
    );
    assert!(got.status.success(), "{}", text(&got));
    let got = String::from_utf8_lossy(&got.stdout).into_owned();
    assert!(got.contains("{code=\"200\"} => 2400 @"), "{got}");
    assert!(got.contains("{room=\"a b\"} => 600 @"), "{got}");
}

/// Backfilled recording rules against a Prometheus 2.42 serving the data: the same blocks as
/// promtool 3.x writes. Not 2.42's: a group's evaluation slots come from the hash of its
/// labels, which Prometheus 3 computes differently (stringlabels), so 2.42 evaluates at
/// other offsets within each interval.
#[test]
fn rules_blocks_match_promtool_3_against_prometheus_2_42() {
    if !Path::new(REAL_PROMTOOL).is_file() {
        eprintln!("notice: {REAL_PROMTOOL} not found, skipping");
        return;
    }
    let Some(promtool3) = super::promtool3() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let base = (now - 24 * 3600) / 3600 * 3600;
    let input = tmp.path().join("input.om");
    std::fs::write(&input, openmetrics(base)).expect("write input");
    let data = tmp.path().join("data");
    let out = run(
        ours(),
        &[
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "-q",
            input.to_str().expect("UTF-8"),
            data.to_str().expect("UTF-8"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let Some(server) = super::query::spawn_prometheus(Some(&data), false) else {
        return;
    };
    let rules = tmp.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: backfill\n    interval: 1m\n    rules:\n\
         \x20     - record: code:http_requests:rate5m\n\
         \x20       expr: sum by (code) (rate(http_requests_total[5m]))\n\
         \x20       labels:\n          source: backfill\n",
    )
    .expect("write rules");
    let start = format!("--start={}", base + 3600);
    let end = format!("--end={}", base + 5 * 3600 + 1234);
    let url = format!("--url={}", server.url);
    let mut dumps = Vec::new();
    for (bin, name) in [(ours(), "ours"), (promtool3.as_str(), "go")] {
        let dir = tmp.path().join(name);
        let out_dir = format!("--output-dir={}", dir.display());
        let out = run(
            bin,
            &[
                "tsdb",
                "create-blocks-from",
                "rules",
                &start,
                &end,
                &url,
                &out_dir,
                rules.to_str().expect("UTF-8"),
            ],
        );
        assert!(out.status.success(), "{name}: {}", text(&out));
        let list = run(
            REAL_PROMTOOL,
            &["tsdb", "list", dir.to_str().expect("UTF-8")],
        );
        dumps.push((
            ranges(&String::from_utf8_lossy(&list.stdout)),
            dump_with_real_promtool(&dir),
        ));
    }
    // 4h20m of 1m slots: about 260 per code; the group's slot offset (from the group's
    // hash and the wall clock) moves either end by up to two slots per code.
    assert!(
        (512..=524).contains(&dumps[0].1.len()),
        "{}",
        dumps[0].1.len()
    );
    assert!(dumps[0].1[0].contains("code=\"200\", source=\"backfill\""));
    assert_eq!(dumps[0], dumps[1]);
}
