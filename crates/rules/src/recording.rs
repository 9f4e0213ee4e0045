//! Recording rules (Go's `rules/recording.go`): the query's result, renamed and relabelled,
//! becomes new series.

use std::collections::HashSet;

use model::{Labels, Timestamp};
use promql::value::Vector;

use crate::rule::Status;
use crate::{Error, QueryFn};

/// A rule that records its query's result under a new metric name.
#[derive(Debug)]
pub struct RecordingRule {
    name: String,
    query: String,
    labels: Labels,
    pub(crate) status: Status,
}

impl RecordingRule {
    /// A recording rule writing `query`'s result as `name`, with `labels` added.
    pub fn new(name: &str, query: &str, labels: Labels) -> RecordingRule {
        RecordingRule {
            name: name.to_string(),
            query: query.to_string(),
            labels,
            status: Status::default(),
        }
    }

    /// The metric name the rule writes.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rule's query.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// The labels set on every result series.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Runs the query at `ts - query_offset` and returns the samples to append: each
    /// result's labels with `__name__` set to the record name and the rule's labels
    /// applied. Fails when two results end up with the same labels or when there are more
    /// than `limit` (> 0) of them.
    pub fn eval(
        &self,
        query_offset: i64,
        ts: Timestamp,
        query: &QueryFn,
        limit: i64,
    ) -> Result<Vector, Error> {
        let mut vector = query(&self.query, ts - query_offset)?;
        for sample in &mut vector {
            let mut b = sample.metric.builder();
            b.set(model::METRIC_NAME, &self.name);
            for (k, v) in &self.labels {
                b.set(k, v);
            }
            sample.metric = b.labels();
        }
        let mut seen = HashSet::with_capacity(vector.len());
        if !vector.iter().all(|s| seen.insert(&s.metric)) {
            return Err(Error::Eval(
                "vector contains metrics with the same labelset after applying rule labels"
                    .to_string(),
            ));
        }
        if limit > 0 && vector.len() as i64 > limit {
            return Err(Error::Eval(format!(
                "exceeded limit of {limit} with {} series",
                vector.len()
            )));
        }
        Ok(vector)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use promql::value::Sample;

    use super::*;

    fn sample(pairs: &[(&str, &str)], f: f64) -> Sample {
        Sample {
            h: None,
            metric: Labels::from_pairs(pairs.iter().copied()),
            t: 1000,
            f,
            drop_name: false,
        }
    }

    #[test]
    fn results_are_renamed_and_relabelled() {
        let q: QueryFn = Arc::new(|_: &str, _| {
            Ok(vec![
                sample(&[("__name__", "up"), ("job", "a"), ("team", "x")], 1.0),
                sample(&[("job", "b")], 0.0),
            ])
        });
        let r = RecordingRule::new("job:up", "up", Labels::from_pairs([("team", "y")]));
        let v = r.eval(0, 1000, &q, 0).expect("evaluates");
        assert_eq!(
            v[0].metric,
            Labels::from_pairs([("__name__", "job:up"), ("job", "a"), ("team", "y")])
        );
        assert_eq!(
            v[1].metric,
            Labels::from_pairs([("__name__", "job:up"), ("job", "b"), ("team", "y")])
        );
        assert!(
            matches!(r.eval(0, 1000, &q, 1), Err(Error::Eval(m)) if m == "exceeded limit of 1 with 2 series")
        );
    }

    #[test]
    fn same_labelset_after_rule_labels_is_an_error() {
        let q: QueryFn = Arc::new(|_: &str, _| {
            Ok(vec![
                sample(&[("job", "a"), ("team", "x")], 1.0),
                sample(&[("job", "a"), ("team", "z")], 1.0),
            ])
        });
        let r = RecordingRule::new("r", "x", Labels::from_pairs([("team", "y")]));
        let err = r.eval(0, 1000, &q, 0).expect_err("duplicate");
        assert_eq!(
            err.to_string(),
            "vector contains metrics with the same labelset after applying rule labels"
        );
    }

    #[test]
    fn query_runs_at_the_offset_time() {
        let q: QueryFn = Arc::new(|_: &str, t| Ok(vec![sample(&[("t", &t.to_string())], 1.0)]));
        let r = RecordingRule::new("r", "x", Labels::empty());
        let v = r.eval(30_000, 100_000, &q, 0).expect("evaluates");
        assert_eq!(v[0].metric.get("t"), Some("70000"));
    }
}
