//! The rule manager (Go's `rules/manager.go`): loads rule files into groups, runs one task
//! per group, replaces groups on reload (keeping the state of unchanged rules), stops them,
//! and exposes the groups to the API and its metrics.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use model::{Labels, Timestamp, ValidationScheme};
use storage::{Appendable, Queryable};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::alerting::AlertingRule;
use crate::group::{Group, dependency, duration_ms, group_key};
use crate::metrics::Metrics;
use crate::recording::RecordingRule;
use crate::rule::Rule;
use crate::rulefmt::{self, ParseOptions};
use crate::{Error, NotifyFn, QueryFn};

/// What the manager needs from the rest of the server.
#[derive(Clone)]
pub struct ManagerOptions {
    /// Runs a rule's query at a time (usually [`crate::engine_query_fn`]).
    pub query_fn: QueryFn,
    /// Receives alerts to send (the bin forwards them to the notifier).
    pub notify_fn: NotifyFn,
    /// Where recording results and alert series are written.
    pub appendable: Arc<dyn Appendable>,
    /// Where `ALERTS_FOR_STATE` is read back from when restoring.
    pub queryable: Arc<dyn Queryable>,
    /// `--rules.alert.for-outage-tolerance` (default 1h).
    pub outage_tolerance: Duration,
    /// `--rules.alert.for-grace-period` (default 10m).
    pub for_grace_period: Duration,
    /// `--rules.alert.resend-delay` (default 1m).
    pub resend_delay: Duration,
    /// Which metric and label names rule files may use.
    pub name_validation: ValidationScheme,
    /// Accept unknown fields in rule files (promtool's `--ignore-unknown-fields`).
    pub ignore_unknown_fields: bool,
    /// `Some(n)` evaluates rules concurrently where their dependencies allow, at most `n`
    /// at once across all groups (`--enable-feature=concurrent-rule-eval` with
    /// `--rules.max-concurrent-evals`); `None` (the default) evaluates the rules of a group
    /// one after another.
    pub concurrent_evals: Option<usize>,
}

impl ManagerOptions {
    /// Options with Prometheus's defaults for the durations.
    pub fn new(
        query_fn: QueryFn,
        notify_fn: NotifyFn,
        appendable: Arc<dyn Appendable>,
        queryable: Arc<dyn Queryable>,
    ) -> ManagerOptions {
        ManagerOptions {
            query_fn,
            notify_fn,
            appendable,
            queryable,
            outage_tolerance: Duration::from_secs(3600),
            for_grace_period: Duration::from_secs(600),
            resend_delay: Duration::from_secs(60),
            name_validation: ValidationScheme::default(),
            ignore_unknown_fields: false,
            concurrent_evals: None,
        }
    }
}

impl std::fmt::Debug for ManagerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerOptions")
            .field("outage_tolerance", &self.outage_tolerance)
            .field("for_grace_period", &self.for_grace_period)
            .field("resend_delay", &self.resend_delay)
            .finish_non_exhaustive()
    }
}

/// What groups share with their manager.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) opts: ManagerOptions,
    pub(crate) metrics: Metrics,
    default_query_offset_ms: AtomicI64,
    /// The slots of concurrent evaluation, when it is on.
    pub(crate) eval_slots: Option<EvalSlots>,
}

/// Go's `concurrentRuleEvalController`: a semaphore of `max` rule evaluations that may run
/// beside their group's own, taken without waiting.
#[derive(Debug)]
pub(crate) struct EvalSlots {
    max: usize,
    used: AtomicUsize,
}

impl EvalSlots {
    pub(crate) fn new(max: usize) -> EvalSlots {
        EvalSlots {
            max,
            used: AtomicUsize::new(0),
        }
    }

    /// Takes a slot if one is free; it is given back when the guard drops (also when the
    /// evaluation holding it panics).
    pub(crate) fn try_acquire(&self) -> Option<EvalSlot<'_>> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                (u < self.max).then_some(u + 1)
            })
            .is_ok()
            .then(|| EvalSlot(self))
    }

    /// Slots taken now.
    #[cfg(test)]
    pub(crate) fn in_use(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// A taken [`EvalSlots`] slot, given back on drop.
#[derive(Debug)]
pub(crate) struct EvalSlot<'a>(&'a EvalSlots);

impl Drop for EvalSlot<'_> {
    fn drop(&mut self) {
        self.0.used.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Shared {
    pub(crate) fn default_query_offset_ms(&self) -> i64 {
        self.default_query_offset_ms.load(Ordering::Relaxed)
    }
}

struct Running {
    group: Group,
    task: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct State {
    groups: BTreeMap<String, Running>,
    restored: bool,
    stopped: bool,
}

struct Inner {
    shared: Arc<Shared>,
    state: Mutex<State>,
    /// Serialises `update` and `stop`.
    update_lock: tokio::sync::Mutex<()>,
    /// Cancelled by `run`: groups start evaluating only then.
    started: CancellationToken,
    /// Cancelled by `stop`.
    done: CancellationToken,
}

/// The rule manager. Cheap to clone: clones share the manager.
#[derive(Clone)]
pub struct Manager(Arc<Inner>);

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager").finish_non_exhaustive()
    }
}

