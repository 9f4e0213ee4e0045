//! Go-compatible string quoting (`strconv.Quote`, used by every `Display` that Prometheus
//! prints with `%q`) and float formatting (`%g`, `strconv.FormatFloat(v, 'f', -1, 64)`).

use std::fmt::{self, Write};

/// Returns `s` as a double-quoted Go string literal, as Go's `strconv.Quote` does.
///
/// ```
/// assert_eq!(model::strconv::quote("a\"b\n"), r#""a\"b\n""#);
/// ```
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    // Writing into a String cannot fail.
    let _ = write_quoted(&mut out, s);
    out
}

/// Writes `s` as a double-quoted Go string literal into `w` (see [`quote`]).
pub fn write_quoted<W: Write + ?Sized>(w: &mut W, s: &str) -> fmt::Result {
    w.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => w.write_str("\\\"")?,
            '\\' => w.write_str("\\\\")?,
            '\x07' => w.write_str("\\a")?,
            '\x08' => w.write_str("\\b")?,
            '\x0c' => w.write_str("\\f")?,
            '\n' => w.write_str("\\n")?,
            '\r' => w.write_str("\\r")?,
            '\t' => w.write_str("\\t")?,
            '\x0b' => w.write_str("\\v")?,
            c if is_print(c) => w.write_char(c)?,
            c if (c as u32) < 0x20 || c == '\x7f' => write!(w, "\\x{:02x}", c as u32)?,
            c if (c as u32) < 0x10000 => write!(w, "\\u{:04x}", c as u32)?,
            c => write!(w, "\\U{:08x}", c as u32)?,
        }
    }
    w.write_char('"')
}

/// Approximates Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and
/// the ASCII space are printable; control and format characters, other spaces, surrogates
/// and private-use characters are not.
///
/// Unassigned code points count as printable here (Go escapes them), because telling them
/// apart needs the full Unicode tables.
pub fn is_print(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return (0x20..0x7f).contains(&u);
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(u,
        0xa0 | 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x890..=0x891 | 0x8e2 | 0x180e
        | 0x2000..=0x200f | 0x2028..=0x202f | 0x205f..=0x2064 | 0x2066..=0x206f | 0x3000
        | 0xd800..=0xdfff | 0xe000..=0xf8ff | 0xfeff | 0xfff9..=0xfffb | 0x110bd | 0x110cd
        | 0x13430..=0x1343f | 0x1bca0..=0x1bca3 | 0x1d173..=0x1d17a | 0xe0001 | 0xe0020..=0xe007f
        | 0xf0000..=0xffffd | 0x100000..=0x10fffd)
}

/// Formats `v` as Go's `strconv.FormatFloat(v, 'g', -1, 64)` (and `fmt`'s `%g`): the
/// shortest round-trip digits, in exponent form (`1e+06`, `1.234567e+06`, `1e-05`) when the
/// decimal exponent is below -4 or at least 6, otherwise plain (`123456`, `0.0001`); `+Inf`,
/// `-Inf`, `NaN`.
///
/// ```
/// assert_eq!(model::strconv::format_float_g(1234567.0), "1.234567e+06");
/// assert_eq!(model::strconv::format_float_g(0.0001), "0.0001");
/// ```
pub fn format_float_g(v: f64) -> String {
    let mut out = String::new();
    write_shortest(&mut out, v, |exp| !(-4..6).contains(&exp));
    out
}

/// Formats `v` as Go's `strconv.FormatFloat(v, 'e', -1, 64)`: the shortest round-trip
/// digits in exponent form with a signed, at least two-digit exponent.
///
/// ```
/// assert_eq!(model::strconv::format_float_e(2.914021735196043e-08), "2.914021735196043e-08");
/// assert_eq!(model::strconv::format_float_e(1e21), "1e+21");
/// ```
pub fn format_float_e(v: f64) -> String {
    let mut out = String::new();
    write_shortest(&mut out, v, |_| true);
    out
}

/// Formats a sample value the way Prometheus's JSON API does (`jsonutil.MarshalFloat`): Go's
/// `'f'` form, except `'e'` form for magnitudes below 1e-6 or from 1e21 on.
///
/// ```
/// assert_eq!(model::strconv::format_float_json(0.5), "0.5");
/// assert_eq!(model::strconv::format_float_json(2.914021735196043e-08), "2.914021735196043e-08");
/// assert_eq!(model::strconv::format_float_json(f64::NAN), "NaN");
/// ```
pub fn format_float_json(v: f64) -> String {
    let mut out = String::new();
    write_float_json(&mut out, v);
    out
}

