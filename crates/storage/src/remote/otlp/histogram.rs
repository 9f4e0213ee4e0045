//! OTLP exponential and explicit-bucket histograms as native histograms (Prometheus's
//! `exponentialToNativeHistogram`, `explicitHistogramToCustomBucketsHistogram` and
//! `convertBucketsLayout`).

use model::histogram::{CUSTOM_BUCKETS_SCHEMA, CounterResetHint, Histogram, Span};
use prompb::otlp::{ExponentialHistogramDataPoint, FLAG_NO_RECORDED_VALUE, HistogramDataPoint};

/// The zero bucket width given to converted exponential histograms (Prometheus does not read
/// the point's own `zero_threshold` yet).
const DEFAULT_ZERO_THRESHOLD: f64 = 1e-128;

/// The finest and coarsest exponential schemas Prometheus stores.
const EXPONENTIAL_SCHEMA_MAX: i32 = 8;
const EXPONENTIAL_SCHEMA_MIN: i32 = -4;

/// Count and sum, or the staleness marker's bits for both when the point has no value.
fn count_and_sum(flags: u32, count: u64, sum: Option<f64>) -> (u64, f64) {
    if flags & FLAG_NO_RECORDED_VALUE != 0 {
        (
            model::value::STALE_NAN_BITS,
            f64::from_bits(model::value::STALE_NAN_BITS),
        )
    } else {
        (count, sum.unwrap_or(0.0))
    }
}

/// An exponential histogram point as an integer native histogram: scales above 8 are merged
/// down to 8, scales below -4 are refused; OTLP's bucket index i, covering (base^i,
/// base^(i+1)], is Prometheus's i+1.
pub(crate) fn exponential_to_native(
    p: &ExponentialHistogramDataPoint,
) -> Result<Histogram, String> {
    let mut scale = p.scale;
    if scale < EXPONENTIAL_SCHEMA_MIN {
        return Err(format!(
            "cannot convert exponential to native histogram. Scale must be >= {EXPONENTIAL_SCHEMA_MIN}, was {scale}"
        ));
    }
    let mut scale_down = 0;
    if scale > EXPONENTIAL_SCHEMA_MAX {
        scale_down = scale - EXPONENTIAL_SCHEMA_MAX;
        scale = EXPONENTIAL_SCHEMA_MAX;
    }
    let layout = |b: Option<&prompb::otlp::exponential_histogram_data_point::Buckets>| {
        b.map_or((Vec::new(), Vec::new()), |b| {
            buckets_layout(&b.bucket_counts, b.offset, scale_down, true)
        })
    };
    let (positive_spans, positive_buckets) = layout(p.positive.as_ref());
    let (negative_spans, negative_buckets) = layout(p.negative.as_ref());
    let (count, sum) = count_and_sum(p.flags, p.count, p.sum);
    Ok(Histogram {
        counter_reset_hint: CounterResetHint::Unknown,
        schema: scale,
        zero_threshold: DEFAULT_ZERO_THRESHOLD,
        zero_count: p.zero_count,
        count,
        sum,
        positive_spans,
        negative_spans,
        positive_buckets,
        negative_buckets,
        custom_values: Vec::new(),
    })
}

/// An explicit-bucket histogram point as a native histogram with custom buckets (NHCB): the
/// explicit bounds become the custom values, leading empty buckets are skipped.
pub(crate) fn explicit_to_custom_buckets(p: &HistogramDataPoint) -> Histogram {
    let offset = p.bucket_counts.iter().take_while(|&&c| c == 0).count();
    let (positive_spans, positive_buckets) = buckets_layout(
        &p.bucket_counts[offset..],
        i32::try_from(offset).unwrap_or(i32::MAX),
        0,
        false,
    );
    let (count, sum) = count_and_sum(p.flags, p.count, p.sum);
    Histogram {
        counter_reset_hint: CounterResetHint::Unknown,
        schema: CUSTOM_BUCKETS_SCHEMA,
        zero_threshold: 0.0,
        zero_count: 0,
        count,
        sum,
        positive_spans,
        negative_spans: Vec::new(),
        positive_buckets,
        negative_buckets: Vec::new(),
        custom_values: p.explicit_bounds.clone(),
    }
}

