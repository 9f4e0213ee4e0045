//! Metadata WAL records (type 6, written for `--enable-feature=metadata-wal-records`) in the
//! layout Prometheus reads: Prometheus 2.42 (which decodes and replays them, though it cannot
//! write them: its scrape loop lacks the flag) replays a WAL we wrote with metadata records
//! between series and samples, and keeps every sample after them. A record it failed to
//! decode would be WAL corruption, dropping everything after it.

use std::time::{SystemTime, UNIX_EPOCH};

use model::Labels;
use storage::{Appendable, Metadata, MetricType};
use tsdb::db::{Db, Options};

use super::real::{Real, have_prometheus, secs};

#[test]
fn prometheus_242_replays_our_metadata_records() {
    if !have_prometheus() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let start = now - 59 * 15_000;
    let meta = |t: MetricType, help: &str| Metadata {
        metric_type: t,
        unit: "seconds".into(),
        help: help.into(),
    };
    {
        let db = Db::open(&data, Options::default()).unwrap();
        for k in 0..60i64 {
            let mut app = db.appender();
            for i in 0..3 {
                let l =
                    Labels::from_pairs([("__name__", "meta_x".to_string()), ("i", i.to_string())]);
                let r = app.append(0, &l, start + k * 15_000, k as f64).unwrap();
                // The help changes every 20 steps: new records in the middle of the WAL.
                let help = format!("Help {} with unicode ✓.", k / 20);
                app.update_metadata(r, &l, &meta(MetricType::Counter, &help))
                    .unwrap();
            }
            app.commit().unwrap();
        }
        let l = Labels::from_pairs([("__name__", "meta_x"), ("i", "0")]);
        assert_eq!(
            db.head().series_metadata(&l),
            Some(meta(MetricType::Counter, "Help 2 with unicode ✓."))
        );
        db.close().unwrap();
    }
    let real = Real::start(&data, &[]);
    let v = real.get_json(&format!(
        "/api/v1/query?query=count_over_time(meta_x%5B20m%5D)&time={}",
        secs(now)
    ));
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 3, "{v}");
    for s in result {
        assert_eq!(s["value"][1], "60", "{v}");
    }
    let log = real.log_text();
    real.stop();
    assert!(!log.to_lowercase().contains("corrupt"), "{log}");

    // And we replay them ourselves after Prometheus 2.42 ran on the directory.
    let db = Db::open(&data, Options::default()).unwrap();
    let l = Labels::from_pairs([("__name__", "meta_x"), ("i", "2")]);
    assert_eq!(
        db.head().series_metadata(&l),
        Some(meta(MetricType::Counter, "Help 2 with unicode ✓."))
    );
    db.close().unwrap();
}
