//! The `{{...}}` histogram notation of PromQL test scripts and rule unit tests (Go's series
//! description grammar), its expansion forms, and the two textual forms Go prints:
//! `Display` (Go's `TestExpression`) and [`FloatHistogram::to_go_string`] (Go's `String`).

use std::fmt::{self, Write as _};

use super::{CUSTOM_BUCKETS_SCHEMA, CounterResetHint, FloatHistogram, Histogram, Span};
use crate::error::HistogramError;
use crate::strconv::format_float_g;

/// The most histograms one notation item may expand to (`{{...}}x1048576`).
pub const MAX_NOTATION_EXPANSION: u64 = 1 << 20;

/// One histogram item of a series description, expanded (see
/// [`FloatHistogram::parse_notation_item`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NotationItem {
    /// The histograms the item stands for, one per step.
    pub histograms: Vec<FloatHistogram>,
    /// Whether the last `{{...}}` of the item spelled `counter_reset_hint` (Go's
    /// `CounterResetHintSet`: expected results compare the hint only then).
    pub counter_reset_hint_set: bool,
    /// How many bytes of the input the item took.
    pub len: usize,
}

fn err(msg: impl Into<String>) -> HistogramError {
    HistogramError::Notation(msg.into())
}

/// A cursor over the notation's bytes.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn skip_space(&mut self) -> bool {
        let before = self.pos;
        while self
            .rest()
            .as_bytes()
            .first()
            .is_some_and(|c| matches!(c, b' ' | b'\t'))
        {
            self.pos += 1;
        }
        self.pos > before
    }

    fn eat(&mut self, tok: &str) -> bool {
        if self.rest().starts_with(tok) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }

    fn peek(&self) -> Option<u8> {
        self.rest().as_bytes().first().copied()
    }

    fn unexpected(&self, expected: &str) -> HistogramError {
        let rest = self.rest();
        let found: String = rest.chars().take(12).collect();
        if found.is_empty() {
            err(format!(
                "unexpected end of input in histogram description, expected {expected}"
            ))
        } else {
            err(format!(
                "unexpected {} in histogram description at position {}, expected {expected}",
                crate::strconv::quote(&found),
                self.pos
            ))
        }
    }

    fn word(&mut self) -> &'a str {
        let start = self.pos;
        let bytes = self.s.as_bytes();
        while self.pos < bytes.len()
            && (bytes[self.pos].is_ascii_alphanumeric() || bytes[self.pos] == b'_')
        {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// A number token: decimal or hex integer, float with exponent, `Inf` or `NaN`.
    fn number_token(&mut self) -> &'a str {
        let start = self.pos;
        let bytes = self.s.as_bytes();
        let hex = self.rest().starts_with("0x") || self.rest().starts_with("0X");
        while self.pos < bytes.len() {
            let c = bytes[self.pos];
            let exp_sign = !hex
                && matches!(c, b'+' | b'-')
                && self.pos > start
                && matches!(bytes[self.pos - 1], b'e' | b'E');
            if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || exp_sign {
                self.pos += 1;
            } else {
                break;
            }
        }
        &self.s[start..self.pos]
    }

    /// `number`: an unsigned number (Go's `parser.number`: integers in any base Go's
    /// `ParseInt(s, 0, 64)` accepts, then floats).
    fn number(&mut self) -> Result<f64, HistogramError> {
        let at = self.pos;
        let tok = self.number_token();
        if tok.is_empty() {
            self.pos = at;
            return Err(self.unexpected("a number"));
        }
        parse_number(tok).ok_or_else(|| {
            err(format!(
                "error parsing number: {}",
                crate::strconv::quote(tok)
            ))
        })
    }

    /// `signed_or_unsigned_number`.
    fn signed_number(&mut self) -> Result<f64, HistogramError> {
        if self.eat("-") {
            return Ok(-self.number()?);
        }
        self.eat("+");
        self.number()
    }

    /// `int`: an optional minus and an unsigned decimal integer.
    fn int(&mut self) -> Result<i64, HistogramError> {
        let negative = self.eat("-");
        let at = self.pos;
        let tok = self.number_token();
        let v: i64 = tok.parse::<u32>().map(i64::from).map_err(|_| {
            self.pos = at;
            if tok.is_empty() {
                self.unexpected("an integer")
            } else {
                err(format!(
                    "invalid integer {} in histogram description",
                    crate::strconv::quote(tok)
                ))
            }
        })?;
        Ok(if negative { -v } else { v })
    }

    fn number_list(&mut self) -> Result<Vec<f64>, HistogramError> {
        if !self.eat("[") {
            return Err(self.unexpected("\"[\""));
        }
        let mut out = Vec::new();
        loop {
            self.skip_space();
            if self.eat("]") {
                if out.is_empty() {
                    return Err(err(
                        "unexpected \"]\" in histogram description, expected a number",
                    ));
                }
                return Ok(out);
            }
            out.push(self.signed_number()?);
        }
    }
}

