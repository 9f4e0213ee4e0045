//! Head benchmarks: append throughput, head memory per active series (a counting global
//! allocator), WAL bytes per sample, and WAL replay speed.
//!
//! `cargo bench -p tsdb --bench head` first prints a one-shot report of the big workloads
//! (1M series x 10 samples, 10k series x 1000 samples, a remote-write-like push of 20k
//! series x 480 samples, memory with 480 samples per series), then runs the criterion
//! benchmarks. `HEAD_BENCH_QUICK=1` shrinks the report workloads; `HEAD_BENCH_RW_ONLY=1`
//! reports only the remote-write-like push (best of `HEAD_BENCH_RUNS`, default 3).
#![allow(clippy::print_stderr, clippy::unwrap_used, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use criterion::{BatchSize, Criterion};
use model::Labels;
use tsdb::head::{Head, HeadOptions};

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call forwards to the system allocator unchanged; only a counter is updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Labels shaped like a node_exporter series: name, instance, job and two more labels.
fn labels(i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", format!("metric_{}", i % 500)),
        ("instance", format!("host-{}:9100", i / 500)),
        ("job", "node".to_string()),
        ("cpu", format!("{}", i % 8)),
        (
            "mode",
            ["user", "system", "idle", "iowait"][i % 4].to_string(),
        ),
    ])
}

/// Appends `samples` rounds of one sample per series (15 s apart), committing every
/// `batch` appends, with cached refs after the first round (as a scrape loop does).
fn ingest(head: &Arc<Head>, all: &[Labels], samples: i64, batch: usize) -> u64 {
    let mut refs = vec![0u64; all.len()];
    let mut n = 0u64;
    for k in 0..samples {
        let t = k * 15_000;
        for (chunk_labels, chunk_refs) in all.chunks(batch).zip(refs.chunks_mut(batch)) {
            let mut app = head.appender();
            for (l, r) in chunk_labels.iter().zip(chunk_refs.iter_mut()) {
                let v = (k as f64) * 1.5 + (*r % 7) as f64;
                *r = app.append(*r, l, t, v).unwrap();
                n += 1;
            }
            app.commit().unwrap();
        }
    }
    n
}

/// Labels shaped like the remote-write scale bench's counters (`xtask bench --scale`).
fn rw_labels(i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", format!("rw_metric_{}", i % 20)),
        ("instance", format!("host-{}", i / 200)),
        ("job", "loadgen".to_string()),
        ("series", i.to_string()),
    ])
}

/// Remote-write receivers' senders: each request holds one sample of every `RW_SENDERS`th
/// series.
const RW_SENDERS: usize = 4;

/// A remote-write-like push: `steps` 15 s apart; per step one request per sender,
/// each with a fresh appender, one sample of each of its series appended by labels (ref 0,
/// as the receiver does), then committed. `all` holds label sets equal to, but not shared
/// with, the head's (a receiver decodes fresh ones per request).
fn remote_write(head: &Arc<Head>, all: &[Labels], steps: std::ops::Range<i64>) -> u64 {
    let mut n = 0u64;
    for k in steps {
        let t = k * 15_000;
        for sender in 0..RW_SENDERS {
            let mut app = head.appender();
            for (i, l) in all.iter().enumerate().skip(sender).step_by(RW_SENDERS) {
                let v = (k as f64) * 1.5 + (i % 7) as f64;
                app.append(0, l, t, v).unwrap();
                n += 1;
            }
            app.commit().unwrap();
        }
    }
    n
}

/// A native histogram with four buckets: each bucket gains `k` per step.
fn histogram(k: u64) -> model::Histogram {
    model::Histogram {
        schema: 0,
        zero_threshold: 1e-128,
        count: 4 * k,
        sum: k as f64 * 2.5,
        positive_spans: vec![model::Span {
            offset: 0,
            length: 4,
        }],
        // Deltas between neighbouring buckets: every bucket holds `k`.
        positive_buckets: vec![k as i64, 0, 0, 0],
        ..model::Histogram::default()
    }
}

/// As [`remote_write`] with one native histogram per series and request.
fn remote_write_histograms(head: &Arc<Head>, all: &[Labels], steps: std::ops::Range<i64>) -> u64 {
    let mut n = 0u64;
    for k in steps {
        let t = k * 15_000;
        let h = histogram(k as u64 + 1);
        for sender in 0..RW_SENDERS {
            let mut app = head.appender();
            for l in all.iter().skip(sender).step_by(RW_SENDERS) {
                app.append_histogram(0, l, t, Some(&h), None).unwrap();
                n += 1;
            }
            app.commit().unwrap();
        }
    }
    n
}

/// Two copies of `series` remote-write label sets: one to create the series with, one to
/// push with (equal, not shared).
fn rw_label_sets(series: usize) -> (Vec<Labels>, Vec<Labels>) {
    (
        (0..series).map(rw_labels).collect(),
        (0..series).map(rw_labels).collect(),
    )
}

/// The remote-write-like push of 20k series x 480 samples, best of `runs`.
fn report_remote_write(quick: bool) {
    let samples = if quick { 48 } else { 480 };
    let runs: usize = std::env::var("HEAD_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let (create, push) = rw_label_sets(20_000);
    let mut best = f64::INFINITY;
    let mut n = 0;
    for _ in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let head = Head::open(dir.path(), HeadOptions::default(), i64::MIN).unwrap();
        // The series exist already (as in a running server); the push is timed.
        remote_write(&head, &create, 0..1);
        let start = Instant::now();
        n = remote_write(&head, &push, 1..samples + 1);
        best = best.min(start.elapsed().as_secs_f64());
        head.close().unwrap();
    }
    eprintln!(
        "remote-write-like append 20000 series x {samples} samples ({RW_SENDERS} requests per step, fresh appender each): {:.0} samples/s, {:.0} ns/sample ({n} in {best:.2} s, best of {runs})",
        n as f64 / best,
        best * 1e9 / n as f64
    );
    report_remote_write_concurrent(quick, runs);
}

