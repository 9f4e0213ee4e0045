//! `promtool query instant|range|series|labels` against a server's HTTP API (Go's
//! `query.go`), printed as Go's promtool prints client_golang's values; and, beyond
//! Prometheus, `query instant|range --tsdb.path DIR` evaluating with our own engine against
//! a data directory opened read-only (no server, no lock: see [`crate::data_dir`]).
//!
//! `promtool check healthy|ready` lives here too: it is the same HTTP client.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};

use crate::data_dir::ReadOnlyDb;
use crate::gofmt::{days_from_civil, format_f};
use crate::http::{ApiClient, ApiError};
use crate::value::{self, QueryValue};

const SUCCESS: u8 = 0;
const FAILURE: u8 = 1;

/// Output format of the query commands.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum Format {
    /// Values as Prometheus's Go client prints them.
    Promql,
    /// Values as JSON.
    Json,
}

/// `promtool query` and its flags.
#[derive(Args)]
pub(crate) struct QueryArgs {
    /// Output format of the query.
    #[arg(
        short = 'o',
        long = "format",
        value_enum,
        default_value = "promql",
        global = true
    )]
    format: Format,
    /// HTTP client configuration file.
    #[arg(
        long = "http.config.file",
        value_name = "FILENAME",
        global = true,
        help = crate::http::CONFIG_FILE_HELP
    )]
    http_config_file: Option<PathBuf>,
    #[command(subcommand)]
    what: QueryCommand,
}

/// The `query` subcommands.
#[derive(Subcommand)]
enum QueryCommand {
    /// Run instant query.
    Instant {
        /// Query evaluation time (RFC3339 or Unix timestamp).
        #[arg(long)]
        time: Option<String>,
        /// Evaluate against this data directory with the built-in engine instead of a
        /// server (then only EXPR is given). Read-only: the WAL is replayed from a copy.
        #[arg(long = "tsdb.path")]
        tsdb_path: Option<PathBuf>,
        /// Prometheus server to query (omitted with --tsdb.path).
        server: String,
        /// PromQL query expression.
        expr: Option<String>,
    },
    /// Run range query.
    Range {
        /// Extra headers to send to server (`Name=value`).
        #[arg(long = "header")]
        headers: Vec<String>,
        /// Query range start time (RFC3339 or Unix timestamp).
        #[arg(long)]
        start: Option<String>,
        /// Query range end time (RFC3339 or Unix timestamp).
        #[arg(long)]
        end: Option<String>,
        /// Query step size (duration).
        #[arg(long)]
        step: Option<String>,
        /// Evaluate against this data directory with the built-in engine instead of a
        /// server (then only EXPR is given).
        #[arg(long = "tsdb.path")]
        tsdb_path: Option<PathBuf>,
        /// Prometheus server to query (omitted with --tsdb.path).
        server: String,
        /// PromQL query expression.
        expr: Option<String>,
    },
    /// Run series query.
    Series {
        /// Series selector. Can be specified multiple times.
        #[arg(long = "match", required = true)]
        matchers: Vec<String>,
        /// Start time (RFC3339 or Unix timestamp).
        #[arg(long)]
        start: Option<String>,
        /// End time (RFC3339 or Unix timestamp).
        #[arg(long)]
        end: Option<String>,
        /// Prometheus server to query.
        server: String,
    },
    /// Run labels query.
    Labels {
        /// Start time (RFC3339 or Unix timestamp).
        #[arg(long)]
        start: Option<String>,
        /// End time (RFC3339 or Unix timestamp).
        #[arg(long)]
        end: Option<String>,
        /// Series selector. Can be specified multiple times.
        #[arg(long = "match")]
        matchers: Vec<String>,
        /// Prometheus server to query.
        server: String,
        /// Label name to provide label values for.
        name: String,
    },
    /// Run queries against your Prometheus to analyze the usage pattern of certain metrics.
    Analyze {
        /// Prometheus server to query.
        #[arg(long, required = true)]
        server: String,
        /// Type of metric: histogram.
        #[arg(long = "type", required = true)]
        metric_type: String,
        /// Time frame to analyze.
        #[arg(long, default_value = "1h")]
        duration: String,
        /// Query time (RFC3339 or Unix timestamp), defaults to now.
        #[arg(long)]
        time: Option<String>,
        /// Series selector. Can be specified multiple times.
        #[arg(long = "match", required = true)]
        matchers: Vec<String>,
    },
}

/// Go promtool's `parseTime`: Unix seconds (with a fraction) or RFC 3339; milliseconds out.
pub(crate) fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>()
        && f.is_finite()
    {
        return Ok((f * 1000.0).round() as i64);
    }
    parse_rfc3339(s).ok_or_else(|| format!("cannot parse {s:?} to a valid timestamp"))
}