/// Go's `ParseInt(s, 0, 64)` then `ParseFloat(s, 64)`.
fn parse_number(tok: &str) -> Option<f64> {
    let lower = tok.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "+inf" => return Some(f64::INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    let int = if let Some(hex) = lower.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else if let Some(oct) = lower.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()
    } else if let Some(bin) = lower.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|c| c.is_ascii_digit())
    {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else if lower.bytes().all(|c| c.is_ascii_digit()) {
        lower.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Some(i as f64);
    }
    if !lower
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'+' | b'-'))
    {
        return None;
    }
    lower.parse::<f64>().ok()
}

/// Parses one `{{...}}` at the cursor; returns it and whether it spelled a counter reset
/// hint.
fn parse_one(c: &mut Cursor<'_>) -> Result<(FloatHistogram, bool), HistogramError> {
    if !c.eat("{{") {
        return Err(c.unexpected("\"{{\""));
    }
    let mut h = FloatHistogram::default();
    let mut seen: Vec<&str> = Vec::new();
    let (mut buckets, mut offset) = (None::<Vec<f64>>, 0i64);
    let (mut n_buckets, mut n_offset) = (None::<Vec<f64>>, 0i64);
    let mut hint_set = false;
    loop {
        c.skip_space();
        if c.eat("}}") {
            break;
        }
        let key_at = c.pos;
        let key = c.word();
        if key.is_empty() {
            return Err(c.unexpected("a histogram description key, e.g. buckets:[5 10 7]"));
        }
        if !c.eat(":") {
            return Err(c.unexpected("\":\""));
        }
        let duplicate = seen.contains(&key);
        seen.push(key);
        match key {
            "schema" => {
                let v = c.int()?;
                if !duplicate {
                    h.schema = v as i32;
                }
            }
            "sum" | "count" | "z_bucket" => {
                let v = c.signed_number()?;
                if !duplicate {
                    match key {
                        "sum" => h.sum = v,
                        "count" => h.count = v,
                        _ => h.zero_count = v,
                    }
                }
            }
            "z_bucket_w" => {
                let v = c.number()?;
                if !duplicate {
                    h.zero_threshold = v;
                }
            }
            "custom_values" | "buckets" | "n_buckets" => {
                let v = c.number_list()?;
                if !duplicate {
                    match key {
                        "custom_values" => h.custom_values = v,
                        "buckets" => buckets = Some(v),
                        _ => n_buckets = Some(v),
                    }
                }
            }
            "offset" | "n_offset" => {
                let v = c.int()?;
                if !duplicate {
                    if key == "offset" {
                        offset = v;
                    } else {
                        n_offset = v;
                    }
                }
            }
            "counter_reset_hint" => {
                let at = c.pos;
                let hint = match c.word() {
                    "unknown" => CounterResetHint::Unknown,
                    "reset" => CounterResetHint::CounterReset,
                    "not_reset" => CounterResetHint::NotCounterReset,
                    "gauge" => CounterResetHint::Gauge,
                    _ => {
                        c.pos = at;
                        return Err(c.unexpected("one of unknown, reset, not_reset, gauge"));
                    }
                };
                if !duplicate {
                    h.counter_reset_hint = hint;
                    hint_set = true;
                }
            }
            _ => {
                c.pos = key_at;
                return Err(c.unexpected("a histogram description key, e.g. buckets:[5 10 7]"));
            }
        }
        if duplicate {
            return Err(err(format!("duplicate key \"{key}\" in histogram")));
        }
        let spaced = c.skip_space();
        if !spaced && !c.rest().starts_with("}}") {
            return Err(c.unexpected("a space or \"}}\""));
        }
    }
    if let Some(b) = buckets {
        h.positive_spans = vec![Span {
            offset: offset as i32,
            length: b.len() as u32,
        }];
        h.positive_buckets = b;
    }
    if let Some(b) = n_buckets {
        h.negative_spans = vec![Span {
            offset: n_offset as i32,
            length: b.len() as u32,
        }];
        h.negative_buckets = b;
    }
    Ok((h, hint_set))
}

