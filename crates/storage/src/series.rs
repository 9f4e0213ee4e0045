//! Ready-made series, series sets and iterators: lists of samples, empty and failed sets, and
//! the chaining iterator that merges overlapping series.

use std::sync::Arc;

use model::{Labels, Timestamp};

use crate::{Error, Result, SampleIterator, Series, SeriesSet, ValueType};

/// A series backed by a shared, sorted list of samples.
#[derive(Debug, Clone)]
pub struct ListSeries {
    labels: Labels,
    samples: Arc<[(Timestamp, f64)]>,
}

impl ListSeries {
    /// A series from samples sorted by timestamp (the caller guarantees the order).
    pub fn new(labels: Labels, samples: impl Into<Arc<[(Timestamp, f64)]>>) -> Self {
        Self {
            labels,
            samples: samples.into(),
        }
    }

    /// The samples of this series.
    pub fn samples(&self) -> &[(Timestamp, f64)] {
        &self.samples
    }
}

impl Series for ListSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iterator(&self) -> Box<dyn SampleIterator> {
        Box::new(ListIterator {
            samples: Arc::clone(&self.samples),
            pos: None,
        })
    }
}

/// Iterates a shared list of samples.
struct ListIterator {
    samples: Arc<[(Timestamp, f64)]>,
    /// `None` before the first `next`/`seek`; `Some(len)` once exhausted.
    pos: Option<usize>,
}

impl SampleIterator for ListIterator {
    fn next(&mut self) -> ValueType {
        let next = self.pos.map_or(0, |p| (p + 1).min(self.samples.len()));
        self.pos = Some(next);
        if next < self.samples.len() {
            ValueType::Float
        } else {
            ValueType::None
        }
    }

    fn seek(&mut self, t: Timestamp) -> ValueType {
        let start = self.pos.unwrap_or(0);
        if start >= self.samples.len() {
            self.pos = Some(self.samples.len());
            return ValueType::None;
        }
        if self.samples[start].0 >= t {
            self.pos = Some(start);
            return ValueType::Float;
        }
        let offset = self.samples[start..].partition_point(|&(ts, _)| ts < t);
        self.pos = Some(start + offset);
        if start + offset < self.samples.len() {
            ValueType::Float
        } else {
            ValueType::None
        }
    }

    fn at(&self) -> (Timestamp, f64) {
        self.pos
            .and_then(|p| self.samples.get(p).copied())
            .unwrap_or((Timestamp::MIN, f64::NAN))
    }

    fn err(&self) -> Option<&Error> {
        None
    }
}

/// A series set over a list of series, in the order given.
pub struct ListSeriesSet {
    series: std::vec::IntoIter<Box<dyn Series>>,
    warnings: Vec<String>,
}

impl ListSeriesSet {
    /// A set yielding `series` in order.
    pub fn new(series: Vec<Box<dyn Series>>) -> Self {
        Self {
            series: series.into_iter(),
            warnings: Vec::new(),
        }
    }

    /// The same set, reporting `warnings`.
    pub fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings = warnings;
        self
    }
}

impl SeriesSet for ListSeriesSet {
    fn next(&mut self) -> Option<Result<Box<dyn Series>>> {
        self.series.next().map(Ok)
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}

/// A series set with no series.
#[derive(Debug, Default)]
pub struct EmptySeriesSet;

impl SeriesSet for EmptySeriesSet {
    fn next(&mut self) -> Option<Result<Box<dyn Series>>> {
        None
    }

    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A series set that fails with one error.
#[derive(Debug)]
pub struct ErrSeriesSet(Option<Error>);

impl ErrSeriesSet {
    /// A set whose first `next` returns `err`.
    pub fn new(err: Error) -> Self {
        Self(Some(err))
    }
}

impl SeriesSet for ErrSeriesSet {
    fn next(&mut self) -> Option<Result<Box<dyn Series>>> {
        self.0.take().map(Err)
    }

    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Merges the iterators of several series with identical labels into one, in timestamp
/// order. Where several carry a sample at the same timestamp, the first iterator's sample
/// wins, as Prometheus's `ChainSampleIterator` keeps one of them.
pub struct ChainSampleIterator {
    iters: Vec<Box<dyn SampleIterator>>,
    /// The kind of unconsumed sample each iterator holds (`None` when it holds none).
    live: Vec<ValueType>,
    started: bool,
    current: Option<(Timestamp, Current)>,
    /// The start timestamp of the current sample.
    current_st: Timestamp,
    failed: Option<usize>,
}

/// The sample a [`ChainSampleIterator`] is positioned on.
enum Current {
    Float(f64),
    Histogram(model::Histogram),
    FloatHistogram(model::FloatHistogram),
}

impl Current {
    fn value_type(&self) -> ValueType {
        match self {
            Current::Float(_) => ValueType::Float,
            Current::Histogram(_) => ValueType::Histogram,
            Current::FloatHistogram(_) => ValueType::FloatHistogram,
        }
    }
}

impl ChainSampleIterator {
    /// Chains `iters`; none of them may have been advanced yet.
    pub fn new(iters: Vec<Box<dyn SampleIterator>>) -> Self {
        let live = vec![ValueType::None; iters.len()];
        Self {
            iters,
            live,
            started: false,
            current: None,
            current_st: 0,
            failed: None,
        }
    }

