//! Template expansion for alerting rule labels and annotations, as Prometheus's `template`
//! package does it on top of Go's `text/template`.
//!
//! Main items:
//! - [`expand`]: parses and executes a template with Prometheus's prelude
//!   (`{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL :=
//!   .ExternalURL}}{{$value := .Value}}`, see [`PRELUDE`]), `missingkey=zero`, and
//!   Prometheus's function map; [`TemplateData`] is the data (`.Labels`, `.ExternalLabels`,
//!   `.ExternalURL`, `.Value`), [`QueryFn`] answers `query`.
//! - [`check`]: parse only, as `promtool check rules` and rule loading do.
//! - [`write_metrics`]: the process-wide expansion counters
//!   (`prometheus_template_text_expansions_total` and `..._failures_total`), as Go's
//!   package-level metrics.
//! - [`Error`]: Go's error texts (`error executing template NAME: template: NAME:1:115:
//!   executing "NAME" at <first>: error calling first: ...`). Positions count the prelude,
//!   as Prometheus's do.
//!
//! ```
//! use model::Labels;
//! let data = template::TemplateData {
//!     labels: Labels::from_pairs([("instance", "web-1:9100"), ("job", "node")]),
//!     external_labels: Labels::default(),
//!     external_url: "http://prom.example:9090".into(),
//!     value: 0.9312.into(),
//! };
//! let no_query = |_: &str| Ok(vec![]);
//! let out = template::expand(
//!     "__alert_HighLoad",
//!     "{{ $labels.instance | stripPort }} load is {{ $value | humanizePercentage }}",
//!     &data,
//!     0,
//!     &no_query,
//! )
//! .unwrap();
//! assert_eq!(out, "web-1 load is 93.12%");
//! assert!(template::check("x", "{{ if }}").is_err());
//! ```
//!
//! # What of Go's `text/template` is supported
//!
//! Text and actions with `{{-`/`-}}` trimming; comments; pipelines; variables (`:=`, `=`,
//! `$`); fields and map keys (`.Labels.job`, `$labels.instance`), chained fields on
//! parenthesized pipelines; `if`/`else if`/`else`, `with`/`else with`, `range` (slices,
//! maps in key order, integers, `$i, $e :=`, `else`, `break`, `continue`), `define`,
//! `template`, `block`; every builtin (`and or not eq ne lt le gt ge len index slice print
//! printf println html js urlquery call`); Go's `fmt` verbs, flags, width, precision,
//! `*` and `[n]` arguments, `%#v`, and its `%!d(string=x)`-style error forms; and
//! Prometheus's functions `query first label value strvalue args reReplaceAll safeHtml match
//! title toUpper toLower graphLink tableLink sortByLabel stripPort stripDomain humanize
//! humanize1024 humanizeDuration humanizePercentage humanizeTimestamp toTime toDuration now
//! pathPrefix externalURL parseDuration urlQueryEscape`. A native histogram (an alert's
//! `$value` or a query sample's value, see [`SampleValue`]) is Go's
//! `*histogram.FloatHistogram`: it prints as its `String()` form (`{count:5, sum:10,
//! (0.5,1]:2, (1,2]:3}`), has Go's fields (`Count`, `Sum`, `ZeroCount`, `ZeroThreshold`,
//! `Schema`, `CounterResetHint`, `PositiveSpans` (of `Offset`/`Length` spans),
//! `NegativeSpans`, `PositiveBuckets`, `NegativeBuckets`, `CustomValues`) and the method
//! `String`, compares equal only to itself, and makes `humanize*`, `toTime`,
//! `toDuration` and the ordering comparisons fail as Go's do. The values of `toTime` and
//! `toDuration` have the common methods of Go's `time.Time` (`Format`, `Unix`, `UnixMilli`,
//! `Year`, ...) and `time.Duration` (`String`, `Seconds`, ...). Semantics are Go's as
//! Prometheus 3 is built (range over integers, `else with`, `.Value` typed `interface {}`).
//!
//! Not supported, and rejected with an error rather than printed differently: complex number
//! constants (a parse error), methods of `time` values beyond those above (an execution
//! error, as for any unknown field). Execution also stops, where Go would carry on, after 10
//! million steps, at 64 MiB of output or of one string, and at 10,000 nested template calls
//! (Go: 100,000). HTML mode (`ExpandHTML`, console templates) is out of scope.
//! Known small differences: where a verb a histogram's `String` does not serve (`%d`,
//! `%f`, ...) prints a histogram's fields, an integer field's bad-verb message names its type
//! `int` (Go: `int32`, `uint8`, ...); `%#v` of the alert data or a sample shows a histogram
//! value whole where Go shows its address. Go prints a pointer inside a slice (a `query`
//! result printed whole) as a memory address, we print the sample (`[&{map[...] 1}]`);
//! strings are UTF-8 (a `\xff` escape becomes U+FFFD); `title` follows Unicode word
//! breaking only approximately (`o'neil` gives `O'neil`, as `cases.Title` does).

mod error;
mod exec;
mod funcs;
mod gofmt;
mod gotime;
mod lex;
mod parse;
mod value;

#[cfg(test)]
mod tests;

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use error::Error;

/// A sample value as templates see it (`.Value`, `$value`, `value`): Prometheus 3 passes a
/// float, or the `*histogram.FloatHistogram` of a native-histogram sample.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleValue {
    /// A float sample.
    Float(f64),
    /// A native-histogram sample.
    Histogram(Arc<model::FloatHistogram>),
}

