//! Series descriptions of the test language's `load` lines (Go's `ParseSeriesDesc`):
//! `metric{l="v"} 0+10x100 _ stale 1x3`.

use std::sync::Arc;

use model::{FloatHistogram, Labels};
use nom::IResult;
use nom::Parser as _;
use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case};
use nom::character::complete::{char, digit1, one_of};
use nom::combinator::{map, opt, recognize};
use nom::sequence::preceded;

use super::lex::{is_alnum, scan_number};
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

    let mut values = Vec::new();
    let mut rest = &input[end..];
    loop {
        let trimmed = rest.trim_start_matches([' ', '\t', '\n', '\r']);
        if trimmed.is_empty() {
            break;
        }
        let at = input.len() - trimmed.len();
        if trimmed.starts_with("{{") {
            let item = FloatHistogram::parse_notation_item(trimmed)
                .map_err(|e| err(at, at + 2, e.to_string()))?;
            if values.len() + item.histograms.len() > MAX_SERIES_VALUES {
                return Err(err(
                    at,
                    at + item.len,
                    format!("series description expands to more than {MAX_SERIES_VALUES} values"),
                ));
            }
            let hint_set = item.counter_reset_hint_set;
            values.extend(item.histograms.into_iter().map(|h| SequenceValue {
                histogram: Some(Arc::new(h)),
                counter_reset_hint_set: hint_set,
                ..SequenceValue::default()
            }));
            rest = trimmed.get(item.len..).unwrap_or("");
            continue;
        }
        let item_end = trimmed
            .find([' ', '\t', '\n', '\r'])
            .unwrap_or(trimmed.len());
        let item = &trimmed[..item_end];
        match series_item(item) {
            Ok(("", expanded)) => {
                let expanded = expanded.map_err(|m| err(at, at + item_end, m))?;
                if values.len() + expanded.len() > MAX_SERIES_VALUES {
                    return Err(err(
                        at,
                        at + item_end,
                        format!(
                            "series description expands to more than {MAX_SERIES_VALUES} values"
                        ),
                    ));
                }
                values.extend(expanded);
            }
            _ => {
                return Err(err(
                    at,
                    at + item_end,
                    format!(
                        "unexpected {} in series values",
                        model::strconv::quote(item)
                    ),
                ));
            }
        }
        rest = &trimmed[item_end..];
    }
    Ok((labels, values))
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
    let vs = p.vector_selector(name).map_err(|e| e.with_query(full))?;
    p.expect_eof().map_err(|e| e.with_query(full))?;
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

type Expanded = Result<Vec<SequenceValue>, String>;

/// A number as the series lexer sees it (no hex, `x` may follow).
fn number(i: &str) -> IResult<&str, f64> {
    if let Ok((r, w)) = alt((
        tag_no_case::<_, _, nom::error::Error<&str>>("inf"),
        tag_no_case("nan"),
    ))
    .parse(i)
    {
        return Ok((
            r,
            if w.eq_ignore_ascii_case("inf") {
                f64::INFINITY
            } else {
                f64::NAN
            },
        ));
    }
    let (n, ok) = scan_number(i, true);
    let fail = || nom::Err::Error(nom::error::Error::new(i, nom::error::ErrorKind::Digit));
    if !ok || n == 0 {
        return Err(fail());
    }
    let v = parse_number(&i[..n]).ok_or_else(fail)?;
    Ok((&i[n..], v))
}

fn signed(i: &str) -> IResult<&str, f64> {
    map(
        (one_of("+-"), number),
        |(s, v)| if s == '-' { -v } else { v },
    )
    .parse(i)
}

fn value(i: &str) -> IResult<&str, f64> {
    alt((
        map(tag("stale"), |_| model::value::stale_nan()),
        number,
        signed,
    ))
    .parse(i)
}

fn times(i: &str) -> IResult<&str, Result<u64, String>> {
    map(
        preceded(char('x'), recognize(digit1)),
        |d: &str| match d.parse::<u64>() {
            Ok(n) if n < MAX_SERIES_VALUES as u64 => Ok(n),
            Ok(_) => Err(format!(
                "series description expands to more than {MAX_SERIES_VALUES} values"
            )),
            Err(_) => Err(format!("invalid repetition in series values: {d}")),
        },
    )
    .parse(i)
}

fn series_item(i: &str) -> IResult<&str, Expanded> {
    if let Ok((r, (_, n))) = (char::<_, nom::error::Error<&str>>('_'), opt(times)).parse(i) {
        let out = match n {
            None => Ok(vec![SequenceValue {
                value: 0.0,
                omitted: true,
                ..SequenceValue::default()
            }]),
            Some(n) => n.map(|n| {
                (0..n)
                    .map(|_| SequenceValue {
                        value: 0.0,
                        omitted: true,
                        ..SequenceValue::default()
                    })
                    .collect()
            }),
        };
        return Ok((r, out));
    }
    let (r, start) = value(i)?;
    if let Ok((r2, (inc, n))) = (signed, times).parse(r) {
        let out = n.map(|n| {
            let mut v = start;
            (0..=n)
                .map(|_| {
                    let s = SequenceValue {
                        value: v,
                        ..SequenceValue::default()
                    };
                    v += inc;
                    s
                })
                .collect()
        });
        return Ok((r2, out));
    }
    if let Ok((r2, n)) = times(r) {
        let out = n.map(|n| {
            (0..=n)
                .map(|_| SequenceValue {
                    value: start,
                    ..SequenceValue::default()
                })
                .collect()
        });
        return Ok((r2, out));
    }
    Ok((
        r,
        Ok(vec![SequenceValue {
            value: start,
            ..SequenceValue::default()
        }]),
    ))
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
}
