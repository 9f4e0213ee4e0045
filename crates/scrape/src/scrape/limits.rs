//! Native histogram limits of a scrape: `native_histogram_min_bucket_factor` (a maximum schema) and `native_histogram_bucket_limit` (Go's `maxSchemaAppender` and `bucketLimitAppender`), over model's `reduce_resolution`.

use model::{FloatHistogram, Histogram};

use crate::Error;

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

    /// Merges buckets down to the lower `schema` (model's `reduce_resolution`).
    fn reduce(&mut self, schema: i32) -> Result<(), Error> {
        let res = match self {
            Scraped::Int(h) => h.reduce_resolution(schema),
            Scraped::Float(h) => h.reduce_resolution(schema),
        };
        // Go's appender returns the error of ReduceResolution as it is.
        res.map_err(|e| Error::Storage {
            message: e.to_string(),
        })
    }
}

fn exponential(schema: i32) -> bool {
    (SCHEMA_MIN..=SCHEMA_MAX_RESERVED).contains(&schema)
}

/// Applies the maximum schema, then the bucket limit (0: none), lowering the resolution as
/// Prometheus does (`maxSchemaAppender`, `bucketLimitAppender`).
///
/// # Errors
/// [`Error::BucketLimit`] when the histogram still has more than `bucket_limit` buckets at
/// schema -4 or has too many custom buckets (which cannot be merged); the reduction's own
/// error when its spans do not describe its buckets.
pub(crate) fn apply(h: &mut Scraped, bucket_limit: u64, max_schema: i32) -> Result<(), Error> {
    if exponential(h.schema()) && h.schema() > max_schema {
        h.reduce(max_schema)?;
    }
    if bucket_limit == 0 {
        return Ok(());
    }
    let over = |h: &Scraped| h.buckets() as u64 > bucket_limit;
    if over(h) && !exponential(h.schema()) {
        return Err(Error::BucketLimit);
    }
    while over(h) {
        let s = h.schema();
        if s <= SCHEMA_MIN {
            return Err(Error::BucketLimit);
        }
        h.reduce(s - 1)?;
    }
    Ok(())
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
        apply(&mut h, 2, 8).unwrap();
        assert_eq!(h, Scraped::Int(int(0, &[(1, 2)], &[3, 4])));
    }

    #[test]
    fn bucket_limit_lowers_the_schema_until_it_fits() {
        // Buckets 0..=7 at schema 2 (absolute counts all 1).
        let mut h = Scraped::Int(int(2, &[(0, 8)], &[1, 0, 0, 0, 0, 0, 0, 0]));
        apply(&mut h, 3, 8).unwrap();
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
        apply(&mut h, 0, 2).unwrap();
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
        assert_eq!(apply(&mut h, 2, 8), Err(Error::BucketLimit));
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
        assert_eq!(apply(&mut custom, 2, 8), Err(Error::BucketLimit));
        apply(&mut custom, 3, 0).unwrap();
        // Spans that do not describe the buckets cannot be reduced.
        let mut bad = Scraped::Int(int(2, &[(0, 5)], &[1, 0]));
        assert!(matches!(apply(&mut bad, 1, 8), Err(Error::Storage { .. })));
    }
}
