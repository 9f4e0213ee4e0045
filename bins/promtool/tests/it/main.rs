//! promtool end to end. Here `check config`: our binary on the project's good and bad
//! configs, Debian's `/etc/prometheus/prometheus.yml` and upstream's promtool test data,
//! compared with the real promtool 2.42 when `/usr/bin/promtool` exists; `tsdb` and `query`
//! in their modules, `check rules` in `rules`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod backfill;
mod debug;
mod httpconfig;
mod metrics;
mod promtool3;
mod push;
mod query;
mod rules;
mod sd;
mod tsdb;
mod unittest;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const REAL_PROMTOOL: &str = "/usr/bin/promtool";

/// Bad configs we wrote, each with a phrase our message must contain (what is wrong).
const BAD: &[(&str, &str)] = &[
    (
        "bad_duration.yml",
        "bad_duration.yml: unknown unit \"x\" in duration \"15x\"",
    ),
    (
        "unknown_field.yml",
        "yaml: unmarshal errors:\n  line 3: field scrape_intervall not found in type config.ScrapeConfig",
    ),
    (
        "duplicate_job.yml",
        "found multiple scrape configs with job name \"node\"",
    ),
    ("invalid_relabel_regex.yml", "error parsing regexp"),
    (
        "timeout_above_interval.yml",
        "scrape timeout greater than scrape interval for scrape config with job name \"node\"",
    ),
    (
        "missing_rule_file.yml",
        "this-rule-file-does-not-exist.yml\" does not point to an existing file",
    ),
    ("bad_url.yml", "http://[::1:9090/api/v1/write"),
    (
        "conflicting_auth.yml",
        "at most one of basic_auth, oauth2 & authorization must be configured",
    ),
    (
        "password_and_password_file.yml",
        "at most one of basic_auth password, password_file",
    ),
    ("bad_label_name.yml", "\"\" is not a valid label name"),
    (
        "bad_indentation.yml",
        "yaml: line 3: mapping values are not allowed in this context",
    ),
    (
        "duplicate_key.yml",
        "yaml: unmarshal errors:\n  line 3: field global already set in type config.plain",
    ),
    (
        "url_as_target.yml",
        "\"http://localhost:9100/metrics\" is not a valid hostname",
    ),
    (
        "negative_sample_limit.yml",
        "yaml: unmarshal errors:\n  line 3: cannot unmarshal !!int `-1` into uint",
    ),
    (
        "missing_tls_cert_file.yml",
        "error checking client cert file \"/nonexistent/client.crt\"",
    ),
    (
        "hashmod_without_modulus.yml",
        "relabel configuration for hashmod requires non-zero modulus",
    ),
];

/// Good configs we wrote.
const GOOD: &[&str] = &["full.yml", "merge_keys.yml", "utf8_label_name.yml"];

/// Where Prometheus 3 semantics (which we follow) differ from the installed 2.42, so the
/// exit codes are expected to differ.
const DIFFERS_FROM_2_42: &[(&str, &str)] = &[(
    "utf8_label_name.yml",
    "3.x accepts any UTF-8 label name (`cluster.name`); 2.42 only legacy names",
)];

