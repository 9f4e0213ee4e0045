//! `promtool tsdb list|analyze|dump|create-blocks-from`: inspect a data directory, printed
//! exactly like Go's promtool (tab-aligned block table, analysis sections, one
//! `labels value ts` line per sample), and import samples into blocks (in
//! [`crate::backfill`]). Exit code 0 on success, 1 on any error (printed to stderr).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use model::Matcher;
use storage::{Queryable as _, ValueType};
use tsdb::block::Block;

use crate::analyze::{Ranking, analyze_block, chunk_stats, display_histogram};
use crate::data_dir::ReadOnlyDb;
use crate::gofmt;

/// The `tsdb` subcommands.
#[derive(Subcommand)]
pub(crate) enum TsdbCommand {
    /// Run benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// List tsdb blocks.
    List {
        /// Print human readable values.
        #[arg(short = 'r', long)]
        human_readable: bool,
        /// Database path (default is data/).
        #[arg(default_value = "data/")]
        db_path: PathBuf,
    },
    /// Analyze churn, label pair cardinality and compaction efficiency.
    Analyze {
        /// How many items to show in each list.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Run extended analysis.
        #[arg(long)]
        extended: bool,
        /// Series selector to analyze. Only 1 set of matchers is supported now.
        #[arg(long = "match", default_value = "")]
        matcher: String,
        /// Database path (default is data/).
        #[arg(default_value = "data/")]
        db_path: PathBuf,
        /// Block to analyze (default is the last block).
        block_id: Option<String>,
    },
    /// Dump data (series+samples or optionally just series) from a TSDB.
    Dump {
        /// Root directory where a sandbox directory will be created, this sandbox is used in
        /// case WAL replay generates chunks (default is the database path). The sandbox is
        /// cleaned up at the end. (Accepted for compatibility: our replay stays in memory and
        /// writes nothing.)
        #[arg(long)]
        sandbox_dir_root: Option<PathBuf>,
        /// Output format of the dump (prom (default) or seriesjson).
        #[arg(long, default_value = "prom", value_parser = ["prom", "seriesjson"])]
        format: String,
        /// Minimum timestamp to dump (ms).
        #[arg(long, default_value_t = i64::MIN, allow_negative_numbers = true)]
        min_time: i64,
        /// Maximum timestamp to dump (ms).
        #[arg(long, default_value_t = i64::MAX, allow_negative_numbers = true)]
        max_time: i64,
        /// Series selector. Can be specified multiple times.
        #[arg(long = "match", default_value = "{__name__=~'(?s:.*)'}")]
        matchers: Vec<String>,
        /// Database path (default is data/).
        #[arg(default_value = "data/")]
        db_path: PathBuf,
    },
    /// Dump samples from a TSDB into OpenMetrics text format (experimental).
    #[command(
        name = "dump-openmetrics",
        about = "[Experimental] Dump samples from a TSDB into OpenMetrics text format, excluding native histograms and staleness markers, which are not representable in OpenMetrics."
    )]
    DumpOpenmetrics {
        /// Root directory where a sandbox directory will be created, this sandbox is used in
        /// case WAL replay generates chunks (default is the database path). The sandbox is
        /// cleaned up at the end. (Accepted for compatibility: our replay stays in memory and
        /// writes nothing.)
        #[arg(long)]
        sandbox_dir_root: Option<PathBuf>,
        /// Minimum timestamp to dump, in milliseconds since the Unix epoch.
        #[arg(long, default_value_t = i64::MIN, allow_negative_numbers = true)]
        min_time: i64,
        /// Maximum timestamp to dump, in milliseconds since the Unix epoch.
        #[arg(long, default_value_t = i64::MAX, allow_negative_numbers = true)]
        max_time: i64,
        /// Series selector. Can be specified multiple times.
        #[arg(long = "match", default_value = "{__name__=~'(?s:.*)'}")]
        matchers: Vec<String>,
        /// Database path (default is data/).
        #[arg(default_value = "data/")]
        db_path: PathBuf,
    },
    /// Import samples from input and produce TSDB blocks (experimental).
    #[command(
        name = "create-blocks-from",
        about = "[Experimental] Import samples from input and produce TSDB blocks. Please refer to the storage docs for more details."
    )]
    CreateBlocksFrom {
        /// Print human readable values.
        #[arg(short = 'r', long, global = true)]
        human_readable: bool,
        /// Do not print created blocks.
        #[arg(short = 'q', long, global = true)]
        quiet: bool,
        /// Maximum duration created blocks may span. Anything less than 2h is ignored.
        #[arg(long, global = true, hide = true, value_name = "duration")]
        max_block_duration: Option<String>,
        #[command(subcommand)]
        from: ImportSource,
    },
}

