//! Fuzzes the protobuf format parser: any input must give entries or an error, never a panic,
//! and every accessor must be callable after every entry. The first byte picks the options.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scrape::textparse::{Entry, Parser, ProtobufParser};

fuzz_target!(|data: &[u8]| {
    let Some((&opts, body)) = data.split_first() else {
        return;
    };
    let mut p = ProtobufParser::new(body, opts & 1 != 0, opts & 2 != 0)
        .convert_classic_to_nhcb(opts & 4 != 0);
    // Every entry after a family's header needs at least a couple of bytes of its metric or
    // bucket, so a few entries per byte bound any correct parse.
    let bound = 8 * body.len() + 8;
    for _ in 0..bound {
        match p.next() {
            Ok(Some(e)) => {
                let _ = p.series();
                let _ = p.histogram();
                let _ = p.labels();
                let _ = p.help();
                let _ = p.metric_type();
                let _ = p.unit();
                let _ = p.comment();
                let _ = p.created_timestamp();
                while p.exemplar().is_some() && e == Entry::Histogram {}
            }
            Ok(None) | Err(_) => return,
        }
    }
    panic!("parser did not finish within {bound} entries");
});
