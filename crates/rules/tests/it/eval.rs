//! Groups evaluated with the PromQL engine over `MemStorage`, driven by explicit
//! timestamps.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use model::{Labels, MatchType, Matcher};
use rules::{Alert, AlertState, Health, Manager, ManagerOptions, NotifyFn};
use storage::{Appendable, MemStorage, Queryable, ValueType};

struct Env {
    db: Arc<MemStorage>,
    manager: Manager,
    sent: Arc<Mutex<Vec<Alert>>>,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env::with(|_| {})
    }

    /// An environment whose manager options `f` adjusts.
    fn with(f: impl FnOnce(&mut ManagerOptions)) -> Env {
        let db = Arc::new(MemStorage::new());
        let engine = Arc::new(promql::Engine::new(promql::EngineOpts::default()));
        let sent: Arc<Mutex<Vec<Alert>>> = Arc::default();
        let s = sent.clone();
        let notify: NotifyFn = Arc::new(move |_: &str, alerts: &[Alert]| {
            s.lock().expect("lock").extend_from_slice(alerts);
        });
        let mut opts = ManagerOptions::new(
            rules::engine_query_fn(engine, db.clone()),
            notify,
            db.clone(),
            db.clone(),
        );
        f(&mut opts);
        Env {
            db,
            manager: Manager::new(opts),
            sent,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn file(&self, name: &str, yaml: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, yaml).expect("write rules");
        path.to_str().expect("UTF-8").to_string()
    }

    async fn load(&self, files: &[String]) -> Vec<rules::Group> {
        self.manager
            .update(
                Duration::from_secs(15),
                files,
                &Labels::empty(),
                "http://prom",
            )
            .await
            .expect("rules load");
        self.manager.rule_groups()
    }

    fn append(&self, series: &[(&str, &str)], t: i64, v: f64) {
        let mut app = self.db.appender();
        app.append(0, &Labels::from_pairs(series.iter().copied()), t, v)
            .expect("append");
        app.commit().expect("commit");
    }

    /// The samples of the series with exactly these labels.
    fn samples(&self, series: &[(&str, &str)]) -> Vec<(i64, f64)> {
        let want = Labels::from_pairs(series.iter().copied());
        let q = self
            .db
            .querier(i64::MIN / 2, i64::MAX / 2)
            .expect("querier");
        let matchers: Vec<Matcher> = want
            .iter()
            .map(|(k, v)| Matcher::new(MatchType::Equal, k, v).expect("matcher"))
            .collect();
        let mut set = q.select(true, None, &matchers);
        while let Some(s) = set.next() {
            let s = s.expect("series");
            if s.labels() == &want {
                let mut it = s.iterator();
                let mut out = Vec::new();
                while it.next() == ValueType::Float {
                    out.push(it.at());
                }
                return out;
            }
        }
        Vec::new()
    }

    fn take_sent(&self) -> Vec<Alert> {
        std::mem::take(&mut *self.sent.lock().expect("lock"))
    }
}

#[tokio::test]
async fn recording_rules_write_results_and_mark_vanished_series_stale() {
    let env = Env::new();
    let f = env.file(
        "rec.yml",
        "groups:\n  - name: g\n    labels:\n      team: infra\n    rules:\n      - record: job:up\n        expr: up == 1\n",
    );
    let groups = env.load(&[f]).await;
    let g = &groups[0];
    env.append(&[("__name__", "up"), ("job", "a")], 0, 1.0);
    env.append(&[("__name__", "up"), ("job", "b")], 0, 1.0);
    g.eval(10_000);
    let a = [("__name__", "job:up"), ("job", "a"), ("team", "infra")];
    let b = [("__name__", "job:up"), ("job", "b"), ("team", "infra")];
    assert_eq!(env.samples(&a), [(10_000, 1.0)]);
    assert_eq!(env.samples(&b), [(10_000, 1.0)]);
    assert_eq!(g.rules()[0].health(), Health::Good);

    env.append(&[("__name__", "up"), ("job", "b")], 15_000, 0.0);
    g.eval(25_000);
    assert_eq!(env.samples(&a), [(10_000, 1.0), (25_000, 1.0)]);
    let bs = env.samples(&b);
    assert_eq!(bs.len(), 2);
    assert_eq!(bs[1].0, 25_000);
    assert!(
        model::value::is_stale_nan(bs[1].1),
        "stale marker for job b"
    );

    let mut text = String::new();
    env.manager.write_metrics(&mut text);
    let key = format!("{};g", env.dir.path().join("rec.yml").display());
    assert!(
        text.contains(&format!(
            "prometheus_rule_evaluations_total{{rule_group=\"{key}\"}} 2\n"
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "prometheus_rule_group_rules{{rule_group=\"{key}\"}} 1\n"
    )));
}

