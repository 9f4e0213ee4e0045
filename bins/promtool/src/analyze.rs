//! Cardinality and churn statistics of one persistent block, and its chunks' sizes, as
//! Prometheus 3's `promtool tsdb analyze` reports them (Go's `analyzeBlock` and
//! `analyzeCompaction`).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use model::Matcher;
use tsdb::block::Block;
use tsdb::chunkenc::{Encoding, FloatHistogramIterator, HistogramIterator};

/// A list of `(count, key)` entries, largest count first (ties by key, so the output is
/// deterministic where Go's is not).
pub(crate) type Ranking = Vec<(u64, String)>;

/// What `analyze` prints about a block.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct BlockAnalysis {
    /// The block's series count (from its meta, whatever the matchers).
    pub(crate) total_series: u64,
    /// With matchers: how many series they select.
    pub(crate) matched_series: Option<u64>,
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
    Ok(BlockAnalysis {
        total_series: meta.stats.num_series,
        matched_series: (!matchers.is_empty()).then_some(refs.len() as u64),
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

/// `--extended`'s compaction analysis: per chunk of the selected series, its sample count
/// and size in bytes, float (XOR) chunks apart from native histogram chunks, and for the
/// latter the number of buckets summed over their samples.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ChunkStats {
    /// Chunks of every encoding.
    pub(crate) total_chunks: usize,
    pub(crate) float_samples: Vec<usize>,
    pub(crate) float_bytes: Vec<usize>,
    pub(crate) histogram_samples: Vec<usize>,
    pub(crate) histogram_bytes: Vec<usize>,
    pub(crate) histogram_buckets: Vec<usize>,
}

/// Reads every chunk of the series of `block` matching `matchers` (all when empty).
pub(crate) fn chunk_stats(block: &Block, matchers: &[Matcher]) -> anyhow::Result<ChunkStats> {
    let ir = block.index();
    let refs = if matchers.is_empty() {
        ir.all_postings()
            .context("reading the all-series postings")?
    } else {
        tsdb::querier::postings_for_matchers(block, matchers)
            .context("selecting the series to analyze")?
    };
    let mut stats = ChunkStats::default();
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
            let data = chunk.data.as_ref();
            // Every chunk encoding starts with its sample count (big-endian u16).
            let samples = match data {
                [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
                _ => 0,
            };
            let encoding = Encoding::from_u8(chunk.encoding)
                .with_context(|| format!("reading chunk {} of series {r}", meta.chunk_ref))?;
            match encoding {
                Encoding::Xor => {
                    stats.float_samples.push(samples);
                    stats.float_bytes.push(data.len());
                }
                Encoding::Histogram | Encoding::FloatHistogram => {
                    stats.histogram_samples.push(samples);
                    stats.histogram_bytes.push(data.len());
                    stats.histogram_buckets.push(bucket_count(encoding, data));
                }
                _ => {}
            }
            stats.total_chunks += 1;
        }
    }
    Ok(stats)
}

/// The positive and negative buckets of every sample of a histogram chunk (Go stops at the
/// first undecodable sample without an error, and so does this).
fn bucket_count(encoding: Encoding, data: &[u8]) -> usize {
    let mut n = 0;
    if encoding == Encoding::Histogram {
        let mut it = HistogramIterator::new(data);
        while it.next() {
            let (_, h) = it.at_histogram();
            n += h.positive_buckets.len() + h.negative_buckets.len();
        }
    } else {
        let mut it = FloatHistogramIterator::new(data);
        while it.next() {
            let (_, h) = it.at_float_histogram();
            n += h.positive_buckets.len() + h.negative_buckets.len();
        }
    }
    n
}

