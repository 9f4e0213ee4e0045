//! Chunk snapshots (`--enable-feature=memory-snapshot-on-shutdown`) are byte-compatible
//! with Prometheus 2.42 both ways: the snapshot Prometheus 2.42 writes at shutdown (float
//! series with their open chunks, tombstones, exemplars) is loaded here in place of its
//! WAL, and Prometheus 2.42 loads the snapshot we write and answers the same queries.
//! (Prometheus 2.42 turns snapshots off when native histograms are on, so histogram
//! snapshots are only checked by the unit tests.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use model::{Labels, MatchType, Matcher};
use storage::{Appendable, ExemplarQueryable};
use tsdb::db::{Db, Options};

use super::head::dump;
use super::real::{Real, have_prometheus, proto, secs};

const FEATURES: &str = "--enable-feature=memory-snapshot-on-shutdown,exemplar-storage";
const STEP: i64 = 15_000;
const STEPS: i64 = 150;
/// Series of one sample each, so that the snapshot spans several WAL pages.
const FILL: i64 = 600;

fn start_real(data: &Path) -> Real {
    Real::start(
        data,
        &[
            FEATURES,
            "--web.enable-remote-write-receiver",
            "--web.enable-admin-api",
        ],
    )
}

/// Every sample of `snap_x` Prometheus 2.42 has in the last `STEPS` steps before `end` (a
/// range query `snap_x[..]` at `end`).
fn real_samples(real: &Real, end: i64) -> Samples {
    let v = real.get_json(&format!(
        "/api/v1/query?query=snap_x%5B{}s%5D&time={}",
        STEPS * STEP / 1000 + 60,
        secs(end)
    ));
    let mut out = Samples::new();
    for s in v["data"]["result"].as_array().unwrap() {
        let vals = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    ms(p[0].as_f64().unwrap()),
                    p[1].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        out.insert(labels_of(&s["metric"]), vals);
    }
    out
}

fn real_exemplars(real: &Real, start: i64, end: i64) -> Exemplars {
    let v = real.get_json(&format!(
        "/api/v1/query_exemplars?query=snap_x&start={}&end={}",
        secs(start),
        secs(end)
    ));
    let mut out = Exemplars::new();
    for s in v["data"].as_array().unwrap() {
        let list = out.entry(labels_of(&s["seriesLabels"])).or_default();
        for e in s["exemplars"].as_array().unwrap() {
            list.push((
                labels_of(&e["labels"]),
                e["value"].as_str().unwrap().parse().unwrap(),
                ms(e["timestamp"].as_f64().unwrap()),
            ));
        }
    }
    out
}

type Samples = BTreeMap<Labels, Vec<(i64, f64)>>;
type Exemplars = BTreeMap<Labels, Vec<(Labels, f64, i64)>>;

fn ms(secs: f64) -> i64 {
    (secs * 1000.0).round() as i64
}

fn labels_of(v: &serde_json::Value) -> Labels {
    Labels::from_pairs(
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())),
    )
}

fn series(i: i64) -> Labels {
    Labels::from_pairs([("__name__", "snap_x".to_string()), ("i", i.to_string())])
}

fn fill_series(i: i64) -> Labels {
    Labels::from_pairs([("__name__", "snap_fill".to_string()), ("i", i.to_string())])
}

/// The data set: three series of `STEPS` samples ending at `end` (one chunk cut and
/// memory-mapped, one open), exemplars on the first, and a deletion in the third.
struct Data {
    start: i64,
    end: i64,
}

impl Data {
    fn new() -> Data {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        Data {
            start: now - (STEPS - 1) * STEP,
            end: now,
        }
    }

    fn t(&self, k: i64) -> i64 {
        self.start + k * STEP
    }

    fn value(k: i64, i: i64) -> f64 {
        (k * (i + 1)) as f64 + 0.25
    }

    fn exemplar_steps() -> [i64; 4] {
        [10, 50, 100, 149]
    }

    fn exemplar(k: i64) -> (Labels, f64) {
        (
            Labels::from_pairs([("trace_id", format!("t{k}"))]),
            k as f64 * 0.5,
        )
    }

    /// The deleted range of series 2: steps 0..=20.
    fn deleted(&self) -> (i64, i64) {
        (self.t(0), self.t(20))
    }

    fn expected_samples(&self) -> Samples {
        let (dmin, dmax) = self.deleted();
        (0..3)
            .map(|i| {
                let v = (0..STEPS)
                    .map(|k| (self.t(k), Data::value(k, i)))
                    .filter(|(t, _)| i != 2 || !(dmin..=dmax).contains(t))
                    .collect();
                (series(i), v)
            })
            .collect()
    }

