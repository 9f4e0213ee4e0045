//! The notifier against Debian's real Alertmanager 0.25: alerts sent over API v2 are read
//! back from `GET /api/v2/alerts`.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use model::{Labels, TargetGroup};

use test_support::Alertmanager;

async fn get(client: &httpclient::HttpClient, url: &str) -> Option<(u16, Bytes)> {
    let req = http::Request::get(url)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = client.send(req).await.ok()?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    Some((status, body))
}

/// Polls `f` every 50 ms for up to 30 s until it returns `Some`.
async fn eventually<T, F: AsyncFnMut() -> Option<T>>(what: &str, mut f: F) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_a_real_alertmanager() {
    let Some(am) = Alertmanager::start() else {
        return;
    };
    let client = httpclient::HttpClient::default();
    let base = format!("http://{}", am.addr());
    eventually("the Alertmanager to be ready", async || {
        let (status, _) = get(&client, &format!("{base}/-/ready")).await?;
        (status == 200).then_some(())
    })
    .await;

    let cfg = config::Config::load_str(
        &format!(
            concat!(
                "global: {{external_labels: {{cluster: test}}}}\n",
                "alerting:\n",
                "  alert_relabel_configs: [{{source_labels: [severity], regex: none, action: drop}}]\n",
                "  alertmanagers: [{{static_configs: [{{targets: ['{}']}}]}}]\n",
            ),
            am.addr()
        ),
        "",
    )
    .unwrap();
    let manager = notifier::Manager::new(notifier::Options::default());
    manager.apply_config(&cfg).unwrap();
    let groups: notifier::TargetSets = HashMap::from([(
        notifier::set_key(0),
        vec![TargetGroup {
            targets: vec![Labels::from_pairs([("__address__", am.addr())])],
            labels: Labels::empty(),
            source: "0".into(),
        }],
    )]);
    let (_tx, rx) = tokio::sync::watch::channel(groups);
    let runner = manager.clone();
    let task = tokio::spawn(async move { runner.run(rx).await });

    // Whole milliseconds, so the times read back compare equal.
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let starts_at = SystemTime::UNIX_EPOCH + Duration::from_millis(now_ms - 60_000);
    let ends_at = SystemTime::UNIX_EPOCH + Duration::from_millis(now_ms + 3_600_000);
    let alert = |name: &str, severity: &str| notifier::Alert {
        labels: Labels::from_pairs([("alertname", name), ("severity", severity)]),
        annotations: Labels::from_pairs([("summary", format!("{name} fired").as_str())]),
        starts_at,
        ends_at: Some(ends_at),
        generator_url: "http://prometheus.test/graph?g0.expr=up".into(),
    };
    manager.send(vec![
        alert("HighLatency", "page"),
        alert("Ignored", "none"),
        alert("DiskFull", "ticket"),
    ]);

    let alerts = eventually("two alerts in the Alertmanager", async || {
        let (status, body) = get(&client, &format!("{base}/api/v2/alerts")).await?;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        (v.as_array()?.len() == 2).then_some(v)
    })
    .await;
    let mut got: Vec<&serde_json::Value> = alerts.as_array().unwrap().iter().collect();
    got.sort_by_key(|a| a["labels"]["alertname"].as_str().unwrap().to_owned());
    let names: Vec<&str> = got
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["DiskFull", "HighLatency"]);
    let a = got[1];
    assert_eq!(
        a["labels"],
        serde_json::json!({"alertname": "HighLatency", "severity": "page", "cluster": "test"})
    );
    assert_eq!(
        a["annotations"],
        serde_json::json!({"summary": "HighLatency fired"})
    );
    assert_eq!(a["generatorURL"], "http://prometheus.test/graph?g0.expr=up");
    assert_eq!(a["status"]["state"], "active");
    assert_eq!(a["startsAt"], notifier::format_rfc3339_millis(starts_at));
    assert_eq!(a["endsAt"], notifier::format_rfc3339_millis(ends_at));

    // Resolving: the same alert with an end in the past leaves the active list.
    let resolved_at = SystemTime::now() - Duration::from_secs(1);
    manager.send(vec![notifier::Alert {
        ends_at: Some(resolved_at),
        ..alert("HighLatency", "page")
    }]);
    eventually("the resolved alert to leave the active list", async || {
        let (_, body) = get(&client, &format!("{base}/api/v2/alerts")).await?;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let names: Vec<&str> = v
            .as_array()?
            .iter()
            .filter_map(|a| a["labels"]["alertname"].as_str())
            .collect();
        (names == ["DiskFull"]).then_some(())
    })
    .await;

    manager.stop().await;
    task.await.unwrap();
    let url = format!("http://{}/api/v2/alerts", am.addr());
    let mut text = String::new();
    manager.write_metrics(&mut text);
    assert!(
        text.contains(&format!(
            "prometheus_notifications_sent_total{{alertmanager=\"{url}\"}} 3\n"
        )),
        "{text}"
    );
    assert!(
        text.contains("prometheus_notifications_dropped_total 0\n"),
        "{text}"
    );
}
