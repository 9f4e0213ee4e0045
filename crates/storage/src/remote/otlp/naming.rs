//! OTLP metric, unit and label names to Prometheus names, as github.com/prometheus/otlptranslator
//! builds them (`MetricNamer`, `UnitNamer`, `LabelNamer`).

use model::strconv::quote;

/// The metric kinds that decide name suffixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricKind {
    Gauge,
    MonotonicCounter,
    NonMonotonicCounter,
    Histogram,
    ExponentialHistogram,
    Summary,
}

/// OTLP unit -> Prometheus unit word for the main unit (UCUM case-sensitive codes).
fn main_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        _ => return None,
    })
}

/// OTLP unit -> Prometheus word for the unit after `/` (singular).
fn per_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// The main and `per_` suffixes of a unit, before any character cleaning: `By/s` gives
/// (`bytes`, `per_second`); parts containing `{` or `}` (annotations) are dropped.
fn unit_suffixes(unit: &str) -> (String, String) {
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m, Some(p)),
        None => (unit, None),
    };
    let is_annotation = |s: &str| s.contains(['{', '}']);
    let main = main.trim();
    let main_suffix = if !main.is_empty() && !is_annotation(main) {
        main_unit(main).unwrap_or(main).to_owned()
    } else {
        String::new()
    };
    let mut per_suffix = String::new();
    if let Some(per) = per.filter(|p| !p.is_empty()) {
        let per = per.trim();
        if !per.is_empty() && !is_annotation(per) {
            per_suffix = per_unit(per).unwrap_or(per).to_owned();
        }
        if !per_suffix.is_empty() {
            per_suffix.insert_str(0, "per_");
        }
    }
    (main_suffix, per_suffix)
}