impl Default for SampleValue {
    fn default() -> SampleValue {
        SampleValue::Float(0.0)
    }
}

impl From<f64> for SampleValue {
    fn from(f: f64) -> SampleValue {
        SampleValue::Float(f)
    }
}

/// The data an alert template sees: `.Labels`, `.ExternalLabels`, `.ExternalURL`, `.Value`
/// (Prometheus's `AlertTemplateData`).
#[derive(Debug, Clone, Default)]
pub struct TemplateData {
    /// The alert's labels (`.Labels`, `$labels`).
    pub labels: model::Labels,
    /// The configured external labels (`.ExternalLabels`, `$externalLabels`).
    pub external_labels: model::Labels,
    /// The external URL (`.ExternalURL`, `$externalURL`, and the `externalURL` and
    /// `pathPrefix` functions).
    pub external_url: String,
    /// The alert's value (`.Value`, `$value`): the float or the histogram of its sample.
    pub value: SampleValue,
}

/// One sample of a `query` result.
#[derive(Debug, Clone)]
pub struct QuerySample {
    /// The series labels (including `__name__` when there is one).
    pub labels: model::Labels,
    /// The sample value (a float or a histogram).
    pub value: SampleValue,
}

/// Runs a PromQL instant query at the expansion time for the `query` function; the error
/// text is reported as `error calling query: TEXT`.
pub type QueryFn<'a> = &'a dyn Fn(&str) -> Result<Vec<QuerySample>, String>;

/// The definitions Prometheus puts in front of every alert template (rules/alerting.go).
pub const PRELUDE: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

fn has_func(name: &str) -> bool {
    funcs::lookup(name).is_some()
}

fn labels_map(l: &model::Labels) -> Rc<value::StrMap> {
    Rc::new(
        l.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    )
}

/// Expansions by [`expand`] in this process (Go's `templateTextExpansionTotal`).
static EXPANSIONS: AtomicU64 = AtomicU64::new(0);
/// Failed expansions by [`expand`] in this process (Go's `templateTextExpansionFailures`).
static EXPANSION_FAILURES: AtomicU64 = AtomicU64::new(0);

/// Appends `prometheus_template_text_expansion_failures_total` and
/// `prometheus_template_text_expansions_total` in the text exposition format: what
/// [`expand`] did in this process so far (process-wide, as Go's package-level counters).
pub fn write_metrics(out: &mut String) {
    use model::exposition::write_header;
    use model::metrics::write_sample;
    #[allow(clippy::cast_precision_loss)]
    for (name, help, n) in [
        (
            "prometheus_template_text_expansion_failures_total",
            "The total number of template text expansion failures.",
            &EXPANSION_FAILURES,
        ),
        (
            "prometheus_template_text_expansions_total",
            "The total number of template text expansions.",
            &EXPANSIONS,
        ),
    ] {
        write_header(out, name, "counter", help);
        write_sample(out, name, &[], n.load(Ordering::Relaxed) as f64);
    }
}

/// Expands `text` as an alert template named `name` (Prometheus names them
/// `__alert_<alertname>`), with the prelude that defines `$labels`, `$externalLabels`,
/// `$externalURL` and `$value`; `timestamp_ms` is the evaluation time (`now`), `query` runs
/// `query` calls. Counted in [`write_metrics`]'s counters.
pub fn expand(
    name: &str,
    text: &str,
    data: &TemplateData,
    timestamp_ms: i64,
    query: QueryFn<'_>,
) -> Result<String, Error> {
    EXPANSIONS.fetch_add(1, Ordering::Relaxed);
    let out = expand_uncounted(name, text, data, timestamp_ms, query);
    if out.is_err() {
        EXPANSION_FAILURES.fetch_add(1, Ordering::Relaxed);
    }
    out
}

fn expand_uncounted(
    name: &str,
    text: &str,
    data: &TemplateData,
    timestamp_ms: i64,
    query: QueryFn<'_>,
) -> Result<String, Error> {
    let external_url: Rc<str> = data.external_url.as_str().into();
    let dot = value::Value::Data(Rc::new(value::Data {
        labels: labels_map(&data.labels),
        external_labels: labels_map(&data.external_labels),
        external_url: external_url.clone(),
        value: data.value.clone(),
    }));
    let env = funcs::Env {
        query,
        timestamp_ms,
        external_url,
    };
    run(name, &format!("{PRELUDE}{text}"), dot, &env)
}

/// Parses and executes `text` (no prelude) with `dot` as data.
fn run(name: &str, text: &str, dot: value::Value, env: &funcs::Env<'_>) -> Result<String, Error> {
    let templates = parse::parse(name, text, &has_func).map_err(|e| Error::Parse {
        name: name.to_owned(),
        line: e.line,
        message: e.message,
    })?;
    exec::execute(&templates, name, text, dot, env).map_err(|e| Error::Execute {
        name: name.to_owned(),
        location: e.location,
        template: e.template,
        context: e.context,
        message: e.message,
    })
}

/// Parses `text` as an alert template named `name` (with the prelude, so that `$labels` and
/// friends are defined), reporting Go's parse error; nothing is executed.
pub fn check(name: &str, text: &str) -> Result<(), Error> {
    let full = format!("{PRELUDE}{text}");
    parse::parse(name, &full, &has_func)
        .map(|_| ())
        .map_err(|e| Error::Syntax {
            name: name.to_owned(),
            line: e.line,
            message: e.message,
        })
}
