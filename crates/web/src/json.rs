//! JSON output byte-for-byte like Prometheus's API (jsoniter with Go's escaping rules).
//!
//! Query results are written by hand rather than through serde because Prometheus writes
//! timestamps as raw decimal numbers (`1435781451.780`, which no `f64` prints as) and
//! sample values as Go-formatted strings (`"+Inf"`). Struct-shaped answers (build info,
//! runtime info) go through serde with [`GoFormatter`], which applies the same escaping.

use std::fmt::Write as _;
use std::io;

use model::FloatHistogram;
use model::Labels;
use promql::value::{Series, Value};

/// Appends `s` as a JSON string, escaped as Go's `encoding/json` (and jsoniter's
/// standard-library-compatible config) does: `<`, `>` and `&` become `\u003c`, `\u003e`
/// and `\u0026`; control characters other than `\n`, `\r` and `\t` become `\u00XX`; and the
/// line and paragraph separators U+2028 and U+2029 are escaped.
pub(crate) fn write_str(out: &mut String, s: &str) {
    out.push('"');
    escape_into(out, s);
    out.push('"');
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

fn escape_into(out: &mut String, s: &str) {
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
        out.push_str(&s[start..i]);
        match escaped {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", b[i]);
            }
        }
        i += len;
        start = i;
    }
    out.push_str(&s[start..]);
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
    let abs = t.unsigned_abs();
    if t < 0 {
        out.push('-');
    }
    push_decimal(out, abs / 1000);
    let fraction = abs % 1000;
    if fraction != 0 {
        let f = [
            b'.',
            b'0' + (fraction / 100) as u8,
            b'0' + (fraction / 10 % 10) as u8,
            b'0' + (fraction % 10) as u8,
        ];
        out.push_str(std::str::from_utf8(&f).unwrap_or(".000"));
    }
}

/// Appends `n` in decimal (cheaper than `write!` for the one number per point).
fn push_decimal(out: &mut String, mut n: u64) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits only: the check cannot fail, and one push beats a push per digit.
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
}

/// Appends a label set as a JSON object (labels are already sorted by name).
pub(crate) fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, name);
        out.push(':');
        write_str(out, value);
    }
    out.push('}');
}

/// Appends `[t,"v"]`.
fn write_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    write_timestamp(out, t);
    out.push_str(",\"");
    model::strconv::write_float_json(out, v);
    out.push_str("\"]");
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
fn write_hpoint(out: &mut String, t: i64, h: &FloatHistogram) {
    out.push('[');
    write_timestamp(out, t);
    out.push(',');
    write_histogram(out, h);
    out.push(']');
}

/// Appends a series as Go's `marshalSeriesJSON`: `"values"` and `"histograms"` appear only
/// when the series has points of that kind.
fn write_series(out: &mut String, series: &Series) {
    out.push_str("{\"metric\":");
    write_labels(out, &series.metric);
    if !series.floats.is_empty() {
        out.push_str(",\"values\":[");
        for (i, p) in series.floats.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_point(out, p.t, p.f);
        }
        out.push(']');
    }
    if !series.histograms.is_empty() {
        out.push_str(",\"histograms\":[");
        for (i, p) in series.histograms.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_hpoint(out, p.t, &p.h);
        }
        out.push(']');
    }
    out.push('}');
}

/// Appends a query result as Prometheus's `queryData`:
/// `{"resultType":"vector","result":[...]}`.
pub fn write_query_data(out: &mut String, value: &Value) {
    out.push_str("{\"resultType\":\"");
    out.push_str(value.type_name());
    out.push_str("\",\"result\":");
    match value {
        Value::Scalar(s) => write_point(out, s.t, s.v),
        Value::String(s) => {
            out.push('[');
            write_timestamp(out, s.t);
            out.push(',');
            write_str(out, &s.v);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(out, &s.metric);
                match &s.h {
                    Some(h) => {
                        out.push_str(",\"histogram\":");
                        write_hpoint(out, s.t, h);
                    }
                    None => {
                        out.push_str(",\"value\":");
                        write_point(out, s.t, s.f);
                    }
                }
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push('[');
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_series(out, s);
            }
            out.push(']');
        }
    }
    out.push('}');
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
        let mut out = String::from("[");
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
                out.push(',');
            }
            write_point(&mut out, 1_500, v);
        }
        out.push(']');
        assert_eq!(
            out,
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
}
