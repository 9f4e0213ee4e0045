//! Compensated (Kahan–Neumaier) summation of float histograms, as Prometheus's `KahanAdd`
//! does it for `sum`, `avg`, `sum_over_time` and `avg_over_time`: every count, the sum,
//! the zero count and each bucket carry a compensation term in a parallel histogram, which
//! the caller adds to the result once the fold is done.

use std::collections::BTreeMap;

use super::arith::{AddOutcome, intersect_custom_bounds};
use super::bounds::{custom_bounds_match, exponential_bound, target_index};
use super::iter::span_indexes;
use super::{FloatHistogram, Span};
use crate::error::{HistogramError, HistogramErrorKind};

/// Neumaier's compensated increment (Go's `kahansum.Inc`): adds `inc` to `sum` and returns
/// the new sum and the new compensation `c` (the compensation is dropped, set to 0, when the
/// sum overflows to ±Inf).
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// `(bucket index, value, compensation)`.
type Triple = (i32, f64, f64);

fn triples(spans: &[Span], buckets: &[f64], comps: Option<&[f64]>) -> Vec<Triple> {
    span_indexes(spans)
        .zip(buckets)
        .enumerate()
        .map(|(i, (idx, &v))| (idx, v, comps.and_then(|c| c.get(i)).copied().unwrap_or(0.0)))
        .collect()
}

/// Spans and the two parallel bucket arrays for ascending triples.
fn rebuild(items: impl IntoIterator<Item = Triple>) -> (Vec<Span>, Vec<f64>, Vec<f64>) {
    let mut spans: Vec<Span> = Vec::new();
    let (mut values, mut comps) = (Vec::new(), Vec::new());
    let mut last: Option<i32> = None;
    for (idx, v, c) in items {
        match (last, spans.last_mut()) {
            (Some(l), Some(s)) if i64::from(idx) == i64::from(l) + 1 => s.length += 1,
            (Some(l), _) => spans.push(Span {
                offset: idx.wrapping_sub(l).wrapping_sub(1),
                length: 1,
            }),
            (None, _) => spans.push(Span {
                offset: idx,
                length: 1,
            }),
        }
        values.push(v);
        comps.push(c);
        last = Some(idx);
    }
    (spans, values, comps)
}

/// Merges `b` into `a` (Go's `kahanAddBuckets`): a shared index adds `b`'s value, then its
/// compensation if any, with compensation; other buckets of `b` are inserted as they are.
/// Buckets of `b` for which `skip` holds are left out (they are in the zero bucket).
fn merge(
    a: Vec<Triple>,
    b: &[Triple],
    skip: impl Fn(i32) -> bool,
) -> (Vec<Span>, Vec<f64>, Vec<f64>) {
    let mut merged: BTreeMap<i32, (f64, f64)> =
        a.into_iter().map(|(i, v, c)| (i, (v, c))).collect();
    for &(idx, v, c) in b {
        if skip(idx) {
            continue;
        }
        merged
            .entry(idx)
            .and_modify(|(av, ac)| {
                let (nv, nc) = kahan_inc(v, *av, *ac);
                (*av, *ac) = if c != 0.0 {
                    kahan_inc(c, nv, nc)
                } else {
                    (nv, nc)
                };
            })
            .or_insert((v, c));
    }
    rebuild(merged.into_iter().map(|(i, (v, c))| (i, v, c)))
}

/// Go's `kahanReduceResolution`: the first bucket mapping to a target bucket is taken as it
/// is, each further one adds its value, then its compensation, with compensation.
fn reduce(items: Vec<Triple>, origin_schema: i32, target_schema: i32) -> Vec<Triple> {
    if origin_schema == target_schema {
        return items;
    }
    let mut out: Vec<Triple> = Vec::with_capacity(items.len());
    for (idx, v, c) in items {
        let t = target_index(idx, origin_schema, target_schema);
        match out.last_mut() {
            Some((last, tv, tc)) if *last == t => {
                let (nv, nc) = kahan_inc(v, *tv, *tc);
                (*tv, *tc) = kahan_inc(c, nv, nc);
            }
            _ => out.push((t, v, c)),
        }
    }
    out
}

