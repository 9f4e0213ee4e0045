//! The query log (Go's `promql.QueryLogger`, the query-logging block of `Engine.exec` and
//! `util/logging.JSONFileLogger`): one JSON line per query the engine ran.
//!
//! [`Engine::set_query_logger`](super::Engine::set_query_logger) installs a
//! [`QueryLogger`]; every query that reaches evaluation is then handed to it as a
//! [`QueryLogEntry`] (its text, time range, error, [`QueryStats`], [`QueryTimings`] and
//! [`QueryOrigin`]). [`JsonFileLogger`] writes Prometheus's line format to a file, so a
//! server configured with `global.query_log_file` writes what Prometheus writes:
//!
//! ```text
//! {"time":"2026-11-24T16:18:10.389317426Z","level":"INFO","msg":"promql query logged",
//!  "params":{"end":"2023-11-14T22:13:20.000Z","query":"up","start":"2023-11-14T22:13:20.000Z","step":0},
//!  "stats":{"timings":{...},"samples":{...}},"spanID":"0000000000000000",
//!  "httpRequest":{"clientIP":"127.0.0.1","method":"GET","path":"/api/v1/query"}}
//! ```
//!
//! (one line in the file). The writer lives here rather than in the server because the
//! line is the engine's (Go's fields come from `engine.go`) and it needs nothing but
//! `std::fs::File`, so programs embedding the engine get Prometheus's query log too.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::QueryStats;
use crate::Error;

/// Where a query came from (Go's `QueryOrigin` context value): one key, such as
/// `httpRequest` or `ruleGroup`, holding string fields. It becomes a field of the query's
/// log line: `"httpRequest":{"clientIP":"127.0.0.1","method":"GET","path":"/api/v1/query"}`.
///
/// Pass it in [`QueryOpts::origin`](super::QueryOpts::origin), or, where queries run
/// through a callback that has no options (the rule manager's `QueryFn`), make it the
/// origin of every query the current thread runs with [`QueryOrigin::enter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryOrigin {
    key: String,
    fields: Vec<(String, String)>,
}

impl QueryOrigin {
    /// An origin `key` with `fields` (kept sorted by name, as Go's JSON writes a map).
    pub fn new(key: impl Into<String>, fields: Vec<(String, String)>) -> QueryOrigin {
        let mut fields = fields;
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        QueryOrigin {
            key: key.into(),
            fields,
        }
    }

    /// A query of the HTTP API (Go's `httputil.ContextFromRequest`): the client's IP
    /// address (without port), the request method and the URL path.
    pub fn http_request(client_ip: &str, method: &str, path: &str) -> QueryOrigin {
        QueryOrigin::new(
            "httpRequest",
            vec![
                ("clientIP".to_owned(), client_ip.to_owned()),
                ("method".to_owned(), method.to_owned()),
                ("path".to_owned(), path.to_owned()),
            ],
        )
    }

    /// A query of a rule group's evaluation (Go's group `run`): the group's file and name.
    pub fn rule_group(file: &str, name: &str) -> QueryOrigin {
        QueryOrigin::new(
            "ruleGroup",
            vec![
                ("file".to_owned(), file.to_owned()),
                ("name".to_owned(), name.to_owned()),
            ],
        )
    }

    /// The key the fields are logged under.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The fields, sorted by name.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// Makes this the origin of the queries the current thread runs without an origin in
    /// their options, until the guard is dropped (the previous one then applies again).
    pub fn enter(self: Arc<Self>) -> OriginGuard {
        let previous = CURRENT.with(|c| c.replace(Some(self)));
        OriginGuard { previous }
    }

    /// The origin [`QueryOrigin::enter`] set on this thread, if any.
    pub fn current() -> Option<Arc<QueryOrigin>> {
        CURRENT.with(|c| c.borrow().clone())
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<QueryOrigin>>> = const { RefCell::new(None) };
}

/// Restores the thread's previous origin when dropped (see [`QueryOrigin::enter`]).
#[derive(Debug)]
#[must_use = "the origin applies only while the guard lives"]
pub struct OriginGuard {
    previous: Option<Arc<QueryOrigin>>,
}

impl Drop for OriginGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Where a query's time went (Go's `stats.QueryTimers`, as `stats.NewQueryStats` reports
/// them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryTimings {
    /// From the end of the wait for a slot to the end of the query (`evalTotalTime`).
    pub eval_total: Duration,
    /// Sorting a matrix result (`resultSortTime`).
    pub result_sort: Duration,
    /// Working out the time range and opening the querier (`queryPreparationTime`).
    pub query_preparation: Duration,
    /// Evaluating the expression (`innerEvalTime`).
    pub inner_eval: Duration,
    /// Waiting for a slot under `max_concurrency` (`execQueueTime`).
    pub exec_queue: Duration,
    /// The whole query, waiting included (`execTotalTime`).
    pub exec_total: Duration,
}

