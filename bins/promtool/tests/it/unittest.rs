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

/// upstream's unittest.yml passes whole, its native-histogram input series (`{{...}}`)
/// and `histogram:` expected samples included.
#[test]
fn upstream_unittest_passes() {
    let Some(dir) = test_support::testdata_dir("upstream/cmd/promtool/testdata") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    for f in ["unittest.yml", "rules.yml"] {
        std::fs::copy(dir.join(f), tmp.path().join(f)).expect("copy");
    }
    let out = test_rules(ours(), tmp.path(), &["unittest.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out), "Unit Testing:  unittest.yml\n  SUCCESS\n\n");
}

/// A wrong expected histogram fails with Go's message: both sides in the test notation.
#[test]
fn a_wrong_expected_histogram_is_reported_in_the_notation() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("rules.yml"), "groups: []\n").expect("write");
    std::fs::write(
        tmp.path().join("t.yml"),
        r#"rule_files: [rules.yml]
tests:
  - interval: 1m
    input_series:
      - series: h
        values: "{{sum:3 count:2 buckets:[2]}}x2"
    promql_expr_test:
      - expr: h
        eval_time: 1m
        exp_samples:
          - labels: h
            histogram: "{{sum:3 count:3 buckets:[3]}}"
"#,
    )
    .expect("write");
    let out = test_rules(ours(), tmp.path(), &["t.yml"]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(
        t.contains(
            "    expr: \"h\", time: 1m,\n        exp: {__name__=\"h\"} {{count:3 sum:3 buckets:[3]}}\n        got: {__name__=\"h\"} {{count:2 sum:3 counter_reset_hint:not_reset buckets:[2]}}"
        ),
        "{t}"
    );
}

/// A recording rule over native histograms records histograms that `exp_samples` match in
/// the test notation (the sum of two input histograms, read back from storage with the
/// `not_reset` hint of a chunk's later samples, as upstream's unittest.yml expects).
#[test]
fn recorded_histograms_match_expected_histogram_samples() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        tmp.path().join("rules.yml"),
        "groups:\n  - name: g\n    rules:\n      - record: job:h:sum\n        expr: sum by (job) (h)\n",
    )
    .expect("write");
    std::fs::write(
        tmp.path().join("t.yml"),
        r#"rule_files: [rules.yml]
tests:
  - interval: 1m
    input_series:
      - series: h{job="a", i="1"}
        values: "{{sum:3 count:2 buckets:[2]}}x2"
      - series: h{job="a", i="2"}
        values: "{{sum:1 count:1 z_bucket:1 z_bucket_w:0.001}}x2"
    promql_expr_test:
      - expr: job:h:sum
        eval_time: 2m
        exp_samples:
          - labels: job:h:sum{job="a"}
            histogram: "{{count:3 sum:4 z_bucket:1 z_bucket_w:0.001 counter_reset_hint:not_reset buckets:[2]}}"
      - expr: histogram_count(job:h:sum)
        eval_time: 2m
        exp_samples:
          - labels: '{job="a"}'
            value: 3
"#,
    )
    .expect("write");
    let out = test_rules(ours(), tmp.path(), &["t.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
