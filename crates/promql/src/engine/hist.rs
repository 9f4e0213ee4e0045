//! Native-histogram arithmetic as the engine's operators use it (Go's `FloatHistogram`
//! `Add`/`Sub`/`Mul`/`Div`/`Equals` followed by `Compact(0)`), with the outcome flags the
//! engine turns into annotations.

use std::collections::BTreeMap;

use model::{CounterResetHint, FloatHistogram, Span};

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

/// `a + b`, compacted.
pub(crate) fn add(a: &FloatHistogram, b: &FloatHistogram) -> Result<Combined, CombineError> {
    combine(a, b, 1.0)
}

/// `a - b`, compacted.
pub(crate) fn sub(a: &FloatHistogram, b: &FloatHistogram) -> Result<Combined, CombineError> {
    combine(a, b, -1.0)
}

/// The histogram scaled by `factor` (Go's `Mul`).
pub(crate) fn mul(h: &FloatHistogram, factor: f64) -> FloatHistogram {
    let mut h = h.clone();
    h.zero_count *= factor;
    h.count *= factor;
    h.sum *= factor;
    for b in h
        .positive_buckets
        .iter_mut()
        .chain(h.negative_buckets.iter_mut())
    {
        *b *= factor;
    }
    h
}

/// The histogram divided by `divisor` (Go's `Div`: dividing by zero drops all buckets).
pub(crate) fn div(h: &FloatHistogram, divisor: f64) -> FloatHistogram {
    let mut h = h.clone();
    h.zero_count /= divisor;
    h.count /= divisor;
    h.sum /= divisor;
    if divisor == 0.0 {
        h.positive_buckets.clear();
        h.negative_buckets.clear();
        h.positive_spans.clear();
        h.negative_spans.clear();
        return h;
    }
    for b in h
        .positive_buckets
        .iter_mut()
        .chain(h.negative_buckets.iter_mut())
    {
        *b /= divisor;
    }
    h
}

/// Go's `Equals`: same layout and bit-identical values (NaN sums compare equal).
pub(crate) fn equals(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    let same = |x: f64, y: f64| x.to_bits() == y.to_bits();
    let same_all =
        |x: &[f64], y: &[f64]| x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(*p, *q));
    a.schema == b.schema
        && same(a.count, b.count)
        && (same(a.sum, b.sum) || (a.sum.is_nan() && b.sum.is_nan()))
        && (!a.uses_custom_buckets() || same_all(&a.custom_values, &b.custom_values))
        && a.zero_threshold == b.zero_threshold
        && same(a.zero_count, b.zero_count)
        && spans_match(&a.negative_spans, &b.negative_spans)
        && same_all(&a.negative_buckets, &b.negative_buckets)
        && spans_match(&a.positive_spans, &b.positive_spans)
        && same_all(&a.positive_buckets, &b.positive_buckets)
}

/// Whether two span lists describe the same buckets (empty spans ignored).
fn spans_match(a: &[Span], b: &[Span]) -> bool {
    let indexes = |s: &[Span]| {
        let mut out = Vec::new();
        let mut idx = 0i32;
        for sp in s {
            idx += sp.offset;
            for _ in 0..sp.length {
                out.push(idx);
                idx += 1;
            }
        }
        out
    };
    indexes(a) == indexes(b)
}

/// The buckets of a span list by absolute index.
fn by_index(spans: &[Span], buckets: &[f64], out: &mut BTreeMap<i32, f64>, sign: f64) {
    let mut idx = 0i32;
    let mut k = 0usize;
    for sp in spans {
        idx += sp.offset;
        for _ in 0..sp.length {
            if let Some(v) = buckets.get(k) {
                *out.entry(idx).or_insert(0.0) += sign * v;
            }
            k += 1;
            idx += 1;
        }
    }
}

