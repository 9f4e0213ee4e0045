//! Tests of block querying.

use std::sync::Arc;

use model::{Labels, MatchType, Matcher};
use storage::{Querier, SeriesSet, ValueType};

use super::*;
use crate::compact::{BlockWriter, encode_chunks};

fn series_set() -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut out = Vec::new();
    for i in 0..30 {
        let mut pairs = vec![
            (
                "__name__".to_string(),
                ["up", "down", "sideways"][i % 3].to_string(),
            ),
            ("i".to_string(), format!("{i:02}")),
        ];
        if i % 4 != 0 {
            pairs.push(("job".to_string(), format!("job{}", i % 4)));
        }
        if i % 5 == 0 {
            pairs.push(("zone".to_string(), "a\nb".to_string()));
        }
        let samples: Vec<(i64, f64)> = (0..300)
            .map(|k| (k * 15_000 + i as i64, (k * i as i64) as f64))
            .collect();
        out.push((Labels::from_pairs(pairs), samples));
    }
    out
}

fn write_block(dir: &std::path::Path) -> Block {
    let input = series_set();
    let ulid = BlockWriter::new(dir)
        .write(
            input
                .iter()
                .map(|(l, s)| (l.clone(), encode_chunks(s).unwrap())),
            0,
            300 * 15_000,
        )
        .unwrap()
        .unwrap();
    Block::open(&dir.join(ulid.to_string())).unwrap()
}

fn collect(mut set: Box<dyn SeriesSet>) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let s = s.unwrap();
        let mut it = s.iterator();
        let mut samples = Vec::new();
        while it.next() == ValueType::Float {
            samples.push(it.at());
        }
        assert!(it.err().is_none());
        out.push((s.labels().clone(), samples));
    }
    out
}

fn m(t: MatchType, n: &str, v: &str) -> Matcher {
    Matcher::new(t, n, v).unwrap()
}

#[test]
fn select_matches_brute_force_for_many_matcher_sets() {
    let dir = tempfile::tempdir().unwrap();
    let block = write_block(dir.path());
    let q = BlockQuerier::new(Arc::new(block), 100_000, 2_000_000);
    use MatchType::*;
    let cases: Vec<Vec<Matcher>> = vec![
        vec![m(Equal, "__name__", "up")],
        vec![m(Equal, "__name__", "up"), m(Equal, "job", "job1")],
        vec![m(NotEqual, "job", "job1")],
        vec![m(Equal, "job", "")],
        vec![m(NotEqual, "job", "")],
        vec![m(RegexMatch, "job", "job1|job3")],
        vec![m(RegexMatch, "job", "job.*")],
        vec![m(RegexMatch, "job", "(?i)JOB1")],
        vec![m(RegexMatch, "i", "1.|2[0-3]")],
        vec![m(RegexMatch, "i", "0[1-4]+")],
        vec![m(RegexMatch, "job", "job1|")],
        vec![m(RegexNoMatch, "job", "job1|job2")],
        vec![m(RegexNoMatch, "job", ".+")],
        vec![m(RegexMatch, "i", "0.*"), m(RegexNoMatch, "__name__", "up")],
        vec![m(Equal, "env", "")],
        vec![m(RegexMatch, "zone", "a.b")],
        vec![m(Equal, "nope", "")],
        vec![m(Equal, "nope", "x")],
        vec![m(RegexMatch, "__name__", ".*")],
        vec![
            m(RegexMatch, "__name__", "up|down"),
            m(NotEqual, "i", "01"),
            m(Equal, "job", ""),
        ],
    ];
    let input = series_set();
    for ms in cases {
        let got = collect(q.select(true, None, &ms));
        let want: Vec<(Labels, Vec<(i64, f64)>)> = input
            .iter()
            .filter(|(l, _)| storage::matches_all(l, &ms))
            .map(|(l, s)| {
                let s = s
                    .iter()
                    .copied()
                    .filter(|&(t, _)| (100_000..=2_000_000).contains(&t))
                    .collect();
                (l.clone(), s)
            })
            .collect();
        let mut want = want;
        want.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got, want, "matchers {ms:?}");
    }
}

