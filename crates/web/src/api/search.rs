//! `/api/v1/search/*`: Prometheus's experimental search API (`--enable-feature=search-api`).
//!
//! Answers `metric_names`, `label_names` and `label_values` as web/api/v1/search.go does.
//!
//! Values come from the same storage listing as `/api/v1/labels` and
//! `/api/v1/label/<name>/values` (the union over the `match[]` sets), are filtered by the
//! `search[]` terms (substring with a position score, or-ed with Jaro-Winkler, or a scored
//! subsequence match), ordered, limited and written as
//!
//! ```text
//! {"results":[{"name":"up"}]}
//! {"status":"success","has_more":false}
//! ```
//!
//! Prometheus streams the batches as the storage produces them; here the answer is computed
//! first (it is bounded by `limit`) and sent as one body, which is the same bytes. Errors
//! before the first batch are the usual JSON error envelope.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;
use model::Matcher;
use storage::LabelHints;

use crate::error::{ApiError, ErrorType};
use crate::handler::Inner;
use crate::params::{Form, go_quote, parse_matchers, parse_time};
use crate::status::unix_millis;
use crate::timefmt::GoTime;

/// The `limit` when the request has none (clamped to a smaller `--web.search.max-limit`).
const DEFAULT_LIMIT: usize = 100;
/// The `batch_size` when the request has none.
const DEFAULT_BATCH_SIZE: usize = 100;
/// Batches never hold more than this many results, whatever the request asks.
const MAX_BATCH_SIZE: usize = 1000;
/// At most this many `search[]` terms are accepted.
const MAX_SEARCH_TERMS: usize = 32;
/// `--web.search.max-limit`'s default: the largest `limit` a request may ask for.
const DEFAULT_MAX_LIMIT: usize = 10_000;
/// The supported `fuzz_alg` values; the first is the default.
const FUZZ_ALGORITHMS: [&str; 2] = ["jarowinkler", "subsequence"];

/// The NDJSON content type of a successful answer.
const CONTENT_TYPE: &str = "application/x-ndjson; charset=utf-8";

/// Which search endpoint a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    MetricNames,
    LabelNames,
    LabelValues,
}

impl Endpoint {
    fn of(path: &str) -> Option<Endpoint> {
        match path {
            "/search/metric_names" => Some(Endpoint::MetricNames),
            "/search/label_names" => Some(Endpoint::LabelNames),
            "/search/label_values" => Some(Endpoint::LabelValues),
            _ => None,
        }
    }

    /// The name used in error messages.
    fn name(self) -> &'static str {
        match self {
            Endpoint::MetricNames => "metric_names",
            Endpoint::LabelNames => "label_names",
            Endpoint::LabelValues => "label_values",
        }
    }
}

/// The order of the results (`sort_by`, `sort_dir`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// By value, ascending (the default and `sort_by=alpha`).
    ValueAsc,
    /// By value, descending (`sort_by=alpha&sort_dir=dsc`).
    ValueDesc,
    /// By score, highest first, then by value ascending (`sort_by=score`).
    ScoreDesc,
}

/// How a search term is matched (`fuzz_alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FuzzAlg {
    /// A substring match scored by its position, or (with a threshold above 0) a
    /// Jaro-Winkler similarity at least the threshold.
    JaroWinkler,
    /// Every query character in order, scored by runs and gaps.
    Subsequence,
}

/// The parameters shared by the three endpoints (Go's `searchParams`).
#[derive(Debug)]
struct SearchParams {
    matcher_sets: Vec<Vec<Matcher>>,
    filter: Option<SearchFilter>,
    order: Order,
    include_score: bool,
    /// The storage window in milliseconds.
    start: i64,
    end: i64,
    limit: usize,
    batch_size: usize,
}

/// Answers a search endpoint (`path` relative to `/api/v1`) with its NDJSON body.
pub(crate) async fn serve(inner: &Arc<Inner>, path: &str, form: Form) -> Result<String, ApiError> {
    let Some(endpoint) = Endpoint::of(path) else {
        return Err(ApiError::new(ErrorType::NotFound, "no such endpoint"));
    };
    let flags = &inner.opts.flags;
    let feature_on = flags
        .get("enable-feature")
        .is_some_and(|list| list.split(',').any(|f| f.trim() == "search-api"));
    if !feature_on {
        // As Prometheus without `--enable-feature=search-api` (a 500, as `unavailable`).
        return Err(ApiError::new(ErrorType::Unavailable, "search API disabled"));
    }
    if inner.opts.agent {
        return Err(ApiError::new(
            ErrorType::Execution,
            "unavailable with Prometheus Agent",
        ));
    }
    let max_limit = flags
        .get("web.search.max-limit")
        .and_then(|v| v.parse::<i64>().ok())
        // Zero or less: no cap, as Prometheus.
        .map_or(DEFAULT_MAX_LIMIT, |n| usize::try_from(n).unwrap_or(0));
    let now = GoTime::from_millis(unix_millis(SystemTime::now()));
    let params = parse_params(&form, now, max_limit, endpoint)?;

    let queryable = inner.opts.queryable.clone();
    let label = match endpoint {
        Endpoint::MetricNames => Some(model::METRIC_NAME.to_owned()),
        Endpoint::LabelNames => None,
        Endpoint::LabelValues => Some(form.value("label").to_owned()),
    };
    // Only `metric_names` reads `include_metadata`.
    let include_metadata = match endpoint {
        Endpoint::MetricNames => {
            bool_param("include_metadata", form.value("include_metadata"), false)
        }
        _ => Ok(false),
    };
    let (start, end) = (params.start, params.end);
    let sets = params.matcher_sets.clone();
    let (values, include_metadata) = super::blocking(move || {
        // Prometheus opens the querier before it looks at `include_metadata` and `label`.
        let querier = queryable.querier(start, end).map_err(search_error)?;
        let include_metadata = include_metadata?;
        if label.as_deref() == Some("") {
            return Err(ApiError::bad_data("missing required parameter \"label\""));
        }
        let hints = LabelHints::default();
        super::union_strings(&sets, |matchers| match &label {
            Some(name) => querier.label_values(name, Some(&hints), matchers),
            None => querier.label_names(Some(&hints), matchers),
        })
        .map_err(search_error)
        .map(|values| (values, include_metadata))
    })
    .await??;
    let metadata = include_metadata.then(|| metadata_map(inner));

    let (results, has_more) = rank(values, &params);
    let mut out = String::new();
    let mut item = String::new();
    let chunks: Vec<&[Scored]> = if results.is_empty() {
        vec![&[]]
    } else {
        results.chunks(params.batch_size).collect()
    };
    for chunk in chunks {
        out.push_str("{\"results\":[");
        for (i, r) in chunk.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            item.clear();
            write_result(&mut item, endpoint, r, &params, metadata.as_ref());
            out.push_str(&item);
        }
        out.push_str("]}\n");
    }
    let _ = writeln!(out, "{{\"status\":\"success\",\"has_more\":{has_more}}}");
    Ok(out)
}

