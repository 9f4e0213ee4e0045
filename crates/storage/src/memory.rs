//! A simple, correct in-memory storage for tests and examples.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use model::{FloatHistogram, Histogram, Labels, Matcher, Timestamp};
use parking_lot::RwLock;

use crate::{
    Appendable, Appender, Error, LabelHints, ListSeriesSet, Querier, Queryable, Result,
    SampleIterator, SelectHints, Series, SeriesRef, SeriesSet, ValueType, matches_all,
    truncate_to_limit,
};

/// One stored sample value: a float or a native histogram of either kind.
#[derive(Debug, Clone, PartialEq)]
enum MemValue {
    Float(f64),
    Histogram(Arc<Histogram>),
    FloatHistogram(Arc<FloatHistogram>),
}

impl MemValue {
    /// Whether two values are the same sample (floats compare by bits, as Prometheus).
    fn same(&self, other: &MemValue) -> bool {
        match (self, other) {
            (MemValue::Float(a), MemValue::Float(b)) => a.to_bits() == b.to_bits(),
            _ => self == other,
        }
    }
}

/// One stored sample: its time, its start timestamp (0 when unknown) and its value.
#[derive(Debug, Clone)]
struct MemSample {
    t: Timestamp,
    st: Timestamp,
    v: MemValue,
}

#[derive(Default)]
struct Inner {
    /// Series in label order, each with its samples sorted by timestamp.
    series: BTreeMap<Labels, Vec<MemSample>>,
    /// Reference handed out for each series; references start at 1.
    refs: HashMap<Labels, SeriesRef>,
    by_ref: HashMap<SeriesRef, Labels>,
}

/// An in-memory [`Appendable`] and [`Queryable`] with Prometheus's append rules (no
/// out-of-order samples; a repeated timestamp with another value is a duplicate), for tests
/// and examples. It keeps start timestamps ([`Appender::append_with_st`]). It keeps every sample forever and scans every series on select.
#[derive(Clone, Default)]
pub struct MemStorage {
    inner: Arc<RwLock<Inner>>,
}

impl MemStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of series stored.
    pub fn num_series(&self) -> usize {
        self.inner.read().series.len()
    }
}

impl std::fmt::Debug for MemStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemStorage")
            .field("series", &self.num_series())
            .finish()
    }
}

impl Appendable for MemStorage {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(MemAppender {
            storage: self.clone(),
            pending: Vec::new(),
        })
    }
}

struct MemAppender {
    storage: MemStorage,
    pending: Vec<(Labels, MemSample)>,
}

/// Checks one sample against the newest sample of its series (committed or pending) the way
/// Prometheus's head appender does.
fn check_order(last: Option<(Timestamp, &MemValue)>, t: Timestamp, v: &MemValue) -> Result<bool> {
    match last {
        Some((lt, _)) if t < lt => Err(Error::OutOfOrderSample),
        Some((lt, lv)) if t == lt => {
            if lv.same(v) {
                // Same timestamp and identical value: accepted and ignored.
                Ok(false)
            } else {
                Err(Error::DuplicateSampleForTimestamp)
            }
        }
        _ => Ok(true),
    }
}

impl MemAppender {
    fn add(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        st: Timestamp,
        t: Timestamp,
        v: MemValue,
    ) -> Result<SeriesRef> {
        let inner = self.storage.inner.read();
        let labels = if labels.is_empty() {
            match inner.by_ref.get(&r) {
                Some(known) => known.clone(),
                None => {
                    return Err(Error::InvalidLabels {
                        labels: labels.to_string(),
                        reason: "empty label set",
                    });
                }
            }
        } else {
            labels.clone()
        };
        let pending_last = self
            .pending
            .iter()
            .rev()
            .find(|(l, _)| *l == labels)
            .map(|(_, p)| (p.t, p.v.clone()));
        let last = pending_last.or_else(|| {
            inner
                .series
                .get(&labels)
                .and_then(|samples| samples.last().map(|p| (p.t, p.v.clone())))
        });
        let known_ref = inner.refs.get(&labels).copied();
        drop(inner);
        if check_order(last.as_ref().map(|(lt, lv)| (*lt, lv)), t, &v)? {
            self.pending.push((labels, MemSample { t, st, v }));
        }
        // New series get their reference at commit; until then report "unknown".
        Ok(known_ref.unwrap_or(0))
    }
}

impl Appender for MemAppender {
    fn append(&mut self, r: SeriesRef, labels: &Labels, t: Timestamp, v: f64) -> Result<SeriesRef> {
        self.add(r, labels, 0, t, MemValue::Float(v))
    }

