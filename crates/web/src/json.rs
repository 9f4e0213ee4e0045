//! JSON output byte-for-byte like Prometheus's API (jsoniter with Go's escaping rules).
//!
//! Query results are written by hand rather than through serde because Prometheus writes
//! timestamps as raw decimal numbers (`1435781451.780`, which no `f64` prints as) and
//! sample values as Go-formatted strings (`"+Inf"`). Struct-shaped answers (build info,
//! runtime info) go through serde with [`GoFormatter`], which applies the same escaping.

use std::io;

use model::FloatHistogram;
use model::Labels;
use promql::value::{Series, Value};

/// Where JSON text goes: a `String`, or the byte buffer that [`write_query_data`] fills
/// (only ever with whole `str`s and ASCII, so it stays UTF-8).
pub(crate) trait Sink {
    /// Appends `s`.
    fn put(&mut self, s: &str);
    /// Appends one ASCII byte.
    fn put_ascii(&mut self, b: u8);
}

impl Sink for String {
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }
    fn put_ascii(&mut self, b: u8) {
        self.push(char::from(b));
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
    fn put_ascii(&mut self, b: u8) {
        self.push(b);
    }
}

/// Appends `s` as a JSON string, escaped as Go's `encoding/json` (and jsoniter's
/// standard-library-compatible config) does: `<`, `>` and `&` become `\u003c`, `\u003e`
/// and `\u0026`; control characters other than `\n`, `\r` and `\t` become `\u00XX`; and the
/// line and paragraph separators U+2028 and U+2029 are escaped.
pub(crate) fn write_str<S: Sink + ?Sized>(out: &mut S, s: &str) {
    out.put_ascii(b'"');
    escape_into(out, s);
    out.put_ascii(b'"');
}

/// The bytes that may start something [`escape_into`] escapes: ASCII controls, `"`, `\`,
/// `<`, `>`, `&`, and 0xE2 (the first byte of U+2028 and U+2029).
const MAY_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'&' as usize] = true;
    t[0xe2] = true;
    t
};

fn escape_into<S: Sink + ?Sized>(out: &mut S, s: &str) {
    // Everything escaped is ASCII or U+2028/U+2029 (bytes E2 80 A8/A9), so a byte scan
    // finds them; every index cut at is a char boundary.
    let b = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while let Some(skip) = b[i..].iter().position(|&c| MAY_ESCAPE[usize::from(c)]) {
        i += skip;
        let (escaped, len): (Option<&str>, usize) = match b[i] {
            b'"' => (Some("\\\""), 1),
            b'\\' => (Some("\\\\"), 1),
            b'\n' => (Some("\\n"), 1),
            b'\r' => (Some("\\r"), 1),
            b'\t' => (Some("\\t"), 1),
            b'<' => (Some("\\u003c"), 1),
            b'>' => (Some("\\u003e"), 1),
            b'&' => (Some("\\u0026"), 1),
            0xe2 => match b.get(i + 1..i + 3) {
                Some([0x80, 0xa8]) => (Some("\\u2028"), 3),
                Some([0x80, 0xa9]) => (Some("\\u2029"), 3),
                _ => {
                    i += 1;
                    continue;
                }
            },
            _ => (None, 1),
        };
        out.put(&s[start..i]);
        match escaped {
            Some(e) => out.put(e),
            None => out.put(&format!("\\u{:04x}", b[i])),
        }
        i += len;
        start = i;
    }
    out.put(&s[start..]);
}

/// Formats a sample value as Prometheus's JSON API does (`jsonutil.MarshalFloat`): Go's
/// shortest `'f'` form, `'e'` form below 1e-6 and from 1e21 on, and `NaN`, `+Inf`, `-Inf`.
pub fn format_float(v: f64) -> String {
    model::strconv::format_float_json(v)
}

