//! Compaction (dropping empty buckets, merging close spans) and resolution reduction, shared
//! by [`Histogram`] (delta counts) and [`FloatHistogram`] (absolute counts).

use super::bounds::target_index;
use super::iter::span_indexes;
use super::{CUSTOM_BUCKETS_SCHEMA, FloatHistogram, Histogram, Span};
use crate::error::{HistogramError, HistogramErrorKind as Kind};

/// A bucket count, absolute.
pub(crate) trait Count: Copy + PartialEq {
    const ZERO: Self;
    /// The sum of two counts; integer counts wrap as Go's do, so that absurd input from a
    /// scrape or the WAL cannot panic.
    fn plus(self, other: Self) -> Self;
}

impl Count for f64 {
    const ZERO: f64 = 0.0;
    fn plus(self, other: f64) -> f64 {
        self + other
    }
}

impl Count for i64 {
    const ZERO: i64 = 0;
    fn plus(self, other: i64) -> i64 {
        self.wrapping_add(other)
    }
}

/// Walks spans and absolute buckets as `(index, count)`, stopping when either runs out.
fn walk<'a, T: Copy>(spans: &'a [Span], buckets: &'a [T]) -> impl Iterator<Item = (i32, T)> + 'a {
    span_indexes(spans).zip(buckets.iter().copied())
}

/// Go's `compactBuckets` on absolute counts: empty buckets at the edges of spans are
/// dropped; runs of more than `max_empty` empty buckets inside a span split it; spans at
/// most `max_empty` buckets apart are merged (the gap filled with empty buckets).
pub(crate) fn compact_buckets<T: Count>(
    spans: &[Span],
    buckets: &[T],
    max_empty: usize,
) -> (Vec<Span>, Vec<T>) {
    let mut out_spans: Vec<Span> = Vec::with_capacity(spans.len());
    let mut out_buckets: Vec<T> = Vec::with_capacity(buckets.len());
    let mut last: i64 = 0;
    for (idx, count) in walk(spans, buckets) {
        if count == T::ZERO {
            continue;
        }
        let idx = i64::from(idx);
        match out_spans.last_mut() {
            None => out_spans.push(Span {
                offset: idx as i32,
                length: 1,
            }),
            Some(span) => {
                let gap = idx - last - 1;
                if gap as u64 <= max_empty as u64 {
                    out_buckets.extend(std::iter::repeat_n(T::ZERO, gap as usize));
                    span.length += gap as u32 + 1;
                } else {
                    out_spans.push(Span {
                        offset: gap as i32,
                        length: 1,
                    });
                }
            }
        }
        out_buckets.push(count);
        last = idx;
    }
    (out_spans, out_buckets)
}

/// Go's `reduceResolution` on absolute counts: merges the buckets of `origin_schema` into
/// `target_schema` (≤ `origin_schema`).
pub(crate) fn reduce_buckets<T: Count>(
    spans: &[Span],
    buckets: &[T],
    origin_schema: i32,
    target_schema: i32,
) -> Result<(Vec<Span>, Vec<T>), HistogramError> {
    let mut target_spans: Vec<Span> = Vec::new();
    let mut target_buckets: Vec<T> = Vec::new();
    let mut bucket_idx: i32 = 0;
    let mut count_idx = 0usize;
    let mut last_target: i32 = 0;
    for (n, span) in spans.iter().enumerate() {
        if n > 0 && span.offset < 0 {
            return Err(HistogramError::invalid(
                Kind::SpanNegativeOffset,
                format!("span number {} with offset {}", n + 1, span.offset),
            ));
        }
        bucket_idx = bucket_idx.wrapping_add(span.offset);
        for _ in 0..span.length {
            let Some(&count) = buckets.get(count_idx) else {
                return Err(HistogramError::invalid(
                    Kind::SpansBucketsMismatch,
                    format!("have {} buckets but spans need more", buckets.len()),
                ));
            };
            let target = target_index(bucket_idx, origin_schema, target_schema);
            if target_spans.is_empty() {
                target_spans.push(Span {
                    offset: target,
                    length: 1,
                });
                target_buckets.push(count);
                last_target = target;
            } else if target == last_target {
                if let Some(b) = target_buckets.last_mut() {
                    *b = b.plus(count);
                }
            } else {
                let gap = target.wrapping_sub(last_target).wrapping_sub(1);
                if gap == 0 {
                    if let Some(s) = target_spans.last_mut() {
                        s.length += 1;
                    }
                } else {
                    target_spans.push(Span {
                        offset: gap,
                        length: 1,
                    });
                }
                target_buckets.push(count);
                last_target = target;
            }
            bucket_idx = bucket_idx.wrapping_add(1);
            count_idx += 1;
        }
    }
    if count_idx != buckets.len() {
        return Err(HistogramError::invalid(
            Kind::SpansBucketsMismatch,
            format!(
                "spans need {count_idx} buckets, have {} buckets",
                buckets.len()
            ),
        ));
    }
    Ok((target_spans, target_buckets))
}

