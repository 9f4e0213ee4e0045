//! Series descriptions of the test language's `load` lines (Go's `ParseSeriesDesc`):
//! `metric{l="v"} 0+10x100 _ stale 1x3`.

use std::sync::Arc;

use model::{FloatHistogram, Labels};

use super::lex::{is_alnum, is_alpha, is_space, quote_rune, scan_number};
use super::parse::{ParseOptions, Parser, parse_number};
use crate::error::ParseError;

/// The most values one series description may expand to (the upstream scripts use at most
/// about ten thousand); a bound, so that `1+1x99999999999` cannot exhaust memory.
pub const MAX_SERIES_VALUES: usize = 1 << 20;

/// One value of an expanded series description.
#[derive(Debug, Clone, Default)]
pub struct SequenceValue {
    /// The sample value (a stale marker for `stale`); 0 for a histogram.
    pub value: f64,
    /// `_`: no sample at this step.
    pub omitted: bool,
    /// A native histogram value (`{{...}}`).
    pub histogram: Option<Arc<FloatHistogram>>,
    /// Whether the histogram's notation spelled `counter_reset_hint` (expected results
    /// compare the hint only then).
    pub counter_reset_hint_set: bool,
}

impl PartialEq for SequenceValue {
    fn eq(&self, other: &SequenceValue) -> bool {
        self.omitted == other.omitted
            && self.histogram == other.histogram
            && (self.value.to_bits() == other.value.to_bits()
                || (self.value.is_nan() && other.value.is_nan() && !self.omitted))
    }
}

/// Parses a series description into its labels and expanded values.
///
/// `a+bxN` expands to the N+1 values `a, a+b, ..., a+N*b`; `axN` to N+1 copies of `a`;
/// `_` is one omitted value and `_xN` N of them; `stale` is a staleness marker.
///
/// ```
/// let (labels, values) = promql::parser::parse_series_desc(r#"up{job="a"} 1+1x2 _ stale"#).unwrap();
/// assert_eq!(labels.get("job"), Some("a"));
/// let v: Vec<f64> = values.iter().take(3).map(|s| s.value).collect();
/// assert_eq!(v, [1.0, 2.0, 3.0]);
/// assert!(values[3].omitted);
/// assert!(model::value::is_stale_nan(values[4].value));
/// ```
pub fn parse_series_desc(input: &str) -> Result<(Labels, Vec<SequenceValue>), ParseError> {
    let err = |start: usize, end: usize, msg: String| ParseError {
        span: start..end,
        message: msg,
        query: input.to_string(),
        line_offset: 0,
    };
    // The metric part ends after the name, or after the closing brace of the label set.
    let lead = input.len() - input.trim_start().len();
    let mut end = lead;
    let bytes = input.as_bytes();
    while end < bytes.len() && (is_alnum(bytes[end] as char) || bytes[end] == b':') {
        end += 1;
    }
    if end < bytes.len() && bytes[end] == b'{' {
        let mut quote: Option<u8> = None;
        let mut i = end + 1;
        let mut closed = false;
        while i < bytes.len() {
            let c = bytes[i];
            match quote {
                Some(q) => {
                    if c == b'\\' && q != b'`' {
                        i += 1;
                    } else if c == q {
                        quote = None;
                    }
                }
                None => match c {
                    b'"' | b'\'' | b'`' => quote = Some(c),
                    b'}' => {
                        closed = true;
                        break;
                    }
                    _ => {}
                },
            }
            i += 1;
        }
        if !closed {
            // Go's lexer reads on into the values and stops at what cannot be inside braces.
            parse_metric_labels(input, input)?;
            return Err(err(
                input.len(),
                input.len(),
                "unexpected end of input inside braces".to_string(),
            ));
        }
        end = i + 1;
    }
    let metric = &input[..end];
    let labels = parse_metric_labels(metric, input)?;

    let values = SeriesValues {
        input,
        pos: end,
        values: Vec::new(),
    }
    .parse()?;
    Ok((labels, values))
}