/// Appends a millisecond timestamp as seconds, the way Prometheus's
/// `jsonutil.MarshalTimestamp` does: integer seconds, then `.` and exactly three digits
/// unless the milliseconds are zero (`1435781451.780`, `1435781451`, `-0.500`).
pub fn write_timestamp(out: &mut String, t: i64) {
    out.push_str(TsText::new(t).as_str());
}

/// A timestamp's text (see [`write_timestamp`]) on the stack: at most `-`, 16 digits of
/// seconds and `.ddd`.
#[derive(Clone, Copy)]
struct TsText {
    t: i64,
    len: u8,
    buf: [u8; 24],
}

impl TsText {
    fn new(t: i64) -> TsText {
        let abs = t.unsigned_abs();
        let mut digits = [0u8; 20];
        let start = decimal_digits(&mut digits, abs / 1000);
        let mut buf = [0u8; 24];
        let mut len = 0;
        if t < 0 {
            buf[0] = b'-';
            len = 1;
        }
        let secs = &digits[start..];
        buf[len..len + secs.len()].copy_from_slice(secs);
        len += secs.len();
        let fraction = abs % 1000;
        if fraction != 0 {
            buf[len..len + 4].copy_from_slice(&[
                b'.',
                b'0' + (fraction / 100) as u8,
                b'0' + (fraction / 10 % 10) as u8,
                b'0' + (fraction % 10) as u8,
            ]);
            len += 4;
        }
        TsText {
            t,
            len: len as u8,
            buf,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(self.bytes()).expect("a timestamp's text is ASCII")
    }
}

/// Writes `n` in decimal at the end of `buf`; returns where the digits start.
fn decimal_digits(buf: &mut [u8; 20], mut n: u64) -> usize {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return i;
        }
    }
}

/// Appends a label set as a JSON object (labels are already sorted by name).
pub(crate) fn write_labels<S: Sink + ?Sized>(out: &mut S, labels: &Labels) {
    out.put_ascii(b'{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.put_ascii(b',');
        }
        write_str(out, name);
        out.put_ascii(b':');
        write_str(out, value);
    }
    out.put_ascii(b'}');
}

/// Appends a sample value as [`model::strconv::write_float_json`] does, without its
/// `String` round trip for the two common kinds: whole numbers (counters, 0/1 gauges) and
/// fractions Ryū writes plainly (rates, ratios). Everything else goes the general way.
fn put_float(out: &mut Vec<u8>, v: f64, scratch: &mut String) {
    let abs = v.abs();
    // Below 1e15 (so NaN and the infinities are out), a round trip through `i64` tells
    // whole numbers from fractions more cheaply than `fract`, a libm call.
    if abs < 1e15 {
        let whole = v as i64;
        if whole as f64 != v {
            if abs >= 1e-5 {
                // From 1e-5 to 1e16 zmij (which picks Ryū's digits, so Go's) writes no
                // exponent, which makes its text Go's `'f'`, -1. Its exponent form would
                // end `e±dd` or `e±ddd`: checking those two bytes is cheaper than scanning.
                let mut buf = zmij::Buffer::new();
                let text = buf.format_finite(v).as_bytes();
                let at = |back: usize| text.len().checked_sub(back).map(|i| text[i]);
                if at(4) != Some(b'e') && at(5) != Some(b'e') {
                    out.extend_from_slice(text);
                    return;
                }
            }
        } else if !(v == 0.0 && v.is_sign_negative()) {
            if whole < 0 {
                out.push(b'-');
            }
            let mut digits = [0u8; 20];
            let start = decimal_digits(&mut digits, whole.unsigned_abs());
            out.extend_from_slice(&digits[start..]);
            return;
        }
    }
    scratch.clear();
    model::strconv::write_float_json(scratch, v);
    out.extend_from_slice(scratch.as_bytes());
}

/// Appends `[t,"v"]`.
fn put_point(out: &mut Vec<u8>, ts: &[u8], v: f64, scratch: &mut String) {
    out.push(b'[');
    out.extend_from_slice(ts);
    out.extend_from_slice(b",\"");
    put_float(out, v, scratch);
    out.extend_from_slice(b"\"]");
}

