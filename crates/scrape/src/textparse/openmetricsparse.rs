//! The OpenMetrics 1.0 text parser (Go's `openmetricsparse.go` and `openmetricslex.l`).

use std::borrow::Cow;

use model::{Labels, Timestamp};

use super::{
    Entry, Exemplar, LABEL_NAME_CHAR, LABEL_NAME_START, METRIC_NAME_CHAR, METRIC_NAME_START,
    MetricType, Parser, QUOTED_STOP, Token, build_labels, canonical_nan, line_of, lossy, next_byte,
    parse_float, quote, scan, state, unescape, utf8,
};
use crate::{Error, Result};

/// `[^ \n]` minus the null byte: the bytes of values and timestamps.
fn is_value_char(c: u8) -> bool {
    c != 0 && c != b' ' && c != b'\n'
}

/// The lexer: a hand-written copy of the golex state machine of `openmetricslex.l`.
#[derive(Debug, Clone, Copy)]
struct Lexer {
    i: usize,
    start: usize,
    state: u8,
}

impl Lexer {
    /// Go's `openMetricsLexer.next`.
    #[inline]
    fn next(&mut self, b: &[u8]) -> u8 {
        next_byte(&mut self.i, self.state, b)
    }

    /// A quoted string starting at the current `"`, newlines inside allowed or not.
    fn quoted(&mut self, b: &[u8], allow_newline: bool) -> bool {
        let skip_nul = matches!(self.state, state::LVALUE | state::META2 | state::COMMENT);
        let mut i = self.i + 1;
        loop {
            while i < b.len() && !QUOTED_STOP[usize::from(b[i])] {
                i += 1;
            }
            if i >= b.len() {
                self.i = b.len();
                return false;
            }
            match b[i] {
                b'"' => {
                    self.i = i;
                    self.next(b);
                    return true;
                }
                b'\\' => {
                    self.i = i;
                    let c = self.next(b);
                    if c == 0 || c == b'\n' {
                        return false;
                    }
                    i = self.i + 1;
                }
                b'\n' if allow_newline => i += 1,
                0 if skip_nul => i += 1,
                _ => {
                    self.i = i;
                    return false;
                }
            }
        }
    }

    /// `{S}[^ \n]+` starting at the current space.
    fn spaced(&mut self, b: &[u8]) -> bool {
        if !is_value_char(self.next(b)) {
            return false;
        }
        while is_value_char(self.next(b)) {}
        true
    }

    /// Matches the bytes of `word` one by one (the current byte is `word[0]`).
    fn keyword(&mut self, b: &[u8], word: &[u8]) -> bool {
        word[1..].iter().all(|&w| self.next(b) == w)
    }

