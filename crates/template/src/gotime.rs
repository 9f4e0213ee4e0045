//! Go's `time` printing for UTC times and durations: `Time.String`, `Time.Format` layouts and
//! `Duration.String`.

use std::fmt::Write;

const NANOS_PER_SEC: i64 = 1_000_000_000;
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// The English name of month 1-12.
pub(crate) fn month_name(m: u32) -> &'static str {
    MONTHS[(m.clamp(1, 12) - 1) as usize]
}

/// The calendar fields of a UTC instant.
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: i64,
    pub(crate) minute: i64,
    pub(crate) second: i64,
    pub(crate) nanos: i64,
    pub(crate) weekday: usize,
    pub(crate) yday: i64,
}

pub(crate) fn civil(ns: i64) -> Civil {
    let secs = ns.div_euclid(NANOS_PER_SEC);
    let nanos = ns.rem_euclid(NANOS_PER_SEC);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (year, month, day) = model::civil::civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: sod / 3600,
        minute: sod % 3600 / 60,
        second: sod % 60,
        nanos,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7) as usize,
        yday: days - model::civil::days_from_civil(year, 1, 1) + 1,
    }
}

/// Go's `Time.String()` for a UTC time.
pub(crate) fn time_string(ns: i64) -> String {
    format(ns, "2006-01-02 15:04:05.999999999 -0700 MST")
}

