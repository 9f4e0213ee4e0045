//! Log lines in Prometheus 3's formats (Go's slog handlers as `promslog` configures them):
//! logfmt (`time=... level=INFO source=main.rs:12 msg="..." component=tsdb key=value`) or one
//! JSON object per line, on stderr.
//!
//! Events name their component with a `component` field, or get the one Prometheus gives
//! the same subsystem from the crate that logs them ([`component_of`]). Integer, float and
//! boolean fields are written as slog writes Go's numbers and booleans (bare in logfmt,
//! JSON numbers in JSON); everything else is a string.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::flags::LogFormat;

/// Installs the global subscriber.
pub(crate) fn init(level: tracing::Level, format: LogFormat) {
    // The HTTP client and server libraries' own debug lines (connection pooling, h2
    // frames) are not Prometheus's: at `--log.level=debug` only their warnings show.
    let level = level.as_str().to_ascii_lowercase();
    let quiet = [
        "hyper",
        "hyper_util",
        "h2",
        "reqwest",
        "rustls",
        "tower",
        "mio",
        "want",
    ];
    let directives = std::iter::once(level.clone())
        .chain(quiet.iter().map(|t| format!("{t}=warn")))
        .collect::<Vec<_>>()
        .join(",");
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(directives))
        .with_writer(std::io::stderr)
        .event_format(Format(format))
        .finish()
        .with(SpanFieldsLayer)
        .init();
}

/// The fields of a span, kept from its creation: what Prometheus gives a sub-logger with
/// `With` (a scrape loop's `scrape_pool` and `target`), written on every line logged inside
/// it, after the component and before the line's own fields.
struct SpanFields(Fields);

/// Records each new span's fields as [`SpanFields`].
struct SpanFieldsLayer;

impl<S> Layer<S> for SpanFieldsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }
}

/// A Go duration as Prometheus logs it (`time.Duration.String`: `1.5ms`, `0s`, `1m2s`),
/// for log fields: `duration = %GoDuration(elapsed)`.
pub(crate) struct GoDuration(pub(crate) std::time::Duration);

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&model::strconv::format_go_duration(
            i128::try_from(self.0.as_nanos()).unwrap_or(i128::MAX),
        ))
    }
}

/// The component Prometheus names in the log lines of the subsystem a tracing target
/// (module path) belongs to, `None` for lines logged without one (cmd/prometheus's own).
fn component_of(target: &str) -> Option<&'static str> {
    let krate = target.split("::").next().unwrap_or(target);
    // The agent's storage logs with Prometheus's main logger, which has no component.
    if target.starts_with("tsdb::agent") {
        return None;
    }
    Some(match krate {
        "tsdb" | "chunkenc" => "tsdb",
        "rules" => "rule manager",
        "notifier" => "notifier",
        "scrape" => "scrape manager",
        "web" => "web",
        "promql" => "query engine",
        "storage" if target.starts_with("storage::remote") => "remote",
        _ => return None,
    })
}

/// A field holding `key=value` pairs separated by spaces (values without spaces), written
/// as that many fields: for lines whose keys are known only at run time, such as the
/// per-reloader timings of "Completed loading of configuration file".
pub(crate) const KV: &str = "kv";

#[derive(Clone)]
enum Value {
    Str(String),
    Int(i128),
    Bool(bool),
    Float(f64),
}

