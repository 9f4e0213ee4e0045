//! Writes one deterministic 2h block (counters, gauges, classic histograms) for `cargo xtask difftest` and `bench`.
//!
//! Run with `cargo run -p tsdb --example bench_block -- DATA_DIR [START_MS] [native-histograms]`.
//! The block covers `[START_MS, START_MS + 2h)` (default start 1700000000000, aligned to 2h)
//! at a 15s interval: about 2,700 series from 3 jobs x 4 instances. Some series start or end
//! inside the range (the ending ones with a stale marker), and counters reset now and then.
//! The optional third argument `native-histograms` (used by `cargo xtask difftest` only, so
//! the benchmark's data stays as it is) adds 24 integer native histogram counters,
//! `rpc_duration_seconds`, and a `target_info` series per target for `info()`. The output is
//! the same on every run except the block's ULID.
#![allow(clippy::print_stdout)]

use model::Labels;
use model::histogram::{CounterResetHint, Histogram, Span as BucketSpan};
use tsdb::chunkenc::Value;
use tsdb::compact::{BlockWriter, encode_any_chunks, encode_chunks};

const INTERVAL: i64 = 15_000;
const SAMPLES: i64 = 480; // 2h at 15s
const BUCKETS: &[&str] = &[
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];

/// A small deterministic pseudo-random generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A float in [0, 1) with 3 decimal digits, so that sums stay readable.
    fn unit(&mut self) -> f64 {
        (self.next_u64() % 1000) as f64 / 1000.0
    }
}

/// Which samples (by index) a series has: some start late, some end early.
#[derive(Clone, Copy)]
struct Span {
    first: i64,
    last: i64, // exclusive
    stale_at_end: bool,
}

fn span_for(job: usize, instance: usize) -> Span {
    match (job, instance) {
        // A target that appears 25 minutes in.
        (2, 3) => Span {
            first: 100,
            last: SAMPLES,
            stale_at_end: false,
        },
        // A target that goes away 87.5 minutes in, leaving stale markers.
        (1, 3) => Span {
            first: 0,
            last: 350,
            stale_at_end: true,
        },
        _ => Span {
            first: 0,
            last: SAMPLES,
            stale_at_end: false,
        },
    }
}

struct Builder {
    start: i64,
    series: Vec<(Labels, Vec<(i64, f64)>)>,
}

impl Builder {
    fn push(&mut self, labels: Labels, span: Span, mut value: impl FnMut(i64) -> f64) {
        let mut samples = Vec::with_capacity(SAMPLES as usize);
        for i in span.first..span.last {
            samples.push((self.start + i * INTERVAL, value(i)));
        }
        if span.stale_at_end && span.last < SAMPLES {
            samples.push((self.start + span.last * INTERVAL, model::value::stale_nan()));
        }
        self.series.push((labels, samples));
    }
}