/// Appends `v` to `out` formatted as [`format_float_json`] does, without allocating a
/// string of its own (JSON encoders write thousands of values per response).
///
/// ```
/// let mut out = String::from("[");
/// model::strconv::write_float_json(&mut out, 1e21);
/// assert_eq!(out, "[1e+21");
/// ```
pub fn write_float_json(out: &mut String, v: f64) {
    if let Some(s) = special_float(v) {
        out.push_str(s);
        return;
    }
    let abs = v.abs();
    if abs < 1e15 && v.fract() == 0.0 && !(v == 0.0 && v.is_sign_negative()) {
        // Whole numbers (counters, 0/1 gauges) are the common case; integer formatting
        // is several times cheaper than shortest-float search and prints the same digits.
        let _ = write!(out, "{}", v as i64);
    } else {
        let exponent = abs != 0.0 && !(1e-6..1e21).contains(&abs);
        if !exponent && v.fract() != 0.0 {
            // A fraction in plain range: Ryū's text is Go's when it has no exponent (Ryū
            // writes plain decimals from 1e-5 to 1e16, and a fraction has no `.0` to cut).
            let mut buf = ryu::Buffer::new();
            let text = buf.format_finite(v);
            if !text.contains('e') {
                out.push_str(text);
                return;
            }
        }
        write_shortest(out, v, |_| exponent);
    }
}

/// Appends `v` with its shortest round-trip digits: `NaN`/`+Inf`/`-Inf` as the exposition
/// formats spell them, otherwise in exponent form (`d.ddde±XX`) when `exponent(exp)` says so
/// for the decimal exponent of the first digit, else plain (Go's `'f'`, -1).
fn write_shortest(out: &mut String, v: f64, exponent: impl Fn(i32) -> bool) {
    if let Some(s) = special_float(v) {
        out.push_str(s);
        return;
    }
    let sh = Shortest::of(v);
    if sh.neg {
        out.push('-');
    }
    if exponent(sh.exp) {
        push_exponent_form(out, sh.digits(), sh.exp);
    } else {
        push_plain_form(out, sh.digits(), sh.exp);
    }
}

/// The shortest decimal digits that read back as a finite `v`, as Go's strconv picks them
/// (Ryū: among the shortest candidates the closest, an exact tie to the even digit; Rust's
/// own formatting rounds such ties up), with the sign and the decimal exponent of the first
/// digit (`v = ±d.ddd × 10^exp`).
struct Shortest {
    neg: bool,
    digits: [u8; 17],
    len: usize,
    exp: i32,
}

impl Shortest {
    fn of(v: f64) -> Shortest {
        let mut buf = ryu::Buffer::new();
        let text = buf.format_finite(v);
        let (neg, text) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, e) = match text.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
            None => (text, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let mut out = Shortest {
            neg,
            digits: [b'0'; 17],
            len: 0,
            exp: 0,
        };
        let mut leading_zeros = 0i32;
        for b in int.bytes().chain(frac.bytes()) {
            if out.len == 0 && b == b'0' {
                leading_zeros += 1;
            } else if out.len < out.digits.len() {
                out.digits[out.len] = b;
                out.len += 1;
            }
        }
        while out.len > 1 && out.digits[out.len - 1] == b'0' {
            out.len -= 1;
        }
        if out.len == 0 {
            // Zero (of either sign): the digit "0".
            out.len = 1;
        } else {
            let int_len = i32::try_from(int.len()).unwrap_or(i32::MAX);
            out.exp = e + int_len - 1 - leading_zeros;
        }
        out
    }

    fn digits(&self) -> &str {
        // ryu writes ASCII digits only.
        std::str::from_utf8(&self.digits[..self.len]).unwrap_or("0")
    }
}

/// Appends the digits with the decimal point placed for exponent `exp`, never an exponent
/// (Go's `'f'` form with the shortest digits).
fn push_plain_form(out: &mut String, digits: &str, exp: i32) {
    let nd = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else if exp + 1 >= nd {
        out.push_str(digits);
        for _ in 0..(exp + 1 - nd) {
            out.push('0');
        }
    } else {
        let (a, b) = digits.split_at(usize::try_from(exp + 1).unwrap_or(0));
        out.push_str(a);
        out.push('.');
        out.push_str(b);
    }
}

/// Appends `d.ddde±XX` as Go writes exponent forms.
fn push_exponent_form(out: &mut String, digits: &str, exp: i32) {
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    let sign = if exp < 0 { '-' } else { '+' };
    let _ = write!(out, "e{sign}{:02}", exp.abs());
}

