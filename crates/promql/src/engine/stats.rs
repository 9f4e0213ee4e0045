//! Sample statistics of one evaluator (Go's `stats.QuerySamples`): samples counted per step.
//!
//! Prometheus counts the samples each evaluation step looks at, as if every step ran as an
//! instant query: an instant selector adds one per series with a point at that step, a range
//! function adds its whole window at every step (overlapping windows count again), a
//! step-invariant part adds its single evaluation's count at every step, and a subquery's
//! samples are counted through the function that consumes its output. The samples read
//! (`samplesRead`) count each stored sample once per step grid instead: a range function
//! counts only the points a window adds over the previous step's window.

use crate::value::{FPoint, HPoint};

/// The sample counts of one evaluator's step grid.
#[derive(Debug, Clone, Default)]
pub(crate) struct SampleCounts {
    /// Samples looked at, summed over all steps (Go's `TotalSamples`).
    pub(crate) total: u64,
    /// Samples read (Go's `SamplesRead`).
    pub(crate) read: u64,
    /// `total` per step, when kept; allocated on the first count.
    pub(crate) total_per_step: Option<Vec<u64>>,
    /// `read` per step, when kept; allocated on the first count.
    pub(crate) read_per_step: Option<Vec<u64>>,
    /// The number of steps of the grid.
    steps: usize,
    keep_total_steps: bool,
    keep_read_steps: bool,
}

/// How a subquery's output is consumed by the evaluator that ran it (Go's
/// `SubqueryConsumer`): a parent step at `t` consumes the subquery steps whose time plus
/// `offset` lies in `(t - range, t]` (or, with `at`, in `(at - range, at]`).
pub(crate) struct Consumer {
    pub(crate) start: i64,
    pub(crate) interval: i64,
    pub(crate) steps: usize,
    pub(crate) offset: i64,
    pub(crate) range: i64,
    pub(crate) at: Option<i64>,
}

impl SampleCounts {
    /// Counts for a grid of `steps` steps, keeping per-step totals and reads when
    /// `per_step` is set.
    pub(crate) fn new(steps: usize, per_step: bool) -> SampleCounts {
        SampleCounts {
            steps,
            keep_total_steps: per_step,
            keep_read_steps: per_step,
            ..SampleCounts::default()
        }
    }

    /// Counts that keep per-step reads only (what a subquery needs so its reads can be
    /// attributed to the parent's steps).
    pub(crate) fn with_read_steps(steps: usize) -> SampleCounts {
        SampleCounts {
            steps,
            keep_read_steps: true,
            ..SampleCounts::default()
        }
    }

    /// Whether per-step counts are kept (then counts cannot be moved between evaluators as
    /// plain totals).
    pub(crate) fn keeps_per_step(&self) -> bool {
        self.keep_total_steps || self.keep_read_steps
    }

    /// Adds the totals of `other` (whose per-step counts, if any, are not kept).
    pub(crate) fn add_totals(&mut self, other: &SampleCounts) {
        self.total += other.total;
        self.read += other.read;
    }

    /// Adds `n` looked-at samples at `step`.
    #[inline]
    pub(crate) fn add(&mut self, step: usize, n: u64) {
        self.total += n;
        if self.keep_total_steps {
            bump(&mut self.total_per_step, self.steps, step, n);
        }
    }

    /// Adds `n` read samples at `step`.
    #[inline]
    pub(crate) fn add_read(&mut self, step: usize, n: u64) {
        self.read += n;
        if self.keep_read_steps {
            bump(&mut self.read_per_step, self.steps, step, n);
        }
    }

    /// Adds `n` looked-at and read samples at `step`.
    #[inline]
    pub(crate) fn add_both(&mut self, step: usize, n: u64) {
        self.add(step, n);
        self.add_read(step, n);
    }

    /// Adds `n` looked-at samples at every step (a step-invariant part evaluated once).
    pub(crate) fn add_each_step(&mut self, n: u64) {
        self.total += n * self.steps as u64;
        if self.keep_total_steps && n > 0 {
            let v = self
                .total_per_step
                .get_or_insert_with(|| vec![0; self.steps]);
            for c in v.iter_mut() {
                *c += n;
            }
        }
    }