/// Where `tsdb create-blocks-from` reads samples.
#[derive(Subcommand)]
pub(crate) enum ImportSource {
    /// Import samples from OpenMetrics input and produce TSDB blocks. Please refer to the
    /// storage docs for more details.
    Openmetrics {
        /// Label to attach to metrics. Can be specified multiple times. Example
        /// --label=label_name=label_value
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
        /// OpenMetrics file to read samples from.
        input_file: PathBuf,
        /// Output directory for generated blocks.
        #[arg(default_value = "data/")]
        output_directory: PathBuf,
    },
    /// Create blocks of data for new recording rules.
    Rules {
        /// HTTP client configuration file.
        #[arg(
            long = "http.config.file",
            value_name = "FILENAME",
            help = crate::http::CONFIG_FILE_HELP
        )]
        http_config_file: Option<PathBuf>,
        /// The URL for the Prometheus API with the data where the rule will be backfilled
        /// from.
        #[arg(long, default_value = "http://localhost:9090")]
        url: String,
        /// The time to start backfilling the new rule from. Must be a RFC3339 formatted date
        /// or Unix timestamp. Required.
        #[arg(long, required = true)]
        start: String,
        /// If an end time is provided, all recording rules in the rule files provided will be
        /// backfilled to the end time. Default will backfill up to 3 hours ago. Must be a
        /// RFC3339 formatted date or Unix timestamp.
        #[arg(long)]
        end: Option<String>,
        /// Output directory for generated blocks.
        #[arg(long, default_value = "data/")]
        output_dir: PathBuf,
        /// How frequently to evaluate rules when backfilling if a value is not set in the
        /// recording rule files.
        #[arg(long, default_value = "60s")]
        eval_interval: String,
        /// A list of one or more files containing recording rules to be backfilled. All
        /// recording rules listed in the files will be backfilled. Alerting rules are not
        /// evaluated.
        #[arg(required = true)]
        rule_files: Vec<String>,
    },
}

/// Runs `tsdb create-blocks-from` and returns the exit code.
fn create_blocks_from(
    human: bool,
    quiet: bool,
    max_block_duration: Option<&str>,
    from: ImportSource,
) -> u8 {
    let max_block_ms = match max_block_duration.map(crate::query::parse_step) {
        None => 0,
        Some(Ok(ms)) => ms,
        Some(Err(e)) => {
            eprintln!("promtool: error: --max-block-duration: {e}");
            return 1;
        }
    };
    let report = crate::backfill::Report { human, quiet };
    match from {
        ImportSource::Openmetrics {
            labels,
            input_file,
            output_directory,
        } => {
            let labels = match crate::backfill::parse_label_flags(&labels) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("promtool: error: --label: {e}");
                    return 1;
                }
            };
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            crate::backfill::run_openmetrics(
                &input_file,
                &output_directory,
                report,
                max_block_ms,
                &labels,
                &mut out,
            )
        }
        ImportSource::Rules {
            http_config_file,
            url,
            start,
            end,
            output_dir,
            eval_interval,
            rule_files,
        } => {
            let times = (|| {
                let start = crate::query::parse_time(&start)
                    .map_err(|e| format!("error parsing start time: {e}"))?;
                let end = match end {
                    Some(e) => crate::query::parse_time(&e)
                        .map_err(|e| format!("error parsing end time: {e}"))?,
                    None => model::timestamp::now() - 3 * 3_600_000,
                };
                let every = crate::query::parse_step(&eval_interval)
                    .map_err(|e| format!("--eval-interval: {e}"))?;
                Ok::<_, String>((start, end, every))
            })();
            let (start, end, eval_interval) = match times {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{e}");
                    return 1;
                }
            };
            for f in &rule_files {
                if !Path::new(f).is_file() {
                    eprintln!("promtool: error: path '{f}' does not exist");
                    return 1;
                }
            }
            if let Err(code) = crate::http::use_config_file(http_config_file.as_deref()) {
                return code;
            }
            let import = crate::rules_import::Import {
                url: &url,
                start,
                end,
                output_dir: &output_dir,
                eval_interval,
                max_block_duration: max_block_ms,
            };
            crate::rules_import::run(&import, &rule_files)
        }
    }
}

