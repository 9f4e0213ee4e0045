//! Quantiles: of plain values, and of classic histogram buckets (Go's promql/quantile.go).

/// One classic histogram bucket: an upper bound (`le`) and its cumulative count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bucket {
    pub(crate) upper_bound: f64,
    pub(crate) count: f64,
}

/// The outcome of [`bucket_quantile`].
pub(crate) struct BucketQuantile {
    pub(crate) value: f64,
    pub(crate) forced_monotonic: bool,
    pub(crate) min_bucket: f64,
    pub(crate) max_bucket: f64,
    pub(crate) max_diff: f64,
}

fn sort_buckets(buckets: &mut [Bucket]) {
    buckets.sort_by(|a, b| {
        a.upper_bound
            .partial_cmp(&b.upper_bound)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
}

/// Merges buckets with the same upper bound (the input must be sorted).
fn coalesce(buckets: &mut Vec<Bucket>) {
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match out.last_mut() {
            Some(last) if last.upper_bound == b.upper_bound => last.count += b.count,
            _ => out.push(*b),
        }
    }
    *buckets = out;
}

/// Ignores tiny decreases that are float precision artifacts.
fn correct_precision_errors(buckets: &mut [Bucket], tolerance: f64) {
    if buckets.is_empty() {
        return;
    }
    let mut prev = buckets[0].count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        let delta = (curr - prev).abs();
        if delta == 0.0 {
            continue;
        }
        if delta / curr <= tolerance {
            b.count = prev;
        } else {
            prev = curr;
        }
    }
}

/// Makes counts non-decreasing; reports whether it had to, with the first and last bucket
/// bound involved and the largest correction.
fn ensure_monotonic(buckets: &mut [Bucket]) -> (bool, f64, f64, f64) {
    let mut forced = false;
    let (mut min_b, mut max_b, mut max_diff) = (f64::NAN, f64::NAN, 0.0f64);
    let mut max = buckets[0].count;
    for i in 1..buckets.len() {
        if buckets[i].count > max {
            max = buckets[i].count;
        } else if buckets[i].count < max {
            let diff = max - buckets[i].count;
            if !forced {
                min_b = buckets[i - 1].upper_bound;
            }
            max_b = buckets[i].upper_bound;
            max_diff = max_diff.max(diff);
            buckets[i].count = max;
            forced = true;
        }
    }
    (forced, min_b, max_b, max_diff)
}

/// The `q`-quantile of classic histogram buckets, interpolating linearly inside the bucket
/// (Go's `BucketQuantile`).
pub(crate) fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> BucketQuantile {
    let plain = |value| BucketQuantile {
        value,
        forced_monotonic: false,
        min_bucket: 0.0,
        max_bucket: 0.0,
        max_diff: 0.0,
    };
    if q.is_nan() {
        return plain(f64::NAN);
    }
    if q < 0.0 {
        return plain(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return plain(f64::INFINITY);
    }
    sort_buckets(buckets);
    match buckets.last() {
        Some(b) if b.upper_bound == f64::INFINITY => {}
        _ => return plain(f64::NAN),
    }
    coalesce(buckets);
    correct_precision_errors(buckets, 1e-12);
    let (forced, min_bucket, max_bucket, max_diff) = ensure_monotonic(buckets);
    let with = |value| BucketQuantile {
        value,
        forced_monotonic: forced,
        min_bucket,
        max_bucket,
        max_diff,
    };
    if buckets.len() < 2 {
        return plain(f64::NAN);
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return plain(f64::NAN);
    }
    let mut rank = q * observations;
    let n = buckets.len() - 1;
    let b = buckets[..n].partition_point(|bk| bk.count < rank);
    if b == n {
        return with(buckets[n - 1].upper_bound);
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        return with(buckets[0].upper_bound);
    }
    let mut bucket_start = 0.0;
    let bucket_end = buckets[b].upper_bound;
    let mut count = buckets[b].count;
    if b > 0 {
        bucket_start = buckets[b - 1].upper_bound;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    with(bucket_start + (bucket_end - bucket_start) * (rank / count))
}

/// The fraction of observations between `lower` and `upper` in classic histogram buckets
/// (Go's `BucketFraction`).
pub(crate) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<Bucket>) -> f64 {
    sort_buckets(buckets);
    match buckets.last() {
        Some(b) if b.upper_bound == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    coalesce(buckets);
    let count = buckets[buckets.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    for (i, b) in buckets.iter().enumerate() {
        let lower_bound = if i > 0 {
            buckets[i - 1].upper_bound
        } else if b.upper_bound > 0.0 {
            0.0
        } else {
            f64::NEG_INFINITY
        };
        let upper_bound = b.upper_bound;
        // Nothing is known about where observations lie inside a bucket with an infinite
        // bound: count them all as below any value inside it.
        let interpolate = |v: f64| {
            if lower_bound.is_infinite() {
                b.count
            } else if upper_bound.is_infinite() {
                rank
            } else {
                rank + (b.count - rank) * (v - lower_bound) / (upper_bound - lower_bound)
            }
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = b.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

/// The `q`-quantile of `values` with linear interpolation (Go's `quantile`); sorts `values`.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // Go's vectorByValueHeap order: NaN first, then ascending.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(le: f64, c: f64) -> Bucket {
        Bucket {
            upper_bound: le,
            count: c,
        }
    }

    #[test]
    fn bucket_quantile_interpolates_inside_the_bucket() {
        let mut bs = vec![b(f64::INFINITY, 100.0), b(1.0, 50.0), b(2.0, 100.0)];
        let r = bucket_quantile(0.5, &mut bs);
        assert_eq!(r.value, 1.0);
        let mut bs = vec![b(1.0, 0.0), b(2.0, 100.0), b(f64::INFINITY, 100.0)];
        assert_eq!(bucket_quantile(0.25, &mut bs).value, 1.25);
    }

    #[test]
    fn bucket_quantile_forces_monotonicity() {
        let mut bs = vec![b(1.0, 10.0), b(2.0, 5.0), b(f64::INFINITY, 10.0)];
        let r = bucket_quantile(0.5, &mut bs);
        assert!(r.forced_monotonic);
    }

    #[test]
    fn quantile_of_values() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert!(quantile(f64::NAN, &mut v).is_nan());
        assert_eq!(quantile(2.0, &mut v), f64::INFINITY);
    }
}