/// `2006-01-02T15:04:05.999999999Z07:00` to milliseconds.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut ms = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let digits = &frac[..n];
        let padded = format!("{:0<3}", &digits[..n.min(3)]);
        ms = padded.parse().ok()?;
        rest = &frac[n..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || !matches!(rb[0], b'+' | b'-') || rb[3] != b':' {
                return None;
            }
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            let sign = if rb[0] == b'-' { -1 } else { 1 };
            sign * (oh * 60 + om)
        }
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs * 1000 + ms)
}

/// Go's `time.ParseDuration` (`1m30s`, `0.5s`, `250ms`), with Prometheus durations
/// (`1d`, `1w`) accepted too; milliseconds out.
pub(crate) fn parse_step(s: &str) -> Result<i64, String> {
    if s == "0" {
        return Ok(0);
    }
    let mut total = 0f64;
    let mut rest = s;
    let ok = (|| {
        if rest.is_empty() {
            return false;
        }
        while !rest.is_empty() {
            let n = rest
                .bytes()
                .take_while(|c| c.is_ascii_digit() || *c == b'.')
                .count();
            let Ok(v) = rest[..n].parse::<f64>() else {
                return false;
            };
            rest = &rest[n..];
            let u = rest.bytes().take_while(|c| c.is_ascii_alphabetic()).count();
            let unit_ms = match &rest[..u] {
                "ns" => 1e-6,
                "us" => 1e-3,
                "ms" => 1.0,
                "s" => 1e3,
                "m" => 6e4,
                "h" => 3.6e6,
                _ => return false,
            };
            rest = &rest[u..];
            total += v * unit_ms;
        }
        true
    })();
    if ok {
        return Ok(total.round() as i64);
    }
    model::Duration::parse(s)
        .map(|d| d.as_millis())
        .map_err(|_| format!("invalid duration {s:?}"))
}

/// A millisecond time as client_golang sends it (seconds, shortest decimal).
fn format_api_time(ms: i64) -> String {
    format_f(ms as f64 / 1000.0)
}

