//! Native-histogram arithmetic as the engine's operators use it (Go's `FloatHistogram`
//! `Add`/`Sub`/`Mul`/`Div`/`Equals` followed by `Compact(0)`), with the outcome flags the
//! engine turns into annotations.

use model::FloatHistogram;
use model::histogram::Bucket;

/// Why two histograms could not be combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CombineError {
    /// An exponential and a custom-bucket histogram (Go's `ErrHistogramsIncompatibleSchema`).
    IncompatibleSchema,
    /// Custom-bucket histograms whose bounds cannot be reconciled.
    IncompatibleBounds,
}

/// The result of an addition or subtraction.
pub(crate) struct Combined {
    pub(crate) h: FloatHistogram,
    /// One side had a counter reset hint, the other a not-counter-reset hint.
    pub(crate) counter_reset_collision: bool,
    /// Custom bucket bounds differed and were reconciled.
    pub(crate) nhcb_reconciled: bool,
}

/// `a + b`, compacted (Go's `a.Copy().Add(b)` then `Compact(0)`).
pub(crate) fn add(a: &FloatHistogram, b: &FloatHistogram) -> Result<Combined, CombineError> {
    combine(a, b, false)
}

/// `a - b`, compacted.
pub(crate) fn sub(a: &FloatHistogram, b: &FloatHistogram) -> Result<Combined, CombineError> {
    combine(a, b, true)
}

fn combine(
    a: &FloatHistogram,
    b: &FloatHistogram,
    subtract: bool,
) -> Result<Combined, CombineError> {
    let mut h = a.clone();
    let res = if subtract { h.sub(b) } else { h.add(b) };
    let outcome = res.map_err(|e| match e.kind() {
        Some(model::histogram::HistogramErrorKind::IncompatibleSchema) => {
            CombineError::IncompatibleSchema
        }
        _ => CombineError::IncompatibleBounds,
    })?;
    h.compact(0);
    Ok(Combined {
        h,
        counter_reset_collision: outcome.counter_reset_collision,
        nhcb_reconciled: outcome.nhcb_bounds_reconciled,
    })
}

/// `acc += h` with Kahan–Neumaier compensation (Go's `KahanAdd`): returns the new
/// compensation histogram (to pass to the next call and add at the end) and the outcome.
pub(crate) fn kahan_add(
    acc: &mut FloatHistogram,
    h: &FloatHistogram,
    c: Option<FloatHistogram>,
) -> Result<(FloatHistogram, Combined), CombineError> {
    let (c, outcome) = acc.kahan_add(h, c).map_err(|e| match e.kind() {
        Some(model::histogram::HistogramErrorKind::IncompatibleSchema) => {
            CombineError::IncompatibleSchema
        }
        _ => CombineError::IncompatibleBounds,
    })?;
    Ok((
        c,
        Combined {
            h: FloatHistogram::default(),
            counter_reset_collision: outcome.counter_reset_collision,
            nhcb_reconciled: outcome.nhcb_bounds_reconciled,
        },
    ))
}

/// The histogram scaled by `factor` (Go's `Mul`).
pub(crate) fn mul(h: &FloatHistogram, factor: f64) -> FloatHistogram {
    let mut h = h.clone();
    h.mul(factor);
    h
}

/// The histogram divided by `divisor` (Go's `Div`).
pub(crate) fn div(h: &FloatHistogram, divisor: f64) -> FloatHistogram {
    let mut h = h.clone();
    h.div(divisor);
    h
}

/// Go's `Equals`: same layout and bit-identical values (NaN sums compare equal).
pub(crate) fn equals(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    a.equals(b)
}

/// The midpoint of `[lo, hi]` as Prometheus estimates observations in it: arithmetic for
/// linear (custom or zero) buckets and infinite bounds' finite side, geometric otherwise.
fn mid(lo: f64, hi: f64, linear: bool) -> f64 {
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    if hi == f64::INFINITY {
        return lo;
    }
    if linear || lo.signum() != hi.signum() || lo == 0.0 || hi == 0.0 {
        (lo + hi) / 2.0
    } else if hi > 0.0 {
        (lo * hi).sqrt()
    } else {
        -(lo * hi).sqrt()
    }
}

