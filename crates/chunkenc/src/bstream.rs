//! Bit streams: the writer and reader under the XOR chunk (Go's `chunkenc/bstream.go`).

/// An append-only bit stream, most significant bit first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BitWriter {
    /// The bytes written so far; the last one may be partly filled.
    pub(crate) stream: Vec<u8>,
    /// How many low bits of the last byte are still free (0..=7; 0 means "start a new byte").
    pub(crate) free: u8,
    /// A copy of the last byte, so that adding bits to it stores without loading (the
    /// stream's tail is often out of cache when a sample arrives).
    last: u8,
    /// For the XOR chunk on top: its sample count (also in the first two bytes), kept here
    /// (where it costs no space) so that appending reads no chunk bytes.
    pub(crate) count: u16,
}

impl BitWriter {
    pub(crate) fn with_bytes(stream: Vec<u8>, free: u8) -> BitWriter {
        let last = stream.last().copied().unwrap_or(0);
        BitWriter {
            stream,
            free,
            last,
            count: 0,
        }
    }

    /// Cuts the stream to `len` bytes, the last of which has `free` unused low bits.
    pub(crate) fn truncate(&mut self, len: usize, free: u8) {
        self.stream.truncate(len);
        self.free = free;
        self.last = self.stream.last().copied().unwrap_or(0);
    }

    #[cfg(test)]
    pub(crate) fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    #[inline]
    pub(crate) fn write_byte(&mut self, byte: u8) {
        self.write_bits(u64::from(byte), 8);
    }

    /// Writes the low `nbits` bits of `value` (`nbits` <= 64), most significant first.
    #[inline]
    pub(crate) fn write_bits(&mut self, value: u64, nbits: u8) {
        debug_assert!(nbits <= 64);
        if nbits == 0 {
            return;
        }
        let value = value & low_mask(nbits);
        if nbits <= self.free {
            // All in the free low bits of the last byte.
            self.last |= (value << (self.free - nbits)) as u8;
            if let Some(last) = self.stream.last_mut() {
                *last = self.last;
            }
            self.free -= nbits;
            return;
        }
        // Fill the free bits of the last byte, then write the rest left-aligned in a word:
        // all eight bytes are copied (one store) and the unused ones cut off again.
        let left = nbits - self.free;
        if self.free > 0
            && let Some(last) = self.stream.last_mut()
        {
            self.last |= (value >> left) as u8;
            *last = self.last;
        }
        let rest = (value & low_mask(left)) << (64 - left);
        let nbytes = usize::from(left.div_ceil(8));
        let len = self.stream.len();
        self.stream.extend_from_slice(&rest.to_be_bytes());
        self.stream.truncate(len + nbytes);
        self.free = (nbytes * 8) as u8 - left;
        self.last = rest.to_be_bytes()[nbytes - 1];
    }
}

#[inline]
fn low_mask(n: u8) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// A reader over a bit stream, most significant bit first. Reads past the end fail (return
/// `None`) instead of panicking.
///
/// Bits wait in a 64-bit buffer, the next one in its top bit; a refill loads eight bytes
/// with one (big-endian) load and keeps at least 56 bits buffered while the stream has
/// them, so most reads are a shift and a compare. It is `Copy` so that a decoder can work
/// on a copy in registers and store it back once per sample.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BitReader {
    /// Byte position of the next byte not yet counted in `valid`.
    pos: usize,
    /// Buffered bits, left-aligned: the next bit is the top one. Bits below the top `valid`
    /// are either zero or the stream's next bits (a refill may load a byte partly ahead).
    buffer: u64,
    /// How many top bits of `buffer` are buffered (0..=63).
    valid: u32,
}

impl BitReader {
    pub(crate) fn new() -> BitReader {
        BitReader {
            pos: 0,
            buffer: 0,
            valid: 0,
        }
    }

    /// How many bits have been consumed from the start of the stream.
    pub(crate) fn bits_read(&self) -> usize {
        self.pos * 8 - self.valid as usize
    }

    /// Tops the buffer up to at least 56 bits, or to all the stream's remaining bits.
    #[inline]
    pub(crate) fn refill(&mut self, data: &[u8]) {
        let word = match data.get(self.pos..self.pos.wrapping_add(8)) {
            Some(word) => u64::from_be_bytes(word.try_into().expect("an 8-byte slice")),
            None => return self.refill_tail(data),
        };
        // `valid` < 64: take the whole bytes that fit below 64 bits (none when 56 or more
        // are buffered); bits of the next byte that land below them are the stream's own
        // and get loaded again, identically.
        self.buffer |= word >> self.valid;
        self.pos += ((63 - self.valid) / 8) as usize;
        self.valid |= 56;
    }

