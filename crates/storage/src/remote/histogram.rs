//! Native histograms in remote write and read: conversions between model histograms and the `prompb.Histogram` message (Prometheus's `prompb/codec.go`).

use model::{CounterResetHint, FloatHistogram, Histogram, Span};
use prompb::histogram::{Count, ResetHint, ZeroCount};

/// A native histogram sample as remote write carries it: integer counts (delta-encoded
/// buckets) or float counts (absolute buckets), told apart by the message's `count` oneof.
#[derive(Debug, Clone, PartialEq)]
pub enum HistogramSample {
    /// Integer counts (`count_int`, `zero_count_int`, `*_deltas`).
    Int(Histogram),
    /// Float counts (`count_float`, `zero_count_float`, `*_counts`).
    Float(FloatHistogram),
}

impl HistogramSample {
    /// The histogram as the pair [`crate::Appender::append_histogram`] takes.
    pub fn parts(&self) -> (Option<&Histogram>, Option<&FloatHistogram>) {
        match self {
            HistogramSample::Int(h) => (Some(h), None),
            HistogramSample::Float(fh) => (None, Some(fh)),
        }
    }

    /// The schema of either kind.
    pub fn schema(&self) -> i32 {
        match self {
            HistogramSample::Int(h) => h.schema,
            HistogramSample::Float(fh) => fh.schema,
        }
    }

    /// The histogram with float counts (integer counts converted).
    pub fn to_float(&self) -> FloatHistogram {
        match self {
            HistogramSample::Int(h) => h.to_float(),
            HistogramSample::Float(fh) => fh.clone(),
        }
    }
}

fn hint_to_proto(h: CounterResetHint) -> i32 {
    (match h {
        CounterResetHint::Unknown => ResetHint::Unknown,
        CounterResetHint::CounterReset => ResetHint::Yes,
        CounterResetHint::NotCounterReset => ResetHint::No,
        CounterResetHint::Gauge => ResetHint::Gauge,
    }) as i32
}

/// The model hint of a wire `reset_hint` (values Prometheus does not define read as unknown).
pub(crate) fn hint_from_proto(v: i32) -> CounterResetHint {
    match v {
        1 => CounterResetHint::CounterReset,
        2 => CounterResetHint::NotCounterReset,
        3 => CounterResetHint::Gauge,
        _ => CounterResetHint::Unknown,
    }
}

fn spans_to_proto(spans: &[Span]) -> Vec<prompb::BucketSpan> {
    spans
        .iter()
        .map(|s| prompb::BucketSpan {
            offset: s.offset,
            length: s.length,
        })
        .collect()
}

fn spans_from_proto(spans: &[prompb::BucketSpan]) -> Vec<Span> {
    spans
        .iter()
        .map(|s| Span {
            offset: s.offset,
            length: s.length,
        })
        .collect()
}

/// An integer histogram at time `t` as a protobuf message (Go's `FromIntHistogram`:
/// `count_int`, `zero_count_int`, delta-encoded buckets, custom values kept).
pub fn histogram_to_proto(t: i64, h: &Histogram) -> prompb::Histogram {
    prompb::Histogram {
        count: Some(Count::CountInt(h.count)),
        sum: h.sum,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: Some(ZeroCount::ZeroCountInt(h.zero_count)),
        negative_spans: spans_to_proto(&h.negative_spans),
        negative_deltas: h.negative_buckets.clone(),
        negative_counts: Vec::new(),
        positive_spans: spans_to_proto(&h.positive_spans),
        positive_deltas: h.positive_buckets.clone(),
        positive_counts: Vec::new(),
        reset_hint: hint_to_proto(h.counter_reset_hint),
        timestamp: t,
        custom_values: h.custom_values.clone(),
    }
}

/// A float histogram at time `t` as a protobuf message (Go's `FromFloatHistogram`:
/// `count_float`, `zero_count_float`, absolute bucket counts, custom values kept).
pub fn float_histogram_to_proto(t: i64, fh: &FloatHistogram) -> prompb::Histogram {
    prompb::Histogram {
        count: Some(Count::CountFloat(fh.count)),
        sum: fh.sum,
        schema: fh.schema,
        zero_threshold: fh.zero_threshold,
        zero_count: Some(ZeroCount::ZeroCountFloat(fh.zero_count)),
        negative_spans: spans_to_proto(&fh.negative_spans),
        negative_deltas: Vec::new(),
        negative_counts: fh.negative_buckets.clone(),
        positive_spans: spans_to_proto(&fh.positive_spans),
        positive_deltas: Vec::new(),
        positive_counts: fh.positive_buckets.clone(),
        reset_hint: hint_to_proto(fh.counter_reset_hint),
        timestamp: t,
        custom_values: fh.custom_values.clone(),
    }
}

/// Whether a message holds float counts (Go's `IsFloatHistogram`: the `count` oneof is
/// `count_float`; a message without any count is an integer histogram).
pub fn is_float_histogram(hp: &prompb::Histogram) -> bool {
    matches!(hp.count, Some(Count::CountFloat(_)))
}