/// `a-zA-Z0-9:`: the characters metric-name tokens are made of.
fn is_metric_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// Replaces what is not a metric character by `_`, collapses runs of `_` and drops one
/// leading `_` (Go's `cleanUpUnit`).
fn clean_up_unit(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    for c in unit.chars() {
        let c = if is_metric_char(c) { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    match out.strip_prefix('_') {
        Some(rest) => rest.to_owned(),
        None => out,
    }
}

/// The unit as the `__unit__` label and metadata show it (Go's `UnitNamer.Build`).
pub(crate) fn unit_name(unit: &str, utf8_allowed: bool) -> String {
    let (mut main, mut per) = unit_suffixes(unit);
    if !utf8_allowed {
        main = clean_up_unit(&main);
        per = clean_up_unit(&per);
    }
    let u = match (main.is_empty(), per.is_empty()) {
        (false, false) => format!("{main}_{per}"),
        (false, true) => main,
        _ => per,
    };
    let u = u.strip_prefix('_').unwrap_or(&u);
    u.strip_suffix('_').unwrap_or(u).to_owned()
}

/// Builds the Prometheus metric name of an OTLP metric (Go's `MetricNamer.Build` without a
/// namespace). `escape` maps names onto the legacy character set; `suffixes` appends unit,
/// `_total` and `_ratio` suffixes.
pub(crate) fn metric_name(
    name: &str,
    unit: &str,
    kind: MetricKind,
    escape: bool,
    suffixes: bool,
) -> Result<String, String> {
    if !escape {
        let built = utf8_metric_name(name, unit, kind, suffixes);
        if built.is_empty() {
            return Err(format!("metric name {} is empty", quote(name)));
        }
        return Ok(built);
    }
    let normalized = if suffixes {
        normalize_name(name, unit, kind)
    } else {
        let mut out = name
            .split(|c: char| !is_metric_char(c) && c != '_')
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("_");
        if out.starts_with(|c: char| c.is_ascii_digit()) {
            out.insert(0, '_');
        }
        out
    };
    if normalized.is_empty() {
        return Err(format!(
            "normalization for metric {} resulted in empty name",
            quote(name)
        ));
    }
    if normalized != name && normalized.bytes().all(|b| b == b'_') {
        return Err(format!(
            "normalization for metric {} resulted in invalid name {}",
            quote(name),
            quote(&normalized)
        ));
    }
    Ok(normalized)
}

/// The escaping name builder with suffixes (Go's `normalizeName`): the name is split into
/// tokens of metric characters (so runs of `_` collapse), unit tokens are added unless
/// present, `total` moves to the end of counters and `ratio` to the end of gauges of unit `1`.
fn normalize_name(name: &str, unit: &str, kind: MetricKind) -> String {
    let mut tokens: Vec<String> = name
        .split(|c: char| !is_metric_char(c))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    let (main, per) = unit_suffixes(unit);
    add_unit_tokens(&mut tokens, clean_up_unit(&main), clean_up_unit(&per));
    if kind == MetricKind::MonotonicCounter {
        tokens.retain(|t| t != "total");
        tokens.push("total".into());
    }
    if unit == "1" && kind == MetricKind::Gauge {
        tokens.retain(|t| t != "ratio");
        tokens.push("ratio".into());
    }
    let mut out = tokens.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Go's `addUnitTokens`.
fn add_unit_tokens(tokens: &mut Vec<String>, mut main: String, mut per: String) {
    if tokens.contains(&main) {
        main.clear();
    }
    if per == "per_" {
        per.clear();
    } else {
        if per.ends_with('_') {
            per.pop();
        }
        if tokens.contains(&per) {
            per.clear();
        }
    }
    if !per.is_empty() && main.ends_with('_') {
        main.pop();
    }
    if !main.is_empty() {
        tokens.push(main);
    }
    if !per.is_empty() {
        tokens.push(per);
    }
}

/// The UTF-8 name builder (Go's `buildMetricName`): the name is kept; suffixes are appended
/// unless the name already ends with them.
fn utf8_metric_name(name: &str, unit: &str, kind: MetricKind, suffixes: bool) -> String {
    let mut name = name.to_owned();
    if !suffixes {
        return name;
    }
    let ratio = unit == "1" && kind == MetricKind::Gauge;
    if ratio {
        trim_suffix_and_delimiter(&mut name, "ratio");
    }
    let total = kind == MetricKind::MonotonicCounter;
    if total {
        trim_suffix_and_delimiter(&mut name, "total");
    }
    let (main, per) = unit_suffixes(unit);
    if !per.is_empty() {
        trim_suffix_and_delimiter(&mut name, &per);
    }
    if !main.is_empty() && !name.ends_with(&main) {
        name.push('_');
        name.push_str(&main);
    }
    if !per.is_empty() {
        name.push('_');
        name.push_str(&per);
    }
    if total {
        name.push_str("_total");
    }
    if ratio {
        name.push_str("_ratio");
    }
    name
}

/// Removes `suffix` and the one character before it when the name is longer than both.
fn trim_suffix_and_delimiter(name: &mut String, suffix: &str) {
    if name.ends_with(suffix) && name.len() > suffix.len() + 1 {
        let cut = name.len() - suffix.len() - 1;
        // A multi-byte delimiter cannot be cut in half; leave such names alone.
        if name.is_char_boundary(cut) {
            name.truncate(cut);
        }
    }
}

/// How attribute names become label names (Go's `LabelNamer`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LabelNamer {
    /// Keep names as they are (the strategies without escaping).
    pub(crate) utf8_allowed: bool,
    /// Prefix `key` to names starting with a single `_`.
    pub(crate) underscore_sanitization: bool,
    /// Keep runs of `_` instead of collapsing them.
    pub(crate) preserve_multiple_underscores: bool,
}

impl LabelNamer {
    /// The label name for attribute `label`.
    pub(crate) fn build(&self, label: &str) -> Result<String, String> {
        if label.is_empty() {
            return Err("label name is empty".into());
        }
        let only_underscores = |s: &str| s.bytes().all(|b| b == b'_');
        if self.utf8_allowed {
            if only_underscores(label) {
                return Err(format!(
                    "label name {} contains only underscores",
                    quote(label)
                ));
            }
            return Ok(label.to_owned());
        }
        let mut normalized = sanitize_label_name(label, self.preserve_multiple_underscores);
        if normalized.starts_with(|c: char| c.is_ascii_digit()) {
            normalized.insert_str(0, "key_");
        } else if self.underscore_sanitization
            && normalized.starts_with('_')
            && !normalized.starts_with("__")
        {
            normalized.insert_str(0, "key");
        }
        if only_underscores(&normalized) {
            return Err(format!(
                "normalization for label name {} resulted in invalid name {}",
                quote(label),
                quote(&normalized)
            ));
        }
        Ok(normalized)
    }
}

/// Replaces every character but `a-zA-Z0-9` by `_`; unless `preserve_multiple`, runs of
/// replaced characters and underscores become one `_`, and a `__name__`-style reserved name
/// keeps its double underscores around the collapsed inside.
fn sanitize_label_name(name: &str, preserve_multiple: bool) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    if preserve_multiple {
        out.extend(
            name.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
        return out;
    }
    let reserved = name.len() >= 4 && name.starts_with("__") && name.ends_with("__");
    let inner = if reserved {
        &name[2..name.len() - 2]
    } else {
        name
    };
    if reserved {
        out.push_str("__");
    }
    let mut prev_underscore = false;
    for c in inner.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_underscore = false;
        } else if !prev_underscore {
            out.push('_');
            prev_underscore = true;
        }
    }
    if reserved {
        out.push_str("__");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::MetricKind::*;
    use super::*;

    /// Expectations of otlptranslator's `TestMetricNamer_Build` (escaping, suffixes).
    #[test]
    fn escaped_names_with_suffixes() {
        let cases: &[(&str, &str, MetricKind, &str, &str)] = &[
            ("requests", "", MonotonicCounter, "requests_total", ""),
            ("cpu_usage", "1", Gauge, "cpu_usage_ratio", ""),
            ("items", "1", MonotonicCounter, "items_total", ""),
            (
                "response_time",
                "ms",
                Gauge,
                "response_time_milliseconds",
                "milliseconds",
            ),
            ("memory_usage", "By", Gauge, "memory_usage_bytes", "bytes"),
            (
                "requests",
                "1/s",
                Gauge,
                "requests_per_second",
                "per_second",
            ),
            (
                "throughput",
                "By/s",
                Gauge,
                "throughput_bytes_per_second",
                "bytes_per_second",
            ),
            (
                "custom_metric",
                "custom_unit",
                Gauge,
                "custom_metric_custom_unit",
                "custom_unit",
            ),
            ("custom_metric", "{custom}", Gauge, "custom_metric", ""),
            (
                "custom_metric",
                "By/{custom}",
                Gauge,
                "custom_metric_bytes",
                "bytes",
            ),
            ("requests_total", "", MonotonicCounter, "requests_total", ""),
            ("cpu_usage_ratio", "1", Gauge, "cpu_usage_ratio", ""),
            (
                "response_time_seconds",
                "s",
                Gauge,
                "response_time_seconds",
                "seconds",
            ),
            (
                "metric__with__multiple__underscores",
                "unit__multiple__underscores",
                Gauge,
                "metric_with_multiple_underscores_unit_multiple_underscores",
                "unit_multiple_underscores",
            ),
            (
                "custom_metric",
                "unit@with#special/chars",
                Gauge,
                "custom_metric_unit_with_special_per_chars",
                "unit_with_special_per_chars",
            ),
            (
                "request_duration",
                "s",
                Histogram,
                "request_duration_seconds",
                "seconds",
            ),
            (
                "request_size",
                "By",
                ExponentialHistogram,
                "request_size_bytes",
                "bytes",
            ),
            (
                "response_time",
                "ms",
                Summary,
                "response_time_milliseconds",
                "milliseconds",
            ),
            (
                "active_connections",
                "",
                NonMonotonicCounter,
                "active_connections",
                "",
            ),
            ("uptime", "d", Gauge, "uptime_days", "days"),
            ("duration", "h", Gauge, "duration_hours", "hours"),
            ("timeout", "min", Gauge, "timeout_minutes", "minutes"),
            (
                "latency",
                "us",
                Gauge,
                "latency_microseconds",
                "microseconds",
            ),
            (
                "precision_time",
                "ns",
                Gauge,
                "precision_time_nanoseconds",
                "nanoseconds",
            ),
            (
                "cache_size",
                "KiBy",
                Gauge,
                "cache_size_kibibytes",
                "kibibytes",
            ),
            ("memory", "MiBy", Gauge, "memory_mebibytes", "mebibytes"),
            ("storage", "GiBy", Gauge, "storage_gibibytes", "gibibytes"),
            ("capacity", "TiBy", Gauge, "capacity_tibibytes", "tibibytes"),
            ("transfer", "KBy", Gauge, "transfer_kilobytes", "kilobytes"),
            ("download", "MBy", Gauge, "download_megabytes", "megabytes"),
            ("backup", "GBy", Gauge, "backup_gigabytes", "gigabytes"),
            ("archive", "TBy", Gauge, "archive_terabytes", "terabytes"),
            ("distance", "m", Gauge, "distance_meters", "meters"),
            ("voltage", "V", Gauge, "voltage_volts", "volts"),
            ("current", "A", Gauge, "current_amperes", "amperes"),
            ("energy", "J", Gauge, "energy_joules", "joules"),
            ("power", "W", Gauge, "power_watts", "watts"),
            ("weight", "g", Gauge, "weight_grams", "grams"),
            (
                "temperature",
                "Cel",
                Gauge,
                "temperature_celsius",
                "celsius",
            ),
            ("frequency", "Hz", Gauge, "frequency_hertz", "hertz"),
            ("cpu_usage", "%", Gauge, "cpu_usage_percent", "percent"),
            (
                "requests",
                "1/m",
                Gauge,
                "requests_per_minute",
                "per_minute",
            ),
            ("events", "1/h", Gauge, "events_per_hour", "per_hour"),
            (
                "transactions",
                "1/d",
                Gauge,
                "transactions_per_day",
                "per_day",
            ),
            ("reports", "1/w", Gauge, "reports_per_week", "per_week"),
            ("invoices", "1/mo", Gauge, "invoices_per_month", "per_month"),
            ("renewals", "1/y", Gauge, "renewals_per_year", "per_year"),
            (
                "custom",
                "1/custom_unit",
                Gauge,
                "custom_per_custom_unit",
                "per_custom_unit",
            ),
            ("metric", "By/", Gauge, "metric_bytes", "bytes"),
            (
                "metric",
                " By / s ",
                Gauge,
                "metric_bytes_per_second",
                "bytes_per_second",
            ),
            ("metric", "/", Gauge, "metric", ""),
            (
                "http.request.duration",
                "ms",
                Histogram,
                "http_request_duration_milliseconds",
                "milliseconds",
            ),
            (
                "http.requests",
                "1",
                MonotonicCounter,
                "http_requests_total",
                "",
            ),
            // otlptranslator's normalize_name tests that still hold.
            (
                "system.filesystem.usage",
                "By",
                Gauge,
                "system_filesystem_usage_bytes",
                "bytes",
            ),
            (
                "system.io",
                "By",
                MonotonicCounter,
                "system_io_bytes_total",
                "bytes",
            ),
            (
                "network_transmitted_bytes_total",
                "By",
                MonotonicCounter,
                "network_transmitted_bytes_total",
                "bytes",
            ),
            (
                "system.network.dropped",
                "{packets}",
                MonotonicCounter,
                "system_network_dropped_total",
                "",
            ),
            (
                "system.network.packets.dropped",
                "packets",
                Gauge,
                "system_network_packets_dropped",
                "packets",
            ),
            ("hw.fan.speed_ratio", "1", Gauge, "hw_fan_speed_ratio", ""),
            (
                "broken.metric.speed",
                "km/h",
                Gauge,
                "broken_metric_speed_km_per_hour",
                "km_per_hour",
            ),
            (
                "broken.metric.success_ratio",
                "%",
                Gauge,
                "broken_metric_success_ratio_percent",
                "percent",
            ),
            (
                "unsupported.metric.temperature",
                "°F",
                Gauge,
                "unsupported_metric_temperature_F",
                "F",
            ),
            (
                "unsupported.metric.redundant",
                "__test $/°C",
                Gauge,
                "unsupported_metric_redundant_test_per_C",
                "test__per_C",
            ),
            (
                "system.cpu.load_average.15m",
                "1",
                Gauge,
                "system_cpu_load_average_15m_ratio",
                "",
            ),
            (
                "mongodbatlas.process.db.query_targeting.scanned_per_returned",
                "{scanned}/{returned}",
                Gauge,
                "mongodbatlas_process_db_query_targeting_scanned_per_returned",
                "",
            ),
            ("3.14 digits", "", Gauge, "_3_14_digits", ""),
            (
                "envoy__rule_engine_zlib_buf_error",
                "",
                Gauge,
                "envoy_rule_engine_zlib_buf_error",
                "",
            ),
        ];
        for &(name, unit, kind, want, want_unit) in cases {
            assert_eq!(
                metric_name(name, unit, kind, true, true).as_deref(),
                Ok(want),
                "{name} {unit}"
            );
            assert_eq!(unit_name(unit, false), want_unit, "unit {unit}");
        }
    }

    #[test]
    fn escaped_names_without_suffixes() {
        let cases = [
            ("simple_metric", "simple_metric"),
            ("metric@with#special$chars", "metric_with_special_chars"),
            ("123metric", "_123metric"),
            ("metric@@##$$name", "metric_name"),
            ("foo__bar", "foo__bar"),
            ("..a.b:c..", "a_b:c"),
            ("http.request.duration", "http_request_duration"),
        ];
        for (name, want) in cases {
            assert_eq!(
                metric_name(name, "s", MonotonicCounter, true, false).as_deref(),
                Ok(want)
            );
        }
        for name in ["", "@#$%"] {
            let err = metric_name(name, "", Gauge, true, false).unwrap_err();
            assert!(err.contains("resulted in empty name"), "{err}");
            let err = metric_name(name, "", Gauge, true, true).unwrap_err();
            assert!(err.contains("resulted in empty name"), "{err}");
        }
        // Only underscores left (and not the input): invalid.
        let err = metric_name("_._", "", Gauge, true, false).unwrap_err();
        assert!(err.contains("resulted in invalid name"), "{err}");
    }

    #[test]
    fn utf8_names() {
        let cases: &[(&str, &str, MetricKind, bool, &str)] = &[
            (
                "métric_with_ñ_chars",
                "",
                Gauge,
                false,
                "métric_with_ñ_chars",
            ),
            ("requêsts", "", MonotonicCounter, true, "requêsts_total"),
            ("cpu_usagé", "1", Gauge, true, "cpu_usagé_ratio"),
            (
                "respønse_time",
                "ms",
                Gauge,
                true,
                "respønse_time_milliseconds",
            ),
            ("requêsts", "1/s", Gauge, true, "requêsts_per_second"),
            ("@#$%", "", MonotonicCounter, true, "@#$%_total"),
            (
                "http.request.duration",
                "ms",
                Histogram,
                false,
                "http.request.duration",
            ),
            (
                "http.requests",
                "1",
                MonotonicCounter,
                false,
                "http.requests",
            ),
            (
                "http.requests",
                "1",
                MonotonicCounter,
                true,
                "http.requests_total",
            ),
            ("a.total", "", MonotonicCounter, true, "a_total"),
            ("io.bytes", "By/s", Gauge, true, "io.bytes_per_second"),
            (
                "io.bytes_per_second",
                "By/s",
                Gauge,
                true,
                "io.bytes_per_second",
            ),
            (
                "x.per_second",
                "By/s",
                MonotonicCounter,
                true,
                "x_bytes_per_second_total",
            ),
        ];
        for &(name, unit, kind, suffixes, want) in cases {
            assert_eq!(
                metric_name(name, unit, kind, false, suffixes).as_deref(),
                Ok(want),
                "{name} {unit}"
            );
        }
        assert!(metric_name("", "", Gauge, false, false).is_err());
    }

    /// otlptranslator's `labelTestCases`, `TestBuildLabel_Underscores` and
    /// `TestBuildLabel_Errors`.
    #[test]
    fn label_names() {
        let namer = |preserve, underscores| LabelNamer {
            utf8_allowed: false,
            underscore_sanitization: underscores,
            preserve_multiple_underscores: preserve,
        };
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("label:with:colons", "label_with_colons", None),
            ("LabelWithCapitalLetters", "LabelWithCapitalLetters", None),
            (
                "label!with&special$chars)",
                "label_with_special_chars_",
                None,
            ),
            (
                "label_with_foreign_characters_字符",
                "label_with_foreign_characters_",
                Some("label_with_foreign_characters___"),
            ),
            ("label.with.dots", "label_with_dots", None),
            ("123label", "key_123label", None),
            (
                "_label_starting_with_underscore",
                "_label_starting_with_underscore",
                None,
            ),
            (
                "__label_starting_with_2underscores",
                "_label_starting_with_2underscores",
                Some("__label_starting_with_2underscores"),
            ),
            (
                "label__with__double__underscores",
                "label_with_double_underscores",
                Some("label__with__double__underscores"),
            ),
            (
                "label.name__with&&special##chars",
                "label_name_with_special_chars",
                Some("label_name__with__special__chars"),
            ),
            (
                "__reserved__label__name__",
                "__reserved_label_name__",
                Some("__reserved__label__name__"),
            ),
            (
                "trailing_underscores___",
                "trailing_underscores_",
                Some("trailing_underscores___"),
            ),
        ];
        for &(label, sanitized, preserved) in cases {
            assert_eq!(namer(false, false).build(label).as_deref(), Ok(sanitized));
            assert_eq!(
                namer(true, false).build(label).as_deref(),
                Ok(preserved.unwrap_or(sanitized))
            );
            let utf8 = LabelNamer {
                utf8_allowed: true,
                ..namer(false, false)
            };
            assert_eq!(utf8.build(label).as_deref(), Ok(label));
        }
        for (label, plain, underscores) in [
            ("regular label", "regular_label", "regular_label"),
            ("123label", "key_123label", "key_123label"),
            (
                "_label_starting_with_underscore",
                "_label_starting_with_underscore",
                "key_label_starting_with_underscore",
            ),
        ] {
            assert_eq!(namer(false, false).build(label).as_deref(), Ok(plain));
            assert_eq!(namer(false, true).build(label).as_deref(), Ok(underscores));
        }
        // Prometheus's defaults: both options on.
        assert_eq!(
            namer(true, true)
                .build("__label_starting_with_2underscores")
                .as_deref(),
            Ok("__label_starting_with_2underscores")
        );
        assert_eq!(
            namer(false, true)
                .build("__label_starting_with_2underscores")
                .as_deref(),
            Ok("key_label_starting_with_2underscores")
        );
        for label in ["", "__", "ようこそ"] {
            assert!(namer(false, false).build(label).is_err(), "{label}");
        }
        let utf8 = LabelNamer {
            utf8_allowed: true,
            ..namer(false, false)
        };
        assert!(utf8.build("").is_err());
        assert!(utf8.build("__").is_err());
        assert_eq!(utf8.build("ようこそ").as_deref(), Ok("ようこそ"));
    }
}
