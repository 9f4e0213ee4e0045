//! Tests of the 2.0 receiver: negotiation, counts, partial writes and bad payloads.

use std::sync::{Arc, Mutex};

use model::Histogram;
use prompb::write_v2::{
    Exemplar as PbExemplar, Metadata as PbMetadata, Sample, SymbolTable, TimeSeries,
};
use proptest::prelude::*;

use super::*;
use crate::remote::codec::encode_snappy;
use crate::remote::histogram::histogram_to_proto;

/// Records appends; fails as scripted: negative sample values are out of order, NaN
/// exemplar values are out of order, a sample at t = 666 is a storage failure.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);
struct RecorderApp(Recorder, Vec<String>);

impl Appendable for Recorder {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(RecorderApp(self.clone(), Vec::new()))
    }
}

impl Appender for RecorderApp {
    fn append(&mut self, _: u64, l: &Labels, t: i64, v: f64) -> Result<u64> {
        if t == 666 {
            return Err(Error::Backend("disk full".into()));
        }
        if v < 0.0 {
            return Err(Error::OutOfOrderSample);
        }
        self.1.push(format!("sample {l} {t} {v}"));
        Ok(1)
    }
    fn append_histogram(
        &mut self,
        _: u64,
        l: &Labels,
        t: i64,
        h: Option<&Histogram>,
        fh: Option<&model::FloatHistogram>,
    ) -> Result<u64> {
        let count = h.map_or_else(|| fh.map_or(-1.0, |f| f.count), |h| h.count as f64);
        self.1.push(format!("histogram {l} {t} count={count}"));
        Ok(1)
    }
    fn append_exemplar(&mut self, _: u64, l: &Labels, e: &Exemplar) -> Result<u64> {
        if e.value.is_nan() {
            return Err(Error::OutOfOrderExemplar);
        }
        self.1.push(format!(
            "exemplar {l} {} {} {} {}",
            e.labels, e.ts, e.value, e.has_ts
        ));
        Ok(1)
    }
    fn commit(self: Box<Self>) -> Result<()> {
        self.0.0.lock().expect("lock").extend(self.1);
        Ok(())
    }
    fn rollback(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

impl Recorder {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().expect("lock"))
    }
}

/// A request builder over one symbol table.
#[derive(Default)]
struct Req {
    symbols: SymbolTable,
    series: Vec<TimeSeries>,
}

impl Req {
    fn refs(&mut self, labels: &[(&str, &str)]) -> Vec<u32> {
        let mut refs = Vec::new();
        self.symbols
            .symbolize_labels(labels.iter().copied(), &mut refs);
        refs
    }
    fn series(mut self, labels: &[(&str, &str)], samples: &[(i64, f64)]) -> Self {
        let labels_refs = self.refs(labels);
        self.series.push(TimeSeries {
            labels_refs,
            samples: samples
                .iter()
                .map(|&(timestamp, value)| Sample { value, timestamp })
                .collect(),
            ..Default::default()
        });
        self
    }
    fn last(&mut self) -> &mut TimeSeries {
        self.series.last_mut().expect("a series")
    }
    fn build(mut self) -> Request {
        Request {
            symbols: self.symbols.take_symbols(),
            timeseries: self.series,
        }
    }
}

fn hist(count: u64) -> Histogram {
    Histogram {
        count,
        zero_count: count,
        sum: 1.0,
        zero_threshold: 0.001,
        schema: 0,
        ..Default::default()
    }
}

