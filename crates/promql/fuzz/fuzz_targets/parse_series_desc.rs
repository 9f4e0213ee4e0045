//! Fuzzes the test language's series descriptions: no panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = promql::parser::parse_series_desc(s);
    }
});
