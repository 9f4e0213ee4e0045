//! Fuzz target: any body of a streamed remote-read answer (frames of uvarint size, CRC32C
//! and a ChunkedReadResponse, chunks XOR-decoded) must be read or refused without
//! panicking; a first byte of 1 wraps the rest in a valid frame to get past the checksum,
//! and 2 decodes the rest as one XOR chunk.
#![no_main]

use libfuzzer_sys::fuzz_target;

fn read_frames(body: &[u8]) {
    let mut r = storage::remote::ChunkedReader::new(body, 1 << 20);
    while let Ok(Some(frame)) = r.next_proto() {
        for series in &frame.chunked_series {
            for chunk in &series.chunks {
                let _ = storage::remote::decode_xor_chunk(&chunk.data);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((1, msg)) => {
            let mut body = Vec::new();
            storage::remote::write_frame(&mut body, msg);
            read_frames(&body);
        }
        Some((2, chunk)) => {
            if let Ok(samples) = storage::remote::decode_xor_chunk(chunk) {
                // What decodes re-encodes to a chunk that decodes to the same samples.
                let again = storage::remote::decode_xor_chunk(
                    &storage::remote::encode_xor_chunk(&samples).expect("decoded samples fit one chunk"),
                )
                .expect("a re-encoded chunk decodes");
                assert_eq!(again.len(), samples.len());
                for (a, b) in again.iter().zip(&samples) {
                    assert_eq!((a.0, a.1.to_bits()), (b.0, b.1.to_bits()));
                }
            }
        }
        _ => read_frames(data),
    }
});