    /// Counts one looked-at and read sample per point, at the step of the point's time (the
    /// points of an instant selector over the grid `start`, `start + interval`, ...).
    pub(crate) fn add_points(&mut self, start: i64, interval: i64, pts: &[FPoint]) {
        let n = pts.len() as u64;
        self.total += n;
        self.read += n;
        if self.keep_total_steps || self.keep_read_steps {
            for p in pts {
                let step = usize::try_from((p.t - start) / interval.max(1)).unwrap_or(0);
                if self.keep_total_steps {
                    bump(&mut self.total_per_step, self.steps, step, 1);
                }
                if self.keep_read_steps {
                    bump(&mut self.read_per_step, self.steps, step, 1);
                }
            }
        }
    }

    /// The per-step totals and reads, zero-filled, when kept.
    /// Like [`SampleCounts::add_points`] for histogram points, each counted by its size.
    pub(crate) fn add_hpoints(&mut self, start: i64, interval: i64, pts: &[HPoint]) {
        for p in pts {
            let n = p.size() as u64;
            self.total += n;
            self.read += n;
            let step = usize::try_from((p.t - start) / interval.max(1)).unwrap_or(0);
            if self.keep_total_steps {
                bump(&mut self.total_per_step, self.steps, step, n);
            }
            if self.keep_read_steps {
                bump(&mut self.read_per_step, self.steps, step, n);
            }
        }
    }

    pub(crate) fn per_step(&self) -> (Option<Vec<u64>>, Option<Vec<u64>>) {
        let fill = |keep: bool, v: &Option<Vec<u64>>| {
            keep.then(|| v.clone().unwrap_or_else(|| vec![0; self.steps]))
        };
        (
            fill(self.keep_total_steps, &self.total_per_step),
            fill(self.keep_read_steps, &self.read_per_step),
        )
    }

    /// Adds the reads of a subquery evaluated on the grid `child_start`,
    /// `child_start + child_interval`, ... (kept per step in `child`): each subquery step is
    /// counted once, at the first parent step that consumes it; steps no parent step
    /// consumes are not counted (Go's `MergeSamplesReadFromSubquery`).
    pub(crate) fn merge_subquery_reads(
        &mut self,
        child: &SampleCounts,
        child_start: i64,
        child_interval: i64,
        c: &Consumer,
    ) {
        let child_t = |k: usize| child_start + k as i64 * child_interval;
        let per_step = child.read_per_step.as_deref().unwrap_or(&[]);
        if c.steps <= 1 {
            self.add_read(0, child.read);
            return;
        }
        if let Some(at) = c.at
            && c.range > 0
        {
            let (mint, maxt) = (at - c.range, at);
            let sum = per_step
                .iter()
                .enumerate()
                .filter(|(k, _)| {
                    let t = child_t(*k) + c.offset;
                    t > mint && t <= maxt
                })
                .map(|(_, n)| *n)
                .sum();
            self.add_read(0, sum);
            return;
        }
        for (k, &n) in per_step.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let t = child_t(k) + c.offset;
            let step = if t > c.start {
                usize::try_from((t - c.start + c.interval - 1) / c.interval).unwrap_or(usize::MAX)
            } else {
                0
            };
            if c.range <= 0 {
                self.add_read(step.min(c.steps - 1), n);
                continue;
            }
            if step >= c.steps || t <= c.start + step as i64 * c.interval - c.range {
                continue;
            }
            self.add_read(step, n);
        }
    }
}

