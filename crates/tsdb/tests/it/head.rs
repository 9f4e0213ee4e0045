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
    if v.is_nan() {
        f64::NAN.to_bits()
    } else {
        v.to_bits()
    }
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

const CHILD_ENV: &str = "TSDB_CRASH_CHILD_DIR";
const CRASH_SERIES: usize = 10;
/// Time step between batches (ms).
const CRASH_STEP: i64 = 10_000;

fn crash_options() -> Options {
    Options {
        wal_segment_size: 2 * 32 * 1024,
        // The child writes 10 s steps as fast as it can: on a fast machine the data spans more
        // than the default 15 days within the test, and retention would then (correctly) drop
        // the oldest block. This test is about crashes, not retention.
        retention_duration: 0,
        ..Options::default()
    }
}

fn crash_labels(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "crash".to_string()), ("i", i.to_string())])
}

fn crash_value(t: i64, i: usize) -> f64 {
    (t / CRASH_STEP) as f64 * 10.0 + i as f64
}

/// The child side of the crash test: appends and commits batches forever, printing each
/// committed batch's timestamp. Does nothing unless started by the parent.
#[test]
fn crash_child() {
    use std::io::Write;
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let db = Db::open(&dir, crash_options()).unwrap();
    let mut t = match db.head().max_time() {
        i64::MIN => db.blocks().last().map_or(0, |b| b.max_time),
        m => m + CRASH_STEP,
    };
    let mut out = std::io::stdout().lock();
    let mut refs = [0u64; CRASH_SERIES];
    for n in 0u64.. {
        let mut app = db.appender();
        for (i, r) in refs.iter_mut().enumerate() {
            *r = app
                .append(*r, &crash_labels(i), t, crash_value(t, i))
                .unwrap();
        }
        app.commit().unwrap();
        writeln!(out, "committed {t}").unwrap();
        out.flush().unwrap();
        t += CRASH_STEP;
        if n % 300 == 299 {
            db.compact().unwrap();
        }
    }
}

#[test]
fn sigkill_at_random_moments_never_loses_committed_samples() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut last_committed = i64::MIN;
    let mut kills = 0;
    for round in 0..24 {
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "head::crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(t) = line.strip_prefix("committed ")
                    && let Ok(t) = t.parse::<i64>()
                {
                    let _ = tx.send(t);
                }
            }
        });
        // Wait for the first commit, then kill after a pseudo-random delay.
        let first = rx.recv_timeout(std::time::Duration::from_secs(60));
        assert!(first.is_ok(), "round {round}: the child never committed");
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let delay = 1 + (seed >> 33) % 300;
        std::thread::sleep(std::time::Duration::from_millis(delay));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "round {round}: the child died by itself: {status:?}"
        );
        kills += 1;
        reader.join().unwrap();
        for t in rx.try_iter().chain(first) {
            last_committed = last_committed.max(t);
        }

        let newest_chunk_file = newest_head_chunk_file(dir.path());
        let db = Db::open(dir.path(), crash_options()).unwrap();
        let stats = db.head().replay_stats();
        assert_eq!(stats.wal_corruption, None, "round {round}");
        // A kill during a head chunk file write may leave the newest file's tail torn (a
        // write to a regular file stops at a page boundary on SIGKILL); opening then drops
        // that file's chunks and rebuilds them from the WAL, as Prometheus does. Older files
        // were complete (and fsynced) before the newest one was started.
        if let Some(c) = &stats.head_chunks_corruption {
            let (seq, len) = newest_chunk_file.expect("a damaged head chunk file existed");
            assert!(
                c.starts_with(&format!("head chunk file {seq}: ")),
                "round {round}: {c} (the newest file was {seq}, {len} bytes)"
            );
            eprintln!("round {round}: torn head chunk file ({len} bytes): {c}");
        }
        let got = dump(
            &db,
            &[Matcher::new(MatchType::Equal, "__name__", "crash").unwrap()],
        );
        assert_eq!(got.len(), CRASH_SERIES, "round {round}");
        for (i, labels) in (0..CRASH_SERIES).map(|i| (i, crash_labels(i))) {
            let samples = &got[&labels];
            // Every committed batch is there, in order, with the right values, and nothing
            // else (a batch written but not yet acknowledged may be there too).
            let n_committed = (last_committed / CRASH_STEP + 1) as usize;
            assert!(
                samples.len() >= n_committed,
                "round {round}: series {i} has {} samples, {n_committed} were committed",
                samples.len()
            );
            for (k, &(t, v)) in samples.iter().enumerate() {
                assert_eq!(t, k as i64 * CRASH_STEP, "round {round}: series {i}");
                assert_eq!(v, crash_value(t, i), "round {round}: series {i} at {t}");
            }
        }
        db.close().unwrap();
    }
    assert!(kills >= 20);
    assert!(last_committed > 0);
    let db = Db::open(dir.path(), crash_options()).unwrap();
    assert!(
        !db.blocks().is_empty(),
        "the children compacted the head (and were killed during some compactions)"
    );
}

