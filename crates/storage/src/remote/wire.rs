//! A borrowing reader of remote-write 1.0 requests: walks the protobuf wire format of a
//! `WriteRequest` without building the prost messages, so that the receiver allocates
//! nothing per label or sample (prost allocates two `String`s per label of every series).
//!
//! Only the fields the receiver uses are interpreted (`timeseries` → `labels`, `samples`,
//! `exemplars`, `histograms`); every other field is skipped by its wire type, as any protobuf
//! decoder does. Histograms are built as model histograms (their bucket lists need vectors
//! anyway); repeated numeric fields are read both packed and unpacked.

use model::{FloatHistogram, Histogram, Span};

use super::histogram::{HistogramSample, hint_from_proto};
use crate::{Error, Result};

/// A field's payload, by wire type.
enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32,
    Bytes(&'a [u8]),
}

#[cold]
fn malformed(reason: &str) -> Error {
    Error::InvalidRemoteRequest {
        what: "write request",
        reason: format!("protobuf decoding: {reason}"),
    }
}

#[inline]
fn varint(buf: &mut &[u8]) -> Result<u64> {
    // Keys, lengths and small numbers: one byte.
    if let Some((&b, rest)) = buf.split_first()
        && b < 0x80
    {
        *buf = rest;
        return Ok(u64::from(b));
    }
    varint_long(buf)
}

fn varint_long(buf: &mut &[u8]) -> Result<u64> {
    let mut out = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf
            .split_first()
            .ok_or_else(|| malformed("truncated varint"))?;
        *buf = rest;
        out |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(out);
        }
    }
    Err(malformed("varint longer than 10 bytes"))
}

#[inline]
fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
    if buf.len() < n {
        return Err(malformed("field runs past the end of its message"));
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

/// The fields of one message, in wire order.
struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>)>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        Some(self.field())
    }
}

impl<'a> Fields<'a> {
    #[inline]
    fn field(&mut self) -> Result<(u64, Value<'a>)> {
        let key = varint(&mut self.buf)?;
        let number = key >> 3;
        if number == 0 {
            return Err(malformed("field number 0"));
        }
        let value = match key & 7 {
            0 => Value::Varint(varint(&mut self.buf)?),
            1 => {
                let b = take(&mut self.buf, 8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Fixed64(u64::from_le_bytes(a))
            }
            2 => {
                let len = usize::try_from(varint(&mut self.buf)?)
                    .map_err(|_| malformed("length does not fit in memory"))?;
                Value::Bytes(take(&mut self.buf, len)?)
            }
            5 => {
                take(&mut self.buf, 4)?;
                Value::Fixed32
            }
            t => return Err(wire_type_error(t)),
        };
        Ok((number, value))
    }
}

#[cold]
fn wire_type_error(t: u64) -> Error {
    malformed(&format!("unsupported wire type {t}"))
}

#[inline]
fn fields(buf: &[u8]) -> Fields<'_> {
    Fields { buf }
}

#[inline]
fn bytes_field<'a>(v: Value<'a>, what: &str) -> Result<&'a [u8]> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(field_error(what, "wrong wire type")),
    }
}

#[inline]
fn string_field<'a>(v: Value<'a>, what: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes_field(v, what)?).map_err(|_| field_error(what, "invalid UTF-8"))
}

#[cold]
fn field_error(what: &str, problem: &str) -> Error {
    malformed(&format!("{what}: {problem}"))
}

/// One `TimeSeries` message of a request, still encoded.
#[derive(Clone, Copy)]
pub(crate) struct Series<'a> {
    body: &'a [u8],
}