/// Delta-encoded counts to absolute ones.
pub(crate) fn deltas_to_absolute(deltas: &[i64]) -> Vec<i64> {
    let mut acc = 0i64;
    deltas
        .iter()
        .map(|d| {
            acc = acc.wrapping_add(*d);
            acc
        })
        .collect()
}

/// Absolute counts to delta-encoded ones.
pub(crate) fn absolute_to_deltas(abs: &[i64]) -> Vec<i64> {
    let mut prev = 0i64;
    abs.iter()
        .map(|c| {
            let d = c.wrapping_sub(prev);
            prev = *c;
            d
        })
        .collect()
}

/// The error of reducing to a schema that is not lower, or of custom buckets.
fn check_reduce(schema: i32, target_schema: i32) -> Result<(), HistogramError> {
    if schema == CUSTOM_BUCKETS_SCHEMA {
        return Err(HistogramError::Unsupported(
            "cannot reduce resolution when there are custom buckets".to_string(),
        ));
    }
    if target_schema == CUSTOM_BUCKETS_SCHEMA {
        return Err(HistogramError::Unsupported(
            "cannot reduce resolution to custom buckets schema".to_string(),
        ));
    }
    if target_schema >= schema {
        return Err(HistogramError::Unsupported(format!(
            "cannot reduce resolution from schema {schema} to {target_schema}"
        )));
    }
    Ok(())
}

impl FloatHistogram {
    /// Removes empty buckets at the start and end of spans, splits spans at runs of more
    /// than `max_empty_buckets` empty buckets, and merges spans at most that many buckets
    /// apart (Go's `Compact`; the result is the same whatever the input's span layout).
    pub fn compact(&mut self, max_empty_buckets: usize) -> &mut Self {
        let (s, b) = compact_buckets(
            &self.positive_spans,
            &self.positive_buckets,
            max_empty_buckets,
        );
        self.positive_spans = s;
        self.positive_buckets = b;
        let (s, b) = compact_buckets(
            &self.negative_spans,
            &self.negative_buckets,
            max_empty_buckets,
        );
        self.negative_spans = s;
        self.negative_buckets = b;
        self
    }

    /// Merges the buckets into the lower-resolution `target_schema` (Go's
    /// `ReduceResolution`). Fails for custom buckets, a target that is not lower, and spans
    /// that disagree with the buckets; the histogram is unchanged then.
    pub fn reduce_resolution(&mut self, target_schema: i32) -> Result<(), HistogramError> {
        check_reduce(self.schema, target_schema)?;
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
        self.positive_spans = ps;
        self.positive_buckets = pb;
        self.negative_spans = ns;
        self.negative_buckets = nb;
        self.schema = target_schema;
        Ok(())
    }
}

impl Histogram {
    /// As [`FloatHistogram::compact`], keeping the counts delta-encoded.
    pub fn compact(&mut self, max_empty_buckets: usize) -> &mut Self {
        let abs = deltas_to_absolute(&self.positive_buckets);
        let (s, b) = compact_buckets(&self.positive_spans, &abs, max_empty_buckets);
        self.positive_spans = s;
        self.positive_buckets = absolute_to_deltas(&b);
        let abs = deltas_to_absolute(&self.negative_buckets);
        let (s, b) = compact_buckets(&self.negative_spans, &abs, max_empty_buckets);
        self.negative_spans = s;
        self.negative_buckets = absolute_to_deltas(&b);
        self
    }

