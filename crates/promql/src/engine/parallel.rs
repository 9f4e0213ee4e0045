//! The parallel map stage: the per-series work of a big selection on worker threads, its
//! results and side effects replayed on the query's evaluator in series order.
//!
//! A selection starts serially ([`super::eval::Evaluator::map_series_of`]). Once the series
//! seen so far add up to [`Plan::min_work`], the rest go in batches to the workers and the
//! query's thread: each thread that needs work reads a batch from the series set (under a
//! lock, so batches keep the selection order), decodes its series and runs the per-series
//! function (a range function's sliding window, an instant selector's lookback) on an
//! evaluator of its own. The query's thread replays finished batches in order and
//! evaluates batches itself while the next one to replay is not ready. What that evaluator saw (samples counted, the most samples held, annotations, an
//! error) is recorded per series and replayed on the query's evaluator in series order
//! before the series' result goes to the serial stage (aggregation, binary operators,
//! output order). So results are bit-identical to serial evaluation, and so are the
//! `max_samples` error, the peak and the statistics.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard};

use storage::SeriesSet;

use super::eval::{DecodeOpts, Evaluator, MapFn, QueryCtx, ReduceFn, SeriesBuf, WorkerSeed};
use super::stats::SampleCounts;
use crate::value::Annotations;
use crate::{Error, Result};

/// How a query may use threads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// Threads evaluating series, the query's own included (at least 2).
    pub(crate) threads: usize,
    /// The work (samples read plus steps evaluated) a selection must have shown before it
    /// goes parallel; 0 forces every selection of more than one series parallel.
    pub(crate) min_work: usize,
}

/// The fixed cost of a series in work units (selecting it, setting up its iterator and
/// seeking into its chunks costs about as much as decoding 64 samples).
const SERIES_COST: usize = 64;

/// The work (samples read plus steps evaluated) an average series must have for threads to
/// pay off: below it, reading series from storage and the serial stage (replay,
/// aggregation) cost about as much as the part that runs in parallel, as for instant
/// queries over short ranges.
const MIN_SERIES_WORK: usize = 128;

/// The work ([`series_work`]) of a job handed to a thread: big enough that handing it
/// over costs little (a few hundred microseconds of evaluation), small enough to keep the
/// threads evenly busy.
const BATCH_WORK: usize = 32_768;

/// The most series of a job.
const MAX_BATCH: usize = 1024;

/// Jobs handed out but not yet replayed, per thread: bounds the memory the outputs waiting
/// for their turn take (about half a megabyte a job), while leaving room to work on when
/// the thread holding the next job to replay is descheduled.
const AHEAD_PER_THREAD: usize = 8;

/// The work units of a series with `work` samples read plus steps evaluated, its fixed
/// cost included.
fn series_work(work: usize) -> usize {
    SERIES_COST + work
}

/// Whether a selection whose first `seen` series had `work` samples read plus steps
/// evaluated is worth threads for the rest.
pub(crate) fn worth_threads(plan: &Plan, work: usize, seen: usize) -> bool {
    plan.min_work == 0 || (work >= plan.min_work && work >= seen.saturating_mul(MIN_SERIES_WORK))
}

/// What evaluating one series did to a worker's evaluator.
struct Effects {
    /// The samples counted (totals only: per-step counts keep queries serial).
    samples: SampleCounts,
    /// The most samples held while evaluating the series, above what was held before;
    /// `None` when no samples were accounted.
    peak: Option<usize>,
    /// The samples still held afterwards, above what was held before.
    held: usize,
    annotations: Annotations,
}

type Outcome<T> = (Effects, Result<T>);

/// A batch of series and its place in the selection.
type Job = (usize, Vec<Box<dyn storage::Series>>);

/// What a thread got when it asked for a job.
enum Pull {
    Job(Job),
    /// Enough jobs are waiting to be replayed: wait until some are.
    NoRoom,
    /// The series set is used up (or the work was abandoned).
    Exhausted,
}

