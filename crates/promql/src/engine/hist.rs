//! Native-histogram arithmetic as the engine's operators use it (Go's `FloatHistogram`
//! `Add`/`Sub`/`Mul`/`Div`/`Equals` followed by `Compact(0)`), with the outcome flags the
//! engine turns into annotations.

use model::FloatHistogram;

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
    fn scaling_and_equality() {
        let a = h(0, 0, &[1.0, 2.0]);
        assert!(equals(&div(&mul(&a, 4.0), 4.0), &a));
        assert!(!equals(&mul(&a, 2.0), &a));
        assert!(div(&a, 0.0).positive_buckets.is_empty());
    }
}
