//! Unit tests for rules (Go's `cmd/promtool/unittest.go`): a test file names rule files and
//! test groups of input series, expected alerts at evaluation times and expected PromQL
//! results; the rules are evaluated every `evaluation_interval` over an in-memory storage
//! that receives the input samples as time advances. [`run_file_report`] also tells which
//! test group failed how (for JUnit reports), prints Go's `--debug` dump and, with `diff`,
//! words alert mismatches as a JSON diff (`diff`).

mod diff;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant, SystemTime};

use model::{Duration, Labels, Timestamp};
use serde::Deserialize;
use storage::{Appendable, MemStorage};

use crate::{Alert, AlertState, Manager, ManagerOptions, NotifyFn, engine_query_fn};

/// How to run a test file.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only test groups whose name matches one of these regular expressions (all when
    /// empty).
    pub run: Vec<String>,
    /// Accept unknown fields in the rule files (not in the test file).
    pub ignore_unknown_fields: bool,
    /// Word alert mismatches as a colored diff of the expected and received alerts (JSON),
    /// as Go's `--diff` does.
    pub diff: bool,
    /// Report each test group's start and end and dump all its data (input series and rule
    /// results) at its last evaluation time, as Go's `--debug` does.
    pub debug: bool,
}

/// The outcome of one test file.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    /// Why the file could not be tested at all (unreadable, bad YAML, repeated group in
    /// `group_eval_order`, bad `--run` expression): Go's JUnit "error" of the file.
    pub error: Option<String>,
    /// When its tests began: set once the file was read and its rule files resolved.
    pub started: Option<SystemTime>,
    /// The test groups that ran (those `--run` selected), in file order.
    pub groups: Vec<GroupReport>,
}

/// The outcome of one test group.
#[derive(Debug, Clone, Default)]
pub struct GroupReport {
    /// Its `name`, or `unnamed#N` (N its index in the file) as Go names it.
    pub name: String,
    /// Its failures, each as promtool prints it (empty: it passed).
    pub failures: Vec<String>,
}

impl FileReport {
    /// Every failure of the file, in the order promtool prints them.
    pub fn errors(&self) -> Vec<String> {
        let mut errs: Vec<String> = self.error.iter().cloned().collect();
        for g in &self.groups {
            errs.extend(g.failures.iter().cloned());
        }
        errs
    }
}

/// Runs the unit tests of `file`. Returns the failures, each a message as promtool prints
/// it (empty: every test passed). Warnings (rule-file patterns matching nothing) go to
/// `warn`.
pub fn run_file(file: &str, opts: &Options, warn: &mut dyn FnMut(&str)) -> Vec<String> {
    run_file_report(file, opts, warn, &mut |_| {}).errors()
}

