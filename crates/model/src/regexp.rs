//! Fully anchored regular expressions with Go RE2 syntax and semantics, as Prometheus uses
//! them in label matchers and relabel configs.
//!
//! Prometheus parses a regex with Go's `regexp/syntax` (flags `Perl | DotNL`) and matches
//! `^(?s:REGEX)$` (model/labels/regexp.go): the whole value must match and `.` matches
//! newlines (Prometheus 3). [`Regex`] does the same in three steps:
//!
//! 1. A parser for Go's syntax (`parse`) builds a small tree with Go's decisions and Go's
//!    error messages (`error parsing regexp: missing closing ): ...`). It rejects what Go
//!    rejects (`a**`, `x{1001}`, `(a{100}){100}`, `\8`, `\C`, unknown `\p{..}` names, `(?x)`)
//!    and accepts what Go accepts (`\Q..\E`, octal `\141`, `[[]`, `a{,3}` as a literal, a
//!    name `(?P<1x>..)` starting with a digit, duplicate group names).
//! 2. Fast paths (as Prometheus's `FastRegexMatcher`) answer common shapes without a regex:
//!    literal sets (`a|b|c`, also `foo(bar|baz)`, `[ab]x`, `x?`), held in a hash set from 16
//!    values on so that a 50,000-value alternation from a Grafana multi-select costs one
//!    hash lookup and no compilation; `.*`, `.+`, `prefix.*`, `.*suffix`, `.*needle.*`, and
//!    alternations of these. Other patterns are pre-filtered by their literal prefix and
//!    suffix.
//! 3. Everything else is written out in the `regex` crate's syntax with every construct
//!    spelled explicitly (classes as explicit code point ranges, case folding already
//!    applied, `\b` as the ASCII `(?-u:\b)`, `.` as `(?s:.)`), so no Rust-only meaning can
//!    apply, and compiled with a 64 MiB size limit (the default 10 MiB rejects large
//!    alternations). Fast-path patterns compile only if capture groups are asked for.
//!
//! What this gives, for Go's RE2 syntax as Prometheus uses it:
//! - `\d`, `\s`, `\w`, `\b`, `[[:alpha:]]` are ASCII only, as in Go (`\s` is
//!   `[\t\n\f\r ]`, without `\v`). Under `(?i)` they fold as Go folds them (`(?i)\w` also
//!   matches `ſ` and the Kelvin sign).
//! - Inside classes `&&`, `--`, `~~` and `[` are literal characters; `\<` and `\>` are the
//!   literal characters `<` and `>` (word boundaries in Rust).
//! - `x{n,m}` allows counts up to 1000, and nested counted repetitions may not multiply past
//!   1000; repetition operators cannot be stacked (`a**`, `a*{2}`), as in Go.
//! - Capture groups are numbered as in Go; names live beside the Rust regex, so names that
//!   Rust rejects work; [`expand`] implements Go's `Regexp.Expand` (`$1x` names group `1x`).
//! - Leftmost-first matching (Perl semantics) for captures, like Go's default.
//!
//! Known differences from Go's RE2:
//! - `\p{..}` names: general categories, their long aliases, scripts, `Any`, `Assigned` and
//!   `ASCII` are accepted as in Go, but the Unicode version is the one of `regex-syntax`
//!   (Go's may differ by a version), and script abbreviations such as `\p{Grek}` are
//!   accepted although Go rejects them.
//! - Case folding uses `regex-syntax`'s simple case folding tables, which may differ from
//!   Go's `unicode.SimpleFold` for characters added in other Unicode versions.
//! - Go limits nesting by tree height (1000); here, in addition, groups may nest at most 250
//!   deep, including non-capturing groups, which Go does not count (`expression nests too
//!   deeply`). This keeps hostile patterns from overflowing the stack.
//! - Go checks the size limit (`expression too large`) while parsing; here the same estimate
//!   is computed once on the finished tree, and a pattern that the `regex` crate still cannot
//!   compile within its size limit is reported as `expression too large` as well.
//! - Text is always valid UTF-8 in Rust, so Go's `invalid UTF-8` error cannot occur, and
//!   `\x{D800}`-style surrogates, which Go accepts but can never match, are rejected as
//!   invalid escapes.

mod emit;
mod fast;
mod parse;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::{Error, Result};

use fast::StringMatcher;

/// The size limit for compiled regexes (the `regex` crate's default is 10 MiB).
const SIZE_LIMIT: usize = 64 << 20;
/// The nesting limit for the generated Rust pattern (it nests deeper than the source, whose
/// groups may nest 250 deep).
const NEST_LIMIT: u32 = 1000;