    /// The refill within the stream's last 8 bytes: loads what is left, zero-padded.
    #[inline]
    fn refill_tail(&mut self, data: &[u8]) {
        let rest = data.get(self.pos..).unwrap_or(&[]);
        let mut word = 0u64;
        for (i, &b) in rest.iter().take(7).enumerate() {
            word |= u64::from(b) << (56 - 8 * i);
        }
        self.buffer |= word >> self.valid;
        let take = (((63 - self.valid) / 8) as usize).min(rest.len());
        self.pos += take;
        self.valid += (take * 8) as u32;
    }

    /// The buffered bits, the next one on top (call `refill` first; only the top
    /// `available()` bits are meaningful).
    #[inline]
    pub(crate) fn peek(&self) -> u64 {
        self.buffer
    }

    /// How many bits are buffered.
    #[inline]
    pub(crate) fn available(&self) -> u32 {
        self.valid
    }

    /// Drops `n` (<= `available()`, < 64) buffered bits.
    #[inline]
    pub(crate) fn consume(&mut self, n: u32) {
        debug_assert!(n <= self.valid && n < 64);
        self.buffer <<= n;
        self.valid -= n;
    }

    #[cfg(test)]
    pub(crate) fn read_bit(&mut self, data: &[u8]) -> Option<bool> {
        self.read_bits(data, 1).map(|b| b == 1)
    }

    #[inline]
    pub(crate) fn read_byte(&mut self, data: &[u8]) -> Option<u8> {
        self.read_bits(data, 8).map(|b| b as u8)
    }

    /// Reads `nbits` (<= 56) bits as the low bits of the result.
    #[inline]
    fn read_small(&mut self, data: &[u8], nbits: u32) -> Option<u64> {
        debug_assert!((1..=56).contains(&nbits));
        if self.valid < nbits {
            self.refill(data);
            if self.valid < nbits {
                return None;
            }
        }
        let v = self.buffer >> (64 - nbits);
        self.buffer <<= nbits;
        self.valid -= nbits;
        Some(v)
    }

    /// Reads `nbits` (<= 64) bits as the low bits of the result.
    #[inline]
    pub(crate) fn read_bits(&mut self, data: &[u8], nbits: u8) -> Option<u64> {
        debug_assert!(nbits <= 64);
        let nbits = u32::from(nbits);
        if nbits == 0 {
            return Some(0);
        }
        if nbits <= 56 {
            return self.read_small(data, nbits);
        }
        let high = self.read_small(data, nbits - 32)?;
        let low = self.read_small(data, 32)?;
        Some((high << 32) | low)
    }

    /// Reads the delta-of-delta prefix of the XOR encoding: up to four bits, stopping after
    /// the first zero. Returns how many ones it holds (0..=4; 4 has no closing zero).
    #[inline]
    pub(crate) fn read_dod_prefix(&mut self, data: &[u8]) -> Option<u32> {
        if self.valid < 4 {
            self.refill(data);
        }
        let ones = self.buffer.leading_ones().min(4);
        // The prefix is `ones` ones and a zero, except for four ones.
        let len = (ones + 1).min(4);
        if len > self.valid {
            return None;
        }
        self.consume(len);
        Some(ones)
    }

    /// Reads a Go `binary.Uvarint` byte by byte.
    pub(crate) fn read_uvarint(&mut self, data: &[u8]) -> Option<u64> {
        let mut x = 0u64;
        let mut shift = 0u32;
        for i in 0..10 {
            let b = self.read_byte(data)?;
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return None;
                }
                return Some(x | (u64::from(b) << shift));
            }
            x |= u64::from(b & 0x7f) << shift;
            shift += 7;
        }
        None
    }

    /// Reads a Go `binary.Varint` (zigzag) byte by byte.
    pub(crate) fn read_varint(&mut self, data: &[u8]) -> Option<i64> {
        let ux = self.read_uvarint(data)?;
        let x = (ux >> 1) as i64;
        Some(if ux & 1 != 0 { !x } else { x })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_bits_back() {
        let mut w = BitWriter::default();
        w.write_bit(true);
        w.write_bits(0b1011, 4);
        w.write_byte(0xAB);
        w.write_bits(u64::MAX - 5, 64);
        w.write_bits(0x1234, 13);
        let data = w.stream.clone();
        let mut r = BitReader::new();
        assert_eq!(r.read_bit(&data), Some(true));
        assert_eq!(r.read_bits(&data, 4), Some(0b1011));
        assert_eq!(r.read_byte(&data), Some(0xAB));
        assert_eq!(r.read_bits(&data, 64), Some(u64::MAX - 5));
        assert_eq!(r.read_bits(&data, 13), Some(0x1234 & 0x1fff));
        assert_eq!(r.bits_read(), 1 + 4 + 8 + 64 + 13);
        // Only padding bits remain in the last byte.
        assert!(r.read_bits(&data, 8).is_none());
    }

    #[test]
    fn first_bits_are_most_significant() {
        let mut w = BitWriter::default();
        w.write_bits(0b101, 3);
        assert_eq!(w.stream, vec![0b1010_0000]);
        assert_eq!(w.free, 5);
    }
}