/// Formats `v` as Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest round-trip
/// digits, never an exponent (`1000000`, `0.0000001`); `+Inf`, `-Inf`, `NaN`.
///
/// ```
/// assert_eq!(model::strconv::format_float_f(1e21), "1000000000000000000000");
/// assert_eq!(model::strconv::format_float_f(f64::INFINITY), "+Inf");
/// ```
pub fn format_float_f(v: f64) -> String {
    let mut out = String::new();
    write_shortest(&mut out, v, |_| false);
    out
}

fn special_float(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("+Inf")
    } else if v == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

/// Go's `time.Duration.String` of `nanos` nanoseconds: `0s`, `850ns`, `1.5µs`,
/// `12.345ms`, `1m3.5s`, `2h0m0s`, `-1.5s` (seconds keep up to nine fraction digits,
/// trailing zeros trimmed).
///
/// ```
/// assert_eq!(model::strconv::format_go_duration(3_723_500_000_000), "1h2m3.5s");
/// assert_eq!(model::strconv::format_go_duration(12_345_000), "12.345ms");
/// ```
pub fn format_go_duration(nanos: i128) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    if nanos < 0 {
        out.push('-');
    }
    let ns = nanos.unsigned_abs();
    // `.ddd` of `v` printed with `digits` digits, trailing zeros trimmed.
    let frac = |out: &mut String, v: u128, digits: usize| {
        let f = format!("{v:0digits$}");
        let f = f.trim_end_matches('0');
        if !f.is_empty() {
            out.push('.');
            out.push_str(f);
        }
    };
    // Writing into a String cannot fail.
    if ns < 1_000 {
        let _ = write!(out, "{ns}ns");
    } else if ns < 1_000_000 {
        let _ = write!(out, "{}", ns / 1_000);
        frac(&mut out, ns % 1_000, 3);
        out.push_str("µs");
    } else if ns < 1_000_000_000 {
        let _ = write!(out, "{}", ns / 1_000_000);
        frac(&mut out, ns % 1_000_000, 6);
        out.push_str("ms");
    } else {
        let secs = ns / 1_000_000_000;
        let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
        if h > 0 {
            let _ = write!(out, "{h}h");
        }
        if h > 0 || m > 0 {
            let _ = write!(out, "{m}m");
        }
        let _ = write!(out, "{s}");
        frac(&mut out, ns % 1_000_000_000, 9);
        out.push('s');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::format_go_duration;

    #[test]
    fn go_durations() {
        let cases: [(i128, &str); 12] = [
            (0, "0s"),
            (850, "850ns"),
            (1_500, "1.5µs"),
            (12_345_000, "12.345ms"),
            (5_000_000, "5ms"),
            (1_200_000_000, "1.2s"),
            (63_500_000_000, "1m3.5s"),
            (300_000_000_000, "5m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (6_390_001_000_000, "1h46m30.001s"),
            (1_000_000_001, "1.000000001s"),
            (-1_500_000_000, "-1.5s"),
        ];
        for (ns, want) in cases {
            assert_eq!(format_go_duration(ns), want, "{ns} ns");
        }
    }

    use super::*;

    proptest::proptest! {
        /// The Ryū fast path of `write_float_json` prints what the digit-by-digit path
        /// prints, over every magnitude of the plain range.
        #[test]
        fn json_fast_path_matches_the_shortest_digits(bits in proptest::num::u64::ANY, scale in -7i32..22) {
            let v = f64::from_bits(bits);
            proptest::prop_assume!(v.is_finite() && v != 0.0);
            // Any mantissa, moved into the range the fast path serves.
            let v = v / 10f64.powi(v.abs().log10().floor() as i32) * 10f64.powi(scale);
            proptest::prop_assume!(v.is_finite());
            let mut fast = String::new();
            write_float_json(&mut fast, v);
            let mut slow = String::new();
            let abs = v.abs();
            if abs < 1e15 && v.fract() == 0.0 {
                slow = format!("{}", v as i64);
            } else {
                let exponent = !(1e-6..1e21).contains(&abs);
                write_shortest(&mut slow, v, |_| exponent);
            }
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn floats_format_like_go() {
        for (v, g, f) in [
            (0.0, "0", "0"),
            (-0.0, "-0", "-0"),
            (1.0, "1", "1"),
            (3.0, "3", "3"),
            (1.5, "1.5", "1.5"),
            (-1.5, "-1.5", "-1.5"),
            (-2.5, "-2.5", "-2.5"),
            (12.345678901, "12.345678901", "12.345678901"),
            (123.456, "123.456", "123.456"),
            (100000.0, "100000", "100000"),
            (123456.0, "123456", "123456"),
            (1e6, "1e+06", "1000000"),
            (1234567.0, "1.234567e+06", "1234567"),
            (-1234567.0, "-1.234567e+06", "-1234567"),
            (1700000000.0, "1.7e+09", "1700000000"),
            (1e20, "1e+20", "100000000000000000000"),
            (1e21, "1e+21", "1000000000000000000000"),
            (0.0001, "0.0001", "0.0001"),
            (0.00012, "0.00012", "0.00012"),
            (0.00001, "1e-05", "0.00001"),
            (1e-7, "1e-07", "0.0000001"),
            (1.5e-7, "1.5e-07", "0.00000015"),
            (0.1, "0.1", "0.1"),
            (2.5e-5, "2.5e-05", "0.000025"),
            (f64::NAN, "NaN", "NaN"),
            (f64::INFINITY, "+Inf", "+Inf"),
            (f64::NEG_INFINITY, "-Inf", "-Inf"),
        ] {
            assert_eq!(format_float_g(v), g, "%g of {v:?}");
            assert_eq!(format_float_f(v), f, "'f' of {v:?}");
        }
        assert_eq!(format_float_g(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(
            format_float_f(f64::MAX),
            format!("17976931348623157{}", "0".repeat(292))
        );
    }

    proptest::proptest! {
        #[test]
        fn shortest_forms_read_back_exactly(bits in proptest::num::u64::ANY) {
            let v = f64::from_bits(bits);
            proptest::prop_assume!(v.is_finite());
            for s in [format_float_g(v), format_float_json(v), format_float_e(v), format_float_f(v)] {
                let back: f64 = s.parse().expect("a number");
                proptest::prop_assert_eq!(back.to_bits(), v.to_bits(), "{}", s);
            }
            // As short as Rust's shortest form (which only differs on exact ties).
            let rust = format!("{v:e}");
            let ours = format_float_e(v);
            let digits = |s: &str| s.split(['e', 'E']).next().unwrap_or("").chars().filter(char::is_ascii_digit).count();
            proptest::prop_assert_eq!(digits(&ours), digits(&rust));
        }
    }

    #[test]
    fn exact_ties_round_to_even_as_go() {
        // 1599.51593017578125 is exactly halfway between the two 17-digit candidates; Go
        // (Ryū) prints ...812, Rust's own formatting ...813.
        let v = 1_599.515_930_175_781_2_f64;
        assert_eq!(format_float_json(v), "1599.5159301757812");
        assert_eq!(format_float_g(v), "1599.5159301757812");
        assert_eq!(format_float_f(v), "1599.5159301757812");
        assert_eq!(format_float_e(v), "1.5995159301757812e+03");
    }

    #[test]
    fn json_floats_match_go_and_append_in_place() {
        for (v, want) in [
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-7.0, "-7"),
            (999_999_999_999_999.0, "999999999999999"),
            (1e15, "1000000000000000"),
            (-4503599627370497.0, "-4503599627370497"),
            (0.5, "0.5"),
            (-1234567.25, "-1234567.25"),
            (1e-6, "0.000001"),
            (9.99e-7, "9.99e-07"),
            (-1.5e-7, "-1.5e-07"),
            (1e20, "100000000000000000000"),
            (999999999999999900000.0, "999999999999999900000"),
            (1e21, "1e+21"),
            (-1e21, "-1e+21"),
            (1.5e300, "1.5e+300"),
            (5e-324, "5e-324"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            assert_eq!(format_float_json(v), want, "{v:?}");
            let mut out = String::from("x,");
            write_float_json(&mut out, v);
            assert_eq!(out, format!("x,{want}"), "appending {v:?}");
            // The JSON form is 'e' outside [1e-6, 1e21) and 'f' inside, as Go's encoder.
            let abs = v.abs();
            if v.is_finite() && abs != 0.0 && !(1e-6..1e21).contains(&abs) {
                assert_eq!(want, format_float_e(v));
            } else {
                assert_eq!(want, format_float_f(v));
            }
        }
    }

    #[test]
    fn quote_matches_go_strconv_quote() {
        let cases = [
            ("", r#""""#),
            ("abc", r#""abc""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("\x07\x08\x0c\n\r\t\x0b", r#""\a\b\f\n\r\t\v""#),
            ("\x00\x1f\x7f", r#""\x00\x1f\x7f""#),
            ("héllo ☺", "\"héllo ☺\""),
            ("\u{200b}\u{feff}", r#""\u200b\ufeff""#),
            ("\u{a0}", r#""\u00a0""#),
            ("\u{e0001}", r#""\U000e0001""#),
            ("\u{1f600}", "\"\u{1f600}\""),
        ];
        for (input, want) in cases {
            assert_eq!(quote(input), want, "quote({input:?})");
        }
    }
}
