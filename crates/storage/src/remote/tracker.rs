//! What comes into remote storage through the appender (Go's `timestampTracker`): samples, histograms and exemplars appended to local storage, counted per commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use model::exposition::write_header;
use model::metrics::{Counter, write_sample};
use model::{Labels, Timestamp};

use crate::{Appender, Exemplar, Metadata, Result, SeriesRef};

/// The `prometheus_remote_storage_*_in` metrics: what every committed append batch added
/// (only what the wrapped storage accepted, as Go's fanout hands remote storage only the
/// appends the local storage took), and the newest timestamp among them.
#[derive(Debug, Default)]
pub struct AppendedMetrics {
    samples: Counter,
    histograms: Counter,
    exemplars: Counter,
    /// Whole seconds (Go divides the millisecond timestamp by 1000); only goes up.
    highest_timestamp_seconds: AtomicI64,
}

impl AppendedMetrics {
    /// Wraps `inner` so that what it accepts is counted here when it commits.
    pub fn track(self: &Arc<Self>, inner: Box<dyn Appender>) -> Box<dyn Appender> {
        Box::new(TimestampTracker {
            inner,
            metrics: self.clone(),
            samples: 0,
            histograms: 0,
            exemplars: 0,
            highest: 0,
        })
    }

    /// Float samples committed (`prometheus_remote_storage_samples_in_total`), created-timestamp
    /// zero samples included.
    pub fn samples_in(&self) -> f64 {
        self.samples.get()
    }

    /// Native histogram samples committed (`prometheus_remote_storage_histograms_in_total`).
    pub fn histograms_in(&self) -> f64 {
        self.histograms.get()
    }

    /// Exemplars committed (`prometheus_remote_storage_exemplars_in_total`).
    pub fn exemplars_in(&self) -> f64 {
        self.exemplars.get()
    }

    /// The newest sample timestamp committed, in whole seconds since the epoch; 0 before any
    /// (`prometheus_remote_storage_highest_timestamp_in_seconds`).
    pub fn highest_timestamp_in_seconds(&self) -> i64 {
        self.highest_timestamp_seconds.load(Ordering::Relaxed)
    }

    /// Writes the four families in the text exposition format, sorted by name.
    pub fn write_text(&self, out: &mut String) {
        let counter = |out: &mut String, name: &str, help: &str, v: f64| {
            write_header(out, name, "counter", help);
            write_sample(out, name, &[], v);
        };
        counter(
            out,
            "prometheus_remote_storage_exemplars_in_total",
            "Exemplars in to remote storage, compare to exemplars out for queue managers.",
            self.exemplars_in(),
        );
        let name = "prometheus_remote_storage_highest_timestamp_in_seconds";
        write_header(
            out,
            name,
            "gauge",
            "Highest timestamp that has come into the remote storage via the Appender interface, in seconds since epoch. Initialized to 0 when no data has been received yet.",
        );
        #[allow(clippy::cast_precision_loss)]
        write_sample(out, name, &[], self.highest_timestamp_in_seconds() as f64);
        counter(
            out,
            "prometheus_remote_storage_histograms_in_total",
            "HistogramSamples in to remote storage, compare to histograms out for queue managers.",
            self.histograms_in(),
        );
        counter(
            out,
            "prometheus_remote_storage_samples_in_total",
            "Samples in to remote storage, compare to samples out for queue managers.",
            self.samples_in(),
        );
    }
}

/// Counts the appends its inner appender accepts, in plain fields, and adds them to the
/// shared [`AppendedMetrics`] once the inner appender committed.
struct TimestampTracker {
    inner: Box<dyn Appender>,
    metrics: Arc<AppendedMetrics>,
    samples: u64,
    histograms: u64,
    exemplars: u64,
    highest: Timestamp,
}

impl TimestampTracker {
    /// Counts one accepted sample (`histogram` or float) at `t`, passing `res` through.
    fn sample(
        &mut self,
        res: Result<SeriesRef>,
        histogram: bool,
        t: Timestamp,
    ) -> Result<SeriesRef> {
        if res.is_ok() {
            if histogram {
                self.histograms += 1;
            } else {
                self.samples += 1;
            }
            self.highest = self.highest.max(t);
        }
        res
    }
}

impl Appender for TimestampTracker {
    fn append(&mut self, r: SeriesRef, labels: &Labels, t: Timestamp, v: f64) -> Result<SeriesRef> {
        let res = self.inner.append(r, labels, t, v);
        self.sample(res, false, t)
    }

    fn append_exemplar(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        exemplar: &Exemplar,
    ) -> Result<SeriesRef> {
        let res = self.inner.append_exemplar(r, labels, exemplar);
        if res.is_ok() {
            self.exemplars += 1;
        }
        res
    }

    fn append_histogram(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: Timestamp,
        h: Option<&model::Histogram>,
        fh: Option<&model::FloatHistogram>,
    ) -> Result<SeriesRef> {
        let res = self.inner.append_histogram(r, labels, t, h, fh);
        self.sample(res, true, t)
    }

