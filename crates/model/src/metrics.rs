//! Self-metric primitives for a component's `/metrics` samples: [`Counter`], [`Gauge`], [`Summary`] and [`Histogram`], written in the text exposition format (0.0.4) as Go's client library writes them.
//!
//! Each type is lock-free or holds one short lock, so that hot paths (appends, queries,
//! scrapes) can update them. Rendering goes through [`write_sample`] and the types'
//! `write` methods, after a family header from
//! [`write_header`](crate::exposition::write_header):
//!
//! ```
//! use model::metrics::{Counter, Summary, write_sample};
//! use model::exposition::write_header;
//!
//! let appended = Counter::default();
//! appended.add(3.0);
//! let mut out = String::new();
//! write_header(&mut out, "x_total", "counter", "Things.");
//! write_sample(&mut out, "x_total", &[("type", "float")], appended.get());
//! assert_eq!(out, "# HELP x_total Things.\n# TYPE x_total counter\nx_total{type=\"float\"} 3\n");
//!
//! let s = Summary::default();
//! s.observe(0.25);
//! let mut out = String::new();
//! s.write(&mut out, "d_seconds", &[]);
//! assert!(out.starts_with("d_seconds{quantile=\"0.5\"} 0.25\n"));
//! assert!(out.ends_with("d_seconds_sum 0.25\nd_seconds_count 1\n"));
//! ```

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::exposition::write_escaped_label_value;
use crate::strconv::format_float_g;

/// Appends one sample line: `name{a="x",b="y"} value` (labels in the order given, values
/// escaped; the value as Go's client prints a float).
pub fn write_sample(out: &mut String, name: &str, labels: &[(&str, &str)], v: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, val)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            write_escaped_label_value(out, val);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&format_float_g(v));
    out.push('\n');
}

/// Appends a whole family of one sample without labels: its `# HELP`/`# TYPE` header
/// ([`write_header`](crate::exposition::write_header)) and the sample.
pub fn write_single(out: &mut String, name: &str, kind: &str, help: &str, v: f64) {
    crate::exposition::write_header(out, name, kind, help);
    write_sample(out, name, &[], v);
}

/// An `f64` updated atomically (bits in an `AtomicU64`).
#[derive(Debug, Default)]
struct AtomicF64(AtomicU64);

impl AtomicF64 {
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
    fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
    fn add(&self, d: f64) {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(cur) + d).to_bits();
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(seen) => cur = seen,
            }
        }
    }
}

/// A monotonic counter (Go's `prometheus.Counter`): starts at 0, only goes up.
#[derive(Debug, Default)]
pub struct Counter(AtomicF64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.add(1.0);
    }
    /// Adds `v` (callers pass non-negative values; a counter never goes down).
    pub fn add(&self, v: f64) {
        self.0.add(v);
    }
    /// The current value.
    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

/// A gauge (Go's `prometheus.Gauge`): a value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicF64);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: f64) {
        self.0.set(v);
    }
    /// Adds `v` (negative to subtract).
    pub fn add(&self, v: f64) {
        self.0.add(v);
    }
    /// Adds one.
    pub fn inc(&self) {
        self.0.add(1.0);
    }
    /// Subtracts one.
    pub fn dec(&self) {
        self.0.add(-1.0);
    }
    /// The current value.
    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

/// How long a [`Summary`] keeps observations for its quantiles (Go's `DefMaxAge`).
pub const SUMMARY_MAX_AGE: Duration = Duration::from_secs(600);
/// At most this many observations are kept for the quantiles (the oldest go first).
const SUMMARY_MAX_SAMPLES: usize = 10_000;
/// The quantiles Prometheus's own summaries report (objectives 0.5, 0.9 and 0.99).
pub const SUMMARY_QUANTILES: [(f64, &str); 3] = [(0.5, "0.5"), (0.9, "0.9"), (0.99, "0.99")];
/// The quantiles of Prometheus's scrape timing summaries (`prometheus_target_interval_length_seconds`
/// and friends: objectives 0.01, 0.05, 0.5, 0.9 and 0.99), for [`Summary::with_quantiles`].
pub const SUMMARY_QUANTILES_TARGET: [(f64, &str); 5] = [
    (0.01, "0.01"),
    (0.05, "0.05"),
    (0.5, "0.5"),
    (0.9, "0.9"),
    (0.99, "0.99"),
];

#[derive(Debug, Default)]
struct SummaryData {
    window: VecDeque<(Instant, f64)>,
    sum: f64,
    count: u64,
}

impl SummaryData {
    fn prune(&mut self, now: Instant) {
        while let Some(&(t, _)) = self.window.front() {
            if now.duration_since(t) <= SUMMARY_MAX_AGE {
                break;
            }
            self.window.pop_front();
        }
    }
}

