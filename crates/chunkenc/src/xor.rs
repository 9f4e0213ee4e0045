//! The XOR float chunk: appender and iterator (Go's `chunkenc/xor.go`).

mod window;

use super::bstream::{BitReader, BitWriter};
use crate::{Error, Result};
use window::ValueCode;

/// Appender state: what the encoder must remember between samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AppendState {
    t: i64,
    v: u64,
    t_delta: u64,
    /// Leading zeros of the last XOR written with a header; 0xff before the first.
    leading: u8,
    trailing: u8,
}

/// A chunk of float samples in Prometheus's XOR encoding.
///
/// Build one with [`XorChunk::new`] and [`XorChunk::append`] (or [`XorChunk::appender`]),
/// read it with [`XorChunk::iter`] or an owned [`XorIterator`], and get the bytes Prometheus
/// stores with [`XorChunk::bytes`]. A chunk made from stored bytes ([`XorChunk::from_bytes`])
/// can be appended to as well: its appender state is rebuilt on the first append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XorChunk {
    w: BitWriter,
    app: Option<AppendState>,
}

impl Default for XorChunk {
    fn default() -> Self {
        XorChunk::new()
    }
}

impl XorChunk {
    /// An empty chunk.
    pub fn new() -> XorChunk {
        let mut stream = Vec::with_capacity(128);
        stream.extend_from_slice(&[0, 0]);
        XorChunk {
            w: BitWriter::with_bytes(stream, 0),
            app: Some(AppendState {
                t: 0,
                v: 0,
                t_delta: 0,
                leading: 0xff,
                trailing: 0,
            }),
        }
    }

    /// A chunk over stored bytes (the data after the encoding byte on disk). Fails when the
    /// bytes are too short to hold the sample count; the samples themselves are checked as
    /// they are read.
    pub fn from_bytes(data: Vec<u8>) -> Result<XorChunk> {
        if data.len() < 2 {
            return Err(Error::CorruptChunk(format!(
                "XOR chunk of {} bytes has no sample count",
                data.len()
            )));
        }
        let count = u16::from_be_bytes([data[0], data[1]]);
        let mut w = BitWriter::with_bytes(data, 0);
        w.count = count;
        Ok(XorChunk { w, app: None })
    }

    /// The encoding byte of this chunk.
    pub fn encoding(&self) -> super::Encoding {
        super::Encoding::Xor
    }

    /// The bytes Prometheus stores for this chunk (sample count + bit stream).
    pub fn bytes(&self) -> &[u8] {
        &self.w.stream
    }

    /// The chunk's bytes, consuming it.
    pub fn into_bytes(self) -> Vec<u8> {
        self.w.stream
    }

    /// The number of samples in the chunk.
    pub fn num_samples(&self) -> usize {
        usize::from(self.w.count)
    }

    /// An iterator over the chunk's samples, borrowing it.
    pub fn iter(&self) -> XorIterator<&[u8]> {
        XorIterator::new(self.bytes())
    }