    /// Returns the next token (Go's `openMetricsLexer.Lex`).
    fn lex(&mut self, b: &[u8]) -> Token {
        if self.i >= b.len() {
            return Token::Eof;
        }
        let mut c = b[self.i];
        self.start = self.i;
        loop {
            match self.state {
                state::INIT => {
                    return match c {
                        b'#' => {
                            if self.next(b) != b' ' {
                                return Token::Invalid;
                            }
                            c = self.next(b);
                            self.state = state::COMMENT;
                            continue;
                        }
                        b'{' => {
                            self.next(b);
                            self.state = state::LABELS;
                            Token::BraceOpen
                        }
                        c if METRIC_NAME_START[usize::from(c)] => {
                            self.i = scan(b, self.i + 1, &METRIC_NAME_CHAR);
                            self.state = state::VALUE;
                            Token::MName
                        }
                        _ => Token::Invalid,
                    };
                }
                state::COMMENT => {
                    let (word, tok): (&[u8], Token) = match c {
                        b'E' => (b"EOF", Token::EofWord),
                        b'H' => (b"HELP ", Token::Help),
                        b'T' => (b"TYPE ", Token::Type),
                        b'U' => (b"UNIT ", Token::Unit),
                        _ => return Token::Invalid,
                    };
                    if !self.keyword(b, word) {
                        return Token::Invalid;
                    }
                    if tok == Token::EofWord {
                        if self.next(b) == b'\n' {
                            self.next(b);
                        }
                        self.state = state::INIT;
                    } else {
                        self.next(b);
                        self.state = state::META1;
                    }
                    return tok;
                }
                state::META1 => {
                    return match c {
                        b'"' => {
                            if self.quoted(b, true) {
                                self.state = state::META2;
                                Token::MName
                            } else {
                                Token::Invalid
                            }
                        }
                        c if METRIC_NAME_START[usize::from(c)] => {
                            self.i = scan(b, self.i + 1, &METRIC_NAME_CHAR);
                            self.state = state::META2;
                            Token::MName
                        }
                        _ => Token::Invalid,
                    };
                }
                state::META2 => {
                    if c != b' ' {
                        return Token::Invalid;
                    }
                    loop {
                        match self.next(b) {
                            b'\n' => {
                                self.next(b);
                                self.state = state::INIT;
                                return Token::Text;
                            }
                            0 => return Token::Invalid,
                            _ => {}
                        }
                    }
                }
                state::LABELS | state::EXEMPLAR => {
                    let exemplar = self.state == state::EXEMPLAR;
                    return match c {
                        b',' => {
                            self.next(b);
                            Token::Comma
                        }
                        b'=' => {
                            self.next(b);
                            self.state = if exemplar {
                                state::EVALUE
                            } else {
                                state::LVALUE
                            };
                            Token::Equal
                        }
                        b'}' => {
                            self.next(b);
                            self.state = if exemplar {
                                state::EVALUE
                            } else {
                                state::VALUE
                            };
                            Token::BraceClose
                        }
                        b'"' => {
                            if self.quoted(b, !exemplar) {
                                Token::QString
                            } else {
                                Token::Invalid
                            }
                        }
                        c if LABEL_NAME_START[usize::from(c)] => {
                            self.i = scan(b, self.i + 1, &LABEL_NAME_CHAR);
                            Token::LName
                        }
                        _ => Token::Invalid,
                    };
                }
                state::LVALUE => {
                    if c == b'"' && self.quoted(b, false) {
                        self.state = state::LABELS;
                        return Token::LValue;
                    }
                    return Token::Invalid;
                }
                state::VALUE => {
                    return match c {
                        b' ' if self.spaced(b) => {
                            self.state = state::TIMESTAMP;
                            Token::Value
                        }
                        b'{' => {
                            self.next(b);
                            self.state = state::LABELS;
                            Token::BraceOpen
                        }
                        _ => Token::Invalid,
                    };
                }
                state::TIMESTAMP => {
                    return match c {
                        b'\n' => {
                            self.next(b);
                            self.state = state::INIT;
                            Token::Linebreak
                        }
                        b' ' => match self.next(b) {
                            b'#' => match self.next(b) {
                                b' ' => {
                                    if self.next(b) == b'{' {
                                        self.next(b);
                                        self.state = state::EXEMPLAR;
                                        Token::Comment
                                    } else {
                                        Token::Invalid
                                    }
                                }
                                c if is_value_char(c) => {
                                    while is_value_char(self.next(b)) {}
                                    Token::Timestamp
                                }
                                _ => Token::Timestamp,
                            },
                            c if is_value_char(c) => {
                                while is_value_char(self.next(b)) {}
                                Token::Timestamp
                            }
                            _ => Token::Invalid,
                        },
                        _ => Token::Invalid,
                    };
                }
                state::EVALUE => {
                    return match c {
                        b' ' if self.spaced(b) => {
                            self.state = state::ETIMESTAMP;
                            Token::Value
                        }
                        b'"' => {
                            if self.quoted(b, false) {
                                self.state = state::EXEMPLAR;
                                Token::LValue
                            } else {
                                Token::Invalid
                            }
                        }
                        _ => Token::Invalid,
                    };
                }
                _ => {
                    // state::ETIMESTAMP
                    return match c {
                        b' ' if self.spaced(b) => Token::Timestamp,
                        b'\n' => {
                            self.next(b);
                            self.state = state::INIT;
                            Token::Linebreak
                        }
                        _ => Token::Invalid,
                    };
                }
            }
        }
    }
}

/// Everything the parser knows about the current entry; copied to look ahead for `_created`
/// lines.
#[derive(Debug, Clone)]
struct Cursor {
    l: Lexer,
    /// Start of the current entry (Go's `p.start`).
    start: usize,
    series: (usize, usize),
    name: Option<(usize, usize)>,
    /// Label name start/end and value start/end, four per label.
    offsets: Vec<usize>,
    text: (usize, usize),
    mtype: MetricType,
    /// Length of the metric family name of the last metadata line (Go's `mfNameLen`).
    mf_name_len: usize,
    val: f64,
    ts: Option<Timestamp>,
    /// Exemplar label offsets (four per label), or empty.
    e_offsets: Vec<usize>,
    has_exemplar: bool,
    exemplar_val: f64,
    exemplar_ts: Option<Timestamp>,
}