struct Queue<T> {
    /// Jobs handed out so far (the next job's sequence number).
    pulled: usize,
    /// Jobs replayed so far.
    applied: usize,
    /// Evaluated jobs waiting to be replayed, by sequence number.
    done: BTreeMap<usize, Vec<Outcome<T>>>,
    /// The series set has no more series.
    exhausted: bool,
    /// The storage error that ended the series set, reported after the series before it.
    failure: Option<storage::Error>,
    /// The query's thread is done: workers stop.
    closed: bool,
    /// A worker panicked: the query's thread stops waiting (the panic is re-raised when
    /// the threads are joined).
    panicked: bool,
}

/// What the threads of one parallel selection share. The series set is read by whichever
/// thread needs a job (under its own lock, so reading overlaps the replay), and each job is
/// evaluated by the thread that read it.
struct Shared<'s, T> {
    set: Mutex<&'s mut dyn SeriesSet>,
    queue: Mutex<Queue<T>>,
    /// Signalled when a job was replayed (there may be room for another) or on close.
    room: Condvar,
    /// Signalled when a job was evaluated.
    result_ready: Condvar,
    /// Series per job.
    batch_len: usize,
    /// Jobs handed out but not yet replayed, at most.
    ahead: usize,
}

impl<T> Shared<'_, T> {
    fn lock(&self) -> MutexGuard<'_, Queue<T>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the next job from the series set, unless there are enough jobs in flight.
    fn pull(&self) -> Pull {
        // The set's lock is held from taking the sequence number to the last series
        // read, so jobs hold the series in selection order.
        let mut set = self.set.lock().unwrap_or_else(|e| e.into_inner());
        let seq = {
            let mut q = self.lock();
            if q.exhausted || q.closed {
                return Pull::Exhausted;
            }
            if q.pulled - q.applied >= self.ahead {
                return Pull::NoRoom;
            }
            q.pulled += 1;
            q.pulled - 1
        };
        let mut batch = Vec::with_capacity(self.batch_len);
        let mut end = None;
        while batch.len() < self.batch_len {
            match set.next() {
                None => {
                    end = Some(None);
                    break;
                }
                Some(Err(e)) => {
                    end = Some(Some(e));
                    break;
                }
                Some(Ok(s)) => batch.push(s),
            }
        }
        if let Some(failure) = end {
            let mut q = self.lock();
            q.exhausted = true;
            q.failure = failure;
        }
        Pull::Job((seq, batch))
    }

    /// Waits until a job may be pulled (or there will be none).
    fn wait_for_room(&self) {
        let mut q = self.lock();
        while !q.closed && !q.exhausted && q.pulled - q.applied >= self.ahead {
            q = self.room.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn finish(&self, seq: usize, outs: Vec<Outcome<T>>) {
        self.lock().done.insert(seq, outs);
        self.result_ready.notify_one();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.room.notify_all();
    }
}

/// Tells the query's thread when a worker panics, so that it does not wait for a batch that
/// never comes.
struct PanicGuard<'s, 'set, T>(&'s Shared<'set, T>);

impl<T> Drop for PanicGuard<'_, '_, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().panicked = true;
            self.0.result_ready.notify_all();
        }
    }
}

/// The step grid and settings of the evaluator whose series are mapped.
#[derive(Clone, Copy)]
struct Grid {
    start: i64,
    end: i64,
    interval: i64,
    lookback: i64,
    delayed_name_removal: bool,
    no_step_subquery_interval: i64,
}

/// A thread's evaluator and decoding buffers.
struct Worker<'c> {
    ev: Evaluator<'c>,
    buf: SeriesBuf,
}