/// A protobuf histogram as a model histogram of the kind it holds (Go's `ToIntHistogram` /
/// `ToFloatHistogram`): the zero count of the other kind of the `zero_count` oneof reads as
/// 0, as Go's getters do.
pub fn histogram_from_proto(hp: &prompb::Histogram) -> HistogramSample {
    let hint = hint_from_proto(hp.reset_hint);
    if is_float_histogram(hp) {
        HistogramSample::Float(FloatHistogram {
            counter_reset_hint: hint,
            schema: hp.schema,
            zero_threshold: hp.zero_threshold,
            zero_count: match hp.zero_count {
                Some(ZeroCount::ZeroCountFloat(v)) => v,
                _ => 0.0,
            },
            count: match hp.count {
                Some(Count::CountFloat(v)) => v,
                _ => 0.0,
            },
            sum: hp.sum,
            positive_spans: spans_from_proto(&hp.positive_spans),
            negative_spans: spans_from_proto(&hp.negative_spans),
            positive_buckets: hp.positive_counts.clone(),
            negative_buckets: hp.negative_counts.clone(),
            custom_values: hp.custom_values.clone(),
        })
    } else {
        HistogramSample::Int(Histogram {
            counter_reset_hint: hint,
            schema: hp.schema,
            zero_threshold: hp.zero_threshold,
            zero_count: match hp.zero_count {
                Some(ZeroCount::ZeroCountInt(v)) => v,
                _ => 0,
            },
            count: match hp.count {
                Some(Count::CountInt(v)) => v,
                _ => 0,
            },
            sum: hp.sum,
            positive_spans: spans_from_proto(&hp.positive_spans),
            negative_spans: spans_from_proto(&hp.negative_spans),
            positive_buckets: hp.positive_deltas.clone(),
            negative_buckets: hp.negative_deltas.clone(),
            custom_values: hp.custom_values.clone(),
        })
    }
}

