//! Tests for the Go-compatible regex: Go's parse_test.go cases (valid and invalid), error
//! messages, matching semantics, fast paths, and a property test of fast paths against
//! the compiled regex.

use proptest::prelude::*;

use super::parse::{Node, parse};
use super::*;

fn must(p: &str) -> Regex {
    Regex::new(p).unwrap_or_else(|e| panic!("{p:?} should parse: {e}"))
}

/// From Go's regexp/syntax parse_test.go (parseTests, foldcaseTests, onlyPerl and the valid
/// repetitions), minus inputs that are not valid UTF-8.
const GO_VALID: &[&str] = &[
    "a",
    "a.",
    "a.b",
    "ab",
    "a.b.c",
    "abc",
    "a|^",
    "a|b",
    "(a)",
    "(a)|b",
    "a*",
    "a+",
    "a?",
    "a{2}",
    "a{2,3}",
    "a{2,}",
    "a*?",
    "a+?",
    "a??",
    "a{2}?",
    "a{2,3}?",
    "a{2,}?",
    "x{1001",
    "x{9876543210",
    "x{9876543210,",
    "x{2,1",
    "x{1,9876543210",
    "",
    "|",
    "|x|",
    ".",
    "^",
    "$",
    r"\|",
    r"\(",
    r"\)",
    r"\*",
    r"\+",
    r"\?",
    "{",
    "}",
    r"\.",
    r"\^",
    r"\$",
    r"\\",
    "[ace]",
    "[abc]",
    "[a-z]",
    "[a]",
    r"\-",
    "-",
    r"\_",
    "abc|def",
    "abc|def|ghi",
    "[[:lower:]]",
    "[^[:lower:]]",
    "[[:^lower:]]",
    "(?i)[[:lower:]]",
    "(?i)[a-z]",
    "(?i)[^[:lower:]]",
    "(?i)[[:^lower:]]",
    r"\d",
    r"\D",
    r"\s",
    r"\S",
    r"\w",
    r"\W",
    r"(?i)\w",
    r"(?i)\W",
    r"[^\\]",
    r"\p{Braille}",
    r"\P{Braille}",
    r"\p{^Braille}",
    r"\P{^Braille}",
    r"\pZ",
    r"[\p{Braille}]",
    r"[\P{Braille}]",
    r"[\p{^Braille}]",
    r"[\P{^Braille}]",
    r"[\pZ]",
    r"\p{Lu}",
    r"[\p{Lu}]",
    r"(?i)[\p{Lu}]",
    r"\p{Any}",
    r"\p{^Any}",
    r"[\012-\234]\141",
    r"[\x{41}-\x7a]\x61",
    "a{,2}",
    r"\.\^\$\\",
    "[a-zABC]",
    "[^a]",
    "[α-ε☺]",
    "a*{",
    "(?:ab)*",
    "(ab)*",
    "ab|cd",
    "a(b|c)d",
    "(?:a)",
    "(?:ab)(?:cd)",
    "(?:a+b+)(?:c+d+)",
    "(?:a+|b+)|(?:c+|d+)",
    "(?:a|b)|(?:c|d)",
    "a|.",
    ".|a",
    "(?:[abc]|A|Z|hello|world)",
    "(?:[abc]|A|Z)",
    r"\Q+|*?{[\E",
    r"\Q+\E+",
    r"\Qab\E+",
    r"\Q\\E",
    r"\Q\\\E",
    "(?m)^",
    "(?m)$",
    "(?-m)^",
    "(?-m)$",
    r"(?m)\A",
    r"(?m)\z",
    r"(?-m)\A",
    r"(?-m)\z",
    "(?P<name>a)",
    "(?<name>a)",
    "[Aa]",
    r"[\x{100}\x{101}]",
    "[Δδ]",
    "abcde",
    "[Aa][Bb]cd",
    "abc|abd|aef|bcx|bcy",
    "ax+y|ax+z|ay+w",
    "(?:.)",
    "(?:x|(?:xa))",
    "(?:.|(?:.a))",
    "(?:A(?:A|a))",
    "(?:A|a)",
    "A|(?:A|a)",
    "(?s).",
    "(?-s).",
    "(?:(?:^).)",
    "(?-s)(?:(?:^).)",
    r"[\s\S]a",
    "a(?:b)c|abd",
    "abc|x|abd",
    "(?i)abc|ABD",
    "[ab]c|[ab]d",
    ".c|.d",
    "x{2}|x{2}[0-9]",
    "x{2}y|x{2}[0-9]y",
    "a.*?c|a.*?b",
    "((((((((((x{2}){2}){2}){2}){2}){2}){2}){2}){2}))",
    "((((((((((x{1}){2}){2}){2}){2}){2}){2}){2}){2}){2})",
    "[a-b-c]",
    r"\Qabc\E",
    r"\Q*+?{[\E",
    r"\Q\\E",
    r"\Q\\\E",
    r"\Q\\\\E",
    r"\Q\\\\\E",
    "(?P<name>a)",
    // Accepted by Go, rejected (or different) in Rust's syntax.
    "[[]",
    "[]a]",
    "[a&&b]",
    "[--a]",
    "[a~~b]",
    r"\<\>",
    "a{,3}",
    r"\141",
    "(?P<1x>a)",
    "(?P<n>a)(?P<n>b)",
    "(?i)k",
    "(?U)a+",
    "a{0}",
    "x{1000}",
];

