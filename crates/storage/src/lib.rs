//! The storage traits that the TSDB, the PromQL engine, scraping, rules and remote storage
//! meet at, mirroring Prometheus's `storage/interface.go`.
//!
//! - Writing: an [`Appendable`] hands out [`Appender`]s; an appender buffers samples with
//!   [`Appender::append`] until [`Appender::commit`] makes them visible (and durable, as far
//!   as the implementation promises) or [`Appender::rollback`] drops them.
//! - Reading: a [`Queryable`] opens a [`Querier`] over a time range; [`Querier::select`]
//!   returns a [`SeriesSet`] of [`Series`] matching label matchers, each yielding its samples
//!   through a [`SampleIterator`]. Label names and values can be listed with matchers too.
//! - Start timestamps: [`Appender::append_with_st`] stores a sample with the time its
//!   counter started ("created timestamp"), [`SampleIterator::at_st`] reads it back (0 when
//!   unknown or not kept by the storage).
//! - Metadata: [`Appender::update_metadata`] records a series' [`Metadata`] (type, unit,
//!   help), which the TSDB head logs to its WAL.
//! - Exemplars: [`Appender::append_exemplar`] adds an [`Exemplar`] to a series;
//!   [`ExemplarQueryable`] and [`ExemplarQuerier`] read them back by matchers and time.
//! - [`MemStorage`] is a small, correct in-memory implementation of both sides, for tests and
//!   examples; [`Fanout`] combines a primary storage with secondaries (remote read), merging
//!   series with identical labels and dropping duplicate samples.
//!
//! Everything a querier returns is owned (`'static`), so results can cross threads and
//! outlive the call that produced them; implementations hold `Arc`s, not borrows.
//!
//! This crate knows nothing about the TSDB, and nothing about the network unless the `remote`
//! feature is on: then `remote` adds remote write (a sharded queue fed by a WAL watcher,
//! and the receiver's decode/append helpers) and remote read (a [`Queryable`] client and the
//! server helpers), on tokio and hyper. The TSDB implements these traits from below.
//!
//! ```
//! use model::{Labels, MatchType, Matcher};
//! use storage::{Appendable, MemStorage, Queryable, ValueType};
//!
//! let db = MemStorage::new();
//! let mut app = db.appender();
//! let series = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
//! app.append(0, &series, 1_000, 1.0).unwrap();
//! app.append(0, &series, 2_000, 0.0).unwrap();
//! app.commit().unwrap();
//!
//! let querier = db.querier(0, 10_000).unwrap();
//! let matchers = [Matcher::new(MatchType::Equal, "job", "node").unwrap()];
//! let mut set = querier.select(true, None, &matchers);
//! let found = set.next().unwrap().unwrap();
//! assert_eq!(found.labels(), &series);
//! let mut it = found.iterator();
//! assert!(matches!(it.next(), ValueType::Float));
//! assert_eq!(it.at(), (1_000, 1.0));
//! ```
#![warn(missing_docs)]

mod error;
mod exemplar;
mod fanout;
mod memory;
mod metadata;
#[cfg(feature = "remote")]
pub mod remote;
mod series;

pub use error::{Error, Result};
pub use exemplar::{
    EXEMPLAR_MAX_LABEL_SET_LENGTH, Exemplar, ExemplarQuerier, ExemplarQueryResult,
    ExemplarQueryable,
};
pub use fanout::{Fanout, Storage, merge_series_sets};
pub use memory::MemStorage;
pub use metadata::{Metadata, MetricType};
pub use series::{ChainSampleIterator, EmptySeriesSet, ErrSeriesSet, ListSeries, ListSeriesSet};

use model::{Labels, Matcher, Timestamp};

/// Trait objects of this crate print as their trait's name, so that a struct holding an
/// `Arc<dyn Queryable>` or a `Box<dyn Appender>` can derive `Debug`.
macro_rules! debug_as_trait_name {
    ($($t:ident),*) => {$(
        impl std::fmt::Debug for dyn $t + '_ {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!("dyn ", stringify!($t)))
            }
        }
    )*};
}
debug_as_trait_name!(
    Appendable,
    Appender,
    Queryable,
    Querier,
    SeriesSet,
    Series,
    SampleIterator,
    ExemplarQueryable,
    ExemplarQuerier
);

/// A reference to a series inside one storage, returned by [`Appender::append`] so that the
/// next append of the same series can skip the label lookup. `0` means "unknown".
pub type SeriesRef = u64;