/// The `N` of `xN`.
fn parse_times(c: &mut Cursor<'_>) -> Result<u64, HistogramError> {
    if !c.eat("x") {
        return Err(c.unexpected("\"x\" and a repetition count"));
    }
    let start = c.pos;
    while c.peek().is_some_and(|b| b.is_ascii_digit()) {
        c.pos += 1;
    }
    let n: u64 = c.s[start..c.pos]
        .parse()
        .map_err(|_| c.unexpected("a repetition count"))?;
    if n >= MAX_NOTATION_EXPANSION {
        return Err(err(format!(
            "histogram series description expands to more than {MAX_NOTATION_EXPANSION} values"
        )));
    }
    Ok(n)
}

impl FloatHistogram {
    /// Parses exactly one `{{...}}` histogram (surrounding whitespace allowed), e.g.
    /// `{{schema:0 count:4 sum:5 z_bucket:1 z_bucket_w:0.001 offset:-1 buckets:[1 2]
    /// n_offset:0 n_buckets:[1] counter_reset_hint:gauge}}` or, with custom buckets,
    /// `{{schema:-53 count:3 custom_values:[1 2] buckets:[1 2]}}`.
    ///
    /// Keys may come in any order, each at most once; `buckets`/`n_buckets` make one span
    /// starting at `offset`/`n_offset` (default 0); numbers may be `Inf`/`NaN` and signed
    /// (except `z_bucket_w`); `counter_reset_hint` is `unknown`, `reset`, `not_reset` or
    /// `gauge`. Absent keys are zero, as in Go's `buildHistogramFromMap`.
    ///
    /// ```
    /// let h = model::FloatHistogram::parse_notation("{{schema:1 count:3 buckets:[1 2]}}").unwrap();
    /// assert_eq!((h.schema, h.count), (1, 3.0));
    /// assert_eq!(h.positive_buckets, [1.0, 2.0]);
    /// assert_eq!(h.to_string(), "{{schema:1 count:3 buckets:[1 2]}}");
    /// ```
    pub fn parse_notation(input: &str) -> Result<FloatHistogram, HistogramError> {
        let trimmed = input.trim();
        let mut c = Cursor { s: trimmed, pos: 0 };
        let (h, _) = parse_one(&mut c)?;
        if !c.rest().is_empty() {
            return Err(c.unexpected("end of input"));
        }
        Ok(h)
    }

