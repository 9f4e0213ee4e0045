//! Blocks written by this crate are read by the real promtool 2.42.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use model::Labels;
use tsdb::block::Block;
use tsdb::compact::{BlockWriter, encode_chunks};

const PROMTOOL: &str = "/usr/bin/promtool";

fn have_promtool() -> bool {
    if Path::new(PROMTOOL).is_file() {
        return true;
    }
    eprintln!("notice: skipping, {PROMTOOL} not found");
    false
}

fn test_series() -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut out = Vec::new();
    let base = 1_700_000_000_000i64;
    // Values 5 and 6 are where the optimal XOR encoder (`encode_chunks`) chooses other value
    // windows than Prometheus's appender: a counter whose XORs vary in width, and random bits.
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..7 {
        let labels = Labels::from_pairs([
            (
                "__name__",
                match i {
                    0..3 => "rs_requests_total",
                    5 => "rs_bytes_total",
                    6 => "rs_random",
                    _ => "rs_temperature",
                }
                .to_string(),
            ),
            ("instance", format!("host-{i}")),
            ("note", "a \"quoted\" value, ü".to_string()),
        ]);
        let samples = (0..500)
            .map(|k| {
                let v = match i {
                    0 => k as f64 * 3.0,
                    1 => (k as f64 * 0.37).sin() * 100.0,
                    2 if k == 250 => f64::from_bits(0x7ff0_0000_0000_0002),
                    5 => 1_000_000.0 + 10.0 * k as f64,
                    6 => {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        (rng >> 11) as f64 / (1u64 << 53) as f64 * 1000.0
                    }
                    _ => 20.0 + (k % 7) as f64 * 0.25,
                };
                (base + k * 15_000 + (k % 3), v)
            })
            .collect();
        out.push((labels, samples));
    }
    out
}

/// Parses `promtool tsdb dump` lines: `{labels} value timestamp`.
fn parse_dump(text: &str) -> BTreeMap<String, Vec<(i64, String)>> {
    let mut out: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let close = line.rfind('}').expect("labels");
        let labels = line[..=close].to_string();
        let mut f = line[close + 1..].split_whitespace();
        let v = f.next().expect("value").to_string();
        let t: i64 = f.next().expect("ts").parse().expect("ts");
        out.entry(labels).or_default().push((t, v));
    }
    out
}

/// Go's `%g` for the values in the test set (integers, short decimals, NaN).
fn go_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    let s = format!("{v}");
    if s.contains('e') || s.len() < 21 {
        return s;
    }
    format!("{v:e}")
}

#[test]
fn promtool_reads_blocks_we_write() {
    if !have_promtool() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir(data.path().join("wal")).unwrap();
    let series = test_series();
    let base = 1_700_000_000_000i64;
    let ulid = BlockWriter::new(data.path())
        .write(
            series
                .iter()
                .map(|(l, s)| (l.clone(), encode_chunks(s).unwrap())),
            base,
            base + 3 * 3_600_000,
        )
        .unwrap()
        .unwrap();
    let block = Block::open(&data.path().join(ulid.to_string())).unwrap();
    assert_eq!(block.meta().stats.num_samples, 3500);

    let analyze = Command::new(PROMTOOL)
        .args(["tsdb", "analyze"])
        .arg(data.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&analyze.stdout);
    assert!(
        analyze.status.success(),
        "promtool tsdb analyze failed: {}{}",
        stdout,
        String::from_utf8_lossy(&analyze.stderr)
    );
    assert!(stdout.contains(&ulid.to_string()), "{stdout}");
    assert!(stdout.contains("Series: 7"), "{stdout}");

    let dump = Command::new(PROMTOOL)
        .args(["tsdb", "dump"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "promtool tsdb dump failed: {}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let got = parse_dump(&String::from_utf8_lossy(&dump.stdout));
    let mut want: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for (l, s) in &series {
        want.insert(
            l.to_string(),
            s.iter().map(|&(t, v)| (t, go_g(v))).collect(),
        );
    }
    assert_eq!(got.len(), want.len());
    for (l, w) in &want {
        let g = got
            .get(l)
            .unwrap_or_else(|| panic!("{l} missing from dump: {:?}", got.keys()));
        assert_eq!(g.len(), w.len(), "{l}");
        for (a, b) in g.iter().zip(w) {
            assert_eq!(a.0, b.0, "{l}");
            // Compare as numbers: Go's %g and Rust's formatting differ in notation.
            let (x, y): (f64, f64) = (
                a.1.parse().unwrap_or(f64::NAN),
                b.1.parse().unwrap_or(f64::NAN),
            );
            assert!(
                x == y || (x.is_nan() && y.is_nan()),
                "{l} at {}: {} vs {}",
                a.0,
                a.1,
                b.1
            );
        }
    }
}

/// Runs `promtool tsdb dump DIR` and returns its stdout.
fn dump(dir: &Path) -> String {
    let out = Command::new(PROMTOOL)
        .args(["tsdb", "dump"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool tsdb dump {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn promtool_reads_compacted_blocks_we_write() {
    if !have_promtool() {
        return;
    }
    let h2 = 2 * 3_600_000i64;
    let base = 1_700_000_000_000i64 / h2 * h2;
    // Three adjacent 2h blocks of the same series, compacted into one level-2 block.
    let parts = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for b in 0..3 {
        let (mint, maxt) = (base + b * h2, base + (b + 1) * h2);
        let series = test_series().into_iter().map(|(l, s)| {
            let s: Vec<(i64, f64)> = s
                .into_iter()
                .map(|(t, v)| (t - 1_700_000_000_000 + mint, v))
                .filter(|&(t, _)| t < maxt)
                .collect();
            (l, encode_chunks(&s).unwrap())
        });
        let u = BlockWriter::new(parts.path())
            .write(series, mint, maxt)
            .unwrap()
            .unwrap();
        dirs.push(parts.path().join(u.to_string()));
    }
    std::fs::create_dir(parts.path().join("wal")).unwrap();
    let before = dump(parts.path());

    let merged = tempfile::tempdir().unwrap();
    std::fs::create_dir(merged.path().join("wal")).unwrap();
    let compactor =
        tsdb::compact::LeveledCompactor::new(tsdb::compact::exponential_block_ranges(h2, 3, 3))
            .unwrap();
    let u = compactor.compact(merged.path(), &dirs).unwrap().unwrap();
    let block = Block::open(&merged.path().join(u.to_string())).unwrap();
    assert_eq!(block.meta().compaction.level, 2);
    assert_eq!(block.meta().compaction.parents.len(), 3);
    let after = dump(merged.path());
    assert!(!before.is_empty());
    let (mut a, mut b): (Vec<&str>, Vec<&str>) =
        (before.lines().collect(), after.lines().collect());
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b);
}
