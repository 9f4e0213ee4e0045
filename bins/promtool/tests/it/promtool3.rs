//! Side by side with the real promtool 3.x (`PROMTOOL3_BIN`, else `/tmp/promtool35`): the
//! same invocations on upstream's test data must give the same stdout, stderr and exit code.
//! Skipped with a notice when that binary is absent (CI machines don't have it). The cases
//! are the ones that agree; where ours differs on purpose (upstream main's newer config
//! fields, discoveries Debian's build lacks, `start_timestamp` in unit tests, `check metrics
//! --lint` and `--extended` with lint problems) they are left out, saying why. Each test
//! prints how many invocations it compared (`--nocapture`).

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::{ours, promtool3};

/// One invocation: arguments, the directory it runs in (relative paths as upstream's tests
/// use them), and what it reads on standard input.
struct Case<'a> {
    args: Vec<String>,
    cwd: &'a Path,
    stdin: Option<&'a [u8]>,
}

impl<'a> Case<'a> {
    /// `promtool ARGS` in `cwd`, reading nothing.
    fn new(a: &[&str], cwd: &'a Path) -> Case<'a> {
        Case {
            args: args(a),
            cwd,
            stdin: None,
        }
    }
}

fn run_in(bin: &str, case: &Case<'_>) -> Output {
    let mut child = Command::new(bin)
        .args(&case.args)
        .current_dir(case.cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    let input = case.stdin.unwrap_or_default();
    // promtool may exit before reading everything: a closed pipe is its answer.
    match child.stdin.take().expect("piped stdin").write_all(input) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("writing stdin: {e}"),
        _ => {}
    }
    child.wait_with_output().expect("promtool runs")
}

/// Runs every case with both binaries and fails listing every one whose exit code, stdout
/// or stderr differ.
fn assert_agree(real: &str, cases: &[Case<'_>]) {
    let mut diffs = Vec::new();
    for case in cases {
        let (a, b) = (run_in(ours(), case), run_in(real, case));
        if a.status.code() != b.status.code() || a.stdout != b.stdout || a.stderr != b.stderr {
            diffs.push(format!(
                "promtool {} (in {}):\n-- ours: exit {:?}\n{}{}\n-- 3.x: exit {:?}\n{}{}",
                case.args.join(" "),
                case.cwd.display(),
                a.status.code(),
                String::from_utf8_lossy(&a.stdout),
                String::from_utf8_lossy(&a.stderr),
                b.status.code(),
                String::from_utf8_lossy(&b.stdout),
                String::from_utf8_lossy(&b.stderr),
            ));
        }
    }
    // Seen with `--nocapture`: how many invocations this test compared.
    eprintln!(
        "promtool3: {} of {} invocations identical",
        cases.len() - diffs.len(),
        cases.len()
    );
    assert!(
        diffs.is_empty(),
        "{} of {} invocations differ from promtool 3.x:\n{}",
        diffs.len(),
        cases.len(),
        diffs.join("\n")
    );
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_string()).collect()
}

#[test]
fn check_and_test_commands_agree_with_promtool_3() {
    let Some(real) = promtool3() else { return };
    let Some(pt) = test_support::testdata_dir("upstream/cmd/promtool") else {
        return;
    };
    let Some(rulefmt) = test_support::testdata_dir("upstream/model/rulefmt") else {
        return;
    };
    let mut cases = Vec::new();
    let configs = [
        "prometheus-config.good.yml",
        "prometheus-config.lint.yml",
        "prometheus-config.lint.too_long_scrape_interval.yml",
        "config_with_rule_files.yml",
        "config_with_service_discovery_files.yml",
        "config_with_tls_files.yml",
        "authorization_credentials_file.bad.yml",
        "authorization_credentials_file.good.yml",
        "url_in_scrape_targetgroup_with_relabel_config.bad.yml",
        "url_in_alert_targetgroup_with_relabel_config.good.yml",
    ];
    for f in configs {
        let p = format!("testdata/{f}");
        for lint in ["--lint=all", "--lint=none", "--lint=bogus", "--lint-fatal"] {
            cases.push(Case::new(&["check", "config", lint, &p], &pt));
        }
        cases.push(Case::new(&["check", "config", "--syntax-only", &p], &pt));
    }
    let rule_files = [
        "rules.yml",
        "rules-bad.yml",
        "rules_duplicates.yml",
        "rules_large.yml",
        "bad-rules-syntax.yml",
        "negative-offset.yml",
        "at-modifier.yml",
        "prometheus-rules.lint.yml",
    ];
    for f in rule_files {
        let p = format!("testdata/{f}");
        for lint in ["--lint=all", "--lint=none", "--lint=bogus", "--lint-fatal"] {
            cases.push(Case::new(&["check", "rules", lint, &p], &pt));
        }
    }
    cases.push(Case::new(
        &["check", "rules", "testdata/nonexistent.yml"],
        &pt,
    ));
    cases.push(Case::new(
        &["check", "config", "testdata/nonexistent.yml"],
        &pt,
    ));
    let bad_rulefmt = [
        "bad_expr.bad.yaml",
        "bad_field.bad.yaml",
        "invalid_label_name.bad.yaml",
        "invalid_record_name.bad.yaml",
        "noexpr.bad.yaml",
        "record_and_alert.bad.yaml",
        "record_and_for.bad.yaml",
        "utf-8_lname.good.yaml",
        "test.yaml",
    ];
    for f in bad_rulefmt {
        cases.push(Case::new(
            &["check", "rules", &format!("testdata/{f}")],
            &rulefmt,
        ));
    }
    // Unit tests, failing ones included: the failure text must match.
    for f in [
        "unittest.yml",
        "failing.yml",
        "rules_run.yml",
        "rules_run_fuzzy.yml",
        "rules_run_no_fuzzy.yml",
        "bad-rules-syntax-test.yml",
        "at-modifier-test.yml",
        "negative-offset-test.yml",
        "no-test-group-interval.yml",
    ] {
        let p = format!("testdata/{f}");
        cases.push(Case::new(&["test", "rules", &p], &pt));
        cases.push(Case::new(&["test", "rules", "--diff", &p], &pt));
    }
    cases.push(Case::new(
        &["test", "rules", "--run=correct", "testdata/rules_run.yml"],
        &pt,
    ));
    assert_agree(&real, &cases);
}

/// Rule files of upstream's test data that promtool 3.5.3 and we check differently.
const RULES_DIFFER: &[(&str, &str)] = &[(
    "features.yml",
    "upstream main's experimental PromQL (anchored range selectors, fill modifiers), which 3.5 cannot parse",
)];

/// Broken rule files of every kind go-yaml v3 and rulefmt report: syntax errors, collected
/// type errors (unknown and repeated fields, values of the wrong kind, in Go's types),
/// duration errors, nulls, validation at `0:0` and at the rule's nodes.
const BROKEN_RULES: &[(&str, &str)] = &[
    (
        "r01_dupgrp_empty.yml",
        "groups:\n- name: \"\"\n- name: \"\"\n",
    ),
    (
        "r02_interval.yml",
        "groups:\n- name: a\n  interval: abc\n  rules: []\n",
    ),
    (
        "r03_limit.yml",
        "groups:\n- name: a\n  limit: abc\n  rules: []\n",
    ),
    ("r04_rules_str.yml", "groups:\n- name: a\n  rules: abc\n"),
    ("r05_groups_str.yml", "groups: abc\n"),
    (
        "r06_for.yml",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    for: soon\n",
    ),
    (
        "r07_labels_seq.yml",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    labels: [a]\n",
    ),
    ("r08_dupkey.yml", "groups:\n- name: a\n  name: b\n"),
    (
        "r09_dupkey_rule.yml",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    alert: y\n    expr: up\n",
    ),
    (
        "r12_multi_unknown.yml",
        "groups:\n- name: a\n  foo: 1\n  rules:\n  - alert: x\n    expr: up\n    bar: 2\n- name: b\n  baz: 3\n",
    ),
    (
        "r13_expr_map.yml",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: {a: b}\n",
    ),
    ("r14_name_seq.yml", "groups:\n- name: [a]\n"),
    ("r15_null_group.yml", "groups:\n- ~\n"),
    (
        "r16_unknown_and_type.yml",
        "foo: 1\ngroups:\n- name: a\n  limit: abc\n",
    ),
    (
        "r17_label_name.yml",
        "groups:\n- name: a\n  labels:\n    \"a-b\": x\n    __name__: y\n  rules:\n  - record: x\n    expr: up\n    labels:\n      __name__: z\n",
    ),
    (
        "r18_int_expr.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: 1\n  - record: y\n    expr: true\n",
    ),
    ("r20_scalar.yml", "hello\n"),
    (
        "r21_record_empty.yml",
        "groups:\n- name: a\n  rules:\n  - record: \"\"\n    expr: up\n",
    ),
    ("r22_bool_limit.yml", "groups:\n- name: a\n  limit: true\n"),
    ("r23_float_limit.yml", "groups:\n- name: a\n  limit: 1.5\n"),
    (
        "r24_query_offset.yml",
        "groups:\n- name: a\n  query_offset: 1x\n",
    ),
    (
        "r25_kff.yml",
        "groups:\n- name: a\n  rules:\n  - alert: a\n    expr: up\n    keep_firing_for: [1]\n",
    ),
    (
        "r26_annot_map.yml",
        "groups:\n- name: a\n  rules:\n  - alert: a\n    expr: up\n    annotations:\n      a: {b: c}\n",
    ),
    (
        "r27_rules_seq_str.yml",
        "groups:\n- name: a\n  rules: [abc]\n",
    ),
    ("r28_docs.yml", "groups: []\n---\nfoo: 1\n"),
    ("r31_group_str.yml", "groups:\n- abc\n"),
    (
        "r32_labels_null.yml",
        "groups:\n- name: a\n  rules:\n  - alert: a\n    expr: up\n    labels:\n      a: ~\n",
    ),
    (
        "r33_recording_fields.yml",
        "groups:\n- name: a\n  rules:\n  - record: a\n    expr: up\n    for: 1m\n    annotations: {a: b}\n    keep_firing_for: 1m\n",
    ),
    (
        "r34_bad_tmpl.yml",
        "groups:\n- name: a\n  rules:\n  - alert: a\n    expr: up\n    labels:\n      a: \"{{ .Foo\"\n    annotations:\n      b: \"{{ $x }}\"\n",
    ),
    (
        "r35_expr_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - alert: a\n    expr: \"sum(up\"\n",
    ),
    (
        "r36_record_braces.yml",
        "groups:\n- name: a\n  rules:\n  - record: \"a{b}\"\n    expr: up\n",
    ),
    ("r37_top_map_dup.yml", "groups: []\ngroups: []\n"),
    (
        "r38_labels_int_key.yml",
        "groups:\n- name: a\n  labels:\n    1: x\n  rules: []\n",
    ),
    ("r39_nested_seq_groups.yml", "groups:\n- [a]\n"),
    ("r40_empty_doc.yml", "---\n"),
    ("r41_empty.yml", ""),
    (
        "r42_merge.yml",
        "base: &b\n  interval: 1m\ngroups:\n- <<: *b\n  name: a\n",
    ),
    (
        "r43_anchor_rule.yml",
        "groups:\n- name: a\n  rules:\n  - &r\n    record: x\n    expr: up\n  - *r\n",
    ),
    // Syntax errors, as go-yaml v3 places them (the line of their context).
    (
        "r10_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - alert: x\n   expr: up\n",
    ),
    ("r11_tab.yml", "groups:\n\t- name: a\n"),
    ("r19_anchor.yml", "groups:\n- *foo\n"),
    ("r29_unclosed.yml", "groups: [\n"),
    ("r30_quote.yml", "groups:\n- name: \"a\n"),
    ("s01_syntax.yml", "groups:\n  - name: a\n   bad: x: y\n"),
    ("s02_syntax.yml", "groups:\n- name: a\n  rules: [a:1\n"),
    ("s03_syntax.yml", "groups:\n\t- name: a\n"),
    ("s04_syntax.yml", "groups:\n- name: \"a\n"),
    ("s05_syntax.yml", "groups:\n- *foo\n"),
    ("s06_syntax.yml", "groups:\n  name a\n  foo: 1\n"),
    ("s07_syntax.yml", "groups: [{name: a]\n"),
    ("s08_syntax.yml", "groups: {name: a\n"),
    ("s09_syntax.yml", "groups:\n  - name: a\n - name: b\n"),
    ("s10_syntax.yml", "groups:\n  - name: 'x\n"),
    ("s11_syntax.yml", "groups: &\n"),
    ("s12_syntax.yml", "groups:\n- name: \"\\q\"\n"),
    (
        "s13_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - alert: x\n   expr: up\n",
    ),
    ("s14_syntax.yml", "groups: [\n"),
    ("s15_syntax.yml", "a: b: c\n"),
    (
        "s16_syntax.yml",
        "groups:\n- name: a\n  rules:\n    - alert: x\n      expr: up\n   - alert: y\n",
    ),
    ("s17_syntax.yml", "groups:\n- name: a\nfoo\n"),
    ("s18_syntax.yml", "groups:\n- name: a\n  - b\n"),
    ("s19_syntax.yml", "{a: 1\n"),
    (
        "s20_syntax.yml",
        "groups:\n  - name: a\n    labels: {a: b, c}\n",
    ),
    ("s21_syntax.yml", "key: \"a\n\nb\n"),
    (
        "s22_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n  labels: x\n    y: z\n",
    ),
    ("s23_syntax.yml", "x: |\n  a\n b: c\n"),
    ("s24_syntax.yml", "- a\n b: c\n"),
    ("s25_syntax.yml", "groups:\n- name: a\n\n  rules: ]\n"),
    (
        "t01_syntax.yml",
        "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n     labels: {}\n",
    ),
    (
        "t02_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: \"up\n",
    ),
    (
        "t03_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n  - record: y\n     expr: up\n",
    ),
    (
        "t04_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    labels:\n      a: b\n     c: d\n",
    ),
    (
        "t05_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: [up\n",
    ),
    (
        "t06_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - {record: x, expr: up\n",
    ),
    (
        "t08_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up}\n",
    ),
    (
        "t09_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: sum(up) by (job)\n    labels: a: b\n",
    ),
    (
        "t10_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: |\n      up\n   foo: bar\n",
    ),
    (
        "t11_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n  - record: y\n   expr: down\n",
    ),
    (
        "t12_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: \"a\\xZZ\"\n",
    ),
    (
        "t13_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    annotations:\n      summary: {{ $value }}\n",
    ),
    (
        "t14_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    annotations:\n      summary: \"{{ $value }}\"\n      description: {{ $labels.instance }} is down\n",
    ),
    (
        "t15_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up > 0\n    for: 5m\n    labels:\n      severity: page\n  - alert: y\n  expr: up\n",
    ),
    (
        "t16_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    labels: [a, b\n",
    ),
    (
        "t17_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: 'up\n",
    ),
    (
        "t18_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n  - alert: y\n    expr: up\n    - alert: z\n",
    ),
    ("t19_syntax.yml", "groups:\n-name: a\n"),
    (
        "t20_syntax.yml",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    annotations:\n      a: b\n      a: c\n",
    ),
    // Tabs libyaml refuses (in indentation, after `- `, left of a scalar's indentation)
    // and the ones it takes (in comments, flow collections and quoted scalars).
    (
        "tab_v04.yml",
        "groups:\n- name: a\n  rules: [\n\t{record: x, expr: up}\n  ]\n",
    ),
    (
        "tab_t07.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n\t\n",
    ),
    ("tab_u1.yml", "groups:\n- name: \"a\"\n\t\n"),
    ("tab_u2.yml", "groups:\n- name: a\n  rules: []\n\t\n"),
    ("tab_u3.yml", "groups:\n- name: a\n  \t\n  rules: []\n"),
    ("tab_u4.yml", "groups:\n- name: a # c\n\t\n"),
    ("tab_u5.yml", "groups:\n- name: a\n    \t\n"),
    (
        "tab_v01.yml",
        "groups:\n- name: a\t\n  rules:\n  - record: x\n    expr: up\t# c\t\n",
    ),
    (
        "tab_v02.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: |\n      sum(x)\n      \tby (y)\n",
    ),
    (
        "tab_v03.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: \"sum(x)\n\t by (y)\"\n",
    ),
    (
        "tab_v05.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: sum(x)\n      \tby (y)\n",
    ),
    (
        "tab_v06.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: a\tb\n",
    ),
    ("tab_v07.yml", "# hello\t\n\t# comment\ngroups: []\n"),
    (
        "tab_v08.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n\n\n  \t\n",
    ),
    (
        "tab_v09.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: >\n      up\n\t\n",
    ),
    (
        "tab_v10.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr:\tup\n",
    ),
    ("tab_v11.yml", "groups:\n- name:\n\t  a\n"),
    (
        "tab_v12.yml",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n---\n\t\n",
    ),
    ("tab_v13.yml", "groups:\n-\tname: a\n"),
    ("tab_v14.yml", "groups:\n- name: 'a\n\tb'\n"),
    ("tab_x1.yml", "groups:\n- name: a\n\t# c\n  rules: []\n"),
    ("tab_x2.yml", "groups: []\n\t# c\n"),
    ("tab_x3.yml", "groups: []\n  \t# c\n"),
    ("tab_x4.yml", "\t# c\ngroups: []\n"),
    ("tab_x5.yml", "groups:\n- name: \"a\"\n\t# c\n"),
    ("tab_x6.yml", "groups: []\n\t\n"),
    ("tab_x7.yml", "groups: []\n\t \n"),
    ("tab_y1.yml", "# a\n\t# c\ngroups: []\n"),
    ("tab_y2.yml", "groups: []\n# a\n\t# c\n"),
    ("tab_y3.yml", "groups:\n- name: a # x\n\t# c\n"),
    ("tab_y4.yml", "groups:\n# a\n\t# c\n- name: a\n"),
    ("tab_y5.yml", "# a\n\t\ngroups: []\n"),
    (
        "tab_y6.yml",
        "groups:\n- name: a\n  # x\n\t# c\n  rules: []\n",
    ),
    ("tab_z1.yml", "groups:\t[]\n"),
    ("tab_z2.yml", "groups: \t[]\n"),
    ("tab_z3.yml", "groups:\n- \tname: a\n"),
    ("tab_z4.yml", "groups:\n-  name: a\n  rules:\t[]\n"),
    ("tab_z5.yml", "groups:\n- name:\ta\n"),
];

#[test]
fn rule_file_errors_agree_with_promtool_3() {
    let Some(real) = promtool3() else { return };
    let Some(upstream) = test_support::testdata_dir("upstream") else {
        return;
    };
    let mut cases = Vec::new();
    for (dir, ext) in [
        ("model/rulefmt/testdata", "yaml"),
        ("rules/fixtures", "yaml"),
        ("cmd/promtool/testdata", "yml"),
    ] {
        let mut names: Vec<String> = std::fs::read_dir(upstream.join(dir))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(ext))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        for name in names {
            if RULES_DIFFER.iter().any(|(n, _)| *n == name) {
                continue;
            }
            let p = format!("{dir}/{name}");
            cases.push(Case::new(&["check", "rules", &p], &upstream));
            cases.push(Case::new(
                &["check", "rules", "--ignore-unknown-fields", &p],
                &upstream,
            ));
        }
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    for (name, body) in BROKEN_RULES {
        std::fs::write(tmp.path().join(name), body).expect("write rule file");
        cases.push(Case::new(&["check", "rules", name], tmp.path()));
    }
    // Broken unit test files, read as promtool's go-yaml v2 reads them.
    for (name, body) in [
        (
            "badrules.yml",
            "groups:\n- name: a\n  foo: 1\n  rules:\n  - alert: x\n    expr: up\n    bar: 2\n- name: b\n  baz: 3\n",
        ),
        (
            "good.yml",
            "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n",
        ),
        (
            "test_u01.yml",
            "rule_files: [good.yml]\nfoo: 1\ntests: []\n",
        ),
        (
            "test_u02.yml",
            "rule_files: [good.yml]\ntests:\n- interval: abc\n",
        ),
        (
            "test_u03.yml",
            "rule_files: [good.yml]\ntests:\n- input_series:\n  - series: up\n    values: \"1 2 3\"\n    foo: 1\n",
        ),
        (
            "test_u04.yml",
            "rule_files: [badrules.yml]\ntests:\n- interval: 1m\n",
        ),
        (
            "test_u05.yml",
            "rule_files: [good.yml]\nevaluation_interval: [1]\ntests: []\n",
        ),
        (
            "test_u06.yml",
            "rule_files: [good.yml]\ntests:\n- interval: 1m\n  promql_expr_test:\n  - expr: up\n    eval_time: soon\n",
        ),
        (
            "test_u07.yml",
            "rule_files: [good.yml]\ntests:\n\t- interval: 1m\n",
        ),
        ("test_u08.yml", "rule_files: good.yml\ntests: []\n"),
        (
            "test_u09.yml",
            "rule_files: [missing.yml]\ntests:\n- interval: 1m\n",
        ),
        (
            "test_u10.yml",
            "rule_files: [good.yml]\ntests:\n- interval: 1m\n  alert_rule_test:\n  - eval_time: 1m\n    alertname: x\n    exp_alerts:\n    - exp_labels: [a]\n",
        ),
        (
            "test_u11.yml",
            "rule_files: [good.yml]\ngroup_eval_order: abc\ntests: []\n",
        ),
        ("test_u14.yml", ""),
        (
            "test_u15.yml",
            "rule_files: [good.yml]\nfuzzy_compare: maybe\ntests: []\n",
        ),
        // Series descriptions: errors worded and placed as Go's lexer and grammar do (the
        // line is the series' line in the `load` script promtool builds).
        (
            "test_u16.yml",
            "rule_files: [good.yml]\ntests:\n- interval: 1m\n  input_series:\n  - series: \"up{\"\n    values: \"1\"\n",
        ),
        (
            "test_u17.yml",
            "rule_files: [good.yml]\ntests:\n- interval: 1m\n  input_series:\n  - series: up\n    values: \"1 x\"\n",
        ),
        (
            "test_u18.yml",
            "rule_files: [good.yml]\ntests:\n- interval: 1m\n  input_series:\n  - series: up\n    values: \"1+1x2\"\n  - series: down\n    values: \"1 foo\"\n",
        ),
        (
            "test_u19.yml",
            "rule_files: [good.yml]\ntests:\n- interval: 1m\n  input_series:\n  - series: 'up{a=\"b\" c=\"d\"}'\n    values: \"1\"\n",
        ),
        (
            "test_u20.yml",
            "rule_files: [good.yml]\ntests:\n- interval: 1m\n  input_series:\n  - series: up\n    values: \"1 - 2\"\n",
        ),
        (
            "test_u21.yml",
            "rule_files: [good.yml]\ntests:\n- interval: 1m\n  input_series:\n  - series: up\n    values: \"1 1e ?\"\n",
        ),
    ] {
        std::fs::write(tmp.path().join(name), body).expect("write test file");
        if name.starts_with("test_") {
            cases.push(Case::new(&["test", "rules", name], tmp.path()));
        }
    }
    assert_agree(&real, &cases);
}

/// Why Debian's promtool 3.5.3 and we check a file of upstream's `config/testdata`
/// differently; every other file there is compared byte for byte.
const DEBIAN_SD: &str = "a discovery Debian's promtool 3.5.3 is built without (or 3.5 lacks)";
const NEWER: &str = "a field or check of upstream main that 3.5 lacks";
const BINARY: &str =
    "!!binary that decodes to invalid UTF-8: Go keeps the bytes, Rust strings cannot hold them";

const CONFIG_DIFFERS: &[(&str, &str)] = &[
    ("azure_authentication_method.bad.yml", DEBIAN_SD),
    ("azure_bearertoken_basicauth.bad.yml", DEBIAN_SD),
    ("azure_client_id_missing.bad.yml", DEBIAN_SD),
    ("azure_client_secret_missing.bad.yml", DEBIAN_SD),
    ("azure_subscription_id_missing.bad.yml", DEBIAN_SD),
    ("azure_tenant_id_missing.bad.yml", DEBIAN_SD),
    ("conf.good.yml", DEBIAN_SD),
    ("roundtrip.good.yml", DEBIAN_SD),
    ("oci_authentication_method.bad.yml", DEBIAN_SD),
    ("openstack_availability.bad.yml", DEBIAN_SD),
    ("openstack_role.bad.yml", DEBIAN_SD),
    ("outscale_no_region.bad.yml", DEBIAN_SD),
    ("outscale_no_secret.bad.yml", DEBIAN_SD),
    ("outscale_two_secrets.bad.yml", DEBIAN_SD),
    ("stackit_endpoint.bad.yml", DEBIAN_SD),
    ("global_disable_extra_scrape_metrics.good.yml", NEWER),
    ("global_enable_extra_scrape_metrics.good.yml", NEWER),
    ("local_disable_extra_scrape_metrics.good.yml", NEWER),
    ("local_enable_extra_scrape_metrics.good.yml", NEWER),
    ("global_enable_scrape_native_hist.good.yml", NEWER),
    (
        "global_enable_scrape_native_hist_and_scrape_protocols.good.yml",
        NEWER,
    ),
    (
        "global_scrape_protocols_and_local_disable_scrape_native_hist.good.yml",
        NEWER,
    ),
    ("local_disable_scrape_native_hist.good.yml", NEWER),
    ("local_enable_scrape_native_hist.good.yml", NEWER),
    (
        "local_enable_scrape_native_hist_and_scrape_protocols.good.yml",
        NEWER,
    ),
    ("kubernetes_selectors_pod.good.yml", NEWER),
    (
        "otlp_label_underscore_sanitization_disabled.good.yml",
        NEWER,
    ),
    ("otlp_label_underscore_sanitization_enabled.good.yml", NEWER),
    ("otlp_promote_scope_metadata.good.yml", NEWER),
    ("remote_write_queue_capacity_zero.bad.yml", NEWER),
    (
        "remote_write_queue_max_backoff_less_than_min.bad.yml",
        NEWER,
    ),
    (
        "remote_write_queue_max_samples_per_send_zero.bad.yml",
        NEWER,
    ),
    ("remote_write_queue_max_shards_zero.bad.yml", NEWER),
    (
        "remote_write_queue_min_shards_greater_than_max.bad.yml",
        NEWER,
    ),
    ("remote_write_queue_min_shards_zero.bad.yml", NEWER),
    ("scrape_config_local_infer_escaping.yml", NEWER),
    ("tsdb_chunk_encoding_floats.bad.yml", NEWER),
    ("tsdb_chunk_encoding_floats_wrong_case.bad.yml", NEWER),
    ("tsdb_chunk_encoding_floats_wrong_case_xor2.bad.yml", NEWER),
    ("tsdb_chunk_encoding_floats_xor.good.yml", NEWER),
    ("tsdb_chunk_encoding_floats_xor2.good.yml", NEWER),
    ("tsdb_retention_percentage.bad.yml", NEWER),
    ("tsdb_retention_percentage_float.good.yml", NEWER),
    ("tsdb_retention_percentage_negative.bad.yml", NEWER),
    ("tsdb_retention_size.bad.yml", NEWER),
    ("tsdb_retention_time.bad.yml", NEWER),
    ("labelname.bad.yml", BINARY),
    ("labelvalue.bad.yml", BINARY),
    ("static_config.bad.yml", BINARY),
];

/// Broken configs of every kind go-yaml and Prometheus report: syntax errors, collected
/// type errors (unknown and repeated fields, values of the wrong kind, naming Go's types),
/// checks, URLs.
const BROKEN_CONFIGS: &[(&str, &str)] = &[
    (
        "c01_scrape_scheme.yml",
        "scrape_configs:\n- job_name: a\n  metric_name_validation_scheme: bogus\n",
    ),
    (
        "c02_rw_two_auth.yml",
        "remote_write:\n- url: http://a/\n  basic_auth: {username: u}\n  sigv4: {}\n",
    ),
    (
        "c03_bool.yml",
        "scrape_configs:\n- job_name: a\n  honor_labels: maybe\n",
    ),
    (
        "c04_targets_str.yml",
        "scrape_configs:\n- job_name: a\n  static_configs:\n  - targets: localhost:9090\n",
    ),
    (
        "c05_sample_limit.yml",
        "scrape_configs:\n- job_name: a\n  sample_limit: abc\n",
    ),
    ("c06_interval_seq.yml", "global:\n  scrape_interval: [1]\n"),
    ("c07_global_int.yml", "global: 5\n"),
    (
        "c08_labels_dup.yml",
        "global:\n  external_labels:\n    a: b\n    a: c\n",
    ),
    (
        "c09_static_unknown.yml",
        "scrape_configs:\n- job_name: a\n  static_configs:\n  - targets: [a:1]\n    foo: bar\n",
    ),
    (
        "c10_syntax_mapping.yml",
        "global:\n  scrape_interval: 1m\n   bad: x: y\n",
    ),
    (
        "c11_syntax_indent.yml",
        "scrape_configs:\n- job_name: a\n  static_configs:\n  - targets: [a:1\n",
    ),
    ("c12_syntax_tab.yml", "global:\n\tscrape_interval: 1m\n"),
    ("c13_syntax_quote.yml", "global:\n  scrape_interval: \"1m\n"),
    (
        "c14_unknown_nested.yml",
        "scrape_configs:\n- job_name: a\n  relabel_configs:\n  - source_labels: [a]\n    foo: bar\n",
    ),
    (
        "c15_relabel_bad_action.yml",
        "scrape_configs:\n- job_name: a\n  relabel_configs:\n  - action: bogus\n",
    ),
    ("c16_duration_bad.yml", "global:\n  scrape_interval: 1x\n"),
    (
        "c17_timeout.yml",
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 2s\n",
    ),
    ("c18_anchor.yml", "scrape_configs:\n- *foo\n"),
    (
        "c19_multi.yml",
        "global:\n  foo: 1\nscrape_configs:\n- job_name: a\n  bar: 2\n  honor_labels: maybe\n- job_name: b\n  baz: 3\n",
    ),
    ("c20_seq_top.yml", "- a\n- b\n"),
    ("c21_scalar_top.yml", "hello\n"),
    (
        "c22_job_dup_key.yml",
        "scrape_configs:\n- job_name: a\n  job_name: b\n",
    ),
    (
        "c23_tls_unknown.yml",
        "scrape_configs:\n- job_name: a\n  tls_config:\n    foo: 1\n",
    ),
    (
        "c24_basic_unknown.yml",
        "scrape_configs:\n- job_name: a\n  basic_auth:\n    foo: 1\n",
    ),
    (
        "c25_rw_queue_unknown.yml",
        "remote_write:\n- url: http://a/\n  queue_config:\n    foo: 1\n",
    ),
    (
        "c26_params_str.yml",
        "scrape_configs:\n- job_name: a\n  params: abc\n",
    ),
    (
        "c27_labels_seq.yml",
        "scrape_configs:\n- job_name: a\n  static_configs:\n  - targets: [a:1]\n    labels: [a]\n",
    ),
    (
        "c28_am_unknown.yml",
        "alerting:\n  alertmanagers:\n  - foo: 1\n",
    ),
    (
        "c29_sd_unknown.yml",
        "scrape_configs:\n- job_name: a\n  file_sd_configs:\n  - files: [a.json]\n    foo: 1\n",
    ),
    ("c30_rule_files_str.yml", "rule_files: abc\n"),
    ("c31_empty.yml", ""),
    ("c32_comment_only.yml", "# nothing\n"),
    ("c33_int_into_string_list.yml", "rule_files: [1, [2]]\n"),
    (
        "c34_float_limit.yml",
        "scrape_configs:\n- job_name: a\n  sample_limit: 1.5\n",
    ),
    (
        "c35_neg_limit.yml",
        "scrape_configs:\n- job_name: a\n  sample_limit: -1\n",
    ),
    ("c36_storage_unknown.yml", "storage:\n  tsdb:\n    foo: 1\n"),
    (
        "c37_storage_exemplars.yml",
        "storage:\n  exemplars:\n    foo: 1\n",
    ),
    (
        "c38_k8s_unknown.yml",
        "scrape_configs:\n- job_name: a\n  kubernetes_sd_configs:\n  - role: pod\n    foo: 1\n",
    ),
    (
        "c39_dns_unknown.yml",
        "scrape_configs:\n- job_name: a\n  dns_sd_configs:\n  - names: [a]\n    foo: 1\n",
    ),
    (
        "c40_http_sd_unknown.yml",
        "scrape_configs:\n- job_name: a\n  http_sd_configs:\n  - url: http://a/\n    foo: 1\n",
    ),
    (
        "c41_ec2_unknown.yml",
        "scrape_configs:\n- job_name: a\n  ec2_sd_configs:\n  - region: x\n    foo: 1\n",
    ),
    (
        "c42_oauth_unknown.yml",
        "scrape_configs:\n- job_name: a\n  oauth2:\n    client_id: a\n    foo: 1\n",
    ),
    (
        "c43_bool_int.yml",
        "scrape_configs:\n- job_name: a\n  honor_labels: 1\n",
    ),
    (
        "c44_long_value.yml",
        "scrape_configs:\n- job_name: a\n  honor_labels: averyveryverylongvalue\n",
    ),
    ("c45_docs.yml", "global: {}\n---\nfoo: 1\n"),
    (
        "c46_syntax_colon.yml",
        "global:\n  scrape_interval 1m\n  foo: 1\n",
    ),
    ("c47_syntax_flow.yml", "scrape_configs: [{job_name: a]\n"),
    (
        "c48_unknown_top_and_bad_value.yml",
        "foo: 1\nglobal:\n  scrape_interval: 1x\n",
    ),
    ("c49_block_seq_not_map.yml", "global:\n  - a\n"),
    (
        "c50_external_labels_seq.yml",
        "global:\n  external_labels:\n  - a\n",
    ),
    (
        "c51_authz_unknown.yml",
        "scrape_configs:\n- job_name: a\n  authorization:\n    foo: 1\n",
    ),
    (
        "c52_rw_metadata_unknown.yml",
        "remote_write:\n- url: http://a/\n  metadata_config:\n    foo: 1\n",
    ),
    (
        "c53_sigv4_unknown.yml",
        "remote_write:\n- url: http://a/\n  sigv4:\n    foo: 1\n",
    ),
    (
        "c54_proxy_hdr.yml",
        "scrape_configs:\n- job_name: a\n  proxy_connect_header: 5\n",
    ),
    (
        "c55_headers.yml",
        "remote_write:\n- url: http://a/\n  headers: [a]\n",
    ),
    (
        "c56_http_headers_unknown.yml",
        "scrape_configs:\n- job_name: a\n  http_headers:\n    X-A:\n      foo: 1\n",
    ),
    (
        "c57_selectors_unknown.yml",
        "scrape_configs:\n- job_name: a\n  kubernetes_sd_configs:\n  - role: pod\n    selectors:\n    - role: pod\n      foo: 1\n",
    ),
    (
        "c58_attach_unknown.yml",
        "scrape_configs:\n- job_name: a\n  kubernetes_sd_configs:\n  - role: pod\n    attach_metadata:\n      foo: 1\n",
    ),
    (
        "c59_rr_unknown.yml",
        "remote_read:\n- url: http://a/\n  foo: 1\n",
    ),
    ("c60_tracing_unknown.yml", "tracing:\n  foo: 1\n"),
    ("c61_otlp_unknown.yml", "otlp:\n  foo: 1\n"),
    ("c62_runtime_unknown.yml", "runtime:\n  foo: 1\n"),
    ("c63_alerting_unknown.yml", "alerting:\n  foo: 1\n"),
    ("c64_unclosed_brace.yml", "global: {scrape_interval: 1m\n"),
    (
        "c65_bad_indent_seq.yml",
        "scrape_configs:\n  - job_name: a\n - job_name: b\n",
    ),
    (
        "c66_dup_in_list.yml",
        "scrape_configs:\n- job_name: a\n  static_configs:\n  - targets: [a:1]\n    targets: [b:1]\n",
    ),
    (
        "c67_scrape_protocols_str.yml",
        "global:\n  scrape_protocols: abc\n",
    ),
    (
        "c68_targets_nested.yml",
        "scrape_configs:\n- job_name: a\n  static_configs:\n  - targets: [[a]]\n",
    ),
    (
        "c69_relabel_str.yml",
        "scrape_configs:\n- job_name: a\n  relabel_configs: abc\n",
    ),
    (
        "c70_relabel_elem_str.yml",
        "scrape_configs:\n- job_name: a\n  relabel_configs: [abc]\n",
    ),
    (
        "c71_file_sd_str.yml",
        "scrape_configs:\n- job_name: a\n  file_sd_configs: abc\n",
    ),
    (
        "c72_static_str.yml",
        "scrape_configs:\n- job_name: a\n  static_configs: abc\n",
    ),
    ("c73_rw_str.yml", "remote_write: abc\n"),
    ("c74_unterminated_single.yml", "global:\n  a: 'x\n"),
    ("c75_bad_anchor_char.yml", "global: &\n"),
    ("c76_bad_escape.yml", "global:\n  query_log_file: \"\\q\"\n"),
    ("c77_bad_port.yml", "remote_write:\n- url: http://a:abc/\n"),
    (
        "c78_bad_v6.yml",
        "remote_write:\n- url: http://[::1:9090/x\n",
    ),
    (
        "c79_dur_then_unknown.yml",
        "global:\n  scrape_interval: soon\n  bogus: 1\n",
    ),
    (
        "c80_unknown_then_dur.yml",
        "global:\n  bogus: 1\n  scrape_interval: soon\n",
    ),
    (
        "c81_unknown_then_seq.yml",
        "global:\n  bogus: 1\n  evaluation_interval: [1m]\n",
    ),
    // Type errors and checks in nested blocks (TLS, OAuth 2.0, SD, queue, relabel, storage).
    (
        "n01.yml",
        "remote_write:\n- url: http://a/\n  queue_config:\n    capacity: abc\n",
    ),
    (
        "n02.yml",
        "remote_write:\n- url: http://a/\n  queue_config:\n    batch_send_deadline: [1]\n",
    ),
    (
        "n03.yml",
        "scrape_configs:\n- job_name: a\n  tls_config:\n    insecure_skip_verify: maybe\n",
    ),
    (
        "n04.yml",
        "scrape_configs:\n- job_name: a\n  tls_config:\n    min_version: TLS99\n",
    ),
    (
        "n05.yml",
        "scrape_configs:\n- job_name: a\n  oauth2:\n    client_id: a\n    scopes: abc\n",
    ),
    (
        "n06.yml",
        "scrape_configs:\n- job_name: a\n  kubernetes_sd_configs:\n  - role: bogus\n",
    ),
    (
        "n07.yml",
        "scrape_configs:\n- job_name: a\n  dns_sd_configs:\n  - names: [a]\n    port: abc\n",
    ),
    ("n08.yml", "alerting:\n  alertmanagers:\n  - timeout: abc\n"),
    (
        "n09.yml",
        "alerting:\n  alert_relabel_configs:\n  - action: bogus\n",
    ),
    (
        "n10.yml",
        "storage:\n  tsdb:\n    out_of_order_time_window: abc\n",
    ),
    ("n11.yml", "tracing:\n  sampling_fraction: abc\n"),
    ("n12.yml", "tracing:\n  endpoint: a\n  client_type: bogus\n"),
    (
        "n13.yml",
        "scrape_configs:\n- job_name: a\n  scrape_timeout: 1m\n  scrape_interval: 10s\n",
    ),
    ("n14.yml", "scrape_configs:\n- job_name: a\n- job_name: a\n"),
    (
        "n15.yml",
        "scrape_configs:\n- job_name: a\n  basic_auth:\n    username: a\n    password: b\n    password_file: c\n",
    ),
    (
        "n16.yml",
        "scrape_configs:\n- job_name: a\n  ec2_sd_configs:\n  - region: x\n    port: [1]\n",
    ),
    (
        "n18.yml",
        "scrape_configs:\n- job_name: a\n  metrics_path: [a]\n",
    ),
    ("n19.yml", "scrape_configs:\n- job_name: a\n  scheme: ftp\n"),
    (
        "n20.yml",
        "remote_read:\n- url: http://a/\n  required_matchers: [a]\n",
    ),
    (
        "n22.yml",
        "scrape_configs:\n- job_name: a\n  relabel_configs:\n  - modulus: abc\n",
    ),
    (
        "n23.yml",
        "scrape_configs:\n- job_name: a\n  metric_relabel_configs:\n  - target_label: \"a b\"\n    action: replace\n",
    ),
    ("n24.yml", "global:\n  external_labels:\n    __name__: x\n"),
    ("n25.yml", "otlp:\n  translation_strategy: bogus\n"),
    (
        "n26.yml",
        "scrape_configs:\n- job_name: a\n  http_sd_configs:\n  - url: ftp://a/\n",
    ),
    (
        "n27.yml",
        "scrape_configs:\n- job_name: a\n  file_sd_configs:\n  - files: [\"a/*/b.json\"]\n",
    ),
    (
        "n28.yml",
        "scrape_configs:\n- job_name: a\n  static_configs:\n  - targets: [\"a:1\"]\n    labels:\n      \"\": x\n",
    ),
    (
        "n29.yml",
        "scrape_configs:\n- job_name: a\n  proxy_url: \"::\"\n",
    ),
    (
        "n30.yml",
        "scrape_configs:\n- job_name: a\n  body_size_limit: 1XB\n",
    ),
    (
        "n31.yml",
        "scrape_configs:\n- job_name: a\n  scrape_protocols: [Foo]\n",
    ),
    ("n32.yml", "runtime:\n  gogc: abc\n"),
    ("n33.yml", "scrape_config_files: [nonexist/*.yml]\n"),
    (
        "n34.yml",
        "scrape_configs:\n- job_name: a\n  enable_compression: maybe\n  follow_redirects: 1\n",
    ),
    (
        "n35.yml",
        "scrape_configs:\n- job_name: a\n  kubernetes_sd_configs:\n  - role: pod\n    namespaces:\n      names: abc\n",
    ),
    (
        "n36.yml",
        "remote_write:\n- url: http://a/\n  write_relabel_configs:\n  - action: labeldrop\n    regex: \"(\"\n",
    ),
    (
        "n37.yml",
        "remote_write:\n- url: http://a/\n  protobuf_message: bogus\n",
    ),
    (
        "n38.yml",
        "scrape_configs:\n- job_name: a\n  label_limit: -1\n",
    ),
    (
        "n39.yml",
        "scrape_configs:\n- job_name: a\n  authorization:\n    type: basic\n",
    ),
    ("n40.yml", "global:\n  query_log_file: [a]\n"),
    // Tabs libyaml refuses (go-yaml v2 names the tab's own line).
    ("tab_flow.yml", "scrape_configs: [\n\t{job_name: a}\n  ]\n"),
    ("tab_a1.yml", "global:\n  scrape_interval: 1m\n\t\n"),
    ("tab_a2.yml", "scrape_configs:\n-\tjob_name: a\n"),
    (
        "tab_a3.yml",
        "global:\n  scrape_interval: 1m\n  \t\n  evaluation_interval: 1m\n",
    ),
    ("tab_a4.yml", "# a\n\t# b\nglobal: {}\n"),
    ("tab_a5.yml", "global:\n  query_log_file: >\n    x\n\t\n"),
    ("tab_a6.yml", "global: {}\n\t\n"),
    ("tab_a7.yml", "global: {}\n\t# c\n"),
    ("tab_a8.yml", "global:\t{}\n"),
    // Relabel rules: type errors collected across fields and rules, a bad regex, action or
    // label name stops everything alone, nulls zero fields.
    (
        "rl1_type_then_regex.yml",
        "scrape_configs:\n- job_name: a\n  relabel_configs:\n  - source_labels: a\n    regex: \"(\"\n",
    ),
    (
        "rl2_type_then_unknown.yml",
        "scrape_configs:\n- job_name: a\n  relabel_configs:\n  - source_labels: a\n    foo: 1\n",
    ),
    (
        "rl3_kinds.yml",
        "scrape_configs:\n- job_name: a\n  relabel_configs:\n  - a\n  - separator: [a]\n    target_label: {a: b}\n    source_labels: [[a], b]\n    modulus: abc\n",
    ),
    (
        "rl4_type_then_action.yml",
        "scrape_configs:\n- job_name: a\n  relabel_configs:\n  - source_labels: a\n    action: foo\n",
    ),
    (
        "rl5_unknown_then_empty_name.yml",
        "scrape_configs:\n- job_name: a\n  relabel_configs:\n  - foo: 1\n    source_labels: [a, '']\n",
    ),
    (
        "rl6_null_separator.yml",
        "scrape_configs:\n- job_name: a\n  relabel_configs:\n  - separator:\n    target_label: x\n    source_labels: [a]\n    action: keepequal\n",
    ),
    (
        "rl7_null_rule_after_type_error.yml",
        "remote_write:\n- url: http://x\n  write_relabel_configs:\n  - source_labels: 1\n  - ~\n",
    ),
    (
        "rl8_alerting.yml",
        "alerting:\n  alert_relabel_configs:\n  - source_labels: a\n    foo: 1\n  alertmanagers:\n  - relabel_configs:\n    - regex: '('\n",
    ),
    (
        "rl9_scalars_as_text.yml",
        "scrape_configs:\n- job_name: a\n  relabel_configs:\n  - target_label: yes\n    replacement: 0x1F\n    regex: true\n    source_labels: [true, 1.0, ~]\n  - action: 12\n",
    ),
];

/// File SD files, good and broken (JSON and YAML), each checked through a config listing it
/// in `file_sd_configs` (and one that does not exist).
const SD_FILES: &[(&str, &str)] = &[
    ("bad.json", "[{\"targets\": [\"a:1\"]}"),
    ("bad.txt", "x"),
    (
        "badlabel.json",
        "[{\"targets\": [\"a\"], \"labels\": {\"\": \"y\"}}]",
    ),
    ("badlabel.yml", "- labels: {\"\": y}\n  targets: [a]\n"),
    ("colon.json", "[{\"targets\" [\"a:1\"]}]"),
    ("comma.json", "[{\"targets\": [\"a:1\"] \"labels\": {}}]"),
    ("comma2.json", "[{\"targets\": [\"a:1\" \"b\"]}]"),
    ("empty.json", ""),
    ("five.json", "[5]"),
    ("good.yml", "- targets: [a:1]\n  labels: {x: y}\n"),
    ("key.json", "[{targets: 1}]"),
    (
        "lint.json",
        "[{\"targets\": [\"a:1\"], \"labels\": {\"a\": 1}}]",
    ),
    ("lnum.json", "[{\"labels\": 5}]"),
    ("null.yml", "- ~\n"),
    ("nullgroup.json", "[null]"),
    (
        "nulllabel.json",
        "[{\"targets\": [\"a:1\"], \"labels\": {\"a\": null}}]",
    ),
    ("nulltop.json", "null"),
    ("obj.json", "{\"targets\": [\"a:1\"]}"),
    ("squote.json", "[{\"targets\": ['a']}]"),
    ("syn.yml", "- targets: [a:1\n"),
    ("tnum.json", "[{\"targets\": [1]}]"),
    ("trail.json", "[{\"targets\": [\"a:1\"]}] x"),
    ("tstr.json", "[{\"targets\": \"a:1\"}]"),
    ("tstr.yml", "- targets: a:1\n"),
    ("unk.json", "[{\"targets\": [\"a:1\"], \"foo\": 1}]"),
    ("unknown.yml", "- targets: [a:1]\n  foo: 1\n"),
    ("url.json", "[{\"targets\": [\"http://a:1\"]}]"),
    ("url.yml", "- targets: [\"http://a:1\"]\n"),
    ("x.json", "x"),
];

/// The YAML files of `dir`, sorted.
fn yaml_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".yml"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn config_errors_agree_with_promtool_3() {
    let Some(real) = promtool3() else { return };
    let Some(upstream) = test_support::testdata_dir("upstream/config") else {
        return;
    };
    let mut cases = Vec::new();
    for sub in ["testdata", "testdata/scrape_configs"] {
        for name in yaml_files(&upstream.join(sub)) {
            if CONFIG_DIFFERS.iter().any(|(n, _)| *n == name) {
                continue;
            }
            let p = format!("{sub}/{name}");
            for mode in ["--syntax-only", "--lint=none"] {
                cases.push(Case::new(&["check", "config", mode, &p], &upstream));
            }
            if name.starts_with("agent_mode") {
                cases.push(Case::new(&["check", "config", "--agent", &p], &upstream));
            }
        }
    }
    let project = test_support::project_testdata("config");
    for sub in ["bad", "good"] {
        for name in yaml_files(&project.join(sub)) {
            cases.push(Case::new(
                &["check", "config", &format!("{sub}/{name}")],
                &project,
            ));
        }
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    for (name, body) in BROKEN_CONFIGS {
        std::fs::write(tmp.path().join(name), body).expect("write config");
        cases.push(Case::new(&["check", "config", name], tmp.path()));
    }
    // Rule files a config lists: bad globs, missing and broken files (checked as
    // `check rules` checks them).
    for (name, body) in [
        (
            "rf_bad1.yml",
            "groups:\n- name: a\n  foo: 1\n  rules:\n  - alert: x\n    expr: up\n    bar: 2\n",
        ),
        (
            "rf_bad2.yml",
            "groups:\n- name: a\n  rules:\n  - alert: x\n    for: soon\n",
        ),
        (
            "rf_bad3.yml",
            "groups:\n- name: a\n  rules:\n  - alert: x\n   expr: up\n",
        ),
        (
            "rf_cfg1.yml",
            "rule_files: [rf_bad1.yml, rf_bad2.yml, rf_bad3.yml, \"rf_none*.yml\"]\n",
        ),
        (
            "rf_cfg2.yml",
            "rule_files: [\"rf_bad*.yml\", rf_missing.yml]\n",
        ),
        ("rf_cfg3.yml", "rule_files: [\"[rf.yml\"]\n"),
        (
            "rf_cfg4.yml",
            "scrape_configs:\n- job_name: a\n  file_sd_configs:\n  - files: [\"[bad.json\"]\n",
        ),
    ] {
        std::fs::write(tmp.path().join(name), body).expect("write file");
        if name.contains("cfg") {
            cases.push(Case::new(&["check", "config", name], tmp.path()));
        }
    }
    // scrape_config_files: broken, repeated and missing job files, bad globs; agent mode.
    for (name, body) in [
        (
            "scf_a1.yml",
            "rule_files: [x.yml]\nscrape_configs:\n- job_name: a\n",
        ),
        (
            "scf_a2.yml",
            "alerting:\n  alertmanagers:\n  - static_configs: [{targets: [a:1]}]\n",
        ),
        ("scf_a3.yml", "remote_read:\n- url: http://a/\n"),
        ("scf_j1.yml", "scrape_configs:\n- job_name: b\n  foo: 1\n"),
        ("scf_j2.yml", "scrape_configs:\n- job_name: a\n"),
        ("scf_j3.yml", "global: {}\n"),
        (
            "scf_j4.yml",
            "scrape_configs:\n- job_name: c\n  honor_labels: maybe\n",
        ),
        ("scf_s1.yml", "scrape_config_files: [scf_j1.yml]\n"),
        (
            "scf_s2.yml",
            "scrape_config_files: [scf_j2.yml]\nscrape_configs:\n- job_name: a\n",
        ),
        ("scf_s3.yml", "scrape_config_files: [scf_j3.yml]\n"),
        ("scf_s4.yml", "scrape_config_files: [\"[scf_j.yml\"]\n"),
        (
            "scf_s5.yml",
            "scrape_config_files: [scf_j4.yml, scf_j1.yml]\n",
        ),
        ("scf_s6.yml", "scrape_config_files: [missing.yml]\n"),
        ("scf_s7.yml", "scrape_config_files: [\"scf_j*.yml\"]\n"),
    ] {
        std::fs::write(tmp.path().join(name), body).expect("write file");
        if name.starts_with("scf_s") {
            cases.push(Case::new(&["check", "config", name], tmp.path()));
        } else if name.starts_with("scf_a") {
            cases.push(Case::new(&["check", "config", "--agent", name], tmp.path()));
        }
    }
    let sd_names = SD_FILES.iter().map(|(n, _)| *n).chain(["missing.json"]);
    for name in sd_names {
        if let Some((_, body)) = SD_FILES.iter().find(|(n, _)| *n == name) {
            std::fs::write(tmp.path().join(name), body).expect("write SD file");
        }
        let config = format!("sd_{name}.yml");
        std::fs::write(
            tmp.path().join(&config),
            format!("scrape_configs:\n- job_name: a\n  file_sd_configs:\n  - files: [{name}]\n"),
        )
        .expect("write config");
        cases.push(Case::new(&["check", "config", &config], tmp.path()));
    }
    assert_agree(&real, &cases);
}

/// A throwaway P-256 key (SEC 1): a private key of another type than the RSA
/// certificates of upstream's test data.
const TEST_EC_KEY: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIPP2HWy7ePl5L4Rmxb/Tslythw1gEu5fBNjEFBnl0rpUoAoGCCqGSM49
AwEHoUQDQgAEKFbCdWJPah62iBptSD1EuM1COP9eIYMoRsni7fT+VGC0gZ+llNvv
1yKp0CDX7jeJ0Z7HfWaeQKmdStlIBbeRLw==
-----END EC PRIVATE KEY-----
";

#[test]
fn metrics_web_config_and_promql_agree_with_promtool_3() {
    let Some(real) = promtool3() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let metrics: &[&[u8]] = &[
        b"# HELP a x\n# HELP a y\na 1\n",
        b"# HELP info_metric x\n# TYPE info_metric info\n",
        b"# HELP x_bytes_total Foo.\n# TYPE x_bytes_total counter\nx_bytes_total{a=\"1\"} 1\n",
        b"# HELP go_gc_duration_seconds A summary.\n# TYPE go_gc_duration_seconds summary\ngo_gc_duration_seconds{quantile=\"0\"} 1e-05\ngo_gc_duration_seconds_sum 0.1\ngo_gc_duration_seconds_count 10\n# HELP test_metric_celsius temp\n# TYPE test_metric_celsius gauge\ntest_metric_celsius 1\n# HELP rq_total requests\n# TYPE rq_total counter\nrq_total{Code=\"200\"} 1\n# TYPE no_help gauge\nno_help 1\n",
        b"",
    ];
    let mut cases = Vec::new();
    for input in metrics {
        cases.push(Case {
            args: args(&["check", "metrics"]),
            cwd: dir,
            stdin: Some(input),
        });
    }
    // `--extended` on input with lint problems: upstream main prints the table too (3.5
    // stopped at the problems), so only clean input here.
    let clean: &[u8] = b"# HELP rq_duration_seconds D.\n# TYPE rq_duration_seconds histogram\nrq_duration_seconds_bucket{le=\"1\"} 1\nrq_duration_seconds_bucket{le=\"+Inf\"} 2\nrq_duration_seconds_sum 3\nrq_duration_seconds_count 2\n# HELP up_thing x\n# TYPE up_thing gauge\nup_thing 1\n";
    for input in [clean, b"".as_slice()] {
        cases.push(Case {
            args: args(&["check", "metrics", "--extended"]),
            cwd: dir,
            stdin: Some(input),
        });
    }
    let web_configs = [
        (
            "good.yml",
            "basic_auth_users:\n  alice: $2y$04$V/3B.Gh5D.8d6kr2q1yTh.4w0OUUeuNpKz3wpx6Gb2P7gVSVSQsqa\n",
        ),
        ("unknown.yml", "basic_auth_user:\n  alice: x\n"),
        (
            "missing_key.yml",
            "tls_server_config:\n  cert_file: /nonexistent/server.crt\n",
        ),
        (
            "missing_both.yml",
            "tls_server_config:\n  cert_file: /nonexistent/server.crt\n  key_file: /nonexistent/server.key\n",
        ),
        (
            "header.yml",
            "http_server_config:\n  headers:\n    X-Foo: bar\n",
        ),
        ("bad_tls.yml", "tls_server_config:\n  min_version: TLS99\n"),
        // Type errors name the toolkit's Go types (nested blocks too), its `UnmarshalYAML`
        // checks stop loading, bcrypt hashes fail as `bcrypt.Cost` does.
        ("w01_tls_unknown.yml", "tls_server_config:\n  foo: 1\n"),
        ("w02_http_unknown.yml", "http_server_config:\n  foo: 1\n"),
        ("w03_rate_unknown.yml", "rate_limit:\n  foo: 1\n"),
        ("w04_users_seq.yml", "basic_auth_users: [a]\n"),
        (
            "w05_prefer_bool.yml",
            "tls_server_config:\n  prefer_server_cipher_suites: maybe\n",
        ),
        (
            "w06_http2_bool.yml",
            "http_server_config:\n  http2: maybe\n",
        ),
        (
            "w07_headers_seq.yml",
            "http_server_config:\n  headers: [a]\n",
        ),
        ("w08_burst_str.yml", "rate_limit:\n  burst: abc\n"),
        ("w09_interval_str.yml", "rate_limit:\n  interval: abc\n"),
        (
            "w10_ciphers_str.yml",
            "tls_server_config:\n  cipher_suites: abc\n",
        ),
        (
            "w11_cipher_unknown.yml",
            "tls_server_config:\n  cipher_suites: [FOO]\n",
        ),
        (
            "w12_curve_unknown.yml",
            "tls_server_config:\n  curve_preferences: [Foo]\n",
        ),
        (
            "w13_sans_str.yml",
            "tls_server_config:\n  client_allowed_sans: abc\n",
        ),
        ("w14_tls_str.yml", "tls_server_config: abc\n"),
        ("w15_http_seq.yml", "http_server_config: [a]\n"),
        ("w16_rate_int.yml", "rate_limit: 5\n"),
        (
            "w17_nested_unknown.yml",
            "foo: 1\ntls_server_config:\n  bar: 1\nhttp_server_config:\n  baz: 1\n",
        ),
        ("w18_cert_seq.yml", "tls_server_config:\n  cert: [a]\n"),
        ("w19_key_seq.yml", "tls_server_config:\n  key: [a]\n"),
        (
            "w20_version_seq.yml",
            "tls_server_config:\n  min_version: [a]\n",
        ),
        (
            "w21_tls_dup.yml",
            "tls_server_config:\n  cert_file: a\n  cert_file: b\n",
        ),
        ("w22_user_seq.yml", "basic_auth_users:\n  a: [b]\n"),
        (
            "w23_burst_float.yml",
            "rate_limit:\n  interval: 1s\n  burst: 1.5\n",
        ),
        (
            "w24_header_seq.yml",
            "http_server_config:\n  headers:\n    X-Foo: [a]\n",
        ),
        (
            "w25_header_denied.yml",
            "http_server_config:\n  headers:\n    Authorization: a\n",
        ),
        (
            "w26_no_pem.yml",
            "tls_server_config:\n  client_auth_type: Bogus\n  cert: a\n  key: b\n",
        ),
        ("w27_scalar.yml", "hello\n"),
        ("w28_seq.yml", "- a\n"),
        (
            "w29_bcrypt_short.yml",
            "basic_auth_users:\n  alice: notahash\n",
        ),
        (
            "w30_version_unknown.yml",
            "tls_server_config:\n  max_version: TLS99\n",
        ),
        (
            "w31_curves_str.yml",
            "tls_server_config:\n  curve_preferences: abc\n",
        ),
        ("w32_interval_seq.yml", "rate_limit:\n  interval: [1]\n"),
        (
            "w33_ciphers_nested.yml",
            "tls_server_config:\n  cipher_suites: [[a]]\n",
        ),
        (
            "w34_header_dup.yml",
            "http_server_config:\n  headers:\n    X-Foo: a\n    X-Foo: b\n",
        ),
        ("w35_tab.yml", "tls_server_config:\n\tfoo: 1\n"),
        ("w36_empty.yml", ""),
        (
            "w37_sans_nested.yml",
            "tls_server_config:\n  client_allowed_sans: [[a]]\n",
        ),
        (
            "w38_bcrypt_prefix.yml",
            "basic_auth_users:\n  alice: x2y$04$V/3B.Gh5D.8d6kr2q1yTh.4w0OUUeuNpKz3wpx6Gb2P7gVSVSQsqa\n",
        ),
        (
            "w39_bcrypt_cost.yml",
            "basic_auth_users:\n  alice: $2y$99$V/3B.Gh5D.8d6kr2q1yTh.4w0OUUeuNpKz3wpx6Gb2P7gVSVSQsqa\n",
        ),
        (
            "w40_bcrypt_version.yml",
            "basic_auth_users:\n  alice: $3y$04$V/3B.Gh5D.8d6kr2q1yTh.4w0OUUeuNpKz3wpx6Gb2P7gVSVSQsqa\n",
        ),
        (
            "w41_interval_go.yml",
            "rate_limit:\n  interval: 1h30m\n  burst: 5\n",
        ),
        ("w42_interval_bool.yml", "rate_limit:\n  interval: true\n"),
        (
            "w43_good_ciphers.yml",
            "tls_server_config:\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n  curve_preferences: [X25519]\n  min_version: TLS13\n",
        ),
    ];
    for (name, body) in web_configs {
        std::fs::write(dir.join(name), body).expect("write web config");
        cases.push(Case::new(&["check", "web-config", name], dir));
    }
    // Key pairs checked as Go's `tls.X509KeyPair` checks them, before the client CAs. Left
    // out on purpose: TLS10/TLS11, CBC suites, RequireAndVerifyClientCert without client CAs
    // (or with none in the file), min_version above max_version, which rustls cannot serve
    // (our check fails where Go's server would fail the handshake); client_allowed_sans
    // without a client certificate policy, refused as newer exporter-toolkits refuse it.
    if let Some(certs) = test_support::testdata_dir("upstream/scrape/testdata") {
        std::fs::write(dir.join("ec.key"), TEST_EC_KEY).expect("write key");
        let p = |f: &str| certs.join(f).to_string_lossy().into_owned();
        let (cer, key) = (p("server.cer"), p("server.key"));
        let pairs = [
            ("k01_good.yml", cer.clone(), key.clone(), ""),
            ("k02_other_key.yml", cer.clone(), p("client.key"), ""),
            ("k03_ec_key.yml", cer.clone(), "ec.key".to_string(), ""),
            ("k04_switched.yml", key.clone(), cer.clone(), ""),
            ("k05_cert_as_key.yml", cer.clone(), cer.clone(), ""),
            (
                "k06_verify.yml",
                cer.clone(),
                key.clone(),
                "  client_auth_type: RequireAndVerifyClientCert\n",
            ),
            (
                "k07_missing_ca.yml",
                cer.clone(),
                key.clone(),
                "  client_ca_file: missing_ca.pem\n",
            ),
            (
                "k08_ca_no_policy.yml",
                cer.clone(),
                key.clone(),
                "  client_auth_type: NoClientCert\n",
            ),
            (
                "k09_bad_auth.yml",
                cer.clone(),
                key.clone(),
                "  client_auth_type: Bogus\n",
            ),
        ];
        for (name, cert, key, extra) in pairs {
            let ca = if name.starts_with("k06") || name.starts_with("k08") {
                format!("  client_ca_file: {}\n", p("ca.cer"))
            } else {
                String::new()
            };
            let body =
                format!("tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n{ca}{extra}");
            std::fs::write(dir.join(name), body).expect("write web config");
            cases.push(Case::new(&["check", "web-config", name], dir));
        }
    }
    for expr in [
        "sum(rate(foo[5m])) by (job)",
        "foo{a=\"b\",c=~\"d\"} offset 5m",
        "  1 + 2 * -3",
        "foo{",
        "a and on(b) group_left(c) d",
        "max_over_time(foo[5m:1m])",
        "foo[5m] @ 100 offset -1m",
    ] {
        cases.push(Case::new(
            &["promql", "format", "--experimental", expr],
            dir,
        ));
        cases.push(Case {
            args: args(&[
                "promql",
                "label-matchers",
                "set",
                "--experimental",
                expr,
                "job",
                "x",
            ]),
            cwd: dir,
            stdin: None,
        });
        cases.push(Case {
            args: args(&[
                "promql",
                "label-matchers",
                "delete",
                "--experimental",
                expr,
                "a",
            ]),
            cwd: dir,
            stdin: None,
        });
    }
    // Usage errors read as kingpin's.
    for a in [
        &["check", "config"][..],
        &["check", "web-config"],
        &["promql", "format", "--experimental", "-x"],
        &["check", "metrics", "--bogus=1"],
        &["query", "instant"],
    ] {
        cases.push(Case::new(a, dir));
    }
    // kingpin's `ExistingFile(s)`: a missing path, a directory (by its base name).
    std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
    let sub = dir.join("sub");
    let sub = sub.to_str().expect("UTF-8 path");
    for a in [
        &["check", "rules", sub][..],
        &["check", "rules", "./"],
        &["check", "config", "sub/"],
        &["check", "web-config", sub],
        &["check", "config", "missing.yml", "good.yml"],
        &["test", "rules", sub],
        &["push", "metrics", "http://127.0.0.1:1", sub],
        &["push", "metrics", "http://127.0.0.1:1", "missing.prom"],
        &[
            "query",
            "instant",
            "--http.config.file=sub",
            "http://127.0.0.1:1",
            "up",
        ],
    ] {
        cases.push(Case::new(a, dir));
    }
    // HTTP client files that cannot be read: TLS files when the client is made, secrets at
    // the request (in Go's `Post "URL": ...`).
    for (name, body) in [
        ("http_ca.yml", "tls_config:\n  ca_file: /nonexistent\n"),
        (
            "http_cert.yml",
            "tls_config:\n  cert_file: /nonexistent\n  key_file: /nonexistent2\n",
        ),
        (
            "http_creds.yml",
            "authorization:\n  credentials_file: /nonexistent\n",
        ),
        ("http_bearer.yml", "bearer_token_file: /nonexistent\n"),
        (
            "http_user.yml",
            "basic_auth:\n  username_file: /nonexistent\n  password: p\n",
        ),
        (
            "http_password.yml",
            "basic_auth:\n  username: u\n  password_file: /nonexistent\n",
        ),
    ] {
        std::fs::write(dir.join(name), body).expect("write file");
        cases.push(Case::new(
            &[
                "query",
                "instant",
                &format!("--http.config.file={name}"),
                "http://127.0.0.1:1",
                "up",
            ],
            dir,
        ));
    }
    assert_agree(&real, &cases);
}

#[test]
fn tsdb_commands_agree_with_promtool_3() {
    let Some(real) = promtool3() else { return };
    let Some(blocks) = test_support::testdata_dir("prom-2.42/blocks") else {
        return;
    };
    // A copy: a data directory also needs `wal/` for Prometheus's own tools.
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(data.join("wal")).expect("mkdir");
    for block in std::fs::read_dir(&blocks).expect("read blocks") {
        let block = block.expect("entry").path();
        let to = data.join(block.file_name().expect("a name"));
        std::fs::create_dir_all(to.join("chunks")).expect("mkdir");
        for f in ["meta.json", "index", "tombstones", "chunks/000001"] {
            if block.join(f).exists() {
                std::fs::copy(block.join(f), to.join(f)).expect("copy");
            }
        }
    }
    let d = data.to_str().expect("UTF-8 path");
    let cases: Vec<Case<'_>> = [
        vec!["tsdb", "list", d],
        vec!["tsdb", "list", "-r", d],
        vec!["tsdb", "dump", d],
        vec!["tsdb", "dump", "--match={code=\"500\"}", d],
        vec!["tsdb", "dump-openmetrics", d],
        vec!["tsdb", "list", "/nonexistent/data"],
    ]
    .into_iter()
    .map(|a| Case::new(&a, tmp.path()))
    .collect();
    assert_agree(&real, &cases);
}