impl<'a> Series<'a> {
    /// Everything of the series in one pass over its fields: labels appended to `labels`
    /// (not cleared), and each sample, native histogram and exemplar handed to `parts` in
    /// wire order. The receiver's hot path: the series' bytes are walked once.
    pub(crate) fn read(
        &self,
        labels: &mut Vec<(&'a str, &'a str)>,
        parts: &mut impl SeriesParts<'a>,
    ) -> Result<()> {
        let mut exemplar_labels: Vec<(&'a str, &'a str)> = Vec::new();
        for field in fields(self.body) {
            match field? {
                (1, value) => labels.push(series_label(value)?),
                (2, value) => {
                    let (t, v) = sample(value)?;
                    parts.sample(t, v)?;
                }
                (3, value) => {
                    let (t, v) = exemplar(value, &mut exemplar_labels)?;
                    parts.exemplar(&exemplar_labels, t, v)?;
                }
                (4, value) => {
                    let (t, h) = histogram(bytes_field(value, "histogram")?)?;
                    parts.histogram(t, h)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// What [`Series::read`] hands over besides the labels.
pub(crate) trait SeriesParts<'a> {
    /// A float sample.
    fn sample(&mut self, t: i64, v: f64) -> Result<()>;
    /// A native histogram sample.
    fn histogram(&mut self, t: i64, h: HistogramSample) -> Result<()>;
    /// An exemplar with its labels as written.
    fn exemplar(&mut self, labels: &[(&'a str, &'a str)], t: i64, v: f64) -> Result<()>;
}

/// A `Label` message (`what` names it in errors): (name, value).
#[inline]
fn label<'a>(value: Value<'a>, what: &str) -> Result<(&'a str, &'a str)> {
    let (mut name, mut val) = ("", "");
    for lf in fields(bytes_field(value, what)?) {
        match lf? {
            (1, v) => name = string_field(v, "label name")?,
            (2, v) => val = string_field(v, "label value")?,
            _ => {}
        }
    }
    Ok((name, val))
}

/// What a series label that is not UTF-8 reads as: an empty name (so the receiver skips the
/// series as one with invalid labels, as Prometheus does: gogo-protobuf decodes any bytes,
/// then the label check refuses them) and this value, which says why.
pub(crate) const INVALID_UTF8_LABEL: &str = "<label not valid UTF-8>";

/// A series' `Label`: as [`label`], but a name or value that is not UTF-8 gives
/// `("", INVALID_UTF8_LABEL)` instead of failing the whole request.
#[inline]
fn series_label(value: Value<'_>) -> Result<(&str, &str)> {
    let (mut name, mut val) = (Ok(""), Ok(""));
    for lf in fields(bytes_field(value, "label")?) {
        match lf? {
            (1, v) => name = std::str::from_utf8(bytes_field(v, "label name")?),
            (2, v) => val = std::str::from_utf8(bytes_field(v, "label value")?),
            _ => {}
        }
    }
    match (name, val) {
        (Ok(n), Ok(v)) => Ok((n, v)),
        _ => Ok(("", INVALID_UTF8_LABEL)),
    }
}

/// A `Sample` message: (timestamp, value).
#[inline]
fn sample(value: Value<'_>) -> Result<(i64, f64)> {
    let (mut t, mut v) = (0i64, 0f64);
    for sf in fields(bytes_field(value, "sample")?) {
        match sf? {
            (1, Value::Fixed64(bits)) => v = f64::from_bits(bits),
            // int64 is two's complement in a varint.
            (2, Value::Varint(x)) => t = x as i64,
            (1 | 2, _) => return Err(malformed("sample: wrong wire type")),
            _ => {}
        }
    }
    Ok((t, v))
}

/// An `Exemplar` message: its labels replace `labels`; returns (timestamp, value).
fn exemplar<'a>(value: Value<'a>, labels: &mut Vec<(&'a str, &'a str)>) -> Result<(i64, f64)> {
    labels.clear();
    let (mut t, mut v) = (0i64, 0f64);
    for ef in fields(bytes_field(value, "exemplar")?) {
        match ef? {
            (1, l) => labels.push(label(l, "exemplar label")?),
            (2, Value::Fixed64(bits)) => v = f64::from_bits(bits),
            (3, Value::Varint(x)) => t = x as i64,
            (2 | 3, _) => return Err(malformed("exemplar: wrong wire type")),
            _ => {}
        }
    }
    Ok((t, v))
}

/// A `sint32` from its zigzag varint (protobuf keeps the low 32 bits).
fn zigzag32(x: u64) -> i32 {
    let u = x as u32;
    ((u >> 1) as i32) ^ -((u & 1) as i32)
}

/// A `sint64` from its zigzag varint.
fn zigzag64(x: u64) -> i64 {
    ((x >> 1) as i64) ^ -((x & 1) as i64)
}

/// Appends a repeated `sint64` field's values (packed or one unpacked value).
fn sint64s(v: Value<'_>, out: &mut Vec<i64>) -> Result<()> {
    match v {
        Value::Varint(x) => out.push(zigzag64(x)),
        Value::Bytes(mut b) => {
            while !b.is_empty() {
                out.push(zigzag64(varint(&mut b)?));
            }
        }
        _ => return Err(malformed("histogram bucket deltas: wrong wire type")),
    }
    Ok(())
}

/// Appends a repeated `double` field's values (packed or one unpacked value).
fn doubles(v: Value<'_>, out: &mut Vec<f64>) -> Result<()> {
    match v {
        Value::Fixed64(bits) => out.push(f64::from_bits(bits)),
        Value::Bytes(b) => {
            if b.len() % 8 != 0 {
                return Err(malformed("packed doubles: length not a multiple of 8"));
            }
            out.extend(b.chunks_exact(8).map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                f64::from_bits(u64::from_le_bytes(a))
            }));
        }
        _ => return Err(malformed("histogram doubles: wrong wire type")),
    }
    Ok(())
}