/// The HTTP answer for a successful search.
pub(crate) fn ndjson_response(body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp
}

/// Go's `searchAPIError`: a storage that is not ready is `unavailable`, a cancelled
/// request `canceled`, anything else an execution error.
fn search_error(err: storage::Error) -> ApiError {
    let kind = match err {
        storage::Error::NotReady => ErrorType::Unavailable,
        storage::Error::Cancelled => ErrorType::Canceled,
        _ => ErrorType::Execution,
    };
    ApiError::new(kind, err.to_string())
}

/// Go's `parseSearchParams` followed by the `sort_by` check, in Prometheus's order.
fn parse_params(
    form: &Form,
    now: GoTime,
    max_limit: usize,
    endpoint: Endpoint,
) -> Result<SearchParams, ApiError> {
    let time = |name: &str, default: GoTime| -> Result<GoTime, ApiError> {
        let v = form.value(name);
        if v.is_empty() {
            return Ok(default);
        }
        parse_time(v)
            .map_err(|e| ApiError::bad_data(format!("invalid time value for '{name}': {e}")))
    };
    let start = time("start", GoTime::from_millis(now.millis() - 3_600_000))?;
    let end = time("end", now)?;
    if end.nanos() < start.nanos() {
        return Err(ApiError::bad_data(
            "end timestamp must not be before start timestamp",
        ));
    }
    let matcher_sets = parse_matchers(&form.values("match[]")).map_err(ApiError::bad_data)?;

    let searches = form.values("search[]");
    if searches.len() > MAX_SEARCH_TERMS {
        return Err(ApiError::bad_data(format!(
            "too many search[] terms: got {}, maximum is {MAX_SEARCH_TERMS}",
            searches.len()
        )));
    }
    let mut fuzz_threshold = 0;
    let v = form.value("fuzz_threshold");
    if !v.is_empty() {
        fuzz_threshold = v
            .parse::<i64>()
            .ok()
            .and_then(|t| u8::try_from(t).ok())
            .filter(|t| *t <= 100)
            .ok_or_else(|| {
                ApiError::bad_data(format!(
                    "invalid fuzz_threshold {}: must be 0-100",
                    go_quote(v)
                ))
            })?;
    }
    let mut fuzz_alg = FuzzAlg::JaroWinkler;
    let v = form.value("fuzz_alg");
    if !v.is_empty() {
        fuzz_alg = match v {
            "jarowinkler" => FuzzAlg::JaroWinkler,
            "subsequence" => FuzzAlg::Subsequence,
            _ => {
                return Err(ApiError::bad_data(format!(
                    "unsupported fuzz_alg {}: must be one of [{}]",
                    go_quote(v),
                    FUZZ_ALGORITHMS.join(" ")
                )));
            }
        };
    }
    let case_sensitive = bool_param("case_sensitive", form.value("case_sensitive"), true)?;
    let include_score = bool_param("include_score", form.value("include_score"), false)?;

    let sort_by = form.value("sort_by");
    let mut sort_dir = form.value("sort_dir");
    if !sort_dir.is_empty() && sort_by.is_empty() {
        return Err(ApiError::bad_data(
            "sort_dir is only valid when sort_by is set",
        ));
    }
    if !sort_dir.is_empty() && sort_by == "score" {
        return Err(ApiError::bad_data(
            "sort_dir is not supported for sort_by=score",
        ));
    }
    if sort_dir.is_empty() {
        sort_dir = "asc";
    }
    if sort_dir != "asc" && sort_dir != "dsc" {
        return Err(ApiError::bad_data(format!(
            "invalid sort_dir {}: must be \"asc\" or \"dsc\"",
            go_quote(sort_dir)
        )));
    }
    if sort_by == "score" && searches.is_empty() {
        return Err(ApiError::bad_data(
            "sort_by=score requires search[] to be set",
        ));
    }

    let mut limit = DEFAULT_LIMIT;
    if max_limit > 0 {
        limit = limit.min(max_limit);
    }
    let v = form.value("limit");
    if !v.is_empty() {
        let l = positive_int(v).ok_or_else(|| {
            ApiError::bad_data(format!(
                "invalid limit {}: must be a positive integer",
                go_quote(v)
            ))
        })?;
        if max_limit > 0 && l > max_limit {
            return Err(ApiError::bad_data(format!(
                "limit {l} exceeds the configured maximum ({max_limit}, see --web.search.max-limit)"
            )));
        }
        limit = l;
    }
    let mut batch_size = DEFAULT_BATCH_SIZE;
    let v = form.value("batch_size");
    if !v.is_empty() {
        batch_size = positive_int(v).ok_or_else(|| {
            ApiError::bad_data(format!(
                "invalid batch_size {}: must be a positive integer",
                go_quote(v)
            ))
        })?;
    }
    let batch_size = batch_size.min(limit).min(MAX_BATCH_SIZE);

    let order = match sort_by {
        "" => Order::ValueAsc,
        "alpha" if sort_dir == "dsc" => Order::ValueDesc,
        "alpha" => Order::ValueAsc,
        "score" => Order::ScoreDesc,
        other => {
            return Err(ApiError::bad_data(format!(
                "invalid sort_by {} for {}: must be \"alpha\" or \"score\"",
                go_quote(other),
                endpoint.name()
            )));
        }
    };
    Ok(SearchParams {
        matcher_sets,
        filter: SearchFilter::new(&searches, fuzz_threshold, fuzz_alg, case_sensitive),
        order,
        include_score,
        start: start.millis(),
        end: end.millis(),
        limit,
        batch_size,
    })
}