/// How [`write_stats_json`] prints the timings (seconds), which Prometheus encodes with two
/// JSON libraries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatStyle {
    /// The HTTP API's (jsoniter): `8.51e-07`.
    Api,
    /// The query log's (`encoding/json` under `log/slog`): `8.51e-7`.
    EncodingJson,
}

/// Appends Prometheus's `stats.QueryStats` object: `{"timings":{...},"samples":{...}}`,
/// the timings in seconds and the sample counts in Go's field order, the per-step arrays
/// (`[[unix seconds, count], ...]`) only when the query kept them.
pub fn write_stats_json(
    out: &mut String,
    timings: &QueryTimings,
    stats: &QueryStats,
    style: FloatStyle,
) {
    let float = |out: &mut String, v: f64| {
        let at = out.len();
        model::strconv::write_float_json(out, v);
        if style == FloatStyle::EncodingJson {
            // encoding/json drops the exponent's leading zero: e-07 -> e-7.
            let written = &out[at..];
            if let Some(e) = written.find("e-0").or_else(|| written.find("e+0")) {
                out.remove(at + e + 2);
            }
        }
    };
    out.push_str("{\"timings\":{");
    for (i, (key, d)) in [
        ("evalTotalTime", timings.eval_total),
        ("resultSortTime", timings.result_sort),
        ("queryPreparationTime", timings.query_preparation),
        ("innerEvalTime", timings.inner_eval),
        ("execQueueTime", timings.exec_queue),
        ("execTotalTime", timings.exec_total),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{key}\":");
        float(out, d.as_secs_f64());
    }
    out.push_str("},\"samples\":{");
    let per_step = |out: &mut String, key: &str, steps: &Option<Vec<(i64, u64)>>| {
        let Some(steps) = steps.as_deref().filter(|s| !s.is_empty()) else {
            return;
        };
        let _ = write!(out, "\"{key}\":[");
        for (i, (t, n)) in steps.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            #[allow(clippy::cast_precision_loss)]
            float(out, *t as f64 / 1000.0);
            let _ = write!(out, ",{n}]");
        }
        out.push_str("],");
    };
    per_step(
        out,
        "totalQueryableSamplesPerStep",
        &stats.total_samples_per_step,
    );
    let _ = write!(out, "\"totalQueryableSamples\":{},", stats.total_samples);
    per_step(out, "samplesReadPerStep", &stats.samples_read_per_step);
    let _ = write!(
        out,
        "\"samplesRead\":{},\"peakSamples\":{}}}}}",
        stats.samples_read, stats.peak_samples
    );
}

/// One query, as the engine hands it to a [`QueryLogger`] when it is done.
#[derive(Debug, Clone, Copy)]
pub struct QueryLogEntry<'a> {
    /// The query text.
    pub query: &'a str,
    /// Start of the evaluated range, in milliseconds (the time of an instant query).
    pub start: i64,
    /// End of the evaluated range, in milliseconds.
    pub end: i64,
    /// Step in milliseconds (0 for an instant query).
    pub step: i64,
    /// Why the query failed, if it did.
    pub error: Option<&'a Error>,
    /// Its sample statistics (those counted until the failure, for a failed query).
    pub stats: &'a QueryStats,
    /// Where its time went.
    pub timings: &'a QueryTimings,
    /// Where it came from.
    pub origin: Option<&'a QueryOrigin>,
}

