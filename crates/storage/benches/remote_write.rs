//! Remote-write encode + snappy throughput: building, protobuf-encoding and compressing
//! batches of `max_samples_per_send` samples.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use model::Labels;

fn samples(n: usize) -> Vec<(Labels, i64, f64)> {
    (0..n)
        .map(|i| {
            let labels = Labels::from_pairs([
                ("__name__", "node_cpu_seconds_total".to_string()),
                ("cpu", (i % 8).to_string()),
                ("instance", format!("host-{}:9100", i % 100)),
                ("job", "node".to_string()),
                ("mode", "idle".to_string()),
            ]);
            (
                labels,
                1_700_000_000_000 + i as i64 * 15_000,
                i as f64 * 1.5,
            )
        })
        .collect()
}

fn encode(c: &mut Criterion) {
    let batch = samples(2_000);
    let mut g = c.benchmark_group("remote_write");
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("encode_compress_2000", |b| {
        b.iter(|| storage::remote::bench_build_and_encode(std::hint::black_box(&batch)))
    });
    g.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