/// Something that can be appended to.
pub trait Appendable: Send + Sync {
    /// A new appender. Samples appended through it become visible at
    /// [`Appender::commit`].
    fn appender(&self) -> Box<dyn Appender>;
}

/// A batch of appends that becomes visible all at once.
///
/// An appender is used by one task at a time and consumed by `commit` or `rollback`;
/// dropping it without either discards its samples.
pub trait Appender: Send {
    /// Adds a sample for the series `labels` (or for the series `r`, if it is a reference a
    /// previous append on this storage returned and the storage still knows it). Returns the
    /// series' reference.
    ///
    /// Samples that are out of order, out of bounds or duplicates are rejected here, with the
    /// error Prometheus returns, and do not poison the rest of the batch.
    fn append(&mut self, r: SeriesRef, labels: &Labels, t: Timestamp, v: f64) -> Result<SeriesRef>;

    /// Adds an exemplar for an existing series (found by `r`, or by `labels` when `r` is
    /// unknown), to become visible at [`Appender::commit`] with the batch's samples.
    /// Returns the series' reference (0 when the exemplar was dropped without error).
    ///
    /// A storage with exemplar storage turned off accepts and drops exemplars (`Ok(0)`),
    /// as Prometheus's head does with its `exemplar-storage` feature off. Storages that
    /// have no exemplar storage at all keep this default, which answers
    /// [`Error::ExemplarsDisabled`]; callers such as the scrape loop only log it.
    ///
    /// # Errors
    /// [`Error::OutOfOrderExemplar`] (older than the series' newest exemplar),
    /// [`Error::ExemplarLabelLength`] (labels longer than
    /// [`EXEMPLAR_MAX_LABEL_SET_LENGTH`] characters), or the storage's own failures. An
    /// exact duplicate of the series' newest exemplar is dropped without error.
    fn append_exemplar(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        exemplar: &Exemplar,
    ) -> Result<SeriesRef> {
        let _ = (r, labels, exemplar);
        Err(Error::ExemplarsDisabled)
    }

    /// Adds a native histogram sample: `h` (integer counts) or `fh` (float counts), exactly
    /// one of them `Some`, for the series `labels` or `r` as [`Appender::append`]. Returns
    /// the series' reference.
    ///
    /// Storages without native histogram support keep this default, which answers
    /// [`Error::NativeHistogramsUnsupported`].
    ///
    /// # Errors
    /// As [`Appender::append`], plus Prometheus's histogram validation errors.
    fn append_histogram(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: Timestamp,
        h: Option<&model::Histogram>,
        fh: Option<&model::FloatHistogram>,
    ) -> Result<SeriesRef> {
        let _ = (r, labels, t, h, fh);
        Err(Error::NativeHistogramsUnsupported)
    }