impl QueryLogEntry<'_> {
    /// Appends the entry as Prometheus's query log line (with its `\n`), logged at `now`:
    /// `time`, `level`, `msg`, `params` (`end`, `query`, `start`, `step` in whole seconds),
    /// `error` when it failed, `stats`, `spanID` (all zeros: there is no tracing) and the
    /// origin's key.
    pub fn write_json_line(&self, out: &mut String, now: SystemTime) {
        out.push_str("{\"time\":\"");
        write_rfc3339_nanos(out, now);
        out.push_str(
            "\",\"level\":\"INFO\",\"msg\":\"promql query logged\",\"params\":{\"end\":\"",
        );
        write_date_millis(out, self.end);
        out.push_str("\",\"query\":");
        write_json_str(out, self.query);
        out.push_str(",\"start\":\"");
        write_date_millis(out, self.start);
        // Go divides the step's nanoseconds by a second: whole seconds, rounded down.
        let _ = write!(out, "\",\"step\":{}}}", self.step / 1000);
        if let Some(err) = self.error {
            out.push_str(",\"error\":");
            write_json_str(out, &err.to_string());
        }
        out.push_str(",\"stats\":");
        write_stats_json(out, self.timings, self.stats, FloatStyle::EncodingJson);
        out.push_str(",\"spanID\":\"0000000000000000\"");
        if let Some(origin) = self.origin {
            out.push(',');
            write_json_str(out, &origin.key);
            out.push_str(":{");
            for (i, (k, v)) in origin.fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(out, k);
                out.push(':');
                write_json_str(out, v);
            }
            out.push('}');
        }
        out.push_str("}\n");
    }
}

/// Receives every query the engine ran (Go's `QueryLogger`). Called on the query's thread
/// after it finished; an error counts in `prometheus_engine_query_log_failures_total`.
pub trait QueryLogger: Send + Sync {
    /// Logs one query.
    ///
    /// # Errors
    ///
    /// When the entry could not be written.
    fn log(&self, entry: &QueryLogEntry<'_>) -> std::io::Result<()>;
}

impl<F> QueryLogger for F
where
    F: Fn(&QueryLogEntry<'_>) -> std::io::Result<()> + Send + Sync,
{
    fn log(&self, entry: &QueryLogEntry<'_>) -> std::io::Result<()> {
        self(entry)
    }
}

/// Prometheus's query log file (Go's `logging.JSONFileLogger`): opened for appending,
/// created with mode 0666 (less the umask) when missing, one whole line written per query.
/// The file is closed when the last reference goes (the engine holds one while a query is
/// being logged).
#[derive(Debug)]
pub struct JsonFileLogger {
    path: PathBuf,
    file: Mutex<File>,
}

impl JsonFileLogger {
    /// Opens (or creates) `path` for appending.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened, worded as Prometheus's:
    /// `can't create json log file: open PATH: ...`.
    pub fn open(path: impl AsRef<Path>) -> std::io::Result<JsonFileLogger> {
        let path = path.as_ref();
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o666);
        let file = options.open(path).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("can't create json log file: open {}: {e}", path.display()),
            )
        })?;
        Ok(JsonFileLogger {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl QueryLogger for JsonFileLogger {
    fn log(&self, entry: &QueryLogEntry<'_>) -> std::io::Result<()> {
        let mut line = String::with_capacity(512);
        entry.write_json_line(&mut line, SystemTime::now());
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(line.as_bytes())
    }
}

/// The engine's logger, swapped on reloads while queries run.
#[derive(Default)]
pub(crate) struct LoggerSlot(std::sync::RwLock<Option<Arc<dyn QueryLogger>>>);

impl LoggerSlot {
    /// Replaces the logger; returns whether one is now set.
    pub(crate) fn set(&self, logger: Option<Arc<dyn QueryLogger>>) -> bool {
        let enabled = logger.is_some();
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = logger;
        enabled
    }

    /// The current logger (a clone, so that a reload does not wait for the write).
    pub(crate) fn get(&self) -> Option<Arc<dyn QueryLogger>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl std::fmt::Debug for LoggerSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LoggerSlot")
            .field(&self.get().map(|_| "QueryLogger"))
            .finish()
    }
}

/// `2006-01-02T15:04:05.999999999Z` (Go's RFC3339Nano in UTC: trailing zeros of the
/// fraction dropped).
fn write_rfc3339_nanos(out: &mut String, t: SystemTime) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    write_date_time(out, secs);
    let nanos = d.subsec_nanos();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        let _ = write!(out, ".{}", frac.trim_end_matches('0'));
    }
    out.push('Z');
}

