//! Fast paths for common regex shapes, as Prometheus's `FastRegexMatcher`: literal sets,
//! prefixes, suffixes, `.*`, `.+`, and `.*literal.*`, answered without running the regex.

use std::collections::HashSet;

use super::parse::Node;

/// The largest cartesian product expanded when a concatenation contains several
/// alternations or small classes (Prometheus's `maxSetMatches`).
const MAX_SET_PRODUCT: usize = 256;
/// The largest class expanded into its characters.
const MAX_CLASS_EXPANSION: u32 = 16;
/// From this many values on, a set is matched through a hash set instead of a scan.
const HASH_SET_THRESHOLD: usize = 16;

/// A way to match a whole string without the regex engine. Every variant matches exactly
/// the strings that the anchored regex it was derived from matches.
#[derive(Debug, Clone)]
pub(crate) enum StringMatcher {
    /// `.*` (any string; without newlines unless `nl`).
    Any { nl: bool },
    /// `.+`.
    NonEmpty { nl: bool },
    /// One literal.
    Equal(String),
    /// A few literals, scanned.
    SmallSet(Vec<String>),
    /// Many literals, hashed.
    Set(HashSet<String>),
    /// The string starts with `prefix` and the rest matches `rest`.
    Prefix {
        prefix: String,
        rest: Box<StringMatcher>,
    },
    /// The string ends with `suffix` and what precedes it matches `rest`.
    Suffix {
        suffix: String,
        rest: Box<StringMatcher>,
    },
    /// `.*needle.*` with `.` matching newlines.
    Contains(String),
    /// Any of several matchers.
    Or(Vec<StringMatcher>),
}

impl StringMatcher {
    pub(crate) fn matches(&self, s: &str) -> bool {
        match self {
            StringMatcher::Any { nl } => *nl || !s.contains('\n'),
            StringMatcher::NonEmpty { nl } => !s.is_empty() && (*nl || !s.contains('\n')),
            StringMatcher::Equal(v) => s == v,
            StringMatcher::SmallSet(v) => v.iter().any(|x| x == s),
            StringMatcher::Set(set) => set.contains(s),
            StringMatcher::Prefix { prefix, rest } => s
                .strip_prefix(prefix.as_str())
                .is_some_and(|r| rest.matches(r)),
            StringMatcher::Suffix { suffix, rest } => s
                .strip_suffix(suffix.as_str())
                .is_some_and(|r| rest.matches(r)),
            StringMatcher::Contains(needle) => s.contains(needle.as_str()),
            StringMatcher::Or(v) => v.iter().any(|m| m.matches(s)),
        }
    }

    pub(crate) fn from_set(mut values: Vec<String>) -> StringMatcher {
        if values.len() == 1 {
            return StringMatcher::Equal(values.pop().expect("one value"));
        }
        if values.len() < HASH_SET_THRESHOLD {
            StringMatcher::SmallSet(values)
        } else {
            StringMatcher::Set(values.into_iter().collect())
        }
    }
}

fn strip_captures(mut node: &Node) -> &Node {
    while let Node::Capture { sub, .. } = node {
        node = sub;
    }
    node
}

/// Removes `^`/`\A` at the start and `$`/`\z` at the end of the whole expression (and of each
/// top-level alternative): the expression is anchored anyway, so they are no-ops there.
pub(crate) fn strip_outer_anchors(node: Node) -> Node {
    match node {
        Node::BeginText | Node::EndText => Node::Empty,
        Node::Capture { index, sub } => Node::Capture {
            index,
            sub: Box::new(strip_outer_anchors(*sub)),
        },
        Node::Alt(v) => Node::Alt(v.into_iter().map(strip_outer_anchors).collect()),
        Node::Concat(mut items) => {
            let start = items.iter().take_while(|n| **n == Node::BeginText).count();
            items.drain(..start);
            while items.last() == Some(&Node::EndText) {
                items.pop();
            }
            match items.len() {
                0 => Node::Empty,
                1 => items.pop().expect("one item"),
                _ => Node::Concat(items),
            }
        }
        other => other,
    }
}

/// The finite set of strings `node` matches, if it is small enough to list: literals,
/// alternations of literals, small classes, optional parts, and their concatenations.
pub(crate) fn literal_set(node: &Node) -> Option<Vec<String>> {
    let values = literal_set_inner(node)?;
    let mut seen = HashSet::with_capacity(values.len());
    Some(
        values
            .into_iter()
            .filter(|v| seen.insert(v.clone()))
            .collect(),
    )
}

