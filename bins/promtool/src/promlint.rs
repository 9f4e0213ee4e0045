//! `promtool check metrics`: client_golang's `promlint` over the text exposition format
//! (metric naming, help, type-suffix and unit lints) and the `--extended` cardinality table.
//!
//! The payload is tokenized by the scrape crate's [`PromParser`] and grouped into families the
//! way Go's `expfmt.TextParser` groups them: `_bucket`/`_count`/`_sum` samples join a declared
//! histogram or summary, one metric per label set (without `le`/`quantile`), and families of
//! one name merge wherever their lines are.

use std::collections::HashMap;
use std::io::Read as _;

use scrape::textparse::{Entry, MetricType, Parser as _, PromParser};

use crate::gofmt;

const SUCCESS: u8 = 0;
const FAILURE: u8 = 1;
const LINT_ERROR: u8 = 3;

/// One metric family as Go's text parser builds it.
#[derive(Debug, Default)]
pub(crate) struct Family {
    pub(crate) name: String,
    pub(crate) help: Option<String>,
    pub(crate) metric_type: MetricType,
    pub(crate) metrics: Vec<Metric>,
}

/// One metric of a family: its labels (sorted, without `__name__`, and without `le` in a
/// histogram or `quantile` in a summary), and the buckets or quantiles it collected.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Metric {
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) buckets: usize,
    pub(crate) quantiles: usize,
}

/// A lint finding: the family it is about and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Problem {
    pub(crate) metric: String,
    pub(crate) text: String,
}

/// Runs `promtool check metrics` on standard input and returns the exit code.
pub(crate) fn run(extended: bool, lint: &str) -> u8 {
    let lint_on = match lint {
        "all" => true,
        "none" => false,
        other => {
            eprintln!("error: unknown lint option {other:?}: use all or none");
            return FAILURE;
        }
    };
    if !extended && !lint_on {
        eprintln!("error: at least one of --extended or linting must be enabled");
        eprintln!(
            "Use --extended for cardinality analysis, or remove --lint=none to enable linting"
        );
        return FAILURE;
    }
    let mut input = Vec::new();
    if let Err(err) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("error while reading standard input: {err}");
        return FAILURE;
    }
    let families = match parse_families(&input) {
        Ok(f) => f,
        Err(err) if lint_on => {
            eprintln!("error while linting: {err}");
            return FAILURE;
        }
        Err(err) => {
            eprintln!("error while parsing text to metric families: {err}");
            return FAILURE;
        }
    };
    let mut has_problems = false;
    if lint_on {
        let problems = lint_families(&families);
        for p in &problems {
            eprintln!("{} {}", p.metric, p.text);
        }
        has_problems = !problems.is_empty();
    }
    if extended {
        print!("{}", cardinality_table(&families));
    }
    if has_problems { LINT_ERROR } else { SUCCESS }
}