/// Spans and buckets from buckets by absolute index (adjacent indexes share a span).
fn from_index(m: &BTreeMap<i32, f64>) -> (Vec<Span>, Vec<f64>) {
    let mut spans: Vec<Span> = Vec::new();
    let mut buckets = Vec::with_capacity(m.len());
    let mut next: Option<i32> = None;
    for (&idx, &v) in m {
        match (next, spans.last_mut()) {
            (Some(n), Some(last)) if n == idx => last.length += 1,
            _ => spans.push(Span {
                offset: idx - next.unwrap_or(0),
                length: 1,
            }),
        }
        buckets.push(v);
        next = Some(idx + 1);
    }
    (spans, buckets)
}

fn combine(a: &FloatHistogram, b: &FloatHistogram, sign: f64) -> Result<Combined, CombineError> {
    if a.uses_custom_buckets() != b.uses_custom_buckets() {
        return Err(CombineError::IncompatibleSchema);
    }
    if a.uses_custom_buckets() && a.custom_values != b.custom_values {
        return Err(CombineError::IncompatibleBounds);
    }
    let (mut a, mut b) = (a.clone(), b.clone());
    // The lower resolution wins.
    if a.schema > b.schema && !a.uses_custom_buckets() {
        a.reduce_resolution(b.schema)
            .map_err(|_| CombineError::IncompatibleSchema)?;
    } else if b.schema > a.schema && !b.uses_custom_buckets() {
        b.reduce_resolution(a.schema)
            .map_err(|_| CombineError::IncompatibleSchema)?;
    }
    // The wider zero bucket wins; buckets of the other side inside it join the zero bucket.
    let threshold = a.zero_threshold.max(b.zero_threshold);
    let mut zero = a.zero_count + sign * b.zero_count;
    let mut pos = BTreeMap::new();
    let mut neg = BTreeMap::new();
    by_index(&a.positive_spans, &a.positive_buckets, &mut pos, 1.0);
    by_index(&b.positive_spans, &b.positive_buckets, &mut pos, sign);
    by_index(&a.negative_spans, &a.negative_buckets, &mut neg, 1.0);
    by_index(&b.negative_spans, &b.negative_buckets, &mut neg, sign);
    if !a.uses_custom_buckets() && threshold > a.zero_threshold.min(b.zero_threshold) {
        for m in [&mut pos, &mut neg] {
            let inside: Vec<i32> = m
                .keys()
                .copied()
                .filter(|&i| model::histogram::exponential_bound(i, a.schema) <= threshold)
                .collect();
            for i in inside {
                zero += m.remove(&i).unwrap_or(0.0);
            }
        }
    }
    let (ps, pb) = from_index(&pos);
    let (ns, nb) = from_index(&neg);
    let (hint, collision) = combined_hint(a.counter_reset_hint, b.counter_reset_hint);
    let mut h = FloatHistogram {
        counter_reset_hint: hint,
        schema: a.schema,
        zero_threshold: threshold,
        zero_count: zero,
        count: a.count + sign * b.count,
        sum: a.sum + sign * b.sum,
        positive_spans: ps,
        negative_spans: ns,
        positive_buckets: pb,
        negative_buckets: nb,
        custom_values: a.custom_values.clone(),
    };
    h.compact(0);
    Ok(Combined {
        h,
        counter_reset_collision: collision,
        nhcb_reconciled: false,
    })
}

/// The counter reset hint of a sum (Go's `FloatHistogram.Add`): gauges stay gauges,
/// otherwise disagreeing hints make it unknown; a reset meeting a not-reset collides.
fn combined_hint(a: CounterResetHint, b: CounterResetHint) -> (CounterResetHint, bool) {
    use CounterResetHint::{CounterReset, Gauge, NotCounterReset, Unknown};
    match (a, b) {
        _ if a == b => (a, false),
        (Gauge, _) | (_, Gauge) => (Gauge, false),
        (CounterReset, NotCounterReset) | (NotCounterReset, CounterReset) => (Unknown, true),
        _ => (Unknown, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(spans_match(
            &r.h.positive_spans,
            &[
                Span {
                    offset: 0,
                    length: 2
                },
                Span {
                    offset: 1,
                    length: 1
                }
            ]
        ));
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