    /// [`Appender::append`] with the sample's start timestamp `st` (Prometheus's start
    /// or "created" timestamp: when the counter or the delta behind this sample started
    /// counting; 0 means unknown). PromQL's `rate`, `increase`, `irate`, `resets` and
    /// `start_timestamp` read it back through [`SampleIterator::at_st`].
    ///
    /// Storages that keep no start timestamps keep this default, which drops `st` and
    /// appends the sample as [`Appender::append`] does.
    ///
    /// # Errors
    /// As [`Appender::append`].
    fn append_with_st(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        st: Timestamp,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef> {
        let _ = st;
        self.append(r, labels, t, v)
    }

    /// [`Appender::append_histogram`] with the sample's start timestamp `st` (0 means
    /// unknown), as [`Appender::append_with_st`]. The default drops `st`.
    ///
    /// # Errors
    /// As [`Appender::append_histogram`].
    fn append_histogram_with_st(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        st: Timestamp,
        t: Timestamp,
        h: Option<&model::Histogram>,
        fh: Option<&model::FloatHistogram>,
    ) -> Result<SeriesRef> {
        let _ = st;
        self.append_histogram(r, labels, t, h, fh)
    }

    /// Adds a zero sample at the created timestamp `ct` of the sample at `t` that follows it
    /// in this batch (Go's `AppendCTZeroSample`, for `created-timestamp-zero-ingestion`):
    /// the counter was 0 when it was created. Returns the series' reference.
    ///
    /// # Errors
    /// [`Error::CtNewerThanSample`] when `ct >= t`; [`Error::OutOfOrderCt`] when the series
    /// already has a newer sample (callers ignore it: every scrape repeats the created
    /// timestamp); [`Error::DuplicateSampleForTimestamp`] when a non-zero sample sits at
    /// `ct`; otherwise as [`Appender::append`].
    fn append_ct_zero_sample(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: Timestamp,
        ct: Timestamp,
    ) -> Result<SeriesRef> {
        if ct >= t {
            return Err(Error::CtNewerThanSample);
        }
        match self.append(r, labels, ct, 0.0) {
            Err(Error::OutOfOrderSample) => Err(Error::OutOfOrderCt),
            other => other,
        }
    }

    /// [`Appender::append_ct_zero_sample`] for a native histogram sample `h` or `fh`: an
    /// empty histogram (marked as a counter reset) with the same schema, zero threshold and
    /// custom bounds, so that it shares the sample's chunk.
    ///
    /// # Errors
    /// As [`Appender::append_ct_zero_sample`], and as [`Appender::append_histogram`].
    fn append_histogram_ct_zero_sample(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: Timestamp,
        ct: Timestamp,
        h: Option<&model::Histogram>,
        fh: Option<&model::FloatHistogram>,
    ) -> Result<SeriesRef> {
        if ct >= t {
            return Err(Error::CtNewerThanSample);
        }
        let res = match (h, fh) {
            (Some(h), _) => {
                let zero = model::Histogram {
                    counter_reset_hint: model::CounterResetHint::CounterReset,
                    schema: h.schema,
                    zero_threshold: h.zero_threshold,
                    custom_values: h.custom_values.clone(),
                    ..model::Histogram::default()
                };
                self.append_histogram(r, labels, ct, Some(&zero), None)
            }
            (None, Some(fh)) => {
                let zero = model::FloatHistogram {
                    counter_reset_hint: model::CounterResetHint::CounterReset,
                    schema: fh.schema,
                    zero_threshold: fh.zero_threshold,
                    custom_values: fh.custom_values.clone(),
                    ..model::FloatHistogram::default()
                };
                self.append_histogram(r, labels, ct, None, Some(&zero))
            }
            (None, None) => return Ok(r),
        };
        match res {
            Err(Error::OutOfOrderSample) => Err(Error::OutOfOrderCt),
            other => other,
        }
    }

    /// Records the metadata of series `r` (or, when the storage does not know `r`, of the
    /// series with `labels`), as Prometheus's `UpdateMetadata`: the TSDB head logs it to the
    /// WAL at commit when it differs from what the series had. Returns the series' ref.
    /// The default ignores it (storages that keep no metadata).
    ///
    /// # Errors
    /// Implementations that keep metadata fail for an unknown series.
    fn update_metadata(
        &mut self,
        r: SeriesRef,
        _labels: &Labels,
        _meta: &Metadata,
    ) -> Result<SeriesRef> {
        Ok(r)
    }

    /// Makes every sample of this batch visible to queriers opened afterwards. What this
    /// guarantees about durability is documented by each implementation.
    fn commit(self: Box<Self>) -> Result<()>;

    /// Drops every sample of this batch.
    fn rollback(self: Box<Self>) -> Result<()>;
}

/// Something that can be queried over a time range.
pub trait Queryable: Send + Sync {
    /// A querier over samples with `mint <= t <= maxt` (both inclusive, in milliseconds).
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>>;
}

/// Reads series and labels of a storage over the time range it was opened for.
pub trait Querier: Send + Sync {
    /// The series matching every matcher (a series lacking a label matches as if it had it
    /// with the empty value). With `sorted`, series come ordered by their label sets.
    /// `hints` let the storage prune work; they never change the result.
    fn select(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet>;

    /// The sorted, distinct values of label `name` among series matching `matchers` (all
    /// series when empty).
    fn label_values(
        &self,
        name: &str,
        hints: Option<&LabelHints>,
        matchers: &[Matcher],
    ) -> Result<Vec<String>>;

    /// The sorted, distinct label names among series matching `matchers` (all series when
    /// empty).
    fn label_names(&self, hints: Option<&LabelHints>, matchers: &[Matcher]) -> Result<Vec<String>>;
}

/// An iterator over the series a [`Querier::select`] found.
pub trait SeriesSet: Send {
    /// The next series, an error that ends the set, or `None` at the end.
    #[allow(clippy::should_implement_trait)]
    fn next(&mut self) -> Option<Result<Box<dyn Series>>>;

