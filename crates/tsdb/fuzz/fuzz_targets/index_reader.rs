//! Fuzzes the index reader: arbitrary bytes must give an error or a readable index, never a
//! panic, and everything a readable index lists must read back without panicking.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tsdb::index::IndexReader;

fuzz_target!(|data: &[u8]| {
    let Ok(r) = IndexReader::from_bytes(data.to_vec(), Path::new("fuzz/index")) else {
        return;
    };
    let _ = r.symbols();
    if let Ok(table) = r.label_indices_table() {
        for (_, off) in table.into_iter().take(100) {
            let _ = r.label_index(off);
        }
    }
    let mut chunks = Vec::new();
    if let Ok(all) = r.all_postings() {
        for id in all.into_iter().take(1000) {
            let _ = r.series(id, &mut chunks);
        }
    }
    for name in r.label_names() {
        for value in r.label_values(&name).into_iter().take(100) {
            let _ = r.postings(&name, &value);
        }
    }
});