impl<'c> Worker<'c> {
    fn new(ctx: &'c QueryCtx, g: Grid) -> Worker<'c> {
        Worker {
            ev: Evaluator {
                start: g.start,
                end: g.end,
                interval: g.interval,
                lookback: g.lookback,
                // The limit is applied when the effects are replayed.
                max_samples: usize::MAX,
                current_samples: 0,
                delayed_name_removal: g.delayed_name_removal,
                no_step_subquery_interval: g.no_step_subquery_interval,
                samples: SampleCounts::new(0, false),
                ctx,
            },
            buf: SeriesBuf::default(),
        }
    }

    /// Evaluates one series as the serial loop does (check, decode, map), recording what
    /// that did to the evaluator.
    fn eval<T>(
        &mut self,
        series: &dyn storage::Series,
        opts: &DecodeOpts,
        map: &MapFn<'_, T>,
    ) -> Outcome<T> {
        let ev = &mut self.ev;
        // Held samples count from 1, so that a peak of 0 means "never accounted" (map
        // functions account only through `add_samples`, which records every peak it
        // checks against the limit).
        ev.current_samples = 1;
        ev.ctx.peak_samples.set(0);
        let buf = &mut self.buf;
        let res = ev
            .check()
            .and_then(|()| buf.decode(series, opts))
            .and_then(|()| {
                map(
                    ev,
                    series.labels(),
                    buf.all(),
                    buf.live(),
                    buf.hists(),
                    buf.sts(),
                )
            });
        let fx = Effects {
            samples: std::mem::replace(&mut ev.samples, SampleCounts::new(0, false)),
            peak: ev.ctx.peak_samples.get().checked_sub(1),
            held: ev.current_samples.saturating_sub(1),
            annotations: std::mem::take(&mut *ev.ctx.annotations.borrow_mut()),
        };
        (fx, res)
    }

    fn eval_job<T>(
        &mut self,
        job: &[Box<dyn storage::Series>],
        opts: &DecodeOpts,
        map: &MapFn<'_, T>,
    ) -> Vec<Outcome<T>> {
        job.iter().map(|s| self.eval(&**s, opts, map)).collect()
    }
}

/// Replays one series' outcome on the query's evaluator, then hands its value to `reduce`.
fn apply<'a, T>(
    ev: &mut Evaluator<'a>,
    (fx, res): Outcome<T>,
    reduce: &mut ReduceFn<'_, 'a, T>,
) -> Result<bool> {
    let before = ev.current_samples;
    if let Some(peak) = fx.peak {
        // The same peak, and the same limit check, as the series' own accounting.
        ev.add_samples(peak)?;
    }
    ev.current_samples = before + fx.held;
    ev.ctx.annotations.borrow_mut().merge(fx.annotations);
    let out = res?;
    ev.samples.add_totals(&fx.samples);
    reduce(ev, out)
}

/// Maps the remaining series of `set` on `plan.threads` threads and reduces them in series
/// order; stops early when `reduce` returns `false`. `avg_work` is the work (samples read
/// plus steps evaluated) of an average series so far, which sizes the jobs.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run<'a, T: Send>(
    ev: &mut Evaluator<'a>,
    set: &mut dyn SeriesSet,
    opts: &DecodeOpts,
    plan: Plan,
    avg_work: usize,
    map: &MapFn<'_, T>,
    reduce: &mut ReduceFn<'_, 'a, T>,
) -> Result<()> {
    let seed = ev.ctx.worker_seed();
    let grid = Grid {
        start: ev.start,
        end: ev.end,
        interval: ev.interval,
        lookback: ev.lookback,
        delayed_name_removal: ev.delayed_name_removal,
        no_step_subquery_interval: ev.no_step_subquery_interval,
    };
    let shared = Shared {
        set: Mutex::new(set),
        queue: Mutex::new(Queue {
            pulled: 0,
            applied: 0,
            done: BTreeMap::new(),
            exhausted: false,
            failure: None,
            closed: false,
            panicked: false,
        }),
        room: Condvar::new(),
        result_ready: Condvar::new(),
        batch_len: (BATCH_WORK / series_work(avg_work)).clamp(1, MAX_BATCH),
        ahead: plan.threads * AHEAD_PER_THREAD,
    };
    #[cfg(test)]
    tests::PARALLEL_RUNS.with(|n| n.set(n.get() + 1));
    std::thread::scope(|scope| {
        // Workers stop once the query's thread is done with the set, however it ends
        // (error, early stop, panic).
        let _close = CloseOnDrop(&shared);
        for _ in 1..plan.threads {
            let (shared, seed) = (&shared, &seed);
            let spawned = std::thread::Builder::new()
                .name("promql-worker".into())
                .spawn_scoped(scope, move || {
                    let _guard = PanicGuard(shared);
                    let ctx = QueryCtx::for_worker(seed);
                    let mut w = Worker::new(&ctx, grid);
                    loop {
                        match shared.pull() {
                            Pull::Job((seq, job)) => {
                                let outs = w.eval_job(&job, opts, map);
                                shared.finish(seq, outs);
                            }
                            Pull::NoRoom => shared.wait_for_room(),
                            Pull::Exhausted => break,
                        }
                    }
                });
            if spawned.is_err() {
                // No thread to be had: the query's thread does the work itself.
                break;
            }
        }
        drive(ev, &shared, &seed, grid, opts, map, reduce)
    })
}