/// The part of a bucket's count in `[lo, hi]` (a sub-range of the bucket), interpolated
/// linearly for linear buckets and logarithmically for exponential ones; buckets with an
/// infinite bound keep all or nothing.
fn part(b: &Bucket, lo: f64, hi: f64, linear: bool) -> f64 {
    if lo <= b.lower && hi >= b.upper {
        return b.count;
    }
    if hi <= lo || b.lower.is_infinite() || b.upper.is_infinite() {
        return 0.0;
    }
    let frac = if linear || b.lower.signum() != b.upper.signum() || b.lower == 0.0 {
        (hi - lo) / (b.upper - b.lower)
    } else {
        let l = |x: f64| x.abs().log2();
        ((l(hi) - l(lo)) / (l(b.upper) - l(b.lower))).abs()
    };
    b.count * frac
}

/// The histogram without its observations above (`upper_trim`, `</`) or below (`>/`)
/// `rhs`, interpolating within the bucket that holds `rhs`; the sum is then estimated from
/// the kept buckets' midpoints (unchanged when nothing was trimmed).
pub(crate) fn trim(h: &FloatHistogram, rhs: f64, upper_trim: bool) -> FloatHistogram {
    if rhs.is_infinite() {
        if (rhs > 0.0) == upper_trim {
            return h.clone();
        }
        return FloatHistogram {
            counter_reset_hint: h.counter_reset_hint,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            custom_values: h.custom_values.clone(),
            ..FloatHistogram::default()
        };
    }
    let mut t = h.clone();
    let custom = t.uses_custom_buckets();
    let (lo_keep, hi_keep) = if upper_trim {
        (f64::NEG_INFINITY, rhs)
    } else {
        (rhs, f64::INFINITY)
    };
    let (mut count, mut sum, mut trimmed) = (0.0, 0.0, false);
    let mut visit = |b: &Bucket, linear: bool| -> f64 {
        if b.count == 0.0 {
            return 0.0;
        }
        let mut b = *b;
        let lo = b.lower.max(lo_keep);
        let hi = b.upper.min(hi_keep);
        if b.upper == f64::INFINITY && b.lower.is_finite() {
            // Observations above a finite bound: all kept by `>/` (at the larger of the
            // bound and the trim point), all dropped by a `</` inside the bucket.
            let keep = if upper_trim && hi < f64::INFINITY {
                0.0
            } else {
                b.count
            };
            if keep != b.count {
                trimmed = true;
            }
            if keep > 0.0 {
                count += keep;
                sum += keep * lo;
            }
            return keep;
        }
        if b.lower == f64::NEG_INFINITY && (!linear || b.upper <= 0.0) {
            // Observations below a non-positive bound: all kept by `</` (at the smaller
            // of the bound and the trim point), all dropped by a `>/` inside the bucket.
            let keep = if upper_trim { b.count } else { 0.0 };
            if keep != b.count {
                trimmed = true;
            }
            if keep > 0.0 {
                count += keep;
                sum += keep * hi;
            }
            return keep;
        }
        if b.lower == f64::NEG_INFINITY {
            // A custom first bucket with a positive upper bound is taken to start at 0;
            // `>/` below 0 drops it (its spread below 0 is unknown).
            if !upper_trim && rhs < 0.0 {
                trimmed = true;
                return 0.0;
            }
            b.lower = 0.0;
        }
        let b = &b;
        let lo = b.lower.max(lo_keep);
        let hi = b.upper.min(hi_keep);
        let keep = if lo >= hi {
            0.0
        } else {
            part(b, lo, hi, linear)
        };
        if keep != b.count {
            trimmed = true;
        }
        if keep > 0.0 {
            count += keep;
            sum += keep * mid(lo, hi, linear);
        }
        keep
    };
    let pos: Vec<Bucket> = h.positive_bucket_iter().collect();
    for (i, b) in pos.iter().enumerate() {
        let k = visit(b, custom);
        if let Some(c) = t.positive_buckets.get_mut(i) {
            *c = if b.count == 0.0 { 0.0 } else { k };
        }
    }
    let neg: Vec<Bucket> = h.negative_bucket_iter().collect();
    for (i, b) in neg.iter().enumerate() {
        let k = visit(b, false);
        if let Some(c) = t.negative_buckets.get_mut(i) {
            *c = if b.count == 0.0 { 0.0 } else { k };
        }
    }
    if h.zero_count > 0.0 {
        // The zero bucket only spans the sides that have observations.
        let mut z = h.zero_bucket();
        if !h.negative_buckets.iter().any(|c| *c != 0.0) {
            z.lower = 0.0;
        }
        if !h.positive_buckets.iter().any(|c| *c != 0.0) {
            z.upper = 0.0;
        }
        if z.lower == z.upper {
            z = h.zero_bucket();
        }
        t.zero_count = visit(&z, true);
    }
    if !trimmed {
        return h.clone();
    }
    t.count = count;
    t.sum = if count == 0.0 { 0.0 } else { sum };
    t.compact(0);
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{CounterResetHint, Span};

    fn h(schema: i32, offset: i32, buckets: &[f64]) -> FloatHistogram {
        FloatHistogram {
            schema,
            count: buckets.iter().sum(),
            sum: 1.0,
            positive_spans: vec![Span {
                offset,
                length: buckets.len() as u32,
            }],
            positive_buckets: buckets.to_vec(),
            ..FloatHistogram::default()
        }
    }

    #[test]
    fn add_merges_buckets_by_index_and_compacts() {
        let r = add(&h(0, 0, &[1.0, 2.0]), &h(0, 3, &[4.0])).unwrap();
        assert_eq!(r.h.count, 7.0);
        assert_eq!(r.h.sum, 2.0);
        assert_eq!(r.h.positive_buckets, vec![1.0, 2.0, 4.0]);
        let want = [
            Span {
                offset: 0,
                length: 2,
            },
            Span {
                offset: 1,
                length: 1,
            },
        ];
        assert_eq!(r.h.positive_spans, want);
        let d = sub(&h(0, 0, &[1.0, 2.0]), &h(0, 0, &[1.0, 2.0])).unwrap();
        assert!(d.h.positive_buckets.is_empty());
        assert_eq!(d.h.count, 0.0);
    }

    #[test]
    fn mixed_schemas_fail_and_hints_collide() {
        let mut c = h(-53, 0, &[1.0]);
        c.custom_values = vec![1.0];
        assert_eq!(
            add(&h(0, 0, &[1.0]), &c).err(),
            Some(CombineError::IncompatibleSchema)
        );
        let mut a = h(0, 0, &[1.0]);
        a.counter_reset_hint = CounterResetHint::CounterReset;
        let mut b = a.clone();
        b.counter_reset_hint = CounterResetHint::NotCounterReset;
        assert!(add(&a, &b).unwrap().counter_reset_collision);
    }

    #[test]
    fn trim_keeps_one_side_and_estimates_the_sum_from_midpoints() {
        // Cases of Prometheus's native_histograms.test.
        let h = FloatHistogram::parse_notation(
            "{{schema:0 sum:123.75 count:34 z_bucket:1 z_bucket_w:0.001 buckets:[2 4 8 16] n_buckets:[1 2]}}",
        )
        .unwrap();
        let above = trim(&h, 0.0, false);
        assert_eq!(above.count, 30.5);
        assert!((above.sum - 120.20840280171308).abs() < 1e-9);
        assert_eq!(above.zero_count, 0.5);
        let below = trim(&h, std::f64::consts::SQRT_2, true);
        assert!((below.count - 8.0).abs() < 1e-9);
        assert_eq!(below.positive_buckets.len(), 2);
        assert!((below.sum - 0.2570938865989847).abs() < 1e-6);
        // Trimming at an infinity keeps everything or nothing.
        assert!(equals(&trim(&h, f64::NEG_INFINITY, false), &h));
        assert_eq!(trim(&h, f64::NEG_INFINITY, true).count, 0.0);
        // The +Inf bucket of custom buckets is kept whole by `>/`, at the trim point.
        let c = FloatHistogram::parse_notation(
            "{{schema:-53 sum:33 count:101 custom_values:[5] buckets:[1 100]}}",
        )
        .unwrap();
        let t = trim(&c, 10.0, false);
        assert_eq!((t.count, t.sum), (100.0, 1000.0));
    }

    #[test]
    fn scaling_and_equality() {
        let a = h(0, 0, &[1.0, 2.0]);
        assert!(equals(&div(&mul(&a, 4.0), 4.0), &a));
        assert!(!equals(&mul(&a, 2.0), &a));
        assert!(div(&a, 0.0).positive_buckets.is_empty());
    }
}