impl Cursor {
    fn new() -> Cursor {
        Cursor {
            l: Lexer {
                i: 0,
                start: 0,
                state: state::INIT,
            },
            start: 0,
            series: (0, 0),
            name: None,
            offsets: Vec::with_capacity(16),
            text: (0, 0),
            mtype: MetricType::Unknown,
            mf_name_len: 0,
            val: 0.0,
            ts: None,
            e_offsets: Vec::new(),
            has_exemplar: false,
            exemplar_val: 0.0,
            exemplar_ts: None,
        }
    }

    fn err(&self, b: &[u8], message: String) -> Error {
        Error::Parse {
            line: line_of(b, self.start),
            message,
        }
    }

    fn parse_error(&self, b: &[u8], exp: &str, got: Token) -> Error {
        let e = b.len().min(self.l.i + 1);
        let tok_start = self.l.start.min(e);
        self.err(
            b,
            format!(
                "{exp}, got {} ({}) while parsing: {}",
                quote(&b[tok_start..e]),
                quote(got.name()),
                quote(&b[self.start..e])
            ),
        )
    }

    fn while_parsing(&self, b: &[u8], e: &str) -> Error {
        self.err(
            b,
            format!("{e} while parsing: {}", quote(&b[self.start..self.l.i])),
        )
    }

    fn eof_error(&self, b: &[u8]) -> Error {
        Error::Parse {
            line: line_of(b, self.l.i),
            message: "data does not end with # EOF".to_owned(),
        }
    }

    /// One entry (Go's `Next` without the `_created` skipping).
    fn next(&mut self, b: &[u8]) -> Result<Option<Entry>> {
        self.start = self.l.i;
        self.offsets.clear();
        self.name = None;
        self.e_offsets.clear();
        self.has_exemplar = false;
        self.exemplar_val = 0.0;
        self.exemplar_ts = None;

        let t = self.l.lex(b);
        match t {
            Token::EofWord => {
                if self.l.lex(b) != Token::Eof {
                    return Err(self.err(b, "unexpected data after # EOF".to_owned()));
                }
                Ok(None)
            }
            Token::Eof => Err(self.eof_error(b)),
            Token::Help | Token::Type | Token::Unit => {
                let t2 = self.l.lex(b);
                if t2 != Token::MName {
                    return Err(self.parse_error(
                        b,
                        &format!("expected metric name after {}", t.name()),
                        t2,
                    ));
                }
                let (mut s, mut e) = (self.l.start, self.l.i);
                if b[s] == b'"' && b[e - 1] == b'"' {
                    s += 1;
                    e -= 1;
                }
                self.mf_name_len = e - s;
                self.name = Some((s, e));
                if self.l.lex(b) != Token::Text {
                    return Err(self.err(b, format!("expected text in {}", t.name())));
                }
                // Strip the leading space and the trailing newline.
                self.text = if self.l.i - self.l.start > 1 {
                    (self.l.start + 1, self.l.i - 1)
                } else {
                    (self.l.i, self.l.i)
                };
                let text = &b[self.text.0..self.text.1];
                match t {
                    Token::Type => {
                        self.mtype = match text {
                            b"counter" => MetricType::Counter,
                            b"gauge" => MetricType::Gauge,
                            b"histogram" => MetricType::Histogram,
                            b"gaugehistogram" => MetricType::GaugeHistogram,
                            b"summary" => MetricType::Summary,
                            b"info" => MetricType::Info,
                            b"stateset" => MetricType::Stateset,
                            b"unknown" => MetricType::Unknown,
                            _ => {
                                return Err(
                                    self.err(b, format!("invalid metric type {}", quote(text)))
                                );
                            }
                        };
                        Ok(Some(Entry::Type))
                    }
                    Token::Help => {
                        if std::str::from_utf8(text).is_err() {
                            return Err(self.err(
                                b,
                                format!("help text {} is not a valid utf8 string", quote(text)),
                            ));
                        }
                        Ok(Some(Entry::Help))
                    }
                    _ => {
                        let m = &b[s..e];
                        let suffix_ok = text.is_empty()
                            || (m.len() > text.len()
                                && m.ends_with(text)
                                && m[m.len() - text.len() - 1] == b'_');
                        if !suffix_ok {
                            return Err(self.err(
                                b,
                                format!("unit {} not a suffix of metric {}", quote(text), quote(m)),
                            ));
                        }
                        Ok(Some(Entry::Unit))
                    }
                }
            }
            Token::BraceOpen => {
                self.parse_lvals(b, false)?;
                self.series = (self.start, self.l.i);
                let t2 = self.l.lex(b);
                self.parse_series_end_of_line(b, t2)?;
                Ok(Some(Entry::Series))
            }
            Token::MName => {
                self.name = Some((self.start, self.l.i));
                self.series = (self.start, self.l.i);
                let mut t2 = self.l.lex(b);
                if t2 == Token::BraceOpen {
                    self.parse_lvals(b, false)?;
                    self.series = (self.start, self.l.i);
                    t2 = self.l.lex(b);
                }
                self.parse_series_end_of_line(b, t2)?;
                Ok(Some(Entry::Series))
            }
            _ => Err(self.parse_error(b, "expected a valid start token", t)),
        }
    }