/// Groups a text-format payload into families (see the module docs).
///
/// # Errors
/// A parse error, or metadata Go's text parser refuses: a second `# HELP` for a name, a
/// second `# TYPE` or one after the family's samples.
pub(crate) fn parse_families(input: &[u8]) -> Result<Vec<Family>, String> {
    let mut families: Vec<Family> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    // Families whose `# TYPE` line was seen.
    let mut typed: Vec<bool> = Vec::new();
    let mut p = PromParser::new(input);
    let get = |families: &mut Vec<Family>,
               typed: &mut Vec<bool>,
               by_name: &mut HashMap<String, usize>,
               name: &str| {
        *by_name.entry(name.to_owned()).or_insert_with(|| {
            families.push(Family {
                name: name.to_owned(),
                ..Family::default()
            });
            typed.push(false);
            families.len() - 1
        })
    };
    // How many `# HELP`/`# TYPE` lines each name has had, to find the line an error is on.
    let mut helps: HashMap<String, usize> = HashMap::new();
    let mut types: HashMap<String, usize> = HashMap::new();
    while let Some(entry) = p.next().map_err(|e| text_format_error(&e))? {
        match entry {
            Entry::Help => {
                let (name, help) = p.help();
                let i = get(&mut families, &mut typed, &mut by_name, &name);
                let k = helps.entry(name.to_string()).or_default();
                *k += 1;
                if families[i].help.is_some() {
                    return Err(format!(
                        "text format parsing error in line {}: second HELP line for metric name {name:?}",
                        nth_line(input, "HELP", &name, *k)
                    ));
                }
                families[i].help = Some(help.into_owned());
            }
            Entry::Type => {
                let (name, t) = p.metric_type();
                let i = get(&mut families, &mut typed, &mut by_name, &name);
                let k = types.entry(name.to_string()).or_default();
                *k += 1;
                if typed[i] || !families[i].metrics.is_empty() {
                    return Err(format!(
                        "text format parsing error in line {}: second TYPE line for metric name {name:?}, or TYPE reported after samples",
                        nth_line(input, "TYPE", &name, *k)
                    ));
                }
                typed[i] = true;
                families[i].metric_type = t;
            }
            Entry::Unit | Entry::Comment | Entry::Histogram => {}
            Entry::Series => {
                let labels = p.labels().map_err(|e| text_format_error(&e))?;
                let name = labels.metric_name().unwrap_or("").to_owned();
                let mut rest: Vec<(String, String)> = labels
                    .iter()
                    .filter(|(n, _)| *n != model::METRIC_NAME)
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect();
                rest.sort();
                let (i, part) = family_of(&families, &by_name, &name);
                let i = match i {
                    Some(i) => i,
                    None => get(&mut families, &mut typed, &mut by_name, &name),
                };
                add_sample(&mut families[i], part, rest);
            }
        }
    }
    Ok(families)
}

/// A parse error as Go's text parser (expfmt) words it: `text format parsing error in line
/// N: ...`.
fn text_format_error(e: &scrape::Error) -> String {
    match e {
        scrape::Error::Parse { line, message } => {
            let message = match message.strip_prefix("invalid metric type ") {
                Some(t) => format!("unknown metric type {t}"),
                None => message.clone(),
            };
            format!("text format parsing error in line {line}: {message}")
        }
        other => other.to_string(),
    }
}

/// The 1-based line of the `k`-th `# KEYWORD name` line of `input` (0 when there is none).
fn nth_line(input: &[u8], keyword: &str, name: &str, k: usize) -> usize {
    let prefix = format!("# {keyword} {name}");
    input
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| {
            l.strip_prefix(prefix.as_bytes())
                .is_some_and(|rest| rest.is_empty() || rest[0] == b' ' || rest[0] == b'\t')
        })
        .nth(k.saturating_sub(1))
        .map_or(0, |(i, _)| i + 1)
}

/// Which part of a histogram or summary a sample is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Plain,
    Bucket,
    CountOrSum,
}

/// The family a sample named `name` joins: its own, or the histogram/summary it is a
/// `_bucket`, `_count` or `_sum` series of.
fn family_of(
    families: &[Family],
    by_name: &HashMap<String, usize>,
    name: &str,
) -> (Option<usize>, Part) {
    let aggregate = |i: &usize| {
        matches!(
            families[*i].metric_type,
            MetricType::Histogram | MetricType::Summary
        )
    };
    if let Some(base) = name.strip_suffix("_bucket")
        && let Some(&i) = by_name.get(base)
        && families[i].metric_type == MetricType::Histogram
    {
        return (Some(i), Part::Bucket);
    }
    for suffix in ["_count", "_sum"] {
        if let Some(base) = name.strip_suffix(suffix)
            && let Some(i) = by_name.get(base).filter(|i| aggregate(i))
        {
            return (Some(*i), Part::CountOrSum);
        }
    }
    (by_name.get(name).copied(), Part::Plain)
}

