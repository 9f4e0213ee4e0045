//! Fuzzes regex construction and matching: never panic, and the fast paths must agree with
//! the compiled regex for every input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model::regexp::Regex;
use model::{MatchType, Matcher};

fuzz_target!(|data: &[u8]| {
    // The first byte splits the rest into a pattern and an input string.
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let split = usize::from(split).min(rest.len());
    let (Ok(pattern), Ok(input)) = (
        std::str::from_utf8(&rest[..split]),
        std::str::from_utf8(&rest[split..]),
    ) else {
        return;
    };
    let Ok(re) = Regex::new(pattern) else {
        return;
    };
    let got = re.is_match(input);
    if let Ok(compiled) = regex::RegexBuilder::new(re.rust_pattern())
        .size_limit(64 << 20)
        .nest_limit(1000)
        .build()
    {
        assert_eq!(got, compiled.is_match(input), "pattern {pattern:?} input {input:?}");
    }
    if let Some(set) = re.set_matches() {
        assert_eq!(got, set.iter().any(|v| v == input), "set of {pattern:?} on {input:?}");
    }
    if let Some(prefix) = re.prefix() {
        assert!(!got || input.starts_with(prefix), "prefix of {pattern:?}");
    }
    let _ = re.expand(input, "$1${2}$name$$");
    let m = Matcher::new(MatchType::RegexNoMatch, "l", pattern).expect("parsed above");
    assert_eq!(m.matches(input), !got);
});