/// Go's `Time.Format(layout)` for a UTC time.
pub(crate) fn format(ns: i64, layout: &str) -> String {
    let t = civil(ns);
    let mut out = String::new();
    let mut rest = layout;
    while !rest.is_empty() {
        let (prefix, std, suffix) = next_std_chunk(rest);
        out.push_str(prefix);
        let Some(std) = std else { break };
        rest = suffix;
        let hour12 = match t.hour % 12 {
            0 => 12,
            h => h,
        };
        match std {
            Std::LongMonth => out.push_str(MONTHS[t.month as usize - 1]),
            Std::Month => out.push_str(&MONTHS[t.month as usize - 1][..3]),
            Std::NumMonth => {
                let _ = write!(out, "{}", t.month);
            }
            Std::ZeroMonth => {
                let _ = write!(out, "{:02}", t.month);
            }
            Std::LongWeekDay => out.push_str(DAYS[t.weekday]),
            Std::WeekDay => out.push_str(&DAYS[t.weekday][..3]),
            Std::Day => {
                let _ = write!(out, "{}", t.day);
            }
            Std::UnderDay => {
                let _ = write!(out, "{:>2}", t.day);
            }
            Std::ZeroDay => {
                let _ = write!(out, "{:02}", t.day);
            }
            Std::UnderYearDay => {
                let _ = write!(out, "{:>3}", t.yday);
            }
            Std::ZeroYearDay => {
                let _ = write!(out, "{:03}", t.yday);
            }
            Std::Hour => {
                let _ = write!(out, "{:02}", t.hour);
            }
            Std::Hour12 => {
                let _ = write!(out, "{hour12}");
            }
            Std::ZeroHour12 => {
                let _ = write!(out, "{hour12:02}");
            }
            Std::Minute => {
                let _ = write!(out, "{}", t.minute);
            }
            Std::ZeroMinute => {
                let _ = write!(out, "{:02}", t.minute);
            }
            Std::Second => {
                let _ = write!(out, "{}", t.second);
            }
            Std::ZeroSecond => {
                let _ = write!(out, "{:02}", t.second);
            }
            Std::LongYear => {
                if t.year < 0 {
                    let _ = write!(out, "-{:04}", -t.year);
                } else {
                    let _ = write!(out, "{:04}", t.year);
                }
            }
            Std::Year => {
                let _ = write!(out, "{:02}", t.year.rem_euclid(100));
            }
            Std::PM => out.push_str(if t.hour >= 12 { "PM" } else { "AM" }),
            Std::Pm => out.push_str(if t.hour >= 12 { "pm" } else { "am" }),
            Std::Tz => out.push_str("UTC"),
            Std::Offset(z, form) => {
                if z {
                    out.push('Z');
                } else {
                    out.push_str(form);
                }
            }
            Std::Frac { sep, digits, trim } => {
                let frac = format!("{:09}", t.nanos);
                let mut f = &frac[..digits.min(9)];
                if trim {
                    f = f.trim_end_matches('0');
                    if f.is_empty() {
                        continue;
                    }
                }
                out.push(sep);
                out.push_str(f);
            }
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    Tz,
    /// A zone offset: `true` for the `Z...` forms (UTC prints `Z`), else the text for +00:00.
    Offset(bool, &'static str),
    Frac {
        sep: char,
        digits: usize,
        trim: bool,
    },
}

fn starts_with_lower(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
}

/// Go's `nextStdChunk`: the text before the first layout element, the element, and the rest.
fn next_std_chunk(layout: &str) -> (&str, Option<Std>, &str) {
    let b = layout.as_bytes();
    let at = |i: usize, s: &str| layout[i..].starts_with(s);
    for i in 0..b.len() {
        if !layout.is_char_boundary(i) {
            continue;
        }
        let found = |n: usize, std: Std| Some((&layout[..i], Some(std), &layout[i + n..]));
        let r = match b[i] {
            b'J' if at(i, "January") => found(7, Std::LongMonth),
            b'J' if at(i, "Jan") && !starts_with_lower(&layout[i + 3..]) => found(3, Std::Month),
            b'M' if at(i, "Monday") => found(6, Std::LongWeekDay),
            b'M' if at(i, "Mon") && !starts_with_lower(&layout[i + 3..]) => found(3, Std::WeekDay),
            b'M' if at(i, "MST") => found(3, Std::Tz),
            b'0' if i + 1 < b.len() && (b'1'..=b'6').contains(&b[i + 1]) => {
                let std = [
                    Std::ZeroMonth,
                    Std::ZeroDay,
                    Std::ZeroHour12,
                    Std::ZeroMinute,
                    Std::ZeroSecond,
                    Std::Year,
                ][usize::from(b[i + 1] - b'1')];
                found(2, std)
            }
            b'0' if at(i, "002") => found(3, Std::ZeroYearDay),
            b'1' if at(i, "15") => found(2, Std::Hour),
            b'1' => found(1, Std::NumMonth),
            b'2' if at(i, "2006") => found(4, Std::LongYear),
            b'2' => found(1, Std::Day),
            b'_' if at(i, "_2006") => {
                return (&layout[..i + 1], Some(Std::LongYear), &layout[i + 5..]);
            }
            b'_' if at(i, "_2") => found(2, Std::UnderDay),
            b'_' if at(i, "__2") => found(3, Std::UnderYearDay),
            b'3' => found(1, Std::Hour12),
            b'4' => found(1, Std::Minute),
            b'5' => found(1, Std::Second),
            b'P' if at(i, "PM") => found(2, Std::PM),
            b'p' if at(i, "pm") => found(2, Std::Pm),
            b'-' | b'Z' => {
                let z = b[i] == b'Z';
                let forms: [(&str, &'static str); 5] = [
                    ("070000", "+000000"),
                    ("07:00:00", "+00:00:00"),
                    ("0700", "+0000"),
                    ("07:00", "+00:00"),
                    ("07", "+00"),
                ];
                forms
                    .iter()
                    .find(|(f, _)| at(i + 1, f))
                    .and_then(|(f, out)| found(1 + f.len(), Std::Offset(z, out)))
            }
            b'.' | b',' if i + 1 < b.len() && (b[i + 1] == b'0' || b[i + 1] == b'9') => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == ch {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    None
                } else {
                    Some((
                        &layout[..i],
                        Some(Std::Frac {
                            sep: char::from(b[i]),
                            digits: j - (i + 1),
                            trim: ch == b'9',
                        }),
                        &layout[j..],
                    ))
                }
            }
            _ => None,
        };
        if let Some(r) = r {
            return r;
        }
    }
    (layout, None, "")
}

/// Go's `Duration.String()`: `1h2m3.5s`, `1.5ms`, `100µs`, `0s`.
pub(crate) fn duration_string(d: i64) -> String {
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0 => return "0s".into(),
            u if u < 1_000 => (0, "ns"),
            u if u < 1_000_000 => (3, "µs"),
            _ => (6, "ms"),
        };
        let (frac, int) = frac(u, prec);
        let _ = write!(out, "{int}{frac}{unit}");
    } else {
        let (frac, secs) = frac(u, 9);
        u = secs;
        let s = u % 60;
        u /= 60;
        if u > 0 {
            let m = u % 60;
            u /= 60;
            if u > 0 {
                let _ = write!(out, "{u}h");
            }
            let _ = write!(out, "{m}m");
        }
        let _ = write!(out, "{s}{frac}s");
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// Go's `fmtFrac`: the fraction of `v / 10^prec` without trailing zeros (and without the dot
/// when zero), and the integer part.
fn frac(v: u64, prec: u32) -> (String, u64) {
    let p = 10u64.pow(prec);
    let f = v % p;
    if f == 0 {
        return (String::new(), v / p);
    }
    let digits = format!("{f:0width$}", width = prec as usize);
    (format!(".{}", digits.trim_end_matches('0')), v / p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_like_go() {
        assert_eq!(time_string(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(time_string(-1_000_000_000), "1969-12-31 23:59:59 +0000 UTC");
        assert_eq!(
            time_string(1_435_065_584_128_000_000),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        let t = 1_435_065_584_128_000_000;
        assert_eq!(format(t, "2006"), "2015");
        assert_eq!(
            format(t, "Mon Jan _2 15:04:05.000 MST 2006"),
            "Tue Jun 23 13:19:44.128 UTC 2015"
        );
        assert_eq!(
            format(t, "2006-01-02T15:04:05Z07:00"),
            "2015-06-23T13:19:44Z"
        );
        assert_eq!(
            format(t, "3:04PM Monday January 002"),
            "1:19PM Tuesday June 174"
        );
    }

    #[test]
    fn durations_print_like_go() {
        let s = 1_000_000_000;
        assert_eq!(duration_string(0), "0s");
        assert_eq!(duration_string(100_000_000), "100ms");
        assert_eq!(duration_string(100_000), "100µs");
        assert_eq!(duration_string(123_450_000), "123.45ms");
        assert_eq!(duration_string(60 * s + s / 2), "1m0.5s");
        assert_eq!(duration_string(-(51 * 3600 + 245) * s), "-51h4m5s");
        assert_eq!(duration_string(86_400 * s), "24h0m0s");
        assert_eq!(duration_string(1), "1ns");
    }
}
