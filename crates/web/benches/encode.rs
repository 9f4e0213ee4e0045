//! Query-result JSON encoding: an 800-series × 481-step range-query matrix (the scale
//! bench's `rate(rw_metric_0[5m])`, ~13 MB of JSON), a 20k-series instant vector, and
//! gzipping the matrix's JSON.

use std::hint::black_box;
use std::io::Write as _;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use model::Labels;
use promql::value::{FPoint, Sample, Series, Value};

/// Labels shaped like the scale bench's counters (after `rate` dropped the name).
fn labels(c: usize, with_name: bool) -> Labels {
    let mut pairs = Vec::new();
    if with_name {
        pairs.push(("__name__", format!("rw_metric_{}", c % 20)));
    }
    pairs.push(("instance", format!("host-{}", c / 200)));
    pairs.push(("job", "loadgen".to_owned()));
    pairs.push(("series", c.to_string()));
    Labels::from_pairs(pairs.iter().map(|(n, v)| (*n, v.as_str())))
}

/// Rate-like values: fractions with full 17-digit precision, as per-second rates are.
fn value(c: usize, i: usize) -> f64 {
    let x = (c * 481 + i) as f64;
    (x * 0.618_033_988_749_895).fract() * 10.0 / 3.0
}

fn matrix(series: usize, steps: usize) -> Value {
    let start = 1_700_000_000_000i64;
    Value::Matrix(
        (0..series)
            .map(|c| Series {
                metric: labels(c * 20, false),
                floats: (0..steps)
                    .map(|i| FPoint {
                        t: start + i as i64 * 15_000,
                        f: value(c, i),
                    })
                    .collect(),
                histograms: Vec::new(),
                drop_name: false,
            })
            .collect(),
    )
}

fn vector(series: usize) -> Value {
    Value::Vector(
        (0..series)
            .map(|c| Sample {
                metric: labels(c, true),
                t: 1_700_000_000_015,
                // Counters: whole numbers.
                f: (c * 37 + 1_000) as f64,
                h: None,
                drop_name: false,
            })
            .collect(),
    )
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    g.measurement_time(Duration::from_secs(5));
    g.sample_size(20);
    for (name, value) in [
        ("matrix_800x481", matrix(800, 481)),
        ("vector_20k", vector(20_000)),
    ] {
        let mut probe = String::new();
        web::write_query_data(&mut probe, &value);
        g.throughput(Throughput::Bytes(probe.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut out = String::new();
                web::write_query_data(&mut out, black_box(&value));
                black_box(out)
            });
        });
    }
    // The same matrix's JSON gzipped as the handler does for `Accept-Encoding: gzip`
    // (flate2 at the default level 6, Go's default too), and at level 1.
    let mut json = String::new();
    web::write_query_data(&mut json, &matrix(800, 481));
    g.throughput(Throughput::Bytes(json.len() as u64));
    for (name, level) in [("gzip6_matrix_800x481", 6), ("gzip1_matrix_800x481", 1)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut enc = flate2::write::GzEncoder::new(
                    Vec::with_capacity(json.len() / 8),
                    flate2::Compression::new(level),
                );
                enc.write_all(black_box(json.as_bytes()))
                    .expect("writing to memory");
                black_box(enc.finish().expect("writing to memory"))
            });
        });
    }
    g.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
