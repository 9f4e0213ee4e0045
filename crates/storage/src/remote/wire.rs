//! A borrowing reader of remote-write 1.0 requests: walks the protobuf wire format of a
//! `WriteRequest` without building the prost messages, so that the receiver allocates
//! nothing per label or sample (prost allocates two `String`s per label of every series).
//!
//! Only the fields the receiver uses are interpreted (`timeseries` → `labels`, `samples`,
//! `exemplars`);
//! every other field is skipped by its wire type, as any protobuf decoder does.

use crate::{Error, Result};

/// A field's payload, by wire type.
enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32,
    Bytes(&'a [u8]),
}

fn malformed(reason: &str) -> Error {
    Error::InvalidRemoteRequest {
        what: "write request",
        reason: format!("protobuf decoding: {reason}"),
    }
}

fn varint(buf: &mut &[u8]) -> Result<u64> {
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

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        Some(self.field())
    }
}

impl<'a> Fields<'a> {
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
            t => return Err(malformed(&format!("unsupported wire type {t}"))),
        };
        Ok((number, value))
    }
}

fn fields(buf: &[u8]) -> Fields<'_> {
    Fields { buf }
}

fn bytes_field<'a>(v: Value<'a>, what: &str) -> Result<&'a [u8]> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(malformed(&format!("{what}: wrong wire type"))),
    }
}

fn string_field<'a>(v: Value<'a>, what: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes_field(v, what)?)
        .map_err(|_| malformed(&format!("{what}: invalid UTF-8")))
}

/// One `TimeSeries` message of a request, still encoded.
#[derive(Clone, Copy)]
pub(crate) struct Series<'a> {
    body: &'a [u8],
}

impl<'a> Series<'a> {
    /// Appends the series' labels, in wire order, to `out` (which is not cleared).
    pub(crate) fn labels(&self, out: &mut Vec<(&'a str, &'a str)>) -> Result<()> {
        for f in fields(self.body) {
            let (number, value) = f?;
            if number != 1 {
                continue;
            }
            let (mut name, mut val) = ("", "");
            for lf in fields(bytes_field(value, "label")?) {
                match lf? {
                    (1, v) => name = string_field(v, "label name")?,
                    (2, v) => val = string_field(v, "label value")?,
                    _ => {}
                }
            }
            out.push((name, val));
        }
        Ok(())
    }

    /// Calls `f(timestamp, value)` for every sample, in wire order.
    pub(crate) fn samples(&self, mut f: impl FnMut(i64, f64) -> Result<()>) -> Result<()> {
        for field in fields(self.body) {
            let (number, value) = field?;
            if number != 2 {
                continue;
            }
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
            f(t, v)?;
        }
        Ok(())
    }
}

impl<'a> Series<'a> {
    /// Calls `f(labels, timestamp, value)` for every exemplar, in wire order (labels as
    /// written, not sorted).
    pub(crate) fn exemplars(
        &self,
        mut f: impl FnMut(&[(&'a str, &'a str)], i64, f64) -> Result<()>,
    ) -> Result<()> {
        let mut labels: Vec<(&'a str, &'a str)> = Vec::new();
        for field in fields(self.body) {
            let (number, value) = field?;
            if number != 3 {
                continue;
            }
            labels.clear();
            let (mut t, mut v) = (0i64, 0f64);
            for ef in fields(bytes_field(value, "exemplar")?) {
                match ef? {
                    (1, l) => {
                        let (mut name, mut val) = ("", "");
                        for lf in fields(bytes_field(l, "exemplar label")?) {
                            match lf? {
                                (1, v) => name = string_field(v, "label name")?,
                                (2, v) => val = string_field(v, "label value")?,
                                _ => {}
                            }
                        }
                        labels.push((name, val));
                    }
                    (2, Value::Fixed64(bits)) => v = f64::from_bits(bits),
                    (3, Value::Varint(x)) => t = x as i64,
                    (2 | 3, _) => return Err(malformed("exemplar: wrong wire type")),
                    _ => {}
                }
            }
            f(&labels, t, v)?;
        }
        Ok(())
    }
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

    fn read(raw: &[u8]) -> Result<Seen> {
        let mut out = Vec::new();
        for_each_series(raw, |s| {
            let mut pairs = Vec::new();
            s.labels(&mut pairs)?;
            let mut samples = Vec::new();
            s.samples(|t, v| {
                samples.push((t, v.to_bits()));
                Ok(())
            })?;
            out.push((
                pairs
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                samples,
            ));
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
        // Wire type 3 (start group) is not supported; invalid UTF-8 in a label.
        assert!(read(&[0x0b]).is_err());
        assert!(read(&[0x0a, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe]).is_err());
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
        fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = read(&raw);
        }
    }
}