/// Runs a `tsdb` subcommand and returns the exit code.
/// The `tsdb bench` subcommands.
#[derive(Subcommand)]
pub(crate) enum BenchCommand {
    /// Run a write performance benchmark.
    Write {
        /// Set the output path.
        #[arg(long, default_value = "benchout")]
        out: PathBuf,
        /// Number of metrics to read.
        #[arg(long, default_value_t = 10000)]
        metrics: usize,
        /// Number of scrapes to simulate.
        #[arg(long, default_value_t = 3000)]
        scrapes: usize,
        /// Input file with samples data, default is (../../tsdb/testdata/20kseries.json).
        #[arg(default_value = "../../tsdb/testdata/20kseries.json")]
        file: PathBuf,
    },
}

pub(crate) fn run(cmd: TsdbCommand) -> u8 {
    if let TsdbCommand::Bench {
        what:
            BenchCommand::Write {
                out,
                metrics,
                scrapes,
                file,
            },
    } = cmd
    {
        return match crate::bench::write_benchmark(&out, &file, metrics, scrapes) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("{e:#}");
                1
            }
        };
    }
    if let TsdbCommand::CreateBlocksFrom {
        human_readable,
        quiet,
        max_block_duration,
        from,
    } = cmd
    {
        return create_blocks_from(human_readable, quiet, max_block_duration.as_deref(), from);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let res = match cmd {
        TsdbCommand::List {
            human_readable,
            db_path,
        } => list(&db_path, human_readable, &mut out),
        TsdbCommand::Analyze {
            limit,
            extended,
            matcher,
            db_path,
            block_id,
        } => analyze(
            &db_path,
            block_id.as_deref(),
            limit,
            extended,
            &matcher,
            &mut out,
        ),
        TsdbCommand::Dump {
            min_time,
            max_time,
            matchers,
            db_path,
            format,
            sandbox_dir_root: _,
        } => {
            if format == "seriesjson" {
                dump_series_json(&db_path, min_time, max_time, &matchers, &mut out)
            } else {
                dump(&db_path, min_time, max_time, &matchers, &mut out)
            }
        }
        TsdbCommand::DumpOpenmetrics {
            sandbox_dir_root: _,
            min_time,
            max_time,
            matchers,
            db_path,
        } => dump_openmetrics(&db_path, min_time, max_time, &matchers, &mut out),
        TsdbCommand::CreateBlocksFrom { .. } | TsdbCommand::Bench { .. } => Ok(()),
    };
    let res = res.and_then(|()| out.flush().context("writing to stdout"));
    match res {
        Ok(()) => 0,
        // `promtool tsdb dump | head`: the reader left, which is not a failure.
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            eprintln!("{e:#}");
            1
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The sum of a block's file sizes (Go's `Block.Size`: chunks, index, tombstones, meta).
fn block_size(dir: &Path) -> u64 {
    fn walk(p: &Path) -> u64 {
        let Ok(rd) = std::fs::read_dir(p) else {
            return 0;
        };
        rd.flatten()
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => walk(&e.path()),
                Ok(_) => e.metadata().map_or(0, |m| m.len()),
                Err(_) => 0,
            })
            .sum()
    }
    walk(dir)
}

/// Writes the block table of `dir`.
pub(crate) fn list(dir: &Path, human: bool, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    let db = ReadOnlyDb::open_blocks(dir)?;
    let rows: Vec<Vec<String>> = db.blocks().iter().map(|b| block_row(b, human)).collect();
    out.write_all(block_table(rows, true).as_bytes())?;
    Ok(())
}

