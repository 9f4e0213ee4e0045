//! Combining storages: a primary (the local TSDB) with secondaries (remote read), and the
//! merge of sorted series sets that makes several sources look like one.

use std::collections::BTreeSet;
use std::sync::Arc;

use model::{Labels, Matcher, Timestamp};

use crate::{
    Appendable, Appender, ChainSampleIterator, Error, Exemplar, LabelHints, Querier, Queryable,
    Result, SampleIterator, SelectHints, Series, SeriesRef, SeriesSet, truncate_to_limit,
};

/// A storage that can be both appended to and queried.
pub trait Storage: Appendable + Queryable {}

impl<T: Appendable + Queryable> Storage for T {}

/// Sends appends to a primary storage and every secondary, and answers queries from all of
/// them merged, as Prometheus's `fanout` does.
///
/// Failures of the primary fail the call; failures of a secondary become warnings on the
/// result, so that a down remote-read endpoint degrades a query instead of failing it.
/// Secondaries receive the labels of each append with reference 0, so callers must always
/// pass labels along with a reference.
#[derive(Clone)]
pub struct Fanout {
    primary: Arc<dyn Storage>,
    secondaries: Vec<Arc<dyn Storage>>,
}

impl Fanout {
    /// A fanout over `primary` and `secondaries`.
    pub fn new(primary: Arc<dyn Storage>, secondaries: Vec<Arc<dyn Storage>>) -> Self {
        Self {
            primary,
            secondaries,
        }
    }
}

impl Appendable for Fanout {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(FanoutAppender {
            primary: self.primary.appender(),
            secondaries: self.secondaries.iter().map(|s| s.appender()).collect(),
        })
    }
}

struct FanoutAppender {
    primary: Box<dyn Appender>,
    secondaries: Vec<Box<dyn Appender>>,
}

impl FanoutAppender {
    /// Runs `op` on the primary with `r`, then on every secondary with reference 0 (they
    /// go by labels) and returns the primary's reference. A secondary's error for which
    /// `skipped` holds is ignored: a secondary that keeps no such data (remote read keeps
    /// no native histograms, no exemplars) just does not get it.
    fn fan(
        &mut self,
        r: SeriesRef,
        skipped: fn(&Error) -> bool,
        mut op: impl FnMut(&mut dyn Appender, SeriesRef) -> Result<SeriesRef>,
    ) -> Result<SeriesRef> {
        let r = op(self.primary.as_mut(), r)?;
        for s in &mut self.secondaries {
            match op(s.as_mut(), 0) {
                Err(e) if !skipped(&e) => return Err(e),
                _ => {}
            }
        }
        Ok(r)
    }