/// The zero count this side would have with `larger` as threshold, compensated (Go's
/// `zeroCountForLargerThreshold` with a compensation histogram): returns the zero count, the
/// threshold (moved to the bound of a populated bucket it would cut) and the compensation.
fn kahan_zero_count_for_larger_threshold(
    zero_count: f64,
    c_zero_count: f64,
    schema: i32,
    positive: &[Triple],
    negative: &[Triple],
    larger: f64,
) -> (f64, f64, f64) {
    let mut threshold = larger;
    let mut c = c_zero_count;
    'outer: loop {
        let mut zc = zero_count;
        for &(idx, v, bc) in positive {
            let (lower, upper) = (
                exponential_bound(idx.wrapping_sub(1), schema),
                exponential_bound(idx, schema),
            );
            if lower >= threshold {
                break;
            }
            (zc, c) = kahan_inc(v, zc, c);
            (zc, c) = kahan_inc(bc, zc, c);
            if upper > threshold {
                if v != 0.0 {
                    threshold = upper;
                }
                break;
            }
        }
        for &(idx, v, bc) in negative {
            let (lower, upper) = (
                -exponential_bound(idx, schema),
                -exponential_bound(idx.wrapping_sub(1), schema),
            );
            if upper <= -threshold {
                break;
            }
            (zc, c) = kahan_inc(v, zc, c);
            (zc, c) = kahan_inc(bc, zc, c);
            if lower < -threshold {
                if v != 0.0 {
                    threshold = -lower;
                    continue 'outer;
                }
                break;
            }
        }
        return (zc, threshold, c);
    }
}

impl FloatHistogram {
    /// Adds `other` to this histogram with compensated summation (Go's `KahanAdd`): counts,
    /// sum, zero count and buckets are added as [`FloatHistogram::add`] adds them (schemas,
    /// zero thresholds and custom bounds reconciled the same way), the rounding errors
    /// accumulating in the compensation histogram `c`, which is returned for the next call.
    /// Pass `None` the first time; when the fold is done, add the last compensation with
    /// [`FloatHistogram::add`]:
    ///
    /// ```
    /// # use model::FloatHistogram;
    /// let h = |sum: f64| FloatHistogram { count: 1.0, sum, ..FloatHistogram::default() };
    /// let mut total = h(1.0);
    /// let mut c = None;
    /// for x in [1e100, 1.0, -1e100] {
    ///     let (next, _) = total.kahan_add(&h(x), c.take()).unwrap();
    ///     c = Some(next);
    /// }
    /// if let Some(c) = c {
    ///     total.add(&c).unwrap();
    /// }
    /// assert_eq!((total.count, total.sum), (4.0, 2.0));
    /// ```
    ///
    /// The buckets of the result and of the compensation share one span layout (no empty
    /// buckets, spans merged when adjacent). Fails, unchanged, on a mix of custom and
    /// exponential buckets.
    pub fn kahan_add(
        &mut self,
        other: &FloatHistogram,
        c: Option<FloatHistogram>,
    ) -> Result<(FloatHistogram, AddOutcome), HistogramError> {
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
        let c = c.unwrap_or_else(|| FloatHistogram {
            counter_reset_hint: self.counter_reset_hint,
            ..FloatHistogram::default()
        });
        let (count, c_count) = kahan_inc(other.count, self.count, c.count);
        let (sum, c_sum) = kahan_inc(other.sum, self.sum, c.sum);
        self.count = count;
        self.sum = sum;
        let mut comp = FloatHistogram {
            counter_reset_hint: c.counter_reset_hint,
            count: c_count,
            sum: c_sum,
            ..FloatHistogram::default()
        };
        let self_pos = triples(
            &self.positive_spans,
            &self.positive_buckets,
            Some(&c.positive_buckets),
        );

        if self.uses_custom_buckets() {
            let other_pos = triples(&other.positive_spans, &other.positive_buckets, None);
            let (spans, values, comps) =
                if custom_bounds_match(&self.custom_values, &other.custom_values) {
                    merge(self_pos, &other_pos, |_| false)
                } else {
                    outcome.nhcb_bounds_reconciled = true;
                    let bounds = intersect_custom_bounds(&self.custom_values, &other.custom_values);
                    let mapped = map_to_bounds(
                        &self_pos,
                        &self.custom_values,
                        &other_pos,
                        &other.custom_values,
                        &bounds,
                    );
                    self.custom_values = bounds;
                    mapped
                };
            self.positive_spans = spans.clone();
            self.positive_buckets = values;
            comp.schema = self.schema;
            comp.positive_spans = spans;
            comp.positive_buckets = comps;
            comp.custom_values = self.custom_values.clone();
            return Ok((comp, outcome));
        }

        let mut self_neg = triples(
            &self.negative_spans,
            &self.negative_buckets,
            Some(&c.negative_buckets),
        );
        let mut self_pos = self_pos;
        let mut self_zero_count = self.zero_count;
        let mut c_zero_count = c.zero_count;
        let mut threshold = self.zero_threshold;
        let mut other_zero_count = other.zero_count;
        let mut other_threshold = other.zero_threshold;
        while other_threshold != threshold && !other_threshold.is_nan() && !threshold.is_nan() {
            if threshold > other_threshold {
                (other_zero_count, other_threshold) =
                    other.zero_count_for_larger_threshold(threshold);
            }
            if other_threshold > threshold {
                let (zc, t, czc) = kahan_zero_count_for_larger_threshold(
                    self_zero_count,
                    c_zero_count,
                    self.schema,
                    &self_pos,
                    &self_neg,
                    other_threshold,
                );
                (self_zero_count, threshold, c_zero_count) = (zc, t, czc);
                // The buckets now inside the zero bucket go, and so do empty ones.
                let schema = self.schema;
                self_pos.retain(|&(idx, v, _)| {
                    exponential_bound(idx.wrapping_sub(1), schema) >= t && v != 0.0
                });
                self_neg.retain(|&(idx, v, _)| {
                    -exponential_bound(idx.wrapping_sub(1), schema) <= -t && v != 0.0
                });
            }
        }
        let (zero_count, c_zero) = kahan_inc(other_zero_count, self_zero_count, c_zero_count);

        let target = self.schema.min(other.schema);
        let self_pos = reduce(self_pos, self.schema, target);
        let self_neg = reduce(self_neg, self.schema, target);
        let other_pos = reduce(
            triples(&other.positive_spans, &other.positive_buckets, None),
            other.schema,
            target,
        );
        let other_neg = reduce(
            triples(&other.negative_spans, &other.negative_buckets, None),
            other.schema,
            target,
        );
        let in_zero = |idx: i32| exponential_bound(idx, target) <= threshold;
        let (ps, pv, pc) = merge(self_pos, &other_pos, in_zero);
        let (ns, nv, nc) = merge(self_neg, &other_neg, in_zero);

        self.schema = target;
        self.zero_threshold = threshold;
        self.zero_count = zero_count;
        self.positive_spans = ps.clone();
        self.positive_buckets = pv;
        self.negative_spans = ns.clone();
        self.negative_buckets = nv;
        comp.schema = target;
        comp.zero_threshold = threshold;
        comp.zero_count = c_zero;
        comp.positive_spans = ps;
        comp.positive_buckets = pc;
        comp.negative_spans = ns;
        comp.negative_buckets = nc;
        Ok((comp, outcome))
    }

