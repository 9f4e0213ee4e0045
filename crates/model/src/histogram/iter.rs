//! Bucket iterators (Go's `PositiveBucketIterator`, `NegativeBucketIterator`, their reverse
//! forms and `AllBucketIterator`), yielding [`Bucket`]s with their bounds.

use std::fmt;
use std::iter::Peekable;

use super::bounds::{bucket_bound, exponential_bound, is_exponential_schema, target_index};
use super::{CUSTOM_BUCKETS_SCHEMA, FloatHistogram, Histogram, Span};
use crate::strconv::format_float_g;

/// One bucket of a histogram with its bounds and (absolute) count.
///
/// Bounds are inclusive or not as in Prometheus: exponential buckets include their upper
/// bound on the positive side and their lower bound on the negative side; custom buckets
/// include their upper bound (and the first one its lower bound, -Inf).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Whether `lower` belongs to the bucket.
    pub lower_inclusive: bool,
    /// Whether `upper` belongs to the bucket.
    pub upper_inclusive: bool,
    /// Number of observations in the bucket.
    pub count: f64,
    /// Index of the bucket in its schema (irrelevant for the zero bucket, where it is 0).
    pub index: i32,
}

impl fmt::Display for Bucket {
    /// Go's `Bucket.String`: `[lower,upper]:count` with `(`/`)` for exclusive bounds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{},{}{}:{}",
            if self.lower_inclusive { '[' } else { '(' },
            format_float_g(self.lower),
            format_float_g(self.upper),
            if self.upper_inclusive { ']' } else { ')' },
            format_float_g(self.count)
        )
    }
}

/// Bucket counts as stored: absolute floats, or integer deltas.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Counts<'a> {
    Float(&'a [f64]),
    Delta(&'a [i64]),
}

impl Counts<'_> {
    fn len(&self) -> usize {
        match self {
            Counts::Float(b) => b.len(),
            Counts::Delta(b) => b.len(),
        }
    }
}

/// Walks spans and buckets, yielding `(bucket index, absolute count)`. Stops early (as Go
/// does) when the buckets run out before the spans.
#[derive(Debug, Clone)]
pub(crate) struct RawIter<'a> {
    spans: &'a [Span],
    counts: Counts<'a>,
    span_idx: usize,
    idx_in_span: u32,
    bucket_idx: usize,
    idx: i32,
    entered: bool,
    acc: i64,
}

impl<'a> RawIter<'a> {
    pub(crate) fn new(spans: &'a [Span], counts: Counts<'a>) -> RawIter<'a> {
        RawIter {
            spans,
            counts,
            span_idx: 0,
            idx_in_span: 0,
            bucket_idx: 0,
            idx: 0,
            entered: false,
            acc: 0,
        }
    }
}

impl Iterator for RawIter<'_> {
    type Item = (i32, f64);

    fn next(&mut self) -> Option<(i32, f64)> {
        loop {
            let span = *self.spans.get(self.span_idx)?;
            if !self.entered {
                self.idx = self.idx.wrapping_add(span.offset);
                self.entered = true;
            }
            if self.idx_in_span >= span.length {
                self.span_idx += 1;
                self.idx_in_span = 0;
                self.entered = false;
                continue;
            }
            if self.bucket_idx >= self.counts.len() {
                return None;
            }
            let count = match self.counts {
                Counts::Float(b) => b[self.bucket_idx],
                Counts::Delta(b) => {
                    self.acc = self.acc.wrapping_add(b[self.bucket_idx]);
                    self.acc as f64
                }
            };
            let idx = self.idx;
            self.idx = self.idx.wrapping_add(1);
            self.idx_in_span += 1;
            self.bucket_idx += 1;
            return Some((idx, count));
        }
    }
}

/// The bucket indexes the spans describe, in order.
pub(crate) fn span_indexes(spans: &[Span]) -> impl Iterator<Item = i32> + '_ {
    let mut idx = 0i32;
    spans.iter().flat_map(move |s| {
        idx = idx.wrapping_add(s.offset);
        let start = idx;
        idx = idx.wrapping_add(s.length as i32);
        (0..s.length).map(move |k| start.wrapping_add(k as i32))
    })
}

