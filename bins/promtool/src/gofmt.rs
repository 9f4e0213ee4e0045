//! Go's text formats that promtool's output is made of: `%g` and `'f', -1` floats,
//! `time.Duration`, `units.Base2Bytes`, UTC times, JSON strings and `text/tabwriter` tables.

use std::fmt::Write as _;

/// Go's `%g` and `'f', -1` floats (`model.SampleValue` and `model.Time` print with the
/// latter).
pub(crate) use model::strconv::{format_float_f as format_f, format_float_g as format_g};

/// A millisecond timestamp as `model.Time.String()` prints it: the seconds as a float,
/// computed and formatted as Go does (`float64(t) / 1000`, then `'f', -1`).
pub(crate) fn format_model_time(ms: i64) -> String {
    format_f(ms as f64 / 1000.0)
}

/// An OS error as Go words it: `no such file or directory`, without Rust's `(os error N)`.
pub(crate) fn io_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error ") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Go's `time.Duration.String` of a measured time: `850ns`, `1.5µs`, `12.345ms`, `1m3.5s`.
pub(crate) fn format_duration(d: std::time::Duration) -> String {
    model::strconv::format_go_duration(i128::try_from(d.as_nanos()).unwrap_or(i128::MAX))
}

/// Go's `time.Duration.String()` of a duration in milliseconds (`1h46m30.001s`, `2h0m0s`,
/// `500ms`, `0s`).
pub(crate) fn format_duration_ms(ms: i64) -> String {
    model::strconv::format_go_duration(i128::from(ms) * 1_000_000)
}

/// `units.Base2Bytes.String()` from alecthomas/units: `360KiB71B`, `1MiB`, `0B`.
pub(crate) fn format_base2_bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    let mut parts: Vec<String> = Vec::new();
    let mut n = n;
    for (i, unit) in UNITS.iter().enumerate() {
        if !n.is_multiple_of(1024) || (i == 0 && n == 0) {
            let suffix = if i == 0 { "B" } else { "iB" };
            parts.push(format!("{}{unit}{suffix}", n % 1024));
        }
        n /= 1024;
        if n == 0 {
            break;
        }
    }
    parts.reverse();
    parts.concat()
}

/// Go's `time.Unix(ms/1000, 0).UTC().String()`: `2026-11-23 12:43:00 +0000 UTC`.
pub(crate) fn format_utc_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02} +0000 UTC",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

pub(crate) use model::civil::{civil_from_days, days_from_civil};

/// A JSON string as Go's `encoding/json` writes it: `<`, `>`, `&`, U+2028 and U+2029
/// escaped as `\u00XX`, invalid control characters as `\u00XX`, the rest verbatim.
pub(crate) fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `text/tabwriter` with `minwidth`, `padding` and `' '` padding, for rows whose
/// cells are tab-separated: every cell but the last of a row is padded to its column's
/// width; the last cell of a row is written as it is.
pub(crate) fn tabwrite(rows: &[Vec<String>], minwidth: usize, padding: usize) -> String {
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; ncols];
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            let w = cell.chars().count() + padding;
            widths[i] = widths[i].max(w.max(minwidth));
        }
    }
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_time() {
        assert_eq!(format_model_time(1_700_000_000_500), "1700000000.5");
        assert_eq!(format_model_time(1_700_000_000_000), "1700000000");
        assert_eq!(format_model_time(1_795_481_488_345), "1795481488.345");
        assert_eq!(format_model_time(1_795_481_488_050), "1795481488.05");
    }

    #[test]
    fn durations_bytes_times() {
        assert_eq!(format_duration_ms(6_390_001), "1h46m30.001s");
        assert_eq!(format_duration_ms(750_001), "12m30.001s");
        assert_eq!(format_duration_ms(7_200_000), "2h0m0s");
        assert_eq!(format_duration_ms(19_020_000), "5h17m0s");
        assert_eq!(format_duration_ms(1_500), "1.5s");
        assert_eq!(format_duration_ms(5), "5ms");
        assert_eq!(format_duration_ms(0), "0s");
        assert_eq!(format_base2_bytes(368_711), "360KiB71B");
        assert_eq!(format_base2_bytes(1024), "1KiB");
        assert_eq!(format_base2_bytes(0), "0B");
        assert_eq!(format_base2_bytes(7787), "7KiB619B");
        assert_eq!(
            format_utc_time(1_795_437_780_000),
            "2026-11-23 12:43:00 +0000 UTC"
        );
        assert_eq!(days_from_civil(2026, 11, 23), 1_795_437_780 / 86_400);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    #[test]
    fn json_escapes_like_go() {
        let mut s = String::new();
        json_string(&mut s, "a<b>&\"\n\u{1}é");
        assert_eq!(s, r#""a\u003cb\u003e\u0026\"\n\u0001é""#);
    }

    #[test]
    fn tabwriter_pads_all_but_last() {
        let rows = vec![
            vec!["A".to_owned(), "BB".to_owned(), "C".to_owned()],
            vec![
                "xxxxxxxxxxxxxxxx".to_owned(),
                "y".to_owned(),
                "zzz".to_owned(),
            ],
        ];
        assert_eq!(
            tabwrite(&rows, 13, 2),
            "A                 BB           C\nxxxxxxxxxxxxxxxx  y            zzz\n"
        );
    }
}
