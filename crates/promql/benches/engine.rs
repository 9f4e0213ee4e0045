//! Engine benchmarks: range queries of 720 steps over 10k series in `MemStorage`, with the
//! peak heap memory each query needs (measured by a counting allocator); and the scale
//! benchmark's data (20k series x 481 samples at 15s in a TSDB head, as `cargo xtask bench
//! --scale` pushes them) with its two 2h range queries and small instant queries, each run
//! serially (`parallelism: 1`) and on all cores.
//!
//! Run with `cargo bench -p promql --bench engine` (`-- scale` for the head part only).

#![allow(unsafe_code, clippy::print_stderr, missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use model::Labels;
use promql::{Engine, EngineOpts};
use storage::{Appendable, MemStorage, Queryable};

/// Counts live heap bytes and remembers the peak.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SERIES: usize = 10_000;
const STEP: i64 = 15_000;
const STEPS: i64 = 720;
/// Samples start 5 minutes before the first step so every `[5m]` window is full.
const START: i64 = 300_000;

fn build_storage() -> Arc<MemStorage> {
    let db = Arc::new(MemStorage::new());
    let end = START + (STEPS - 1) * STEP;
    let mut app = db.appender();
    for i in 0..SERIES {
        let job = format!("job{}", i % 10);
        let inst = format!("i{i}");
        let counter = Labels::from_pairs([("__name__", "x"), ("job", &job), ("instance", &inst)]);
        // 1000 classic histograms of 10 buckets each.
        let le = [
            "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "25", "50", "+Inf",
        ][i % 10];
        let hist_inst = format!("h{}", i / 10);
        let bucket = Labels::from_pairs([
            ("__name__", "x_bucket"),
            ("job", &job),
            ("instance", hist_inst.as_str()),
            ("le", le),
        ]);
        let mut t = 0;
        let mut v = 0.0;
        while t <= end {
            v += (i % 7) as f64 + 1.0;
            app.append(0, &counter, t, v).expect("append counter");
            app.append(0, &bucket, t, v * ((i % 10) as f64 + 1.0))
                .expect("append bucket");
            t += STEP;
        }
    }
    app.commit().expect("commit");
    db
}

fn run(engine: &Engine, q: &Arc<dyn Queryable>, query: &str) -> usize {
    let end = START + (STEPS - 1) * STEP;
    let res = engine
        .range_query(q.clone(), query, START, end, STEP)
        .expect("query succeeds");
    match res.value {
        promql::value::Value::Matrix(m) => m.len(),
        _ => 0,
    }
}

fn bench(c: &mut Criterion) {
    if std::env::args().skip(1).any(|a| a.starts_with("scale")) {
        // Only the scale part was asked for: skip building this storage.
        return;
    }
    let db: Arc<dyn Queryable> = build_storage();
    let engine = Engine::new(EngineOpts::default());
    let queries = [
        ("sum_rate", "sum by (job) (rate(x[5m]))"),
        (
            "histogram_quantile",
            "histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))",
        ),
    ];
    for (name, query) in queries {
        let base = CURRENT.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let n = run(&engine, &db, query);
        let peak = PEAK.load(Ordering::Relaxed) - base;
        eprintln!(
            "{name}: {n} result series, peak heap during query {:.1} MiB",
            peak as f64 / (1024.0 * 1024.0)
        );
        let mut group = c.benchmark_group("engine");
        group.sample_size(10);
        group.bench_function(name, |b| b.iter(|| black_box(run(&engine, &db, query))));
        group.finish();
    }
}

/// The scale benchmark's data (`xtask/src/bench/scale.rs`): 16k counters spread over 20
/// metric names and 400 classic histograms of 10 buckets, 481 samples 15s apart each, in a
/// TSDB head (chunk decoding included, as in the server).
mod scale {
    pub(crate) const COUNTERS: usize = 16_000;
    pub(crate) const HISTOGRAMS: usize = 400;
    pub(crate) const LES: [&str; 10] = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
    ];
    pub(crate) const SAMPLES: i64 = 481;
    pub(crate) const INTERVAL: i64 = 15_000;
    /// The first sample's time.
    pub(crate) const BASE: i64 = 1_700_000_000_000;
    /// The last sample's time (the queries' end).
    pub(crate) const LAST: i64 = BASE + (SAMPLES - 1) * INTERVAL;

    /// splitmix64's finaliser over `a` and `b`: uneven increments.
    pub(crate) fn mix(a: u64, b: u64) -> u64 {
        let mut x = a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b.wrapping_add(0x632b_e59b_d9b4_e019);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }
}