impl Value {
    fn write_logfmt(&self, w: &mut Writer<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => w.write_str(&logfmt_value(s)),
            Value::Int(i) => write!(w, "{i}"),
            Value::Bool(b) => write!(w, "{b}"),
            Value::Float(f) => w.write_str(&model::strconv::format_float_g(*f)),
        }
    }

    fn write_json(&self, w: &mut Writer<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => w.write_str(&json_string(s)),
            Value::Int(i) => write!(w, "{i}"),
            Value::Bool(b) => write!(w, "{b}"),
            // Go's encoding/json: shortest digits, exponent form outside [1e-6, 1e21).
            Value::Float(f) if f.is_finite() => w.write_str(&model::strconv::format_float_json(*f)),
            // slog writes the error text where JSON has no number.
            Value::Float(f) => w.write_str(&json_string(&model::strconv::format_float_g(*f))),
        }
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    component: Option<Value>,
    pairs: Vec<(String, Value)>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: Value) {
        match (field.name(), value) {
            ("message", Value::Str(s)) => self.message = s,
            ("message", _) => {}
            ("component", v) => self.component = Some(v),
            (KV, Value::Str(s)) => {
                for pair in s.split(' ').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    self.pairs.push((k.to_owned(), Value::Str(v.to_owned())));
                }
            }
            (name, v) => self.pairs.push((name.to_owned(), v)),
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, Value::Str(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::Int(value.into()));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::Int(value.into()));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.push(field, Value::Int(value));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.push(
            field,
            Value::Int(i128::try_from(value).unwrap_or(i128::MAX)),
        );
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::Float(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, Value::Str(format!("{value:?}")));
    }
}

/// Whether slog's text handler would quote `s`: empty, or holding a space, `=`, `"` or a
/// non-printable character.
fn needs_quoting(s: &str) -> bool {
    s.is_empty()
        || s.chars()
            .any(|c| c == '=' || c == '"' || c.is_whitespace() || !model::strconv::is_print(c))
}

fn logfmt_value(s: &str) -> String {
    if needs_quoting(s) {
        model::strconv::quote(s)
    } else {
        s.to_owned()
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            // slog escapes the JavaScript line terminators too.
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn level_name(level: tracing::Level) -> &'static str {
    match level {
        tracing::Level::ERROR => "ERROR",
        tracing::Level::WARN => "WARN",
        tracing::Level::INFO => "INFO",
        tracing::Level::DEBUG | tracing::Level::TRACE => "DEBUG",
    }
}

/// The record time as slog writes it in UTC: logfmt with milliseconds
/// (`2026-11-24T21:30:00.123Z`), JSON in RFC 3339 with up to nine fraction digits, trailing
/// zeros trimmed (`2026-11-24T21:30:00.1234567Z`).
fn format_time(since_epoch: std::time::Duration, format: LogFormat) -> String {
    let secs = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
    let nanos = since_epoch.subsec_nanos();
    let (y, m, d) = model::civil::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        s / 3600,
        s % 3600 / 60,
        s % 60
    );
    match format {
        LogFormat::Logfmt => out.push_str(&format!(".{:03}", nanos / 1_000_000)),
        LogFormat::Json => {
            let frac = format!("{nanos:09}");
            let frac = frac.trim_end_matches('0');
            if !frac.is_empty() {
                out.push('.');
                out.push_str(frac);
            }
        }
    }
    out.push('Z');
    out
}

impl<S, N> FormatEvent<S, N> for Format
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let time = format_time(now, self.0);
        let file = meta
            .file()
            .map(|f| f.rsplit('/').next().unwrap_or(f))
            .unwrap_or("unknown");
        let source = format!("{file}:{}", meta.line().unwrap_or(0));
        let level = level_name(*meta.level());
        // The enclosing spans' fields, outermost first, as Go's `With` chain.
        let mut context: Vec<(String, Value)> = Vec::new();
        let mut span_component = None;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if let Some(SpanFields(f)) = span.extensions().get::<SpanFields>() {
                    if let Some(c) = &f.component {
                        span_component = Some(c.clone());
                    }
                    context.extend(f.pairs.iter().cloned());
                }
            }
        }
        let component = fields
            .component
            .take()
            .or(span_component)
            .or_else(|| component_of(meta.target()).map(|c| Value::Str(c.to_owned())));
        let pairs = component
            .iter()
            .map(|c| ("component", c))
            .chain(context.iter().map(|(k, v)| (k.as_str(), v)))
            .chain(fields.pairs.iter().map(|(k, v)| (k.as_str(), v)));
        match self.0 {
            LogFormat::Logfmt => {
                write!(
                    writer,
                    "time={time} level={level} source={source} msg={}",
                    logfmt_value(&fields.message)
                )?;
                for (k, v) in pairs {
                    write!(writer, " {k}=")?;
                    v.write_logfmt(&mut writer)?;
                }
            }
            LogFormat::Json => {
                write!(
                    writer,
                    "{{\"time\":\"{time}\",\"level\":\"{level}\",\"source\":{},\"msg\":{}",
                    json_string(&source),
                    json_string(&fields.message)
                )?;
                for (k, v) in pairs {
                    write!(writer, ",{}:", json_string(k))?;
                    v.write_json(&mut writer)?;
                }
                write!(writer, "}}")?;
            }
        }
        writeln!(writer)
    }
}

