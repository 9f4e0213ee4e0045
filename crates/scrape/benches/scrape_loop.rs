//! The scrape loop's per-scrape work on Prometheus's 237-family payload with a warm cache
//! (every line a cache hit, as in the steady state): parse, look up, append to a storage that
//! accepts everything, commit; directly and through remote storage's counting appender.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use model::{Labels, Timestamp};
use scrape::bench::AppendLoop;
use storage::{Appender, SeriesRef};

/// Accepts every sample, handing out a reference per new series.
struct Accepting(SeriesRef);

impl Appender for Accepting {
    fn append(
        &mut self,
        r: SeriesRef,
        _: &Labels,
        _: Timestamp,
        _: f64,
    ) -> storage::Result<SeriesRef> {
        if r != 0 {
            return Ok(r);
        }
        self.0 += 1;
        Ok(self.0)
    }
    fn commit(self: Box<Self>) -> storage::Result<()> {
        Ok(())
    }
    fn rollback(self: Box<Self>) -> storage::Result<()> {
        Ok(())
    }
}

fn bench(c: &mut Criterion) {
    let Some(dir) = test_support::testdata_dir("upstream/model/textparse/testdata") else {
        return;
    };
    let body = std::fs::read(dir.join("alltypes.237mfs.prom.txt")).expect("reading payload");
    let ct = "text/plain; version=0.0.4";
    let cfg = config::Config::load_str("scrape_configs:\n- job_name: bench\n", "")
        .expect("bench config loads");
    let target = Labels::from_pairs([("instance", "host:9100"), ("job", "bench")]);
    let tracked = Arc::new(storage::remote::AppendedMetrics::default());
    let mut group = c.benchmark_group("scrape_loop");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (name, track) in [("append_237mfs", false), ("append_237mfs_tracked", true)] {
        let mut l = AppendLoop::new(&cfg.scrape_configs[0], target.clone()).expect("loop");
        let mut t: Timestamp = 1_000_000;
        let mut next = SeriesRef::default();
        let mut scrape = |l: &mut AppendLoop, t: Timestamp| -> u64 {
            let inner: Box<dyn Appender> = Box::new(Accepting(next));
            let mut app = if track { tracked.track(inner) } else { inner };
            let n = l
                .append(app.as_mut(), black_box(&body), ct, t)
                .expect("scrape appends");
            app.commit().expect("commit");
            next += 1_000_000;
            n
        };
        // Warm the cache: later scrapes hit it for every line.
        let samples = scrape(&mut l, t);
        // A fixed number of scrapes instead of criterion's timing, for instruction counts
        // (`valgrind --tool=callgrind`) on a shared machine: SCRAPE_LOOP_SCRAPES=N with
        // SCRAPE_LOOP_VARIANT naming one benchmark.
        if let Ok(n) = std::env::var("SCRAPE_LOOP_SCRAPES") {
            if std::env::var("SCRAPE_LOOP_VARIANT").is_ok_and(|v| v == name) {
                let n: u32 = n.parse().expect("SCRAPE_LOOP_SCRAPES is a number");
                for _ in 0..n {
                    t += 15_000;
                    black_box(scrape(&mut l, t));
                }
            }
            continue;
        }
        group.throughput(Throughput::Elements(samples));
        group.bench_function(name, |b| {
            b.iter(|| {
                t += 15_000;
                scrape(&mut l, t)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