    /// Parses the histogram item at the start of `input`, one value of a series description
    /// (Go's `series_item` with histograms), and expands it:
    ///
    /// - `{{h}}`: one histogram;
    /// - `{{h}}xN`: N+1 copies of `h`;
    /// - `{{a}}+{{b}}xN`: N+1 histograms `a, a+b, a+2b, ...`, each the previous one plus `b`
    ///   ([`FloatHistogram::add`], no compaction);
    /// - `{{a}}-{{b}}xN`: likewise with [`FloatHistogram::sub`].
    ///
    /// As in Go, `+`/`-` fail with `error combining histograms: cannot merge from schema B to
    /// A` when `a`'s schema is higher than `b`'s. The item ends where the notation ends;
    /// [`NotationItem::len`] says how far that is, so the caller continues after it.
    ///
    /// ```
    /// let item = model::FloatHistogram::parse_notation_item("{{count:1}}+{{count:2}}x2 5").unwrap();
    /// let counts: Vec<f64> = item.histograms.iter().map(|h| h.count).collect();
    /// assert_eq!(counts, [1.0, 3.0, 5.0]);
    /// assert_eq!(item.len, 25);
    /// ```
    pub fn parse_notation_item(input: &str) -> Result<NotationItem, HistogramError> {
        let mut c = Cursor { s: input, pos: 0 };
        let (base, mut hint_set) = parse_one(&mut c)?;
        let histograms = match c.peek() {
            Some(b'x') => {
                let n = parse_times(&mut c)?;
                vec![base; n as usize + 1]
            }
            Some(op @ (b'+' | b'-')) if c.rest()[1..].starts_with("{{") => {
                c.pos += 1;
                let (inc, inc_hint_set) = parse_one(&mut c)?;
                hint_set = inc_hint_set;
                let n = parse_times(&mut c)?;
                expand(base, &inc, n, op == b'+')?
            }
            _ => vec![base],
        };
        Ok(NotationItem {
            histograms,
            counter_reset_hint_set: hint_set,
            len: c.pos,
        })
    }

    /// Go's `FloatHistogram.String()`: `{count:N, sum:S, <buckets>}` listing the populated
    /// buckets from the lowest to the highest, e.g.
    /// `{count:19, sum:2.7, [-2,-1):3, [-0.001,0.001]:2, (0.5,1]:1, (1,2]:3}`.
    pub fn to_go_string(&self) -> String {
        let mut out = format!(
            "{{count:{}, sum:{}",
            format_float_g(self.count),
            format_float_g(self.sum)
        );
        let negatives: Vec<_> = self
            .negative_bucket_iter()
            .filter(|b| b.count != 0.0)
            .collect();
        for b in negatives.iter().rev() {
            let _ = write!(out, ", {b}");
        }
        if self.zero_count != 0.0 {
            let _ = write!(out, ", {}", self.zero_bucket());
        }
        for b in self.positive_bucket_iter().filter(|b| b.count != 0.0) {
            let _ = write!(out, ", {b}");
        }
        out.push('}');
        out
    }
}

impl Histogram {
    /// Go's `Histogram.String()`: as [`FloatHistogram::to_go_string`], with the counts
    /// printed as integers (`{count:19, sum:2.7, [-2,-1):3, (0.5,1]:1}`).
    pub fn to_go_string(&self) -> String {
        let mut out = format!("{{count:{}, sum:{}", self.count, format_float_g(self.sum));
        let bucket = |out: &mut String, b: &super::Bucket| {
            let _ = write!(
                out,
                ", {}{},{}{}:{}",
                if b.lower_inclusive { '[' } else { '(' },
                format_float_g(b.lower),
                format_float_g(b.upper),
                if b.upper_inclusive { ']' } else { ')' },
                b.count as u64
            );
        };
        let negatives: Vec<_> = self
            .negative_bucket_iter()
            .filter(|b| b.count != 0.0)
            .collect();
        for b in negatives.iter().rev() {
            bucket(&mut out, b);
        }
        if self.zero_count != 0 {
            bucket(&mut out, &self.zero_bucket());
        }
        for b in self.positive_bucket_iter().filter(|b| b.count != 0.0) {
            bucket(&mut out, &b);
        }
        out.push('}');
        out
    }
}

/// Go's `histogramsSeries`: `times` more histograms after `base`, each combining the
/// previous one with `inc`.
fn expand(
    base: FloatHistogram,
    inc: &FloatHistogram,
    times: u64,
    add: bool,
) -> Result<Vec<FloatHistogram>, HistogramError> {
    let mut out = Vec::with_capacity(times as usize + 1);
    out.push(base);
    for _ in 0..times {
        let mut cur = out.last().cloned().unwrap_or_default();
        if cur.schema > inc.schema {
            return Err(err(format!(
                "error combining histograms: cannot merge from schema {} to {}",
                inc.schema, cur.schema
            )));
        }
        if add {
            cur.add(inc)?;
        } else {
            cur.sub(inc)?;
        }
        out.push(cur);
    }
    Ok(out)
}