fn build_head() -> Arc<dyn promqltest::TestStorage> {
    use scale::*;
    let db = promqltest::tsdb_storage().expect("tsdb head");
    let mut labels = Vec::new();
    let mut values = Vec::new();
    for c in 0..COUNTERS {
        labels.push(Labels::from_pairs([
            ("__name__", format!("rw_metric_{}", c % 20).as_str()),
            ("instance", &format!("host-{}", c / 200)),
            ("job", "loadgen"),
            ("series", &c.to_string()),
        ]));
        values.push(1000.0);
    }
    for h in 0..HISTOGRAMS {
        for (b, le) in LES.iter().enumerate() {
            labels.push(Labels::from_pairs([
                ("__name__", "rw_latency_seconds_bucket"),
                ("handler", &format!("/api/{}", h % 10)),
                ("instance", &format!("host-{}", h / 10)),
                ("job", "loadgen"),
                ("le", le),
            ]));
            values.push(1000.0 * (b + 1) as f64);
        }
    }
    // One commit per scrape-like round, as remote write delivers them.
    for step in 0..SAMPLES {
        let t = BASE + step * INTERVAL;
        let mut app = db.appender();
        for (i, l) in labels.iter().enumerate() {
            let inc = if i < COUNTERS {
                (mix(i as u64, step as u64) % 11) as f64
            } else {
                let (h, b) = ((i - COUNTERS) / LES.len(), (i - COUNTERS) % LES.len());
                (0..=b)
                    .map(|m| (mix((h * LES.len() + m) as u64, step as u64) % 4) as f64)
                    .sum()
            };
            values[i] += inc;
            app.append(0, l, t, values[i]).expect("append");
        }
        app.commit().expect("commit");
    }
    db
}

/// The CPU time this process used so far, in ticks of 10 ms (0 where `/proc` is missing).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
}

/// Runs per query for the min-of-N times.
const MIN_OF: usize = 30;

fn scale_bench(c: &mut Criterion) {
    let db: Arc<dyn Queryable> = build_head();
    let serial = Engine::new(EngineOpts {
        parallelism: 1,
        ..EngineOpts::default()
    });
    let parallel = Engine::new(EngineOpts::default());
    eprintln!("parallel: {} threads", parallel.opts().parallelism);
    let engines = [("serial", &serial), ("parallel", &parallel)];
    let range = [
        ("rate", "rate(rw_metric_0[5m])"),
        (
            "histogram_quantile",
            "histogram_quantile(0.9, sum by (le) (rate(rw_latency_seconds_bucket[5m])))",
        ),
    ];
    let start = scale::LAST - 2 * 3600 * 1000;
    // Min-of-N wall times first: other work on the machine only ever adds time, so the
    // fastest run is the best estimate of the query's own cost.
    // Plus an instant query over long windows (240 samples per series: parallel).
    let long = (
        "histogram_quantile_1h",
        "histogram_quantile(0.9, sum by (le) (rate(rw_latency_seconds_bucket[1h])))",
    );
    let cases = range
        .iter()
        .flat_map(|&q| [(q, false), (q, true)])
        .chain([(long, true)]);
    for ((name, query), instant) in cases {
        {
            let mut line = format!("{} {name}:", if instant { "instant" } else { "range" });
            for (mode, engine) in engines {
                let mut best = std::time::Duration::MAX;
                let cpu0 = cpu_ticks();
                for _ in 0..MIN_OF {
                    let t0 = std::time::Instant::now();
                    let res = if instant {
                        engine.instant_query(db.clone(), query, scale::LAST)
                    } else {
                        engine.range_query(db.clone(), query, start, scale::LAST, scale::INTERVAL)
                    };
                    black_box(res.expect("query succeeds"));
                    best = best.min(t0.elapsed());
                }
                let cpu = (cpu_ticks() - cpu0) as f64 * 10.0 / MIN_OF as f64;
                line.push_str(&format!(
                    " {mode} {:.2} ms (cpu {cpu:.1} ms)",
                    best.as_secs_f64() * 1e3
                ));
            }
            eprintln!("{line} (min of {MIN_OF})");
        }
    }
    let mut group = c.benchmark_group("scale");
    group.sample_size(20);
    for (name, query) in range {
        for (mode, engine) in engines {
            group.bench_function(format!("range_{name}_{mode}"), |b| {
                b.iter(|| {
                    let res = engine
                        .range_query(db.clone(), query, start, scale::LAST, scale::INTERVAL)
                        .expect("query succeeds");
                    black_box(res.value)
                })
            });
        }
        for (mode, engine) in engines {
            group.bench_function(format!("instant_{name}_{mode}"), |b| {
                b.iter(|| {
                    let res = engine
                        .instant_query(db.clone(), query, scale::LAST)
                        .expect("query succeeds");
                    black_box(res.value)
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench, scale_bench);
criterion_main!(benches);