    /// Warnings collected while selecting (for example from a remote storage that failed
    /// while the primary answered). They are reported to the user, not treated as errors.
    fn warnings(&self) -> Vec<String>;
}

/// One series: a label set and its samples.
pub trait Series: Send + Sync {
    /// The series' labels.
    fn labels(&self) -> &Labels;

    /// A fresh iterator over the series' samples, in timestamp order.
    fn iterator(&self) -> Box<dyn SampleIterator>;
}

/// What a [`SampleIterator`] is positioned on: `None` (exhausted or failed, see
/// [`SampleIterator::err`]), `Float` (read with [`SampleIterator::at`]), `Histogram` (read
/// with [`SampleIterator::at_histogram`], or as floats with
/// [`SampleIterator::at_float_histogram`]) or `FloatHistogram` (read with
/// [`SampleIterator::at_float_histogram`]). Defined in model so that chunk iterators share it.
pub use model::ValueType;

/// Iterates the samples of one series, like Go's `chunkenc.Iterator`.
pub trait SampleIterator: Send {
    /// Advances to the next sample.
    #[allow(clippy::should_implement_trait)]
    fn next(&mut self) -> ValueType;

    /// Advances to the first sample with a timestamp at or after `t`. If the current sample
    /// already qualifies, the iterator stays where it is: it never moves backwards.
    fn seek(&mut self, t: Timestamp) -> ValueType;

    /// The current sample. Only meaningful after `next` or `seek` returned
    /// [`ValueType::Float`].
    fn at(&self) -> (Timestamp, f64);

    /// The current sample's timestamp.
    fn at_t(&self) -> Timestamp {
        self.at().0
    }

    /// The current histogram sample. Only meaningful after `next` or `seek` returned
    /// [`ValueType::Histogram`]; iterators that yield histograms override it (the default,
    /// for float-only iterators, answers an empty histogram).
    fn at_histogram(&self) -> (Timestamp, model::Histogram) {
        (self.at_t(), model::Histogram::default())
    }

    /// The current histogram sample with float counts. Only meaningful after `next` or
    /// `seek` returned [`ValueType::Histogram`] (converted) or [`ValueType::FloatHistogram`];
    /// iterators that yield histograms override it (the default answers an empty one).
    fn at_float_histogram(&self) -> (Timestamp, model::FloatHistogram) {
        (self.at_t(), model::FloatHistogram::default())
    }

    /// The current sample's start timestamp (when the counter or delta behind it started
    /// counting), 0 when unknown. Only meaningful after `next` or `seek` returned a
    /// sample. Iterators over storages that keep start timestamps override it; the
    /// default answers 0.
    fn at_st(&self) -> Timestamp {
        0
    }

    /// The error that ended the iteration early, if any.
    fn err(&self) -> Option<&Error>;
}

/// Hints a query gives to [`Querier::select`], as Prometheus's `SelectHints`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectHints {
    /// Start of the time range the query needs, in milliseconds.
    pub start: Timestamp,
    /// End of the time range the query needs, in milliseconds.
    pub end: Timestamp,
    /// Query step in milliseconds (0 for instant queries).
    pub step: i64,
    /// Range of the surrounding range selector in milliseconds (0 if none).
    pub range: i64,
    /// Name of the function the selection feeds, if any (for example `rate`).
    pub func: Option<String>,
    /// Labels the surrounding aggregation groups by (or drops, when `by` is false).
    pub grouping: Vec<String>,
    /// Whether `grouping` lists the labels kept (`by`) or dropped (`without`).
    pub by: bool,
    /// The most series the caller needs; 0 means no limit.
    pub limit: usize,
}

/// Hints for listing label names and values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelHints {
    /// The most names or values the caller needs; 0 means no limit.
    pub limit: usize,
}

/// Whether a series' labels satisfy every matcher (a missing label matches as the empty
/// value, as in Prometheus).
pub fn matches_all(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

/// Applies a limit hint (0 = unlimited) to a sorted list.
pub(crate) fn truncate_to_limit<T>(mut items: Vec<T>, limit: usize) -> Vec<T> {
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trait_objects_are_debug_so_that_their_holders_can_derive_it() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            db: std::sync::Arc<dyn Queryable>,
            app: Box<dyn Appender>,
        }
        let db = std::sync::Arc::new(MemStorage::new());
        let holder = Holder {
            app: db.appender(),
            db,
        };
        assert_eq!(
            format!("{holder:?}"),
            "Holder { db: dyn Queryable, app: dyn Appender }"
        );
    }
}
