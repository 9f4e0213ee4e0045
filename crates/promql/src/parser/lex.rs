//! The PromQL lexer: turns a query into tokens with byte positions (mirrors Go's lex.go).
//!
//! Like Go's state machine it has three modes: statements (the default), inside `{...}`
//! (keywords are plain identifiers, `=~`/`!~` exist) and inside `[...]` (duration
//! expressions: numbers, durations, arithmetic, `step()`, `range()`, `min_of`, `max_of`).
//! The small recognisers for numbers, durations, identifiers and comments are nom parsers.
//! A lexing error ends the token stream with a [`TokenKind::Error`] token, so that the parser
//! reports syntax errors found before it first, as Go's lazy lexer does.

use nom::IResult;
use nom::Parser;
use nom::bytes::complete::{take_while, take_while1};
use nom::character::complete::satisfy;
use nom::combinator::recognize;
use nom::sequence::pair;

use super::ast::{AggregateOp, BinaryOp};

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    /// End of input.
    Eof,
    /// A lexing error; the message reads like Go's.
    Error(String),
    /// `,`.
    Comma,
    /// `(`.
    LeftParen,
    /// `)`.
    RightParen,
    /// `{`.
    LeftBrace,
    /// `}`.
    RightBrace,
    /// `[`.
    LeftBracket,
    /// `]`.
    RightBracket,
    /// `:`.
    Colon,
    /// `@`.
    At,
    /// `=` (label matching).
    Eql,
    /// `=~`.
    EqlRegex,
    /// `!~`.
    NeqRegex,
    /// A binary operator (`+`, `==`, `and`, `atan2`, ...). `-` and `+` are also unary.
    Op(BinaryOp),
    /// An aggregation keyword (`sum`, `topk`, ...).
    Aggregator(AggregateOp),
    /// A keyword (`by`, `offset`, `start`, ...).
    Keyword(Keyword),
    /// A number (`1`, `0x1f`, `1e3`, `Inf`, `NaN`).
    Number,
    /// A duration (`5m`, `1h30m`).
    Duration,
    /// A quoted string (value not yet unquoted).
    String,
    /// An identifier without colons.
    Identifier,
    /// An identifier containing a colon (`job:rate:5m`).
    MetricIdentifier,
}

/// The keywords (not operators or aggregators).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keyword {
    /// `bool`.
    Bool,
    /// `by`.
    By,
    /// `group_left`.
    GroupLeft,
    /// `group_right`.
    GroupRight,
    /// `ignoring`.
    Ignoring,
    /// `offset`.
    Offset,
    /// `on`.
    On,
    /// `without`.
    Without,
    /// `anchored`.
    Anchored,
    /// `smoothed`.
    Smoothed,
    /// `start` (preprocessor).
    Start,
    /// `end` (preprocessor).
    End,
    /// `step` (duration preprocessor).
    Step,
    /// `range` (duration preprocessor; only inside brackets).
    Range,
    /// `min_of` (only inside brackets).
    MinOf,
    /// `max_of` (only inside brackets).
    MaxOf,
}

impl Keyword {
    /// The keyword in lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Bool => "bool",
            Keyword::By => "by",
            Keyword::GroupLeft => "group_left",
            Keyword::GroupRight => "group_right",
            Keyword::Ignoring => "ignoring",
            Keyword::Offset => "offset",
            Keyword::On => "on",
            Keyword::Without => "without",
            Keyword::Anchored => "anchored",
            Keyword::Smoothed => "smoothed",
            Keyword::Start => "start",
            Keyword::End => "end",
            Keyword::Step => "step",
            Keyword::Range => "range",
            Keyword::MinOf => "min_of",
            Keyword::MaxOf => "max_of",
        }
    }

    /// Whether Go classifies it as a keyword (`<by>` in messages) rather than a
    /// preprocessor.
    fn is_go_keyword(self) -> bool {
        !matches!(
            self,
            Keyword::Start
                | Keyword::End
                | Keyword::Step
                | Keyword::Range
                | Keyword::MinOf
                | Keyword::MaxOf
        )
    }
}

