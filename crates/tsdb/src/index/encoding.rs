//! Bounds-checked decoding and encoding of the primitives of Prometheus's on-disk formats
//! (Go's `tsdb/encoding`): big-endian integers, uvarints, zigzag varints, CRC32-C sections.

use std::path::Path;

use crate::error::Error;

/// A decoding failure at an absolute offset of some file; turned into [`Error::Corrupt`]
/// once the file is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Corrupt {
    pub(crate) offset: u64,
    pub(crate) msg: String,
}

impl Corrupt {
    pub(crate) fn new(offset: u64, msg: impl Into<String>) -> Corrupt {
        Corrupt {
            offset,
            msg: msg.into(),
        }
    }

    pub(crate) fn in_file(self, path: &Path) -> Error {
        Error::Corrupt {
            path: path.to_path_buf(),
            offset: self.offset,
            msg: self.msg,
        }
    }
}

pub(crate) type DResult<T> = std::result::Result<T, Corrupt>;

/// A cursor over a byte slice that starts at absolute file offset `base`.
#[derive(Debug, Clone)]
pub(crate) struct Decbuf<'a> {
    b: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> Decbuf<'a> {
    pub(crate) fn new(b: &'a [u8], base: u64) -> Decbuf<'a> {
        Decbuf { b, pos: 0, base }
    }

    /// The absolute file offset of the next byte.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    pub(crate) fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn short(&self, what: &str, need: usize) -> Corrupt {
        Corrupt::new(
            self.offset(),
            format!(
                "unexpected end of data reading {what} (need {need} bytes, {} left)",
                self.remaining()
            ),
        )
    }

    pub(crate) fn bytes(&mut self, n: usize, what: &str) -> DResult<&'a [u8]> {
        if self.remaining() < n {
            return Err(self.short(what, n));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn byte(&mut self, what: &str) -> DResult<u8> {
        Ok(self.bytes(1, what)?[0])
    }

    pub(crate) fn be32(&mut self, what: &str) -> DResult<u32> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn be64(&mut self, what: &str) -> DResult<u64> {
        let b = self.bytes(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    #[inline(always)]
    pub(crate) fn uvarint(&mut self, what: &str) -> DResult<u64> {
        // One or two bytes is the common case (symbol references, lengths, deltas).
        match self.b.get(self.pos..) {
            Some(&[b0, ..]) if b0 < 0x80 => {
                self.pos += 1;
                return Ok(u64::from(b0));
            }
            Some(&[b0, b1, ..]) if b1 < 0x80 => {
                self.pos += 2;
                return Ok(u64::from(b0 & 0x7f) | (u64::from(b1) << 7));
            }
            _ => {}
        }
        self.uvarint_slow(what)
    }

    #[inline(never)]
    fn uvarint_slow(&mut self, what: &str) -> DResult<u64> {
        let start = self.offset();
        match read_uvarint(&self.b[self.pos..]) {
            Some((v, n)) => {
                self.pos += n;
                Ok(v)
            }
            None => Err(Corrupt::new(
                start,
                format!("invalid uvarint reading {what}"),
            )),
        }
    }

    #[inline(always)]
    pub(crate) fn uvarint32(&mut self, what: &str) -> DResult<u32> {
        let pos = self.pos;
        let v = self.uvarint(what)?;
        u32::try_from(v).map_err(|_| {
            Corrupt::new(
                self.base + pos as u64,
                format!("{what} {v} overflows 32 bits"),
            )
        })
    }

    #[inline(always)]
    pub(crate) fn varint(&mut self, what: &str) -> DResult<i64> {
        let ux = self.uvarint(what)?;
        Ok(unzigzag(ux))
    }

    /// A uvarint length followed by that many bytes.
    pub(crate) fn uvarint_bytes(&mut self, what: &str) -> DResult<&'a [u8]> {
        let start = self.offset();
        let n = self.uvarint(what)?;
        let n = usize::try_from(n)
            .map_err(|_| Corrupt::new(start, format!("length of {what} too large")))?;
        self.bytes(n, what)
    }

    /// A uvarint-prefixed UTF-8 string.
    pub(crate) fn uvarint_str(&mut self, what: &str) -> DResult<&'a str> {
        let start = self.offset();
        let b = self.uvarint_bytes(what)?;
        std::str::from_utf8(b).map_err(|_| Corrupt::new(start, format!("{what} is not UTF-8")))
    }
}

pub(crate) fn unzigzag(ux: u64) -> i64 {
    let x = (ux >> 1) as i64;
    if ux & 1 != 0 { !x } else { x }
}

/// Go's `binary.Uvarint`: the value and the number of bytes read, or `None` when the data
/// ends early or the value overflows 64 bits.
pub(crate) fn read_uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    let mut shift = 0u32;
    for (i, &byte) in b.iter().enumerate().take(10) {
        if byte < 0x80 {
            if i == 9 && byte > 1 {
                return None;
            }
            return Some((x | (u64::from(byte) << shift), i + 1));
        }
        x |= u64::from(byte & 0x7f) << shift;
        shift += 7;
    }
    None
}

