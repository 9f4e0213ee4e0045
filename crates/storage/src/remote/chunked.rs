//! Frames of a streamed remote-read answer: uvarint size, big-endian CRC32C, message.

use crate::{Error, Result};

/// `Content-Type` of a streamed (STREAMED_XOR_CHUNKS) remote-read answer.
pub const STREAMED_CONTENT_TYPE: &str =
    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";

/// Largest frame [`ChunkedReader`] accepts by default (Prometheus's client default, 50 MiB).
pub const DEFAULT_CHUNKED_READ_LIMIT: u64 = 50 * 1024 * 1024;

/// Appends one frame holding `msg` to `out` (Go's `ChunkedWriter.Write`): the message size
/// as a uvarint, the Castagnoli CRC-32 of the message (big-endian), then the message. An
/// empty message writes nothing, as in Prometheus.
pub fn write_frame(out: &mut Vec<u8>, msg: &[u8]) {
    if msg.is_empty() {
        return;
    }
    let mut size = msg.len() as u64;
    while size >= 0x80 {
        out.push((size as u8) | 0x80);
        size >>= 7;
    }
    out.push(size as u8);
    out.extend_from_slice(&crc32c::crc32c(msg).to_be_bytes());
    out.extend_from_slice(msg);
}

/// Reads the frames of a streamed answer held in memory (Go's `ChunkedReader`), checking
/// each frame's size against a limit and its checksum. A truncated or corrupt frame is an
/// [`Error::InvalidRemoteRequest`], never a panic.
#[derive(Debug)]
pub struct ChunkedReader<'a> {
    data: &'a [u8],
    pos: usize,
    size_limit: u64,
}

impl<'a> ChunkedReader<'a> {
    /// A reader over `data` refusing frames larger than `size_limit` bytes.
    pub fn new(data: &'a [u8], size_limit: u64) -> ChunkedReader<'a> {
        ChunkedReader {
            data,
            pos: 0,
            size_limit,
        }
    }

    /// The next frame's message, or `None` at the clean end of the stream.
    pub fn next_frame(&mut self) -> Result<Option<&'a [u8]>> {
        if self.pos == self.data.len() {
            return Ok(None);
        }
        let (size, n) = read_uvarint(&self.data[self.pos..])?;
        self.pos += n;
        if size > self.size_limit {
            return Err(frame_error(format!(
                "message size exceeded the limit {} bytes; got: {size} bytes",
                self.size_limit
            )));
        }
        let rest = &self.data[self.pos..];
        let Some(crc) = rest.get(..4) else {
            return Err(frame_error("unexpected end of stream in a frame checksum"));
        };
        let want = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let size = usize::try_from(size).map_err(|_| frame_error("frame size overflows"))?;
        let Some(msg) = rest.get(4..).and_then(|r| r.get(..size)) else {
            return Err(frame_error(format!(
                "unexpected end of stream: frame of {size} bytes has {} left",
                rest.len().saturating_sub(4)
            )));
        };
        if crc32c::crc32c(msg) != want {
            return Err(frame_error("corrupted frame; checksum mismatch"));
        }
        self.pos += 4 + size;
        Ok(Some(msg))
    }

    /// Decodes the next frame as a [`prompb::ChunkedReadResponse`] (Go's `NextProto`).
    pub fn next_proto(&mut self) -> Result<Option<prompb::ChunkedReadResponse>> {
        use prost::Message;
        let Some(msg) = self.next_frame()? else {
            return Ok(None);
        };
        prompb::ChunkedReadResponse::decode(msg)
            .map(Some)
            .map_err(|e| frame_error(format!("protobuf decoding: {e}")))
    }
}

fn frame_error(reason: impl Into<String>) -> Error {
    Error::InvalidRemoteRequest {
        what: "streamed read response frame",
        reason: reason.into(),
    }
}

/// A uvarint and the bytes it took; at most 10 bytes, as Go's `binary.ReadUvarint`.
fn read_uvarint(b: &[u8]) -> Result<(u64, usize)> {
    let mut x = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        if i == 9 && byte > 1 {
            return Err(frame_error("frame size varint overflows 64 bits"));
        }
        x |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Ok((x, i + 1));
        }
    }
    if b.len() < 10 {
        Err(frame_error("unexpected end of stream in a frame size"))
    } else {
        Err(frame_error("frame size varint overflows 64 bits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_empty_messages_are_skipped() {
        let big = vec![7u8; 300];
        let mut out = Vec::new();
        write_frame(&mut out, b"hello");
        write_frame(&mut out, b"");
        write_frame(&mut out, &big);
        // 1-byte size + 4-byte CRC + 5, then 2-byte size + 4 + 300.
        assert_eq!(out.len(), 10 + 306);
        let mut r = ChunkedReader::new(&out, 1000);
        assert_eq!(r.next_frame().unwrap(), Some(&b"hello"[..]));
        assert_eq!(r.next_frame().unwrap(), Some(&big[..]));
        assert_eq!(r.next_frame().unwrap(), None);
    }

    /// The checksum is Castagnoli's, big-endian: the CRC32C of "hello" is 0x9a71bb4c.
    #[test]
    fn checksum_is_big_endian_castagnoli() {
        let mut out = Vec::new();
        write_frame(&mut out, b"hello");
        assert_eq!(&out[..5], &[5, 0x9a, 0x71, 0xbb, 0x4c]);
    }

    #[test]
    fn corrupt_truncated_and_oversized_frames_are_errors() {
        let mut out = Vec::new();
        write_frame(&mut out, b"hello world");
        let mut bad = out.clone();
        *bad.last_mut().unwrap() ^= 1;
        let err = ChunkedReader::new(&bad, 100).next_frame().unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        for cut in 1..out.len() {
            let err = ChunkedReader::new(&out[..cut], 100)
                .next_frame()
                .unwrap_err();
            assert!(err.to_string().contains("unexpected end"), "{cut}: {err}");
        }
        let err = ChunkedReader::new(&out, 5).next_frame().unwrap_err();
        assert!(err.to_string().contains("exceeded the limit 5"), "{err}");
        let err = ChunkedReader::new(&[0xff; 12], u64::MAX)
            .next_frame()
            .unwrap_err();
        assert!(err.to_string().contains("overflows"), "{err}");
    }
}
