//! What a `/metrics` scrape costs the head: `Head::write_metrics` on heads of 10k and 500k
//! series (`cargo bench -p tsdb --bench metrics`). Its gauges are kept at the events, so
//! the time should not grow with the number of series.
#![allow(clippy::print_stderr, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::Criterion;
use model::Labels;
use tsdb::head::{Head, HeadOptions};

fn labels(i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", format!("metric_{}", i % 500)),
        ("instance", format!("host-{}:9100", i / 500)),
        ("job", "node".to_string()),
    ])
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("metrics");
    g.sample_size(20);
    for series in [10_000usize, 500_000] {
        let dir = tempfile::tempdir().unwrap();
        let head = Head::open(dir.path(), HeadOptions::default(), i64::MIN).unwrap();
        let all: Vec<Labels> = (0..series).map(labels).collect();
        // Two samples per series, in two chunk ranges: each series has a memory-mapped
        // chunk and an open one.
        for t in [0i64, 3 * 3_600_000] {
            for batch in all.chunks(1000) {
                let mut app = head.appender();
                for l in batch {
                    app.append(0, l, t, 1.0).unwrap();
                }
                app.commit().unwrap();
            }
        }
        drop(all);
        g.bench_function(format!("head write_metrics {series} series"), |b| {
            b.iter(|| {
                let mut out = String::with_capacity(64 * 1024);
                head.write_metrics(&mut out);
                black_box(out)
            });
        });
        head.close().unwrap();
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