/// A token of Go's series-value lexer (`lexValueSequence`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Space,
    Add,
    Sub,
    Times,
    Blank,
    Number,
    Identifier,
    OpenHist,
    Eof,
}

/// The values after a series description's metric, read token by token as Go's lexer and
/// grammar read them, so that errors name the same token at the same position.
struct SeriesValues<'a> {
    input: &'a str,
    pos: usize,
    values: Vec<SequenceValue>,
}

impl<'a> SeriesValues<'a> {
    fn error(&self, at: usize, end: usize, message: String) -> ParseError {
        ParseError {
            span: at..end,
            message,
            query: self.input.to_string(),
            line_offset: 0,
        }
    }

    /// The next token, its start and its text; a lexer error is an error.
    fn next(&mut self) -> Result<(Tok, usize, &'a str), ParseError> {
        let start = self.pos;
        let input: &'a str = self.input;
        let rest = &input[start..];
        let Some(c) = rest.chars().next() else {
            return Ok((Tok::Eof, start, ""));
        };
        let (tok, len) = match c {
            '{' if rest.starts_with("{{") => (Tok::OpenHist, 2),
            c if is_space(c) => {
                let n = rest.find(|c: char| !is_space(c)).unwrap_or(rest.len());
                (Tok::Space, n)
            }
            '+' => (Tok::Add, 1),
            '-' => (Tok::Sub, 1),
            'x' => (Tok::Times, 1),
            '_' => (Tok::Blank, 1),
            c if c.is_ascii_digit()
                || (c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit())) =>
            {
                let (n, ok) = scan_number(rest, true);
                if !ok {
                    let n = n.min(rest.len());
                    return Err(self.error(
                        start,
                        start + n,
                        format!("bad number syntax: {}", model::strconv::quote(&rest[..n])),
                    ));
                }
                (Tok::Number, n)
            }
            c if is_alpha(c) => {
                let n = rest
                    .find(|c: char| !(is_alnum(c) || c == ':'))
                    .unwrap_or(rest.len());
                let word = &rest[..n];
                if word.eq_ignore_ascii_case("inf") || word.eq_ignore_ascii_case("nan") {
                    (Tok::Number, n)
                } else {
                    (Tok::Identifier, n)
                }
            }
            other => {
                return Err(self.error(
                    start,
                    start + other.len_utf8(),
                    format!(
                        "unexpected character in series sequence: {}",
                        quote_rune(other)
                    ),
                ));
            }
        };
        self.pos = start + len;
        // A space token's text is its first character, as Go emits it.
        let text = if tok == Tok::Space {
            &rest[..c.len_utf8()]
        } else {
            &rest[..len]
        };
        Ok((tok, start, text))
    }

    /// `unexpected <token>[ in context]`, as Go's parser words it.
    fn unexpected(&self, tok: Tok, at: usize, text: &str, context: &str) -> ParseError {
        let quoted = model::strconv::quote(text);
        let desc = match tok {
            Tok::Eof => "end of input".to_string(),
            Tok::Add | Tok::Sub => format!("<op:{text}>"),
            Tok::Number => format!("number {quoted}"),
            Tok::Identifier => format!("identifier {quoted}"),
            Tok::Space | Tok::Times | Tok::Blank | Tok::OpenHist => quoted,
        };
        let context = if context.is_empty() {
            String::new()
        } else {
            format!(" in {context}")
        };
        self.error(at, at + text.len(), format!("unexpected {desc}{context}"))
    }

    /// A number token's value (at `at`), or Go's error for text its lexer let through.
    fn number(&self, at: usize, text: &str) -> Result<f64, ParseError> {
        if text.eq_ignore_ascii_case("inf") {
            Ok(f64::INFINITY)
        } else if text.eq_ignore_ascii_case("nan") {
            Ok(f64::NAN)
        } else {
            parse_number(text).ok_or_else(|| {
                self.error(
                    at,
                    at + text.len(),
                    format!(
                        "error parsing number: strconv.ParseFloat: parsing {}: invalid syntax",
                        model::strconv::quote(text)
                    ),
                )
            })
        }
    }

    /// `xN`'s N (after the `x`).
    fn repetitions(&mut self) -> Result<u64, ParseError> {
        let (tok, at, text) = self.next()?;
        if tok != Tok::Number {
            return Err(self.unexpected(tok, at, text, "series values"));
        }
        let n = text.parse::<u64>().map_err(|_| {
            self.error(
                at,
                at + text.len(),
                format!(
                    "invalid repetition in series values: strconv.ParseUint: parsing {}: invalid syntax",
                    model::strconv::quote(text)
                ),
            )
        })?;
        if n >= MAX_SERIES_VALUES as u64 {
            return Err(self.too_many(at, at + text.len()));
        }
        Ok(n)
    }

    fn too_many(&self, at: usize, end: usize) -> ParseError {
        self.error(
            at,
            end,
            format!("series description expands to more than {MAX_SERIES_VALUES} values"),
        )
    }

    fn push(
        &mut self,
        v: SequenceValue,
        count: u64,
        inc: f64,
        at: usize,
    ) -> Result<(), ParseError> {
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        if self.values.len().saturating_add(count) > MAX_SERIES_VALUES {
            return Err(self.too_many(at, self.pos));
        }
        let mut v = v;
        for _ in 0..count {
            self.values.push(v.clone());
            v.value += inc;
        }
        Ok(())
    }

    fn parse(mut self) -> Result<Vec<SequenceValue>, ParseError> {
        // The metric is followed by the end or a space.
        match self.next()? {
            (Tok::Eof, ..) => return Ok(self.values),
            (Tok::Space, ..) => {}
            (tok, at, text) => return Err(self.unexpected(tok, at, text, "series values")),
        }
        loop {
            let (tok, at, text) = self.next()?;
            match tok {
                Tok::Eof => return Ok(self.values),
                Tok::OpenHist => {
                    let item = FloatHistogram::parse_notation_item(&self.input[at..])
                        .map_err(|e| self.error(at, at + 2, e.to_string()))?;
                    if self.values.len() + item.histograms.len() > MAX_SERIES_VALUES {
                        return Err(self.too_many(at, at + item.len));
                    }
                    let hint_set = item.counter_reset_hint_set;
                    self.values
                        .extend(item.histograms.into_iter().map(|h| SequenceValue {
                            histogram: Some(Arc::new(h)),
                            counter_reset_hint_set: hint_set,
                            ..SequenceValue::default()
                        }));
                    self.pos = (at + item.len).min(self.input.len());
                }
                Tok::Blank => {
                    let save = self.pos;
                    let n = match self.next()? {
                        (Tok::Times, ..) => self.repetitions()?,
                        _ => {
                            self.pos = save;
                            1
                        }
                    };
                    let omitted = SequenceValue {
                        omitted: true,
                        ..SequenceValue::default()
                    };
                    self.push(omitted, n, 0.0, at)?;
                }
                // Go's grammar has no rule for `x` starting an item.
                Tok::Times => return Err(self.unexpected(tok, at, text, "")),
                Tok::Identifier if text != "stale" => {
                    return Err(self.unexpected(
                        tok,
                        at,
                        text,
                        "series values, expected number or \"stale\"",
                    ));
                }
                Tok::Identifier | Tok::Number | Tok::Add | Tok::Sub => {
                    let start = match tok {
                        Tok::Identifier => model::value::stale_nan(),
                        Tok::Number => self.number(at, text)?,
                        _ => {
                            let (t, a, n) = self.next()?;
                            if t != Tok::Number {
                                return Err(self.unexpected(t, a, n, "series values"));
                            }
                            let v = self.number(a, n)?;
                            if tok == Tok::Sub { -v } else { v }
                        }
                    };
                    let value = SequenceValue {
                        value: start,
                        ..SequenceValue::default()
                    };
                    let save = self.pos;
                    match self.next()? {
                        (Tok::Times, ..) => {
                            let n = self.repetitions()?;
                            self.push(value, n + 1, 0.0, at)?;
                        }
                        (sign @ (Tok::Add | Tok::Sub), ..) => {
                            let (t, a, n) = self.next()?;
                            if t != Tok::Number {
                                return Err(self.unexpected(t, a, n, "series values"));
                            }
                            let inc = self.number(a, n)?;
                            let inc = if sign == Tok::Sub { -inc } else { inc };
                            let (t, a, n) = self.next()?;
                            if t != Tok::Times {
                                return Err(self.unexpected(t, a, n, "series values"));
                            }
                            let n = self.repetitions()?;
                            self.push(value, n + 1, inc, at)?;
                        }
                        _ => {
                            self.pos = save;
                            self.push(value, 1, 0.0, at)?;
                        }
                    }
                }
                Tok::Space => {}
            }
            // An item ends at a space or the end.
            match self.next()? {
                (Tok::Eof, ..) => return Ok(self.values),
                (Tok::Space, ..) => {}
                (tok, at, text) => return Err(self.unexpected(tok, at, text, "series values")),
            }
        }
    }
}

