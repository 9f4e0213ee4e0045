//! Remote-write encode + snappy throughput: building, protobuf-encoding and compressing
//! batches of `max_samples_per_send` samples, as 1.0 and 2.0 requests; and the receiver's
//! decode + append of such a batch into a `MemStorage`, for both versions.

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
    g.bench_function("encode_compress_2000_v2", |b| {
        b.iter(|| storage::remote::bench_build_and_encode_v2(std::hint::black_box(&batch)))
    });
    g.finish();
}

#[allow(clippy::print_stderr)] // The batch sizes are part of what the benchmark reports.
fn receive(c: &mut Criterion) {
    let batch = samples(2_000);
    let v1 = storage::remote::bench_build_and_encode(&batch);
    let v2 = storage::remote::bench_build_and_encode_v2(&batch);
    eprintln!(
        "2000-sample batch, compressed: 1.0 {} bytes, 2.0 {} bytes",
        v1.len(),
        v2.len()
    );
    let mut g = c.benchmark_group("remote_write_receive");
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("v1_2000", |b| {
        b.iter(|| {
            let db = storage::MemStorage::new();
            storage::remote::append_write_body(std::hint::black_box(&v1), &db)
        })
    });
    g.bench_function("v2_2000", |b| {
        b.iter(|| {
            let db = storage::MemStorage::new();
            storage::remote::append_write_v2_body(std::hint::black_box(&v2), &db)
        })
    });
    g.finish();
}

criterion_group!(benches, encode, receive);
criterion_main!(benches);