    fn parse_lvals(&mut self, b: &[u8], exemplar: bool) -> Result<()> {
        let mut t = self.l.lex(b);
        loop {
            let mut cur_start = self.l.start;
            let mut cur_i = self.l.i;
            let is_qstring = match t {
                Token::BraceClose => return Ok(()),
                Token::LName => false,
                Token::QString => true,
                _ => return Err(self.parse_error(b, "expected label name", t)),
            };
            t = self.l.lex(b);
            // A quoted string followed by a comma or a closing brace is the metric name,
            // which exemplars do not have.
            if (is_qstring || exemplar) && (t == Token::Comma || t == Token::BraceClose) {
                if exemplar {
                    return Err(self.parse_error(b, "expected label name", t));
                }
                if self.name.is_some() {
                    return Err(self.err(
                        b,
                        format!(
                            "metric name already set while parsing: {}",
                            quote(&b[self.start..self.l.i])
                        ),
                    ));
                }
                self.name = Some((cur_start + 1, cur_i - 1));
                if t == Token::BraceClose {
                    return Ok(());
                }
                t = self.l.lex(b);
                continue;
            }
            if b[cur_start] == b'"' {
                cur_start += 1;
                cur_i -= 1;
            }
            let offsets = if exemplar {
                &mut self.e_offsets
            } else {
                &mut self.offsets
            };
            offsets.push(cur_start);
            offsets.push(cur_i);
            if t != Token::Equal {
                return Err(self.parse_error(b, "expected equal", t));
            }
            let t2 = self.l.lex(b);
            if t2 != Token::LValue {
                return Err(self.parse_error(b, "expected label value", t2));
            }
            if std::str::from_utf8(&b[self.l.start..self.l.i]).is_err() {
                return Err(self.err(
                    b,
                    format!(
                        "invalid UTF-8 label value: {}",
                        quote(&b[self.l.start..self.l.i])
                    ),
                ));
            }
            let offsets = if exemplar {
                &mut self.e_offsets
            } else {
                &mut self.offsets
            };
            offsets.push(self.l.start + 1);
            offsets.push(self.l.i - 1);
            t = self.l.lex(b);
            if t == Token::Comma {
                t = self.l.lex(b);
            } else if t != Token::BraceClose {
                return Err(self.parse_error(b, "expected comma or brace close", t));
            }
        }
    }

    fn float_value(&self, b: &[u8], t: Token, after: &str) -> Result<f64> {
        if t != Token::Value {
            return Err(self.parse_error(b, &format!("expected value after {after}"), t));
        }
        // The token includes its leading space.
        let v =
            parse_float(&b[self.l.start + 1..self.l.i]).map_err(|e| self.while_parsing(b, &e))?;
        Ok(canonical_nan(v))
    }

    /// An OpenMetrics timestamp: float seconds, converted to milliseconds as Go does.
    fn timestamp(&self, b: &[u8], what: &str) -> Result<Timestamp> {
        let ts =
            parse_float(&b[self.l.start + 1..self.l.i]).map_err(|e| self.while_parsing(b, &e))?;
        if !ts.is_finite() {
            let shown = if ts.is_nan() {
                "NaN"
            } else if ts > 0.0 {
                "+Inf"
            } else {
                "-Inf"
            };
            return Err(self.err(b, format!("invalid {what} {shown}")));
        }
        #[allow(clippy::cast_possible_truncation)] // Go's int64(ts * 1000) truncates too.
        Ok((ts * 1000.0) as i64)
    }