#[test]
fn content_type_negotiation_follows_prometheus() {
    assert_eq!(parse_content_type(""), Ok(WriteProtoMsg::V1));
    assert_eq!(
        parse_content_type("application/x-protobuf"),
        Ok(WriteProtoMsg::V1)
    );
    assert_eq!(
        parse_content_type("application/x-protobuf;proto=prometheus.WriteRequest"),
        Ok(WriteProtoMsg::V1)
    );
    assert_eq!(
        parse_content_type(WriteProtoMsg::V2.content_type()),
        Ok(WriteProtoMsg::V2)
    );
    assert_eq!(
        parse_content_type(
            " application/x-protobuf;charset=x;proto=io.prometheus.write.v2.Request "
        ),
        Ok(WriteProtoMsg::V2)
    );
    assert_eq!(
        parse_content_type("application/json").unwrap_err(),
        "expected application/x-protobuf as the first (media) part, got application/json content-type"
    );
    assert_eq!(
        parse_content_type("application/x-protobuf;proto=io.prometheus.write.v3.Request")
            .unwrap_err(),
        "got application/x-protobuf;proto=io.prometheus.write.v3.Request content type; unknown remote write protobuf message io.prometheus.write.v3.Request, supported: prometheus.WriteRequest, io.prometheus.write.v2.Request"
    );
    assert!(
        parse_content_type("application/x-protobuf;proto")
            .unwrap_err()
            .contains("expected parameters to be key-values, got proto in"),
    );
    assert_eq!(WriteProtoMsg::V2.version(), "2.0.0");
    assert_eq!(
        WriteProtoMsg::from_name("io.prometheus.write.v2.Request"),
        Some(WriteProtoMsg::V2)
    );
}

#[test]
fn written_headers_parse_with_confirmation() {
    let headers = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        }
    };
    let (s, errs) = WriteStats::from_headers(headers(&[]));
    assert_eq!(s, WriteStats::default());
    assert!(!s.confirmed && s.no_data_written() && errs.is_empty());
    let (s, errs) = WriteStats::from_headers(headers(&[
        ("x-prometheus-remote-write-samples-written", "3"),
        ("x-prometheus-remote-write-exemplars-written", "x"),
    ]));
    assert_eq!(
        s,
        WriteStats {
            samples: 3,
            histograms: 0,
            exemplars: 0,
            confirmed: true
        }
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    let stats = WriteStats {
        samples: 1,
        histograms: 2,
        exemplars: 3,
        confirmed: false,
    };
    assert_eq!(
        stats.headers().map(|(n, v)| format!("{n}: {v}")),
        [
            "X-Prometheus-Remote-Write-Samples-Written: 1",
            "X-Prometheus-Remote-Write-Histograms-Written: 2",
            "X-Prometheus-Remote-Write-Exemplars-Written: 3",
        ]
    );
}

#[test]
fn samples_histograms_and_exemplars_are_written_and_counted() {
    let mut r = Req::default().series(&[("__name__", "a"), ("job", "x")], &[(1, 1.0), (2, 2.0)]);
    let ex = r.refs(&[("trace_id", "t1")]);
    r.last().exemplars.push(PbExemplar {
        labels_refs: ex,
        value: 1.5,
        timestamp: 2,
    });
    r.last().metadata = Some(PbMetadata {
        r#type: prompb::write_v2::metadata::MetricType::Counter as i32,
        help_ref: 0,
        unit_ref: 0,
    });
    let mut r = r.series(&[("__name__", "h")], &[]);
    r.last().histograms.push(histogram_to_proto(5, &hist(4)));
    let db = Recorder::default();
    let out = append_write_v2_body(&encode_write_v2_request(&r.build()), &db);
    assert_eq!(
        out,
        WriteV2Outcome {
            status: 204,
            stats: Some(WriteStats {
                samples: 2,
                histograms: 1,
                exemplars: 1,
                confirmed: false
            }),
            error: None,
            invalid_labels_samples: 0,
        }
    );
    assert_eq!(
        db.take(),
        [
            r#"sample {__name__="a", job="x"} 1 1"#,
            r#"sample {__name__="a", job="x"} 2 2"#,
            r#"exemplar {__name__="a", job="x"} {trace_id="t1"} 2 1.5 true"#,
            r#"histogram {__name__="h"} 5 count=4"#,
        ]
    );
}