    /// An appender; see [`XorChunk::append`].
    pub fn appender(&mut self) -> Result<XorAppender<'_>> {
        self.ensure_append_state()?;
        Ok(XorAppender { chunk: self })
    }

    /// Appends a sample. Timestamps must be increasing (this is not checked: the head rejects
    /// out-of-order samples before they get here). Fails only when the chunk already holds
    /// 65535 samples, or when a chunk read from disk turns out corrupt.
    ///
    /// The bytes are exactly those Prometheus's appender writes.
    pub fn append(&mut self, t: i64, v: f64) -> Result<()> {
        self.append_coded(t, v, ValueCode::Greedy)
    }

    /// A chunk holding `samples` (at most 65535, timestamps increasing) in the fewest bytes
    /// the XOR format allows for them: where Prometheus's appender writes a changed value in
    /// the previous leading/trailing-zero window whenever it fits, this encoder picks, over
    /// the whole chunk, when to open which window (see `window.rs`). Any XOR decoder,
    /// Prometheus's included, reads the result; it can be appended to like any chunk. (A
    /// chunk of many thousands of very irregular values gets Prometheus's choices instead,
    /// which bounds the planner's memory.)
    ///
    /// # Errors
    /// With more than 65535 samples.
    pub fn encode_optimal(samples: &[(i64, f64)]) -> Result<XorChunk> {
        let bits: Vec<u64> = samples.iter().map(|s| s.1.to_bits()).collect();
        let codes = window::plan(&bits);
        let mut c = XorChunk::new();
        for (&(t, v), &code) in samples.iter().zip(&codes) {
            c.append_coded(t, v, code)?;
        }
        Ok(c)
    }

    fn append_coded(&mut self, t: i64, v: f64, code: ValueCode) -> Result<()> {
        let mut st = match self.app {
            Some(st) => st,
            None => self.ensure_append_state()?,
        };
        let num = self.w.count;
        if num == u16::MAX {
            return Err(Error::ChunkAppend(format!(
                "XOR chunk is full ({num} samples)"
            )));
        }
        let vbits = v.to_bits();
        let mut t_delta = 0u64;
        match num {
            0 => {
                let mut buf = [0u8; 10];
                let n = put_varint(&mut buf, t);
                for &b in &buf[..n] {
                    self.w.write_byte(b);
                }
                self.w.write_bits(vbits, 64);
            }
            1 => {
                t_delta = t.wrapping_sub(st.t) as u64;
                let mut buf = [0u8; 10];
                let n = put_uvarint(&mut buf, t_delta);
                for &b in &buf[..n] {
                    self.w.write_byte(b);
                }
                let (head, head_len, payload, payload_len) = value_bits(&mut st, vbits, code);
                self.w.write_bits(head, head_len);
                self.w.write_bits(payload, payload_len);
            }
            _ => {
                t_delta = t.wrapping_sub(st.t) as u64;
                let dod = t_delta.wrapping_sub(st.t_delta) as i64;
                // Gorilla's resolution is seconds, Prometheus's milliseconds: Prometheus uses
                // wider buckets than the paper. The timestamp's bits and the value's go out
                // in as few writes as fit a word.
                let (tbits, tlen): (u64, u8) = if dod == 0 {
                    (0, 1)
                } else if bit_range(dod, 14) {
                    ((0b10 << 14) | (dod as u64 & 0x3fff), 16)
                } else if bit_range(dod, 17) {
                    ((0b110 << 17) | (dod as u64 & 0x1_ffff), 20)
                } else if bit_range(dod, 20) {
                    ((0b1110 << 20) | (dod as u64 & 0xf_ffff), 24)
                } else {
                    self.w.write_bits(0b1111, 4);
                    (dod as u64, 64)
                };
                let (head, head_len, payload, payload_len) = value_bits(&mut st, vbits, code);
                if tlen == 64 {
                    self.w.write_bits(tbits, 64);
                    self.w.write_bits(head, head_len);
                    self.w.write_bits(payload, payload_len);
                } else {
                    // At most 24 + 13 bits.
                    let first = (tbits << head_len) | head;
                    let first_len = tlen + head_len;
                    if first_len + payload_len <= 64 {
                        // `payload_len` < 64 here (first_len >= 2).
                        self.w
                            .write_bits((first << payload_len) | payload, first_len + payload_len);
                    } else {
                        self.w.write_bits(first, first_len);
                        self.w.write_bits(payload, payload_len);
                    }
                }
            }
        }
        st.t = t;
        st.v = vbits;
        st.t_delta = t_delta;
        self.app = Some(st);
        self.w.count = num + 1;
        let [hi, lo] = self.w.count.to_be_bytes();
        self.w.stream[0] = hi;
        self.w.stream[1] = lo;
        Ok(())
    }

    /// Rebuilds the appender state of a chunk read from bytes by decoding it once, as Go's
    /// `XORChunk.Appender` does; also finds where in the last byte the stream ends.
    fn ensure_append_state(&mut self) -> Result<AppendState> {
        if let Some(st) = self.app {
            return Ok(st);
        }
        let mut it = XorIterator::new(self.w.stream.as_slice());
        while it.next() {}
        if let Some(err) = it.err.take() {
            return Err(err);
        }
        let bits = 16 + it.br.bits_read();
        let st = AppendState {
            t: it.t,
            v: it.val,
            t_delta: it.t_delta,
            leading: if it.num_total == 0 { 0xff } else { it.leading },
            trailing: it.trailing,
        };
        self.w
            .truncate(bits.div_ceil(8), ((8 - bits % 8) % 8) as u8);
        self.app = Some(st);
        Ok(st)
    }
}