    /// Whether any count, the sum, a bucket or a custom bound is ±Inf (Go's `HasOverflow`:
    /// PromQL's `avg` switches to an incremental mean then).
    pub fn has_overflow(&self) -> bool {
        [self.zero_count, self.count, self.sum]
            .iter()
            .chain(&self.positive_buckets)
            .chain(&self.negative_buckets)
            .chain(&self.custom_values)
            .any(|v| v.is_infinite())
    }
}

/// Go's `addCustomBucketsWithMismatches` with compensation: maps both sides onto the
/// intersected bounds (each bucket into the first target bucket whose bound is at least its
/// own), `a` with its compensation, and drops buckets whose value is zero.
fn map_to_bounds(
    a: &[Triple],
    a_bounds: &[f64],
    b: &[Triple],
    b_bounds: &[f64],
    intersected: &[f64],
) -> (Vec<Span>, Vec<f64>, Vec<f64>) {
    let mut target = vec![(0.0f64, 0.0f64); intersected.len() + 1];
    let mut map = |side: &[Triple], bounds: &[f64]| {
        let mut k = 0usize;
        for &(idx, v, c) in side {
            let mut t = target.len() - 1;
            if idx >= 0 && (idx as usize) < bounds.len() {
                let bound = bounds[idx as usize];
                while k < intersected.len() {
                    if intersected[k] >= bound {
                        t = k;
                        break;
                    }
                    k += 1;
                }
            }
            let (tv, tc) = target[t];
            let (nv, nc) = kahan_inc(v, tv, tc);
            target[t] = if c != 0.0 {
                kahan_inc(c, nv, nc)
            } else {
                (nv, nc)
            };
        }
    };
    map(a, a_bounds);
    map(b, b_bounds);
    rebuild(
        target
            .into_iter()
            .enumerate()
            .filter(|(_, (v, _))| *v != 0.0)
            .map(|(i, (v, c))| (i as i32, v, c)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::{CUSTOM_BUCKETS_SCHEMA, CounterResetHint};

    /// 2^53: adding 1 to it rounds back to it, so plain sums lose the 1s.
    const BIG: f64 = 9007199254740992.0;

    fn exp(count: f64, sum: f64, zt: f64, zc: f64, buckets: &[f64]) -> FloatHistogram {
        FloatHistogram {
            count,
            sum,
            zero_threshold: zt,
            zero_count: zc,
            positive_spans: if buckets.is_empty() {
                vec![]
            } else {
                vec![Span {
                    offset: 0,
                    length: buckets.len() as u32,
                }]
            },
            positive_buckets: buckets.to_vec(),
            ..FloatHistogram::default()
        }
    }

    fn fold(hs: &[FloatHistogram]) -> FloatHistogram {
        let mut total = hs[0].clone();
        let mut c = None;
        for h in &hs[1..] {
            let (next, _) = total.kahan_add(h, c.take()).unwrap();
            assert_eq!(
                next.positive_spans, total.positive_spans,
                "compensation is parallel"
            );
            assert_eq!(next.positive_buckets.len(), total.positive_buckets.len());
            c = Some(next);
        }
        if let Some(c) = c {
            total.add(&c).unwrap();
        }
        total
    }

    #[test]
    fn neumaier_increment() {
        let (s, c) = kahan_inc(1.0, 1e100, 0.0);
        assert_eq!((s, c), (1e100, 1.0));
        let (s, c) = kahan_inc(-1e100, s, c);
        assert_eq!(s + c, 1.0);
        assert_eq!(kahan_inc(f64::MAX, f64::MAX, 5.0), (f64::INFINITY, 0.0));
    }

    #[test]
    fn compensation_recovers_what_plain_addition_loses() {
        let hs = [
            exp(BIG, BIG, 0.001, BIG, &[BIG]),
            exp(1.0, 1.0, 0.001, 1.0, &[1.0]),
            exp(1.0, 1.0, 0.001, 1.0, &[1.0]),
        ];
        let total = fold(&hs);
        assert_eq!(total.count, BIG + 2.0);
        assert_eq!(total.sum, BIG + 2.0);
        assert_eq!(total.zero_count, BIG + 2.0);
        assert_eq!(total.positive_buckets, [BIG + 2.0]);
        let mut plain = hs[0].clone();
        plain.add(&hs[1]).unwrap();
        plain.add(&hs[2]).unwrap();
        assert_eq!(plain.positive_buckets, [BIG]);
    }

    /// The sums of upstream's native_histograms.test `histogram_sum_over_time_3/4` cases.
    #[test]
    fn upstream_sum_over_time_sums() {
        let h = |count: f64, sum: f64| exp(count, sum, 0.0, 0.0, &[]);
        let total = fold(&[h(1.0, 1.0), h(2.0, 1e100), h(3.0, 1.0), h(4.0, -1e100)]);
        assert_eq!((total.count, total.sum), (10.0, 2.0));
        let total = fold(&[
            h(1.0, 5.3),
            h(2.0, 1e100),
            h(3.0, 1.0),
            h(4.0, -1e100),
            h(5.0, 2.0),
            h(6.0, 1e50),
            h(7.0, -1e50),
        ]);
        assert_eq!((total.count, total.sum), (28.0, 8.3));
    }

    /// Upstream's native_histograms.test: `sum_over_time(histogram_sum_over_time_2[8m:1m])`,
    /// through the notation parser and the compensated fold.
    #[test]
    fn upstream_sum_over_time_histograms() {
        let series = "{{schema:0 count:1e10 sum:5.30921651659898 z_bucket:1.78264e50 z_bucket_w:0.001 buckets:[1.78264E+50 1.78264E+215 1.78264E+219 3363.5121756487] n_buckets:[1178.20696291113 731.697776280323 715.201503759399 1386.11378876781 855.572553278132]}} {{schema:0 count:1e-6 sum:0.961118537914768 z_bucket:0.76342771 z_bucket_w:0.001 buckets:[0.76342771 0.76342771 0.76342771 195.70084087969] n_buckets:[421.30382970055 0 450441.779]}} {{schema:0 count:1e-6 sum:1.62091361305318 z_bucket:1.9592258 z_bucket_w:0.001 buckets:[1.9592258 1.9592258 1.9592258 1135.74692279] n_buckets:[0 4504.41779 588.599358265103 40.3760942760943]}} {{schema:0 count:1e-6 sum:0.865089463758091 z_bucket:7.69805412 z_bucket_w:0.001 buckets:[2.258E+220 2.258E+220 2.3757689E+217 1078.68071312804] n_buckets:[349.905284031261 0 0 0.161173466838949 588.599358]}} {{schema:0 count:1e-6 sum:0.323055185914577 z_bucket:458.90154 z_bucket_w:0.001 buckets:[7.69805412 7.69805412 2.258E+220 3173.28218135701]}} {{schema:0 count:1e-6 sum:0.951811357687154 z_bucket:1.78264e50 z_bucket_w:0.001 buckets:[458.90154 458.90154 7.69805412 2178.35] n_buckets:[2054.92644438789 844.560108898123]}} {{schema:0 count:1e-6 sum:0 z_bucket:5 z_bucket_w:0.001 buckets:[0 0 1.78264E+219 376.770478890989]}} {{schema:0 count:1e-6 sum:0 z_bucket:0 z_bucket_w:0.001 buckets:[0 0 458.90154 250325.5] n_buckets:[0 0.0000000011353 0 608.697257]}}";
        let mut hs = Vec::new();
        let mut rest = series;
        while !rest.is_empty() {
            let item = FloatHistogram::parse_notation_item(rest).unwrap();
            hs.extend(item.histograms);
            rest = rest[item.len..].trim_start();
        }
        assert_eq!(hs.len(), 8);
        let want = FloatHistogram::parse_notation(
            "{{schema:0 count:10000000000.000008 sum:10.03120467492675 z_bucket:3.56528e+50 z_bucket_w:0.001 buckets:[2.258e+220 2.2580178264e+220 2.6169037689e+220 261827.54331269444] n_buckets:[4004.342521030831 6080.675675179582 451745.57986202446 2035.3483135107433 1444.171911278132]}}",
        )
        .unwrap();
        let mut got = fold(&hs);
        got.compact(0);
        assert_eq!(got.to_string(), want.to_string());
    }

    #[test]
    fn reconciles_like_add() {
        // Different layouts, schemas and zero thresholds: the result equals the plain sum
        // when nothing needs compensating.
        let a = FloatHistogram {
            schema: 1,
            zero_threshold: 0.01,
            zero_count: 3.0,
            count: 20.0,
            sum: 7.0,
            positive_spans: vec![Span {
                offset: -2,
                length: 4,
            }],
            positive_buckets: vec![1.0, 2.0, 3.0, 4.0],
            negative_spans: vec![Span {
                offset: 1,
                length: 2,
            }],
            negative_buckets: vec![5.0, 2.0],
            counter_reset_hint: CounterResetHint::Gauge,
            ..FloatHistogram::default()
        };
        let b = FloatHistogram {
            schema: 0,
            zero_threshold: 0.5,
            zero_count: 1.0,
            count: 10.0,
            sum: 3.0,
            positive_spans: vec![Span {
                offset: 0,
                length: 3,
            }],
            positive_buckets: vec![4.0, 3.0, 2.0],
            ..FloatHistogram::default()
        };
        for (x, y) in [(&a, &b), (&b, &a)] {
            let mut plain = x.clone();
            plain.add(y).unwrap();
            plain.compact(0);
            let mut k = fold(&[x.clone(), y.clone()]);
            k.compact(0);
            assert!(k.equals(&plain), "{k} vs {plain}");
            assert_eq!(k.counter_reset_hint, plain.counter_reset_hint);
        }
    }

    #[test]
    fn custom_buckets() {
        let h = |v: f64, cv: &[f64]| FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: v,
            sum: v,
            positive_spans: vec![Span {
                offset: 0,
                length: 1,
            }],
            positive_buckets: vec![v],
            custom_values: cv.to_vec(),
            ..FloatHistogram::default()
        };
        let total = fold(&[h(BIG, &[5.0]), h(1.0, &[5.0]), h(1.0, &[5.0])]);
        assert_eq!(total.positive_buckets, [BIG + 2.0]);
        // Mismatched bounds keep the compensation through the remapping.
        let mut total = h(BIG, &[5.0]);
        let (c, _) = total.kahan_add(&h(1.0, &[5.0]), None).unwrap();
        let (c, outcome) = total.kahan_add(&h(1.0, &[5.0, 10.0]), Some(c)).unwrap();
        assert!(outcome.nhcb_bounds_reconciled);
        total.add(&c).unwrap();
        assert_eq!(total.custom_values, [5.0]);
        assert_eq!(total.positive_buckets, [BIG + 2.0]);
        let mut e = h(1.0, &[5.0]);
        let err = e
            .kahan_add(&exp(1.0, 1.0, 0.0, 0.0, &[]), None)
            .unwrap_err();
        assert_eq!(err.kind(), Some(HistogramErrorKind::IncompatibleSchema));
    }

    #[test]
    fn overflow() {
        assert!(!exp(1.0, 1.0, 0.0, 0.0, &[1.0]).has_overflow());
        assert!(exp(1.0, 1.0, 0.0, 0.0, &[f64::INFINITY]).has_overflow());
        assert!(exp(f64::NEG_INFINITY, 1.0, 0.0, 0.0, &[]).has_overflow());
    }
}
