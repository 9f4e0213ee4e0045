//! Request parameters parsed as Prometheus's API parses them (web/api/v1/api.go).

use model::Matcher;

use crate::error::ApiError;
use crate::timefmt::{GoTime, parse_rfc3339};

/// The default start of optional time ranges (Go's `v1.MinTime`).
pub(crate) const MIN_TIME: GoTime = GoTime {
    sec: i64::MIN / 1000 + 62_135_596_801,
    nsec: 0,
};
/// The default end of optional time ranges (Go's `v1.MaxTime`).
pub(crate) const MAX_TIME: GoTime = GoTime {
    sec: i64::MAX / 1000 - 62_135_596_801,
    nsec: 999_999_999,
};
/// How Go prints [`MIN_TIME`] and [`MAX_TIME`]; client libraries send these strings back.
const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

/// The form values of a request: the body's (for a form-encoded POST) first, then the URL
/// query's, as Go's `Request.ParseForm` orders them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// Parses a URL-encoded body (possibly empty) and then a query string.
    pub(crate) fn parse(body: &[u8], query: Option<&str>) -> Form {
        let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if let Some(q) = query {
            pairs.extend(
                url::form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned())),
            );
        }
        Form { pairs }
    }

    /// Go's `FormValue`: the first value of `name`, or `""`.
    pub(crate) fn value(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name`, in order (`r.Form["match[]"]`).
    pub(crate) fn values(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for the inputs the API sees: decimal and exponent
/// notation, `Inf`/`Infinity`/`NaN` in any case, with an optional sign.
fn parse_go_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.contains('_') || s.trim() != s {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Go's `parseTime`: unix seconds as a float (rounded to milliseconds) or RFC 3339.
pub(crate) fn parse_time(s: &str) -> Result<GoTime, String> {
    if let Some(t) = parse_go_float(s) {
        let whole = t.trunc();
        let frac = ((t - whole) * 1000.0).round() / 1000.0;
        // Same float arithmetic and truncating conversions as Go's
        // `time.Unix(int64(s), int64(ns*float64(time.Second)))`.
        #[allow(clippy::cast_possible_truncation)]
        return Ok(GoTime::unix(whole as i64, (frac * 1e9) as i64));
    }
    if let Some(t) = parse_rfc3339(s) {
        return Ok(t);
    }
    match s {
        MIN_TIME_FORMATTED => Ok(MIN_TIME),
        MAX_TIME_FORMATTED => Ok(MAX_TIME),
        _ => Err(format!("cannot parse {} to a valid timestamp", go_quote(s))),
    }
}

/// Go's `parseDuration`: float seconds or a Prometheus duration, in nanoseconds.
pub(crate) fn parse_duration(s: &str) -> Result<i64, String> {
    if let Some(d) = parse_go_float(s) {
        let ns = d * 1e9;
        // Go compares with float64(math.MaxInt64), which is 2^63.
        let limit = 2f64.powi(63);
        if ns >= limit || ns < -limit || ns.is_nan() {
            return Err(format!(
                "cannot parse {} to a valid duration. It overflows int64",
                go_quote(s)
            ));
        }
        #[allow(clippy::cast_possible_truncation)]
        return Ok(ns as i64);
    }
    if let Ok(d) = model::Duration::parse(s) {
        return Ok(d.as_millis().saturating_mul(1_000_000));
    }
    Err(format!("cannot parse {} to a valid duration", go_quote(s)))
}

/// Go's `parseTimeParam`: the default when the parameter is absent, with the API's
/// doubled message on failure (`invalid parameter "start": invalid time value for 'start': ...`,
/// lowercase since Prometheus 3).
pub(crate) fn time_param(form: &Form, name: &str, default: GoTime) -> Result<GoTime, ApiError> {
    let val = form.value(name);
    if val.is_empty() {
        return Ok(default);
    }
    parse_time(val)
        .map_err(|e| ApiError::invalid_param(name, format!("invalid time value for '{name}': {e}")))
}

/// Go's `parseLimitParam` (0 = no limit).
pub(crate) fn limit_param(form: &Form) -> Result<usize, ApiError> {
    let s = form.value("limit");
    if s.is_empty() {
        return Ok(0);
    }
    let limit: i64 = s.parse().map_err(|e: std::num::ParseIntError| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        ApiError::invalid_param(
            "limit",
            format!("strconv.Atoi: parsing {}: {why}", go_quote(s)),
        )
    })?;
    if limit < 0 {
        return Err(ApiError::invalid_param(
            "limit",
            "limit must be non-negative",
        ));
    }
    Ok(usize::try_from(limit).unwrap_or(usize::MAX))
}

/// Go's `toHintLimit`: ask the storage for one more than the limit, to know whether the
/// result was truncated.
pub(crate) fn hint_limit(limit: usize) -> usize {
    if limit > 0 && limit < usize::MAX {
        limit + 1
    } else {
        limit
    }
}

/// Go's `parseMatchersParam`: every `match[]` is a series selector, and each must hold a
/// matcher that does not match the empty string.
pub(crate) fn parse_matchers(values: &[&str]) -> Result<Vec<Vec<Matcher>>, String> {
    let mut sets = Vec::with_capacity(values.len());
    for v in values {
        let matchers = promql::parser::parse_metric_selector(v).map_err(|e| e.to_string())?;
        if matchers.iter().all(|m| m.matches("")) {
            return Err("match[] must contain at least one non-empty matcher".to_owned());
        }
        sets.push(matchers);
    }
    Ok(sets)
}

/// Go's `%q` for the strings the API quotes (printable text is kept, the rest escaped).
pub(crate) fn go_quote(s: &str) -> String {
    model::strconv::quote(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_go_parse_time() {
        assert_eq!(
            parse_time("1435781451.781").unwrap().millis(),
            1_435_781_451_781
        );
        assert_eq!(
            parse_time("1435781451").unwrap().millis(),
            1_435_781_451_000
        );
        assert_eq!(parse_time("-1.5").unwrap().millis(), -1_500);
        assert_eq!(parse_time("1e3").unwrap().millis(), 1_000_000);
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z").unwrap().millis(),
            1_435_781_451_781
        );
        assert_eq!(parse_time(MIN_TIME_FORMATTED).unwrap(), MIN_TIME);
        assert_eq!(parse_time(MAX_TIME_FORMATTED).unwrap(), MAX_TIME);
        assert_eq!(
            parse_time("foo").unwrap_err(),
            "cannot parse \"foo\" to a valid timestamp"
        );
        assert_eq!(
            parse_time("").unwrap_err(),
            "cannot parse \"\" to a valid timestamp"
        );
    }

    #[test]
    fn min_and_max_time_are_gos() {
        assert_eq!(MIN_TIME.millis(), -9_223_309_901_257_974_000);
        assert_eq!(MAX_TIME.millis(), 9_223_309_901_257_974_999);
    }

    #[test]
    fn durations_parse_as_go_parse_duration() {
        assert_eq!(parse_duration("15").unwrap(), 15_000_000_000);
        assert_eq!(parse_duration("0.5").unwrap(), 500_000_000);
        assert_eq!(parse_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(
            parse_duration("1e10").unwrap_err(),
            "cannot parse \"1e10\" to a valid duration. It overflows int64"
        );
        assert_eq!(
            parse_duration("x").unwrap_err(),
            "cannot parse \"x\" to a valid duration"
        );
    }

    #[test]
    fn form_values_prefer_the_body_and_keep_repeats() {
        let form = Form::parse(b"match[]=a&x=body", Some("x=query&match[]=b"));
        assert_eq!(form.value("x"), "body");
        assert_eq!(form.values("match[]"), ["a", "b"]);
        assert_eq!(form.value("missing"), "");
    }

    #[test]
    fn limits_and_matchers_are_validated() {
        let form = Form::parse(b"", Some("limit=-1"));
        assert_eq!(
            limit_param(&form).unwrap_err().message,
            "invalid parameter \"limit\": limit must be non-negative"
        );
        let form = Form::parse(b"", Some("limit=abc"));
        assert_eq!(
            limit_param(&form).unwrap_err().message,
            "invalid parameter \"limit\": strconv.Atoi: parsing \"abc\": invalid syntax"
        );
        let form = Form::parse(b"", Some("limit=214404601431746576384"));
        assert_eq!(
            limit_param(&form).unwrap_err().message,
            "invalid parameter \"limit\": strconv.Atoi: parsing \"214404601431746576384\": value out of range"
        );
        assert_eq!(hint_limit(5), 6);
        // Either the parser or this check refuses selectors that match everything.
        let err = parse_matchers(&["{job=~\".*\"}"]).unwrap_err();
        assert!(
            err.ends_with("must contain at least one non-empty matcher"),
            "{err}"
        );
        assert_eq!(parse_matchers(&["up", "{job=\"a\"}"]).unwrap().len(), 2);
    }
}
