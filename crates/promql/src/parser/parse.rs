//! The PromQL expression parser: precedence climbing over the lexer's tokens, then Go's
//! `checkAST` type checks (mirrors Go's parse.go and generated_parser.y).

use model::{MatchType, Matcher};

use super::ast::*;
use super::functions::get_function;
use super::lex::{Keyword, Token, TokenKind, lex};
use crate::error::ParseError;

mod check;

/// Which experimental syntax the parser accepts (Prometheus's `--enable-feature` flags).
///
/// [`ParseOptions::default`] enables everything, which is what an embedded engine and the
/// test scripts want; [`ParseOptions::stable`] is Prometheus's default with no feature flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Experimental functions and aggregations (`promql-experimental-functions`).
    pub experimental_functions: bool,
    /// Duration expressions such as `[5m * 2]` and `offset step()`
    /// (`promql-duration-expr`).
    pub duration_expressions: bool,
    /// `anchored` and `smoothed` range modifiers (`promql-extended-range-selectors`).
    pub extended_range_selectors: bool,
    /// `fill`, `fill_left` and `fill_right` binary operator modifiers
    /// (`promql-binop-fill-modifiers`).
    pub binop_fill_modifiers: bool,
}

impl Default for ParseOptions {
    fn default() -> ParseOptions {
        ParseOptions {
            experimental_functions: true,
            duration_expressions: true,
            extended_range_selectors: true,
            binop_fill_modifiers: true,
        }
    }
}

impl ParseOptions {
    /// Everything experimental disabled, as Prometheus runs without feature flags.
    pub fn stable() -> ParseOptions {
        ParseOptions {
            experimental_functions: false,
            duration_expressions: false,
            extended_range_selectors: false,
            binop_fill_modifiers: false,
        }
    }
}

/// Parses a PromQL expression with every experimental feature enabled.
///
/// ```
/// use promql::parser::{parse_expr, Expr, ValueType};
/// let e = parse_expr("sum by (job) (rate(http_requests_total[5m])) > 0").unwrap();
/// assert_eq!(e.value_type(), ValueType::Vector);
/// assert!(matches!(e, Expr::Binary(_)));
/// let err = parse_expr("foo{").unwrap_err();
/// assert_eq!(err.to_string(), "1:5: parse error: unexpected end of input inside braces");
/// ```
pub fn parse_expr(input: &str) -> Result<Expr, ParseError> {
    parse_expr_with(input, &ParseOptions::default())
}

/// Parses a PromQL expression accepting the experimental syntax `opts` enables.
pub fn parse_expr_with(input: &str, opts: &ParseOptions) -> Result<Expr, ParseError> {
    let mut p = Parser::new(input, opts);
    if p.peek_kind() == &TokenKind::Eof {
        return Err(p.err(0, 0, "no expression found in input"));
    }
    let mut expr = p.expr(0)?;
    p.expect_eof()?;
    p.check(&mut expr)?;
    Ok(expr)
}

/// Parses a series selector (`foo{job="x"}`, `{__name__=~"a.*"}`) into its matchers, as
/// the `match[]` parameters of the HTTP API do (Go's `ParseMetricSelector`). The matcher for
/// a metric name written before the braces comes last.
pub fn parse_metric_selector(input: &str) -> Result<Vec<Matcher>, ParseError> {
    let opts = ParseOptions::default();
    let mut p = Parser::new(input, &opts);
    let vs = match p.peek_kind().clone() {
        TokenKind::LeftBrace => p.vector_selector(None)?,
        TokenKind::Eof => return Err(p.unexpected("", "")),
        _ if p.is_metric_identifier() => {
            let tok = p.next();
            p.vector_selector(Some(tok))?
        }
        _ => return Err(p.unexpected("", "")),
    };
    p.expect_eof()?;
    // Like Go's ParseMetricSelector this does not type-check: `{}` yields no matchers, and
    // the HTTP API rejects selectors without a non-empty matcher itself.
    Ok(vs.matchers)
}