    fn parse_series_end_of_line(&mut self, b: &[u8], t: Token) -> Result<()> {
        if self.name.is_none() {
            return Err(self.err(
                b,
                format!(
                    "metric name not set while parsing: {}",
                    quote(&b[self.start..self.l.i])
                ),
            ));
        }
        self.val = self.float_value(b, t, "metric")?;
        self.ts = None;
        match self.l.lex(b) {
            Token::Eof => return Err(self.eof_error(b)),
            Token::Linebreak => {}
            Token::Comment => self.parse_exemplar(b)?,
            Token::Timestamp => {
                self.ts = Some(self.timestamp(b, "timestamp")?);
                match self.l.lex(b) {
                    Token::Linebreak => {}
                    Token::Comment => self.parse_exemplar(b)?,
                    t3 => {
                        return Err(self.parse_error(b, "expected next entry after timestamp", t3));
                    }
                }
            }
            // Go has no case for this and fails on the next entry instead.
            t2 => return Err(self.parse_error(b, "expected timestamp or comment", t2)),
        }
        Ok(())
    }

    fn parse_exemplar(&mut self, b: &[u8]) -> Result<()> {
        self.parse_lvals(b, true)?;
        self.has_exemplar = true;
        let t = self.l.lex(b);
        self.exemplar_val = self.float_value(b, t, "exemplar labels")?;
        match self.l.lex(b) {
            Token::Eof => return Err(self.eof_error(b)),
            Token::Linebreak => {}
            Token::Timestamp => {
                self.exemplar_ts = Some(self.timestamp(b, "exemplar timestamp")?);
                let t3 = self.l.lex(b);
                if t3 != Token::Linebreak {
                    return Err(self.parse_error(
                        b,
                        "expected next entry after exemplar timestamp",
                        t3,
                    ));
                }
            }
            t2 => return Err(self.parse_error(b, "expected timestamp or comment", t2)),
        }
        Ok(())
    }

    fn metric_name<'b>(&self, b: &'b [u8]) -> &'b [u8] {
        let (s, e) = self.name.unwrap_or((self.start, self.start));
        &b[s..e]
    }

    /// Whether the current series is the `_created` line of a counter, histogram or summary.
    fn is_created_series(&self, b: &[u8]) -> bool {
        type_requires_created(self.mtype) && self.metric_name(b).ends_with(b"_created")
    }

    /// The identity of a series for matching it with its `_created` line: its labels minus
    /// `le` (histograms) or `quantile` (summaries), and the family name.
    fn created_key(&self, b: &[u8], family: &[u8], out: &mut Vec<u8>) {
        out.clear();
        for o in self.offsets.chunks_exact(4) {
            let label = &b[o[0]..o[1]];
            if (self.mtype == MetricType::Summary && label == b"quantile")
                || (self.mtype == MetricType::Histogram && label == b"le")
            {
                continue;
            }
            out.extend_from_slice(label);
            out.push(0xff);
            out.extend_from_slice(&b[o[2]..o[3]]);
            out.push(0xff);
        }
        out.extend_from_slice(family);
    }
}

fn type_requires_created(t: MetricType) -> bool {
    matches!(
        t,
        MetricType::Counter | MetricType::Summary | MetricType::Histogram
    )
}

/// A streaming parser for OpenMetrics 1.0 text (Go's `OpenMetricsParser`). The payload must
/// end with `# EOF`.
///
/// ```
/// use scrape::textparse::{Entry, OpenMetricsParser, Parser};
///
/// let body = b"# TYPE foo counter\nfoo_total 17.0 1520879607.789 # {id=\"x\"} 5\nfoo_created 1520870000.0\n# EOF\n";
/// let mut p = OpenMetricsParser::new(body);
/// assert_eq!(p.next()?, Some(Entry::Type));
/// assert_eq!(p.next()?, Some(Entry::Series));
/// assert_eq!(p.series().1, Some(1520879607789));
/// assert_eq!(p.exemplar().map(|e| e.value), Some(5.0));
/// assert_eq!(p.created_timestamp(), Some(1520870000000));
/// # Ok::<(), scrape::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct OpenMetricsParser<'a> {
    b: &'a [u8],
    cur: Cursor,
    skip_created_series: bool,
    /// Scratch space for looking ahead (kept to reuse its buffers).
    peek: Option<Box<Cursor>>,
    /// The key of the series whose created timestamp was last found, and that timestamp.
    created_cache: Option<(Vec<u8>, Timestamp)>,
    key: Vec<u8>,
    peek_key: Vec<u8>,
}

