//! HTTP API v1 endpoints (`/api/v1/...`), answering as Prometheus's web/api/v1/api.go.

mod ast;
mod rules;
pub(crate) mod search;
mod status;
mod targets;

pub use rules::{
    AlertState, AlertView, AlertingView, AlertmanagersSource, RuleGroupView, RuleHealth, RuleView,
    RulesSource,
};
pub use targets::GlobalUrlOptions;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::Method;
use model::Labels;
use promql::parser::{self, ValueType};
use promql::{CancelToken, QueryOpts};
use storage::{LabelHints, SelectHints};

use crate::error::{ApiError, ErrorType};
use crate::handler::Inner;
use crate::json;
use crate::params::{
    Form, MAX_TIME, MIN_TIME, hint_limit, limit_param, parse_duration, parse_matchers, parse_time,
    time_param,
};
use crate::status::unix_millis;
use crate::timefmt::{GoTime, format_rfc3339};

/// A successful answer: the JSON of `data` (or no content), with warnings and infos.
#[derive(Debug, Default)]
pub(crate) struct ApiData {
    /// The `data` field, already JSON; `None` answers 204 No Content (or
    /// `{"status":"success"}` when `status_only`).
    pub(crate) data: Option<String>,
    /// Without data, answer 200 `{"status":"success"}` instead of 204: the admin endpoints
    /// as the OpenAPI description documents them (Prometheus itself answers 204 there).
    pub(crate) status_only: bool,
    pub(crate) warnings: Vec<String>,
    pub(crate) infos: Vec<String>,
}

impl ApiData {
    fn json(data: String) -> ApiData {
        ApiData {
            data: Some(data),
            ..ApiData::default()
        }
    }

    fn status_only() -> ApiData {
        ApiData {
            status_only: true,
            ..ApiData::default()
        }
    }
}

pub(crate) type ApiResult = Result<ApiData, ApiError>;