/// Runs a `query` subcommand and returns the exit code.
pub(crate) fn run(args: QueryArgs) -> u8 {
    if let Err(code) = crate::http::use_config_file(args.http_config_file.as_deref()) {
        return code;
    }
    let format = args.format;
    match args.what {
        QueryCommand::Instant {
            time,
            tsdb_path,
            server,
            expr,
        } => {
            let Some((target, expr)) = target(server, expr, tsdb_path) else {
                return FAILURE;
            };
            let t = match time.as_deref().map(parse_time).transpose() {
                Ok(t) => t.unwrap_or_else(model::timestamp::now),
                Err(e) => {
                    eprintln!("error parsing evaluation time: {e}");
                    return FAILURE;
                }
            };
            let res = match target {
                Target::Server(server) => instant_http(&server, &expr, t),
                Target::Dir(dir) => evaluate_dir(&dir, &expr, t, t, 0),
            };
            print_value(res, format)
        }
        QueryCommand::Range {
            headers,
            start,
            end,
            step,
            tsdb_path,
            server,
            expr,
        } => {
            let Some((target, expr)) = target(server, expr, tsdb_path) else {
                return FAILURE;
            };
            let end = match end.as_deref().map(parse_time).transpose() {
                Ok(t) => t.unwrap_or_else(model::timestamp::now),
                Err(e) => {
                    eprintln!("error parsing end time: {e}");
                    return FAILURE;
                }
            };
            let start = match start.as_deref().map(parse_time).transpose() {
                Ok(t) => t.unwrap_or(end - 5 * 60 * 1000),
                Err(e) => {
                    eprintln!("error parsing start time: {e}");
                    return FAILURE;
                }
            };
            if start >= end {
                eprintln!("start time is not before end time");
                return FAILURE;
            }
            let mut step = match step.as_deref().map(parse_step).transpose() {
                Ok(s) => s.unwrap_or(0),
                Err(e) => {
                    eprintln!("promtool: error: {e}, try --help");
                    return FAILURE;
                }
            };
            if step == 0 {
                let resolution = ((end - start) as f64 / 1000.0 / 250.0).floor().max(1.0);
                step = resolution as i64 * 1000;
            }
            let mut hdrs = Vec::new();
            for h in headers {
                let Some((k, v)) = h.split_once('=') else {
                    eprintln!("promtool: error: expected KEY=VALUE got '{h}', try --help");
                    return FAILURE;
                };
                hdrs.push((k.to_owned(), v.to_owned()));
            }
            let res = match target {
                Target::Server(server) => range_http(&server, hdrs, &expr, start, end, step),
                Target::Dir(dir) => evaluate_dir(&dir, &expr, start, end, step),
            };
            print_value(res, format)
        }
        QueryCommand::Series {
            matchers,
            start,
            end,
            server,
        } => {
            let (start, end) = match start_end(start.as_deref(), end.as_deref()) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{e}");
                    return FAILURE;
                }
            };
            let mut params: Vec<(&str, String)> =
                matchers.into_iter().map(|m| ("match[]", m)).collect();
            params.push(("start", format_api_time(start)));
            params.push(("end", format_api_time(end)));
            let res = call(&server, "/series", &params, true).and_then(|(data, _)| {
                let items = data.as_array().cloned().unwrap_or_default();
                items
                    .iter()
                    .map(value::parse_metric)
                    .collect::<anyhow::Result<Vec<_>>>()
                    .map_err(QueryError::Other)
            });
            match res {
                Ok(sets) => {
                    let text = if format == Format::Json {
                        value::json_label_sets(&sets)
                    } else {
                        sets.iter()
                            .map(value::label_set_string)
                            .collect::<Vec<_>>()
                            .join("\n")
                    };
                    emit(&text, !sets.is_empty() || format == Format::Json)
                }
                Err(e) => e.report(),
            }
        }
        QueryCommand::Analyze {
            server,
            metric_type,
            duration,
            time,
            matchers,
        } => {
            let duration_ms = match parse_step(&duration) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("promtool: error: --duration: {e}");
                    return FAILURE;
                }
            };
            let end_ms = match time.as_deref().map(parse_time).transpose() {
                Ok(t) => t.unwrap_or_else(model::timestamp::now),
                Err(e) => {
                    eprintln!("error parsing time '{}': {e}", time.unwrap_or_default());
                    return FAILURE;
                }
            };
            crate::query_analyze::run(&crate::query_analyze::AnalyzeArgs {
                server: &server,
                metric_type: &metric_type,
                duration_ms,
                end_ms,
                matchers: &matchers,
            })
        }
        QueryCommand::Labels {
            start,
            end,
            matchers,
            server,
            name,
        } => {
            let (start, end) = match start_end(start.as_deref(), end.as_deref()) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{e}");
                    return FAILURE;
                }
            };
            let mut params: Vec<(&str, String)> = vec![
                ("start", format_api_time(start)),
                ("end", format_api_time(end)),
            ];
            params.extend(matchers.into_iter().map(|m| ("match[]", m)));
            let endpoint = format!("/label/{name}/values");
            let res = call(&server, &endpoint, &params, false);
            if let Ok((_, warnings)) = &res {
                for w in warnings {
                    eprintln!("query warning: {w}");
                }
            }
            match res {
                Ok((data, _)) => {
                    let values: Vec<String> = data
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default();
                    if format == Format::Json {
                        emit(&value::json_strings(&values), true)
                    } else {
                        emit(&values.join("\n"), !values.is_empty())
                    }
                }
                Err(e) => e.report(),
            }
        }
    }
}

/// Where a query runs.
enum Target {
    Server(String),
    Dir(PathBuf),
}

/// Sorts out the positional arguments: `SERVER EXPR`, or `EXPR` with `--tsdb.path`.
fn target(
    server: String,
    expr: Option<String>,
    tsdb_path: Option<PathBuf>,
) -> Option<(Target, String)> {
    match (tsdb_path, expr) {
        (Some(dir), None) => Some((Target::Dir(dir), server)),
        (Some(_), Some(_)) => {
            eprintln!("promtool: error: with --tsdb.path give only the expression, try --help");
            None
        }
        (None, Some(expr)) => Some((Target::Server(server), expr)),
        (None, None) => {
            eprintln!("promtool: error: required argument 'expr' not provided, try --help");
            None
        }
    }
}

/// Go's `parseStartTimeAndEndTime`: defaults are now ∓ 9999 hours.
fn start_end(start: Option<&str>, end: Option<&str>) -> Result<(i64, i64), String> {
    const SPAN: i64 = 9999 * 3600 * 1000;
    let now = model::timestamp::now();
    let s = match start {
        Some(s) => parse_time(s).map_err(|e| format!("error parsing start time: {e}"))?,
        None => now - SPAN,
    };
    let e = match end {
        Some(e) => parse_time(e).map_err(|e| format!("error parsing end time: {e}"))?,
        None => now + SPAN,
    };
    Ok((s, e))
}

/// Why a query failed.
enum QueryError {
    Api(ApiError),
    Other(anyhow::Error),
}

impl QueryError {
    /// Prints as Go's `handleAPIError` and returns the failure exit code.
    fn report(self) -> u8 {
        match self {
            QueryError::Api(e) if !e.detail.trim().is_empty() => {
                eprintln!("query error: {e} (detail: {})", e.detail.trim());
            }
            QueryError::Api(e) => eprintln!("query error: {e}"),
            QueryError::Other(e) => eprintln!("query error: {e:#}"),
        }
        FAILURE
    }
}