    fn expected_fill(&self) -> Samples {
        (0..FILL)
            .map(|i| (fill_series(i), vec![(self.t(0), i as f64)]))
            .collect()
    }

    fn expected_exemplars(&self) -> Exemplars {
        let list = Data::exemplar_steps()
            .iter()
            .map(|&k| {
                let (l, v) = Data::exemplar(k);
                (l, v, self.t(k))
            })
            .collect();
        BTreeMap::from([(series(0), list)])
    }
}

/// Steps `from..to` of every series, with their exemplars, as one write request.
fn write_request(d: &Data, from: i64, to: i64) -> Vec<u8> {
    let mut all = Vec::new();
    for i in 0..3 {
        let mut ts = Vec::new();
        proto::labels(&mut ts, 1, &series(i));
        for k in from..to {
            proto::sample(&mut ts, 2, d.t(k), Data::value(k, i));
            if i == 0 && Data::exemplar_steps().contains(&k) {
                let (l, v) = Data::exemplar(k);
                let mut e = Vec::new();
                proto::labels(&mut e, 1, &l);
                proto::f64_field(&mut e, 2, v);
                proto::u64_field(&mut e, 3, d.t(k) as u64);
                proto::bytes_field(&mut ts, 3, &e);
            }
        }
        all.push(ts);
    }
    if from == 0 {
        for i in 0..FILL {
            let mut ts = Vec::new();
            proto::labels(&mut ts, 1, &fill_series(i));
            proto::sample(&mut ts, 2, d.t(0), i as f64);
            all.push(ts);
        }
    }
    proto::request(&all)
}

fn snapshot_dirs(data: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(data)
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.starts_with(tsdb::head::CHUNK_SNAPSHOT_PREFIX))
        .collect();
    v.sort();
    v
}

/// Asserts that the snapshot's log spans more than one WAL page.
fn assert_several_pages(data: &Path, snapshot: &str) {
    let size = std::fs::metadata(data.join(snapshot).join("00000000"))
        .unwrap()
        .len();
    assert!(size > 32 * 1024, "snapshot of {size} bytes");
}

fn options() -> Options {
    Options {
        enable_memory_snapshot_on_shutdown: true,
        max_exemplars: 100_000,
        ..Options::default()
    }
}

fn our_samples(db: &Db) -> Samples {
    our_series(db, "snap_x")
}

/// Every sample of the series named `name`.
fn our_series(db: &Db, name: &str) -> Samples {
    dump(
        db,
        &[Matcher::new(MatchType::Equal, "__name__", name).unwrap()],
    )
}

fn our_exemplars(db: &Db) -> Exemplars {
    let m = vec![Matcher::new(MatchType::Equal, "__name__", "snap_x").unwrap()];
    let res = db
        .exemplar_querier()
        .unwrap()
        .select(i64::MIN, i64::MAX, &[m])
        .unwrap();
    res.into_iter()
        .map(|r| {
            let list = r
                .exemplars
                .into_iter()
                .map(|e| (e.labels, e.value, e.ts))
                .collect();
            (r.series_labels, list)
        })
        .collect()
}

/// A temporary directory, the data directory path in it and the data set; `None` (the test
/// is skipped) without Prometheus 2.42.
fn setup() -> Option<(tempfile::TempDir, PathBuf, Data)> {
    if !have_prometheus() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    Some((dir, data, Data::new()))
}

#[test]
fn we_load_the_snapshot_prometheus_242_writes() {
    let Some((_dir, data, d)) = setup() else {
        return;
    };
    let real = start_real(&data);
    for from in (0..STEPS).step_by(50) {
        real.remote_write(&write_request(&d, from, (from + 50).min(STEPS)));
    }
    let (dmin, dmax) = d.deleted();
    let (status, body) = real
        .http(
            "POST",
            &format!(
                "/api/v1/admin/tsdb/delete_series?match%5B%5D=snap_x%7Bi%3D%222%22%7D&start={}&end={}",
                secs(dmin),
                secs(dmax)
            ),
            &[],
            b"",
        )
        .expect("delete answered");
    assert_eq!(status / 100, 2, "delete: {body}");
    assert_eq!(real_samples(&real, d.end), d.expected_samples());
    assert_eq!(
        real_exemplars(&real, d.start, d.end),
        d.expected_exemplars()
    );
    real.stop();
    let snaps = snapshot_dirs(&data);
    assert_eq!(
        snaps.len(),
        1,
        "prometheus 2.42 left one snapshot: {snaps:?}"
    );
    assert_several_pages(&data, &snaps[0]);

    let db = Db::open(&data, options()).unwrap();
    let st = db.head().replay_stats();
    assert_eq!(st.chunk_snapshot_error, None);
    assert_eq!(
        st.chunk_snapshot.as_deref(),
        Some(data.join(&snaps[0]).as_path())
    );
    assert_eq!(st.chunk_snapshot_series, 3 + FILL as u64);
    assert_eq!(st.samples, 0, "no WAL sample after the snapshot: {st:?}");
    assert_eq!(st.exemplars, 0, "exemplars came from the snapshot: {st:?}");
    assert_eq!(our_samples(&db), d.expected_samples());
    assert_eq!(our_series(&db, "snap_fill"), d.expected_fill());
    assert_eq!(our_exemplars(&db), d.expected_exemplars());
    db.close().unwrap();
}

