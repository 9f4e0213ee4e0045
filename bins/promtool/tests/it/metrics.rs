//! `promtool check metrics`: lint findings, `--extended` tables and exit codes, compared with
//! the real promtool 2.42 where its (older) promlint agrees with the 3.x one we follow.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use super::{REAL_PROMTOOL, have_real, ours, text};

fn check_metrics(bin: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(bin)
        .args(["check", "metrics"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    // promtool may stop reading at a parse error and exit: a closed pipe is its answer,
    // not a failure of the test.
    match child.stdin.take().expect("piped stdin").write_all(input) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("writing stdin: {e}"),
        _ => {}
    }
    child.wait_with_output().expect("promtool runs")
}

/// Names a 2.42 promlint already lints like 3.x.
const LINTED: &str = "\
# HELP http_requests Requests.
# TYPE http_requests counter
http_requests{code=\"200\"} 1
# HELP x_milliseconds Time.
# TYPE x_milliseconds gauge
x_milliseconds 2
# TYPE fooBar_ms gauge
fooBar_ms{someLabel=\"a\"} 1
fooBar_ms{someLabel=\"b\"} 1
# HELP a:b_total Total.
# TYPE a:b_total gauge
a:b_total 1
# HELP kb_hist_bucket h
# TYPE kb_hist_bucket summary
kb_hist_bucket{quantile=\"0.5\"} 1
kb_hist_bucket_sum 1
kb_hist_bucket_count 1
# HELP my_gauge_total_counter x
# TYPE my_gauge_total_counter untyped
my_gauge_total_counter{le=\"1\"} 3
";

const CLEAN: &str = "\
# HELP rq_duration_seconds D.
# TYPE rq_duration_seconds histogram
rq_duration_seconds_bucket{le=\"1\",code=\"200\"} 1
rq_duration_seconds_bucket{le=\"+Inf\",code=\"200\"} 2
rq_duration_seconds_sum{code=\"200\"} 3
rq_duration_seconds_count{code=\"200\"} 2
rq_duration_seconds_bucket{le=\"1\",code=\"500\"} 1
rq_duration_seconds_bucket{le=\"+Inf\",code=\"500\"} 2
rq_duration_seconds_sum{code=\"500\"} 3
rq_duration_seconds_count{code=\"500\"} 2
# HELP rpc_duration_seconds D.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile=\"0.5\"} 1
rpc_duration_seconds{quantile=\"0.9\"} 1
rpc_duration_seconds_sum 1
rpc_duration_seconds_count 1
# HELP up_thing x
# TYPE up_thing gauge
up_thing 1
";

#[test]
fn lint_problems_exit_3_with_promlints_words() {
    let out = check_metrics(ours(), &[], LINTED.as_bytes());
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("http_requests counter metrics should have \"_total\" suffix\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("x_milliseconds use base unit \"seconds\" instead of \"milliseconds\"\n"),
        "{stderr}"
    );
    if have_real() {
        let go = check_metrics(REAL_PROMTOOL, &[], LINTED.as_bytes());
        assert_eq!(go.status.code(), Some(3));
        assert_eq!(String::from_utf8_lossy(&go.stderr), stderr);
    }
}

#[test]
fn lints_added_after_2_42() {
    let input = "# HELP last_timestamp_seconds x\n# TYPE last_timestamp_seconds counter\n\
                 last_timestamp_seconds_total 3\n# HELP dup x\n# TYPE dup gauge\n\
                 dup{a=\"1\"} 1\ndup{a=\"1\"} 2\n";
    let out = check_metrics(ours(), &[], input.as_bytes());
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out).contains("dup metric not unique\n"),
        "{}",
        text(&out)
    );
}

#[test]
fn extended_table_is_promtools() {
    let out = check_metrics(ours(), &["--extended"], CLEAN.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.starts_with("Metric                  Cardinality    Percentage    \n"),
        "{table}"
    );
    assert!(
        table.contains("\nrq_duration_seconds     8              61.54%        \n"),
        "{table}"
    );
    assert!(table.ends_with("\nTotal                   13             100%          \n"));
    if have_real() {
        let go = check_metrics(REAL_PROMTOOL, &["--extended"], CLEAN.as_bytes());
        assert_eq!(go.status.code(), Some(0));
        assert_eq!(String::from_utf8_lossy(&go.stdout), table);
    }
    let upstream = test_support::testdata_dir("upstream/cmd/promtool/testdata");
    if let (Some(dir), true) = (upstream, have_real()) {
        let input = std::fs::read(dir.join("metrics-test.prom")).expect("test data reads");
        let ours = check_metrics(ours(), &["--extended"], &input);
        let go = check_metrics(REAL_PROMTOOL, &["--extended"], &input);
        assert_eq!(ours.status.code(), go.status.code());
        assert_eq!(ours.stdout, go.stdout);
    }
}

#[test]
fn parse_errors_exit_1_and_lint_none_needs_extended() {
    let out = check_metrics(ours(), &[], b"# HELP a x\n# HELP a y\na 1\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).starts_with("error while linting: "),
        "{}",
        text(&out)
    );
    let out = check_metrics(ours(), &["--lint=none"], CLEAN.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("at least one of --extended or linting must be enabled"));
    let out = check_metrics(ours(), &["--lint=none", "--extended"], LINTED.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