/// A compiled regex, anchored at both ends with Go RE2 semantics: `^(?s:PATTERN)$`.
///
/// ```
/// use model::regexp::Regex;
/// let re = Regex::new(r"api-\d+|web").unwrap();
/// assert!(re.is_match("api-12"));
/// assert!(!re.is_match("api-12x")); // anchored
/// assert!(!re.is_match("api-٣")); // \d is ASCII, as in Go
/// let set = Regex::new("a|b|c").unwrap();
/// assert_eq!(set.set_matches(), Some(&["a".to_string(), "b".into(), "c".into()][..]));
/// ```
pub struct Regex {
    source: String,
    names: Vec<Option<String>>,
    rust_pattern: String,
    compiled: OnceLock<Option<regex::Regex>>,
    fast: Option<StringMatcher>,
    set: Option<Vec<String>>,
    prefix: String,
    suffix: String,
    /// Capture groups spanning the whole expression (for captures without a compiled regex).
    whole_groups: Vec<usize>,
}

fn compile(pattern: &str) -> std::result::Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(SIZE_LIMIT)
        .nest_limit(NEST_LIMIT)
        .build()
}

fn common_prefix_of(values: &[String]) -> &str {
    let Some(first) = values.first() else {
        return "";
    };
    let mut n = first.len();
    for v in &values[1..] {
        // Where `v` first differs from `first`; a shorter `v` that is a prefix of `first`
        // ends on one of `first`'s character boundaries.
        let m = first
            .char_indices()
            .zip(v.chars())
            .find(|((_, a), b)| a != b)
            .map_or(first.len().min(v.len()), |((i, _), _)| i);
        n = n.min(m);
    }
    &first[..n]
}

fn whole_groups(mut node: &parse::Node) -> Vec<usize> {
    let mut out = Vec::new();
    while let parse::Node::Capture { index, sub } = node {
        out.push(*index);
        node = sub;
    }
    out
}

/// How many compiled regexes [`Regex::cached`] keeps for reuse.
const CACHE_ENTRIES: usize = 1000;
/// Longer patterns are compiled every time (they are rare and can be large).
pub(crate) const CACHE_MAX_PATTERN: usize = 4096;

impl Regex {
    /// [`Regex::new`] through a process-wide cache: the compiled regex for `pattern` is
    /// shared by every caller with that pattern (Prometheus 3 caches its regex matchers too).
    /// Dashboards send the same regex matchers and `label_replace` patterns again and again,
    /// and compiling one can cost more than evaluating a small query. Bounded: at most 1000
    /// patterns of up to 4096 bytes; a full cache starts over. Errors are not cached.
    pub fn cached(pattern: &str) -> Result<Arc<Regex>> {
        static CACHE: OnceLock<Mutex<HashMap<String, Arc<Regex>>>> = OnceLock::new();
        if pattern.len() > CACHE_MAX_PATTERN {
            return Ok(Arc::new(Regex::new(pattern)?));
        }
        let cache = CACHE.get_or_init(Mutex::default);
        let lock = || cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(re) = lock().get(pattern) {
            return Ok(Arc::clone(re));
        }
        let re = Arc::new(Regex::new(pattern)?);
        let mut c = lock();
        if c.len() >= CACHE_ENTRIES {
            c.clear();
        }
        c.insert(pattern.to_owned(), Arc::clone(&re));
        Ok(re)
    }

    /// Parses `pattern` with Go's RE2 syntax and compiles it anchored at both ends, with `.`
    /// matching newlines. Errors are worded as Go's.
    pub fn new(pattern: &str) -> Result<Regex> {
        if let Some(re) = Regex::alternating_literals(pattern) {
            return Ok(re);
        }
        let parsed = parse::parse(pattern).map_err(|e| Error::InvalidRegex {
            code: e.code.to_owned(),
            expr: e.expr,
        })?;
        let rust_pattern = emit::anchored(&parsed.node);
        let whole_groups = whole_groups(&parsed.node);
        let analysed = fast::strip_outer_anchors(parsed.node);
        let set = fast::literal_set(&analysed);
        let fast = match &set {
            Some(values) => Some(StringMatcher::from_set(values.clone())),
            None => fast::string_matcher(&analysed),
        };
        let prefix = match &set {
            Some(values) => common_prefix_of(values).to_owned(),
            None => fast::required_prefix(&analysed),
        };
        // The suffix only pre-filters patterns without a fast path.
        let suffix = if fast.is_some() {
            String::new()
        } else {
            fast::required_suffix(&analysed)
        };
        let compiled = OnceLock::new();
        if fast.is_none() {
            let re = compile(&rust_pattern).map_err(|_| Error::InvalidRegex {
                code: parse::ERR_LARGE.to_owned(),
                expr: pattern.to_owned(),
            })?;
            let _ = compiled.set(Some(re));
        }
        Ok(Regex {
            source: pattern.to_owned(),
            names: parsed.names,
            rust_pattern,
            compiled,
            fast,
            set,
            prefix,
            suffix,
            whole_groups,
        })
    }