#[test]
fn go_valid_patterns_parse_and_compile() {
    for p in GO_VALID {
        let re = must(p);
        // Force the compiled regex too: it must accept what we generate.
        assert!(
            compile(re.rust_pattern()).is_ok(),
            "{p:?} -> {}",
            re.rust_pattern()
        );
    }
}

/// Go's parse_test.go invalidRegexps (minus invalid UTF-8), and more error cases, with
/// Go's full error text.
#[test]
fn invalid_patterns_fail_like_go() {
    let cases: &[(&str, &str)] = &[
        ("(", "missing closing ): `(`"),
        (")", "unexpected ): `)`"),
        ("(a", "missing closing ): `(a`"),
        ("a)", "unexpected ): `a)`"),
        ("(a))", "unexpected ): `(a))`"),
        ("(a|b|", "missing closing ): `(a|b|`"),
        ("a|b|)", "unexpected ): `a|b|)`"),
        ("(a|b|))", "unexpected ): `(a|b|))`"),
        ("(a|b", "missing closing ): `(a|b`"),
        ("a|b)", "unexpected ): `a|b)`"),
        ("(a|b))", "unexpected ): `(a|b))`"),
        ("[a-z", "missing closing ]: `[a-z`"),
        ("([a-z)", "missing closing ]: `[a-z)`"),
        ("[a-z)", "missing closing ]: `[a-z)`"),
        ("([a-z]))", "unexpected ): `([a-z]))`"),
        ("x{1001}", "invalid repeat count: `{1001}`"),
        ("x{9876543210}", "invalid repeat count: `{9876543210}`"),
        ("x{2,1}", "invalid repeat count: `{2,1}`"),
        ("x{1,9876543210}", "invalid repeat count: `{1,9876543210}`"),
        ("(?P<name>a", "missing closing ): `(?P<name>a`"),
        ("(?P<name>", "missing closing ): `(?P<name>`"),
        ("(?P<name", "invalid named capture: `(?P<name`"),
        ("(?P<x y>a)", "invalid named capture: `(?P<x y>`"),
        ("(?P<>a)", "invalid named capture: `(?P<>`"),
        ("(?<name>a", "missing closing ): `(?<name>a`"),
        ("(?<name", "invalid named capture: `(?<name`"),
        ("(?<x y>a)", "invalid named capture: `(?<x y>`"),
        ("(?<>a)", "invalid named capture: `(?<>`"),
        ("[a-Z]", "invalid character class range: `a-Z`"),
        ("(?i)[a-Z]", "invalid character class range: `a-Z`"),
        ("a{100000}", "invalid repeat count: `{100000}`"),
        ("a{100000,}", "invalid repeat count: `{100000,}`"),
        (
            "((((((((((x{2}){2}){2}){2}){2}){2}){2}){2}){2}){2})",
            "invalid repeat count: `{2}`",
        ),
        (r"\Q\E*", "missing argument to repetition operator: `*`"),
        // Go's onlyPOSIX list: stacked repetitions are errors with Perl syntax.
        ("a++", "invalid nested repetition operator: `++`"),
        ("a**", "invalid nested repetition operator: `**`"),
        ("a?*", "invalid nested repetition operator: `?*`"),
        ("a+*", "invalid nested repetition operator: `+*`"),
        ("a{1}*", "invalid nested repetition operator: `{1}*`"),
        (
            ".{1}{2}.{3}",
            "invalid nested repetition operator: `{1}{2}`",
        ),
        ("a*??", "invalid nested repetition operator: `*??`"),
        ("x{2}{3}", "invalid nested repetition operator: `{2}{3}`"),
        ("*", "missing argument to repetition operator: `*`"),
        ("*?", "missing argument to repetition operator: `*?`"),
        ("a|*", "missing argument to repetition operator: `*`"),
        ("(*)", "missing argument to repetition operator: `*`"),
        ("(a{100}){100}", "invalid repeat count: `{100}`"),
        (r"\8", r"invalid escape sequence: `\8`"),
        (r"\1", r"invalid escape sequence: `\1`"),
        (r"\C", r"invalid escape sequence: `\C`"),
        (r"\q", r"invalid escape sequence: `\q`"),
        (r"\Z", r"invalid escape sequence: `\Z`"),
        (r"\xZZ", r"invalid escape sequence: `\xZZ`"),
        ("[a--b]", "invalid character class range: `a--`"),
        (r"\x{110000}", r"invalid escape sequence: `\x{110000`"),
        (r"\x{}", r"invalid escape sequence: `\x{}`"),
        (r"[\b]", r"invalid escape sequence: `\b`"),
        ("a\\", "trailing backslash at end of expression: ``"),
        ("(?x)a", "invalid or unsupported Perl syntax: `(?x`"),
        ("(?", "invalid or unsupported Perl syntax: `(?`"),
        ("(?-)", "invalid or unsupported Perl syntax: `(?-)`"),
        ("(?i-i-s)", "invalid or unsupported Perl syntax: `(?i-i-`"),
        ("(?P=name)", "invalid or unsupported Perl syntax: `(?P`"),
        ("(?=a)", "invalid or unsupported Perl syntax: `(?=`"),
        ("(?!a)", "invalid or unsupported Perl syntax: `(?!`"),
        ("(?<=a)", "invalid named capture: `(?<=a)`"),
        (r"\p{Foo}", r"invalid character class range: `\p{Foo}`"),
        (r"\pX", r"invalid character class range: `\pX`"),
        (r"\p", r"invalid character class range: `\p`"),
        (r"\p{Greek", r"invalid character class range: `\p{Greek`"),
        (
            r"\p{Alphabetic}",
            r"invalid character class range: `\p{Alphabetic}`",
        ),
        (
            r"\p{sc=Greek}",
            r"invalid character class range: `\p{sc=Greek}`",
        ),
        ("[[:foo:]]", "invalid character class range: `[:foo:]`"),
        ("[z-a]", "invalid character class range: `z-a`"),
        ("[a", "missing closing ]: `[a`"),
        ("[]", "missing closing ]: `[]`"),
        ("[^]", "missing closing ]: `[^]`"),
    ];
    for (p, want) in cases {
        let err = Regex::new(p).expect_err(p);
        assert_eq!(
            err.to_string(),
            format!("error parsing regexp: {want}"),
            "{p:?}"
        );
    }
}

