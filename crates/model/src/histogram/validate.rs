//! Validation of native histograms, with Go's `Validate` checks and error texts.

use super::bounds::is_exponential_schema;
use super::{CUSTOM_BUCKETS_SCHEMA, FloatHistogram, Histogram, Span};
use crate::error::{HistogramError, HistogramErrorKind as Kind};
use crate::strconv::format_float_g;

/// Go's `%f`: six decimals, `+Inf`/`-Inf`/`NaN` spelled as Go does.
fn format_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v:.6}")
    }
}

/// Go's `checkHistogramSpans`: offsets after the first span are not negative, and the spans
/// need exactly `num_buckets` buckets.
fn check_spans(spans: &[Span], num_buckets: usize) -> Result<(), HistogramError> {
    let mut span_buckets = 0u64;
    for (n, span) in spans.iter().enumerate() {
        if n > 0 && span.offset < 0 {
            return Err(HistogramError::invalid(
                Kind::SpanNegativeOffset,
                format!("span number {} with offset {}", n + 1, span.offset),
            ));
        }
        span_buckets += u64::from(span.length);
    }
    if span_buckets != num_buckets as u64 {
        return Err(HistogramError::invalid(
            Kind::SpansBucketsMismatch,
            format!("spans need {span_buckets} buckets, have {num_buckets} buckets"),
        ));
    }
    Ok(())
}

/// Go's `checkHistogramBuckets` for absolute float counts: none negative; returns their sum.
fn check_float_buckets(buckets: &[f64]) -> Result<f64, HistogramError> {
    let mut sum = 0.0;
    for (i, &c) in buckets.iter().enumerate() {
        if c < 0.0 {
            return Err(HistogramError::invalid(
                Kind::NegativeBucketCount,
                format!(
                    "bucket number {} has observation count of {}",
                    i + 1,
                    format_float_g(c)
                ),
            ));
        }
        sum += c;
    }
    Ok(sum)
}

/// Go's `checkHistogramBuckets` for delta-encoded integer counts.
fn check_delta_buckets(buckets: &[i64]) -> Result<u64, HistogramError> {
    let mut sum = 0u64;
    let mut last = 0i64;
    for (i, &d) in buckets.iter().enumerate() {
        let c = last.wrapping_add(d);
        if c < 0 {
            return Err(HistogramError::invalid(
                Kind::NegativeBucketCount,
                format!("bucket number {} has observation count of {c}", i + 1),
            ));
        }
        last = c;
        sum = sum.wrapping_add(c as u64);
    }
    Ok(sum)
}

/// Go's `checkHistogramCustomBounds`.
fn check_custom_bounds(
    bounds: &[f64],
    spans: &[Span],
    num_buckets: usize,
) -> Result<(), HistogramError> {
    let mut prev = f64::NEG_INFINITY;
    for (i, &curr) in bounds.iter().enumerate() {
        if curr.is_nan() {
            return Err(HistogramError::invalid(Kind::CustomBucketsNaN, ""));
        }
        if i > 0 && curr <= prev {
            return Err(HistogramError::invalid(
                Kind::CustomBucketsInvalid,
                format!(
                    "previous bound is {} and current is {}",
                    format_f(prev),
                    format_f(curr)
                ),
            ));
        }
        prev = curr;
    }
    if prev == f64::INFINITY {
        return Err(HistogramError::invalid(
            Kind::CustomBucketsInfinite,
            "last +Inf bound must not be explicitly defined",
        ));
    }
    let mut span_buckets = 0u64;
    let mut total_span_length = 0i64;
    for (n, span) in spans.iter().enumerate() {
        if span.offset < 0 {
            return Err(HistogramError::invalid(
                Kind::SpanNegativeOffset,
                format!("span number {} with offset {}", n + 1, span.offset),
            ));
        }
        span_buckets += u64::from(span.length);
        total_span_length += i64::from(span.length) + i64::from(span.offset);
    }
    if span_buckets != num_buckets as u64 {
        return Err(HistogramError::invalid(
            Kind::SpansBucketsMismatch,
            format!("spans need {span_buckets} buckets, have {num_buckets} buckets"),
        ));
    }
    if (bounds.len() as i64 + 1) < total_span_length {
        return Err(HistogramError::invalid(
            Kind::CustomBucketsMismatch,
            format!(
                "only {} custom bounds defined which is insufficient to cover total span length of {total_span_length}",
                bounds.len()
            ),
        ));
    }
    Ok(())
}

