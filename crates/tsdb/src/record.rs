//! WAL record encoding, byte-compatible with Prometheus's `tsdb/record` (the Go code is the
//! spec: sample deltas are *signed* varints, whatever `docs/format/wal.md` says).
//!
//! Every record starts with a type byte:
//!
//! | type | record | body |
//! | --- | --- | --- |
//! | 1 | series | per series: ref (u64 BE), label count (uvarint), then name and value (uvarint length + bytes) |
//! | 2 | samples | first ref (u64 BE), first timestamp (i64 BE), then per sample: ref delta (varint), timestamp delta (varint), value bits (u64 BE) |
//! | 3 | tombstones | per interval: ref (u64 BE), mint (varint), maxt (varint) |
//! | 4 | exemplars | first ref (u64 BE), first timestamp (i64 BE), then per exemplar: ref delta (varint), timestamp delta (varint), value bits (u64 BE), labels as in series records |
//! | 5 | mmap markers | per marker: series ref (u64 BE), head chunk ref (u64 BE) |
//! | 7, 9 | histogram samples (9: custom buckets) | first ref (u64 BE), first timestamp (i64 BE), then per sample: ref delta (varint), timestamp delta (varint), the histogram: hint byte, schema (varint), zero threshold (f64 BE), zero count and count (uvarint), sum (f64 BE), positive then negative spans (count uvarint; offset varint, length uvarint each), positive then negative bucket deltas (count uvarint; varints), custom bounds for schema -53 (count uvarint; f64 BE each) |
//! | 8, 10 | float histogram samples (10: custom buckets) | as 7, with zero count, count and buckets as f64 BE |
//! | 6 | metadata | per series: ref (uvarint), type (byte), field count (uvarint), then name and value of each field (uvarint length + bytes): `UNIT` and `HELP` |
//! | 11 | samples v2 | first ref, timestamp, start time (varints) and value; then ref delta to the previous sample, timestamp delta to the first, start-time marker and value |
//! | 14 | min valid time | i64 BE (checkpoints only) |
//!
//! The start-time histogram records (12, 13) are recognised by [`RecordType`] but not
//! decoded: replay skips and counts them.

use model::histogram::CUSTOM_BUCKETS_SCHEMA;
use model::{CounterResetHint, FloatHistogram, Histogram, Labels, Span};

use crate::error::{Error, Result};

/// The type of a WAL record (its first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordType {
    /// Series definitions (ref + labels).
    Series,
    /// Float samples.
    Samples,
    /// Deleted intervals.
    Tombstones,
    /// Exemplars.
    Exemplars,
    /// Markers that a series' samples up to now are in memory-mapped head chunks.
    MmapMarkers,
    /// Metric metadata of series (type, unit, help).
    Metadata,
    /// Native histogram samples with integer counts (types 7 and 9).
    HistogramSamples,
    /// Native histogram samples with float counts (types 8 and 10).
    FloatHistogramSamples,
    /// Native histogram samples with start times (types 12 and 13; not decoded here).
    Histograms,
    /// Float samples with optional start timestamps.
    SamplesV2,
    /// The minimum valid time a checkpoint was made with.
    MinValidTime,
    /// A type this version does not know (or an empty record).
    Unknown(u8),
}

impl RecordType {
    /// The type of `rec`, from its first byte.
    pub fn of(rec: &[u8]) -> RecordType {
        match rec.first() {
            Some(1) => RecordType::Series,
            Some(2) => RecordType::Samples,
            Some(3) => RecordType::Tombstones,
            Some(4) => RecordType::Exemplars,
            Some(5) => RecordType::MmapMarkers,
            Some(6) => RecordType::Metadata,
            Some(7 | 9) => RecordType::HistogramSamples,
            Some(8 | 10) => RecordType::FloatHistogramSamples,
            Some(12 | 13) => RecordType::Histograms,
            Some(11) => RecordType::SamplesV2,
            Some(14) => RecordType::MinValidTime,
            Some(&b) => RecordType::Unknown(b),
            None => RecordType::Unknown(255),
        }
    }
}

/// A series definition: the head's series reference and its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefSeries {
    /// The head series reference.
    pub series_ref: u64,
    /// The labels.
    pub labels: Labels,
}

/// A float sample of a series.
#[derive(Debug, Clone, Copy)]
pub struct RefSample {
    /// The head series reference.
    pub series_ref: u64,
    /// Timestamp in milliseconds.
    pub t: i64,
    /// Value.
    pub v: f64,
}

impl PartialEq for RefSample {
    /// Values compare by bits, so NaNs (and stale markers) compare equal to themselves.
    fn eq(&self, other: &Self) -> bool {
        self.series_ref == other.series_ref
            && self.t == other.t
            && self.v.to_bits() == other.v.to_bits()
    }
}

/// One deleted interval `[mint, maxt]` of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefTombstone {
    /// The head series reference.
    pub series_ref: u64,
    /// First deleted timestamp (inclusive).
    pub mint: i64,
    /// Last deleted timestamp (inclusive).
    pub maxt: i64,
}

/// An exemplar of a series.
#[derive(Debug, Clone)]
pub struct RefExemplar {
    /// The head series reference.
    pub series_ref: u64,
    /// Timestamp in milliseconds.
    pub t: i64,
    /// Value.
    pub v: f64,
    /// The exemplar's labels.
    pub labels: Labels,
}

impl PartialEq for RefExemplar {
    /// Values compare by bits, as for [`RefSample`].
    fn eq(&self, other: &Self) -> bool {
        self.series_ref == other.series_ref
            && self.t == other.t
            && self.v.to_bits() == other.v.to_bits()
            && self.labels == other.labels
    }
}

/// A memory-map marker: all samples of the series so far are in head chunks up to `mmap_ref`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefMmapMarker {
    /// The head series reference.
    pub series_ref: u64,
    /// The head chunk reference (file << 32 | offset).
    pub mmap_ref: u64,
}