/// The sequence number and size of the newest file in `dir/chunks_head`.
fn newest_head_chunk_file(dir: &Path) -> Option<(u64, u64)> {
    let chunks_dir = dir.join("chunks_head");
    let newest = std::fs::read_dir(&chunks_dir)
        .ok()?
        .filter_map(|e| e.unwrap().file_name().to_str()?.parse::<u64>().ok())
        .max()?;
    let len = std::fs::metadata(chunks_dir.join(format!("{newest:06}")))
        .unwrap()
        .len();
    Some((newest, len))
}

/// Writes a small database, damages its newest WAL segment with `damage`, and checks that
/// opening repairs it (never panics), keeps a consistent prefix, and accepts new appends.
fn open_after_damage(damage: impl Fn(&mut Vec<u8>)) {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        wal_compression: tsdb::wlog::Compression::None,
        ..Options::default()
    };
    {
        let db = Db::open(dir.path(), opts.clone()).unwrap();
        for t in 0..200 {
            let mut app = db.appender();
            for i in 0..20 {
                let l = Labels::from_pairs([("__name__", "x".to_string()), ("i", i.to_string())]);
                app.append(0, &l, t * 1000, (t * 100 + i) as f64).unwrap();
            }
            app.commit().unwrap();
        }
    }
    let wal = dir.path().join("wal");
    let last = tsdb::wlog::list_segments(&wal).unwrap();
    let seg = tsdb::wlog::segment_name(&wal, *last.iter().max().unwrap());
    let mut data = std::fs::read(&seg).unwrap();
    damage(&mut data);
    std::fs::write(&seg, &data).unwrap();

    let db = Db::open(dir.path(), opts.clone()).unwrap();
    let got = dump(
        &db,
        &[Matcher::new(MatchType::Equal, "__name__", "x").unwrap()],
    );
    for (l, samples) in &got {
        let i: i64 = l.get("i").unwrap().parse().unwrap();
        for (k, &(t, v)) in samples.iter().enumerate() {
            assert_eq!(t, k as i64 * 1000);
            assert_eq!(v, (k as i64 * 100 + i) as f64);
        }
    }
    let maxt = db.head().max_time().max(0);
    let mut app = db.appender();
    let l = Labels::from_pairs([("__name__", "after")]);
    app.append(0, &l, maxt + 1000, 1.0).unwrap();
    app.commit().unwrap();
    db.close().unwrap();
    drop(db);
    let db = Db::open(dir.path(), opts).unwrap();
    assert_eq!(
        db.head().replay_stats().wal_corruption,
        None,
        "the repair held"
    );
    let after = dump(
        &db,
        &[Matcher::new(MatchType::Equal, "__name__", "after").unwrap()],
    );
    assert_eq!(after.len(), 1);
}

#[test]
fn truncated_wal_segments_are_repaired() {
    for cut in [1usize, 5, 100, 3000, 20_000, 40_000] {
        open_after_damage(|d| {
            let n = d.len().saturating_sub(cut);
            d.truncate(n);
        });
    }
}