#[test]
fn label_names_and_values_with_and_without_matchers() {
    let dir = tempfile::tempdir().unwrap();
    let q = BlockQuerier::new(Arc::new(write_block(dir.path())), i64::MIN, i64::MAX);
    assert_eq!(
        q.label_names(None, &[]).unwrap(),
        vec!["__name__", "i", "job", "zone"]
    );
    assert_eq!(
        q.label_values("job", None, &[]).unwrap(),
        vec!["job1", "job2", "job3"]
    );
    let ms = [m(MatchType::Equal, "__name__", "up")];
    // up: i = 0, 3, 6, ...; job = i % 4 (none when 0).
    assert_eq!(
        q.label_values("job", None, &ms).unwrap(),
        vec!["job1", "job2", "job3"]
    );
    let ms = [m(MatchType::Equal, "i", "05")];
    assert_eq!(
        q.label_names(None, &ms).unwrap(),
        vec!["__name__", "i", "job", "zone"]
    );
    let hints = storage::LabelHints { limit: 2 };
    assert_eq!(
        q.label_values("i", Some(&hints), &[]).unwrap(),
        vec!["00", "01"]
    );
}

#[test]
fn iterators_seek_and_respect_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let block = write_block(dir.path());
    // Delete [150000, 300000] of every series.
    let mut t = crate::tombstones::Tombstones::new();
    for id in block.index().all_postings().unwrap() {
        t.add(
            id,
            Interval {
                mint: 150_000,
                maxt: 300_000,
            },
        );
    }
    t.write(block.dir()).unwrap();
    let block = Block::open(block.dir()).unwrap();
    let q = BlockQuerier::new(Arc::new(block), 0, 1_000_000);
    let ms = [m(MatchType::Equal, "i", "00")];
    let got = collect(q.select(false, None, &ms));
    assert_eq!(got.len(), 1);
    let ts: Vec<i64> = got[0].1.iter().map(|s| s.0).collect();
    assert!(ts.iter().all(|&t| !(150_000..=300_000).contains(&t)));
    assert!(ts.contains(&135_000) && ts.contains(&315_000));
    let mut set = q.select(false, None, &ms);
    let s = set.next().unwrap().unwrap();
    let mut it = s.iterator();
    assert_eq!(it.seek(140_000), ValueType::Float);
    assert_eq!(it.at().0, 315_000);
    assert_eq!(it.seek(10), ValueType::Float);
    assert_eq!(it.at().0, 315_000);
    assert_eq!(it.next(), ValueType::Float);
    assert_eq!(it.at().0, 330_000);
    assert_eq!(it.seek(1_000_000), ValueType::None);
    assert_eq!(it.next(), ValueType::None);
}

#[test]
fn next_and_seek_clip_to_the_query_range_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let block = write_block(dir.path());
    // Series of 300 samples are cut into chunks of 120: the range spans a chunk boundary.
    let (mint, maxt) = (1_000_000, 3_000_000);
    let q = BlockQuerier::new(Arc::new(block), mint, maxt);
    let ms = [m(MatchType::Equal, "i", "07")];
    let (labels, samples) = series_set().swap_remove(7);
    let want: Vec<(i64, f64)> = samples
        .into_iter()
        .filter(|(t, _)| (mint..=maxt).contains(t))
        .collect();
    assert_eq!(
        collect(q.select(false, None, &ms)),
        vec![(labels, want.clone())]
    );
    // Seeks just past the current sample between the nexts see the same samples.
    let mut set = q.select(false, None, &ms);
    let s = set.next().unwrap().unwrap();
    let mut it = s.iterator();
    let mut seen = Vec::new();
    let mut vt = it.seek(0);
    while vt == ValueType::Float {
        seen.push(it.at());
        vt = if seen.len() % 3 == 0 {
            it.seek(it.at().0 + 1)
        } else {
            it.next()
        };
    }
    assert_eq!(seen, want);
    assert_eq!(it.next(), ValueType::None);
}