/// Go's `strconv.Atoi` for a value that must be above zero.
fn positive_int(s: &str) -> Option<usize> {
    s.parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .map(|v| usize::try_from(v).unwrap_or(usize::MAX))
}

/// Go's `strconv.ParseBool` with the search API's error.
fn bool_param(name: &str, value: &str, default: bool) -> Result<bool, ApiError> {
    if value.is_empty() {
        return Ok(default);
    }
    super::rules::parse_bool(value).ok_or_else(|| {
        ApiError::bad_data(format!(
            "invalid {name} {}: must be boolean",
            go_quote(value)
        ))
    })
}

/// A value that passed the filter, with its score.
#[derive(Debug, Clone, PartialEq)]
struct Scored {
    value: String,
    score: f64,
}

/// Filters the (ascending, distinct) values, orders them and keeps `limit` of them; the
/// flag says whether more matched (Go's `has_more`).
fn rank(values: impl IntoIterator<Item = String>, params: &SearchParams) -> (Vec<Scored>, bool) {
    let mut results: Vec<Scored> = values
        .into_iter()
        .filter_map(|value| {
            let score = match &params.filter {
                None => 1.0,
                Some(f) => f.accept(&value)?,
            };
            Some(Scored { value, score })
        })
        .collect();
    match params.order {
        Order::ValueAsc => {}
        Order::ValueDesc => results.reverse(),
        Order::ScoreDesc => results.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.value.cmp(&b.value))
        }),
    }
    let has_more = results.len() > params.limit;
    results.truncate(params.limit);
    (results, has_more)
}

/// Appends one result record: `{"name":..}` (metric and label names) or `{"value":..}`,
/// with `score` when asked for and the metric's type, help and unit when known.
fn write_result(
    out: &mut String,
    endpoint: Endpoint,
    r: &Scored,
    params: &SearchParams,
    metadata: Option<&MetadataMap>,
) {
    out.push_str(if endpoint == Endpoint::LabelValues {
        "{\"value\":"
    } else {
        "{\"name\":"
    });
    crate::json::write_str(out, &r.value);
    if params.include_score {
        out.push_str(",\"score\":");
        model::strconv::write_float_json(out, r.score);
    }
    if let Some(md) = metadata.and_then(|m| metadata_for_metric(m, &r.value)) {
        let fields = [
            ("type", md.metric_type.as_str()),
            ("help", md.help.as_str()),
            ("unit", md.unit.as_str()),
        ];
        for (key, value) in fields {
            if !value.is_empty() {
                let _ = write!(out, ",\"{key}\":");
                crate::json::write_str(out, value);
            }
        }
    }
    out.push('}');
}

/// Metric metadata by family name: the first one seen of each distinct type.
type MetadataMap = BTreeMap<String, Vec<scrape::MetricMetadata>>;

/// Go's `buildMetricMetadataMap`: the metadata of every active target, from the same source
/// as `/api/v1/metadata` (empty without scraping).
fn metadata_map(inner: &Arc<Inner>) -> MetadataMap {
    let mut out = MetadataMap::new();
    let Some(manager) = &inner.opts.scrape else {
        return out;
    };
    for (_, list) in manager.metadata() {
        add_metadata(&mut out, list);
    }
    out
}

fn add_metadata(map: &mut MetadataMap, list: Vec<scrape::MetricMetadata>) {
    for md in list {
        let entry = map.entry(md.metric_family.clone()).or_default();
        if !entry.iter().any(|m| m.metric_type == md.metric_type) {
            entry.push(md);
        }
    }
}