#[test]
fn prometheus_242_loads_the_snapshot_we_write() {
    let Some((_dir, data, d)) = setup() else {
        return;
    };
    {
        let db = Db::open(&data, options()).unwrap();
        for k in 0..STEPS {
            let mut app = db.appender();
            for i in 0..3 {
                app.append(0, &series(i), d.t(k), Data::value(k, i))
                    .unwrap();
                if i == 0 && Data::exemplar_steps().contains(&k) {
                    let (labels, value) = Data::exemplar(k);
                    app.append_exemplar(
                        0,
                        &series(i),
                        &storage::Exemplar {
                            labels,
                            value,
                            ts: d.t(k),
                            has_ts: true,
                        },
                    )
                    .unwrap();
                }
            }
            if k == 0 {
                for i in 0..FILL {
                    app.append(0, &fill_series(i), d.t(0), i as f64).unwrap();
                }
            }
            app.commit().unwrap();
        }
        let (dmin, dmax) = d.deleted();
        let m = [
            Matcher::new(MatchType::Equal, "__name__", "snap_x").unwrap(),
            Matcher::new(MatchType::Equal, "i", "2").unwrap(),
        ];
        db.delete(&m, dmin, dmax).unwrap();
        assert_eq!(our_samples(&db), d.expected_samples());
        db.close().unwrap();
    }
    let snaps = snapshot_dirs(&data);
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    assert_several_pages(&data, &snaps[0]);

    let real = start_real(&data);
    let log = real.log_text();
    assert!(
        log.contains("msg=\"chunk snapshot loaded\"")
            && log.contains(&format!("num_series={}", 3 + FILL)),
        "prometheus 2.42 did not load our snapshot:\n{log}"
    );
    // Reading the WAL from the snapshot's offset on found nothing wrong.
    assert!(
        !log.contains("level=error") && !log.contains("level=warn"),
        "{log}"
    );
    let metrics = real.http("GET", "/metrics", &[], b"").expect("metrics").1;
    assert!(
        metrics.contains("\nprometheus_tsdb_snapshot_replay_error_total 0\n"),
        "{metrics}"
    );
    assert_eq!(real_samples(&real, d.end), d.expected_samples());
    assert_eq!(
        real.get_json(&format!(
            "/api/v1/query?query=count%28snap_fill%29&time={}",
            secs(d.t(0))
        ))["data"]["result"][0]["value"][1],
        FILL.to_string().as_str()
    );
    assert_eq!(
        real_exemplars(&real, d.start, d.end),
        d.expected_exemplars()
    );
    real.stop();
}

#[test]
fn a_snapshot_damaged_after_prometheus_242_wrote_it_falls_back_to_its_wal() {
    let Some((_dir, data, d)) = setup() else {
        return;
    };
    let real = start_real(&data);
    real.remote_write(&write_request(&d, 0, STEPS));
    real.stop();
    let snaps = snapshot_dirs(&data);
    let seg = data.join(&snaps[0]).join("00000000");
    let mut b = std::fs::read(&seg).unwrap();
    b[30] ^= 0x55;
    std::fs::write(&seg, b).unwrap();

    let db = Db::open(&data, options()).unwrap();
    let st = db.head().replay_stats();
    let err = st.chunk_snapshot_error.expect("the damage is reported");
    assert!(err.contains("chunk_snapshot."), "{err}");
    assert!(st.chunk_snapshot.is_none());
    assert_eq!(
        st.samples,
        (STEPS * 3 + FILL) as u64,
        "the whole WAL was replayed"
    );
    let mut want = d.expected_samples();
    // Nothing was deleted this time.
    want.insert(
        series(2),
        (0..STEPS).map(|k| (d.t(k), Data::value(k, 2))).collect(),
    );
    assert_eq!(our_samples(&db), want);
    assert_eq!(our_exemplars(&db), d.expected_exemplars());
    db.close().unwrap();
}
