//! Arithmetic on float histograms, as Go's `FloatHistogram` does it: `add`/`sub` with
//! schema and zero-threshold reconciliation (and NHCB bounds intersection), `mul`/`div`,
//! counter reset detection, exact equality, copies to a lower schema, and memory size.

use super::bounds::{custom_bounds_match, exponential_bound, is_exponential_schema};
use super::compact::reduce_buckets;
use super::iter::{BucketIter, span_indexes};
use super::{CUSTOM_BUCKETS_SCHEMA, CounterResetHint, FloatHistogram, Span};
use crate::error::{HistogramError, HistogramErrorKind};

/// What [`FloatHistogram::add`] and [`FloatHistogram::sub`] report besides the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddOutcome {
    /// One histogram said `CounterReset` and the other `NotCounterReset` (the result's hint
    /// is then `Unknown`); PromQL warns about it.
    pub counter_reset_collision: bool,
    /// Both had custom buckets with different bounds: the result uses the bounds both have
    /// (the intersection), PromQL informs about it.
    pub nhcb_bounds_reconciled: bool,
}

impl FloatHistogram {
    /// Adds `other` to this histogram (Go's `Add`): counts, sums and buckets are added,
    /// buckets missing here are inserted. Schemas are reconciled to the lower resolution of
    /// the two, and the zero threshold to one wide enough for both zero buckets (not inside
    /// a populated bucket of either). Custom-bucket histograms with different bounds are
    /// added on the intersection of their bounds. The result may hold empty buckets and
    /// adjacent spans: call [`FloatHistogram::compact`] to normalize it.
    ///
    /// Fails, leaving this histogram unchanged, when one histogram has custom buckets and
    /// the other exponential ones.
    pub fn add(&mut self, other: &FloatHistogram) -> Result<AddOutcome, HistogramError> {
        self.add_or_sub(other, false)
    }

    /// Subtracts `other` from this histogram, as [`FloatHistogram::add`] adds (Go's `Sub`;
    /// the counter reset hint is merged the same way, so PromQL's `-` sets it to gauge
    /// afterwards).
    pub fn sub(&mut self, other: &FloatHistogram) -> Result<AddOutcome, HistogramError> {
        self.add_or_sub(other, true)
    }

    fn add_or_sub(
        &mut self,
        other: &FloatHistogram,
        negate: bool,
    ) -> Result<AddOutcome, HistogramError> {
        if self.uses_custom_buckets() != other.uses_custom_buckets() {
            return Err(HistogramError::invalid(
                HistogramErrorKind::IncompatibleSchema,
                "",
            ));
        }
        let mut outcome = AddOutcome {
            counter_reset_collision: self.adjust_counter_reset(other),
            nhcb_bounds_reconciled: false,
        };
        if !self.uses_custom_buckets() {
            let other_zero_count = self.reconcile_zero_buckets(other);
            if negate {
                self.zero_count -= other_zero_count;
            } else {
                self.zero_count += other_zero_count;
            }
        }
        if negate {
            self.count -= other.count;
            self.sum -= other.sum;
        } else {
            self.count += other.count;
            self.sum += other.sum;
        }

        if self.uses_custom_buckets() {
            if custom_bounds_match(&self.custom_values, &other.custom_values) {
                add_buckets(
                    self.schema,
                    self.zero_threshold,
                    negate,
                    &mut self.positive_spans,
                    &mut self.positive_buckets,
                    &other.positive_spans,
                    &other.positive_buckets,
                );
            } else {
                outcome.nhcb_bounds_reconciled = true;
                let bounds = intersect_custom_bounds(&self.custom_values, &other.custom_values);
                let (spans, buckets) = add_custom_buckets_with_mismatches(
                    negate,
                    (
                        &self.positive_spans,
                        &self.positive_buckets,
                        &self.custom_values,
                    ),
                    (
                        &other.positive_spans,
                        &other.positive_buckets,
                        &other.custom_values,
                    ),
                    &bounds,
                );
                self.positive_spans = spans;
                self.positive_buckets = buckets;
                self.custom_values = bounds;
            }
            return Ok(outcome);
        }

        let reduced_other;
        let (o_pos_spans, o_pos_buckets, o_neg_spans, o_neg_buckets): (
            &[Span],
            &[f64],
            &[Span],
            &[f64],
        ) = if other.schema > self.schema {
            let (ps, pb) = reduce_buckets(
                &other.positive_spans,
                &other.positive_buckets,
                other.schema,
                self.schema,
            )?;
            let (ns, nb) = reduce_buckets(
                &other.negative_spans,
                &other.negative_buckets,
                other.schema,
                self.schema,
            )?;
            reduced_other = (ps, pb, ns, nb);
            (
                &reduced_other.0,
                &reduced_other.1,
                &reduced_other.2,
                &reduced_other.3,
            )
        } else {
            if other.schema < self.schema {
                let (ps, pb) = reduce_buckets(
                    &self.positive_spans,
                    &self.positive_buckets,
                    self.schema,
                    other.schema,
                )?;
                let (ns, nb) = reduce_buckets(
                    &self.negative_spans,
                    &self.negative_buckets,
                    self.schema,
                    other.schema,
                )?;
                self.positive_spans = ps;
                self.positive_buckets = pb;
                self.negative_spans = ns;
                self.negative_buckets = nb;
                self.schema = other.schema;
            }
            (
                &other.positive_spans,
                &other.positive_buckets,
                &other.negative_spans,
                &other.negative_buckets,
            )
        };
        add_buckets(
            self.schema,
            self.zero_threshold,
            negate,
            &mut self.positive_spans,
            &mut self.positive_buckets,
            o_pos_spans,
            o_pos_buckets,
        );
        add_buckets(
            self.schema,
            self.zero_threshold,
            negate,
            &mut self.negative_spans,
            &mut self.negative_buckets,
            o_neg_spans,
            o_neg_buckets,
        );
        Ok(outcome)
    }

    /// Go's `adjustCounterReset`: the hint of a sum; true on a `CounterReset` vs
    /// `NotCounterReset` collision.
    pub(crate) fn adjust_counter_reset(&mut self, other: &FloatHistogram) -> bool {
        use CounterResetHint::*;
        let (mine, theirs) = (self.counter_reset_hint, other.counter_reset_hint);
        if theirs == mine || mine == Gauge {
            return false;
        }
        if theirs == Gauge {
            self.counter_reset_hint = Gauge;
            return false;
        }
        if mine == Unknown {
            return false;
        }
        self.counter_reset_hint = Unknown;
        // A collision is CounterReset against NotCounterReset.
        theirs != Unknown
    }

