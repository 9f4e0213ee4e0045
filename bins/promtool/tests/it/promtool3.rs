//! Side by side with the real promtool 3.x (`PROMTOOL3_BIN`, else `/tmp/promtool35`): the
//! same invocations on upstream's test data must give the same stdout, stderr and exit code.
//! Skipped with a notice when that binary is absent (CI machines don't have it). The cases
//! are the ones that agree; where ours differs on purpose (YAML error positions, upstream
//! main's newer config fields, `start_timestamp` in unit tests, `check metrics --lint` and
//! `--extended` with lint problems) they are left out.

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

/// Runs every case with both binaries; returns the differing ones, described.
fn differences(real: &str, cases: &[Case<'_>]) -> Vec<String> {
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
    diffs
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
            cases.push(Case {
                args: args(&["check", "config", lint, &p]),
                cwd: &pt,
                stdin: None,
            });
        }
        cases.push(Case {
            args: args(&["check", "config", "--syntax-only", &p]),
            cwd: &pt,
            stdin: None,
        });
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
            cases.push(Case {
                args: args(&["check", "rules", lint, &p]),
                cwd: &pt,
                stdin: None,
            });
        }
    }
    cases.push(Case {
        args: args(&["check", "rules", "testdata/nonexistent.yml"]),
        cwd: &pt,
        stdin: None,
    });
    cases.push(Case {
        args: args(&["check", "config", "testdata/nonexistent.yml"]),
        cwd: &pt,
        stdin: None,
    });
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
        cases.push(Case {
            args: args(&["check", "rules", &format!("testdata/{f}")]),
            cwd: &rulefmt,
            stdin: None,
        });
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
        cases.push(Case {
            args: args(&["test", "rules", &p]),
            cwd: &pt,
            stdin: None,
        });
        cases.push(Case {
            args: args(&["test", "rules", "--diff", &p]),
            cwd: &pt,
            stdin: None,
        });
    }
    cases.push(Case {
        args: args(&["test", "rules", "--run=correct", "testdata/rules_run.yml"]),
        cwd: &pt,
        stdin: None,
    });
    let diffs = differences(&real, &cases);
    assert!(
        diffs.is_empty(),
        "{} of {} invocations differ from promtool 3.x:\n{}",
        diffs.len(),
        cases.len(),
        diffs.join("\n")
    );
}

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
    ];
    for (name, body) in web_configs {
        std::fs::write(dir.join(name), body).expect("write web config");
        cases.push(Case {
            args: args(&["check", "web-config", name]),
            cwd: dir,
            stdin: None,
        });
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
        cases.push(Case {
            args: args(&["promql", "format", "--experimental", expr]),
            cwd: dir,
            stdin: None,
        });
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
        cases.push(Case {
            args: args(a),
            cwd: dir,
            stdin: None,
        });
    }
    let diffs = differences(&real, &cases);
    assert!(
        diffs.is_empty(),
        "{} of {} invocations differ from promtool 3.x:\n{}",
        diffs.len(),
        cases.len(),
        diffs.join("\n")
    );
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
    .map(|a| Case {
        args: args(&a),
        cwd: tmp.path(),
        stdin: None,
    })
    .collect();
    let diffs = differences(&real, &cases);
    assert!(
        diffs.is_empty(),
        "{} of {} invocations differ from promtool 3.x:\n{}",
        diffs.len(),
        cases.len(),
        diffs.join("\n")
    );
}
