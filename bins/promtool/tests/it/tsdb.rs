//! `promtool tsdb list|analyze|dump` on copies of the data Prometheus 2.42 wrote, compared
//! with the real promtool 2.42 (line for line for `dump` and `list`; per section, ties in
//! any order, for `analyze`, where Prometheus 3 prints `Total Series:` and a different
//! compaction analysis), and `query instant --tsdb.path` on the same data.

use std::path::{Path, PathBuf};

use super::{REAL_PROMTOOL, have_real, ours, run};

/// Copies a fixture directory into a fresh tempdir (never touch the shared data).
pub(crate) fn copy_fixture(relative: &str) -> Option<(tempfile::TempDir, PathBuf)> {
    let src = test_support::testdata_dir(relative)?;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dst = tmp.path().join("data");
    copy_dir(&src, &dst);
    Some((tmp, dst))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("readdir") {
        let e = e.expect("entry");
        let dst = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).expect("copy");
        }
    }
}

/// The blocks fixture as a data directory (Prometheus's tools want a `wal/` beside them).
fn blocks_dir() -> Option<(tempfile::TempDir, PathBuf)> {
    let (tmp, dir) = copy_fixture("prom-2.42/blocks")?;
    std::fs::create_dir_all(dir.join("wal")).expect("mkdir wal");
    Some((tmp, dir))
}

fn stdout_of(bin: &str, args: &[&str]) -> String {
    let out = run(bin, args);
    assert!(
        out.status.success(),
        "{bin} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Every file of `dir` with its size and modification time: to prove nothing was written.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("readdir") {
            let e = e.expect("entry");
            let m = e.metadata().expect("metadata");
            if m.is_dir() {
                stack.push(e.path());
            }
            out.push((e.path(), m.len(), m.modified().expect("mtime")));
        }
    }
    out.sort();
    out
}

#[test]
fn dump_of_blocks_is_identical_to_promtool_and_the_input() {
    let Some((_tmp, dir)) = blocks_dir() else {
        return;
    };
    let d = dir.to_str().expect("utf-8 path");
    let ours_out = stdout_of(ours(), &["tsdb", "dump", d]);
    assert_eq!(ours_out.lines().count(), 6480);
    assert!(ours_out.starts_with(
        "{__name__=\"fx_requests_total\", code=\"200\", instance=\"host-0\"} 3 1700000000000\n"
    ));
    if have_real() {
        assert_eq!(ours_out, stdout_of(REAL_PROMTOOL, &["tsdb", "dump", d]));
        let args = [
            "tsdb",
            "dump",
            "--min-time=1700006000000",
            "--max-time=1700007000000",
            d,
        ];
        assert_eq!(stdout_of(ours(), &args), stdout_of(REAL_PROMTOOL, &args));
    }
    // blocks-input.om: fx_requests_total{instance="host-2",code="500"} 1.5 and 3.0 at the
    // first two timestamps.
    let some = stdout_of(
        ours(),
        &[
            "tsdb",
            "dump",
            "--match=fx_temperature_celsius{instance=\"host-1\"}",
            "--match={code=\"500\",instance=\"host-2\"}",
            "--max-time=1700000030000",
            d,
        ],
    );
    assert_eq!(
        some,
        "{__name__=\"fx_requests_total\", code=\"500\", instance=\"host-2\"} 1.5 1700000000000\n\
         {__name__=\"fx_requests_total\", code=\"500\", instance=\"host-2\"} 3 1700000030000\n\
         {__name__=\"fx_temperature_celsius\", instance=\"host-1\", room=\"a \\\"quoted\\\" room\"} 24.207355 1700000000000\n\
         {__name__=\"fx_temperature_celsius\", instance=\"host-1\", room=\"a \\\"quoted\\\" room\"} 24.26054 1700000030000\n"
    );
}

#[test]
fn dump_of_a_crashed_data_dir_matches_the_truth_and_writes_nothing() {
    let Some((_tmp, dir)) = copy_fixture("prom-2.42/full-datadir/data") else {
        return;
    };
    let Some(truth) = test_support::testdata_dir("prom-2.42/full-datadir/truth.dump.zst") else {
        return;
    };
    let before = fingerprint(&dir);
    let d = dir.to_str().expect("utf-8 path");
    let ours_out = stdout_of(ours(), &["tsdb", "dump", d]);
    assert_eq!(
        fingerprint(&dir),
        before,
        "dump wrote into the data directory"
    );
    if test_support::have_command("zstd") {
        let want = std::process::Command::new("zstd")
            .args(["-dc"])
            .arg(&truth)
            .output()
            .expect("zstd runs");
        let want = String::from_utf8(want.stdout).expect("utf-8");
        assert_eq!(want.lines().count(), 263_410);
        // Line by line, so that a failure shows the first difference.
        for (k, (a, b)) in ours_out.lines().zip(want.lines()).enumerate() {
            assert_eq!(a, b, "line {}", k + 1);
        }
        assert_eq!(ours_out.lines().count(), want.lines().count());
    } else {
        eprintln!("notice: zstd not installed, checking the sample count only");
        assert_eq!(ours_out.lines().count(), 263_410);
    }
}