    /// Go's `zeroCountForLargerThreshold`: the zero count this histogram would have with
    /// the larger threshold, and that threshold, moved up to the upper bound of a populated
    /// bucket it would cut through.
    pub(crate) fn zero_count_for_larger_threshold(&self, larger: f64) -> (f64, f64) {
        let mut larger = larger;
        if larger == self.zero_threshold {
            return (self.zero_count, larger);
        }
        'outer: loop {
            let mut count = self.zero_count;
            for b in self.positive_bucket_iter() {
                if b.lower >= larger {
                    break;
                }
                count += b.count;
                if b.upper > larger {
                    if b.count != 0.0 {
                        larger = b.upper;
                    }
                    break;
                }
            }
            for b in self.negative_bucket_iter() {
                if b.upper <= -larger {
                    break;
                }
                count += b.count;
                if b.lower < -larger {
                    if b.count != 0.0 {
                        larger = -b.lower;
                        continue 'outer;
                    }
                    break;
                }
            }
            return (count, larger);
        }
    }

    /// Go's `trimBucketsInZeroBucket`: empties the buckets inside the zero bucket (their
    /// counts are already in the zero count), then compacts.
    fn trim_buckets_in_zero_bucket(&mut self) {
        let threshold = self.zero_threshold;
        let n = self
            .positive_bucket_iter()
            .take_while(|b| b.lower < threshold)
            .count();
        for b in self.positive_buckets.iter_mut().take(n) {
            *b = 0.0;
        }
        let n = self
            .negative_bucket_iter()
            .take_while(|b| b.upper > -threshold)
            .count();
        for b in self.negative_buckets.iter_mut().take(n) {
            *b = 0.0;
        }
        self.compact(0);
    }

    /// Go's `reconcileZeroBuckets`: widens this histogram's zero bucket to one that holds
    /// both zero buckets; returns the zero count `other` would have with it.
    fn reconcile_zero_buckets(&mut self, other: &FloatHistogram) -> f64 {
        let mut other_zero_count = other.zero_count;
        let mut other_threshold = other.zero_threshold;
        while other_threshold != self.zero_threshold {
            if self.zero_threshold > other_threshold {
                (other_zero_count, other_threshold) =
                    other.zero_count_for_larger_threshold(self.zero_threshold);
            }
            if other_threshold > self.zero_threshold {
                (self.zero_count, self.zero_threshold) =
                    self.zero_count_for_larger_threshold(other_threshold);
                self.trim_buckets_in_zero_bucket();
            }
            if other_threshold.is_nan() || self.zero_threshold.is_nan() {
                break;
            }
        }
        other_zero_count
    }

    /// Multiplies every count, the zero count and the sum by `factor` (Go's `Mul`); a
    /// negative factor makes the histogram a gauge.
    pub fn mul(&mut self, factor: f64) -> &mut Self {
        self.zero_count *= factor;
        self.count *= factor;
        self.sum *= factor;
        self.positive_buckets.iter_mut().for_each(|b| *b *= factor);
        self.negative_buckets.iter_mut().for_each(|b| *b *= factor);
        if factor < 0.0 {
            self.counter_reset_hint = CounterResetHint::Gauge;
        }
        self
    }

    /// Divides as [`FloatHistogram::mul`] multiplies (Go's `Div`); dividing by zero removes
    /// all buckets (count, zero count and sum become ±Inf or NaN).
    pub fn div(&mut self, scalar: f64) -> &mut Self {
        self.zero_count /= scalar;
        self.count /= scalar;
        self.sum /= scalar;
        if scalar == 0.0 {
            self.positive_buckets.clear();
            self.negative_buckets.clear();
            self.positive_spans.clear();
            self.negative_spans.clear();
            return self;
        }
        self.positive_buckets.iter_mut().for_each(|b| *b /= scalar);
        self.negative_buckets.iter_mut().for_each(|b| *b /= scalar);
        if scalar < 0.0 {
            self.counter_reset_hint = CounterResetHint::Gauge;
        }
        self
    }

    /// Whether the histograms hold exactly the same data (Go's `Equals`): counts and sums
    /// compared bit for bit (so NaN sums are equal), the same buckets (spans may differ in
    /// how they describe the same layout, e.g. zero-length spans), equal custom bounds.
    /// The counter reset hint is not compared.
    pub fn equals(&self, other: &FloatHistogram) -> bool {
        if self.schema != other.schema
            || self.count.to_bits() != other.count.to_bits()
            || self.sum.to_bits() != other.sum.to_bits()
        {
            return false;
        }
        if self.uses_custom_buckets()
            && !custom_bounds_match(&self.custom_values, &other.custom_values)
        {
            return false;
        }
        if self.zero_threshold != other.zero_threshold
            || self.zero_count.to_bits() != other.zero_count.to_bits()
        {
            return false;
        }
        spans_match(&self.negative_spans, &other.negative_spans)
            && float_buckets_match(&self.negative_buckets, &other.negative_buckets)
            && spans_match(&self.positive_spans, &other.positive_spans)
            && float_buckets_match(&self.positive_buckets, &other.positive_buckets)
    }

    /// The memory Go accounts for this histogram (Go's `Size`): 168 bytes for the struct
    /// plus 8 per span, bucket and custom bound.
    pub fn size(&self) -> usize {
        168 + 8
            * (self.positive_spans.len()
                + self.negative_spans.len()
                + self.positive_buckets.len()
                + self.negative_buckets.len()
                + self.custom_values.len())
    }

    /// A copy with the lower (or equal) resolution `target_schema` (Go's `CopyToSchema`;
    /// like Go, a reduced copy has an unknown counter reset hint). Fails for custom buckets
    /// and for a higher target schema.
    pub fn copy_to_schema(&self, target_schema: i32) -> Result<FloatHistogram, HistogramError> {
        if target_schema == self.schema {
            return Ok(self.clone());
        }
        if self.uses_custom_buckets() {
            return Err(HistogramError::Unsupported(format!(
                "cannot reduce resolution to {target_schema} when there are custom buckets"
            )));
        }
        if target_schema == CUSTOM_BUCKETS_SCHEMA {
            return Err(HistogramError::Unsupported(
                "cannot reduce resolution to custom buckets schema".to_string(),
            ));
        }
        if target_schema > self.schema {
            return Err(HistogramError::Unsupported(format!(
                "cannot copy from schema {} to {target_schema}",
                self.schema
            )));
        }
        let (ps, pb) = reduce_buckets(
            &self.positive_spans,
            &self.positive_buckets,
            self.schema,
            target_schema,
        )?;
        let (ns, nb) = reduce_buckets(
            &self.negative_spans,
            &self.negative_buckets,
            self.schema,
            target_schema,
        )?;
        Ok(FloatHistogram {
            counter_reset_hint: CounterResetHint::Unknown,
            schema: target_schema,
            zero_threshold: self.zero_threshold,
            zero_count: self.zero_count,
            count: self.count,
            sum: self.sum,
            positive_spans: ps,
            negative_spans: ns,
            positive_buckets: pb,
            negative_buckets: nb,
            custom_values: Vec::new(),
        })
    }

    /// Whether there was a counter reset between `previous` and this histogram (Go's
    /// `DetectReset`): the hint decides if it is `CounterReset` or `NotCounterReset`;
    /// otherwise any count that went down (total, zero bucket, any bucket, with `previous`
    /// merged into this schema and zero threshold), a populated bucket that vanished, a
    /// higher schema, a lower zero threshold, or a switch to custom buckets is a reset.
    pub fn detect_reset(&self, previous: &FloatHistogram) -> bool {
        match self.counter_reset_hint {
            CounterResetHint::CounterReset => return true,
            CounterResetHint::NotCounterReset => return false,
            _ => {}
        }
        if self.count < previous.count {
            return true;
        }
        if self.uses_custom_buckets() {
            if !previous.uses_custom_buckets() {
                return true;
            }
            if !custom_bounds_match(&self.custom_values, &previous.custom_values) {
                return self.detect_reset_with_mismatched_custom_bounds(previous);
            }
        } else if previous.uses_custom_buckets() {
            // Go would panic merging custom buckets into an exponential schema: the layout
            // changed, which only happens with a reset.
            return true;
        }
        if self.schema > previous.schema {
            return true;
        }
        if self.zero_threshold < previous.zero_threshold {
            return true;
        }
        let (previous_zero_count, new_threshold) =
            previous.zero_count_for_larger_threshold(self.zero_threshold);
        if new_threshold != self.zero_threshold {
            return true;
        }
        if self.zero_count < previous_zero_count {
            return true;
        }
        for positive in [true, false] {
            let curr = self.bucket_iter_for(positive, self.zero_threshold, self.schema);
            let prev = previous.bucket_iter_for(positive, self.zero_threshold, self.schema);
            if detect_reset_in(curr, prev) {
                return true;
            }
        }
        false
    }

    /// Go's `detectResetWithMismatchedCustomBounds`: compares the cumulative counts at the
    /// bounds both histograms have.
    fn detect_reset_with_mismatched_custom_bounds(&self, previous: &FloatHistogram) -> bool {
        let curr_bounds = &self.custom_values;
        let prev_bounds = &previous.custom_values;
        let mut curr = RollUp::new(self.positive_bucket_iter());
        let mut prev = RollUp::new(previous.positive_bucket_iter());
        let (mut ci, mut pi) = (0usize, 0usize);
        while ci <= curr_bounds.len() && pi <= prev_bounds.len() {
            let cb = curr_bounds.get(ci).copied().unwrap_or(f64::INFINITY);
            let pb = prev_bounds.get(pi).copied().unwrap_or(f64::INFINITY);
            if cb == pb {
                let c = curr.sum_up_to(cb);
                let p = prev.sum_up_to(cb);
                if c < p {
                    return true;
                }
                ci += 1;
                pi += 1;
            } else if cb < pb {
                ci += 1;
            } else {
                pi += 1;
            }
        }
        false
    }
}

impl super::Histogram {
    /// Whether the histograms hold exactly the same data (Go's `Histogram.Equals`): as
    /// [`FloatHistogram::equals`], with the sum compared bit for bit.
    pub fn equals(&self, other: &super::Histogram) -> bool {
        self.schema == other.schema
            && self.count == other.count
            && self.sum.to_bits() == other.sum.to_bits()
            && (!self.uses_custom_buckets()
                || custom_bounds_match(&self.custom_values, &other.custom_values))
            && self.zero_threshold == other.zero_threshold
            && self.zero_count == other.zero_count
            && spans_match(&self.negative_spans, &other.negative_spans)
            && self.negative_buckets == other.negative_buckets
            && spans_match(&self.positive_spans, &other.positive_spans)
            && self.positive_buckets == other.positive_buckets
    }
}

/// Sums the counts of the buckets up to a bound, bound after bound (the rollup of Go's
/// `detectResetWithMismatchedCustomBounds`).
struct RollUp<'a> {
    it: BucketIter<'a>,
    started: bool,
    has_more: bool,
    bucket: Option<super::Bucket>,
}

impl<'a> RollUp<'a> {
    fn new(it: BucketIter<'a>) -> RollUp<'a> {
        RollUp {
            it,
            started: false,
            has_more: false,
            bucket: None,
        }
    }

    fn sum_up_to(&mut self, bound: f64) -> f64 {
        if self.started && !self.has_more {
            return 0.0;
        }
        if !self.started {
            self.started = true;
            self.bucket = self.it.next();
            if self.bucket.is_none() {
                self.has_more = false;
                return 0.0;
            }
        }
        let mut sum = 0.0;
        while let Some(b) = self.bucket {
            if b.upper > bound {
                self.has_more = true;
                return sum;
            }
            sum += b.count;
            self.bucket = self.it.next();
        }
        self.has_more = false;
        sum
    }
}

/// Go's `detectReset` over two bucket iterators of the same schema.
fn detect_reset_in(mut curr: BucketIter<'_>, mut prev: BucketIter<'_>) -> bool {
    let Some(mut p) = prev.next_stripped() else {
        return false;
    };
    let Some(mut c) = curr.next_stripped() else {
        // No buckets now: any populated bucket before is a reset.
        loop {
            if p.1 != 0.0 {
                return true;
            }
            match prev.next_stripped() {
                Some(next) => p = next,
                None => return false,
            }
        }
    };
    loop {
        while c.0 < p.0 {
            match curr.next_stripped() {
                Some(next) => c = next,
                None => loop {
                    if p.1 != 0.0 {
                        return true;
                    }
                    match prev.next_stripped() {
                        Some(next) => p = next,
                        None => return false,
                    }
                },
            }
        }
        if c.0 > p.0 {
            if p.1 != 0.0 {
                return true;
            }
        } else if c.1 < p.1 {
            return true;
        }
        match prev.next_stripped() {
            Some(next) => p = next,
            None => return false,
        }
    }
}

/// Whether two span lists describe the same layout once zero-length spans are folded into
/// the span after them (Go's `spansMatch`: adjacent spans are not merged, so `[{0,2}]` and
/// `[{0,1},{0,1}]` differ).
pub(crate) fn spans_match(a: &[Span], b: &[Span]) -> bool {
    fn normalized(spans: &[Span]) -> impl Iterator<Item = Span> + '_ {
        let mut pending = 0i32;
        spans.iter().filter_map(move |s| {
            if s.length == 0 {
                pending = pending.wrapping_add(s.offset);
                return None;
            }
            let offset = s.offset.wrapping_add(pending);
            pending = 0;
            Some(Span {
                offset,
                length: s.length,
            })
        })
    }
    normalized(a).eq(normalized(b))
}