#[test]
fn bit_flipped_wal_segments_are_repaired() {
    for pos in [0usize, 1, 7, 500, 10_000, 33_000, 60_000] {
        open_after_damage(|d| {
            if let Some(b) = d.get_mut(pos) {
                *b ^= 0x10;
            }
        });
    }
}

/// The real promtool 2.42 reads a data directory we wrote (WAL, memory-mapped head chunks,
/// a block) and dumps exactly our samples.
#[test]
fn promtool_dumps_exactly_what_we_wrote() {
    const PROMTOOL: &str = "/usr/bin/promtool";
    if !Path::new(PROMTOOL).is_file() {
        eprintln!("notice: skipping, {PROMTOOL} not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = 1_700_000_000_000i64;
    // Small segments, so that compaction also writes a WAL checkpoint.
    let opts = Options {
        wal_segment_size: 32 * 1024,
        wal_compression: tsdb::wlog::Compression::None,
        ..Options::default()
    };
    {
        let db = Db::open(dir.path(), opts.clone()).unwrap();
        let mut refs = [0u64; 12];
        // 5 h at 15 s: full chunks in chunks_head/, and a block after compaction.
        for k in 0..1200i64 {
            let mut app = db.appender();
            for (i, r) in refs.iter_mut().enumerate() {
                let l = Labels::from_pairs([
                    ("__name__", "rs_head_total".to_string()),
                    ("i", i.to_string()),
                    ("note", "a \"q\" ü".to_string()),
                ]);
                let v = if i == 5 && k % 100 == 7 {
                    f64::from_bits(0x7ff0_0000_0000_0002)
                } else {
                    (k * (i as i64 + 1)) as f64 * 0.25
                };
                *r = app.append(*r, &l, base + k * 15_000, v).unwrap();
            }
            app.commit().unwrap();
        }
        db.compact().unwrap();
        assert!(!db.blocks().is_empty());
        assert!(
            tsdb::checkpoint::last_checkpoint(&dir.path().join("wal"))
                .unwrap()
                .is_some()
        );
        // Not closed: promtool must cope with the state a crash leaves.
        db.head().mapper_flush_for_tests();
        std::mem::forget(db);
    }
    let ours = {
        let tmp = copy_fixture(dir.path());
        std::fs::remove_file(tmp.path().join("lock")).unwrap();
        let db = Db::open(tmp.path(), opts).unwrap();
        dump(&db, &any_name())
    };
    std::fs::remove_file(dir.path().join("lock")).unwrap();
    let out = std::process::Command::new(PROMTOOL)
        .args(["tsdb", "dump"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = parse_dump(&String::from_utf8(out.stdout).unwrap());
    let ours: BTreeMap<String, Vec<(i64, u64)>> = ours
        .into_iter()
        .map(|(l, s)| {
            (
                l.to_string(),
                s.into_iter().map(|(t, v)| (t, canonical_bits(v))).collect(),
            )
        })
        .collect();
    assert_eq!(ours.len(), 12);
    assert_eq!(ours.values().map(Vec::len).sum::<usize>(), 12 * 1200);
    let mut theirs = theirs;
    for v in theirs.values_mut() {
        v.sort_unstable();
    }
    assert_eq!(theirs, ours);
}

/// A damaged `chunks_head/` file is deleted (with the files after it) and its samples come
/// back from the WAL.
#[test]
fn damaged_head_chunks_are_rebuilt_from_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let l = Labels::from_pairs([("__name__", "hc")]);
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let mut r = 0;
        for k in 0..1000i64 {
            let mut app = db.appender();
            r = app.append(r, &l, k * 1000, k as f64).unwrap();
            app.commit().unwrap();
        }
        db.close().unwrap();
    }
    let want: Vec<(i64, f64)> = (0..1000).map(|k| (k * 1000, k as f64)).collect();
    let chunks_dir = dir.path().join("chunks_head");
    let files: Vec<_> = std::fs::read_dir(&chunks_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!files.is_empty());
    for f in &files {
        let mut b = std::fs::read(f).unwrap();
        if b.len() > 100 {
            b[60] ^= 0xff;
            std::fs::write(f, &b).unwrap();
        }
    }
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let stats = db.head().replay_stats();
    assert!(stats.head_chunks_corruption.is_some(), "{stats:?}");
    let got = dump(
        &db,
        &[Matcher::new(MatchType::Equal, "__name__", "hc").unwrap()],
    );
    assert_eq!(got[&l], want);
}

/// The series and samples written by [`head_chunks_damage_case`]: 12 series, 1500 samples
/// each at 15 s steps, in two sessions (so two head chunk files).
fn damage_series(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "hc".to_string()), ("i", i.to_string())])
}