/// Appends Go `binary.PutUvarint` bytes.
pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        buf.push((x as u8) | 0x80);
        x >>= 7;
    }
    buf.push(x as u8);
}

/// Appends Go `binary.PutVarint` (zigzag) bytes.
pub(crate) fn put_varint(buf: &mut Vec<u8>, x: i64) {
    put_uvarint(buf, ((x << 1) ^ (x >> 63)) as u64);
}

/// A cursor over a record's bytes, like Go's `encoding.Decbuf`.
pub(crate) struct Decbuf<'a> {
    b: &'a [u8],
}

impl<'a> Decbuf<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Decbuf<'a> {
        Decbuf { b }
    }

    pub(crate) fn len(&self) -> usize {
        self.b.len()
    }

    pub(crate) fn byte(&mut self) -> Result<u8, &'static str> {
        let (&first, rest) = self.b.split_first().ok_or("unexpected end of record")?;
        self.b = rest;
        Ok(first)
    }

    #[inline]
    pub(crate) fn be64(&mut self) -> Result<u64, &'static str> {
        if self.b.len() < 8 {
            return Err("unexpected end of record");
        }
        let (head, rest) = self.b.split_at(8);
        self.b = rest;
        let mut a = [0u8; 8];
        a.copy_from_slice(head);
        Ok(u64::from_be_bytes(a))
    }

    #[inline]
    pub(crate) fn uvarint(&mut self) -> Result<u64, &'static str> {
        // Sample records are mostly one- and two-byte varints.
        match *self.b {
            [b0, ..] if b0 < 0x80 => {
                self.b = &self.b[1..];
                Ok(u64::from(b0))
            }
            [b0, b1, ..] if b1 < 0x80 => {
                self.b = &self.b[2..];
                Ok(u64::from(b0 & 0x7f) | u64::from(b1) << 7)
            }
            _ => self.uvarint_long(),
        }
    }

    fn uvarint_long(&mut self) -> Result<u64, &'static str> {
        let mut x = 0u64;
        let mut s = 0u32;
        for (i, &b) in self.b.iter().enumerate() {
            if i == 10 {
                return Err("varint overflows a 64-bit integer");
            }
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return Err("varint overflows a 64-bit integer");
                }
                self.b = &self.b[i + 1..];
                return Ok(x | u64::from(b) << s);
            }
            x |= u64::from(b & 0x7f) << s;
            s += 7;
        }
        Err("unexpected end of record in a varint")
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Result<i64, &'static str> {
        let ux = self.uvarint()?;
        let x = (ux >> 1) as i64;
        Ok(if ux & 1 != 0 { !x } else { x })
    }

    pub(crate) fn uvarint_bytes(&mut self) -> Result<&'a [u8], &'static str> {
        let n = self.uvarint()?;
        let n = usize::try_from(n).map_err(|_| "length too large")?;
        if self.b.len() < n {
            return Err("unexpected end of record in a string");
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    pub(crate) fn uvarint_str(&mut self) -> Result<&'a str, &'static str> {
        std::str::from_utf8(self.uvarint_bytes()?).map_err(|_| "label is not valid UTF-8")
    }

    /// A label set as [`encode_labels`] writes it; `pairs` is scratch space.
    pub(crate) fn labels(
        &mut self,
        pairs: &mut Vec<(&'a str, &'a str)>,
    ) -> Result<Labels, &'static str> {
        let n = self.uvarint()?;
        pairs.clear();
        for _ in 0..n {
            let name = self.uvarint_str()?;
            let value = self.uvarint_str()?;
            pairs.push((name, value));
        }
        Ok(Labels::from_pairs(pairs.iter().copied()))
    }
}

fn bad(kind: &'static str, msg: impl Into<String>) -> Error {
    Error::InvalidRecord {
        kind,
        msg: msg.into(),
    }
}

fn expect_type(dec: &mut Decbuf<'_>, kind: &'static str, want: &[u8]) -> Result<u8> {
    let t = dec.byte().map_err(|m| bad(kind, m))?;
    if !want.contains(&t) {
        return Err(bad(kind, format!("record type {t} is not a {kind} record")));
    }
    Ok(t)
}

/// Appends a series record to `buf`.
pub fn encode_series(series: &[RefSeries], buf: &mut Vec<u8>) {
    buf.push(1);
    for s in series {
        buf.extend_from_slice(&s.series_ref.to_be_bytes());
        encode_labels(&s.labels, buf);
    }
}

/// Appends a label set: uvarint count, then uvarint-prefixed names and values.
pub(crate) fn encode_labels(labels: &Labels, buf: &mut Vec<u8>) {
    put_uvarint(buf, labels.len() as u64);
    for (n, v) in labels.iter() {
        put_uvarint(buf, n.len() as u64);
        buf.extend_from_slice(n.as_bytes());
        put_uvarint(buf, v.len() as u64);
        buf.extend_from_slice(v.as_bytes());
    }
}

/// Decodes a series record, appending to `out`.
///
/// # Errors
/// [`Error::InvalidRecord`] when the record is not a well-formed series record.
pub fn decode_series(rec: &[u8], out: &mut Vec<RefSeries>) -> Result<()> {
    const KIND: &str = "series";
    let mut dec = Decbuf::new(rec);
    expect_type(&mut dec, KIND, &[1])?;
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    while dec.len() > 0 {
        let series_ref = dec.be64().map_err(|m| bad(KIND, m))?;
        let labels = dec.labels(&mut pairs).map_err(|m| bad(KIND, m))?;
        out.push(RefSeries { series_ref, labels });
    }
    Ok(())
}

/// Appends a samples record (type 2, as Prometheus writes by default) to `buf`.
pub fn encode_samples(samples: &[RefSample], buf: &mut Vec<u8>) {
    buf.push(2);
    let Some(first) = samples.first() else {
        return;
    };
    buf.extend_from_slice(&first.series_ref.to_be_bytes());
    buf.extend_from_slice(&first.t.to_be_bytes());
    for s in samples {
        put_varint(
            buf,
            (s.series_ref as i64).wrapping_sub(first.series_ref as i64),
        );
        put_varint(buf, s.t.wrapping_sub(first.t));
        buf.extend_from_slice(&s.v.to_bits().to_be_bytes());
    }
}

