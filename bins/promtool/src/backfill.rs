//! `promtool tsdb create-blocks-from openmetrics`: Go's `backfill.go`. Reads an OpenMetrics
//! file whose samples all carry timestamps and writes one block per aligned block range that
//! holds samples (the range is 2h, or the largest of Prometheus's exponential ranges not above
//! `--max-block-duration`), through the tsdb crate's [`BlockWriter`].
//!
//! Each block spans its first to its last sample (plus 1 ms), as Go's block writer flushes
//! its head. Within a series, samples are taken in time order and a repeated timestamp keeps
//! its first value (Go's appender drops such samples too). Block creation re-parses the file
//! for each range, as Go does, so memory stays bounded by one range's samples.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context as _, anyhow, bail};
use model::Labels;
use scrape::textparse::{Entry, OpenMetricsParser, Parser as _};
use tsdb::block::Block;
use tsdb::compact::{BlockWriter, encode_chunks};

use crate::tsdb_cmd::{block_row, block_table};

/// Prometheus's default (smallest) block range: 2h in milliseconds.
const DEFAULT_BLOCK_DURATION: i64 = 2 * 60 * 60 * 1000;

/// How the created blocks are reported.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Report {
    /// Times and sizes for people (`--human-readable`).
    pub(crate) human: bool,
    /// Print nothing (`--quiet`).
    pub(crate) quiet: bool,
}

/// The block range used for `--max-block-duration` (Go's `getCompatibleBlockDuration`):
/// 2h, or the largest of `2h * 3^i` (i < 10) that does not exceed it.
pub(crate) fn compatible_block_duration(max_block_duration_ms: i64) -> i64 {
    if max_block_duration_ms <= DEFAULT_BLOCK_DURATION {
        return DEFAULT_BLOCK_DURATION;
    }
    let ranges: Vec<i64> = (0..10u32)
        .map(|i| DEFAULT_BLOCK_DURATION * 3i64.pow(i))
        .collect();
    let idx = ranges
        .iter()
        .position(|&r| r > max_block_duration_ms)
        .map_or(ranges.len() - 1, |i| i - 1);
    ranges[idx]
}

/// Runs the import of `input` into `output_dir` and returns the exit code (errors printed).
pub(crate) fn run_openmetrics(
    input: &Path,
    output_dir: &Path,
    report: Report,
    max_block_duration_ms: i64,
    labels: &[(String, String)],
    out: &mut impl std::io::Write,
) -> u8 {
    let res = std::fs::read(input)
        .with_context(|| format!("open {}", input.display()))
        .and_then(|data| {
            std::fs::create_dir_all(output_dir).context("create output dir")?;
            backfill(
                &data,
                output_dir,
                report,
                max_block_duration_ms,
                labels,
                out,
            )
        });
    match res {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e:#}");
            1
        }
    }
}

/// Go's `backfill`: finds the samples' time span, then writes the blocks.
pub(crate) fn backfill(
    input: &[u8],
    output_dir: &Path,
    report: Report,
    max_block_duration_ms: i64,
    labels: &[(String, String)],
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let (mint, maxt) = min_max_timestamps(input).context("getting min and max timestamp")?;
    create_blocks(
        input,
        mint,
        maxt,
        max_block_duration_ms,
        output_dir,
        report,
        labels,
        out,
    )
    .context("block creation")
}

/// The smallest and largest sample timestamps (0 and 0 when there is no sample).
fn min_max_timestamps(input: &[u8]) -> anyhow::Result<(i64, i64)> {
    let mut p = OpenMetricsParser::new(input);
    let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
    while let Some(entry) = p.next().map_err(|e| anyhow!("next: {e}"))? {
        if entry != Entry::Series {
            continue;
        }
        let (_, ts, _) = p.series();
        let ts = ts.ok_or_else(|| anyhow!("expected timestamp for series got none"))?;
        mint = mint.min(ts);
        maxt = maxt.max(ts);
    }
    if maxt == i64::MIN {
        maxt = 0;
    }
    if mint == i64::MAX {
        mint = 0;
    }
    Ok((mint, maxt))
}