    /// Picks the smallest pending sample and advances every iterator positioned on that
    /// timestamp, so duplicates are dropped.
    fn pick(&mut self) -> ValueType {
        let mut best: Option<(usize, Timestamp)> = None;
        for (i, it) in self.iters.iter().enumerate() {
            if self.live[i] != ValueType::None {
                let t = it.at_t();
                if best.is_none_or(|(_, bt)| t < bt) {
                    best = Some((i, t));
                }
            }
        }
        let Some((winner, t)) = best else {
            self.current = None;
            return ValueType::None;
        };
        let it = &self.iters[winner];
        let value = match self.live[winner] {
            ValueType::Histogram => Current::Histogram(it.at_histogram().1),
            ValueType::FloatHistogram => Current::FloatHistogram(it.at_float_histogram().1),
            _ => Current::Float(it.at().1),
        };
        let vt = value.value_type();
        self.current_st = it.at_st();
        self.current = Some((t, value));
        for i in 0..self.iters.len() {
            if self.live[i] != ValueType::None && self.iters[i].at_t() == t {
                self.advance(i, |it| it.next());
            }
        }
        vt
    }

    fn advance(&mut self, i: usize, step: impl FnOnce(&mut dyn SampleIterator) -> ValueType) {
        let vt = step(self.iters[i].as_mut());
        self.live[i] = vt;
        if vt == ValueType::None && self.iters[i].err().is_some() && self.failed.is_none() {
            self.failed = Some(i);
        }
    }
}

impl SampleIterator for ChainSampleIterator {
    fn next(&mut self) -> ValueType {
        if self.failed.is_some() {
            return ValueType::None;
        }
        if !self.started {
            self.started = true;
            for i in 0..self.iters.len() {
                self.advance(i, |it| it.next());
            }
        }
        if self.failed.is_some() {
            return ValueType::None;
        }
        self.pick()
    }

    fn seek(&mut self, t: Timestamp) -> ValueType {
        if self.failed.is_some() {
            return ValueType::None;
        }
        if let Some((ct, cur)) = &self.current
            && *ct >= t
        {
            return cur.value_type();
        }
        self.started = true;
        for i in 0..self.iters.len() {
            // Iterators that were never advanced, or sit before `t`, seek forward; the
            // iterator's own seek never moves backwards.
            self.advance(i, |it| it.seek(t));
        }
        if self.failed.is_some() {
            return ValueType::None;
        }
        self.pick()
    }

    fn at(&self) -> (Timestamp, f64) {
        match &self.current {
            Some((t, Current::Float(f))) => (*t, *f),
            Some((t, _)) => (*t, f64::NAN),
            None => (Timestamp::MIN, f64::NAN),
        }
    }

    fn at_t(&self) -> Timestamp {
        self.current.as_ref().map_or(Timestamp::MIN, |(t, _)| *t)
    }

    fn at_histogram(&self) -> (Timestamp, model::Histogram) {
        match &self.current {
            Some((t, Current::Histogram(h))) => (*t, h.clone()),
            Some((t, _)) => (*t, model::Histogram::default()),
            None => (Timestamp::MIN, model::Histogram::default()),
        }
    }

    fn at_float_histogram(&self) -> (Timestamp, model::FloatHistogram) {
        match &self.current {
            Some((t, Current::Histogram(h))) => (*t, h.to_float()),
            Some((t, Current::FloatHistogram(h))) => (*t, h.clone()),
            Some((t, _)) => (*t, model::FloatHistogram::default()),
            None => (Timestamp::MIN, model::FloatHistogram::default()),
        }
    }

    fn at_st(&self) -> Timestamp {
        self.current_st
    }

    fn err(&self) -> Option<&Error> {
        self.failed.and_then(|i| self.iters[i].err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Appendable as _, Queryable as _};

    fn collect(mut it: Box<dyn SampleIterator>) -> Vec<(Timestamp, f64)> {
        let mut out = Vec::new();
        while it.next() == ValueType::Float {
            out.push(it.at());
        }
        out
    }

    fn list(samples: &[(Timestamp, f64)]) -> Box<dyn SampleIterator> {
        ListSeries::new(Labels::empty(), samples.to_vec()).iterator()
    }

    #[test]
    fn list_iterator_seek_never_moves_backwards() {
        let mut it = list(&[(1, 1.0), (5, 5.0), (9, 9.0)]);
        assert_eq!(it.seek(4), ValueType::Float);
        assert_eq!(it.at(), (5, 5.0));
        assert_eq!(it.seek(2), ValueType::Float);
        assert_eq!(it.at(), (5, 5.0));
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.at(), (9, 9.0));
        assert_eq!(it.seek(10), ValueType::None);
        assert_eq!(it.next(), ValueType::None);
    }

