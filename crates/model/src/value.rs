//! Special sample values: the staleness marker.

/// The bit pattern of the NaN that marks a series as stale (Prometheus's `value.StaleNaN`).
///
/// It differs from the NaN that arithmetic produces (`0x7ff8000000000001`), so a stale marker
/// survives storage and can be told apart from a real NaN sample. Compare bits, never values:
/// NaN never equals itself.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The bit pattern of the NaN that Prometheus uses as a normal NaN value (`value.NormalNaN`).
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// Returns the staleness marker as an `f64`.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Reports whether `v` is the staleness marker (compares bit patterns).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_nan_is_a_nan_distinct_from_ordinary_nans() {
        assert!(stale_nan().is_nan());
        assert!(is_stale_nan(stale_nan()));
        assert!(!is_stale_nan(f64::NAN));
        assert!(!is_stale_nan(f64::from_bits(NORMAL_NAN_BITS)));
        assert!(!is_stale_nan(1.0));
    }
}