/// [`run_file`] with each test group's outcome. Warnings go to `warn` (Go prints them on
/// standard error), `--debug` output to `debug` (standard output, one `Println` a call).
pub fn run_file_report(
    file: &str,
    opts: &Options,
    warn: &mut dyn FnMut(&str),
    debug: &mut dyn FnMut(&str),
) -> FileReport {
    let mut report = FileReport::default();
    let content = match std::fs::read_to_string(file) {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(format!("open {file}: {}", crate::rulefmt::io_message(&e)));
            return report;
        }
    };
    // go-yaml v2's texts, as promtool's `yaml.UnmarshalStrict` reports them.
    let mut utf: UnitTestFile = match config::yaml::from_str_typed::<Option<UnitTestFile>>(&content)
    {
        Ok(f) => f.unwrap_or_default(),
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    let base = Path::new(file).parent().unwrap_or(Path::new(""));
    let mut rule_files = Vec::new();
    for rf in &utf.rule_files {
        let path = if rf.is_empty() || Path::new(rf).is_absolute() {
            rf.clone()
        } else {
            base.join(rf).to_string_lossy().to_string()
        };
        let matches = glob_files(&path);
        if matches.is_empty() {
            warn(&format!("  WARNING: no file match pattern {path}"));
        }
        rule_files.extend(matches);
    }
    let eval_interval = utf
        .evaluation_interval
        .filter(|d| d.as_millis() > 0)
        .unwrap_or(Duration::from_secs(60));
    report.started = Some(SystemTime::now());
    let mut order = HashMap::new();
    for (i, g) in utf.group_eval_order.iter().enumerate() {
        if order.insert(g.clone(), i).is_some() {
            report.error = Some(format!("group name repeated in evaluation order: {g}"));
            return report;
        }
    }
    let run: Vec<regex::Regex> = match opts.run.iter().map(|r| regex::Regex::new(r)).collect() {
        Ok(r) => r,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    for (i, tg) in utf.tests.iter_mut().enumerate() {
        if !run.is_empty() && !run.iter().any(|r| r.is_match(&tg.name)) {
            continue;
        }
        if tg.interval.is_none_or(|d| d.as_millis() == 0) {
            tg.interval = Some(eval_interval);
        }
        let name = if tg.name.is_empty() {
            format!("unnamed#{i}")
        } else {
            tg.name.clone()
        };
        let run = GroupRun {
            eval_interval,
            order: &order,
            rule_files: &rule_files,
            fuzzy: utf.fuzzy_compare,
            opts,
        };
        let failures = if opts.debug {
            let start = Instant::now();
            debug(&format!("DEBUG: Starting test {name}"));
            let failures = tg.test(&run, Some(&mut *debug));
            debug(&format!(
                "DEBUG: Test {name} finished, took {}",
                model::strconv::format_go_duration(
                    i128::try_from(start.elapsed().as_nanos()).unwrap_or(i128::MAX),
                )
            ));
            failures
        } else {
            tg.test(&run, None)
        };
        report.groups.push(GroupReport { name, failures });
    }
    report
}

/// What every test group of a file shares.
#[derive(Clone, Copy)]
struct GroupRun<'a> {
    eval_interval: Duration,
    order: &'a HashMap<String, usize>,
    rule_files: &'a [String],
    fuzzy: bool,
    opts: &'a Options,
}

fn glob_files(pattern: &str) -> Vec<String> {
    if !pattern.contains(['*', '?', '[']) {
        return if Path::new(pattern).exists() {
            vec![pattern.to_string()]
        } else {
            Vec::new()
        };
    }
    match glob::glob(pattern) {
        Ok(paths) => paths
            .filter_map(Result::ok)
            .map(|p| p.to_string_lossy().to_string())
            .collect(),
        Err(_) => Vec::new(),
    }
}

// The test file as promtool's go-yaml v2 reads it, its structs named as Go's in type
// errors (`field foo not found in type main.testGroup`).
config::config_struct! {
    #[derive(Default)]
    struct UnitTestFile [go = "main.unitTestFile", "main.unitTestFile"] {
        rule_files: Vec<String>,
        evaluation_interval: Option<Duration>,
        group_eval_order: Vec<String>,
        tests: Vec<TestGroup>,
        fuzzy_compare: bool,
    }
}

