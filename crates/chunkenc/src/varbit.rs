//! Variable-width bit encodings of integers and the XOR value step the histogram chunks use
//! (Go's `chunkenc/varbit.go` and `xorWrite`/`xorRead`).
//!
//! A varbit number is a unary prefix of up to eight bits naming one of nine widths (0, 3, 6,
//! 9, 12, 18, 25, 56 or 64 bits) followed by the value in that many bits (two's complement
//! for signed values).

use super::bstream::{BitReader, BitWriter};

/// The widths after each prefix length (prefix of `i` ones and a zero, or eight ones).
const WIDTHS: [u8; 9] = [0, 3, 6, 9, 12, 18, 25, 56, 64];

/// Whether the signed `x` fits `nbits` in Go's varbit sense: `-(2^(n-1)-1) <= x <= 2^(n-1)`.
fn bit_range(x: i64, nbits: u8) -> bool {
    let half = 1i64 << (nbits - 1);
    -half < x && x <= half
}

fn write_prefix(w: &mut BitWriter, i: usize) {
    // `i` ones followed by a zero, except for the last width (eight ones).
    if i == 8 {
        w.write_bits(0xff, 8);
    } else {
        w.write_bits(((1u64 << i) - 1) << 1, (i + 1) as u8);
    }
}

/// Writes a signed integer in varbit encoding.
pub(crate) fn put_varbit_int(w: &mut BitWriter, val: i64) {
    if val == 0 {
        w.write_bits(0, 1);
        return;
    }
    for (i, &width) in WIDTHS.iter().enumerate().skip(1).take(7) {
        if bit_range(val, width) {
            write_prefix(w, i);
            w.write_bits(val as u64, width);
            return;
        }
    }
    write_prefix(w, 8);
    w.write_bits(val as u64, 64);
}

/// Writes an unsigned integer in varbit encoding (the same widths as the signed one).
pub(crate) fn put_varbit_uint(w: &mut BitWriter, val: u64) {
    if val == 0 {
        w.write_bits(0, 1);
        return;
    }
    let used = 64 - val.leading_zeros();
    for (i, &width) in WIDTHS.iter().enumerate().skip(1).take(7) {
        if used <= u32::from(width) {
            write_prefix(w, i);
            w.write_bits(val, width);
            return;
        }
    }
    write_prefix(w, 8);
    w.write_bits(val, 64);
}

/// Reads the prefix: the index into `WIDTHS`.
fn read_prefix(r: &mut BitReader, data: &[u8]) -> Option<usize> {
    for i in 0..8 {
        if r.read_bits(data, 1)? == 0 {
            return Some(i);
        }
    }
    Some(8)
}

/// Reads a signed varbit integer.
pub(crate) fn read_varbit_int(r: &mut BitReader, data: &[u8]) -> Option<i64> {
    let width = WIDTHS[read_prefix(r, data)?];
    match width {
        0 => Some(0),
        64 => r.read_bits(data, 64).map(|b| b as i64),
        sz => {
            let bits = r.read_bits(data, sz)?;
            if bits > 1u64 << (sz - 1) {
                Some(bits as i64 - (1i64 << sz))
            } else {
                Some(bits as i64)
            }
        }
    }
}

/// Reads an unsigned varbit integer.
pub(crate) fn read_varbit_uint(r: &mut BitReader, data: &[u8]) -> Option<u64> {
    let width = WIDTHS[read_prefix(r, data)?];
    if width == 0 {
        return Some(0);
    }
    r.read_bits(data, width)
}

/// Writes `new` XORed against `cur` in the XOR chunk's value encoding, with the given
/// leading/trailing-zero window (0xff leading: no window yet). Go's `xorWrite`.
pub(crate) fn xor_write(
    w: &mut BitWriter,
    new: f64,
    cur: f64,
    leading: &mut u8,
    trailing: &mut u8,
) {
    let delta = new.to_bits() ^ cur.to_bits();
    if delta == 0 {
        w.write_bits(0, 1);
        return;
    }
    w.write_bits(1, 1);
    let new_leading = (delta.leading_zeros() as u8).min(31);
    let new_trailing = delta.trailing_zeros() as u8;
    if *leading != 0xff && new_leading >= *leading && new_trailing >= *trailing {
        w.write_bits(0, 1);
        w.write_bits(delta >> *trailing, 64 - *leading - *trailing);
        return;
    }
    *leading = new_leading;
    *trailing = new_trailing;
    w.write_bits(1, 1);
    w.write_bits(u64::from(new_leading), 5);
    let sigbits = 64 - new_leading - new_trailing;
    // 64 significant bits are written as 0 in the 6-bit field.
    w.write_bits(u64::from(sigbits), 6);
    w.write_bits(delta >> new_trailing, sigbits);
}

/// Reads a value written by [`xor_write`], updating `value` and the window. Go's `xorRead`.
pub(crate) fn xor_read(
    r: &mut BitReader,
    data: &[u8],
    value: &mut f64,
    leading: &mut u8,
    trailing: &mut u8,
) -> Option<()> {
    if r.read_bits(data, 1)? == 0 {
        return Some(());
    }
    if r.read_bits(data, 1)? == 1 {
        *leading = r.read_bits(data, 5)? as u8;
        let mut sigbits = r.read_bits(data, 6)? as u8;
        if sigbits == 0 {
            sigbits = 64;
        }
        *trailing = 64u8.checked_sub(*leading)?.checked_sub(sigbits)?;
    }
    let sigbits = 64u8.checked_sub(*leading)?.checked_sub(*trailing)?;
    let bits = r.read_bits(data, sigbits)?;
    let shifted = if *trailing >= 64 {
        0
    } else {
        bits << *trailing
    };
    *value = f64::from_bits(value.to_bits() ^ shifted);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip_int(vals: &[i64]) {
        let mut w = BitWriter::with_bytes(Vec::new(), 0);
        for &v in vals {
            put_varbit_int(&mut w, v);
        }
        let mut r = BitReader::new();
        for &v in vals {
            assert_eq!(read_varbit_int(&mut r, &w.stream), Some(v), "value {v}");
        }
    }

    #[test]
    fn varbit_ints_round_trip_at_every_width_edge() {
        let mut vals = vec![0, i64::MIN, i64::MAX, -1, 1];
        for w in [3u8, 6, 9, 12, 18, 25, 56] {
            let half = 1i64 << (w - 1);
            vals.extend([half, half + 1, -half + 1, -half]);
        }
        roundtrip_int(&vals);
        let mut w = BitWriter::with_bytes(Vec::new(), 0);
        let uvals = [
            0u64,
            1,
            7,
            8,
            63,
            64,
            4095,
            4096,
            262_143,
            1 << 25,
            1 << 56,
            u64::MAX,
        ];
        for &v in &uvals {
            put_varbit_uint(&mut w, v);
        }
        let mut r = BitReader::new();
        for &v in &uvals {
            assert_eq!(read_varbit_uint(&mut r, &w.stream), Some(v));
        }
    }

    #[test]
    fn varbit_int_widths_match_go() {
        // 0 is one bit; 4 fits the 3-bit bucket (prefix 10): 5 bits; -4 needs 6 bits.
        let cases: [(i64, usize); 5] = [(0, 1), (4, 5), (-4, 9), (32, 9), (33, 13)];
        for (v, bits) in cases {
            let mut w = BitWriter::with_bytes(Vec::new(), 0);
            put_varbit_int(&mut w, v);
            assert_eq!(w.stream.len() * 8 - usize::from(w.free), bits, "value {v}");
        }
    }
}