#[test]
fn list_is_the_same_table_as_promtool() {
    for (fixture, blocks) in [("prom-2.42/blocks", 4), ("prom-2.42/full-datadir/data", 3)] {
        let Some((_tmp, dir)) = copy_fixture(fixture) else {
            return;
        };
        std::fs::create_dir_all(dir.join("wal")).expect("mkdir wal");
        let d = dir.to_str().expect("utf-8 path");
        for args in [vec!["tsdb", "list", d], vec!["tsdb", "list", "-r", d]] {
            let ours_out = stdout_of(ours(), &args);
            assert_eq!(ours_out.lines().count(), blocks + 1, "{ours_out}");
            assert!(ours_out.starts_with("BLOCK ULID                  MIN TIME"));
            if have_real() {
                assert_eq!(ours_out, stdout_of(REAL_PROMTOOL, &args), "{args:?}");
            }
        }
    }
}

/// Splits analyze output into sections; within a section the lines are sorted, because
/// Go's promtool orders equal counts arbitrarily. The parts where Prometheus 3 differs from
/// 2.42 are left out: the compaction analysis, and the series line's wording (`Series:` in
/// 2.42, `Total Series:` in 3).
fn sections(s: &str) -> Vec<Vec<String>> {
    let s = s.split("\nCompaction analysis:").next().unwrap_or("");
    let s = s.replacen("\nSeries: ", "\nTotal Series: ", 1);
    s.split("\n\n")
        .map(|sec| {
            let mut lines: Vec<String> = sec.lines().map(str::to_owned).collect();
            lines.sort();
            lines
        })
        .collect()
}

#[test]
fn analyze_has_promtools_sections_and_numbers() {
    let Some((_tmp, dir)) = copy_fixture("prom-2.42/full-datadir/data") else {
        return;
    };
    let d = dir.to_str().expect("utf-8 path");
    // Without a block ID, Prometheus 3 analyzes the block with the newest ULID (here the
    // compacted one, of the oldest range); 2.42 took the one of the latest range.
    let ours_out = stdout_of(ours(), &["tsdb", "analyze", d]);
    let titles: Vec<&str> = ours_out
        .split("\n\n")
        .skip(1)
        .map(|s| s.lines().next().unwrap_or(""))
        .collect();
    assert_eq!(
        titles,
        [
            "Label pairs most involved in churning:",
            "Label names most involved in churning:",
            "Most common label pairs:",
            "Label names with highest cumulative label value length:",
            "Highest cardinality labels:",
            "Highest cardinality metric names:",
        ]
    );
    assert!(ours_out.starts_with(
        "Block ID: 01M85CXYWR3TRMDYNGDS7663D1\nDuration: 5h17m0s\nTotal Series: 100\nLabel names: 6\n"
    ));
    // The default limit is 20 lines per section.
    assert!(ours_out.split("\n\n").all(|s| s.lines().count() <= 21));
    if have_real() {
        for args in [
            vec![
                "tsdb",
                "analyze",
                "--limit=1000",
                d,
                "01M85CXYVRJ6HYA3W6VDVCB8P1",
            ],
            vec![
                "tsdb",
                "analyze",
                "--limit=1000",
                "--extended",
                d,
                "01M85CXYVRJ6HYA3W6VDVCB8P1",
            ],
            vec![
                "tsdb",
                "analyze",
                "--limit=1000",
                d,
                "01M85CXYWR3TRMDYNGDS7663D1",
            ],
        ] {
            assert_eq!(
                sections(&stdout_of(ours(), &args)),
                sections(&stdout_of(REAL_PROMTOOL, &args)),
                "{args:?}"
            );
        }
    }
    let out = run(ours(), &["tsdb", "analyze", d, "01NOPE"]);
    assert_eq!(out.status.code(), Some(1));
    // Prometheus 3's text (2.42: "block 01NOPE not found").
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "invalid block ID 01NOPE\n"
    );
}

