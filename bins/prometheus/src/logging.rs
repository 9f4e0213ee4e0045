//! Log lines in Prometheus 3's formats: logfmt (`time=... level=INFO source=main.rs:12
//! msg="..." key=value`) or one JSON object per line, on stderr.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::flags::LogFormat;

/// Installs the global subscriber.
pub(crate) fn init(level: tracing::Level, format: LogFormat) {
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .event_format(Format(format))
        .init();
}

struct Format(LogFormat);

#[derive(Default)]
struct Fields {
    message: String,
    pairs: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.message);
        } else {
            self.pairs.push((field.name().to_owned(), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.pairs.push((field.name().to_owned(), text));
        }
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

impl<S, N> FormatEvent<S, N> for Format
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let time = web::format_log_time(now);
        let file = meta
            .file()
            .map(|f| f.rsplit('/').next().unwrap_or(f))
            .unwrap_or("unknown");
        let source = format!("{file}:{}", meta.line().unwrap_or(0));
        let level = level_name(*meta.level());
        match self.0 {
            LogFormat::Logfmt => {
                write!(
                    writer,
                    "time={time} level={level} source={source} msg={}",
                    logfmt_value(&fields.message)
                )?;
                for (k, v) in &fields.pairs {
                    write!(writer, " {k}={}", logfmt_value(v))?;
                }
            }
            LogFormat::Json => {
                write!(
                    writer,
                    "{{\"time\":\"{time}\",\"level\":\"{level}\",\"source\":{},\"msg\":{}",
                    json_string(&source),
                    json_string(&fields.message)
                )?;
                for (k, v) in &fields.pairs {
                    write!(writer, ",{}:{}", json_string(k), json_string(v))?;
                }
                write!(writer, "}}")?;
            }
        }
        writeln!(writer)
    }
}

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
    }
}