/// Builds the bucket with index `idx` of `schema` on one side.
fn make_bucket(idx: i32, count: f64, schema: i32, positive: bool, custom_values: &[f64]) -> Bucket {
    let (lower, upper) = if positive {
        (
            bucket_bound(idx.wrapping_sub(1), schema, custom_values),
            bucket_bound(idx, schema, custom_values),
        )
    } else {
        (
            -bucket_bound(idx, schema, custom_values),
            -bucket_bound(idx.wrapping_sub(1), schema, custom_values),
        )
    };
    let (lower_inclusive, upper_inclusive) = if schema == CUSTOM_BUCKETS_SCHEMA {
        (idx == 0, true)
    } else {
        (lower < 0.0, upper > 0.0)
    };
    Bucket {
        lower,
        upper,
        lower_inclusive,
        upper_inclusive,
        count,
        index: idx,
    }
}

/// Iterates the buckets of one side in ascending order of their absolute values (away from
/// zero), optionally merged into a lower-resolution schema and skipping the buckets whose
/// absolute upper bound is at most a start value (Go's `floatBucketIterator`).
#[derive(Debug, Clone)]
pub struct BucketIter<'a> {
    raw: Peekable<RawIter<'a>>,
    schema: i32,
    target_schema: i32,
    positive: bool,
    custom_values: &'a [f64],
    absolute_start: f64,
    reached_start: bool,
}

impl<'a> BucketIter<'a> {
    /// The buckets of `spans`/`counts` (in `schema`) merged into `target_schema` (which must
    /// be ≤ `schema`, and equal to it for custom buckets), without the leading buckets whose
    /// upper bound is ≤ `absolute_start` (exponential schemas only).
    pub(crate) fn new(
        spans: &'a [Span],
        counts: Counts<'a>,
        schema: i32,
        target_schema: i32,
        positive: bool,
        custom_values: &'a [f64],
        absolute_start: f64,
    ) -> BucketIter<'a> {
        BucketIter {
            raw: RawIter::new(spans, counts).peekable(),
            schema,
            target_schema,
            positive,
            custom_values,
            absolute_start,
            reached_start: absolute_start == 0.0,
        }
    }

    /// The next bucket as `(index, count)`, without computing its bounds.
    pub(crate) fn next_stripped(&mut self) -> Option<(i32, f64)> {
        loop {
            let (idx, count) = self.raw.next()?;
            let (idx, count) = if self.schema == self.target_schema {
                (idx, count)
            } else {
                let target = target_index(idx, self.schema, self.target_schema);
                let mut total = count;
                while let Some(&(next_idx, next_count)) = self.raw.peek() {
                    if target_index(next_idx, self.schema, self.target_schema) != target {
                        break;
                    }
                    total += next_count;
                    self.raw.next();
                }
                (target, total)
            };
            if !self.reached_start
                && is_exponential_schema(self.target_schema)
                && exponential_bound(idx, self.target_schema) <= self.absolute_start
            {
                continue;
            }
            self.reached_start = true;
            return Some((idx, count));
        }
    }
}

impl Iterator for BucketIter<'_> {
    type Item = Bucket;

    fn next(&mut self) -> Option<Bucket> {
        let (idx, count) = self.next_stripped()?;
        Some(make_bucket(
            idx,
            count,
            self.target_schema,
            self.positive,
            self.custom_values,
        ))
    }
}

/// Iterates the buckets of one side from the one farthest from zero towards zero (Go's
/// `reverseFloatBucketIterator`).
#[derive(Debug, Clone)]
pub struct ReverseBucketIter<'a> {
    spans: &'a [Span],
    buckets: &'a [f64],
    schema: i32,
    positive: bool,
    custom_values: &'a [f64],
    span_idx: isize,
    idx_in_span: i64,
    bucket_idx: isize,
    idx: i32,
}

impl<'a> ReverseBucketIter<'a> {
    fn new(
        spans: &'a [Span],
        buckets: &'a [f64],
        schema: i32,
        positive: bool,
        custom_values: &'a [f64],
    ) -> ReverseBucketIter<'a> {
        let idx = spans.iter().fold(0i32, |acc, s| {
            acc.wrapping_add(s.offset).wrapping_add(s.length as i32)
        });
        ReverseBucketIter {
            spans,
            buckets,
            schema,
            positive,
            custom_values,
            span_idx: spans.len() as isize - 1,
            idx_in_span: spans.last().map_or(0, |s| i64::from(s.length) - 1),
            bucket_idx: buckets.len() as isize - 1,
            idx,
        }
    }
}