/// Reads a section `len(4B BE) | data[len] | CRC32-C(data)(4B BE)` starting at `off` and
/// returns a decoder over `data` (CRC checked).
pub(crate) fn section_at<'a>(file: &'a [u8], off: u64, what: &str) -> DResult<Decbuf<'a>> {
    let start = usize::try_from(off)
        .ok()
        .filter(|&s| s <= file.len())
        .ok_or_else(|| Corrupt::new(off, format!("{what} starts past the end of the file")))?;
    let mut d = Decbuf::new(&file[start..], off);
    let len = d.be32(what)? as usize;
    checked_body(d, len, what)
}

/// Like [`section_at`] with a uvarint length (series entries of the index).
pub(crate) fn uvarint_section_at<'a>(file: &'a [u8], off: u64, what: &str) -> DResult<Decbuf<'a>> {
    let start = usize::try_from(off)
        .ok()
        .filter(|&s| s <= file.len())
        .ok_or_else(|| Corrupt::new(off, format!("{what} starts past the end of the file")))?;
    let mut d = Decbuf::new(&file[start..], off);
    let len = usize::try_from(d.uvarint(what)?)
        .map_err(|_| Corrupt::new(off, format!("length of {what} too large")))?;
    checked_body(d, len, what)
}

fn checked_body<'a>(mut d: Decbuf<'a>, len: usize, what: &str) -> DResult<Decbuf<'a>> {
    let body_off = d.offset();
    let body = d.bytes(len, what)?;
    let crc_off = d.offset();
    let want = d.be32(what)?;
    let got = crc32c::crc32c(body);
    if got != want {
        return Err(Corrupt::new(
            crc_off,
            format!("checksum mismatch in {what}: stored {want:#010x}, computed {got:#010x}"),
        ));
    }
    Ok(Decbuf::new(body, body_off))
}

/// An append-only encoding buffer.
#[derive(Debug, Default, Clone)]
pub(crate) struct Encbuf {
    pub(crate) b: Vec<u8>,
}

impl Encbuf {
    pub(crate) fn put_byte(&mut self, v: u8) {
        self.b.push(v);
    }
    pub(crate) fn put_be32(&mut self, v: u32) {
        self.b.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn put_be64(&mut self, v: u64) {
        self.b.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn put_uvarint(&mut self, mut x: u64) {
        while x >= 0x80 {
            self.b.push((x as u8) | 0x80);
            x >>= 7;
        }
        self.b.push(x as u8);
    }
    pub(crate) fn put_varint(&mut self, x: i64) {
        self.put_uvarint(((x as u64) << 1) ^ ((x >> 63) as u64));
    }
    pub(crate) fn put_uvarint_str(&mut self, s: &str) {
        self.put_uvarint(s.len() as u64);
        self.b.extend_from_slice(s.as_bytes());
    }
    pub(crate) fn len(&self) -> usize {
        self.b.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_go() {
        let mut e = Encbuf::default();
        e.put_varint(-1);
        e.put_varint(300);
        e.put_uvarint(300);
        assert_eq!(e.b, vec![0x01, 0xd8, 0x04, 0xac, 0x02]);
        let mut d = Decbuf::new(&e.b, 0);
        assert_eq!(d.varint("a"), Ok(-1));
        assert_eq!(d.varint("b"), Ok(300));
        assert_eq!(d.uvarint("c"), Ok(300));
        assert!(d.uvarint("d").is_err());
        // One-, two- and longer-byte forms, and ones cut short.
        let mut d = Decbuf::new(&[0x7f, 0xff, 0x7f, 0x80, 0x80, 0x01, 0x80], 10);
        assert_eq!(d.uvarint("a"), Ok(127));
        assert_eq!(d.uvarint("b"), Ok(16383));
        assert_eq!(d.uvarint("c"), Ok(16384));
        let err = d.uvarint("d").unwrap_err();
        assert_eq!(err.offset, 16);
        let mut d = Decbuf::new(&[0x80, 0x80, 0x80, 0x80, 0x10], 0);
        assert_eq!(
            d.uvarint32("e"),
            Err(Corrupt::new(0, "e 4294967296 overflows 32 bits"))
        );
    }

    #[test]
    fn sections_check_length_and_crc() {
        let body = b"hello";
        let mut file = vec![9u8; 3];
        file.extend_from_slice(&(body.len() as u32).to_be_bytes());
        file.extend_from_slice(body);
        file.extend_from_slice(&crc32c::crc32c(body).to_be_bytes());
        let mut d = section_at(&file, 3, "test").unwrap();
        assert_eq!(d.bytes(5, "x").unwrap(), b"hello");
        assert_eq!(d.offset(), 3 + 4 + 5);
        let mut bad = file.clone();
        bad[8] ^= 1;
        let err = section_at(&bad, 3, "test").unwrap_err();
        assert!(err.msg.contains("checksum mismatch"), "{err:?}");
        assert!(section_at(&file[..file.len() - 1], 3, "test").is_err());
        assert!(section_at(&file, 100, "test").is_err());
    }
}
