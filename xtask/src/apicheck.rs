//! `cargo xtask apicheck`: our HTTP API against prometheus-api-client and schemathesis (needs PyPI).
//!
//! Steps (everything under `target/apicheck/`):
//! 1. creates a Python venv (`venv/`, reused on later runs) and installs
//!    prometheus-api-client (plus numpy for its aggregation call) and schemathesis with pip;
//! 2. builds `cargo build --release -p prometheus` and starts it on a free loopback port with
//!    a fresh data directory and the optional endpoints enabled (`SERVER_FLAGS`), scraping
//!    itself every 5 s, and waits 20 s;
//! 3. runs `testdata/apicheck/client_check.py` (the client's main calls, one PASS/FAIL line
//!    each);
//! 4. runs schemathesis on upstream's OpenAPI 3.1 golden file
//!    (`upstream/web/api/v1/testdata/openapi_3.1_golden.yaml`) with the checks
//!    not_a_server_error, status_code_conformance, content_type_conformance and
//!    response_schema_conformance, 20 examples per operation, at most 300 s;
//!
//! then prints a summary and fails when either part failed. Not run by CI.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::servers::{Server, fresh_dir};
use crate::workspace_root;

const PIP_PACKAGES: &[&str] = &["prometheus-api-client", "numpy", "schemathesis"];
const SPEC: &str = "upstream/web/api/v1/testdata/openapi_3.1_golden.yaml";
const SERVER_FLAGS: &[&str] = &[
    "--web.enable-admin-api",
    "--web.enable-remote-write-receiver",
    "--enable-feature=search-api",
    "--web.enable-otlp-receiver",
];
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