fn write_list(f: &mut fmt::Formatter<'_>, values: &[f64]) -> fmt::Result {
    f.write_char('[')?;
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            f.write_char(' ')?;
        }
        f.write_str(&format_float_g(*v))?;
    }
    f.write_char(']')
}

impl fmt::Display for FloatHistogram {
    /// The `{{...}}` notation, as Go's `TestExpression` writes it: the histogram compacted
    /// into at most one span per side, fields that are zero left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = self.clone();
        if m.schema == CUSTOM_BUCKETS_SCHEMA {
            m.zero_count = 0.0;
            m.zero_threshold = 0.0;
            m.negative_spans.clear();
            m.negative_buckets.clear();
        }
        m.compact(usize::MAX);
        let mut parts: Vec<String> = Vec::new();
        if m.schema != 0 {
            parts.push(format!("schema:{}", m.schema));
        }
        if m.count != 0.0 {
            parts.push(format!("count:{}", format_float_g(m.count)));
        }
        if m.sum != 0.0 {
            parts.push(format!("sum:{}", format_float_g(m.sum)));
        }
        if m.zero_count != 0.0 {
            parts.push(format!("z_bucket:{}", format_float_g(m.zero_count)));
        }
        if m.zero_threshold != 0.0 {
            parts.push(format!("z_bucket_w:{}", format_float_g(m.zero_threshold)));
        }
        f.write_str("{{")?;
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| -> fmt::Result {
            if !first {
                f.write_char(' ')?;
            }
            first = false;
            Ok(())
        };
        for p in &parts {
            sep(f)?;
            f.write_str(p)?;
        }
        if m.schema == CUSTOM_BUCKETS_SCHEMA {
            sep(f)?;
            f.write_str("custom_values:")?;
            write_list(f, &m.custom_values)?;
        }
        let hint = match m.counter_reset_hint {
            CounterResetHint::Unknown => None,
            CounterResetHint::CounterReset => Some("reset"),
            CounterResetHint::NotCounterReset => Some("not_reset"),
            CounterResetHint::Gauge => Some("gauge"),
        };
        if let Some(hint) = hint {
            sep(f)?;
            write!(f, "counter_reset_hint:{hint}")?;
        }
        for (key, offset_key, spans, buckets) in [
            ("buckets", "offset", &m.positive_spans, &m.positive_buckets),
            (
                "n_buckets",
                "n_offset",
                &m.negative_spans,
                &m.negative_buckets,
            ),
        ] {
            if let Some(span) = spans.first()
                && span.offset != 0
            {
                sep(f)?;
                write!(f, "{offset_key}:{}", span.offset)?;
            }
            if !buckets.is_empty() {
                sep(f)?;
                write!(f, "{key}:")?;
                write_list(f, buckets)?;
            }
        }
        f.write_str("}}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sp(v: &[(i32, u32)]) -> Vec<Span> {
        v.iter()
            .map(|&(offset, length)| Span { offset, length })
            .collect()
    }

    #[test]
    fn parses_every_key() {
        let h = FloatHistogram::parse_notation(
            "{{schema:-1 count:4 sum:5 z_bucket:1 z_bucket_w:0.001 offset:-1 buckets:[1 2] n_offset:2 n_buckets:[1] counter_reset_hint:gauge}}",
        )
        .unwrap();
        assert_eq!(
            h,
            FloatHistogram {
                counter_reset_hint: CounterResetHint::Gauge,
                schema: -1,
                zero_threshold: 0.001,
                zero_count: 1.0,
                count: 4.0,
                sum: 5.0,
                positive_spans: sp(&[(-1, 2)]),
                negative_spans: sp(&[(2, 1)]),
                positive_buckets: vec![1.0, 2.0],
                negative_buckets: vec![1.0],
                custom_values: vec![],
            }
        );
        let h = FloatHistogram::parse_notation(
            "{{schema:-53 sum:1 count:1 custom_values:[5 10] buckets:[1] }}",
        )
        .unwrap();
        assert!(h.uses_custom_buckets());
        assert_eq!(h.custom_values, [5.0, 10.0]);
        assert_eq!(
            FloatHistogram::parse_notation("{{}}").unwrap(),
            FloatHistogram::default()
        );
        assert_eq!(
            FloatHistogram::parse_notation("{{ }}").unwrap(),
            FloatHistogram::default()
        );
        // An offset without buckets makes no span.
        assert!(
            FloatHistogram::parse_notation("{{offset:3}}")
                .unwrap()
                .positive_spans
                .is_empty()
        );
    }