fn add_sample(family: &mut Family, part: Part, mut labels: Vec<(String, String)>) {
    let special = match family.metric_type {
        MetricType::Histogram => Some("le"),
        MetricType::Summary => Some("quantile"),
        _ => None,
    };
    let Some(special) = special else {
        family.metrics.push(Metric {
            labels,
            ..Metric::default()
        });
        return;
    };
    let had_special = labels.iter().any(|(n, _)| n == special);
    labels.retain(|(n, _)| n != special);
    let i = match family.metrics.iter().position(|m| m.labels == labels) {
        Some(i) => i,
        None => {
            family.metrics.push(Metric {
                labels,
                ..Metric::default()
            });
            family.metrics.len() - 1
        }
    };
    let m = &mut family.metrics[i];
    match (family.metric_type, part) {
        (MetricType::Histogram, Part::Bucket) if had_special => m.buckets += 1,
        (MetricType::Summary, Part::Plain) if had_special => m.quantiles += 1,
        _ => {}
    }
}

/// promlint's problems, sorted by metric name and then text.
pub(crate) fn lint_families(families: &[Family]) -> Vec<Problem> {
    let mut problems: Vec<Problem> = families.iter().flat_map(lint_family).collect();
    problems.sort();
    problems
}

/// Unit words and their base units (promlint's `units`).
const UNITS: &[(&str, &str)] = &[
    ("amperes", "amperes"),
    ("bytes", "bytes"),
    ("celsius", "celsius"),
    ("grams", "grams"),
    ("joules", "joules"),
    ("kelvin", "kelvin"),
    ("meters", "meters"),
    ("metres", "metres"),
    ("seconds", "seconds"),
    ("volts", "volts"),
    ("minutes", "seconds"),
    ("hours", "seconds"),
    ("days", "seconds"),
    ("weeks", "seconds"),
    ("kelvins", "kelvin"),
    ("fahrenheit", "celsius"),
    ("rankine", "celsius"),
    ("inches", "meters"),
    ("yards", "meters"),
    ("miles", "meters"),
    ("bits", "bytes"),
    ("calories", "joules"),
    ("pounds", "grams"),
    ("ounces", "grams"),
];

const UNIT_PREFIXES: &[&str] = &[
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega",
    "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi",
];

const UNIT_ABBREVIATIONS: &[&str] = &[
    "s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
];

/// The metric type names promlint looks for in metric names (all but untyped).
const TYPE_NAMES: &[&str] = &[
    "counter",
    "gauge",
    "summary",
    "histogram",
    "gauge_histogram",
];

fn base_unit(word: &str) -> Option<&'static str> {
    UNITS.iter().find(|(u, _)| *u == word).map(|(_, b)| *b)
}

/// The first unit word of a metric name and its base unit.
fn metric_unit(name: &str) -> Option<(&str, &'static str)> {
    for word in name.split('_') {
        if let Some(base) = base_unit(word) {
            return Some((word, base));
        }
        for prefix in UNIT_PREFIXES {
            if let Some(rest) = word.strip_prefix(prefix)
                && let Some(base) = base_unit(rest)
            {
                return Some((word, base));
            }
        }
    }
    None
}

/// Whether `name` has `_word_` inside or ends in `_word`.
fn has_word(name: &str, word: &str) -> bool {
    name.contains(&format!("_{word}_")) || name.ends_with(&format!("_{word}"))
}

fn is_camel_case(s: &str) -> bool {
    s.as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
}