fn ours() -> &'static str {
    env!("CARGO_BIN_EXE_promtool")
}

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .output()
        .expect("promtool runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Where the Prometheus 3.x promtool looks for: `PROMTOOL3_BIN`, else the unpacked Debian
/// package at `/tmp/promtool35` (not installed on CI machines, so absent there).
const PROMTOOL3_DEFAULT: &str = "/tmp/promtool35/usr/bin/promtool";

/// A promtool 3.x to compare with (the output we follow where 2.42's differs), or `None`
/// with a printed notice: comparisons with it are skipped, never failed, when it is absent.
fn promtool3() -> Option<String> {
    let path = std::env::var("PROMTOOL3_BIN").unwrap_or_else(|_| PROMTOOL3_DEFAULT.to_string());
    if Path::new(&path).is_file() {
        Some(path)
    } else {
        eprintln!(
            "notice: promtool 3.x not found at {path} (set PROMTOOL3_BIN), not comparing with it"
        );
        None
    }
}

fn have_real() -> bool {
    let present = Path::new(REAL_PROMTOOL).is_file();
    if !present {
        eprintln!("notice: {REAL_PROMTOOL} not found, comparing with our expectations only");
    }
    present
}

/// Runs both promtools on `file` and checks our exit code, and the real one's unless the
/// case is listed in [`DIFFERS_FROM_2_42`].
fn compare(file: &Path, want: i32, real: bool) -> Output {
    let path = file.to_str().expect("UTF-8 path");
    let out = run(ours(), &["check", "config", path]);
    assert_eq!(
        out.status.code(),
        Some(want),
        "{path}: our promtool said:\n{}",
        text(&out)
    );
    assert!(
        text(&out).starts_with(&format!("Checking {path}\n")),
        "{}",
        text(&out)
    );
    if real {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let go = run(REAL_PROMTOOL, &["check", "config", path]);
        if let Some((_, why)) = DIFFERS_FROM_2_42.iter().find(|(n, _)| *n == name) {
            assert_ne!(
                go.status.code(),
                out.status.code(),
                "{name} no longer differs ({why})"
            );
        } else {
            assert_eq!(
                go.status.code(),
                out.status.code(),
                "{path}: exit codes differ\nours:\n{}\npromtool 2.42:\n{}",
                text(&out),
                text(&go)
            );
        }
    }
    out
}

fn project(dir: &str, name: &str) -> PathBuf {
    test_support::project_testdata(&format!("config/{dir}/{name}"))
}

#[test]
fn bad_configs_fail_like_promtool_with_a_message_saying_what_and_where() {
    let real = have_real();
    for (name, phrase) in BAD {
        let file = project("bad", name);
        let out = compare(&file, 1, real);
        let msg = text(&out);
        assert!(msg.contains("  FAILED: "), "{name}: {msg}");
        assert!(
            msg.contains(phrase),
            "{name}: message lacks {phrase:?}:\n{msg}"
        );
        let where_ = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let dir = file.parent().and_then(|d| d.to_str()).unwrap_or("");
        assert!(
            msg.contains(where_) || msg.contains(dir),
            "{name}: message does not name the file:\n{msg}"
        );
    }
}

#[test]
fn good_configs_pass_like_promtool() {
    let real = have_real();
    for name in GOOD {
        let file = project("good", name);
        let out = compare(&file, 0, real);
        assert!(
            text(&out).contains("is valid prometheus config file syntax"),
            "{}",
            text(&out)
        );
    }
    let out = compare(&project("good", "full.yml"), 0, real);
    let msg = text(&out);
    assert!(msg.contains("  SUCCESS: 1 rule files found"), "{msg}");
    assert!(msg.contains("  SUCCESS: 2 rules found"), "{msg}");
}

#[test]
fn debian_default_config_passes() {
    let file = Path::new("/etc/prometheus/prometheus.yml");
    if !file.is_file() {
        eprintln!("notice: {} not found, skipping", file.display());
        return;
    }
    compare(file, 0, have_real());
}

#[test]
fn upstream_promtool_configs() {
    let Some(dir) = test_support::testdata_dir("upstream/cmd/promtool/testdata") else {
        return;
    };
    let real = have_real();
    for (name, want) in [
        ("prometheus-config.good.yml", 0),
        ("prometheus-config.bad.yml", 1),
        ("config_with_rule_files.yml", 1),
        ("config_with_service_discovery_files.yml", 0),
        ("config_with_tls_files.yml", 1),
        ("authorization_credentials_file.bad.yml", 1),
        ("authorization_credentials_file.good.yml", 0),
        ("url_in_scrape_targetgroup_with_relabel_config.bad.yml", 1),
        ("url_in_scrape_targetgroup_with_relabel_config.good.yml", 0),
        ("url_in_alert_targetgroup_with_relabel_config.bad.yml", 1),
        ("url_in_alert_targetgroup_with_relabel_config.good.yml", 0),
        ("prometheus-config.lint.yml", 0),
    ] {
        compare(&dir.join(name), want, real);
    }
    let warn = text(&run(
        ours(),
        &[
            "check",
            "config",
            dir.join("config_with_service_discovery_files.yml")
                .to_str()
                .unwrap(),
        ],
    ));
    assert!(
        warn.contains("  WARNING: file ")
            && warn.contains("for file_sd in scrape job \"prometheus\" does not exist"),
        "{warn}"
    );
}

#[test]
fn lint_problems_exit_3_only_with_lint_fatal() {
    let Some(dir) = test_support::testdata_dir("upstream/cmd/promtool/testdata") else {
        return;
    };
    let lint = dir.join("prometheus-config.lint.yml");
    let lint = lint.to_str().unwrap();
    let out = run(ours(), &["check", "config", "--lint-fatal", lint]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("1 duplicate rule(s) found"),
        "{}",
        text(&out)
    );
    let out = run(
        ours(),
        &["check", "config", "--lint=none", "--lint-fatal", lint],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    if have_real() {
        let go = run(REAL_PROMTOOL, &["check", "config", "--lint-fatal", lint]);
        assert_eq!(go.status.code(), Some(3), "{}", text(&go));
    }
    let long = dir.join("prometheus-config.lint.too_long_scrape_interval.yml");
    let long = long.to_str().unwrap();
    let out = run(
        ours(),
        &[
            "check",
            "config",
            "--lint=too-long-scrape-interval",
            "--lint-fatal",
            long,
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("too long scrape interval found"),
        "{}",
        text(&out)
    );
}

#[test]
fn syntax_only_skips_referenced_files() {
    let file = project("bad", "missing_rule_file.yml");
    let out = run(
        ours(),
        &["check", "config", "--syntax-only", file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    if have_real() {
        let go = run(
            REAL_PROMTOOL,
            &["check", "config", "--syntax-only", file.to_str().unwrap()],
        );
        assert_eq!(go.status.code(), Some(0), "{}", text(&go));
    }
}

#[test]
fn check_web_config_agrees_with_promtool_2_42() {
    let dir = tempfile::tempdir().unwrap();
    // A bcrypt hash (accepted), an unknown field, a missing certificate file.
    let cases = [
        (
            "good.yml",
            "basic_auth_users:\n  alice: $2y$04$V/3B.Gh5D.8d6kr2q1yTh.4w0OUUeuNpKz3wpx6Gb2P7gVSVSQsqa\n",
            0,
        ),
        ("unknown.yml", "basic_auth_user:\n  alice: x\n", 1),
        (
            "missing_key.yml",
            "tls_server_config:\n  cert_file: /nonexistent/server.crt\n",
            1,
        ),
    ];
    let real = have_real();
    for (name, body, want) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        let p = path.to_str().unwrap();
        let out = run(ours(), &["check", "web-config", p]);
        assert_eq!(out.status.code(), Some(want), "{name}: {}", text(&out));
        let verdict = if want == 0 { "SUCCESS" } else { "FAILED" };
        assert!(
            text(&out).starts_with(&format!("{p} {verdict}")),
            "{name}: {}",
            text(&out)
        );
        if real {
            let go = run(REAL_PROMTOOL, &["check", "web-config", p]);
            assert_eq!(
                go.status.code(),
                Some(want),
                "2.42 on {name}: {}",
                text(&go)
            );
        }
    }
}

#[test]
fn version_reads_like_promtools() {
    let out = run(ours(), &["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("promtool, version "), "{text}");
    assert!(lines[0].contains(" (branch: ") && lines[0].contains(", revision: "));
    assert!(lines[3].starts_with("  go version:       rustc "), "{text}");
    assert!(lines[4].starts_with("  platform:         "), "{text}");
    // Go's build tags are our cargo features: promtool has none.
    assert_eq!(lines[5], "  tags:             ", "{text}");
    // Anywhere on the command line, as kingpin's flag.
    assert!(run(ours(), &["check", "--version"]).status.success());
}

#[test]
fn promql_commands_need_experimental() {
    let out = run(ours(), &["promql", "format", "up"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "This command is experimental and requires the --experimental flag to be set.\n"
    );
    let out = run(
        ours(),
        &[
            "--experimental",
            "promql",
            "format",
            "sum by(job)(rate(x[5m]))",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "sum by (job) (rate(x[5m]))\n"
    );
    let out = run(ours(), &["--experimental", "promql", "format", "sum("]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "1:5: parse error: unclosed left parenthesis\n"
    );
}

#[test]
fn enable_feature_is_accepted_and_unknown_names_warned() {
    let out = run(
        ours(),
        &[
            "--enable-feature=promql-duration-expr,bogus",
            "--experimental",
            "promql",
            "format",
            "up[5m*2]",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "  WARNING: Unknown feature passed to --enable-feature: bogusup[5m * 2]\n"
    );
}
