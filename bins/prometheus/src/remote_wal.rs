//! The remote-write WAL watcher's view of the TSDB's WAL: [`TsdbWalSource`] implements
//! `storage::remote::WalSource` over `tsdb::wlog` segments and checkpoints, counting what it
//! reads in [`WatcherMetrics`] (`prometheus_wal_watcher_*`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use model::exposition::{write_escaped_label_value, write_header};

use storage::remote::{WalRecord, WalSource};
use tsdb::record::{self, RecordType};
use tsdb::wlog::{self, PAGE_SIZE, RECORD_HEADER_SIZE, reader::Reader};

/// Reads the `wal/` directory of a data directory for remote write.
#[derive(Debug, Clone)]
pub(crate) struct TsdbWalSource {
    dir: PathBuf,
    metrics: Arc<WatcherMetrics>,
}

impl TsdbWalSource {
    /// A source over the WAL directory `dir` (`<storage.tsdb.path>/wal`).
    #[cfg(test)]
    pub(crate) fn new(dir: impl Into<PathBuf>) -> TsdbWalSource {
        TsdbWalSource::with_metrics(dir, Arc::default())
    }

    /// A source over the WAL directory `dir` (`<storage.tsdb.path>/wal`), counting what it
    /// reads in `metrics`.
    pub(crate) fn with_metrics(
        dir: impl Into<PathBuf>,
        metrics: Arc<WatcherMetrics>,
    ) -> TsdbWalSource {
        TsdbWalSource {
            dir: dir.into(),
            metrics,
        }
    }

    /// Decodes `rec`, counting it (and a decode failure) as Go's watcher does.
    fn decode(&self, rec: &[u8]) -> storage::Result<WalRecord> {
        self.metrics.read(rec);
        decode(rec).inspect_err(|_| {
            self.metrics.decode_failures.fetch_add(1, Ordering::Relaxed);
        })
    }
}

/// One WAL watcher's own metrics (Go's `WatcherMetrics` with its `consumer` label, the
/// queue's name): records read by type, decode failures, the segment being read.
#[derive(Debug, Default)]
pub(crate) struct WatcherMetrics {
    /// Records read per Go record type name (a type appears once read).
    records_read: Mutex<BTreeMap<&'static str, u64>>,
    decode_failures: AtomicU64,
    current_segment: AtomicU64,
}

/// Go's `record.Type.String()` for a record's first byte.
fn record_type_name(rec: &[u8]) -> &'static str {
    match rec.first() {
        Some(1) => "series",
        Some(2) => "samples",
        Some(3) => "tombstones",
        Some(4) => "exemplars",
        Some(5) => "mmapmarkers",
        Some(6) => "metadata",
        Some(7) => "histogram_samples",
        Some(8) => "float_histogram_samples",
        Some(9) => "custom_buckets_histogram_samples",
        Some(10) => "custom_buckets_float_histogram_samples",
        _ => "unknown",
    }
}

impl WatcherMetrics {
    fn read(&self, rec: &[u8]) {
        *self
            .records_read
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(record_type_name(rec))
            .or_default() += 1;
    }