#[test]
fn analyze_match_restricts_the_series() {
    let Some((_tmp, dir)) = blocks_dir() else {
        return;
    };
    let d = dir.to_str().expect("utf-8 path");
    let out = stdout_of(
        ours(),
        &["tsdb", "analyze", "--match=fx_temperature_celsius", d],
    );
    assert!(
        out.contains(
            "\nTotal Series: 9\nMatcher: fx_temperature_celsius\nLabel names: 3\nMatched series: 3\n"
        ),
        "{out}"
    );
    // The newest block holds 26 samples per series in one chunk each (Go's bucket labels
    // are one off: a chunk of 190 bytes counts under [191, 200]).
    let extended = stdout_of(
        ours(),
        &[
            "tsdb",
            "analyze",
            "--extended",
            "--match=fx_temperature_celsius",
            d,
        ],
    );
    let hashes = "#".repeat(100);
    let third = "#".repeat(33);
    assert!(
        extended.ends_with(&format!(
            "\nCompaction analysis:\n\n\
             samples per float chunk (min/avg/max): 26/26/26\n[21, 30]: 3 {hashes}\n[31, 40]: 0 \n\n\
             bytes per float chunk (min/avg/max): 175/184/190\n[171, 180]: 1 {third}\n\
             [181, 190]: 1 {third}\n[191, 200]: 1 {third}\n[201, 210]: 0 \n\n\
             samples per histogram chunk: N/A\n\nbytes per histogram chunk: N/A\n\n\
             buckets per histogram chunk: N/A\n\n"
        )),
        "{extended}"
    );
    assert!(
        out.ends_with("Highest cardinality metric names:\n3 fx_temperature_celsius\n"),
        "{out}"
    );
}

#[test]
fn query_against_a_data_dir_reads_the_input_samples() {
    let Some((_tmp, dir)) = blocks_dir() else {
        return;
    };
    let before = fingerprint(&dir);
    let d = dir.to_str().expect("utf-8 path");
    // blocks-input.om: fx_temperature_celsius{instance="host-1",...} 24.26054 at 1700000030.
    let out = stdout_of(
        ours(),
        &[
            "query",
            "instant",
            "--tsdb.path",
            d,
            "--time=1700000030",
            "fx_temperature_celsius{instance=\"host-1\"}",
        ],
    );
    assert_eq!(
        out,
        "fx_temperature_celsius{instance=\"host-1\", room=\"a \\\"quoted\\\" room\"} => 24.26054 @[1700000030]\n"
    );
    let out = stdout_of(
        ours(),
        &[
            "query",
            "-o",
            "json",
            "instant",
            "--tsdb.path",
            d,
            "--time=1700000030",
            "count(fx_requests_total)",
        ],
    );
    assert_eq!(out, "[{\"metric\":{},\"value\":[1700000030,\"6\"]}]\n");
    let out = stdout_of(
        ours(),
        &[
            "query",
            "range",
            "--tsdb.path",
            d,
            "--start=1700000000",
            "--end=1700000060",
            "--step=30s",
            "fx_requests_total{code=\"200\",instance=\"host-0\"}",
        ],
    );
    assert_eq!(
        out,
        "fx_requests_total{code=\"200\", instance=\"host-0\"} =>\n3 @[1700000000]\n6 @[1700000030]\n9 @[1700000060]\n"
    );
    assert_eq!(
        fingerprint(&dir),
        before,
        "the query wrote into the data directory"
    );
    let bad = run(ours(), &["query", "instant", "--tsdb.path", d, "sum("]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).starts_with("query error: "));
}

#[test]
fn dump_of_a_wal_only_data_dir_is_identical_to_promtool() {
    let Some((_tmp, dir)) = copy_fixture("prom-2.42/wal-replay") else {
        return;
    };
    let before = fingerprint(&dir);
    let d = dir.to_str().expect("utf-8 path");
    let ours_out = stdout_of(ours(), &["tsdb", "dump", d]);
    assert_eq!(
        fingerprint(&dir),
        before,
        "dump wrote into the data directory"
    );
    // truth.json's `up` samples were taken before the kill: they are in the WAL.
    assert!(
        ours_out.contains("{__name__=\"up\", instance=\"127.0.0.1:19090\", job=\"self\"} 1 "),
        "no up sample"
    );
    // Prometheus 3's promtool lists a head's series in creation order, as we do; 2.42's
    // sorted them, so against it the lines are compared as sets.
    if let Some(p3) = super::promtool3() {
        assert_eq!(ours_out, stdout_of(&p3, &["tsdb", "dump", d]));
    }
    if have_real() {
        let sorted = |s: &str| {
            let mut lines: Vec<String> = s.lines().map(str::to_string).collect();
            lines.sort_unstable();
            lines
        };
        assert_eq!(
            sorted(&ours_out),
            sorted(&stdout_of(REAL_PROMTOOL, &["tsdb", "dump", d]))
        );
    }
}

