//! RFC 3339 times as Go parses and prints them (`time.RFC3339Nano`), in UTC.

use std::fmt::Write as _;

use model::civil::{civil_from_days, days_from_civil};

/// A point in time as Go's `time.Time` holds it: seconds since the epoch and nanoseconds
/// (`0..1e9`) within that second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct GoTime {
    pub(crate) sec: i64,
    pub(crate) nsec: i64,
}

impl GoTime {
    /// Go's `time.Unix(sec, nsec)`: normalizes `nsec` into `0..1e9`.
    pub(crate) fn unix(sec: i64, nsec: i64) -> GoTime {
        let (mut sec, mut nsec) = (sec, nsec);
        if !(0..1_000_000_000).contains(&nsec) {
            sec = sec.saturating_add(nsec.div_euclid(1_000_000_000));
            nsec = nsec.rem_euclid(1_000_000_000);
        }
        GoTime { sec, nsec }
    }

    /// Milliseconds since the epoch, as Prometheus's `timestamp.FromTime`.
    pub(crate) fn millis(self) -> i64 {
        self.sec
            .saturating_mul(1000)
            .saturating_add(self.nsec / 1_000_000)
    }

    /// Nanoseconds since the epoch (wide enough for any `GoTime`).
    pub(crate) fn nanos(self) -> i128 {
        i128::from(self.sec) * 1_000_000_000 + i128::from(self.nsec)
    }

    /// A system time, to the nanosecond (Go's `time.Time` of `time.Now()`); times before the
    /// epoch count back from it.
    pub(crate) fn from_system(t: std::time::SystemTime) -> GoTime {
        match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => GoTime::unix(
                i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                i64::from(d.subsec_nanos()),
            ),
            Err(e) => {
                let d = e.duration();
                GoTime::unix(
                    i64::try_from(d.as_secs()).map_or(i64::MIN, |s| -s),
                    -i64::from(d.subsec_nanos()),
                )
            }
        }
    }

    /// The time of a millisecond timestamp.
    pub(crate) fn from_millis(ms: i64) -> GoTime {
        GoTime::unix(ms.div_euclid(1000), ms.rem_euclid(1000) * 1_000_000)
    }
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses `2006-01-02T15:04:05.999999999Z07:00` (Go's `time.RFC3339Nano` layout, which
/// also accepts a time without fraction). Returns `None` for anything else.
pub(crate) fn parse_rfc3339(s: &str) -> Option<GoTime> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut i = 19;
    let mut nsec = 0i64;
    if b[i] == b'.' {
        let start = i + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        if end == start || end - start > 9 {
            return None;
        }
        let digits = num(start..end)?;
        nsec = digits * 10i64.pow(u32::try_from(9 - (end - start)).ok()?);
        i = end;
    }
    let offset = match b.get(i..)? {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let hh = i64::from(h1 - b'0') * 10 + i64::from(h2 - b'0');
            let mm = i64::from(m1 - b'0') * 10 + i64::from(m2 - b'0');
            if hh > 23 || mm > 59 {
                return None;
            }
            let off = hh * 3600 + mm * 60;
            if *sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    let days = days_from_civil(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?);
    let sec = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(GoTime { sec, nsec })
}

/// Formats a time in UTC as Go's `time.Time.MarshalJSON` does (RFC 3339 with as many
/// fraction digits as needed, trailing zeros removed): `2015-07-01T20:10:51.781Z`.
pub(crate) fn format_rfc3339(t: GoTime) -> String {
    let days = t.sec.div_euclid(86_400);
    let secs = t.sec.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    if t.nsec != 0 {
        let frac = format!("{:09}", t.nsec);
        let _ = write!(out, ".{}", frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Formats a time in UTC with millisecond precision, as Prometheus's logfmt `time=` field:
/// `2015-07-01T20:10:51.781Z`.
pub fn format_log_time(ms: i64) -> String {
    let t = GoTime::from_millis(ms);
    let days = t.sec.div_euclid(86_400);
    let secs = t.sec.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        t.nsec / 1_000_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_times_keep_their_nanoseconds_on_both_sides_of_the_epoch() {
        use std::time::{Duration, UNIX_EPOCH};
        let after = UNIX_EPOCH + Duration::new(1, 250);
        assert_eq!(GoTime::from_system(after), GoTime { sec: 1, nsec: 250 });
        let before = UNIX_EPOCH - Duration::new(1, 500_000_000);
        assert_eq!(
            GoTime::from_system(before),
            GoTime {
                sec: -2,
                nsec: 500_000_000
            }
        );
        assert_eq!(
            GoTime::from_system(UNIX_EPOCH - Duration::from_secs(3)).sec,
            -3
        );
    }

    #[test]
    fn parses_rfc3339_with_and_without_fraction_and_offsets() {
        let t = parse_rfc3339("2015-07-01T20:10:51.781Z").unwrap();
        assert_eq!(t.millis(), 1_435_781_451_781);
        let t = parse_rfc3339("2015-07-01T22:10:51+02:00").unwrap();
        assert_eq!(t.millis(), 1_435_781_451_000);
        let t = parse_rfc3339("1969-12-31T23:59:59.5Z").unwrap();
        assert_eq!(t.millis(), -500);
        for bad in [
            "2015-07-01",
            "2015-02-30T00:00:00Z",
            "2015-07-01T20:10:51",
            "2015-07-01T20:10:51.Z",
            "2015-07-01 20:10:51Z",
            "2015-07-01T20:10:51.1234567890Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_like_go_marshal_json() {
        assert_eq!(
            format_rfc3339(GoTime::from_millis(1_435_781_451_781)),
            "2015-07-01T20:10:51.781Z"
        );
        assert_eq!(
            format_rfc3339(GoTime::from_millis(1_435_781_451_000)),
            "2015-07-01T20:10:51Z"
        );
        assert_eq!(
            format_rfc3339(GoTime::from_millis(0)),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            format_log_time(1_435_781_451_000),
            "2015-07-01T20:10:51.000Z"
        );
    }
}