impl<'a> OpenMetricsParser<'a> {
    /// A parser over `b`.
    pub fn new(b: &'a [u8]) -> OpenMetricsParser<'a> {
        OpenMetricsParser {
            b,
            cur: Cursor::new(),
            skip_created_series: false,
            peek: None,
            created_cache: None,
            key: Vec::new(),
            peek_key: Vec::new(),
        }
    }

    /// Whether to skip the `_created` lines of counters, histograms and summaries instead of
    /// yielding them as series (see [`super::ParserOptions::skip_created_series`]).
    pub fn set_skip_created_series(&mut self, skip: bool) {
        self.skip_created_series = skip;
    }

    fn metadata_name(&self) -> Cow<'_, str> {
        lossy(unescape(self.cur.metric_name(self.b), false))
    }
}

impl Parser for OpenMetricsParser<'_> {
    fn next(&mut self) -> Result<Option<Entry>> {
        loop {
            let entry = self.cur.next(self.b)?;
            if entry == Some(Entry::Series)
                && self.skip_created_series
                && self.cur.is_created_series(self.b)
            {
                continue;
            }
            return Ok(entry);
        }
    }

    fn series(&self) -> (&[u8], Option<Timestamp>, f64) {
        let (s, e) = self.cur.series;
        (&self.b[s..e], self.cur.ts, self.cur.val)
    }

    fn help(&self) -> (Cow<'_, str>, Cow<'_, str>) {
        let text = &self.b[self.cur.text.0..self.cur.text.1];
        (self.metadata_name(), lossy(unescape(text, false)))
    }

    fn metric_type(&self) -> (Cow<'_, str>, MetricType) {
        (self.metadata_name(), self.cur.mtype)
    }

    fn unit(&self) -> (Cow<'_, str>, Cow<'_, str>) {
        let text = &self.b[self.cur.text.0..self.cur.text.1];
        (self.metadata_name(), String::from_utf8_lossy(text))
    }

    fn comment(&self) -> &[u8] {
        &[]
    }

    fn labels(&self) -> Result<Labels> {
        let name = self.cur.name.unwrap_or((self.cur.start, self.cur.start));
        build_labels(
            self.b,
            self.cur.start,
            self.cur.series,
            name,
            &self.cur.offsets,
            self.cur.mtype,
        )
    }

    fn exemplar(&mut self) -> Option<Exemplar> {
        if !self.cur.has_exemplar {
            return None;
        }
        self.cur.has_exemplar = false;
        let b = self.b;
        let mut pairs = Vec::with_capacity(self.cur.e_offsets.len() / 4);
        for o in self.cur.e_offsets.chunks_exact(4) {
            let name = utf8(unescape(&b[o[0]..o[1]], false), b, self.cur.start).ok()?;
            let value = utf8(unescape(&b[o[2]..o[3]], false), b, self.cur.start).ok()?;
            pairs.push((name, value));
        }
        Some(Exemplar {
            labels: Labels::from_pairs(pairs),
            value: self.cur.exemplar_val,
            timestamp: self.cur.exemplar_ts,
        })
    }

    fn created_timestamp(&mut self) -> Option<Timestamp> {
        if !type_requires_created(self.cur.mtype) || self.cur.name.is_none() {
            self.created_cache = None;
            return None;
        }
        // Go's look-up leaves the parser skipping `_created` lines from here on, found or
        // not (a side effect the NHCB conversion exposes).
        self.skip_created_series = true;
        let b = self.b;
        let name = self.cur.metric_name(b);
        let family = &name[..name.len().min(self.cur.mf_name_len)];
        self.cur.created_key(b, family, &mut self.key);
        if let Some((key, ct)) = &self.created_cache
            && *key == self.key
        {
            return Some(*ct);
        }
        // Look ahead within the family on a copy of the parser state.
        let peek = self.peek.get_or_insert_with(|| Box::new(Cursor::new()));
        peek.as_mut().clone_from(&self.cur);
        loop {
            match peek.next(b) {
                Ok(Some(Entry::Series)) => {}
                _ => return None,
            }
            let peeked = peek.metric_name(b);
            let Some(base) = peeked.strip_suffix(b"_created") else {
                continue;
            };
            peek.created_key(b, base, &mut self.peek_key);
            if self.peek_key != self.key {
                return None;
            }
            #[allow(clippy::cast_possible_truncation)] // Go's int64(v * 1000) truncates too.
            let ct = (peek.val * 1000.0) as i64;
            self.created_cache = Some((self.key.clone(), ct));
            return Some(ct);
        }
    }
}