#[test]
fn errors_read_like_promtool() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("missing");
    let m = missing.to_str().expect("utf-8 path");
    for cmd in ["list", "dump", "analyze"] {
        let out = run(ours(), &["tsdb", cmd, m]);
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("opening the db dir: stat {m}: no such file or directory\n"),
            "{cmd}"
        );
    }
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(empty.join("wal")).expect("mkdir");
    let e = empty.to_str().expect("utf-8 path");
    let out = run(ours(), &["tsdb", "analyze", e]);
    assert_eq!(out.status.code(), Some(1));
    // Prometheus 3's text (2.42: "block  not found").
    assert_eq!(String::from_utf8_lossy(&out.stderr), "no blocks found\n");
    assert_eq!(stdout_of(ours(), &["tsdb", "dump", e]), "");
    let list = stdout_of(ours(), &["tsdb", "list", e]);
    if have_real() {
        assert_eq!(list, stdout_of(REAL_PROMTOOL, &["tsdb", "list", e]));
        for cmd in ["list", "dump", "analyze"] {
            let real = run(REAL_PROMTOOL, &["tsdb", cmd, m]);
            assert_eq!(
                String::from_utf8_lossy(&real.stderr),
                format!("opening the db dir: stat {m}: no such file or directory\n"),
                "{cmd}"
            );
        }
    }
}

/// `tsdb bench write` on a generated samples file (upstream's 20kseries.json layout: one
/// JSON object of labels a line): Go's stage lines, `--metrics` distinct series,
/// `--scrapes` rounded up to whole rounds of 100, each series counting up by 1000 every
/// 30 s (from 123456789 again each round, as Go does), readable back by our `tsdb dump` and by promtool 2.42's.
#[test]
fn bench_write_ingests_the_series_file_into_a_fresh_tsdb() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut lines = String::new();
    for i in 0..1300 {
        // Every 100th line repeats the one before, in another label order.
        let n = if i % 100 == 99 { i - 1 } else { i };
        if i % 100 == 99 {
            lines.push_str(&format!(
                "{{\"job\":\"bench\",\"instance\":\"host-{n}\",\"__name__\":\"metric_{}\"}}\n",
                n % 40
            ));
        } else {
            lines.push_str(&format!(
                "{{\"__name__\":\"metric_{}\",\"instance\":\"host-{n}\",\"job\":\"bench\"}}\n",
                n % 40
            ));
        }
    }
    let file = tmp.path().join("series.json");
    std::fs::write(&file, lines).expect("write");
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).expect("mkdir");
    std::fs::write(out_dir.join("stale"), "removed first").expect("write");
    let out = run(
        ours(),
        &[
            "tsdb",
            "bench",
            "write",
            "--metrics=1200",
            "--scrapes=150",
            &format!("--out={}", out_dir.display()),
            file.to_str().expect("UTF-8"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stages: Vec<&str> = stdout
        .lines()
        .map(|l| l.split(" duration=").next().unwrap_or(l))
        .map(|l| l.split(": ").next().unwrap_or(l))
        .collect();
    assert_eq!(
        stages,
        [
            ">> start stage=readData",
            ">> completed stage=readData",
            ">> start stage=ingestScrapes",
            "ingestion completed",
            ">> completed stage=ingestScrapes",
            " > total samples",
            " > samples/sec",
            ">> start stage=stopStorage",
            ">> completed stage=stopStorage",
        ],
        "{stdout}"
    );
    // 1200 distinct series (the repeated lines skipped), 2 rounds of 100 scrapes.
    assert!(stdout.contains("\n > total samples: 240000\n"), "{stdout}");
    assert!(!out_dir.join("stale").exists());
    let storage = out_dir.join("storage");
    let storage = storage.to_str().expect("UTF-8");
    let matcher = "--match={instance=\"host-7\"}";
    let dump = run(ours(), &["tsdb", "dump", matcher, storage]);
    let dump = String::from_utf8_lossy(&dump.stdout).into_owned();
    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(lines.len(), 200, "{dump}");
    assert_eq!(
        lines[0],
        "{__name__=\"metric_7\", instance=\"host-7\", job=\"bench\"} 1.23457789e+08 30000"
    );
    assert_eq!(
        lines[199],
        "{__name__=\"metric_7\", instance=\"host-7\", job=\"bench\"} 1.23556789e+08 6000000"
    );
    if have_real() {
        let go = run(REAL_PROMTOOL, &["tsdb", "dump", storage]);
        let go = String::from_utf8_lossy(&go.stdout);
        let go: Vec<&str> = go
            .lines()
            .filter(|l| l.contains("instance=\"host-7\""))
            .collect();
        assert!(go == lines, "promtool 2.42 reads other samples: {go:?}");
    }

    let out = run(
        ours(),
        &[
            "tsdb",
            "bench",
            "write",
            &format!("--out={}", out_dir.display()),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("open ../../tsdb/testdata/20kseries.json: no such file or directory"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