/// Appends a quoted sample value (`jsonutil.MarshalFloat`).
fn write_float_str(out: &mut String, v: f64) {
    out.push('"');
    model::strconv::write_float_json(out, v);
    out.push('"');
}

/// Appends a native histogram as Prometheus's `jsonutil.MarshalHistogram`:
/// `{"count":"..","sum":"..","buckets":[[rule,"lower","upper","count"],...]}`, where the
/// rule says which bounds are inclusive (0: upper only, 1: lower only, 2: neither, 3: both)
/// and empty buckets (and an empty list) are left out.
pub(crate) fn write_histogram(out: &mut String, h: &FloatHistogram) {
    out.push_str("{\"count\":");
    write_float_str(out, h.count);
    out.push_str(",\"sum\":");
    write_float_str(out, h.sum);
    let mut found = false;
    for b in h.all_bucket_iter() {
        if b.count == 0.0 {
            continue;
        }
        out.push_str(if found { "," } else { ",\"buckets\":[" });
        found = true;
        let rule = match (b.lower_inclusive, b.upper_inclusive) {
            (false, true) => '0',
            (true, false) => '1',
            (false, false) => '2',
            (true, true) => '3',
        };
        out.push('[');
        out.push(rule);
        out.push(',');
        write_float_str(out, b.lower);
        out.push(',');
        write_float_str(out, b.upper);
        out.push(',');
        write_float_str(out, b.count);
        out.push(']');
    }
    if found {
        out.push(']');
    }
    out.push('}');
}

/// Appends `[t,{histogram}]`.
fn put_hpoint(out: &mut Vec<u8>, ts: &[u8], h: &FloatHistogram, scratch: &mut String) {
    out.push(b'[');
    out.extend_from_slice(ts);
    out.push(b',');
    scratch.clear();
    write_histogram(scratch, h);
    out.extend_from_slice(scratch.as_bytes());
    out.push(b']');
}

/// The timestamps of a matrix's points, formatted once: a range query's series share
/// their steps, so the text of the `i`-th point of one series is usually the next one's.
#[derive(Default)]
struct TsCache(Vec<TsText>);

impl TsCache {
    fn get(&mut self, i: usize, t: i64) -> &[u8] {
        if i == self.0.len() {
            self.0.push(TsText::new(t));
        } else if self.0[i].t != t {
            self.0[i] = TsText::new(t);
        }
        self.0[i].bytes()
    }
}

/// Appends a series as Go's `marshalSeriesJSON`: `"values"` and `"histograms"` appear only
/// when the series has points of that kind.
fn put_series(out: &mut Vec<u8>, series: &Series, cache: &mut TsCache, scratch: &mut String) {
    out.extend_from_slice(b"{\"metric\":");
    write_labels(out, &series.metric);
    if !series.floats.is_empty() {
        out.extend_from_slice(b",\"values\":[");
        for (i, p) in series.floats.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            put_point(out, cache.get(i, p.t), p.f, scratch);
        }
        out.push(b']');
    }
    if !series.histograms.is_empty() {
        out.extend_from_slice(b",\"histograms\":[");
        for (i, p) in series.histograms.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            put_hpoint(out, TsText::new(p.t).bytes(), &p.h, scratch);
        }
        out.push(b']');
    }
    out.push(b'}');
}

/// Bytes a label set takes in JSON when nothing needs escaping.
fn labels_len(labels: &Labels) -> usize {
    2 + labels
        .iter()
        .map(|(n, v)| n.len() + v.len() + 6)
        .sum::<usize>()
}

/// About how many bytes [`write_query_data`] writes for `value` (reserved up front so a
/// large answer is not copied each time its buffer doubles).
fn estimated_len(value: &Value) -> usize {
    match value {
        Value::Scalar(_) | Value::String(_) => 64,
        Value::Vector(samples) => samples
            .iter()
            .map(|s| labels_len(&s.metric) + if s.h.is_some() { 256 } else { 56 })
            .sum(),
        Value::Matrix(series) => series
            .iter()
            .map(|s| labels_len(&s.metric) + 40 + s.floats.len() * 36 + s.histograms.len() * 256)
            .sum(),
    }
}

