//! Rules and alerting end to end: a recording rule's series and a firing alert through the
//! HTTP API, the alert delivered to a real Alertmanager (Debian's 0.25), and a reload that
//! changes the rules.

use std::time::{Duration, Instant};

use super::{Prometheus, http};

/// Polls `f` every 100 ms for up to 60 s until it returns `Some`.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn rules_record_and_alert_into_a_real_alertmanager() {
    let Some(am) = test_support::Alertmanager::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n- name: e2e\n  interval: 1s\n  rules:\n  - record: job:e2e:sum\n    expr: vector(42)\n    labels:\n      source: e2e\n  - alert: AlwaysFiring\n    expr: vector(7) > 1\n    labels:\n      severity: page\n    annotations:\n      summary: 'value is {{ $value }}'\n",
    )
    .unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  evaluation_interval: 1s\n  external_labels:\n    cluster: e2e\nrule_files: ['rules.yml']\nalerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['{}']\n",
            am.addr()
        ),
    )
    .unwrap();
    // Alerts that fire before discovery has found the Alertmanager are dropped, as in
    // Prometheus; a short resend delay sends them again soon.
    let mut p = Prometheus::start(
        &config,
        &["--web.enable-lifecycle", "--rules.alert.resend-delay=1s"],
    );
    p.wait_ready();

    // The recording rule's series, with the rule's label.
    eventually("the recorded series", || {
        let (_, body) = p.get("/api/v1/query?query=job:e2e:sum");
        body.contains(r#"{"__name__":"job:e2e:sum","source":"e2e"}"#)
            .then_some(())
    });
    // The alert fires (no `for`), with its annotation expanded.
    let alerts = eventually("a firing alert", || {
        let (_, body) = p.get("/api/v1/alerts");
        body.contains(r#""state":"firing""#).then_some(body)
    });
    assert!(alerts.contains(r#""alertname":"AlwaysFiring""#), "{alerts}");
    assert!(alerts.contains(r#""summary":"value is 7""#), "{alerts}");
    let (_, groups) = p.get("/api/v1/rules");
    assert!(groups.contains(r#""name":"e2e""#), "{groups}");
    assert!(groups.contains(r#""type":"recording""#), "{groups}");
    assert!(groups.contains(r#""type":"alerting""#), "{groups}");
    // ALERTS is written like Prometheus does.
    eventually("the ALERTS series", || {
        let (_, body) = p.get("/api/v1/query?query=ALERTS");
        body.contains(r#""alertstate":"firing""#).then_some(())
    });
    // Discovery hands the Alertmanager over within its 5 s update interval.
    let want = format!(r#""url":"http://{}/api/v2/alerts""#, am.addr());
    eventually("the discovered Alertmanager", || {
        let (_, body) = p.get("/api/v1/alertmanagers");
        body.contains(&want).then_some(())
    });

    // The Alertmanager received it, with the external label added.
    let port: u16 = am.addr().rsplit_once(':').unwrap().1.parse().unwrap();
    let received = eventually("the alert at the Alertmanager", || {
        let (status, body) = http(port, "GET", "/api/v2/alerts")?;
        (status == 200 && body.contains("AlwaysFiring")).then_some(body)
    });
    assert!(received.contains(r#""cluster":"e2e""#), "{received}");
    assert!(received.contains(r#""severity":"page""#), "{received}");
    assert!(received.contains("/graph?g0.expr="), "{received}");

    // A reload that removes the alerting rule: the group is replaced, the rule is gone.
    std::fs::write(
        &rules,
        "groups:\n- name: e2e\n  interval: 1s\n  rules:\n  - record: job:e2e:sum\n    expr: vector(42)\n",
    )
    .unwrap();
    assert_eq!(p.request("POST", "/-/reload").unwrap().0, 200);
    let (_, groups) = p.get("/api/v1/rules");
    assert!(!groups.contains("AlwaysFiring"), "{groups}");
    // A broken rule file keeps the old rules and fails the reload.
    std::fs::write(
        &rules,
        "groups:\n- name: e2e\n  rules:\n  - record: e2e:broken\n    expr: 'sum('\n",
    )
    .unwrap();
    let (status, body) = p.request("POST", "/-/reload").unwrap();
    assert_eq!(status, 500, "{body}");
    let (_, groups) = p.get("/api/v1/rules");
    assert!(groups.contains("job:e2e:sum"), "{groups}");
    let (_, metrics) = p.get("/metrics");
    assert!(
        metrics.contains("prometheus_config_last_reload_successful 0"),
        "reload failure not recorded"
    );
    assert!(
        metrics.contains("prometheus_rule_evaluations_total"),
        "rule metrics missing"
    );
    assert!(
        metrics.contains("prometheus_notifications_sent_total"),
        "notifier metrics missing"
    );

    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(5)).code(), Some(0));
}
