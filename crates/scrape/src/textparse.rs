//! Exposition-format parsers (Go's `model/textparse`): the [`Parser`] trait, the Prometheus
//! text format ([`PromParser`]), OpenMetrics ([`OpenMetricsParser`]) and protobuf
//! ([`ProtobufParser`], with native histograms; its messages are in [`dto`]) implementations,
//! and [`new`], which picks one from a `Content-Type` header.
//!
//! Both parsers mirror Prometheus's golex-generated lexers rule for rule, so that they accept
//! exactly what Prometheus accepts and report errors in its words; every error also carries the
//! line it occurred on. They borrow the payload and allocate only when a caller asks for
//! [`Parser::labels`], an unescaped help text or an exemplar.
//!
//! Where this deliberately differs from Go:
//! - quoted metric family names in `# HELP`/`# TYPE`/`# UNIT` and exemplar labels are
//!   unescaped (Go hands them out raw);
//! - a label name that appears twice, or a name that is not UTF-8, is reported by
//!   [`Parser::labels`] (Go builds the label set and lets the scrape loop or the TSDB reject it);
//! - `le`/`quantile` values written as hexadecimal floats are not normalized.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use model::{Labels, Timestamp};

use crate::{Error, Result};

pub mod dto;
mod nhcb;
mod openmetricsparse;
mod promparse;
pub(crate) mod protobufparse;
mod write;

pub use nhcb::NhcbParser;
pub use openmetricsparse::OpenMetricsParser;
pub use promparse::PromParser;
pub use protobufparse::ProtobufParser;
pub use write::{MetricFamily, Sample, collect_families, write_openmetrics, write_text};

/// What [`Parser::next`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entry {
    /// A `# TYPE` line: read it with [`Parser::metric_type`].
    Type,
    /// A `# HELP` line: read it with [`Parser::help`].
    Help,
    /// A `# UNIT` line (OpenMetrics only): read it with [`Parser::unit`].
    Unit,
    /// Any other comment (Prometheus text format only): read it with [`Parser::comment`].
    Comment,
    /// A sample: read it with [`Parser::series`], [`Parser::labels`], [`Parser::exemplar`] and
    /// [`Parser::created_timestamp`].
    Series,
    /// A native histogram (protobuf format only): read it with [`Parser::histogram`],
    /// [`Parser::labels`], [`Parser::exemplar`] and [`Parser::created_timestamp`].
    Histogram,
}

/// The type of a metric family, as declared by a `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricType {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram`.
    Histogram,
    /// `gaugehistogram` (OpenMetrics only).
    GaugeHistogram,
    /// `summary`.
    Summary,
    /// `info` (OpenMetrics only).
    Info,
    /// `stateset` (OpenMetrics only).
    Stateset,
    /// `untyped` in the text format, `unknown` in OpenMetrics, and no `# TYPE` line at all.
    #[default]
    Unknown,
}

impl MetricType {
    /// The name Prometheus uses for this type (`model.MetricType` strings): `unknown` for
    /// [`MetricType::Unknown`].
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::Stateset => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An exemplar attached to an OpenMetrics sample (`# {trace_id="abc"} 0.5 1520879607.789`).
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// The exemplar's labels.
    pub labels: Labels,
    /// The exemplar's value.
    pub value: f64,
    /// The exemplar's timestamp in milliseconds, if one was given.
    pub timestamp: Option<Timestamp>,
}

/// A streaming parser over one scrape payload, as Go's `textparse.Parser`.
///
/// Call [`Parser::next`] until it returns `Ok(None)` (the end of the payload) or an error; after
/// each entry, the accessor matching the returned [`Entry`] describes it. Accessors called for
/// another kind of entry return empty values.
pub trait Parser {
    /// Advances to the next entry. `Ok(None)` means the payload ended cleanly.
    ///
    /// # Errors
    /// [`Error::Parse`] when the payload is malformed; the parser must not be used afterwards.
    fn next(&mut self) -> Result<Option<Entry>>;