    /// As [`FloatHistogram::reduce_resolution`], keeping the counts delta-encoded.
    pub fn reduce_resolution(&mut self, target_schema: i32) -> Result<(), HistogramError> {
        check_reduce(self.schema, target_schema)?;
        let abs = deltas_to_absolute(&self.positive_buckets);
        let (ps, pb) = reduce_buckets(&self.positive_spans, &abs, self.schema, target_schema)?;
        let abs = deltas_to_absolute(&self.negative_buckets);
        let (ns, nb) = reduce_buckets(&self.negative_spans, &abs, self.schema, target_schema)?;
        self.positive_spans = ps;
        self.positive_buckets = absolute_to_deltas(&pb);
        self.negative_spans = ns;
        self.negative_buckets = absolute_to_deltas(&nb);
        self.schema = target_schema;
        Ok(())
    }
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

    type Side<'a> = (&'a [(i32, u32)], &'a [i64]);

    #[test]
    fn reducing_absurd_counts_and_offsets_wraps_instead_of_panicking() {
        // Counts that overflow when merged and indexes at the ends of i32, as a hostile
        // scrape could send them.
        let mut h = hist(
            2,
            (
                &[(i32::MIN + 1, 2), (i32::MAX - 4, 2)],
                &[i64::MAX, 1, i64::MIN, 3],
            ),
            (&[], &[]),
            &[],
        );
        let _ = h.reduce_resolution(-4);
        let mut f = hist(2, (&[(0, 4)], &[i64::MAX, i64::MAX, 0, 1]), (&[], &[]), &[]);
        assert!(f.reduce_resolution(0).is_ok());
    }

    fn hist(schema: i32, pos: Side<'_>, neg: Side<'_>, cv: &[f64]) -> Histogram {
        Histogram {
            schema,
            positive_spans: sp(pos.0),
            positive_buckets: pos.1.to_vec(),
            negative_spans: sp(neg.0),
            negative_buckets: neg.1.to_vec(),
            custom_values: cv.to_vec(),
            ..Histogram::default()
        }
    }