fn span(v: Value<'_>) -> Result<Span> {
    let mut s = Span::default();
    for f in fields(bytes_field(v, "bucket span")?) {
        match f? {
            (1, Value::Varint(x)) => s.offset = zigzag32(x),
            (2, Value::Varint(x)) => s.length = x as u32,
            (1 | 2, _) => return Err(malformed("bucket span: wrong wire type")),
            _ => {}
        }
    }
    Ok(s)
}

/// One `Histogram` message: its timestamp and the histogram of the kind its `count` oneof
/// says (Go's `IsFloatHistogram`; the last member of a oneof on the wire wins).
fn histogram(body: &[u8]) -> Result<(i64, HistogramSample)> {
    let (mut count_int, mut count_float, mut is_float) = (0u64, 0f64, false);
    let (mut zero_int, mut zero_float) = (0u64, 0f64);
    let (mut sum, mut schema, mut zero_threshold, mut hint, mut t) = (0f64, 0i32, 0f64, 0i32, 0i64);
    let (mut neg_spans, mut pos_spans) = (Vec::new(), Vec::new());
    let (mut neg_deltas, mut pos_deltas) = (Vec::new(), Vec::new());
    let (mut neg_counts, mut pos_counts, mut custom) = (Vec::new(), Vec::new(), Vec::new());
    for f in fields(body) {
        match f? {
            (1, Value::Varint(x)) => (count_int, count_float, is_float) = (x, 0.0, false),
            (2, Value::Fixed64(b)) => {
                (count_int, count_float, is_float) = (0, f64::from_bits(b), true)
            }
            (3, Value::Fixed64(b)) => sum = f64::from_bits(b),
            (4, Value::Varint(x)) => schema = zigzag32(x),
            (5, Value::Fixed64(b)) => zero_threshold = f64::from_bits(b),
            (6, Value::Varint(x)) => (zero_int, zero_float) = (x, 0.0),
            (7, Value::Fixed64(b)) => (zero_int, zero_float) = (0, f64::from_bits(b)),
            (8, v) => neg_spans.push(span(v)?),
            (9, v) => sint64s(v, &mut neg_deltas)?,
            (10, v) => doubles(v, &mut neg_counts)?,
            (11, v) => pos_spans.push(span(v)?),
            (12, v) => sint64s(v, &mut pos_deltas)?,
            (13, v) => doubles(v, &mut pos_counts)?,
            // An enum is an int32 varint.
            (14, Value::Varint(x)) => hint = x as i32,
            (15, Value::Varint(x)) => t = x as i64,
            (16, v) => doubles(v, &mut custom)?,
            (1..=7 | 14 | 15, _) => return Err(malformed("histogram: wrong wire type")),
            _ => {}
        }
    }
    let counter_reset_hint = hint_from_proto(hint);
    let h = if is_float {
        HistogramSample::Float(FloatHistogram {
            counter_reset_hint,
            schema,
            zero_threshold,
            zero_count: zero_float,
            count: count_float,
            sum,
            positive_spans: pos_spans,
            negative_spans: neg_spans,
            positive_buckets: pos_counts,
            negative_buckets: neg_counts,
            custom_values: custom,
        })
    } else {
        HistogramSample::Int(Histogram {
            counter_reset_hint,
            schema,
            zero_threshold,
            zero_count: zero_int,
            count: count_int,
            sum,
            positive_spans: pos_spans,
            negative_spans: neg_spans,
            positive_buckets: pos_deltas,
            negative_buckets: neg_deltas,
            custom_values: custom,
        })
    };
    Ok((t, h))
}

