//! Runs Prometheus's PromQL test scripts (and ours in `testdata/promql`) against the engine,
//! one named case per file and storage (`storage::MemStorage`, and the TSDB head as
//! `tsdb::<file>`), with a known-failures ratchet.
//!
//! `testdata/conformance/promql-known-failures.txt` lists each failing `eval` as
//! `file.test:LINE reason`. An unlisted failure fails the file's case, and so does a listed
//! case that passes, so the list only shrinks. `PROMQL_UPDATE_KNOWN_FAILURES=1` rewrites the
//! list from the current results (run all files when doing that).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use libtest_mimic::{Arguments, Failed, Trial};
use promqltest::{FileResult, StorageFactory};

const KNOWN_FAILURES: &str = "conformance/promql-known-failures.txt";

fn known_failures() -> BTreeMap<String, String> {
    let path = test_support::project_testdata(KNOWN_FAILURES);
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(' ') {
            Some((k, r)) => (k.to_string(), r.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

fn script_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(dir) = test_support::testdata_dir("upstream/promql/promqltest/testdata") {
        files.extend(test_files(&dir));
    }
    let ours = test_support::project_testdata("promql");
    if ours.is_dir() {
        files.extend(test_files(&ours));
    }
    files
}

fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "test"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Results by (storage, file name).
type Results = Arc<Mutex<BTreeMap<(String, String), FileResult>>>;

fn run_one(
    path: &Path,
    storage: &str,
    factory: StorageFactory<'_>,
    known: &BTreeMap<String, String>,
    results: &Results,
) -> Result<(), Failed> {
    let engine = promqltest::test_engine();
    let name = file_name(path);
    let res = promqltest::run_file(path, &engine, factory).map_err(|e| {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        Failed::from(msg)
    })?;
    let mut problems = Vec::new();
    // Keys are `file:line`, or `tsdb::file:line` for failures seen only on the TSDB.
    let key_of = |line: usize| format!("{name}:{line}");
    let own_key = |line: usize| {
        if storage == "mem" {
            key_of(line)
        } else {
            format!("{storage}::{name}:{line}")
        }
    };
    let failing: BTreeSet<usize> = res.failures.iter().map(|f| f.line).collect();
    for f in &res.failures {
        if !known.contains_key(&key_of(f.line)) && !known.contains_key(&own_key(f.line)) {
            problems.push(format!("{}: {} — {}", key_of(f.line), f.expr, f.message));
        }
    }
    let prefix = if storage == "mem" {
        format!("{name}:")
    } else {
        format!("{storage}::{name}:")
    };
    for key in known.keys() {
        let Some(line) = key
            .strip_prefix(&prefix)
            .and_then(|l| l.parse::<usize>().ok())
        else {
            continue;
        };
        if !failing.contains(&line) {
            problems.push(format!(
                "{key} is listed in {KNOWN_FAILURES} but passes now: remove it"
            ));
        }
    }
    results
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert((storage.to_string(), name), res);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failed::from(problems.join("\n")))
    }
}

fn main() {
    let args = Arguments::from_args();
    let known = Arc::new(known_failures());
    let results: Results = Arc::new(Mutex::new(BTreeMap::new()));
    let mut trials: Vec<Trial> = Vec::new();
    // The same scripts on the in-memory storage and on the TSDB head.
    for (storage, prefix) in [("mem", ""), ("tsdb", "tsdb::")] {
        for path in script_files() {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let known = known.clone();
            let results = results.clone();
            trials.push(Trial::test(format!("{prefix}{name}"), move || {
                let factory: StorageFactory<'_> = if storage == "mem" {
                    &promqltest::mem_storage
                } else {
                    &promqltest::tsdb_storage
                };
                run_one(&path, storage, factory, &known, &results)
            }));
        }
    }
    let conclusion = libtest_mimic::run(&args, trials);
    let results = results.lock().unwrap_or_else(|e| e.into_inner());
    let (mut p, mut f, mut s) = (0, 0, 0);
    for ((storage, name), r) in results.iter() {
        println!(
            "{storage}/{name}: {} passed, {} failed, {} skipped",
            r.passed, r.failed, r.skipped
        );
        p += r.passed;
        f += r.failed;
        s += r.skipped;
    }
    println!("{p} passed, {f} failed, {s} skipped");
    if std::env::var_os("PROMQL_UPDATE_KNOWN_FAILURES").is_some() {
        let mut out = String::from(
            "# PromQL conformance: evals known to fail (file:line reason). The list only shrinks.\n",
        );
        for ((storage, name), r) in results.iter() {
            for fl in &r.failures {
                let key = if storage == "mem" {
                    format!("{name}:{}", fl.line)
                } else {
                    let mem_fails = results
                        .get(&("mem".to_string(), name.clone()))
                        .is_some_and(|m| m.failures.iter().any(|f| f.line == fl.line));
                    if mem_fails {
                        continue;
                    }
                    format!("{storage}::{name}:{}", fl.line)
                };
                let reason: String = fl.message.chars().take(160).collect();
                out.push_str(&format!("{key} {}\n", reason.replace('\n', " ")));
            }
        }
        let path = test_support::project_testdata(KNOWN_FAILURES);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if let Err(e) = std::fs::write(&path, out) {
            eprintln!("writing {}: {e}", path.display());
        }
    }
    conclusion.exit();
}