impl Manager {
    /// A manager with no groups; groups come with [`Manager::update`] and start
    /// evaluating once [`Manager::run`] is called.
    pub fn new(opts: ManagerOptions) -> Manager {
        Manager(Arc::new(Inner {
            shared: Arc::new(Shared {
                eval_slots: opts.concurrent_evals.map(EvalSlots::new),
                opts,
                metrics: Metrics::default(),
                default_query_offset_ms: AtomicI64::new(0),
            }),
            state: Mutex::new(State::default()),
            update_lock: tokio::sync::Mutex::new(()),
            started: CancellationToken::new(),
            done: CancellationToken::new(),
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets the global `rule_query_offset` used by groups without their own.
    pub fn set_default_query_offset(&self, offset: Duration) {
        self.0
            .shared
            .default_query_offset_ms
            .store(duration_ms(offset), Ordering::Relaxed);
    }

    /// Starts evaluating (groups loaded before wait for this) and returns when the
    /// manager is stopped.
    pub async fn run(&self) {
        tracing::info!("Starting rule manager...");
        self.0.started.cancel();
        self.0.done.cancelled().await;
    }

    /// Stops every group, waiting for evaluations in progress to finish.
    pub async fn stop(&self) {
        let _guard = self.0.update_lock.lock().await;
        tracing::info!("Stopping rule manager...");
        let groups: Vec<Running> = {
            let mut st = self.state();
            st.stopped = true;
            std::mem::take(&mut st.groups).into_values().collect()
        };
        for mut g in groups {
            g.group.done().cancel();
            if let Some(task) = g.task.take() {
                let _ = task.await;
            }
        }
        self.0.done.cancel();
        tracing::info!("Rule manager stopped");
    }

    /// Loads `files` and replaces the running groups with them (Go's `Update`): groups
    /// whose definition is unchanged keep running untouched; changed groups are stopped
    /// and their state (alerts, series to mark stale) is carried over to the new ones;
    /// removed groups stop and their series get staleness markers. If any file fails to
    /// load, nothing changes and the errors are returned inside
    /// [`Error::LoadRules`]. A stopped manager ignores updates.
    pub async fn update(
        &self,
        interval: Duration,
        files: &[String],
        external_labels: &Labels,
        external_url: &str,
    ) -> Result<(), Error> {
        let _guard = self.0.update_lock.lock().await;
        let restored = {
            let st = self.state();
            if st.stopped {
                return Ok(());
            }
            st.restored
        };
        let new_groups = self
            .load_groups_inner(interval, external_labels, external_url, files, restored)
            .map_err(|errs| {
                for e in &errs {
                    tracing::error!(err = %e, "loading groups failed");
                }
                Error::LoadRules(errs)
            })?;
        let mut old = {
            let mut st = self.state();
            st.restored = true;
            std::mem::take(&mut st.groups)
        };
        let mut running = BTreeMap::new();
        for (key, newg) in new_groups {
            match old.remove(&key) {
                Some(o) if o.group.equals(&newg) => {
                    running.insert(key, o);
                }
                Some(mut o) => {
                    o.group.done().cancel();
                    if let Some(task) = o.task.take() {
                        let _ = task.await;
                    }
                    newg.copy_state(&o.group);
                    running.insert(key, self.spawn(newg));
                }
                None => {
                    running.insert(key, self.spawn(newg));
                }
            }
        }
        for (key, mut o) in old {
            o.group.set_mark_stale();
            o.group.done().cancel();
            if let Some(task) = o.task.take() {
                let _ = task.await;
            }
            self.0.shared.metrics.remove_group(&key);
        }
        self.state().groups = running;
        Ok(())
    }

    fn spawn(&self, g: Group) -> Running {
        let task = tokio::spawn(run_group(
            g.clone(),
            self.0.started.clone(),
            self.0.done.clone(),
        ));
        Running {
            group: g,
            task: Some(task),
        }
    }

    /// Reads rule files into groups without running them (Go's `LoadGroups`).
    pub fn load_groups(
        &self,
        interval: Duration,
        external_labels: &Labels,
        external_url: &str,
        files: &[String],
    ) -> Result<BTreeMap<String, Group>, Vec<Error>> {
        let restored = self.state().restored;
        self.load_groups_inner(interval, external_labels, external_url, files, restored)
    }

    fn load_groups_inner(
        &self,
        interval: Duration,
        external_labels: &Labels,
        external_url: &str,
        files: &[String],
        restored: bool,
    ) -> Result<BTreeMap<String, Group>, Vec<Error>> {
        let opts = ParseOptions {
            name_validation: self.0.shared.opts.name_validation,
            ignore_unknown_fields: self.0.shared.opts.ignore_unknown_fields,
            ..ParseOptions::default()
        };
        let mut groups = BTreeMap::new();
        for file in files {
            let rgs = rulefmt::parse_file(file, &opts)?;
            for rg in rgs.groups {
                let interval_ms = rg
                    .interval
                    .map(|d| d.as_millis())
                    .unwrap_or_else(|| duration_ms(interval));
                let mut rules = Vec::with_capacity(rg.rules.len());
                let mut exprs = Vec::with_capacity(rg.rules.len());
                for r in rg.rules {
                    let expr = promql::parser::parse_expr(&r.expr)
                        .map_err(|e| vec![Error::Query(e.to_string()).in_file(file)])?;
                    let query = expr.to_string();
                    exprs.push(expr);
                    let mut labels: HashMap<&str, &str> = rg
                        .labels
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    labels.extend(r.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                    let labels = Labels::from_pairs(labels);
                    if r.alert.is_empty() {
                        rules.push(Rule::Recording(RecordingRule::new(
                            &r.record, &query, labels,
                        )));
                    } else {
                        rules.push(Rule::Alerting(AlertingRule::new(
                            &r.alert,
                            &query,
                            r.for_.to_std(),
                            r.keep_firing_for.to_std(),
                            labels,
                            Labels::from_pairs(r.annotations.iter()),
                            external_labels.clone(),
                            external_url,
                            restored,
                        )));
                    }
                }
                let inputs: Vec<dependency::RuleInput<'_>> = rules
                    .iter()
                    .zip(&exprs)
                    .map(|(r, expr)| dependency::RuleInput {
                        name: r.name(),
                        alerting: r.as_alerting().is_some(),
                        expr,
                    })
                    .collect();
                let batches = dependency::batches(&dependency::analyse(&inputs));
                groups.insert(
                    group_key(file, &rg.name),
                    Group::new(
                        &rg.name,
                        file,
                        interval_ms,
                        rg.limit,
                        rg.query_offset.map(|d| d.as_millis()),
                        rules,
                        batches,
                        !restored,
                        self.0.shared.clone(),
                    ),
                );
            }
        }
        Ok(groups)
    }

    /// The groups, sorted by file and then name.
    pub fn rule_groups(&self) -> Vec<Group> {
        let mut out: Vec<Group> = self
            .state()
            .groups
            .values()
            .map(|r| r.group.clone())
            .collect();
        out.sort_by(|a, b| a.file().cmp(b.file()).then_with(|| a.name().cmp(b.name())));
        out
    }

    /// Every rule of every group.
    pub fn rules(&self) -> Vec<Arc<Rule>> {
        self.rule_groups()
            .iter()
            .flat_map(|g| g.rules().to_vec())
            .collect()
    }

    /// Every alerting rule of every group.
    pub fn alerting_rules(&self) -> Vec<Arc<Rule>> {
        self.rules()
            .into_iter()
            .filter(|r| r.as_alerting().is_some())
            .collect()
    }

    /// Appends the `prometheus_rule_*` metrics in the text exposition format.
    pub fn write_metrics(&self, out: &mut String) {
        self.0.shared.metrics.write(out);
    }
}

/// Sleeps until wall-clock time `at_ms`; false when the group was stopped first.
async fn sleep_until(at_ms: Timestamp, stop: &CancellationToken) -> bool {
    let wait = Duration::from_millis(u64::try_from(at_ms - model::timestamp::now()).unwrap_or(0));
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = stop.cancelled() => false,
    }
}

async fn iterate(g: &Group, ts: Timestamp) {
    let g2 = g.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || g2.iterate(ts)).await {
        tracing::error!(err = %e, group = g.name(), "rule group evaluation panicked");
    }
}

/// Advances to the next slot after `eval_ts`, counting the slots missed meanwhile.
fn next_slot(g: &Group, eval_ts: Timestamp) -> Timestamp {
    let interval = duration_ms(g.interval()).max(1);
    let missed = (model::timestamp::now() - eval_ts) / interval - 1;
    if missed > 0 {
        let missed_u = missed.unsigned_abs();
        g_metrics(g, |m| {
            m.iterations_missed += missed_u;
            m.iterations_scheduled += missed_u;
        });
    }
    eval_ts + (missed.max(0) + 1) * interval
}

fn g_metrics(g: &Group, f: impl FnOnce(&mut crate::metrics::GroupMetrics)) {
    g.shared().metrics.group(&g.key(), f);
}

/// One group's task (Go's `Group.run`).
async fn run_group(g: Group, started: CancellationToken, manager_done: CancellationToken) {
    let stop = g.done().clone();
    tokio::select! {
        _ = started.cancelled() => {}
        _ = stop.cancelled() => { finish(&g, manager_done); return; }
    }
    let interval = duration_ms(g.interval()).max(1);
    let mut eval_ts = g.eval_timestamp(model::timestamp::now()) + interval;
    if sleep_until(eval_ts, &stop).await {
        iterate(&g, eval_ts).await;
        let mut running = true;
        if g.should_restore() {
            // Restore after a second evaluation, so recording rules the alerts depend on
            // have written fresh values.
            if sleep_until(eval_ts + interval, &stop).await {
                eval_ts = next_slot(&g, eval_ts);
                iterate(&g, eval_ts).await;
                let g2 = g.clone();
                let started_at = std::time::Instant::now();
                let _ = tokio::task::spawn_blocking(move || {
                    g2.restore_for_state(model::timestamp::now())
                })
                .await;
                let took = started_at.elapsed().as_secs_f64();
                g_metrics(&g, |m| m.last_restore_duration_seconds = Some(took));
                tracing::debug!(
                    file = g.file(),
                    group = g.name(),
                    duration_seconds = took,
                    "'for' state restoration completed"
                );
            } else {
                running = false;
            }
        }
        while running && sleep_until(eval_ts + interval, &stop).await {
            eval_ts = next_slot(&g, eval_ts);
            iterate(&g, eval_ts).await;
        }
    }
    finish(&g, manager_done);
}

/// After a removed group stops: wait two intervals (a renamed rule may take its series
/// over) or until the manager stops, then mark its series stale.
fn finish(g: &Group, manager_done: CancellationToken) {
    if !g.mark_stale() {
        return;
    }
    let g = g.clone();
    let now = model::timestamp::now();
    g.move_all_series_to_stale();
    tokio::spawn(async move {
        tokio::select! {
            _ = manager_done.cancelled() => {}
            _ = tokio::time::sleep(2 * g.interval()) => {
                let g2 = g.clone();
                let _ = tokio::task::spawn_blocking(move || g2.cleanup_stale_series(now)).await;
            }
        }
    });
}

/// The rule files `patterns` name (Go's `filepath.Glob` per `rule_files` entry, as
/// Prometheus's main does before [`Manager::update`]): a pattern matching nothing adds
/// nothing; a malformed pattern is an error.
pub fn expand_rule_files(patterns: &[String]) -> Result<Vec<String>, Error> {
    let mut files = Vec::new();
    for pat in patterns {
        if !pat.contains(['*', '?', '[']) {
            if std::path::Path::new(pat).exists() {
                files.push(pat.clone());
            }
            continue;
        }
        let paths = glob::glob(pat)
            .map_err(|e| Error::Read(format!("error retrieving rule files for {pat}: {e}")))?;
        let mut matched: Vec<String> = paths
            .filter_map(Result::ok)
            .map(|p| p.to_string_lossy().to_string())
            .collect();
        matched.sort();
        files.extend(matched);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_file_patterns_expand_like_filepath_glob() {
        let dir = tempfile::tempdir().expect("tempdir");
        for f in ["b.yml", "a.yml", "c.txt"] {
            std::fs::write(dir.path().join(f), "groups: []\n").expect("write");
        }
        let d = dir.path().to_string_lossy().to_string();
        let files = expand_rule_files(&[
            format!("{d}/*.yml"),
            format!("{d}/c.txt"),
            format!("{d}/missing.yml"),
        ])
        .expect("valid patterns");
        assert_eq!(
            files,
            [
                format!("{d}/a.yml"),
                format!("{d}/b.yml"),
                format!("{d}/c.txt")
            ]
        );
        assert!(expand_rule_files(&[format!("{d}/[")]).is_err());
    }

    #[test]
    fn eval_slots_are_taken_without_waiting_and_given_back() {
        let slots = EvalSlots::new(2);
        let a = slots.try_acquire().expect("free");
        let _b = slots.try_acquire().expect("free");
        assert!(slots.try_acquire().is_none(), "both taken");
        assert_eq!(slots.in_use(), 2);
        drop(a);
        assert_eq!(slots.in_use(), 1);
        assert!(slots.try_acquire().is_some());
        assert_eq!(slots.in_use(), 1, "a dropped guard gives its slot back");
        // A panic while holding a slot gives it back too.
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _slot = slots.try_acquire();
            panic!("rule evaluation failed");
        }));
        assert!(caught.is_err());
        assert_eq!(slots.in_use(), 1);
        let none = EvalSlots::new(0);
        assert!(none.try_acquire().is_none());
        assert_eq!(none.in_use(), 0);
    }
}