/// Decodes a samples record of type 2 or 11 (start timestamps are dropped), appending to
/// `out`.
///
/// # Errors
/// [`Error::InvalidRecord`] when the record is not a well-formed samples record.
pub fn decode_samples(rec: &[u8], out: &mut Vec<RefSample>) -> Result<()> {
    const KIND: &str = "samples";
    let mut dec = Decbuf::new(rec);
    let typ = expect_type(&mut dec, KIND, &[2, 11])?;
    if dec.len() == 0 {
        return Ok(());
    }
    out.reserve(dec.len() / 10);
    let start = out.len();
    let e = |m| bad(KIND, m);
    if typ == 2 {
        let base_ref = dec.be64().map_err(e)?;
        let base_t = dec.be64().map_err(e)? as i64;
        while dec.len() > 0 {
            let dref = dec.varint().map_err(e)?;
            let dt = dec.varint().map_err(e)?;
            let v = f64::from_bits(dec.be64().map_err(e)?);
            out.push(RefSample {
                series_ref: (base_ref as i64).wrapping_add(dref) as u64,
                t: base_t.wrapping_add(dt),
                v,
            });
        }
        return Ok(());
    }
    let (mut first_t, mut prev_ref) = (0i64, 0i64);
    while dec.len() > 0 {
        let (r, t);
        if out.len() == start {
            r = dec.varint().map_err(e)?;
            first_t = dec.varint().map_err(e)?;
            t = first_t;
            let _start_time = dec.varint().map_err(e)?;
        } else {
            r = prev_ref.wrapping_add(dec.varint().map_err(e)?);
            t = first_t.wrapping_add(dec.varint().map_err(e)?);
            match dec.byte().map_err(e)? {
                0 | 1 => {}
                _ => {
                    let _delta = dec.varint().map_err(e)?;
                }
            }
        }
        let v = f64::from_bits(dec.be64().map_err(e)?);
        prev_ref = r;
        out.push(RefSample {
            series_ref: r as u64,
            t,
            v,
        });
    }
    Ok(())
}

/// Appends a tombstones record to `buf`.
pub fn encode_tombstones(stones: &[RefTombstone], buf: &mut Vec<u8>) {
    buf.push(3);
    for s in stones {
        buf.extend_from_slice(&s.series_ref.to_be_bytes());
        put_varint(buf, s.mint);
        put_varint(buf, s.maxt);
    }
}

/// Decodes a tombstones record, appending to `out`.
///
/// # Errors
/// [`Error::InvalidRecord`] when the record is not a well-formed tombstones record.
pub fn decode_tombstones(rec: &[u8], out: &mut Vec<RefTombstone>) -> Result<()> {
    const KIND: &str = "tombstones";
    let mut dec = Decbuf::new(rec);
    expect_type(&mut dec, KIND, &[3])?;
    let e = |m| bad(KIND, m);
    while dec.len() > 0 {
        let series_ref = dec.be64().map_err(e)?;
        let mint = dec.varint().map_err(e)?;
        let maxt = dec.varint().map_err(e)?;
        out.push(RefTombstone {
            series_ref,
            mint,
            maxt,
        });
    }
    Ok(())
}

/// Appends an exemplars record (type 4) to `buf`: deltas to the first exemplar's ref and
/// timestamp, as samples, each followed by its labels.
pub fn encode_exemplars(exemplars: &[RefExemplar], buf: &mut Vec<u8>) {
    buf.push(4);
    let Some(first) = exemplars.first() else {
        return;
    };
    buf.extend_from_slice(&first.series_ref.to_be_bytes());
    buf.extend_from_slice(&first.t.to_be_bytes());
    for e in exemplars {
        put_varint(
            buf,
            (e.series_ref as i64).wrapping_sub(first.series_ref as i64),
        );
        put_varint(buf, e.t.wrapping_sub(first.t));
        buf.extend_from_slice(&e.v.to_bits().to_be_bytes());
        encode_labels(&e.labels, buf);
    }
}

/// Decodes an exemplars record, appending to `out`.
///
/// # Errors
/// [`Error::InvalidRecord`] when the record is not a well-formed exemplars record.
pub fn decode_exemplars(rec: &[u8], out: &mut Vec<RefExemplar>) -> Result<()> {
    const KIND: &str = "exemplars";
    let mut dec = Decbuf::new(rec);
    expect_type(&mut dec, KIND, &[4])?;
    if dec.len() == 0 {
        return Ok(());
    }
    let e = |m| bad(KIND, m);
    let base_ref = dec.be64().map_err(e)?;
    let base_t = dec.be64().map_err(e)? as i64;
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    while dec.len() > 0 {
        let dref = dec.varint().map_err(e)?;
        let dt = dec.varint().map_err(e)?;
        let v = f64::from_bits(dec.be64().map_err(e)?);
        let labels = dec.labels(&mut pairs).map_err(e)?;
        out.push(RefExemplar {
            series_ref: (base_ref as i64).wrapping_add(dref) as u64,
            t: base_t.wrapping_add(dt),
            v,
            labels,
        });
    }
    Ok(())
}

/// Appends an mmap-markers record to `buf`.
pub fn encode_mmap_markers(markers: &[RefMmapMarker], buf: &mut Vec<u8>) {
    buf.push(5);
    for m in markers {
        buf.extend_from_slice(&m.series_ref.to_be_bytes());
        buf.extend_from_slice(&m.mmap_ref.to_be_bytes());
    }
}