/// Whether `x` fits the `nbits`-wide bucket of the delta-of-delta encoding (Go's `bitRange`;
/// the range is asymmetric on purpose, see Prometheus's docs/bstream.md).
fn bit_range(x: i64, nbits: u8) -> bool {
    -((1i64 << (nbits - 1)) - 1) <= x && x <= 1i64 << (nbits - 1)
}

/// The bits of a value (as its XOR with the previous one): a head of 1 to 13 bits (the
/// control bits, and a new window's leading-zero count and width) and a payload of 0 to 64
/// bits (the XOR's bits inside the window), each as (bits, length). Updates the window.
#[inline]
fn value_bits(st: &mut AppendState, vbits: u64, code: ValueCode) -> (u64, u8, u64, u8) {
    let delta = vbits ^ st.v;
    if delta == 0 {
        return (0, 1, 0, 0);
    }
    let (leading, trailing) = window::zeros(delta);
    let fits = st.leading != 0xff && leading >= st.leading && trailing >= st.trailing;
    let (leading, trailing) = match code {
        ValueCode::Greedy | ValueCode::Reuse if fits => {
            return (0b10, 2, delta >> st.trailing, 64 - st.leading - st.trailing);
        }
        // A planned window always holds its XOR; checked anyway, so that the bytes are
        // right whatever the plan says.
        ValueCode::Open {
            leading: l,
            trailing: t,
        } if l <= leading && t <= trailing => (l, t),
        _ => (leading, trailing),
    };
    st.leading = leading;
    st.trailing = trailing;
    // 64 significant bits do not fit 6 bits; they are written as 0 (0 never occurs, since a
    // zero XOR takes the branch above) and read back as 64.
    let sigbits = 64 - leading - trailing;
    (
        (0b11 << 11) | (u64::from(leading) << 6) | u64::from(sigbits & 0x3f),
        13,
        delta >> trailing,
        sigbits,
    )
}

fn put_uvarint(buf: &mut [u8; 10], mut x: u64) -> usize {
    let mut i = 0;
    while x >= 0x80 {
        buf[i] = (x as u8) | 0x80;
        x >>= 7;
        i += 1;
    }
    buf[i] = x as u8;
    i + 1
}

fn put_varint(buf: &mut [u8; 10], x: i64) -> usize {
    let ux = ((x as u64) << 1) ^ ((x >> 63) as u64);
    put_uvarint(buf, ux)
}

/// Appends samples to an [`XorChunk`] (a thin handle; the state lives in the chunk).
#[derive(Debug)]
pub struct XorAppender<'a> {
    chunk: &'a mut XorChunk,
}

impl XorAppender<'_> {
    /// Appends a sample; see [`XorChunk::append`].
    pub fn append(&mut self, t: i64, v: f64) -> Result<()> {
        self.chunk.append(t, v)
    }
}

/// Iterates the samples of XOR chunk bytes held in any `B: AsRef<[u8]>` (a borrowed slice,
/// a `Vec<u8>`, a handle into a memory-mapped file). Corrupt data stops the iteration and is
/// reported by [`XorIterator::err`]; it never panics.
#[derive(Debug)]
pub struct XorIterator<B> {
    data: B,
    br: BitReader,
    num_total: u16,
    num_read: u16,
    t: i64,
    val: u64,
    leading: u8,
    trailing: u8,
    t_delta: u64,
    err: Option<Error>,
}

impl<B: AsRef<[u8]>> XorIterator<B> {
    /// An iterator over chunk bytes (sample count + bit stream).
    pub fn new(data: B) -> XorIterator<B> {
        let (num_total, err) = match data.as_ref() {
            [hi, lo, ..] => (u16::from_be_bytes([*hi, *lo]), None),
            short => (
                0,
                Some(Error::CorruptChunk(format!(
                    "XOR chunk of {} bytes has no sample count",
                    short.len()
                ))),
            ),
        };
        XorIterator {
            data,
            br: BitReader::new(),
            num_total,
            num_read: 0,
            t: i64::MIN,
            val: 0,
            leading: 0,
            trailing: 0,
            t_delta: 0,
            err,
        }
    }

    /// The number of samples the chunk claims to hold.
    pub fn num_samples(&self) -> usize {
        usize::from(self.num_total)
    }

    /// The current sample (valid after `next` or `seek` returned true).
    pub fn at(&self) -> (i64, f64) {
        (self.t, f64::from_bits(self.val))
    }