/// Unquotes a PromQL string literal (`"..."`, `'...'` or `` `...` ``) as Go's
/// `strutil.Unquote` does. The lexer has already validated escapes.
pub fn unquote(s: &str) -> Result<String, String> {
    let mut chars = s.chars();
    let (Some(q), Some(last)) = (chars.next(), s.chars().last()) else {
        return Err("invalid syntax".to_string());
    };
    if s.len() < 2 || q != last || !matches!(q, '"' | '\'' | '`') {
        return Err("invalid syntax".to_string());
    }
    let body = &s[1..s.len() - 1];
    if q == '`' {
        if body.contains('`') {
            return Err("invalid syntax".to_string());
        }
        return Ok(body.replace('\r', ""));
    }
    if !body.contains('\\') && !body.contains(q) && !body.contains('\n') {
        return Ok(body.to_string());
    }
    let mut out = String::with_capacity(body.len());
    let mut bytes: Vec<u8> = Vec::new();
    let mut it = body.chars().peekable();
    // Go's Unquote works on bytes: \x and octal escapes produce raw bytes. Go keeps invalid
    // UTF-8 in the string (and fails later, e.g. on an invalid label name); Rust strings cannot
    // hold it, so it is rejected here.
    let flush = |bytes: &mut Vec<u8>, out: &mut String| -> Result<(), String> {
        if !bytes.is_empty() {
            let s = String::from_utf8(std::mem::take(bytes))
                .map_err(|_| "invalid UTF-8 rune".to_string())?;
            out.push_str(&s);
        }
        Ok(())
    };
    while let Some(c) = it.next() {
        if c == q || c == '\n' {
            return Err("invalid syntax".to_string());
        }
        if c != '\\' {
            flush(&mut bytes, &mut out)?;
            out.push(c);
            continue;
        }
        let Some(e) = it.next() else {
            return Err("invalid syntax".to_string());
        };
        let simple = match e {
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            'f' => Some('\x0c'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\x0b'),
            '\\' => Some('\\'),
            '\'' | '"' => {
                if e != q {
                    return Err("invalid syntax".to_string());
                }
                Some(e)
            }
            _ => None,
        };
        if let Some(c) = simple {
            flush(&mut bytes, &mut out)?;
            out.push(c);
            continue;
        }
        let (n, base) = match e {
            '0'..='7' => (2, 8),
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            _ => return Err("invalid syntax".to_string()),
        };
        let mut v: u32 = if base == 8 { e as u32 - '0' as u32 } else { 0 };
        for _ in 0..n {
            let d = it
                .next()
                .and_then(|c| c.to_digit(base))
                .ok_or_else(|| "invalid syntax".to_string())?;
            v = v * base + d;
        }
        match e {
            'u' | 'U' => {
                flush(&mut bytes, &mut out)?;
                out.push(char::from_u32(v).ok_or_else(|| "invalid syntax".to_string())?);
            }
            _ => {
                if v > 255 {
                    return Err("invalid syntax".to_string());
                }
                bytes.push(v as u8);
            }
        }
    }
    flush(&mut bytes, &mut out)?;
    Ok(out)
}

/// Parses a number token as Go's parser does: `strconv.ParseInt(s, 0, 64)` (so `0x1f`,
/// `0755` octal, `1_000`) and, failing that, `strconv.ParseFloat`.
pub fn parse_number(s: &str) -> Option<f64> {
    parse_go_int(s)
        .map(|i| i as f64)
        .or_else(|| parse_go_float(s))
}

fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

fn parse_go_int(s: &str) -> Option<i64> {
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    let lower = clean.to_ascii_lowercase();
    let (base, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    i64::from_str_radix(digits, base).ok()
}

fn parse_go_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    if !clean
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    // Go's ParseFloat reports overflow to ±Inf as an error (ErrRange).
    clean.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Parses a Prometheus duration token to milliseconds with Go's error messages.
fn parse_duration_ms(s: &str) -> Result<i64, String> {
    model::Duration::parse(s)
        .map(|d| d.as_millis())
        .map_err(|e| e.to_string())
}

/// Seconds (as a number literal holds them) to milliseconds. Rounded: `1001ms` is held as
/// 1.001 s, and 1.001 * 1000 is 1000.999..., which must not become 1000 ms (Go's parse_test
/// expects `test[1001ms]` and `foo[4.018]` to keep their milliseconds).
fn secs_to_ms(v: f64) -> i64 {
    (v * 1000.0).round() as i64
}

/// The deepest expression the parser accepts. Every recursion level, every operand of an
/// operator chain and every postfix range/subquery counts one level, so this bounds both the
/// parser's recursion and the depth of the AST that the printer, the type checker and the
/// engine walk recursively. Go's growable stacks need no such limit; ours keeps a hostile
/// query from overflowing a thread's stack.
pub const MAX_NESTING: usize = 1000;

/// What Go's grammar expects where a duration expression starts.
const DURATION_EXPECTED: &str = "number, duration, step(), or range()";

/// Runs a recursive step on a fresh stack segment when less than 128 KiB of stack is left,
/// so that deep (but bounded, see [`MAX_NESTING`]) expressions cannot overflow the stack of
/// small threads, debug builds included.
pub(crate) fn grow<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(128 * 1024, 2 * 1024 * 1024, f)
}

pub(crate) struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    opts: ParseOptions,
    /// Nesting budget used so far (see [`MAX_NESTING`]).
    nest: usize,
    /// Where a duration expression is being read, for Go's error wording.
    dur_ctx: &'static str,
}