/// Go's `printBlocks`: the rows (and the header when asked) aligned as one table.
pub(crate) fn block_table(rows: Vec<Vec<String>>, header: bool) -> String {
    let mut table = Vec::with_capacity(rows.len() + 1);
    if header {
        table.push(
            [
                "BLOCK ULID",
                "MIN TIME",
                "MAX TIME",
                "DURATION",
                "NUM SAMPLES",
                "NUM CHUNKS",
                "NUM SERIES",
                "SIZE",
            ]
            .map(str::to_owned)
            .to_vec(),
        );
    }
    table.extend(rows);
    gofmt::tabwrite(&table, 13, 2)
}

/// One block's row of the block table.
pub(crate) fn block_row(b: &Block, human: bool) -> Vec<String> {
    let m = b.meta();
    let time = |t: i64| {
        if human {
            gofmt::format_utc_time(t)
        } else {
            t.to_string()
        }
    };
    let size = block_size(b.dir());
    vec![
        m.ulid.to_string(),
        time(m.min_time),
        time(m.max_time),
        gofmt::format_duration_ms(m.max_time - m.min_time),
        m.stats.num_samples.to_string(),
        m.stats.num_chunks.to_string(),
        m.stats.num_series.to_string(),
        if human {
            gofmt::format_base2_bytes(size)
        } else {
            size.to_string()
        },
    ]
}

fn parse_selector(s: &str) -> anyhow::Result<Vec<Matcher>> {
    promql::parser::parse_metric_selector(s)
        .map_err(|e| anyhow::anyhow!("parsing selector {s:?}: {e}"))
}

/// Writes the analysis of one block of `dir` (the newest when `block_id` is `None`).
pub(crate) fn analyze(
    dir: &Path,
    block_id: Option<&str>,
    limit: usize,
    extended: bool,
    matcher: &str,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let matchers = if matcher.is_empty() {
        Vec::new()
    } else {
        parse_selector(matcher)?
    };
    let db = ReadOnlyDb::open_blocks(dir)?;
    let opened;
    let block: &Block = match block_id {
        Some(id) => {
            if !dir.join(id).exists() {
                anyhow::bail!("invalid block ID {id}");
            }
            match db.blocks().iter().find(|b| b.meta().ulid.to_string() == id) {
                Some(b) => b.as_ref(),
                None => {
                    opened = Block::open(&dir.join(id))
                        .with_context(|| format!("opening block {id}"))?;
                    &opened
                }
            }
        }
        // Go's `LastBlockID`: the block whose ULID was made last (the first by name among
        // equal times), whatever its time range.
        None => db
            .blocks()
            .iter()
            .max_by(|a, b| {
                let (a, b) = (&a.meta().ulid, &b.meta().ulid);
                a.timestamp_ms()
                    .cmp(&b.timestamp_ms())
                    .then_with(|| b.to_string().cmp(&a.to_string()))
            })
            .ok_or_else(|| anyhow::anyhow!("no blocks found"))?,
    };
    let meta = block.meta();
    let a = analyze_block(block, &matchers)?;
    writeln!(out, "Block ID: {}", meta.ulid)?;
    writeln!(
        out,
        "Duration: {}",
        gofmt::format_duration_ms(meta.max_time - meta.min_time)
    )?;
    writeln!(out, "Total Series: {}", a.total_series)?;
    if !matcher.is_empty() {
        writeln!(out, "Matcher: {matcher}")?;
    }
    writeln!(out, "Label names: {}", a.label_names)?;
    if let Some(n) = a.matched_series {
        writeln!(out, "Matched series: {n}")?;
    }
    writeln!(out, "Postings (unique label pairs): {}", a.postings)?;
    writeln!(
        out,
        "Postings entries (total label pairs): {}",
        a.postings_entries
    )?;
    let sections: [(&str, &Ranking); 6] = [
        (
            "Label pairs most involved in churning",
            &a.churn_label_pairs,
        ),
        (
            "Label names most involved in churning",
            &a.churn_label_names,
        ),
        ("Most common label pairs", &a.common_label_pairs),
        (
            "Label names with highest cumulative label value length",
            &a.label_value_lengths,
        ),
        ("Highest cardinality labels", &a.label_cardinality),
        ("Highest cardinality metric names", &a.metric_cardinality),
    ];
    for (title, ranking) in sections {
        writeln!(out, "\n{title}:")?;
        for (n, key) in ranking.iter().take(limit) {
            writeln!(out, "{n} {key}")?;
        }
    }
    if extended {
        let s = chunk_stats(block, &matchers)?;
        writeln!(out, "\nCompaction analysis:\n")?;
        for (name, data) in [
            ("samples per float chunk", &s.float_samples),
            ("bytes per float chunk", &s.float_bytes),
            ("samples per histogram chunk", &s.histogram_samples),
            ("bytes per histogram chunk", &s.histogram_bytes),
            ("buckets per histogram chunk", &s.histogram_buckets),
        ] {
            display_histogram(out, name, data, s.total_chunks)?;
        }
    }
    Ok(())
}

