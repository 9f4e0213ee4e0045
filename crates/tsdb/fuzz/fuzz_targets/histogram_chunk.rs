//! Fuzzes the native histogram chunk decoders (encodings 2 and 3) and the histogram WAL
//! records: arbitrary bytes must decode or stop with an error, never panic; histograms that
//! decode are appended again (to a fresh chunk and to the stored bytes) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb::chunkenc::{
    FloatHistogramChunk, FloatHistogramIterator, HistogramChunk, HistogramIterator,
};
use tsdb::record;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 3 {
        0 => {
            let mut it = HistogramIterator::new(rest);
            let mut hs = Vec::new();
            while it.next() && hs.len() < 1000 {
                hs.push(it.at_histogram());
                let _ = it.at_float_histogram();
            }
            let mut c = HistogramChunk::new();
            for (t, h) in &hs {
                if let Ok(tsdb::chunkenc::HistogramAppend::NewChunk(n)) = c.append(None, *t, h) {
                    c = n;
                }
            }
            if let Ok(mut stored) = HistogramChunk::from_bytes(rest.to_vec())
                && let Some((t, h)) = hs.last()
            {
                let _ = stored.append(None, t.saturating_add(1), h);
            }
        }
        1 => {
            let mut it = FloatHistogramIterator::new(rest);
            let mut hs = Vec::new();
            while it.next() && hs.len() < 1000 {
                hs.push(it.at_float_histogram());
            }
            let mut c = FloatHistogramChunk::new();
            for (t, h) in &hs {
                if let Ok(tsdb::chunkenc::HistogramAppend::NewChunk(n)) = c.append(None, *t, h) {
                    c = n;
                }
            }
            if let Ok(mut stored) = FloatHistogramChunk::from_bytes(rest.to_vec())
                && let Some((t, h)) = hs.last()
            {
                let _ = stored.append(None, t.saturating_add(1), h);
            }
        }
        _ => {
            let mut out = Vec::new();
            if record::decode_histogram_samples(rest, &mut out).is_ok() {
                let mut buf = Vec::new();
                record::encode_histogram_samples(&out, rest.first() == Some(&9), &mut buf);
                let mut again = Vec::new();
                record::decode_histogram_samples(&buf, &mut again)
                    .expect("re-encoded record decodes");
                assert_eq!(again.len(), out.len());
            }
            let mut fout = Vec::new();
            let _ = record::decode_float_histogram_samples(rest, &mut fout);
        }
    }
});
