//! Select latency on a persistent block with regex matchers, for 1, 100 and 10k series.
#![allow(clippy::print_stderr, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use model::{Labels, MatchType, Matcher};
use storage::{Querier, ValueType};
use tsdb::block::Block;
use tsdb::compact::{BlockWriter, encode_chunks};
use tsdb::querier::BlockQuerier;

const SERIES: usize = 10_000;

/// A block of 10k series (`bench_metric{instance="i-N", group="gN%100", pod="pN%1000"}`),
/// 240 samples each (one hour at 15 s).
fn build(dir: &std::path::Path) -> Block {
    let samples: Vec<(i64, f64)> = (0..240).map(|k| (k * 15_000, k as f64)).collect();
    let chunks = encode_chunks(&samples).unwrap();
    let series = (0..SERIES).map(|i| {
        let l = Labels::from_pairs([
            ("__name__", "bench_metric".to_string()),
            ("instance", format!("i-{i:05}")),
            ("group", format!("g{:02}", i % 100)),
            ("pod", format!("p{:03}", i % 1000)),
        ]);
        (l, chunks.clone())
    });
    let ulid = BlockWriter::new(dir)
        .write(series, 0, 3_600_000)
        .unwrap()
        .unwrap();
    Block::open(&dir.join(ulid.to_string())).unwrap()
}

fn count(q: &BlockQuerier, ms: &[Matcher]) -> usize {
    let mut set = q.select(true, None, ms);
    let mut n = 0;
    while let Some(s) = set.next() {
        let mut it = s.unwrap().iterator();
        while it.next() == ValueType::Float {
            n += 1;
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let block = build(dir.path());
    let q = BlockQuerier::new(Arc::new(block), 0, 3_600_000);
    let re = |n: &str, v: &str| Matcher::new(MatchType::RegexMatch, n, v).unwrap();
    let name = Matcher::new(MatchType::Equal, "__name__", "bench_metric").unwrap();
    let cases = [
        (
            "1 series",
            vec![name.clone(), re("instance", "i-0004[2]")],
            1usize,
        ),
        (
            "100 series",
            vec![name.clone(), re("group", "g0.*"), re("pod", "p00.|p01.")],
            200,
        ),
        (
            "10k series",
            vec![name.clone(), re("instance", "i-.*")],
            SERIES,
        ),
    ];
    let mut g = c.benchmark_group("select");
    g.sample_size(10);
    for (label, ms, _) in &cases {
        let n = count(&q, ms);
        eprintln!("select {label}: {} samples", n);
        g.bench_function(*label, |b| b.iter(|| count(&q, black_box(ms))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