/// Which endpoint a path under `/api/v1` names, and whether the method is allowed.
pub(crate) enum Route {
    /// A known endpoint with its handler label for metrics.
    Endpoint(&'static str),
    /// A known path with a method it does not accept: the methods it takes.
    MethodNotAllowed(&'static [Method]),
    /// No such endpoint.
    NotFound,
}

const GET: &[Method] = &[Method::GET];
const POST: &[Method] = &[Method::POST];
const GET_POST: &[Method] = &[Method::GET, Method::POST];
const POST_PUT: &[Method] = &[Method::POST, Method::PUT];

/// The handler label of every `OPTIONS` request under `/api/v1`: Prometheus answers them
/// all from one catch-all route.
pub(crate) const OPTIONS_LABEL: &str = "/api/v1/*path";

/// Endpoints Prometheus's agent mode answers with an execution error (Go's `wrapAgent`).
const AGENT_DISABLED: &[&str] = &[
    "/query",
    "/query_range",
    "/query_exemplars",
    "/format_query",
    "/parse_query",
    "/labels",
    "/series",
    "/alertmanagers",
    "/status/tsdb",
    "/status/tsdb/blocks",
    "/alerts",
    "/rules",
    "/admin/tsdb/delete_series",
    "/admin/tsdb/clean_tombstones",
    "/admin/tsdb/snapshot",
];

/// Whether an endpoint answers while the server is not ready: Prometheus does not wrap
/// the WAL replay status and the notifications in its readiness check, so that the UI
/// can show start-up progress.
pub(crate) fn answers_before_ready(label: &str) -> bool {
    matches!(
        label,
        "/api/v1/status/walreplay" | "/api/v1/notifications" | "/api/v1/notifications/live"
    )
}

/// Resolves `path` (relative to `/api/v1`) for `method`.
pub(crate) fn route(method: &Method, path: &str) -> Route {
    // Prometheus routes `OPTIONS` for any path to one handler (CORS preflight).
    if *method == Method::OPTIONS {
        return Route::Endpoint(OPTIONS_LABEL);
    }
    let (allowed, label): (&'static [Method], &'static str) = match path {
        "/query" => (GET_POST, "/api/v1/query"),
        "/query_range" => (GET_POST, "/api/v1/query_range"),
        "/format_query" => (GET_POST, "/api/v1/format_query"),
        "/parse_query" => (GET_POST, "/api/v1/parse_query"),
        // Prometheus also routes DELETE here only to answer 500 "not implemented"; we answer
        // 405 as for any other method the endpoint does not take.
        "/series" => (GET_POST, "/api/v1/series"),
        "/labels" => (GET_POST, "/api/v1/labels"),
        "/status/config" => (GET, "/api/v1/status/config"),
        "/status/flags" => (GET, "/api/v1/status/flags"),
        "/status/runtimeinfo" => (GET, "/api/v1/status/runtimeinfo"),
        "/status/buildinfo" => (GET, "/api/v1/status/buildinfo"),
        "/status/tsdb" => (GET, "/api/v1/status/tsdb"),
        "/targets" => (GET, "/api/v1/targets"),
        "/targets/metadata" => (GET, "/api/v1/targets/metadata"),
        "/metadata" => (GET, "/api/v1/metadata"),
        "/scrape_pools" => (GET, "/api/v1/scrape_pools"),
        "/write" => (POST, "/api/v1/write"),
        "/read" => (POST, "/api/v1/read"),
        "/admin/tsdb/delete_series" => (POST_PUT, "/api/v1/admin/tsdb/delete_series"),
        "/admin/tsdb/clean_tombstones" => (POST_PUT, "/api/v1/admin/tsdb/clean_tombstones"),
        "/admin/tsdb/snapshot" => (POST_PUT, "/api/v1/admin/tsdb/snapshot"),
        "/query_exemplars" => (GET_POST, "/api/v1/query_exemplars"),
        "/targets/relabel_steps" => (GET, "/api/v1/targets/relabel_steps"),
        "/scrape_pools/config" => (GET, "/api/v1/scrape_pools/config"),
        "/alertmanagers" => (GET, "/api/v1/alertmanagers"),
        "/rules" => (GET, "/api/v1/rules"),
        "/alerts" => (GET, "/api/v1/alerts"),
        "/status/tsdb/blocks" => (GET, "/api/v1/status/tsdb/blocks"),
        "/status/walreplay" => (GET, "/api/v1/status/walreplay"),
        "/status/self_metrics" => (GET, "/api/v1/status/self_metrics"),
        "/notifications" => (GET, "/api/v1/notifications"),
        "/notifications/live" => (GET, "/api/v1/notifications/live"),
        "/features" => (GET, "/api/v1/features"),
        "/otlp/v1/metrics" => (POST, "/api/v1/otlp/v1/metrics"),
        "/search/metric_names" => (GET_POST, "/api/v1/search/metric_names"),
        "/search/label_names" => (GET_POST, "/api/v1/search/label_names"),
        "/search/label_values" => (GET_POST, "/api/v1/search/label_values"),
        // One path segment, matched after decoding as Go's router does: `a/b` and `a%2Fb`
        // are no label name but an unknown path.
        p if p.starts_with("/label/")
            && p.ends_with("/values")
            && p.len() > 14
            && !percent_decode(&p["/label/".len()..p.len() - "/values".len()]).contains('/') =>
        {
            (GET, "/api/v1/label/:name/values")
        }
        _ => return Route::NotFound,
    };
    if allowed.contains(method) {
        Route::Endpoint(label)
    } else {
        Route::MethodNotAllowed(allowed)
    }
}

/// Runs the endpoint `path` (relative to `/api/v1`); `origin` is the request's, for the
/// query log of `query` and `query_range`.
pub(crate) async fn serve(
    inner: &Arc<Inner>,
    method: &Method,
    path: &str,
    form: Form,
    origin: Option<Arc<promql::QueryOrigin>>,
) -> ApiResult {
    if *method == Method::OPTIONS {
        return Ok(ApiData::default());
    }
    if path.starts_with("/search/") {
        // The handler answers these itself (NDJSON, `search::serve`).
        return Err(ApiError::new(ErrorType::NotFound, "no such endpoint"));
    }
    if inner.opts.agent && (AGENT_DISABLED.contains(&path) || path.starts_with("/label/")) {
        return Err(ApiError::new(
            ErrorType::Execution,
            "unavailable with Prometheus Agent",
        ));
    }
    match path {
        "/query" => query(inner, form, origin).await,
        "/query_range" => query_range(inner, form, origin).await,
        "/format_query" => format_query(&form),
        "/parse_query" => parse_query(&form),
        "/series" => series(inner, form).await,
        "/labels" => label_names(inner, form).await,
        "/status/config" => status_config(inner),
        "/status/flags" => Ok(ApiData::json(json::to_go_json(&inner.opts.flags))),
        "/status/runtimeinfo" => runtime_info(inner),
        "/status/tsdb" => tsdb_status(inner, &form).await,
        "/targets" => match &inner.opts.scrape {
            Some(manager) => Ok(ApiData::json(targets::targets(
                manager,
                &inner.opts.global_url,
                &form,
            ))),
            None => Err(ApiError::not_implemented("scraping (targets)")),
        },
        "/scrape_pools" => match &inner.opts.scrape {
            Some(manager) => {
                let mut pools: Vec<String> = manager.scrape_configs().into_keys().collect();
                pools.sort_unstable();
                let mut data = String::from("{\"scrapePools\":");
                json::write_str_list(&mut data, pools.iter().map(String::as_str));
                data.push('}');
                Ok(ApiData::json(data))
            }
            None => Err(ApiError::not_implemented("scraping (scrape pools)")),
        },
        "/metadata" => match &inner.opts.scrape {
            Some(manager) => Ok(ApiData::json(targets::metadata(manager, &form)?)),
            None => Err(ApiError::not_implemented("metric metadata")),
        },
        "/targets/metadata" => match &inner.opts.scrape {
            Some(manager) => Ok(ApiData::json(targets::target_metadata(manager, &form)?)),
            None => Err(ApiError::not_implemented("scraping (target metadata)")),
        },
        "/status/buildinfo" => Ok(ApiData::json(json::to_go_json(&inner.opts.build_info))),
        "/query_exemplars" => query_exemplars(inner, &form).await,
        "/targets/relabel_steps" => match &inner.opts.scrape {
            Some(manager) => Ok(ApiData::json(targets::relabel_steps(manager, &form)?)),
            None => Err(ApiError::not_implemented("scraping (relabel steps)")),
        },
        "/scrape_pools/config" => match &inner.opts.scrape {
            Some(manager) => Ok(ApiData::json(targets::scrape_pool_config(manager, &form)?)),
            None => Err(ApiError::not_implemented("scraping (scrape pools)")),
        },
        "/rules" => Ok(ApiData::json(rules::rules(
            inner.opts.rules.as_deref(),
            &form,
        )?)),
        "/alerts" => Ok(ApiData::json(rules::alerts(inner.opts.rules.as_deref()))),
        "/alertmanagers" => Ok(ApiData::json(rules::alertmanagers(
            inner.opts.alertmanagers.as_deref(),
        ))),
        "/status/tsdb/blocks" => status::tsdb_blocks(inner).await,
        "/status/walreplay" => Ok(ApiData::json(status::wal_replay(inner))),
        "/status/self_metrics" => status::self_metrics(inner, &form),
        "/notifications" => Ok(ApiData::json(status::notifications(inner))),
        // The handler streams GET itself (`Handler::notifications_live`).
        "/notifications/live" => Ok(ApiData::default()),
        "/features" => Ok(ApiData::json(status::features(inner))),
        p if p.starts_with("/admin/") => admin(inner, p, form).await,
        p if p.starts_with("/label/") => {
            let name = &p["/label/".len()..p.len() - "/values".len()];
            label_values(inner, name, form).await
        }
        _ => Err(ApiError::new(ErrorType::NotFound, "no such endpoint")),
    }
}

/// Runs blocking storage or engine work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(ErrorType::Internal, format!("query task failed: {e}")))
}

/// How long a query may run on the async thread that received it before it moves to the
/// blocking pool (see `run_query`).
const INLINE_BUDGET: Duration = Duration::from_micros(250);

/// Cancels a query when the request's future is dropped (the client went away).
struct CancelOnDrop(CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Go's `extractQueryOpts`: the optional per-query `lookback_delta`, and per-step
/// statistics for `stats=all` (kept only when the engine allows them).
fn query_opts(form: &Form) -> Result<QueryOpts, ApiError> {
    let mut opts = QueryOpts {
        enable_per_step_stats: form.value("stats") == "all",
        ..QueryOpts::default()
    };
    let s = form.value("lookback_delta");
    if !s.is_empty() {
        let ns = parse_duration(s).map_err(|e| {
            ApiError::bad_data(format!("error parsing lookback delta duration: {e}"))
        })?;
        opts.lookback_delta = Some(Duration::from_nanos(u64::try_from(ns).unwrap_or(0)));
    }
    Ok(opts)
}

/// The optional `timeout` parameter.
fn timeout_param(form: &Form) -> Result<Option<Duration>, ApiError> {
    let s = form.value("timeout");
    if s.is_empty() {
        return Ok(None);
    }
    let ns = parse_duration(s).map_err(|e| ApiError::invalid_param("timeout", e))?;
    // Go turns a timeout of zero or less into a deadline that has already passed and so
    // answers 503 "query timed out"; the timeout is the client's mistake, so we say so.
    match u64::try_from(ns) {
        Ok(ns) if ns > 0 => Ok(Some(Duration::from_nanos(ns))),
        _ => Err(ApiError::invalid_param("timeout", "must be positive")),
    }
}

/// Go's `annotations.AsStrings(query, 10, 10)`: at most ten of each kind, then a count of
/// the rest.
fn annotation_strings(annotations: &promql::value::Annotations) -> (Vec<String>, Vec<String>) {
    const MAX: usize = 10;
    let cap = |items: Vec<&str>, kind: &str| {
        let skipped = items.len().saturating_sub(MAX);
        let mut out: Vec<String> = items.into_iter().take(MAX).map(str::to_owned).collect();
        if skipped > 0 {
            out.push(format!("{skipped} more {kind} annotations omitted"));
        }
        out
    };
    (
        cap(annotations.warnings().collect(), "warning"),
        cap(annotations.infos().collect(), "info"),
    )
}

/// What a query request asks for besides the expression and its time range.
struct QueryParams {
    opts: QueryOpts,
    timeout: Option<Duration>,
    /// `limit`: at most this many series (0: all).
    limit: usize,
    /// `stats`: include the query statistics (any non-empty value; `all` also asks for the
    /// per-step counts, see [`query_opts`]).
    stats: bool,
}

impl QueryParams {
    /// Parses `limit`, `timeout`, `lookback_delta` and `stats` in Go's order (`limit` first).
    fn parse(form: &Form) -> Result<QueryParams, ApiError> {
        let limit = limit_param(form)?;
        Ok(QueryParams {
            limit,
            timeout: None,
            opts: QueryOpts::default(),
            stats: !form.value("stats").is_empty(),
        })
    }
}

/// Go's `truncateResults`: keeps the first `limit` series of a vector or matrix.
fn truncate(value: &mut promql::value::Value, limit: usize) -> bool {
    use promql::value::Value;
    match value {
        Value::Vector(v) if v.len() > limit => {
            v.truncate(limit);
            true
        }
        Value::Matrix(m) if m.len() > limit => {
            m.truncate(limit);
            true
        }
        _ => false,
    }
}

/// Prometheus's `stats.QueryStats` (`stats=...`), as the engine timed and counted the
/// query (the same figures its query log shows); `waited` is the time the query waited
/// for a blocking thread before the engine saw it, counted as queueing.
fn write_stats_json(out: &mut String, waited: Duration, res: &promql::QueryResult) {
    let mut timings = res.timings;
    timings.exec_queue += waited;
    timings.exec_total += waited;
    promql::engine::write_stats_json(out, &timings, &res.stats, promql::engine::FloatStyle::Api);
}

/// Runs a query on the blocking pool, cancelling it when `timeout` passes or the request is
/// dropped; a query stopped by the timeout reports a timeout, as Go's context deadline does.
async fn run_query(
    inner: &Arc<Inner>,
    expr: parser::Expr,
    query: String,
    range: Option<(i64, i64, i64)>,
    params: QueryParams,
    at: i64,
    origin: Option<Arc<promql::QueryOrigin>>,
) -> ApiResult {
    let QueryParams {
        mut opts,
        timeout,
        limit,
        stats,
    } = params;
    let queued = Instant::now();
    let token = CancelToken::new();
    opts.cancel = Some(token.clone());
    opts.origin = origin;
    // The engine stops at the deadline itself, so that the query log names the timeout.
    opts.deadline = timeout.and_then(|t| queued.checked_add(t));
    let _guard = CancelOnDrop(token.clone());
    let mut timed_out = false;
    if timeout == Some(Duration::ZERO) {
        // An already expired deadline, as Go's `context.WithTimeout(ctx, 0)`: the query
        // stops before evaluating anything.
        timed_out = true;
        token.cancel();
    }
    let engine = inner.opts.engine.clone();
    let queryable = inner.opts.queryable.clone();
    let exec = move |opts: &QueryOpts| match range {
        None => engine.instant_query_expr(queryable.clone(), &expr, &query, at, opts),
        Some((start, end, step)) => {
            engine.range_query_expr(queryable.clone(), &expr, &query, start, end, step, opts)
        }
    };
    // A small query answers sooner right here than through a blocking thread, whose
    // hand-off (two thread wake-ups) costs as much as evaluating it. So it is tried here
    // first, for a short budget; a query needing longer gives up without a trace and runs
    // on the blocking pool, where the timeout and the client going away cancel it.
    let trial = (!timed_out).then(|| {
        exec(&QueryOpts {
            budget: Some(INLINE_BUDGET),
            ..opts.clone()
        })
    });
    let (result, queue_time) = match trial {
        Some(res) if !matches!(res, Err(promql::Error::OverBudget)) => (res, Duration::ZERO),
        _ => {
            let task = tokio::task::spawn_blocking(move || {
                let started = Instant::now();
                (exec(&opts), started.duration_since(queued))
            });
            let joined = match timeout {
                None => task.await,
                Some(limit) => {
                    let mut task = task;
                    tokio::select! {
                        joined = &mut task => joined,
                        () = tokio::time::sleep(limit) => {
                            timed_out = true;
                            token.cancel();
                            task.await
                        }
                    }
                }
            };
            joined.map_err(|e| {
                ApiError::new(ErrorType::Internal, format!("query task failed: {e}"))
            })?
        }
    };
    let result = match result {
        Err(promql::Error::Canceled(phase)) if timed_out => Err(promql::Error::Timeout(phase)),
        other => other,
    };
    let mut result = result.map_err(ApiError::from)?;
    let truncated = limit > 0 && truncate(&mut result.value, limit);
    let mut data = String::new();
    json::write_query_data(&mut data, &result.value);
    if stats {
        // `{"resultType":..,"result":..}` gets a third field.
        data.pop();
        data.push_str(",\"stats\":");
        write_stats_json(&mut data, queue_time, &result);
        data.push('}');
    }
    let (mut warnings, infos) = annotation_strings(&result.annotations);
    if truncated {
        warnings.push(TRUNCATED.to_owned());
    }
    Ok(ApiData {
        data: Some(data),
        warnings,
        infos,
        status_only: false,
    })
}

async fn query(
    inner: &Arc<Inner>,
    form: Form,
    origin: Option<Arc<promql::QueryOrigin>>,
) -> ApiResult {
    let mut params = QueryParams::parse(&form)?;
    let now = GoTime::from_millis(unix_millis(SystemTime::now()));
    let ts = time_param(&form, "time", now)?;
    params.timeout = timeout_param(&form)?;
    params.opts = query_opts(&form)?;
    let text = form.value("query").to_owned();
    let expr = parser::parse_expr(&text).map_err(|e| ApiError::invalid_param("query", e))?;
    run_query(inner, expr, text, None, params, ts.millis(), origin).await
}

async fn query_range(
    inner: &Arc<Inner>,
    form: Form,
    origin: Option<Arc<promql::QueryOrigin>>,
) -> ApiResult {
    let mut params = QueryParams::parse(&form)?;
    let start = parse_time(form.value("start")).map_err(|e| ApiError::invalid_param("start", e))?;
    let end = parse_time(form.value("end")).map_err(|e| ApiError::invalid_param("end", e))?;
    if end < start {
        return Err(ApiError::invalid_param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    let step_ns =
        parse_duration(form.value("step")).map_err(|e| ApiError::invalid_param("step", e))?;
    if step_ns <= 0 {
        return Err(ApiError::invalid_param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    // For safety, Prometheus limits the number of points per series (a week at 60s
    // resolution, a year at 1h).
    if (end.nanos() - start.nanos()) / i128::from(step_ns) > 11_000 {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    params.timeout = timeout_param(&form)?;
    params.opts = query_opts(&form)?;
    let text = form.value("query").to_owned();
    let expr = parser::parse_expr(&text).map_err(|e| ApiError::invalid_param("query", e))?;
    let ty = expr.value_type();
    if ty != ValueType::Vector && ty != ValueType::Scalar {
        return Err(ApiError::invalid_param(
            "query",
            format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                ty.documented()
            ),
        ));
    }
    let range = (start.millis(), end.millis(), step_ns / 1_000_000);
    run_query(inner, expr, text, Some(range), params, 0, origin).await
}

/// `/api/v1/query_exemplars`, as Prometheus's `queryExemplars`: the exemplars in
/// `[start, end]` of the series matching any selector of `query`, read from the exemplar
/// storage (an empty list without one, as Prometheus with its `exemplar-storage` feature
/// off). A query without selectors answers an empty list too, where Prometheus answers 204
/// with no body: clients get the same nothing, in JSON.
async fn query_exemplars(inner: &Arc<Inner>, form: &Form) -> ApiResult {
    let start = time_param(form, "start", MIN_TIME)?;
    let end = time_param(form, "end", MAX_TIME)?;
    if end.nanos() < start.nanos() {
        return Err(ApiError::bad_data(
            "end timestamp must not be before start timestamp",
        ));
    }
    let expr =
        parser::parse_expr(form.value("query")).map_err(|e| ApiError::bad_data(e.to_string()))?;
    // Go's parser.ExtractSelectors: one matcher set per vector selector, those of range
    // selectors included.
    let mut selectors: Vec<Vec<model::Matcher>> = Vec::new();
    expr.walk(&mut |e| match e {
        parser::Expr::VectorSelector(v) => selectors.push(v.matchers.clone()),
        parser::Expr::MatrixSelector(m) => {
            selectors.push(m.vector_selector.matchers.clone());
        }
        _ => {}
    });
    let Some(source) = inner.opts.exemplar_queryable.clone() else {
        return Ok(ApiData::json("[]".to_owned()));
    };
    if selectors.is_empty() {
        return Ok(ApiData::json("[]".to_owned()));
    }
    let (start, end) = (start.millis(), end.millis());
    let results = blocking(move || {
        source
            .exemplar_querier()
            .and_then(|q| q.select(start, end, &selectors))
    })
    .await?
    .map_err(exec_error)?;
    let mut data = String::from("[");
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        data.push_str("{\"seriesLabels\":");
        json::write_labels(&mut data, &r.series_labels);
        data.push_str(",\"exemplars\":[");
        for (k, e) in r.exemplars.iter().enumerate() {
            if k > 0 {
                data.push(',');
            }
            data.push_str("{\"labels\":");
            json::write_labels(&mut data, &e.labels);
            data.push_str(",\"value\":");
            json::write_str(&mut data, &json::format_float(e.value));
            data.push_str(",\"timestamp\":");
            json::write_timestamp(&mut data, e.ts);
            data.push('}');
        }
        data.push_str("]}");
    }
    data.push(']');
    Ok(ApiData::json(data))
}

fn format_query(form: &Form) -> ApiResult {
    let expr =
        parser::parse_expr(form.value("query")).map_err(|e| ApiError::invalid_param("query", e))?;
    let mut data = String::new();
    json::write_str(&mut data, &parser::prettify(&expr));
    Ok(ApiData::json(data))
}

fn parse_query(form: &Form) -> ApiResult {
    let expr =
        parser::parse_expr(form.value("query")).map_err(|e| ApiError::invalid_param("query", e))?;
    Ok(ApiData::json(json::to_go_json(&ast::translate(&expr))))
}

/// The `start`/`end` range of a metadata request, in milliseconds.
fn metadata_range(form: &Form) -> Result<(i64, i64), ApiError> {
    let start = time_param(form, "start", MIN_TIME)?;
    let end = time_param(form, "end", MAX_TIME)?;
    Ok((start.millis(), end.millis()))
}

const TRUNCATED: &str = "results truncated due to limit";

async fn series(inner: &Arc<Inner>, form: Form) -> ApiResult {
    let match_values = form.values("match[]");
    if match_values.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let limit = limit_param(&form)?;
    let (mint, maxt) = metadata_range(&form)?;
    let sets = parse_matchers(&match_values).map_err(|e| ApiError::invalid_param("match[]", e))?;
    let queryable = inner.opts.queryable.clone();
    blocking(move || {
        let querier = queryable.querier(mint, maxt).map_err(ApiError::from)?;
        let hints = SelectHints {
            start: mint,
            end: maxt,
            // There is no "series" function: the token tells the storage that no samples
            // are needed.
            func: Some("series".to_owned()),
            limit: hint_limit(limit),
            ..SelectHints::default()
        };
        // As Go: one `match[]` lists the series in the storage's order (the head's is
        // creation order); several are merged, sorted and deduplicated.
        let mut seen: BTreeSet<Labels> = BTreeSet::new();
        let mut listed: Vec<Labels> = Vec::new();
        let mut warnings = Vec::new();
        for matchers in &sets {
            let mut set = querier.select(sets.len() > 1, Some(&hints), matchers);
            while let Some(next) = set.next() {
                let labels = next.map_err(ApiError::from)?.labels().clone();
                if sets.len() > 1 {
                    seen.insert(labels);
                } else {
                    listed.push(labels);
                }
            }
            warnings.extend(set.warnings());
        }
        if sets.len() > 1 {
            listed = seen.into_iter().collect();
        }
        let mut data = String::from("[");
        for (i, labels) in listed.iter().enumerate() {
            if limit > 0 && i == limit {
                warnings.push(TRUNCATED.to_owned());
                break;
            }
            if i > 0 {
                data.push(',');
            }
            json::write_labels(&mut data, labels);
        }
        data.push(']');
        Ok(ApiData {
            data: Some(data),
            warnings,
            infos: Vec::new(),
            status_only: false,
        })
    })
    .await?
}

/// Shared by `/labels` and `/label/<name>/values`: runs `list` for each `match[]` set (or
/// once without matchers), unions, sorts and applies the limit.
async fn list_strings<F>(inner: &Arc<Inner>, form: Form, list: F) -> ApiResult
where
    F: Fn(&dyn storage::Querier, &LabelHints, &[model::Matcher]) -> storage::Result<Vec<String>>
        + Send
        + 'static,
{
    let limit = limit_param(&form)?;
    let (mint, maxt) = metadata_range(&form)?;
    let sets = parse_matchers(&form.values("match[]")).map_err(ApiError::bad_data)?;
    let queryable = inner.opts.queryable.clone();
    blocking(move || {
        let querier = queryable.querier(mint, maxt).map_err(ApiError::from)?;
        let hints = LabelHints {
            limit: hint_limit(limit),
        };
        let all = union_strings(&sets, |matchers| list(querier.as_ref(), &hints, matchers))
            .map_err(exec_error)?;
        let mut warnings = Vec::new();
        let mut data = String::new();
        if limit > 0 && all.len() > limit {
            warnings.push(TRUNCATED.to_owned());
            json::write_str_list(&mut data, all.iter().take(limit).map(String::as_str));
        } else {
            json::write_str_list(&mut data, all.iter().map(String::as_str));
        }
        Ok(ApiData {
            data: Some(data),
            warnings,
            infos: Vec::new(),
            status_only: false,
        })
    })
    .await?
}

/// Runs `list` for each `match[]` set, or once without matchers when there is none, and
/// unions the answers in order (shared by the label listings and the search API).
fn union_strings(
    sets: &[Vec<model::Matcher>],
    mut list: impl FnMut(&[model::Matcher]) -> storage::Result<Vec<String>>,
) -> storage::Result<BTreeSet<String>> {
    let mut all = BTreeSet::new();
    if sets.is_empty() {
        all.extend(list(&[])?);
    }
    for matchers in sets {
        all.extend(list(matchers)?);
    }
    Ok(all)
}

/// Label listing failures are execution errors in Prometheus, unless the storage is not
/// ready yet.
fn exec_error(err: storage::Error) -> ApiError {
    match err {
        storage::Error::NotReady => ApiError::from(err),
        other => ApiError::new(ErrorType::Execution, other.to_string()),
    }
}

async fn label_names(inner: &Arc<Inner>, form: Form) -> ApiResult {
    list_strings(inner, form, |q, hints, matchers| {
        q.label_names(Some(hints), matchers)
    })
    .await
}

async fn label_values(inner: &Arc<Inner>, raw_name: &str, form: Form) -> ApiResult {
    let name = percent_decode(raw_name);
    let name = if let Some(escaped) = name.strip_prefix("U__") {
        unescape_name(escaped).unwrap_or_else(|| name.clone())
    } else {
        name
    };
    if name.is_empty() {
        return Err(ApiError::bad_data(format!(
            "invalid label name: {}",
            crate::params::go_quote(&name)
        )));
    }
    list_strings(inner, form, move |q, hints, matchers| {
        q.label_values(&name, Some(hints), matchers)
    })
    .await
}

/// Decodes `%XX` escapes of a path segment. The handler has answered a path with a bad
/// escape already (400, as Go's server); should one get here, it is kept as written.
fn percent_decode(s: &str) -> String {
    crate::assets::percent_decode(s).unwrap_or_else(|| s.to_owned())
}

/// Go's `model.UnescapeName` for the value-encoding escape (`U__` already stripped):
/// `_2e_` is the code point 0x2e, `__` is `_`. `None` if malformed.
fn unescape_name(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let mut hex = String::new();
        loop {
            match chars.next() {
                Some('_') => break,
                Some(h) if h.is_ascii_hexdigit() => hex.push(h),
                _ => return None,
            }
        }
        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
    }
    Some(out)
}

/// `/api/v1/admin/tsdb/*`: answers 204 on success, as Prometheus.
async fn admin(inner: &Arc<Inner>, path: &str, form: Form) -> ApiResult {
    if !inner.opts.enable_admin_api {
        return Err(ApiError::new(ErrorType::Unavailable, "admin APIs disabled"));
    }
    let Some(admin) = inner.opts.tsdb_admin.clone() else {
        return Err(ApiError::not_implemented("the TSDB admin API"));
    };
    match path {
        "/admin/tsdb/delete_series" => {
            let selectors = form.values("match[]");
            if selectors.is_empty() {
                return Err(ApiError::bad_data("no match[] parameter provided"));
            }
            let start = time_param(&form, "start", MIN_TIME)?;
            let end = time_param(&form, "end", MAX_TIME)?;
            let mut sets = Vec::with_capacity(selectors.len());
            for s in selectors {
                sets.push(
                    parser::parse_metric_selector(s)
                        .map_err(|e| ApiError::invalid_param("match[]", e))?,
                );
            }
            let (mint, maxt) = (start.millis(), end.millis());
            blocking(move || {
                for matchers in &sets {
                    admin
                        .delete_series(mint, maxt, matchers)
                        .map_err(|e| ApiError::new(ErrorType::Internal, e))?;
                }
                Ok(ApiData::status_only())
            })
            .await?
        }
        "/admin/tsdb/clean_tombstones" => {
            blocking(move || {
                admin
                    .clean_tombstones()
                    .map_err(|e| ApiError::new(ErrorType::Internal, e))?;
                Ok(ApiData::status_only())
            })
            .await?
        }
        _ => {
            let skip = form.value("skip_head");
            let skip_head = if skip.is_empty() {
                false
            } else {
                rules::parse_bool(skip).ok_or_else(|| {
                    ApiError::invalid_param(
                        "skip_head",
                        format!(
                            "unable to parse boolean: strconv.ParseBool: parsing {}: invalid syntax",
                            crate::params::go_quote(skip)
                        ),
                    )
                })?
            };
            let name = snapshot_name(SystemTime::now());
            blocking(move || {
                admin
                    .snapshot(&name, !skip_head)
                    .map_err(|e| ApiError::new(ErrorType::Internal, e))?;
                let mut data = String::from("{\"name\":");
                json::write_str(&mut data, &name);
                data.push('}');
                Ok(ApiData::json(data))
            })
            .await?
        }
    }
}

/// Go's snapshot name: the UTC time as `20060102T150405Z0700`, a dash and 16 hex digits of
/// a random non-negative 63-bit number.
fn snapshot_name(now: SystemTime) -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let secs = unix_millis(now).div_euclid(1000);
    let stamp = format_rfc3339(GoTime::unix(secs, 0));
    // `2026-11-24T03:19:30Z` -> `20261124T031930Z`.
    let compact: String = stamp.chars().filter(|c| *c != '-' && *c != ':').collect();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(unix_millis(now));
    let random = h.finish() & (u64::MAX >> 1);
    format!("{compact}-{random:016x}")
}

/// Go's `TSDBStat` list: `[{"name":"up","value":3}]`.
fn write_stats(out: &mut String, key: &str, stats: &[(String, u64)]) {
    out.push('"');
    out.push_str(key);
    out.push_str("\":[");
    for (i, (name, value)) in stats.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json::write_str(out, name);
        out.push_str(",\"value\":");
        out.push_str(&value.to_string());
        out.push('}');
    }
    out.push(']');
}

async fn tsdb_status(inner: &Arc<Inner>, form: &Form) -> ApiResult {
    let Some(stats) = inner.opts.tsdb_stats.clone() else {
        return Err(ApiError::not_implemented("TSDB statistics"));
    };
    let mut limit = 10;
    let s = form.value("limit");
    if !s.is_empty() {
        limit = s
            .parse::<usize>()
            .ok()
            .filter(|l| *l >= 1)
            .ok_or_else(|| ApiError::bad_data("limit must be a positive number"))?;
    }
    let st = blocking(move || stats.tsdb_status(limit))
        .await?
        .map_err(|e| ApiError::new(ErrorType::Internal, e))?;
    let mut out = format!(
        "{{\"headStats\":{{\"numSeries\":{},\"numLabelPairs\":{},\"chunkCount\":{},\"minTime\":{},\"maxTime\":{}}},",
        st.num_series, st.num_label_pairs, st.chunk_count, st.min_time, st.max_time
    );
    write_stats(
        &mut out,
        "seriesCountByMetricName",
        &st.series_count_by_metric_name,
    );
    out.push(',');
    write_stats(
        &mut out,
        "labelValueCountByLabelName",
        &st.label_value_count_by_label_name,
    );
    out.push(',');
    write_stats(
        &mut out,
        "memoryInBytesByLabelName",
        &st.memory_in_bytes_by_label_name,
    );
    out.push(',');
    write_stats(
        &mut out,
        "seriesCountByLabelValuePair",
        &st.series_count_by_label_value_pair,
    );
    out.push('}');
    Ok(ApiData::json(out))
}

fn status_config(inner: &Arc<Inner>) -> ApiResult {
    let yaml = inner
        .opts
        .status
        .config()
        .map(|c| c.to_yaml())
        .unwrap_or_default();
    let mut data = String::from("{\"yaml\":");
    json::write_str(&mut data, &yaml);
    data.push('}');
    Ok(ApiData::json(data))
}

/// Prometheus's `RuntimeInfo`. The Go runtime's fields are answered with their nearest
/// honest equivalent here: tasks for goroutines, runtime worker threads for GOMAXPROCS, no
/// memory limit, and the `GOGC`/`GODEBUG` environment variables as they are set.
#[derive(serde::Serialize)]
struct RuntimeInfo {
    #[serde(rename = "startTime")]
    start_time: String,
    #[serde(rename = "CWD")]
    cwd: String,
    hostname: String,
    #[serde(rename = "serverTime")]
    server_time: String,
    #[serde(rename = "reloadConfigSuccess")]
    reload_config_success: bool,
    #[serde(rename = "lastConfigTime")]
    last_config_time: String,
    #[serde(rename = "corruptionCount")]
    corruption_count: i64,
    #[serde(rename = "goroutineCount")]
    goroutine_count: usize,
    #[serde(rename = "GOMAXPROCS")]
    gomaxprocs: usize,
    #[serde(rename = "GOMEMLIMIT")]
    gomemlimit: i64,
    #[serde(rename = "GOGC")]
    gogc: String,
    #[serde(rename = "GODEBUG")]
    godebug: String,
    #[serde(rename = "storageRetention")]
    storage_retention: String,
}

fn runtime_info(inner: &Arc<Inner>) -> ApiResult {
    let status = &inner.opts.status;
    let metrics = tokio::runtime::Handle::current().metrics();
    let info = RuntimeInfo {
        start_time: format_rfc3339(GoTime::from_millis(status.start_time_ms())),
        cwd: std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default(),
        server_time: format_rfc3339(GoTime::from_system(SystemTime::now())),
        reload_config_success: status.last_reload_successful(),
        // Go reads it back from the whole-seconds gauge
        // prometheus_config_last_reload_success_timestamp_seconds.
        last_config_time: format_rfc3339(GoTime::unix(
            status.last_reload_success_ms().div_euclid(1000),
            0,
        )),
        corruption_count: inner
            .opts
            .tsdb_stats
            .as_ref()
            .map_or(0, |s| s.wal_corruptions()),
        goroutine_count: metrics.num_alive_tasks(),
        gomaxprocs: metrics.num_workers(),
        gomemlimit: i64::MAX,
        // Prometheus 3 writes the configuration's `runtime.gogc` (default 75, or the GOGC
        // it started with) into GOGC for this answer.
        gogc: status.config().map_or_else(
            || std::env::var("GOGC").unwrap_or_default(),
            |c| match c.runtime.gogc {
                n if n < 0 => "off".to_owned(),
                n => n.to_string(),
            },
        ),
        godebug: std::env::var("GODEBUG").unwrap_or_default(),
        storage_retention: inner.opts.storage_retention.clone(),
    };
    Ok(ApiData::json(json::to_go_json(&info)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve_with_methods() {
        assert!(matches!(
            route(&Method::GET, "/query"),
            Route::Endpoint("/api/v1/query")
        ));
        assert!(matches!(
            route(&Method::GET, "/label/job/values"),
            Route::Endpoint("/api/v1/label/:name/values")
        ));
        assert!(matches!(
            route(&Method::PUT, "/query"),
            Route::MethodNotAllowed(GET_POST)
        ));
        assert!(matches!(
            route(&Method::OPTIONS, "/nope"),
            Route::Endpoint(OPTIONS_LABEL)
        ));
        assert!(matches!(route(&Method::GET, "/nope"), Route::NotFound));
        // A label name is one segment, also when its slash is escaped.
        assert!(matches!(
            route(&Method::GET, "/label/a/b/values"),
            Route::NotFound
        ));
        assert!(matches!(
            route(&Method::GET, "/label/a%2Fb/values"),
            Route::NotFound
        ));
        assert!(matches!(
            route(&Method::GET, "/rules"),
            Route::Endpoint("/api/v1/rules")
        ));
    }

    #[test]
    fn escaped_label_names_are_unescaped() {
        assert_eq!(unescape_name("foo_2e_bar").as_deref(), Some("foo.bar"));
        assert_eq!(unescape_name("a__b").as_deref(), Some("a_b"));
        assert_eq!(unescape_name("bad_zz_"), None);
        assert_eq!(percent_decode("a%2Fb"), "a/b");
    }

    /// Runs `query` from 1s to 3s every second over two series with samples at 1s and
    /// 2s, with the `stats` parameter given and the engine's per-step statistics on or off.
    fn range_stats(stats: &str, per_step_feature: bool) -> (bool, String) {
        use storage::{Appendable, MemStorage};
        let db = Arc::new(MemStorage::new());
        let mut app = db.appender();
        for job in ["a", "b"] {
            let l = model::Labels::from_pairs([("__name__", "up"), ("job", job)]);
            app.append(0, &l, 1_000, 1.0).expect("append");
            app.append(0, &l, 2_000, 1.0).expect("append");
        }
        app.commit().expect("commit");
        let engine = promql::Engine::new(promql::EngineOpts {
            enable_per_step_stats: per_step_feature,
            ..promql::EngineOpts::default()
        });
        let form = Form::parse(format!("stats={stats}&lookback_delta=1m").as_bytes(), None);
        let mut params = QueryParams::parse(&form).expect("params");
        // As `query` and `query_range` do.
        params.opts = query_opts(&form).expect("query options");
        let expr = parser::parse_expr("count_over_time(up[2s])").expect("parse");
        let res = engine
            .range_query_expr(db, &expr, "", 1_000, 3_000, 1_000, &params.opts)
            .expect("query");
        let mut res = res;
        // Fixed timings, so that the test can compare the whole object.
        res.timings = promql::QueryTimings {
            eval_total: Duration::from_millis(2),
            inner_eval: Duration::from_millis(2),
            exec_total: Duration::from_millis(2),
            ..promql::QueryTimings::default()
        };
        let mut out = String::new();
        write_stats_json(&mut out, Duration::from_millis(1), &res);
        (params.stats, out)
    }

    #[test]
    fn range_query_stats_are_shaped_as_prometheus() {
        // Windows (t-2s, t]: 1 point per series at 1s and 3s, 2 at 2s; the window at 2s
        // adds one point per series, the one at 3s none. The peak: both outputs (3 + 3)
        // and the second series' last window (1).
        let (on, json) = range_stats("all", true);
        assert!(on);
        assert_eq!(
            json,
            "{\"timings\":{\"evalTotalTime\":0.002,\"resultSortTime\":0,\"queryPreparationTime\":0,\"innerEvalTime\":0.002,\"execQueueTime\":0.001,\"execTotalTime\":0.003},\"samples\":{\"totalQueryableSamplesPerStep\":[[1,2],[2,4],[3,2]],\"totalQueryableSamples\":8,\"samplesReadPerStep\":[[1,2],[2,2],[3,0]],\"samplesRead\":4,\"peakSamples\":7}}"
        );
        // Per-step counts need both `stats=all` and the engine feature.
        let samples =
            "\"samples\":{\"totalQueryableSamples\":8,\"samplesRead\":4,\"peakSamples\":7}}";
        for (stats, feature) in [("all", false), ("true", true), ("1", false)] {
            let (on, json) = range_stats(stats, feature);
            assert!(on, "{stats}");
            assert!(json.ends_with(samples), "{stats} {feature}: {json}");
        }
        assert!(!range_stats("", true).0);
    }
}
