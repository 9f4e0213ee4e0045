//! The exemplar storage of the head (Prometheus's `tsdb/exemplar.go`): one ring buffer of
//! `max_exemplars` exemplars shared by every series, each series' exemplars chained oldest
//! to newest through the buffer, and an index from series labels to its oldest and newest.
//!
//! A new exemplar overwrites the oldest one in the buffer, whatever its series. The buffer
//! can be resized at any time (a config reload), keeping the newest exemplars. Size 0
//! turns the storage off: appends answer [`storage::Error::ExemplarsDisabled`].

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use model::{Labels, Matcher, Timestamp};
use parking_lot::RwLock;
use storage::{EXEMPLAR_MAX_LABEL_SET_LENGTH, Exemplar, ExemplarQueryResult};

/// No next exemplar: the end of a series' chain.
const NONE: usize = usize::MAX;

/// One slot of the ring buffer.
#[derive(Debug, Clone)]
struct Entry {
    exemplar: Exemplar,
    /// The series' labels (a shared allocation, so cheap to hold per entry).
    series: Labels,
    /// The slot of the series' next newer exemplar, or [`NONE`].
    next: usize,
}

/// Where a series' exemplars are in the buffer.
#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    oldest: usize,
    newest: usize,
}

#[derive(Debug, Default)]
struct Ring {
    entries: Vec<Option<Entry>>,
    /// The slot the next exemplar goes to (the oldest one once the buffer is full).
    next: usize,
    /// Occupied slots.
    count: usize,
    index: HashMap<Labels, IndexEntry>,
}

/// The `prometheus_tsdb_exemplar_*` counters (the gauges are computed when written).
#[derive(Debug, Default)]
struct Counters {
    appended: AtomicU64,
    out_of_order: AtomicU64,
}

/// The circular exemplar storage (Prometheus's `CircularExemplarStorage`).
#[derive(Debug)]
pub struct CircularExemplarStorage {
    ring: RwLock<Ring>,
    counters: Counters,
}

impl Default for CircularExemplarStorage {
    fn default() -> Self {
        CircularExemplarStorage::new(0)
    }
}

impl CircularExemplarStorage {
    /// A storage holding at most `max_exemplars` exemplars (0 or less: off, until resized).
    pub fn new(max_exemplars: i64) -> CircularExemplarStorage {
        let len = usize::try_from(max_exemplars).unwrap_or(0);
        CircularExemplarStorage {
            ring: RwLock::new(Ring {
                entries: vec![None; len],
                ..Ring::default()
            }),
            counters: Counters::default(),
        }
    }

    /// The buffer's size (`max_exemplars`).
    pub fn max_exemplars(&self) -> usize {
        self.ring.read().entries.len()
    }

    /// Whether the storage keeps exemplars (its size is above 0).
    pub fn enabled(&self) -> bool {
        self.max_exemplars() > 0
    }

    /// The number of exemplars stored.
    pub fn len(&self) -> usize {
        self.ring.read().count
    }

    /// Whether no exemplar is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks an exemplar for series `series` as [`CircularExemplarStorage::add`] would,
    /// without storing it.
    ///
    /// # Errors
    /// [`storage::Error::ExemplarsDisabled`], [`storage::Error::ExemplarLabelLength`],
    /// [`storage::Error::DuplicateExemplar`] (the series' newest exemplar again) or
    /// [`storage::Error::OutOfOrderExemplar`].
    pub fn validate(&self, series: &Labels, e: &Exemplar) -> Result<(), storage::Error> {
        self.ring.read().validate(series, e)
    }