    /// Go's TestHistogramCompact table: (name, input, max empty buckets, expected).
    #[test]
    fn histogram_compact_go_table() {
        const C: i32 = CUSTOM_BUCKETS_SCHEMA;
        let e: Side<'_> = (&[], &[]);
        let cases: Vec<(&str, Histogram, usize, Histogram)> = vec![
            ("empty histogram", hist(0, e, e, &[]), 0, hist(0, e, e, &[])),
            (
                "nothing should happen",
                hist(
                    0,
                    (&[(-2, 1), (2, 3)], &[1, 3, -3, 42]),
                    (&[(3, 2), (3, 2)], &[5, 3, 123400, 1000]),
                    &[],
                ),
                0,
                hist(
                    0,
                    (&[(-2, 1), (2, 3)], &[1, 3, -3, 42]),
                    (&[(3, 2), (3, 2)], &[5, 3, 123400, 1000]),
                    &[],
                ),
            ),
            (
                "eliminate zero offsets",
                hist(
                    0,
                    (&[(-2, 1), (0, 3), (0, 1)], &[1, 3, -3, 42, 3]),
                    (
                        &[(0, 2), (0, 2), (2, 1), (0, 1)],
                        &[5, 3, 123400, 1000, 3, 4],
                    ),
                    &[],
                ),
                0,
                hist(
                    0,
                    (&[(-2, 5)], &[1, 3, -3, 42, 3]),
                    (&[(0, 4), (2, 2)], &[5, 3, 123400, 1000, 3, 4]),
                    &[],
                ),
            ),
            (
                "eliminate zero length",
                hist(
                    0,
                    (&[(-2, 2), (2, 0), (3, 3)], &[1, 3, -3, 42, 3]),
                    (
                        &[(0, 2), (0, 0), (2, 0), (1, 4)],
                        &[5, 3, 123400, 1000, 3, 4],
                    ),
                    &[],
                ),
                0,
                hist(
                    0,
                    (&[(-2, 2), (5, 3)], &[1, 3, -3, 42, 3]),
                    (&[(0, 2), (3, 4)], &[5, 3, 123400, 1000, 3, 4]),
                    &[],
                ),
            ),
            (
                "eliminate multiple zero length spans",
                hist(
                    0,
                    (
                        &[(-2, 2), (2, 0), (2, 0), (2, 0), (3, 3)],
                        &[1, 3, -3, 42, 3],
                    ),
                    e,
                    &[],
                ),
                0,
                hist(0, (&[(-2, 2), (9, 3)], &[1, 3, -3, 42, 3]), e, &[]),
            ),
            (
                "cut empty buckets at start or end",
                hist(
                    0,
                    (&[(-4, 4), (5, 3)], &[0, 0, 1, 3, -3, 42, 3]),
                    (&[(0, 2), (3, 5)], &[5, 3, -4, -2, 3, 4, -9]),
                    &[],
                ),
                0,
                hist(
                    0,
                    (&[(-2, 2), (5, 3)], &[1, 3, -3, 42, 3]),
                    (&[(0, 2), (3, 4)], &[5, 3, -4, -2, 3, 4]),
                    &[],
                ),
            ),
            (
                "cut empty buckets at start and end",
                hist(
                    0,
                    (&[(-4, 4), (5, 6)], &[0, 0, 1, 3, -3, 42, 3, -46, 0, 0]),
                    (&[(-2, 4), (3, 5)], &[0, 0, 5, 3, -4, -2, 3, 4, -9]),
                    &[],
                ),
                0,
                hist(
                    0,
                    (&[(-2, 2), (5, 3)], &[1, 3, -3, 42, 3]),
                    (&[(0, 2), (3, 4)], &[5, 3, -4, -2, 3, 4]),
                    &[],
                ),
            ),
            (
                "cut empty buckets at start or end of spans, even in the middle",
                hist(
                    0,
                    (
                        &[(-4, 6), (3, 6)],
                        &[0, 0, 1, 3, -4, 0, 1, 42, 3, -46, 0, 0],
                    ),
                    (&[(0, 2), (2, 6)], &[5, 3, -8, 4, -2, 3, 4, -9]),
                    &[],
                ),
                0,
                hist(
                    0,
                    (&[(-2, 2), (5, 3)], &[1, 3, -3, 42, 3]),
                    (&[(0, 2), (3, 4)], &[5, 3, -4, -2, 3, 4]),
                    &[],
                ),
            ),
            (
                "cut empty buckets at start or end but merge spans due to maxEmptyBuckets",
                hist(
                    0,
                    (&[(-4, 4), (5, 3)], &[0, 0, 1, 3, -3, 42, 3]),
                    (&[(0, 2), (3, 5)], &[5, 3, -4, -2, 3, 4, -9]),
                    &[],
                ),
                10,
                hist(
                    0,
                    (&[(-2, 10)], &[1, 3, -4, 0, 0, 0, 0, 1, 42, 3]),
                    (&[(0, 9)], &[5, 3, -8, 0, 0, 4, -2, 3, 4]),
                    &[],
                ),
            ),
            (
                "cut empty buckets from the middle of a span",
                hist(
                    0,
                    (&[(-4, 6), (3, 3)], &[0, 0, 1, -1, 0, 3, -2, 42, 3]),
                    (&[(0, 2), (3, 5)], &[5, 3, -4, -2, -2, 3, 4]),
                    &[],
                ),
                0,
                hist(
                    0,
                    (&[(-2, 1), (2, 1), (3, 3)], &[1, 2, -2, 42, 3]),
                    (&[(0, 2), (3, 2), (1, 2)], &[5, 3, -4, -2, 1, 4]),
                    &[],
                ),
            ),
            (
                "cut out a span containing only empty buckets",
                hist(
                    0,
                    (&[(-4, 3), (2, 2), (3, 4)], &[0, 0, 1, -1, 0, 3, -2, 42, 3]),
                    e,
                    &[],
                ),
                0,
                hist(0, (&[(-2, 1), (7, 4)], &[1, 2, -2, 42, 3]), e, &[]),
            ),
            (
                "cut empty buckets from the middle of a span, avoiding some due to maxEmptyBuckets",
                hist(
                    0,
                    (&[(-4, 6), (3, 3)], &[0, 0, 1, -1, 0, 3, -2, 42, 3]),
                    (&[(0, 2), (3, 5)], &[5, 3, -4, -2, -2, 3, 4]),
                    &[],
                ),
                1,
                hist(
                    0,
                    (&[(-2, 1), (2, 1), (3, 3)], &[1, 2, -2, 42, 3]),
                    (&[(0, 2), (3, 5)], &[5, 3, -4, -2, -2, 3, 4]),
                    &[],
                ),
            ),
            (
                "avoiding all cutting of empty buckets from the middle of a chunk due to maxEmptyBuckets",
                hist(
                    0,
                    (&[(-4, 6), (3, 3)], &[0, 0, 1, -1, 0, 3, -2, 42, 3]),
                    (&[(0, 2), (3, 5)], &[5, 3, -4, -2, -2, 3, 4]),
                    &[],
                ),
                2,
                hist(
                    0,
                    (&[(-2, 4), (3, 3)], &[1, -1, 0, 3, -2, 42, 3]),
                    (&[(0, 2), (3, 5)], &[5, 3, -4, -2, -2, 3, 4]),
                    &[],
                ),
            ),
            (
                "everything merged into one span due to maxEmptyBuckets",
                hist(
                    0,
                    (&[(-4, 6), (3, 3)], &[0, 0, 1, -1, 0, 3, -2, 42, 3]),
                    (&[(0, 2), (3, 5)], &[5, 3, -4, -2, -2, 3, 4]),
                    &[],
                ),
                3,
                hist(
                    0,
                    (&[(-2, 10)], &[1, -1, 0, 3, -3, 0, 0, 1, 42, 3]),
                    (&[(0, 10)], &[5, 3, -8, 0, 0, 4, -2, -2, 3, 4]),
                    &[],
                ),
            ),
            (
                "only empty buckets and maxEmptyBuckets greater zero",
                hist(0, (&[(-4, 6), (3, 3)], &[0; 9]), (&[(0, 7)], &[0; 7]), &[]),
                3,
                hist(0, e, e, &[]),
            ),
            (
                "multiple spans of only empty buckets",
                hist(
                    0,
                    (&[(-10, 2), (2, 1), (3, 3)], &[0, 0, 0, 0, 2, 3]),
                    (&[(-10, 2), (2, 1), (3, 3)], &[2, 3, -5, 0, 0, 0]),
                    &[],
                ),
                0,
                hist(0, (&[(-1, 2)], &[2, 3]), (&[(-10, 2)], &[2, 3]), &[]),
            ),
            (
                "nothing should happen with custom buckets",
                hist(
                    C,
                    (&[(-2, 1), (2, 3)], &[1, 3, -3, 42]),
                    e,
                    &[5.0, 10.0, 15.0],
                ),
                0,
                hist(
                    C,
                    (&[(-2, 1), (2, 3)], &[1, 3, -3, 42]),
                    e,
                    &[5.0, 10.0, 15.0],
                ),
            ),
            (
                "eliminate zero offsets with custom buckets",
                hist(
                    C,
                    (&[(-2, 1), (0, 3), (0, 1)], &[1, 3, -3, 42, 3]),
                    e,
                    &[5.0, 10.0, 15.0, 20.0],
                ),
                0,
                hist(
                    C,
                    (&[(-2, 5)], &[1, 3, -3, 42, 3]),
                    e,
                    &[5.0, 10.0, 15.0, 20.0],
                ),
            ),
            (
                "cut empty buckets at start or end of spans, even in the middle, with custom buckets",
                hist(
                    C,
                    (
                        &[(-4, 6), (3, 6)],
                        &[0, 0, 1, 3, -4, 0, 1, 42, 3, -46, 0, 0],
                    ),
                    e,
                    &[5.0, 10.0, 15.0, 20.0],
                ),
                0,
                hist(
                    C,
                    (&[(-2, 2), (5, 3)], &[1, 3, -3, 42, 3]),
                    e,
                    &[5.0, 10.0, 15.0, 20.0],
                ),
            ),
        ];
        for (name, mut input, max_empty, expected) in cases {
            let float_in = input.to_float();
            input.compact(max_empty);
            assert_eq!(input, expected, "{name}");
            // The float form compacts to the same layout.
            let mut f = float_in;
            f.compact(max_empty);
            assert_eq!(f, expected.to_float(), "{name} (float)");
        }
    }