/// Appends a query result as Prometheus's `queryData`:
/// `{"resultType":"vector","result":[...]}`.
pub fn write_query_data(out: &mut String, value: &Value) {
    let mut bytes = std::mem::take(out).into_bytes();
    bytes.reserve(estimated_len(value) + 64);
    put_query_data(&mut bytes, value);
    *out = String::from_utf8(bytes).expect("only whole strs and ASCII are written");
}

fn put_query_data(out: &mut Vec<u8>, value: &Value) {
    let mut scratch = String::new();
    out.extend_from_slice(b"{\"resultType\":\"");
    out.extend_from_slice(value.type_name().as_bytes());
    out.extend_from_slice(b"\",\"result\":");
    match value {
        Value::Scalar(s) => put_point(out, TsText::new(s.t).bytes(), s.v, &mut scratch),
        Value::String(s) => {
            out.push(b'[');
            out.extend_from_slice(TsText::new(s.t).bytes());
            out.push(b',');
            write_str(out, &s.v);
            out.push(b']');
        }
        Value::Vector(samples) => {
            out.push(b'[');
            // An instant vector's samples mostly share the evaluation time.
            let mut ts = TsText::new(samples.first().map_or(0, |s| s.t));
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                if ts.t != s.t {
                    ts = TsText::new(s.t);
                }
                out.extend_from_slice(b"{\"metric\":");
                write_labels(out, &s.metric);
                match &s.h {
                    Some(h) => {
                        out.extend_from_slice(b",\"histogram\":");
                        put_hpoint(out, ts.bytes(), h, &mut scratch);
                    }
                    None => {
                        out.extend_from_slice(b",\"value\":");
                        put_point(out, ts.bytes(), s.f, &mut scratch);
                    }
                }
                out.push(b'}');
            }
            out.push(b']');
        }
        Value::Matrix(series) => {
            out.push(b'[');
            let mut cache = TsCache::default();
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                put_series(out, s, &mut cache, &mut scratch);
            }
            out.push(b']');
        }
    }
    out.push(b'}');
}

/// Appends a list of strings as a JSON array.
pub(crate) fn write_str_list<'a>(out: &mut String, items: impl IntoIterator<Item = &'a str>) {
    out.push('[');
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, s);
    }
    out.push(']');
}

/// A `serde_json` formatter that escapes strings as Go does (see [`write_str`]).
pub(crate) struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut escaped = String::with_capacity(fragment.len());
        escape_into(&mut escaped, fragment);
        writer.write_all(escaped.as_bytes())
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: serde_json::ser::CharEscape,
    ) -> io::Result<()> {
        use serde_json::ser::CharEscape;
        let s: String = match char_escape {
            CharEscape::Quote => "\\\"".into(),
            CharEscape::ReverseSolidus => "\\\\".into(),
            CharEscape::LineFeed => "\\n".into(),
            CharEscape::CarriageReturn => "\\r".into(),
            CharEscape::Tab => "\\t".into(),
            CharEscape::Solidus => "/".into(),
            CharEscape::Backspace => "\\u0008".into(),
            CharEscape::FormFeed => "\\u000c".into(),
            CharEscape::AsciiControl(byte) => format!("\\u{byte:04x}"),
        };
        writer.write_all(s.as_bytes())
    }
}