    /// The raw bytes of the current series (metric name and label set as written, e.g.
    /// `http_requests_total{code="200"}`; a stable key for caches), its timestamp in
    /// milliseconds if the line has one, and its value.
    fn series(&self) -> (&[u8], Option<Timestamp>, f64);

    /// The metric family name and the unescaped help text of the current `# HELP` entry.
    fn help(&self) -> (Cow<'_, str>, Cow<'_, str>);

    /// The metric family name and type of the current `# TYPE` entry.
    fn metric_type(&self) -> (Cow<'_, str>, MetricType);

    /// The metric family name and unit of the current `# UNIT` entry (empty for the text
    /// format, which has no units).
    fn unit(&self) -> (Cow<'_, str>, Cow<'_, str>);

    /// The text of the current comment entry, `#` included.
    fn comment(&self) -> &[u8];

    /// The label set of the current series: `__name__` plus its labels, unescaped, with the
    /// values of `le` (histograms) and `quantile` (summaries) normalized to OpenMetrics float
    /// formatting as Prometheus does (`le="1"` becomes `le="1.0"`).
    ///
    /// # Errors
    /// [`Error::DuplicateLabelName`] if a label name repeats, [`Error::InvalidUtf8Name`] if a
    /// quoted name is not UTF-8.
    fn labels(&self) -> Result<Labels>;

    /// The exemplar of the current series, if it has one. As in Go, it is handed out once:
    /// later calls for the same series return `None`. A native histogram can have several:
    /// each call returns the next, until `None`.
    fn exemplar(&mut self) -> Option<Exemplar>;

    /// The raw key of the current native histogram (as [`Parser::series`]), its timestamp,
    /// and the histogram: integer or float, the other `None`. The default (for formats
    /// without native histograms) returns no histogram.
    fn histogram(
        &self,
    ) -> (
        &[u8],
        Option<Timestamp>,
        Option<model::Histogram>,
        Option<model::FloatHistogram>,
    ) {
        (&[], None, None, None)
    }

    /// The created timestamp (milliseconds) of the current series, from its `_created` line in
    /// OpenMetrics (counters, histograms and summaries); `None` when there is none and always
    /// for the text format. Looks ahead within the metric family without moving the parser.
    fn created_timestamp(&mut self) -> Option<Timestamp>;
}

/// An exposition format that a scrape response can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// The Prometheus text format (`text/plain`, versions 0.0.4 and 1.0.0).
    PrometheusText,
    /// OpenMetrics text (`application/openmetrics-text`, versions 0.0.1 and 1.0.0).
    OpenMetricsText,
    /// The Prometheus protobuf format (`application/vnd.google.protobuf`, delimited
    /// `io.prometheus.client.MetricFamily` messages).
    PrometheusProto,
}

impl Format {
    /// The media type of this format.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::PrometheusText => "text/plain",
            Format::OpenMetricsText => "application/openmetrics-text",
            Format::PrometheusProto => "application/vnd.google.protobuf",
        }
    }

    /// The format of a `scrape_protocols` / `fallback_scrape_protocol` value of the scrape
    /// config (`PrometheusText0.0.4`, `OpenMetricsText1.0.0`, ...), or `None` for an unknown
    /// name.
    pub fn from_scrape_protocol(name: &str) -> Option<Format> {
        match name {
            "PrometheusText0.0.4" | "PrometheusText1.0.0" => Some(Format::PrometheusText),
            "OpenMetricsText0.0.1" | "OpenMetricsText1.0.0" => Some(Format::OpenMetricsText),
            "PrometheusProto" => Some(Format::PrometheusProto),
            _ => None,
        }
    }

    fn from_media_type(media_type: &str) -> Option<Format> {
        match media_type {
            "text/plain" => Some(Format::PrometheusText),
            "application/openmetrics-text" => Some(Format::OpenMetricsText),
            "application/vnd.google.protobuf" => Some(Format::PrometheusProto),
            _ => None,
        }
    }
}

