//! Go-compatible string quoting (`strconv.Quote`), used by every `Display` that Prometheus
//! prints with `%q`.

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

#[cfg(test)]
mod tests {
    use super::*;

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