/// Binary operator modifiers collected between the operator and the right operand.
struct BinModifiers {
    return_bool: bool,
    matching: VectorMatching,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(input: &'a str, opts: &ParseOptions) -> Parser<'a> {
        Parser {
            input,
            tokens: lex(input),
            pos: 0,
            opts: *opts,
            nest: 0,
            dur_ctx: "subquery or range selector",
        }
    }

    pub(crate) fn err(&self, start: usize, end: usize, msg: impl Into<String>) -> ParseError {
        ParseError {
            span: start..end,
            message: msg.into(),
            query: self.input.to_string(),
            line_offset: 0,
        }
    }

    fn peek(&self) -> &Token {
        let i = self.pos.min(self.tokens.len() - 1);
        &self.tokens[i]
    }

    pub(crate) fn peek_kind(&self) -> &TokenKind {
        &self.peek().kind
    }

    fn peek_kind_at(&self, n: usize) -> &TokenKind {
        let i = (self.pos + n).min(self.tokens.len() - 1);
        &self.tokens[i].kind
    }

    pub(crate) fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    /// End of the last consumed token.
    fn last_end(&self) -> usize {
        if self.pos == 0 {
            0
        } else {
            self.tokens[self.pos - 1].end
        }
    }

    /// Go's `unexpected(context, expected)` about the current token; a lexer error token
    /// reports the lexer's message instead.
    pub(crate) fn unexpected(&self, context: &str, expected: &str) -> ParseError {
        let tok = self.peek();
        if let TokenKind::Error(msg) = &tok.kind {
            return self.err(tok.start, tok.end, msg.clone());
        }
        let mut msg = format!("unexpected {}", tok.desc(self.input));
        if !context.is_empty() {
            msg.push_str(" in ");
            msg.push_str(context);
        }
        if !expected.is_empty() {
            msg.push_str(", expected ");
            msg.push_str(expected);
        }
        self.err(tok.start, tok.end, msg)
    }

    pub(crate) fn expect_eof(&self) -> Result<(), ParseError> {
        if self.peek_kind() == &TokenKind::Eof {
            Ok(())
        } else {
            Err(self.unexpected("", ""))
        }
    }

    /// Keywords that Go's grammar also accepts as metric names.
    pub(crate) fn is_metric_identifier(&self) -> bool {
        match self.peek_kind() {
            TokenKind::Identifier | TokenKind::MetricIdentifier | TokenKind::Aggregator(_) => true,
            TokenKind::Op(op) => matches!(op, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless),
            TokenKind::Keyword(k) => matches!(
                k,
                Keyword::By
                    | Keyword::Without
                    | Keyword::Offset
                    | Keyword::Start
                    | Keyword::End
                    | Keyword::Step
                    | Keyword::Anchored
                    | Keyword::Smoothed
            ),
            _ => false,
        }
    }

    // ---- expressions ----

    /// Spends one level of the nesting budget.
    fn enter(&mut self) -> Result<(), ParseError> {
        self.nest += 1;
        if self.nest > MAX_NESTING {
            let t = self.peek();
            return Err(self.err(
                t.start,
                t.end,
                format!("expression nests deeper than {MAX_NESTING} levels"),
            ));
        }
        Ok(())
    }

    pub(crate) fn expr(&mut self, min_prec: u8) -> Result<Expr, ParseError> {
        let saved = self.nest;
        let r = grow(|| self.expr_inner(min_prec));
        self.nest = saved;
        r
    }

    fn expr_inner(&mut self, min_prec: u8) -> Result<Expr, ParseError> {
        self.enter()?;
        let mut lhs = self.unary()?;
        while let TokenKind::Op(op) = self.peek_kind() {
            let op = *op;
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.enter()?;
            self.next();
            let mods = self.bin_modifiers()?;
            let next_min = if op.is_right_associative() {
                prec
            } else {
                prec + 1
            };
            let rhs = self.expr(next_min)?;
            let fill = mods.matching.fill_values;
            let e = BinaryExpr {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                vector_matching: Some(mods.matching),
                return_bool: mods.return_bool,
            };
            if !self.opts.binop_fill_modifiers && (fill.lhs.is_some() || fill.rhs.is_some()) {
                let pos = Expr::Binary(e).pos();
                return Err(self.err(
                    pos.start,
                    pos.end,
                    "binop fill modifiers are experimental and not enabled",
                ));
            }
            lhs = Expr::Binary(e);
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let op = match self.peek_kind() {
            TokenKind::Op(BinaryOp::Add) => UnaryOp::Add,
            TokenKind::Op(BinaryOp::Sub) => UnaryOp::Sub,
            _ => {
                let e = self.primary()?;
                return self.postfix(e);
            }
        };
        let tok = self.next();
        // Go gives the unary rule the precedence of `*`: only `^` binds tighter.
        let operand = self.expr(BinaryOp::Pow.precedence())?;
        Ok(match operand {
            Expr::NumberLiteral(mut n) => {
                if op == UnaryOp::Sub {
                    n.val = -n.val;
                }
                n.pos.start = tok.start;
                Expr::NumberLiteral(n)
            }
            e => Expr::Unary(UnaryExpr {
                op,
                expr: Box::new(e),
                start_pos: tok.start,
            }),
        })
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let tok = self.peek().clone();
        match &tok.kind {
            TokenKind::Number | TokenKind::Duration => {
                let n = self.number_literal()?;
                Ok(Expr::NumberLiteral(n))
            }
            TokenKind::String => {
                self.next();
                let val = self.unquote_token(&tok)?;
                Ok(Expr::StringLiteral(StringLiteral {
                    val,
                    pos: PosRange::new(tok.start, tok.end),
                }))
            }
            TokenKind::LeftParen => {
                self.next();
                let inner = self.expr(0)?;
                if self.peek_kind() != &TokenKind::RightParen {
                    return Err(self.unexpected("", ""));
                }
                let close = self.next();
                Ok(Expr::Paren(ParenExpr {
                    expr: Box::new(inner),
                    pos: PosRange::new(tok.start, close.end),
                }))
            }
            TokenKind::LeftBrace => Ok(Expr::VectorSelector(self.vector_selector(None)?)),
            TokenKind::Aggregator(op)
                if matches!(
                    self.peek_kind_at(1),
                    TokenKind::LeftParen
                        | TokenKind::Keyword(Keyword::By)
                        | TokenKind::Keyword(Keyword::Without)
                ) =>
            {
                let op = *op;
                self.aggregate(op)
            }
            _ if self.peek_kind_at(1) == &TokenKind::LeftParen
                && self.duration_func().is_some() =>
            {
                let k = self.duration_func().expect("checked by the guard");
                Ok(Expr::Duration(self.duration_call(k)?))
            }
            TokenKind::Identifier if self.peek_kind_at(1) == &TokenKind::LeftParen => self.call(),
            _ if self.is_metric_identifier() => {
                let name = self.next();
                Ok(Expr::VectorSelector(self.vector_selector(Some(name))?))
            }
            _ => Err(self.unexpected("", "")),
        }
    }

    /// A number or duration literal at the current token.
    fn number_literal(&mut self) -> Result<NumberLiteral, ParseError> {
        let tok = self.next();
        let text = tok.text(self.input);
        let pos = PosRange::new(tok.start, tok.end);
        match tok.kind {
            TokenKind::Number => {
                let val = parse_number(text).ok_or_else(|| {
                    let why = if text.replace('_', "").parse::<f64>().is_ok() {
                        "value out of range"
                    } else {
                        "invalid syntax"
                    };
                    self.err(
                        tok.start,
                        tok.end,
                        format!(
                            "error parsing number: strconv.ParseFloat: parsing {}: {why}",
                            model::strconv::quote(text)
                        ),
                    )
                })?;
                Ok(NumberLiteral {
                    val,
                    duration: false,
                    pos,
                })
            }
            TokenKind::Duration => {
                let ms = parse_duration_ms(text).map_err(|m| self.err(tok.start, tok.end, m))?;
                Ok(NumberLiteral {
                    val: ms as f64 / 1000.0,
                    duration: true,
                    pos,
                })
            }
            _ => Err(self.err(tok.start, tok.end, "expected number or duration")),
        }
    }

    fn postfix(&mut self, mut e: Expr) -> Result<Expr, ParseError> {
        loop {
            e = match self.peek_kind() {
                TokenKind::LeftBracket => {
                    self.enter()?;
                    self.range_or_subquery(e)?
                }
                TokenKind::Keyword(Keyword::Offset) => self.offset(e)?,
                TokenKind::At => self.at(e)?,
                TokenKind::Keyword(k @ (Keyword::Anchored | Keyword::Smoothed)) => {
                    let k = *k;
                    self.next();
                    self.extended_range(e, k)?
                }
                _ => return Ok(e),
            };
        }
    }

    fn range_or_subquery(&mut self, e: Expr) -> Result<Expr, ParseError> {
        let open = self.next();
        if matches!(
            self.peek_kind(),
            TokenKind::RightBracket | TokenKind::Colon | TokenKind::Eof
        ) {
            return Err(self.unexpected("subquery or range selector", DURATION_EXPECTED));
        }
        self.dur_ctx = "subquery or range selector";
        let range = self.duration_expr(0)?;
        self.check_duration(&range)?;
        self.check_positive(&range)?;
        match self.peek_kind() {
            TokenKind::RightBracket => {
                let close = self.next();
                let msg = match &e {
                    Expr::VectorSelector(vs)
                        if vs.original_offset != 0 || vs.original_offset_expr.is_some() =>
                    {
                        Some("no offset modifiers allowed before range")
                    }
                    Expr::VectorSelector(vs)
                        if vs.timestamp.is_some() || vs.start_or_end.is_some() =>
                    {
                        Some("no @ modifiers allowed before range")
                    }
                    Expr::VectorSelector(_) => None,
                    _ => Some("ranges only allowed for vector selectors"),
                };
                if let Some(msg) = msg {
                    return Err(self.err(open.start, close.end, msg));
                }
                let Expr::VectorSelector(vs) = e else {
                    return Err(self.err(
                        open.start,
                        close.end,
                        "ranges only allowed for vector selectors",
                    ));
                };
                let (range, range_expr) = self.split_duration(range)?;
                Ok(Expr::MatrixSelector(MatrixSelector {
                    vector_selector: vs,
                    range,
                    range_expr,
                    end_pos: close.end,
                }))
            }
            TokenKind::Colon => {
                self.next();
                let step = if self.peek_kind() == &TokenKind::RightBracket {
                    None
                } else if self.starts_duration_expr() {
                    let step = self.duration_expr(0)?;
                    self.check_duration(&step)?;
                    self.check_positive(&step)?;
                    Some(step)
                } else {
                    return Err(self.unexpected("subquery selector", "duration or \"]\""));
                };
                if self.peek_kind() != &TokenKind::RightBracket {
                    return Err(self.unexpected("subquery selector", "\"]\""));
                }
                let close = self.next();
                let (range, range_expr) = self.split_duration(range)?;
                let (step, step_expr) = match step {
                    Some(s) => self.split_duration(s)?,
                    None => (0, None),
                };
                Ok(Expr::Subquery(SubqueryExpr {
                    expr: Box::new(e),
                    range,
                    range_expr,
                    original_offset: 0,
                    original_offset_expr: None,
                    offset: 0,
                    timestamp: None,
                    start_or_end: None,
                    step,
                    step_expr,
                    end_pos: close.end,
                }))
            }
            _ => Err(self.unexpected("subquery or range", "\":\" or \"]\"")),
        }
    }

    /// A literal becomes milliseconds; anything else stays an expression (after checking the
    /// feature is enabled).
    fn split_duration(&self, d: DurationExpr) -> Result<(i64, Option<DurationExpr>), ParseError> {
        match d {
            DurationExpr::Number(n) => Ok((secs_to_ms(n.val), None)),
            other => {
                if !self.opts.duration_expressions {
                    let p = other.pos();
                    return Err(self.err(
                        p.start,
                        p.end,
                        "experimental duration expression is not enabled",
                    ));
                }
                Ok((0, Some(other)))
            }
        }
    }

    /// Go evaluates what it can of a duration expression while parsing: a constant zero
    /// divisor is an error, and so is a constant value beyond what a `time.Duration` holds.
    fn check_duration(&self, d: &DurationExpr) -> Result<(), ParseError> {
        grow(|| self.check_duration_inner(d))?;
        if !d.depends_on_query() {
            let v = d.eval_seconds(0.0, 0.0);
            // time.Duration is int64 nanoseconds.
            if v.is_nan() || v.abs() * 1e9 >= i64::MAX as f64 {
                let p = d.pos();
                return Err(self.err(p.start, p.end, "duration out of range"));
            }
        }
        Ok(())
    }

    fn check_duration_inner(&self, d: &DurationExpr) -> Result<(), ParseError> {
        match d {
            DurationExpr::Binary { op, lhs, rhs } => {
                self.check_duration(lhs)?;
                self.check_duration(rhs)?;
                if matches!(op, DurationOp::Div | DurationOp::Mod)
                    && !rhs.depends_on_query()
                    && rhs.eval_seconds(0.0, 0.0) == 0.0
                {
                    // The operator sits between the operands.
                    let bytes = self.input.as_bytes();
                    let mut at = lhs.pos().end;
                    while at < bytes.len() && super::lex::is_space(bytes[at] as char) {
                        at += 1;
                    }
                    let msg = if *op == DurationOp::Div {
                        "division by zero"
                    } else {
                        "modulo by zero"
                    };
                    return Err(self.err(at, at + 1, msg));
                }
                Ok(())
            }
            DurationExpr::Unary { expr, .. } | DurationExpr::Paren { expr, .. } => {
                self.check_duration_inner(expr)
            }
            DurationExpr::MinOf { lhs, rhs, .. } | DurationExpr::MaxOf { lhs, rhs, .. } => {
                self.check_duration_inner(lhs)?;
                self.check_duration_inner(rhs)
            }
            _ => Ok(()),
        }
    }

    /// Go rejects literal ranges that are not positive ("duration must be greater than 0"),
    /// a sign included (Go folds `-1` into the literal); other expressions are the engine's.
    fn check_positive(&self, d: &DurationExpr) -> Result<(), ParseError> {
        let literal = match d {
            DurationExpr::Number(_) => true,
            DurationExpr::Unary { expr, .. } => matches!(**expr, DurationExpr::Number(_)),
            _ => false,
        };
        if literal && d.eval_seconds(0.0, 0.0) * 1000.0 < 1.0 {
            let p = d.pos();
            return Err(self.err(p.start, p.end, "duration must be greater than 0"));
        }
        Ok(())
    }

    fn starts_duration_expr(&self) -> bool {
        match self.peek_kind() {
            TokenKind::Number
            | TokenKind::Duration
            | TokenKind::LeftParen
            | TokenKind::Op(BinaryOp::Add | BinaryOp::Sub) => true,
            TokenKind::Keyword(
                Keyword::Step
                | Keyword::Range
                | Keyword::Start
                | Keyword::End
                | Keyword::MinOf
                | Keyword::MaxOf,
            ) => true,
            TokenKind::Identifier => self.duration_func().is_some(),
            _ => false,
        }
    }

    /// `range`, `min_of`, `max_of` lexed as identifiers outside brackets.
    fn duration_func(&self) -> Option<Keyword> {
        let tok = self.peek();
        match &tok.kind {
            TokenKind::Keyword(
                k @ (Keyword::Step
                | Keyword::Range
                | Keyword::Start
                | Keyword::End
                | Keyword::MinOf
                | Keyword::MaxOf),
            ) => Some(*k),
            TokenKind::Identifier => match tok.text(self.input).to_ascii_lowercase().as_str() {
                "range" => Some(Keyword::Range),
                "min_of" => Some(Keyword::MinOf),
                "max_of" => Some(Keyword::MaxOf),
                _ => None,
            },
            _ => None,
        }
    }

    /// A duration expression (inside brackets, or in parentheses after `offset`).
    fn duration_expr(&mut self, min_prec: u8) -> Result<DurationExpr, ParseError> {
        let saved = self.nest;
        let r = grow(|| self.duration_expr_inner(min_prec));
        self.nest = saved;
        r
    }

    fn duration_expr_inner(&mut self, min_prec: u8) -> Result<DurationExpr, ParseError> {
        self.enter()?;
        let mut lhs = self.duration_unary()?;
        loop {
            let op = match self.peek_kind() {
                TokenKind::Op(BinaryOp::Add) => DurationOp::Add,
                TokenKind::Op(BinaryOp::Sub) => DurationOp::Sub,
                TokenKind::Op(BinaryOp::Mul) => DurationOp::Mul,
                TokenKind::Op(BinaryOp::Div) => DurationOp::Div,
                TokenKind::Op(BinaryOp::Mod) => DurationOp::Mod,
                TokenKind::Op(BinaryOp::Pow) => DurationOp::Pow,
                _ => break,
            };
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.next();
            let next_min = if op == DurationOp::Pow {
                prec
            } else {
                prec + 1
            };
            let rhs = self.duration_expr(next_min)?;
            lhs = DurationExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        Ok(lhs)
    }

    fn duration_unary(&mut self) -> Result<DurationExpr, ParseError> {
        let op = match self.peek_kind() {
            TokenKind::Op(BinaryOp::Add) => UnaryOp::Add,
            TokenKind::Op(BinaryOp::Sub) => UnaryOp::Sub,
            _ => return self.duration_primary(),
        };
        let tok = self.next();
        let operand = self.duration_expr(DurationOp::Pow.precedence())?;
        let pos = PosRange::new(tok.start, operand.pos().end);
        Ok(DurationExpr::Unary {
            op,
            expr: Box::new(operand),
            pos,
        })
    }

    fn duration_primary(&mut self) -> Result<DurationExpr, ParseError> {
        let tok = self.peek().clone();
        match &tok.kind {
            TokenKind::Number | TokenKind::Duration => {
                Ok(DurationExpr::Number(self.number_literal()?))
            }
            TokenKind::LeftParen => {
                self.next();
                let inner = self.duration_expr(0)?;
                if self.peek_kind() != &TokenKind::RightParen {
                    return Err(self.unexpected("duration expression", "\")\""));
                }
                let close = self.next();
                Ok(DurationExpr::Paren {
                    expr: Box::new(inner),
                    pos: PosRange::new(tok.start, close.end),
                })
            }
            _ => match self.duration_func() {
                Some(k) => self.duration_call(k),
                None => Err(self.unexpected(self.dur_ctx, DURATION_EXPECTED)),
            },
        }
    }

    fn duration_call(&mut self, k: Keyword) -> Result<DurationExpr, ParseError> {
        let name = self.next();
        if self.peek_kind() != &TokenKind::LeftParen {
            return Err(self.unexpected(self.dur_ctx, DURATION_EXPECTED));
        }
        self.next();
        let e = match k {
            Keyword::Step | Keyword::Range | Keyword::Start | Keyword::End => {
                if self.peek_kind() != &TokenKind::RightParen {
                    return Err(self.unexpected("duration expression", "\")\""));
                }
                let close = self.next();
                let pos = PosRange::new(name.start, close.end);
                match k {
                    Keyword::Step => DurationExpr::Step { pos },
                    Keyword::Range => DurationExpr::Range { pos },
                    Keyword::Start => DurationExpr::Start { pos },
                    _ => DurationExpr::End { pos },
                }
            }
            _ => {
                let a = self.duration_expr(0)?;
                if self.peek_kind() != &TokenKind::Comma {
                    return Err(self.unexpected("duration expression", "\",\""));
                }
                self.next();
                let b = self.duration_expr(0)?;
                if self.peek_kind() != &TokenKind::RightParen {
                    return Err(self.unexpected("duration expression", "\")\""));
                }
                let close = self.next();
                let pos = PosRange::new(name.start, close.end);
                let (lhs, rhs) = (Box::new(a), Box::new(b));
                if k == Keyword::MinOf {
                    DurationExpr::MinOf { lhs, rhs, pos }
                } else {
                    DurationExpr::MaxOf { lhs, rhs, pos }
                }
            }
        };
        if !self.opts.duration_expressions {
            let p = e.pos();
            return Err(self.err(
                p.start,
                p.end,
                "experimental duration expression is not enabled",
            ));
        }
        Ok(e)
    }

    fn offset(&mut self, mut e: Expr) -> Result<Expr, ParseError> {
        self.next();
        self.dur_ctx = "offset";
        // A (signed) literal is a plain offset; anything else is a duration expression.
        let sign_tok = match self.peek_kind() {
            TokenKind::Op(BinaryOp::Sub | BinaryOp::Add) => Some(self.peek().clone()),
            _ => None,
        };
        let after_sign = usize::from(sign_tok.is_some());
        let literal = matches!(
            self.peek_kind_at(after_sign),
            TokenKind::Number | TokenKind::Duration
        );
        let (lit, expr) = if literal {
            if sign_tok.is_some() {
                self.next();
            }
            let n = self.number_literal()?;
            self.check_duration(&DurationExpr::Number(n))?;
            let neg = matches!(
                sign_tok.as_ref().map(|t| &t.kind),
                Some(TokenKind::Op(BinaryOp::Sub))
            );
            let ms = secs_to_ms(n.val);
            (if neg { -ms } else { ms }, None)
        } else {
            let starts = match self.peek_kind_at(after_sign) {
                TokenKind::LeftParen => true,
                _ => {
                    // Look past the sign for step()/range()/min_of()/max_of().
                    let save = self.pos;
                    self.pos += after_sign;
                    let ok = self.duration_func().is_some();
                    self.pos = save;
                    ok
                }
            };
            if !starts {
                if sign_tok.is_some() {
                    self.next();
                }
                return Err(self.unexpected("offset", DURATION_EXPECTED));
            }
            let d = if let Some(tok) = sign_tok {
                self.next();
                let op = if tok.kind == TokenKind::Op(BinaryOp::Sub) {
                    UnaryOp::Sub
                } else {
                    UnaryOp::Add
                };
                let operand = self.duration_primary()?;
                let pos = PosRange::new(tok.start, operand.pos().end);
                DurationExpr::Unary {
                    op,
                    expr: Box::new(operand),
                    pos,
                }
            } else {
                self.duration_primary()?
            };
            if !self.opts.duration_expressions {
                let p = d.pos();
                return Err(self.err(
                    p.start,
                    p.end,
                    "experimental duration expression is not enabled",
                ));
            }
            self.check_duration(&d)?;
            (0, Some(d))
        };
        let end = self.last_end();
        let pos = e.pos();
        let (orig, orig_expr, end_pos) = match &mut e {
            Expr::VectorSelector(vs) => (
                &mut vs.original_offset,
                &mut vs.original_offset_expr,
                &mut vs.pos.end,
            ),
            Expr::MatrixSelector(ms) => (
                &mut ms.vector_selector.original_offset,
                &mut ms.vector_selector.original_offset_expr,
                &mut ms.end_pos,
            ),
            Expr::Subquery(sq) => (
                &mut sq.original_offset,
                &mut sq.original_offset_expr,
                &mut sq.end_pos,
            ),
            _ => {
                return Err(self.err(
                    pos.start,
                    pos.end,
                    "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ));
            }
        };
        if *orig != 0 || orig_expr.is_some() {
            return Err(self.err(pos.start, pos.end, "offset may not be set multiple times"));
        }
        *orig = lit;
        *orig_expr = expr;
        *end_pos = end;
        Ok(e)
    }

    fn at(&mut self, mut e: Expr) -> Result<Expr, ParseError> {
        self.next();
        enum At {
            Ts(f64),
            Pre(AtModifier),
        }
        let at = match self.peek_kind().clone() {
            TokenKind::Keyword(k @ (Keyword::Start | Keyword::End)) => {
                self.next();
                if self.peek_kind() != &TokenKind::LeftParen {
                    return Err(self.unexpected("@", "\"(\""));
                }
                self.next();
                if self.peek_kind() != &TokenKind::RightParen {
                    return Err(self.unexpected("@", "\")\""));
                }
                self.next();
                At::Pre(if k == Keyword::Start {
                    AtModifier::Start
                } else {
                    AtModifier::End
                })
            }
            TokenKind::Op(op @ (BinaryOp::Add | BinaryOp::Sub))
                if matches!(
                    self.peek_kind_at(1),
                    TokenKind::Number | TokenKind::Duration
                ) =>
            {
                self.next();
                let n = self.number_literal()?;
                At::Ts(if op == BinaryOp::Sub { -n.val } else { n.val })
            }
            TokenKind::Number | TokenKind::Duration => At::Ts(self.number_literal()?.val),
            _ => {
                if let TokenKind::Op(BinaryOp::Add | BinaryOp::Sub) = self.peek_kind() {
                    self.next();
                }
                return Err(self.unexpected("@", "timestamp"));
            }
        };
        let end = self.last_end();
        let pos = e.pos();
        if let At::Ts(ts) = at
            && (!ts.is_finite() || ts >= i64::MAX as f64 || ts <= i64::MIN as f64)
        {
            return Err(self.err(
                pos.start,
                pos.end,
                format!(
                    "timestamp out of bounds for @ modifier: {}",
                    if ts.is_finite() {
                        format!("{ts:.6}")
                    } else {
                        super::printer::format_float(ts)
                    }
                ),
            ));
        }
        let (timestamp, start_or_end, end_pos) = match &mut e {
            Expr::VectorSelector(vs) => (&mut vs.timestamp, &mut vs.start_or_end, &mut vs.pos.end),
            Expr::MatrixSelector(ms) => (
                &mut ms.vector_selector.timestamp,
                &mut ms.vector_selector.start_or_end,
                &mut ms.end_pos,
            ),
            Expr::Subquery(sq) => (&mut sq.timestamp, &mut sq.start_or_end, &mut sq.end_pos),
            _ => {
                return Err(self.err(
                    pos.start,
                    pos.end,
                    "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ));
            }
        };
        if timestamp.is_some() || start_or_end.is_some() {
            return Err(self.err(
                pos.start,
                pos.end,
                "@ <timestamp> may not be set multiple times",
            ));
        }
        match at {
            At::Ts(ts) => *timestamp = Some((ts * 1000.0).round() as i64),
            At::Pre(m) => *start_or_end = Some(m),
        }
        *end_pos = end;
        Ok(e)
    }

    fn extended_range(&mut self, mut e: Expr, k: Keyword) -> Result<Expr, ParseError> {
        let pos = e.pos();
        let name = k.as_str();
        if !self.opts.extended_range_selectors {
            return Err(self.err(
                pos.start,
                pos.end,
                format!("{name} modifier is experimental and not enabled"),
            ));
        }
        let end = self.last_end();
        let vs = match &mut e {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &mut ms.vector_selector,
            Expr::Subquery(_) => {
                return Err(self.err(
                    pos.start,
                    pos.end,
                    format!("{name} modifier is not supported for subqueries"),
                ));
            }
            _ => {
                return Err(self.err(
                    pos.start,
                    pos.end,
                    format!("{name} modifier not implemented"),
                ));
            }
        };
        if k == Keyword::Anchored {
            vs.anchored = true;
        } else {
            vs.smoothed = true;
        }
        if vs.anchored && vs.smoothed {
            return Err(self.err(
                pos.start,
                pos.end,
                "anchored and smoothed modifiers cannot be used together",
            ));
        }
        match &mut e {
            Expr::VectorSelector(vs) => vs.pos.end = end,
            Expr::MatrixSelector(ms) => ms.end_pos = end,
            _ => {}
        }
        Ok(e)
    }

    fn bin_modifiers(&mut self) -> Result<BinModifiers, ParseError> {
        let mut m = BinModifiers {
            return_bool: false,
            matching: VectorMatching::default(),
        };
        if self.peek_kind() == &TokenKind::Keyword(Keyword::Bool) {
            self.next();
            m.return_bool = true;
        }
        match self.peek_kind() {
            TokenKind::Keyword(k @ (Keyword::On | Keyword::Ignoring)) => {
                m.matching.on = *k == Keyword::On;
                self.next();
                m.matching.matching_labels = self.grouping_labels()?;
                if let TokenKind::Keyword(k @ (Keyword::GroupLeft | Keyword::GroupRight)) =
                    self.peek_kind()
                {
                    m.matching.card = if *k == Keyword::GroupLeft {
                        VectorMatchCardinality::ManyToOne
                    } else {
                        VectorMatchCardinality::OneToMany
                    };
                    self.next();
                    if self.peek_kind() == &TokenKind::LeftParen {
                        m.matching.include = self.grouping_labels()?;
                    }
                }
            }
            TokenKind::Keyword(Keyword::GroupLeft | Keyword::GroupRight) => {
                return Err(self.unexpected("", ""));
            }
            _ => {}
        }
        // Experimental fill modifiers: fill(v), fill_left(v), fill_right(v).
        loop {
            let tok = self.peek().clone();
            if tok.kind != TokenKind::Identifier || self.peek_kind_at(1) != &TokenKind::LeftParen {
                break;
            }
            let which = match tok.text(self.input).to_ascii_lowercase().as_str() {
                "fill" => 0,
                "fill_left" => 1,
                "fill_right" => 2,
                _ => break,
            };
            self.next();
            self.next();
            let neg = match self.peek_kind() {
                TokenKind::Op(BinaryOp::Sub) => {
                    self.next();
                    true
                }
                TokenKind::Op(BinaryOp::Add) => {
                    self.next();
                    false
                }
                _ => false,
            };
            if !matches!(self.peek_kind(), TokenKind::Number | TokenKind::Duration) {
                return Err(self.unexpected("fill modifier", "number"));
            }
            let n = self.number_literal()?;
            let v = if neg { -n.val } else { n.val };
            if self.peek_kind() != &TokenKind::RightParen {
                return Err(self.unexpected("fill modifier", "\")\""));
            }
            self.next();
            let f = &mut m.matching.fill_values;
            match which {
                0 => {
                    f.lhs = Some(v);
                    f.rhs = Some(v);
                }
                1 => f.lhs = Some(v),
                _ => f.rhs = Some(v),
            }
        }
        Ok(m)
    }

    /// `( label, ... )` for `by`, `without`, `on`, `ignoring`, `group_x`.
    fn grouping_labels(&mut self) -> Result<Vec<String>, ParseError> {
        if self.peek_kind() != &TokenKind::LeftParen {
            return Err(self.unexpected("grouping opts", "\"(\""));
        }
        self.next();
        let mut labels = Vec::new();
        loop {
            if self.peek_kind() == &TokenKind::RightParen {
                self.next();
                return Ok(labels);
            }
            let tok = self.peek().clone();
            let text = tok.text(self.input);
            let label = match &tok.kind {
                TokenKind::String => unquote(text).map_err(|e| {
                    self.err(
                        tok.start,
                        tok.end,
                        format!(
                            "error unquoting string {}: {e}",
                            model::strconv::quote(text)
                        ),
                    )
                })?,
                TokenKind::Identifier
                | TokenKind::Keyword(_)
                | TokenKind::Aggregator(_)
                | TokenKind::Op(
                    BinaryOp::And | BinaryOp::Or | BinaryOp::Unless | BinaryOp::Atan2,
                ) => text.to_string(),
                TokenKind::Number if text.bytes().all(|c| c.is_ascii_alphabetic()) => {
                    text.to_string()
                }
                _ => return Err(self.unexpected("grouping opts", "label")),
            };
            self.next();
            labels.push(label);
            match self.peek_kind() {
                TokenKind::Comma => {
                    self.next();
                }
                TokenKind::RightParen => {}
                _ => return Err(self.unexpected("grouping opts", "\",\" or \")\"")),
            }
        }
    }

    /// Function call arguments `( expr, ... )`.
    fn call_args(&mut self) -> Result<Vec<Expr>, ParseError> {
        // The caller checked for "(".
        self.next();
        let mut args = Vec::new();
        if self.peek_kind() == &TokenKind::RightParen {
            self.next();
            return Ok(args);
        }
        loop {
            args.push(self.expr(0)?);
            match self.peek_kind() {
                TokenKind::Comma => {
                    let comma = self.next();
                    if self.peek_kind() == &TokenKind::RightParen {
                        return Err(self.err(
                            comma.start,
                            comma.end,
                            "trailing commas not allowed in function call args",
                        ));
                    }
                }
                TokenKind::RightParen => {
                    self.next();
                    return Ok(args);
                }
                _ => return Err(self.unexpected("", "")),
            }
        }
    }

    fn call(&mut self) -> Result<Expr, ParseError> {
        let name = self.next();
        let text = name.text(self.input);
        let Some(func) = get_function(text) else {
            return Err(self.err(
                name.start,
                name.end,
                format!("unknown function with name {}", model::strconv::quote(text)),
            ));
        };
        if func.experimental && !self.opts.experimental_functions {
            return Err(self.err(
                name.start,
                name.end,
                format!("function {} is not enabled", model::strconv::quote(text)),
            ));
        }
        let args = self.call_args()?;
        Ok(Expr::Call(Call {
            func,
            args,
            pos: PosRange::new(name.start, self.last_end()),
        }))
    }

    fn aggregate(&mut self, op: AggregateOp) -> Result<Expr, ParseError> {
        let op_tok = self.next();
        let mut grouping = Vec::new();
        let mut without = false;
        let mut have_mod = false;
        if let TokenKind::Keyword(k @ (Keyword::By | Keyword::Without)) = self.peek_kind() {
            without = *k == Keyword::Without;
            self.next();
            grouping = self.grouping_labels()?;
            have_mod = true;
        }
        if self.peek_kind() != &TokenKind::LeftParen {
            return Err(self.unexpected("aggregation", ""));
        }
        let mut args = self.call_args()?;
        let mut end = self.last_end();
        if !have_mod
            && let TokenKind::Keyword(k @ (Keyword::By | Keyword::Without)) = self.peek_kind()
        {
            without = *k == Keyword::Without;
            self.next();
            grouping = self.grouping_labels()?;
            end = self.last_end();
        }
        let pos = PosRange::new(op_tok.start, end);
        if args.is_empty() {
            return Err(self.err(
                pos.start,
                pos.end,
                "no arguments for aggregate expression provided",
            ));
        }
        let mut desired = 1;
        let mut param = None;
        if op.has_param() {
            if op.is_experimental() && !self.opts.experimental_functions {
                return Err(self.err(
                    pos.start,
                    pos.end,
                    format!(
                        "{op}() is experimental and must be enabled with --enable-feature=promql-experimental-functions"
                    ),
                ));
            }
            desired = 2;
        }
        if args.len() != desired {
            return Err(self.err(
                pos.start,
                pos.end,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {desired}, got {}",
                    args.len()
                ),
            ));
        }
        let expr = args.pop().expect("length checked above");
        if desired == 2 {
            param = args.pop().map(Box::new);
        }
        Ok(Expr::Aggregate(AggregateExpr {
            op,
            expr: Box::new(expr),
            param,
            grouping,
            without,
            pos,
        }))
    }

    /// A vector selector: an optional metric name token, then optional `{...}`.
    pub(crate) fn vector_selector(
        &mut self,
        name: Option<Token>,
    ) -> Result<VectorSelector, ParseError> {
        let start = name.as_ref().map_or(self.peek().start, |t| t.start);
        let mut matchers = Vec::new();
        let mut end = name.as_ref().map_or(start, |t| t.end);
        if self.peek_kind() == &TokenKind::LeftBrace {
            self.next();
            matchers = self.label_matchers()?;
            end = self.last_end();
        }
        let name = name
            .map(|t| t.text(self.input).to_string())
            .unwrap_or_default();
        if !name.is_empty() {
            matchers.push(Matcher::equal(model::METRIC_NAME, name.clone()));
        }
        Ok(VectorSelector {
            name,
            matchers,
            original_offset: 0,
            original_offset_expr: None,
            offset: 0,
            timestamp: None,
            start_or_end: None,
            anchored: false,
            smoothed: false,
            bypass_empty_matcher_check: false,
            pos: PosRange::new(start, end),
        })
    }

    /// The inside of `{...}`; the `{` has been consumed.
    fn label_matchers(&mut self) -> Result<Vec<Matcher>, ParseError> {
        let mut out = Vec::new();
        loop {
            let tok = self.peek().clone();
            let label = match &tok.kind {
                TokenKind::RightBrace => {
                    self.next();
                    return Ok(out);
                }
                TokenKind::Identifier => {
                    self.next();
                    tok.text(self.input).to_string()
                }
                TokenKind::String => {
                    self.next();
                    self.unquote_token(&tok)?
                }
                _ => {
                    return Err(self.unexpected("label matching", "identifier or \"}\""));
                }
            };
            let op = match self.peek_kind() {
                TokenKind::Eql => Some(MatchType::Equal),
                TokenKind::Op(BinaryOp::Neq) => Some(MatchType::NotEqual),
                TokenKind::EqlRegex => Some(MatchType::RegexMatch),
                TokenKind::NeqRegex => Some(MatchType::RegexNoMatch),
                TokenKind::Comma | TokenKind::RightBrace if tok.kind == TokenKind::String => None,
                _ => {
                    return Err(self.unexpected("label matching", "label matching operator"));
                }
            };
            match op {
                None => {
                    // A lone quoted string is the metric name.
                    out.push(Matcher::equal(model::METRIC_NAME, label));
                }
                Some(op) => {
                    self.next();
                    let vtok = self.peek().clone();
                    if vtok.kind != TokenKind::String {
                        return Err(self.unexpected("label matching", "string"));
                    }
                    self.next();
                    let value = self.unquote_token(&vtok)?;
                    let m = Matcher::new(op, label, value)
                        .map_err(|e| self.err(tok.start, vtok.end, e.to_string()))?;
                    out.push(m);
                }
            }
            match self.peek_kind() {
                TokenKind::Comma => {
                    self.next();
                }
                TokenKind::RightBrace => {}
                _ => return Err(self.unexpected("label matching", "\",\" or \"}\"")),
            }
        }
    }

    fn unquote_token(&self, tok: &Token) -> Result<String, ParseError> {
        let text = tok.text(self.input);
        unquote(text).map_err(|e| {
            if e == "invalid UTF-8 rune" {
                return self.err(tok.start, tok.end, e);
            }
            self.err(
                tok.start,
                tok.end,
                format!(
                    "error unquoting string {}: {e}",
                    model::strconv::quote(text)
                ),
            )
        })
    }
}
