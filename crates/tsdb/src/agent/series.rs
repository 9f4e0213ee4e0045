//! The agent's series index: chunkless series (reference, labels, newest timestamp), found by
//! reference or by label set (Go's `tsdb/agent/series.go`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use model::Labels;

/// A series the agent knows: its reference, labels and the newest timestamp committed for it.
#[derive(Debug)]
pub(crate) struct MemSeries {
    pub(crate) series_ref: u64,
    pub(crate) labels: Labels,
    /// Newest committed timestamp; decides out-of-order rejection and garbage collection.
    last_ts: AtomicI64,
    /// Whether the series record is in the WAL. Until it is, every appender that writes
    /// samples of the series logs the record too, so that no sample reaches the WAL before
    /// its series (replay and remote write drop samples of unknown series).
    logged: AtomicBool,
}

impl MemSeries {
    pub(crate) fn new(series_ref: u64, labels: Labels, last_ts: i64) -> MemSeries {
        MemSeries {
            series_ref,
            labels,
            last_ts: AtomicI64::new(last_ts),
            logged: AtomicBool::new(false),
        }
    }

    /// Whether the series record is known to be in the WAL.
    pub(crate) fn is_logged(&self) -> bool {
        self.logged.load(Ordering::Acquire)
    }

    /// Records that the series record is in the WAL.
    pub(crate) fn mark_logged(&self) {
        self.logged.store(true, Ordering::Release);
    }

    pub(crate) fn last_ts(&self) -> i64 {
        self.last_ts.load(Ordering::Acquire)
    }

    /// Moves the newest timestamp to `t`; `false` (and no change) when `t` is older.
    pub(crate) fn update_timestamp(&self, t: i64) -> bool {
        self.last_ts
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (t >= cur).then_some(t)
            })
            .is_ok()
    }

    /// Like [`MemSeries::update_timestamp`] but never fails (replay).
    pub(crate) fn raise_timestamp(&self, t: i64) {
        self.last_ts.fetch_max(t, Ordering::AcqRel);
    }
}

/// Every live series, by reference and by label set.
///
/// Replay may meet the same label set under two references (a series collected and created
/// again); the label index then points at the newest, and both stay reachable by reference
/// until they are collected.
#[derive(Debug, Default)]
pub(crate) struct SeriesMap {
    by_ref: HashMap<u64, Arc<MemSeries>>,
    by_labels: HashMap<Labels, Arc<MemSeries>>,
}

impl SeriesMap {
    pub(crate) fn len(&self) -> usize {
        self.by_ref.len()
    }

    pub(crate) fn by_ref(&self, r: u64) -> Option<&Arc<MemSeries>> {
        self.by_ref.get(&r)
    }

    pub(crate) fn by_labels(&self, labels: &Labels) -> Option<&Arc<MemSeries>> {
        self.by_labels.get(labels)
    }

    pub(crate) fn contains(&self, r: u64) -> bool {
        self.by_ref.contains_key(&r)
    }

    pub(crate) fn insert(&mut self, s: Arc<MemSeries>) {
        self.by_ref.insert(s.series_ref, s.clone());
        self.by_labels.insert(s.labels.clone(), s);
    }

    /// Removes every series whose newest timestamp is before `mint`; returns their references.
    pub(crate) fn gc(&mut self, mint: i64) -> Vec<u64> {
        let mut deleted = Vec::new();
        self.by_ref.retain(|_, s| {
            let keep = s.last_ts() >= mint;
            if !keep {
                deleted.push(s.clone());
            }
            keep
        });
        for s in &deleted {
            // Only drop the label entry when it still points at this reference.
            if self
                .by_labels
                .get(&s.labels)
                .is_some_and(|owner| owner.series_ref == s.series_ref)
            {
                self.by_labels.remove(&s.labels);
            }
        }
        deleted.into_iter().map(|s| s.series_ref).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(r: u64, name: &str, t: i64) -> Arc<MemSeries> {
        Arc::new(MemSeries::new(
            r,
            Labels::from_pairs([("__name__", name)]),
            t,
        ))
    }

    #[test]
    fn timestamps_only_move_forward() {
        let s = series(1, "a", 10);
        assert!(s.update_timestamp(10));
        assert!(s.update_timestamp(12));
        assert!(!s.update_timestamp(11));
        assert_eq!(s.last_ts(), 12);
        s.raise_timestamp(5);
        assert_eq!(s.last_ts(), 12);
    }

    #[test]
    fn gc_removes_old_series_and_keeps_the_newest_label_owner() {
        let mut m = SeriesMap::default();
        m.insert(series(1, "a", 100));
        m.insert(series(2, "b", 5));
        // "a" again under a newer reference (replay after a collection).
        m.insert(series(3, "a", 200));
        assert_eq!(m.len(), 3);
        let mut gone = m.gc(150);
        gone.sort_unstable();
        assert_eq!(gone, [1, 2]);
        assert!(!m.contains(1) && !m.contains(2) && m.contains(3));
        let a = Labels::from_pairs([("__name__", "a")]);
        assert_eq!(m.by_labels(&a).map(|s| s.series_ref), Some(3));
        assert!(
            m.by_labels(&Labels::from_pairs([("__name__", "b")]))
                .is_none()
        );
    }
}
