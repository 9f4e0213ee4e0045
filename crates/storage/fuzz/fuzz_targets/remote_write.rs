//! Fuzz target: any uncompressed body posted to the remote-write receiver (labels, samples,
//! exemplars and native histograms read in place) must be refused or appended into a
//! MemStorage without panicking; a first byte of 1 sends it through a single histogram
//! message instead, to reach the histogram checks (schema reduction, validation) more often.
#![no_main]

use libfuzzer_sys::fuzz_target;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fuzz_target!(|data: &[u8]| {
    let db = storage::MemStorage::new();
    match data.split_first() {
        Some((1, hist)) => {
            // WriteRequest { timeseries: [{ labels: [__name__="h"], histograms: [hist] }] }
            let mut series = vec![0x0a, 0x0d, 0x0a, 0x08];
            series.extend_from_slice(b"__name__");
            series.extend_from_slice(&[0x12, 0x01, b'h', 0x22]);
            put_varint(&mut series, hist.len() as u64);
            series.extend_from_slice(hist);
            let mut req = vec![0x0a];
            put_varint(&mut req, series.len() as u64);
            req.extend_from_slice(&series);
            let _ = storage::remote::append_encoded_write_request(&req, &db);
        }
        _ => {
            let _ = storage::remote::append_encoded_write_request(data, &db);
        }
    }
});
