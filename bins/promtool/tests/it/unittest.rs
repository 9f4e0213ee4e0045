//! `promtool test rules`: upstream unit-test files, with Prometheus 3's expectations
//! (cmd/promtool/unittest_test.go; the `@` modifier and negative offsets are always on),
//! and output identical to promtool 2.42 where both agree.

use std::path::Path;
use std::process::{Command, Output};

use super::{REAL_PROMTOOL, have_real, ours, text};

fn test_rules(bin: &str, dir: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .current_dir(dir)
        .args(["test", "rules"])
        .args(args)
        .output()
        .expect("promtool runs")
}

#[test]
fn upstream_unit_test_files_pass_or_fail_like_prometheus_3() {
    let Some(dir) = test_support::testdata_dir("upstream/cmd/promtool/testdata") else {
        return;
    };
    let cases: &[(&[&str], i32)] = &[
        (&["long-period.yml"], 0),
        (&["bad-input-series.yml"], 1),
        (&["bad-promql.yml"], 1),
        (&["bad-rules-syntax-test.yml"], 1),
        (&["bad-rules-error-test.yml"], 1),
        (&["failing.yml"], 1),
        (&["at-modifier-test.yml"], 0),
        (&["negative-offset-test.yml"], 0),
        (&["no-test-group-interval.yml"], 0),
        (&["start-time-test.yml"], 0),
        (&["rules_run.yml"], 1),
        (&["--run", "correct", "--run", "wrong", "rules_run.yml"], 1),
        (&["--run", "correct", "rules_run.yml"], 0),
        (&["--run", "wrong", "rules_run.yml"], 1),
        (&["rules_run_no_fuzzy.yml"], 1),
        (&["--run", "correct", "rules_run_fuzzy.yml"], 0),
        (&["--run", "wrong", "rules_run_fuzzy.yml"], 1),
        (&["rules_run_extrafields.yml"], 1),
        (&["--ignore-unknown-fields", "rules_run_extrafields.yml"], 0),
    ];
    for (args, code) in cases {
        let out = test_rules(ours(), &dir, args);
        assert_eq!(out.status.code(), Some(*code), "{args:?}:\n{}", text(&out));
        let file = args.last().expect("a file");
        assert!(
            text(&out).starts_with(&format!("Unit Testing:  {file}\n")),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn failures_print_exactly_like_promtool() {
    let Some(dir) = test_support::testdata_dir("upstream/cmd/promtool/testdata") else {
        return;
    };
    let out = test_rules(ours(), &dir, &["failing.yml"]);
    let msg = text(&out);
    assert!(msg.contains("    name: Failing test,\n    alertname: Test, time: 0s, \n        exp:[\n            0:\n              Labels:{alertname=\"Test\"}\n              Annotations:{}\n            ], \n        got:[]\n"), "{msg}");
    assert!(msg.contains("    expr: \"test\", time: 0s,\n        exp: {__name__=\"test\"} 1E+00\n        got: {__name__=\"test\"} 0E+00\n"), "{msg}");
    let out = test_rules(ours(), &dir, &["bad-rules-error-test.yml"]);
    assert!(text(&out).contains("    rule: joined, time: 0s, err: found duplicate series for the match group {a=\"1\"} on the right hand-side of the operation"), "{}", text(&out));
    if have_real() {
        for file in ["failing.yml", "bad-rules-syntax-test.yml", "rules_run.yml"] {
            let go = test_rules(REAL_PROMTOOL, &dir, &[file]);
            let ours = test_rules(ours(), &dir, &[file]);
            assert_eq!(go.stdout, ours.stdout, "{file}: stdout differs");
            assert_eq!(text(&go), text(&ours), "{file}: output differs");
            assert_eq!(go.status.code(), ours.status.code(), "{file}");
        }
    }
}

/// upstream's unittest.yml without its native-histogram cases (not supported yet).
#[test]
fn upstream_unittest_without_histograms_passes() {
    let Some(dir) = test_support::testdata_dir("upstream/cmd/promtool/testdata") else {
        return;
    };
    let full = std::fs::read_to_string(dir.join("unittest.yml")).expect("readable");
    let mut kept = String::new();
    let mut skip_lines = 0;
    let mut in_histograms = false;
    for line in full.lines() {
        if line.contains("- series: test_histogram") {
            skip_lines = 2;
        }
        if line.trim() == "# Histograms" {
            in_histograms = true;
        }
        if in_histograms && line.contains("# Ensure a value is stale") {
            in_histograms = false;
        }
        if skip_lines > 0 {
            skip_lines -= 1;
            continue;
        }
        if !in_histograms {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    assert!(!kept.contains("histogram"), "{kept}");
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("unittest.yml"), kept).expect("write");
    std::fs::copy(dir.join("rules.yml"), tmp.path().join("rules.yml")).expect("copy rules");
    let out = test_rules(ours(), tmp.path(), &["unittest.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out), "Unit Testing:  unittest.yml\n  SUCCESS\n\n");
}
