//! Integration tests of the tsdb crate's on-disk formats against data written by a real
//! Prometheus 2.42 (and read back by its promtool).
// Test helpers outside `#[test]` functions unwrap and print notices too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod corruption;
mod head;
mod metadata;
mod native_histograms;
mod promtool;
mod real;
mod snapshot;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use model::{Labels, MatchType, Matcher};
use storage::{Querier, ValueType};
use tsdb::block::{Block, block_dirs};
use tsdb::chunkenc::XorChunk;
use tsdb::querier::BlockQuerier;

type Samples = BTreeMap<Labels, Vec<(i64, f64)>>;

/// Parses `name{a="b",...} value timestamp_seconds` lines of an OpenMetrics file.
fn parse_om(text: &str) -> Samples {
    let mut out = Samples::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let brace = line.find('{').expect("labels");
        let name = &line[..brace];
        let mut pairs = vec![("__name__".to_string(), name.to_string())];
        let mut rest = &line[brace + 1..];
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let rest2 = rest.strip_prefix(',').unwrap_or(rest);
            let eq = rest2.find('=').expect("=");
            let lname = rest2[..eq].to_string();
            let mut value = String::new();
            let mut chars = rest2[eq + 2..].char_indices();
            let end = loop {
                let (i, c) = chars.next().expect("closing quote");
                match c {
                    '\\' => {
                        let (_, e) = chars.next().expect("escape");
                        value.push(match e {
                            'n' => '\n',
                            other => other,
                        });
                    }
                    '"' => break eq + 2 + i + 1,
                    c => value.push(c),
                }
            };
            pairs.push((lname, value));
            rest = &rest2[end..];
        }
        let mut fields = rest.split_whitespace();
        let v: f64 = fields.next().expect("value").parse().expect("float");
        let ts: f64 = fields.next().expect("timestamp").parse().expect("ts");
        out.entry(Labels::from_pairs(pairs))
            .or_default()
            .push(((ts * 1000.0).round() as i64, v));
    }
    out
}

fn select_all(block: &Block) -> Samples {
    let q = BlockQuerier::new(Arc::new(block.clone()), i64::MIN, i64::MAX);
    // Every series has some label; "no label named x" selects them all.
    let ms = [Matcher::new(MatchType::Equal, "no_such_label", "").unwrap()];
    let mut set = q.select(true, None, &ms);
    let mut out = Samples::new();
    while let Some(s) = set.next() {
        let s = s.unwrap();
        let mut it = s.iterator();
        let samples = out.entry(s.labels().clone()).or_default();
        while it.next() == ValueType::Float {
            samples.push(it.at());
        }
        assert!(it.err().is_none(), "{:?}", it.err());
    }
    out
}

#[test]
fn prometheus_242_blocks_return_every_sample_of_the_input() {
    let Some(dir) = test_support::testdata_dir("prom-2.42") else {
        return;
    };
    let want = parse_om(&std::fs::read_to_string(dir.join("blocks-input.om")).unwrap());
    let mut got = Samples::new();
    let dirs = block_dirs(&dir.join("blocks")).unwrap();
    assert_eq!(dirs.len(), 4);
    for d in dirs {
        let block = Block::open(&d).unwrap();
        assert_eq!(block.index().version(), 2);
        let samples = select_all(&block);
        let n: usize = samples.values().map(Vec::len).sum();
        assert_eq!(n as u64, block.meta().stats.num_samples);
        for (l, s) in samples {
            got.entry(l).or_default().extend(s);
        }
    }
    assert_eq!(got.len(), 9);
    assert_eq!(got.values().map(Vec::len).sum::<usize>(), 6480);
    for (l, s) in &want {
        let g = &got[l];
        assert_eq!(g.len(), s.len(), "{l}");
        for (a, b) in g.iter().zip(s) {
            assert_eq!(a.0, b.0, "{l}");
            assert_eq!(a.1.to_bits(), b.1.to_bits(), "{l} at {}", a.0);
        }
    }
    assert_eq!(got, want);
}