    #[test]
    fn parses_special_numbers() {
        let h = FloatHistogram::parse_notation(
            "{{sum:-Inf count:NaN z_bucket:+2.5e1 buckets:[-1 0x10 1e-3 Inf]}}",
        )
        .unwrap();
        assert_eq!(h.sum, f64::NEG_INFINITY);
        assert!(h.count.is_nan());
        assert_eq!(h.zero_count, 25.0);
        assert_eq!(h.positive_buckets, [-1.0, 16.0, 0.001, f64::INFINITY]);
    }

    #[test]
    fn rejects_bad_notation() {
        for (input, want) in [
            (
                "{{count:1 count:2}}",
                "duplicate key \"count\" in histogram",
            ),
            (
                "{{foo:1}}",
                "unexpected \"foo:1}}\" in histogram description at position 2, expected a histogram description key, e.g. buckets:[5 10 7]",
            ),
            (
                "{{buckets:[]}}",
                "unexpected \"]\" in histogram description, expected a number",
            ),
            (
                "{{counter_reset_hint:maybe}}",
                "unexpected \"maybe}}\" in histogram description at position 21, expected one of unknown, reset, not_reset, gauge",
            ),
            (
                "{{count:1",
                "unexpected end of input in histogram description, expected a space or \"}}\"",
            ),
            (
                "{{count:1}} x",
                "unexpected \" x\" in histogram description at position 11, expected end of input",
            ),
            (
                "{{z_bucket_w:-1}}",
                "unexpected \"-1}}\" in histogram description at position 13, expected a number",
            ),
            (
                "{{schema:1.5}}",
                "invalid integer \"1.5\" in histogram description",
            ),
            ("{{count:1sum:2}}", "error parsing number: \"1sum\""),
        ] {
            let got = FloatHistogram::parse_notation(input).unwrap_err();
            assert!(matches!(got, HistogramError::Notation(_)), "{input}");
            assert_eq!(got.to_string(), want, "{input}");
        }
    }

    #[test]
    fn expands_series_items() {
        let item =
            FloatHistogram::parse_notation_item("{{schema:0 sum:5 count:4 buckets:[1 2 1]}}x3 1 2")
                .unwrap();
        assert_eq!(item.histograms.len(), 4);
        assert!(item.histograms.iter().all(|h| h.count == 4.0));
        assert_eq!(
            item.len,
            "{{schema:0 sum:5 count:4 buckets:[1 2 1]}}x3".len()
        );
        assert!(!item.counter_reset_hint_set);

        let item = FloatHistogram::parse_notation_item(
            "{{schema:0 count:1 sum:10 buckets:[1]}}+{{schema:0 count:2 sum:1 buckets:[0 1] counter_reset_hint:gauge}}x2",
        )
        .unwrap();
        assert!(item.counter_reset_hint_set);
        let got: Vec<String> = item.histograms.iter().map(|h| h.to_string()).collect();
        assert_eq!(
            got,
            [
                "{{count:1 sum:10 buckets:[1]}}",
                "{{count:3 sum:11 counter_reset_hint:gauge buckets:[1 1]}}",
                "{{count:5 sum:12 counter_reset_hint:gauge buckets:[1 2]}}",
            ]
        );

        let item = FloatHistogram::parse_notation_item(
            "{{count:10 buckets:[5 5]}}-{{count:2 buckets:[1 1]}}x2",
        )
        .unwrap();
        let counts: Vec<Vec<f64>> = item
            .histograms
            .iter()
            .map(|h| h.positive_buckets.clone())
            .collect();
        assert_eq!(counts, [vec![5.0, 5.0], vec![4.0, 4.0], vec![3.0, 3.0]]);

        let item = FloatHistogram::parse_notation_item("{{}}+{{}}x0").unwrap();
        assert_eq!(item.histograms.len(), 1);

        let err = FloatHistogram::parse_notation_item("{{schema:1}}+{{schema:0}}x2").unwrap_err();
        assert_eq!(
            err.to_string(),
            "error combining histograms: cannot merge from schema 0 to 1"
        );
        let err = FloatHistogram::parse_notation_item("{{schema:-53}}+{{schema:0}}x1").unwrap_err();
        assert_eq!(
            err.kind(),
            Some(crate::error::HistogramErrorKind::IncompatibleSchema)
        );
        // A plain item ends after its braces.
        let item = FloatHistogram::parse_notation_item("{{count:1}} {{count:2}}").unwrap();
        assert_eq!((item.histograms.len(), item.len), (1, 11));
    }