fn lint_family(f: &Family) -> Vec<Problem> {
    let mut texts: Vec<String> = Vec::new();
    let t = f.metric_type;
    let untyped = t == MetricType::Unknown;
    let name = f.name.as_str();
    if f.help.is_none() {
        texts.push("no help text".to_owned());
    }
    if let Some((unit, base)) = metric_unit(name)
        && unit != base
    {
        texts.push(format!("use base unit {base:?} instead of {unit:?}"));
    }
    let total = name.ends_with("_total");
    if t == MetricType::Counter && !total {
        texts.push(r#"counter metrics should have "_total" suffix"#.to_owned());
    } else if !untyped && t != MetricType::Counter && total {
        texts.push(r#"non-counter metrics should not have "_total" suffix"#.to_owned());
    }
    if !untyped && t != MetricType::Gauge && name.ends_with("_timestamp_seconds") {
        texts.push(r#"non-gauge metrics should not have "_timestamp_seconds" suffix"#.to_owned());
    }
    if !untyped {
        let histogram = t == MetricType::Histogram;
        let summary = t == MetricType::Summary;
        if !histogram && name.ends_with("_bucket") {
            texts.push(r#"non-histogram metrics should not have "_bucket" suffix"#.to_owned());
        }
        if !histogram && !summary && name.ends_with("_count") {
            texts.push(
                r#"non-histogram and non-summary metrics should not have "_count" suffix"#
                    .to_owned(),
            );
        }
        if !histogram && !summary && name.ends_with("_sum") {
            texts.push(
                r#"non-histogram and non-summary metrics should not have "_sum" suffix"#.to_owned(),
            );
        }
        for m in &f.metrics {
            for (label, _) in &m.labels {
                if !histogram && label == "le" {
                    texts.push(r#"non-histogram metrics should not have "le" label"#.to_owned());
                }
                if !summary && label == "quantile" {
                    texts
                        .push(r#"non-summary metrics should not have "quantile" label"#.to_owned());
                }
            }
        }
    }
    let lower = name.to_ascii_lowercase();
    for type_name in TYPE_NAMES {
        if has_word(&lower, type_name) {
            texts.push(format!("metric name should not include type '{type_name}'"));
        }
    }
    if name.contains(':') {
        texts.push("metric names should not contain ':'".to_owned());
    }
    if is_camel_case(name) {
        texts.push("metric names should be written in 'snake_case' not 'camelCase'".to_owned());
    }
    for m in &f.metrics {
        for (label, _) in &m.labels {
            if is_camel_case(label) {
                texts.push(
                    "label names should be written in 'snake_case' not 'camelCase'".to_owned(),
                );
            }
        }
    }
    for abbr in UNIT_ABBREVIATIONS {
        if has_word(&lower, abbr) {
            texts.push("metric names should not contain abbreviated units".to_owned());
        }
    }
    for (i, m) in f.metrics.iter().enumerate() {
        if f.metrics[i + 1..].iter().any(|k| k.labels == m.labels) {
            texts.push("metric not unique".to_owned());
        }
    }
    texts
        .into_iter()
        .map(|text| Problem {
            metric: f.name.clone(),
            text,
        })
        .collect()
}

/// The `--extended` table: series per family (a histogram's buckets plus `_sum` and
/// `_count`, a summary's quantiles plus both), largest first, and the total.
pub(crate) fn cardinality_table(families: &[Family]) -> String {
    let mut stats: Vec<(&str, usize)> = families
        .iter()
        .map(|f| {
            let n = f.metrics.len();
            let per_metric = match f.metric_type {
                MetricType::Histogram => 2 + f.metrics.first().map_or(0, |m| m.buckets),
                MetricType::Summary => 2 + f.metrics.first().map_or(0, |m| m.quantiles),
                _ => 1,
            };
            (f.name.as_str(), n * per_metric)
        })
        .collect();
    // Go sorts stably by cardinality from a map's random order; ties go by name here.
    stats.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let total: usize = stats.iter().map(|s| s.1).sum();
    let mut rows = vec![vec![
        "Metric".to_owned(),
        "Cardinality".to_owned(),
        "Percentage".to_owned(),
        String::new(),
    ]];
    for (name, n) in &stats {
        #[allow(clippy::cast_precision_loss)]
        let pct = if total == 0 {
            f64::NAN
        } else {
            *n as f64 / total as f64 * 100.0
        };
        let pct = if pct.is_nan() {
            "NaN%".to_owned()
        } else {
            format!("{pct:.2}%")
        };
        rows.push(vec![(*name).to_owned(), n.to_string(), pct, String::new()]);
    }
    rows.push(vec![
        "Total".to_owned(),
        total.to_string(),
        "100%".to_owned(),
        String::new(),
    ]);
    gofmt::tabwrite(&rows, 4, 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lint(input: &str) -> Vec<String> {
        let families = parse_families(input.as_bytes()).expect("parses");
        lint_families(&families)
            .into_iter()
            .map(|p| format!("{} {}", p.metric, p.text))
            .collect()
    }

    #[test]
    fn naming_lints_match_promlint() {
        let input = "# HELP http_requests Requests.\n# TYPE http_requests counter\nhttp_requests 1\n\
                     # HELP x_milliseconds Time.\n# TYPE x_milliseconds gauge\nx_milliseconds 2\n\
                     # TYPE fooBar_ms gauge\nfooBar_ms{someLabel=\"a\"} 1\n\
                     # HELP a:b_total Total.\n# TYPE a:b_total gauge\na:b_total 1\n";
        assert_eq!(
            lint(input),
            [
                r#"a:b_total metric names should not contain ':'"#,
                r#"a:b_total non-counter metrics should not have "_total" suffix"#,
                "fooBar_ms label names should be written in 'snake_case' not 'camelCase'",
                "fooBar_ms metric names should be written in 'snake_case' not 'camelCase'",
                "fooBar_ms metric names should not contain abbreviated units",
                "fooBar_ms no help text",
                r#"http_requests counter metrics should have "_total" suffix"#,
                r#"x_milliseconds use base unit "seconds" instead of "milliseconds""#,
            ]
        );
    }

    #[test]
    fn histograms_group_their_series() {
        let input = "# HELP req_duration_seconds D.\n# TYPE req_duration_seconds histogram\n\
                     req_duration_seconds_bucket{le=\"1\",code=\"200\"} 1\n\
                     req_duration_seconds_bucket{le=\"+Inf\",code=\"200\"} 2\n\
                     req_duration_seconds_sum{code=\"200\"} 3\nreq_duration_seconds_count{code=\"200\"} 2\n\
                     req_duration_seconds_bucket{le=\"1\",code=\"500\"} 1\n\
                     req_duration_seconds_bucket{le=\"+Inf\",code=\"500\"} 2\n\
                     # HELP up Up.\n# TYPE up gauge\nup 1\nup{a=\"b\"} 1\n";
        let families = parse_families(input.as_bytes()).expect("parses");
        assert!(lint_families(&families).is_empty());
        assert_eq!(families[0].metrics.len(), 2);
        assert_eq!(families[0].metrics[0].buckets, 2);
        assert_eq!(
            cardinality_table(&families),
            "Metric                  Cardinality    Percentage    \n\
             req_duration_seconds    8              80.00%        \n\
             up                      2              20.00%        \n\
             Total                   10             100%          \n"
        );
    }

    #[test]
    fn reserved_suffixes_and_duplicates() {
        let input =
            "# HELP x_count C.\n# TYPE x_count gauge\nx_count{le=\"1\"} 1\nx_count{le=\"1\"} 2\n";
        assert_eq!(
            lint(input),
            [
                "x_count metric not unique",
                r#"x_count non-histogram and non-summary metrics should not have "_count" suffix"#,
                r#"x_count non-histogram metrics should not have "le" label"#,
                r#"x_count non-histogram metrics should not have "le" label"#,
            ]
        );
    }

    #[test]
    fn metadata_twice_is_an_error() {
        assert!(parse_families(b"# HELP a x\n# HELP a y\na 1\n").is_err());
        assert!(parse_families(b"a 1\n# TYPE a gauge\n").is_err());
        assert!(parse_families(b"a{ 1\n").is_err());
    }
}