#[allow(clippy::too_many_arguments)]
fn create_blocks(
    input: &[u8],
    mint: i64,
    maxt: i64,
    max_block_duration_ms: i64,
    output_dir: &Path,
    report: Report,
    extra: &[(String, String)],
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let block_duration = compatible_block_duration(max_block_duration_ms);
    // Go's integer division truncates toward zero; so does Rust's.
    let mint = block_duration * (mint / block_duration);
    let writer = BlockWriter::new(output_dir);
    let mut wrote_header = false;
    let mut next_sample_ts = i64::MAX;
    let mut t = mint;
    while t <= maxt {
        let upper = t.saturating_add(block_duration);
        if next_sample_ts != i64::MAX && next_sample_ts >= upper {
            // No sample in this range: skip parsing the file for it.
            t = upper;
            continue;
        }
        next_sample_ts = i64::MAX;
        let mut series: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
        let mut p = OpenMetricsParser::new(input);
        let parse = |e: scrape::Error| anyhow!("process blocks: parse: {e}");
        while let Some(entry) = p.next().map_err(parse)? {
            if entry != Entry::Series {
                continue;
            }
            let (_, ts, v) = p.series();
            let Some(ts) = ts else {
                let l = p.labels().map_err(parse)?;
                bail!("process blocks: expected timestamp for series {l}, got none");
            };
            if ts < t {
                continue;
            }
            if ts >= upper {
                next_sample_ts = next_sample_ts.min(ts);
                continue;
            }
            let mut labels = p.labels().map_err(parse)?;
            if !extra.is_empty() {
                let mut b = labels.builder();
                for (name, value) in extra {
                    b.set(name, value);
                }
                labels = b.labels();
            }
            series.entry(labels).or_default().push((ts, v));
        }
        let mut block_min = i64::MAX;
        let mut block_max = i64::MIN;
        let mut encoded = Vec::with_capacity(series.len());
        for (labels, mut samples) in series {
            samples.sort_by_key(|s| s.0);
            samples.dedup_by_key(|s| s.0);
            block_min = block_min.min(samples[0].0);
            block_max = block_max.max(samples[samples.len() - 1].0);
            let chunks = encode_chunks(&samples).context("process blocks: encoding chunks")?;
            encoded.push((labels, chunks));
        }
        if !encoded.is_empty() {
            let written = writer
                .write(encoded, block_min, block_max + 1)
                .context("process blocks: flush")?;
            if let (Some(ulid), false) = (written, report.quiet) {
                let block = Block::open(&output_dir.join(ulid.to_string()))
                    .context("process blocks: get blocks")?;
                let table = block_table(vec![block_row(&block, report.human)], !wrote_header);
                out.write_all(table.as_bytes())?;
                wrote_header = true;
            }
        }
        t = upper;
    }
    Ok(())
}

/// Parses `--label name=value` flags (kingpin's `StringMap`).
pub(crate) fn parse_label_flags(flags: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for f in flags {
        let Some((name, value)) = f.split_once('=') else {
            return Err(format!("expected KEY=VALUE got '{f}'"));
        };
        out.retain(|(n, _)| n != name);
        out.push((name.to_owned(), value.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsdb::db::ReadOnlyDb;

    #[test]
    fn block_durations_follow_the_exponential_ranges() {
        const H: i64 = 3_600_000;
        assert_eq!(compatible_block_duration(0), 2 * H);
        assert_eq!(compatible_block_duration(H), 2 * H);
        assert_eq!(compatible_block_duration(5 * H), 2 * H);
        assert_eq!(compatible_block_duration(6 * H), 6 * H);
        assert_eq!(compatible_block_duration(24 * H), 18 * H);
        assert_eq!(compatible_block_duration(i64::MAX), 2 * H * 3i64.pow(9));
    }

    #[test]
    fn writes_one_block_per_range_with_samples() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Two samples in [0, 2h), none in [2h, 4h), one in [4h, 6h).
        let input = b"# TYPE up gauge\nup{job=\"a\"} 1 1.5\nup{job=\"a\"} 2 60\n\
                      up{job=\"b\"} 3 14400.25\n# EOF\n";
        let mut out = Vec::new();
        backfill(
            input,
            dir.path(),
            Report::default(),
            0,
            &[("env".to_owned(), "x".to_owned())],
            &mut out,
        )
        .expect("backfills");
        let text = String::from_utf8(out).expect("UTF-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("BLOCK ULID"));
        let db = ReadOnlyDb::open_blocks(dir.path()).expect("opens");
        let metas: Vec<(i64, i64, u64)> = db
            .blocks()
            .iter()
            .map(|b| {
                let m = b.meta();
                (m.min_time, m.max_time, m.stats.num_samples)
            })
            .collect();
        assert_eq!(metas, [(1_500, 60_001, 2), (14_400_250, 14_400_251, 1)]);
    }

    #[test]
    fn samples_need_timestamps_and_an_eof() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut out = Vec::new();
        let err = backfill(
            b"up 1\n# EOF\n",
            dir.path(),
            Report::default(),
            0,
            &[],
            &mut out,
        )
        .expect_err("no timestamp");
        assert_eq!(
            format!("{err:#}"),
            "getting min and max timestamp: expected timestamp for series got none"
        );
        let err = backfill(b"up 1 1\n", dir.path(), Report::default(), 0, &[], &mut out)
            .expect_err("no EOF");
        assert!(format!("{err:#}").starts_with("getting min and max timestamp: next: "));
    }

    #[test]
    fn label_flags() {
        assert_eq!(
            parse_label_flags(&["a=b".to_owned(), "c=d=e".to_owned(), "a=z".to_owned()]),
            Ok(vec![
                ("c".to_owned(), "d=e".to_owned()),
                ("a".to_owned(), "z".to_owned())
            ])
        );
        assert!(parse_label_flags(&["ab".to_owned()]).is_err());
    }
}
