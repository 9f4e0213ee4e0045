//! `promtool tsdb create-blocks-from rules`: Go's `rules.go`. Evaluates the recording rules
//! of rule files over a past time range by asking a Prometheus server's `query_range` API,
//! one query per rule and block range at the rule group's evaluation slots, and writes the
//! results (named by the rule, with its labels) as blocks. Alerting rules are skipped.

use std::path::Path;

use anyhow::{Context as _, anyhow, bail};
use model::Labels;
use rules::rulefmt::{self, ParseOptions};
use tsdb::compact::{BlockWriter, encode_chunks};

use crate::backfill::compatible_block_duration;
use crate::http::ApiClient;
use crate::value::{QueryValue, parse_query_data};

/// What `create-blocks-from rules` was asked to do. Times and durations are milliseconds.
pub(crate) struct Import<'a> {
    pub(crate) url: &'a str,
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) output_dir: &'a Path,
    pub(crate) eval_interval: i64,
    pub(crate) max_block_duration: i64,
}

/// One recording rule to backfill, with its group's slotting.
struct RuleJob {
    group: String,
    file: String,
    interval: i64,
    record: String,
    expr: String,
    labels: Vec<(String, String)>,
}

/// Runs the import and returns the exit code (errors printed as Go's promtool does).
pub(crate) fn run(import: &Import<'_>, files: &[String]) -> u8 {
    match import_rules(import, files) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e:#}");
            1
        }
    }
}

fn import_rules(import: &Import<'_>, files: &[String]) -> anyhow::Result<()> {
    if import.start >= import.end {
        bail!("start time is not before end time");
    }
    let jobs = load(files, import.eval_interval).context("rule importer parse error")?;
    let client = ApiClient::new(import.url, Vec::new()).context("new api client error")?;
    std::fs::create_dir_all(import.output_dir).context("create output dir")?;
    let mut failed = false;
    for job in &jobs {
        if let Err(e) = import_rule(&client, import, job) {
            eprintln!("rule importer error: {e:#}");
            failed = true;
        }
    }
    if failed {
        bail!("error importing rules");
    }
    Ok(())
}

