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

impl Regex {
    /// Matches `s` (anchored) and returns the byte span of each capture group, group 0 being
    /// the whole match; `None` if `s` does not match.
    pub fn captures(&self, s: &str) -> Option<Vec<Option<(usize, usize)>>> {
        let caps = self.re.captures(s)?;
        Some(
            (0..caps.len())
                .map(|i| caps.get(i).map(|m| (m.start(), m.end())))
                .collect(),
        )
    }

    /// The names of the capture groups by index (index 0, the whole match, has none).
    pub fn group_names(&self) -> Vec<Option<&str>> {
        self.re.capture_names().collect()
    }

    /// Matches `s` and expands `template` with the captures as Go's `Regexp.Expand` does;
    /// `None` if `s` does not match. See [`expand`].
    pub fn expand(&self, s: &str, template: &str) -> Option<String> {
        let caps = self.captures(s)?;
        let mut out = String::new();
        expand(&mut out, template, s, &caps, &self.group_names());
        Some(out)
    }
}

/// Appends `template` to `dst`, replacing `$name`, `${name}`, `$1` and `${1}` by the text of
/// the capture group (empty if the group did not participate or does not exist) and `$$` by
/// `$`, exactly as Go's `regexp.Expand`.
///
/// As in Go, `$name` takes the longest run of letters, digits and `_`: `$1x` names the group
/// `1x`, not group 1 followed by `x`; write `${1}x` for that. A name made only of digits
/// (without a leading zero) is a group number. A `$` not followed by a valid name is kept
/// literally.
pub fn expand(
    dst: &mut String,
    template: &str,
    src: &str,
    caps: &[Option<(usize, usize)>],
    names: &[Option<&str>],
) {
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        dst.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            dst.push('$');
            rest = after;
            continue;
        }
        let Some((name, num, after)) = extract_name(rest) else {
            dst.push('$');
            continue;
        };
        rest = after;
        let group = match num {
            Some(n) => Some(n),
            None => names.iter().position(|n| *n == Some(name)),
        };
        if let Some(Some((a, b))) = group.and_then(|g| caps.get(g)) {
            dst.push_str(&src[*a..*b]);
        }
    }
    dst.push_str(rest);
}

/// Go's `regexp.extract`: parses `name` or `{name}` at the start of `s`.
fn extract_name(s: &str) -> Option<(&str, Option<usize>, &str)> {
    let (brace, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let end = body
        .char_indices()
        .find(|(_, c)| !(c.is_alphabetic() || c.is_numeric() || *c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    let rest = if brace {
        body[end..].strip_prefix('}')?
    } else {
        &body[end..]
    };
    let mut num = Some(0usize);
    for b in name.bytes() {
        num = match num {
            Some(n) if b.is_ascii_digit() && n < 100_000_000 => {
                Some(n * 10 + usize::from(b - b'0'))
            }
            _ => None,
        };
    }
    if name.len() > 1 && name.starts_with('0') {
        num = None;
    }
    Some((name, num, rest))
}