fn call(
    server: &str,
    endpoint: &str,
    params: &[(&str, String)],
    post: bool,
) -> Result<(serde_json::Value, Vec<String>), QueryError> {
    call_with_headers(server, Vec::new(), endpoint, params, post)
}

fn call_with_headers(
    server: &str,
    headers: Vec<(String, String)>,
    endpoint: &str,
    params: &[(&str, String)],
    post: bool,
) -> Result<(serde_json::Value, Vec<String>), QueryError> {
    let client = ApiClient::new(server, headers).map_err(QueryError::Other)?;
    client
        .api(endpoint, params, post)
        .map_err(|e| match e.downcast::<ApiError>() {
            Ok(api) => QueryError::Api(api),
            Err(other) => QueryError::Other(other),
        })
}

fn instant_http(server: &str, expr: &str, t: i64) -> Result<QueryValue, QueryError> {
    let params = [("query", expr.to_owned()), ("time", format_api_time(t))];
    let (data, _) = call(server, "/query", &params, true)?;
    value::parse_query_data(&data).map_err(QueryError::Other)
}

fn range_http(
    server: &str,
    headers: Vec<(String, String)>,
    expr: &str,
    start: i64,
    end: i64,
    step: i64,
) -> Result<QueryValue, QueryError> {
    let params = [
        ("query", expr.to_owned()),
        ("start", format_api_time(start)),
        ("end", format_api_time(end)),
        ("step", format_api_time(step)),
    ];
    let (data, _) = call_with_headers(server, headers, "/query_range", &params, true)?;
    value::parse_query_data(&data).map_err(QueryError::Other)
}

/// Evaluates `expr` with our engine over a read-only view of the data directory `dir`
/// (an instant query when `step` is 0).
fn evaluate_dir(
    dir: &std::path::Path,
    expr: &str,
    start: i64,
    end: i64,
    step: i64,
) -> Result<QueryValue, QueryError> {
    let db = ReadOnlyDb::open(dir).map_err(|e| QueryError::Other(e.into()))?;
    let engine = promql::Engine::new(promql::EngineOpts::default());
    let queryable: Arc<dyn storage::Queryable> = Arc::new(db);
    let res = if step == 0 {
        engine.instant_query(queryable, expr, start)
    } else {
        engine.range_query(queryable, expr, start, end, step)
    };
    match res {
        Ok(r) => Ok(value::from_engine(&r.value)),
        Err(e) => Err(QueryError::Other(anyhow::Error::new(e))),
    }
}

fn print_value(res: Result<QueryValue, QueryError>, format: Format) -> u8 {
    match res {
        Ok(v) => match format {
            Format::Promql => emit(&v.promql_string(), true),
            Format::Json => emit(&v.json_string(), true),
        },
        Err(e) => e.report(),
    }
}

/// Writes `text` and, when `newline`, a line end to stdout. A reader that left (broken
/// pipe) is no failure; another write error is.
fn emit(text: &str, newline: bool) -> u8 {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let res = out
        .write_all(text.as_bytes())
        .and_then(|()| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| out.flush());
    match res {
        Ok(()) => SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => SUCCESS,
        Err(e) => {
            eprintln!("writing to stdout: {e}");
            FAILURE
        }
    }
}

/// `promtool check healthy|ready`: GET `/-/healthy` or `/-/ready` below `url`.
pub(crate) fn check_server(
    url: &str,
    endpoint: &str,
    http_config_file: Option<&std::path::Path>,
) -> u8 {
    if let Err(code) = crate::http::use_config_file(http_config_file) {
        return code;
    }
    let res = ApiClient::new(url, Vec::new()).and_then(|c| {
        let full = c.url(endpoint);
        c.request(hyper::Method::GET, &full, None)
    });
    match res {
        Ok(r) if r.status == 200 => {
            eprintln!("  SUCCESS:  {}", String::from_utf8_lossy(&r.body));
            SUCCESS
        }
        Ok(r) => {
            eprintln!("check failed: URL={url}, status={}", r.status);
            FAILURE
        }
        Err(e) => {
            eprintln!("{e:#}");
            FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_like_go() {
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("1700000000.5"), Ok(1_700_000_000_500));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(
            parse_time("2023-11-14T23:13:20.25+01:00"),
            Ok(1_700_000_000_250)
        );
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn steps_parse_like_go_durations() {
        assert_eq!(parse_step("1s"), Ok(1000));
        assert_eq!(parse_step("1m30s"), Ok(90_000));
        assert_eq!(parse_step("0.5s"), Ok(500));
        assert_eq!(parse_step("250ms"), Ok(250));
        assert_eq!(parse_step("1d"), Ok(86_400_000));
        assert!(parse_step("fast").is_err());
        assert_eq!(format_api_time(1500), "1.5");
    }
}