/// Parses a metric with its labels, `name{a="b"}` or `{__name__="name", a="b"}`, into a label
/// set (Go's `ParseMetric`, used for expected results in test scripts and rule unit tests).
///
/// ```
/// let l = promql::parser::parse_metric(r#"up{job="a"}"#).unwrap();
/// assert_eq!(l.to_string(), r#"{__name__="up", job="a"}"#);
/// ```
pub fn parse_metric(input: &str) -> Result<Labels, ParseError> {
    parse_metric_labels(input, input)
}

/// `metric{a="b"}` (equality matchers only) into labels.
fn parse_metric_labels(metric: &str, full: &str) -> Result<Labels, ParseError> {
    let opts = ParseOptions::default();
    let mut p = Parser::new(metric, &opts);
    if p.peek_kind() == &super::lex::TokenKind::Eof {
        return Err(p.unexpected("", "").with_query(full));
    }
    let name = if p.is_metric_identifier() {
        Some(p.next())
    } else {
        None
    };
    let has_name = name.is_some();
    // Go's `metric` rule words its errors for a label set.
    let in_label_set = |e: ParseError| {
        let mut e = e.with_query(full);
        e.message = e.message.replace(" in label matching", " in label set");
        e
    };
    let vs = p.vector_selector(name).map_err(in_label_set)?;
    p.expect_eof().map_err(in_label_set)?;
    let mut pairs = Vec::with_capacity(vs.matchers.len());
    for m in &vs.matchers {
        if m.match_type != model::MatchType::Equal {
            return Err(ParseError {
                span: vs.pos.start..vs.pos.end,
                message: format!(
                    "unexpected {} in label set, expected \"=\"",
                    model::strconv::quote(m.match_type.as_str())
                ),
                query: full.to_string(),
                line_offset: 0,
            });
        }
        pairs.push((m.name.clone(), m.value.clone()));
    }
    if has_name {
        // Go builds `name{...}` through a labels builder, which drops empty values;
        // a bare `{...}` keeps them.
        pairs.retain(|(_, v)| !v.is_empty());
    }
    Ok(Labels::from_pairs(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(s: &str) -> Vec<String> {
        let (_, v) = parse_series_desc(s).unwrap();
        v.iter()
            .map(|v| {
                if v.omitted {
                    "_".to_string()
                } else if model::value::is_stale_nan(v.value) {
                    "stale".to_string()
                } else {
                    v.value.to_string()
                }
            })
            .collect()
    }

    #[test]
    fn expansions() {
        assert_eq!(vals("m 1+1x2"), ["1", "2", "3"]);
        assert_eq!(
            vals("m 5-2x2 _x2 stale"),
            ["5", "3", "1", "_", "_", "stale"]
        );
        assert_eq!(vals("m 1x2"), ["1", "1", "1"]);
        assert_eq!(
            vals("m -1 +2 1e3 Inf -Inf _"),
            ["-1", "2", "1000", "inf", "-inf", "_"]
        );
        assert_eq!(vals(r#"{__name__="m", a="b"} 0.5"#), ["0.5"]);
        assert_eq!(
            parse_metric(r#"{__name__="m", a="b",}"#).unwrap(),
            Labels::from_pairs([("__name__", "m"), ("a", "b")])
        );
        assert!(parse_metric(r#"m{a!="b"}"#).is_err());
        assert!(parse_metric("").is_err());
        let (l, _) = parse_series_desc(r#"m{a="b", c="d"} 1"#).unwrap();
        assert_eq!(l.metric_name(), Some("m"));
        assert_eq!(l.get("c"), Some("d"));
    }

    #[test]
    fn histogram_values() {
        let (_, v) =
            parse_series_desc("m {{count:1}}+{{count:2}}x2 _ 3 {{schema:0 sum:1}}").unwrap();
        let counts: Vec<Option<f64>> = v
            .iter()
            .map(|s| s.histogram.as_ref().map(|h| h.count))
            .collect();
        assert_eq!(
            counts,
            [Some(1.0), Some(3.0), Some(5.0), None, None, Some(0.0)]
        );
        assert!(v[3].omitted);
        assert_eq!(v[4].value, 3.0);
        assert_eq!(vals("m {{count:1}}x1 1"), ["0", "0", "1"]);
    }

    #[test]
    fn errors() {
        assert!(parse_series_desc("m 1+1").is_err());
        assert!(parse_series_desc("m foo").is_err());
        assert!(parse_series_desc("m{a=~\"b\"} 1").is_err());
        assert!(parse_series_desc("m {{schema:1").is_err());
        // Found by fuzzing: a huge repetition must not try to allocate it.
        assert!(parse_series_desc("m 1+0x400067431157").is_err());
        assert!(parse_series_desc(&format!("m{}", " 1x1000".repeat(2000))).is_err());
    }

    #[test]
    fn errors_name_the_token_go_names() {
        // As promtool 3.5.3 reports them (there with the line of the series in its script).
        let err = |s: &str| parse_series_desc(s).unwrap_err().to_string();
        let cases = [
            (
                "up{ 1",
                "1:5: parse error: unexpected character inside braces: '1'",
            ),
            ("up 1 x", "1:6: parse error: unexpected \"x\""),
            ("up 1 x 2", "1:6: parse error: unexpected \"x\""),
            ("up stale x", "1:10: parse error: unexpected \"x\""),
            (
                "up 1 foo 2",
                "1:6: parse error: unexpected identifier \"foo\" in series values, expected number or \"stale\"",
            ),
            (
                "up 1+x3",
                "1:6: parse error: unexpected \"x\" in series values",
            ),
            (
                "up 1 +",
                "1:7: parse error: unexpected end of input in series values",
            ),
            (
                "up 1 1+1",
                "1:9: parse error: unexpected end of input in series values",
            ),
            (
                "up 1 _x",
                "1:8: parse error: unexpected end of input in series values",
            ),
            (
                "up 1 - 2",
                "1:7: parse error: unexpected \" \" in series values",
            ),
            (
                "up 1 ?",
                "1:6: parse error: unexpected character in series sequence: '?'",
            ),
            (
                "up} 1",
                "1:3: parse error: unexpected character in series sequence: '}'",
            ),
            ("up 1e", "1:4: parse error: bad number syntax: \"1e\""),
            (
                "up 1 1e ?",
                "1:6: parse error: error parsing number: strconv.ParseFloat: parsing \"1e\": invalid syntax",
            ),
            (
                "up{a=\"b\" c=\"d\"} 1",
                "1:10: parse error: unexpected identifier \"c\" in label set, expected \",\" or \"}\"",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(err(input), want, "{input}");
        }
    }
}
