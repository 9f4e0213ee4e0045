//! Native histogram limits of a scrape: `native_histogram_min_bucket_factor` (a maximum schema) and `native_histogram_bucket_limit` (Go's `maxSchemaAppender` and `bucketLimitAppender`).

use model::{FloatHistogram, Histogram};

use crate::textparse::protobufparse::{bucket_indexes, spans_for};

const SCHEMA_MIN: i32 = model::histogram::EXPONENTIAL_SCHEMA_MIN;
const SCHEMA_MAX: i32 = model::histogram::EXPONENTIAL_SCHEMA_MAX;
/// Schemas up to here are exponential (9 to 52 are reserved for finer ones).
const SCHEMA_MAX_RESERVED: i32 = 52;

/// Go's `pickSchema`: the largest schema whose bucket growth factor is at most
/// `bucket_factor` (a factor of at most 1 means no limit: schema 8).
pub(crate) fn pick_schema(bucket_factor: f64) -> i32 {
    let f = if bucket_factor <= 1.0 {
        1.00271
    } else {
        bucket_factor
    };
    let floor = (-f.log2().log2()).floor();
    if floor >= f64::from(SCHEMA_MAX) {
        SCHEMA_MAX
    } else if floor <= f64::from(SCHEMA_MIN) {
        SCHEMA_MIN
    } else {
        // Strictly between -4 and 8 here.
        #[allow(clippy::cast_possible_truncation)]
        let s = floor as i32;
        s
    }
}

/// A native histogram as scraped: integer or float.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scraped {
    Int(Histogram),
    Float(FloatHistogram),
}

impl Scraped {
    fn schema(&self) -> i32 {
        match self {
            Scraped::Int(h) => h.schema,
            Scraped::Float(h) => h.schema,
        }
    }

    fn buckets(&self) -> usize {
        match self {
            Scraped::Int(h) => h.positive_buckets.len() + h.negative_buckets.len(),
            Scraped::Float(h) => h.positive_buckets.len() + h.negative_buckets.len(),
        }
    }

    /// Merges buckets down to `schema` (lower than the current one). `false` when the
    /// spans do not describe the buckets, so nothing could be merged.
    fn reduce(&mut self, schema: i32) -> bool {
        match self {
            Scraped::Int(h) => {
                let d = h.schema - schema;
                let ok = reduce_deltas(&mut h.positive_spans, &mut h.positive_buckets, d)
                    && reduce_deltas(&mut h.negative_spans, &mut h.negative_buckets, d);
                if ok {
                    h.schema = schema;
                }
                ok
            }
            Scraped::Float(h) => {
                let d = h.schema - schema;
                let ok = reduce(&mut h.positive_spans, &mut h.positive_buckets, d, |a, b| {
                    a + b
                }) && reduce(&mut h.negative_spans, &mut h.negative_buckets, d, |a, b| {
                    a + b
                });
                if ok {
                    h.schema = schema;
                }
                ok
            }
        }
    }
}

/// Applies the maximum schema, then the bucket limit (0: none), lowering the resolution as
/// Prometheus does.
///
/// # Errors
/// `Err(())` when the histogram still has more than `bucket_limit` buckets at schema -4, or
/// has too many custom buckets (which cannot be merged).
pub(crate) fn apply(h: &mut Scraped, bucket_limit: u64, max_schema: i32) -> Result<(), ()> {
    let s = h.schema();
    if (SCHEMA_MIN..=SCHEMA_MAX_RESERVED).contains(&s) && s > max_schema && !h.reduce(max_schema) {
        return Err(());
    }
    if bucket_limit == 0 {
        return Ok(());
    }
    let over = |h: &Scraped| h.buckets() as u64 > bucket_limit;
    if over(h) && !(SCHEMA_MIN..=SCHEMA_MAX_RESERVED).contains(&h.schema()) {
        return Err(());
    }
    while over(h) {
        let s = h.schema();
        if s <= SCHEMA_MIN || !h.reduce(s - 1) {
            return Err(());
        }
    }
    Ok(())
}

/// Merges absolute bucket counts `by` schema steps: bucket `i` goes to `((i - 1) >> by) + 1`
/// (Go's `targetIdx`).
fn reduce<T: Copy>(
    spans: &mut Vec<model::Span>,
    buckets: &mut Vec<T>,
    by: i32,
    add: impl Fn(T, T) -> T,
) -> bool {
    if by <= 0 {
        return true;
    }
    let Some(indexes) = bucket_indexes(spans, buckets.len()) else {
        return false;
    };
    let mut idx_out: Vec<i64> = Vec::with_capacity(indexes.len());
    let mut out: Vec<T> = Vec::with_capacity(buckets.len());
    for (i, &c) in indexes.iter().zip(buckets.iter()) {
        let t = ((i - 1) >> by.min(63)) + 1;
        match (idx_out.last(), out.last_mut()) {
            (Some(&last), Some(acc)) if last == t => *acc = add(*acc, c),
            _ => {
                idx_out.push(t);
                out.push(c);
            }
        }
    }
    let Some(new_spans) = spans_for(&idx_out) else {
        return false;
    };
    *spans = new_spans;
    *buckets = out;
    true
}