#[tokio::test]
async fn a_failing_rule_is_unhealthy_with_prometheus_error_text() {
    let env = Env::new();
    let f = env.file(
        "bad.yml",
        "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up\n        labels:\n          job: same\n",
    );
    let groups = env.load(&[f]).await;
    env.append(&[("__name__", "up"), ("job", "a")], 0, 1.0);
    env.append(&[("__name__", "up"), ("job", "b")], 0, 1.0);
    groups[0].eval(1_000);
    let rule = &groups[0].rules()[0];
    assert_eq!(rule.health(), Health::Bad);
    assert_eq!(
        rule.last_error().as_deref(),
        Some("vector contains metrics with the same labelset after applying rule labels")
    );
    let mut text = String::new();
    env.manager.write_metrics(&mut text);
    assert!(text.contains("prometheus_rule_evaluation_failures_total{rule_group="));
    assert!(text.contains("\"} 1\n"));
}

const ALERT_RULES: &str = "groups:\n  - name: alerts\n    rules:\n      - alert: InstanceDown\n        expr: up == 0\n        for: 1m\n        labels:\n          severity: page\n        annotations:\n          summary: \"{{ $labels.instance }} down\"\n";

#[tokio::test]
async fn alerts_go_pending_firing_resolved_with_series_and_notifications() {
    let env = Env::new();
    let f = env.file("alerts.yml", ALERT_RULES);
    let groups = env.load(&[f]).await;
    let g = &groups[0];
    // Nothing in storage to restore from: the rule starts writing its series.
    g.restore_for_state(0);
    for t in (0..=120_000).step_by(15_000) {
        env.append(&[("__name__", "up"), ("instance", "a")], t, 0.0);
    }
    g.iterate(15_000);
    let rule = g.rules()[0].as_alerting().expect("alerting");
    assert_eq!(rule.state(), AlertState::Pending);
    assert!(env.take_sent().is_empty(), "pending alerts are not sent");
    let pending = [
        ("__name__", "ALERTS"),
        ("alertname", "InstanceDown"),
        ("alertstate", "pending"),
        ("instance", "a"),
        ("severity", "page"),
    ];
    assert_eq!(env.samples(&pending), [(15_000, 1.0)]);
    let for_state = [
        ("__name__", "ALERTS_FOR_STATE"),
        ("alertname", "InstanceDown"),
        ("instance", "a"),
        ("severity", "page"),
    ];
    assert_eq!(env.samples(&for_state), [(15_000, 15.0)]);

    g.iterate(75_000);
    assert_eq!(rule.state(), AlertState::Firing);
    let firing = [
        ("__name__", "ALERTS"),
        ("alertname", "InstanceDown"),
        ("alertstate", "firing"),
        ("instance", "a"),
        ("severity", "page"),
    ];
    assert_eq!(env.samples(&firing), [(75_000, 1.0)]);
    // The pending series went stale when the alert started firing.
    let p = env.samples(&pending);
    assert!(model::value::is_stale_nan(p[1].1), "{p:?}");
    let sent = env.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].state, AlertState::Firing);
    assert_eq!(sent[0].fired_at, Some(75_000));
    assert_eq!(sent[0].active_at, 15_000);
    assert_eq!(sent[0].valid_until, Some(75_000 + 4 * 60_000));
    assert_eq!(sent[0].annotations.get("summary"), Some("a down"));
    assert_eq!(
        sent[0].labels,
        Labels::from_pairs([
            ("alertname", "InstanceDown"),
            ("instance", "a"),
            ("severity", "page")
        ])
    );

    env.append(&[("__name__", "up"), ("instance", "a")], 135_000, 1.0);
    g.iterate(140_000);
    assert_eq!(rule.state(), AlertState::Inactive);
    let sent = env.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].resolved_at, Some(140_000));
    assert!(model::value::is_stale_nan(env.samples(&firing)[1].1));
    assert!(rule.active_alerts().is_empty());
}