    #[test]
    fn chain_merges_in_order_and_drops_duplicate_timestamps() {
        let it = ChainSampleIterator::new(vec![
            list(&[(1, 1.0), (3, 3.0), (5, 5.0)]),
            list(&[(2, 2.0), (3, 30.0), (6, 6.0)]),
        ]);
        assert_eq!(
            collect(Box::new(it)),
            vec![(1, 1.0), (2, 2.0), (3, 3.0), (5, 5.0), (6, 6.0)]
        );
    }

    #[test]
    fn chain_seek_then_next() {
        let mut it = ChainSampleIterator::new(vec![
            list(&[(1, 1.0), (10, 10.0)]),
            list(&[(4, 4.0), (12, 12.0)]),
        ]);
        assert_eq!(it.seek(3), ValueType::Float);
        assert_eq!(it.at(), (4, 4.0));
        assert_eq!(it.seek(4), ValueType::Float);
        assert_eq!(it.at(), (4, 4.0));
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.at(), (10, 10.0));
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.at(), (12, 12.0));
        assert_eq!(it.next(), ValueType::None);
    }

    proptest::proptest! {
        #[test]
        fn chain_equals_sorted_dedup_union(
            a in proptest::collection::btree_set(0i64..200, 0..40),
            b in proptest::collection::btree_set(0i64..200, 0..40),
        ) {
            let sa: Vec<_> = a.iter().map(|&t| (t, t as f64)).collect();
            let sb: Vec<_> = b.iter().map(|&t| (t, -(t as f64))).collect();
            let got = collect(Box::new(ChainSampleIterator::new(vec![list(&sa), list(&sb)])));
            let mut want: Vec<_> = a.union(&b).map(|&t| {
                if a.contains(&t) { (t, t as f64) } else { (t, -(t as f64)) }
            }).collect();
            want.sort_by_key(|s| s.0);
            proptest::prop_assert_eq!(got, want);
        }
    }

    /// The iterator of the first series of `s` in `0..=10`.
    fn iter_of(s: &crate::MemStorage) -> Box<dyn SampleIterator> {
        let q = s.querier(0, 10).unwrap();
        let mut set = q.select(true, None, &[]);
        set.next().unwrap().unwrap().iterator()
    }

    #[test]
    fn chain_keeps_the_start_timestamp_of_the_winning_sample() {
        let (s1, s2) = (crate::MemStorage::new(), crate::MemStorage::new());
        let l = Labels::from_pairs([("__name__", "c_total")]);
        let mut app = s1.appender();
        app.append_with_st(0, &l, 1, 2, 2.0).unwrap();
        app.commit().unwrap();
        let mut app = s2.appender();
        app.append_with_st(0, &l, 7, 2, 20.0).unwrap();
        app.append_with_st(0, &l, 3, 4, 4.0).unwrap();
        app.commit().unwrap();
        let mut it = ChainSampleIterator::new(vec![iter_of(&s1), iter_of(&s2)]);
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!((it.at(), it.at_st()), ((2, 2.0), 1));
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!((it.at(), it.at_st()), ((4, 4.0), 3));
    }

    #[test]
    fn chain_passes_histograms_through() {
        let s1 = crate::MemStorage::new();
        let s2 = crate::MemStorage::new();
        let l = Labels::from_pairs([("__name__", "h")]);
        let fh = model::FloatHistogram {
            count: 7.0,
            ..model::FloatHistogram::default()
        };
        let mut app = s1.appender();
        app.append_histogram(0, &l, 1, None, Some(&fh)).unwrap();
        app.append(0, &l, 3, 3.0).unwrap();
        app.commit().unwrap();
        let mut app = s2.appender();
        app.append(0, &l, 2, 2.0).unwrap();
        app.append_histogram(0, &l, 3, None, Some(&fh)).unwrap();
        app.commit().unwrap();
        let mut it = ChainSampleIterator::new(vec![iter_of(&s1), iter_of(&s2)]);
        assert_eq!(it.next(), ValueType::FloatHistogram);
        assert_eq!(it.at_float_histogram(), (1, fh.clone()));
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.at(), (2, 2.0));
        // At 3 the first iterator's float wins.
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.at(), (3, 3.0));
        assert_eq!(it.next(), ValueType::None);
    }
}