/// The checks of custom-bucket histograms that do not depend on the count type.
fn check_custom_layout(
    bounds: &[f64],
    spans: &[Span],
    num_buckets: usize,
    zero_count_is_zero: bool,
    zero_threshold: f64,
    negative_spans: usize,
    negative_buckets: usize,
) -> Result<(), HistogramError> {
    check_custom_bounds(bounds, spans, num_buckets).map_err(|e| e.context("custom buckets"))?;
    if !zero_count_is_zero {
        return Err(HistogramError::invalid(Kind::CustomBucketsZeroCount, ""));
    }
    if zero_threshold != 0.0 {
        return Err(HistogramError::invalid(Kind::CustomBucketsZeroThresh, ""));
    }
    if negative_spans > 0 {
        return Err(HistogramError::invalid(Kind::CustomBucketsNegSpans, ""));
    }
    if negative_buckets > 0 {
        return Err(HistogramError::invalid(Kind::CustomBucketsNegBuckets, ""));
    }
    Ok(())
}

impl Histogram {
    /// Checks that spans and buckets agree, that no count is negative, that the fields fit
    /// the schema (exponential or custom buckets), and that `count` equals the observations
    /// in the buckets (or is at least that when `sum` is NaN, since NaN observations are in
    /// no bucket). Errors are worded as Go's `Histogram.Validate`.
    pub fn validate(&self) -> Result<(), HistogramError> {
        let mut n_count = 0u64;
        if self.schema == CUSTOM_BUCKETS_SCHEMA {
            check_custom_layout(
                &self.custom_values,
                &self.positive_spans,
                self.positive_buckets.len(),
                self.zero_count == 0,
                self.zero_threshold,
                self.negative_spans.len(),
                self.negative_buckets.len(),
            )?;
        } else if is_exponential_schema(self.schema) {
            check_spans(&self.positive_spans, self.positive_buckets.len())
                .map_err(|e| e.context("positive side"))?;
            check_spans(&self.negative_spans, self.negative_buckets.len())
                .map_err(|e| e.context("negative side"))?;
            n_count = check_delta_buckets(&self.negative_buckets)
                .map_err(|e| e.context("negative side"))?;
            if !self.custom_values.is_empty() {
                return Err(HistogramError::invalid(Kind::ExpSchemaCustomBounds, ""));
            }
        } else {
            return Err(HistogramError::invalid_schema(self.schema));
        }
        let p_count =
            check_delta_buckets(&self.positive_buckets).map_err(|e| e.context("positive side"))?;
        let in_buckets = n_count.wrapping_add(p_count).wrapping_add(self.zero_count);
        let context = format!(
            "{in_buckets} observations found in buckets, but the Count field is {}",
            self.count
        );
        if self.sum.is_nan() {
            if in_buckets > self.count {
                return Err(HistogramError::invalid(Kind::CountNotBigEnough, context));
            }
        } else if in_buckets != self.count {
            return Err(HistogramError::invalid(Kind::CountMismatch, context));
        }
        Ok(())
    }
}