config::config_struct! {
    #[derive(Default)]
    struct TestGroup [go = "main.testGroup", "main.testGroup"] {
        interval: Option<Duration>,
        input_series: Vec<InputSeries>,
        alert_rule_test: Vec<AlertTestCase>,
        promql_expr_test: Vec<PromqlTestCase>,
        external_labels: BTreeMap<String, String> [with = config::yaml::string_map],
        external_url: String,
        name: String,
        start_timestamp: Option<StartTimestamp>,
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(untagged)]
enum StartTimestamp {
    Unix(i64),
    Text(String),
}

config::config_struct! {
    #[derive(Default)]
    struct InputSeries [go = "main.series", "main.series"] {
        series: String,
        values: String,
    }
}

config::config_struct! {
    #[derive(Default)]
    struct AlertTestCase [go = "main.alertTestCase", "main.alertTestCase"] {
        eval_time: Option<Duration>,
        alertname: String,
        exp_alerts: Vec<ExpAlert>,
    }
}

config::config_struct! {
    #[derive(Default)]
    struct ExpAlert [go = "main.alert", "main.alert"] {
        exp_labels: BTreeMap<String, String> [with = config::yaml::string_map],
        exp_annotations: BTreeMap<String, String> [with = config::yaml::string_map],
    }
}

config::config_struct! {
    #[derive(Default)]
    struct PromqlTestCase [go = "main.promqlTestCase", "main.promqlTestCase"] {
        expr: String,
        eval_time: Option<Duration>,
        exp_samples: Vec<ExpSample>,
    }
}

config::config_struct! {
    #[derive(Default)]
    struct ExpSample [go = "main.sample", "main.sample"] {
        labels: String,
        value: f64,
        histogram: Option<String>,
    }
}

impl config::yaml::Validate for UnitTestFile {}
impl config::yaml::Validate for TestGroup {}
impl config::yaml::Validate for InputSeries {}
impl config::yaml::Validate for AlertTestCase {}
impl config::yaml::Validate for ExpAlert {}
impl config::yaml::Validate for PromqlTestCase {}
impl config::yaml::Validate for ExpSample {}

fn ms(d: Option<Duration>) -> i64 {
    d.map(|d| d.as_millis()).unwrap_or(0)
}

impl TestGroup {
    fn start_ms(&self) -> Result<Timestamp, String> {
        match &self.start_timestamp {
            None => Ok(0),
            Some(StartTimestamp::Unix(s)) => Ok(s * 1000),
            Some(StartTimestamp::Text(t)) => {
                if let Ok(s) = t.parse::<f64>() {
                    return Ok((s * 1000.0) as i64);
                }
                parse_rfc3339(t).ok_or_else(|| format!("invalid start_timestamp {t:?}"))
            }
        }
    }

    fn max_eval_time(&self) -> i64 {
        let a = self.alert_rule_test.iter().map(|a| ms(a.eval_time));
        let p = self.promql_expr_test.iter().map(|p| ms(p.eval_time));
        a.chain(p).max().unwrap_or(0)
    }

    fn test(&self, run: &GroupRun<'_>, debug: Option<&mut dyn FnMut(&str)>) -> Vec<String> {
        let GroupRun {
            eval_interval,
            order,
            rule_files,
            fuzzy,
            opts,
        } = *run;
        let ignore_unknown_fields = opts.ignore_unknown_fields;
        let mint = match self.start_ms() {
            Ok(t) => t,
            Err(e) => return vec![e],
        };
        let step = eval_interval.as_millis().max(1);
        let load_interval = ms(self.interval).max(1);
        // The input samples, in time order, appended as evaluation time passes them.
        let mut samples: Vec<InputSample> = Vec::new();
        for (i, s) in self.input_series.iter().enumerate() {
            // Go loads the series as the lines after `load <interval>`, trimmed.
            let line = format!("{} {}", s.series, s.values);
            let (labels, values) = match promql::parser::parse_series_desc(line.trim()) {
                Ok(v) => v,
                Err(e) => return vec![e.with_line_offset(i + 1).to_string()],
            };
            for (i, v) in values.iter().enumerate() {
                if !v.omitted {
                    samples.push((
                        mint + i as i64 * load_interval,
                        labels.clone(),
                        v.value,
                        v.histogram.clone(),
                    ));
                }
            }
        }
        samples.sort_by_key(|(t, ..)| *t);
        let db = Arc::new(MemStorage::new());
        let engine = Arc::new(promql::Engine::new(promql::EngineOpts {
            no_step_subquery_interval: step,
            ..promql::EngineOpts::default()
        }));
        let notify: NotifyFn = Arc::new(|_: &str, _: &[Alert]| {});
        let query_fn = engine_query_fn(engine.clone(), db.clone());
        let manager = Manager::new(ManagerOptions {
            ignore_unknown_fields,
            ..ManagerOptions::new(query_fn.clone(), notify, db.clone(), db.clone())
        });
        let external_labels = Labels::from_pairs(self.external_labels.iter());
        let groups = match manager.load_groups(
            StdDuration::from_millis(load_interval.unsigned_abs()),
            &external_labels,
            &self.external_url,
            rule_files,
        ) {
            Ok(g) => g,
            Err(errs) => return errs.iter().map(ToString::to_string).collect(),
        };
        let mut groups: Vec<crate::Group> = groups.into_values().collect();
        groups.sort_by_key(|g| order.get(g.name()).copied().unwrap_or(0));
        for g in &groups {
            for r in g.rules() {
                if let Some(a) = r.as_alerting() {
                    a.set_restored(true);
                }
            }
        }

        let mut alert_tests: BTreeMap<i64, Vec<&AlertTestCase>> = BTreeMap::new();
        for a in &self.alert_rule_test {
            if a.alertname.is_empty() {
                let in_group = if self.name.is_empty() {
                    String::new()
                } else {
                    format!(" (in TestGroup {})", self.name)
                };
                return vec![format!(
                    "an item under alert_rule_test misses required attribute alertname at eval_time {}{in_group}",
                    a.eval_time.unwrap_or(Duration::ZERO)
                )];
            }
            alert_tests.entry(ms(a.eval_time)).or_default().push(a);
        }

        let mut errs = Vec::new();
        let maxt = mint + self.max_eval_time();
        let mut next_sample = 0;
        let mut ts = mint;
        while ts <= maxt {
            if let Err(e) = append_until(&db, &samples, &mut next_sample, ts) {
                errs.push(e);
            }
            let mut eval_errs = Vec::new();
            for g in &groups {
                g.eval(ts);
                for r in g.rules() {
                    if let Some(e) = r.last_error() {
                        eval_errs.push(format!(
                            "    rule: {}, time: {}, err: {e}",
                            r.name(),
                            go_duration_ms(ts - mint)
                        ));
                    }
                }
            }
            if !eval_errs.is_empty() {
                errs.extend(eval_errs);
                return errs;
            }
            // Alert tests whose eval_time falls in [ts, ts + interval) are checked now.
            let due: Vec<i64> = alert_tests
                .range(ts - mint..ts - mint + step)
                .map(|(t, _)| *t)
                .collect();
            for t in due {
                for case in &alert_tests[&t] {
                    self.check_alerts(case, &groups, opts.diff, &mut errs);
                }
            }
            ts += step;
        }

        for case in &self.promql_expr_test {
            let at = case.eval_time.unwrap_or(Duration::ZERO);
            let prefix = format!(
                "    expr: {}, time: {at}",
                model::strconv::quote(&case.expr)
            );
            let got = match query_fn(&case.expr, mint + at.as_millis()) {
                Ok(v) => v,
                Err(e) => {
                    errs.push(format!("{prefix}, err: {e}"));
                    continue;
                }
            };
            // Histograms compare by their test notation, as Go's promtool does.
            let mut got: Vec<ParsedSample> = got
                .into_iter()
                .map(|s| {
                    let h = s.h.map(|h| h.to_string()).unwrap_or_default();
                    (s.metric, s.f, h)
                })
                .collect();
            let mut exp = Vec::new();
            let mut bad = None;
            for s in &case.exp_samples {
                let parsed = if s.labels.trim().is_empty() {
                    Ok(Labels::empty())
                } else {
                    promql::parser::parse_metric(&s.labels).map_err(|e| e.to_string())
                };
                let parsed = parsed.and_then(|l| match s.histogram.as_deref() {
                    None | Some("") => Ok((l, s.value, String::new())),
                    Some(h) => exp_histogram(h).map(|h| (l, s.value, h)),
                });
                match parsed {
                    Ok(p) => exp.push(p),
                    Err(e) => {
                        bad = Some(format!(
                            "{prefix}, err: labels {}: {e}",
                            model::strconv::quote(&s.labels)
                        ));
                        break;
                    }
                }
            }
            if let Some(b) = bad {
                errs.push(b);
                continue;
            }
            exp.sort_by(|a, b| a.0.cmp(&b.0));
            got.sort_by(|a, b| a.0.cmp(&b.0));
            let same = exp.len() == got.len()
                && exp
                    .iter()
                    .zip(&got)
                    .all(|(e, g)| e.0 == g.0 && values_equal(e.1, g.1, fuzzy) && e.2 == g.2);
            if !same {
                errs.push(format!(
                    "{prefix},\n        exp: {}\n        got: {}",
                    samples_string(&exp),
                    samples_string(&got)
                ));
            }
        }
        if let Some(debug) = debug {
            self.dump(&engine, &db, mint, debug);
        }
        errs
    }

    /// Go's `--debug` dump: every series (input and rule results) over the group's whole
    /// evaluation range, at its last evaluation time rounded up to the next whole second.
    fn dump(
        &self,
        engine: &promql::Engine,
        db: &Arc<MemStorage>,
        mint: Timestamp,
        debug: &mut dyn FnMut(&str),
    ) {
        let ts = (self.max_eval_time() + 1000).div_euclid(1000) * 1000;
        let expr = format!("{{__name__=~\".+\"}}[{}]", go_duration_ms(ts));
        let quoted = model::strconv::quote(&expr);
        let res = match engine.instant_query(db.clone(), &expr, mint + ts) {
            Ok(r) => r,
            Err(e @ promql::Error::Parse(_)) => {
                debug(&format!("DEBUG: Failed querying, expr: {quoted}, err: {e}"));
                return;
            }
            Err(e) => {
                debug(&format!(
                    "DEBUG: Failed query exec, expr: {quoted}, err: {e}"
                ));
                return;
            }
        };
        match res.value {
            promql::value::Value::Matrix(m) => {
                debug(&format!(
                    "DEBUG: Dump of all data (input_series and rules) at {}:",
                    go_duration_ms(ts)
                ));
                debug(&matrix_string(&m));
            }
            other => debug(&format!("DEBUG: Got unexpected type {}", other.type_name())),
        }
    }

    fn check_alerts(
        &self,
        case: &AlertTestCase,
        groups: &[crate::Group],
        diff: bool,
        errs: &mut Vec<String>,
    ) {
        let mut got: Vec<(Labels, Labels)> = Vec::new();
        for g in groups {
            for r in g.rules() {
                let Some(ar) = r.as_alerting() else { continue };
                if ar.name() != case.alertname {
                    continue;
                }
                got.extend(
                    ar.active_alerts()
                        .into_iter()
                        .filter(|a| a.state == AlertState::Firing)
                        .map(|a| (a.labels, a.annotations)),
                );
            }
        }
        let mut exp: Vec<(Labels, Labels)> = case
            .exp_alerts
            .iter()
            .map(|a| {
                let mut l = a.exp_labels.clone();
                l.insert("alertname".to_string(), case.alertname.clone());
                (
                    Labels::from_pairs(l.iter()),
                    Labels::from_pairs(a.exp_annotations.iter()),
                )
            })
            .collect();
        got.sort();
        exp.sort();
        if got != exp {
            let name = if self.name.is_empty() {
                String::new()
            } else {
                format!("    name: {},\n", self.name)
            };
            let indent = "            ";
            if diff {
                // Go's promtool diffs the alerts as JSON, an empty side as one empty alert.
                let empty = [(Labels::empty(), Labels::empty())];
                let side = |a: &[(Labels, Labels)]| {
                    diff::alerts_json(if a.is_empty() { &empty[..] } else { a })
                };
                let (res, text) = diff::compare(&side(&exp), &side(&got));
                if res != diff::Difference::Same {
                    errs.push(format!(
                        "{name}    alertname: {}, time: {}, \n        diff: {}",
                        case.alertname,
                        case.eval_time.unwrap_or(Duration::ZERO),
                        indent_lines(&text, indent)
                    ));
                }
                return;
            }
            errs.push(format!(
                "{name}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                case.alertname,
                case.eval_time.unwrap_or(Duration::ZERO),
                indent_lines(&alerts_string(&exp), indent),
                indent_lines(&alerts_string(&got), indent)
            ));
        }
    }
}

/// An input sample: time, series, float value and, for `{{...}}` values, the histogram.
type InputSample = (Timestamp, Labels, f64, Option<Arc<model::FloatHistogram>>);

/// A sample to compare: series, float value and the histogram's test notation (empty for
/// floats), Go's `parsedSample`.
type ParsedSample = (Labels, f64, String);

/// The test notation of an expected `histogram:` value, parsed as Go does through the
/// series notation (`{} VALUE`), a single histogram expected.
fn exp_histogram(h: &str) -> Result<String, String> {
    let (_, values) =
        promql::parser::parse_series_desc(&format!("{{}} {h}")).map_err(|e| e.to_string())?;
    if values.len() != 1 {
        return Err(format!("expected 1 value, got {}", values.len()));
    }
    match &values[0].histogram {
        Some(fh) => Ok(fh.to_string()),
        None => Err(format!("expected histogram, got {}", values[0].value)),
    }
}

fn append_until(
    db: &MemStorage,
    samples: &[InputSample],
    next: &mut usize,
    ts: Timestamp,
) -> Result<(), String> {
    let mut app = db.appender();
    while let Some((t, l, v, h)) = samples.get(*next) {
        if *t > ts {
            break;
        }
        match h {
            Some(h) => app.append_histogram(0, l, *t, None, Some(h)),
            None => app.append(0, l, *t, *v),
        }
        .map_err(|e| e.to_string())?;
        *next += 1;
    }
    app.commit().map_err(|e| e.to_string())
}

/// Exact equality, or equality within a relative machine epsilon with `fuzzy_compare`.
fn values_equal(a: f64, b: f64, fuzzy: bool) -> bool {
    a == b || (fuzzy && (a - b).abs() <= f64::EPSILON * a.abs().min(b.abs()))
}

fn samples_string(s: &[ParsedSample]) -> String {
    if s.is_empty() {
        return "nil".to_string();
    }
    s.iter()
        .map(|(l, v, h)| {
            if h.is_empty() {
                format!("{l} {}", model::strconv::format_float_e(*v).to_uppercase())
            } else {
                format!("{l} {h}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn alerts_string(alerts: &[(Labels, Labels)]) -> String {
    if alerts.is_empty() {
        return "[]".to_string();
    }
    let one = |(l, a): &(Labels, Labels)| format!("Labels:{l}\nAnnotations:{a}");
    let mut s = format!(
        "[\n0:{}",
        indent_lines(&format!("\n{}", one(&alerts[0])), "  ")
    );
    for (i, a) in alerts.iter().enumerate().skip(1) {
        s.push_str(&format!(
            ",\n{i}:{}",
            indent_lines(&format!("\n{}", one(a)), "  ")
        ));
    }
    s.push_str("\n]");
    s
}

/// Go's `promql.Matrix.String`: each series as `LABELS =>` and its points one a line
/// (floats first, then histograms), series joined by newlines.
fn matrix_string(m: &promql::value::Matrix) -> String {
    m.iter()
        .map(|s| {
            let mut out = format!("{} =>\n", s.metric);
            let points: Vec<String> = s
                .floats
                .iter()
                .map(|p| format!("{} @[{}]", model::strconv::format_float_f(p.f), p.t))
                .chain(
                    s.histograms
                        .iter()
                        .map(|p| format!("{} @[{}]", p.h.to_go_string(), p.t)),
                )
                .collect();
            out.push_str(&points.join("\n"));
            out
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prefixes every line but the first with `indent` (Go's `indentLines`).
fn indent_lines(lines: &str, indent: &str) -> String {
    lines
        .split('\n')
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                l.to_string()
            } else {
                format!("{indent}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `2024-01-01T00:00:00Z` (or with a numeric offset) into milliseconds.
fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    let (date, time) = s.split_once(['T', 't'])?;
    let mut d = date.split('-');
    let (y, mo, da): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (clock, offset_s) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let idx = time.rfind(['+', '-'])?;
        let (c, off) = time.split_at(idx);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        (
            c,
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60),
        )
    };
    let mut c = clock.split(':');
    let (hh, mm): (i64, i64) = (c.next()?.parse().ok()?, c.next()?.parse().ok()?);
    let sec: f64 = c.next()?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 - offset_s;
    Some(secs * 1000 + (sec * 1000.0).round() as i64)
}

/// Go's `time.Duration.String` of `ms` milliseconds (`5m0s`, `1h2m3.5s`).
fn go_duration_ms(ms: i64) -> String {
    model::strconv::format_go_duration(i128::from(ms) * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test file is read as promtool's go-yaml v2 reads it: type errors collected and
    /// naming Go's structs, a bad duration alone.
    #[test]
    fn test_file_errors_are_go_yamls() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let error = |body: &str| {
            let path = tmp.path().join("t.yml");
            std::fs::write(&path, body).expect("write");
            let path = path.to_str().expect("UTF-8 path").to_string();
            run_file_report(&path, &Options::default(), &mut |_| {}, &mut |_| {}).error
        };
        assert_eq!(
            error("foo: 1\ntests:\n- bar: 2\n  input_series:\n  - series: up\n    baz: 3\n")
                .as_deref(),
            Some(
                "yaml: unmarshal errors:\n  line 1: field foo not found in type main.unitTestFile\n  line 3: field bar not found in type main.testGroup\n  line 6: field baz not found in type main.series"
            )
        );
        assert_eq!(
            error("rule_files: r.yml\n").as_deref(),
            Some("yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `r.yml` into []string")
        );
        assert_eq!(
            error("tests:\n- interval: soon\n").as_deref(),
            Some("not a valid duration string: \"soon\"")
        );
    }

    #[test]
    fn rfc3339() {
        assert_eq!(
            parse_rfc3339("2024-01-01T00:00:00Z"),
            Some(1_704_067_200_000)
        );
        assert_eq!(
            parse_rfc3339("2024-01-01T01:00:00+01:00"),
            Some(1_704_067_200_000)
        );
    }

    /// `promtool test rules` with an alert over native histograms: `exp_annotations` see
    /// `$value` as the histogram's Go string form and its fields (Prometheus 3).
    #[test]
    fn histogram_alerts_expand_their_templates_with_the_histogram() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            tmp.path().join("rules.yml"),
            r#"groups:
  - name: g
    rules:
      - alert: ManyRequests
        expr: h unless histogram_count(h) < 1
        labels:
          count: "{{ $value.Count }}"
        annotations:
          summary: "{{ $labels.job }}: {{ $value }}"
"#,
        )
        .expect("write");
        let test = |exp_summary: &str| {
            format!(
                r#"rule_files: [rules.yml]
tests:
  - interval: 1m
    input_series:
      - series: h{{job="a"}}
        values: "{{{{sum:3 count:2 buckets:[2]}}}}x2"
    alert_rule_test:
      - alertname: ManyRequests
        eval_time: 1m
        exp_alerts:
          - exp_labels: {{job: a, count: "2"}}
            exp_annotations:
              summary: "{exp_summary}"
"#
            )
        };
        let run = |body: String| {
            let file = tmp.path().join("t.yml");
            std::fs::write(&file, body).expect("write");
            run_file(
                &file.to_string_lossy(),
                &Options::default(),
                &mut |w: &str| panic!("warning {w}"),
            )
        };
        assert_eq!(
            run(test("a: {count:2, sum:3, (0.5,1]:2}")),
            Vec::<String>::new()
        );
        let errs = run(test("a: 0"));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].contains("summary=\"a: {count:2, sum:3, (0.5,1]:2}\""),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn fuzzy_equality_allows_one_ulp() {
        assert!(values_equal(2.9999999999999996, 3.0, true));
        assert!(values_equal(3.0000000000000004, 3.0, true));
        assert!(!values_equal(2.9999999999999987, 3.0, true));
        assert!(!values_equal(3.0000000000000004, 3.0, false));
    }
}
