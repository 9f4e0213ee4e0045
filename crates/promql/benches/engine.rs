//! Engine benchmarks: range queries of 720 steps over 10k series, with the peak heap memory
//! each query needs (measured by a counting allocator).
//!
//! Run with `cargo bench -p promql --bench engine`.

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

criterion_group!(benches, bench);
criterion_main!(benches);
