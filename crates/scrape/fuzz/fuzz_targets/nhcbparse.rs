//! Fuzzes the conversion of classic text histograms to custom-bucket ones: any input must give
//! entries or an error, never a panic. The first byte picks OpenMetrics and keeping classic series.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scrape::textparse::{NhcbParser, OpenMetricsParser, Parser, PromParser, TextParser};

fuzz_target!(|data: &[u8]| {
    let Some((&opts, body)) = data.split_first() else {
        return;
    };
    let inner = if opts & 1 != 0 {
        TextParser::OpenMetrics(OpenMetricsParser::new(body))
    } else {
        TextParser::Prom(PromParser::new(body))
    };
    let mut p = NhcbParser::new(inner, opts & 2 != 0);
    // At most one histogram per classic series, and each series needs a byte.
    let bound = 2 * body.len() + 4;
    for _ in 0..bound {
        match p.next() {
            Ok(Some(_)) => {
                let _ = p.series();
                let _ = p.histogram();
                let _ = p.labels();
                let _ = p.help();
                let _ = p.metric_type();
                while p.exemplar().is_some() {}
            }
            Ok(None) | Err(_) => return,
        }
    }
    panic!("parser did not finish within {bound} entries");
});