    /// Go's TestHistogramReduceResolution.
    #[test]
    fn histogram_reduce_resolution_go_table() {
        let side: Side<'_> = (&[(0, 4), (0, 0), (3, 2)], &[1, 2, -2, 1, -1, 0]);
        let mut h = hist(0, side, side, &[]);
        let mut f = h.to_float();
        h.reduce_resolution(-1).unwrap();
        let want_side: Side<'_> = (&[(0, 3), (1, 1)], &[1, 3, -2, 0]);
        let want = hist(-1, want_side, want_side, &[]);
        assert_eq!(h, want);
        f.reduce_resolution(-1).unwrap();
        assert_eq!(f, want.to_float());
        assert_eq!(
            f.reduce_resolution(0).unwrap_err().to_string(),
            "cannot reduce resolution from schema -1 to 0"
        );
    }

    #[test]
    fn reduce_resolution_errors() {
        let bad = (sp(&[(0, 1), (-2, 1)]), vec![1.0, 2.0]);
        let err = reduce_buckets(&bad.0, &bad.1, 1, 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "span number 2 with offset -2: histogram has a span whose offset is negative"
        );
        let err = reduce_buckets(&sp(&[(0, 3)]), &[1.0], 1, 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "have 1 buckets but spans need more: histogram spans specify different number of buckets than provided"
        );
        let err = reduce_buckets(&sp(&[(0, 1)]), &[1.0, 2.0], 1, 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "spans need 1 buckets, have 2 buckets: histogram spans specify different number of buckets than provided"
        );
    }