impl Iterator for ReverseBucketIter<'_> {
    type Item = Bucket;

    fn next(&mut self) -> Option<Bucket> {
        self.idx = self.idx.wrapping_sub(1);
        if self.bucket_idx < 0 {
            return None;
        }
        while self.idx_in_span < 0 {
            self.span_idx -= 1;
            if self.span_idx < 0 {
                return None;
            }
            let span_idx = self.span_idx as usize;
            self.idx_in_span = i64::from(self.spans[span_idx].length) - 1;
            self.idx = self.idx.wrapping_sub(self.spans[span_idx + 1].offset);
        }
        let count = self.buckets[self.bucket_idx as usize];
        self.bucket_idx -= 1;
        self.idx_in_span -= 1;
        Some(make_bucket(
            self.idx,
            count,
            self.schema,
            self.positive,
            self.custom_values,
        ))
    }
}

/// Iterates all buckets of a histogram: the negative ones, the zero bucket (if populated),
/// then the positive ones (ascending by value for [`FloatHistogram::all_bucket_iter`],
/// descending for [`FloatHistogram::all_reverse_bucket_iter`]). A bucket overlapping the
/// zero bucket has its bound next to zero moved to the zero threshold.
#[derive(Debug, Clone)]
pub struct AllBucketIter<'a> {
    h: &'a FloatHistogram,
    left: ReverseBucketIter<'a>,
    right: BucketIter<'a>,
    state: u8,
}

impl AllBucketIter<'_> {
    fn clamp(&self, mut b: Bucket) -> Bucket {
        let t = self.h.zero_threshold;
        if b.upper < 0.0 && b.upper > -t {
            b.upper = -t;
        } else if b.lower > 0.0 && b.lower < t {
            b.lower = t;
        }
        b
    }
}

impl Iterator for AllBucketIter<'_> {
    type Item = Bucket;

    fn next(&mut self) -> Option<Bucket> {
        loop {
            match self.state {
                0 => match self.left.next() {
                    Some(b) => return Some(self.clamp(b)),
                    None => self.state = 1,
                },
                1 => {
                    self.state = 2;
                    if self.h.zero_count > 0.0 {
                        return Some(self.h.zero_bucket());
                    }
                }
                2 => match self.right.next() {
                    Some(b) => return Some(self.clamp(b)),
                    None => self.state = 3,
                },
                _ => return None,
            }
        }
    }
}

impl FloatHistogram {
    /// Go's `floatBucketIterator`: one side's buckets merged into `target_schema` (≤ the
    /// histogram's schema), skipping leading buckets with an upper bound ≤ `absolute_start`.
    pub(crate) fn bucket_iter_for(
        &self,
        positive: bool,
        absolute_start: f64,
        target_schema: i32,
    ) -> BucketIter<'_> {
        let (spans, buckets, custom_values): (&[Span], &[f64], &[f64]) = if positive {
            (
                &self.positive_spans,
                &self.positive_buckets,
                &self.custom_values,
            )
        } else {
            (&self.negative_spans, &self.negative_buckets, &[])
        };
        BucketIter::new(
            spans,
            Counts::Float(buckets),
            self.schema,
            target_schema,
            positive,
            custom_values,
            absolute_start,
        )
    }

    /// The positive buckets in ascending order (from the zero bucket upwards).
    pub fn positive_bucket_iter(&self) -> BucketIter<'_> {
        self.bucket_iter_for(true, 0.0, self.schema)
    }

    /// The negative buckets in descending order (from the zero bucket downwards).
    pub fn negative_bucket_iter(&self) -> BucketIter<'_> {
        self.bucket_iter_for(false, 0.0, self.schema)
    }

    /// The positive buckets in descending order (from the highest down to the zero bucket).
    pub fn positive_reverse_bucket_iter(&self) -> ReverseBucketIter<'_> {
        ReverseBucketIter::new(
            &self.positive_spans,
            &self.positive_buckets,
            self.schema,
            true,
            &self.custom_values,
        )
    }

    /// The negative buckets in ascending order (from the lowest up to the zero bucket).
    pub fn negative_reverse_bucket_iter(&self) -> ReverseBucketIter<'_> {
        ReverseBucketIter::new(
            &self.negative_spans,
            &self.negative_buckets,
            self.schema,
            false,
            &[],
        )
    }

    /// All buckets in ascending order of their values: negative buckets (highest index
    /// first), the zero bucket if it is populated, then positive buckets (Go's
    /// `AllBucketIterator`).
    pub fn all_bucket_iter(&self) -> AllBucketIter<'_> {
        AllBucketIter {
            h: self,
            left: self.negative_reverse_bucket_iter(),
            right: self.positive_bucket_iter(),
            state: 0,
        }
    }

    /// All buckets in descending order of their values (Go's `AllReverseBucketIterator`).
    pub fn all_reverse_bucket_iter(&self) -> AllBucketIter<'_> {
        AllBucketIter {
            h: self,
            left: self.positive_reverse_bucket_iter(),
            right: self.negative_bucket_iter(),
            state: 0,
        }
    }

    /// The zero bucket: `[-zero_threshold, zero_threshold]` with `zero_count` (custom-bucket
    /// histograms have none; for them this is an empty `[-0, 0]` bucket).
    pub fn zero_bucket(&self) -> Bucket {
        Bucket {
            lower: -self.zero_threshold,
            upper: self.zero_threshold,
            lower_inclusive: true,
            upper_inclusive: true,
            count: self.zero_count,
            index: 0,
        }
    }
}

