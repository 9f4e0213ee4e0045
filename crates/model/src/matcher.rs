//! Label matchers: `=`, `!=`, `=~`, `!~` with fully anchored RE2-style regexes.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::regexp::Regex;
use crate::{Result, strconv};

/// How a [`Matcher`] compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchType {
    /// `=`: the value equals.
    Equal,
    /// `!=`: the value differs.
    NotEqual,
    /// `=~`: the value matches the (fully anchored) regex.
    RegexMatch,
    /// `!~`: the value does not match the regex.
    RegexNoMatch,
}

impl MatchType {
    /// The operator as written in PromQL: `=`, `!=`, `=~` or `!~`.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::RegexMatch => "=~",
            MatchType::RegexNoMatch => "!~",
        }
    }

    /// The opposite operator (`=` and `!=`, `=~` and `!~`).
    pub fn inverse(self) -> MatchType {
        match self {
            MatchType::Equal => MatchType::NotEqual,
            MatchType::NotEqual => MatchType::Equal,
            MatchType::RegexMatch => MatchType::RegexNoMatch,
            MatchType::RegexNoMatch => MatchType::RegexMatch,
        }
    }

    /// Reports whether this is `=~` or `!~`.
    pub fn is_regex(self) -> bool {
        matches!(self, MatchType::RegexMatch | MatchType::RegexNoMatch)
    }
}

impl fmt::Display for MatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Matches a label value: `name op "value"`.
///
/// Build it with [`Matcher::new`], which compiles the regex of `=~`/`!~` once. The fields are
/// public for reading; changing `value` or `match_type` afterwards does not recompile the regex.
/// Equality and hashing consider `match_type`, `name` and `value` only.
///
/// ```
/// use model::{MatchType, Matcher};
/// let m = Matcher::new(MatchType::RegexMatch, "job", "api|web").unwrap();
/// assert!(m.matches("web"));
/// assert!(!m.matches("webserver")); // fully anchored
/// assert_eq!(m.set_matches(), Some(&["api".to_string(), "web".to_string()][..]));
/// assert_eq!(m.to_string(), r#"job=~"api|web""#);
/// ```
#[derive(Clone)]
pub struct Matcher {
    /// The comparison.
    pub match_type: MatchType,
    /// The label name.
    pub name: String,
    /// The value or regex source (without anchors).
    pub value: String,
    re: Option<Arc<Regex>>,
}

impl Matcher {
    /// Builds a matcher; for `=~` and `!~` compiles `value` as a fully anchored regex with Go
    /// RE2 semantics (see [`crate::regexp`]).
    pub fn new(
        match_type: MatchType,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher> {
        let value = value.into();
        let re = if match_type.is_regex() {
            Some(Regex::cached(&value)?)
        } else {
            None
        };
        Ok(Matcher {
            match_type,
            name: name.into(),
            value,
            re,
        })
    }

    /// An `name="value"` matcher (cannot fail).
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher {
            match_type: MatchType::Equal,
            name: name.into(),
            value: value.into(),
            re: None,
        }
    }

    /// Reports whether the label value `s` satisfies the matcher. A missing label is `""`.
    pub fn matches(&self, s: &str) -> bool {
        match self.match_type {
            MatchType::Equal => s == self.value,
            MatchType::NotEqual => s != self.value,
            MatchType::RegexMatch => self.regex_matches(s),
            MatchType::RegexNoMatch => !self.regex_matches(s),
        }
    }

    fn regex_matches(&self, s: &str) -> bool {
        match &self.re {
            Some(re) => re.is_match(s),
            // Only reachable if the fields were changed after construction.
            None => s == self.value,
        }
    }

    /// For regex matchers whose regex is a plain literal alternation (`a|b|c`), the finite
    /// set of values it matches, for postings lookups. `None` otherwise, and for `=`/`!=`.
    pub fn set_matches(&self) -> Option<&[String]> {
        self.re.as_ref().and_then(|re| re.set_matches())
    }

    /// A literal prefix every matching value starts with, if the regex has one.
    pub fn prefix(&self) -> Option<&str> {
        self.re.as_ref().and_then(|re| re.prefix())
    }

    /// The compiled regex of `=~`/`!~` matchers.
    pub fn regex(&self) -> Option<&Regex> {
        self.re.as_deref()
    }