/// Options for [`new`] (Go's `textparse.ParserOptions`, for the parts this crate implements).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParserOptions {
    /// The format to use when the `Content-Type` is blank, unparsable or unsupported (the
    /// scrape config's `fallback_scrape_protocol`). Without it those cases are errors.
    pub fallback: Option<Format>,
    /// OpenMetrics only: do not yield `_created` lines of counters, histograms and summaries as
    /// series (Prometheus does this when created-timestamp zero ingestion is on); their value is
    /// still available through [`Parser::created_timestamp`].
    pub skip_created_series: bool,
    /// Protobuf only: read native histograms as classic ones (Go's
    /// `IgnoreNativeHistograms`, set when `scrape_native_histograms` is off).
    pub ignore_native_histograms: bool,
    /// Protobuf only: follow a native histogram that also has classic buckets with its
    /// classic series (`always_scrape_classic_histograms`).
    pub keep_classic_histograms: bool,
    /// Classic histograms become native histograms with custom buckets
    /// (`convert_classic_histograms_to_nhcb`): in protobuf payloads directly, in the text
    /// formats through [`NhcbParser`] (keeping the classic series with
    /// `keep_classic_histograms`).
    pub convert_classic_histograms_to_nhcb: bool,
}

/// Picks the exposition format for a `Content-Type` header, with Prometheus's rules
/// (`extractMediaType`): a recognized media type wins; a blank, unparsable or unrecognized one
/// selects `fallback` with a warning, or fails when there is no fallback.
///
/// Returns the format and, when the fallback was used, the warning to log.
///
/// # Errors
/// [`Error::ContentType`] when no format can be chosen.
pub fn select_format(
    content_type: &str,
    fallback: Option<Format>,
) -> Result<(Format, Option<Error>)> {
    let warn = |message: String| Error::ContentType { message };
    if content_type.is_empty() {
        return match fallback {
            None => Err(warn(
                "non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target".into(),
            )),
            Some(f) => Ok((
                f,
                Some(warn(format!(
                    "non-compliant scrape target sending blank Content-Type, using fallback_scrape_protocol {}",
                    quote(f.media_type())
                ))),
            )),
        };
    }
    let media_type = match parse_media_type(content_type) {
        Ok(m) => m,
        Err(e) => {
            return match fallback {
                None => Err(warn(format!(
                    "cannot parse Content-Type {} and no fallback_scrape_protocol for target: {e}",
                    quote(content_type)
                ))),
                Some(f) => Ok((
                    f,
                    Some(warn(format!(
                        "could not parse received Content-Type {}, using fallback_scrape_protocol {}: {e}",
                        quote(content_type),
                        quote(f.media_type())
                    ))),
                )),
            };
        }
    };
    if let Some(f) = Format::from_media_type(&media_type) {
        return Ok((f, None));
    }
    match fallback {
        None => Err(warn(format!(
            "received unsupported Content-Type {} and no fallback_scrape_protocol specified for target",
            quote(content_type)
        ))),
        Some(f) => Ok((
            f,
            Some(warn(format!(
                "received unsupported Content-Type {}, using fallback_scrape_protocol {}",
                quote(content_type),
                quote(f.media_type())
            ))),
        )),
    }
}

