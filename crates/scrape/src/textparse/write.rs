//! Printing parsed metric families back in the text format or as OpenMetrics (for tests,
//! benchmarks and tools; the scrape path never writes).

use std::fmt::Write as _;

use model::validation::{is_valid_legacy_label_name, is_valid_legacy_metric_name};
use model::{Labels, METRIC_NAME, Timestamp};

use super::{Entry, Exemplar, MetricType, Parser};
use crate::Result;

/// One sample of a [`MetricFamily`].
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's labels, `__name__` included.
    pub labels: Labels,
    /// The sample's timestamp in milliseconds, if it had one.
    pub timestamp: Option<Timestamp>,
    /// The sample's value.
    pub value: f64,
    /// The sample's exemplar (OpenMetrics only).
    pub exemplar: Option<Exemplar>,
}

/// A metric family: its metadata and its samples in payload order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricFamily {
    /// The family name from its metadata lines (empty for samples before any metadata).
    pub name: String,
    /// The `# HELP` text, if any.
    pub help: Option<String>,
    /// The `# TYPE`, if any.
    pub metric_type: Option<MetricType>,
    /// The `# UNIT` (OpenMetrics), if any.
    pub unit: Option<String>,
    /// The samples.
    pub samples: Vec<Sample>,
}

/// Parses a whole payload into metric families: a metadata line for a new name starts a
/// family, and samples join the family before them. Comments are dropped.
///
/// # Errors
/// The parser's first error.
pub fn collect_families(p: &mut dyn Parser) -> Result<Vec<MetricFamily>> {
    let mut out: Vec<MetricFamily> = Vec::new();
    fn family<'f>(out: &'f mut Vec<MetricFamily>, name: &str) -> &'f mut MetricFamily {
        let same = out
            .last()
            .is_some_and(|f| f.name == name && f.samples.is_empty());
        if !same {
            out.push(MetricFamily {
                name: name.to_owned(),
                ..MetricFamily::default()
            });
        }
        let last = out.len() - 1;
        &mut out[last]
    }
    while let Some(entry) = p.next()? {
        match entry {
            Entry::Help => {
                let (name, help) = p.help();
                family(&mut out, &name).help = Some(help.into_owned());
            }
            Entry::Type => {
                let (name, t) = p.metric_type();
                family(&mut out, &name).metric_type = Some(t);
            }
            Entry::Unit => {
                let (name, unit) = p.unit();
                family(&mut out, &name).unit = Some(unit.into_owned());
            }
            // Native histograms have no text form here.
            Entry::Comment | Entry::Histogram => {}
            Entry::Series => {
                let (_, timestamp, value) = p.series();
                let labels = p.labels()?;
                let exemplar = p.exemplar();
                if out.is_empty() {
                    out.push(MetricFamily::default());
                }
                let last = out.len() - 1;
                out[last].samples.push(Sample {
                    labels,
                    timestamp,
                    value,
                    exemplar,
                });
            }
        }
    }
    Ok(out)
}

/// Escapes a label value (or an OpenMetrics help text): `\`, `"` and newline.
fn escape_into(out: &mut String, s: &str, quote_too: bool) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote_too => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn write_name(out: &mut String, name: &str, legacy: bool) {
    if legacy {
        out.push_str(name);
    } else {
        out.push('"');
        escape_into(out, name, true);
        out.push('"');
    }
}

/// Writes the series part of a sample line: `name{a="b"}` or `{"name", "a.b"="c"}`.
fn write_series(out: &mut String, labels: &Labels) {
    let name = labels.metric_name().unwrap_or("");
    let legacy_name = is_valid_legacy_metric_name(name);
    let mut first = true;
    if legacy_name {
        out.push_str(name);
    } else {
        out.push('{');
        write_name(out, name, false);
        first = false;
    }
    for (n, v) in labels.iter().filter(|(n, _)| *n != METRIC_NAME) {
        if first {
            out.push('{');
            first = false;
        } else {
            out.push(',');
        }
        write_name(out, n, is_valid_legacy_label_name(n));
        out.push_str("=\"");
        escape_into(out, v, true);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
}

/// Prints families in the Prometheus text format 0.0.4 (`# HELP`, `# TYPE`, then one line per
/// sample with its timestamp in milliseconds). OpenMetrics-only types are printed as
/// `untyped`, units and exemplars are dropped.
pub fn write_text(families: &[MetricFamily]) -> String {
    let mut out = String::new();
    for f in families {
        let legacy = is_valid_legacy_metric_name(&f.name);
        if let Some(help) = &f.help {
            out.push_str("# HELP ");
            write_name(&mut out, &f.name, legacy);
            out.push(' ');
            escape_into(&mut out, help, false);
            out.push('\n');
        }
        if let Some(t) = f.metric_type {
            out.push_str("# TYPE ");
            write_name(&mut out, &f.name, legacy);
            out.push(' ');
            out.push_str(match t {
                MetricType::Counter | MetricType::Gauge | MetricType::Histogram => t.as_str(),
                MetricType::Summary => "summary",
                _ => "untyped",
            });
            out.push('\n');
        }
        for s in &f.samples {
            write_series(&mut out, &s.labels);
            out.push(' ');
            out.push_str(&model::strconv::format_float_g(s.value));
            if let Some(t) = s.timestamp {
                // Writing into a String cannot fail.
                let _ = write!(out, " {t}");
            }
            out.push('\n');
        }
    }
    out
}

/// Milliseconds as OpenMetrics seconds, exactly (`1520879607789` as `1520879607.789`).
fn write_seconds(out: &mut String, ms: Timestamp) {
    if ms < 0 {
        out.push('-');
    }
    let abs = ms.unsigned_abs();
    // Writing into a String cannot fail.
    let _ = write!(out, "{}.{:03}", abs / 1000, abs % 1000);
}

/// Prints families as OpenMetrics 1.0 text, ending with `# EOF`. Timestamps become seconds,
/// `untyped` becomes `unknown`, exemplars are kept.
pub fn write_openmetrics(families: &[MetricFamily]) -> String {
    let mut out = String::new();
    for f in families {
        let legacy = is_valid_legacy_metric_name(&f.name);
        if let Some(t) = f.metric_type {
            out.push_str("# TYPE ");
            write_name(&mut out, &f.name, legacy);
            out.push(' ');
            out.push_str(t.as_str());
            out.push('\n');
        }
        if let Some(unit) = &f.unit {
            out.push_str("# UNIT ");
            write_name(&mut out, &f.name, legacy);
            out.push(' ');
            out.push_str(unit);
            out.push('\n');
        }
        if let Some(help) = &f.help {
            out.push_str("# HELP ");
            write_name(&mut out, &f.name, legacy);
            out.push(' ');
            escape_into(&mut out, help, true);
            out.push('\n');
        }
        for s in &f.samples {
            write_series(&mut out, &s.labels);
            out.push(' ');
            out.push_str(&model::strconv::format_float_g(s.value));
            if let Some(t) = s.timestamp {
                out.push(' ');
                write_seconds(&mut out, t);
            }
            if let Some(e) = &s.exemplar {
                out.push_str(" # {");
                for (i, (n, v)) in e.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_name(&mut out, n, is_valid_legacy_label_name(n));
                    out.push_str("=\"");
                    escape_into(&mut out, v, true);
                    out.push('"');
                }
                out.push_str("} ");
                out.push_str(&model::strconv::format_float_g(e.value));
                if let Some(t) = e.timestamp {
                    out.push(' ');
                    write_seconds(&mut out, t);
                }
            }
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    out
}
