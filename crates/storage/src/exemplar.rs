//! Exemplars (Prometheus's `model/exemplar` and the exemplar interfaces of
//! `storage/interface.go`): a sample's trace reference, appended with
//! [`crate::Appender::append_exemplar`] and read back through an [`ExemplarQueryable`].

use model::{Labels, Matcher, Timestamp};

use crate::Result;

/// The most UTF-8 characters an exemplar's label names and values may have together
/// (OpenMetrics; Prometheus's `ExemplarMaxLabelSetLength`).
pub const EXEMPLAR_MAX_LABEL_SET_LENGTH: usize = 128;

/// An exemplar: labels identifying a trace (or anything else), a value and a timestamp.
#[derive(Debug, Clone)]
pub struct Exemplar {
    /// The exemplar's own labels (for example `trace_id`), not the series'.
    pub labels: Labels,
    /// The observed value.
    pub value: f64,
    /// Timestamp in milliseconds: the exemplar's own, or the scrape's when it had none.
    pub ts: Timestamp,
    /// Whether `ts` was given with the exemplar (not filled in from the scrape).
    pub has_ts: bool,
}

impl PartialEq for Exemplar {
    /// As Prometheus's `Exemplar.Equals`: same labels and value, and the same timestamp
    /// unless neither exemplar had its own (so the same exemplar scraped again without a
    /// timestamp is recognised as a duplicate).
    fn eq(&self, other: &Self) -> bool {
        self.labels == other.labels
            && (!(self.has_ts || other.has_ts) || self.ts == other.ts)
            && self.value == other.value
    }
}

impl Exemplar {
    /// The order Prometheus sorts a sample's exemplars in before appending them
    /// (`exemplar.Compare`): by timestamp, then value, then labels.
    pub fn compare(&self, other: &Exemplar) -> std::cmp::Ordering {
        self.ts
            .cmp(&other.ts)
            .then_with(|| {
                self.value
                    .partial_cmp(&other.value)
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .then_with(|| self.labels.cmp(&other.labels))
    }
}

/// The exemplars of one series, as `/api/v1/query_exemplars` lists them.
#[derive(Debug, Clone, PartialEq)]
pub struct ExemplarQueryResult {
    /// The series the exemplars belong to.
    pub series_labels: Labels,
    /// Its exemplars in the queried range, oldest first.
    pub exemplars: Vec<Exemplar>,
}

/// Something exemplars can be read from (Prometheus's `ExemplarQueryable`).
pub trait ExemplarQueryable: Send + Sync {
    /// A querier over the exemplars stored now.
    ///
    /// # Errors
    /// When the storage cannot answer (for example [`crate::Error::NotReady`]).
    fn exemplar_querier(&self) -> Result<Box<dyn ExemplarQuerier>>;
}

/// Reads exemplars (Prometheus's `ExemplarQuerier`).
pub trait ExemplarQuerier: Send + Sync {
    /// The exemplars with `start <= ts <= end` of every series matching at least one of the
    /// matcher sets (each set is one selector of a query), grouped by series and sorted by
    /// series labels; series without exemplars in the range are left out.
    ///
    /// # Errors
    /// When the storage fails.
    fn select(
        &self,
        start: Timestamp,
        end: Timestamp,
        matcher_sets: &[Vec<Matcher>],
    ) -> Result<Vec<ExemplarQueryResult>>;
}
