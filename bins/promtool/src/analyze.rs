//! Cardinality and churn statistics of one persistent block, as `promtool tsdb analyze`
//! reports them (Go's `analyzeBlock`).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use model::Matcher;
use tsdb::block::Block;

/// A list of `(count, key)` entries, largest count first (ties by key, so the output is
/// deterministic where Go's is not).
pub(crate) type Ranking = Vec<(u64, String)>;

/// What `analyze` prints about a block.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct BlockAnalysis {
    pub(crate) series: u64,
    pub(crate) label_names: usize,
    pub(crate) postings: usize,
    pub(crate) postings_entries: u64,
    pub(crate) churn_label_pairs: Ranking,
    pub(crate) churn_label_names: Ranking,
    pub(crate) common_label_pairs: Ranking,
    pub(crate) label_value_lengths: Ranking,
    pub(crate) label_cardinality: Ranking,
    pub(crate) metric_cardinality: Ranking,
}

fn ranking(map: impl IntoIterator<Item = (String, u64)>) -> Ranking {
    let mut v: Ranking = map.into_iter().map(|(k, n)| (n, k)).collect();
    v.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    v
}

/// Analyzes the series of `block` that match `matchers` (all series when empty).
pub(crate) fn analyze_block(block: &Block, matchers: &[Matcher]) -> anyhow::Result<BlockAnalysis> {
    let meta = block.meta();
    let ir = block.index();
    let range = (meta.max_time - meta.min_time).max(0) as u64;

    let refs = if matchers.is_empty() {
        ir.all_postings()
            .context("reading the all-series postings")?
    } else {
        tsdb::querier::postings_for_matchers(block, matchers)
            .context("selecting the series to analyze")?
    };

    let mut names_uncovered: BTreeMap<String, u64> = BTreeMap::new();
    let mut pairs_uncovered: BTreeMap<String, u64> = BTreeMap::new();
    let mut pairs_count: BTreeMap<String, u64> = BTreeMap::new();
    let mut values_by_name: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut series_by_metric: BTreeMap<String, u64> = BTreeMap::new();
    let mut entries = 0u64;
    let mut chunks = Vec::new();
    for &r in &refs {
        chunks.clear();
        let lset = ir
            .series(r, &mut chunks)
            .with_context(|| format!("reading series {r}"))?;
        // The part of the block's range this series has no chunk for.
        let covered = match (chunks.first(), chunks.last()) {
            (Some(first), Some(last)) => (last.max_time - first.min_time).max(0) as u64,
            _ => 0,
        };
        let uncovered = range.saturating_sub(covered);
        for (name, value) in lset.iter() {
            let key = format!("{name}={value}");
            *names_uncovered.entry(name.to_owned()).or_default() += uncovered;
            *pairs_uncovered.entry(key.clone()).or_default() += uncovered;
            *pairs_count.entry(key).or_default() += 1;
            values_by_name
                .entry(name.to_owned())
                .or_default()
                .insert(value.to_owned());
            entries += 1;
        }
        if let Some(name) = lset.metric_name() {
            *series_by_metric.entry(name.to_owned()).or_default() += 1;
        }
    }

    let per_range = |m: u64| -> u64 {
        if range == 0 {
            0
        } else {
            (m as f64 / range as f64) as u64
        }
    };
    let series = if matchers.is_empty() {
        meta.stats.num_series
    } else {
        refs.len() as u64
    };
    Ok(BlockAnalysis {
        series,
        label_names: values_by_name.len(),
        postings: pairs_count.len(),
        postings_entries: entries,
        churn_label_pairs: ranking(
            pairs_uncovered
                .iter()
                .map(|(k, &m)| (k.clone(), per_range(m))),
        ),
        churn_label_names: ranking(
            names_uncovered
                .iter()
                .map(|(k, &m)| (k.clone(), per_range(m))),
        ),
        common_label_pairs: ranking(pairs_count),
        label_value_lengths: ranking(
            values_by_name
                .iter()
                .map(|(n, vs)| (n.clone(), vs.iter().map(|v| v.len() as u64).sum())),
        ),
        label_cardinality: ranking(
            values_by_name
                .iter()
                .map(|(n, vs)| (n.clone(), vs.len() as u64)),
        ),
        metric_cardinality: ranking(series_by_metric),
    })
}