/// The series of every matcher set, as Go's `dumpSamples` selects them: one set in the
/// storage's order (a head alone lists series in creation order), several merged, sorted and
/// deduplicated.
fn select_sets(q: &dyn storage::Querier, sets: &[Vec<Matcher>]) -> Box<dyn storage::SeriesSet> {
    match sets {
        [one] => q.select(false, None, one),
        _ => storage::merge_series_sets(sets.iter().map(|m| q.select(true, None, m)).collect()),
    }
}

/// Writes every sample of `dir` (blocks and head) in `[mint, maxt]` of the series matching
/// any of `selectors`, series in Go's order ([`select_sets`]), each in time order:
/// `{labels} value timestamp_ms`, a native
/// histogram's value in Go's `String()` form (`{count:4, sum:5, (0.5,1]:2, ...}`). Unlike
/// Go's promtool, whose loop per value type drops the first samples after a series switches
/// between floats and histograms, every sample is written in time order.
pub(crate) fn dump(
    dir: &Path,
    mint: i64,
    maxt: i64,
    selectors: &[String],
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let sets: Vec<Vec<Matcher>> = selectors
        .iter()
        .map(|s| parse_selector(s))
        .collect::<anyhow::Result<_>>()?;
    let db = ReadOnlyDb::open(dir)?;
    let q = db.querier(mint, maxt)?;
    let mut set = select_sets(q.as_ref(), &sets);
    while let Some(series) = set.next() {
        let series = series?;
        let labels = series.labels().to_string();
        let mut it = series.iterator();
        loop {
            match it.next() {
                ValueType::Float => {
                    let (t, v) = it.at();
                    writeln!(out, "{labels} {} {t}", gofmt::format_g(v))?;
                }
                ValueType::Histogram => {
                    let (t, h) = it.at_histogram();
                    writeln!(out, "{labels} {} {t}", h.to_go_string())?;
                }
                ValueType::FloatHistogram => {
                    let (t, h) = it.at_float_histogram();
                    writeln!(out, "{labels} {} {t}", h.to_go_string())?;
                }
                _ => break,
            }
        }
        if let Some(e) = it.err() {
            anyhow::bail!("reading {labels}: {e}");
        }
    }
    let warnings = set.warnings();
    if !warnings.is_empty() {
        anyhow::bail!("{}", warnings.join("; "));
    }
    Ok(())
}

