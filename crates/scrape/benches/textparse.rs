//! Parser throughput on Prometheus's 237-family benchmark payload (text format, and the same
//! families converted to OpenMetrics): MB/s and samples/s, with and without building labels.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scrape::textparse::{
    Entry, OpenMetricsParser, Parser, PromParser, collect_families, write_openmetrics,
};

/// Parses the whole payload; returns the number of samples (and touches their labels when
/// `labels` is set, as a scrape loop does on a cache miss).
fn run(p: &mut dyn Parser, labels: bool) -> usize {
    let mut n = 0;
    while let Some(e) = p.next().expect("benchmark payload parses") {
        if e == Entry::Series {
            let (m, _, v) = p.series();
            black_box((m, v));
            if labels {
                black_box(p.labels().expect("valid labels"));
            }
            n += 1;
        }
    }
    n
}

fn payloads() -> Option<Vec<(&'static str, Vec<u8>)>> {
    let dir = test_support::testdata_dir("upstream/model/textparse/testdata")?;
    let text = std::fs::read(dir.join("alltypes.237mfs.prom.txt")).expect("reading payload");
    let families = collect_families(&mut PromParser::new(&text)).expect("payload parses");
    let om = write_openmetrics(&families).into_bytes();
    Some(vec![("promtext", text), ("openmetrics", om)])
}

fn parser<'a>(format: &str, body: &'a [u8]) -> Box<dyn Parser + 'a> {
    if format == "promtext" {
        Box::new(PromParser::new(body))
    } else {
        Box::new(OpenMetricsParser::new(body))
    }
}

fn bench(c: &mut Criterion) {
    let Some(payloads) = payloads() else {
        return;
    };
    for (unit, per_bytes) in [("bytes", true), ("samples", false)] {
        let mut group = c.benchmark_group(format!("textparse/{unit}"));
        group
            .sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        for (format, body) in &payloads {
            let samples = run(&mut *parser(format, body), false);
            group.throughput(if per_bytes {
                Throughput::Bytes(body.len() as u64)
            } else {
                Throughput::Elements(samples as u64)
            });
            for labels in [false, true] {
                let name = format!("{format}/{}", if labels { "labels" } else { "series" });
                group.bench_function(name, |b| {
                    b.iter(|| run(&mut *parser(format, black_box(body)), labels));
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
