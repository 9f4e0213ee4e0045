//! Fuzz target: any uncompressed remote write 2.0 body (symbols, label references, samples,
//! exemplars, metadata, native histograms) must decode and append into a MemStorage, or be
//! refused, without panicking; a first byte of 1 wraps the rest as the one histogram of a
//! valid series (symbols `["", "__name__", "h"]`), a first byte of 2 as its exemplar, to reach
//! the histogram and exemplar checks more often.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prompb::Message;
use prompb::write_v2::Request;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// `Request { symbols: ["", "__name__", "h"], timeseries: [{ labels_refs: [1, 2],
/// <field>: inner }] }`.
fn wrapped(field: u8, inner: &[u8]) -> Vec<u8> {
    let mut series = vec![0x0a, 0x02, 0x01, 0x02, (field << 3) | 2];
    put_varint(&mut series, inner.len() as u64);
    series.extend_from_slice(inner);
    let mut req = vec![0x22, 0x00, 0x22, 0x08];
    req.extend_from_slice(b"__name__");
    req.extend_from_slice(&[0x22, 0x01, b'h', 0x2a]);
    put_varint(&mut req, series.len() as u64);
    req.extend_from_slice(&series);
    req
}

fuzz_target!(|data: &[u8]| {
    let db = storage::MemStorage::new();
    let raw = match data.split_first() {
        Some((1, hist)) => wrapped(3, hist),
        Some((2, exemplar)) => wrapped(4, exemplar),
        _ => data.to_vec(),
    };
    if let Ok(req) = Request::decode(raw.as_slice()) {
        let out = storage::remote::append_write_v2_request(&req, &db);
        assert!(matches!(out.status, 204 | 400 | 500), "{out:?}");
    }
    // The compressed path too: snappy errors are 400s.
    let _ = storage::remote::append_write_v2_body(data, &db);
});