    /// Commits or rolls back (`op`) the primary and every secondary; secondaries finish
    /// even when the primary failed, so that what they buffered is not held forever. The
    /// first error wins, as in Go.
    fn finish(self, op: fn(Box<dyn Appender>) -> Result<()>) -> Result<()> {
        let mut first_err = op(self.primary).err();
        for s in self.secondaries {
            if let Err(e) = op(s)
                && first_err.is_none()
            {
                first_err = Some(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

fn none(_: &Error) -> bool {
    false
}

fn no_histograms(e: &Error) -> bool {
    matches!(e, Error::NativeHistogramsUnsupported)
}

impl Appender for FanoutAppender {
    fn append(&mut self, r: SeriesRef, labels: &Labels, t: Timestamp, v: f64) -> Result<SeriesRef> {
        self.fan(r, none, |a, r| a.append(r, labels, t, v))
    }

    /// Metadata is the primary's alone: secondaries (remote read endpoints) keep none.
    fn update_metadata(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        meta: &crate::Metadata,
    ) -> Result<SeriesRef> {
        self.primary.update_metadata(r, labels, meta)
    }

    fn append_with_st(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        st: Timestamp,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef> {
        self.fan(r, none, |a, r| a.append_with_st(r, labels, st, t, v))
    }

    fn append_histogram(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: Timestamp,
        h: Option<&model::Histogram>,
        fh: Option<&model::FloatHistogram>,
    ) -> Result<SeriesRef> {
        self.append_histogram_with_st(r, labels, 0, t, h, fh)
    }

    fn append_histogram_with_st(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        st: Timestamp,
        t: Timestamp,
        h: Option<&model::Histogram>,
        fh: Option<&model::FloatHistogram>,
    ) -> Result<SeriesRef> {
        self.fan(r, no_histograms, |a, r| {
            a.append_histogram_with_st(r, labels, st, t, h, fh)
        })
    }

    fn append_ct_zero_sample(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: Timestamp,
        ct: Timestamp,
    ) -> Result<SeriesRef> {
        self.fan(r, none, |a, r| a.append_ct_zero_sample(r, labels, t, ct))
    }

    fn append_histogram_ct_zero_sample(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: Timestamp,
        ct: Timestamp,
        h: Option<&model::Histogram>,
        fh: Option<&model::FloatHistogram>,
    ) -> Result<SeriesRef> {
        self.fan(r, no_histograms, |a, r| {
            a.append_histogram_ct_zero_sample(r, labels, t, ct, h, fh)
        })
    }

    fn append_exemplar(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        exemplar: &Exemplar,
    ) -> Result<SeriesRef> {
        self.fan(
            r,
            |e| matches!(e, Error::ExemplarsDisabled),
            |a, r| a.append_exemplar(r, labels, exemplar),
        )
    }

    fn commit(self: Box<Self>) -> Result<()> {
        self.finish(|a| a.commit())
    }

    fn rollback(self: Box<Self>) -> Result<()> {
        self.finish(|a| a.rollback())
    }
}

impl Queryable for Fanout {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>> {
        let primary = self.primary.querier(mint, maxt)?;
        let mut secondaries = Vec::new();
        let mut warnings = Vec::new();
        for s in &self.secondaries {
            match s.querier(mint, maxt) {
                Ok(q) => secondaries.push(q),
                Err(e) => warnings.push(e.to_string()),
            }
        }
        Ok(Box::new(FanoutQuerier {
            primary,
            secondaries,
            warnings,
        }))
    }
}

struct FanoutQuerier {
    primary: Box<dyn Querier>,
    secondaries: Vec<Box<dyn Querier>>,
    warnings: Vec<String>,
}

impl FanoutQuerier {
    /// Calls `f` on every querier, turning secondary failures into warnings.
    fn collect_strings(
        &self,
        f: impl Fn(&dyn Querier) -> Result<Vec<String>>,
        limit: usize,
    ) -> Result<Vec<String>> {
        let mut all: BTreeSet<String> = f(self.primary.as_ref())?.into_iter().collect();
        for q in &self.secondaries {
            // A failing secondary only loses its own names; Go reports it as a warning,
            // which this signature cannot carry, so the values of the others still count.
            if let Ok(values) = f(q.as_ref()) {
                all.extend(values);
            }
        }
        Ok(truncate_to_limit(all.into_iter().collect(), limit))
    }
}

impl Querier for FanoutQuerier {
    fn select(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet> {
        if self.secondaries.is_empty() && self.warnings.is_empty() {
            return self.primary.select(sorted, hints, matchers);
        }
        // Merging needs every set sorted, whatever the caller asked for.
        let mut sets = vec![self.primary.select(true, hints, matchers)];
        sets.extend(
            self.secondaries
                .iter()
                .map(|q| q.select(true, hints, matchers)),
        );
        let mut merged = MergeSeriesSet::new(sets, 1);
        merged.warnings.extend(self.warnings.iter().cloned());
        Box::new(merged)
    }

    fn label_values(
        &self,
        name: &str,
        hints: Option<&LabelHints>,
        matchers: &[Matcher],
    ) -> Result<Vec<String>> {
        self.collect_strings(
            |q| q.label_values(name, hints, matchers),
            hints.map_or(0, |h| h.limit),
        )
    }

    fn label_names(&self, hints: Option<&LabelHints>, matchers: &[Matcher]) -> Result<Vec<String>> {
        self.collect_strings(
            |q| q.label_names(hints, matchers),
            hints.map_or(0, |h| h.limit),
        )
    }
}

/// Merges sorted series sets into one sorted set. Series with identical labels in several
/// sets become one series whose samples are the union, duplicates dropped.
///
/// Errors from every set are fatal; see [`Fanout`] for a merge that tolerates failing
/// secondaries.
pub fn merge_series_sets(sets: Vec<Box<dyn SeriesSet>>) -> Box<dyn SeriesSet> {
    let n = sets.len();
    Box::new(MergeSeriesSet::new(sets, n))
}

struct MergeSeriesSet {
    sets: Vec<Box<dyn SeriesSet>>,
    heads: Vec<Option<Box<dyn Series>>>,
    /// The first `fatal` sets fail the merge on error; later ones only warn.
    fatal: usize,
    started: bool,
    warnings: Vec<String>,
}

impl MergeSeriesSet {
    fn new(sets: Vec<Box<dyn SeriesSet>>, fatal: usize) -> Self {
        let heads = sets.iter().map(|_| None).collect();
        Self {
            sets,
            heads,
            fatal,
            started: false,
            warnings: Vec::new(),
        }
    }

    /// Pulls the next series of set `i` into its head slot.
    fn refill(&mut self, i: usize) -> Result<()> {
        match self.sets[i].next() {
            Some(Ok(series)) => self.heads[i] = Some(series),
            Some(Err(e)) if i < self.fatal => {
                self.heads[i] = None;
                return Err(e);
            }
            Some(Err(e)) => {
                self.warnings.push(e.to_string());
                self.heads[i] = None;
            }
            None => self.heads[i] = None,
        }
        Ok(())
    }
}

impl SeriesSet for MergeSeriesSet {
    fn next(&mut self) -> Option<Result<Box<dyn Series>>> {
        if !self.started {
            self.started = true;
            for i in 0..self.sets.len() {
                if let Err(e) = self.refill(i) {
                    return Some(Err(e));
                }
            }
        }
        let min = self
            .heads
            .iter()
            .flatten()
            .map(|s| s.labels())
            .min()?
            .clone();
        let mut same: Vec<Box<dyn Series>> = Vec::new();
        for i in 0..self.heads.len() {
            if self.heads[i].as_ref().is_some_and(|s| *s.labels() == min) {
                if let Some(series) = self.heads[i].take() {
                    same.push(series);
                }
                if let Err(e) = self.refill(i) {
                    return Some(Err(e));
                }
            }
        }
        if same.len() == 1 {
            return same.pop().map(Ok);
        }
        Some(Ok(Box::new(MergedSeries {
            labels: min,
            parts: same,
        })))
    }

    fn warnings(&self) -> Vec<String> {
        let mut all = self.warnings.clone();
        for s in &self.sets {
            all.extend(s.warnings());
        }
        all
    }
}

/// Several series with identical labels seen as one.
struct MergedSeries {
    labels: Labels,
    parts: Vec<Box<dyn Series>>,
}

impl Series for MergedSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iterator(&self) -> Box<dyn SampleIterator> {
        Box::new(ChainSampleIterator::new(
            self.parts.iter().map(|p| p.iterator()).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, MemStorage, ValueType};

    fn lbls(job: &str) -> Labels {
        Labels::from_pairs([("__name__", "up"), ("job", job)])
    }

    type Dump = Vec<(Labels, Vec<(i64, f64)>)>;

    fn dump(q: &dyn Querier) -> Result<Dump> {
        let mut set = q.select(false, None, &[]);
        let mut out = Vec::new();
        while let Some(series) = set.next() {
            let series = series?;
            let mut it = series.iterator();
            let mut samples = Vec::new();
            loop {
                match it.next() {
                    ValueType::Float => samples.push(it.at()),
                    // A histogram stands for its count.
                    ValueType::Histogram => {
                        let (t, h) = it.at_histogram();
                        samples.push((t, h.count as f64));
                    }
                    _ => break,
                }
            }
            out.push((series.labels().clone(), samples));
        }
        Ok(out)
    }

    fn put(s: &MemStorage, job: &str, samples: &[(i64, f64)]) {
        let mut app = s.appender();
        for &(t, v) in samples {
            app.append(0, &lbls(job), t, v).unwrap();
        }
        app.commit().unwrap();
    }

    #[test]
    fn merges_identical_series_and_drops_duplicate_samples() {
        let (a, b) = (MemStorage::new(), MemStorage::new());
        put(&a, "x", &[(1, 1.0), (2, 2.0)]);
        put(&b, "x", &[(2, 2.0), (3, 3.0)]);
        put(&b, "y", &[(5, 5.0)]);
        let fanout = Fanout::new(Arc::new(a), vec![Arc::new(b)]);
        let q = fanout.querier(0, 10).unwrap();
        assert_eq!(
            dump(q.as_ref()).unwrap(),
            vec![
                (lbls("x"), vec![(1, 1.0), (2, 2.0), (3, 3.0)]),
                (lbls("y"), vec![(5, 5.0)]),
            ]
        );
        assert_eq!(q.label_values("job", None, &[]).unwrap(), vec!["x", "y"]);
    }

    #[test]
    fn appends_reach_every_storage() {
        let (a, b) = (MemStorage::new(), MemStorage::new());
        let fanout = Fanout::new(Arc::new(a.clone()), vec![Arc::new(b.clone())]);
        let mut app = fanout.appender();
        app.append(0, &lbls("x"), 1, 1.0).unwrap();
        app.commit().unwrap();
        assert_eq!((a.num_series(), b.num_series()), (1, 1));
    }

    /// A storage whose appenders record the exemplars they get.
    #[derive(Clone, Default)]
    struct ExemplarSink(Arc<std::sync::Mutex<Vec<(Labels, f64)>>>);
    struct SinkAppender(ExemplarSink);
    impl Appendable for ExemplarSink {
        fn appender(&self) -> Box<dyn Appender> {
            Box::new(SinkAppender(self.clone()))
        }
    }
    impl Queryable for ExemplarSink {
        fn querier(&self, a: Timestamp, b: Timestamp) -> Result<Box<dyn Querier>> {
            MemStorage::new().querier(a, b)
        }
    }
    impl Appender for SinkAppender {
        fn append(&mut self, _: SeriesRef, _: &Labels, _: Timestamp, _: f64) -> Result<SeriesRef> {
            Ok(7)
        }
        fn append_exemplar(&mut self, _: SeriesRef, l: &Labels, e: &Exemplar) -> Result<SeriesRef> {
            self.0.0.lock().unwrap().push((l.clone(), e.value));
            Ok(7)
        }
        fn commit(self: Box<Self>) -> Result<()> {
            Ok(())
        }
        fn rollback(self: Box<Self>) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn exemplars_reach_the_primary_and_secondaries_that_keep_them() {
        let e = Exemplar {
            labels: Labels::from_pairs([("trace_id", "abc")]),
            value: 0.5,
            ts: 10,
            has_ts: true,
        };
        let (primary, secondary) = (ExemplarSink::default(), ExemplarSink::default());
        let fanout = Fanout::new(
            Arc::new(primary.clone()),
            vec![Arc::new(MemStorage::new()), Arc::new(secondary.clone())],
        );
        let mut app = fanout.appender();
        assert_eq!(app.append_exemplar(0, &lbls("x"), &e).unwrap(), 7);
        app.commit().unwrap();
        assert_eq!(*primary.0.lock().unwrap(), [(lbls("x"), 0.5)]);
        assert_eq!(*secondary.0.lock().unwrap(), [(lbls("x"), 0.5)]);
        // A primary without exemplar storage says so.
        let fanout = Fanout::new(Arc::new(MemStorage::new()), Vec::new());
        let err = fanout.appender().append_exemplar(0, &lbls("x"), &e);
        assert!(matches!(err, Err(Error::ExemplarsDisabled)), "{err:?}");
    }

    #[test]
    fn histograms_and_ct_zero_samples_skip_secondaries_without_histograms() {
        let h = model::Histogram {
            count: 3,
            ..model::Histogram::default()
        };
        let (a, b) = (MemStorage::new(), MemStorage::new());
        let fanout = Fanout::new(
            Arc::new(a.clone()),
            vec![Arc::new(ExemplarSink::default()), Arc::new(b.clone())],
        );
        let mut app = fanout.appender();
        app.append_histogram_ct_zero_sample(0, &lbls("h"), 5, 2, Some(&h), None)
            .unwrap();
        app.append_histogram_with_st(0, &lbls("h"), 2, 5, Some(&h), None)
            .unwrap();
        app.append_ct_zero_sample(0, &lbls("c"), 5, 2).unwrap();
        app.append_with_st(0, &lbls("c"), 2, 5, 1.0).unwrap();
        app.commit().unwrap();
        let want: Dump = vec![
            (lbls("c"), vec![(2, 0.0), (5, 1.0)]),
            (lbls("h"), vec![(2, 0.0), (5, 3.0)]),
        ];
        for s in [&a, &b] {
            assert_eq!(dump(s.querier(0, 10).unwrap().as_ref()).unwrap(), want);
        }
        // A primary without native histograms says so.
        let fanout = Fanout::new(Arc::new(ExemplarSink::default()), vec![Arc::new(b)]);
        let err = fanout
            .appender()
            .append_histogram(0, &lbls("h"), 9, Some(&h), None);
        assert!(
            matches!(err, Err(Error::NativeHistogramsUnsupported)),
            "{err:?}"
        );
    }

    #[test]
    fn exemplar_equality_and_order_follow_prometheus() {
        let e = |ts, has_ts, v: f64, id: &str| Exemplar {
            labels: Labels::from_pairs([("trace_id", id)]),
            value: v,
            ts,
            has_ts,
        };
        // Without their own timestamps, the same exemplar scraped twice is a duplicate.
        assert_eq!(e(1, false, 1.0, "a"), e(2, false, 1.0, "a"));
        assert_ne!(e(1, true, 1.0, "a"), e(2, false, 1.0, "a"));
        assert_ne!(e(1, true, 1.0, "a"), e(1, true, 1.0, "b"));
        let mut v = vec![
            e(2, true, 1.0, "a"),
            e(1, true, 3.0, "b"),
            e(1, true, 3.0, "a"),
        ];
        v.sort_by(Exemplar::compare);
        assert_eq!(
            v,
            [
                e(1, true, 3.0, "a"),
                e(1, true, 3.0, "b"),
                e(2, true, 1.0, "a")
            ]
        );
    }

    struct Failing;
    impl Queryable for Failing {
        fn querier(&self, _: Timestamp, _: Timestamp) -> Result<Box<dyn Querier>> {
            Err(Error::NotReady)
        }
    }
    impl Appendable for Failing {
        fn appender(&self) -> Box<dyn Appender> {
            MemStorage::new().appender()
        }
    }

    #[test]
    fn failing_secondary_becomes_a_warning() {
        let a = MemStorage::new();
        put(&a, "x", &[(1, 1.0)]);
        let fanout = Fanout::new(Arc::new(a), vec![Arc::new(Failing)]);
        let q = fanout.querier(0, 10).unwrap();
        let mut set = q.select(false, None, &[]);
        assert!(set.next().is_some());
        assert!(set.next().is_none());
        assert_eq!(set.warnings(), vec!["TSDB not ready".to_string()]);
    }

    #[test]
    fn failing_primary_fails() {
        let fanout = Fanout::new(Arc::new(Failing), vec![Arc::new(MemStorage::new())]);
        assert!(matches!(fanout.querier(0, 1), Err(Error::NotReady)));
    }
    /// A storage that records the `sorted` flag of every select.
    #[derive(Clone, Default)]
    struct Recording(Arc<std::sync::Mutex<Vec<bool>>>);
    impl Appendable for Recording {
        fn appender(&self) -> Box<dyn Appender> {
            MemStorage::new().appender()
        }
    }
    impl Queryable for Recording {
        fn querier(&self, _: Timestamp, _: Timestamp) -> Result<Box<dyn Querier>> {
            Ok(Box::new(self.clone()))
        }
    }
    impl Querier for Recording {
        fn select(
            &self,
            sorted: bool,
            _: Option<&SelectHints>,
            _: &[Matcher],
        ) -> Box<dyn SeriesSet> {
            self.0.lock().unwrap().push(sorted);
            Box::new(crate::EmptySeriesSet)
        }
        fn label_values(
            &self,
            _: &str,
            _: Option<&LabelHints>,
            _: &[Matcher],
        ) -> Result<Vec<String>> {
            Ok(Vec::new())
        }
        fn label_names(&self, _: Option<&LabelHints>, _: &[Matcher]) -> Result<Vec<String>> {
            Ok(Vec::new())
        }
    }

    /// As Go's merge querier: a primary alone is asked as the caller asks (the TSDB head
    /// then lists series in creation order); merging needs every source sorted.
    #[test]
    fn sorting_is_asked_for_only_when_merging() {
        let (primary, secondary) = (Recording::default(), Recording::default());
        let alone = Fanout::new(Arc::new(primary.clone()), Vec::new());
        let _ = alone.querier(0, 1).unwrap().select(false, None, &[]);
        assert_eq!(*primary.0.lock().unwrap(), [false]);
        let both = Fanout::new(Arc::new(primary.clone()), vec![Arc::new(secondary.clone())]);
        let _ = both.querier(0, 1).unwrap().select(false, None, &[]);
        assert_eq!(*primary.0.lock().unwrap(), [false, true]);
        assert_eq!(*secondary.0.lock().unwrap(), [true]);
    }
}
