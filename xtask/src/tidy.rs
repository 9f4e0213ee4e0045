//! `cargo xtask tidy`: the crate graph of docs/ARCHITECTURE.md and the house rules, checked
//! from `cargo metadata` and the source tree. Also runs as a `#[test]`, so `cargo test` fails
//! on a violation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Which workspace crates each workspace crate may depend on (normal and build
/// dependencies). Nothing points upward; see docs/ARCHITECTURE.md.
const ALLOWED: &[(&str, &[&str])] = &[
    // L0
    ("model", &[]),
    ("prompb", &[]),
    ("run-group", &[]),
    ("test-support", &[]),
    // L1
    ("chunkenc", &["model"]),
    ("config", &["model"]),
    ("template", &["model"]),
    // storage's networking (feature "remote") uses the shared HTTP client and the chunk
    // encodings (streamed remote read); its core traits stay on model alone.
    ("storage", &["model", "prompb", "httpclient", "chunkenc"]),
    // L2
    ("httpclient", &["config", "model"]),
    ("discovery", &["config", "httpclient", "model"]),
    ("promql", &["storage", "model"]),
    ("tsdb", &["chunkenc", "storage", "model"]),
    // L3
    // config: go-yaml's YAML rules (tabs libyaml refuses) shared with rule files.
    (
        "rules",
        &["promql", "storage", "template", "config", "model"],
    ),
    ("scrape", &["config", "httpclient", "storage", "model"]),
    ("notifier", &["config", "httpclient", "model"]),
    (
        "promqltest",
        &["promql", "tsdb", "storage", "model", "test-support"],
    ),
    // L4
    (
        "web",
        &[
            "promql", "rules", "scrape", "notifier", "storage", "config", "model",
            // The template expander's counters on `/metrics`.
            "template",
        ],
    ),
    // L5
    (
        "prometheus",
        &[
            "run-group",
            "config",
            "httpclient",
            "discovery",
            "scrape",
            "promql",
            "rules",
            "notifier",
            "tsdb",
            "storage",
            "web",
            "model",
            "prompb",
        ],
    ),
    (
        "promtool",
        &[
            "config",
            "promql",
            "rules",
            "template",
            "tsdb",
            "storage",
            "promqltest",
            // `check metrics` and `tsdb create-blocks-from openmetrics` parse expositions,
            // `check service-discovery` builds targets as the scrape manager does.
            "scrape",
            // `check service-discovery` runs the job's discovery once.
            "discovery",
            // `push metrics` sends remote-write requests.
            "prompb",
            // `check web-config` validates with the server's own web config loader.
            "web",
            // `--http.config.file`: the server's own HTTP client options.
            "httpclient",
            "model",
        ],
    ),
    // `difftest` parses and rewrites queries with our PromQL parser and re-evaluates the
    // outer part of a query in-process to prove known differences (xtask/src/difftest.rs).
    // `wirediff` decodes remote-write and remote-read messages with prompb's types.
    ("xtask", &["promql", "storage", "model", "prompb"]),
];

/// Dev-dependencies allowed beyond the normal ones: test-side crates.
fn dev_allowed(krate: &str, dep: &str) -> bool {
    dep == "test-support"
        || (dep == "promqltest" && matches!(krate, "promql" | "rules" | "web" | "promtool"))
        // promql's embedding doctests and examples run the engine over the TSDB.
        || (dep == "tsdb" && krate == "promql")
        // web's tests build remote-write requests to drive /api/v1/write.
        || (dep == "prompb" && krate == "web")
}

struct Package {
    name: String,
    manifest: PathBuf,
    deps: Vec<(String, Option<String>)>, // (name, kind) for workspace (path) deps
}

fn workspace_packages(root: &Path) -> Result<Vec<Package>> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing cargo metadata output")?;
    let mut packages = Vec::new();
    for p in meta["packages"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or_default().to_string();
        let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap_or_default());
        let deps = p["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["path"].is_string())
            .map(|d| {
                (
                    d["name"].as_str().unwrap_or_default().to_string(),
                    d["kind"].as_str().map(str::to_string),
                )
            })
            .collect();
        packages.push(Package {
            name,
            manifest,
            deps,
        });
    }
    Ok(packages)
}

