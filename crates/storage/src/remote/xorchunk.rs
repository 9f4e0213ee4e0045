//! Prometheus's XOR (Gorilla) float chunk format, for streamed remote read.
//!
//! The TSDB has its own, faster copy of this format; this one keeps the remote-read wire
//! code free of `tsdb` (which depends on this crate). Layout: a big-endian u16 sample count,
//! the first timestamp as a varint and its value's 64 bits, the second timestamp's delta as a
//! uvarint and its value XORed with the first, then delta-of-delta timestamps in 1/14/17/20/64
//! bit buckets and XORed values reusing the previous leading/trailing zero window.

use model::Timestamp;

use crate::{Error, Result};

/// Most samples Prometheus puts into one chunk; the answer cuts chunks of this size.
pub(crate) const SAMPLES_PER_CHUNK: usize = 120;

#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Bits still free in the last byte (0: start a new byte).
    free: u8,
}

impl BitWriter {
    fn bit(&mut self, on: bool) {
        if self.free == 0 {
            self.bytes.push(0);
            self.free = 8;
        }
        self.free -= 1;
        if on {
            *self.bytes.last_mut().expect("a byte was pushed above") |= 1 << self.free;
        }
    }

    /// The low `n` bits of `v`, most significant first.
    fn bits(&mut self, v: u64, n: u8) {
        for i in (0..n).rev() {
            self.bit((v >> i) & 1 == 1);
        }
    }

    fn byte(&mut self, b: u8) {
        self.bits(u64::from(b), 8);
    }

    fn uvarint(&mut self, mut x: u64) {
        while x >= 0x80 {
            self.byte((x as u8) | 0x80);
            x >>= 7;
        }
        self.byte(x as u8);
    }
}

/// Encodes up to 65535 samples (ascending timestamps) as one XOR chunk.
pub fn encode(samples: &[(Timestamp, f64)]) -> Vec<u8> {
    debug_assert!(samples.len() <= usize::from(u16::MAX));
    let mut w = BitWriter::default();
    w.bits(samples.len() as u64, 16);
    let (mut t, mut v) = (0i64, 0u64);
    let mut t_delta = 0u64;
    let (mut leading, mut trailing) = (0xffu8, 0u8);
    for (i, &(ts, val)) in samples.iter().enumerate() {
        let bits = val.to_bits();
        match i {
            0 => {
                w.uvarint(((ts << 1) ^ (ts >> 63)) as u64);
                w.bits(bits, 64);
            }
            1 => {
                t_delta = ts.wrapping_sub(t) as u64;
                w.uvarint(t_delta);
                write_value(&mut w, bits ^ v, &mut leading, &mut trailing);
            }
            _ => {
                let delta = ts.wrapping_sub(t) as u64;
                let dod = delta.wrapping_sub(t_delta) as i64;
                if dod == 0 {
                    w.bit(false);
                } else if fits(dod, 14) {
                    w.bits(0b10, 2);
                    w.bits(dod as u64, 14);
                } else if fits(dod, 17) {
                    w.bits(0b110, 3);
                    w.bits(dod as u64, 17);
                } else if fits(dod, 20) {
                    w.bits(0b1110, 4);
                    w.bits(dod as u64, 20);
                } else {
                    w.bits(0b1111, 4);
                    w.bits(dod as u64, 64);
                }
                t_delta = delta;
                write_value(&mut w, bits ^ v, &mut leading, &mut trailing);
            }
        }
        t = ts;
        v = bits;
    }
    w.bytes
}

/// Go's `bitRange`: whether `x` fits the `n`-bit bucket.
fn fits(x: i64, n: u32) -> bool {
    let half = 1i64 << (n - 1);
    -(half - 1) <= x && x <= half
}

fn write_value(w: &mut BitWriter, delta: u64, leading: &mut u8, trailing: &mut u8) {
    if delta == 0 {
        w.bit(false);
        return;
    }
    w.bit(true);
    let new_leading = (delta.leading_zeros() as u8).min(31);
    let new_trailing = delta.trailing_zeros() as u8;
    if *leading != 0xff && new_leading >= *leading && new_trailing >= *trailing {
        w.bit(false);
        w.bits(delta >> *trailing, 64 - *leading - *trailing);
        return;
    }
    *leading = new_leading;
    *trailing = new_trailing;
    w.bit(true);
    w.bits(u64::from(new_leading), 5);
    let sig = 64 - new_leading - new_trailing;
    // 64 significant bits are written as 0 in the 6-bit field.
    w.bits(u64::from(sig), 6);
    w.bits(delta >> new_trailing, sig);
}

struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl BitReader<'_> {
    fn bit(&mut self) -> Result<bool> {
        let byte = self
            .data
            .get(self.pos / 8)
            .ok_or_else(|| chunk_error("truncated"))?;
        let on = (byte >> (7 - self.pos % 8)) & 1 == 1;
        self.pos += 1;
        Ok(on)
    }

    fn bits(&mut self, n: u8) -> Result<u64> {
        if self.pos + usize::from(n) > self.data.len() * 8 {
            return Err(chunk_error("truncated"));
        }
        let mut v = 0u64;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.bit()?);
        }
        Ok(v)
    }

    fn uvarint(&mut self) -> Result<u64> {
        let mut x = 0u64;
        for i in 0..10 {
            let b = self.bits(8)? as u8;
            if i == 9 && b > 1 {
                return Err(chunk_error("varint overflows 64 bits"));
            }
            x |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(x);
            }
        }
        Err(chunk_error("varint overflows 64 bits"))
    }
}

fn chunk_error(reason: &str) -> Error {
    Error::InvalidRemoteRequest {
        what: "XOR chunk",
        reason: reason.to_owned(),
    }
}

/// Decodes an XOR chunk into its samples. A truncated or malformed chunk is an
/// [`Error::InvalidRemoteRequest`].
pub fn decode(data: &[u8]) -> Result<Vec<(Timestamp, f64)>> {
    let mut r = BitReader { data, pos: 0 };
    let n = r.bits(16)? as usize;
    let mut out = Vec::with_capacity(n.min(data.len() * 8));
    let (mut t, mut v) = (0i64, 0u64);
    let mut t_delta = 0u64;
    let (mut leading, mut trailing) = (0u8, 0u8);
    for i in 0..n {
        match i {
            0 => {
                let u = r.uvarint()?;
                t = ((u >> 1) as i64) ^ -((u & 1) as i64);
                v = r.bits(64)?;
            }
            1 => {
                t_delta = r.uvarint()?;
                t = t.wrapping_add(t_delta as i64);
                read_value(&mut r, &mut v, &mut leading, &mut trailing)?;
            }
            _ => {
                let mut ones = 0;
                while ones < 4 && r.bit()? {
                    ones += 1;
                }
                let sz = [0u8, 14, 17, 20, 64][ones];
                let dod = if sz == 0 {
                    0
                } else {
                    let bits = r.bits(sz)?;
                    if sz < 64 && bits > 1 << (sz - 1) {
                        (bits as i64) - (1i64 << sz)
                    } else {
                        bits as i64
                    }
                };
                t_delta = (t_delta as i64).wrapping_add(dod) as u64;
                t = t.wrapping_add(t_delta as i64);
                read_value(&mut r, &mut v, &mut leading, &mut trailing)?;
            }
        }
        out.push((t, f64::from_bits(v)));
    }
    Ok(out)
}

fn read_value(r: &mut BitReader, v: &mut u64, leading: &mut u8, trailing: &mut u8) -> Result<()> {
    if !r.bit()? {
        return Ok(());
    }
    if r.bit()? {
        *leading = r.bits(5)? as u8;
        let mut sig = r.bits(6)? as u8;
        if sig == 0 {
            sig = 64;
        }
        if u32::from(*leading) + u32::from(sig) > 64 {
            return Err(chunk_error("value window wider than 64 bits"));
        }
        *trailing = 64 - *leading - sig;
    }
    let sig = 64 - *leading - *trailing;
    let bits = r.bits(sig)?;
    *v ^= if *trailing >= 64 {
        0
    } else {
        bits << *trailing
    };
    Ok(())
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
        let got = encode(&[(1000, 1.0), (2000, 2.0)]);
        let mut want = vec![0, 2, 0xd0, 0x0f];
        want.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
        want.extend_from_slice(&[0xe8, 0x07]);
        want.extend_from_slice(&[0b1100_0010, 0b0101_1111, 0b1111_1111]);
        assert_eq!(got, want);
        assert_eq!(decode(&got).unwrap(), vec![(1000, 1.0), (2000, 2.0)]);
    }

    #[test]
    fn truncated_chunks_are_errors() {
        let data = encode(&[(1, 1.5), (15_000, -3.0), (15_001, 1e300), (99_999_999, 0.0)]);
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
            let got = decode(&encode(&samples)).unwrap();
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