    /// Prometheus's `optimizeAlternatingLiterals`: `a|b|c` where no part holds a regex
    /// metacharacter is a literal set, known without parsing (the common shape of large
    /// Grafana multi-select matchers).
    fn alternating_literals(pattern: &str) -> Option<Regex> {
        const META: &[char] = &[
            '\\', '.', '+', '*', '?', '(', ')', '[', ']', '{', '}', '^', '$',
        ];
        if pattern.contains(META) {
            return None;
        }
        let mut seen = std::collections::HashSet::new();
        let set: Vec<String> = pattern
            .split('|')
            .filter(|v| seen.insert(*v))
            .map(str::to_owned)
            .collect();
        let rust_pattern = emit::anchored_literals(pattern.split('|'));
        Some(Regex {
            source: pattern.to_owned(),
            names: vec![None],
            rust_pattern,
            compiled: OnceLock::new(),
            fast: Some(StringMatcher::from_set(set.clone())),
            prefix: common_prefix_of(&set).to_owned(),
            suffix: String::new(),
            set: Some(set),
            whole_groups: Vec::new(),
        })
    }

    /// The pattern as written, without the anchors.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The pattern in the `regex` crate's syntax that this regex runs when no fast path
    /// applies (anchored, every construct spelled out).
    pub fn rust_pattern(&self) -> &str {
        &self.rust_pattern
    }

    fn compiled(&self) -> Option<&regex::Regex> {
        self.compiled
            .get_or_init(|| compile(&self.rust_pattern).ok())
            .as_ref()
    }

    /// Reports whether the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        if let Some(f) = &self.fast {
            return f.matches(s);
        }
        if !s.starts_with(self.prefix.as_str()) || !s.ends_with(self.suffix.as_str()) {
            return false;
        }
        self.compiled().is_some_and(|re| re.is_match(s))
    }

    /// The values matched, if the regex matches a finite, listed set of strings (`a|b|c`,
    /// `foo(bar|baz)`, `x`): usable for postings lookups. In order of first appearance,
    /// without duplicates.
    pub fn set_matches(&self) -> Option<&[String]> {
        self.set.as_deref()
    }

    /// A literal every match starts with, if there is a non-empty one.
    pub fn prefix(&self) -> Option<&str> {
        (!self.prefix.is_empty()).then_some(self.prefix.as_str())
    }

    /// Reports whether a fast path answers [`is_match`](Self::is_match) without running a
    /// regex.
    pub fn is_optimized(&self) -> bool {
        self.fast.is_some()
    }

    /// Matches `s` (anchored) and returns the byte span of each capture group, group 0 being
    /// the whole match; `None` if `s` does not match.
    pub fn captures(&self, s: &str) -> Option<Vec<Option<(usize, usize)>>> {
        if let Some(re) = self.compiled() {
            let caps = re.captures(s)?;
            return Some(
                (0..caps.len())
                    .map(|i| caps.get(i).map(|m| (m.start(), m.end())))
                    .collect(),
            );
        }
        // Only a fast-path pattern too large for the regex crate gets here: report the
        // groups that span the whole match, the others as not participating.
        if !self.is_match(s) {
            return None;
        }
        let mut caps = vec![None; self.names.len()];
        caps[0] = Some((0, s.len()));
        for &g in &self.whole_groups {
            caps[g] = Some((0, s.len()));
        }
        Some(caps)
    }

    /// The names of the capture groups by index (index 0, the whole match, has none).
    pub fn group_names(&self) -> &[Option<String>] {
        &self.names
    }

    /// Matches `s` and expands `template` with the captures as Go's `Regexp.Expand` does;
    /// `None` if `s` does not match. See [`expand`].
    pub fn expand(&self, s: &str, template: &str) -> Option<String> {
        let caps = self.captures(s)?;
        let mut out = String::new();
        expand(&mut out, template, s, &caps, &self.names);
        Some(out)
    }
}

impl Clone for Regex {
    fn clone(&self) -> Regex {
        Regex {
            source: self.source.clone(),
            names: self.names.clone(),
            rust_pattern: self.rust_pattern.clone(),
            compiled: self.compiled.clone(),
            fast: self.fast.clone(),
            set: self.set.clone(),
            prefix: self.prefix.clone(),
            suffix: self.suffix.clone(),
            whole_groups: self.whole_groups.clone(),
        }
    }
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Regex({})", crate::strconv::quote(&self.source))
    }
}

impl fmt::Display for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
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
    names: &[Option<String>],
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
            None => names.iter().position(|n| n.as_deref() == Some(name)),
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

#[cfg(test)]
mod tests;