/// Writes a database whose `chunks_head/` holds two files (one per session), damages the
/// files with `damage(dir)`, and checks that opening succeeds, serves every committed
/// sample (the WAL has them all), accepts appends, and that the repair holds on the next
/// open. Returns what the first open reported as head chunk corruption.
fn head_chunks_damage_case(damage: impl Fn(&Path)) -> Option<String> {
    head_chunks_damage_case_with(false, damage)
}

/// [`head_chunks_damage_case`], optionally with chunk snapshots on shutdown.
fn head_chunks_damage_case_with(snapshots: bool, damage: impl Fn(&Path)) -> Option<String> {
    const SERIES: usize = 12;
    const PER_SESSION: i64 = 750;
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        retention_duration: 0,
        enable_memory_snapshot_on_shutdown: snapshots,
        ..Options::default()
    };
    let mut want: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for session in 0..2 {
        let db = Db::open(dir.path(), opts.clone()).unwrap();
        for k in session * PER_SESSION..(session + 1) * PER_SESSION {
            let mut app = db.appender();
            for i in 0..SERIES {
                let (t, v) = (k * 15_000, (k * 100 + i as i64) as f64);
                app.append(0, &damage_series(i), t, v).unwrap();
                want.entry(damage_series(i)).or_default().push((t, v));
            }
            app.commit().unwrap();
        }
        db.close().unwrap();
    }
    let chunks_dir = dir.path().join("chunks_head");
    let files: Vec<String> = {
        let mut f: Vec<String> = std::fs::read_dir(&chunks_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        f.sort();
        f
    };
    assert_eq!(
        files,
        ["000001", "000002"],
        "one head chunk file per session"
    );
    damage(&chunks_dir);

    let matchers = [Matcher::new(MatchType::Equal, "__name__", "hc").unwrap()];
    let db = Db::open(dir.path(), opts.clone()).unwrap();
    let corruption = db.head().replay_stats().head_chunks_corruption;
    assert_eq!(dump(&db, &matchers), want, "after damage {corruption:?}");
    let t = 2 * PER_SESSION * 15_000;
    let mut app = db.appender();
    app.append(0, &damage_series(0), t, -1.0).unwrap();
    app.commit().unwrap();
    want.get_mut(&damage_series(0)).unwrap().push((t, -1.0));
    db.close().unwrap();
    drop(db);

    let db = Db::open(dir.path(), opts).unwrap();
    assert_eq!(
        db.head().replay_stats().head_chunks_corruption,
        None,
        "the repair held"
    );
    assert_eq!(dump(&db, &matchers), want, "after the repair");
    db.close().unwrap();
    corruption
}

fn edit_file(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = std::fs::read(path).unwrap();
    f(&mut b);
    std::fs::write(path, &b).unwrap();
}