    /// Stores an exemplar of series `series`, overwriting the oldest exemplar when the
    /// buffer is full. The series' newest exemplar again is dropped without error.
    ///
    /// # Errors
    /// As [`CircularExemplarStorage::validate`], duplicates excepted; out-of-order
    /// exemplars are counted in `prometheus_tsdb_exemplar_out_of_order_exemplars_total`.
    pub fn add(&self, series: &Labels, e: Exemplar) -> Result<(), storage::Error> {
        let mut ring = self.ring.write();
        match ring.validate(series, &e) {
            Ok(()) => {}
            Err(storage::Error::DuplicateExemplar) => return Ok(()),
            Err(err) => {
                if matches!(err, storage::Error::OutOfOrderExemplar) {
                    self.counters.out_of_order.fetch_add(1, Ordering::Relaxed);
                }
                return Err(err);
            }
        }
        ring.insert(series, e);
        self.counters.appended.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Changes the buffer's size, keeping the newest exemplars that fit (in the order they
    /// were added). Returns how many were kept.
    pub fn resize(&self, max_exemplars: i64) -> usize {
        let len = usize::try_from(max_exemplars).unwrap_or(0);
        let mut ring = self.ring.write();
        if len == ring.entries.len() {
            return 0;
        }
        let old = std::mem::take(&mut *ring);
        *ring = Ring {
            entries: vec![None; len],
            ..Ring::default()
        };
        if len == 0 {
            return 0;
        }
        let mut kept: Vec<Entry> = old.into_oldest_first().collect();
        let skip = kept.len().saturating_sub(len);
        let migrated = kept.len() - skip;
        for entry in kept.drain(skip..) {
            ring.insert(&entry.series, entry.exemplar);
        }
        migrated
    }

    /// Every stored exemplar with its series, oldest first.
    pub fn iterate(&self, mut f: impl FnMut(&Labels, &Exemplar)) {
        let ring = self.ring.read();
        let n = ring.entries.len();
        for i in 0..n {
            if let Some(e) = &ring.entries[(ring.next + i) % n] {
                f(&e.series, &e.exemplar);
            }
        }
    }

    /// The exemplars with `start <= ts <= end` of the series matching any of the matcher
    /// sets, grouped by series and sorted by series labels (Prometheus's `Select`).
    pub fn select(
        &self,
        start: Timestamp,
        end: Timestamp,
        matcher_sets: &[Vec<Matcher>],
    ) -> Vec<ExemplarQueryResult> {
        let ring = self.ring.read();
        let mut out = Vec::new();
        for (series, idx) in &ring.index {
            let (Some(oldest), Some(newest)) =
                (&ring.entries[idx.oldest], &ring.entries[idx.newest])
            else {
                continue;
            };
            if oldest.exemplar.ts > end || newest.exemplar.ts < start {
                continue;
            }
            if !matcher_sets
                .iter()
                .any(|ms| storage::matches_all(series, ms))
            {
                continue;
            }
            let mut exemplars = Vec::new();
            let mut slot = idx.oldest;
            while let Some(e) = ring.entries.get(slot).and_then(Option::as_ref) {
                if e.exemplar.ts > end {
                    break;
                }
                if e.exemplar.ts >= start {
                    exemplars.push(e.exemplar.clone());
                }
                slot = e.next;
            }
            if !exemplars.is_empty() {
                out.push(ExemplarQueryResult {
                    series_labels: series.clone(),
                    exemplars,
                });
            }
        }
        out.sort_by(|a, b| a.series_labels.cmp(&b.series_labels));
        out
    }

    /// Appends the `prometheus_tsdb_exemplar_*` metrics in the text exposition format, with
    /// Prometheus's names and help texts.
    pub fn write_metrics(&self, out: &mut String) {
        let (max, count, series, oldest_ts) = {
            let ring = self.ring.read();
            let n = ring.entries.len();
            let oldest = (n > 0)
                .then(|| {
                    ring.entries[ring.next]
                        .as_ref()
                        .or(ring.entries[0].as_ref())
                })
                .flatten()
                .map_or(0.0, |e| e.exemplar.ts as f64 / 1000.0);
            (n, ring.count, ring.index.len(), oldest)
        };
        let families: [(&str, &str, &str, f64); 6] = [
            (
                "prometheus_tsdb_exemplar_exemplars_appended_total",
                "counter",
                "Total number of appended exemplars.",
                self.counters.appended.load(Ordering::Relaxed) as f64,
            ),
            (
                "prometheus_tsdb_exemplar_exemplars_in_storage",
                "gauge",
                "Number of exemplars currently in circular storage.",
                count as f64,
            ),
            (
                "prometheus_tsdb_exemplar_last_exemplars_timestamp_seconds",
                "gauge",
                "The timestamp of the oldest exemplar stored in circular storage. Useful to check for what timerange the current exemplar buffer limit allows. This usually means the last timestampfor all exemplars for a typical setup. This is not true though if one of the series timestamp is in future compared to rest series.",
                oldest_ts,
            ),
            (
                "prometheus_tsdb_exemplar_max_exemplars",
                "gauge",
                "Total number of exemplars the exemplar storage can store, resizeable.",
                max as f64,
            ),
            (
                "prometheus_tsdb_exemplar_out_of_order_exemplars_total",
                "counter",
                "Total number of out of order exemplar ingestion failed attempts.",
                self.counters.out_of_order.load(Ordering::Relaxed) as f64,
            ),
            (
                "prometheus_tsdb_exemplar_series_with_exemplars_in_storage",
                "gauge",
                "Number of series with exemplars currently in circular storage.",
                series as f64,
            ),
        ];
        for (name, kind, help, value) in families {
            model::exposition::write_header(out, name, kind, help);
            let _ = writeln!(out, "{name} {}", model::strconv::format_float_g(value));
        }
    }
}

/// Fails with [`storage::Error::ExemplarLabelLength`] when an exemplar's label names and
/// values have more than [`EXEMPLAR_MAX_LABEL_SET_LENGTH`] characters together (only the
/// characters of names and values count, not the quotes, `=` and commas of their text form).
pub(crate) fn check_label_length(labels: &Labels) -> Result<(), storage::Error> {
    let mut chars = 0;
    for (name, value) in labels.iter() {
        chars += name.chars().count() + value.chars().count();
        if chars > EXEMPLAR_MAX_LABEL_SET_LENGTH {
            return Err(storage::Error::ExemplarLabelLength);
        }
    }
    Ok(())
}

impl Ring {
    fn validate(&self, series: &Labels, e: &Exemplar) -> Result<(), storage::Error> {
        if self.entries.is_empty() {
            return Err(storage::Error::ExemplarsDisabled);
        }
        check_label_length(&e.labels)?;
        let Some(idx) = self.index.get(series) else {
            return Ok(());
        };
        let Some(newest) = &self.entries[idx.newest] else {
            return Ok(());
        };
        let newest = &newest.exemplar;
        if newest == e {
            return Err(storage::Error::DuplicateExemplar);
        }
        // A scrape appends a sample's exemplars sorted by time, value and labels, so
        // anything ordered before the newest is out of order (or an older duplicate, which
        // Prometheus does not tell apart either). Equal timestamps are fine otherwise: the
        // buckets of one histogram may share one.
        let out_of_order = e.ts < newest.ts
            || (e.ts == newest.ts && e.value < newest.value)
            || (e.ts == newest.ts && e.value == newest.value && e.labels < newest.labels);
        if out_of_order {
            return Err(storage::Error::OutOfOrderExemplar);
        }
        Ok(())
    }