#[test]
fn limits_like_go() {
    let too_deep = "(".repeat(1000) + &")".repeat(1000);
    let too_deep_star = "(?:".repeat(1000) + &")*".repeat(1000);
    let too_long = "(".to_owned() + &"(xx?)".repeat(1000) + "){1000}";
    let too_long2 = "(xx?){1000}".repeat(1000);
    let too_many_runes = r"\pL".repeat(27_000);
    for (p, code) in [
        (too_deep.as_str(), "expression nests too deeply"),
        (too_deep_star.as_str(), "expression nests too deeply"),
        (too_long.as_str(), "expression too large"),
        (too_long2.as_str(), "expression too large"),
        (too_many_runes.as_str(), "expression too large"),
    ] {
        match Regex::new(p) {
            Err(Error::InvalidRegex { code: c, .. }) => assert_eq!(c, code, "{}", &p[..20]),
            other => panic!("{}...: {other:?}", &p[..20]),
        }
    }
    // Just inside the limits.
    let deep = "(".repeat(250) + "a" + &")".repeat(250);
    assert!(must(&deep).is_match("a"));
    assert!(must(&deep).captures("a").is_some());
    let deeper = "(".repeat(251) + "a" + &")".repeat(251);
    assert!(Regex::new(&deeper).is_err());
    let deep_nc = "(?:".repeat(250) + "a|b+" + &")*".repeat(250) + "c";
    let re = must(&deep_nc);
    assert!(re.is_match("ac"));
    assert!(re.is_match("c"));
    assert!(!re.is_match("ca"));
}

