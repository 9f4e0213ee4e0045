//! ULIDs: the 26-character, time-ordered identifiers that name blocks.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A ULID: 48 bits of milliseconds since the epoch, then 80 random bits, written in
/// Crockford's base32. Ordering follows creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ulid(pub u128);

/// Why a string is not a ULID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ULID {0:?}")]
pub struct InvalidUlid(pub String);

impl Ulid {
    /// A new ULID for the current time.
    pub fn new() -> Ulid {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Ulid::with_time(ms)
    }

    /// A new ULID with the given millisecond timestamp and fresh random bits.
    pub fn with_time(ms: u64) -> Ulid {
        let r = random_u128() & ((1u128 << 80) - 1);
        Ulid((u128::from(ms & 0xffff_ffff_ffff) << 80) | r)
    }

    /// The millisecond timestamp part.
    pub fn timestamp_ms(&self) -> u64 {
        (self.0 >> 80) as u64
    }
}

/// Random bits from the standard library's randomly keyed hasher (no extra dependency;
/// block names need uniqueness, not cryptographic strength).
fn random_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut out = 0u128;
    for half in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u64(half);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        out = (out << 64) | u128::from(h.finish());
    }
    out
}

impl fmt::Display for Ulid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 26];
        for (i, b) in buf.iter_mut().enumerate() {
            let shift = 5 * (25 - i);
            *b = ALPHABET[((self.0 >> shift) & 0x1f) as usize];
        }
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl FromStr for Ulid {
    type Err = InvalidUlid;
    fn from_str(s: &str) -> Result<Ulid, InvalidUlid> {
        let bad = || InvalidUlid(s.to_string());
        if s.len() != 26 || s.as_bytes()[0] > b'7' {
            return Err(bad());
        }
        let mut v = 0u128;
        for c in s.bytes() {
            let c = c.to_ascii_uppercase();
            let d = ALPHABET.iter().position(|&a| a == c).ok_or_else(bad)?;
            v = (v << 5) | d as u128;
        }
        Ok(Ulid(v))
    }
}

impl serde::Serialize for Ulid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Ulid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Ulid, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_prometheus_block_names() {
        for s in ["01M85944VXNRR3RJMHHP4P5NDK", "01DXXFZDYD1MQW6079WK0K6EDQ"] {
            let u: Ulid = s.parse().unwrap();
            assert_eq!(u.to_string(), s);
        }
        assert!("01M85944VXNRR3RJMHHP4P5ND".parse::<Ulid>().is_err());
        assert!("01M85944VXNRR3RJMHHP4P5NDU".parse::<Ulid>().is_err());
        assert!("81M85944VXNRR3RJMHHP4P5NDK".parse::<Ulid>().is_err());
    }

    #[test]
    fn new_ulids_are_unique_and_time_ordered() {
        let a = Ulid::with_time(1000);
        let b = Ulid::with_time(1000);
        let c = Ulid::with_time(1001);
        assert_ne!(a, b);
        assert!(a < c && b < c);
        assert_eq!(c.timestamp_ms(), 1001);
        assert_eq!(c.to_string().parse::<Ulid>().unwrap(), c);
    }
}