/// Dense bucket counts from `offset` on as spans and delta-encoded counts, merging 2^scale_down
/// buckets into one and starting a new span after gaps of more than two empty buckets (Go's
/// `convertBucketsLayout`, from client_golang's `makeBuckets`). `adjust_offset` shifts
/// exponential indexes by one (OTLP index i is Prometheus index i+1).
fn buckets_layout(
    counts: &[u64],
    offset: i32,
    scale_down: i32,
    adjust_offset: bool,
) -> (Vec<Span>, Vec<i64>) {
    if counts.is_empty() {
        return (Vec::new(), Vec::new());
    }
    // Go computes in int32 with wrapping; the same here keeps hostile offsets from panicking.
    let index = |i: i32| shr(i.wrapping_add(offset), scale_down).wrapping_add(1);
    let first = if adjust_offset {
        shr(offset, scale_down).wrapping_add(1)
    } else {
        offset
    };
    let mut out = Layout {
        spans: vec![Span {
            offset: first,
            length: 0,
        }],
        deltas: Vec::new(),
        prev: 0,
    };
    let mut bucket_idx = shr(offset, scale_down).wrapping_add(1);
    let mut count: i64 = 0;
    for (i, &c) in counts.iter().enumerate() {
        let next = index(i32::try_from(i).unwrap_or(i32::MAX));
        if bucket_idx == next {
            count = count.wrapping_add(c as i64);
            continue;
        }
        if count == 0 {
            count = c as i64;
            continue;
        }
        out.close(next.wrapping_sub(bucket_idx).wrapping_sub(1), count);
        count = c as i64;
        bucket_idx = next;
    }
    let last = index(
        i32::try_from(counts.len())
            .unwrap_or(i32::MAX)
            .wrapping_sub(1),
    );
    out.close(last.wrapping_sub(bucket_idx), count);
    (out.spans, out.deltas)
}

/// Go's arithmetic `v >> n` on int32, which saturates instead of overflowing for n >= 32.
fn shr(v: i32, n: i32) -> i32 {
    if n >= 31 { v >> 31 } else { v >> n.max(0) }
}

/// Spans and deltas under construction.
struct Layout {
    spans: Vec<Span>,
    deltas: Vec<i64>,
    prev: i64,
}

impl Layout {
    fn append(&mut self, count: i64) {
        if let Some(last) = self.spans.last_mut() {
            last.length += 1;
        }
        self.deltas.push(count.wrapping_sub(self.prev));
        self.prev = count;
    }