    /// The current sample's timestamp.
    pub fn at_t(&self) -> i64 {
        self.t
    }

    /// The error that stopped the iteration, if any.
    pub fn err(&self) -> Option<&Error> {
        self.err.as_ref()
    }

    /// Takes the error that stopped the iteration, if any.
    pub fn take_err(&mut self) -> Option<Error> {
        self.err.take()
    }

    /// Advances to the first sample with timestamp >= `t`; never moves backwards (like Go, it
    /// stays on the current sample when that one is already at or after `t`).
    pub fn seek(&mut self, t: i64) -> bool {
        if self.err.is_some() {
            return false;
        }
        while t > self.t || self.num_read == 0 {
            if !self.step() {
                return false;
            }
        }
        true
    }

    fn fail(&mut self, what: &str) -> bool {
        self.err = Some(Error::CorruptChunk(format!(
            "XOR chunk ends early or is malformed reading {what} of sample {} of {}",
            self.num_read + 1,
            self.num_total
        )));
        false
    }

    /// Advances to the next sample; false at the end or on corrupt data.
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn next(&mut self) -> bool {
        self.step()
    }

    /// The decoding step behind [`XorIterator::next`], forced inline so that `seek`'s loop
    /// and each caller's loop keep the reader in registers (with a call per sample, as
    /// LLVM chose once the chunk iterator enum added call sites, decoding took twice as
    /// long).
    #[inline(always)]
    fn step(&mut self) -> bool {
        if self.err.is_some() || self.num_read == self.num_total {
            return false;
        }
        if self.num_read < 2 {
            return self.next_first();
        }
        let all = self.data.as_ref();
        let data = all.get(2..).unwrap_or(&[]);
        // The reader works on a copy (kept in registers) stored back once. A refill leaves
        // at least 56 bits away from the stream's end, enough for a delta-of-delta in a
        // bucket (at most 4 + 20 bits) and the value's control bits and window (at most 13
        // bits); near the end, where fewer may be left, each step checks that its bits
        // were there (the unloaded ones read as zeros).
        let mut br = self.br;
        br.refill(data);
        let peek = br.peek();
        // The delta-of-delta's prefix: up to four bits, stopping at the first zero.
        let (dod, len) = if peek >> 63 == 0 {
            (0, 1)
        } else if let ones @ 1..=3 = peek.leading_ones() {
            // 0b10 + 14 bits, 0b110 + 17 bits, 0b1110 + 20 bits.
            let sz = DOD_BITS[ones as usize];
            let len = ones + 1 + sz;
            let bits = (peek >> (64 - len)) & ((1u64 << sz) - 1);
            (signed_dod(bits, sz), len)
        } else {
            return self.next_checked();
        };
        if len > br.available() {
            return self.fail("a timestamp delta");
        }
        br.consume(len);
        self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
        self.t = self.t.wrapping_add(self.t_delta as i64);
        // The value's control bits: 0 (unchanged), 10 (XOR in the last window), 11 (a new
        // window: 5 bits of leading zeros, 6 of significant bits).
        let peek = br.peek();
        if br.available() < 13 {
            // Near the end: the control bits, and a window's, must be there.
            let need = match peek >> 62 {
                0b00 | 0b01 => 1,
                0b10 => 2,
                _ => 13,
            };
            if need > br.available() {
                return self.fail("a value");
            }
        }
        if peek >> 63 == 0 {
            br.consume(1);
        } else {
            if peek >> 62 == 0b11 {
                let leading = ((peek >> 57) & 0x1f) as u8;
                // 0 significant bits stands for 64 (see the encoder).
                let sig = match ((peek >> 51) & 0x3f) as u8 {
                    0 => 64,
                    n => n,
                };
                // 5 bits of leading zeros and at most 64 significant bits can exceed 64.
                if u32::from(leading) + u32::from(sig) > 64 {
                    return self.fail("a value window");
                }
                self.leading = leading;
                self.trailing = 64 - leading - sig;
                br.consume(13);
            } else {
                br.consume(2);
            }
            let mbits = 64 - self.leading - self.trailing;
            if u32::from(mbits) > br.available() {
                br.refill(data);
            }
            // At most 63 bits are buffered, so 64-bit XORs take the checked way too.
            let bits = if u32::from(mbits) <= br.available() {
                let bits = br.peek() >> (64 - mbits);
                br.consume(u32::from(mbits));
                bits
            } else {
                self.br = br;
                let Some(bits) = self.br.read_bits(data, mbits) else {
                    return self.fail("a value's bits");
                };
                br = self.br;
                bits
            };
            // mbits >= 1 and trailing = 64 - leading - mbits < 64, so the shift is in range.
            self.val ^= bits << self.trailing;
        }
        self.br = br;
        self.num_read += 1;
        true
    }