/// The remote-write-like push with the senders pushing at once, each from its own thread
/// (as a server's concurrent requests), best of `runs`.
fn report_remote_write_concurrent(quick: bool, runs: usize) {
    let samples: i64 = if quick { 48 } else { 480 };
    let (create, push) = rw_label_sets(20_000);
    let mut best = f64::INFINITY;
    for _ in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let head = Head::open(dir.path(), HeadOptions::default(), i64::MIN).unwrap();
        remote_write(&head, &create, 0..1);
        let start = Instant::now();
        std::thread::scope(|s| {
            for sender in 0..RW_SENDERS {
                let (head, push) = (&head, &push);
                s.spawn(move || {
                    for k in 1..samples + 1 {
                        let mut app = head.appender();
                        for (i, l) in push.iter().enumerate().skip(sender).step_by(RW_SENDERS) {
                            app.append(0, l, k * 15_000, (k as f64) * 1.5 + (i % 7) as f64)
                                .unwrap();
                        }
                        app.commit().unwrap();
                    }
                });
            }
        });
        best = best.min(start.elapsed().as_secs_f64());
        head.close().unwrap();
    }
    let n = 20_000 * samples as u64;
    eprintln!(
        "  the same with {RW_SENDERS} senders at once: {:.0} samples/s, {:.0} ns/sample ({n} in {best:.2} s, best of {runs})",
        n as f64 / best,
        best * 1e9 / n as f64
    );
}

fn report() {
    let quick = std::env::var_os("HEAD_BENCH_QUICK").is_some();
    let scale = if quick { 10 } else { 1 };
    report_remote_write(quick);
    if std::env::var_os("HEAD_BENCH_RW_ONLY").is_some() {
        return;
    }

    for (series, samples) in [(1_000_000 / scale, 10i64), (10_000, 1000 / scale as i64)] {
        let dir = tempfile::tempdir().unwrap();
        let all: Vec<Labels> = (0..series).map(labels).collect();
        let head = Head::open(dir.path(), HeadOptions::default(), i64::MIN).unwrap();
        let start = Instant::now();
        let n = ingest(&head, &all, samples, 1000);
        let secs = start.elapsed().as_secs_f64();
        head.close().unwrap();
        let wal = tsdb::wlog::dir_size(&dir.path().join("wal"));
        eprintln!(
            "append {series} series x {samples} samples: {:.0} samples/s ({n} in {secs:.1} s); WAL {:.2} bytes/sample (snappy)",
            n as f64 / secs,
            wal as f64 / n as f64
        );
        drop(head);
        let start = Instant::now();
        let head = Head::open(dir.path(), HeadOptions::default(), i64::MIN).unwrap();
        let secs = start.elapsed().as_secs_f64();
        let st = head.replay_stats();
        eprintln!(
            "  replay: {:.0} samples/s ({} samples, {} series in {secs:.2} s)",
            st.samples as f64 / secs,
            st.samples,
            st.series
        );
    }

    // Memory: series with 480 samples each (2 h at 15 s), labels built before counting.
    let series = 100_000 / scale;
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<Labels> = (0..series).map(labels).collect();
    let before = LIVE.load(Ordering::Relaxed);
    let head = Head::open(dir.path(), HeadOptions::default(), i64::MIN).unwrap();
    ingest(&head, &all, 480, 1000);
    let after = LIVE.load(Ordering::Relaxed);
    // Labels are shared with the caller's copies here; count their allocations too, as the
    // head owns them in a real server.
    let label_bytes: usize = all.iter().map(|l| l.byte_len() + 16).sum();
    let per_series = (after - before) as f64 / series as f64 + label_bytes as f64 / series as f64;
    eprintln!(
        "head memory: {per_series:.0} bytes per active series with 480 samples ({series} series; Prometheus ~6800)"
    );
    black_box(&head);
}

fn benches(c: &mut Criterion) {
    let all: Vec<Labels> = (0..10_000).map(labels).collect();
    let mut g = c.benchmark_group("head");
    g.sample_size(10);
    g.throughput(criterion::Throughput::Elements(10_000 * 10));
    g.bench_function("append 10k series x 10 samples", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let head = Head::open(dir.path(), HeadOptions::default(), i64::MIN).unwrap();
                (dir, head)
            },
            |(dir, head)| {
                ingest(&head, &all, 10, 1000);
                (dir, head)
            },
            BatchSize::PerIteration,
        );
    });
    let (create, push) = rw_label_sets(20_000);
    g.throughput(criterion::Throughput::Elements(20_000 * 20));
    g.bench_function("remote write 20k series x 20 samples", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let head = Head::open(dir.path(), HeadOptions::default(), i64::MIN).unwrap();
                remote_write(&head, &create, 0..1);
                (dir, head)
            },
            |(dir, head)| {
                remote_write(&head, &push, 1..21);
                (dir, head)
            },
            BatchSize::PerIteration,
        );
    });
    let (create, push) = rw_label_sets(4_000);
    g.throughput(criterion::Throughput::Elements(4_000 * 20));
    g.bench_function(
        "remote write native histograms 4k series x 20 samples",
        |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let head = Head::open(dir.path(), HeadOptions::default(), i64::MIN).unwrap();
                    remote_write_histograms(&head, &create, 0..1);
                    (dir, head)
                },
                |(dir, head)| {
                    remote_write_histograms(&head, &push, 1..21);
                    (dir, head)
                },
                BatchSize::PerIteration,
            );
        },
    );
    g.finish();
}

fn main() {
    report();
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