fn labels(name: &str, base: &[(&str, &str)], extra: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(
        std::iter::once(("__name__", name))
            .chain(base.iter().copied())
            .chain(extra.iter().copied()),
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(
        args.next()
            .ok_or("usage: bench_block DATA_DIR [START_MS] [native-histograms]")?,
    );
    let start: i64 = match args.next() {
        Some(s) => s.parse()?,
        None => 1_700_000_000_000 - 1_700_000_000_000 % 7_200_000,
    };
    let native = match args.next().as_deref() {
        None => false,
        Some("native-histograms") => true,
        Some(other) => return Err(format!("unknown argument {other:?}").into()),
    };
    std::fs::create_dir_all(&dir)?;
    let mut b = Builder {
        start,
        series: Vec::new(),
    };
    let jobs = ["api", "db", "cache"];
    for (j, job) in jobs.iter().enumerate() {
        for inst in 0..4 {
            let instance = format!("10.0.{j}.{inst}:9100");
            let base = [("job", *job), ("instance", instance.as_str())];
            let span = span_for(j, inst);
            let seed = (j * 16 + inst) as u64;

            // Counters with occasional resets.
            for method in ["GET", "POST", "PUT"] {
                for code in ["200", "404", "500"] {
                    let mut rng = Rng::new(
                        seed * 1000
                            + method.len() as u64 * 10
                            + code.len() as u64
                            + code.as_bytes()[0] as u64,
                    );
                    let rate = 1.0 + (rng.next_u64() % 50) as f64;
                    let mut v = 0.0;
                    b.push(
                        labels(
                            "http_requests_total",
                            &base,
                            &[("method", method), ("code", code)],
                        ),
                        span,
                        |i| {
                            if i > 0 && i % 173 == (seed as i64 * 7) % 173 {
                                v = 0.0;
                            }
                            v += (rate * 15.0 * (0.5 + rng.unit())).round();
                            v
                        },
                    );
                }
            }
            for cpu in 0..8 {
                let cpu_s = cpu.to_string();
                for (m, mode) in ["user", "system", "idle", "iowait"].iter().enumerate() {
                    let mut rng = Rng::new(seed * 10_000 + cpu * 10 + m as u64);
                    let mut v = (rng.next_u64() % 100_000) as f64;
                    b.push(
                        labels(
                            "node_cpu_seconds_total",
                            &base,
                            &[("cpu", &cpu_s), ("mode", mode)],
                        ),
                        span,
                        |_| {
                            v += 15.0 * rng.unit();
                            (v * 1000.0).round() / 1000.0
                        },
                    );
                }
            }
            // Gauges.
            let mut rng = Rng::new(seed + 77);
            let mut mem = 1e9 + (rng.next_u64() % 1_000_000_000) as f64;
            b.push(
                labels("process_resident_memory_bytes", &base, &[]),
                span,
                |_| {
                    mem += ((rng.next_u64() % 2_000_001) as f64) - 1_000_000.0;
                    mem
                },
            );
            for sensor in 0..10 {
                let sensor_s = sensor.to_string();
                let mut rng = Rng::new(seed * 100 + sensor + 5);
                let phase = rng.unit() * 6.0;
                b.push(
                    labels("node_temperature_celsius", &base, &[("sensor", &sensor_s)]),
                    span,
                    |i| 40.0 + 10.0 * ((i as f64) / 40.0 + phase).sin() + rng.unit(),
                );
            }
            for dev in ["sda", "sdb", "nvme0n1", "nvme1n1"] {
                let mut rng = Rng::new(seed * 7 + dev.len() as u64 + dev.as_bytes()[2] as u64);
                let mut v = 0.0;
                b.push(
                    labels("node_disk_read_bytes_total", &base, &[("device", dev)]),
                    span,
                    |_| {
                        v += (rng.next_u64() % 4096 * 512) as f64;
                        v
                    },
                );
                let mut rng2 =
                    Rng::new(seed * 11 + dev.len() as u64 * 3 + dev.as_bytes()[2] as u64);
                b.push(
                    labels(
                        "node_filesystem_avail_bytes",
                        &base,
                        &[
                            ("device", dev),
                            ("fstype", if dev.starts_with("sd") { "ext4" } else { "xfs" }),
                        ],
                    ),
                    span,
                    |i| 5e11 - (i as f64) * 1e6 * (1.0 + rng2.unit()),
                );
            }
            // Classic histograms: cumulative buckets, _sum and _count.
            for handler in [
                "/",
                "/api/v1/query",
                "/api/v1/query_range",
                "/metrics",
                "/api/v1/series",
            ] {
                let mut rng = Rng::new(seed * 31 + handler.len() as u64);
                let mut counts = vec![0.0; BUCKETS.len()];
                let mut sum = 0.0;
                let mut per_sample: Vec<Vec<f64>> = Vec::with_capacity(SAMPLES as usize);
                let mut sums = Vec::with_capacity(SAMPLES as usize);
                for _ in 0..SAMPLES {
                    let n = 5 + rng.next_u64() % 20;
                    for _ in 0..n {
                        let x = rng.unit() * rng.unit() * 3.0;
                        sum += x;
                        for (k, le) in BUCKETS.iter().enumerate() {
                            let bound: f64 = if *le == "+Inf" {
                                f64::INFINITY
                            } else {
                                le.parse().unwrap_or(f64::INFINITY)
                            };
                            if x <= bound {
                                counts[k] += 1.0;
                            }
                        }
                    }
                    per_sample.push(counts.clone());
                    sums.push((sum * 1000.0).round() / 1000.0);
                }
                for (k, le) in BUCKETS.iter().enumerate() {
                    b.push(
                        labels(
                            "http_request_duration_seconds_bucket",
                            &base,
                            &[("handler", handler), ("le", le)],
                        ),
                        span,
                        |i| per_sample[i as usize][k],
                    );
                }
                b.push(
                    labels(
                        "http_request_duration_seconds_sum",
                        &base,
                        &[("handler", handler)],
                    ),
                    span,
                    |i| sums[i as usize],
                );
                b.push(
                    labels(
                        "http_request_duration_seconds_count",
                        &base,
                        &[("handler", handler)],
                    ),
                    span,
                    |i| per_sample[i as usize][BUCKETS.len() - 1],
                );
            }
            // Many small gauges for series-count-heavy queries.
            for idx in 0..100 {
                let idx_s = format!("{idx:03}");
                let mut rng = Rng::new(seed * 1_000_003 + idx);
                let level = (rng.next_u64() % 1000) as f64;
                let shard = (idx % 7).to_string();
                b.push(
                    labels(
                        "queue_length",
                        &base,
                        &[("queue", &idx_s), ("shard", &shard)],
                    ),
                    span,
                    |_| level + (rng.next_u64() % 10) as f64,
                );
            }
            b.push(labels("up", &base, &[]), span, |_| 1.0);
        }
    }
    let mut total = 0usize;
    let mut series = Vec::with_capacity(b.series.len());
    for (l, samples) in &b.series {
        total += samples.len();
        series.push((l.clone(), encode_chunks(samples)?));
    }
    if native {
        for (l, samples) in native_histograms(start) {
            total += samples.len();
            series.push((l, encode_any_chunks(&samples)?));
        }
    }
    let n = series.len();
    let ulid = BlockWriter::new(&dir)
        .write(series, start, start + SAMPLES * INTERVAL)?
        .ok_or("no samples written")?;
    println!(
        "block {ulid} in {}: {n} series, {total} samples, [{start}, {})",
        dir.display(),
        start + SAMPLES * INTERVAL
    );
    Ok(())
}

/// Integer native histogram counters (schema 1, zero bucket, positive and negative
/// buckets) for 3 jobs x 4 instances x 2 services, with the same spans as the float series
/// (but no stale marker) and a counter reset now and then; and `target_info` per target.
fn native_histograms(start: i64) -> Vec<(Labels, Vec<(i64, Value)>)> {
    // Bucket indices -4..=7 on both sides: one span each, buckets may stay empty.
    const LOW: i32 = -4;
    const N: usize = 12;
    let jobs = ["api", "db", "cache"];
    let mut out = Vec::new();
    for (j, job) in jobs.iter().enumerate() {
        for inst in 0..4 {
            let instance = format!("10.0.{j}.{inst}:9100");
            let span = span_for(j, inst);
            // An info metric for `info()` to join.
            let version = format!("1.{j}.{}", inst % 2);
            out.push((
                labels(
                    "target_info",
                    &[("job", *job), ("instance", instance.as_str())],
                    &[("k8s_cluster", "c1"), ("version", version.as_str())],
                ),
                (span.first..span.last)
                    .map(|i| (start + i * INTERVAL, Value::Float(1.0)))
                    .collect(),
            ));
            for (s, service) in ["auth", "search"].iter().enumerate() {
                let mut rng = Rng::new((j * 16 + inst) as u64 * 97 + s as u64 + 3);
                let (mut pos, mut neg) = ([0u64; N], [0u64; N]);
                let (mut zero, mut count, mut sum) = (0u64, 0u64, 0.0f64);
                let reset_at = 60 + (j as i64 * 4 + inst as i64) * 29 % 300;
                let mut samples = Vec::new();
                for i in span.first..span.last {
                    if i == reset_at && s == 1 {
                        (pos, neg) = ([0; N], [0; N]);
                        (zero, count, sum) = (0, 0, 0.0);
                    }
                    for _ in 0..(3 + rng.next_u64() % 12) {
                        let r = rng.next_u64() % 100;
                        let k = (rng.next_u64() % N as u64) as usize;
                        // Schema 1: bucket k covers (2^((k-1)/2), 2^(k/2)]; take its middle.
                        let idx = LOW + k as i32;
                        let v = 2f64.powf((idx as f64 - 0.5) / 2.0);
                        if r < 8 {
                            zero += 1;
                        } else if r < 20 {
                            neg[k] += 1;
                            sum -= v;
                        } else {
                            pos[k] += 1;
                            sum += v;
                        }
                        count += 1;
                    }
                    let h = Histogram {
                        counter_reset_hint: CounterResetHint::Unknown,
                        schema: 1,
                        zero_threshold: 0.001,
                        zero_count: zero,
                        count,
                        sum: (sum * 1000.0).round() / 1000.0,
                        positive_spans: vec![BucketSpan {
                            offset: LOW,
                            length: N as u32,
                        }],
                        negative_spans: vec![BucketSpan {
                            offset: LOW,
                            length: N as u32,
                        }],
                        positive_buckets: deltas(&pos),
                        negative_buckets: deltas(&neg),
                        custom_values: Vec::new(),
                    };
                    samples.push((start + i * INTERVAL, Value::Histogram(h)));
                }
                out.push((
                    labels(
                        "rpc_duration_seconds",
                        &[("job", *job), ("instance", instance.as_str())],
                        &[("service", service)],
                    ),
                    samples,
                ));
            }
        }
    }
    out
}

/// Absolute bucket counts as the delta encoding of [`Histogram`].
fn deltas(counts: &[u64]) -> Vec<i64> {
    let mut prev = 0i64;
    counts
        .iter()
        .map(|&c| {
            let d = c as i64 - prev;
            prev = c as i64;
            d
        })
        .collect()
}