/// Decodes an mmap-markers record, appending to `out`.
///
/// # Errors
/// [`Error::InvalidRecord`] when the record is not a well-formed mmap-markers record.
pub fn decode_mmap_markers(rec: &[u8], out: &mut Vec<RefMmapMarker>) -> Result<()> {
    const KIND: &str = "mmap markers";
    let mut dec = Decbuf::new(rec);
    expect_type(&mut dec, KIND, &[5])?;
    let e = |m| bad(KIND, m);
    while dec.len() > 0 {
        let series_ref = dec.be64().map_err(e)?;
        let mmap_ref = dec.be64().map_err(e)?;
        out.push(RefMmapMarker {
            series_ref,
            mmap_ref,
        });
    }
    Ok(())
}

/// The metadata of a series (record type 6): the WAL code of its type
/// ([`storage::MetricType::wal_code`]), unit and help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefMetadata {
    /// The head series reference.
    pub series_ref: u64,
    /// The type's WAL code (0 unknown, 1 counter, 2 gauge, 3 histogram, 4 gauge histogram,
    /// 5 summary, 6 info, 7 stateset).
    pub typ: u8,
    /// The unit.
    pub unit: String,
    /// The help text.
    pub help: String,
}

/// The field names of metadata records (Go's `unitMetaName` and `helpMetaName`).
const UNIT_FIELD: &[u8] = b"UNIT";
const HELP_FIELD: &[u8] = b"HELP";

fn put_uvarint_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// Appends a metadata record to `buf`: per series its ref (uvarint), type byte, field count
/// (always 2) and the `UNIT` then `HELP` fields as name/value strings, as Go writes them.
pub fn encode_metadata(metadata: &[RefMetadata], buf: &mut Vec<u8>) {
    buf.push(6);
    for m in metadata {
        put_uvarint(buf, m.series_ref);
        buf.push(m.typ);
        put_uvarint(buf, 2);
        put_uvarint_bytes(buf, UNIT_FIELD);
        put_uvarint_bytes(buf, m.unit.as_bytes());
        put_uvarint_bytes(buf, HELP_FIELD);
        put_uvarint_bytes(buf, m.help.as_bytes());
    }
}

