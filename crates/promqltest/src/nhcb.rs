//! `load_with_nhcb`: classic histogram series (`_bucket` with `le`, `_count`, `_sum`) turned
//! into native histograms with custom buckets, as Prometheus's `convertnhcb` does.

use std::collections::BTreeMap;

use model::histogram::CUSTOM_BUCKETS_SCHEMA;
use model::{FloatHistogram, Labels, LabelsBuilder, Span};
use promql::parser::SequenceValue;

/// The classic histogram parts of one series at one timestamp (Go's `TempHistogram`).
#[derive(Default)]
struct Temp {
    /// `(le, cumulative count)`, sorted by `le`.
    buckets: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: f64,
    err: Option<String>,
}

impl Temp {
    fn set_bucket(&mut self, le: f64, count: f64) {
        if self.err.is_some() {
            return;
        }
        if count < 0.0 {
            self.err = Some(format!(
                "bucket count must be non-negative: le={le}, count={count}"
            ));
            return;
        }
        let i = self.buckets.partition_point(|(l, _)| *l < le);
        if self.buckets.get(i).is_some_and(|(l, _)| *l == le) {
            // A duplicate sample.
            return;
        }
        if i > 0 && count < self.buckets[i - 1].1 {
            self.err = Some(format!(
                "count is not cumulative: {count} < {}",
                self.buckets[i - 1].1
            ));
            return;
        }
        if let Some((_, next)) = self.buckets.get(i)
            && count > *next
        {
            self.err = Some(format!("count is not cumulative: {count} > {next}"));
            return;
        }
        self.buckets.insert(i, (le, count));
    }

    fn set_count(&mut self, count: f64) {
        if self.err.is_none() && count < 0.0 {
            self.err = Some(format!("count must be non-negative: count={count}"));
        } else if self.err.is_none() {
            self.count = Some(count);
        }
    }

    /// Go's `TempHistogram.Convert`, then `ToFloat` and validation.
    fn convert(mut self) -> Result<FloatHistogram, String> {
        if let Some(e) = self.err {
            return Err(e);
        }
        let count = match self.count {
            Some(c) => c,
            None => match self.buckets.last() {
                Some((_, c)) => *c,
                None => return Err("count must be provided when no buckets are present".into()),
            },
        };
        if self
            .buckets
            .last()
            .is_none_or(|(le, _)| *le != f64::INFINITY)
        {
            self.buckets.push((f64::INFINITY, count));
        }
        let integral = count.round() == count && self.buckets.iter().all(|(_, c)| c.round() == *c);
        let mut prev = 0.0;
        let mut h = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count,
            sum: self.sum,
            positive_spans: vec![Span {
                offset: 0,
                length: u32::try_from(self.buckets.len()).unwrap_or(u32::MAX),
            }],
            ..FloatHistogram::default()
        };
        for (le, c) in &self.buckets {
            h.positive_buckets.push(c - prev);
            prev = *c;
            if le.is_finite() || *le == f64::NEG_INFINITY {
                h.custom_values.push(*le);
            }
        }
        let last = self.buckets.last().map_or(0.0, |(_, c)| *c);
        if count != last {
            return Err(format!(
                "count mismatch: count={count} != le=+Inf count={last}"
            ));
        }
        // Integer histograms are compacted keeping up to two empty buckets, float ones none.
        h.compact(if integral { 2 } else { 0 });
        h.validate().map_err(|e| e.to_string())?;
        Ok(h)
    }
}

/// Which part of a classic histogram a series is, and the native histogram series it
/// belongs to.
fn classify(labels: &Labels) -> Option<(Part, Labels)> {
    let name = labels.metric_name()?;
    let (part, base) = if let Some(b) = name.strip_suffix("_bucket") {
        let le = labels.get("le")?.trim().parse::<f64>().ok()?;
        if le.is_nan() {
            return None;
        }
        (Part::Bucket(le), b)
    } else if let Some(b) = name.strip_suffix("_sum") {
        (Part::Sum, b)
    } else if let Some(b) = name.strip_suffix("_count") {
        (Part::Count, b)
    } else {
        return None;
    };
    let mut lb = LabelsBuilder::new(labels);
    lb.set(model::METRIC_NAME, base).del("le");
    Some((part, lb.labels()))
}

enum Part {
    Bucket(f64),
    Count,
    Sum,
}

/// A native histogram series and its samples.
pub(crate) type HistogramSeries = (Labels, Vec<(i64, FloatHistogram)>);

/// The native histogram series made of the classic histograms among `series`, each with
/// its samples in time order.
pub(crate) fn convert(
    series: &[(Labels, Vec<(i64, SequenceValue)>)],
) -> Result<Vec<HistogramSeries>, String> {
    let mut temps: BTreeMap<Labels, BTreeMap<i64, Temp>> = BTreeMap::new();
    for (labels, samples) in series {
        let Some((part, base)) = classify(labels) else {
            continue;
        };
        let by_ts = temps.entry(base).or_default();
        for (t, v) in samples {
            if v.histogram.is_some() {
                continue;
            }
            let temp = by_ts.entry(*t).or_default();
            match part {
                Part::Bucket(le) => temp.set_bucket(le, v.value),
                Part::Count => temp.set_count(v.value),
                Part::Sum => temp.sum = v.value,
            }
        }
    }
    let mut out = Vec::with_capacity(temps.len());
    for (labels, by_ts) in temps {
        let mut samples = Vec::with_capacity(by_ts.len());
        for (t, temp) in by_ts {
            samples.push((t, temp.convert()?));
        }
        out.push((labels, samples));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(v: f64) -> SequenceValue {
        SequenceValue {
            value: v,
            ..SequenceValue::default()
        }
    }

    #[test]
    fn classic_buckets_become_custom_buckets() {
        let l = |pairs: &[(&str, &str)]| Labels::from_pairs(pairs.iter().copied());
        let series = vec![
            (
                l(&[("__name__", "h_bucket"), ("le", "1")]),
                vec![(0, float(1.0))],
            ),
            (
                l(&[("__name__", "h_bucket"), ("le", "+Inf")]),
                vec![(0, float(4.0))],
            ),
            (
                l(&[("__name__", "h_bucket"), ("le", "0.5")]),
                vec![(0, float(1.0))],
            ),
            (l(&[("__name__", "h_sum")]), vec![(0, float(9.0))]),
            (l(&[("__name__", "h_count")]), vec![(0, float(4.0))]),
        ];
        let out = convert(&series).unwrap();
        assert_eq!(out.len(), 1);
        let (labels, samples) = &out[0];
        assert_eq!(labels, &l(&[("__name__", "h")]));
        let h = &samples[0].1;
        assert_eq!(h.custom_values, vec![0.5, 1.0]);
        assert_eq!((h.count, h.sum), (4.0, 9.0));
        assert_eq!(h.positive_buckets.iter().sum::<f64>(), 4.0);
        // Buckets that are not cumulative fail the load.
        let bad = vec![
            (
                l(&[("__name__", "h_bucket"), ("le", "1")]),
                vec![(0, float(3.0))],
            ),
            (
                l(&[("__name__", "h_bucket"), ("le", "2")]),
                vec![(0, float(1.0))],
            ),
        ];
        assert!(convert(&bad).unwrap_err().contains("not cumulative"));
    }
}
