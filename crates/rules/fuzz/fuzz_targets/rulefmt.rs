//! Fuzzes rule-file loading: `rulefmt::parse` never panics, and what it accepts is valid
//! (one of record and alert, an expression that parses, named and unique groups).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rules::rulefmt::{ParseOptions, parse};

fuzz_target!(|data: &str| {
    let Ok(groups) = parse(data, &ParseOptions::default()) else {
        return;
    };
    let mut names = std::collections::HashSet::new();
    for g in &groups.groups {
        assert!(!g.name.is_empty());
        assert!(names.insert(g.name.clone()), "repeated group {}", g.name);
        for r in &g.rules {
            assert!(r.record.is_empty() != r.alert.is_empty());
            assert!(!r.expr.is_empty());
        }
    }
});