/// Returns a parser for a scrape payload, chosen by its `Content-Type` as Prometheus's
/// `textparse.New` chooses (see [`select_format`]). The second value is a warning to log when
/// the fallback format had to be used.
///
/// # Errors
/// [`Error::ContentType`] when no format can be chosen.
pub fn new<'a>(
    body: &'a [u8],
    content_type: &str,
    options: &ParserOptions,
) -> Result<(TextParser<'a>, Option<Error>)> {
    let (format, warning) = select_format(content_type, options.fallback)?;
    let parser = match format {
        Format::PrometheusText => TextParser::Prom(PromParser::new(body)),
        Format::OpenMetricsText => {
            let mut p = OpenMetricsParser::new(body);
            p.set_skip_created_series(options.skip_created_series);
            TextParser::OpenMetrics(p)
        }
        Format::PrometheusProto => TextParser::Proto(
            ProtobufParser::new(
                body,
                options.ignore_native_histograms,
                options.keep_classic_histograms,
            )
            .convert_classic_to_nhcb(options.convert_classic_histograms_to_nhcb),
        ),
    };
    let parser = match parser {
        TextParser::Prom(_) | TextParser::OpenMetrics(_)
            if options.convert_classic_histograms_to_nhcb =>
        {
            TextParser::Nhcb(Box::new(NhcbParser::new(
                parser,
                options.keep_classic_histograms,
            )))
        }
        other => other,
    };
    Ok((parser, warning))
}

/// One of the parsers, as [`new`] returns it. Implements [`Parser`] by delegation.
#[derive(Debug)]
pub enum TextParser<'a> {
    /// The Prometheus text format.
    Prom(PromParser<'a>),
    /// OpenMetrics text.
    OpenMetrics(OpenMetricsParser<'a>),
    /// The protobuf format.
    Proto(ProtobufParser<'a>),
    /// A text parser whose classic histograms are converted to custom-bucket ones.
    Nhcb(Box<NhcbParser<'a>>),
}

macro_rules! delegate {
    ($self:ident, $p:ident => $e:expr) => {
        match $self {
            TextParser::Prom($p) => $e,
            TextParser::OpenMetrics($p) => $e,
            TextParser::Proto($p) => $e,
            TextParser::Nhcb($p) => $e,
        }
    };
}

impl Parser for TextParser<'_> {
    fn next(&mut self) -> Result<Option<Entry>> {
        delegate!(self, p => p.next())
    }
    fn series(&self) -> (&[u8], Option<Timestamp>, f64) {
        delegate!(self, p => p.series())
    }
    fn help(&self) -> (Cow<'_, str>, Cow<'_, str>) {
        delegate!(self, p => p.help())
    }
    fn metric_type(&self) -> (Cow<'_, str>, MetricType) {
        delegate!(self, p => p.metric_type())
    }
    fn unit(&self) -> (Cow<'_, str>, Cow<'_, str>) {
        delegate!(self, p => p.unit())
    }
    fn comment(&self) -> &[u8] {
        delegate!(self, p => p.comment())
    }
    fn labels(&self) -> Result<Labels> {
        delegate!(self, p => p.labels())
    }
    fn exemplar(&mut self) -> Option<Exemplar> {
        delegate!(self, p => p.exemplar())
    }
    fn histogram(
        &self,
    ) -> (
        &[u8],
        Option<Timestamp>,
        Option<model::Histogram>,
        Option<model::FloatHistogram>,
    ) {
        delegate!(self, p => p.histogram())
    }
    fn created_timestamp(&mut self) -> Option<Timestamp> {
        delegate!(self, p => p.created_timestamp())
    }
}

// ---------------------------------------------------------------------------------------------
// Pieces shared by both parsers.

/// Lexer tokens (Go's `token`), named as Go's `token.String()` names them, since error
/// messages quote those names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Invalid,
    Eof,
    Linebreak,
    Whitespace,
    Help,
    Type,
    Unit,
    EofWord,
    Text,
    Comment,
    MName,
    QString,
    BraceOpen,
    BraceClose,
    LName,
    LValue,
    Comma,
    Equal,
    Timestamp,
    Value,
}

impl Token {
    fn name(self) -> &'static str {
        match self {
            Token::Invalid => "INVALID",
            Token::Eof => "EOF",
            Token::Linebreak => "LINEBREAK",
            Token::Whitespace => "WHITESPACE",
            Token::Help => "HELP",
            Token::Type => "TYPE",
            Token::Unit => "UNIT",
            Token::EofWord => "EOFWORD",
            Token::Text => "TEXT",
            Token::Comment => "COMMENT",
            Token::MName => "MNAME",
            Token::QString => "QSTRING",
            Token::BraceOpen => "BOPEN",
            Token::BraceClose => "BCLOSE",
            Token::LName => "LNAME",
            Token::LValue => "LVALUE",
            Token::Comma => "COMMA",
            Token::Equal => "EQUAL",
            Token::Timestamp => "TIMESTAMP",
            Token::Value => "VALUE",
        }
    }
}

