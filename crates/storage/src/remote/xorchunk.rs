//! Prometheus's XOR (Gorilla) float chunks for streamed remote read, written and read with
//! the `chunkenc` crate (the TSDB's own encoding): the bytes Prometheus's appender writes,
//! and any chunk a Prometheus sends decoded with the same checks as the TSDB's reader.

use model::Timestamp;

use crate::{Error, Result};

/// Most samples Prometheus puts into one chunk; the answer cuts chunks of this size.
pub(crate) const SAMPLES_PER_CHUNK: usize = chunkenc::SAMPLES_PER_CHUNK;

fn chunk_error(reason: &str) -> Error {
    Error::InvalidRemoteRequest {
        what: "XOR chunk",
        reason: reason.to_owned(),
    }
}

/// Encodes samples (ascending timestamps) as one XOR chunk, byte for byte as Prometheus's
/// appender does. More than 65535 samples is an [`Error::InvalidRemoteRequest`] (the
/// answer cuts chunks of [`chunkenc::SAMPLES_PER_CHUNK`]).
pub fn encode(samples: &[(Timestamp, f64)]) -> Result<Vec<u8>> {
    let mut c = chunkenc::XorChunk::new();
    for &(t, v) in samples {
        c.append(t, v).map_err(|e| chunk_error(&e.to_string()))?;
    }
    Ok(c.into_bytes())
}

/// Decodes an XOR chunk into its samples. A truncated or malformed chunk is an
/// [`Error::InvalidRemoteRequest`].
pub fn decode(data: &[u8]) -> Result<Vec<(Timestamp, f64)>> {
    let mut it = chunkenc::XorIterator::new(data);
    // The claimed count is not trusted for the allocation: each sample takes at least a bit.
    let mut out = Vec::with_capacity(it.num_samples().min(data.len() * 8));
    while it.next() {
        out.push(it.at());
    }
    match it.err() {
        Some(e) => Err(chunk_error(&e.to_string())),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Bytes the Go implementation writes for {(1000, 1.0), (2000, 2.0)}: count 2, varint
    /// 2000 (zigzag of 1000), the 64 bits of 1.0, uvarint 1000, then the XOR of 2.0 with 1.0
    /// (0x7ff0...: leading 1, 11 significant bits: `1 1 00001 001011 11111111111`).
    #[test]
    fn matches_go_bytes() {
        let got = encode(&[(1000, 1.0), (2000, 2.0)]).unwrap();
        let mut want = vec![0, 2, 0xd0, 0x0f];
        want.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
        want.extend_from_slice(&[0xe8, 0x07]);
        want.extend_from_slice(&[0b1100_0010, 0b0101_1111, 0b1111_1111]);
        assert_eq!(got, want);
        assert_eq!(decode(&got).unwrap(), vec![(1000, 1.0), (2000, 2.0)]);
    }

    #[test]
    fn truncated_chunks_are_errors() {
        let data = encode(&[(1, 1.5), (15_000, -3.0), (15_001, 1e300), (99_999_999, 0.0)]).unwrap();
        for cut in 0..data.len() {
            assert!(decode(&data[..cut]).is_err(), "cut at {cut}");
        }
    }

    proptest! {
        #[test]
        fn round_trips(
            start in any::<i32>(),
            steps in proptest::collection::vec((0i64..10_000_000, any::<f64>()), 0..200),
        ) {
            let mut t = i64::from(start);
            let samples: Vec<(i64, f64)> = steps
                .iter()
                .map(|&(d, v)| {
                    t += d;
                    (t, v)
                })
                .collect();
            let got = decode(&encode(&samples).unwrap()).unwrap();
            prop_assert_eq!(got.len(), samples.len());
            for (g, s) in got.iter().zip(&samples) {
                prop_assert_eq!(g.0, s.0);
                prop_assert_eq!(g.1.to_bits(), s.1.to_bits());
            }
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&data);
        }
    }
}