#[test]
fn bad_series_are_skipped_and_the_rest_is_written_with_a_400() {
    let mut r = Req::default()
        .series(&[("__name__", "good")], &[(1, 1.0), (2, -1.0)])
        .series(&[("job", "no_name")], &[(1, 1.0)])
        .series(&[("__name__", "dup"), ("a", "1"), ("a", "2")], &[(1, 1.0)])
        .series(&[("__name__", "future")], &[(i64::MAX / 2, 1.0)]);
    let ooo = r.refs(&[("trace_id", "late")]);
    r.last().exemplars.push(PbExemplar {
        labels_refs: ooo,
        value: f64::NAN,
        timestamp: 1,
    });
    let mut r = r.series(&[("__name__", "badhist")], &[]);
    let mut bad = histogram_to_proto(5, &hist(4));
    bad.positive_spans.push(prompb::BucketSpan {
        offset: 0,
        length: 3,
    });
    r.last().histograms.push(bad);
    let db = Recorder::default();
    let out = append_write_v2_request(&r.build(), &db);
    assert_eq!(out.status, 400);
    assert_eq!(
        out.stats,
        Some(WriteStats {
            samples: 1,
            ..WriteStats::default()
        })
    );
    let err = out.error.expect("an error");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 6, "{err}");
    assert_eq!(
        lines[0],
        r#"out of order sample for series {__name__="good"}"#
    );
    assert_eq!(
        lines[1],
        r#"invalid metric name or labels, got {job="no_name"}"#
    );
    assert_eq!(
        lines[2],
        r#"invalid labels for series, labels {__name__="dup", a="1", a="2"}, duplicated label a"#
    );
    assert_eq!(
        lines[3],
        r#"out of bounds: timestamp is too far in the future for series {__name__="future"}"#
    );
    assert_eq!(
        lines[4],
        r#"out of order exemplar for series {__name__="future"}"#
    );
    assert!(
        lines[5].starts_with("invalid histogram: ")
            && lines[5].ends_with(r#"for series {__name__="badhist"}"#),
        "{}",
        lines[5]
    );
    assert_eq!(db.take(), [r#"sample {__name__="good"} 1 1"#]);
    // The two series with bad labels had one sample each.
    assert_eq!(out.invalid_labels_samples, 2);
}

#[test]
fn invalid_label_samples_are_counted_in_the_shared_counter() {
    let opts = ReceiverOptions::default();
    let mut r = Req::default()
        .series(&[("job", "no_name")], &[(1, 1.0), (2, 2.0)])
        .series(&[("__name__", "ok")], &[(1, 1.0)]);
    let _ = r.refs(&[]);
    let mut r = r.series(&[("__name__", "h"), ("x", "1"), ("x", "2")], &[]);
    r.last().histograms.push(histogram_to_proto(5, &hist(4)));
    let req = r.build();
    for _ in 0..2 {
        let out = append_write_v2_request_with(&req, &Recorder::default(), &opts);
        assert_eq!(out.invalid_labels_samples, 3);
    }
    assert_eq!(opts.invalid_labels_samples.load(Ordering::Relaxed), 6);
}

#[test]
fn created_timestamps_become_zero_samples_only_with_the_option() {
    let mut r = Req::default().series(&[("__name__", "c")], &[(10, 1.0), (20, 2.0)]);
    r.last().created_timestamp = 5;
    let mut r = r.series(&[("__name__", "h")], &[]);
    r.last().created_timestamp = 3;
    r.last().histograms.push(histogram_to_proto(7, &hist(4)));
    r.last().histograms.push(histogram_to_proto(8, &hist(5)));
    // A created timestamp not before the sample is skipped without an error.
    let mut r = r.series(&[("__name__", "late")], &[(4, 1.0)]);
    r.last().created_timestamp = 4;
    let req = r.build();

    let db = Recorder::default();
    let out = append_write_v2_request(&req, &db);
    assert_eq!(out.status, 204);
    assert!(
        db.take()
            .iter()
            .all(|l| !l.ends_with(" 5 0") && !l.contains("count=0")),
        "no zero samples without the option"
    );

    let on = ReceiverOptions {
        ingest_ct_zero_sample: true,
        ..ReceiverOptions::default()
    };
    let db = Recorder::default();
    let out = append_write_v2_request_with(&req, &db, &on);
    assert_eq!(out.status, 204, "{:?}", out.error);
    // The zero samples are not counted as written.
    assert_eq!(out.stats.map(|s| (s.samples, s.histograms)), Some((3, 2)));
    assert_eq!(
        db.take(),
        [
            r#"sample {__name__="c"} 5 0"#,
            r#"sample {__name__="c"} 10 1"#,
            r#"sample {__name__="c"} 20 2"#,
            r#"histogram {__name__="h"} 3 count=0"#,
            r#"histogram {__name__="h"} 7 count=4"#,
            r#"histogram {__name__="h"} 3 count=0"#,
            r#"histogram {__name__="h"} 8 count=5"#,
            r#"sample {__name__="late"} 4 1"#,
        ]
    );

    // A real storage refuses the second zero histogram as out of order, silently.
    let mem = crate::MemStorage::new();
    let out = append_write_v2_request_with(&req, &mem, &on);
    assert_eq!(out.status, 204, "{:?}", out.error);
    let q = crate::Queryable::querier(&mem, 0, 100).expect("querier");
    let m = model::Matcher::new(model::MatchType::Equal, "__name__", "c").expect("matcher");
    let mut set = q.select(false, None, &[m]);
    let mut ts = Vec::new();
    while let Some(series) = set.next() {
        let series = series.expect("series");
        let mut it = series.iterator();
        while it.next() != crate::ValueType::None {
            ts.push(it.at());
        }
    }
    assert_eq!(ts, [(5, 0.0), (10, 1.0), (20, 2.0)]);
}

#[test]
fn bad_symbol_references_are_400s_not_panics() {
    let bad_refs = |labels_refs: Vec<u32>| Request {
        symbols: vec![String::new(), "__name__".into(), "a".into()],
        timeseries: vec![TimeSeries {
            labels_refs,
            samples: vec![Sample {
                value: 1.0,
                timestamp: 1,
            }],
            ..Default::default()
        }],
    };
    let db = Recorder::default();
    for (refs, want) in [
        (
            vec![1],
            "invalid labels for series: odd number of label references (1), pairs expected",
        ),
        (
            vec![1, 9],
            "invalid labels for series: symbol reference 9 out of range (symbols: 3)",
        ),
        (
            vec![u32::MAX, 2],
            "invalid labels for series: symbol reference 4294967295 out of range (symbols: 3)",
        ),
        (vec![], "invalid metric name or labels, got {}"),
        // Go quotes a name outside the legacy set, the empty one too.
        (vec![0, 2], r#"invalid metric name or labels, got {""="a"}"#),
    ] {
        let out = append_write_v2_request(&bad_refs(refs.clone()), &db);
        assert_eq!(out.status, 400, "{refs:?}");
        assert_eq!(out.error.as_deref(), Some(want), "{refs:?}");
        assert_eq!(out.stats, Some(WriteStats::default()));
    }
    // No symbols at all.
    let mut req = bad_refs(vec![1, 2]);
    req.symbols.clear();
    let out = append_write_v2_request(&req, &db);
    assert_eq!(out.status, 400);
    // Metadata and exemplar references are checked too.
    let mut req = bad_refs(vec![1, 2]);
    req.timeseries[0].metadata = Some(PbMetadata {
        r#type: 1,
        help_ref: 7,
        unit_ref: 0,
    });
    let out = append_write_v2_request(&req, &db);
    assert_eq!(
        out.error.as_deref(),
        Some(
            r#"invalid metadata for series {__name__="a"}: symbol reference 7 out of range (symbols: 3)"#
        )
    );
    let mut req = bad_refs(vec![1, 2]);
    req.timeseries[0].exemplars.push(PbExemplar {
        labels_refs: vec![3, 3],
        value: 1.0,
        timestamp: 1,
    });
    let out = append_write_v2_request(&req, &db);
    assert_eq!(out.status, 400);
    assert_eq!(out.stats.map(|s| s.samples), Some(1));
    assert!(db.take().iter().all(|l| !l.starts_with("exemplar")));
}

#[test]
fn undecodable_bodies_are_400s_without_written_headers() {
    let db = Recorder::default();
    let out = append_write_v2_body(b"not snappy at all", &db);
    assert_eq!(out.status, 400);
    assert_eq!(out.stats, None);
    assert!(
        out.error
            .as_deref()
            .is_some_and(|e| e == "snappy: corrupt input"),
        "{out:?}"
    );
    // Valid snappy, invalid protobuf (a length running past the end).
    let out = append_write_v2_body(&encode_snappy(&[0x22, 0x05, b'a']), &db);
    assert_eq!(out.status, 400);
    assert!(
        out.error
            .as_deref()
            .is_some_and(|e| e.contains("protobuf decoding")),
        "{out:?}"
    );
    // A symbol that is not UTF-8.
    let out = append_write_v2_body(&encode_snappy(&[0x22, 0x02, 0xff, 0xfe]), &db);
    assert_eq!(out.status, 400);
    // A 1.0 body sent as 2.0 decodes as an empty request: nothing written.
    let v1 = prompb::WriteRequest {
        timeseries: vec![prompb::TimeSeries {
            labels: vec![prompb::Label {
                name: "__name__".into(),
                value: "x".into(),
            }],
            samples: vec![prompb::Sample {
                value: 1.0,
                timestamp: 1,
            }],
            ..Default::default()
        }],
        metadata: vec![],
    };
    let out = append_write_v2_body(&encode_snappy(&v1.encode_to_vec()), &db);
    assert_eq!(out.status, 204);
    assert_eq!(out.stats, Some(WriteStats::default()));
    assert!(db.take().is_empty());
}

#[test]
fn storage_failures_roll_back_and_answer_500_with_zero_counts() {
    let r = Req::default()
        .series(&[("__name__", "a")], &[(1, 1.0)])
        .series(&[("__name__", "b")], &[(666, 1.0)]);
    let db = Recorder::default();
    let out = append_write_v2_request(&r.build(), &db);
    assert_eq!(out.status, 500);
    assert_eq!(out.stats, Some(WriteStats::default()));
    assert_eq!(out.error.as_deref(), Some("disk full"));
    assert!(db.take().is_empty(), "rolled back");
}

#[test]
fn high_resolution_histograms_are_reduced_to_schema_8() {
    let mut r = Req::default().series(&[("__name__", "h")], &[]);
    let mut h = hist(3);
    h.schema = 12;
    h.zero_count = 1;
    h.positive_spans = vec![model::Span {
        offset: 0,
        length: 2,
    }];
    h.positive_buckets = vec![1, 0];
    r.last().histograms.push(histogram_to_proto(5, &h));
    let db = Recorder::default();
    let out = append_write_v2_request(&r.build(), &db);
    assert_eq!(out.status, 204, "{out:?}");
    assert_eq!(db.take(), [r#"histogram {__name__="h"} 5 count=3"#]);
}

proptest! {
    #[test]
    fn arbitrary_bodies_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
        let db = Recorder::default();
        let out = append_write_v2_body(&encode_snappy(&raw), &db);
        prop_assert!(matches!(out.status, 204 | 400 | 500));
        let _ = append_write_v2_body(&raw, &db);
    }

    #[test]
    fn arbitrary_refs_never_panic(
        n_symbols in 0usize..4,
        refs in proptest::collection::vec(0u32..6, 0..8),
        ex_refs in proptest::collection::vec(0u32..6, 0..4),
        t in any::<i64>(),
        v in any::<f64>(),
    ) {
        let symbols = ["", "__name__", "x", "le"][..n_symbols].iter().map(|s| s.to_string()).collect();
        let req = Request {
            symbols,
            timeseries: vec![TimeSeries {
                labels_refs: refs,
                samples: vec![Sample { value: v, timestamp: t }],
                exemplars: vec![PbExemplar { labels_refs: ex_refs, value: v, timestamp: t }],
                ..Default::default()
            }],
        };
        let out = append_write_v2_request(&req, &Recorder::default());
        prop_assert!(matches!(out.status, 204 | 400 | 500));
    }
}

#[test]
fn snappy_headers_claiming_impossible_sizes_are_refused_before_allocating() {
    // Found by fuzzing: five bytes claiming a 2.9 GB block.
    let out = append_write_v2_body(&[184, 255, 255, 255, 10], &Recorder::default());
    assert_eq!(out.status, 400);
    assert!(
        out.error
            .as_deref()
            .is_some_and(|e| e == "snappy: corrupt input"),
        "{out:?}"
    );
    // The most compressible input there is still decodes.
    let zeros = vec![0u8; 1 << 20];
    let packed = encode_snappy(&zeros);
    assert!(packed.len() * 22 + 64 >= zeros.len());
    assert_eq!(
        crate::remote::decode_snappy(&packed, "write request").unwrap(),
        zeros
    );
}

/// Records metadata updates; refuses those of series named `refused`.
#[derive(Clone, Default)]
struct MetaRecorder(Arc<Mutex<Vec<String>>>);
struct MetaRecorderApp(MetaRecorder, Vec<String>);

impl Appendable for MetaRecorder {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(MetaRecorderApp(self.clone(), Vec::new()))
    }
}

impl Appender for MetaRecorderApp {
    fn append(&mut self, _: u64, _: &Labels, _: i64, _: f64) -> Result<u64> {
        Ok(1)
    }
    fn update_metadata(&mut self, r: u64, l: &Labels, m: &Metadata) -> Result<u64> {
        if l.metric_name() == Some("refused") {
            return Err(Error::Backend("no metadata here".into()));
        }
        self.1.push(format!(
            "{l} {} unit={:?} help={:?}",
            m.metric_type.as_str(),
            m.unit,
            m.help
        ));
        Ok(r)
    }
    fn commit(self: Box<Self>) -> Result<()> {
        self.0.0.lock().expect("lock").extend(self.1);
        Ok(())
    }
    fn rollback(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

#[test]
fn metadata_goes_to_the_storage_and_refusals_are_counted() {
    let mut r = Req::default().series(&[("__name__", "c_total")], &[(1, 1.0)]);
    let help = r.refs(&[("help", "Requests.")]);
    let unit = r.refs(&[("unit", "seconds")]);
    r.last().metadata = Some(PbMetadata {
        r#type: prompb::write_v2::metadata::MetricType::Counter as i32,
        help_ref: help[1],
        unit_ref: unit[1],
    });
    let r = r
        .series(&[("__name__", "plain")], &[(1, 1.0)])
        .series(&[("__name__", "refused")], &[(1, 1.0), (2, 2.0)]);
    let db = MetaRecorder::default();
    let opts = ReceiverOptions::default();
    let out = append_write_v2_request_with(&r.build(), &db, &opts);
    // Not the sender's error.
    assert_eq!(out.status, 204, "{:?}", out.error);
    assert_eq!(
        *db.0.lock().expect("lock"),
        [
            r#"{__name__="c_total"} counter unit="seconds" help="Requests.""#,
            r#"{__name__="plain"} unknown unit="" help="""#,
        ]
    );
    assert_eq!(opts.without_metadata_samples.load(Ordering::Relaxed), 2);
}