/// Lexer start conditions (Go's `sInit`, `sComment`, ...).
mod state {
    pub(super) const INIT: u8 = 0;
    pub(super) const COMMENT: u8 = 1;
    pub(super) const META1: u8 = 2;
    pub(super) const META2: u8 = 3;
    pub(super) const LABELS: u8 = 4;
    pub(super) const LVALUE: u8 = 5;
    pub(super) const VALUE: u8 = 6;
    pub(super) const TIMESTAMP: u8 = 7;
    pub(super) const EXEMPLAR: u8 = 8;
    pub(super) const EVALUE: u8 = 9;
    pub(super) const ETIMESTAMP: u8 = 10;
}

/// A 256-entry byte class table, built at compile time from a predicate on `c`.
macro_rules! table {
    (|$c:ident| $e:expr) => {{
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            #[allow(clippy::cast_possible_truncation)] // i < 256
            let $c = i as u8;
            t[i] = $e;
            i += 1;
        }
        t
    }};
}

/// `{M}`: bytes that may start an unquoted metric name.
static METRIC_NAME_START: [bool; 256] =
    table!(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':');
/// `{M}|{D}`: bytes that may continue an unquoted metric name.
static METRIC_NAME_CHAR: [bool; 256] =
    table!(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':');
/// `{L}`: bytes that may start an unquoted label name.
static LABEL_NAME_START: [bool; 256] = table!(|c| c.is_ascii_alphabetic() || c == b'_');
/// `{L}|{D}`: bytes that may continue an unquoted label name.
static LABEL_NAME_CHAR: [bool; 256] = table!(|c| c.is_ascii_alphanumeric() || c == b'_');
/// Bytes that end the fast scan of a quoted string.
static QUOTED_STOP: [bool; 256] = table!(|c| c == b'"' || c == b'\\' || c == 0 || c == b'\n');

/// One lexer step shared by both parsers (Go's `promlexer.next` / `openMetricsLexer.next`):
/// moves `i` to the next byte, skipping null bytes in the states where they are allowed, and
/// returns it, or 0 at the end of the input.
#[inline]
fn next_byte(i: &mut usize, lexer_state: u8, b: &[u8]) -> u8 {
    *i += 1;
    if matches!(lexer_state, state::LVALUE | state::META2 | state::COMMENT) {
        while *i < b.len() && b[*i] == 0 {
            *i += 1;
        }
    }
    b.get(*i).copied().unwrap_or(0)
}

/// Counts the run of bytes of `b` from `i` on that are in `t`; returns the end of the run.
#[inline]
fn scan(b: &[u8], mut i: usize, t: &[bool; 256]) -> usize {
    while i < b.len() && t[usize::from(b[i])] {
        i += 1;
    }
    i
}