/// A summary (Go's `prometheus.Summary` with a 10-minute window; objectives 0.5, 0.9,
/// 0.99 by default, others with [`Summary::with_quantiles`]): exact nearest-rank quantiles
/// of the observations of the last [`SUMMARY_MAX_AGE`], cumulative sum and count.
#[derive(Debug)]
pub struct Summary {
    data: Mutex<SummaryData>,
    /// The quantiles reported, with their `quantile` label values.
    quantiles: &'static [(f64, &'static str)],
}

impl Default for Summary {
    fn default() -> Self {
        Summary::with_quantiles(&SUMMARY_QUANTILES)
    }
}

impl Summary {
    /// A summary reporting `quantiles` (each a quantile and its `quantile` label value,
    /// ascending), such as [`SUMMARY_QUANTILES_TARGET`].
    pub fn with_quantiles(quantiles: &'static [(f64, &'static str)]) -> Summary {
        Summary {
            data: Mutex::default(),
            quantiles,
        }
    }

    fn data(&self) -> std::sync::MutexGuard<'_, SummaryData> {
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records one observation.
    pub fn observe(&self, v: f64) {
        self.observe_at(Instant::now(), v);
    }

    /// Records one observation made at `now` (for callers that already read the clock).
    pub fn observe_at(&self, now: Instant, v: f64) {
        let mut d = self.data();
        d.prune(now);
        if d.window.len() == SUMMARY_MAX_SAMPLES {
            d.window.pop_front();
        }
        d.window.push_back((now, v));
        d.sum += v;
        d.count += 1;
    }

    /// Records the seconds elapsed since `start`.
    pub fn observe_since(&self, start: Instant) {
        self.observe(start.elapsed().as_secs_f64());
    }

    /// The number of observations so far.
    pub fn count(&self) -> u64 {
        self.data().count
    }

    /// The sum of the observations so far.
    pub fn sum(&self) -> f64 {
        self.data().sum
    }

    /// The summary's quantiles ([`SUMMARY_QUANTILES`] unless made
    /// [`with_quantiles`](Summary::with_quantiles)) of the window at `now`, in their order
    /// (NaN while the window is empty, as Go reports them).
    pub fn quantiles_at(&self, now: Instant) -> Vec<f64> {
        let mut d = self.data();
        d.prune(now);
        let mut vs: Vec<f64> = d.window.iter().map(|&(_, v)| v).collect();
        drop(d);
        vs.sort_by(f64::total_cmp);
        self.quantiles
            .iter()
            .map(|&(q, _)| {
                if vs.is_empty() {
                    return f64::NAN;
                }
                // Nearest rank: ceil(q * n), 1-based, clamped to the window.
                let rank = (q * vs.len() as f64).ceil() as usize;
                vs[rank.clamp(1, vs.len()) - 1]
            })
            .collect()
    }

    /// Appends the quantile lines, `_sum` and `_count` under `labels` (the family header
    /// is the caller's).
    pub fn write(&self, out: &mut String, name: &str, labels: &[(&str, &str)]) {
        let qs = self.quantiles_at(Instant::now());
        let (sum, count) = {
            let d = self.data();
            (d.sum, d.count)
        };
        let mut with_q: Vec<(&str, &str)> = labels.to_vec();
        with_q.push(("quantile", ""));
        for ((_, text), v) in self.quantiles.iter().zip(qs) {
            if let Some(last) = with_q.last_mut() {
                *last = ("quantile", text);
            }
            write_sample(out, name, &with_q, v);
        }
        write_sample(out, &format!("{name}_sum"), labels, sum);
        #[allow(clippy::cast_precision_loss)]
        write_sample(out, &format!("{name}_count"), labels, count as f64);
    }
}

/// A histogram with fixed upper bounds (Go's `prometheus.Histogram`): cumulative bucket
/// counts, sum and count.
#[derive(Debug)]
pub struct Histogram {
    bounds: Vec<f64>,
    /// Per bucket (not cumulative); the last is `+Inf`.
    counts: Vec<AtomicU64>,
    sum: AtomicF64,
}

impl Histogram {
    /// A histogram with the upper bounds `bounds` (ascending; `+Inf` is implied).
    pub fn new(bounds: Vec<f64>) -> Histogram {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Histogram {
            bounds,
            counts,
            sum: AtomicF64::default(),
        }
    }

    /// Records one observation.
    pub fn observe(&self, v: f64) {
        let i = self.bounds.partition_point(|b| *b < v);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum.add(v);
    }

    /// The number of observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Appends the `_bucket` lines (cumulative, `le` last among the labels), `_sum` and
    /// `_count` under `labels` (the family header is the caller's).
    pub fn write(&self, out: &mut String, name: &str, labels: &[(&str, &str)]) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Ordering::Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| format_float_g(*b));
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            #[allow(clippy::cast_precision_loss)]
            write_sample(out, &bucket, &with_le, cumulative as f64);
        }
        write_sample(out, &format!("{name}_sum"), labels, self.sum.get());
        #[allow(clippy::cast_precision_loss)]
        write_sample(out, &format!("{name}_count"), labels, cumulative as f64);
    }
}

