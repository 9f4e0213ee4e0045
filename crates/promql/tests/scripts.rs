//! Runs Prometheus's PromQL test scripts (and ours in `testdata/promql`) against the engine,
//! one named case per file, with a known-failures ratchet.
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
use promqltest::{FileResult, TestStorage};

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

fn mem_storage() -> Arc<dyn TestStorage> {
    Arc::new(storage::MemStorage::new())
}

type Results = Arc<Mutex<BTreeMap<String, FileResult>>>;

fn run_one(path: &Path, known: &BTreeMap<String, String>, results: &Results) -> Result<(), Failed> {
    let engine = promqltest::test_engine();
    let name = file_name(path);
    let res = promqltest::run_file(path, &engine, &mem_storage)
        .map_err(|e| Failed::from(e.to_string()))?;
    let mut problems = Vec::new();
    let failing: BTreeSet<String> = res
        .failures
        .iter()
        .map(|f| format!("{name}:{}", f.line))
        .collect();
    for f in &res.failures {
        let key = format!("{name}:{}", f.line);
        if !known.contains_key(&key) {
            problems.push(format!("{key}: {} — {}", f.expr, f.message));
        }
    }
    for key in known.keys() {
        if key.starts_with(&format!("{name}:")) && !failing.contains(key) {
            problems.push(format!(
                "{key} is listed in {KNOWN_FAILURES} but passes now: remove it"
            ));
        }
    }
    results
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name, res);
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
    let trials: Vec<Trial> = script_files()
        .into_iter()
        .map(|path| {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let known = known.clone();
            let results = results.clone();
            Trial::test(name, move || run_one(&path, &known, &results))
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    let results = results.lock().unwrap_or_else(|e| e.into_inner());
    let (mut p, mut f, mut s) = (0, 0, 0);
    for (name, r) in results.iter() {
        println!(
            "{name}: {} passed, {} failed, {} skipped",
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
        for (name, r) in results.iter() {
            for fl in &r.failures {
                let reason: String = fl.message.chars().take(160).collect();
                out.push_str(&format!(
                    "{name}:{} {}\n",
                    fl.line,
                    reason.replace('\n', " ")
                ));
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
