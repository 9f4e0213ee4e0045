//! Byte sizes such as `body_size_limit: 15MB`, parsed like Go's `units.ParseBase2Bytes`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A size in bytes written with base-2 units (`512KiB`, `15MB`, `1GB512MB`): `KB` and `KiB`
/// both mean 1024 bytes, as in Prometheus (alecthomas/units `Base2Bytes`). Negative values
/// parse (so that validation can reject them with a clear message).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub i64);

const UNITS: [(&str, i64); 14] = [
    ("EiB", 1 << 60),
    ("PiB", 1 << 50),
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("EB", 1 << 60),
    ("PB", 1 << 50),
    ("TB", 1 << 40),
    ("GB", 1 << 30),
    ("MB", 1 << 20),
    ("KB", 1 << 10),
    ("kB", 1 << 10),
    ("B", 1),
];

impl ByteSize {
    /// The size in bytes.
    pub fn bytes(self) -> i64 {
        self.0
    }

    /// Parses a size such as `15MB`; a bare number without a unit is an error except `0`.
    pub fn parse(s: &str) -> Result<ByteSize, String> {
        let orig = s;
        let (neg, mut rest) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        if rest == "0" {
            return Ok(ByteSize(0));
        }
        if rest.is_empty() {
            return Err(format!("units: invalid {orig}"));
        }
        let mut total: f64 = 0.0;
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            if num_len == 0 {
                return Err(format!("units: invalid {orig}"));
            }
            let number: f64 = rest[..num_len]
                .parse()
                .map_err(|_| format!("units: invalid {orig}"))?;
            rest = &rest[num_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            let Some(&(_, factor)) = UNITS.iter().find(|(u, _)| *u == unit) else {
                return Err(format!("units: unknown unit {unit} in {orig}"));
            };
            total += number * factor as f64;
            rest = &rest[unit_len..];
        }
        if total > i64::MAX as f64 {
            return Err(format!("units: overflow in {orig}"));
        }
        let v = total as i64;
        Ok(ByteSize(if neg { -v } else { v }))
    }
}

impl fmt::Display for ByteSize {
    /// Like Go's `Base2Bytes.String()`: the largest exact unit, `15MiB`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v == 0 {
            return f.write_str("0B");
        }
        for (unit, factor) in &UNITS[..6] {
            if v % factor == 0 {
                return write!(f, "{}{unit}", v / factor);
            }
        }
        write!(f, "{v}B")
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ByteSize::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_base2_units() {
        assert_eq!(ByteSize::parse("15MB"), Ok(ByteSize(15 << 20)));
        assert_eq!(ByteSize::parse("1KiB"), Ok(ByteSize(1024)));
        assert_eq!(
            ByteSize::parse("1GB512MB"),
            Ok(ByteSize((1 << 30) + (512 << 20)))
        );
        assert_eq!(ByteSize::parse("-1GB"), Ok(ByteSize(-(1 << 30))));
        assert_eq!(ByteSize::parse("0"), Ok(ByteSize(0)));
        assert_eq!(ByteSize::parse("1.5KB"), Ok(ByteSize(1536)));
    }

    #[test]
    fn rejects_missing_or_unknown_units() {
        assert_eq!(
            ByteSize::parse("100").unwrap_err(),
            "units: unknown unit  in 100"
        );
        assert!(ByteSize::parse("10XB").is_err());
        assert!(ByteSize::parse("").is_err());
    }

    #[test]
    fn displays_the_largest_exact_unit() {
        assert_eq!(ByteSize(15 << 20).to_string(), "15MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
        assert_eq!(
            ByteSize::parse(&ByteSize(3 << 40).to_string()),
            Ok(ByteSize(3 << 40))
        );
    }
}