#[test]
fn reencoding_prometheus_chunks_gives_identical_bytes() {
    let Some(dir) = test_support::testdata_dir("prom-2.42/blocks") else {
        return;
    };
    let mut checked = 0;
    for d in block_dirs(&dir).unwrap() {
        let block = Block::open(&d).unwrap();
        let mut metas = Vec::new();
        for id in block.index().all_postings().unwrap() {
            block.index().series(id, &mut metas).unwrap();
            for m in &metas {
                let stored = block.chunks().chunk(m.chunk_ref).unwrap();
                let original = stored.to_xor().unwrap();
                let mut again = XorChunk::new();
                let mut it = original.iter();
                while it.next() {
                    let (t, v) = it.at();
                    again.append(t, v).unwrap();
                }
                assert_eq!(
                    again.bytes(),
                    original.bytes(),
                    "chunk {:#x} of {}",
                    m.chunk_ref,
                    d.display()
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 9 + 18 + 18 + 9);
}

#[test]
fn prometheus_242_label_queries() {
    let Some(dir) = test_support::testdata_dir("prom-2.42/blocks") else {
        return;
    };
    let block = Block::open(&block_dirs(&dir).unwrap()[0]).unwrap();
    let q = BlockQuerier::new(Arc::new(block), i64::MIN, i64::MAX);
    assert_eq!(
        q.label_names(None, &[]).unwrap(),
        vec!["__name__", "code", "instance", "room"]
    );
    assert_eq!(
        q.label_values("room", None, &[]).unwrap(),
        vec!["a \"quoted\" room"]
    );
    let ms = [Matcher::new(MatchType::Equal, "code", "500").unwrap()];
    assert_eq!(
        q.label_values("instance", None, &ms).unwrap(),
        vec!["host-0", "host-1", "host-2"]
    );
    let ms = [
        Matcher::new(MatchType::RegexMatch, "instance", "host-(1|2)").unwrap(),
        Matcher::new(MatchType::NotEqual, "code", "500").unwrap(),
    ];
    let mut set = q.select(true, None, &ms);
    let mut n = 0;
    while let Some(s) = set.next() {
        let s = s.unwrap();
        assert_ne!(s.labels().get("code"), Some("500"));
        n += 1;
    }
    // host-1 and host-2: the code="200" counter and the temperature gauge (no code label).
    assert_eq!(n, 4);
}

#[test]
fn opens_the_upstream_v1_index_block() {
    let Some(dir) = test_support::testdata_dir("upstream/tsdb/testdata/index_format_v1") else {
        return;
    };
    let block = Block::open(&dir).unwrap();
    assert_eq!(block.index().version(), 1);
    let samples = select_all(&block);
    assert_eq!(samples.len() as u64, block.meta().stats.num_series);
    let n: usize = samples.values().map(Vec::len).sum();
    assert_eq!(n as u64, block.meta().stats.num_samples);
    // Postings of a label pair give exactly the series carrying it.
    let names = block.index().label_names();
    assert_eq!(names, vec!["bar", "foo"]);
    // As Go's TestReadIndexFormatV1: the block was written by Prometheus 2.0.
    let q = BlockQuerier::new(Arc::new(block.clone()), 0, 1000);
    let query = |ms: &[Matcher]| -> Vec<(String, Vec<(i64, f64)>)> {
        let mut set = q.select(true, None, ms);
        let mut out = Vec::new();
        while let Some(s) = set.next() {
            let s = s.unwrap();
            let mut it = s.iterator();
            let mut v = Vec::new();
            while it.next() == ValueType::Float {
                v.push(it.at());
            }
            out.push((s.labels().to_string(), v));
        }
        out
    };
    assert_eq!(
        query(&[Matcher::new(MatchType::Equal, "foo", "bar").unwrap()]),
        vec![("{foo=\"bar\"}".to_string(), vec![(1, 2.0)])]
    );
    assert_eq!(
        query(&[Matcher::new(MatchType::RegexNoMatch, "foo", "^.?$").unwrap()]),
        vec![
            ("{foo=\"bar\"}".to_string(), vec![(1, 2.0)]),
            ("{foo=\"baz\"}".to_string(), vec![(3, 4.0)]),
        ]
    );
    let mut chunks = Vec::new();
    for name in &names {
        for value in block.index().label_values(name) {
            for id in block.index().postings(name, &value).unwrap() {
                let l = block.index().series(id, &mut chunks).unwrap();
                assert_eq!(l.get(name), Some(value.as_str()));
            }
        }
    }
}

/// Copies a block directory (the fixtures are read-only).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
            let mut perm = std::fs::metadata(&dest).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&dest, perm).unwrap();
        }
    }
}

#[test]
fn compacting_prometheus_blocks_keeps_every_sample() {
    for fixture in ["prom-2.42/blocks", "upstream/tsdb/testdata/index_format_v1"] {
        let Some(dir) = test_support::testdata_dir(fixture) else {
            return;
        };
        let dirs = if dir.join("meta.json").is_file() {
            vec![dir.clone()]
        } else {
            block_dirs(&dir).unwrap()
        };
        let blocks: Vec<Block> = dirs.iter().map(|d| Block::open(d).unwrap()).collect();
        let mut want = Samples::new();
        for b in &blocks {
            for (l, s) in select_all(b) {
                want.entry(l).or_default().extend(s);
            }
        }
        let out = tempfile::tempdir().unwrap();
        let ulid = tsdb::compact::compact_blocks(out.path(), &blocks)
            .unwrap()
            .unwrap();
        let merged = Block::open(&out.path().join(ulid.to_string())).unwrap();
        assert_eq!(merged.index().version(), 2);
        assert_eq!(select_all(&merged), want, "{fixture}");
        let meta = merged.meta();
        assert_eq!(meta.compaction.level, 2);
        assert_eq!(meta.compaction.parents.len(), blocks.len());
        assert_eq!(
            meta.min_time,
            blocks.iter().map(|b| b.meta().min_time).min().unwrap()
        );
    }
}

#[test]
fn legacy_label_indices_match_the_postings_table() {
    let mut dirs = Vec::new();
    if let Some(d) = test_support::testdata_dir("prom-2.42/blocks") {
        dirs.extend(block_dirs(&d).unwrap());
    }
    if let Some(d) = test_support::testdata_dir("upstream/tsdb/testdata/index_format_v1") {
        dirs.push(d);
    }
    let mut checked = 0;
    for d in &dirs {
        let block = Block::open(d).unwrap();
        let table = block.index().label_indices_table().unwrap();
        for (name, off) in table {
            let mut values = block.index().label_index(off).unwrap();
            values.sort();
            assert_eq!(
                values,
                block.index().label_values(&name),
                "{name} in {}",
                d.display()
            );
            checked += 1;
        }
    }
    // Prometheus 2.0 and 2.42 both wrote label indices.
    assert!(dirs.is_empty() || checked > 0);
}
