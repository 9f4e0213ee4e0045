//! The Prometheus text format 0.0.4 parser (Go's `promparse.go` and `promlex.l`).

use std::borrow::Cow;

use model::{Labels, Timestamp};

use super::{
    Entry, Exemplar, LABEL_NAME_CHAR, LABEL_NAME_START, METRIC_NAME_CHAR, METRIC_NAME_START,
    MetricType, Parser, QUOTED_STOP, Token, build_labels, canonical_nan, line_of, lossy, next_byte,
    parse_float, parse_timestamp_ms, quote, scan, state, unescape,
};
use crate::{Error, Result};

/// The lexer: a hand-written copy of the golex state machine of `promlex.l`, including its
/// quirks (null bytes are skipped inside label values, help texts and comments; a null byte at
/// the start of a line ends the input).
#[derive(Debug, Clone)]
struct Lexer {
    i: usize,
    start: usize,
    state: u8,
}

fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

impl Lexer {
    /// Go's `promlexer.next`: moves to the next byte, skipping null bytes in the states where
    /// they are allowed; returns 0 at the end of the input.
    #[inline]
    fn next(&mut self, b: &[u8]) -> u8 {
        next_byte(&mut self.i, self.state, b)
    }

    fn cur(&self, b: &[u8]) -> u8 {
        b.get(self.i).copied().unwrap_or(0)
    }

    fn buf<'b>(&self, b: &'b [u8]) -> &'b [u8] {
        &b[self.start..self.i]
    }

    /// `[ \t]+` starting at the current (whitespace) byte.
    fn whitespace(&mut self, b: &[u8]) -> Token {
        while is_ws(self.next(b)) {}
        Token::Whitespace
    }

    /// `\"(\\.|[^\\"])*\"` starting at the current `"`; newlines are allowed inside. On
    /// success the lexer stands after the closing quote.
    fn quoted(&mut self, b: &[u8]) -> bool {
        let skip_nul = matches!(self.state, state::LVALUE | state::META2 | state::COMMENT);
        let mut i = self.i + 1;
        loop {
            i = scan_not(b, i);
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
                b'\n' => i += 1,
                _ => {
                    // A null byte.
                    if !skip_nul {
                        self.i = i;
                        return false;
                    }
                    i += 1;
                }
            }
        }
    }

    /// Go's `consumeComment`: everything up to the newline (not included).
    fn consume_comment(&mut self, b: &[u8]) -> Token {
        let mut c = self.cur(b);
        loop {
            match c {
                0 => return Token::Eof,
                b'\n' => {
                    self.state = state::INIT;
                    return Token::Comment;
                }
                _ => c = self.next(b),
            }
        }
    }

    /// Returns the next token (Go's `promlexer.Lex`).
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
                        0 => {
                            self.next(b);
                            Token::Eof
                        }
                        b'\n' => {
                            self.next(b);
                            Token::Linebreak
                        }
                        b' ' | b'\t' => self.whitespace(b),
                        b'#' => {
                            c = self.next(b);
                            if is_ws(c) {
                                loop {
                                    c = self.next(b);
                                    if !is_ws(c) {
                                        break;
                                    }
                                }
                                self.state = state::COMMENT;
                                continue;
                            }
                            self.consume_comment(b)
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
                    let keyword = match c {
                        b'H' => Some((b"ELP", Token::Help)),
                        b'T' => Some((b"YPE", Token::Type)),
                        b' ' | b'\t' => return self.whitespace(b),
                        _ => None,
                    };
                    let Some((rest, tok)) = keyword else {
                        return self.consume_comment(b);
                    };
                    for &want in rest {
                        if self.next(b) != want {
                            return self.consume_comment(b);
                        }
                    }
                    if !is_ws(self.next(b)) {
                        return self.consume_comment(b);
                    }
                    while is_ws(self.next(b)) {}
                    self.state = state::META1;
                    return tok;
                }
                state::META1 => {
                    return match c {
                        b'"' => {
                            if self.quoted(b) {
                                self.state = state::META2;
                                Token::MName
                            } else {
                                Token::Invalid
                            }
                        }
                        b' ' | b'\t' => self.whitespace(b),
                        c if METRIC_NAME_START[usize::from(c)] => {
                            self.i = scan(b, self.i + 1, &METRIC_NAME_CHAR);
                            self.state = state::META2;
                            Token::MName
                        }
                        _ => Token::Invalid,
                    };
                }
                state::META2 => {
                    // `{C}*` competes with `[ \t]+`: leading whitespace followed by nothing
                    // but the newline is whitespace; otherwise all of it is text.
                    if is_ws(c) {
                        loop {
                            c = self.next(b);
                            if !is_ws(c) {
                                break;
                            }
                        }
                        if c == 0 || c == b'\n' {
                            return Token::Whitespace;
                        }
                    }
                    while c != 0 && c != b'\n' {
                        c = self.next(b);
                    }
                    self.state = state::INIT;
                    return Token::Text;
                }
                state::LABELS => {
                    return match c {
                        b'"' => {
                            if self.quoted(b) {
                                Token::QString
                            } else {
                                Token::Invalid
                            }
                        }
                        b',' => {
                            self.next(b);
                            Token::Comma
                        }
                        b'=' => {
                            self.next(b);
                            self.state = state::LVALUE;
                            Token::Equal
                        }
                        b'}' => {
                            self.next(b);
                            self.state = state::VALUE;
                            Token::BraceClose
                        }
                        b' ' | b'\t' => self.whitespace(b),
                        c if LABEL_NAME_START[usize::from(c)] => {
                            self.i = scan(b, self.i + 1, &LABEL_NAME_CHAR);
                            Token::LName
                        }
                        _ => Token::Invalid,
                    };
                }
                state::LVALUE => {
                    return match c {
                        b'"' => {
                            if self.quoted(b) {
                                self.state = state::LABELS;
                                Token::LValue
                            } else {
                                Token::Invalid
                            }
                        }
                        b' ' | b'\t' => self.whitespace(b),
                        _ => Token::Invalid,
                    };
                }
                state::VALUE => {
                    return match c {
                        b' ' | b'\t' => self.whitespace(b),
                        b'{' => {
                            self.next(b);
                            self.state = state::LABELS;
                            Token::BraceOpen
                        }
                        0 | b'\n' => Token::Invalid,
                        _ => {
                            let mut i = self.i + 1;
                            while i < b.len() && !matches!(b[i], 0 | b'\t' | b'\n' | b' ' | b'{') {
                                i += 1;
                            }
                            self.i = i;
                            self.state = state::TIMESTAMP;
                            Token::Value
                        }
                    };
                }
                _ => {
                    // state::TIMESTAMP
                    return match c {
                        b'\n' => {
                            self.next(b);
                            self.state = state::INIT;
                            Token::Linebreak
                        }
                        b' ' | b'\t' => self.whitespace(b),
                        b'0'..=b'9' => {
                            let mut i = self.i + 1;
                            while i < b.len() && b[i].is_ascii_digit() {
                                i += 1;
                            }
                            self.i = i;
                            Token::Timestamp
                        }
                        _ => Token::Invalid,
                    };
                }
            }
        }
    }
}