/// Runs the task.
pub(crate) fn run() -> Result<()> {
    let root = workspace_root();
    let base = root.join("target/apicheck");
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let venv = base.join("venv");
    let python = venv.join("bin/python");
    if !python.is_file() {
        println!("== python3 -m venv {}", venv.display());
        status(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    println!("== pip install {}", PIP_PACKAGES.join(" "));
    status(
        Command::new(&python)
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .args(PIP_PACKAGES),
    )?;
    let spec = spec_path()?;

    let bin = build_server(&root)?;
    let data = fresh_dir("apicheck/data")?;
    // Every endpoint of the OpenAPI description switched on, so that schemathesis exercises
    // them rather than their "not enabled" answers.
    let server = Server::start_with_config("ours", &bin, &data, SERVER_FLAGS, |addr| {
        format!(
            "global:\n  scrape_interval: 5s\n  evaluation_interval: 5s\n\
             scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: [\"{addr}\"]\n"
        )
    })?;
    let url = format!("http://{}", server.addr);
    println!(
        "== server at {url} (log {}); waiting 20s for a few scrapes",
        data.with_extension("log").display()
    );
    std::thread::sleep(Duration::from_secs(20));

    println!("== prometheus-api-client");
    let client = Command::new(&python)
        .arg(root.join("testdata/apicheck/client_check.py"))
        .arg(&url)
        .stdin(Stdio::null())
        .output()
        .context("running client_check.py")?;
    let client_out = String::from_utf8_lossy(&client.stdout).into_owned();
    print!("{client_out}");
    eprint!("{}", String::from_utf8_lossy(&client.stderr));

    println!("== schemathesis");
    let st = Command::new(venv.join("bin/schemathesis"))
        .arg("run")
        .arg(&spec)
        .arg("--url")
        .arg(format!("{url}/api/v1"))
        .args(["--checks", CHECKS])
        .args([
            "--max-examples",
            "20",
            "--max-time",
            "300",
            "--workers",
            "1",
        ])
        .arg("--report")
        .arg("junit")
        .arg("--report-dir")
        .arg(base.join("report"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .context("running schemathesis")?;
    let st_out = String::from_utf8_lossy(&st.stdout).into_owned();
    std::fs::write(base.join("schemathesis.txt"), &st_out)?;
    print!("{st_out}");
    eprint!("{}", String::from_utf8_lossy(&st.stderr));
    drop(server);

    println!("== summary");
    let client_failed: Vec<&str> = client_out
        .lines()
        .filter_map(|l| l.strip_prefix("FAIL "))
        .collect();
    println!(
        "prometheus-api-client: {} passed, {} failed",
        client_out
            .lines()
            .filter(|l| l.starts_with("PASS "))
            .count(),
        client_failed.len()
    );
    for f in &client_failed {
        println!("  FAIL {f}");
    }
    for f in schemathesis_failures(&st_out) {
        println!("  {f}");
    }
    if let Some(i) = st_out.find("SUMMARY") {
        for l in st_out[i..].lines().skip(1).filter(|l| !l.trim().is_empty()) {
            println!("schemathesis: {}", l.trim());
        }
    }
    println!(
        "schemathesis: full output in {}, JUnit report in {}",
        base.join("schemathesis.txt").display(),
        base.join("report").display()
    );
    let mut failed = Vec::new();
    if !client.status.success() {
        failed.push("prometheus-api-client");
    }
    if !st.status.success() {
        failed.push("schemathesis");
    }
    if !failed.is_empty() {
        bail!("apicheck failed: {}", failed.join(", "));
    }
    println!("apicheck: ok");
    Ok(())
}

/// One line per failing operation from schemathesis's FAILURES section:
/// `METHOD /path: <check> [<status line>]`.
fn schemathesis_failures(out: &str) -> Vec<String> {
    let mut res = Vec::new();
    let mut op: Option<&str> = None;
    let mut checks: Vec<&str> = Vec::new();
    let mut flush = |op: Option<&str>, checks: &mut Vec<&str>, status: &str| {
        if let Some(op) = op {
            res.push(format!("{op}: {} {status}", checks.join(", ")));
        }
        checks.clear();
    };
    for l in out.lines() {
        let t = l.trim();
        if t.starts_with("___") && t.ends_with("___") && t.contains(" /") {
            op = Some(t.trim_matches('_').trim());
            checks.clear();
        } else if let Some(check) = t.strip_prefix("- ") {
            if op.is_some() && check.starts_with("ST") {
                checks.push(check);
            }
        } else if t.starts_with('[') && t.ends_with(':') && op.is_some() && !checks.is_empty() {
            flush(op.take(), &mut checks, t.trim_end_matches(':'));
        } else if t.starts_with("===") && t.contains("WARNINGS") {
            break;
        }
    }
    flush(op, &mut checks, "");
    res
}

fn status(cmd: &mut Command) -> Result<()> {
    let st = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !st.success() {
        bail!("{cmd:?} failed ({st})");
    }
    Ok(())
}

/// The OpenAPI file in the shared test data (`$PROMETHEUS_TESTDATA`, default
/// `../shared/testdata` beside the workspace, as in `test-support`).
fn spec_path() -> Result<PathBuf> {
    let dir = match std::env::var_os("PROMETHEUS_TESTDATA") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => workspace_root().join("../shared/testdata"),
    };
    let spec = dir.join(SPEC);
    if !spec.is_file() {
        bail!("{} not found (set PROMETHEUS_TESTDATA)", spec.display());
    }
    Ok(spec)
}

/// `cargo build --release -p prometheus`; an existing binary is used if the build fails
/// (unless `XTASK_STRICT_BUILD` is set).
fn build_server(root: &Path) -> Result<PathBuf> {
    let bin = root.join("target/release/prometheus");
    println!("== cargo build --release -p prometheus --bin prometheus");
    let ok = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "-p",
            "prometheus",
            "--bin",
            "prometheus",
        ])
        .current_dir(root)
        .status()
        .context("running cargo build")?
        .success();
    if !ok {
        if bin.is_file() && std::env::var_os("XTASK_STRICT_BUILD").is_none() {
            println!(
                "warning: the build failed; using the existing {} (set XTASK_STRICT_BUILD to refuse)",
                bin.display()
            );
        } else {
            bail!("cargo build --release -p prometheus failed");
        }
    }
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_listed_per_operation() {
        let out = "=== FAILURES ===\n\
            ________ DELETE /series ________\n\
            1. Test Case ID: hKizTO\n\n\
            - ST101 Server error\n\n\
            [500] Internal Server Error:\n\n\
            ________ GET /targets ________\n\
            - ST108 Response violates schema\n\
            \x20   null is not of type \"object\"\n\
            [200] OK:\n\
            === WARNINGS ===\n\
            - GET /query\n";
        assert_eq!(
            schemathesis_failures(out),
            [
                "DELETE /series: ST101 Server error [500] Internal Server Error",
                "GET /targets: ST108 Response violates schema [200] OK",
            ]
        );
    }
}