/// [`reduce`] for delta-encoded integer buckets.
fn reduce_deltas(spans: &mut Vec<model::Span>, deltas: &mut Vec<i64>, by: i32) -> bool {
    let mut acc = 0i64;
    let mut abs: Vec<i64> = deltas
        .iter()
        .map(|d| {
            acc = acc.wrapping_add(*d);
            acc
        })
        .collect();
    if !reduce(spans, &mut abs, by, i64::wrapping_add) {
        return false;
    }
    let mut prev = 0i64;
    *deltas = abs
        .iter()
        .map(|&a| {
            let d = a.wrapping_sub(prev);
            prev = a;
            d
        })
        .collect();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Span;

    fn int(schema: i32, spans: &[(i32, u32)], deltas: &[i64]) -> Histogram {
        Histogram {
            schema,
            count: 0,
            positive_spans: spans
                .iter()
                .map(|&(offset, length)| Span { offset, length })
                .collect(),
            positive_buckets: deltas.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn pick_schema_matches_prometheus() {
        assert_eq!(pick_schema(0.0), 8);
        assert_eq!(pick_schema(1.0), 8);
        assert_eq!(pick_schema(1.1), 2);
        assert_eq!(pick_schema(2.0), 0);
        assert_eq!(pick_schema(4.0), -1);
        assert_eq!(pick_schema(1e10), -4);
    }

    #[test]
    fn reducing_merges_pairs_of_buckets() {
        // Schema 1 buckets 1..=4 (counts 1, 2, 3, 4) become schema 0 buckets 1 and 2.
        let mut h = Scraped::Int(int(1, &[(1, 4)], &[1, 1, 1, 1]));
        assert_eq!(apply(&mut h, 2, 8), Ok(()));
        assert_eq!(h, Scraped::Int(int(0, &[(1, 2)], &[3, 4])));
    }

    #[test]
    fn bucket_limit_lowers_the_schema_until_it_fits() {
        // Buckets 0..=7 at schema 2 (absolute counts all 1).
        let mut h = Scraped::Int(int(2, &[(0, 8)], &[1, 0, 0, 0, 0, 0, 0, 0]));
        assert_eq!(apply(&mut h, 3, 8), Ok(()));
        let Scraped::Int(h) = h else { unreachable!() };
        assert_eq!(h.schema, 0);
        // Schema 0 targets: 0 -> 0, 1..=4 -> 1, 5..=7 -> 2.
        assert_eq!(
            h.positive_spans,
            vec![Span {
                offset: 0,
                length: 3
            }]
        );
        assert_eq!(h.positive_buckets, vec![1, 3, -1]);
    }

    #[test]
    fn max_schema_reduces_float_histograms() {
        let mut h = Scraped::Float(FloatHistogram {
            schema: 3,
            positive_spans: vec![Span {
                offset: -2,
                length: 4,
            }],
            positive_buckets: vec![1.0, 2.0, 3.0, 4.0],
            ..Default::default()
        });
        assert_eq!(apply(&mut h, 0, 2), Ok(()));
        let Scraped::Float(h) = h else { unreachable!() };
        assert_eq!(h.schema, 2);
        // -2 -> -1; -1 and 0 -> 0; 1 -> 1.
        assert_eq!(
            h.positive_spans,
            vec![Span {
                offset: -1,
                length: 3
            }]
        );
        assert_eq!(h.positive_buckets, vec![1.0, 5.0, 4.0]);
    }

    #[test]
    fn limits_that_cannot_be_met_are_errors() {
        let mut h = Scraped::Int(int(-4, &[(0, 3)], &[1, 0, 0]));
        assert_eq!(apply(&mut h, 2, 8), Err(()));
        let mut custom = Scraped::Float(FloatHistogram {
            schema: model::histogram::CUSTOM_BUCKETS_SCHEMA,
            positive_spans: vec![Span {
                offset: 0,
                length: 3,
            }],
            positive_buckets: vec![1.0, 1.0, 1.0],
            custom_values: vec![1.0, 2.0],
            ..Default::default()
        });
        assert_eq!(apply(&mut custom, 2, 8), Err(()));
        assert_eq!(apply(&mut custom, 3, 0), Ok(()));
    }
}
