//! Conversions between [`Timestamp`]s (milliseconds since the epoch) and `SystemTime`, as
//! Go's `model/timestamp`.
//!
//! ```
//! use std::time::{Duration, SystemTime, UNIX_EPOCH};
//! use model::timestamp;
//!
//! let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
//! assert_eq!(timestamp::from_system_time(t), 1_700_000_000_123);
//! assert_eq!(timestamp::to_system_time(1_700_000_000_123), t);
//! assert!(timestamp::now() > 1_700_000_000_000);
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Timestamp;

/// `t` in milliseconds since the epoch, rounded down as Go's `timestamp.FromTime` does
/// (also before 1970), saturating at the ends of `i64`.
pub fn from_system_time(t: SystemTime) -> Timestamp {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(e) => {
            let before = e.duration();
            let ms = i64::try_from(before.as_millis()).unwrap_or(i64::MAX);
            if before.subsec_nanos() % 1_000_000 == 0 {
                -ms
            } else {
                -ms - 1
            }
        }
    }
}

/// The current time in milliseconds since the epoch.
pub fn now() -> Timestamp {
    from_system_time(SystemTime::now())
}

/// The `SystemTime` of `t` milliseconds since the epoch (Go's `timestamp.Time`).
pub fn to_system_time(t: Timestamp) -> SystemTime {
    let d = Duration::from_millis(t.unsigned_abs());
    if t >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_the_epoch_rounds_down_as_go() {
        let t = UNIX_EPOCH - Duration::from_micros(500);
        assert_eq!(from_system_time(t), -1);
        let t = UNIX_EPOCH - Duration::from_millis(1_500);
        assert_eq!(from_system_time(t), -1_500);
        assert_eq!(from_system_time(to_system_time(-86_400_001)), -86_400_001);
    }

    #[test]
    fn after_the_epoch_truncates_sub_milliseconds() {
        let t = UNIX_EPOCH + Duration::from_micros(1_999);
        assert_eq!(from_system_time(t), 1);
        assert_eq!(to_system_time(0), UNIX_EPOCH);
    }
}