/// The end of the run of bytes from `i` on that need no attention inside a quoted string.
#[inline]
fn scan_not(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && !QUOTED_STOP[usize::from(b[i])] {
        i += 1;
    }
    i
}

/// A streaming parser for the Prometheus text exposition format 0.0.4 (Go's `PromParser`).
///
/// ```
/// use scrape::textparse::{Entry, MetricType, Parser, PromParser};
///
/// let mut p = PromParser::new(b"# TYPE up gauge\nup{job=\"node\"} 1\n");
/// assert_eq!(p.next()?, Some(Entry::Type));
/// assert_eq!(p.metric_type(), ("up".into(), MetricType::Gauge));
/// assert_eq!(p.next()?, Some(Entry::Series));
/// assert_eq!(p.series(), (&b"up{job=\"node\"}"[..], None, 1.0));
/// assert_eq!(p.labels()?.get("job"), Some("node"));
/// assert_eq!(p.next()?, None);
/// # Ok::<(), scrape::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct PromParser<'a> {
    /// The payload, with a newline appended when it lacks one (as Go always appends one).
    data: Cow<'a, [u8]>,
    l: Lexer,
    /// Start of the current entry (Go's `p.start`).
    start: usize,
    /// The current series bytes, as a range of the input.
    series: (usize, usize),
    /// The metric name (unquoted, still escaped), or `None` while not yet seen.
    name: Option<(usize, usize)>,
    /// Label name start/end and value start/end, four per label.
    offsets: Vec<usize>,
    /// The help, type or comment text.
    text: (usize, usize),
    mtype: MetricType,
    val: f64,
    ts: Option<Timestamp>,
}