/// Every violation found, one line each.
pub(crate) fn check(root: &Path) -> Result<Vec<String>> {
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(k, v)| (*k, v.iter().copied().collect()))
        .collect();
    let mut problems = Vec::new();
    for p in workspace_packages(root)? {
        let Some(ok) = allowed.get(p.name.as_str()) else {
            problems.push(format!(
                "crate {} is not in the crate graph (xtask/src/tidy.rs ALLOWED and docs/ARCHITECTURE.md)",
                p.name
            ));
            continue;
        };
        for (dep, kind) in &p.deps {
            let permitted = ok.contains(dep.as_str())
                || (kind.as_deref() == Some("dev") && dev_allowed(&p.name, dep));
            if !permitted {
                problems.push(format!(
                    "crate graph: {} -> {dep} ({}) is not allowed",
                    p.name,
                    kind.as_deref().unwrap_or("normal")
                ));
            }
        }
        let dir = p
            .manifest
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        check_manifest(&p.name, &p.manifest, &mut problems)?;
        check_sources(&p.name, &dir, &mut problems)?;
    }
    Ok(problems)
}

/// Versions live only in `[workspace.dependencies]`; libraries use no anyhow; lints are the
/// workspace's.
fn check_manifest(name: &str, manifest: &Path, problems: &mut Vec<String>) -> Result<()> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let is_tool = manifest
        .components()
        .any(|c| matches!(c.as_os_str().to_str(), Some("bins" | "xtask")));
    let mut section = String::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.to_string();
            continue;
        }
        let in_deps = section.contains("dependencies");
        if !in_deps || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let dep = line.split(['=', '.', ' ']).next().unwrap_or_default();
        if !line.contains("workspace = true") && !line.contains("workspace=true") {
            problems.push(format!(
                "{}:{}: dependency {dep} must use `workspace = true` (versions live in the root Cargo.toml)",
                manifest.display(),
                i + 1
            ));
        }
        if dep == "anyhow" && !is_tool && section == "[dependencies]" {
            problems.push(format!(
                "{}:{}: library crate {name} depends on anyhow; use its thiserror enum",
                manifest.display(),
                i + 1
            ));
        }
    }
    if !text.contains("[lints]") {
        problems.push(format!(
            "{}: missing `[lints] workspace = true`",
            manifest.display()
        ));
    }
    Ok(())
}

/// Every source file opens with a `//!` header; shipped code has no placeholders.
fn check_sources(name: &str, dir: &Path, problems: &mut Vec<String>) -> Result<()> {
    let src = dir.join("src");
    let mut files = Vec::new();
    collect_rs(&src, &mut files)?;
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let first = text
            .lines()
            .find(|l| !l.trim().is_empty() && !l.starts_with("#!["))
            .unwrap_or_default();
        if !first.starts_with("//!") {
            problems.push(format!(
                "{}: must open with a `//!` comment saying what the file is for",
                file.display()
            ));
        }
        // Test modules kept in their own file (`foo/tests.rs`) are not shipped code.
        let is_test_file = file.file_name().is_some_and(|f| f == "tests.rs")
            || file.components().any(|c| c.as_os_str() == "tests");
        if name == "xtask" || is_test_file {
            continue;
        }
        // Placeholders in shipped code: only code before a `#[cfg(test)]` module counts.
        let shipped = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (i, line) in shipped.lines().enumerate() {
            let placeholder = ["todo!(", "unimplemented!(", "TODO", "FIXME", "XXX"]
                .iter()
                .find(|p| line.contains(*p));
            if let Some(p) = placeholder {
                problems.push(format!(
                    "{}:{}: placeholder `{p}` in shipped code: finish it or fail loudly with an error",
                    file.display(),
                    i + 1
                ));
            }
        }
    }
    Ok(())
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            collect_rs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn tidy() {
        let root = crate::workspace_root();
        let problems = super::check(&root).expect("tidy could not run");
        assert!(
            problems.is_empty(),
            "tidy found {} problem(s):\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
}