/// Go's `metadataForMetric`: the family of the exact name, else of the name without its
/// last `_suffix` when the family's type has series with that suffix.
fn metadata_for_metric<'a>(map: &'a MetadataMap, name: &str) -> Option<&'a scrape::MetricMetadata> {
    if let Some(md) = map.get(name).and_then(|mds| mds.first()) {
        return Some(md);
    }
    let i = name.rfind('_')?;
    let (family, suffix) = name.split_at(i);
    map.get(family)?
        .iter()
        .find(|md| type_allows_suffix(md.metric_type, suffix))
}

/// Whether series of a family of type `ty` can be named with `suffix` (`_created` holds a
/// timestamp, not a value of the family, and is not accepted).
fn type_allows_suffix(ty: scrape::textparse::MetricType, suffix: &str) -> bool {
    use scrape::textparse::MetricType as T;
    match suffix {
        "_total" => ty == T::Counter,
        "_bucket" => matches!(ty, T::Histogram | T::GaugeHistogram),
        "_sum" | "_count" => matches!(ty, T::Histogram | T::GaugeHistogram | T::Summary),
        "_gsum" | "_gcount" => ty == T::GaugeHistogram,
        "_info" => ty == T::Info,
        _ => false,
    }
}

/// The `search[]` terms as one filter: a value passes when any term accepts it, scoring the
/// best of them (Go's `buildSearchFilter`).
#[derive(Debug, Clone)]
pub(crate) struct SearchFilter {
    terms: Vec<String>,
    /// `fuzz_threshold / 100`.
    threshold: f64,
    /// Whether the Jaro-Winkler fallback is on (`fuzz_threshold > 0`).
    fuzzy: bool,
    alg: FuzzAlg,
    /// `case_sensitive=false`: terms and values are compared in lower case.
    fold_case: bool,
}

impl SearchFilter {
    /// The filter of `searches`, or `None` when no term is left after dropping empty ones
    /// (every value passes, scoring 1).
    fn new(
        searches: &[&str],
        fuzz_threshold: u8,
        alg: FuzzAlg,
        case_sensitive: bool,
    ) -> Option<SearchFilter> {
        let terms: Vec<String> = searches
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| {
                if case_sensitive {
                    (*s).to_owned()
                } else {
                    go_lower(s)
                }
            })
            .collect();
        if terms.is_empty() {
            return None;
        }
        Some(SearchFilter {
            terms,
            threshold: f64::from(fuzz_threshold) / 100.0,
            fuzzy: fuzz_threshold > 0,
            alg,
            fold_case: !case_sensitive,
        })
    }

    /// The value's score when some term accepts it.
    fn accept(&self, value: &str) -> Option<f64> {
        let folded;
        let value = if self.fold_case {
            folded = go_lower(value);
            folded.as_str()
        } else {
            value
        };
        let mut best: Option<f64> = None;
        for term in &self.terms {
            if let Some(score) = self.accept_term(term, value) {
                let max = best.map_or(score, |b| b.max(score));
                best = Some(max);
                if max >= 1.0 {
                    break;
                }
            }
        }
        best
    }

    fn accept_term(&self, term: &str, value: &str) -> Option<f64> {
        match self.alg {
            FuzzAlg::Subsequence => {
                if value.starts_with(term) {
                    return Some(1.0);
                }
                let score = subsequence_score(term, value);
                (score > 0.0 && score >= self.threshold).then_some(score)
            }
            FuzzAlg::JaroWinkler => {
                if let Some(score) = substring_score(term, value) {
                    return Some(score);
                }
                if !self.fuzzy {
                    return None;
                }
                let score = jaro_winkler(term, value);
                (score >= self.threshold).then_some(score)
            }
        }
    }
}

/// Go's `strings.ToLower`: each character's simple lower-case mapping.
fn go_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars()
        .map(|c| c.to_lowercase().next().unwrap_or(c))
        .collect()
}

/// A substring match of `query` in `value`: 1 at the start, else falling linearly with the
/// position (in characters) to 0.1 at the last possible position.
fn substring_score(query: &str, value: &str) -> Option<f64> {
    if query.is_empty() {
        return Some(1.0);
    }
    let idx = value.find(query)?;
    if idx == 0 {
        return Some(1.0);
    }
    let (pos, max_pos) = if query.is_ascii() && value.is_ascii() {
        (idx, value.len() - query.len())
    } else {
        let pos = value[..idx].chars().count();
        let max = value.chars().count().saturating_sub(query.chars().count());
        (pos, max)
    };
    if max_pos == 0 {
        return Some(1.0);
    }
    #[allow(clippy::cast_precision_loss)]
    Some(1.0 - 0.9 * pos as f64 / max_pos as f64)
}