impl FloatHistogram {
    /// Checks that spans and buckets agree, that no count is negative and that the fields
    /// fit the schema. Unlike [`Histogram::validate`], `count` is not compared with the
    /// bucket counts (float rounding would make that check fail falsely). Errors are worded
    /// as Go's `FloatHistogram.Validate`.
    pub fn validate(&self) -> Result<(), HistogramError> {
        if self.schema == CUSTOM_BUCKETS_SCHEMA {
            check_custom_layout(
                &self.custom_values,
                &self.positive_spans,
                self.positive_buckets.len(),
                self.zero_count == 0.0,
                self.zero_threshold,
                self.negative_spans.len(),
                self.negative_buckets.len(),
            )?;
        } else if is_exponential_schema(self.schema) {
            check_spans(&self.positive_spans, self.positive_buckets.len())
                .map_err(|e| e.context("positive side"))?;
            check_spans(&self.negative_spans, self.negative_buckets.len())
                .map_err(|e| e.context("negative side"))?;
            check_float_buckets(&self.negative_buckets).map_err(|e| e.context("negative side"))?;
            if self.zero_count < 0.0 {
                return Err(HistogramError::invalid(
                    Kind::NegativeBucketCount,
                    format!(
                        "zero bucket has observation count of {}",
                        format_float_g(self.zero_count)
                    ),
                ));
            }
            if !self.custom_values.is_empty() {
                return Err(HistogramError::invalid(Kind::ExpSchemaCustomBounds, ""));
            }
        } else {
            return Err(HistogramError::invalid_schema(self.schema));
        }
        if self.count < 0.0 {
            return Err(HistogramError::invalid(
                Kind::NegativeCount,
                format!("observation count is  {}", format_float_g(self.count)),
            ));
        }
        check_float_buckets(&self.positive_buckets).map_err(|e| e.context("positive side"))?;
        Ok(())
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

    /// Go's TestHistogramValidation table: (name, histogram, error, whether to skip the
    /// float form).
    #[test]
    fn histogram_validation_go_table() {
        const C: i32 = CUSTOM_BUCKETS_SCHEMA;
        let two_spans = sp(&[(0, 2), (1, 2)]);
        let cases: Vec<(&str, Histogram, &str, bool)> = vec![
            (
                "valid histogram",
                Histogram {
                    count: 12,
                    zero_count: 2,
                    zero_threshold: 0.001,
                    sum: 19.4,
                    schema: 1,
                    positive_spans: two_spans.clone(),
                    positive_buckets: vec![1, 1, -1, 0],
                    negative_spans: two_spans.clone(),
                    negative_buckets: vec![1, 1, -1, 0],
                    ..Histogram::default()
                },
                "",
                false,
            ),
            (
                "valid histogram with NaN observations",
                Histogram {
                    zero_count: 2,
                    count: 4,
                    sum: f64::NAN,
                    positive_spans: sp(&[(0, 1)]),
                    positive_buckets: vec![1],
                    ..Histogram::default()
                },
                "",
                false,
            ),
            (
                "rejects histogram without NaN observations with Count too high",
                Histogram {
                    zero_count: 2,
                    count: 4,
                    sum: 333.0,
                    positive_spans: sp(&[(0, 1)]),
                    positive_buckets: vec![1],
                    ..Histogram::default()
                },
                "3 observations found in buckets, but the Count field is 4: histogram's observation count should equal the number of observations found in the buckets (in absence of NaN)",
                true,
            ),
            (
                "too few negative buckets",
                Histogram {
                    negative_spans: sp(&[(0, 1)]),
                    ..Histogram::default()
                },
                "negative side: spans need 1 buckets, have 0 buckets: histogram spans specify different number of buckets than provided",
                false,
            ),
            (
                "too few positive buckets",
                Histogram {
                    positive_spans: sp(&[(0, 1)]),
                    ..Histogram::default()
                },
                "positive side: spans need 1 buckets, have 0 buckets: histogram spans specify different number of buckets than provided",
                false,
            ),
            (
                "too many negative buckets",
                Histogram {
                    negative_spans: sp(&[(0, 1)]),
                    negative_buckets: vec![1, 2],
                    ..Histogram::default()
                },
                "negative side: spans need 1 buckets, have 2 buckets: histogram spans specify different number of buckets than provided",
                false,
            ),
            (
                "too many positive buckets",
                Histogram {
                    positive_spans: sp(&[(0, 1)]),
                    positive_buckets: vec![1, 2],
                    ..Histogram::default()
                },
                "positive side: spans need 1 buckets, have 2 buckets: histogram spans specify different number of buckets than provided",
                false,
            ),
            (
                "negative span with a negative offset",
                Histogram {
                    negative_spans: sp(&[(-1, 1), (-1, 1)]),
                    negative_buckets: vec![1, 2],
                    ..Histogram::default()
                },
                "negative side: span number 2 with offset -1: histogram has a span whose offset is negative",
                false,
            ),
            (
                "positive span with a negative offset",
                Histogram {
                    positive_spans: sp(&[(-1, 1), (-1, 1)]),
                    positive_buckets: vec![1, 2],
                    ..Histogram::default()
                },
                "positive side: span number 2 with offset -1: histogram has a span whose offset is negative",
                false,
            ),
            (
                "negative bucket with a negative count",
                Histogram {
                    negative_spans: sp(&[(-1, 1)]),
                    negative_buckets: vec![-1],
                    ..Histogram::default()
                },
                "negative side: bucket number 1 has observation count of -1: histogram has a bucket whose observation count is negative",
                false,
            ),
            (
                "positive bucket with a negative count",
                Histogram {
                    positive_spans: sp(&[(-1, 1)]),
                    positive_buckets: vec![-1],
                    ..Histogram::default()
                },
                "positive side: bucket number 1 has observation count of -1: histogram has a bucket whose observation count is negative",
                false,
            ),
            (
                "lower count than count in buckets",
                Histogram {
                    negative_spans: sp(&[(-1, 1)]),
                    positive_spans: sp(&[(-1, 1)]),
                    negative_buckets: vec![1],
                    positive_buckets: vec![1],
                    ..Histogram::default()
                },
                "2 observations found in buckets, but the Count field is 0: histogram's observation count should equal the number of observations found in the buckets (in absence of NaN)",
                true,
            ),
            (
                "zero bucket not counted",
                Histogram {
                    count: 2,
                    zero_count: 1,
                    negative_spans: sp(&[(-1, 1)]),
                    positive_spans: sp(&[(-1, 1)]),
                    negative_buckets: vec![1],
                    positive_buckets: vec![1],
                    ..Histogram::default()
                },
                "3 observations found in buckets, but the Count field is 2: histogram's observation count should equal the number of observations found in the buckets (in absence of NaN)",
                true,
            ),
            (
                "exponential histogram with custom buckets schema",
                Histogram {
                    count: 12,
                    zero_count: 2,
                    zero_threshold: 0.001,
                    sum: 19.4,
                    schema: C,
                    positive_spans: two_spans.clone(),
                    positive_buckets: vec![1, 1, -1, 0],
                    negative_spans: two_spans.clone(),
                    negative_buckets: vec![1, 1, -1, 0],
                    ..Histogram::default()
                },
                "custom buckets: only 0 custom bounds defined which is insufficient to cover total span length of 5: histogram custom bounds are too few",
                false,
            ),
            (
                "custom buckets histogram with exponential schema",
                Histogram {
                    count: 5,
                    sum: 19.4,
                    positive_spans: two_spans.clone(),
                    positive_buckets: vec![1, 1, -1, 0],
                    custom_values: vec![1.0, 2.0, 3.0, 4.0],
                    ..Histogram::default()
                },
                "histogram with exponential schema must not have custom bounds",
                false,
            ),
            (
                "custom buckets histogram with zero/negative buckets",
                Histogram {
                    count: 12,
                    zero_count: 2,
                    zero_threshold: 0.001,
                    sum: 19.4,
                    schema: C,
                    positive_spans: two_spans.clone(),
                    positive_buckets: vec![1, 1, -1, 0],
                    negative_spans: two_spans.clone(),
                    negative_buckets: vec![1, 1, -1, 0],
                    custom_values: vec![1.0, 2.0, 3.0, 4.0],
                    ..Histogram::default()
                },
                "custom buckets: must have zero count of 0",
                false,
            ),
            (
                "custom buckets with negative offset in first span",
                Histogram {
                    count: 5,
                    sum: 19.4,
                    schema: C,
                    positive_spans: sp(&[(-1, 2), (1, 2)]),
                    positive_buckets: vec![1, 1, -1, 0],
                    custom_values: vec![1.0, 2.0, 3.0, 4.0],
                    ..Histogram::default()
                },
                "custom buckets: span number 1 with offset -1: histogram has a span whose offset is negative",
                false,
            ),
            (
                "custom buckets with negative offset in subsequent spans",
                Histogram {
                    count: 5,
                    sum: 19.4,
                    schema: C,
                    positive_spans: sp(&[(0, 2), (-1, 2)]),
                    positive_buckets: vec![1, 1, -1, 0],
                    custom_values: vec![1.0, 2.0, 3.0, 4.0],
                    ..Histogram::default()
                },
                "custom buckets: span number 2 with offset -1: histogram has a span whose offset is negative",
                false,
            ),
            (
                "custom buckets with non-matching bucket counts",
                Histogram {
                    count: 5,
                    sum: 19.4,
                    schema: C,
                    positive_spans: two_spans.clone(),
                    positive_buckets: vec![1, 1, -1],
                    custom_values: vec![1.0, 2.0, 3.0, 4.0],
                    ..Histogram::default()
                },
                "custom buckets: spans need 4 buckets, have 3 buckets: histogram spans specify different number of buckets than provided",
                false,
            ),
            (
                "custom buckets with too few bounds",
                Histogram {
                    count: 5,
                    sum: 19.4,
                    schema: C,
                    positive_spans: two_spans.clone(),
                    positive_buckets: vec![1, 1, -1, 0],
                    custom_values: vec![1.0, 2.0, 3.0],
                    ..Histogram::default()
                },
                "custom buckets: only 3 custom bounds defined which is insufficient to cover total span length of 5: histogram custom bounds are too few",
                false,
            ),
            (
                "valid custom buckets histogram with extra bounds",
                Histogram {
                    count: 5,
                    sum: 19.4,
                    schema: C,
                    positive_spans: two_spans.clone(),
                    positive_buckets: vec![1, 1, -1, 0],
                    custom_values: (1..=8).map(f64::from).collect(),
                    ..Histogram::default()
                },
                "",
                false,
            ),
            (
                "non-increasing bound",
                Histogram {
                    schema: C,
                    custom_values: vec![0.0, 0.0],
                    ..Histogram::default()
                },
                "custom buckets: previous bound is 0.000000 and current is 0.000000: histogram custom bounds must be in strictly increasing order",
                false,
            ),
            (
                "explicit +Inf bound",
                Histogram {
                    schema: C,
                    custom_values: vec![1.0, f64::INFINITY],
                    ..Histogram::default()
                },
                "custom buckets: last +Inf bound must not be explicitly defined: histogram custom bounds must be finite",
                false,
            ),
            (
                "explicit -Inf bound",
                Histogram {
                    schema: C,
                    custom_values: vec![f64::NEG_INFINITY, 1.0],
                    ..Histogram::default()
                },
                "",
                false,
            ),
            (
                "NaN bound",
                Histogram {
                    schema: C,
                    custom_values: vec![1.0, f64::NAN, 3.0],
                    ..Histogram::default()
                },
                "custom buckets: histogram custom bounds must not be NaN",
                false,
            ),
            (
                "schema too high",
                Histogram {
                    schema: 10,
                    ..Histogram::default()
                },
                "histogram has an invalid schema, which must be between -4 and 8 for exponential buckets, or -53 for custom buckets, got schema 10",
                false,
            ),
            (
                "schema too low",
                Histogram {
                    schema: -10,
                    ..Histogram::default()
                },
                "histogram has an invalid schema, which must be between -4 and 8 for exponential buckets, or -53 for custom buckets, got schema -10",
                false,
            ),
        ];
        for (name, h, want, skip_float) in cases {
            let got = h
                .validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert_eq!(got, want, "{name}");
            if !skip_float {
                let got = h
                    .to_float()
                    .validate()
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                assert_eq!(got, want, "{name} (float)");
            }
        }
    }

    #[test]
    fn schema_errors() {
        assert_eq!(
            HistogramError::unknown_schema(53).to_string(),
            "histogram has an unknown schema, which must be between -9 and 52 for exponential buckets, or -53 for custom buckets, got schema 53"
        );
        assert_eq!(
            HistogramError::invalid_schema(9).kind(),
            Some(Kind::InvalidSchema)
        );
    }

    #[test]
    fn float_validation_specifics() {
        let h = FloatHistogram {
            count: -1.0,
            ..FloatHistogram::default()
        };
        let err = h.validate().unwrap_err();
        assert_eq!(err.kind(), Some(Kind::NegativeCount));
        assert_eq!(
            err.to_string(),
            "observation count is  -1: histogram's observation count is negative"
        );
        let h = FloatHistogram {
            zero_count: -0.5,
            ..FloatHistogram::default()
        };
        assert_eq!(
            h.validate().unwrap_err().to_string(),
            "zero bucket has observation count of -0.5: histogram has a bucket whose observation count is negative"
        );
        // Count is not compared with the buckets for float histograms.
        let h = FloatHistogram {
            count: 1.0,
            positive_spans: sp(&[(0, 1)]),
            positive_buckets: vec![3.5],
            ..FloatHistogram::default()
        };
        assert!(h.validate().is_ok());
    }
}