/// `2006-01-02T15:04:05.000Z` (Go's `formatDate` of the engine): milliseconds, always
/// three digits.
fn write_date_millis(out: &mut String, ms: i64) {
    write_date_time(out, ms.div_euclid(1000));
    let _ = write!(out, ".{:03}Z", ms.rem_euclid(1000));
}

fn write_date_time(out: &mut String, secs: i64) {
    let (y, m, d) = model::civil::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
}

/// A JSON string as `log/slog`'s JSON handler writes it: no HTML escaping; `"`, `\`, `\n`,
/// `\r`, `\t` escaped by name, other control characters and U+2028/U+2029 as `\u` escapes.
fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_line(error: Option<&Error>, origin: Option<&QueryOrigin>) -> String {
        let stats = QueryStats {
            total_samples: 6,
            samples_read: 4,
            peak_samples: 3,
            ..QueryStats::default()
        };
        let timings = QueryTimings {
            eval_total: Duration::from_nanos(142_073),
            result_sort: Duration::from_nanos(851),
            query_preparation: Duration::from_micros(8),
            inner_eval: Duration::from_micros(118),
            exec_queue: Duration::ZERO,
            exec_total: Duration::from_micros(159),
        };
        let entry = QueryLogEntry {
            query: "rate(up[1m]) > \"x\"",
            start: 1_700_000_000_500,
            end: 1_700_000_060_000,
            step: 15_500,
            error,
            stats: &stats,
            timings: &timings,
            origin,
        };
        let mut out = String::new();
        let now = UNIX_EPOCH + Duration::new(1_795_537_090, 389_317_000);
        entry.write_json_line(&mut out, now);
        out
    }

    #[test]
    fn a_line_is_shaped_as_prometheus_writes_it() {
        let origin = QueryOrigin::http_request("127.0.0.1", "GET", "/api/v1/query_range");
        assert_eq!(
            entry_line(None, Some(&origin)),
            concat!(
                r#"{"time":"2026-11-24T16:18:10.389317Z","level":"INFO","msg":"promql query logged","#,
                r#""params":{"end":"2023-11-14T22:14:20.000Z","query":"rate(up[1m]) > \"x\"","start":"2023-11-14T22:13:20.500Z","step":15},"#,
                r#""stats":{"timings":{"evalTotalTime":0.000142073,"resultSortTime":8.51e-7,"queryPreparationTime":0.000008,"innerEvalTime":0.000118,"execQueueTime":0,"execTotalTime":0.000159},"#,
                r#""samples":{"totalQueryableSamples":6,"samplesRead":4,"peakSamples":3}},"#,
                r#""spanID":"0000000000000000","httpRequest":{"clientIP":"127.0.0.1","method":"GET","path":"/api/v1/query_range"}}"#,
                "\n"
            )
        );
    }

    #[test]
    fn a_failed_query_has_its_error_before_the_stats() {
        let err = Error::Eval("invalid regular expression in label_replace(): (".into());
        let origin = QueryOrigin::rule_group("rules.yml", "g1");
        let line = entry_line(Some(&err), Some(&origin));
        assert!(
            line.contains(
                r#""step":15},"error":"invalid regular expression in label_replace(): (","stats":{"#
            ),
            "{line}"
        );
        assert!(
            line.ends_with(
                r#","ruleGroup":{"file":"rules.yml","name":"g1"}}
"#
            ),
            "{line}"
        );
    }

    #[test]
    fn the_api_keeps_its_exponent_form() {
        let mut out = String::new();
        let timings = QueryTimings {
            result_sort: Duration::from_nanos(851),
            ..QueryTimings::default()
        };
        write_stats_json(&mut out, &timings, &QueryStats::default(), FloatStyle::Api);
        assert!(out.contains(r#""resultSortTime":8.51e-07,"#), "{out}");
    }

    #[test]
    fn strings_escape_as_slog_does() {
        let mut out = String::new();
        write_json_str(&mut out, "a<b>&\"\\\n\u{1}\u{2028}é");
        assert_eq!(out, r#""a<b>&\"\\\n\u0001\u2028é""#);
    }

    #[test]
    fn entered_origins_nest_per_thread() {
        assert_eq!(QueryOrigin::current(), None);
        let outer = Arc::new(QueryOrigin::rule_group("a.yml", "a"));
        let guard = outer.clone().enter();
        {
            let _inner = Arc::new(QueryOrigin::rule_group("b.yml", "b")).enter();
            assert_eq!(QueryOrigin::current().expect("inner").fields()[1].1, "b");
            std::thread::spawn(|| assert_eq!(QueryOrigin::current(), None))
                .join()
                .expect("thread");
        }
        assert_eq!(QueryOrigin::current(), Some(outer));
        drop(guard);
        assert_eq!(QueryOrigin::current(), None);
    }

    #[test]
    fn the_file_is_appended_to_and_reports_open_errors() {
        let dir = tempfile_dir();
        let path = dir.join("query.log");
        std::fs::write(&path, "old\n").expect("write");
        let logger = JsonFileLogger::open(&path).expect("open");
        let stats = QueryStats::default();
        let timings = QueryTimings::default();
        let entry = QueryLogEntry {
            query: "up",
            start: 0,
            end: 0,
            step: 0,
            error: None,
            stats: &stats,
            timings: &timings,
            origin: None,
        };
        logger.log(&entry).expect("log");
        logger.log(&entry).expect("log");
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], "old");
        assert!(
            lines[1].contains(r#""params":{"end":"1970-01-01T00:00:00.000Z","query":"up","start":"1970-01-01T00:00:00.000Z","step":0},"stats""#),
            "{text}"
        );
        assert!(
            lines[1].ends_with(r#""spanID":"0000000000000000"}"#),
            "{text}"
        );

        let err = JsonFileLogger::open(dir.join("missing/query.log")).expect_err("no dir");
        assert!(
            err.to_string().starts_with(&format!(
                "can't create json log file: open {}: ",
                dir.join("missing/query.log").display()
            )),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    /// Collects each logged query as its JSON line.
    fn capturing_engine() -> (crate::Engine, Arc<Mutex<Vec<String>>>) {
        let engine = crate::Engine::new(crate::EngineOpts::default());
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        engine.set_query_logger(Some(Arc::new(
            move |e: &QueryLogEntry<'_>| -> std::io::Result<()> {
                let mut line = String::new();
                e.write_json_line(&mut line, SystemTime::now());
                sink.lock().expect("lines").push(line);
                Ok(())
            },
        )));
        (engine, lines)
    }

    fn up_storage() -> Arc<storage::MemStorage> {
        use storage::Appendable as _;
        let db = Arc::new(storage::MemStorage::new());
        let mut app = db.appender();
        for job in ["a", "b"] {
            let s = model::Labels::from_pairs([("__name__", "up"), ("job", job)]);
            for i in 0..10 {
                app.append(0, &s, i * 15_000, 1.0).expect("append");
            }
        }
        app.commit().expect("commit");
        db
    }

    #[test]
    fn the_engine_logs_one_line_per_query() {
        let (engine, lines) = capturing_engine();
        let db = up_storage();
        engine
            .instant_query(db.clone(), "up", 60_000)
            .expect("instant");
        let opts = crate::QueryOpts {
            origin: Some(Arc::new(QueryOrigin::http_request(
                "::1",
                "POST",
                "/api/v1/query_range",
            ))),
            ..crate::QueryOpts::default()
        };
        let expr = crate::parser::parse_expr("sum(up)").expect("parse");
        let res = engine
            .range_query_expr(db.clone(), &expr, "sum(up)", 0, 30_000, 15_000, &opts)
            .expect("range");
        assert!(res.timings.exec_total >= res.timings.inner_eval);
        {
            let _origin = Arc::new(QueryOrigin::rule_group("r.yml", "g")).enter();
            let err = engine
                .instant_query(db.clone(), "up + on() up", 60_000)
                .expect_err("many-to-many");
            assert!(err.to_string().contains("many-to-many"), "{err}");
        }
        // A parse error never reaches the engine's evaluation: not logged, as in Go.
        assert!(engine.instant_query(db, "up +", 0).is_err());

        let lines = lines.lock().expect("lines");
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines[0].contains(r#""params":{"end":"1970-01-01T00:01:00.000Z","query":"up","start":"1970-01-01T00:01:00.000Z","step":0},"stats":{"timings":{"evalTotalTime":"#),
            "{}",
            lines[0]
        );
        assert!(
            lines[0].contains(r#""samples":{"totalQueryableSamples":2,"samplesRead":2,"peakSamples":2}},"spanID":"0000000000000000"}"#),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains(r#""params":{"end":"1970-01-01T00:00:30.000Z","query":"sum(up)","start":"1970-01-01T00:00:00.000Z","step":15},"stats":{"#),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].ends_with("\"httpRequest\":{\"clientIP\":\"::1\",\"method\":\"POST\",\"path\":\"/api/v1/query_range\"}}\n"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].contains(r#""step":0},"error":"found duplicate series for the match group"#),
            "{}",
            lines[2]
        );
        assert!(
            lines[2].contains(r#""totalQueryableSamples":4,"#),
            "a failed query keeps the samples it counted: {}",
            lines[2]
        );
        assert!(
            lines[2].ends_with("\"ruleGroup\":{\"file\":\"r.yml\",\"name\":\"g\"}}\n"),
            "{}",
            lines[2]
        );
    }

    #[test]
    fn a_deadline_in_the_options_is_logged_as_a_timeout() {
        let (engine, lines) = capturing_engine();
        let opts = crate::QueryOpts {
            deadline: Some(std::time::Instant::now()),
            // Cancelled at its deadline too, as the API does: the timeout wins.
            cancel: Some({
                let c = crate::CancelToken::new();
                c.cancel();
                c
            }),
            ..crate::QueryOpts::default()
        };
        let expr = crate::parser::parse_expr("up").expect("parse");
        let err = engine
            .instant_query_expr(up_storage(), &expr, "up", 60_000, &opts)
            .expect_err("timed out");
        assert_eq!(err.to_string(), "query timed out in expression evaluation");
        let lines = lines.lock().expect("lines");
        assert!(
            lines[0].contains(r#""error":"query timed out in expression evaluation""#),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn a_query_over_its_budget_leaves_no_trace_and_runs_again_without_one() {
        let (engine, lines) = capturing_engine();
        let mut before = String::new();
        engine.write_metrics(&mut before);
        let expr = crate::parser::parse_expr("sum(up)").expect("parse");
        let spent = crate::QueryOpts {
            budget: Some(std::time::Duration::ZERO),
            ..crate::QueryOpts::default()
        };
        let err = engine
            .range_query_expr(up_storage(), &expr, "sum(up)", 0, 60_000, 15_000, &spent)
            .expect_err("no budget to evaluate with");
        assert!(matches!(err, crate::Error::OverBudget), "{err}");
        assert!(lines.lock().expect("lines").is_empty(), "nothing logged");
        let mut after = String::new();
        engine.write_metrics(&mut after);
        assert_eq!(before, after, "no metric moved");

        let ample = crate::QueryOpts {
            budget: Some(std::time::Duration::from_secs(60)),
            ..crate::QueryOpts::default()
        };
        let with = engine
            .range_query_expr(up_storage(), &expr, "sum(up)", 0, 60_000, 15_000, &ample)
            .expect("within its budget");
        let without = engine
            .range_query_expr(
                up_storage(),
                &expr,
                "sum(up)",
                0,
                60_000,
                15_000,
                &crate::QueryOpts::default(),
            )
            .expect("no budget");
        assert_eq!(with.value, without.value);
        assert_eq!(lines.lock().expect("lines").len(), 2, "both logged");
    }

    #[test]
    fn a_budgeted_query_gives_up_at_once_when_the_engine_is_full() {
        let engine = crate::Engine::new(crate::EngineOpts {
            max_concurrency: Some(1),
            ..crate::EngineOpts::default()
        });
        let held = engine.acquire(true).expect("a free slot");
        let opts = crate::QueryOpts {
            budget: Some(std::time::Duration::from_secs(60)),
            ..crate::QueryOpts::default()
        };
        let expr = crate::parser::parse_expr("up").expect("parse");
        let err = engine
            .instant_query_expr(up_storage(), &expr, "up", 60_000, &opts)
            .expect_err("no slot");
        assert!(matches!(err, crate::Error::OverBudget), "{err}");
        drop(held);
        engine
            .instant_query_expr(up_storage(), &expr, "up", 60_000, &opts)
            .expect("a slot again");
    }

    /// A fresh directory under the system's temporary one (promql has no tempfile
    /// dependency).
    fn tempfile_dir() -> PathBuf {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("promql-querylog-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }
}
