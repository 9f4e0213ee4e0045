//! Prometheus durations (`1y2w3d4h5m6s7ms`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

/// A non-negative span of time with millisecond resolution, written as Prometheus writes
/// durations: `1y2w3d4h5m6s7ms` (Go's `model.Duration`).
///
/// Parsing accepts the units `y` (365 days), `w`, `d`, `h`, `m`, `s` and `ms`, each at most
/// once and from largest to smallest, or a bare `0`. Printing uses the largest units first and
/// prints `0s` for zero; years and weeks are used only when they divide the duration exactly.
///
/// ```
/// use model::Duration;
/// let d = Duration::parse("1h30m").unwrap();
/// assert_eq!(d.as_millis(), 5_400_000);
/// assert_eq!(d.to_string(), "1h30m");
/// assert_eq!(Duration::parse("90d").unwrap().to_string(), "90d");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    millis: i64,
}

const MS_PER_SECOND: i64 = 1000;
const MS_PER_MINUTE: i64 = 60 * MS_PER_SECOND;
const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;
const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;
const MS_PER_WEEK: i64 = 7 * MS_PER_DAY;
const MS_PER_YEAR: i64 = 365 * MS_PER_DAY;

/// Units in the order they must appear, with their size in nanoseconds (Go measures the
/// overflow limit in nanoseconds, so we do as well).
const UNITS: [(&str, u64); 7] = [
    ("y", MS_PER_YEAR as u64 * 1_000_000),
    ("w", MS_PER_WEEK as u64 * 1_000_000),
    ("d", MS_PER_DAY as u64 * 1_000_000),
    ("h", MS_PER_HOUR as u64 * 1_000_000),
    ("m", MS_PER_MINUTE as u64 * 1_000_000),
    ("s", MS_PER_SECOND as u64 * 1_000_000),
    ("ms", 1_000_000),
];

impl Duration {
    /// Zero.
    pub const ZERO: Duration = Duration { millis: 0 };

    /// A duration of `millis` milliseconds (negative values are clamped to zero).
    pub const fn from_millis(millis: i64) -> Duration {
        Duration {
            millis: if millis < 0 { 0 } else { millis },
        }
    }

    /// A duration of `secs` seconds (saturating).
    pub const fn from_secs(secs: i64) -> Duration {
        Duration::from_millis(secs.saturating_mul(MS_PER_SECOND))
    }

    /// The duration in milliseconds.
    pub const fn as_millis(self) -> i64 {
        self.millis
    }

    /// The duration as a [`std::time::Duration`].
    pub const fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.millis as u64)
    }

    /// Parses a Prometheus duration, with Go's `model.ParseDuration` rules and messages.
    pub fn parse(s: &str) -> Result<Duration> {
        let invalid = || Error::InvalidDuration {
            input: s.to_owned(),
            message: format!("not a valid duration string: {}", crate::strconv::quote(s)),
        };
        match s {
            "0" => return Ok(Duration::ZERO),
            "" => {
                return Err(Error::InvalidDuration {
                    input: String::new(),
                    message: "empty duration string".to_owned(),
                });
            }
            _ => {}
        }
        let out_of_range = || Error::InvalidDuration {
            input: s.to_owned(),
            message: "duration out of range".to_owned(),
        };
        let mut rest = s.as_bytes();
        let mut nanos: u64 = 0;
        let mut next_unit = 0;
        while !rest.is_empty() {
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                return Err(invalid());
            }
            // The digits are ASCII, so this is valid UTF-8; parse fails only on overflow.
            let v: u64 = std::str::from_utf8(&rest[..digits])
                .ok()
                .and_then(|d| d.parse().ok())
                .ok_or_else(invalid)?;
            rest = &rest[digits..];
            let unit_len = rest.iter().take_while(|b| !b.is_ascii_digit()).count();
            if unit_len == 0 {
                return Err(invalid());
            }
            let unit = String::from_utf8_lossy(&rest[..unit_len]);
            rest = &rest[unit_len..];
            let Some(pos) = UNITS.iter().position(|(u, _)| *u == unit) else {
                return Err(Error::InvalidDuration {
                    input: s.to_owned(),
                    message: format!(
                        "unknown unit {} in duration {}",
                        crate::strconv::quote(&unit),
                        crate::strconv::quote(s)
                    ),
                });
            };
            if pos < next_unit {
                return Err(invalid());
            }
            next_unit = pos + 1;
            let mult = UNITS[pos].1;
            if v > (1u64 << 63) / mult {
                return Err(out_of_range());
            }
            nanos = nanos.checked_add(v * mult).ok_or_else(out_of_range)?;
            if nanos > i64::MAX as u64 {
                return Err(out_of_range());
            }
        }
        Ok(Duration {
            millis: (nanos / 1_000_000) as i64,
        })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.millis;
        if ms == 0 {
            return f.write_str("0s");
        }
        let units: [(&str, i64, bool); 7] = [
            ("y", MS_PER_YEAR, true),
            ("w", MS_PER_WEEK, true),
            ("d", MS_PER_DAY, false),
            ("h", MS_PER_HOUR, false),
            ("m", MS_PER_MINUTE, false),
            ("s", MS_PER_SECOND, false),
            ("ms", 1, false),
        ];
        for (unit, mult, exact) in units {
            if exact && ms % mult != 0 {
                continue;
            }
            let v = ms / mult;
            if v > 0 {
                write!(f, "{v}{unit}")?;
                ms -= v * mult;
            }
        }
        Ok(())
    }
}

