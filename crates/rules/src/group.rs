//! Rule groups (Go's `rules/group.go`): rules evaluated in order at one timestamp, on an
//! interval aligned per group, with staleness markers for series that disappear, and the
//! restoration of alerts' `for` state from `ALERTS_FOR_STATE`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use model::{Labels, MatchType, Matcher, Timestamp};
use storage::ValueType;
use tokio_util::sync::CancellationToken;

use crate::manager::Shared;
use crate::rule::{Health, Rule};

pub(crate) mod dependency;

/// Mutable state of a group.
#[derive(Debug, Default)]
struct State {
    /// Per rule, the series its last successful evaluation wrote.
    series_in_previous_eval: Vec<HashSet<Labels>>,
    /// Series of rules that are gone, to be marked stale.
    stale_series: Vec<Labels>,
    evaluation_time: Duration,
    rule_duration_sum: Duration,
    last_evaluation: Option<SystemTime>,
    last_eval_timestamp: Option<Timestamp>,
    should_restore: bool,
}

#[derive(Debug)]
struct Inner {
    name: String,
    file: String,
    interval_ms: i64,
    limit: i64,
    query_offset_ms: Option<i64>,
    rules: Vec<Arc<Rule>>,
    /// Rule indexes in evaluation batches (see [`dependency::batches`]); used with
    /// concurrent evaluation only.
    batches: Vec<Vec<usize>>,
    shared: Arc<Shared>,
    state: Mutex<State>,
    /// Cancelled when the group is stopped (checked between rules).
    done: CancellationToken,
    /// Set for groups removed by a reload: their series get staleness markers.
    mark_stale: AtomicBool,
}

/// A rule group. Cheap to clone: clones share the group.
#[derive(Debug, Clone)]
pub struct Group(Arc<Inner>);

/// The key of a group among all files: `FILE;NAME` (Go's `GroupKey`).
pub fn group_key(file: &str, name: &str) -> String {
    format!("{file};{name}")
}