impl Histogram {
    /// The positive buckets in ascending order, with absolute counts.
    pub fn positive_bucket_iter(&self) -> BucketIter<'_> {
        BucketIter::new(
            &self.positive_spans,
            Counts::Delta(&self.positive_buckets),
            self.schema,
            self.schema,
            true,
            &self.custom_values,
            0.0,
        )
    }

    /// The negative buckets in descending order, with absolute counts.
    pub fn negative_bucket_iter(&self) -> BucketIter<'_> {
        BucketIter::new(
            &self.negative_spans,
            Counts::Delta(&self.negative_buckets),
            self.schema,
            self.schema,
            false,
            &[],
            0.0,
        )
    }

    /// The zero bucket, as [`FloatHistogram::zero_bucket`].
    pub fn zero_bucket(&self) -> Bucket {
        Bucket {
            lower: -self.zero_threshold,
            upper: self.zero_threshold,
            lower_inclusive: true,
            upper_inclusive: true,
            count: self.zero_count as f64,
            index: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(v: &[(i32, u32)]) -> Vec<Span> {
        v.iter()
            .map(|&(offset, length)| Span { offset, length })
            .collect()
    }

    fn b(lower: f64, upper: f64, count: f64, li: bool, ui: bool, index: i32) -> Bucket {
        Bucket {
            lower,
            upper,
            lower_inclusive: li,
            upper_inclusive: ui,
            count,
            index,
        }
    }

    /// Cases of Go's TestRegularBucketIterator.
    // Prometheus's bound for √2 is one ulp below the constant, on purpose.
    #[allow(clippy::approx_constant)]
    #[test]
    fn regular_bucket_iterator_go_table() {
        let h = Histogram {
            positive_spans: sp(&[(0, 4), (0, 0), (0, 3)]),
            positive_buckets: vec![1, 2, -2, 1, -1, 0, 0],
            negative_spans: sp(&[(0, 5), (1, 0), (0, 1)]),
            negative_buckets: vec![1, 2, -2, 1, -1, 0],
            ..Histogram::default()
        };
        let pos: Vec<Bucket> = h.positive_bucket_iter().collect();
        let want_pos = [
            b(0.5, 1.0, 1.0, false, true, 0),
            b(1.0, 2.0, 3.0, false, true, 1),
            b(2.0, 4.0, 1.0, false, true, 2),
            b(4.0, 8.0, 2.0, false, true, 3),
            b(8.0, 16.0, 1.0, false, true, 4),
            b(16.0, 32.0, 1.0, false, true, 5),
            b(32.0, 64.0, 1.0, false, true, 6),
        ];
        assert_eq!(pos, want_pos);
        let neg: Vec<Bucket> = h.negative_bucket_iter().collect();
        let want_neg = [
            b(-1.0, -0.5, 1.0, true, false, 0),
            b(-2.0, -1.0, 3.0, true, false, 1),
            b(-4.0, -2.0, 1.0, true, false, 2),
            b(-8.0, -4.0, 2.0, true, false, 3),
            b(-16.0, -8.0, 1.0, true, false, 4),
            b(-64.0, -32.0, 1.0, true, false, 6),
        ];
        assert_eq!(neg, want_neg);
        // The float form iterates the same buckets.
        let f = h.to_float();
        assert_eq!(f.positive_bucket_iter().collect::<Vec<_>>(), want_pos);
        assert_eq!(f.negative_bucket_iter().collect::<Vec<_>>(), want_neg);

        let h = Histogram {
            schema: 3,
            positive_spans: sp(&[(-5, 2), (2, 3), (2, 2)]),
            positive_buckets: vec![1, 2, -2, 1, -1, 0, 3],
            ..Histogram::default()
        };
        let want = [
            b(0.5946035575013605, 0.6484197773255048, 1.0, false, true, -5),
            b(0.6484197773255048, 0.7071067811865475, 3.0, false, true, -4),
            b(0.8408964152537144, 0.9170040432046711, 1.0, false, true, -1),
            b(0.9170040432046711, 1.0, 2.0, false, true, 0),
            b(1.0, 1.0905077326652577, 1.0, false, true, 1),
            b(1.2968395546510096, 1.414213562373095, 1.0, false, true, 4),
            b(1.414213562373095, 1.5422108254079407, 4.0, false, true, 5),
        ];
        assert_eq!(h.positive_bucket_iter().collect::<Vec<_>>(), want);

        let h = Histogram {
            schema: -2,
            positive_spans: sp(&[(-2, 4), (2, 2)]),
            positive_buckets: vec![1, 2, -2, 1, -1, 0],
            ..Histogram::default()
        };
        let want = [
            b(0.000244140625, 0.00390625, 1.0, false, true, -2),
            b(0.00390625, 0.0625, 3.0, false, true, -1),
            b(0.0625, 1.0, 1.0, false, true, 0),
            b(1.0, 16.0, 2.0, false, true, 1),
            b(4096.0, 65536.0, 1.0, false, true, 4),
            b(65536.0, 1048576.0, 1.0, false, true, 5),
        ];
        assert_eq!(h.positive_bucket_iter().collect::<Vec<_>>(), want);
    }

    #[test]
    fn custom_bucket_bounds() {
        let h = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            positive_spans: sp(&[(0, 2), (1, 2)]),
            positive_buckets: vec![1.0, 2.0, 3.0, 4.0],
            custom_values: vec![5.0, 10.0, 20.0, 50.0],
            ..FloatHistogram::default()
        };
        let got: Vec<String> = h.positive_bucket_iter().map(|b| b.to_string()).collect();
        assert_eq!(got, ["[-Inf,5]:1", "(5,10]:2", "(20,50]:3", "(50,+Inf]:4"]);
        let rev: Vec<i32> = h.positive_reverse_bucket_iter().map(|b| b.index).collect();
        assert_eq!(rev, [4, 3, 1, 0]);
    }

    #[test]
    fn all_bucket_iterators() {
        let h = FloatHistogram {
            zero_threshold: 0.7,
            zero_count: 3.0,
            positive_spans: sp(&[(0, 2), (1, 1)]),
            positive_buckets: vec![1.0, 2.0, 4.0],
            negative_spans: sp(&[(0, 2)]),
            negative_buckets: vec![5.0, 6.0],
            ..FloatHistogram::default()
        };
        let got: Vec<String> = h.all_bucket_iter().map(|b| b.to_string()).collect();
        // The lowest positive bucket (0.5,1] overlaps the zero bucket: its lower bound is
        // moved to the threshold; so is the upper bound of the highest negative one.
        assert_eq!(
            got,
            [
                "[-2,-1):6",
                "[-1,-0.7):5",
                "[-0.7,0.7]:3",
                "(0.7,1]:1",
                "(1,2]:2",
                "(4,8]:4"
            ]
        );
        let got: Vec<String> = h.all_reverse_bucket_iter().map(|b| b.to_string()).collect();
        assert_eq!(
            got,
            [
                "(4,8]:4",
                "(1,2]:2",
                "(0.7,1]:1",
                "[-0.7,0.7]:3",
                "[-1,-0.7):5",
                "[-2,-1):6"
            ]
        );
        let neg_rev: Vec<i32> = h.negative_reverse_bucket_iter().map(|b| b.index).collect();
        assert_eq!(neg_rev, [1, 0]);
        assert_eq!(h.zero_bucket().to_string(), "[-0.7,0.7]:3");
    }

    #[test]
    fn merging_iterator_and_start_value() {
        let h = FloatHistogram {
            schema: 1,
            positive_spans: sp(&[(-2, 6)]),
            positive_buckets: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            ..FloatHistogram::default()
        };
        // Schema 1 indexes -2..3 map to schema 0 indexes -1, 0, 0, 1, 1, 2.
        let merged: Vec<(i32, f64)> = h
            .bucket_iter_for(true, 0.0, 0)
            .map(|b| (b.index, b.count))
            .collect();
        assert_eq!(merged, [(-1, 1.0), (0, 5.0), (1, 9.0), (2, 6.0)]);
        // Buckets with an upper bound ≤ 1 are skipped.
        let skipped: Vec<i32> = h.bucket_iter_for(true, 1.0, 0).map(|b| b.index).collect();
        assert_eq!(skipped, [1, 2]);
    }

    #[test]
    fn short_buckets_stop_iteration() {
        let h = FloatHistogram {
            positive_spans: sp(&[(0, 3)]),
            positive_buckets: vec![1.0],
            ..FloatHistogram::default()
        };
        assert_eq!(h.positive_bucket_iter().count(), 1);
    }
}