#[tokio::test]
async fn for_state_is_restored_from_storage() {
    let env = Env::new();
    let f = env.file(
        "alerts.yml",
        ALERT_RULES.replace("for: 1m", "for: 30m").as_str(),
    );
    let groups = env.load(&[f]).await;
    let g = &groups[0];
    let rule = g.rules()[0].as_alerting().expect("alerting");
    assert!(!rule.restored());
    let for_state = [
        ("__name__", "ALERTS_FOR_STATE"),
        ("alertname", "InstanceDown"),
        ("instance", "a"),
        ("severity", "page"),
    ];
    // Active since t=1000s; the server went down at 1300s; it is back at 1500s.
    env.append(&for_state, 1_300_000, 1_000.0);
    for t in (1_400_000..=1_500_000).step_by(15_000) {
        env.append(&[("__name__", "up"), ("instance", "a")], t, 0.0);
    }
    g.iterate(1_500_000);
    assert!(
        env.samples(&[
            ("__name__", "ALERTS"),
            ("alertname", "InstanceDown"),
            ("alertstate", "pending"),
            ("instance", "a"),
            ("severity", "page")
        ])
        .is_empty(),
        "no alert series before restoration"
    );
    g.restore_for_state(1_500_000);
    assert!(rule.restored());
    // 5 of the 30 minutes were spent pending before the outage; the outage (200s) is
    // added to the active time.
    assert_eq!(rule.active_alerts()[0].active_at, 1_200_000);

    // Little time left: the grace period (10m) applies.
    let env = Env::new();
    let f = env.file(
        "alerts.yml",
        ALERT_RULES.replace("for: 1m", "for: 30m").as_str(),
    );
    let groups = env.load(&[f]).await;
    let g = &groups[0];
    env.append(&for_state, 2_700_000, 1_000.0);
    env.append(&[("__name__", "up"), ("instance", "a")], 2_790_000, 0.0);
    g.iterate(2_800_000);
    g.restore_for_state(2_800_000);
    let a = &g.rules()[0]
        .as_alerting()
        .expect("alerting")
        .active_alerts()[0];
    assert_eq!(a.active_at, 2_800_000 + 600_000 - 1_800_000);
}

#[tokio::test]
async fn unchanged_groups_survive_updates_and_changed_ones_keep_alerts() {
    let env = Env::new();
    let f = env.file("alerts.yml", ALERT_RULES);
    let groups = env.load(std::slice::from_ref(&f)).await;
    env.append(&[("__name__", "up"), ("instance", "a")], 0, 0.0);
    groups[0].iterate(10_000);
    assert_eq!(
        groups[0].rules()[0]
            .as_alerting()
            .expect("alerting")
            .active_alerts()
            .len(),
        1
    );

    // Same file: the very same group keeps running.
    let again = env.load(std::slice::from_ref(&f)).await;
    assert!(Arc::ptr_eq(&again[0].rules()[0], &groups[0].rules()[0]));

    // A rule added: a new group that took over the alert.
    let changed = format!("{ALERT_RULES}      - record: up_copy\n        expr: up\n");
    std::fs::write(&f, changed).expect("rewrite");
    let newer = env.load(std::slice::from_ref(&f)).await;
    assert_eq!(newer[0].rules().len(), 2);
    assert!(!Arc::ptr_eq(&newer[0].rules()[0], &groups[0].rules()[0]));
    let alerts = newer[0].rules()[0]
        .as_alerting()
        .expect("alerting")
        .active_alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].active_at, 10_000);

    // A broken file: the old groups stay.
    std::fs::write(&f, "groups:\n  - name: x\n    rules:\n      - record: r\n").expect("rewrite");
    let err = env
        .manager
        .update(
            Duration::from_secs(15),
            std::slice::from_ref(&f),
            &Labels::empty(),
            "",
        )
        .await
        .expect_err("broken file");
    assert_eq!(
        err.to_string(),
        "error loading rules, previous rule set restored"
    );
    assert_eq!(env.manager.rule_groups()[0].rules().len(), 2);

    // No files: every group goes.
    env.load(&[]).await;
    assert!(env.manager.rule_groups().is_empty());
}

#[tokio::test]
async fn groups_are_listed_by_file_then_name_with_their_settings() {
    let env = Env::new();
    let f1 = env.file("b.yml", "groups:\n  - name: z\n    interval: 1m\n    limit: 5\n    query_offset: 30s\n    rules:\n      - record: r\n        expr: vector(1)\n  - name: a\n    rules:\n      - alert: A\n        expr: vector(1)\n");
    let f2 = env.file("a.yml", "groups:\n  - name: m\n    rules: []\n");
    let groups = env.load(&[f1, f2]).await;
    let names: Vec<&str> = groups.iter().map(|g| g.name()).collect();
    assert_eq!(names, ["m", "a", "z"]);
    let z = &groups[2];
    assert_eq!(z.interval(), Duration::from_secs(60));
    assert_eq!(z.limit(), 5);
    assert_eq!(z.query_offset(), Duration::from_secs(30));
    assert_eq!(groups[1].interval(), Duration::from_secs(15));
    assert!(groups[1].has_alerting_rules());
    assert_eq!(env.manager.alerting_rules().len(), 1);
    env.manager.set_default_query_offset(Duration::from_secs(5));
    assert_eq!(groups[1].query_offset(), Duration::from_secs(5));
    // Query offset: the recording rule queries and writes 30s back.
    z.eval(100_000);
    assert_eq!(env.samples(&[("__name__", "r")]), [(70_000, 1.0)]);
}