impl FromStr for Duration {
    type Err = Error;

    fn from_str(s: &str) -> Result<Duration> {
        Duration::parse(s)
    }
}

impl From<std::time::Duration> for Duration {
    /// Truncates to milliseconds, saturating at `i64::MAX` milliseconds.
    fn from(d: std::time::Duration) -> Duration {
        Duration::from_millis(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> std::time::Duration {
        d.to_std()
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(deserializer)?;
        Duration::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parse_and_print_like_go() {
        // (input, millis, printed); from common/model time_test.go TestParseDuration.
        let cases = [
            ("0", 0, "0s"),
            ("0w", 0, "0s"),
            ("0s", 0, "0s"),
            ("324ms", 324, "324ms"),
            ("3s", 3_000, "3s"),
            ("5m", 5 * MS_PER_MINUTE, "5m"),
            ("1h", MS_PER_HOUR, "1h"),
            ("4d", 4 * MS_PER_DAY, "4d"),
            ("4d1h", 4 * MS_PER_DAY + MS_PER_HOUR, "4d1h"),
            ("14d", 14 * MS_PER_DAY, "2w"),
            ("3w", 21 * MS_PER_DAY, "3w"),
            ("3w2d1h", 23 * MS_PER_DAY + MS_PER_HOUR, "23d1h"),
            ("10y", 10 * MS_PER_YEAR, "10y"),
            ("1y1d", MS_PER_YEAR + MS_PER_DAY, "366d"),
            ("90d", 90 * MS_PER_DAY, "90d"),
            ("1h30m", 90 * MS_PER_MINUTE, "1h30m"),
            ("1m1ms", MS_PER_MINUTE + 1, "1m1ms"),
            (
                "1y2w3d4h5m6s7ms",
                MS_PER_YEAR + 17 * MS_PER_DAY + 4 * MS_PER_HOUR + 5 * MS_PER_MINUTE + 6_007,
                "382d4h5m6s7ms",
            ),
        ];
        for (input, millis, printed) in cases {
            let d = Duration::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(d.as_millis(), millis, "{input}");
            assert_eq!(d.to_string(), printed, "{input}");
        }
    }

    #[test]
    fn parse_errors_like_go() {
        let cases = [
            ("", "empty duration string"),
            ("1", r#"not a valid duration string: "1""#),
            ("1.5h", r#"unknown unit "." in duration "1.5h""#),
            ("1x", r#"unknown unit "x" in duration "1x""#),
            ("1m1h", r#"not a valid duration string: "1m1h""#),
            ("1h1h", r#"not a valid duration string: "1h1h""#),
            ("-1s", r#"not a valid duration string: "-1s""#),
            ("h", r#"not a valid duration string: "h""#),
            ("1 s", r#"unknown unit " s" in duration "1 s""#),
            ("300y", "duration out of range"),
            (
                "99999999999999999999s",
                r#"not a valid duration string: "99999999999999999999s""#,
            ),
        ];
        for (input, want) in cases {
            let err = Duration::parse(input).expect_err(input);
            assert_eq!(err.to_string(), want, "{input}");
        }
    }

    #[test]
    fn std_conversions_and_serde() {
        let d = Duration::from(std::time::Duration::from_micros(1_500_999));
        assert_eq!(d.as_millis(), 1_500);
        assert_eq!(
            std::time::Duration::from(d),
            std::time::Duration::from_millis(1_500)
        );
        assert_eq!(
            serde_json::to_string(&d).expect("serialize"),
            r#""1s500ms""#
        );
        let back: Duration = serde_json::from_str(r#""2m""#).expect("deserialize");
        assert_eq!(back, Duration::from_secs(120));
        assert!(serde_json::from_str::<Duration>(r#""2x""#).is_err());
    }

    proptest! {
        #[test]
        fn print_then_parse_round_trips(ms in 0i64..=(i64::MAX / 1_000_000)) {
            let d = Duration::from_millis(ms);
            let printed = d.to_string();
            prop_assert_eq!(Duration::parse(&printed), Ok(d), "{}", printed);
        }

        #[test]
        fn parse_never_panics(s in ".{0,24}|[0-9ywdhms]{0,24}") {
            if let Ok(d) = Duration::parse(&s) {
                prop_assert!(d.as_millis() >= 0);
                prop_assert_eq!(Duration::parse(&d.to_string()), Ok(d));
            }
        }
    }
}