/// A kill during a head chunk file write leaves its tail torn (the kernel stops a write
/// to a regular file at a page boundary when the process gets SIGKILL): opening drops the
/// chunks from the damaged file on and rebuilds them from the WAL, as Prometheus does.
#[test]
fn truncated_head_chunk_files_are_rebuilt_from_the_wal() {
    for cut in [1usize, 3, 4, 20, 37, 100, 1000, 4096] {
        let c = head_chunks_damage_case(|d| {
            edit_file(&d.join("000002"), |b| {
                b.truncate(b.len().saturating_sub(cut).max(9));
            });
        });
        assert!(
            c.as_ref().is_some_and(|c| c.contains("file 2")),
            "cut {cut}: {c:?}"
        );
    }
    // Torn at a page boundary, whatever chunk that splits.
    for keep in [4096usize, 8192] {
        let c = head_chunks_damage_case(|d| {
            edit_file(&d.join("000002"), |b| b.truncate(keep));
        });
        assert!(c.is_some(), "kept {keep}");
    }
    // The newest file cut to its header or less: opening deletes it, the WAL has its chunks.
    for keep in [8usize, 5, 4, 3, 1, 0] {
        head_chunks_damage_case(|d| {
            edit_file(&d.join("000002"), |b| b.truncate(keep));
        });
    }
}

#[test]
fn garbage_and_bad_checksums_in_head_chunk_files_are_rebuilt_from_the_wal() {
    // Garbage after the last chunk.
    for garbage in [&[1u8][..], &[0xff; 7], &[0x5a; 40], &[7; 5000]] {
        let c = head_chunks_damage_case(|d| {
            edit_file(&d.join("000002"), |b| b.extend_from_slice(garbage));
        });
        assert!(c.is_some(), "{} bytes of garbage", garbage.len());
    }
    // Zeros after the last chunk are what a preallocated file looks like: not damage.
    for zeros in [1usize, 37, 38, 4096] {
        let c = head_chunks_damage_case(|d| {
            edit_file(&d.join("000002"), |b| b.resize(b.len() + zeros, 0));
        });
        assert_eq!(c, None, "{zeros} zeros");
    }
    // A torn last chunk: its checksum, its data, its header.
    for back in [1usize, 4, 6, 30] {
        let c = head_chunks_damage_case(|d| {
            edit_file(&d.join("000002"), |b| {
                let at = b.len() - back;
                b[at] ^= 0x41;
            });
        });
        assert!(
            c.as_ref().is_some_and(|c| c.contains("file 2")),
            "byte -{back}: {c:?}"
        );
    }
    // Damage in the older file drops both files; the WAL still has everything.
    for at in [8usize, 100, 2000] {
        let c = head_chunks_damage_case(|d| {
            edit_file(&d.join("000001"), |b| b[at] ^= 0x10);
        });
        assert!(
            c.as_ref().is_some_and(|c| c.contains("file 1")),
            "offset {at}: {c:?}"
        );
    }
}

/// With a chunk snapshot, damage in a file written before it drops the snapshot too: its
/// series and open chunks assume the dropped chunks, and the WAL before it has their
/// samples (Prometheus replays the whole WAL then as well).
#[test]
fn damaged_head_chunks_with_a_chunk_snapshot_replay_the_whole_wal() {
    for (file, at) in [("000001", 100usize), ("000002", 8), ("000001", 8)] {
        let c = head_chunks_damage_case_with(true, |d| {
            edit_file(&d.join(file), |b| b[at] ^= 0x10);
        });
        assert!(c.is_some(), "{file} at {at}");
    }
    let c = head_chunks_damage_case_with(true, |d| {
        edit_file(&d.join("000002"), |b| b.truncate(b.len() - 3));
    });
    assert!(c.is_some());
}

/// A valid chunk that overlaps its series' previous one makes every head chunk file
/// suspect: all are dropped and rebuilt from the WAL, as Prometheus does.
#[test]
fn out_of_sequence_head_chunks_drop_every_file() {
    let c = head_chunks_damage_case(|d| {
        edit_file(&d.join("000002"), |b| {
            // Append a copy of the file's first chunk (header, data, CRC).
            let first = &b[8..];
            let (mut len, mut shift, mut at) = (0usize, 0, 25);
            loop {
                let x = first[at];
                len |= usize::from(x & 0x7f) << shift;
                at += 1;
                if x < 0x80 {
                    break;
                }
                shift += 7;
            }
            let chunk = first[..at + len + 4].to_vec();
            b.extend_from_slice(&chunk);
        });
    });
    let c = c.expect("reported");
    assert!(c.contains("out of sequence"), "{c}");
}
