//! Parser throughput over the expressions of the upstream PromQL test scripts.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Every `eval` expression of the upstream test scripts (empty when the data is absent).
fn expressions() -> Vec<String> {
    let Some(dir) = test_support::testdata_dir("upstream/promql/promqltest/testdata") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for line in text.lines() {
            if let Some(e) = eval_expr(line) {
                out.push(e.to_string());
            }
        }
    }
    out
}

/// The expression of an `eval[_x] instant at T EXPR` / `eval[_x] range from A to B step S
/// EXPR` line.
fn eval_expr(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("eval")?;
    let rest = rest.trim_start_matches(|c: char| c != ' ' && c != '\t');
    let n = match rest.split_whitespace().next()? {
        "instant" => 2,
        "range" => 6,
        _ => return None,
    };
    // Skip the keyword and its n argument words, keeping the rest verbatim.
    let mut s = rest.trim_start();
    for _ in 0..=n {
        let i = s.find([' ', '\t'])?;
        s = s[i..].trim_start();
    }
    Some(s.trim_end())
}

fn bench_parse(c: &mut Criterion) {
    let exprs: Vec<String> = expressions()
        .into_iter()
        .filter(|e| promql::parser::parse_expr(e).is_ok())
        .collect();
    let bytes: usize = exprs.iter().map(String::len).sum();
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(exprs.len() as u64));
    g.bench_function("upstream_exprs_elements", |b| {
        b.iter(|| {
            for e in &exprs {
                let _ = black_box(promql::parser::parse_expr(black_box(e)));
            }
        })
    });
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("upstream_exprs_bytes", |b| {
        b.iter(|| {
            for e in &exprs {
                let _ = black_box(promql::parser::parse_expr(black_box(e)));
            }
        })
    });
    g.finish();
    let parsed: Vec<_> = exprs
        .iter()
        .filter_map(|e| promql::parser::parse_expr(e).ok())
        .collect();
    c.bench_function("print_upstream_exprs", |b| {
        b.iter(|| {
            for e in &parsed {
                black_box(e.to_string());
            }
        })
    });
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
