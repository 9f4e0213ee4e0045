//! XOR chunk benchmarks: bytes per sample for typical series shapes, and encode/decode
//! throughput. The sizes are printed once (they are deterministic, not timings).
#![allow(clippy::print_stderr, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tsdb::chunkenc::{SAMPLES_PER_CHUNK, XorChunk};

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

const N: usize = 120 * 100;

/// A counter scraped every 15 s that grows steadily (the same increment every scrape).
fn counter() -> Vec<(i64, f64)> {
    (0..N)
        .map(|k| {
            (
                1_700_000_000_000 + k as i64 * 15_000,
                1_000_000.0 + 10.0 * k as f64,
            )
        })
        .collect()
}

/// A counter scraped every 15 s whose increments vary (40 to 44 per scrape).
fn counter_jitter() -> Vec<(i64, f64)> {
    let mut rng = Rng(7);
    let mut v = 1_000_000.0;
    (0..N)
        .map(|k| {
            v += (40 + rng.next() % 5) as f64;
            (1_700_000_000_000 + k as i64 * 15_000, v)
        })
        .collect()
}

/// A gauge (e.g. goroutines or queue length): small integer steps around a level.
fn gauge() -> Vec<(i64, f64)> {
    let mut rng = Rng(11);
    let mut v: f64 = 120.0;
    (0..N)
        .map(|k| {
            match rng.next() % 4 {
                0 => v += 1.0,
                1 => v -= 1.0,
                _ => {}
            }
            (1_700_000_000_000 + k as i64 * 15_000, v)
        })
        .collect()
}

/// Uniformly random float values.
fn random() -> Vec<(i64, f64)> {
    let mut rng = Rng(13);
    (0..N)
        .map(|k| {
            let v = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * 1000.0;
            (1_700_000_000_000 + k as i64 * 15_000, v)
        })
        .collect()
}

fn encode(samples: &[(i64, f64)]) -> Vec<XorChunk> {
    samples
        .chunks(SAMPLES_PER_CHUNK)
        .map(|part| {
            let mut c = XorChunk::new();
            for &(t, v) in part {
                c.append(t, v).unwrap();
            }
            c
        })
        .collect()
}

fn encode_optimal(samples: &[(i64, f64)]) -> Vec<XorChunk> {
    samples
        .chunks(SAMPLES_PER_CHUNK)
        .map(|part| XorChunk::encode_optimal(part).unwrap())
        .collect()
}

fn bytes_per_sample(chunks: &[XorChunk], samples: usize) -> f64 {
    let bytes: usize = chunks.iter().map(|c| c.bytes().len()).sum();
    bytes as f64 / samples as f64
}

fn bench(c: &mut Criterion) {
    let shapes = [
        ("counter", counter()),
        ("counter_jitter", counter_jitter()),
        ("gauge", gauge()),
        ("random", random()),
    ];
    for (name, s) in &shapes {
        eprintln!(
            "xor chunk size, {name}: {:.3} bytes/sample appended as Prometheus does, {:.3} \
             encoded optimally ({} samples per chunk)",
            bytes_per_sample(&encode(s), s.len()),
            bytes_per_sample(&encode_optimal(s), s.len()),
            SAMPLES_PER_CHUNK
        );
    }
    let mut g = c.benchmark_group("xor");
    g.throughput(Throughput::Elements(N as u64));
    for (name, s) in &shapes {
        g.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| encode(black_box(s)))
        });
        g.bench_function(format!("encode_optimal/{name}"), |b| {
            b.iter(|| encode_optimal(black_box(s)))
        });
        let chunks = encode(s);
        g.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| {
                let mut sum = 0.0;
                for c in &chunks {
                    let mut it = c.iter();
                    while it.next() {
                        sum += it.at().1;
                    }
                }
                black_box(sum)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