/// Closes the queue when dropped.
struct CloseOnDrop<'s, 'set, T>(&'s Shared<'set, T>);

impl<T> Drop for CloseOnDrop<'_, '_, T> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The query's thread: replays evaluated jobs in order, and reads and evaluates jobs itself
/// while the next one to replay is not ready.
fn drive<'a, T: Send>(
    ev: &mut Evaluator<'a>,
    shared: &Shared<'_, T>,
    seed: &WorkerSeed,
    grid: Grid,
    opts: &DecodeOpts,
    map: &MapFn<'_, T>,
    reduce: &mut ReduceFn<'_, 'a, T>,
) -> Result<()> {
    let ctx = QueryCtx::for_worker(seed);
    let mut own = Worker::new(&ctx, grid);
    let mut applied = 0usize;
    loop {
        let next = {
            let mut q = shared.lock();
            let next = q.done.remove(&applied);
            if next.is_some() {
                q.applied += 1;
            }
            next
        };
        if let Some(outs) = next {
            applied += 1;
            shared.room.notify_all();
            for o in outs {
                if !apply(ev, o, reduce)? {
                    return Ok(());
                }
            }
            continue;
        }
        match shared.pull() {
            Pull::Job((seq, job)) => {
                let outs = own.eval_job(&job, opts, map);
                shared.lock().done.insert(seq, outs);
            }
            Pull::NoRoom | Pull::Exhausted => {
                let mut q = shared.lock();
                if q.exhausted && q.pulled == applied {
                    // Everything was replayed; a storage error ends the selection after
                    // the series before it, as in the serial loop.
                    let failure = q.failure.take();
                    drop(q);
                    if let Some(e) = failure {
                        ev.check()?;
                        return Err(Error::Storage(e));
                    }
                    return Ok(());
                }
                while !q.done.contains_key(&applied) {
                    if q.panicked {
                        return Err(Error::Eval("a query worker thread panicked".into()));
                    }
                    q = shared
                        .result_ready
                        .wait(q)
                        .unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::sync::Arc;

    use model::{FloatHistogram, Labels, Span};
    use storage::{Appendable, MemStorage, Queryable};

    use crate::value::{Annotations, Value};
    use crate::{Engine, EngineOpts, QueryResult};

    thread_local! {
        /// How often selections on this thread went parallel.
        pub(super) static PARALLEL_RUNS: Cell<usize> = const { Cell::new(0) };
    }

    /// splitmix64's finaliser: deterministic "random" data.
    fn mix(a: u64, b: u64) -> u64 {
        let mut x = a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b.wrapping_add(0x632b_e59b_d9b4_e019);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }

    const STEP: i64 = 15_000;
    const SAMPLES: i64 = 240;

    /// 300 counters (with resets, gaps and staleness markers, 10 of them not named like
    /// counters), 200 gauges (with NaNs and infinities), 30 classic histograms of 5
    /// buckets and 20 native histograms, over an hour.
    fn load(db: &dyn Appendable) {
        let mut app = db.appender();
        let stale = model::value::stale_nan();
        for i in 0..300u64 {
            let name = if i % 30 == 7 { "c_gauge" } else { "c_total" };
            let l = Labels::from_pairs([
                ("__name__", name),
                ("i", &i.to_string()),
                ("g", &(i % 7).to_string()),
            ]);
            let mut v = (i % 13) as f64 * 1.7;
            for s in 0..SAMPLES {
                let r = mix(i, s as u64);
                if r.is_multiple_of(23) {
                    continue;
                }
                if r % 97 == 1 {
                    v = 0.0;
                } else {
                    v += (r % 1000) as f64 / 7.0;
                }
                let f = if r % 211 == 3 { stale } else { v };
                app.append(0, &l, s * STEP, f).expect("append counter");
            }
        }
        for i in 0..200u64 {
            let l = Labels::from_pairs([("__name__", "gauge"), ("i", &i.to_string())]);
            for s in 0..SAMPLES {
                let r = mix(i + 1000, s as u64);
                let f = match r % 301 {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    _ => (r % 10_000) as f64 / 3.0 - 1000.0,
                };
                app.append(0, &l, s * STEP, f).expect("append gauge");
            }
        }
        let les = ["0.1", "0.5", "1", "5", "+Inf"];
        for h in 0..30u64 {
            let mut counts = [0.0f64; 5];
            for s in 0..SAMPLES {
                let mut acc = 0.0;
                for (b, c) in counts.iter_mut().enumerate() {
                    acc += (mix(h * 10 + b as u64, s as u64) % 5) as f64;
                    *c += acc;
                }
                for (b, le) in les.iter().enumerate() {
                    let l = Labels::from_pairs([
                        ("__name__", "b_bucket"),
                        ("h", &h.to_string()),
                        ("le", le),
                    ]);
                    app.append(0, &l, s * STEP, counts[b])
                        .expect("append bucket");
                }
            }
        }
        for h in 0..20u64 {
            let l = Labels::from_pairs([("__name__", "nh"), ("h", &h.to_string())]);
            let mut buckets = [0.0f64; 3];
            for s in 0..SAMPLES {
                for (b, c) in buckets.iter_mut().enumerate() {
                    *c += (mix(h * 3 + b as u64 + 5000, s as u64) % 4) as f64;
                }
                let count: f64 = buckets.iter().sum();
                let fh = FloatHistogram {
                    schema: 0,
                    count,
                    sum: count * 1.5,
                    positive_spans: vec![Span {
                        offset: 0,
                        length: 3,
                    }],
                    positive_buckets: buckets.to_vec(),
                    ..FloatHistogram::default()
                };
                app.append_histogram(0, &l, s * STEP, None, Some(&fh))
                    .expect("append histogram");
            }
        }
        app.commit().expect("commit");
    }

    const QUERIES: &[&str] = &[
        "c_total",
        "gauge",
        "nh",
        "gauge offset 5m",
        "gauge @ 1800",
        "rate(c_total[5m])",
        "rate(c_gauge[5m])",
        "increase(c_total[2m])",
        "irate(c_total[5m])",
        "resets(c_total[10m])",
        "changes(gauge[10m])",
        "delta(gauge[5m])",
        "deriv(gauge[5m])",
        "predict_linear(gauge[5m], 60)",
        "avg_over_time(gauge[5m])",
        "sum_over_time(gauge[3m])",
        "min_over_time(gauge[5m])",
        "quantile_over_time(0.9, gauge[5m])",
        "stddev_over_time(gauge[5m])",
        "last_over_time(c_total[1m])",
        "count_over_time(c_total[5m])",
        "absent_over_time(c_total[5m])",
        "double_exponential_smoothing(gauge[5m], 0.5, 0.5)",
        "double_exponential_smoothing(gauge[5m], 2, 0.5)",
        "sum by (g) (rate(c_total[5m]))",
        "avg by (g) (rate(c_total[5m]))",
        "max(increase(c_total[5m]))",
        "sum by (i) (rate(c_total[5m]))",
        "sum(avg_over_time(gauge[5m]))",
        "stddev(gauge)",
        "topk(3, rate(c_total[5m]))",
        "sum by (g) (c_total) / on (g) group_left count by (g) (c_total)",
        "histogram_quantile(0.9, sum by (le) (rate(b_bucket[5m])))",
        "histogram_quantile(0.9, rate(b_bucket[5m]))",
        "histogram_quantile(0.5, rate(nh[5m]))",
        "sum(rate(nh[5m]))",
        "histogram_count(rate(nh[5m]))",
        "max_over_time(rate(c_total[5m])[10m:1m])",
        "rate(c_total[5m]) > 1000",
        "-gauge",
        "timestamp(gauge)",
        "label_replace(rate(c_total[5m]), \"x\", \"$1\", \"i\", \"(.)\")",
        "{__name__=~\"c_.*\"}",
        "rate({__name__=~\"c_.*|gauge\"}[5m])",
    ];

    /// A result as text that tells every float's bits apart (NaN payloads included).
    fn exact(r: &crate::Result<QueryResult>) -> String {
        let res = match r {
            Ok(res) => res,
            Err(e) => return format!("error: {e}"),
        };
        let bits = |f: f64| format!("{:016x}", f.to_bits());
        let mut out = String::new();
        match &res.value {
            Value::Scalar(s) => out.push_str(&format!("scalar {} {}\n", s.t, bits(s.v))),
            Value::String(s) => out.push_str(&format!("string {} {}\n", s.t, s.v)),
            Value::Vector(v) => {
                for s in v {
                    out.push_str(&format!("{} {} {} {:?}\n", s.metric, s.t, bits(s.f), s.h));
                }
            }
            Value::Matrix(m) => {
                for s in m {
                    out.push_str(&format!("{}:", s.metric));
                    for p in &s.floats {
                        out.push_str(&format!(" {}={}", p.t, bits(p.f)));
                    }
                    for p in &s.histograms {
                        out.push_str(&format!(" {}={:?}", p.t, p.h));
                    }
                    out.push('\n');
                }
            }
        }
        let notes = |a: &Annotations| a.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>();
        out.push_str(&format!(
            "annotations {:?}\nstats {} {} {}\n",
            notes(&res.annotations),
            res.stats.total_samples,
            res.stats.samples_read,
            res.stats.peak_samples
        ));
        out
    }

    fn engines(max_samples: usize) -> (Engine, Vec<Engine>) {
        let opts = |parallelism: usize| EngineOpts {
            max_samples,
            parallelism,
            // Every selection of more than one series goes parallel.
            parallel_threshold: 0,
            ..EngineOpts::default()
        };
        (
            Engine::new(opts(1)),
            vec![Engine::new(opts(2)), Engine::new(opts(3))],
        )
    }

    fn compare(db: Arc<dyn Queryable>, max_samples: usize) {
        let (serial, parallel) = engines(max_samples);
        let (start, end) = (10 * 60_000, (SAMPLES - 1) * STEP);
        let (mut errors, mut outputs) = (0, 0);
        for q in QUERIES {
            for instant in [true, false] {
                let run = |e: &Engine| {
                    if instant {
                        e.instant_query(db.clone(), q, end - 7_000)
                    } else {
                        e.range_query(db.clone(), q, start, end, 30_000)
                    }
                };
                let before = PARALLEL_RUNS.get();
                let want = exact(&run(&serial));
                assert_eq!(PARALLEL_RUNS.get(), before, "{q}: serial");
                if want.starts_with("error") {
                    errors += 1;
                } else if !want.starts_with("annotations") {
                    outputs += 1;
                }
                for (i, engine) in parallel.iter().enumerate() {
                    let got = exact(&run(engine));
                    assert!(
                        got == want,
                        "{q} (instant: {instant}, max_samples {max_samples}) differs with {} threads:\nserial:   {want}\nparallel: {got}",
                        i + 2
                    );
                }
            }
        }
        eprintln!("max_samples {max_samples}: {outputs} results, {errors} errors");
        assert!(PARALLEL_RUNS.get() > 0, "nothing ran in parallel");
    }

    #[test]
    fn parallel_evaluation_is_bit_identical_to_serial() {
        let mem = Arc::new(MemStorage::new());
        load(&*mem);
        compare(mem, 50_000_000);
    }

    #[test]
    fn parallel_evaluation_is_bit_identical_on_the_tsdb_head() {
        let head = promqltest::tsdb_storage().expect("tsdb");
        load(&*head);
        let db: Arc<dyn Queryable> = head;
        compare(db, 50_000_000);
    }

    #[test]
    fn sample_limits_fail_at_the_same_point() {
        let mem = Arc::new(MemStorage::new());
        load(&*mem);
        for max in [1_000, 5_000, 20_000] {
            compare(mem.clone(), max);
        }
    }

    #[test]
    fn small_queries_and_per_step_statistics_stay_serial() {
        let mem = Arc::new(MemStorage::new());
        load(&*mem);
        let db: Arc<dyn Queryable> = mem;
        let before = PARALLEL_RUNS.get();
        // Below the default threshold: no thread.
        let engine = Engine::new(EngineOpts {
            parallelism: 4,
            ..EngineOpts::default()
        });
        engine
            .instant_query(db.clone(), "rate(c_total[5m])", 3_000_000)
            .expect("query");
        assert_eq!(PARALLEL_RUNS.get(), before);
        // Per-step statistics: serial, with the same counts.
        let (serial, parallel) = engines(50_000_000);
        let per_step = |e: &Engine| {
            let engine = Engine::new(EngineOpts {
                enable_per_step_stats: true,
                ..e.opts().clone()
            });
            let expr = crate::parser::parse_expr("sum(rate(c_total[5m]))").expect("parse");
            let opts = crate::QueryOpts {
                enable_per_step_stats: true,
                ..crate::QueryOpts::default()
            };
            engine
                .range_query_expr(db.clone(), &expr, "", 600_000, 3_000_000, 60_000, &opts)
                .expect("query")
                .stats
        };
        let want = per_step(&serial);
        assert!(want.total_samples_per_step.is_some());
        for e in &parallel {
            assert_eq!(per_step(e), want);
        }
        assert_eq!(PARALLEL_RUNS.get(), before);
    }

    /// A storage whose series sets fail after `ok` series.
    struct Failing {
        inner: Arc<MemStorage>,
        ok: usize,
    }

    struct FailingQuerier(Box<dyn storage::Querier>, usize);

    struct FailingSet(Box<dyn storage::SeriesSet>, usize);

    impl Queryable for Failing {
        fn querier(&self, mint: i64, maxt: i64) -> storage::Result<Box<dyn storage::Querier>> {
            Ok(Box::new(FailingQuerier(
                self.inner.querier(mint, maxt)?,
                self.ok,
            )))
        }
    }

    impl storage::Querier for FailingQuerier {
        fn select(
            &self,
            sorted: bool,
            hints: Option<&storage::SelectHints>,
            matchers: &[model::Matcher],
        ) -> Box<dyn storage::SeriesSet> {
            Box::new(FailingSet(self.0.select(sorted, hints, matchers), self.1))
        }
        fn label_values(
            &self,
            name: &str,
            hints: Option<&storage::LabelHints>,
            matchers: &[model::Matcher],
        ) -> storage::Result<Vec<String>> {
            self.0.label_values(name, hints, matchers)
        }
        fn label_names(
            &self,
            hints: Option<&storage::LabelHints>,
            matchers: &[model::Matcher],
        ) -> storage::Result<Vec<String>> {
            self.0.label_names(hints, matchers)
        }
    }

    impl storage::SeriesSet for FailingSet {
        fn next(&mut self) -> Option<storage::Result<Box<dyn storage::Series>>> {
            if self.1 == 0 {
                return Some(Err(storage::Error::backend(std::io::Error::other(
                    "disk on fire",
                ))));
            }
            self.1 -= 1;
            self.0.next()
        }
        fn warnings(&self) -> Vec<String> {
            Vec::new()
        }
    }

    #[test]
    fn storage_errors_end_the_selection_as_in_serial() {
        let mem = Arc::new(MemStorage::new());
        load(&*mem);
        for ok in [0, 1, 2, 33, 150] {
            let db: Arc<dyn Queryable> = Arc::new(Failing {
                inner: mem.clone(),
                ok,
            });
            // Before the failing series, the sample limit may fail first (at 5000).
            for max_samples in [5_000, 50_000_000] {
                let (serial, parallel) = engines(max_samples);
                for q in ["sum(rate(c_total[5m]))", "gauge"] {
                    let run = |e: &Engine| {
                        exact(&e.range_query(db.clone(), q, 600_000, 3_000_000, 30_000))
                    };
                    let want = run(&serial);
                    assert!(want.starts_with("error"), "{want}");
                    for e in &parallel {
                        assert_eq!(run(e), want, "{q} after {ok} series");
                    }
                }
            }
        }
    }
}
