//! Fully anchored regular expressions with Go RE2 semantics, as Prometheus uses them.

use crate::{Error, Result};

/// A compiled regex, anchored at both ends as Prometheus anchors label matchers and relabel
/// regexes: `^(?s:PATTERN)$`.
#[derive(Debug, Clone)]
pub struct Regex {
    source: String,
    re: regex::Regex,
    set: Option<Vec<String>>,
}

const META: &[char] = &[
    '\\', '.', '+', '*', '?', '(', ')', '[', ']', '{', '}', '^', '$',
];

fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str("[0-9]"),
            Some('D') => out.push_str("[^0-9]"),
            Some('w') => out.push_str("[0-9A-Za-z_]"),
            Some('W') => out.push_str("[^0-9A-Za-z_]"),
            Some('s') => out.push_str("[\\t\\n\\x0C\\r ]"),
            Some('S') => out.push_str("[^\\t\\n\\x0C\\r ]"),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

impl Regex {
    /// Compiles `pattern` anchored at both ends, with `.` matching newlines.
    pub fn new(pattern: &str) -> Result<Regex> {
        let anchored = format!("^(?s:{})$", translate(pattern));
        let re = regex::RegexBuilder::new(&anchored)
            .size_limit(64 << 20)
            .build()
            .map_err(|e| Error::InvalidRegex {
                code: if pattern.matches('(').count() > pattern.matches(')').count() {
                    "missing closing )".to_owned()
                } else {
                    e.to_string()
                },
                expr: pattern.to_owned(),
            })?;
        let set = if pattern.contains(META) {
            None
        } else {
            Some(pattern.split('|').map(str::to_owned).collect())
        };
        Ok(Regex {
            source: pattern.to_owned(),
            re,
            set,
        })
    }

    /// The pattern as written, without the anchors.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Reports whether the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        self.re.is_match(s)
    }

    /// The values matched, if the regex is a literal alternation.
    pub fn set_matches(&self) -> Option<&[String]> {
        self.set.as_deref()
    }

    /// A literal prefix of every match, if known.
    pub fn prefix(&self) -> Option<&str> {
        None
    }
}