impl<'a> PromParser<'a> {
    /// A parser over `b`. Like Go, the parser behaves as if `b` ended with a newline; only if
    /// it does not is the payload copied once to add one.
    pub fn new(b: &'a [u8]) -> PromParser<'a> {
        let data = if b.last() == Some(&b'\n') {
            Cow::Borrowed(b)
        } else {
            let mut v = Vec::with_capacity(b.len() + 1);
            v.extend_from_slice(b);
            v.push(b'\n');
            Cow::Owned(v)
        };
        PromParser {
            data,
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
            val: 0.0,
            ts: None,
        }
    }

    fn next_token(&mut self) -> Token {
        let b: &[u8] = &self.data;
        loop {
            let t = self.l.lex(b);
            if t != Token::Whitespace {
                return t;
            }
        }
    }

    fn err(&self, message: String) -> Error {
        Error::Parse {
            line: line_of(&self.data, self.start),
            message,
        }
    }

    /// Go's `parseError`: `exp, got "<token>" ("<TOKEN>") while parsing: "<line so far>"`.
    fn parse_error(&self, exp: &str, got: Token) -> Error {
        let e = self.data.len().min(self.l.i + 1);
        let tok_start = self.l.start.min(e);
        self.err(format!(
            "{exp}, got {} ({}) while parsing: {}",
            quote(&self.data[tok_start..e]),
            quote(got.name()),
            quote(&self.data[self.start..e])
        ))
    }

    fn while_parsing(&self, e: &str) -> Error {
        self.err(format!(
            "{e} while parsing: {}",
            quote(&self.data[self.start..self.l.i])
        ))
    }

    fn parse_lvals(&mut self) -> Result<()> {
        let mut t = self.next_token();
        loop {
            let mut cur_start = self.l.start;
            let mut cur_i = self.l.i;
            let is_qstring = match t {
                Token::BraceClose => return Ok(()),
                Token::LName => false,
                Token::QString => true,
                _ => return Err(self.parse_error("expected label name", t)),
            };
            t = self.next_token();
            // A quoted string followed by a comma or a closing brace is the metric name.
            if is_qstring && (t == Token::Comma || t == Token::BraceClose) {
                if self.name.is_some() {
                    return Err(self.err(format!(
                        "metric name already set while parsing: {}",
                        quote(&self.data[self.start..self.l.i])
                    )));
                }
                self.name = Some((cur_start + 1, cur_i - 1));
                if t == Token::BraceClose {
                    return Ok(());
                }
                t = self.next_token();
                continue;
            }
            if self.data[cur_start] == b'"' {
                cur_start += 1;
                cur_i -= 1;
            }
            self.offsets.push(cur_start);
            self.offsets.push(cur_i);
            if t != Token::Equal {
                return Err(self.parse_error("expected equal", t));
            }
            let t2 = self.next_token();
            if t2 != Token::LValue {
                return Err(self.parse_error("expected label value", t2));
            }
            if std::str::from_utf8(self.l.buf(&self.data)).is_err() {
                return Err(self.err(format!(
                    "invalid UTF-8 label value: {}",
                    quote(self.l.buf(&self.data))
                )));
            }
            // The lexer ensures the value is quoted: strip the quotes.
            self.offsets.push(self.l.start + 1);
            self.offsets.push(self.l.i - 1);
            // Trailing commas are allowed, and (unlike OpenMetrics) so are missing ones.
            t = self.next_token();
            if t == Token::Comma {
                t = self.next_token();
            }
        }
    }

    fn parse_metric_suffix(&mut self, t: Token) -> Result<Option<Entry>> {
        if self.name.is_none() {
            return Err(self.err(format!(
                "metric name not set while parsing: {}",
                quote(&self.data[self.start..self.l.i])
            )));
        }
        if t != Token::Value {
            return Err(self.parse_error("expected value after metric", t));
        }
        self.val =
            canonical_nan(parse_float(self.l.buf(&self.data)).map_err(|e| self.while_parsing(&e))?);
        self.ts = None;
        match self.next_token() {
            Token::Linebreak => {}
            Token::Timestamp => {
                let ts = parse_timestamp_ms(self.l.buf(&self.data))
                    .map_err(|e| self.while_parsing(&e))?;
                self.ts = Some(ts);
                let t2 = self.next_token();
                if t2 != Token::Linebreak {
                    return Err(self.parse_error("expected next entry after timestamp", t2));
                }
            }
            t => return Err(self.parse_error("expected timestamp or new record", t)),
        }
        Ok(Some(Entry::Series))
    }

    fn metadata_name(&self) -> Cow<'_, str> {
        let (s, e) = self.name.unwrap_or((0, 0));
        lossy(unescape(&self.data[s..e], false))
    }
}