    fn arb_layout() -> impl Strategy<Value = (Vec<Span>, Vec<f64>)> {
        prop::collection::vec((-3i32..6, 0u32..5), 0..5).prop_flat_map(|raw| {
            let mut spans: Vec<Span> = raw
                .iter()
                .map(|&(offset, length)| Span {
                    offset: offset.max(0),
                    length,
                })
                .collect();
            if let (Some(first), Some(&(o, _))) = (spans.first_mut(), raw.first()) {
                first.offset = o;
            }
            let n: u32 = spans.iter().map(|s| s.length).sum();
            let counts = prop::collection::vec(prop_oneof![Just(0.0), 1.0..10.0f64], n as usize);
            (Just(spans), counts)
        })
    }

    proptest! {
        /// Compaction keeps every populated bucket at its index, drops all empty buckets at
        /// span edges, keeps no gap of at most `max_empty` between spans, and is idempotent.
        #[test]
        fn compaction_invariants((spans, buckets) in arb_layout(), max_empty in 0usize..4) {
            let (cs, cb) = compact_buckets(&spans, &buckets, max_empty);
            let populated = |s: &[Span], b: &[f64]| -> Vec<(i32, f64)> {
                span_indexes(s).zip(b.iter().copied()).filter(|(_, c)| *c != 0.0).collect()
            };
            prop_assert_eq!(populated(&spans, &buckets), populated(&cs, &cb));
            let total: u32 = cs.iter().map(|s| s.length).sum();
            prop_assert_eq!(total as usize, cb.len());
            for (i, s) in cs.iter().enumerate() {
                prop_assert!(s.length > 0);
                if i > 0 {
                    prop_assert!(s.offset as usize > max_empty);
                }
            }
            let mut pos = 0usize;
            for s in &cs {
                prop_assert!(cb[pos] != 0.0);
                prop_assert!(cb[pos + s.length as usize - 1] != 0.0);
                pos += s.length as usize;
            }
            let again = compact_buckets(&cs, &cb, max_empty);
            prop_assert_eq!(again, (cs, cb));
        }
    }
}
