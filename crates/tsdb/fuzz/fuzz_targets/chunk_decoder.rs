//! Fuzzes the XOR chunk decoder: arbitrary bytes must decode or stop with an error, never
//! panic; a chunk that decodes cleanly must re-encode to samples that decode the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb::chunkenc::{XorChunk, XorIterator, chunk_from_data};

fuzz_target!(|data: &[u8]| {
    let Some((&enc, rest)) = data.split_first() else {
        return;
    };
    let _ = chunk_from_data(enc, rest.to_vec());
    let mut it = XorIterator::new(rest);
    let mut samples = Vec::new();
    while it.next() {
        let (t, v) = it.at();
        samples.push((t, v.to_bits()));
    }
    let _ = it.seek(i64::MAX);
    if it.err().is_some() || samples.windows(2).any(|w| w[0].0 >= w[1].0) {
        return;
    }
    let mut c = XorChunk::new();
    for &(t, v) in &samples {
        if c.append(t, f64::from_bits(v)).is_err() {
            return;
        }
    }
    let mut again = Vec::new();
    let mut it = c.iter();
    while it.next() {
        let (t, v) = it.at();
        again.push((t, v.to_bits()));
    }
    assert_eq!(again, samples);
    // Appending to the stored bytes continues the stream.
    if let Ok(mut stored) = XorChunk::from_bytes(rest.to_vec()) {
        let _ = stored.append(i64::MAX, 1.0);
    }
});