/// A token: its kind and byte range in the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Token {
    /// The token's text in `input`.
    pub fn text<'a>(&self, input: &'a str) -> &'a str {
        input.get(self.start..self.end).unwrap_or("")
    }

    /// Describes the token as Go's `Item.desc()` does, for "unexpected ..." messages.
    pub fn desc(&self, input: &str) -> String {
        let val = self.text(input);
        match &self.kind {
            TokenKind::Eof => "end of input".to_string(),
            TokenKind::Error(msg) => msg.clone(),
            TokenKind::Identifier => format!("identifier {}", go_quote(val)),
            TokenKind::MetricIdentifier => format!("metric identifier {}", go_quote(val)),
            TokenKind::Number => format!("number {}", short_quote(val)),
            TokenKind::Duration => format!("duration {}", short_quote(val)),
            TokenKind::String => format!("string {}", short_quote(val)),
            TokenKind::Keyword(k) if k.is_go_keyword() => format!("<{val}>"),
            TokenKind::Op(_) | TokenKind::EqlRegex | TokenKind::NeqRegex | TokenKind::At => {
                format!("<op:{val}>")
            }
            TokenKind::Aggregator(_) => format!("<aggr:{val}>"),
            _ => short_quote(val),
        }
    }
}

/// Go's `%q` of a string.
fn go_quote(s: &str) -> String {
    model::strconv::quote(s)
}

/// Go's `%.10q...` for long values, `%q` otherwise (as `Item.String()`).
fn short_quote(s: &str) -> String {
    if s.len() > 10 {
        let cut: String = s.chars().take(10).collect();
        format!("{}...", go_quote(&cut))
    } else {
        go_quote(s)
    }
}