/// The most samples a chunk is cut at (Prometheus's target of 120).
const MAX_SAMPLES_PER_CHUNK: usize = 120;

/// `--extended`'s compaction analysis: how full the chunks of the series matching
/// `matchers` are, as counts per tenth of [`MAX_SAMPLES_PER_CHUNK`] (index 0: up to 10%).
pub(crate) fn chunk_fullness(block: &Block, matchers: &[Matcher]) -> anyhow::Result<[u64; 10]> {
    let ir = block.index();
    let refs = if matchers.is_empty() {
        ir.all_postings()
            .context("reading the all-series postings")?
    } else {
        tsdb::querier::postings_for_matchers(block, matchers)
            .context("selecting the series to analyze")?
    };
    let mut histogram = [0u64; 10];
    let mut chunks = Vec::new();
    for r in refs {
        chunks.clear();
        ir.series(r, &mut chunks)
            .with_context(|| format!("reading series {r}"))?;
        for meta in &chunks {
            let chunk = block
                .chunks()
                .chunk(meta.chunk_ref)
                .with_context(|| format!("reading chunk {} of series {r}", meta.chunk_ref))?;
            // Every chunk encoding starts with its sample count (big-endian u16).
            let data = chunk.data.as_ref();
            let n = match data {
                [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
                _ => 0,
            };
            let size = n.min(MAX_SAMPLES_PER_CHUNK);
            let bucket = (10 * size).div_ceil(MAX_SAMPLES_PER_CHUNK).max(1) - 1;
            histogram[bucket] += 1;
        }
    }
    Ok(histogram)
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Labels, MatchType};
    use tsdb::compact::{BlockWriter, encode_chunks};

    fn block(dir: &std::path::Path) -> Block {
        let series = [
            (
                Labels::from_pairs([("__name__", "a"), ("job", "x")]),
                (0..10).map(|k| (k * 1000, 1.0)).collect::<Vec<_>>(),
            ),
            (
                Labels::from_pairs([("__name__", "a"), ("job", "yy")]),
                (5..10).map(|k| (k * 1000, 1.0)).collect(),
            ),
            (
                Labels::from_pairs([("__name__", "b"), ("job", "x")]),
                (0..10).map(|k| (k * 1000, 1.0)).collect(),
            ),
        ];
        let ulid = BlockWriter::new(dir)
            .write(
                series
                    .iter()
                    .map(|(l, s)| (l.clone(), encode_chunks(s).expect("encodes"))),
                0,
                10_000,
            )
            .expect("writes")
            .expect("a block");
        Block::open(&dir.join(ulid.to_string())).expect("opens")
    }

    #[test]
    fn counts_pairs_names_and_churn() {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = block(dir.path());
        let a = analyze_block(&b, &[]).expect("analyzes");
        assert_eq!(a.series, 3);
        assert_eq!(a.label_names, 2);
        assert_eq!(a.postings, 4);
        assert_eq!(a.postings_entries, 6);
        assert_eq!(
            a.common_label_pairs,
            vec![
                (2, "__name__=a".to_owned()),
                (2, "job=x".to_owned()),
                (1, "__name__=b".to_owned()),
                (1, "job=yy".to_owned()),
            ]
        );
        assert_eq!(
            a.label_value_lengths,
            vec![(3, "job".to_owned()), (2, "__name__".to_owned())]
        );
        assert_eq!(
            a.metric_cardinality,
            vec![(2, "a".to_owned()), (1, "b".to_owned())]
        );
        // The block spans [0, 10000]; the job="yy" series covers 5000..9000.
        let range = (b.meta().max_time - b.meta().min_time) as f64;
        let yy = a
            .churn_label_pairs
            .iter()
            .find(|(_, k)| k == "job=yy")
            .expect("listed");
        assert_eq!(yy.0, ((range - 4000.0) / range) as u64);

        // 10 samples of 120 fill a chunk to 10% at most; 5 samples too.
        assert_eq!(
            chunk_fullness(&b, &[]).expect("reads chunks"),
            [3, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );

        let only_a = [Matcher::new(MatchType::Equal, "__name__", "a").expect("valid")];
        let a = analyze_block(&b, &only_a).expect("analyzes");
        assert_eq!(a.series, 2);
        assert_eq!(a.metric_cardinality, vec![(2, "a".to_owned())]);
    }
}