/// The character set of a pattern that parses to a single class or literal.
fn class_dump(p: &str) -> String {
    let parsed = parse(p).unwrap_or_else(|e| panic!("{p}: {e:?}"));
    let ranges: Vec<(u32, u32)> = match parsed.node {
        Node::Class(c) => c
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
        Node::Lit(c) => vec![(c as u32, c as u32)],
        Node::Any { nl: true } => vec![(0, 0x10ffff)],
        other => panic!("{p}: not a class: {other:?}"),
    };
    ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                format!("{a:#x}")
            } else {
                format!("{a:#x}-{b:#x}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn classes_match_go_dumps() {
    let cases = [
        ("[ace]", "0x61 0x63 0x65"),
        ("[[:lower:]]", "0x61-0x7a"),
        ("[^[:lower:]]", "0x0-0x60 0x7b-0x10ffff"),
        ("[[:^lower:]]", "0x0-0x60 0x7b-0x10ffff"),
        ("(?i)[[:lower:]]", "0x41-0x5a 0x61-0x7a 0x17f 0x212a"),
        ("(?i)[a-z]", "0x41-0x5a 0x61-0x7a 0x17f 0x212a"),
        (
            "(?i)[^[:lower:]]",
            "0x0-0x40 0x5b-0x60 0x7b-0x17e 0x180-0x2129 0x212b-0x10ffff",
        ),
        (
            "(?i)[[:^lower:]]",
            "0x0-0x40 0x5b-0x60 0x7b-0x17e 0x180-0x2129 0x212b-0x10ffff",
        ),
        (r"\d", "0x30-0x39"),
        (r"\D", "0x0-0x2f 0x3a-0x10ffff"),
        (r"\s", "0x9-0xa 0xc-0xd 0x20"),
        (r"\S", "0x0-0x8 0xb 0xe-0x1f 0x21-0x10ffff"),
        (r"\w", "0x30-0x39 0x41-0x5a 0x5f 0x61-0x7a"),
        (r"\W", "0x0-0x2f 0x3a-0x40 0x5b-0x5e 0x60 0x7b-0x10ffff"),
        (r"(?i)\w", "0x30-0x39 0x41-0x5a 0x5f 0x61-0x7a 0x17f 0x212a"),
        (
            r"(?i)\W",
            "0x0-0x2f 0x3a-0x40 0x5b-0x5e 0x60 0x7b-0x17e 0x180-0x2129 0x212b-0x10ffff",
        ),
        (r"[^\\]", "0x0-0x5b 0x5d-0x10ffff"),
        (r"\p{Braille}", "0x2800-0x28ff"),
        (r"\P{Braille}", "0x0-0x27ff 0x2900-0x10ffff"),
        (r"\p{^Braille}", "0x0-0x27ff 0x2900-0x10ffff"),
        (r"\P{^Braille}", "0x2800-0x28ff"),
        (
            r"\pZ",
            "0x20 0xa0 0x1680 0x2000-0x200a 0x2028-0x2029 0x202f 0x205f 0x3000",
        ),
        (r"[\P{^Braille}]", "0x2800-0x28ff"),
        (r"\p{Any}", "0x0-0x10ffff"),
        (r"\p{^Any}", ""),
        (r"[\012-\234]", "0xa-0x9c"),
        (r"[\x{41}-\x7a]", "0x41-0x7a"),
        ("[a-zABC]", "0x41-0x43 0x61-0x7a"),
        ("[α-ε☺]", "0x3b1-0x3b5 0x263a"),
        (r"[\s\S]", "0x0-0x10ffff"),
        ("[Δδ]", "0x394 0x3b4"),
        ("(?i)k", "0x4b 0x6b 0x212a"),
        ("[a-b-c]", "0x2d 0x61-0x63"),
        ("[[]", "0x5b"),
        ("[]a]", "0x5d 0x61"),
        ("[a&&b]", "0x26 0x61-0x62"),
        ("[--a]", "0x2d-0x61"),
        ("[a~~b]", "0x61-0x62 0x7e"),
        (r"\141", "0x61"),
        (r"\<", "0x3c"),
        (".", "0x0-0x10ffff"),
    ];
    for (p, want) in cases {
        assert_eq!(class_dump(p), want, "{p:?}");
    }
}

#[test]
fn matching_follows_go_semantics() {
    let cases: &[(&str, &str, bool)] = &[
        // Anchoring and dot-newline (Prometheus 3).
        ("foo", "foo", true),
        ("foo", "foobar", false),
        ("foo", "xfoo", false),
        ("a|b", "ab", false),
        ("a.b", "a\nb", true),
        ("(?-s)a.b", "a\nb", false),
        (".*", "line1\nline2", true),
        ("(?-s:.*)", "line1\nline2", false),
        ("(?-s:.*)", "line1", true),
        // ASCII-only Perl classes.
        (r"\d+", "123", true),
        (r"\d", "٣", false),
        (r"\w+", "héllo", false),
        (r"\s", "\u{a0}", false),
        (r"\s", "\x0b", false),
        (r"\s", "\x0c", true),
        (r"a\bb", "ab", false),
        (r".*\bé", "xé", true),
        (r"é\b", "é", false),
        (r"x\b.*", "x é", true),
        // Go-only syntax.
        (r"\Q.*\E", ".*", true),
        (r"\Q.*\E", "ab", false),
        (r"\Q.*", ".*", true),
        (r"\141\x62\x{63}", "abc", true),
        ("[[]", "[", true),
        ("[a&&b]", "&", true),
        ("[--a]", "0", true),
        ("[a~~b]", "~", true),
        (r"\<a\>", "<a>", true),
        ("a{,3}", "a{,3}", true),
        ("a{,3}", "aaa", false),
        ("a{2}", "aa", true),
        ("a{2,}", "aaaa", true),
        ("a{2,3}", "aaaa", false),
        ("a{0}", "", true),
        // Case folding as Go: (?i)k matches the Kelvin sign, (?i)\w matches ſ.
        ("(?i)k", "\u{212a}", true),
        (r"(?i)\w", "ſ", true),
        (r"\w", "ſ", false),
        ("(?i)straße", "STRASSE", false),
        ("(?i)ΣΑΣ", "σας", true),
        // Flags scope.
        ("(?i:a)b", "AB", false),
        ("(?i:a)b", "Ab", true),
        ("((?i)a)b", "AB", false),
        ("(?i)a|b", "B", true),
        // Multi-line anchors.
        ("(?m)a$\nb", "a\nb", true),
        ("a$\nb", "a\nb", false),
        ("(?m:^b)", "b", true),
        // Anchors inside are harmless at the ends.
        ("^foo$", "foo", true),
        ("^foo|bar$", "bar", true),
        ("a^b", "ab", false),
        ("(a$)b", "ab", false),
        // Empty alternatives and empty classes.
        ("|x|", "", true),
        ("|x|", "x", true),
        (r"\p{^Any}", "a", false),
        (r"[^\x00-\x{10FFFF}]", "", false),
        // Named groups Rust would reject.
        ("(?P<1x>a)(?P<1x>b)", "ab", true),
        ("", "", true),
        ("", "a", false),
        // Go's matcher_test.go: repeated empty-width assertions are valid.
        ("$*bar", "foo-bar", false),
        ("bar^+", "foo-bar", false),
        ("$+bar", "foo-bar", false),
        ("$*bar", "bar", true),
        // Prefix and suffix pre-filters must not change results.
        ("foo[0-9]+bar", "foo12bar", true),
        ("foo[0-9]+bar", "foo12baz", false),
        ("(ab|ac)[0-9]", "ac1", true),
        ("(xa|ya)[0-9]|za1", "za1", true),
        ("(xa|ya)[0-9]|za1", "xb1", false),
    ];
    for &(p, s, want) in cases {
        let re = must(p);
        assert_eq!(
            re.is_match(s),
            want,
            "{p:?} on {s:?} (rust: {})",
            re.rust_pattern()
        );
    }
}

#[test]
fn fast_paths_and_set_matches() {
    let set = |p: &str| must(p).set_matches().map(<[String]>::to_vec);
    let s = |v: &[&str]| Some(v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>());
    assert_eq!(set("foo"), s(&["foo"]));
    assert_eq!(set("foo|bar|baz"), s(&["foo", "bar", "baz"]));
    assert_eq!(set("(foo|bar)"), s(&["foo", "bar"]));
    assert_eq!(set("^(?:foo|bar)$"), s(&["foo", "bar"]));
    assert_eq!(set("foo(bar|baz)"), s(&["foobar", "foobaz"]));
    assert_eq!(set("[ab]x"), s(&["ax", "bx"]));
    assert_eq!(set("ab?"), s(&["ab", "a"]));
    assert_eq!(set("a|a|b"), s(&["a", "b"]));
    assert_eq!(set(r"foo\.bar"), s(&["foo.bar"]));
    assert_eq!(set(""), s(&[""]));
    assert_eq!(set("foo.*"), None);
    assert_eq!(set("(?i)fo"), s(&["FO", "Fo", "fO", "fo"]));
    assert_eq!(set("(?i)foobarbaz"), None);
    assert_eq!(set("[a-z]"), None);
    assert_eq!(set("a|b.*"), None);

    for p in [
        "foo.*",
        ".*foo",
        ".*foo.*",
        "foo.*bar",
        ".*",
        ".+",
        "a|b.*",
        "(?-s:.*)x",
        "ab?c",
    ] {
        assert!(must(p).is_optimized(), "{p} should use a fast path");
    }
    for p in ["a[0-9]+", r"\w", "(?i)foobarbaz", "a.b"] {
        assert!(!must(p).is_optimized(), "{p} has no fast path");
    }
    assert_eq!(must("foo.*bar").prefix(), Some("foo"));
    assert_eq!(must("(foo)[0-9]+").prefix(), Some("foo"));
    assert_eq!(must(".*foo").prefix(), None);
    assert_eq!(must("abc|abd|ab").prefix(), Some("ab"));
    assert_eq!(must("äbc|äbd").prefix(), Some("äb"));
    assert_eq!(must("äx|äy|b").prefix(), None);
    // Go's matcher_test.go TestPrefix.
    for (p, want) in [
        ("abc.+", Some("abc")),
        ("abcd|abc.+", Some("abc")),
        ("abc(def|ghj)|ab|a.", Some("a")),
        ("foo.+bar|foo.*baz", Some("foo")),
        ("abc|.*", None),
        ("abc|def", None),
        (".+def", None),
    ] {
        assert_eq!(must(p).prefix(), want, "{p}");
    }
}

#[test]
fn huge_literal_alternation_uses_a_hash_set() {
    let values: Vec<String> = (0..50_000)
        .map(|i| format!("instance-{i:05}.example.com:9100"))
        .collect();
    let pattern = values
        .iter()
        .map(|v| v.replace('.', r"\."))
        .collect::<Vec<_>>()
        .join("|");
    let re = must(&pattern);
    assert_eq!(re.set_matches().map(<[String]>::len), Some(50_000));
    assert!(re.is_match("instance-49999.example.com:9100"));
    assert!(re.is_match("instance-00000.example.com:9100"));
    assert!(!re.is_match("instance-50000.example.com:9100"));
    assert!(!re.is_match("instance-00000xexample.com:9100"));
    // Captures still work (the regex is compiled on demand, or falls back to group 0).
    assert_eq!(
        re.captures("instance-00001.example.com:9100").map(|c| c[0]),
        Some(Some((0, 31)))
    );
}

#[test]
fn captures_and_group_names() {
    let re = must("(?P<a>x)(y)?(?<c>z)");
    assert_eq!(
        re.group_names(),
        &[None, Some("a".into()), None, Some("c".into())]
    );
    assert_eq!(
        re.captures("xz"),
        Some(vec![Some((0, 2)), Some((0, 1)), None, Some((1, 2))])
    );
    assert_eq!(re.captures("xyzz"), None);
    // Leftmost-first, as Go: the first alternative wins even if a later one is longer.
    let re = must("(a|ab)(c|bcd)(d*)");
    assert_eq!(re.expand("abcd", "$1-$2-$3").as_deref(), Some("a-bcd-"));
}

/// Builds random patterns from pieces that exercise every fast path.
fn pattern_strategy() -> impl Strategy<Value = String> {
    let atom = prop::sample::select(vec![
        "a", "b", "ab", "ba", ".*", ".+", "(?-s:.*)", "(?-s:.+)", "", "a?", "[ab]", "\\n", "[0-9]",
        "a+", "(ab|ac)", "(?i)a", "^", "$", "b{1,2}", "(a|b.*)",
    ]);
    let branch = prop::collection::vec(atom, 0..4).prop_map(|v| v.concat());
    prop::collection::vec(branch, 1..4).prop_map(|v| v.join("|"))
}

proptest! {
    #[test]
    fn fast_paths_agree_with_the_regex(p in pattern_strategy(), inputs in prop::collection::vec("[abAc1\n]{0,6}", 1..8)) {
        let re = must(&p);
        let compiled = compile(re.rust_pattern()).expect("generated pattern compiles");
        for s in &inputs {
            prop_assert_eq!(re.is_match(s), compiled.is_match(s), "{:?} on {:?}", p, s);
        }
    }

    #[test]
    fn arbitrary_patterns_never_panic(p in ".{0,40}", s in ".{0,20}") {
        if let Ok(re) = Regex::new(&p) {
            let _ = re.is_match(&s);
            let _ = re.expand(&s, "$1${name}$$");
        }
    }

    #[test]
    fn regex_syntax_soup_never_panics(p in r"[(){}\[\]|*+?.^$\\a-c0-9:PpQEx<>,=!-]{0,30}", s in "[a-c0-9 ]{0,10}") {
        if let Ok(re) = Regex::new(&p) {
            let _ = re.is_match(&s);
            let _ = re.captures(&s);
        }
    }
}
