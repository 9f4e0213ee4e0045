//! Pieces of the Prometheus text exposition format (0.0.4) that every component exposing
//! its own metrics writes: the `# HELP`/`# TYPE` header of a family and escaped label values.

use std::fmt::Write as _;

/// Appends a family's header: `# HELP <name> <help>` and `# TYPE <name> <kind>` lines
/// (`kind`: `counter`, `gauge`, `summary`, `histogram` or `untyped`). `help` is written as
/// given (the callers' help texts hold no backslash or newline).
///
/// ```
/// let mut out = String::new();
/// model::exposition::write_header(&mut out, "up", "gauge", "Whether it is up.");
/// assert_eq!(out, "# HELP up Whether it is up.\n# TYPE up gauge\n");
/// ```
pub fn write_header(out: &mut String, name: &str, kind: &str, help: &str) {
    // Writing into a String cannot fail.
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Appends `v` escaped as a label value of the text format: backslash, double quote and
/// newline become `\\`, `\"` and `\n`.
pub fn write_escaped_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `v` escaped as [`write_escaped_label_value`] does.
///
/// ```
/// assert_eq!(model::exposition::escape_label_value("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
/// ```
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    write_escaped_label_value(&mut out, v);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_only_backslash_quote_and_newline() {
        assert_eq!(escape_label_value(""), "");
        assert_eq!(
            escape_label_value("http://a:9093/api/v2/alerts"),
            "http://a:9093/api/v2/alerts"
        );
        assert_eq!(escape_label_value("\\\"\n\tü"), "\\\\\\\"\\n\tü");
        let mut out = String::from("x=\"");
        write_escaped_label_value(&mut out, "a\"b");
        assert_eq!(out, "x=\"a\\\"b");
    }

    #[test]
    fn header_is_help_then_type() {
        let mut out = String::new();
        write_header(&mut out, "a_total", "counter", "Total of a.");
        write_header(&mut out, "b", "summary", "B.");
        assert_eq!(
            out,
            "# HELP a_total Total of a.\n# TYPE a_total counter\n# HELP b B.\n# TYPE b summary\n"
        );
    }
}