    fn append_with_st(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        st: Timestamp,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef> {
        let res = self.inner.append_with_st(r, labels, st, t, v);
        self.sample(res, false, t)
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
        let res = self.inner.append_histogram_with_st(r, labels, st, t, h, fh);
        self.sample(res, true, t)
    }

    fn append_ct_zero_sample(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: Timestamp,
        ct: Timestamp,
    ) -> Result<SeriesRef> {
        let res = self.inner.append_ct_zero_sample(r, labels, t, ct);
        self.sample(res, false, ct)
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
        let res = self
            .inner
            .append_histogram_ct_zero_sample(r, labels, t, ct, h, fh);
        self.sample(res, true, ct)
    }

    fn update_metadata(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        meta: &Metadata,
    ) -> Result<SeriesRef> {
        self.inner.update_metadata(r, labels, meta)
    }

    fn commit(self: Box<Self>) -> Result<()> {
        let this = *self;
        this.inner.commit()?;
        let m = &this.metrics;
        #[allow(clippy::cast_precision_loss)]
        {
            if this.samples > 0 {
                m.samples.add(this.samples as f64);
            }
            if this.histograms > 0 {
                m.histograms.add(this.histograms as f64);
            }
            if this.exemplars > 0 {
                m.exemplars.add(this.exemplars as f64);
            }
        }
        // Go's integer division: truncated toward zero.
        m.highest_timestamp_seconds
            .fetch_max(this.highest / 1000, Ordering::Relaxed);
        Ok(())
    }

    fn rollback(self: Box<Self>) -> Result<()> {
        self.inner.rollback()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Appendable, MemStorage};

    fn text(m: &AppendedMetrics) -> String {
        let mut out = String::new();
        m.write_text(&mut out);
        out.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn commits_count_what_the_storage_accepted() {
        let storage = MemStorage::new();
        let m = Arc::new(AppendedMetrics::default());
        let a = Labels::from_pairs([("__name__", "a")]);
        let h = Labels::from_pairs([("__name__", "h")]);
        let mut app = m.track(storage.appender());
        app.append(0, &a, 1_000, 1.0).unwrap();
        app.append(0, &a, 2_999, 2.0).unwrap();
        app.append_histogram(0, &h, 2_000, Some(&model::Histogram::default()), None)
            .unwrap();
        // Nothing counts before the commit.
        assert_eq!(m.samples_in(), 0.0);
        app.commit().unwrap();
        assert_eq!(
            text(&m),
            "prometheus_remote_storage_exemplars_in_total 0\n\
             prometheus_remote_storage_highest_timestamp_in_seconds 2\n\
             prometheus_remote_storage_histograms_in_total 1\n\
             prometheus_remote_storage_samples_in_total 2"
        );

        // A rolled back batch counts nothing, nor does a rejected sample.
        let mut app = m.track(storage.appender());
        app.append(0, &a, 9_000, 1.0).unwrap();
        app.rollback().unwrap();
        let mut app = m.track(storage.appender());
        assert!(app.append(0, &a, 500, 1.0).is_err(), "out of order");
        app.append(0, &a, 4_000, 3.0).unwrap();
        app.commit().unwrap();
        assert_eq!(m.samples_in(), 3.0);
        assert_eq!(m.highest_timestamp_in_seconds(), 4);

        // The highest timestamp never goes back.
        let mut app = m.track(storage.appender());
        app.append(0, &Labels::from_pairs([("__name__", "b")]), 1_000, 1.0)
            .unwrap();
        app.commit().unwrap();
        assert_eq!(m.highest_timestamp_in_seconds(), 4);
    }

    /// Accepts every sample and exemplar; its commit fails when `.0` says so.
    struct Accepting(bool);

    impl Appender for Accepting {
        fn append(&mut self, r: SeriesRef, _: &Labels, _: Timestamp, _: f64) -> Result<SeriesRef> {
            Ok(r)
        }
        fn append_exemplar(&mut self, r: SeriesRef, _: &Labels, _: &Exemplar) -> Result<SeriesRef> {
            Ok(r)
        }
        fn commit(self: Box<Self>) -> Result<()> {
            if self.0 {
                return Err(crate::Error::NotReady);
            }
            Ok(())
        }
        fn rollback(self: Box<Self>) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn exemplars_and_zero_samples_count_and_failed_commits_do_not() {
        let m = Arc::new(AppendedMetrics::default());
        let a = Labels::from_pairs([("__name__", "a")]);
        let mut app = m.track(Box::new(Accepting(true)));
        app.append(0, &a, 1_000, 1.0).unwrap();
        assert!(app.commit().is_err());
        assert_eq!((m.samples_in(), m.highest_timestamp_in_seconds()), (0.0, 0));

        let storage = MemStorage::new();
        let mut app = m.track(storage.appender());
        app.append_ct_zero_sample(0, &a, 5_000, 3_000).unwrap();
        app.append(0, &a, 5_000, 1.0).unwrap();
        app.commit().unwrap();
        assert_eq!((m.samples_in(), m.highest_timestamp_in_seconds()), (2.0, 5));

        let e = Exemplar {
            labels: Labels::from_pairs([("trace_id", "x")]),
            value: 1.0,
            ts: 1_000,
            has_ts: true,
        };
        for fail in [true, false] {
            let mut app = m.track(Box::new(Accepting(fail)));
            app.append_exemplar(0, &a, &e).unwrap();
            app.append_exemplar(0, &a, &e).unwrap();
            assert_eq!(app.commit().is_err(), fail);
        }
        assert_eq!(m.exemplars_in(), 2.0);
        // A storage without exemplar storage rejects them: not counted.
        let mut app = m.track(storage.appender());
        let rejected = app.append_exemplar(0, &a, &e).is_err();
        app.commit().unwrap();
        assert_eq!(m.exemplars_in(), if rejected { 2.0 } else { 3.0 });
    }
}