#[inline]
fn bump(v: &mut Option<Vec<u64>>, steps: usize, step: usize, n: u64) {
    let v = v.get_or_insert_with(|| vec![0; steps]);
    if let Some(c) = v.get_mut(step) {
        *c += n;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use model::Labels;
    use storage::{Appendable, MemStorage};

    use crate::engine::{Engine, EngineOpts, QueryOpts};
    use crate::{Error, parser};

    /// Go's `TestQueryStatistics` data: samples every 10s from 0s to 1000s.
    fn storage() -> Arc<MemStorage> {
        let db = Arc::new(MemStorage::new());
        let mut app = db.appender();
        let series = [
            Labels::from_pairs([("__name__", "metricWith1SampleEvery10Seconds")]),
            Labels::from_pairs([
                ("__name__", "metricWith3SampleEvery10Seconds"),
                ("a", "1"),
                ("b", "1"),
            ]),
            Labels::from_pairs([
                ("__name__", "metricWith3SampleEvery10Seconds"),
                ("a", "2"),
                ("b", "2"),
            ]),
            Labels::from_pairs([
                ("__name__", "metricWith3SampleEvery10Seconds"),
                ("a", "3"),
                ("b", "2"),
            ]),
        ];
        for l in &series {
            for i in 0..=100 {
                app.append(0, l, i * 10_000, (i + 1) as f64)
                    .expect("append");
            }
        }
        let (l, values) = parser::series::parse_series_desc(
            "metricWith1HistogramEvery10Seconds {{schema:1 count:5 sum:20 buckets:[1 2 1 1]}}+{{schema:1 count:10 sum:5 buckets:[1 2 3 4]}}x100",
        )
        .expect("series");
        for (i, v) in values.iter().enumerate() {
            let h = v.histogram.as_deref().expect("a histogram");
            app.append_histogram(0, &l, i as i64 * 10_000, None, Some(h))
                .expect("append");
        }
        app.commit().expect("commit");
        db
    }

    /// One row of Go's table: the query, its times in seconds (`interval` 0: an instant
    /// query at `start`), the expected total, per-step totals and peak.
    struct Case {
        query: &'static str,
        start: i64,
        end: i64,
        interval: i64,
        total: u64,
        per_step: &'static [u64],
        peak: usize,
    }

    const fn instant(query: &'static str, t: i64, total: u64, peak: usize) -> Case {
        Case {
            query,
            start: t,
            end: t,
            interval: 0,
            total,
            per_step: &[],
            peak,
        }
    }

    const fn range(
        query: &'static str,
        (start, end, interval): (i64, i64, i64),
        total: u64,
        per_step: &'static [u64],
        peak: usize,
    ) -> Case {
        Case {
            query,
            start,
            end,
            interval,
            total,
            per_step,
            peak,
        }
    }

    const M1: &str = "metricWith1SampleEvery10Seconds";

    fn cases() -> Vec<Case> {
        vec![
            instant("\"literal string\"", 21, 0, 0),
            instant("1", 21, 0, 1),
            instant(M1, 21, 1, 1),
            instant("metricWith1HistogramEvery10Seconds", 21, 13, 13),
            instant("timestamp(metricWith1SampleEvery10Seconds)", 21, 1, 2),
            instant("timestamp(metricWith1HistogramEvery10Seconds)", 21, 1, 2),
            instant(M1, 22, 1, 1),
            instant("metricWith1SampleEvery10Seconds offset 10s", 21, 1, 1),
            instant("metricWith1SampleEvery10Seconds @ 15", 21, 1, 1),
            instant("metricWith3SampleEvery10Seconds{a=\"1\"}", 21, 1, 1),
            instant("metricWith3SampleEvery10Seconds{a=\"1\"} @ 19", 21, 1, 1),
            instant(
                "metricWith3SampleEvery10Seconds{a=\"1\"}[20s] @ 19",
                21,
                2,
                2,
            ),
            instant("metricWith3SampleEvery10Seconds", 21, 3, 3),
            instant("metricWith1SampleEvery10Seconds[60s]", 201, 6, 6),
            instant("metricWith1HistogramEvery10Seconds[60s]", 201, 78, 78),
            instant(
                "max_over_time(metricWith1SampleEvery10Seconds[60s])[20s:5s]",
                201,
                24,
                10,
            ),
            instant(
                "max_over_time(metricWith1SampleEvery10Seconds[61s])[20s:5s]",
                201,
                26,
                11,
            ),
            instant(
                "max_over_time(metricWith1HistogramEvery10Seconds[60s])[20s:5s]",
                201,
                312,
                78,
            ),
            instant("metricWith1SampleEvery10Seconds[60s] @ 30", 201, 4, 4),
            instant("metricWith1HistogramEvery10Seconds[60s] @ 30", 201, 52, 52),
            instant(
                "sum(max_over_time(metricWith3SampleEvery10Seconds[60s] @ 30))",
                201,
                12,
                7,
            ),
            instant(
                "sum by (b) (max_over_time(metricWith3SampleEvery10Seconds[60s] @ 30))",
                201,
                12,
                7,
            ),
            instant("metricWith1SampleEvery10Seconds[60s] offset 10s", 201, 6, 6),
            instant("metricWith3SampleEvery10Seconds[60s]", 201, 18, 18),
            instant(
                "max_over_time(metricWith1SampleEvery10Seconds[60s])",
                201,
                6,
                7,
            ),
            instant(
                "absent_over_time(metricWith1SampleEvery10Seconds[60s])",
                201,
                6,
                7,
            ),
            instant(
                "max_over_time(metricWith3SampleEvery10Seconds[60s])",
                201,
                18,
                9,
            ),
            instant("metricWith1SampleEvery10Seconds[60s:5s]", 201, 12, 12),
            instant(
                "metricWith1SampleEvery10Seconds[60s:5s] offset 10s",
                201,
                12,
                12,
            ),
            instant(
                "max_over_time(metricWith3SampleEvery10Seconds[60s:5s])",
                201,
                36,
                51,
            ),
            instant(
                "sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s])) + sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s]))",
                201,
                72,
                52,
            ),
            range(
                "metricWith3SampleEvery10Seconds{a=\"1\"}",
                (201, 220, 5),
                4,
                &[1, 1, 1, 1],
                4,
            ),
            range(
                "metricWith3SampleEvery10Seconds{a=\"1\"}",
                (204, 223, 5),
                4,
                &[1, 1, 1, 1],
                4,
            ),
            range(
                "metricWith1HistogramEvery10Seconds",
                (204, 223, 5),
                52,
                &[13, 13, 13, 13],
                52,
            ),
            range(
                "timestamp(metricWith1SampleEvery10Seconds)",
                (201, 220, 5),
                4,
                &[1, 1, 1, 1],
                5,
            ),
            range(
                "timestamp(metricWith1HistogramEvery10Seconds)",
                (201, 220, 5),
                4,
                &[1, 1, 1, 1],
                5,
            ),
            range(
                "max_over_time(metricWith3SampleEvery10Seconds{a=\"1\"}[10s])",
                (991, 1021, 10),
                2,
                &[1, 1, 0, 0],
                2,
            ),
            range(
                "metricWith3SampleEvery10Seconds{a=\"1\"} offset 10s",
                (201, 220, 5),
                4,
                &[1, 1, 1, 1],
                4,
            ),
            range(
                "max_over_time(metricWith3SampleEvery10Seconds[60s] @ 30)",
                (201, 220, 5),
                48,
                &[12, 12, 12, 12],
                12,
            ),
            range(
                "metricWith3SampleEvery10Seconds",
                (201, 220, 5),
                12,
                &[3, 3, 3, 3],
                12,
            ),
            range(
                "max_over_time(metricWith3SampleEvery10Seconds[60s])",
                (201, 220, 5),
                72,
                &[18, 18, 18, 18],
                18,
            ),
            range(
                "max_over_time(metricWith3SampleEvery10Seconds[60s:5s])",
                (201, 220, 5),
                144,
                &[36, 36, 36, 36],
                72,
            ),
            range(
                "max_over_time(metricWith1SampleEvery10Seconds[60s:5s])",
                (201, 220, 5),
                48,
                &[12, 12, 12, 12],
                32,
            ),
            range(
                "sum by (b) (max_over_time(metricWith1SampleEvery10Seconds[60s:5s]))",
                (201, 220, 5),
                48,
                &[12, 12, 12, 12],
                32,
            ),
            range(
                "sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s])) + sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s]))",
                (201, 220, 5),
                288,
                &[72, 72, 72, 72],
                76,
            ),
            range(
                "sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s])) + sum(max_over_time(metricWith1SampleEvery10Seconds[60s:5s]))",
                (201, 220, 5),
                192,
                &[48, 48, 48, 48],
                72,
            ),
        ]
    }

    fn run(
        c: &Case,
        max_samples: usize,
        per_step: bool,
    ) -> crate::Result<crate::engine::QueryResult> {
        let engine = Engine::new(EngineOpts {
            max_samples,
            enable_per_step_stats: true,
            ..EngineOpts::default()
        });
        let expr = parser::parse_expr(c.query).expect("parse");
        let opts = QueryOpts {
            enable_per_step_stats: per_step,
            ..QueryOpts::default()
        };
        let db = storage();
        if c.interval == 0 {
            engine.instant_query_expr(db, &expr, c.query, c.start * 1000, &opts)
        } else {
            engine.range_query_expr(
                db,
                &expr,
                c.query,
                c.start * 1000,
                c.end * 1000,
                c.interval * 1000,
                &opts,
            )
        }
    }

    #[test]
    fn sample_statistics_match_prometheus() {
        let mut failures = Vec::new();
        for c in cases() {
            let res = run(&c, 10_000, true).expect(c.query);
            let st = &res.stats;
            let interval = if c.interval == 0 {
                1
            } else {
                c.interval * 1000
            };
            let want_steps: Vec<(i64, u64)> = if c.interval == 0 {
                vec![(c.start * 1000, c.total)]
            } else {
                c.per_step
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (c.start * 1000 + i as i64 * interval, *n))
                    .collect()
            };
            let got = (
                st.total_samples,
                st.total_samples_per_step.clone().unwrap_or_default(),
                st.peak_samples,
            );
            if got != (c.total, want_steps.clone(), c.peak) {
                failures.push(format!(
                    "{} ({}..{}/{}): got total {} per step {:?} peak {}, want {} {:?} {}",
                    c.query,
                    c.start,
                    c.end,
                    c.interval,
                    got.0,
                    got.1,
                    got.2,
                    c.total,
                    want_steps,
                    c.peak
                ));
                continue;
            }
            // The per-step reads add up to the reads, which never exceed the total.
            let read_steps = st.samples_read_per_step.clone().unwrap_or_default();
            assert_eq!(
                read_steps.iter().map(|(_, n)| n).sum::<u64>(),
                st.samples_read,
                "{}",
                c.query
            );
            assert!(st.samples_read <= st.total_samples, "{}", c.query);
            // Without per-step statistics the totals are the same.
            let plain = run(&c, 10_000, false).expect(c.query).stats;
            assert_eq!(plain.total_samples, st.total_samples, "{}", c.query);
            assert_eq!(plain.samples_read, st.samples_read, "{}", c.query);
            assert_eq!(plain.total_samples_per_step, None);
            // The peak is exact: one sample less is too many.
            if c.peak > 0 {
                match run(&c, c.peak - 1, false) {
                    Err(Error::TooManySamples(_)) => {}
                    other => failures.push(format!(
                        "{}: max_samples {} should fail, got {:?}",
                        c.query,
                        c.peak - 1,
                        other.map(|r| r.stats)
                    )),
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn samples_read_count_window_growth_once() {
        /// Query, (start, end, step) in seconds, total per step, read per step.
        type ReadCase = (
            &'static str,
            (i64, i64, i64),
            &'static [u64],
            &'static [u64],
        );
        let cases: [ReadCase; 6] = [
            (
                "max_over_time(metricWith3SampleEvery10Seconds[60s])",
                (201, 220, 5),
                &[18, 18, 18, 18],
                &[18, 0, 3, 0],
            ),
            // `@` fixes the window: looked at every step, read at the first.
            (
                "max_over_time(metricWith3SampleEvery10Seconds[60s] @ 30)",
                (201, 220, 5),
                &[12, 12, 12, 12],
                &[12, 0, 0, 0],
            ),
            // Not step-invariant (predict_linear depends on the step time), same counts.
            (
                "predict_linear(metricWith1SampleEvery10Seconds[60s] @ 30, 60)",
                (201, 220, 5),
                &[4, 4, 4, 4],
                &[4, 0, 0, 0],
            ),
            // A subquery's steps are read once, at the first step consuming them.
            (
                "max_over_time(metricWith1SampleEvery10Seconds[60s:5s])",
                (201, 220, 5),
                &[12, 12, 12, 12],
                &[12, 1, 1, 1],
            ),
            (
                "max_over_time(metricWith1SampleEvery10Seconds[60s:5s] offset 1m)",
                (201, 220, 5),
                &[12, 12, 12, 12],
                &[12, 1, 1, 1],
            ),
            (
                "metricWith3SampleEvery10Seconds",
                (201, 220, 5),
                &[3, 3, 3, 3],
                &[3, 3, 3, 3],
            ),
        ];
        for (query, times, total, read) in cases {
            let c = range(query, times, total.iter().sum(), total, 0);
            let st = run(&c, 10_000, true).expect(query).stats;
            let counts = |v: Option<Vec<(i64, u64)>>| -> Vec<u64> {
                v.unwrap_or_default().into_iter().map(|(_, n)| n).collect()
            };
            assert_eq!(counts(st.total_samples_per_step), total, "{query}");
            assert_eq!(counts(st.samples_read_per_step), read, "{query}");
            assert_eq!(st.samples_read, read.iter().sum::<u64>(), "{query}");
        }
        // An instant subquery: 4 steps of 6-point windows looked at, 8 points read.
        let c = instant(
            "max_over_time(metricWith1SampleEvery10Seconds[60s])[20s:5s]",
            201,
            24,
            10,
        );
        let st = run(&c, 10_000, false).expect("query").stats;
        assert_eq!((st.total_samples, st.samples_read), (24, 8));
    }

    /// Go's `TestMaxQuerySamples`: each query needs exactly this many samples at its peak.
    #[test]
    fn max_samples_are_touched_exactly_at_the_peak() {
        let db = Arc::new(MemStorage::new());
        let mut app = db.appender();
        for l in [
            Labels::from_pairs([("__name__", "metric")]),
            Labels::from_pairs([("__name__", "bigmetric"), ("a", "1")]),
            Labels::from_pairs([("__name__", "bigmetric"), ("a", "2")]),
        ] {
            for i in 0..=100 {
                app.append(0, &l, i * 10_000, (i + 1) as f64)
                    .expect("append");
            }
        }
        app.commit().expect("commit");
        // (query, start, end, step) in seconds (step 0: instant), the peak.
        let cases: [(&str, (i64, i64, i64), usize); 16] = [
            ("1", (1, 1, 0), 1),
            ("metric", (1, 1, 0), 1),
            ("metric[20s]", (10, 10, 0), 2),
            ("rate(metric[20s])", (10, 10, 0), 3),
            ("metric[20s:5s]", (10, 10, 0), 3),
            ("metric[20s] @ 10", (0, 0, 0), 2),
            ("1", (0, 2, 1), 3),
            ("metric", (0, 2, 1), 3),
            ("metric", (0, 10, 5), 3),
            ("rate(bigmetric[1s])", (0, 10, 5), 1),
            ("metric @ 10", (0, 10, 5), 3),
            ("rate(bigmetric[10s:1s] @ 10)", (0, 10, 5), 32),
            (
                "rate(bigmetric[10s:1s] @ 10) + rate(bigmetric[10s:1s] @ 30)",
                (0, 10, 5),
                34,
            ),
            (
                "rate(bigmetric[10s:1s]) + rate(bigmetric[10s:1s] @ 30)",
                (10, 20, 5),
                56,
            ),
            (
                "rate(rate(bigmetric[10:1s] @ 10)[100s:25s] @ 1000)[100s:20s] @ 2000",
                (10, 10, 0),
                32,
            ),
            (
                "rate(rate(bigmetric[10s:1s] @ 10)[100s:25s] @ 1000)[17s:1s] @ 2000",
                (10, 10, 0),
                34,
            ),
        ];
        let mut failures = Vec::new();
        for (query, (start, end, step), peak) in cases {
            let run = |max_samples: usize| {
                let engine = Engine::new(EngineOpts {
                    max_samples,
                    ..EngineOpts::default()
                });
                if step == 0 {
                    engine.instant_query(db.clone(), query, start * 1000)
                } else {
                    engine.range_query(db.clone(), query, start * 1000, end * 1000, step * 1000)
                }
            };
            match run(peak) {
                Ok(r) if r.stats.peak_samples == peak => {}
                other => failures.push(format!(
                    "{query}: want peak {peak}, got {:?}",
                    other.map(|r| r.stats.peak_samples)
                )),
            }
            if !matches!(run(peak - 1), Err(Error::TooManySamples(_))) {
                failures.push(format!("{query}: {} samples should be too many", peak - 1));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn per_step_statistics_need_the_engine_option() {
        let engine = Engine::new(EngineOpts::default());
        let expr = parser::parse_expr(M1).expect("parse");
        let opts = QueryOpts {
            enable_per_step_stats: true,
            ..QueryOpts::default()
        };
        let res = engine
            .range_query_expr(storage(), &expr, M1, 201_000, 220_000, 5_000, &opts)
            .expect("query");
        assert_eq!(res.stats.total_samples, 4);
        assert_eq!(res.stats.total_samples_per_step, None);
        assert_eq!(res.stats.samples_read_per_step, None);
    }
}