/// Go's `displayHistogram`: `data`'s min, average and max, then a bar per bucket of
/// [`generate_bucket`]'s width, each `#` one percent of `total`; `NAME: N/A` when empty.
/// As in Go, a bucket holds `[start, start + step)` but is labelled `[start + 1, start +
/// step]`, so a value on a multiple of the step shows one bucket up.
pub(crate) fn display_histogram(
    out: &mut impl std::io::Write,
    data_type: &str,
    data: &[usize],
    total: usize,
) -> std::io::Result<()> {
    let mut data = data.to_vec();
    data.sort_unstable();
    let (Some(&min), Some(&max)) = (data.first(), data.last()) else {
        writeln!(out, "{data_type}: N/A\n")?;
        return Ok(());
    };
    let (start, end, step) = generate_bucket(min, max);
    let mut buckets = vec![0usize; (end - start) / step + 1];
    for &c in &data {
        buckets[(c - start) / step] += 1;
    }
    let max_count = buckets.iter().copied().max().unwrap_or(0);
    let avg = data.iter().sum::<usize>() / data.len();
    writeln!(out, "{data_type} (min/avg/max): {min}/{avg}/{max}")?;
    let left = end.to_string().len();
    let right = (end + step).to_string().len();
    let width = max_count.to_string().len();
    for (i, &count) in buckets.iter().enumerate() {
        let percent = (100 * count).checked_div(total).unwrap_or(0);
        writeln!(
            out,
            "[{:>left$}, {:>right$}]: {count:>width$} {}",
            i * step + start + 1,
            (i + 1) * step + start,
            "#".repeat(percent)
        )?;
    }
    writeln!(out)
}

/// Go's `generateBucket`: a power-of-ten step (at least 10, at most 100,000) giving about
/// ten buckets between `min` and `max`, and the bounds rounded to it.
fn generate_bucket(min: usize, max: usize) -> (usize, usize, usize) {
    let s = (max - min) / 10;
    let mut step = 10;
    while step < s && step <= 10_000 {
        step *= 10;
    }
    (min - min % step, max - max % step + step, step)
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
        assert_eq!(a.total_series, 3);
        assert_eq!(a.matched_series, None);
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

        let stats = chunk_stats(&b, &[]).expect("reads chunks");
        assert_eq!(stats.total_chunks, 3);
        assert_eq!(stats.float_samples, [10, 5, 10]);
        assert_eq!(stats.float_bytes.len(), 3);
        assert!(stats.histogram_samples.is_empty());

        let only_a = [Matcher::new(MatchType::Equal, "__name__", "a").expect("valid")];
        let a = analyze_block(&b, &only_a).expect("analyzes");
        assert_eq!(a.total_series, 3);
        assert_eq!(a.matched_series, Some(2));
        assert_eq!(a.metric_cardinality, vec![(2, "a".to_owned())]);
        assert_eq!(a.label_names, 2);
        assert_eq!(chunk_stats(&b, &only_a).expect("reads").total_chunks, 2);
    }

    fn shown(data: &[usize], total: usize) -> String {
        let mut out = Vec::new();
        display_histogram(&mut out, "samples per float chunk", data, total).expect("writes");
        String::from_utf8(out).expect("utf-8")
    }

    /// Go's `displayHistogram`: buckets of a power-of-ten width, right-aligned columns, a
    /// `#` per percent of all chunks.
    #[test]
    fn histograms_display_as_go_does() {
        assert_eq!(generate_bucket(1, 120), (0, 200, 100));
        assert_eq!(generate_bucket(17, 1016), (0, 1100, 100));
        assert_eq!(generate_bucket(5, 5), (0, 10, 10));
        assert_eq!(
            shown(&[120, 120, 60, 119], 8),
            "samples per float chunk (min/avg/max): 60/104/120\n\
             [ 61,  70]: 1 ############\n\
             [ 71,  80]: 0 \n\
             [ 81,  90]: 0 \n\
             [ 91, 100]: 0 \n\
             [101, 110]: 0 \n\
             [111, 120]: 1 ############\n\
             [121, 130]: 2 #########################\n\
             [131, 140]: 0 \n\n"
        );
        assert_eq!(shown(&[], 3), "samples per float chunk: N/A\n\n");
    }
}