/// `count` upper bounds starting at `start`, each `factor` times the previous (Go's
/// `prometheus.ExponentialBuckets`).
pub fn exponential_buckets(start: f64, factor: f64, count: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(count);
    let mut b = start;
    for _ in 0..count {
        out.push(b);
        b *= factor;
    }
    out
}

/// `count` upper bounds starting at `start`, `width` apart (Go's
/// `prometheus.LinearBuckets`).
pub fn linear_buckets(start: f64, width: f64, count: usize) -> Vec<f64> {
    #[allow(clippy::cast_precision_loss)]
    (0..count).map(|i| start + width * i as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_gauges_add_from_many_threads() {
        let c = Counter::default();
        let g = Gauge::default();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        c.inc();
                        g.add(0.5);
                    }
                });
            }
        });
        assert_eq!(c.get(), 4000.0);
        assert_eq!(g.get(), 2000.0);
        g.dec();
        g.set(7.0);
        assert_eq!(g.get(), 7.0);
    }

    #[test]
    fn samples_escape_label_values_and_print_go_floats() {
        let mut out = String::new();
        write_sample(&mut out, "m", &[("a", "x\"y"), ("b", "1\n")], 1e6);
        assert_eq!(out, "m{a=\"x\\\"y\",b=\"1\\n\"} 1e+06\n");
        let mut out = String::new();
        write_sample(&mut out, "m", &[], f64::NAN);
        assert_eq!(out, "m NaN\n");
    }

    #[test]
    fn summary_quantiles_are_nearest_rank_and_nan_when_empty() {
        let s = Summary::default();
        let mut out = String::new();
        s.write(&mut out, "x", &[("k", "v")]);
        assert!(
            out.starts_with("x{k=\"v\",quantile=\"0.5\"} NaN\n"),
            "{out}"
        );
        for i in 1..=100 {
            s.observe(f64::from(i));
        }
        let mut out = String::new();
        s.write(&mut out, "x", &[]);
        assert_eq!(
            out,
            "x{quantile=\"0.5\"} 50\nx{quantile=\"0.9\"} 90\nx{quantile=\"0.99\"} 99\nx_sum 5050\nx_count 100\n"
        );
    }

    #[test]
    fn summary_window_forgets_old_observations_but_not_sum_and_count() {
        let s = Summary::default();
        let t0 = Instant::now();
        s.observe_at(t0, 100.0);
        s.observe_at(t0 + SUMMARY_MAX_AGE + Duration::from_secs(1), 1.0);
        assert_eq!(
            s.quantiles_at(t0 + SUMMARY_MAX_AGE + Duration::from_secs(2)),
            [1.0; 3]
        );
        assert_eq!((s.count(), s.sum()), (2, 101.0));
    }

    #[test]
    fn summary_with_target_quantiles_reports_all_five() {
        let s = Summary::with_quantiles(&SUMMARY_QUANTILES_TARGET);
        for i in 1..=200 {
            s.observe(f64::from(i));
        }
        let mut out = String::new();
        s.write(&mut out, "x", &[("interval", "15s")]);
        assert_eq!(
            out,
            "x{interval=\"15s\",quantile=\"0.01\"} 2\n\
             x{interval=\"15s\",quantile=\"0.05\"} 10\n\
             x{interval=\"15s\",quantile=\"0.5\"} 100\n\
             x{interval=\"15s\",quantile=\"0.9\"} 180\n\
             x{interval=\"15s\",quantile=\"0.99\"} 198\n\
             x_sum{interval=\"15s\"} 20100\n\
             x_count{interval=\"15s\"} 200\n"
        );
        // The default keeps Go's three objectives.
        assert_eq!(Summary::default().quantiles_at(Instant::now()).len(), 3);
    }

    #[test]
    fn histogram_buckets_are_cumulative_with_le_last() {
        let h = Histogram::new(exponential_buckets(1.0, 2.0, 3));
        for v in [0.5, 1.0, 1.5, 3.0, 100.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.write(&mut out, "h", &[("op", "x")]);
        assert_eq!(
            out,
            "h_bucket{op=\"x\",le=\"1\"} 2\nh_bucket{op=\"x\",le=\"2\"} 3\nh_bucket{op=\"x\",le=\"4\"} 4\nh_bucket{op=\"x\",le=\"+Inf\"} 5\nh_sum{op=\"x\"} 106\nh_count{op=\"x\"} 5\n"
        );
        assert_eq!(h.count(), 5);
        assert_eq!(linear_buckets(1.0, 0.5, 3), [1.0, 1.5, 2.0]);
    }
}