/// A small in-memory [`SeriesSource`]: series ids are indices into `series` (sorted).
struct MemSource {
    series: Vec<Labels>,
}

impl SeriesSource for MemSource {
    fn label_names(&self) -> Result<Vec<String>> {
        let set: std::collections::BTreeSet<String> = self
            .series
            .iter()
            .flat_map(|l| l.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>())
            .collect();
        Ok(set.into_iter().collect())
    }

    fn label_values(&self, name: &str) -> Result<Vec<String>> {
        let set: std::collections::BTreeSet<String> = self
            .series
            .iter()
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        Ok(set.into_iter().collect())
    }

    fn postings(&self, name: &str, values: &[&str]) -> Result<Vec<u64>> {
        Ok(self
            .series
            .iter()
            .enumerate()
            .filter(|(_, l)| l.get(name).is_some_and(|v| values.contains(&v)))
            .map(|(i, _)| i as u64)
            .collect())
    }

    fn all_postings(&self) -> Result<Vec<u64>> {
        Ok((0..self.series.len() as u64).collect())
    }

    fn series(&self, id: u64, chunks: &mut Vec<ChunkMeta>) -> Result<Labels> {
        chunks.clear();
        Ok(self.series[id as usize].clone())
    }

    fn chunk(&self, _meta: &ChunkMeta) -> Result<ChunkData> {
        Ok(ChunkData::Owned(Arc::from(
            crate::chunkenc::XorChunk::new().bytes(),
        )))
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    const VALUES: [&str; 5] = ["a", "b", "ab", "ba", "c"];
    const NAMES: [&str; 3] = ["x", "y", "z"];

    fn labels_strategy() -> impl Strategy<Value = Labels> {
        proptest::collection::vec((0..3usize, 0..5usize), 1..4).prop_map(|pairs| {
            Labels::from_pairs(pairs.into_iter().map(|(n, v)| (NAMES[n], VALUES[v])))
        })
    }

    fn matcher_strategy() -> impl Strategy<Value = Matcher> {
        let patterns = prop_oneof![
            (0..5usize).prop_map(|v| VALUES[v].to_string()),
            Just(String::new()),
            Just("a|b".to_string()),
            Just("a.*".to_string()),
            Just(".*".to_string()),
            Just(".+".to_string()),
            Just("a|".to_string()),
            Just("(?i)A".to_string()),
        ];
        let types = prop_oneof![
            Just(MatchType::Equal),
            Just(MatchType::NotEqual),
            Just(MatchType::RegexMatch),
            Just(MatchType::RegexNoMatch),
        ];
        (types, 0..4usize, patterns).prop_map(|(t, n, v)| {
            // "w" is a label no series has.
            let name = ["x", "y", "z", "w"][n];
            Matcher::new(t, name, &v).unwrap()
        })
    }

    proptest! {
        #[test]
        fn postings_for_matchers_agree_with_matching_each_series(
            series in proptest::collection::btree_set(labels_strategy(), 0..20),
            matchers in proptest::collection::vec(matcher_strategy(), 1..4),
        ) {
            let src = MemSource { series: series.into_iter().collect() };
            let got: Vec<Labels> = postings_for_matchers(&src, &matchers)
                .unwrap()
                .into_iter()
                .map(|id| src.series[id as usize].clone())
                .collect();
            let want: Vec<Labels> = src
                .series
                .iter()
                .filter(|l| storage::matches_all(l, &matchers))
                .cloned()
                .collect();
            prop_assert_eq!(got, want, "matchers {:?}", matchers);
        }
    }
}