/// `tsdb dump --format=seriesjson`: each distinct series' labels as one JSON object per line
/// (Go's `formatSeriesSetLabelsToJSON`).
pub(crate) fn dump_series_json(
    dir: &Path,
    mint: i64,
    maxt: i64,
    selectors: &[String],
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let sets: Vec<Vec<Matcher>> = selectors
        .iter()
        .map(|s| parse_selector(s))
        .collect::<anyhow::Result<_>>()?;
    let db = ReadOnlyDb::open(dir)?;
    let q = db.querier(mint, maxt)?;
    let mut set = select_sets(q.as_ref(), &sets);
    let mut seen = std::collections::HashSet::new();
    while let Some(series) = set.next() {
        let series = series?;
        let mut line = String::from("{");
        for (i, (n, v)) in series.labels().iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            gofmt::json_string(&mut line, n);
            line.push(':');
            gofmt::json_string(&mut line, v);
        }
        line.push('}');
        if seen.insert(line.clone()) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

/// `tsdb dump-openmetrics`: float samples as `name{labels} value seconds` lines (Go's
/// `formatSeriesSetOpenMetrics`: a series stops at its first non-float sample; stale markers
/// are printed as `NaN`), then `# EOF`.
pub(crate) fn dump_openmetrics(
    dir: &Path,
    mint: i64,
    maxt: i64,
    selectors: &[String],
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let sets: Vec<Vec<Matcher>> = selectors
        .iter()
        .map(|s| parse_selector(s))
        .collect::<anyhow::Result<_>>()?;
    let db = ReadOnlyDb::open(dir)?;
    let q = db.querier(mint, maxt)?;
    let mut set = select_sets(q.as_ref(), &sets);
    while let Some(series) = set.next() {
        let series = series?;
        let labels = series.labels();
        let name = labels.metric_name().unwrap_or("").to_owned();
        let mut condensed = String::from("{");
        for (i, (n, v)) in labels
            .iter()
            .filter(|(n, _)| *n != model::METRIC_NAME)
            .enumerate()
        {
            if i > 0 {
                condensed.push(',');
            }
            condensed.push_str(n);
            condensed.push('=');
            condensed.push_str(&go_quote(v));
        }
        condensed.push('}');
        let mut it = series.iterator();
        while it.next() == ValueType::Float {
            // Stale markers print as `NaN`, as in promtool 3.x (the help text's "excluding
            // staleness markers" is not what Go's loop does).
            let (t, v) = it.at();
            #[allow(clippy::cast_precision_loss)]
            let secs = t as f64 / 1000.0;
            writeln!(out, "{name}{condensed} {} {secs:.3}", gofmt::format_g(v))?;
        }
        if let Some(e) = it.err() {
            anyhow::bail!("reading {labels}: {e}");
        }
    }
    writeln!(out, "# EOF")?;
    Ok(())
}

/// Go's `strconv.Quote`: double quotes, `\"`, `\\` and escapes for control characters;
/// other printable characters as they are.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{CounterResetHint, FloatHistogram, Histogram, Labels, Span};
    use tsdb::chunkenc::Value;
    use tsdb::compact::{BlockWriter, encode_any_chunks};

    fn hist(k: u64) -> Histogram {
        Histogram {
            schema: 0,
            zero_threshold: 0.001,
            zero_count: k,
            count: 3 * k,
            sum: 2.5 * k as f64,
            positive_spans: vec![Span {
                offset: 0,
                length: 2,
            }],
            positive_buckets: vec![k as i64, 0],
            ..Histogram::default()
        }
    }

    /// A data directory with one block: `m` switches float -> histogram -> float histogram,
    /// `f` holds floats only.
    fn data_dir() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(tmp.path().join("wal")).expect("mkdir wal");
        let fh = FloatHistogram {
            counter_reset_hint: CounterResetHint::Gauge,
            negative_spans: vec![Span {
                offset: 1,
                length: 1,
            }],
            negative_buckets: vec![1.5],
            count: 7.5,
            ..hist(2).to_float()
        };
        let m = vec![
            (1000, Value::Float(1.0)),
            (2000, Value::Histogram(hist(1))),
            (3000, Value::Histogram(hist(2))),
            (4000, Value::FloatHistogram(fh)),
            (5000, Value::Float(0.5)),
        ];
        let f = vec![(1000, Value::Float(7.0))];
        let w = BlockWriter::new(tmp.path());
        w.write(
            [
                (
                    Labels::from_pairs([("__name__", "m"), ("job", "a")]),
                    encode_any_chunks(&m).expect("encodes"),
                ),
                (
                    Labels::from_pairs([("__name__", "f")]),
                    encode_any_chunks(&f).expect("encodes"),
                ),
            ],
            0,
            7_200_000,
        )
        .expect("writes")
        .expect("a block");
        tmp
    }

    #[test]
    fn dump_writes_histograms_in_go_string_form() {
        let tmp = data_dir();
        let mut out = Vec::new();
        dump(
            tmp.path(),
            i64::MIN,
            i64::MAX,
            &["{__name__=~\".+\"}".to_string()],
            &mut out,
        )
        .expect("dump");
        let m = r#"{__name__="m", job="a"}"#;
        let want = [
            r#"{__name__="f"} 7 1000"#.to_string(),
            format!("{m} 1 1000"),
            format!("{m} {{count:3, sum:2.5, [-0.001,0.001]:1, (0.5,1]:1, (1,2]:1}} 2000"),
            format!("{m} {{count:6, sum:5, [-0.001,0.001]:2, (0.5,1]:2, (1,2]:2}} 3000"),
            format!(
                "{m} {{count:7.5, sum:5, [-2,-1):1.5, [-0.001,0.001]:2, (0.5,1]:2, (1,2]:2}} 4000"
            ),
            format!("{m} 0.5 5000"),
        ];
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            want.join("\n") + "\n"
        );
    }

    /// Prometheus 3's `openBlock`: without an ID the block whose ULID is newest (not the
    /// latest time range); an unknown ID or no block at all are errors.
    #[test]
    fn analyze_picks_the_newest_ulid_and_names_missing_blocks() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(tmp.path().join("wal")).expect("mkdir wal");
        let err = |id: Option<&str>| {
            analyze(tmp.path(), id, 20, false, "", &mut Vec::new())
                .expect_err("fails")
                .to_string()
        };
        assert_eq!(err(None), "no blocks found");
        let write = |from: i64| {
            let f = vec![(from, Value::Float(1.0))];
            BlockWriter::new(tmp.path())
                .write(
                    [(
                        Labels::from_pairs([("__name__", "f")]),
                        encode_any_chunks(&f).expect("encodes"),
                    )],
                    from,
                    from + 7_200_000,
                )
                .expect("writes")
                .expect("a block")
        };
        let later_range = write(10 * 7_200_000);
        // A new ULID needs a later millisecond.
        std::thread::sleep(std::time::Duration::from_millis(5));
        let newer_ulid = write(0);
        assert!(newer_ulid.timestamp_ms() > later_range.timestamp_ms());
        let shown = |id: Option<&str>| {
            let mut out = Vec::new();
            analyze(tmp.path(), id, 20, false, "", &mut out).expect("analyze");
            String::from_utf8(out).expect("utf-8")
        };
        assert!(shown(None).starts_with(&format!("Block ID: {newer_ulid}\n")));
        let id = later_range.to_string();
        assert!(shown(Some(&id)).starts_with(&format!("Block ID: {id}\n")));
        assert_eq!(err(Some("01NOPE")), "invalid block ID 01NOPE");
    }

    #[test]
    fn analyze_counts_histogram_chunks() {
        let tmp = data_dir();
        let mut out = Vec::new();
        analyze(tmp.path(), None, 20, true, "", &mut out).expect("analyze");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.contains("Total Series: 2\nLabel names: 2\n"), "{text}");
        // Five chunks: floats in `m` (twice) and `f`, one histogram and one float histogram
        // chunk in `m` (two samples of two buckets; one of three).
        let tail = text
            .split_once("\nCompaction analysis:\n\n")
            .expect("extended section")
            .1;
        let want = [
            "samples per float chunk (min/avg/max): 1/1/1",
            "[ 1, 10]: 3 ############################################################",
            "[11, 20]: 0 ",
            "",
            "samples per histogram chunk (min/avg/max): 1/1/2",
            "[ 1, 10]: 2 ########################################",
            "[11, 20]: 0 ",
            "",
            "buckets per histogram chunk (min/avg/max): 3/3/4",
            "[ 1, 10]: 2 ########################################",
            "[11, 20]: 0 ",
        ];
        for w in want {
            assert!(tail.contains(&format!("{w}\n")), "{w:?} in\n{tail}");
        }
        let mut out = Vec::new();
        analyze(tmp.path(), None, 20, false, "{job=\"a\"}", &mut out).expect("analyze");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(
            text.contains(
                "Total Series: 2\nMatcher: {job=\"a\"}\nLabel names: 2\nMatched series: 1\n"
            ),
            "{text}"
        );
        assert!(!text.contains("Compaction analysis"), "{text}");
    }
}