    /// A matcher matching exactly the values this one rejects.
    pub fn inverse(&self) -> Matcher {
        Matcher {
            match_type: self.match_type.inverse(),
            name: self.name.clone(),
            value: self.value.clone(),
            re: self.re.clone(),
        }
    }

    /// Reports whether the matcher matches the empty string (and so series without the label).
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Matcher) -> bool {
        self.match_type == other.match_type && self.name == other.name && self.value == other.value
    }
}

impl Eq for Matcher {}

impl Hash for Matcher {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.match_type.hash(state);
        self.name.hash(state);
        self.value.hash(state);
    }
}

impl fmt::Display for Matcher {
    /// Prints as Go's `Matcher.String()`: `name` `op` quoted value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        f.write_str(self.match_type.as_str())?;
        strconv::write_quoted(f, &self.value)
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Matcher({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_matchers_share_one_compiled_regex_per_pattern() {
        let a = Matcher::new(MatchType::RegexMatch, "a", "cached-[0-9]+x").unwrap();
        let b = Matcher::new(MatchType::RegexNoMatch, "b", "cached-[0-9]+x").unwrap();
        let (Some(ra), Some(rb)) = (&a.re, &b.re) else {
            panic!("regex matchers hold a regex");
        };
        assert!(Arc::ptr_eq(ra, rb));
        assert!(a.matches("cached-12x") && !b.matches("cached-12x"));
        // Errors are not cached: the same bad pattern fails every time.
        for _ in 0..2 {
            assert!(Matcher::new(MatchType::RegexMatch, "a", "cached-(").is_err());
        }
        let long = "y".repeat(crate::regexp::CACHE_MAX_PATTERN + 1);
        let c = Matcher::new(MatchType::RegexMatch, "c", long.clone()).unwrap();
        let d = Matcher::new(MatchType::RegexMatch, "d", long).unwrap();
        assert!(!Arc::ptr_eq(c.re.as_ref().unwrap(), d.re.as_ref().unwrap()));
    }

    #[test]
    fn match_types() {
        let cases = [
            (MatchType::Equal, "bar", "bar", true),
            (MatchType::Equal, "bar", "baz", false),
            (MatchType::NotEqual, "bar", "bar", false),
            (MatchType::NotEqual, "bar", "", true),
            (MatchType::RegexMatch, "ba.", "bar", true),
            (MatchType::RegexMatch, "ba.", "xbar", false),
            (MatchType::RegexMatch, "ba.", "barx", false),
            (MatchType::RegexMatch, "a.c", "a\nc", true),
            (MatchType::RegexNoMatch, "ba.", "bar", false),
            (MatchType::RegexNoMatch, "ba.", "foo", true),
            (MatchType::RegexMatch, "", "", true),
            (MatchType::RegexMatch, "", "x", false),
            (MatchType::RegexMatch, ".*", "", true),
        ];
        for (t, v, input, want) in cases {
            let m = Matcher::new(t, "foo", v).expect("valid matcher");
            assert_eq!(m.matches(input), want, "{m} on {input:?}");
            assert_eq!(
                m.inverse().matches(input),
                !want,
                "inverse of {m} on {input:?}"
            );
        }
    }

    #[test]
    fn display_like_go() {
        let m = Matcher::new(MatchType::RegexNoMatch, "job", "a\"b|c").expect("valid");
        assert_eq!(m.to_string(), r#"job!~"a\"b|c""#);
        assert_eq!(Matcher::equal("a", "b").to_string(), r#"a="b""#);
    }

    #[test]
    fn invalid_regex_is_an_error() {
        let err = Matcher::new(MatchType::RegexMatch, "a", "(").expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "error parsing regexp: missing closing ): `(`"
        );
    }

    proptest::proptest! {
        #[test]
        fn new_and_matches_never_panic(v in ".{0,30}", s in ".{0,12}", t in 0usize..4) {
            let t = [MatchType::Equal, MatchType::NotEqual, MatchType::RegexMatch, MatchType::RegexNoMatch][t];
            if let Ok(m) = Matcher::new(t, "l", v) {
                let _ = m.matches(&s);
                let _ = m.to_string();
                let _ = m.set_matches();
            }
        }
    }
}