    /// The first two samples: a varint timestamp and raw value bits, then a uvarint delta.
    #[cold]
    fn next_first(&mut self) -> bool {
        let all = self.data.as_ref();
        let data = all.get(2..).unwrap_or(&[]);
        if self.num_read == 0 {
            let Some(t) = self.br.read_varint(data) else {
                return self.fail("the first timestamp");
            };
            let Some(v) = self.br.read_bits(data, 64) else {
                return self.fail("the first value");
            };
            self.t = t;
            self.val = v;
            self.num_read = 1;
            return true;
        }
        let Some(d) = self.br.read_uvarint(data) else {
            return self.fail("the first timestamp delta");
        };
        self.t_delta = d;
        self.t = self.t.wrapping_add(d as i64);
        self.read_value()
    }

    /// A later sample with every read checked: one with a 64-bit delta-of-delta.
    #[inline(never)]
    fn next_checked(&mut self) -> bool {
        let all = self.data.as_ref();
        let data = all.get(2..).unwrap_or(&[]);
        let Some(dod) = read_dod_slow(&mut self.br, data) else {
            return self.fail("a timestamp delta");
        };
        self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
        self.t = self.t.wrapping_add(self.t_delta as i64);
        self.read_value()
    }

    fn read_value(&mut self) -> bool {
        let all = self.data.as_ref();
        let data = all.get(2..).unwrap_or(&[]);
        if self.br.available() < 2 {
            self.br.refill(data);
        }
        // The control bits: 0 (unchanged), 10 (XOR in the last window), 11 (a new window).
        let ones = self.br.peek().leading_ones().min(2);
        let len = (ones + 1).min(2);
        if len > self.br.available() {
            return self.fail("a value");
        }
        self.br.consume(len);
        if ones != 0 {
            if ones == 2 {
                // 5 bits of leading zeros, 6 of significant bits.
                let Some(head) = self.br.read_bits(data, 11) else {
                    return self.fail("a value window");
                };
                let leading = (head >> 6) as u8;
                // 0 significant bits stands for 64 (see the encoder).
                let sig = match (head & 0x3f) as u8 {
                    0 => 64,
                    n => n,
                };
                if u32::from(leading) + u32::from(sig) > 64 {
                    return self.fail("a value window");
                }
                self.leading = leading;
                self.trailing = 64 - leading - sig;
            }
            let mbits = 64 - self.leading - self.trailing;
            let Some(bits) = self.br.read_bits(data, mbits) else {
                return self.fail("a value's bits");
            };
            // mbits >= 1 and trailing = 64 - leading - mbits < 64, so the shift is in range.
            self.val ^= bits << self.trailing;
        }
        self.num_read += 1;
        true
    }
}

/// The delta-of-delta near the end of the stream, with every read checked.
#[cold]
fn read_dod_slow(br: &mut BitReader, data: &[u8]) -> Option<i64> {
    let ones = br.read_dod_prefix(data)?;
    Some(match ones {
        0 => 0,
        4 => br.read_bits(data, 64)? as i64,
        _ => {
            let sz = DOD_BITS[ones as usize];
            signed_dod(br.read_bits(data, sz as u8)?, sz)
        }
    })
}

/// The width of a delta-of-delta after a prefix of 1, 2 or 3 ones (index 0 unused).
const DOD_BITS: [u32; 4] = [14, 14, 17, 20];

/// A delta-of-delta read as `sz` unsigned bits back to its signed value: the buckets are
/// asymmetric, so values above `2^(sz-1)` are the negative ones (see docs/bstream.md).
#[inline]
fn signed_dod(bits: u64, sz: u32) -> i64 {
    if bits > (1 << (sz - 1)) {
        bits.wrapping_sub(1 << sz) as i64
    } else {
        bits as i64
    }
}

#[cfg(test)]
mod tests;