fn float_buckets_match(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Go's `addBuckets`: adds (or subtracts) the buckets of `b` into `a`, inserting missing
/// buckets, extending a span when the new bucket is next to it and starting a new span
/// otherwise. Leading buckets of `b` with an upper bound ≤ `threshold` (exponential
/// schemas) are skipped: they are in the zero bucket.
fn add_buckets(
    schema: i32,
    threshold: f64,
    negate: bool,
    spans_a: &mut Vec<Span>,
    buckets_a: &mut Vec<f64>,
    spans_b: &[Span],
    buckets_b: &[f64],
) {
    // Position of the bucket in `a` last added to: span, bucket, index in span, and the
    // bucket index it has (`index_a`). `None` until the first bucket was placed after the
    // start of `a`.
    let mut pos: Option<(usize, usize, i32)> = None;
    let mut index_a: i32 = 0;
    let mut lower_than_threshold = true;
    for (index_b, &count) in span_indexes(spans_b).zip(buckets_b) {
        if lower_than_threshold
            && is_exponential_schema(schema)
            && exponential_bound(index_b, schema) <= threshold
        {
            index_a = index_b;
            continue;
        }
        lower_than_threshold = false;
        let value = if negate { -count } else { count };
        let (mut i_span, mut i_bucket, mut i_in_span) = match pos {
            Some(p) => p,
            None => {
                if spans_a.is_empty() || spans_a[0].offset > index_b {
                    // Before all buckets of `a`.
                    buckets_a.insert(0, value);
                    if !spans_a.is_empty() && spans_a[0].offset == index_b.wrapping_add(1) {
                        spans_a[0].length += 1;
                        spans_a[0].offset -= 1;
                    } else {
                        spans_a.insert(
                            0,
                            Span {
                                offset: index_b,
                                length: 1,
                            },
                        );
                        if spans_a.len() > 1 {
                            spans_a[1].offset -= index_b.wrapping_add(1);
                        }
                    }
                    index_a = index_b;
                    continue;
                }
                if spans_a[0].offset == index_b {
                    buckets_a[0] += value;
                    index_a = index_b;
                    continue;
                }
                index_a = spans_a[0].offset;
                (0, 0, 0)
            }
        };
        let mut delta = index_b.wrapping_sub(index_a);
        loop {
            let remaining = spans_a[i_span].length as i32 - i_in_span;
            if delta < remaining {
                // In the current span.
                i_bucket += delta as usize;
                i_in_span += delta;
                buckets_a[i_bucket] += value;
                break;
            }
            delta -= remaining;
            i_bucket += remaining as usize;
            i_span += 1;
            if i_span == spans_a.len() || delta < spans_a[i_span].offset {
                // In the gap after the previous span (or after the last span).
                buckets_a.insert(i_bucket, value);
                if delta == 0 {
                    // Right after the previous span: extend it.
                    if i_span < spans_a.len() {
                        spans_a[i_span].offset -= 1;
                    }
                    i_span -= 1;
                    i_in_span = spans_a[i_span].length as i32;
                    spans_a[i_span].length += 1;
                } else if i_span < spans_a.len() && delta == spans_a[i_span].offset - 1 {
                    // Right before the next span: extend it.
                    i_in_span = 0;
                    spans_a[i_span].offset -= 1;
                    spans_a[i_span].length += 1;
                } else {
                    // A span of its own.
                    i_in_span = 0;
                    if i_span < spans_a.len() {
                        spans_a[i_span].offset -= delta + 1;
                    }
                    spans_a.insert(
                        i_span,
                        Span {
                            offset: delta,
                            length: 1,
                        },
                    );
                }
                break;
            }
            // Try the start of the next span.
            delta -= spans_a[i_span].offset;
            i_in_span = 0;
        }
        pos = Some((i_span, i_bucket, i_in_span));
        index_a = index_b;
    }
}

/// The bounds two sets of custom bounds have in common.
pub(crate) fn intersect_custom_bounds(a: &[f64], b: &[f64]) -> Vec<f64> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(a[i]);
            i += 1;
            j += 1;
        } else if a[i] < b[j] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Go's `addCustomBucketsWithMismatches`: maps the buckets of both histograms onto the
