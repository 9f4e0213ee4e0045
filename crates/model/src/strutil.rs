//! Go's URL query escaping (`net/url.QueryEscape`), `path.Clean` of rooted URL paths, and
//! Prometheus's `util/strutil` links to the expression browser.

use std::fmt::Write as _;

/// Escapes `s` for a URL query value as Go's `url.QueryEscape` does: ASCII letters, digits
/// and `-_.~` stay, a space becomes `+`, every other byte of the UTF-8 encoding becomes
/// `%XX` (upper-case hex).
///
/// ```
/// assert_eq!(model::strutil::query_escape("a b/ü"), "a+b%2F%C3%BC");
/// ```
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    write_query_escaped(&mut out, s);
    out
}

/// Appends `s` to `out` escaped as [`query_escape`] does.
pub fn write_query_escaped(out: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            b => {
                // Writing into a String cannot fail.
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

/// The path of the expression browser's graph view of `expr` (Go's
/// `strutil.GraphLinkForExpression`).
///
/// ```
/// assert_eq!(
///     model::strutil::graph_link_for_expression("up == 0"),
///     "/graph?g0.expr=up+%3D%3D+0&g0.tab=0"
/// );
/// ```
pub fn graph_link_for_expression(expr: &str) -> String {
    link_for_expression(expr, '0')
}

/// The path of the expression browser's table view of `expr` (Go's
/// `strutil.TableLinkForExpression`); an alert's generator URL is the external URL followed
/// by this.
///
/// ```
/// assert_eq!(
///     model::strutil::table_link_for_expression("up == 0"),
///     "/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
/// );
/// ```
pub fn table_link_for_expression(expr: &str) -> String {
    link_for_expression(expr, '1')
}

fn link_for_expression(expr: &str, tab: char) -> String {
    let mut out = String::with_capacity(expr.len() * 3 + 24);
    out.push_str("/graph?g0.expr=");
    write_query_escaped(&mut out, expr);
    out.push_str("&g0.tab=");
    out.push(tab);
    out
}

/// Go's `path.Clean("/" + p)`: a rooted path without empty or `.` elements, each `..`
/// removing the element before it (never climbing above the root), no trailing slash.
///
/// ```
/// assert_eq!(model::strutil::clean_rooted_path("/a//b/./../c/"), "/a/c");
/// assert_eq!(model::strutil::clean_rooted_path("../../x"), "/x");
/// assert_eq!(model::strutil::clean_rooted_path(""), "/");
/// ```
pub fn clean_rooted_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_escape_matches_go() {
        // Expected values from Go's url.QueryEscape.
        for (input, want) in [
            ("", ""),
            ("abc-XYZ_09.~", "abc-XYZ_09.~"),
            ("a b", "a+b"),
            ("a+b", "a%2Bb"),
            ("rate(x[5m]) > 0.5", "rate%28x%5B5m%5D%29+%3E+0.5"),
            ("{job=\"a\"}", "%7Bjob%3D%22a%22%7D"),
            ("?&=#%/:", "%3F%26%3D%23%25%2F%3A"),
            ("\n\t", "%0A%09"),
            ("ü€", "%C3%BC%E2%82%AC"),
        ] {
            assert_eq!(query_escape(input), want, "{input:?}");
        }
    }

    #[test]
    fn links_name_the_tab() {
        assert_eq!(
            table_link_for_expression("sum(up) by (job)"),
            "/graph?g0.expr=sum%28up%29+by+%28job%29&g0.tab=1"
        );
        assert_eq!(
            graph_link_for_expression("up"),
            "/graph?g0.expr=up&g0.tab=0"
        );
        assert_eq!(table_link_for_expression(""), "/graph?g0.expr=&g0.tab=1");
    }
}