    fn append_with_st(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        st: Timestamp,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef> {
        self.add(r, labels, st, t, MemValue::Float(v))
    }

    fn append_histogram(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: Timestamp,
        h: Option<&Histogram>,
        fh: Option<&FloatHistogram>,
    ) -> Result<SeriesRef> {
        self.append_histogram_with_st(r, labels, 0, t, h, fh)
    }

    fn append_histogram_with_st(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        st: Timestamp,
        t: Timestamp,
        h: Option<&Histogram>,
        fh: Option<&FloatHistogram>,
    ) -> Result<SeriesRef> {
        let v = match (h, fh) {
            (Some(h), _) => MemValue::Histogram(Arc::new(h.clone())),
            (None, Some(fh)) => MemValue::FloatHistogram(Arc::new(fh.clone())),
            (None, None) => {
                return Err(Error::InvalidLabels {
                    labels: labels.to_string(),
                    reason: "histogram sample without a histogram",
                });
            }
        };
        self.add(r, labels, st, t, v)
    }

    fn commit(self: Box<Self>) -> Result<()> {
        let mut inner = self.storage.inner.write();
        for (labels, MemSample { t, st, v }) in self.pending {
            let samples = inner.series.entry(labels.clone()).or_default();
            // Re-check against samples committed by other appenders since `append`.
            let last = samples.last().map(|p| (p.t, &p.v));
            if check_order(last, t, &v).unwrap_or(false) {
                let v = with_read_back_hint(samples.last().map(|p| &p.v), v);
                samples.push(MemSample { t, st, v });
            }
            if !inner.refs.contains_key(&labels) {
                let r = inner.refs.len() as SeriesRef + 1;
                inner.refs.insert(labels.clone(), r);
                inner.by_ref.insert(r, labels);
            }
        }
        Ok(())
    }

    fn rollback(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

impl Queryable for MemStorage {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>> {
        Ok(Box::new(MemQuerier {
            storage: self.clone(),
            mint,
            maxt,
        }))
    }
}

struct MemQuerier {
    storage: MemStorage,
    mint: Timestamp,
    maxt: Timestamp,
}

impl MemQuerier {
    /// Calls `f` for every series matching `matchers` with at least one sample in range.
    fn for_each_match(&self, matchers: &[Matcher], mut f: impl FnMut(&Labels, &[MemSample])) {
        let inner = self.storage.inner.read();
        for (labels, samples) in &inner.series {
            if !matches_all(labels, matchers) {
                continue;
            }
            let lo = samples.partition_point(|s| s.t < self.mint);
            let hi = samples.partition_point(|s| s.t <= self.maxt);
            if lo < hi {
                f(labels, &samples[lo..hi]);
            }
        }
    }
}

impl Querier for MemQuerier {
    fn select(
        &self,
        _sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet> {
        // Series are kept in label order, so the result is always sorted.
        let mut out: Vec<Box<dyn Series>> = Vec::new();
        self.for_each_match(matchers, |labels, samples| {
            out.push(Box::new(MemSeries {
                labels: labels.clone(),
                samples: samples.into(),
            }));
        });
        let limit = hints.map_or(0, |h| h.limit);
        Box::new(ListSeriesSet::new(truncate_to_limit(out, limit)))
    }

    fn label_values(
        &self,
        name: &str,
        hints: Option<&LabelHints>,
        matchers: &[Matcher],
    ) -> Result<Vec<String>> {
        let mut values = BTreeSet::new();
        self.for_each_match(matchers, |labels, _| {
            if let Some(v) = labels.get(name) {
                values.insert(v.to_string());
            }
        });
        Ok(truncate_to_limit(
            values.into_iter().collect(),
            hints.map_or(0, |h| h.limit),
        ))
    }

    fn label_names(&self, hints: Option<&LabelHints>, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut names = BTreeSet::new();
        self.for_each_match(matchers, |labels, _| {
            for (name, _) in labels.iter() {
                names.insert(name.to_string());
            }
        });
        Ok(truncate_to_limit(
            names.into_iter().collect(),
            hints.map_or(0, |h| h.limit),
        ))
    }
}

/// The counter reset hint a histogram reads back with from Prometheus's TSDB head, where
/// the hint lives in the chunk header: gauges stay gauges; a histogram that continues a
/// counter histogram without a reset is `NotCounterReset`; the first histogram of a series,
/// one after a reset, a float or a gauge is `Unknown`.
fn with_read_back_hint(prev: Option<&MemValue>, v: MemValue) -> MemValue {
    use model::CounterResetHint as Hint;
    let as_float = |v: &MemValue| match v {
        MemValue::Histogram(h) => Some(h.to_float()),
        MemValue::FloatHistogram(h) => Some((**h).clone()),
        MemValue::Float(_) => None,
    };
    let Some(cur) = as_float(&v) else {
        return v;
    };
    let hint = if cur.counter_reset_hint == Hint::Gauge {
        Hint::Gauge
    } else {
        match prev.and_then(as_float) {
            // Prometheus cuts a new chunk at a reset, whose first sample then reads back
            // as unknown (prometheus/prometheus#15346).
            Some(p)
                if p.counter_reset_hint != Hint::Gauge
                    && !model::value::is_stale_nan(p.sum)
                    && !cur.detect_reset(&p) =>
            {
                Hint::NotCounterReset
            }
            _ => Hint::Unknown,
        }
    };
    match v {
        MemValue::Histogram(h) if h.counter_reset_hint != hint => {
            let mut h = (*h).clone();
            h.counter_reset_hint = hint;
            MemValue::Histogram(Arc::new(h))
        }
        MemValue::FloatHistogram(h) if h.counter_reset_hint != hint => {
            let mut h = (*h).clone();
            h.counter_reset_hint = hint;
            MemValue::FloatHistogram(Arc::new(h))
        }
        other => other,
    }
}

/// A selected series: a snapshot of its samples in the querier's range.
struct MemSeries {
    labels: Labels,
    samples: Arc<[MemSample]>,
}

impl Series for MemSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iterator(&self) -> Box<dyn SampleIterator> {
        Box::new(MemIterator {
            samples: Arc::clone(&self.samples),
            pos: None,
        })
    }
}

struct MemIterator {
    samples: Arc<[MemSample]>,
    /// `None` before the first `next`/`seek`; `Some(len)` once exhausted.
    pos: Option<usize>,
}

impl MemIterator {
    fn current(&self) -> Option<(Timestamp, &MemValue)> {
        self.pos
            .and_then(|p| self.samples.get(p))
            .map(|s| (s.t, &s.v))
    }

    fn value_type(&self) -> ValueType {
        match self.current() {
            None => ValueType::None,
            Some((_, MemValue::Float(_))) => ValueType::Float,
            Some((_, MemValue::Histogram(_))) => ValueType::Histogram,
            Some((_, MemValue::FloatHistogram(_))) => ValueType::FloatHistogram,
        }
    }
}

impl SampleIterator for MemIterator {
    fn next(&mut self) -> ValueType {
        self.pos = Some(self.pos.map_or(0, |p| (p + 1).min(self.samples.len())));
        self.value_type()
    }

    fn seek(&mut self, t: Timestamp) -> ValueType {
        let start = self.pos.unwrap_or(0).min(self.samples.len());
        let offset = self.samples[start..].partition_point(|s| s.t < t);
        self.pos = Some(start + offset);
        self.value_type()
    }

    fn at(&self) -> (Timestamp, f64) {
        match self.current() {
            Some((t, MemValue::Float(f))) => (t, *f),
            Some((t, _)) => (t, f64::NAN),
            None => (Timestamp::MIN, f64::NAN),
        }
    }

    fn at_t(&self) -> Timestamp {
        self.current().map_or(Timestamp::MIN, |(t, _)| t)
    }

    fn at_st(&self) -> Timestamp {
        self.pos
            .and_then(|p| self.samples.get(p))
            .map_or(0, |s| s.st)
    }

    fn at_histogram(&self) -> (Timestamp, Histogram) {
        match self.current() {
            Some((t, MemValue::Histogram(h))) => (t, (**h).clone()),
            Some((t, _)) => (t, Histogram::default()),
            None => (Timestamp::MIN, Histogram::default()),
        }
    }

    fn at_float_histogram(&self) -> (Timestamp, FloatHistogram) {
        match self.current() {
            Some((t, MemValue::Histogram(h))) => (t, h.to_float()),
            Some((t, MemValue::FloatHistogram(h))) => (t, (**h).clone()),
            Some((t, _)) => (t, FloatHistogram::default()),
            None => (Timestamp::MIN, FloatHistogram::default()),
        }
    }

    fn err(&self) -> Option<&Error> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ValueType;
    use model::MatchType;

    fn lbls(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    fn select_all(
        s: &MemStorage,
        mint: i64,
        maxt: i64,
        m: &[Matcher],
    ) -> Vec<(Labels, Vec<(i64, f64)>)> {
        let q = s.querier(mint, maxt).unwrap();
        let mut set = q.select(true, None, m);
        let mut out = Vec::new();
        while let Some(series) = set.next() {
            let series = series.unwrap();
            let mut it = series.iterator();
            let mut samples = Vec::new();
            while it.next() == ValueType::Float {
                samples.push(it.at());
            }
            out.push((series.labels().clone(), samples));
        }
        out
    }

    #[test]
    fn appends_are_invisible_until_commit_and_dropped_on_rollback() {
        let s = MemStorage::new();
        let a = lbls(&[("__name__", "x")]);
        let mut app = s.appender();
        app.append(0, &a, 1, 1.0).unwrap();
        assert!(select_all(&s, 0, 10, &[]).is_empty());
        app.rollback().unwrap();
        assert!(select_all(&s, 0, 10, &[]).is_empty());
        let mut app = s.appender();
        app.append(0, &a, 1, 1.0).unwrap();
        app.commit().unwrap();
        assert_eq!(select_all(&s, 0, 10, &[]), vec![(a, vec![(1, 1.0)])]);
    }

    #[test]
    fn rejects_out_of_order_and_duplicates_like_prometheus() {
        let s = MemStorage::new();
        let a = lbls(&[("__name__", "x")]);
        let mut app = s.appender();
        app.append(0, &a, 10, 1.0).unwrap();
        assert!(matches!(
            app.append(0, &a, 5, 1.0),
            Err(Error::OutOfOrderSample)
        ));
        assert!(matches!(
            app.append(0, &a, 10, 2.0),
            Err(Error::DuplicateSampleForTimestamp)
        ));
        // Same timestamp and same value is a no-op, not an error.
        app.append(0, &a, 10, 1.0).unwrap();
        app.commit().unwrap();
        let mut app = s.appender();
        assert!(matches!(
            app.append(0, &a, 9, 1.0),
            Err(Error::OutOfOrderSample)
        ));
        assert_eq!(select_all(&s, 0, 100, &[]), vec![(a, vec![(10, 1.0)])]);
    }

    #[test]
    fn select_filters_by_matchers_and_time() {
        let s = MemStorage::new();
        let a = lbls(&[("__name__", "up"), ("job", "a")]);
        let b = lbls(&[("__name__", "up"), ("job", "b")]);
        let mut app = s.appender();
        for t in 0..10 {
            app.append(0, &a, t * 10, t as f64).unwrap();
            app.append(0, &b, t * 10, -(t as f64)).unwrap();
        }
        app.commit().unwrap();
        let m = [Matcher::new(MatchType::RegexMatch, "job", "b|c").unwrap()];
        let got = select_all(&s, 15, 35, &m);
        assert_eq!(got, vec![(b.clone(), vec![(20, -2.0), (30, -3.0)])]);
        // A matcher on an absent label matches the empty value.
        let m = [Matcher::new(MatchType::Equal, "instance", "").unwrap()];
        assert_eq!(select_all(&s, 0, 100, &m).len(), 2);

        let q = s.querier(0, 100).unwrap();
        assert_eq!(q.label_values("job", None, &[]).unwrap(), vec!["a", "b"]);
        assert_eq!(
            q.label_names(None, &[]).unwrap(),
            vec!["__name__".to_string(), "job".to_string()]
        );
        let limited = q
            .label_values("job", Some(&LabelHints { limit: 1 }), &[])
            .unwrap();
        assert_eq!(limited, vec!["a"]);
    }

    #[test]
    fn refs_identify_series_after_commit() {
        let s = MemStorage::new();
        let a = lbls(&[("__name__", "x")]);
        let mut app = s.appender();
        assert_eq!(app.append(0, &a, 1, 1.0).unwrap(), 0);
        app.commit().unwrap();
        let mut app = s.appender();
        let r = app.append(0, &a, 2, 2.0).unwrap();
        assert_ne!(r, 0);
        app.append(r, &Labels::empty(), 3, 3.0).unwrap();
        app.commit().unwrap();
        assert_eq!(select_all(&s, 0, 10, &[])[0].1.len(), 3);
    }

    #[test]
    fn start_timestamps_are_stored_and_read_back() {
        let s = MemStorage::new();
        let a = lbls(&[("__name__", "c_total")]);
        let fh = FloatHistogram {
            count: 2.0,
            ..FloatHistogram::default()
        };
        let mut app = s.appender();
        app.append_with_st(0, &a, 5, 10, 1.0).unwrap();
        app.append(0, &a, 20, 2.0).unwrap();
        app.append_histogram_with_st(0, &a, 25, 30, None, Some(&fh))
            .unwrap();
        app.commit().unwrap();
        let q = s.querier(0, 100).unwrap();
        let mut set = q.select(true, None, &[]);
        let mut it = set.next().unwrap().unwrap().iterator();
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!((it.at(), it.at_st()), ((10, 1.0), 5));
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!((it.at(), it.at_st()), ((20, 2.0), 0));
        assert_eq!(it.seek(30), ValueType::FloatHistogram);
        assert_eq!((it.at_t(), it.at_st()), (30, 25));
    }

    #[test]
    fn created_timestamp_zero_samples() {
        let s = MemStorage::new();
        let a = lbls(&[("__name__", "c_total")]);
        let mut app = s.appender();
        assert!(matches!(
            app.append_ct_zero_sample(0, &a, 10, 10),
            Err(Error::CtNewerThanSample)
        ));
        app.append_ct_zero_sample(0, &a, 10, 5).unwrap();
        app.append(0, &a, 10, 3.0).unwrap();
        app.commit().unwrap();
        // The next scrape repeats the created timestamp: out of order, nothing appended.
        let mut app = s.appender();
        assert!(matches!(
            app.append_ct_zero_sample(0, &a, 20, 5),
            Err(Error::OutOfOrderCt)
        ));
        app.append(0, &a, 20, 4.0).unwrap();
        app.commit().unwrap();
        assert_eq!(
            select_all(&s, 0, 100, &[]),
            vec![(a, vec![(5, 0.0), (10, 3.0), (20, 4.0)])]
        );

        let h = lbls(&[("__name__", "h")]);
        let fh = FloatHistogram {
            schema: 2,
            count: 4.0,
            custom_values: Vec::new(),
            ..FloatHistogram::default()
        };
        let mut app = s.appender();
        app.append_histogram_ct_zero_sample(0, &h, 10, 5, None, Some(&fh))
            .unwrap();
        app.append_histogram(0, &h, 10, None, Some(&fh)).unwrap();
        app.commit().unwrap();
        let q = s.querier(0, 100).unwrap();
        let m = [Matcher::new(MatchType::Equal, "__name__", "h").unwrap()];
        let mut set = q.select(true, None, &m);
        let mut it = set.next().unwrap().unwrap().iterator();
        assert_eq!(it.next(), ValueType::FloatHistogram);
        let (t, zero) = it.at_float_histogram();
        assert_eq!((t, zero.schema, zero.count), (5, 2, 0.0));
    }

    #[test]
    fn histograms_are_stored_and_iterated_with_floats() {
        let s = MemStorage::new();
        let a = lbls(&[("__name__", "h")]);
        let h = Histogram {
            count: 3,
            sum: 4.5,
            schema: 0,
            positive_spans: vec![model::Span {
                offset: 0,
                length: 2,
            }],
            positive_buckets: vec![1, 1],
            ..Histogram::default()
        };
        let fh = FloatHistogram {
            count: 2.5,
            ..FloatHistogram::default()
        };
        let mut app = s.appender();
        app.append(0, &a, 1, 1.0).unwrap();
        app.append_histogram(0, &a, 2, Some(&h), None).unwrap();
        // The same histogram again is a no-op, another one a duplicate.
        app.append_histogram(0, &a, 2, Some(&h), None).unwrap();
        assert!(matches!(
            app.append_histogram(0, &a, 2, None, Some(&fh)),
            Err(Error::DuplicateSampleForTimestamp)
        ));
        app.append_histogram(0, &a, 3, None, Some(&fh)).unwrap();
        app.commit().unwrap();
        let q = s.querier(0, 10).unwrap();
        let mut set = q.select(true, None, &[]);
        let series = set.next().unwrap().unwrap();
        let mut it = series.iterator();
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.at(), (1, 1.0));
        assert_eq!(it.next(), ValueType::Histogram);
        assert_eq!(it.at_histogram(), (2, h.clone()));
        let (t, conv) = it.at_float_histogram();
        assert_eq!((t, &conv.positive_buckets), (2, &vec![1.0, 2.0]));
        assert_eq!(conv.counter_reset_hint, model::CounterResetHint::Unknown);
        // The count went down: a reset, which reads back as unknown from Prometheus's head.
        assert_eq!(it.seek(3), ValueType::FloatHistogram);
        assert_eq!(it.at_float_histogram(), (3, fh.clone()));
        assert_eq!(it.next(), ValueType::None);
    }
}