impl Parser for PromParser<'_> {
    fn next(&mut self) -> Result<Option<Entry>> {
        loop {
            self.start = self.l.i;
            self.offsets.clear();
            self.name = None;
            let t = self.next_token();
            match t {
                Token::Eof => return Ok(None),
                // Blank lines are allowed.
                Token::Linebreak => {}
                Token::Help | Token::Type => {
                    let t2 = self.next_token();
                    if t2 != Token::MName {
                        return Err(self
                            .parse_error(&format!("expected metric name after {}", t.name()), t2));
                    }
                    let (mut s, mut e) = (self.l.start, self.l.i);
                    if self.data[s] == b'"' && self.data[e - 1] == b'"' {
                        s += 1;
                        e -= 1;
                    }
                    self.name = Some((s, e));
                    let t2 = self.next_token();
                    if t2 != Token::Text {
                        return Err(self.err(format!(
                            "expected text in {}, got {}",
                            t.name(),
                            t2.name()
                        )));
                    }
                    self.text = if self.l.i - self.l.start > 1 {
                        (self.l.start + 1, self.l.i)
                    } else {
                        (self.l.i, self.l.i)
                    };
                    let text = &self.data[self.text.0..self.text.1];
                    if t == Token::Type {
                        self.mtype = match text {
                            b"counter" => MetricType::Counter,
                            b"gauge" => MetricType::Gauge,
                            b"histogram" => MetricType::Histogram,
                            b"summary" => MetricType::Summary,
                            b"untyped" => MetricType::Unknown,
                            _ => {
                                return Err(
                                    self.err(format!("invalid metric type {}", quote(text)))
                                );
                            }
                        };
                    } else if std::str::from_utf8(text).is_err() {
                        return Err(self.err(format!(
                            "help text {} is not a valid utf8 string",
                            quote(text)
                        )));
                    }
                    let t3 = self.next_token();
                    if t3 != Token::Linebreak {
                        return Err(self.parse_error("linebreak expected after metadata", t3));
                    }
                    return Ok(Some(if t == Token::Help {
                        Entry::Help
                    } else {
                        Entry::Type
                    }));
                }
                Token::Comment => {
                    self.text = (self.l.start, self.l.i);
                    let t2 = self.next_token();
                    if t2 != Token::Linebreak {
                        return Err(self.parse_error("linebreak expected after comment", t2));
                    }
                    return Ok(Some(Entry::Comment));
                }
                Token::BraceOpen => {
                    self.parse_lvals()?;
                    self.series = (self.start, self.l.i);
                    let t2 = self.next_token();
                    return self.parse_metric_suffix(t2);
                }
                Token::MName => {
                    // As in Go, the name starts where the line starts.
                    self.name = Some((self.start, self.l.i));
                    self.series = (self.start, self.l.i);
                    let mut t2 = self.next_token();
                    if t2 == Token::BraceOpen {
                        self.parse_lvals()?;
                        self.series = (self.start, self.l.i);
                        t2 = self.next_token();
                    }
                    return self.parse_metric_suffix(t2);
                }
                _ => return Err(self.parse_error("expected a valid start token", t)),
            }
        }
    }

    fn series(&self) -> (&[u8], Option<Timestamp>, f64) {
        (&self.data[self.series.0..self.series.1], self.ts, self.val)
    }

    fn help(&self) -> (Cow<'_, str>, Cow<'_, str>) {
        let text = &self.data[self.text.0..self.text.1];
        (self.metadata_name(), lossy(unescape(text, true)))
    }

    fn metric_type(&self) -> (Cow<'_, str>, MetricType) {
        (self.metadata_name(), self.mtype)
    }

    fn unit(&self) -> (Cow<'_, str>, Cow<'_, str>) {
        (Cow::Borrowed(""), Cow::Borrowed(""))
    }

    fn comment(&self) -> &[u8] {
        &self.data[self.text.0..self.text.1]
    }

    fn labels(&self) -> Result<Labels> {
        let name = self.name.unwrap_or((self.start, self.start));
        build_labels(
            &self.data,
            self.start,
            self.series,
            name,
            &self.offsets,
            self.mtype,
        )
    }

    fn exemplar(&mut self) -> Option<Exemplar> {
        None
    }

    fn created_timestamp(&mut self) -> Option<Timestamp> {
        None
    }
}