    /// Stores `e` at the next slot (validated already), evicting what is there.
    fn insert(&mut self, series: &Labels, e: Exemplar) {
        let slot = self.next;
        if let Some(old) = self.entries[slot].take() {
            // The evicted exemplar is its series' oldest: the series now starts at the next
            // one, or has none left.
            if old.next == NONE {
                self.index.remove(&old.series);
            } else if let Some(idx) = self.index.get_mut(&old.series) {
                idx.oldest = old.next;
            }
            self.count -= 1;
        }
        match self.index.get_mut(series) {
            Some(idx) => {
                if let Some(prev) = self.entries[idx.newest].as_mut() {
                    prev.next = slot;
                }
                idx.newest = slot;
            }
            None => {
                self.index.insert(
                    series.clone(),
                    IndexEntry {
                        oldest: slot,
                        newest: slot,
                    },
                );
            }
        }
        self.entries[slot] = Some(Entry {
            exemplar: e,
            series: series.clone(),
            next: NONE,
        });
        self.count += 1;
        self.next = (slot + 1) % self.entries.len();
    }

    /// The stored entries, oldest first.
    fn into_oldest_first(self) -> impl Iterator<Item = Entry> {
        let n = self.entries.len();
        let next = self.next;
        let mut entries = self.entries;
        entries.rotate_left(if n == 0 { 0 } else { next });
        entries.into_iter().flatten()
    }
}

/// An [`storage::ExemplarQuerier`] over a shared exemplar storage.
struct StorageQuerier(Arc<CircularExemplarStorage>);

impl storage::ExemplarQuerier for StorageQuerier {
    fn select(
        &self,
        start: Timestamp,
        end: Timestamp,
        matcher_sets: &[Vec<Matcher>],
    ) -> storage::Result<Vec<ExemplarQueryResult>> {
        Ok(self.0.select(start, end, matcher_sets))
    }
}

impl CircularExemplarStorage {
    /// A querier reading this storage (it sees exemplars added after it was made too).
    pub fn querier(self: &Arc<Self>) -> Box<dyn storage::ExemplarQuerier> {
        Box::new(StorageQuerier(Arc::clone(self)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::MatchType;

    fn ex(id: &str, v: f64, ts: i64) -> Exemplar {
        Exemplar {
            labels: Labels::from_pairs([("trace_id", id)]),
            value: v,
            ts,
            has_ts: true,
        }
    }

    fn series(name: &str) -> Labels {
        Labels::from_pairs([("__name__", name), ("job", "a")])
    }

    fn name_is(name: &str) -> Vec<Matcher> {
        vec![Matcher::new(MatchType::Equal, "__name__", name).expect("matcher")]
    }

    fn values(s: &CircularExemplarStorage, name: &str) -> Vec<f64> {
        s.select(i64::MIN, i64::MAX, &[name_is(name)])
            .into_iter()
            .flat_map(|r| r.exemplars)
            .map(|e| e.value)
            .collect()
    }

    fn all(s: &CircularExemplarStorage) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        s.iterate(|l, e| out.push((l.metric_name().unwrap_or("").to_owned(), e.value)));
        out
    }

    #[test]
    fn keeps_each_series_in_order_and_answers_by_matchers_and_time() {
        let s = CircularExemplarStorage::new(10);
        for i in 0..3 {
            s.add(&series("a"), ex("x", i as f64, i * 10)).expect("add");
            s.add(&series("b"), ex("y", 100.0 + i as f64, i * 10 + 5))
                .expect("add");
        }
        assert_eq!(values(&s, "a"), [0.0, 1.0, 2.0]);
        assert_eq!(values(&s, "b"), [100.0, 101.0, 102.0]);
        let res = s.select(10, 20, &[name_is("b"), name_is("a")]);
        let got: Vec<(Labels, Vec<f64>)> = res
            .into_iter()
            .map(|r| {
                (
                    r.series_labels,
                    r.exemplars.iter().map(|e| e.value).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [(series("a"), vec![1.0, 2.0]), (series("b"), vec![101.0])]
        );
        assert!(s.select(31, 40, &[name_is("a")]).is_empty());
        assert!(s.select(0, 100, &[]).is_empty(), "no selector, no series");
    }

    #[test]
    fn rejects_out_of_order_drops_duplicates_and_limits_label_length() {
        let s = CircularExemplarStorage::new(5);
        let a = series("a");
        s.add(&a, ex("x", 1.0, 10)).expect("add");
        // The newest again: accepted and dropped.
        s.add(&a, ex("x", 1.0, 10)).expect("duplicate");
        assert_eq!(s.len(), 1);
        assert!(matches!(
            s.validate(&a, &ex("x", 1.0, 10)),
            Err(storage::Error::DuplicateExemplar)
        ));
        // Without own timestamps, the same exemplar at a later scrape is a duplicate too.
        let no_ts = |ts| Exemplar {
            has_ts: false,
            ..ex("z", 3.0, ts)
        };
        s.add(&series("c"), no_ts(10)).expect("add");
        s.add(&series("c"), no_ts(20)).expect("duplicate");
        assert_eq!(values(&s, "c"), [3.0]);
        for older in [ex("x", 5.0, 9), ex("x", 0.5, 10), ex("w", 1.0, 10)] {
            assert!(matches!(
                s.add(&a, older),
                Err(storage::Error::OutOfOrderExemplar)
            ));
        }
        // Same timestamp, higher value: the next bucket of a histogram.
        s.add(&a, ex("x", 2.0, 10))
            .expect("same time, larger value");
        let long = Exemplar {
            labels: Labels::from_pairs([("trace_id", "b".repeat(EXEMPLAR_MAX_LABEL_SET_LENGTH))]),
            ..ex("", 9.0, 99)
        };
        assert!(matches!(
            s.add(&a, long),
            Err(storage::Error::ExemplarLabelLength)
        ));
        // 128 characters exactly is fine; they are counted as characters, not bytes.
        let fits = Exemplar {
            labels: Labels::from_pairs([("é", "é".repeat(EXEMPLAR_MAX_LABEL_SET_LENGTH - 1))]),
            ..ex("", 9.0, 99)
        };
        s.add(&a, fits).expect("128 characters");
        assert_eq!(values(&s, "a"), [1.0, 2.0, 9.0]);
        let mut text = String::new();
        s.write_metrics(&mut text);
        assert!(
            text.contains("prometheus_tsdb_exemplar_out_of_order_exemplars_total 3\n"),
            "{text}"
        );
        assert!(text.contains("prometheus_tsdb_exemplar_exemplars_appended_total 4\n"));
        assert!(text.contains("prometheus_tsdb_exemplar_exemplars_in_storage 4\n"));
        assert!(text.contains("prometheus_tsdb_exemplar_series_with_exemplars_in_storage 2\n"));
        assert!(text.contains("prometheus_tsdb_exemplar_max_exemplars 5\n"));
        assert!(text.contains("prometheus_tsdb_exemplar_last_exemplars_timestamp_seconds 0.01\n"));
    }

    #[test]
    fn a_full_buffer_overwrites_the_oldest_exemplar_of_any_series() {
        let s = CircularExemplarStorage::new(3);
        s.add(&series("a"), ex("x", 1.0, 1)).expect("add");
        s.add(&series("b"), ex("x", 2.0, 2)).expect("add");
        s.add(&series("a"), ex("x", 3.0, 3)).expect("add");
        s.add(&series("b"), ex("x", 4.0, 4)).expect("add");
        assert_eq!(values(&s, "a"), [3.0]);
        assert_eq!(values(&s, "b"), [2.0, 4.0]);
        s.add(&series("c"), ex("x", 5.0, 5)).expect("add");
        s.add(&series("c"), ex("x", 6.0, 6)).expect("add");
        // a and b lost everything: they are gone from the index too.
        assert!(values(&s, "a").is_empty());
        assert_eq!(values(&s, "b"), [4.0]);
        assert_eq!(values(&s, "c"), [5.0, 6.0]);
        assert_eq!(s.len(), 3);
        assert_eq!(
            all(&s),
            [("b".into(), 4.0), ("c".into(), 5.0), ("c".into(), 6.0)]
        );
        // One series alone wrapping around itself.
        let one = CircularExemplarStorage::new(1);
        for i in 0..4 {
            one.add(&series("a"), ex("x", i as f64, i)).expect("add");
        }
        assert_eq!(values(&one, "a"), [3.0]);
    }

    #[test]
    fn resize_keeps_the_newest_in_order() {
        let s = CircularExemplarStorage::new(4);
        for i in 0..6 {
            let name = if i % 2 == 0 { "a" } else { "b" };
            s.add(&series(name), ex("x", i as f64, i)).expect("add");
        }
        // Holds 2..=5, wrapped around.
        assert_eq!(s.resize(8), 4);
        assert_eq!(
            all(&s).iter().map(|e| e.1).collect::<Vec<_>>(),
            [2.0, 3.0, 4.0, 5.0]
        );
        s.add(&series("a"), ex("x", 6.0, 6))
            .expect("room after growing");
        assert_eq!(values(&s, "a"), [2.0, 4.0, 6.0]);
        assert_eq!(s.resize(2), 2);
        assert_eq!(all(&s), [("b".into(), 5.0), ("a".into(), 6.0)]);
        assert_eq!(values(&s, "a"), [6.0]);
        // The per-series order checks still hold after migration.
        assert!(matches!(
            s.add(&series("a"), ex("x", 1.0, 1)),
            Err(storage::Error::OutOfOrderExemplar)
        ));
        assert_eq!(s.resize(2), 0, "same size: nothing to do");
        assert_eq!(s.resize(0), 0);
        assert!(!s.enabled());
        assert!(matches!(
            s.add(&series("a"), ex("x", 9.0, 9)),
            Err(storage::Error::ExemplarsDisabled)
        ));
        assert!(s.select(i64::MIN, i64::MAX, &[name_is("a")]).is_empty());
    }
}