    /// Writes the `prometheus_wal_watcher_*` families for `consumers` (queue name and its
    /// watcher's metrics), nothing without consumers, as Go's vectors without children.
    /// `notifications_skipped_total` stays 0: the watcher polls, nothing notifies it; and
    /// `samples_sent_pre_tailing_total` stays 0 as in Prometheus 3, which no longer
    /// counts it.
    pub(crate) fn write_text_all(consumers: &[(&str, &WatcherMetrics)], out: &mut String) {
        if consumers.is_empty() {
            return;
        }
        let label = |name: &str| {
            let mut l = String::from("consumer=\"");
            write_escaped_label_value(&mut l, name);
            l.push('"');
            l
        };
        let per_consumer =
            |out: &mut String, family: &str, value: &dyn Fn(&WatcherMetrics) -> u64| {
                for (name, m) in consumers {
                    let _ = writeln!(out, "{family}{{{}}} {}", label(name), value(m));
                }
            };
        let name = "prometheus_wal_watcher_current_segment";
        write_header(
            out,
            name,
            "gauge",
            "Current segment the WAL watcher is reading records from.",
        );
        per_consumer(out, name, &|m| m.current_segment.load(Ordering::Relaxed));
        let name = "prometheus_wal_watcher_notifications_skipped_total";
        write_header(
            out,
            name,
            "counter",
            "The number of WAL write notifications that the Watcher has skipped due to already being in a WAL read routine.",
        );
        per_consumer(out, name, &|_| 0);
        let name = "prometheus_wal_watcher_record_decode_failures_total";
        write_header(
            out,
            name,
            "counter",
            "Number of records read by the WAL watcher that resulted in an error when decoding.",
        );
        per_consumer(out, name, &|m| m.decode_failures.load(Ordering::Relaxed));
        let read: Vec<(&str, BTreeMap<&str, u64>)> = consumers
            .iter()
            .map(|(name, m)| {
                let counts = m
                    .records_read
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                (*name, counts)
            })
            .collect();
        if read.iter().any(|(_, counts)| !counts.is_empty()) {
            let name = "prometheus_wal_watcher_records_read_total";
            write_header(
                out,
                name,
                "counter",
                "Number of records read by the WAL watcher from the WAL.",
            );
            for (consumer, counts) in &read {
                for (typ, n) in counts {
                    let _ = writeln!(out, "{name}{{{},type=\"{typ}\"}} {n}", label(consumer));
                }
            }
        }
        let name = "prometheus_wal_watcher_samples_sent_pre_tailing_total";
        write_header(
            out,
            name,
            "counter",
            "Number of sample records read by the WAL watcher and sent to remote write during replay of existing WAL.",
        );
        per_consumer(out, name, &|_| 0);
    }
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> storage::Error {
    storage::Error::backend(e)
}

fn decode(rec: &[u8]) -> storage::Result<WalRecord> {
    Ok(match RecordType::of(rec) {
        RecordType::Series => {
            let mut out = Vec::new();
            record::decode_series(rec, &mut out).map_err(backend)?;
            WalRecord::Series(out.into_iter().map(|s| (s.series_ref, s.labels)).collect())
        }
        RecordType::Samples => {
            let mut out = Vec::new();
            record::decode_samples(rec, &mut out).map_err(backend)?;
            WalRecord::Samples(out.into_iter().map(|s| (s.series_ref, s.t, s.v)).collect())
        }
        RecordType::Exemplars => {
            let mut out = Vec::new();
            record::decode_exemplars(rec, &mut out).map_err(backend)?;
            WalRecord::Exemplars(
                out.into_iter()
                    .map(|e| (e.series_ref, e.t, e.v, e.labels))
                    .collect(),
            )
        }
        RecordType::HistogramSamples => {
            let mut out = Vec::new();
            record::decode_histogram_samples(rec, &mut out).map_err(backend)?;
            WalRecord::Histograms(out.into_iter().map(|s| (s.series_ref, s.t, s.h)).collect())
        }
        RecordType::FloatHistogramSamples => {
            let mut out = Vec::new();
            record::decode_float_histogram_samples(rec, &mut out).map_err(backend)?;
            WalRecord::FloatHistograms(out.into_iter().map(|s| (s.series_ref, s.t, s.fh)).collect())
        }
        RecordType::Metadata => {
            let mut out = Vec::new();
            record::decode_metadata(rec, &mut out).map_err(backend)?;
            WalRecord::Metadata(
                out.into_iter()
                    .map(|m| {
                        let meta = storage::Metadata {
                            metric_type: storage::MetricType::from_wal_code(m.typ),
                            unit: m.unit,
                            help: m.help,
                        };
                        (m.series_ref, meta)
                    })
                    .collect(),
            )
        }
        _ => WalRecord::Other,
    })
}

/// CRC32-Castagnoli of `n` zero bytes (for the filler fragment below).
fn crc32c_zeros(n: usize) -> u32 {
    let mut crc = !0u32;
    for _ in 0..n {
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

impl WalSource for TsdbWalSource {
    fn segments(&mut self) -> storage::Result<Option<(u64, u64)>> {
        wlog::segment_range(&self.dir).map_err(backend)
    }

    fn last_checkpoint(&mut self) -> storage::Result<Option<u64>> {
        Ok(tsdb::checkpoint::last_checkpoint(&self.dir)
            .map_err(backend)?
            .map(|(index, _)| index))
    }

    fn read_checkpoint(&mut self, index: u64) -> storage::Result<Vec<WalRecord>> {
        let dir = tsdb::checkpoint::checkpoint_dir(&self.dir, index);
        let segs = wlog::reader::SegmentReader::open(&dir, None, None).map_err(backend)?;
        let mut reader = Reader::new(segs);
        let mut out = Vec::new();
        while let Some(rec) = reader.next_record().map_err(backend)? {
            out.push(self.decode(rec)?);
        }
        Ok(out)
    }

    /// Reads the segment from the page holding `offset` on. The bytes of that page before
    /// `offset` (complete records already returned) are replaced by one filler fragment of the
    /// same length, so the reader stays page-aligned without seeing half records. A record
    /// still being written at the end (a torn tail) ends the read without an error.
    fn read_segment(&mut self, index: u64, offset: u64) -> storage::Result<(Vec<WalRecord>, u64)> {
        let path = wlog::segment_name(&self.dir, index);
        self.metrics.current_segment.store(index, Ordering::Relaxed);
        let mut file = File::open(&path).map_err(backend)?;
        let page_start = offset - offset % PAGE_SIZE as u64;
        file.seek(SeekFrom::Start(page_start)).map_err(backend)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(backend)?;
        let gap = (offset - page_start) as usize;
        if gap > 0 {
            if gap < RECORD_HEADER_SIZE || gap > bytes.len() {
                return Err(storage::Error::InvalidRemoteRequest {
                    what: "WAL offset",
                    reason: format!("{offset} is not a record boundary of {}", path.display()),
                });
            }
            let len = gap - RECORD_HEADER_SIZE;
            bytes[0] = 1; // a full record
            bytes[1..3].copy_from_slice(&(len as u16).to_be_bytes());
            bytes[3..7].copy_from_slice(&crc32c_zeros(len).to_be_bytes());
            bytes[RECORD_HEADER_SIZE..gap].fill(0);
        }
        let mut reader = Reader::new(std::io::Cursor::new(bytes));
        let mut out = Vec::new();
        let mut end = offset;
        let mut first = gap > 0;
        // A torn or damaged tail stops here; the WAL's own repair deals with real damage.
        while let Ok(Some(rec)) = reader.next_record() {
            if first {
                first = false;
                end = page_start + reader.offset();
                continue;
            }
            out.push(self.decode(rec)?);
            end = page_start + reader.offset();
        }
        Ok((out, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Labels;
    use tsdb::record::{RefSample, RefSeries};
    use tsdb::wlog::{Wal, WalOptions};

    fn series_rec(r: u64, name: &str) -> Vec<u8> {
        let mut buf = Vec::new();
        record::encode_series(
            &[RefSeries {
                series_ref: r,
                labels: Labels::from_pairs([("__name__", name)]),
            }],
            &mut buf,
        );
        buf
    }

    fn samples_rec(r: u64, ts: std::ops::Range<i64>) -> Vec<u8> {
        let samples: Vec<RefSample> = ts
            .map(|t| RefSample {
                series_ref: r,
                t,
                v: t as f64,
            })
            .collect();
        let mut buf = Vec::new();
        record::encode_samples(&samples, &mut buf);
        buf
    }

    fn samples_of(recs: &[WalRecord]) -> usize {
        recs.iter()
            .map(|r| match r {
                WalRecord::Samples(s) => s.len(),
                _ => 0,
            })
            .sum()
    }

    #[test]
    fn tails_a_live_tsdb_segment_incrementally() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        wal.log(&[&series_rec(1, "a")]).unwrap();
        // Big records span pages, small ones share them.
        wal.log(&[&samples_rec(1, 0..5000)]).unwrap();
        wal.log(&[&samples_rec(1, 5000..5003)]).unwrap();
        let mut src = TsdbWalSource::new(dir.path());
        let seg = src.segments().unwrap().unwrap().1;
        let (recs, off) = src.read_segment(seg, 0).unwrap();
        assert_eq!(
            recs[0],
            WalRecord::Series(vec![(1, Labels::from_pairs([("__name__", "a")]))])
        );
        assert_eq!(samples_of(&recs), 5003);
        // Nothing new yet.
        let (recs, off2) = src.read_segment(seg, off).unwrap();
        assert!(recs.is_empty());
        assert_eq!(off2, off);
        // More records: only they come back, from the middle of a page.
        for k in 0..20 {
            wal.log(&[&samples_rec(1, 10_000 + k * 1000..10_000 + k * 1000 + 700)])
                .unwrap();
        }
        let (recs, off3) = src.read_segment(seg, off).unwrap();
        assert_eq!(samples_of(&recs), 20 * 700);
        assert!(off3 > off);
        assert!(src.read_segment(seg, off3).unwrap().0.is_empty());
        assert_eq!(src.last_checkpoint().unwrap(), None);
    }

    /// Records read (by Go's type names), the segment being read and decode failures land
    /// in the consumer's `prometheus_wal_watcher_*` series.
    #[test]
    fn reads_are_counted_in_the_watcher_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        wal.log(&[&series_rec(1, "a")]).unwrap();
        wal.log(&[&samples_rec(1, 0..3)]).unwrap();
        wal.log(&[&samples_rec(1, 3..6)]).unwrap();
        let metrics = Arc::new(WatcherMetrics::default());
        let mut src = TsdbWalSource::with_metrics(dir.path(), metrics.clone());
        let seg = src.segments().unwrap().unwrap().1;
        src.read_segment(seg, 0).unwrap();
        // A series record too short to decode.
        wal.log(&[&[1u8, 0x80]]).unwrap();
        let (_, off) = src.read_segment(seg, 0).unwrap_or((Vec::new(), 0));
        assert_eq!(off, 0, "the broken record fails the read");
        let mut out = String::new();
        WatcherMetrics::write_text_all(&[("q1", &metrics)], &mut out);
        for line in [
            "prometheus_wal_watcher_current_segment{consumer=\"q1\"} 0\n",
            "prometheus_wal_watcher_record_decode_failures_total{consumer=\"q1\"} 1\n",
            "prometheus_wal_watcher_records_read_total{consumer=\"q1\",type=\"samples\"} 4\n",
            "prometheus_wal_watcher_records_read_total{consumer=\"q1\",type=\"series\"} 3\n",
            "prometheus_wal_watcher_notifications_skipped_total{consumer=\"q1\"} 0\n",
            "prometheus_wal_watcher_samples_sent_pre_tailing_total{consumer=\"q1\"} 0\n",
        ] {
            assert!(out.contains(line), "{line} not in\n{out}");
        }
        assert_eq!(out.matches("# TYPE ").count(), 5, "{out}");
        // No queue, no families.
        let mut none = String::new();
        WatcherMetrics::write_text_all(&[], &mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn histogram_records_reach_the_watcher() {
        use model::{FloatHistogram, Histogram, Span};
        use tsdb::record::{RefFloatHistogramSample, RefHistogramSample};
        let h = Histogram {
            count: 3,
            sum: 1.5,
            positive_spans: vec![Span {
                offset: 0,
                length: 2,
            }],
            positive_buckets: vec![1, 1],
            ..Histogram::default()
        };
        let nhcb = Histogram {
            schema: model::histogram::CUSTOM_BUCKETS_SCHEMA,
            custom_values: vec![0.5, 1.0],
            ..h.clone()
        };
        let fh = FloatHistogram {
            count: 2.5,
            ..h.to_float()
        };
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        record::encode_histogram_samples(
            &[RefHistogramSample {
                series_ref: 1,
                t: 10,
                h: h.clone(),
            }],
            false,
            &mut a,
        );
        record::encode_histogram_samples(
            &[RefHistogramSample {
                series_ref: 2,
                t: 20,
                h: nhcb.clone(),
            }],
            true,
            &mut b,
        );
        record::encode_float_histogram_samples(
            &[RefFloatHistogramSample {
                series_ref: 3,
                t: 30,
                fh: fh.clone(),
            }],
            false,
            &mut c,
        );
        wal.log(&[&a, &b, &c]).unwrap();
        let mut src = TsdbWalSource::new(dir.path());
        let seg = src.segments().unwrap().unwrap().1;
        let (recs, _) = src.read_segment(seg, 0).unwrap();
        assert_eq!(
            recs,
            [
                WalRecord::Histograms(vec![(1, 10, h)]),
                WalRecord::Histograms(vec![(2, 20, nhcb)]),
                WalRecord::FloatHistograms(vec![(3, 30, fh)]),
            ]
        );
    }

    #[test]
    fn metadata_records_reach_the_watcher() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        let mut rec = Vec::new();
        record::encode_metadata(
            &[record::RefMetadata {
                series_ref: 1,
                typ: 5,
                unit: "seconds".into(),
                help: "Latency.".into(),
            }],
            &mut rec,
        );
        wal.log(&[&series_rec(1, "a"), &rec]).unwrap();
        let mut src = TsdbWalSource::new(dir.path());
        let seg = src.segments().unwrap().unwrap().1;
        let (recs, _) = src.read_segment(seg, 0).unwrap();
        assert_eq!(
            recs[1],
            WalRecord::Metadata(vec![(
                1,
                storage::Metadata {
                    metric_type: storage::MetricType::Summary,
                    unit: "seconds".into(),
                    help: "Latency.".into(),
                }
            )])
        );
    }
}
