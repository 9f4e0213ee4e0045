//! Fuzzes the PromQL parser: no panics, and whatever parses prints to text that parses back
//! to the same AST.
//!
//! Run with `cargo +nightly fuzz run parse_expr` from `crates/promql`. A good seed corpus is
//! the `eval` expressions of the upstream test scripts, one per file in `corpus/parse_expr/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = promql::parser::parse_metric_selector(s);
    if let Ok(expr) = promql::parser::parse_expr(s) {
        let printed = expr.to_string();
        let again = promql::parser::parse_expr(&printed)
            .unwrap_or_else(|e| panic!("{s:?} printed as {printed:?} does not parse: {e}"));
        assert_eq!(again, expr, "{s:?} printed as {printed:?}");
        let pretty = promql::parser::prettify(&expr);
        assert_eq!(promql::parser::parse_expr(&pretty).ok(), Some(expr));
    }
});