/// Calls `f` for every time series of an encoded (uncompressed) `WriteRequest`, in order.
/// Metadata and any other fields are skipped.
pub(crate) fn for_each_series<'a>(
    raw: &'a [u8],
    mut f: impl FnMut(Series<'a>) -> Result<()>,
) -> Result<()> {
    for field in fields(raw) {
        let (number, value) = field?;
        if number == 1 {
            f(Series {
                body: bytes_field(value, "timeseries")?,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prompb::{Exemplar, Label, Message, MetricMetadata, Sample, TimeSeries, WriteRequest};

    /// What the wire reader sees: labels and samples per series.
    type Seen = Vec<(Vec<(String, String)>, Vec<(i64, u64)>)>;

    /// An exemplar as [`Series::read`] hands it over: labels, timestamp, value.
    type SeenExemplar = (Vec<(String, String)>, i64, f64);

    /// Every part of one series, as [`Series::read`] hands them over.
    #[derive(Default)]
    struct Collected {
        samples: Vec<(i64, u64)>,
        histograms: Vec<(i64, HistogramSample)>,
        exemplars: Vec<SeenExemplar>,
    }

    impl<'a> SeriesParts<'a> for Collected {
        fn sample(&mut self, t: i64, v: f64) -> Result<()> {
            self.samples.push((t, v.to_bits()));
            Ok(())
        }
        fn histogram(&mut self, t: i64, h: HistogramSample) -> Result<()> {
            self.histograms.push((t, h));
            Ok(())
        }
        fn exemplar(&mut self, labels: &[(&'a str, &'a str)], t: i64, v: f64) -> Result<()> {
            self.exemplars.push((owned(labels), t, v));
            Ok(())
        }
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn collect(s: &Series<'_>) -> Result<(Vec<(String, String)>, Collected)> {
        let mut pairs = Vec::new();
        let mut parts = Collected::default();
        s.read(&mut pairs, &mut parts)?;
        Ok((owned(&pairs), parts))
    }

    fn read(raw: &[u8]) -> Result<Seen> {
        let mut out = Vec::new();
        for_each_series(raw, |s| {
            let (pairs, parts) = collect(&s)?;
            out.push((pairs, parts.samples));
            Ok(())
        })?;
        Ok(out)
    }

    fn label(n: &str, v: &str) -> Label {
        Label {
            name: n.into(),
            value: v.into(),
        }
    }

    #[test]
    fn reads_what_prost_writes_and_skips_other_fields() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![label("__name__", "up"), label("job", "x")],
                samples: vec![
                    Sample {
                        value: 1.5,
                        timestamp: -3,
                    },
                    Sample {
                        value: f64::NAN,
                        timestamp: 1_700_000_000_000,
                    },
                ],
                exemplars: vec![Exemplar {
                    labels: vec![label("trace_id", "abc")],
                    value: 2.0,
                    timestamp: 5,
                }],
                ..Default::default()
            }],
            metadata: vec![MetricMetadata {
                metric_family_name: "up".into(),
                help: "h".into(),
                ..Default::default()
            }],
        };
        let seen = read(&req.encode_to_vec()).unwrap();
        assert_eq!(
            seen,
            vec![(
                vec![("__name__".into(), "up".into()), ("job".into(), "x".into())],
                vec![
                    (-3, 1.5f64.to_bits()),
                    (1_700_000_000_000, f64::NAN.to_bits())
                ]
            )]
        );
        let mut exemplars = Vec::new();
        for_each_series(&req.encode_to_vec(), |s| {
            exemplars.extend(collect(&s)?.1.exemplars);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            exemplars,
            [(vec![("trace_id".into(), "abc".into())], 5, 2.0)]
        );
    }

    #[test]
    fn truncated_and_malformed_input_is_an_error() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![label("__name__", "up")],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 1,
                }],
                ..Default::default()
            }],
            metadata: vec![],
        };
        let raw = req.encode_to_vec();
        for cut in 1..raw.len() {
            assert!(read(&raw[..cut]).is_err(), "cut at {cut} decoded");
        }
        // Wire type 3 (start group) is not supported.
        assert!(read(&[0x0b]).is_err());
        // A series label that is not UTF-8 marks the series (the receiver skips it); one of
        // an exemplar fails the request.
        let got = read(&[0x0a, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe]).unwrap();
        assert_eq!(got[0].0, [("".to_string(), INVALID_UTF8_LABEL.to_string())]);
        assert!(read(&[0x0a, 0x08, 0x1a, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe]).is_err());
    }

    #[test]
    fn unpacked_repeated_fields_and_the_last_oneof_member_count() {
        // Field 4 (histograms) holding: count_float 2.5 then count_int 3 (the int wins),
        // positive_deltas 1 and -1 unpacked (field 12, zigzag), positive span {0, 2}.
        let mut h = vec![0x11];
        h.extend_from_slice(&2.5f64.to_le_bytes());
        h.extend_from_slice(&[0x08, 3]);
        h.extend_from_slice(&[0x60, 2, 0x60, 1]);
        h.extend_from_slice(&[0x5a, 4, 0x08, 0, 0x10, 2]);
        h.extend_from_slice(&[0x78, 7]);
        let mut series = vec![0x22, h.len() as u8];
        series.extend_from_slice(&h);
        let mut raw = vec![0x0a, series.len() as u8];
        raw.extend_from_slice(&series);
        let mut got = Vec::new();
        for_each_series(&raw, |s| {
            got.extend(collect(&s)?.1.histograms);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            got,
            [(
                7,
                HistogramSample::Int(Histogram {
                    count: 3,
                    positive_spans: vec![Span {
                        offset: 0,
                        length: 2
                    }],
                    positive_buckets: vec![1, -1],
                    ..Histogram::default()
                })
            )]
        );
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_prost(
            series in proptest::collection::vec(
                (
                    proptest::collection::vec(("[a-z_]{0,6}", "\\PC{0,8}"), 0..5),
                    proptest::collection::vec((proptest::num::i64::ANY, proptest::num::u64::ANY), 0..8),
                ),
                0..6,
            )
        ) {
            let req = WriteRequest {
                timeseries: series
                    .iter()
                    .map(|(labels, samples)| TimeSeries {
                        labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
                        samples: samples
                            .iter()
                            .map(|&(timestamp, bits)| Sample { value: f64::from_bits(bits), timestamp })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                metadata: vec![],
            };
            let seen = read(&req.encode_to_vec()).unwrap();
            let want: Seen = series
                .iter()
                .map(|(labels, samples)| (labels.clone(), samples.clone()))
                .collect();
            proptest::prop_assert_eq!(seen, want);
        }

        #[test]
        fn histograms_agree_with_prost(
            hs in proptest::collection::vec(
                (
                    proptest::bool::ANY,
                    proptest::num::u64::ANY,
                    -60i32..60,
                    proptest::collection::vec((-5i32..5, 0u32..4), 0..3),
                    proptest::collection::vec(proptest::num::i64::ANY, 0..6),
                    proptest::collection::vec(proptest::num::f64::ANY, 0..6),
                    0i32..6,
                    proptest::num::i64::ANY,
                ),
                0..4,
            )
        ) {
            let histograms: Vec<prompb::Histogram> = hs
                .iter()
                .map(|(float, count, schema, spans, deltas, counts, hint, t)| {
                    let spans: Vec<_> = spans
                        .iter()
                        .map(|&(offset, length)| prompb::BucketSpan { offset, length })
                        .collect();
                    prompb::Histogram {
                        count: Some(if *float {
                            prompb::histogram::Count::CountFloat(*count as f64)
                        } else {
                            prompb::histogram::Count::CountInt(*count)
                        }),
                        zero_count: Some(prompb::histogram::ZeroCount::ZeroCountInt(count / 3)),
                        sum: *count as f64 / 7.0,
                        schema: *schema,
                        zero_threshold: 1e-3,
                        positive_spans: spans.clone(),
                        negative_spans: spans.iter().rev().copied().collect(),
                        positive_deltas: deltas.clone(),
                        negative_deltas: deltas.iter().rev().copied().collect(),
                        positive_counts: counts.clone(),
                        negative_counts: counts.iter().rev().copied().collect(),
                        reset_hint: *hint,
                        timestamp: *t,
                        custom_values: counts.clone(),
                    }
                })
                .collect();
            let req = WriteRequest {
                timeseries: vec![TimeSeries {
                    labels: vec![label("__name__", "h")],
                    histograms: histograms.clone(),
                    ..Default::default()
                }],
                metadata: vec![],
            };
            let mut seen = Vec::new();
            for_each_series(&req.encode_to_vec(), |s| {
                seen.extend(
                    collect(&s)?
                        .1
                        .histograms
                        .into_iter()
                        .map(|(t, h)| (t, format!("{h:?}"))),
                );
                Ok(())
            })
            .unwrap();
            let want: Vec<_> = histograms
                .iter()
                .map(|h| (h.timestamp, format!("{:?}", super::super::histogram::histogram_from_proto(h))))
                .collect();
            proptest::prop_assert_eq!(seen, want);
        }

        #[test]
        fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = read(&raw);
        }
    }
}