/// Quotes bytes as Go's `%q` quotes a `[]byte`: UTF-8 text with Go escapes, other bytes as
/// `\xNN`.
fn quote(b: impl AsRef<[u8]>) -> String {
    let b = b.as_ref();
    let mut out = String::with_capacity(b.len() + 2);
    out.push('"');
    for chunk in b.utf8_chunks() {
        let q = model::strconv::quote(chunk.valid());
        out.push_str(&q[1..q.len() - 1]);
        for byte in chunk.invalid() {
            // Writing into a String cannot fail.
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out.push('"');
    out
}

/// 1-based line number of byte offset `pos` in `b`.
fn line_of(b: &[u8], pos: usize) -> usize {
    1 + b[..pos.min(b.len())]
        .iter()
        .filter(|&&c| c == b'\n')
        .count()
}

/// Undoes label-value escaping (`\\`, `\"`, `\n`), as Go's `lvalReplacer`; other backslashes
/// stay as they are. Help texts of the text format do not unescape `\"` (`help_only`).
fn unescape(s: &[u8], help_only: bool) -> Cow<'_, [u8]> {
    if !s.contains(&b'\\') {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 1 < s.len() {
            match s[i + 1] {
                b'\\' => {
                    out.push(b'\\');
                    i += 2;
                    continue;
                }
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                b'"' if !help_only => {
                    out.push(b'"');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(s[i]);
        i += 1;
    }
    Cow::Owned(out)
}

/// Bytes to text, replacing invalid UTF-8 (used for metadata, which Go never validates).
fn lossy(b: Cow<'_, [u8]>) -> Cow<'_, str> {
    match b {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(v) => Cow::Owned(match String::from_utf8(v) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }),
    }
}

/// Bytes that must be UTF-8 to become a label name or value.
fn utf8<'a>(b: Cow<'a, [u8]>, data: &[u8], line_start: usize) -> Result<Cow<'a, str>> {
    let invalid = || Error::InvalidUtf8Name {
        line: line_of(data, line_start),
        name: quote(b.as_ref()),
    };
    match &b {
        Cow::Borrowed(s) => std::str::from_utf8(s)
            .map(Cow::Borrowed)
            .map_err(|_| invalid()),
        Cow::Owned(v) => match std::str::from_utf8(v) {
            Ok(s) => Ok(Cow::Owned(s.to_owned())),
            Err(_) => Err(invalid()),
        },
    }
}

/// [`unescape`] for text that is known to be UTF-8 (removing ASCII escapes keeps it so).
fn unescape_str(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let Some(first) = b.iter().position(|&c| c == b'\\') else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len());
    let (mut last, mut i) = (0, first);
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let replacement = match b[i + 1] {
                b'\\' => Some('\\'),
                b'n' => Some('\n'),
                b'"' => Some('"'),
                _ => None,
            };
            if let Some(r) = replacement {
                out.push_str(&s[last..i]);
                out.push(r);
                i += 2;
                last = i;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&s[last..]);
    Cow::Owned(out)
}

/// Builds a label set from the metric name and raw (escaped) label name/value byte ranges of
/// `data` (all within `series`), as both parsers' `Labels` methods do.
fn build_labels(
    data: &[u8],
    line_start: usize,
    series: (usize, usize),
    name: (usize, usize),
    offsets: &[usize],
    mtype: MetricType,
) -> Result<Labels> {
    // One UTF-8 check for the whole series instead of one per name and value.
    let text = std::str::from_utf8(&data[series.0..series.1]).ok();
    let piece = |s: usize, e: usize| -> Result<Cow<'_, str>> {
        if let Some(t) = text
            && s >= series.0
            && e <= series.1
            && let Some(p) = t.get(s - series.0..e - series.0)
        {
            return Ok(unescape_str(p));
        }
        utf8(unescape(&data[s..e], false), data, line_start)
    };
    let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::with_capacity(1 + offsets.len() / 4);
    pairs.push((Cow::Borrowed(model::METRIC_NAME), piece(name.0, name.1)?));
    for o in offsets.chunks_exact(4) {
        let label = piece(o[0], o[1])?;
        let value = piece(o[2], o[3])?;
        let value = normalize_float_label(mtype, &label, value);
        pairs.push((label, value));
    }
    // `Labels::from_pairs` keeps the last of equal names; Prometheus rejects the sample.
    for (i, (n, _)) in pairs.iter().enumerate() {
        if pairs[i + 1..].iter().any(|(m, _)| m == n) {
            return Err(Error::DuplicateLabelName {
                line: line_of(data, line_start),
                name: n.to_string(),
            });
        }
    }
    Ok(Labels::from_pairs(pairs))
}