    #[test]
    fn display_is_go_test_expression() {
        let h = FloatHistogram {
            schema: 1,
            count: 19.0,
            sum: 2.7,
            zero_count: 2.0,
            zero_threshold: 0.001,
            counter_reset_hint: CounterResetHint::NotCounterReset,
            positive_spans: sp(&[(-2, 2), (2, 1)]),
            positive_buckets: vec![0.0, 1.5, 2.0],
            negative_spans: sp(&[(3, 1)]),
            negative_buckets: vec![1e-7],
            ..FloatHistogram::default()
        };
        assert_eq!(
            h.to_string(),
            "{{schema:1 count:19 sum:2.7 z_bucket:2 z_bucket_w:0.001 counter_reset_hint:not_reset offset:-1 buckets:[1.5 0 0 2] n_offset:3 n_buckets:[1e-07]}}"
        );
        let back = FloatHistogram::parse_notation(&h.to_string()).unwrap();
        let mut want = h.clone();
        want.compact(usize::MAX);
        assert_eq!(back, want);

        let nhcb = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: 3.0,
            custom_values: vec![0.5, 1.0],
            positive_spans: sp(&[(1, 2)]),
            positive_buckets: vec![1.0, 2.0],
            counter_reset_hint: CounterResetHint::Gauge,
            ..FloatHistogram::default()
        };
        assert_eq!(
            nhcb.to_string(),
            "{{schema:-53 count:3 custom_values:[0.5 1] counter_reset_hint:gauge offset:1 buckets:[1 2]}}"
        );
        assert_eq!(FloatHistogram::default().to_string(), "{{}}");
        let nan = FloatHistogram {
            sum: f64::NAN,
            count: f64::INFINITY,
            ..FloatHistogram::default()
        };
        assert_eq!(nan.to_string(), "{{count:+Inf sum:NaN}}");
        assert!(
            FloatHistogram::parse_notation(&nan.to_string())
                .unwrap()
                .sum
                .is_nan()
        );
    }

    /// Go's TestHistogramString table (integer histograms, printed through their float form).
    // Go's table uses -3.1415 as a plain number, not as π.
    #[allow(clippy::approx_constant)]
    #[test]
    fn go_string_form() {
        let cases = [
            (Histogram::default(), "{count:0, sum:0}"),
            (
                Histogram {
                    count: 9,
                    sum: -3.1415,
                    zero_count: 12,
                    zero_threshold: 0.001,
                    negative_spans: sp(&[(0, 5), (1, 1)]),
                    negative_buckets: vec![1, 2, -2, 1, -1, 0],
                    ..Histogram::default()
                },
                "{count:9, sum:-3.1415, [-64,-32):1, [-16,-8):1, [-8,-4):2, [-4,-2):1, [-2,-1):3, [-1,-0.5):1, [-0.001,0.001]:12}",
            ),
            (
                Histogram {
                    count: 19,
                    sum: 2.7,
                    positive_spans: sp(&[(0, 4), (0, 0), (0, 3)]),
                    positive_buckets: vec![1, 2, -2, 1, -1, 0, 0],
                    negative_spans: sp(&[(0, 5), (1, 0), (0, 1)]),
                    negative_buckets: vec![1, 2, -2, 1, -1, 0],
                    ..Histogram::default()
                },
                "{count:19, sum:2.7, [-64,-32):1, [-16,-8):1, [-8,-4):2, [-4,-2):1, [-2,-1):3, [-1,-0.5):1, (0.5,1]:1, (1,2]:3, (2,4]:1, (4,8]:2, (8,16]:1, (16,32]:1, (32,64]:1}",
            ),
            (
                Histogram {
                    schema: CUSTOM_BUCKETS_SCHEMA,
                    count: 19,
                    sum: 2.7,
                    positive_spans: sp(&[(0, 4), (0, 0), (0, 3)]),
                    positive_buckets: vec![1, 2, -2, 1, -1, 0, 0],
                    custom_values: vec![1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 25.0, 50.0],
                    ..Histogram::default()
                },
                "{count:19, sum:2.7, [-Inf,1]:1, (1,2]:3, (2,5]:1, (5,10]:2, (10,15]:1, (15,20]:1, (20,25]:1}",
            ),
        ];
        for (h, want) in cases {
            assert_eq!(h.to_float().to_go_string(), want);
            assert_eq!(h.to_go_string(), want);
        }
        let big = Histogram {
            count: 2_000_000,
            zero_count: 2_000_000,
            ..Histogram::default()
        };
        assert_eq!(big.to_go_string(), "{count:2000000, sum:0, [-0,0]:2000000}");
        assert_eq!(
            big.to_float().to_go_string(),
            "{count:2e+06, sum:0, [-0,0]:2e+06}"
        );
    }

    fn arb_histogram() -> impl Strategy<Value = FloatHistogram> {
        (
            -4i32..=8,
            prop::collection::vec(0u32..20, 0..6),
            -5i32..5,
            prop::collection::vec(0u32..20, 0..4),
            -5i32..5,
            0u32..4,
            0.0..100.0f64,
        )
            .prop_map(|(schema, pos, po, neg, no, hint, sum)| {
                let count = pos.iter().chain(&neg).map(|&c| f64::from(c)).sum();
                FloatHistogram {
                    schema,
                    counter_reset_hint: match hint {
                        0 => CounterResetHint::Unknown,
                        1 => CounterResetHint::CounterReset,
                        2 => CounterResetHint::NotCounterReset,
                        _ => CounterResetHint::Gauge,
                    },
                    count,
                    sum,
                    positive_spans: if pos.is_empty() {
                        vec![]
                    } else {
                        sp(&[(po, pos.len() as u32)])
                    },
                    positive_buckets: pos.iter().map(|&c| f64::from(c)).collect(),
                    negative_spans: if neg.is_empty() {
                        vec![]
                    } else {
                        sp(&[(no, neg.len() as u32)])
                    },
                    negative_buckets: neg.iter().map(|&c| f64::from(c)).collect(),
                    ..FloatHistogram::default()
                }
            })
    }

    proptest! {
        /// Any input gives a histogram or an error, never a panic.
        #[test]
        fn parser_never_panics(s in "(\\{\\{|\\}\\}|[a-z_]{1,12}|:|-|\\+|\\[|\\]| |[0-9.eE]{1,6}|x|é){0,30}") {
            for input in [s.clone(), format!("{{{{{s}")] {
                let _ = FloatHistogram::parse_notation(&input);
                if let Ok(item) = FloatHistogram::parse_notation_item(&input) {
                    prop_assert!(item.len <= input.len());
                }
            }
        }

        /// Writing the notation and parsing it back gives the compacted histogram.
        #[test]
        fn notation_round_trip(h in arb_histogram()) {
            let text = h.to_string();
            let back = FloatHistogram::parse_notation(&text).unwrap();
            let mut want = h.clone();
            want.compact(usize::MAX);
            prop_assert_eq!(back, want, "{}", text);
        }
    }
}
