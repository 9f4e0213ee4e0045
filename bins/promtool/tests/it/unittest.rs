//! `promtool test rules`: upstream unit-test files, with Prometheus 3's expectations
//! (cmd/promtool/unittest_test.go; the `@` modifier and negative offsets are always on),
//! and output identical to promtool 2.42 where both agree.

use std::path::Path;
use std::process::{Command, Output};

use super::{ours, promtool3, text};

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
        // 3.x no longer prints a `Unit Testing:  FILE` line first (2.42 did).
        let msg = text(&out);
        let ok = if *code == 0 {
            msg.starts_with("  SUCCESS\n")
        } else {
            msg.contains("  FAILED:\n")
        };
        assert!(ok && !msg.contains("Unit Testing:"), "{msg}");
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
    // Compared with promtool 3.x: 2.42 printed a `Unit Testing:  FILE` line first.
    if let Some(real) = promtool3() {
        for file in ["failing.yml", "bad-rules-syntax-test.yml", "rules_run.yml"] {
            let go = test_rules(&real, &dir, &[file]);
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
    assert_eq!(text(&out), "  SUCCESS\n\n");
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

/// Our own suite: group `passes` passes, the unnamed second group's alert test fails
/// (expected `sev: ticket` and no annotation; the rule gives `sev: page` and a summary).
fn write_suite(dir: &Path) {
    std::fs::write(
        dir.join("rules.yml"),
        r#"groups:
  - name: g
    rules:
      - alert: High
        expr: m > 1
        labels:
          sev: page
        annotations:
          summary: "{{ $value }}"
      - record: m:x2
        expr: m * 2
"#,
    )
    .expect("write");
    std::fs::write(
        dir.join("t.yml"),
        r#"rule_files: [rules.yml]
tests:
  - name: passes
    interval: 1m
    input_series:
      - series: m{i="a"}
        values: "1 2 3"
    alert_rule_test:
      - alertname: High
        eval_time: 2m
        exp_alerts:
          - exp_labels: {i: a, sev: page}
            exp_annotations: {summary: "3"}
    promql_expr_test:
      - expr: m:x2
        eval_time: 2m
        exp_samples:
          - labels: m:x2{i="a"}
            value: 6
  - interval: 1m
    input_series:
      - series: m{i="a"}
        values: "1 2 3"
    alert_rule_test:
      - alertname: High
        eval_time: 2m
        exp_alerts:
          - exp_labels: {i: a, sev: ticket}
"#,
    )
    .expect("write");
    std::fs::write(dir.join("bad.yml"), "rule_filez: []\n").expect("write");
}

/// `--junit=FILE` (a flag of `test`, accepted after `rules` too) writes Go's junitxml
/// layout: a suite per file, a case per test group (`unnamed#N` without a name), each
/// failure message escaped as `encoding/xml` does, a file that cannot run as an `error` of
/// an `unknown` case.
#[test]
fn junit_reports_suites_cases_and_failures_as_go_writes_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_suite(tmp.path());
    let out = Command::new(ours())
        .current_dir(tmp.path())
        .args(["test", "--junit=report.xml", "rules", "t.yml", "bad.yml"])
        .output()
        .expect("promtool runs");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let xml = std::fs::read_to_string(tmp.path().join("report.xml")).expect("report");
    // The suite's timestamp is the wall clock: checked for its form, then blanked.
    let at = xml.find("timestamp=\"").expect("a timestamp") + "timestamp=\"".len();
    let stamp = &xml[at..at + 19];
    assert!(
        stamp.len() == 19 && stamp.as_bytes()[10] == b'T' && stamp.as_bytes()[4] == b'-',
        "{stamp}"
    );
    let xml = xml.replacen(stamp, "T", 1);
    assert_eq!(
        xml,
        "<testsuites>\
         <testsuite name=\"t.yml\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\" timestamp=\"T\">\
         <testcase name=\"passes\"></testcase>\
         <testcase name=\"unnamed#1\"><failure>    alertname: High, time: 2m, &#xA;        exp:[&#xA;            0:&#xA;              \
         Labels:{alertname=&#34;High&#34;, i=&#34;a&#34;, sev=&#34;ticket&#34;}&#xA;              Annotations:{}&#xA;            ], &#xA;        \
         got:[&#xA;            0:&#xA;              Labels:{alertname=&#34;High&#34;, i=&#34;a&#34;, sev=&#34;page&#34;}&#xA;              \
         Annotations:{summary=&#34;3&#34;}&#xA;            ]</failure></testcase>\
         </testsuite>\
         <testsuite name=\"bad.yml\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" timestamp=\"\">\
         <testcase name=\"unknown\"><error>yaml: unmarshal errors:&#xA;  line 1: field rule_filez not found in type main.unitTestFile</error></testcase>\
         </testsuite></testsuites>"
    );
    // `--junit` after `rules`, and `--run` selecting only the passing group.
    let out = test_rules(
        ours(),
        tmp.path(),
        &["--run", "pass", "--junit", "r2.xml", "t.yml"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let xml = std::fs::read_to_string(tmp.path().join("r2.xml")).expect("report");
    assert!(
        xml.contains("tests=\"1\" failures=\"0\" errors=\"0\""),
        "{xml}"
    );
    assert!(
        xml.contains("<testcase name=\"passes\"></testcase></testsuite>"),
        "{xml}"
    );
}

/// `--diff` words an alert mismatch as Go's promtool 3 does: the expected and received
/// alerts as a colored JSON diff.
#[test]
fn diff_shows_alert_mismatches_as_a_colored_json_diff() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_suite(tmp.path());
    let out = test_rules(ours(), tmp.path(), &["--diff", "t.yml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (g, y, e) = ("\x1b[0;32m", "\x1b[0;33m", "\x1b[0m");
    let want = format!(
        "  FAILED:\n    alertname: High, time: 2m, \n        diff: [\n                {{\n                    \"Annotations\": {{\n                        {g}\"summary\": \"3\"{e}\n                    }},\n                    \"Labels\": {{\n                        \"alertname\": \"High\",\n                        \"i\": \"a\",\n                        \"sev\": {y}\"ticket\" => \"page\"{e}\n                    }}\n                }}\n            ]\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), want);
}

/// `--debug` reports each group's start and end and dumps all series (input and rule
/// results) over `(0, last eval time + 1s]` (a left-open range, as in Prometheus 3).
#[test]
fn debug_dumps_every_series_of_a_group() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_suite(tmp.path());
    let out = test_rules(ours(), tmp.path(), &["--debug", "--run", "passes", "t.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(
            "DEBUG: Starting test passes\nDEBUG: Dump of all data (input_series and rules) at 2m1s:\n"
        ),
        "{stdout}"
    );
    for series in [
        "{__name__=\"ALERTS\", alertname=\"High\", alertstate=\"firing\", i=\"a\", sev=\"page\"} =>\n1 @[60000]\n1 @[120000]\n",
        "{__name__=\"ALERTS_FOR_STATE\", alertname=\"High\", i=\"a\", sev=\"page\"} =>\n60 @[60000]\n60 @[120000]\n",
        "{__name__=\"m\", i=\"a\"} =>\n2 @[60000]\n3 @[120000]\n",
        "{__name__=\"m:x2\", i=\"a\"} =>\n4 @[60000]\n6 @[120000]\n",
    ] {
        assert!(stdout.contains(series), "{series} missing:\n{stdout}");
    }
    let end = stdout
        .lines()
        .find(|l| l.starts_with("DEBUG: Test passes finished, took "))
        .unwrap_or_else(|| panic!("no end line:\n{stdout}"));
    assert!(end.ends_with('s'), "{end}");
    assert!(stdout.ends_with("  SUCCESS\n\n"), "{stdout}");
}

/// The flags of `promtool test rules --help` are Prometheus 3's.
#[test]
fn test_rules_help_lists_prometheus_3_flags() {
    let out = Command::new(ours())
        .args(["test", "rules", "--help"])
        .output()
        .expect("promtool runs");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--junit",
        "--run",
        "--debug",
        "--diff",
        "--ignore-unknown-fields",
    ] {
        assert!(help.contains(flag), "{flag} missing:\n{help}");
    }
}
