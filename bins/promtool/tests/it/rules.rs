//! `promtool check rules`: upstream rule files and rulefmt test data, compared with the real
//! promtool 2.42 where both follow the same semantics.

use std::path::Path;

use super::{REAL_PROMTOOL, have_real, ours, run, text};

/// (file under cmd/promtool/testdata, exit code, a phrase of the output)
const CASES: &[(&str, i32, &str)] = &[
    ("rules.yml", 0, "  SUCCESS: 5 rules found\n"),
    (
        "rules-bad.yml",
        1,
        "rules-bad.yml: group \"alerts\", rule 1, \"InstanceDown\": annotation \"summary\": template: __alert_InstanceDown:1: undefined variable \"$label\"",
    ),
    (
        "rules_duplicates.yml",
        0,
        "lint error 1 duplicate rule(s) found.\nMetric: job:test:count_over_time1m\nLabel(s):\nMight cause inconsistency while recording expressions",
    ),
    (
        "rules_extrafields.yml",
        1,
        "rules_extrafields.yml: yaml: unmarshal errors:\n  line 7: field namespace not found in type rulefmt.RuleGroup",
    ),
    ("bad-rules-error.yml", 0, "  SUCCESS: 1 rules found"),
    (
        "bad-rules-syntax.yml",
        1,
        "bad-rules-syntax.yml: 7:15: group \"bad-syntax\", rule 1, \"x\": could not parse expression: 1:7: parse error: unexpected end of input",
    ),
    (
        "bad-promql.yml",
        1,
        "bad-promql.yml: yaml: unmarshal errors:\n  line 1: field tests not found in type rulefmt.RuleGroups",
    ),
    (
        "prometheus-rules.lint.yml",
        0,
        "lint error 1 duplicate rule(s) found.\nMetric: HighRequestLatency\nLabel(s):\n\tseverity: page\n",
    ),
];

fn check_rules(bin: &str, dir: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(bin);
    cmd.current_dir(dir).args(["check", "rules"]).args(args);
    cmd.output().expect("promtool runs")
}

#[test]
fn upstream_rule_files_check_like_promtool() {
    let Some(dir) = test_support::testdata_dir("upstream/cmd/promtool/testdata") else {
        return;
    };
    let real = have_real();
    for (file, code, phrase) in CASES {
        let out = check_rules(ours(), &dir, &[file]);
        let msg = text(&out);
        assert_eq!(out.status.code(), Some(*code), "{file}:\n{msg}");
        assert!(msg.starts_with(&format!("Checking {file}\n")), "{msg}");
        assert!(msg.contains(phrase), "{file}: lacks {phrase:?}:\n{msg}");
        if real {
            let go = check_rules(REAL_PROMTOOL, &dir, &[file]);
            assert_eq!(
                go.status.code(),
                out.status.code(),
                "{file}: promtool 2.42 said\n{}",
                text(&go)
            );
            assert!(
                text(&go).contains(phrase),
                "{file}: 2.42 lacks {phrase:?}:\n{}",
                text(&go)
            );
        }
    }
}

#[test]
fn lint_fatal_exits_3_and_lint_none_passes() {
    let Some(dir) = test_support::testdata_dir("upstream/cmd/promtool/testdata") else {
        return;
    };
    let out = check_rules(ours(), &dir, &["--lint-fatal", "rules_duplicates.yml"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let out = check_rules(
        ours(),
        &dir,
        &["--lint=none", "--lint-fatal", "rules_duplicates.yml"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("  SUCCESS: 5 rules found"),
        "{}",
        text(&out)
    );
    let out = check_rules(
        ours(),
        &dir,
        &["--ignore-unknown-fields", "rules_extrafields.yml"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // An error in one file fails the run even when the others are fine.
    let out = check_rules(ours(), &dir, &["rules.yml", "bad-rules-syntax.yml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    if have_real() {
        let go = check_rules(
            REAL_PROMTOOL,
            &dir,
            &["--lint-fatal", "rules_duplicates.yml"],
        );
        assert_eq!(go.status.code(), Some(3), "{}", text(&go));
    }
}

#[test]
fn rules_from_standard_input() {
    use std::io::Write as _;
    let mut child = std::process::Command::new(ours())
        .args(["check", "rules"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up\n")
        .expect("write");
    let out = child.wait_with_output().expect("promtool exits");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        text(&out),
        "Checking standard input\n  SUCCESS: 1 rules found\n\n"
    );
}

#[test]
fn upstream_rulefmt_bad_files_fail() {
    let Some(dir) = test_support::testdata_dir("upstream/model/rulefmt/testdata") else {
        return;
    };
    for entry in std::fs::read_dir(&dir).expect("readable") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let out = run(
            ours(),
            &[
                "check",
                "rules",
                "--lint=none",
                path.to_str().expect("UTF-8"),
            ],
        );
        // Prometheus 3 accepts UTF-8 annotation names, so the "legacy" bad file passes.
        let want = if name.ends_with(".bad.yaml") && !name.starts_with("legacy_") {
            1
        } else {
            0
        };
        assert_eq!(out.status.code(), Some(want), "{name}:\n{}", text(&out));
    }
}