/// Go's `normalizeFloatsInLabelValues`: `le` of histograms and `quantile` of summaries are
/// rewritten in OpenMetrics float formatting when they parse as floats.
fn normalize_float_label<'a>(mtype: MetricType, label: &str, value: Cow<'a, str>) -> Cow<'a, str> {
    let applies = (mtype == MetricType::Summary && label == "quantile")
        || (mtype == MetricType::Histogram && label == "le");
    if !applies || value == "+Inf" {
        return value;
    }
    match go_parse_float(value.as_bytes()) {
        Ok(f) => {
            let s = format_openmetrics_float(f);
            if s == value.as_ref() {
                value
            } else {
                Cow::Owned(s)
            }
        }
        Err(_) => value,
    }
}

/// Parses a sample value or timestamp as Prometheus's `parseFloat`: Go's `strconv.ParseFloat`,
/// minus the Go 1.13 forms (hexadecimal floats and underscores are rejected). The error is
/// worded as Go words it.
fn parse_float(s: &[u8]) -> std::result::Result<f64, String> {
    if s.iter().any(|&c| matches!(c, b'p' | b'P' | b'_')) {
        return Err("unsupported character in float".to_owned());
    }
    go_parse_float(s)
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal input: `[+-]?(d+[.d*]|.d+)([eE][+-]?d+)?`,
/// or `[+-]?inf`/`[+-]?infinity`/`nan` in any case. Overflow is an error (as in Go), underflow
/// rounds to zero.
fn go_parse_float(s: &[u8]) -> std::result::Result<f64, String> {
    let syntax = || format!("strconv.ParseFloat: parsing {}: invalid syntax", quote(s));
    // Fast path: small integers, the most common sample values.
    if !s.is_empty() && s.len() <= 15 && s.iter().all(u8::is_ascii_digit) {
        let mut n: u64 = 0;
        for &c in s {
            n = n * 10 + u64::from(c - b'0');
        }
        #[allow(clippy::cast_precision_loss)] // below 2^53: exact
        return Ok(n as f64);
    }
    let (neg, body) = match s.first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let sign = if neg { -1.0 } else { 1.0 };
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Ok(sign * f64::INFINITY);
    }
    if body.eq_ignore_ascii_case(b"nan") {
        if body.len() != s.len() {
            return Err(syntax());
        }
        return Ok(f64::NAN);
    }
    let mut i = 0;
    let int_digits = scan_digits(body, &mut i);
    let mut frac_digits = 0;
    if body.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = scan_digits(body, &mut i);
    }
    if int_digits + frac_digits == 0 {
        return Err(syntax());
    }
    if matches!(body.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(body.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if scan_digits(body, &mut i) == 0 {
            return Err(syntax());
        }
    }
    if i != body.len() {
        return Err(syntax());
    }
    // The input is plain ASCII decimal by now, which Rust parses with the same (correct)
    // rounding as Go.
    let text = std::str::from_utf8(s).map_err(|_| syntax())?;
    let v: f64 = text.parse().map_err(|_| syntax())?;
    if v.is_infinite() {
        return Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            quote(s)
        ));
    }
    Ok(v)
}

fn scan_digits(b: &[u8], i: &mut usize) -> usize {
    let start = *i;
    while *i < b.len() && b[*i].is_ascii_digit() {
        *i += 1;
    }
    *i - start
}

