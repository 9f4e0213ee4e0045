//! The head and `Db` against data directories a real Prometheus 2.42 left behind (WAL,
//! checkpoint, memory-mapped head chunks, blocks), and against crashes and damaged WALs.

use std::collections::BTreeMap;
use std::path::Path;

use model::{Labels, MatchType, Matcher};
use storage::{Appendable, Queryable, ValueType};
use tsdb::db::{Db, Options};

/// Copies a fixture directory into a fresh temporary directory (writable copies).
pub(crate) fn copy_fixture(src: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(src, tmp.path());
    tmp
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
            let mut perm = std::fs::metadata(&to).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&to, perm).unwrap();
        }
    }
}

/// Every sample of every series matching `matchers`, by labels.
pub(crate) fn dump(db: &Db, matchers: &[Matcher]) -> BTreeMap<Labels, Vec<(i64, f64)>> {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let mut set = q.select(true, None, matchers);
    let mut out = BTreeMap::new();
    while let Some(s) = set.next() {
        let s = s.unwrap();
        let mut it = s.iterator();
        let mut v = Vec::new();
        while it.next() == ValueType::Float {
            v.push(it.at());
        }
        assert!(it.err().is_none(), "{:?}", it.err());
        out.insert(s.labels().clone(), v);
    }
    out
}

fn any_name() -> Vec<Matcher> {
    vec![Matcher::new(MatchType::RegexMatch, "__name__", ".+").unwrap()]
}

#[test]
fn prometheus_242_wal_replay_has_every_queried_sample() {
    let Some(fixture) = test_support::testdata_dir("prom-2.42/wal-replay") else {
        return;
    };
    let tmp = copy_fixture(&fixture);
    let db = Db::open(tmp.path(), Options::default()).unwrap();
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("truth.json")).unwrap())
            .unwrap();
    let got = dump(&db, &any_name());
    let result = truth["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 4);
    let mut checked = 0;
    for series in result {
        let labels = Labels::from_pairs(
            series["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())),
        );
        let samples = got
            .get(&labels)
            .unwrap_or_else(|| panic!("series {labels} missing after replay"));
        for pair in series["values"].as_array().unwrap() {
            let t = (pair[0].as_f64().unwrap() * 1000.0).round() as i64;
            let v: f64 = pair[1].as_str().unwrap().parse().unwrap();
            assert!(
                samples.iter().any(|&(st, sv)| st == t && sv == v),
                "{labels}: sample {t} {v} missing"
            );
            checked += 1;
        }
    }
    assert!(checked > 30);
    let stats = db.head().replay_stats();
    assert_eq!(stats.wal_corruption, None);
    assert!(stats.series > 300, "{stats:?}");
}

/// Parses `promtool tsdb dump` output: `{labels} value timestamp` per line.
fn parse_dump(text: &str) -> BTreeMap<String, Vec<(i64, u64)>> {
    let mut out: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut parts = line.rsplitn(3, ' ');
        let t: i64 = parts.next().unwrap().parse().unwrap();
        let v: f64 = parts.next().unwrap().parse().unwrap();
        let labels = parts.next().unwrap().to_string();
        out.entry(labels).or_default().push((t, canonical_bits(v)));
    }
    out
}

/// Value bits with every NaN folded together (the dump prints the stale marker as `NaN`).
fn canonical_bits(v: f64) -> u64 {
    if v.is_nan() { f64::NAN.to_bits() } else { v.to_bits() }
}

#[test]
fn prometheus_242_crashed_datadir_opens_with_exactly_its_samples() {
    let Some(fixture) = test_support::testdata_dir("prom-2.42/full-datadir") else {
        return;
    };
    let compressed = std::fs::read(fixture.join("truth.dump.zst")).unwrap();
    let text = String::from_utf8(zstd::decode_all(&compressed[..]).unwrap()).unwrap();
    let mut want = parse_dump(&text);
    for v in want.values_mut() {
        v.sort_unstable();
    }
    assert_eq!(want.values().map(Vec::len).sum::<usize>(), 263_410);

    let tmp = copy_fixture(&fixture.join("data"));
    let db = Db::open(tmp.path(), Options::default()).unwrap();
    let stats = db.head().replay_stats();
    // This crash left `chunks_head/000004` with a header and zeros only (preallocated).
    assert_eq!(stats.head_chunks_corruption, None);
    assert_eq!(stats.series, 100, "{stats:?}");
    assert_eq!(stats.wal_corruption, None);
    let got: BTreeMap<String, Vec<(i64, u64)>> = dump(&db, &any_name())
        .into_iter()
        .map(|(l, s)| {
            (
                l.to_string(),
                s.into_iter().map(|(t, v)| (t, canonical_bits(v))).collect(),
            )
        })
        .collect();
    assert_eq!(got.len(), want.len(), "series count");
    for (labels, samples) in &want {
        let g = got
            .get(labels)
            .unwrap_or_else(|| panic!("series {labels} missing"));
        if g != samples {
            let first_diff = g.iter().zip(samples).position(|(a, b)| a != b);
            panic!(
                "{labels}: got {} samples, want {}; first difference at {first_diff:?}",
                g.len(),
                samples.len()
            );
        }
    }
    // Appending continues after the replayed data, and survives a reopen.
    let maxt = db.head().max_time();
    let mut app = db.appender();
    let l = Labels::from_pairs([("__name__", "after_restart")]);
    app.append(0, &l, maxt + 1000, 42.0).unwrap();
    app.commit().unwrap();
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), Options::default()).unwrap();
    let again = dump(&db, &any_name());
    assert_eq!(again.len(), want.len() + 1);
    assert_eq!(again[&l], vec![(maxt + 1000, 42.0)]);
}