/// Go's `strutil.SubsequenceScore`: 0 unless every character of `pattern` appears in `text`
/// in order; otherwise the best over the start positions of the sum of squared run lengths
/// minus the leading and inner gaps (and half the trailing gap) as fractions of the text
/// length, divided by the pattern length squared. Only an exact match scores 1.
pub(crate) fn subsequence_score(pattern: &str, text: &str) -> f64 {
    if pattern.is_empty() || pattern == text {
        return 1.0;
    }
    if text.is_empty() || pattern.len() > text.len() {
        return 0.0;
    }
    if text.is_ascii() {
        if !pattern.is_ascii() {
            return 0.0;
        }
        return subsequence_slices(pattern.as_bytes(), text.as_bytes());
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    subsequence_slices(&p, &t)
}

#[allow(clippy::cast_precision_loss)]
fn subsequence_slices<T: PartialEq>(pattern: &[T], text: &[T]) -> f64 {
    let (pl, tl) = (pattern.len(), text.len());
    let Some(max_start) = tl.checked_sub(pl) else {
        return 0.0;
    };
    let inv = 1.0 / tl as f64;
    let mut best = -1.0_f64;
    for start in 0..=max_start {
        if text[start] != pattern[0] {
            continue;
        }
        // When the pattern cannot be completed from here, no later start can complete it.
        let Some(score) = subsequence_from(pattern, text, start, inv) else {
            break;
        };
        if score > best {
            best = score;
        }
    }
    if best < 0.0 {
        0.0
    } else {
        best / (pl * pl) as f64
    }
}

/// The raw score of the greedy match of `pattern` in `text` from `start`.
#[allow(clippy::cast_precision_loss)]
fn subsequence_from<T: PartialEq>(
    pattern: &[T],
    text: &[T],
    start: usize,
    inv: f64,
) -> Option<f64> {
    let (pl, tl) = (pattern.len(), text.len());
    let mut pi = 0;
    let mut i = start;
    let mut score = 0.0;
    let mut prev_to: Option<usize> = None;
    while i < tl && pi < pl {
        if text[i] != pattern[pi] {
            i += 1;
            continue;
        }
        let from = i;
        let mut to = i;
        pi += 1;
        i += 1;
        while i < tl && pi < pl && text[i] == pattern[pi] {
            to = i;
            pi += 1;
            i += 1;
        }
        let gap = prev_to.map_or(from, |p| from - p - 1);
        if gap > 0 {
            score -= gap as f64 * inv;
        }
        let size = to - from + 1;
        score += (size * size) as f64;
        prev_to = Some(to);
    }
    if pi < pl {
        return None;
    }
    let last = prev_to?;
    let trailing = tl - 1 - last;
    if trailing > 0 {
        score -= trailing as f64 * inv * 0.5;
    }
    Some(score)
}

/// Go's `strutil.JaroWinklerMatcher.Score`: the Jaro similarity (matches within half the
/// longer length, half-counted transpositions) boosted by 0.1 per common prefix character
/// (at most 4), with no boost threshold.
pub(crate) fn jaro_winkler(a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    if a.is_ascii() && b.is_ascii() {
        return jaro_winkler_slices(a.as_bytes(), b.as_bytes());
    }
    let x: Vec<char> = a.chars().collect();
    let y: Vec<char> = b.chars().collect();
    jaro_winkler_slices(&x, &y)
}

#[allow(clippy::cast_precision_loss)]
fn jaro_winkler_slices<T: PartialEq>(a: &[T], b: &[T]) -> f64 {
    // The shorter string drives the matching.
    let (s1, s2) = if a.len() > b.len() { (b, a) } else { (a, b) };
    let (l1, l2) = (s1.len(), s2.len());
    let match_distance = (l2 / 2).saturating_sub(1);
    let mut m1 = vec![false; l1];
    let mut m2 = vec![false; l2];
    let mut matches = 0.0_f64;
    for i in 0..l1 {
        let start = i.saturating_sub(match_distance);
        let end = (i + match_distance + 1).min(l2);
        for j in start..end {
            if m2[j] || s1[i] != s2[j] {
                continue;
            }
            m1[i] = true;
            m2[j] = true;
            matches += 1.0;
            break;
        }
    }
    if matches == 0.0 {
        return 0.0;
    }
    let mut transpositions = 0.0_f64;
    let mut k = 0;
    for i in 0..l1 {
        if !m1[i] {
            continue;
        }
        while !m2[k] {
            k += 1;
        }
        if s1[i] != s2[k] {
            transpositions += 1.0;
        }
        k += 1;
    }
    let inv1 = 1.0 / l1 as f64;
    let inv2 = 1.0 / l2 as f64;
    let jaro = (matches * inv1 + matches * inv2 + (matches - transpositions * 0.5) / matches) / 3.0;
    let mut prefix = 0;
    while prefix < l1.min(4) && s1[prefix] == s2[prefix] {
        prefix += 1;
    }
    jaro + prefix as f64 * 0.1 * (1.0 - jaro)
}

#[cfg(test)]
mod tests {
    use super::*;
    use scrape::textparse::MetricType;

    fn form(query: &str) -> Form {
        Form::parse(b"", Some(query))
    }

    /// `now` as Prometheus's tests pin it: 7200s.
    fn params_with(query: &str, max_limit: usize) -> Result<SearchParams, ApiError> {
        parse_params(
            &form(query),
            GoTime::unix(7200, 0),
            max_limit,
            Endpoint::MetricNames,
        )
    }

    fn params(query: &str) -> Result<SearchParams, ApiError> {
        params_with(query, 0)
    }

    fn err(query: &str) -> String {
        let e = params(query).unwrap_err();
        assert_eq!(e.kind, ErrorType::BadData, "{query}");
        e.message
    }

    #[test]
    fn subsequence_scores_match_prometheus() {
        let cases: [(&str, &str, f64); 13] = [
            ("", "anything", 1.0),
            ("abc", "", 0.0),
            ("my awesome text", "my awesome text", 1.0),
            ("my", "my awesome text", 107.0 / 120.0),
            ("tex", "my awesome text", 247.0 / 270.0),
            ("met", "my awesome text", 43.0 / 90.0),
            ("bac", "babac", 43.0 / 45.0),
            ("abcd", "abc", 0.0),
            ("abc", "éé", 0.0),
            ("xyz", "abc", 0.0),
            ("éà", "éàü", 23.0 / 24.0),
            ("oa", "goat", 29.0 / 32.0),
            // The greedy match, not the best one (49/80), as Prometheus.
            ("abaa", "abbaa", 39.0 / 80.0),
        ];
        for (pattern, text, want) in cases {
            let got = subsequence_score(pattern, text);
            assert!((got - want).abs() < 1e-9, "{pattern:?} in {text:?}: {got}");
        }
        assert_eq!(subsequence_score("éàü", "éàü"), 1.0);
        assert_eq!(subsequence_score("üé", "éàü"), 0.0);
        assert!((subsequence_score("aé", "aéb") - 23.0 / 24.0).abs() < 1e-9);
        // Characters sharing a leading UTF-8 byte are different characters.
        assert_eq!(subsequence_score("é", "ã"), 0.0);
        assert!((subsequence_score("pro", "prometheus") - 173.0 / 180.0).abs() < 1e-9);
        assert!(subsequence_score("abc", "abcdef") > subsequence_score("abc", "defabc"));
        assert!(subsequence_score("abc", "xabcx") > subsequence_score("abc", "xaxbxcx"));
    }

    #[test]
    fn jaro_winkler_scores_match_prometheus() {
        let cases: [(&str, &str, f64, f64); 21] = [
            ("prometheus", "prometheus", 1.0, 1.0),
            ("", "", 1.0, 1.0),
            ("", "abc", 0.0, 0.0),
            ("abc", "xyz", 0.0, 0.01),
            ("mimir", "mimer", 0.90, 0.92),
            ("martha", "marhta", 0.96, 0.97),
            ("dwayne", "duane", 0.83, 0.85),
            ("dixon", "dicksonx", 0.81, 0.83),
            ("a", "a", 1.0, 1.0),
            ("a", "b", 0.0, 0.0),
            ("prefix_abc", "prefix_xyz", 0.80, 0.90),
            ("café", "cafe", 0.88, 0.89),
            ("naïve", "naive", 0.89, 0.90),
            ("résumé", "resume", 0.79, 0.81),
            ("café", "", 0.0, 0.0),
            ("café", "cafè", 0.88, 0.89),
            ("préfixe_abc", "préfixe_xyz", 0.80, 0.90),
            ("naïve_long", "naïve", 0.89, 0.91),
            ("äöü", "éèê", 0.0, 0.01),
            ("màrthà", "màrhtà", 0.96, 0.97),
            ("prometheus", "promethus", 0.979, 0.981),
        ];
        for (a, b, lo, hi) in cases {
            let got = jaro_winkler(a, b);
            assert!((lo..=hi).contains(&got), "{a:?} vs {b:?}: {got}");
            assert!(
                (got - jaro_winkler(b, a)).abs() < 1e-10,
                "symmetry {a:?} {b:?}"
            );
        }
        let long = format!("promethus{}", "x".repeat(128));
        assert!((0.79..=0.80).contains(&jaro_winkler("prometheus", &long)));
        assert_eq!(jaro_winkler("prometheus", &"z".repeat(256)), 0.0);
    }

    /// Prometheus's `TestMatchName`: the Jaro-Winkler filter of one term.
    #[test]
    fn jaro_winkler_filter_matches_names_as_prometheus() {
        let accept = |term: &str, threshold: u8, case_sensitive: bool| {
            SearchFilter::new(&[term], threshold, FuzzAlg::JaroWinkler, case_sensitive)
                .unwrap()
                .accept("go_goroutines")
        };
        assert!(SearchFilter::new(&[""], 100, FuzzAlg::JaroWinkler, true).is_none());
        assert_eq!(accept("go_gor", 100, true), Some(1.0));
        assert_eq!(accept("GO_GOR", 100, true), None);
        assert_eq!(accept("GO_GOR", 100, false), Some(1.0));
        assert_eq!(accept("xyz_not_found", 100, true), None);
        assert!(accept("go_goroutins", 80, true).is_some());
        assert_eq!(accept("go_goroutins", 100, true), None);
        // A substring that is not a prefix scores by its position: 1 - 0.9*3/4.
        let score = accept("goroutine", 100, true).unwrap();
        assert!((score - 0.325).abs() < 1e-9, "{score}");
        // Without a threshold, Jaro-Winkler is off: only substrings match.
        assert_eq!(accept("go_goroutins", 0, true), None);
    }

    #[test]
    fn substring_positions_count_characters() {
        assert_eq!(substring_score("ab", "abc"), Some(1.0));
        assert_eq!(substring_score("c", "abc"), Some(1.0 - 0.9));
        assert_eq!(substring_score("x", "abc"), None);
        // `é` is one character: the match is at character 1 of 3 possible positions.
        let s = substring_score("b", "ébcd").unwrap();
        assert!((s - (1.0 - 0.9 / 3.0)).abs() < 1e-12, "{s}");
    }

    #[test]
    fn subsequence_filter_accepts_prefixes_and_thresholds() {
        let f = SearchFilter::new(&["gor"], 0, FuzzAlg::Subsequence, true).unwrap();
        assert_eq!(f.accept("goroutines"), Some(1.0));
        assert!(f.accept("go_goroutines").is_some_and(|s| s < 1.0));
        assert_eq!(f.accept("up"), None);
        let strict = SearchFilter::new(&["gor"], 99, FuzzAlg::Subsequence, true).unwrap();
        assert_eq!(strict.accept("go_goroutines"), None);
        assert_eq!(strict.accept("goroutines"), Some(1.0));
    }

    #[test]
    fn several_terms_take_the_best_score() {
        let f = SearchFilter::new(&["xyz", "node", "prom"], 0, FuzzAlg::JaroWinkler, true).unwrap();
        assert_eq!(f.accept("node"), Some(1.0));
        assert_eq!(f.accept("prometheus"), Some(1.0));
        assert_eq!(f.accept("other"), None);
        let both = SearchFilter::new(&["us", "eus"], 0, FuzzAlg::JaroWinkler, true).unwrap();
        // "eus" at 7 of 7 positions (0.1), "us" at 8 of 8 (0.1): the best of both.
        assert!((both.accept("prometheus").unwrap() - 0.1).abs() < 1e-12);
    }

    #[test]
    fn batch_size_and_limit_are_clamped_as_prometheus() {
        let max = i64::MAX.to_string();
        let cases: [(&str, &str, usize, usize, usize); 9] = [
            ("", "", 0, 100, 100),
            ("2", "", 0, 2, 100),
            ("", "1", 0, 1, 1),
            ("", "", 3, 3, 3),
            (&max, "1", 0, 1, 1),
            (&max, "", 3, 3, 3),
            (&max, &max, 0, 1000, usize::try_from(i64::MAX).unwrap()),
            ("1000", "2000", 0, 1000, 2000),
            ("1001", "2000", 0, 1000, 2000),
        ];
        for (batch, limit, max_limit, want_batch, want_limit) in cases {
            let p = params_with(&format!("batch_size={batch}&limit={limit}"), max_limit).unwrap();
            assert_eq!(
                (p.batch_size, p.limit),
                (want_batch, want_limit),
                "{batch} {limit}"
            );
        }
        for bad in ["0", "-1", "invalid", &format!("{max}0")] {
            assert_eq!(
                err(&format!("batch_size={bad}")),
                format!(
                    "invalid batch_size {}: must be a positive integer",
                    go_quote(bad)
                )
            );
            assert_eq!(
                err(&format!("limit={bad}")),
                format!(
                    "invalid limit {}: must be a positive integer",
                    go_quote(bad)
                )
            );
        }
        let e = params_with("limit=5000", 50).unwrap_err();
        assert_eq!(
            e.message,
            "limit 5000 exceeds the configured maximum (50, see --web.search.max-limit)"
        );
        assert_eq!(params_with("limit=2", 50).unwrap().limit, 2);
        assert_eq!(params_with("limit=100000", 0).unwrap().limit, 100_000);
    }

    #[test]
    fn bad_parameters_are_bad_data() {
        assert_eq!(
            err("fuzz_threshold=200"),
            "invalid fuzz_threshold \"200\": must be 0-100"
        );
        assert_eq!(
            err("fuzz_alg=levenshtein"),
            "unsupported fuzz_alg \"levenshtein\": must be one of [jarowinkler subsequence]"
        );
        for name in ["case_sensitive", "include_score"] {
            assert_eq!(
                err(&format!("{name}=maybe")),
                format!("invalid {name} \"maybe\": must be boolean")
            );
        }
        assert_eq!(
            err("sort_dir=asc"),
            "sort_dir is only valid when sort_by is set"
        );
        assert_eq!(
            err("search[]=up&sort_by=score&sort_dir=asc"),
            "sort_dir is not supported for sort_by=score"
        );
        assert_eq!(
            err("sort_by=alpha&sort_dir=up"),
            "invalid sort_dir \"up\": must be \"asc\" or \"dsc\""
        );
        assert_eq!(
            err("sort_by=score"),
            "sort_by=score requires search[] to be set"
        );
        assert_eq!(
            err("sort_by=cardinality"),
            "invalid sort_by \"cardinality\" for metric_names: must be \"alpha\" or \"score\""
        );
        assert_eq!(
            err("start=7200&end=3600"),
            "end timestamp must not be before start timestamp"
        );
        assert_eq!(
            err("start=yesterday"),
            "invalid time value for 'start': cannot parse \"yesterday\" to a valid timestamp"
        );
        let many = vec!["search[]=t"; 33].join("&");
        assert_eq!(err(&many), "too many search[] terms: got 33, maximum is 32");
        assert!(params(&vec!["search[]=t"; 32].join("&")).is_ok());
        assert!(err("match[]=%7B%7D").contains("match[] must contain at least one non-empty"));
    }

    #[test]
    fn default_window_is_the_last_hour() {
        let p = params("").unwrap();
        assert_eq!((p.start, p.end), (3_600_000, 7_200_000));
        assert_eq!(p.order, Order::ValueAsc);
        let p = params("start=10&end=20&sort_by=alpha&sort_dir=dsc").unwrap();
        assert_eq!(
            (p.start, p.end, p.order),
            (10_000, 20_000, Order::ValueDesc)
        );
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn ranking_orders_and_limits() {
        let values = names(&[
            "go_gc_duration_seconds",
            "go_goroutines",
            "process_go",
            "up",
        ]);
        let p = params("search[]=go&sort_by=score&include_score=true&limit=2").unwrap();
        let (r, more) = rank(values.clone(), &p);
        assert_eq!(
            r.iter()
                .map(|s| (s.value.as_str(), s.score))
                .collect::<Vec<_>>(),
            [("go_gc_duration_seconds", 1.0), ("go_goroutines", 1.0)]
        );
        assert!(more);
        let p = params("search[]=go&sort_by=alpha&sort_dir=dsc").unwrap();
        let (r, more) = rank(values.clone(), &p);
        assert_eq!(
            r.iter().map(|s| s.value.as_str()).collect::<Vec<_>>(),
            ["process_go", "go_goroutines", "go_gc_duration_seconds"]
        );
        assert!(!more);
        let p = params("search[]=go&sort_by=score").unwrap();
        let (r, _) = rank(values, &p);
        assert_eq!(r.last().map(|s| s.value.as_str()), Some("process_go"));
        assert!((r[2].score - 0.1).abs() < 1e-12);
    }

    fn md(family: &str, ty: MetricType, help: &str) -> scrape::MetricMetadata {
        scrape::MetricMetadata {
            metric_family: family.to_owned(),
            metric_type: ty,
            help: help.to_owned(),
            unit: String::new(),
        }
    }

    /// Prometheus's `with metadata` cases: which series names a family's metadata covers.
    #[test]
    fn metadata_covers_the_series_of_a_family() {
        let cases: [(MetricType, &str, &[&str], &[&str]); 9] = [
            (
                MetricType::Gauge,
                "go_goroutines",
                &["go_goroutines"],
                &[
                    "go_goroutines_total",
                    "go_goroutines_count",
                    "go_goroutines_bucket",
                ],
            ),
            (MetricType::Gauge, "up", &["up"], &["uptime"]),
            (
                MetricType::Counter,
                "process_cpu_seconds",
                &["process_cpu_seconds_total"],
                &["process_cpu_seconds_created", "process_cpu_seconds_sum"],
            ),
            (
                MetricType::Counter,
                "process_cpu_seconds_total",
                &["process_cpu_seconds_total"],
                &["process_cpu_seconds"],
            ),
            (
                MetricType::Histogram,
                "h",
                &["h", "h_bucket", "h_sum", "h_count"],
                &["h_created", "h_total", "h_gsum", "h_gcount"],
            ),
            (
                MetricType::Summary,
                "s",
                &["s", "s_sum", "s_count"],
                &["s_created", "s_bucket", "s_total"],
            ),
            (
                MetricType::GaugeHistogram,
                "q",
                &["q", "q_bucket", "q_gsum", "q_gcount", "q_sum", "q_count"],
                &["q_total", "q_created"],
            ),
            (
                MetricType::Info,
                "target",
                &["target_info"],
                &["target_total", "target_created"],
            ),
            (
                MetricType::Unknown,
                "custom",
                &["custom"],
                &["custom_total", "custom_sum", "custom_count"],
            ),
        ];
        for (ty, family, covered, not) in cases {
            let mut map = MetadataMap::new();
            add_metadata(&mut map, vec![md(family, ty, "help")]);
            for name in covered {
                let got = metadata_for_metric(&map, name).map(|m| m.metric_type);
                assert_eq!(got, Some(ty), "{name}");
            }
            for name in not {
                assert!(metadata_for_metric(&map, name).is_none(), "{name}");
            }
        }
    }

    #[test]
    fn metadata_of_conflicting_targets_and_exact_names() {
        // A counter and a gauge of one family: `_total` finds the counter whichever came first.
        for order in [[0, 1], [1, 0]] {
            let mds = [
                md("requests", MetricType::Counter, "Requests."),
                md("requests", MetricType::Gauge, "In-flight requests."),
            ];
            let mut map = MetadataMap::new();
            for i in order {
                add_metadata(&mut map, vec![mds[i].clone()]);
            }
            let got = metadata_for_metric(&map, "requests_total").map(|m| m.help.as_str());
            assert_eq!(got, Some("Requests."));
        }
        // An exact family wins over the suffix rule.
        let mut map = MetadataMap::new();
        add_metadata(
            &mut map,
            vec![
                md("d_count", MetricType::Gauge, "Independent gauge."),
                md("d", MetricType::Histogram, "Request duration."),
            ],
        );
        let got = metadata_for_metric(&map, "d_count").map(|m| m.help.as_str());
        assert_eq!(got, Some("Independent gauge."));
    }

    #[test]
    fn results_are_written_as_prometheus_records() {
        let p = params("include_score=true").unwrap();
        let r = Scored {
            value: "a<b".into(),
            score: 0.325,
        };
        let mut out = String::new();
        write_result(&mut out, Endpoint::LabelValues, &r, &p, None);
        assert_eq!(out, r#"{"value":"a\u003cb","score":0.325}"#);
        let mut map = MetadataMap::new();
        let mut m = md("a<b", MetricType::Counter, "Total.");
        m.unit = "seconds".into();
        add_metadata(&mut map, vec![m]);
        let p = params("").unwrap();
        out.clear();
        write_result(&mut out, Endpoint::MetricNames, &r, &p, Some(&map));
        assert_eq!(
            out,
            r#"{"name":"a\u003cb","type":"counter","help":"Total.","unit":"seconds"}"#
        );
    }

    #[test]
    fn case_folding_is_go_simple_lowercase() {
        assert_eq!(go_lower("GO_Gc"), "go_gc");
        assert_eq!(go_lower("İΣ"), "iσ");
    }
}