/// Go's `strconv.ParseInt(s, 10, 64)` for a run of ASCII digits (all the text format's
/// timestamp rule lets through), with Go's error wording.
fn parse_timestamp_ms(s: &[u8]) -> std::result::Result<i64, String> {
    let mut n: i64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return Err(format!(
                "strconv.ParseInt: parsing {}: invalid syntax",
                quote(s)
            ));
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(i64::from(c - b'0')))
            .ok_or_else(|| format!("strconv.ParseInt: parsing {}: value out of range", quote(s)))?;
    }
    if s.is_empty() {
        return Err("strconv.ParseInt: parsing \"\": invalid syntax".to_owned());
    }
    Ok(n)
}

/// Replaces every NaN with Prometheus's canonical NaN, so that a payload can never produce a
/// staleness marker.
fn canonical_nan(v: f64) -> f64 {
    if v.is_nan() {
        f64::from_bits(model::value::NORMAL_NAN_BITS)
    } else {
        v
    }
}

/// Go's `labels.FormatOpenMetricsFloat`: like [`model::strconv::format_float_g`], with `.0` appended when
/// the result has neither a `.` nor an `e`.
pub(crate) fn format_openmetrics_float(f: f64) -> String {
    if f == 0.0 {
        return "0.0".to_owned();
    }
    let mut s = model::strconv::format_float_g(f);
    if !f.is_finite() {
        return s;
    }
    if !s.contains(['.', 'e']) {
        s.push_str(".0");
    }
    s
}

/// Go's `mime.ParseMediaType`, reduced to what [`select_format`] needs: the lower-cased media
/// type, after checking the syntax of the type and its parameters.
fn parse_media_type(v: &str) -> std::result::Result<String, &'static str> {
    let (base, mut rest) = v.find(';').map_or((v, ""), |i| (&v[..i], &v[i..]));
    let media_type = base.trim().to_ascii_lowercase();
    // checkMediaTypeDisposition.
    let (typ, after) = consume_token(&media_type);
    if typ.is_empty() {
        return Err("mime: no media type");
    }
    if !after.is_empty() {
        let Some(sub) = after.strip_prefix('/') else {
            return Err("mime: expected slash after first token");
        };
        let (subtype, after) = consume_token(sub);
        if subtype.is_empty() {
            return Err("mime: expected token after slash");
        }
        if !after.is_empty() {
            return Err("mime: unexpected content after media subtype");
        }
    }
    // Parameters: `; name=value` with value a token or a quoted string.
    let mut seen: Vec<String> = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let (key, value_ok, after) = consume_param(rest);
        if key.is_empty() || !value_ok {
            if rest.trim() == ";" {
                break;
            }
            return Err("mime: invalid media parameter");
        }
        let key = key.to_ascii_lowercase();
        if seen.contains(&key) {
            return Err("mime: duplicate parameter name");
        }
        seen.push(key);
        rest = after;
    }
    Ok(media_type)
}

fn is_token_char(c: char) -> bool {
    c.is_ascii() && !c.is_ascii_control() && c != ' ' && !"()<>@,;:\\\"/[]?=".contains(c)
}

fn consume_token(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !is_token_char(c)).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// Parses `;key=value` at the start of `s` (leading whitespace allowed around the key).
/// Returns the key (empty on failure), whether the value parsed, and the rest.
fn consume_param(s: &str) -> (&str, bool, &str) {
    let Some(s) = s.strip_prefix(';') else {
        return ("", false, s);
    };
    let s = s.trim_start();
    let (key, s) = consume_token(s);
    if key.is_empty() {
        return ("", false, s);
    }
    let s = s.trim_start();
    let Some(s) = s.strip_prefix('=') else {
        return ("", false, s);
    };
    let s = s.trim_start();
    if let Some(q) = s.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in q.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => return (key, true, &q[i + 1..]),
                _ => {}
            }
        }
        return (key, false, "");
    }
    let (value, rest) = consume_token(s);
    (key, !value.is_empty(), rest)
}

#[cfg(test)]
mod tests;