/// intersected bounds (each bucket into the first target bucket whose bound is at least its
/// own), adds them, and drops empty buckets.
fn add_custom_buckets_with_mismatches(
    negate: bool,
    a: (&[Span], &[f64], &[f64]),
    b: (&[Span], &[f64], &[f64]),
    intersected: &[f64],
) -> (Vec<Span>, Vec<f64>) {
    let mut target = vec![0.0; intersected.len() + 1];
    let mut map = |spans: &[Span], buckets: &[f64], bounds: &[f64], negate: bool| {
        let mut intersect_idx = 0usize;
        for (src_idx, &value) in span_indexes(spans).zip(buckets) {
            let mut target_idx = target.len() - 1;
            if src_idx >= 0 && (src_idx as usize) < bounds.len() {
                let src_bound = bounds[src_idx as usize];
                while intersect_idx < intersected.len() {
                    if intersected[intersect_idx] >= src_bound {
                        target_idx = intersect_idx;
                        break;
                    }
                    intersect_idx += 1;
                }
            }
            if negate {
                target[target_idx] -= value;
            } else {
                target[target_idx] += value;
            }
        }
    };
    map(a.0, a.1, a.2, false);
    map(b.0, b.1, b.2, negate);
    let mut spans: Vec<Span> = Vec::new();
    let mut buckets = Vec::new();
    let mut last: i64 = -1;
    for (i, &count) in target.iter().enumerate() {
        if count == 0.0 {
            continue;
        }
        buckets.push(count);
        let idx = i as i64;
        match spans.last_mut() {
            Some(s) if idx == last + 1 => s.length += 1,
            _ => {
                let offset = if spans.is_empty() {
                    idx
                } else {
                    idx - last - 1
                };
                spans.push(Span {
                    offset: offset as i32,
                    length: 1,
                });
            }
        }
        last = idx;
    }
    (spans, buckets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn sp(v: &[(i32, u32)]) -> Vec<Span> {
        v.iter()
            .map(|&(offset, length)| Span { offset, length })
            .collect()
    }

    type Side<'a> = (&'a [(i32, u32)], &'a [f64]);

    /// An exponential histogram: zero threshold, zero count, count, sum, schema, sides.
    fn fh(
        zt: f64,
        zc: f64,
        count: f64,
        sum: f64,
        schema: i32,
        pos: Side<'_>,
        neg: Side<'_>,
    ) -> FloatHistogram {
        FloatHistogram {
            zero_threshold: zt,
            zero_count: zc,
            count,
            sum,
            schema,
            positive_spans: sp(pos.0),
            positive_buckets: pos.1.to_vec(),
            negative_spans: sp(neg.0),
            negative_buckets: neg.1.to_vec(),
            ..FloatHistogram::default()
        }
    }

    /// A custom-bucket histogram.
    fn nhcb(count: f64, sum: f64, pos: Side<'_>, cv: &[f64]) -> FloatHistogram {
        FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count,
            sum,
            positive_spans: sp(pos.0),
            positive_buckets: pos.1.to_vec(),
            custom_values: cv.to_vec(),
            ..FloatHistogram::default()
        }
    }

    struct Case {
        name: &'static str,
        in1: FloatHistogram,
        in2: FloatHistogram,
        expected: Option<FloatHistogram>,
        err: &'static str,
        collision: bool,
        reconciled: bool,
    }

    fn ok(
        name: &'static str,
        in1: FloatHistogram,
        in2: FloatHistogram,
        expected: FloatHistogram,
    ) -> Case {
        Case {
            name,
            in1,
            in2,
            expected: Some(expected),
            err: "",
            collision: false,
            reconciled: false,
        }
    }

    /// Go's testHistogramAdd/testFloatHistogramSub: both inputs valid, the result (compacted)
    /// equals the expectation, the argument is untouched, the outcome flags are right.
    fn check(
        c: &Case,
        a: &FloatHistogram,
        b: &FloatHistogram,
        expected: Option<&FloatHistogram>,
        sub: bool,
    ) {
        a.validate().unwrap();
        b.validate().unwrap();
        let mut res = a.clone();
        let b_copy = b.clone();
        let got = if sub {
            res.sub(&b_copy)
        } else {
            res.add(&b_copy)
        };
        match got {
            Ok(outcome) => {
                assert_eq!(c.err, "", "{}: expected an error", c.name);
                assert_eq!(outcome.counter_reset_collision, c.collision, "{}", c.name);
                assert_eq!(outcome.nhcb_bounds_reconciled, c.reconciled, "{}", c.name);
            }
            Err(e) => {
                assert_eq!(e.to_string(), c.err, "{}", c.name);
                assert_eq!(&res, a, "{}: unchanged on error", c.name);
            }
        }
        if let Some(expected) = expected {
            let mut want = expected.clone();
            want.compact(0);
            res.compact(0);
            assert_eq!(res, want, "{}", c.name);
        }
        assert_eq!(&b_copy, b, "{}: argument not mutated", c.name);
    }

    /// Go's TestFloatHistogramAdd table; each case is also run with the inputs swapped.
    #[test]
    fn add_go_table() {
        let cases = vec![
            ok(
                "same bucket layout",
                fh(
                    0.01,
                    11.0,
                    30.0,
                    2.345,
                    0,
                    (&[(-2, 2), (1, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]),
                    (&[(3, 2), (3, 2)], &[3.0, 1.0, 5.0, 6.0]),
                ),
                fh(
                    0.01,
                    8.0,
                    21.0,
                    1.234,
                    0,
                    (&[(-2, 2), (1, 3)], &[0.0, 0.0, 2.0, 3.0, 6.0]),
                    (&[(3, 2), (3, 2)], &[1.0, 1.0, 4.0, 4.0]),
                ),
                fh(
                    0.01,
                    19.0,
                    51.0,
                    3.579,
                    0,
                    (&[(-2, 2), (1, 3)], &[1.0, 0.0, 5.0, 7.0, 13.0]),
                    (&[(3, 2), (3, 2)], &[4.0, 2.0, 9.0, 10.0]),
                ),
            ),
            ok(
                "same bucket layout, defined differently",
                fh(
                    0.01,
                    11.0,
                    30.0,
                    2.345,
                    0,
                    (&[(-2, 2), (1, 1), (0, 2)], &[1.0, 0.0, 3.0, 4.0, 7.0]),
                    (&[(3, 2), (3, 2)], &[3.0, 1.0, 5.0, 6.0]),
                ),
                fh(
                    0.01,
                    8.0,
                    21.0,
                    1.234,
                    0,
                    (&[(-2, 2), (1, 2), (0, 1)], &[0.0, 0.0, 2.0, 3.0, 6.0]),
                    (&[(3, 7)], &[1.0, 1.0, 0.0, 0.0, 0.0, 4.0, 4.0]),
                ),
                fh(
                    0.01,
                    19.0,
                    51.0,
                    3.579,
                    0,
                    (&[(-2, 2), (1, 1), (0, 2)], &[1.0, 0.0, 5.0, 7.0, 13.0]),
                    (&[(3, 5), (0, 2)], &[4.0, 2.0, 0.0, 0.0, 0.0, 9.0, 10.0]),
                ),
            ),
            ok(
                "non-overlapping spans",
                fh(
                    0.001,
                    11.0,
                    30.0,
                    2.345,
                    0,
                    (&[(-2, 2), (2, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]),
                    (&[(3, 2), (3, 2)], &[3.0, 1.0, 5.0, 6.0]),
                ),
                fh(
                    0.001,
                    8.0,
                    21.0,
                    1.234,
                    0,
                    (&[(0, 2), (3, 3)], &[5.0, 4.0, 2.0, 3.0, 6.0]),
                    (&[(-9, 2), (3, 2)], &[1.0, 1.0, 4.0, 4.0]),
                ),
                fh(
                    0.001,
                    19.0,
                    51.0,
                    3.579,
                    0,
                    (
                        &[(-2, 4), (0, 6)],
                        &[1.0, 0.0, 5.0, 4.0, 3.0, 4.0, 7.0, 2.0, 3.0, 6.0],
                    ),
                    (
                        &[(-9, 2), (3, 2), (5, 2), (3, 2)],
                        &[1.0, 1.0, 4.0, 4.0, 3.0, 1.0, 5.0, 6.0],
                    ),
                ),
            ),
            ok(
                "non-overlapping spans inverted order",
                fh(
                    0.01,
                    8.0,
                    21.0,
                    1.234,
                    0,
                    (&[(0, 2), (3, 3)], &[5.0, 4.0, 2.0, 3.0, 6.0]),
                    (&[(-6, 2), (1, 2)], &[1.0, 1.0, 4.0, 4.0]),
                ),
                fh(
                    0.01,
                    11.0,
                    30.0,
                    2.345,
                    0,
                    (&[(-2, 2), (2, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]),
                    (&[(3, 2), (3, 2)], &[3.0, 1.0, 5.0, 6.0]),
                ),
                fh(
                    0.01,
                    19.0,
                    51.0,
                    3.579,
                    0,
                    (
                        &[(-2, 2), (0, 5), (0, 3)],
                        &[1.0, 0.0, 5.0, 4.0, 3.0, 4.0, 7.0, 2.0, 3.0, 6.0],
                    ),
                    (
                        &[(-6, 2), (1, 2), (4, 2), (3, 2)],
                        &[1.0, 1.0, 4.0, 4.0, 3.0, 1.0, 5.0, 6.0],
                    ),
                ),
            ),
            ok(
                "overlapping spans",
                fh(
                    0.01,
                    11.0,
                    30.0,
                    2.345,
                    0,
                    (&[(-2, 2), (2, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]),
                    (&[(3, 2), (3, 2)], &[3.0, 1.0, 5.0, 6.0]),
                ),
                fh(
                    0.01,
                    8.0,
                    21.0,
                    1.234,
                    0,
                    (&[(-1, 4), (0, 3)], &[5.0, 4.0, 2.0, 3.0, 6.0, 2.0, 5.0]),
                    (&[(4, 2), (1, 2)], &[1.0, 1.0, 4.0, 4.0]),
                ),
                fh(
                    0.01,
                    19.0,
                    51.0,
                    3.579,
                    0,
                    (
                        &[(-2, 4), (0, 4)],
                        &[1.0, 5.0, 4.0, 2.0, 6.0, 10.0, 9.0, 5.0],
                    ),
                    (&[(3, 3), (1, 3)], &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0]),
                ),
            ),
            ok(
                "schema change",
                fh(
                    0.01,
                    8.0,
                    21.0,
                    1.234,
                    0,
                    (&[(-1, 4), (0, 3)], &[5.0, 4.0, 2.0, 3.0, 6.0, 2.0, 5.0]),
                    (&[(4, 2), (1, 2)], &[1.0, 1.0, 4.0, 4.0]),
                ),
                fh(
                    0.01,
                    11.0,
                    30.0,
                    2.345,
                    1,
                    (
                        &[(-4, 3), (5, 5)],
                        &[1.0, 0.0, 0.0, 3.0, 2.0, 2.0, 3.0, 4.0],
                    ),
                    (&[(6, 3), (6, 4)], &[3.0, 0.5, 0.5, 2.0, 3.0, 2.0, 4.0]),
                ),
                fh(
                    0.01,
                    19.0,
                    51.0,
                    3.579,
                    0,
                    (
                        &[(-2, 5), (0, 3)],
                        &[1.0, 5.0, 4.0, 2.0, 6.0, 10.0, 9.0, 5.0],
                    ),
                    (&[(3, 3), (1, 3)], &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0]),
                ),
            ),
            ok(
                "larger zero bucket in first histogram",
                fh(
                    1.0,
                    17.0,
                    21.0,
                    1.234,
                    0,
                    (&[(1, 2), (0, 3)], &[2.0, 3.0, 6.0, 2.0, 5.0]),
                    (&[(4, 2), (1, 2)], &[1.0, 1.0, 4.0, 4.0]),
                ),
                fh(
                    0.01,
                    11.0,
                    30.0,
                    2.345,
                    0,
                    (&[(-2, 2), (2, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]),
                    (&[(3, 2), (3, 2)], &[3.0, 1.0, 5.0, 6.0]),
                ),
                fh(
                    1.0,
                    29.0,
                    51.0,
                    3.579,
                    0,
                    (&[(1, 2), (0, 3)], &[2.0, 6.0, 10.0, 9.0, 5.0]),
                    (&[(3, 3), (1, 3)], &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0]),
                ),
            ),
            ok(
                "larger zero threshold in first histogram ends up inside a populated bucket of second histogram",
                fh(
                    0.2,
                    17.0,
                    21.0,
                    1.234,
                    0,
                    (&[(1, 2), (0, 3)], &[2.0, 3.0, 6.0, 2.0, 5.0]),
                    (&[(4, 2), (1, 2)], &[1.0, 1.0, 4.0, 4.0]),
                ),
                fh(
                    0.01,
                    11.0,
                    30.0,
                    2.345,
                    0,
                    (&[(-2, 2), (2, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]),
                    (&[(3, 2), (3, 2)], &[3.0, 1.0, 5.0, 6.0]),
                ),
                fh(
                    0.25,
                    29.0,
                    51.0,
                    3.579,
                    0,
                    (&[(-1, 1), (1, 5)], &[0.0, 2.0, 6.0, 10.0, 9.0, 5.0]),
                    (&[(3, 3), (1, 3)], &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0]),
                ),
            ),
            ok(
                "schema change combined with larger zero bucket in second histogram",
                fh(
                    0.01,
                    8.0,
                    21.0,
                    1.234,
                    0,
                    (
                        &[(-2, 5), (0, 3)],
                        &[2.0, 5.0, 4.0, 2.0, 3.0, 6.0, 2.0, 5.0],
                    ),
                    (&[(4, 2), (1, 2)], &[1.0, 1.0, 4.0, 4.0]),
                ),
                fh(
                    0.25,
                    12.0,
                    30.0,
                    2.345,
                    1,
                    (&[(-3, 2), (5, 5)], &[1.0, 0.0, 3.0, 2.0, 2.0, 3.0, 4.0]),
                    (&[(6, 3), (6, 4)], &[3.0, 0.5, 0.5, 2.0, 3.0, 2.0, 4.0]),
                ),
                fh(
                    0.25,
                    22.0,
                    51.0,
                    3.579,
                    0,
                    (&[(-1, 7)], &[6.0, 4.0, 2.0, 6.0, 10.0, 9.0, 5.0]),
                    (&[(3, 3), (1, 3)], &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0]),
                ),
            ),
            ok(
                "schema change combined with larger zero bucket in first histogram",
                fh(
                    0.25,
                    8.0,
                    21.0,
                    1.234,
                    0,
                    (&[(-1, 4), (0, 3)], &[5.0, 4.0, 2.0, 3.0, 6.0, 2.0, 5.0]),
                    (&[(4, 2), (1, 2)], &[1.0, 1.0, 4.0, 4.0]),
                ),
                fh(
                    0.01,
                    11.0,
                    30.0,
                    2.345,
                    1,
                    (
                        &[(-4, 3), (5, 5)],
                        &[1.0, 0.0, 0.0, 3.0, 2.0, 2.0, 3.0, 4.0],
                    ),
                    (&[(6, 3), (6, 4)], &[3.0, 0.5, 0.5, 2.0, 3.0, 2.0, 4.0]),
                ),
                fh(
                    0.25,
                    20.0,
                    51.0,
                    3.579,
                    0,
                    (&[(-1, 4), (0, 3)], &[5.0, 4.0, 2.0, 6.0, 10.0, 9.0, 5.0]),
                    (&[(3, 3), (1, 3)], &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0]),
                ),
            ),
            ok(
                "same custom bucket layout, defined differently",
                nhcb(
                    15.0,
                    2.345,
                    (&[(0, 2), (1, 1), (0, 2)], &[1.0, 0.0, 3.0, 4.0, 7.0]),
                    &[1.0, 2.0, 3.0, 4.0, 5.0],
                ),
                nhcb(
                    11.0,
                    1.234,
                    (&[(0, 2), (1, 2), (0, 1)], &[0.0, 0.0, 2.0, 3.0, 6.0]),
                    &[1.0, 2.0, 3.0, 4.0, 5.0],
                ),
                nhcb(
                    26.0,
                    3.579,
                    (&[(0, 2), (1, 1), (0, 2)], &[1.0, 0.0, 5.0, 7.0, 13.0]),
                    &[1.0, 2.0, 3.0, 4.0, 5.0],
                ),
            ),
            ok(
                "non-overlapping spans with custom buckets",
                nhcb(
                    15.0,
                    2.345,
                    (&[(0, 2), (2, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]),
                    &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
                ),
                nhcb(
                    20.0,
                    1.234,
                    (&[(2, 2), (3, 3)], &[5.0, 4.0, 2.0, 3.0, 6.0]),
                    &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
                ),
                nhcb(
                    35.0,
                    3.579,
                    (
                        &[(0, 4), (0, 6)],
                        &[1.0, 0.0, 5.0, 4.0, 3.0, 4.0, 7.0, 2.0, 3.0, 6.0],
                    ),
                    &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
                ),
            ),
            ok(
                "overlapping spans with custom buckets",
                nhcb(
                    15.0,
                    2.345,
                    (&[(0, 2), (2, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]),
                    &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
                ),
                nhcb(
                    27.0,
                    1.234,
                    (&[(1, 4), (0, 3)], &[5.0, 4.0, 2.0, 3.0, 6.0, 2.0, 5.0]),
                    &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
                ),
                nhcb(
                    42.0,
                    3.579,
                    (
                        &[(0, 4), (0, 4)],
                        &[1.0, 5.0, 4.0, 2.0, 6.0, 10.0, 9.0, 5.0],
                    ),
                    &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
                ),
            ),
            Case {
                reconciled: true,
                ..ok(
                    "custom buckets with partial intersection",
                    nhcb(10.0, 100.0, (&[(0, 3)], &[2.0, 3.0, 5.0]), &[1.0, 2.5]),
                    nhcb(
                        8.0,
                        80.0,
                        (&[(0, 4)], &[1.0, 2.0, 3.0, 2.0]),
                        &[1.0, 2.0, 3.0],
                    ),
                    nhcb(18.0, 180.0, (&[(0, 2)], &[3.0, 15.0]), &[1.0]),
                )
            },
            Case {
                reconciled: true,
                ..ok(
                    "different custom bucket layout - intersection and rollup",
                    nhcb(6.0, 2.345, (&[(0, 1), (1, 1)], &[1.0, 5.0]), &[2.0, 4.0]),
                    nhcb(
                        220.0,
                        1.234,
                        (&[(0, 2), (1, 1), (0, 2)], &[10.0, 20.0, 40.0, 50.0, 100.0]),
                        &[1.0, 2.0, 3.0, 4.0, 5.0],
                    ),
                    nhcb(226.0, 3.579, (&[(0, 3)], &[31.0, 40.0, 155.0]), &[2.0, 4.0]),
                )
            },
            Case {
                reconciled: true,
                ..ok(
                    "custom buckets with no common boundaries except +Inf",
                    nhcb(3.0, 50.0, (&[(0, 2)], &[1.0, 2.0]), &[1.5]),
                    nhcb(30.0, 40.0, (&[(0, 2)], &[10.0, 20.0]), &[2.5]),
                    nhcb(33.0, 90.0, (&[(0, 1)], &[33.0]), &[]),
                )
            },
            Case {
                name: "mix exponential and custom buckets histograms",
                in1: fh(
                    0.01,
                    8.0,
                    59.0,
                    1.234,
                    0,
                    (
                        &[(-2, 5), (0, 3)],
                        &[2.0, 5.0, 4.0, 2.0, 3.0, 6.0, 7.0, 5.0],
                    ),
                    (&[(3, 3), (1, 3)], &[4.0, 10.0, 1.0, 4.0, 14.0, 7.0]),
                ),
                in2: nhcb(
                    11.0,
                    12.0,
                    (&[(0, 2), (1, 3)], &[0.0, 0.0, 2.0, 3.0, 6.0]),
                    &[1.0, 2.0, 3.0, 4.0, 5.0],
                ),
                expected: None,
                err: "cannot apply this operation on histograms with a mix of exponential and custom bucket schemas",
                collision: false,
                reconciled: false,
            },
            Case {
                name: "warn on counter reset hint collision",
                in1: FloatHistogram {
                    schema: CUSTOM_BUCKETS_SCHEMA,
                    counter_reset_hint: CounterResetHint::CounterReset,
                    ..FloatHistogram::default()
                },
                in2: FloatHistogram {
                    schema: CUSTOM_BUCKETS_SCHEMA,
                    counter_reset_hint: CounterResetHint::NotCounterReset,
                    ..FloatHistogram::default()
                },
                expected: None,
                err: "",
                collision: true,
                reconciled: false,
            },
        ];
        for c in &cases {
            check(c, &c.in1, &c.in2, c.expected.as_ref(), false);
            check(c, &c.in2, &c.in1, c.expected.as_ref(), false);
        }
        // Go's expectations spell the layout its addBuckets produces; ours is the same
        // before any compaction.
        for name in [
            "same bucket layout, defined differently",
            "non-overlapping spans",
            "non-overlapping spans inverted order",
            "overlapping spans",
            "larger zero bucket in first histogram",
            "non-overlapping spans with custom buckets",
            "overlapping spans with custom buckets",
        ] {
            let c = cases.iter().find(|c| c.name == name).expect("case exists");
            let mut res = c.in1.clone();
            res.add(&c.in2).unwrap();
            assert_eq!(Some(&res), c.expected.as_ref(), "{name} (uncompacted)");
        }
    }

    /// Go's TestFloatHistogramSub table; each case is also run swapped, expecting the
    /// negated result.
    #[test]
    fn sub_go_table() {
        let gauge = |mut h: FloatHistogram| {
            h.counter_reset_hint = CounterResetHint::Gauge;
            h
        };
        let cases = vec![
            ok(
                "same bucket layout",
                fh(
                    0.01,
                    11.0,
                    30.0,
                    23.0,
                    0,
                    (&[(-2, 2), (1, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]),
                    (&[(3, 2), (3, 2)], &[3.0, 1.0, 5.0, 6.0]),
                ),
                fh(
                    0.01,
                    8.0,
                    21.0,
                    12.0,
                    0,
                    (&[(-2, 2), (1, 3)], &[0.0, 0.0, 2.0, 3.0, 6.0]),
                    (&[(3, 2), (3, 2)], &[1.0, 1.0, 4.0, 4.0]),
                ),
                fh(
                    0.01,
                    3.0,
                    9.0,
                    11.0,
                    0,
                    (&[(-2, 2), (1, 3)], &[1.0, 0.0, 1.0, 1.0, 1.0]),
                    (&[(3, 2), (3, 2)], &[2.0, 0.0, 1.0, 2.0]),
                ),
            ),
            ok(
                "schema change",
                fh(
                    0.01,
                    8.0,
                    59.0,
                    1.234,
                    0,
                    (
                        &[(-2, 5), (0, 3)],
                        &[2.0, 5.0, 4.0, 2.0, 3.0, 6.0, 7.0, 5.0],
                    ),
                    (&[(3, 3), (1, 3)], &[4.0, 10.0, 1.0, 4.0, 14.0, 7.0]),
                ),
                fh(
                    0.01,
                    2.0,
                    19.0,
                    0.345,
                    1,
                    (
                        &[(-4, 3), (5, 5)],
                        &[1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 3.0, 4.0],
                    ),
                    (&[(6, 3), (6, 4)], &[3.0, 0.5, 0.5, 2.0, 3.0, 2.0, 4.0]),
                ),
                fh(
                    0.01,
                    6.0,
                    40.0,
                    0.889,
                    0,
                    (
                        &[(-2, 5), (0, 3)],
                        &[1.0, 5.0, 4.0, 2.0, 2.0, 2.0, 0.0, 5.0],
                    ),
                    (&[(3, 3), (1, 3)], &[1.0, 9.0, 1.0, 4.0, 9.0, 1.0]),
                ),
            ),
            ok(
                "same custom bucket layout",
                nhcb(
                    15.0,
                    23.0,
                    (&[(0, 2), (1, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]),
                    &[1.0, 2.0, 3.0, 4.0, 5.0],
                ),
                nhcb(
                    11.0,
                    12.0,
                    (&[(0, 2), (1, 3)], &[0.0, 0.0, 2.0, 3.0, 6.0]),
                    &[1.0, 2.0, 3.0, 4.0, 5.0],
                ),
                nhcb(
                    4.0,
                    11.0,
                    (&[(0, 2), (1, 3)], &[1.0, 0.0, 1.0, 1.0, 1.0]),
                    &[1.0, 2.0, 3.0, 4.0, 5.0],
                ),
            ),
            Case {
                reconciled: true,
                ..ok(
                    "different custom bucket layout - with intersection and rollup",
                    gauge(nhcb(
                        220.0,
                        9.9,
                        (&[(0, 2), (1, 1), (0, 2)], &[10.0, 20.0, 40.0, 50.0, 100.0]),
                        &[1.0, 2.0, 3.0, 4.0, 5.0],
                    )),
                    gauge(nhcb(
                        6.0,
                        4.4,
                        (&[(0, 1), (1, 1)], &[1.0, 5.0]),
                        &[2.0, 4.0],
                    )),
                    gauge(nhcb(
                        214.0,
                        5.5,
                        (&[(0, 3)], &[29.0, 40.0, 145.0]),
                        &[2.0, 4.0],
                    )),
                )
            },
            Case {
                name: "mix exponential and custom buckets histograms",
                in1: fh(
                    0.01,
                    8.0,
                    59.0,
                    1.234,
                    0,
                    (
                        &[(-2, 5), (0, 3)],
                        &[2.0, 5.0, 4.0, 2.0, 3.0, 6.0, 7.0, 5.0],
                    ),
                    (&[(3, 3), (1, 3)], &[4.0, 10.0, 1.0, 4.0, 14.0, 7.0]),
                ),
                in2: nhcb(
                    11.0,
                    12.0,
                    (&[(0, 2), (1, 3)], &[0.0, 0.0, 2.0, 3.0, 6.0]),
                    &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                ),
                expected: None,
                err: "cannot apply this operation on histograms with a mix of exponential and custom bucket schemas",
                collision: false,
                reconciled: false,
            },
        ];
        for c in &cases {
            check(c, &c.in1, &c.in2, c.expected.as_ref(), true);
            let negative = c.expected.as_ref().map(|e| {
                let mut n = e.clone();
                n.mul(-1.0);
                n.counter_reset_hint = e.counter_reset_hint;
                n
            });
            check(c, &c.in2, &c.in1, negative.as_ref(), true);
        }
    }

    fn arb_with(schema: i32, zt: f64) -> impl Strategy<Value = FloatHistogram> {
        (
            prop::collection::vec(0u32..50, 0..6),
            -4i32..4,
            prop::collection::vec(0u32..50, 0..4),
            -4i32..4,
            0u32..50,
        )
            .prop_map(move |(pos, po, neg, no, zc)| {
                // Buckets lie outside the zero bucket, as in valid histograms.
                let mut min_idx = -30;
                while exponential_bound(min_idx - 1, schema) < zt {
                    min_idx += 1;
                }
                let (po, no) = (po.max(min_idx), no.max(min_idx));
                let count: f64 =
                    pos.iter().chain(&neg).map(|&c| f64::from(c)).sum::<f64>() + f64::from(zc);
                FloatHistogram {
                    schema,
                    zero_threshold: zt,
                    zero_count: f64::from(zc),
                    count,
                    sum: count * 1.5,
                    positive_spans: if pos.is_empty() {
                        vec![]
                    } else {
                        sp(&[(po, pos.len() as u32)])
                    },
                    positive_buckets: pos.iter().map(|&c| f64::from(c)).collect(),
                    negative_spans: if neg.is_empty() {
                        vec![]
                    } else {
                        sp(&[(no, neg.len() as u32)])
                    },
                    negative_buckets: neg.iter().map(|&c| f64::from(c)).collect(),
                    ..FloatHistogram::default()
                }
            })
    }

    const NEG: Side<'static> = (&[(3, 2), (3, 2)], &[3.1, 3.0, 1.234e5, 1000.0]);

    /// The histogram most of Go's DetectReset cases start from, with positive buckets.
    fn base(pos: Side<'_>) -> FloatHistogram {
        fh(0.01, 5.5, 3493.3, 2349209.324, 0, pos, NEG)
    }

    /// Go's TestFloatHistogramDetectReset table: (name, previous, current, reset).
    #[test]
    fn detect_reset_go_table() {
        let p5: Side<'_> = (&[(-2, 2), (1, 3)], &[1.0, 0.0, 3.3, 4.2, 0.1]);
        let p4: Side<'_> = (&[(-2, 1), (2, 3)], &[1.0, 3.3, 4.2, 0.1]);
        let p123: Side<'_> = (&[(-2, 2), (1, 3)], &[1.0, 1.23, 3.3, 4.2, 0.1]);
        let with = |pos: Side<'_>, f: &dyn Fn(&mut FloatHistogram)| {
            let mut h = base(pos);
            f(&mut h);
            h
        };
        let schema1 = || {
            fh(
                0.01,
                5.5,
                3493.3,
                2349209.324,
                1,
                (
                    &[(-5, 4), (2, 6)],
                    &[0.4, 0.6, 1.0, 0.23, 2.0, 1.3, 1.2, 3.0, 0.05, 0.05],
                ),
                (
                    &[(5, 4), (6, 4)],
                    &[2.0, 1.1, 2.0, 1.0, 0.234e5, 1e5, 500.0, 500.0],
                ),
            )
        };
        let cases: Vec<(&str, FloatHistogram, FloatHistogram, bool)> = vec![
            (
                "zero values",
                FloatHistogram::default(),
                FloatHistogram::default(),
                false,
            ),
            (
                "no buckets to some buckets",
                FloatHistogram::default(),
                base(p4),
                false,
            ),
            (
                "some buckets to no buckets",
                base(p4),
                FloatHistogram::default(),
                true,
            ),
            (
                "one bucket appears",
                base(p4),
                base((&[(-2, 2), (1, 3)], &[1.0, 1.23, 3.3, 4.2, 0.1])),
                false,
            ),
            ("one bucket disappears", base(p123), base(p4), true),
            (
                "an unpopulated bucket disappears",
                base(p5),
                base(p4),
                false,
            ),
            (
                "an unpopulated bucket at the end disappears",
                base((&[(-2, 1), (1, 3)], &[1.0, 3.3, 4.2, 0.0])),
                base((&[(-2, 1), (1, 2)], &[1.0, 3.3, 4.2])),
                false,
            ),
            (
                "an unpopulated bucket disappears in a histogram with nothing else",
                FloatHistogram {
                    positive_spans: sp(&[(23, 1)]),
                    positive_buckets: vec![0.0],
                    ..FloatHistogram::default()
                },
                FloatHistogram::default(),
                false,
            ),
            (
                "zero count goes up",
                base(p5),
                with(p5, &|h| h.zero_count = 5.6),
                false,
            ),
            (
                "zero count goes down",
                base(p5),
                with(p5, &|h| h.zero_count = 5.4),
                true,
            ),
            (
                "count goes up",
                base(p5),
                with(p5, &|h| h.count = 3493.4),
                false,
            ),
            (
                "count goes down",
                base(p5),
                with(p5, &|h| h.count = 3493.2),
                true,
            ),
            (
                "sum goes up",
                base(p5),
                with(p5, &|h| h.sum = 2349210.0),
                false,
            ),
            (
                "sum goes down",
                base(p5),
                with(p5, &|h| h.sum = 2349200.0),
                false,
            ),
            (
                "one positive bucket goes up",
                base(p5),
                with(p5, &|h| h.positive_buckets[3] = 4.3),
                false,
            ),
            (
                "one positive bucket goes down",
                base(p5),
                with(p5, &|h| h.positive_buckets[3] = 4.1),
                true,
            ),
            (
                "one negative bucket goes up",
                base(p5),
                with(p5, &|h| h.negative_buckets[1] = 3.1),
                false,
            ),
            (
                "one negative bucket goes down",
                base(p5),
                with(p5, &|h| h.negative_buckets[1] = 2.9),
                true,
            ),
            (
                "zero threshold decreases",
                base(p123),
                with(p123, &|h| h.zero_threshold = 0.009),
                true,
            ),
            (
                "zero threshold increases without touching any existing buckets",
                base(p123),
                with(p123, &|h| h.zero_threshold = 0.011),
                false,
            ),
            (
                "zero threshold increases enough to cover existing buckets",
                base(p123),
                fh(
                    1.0,
                    7.73,
                    3493.3,
                    2349209.324,
                    0,
                    (&[(1, 3)], &[3.3, 4.2, 0.1]),
                    NEG,
                ),
                false,
            ),
            (
                "zero threshold increases into the middle of an existing bucket",
                base(p123),
                with(p123, &|h| h.zero_threshold = 0.3),
                true,
            ),
            (
                "schema increases without any other changes",
                base(p123),
                schema1(),
                true,
            ),
            (
                "schema decreases without any other changes",
                schema1(),
                base(p123),
                false,
            ),
            (
                "schema decreases and a bucket goes up",
                schema1(),
                base((&[(-2, 2), (1, 3)], &[1.0, 1.23, 4.3, 4.2, 0.1])),
                false,
            ),
            (
                "schema decreases and a bucket goes down",
                schema1(),
                base((&[(-2, 2), (1, 3)], &[1.0, 1.23, 2.3, 4.2, 0.1])),
                true,
            ),
            (
                "no buckets to some buckets with custom bounds",
                nhcb(0.0, 0.0, (&[], &[]), &[1.0, 2.0, 3.0]),
                nhcb(
                    3493.3,
                    2349209.324,
                    (&[(0, 1), (2, 3)], &[1.0, 3.3, 4.2, 0.1]),
                    &[1.0, 2.0, 3.0],
                ),
                false,
            ),
            (
                "some buckets to no buckets with custom bounds",
                nhcb(
                    3493.3,
                    2349209.324,
                    (&[(0, 1), (2, 3)], &[1.0, 3.3, 4.2, 0.1]),
                    &[1.0, 2.0, 3.0],
                ),
                nhcb(0.0, 0.0, (&[], &[]), &[1.0, 2.0, 3.0]),
                true,
            ),
            (
                "one bucket disappears with custom bounds",
                nhcb(
                    3493.3,
                    2349209.324,
                    (&[(0, 2), (1, 3)], &[1.0, 1.23, 3.3, 4.2, 0.1]),
                    &[1.0, 2.0, 3.0, 4.0],
                ),
                nhcb(
                    3493.3,
                    2349209.324,
                    (&[(0, 1), (2, 3)], &[1.0, 3.3, 4.2, 0.1]),
                    &[1.0, 2.0, 3.0, 4.0],
                ),
                true,
            ),
            (
                "an unpopulated bucket disappears with custom bounds",
                nhcb(
                    3493.3,
                    2349209.324,
                    (&[(0, 2), (1, 3)], &[1.0, 0.0, 3.3, 4.2, 0.1]),
                    &[1.0, 2.0, 3.0, 4.0],
                ),
                nhcb(
                    3493.3,
                    2349209.324,
                    (&[(0, 1), (2, 3)], &[1.0, 3.3, 4.2, 0.1]),
                    &[1.0, 2.0, 3.0, 4.0],
                ),
                false,
            ),
            (
                "one positive bucket goes down with custom bounds",
                nhcb(
                    3493.3,
                    2349209.324,
                    (&[(0, 2), (1, 3)], &[1.0, 0.0, 3.3, 4.2, 0.1]),
                    &[1.0, 2.0, 3.0, 4.0],
                ),
                nhcb(
                    3493.3,
                    2349209.324,
                    (&[(0, 2), (1, 3)], &[1.0, 0.0, 3.3, 4.1, 0.1]),
                    &[1.0, 2.0, 3.0, 4.0],
                ),
                true,
            ),
            (
                "mismatched custom bounds - no reset when all buckets increase",
                nhcb(
                    200.0,
                    1000.0,
                    (&[(0, 4)], &[20.0, 35.0, 40.0, 50.0]),
                    &[0.0, 1.0, 2.0, 3.0],
                ),
                nhcb(
                    200.0,
                    1000.0,
                    (&[(0, 5)], &[25.0, 15.0, 40.0, 50.0, 70.0]),
                    &[0.0, 0.5, 1.0, 2.0, 3.0],
                ),
                false,
            ),
            (
                "mismatched custom bounds - reset in middle bucket",
                nhcb(
                    100.0,
                    500.0,
                    (&[(1, 4)], &[10.0, 15.0, 20.0, 25.0]),
                    &[0.0, 1.0, 3.0, 5.0],
                ),
                nhcb(
                    100.0,
                    500.0,
                    (&[(1, 5)], &[10.0, 16.0, 10.0, 5.0, 25.0]),
                    &[0.0, 1.0, 2.0, 3.0, 5.0],
                ),
                true,
            ),
            (
                "mismatched custom bounds - reset in last bucket",
                nhcb(
                    100.0,
                    500.0,
                    (&[(1, 3)], &[10.0, 20.0, 20.0]),
                    &[0.0, 1.0, 2.0],
                ),
                nhcb(
                    100.0,
                    500.0,
                    (&[(1, 4)], &[100.0, 200.0, 8.0, 7.0]),
                    &[0.0, 1.0, 2.0, 3.0],
                ),
                true,
            ),
            (
                "mismatched custom bounds - no common bounds",
                nhcb(
                    100.0,
                    500.0,
                    (&[(1, 3)], &[10.0, 20.0, 30.0]),
                    &[4.0, 5.0, 6.0],
                ),
                nhcb(
                    100.0,
                    500.0,
                    (&[(1, 3)], &[15.0, 25.0, 35.0]),
                    &[1.0, 2.0, 3.0],
                ),
                false,
            ),
            (
                "mismatched custom bounds - sparse common bounds",
                nhcb(
                    200.0,
                    1000.0,
                    (&[(0, 4)], &[10.0, 20.0, 30.0, 40.0]),
                    &[0.0, 1.0, 3.0, 5.0],
                ),
                nhcb(
                    200.0,
                    1000.0,
                    (&[(0, 5)], &[15.0, 25.0, 70.0, 50.0, 100.0]),
                    &[0.0, 2.0, 3.0, 4.0, 5.0],
                ),
                false,
            ),
            (
                "reset detected with mismatched custom bounds and split bucket spans",
                nhcb(
                    200.0,
                    1000.0,
                    (&[(0, 2), (1, 3)], &[10.0, 20.0, 30.0, 40.0, 50.0]),
                    &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
                ),
                nhcb(
                    200.0,
                    1000.0,
                    (&[(0, 3), (1, 2)], &[15.0, 25.0, 35.0, 25.0, 60.0]),
                    &[0.0, 1.0, 3.0, 4.0, 5.0, 7.0],
                ),
                true,
            ),
            (
                "no reset with mismatched custom bounds and split bucket spans",
                nhcb(
                    300.0,
                    1500.0,
                    (&[(0, 2), (2, 3)], &[10.0, 20.0, 30.0, 40.0, 50.0]),
                    &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                ),
                nhcb(
                    300.0,
                    1500.0,
                    (&[(0, 3), (1, 2)], &[12.0, 25.0, 45.0, 75.0, 95.0]),
                    &[0.0, 0.5, 1.0, 3.0, 5.0, 7.0],
                ),
                false,
            ),
        ];
        for (name, previous, current, want) in cases {
            assert_eq!(current.detect_reset(&previous), want, "{name}");
        }
        // The hint decides when it says reset or not.
        let mut h = base(p5);
        h.counter_reset_hint = CounterResetHint::CounterReset;
        assert!(h.detect_reset(&base(p5)));
        h.counter_reset_hint = CounterResetHint::NotCounterReset;
        assert!(!h.detect_reset(&FloatHistogram {
            count: 1e9,
            ..base(p5)
        }));
    }

    /// Go's TestFloatHistogramMul and TestFloatHistogramDiv tables.
    #[test]
    fn mul_div_go_tables() {
        let big = || {
            fh(
                0.01,
                5.5,
                3493.3,
                2349209.324,
                0,
                (&[(-2, 1), (2, 3)], &[1.0, 3.3, 4.2, 0.1]),
                (&[(3, 2), (3, 2)], &[3.1, 3.0, 1.234e5, 1000.0]),
            )
        };
        let small = || {
            fh(
                0.01,
                11.0,
                30.0,
                23.0,
                0,
                (&[(-2, 2), (1, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]),
                (&[(3, 2), (3, 2)], &[3.0, 1.0, 5.0, 6.0]),
            )
        };
        let gauge = |mut h: FloatHistogram| {
            h.counter_reset_hint = CounterResetHint::Gauge;
            h
        };
        let mut h = FloatHistogram::default();
        h.mul(3.5);
        assert_eq!(h, FloatHistogram::default());
        let mut h = big();
        h.mul(0.0);
        assert_eq!(
            h,
            fh(
                0.01,
                0.0,
                0.0,
                0.0,
                0,
                (&[(-2, 1), (2, 3)], &[0.0; 4]),
                (&[(3, 2), (3, 2)], &[0.0; 4])
            )
        );
        let mut h = big();
        h.mul(1.0);
        assert_eq!(h, big());
        let mut h = big();
        h.mul(2.0);
        assert_eq!(
            h,
            fh(
                0.01,
                11.0,
                3493.3 * 2.0,
                2349209.324 * 2.0,
                0,
                (&[(-2, 1), (2, 3)], &[2.0, 6.6, 8.4, 0.2]),
                (&[(3, 2), (3, 2)], &[6.2, 6.0, 1.234e5 * 2.0, 2000.0])
            )
        );
        let mut h = small();
        h.mul(3.0);
        assert_eq!(
            h,
            fh(
                0.01,
                33.0,
                90.0,
                69.0,
                0,
                (&[(-2, 2), (1, 3)], &[3.0, 0.0, 9.0, 12.0, 21.0]),
                (&[(3, 2), (3, 2)], &[9.0, 3.0, 15.0, 18.0])
            )
        );
        let mut h = small();
        h.mul(-2.0);
        assert_eq!(
            h,
            gauge(fh(
                0.01,
                -22.0,
                -60.0,
                -46.0,
                0,
                (&[(-2, 2), (1, 3)], &[-2.0, 0.0, -6.0, -8.0, -14.0]),
                (&[(3, 2), (3, 2)], &[-6.0, -2.0, -10.0, -12.0])
            ))
        );
        let mut h = nhcb(
            30.0,
            23.0,
            (&[(0, 2), (1, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]),
            &[1.0, 2.0, 3.0, 4.0],
        );
        h.mul(3.0);
        assert_eq!(
            h,
            nhcb(
                90.0,
                69.0,
                (&[(0, 2), (1, 3)], &[3.0, 0.0, 9.0, 12.0, 21.0]),
                &[1.0, 2.0, 3.0, 4.0]
            )
        );

        let mut h = big();
        h.div(0.0);
        assert_eq!(
            h,
            FloatHistogram {
                zero_threshold: 0.01,
                count: f64::INFINITY,
                sum: f64::INFINITY,
                zero_count: f64::INFINITY,
                ..FloatHistogram::default()
            }
        );
        let mut h = big();
        h.div(1.0);
        assert_eq!(h, big());
        let mut h = small();
        h.div(2.0);
        assert_eq!(
            h,
            fh(
                0.01,
                5.5,
                15.0,
                11.5,
                0,
                (&[(-2, 2), (1, 3)], &[0.5, 0.0, 1.5, 2.0, 3.5]),
                (&[(3, 2), (3, 2)], &[1.5, 0.5, 2.5, 3.0])
            )
        );
        let mut h = big();
        h.div(-1.0);
        assert_eq!(
            h,
            gauge(fh(
                0.01,
                -5.5,
                -3493.3,
                -2349209.324,
                0,
                (&[(-2, 1), (2, 3)], &[-1.0, -3.3, -4.2, -0.1]),
                (&[(3, 2), (3, 2)], &[-3.1, -3.0, -1.234e5, -1000.0])
            ))
        );
        let mut h = small();
        h.div(-2.0);
        assert_eq!(
            h,
            gauge(fh(
                0.01,
                -5.5,
                -15.0,
                -11.5,
                0,
                (&[(-2, 2), (1, 3)], &[-0.5, 0.0, -1.5, -2.0, -3.5]),
                (&[(3, 2), (3, 2)], &[-1.5, -0.5, -2.5, -3.0])
            ))
        );
    }

    /// Go's TestFloatHistogramCopyToSchema table, plus its error cases.
    #[test]
    fn copy_to_schema_go_table() {
        let s1 = fh(
            0.01,
            11.0,
            30.0,
            2.345,
            1,
            (
                &[(-4, 3), (5, 5)],
                &[1.0, 0.0, 0.0, 3.0, 2.0, 2.0, 3.0, 4.0],
            ),
            (&[(6, 3), (6, 4)], &[3.0, 0.5, 0.5, 2.0, 3.0, 2.0, 4.0]),
        );
        assert_eq!(s1.copy_to_schema(1).unwrap(), s1);
        assert_eq!(
            s1.copy_to_schema(0).unwrap(),
            fh(
                0.01,
                11.0,
                30.0,
                2.345,
                0,
                (&[(-2, 2), (2, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]),
                (&[(3, 2), (3, 2)], &[3.0, 1.0, 5.0, 6.0])
            )
        );
        let custom = nhcb(
            30.0,
            2.345,
            (&[(0, 3), (5, 5)], &[1.0, 0.0, 0.0, 3.0, 2.0, 2.0, 3.0, 4.0]),
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        );
        assert_eq!(
            custom.copy_to_schema(CUSTOM_BUCKETS_SCHEMA).unwrap(),
            custom
        );
        assert_eq!(
            custom.copy_to_schema(0).unwrap_err().to_string(),
            "cannot reduce resolution to 0 when there are custom buckets"
        );
        assert_eq!(
            s1.copy_to_schema(2).unwrap_err().to_string(),
            "cannot copy from schema 1 to 2"
        );
        assert_eq!(
            s1.copy_to_schema(CUSTOM_BUCKETS_SCHEMA)
                .unwrap_err()
                .to_string(),
            "cannot reduce resolution to custom buckets schema"
        );
    }

    /// Go's TestFloatHistogramEquals.
    #[test]
    fn equals_go_cases() {
        let h1 = FloatHistogram {
            schema: 3,
            count: 2.2,
            sum: 9.7,
            zero_threshold: 0.1,
            zero_count: 1.1,
            positive_buckets: vec![3.0],
            negative_buckets: vec![4.0],
            ..FloatHistogram::default()
        };
        let equals = |a: &FloatHistogram, b: &FloatHistogram| a.equals(b) && b.equals(a);
        let not_equals = |a: &FloatHistogram, b: &FloatHistogram| !a.equals(b) && !b.equals(a);
        assert!(equals(&h1, &h1.clone()));
        let mut c = h1.clone();
        c.count = f64::NAN;
        assert!(not_equals(&h1, &c) && equals(&c, &c));
        let mut c = h1.clone();
        c.zero_count = f64::NAN;
        assert!(not_equals(&h1, &c) && equals(&c, &c));
        let mut c = h1.clone();
        c.positive_buckets[0] = f64::NAN;
        assert!(not_equals(&h1, &c) && equals(&c, &c));
        let mut c = h1.clone();
        c.negative_buckets[0] = f64::NAN;
        assert!(not_equals(&h1, &c) && equals(&c, &c));
        let mut c = h1.clone();
        c.custom_values = vec![1.0, 2.0, 3.0];
        assert!(
            equals(&h1, &c),
            "custom values are ignored for exponential schemas"
        );
        let mut c = h1.clone();
        c.sum = f64::NAN;
        assert!(equals(&c, &c.clone()), "NaN sums are equal");

        let cbh1 = nhcb(2.2, 9.7, (&[(0, 1)], &[3.0]), &[1.0, 2.0, 3.0]);
        cbh1.validate().unwrap();
        assert!(equals(&cbh1, &cbh1.clone()));
        let mut c = cbh1.clone();
        c.custom_values = vec![1.0, 2.0, 3.0, 4.0];
        assert!(not_equals(&cbh1, &c));
        let mut c = cbh1.clone();
        c.negative_spans = sp(&[(0, 1)]);
        c.negative_buckets = vec![1.0];
        assert!(not_equals(&cbh1, &c));
        let mut c = cbh1.clone();
        c.zero_threshold = 0.1;
        c.zero_count = 10.0;
        assert!(not_equals(&cbh1, &c));

        // Zero-length spans do not matter; how the buckets are cut into spans does.
        let side = |spans: &'static [(i32, u32)]| -> FloatHistogram {
            fh(0.0, 0.0, 1.0, 1.0, 0, (spans, &[1.0, 2.0, 3.0]), (&[], &[]))
        };
        let a = side(&[(0, 2), (0, 0), (1, 1)]);
        assert!(equals(&a, &side(&[(0, 2), (1, 1)])));
        assert!(equals(&a, &side(&[(0, 0), (0, 2), (1, 1), (3, 0)])));
        assert!(not_equals(&a, &side(&[(0, 1), (0, 1), (1, 1)])));
        assert!(not_equals(&a, &side(&[(0, 2), (2, 1)])));
    }

    #[test]
    fn integer_histogram_equals() {
        let h = crate::histogram::Histogram {
            count: 3,
            sum: f64::NAN,
            positive_spans: sp(&[(0, 2), (0, 0), (1, 1)]),
            positive_buckets: vec![1, 0, 1],
            ..crate::histogram::Histogram::default()
        };
        assert!(h.equals(&h.clone()), "NaN sums are equal");
        let mut other = h.clone();
        other.positive_spans = sp(&[(0, 2), (1, 1)]);
        assert!(h.equals(&other));
        other.positive_buckets[2] = 2;
        assert!(!h.equals(&other));
        let mut other = h.clone();
        other.sum = 1.0;
        assert!(!h.equals(&other));
    }

    /// Go's TestFloatHistogramSize.
    #[test]
    fn size_go_table() {
        let bare = FloatHistogram {
            schema: 1,
            zero_threshold: 0.01,
            zero_count: 5.5,
            count: 3493.3,
            sum: 2349209.324,
            ..FloatHistogram::default()
        };
        assert_eq!(bare.size(), 8 + 4 + 4 + 8 + 8 + 8 + 8 + 24 * 5);
        let full = FloatHistogram {
            positive_spans: sp(&[(-2, 1), (2, 3)]),
            positive_buckets: vec![1.0, 3.3, 4.2, 0.1],
            negative_spans: sp(&[(3, 2), (3, 2)]),
            negative_buckets: vec![3.1, 3.0, 1.234e5, 1000.0],
            ..bare.clone()
        };
        assert_eq!(
            full.size(),
            8 + 4 + 4 + 8 + 8 + 8 + 8 + (24 + 2 * 4 + 2 * 4) * 2 + (24 + 4 * 8) * 2 + 24
        );
        let custom = nhcb(
            3493.3,
            2349209.324,
            (&[(0, 1), (2, 3)], &[1.0, 3.3, 4.2, 0.1]),
            &[1.0, 2.0, 3.0],
        );
        assert_eq!(
            custom.size(),
            8 + 4
                + 4
                + 8
                + 8
                + 8
                + 8
                + (24 + 2 * 4 + 2 * 4)
                + (24 + 4 * 8)
                + 24
                + 24
                + (24 + 3 * 8)
        );
    }

    /// Go's TestFloatHistogramString table.
    #[test]
    fn go_string_go_table() {
        let h = fh(
            0.01,
            5.5,
            3493.3,
            2349209.324,
            1,
            (&[(-2, 1), (2, 3)], &[1.0, 3.3, 4.2, 0.1]),
            (&[(3, 2), (3, 2)], &[3.1, 3.0, 1.234e5, 1000.0]),
        );
        h.validate().unwrap();
        assert_eq!(
            h.to_go_string(),
            "{count:3493.3, sum:2.349209324e+06, [-22.62741699796952,-16):1000, [-16,-11.31370849898476):123400, [-4,-2.82842712474619):3, [-2.82842712474619,-2):3.1, [-0.01,0.01]:5.5, (0.35355339059327373,0.5]:1, (1,1.414213562373095]:3.3, (1.414213562373095,2]:4.2, (2,2.82842712474619]:0.1}"
        );
        let c = nhcb(
            3493.3,
            2349209.324,
            (&[(0, 1), (2, 4)], &[1.0, 3.3, 4.2, 0.1, 5.0]),
            &[1.0, 2.0, 5.0, 10.0, 15.0, 20.0],
        );
        c.validate().unwrap();
        assert_eq!(
            c.to_go_string(),
            "{count:3493.3, sum:2.349209324e+06, [-Inf,1]:1, (5,10]:3.3, (10,15]:4.2, (15,20]:0.1, (20,+Inf]:5}"
        );
    }

    /// Go's TestFloatBucketIteratorTargetSchema, TestReverseFloatBucketIterator and
    /// TestAllFloatBucketIterator/TestAllReverseFloatBucketIterator.
    #[test]
    fn iterators_go_cases() {
        let b = |lower: f64, upper: f64, li: bool, ui: bool, count: f64, index: i32| {
            crate::histogram::Bucket {
                lower,
                upper,
                lower_inclusive: li,
                upper_inclusive: ui,
                count,
                index,
            }
        };
        let h = fh(
            0.0,
            0.0,
            405.0,
            1008.4,
            1,
            (
                &[(0, 4), (1, 3), (2, 3)],
                &[100.0, 344.0, 123.0, 55.0, 3.0, 63.0, 2.0, 54.0, 235.0, 33.0],
            ),
            (
                &[(0, 3), (7, 4), (1, 3)],
                &[
                    10.0, 34.0, 1230.0, 54.0, 67.0, 63.0, 2.0, 554.0, 235.0, 33.0,
                ],
            ),
        );
        let pos: Vec<_> = h.bucket_iter_for(true, 0.0, -1).collect();
        assert_eq!(
            pos,
            [
                b(0.25, 1.0, false, true, 100.0, 0),
                b(1.0, 4.0, false, true, 522.0, 1),
                b(4.0, 16.0, false, true, 68.0, 2),
                b(16.0, 64.0, false, true, 322.0, 3),
            ]
        );
        let neg: Vec<_> = h.bucket_iter_for(false, 0.0, -1).collect();
        assert_eq!(
            neg,
            [
                b(-1.0, -0.25, true, false, 10.0, 0),
                b(-4.0, -1.0, true, false, 1264.0, 1),
                b(-64.0, -16.0, true, false, 184.0, 3),
                b(-256.0, -64.0, true, false, 791.0, 4),
                b(-1024.0, -256.0, true, false, 33.0, 5),
            ]
        );

        let pos_side: Side<'_> = (
            &[(0, 4), (1, 0), (3, 3), (3, 0), (2, 0), (5, 3)],
            &[100.0, 344.0, 123.0, 55.0, 3.0, 63.0, 2.0, 54.0, 235.0, 33.0],
        );
        let neg_side: Side<'_> = (
            &[(0, 3), (1, 0), (3, 0), (3, 4), (2, 0), (5, 3)],
            &[
                10.0, 34.0, 1230.0, 54.0, 67.0, 63.0, 2.0, 554.0, 235.0, 33.0,
            ],
        );
        let none: Side<'_> = (&[], &[]);
        let cases = [
            (
                fh(0.001, 102.0, 405.0, 1008.4, 1, pos_side, neg_side),
                true,
                true,
                true,
            ),
            (
                fh(0.001, 102.0, 405.0, 1008.4, 1, none, neg_side),
                true,
                true,
                false,
            ),
            (
                fh(0.001, 102.0, 405.0, 1008.4, 1, pos_side, none),
                false,
                true,
                true,
            ),
            (
                fh(0.001, 102.0, 405.0, 1008.4, 1, none, none),
                false,
                true,
                false,
            ),
            (
                fh(0.001, 0.0, 405.0, 1008.4, 1, pos_side, neg_side),
                true,
                false,
                true,
            ),
            (
                fh(0.5, 42.0, 447.0, 1008.4, 0, pos_side, neg_side),
                true,
                true,
                true,
            ),
            (
                fh(0.6, 42.0, 447.0, 1008.4, 0, pos_side, neg_side),
                true,
                true,
                true,
            ),
        ];
        for (i, (h, inc_neg, inc_zero, inc_pos)) in cases.iter().enumerate() {
            // Reverse iterators are the forward ones backwards.
            let mut fwd: Vec<_> = h.positive_bucket_iter().collect();
            fwd.reverse();
            assert_eq!(
                h.positive_reverse_bucket_iter().collect::<Vec<_>>(),
                fwd,
                "{i}"
            );
            let mut fwd: Vec<_> = h.negative_bucket_iter().collect();
            fwd.reverse();
            assert_eq!(
                h.negative_reverse_bucket_iter().collect::<Vec<_>>(),
                fwd,
                "{i}"
            );

            let zero = b(
                -h.zero_threshold,
                h.zero_threshold,
                true,
                true,
                h.zero_count,
                0,
            );
            let mut want = Vec::new();
            if *inc_neg {
                for mut bk in h.negative_reverse_bucket_iter() {
                    if *inc_zero && bk.upper > -h.zero_threshold {
                        bk.upper = -h.zero_threshold;
                    }
                    want.push(bk);
                }
            }
            if *inc_zero {
                want.push(zero);
            }
            if *inc_pos {
                for mut bk in h.positive_bucket_iter() {
                    if *inc_zero && bk.lower < h.zero_threshold {
                        bk.lower = h.zero_threshold;
                    }
                    want.push(bk);
                }
            }
            assert_eq!(h.all_bucket_iter().collect::<Vec<_>>(), want, "all {i}");

            let mut want = Vec::new();
            if *inc_pos {
                for mut bk in h.positive_reverse_bucket_iter() {
                    if *inc_zero && bk.lower < h.zero_threshold {
                        bk.lower = h.zero_threshold;
                    }
                    want.push(bk);
                }
            }
            if *inc_zero {
                want.push(zero);
            }
            if *inc_neg {
                for mut bk in h.negative_bucket_iter() {
                    if *inc_zero && bk.upper > -h.zero_threshold {
                        bk.upper = -h.zero_threshold;
                    }
                    want.push(bk);
                }
            }
            assert_eq!(
                h.all_reverse_bucket_iter().collect::<Vec<_>>(),
                want,
                "all reverse {i}"
            );
        }

        // Go's TestFloatCustomBucketsIterators.
        for (cv, want) in [
            (
                vec![10.0, 25.0, 50.0, 100.0, 500.0],
                [
                    b(f64::NEG_INFINITY, 10.0, true, true, 100.0, 0),
                    b(10.0, 25.0, false, true, 344.0, 1),
                    b(50.0, 100.0, false, true, 123.0, 3),
                    b(500.0, f64::INFINITY, false, true, 55.0, 5),
                ],
            ),
            (
                vec![-10.0, -5.0, 0.0, 10.0, 25.0],
                [
                    b(f64::NEG_INFINITY, -10.0, true, true, 100.0, 0),
                    b(-10.0, -5.0, false, true, 344.0, 1),
                    b(0.0, 10.0, false, true, 123.0, 3),
                    b(25.0, f64::INFINITY, false, true, 55.0, 5),
                ],
            ),
        ] {
            let h = nhcb(
                622.0,
                10008.4,
                (&[(0, 2), (1, 1), (1, 1)], &[100.0, 344.0, 123.0, 55.0]),
                &cv,
            );
            assert_eq!(h.all_bucket_iter().collect::<Vec<_>>(), want);
            assert_eq!(h.positive_bucket_iter().collect::<Vec<_>>(), want);
            let mut rev = want.to_vec();
            rev.reverse();
            assert_eq!(h.all_reverse_bucket_iter().collect::<Vec<_>>(), rev);
            assert_eq!(h.positive_reverse_bucket_iter().collect::<Vec<_>>(), rev);
            assert_eq!(h.negative_bucket_iter().count(), 0);
            assert_eq!(h.negative_reverse_bucket_iter().count(), 0);
        }
    }

    /// Schemas and zero thresholds where each threshold is a bucket boundary in every
    /// schema (Go's reconciliation counts observations twice otherwise, and so do we).
    fn arb_layout() -> impl Strategy<Value = (i32, f64)> {
        (-1i32..=3, prop::sample::select(vec![0.0, 0.0625, 0.25]))
    }

    fn arb_exponential() -> impl Strategy<Value = FloatHistogram> {
        arb_layout().prop_flat_map(|(schema, zt)| arb_with(schema, zt))
    }

    fn arb_same_layout_pair() -> impl Strategy<Value = (FloatHistogram, FloatHistogram)> {
        arb_layout().prop_flat_map(|(schema, zt)| (arb_with(schema, zt), arb_with(schema, zt)))
    }

    proptest! {
        /// (a + b) - b gives a back when both share schema and zero threshold (integer
        /// counts keep the float arithmetic exact), and a + b - a the reconciled b.
        #[test]
        fn add_sub_inverse((a, b) in arb_same_layout_pair()) {
            let mut sum = a.clone();
            sum.add(&b).unwrap();
            prop_assert_eq!(sum.count, a.count + b.count);
            sum.validate().unwrap();
            let mut back = sum.clone();
            back.sub(&b).unwrap();
            let mut want = a.clone();
            want.compact(0);
            back.compact(0);
            prop_assert!(back.equals(&want), "{} vs {}", back, want);
            // Adding in either order gives the same histogram.
            let mut other_order = b.clone();
            other_order.add(&a).unwrap();
            other_order.compact(0);
            sum.compact(0);
            prop_assert!(sum.equals(&other_order), "{} vs {}", sum, other_order);
        }

        /// With any schemas and thresholds, a sum keeps every observation: counts add up,
        /// no bucket goes negative, and the result has the lower schema and the larger
        /// (or widened) threshold.
        #[test]
        fn add_reconciles(a in arb_exponential(), b in arb_exponential()) {
            let mut sum = a.clone();
            sum.add(&b).unwrap();
            sum.validate().unwrap();
            prop_assert_eq!(sum.schema, a.schema.min(b.schema));
            prop_assert!(sum.zero_threshold >= a.zero_threshold.max(b.zero_threshold));
            let total: f64 = sum.positive_buckets.iter().chain(&sum.negative_buckets).sum::<f64>() + sum.zero_count;
            let want: f64 = a.count + b.count;
            prop_assert_eq!(total, want);
        }
    }
}