/// A protobuf histogram with float counts, converting integer ones (Go's
/// `ToFloatHistogram`).
pub fn float_histogram_from_proto(hp: &prompb::Histogram) -> FloatHistogram {
    match histogram_from_proto(hp) {
        HistogramSample::Int(h) => h.to_float(),
        HistogramSample::Float(fh) => fh,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prompb::Message;

    /// Go's `testHistogram` of storage/remote/codec_test.go.
    fn test_histogram() -> Histogram {
        Histogram {
            count: 5,
            zero_count: 2,
            sum: 18.4,
            zero_threshold: 1e-100,
            schema: 1,
            negative_spans: vec![],
            positive_spans: vec![Span {
                offset: 0,
                length: 4,
            }],
            positive_buckets: vec![1, 1, -1, 0],
            ..Histogram::default()
        }
    }

    #[test]
    fn go_codec_test_histogram_round_trips_both_ways() {
        // Go's TestFromIntToFloatOrIntHistogram: the int histogram stays int, converts to
        // the float histogram with absolute counts [1 2 1 1].
        let h = test_histogram();
        let p = histogram_to_proto(1337, &h);
        assert!(!is_float_histogram(&p));
        assert_eq!(p.timestamp, 1337);
        assert_eq!(p.count, Some(Count::CountInt(5)));
        assert_eq!(p.zero_count, Some(ZeroCount::ZeroCountInt(2)));
        assert_eq!(p.positive_deltas, [1, 1, -1, 0]);
        assert!(p.positive_counts.is_empty());
        assert_eq!(histogram_from_proto(&p), HistogramSample::Int(h.clone()));
        let fh = float_histogram_from_proto(&p);
        assert_eq!(fh.positive_buckets, [1.0, 2.0, 1.0, 1.0]);
        assert_eq!(fh.count, 5.0);
        assert_eq!(fh.zero_count, 2.0);
        assert_eq!(fh, h.to_float());

        let fp = float_histogram_to_proto(1337, &fh);
        assert!(is_float_histogram(&fp));
        assert_eq!(fp.count, Some(Count::CountFloat(5.0)));
        assert_eq!(fp.zero_count, Some(ZeroCount::ZeroCountFloat(2.0)));
        assert_eq!(fp.positive_counts, [1.0, 2.0, 1.0, 1.0]);
        assert!(fp.positive_deltas.is_empty());
        assert_eq!(
            histogram_from_proto(&fp),
            HistogramSample::Float(fh.clone())
        );
        assert_eq!(float_histogram_from_proto(&fp), fh);

        // Through the wire and back.
        let back = prompb::Histogram::decode(fp.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back, fp);
    }

    fn spans(s: &[(i32, u32)]) -> Vec<Span> {
        s.iter()
            .map(|&(offset, length)| Span { offset, length })
            .collect()
    }

    fn proto_spans(s: &[(i32, u32)]) -> Vec<prompb::BucketSpan> {
        s.iter()
            .map(|&(offset, length)| prompb::BucketSpan { offset, length })
            .collect()
    }

    const POS: [(i32, u32); 3] = [(0, 4), (0, 0), (0, 3)];
    const NEG: [(i32, u32); 3] = [(0, 5), (1, 0), (0, 1)];

    /// Go's TestHistogramToProtoConvert and TestFloatHistogramToProtoConvert: the exact
    /// messages (empty spans kept, zero counts set) for every reset hint, and back.
    #[test]
    fn go_histogram_to_proto_convert_tables() {
        for (hint, wire) in [
            (CounterResetHint::Unknown, ResetHint::Unknown),
            (CounterResetHint::CounterReset, ResetHint::Yes),
            (CounterResetHint::NotCounterReset, ResetHint::No),
            (CounterResetHint::Gauge, ResetHint::Gauge),
        ] {
            let h = Histogram {
                counter_reset_hint: hint,
                schema: 0,
                count: 19,
                sum: 2.7,
                positive_spans: spans(&POS),
                positive_buckets: vec![1, 2, -2, 1, -1, 0, 0],
                negative_spans: spans(&NEG),
                negative_buckets: vec![1, 2, -2, 1, -1, 0],
                ..Histogram::default()
            };
            let p = prompb::Histogram {
                count: Some(Count::CountInt(19)),
                sum: 2.7,
                zero_count: Some(ZeroCount::ZeroCountInt(0)),
                negative_spans: proto_spans(&NEG),
                negative_deltas: vec![1, 2, -2, 1, -1, 0],
                positive_spans: proto_spans(&POS),
                positive_deltas: vec![1, 2, -2, 1, -1, 0, 0],
                reset_hint: wire as i32,
                timestamp: 1337,
                ..Default::default()
            };
            assert_eq!(histogram_to_proto(1337, &h), p);
            assert_eq!(histogram_from_proto(&p), HistogramSample::Int(h));

            let fh = FloatHistogram {
                counter_reset_hint: hint,
                schema: 0,
                count: 19.0,
                sum: 2.7,
                positive_spans: spans(&POS),
                positive_buckets: vec![1.0, 2.0, -2.0, 1.0, -1.0, 0.0, 0.0],
                negative_spans: spans(&NEG),
                negative_buckets: vec![1.0, 2.0, -2.0, 1.0, -1.0, 0.0],
                ..FloatHistogram::default()
            };
            let fp = prompb::Histogram {
                count: Some(Count::CountFloat(19.0)),
                sum: 2.7,
                zero_count: Some(ZeroCount::ZeroCountFloat(0.0)),
                negative_spans: proto_spans(&NEG),
                negative_counts: vec![1.0, 2.0, -2.0, 1.0, -1.0, 0.0],
                positive_spans: proto_spans(&POS),
                positive_counts: vec![1.0, 2.0, -2.0, 1.0, -1.0, 0.0, 0.0],
                reset_hint: wire as i32,
                timestamp: 1337,
                ..Default::default()
            };
            assert_eq!(float_histogram_to_proto(1337, &fh), fp);
            assert_eq!(histogram_from_proto(&fp), HistogramSample::Float(fh));
        }
        // Go's TestNilHistogramProto: an empty message converts without trouble.
        assert_eq!(
            float_histogram_from_proto(&prompb::Histogram::default()),
            FloatHistogram::default()
        );
    }

    #[test]
    fn reset_hints_and_custom_values_survive() {
        for (hint, wire) in [
            (CounterResetHint::Unknown, 0),
            (CounterResetHint::CounterReset, 1),
            (CounterResetHint::NotCounterReset, 2),
            (CounterResetHint::Gauge, 3),
        ] {
            let h = Histogram {
                counter_reset_hint: hint,
                schema: model::histogram::CUSTOM_BUCKETS_SCHEMA,
                custom_values: vec![1.0, 2.5, 10.0],
                positive_spans: vec![Span {
                    offset: 0,
                    length: 2,
                }],
                positive_buckets: vec![3, -1],
                count: 5,
                sum: 7.0,
                ..Histogram::default()
            };
            let p = histogram_to_proto(5, &h);
            assert_eq!(p.reset_hint, wire);
            assert_eq!(p.custom_values, [1.0, 2.5, 10.0]);
            assert_eq!(histogram_from_proto(&p), HistogramSample::Int(h.clone()));
            let fp = float_histogram_to_proto(5, &h.to_float());
            assert_eq!(fp.reset_hint, wire);
            assert_eq!(float_histogram_from_proto(&fp), h.to_float());
        }
        // An undefined hint reads as unknown; a message without a count is an integer one.
        let odd = prompb::Histogram {
            reset_hint: 9,
            ..Default::default()
        };
        assert_eq!(
            histogram_from_proto(&odd),
            HistogramSample::Int(Histogram::default())
        );
    }
}