/// Serializes `value` with Go's escaping.
pub(crate) fn to_go_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, GoFormatter);
    value
        .serialize(&mut ser)
        .expect("serializing plain structs, maps and strings to memory cannot fail");
    String::from_utf8(buf).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_format_like_go_strconv_f_minus_one() {
        let cases = [
            (1.0, "1"),
            (0.1, "0.1"),
            (-0.0, "-0"),
            (1e21, "1e+21"),
            (999999999999999900000.0, "999999999999999900000"),
            (1.5e-7, "1.5e-07"),
            (1e-6, "0.000001"),
            (2.914021735196043e-08, "2.914021735196043e-08"),
            (123456789.125, "123456789.125"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::MIN_POSITIVE * 0.5, "1.1125369292536007e-308"),
            (5e-324, "5e-324"),
            (-1e21, "-1e+21"),
        ];
        for (v, want) in cases {
            assert_eq!(format_float(v), want, "{v:?}");
        }
        assert_eq!(format_float(f64::MAX), "1.7976931348623157e+308");
    }

    #[test]
    fn points_write_value_strings_in_place() {
        let mut out = b"[".to_vec();
        let mut scratch = String::new();
        for (i, v) in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            1e21,
            5e-324,
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                out.push(b',');
            }
            put_point(&mut out, b"1.500", v, &mut scratch);
        }
        out.push(b']');
        assert_eq!(
            String::from_utf8(out).expect("UTF-8"),
            r#"[[1.500,"NaN"],[1.500,"+Inf"],[1.500,"-Inf"],[1.500,"-0"],[1.500,"1e+21"],[1.500,"5e-324"]]"#
        );
    }

    #[test]
    fn histograms_write_like_go_marshal_histogram() {
        use model::Span;
        use promql::value::{FPoint, HPoint, Sample};
        use std::sync::Arc;
        let h = Arc::new(FloatHistogram {
            schema: 0,
            zero_threshold: 0.001,
            zero_count: 2.0,
            count: 10.0,
            sum: 20.5,
            positive_spans: vec![Span {
                offset: 0,
                length: 3,
            }],
            positive_buckets: vec![3.0, 0.0, 4.0],
            negative_spans: vec![Span {
                offset: 0,
                length: 1,
            }],
            negative_buckets: vec![1.0],
            ..FloatHistogram::default()
        });
        let hist = r#"{"count":"10","sum":"20.5","buckets":[[1,"-1","-0.5","1"],[3,"-0.001","0.001","2"],[0,"0.5","1","3"],[0,"2","4","4"]]}"#;
        let labels = Labels::from_pairs([("__name__", "h")]);
        let mut out = String::new();
        write_query_data(
            &mut out,
            &Value::Vector(vec![Sample {
                metric: labels.clone(),
                t: 1_500,
                f: 0.0,
                h: Some(h.clone()),
                drop_name: false,
            }]),
        );
        assert_eq!(
            out,
            format!(
                r#"{{"resultType":"vector","result":[{{"metric":{{"__name__":"h"}},"histogram":[1.500,{hist}]}}]}}"#
            )
        );
        let mut out = String::new();
        write_query_data(
            &mut out,
            &Value::Matrix(vec![
                Series {
                    metric: labels.clone(),
                    floats: vec![FPoint { t: 1_000, f: 1.0 }],
                    histograms: vec![HPoint {
                        t: 2_000,
                        h: h.clone(),
                    }],
                    drop_name: false,
                },
                Series {
                    metric: labels,
                    floats: Vec::new(),
                    histograms: vec![HPoint {
                        t: 3_000,
                        h: Arc::new(FloatHistogram::default()),
                    }],
                    drop_name: false,
                },
            ]),
        );
        assert_eq!(
            out,
            format!(
                r#"{{"resultType":"matrix","result":[{{"metric":{{"__name__":"h"}},"values":[[1,"1"]],"histograms":[[2,{hist}]]}},{{"metric":{{"__name__":"h"}},"histograms":[[3,{{"count":"0","sum":"0"}}]]}}]}}"#
            )
        );
    }

    #[test]
    fn timestamps_are_seconds_with_three_fraction_digits() {
        let cases = [
            (1_435_781_451_781, "1435781451.781"),
            (1_435_781_451_780, "1435781451.780"),
            (1_435_781_451_000, "1435781451"),
            (5, "0.005"),
            (-500, "-0.500"),
            (-1_500, "-1.500"),
            (0, "0"),
            (999, "0.999"),
            (1_010, "1.010"),
            (i64::MAX, "9223372036854775.807"),
            (i64::MIN, "-9223372036854775.808"),
        ];
        for (t, want) in cases {
            let mut out = String::new();
            write_timestamp(&mut out, t);
            assert_eq!(out, want);
        }
    }

    #[test]
    fn strings_escape_like_go() {
        let mut out = String::new();
        write_str(&mut out, "a<b>&\"\\\n\t\u{1}\u{8}\u{2028}é");
        assert_eq!(out, r#""a\u003cb\u003e\u0026\"\\\n\t\u0001\u0008\u2028é""#);
        let mut out = String::new();
        write_str(&mut out, "\u{2029}x\u{2027}\u{20ac}\u{1f600}\u{1f}\u{7f}\r");
        assert_eq!(out, "\"\\u2029x\u{2027}\u{20ac}\u{1f600}\\u001f\u{7f}\\r\"");
        assert_eq!(
            to_go_json(&serde_json::json!({"k": "a<b\u{8}\u{c}"})),
            r#"{"k":"a\u003cb\u0008\u000c"}"#
        );
    }

    /// The encoder written the plain way, as it was before the byte-buffer fast paths:
    /// the reference the property test holds [`write_query_data`] to.
    fn reference(value: &Value) -> String {
        fn ts(out: &mut String, t: i64) {
            let (sign, abs) = (if t < 0 { "-" } else { "" }, t.unsigned_abs());
            let (secs, ms) = (abs / 1000, abs % 1000);
            out.push_str(&if ms == 0 {
                format!("{sign}{secs}")
            } else {
                format!("{sign}{secs}.{ms:03}")
            });
        }
        fn point(out: &mut String, t: i64, v: f64) {
            out.push('[');
            ts(out, t);
            out.push_str(",\"");
            out.push_str(&model::strconv::format_float_json(v));
            out.push_str("\"]");
        }
        fn hpoint(out: &mut String, t: i64, h: &FloatHistogram) {
            out.push('[');
            ts(out, t);
            out.push(',');
            write_histogram(out, h);
            out.push(']');
        }
        let mut out = format!("{{\"resultType\":\"{}\",\"result\":", value.type_name());
        match value {
            Value::Scalar(s) => point(&mut out, s.t, s.v),
            Value::String(s) => {
                out.push('[');
                ts(&mut out, s.t);
                out.push(',');
                write_str(&mut out, &s.v);
                out.push(']');
            }
            Value::Vector(samples) => {
                let items: Vec<String> = samples
                    .iter()
                    .map(|s| {
                        let mut o = String::from("{\"metric\":");
                        write_labels(&mut o, &s.metric);
                        match &s.h {
                            Some(h) => {
                                o.push_str(",\"histogram\":");
                                hpoint(&mut o, s.t, h);
                            }
                            None => {
                                o.push_str(",\"value\":");
                                point(&mut o, s.t, s.f);
                            }
                        }
                        o.push('}');
                        o
                    })
                    .collect();
                out.push_str(&format!("[{}]", items.join(",")));
            }
            Value::Matrix(series) => {
                let items: Vec<String> = series
                    .iter()
                    .map(|s| {
                        let mut o = String::from("{\"metric\":");
                        write_labels(&mut o, &s.metric);
                        if !s.floats.is_empty() {
                            let pts: Vec<String> = s
                                .floats
                                .iter()
                                .map(|p| {
                                    let mut q = String::new();
                                    point(&mut q, p.t, p.f);
                                    q
                                })
                                .collect();
                            o.push_str(&format!(",\"values\":[{}]", pts.join(",")));
                        }
                        if !s.histograms.is_empty() {
                            let pts: Vec<String> = s
                                .histograms
                                .iter()
                                .map(|p| {
                                    let mut q = String::new();
                                    hpoint(&mut q, p.t, &p.h);
                                    q
                                })
                                .collect();
                            o.push_str(&format!(",\"histograms\":[{}]", pts.join(",")));
                        }
                        o.push('}');
                        o
                    })
                    .collect();
                out.push_str(&format!("[{}]", items.join(",")));
            }
        }
        out.push('}');
        out
    }

    mod prop {
        use super::*;
        use promql::value::{FPoint, HPoint, Sample};
        use proptest::prelude::*;
        use std::sync::Arc;

        /// Floats of every kind: any bit pattern, whole numbers, rate-like fractions,
        /// tiny and huge magnitudes, and the specials.
        fn float() -> impl Strategy<Value = f64> {
            prop_oneof![
                any::<u64>().prop_map(f64::from_bits),
                (-1_000_000_000i64..1_000_000_000).prop_map(|n| n as f64),
                any::<f64>(),
                (-1e6f64..1e6),
                (-1e-4f64..1e-4),
                (1e14f64..1e22),
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(f64::NEG_INFINITY),
                Just(-0.0),
                Just(1e-5),
                Just(1e15),
            ]
        }

        fn labels() -> impl Strategy<Value = Labels> {
            proptest::collection::btree_map(
                "[a-z_]{1,6}",
                "(\\PC|[<>&\"\\\\\n\u{1}\u{2028}]){0,8}",
                0..4,
            )
            .prop_map(|m| Labels::from_pairs(m.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
        }

        fn timestamp() -> impl Strategy<Value = i64> {
            prop_oneof![
                any::<i64>(),
                (1_600_000_000_000i64..1_800_000_000_000),
                (-5_000i64..5_000),
            ]
        }

        fn histogram() -> impl Strategy<Value = Arc<FloatHistogram>> {
            (float(), float()).prop_map(|(count, sum)| {
                Arc::new(FloatHistogram {
                    count,
                    sum,
                    zero_count: 1.0,
                    zero_threshold: 0.001,
                    ..FloatHistogram::default()
                })
            })
        }

        fn series() -> impl Strategy<Value = Series> {
            (
                labels(),
                timestamp(),
                prop_oneof![Just(15_000i64), 1i64..100_000],
                proptest::collection::vec(float(), 0..20),
                proptest::collection::vec((timestamp(), histogram()), 0..3),
            )
                .prop_map(|(metric, start, step, fs, hs)| Series {
                    metric,
                    floats: fs
                        .into_iter()
                        .enumerate()
                        .map(|(i, f)| FPoint {
                            t: start.wrapping_add(step * i as i64),
                            f,
                        })
                        .collect(),
                    histograms: hs.into_iter().map(|(t, h)| HPoint { t, h }).collect(),
                    drop_name: false,
                })
        }

        fn sample() -> impl Strategy<Value = Sample> {
            (
                labels(),
                prop_oneof![Just(1_700_000_000_015i64), timestamp()],
                float(),
                proptest::option::weighted(0.2, histogram()),
            )
                .prop_map(|(metric, t, f, h)| Sample {
                    metric,
                    t,
                    f,
                    h,
                    drop_name: false,
                })
        }

        fn value() -> impl Strategy<Value = Value> {
            prop_oneof![
                proptest::collection::vec(series(), 0..8).prop_map(Value::Matrix),
                proptest::collection::vec(sample(), 0..8).prop_map(Value::Vector),
                (timestamp(), float())
                    .prop_map(|(t, v)| Value::Scalar(promql::value::Scalar { t, v })),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(20_000))]
            #[test]
            fn floats_write_like_the_general_path(v in float()) {
                let mut out = Vec::new();
                put_float(&mut out, v, &mut String::new());
                prop_assert_eq!(String::from_utf8(out).expect("UTF-8"), model::strconv::format_float_json(v));
            }
        }

        proptest! {
            #[test]
            fn query_data_matches_the_plain_encoder(value in value()) {
                let mut out = String::from("prefix");
                write_query_data(&mut out, &value);
                prop_assert_eq!(out, format!("prefix{}", reference(&value)));
            }
        }
    }
}
