//! Fuzzes the OpenMetrics parser: any input must give entries or an error, never a panic, and
//! every accessor must be callable after every entry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scrape::textparse::{Parser, OpenMetricsParser};

fuzz_target!(|data: &[u8]| {
    let mut p = OpenMetricsParser::new(data);
    // Each entry consumes at least one byte, so this bound is never the limiting one.
    for _ in 0..=data.len() + 1 {
        match p.next() {
            Ok(Some(_)) => {
                let _ = p.series();
                let _ = p.labels();
                let _ = p.help();
                let _ = p.metric_type();
                let _ = p.unit();
                let _ = p.comment();
                let _ = p.exemplar();
                let _ = p.created_timestamp();
            }
            Ok(None) | Err(_) => return,
        }
    }
    panic!("parser did not finish within {} entries", data.len() + 2);
});