#[tokio::test]
async fn evaluation_slots_are_aligned_per_group() {
    let env = Env::new();
    let f = env.file("a.yml", "groups:\n  - name: g\n    rules: []\n");
    let groups = env.load(&[f]).await;
    let g = &groups[0];
    let t = g.eval_timestamp(1_700_000_000_123);
    assert!(
        t <= 1_700_000_000_123 && t > 1_700_000_000_123 - 15_000,
        "{t}"
    );
    // Slots are exact to the nanosecond (as Go's); `t` is the slot's millisecond.
    assert_eq!(g.eval_timestamp(t + 1), t);
    assert_eq!(g.eval_timestamp(t + 14_000), t);
    assert_eq!(g.eval_timestamp(t + 15_001), t + 15_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_and_stop_return() {
    let env = Env::new();
    let f = env.file(
        "a.yml",
        "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: vector(1)\n",
    );
    env.load(&[f]).await;
    let m = env.manager.clone();
    let run = tokio::spawn(async move { m.run().await });
    env.manager.stop().await;
    run.await.expect("run returns after stop");
    assert!(env.manager.rule_groups().is_empty());
    // A stopped manager ignores updates.
    let f = env.file("b.yml", "groups:\n  - name: g\n    rules: []\n");
    env.manager
        .update(Duration::from_secs(15), &[f], &Labels::empty(), "")
        .await
        .expect("ignored");
    assert!(env.manager.rule_groups().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_loop_evaluates_restores_and_writes_alerts() {
    let env = Env::new();
    let f = env.file(
        "fast.yml",
        "groups:\n  - name: fast\n    interval: 100ms\n    rules:\n      - record: one\n        expr: vector(1)\n      - alert: Always\n        expr: vector(1)\n",
    );
    env.load(&[f]).await;
    let m = env.manager.clone();
    let run = tokio::spawn(async move { m.run().await });
    // Wait (bounded) until the group has evaluated a few times and, after restoring,
    // written its alert series.
    let alerts = [
        ("__name__", "ALERTS"),
        ("alertname", "Always"),
        ("alertstate", "firing"),
    ];
    let mut done = false;
    for _ in 0..200 {
        if env.samples(&[("__name__", "one")]).len() >= 3 && !env.samples(&alerts).is_empty() {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    env.manager.stop().await;
    run.await.expect("run returns");
    assert!(done, "the group did not evaluate");
    // Samples are on the group's 100ms slots.
    let ts: Vec<i64> = env
        .samples(&[("__name__", "one")])
        .iter()
        .map(|s| s.0)
        .collect();
    assert!(ts.windows(2).all(|w| (w[1] - w[0]) % 100 == 0), "{ts:?}");
    assert!(!env.take_sent().is_empty(), "the firing alert was sent");
}

/// The slot offset of a group is Go's: Prometheus 3 (stringlabels' `Labels.Hash`)
/// evaluates group `cmp` of `/tmp/promcmp/rules.yml` (interval 10s) at
/// 1795490398.682055482, 1795490408.682055482, ... (2.42, whose labels hashed
/// differently, at 1795490399.610).
#[tokio::test]
async fn evaluation_slots_match_prometheus() {
    let env = Env::new();
    let dir = std::path::Path::new("/tmp/promcmp");
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let f = dir.join("rules.yml");
    std::fs::write(&f, "groups:\n  - name: cmp\n    interval: 10s\n    rules:\n      - record: one\n        expr: vector(1)\n").expect("write");
    let groups = env.load(&[f.to_string_lossy().to_string()]).await;
    let g = &groups[0];
    assert_eq!(g.eval_timestamp(1_795_490_400_000), 1_795_490_398_682);
    assert_eq!(g.eval_timestamp(1_795_490_408_683), 1_795_490_408_682);
    assert_eq!(
        g.eval_time(1_795_490_398_682),
        std::time::UNIX_EPOCH + Duration::new(1_795_490_398, 682_055_482)
    );
}

#[tokio::test]
async fn concurrent_evaluation_keeps_dependent_rules_after_their_inputs() {
    let env = Env::with(|o| o.concurrent_evals = Some(4));
    // b reads a (so it runs in a later batch); c and d read nothing the group writes.
    let f = env.file(
        "chain.yml",
        "groups:\n  - name: g\n    rules:\n      - record: b\n        expr: a * 2\n      - record: a\n        expr: vector(1)\n      - record: c\n        expr: vector(3)\n      - record: d\n        expr: vector(4)\n",
    );
    let groups = env.load(&[f]).await;
    let g = &groups[0];
    g.eval(10_000);
    // Sequentially, b would read a before a was written: nothing at 10s.
    assert_eq!(env.samples(&[("__name__", "b")]), [(10_000, 2.0)]);
    assert_eq!(env.samples(&[("__name__", "a")]), [(10_000, 1.0)]);
    assert_eq!(env.samples(&[("__name__", "c")]), [(10_000, 3.0)]);
    assert_eq!(env.samples(&[("__name__", "d")]), [(10_000, 4.0)]);
    assert!(g.rules().iter().all(|r| r.health() == Health::Good));
    let mut text = String::new();
    env.manager.write_metrics(&mut text);
    let samples_line = text
        .lines()
        .find(|l| l.starts_with("prometheus_rule_group_last_evaluation_samples{"))
        .expect("samples gauge");
    assert!(samples_line.ends_with("} 4"), "{samples_line}");

    // Without the feature the file order is kept: b runs first and finds no a yet.
    let env = Env::new();
    let f = env.file(
        "chain.yml",
        "groups:\n  - name: g\n    rules:\n      - record: b\n        expr: a * 2\n      - record: a\n        expr: vector(1)\n",
    );
    let groups = env.load(&[f]).await;
    groups[0].eval(10_000);
    assert!(env.samples(&[("__name__", "b")]).is_empty());
}

/// Counts queries running at once; each waits (boundedly) until `target` run together.
struct InFlight {
    state: Mutex<(usize, usize)>,
    cv: std::sync::Condvar,
    target: usize,
}

impl InFlight {
    fn query_fn(self: &Arc<Self>) -> rules::QueryFn {
        let me = self.clone();
        Arc::new(move |_q: &str, _t: i64| {
            let mut st = me.state.lock().expect("lock");
            st.0 += 1;
            st.1 = st.1.max(st.0);
            me.cv.notify_all();
            // Bounded so that a sequential evaluation fails the assertion instead of hanging.
            let (mut st, _) = me
                .cv
                .wait_timeout_while(st, Duration::from_secs(10), |s| {
                    s.0 < me.target && s.1 < me.target
                })
                .expect("lock");
            st.0 -= 1;
            Ok(Vec::new())
        })
    }

    fn max(&self) -> usize {
        self.state.lock().expect("lock").1
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_rules_run_at_once_up_to_the_free_slots() {
    let rules = "groups:\n  - name: g\n    rules:\n      - record: a\n        expr: vector(1)\n      - record: b\n        expr: vector(2)\n      - record: c\n        expr: vector(3)\n";
    // Two slots: two rules on threads of their own, the third on the group's.
    let inflight = Arc::new(InFlight {
        state: Mutex::new((0, 0)),
        cv: std::sync::Condvar::new(),
        target: 3,
    });
    let qf = inflight.query_fn();
    let env = Env::with(|o| {
        o.query_fn = qf;
        o.concurrent_evals = Some(2);
    });
    let groups = env.load(&[env.file("r.yml", rules)]).await;
    let g = groups[0].clone();
    tokio::task::spawn_blocking(move || g.eval(10_000))
        .await
        .expect("eval");
    assert_eq!(inflight.max(), 3);

    // No slots (`--rules.max-concurrent-evals=0`) or no feature: one at a time.
    for concurrent in [Some(0), None] {
        let inflight = Arc::new(InFlight {
            state: Mutex::new((0, 0)),
            cv: std::sync::Condvar::new(),
            target: 1,
        });
        let qf = inflight.query_fn();
        let env = Env::with(|o| {
            o.query_fn = qf;
            o.concurrent_evals = concurrent;
        });
        let groups = env.load(&[env.file("r.yml", rules)]).await;
        groups[0].eval(10_000);
        assert_eq!(inflight.max(), 1, "{concurrent:?}");
    }
}