struct Format(LogFormat);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_like_slog() {
        assert_eq!(logfmt_value("plain"), "plain");
        assert_eq!(logfmt_value("two words"), "\"two words\"");
        assert_eq!(logfmt_value(""), "\"\"");
        assert_eq!(logfmt_value("a=b"), "\"a=b\"");
        assert_eq!(logfmt_value("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(json_string("a\"b\n"), "\"a\\\"b\\n\"");
        assert_eq!(json_string("<&>\u{1b}\u{2028}"), "\"<&>\\u001b\\u2028\"");
    }

    #[test]
    fn typed_values_are_written_like_slog() {
        let write = |v: &Value, json: bool| {
            let mut out = String::new();
            let mut w = Writer::new(&mut out);
            if json {
                v.write_json(&mut w).unwrap();
            } else {
                v.write_logfmt(&mut w).unwrap();
            }
            out
        };
        // Go's %g-style shortest form in text, encoding/json's in JSON.
        assert_eq!(write(&Value::Float(4.31e-7), false), "4.31e-07");
        assert_eq!(write(&Value::Float(4.31e-7), true), "4.31e-07");
        assert_eq!(write(&Value::Float(0.5), true), "0.5");
        assert_eq!(write(&Value::Int(-3), true), "-3");
        assert_eq!(write(&Value::Bool(false), false), "false");
        assert_eq!(write(&Value::Str("15d".into()), true), "\"15d\"");
        assert_eq!(write(&Value::Str("a b".into()), false), "\"a b\"");
    }

    #[test]
    fn times_are_formatted_like_slog() {
        let t = std::time::Duration::new(1_795_555_330, 623_239_900);
        assert_eq!(
            format_time(t, LogFormat::Logfmt),
            "2026-11-24T21:22:10.623Z"
        );
        assert_eq!(
            format_time(t, LogFormat::Json),
            "2026-11-24T21:22:10.6232399Z"
        );
        let whole = std::time::Duration::from_secs(1_795_555_330);
        assert_eq!(format_time(whole, LogFormat::Json), "2026-11-24T21:22:10Z");
        assert_eq!(
            format_time(whole, LogFormat::Logfmt),
            "2026-11-24T21:22:10.000Z"
        );
    }

    #[test]
    fn components_follow_the_crate() {
        assert_eq!(component_of("tsdb::head::replay"), Some("tsdb"));
        assert_eq!(component_of("rules::group"), Some("rule manager"));
        assert_eq!(component_of("storage::remote::queue"), Some("remote"));
        assert_eq!(component_of("storage::fanout"), None);
        assert_eq!(component_of("tsdb::agent"), None);
        assert_eq!(component_of("prometheus::server"), None);
        assert_eq!(
            GoDuration(std::time::Duration::from_micros(1500)).to_string(),
            "1.5ms"
        );
        assert_eq!(GoDuration(std::time::Duration::ZERO).to_string(), "0s");
    }
}