fn literal_set_inner(node: &Node) -> Option<Vec<String>> {
    match node {
        Node::Empty => Some(vec![String::new()]),
        Node::Lit(c) => Some(vec![c.to_string()]),
        Node::Class(cls) => {
            let count: u32 = cls
                .ranges()
                .iter()
                .map(|r| r.end() as u32 - r.start() as u32 + 1)
                .sum();
            if count == 0 || count > MAX_CLASS_EXPANSION {
                return None;
            }
            Some(
                cls.ranges()
                    .iter()
                    .flat_map(|r| r.start()..=r.end())
                    .map(String::from)
                    .collect(),
            )
        }
        Node::Capture { sub, .. } => literal_set_inner(sub),
        Node::Repeat {
            sub,
            min: 0,
            max: Some(1),
            ..
        } => {
            let mut v = literal_set_inner(sub)?;
            v.push(String::new());
            Some(v)
        }
        Node::Concat(items) => {
            let mut acc = vec![String::new()];
            for item in items {
                if let Node::Lit(c) = item {
                    acc.iter_mut().for_each(|a| a.push(*c));
                    continue;
                }
                let next = literal_set_inner(item)?;
                let n = acc.len().checked_mul(next.len())?;
                if n > MAX_SET_PRODUCT.max(acc.len()).max(next.len()) {
                    return None;
                }
                if next.len() == 1 {
                    acc.iter_mut().for_each(|a| a.push_str(&next[0]));
                } else {
                    acc = acc
                        .iter()
                        .flat_map(|a| next.iter().map(move |b| format!("{a}{b}")))
                        .collect();
                }
            }
            Some(acc)
        }
        Node::Alt(branches) => {
            let mut out = Vec::new();
            for b in branches {
                out.extend(literal_set_inner(b)?);
            }
            Some(out)
        }
        _ => None,
    }
}

fn literal_run(items: &[Node]) -> String {
    items
        .iter()
        .map_while(|n| match n {
            Node::Lit(c) => Some(*c),
            _ => None,
        })
        .collect()
}

fn is_any(node: &Node) -> Option<(u32, bool)> {
    match strip_captures(node) {
        Node::Repeat {
            sub,
            min,
            max: None,
            ..
        } if *min <= 1 => match **sub {
            Node::Any { nl } => Some((*min, nl)),
            _ => None,
        },
        _ => None,
    }
}

/// A [`StringMatcher`] equivalent to `node`, if it has a shape one can answer without a regex.
pub(crate) fn string_matcher(node: &Node) -> Option<StringMatcher> {
    let node = strip_captures(node);
    if let Some(set) = literal_set(node) {
        return Some(StringMatcher::from_set(set));
    }
    if let Some((min, nl)) = is_any(node) {
        return Some(if min == 0 {
            StringMatcher::Any { nl }
        } else {
            StringMatcher::NonEmpty { nl }
        });
    }
    match node {
        Node::Alt(branches) => branches
            .iter()
            .map(string_matcher)
            .collect::<Option<Vec<_>>>()
            .map(StringMatcher::Or),
        Node::Concat(items) => {
            let prefix = literal_run(items);
            let after_prefix = &items[prefix.chars().count()..];
            let suffix_len = after_prefix
                .iter()
                .rev()
                .take_while(|n| matches!(n, Node::Lit(_)))
                .count();
            let middle = &after_prefix[..after_prefix.len() - suffix_len];
            let suffix: String = literal_run(&after_prefix[after_prefix.len() - suffix_len..]);
            let mid = match middle {
                [] => return None,
                [one] => string_matcher(one)?,
                [first, inner @ .., last]
                    if is_any(first) == Some((0, true))
                        && is_any(last) == Some((0, true))
                        && !inner.is_empty()
                        && inner.iter().all(|n| matches!(n, Node::Lit(_))) =>
                {
                    StringMatcher::Contains(literal_run(inner))
                }
                _ => return None,
            };
            let mut m = mid;
            if !suffix.is_empty() {
                m = StringMatcher::Suffix {
                    suffix,
                    rest: Box::new(m),
                };
            }
            if !prefix.is_empty() {
                m = StringMatcher::Prefix {
                    prefix,
                    rest: Box::new(m),
                };
            }
            Some(m)
        }
        _ => None,
    }
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or(a.len().min(b.len()), |((i, _), _)| i)
}

fn common_suffix(a: &str, b: &str) -> usize {
    a.chars()
        .rev()
        .zip(b.chars().rev())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x.len_utf8())
        .sum()
}

/// A literal every match starts with (possibly empty). For alternations, the longest
/// common prefix of the alternatives' prefixes.
pub(crate) fn required_prefix(node: &Node) -> String {
    match strip_captures(node) {
        Node::Lit(c) => c.to_string(),
        Node::Concat(items) => match items.first().map(strip_captures) {
            Some(Node::Alt(_) | Node::Concat(_)) => {
                let mut p = required_prefix(&items[0]);
                // A whole-literal first item may continue into the next items.
                if literal_set(&items[0]).is_some_and(|v| v.len() == 1) {
                    p.push_str(&literal_run(&items[1..]));
                }
                p
            }
            _ => literal_run(items),
        },
        Node::Alt(branches) => {
            let mut iter = branches.iter().map(required_prefix);
            let Some(mut p) = iter.next() else {
                return String::new();
            };
            for q in iter {
                let n = common_prefix(&p, &q);
                p.truncate(n);
            }
            p
        }
        _ => String::new(),
    }
}

/// A literal every match ends with (possibly empty).
pub(crate) fn required_suffix(node: &Node) -> String {
    match strip_captures(node) {
        Node::Lit(c) => c.to_string(),
        Node::Concat(items) => {
            let n = items
                .iter()
                .rev()
                .take_while(|n| matches!(n, Node::Lit(_)))
                .count();
            literal_run(&items[items.len() - n..])
        }
        Node::Alt(branches) => {
            let mut iter = branches.iter().map(required_suffix);
            let Some(mut p) = iter.next() else {
                return String::new();
            };
            for q in iter {
                let n = common_suffix(&p, &q);
                p = p[p.len() - n..].to_owned();
            }
            p
        }
        _ => String::new(),
    }
}