impl Group {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        name: &str,
        file: &str,
        interval_ms: i64,
        limit: i64,
        query_offset_ms: Option<i64>,
        rules: Vec<Rule>,
        batches: Vec<Vec<usize>>,
        should_restore: bool,
        shared: Arc<Shared>,
    ) -> Group {
        let key = group_key(file, name);
        shared.metrics.group(&key, |m| {
            m.rules = rules.len() as u64;
            m.interval_seconds = interval_ms as f64 / 1000.0;
        });
        let n = rules.len();
        Group(Arc::new(Inner {
            name: name.to_string(),
            file: file.to_string(),
            interval_ms: interval_ms.max(1),
            limit,
            query_offset_ms,
            rules: rules.into_iter().map(Arc::new).collect(),
            batches,
            shared,
            state: Mutex::new(State {
                series_in_previous_eval: vec![HashSet::new(); n],
                should_restore,
                ..State::default()
            }),
            done: CancellationToken::new(),
            mark_stale: AtomicBool::new(false),
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The file the group came from.
    pub fn file(&self) -> &str {
        &self.0.file
    }

    /// `FILE;NAME`.
    pub fn key(&self) -> String {
        group_key(&self.0.file, &self.0.name)
    }

    /// The evaluation interval.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.0.interval_ms.unsigned_abs())
    }

    /// The group's `limit` (0: none).
    pub fn limit(&self) -> i64 {
        self.0.limit
    }

    /// The query offset in effect: the group's own, else the manager's default.
    pub fn query_offset(&self) -> Duration {
        Duration::from_millis(self.query_offset_ms().unsigned_abs())
    }

    fn query_offset_ms(&self) -> i64 {
        self.0
            .query_offset_ms
            .unwrap_or_else(|| self.0.shared.default_query_offset_ms())
    }

    /// The rules, in evaluation order.
    pub fn rules(&self) -> &[Arc<Rule>] {
        &self.0.rules
    }

    /// The alerting rules, firing first, then pending, then by name (Go's
    /// `AlertingRules`).
    pub fn alerting_rules(&self) -> Vec<Arc<Rule>> {
        let mut out: Vec<(crate::AlertState, Arc<Rule>)> = self
            .0
            .rules
            .iter()
            .filter_map(|r| r.as_alerting().map(|a| (a.state(), r.clone())))
            .collect();
        out.sort_by(|(sa, a), (sb, b)| sb.cmp(sa).then_with(|| a.name().cmp(b.name())));
        out.into_iter().map(|(_, r)| r).collect()
    }

    /// Whether the group has an alerting rule.
    pub fn has_alerting_rules(&self) -> bool {
        self.0.rules.iter().any(|r| r.as_alerting().is_some())
    }

    /// How long the last evaluation took.
    pub fn evaluation_time(&self) -> Duration {
        self.state().evaluation_time
    }

    /// When the last evaluation started (wall clock).
    pub fn last_evaluation(&self) -> Option<SystemTime> {
        self.state().last_evaluation
    }

    /// The (aligned) timestamp of the last evaluation, in milliseconds.
    pub fn last_eval_timestamp(&self) -> Option<Timestamp> {
        self.state().last_eval_timestamp
    }

    /// The latest evaluation slot at or before `start_ms` (Go's `EvalTimestamp`): slots
    /// are `interval` apart, shifted by a per-group offset derived from the hash of the
    /// group's name and file, so that groups spread over the interval.
    pub fn eval_timestamp(&self, start_ms: Timestamp) -> Timestamp {
        let interval_ns = i128::from(self.0.interval_ms) * 1_000_000;
        let offset = self.slot_offset_ns();
        let adj = i128::from(start_ms) * 1_000_000 - offset;
        let base = adj - adj.rem_euclid(interval_ns);
        let next = base + offset;
        i64::try_from(next.div_euclid(1_000_000)).unwrap_or(start_ms)
    }

    /// The group's offset within its interval in nanoseconds: Go's `hash() % interval`,
    /// the hash of `{file, name}` as Prometheus 3's `labels.Labels.Hash`.
    fn slot_offset_ns(&self) -> i128 {
        let interval_ns = i128::from(self.0.interval_ms) * 1_000_000;
        let hash = Labels::from_pairs([("name", self.name()), ("file", self.file())]).hash();
        i128::from(hash) % interval_ns
    }

    /// The wall-clock time of one of this group's evaluation timestamps (milliseconds, as
    /// [`Group::eval_timestamp`] gives them), with the nanoseconds below the millisecond
    /// that Go's evaluation slot carries (its `ActiveAt` and `KeepFiringSince` show them).
    pub fn eval_time(&self, ts_ms: Timestamp) -> SystemTime {
        let sub_ms = u64::try_from(self.slot_offset_ns().rem_euclid(1_000_000)).unwrap_or(0);
        let at = match u64::try_from(ts_ms) {
            Ok(ms) => SystemTime::UNIX_EPOCH + Duration::from_millis(ms),
            Err(_) => SystemTime::UNIX_EPOCH - Duration::from_millis(ts_ms.unsigned_abs()),
        };
        at + Duration::from_nanos(sub_ms)
    }

    /// Whether two groups are the same definition (Go's `Equals`): then a reload keeps
    /// the running group.
    pub(crate) fn equals(&self, other: &Group) -> bool {
        self.0.name == other.0.name
            && self.0.file == other.0.file
            && self.0.interval_ms == other.0.interval_ms
            && self.0.limit == other.0.limit
            && self.0.query_offset_ms == other.0.query_offset_ms
            && self.0.rules.len() == other.0.rules.len()
            && self
                .0
                .rules
                .iter()
                .zip(&other.0.rules)
                .all(|(a, b)| a.definition() == b.definition())
    }

    /// Takes over what a reloaded group knew (Go's `CopyState`): evaluation times, the
    /// series of rules matched by name and labels, and their alerts; the series of rules
    /// that are gone become stale series.
    pub(crate) fn copy_state(&self, from: &Group) {
        let from_state = {
            let s = from.state();
            (
                s.evaluation_time,
                s.last_evaluation,
                s.series_in_previous_eval.clone(),
                s.stale_series.clone(),
            )
        };
        let (evaluation_time, last_evaluation, from_series, from_stale) = from_state;
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in from.0.rules.iter().enumerate() {
            by_name.entry(name_and_labels(r)).or_default().push(i);
        }
        let mut st = self.state();
        st.evaluation_time = evaluation_time;
        st.last_evaluation = last_evaluation;
        for (i, rule) in self.0.rules.iter().enumerate() {
            let Some(indexes) = by_name.get_mut(&name_and_labels(rule)) else {
                continue;
            };
            if indexes.is_empty() {
                continue;
            }
            let fi = indexes.remove(0);
            if let Some(series) = from_series.get(fi) {
                st.series_in_previous_eval[i] = series.clone();
            }
            if let (Some(ar), Some(far)) = (rule.as_alerting(), from.0.rules[fi].as_alerting()) {
                ar.copy_alerts_from(far);
            }
        }
        st.stale_series = from_stale;
        for (fi, r) in from.0.rules.iter().enumerate() {
            if by_name
                .get(&name_and_labels(r))
                .is_some_and(|left| left.contains(&fi))
                && let Some(series) = from_series.get(fi)
            {
                st.stale_series.extend(series.iter().cloned());
            }
        }
    }

    /// One scheduled iteration (Go's `DefaultEvalIterationFunc`): evaluates the group at
    /// `ts` and records how long it took.
    pub fn iterate(&self, ts: Timestamp) {
        let key = self.key();
        let metrics = &self.0.shared.metrics;
        metrics.group(&key, |m| m.iterations_scheduled += 1);
        let start_wall = SystemTime::now();
        let start = Instant::now();
        self.eval(ts);
        let took = start.elapsed();
        metrics.observe_iteration_duration(took.as_secs_f64());
        let sum: Duration = self.0.rules.iter().map(|r| r.evaluation_duration()).sum();
        let wall_s = start_wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        metrics.group(&key, |m| {
            m.last_duration_seconds = took.as_secs_f64();
            m.last_rule_duration_sum_seconds = sum.as_secs_f64();
            m.last_evaluation_timestamp_seconds = wall_s;
        });
        let mut st = self.state();
        st.evaluation_time = took;
        st.rule_duration_sum = sum;
        st.last_evaluation = Some(start_wall);
        st.last_eval_timestamp = Some(ts);
    }

    /// Evaluates every rule at `ts` (milliseconds): appends recording results and alert
    /// series, sends alerts, and writes staleness markers for series a rule no longer
    /// produces (Go's `Group.Eval`). Rules run in order, unless the manager evaluates
    /// concurrently (`concurrent-rule-eval`): then the group's batches run one after another,
    /// and the rules of a batch of several run on their own threads while evaluation slots
    /// are free (the others run in turn on this one).
    pub fn eval(&self, ts: Timestamp) {
        let shared = &self.0.shared;
        let key = self.key();
        let offset = self.query_offset_ms();
        let mut samples_total = 0usize;
        match &shared.eval_slots {
            None => {
                for i in 0..self.0.rules.len() {
                    if self.0.done.is_cancelled() {
                        return;
                    }
                    samples_total += self.timed_eval_rule(i, ts, offset, &key);
                }
            }
            Some(slots) => {
                for batch in &self.0.batches {
                    let (done, n) = self.eval_batch(batch, slots, ts, offset, &key);
                    samples_total += n;
                    if done {
                        return;
                    }
                }
            }
        }
        shared
            .metrics
            .group(&key, |m| m.samples = samples_total as f64);
        self.cleanup_stale_series(ts);
    }

    /// Runs the rules of one batch, those that get an evaluation slot on threads of their
    /// own, and waits for all of them. Returns whether the group was stopped meanwhile and
    /// how many samples the rules produced.
    fn eval_batch(
        &self,
        batch: &[usize],
        slots: &crate::manager::EvalSlots,
        ts: Timestamp,
        offset: i64,
        key: &str,
    ) -> (bool, usize) {
        std::thread::scope(|scope| {
            let mut total = 0;
            let mut running = Vec::new();
            let mut stopped = false;
            for &i in batch {
                if self.0.done.is_cancelled() {
                    stopped = true;
                    break;
                }
                if batch.len() > 1
                    && let Some(slot) = slots.try_acquire()
                {
                    // The slot is given back when the closure ends or is dropped (a
                    // panicking evaluation, a thread that could not start).
                    let spawned = std::thread::Builder::new()
                        .name("rule-eval".into())
                        .spawn_scoped(scope, move || {
                            let _slot = slot;
                            self.timed_eval_rule(i, ts, offset, key)
                        });
                    match spawned {
                        Ok(handle) => {
                            running.push(handle);
                            continue;
                        }
                        Err(e) => {
                            tracing::warn!(err = %e, "starting a rule evaluation thread failed; evaluating in turn");
                        }
                    }
                }
                total += self.timed_eval_rule(i, ts, offset, key);
            }
            for handle in running {
                // A panicking rule evaluation is re-raised here, as a sequential one would.
                match handle.join() {
                    Ok(n) => total += n,
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            (stopped, total)
        })
    }

    /// Evaluates rule `i`, records how long it took, and returns how many samples it
    /// produced.
    fn timed_eval_rule(&self, i: usize, ts: Timestamp, offset: i64, key: &str) -> usize {
        let rule = &self.0.rules[i];
        let wall = SystemTime::now();
        let start = Instant::now();
        let n = self.eval_rule(i, rule, ts, offset, key);
        let took = start.elapsed();
        self.0
            .shared
            .metrics
            .observe_rule_duration(took.as_secs_f64());
        rule.status().update(|s| {
            s.evaluation_duration = took;
            s.evaluation_timestamp = Some(wall);
        });
        n
    }

    fn eval_rule(&self, i: usize, rule: &Rule, ts: Timestamp, offset: i64, key: &str) -> usize {
        let shared = &self.0.shared;
        let opts = &shared.opts;
        shared.metrics.group(key, |m| m.evaluations += 1);
        let fail = |err: String| {
            rule.status().update(|s| {
                s.health = Health::Bad;
                s.last_error = Some(err);
            });
        };
        // The queries of this evaluation (templates' included) name the group in the query
        // log, as Go's group context does.
        let origin = Arc::new(promql::QueryOrigin::rule_group(&self.0.file, &self.0.name)).enter();
        let result = match rule {
            Rule::Recording(r) => r.eval(offset, ts, &opts.query_fn, self.0.limit),
            Rule::Alerting(r) => r.eval(offset, ts, &opts.query_fn, self.0.limit),
        };
        drop(origin);
        let vector = match result {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(file = %self.0.file, group = %self.0.name, name = rule.name(), index = i, rule = crate::ruletext::yaml(rule), err = %e, "Evaluating rule failed");
                fail(e.to_string());
                shared.metrics.group(key, |m| m.evaluation_failures += 1);
                return 0;
            }
        };
        rule.status().update(|s| {
            s.health = Health::Good;
            s.last_error = None;
        });
        let samples = vector.len();
        if let Rule::Alerting(ar) = rule {
            ar.send_alerts(
                ts,
                duration_ms(opts.resend_delay),
                self.0.interval_ms,
                &opts.notify_fn,
            );
        }

        let mut app = opts.appendable.appender();
        // Taken out while the rule's results are appended, put back (or replaced by this
        // evaluation's series) once the appender is done.
        let previous = self
            .state()
            .series_in_previous_eval
            .get_mut(i)
            .map(std::mem::take)
            .unwrap_or_default();
        let mut returned = HashSet::with_capacity(previous.len());
        let (mut out_of_order, mut too_old, mut duplicates) = (0, 0, 0);
        for s in &vector {
            // Histogram results go in as float histograms, as Go's group eval does.
            let appended = match &s.h {
                Some(h) => app.append_histogram(0, &s.metric, s.t, None, Some(h)),
                None => app.append(0, &s.metric, s.t, s.f),
            };
            match appended {
                Ok(_) => {
                    returned.insert(s.metric.clone());
                }
                Err(e) => {
                    match e {
                        storage::Error::OutOfOrderSample => out_of_order += 1,
                        storage::Error::OutOfBounds | storage::Error::TooOldSample => too_old += 1,
                        storage::Error::DuplicateSampleForTimestamp => duplicates += 1,
                        _ => {
                            tracing::warn!(sample = %s.metric, err = %e, "Rule evaluation result discarded")
                        }
                    }
                    fail(e.to_string());
                }
            }
        }
        if out_of_order > 0 {
            tracing::warn!(
                num_dropped = out_of_order,
                "Error on ingesting out-of-order result from rule evaluation"
            );
        }
        if too_old > 0 {
            tracing::warn!(
                num_dropped = too_old,
                "Error on ingesting too old result from rule evaluation"
            );
        }
        if duplicates > 0 {
            tracing::warn!(
                num_dropped = duplicates,
                "Error on ingesting results from rule evaluation with different value but same timestamp"
            );
        }
        for lset in previous.difference(&returned) {
            // The series is no longer produced: mark it stale.
            if let Err(e) = app.append(0, lset, ts - offset, model::value::stale_nan())
                && !is_expected_append_error(&e)
            {
                tracing::warn!(sample = %lset, err = %e, "Adding stale sample failed");
            }
        }
        match app.commit() {
            Ok(()) => {
                if let Some(slot) = self.state().series_in_previous_eval.get_mut(i) {
                    *slot = returned;
                }
            }
            Err(e) => {
                tracing::warn!(err = %e, "Rule sample appending failed");
                fail(e.to_string());
                shared.metrics.group(key, |m| m.evaluation_failures += 1);
                if let Some(slot) = self.state().series_in_previous_eval.get_mut(i) {
                    *slot = previous;
                }
            }
        }
        samples
    }

    /// Writes staleness markers at `ts` for the series of rules that are gone.
    pub(crate) fn cleanup_stale_series(&self, ts: Timestamp) {
        let stale = std::mem::take(&mut self.state().stale_series);
        if stale.is_empty() {
            return;
        }
        let offset = self.query_offset_ms();
        let mut app = self.0.shared.opts.appendable.appender();
        for s in &stale {
            if let Err(e) = app.append(0, s, ts - offset, model::value::stale_nan())
                && !is_expected_append_error(&e)
            {
                tracing::warn!(sample = %s, err = %e, "Adding stale sample for previous configuration failed");
            }
        }
        if let Err(e) = app.commit() {
            tracing::warn!(err = %e, "Stale sample appending for previous configuration failed");
            self.state().stale_series = stale;
        }
    }

    /// Moves every series the group wrote to the stale list (the group was removed).
    pub(crate) fn move_all_series_to_stale(&self) {
        let mut st = self.state();
        let series: Vec<Labels> = st
            .series_in_previous_eval
            .iter_mut()
            .flat_map(std::mem::take)
            .collect();
        st.stale_series.extend(series);
    }

    pub(crate) fn should_restore(&self) -> bool {
        self.state().should_restore
    }

    pub(crate) fn set_mark_stale(&self) {
        self.0.mark_stale.store(true, Ordering::Relaxed);
    }

    pub(crate) fn mark_stale(&self) -> bool {
        self.0.mark_stale.load(Ordering::Relaxed)
    }

    pub(crate) fn done(&self) -> &CancellationToken {
        &self.0.done
    }

    /// Restores the `for` state of alerts from `ALERTS_FOR_STATE` series written within
    /// the outage tolerance before `ts` (Go's `RestoreForState`), then lets the rules
    /// write their alert series.
    pub fn restore_for_state(&self, ts: Timestamp) {
        let opts = &self.0.shared.opts;
        let tolerance = duration_ms(opts.outage_tolerance);
        let grace = duration_ms(opts.for_grace_period);
        let querier = match opts.queryable.querier(ts - tolerance, ts) {
            Ok(q) => q,
            Err(e) => {
                tracing::error!(err = %e, "Failed to get Querier");
                return;
            }
        };
        for rule in &self.0.rules {
            let Some(ar) = rule.as_alerting() else {
                continue;
            };
            let hold = duration_ms(ar.hold_duration());
            if hold < grace {
                // Restoring would make it wait for the grace period, longer than `for`.
                ar.set_restored(true);
                continue;
            }
            let matchers: Vec<Matcher> = ar
                .for_state_labels(None)
                .iter()
                .filter_map(|(k, v)| Matcher::new(MatchType::Equal, k, v).ok())
                .collect();
            let mut set = querier.select(false, None, &matchers);
            let mut series: HashMap<Labels, (Timestamp, f64)> = HashMap::new();
            while let Some(next) = set.next() {
                let s = match next {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(alertname = ar.name(), stage = "Select", err = %e, "Failed to restore 'for' state");
                        break;
                    }
                };
                let mut it = s.iterator();
                let mut last = None;
                while it.next() == ValueType::Float {
                    last = Some(it.at());
                }
                if let Some(last) = last {
                    series.insert(s.labels().without_metric_name(), last);
                }
            }
            if series.is_empty() {
                ar.set_restored(true);
                continue;
            }
            ar.for_each_alert(|a| {
                let Some(&(t, v)) = series.get(&a.labels) else {
                    return;
                };
                if model::value::is_stale_nan(v) {
                    return;
                }
                let down_at = t.div_euclid(1000) * 1000;
                let mut restored_active_at = (v as i64) * 1000;
                let remaining = hold - (down_at - restored_active_at);
                if remaining <= 0 {
                    // It was firing when the server went down; the next evaluation fires
                    // it again if the condition still holds.
                } else if remaining < grace {
                    restored_active_at = ts + grace - hold;
                } else {
                    restored_active_at += ts - down_at;
                }
                a.active_at = restored_active_at;
            });
            ar.set_restored(true);
        }
        self.state().should_restore = false;
    }
}

fn name_and_labels(r: &Rule) -> String {
    format!("{}{}", r.name(), r.labels())
}

fn is_expected_append_error(e: &storage::Error) -> bool {
    matches!(
        e,
        storage::Error::OutOfOrderSample
            | storage::Error::OutOfBounds
            | storage::Error::TooOldSample
            | storage::Error::DuplicateSampleForTimestamp
    )
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Group {
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.0.shared
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use storage::{Appendable, MemStorage, Queryable};

    use super::*;
    use crate::{Manager, ManagerOptions, NotifyFn, QueryFn};

    fn manager(db: &Arc<MemStorage>, q: QueryFn) -> Manager {
        let notify: NotifyFn = Arc::new(|_: &str, _: &[crate::Alert]| {});
        Manager::new(ManagerOptions::new(q, notify, db.clone(), db.clone()))
    }

    fn constant(names: &'static [&'static str]) -> QueryFn {
        Arc::new(move |_: &str, t| {
            Ok(names
                .iter()
                .map(|n| promql::value::Sample {
                    h: None,
                    metric: Labels::from_pairs([("job", *n)]),
                    t,
                    f: 1.0,
                    drop_name: false,
                })
                .collect())
        })
    }

    fn last_value(db: &MemStorage, name: &str, job: &str) -> Option<(Timestamp, f64)> {
        let q = db.querier(0, i64::MAX / 2).ok()?;
        let m = [
            Matcher::new(MatchType::Equal, "__name__", name).ok()?,
            Matcher::new(MatchType::Equal, "job", job).ok()?,
        ];
        let mut set = q.select(false, None, &m);
        let s = set.next()?.ok()?;
        let mut it = s.iterator();
        let mut last = None;
        while it.next() == ValueType::Float {
            last = Some(it.at());
        }
        last
    }

    fn write(dir: &std::path::Path, yaml: &str) -> String {
        let p = dir.join("r.yml");
        std::fs::write(&p, yaml).expect("write");
        p.to_str().expect("UTF-8").to_string()
    }

    #[test]
    fn a_removed_groups_series_are_marked_stale() {
        let db = Arc::new(MemStorage::new());
        let m = manager(&db, constant(&["a", "b"]));
        let dir = tempfile::tempdir().expect("tempdir");
        let f = write(
            dir.path(),
            "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: vector(1)\n",
        );
        let groups = m
            .load_groups(Duration::from_secs(15), &Labels::empty(), "", &[f])
            .expect("loads");
        let g = groups.values().next().expect("a group");
        g.eval(1_000);
        assert_eq!(last_value(&db, "r", "a"), Some((1_000, 1.0)));
        g.move_all_series_to_stale();
        g.cleanup_stale_series(5_000);
        for job in ["a", "b"] {
            let (t, v) = last_value(&db, "r", job).expect("sample");
            assert_eq!(t, 5_000);
            assert!(model::value::is_stale_nan(v));
        }
        let _ = db.appender();
    }

    #[test]
    fn series_of_a_rule_dropped_by_a_reload_become_stale() {
        let db = Arc::new(MemStorage::new());
        let m = manager(&db, constant(&["a"]));
        let dir = tempfile::tempdir().expect("tempdir");
        let f = write(
            dir.path(),
            "groups:\n  - name: g\n    rules:\n      - record: old\n        expr: vector(1)\n      - record: kept\n        expr: vector(1)\n",
        );
        let old = m
            .load_groups(
                Duration::from_secs(15),
                &Labels::empty(),
                "",
                std::slice::from_ref(&f),
            )
            .expect("loads");
        let old = old.values().next().expect("group");
        old.eval(1_000);
        let f = write(
            dir.path(),
            "groups:\n  - name: g\n    rules:\n      - record: kept\n        expr: vector(1)\n",
        );
        let new = m
            .load_groups(Duration::from_secs(15), &Labels::empty(), "", &[f])
            .expect("loads");
        let new = new.values().next().expect("group");
        assert!(!new.equals(old));
        new.copy_state(old);
        new.eval(16_000);
        let (t, v) = last_value(&db, "old", "a").expect("sample");
        assert_eq!(t, 16_000);
        assert!(model::value::is_stale_nan(v));
        assert_eq!(last_value(&db, "kept", "a"), Some((16_000, 1.0)));
    }

    /// The samples of `name`: floats as `Ok`, float histograms as `Err`.
    fn all_samples(
        db: &MemStorage,
        name: &str,
    ) -> Vec<(Timestamp, Result<f64, model::FloatHistogram>)> {
        let q = db.querier(0, i64::MAX / 2).expect("querier");
        let m = [Matcher::new(MatchType::Equal, "__name__", name).expect("matcher")];
        let mut set = q.select(false, None, &m);
        let mut out = Vec::new();
        while let Some(s) = set.next() {
            let s = s.expect("series");
            let mut it = s.iterator();
            loop {
                match it.next() {
                    ValueType::None => break,
                    ValueType::Float => {
                        let (t, v) = it.at();
                        out.push((t, Ok(v)));
                    }
                    _ => {
                        let (t, h) = it.at_float_histogram();
                        out.push((t, Err(h)));
                    }
                }
            }
        }
        out
    }

    /// Go's `tsdbutil.GenerateTestHistograms(n)`: integer histograms of schema 1 whose
    /// counts grow with the index.
    fn test_histograms(n: usize) -> Vec<model::Histogram> {
        let spans = vec![
            model::Span {
                offset: 0,
                length: 2,
            },
            model::Span {
                offset: 1,
                length: 2,
            },
        ];
        (0..n as u64)
            .map(|i| model::Histogram {
                count: 12 + i * 9,
                zero_count: 2 + i,
                zero_threshold: 0.001,
                sum: 18.4 * (i + 1) as f64,
                schema: 1,
                positive_spans: spans.clone(),
                positive_buckets: vec![i as i64 + 1, 1, -1, 0],
                negative_spans: spans.clone(),
                negative_buckets: vec![i as i64 + 1, 1, -1, 0],
                ..model::Histogram::default()
            })
            .collect()
    }

    /// Go's TestNativeHistogramsInRecordingRules: a recording rule summing integer
    /// histograms records the float histogram sum, appended as a histogram sample.
    #[test]
    fn native_histograms_in_recording_rules() {
        let db = Arc::new(MemStorage::new());
        let mut want: Option<model::FloatHistogram> = None;
        let mut app = db.appender();
        for (i, h) in test_histograms(5).iter().enumerate() {
            let idx = i.to_string();
            let l = Labels::from_pairs([("__name__", "histogram_metric"), ("idx", idx.as_str())]);
            app.append_histogram(0, &l, 0, Some(h), None)
                .expect("append");
            let fh = h.to_float();
            match &mut want {
                None => want = Some(fh),
                Some(w) => {
                    w.add(&fh).expect("add");
                }
            }
        }
        app.commit().expect("commit");
        let engine = Arc::new(promql::Engine::new(promql::EngineOpts::default()));
        let m = manager(&db, crate::engine_query_fn(engine, db.clone()));
        let dir = tempfile::tempdir().expect("tempdir");
        let f = write(
            dir.path(),
            "groups:\n  - name: g\n    rules:\n      - record: sum:histogram_metric\n        expr: sum(histogram_metric)\n",
        );
        let groups = m
            .load_groups(Duration::from_secs(15), &Labels::empty(), "", &[f])
            .expect("loads");
        let g = groups.values().next().expect("a group");
        g.eval(1_000);
        let g_rules = g.rules();
        assert_eq!(g_rules[0].last_error(), None);
        let got = all_samples(&db, "sum:histogram_metric");
        assert_eq!(got.len(), 1, "{got:?}");
        let (t, v) = &got[0];
        assert_eq!(*t, 1_000);
        let h = v.as_ref().expect_err("a histogram sample");
        let want = want.expect("inputs");
        assert!(h.equals(&want), "got {h}, want {want}");
    }

    /// The queries of a group's rules (and of their templates) reach the engine's query
    /// log with the group's file and name, as Go's `ruleGroup` origin.
    #[test]
    fn rule_queries_are_logged_with_their_group() {
        let db = Arc::new(MemStorage::new());
        let engine = Arc::new(promql::Engine::new(promql::EngineOpts::default()));
        let logged = Arc::new(Mutex::new(Vec::new()));
        let sink = logged.clone();
        engine.set_query_logger(Some(Arc::new(
            move |e: &promql::QueryLogEntry<'_>| -> std::io::Result<()> {
                let origin = e.origin.map(|o| (o.key().to_owned(), o.fields().to_vec()));
                sink.lock().expect("log").push((e.query.to_owned(), origin));
                Ok(())
            },
        )));
        let m = manager(&db, crate::engine_query_fn(engine, db.clone()));
        let dir = tempfile::tempdir().expect("tempdir");
        let f = write(
            dir.path(),
            "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: vector(1)\n      - alert: A\n        expr: vector(2)\n        annotations:\n          x: '{{ with query \"vector(3)\" }}{{ . }}{{ end }}'\n",
        );
        let groups = m
            .load_groups(
                Duration::from_secs(15),
                &Labels::empty(),
                "",
                std::slice::from_ref(&f),
            )
            .expect("loads");
        groups.values().next().expect("a group").eval(1_000);
        let origin = Some((
            "ruleGroup".to_owned(),
            vec![
                ("file".to_owned(), f.clone()),
                ("name".to_owned(), "g".to_owned()),
            ],
        ));
        let logged = logged.lock().expect("log");
        let queries: Vec<&str> = logged.iter().map(|(q, _)| q.as_str()).collect();
        assert_eq!(queries, ["vector(1)", "vector(2)", "vector(3)"]);
        assert!(logged.iter().all(|(_, o)| *o == origin), "{logged:?}");
        // Outside a group's evaluation, queries have no origin.
        assert_eq!(promql::QueryOrigin::current(), None);
    }

    /// A histogram series a rule no longer produces gets a float stale marker, as Go's
    /// group eval appends for vanished series.
    #[test]
    fn a_vanished_histogram_series_gets_a_float_stale_marker() {
        let db = Arc::new(MemStorage::new());
        let produce = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = produce.clone();
        let q: QueryFn = Arc::new(move |_: &str, t| {
            if !flag.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(Vec::new());
            }
            let h = model::FloatHistogram::parse_notation("{{count:2 sum:3 buckets:[2]}}")
                .expect("notation");
            Ok(vec![promql::value::Sample {
                h: Some(Arc::new(h)),
                metric: Labels::from_pairs([("job", "a")]),
                t,
                f: 0.0,
                drop_name: false,
            }])
        });
        let m = manager(&db, q);
        let dir = tempfile::tempdir().expect("tempdir");
        let f = write(
            dir.path(),
            "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: h\n",
        );
        let groups = m
            .load_groups(Duration::from_secs(15), &Labels::empty(), "", &[f])
            .expect("loads");
        let g = groups.values().next().expect("a group");
        g.eval(1_000);
        produce.store(false, std::sync::atomic::Ordering::SeqCst);
        g.eval(16_000);
        let got = all_samples(&db, "r");
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].0, 1_000);
        let h = got[0].1.as_ref().expect_err("histogram first");
        assert_eq!(h.count, 2.0);
        assert_eq!(got[1].0, 16_000);
        let stale = got[1].1.as_ref().expect("a float stale marker");
        assert!(model::value::is_stale_nan(*stale));
    }
}