    /// Ends a bucket of `count` after `gap` empty ones: up to two are filled with empty
    /// buckets, longer gaps start a new span.
    fn close(&mut self, gap: i32, count: i64) {
        if gap > 2 {
            self.spans.push(Span {
                offset: gap,
                length: 0,
            });
        } else {
            for _ in 0..gap.max(0) {
                self.append(0);
            }
        }
        self.append(count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prompb::otlp::exponential_histogram_data_point::Buckets;

    fn span(offset: i32, length: u32) -> Span {
        Span { offset, length }
    }

    /// histograms_test.go's `TestConvertBucketsLayout` cases (positive side).
    #[test]
    fn bucket_layouts_as_prometheus_converts_them() {
        /// Counts, offset, scale-down, expected spans and deltas.
        type Case<'a> = (&'a [u64], i32, i32, Vec<Span>, Vec<i64>);
        let cases: &[Case<'_>] = &[
            (&[4, 3, 2, 1], 0, 0, vec![span(1, 4)], vec![4, -1, -1, -1]),
            (&[4, 3, 2, 1], 0, 1, vec![span(1, 2)], vec![7, -4]),
            (&[4, 3, 2, 1], 0, 2, vec![span(1, 1)], vec![10]),
            // Offset 1, scale down by 1: buckets 1+2 and 3+4 of OTLP merge.
            (&[4, 3, 2, 1], 1, 1, vec![span(1, 3)], vec![4, 1, -4]),
            (
                &[1, 0, 0, 0, 2],
                0,
                0,
                vec![span(1, 1), span(3, 1)],
                vec![1, 1],
            ),
            (&[1, 0, 0, 2], 0, 0, vec![span(1, 4)], vec![1, -1, 0, 2]),
            (&[0, 0, 1], -2, 0, vec![span(-1, 3)], vec![0, 0, 1]),
        ];
        for (counts, offset, down, spans, deltas) in cases {
            let (s, d) = buckets_layout(counts, *offset, *down, true);
            assert_eq!(
                (&s, &d),
                (spans, deltas),
                "{counts:?} offset {offset} down {down}"
            );
        }
        assert_eq!(buckets_layout(&[], 3, 0, true), (vec![], vec![]));
    }

    #[test]
    fn exponential_points_become_integer_histograms() {
        let p = ExponentialHistogramDataPoint {
            count: 10,
            sum: Some(30.0),
            scale: 10,
            zero_count: 1,
            positive: Some(Buckets {
                offset: 0,
                bucket_counts: vec![1, 1, 1, 1, 1, 1, 1, 1],
            }),
            negative: Some(Buckets {
                offset: 0,
                bucket_counts: vec![1],
            }),
            ..Default::default()
        };
        let h = exponential_to_native(&p).unwrap();
        assert_eq!(h.schema, 8);
        assert_eq!(h.zero_threshold, 1e-128);
        assert_eq!((h.count, h.sum, h.zero_count), (10, 30.0, 1));
        assert_eq!(h.positive_spans, vec![span(1, 2)]);
        assert_eq!(h.positive_buckets, vec![4, 0]);
        assert_eq!(h.negative_spans, vec![span(1, 1)]);
        assert_eq!(h.negative_buckets, vec![1]);

        let stale = ExponentialHistogramDataPoint {
            flags: FLAG_NO_RECORDED_VALUE,
            ..p.clone()
        };
        let h = exponential_to_native(&stale).unwrap();
        assert_eq!(h.count, model::value::STALE_NAN_BITS);
        assert!(model::value::is_stale_nan(h.sum));

        // A huge scale merges everything into one bucket instead of overflowing the shift.
        let fine = ExponentialHistogramDataPoint {
            scale: i32::MAX,
            ..p.clone()
        };
        let h = exponential_to_native(&fine).unwrap();
        assert_eq!(h.positive_spans, vec![span(1, 1)]);
        assert_eq!(h.positive_buckets, vec![8]);

        let coarse = ExponentialHistogramDataPoint { scale: -5, ..p };
        assert!(
            exponential_to_native(&coarse)
                .unwrap_err()
                .contains("Scale must be >= -4, was -5")
        );
    }

    #[test]
    fn explicit_points_become_custom_bucket_histograms() {
        let p = HistogramDataPoint {
            count: 20,
            sum: Some(30.0),
            bucket_counts: vec![0, 10, 10, 0],
            explicit_bounds: vec![1.0, 2.0, 5.0],
            ..Default::default()
        };
        let h = explicit_to_custom_buckets(&p);
        assert_eq!(h.schema, CUSTOM_BUCKETS_SCHEMA);
        assert_eq!(h.custom_values, vec![1.0, 2.0, 5.0]);
        assert_eq!(h.positive_spans, vec![span(1, 3)]);
        assert_eq!(h.positive_buckets, vec![10, 0, -10]);
        assert_eq!((h.count, h.sum), (20, 30.0));
    }
}