/// Decodes a metadata record, appending to `out`. Fields other than `UNIT` and `HELP` are
/// skipped, as Go does; strings that are not UTF-8 are kept with replacement characters.
///
/// # Errors
/// [`Error::InvalidRecord`] when the record is not a well-formed metadata record.
pub fn decode_metadata(rec: &[u8], out: &mut Vec<RefMetadata>) -> Result<()> {
    const KIND: &str = "metadata";
    let mut dec = Decbuf::new(rec);
    expect_type(&mut dec, KIND, &[6])?;
    let e = |m| bad(KIND, m);
    while dec.len() > 0 {
        let series_ref = dec.uvarint().map_err(e)?;
        let typ = dec.byte().map_err(e)?;
        let fields = dec.uvarint().map_err(e)?;
        let (mut unit, mut help) = (String::new(), String::new());
        for _ in 0..fields {
            let name = dec.uvarint_bytes().map_err(e)?;
            let value = dec.uvarint_bytes().map_err(e)?;
            match name {
                UNIT_FIELD => unit = String::from_utf8_lossy(value).into_owned(),
                HELP_FIELD => help = String::from_utf8_lossy(value).into_owned(),
                _ => {}
            }
        }
        out.push(RefMetadata {
            series_ref,
            typ,
            unit,
            help,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn varints_match_go() {
        let mut b = Vec::new();
        put_varint(&mut b, -1);
        put_uvarint(&mut b, 300);
        put_varint(&mut b, 150);
        assert_eq!(b, [0x01, 0xac, 0x02, 0xac, 0x02]);
        let mut d = Decbuf::new(&b);
        assert_eq!(d.varint(), Ok(-1));
        assert_eq!(d.uvarint(), Ok(300));
        assert_eq!(d.varint(), Ok(150));
        assert!(Decbuf::new(&[0xff; 11]).uvarint().is_err());
        assert!(Decbuf::new(&[0x80]).uvarint().is_err());
    }

    #[test]
    fn samples_use_signed_deltas_to_the_first_sample() {
        let samples = [
            RefSample {
                series_ref: 10,
                t: 1000,
                v: 1.0,
            },
            RefSample {
                series_ref: 3,
                t: 990,
                v: 2.0,
            },
        ];
        let mut b = Vec::new();
        encode_samples(&samples, &mut b);
        let mut want = vec![2];
        want.extend_from_slice(&10u64.to_be_bytes());
        want.extend_from_slice(&1000i64.to_be_bytes());
        want.extend_from_slice(&[0, 0]);
        want.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
        want.extend_from_slice(&[13, 19]); // -7 and -10 zigzagged
        want.extend_from_slice(&2.0f64.to_bits().to_be_bytes());
        assert_eq!(b, want);
        let mut out = Vec::new();
        decode_samples(&b, &mut out).expect("decode");
        assert_eq!(out, samples);
    }

    #[test]
    fn samples_v2_decode() {
        // Hand-encoded per record.go samplesV2: ref 5, t 100, st 0, v 1; then ref +2, t +10,
        // marker "explicit" with delta 7, v 2.
        let mut b = vec![11];
        put_varint(&mut b, 5);
        put_varint(&mut b, 100);
        put_varint(&mut b, 0);
        b.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
        put_varint(&mut b, 2);
        put_varint(&mut b, 10);
        b.push(2);
        put_varint(&mut b, 7);
        b.extend_from_slice(&2.0f64.to_bits().to_be_bytes());
        let mut out = Vec::new();
        decode_samples(&b, &mut out).expect("decode");
        assert_eq!(
            out,
            [
                RefSample {
                    series_ref: 5,
                    t: 100,
                    v: 1.0
                },
                RefSample {
                    series_ref: 7,
                    t: 110,
                    v: 2.0
                }
            ]
        );
    }

    #[test]
    fn malformed_records_are_errors() {
        let mut out = Vec::new();
        assert!(decode_samples(&[1], &mut out).is_err());
        assert!(decode_samples(&[2, 0, 0], &mut out).is_err());
        let mut s = Vec::new();
        assert!(decode_series(&[1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 5, b'a'], &mut s).is_err());
        assert!(decode_tombstones(&[3, 1], &mut Vec::new()).is_err());
        assert!(decode_mmap_markers(&[5, 1, 2], &mut Vec::new()).is_err());
        assert_eq!(RecordType::of(&[]), RecordType::Unknown(255));
        assert_eq!(RecordType::of(&[4]), RecordType::Exemplars);
        assert_eq!(RecordType::of(&[13]), RecordType::Histograms);
        assert_eq!(RecordType::of(&[99]), RecordType::Unknown(99));
    }

    #[test]
    fn metadata_is_laid_out_as_prometheus_writes_it() {
        let md = [RefMetadata {
            series_ref: 300,
            typ: 1,
            unit: "s".into(),
            help: "Help.".into(),
        }];
        let mut b = Vec::new();
        encode_metadata(&md, &mut b);
        let mut want = vec![6, 0xac, 0x02, 1, 2];
        want.extend_from_slice(b"\x04UNIT\x01s\x04HELP\x05Help.");
        assert_eq!(b, want);
        // Fields other than UNIT and HELP are skipped (a newer writer may add some).
        let mut rec = vec![6, 7, 2, 3];
        rec.extend_from_slice(b"\x04HELP\x01h\x03NEW\x02xy\x04UNIT\x02by");
        let mut out = Vec::new();
        decode_metadata(&rec, &mut out).unwrap();
        assert_eq!(
            out,
            [RefMetadata {
                series_ref: 7,
                typ: 2,
                unit: "by".into(),
                help: "h".into()
            }]
        );
        assert!(decode_metadata(&[6, 7, 2, 1, 4], &mut out).is_err());
        assert!(decode_metadata(&[1], &mut out).is_err());
    }

    #[test]
    fn exemplars_are_laid_out_as_prometheus_writes_them() {
        // As record_test.go's exemplar records: base ref and time, then per exemplar the
        // deltas, the value and the label pairs.
        let exemplars = [
            RefExemplar {
                series_ref: 0,
                t: 1,
                v: 1.0,
                labels: Labels::from_pairs([("trace_id", "qwerty")]),
            },
            RefExemplar {
                series_ref: 123,
                t: -1,
                v: 1.5,
                labels: Labels::from_pairs([("a", "b"), ("trace_id", "x")]),
            },
        ];
        let mut b = Vec::new();
        encode_exemplars(&exemplars, &mut b);
        let mut want = vec![4];
        want.extend_from_slice(&0u64.to_be_bytes());
        want.extend_from_slice(&1i64.to_be_bytes());
        want.extend_from_slice(&[0, 0]);
        want.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
        want.extend_from_slice(&[1, 8]);
        want.extend_from_slice(b"trace_id");
        want.push(6);
        want.extend_from_slice(b"qwerty");
        want.extend_from_slice(&[0xf6, 0x01, 3]); // 123 and -2 zigzagged
        want.extend_from_slice(&1.5f64.to_bits().to_be_bytes());
        want.extend_from_slice(&[2, 1, b'a', 1, b'b', 8]);
        want.extend_from_slice(b"trace_id");
        want.extend_from_slice(&[1, b'x']);
        assert_eq!(b, want);
        let mut out = Vec::new();
        decode_exemplars(&b, &mut out).expect("decode");
        assert_eq!(out, exemplars);
        // An empty record is the type byte alone.
        let mut b = Vec::new();
        encode_exemplars(&[], &mut b);
        assert_eq!(b, [4]);
        decode_exemplars(&b, &mut out).expect("empty");
        assert_eq!(out.len(), 2);
        assert!(decode_exemplars(&want[..want.len() - 1], &mut Vec::new()).is_err());
        assert!(decode_exemplars(&[2], &mut Vec::new()).is_err());
    }

    fn labels() -> impl Strategy<Value = Labels> {
        proptest::collection::btree_map("[a-z_]{1,8}", "\\PC{0,12}", 0..6)
            .prop_map(Labels::from_pairs)
    }

    proptest! {
        #[test]
        fn series_round_trip(series in proptest::collection::vec((any::<u64>(), labels()), 0..8)) {
            let series: Vec<RefSeries> = series
                .into_iter()
                .map(|(series_ref, labels)| RefSeries { series_ref, labels })
                .collect();
            let mut b = Vec::new();
            encode_series(&series, &mut b);
            let mut out = Vec::new();
            decode_series(&b, &mut out).expect("decode");
            prop_assert_eq!(out, series);
        }

        #[test]
        fn samples_round_trip(samples in proptest::collection::vec(
            (any::<u64>(), any::<i64>(), any::<u64>()), 0..50)
        ) {
            let samples: Vec<RefSample> = samples
                .into_iter()
                .map(|(r, t, v)| RefSample { series_ref: r, t, v: f64::from_bits(v) })
                .collect();
            let mut b = Vec::new();
            encode_samples(&samples, &mut b);
            let mut out = Vec::new();
            decode_samples(&b, &mut out).expect("decode");
            prop_assert_eq!(out, samples);
        }

        #[test]
        fn tombstones_and_markers_round_trip(
            t in proptest::collection::vec((any::<u64>(), any::<i64>(), any::<i64>()), 0..20),
            m in proptest::collection::vec((any::<u64>(), any::<u64>()), 0..20),
        ) {
            let stones: Vec<RefTombstone> = t.into_iter()
                .map(|(series_ref, mint, maxt)| RefTombstone { series_ref, mint, maxt }).collect();
            let mut b = Vec::new();
            encode_tombstones(&stones, &mut b);
            let mut out = Vec::new();
            decode_tombstones(&b, &mut out).expect("decode");
            prop_assert_eq!(out, stones);
            let markers: Vec<RefMmapMarker> = m.into_iter()
                .map(|(series_ref, mmap_ref)| RefMmapMarker { series_ref, mmap_ref }).collect();
            let mut b = Vec::new();
            encode_mmap_markers(&markers, &mut b);
            let mut out = Vec::new();
            decode_mmap_markers(&b, &mut out).expect("decode");
            prop_assert_eq!(out, markers);
        }

        #[test]
        fn exemplars_round_trip(exemplars in proptest::collection::vec(
            (any::<u64>(), any::<i64>(), any::<u64>(), labels()), 0..20)
        ) {
            let exemplars: Vec<RefExemplar> = exemplars
                .into_iter()
                .map(|(r, t, v, labels)| RefExemplar { series_ref: r, t, v: f64::from_bits(v), labels })
                .collect();
            let mut b = Vec::new();
            encode_exemplars(&exemplars, &mut b);
            let mut out = Vec::new();
            decode_exemplars(&b, &mut out).expect("decode");
            prop_assert_eq!(out, exemplars);
        }

        #[test]
        fn metadata_round_trip(metadata in proptest::collection::vec(
            (any::<u64>(), any::<u8>(), ".{0,8}", ".{0,40}"), 0..10)
        ) {
            let metadata: Vec<RefMetadata> = metadata
                .into_iter()
                .map(|(series_ref, typ, unit, help)| RefMetadata { series_ref, typ, unit, help })
                .collect();
            let mut b = Vec::new();
            encode_metadata(&metadata, &mut b);
            let mut out = Vec::new();
            decode_metadata(&b, &mut out).expect("decode");
            prop_assert_eq!(out, metadata);
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_metadata(&b, &mut Vec::new());
            let _ = decode_series(&b, &mut Vec::new());
            let _ = decode_samples(&b, &mut Vec::new());
            let _ = decode_tombstones(&b, &mut Vec::new());
            let _ = decode_mmap_markers(&b, &mut Vec::new());
            let _ = decode_exemplars(&b, &mut Vec::new());
        }
    }
}

/// A native histogram sample of a series (Go's `RefHistogramSample`).
#[derive(Debug, Clone, PartialEq)]
pub struct RefHistogramSample {
    /// The series' head reference.
    pub series_ref: u64,
    /// The sample time (ms).
    pub t: i64,
    /// The histogram.
    pub h: Histogram,
}

/// A float native histogram sample of a series (Go's `RefFloatHistogramSample`).
#[derive(Debug, Clone, PartialEq)]
pub struct RefFloatHistogramSample {
    /// The series' head reference.
    pub series_ref: u64,
    /// The sample time (ms).
    pub t: i64,
    /// The histogram.
    pub fh: FloatHistogram,
}

fn put_spans(buf: &mut Vec<u8>, spans: &[Span]) {
    put_uvarint(buf, spans.len() as u64);
    for s in spans {
        put_varint(buf, i64::from(s.offset));
        put_uvarint(buf, u64::from(s.length));
    }
}

fn put_custom_values(buf: &mut Vec<u8>, schema: i32, values: &[f64]) {
    if schema == CUSTOM_BUCKETS_SCHEMA {
        put_uvarint(buf, values.len() as u64);
        for v in values {
            buf.extend_from_slice(&v.to_bits().to_be_bytes());
        }
    }
}

/// Appends a histogram-like samples record of type `typ` to `buf`: the first sample's
/// series ref and time, then per sample the deltas to them and `body`'s encoding.
fn encode_hist_record<S>(
    buf: &mut Vec<u8>,
    typ: u8,
    samples: &[S],
    key: impl Fn(&S) -> (u64, i64),
    mut body: impl FnMut(&S, &mut Vec<u8>),
) {
    buf.push(typ);
    let Some(first) = samples.first() else {
        return;
    };
    let (first_ref, first_t) = key(first);
    buf.extend_from_slice(&first_ref.to_be_bytes());
    buf.extend_from_slice(&first_t.to_be_bytes());
    for s in samples {
        let (r, t) = key(s);
        put_varint(buf, (r as i64).wrapping_sub(first_ref as i64));
        put_varint(buf, t.wrapping_sub(first_t));
        body(s, buf);
    }
}

/// Appends the histogram samples record(s) Prometheus writes to `buf`: type 7, or type 9
/// when `custom_buckets` (Prometheus writes histograms with custom buckets, schema -53, in
/// records of their own; pass only those then).
pub fn encode_histogram_samples(
    samples: &[RefHistogramSample],
    custom_buckets: bool,
    buf: &mut Vec<u8>,
) {
    let typ = if custom_buckets { 9 } else { 7 };
    encode_hist_record(
        buf,
        typ,
        samples,
        |s| (s.series_ref, s.t),
        |s, buf| put_histogram(buf, &s.h),
    );
}

/// [`encode_histogram_samples`] of borrowed histograms: `(series_ref, t, histogram)`.
pub(crate) fn encode_histogram_sample_refs(
    samples: &[(u64, i64, &Histogram)],
    custom_buckets: bool,
    buf: &mut Vec<u8>,
) {
    let typ = if custom_buckets { 9 } else { 7 };
    encode_hist_record(
        buf,
        typ,
        samples,
        |s| (s.0, s.1),
        |s, buf| put_histogram(buf, s.2),
    );
}

fn put_histogram(buf: &mut Vec<u8>, h: &Histogram) {
    buf.push(h.counter_reset_hint as u8);
    put_varint(buf, i64::from(h.schema));
    buf.extend_from_slice(&h.zero_threshold.to_bits().to_be_bytes());
    put_uvarint(buf, h.zero_count);
    put_uvarint(buf, h.count);
    buf.extend_from_slice(&h.sum.to_bits().to_be_bytes());
    put_spans(buf, &h.positive_spans);
    put_spans(buf, &h.negative_spans);
    for b in [&h.positive_buckets, &h.negative_buckets] {
        put_uvarint(buf, b.len() as u64);
        for &d in b {
            put_varint(buf, d);
        }
    }
    put_custom_values(buf, h.schema, &h.custom_values);
}

/// Appends a float histogram samples record (type 8, or 10 when `custom_buckets`) to `buf`.
pub fn encode_float_histogram_samples(
    samples: &[RefFloatHistogramSample],
    custom_buckets: bool,
    buf: &mut Vec<u8>,
) {
    let typ = if custom_buckets { 10 } else { 8 };
    encode_hist_record(
        buf,
        typ,
        samples,
        |s| (s.series_ref, s.t),
        |s, buf| put_float_histogram(buf, &s.fh),
    );
}

/// [`encode_float_histogram_samples`] of borrowed histograms: `(series_ref, t, histogram)`.
pub(crate) fn encode_float_histogram_sample_refs(
    samples: &[(u64, i64, &FloatHistogram)],
    custom_buckets: bool,
    buf: &mut Vec<u8>,
) {
    let typ = if custom_buckets { 10 } else { 8 };
    encode_hist_record(
        buf,
        typ,
        samples,
        |s| (s.0, s.1),
        |s, buf| put_float_histogram(buf, s.2),
    );
}

fn put_float_histogram(buf: &mut Vec<u8>, h: &FloatHistogram) {
    buf.push(h.counter_reset_hint as u8);
    put_varint(buf, i64::from(h.schema));
    for v in [h.zero_threshold, h.zero_count, h.count, h.sum] {
        buf.extend_from_slice(&v.to_bits().to_be_bytes());
    }
    put_spans(buf, &h.positive_spans);
    put_spans(buf, &h.negative_spans);
    for b in [&h.positive_buckets, &h.negative_buckets] {
        put_uvarint(buf, b.len() as u64);
        for v in b.iter() {
            buf.extend_from_slice(&v.to_bits().to_be_bytes());
        }
    }
    put_custom_values(buf, h.schema, &h.custom_values);
}

fn hint_of(b: u8) -> CounterResetHint {
    match b {
        1 => CounterResetHint::CounterReset,
        2 => CounterResetHint::NotCounterReset,
        3 => CounterResetHint::Gauge,
        _ => CounterResetHint::Unknown,
    }
}

/// A list length, refused when it cannot fit the rest of the record.
fn list_len(dec: &mut Decbuf<'_>) -> Result<usize, &'static str> {
    let n = dec.uvarint()?;
    if n > dec.len() as u64 {
        return Err("list longer than the record");
    }
    Ok(n as usize)
}

fn read_spans(dec: &mut Decbuf<'_>) -> Result<Vec<Span>, &'static str> {
    let n = list_len(dec)?;
    let mut spans = Vec::with_capacity(n);
    for _ in 0..n {
        let offset = dec.varint()? as i32;
        let length = u32::try_from(dec.uvarint()?).map_err(|_| "span length overflows")?;
        spans.push(Span { offset, length });
    }
    Ok(spans)
}

fn read_custom_values(dec: &mut Decbuf<'_>, schema: i32) -> Result<Vec<f64>, &'static str> {
    if schema != CUSTOM_BUCKETS_SCHEMA {
        return Ok(Vec::new());
    }
    let n = list_len(dec)?;
    (0..n).map(|_| dec.be64().map(f64::from_bits)).collect()
}

/// Whether Prometheus knows the schema (others are skipped, as Go's decoder does).
fn known_schema(schema: i32) -> bool {
    schema == CUSTOM_BUCKETS_SCHEMA || (-4..=8).contains(&schema)
}

/// Decodes a histogram-like samples record of one of the types `types`: the base series
/// ref and time, then per sample their deltas and what `body` reads, a sample built from
/// the absolute ref and time, or `None` to skip it (an unknown schema).
fn decode_hist_record<S>(
    rec: &[u8],
    kind: &'static str,
    types: &[u8],
    out: &mut Vec<S>,
    mut body: impl FnMut(&mut Decbuf<'_>, u64, i64) -> Result<Option<S>, &'static str>,
) -> Result<()> {
    let mut dec = Decbuf::new(rec);
    expect_type(&mut dec, kind, types)?;
    if dec.len() == 0 {
        return Ok(());
    }
    let e = |m| bad(kind, m);
    let base_ref = dec.be64().map_err(e)?;
    let base_t = dec.be64().map_err(e)? as i64;
    while dec.len() > 0 {
        let dref = dec.varint().map_err(e)?;
        let dt = dec.varint().map_err(e)?;
        let series_ref = base_ref.wrapping_add(dref as u64);
        let t = base_t.wrapping_add(dt);
        if let Some(s) = body(&mut dec, series_ref, t).map_err(e)? {
            out.push(s);
        }
    }
    Ok(())
}

/// Decodes a histogram samples record (type 7 or 9), appending to `out`. Histograms of
/// unknown schemas are skipped, as Prometheus does.
///
/// # Errors
/// [`Error::InvalidRecord`] when the record is not a well-formed histogram samples record.
pub fn decode_histogram_samples(rec: &[u8], out: &mut Vec<RefHistogramSample>) -> Result<()> {
    decode_hist_record(
        rec,
        "histogram samples",
        &[7, 9],
        out,
        |dec, series_ref, t| {
            let mut h = Histogram {
                counter_reset_hint: hint_of(dec.byte()?),
                schema: dec.varint()? as i32,
                zero_threshold: f64::from_bits(dec.be64()?),
                zero_count: dec.uvarint()?,
                count: dec.uvarint()?,
                sum: f64::from_bits(dec.be64()?),
                ..Histogram::default()
            };
            h.positive_spans = read_spans(dec)?;
            h.negative_spans = read_spans(dec)?;
            for dst in [&mut h.positive_buckets, &mut h.negative_buckets] {
                let n = list_len(dec)?;
                *dst = (0..n).map(|_| dec.varint()).collect::<Result<_, _>>()?;
            }
            h.custom_values = read_custom_values(dec, h.schema)?;
            Ok(known_schema(h.schema).then_some(RefHistogramSample { series_ref, t, h }))
        },
    )
}

/// Decodes a float histogram samples record (type 8 or 10), appending to `out`.
///
/// # Errors
/// [`Error::InvalidRecord`] when the record is not a well-formed float histogram record.
pub fn decode_float_histogram_samples(
    rec: &[u8],
    out: &mut Vec<RefFloatHistogramSample>,
) -> Result<()> {
    decode_hist_record(
        rec,
        "float histogram samples",
        &[8, 10],
        out,
        |dec, series_ref, t| {
            let hint = hint_of(dec.byte()?);
            let schema = dec.varint()? as i32;
            let mut vals = [0f64; 4];
            for v in &mut vals {
                *v = f64::from_bits(dec.be64()?);
            }
            let mut fh = FloatHistogram {
                counter_reset_hint: hint,
                schema,
                zero_threshold: vals[0],
                zero_count: vals[1],
                count: vals[2],
                sum: vals[3],
                ..FloatHistogram::default()
            };
            fh.positive_spans = read_spans(dec)?;
            fh.negative_spans = read_spans(dec)?;
            for dst in [&mut fh.positive_buckets, &mut fh.negative_buckets] {
                let n = list_len(dec)?;
                *dst = (0..n)
                    .map(|_| dec.be64().map(f64::from_bits))
                    .collect::<Result<_, _>>()?;
            }
            fh.custom_values = read_custom_values(dec, fh.schema)?;
            Ok(known_schema(fh.schema).then_some(RefFloatHistogramSample { series_ref, t, fh }))
        },
    )
}

#[cfg(test)]
mod histogram_tests {
    use super::*;

    fn h(schema: i32) -> Histogram {
        Histogram {
            counter_reset_hint: CounterResetHint::Gauge,
            schema,
            zero_threshold: 0.001,
            zero_count: 3,
            count: 19,
            sum: -4.5,
            positive_spans: vec![
                Span {
                    offset: -2,
                    length: 2,
                },
                Span {
                    offset: 3,
                    length: 1,
                },
            ],
            negative_spans: vec![Span {
                offset: 1,
                length: 1,
            }],
            positive_buckets: vec![4, -1, 2],
            negative_buckets: vec![7],
            custom_values: if schema == CUSTOM_BUCKETS_SCHEMA {
                vec![1.0, 2.5, 10.0]
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn histogram_records_round_trip() {
        for (schema, custom) in [(3, false), (CUSTOM_BUCKETS_SCHEMA, true)] {
            let samples = vec![
                RefHistogramSample {
                    series_ref: 56,
                    t: 1234,
                    h: h(schema),
                },
                RefHistogramSample {
                    series_ref: 42,
                    t: 5678,
                    h: h(schema),
                },
            ];
            let mut buf = Vec::new();
            encode_histogram_samples(&samples, custom, &mut buf);
            assert_eq!(RecordType::of(&buf), RecordType::HistogramSamples);
            let mut got = Vec::new();
            decode_histogram_samples(&buf, &mut got).unwrap();
            assert_eq!(got, samples);
            // A cut record is an error or holds fewer histograms, never a panic.
            for cut in 1..buf.len() {
                let mut out = Vec::new();
                let r = decode_histogram_samples(&buf[..cut], &mut out);
                assert!(r.is_err() || out.len() < samples.len(), "cut {cut}");
            }

            let fsamples = vec![RefFloatHistogramSample {
                series_ref: 7,
                t: -5,
                fh: h(schema).to_float(),
            }];
            let mut buf = Vec::new();
            encode_float_histogram_samples(&fsamples, custom, &mut buf);
            assert_eq!(RecordType::of(&buf), RecordType::FloatHistogramSamples);
            let mut got = Vec::new();
            decode_float_histogram_samples(&buf, &mut got).unwrap();
            assert_eq!(got, fsamples);
        }
    }

    #[test]
    fn borrowed_histogram_records_are_the_same_bytes() {
        for (schema, custom) in [(3, false), (CUSTOM_BUCKETS_SCHEMA, true)] {
            let (a, b) = (h(schema), h(schema).to_float());
            let owned = [(56, 1234), (42, 5678)].map(|(series_ref, t)| RefHistogramSample {
                series_ref,
                t,
                h: a.clone(),
            });
            let (mut want, mut got) = (Vec::new(), Vec::new());
            encode_histogram_samples(&owned, custom, &mut want);
            encode_histogram_sample_refs(&[(56, 1234, &a), (42, 5678, &a)], custom, &mut got);
            assert_eq!(got, want);
            let owned = [RefFloatHistogramSample {
                series_ref: 7,
                t: -5,
                fh: b.clone(),
            }];
            let (mut want, mut got) = (Vec::new(), Vec::new());
            encode_float_histogram_samples(&owned, custom, &mut want);
            encode_float_histogram_sample_refs(&[(7, -5, &b)], custom, &mut got);
            assert_eq!(got, want);
        }
    }

    #[test]
    fn histogram_record_bytes_match_go_layout() {
        // One sample at the base ref and time: type, ref, time, deltas 0 0, then the
        // histogram fields in Go's `EncodeHistogram` order.
        let s = RefHistogramSample {
            series_ref: 1,
            t: 2,
            h: Histogram {
                counter_reset_hint: CounterResetHint::NotCounterReset,
                schema: 1,
                zero_count: 1,
                count: 2,
                sum: 0.0,
                positive_spans: vec![Span {
                    offset: 0,
                    length: 1,
                }],
                positive_buckets: vec![1],
                ..Histogram::default()
            },
        };
        let mut buf = Vec::new();
        encode_histogram_samples(&[s], false, &mut buf);
        let mut want = vec![7];
        want.extend_from_slice(&1u64.to_be_bytes());
        want.extend_from_slice(&2u64.to_be_bytes());
        want.extend_from_slice(&[0, 0, 2, 2]);
        want.extend_from_slice(&[0; 8]);
        want.extend_from_slice(&[1, 2]);
        want.extend_from_slice(&[0; 8]);
        want.extend_from_slice(&[1, 0, 1, 0, 1, 2, 0]);
        assert_eq!(buf, want);
    }
}