fn load(files: &[String], default_interval: i64) -> anyhow::Result<Vec<RuleJob>> {
    let mut jobs = Vec::new();
    for file in files {
        let groups = rulefmt::parse_file(file, &ParseOptions::default()).map_err(|errs| {
            anyhow!(
                "{}",
                errs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })?;
        for g in groups.groups {
            let interval = g
                .interval
                .map(|d| d.as_millis())
                .filter(|&i| i > 0)
                .unwrap_or(default_interval);
            for r in g.rules.iter().filter(|r| !r.record.is_empty()) {
                let mut labels: Vec<(String, String)> = g
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                for (k, v) in &r.labels {
                    labels.retain(|(n, _)| n != k);
                    labels.push((k.clone(), v.clone()));
                }
                jobs.push(RuleJob {
                    group: g.name.clone(),
                    file: file.clone(),
                    interval,
                    record: r.record.clone(),
                    expr: r.expr.clone(),
                    labels,
                });
            }
        }
    }
    Ok(jobs)
}

/// The group's evaluation slot at or before `t_ms` (Go's `Group.EvalTimestamp`), in
/// nanoseconds: slots are shifted by a per-group offset that need not be whole milliseconds.
fn eval_slot_ns(job: &RuleJob, t_ms: i64) -> i128 {
    let interval_ns = i128::from(job.interval) * 1_000_000;
    let hash =
        Labels::from_pairs([("name", job.group.as_str()), ("file", job.file.as_str())]).hash();
    let offset = i128::from(hash) % interval_ns;
    let adj = i128::from(t_ms) * 1_000_000 - offset;
    adj - adj.rem_euclid(interval_ns) + offset
}

/// A nanosecond time as the server reads the client's seconds: rounded to milliseconds
/// (Go's `math.Round`, half away from zero).
fn ns_to_ms_rounded(ns: i128) -> i64 {
    let ms = (ns + 500_000).div_euclid(1_000_000);
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// Seconds as client_golang formats API times and steps (`'f'`, shortest).
fn api_seconds(ms: i64) -> String {
    crate::gofmt::format_f(ms as f64 / 1000.0)
}

fn import_rule(client: &ApiClient, import: &Import<'_>, job: &RuleJob) -> anyhow::Result<()> {
    let block_duration = compatible_block_duration(import.max_block_duration);
    // Go works in whole seconds here.
    let start_s = import.start.div_euclid(1000);
    let end_s = import.end.div_euclid(1000);
    let (start_ms, end_ms) = (start_s * 1000, end_s * 1000);
    let writer = BlockWriter::new(import.output_dir);
    let mut block_start = block_duration * (start_ms / block_duration);
    while block_start <= end_ms {
        let block_end = block_start + block_duration - 1;
        let cur_start_s = (block_start / 1000).max(start_s);
        let mut from_ns = eval_slot_ns(job, cur_start_s * 1000);
        while from_ns.div_euclid(1_000_000_000) < i128::from(cur_start_s) {
            from_ns += i128::from(job.interval) * 1_000_000;
        }
        let to = (block_end / 1000).min(end_s) * 1000;
        if i128::from(to) * 1_000_000 < from_ns {
            break;
        }
        let from = ns_to_ms_rounded(from_ns);
        let params = [
            ("query", job.expr.clone()),
            ("start", api_seconds(from)),
            ("end", api_seconds(to)),
            ("step", api_seconds(job.interval)),
        ];
        let (data, _warnings) = client
            .api("/query_range", &params, true)
            .context("query range")?;
        let series = match parse_query_data(&data)? {
            QueryValue::Matrix(series) => series,
            other => bail!("rule result is wrong type {}", value_type(&other)),
        };
        let mut encoded = Vec::with_capacity(series.len());
        let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
        for (metric, floats, _histograms) in series {
            if floats.is_empty() {
                continue;
            }
            let mut b =
                Labels::from_pairs(metric.iter().map(|(k, v)| (k.as_str(), v.as_str()))).builder();
            for (k, v) in &job.labels {
                b.set(k, v);
            }
            b.set(model::METRIC_NAME, &job.record);
            min_t = min_t.min(floats[0].0);
            max_t = max_t.max(floats[floats.len() - 1].0);
            encoded.push((b.labels(), encode_chunks(&floats).context("add")?));
        }
        if !encoded.is_empty() {
            writer
                .write(encoded, min_t, max_t + 1)
                .context("flush and commit")?;
        }
        block_start += block_duration;
    }
    Ok(())
}

fn value_type(v: &QueryValue) -> &'static str {
    match v {
        QueryValue::Scalar { .. } => "scalar",
        QueryValue::String { .. } => "string",
        QueryValue::Vector(_) => "vector",
        QueryValue::Matrix(_) => "matrix",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_slots_are_interval_apart_and_not_after_t() {
        let job = RuleJob {
            group: "g".to_owned(),
            file: "rules.yml".to_owned(),
            interval: 60_000,
            record: "r".to_owned(),
            expr: "up".to_owned(),
            labels: Vec::new(),
        };
        let t = 1_700_000_030_000;
        let slot = eval_slot_ns(&job, t);
        assert!(slot <= i128::from(t) * 1_000_000);
        assert!(i128::from(t) * 1_000_000 - slot < 60_000_000_000);
        let next_ms = ns_to_ms_rounded(slot + 60_000_000_000);
        assert_eq!(eval_slot_ns(&job, next_ms + 1), slot + 60_000_000_000);
        assert_eq!(ns_to_ms_rounded(1_500_000), 2);
        assert_eq!(ns_to_ms_rounded(1_499_999), 1);
    }
}