/// Go's `%q` of a rune (`'x'`).
pub(crate) fn quote_rune(c: char) -> String {
    match c {
        '\'' => "'\\''".to_string(),
        '"' => "'\"'".to_string(),
        c => {
            let q = go_quote(&c.to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

/// Go's `%#U` of a rune (`U+0041 'A'`).
fn sharp_u(c: char) -> String {
    if model::strconv::is_print(c) {
        format!("U+{:04X} {}", c as u32, quote_rune(c))
    } else {
        format!("U+{:04X}", c as u32)
    }
}

pub(crate) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

pub(crate) fn is_alpha(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

pub(crate) fn is_alnum(c: char) -> bool {
    is_alpha(c) || c.is_ascii_digit()
}

/// nom: an identifier `[a-zA-Z_][a-zA-Z0-9_]*`, optionally allowing `:` anywhere.
fn identifier(colons: bool) -> impl Fn(&str) -> IResult<&str, &str> {
    move |i| {
        recognize(pair(
            satisfy(|c| is_alpha(c) || (colons && c == ':')),
            take_while(|c| is_alnum(c) || (colons && c == ':')),
        ))
        .parse(i)
    }
}

/// nom: a line comment up to (not including) the end of line.
fn comment(i: &str) -> IResult<&str, &str> {
    recognize(pair(
        nom::bytes::complete::tag("#"),
        take_while(|c| c != '\n' && c != '\r'),
    ))
    .parse(i)
}

/// nom: a run of spaces.
fn spaces(i: &str) -> IResult<&str, &str> {
    take_while1(is_space).parse(i)
}

/// Scans a number the way Go's `scanNumber` does; returns the length consumed and whether it
/// is a valid number token (`series` disables hex and allows a following `x`).
pub(crate) fn scan_number(s: &str, series: bool) -> (usize, bool) {
    let b = s.as_bytes();
    let mut pos = 0;
    let peek = |p: usize| b.get(p).copied();
    let mut hex = false;
    if !series && peek(0) == Some(b'0') && matches!(peek(1), Some(b'x' | b'X')) {
        pos = 2;
        if peek(pos) == Some(b'_') {
            pos += 1;
        }
        hex = true;
    }
    let is_digit = |c: u8| {
        if hex {
            c.is_ascii_hexdigit()
        } else {
            c.is_ascii_digit()
        }
    };
    if peek(pos) == Some(b'.') {
        pos += 1;
    }
    if peek(pos).is_some_and(is_digit) {
        pos += 1;
    }
    let mut dot = false;
    let mut exp = false;
    while let Some(c) = peek(pos) {
        if !(is_digit(c) || c == b'.' || c == b'_' || c == b'e' || c == b'E') {
            break;
        }
        if c == b'.' {
            if dot {
                return (pos + 1, false);
            }
            dot = true;
            pos += 1;
            if matches!(peek(pos), Some(b'_' | b'.')) {
                return (pos + 1, false);
            }
            if hex {
                return (pos, false);
            }
            continue;
        }
        if (c == b'e' || c == b'E') && !hex {
            if exp {
                return (pos + 1, false);
            }
            exp = true;
            pos += 1;
            if matches!(peek(pos), Some(b'+' | b'-')) {
                pos += 1;
            }
            match peek(pos) {
                Some(b'.' | b'_' | b'e' | b'E') => return (pos + 1, false),
                None => return (pos, false),
                _ => {}
            }
            continue;
        }
        if c == b'_' {
            pos += 1;
            match peek(pos) {
                Some(b'.' | b'_' | b'e' | b'E') => return (pos + 1, false),
                None => return (pos, false),
                _ => {}
            }
            continue;
        }
        while peek(pos).is_some_and(is_digit) {
            pos += 1;
        }
    }
    if pos == 0 {
        return (0, false);
    }
    let next = s[pos..].chars().next();
    let ok = match next {
        None => true,
        Some(c) => (series && c == 'x') || !is_alnum(c),
    };
    (pos, ok)
}

/// After a failed number scan at `s` (from the token start), tries Go's
/// `acceptRemainingDuration` from `pos`; returns the duration's end on success.
fn scan_duration_rest(s: &str, mut pos: usize) -> Result<usize, usize> {
    let b = s.as_bytes();
    let accept = |pos: &mut usize, set: &[u8]| -> bool {
        match b.get(*pos) {
            Some(c) if set.contains(c) => {
                *pos += 1;
                true
            }
            _ => false,
        }
    };
    if !accept(&mut pos, b"smhdwy") {
        return Err(pos);
    }
    accept(&mut pos, b"s");
    while accept(&mut pos, b"0123456789") {
        while accept(&mut pos, b"0123456789") {}
        if !accept(&mut pos, b"smhdw") {
            return Err(pos);
        }
        accept(&mut pos, b"s");
    }
    match s[pos..].chars().next() {
        Some(c) if is_alnum(c) => Err(pos + c.len_utf8()),
        _ => Ok(pos),
    }
}

/// Lexes a number or duration starting at `s`: `Ok((len, is_duration))` or the length of the
/// bad text.
fn number_or_duration(s: &str) -> Result<(usize, bool), usize> {
    let (n, ok) = scan_number(s, false);
    if ok {
        return Ok((n, false));
    }
    // Go continues from where the number scan stopped: only plain decimal digits can lead
    // into a duration unit.
    match scan_duration_rest(s, n) {
        Ok(end) => Ok((end, true)),
        Err(end) => Err(end.max(n)),
    }
}

/// Reads a quoted string starting at the opening quote; returns its byte length or an error
/// message with the offset where it was found.
fn scan_string(s: &str) -> Result<usize, (String, usize)> {
    let mut chars = s.char_indices();
    let Some((_, quote)) = chars.next() else {
        return Err(("unterminated quoted string".to_string(), 0));
    };
    if quote == '`' {
        for (i, c) in chars {
            if c == '`' {
                return Ok(i + 1);
            }
        }
        return Err(("unterminated raw string".to_string(), s.len()));
    }
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let Some((_, e)) = chars.next() else {
                    return Err(("escape sequence not terminated".to_string(), s.len()));
                };
                let (n, base, max): (u32, u32, u32) = match e {
                    'a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\' => continue,
                    c if c == quote => continue,
                    '0'..='7' => (3, 8, 255),
                    'x' => (2, 16, 255),
                    'u' => (4, 16, 0x10ffff),
                    'U' => (8, 16, 0x10ffff),
                    other => {
                        return Err((format!("unknown escape sequence {}", sharp_u(other)), i));
                    }
                };
                let mut x: u32 = 0;
                let mut digits = n;
                let mut first = if e.is_ascii_digit() && base == 8 {
                    Some(e)
                } else {
                    None
                };
                while digits > 0 {
                    let ch = match first.take() {
                        Some(c) => c,
                        None => match chars.next() {
                            Some((_, c)) => c,
                            None => {
                                return Err(("escape sequence not terminated".to_string(), i));
                            }
                        },
                    };
                    let d = ch.to_digit(16).unwrap_or(16);
                    if d >= base {
                        return Err((
                            format!("illegal character {} in escape sequence", sharp_u(ch)),
                            i,
                        ));
                    }
                    x = x.saturating_mul(base).saturating_add(d);
                    digits -= 1;
                }
                if x > max || (0xD800..0xE000).contains(&x) {
                    return Err((
                        "escape sequence is an invalid Unicode code point".to_string(),
                        i,
                    ));
                }
            }
            '\n' => return Err(("unterminated quoted string".to_string(), i)),
            c if c == quote => return Ok(i + 1),
            _ => {}
        }
    }
    Err(("unterminated quoted string".to_string(), s.len()))
}

fn keyword(word: &str) -> Option<TokenKind> {
    // No keyword is longer than 12 bytes: lower-case into a stack buffer, no allocation.
    let mut buf = [0u8; 12];
    if word.len() > buf.len() {
        return None;
    }
    for (b, c) in buf.iter_mut().zip(word.bytes()) {
        *b = c.to_ascii_lowercase();
    }
    let lower = std::str::from_utf8(&buf[..word.len()]).ok()?;
    let op = match lower {
        "and" => Some(BinaryOp::And),
        "or" => Some(BinaryOp::Or),
        "unless" => Some(BinaryOp::Unless),
        "atan2" => Some(BinaryOp::Atan2),
        _ => None,
    };
    if let Some(op) = op {
        return Some(TokenKind::Op(op));
    }
    if let Some(agg) = AggregateOp::from_name(lower) {
        return Some(TokenKind::Aggregator(agg));
    }
    let kw = match lower {
        "bool" => Keyword::Bool,
        "by" => Keyword::By,
        "group_left" => Keyword::GroupLeft,
        "group_right" => Keyword::GroupRight,
        "ignoring" => Keyword::Ignoring,
        "offset" => Keyword::Offset,
        "on" => Keyword::On,
        "without" => Keyword::Without,
        "anchored" => Keyword::Anchored,
        "smoothed" => Keyword::Smoothed,
        "start" => Keyword::Start,
        "end" => Keyword::End,
        "step" => Keyword::Step,
        "inf" | "nan" => return Some(TokenKind::Number),
        _ => return None,
    };
    Some(TokenKind::Keyword(kw))
}

/// Lexes the whole input. The last token is always `Eof` or `Error`.
pub fn lex(input: &str) -> Vec<Token> {
    let mut lx = Lexer {
        input,
        pos: 0,
        tokens: Vec::new(),
        paren_depth: 0,
        brace_open: false,
        bracket_open: false,
        got_colon: false,
        got_duration: false,
    };
    lx.run();
    lx.tokens
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    tokens: Vec<Token>,
    paren_depth: i32,
    brace_open: bool,
    bracket_open: bool,
    got_colon: bool,
    got_duration: bool,
}

impl Lexer<'_> {
    fn emit(&mut self, kind: TokenKind, start: usize, end: usize) {
        self.tokens.push(Token { kind, start, end });
        self.pos = end;
    }

    fn error(&mut self, msg: String, start: usize) {
        let end = self.input.len();
        self.tokens.push(Token {
            kind: TokenKind::Error(msg),
            start,
            end,
        });
    }

    fn run(&mut self) {
        loop {
            let done = if self.brace_open {
                self.inside_braces()
            } else if self.bracket_open {
                self.inside_brackets()
            } else {
                self.statement()
            };
            if done {
                return;
            }
        }
    }

    /// Skips spaces and comments (emitting nothing); returns the rest.
    fn skip_trivia(&mut self) {
        loop {
            let rest = &self.input[self.pos..];
            if let Ok((r, _)) = spaces(rest) {
                self.pos = self.input.len() - r.len();
                continue;
            }
            if let Ok((r, _)) = comment(rest) {
                self.pos = self.input.len() - r.len();
                continue;
            }
            return;
        }
    }

    fn string_token(&mut self) -> bool {
        let start = self.pos;
        match scan_string(&self.input[start..]) {
            Ok(n) => {
                self.emit(TokenKind::String, start, start + n);
                false
            }
            Err((msg, _)) => {
                self.error(msg, start);
                true
            }
        }
    }

    fn number_token(&mut self) -> bool {
        let start = self.pos;
        match number_or_duration(&self.input[start..]) {
            Ok((n, dur)) => {
                let kind = if dur {
                    TokenKind::Duration
                } else {
                    TokenKind::Number
                };
                self.emit(kind, start, start + n);
                false
            }
            Err(n) => {
                let end = (start + n).min(self.input.len());
                let end = (end..=self.input.len())
                    .find(|&e| self.input.is_char_boundary(e))
                    .unwrap_or(self.input.len());
                self.error(
                    format!(
                        "bad number or duration syntax: {}",
                        go_quote(&self.input[start..end])
                    ),
                    start,
                );
                true
            }
        }
    }

    /// Returns true when lexing is finished.
    fn statement(&mut self) -> bool {
        self.skip_trivia();
        let start = self.pos;
        let rest = &self.input[start..];
        let Some(c) = rest.chars().next() else {
            if self.paren_depth != 0 {
                self.error("unclosed left parenthesis".to_string(), start);
            } else {
                self.emit(TokenKind::Eof, start, start);
            }
            return true;
        };
        let next = rest[c.len_utf8()..].chars().next();
        let one = |k| (k, 1);
        let (kind, len) = match c {
            ',' => one(TokenKind::Comma),
            '*' => one(TokenKind::Op(BinaryOp::Mul)),
            '/' => one(TokenKind::Op(BinaryOp::Div)),
            '%' => one(TokenKind::Op(BinaryOp::Mod)),
            '+' => one(TokenKind::Op(BinaryOp::Add)),
            '-' => one(TokenKind::Op(BinaryOp::Sub)),
            '^' => one(TokenKind::Op(BinaryOp::Pow)),
            '@' => one(TokenKind::At),
            '=' => match next {
                Some('=') => (TokenKind::Op(BinaryOp::Eql), 2),
                Some('~') => {
                    self.error("unexpected character after '=': '~'".to_string(), start);
                    return true;
                }
                _ => one(TokenKind::Eql),
            },
            '!' => match next {
                Some('=') => (TokenKind::Op(BinaryOp::Neq), 2),
                other => {
                    let q = other.map_or_else(|| "%!q(int32=-1)".to_string(), quote_rune);
                    self.error(format!("unexpected character after '!': {q}"), start);
                    return true;
                }
            },
            '<' => match next {
                Some('=') => (TokenKind::Op(BinaryOp::Lte), 2),
                Some('/') => (TokenKind::Op(BinaryOp::TrimUpper), 2),
                _ => one(TokenKind::Op(BinaryOp::Lss)),
            },
            '>' => match next {
                Some('=') => (TokenKind::Op(BinaryOp::Gte), 2),
                Some('/') => (TokenKind::Op(BinaryOp::TrimLower), 2),
                _ => one(TokenKind::Op(BinaryOp::Gtr)),
            },
            '0'..='9' => return self.number_token(),
            '.' if next.is_some_and(|n| n.is_ascii_digit()) => return self.number_token(),
            '"' | '\'' | '`' => return self.string_token(),
            c if is_alpha(c) || c == ':' => {
                let (_, word) = identifier(true)(rest).unwrap_or((rest, &rest[..1]));
                let kind = keyword(word).unwrap_or(if word.contains(':') {
                    TokenKind::MetricIdentifier
                } else {
                    TokenKind::Identifier
                });
                (kind, word.len())
            }
            '(' => {
                self.paren_depth += 1;
                one(TokenKind::LeftParen)
            }
            ')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    // Go's lexer overwrites the ")" item with the error.
                    self.error("unexpected right parenthesis ')'".to_string(), start + 1);
                    return true;
                }
                self.emit(TokenKind::RightParen, start, start + 1);
                return false;
            }
            '{' => {
                self.brace_open = true;
                one(TokenKind::LeftBrace)
            }
            '[' => {
                self.got_colon = false;
                self.got_duration = false;
                self.bracket_open = true;
                one(TokenKind::LeftBracket)
            }
            ']' => {
                self.error("unexpected right bracket ']'".to_string(), start);
                return true;
            }
            other => {
                self.error(
                    format!("unexpected character: {}", quote_rune(other)),
                    start,
                );
                return true;
            }
        };
        self.emit(kind, start, start + len);
        false
    }

    fn inside_braces(&mut self) -> bool {
        self.skip_trivia();
        let start = self.pos;
        let rest = &self.input[start..];
        let Some(c) = rest.chars().next() else {
            self.error("unexpected end of input inside braces".to_string(), start);
            return true;
        };
        let next = rest[c.len_utf8()..].chars().next();
        let (kind, len) = match c {
            c if is_alpha(c) => {
                let (_, word) = identifier(false)(rest).unwrap_or((rest, &rest[..1]));
                (TokenKind::Identifier, word.len())
            }
            ',' => (TokenKind::Comma, 1),
            '"' | '\'' | '`' => return self.string_token(),
            '=' => match next {
                Some('~') => (TokenKind::EqlRegex, 2),
                _ => (TokenKind::Eql, 1),
            },
            '!' => match next {
                Some('~') => (TokenKind::NeqRegex, 2),
                Some('=') => (TokenKind::Op(BinaryOp::Neq), 2),
                other => {
                    let q = other.map_or_else(|| "%!q(int32=-1)".to_string(), quote_rune);
                    self.error(
                        format!("unexpected character after '!' inside braces: {q}"),
                        start,
                    );
                    return true;
                }
            },
            '{' => {
                self.error("unexpected left brace '{'".to_string(), start);
                return true;
            }
            '}' => {
                self.brace_open = false;
                (TokenKind::RightBrace, 1)
            }
            other => {
                self.error(
                    format!("unexpected character inside braces: {}", quote_rune(other)),
                    start,
                );
                return true;
            }
        };
        self.emit(kind, start, start + len);
        false
    }

    fn inside_brackets(&mut self) -> bool {
        if let Ok((r, _)) = spaces(&self.input[self.pos..]) {
            self.pos = self.input.len() - r.len();
        }
        let start = self.pos;
        let rest = &self.input[start..];
        let Some(c) = rest.chars().next() else {
            self.error(
                "unexpected end of input in duration expression".to_string(),
                start,
            );
            return true;
        };
        let one = |k| (k, 1);
        let (kind, len) = match c {
            ']' => {
                self.bracket_open = false;
                self.got_colon = false;
                one(TokenKind::RightBracket)
            }
            ':' => {
                // Go's lexer overwrites the ":" item with these errors.
                if !self.got_duration {
                    self.error(
                        "unexpected colon before duration in duration expression".to_string(),
                        start + 1,
                    );
                    return true;
                }
                if self.got_colon {
                    self.error(
                        "unexpected repeated colon in duration expression".to_string(),
                        start + 1,
                    );
                    return true;
                }
                self.got_colon = true;
                self.emit(TokenKind::Colon, start, start + 1);
                return false;
            }
            '(' => {
                self.paren_depth += 1;
                one(TokenKind::LeftParen)
            }
            ')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    // Go's lexer overwrites the ")" item with the error.
                    self.error("unexpected right parenthesis ')'".to_string(), start + 1);
                    return true;
                }
                self.emit(TokenKind::RightParen, start, start + 1);
                return false;
            }
            '+' => one(TokenKind::Op(BinaryOp::Add)),
            '-' => one(TokenKind::Op(BinaryOp::Sub)),
            '*' => one(TokenKind::Op(BinaryOp::Mul)),
            '/' => one(TokenKind::Op(BinaryOp::Div)),
            '%' => one(TokenKind::Op(BinaryOp::Mod)),
            '^' => one(TokenKind::Op(BinaryOp::Pow)),
            ',' => one(TokenKind::Comma),
            c if is_alpha(c) => {
                let (_, word) = identifier(false)(rest).unwrap_or((rest, &rest[..1]));
                let kw = match word.to_ascii_lowercase().as_str() {
                    "step" => Keyword::Step,
                    "range" => Keyword::Range,
                    "start" => Keyword::Start,
                    "end" => Keyword::End,
                    "min_of" => Keyword::MinOf,
                    "max_of" => Keyword::MaxOf,
                    // Go's lexer is back in its statement state once a number was read.
                    _ if self.got_duration => {
                        self.error(
                            format!("unexpected character: {}, expected ':'", quote_rune(c)),
                            start,
                        );
                        return true;
                    }
                    _ => {
                        self.error(
                            format!(
                                "unexpected character in duration expression: {}",
                                quote_rune(c)
                            ),
                            start,
                        );
                        return true;
                    }
                };
                (TokenKind::Keyword(kw), word.len())
            }
            '0'..='9' => {
                self.got_duration = true;
                return self.number_token();
            }
            '.' if rest[1..].starts_with(|n: char| n.is_ascii_digit()) => {
                self.got_duration = true;
                return self.number_token();
            }
            other => {
                self.error(
                    format!(
                        "unexpected character in duration expression: {}",
                        quote_rune(other)
                    ),
                    start,
                );
                return true;
            }
        };
        self.emit(kind, start, start + len);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<TokenKind> {
        lex(input).into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn numbers_and_durations() {
        for (s, ok) in [
            ("1", true),
            ("1.5", true),
            (".5", true),
            ("5.", true),
            ("1e10", true),
            ("1E-5", true),
            ("0x1f", true),
            ("0X_1F", true),
            ("1_000", true),
            ("1__0", false),
            ("1_", false),
            ("1e", false),
            ("0x1.5", false),
        ] {
            assert_eq!(scan_number(s, false).1, ok, "{s}");
        }
        assert_eq!(
            kinds("5m 1h30m 5ms"),
            vec![
                TokenKind::Duration,
                TokenKind::Duration,
                TokenKind::Duration,
                TokenKind::Eof
            ]
        );
        assert_eq!(
            kinds("5mm"),
            vec![TokenKind::Error(
                "bad number or duration syntax: \"5mm\"".into()
            )]
        );
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(
            kinds("SUM By offset Inf nan foo:bar"),
            vec![
                TokenKind::Aggregator(AggregateOp::Sum),
                TokenKind::Keyword(Keyword::By),
                TokenKind::Keyword(Keyword::Offset),
                TokenKind::Number,
                TokenKind::Number,
                TokenKind::MetricIdentifier,
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn braces_treat_keywords_as_identifiers() {
        assert_eq!(
            kinds(r#"{by=~"a", on!~'b'}"#),
            vec![
                TokenKind::LeftBrace,
                TokenKind::Identifier,
                TokenKind::EqlRegex,
                TokenKind::String,
                TokenKind::Comma,
                TokenKind::Identifier,
                TokenKind::NeqRegex,
                TokenKind::String,
                TokenKind::RightBrace,
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn errors() {
        for (input, msg) in [
            ("(1", "unclosed left parenthesis"),
            ("1)", "unexpected right parenthesis ')'"),
            ("foo{", "unexpected end of input inside braces"),
            ("foo[5m", "unexpected end of input in duration expression"),
            ("!x", "unexpected character after '!': 'x'"),
            ("\"abc", "unterminated quoted string"),
            ("`abc", "unterminated raw string"),
            (r#""\c""#, "unknown escape sequence U+0063 'c'"),
            (
                r#""\xZZ""#,
                "illegal character U+005A 'Z' in escape sequence",
            ),
            ("foo{1}", "unexpected character inside braces: '1'"),
            ("foo[x]", "unexpected character in duration expression: 'x'"),
            ("$", "unexpected character: '$'"),
        ] {
            let toks = lex(input);
            let last = toks.last().map(|t| t.kind.clone());
            assert_eq!(last, Some(TokenKind::Error(msg.into())), "{input}");
        }
    }
}
