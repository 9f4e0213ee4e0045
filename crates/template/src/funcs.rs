//! The functions a template can call: Go's builtins (`funcs.go`) and Prometheus's function map
//! (`template/template.go`), with their Go signatures and error texts.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::rc::Rc;

use model::strutil::{graph_link_for_expression, query_escape, table_link_for_expression};

use crate::gofmt;
use crate::value::{Sample, Value};

/// A parameter type, as far as argument checking needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Param {
    /// `interface{}`.
    Any,
    /// `reflect.Value` (builtins that look at any value).
    Refl,
    /// `string`.
    Str,
    /// Prometheus's `queryResult`.
    Query,
    /// `*sample`.
    Sample,
}

impl Param {
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            Param::Any => "interface {}",
            Param::Refl => "reflect.Value",
            Param::Str => "string",
            Param::Query => "template.queryResult",
            Param::Sample => "*template.sample",
        }
    }
}

/// A function's parameters: the fixed ones, then an optional variadic one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sig {
    pub(crate) params: &'static [Param],
    pub(crate) variadic: Option<Param>,
}

const fn fixed(params: &'static [Param]) -> Sig {
    Sig {
        params,
        variadic: None,
    }
}

const fn var(params: &'static [Param], v: Param) -> Sig {
    Sig {
        params,
        variadic: Some(v),
    }
}

use Param::{Any, Query as Q, Refl as R, Sample as S, Str};

/// Every function name with its signature: Go's builtins, then Prometheus's.
const FUNCS: &[(&str, Sig)] = &[
    ("and", var(&[R], R)),
    ("call", var(&[R], R)),
    ("html", var(&[], Any)),
    ("index", var(&[R], R)),
    ("slice", var(&[R], R)),
    ("js", var(&[], Any)),
    ("len", fixed(&[R])),
    ("not", fixed(&[R])),
    ("or", var(&[R], R)),
    ("print", var(&[], Any)),
    ("printf", var(&[Str], Any)),
    ("println", var(&[], Any)),
    ("urlquery", var(&[], Any)),
    ("eq", var(&[R], R)),
    ("ge", fixed(&[R, R])),
    ("gt", fixed(&[R, R])),
    ("le", fixed(&[R, R])),
    ("lt", fixed(&[R, R])),
    ("ne", fixed(&[R, R])),
    ("query", fixed(&[Str])),
    ("first", fixed(&[Q])),
    ("label", fixed(&[Str, S])),
    ("value", fixed(&[S])),
    ("strvalue", fixed(&[S])),
    ("args", var(&[], Any)),
    ("reReplaceAll", fixed(&[Str, Str, Str])),
    ("safeHtml", fixed(&[Str])),
    ("match", fixed(&[Str, Str])),
    ("title", fixed(&[Str])),
    ("toUpper", fixed(&[Str])),
    ("toLower", fixed(&[Str])),
    ("graphLink", fixed(&[Str])),
    ("tableLink", fixed(&[Str])),
    ("sortByLabel", fixed(&[Str, Q])),
    ("stripPort", fixed(&[Str])),
    ("stripDomain", fixed(&[Str])),
    ("humanize", fixed(&[Any])),
    ("humanize1024", fixed(&[Any])),
    ("humanizeDuration", fixed(&[Any])),
    ("humanizePercentage", fixed(&[Any])),
    ("humanizeTimestamp", fixed(&[Any])),
    ("toTime", fixed(&[Any])),
    ("toDuration", fixed(&[Any])),
    ("now", fixed(&[])),
    ("pathPrefix", fixed(&[])),
    ("externalURL", fixed(&[])),
    ("parseDuration", fixed(&[Str])),
    ("urlQueryEscape", fixed(&[Str])),
];

/// The signature of `name`, if it is a function.
pub(crate) fn lookup(name: &str) -> Option<Sig> {
    FUNCS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// What Prometheus's functions read besides their arguments.
pub(crate) struct Env<'a> {
    pub(crate) query: crate::QueryFn<'a>,
    pub(crate) timestamp_ms: i64,
    pub(crate) external_url: Rc<str>,
}

/// Calls `name` (anything but `and`, `or` and `call`, which the executor evaluates) with
/// checked arguments. The error is the text after "error calling NAME: ".
pub(crate) fn call(env: &Env<'_>, name: &str, args: Vec<Value>) -> Result<Value, String> {
    // Functions see the values inside interfaces (Go passes them as `interface {}` or
    // unwraps them with `indirectInterface`).
    let args: Vec<Value> = args.into_iter().map(Value::unwrap_iface).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::Nil);
    let rest = args.get(1..).unwrap_or(&[]);
    let s = |i: usize| match args.get(i) {
        Some(Value::Str(s) | Value::Html(s)) => s.to_string(),
        _ => String::new(),
    };
    let sample = |i: usize| match args.get(i) {
        Some(Value::Sample(Some(s))) => Ok(s.clone()),
        _ => Err("runtime error: invalid memory address or nil pointer dereference".to_owned()),
    };
    let query = |i: usize| match args.get(i) {
        Some(Value::Query(q)) => q.clone(),
        _ => Rc::new(Vec::new()),
    };
    Ok(match name {
        "html" => Value::str(&html_escape(&eval_args(&args))),
        "js" => Value::str(&js_escape(&eval_args(&args))),
        "urlquery" => Value::str(&query_escape(&eval_args(&args))),
        "print" => Value::str(&gofmt::sprint(&args)),
        "println" => Value::str(&gofmt::sprintln(&args)),
        "printf" => Value::str(&gofmt::sprintf(&s(0), rest)),
        "len" => length(&arg(0))?,
        "index" => index(&arg(0), rest)?,
        "slice" => slice(&arg(0), rest)?,
        "not" => Value::Bool(!arg(0).truth()),
        "eq" => Value::Bool(eq(&arg(0), rest)?),
        "ne" => Value::Bool(!eq(&arg(0), &[arg(1)])?),
        "lt" => Value::Bool(lt(&arg(0), &arg(1))?),
        "le" => Value::Bool(lt(&arg(0), &arg(1))? || eq(&arg(0), &[arg(1)])?),
        "gt" => Value::Bool(!(lt(&arg(0), &arg(1))? || eq(&arg(0), &[arg(1)])?)),
        "ge" => Value::Bool(!lt(&arg(0), &arg(1))?),
        "query" => {
            let q = s(0);
            let samples = (env.query)(&q)?;
            Value::Query(Rc::new(
                samples
                    .into_iter()
                    .map(|qs| {
                        Rc::new(Sample {
                            labels: Rc::new(
                                qs.labels
                                    .iter()
                                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                                    .collect(),
                            ),
                            value: qs.value,
                        })
                    })
                    .collect(),
            ))
        }
        "first" => match query(0).first() {
            Some(s) => Value::Sample(Some(s.clone())),
            None => return Err("first() called on vector with no elements".into()),
        },
        "label" => {
            let smp = sample(1)?;
            Value::str(smp.labels.get(&s(0)).map_or("", String::as_str))
        }
        "value" => Value::sample(&sample(0)?.value),
        "strvalue" => Value::str(
            sample(0)?
                .labels
                .get("__value__")
                .map_or("", String::as_str),
        ),
        "args" => Value::AnyMap(Rc::new(
            args.iter()
                .enumerate()
                .map(|(i, a)| (format!("arg{i}"), a.clone()))
                .collect::<BTreeMap<_, _>>(),
        )),
        "reReplaceAll" => Value::str(&re_replace_all(&s(0), &s(1), &s(2))?),
        "safeHtml" => Value::Html(s(0).into()),
        "match" => {
            let re = UnanchoredRegex::new(&s(0)).map_err(|e| e.to_string())?;
            Value::Bool(re.re.is_match(&s(1)))
        }
        "title" => Value::str(&title(&s(0))),
        "toUpper" => Value::str(&map_chars(&s(0), char::to_uppercase)),
        "toLower" => Value::str(&s(0).chars().map(simple_lower).collect::<String>()),
        "graphLink" => Value::str(&graph_link_for_expression(&s(0))),
        "tableLink" => Value::str(&table_link_for_expression(&s(0))),
        "sortByLabel" => {
            let label = s(0);
            let mut v: Vec<Rc<Sample>> = query(1).as_ref().clone();
            v.sort_by(|a, b| {
                let x = a.labels.get(&label).map_or("", String::as_str);
                let y = b.labels.get(&label).map_or("", String::as_str);
                x.cmp(y)
            });
            Value::Query(Rc::new(v))
        }
        "stripPort" => {
            let hp = s(0);
            match split_host_port(&hp) {
                Some((host, _)) => Value::str(host),
                None => Value::str(&hp),
            }
        }
        "stripDomain" => Value::str(&strip_domain(&s(0))),
        "humanize" => Value::str(&humanize(convert_to_float(&arg(0))?)),
        "humanize1024" => Value::str(&humanize1024(convert_to_float(&arg(0))?)),
        "humanizeDuration" => Value::str(&humanize_duration(convert_to_float(&arg(0))?)),
        "humanizePercentage" => Value::str(&format!("{}%", g4(convert_to_float(&arg(0))? * 100.0))),
        "humanizeTimestamp" => {
            let v = convert_to_float(&arg(0))?;
            if v.is_nan() || v.is_infinite() {
                Value::str(&g4(v))
            } else {
                Value::str(&crate::gotime::time_string(float_to_time(v)?))
            }
        }
        "toTime" => {
            let v = convert_to_float(&arg(0))?;
            if v.is_nan() || v.is_infinite() {
                return Err("value is NaN or Inf".into());
            }
            Value::Time(float_to_time(v)?)
        }
        "toDuration" => {
            // Like toTime: NaN, infinities and overflow are errors; Go's time.Duration(v * 1e9)
            // truncates.
            let v = convert_to_float(&arg(0))?;
            if v.is_nan() || v.is_infinite() {
                return Err("value is NaN or Inf".into());
            }
            const LIMIT: f64 = 9_223_372_036_854_775_808.0;
            let ns = v * 1e9;
            if !(-LIMIT..LIMIT).contains(&ns) {
                return Err(format!(
                    "{} cannot be represented as a nanoseconds duration since it overflows int64",
                    gofmt::format_float(v, 'g', None)
                ));
            }
            Value::Duration(ns as i64)
        }
        "now" => Value::Float(env.timestamp_ms as f64 / 1000.0),
        "pathPrefix" => Value::str(url_path(&env.external_url)),
        "externalURL" => Value::Str(env.external_url.clone()),
        "parseDuration" => Value::Float(parse_duration(&s(0))?),
        "urlQueryEscape" => Value::str(&query_escape(&s(0))),
        _ => return Err(format!("function {name} is not callable here")),
    })
}

/// Prometheus's `parseDuration`: a Prometheus duration in seconds; a leading `-` negates it
/// (Prometheus 3 accepts negative durations here, as PromQL does).
fn parse_duration(text: &str) -> Result<f64, String> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let d = match model::Duration::parse(body) {
        Ok(d) if !(neg && body.starts_with('-')) => d,
        // Report the error for the text as written.
        _ => {
            return Err(model::Duration::parse(text).err().map_or_else(
                || {
                    format!(
                        "not a valid duration string: {}",
                        model::strconv::quote(text)
                    )
                },
                |e| e.to_string(),
            ));
        }
    };
    let secs = d.as_millis() as f64 / 1000.0;
    Ok(if neg && secs != 0.0 { -secs } else { secs })
}

/// Go's `evalArgs`: one string as is, otherwise `fmt.Sprint` with missing values printed as
/// `<no value>`.
fn eval_args(args: &[Value]) -> String {
    if let [Value::Str(s)] = args {
        return s.to_string();
    }
    let printable: Vec<Value> = args
        .iter()
        .map(|a| match a {
            Value::Nil => Value::str("<no value>"),
            Value::Sample(Some(_)) => Value::str(&gofmt::sprint_printable(a)),
            a => a.clone(),
        })
        .collect();
    gofmt::sprint(&printable)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u00{:02X}", c as u32);
            }
            c if c.is_ascii() || model::strconv::is_print(c) => out.push(c),
            c => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
        }
    }
    out
}

/// The path of a URL as Go's `url.URL.Path` holds it (percent-decoding aside).
fn url_path(u: &str) -> &str {
    let after_scheme = match u.find("://") {
        Some(i) => &u[i + 3..],
        None => return u.split(['?', '#']).next().unwrap_or(""),
    };
    let path = match after_scheme.find('/') {
        Some(i) => &after_scheme[i..],
        None => "",
    };
    path.split(['?', '#']).next().unwrap_or("")
}

/// Go's `unicode.ToLower`: the simple mapping (`İ` lowers to `i`, where the full mapping
/// adds a combining dot).
fn simple_lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

fn map_chars<I: Iterator<Item = char>>(s: &str, f: impl Fn(char) -> I) -> String {
    // Go maps rune by rune (simple case mapping); keep a rune whose mapping is not one rune.
    s.chars()
        .map(|c| {
            let mut m = f(c);
            match (m.next(), m.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}

/// `cases.Title(language.AmericanEnglish, cases.NoLower)`: the first letter of every word
/// upper-cased, the rest kept. Words are runs of letters, digits, marks and `_`, joined by an
/// apostrophe, `.` or `:` between letters (Unicode word-break rules in short).
fn title(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for (i, &c) in chars.iter().enumerate() {
        if is_word(c) {
            if !in_word {
                let mut up = c.to_uppercase();
                match (up.next(), up.next()) {
                    (Some(x), None) => out.push(x),
                    _ => out.push(c),
                }
                in_word = true;
                continue;
            }
            out.push(c);
            continue;
        }
        let joins = matches!(c, '\'' | '.' | ':' | '’')
            && in_word
            && i > 0
            && chars[i - 1].is_alphabetic()
            && chars.get(i + 1).is_some_and(|n| n.is_alphabetic());
        in_word = joins;
        out.push(c);
    }
    out
}

/// Go's `net.SplitHostPort`; `None` where Go returns an error.
fn split_host_port(hp: &str) -> Option<(&str, &str)> {
    let i = hp.rfind(':')?;
    let (host, j, k);
    if hp.starts_with('[') {
        let end = hp.find(']')?;
        if end + 1 == hp.len() || end + 1 != i {
            return None;
        }
        host = &hp[1..end];
        j = 1;
        k = end + 1;
    } else {
        host = &hp[..i];
        if host.contains(':') {
            return None;
        }
        j = 0;
        k = 0;
    }
    if hp[j..].contains('[') || hp[k..].contains(']') {
        return None;
    }
    Some((host, &hp[i + 1..]))
}

fn strip_domain(hp: &str) -> String {
    let (host, port) = split_host_port(hp).unwrap_or((hp, ""));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return hp.to_owned();
    }
    let host = host.split('.').next().unwrap_or("");
    if port.is_empty() {
        return host.to_owned();
    }
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `%.4g`.
fn g4(v: f64) -> String {
    gofmt::format_float(v, 'g', Some(4))
}

/// Prometheus's `ConvertToFloat`.
fn convert_to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) => parse_go_float(s).map_err(|e| {
            format!(
                "strconv.ParseFloat: parsing {}: {e}",
                model::strconv::quote(s)
            )
        }),
        v => Err(format!("can't convert {} to float", v.type_name())),
    }
}

fn humanize(mut v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", g4(v))
}

fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = v as i64;
        let (secs, mins, hours, days) = (d % 60, d / 60 % 60, d / 3600 % 24, d / 86_400);
        if days != 0 {
            return format!("{sign}{days}d {hours}h {mins}m {secs}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {mins}m {secs}s");
        }
        if mins != 0 {
            return format!("{sign}{mins}m {secs}s");
        }
        return format!("{sign}{}s", g4(v));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

/// Prometheus's `floatToTime` (finite input): nanoseconds, truncated to milliseconds as
/// `model.TimeFromUnixNano` does.
fn float_to_time(v: f64) -> Result<i64, String> {
    let ts = v * 1e9;
    // Go compares with float64(math.MaxInt64) and float64(math.MinInt64), both ±2^63.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(-LIMIT..=LIMIT).contains(&ts) {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            gofmt::format_float(v, 'g', None)
        ));
    }
    let ns = ts as i64;
    Ok(ns / 1_000_000 * 1_000_000)
}

/// Go's `strconv.ParseFloat(s, 64)`; the error is Go's reason text.
pub(crate) fn parse_go_float(s: &str) -> Result<f64, &'static str> {
    const SYNTAX: &str = "invalid syntax";
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let v = if lower == "inf" || lower == "infinity" {
        f64::INFINITY
    } else if lower == "nan" {
        if body.len() != s.len() {
            return Err(SYNTAX);
        }
        f64::NAN
    } else if let Some(hex) = lower.strip_prefix("0x") {
        parse_hex_float(hex).ok_or(SYNTAX)?
    } else {
        if !underscores_ok(body) || body.is_empty() {
            return Err(SYNTAX);
        }
        let clean = body.replace('_', "");
        if !clean
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return Err(SYNTAX);
        }
        let v: f64 = clean.parse().map_err(|_| SYNTAX)?;
        if v.is_infinite() {
            return Err("value out of range");
        }
        v
    };
    Ok(if neg { -v } else { v })
}

fn underscores_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'_'
            || (i > 0 && b[i - 1].is_ascii_digit() && b.get(i + 1).is_some_and(u8::is_ascii_digit))
    })
}

/// A hexadecimal float after `0x`: `1.8p3`. Go requires the `p` exponent.
fn parse_hex_float(s: &str) -> Option<f64> {
    let s = s.replace('_', "");
    let (mant, exp) = s.split_once('p')?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

fn length(v: &Value) -> Result<Value, String> {
    let n = match v {
        Value::Str(s) | Value::Html(s) => s.len(),
        Value::StrMap(m) => m.len(),
        Value::AnyMap(m) => m.len(),
        Value::Query(q) => q.len(),
        Value::List(l, _) => l.len(),
        Value::Sample(None) => return Err("len of nil pointer".into()),
        Value::Nil => return Err("reflect: call of reflect.Value.Type on zero Value".into()),
        Value::Sample(Some(_)) => return Err("len of type template.sample".into()),
        Value::Time(_) => return Err("len of type time.Time".into()),
        Value::Duration(_) => return Err("len of type time.Duration".into()),
        Value::Histogram(_) => return Err("len of type histogram.FloatHistogram".into()),
        v => return Err(format!("len of type {}", v.type_name())),
    };
    Ok(Value::Int(n as i64))
}

/// Go's `indexArg`.
fn index_arg(i: &Value, cap: usize) -> Result<usize, String> {
    let x = match i {
        Value::Int(x) => *x,
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        v => {
            return Err(format!(
                "cannot index slice/array with type {}",
                v.type_name()
            ));
        }
    };
    match usize::try_from(x) {
        Ok(x) if x <= cap => Ok(x),
        _ => Err(format!("index out of range: {x}")),
    }
}

fn index(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if matches!(item, Value::Nil) {
        return Err("index of untyped nil".into());
    }
    let mut item = item.clone();
    for i in indexes {
        item = match &item {
            Value::Sample(None) => return Err("index of nil pointer".into()),
            Value::Query(q) => {
                let x = index_arg(i, q.len())?;
                match q.get(x) {
                    Some(s) => Value::Sample(Some(s.clone())),
                    None => return Err("reflect: slice index out of range".into()),
                }
            }
            Value::List(l, _) => {
                let x = index_arg(i, l.len())?;
                match l.get(x) {
                    Some(v) => v.clone(),
                    None => return Err("reflect: slice index out of range".into()),
                }
            }
            Value::Str(s) | Value::Html(s) => {
                let x = index_arg(i, s.len())?;
                match s.as_bytes().get(x) {
                    Some(b) => Value::Int(i64::from(*b)),
                    None => return Err("reflect: string index out of range".into()),
                }
            }
            Value::StrMap(m) => {
                let key = map_key(i)?;
                Value::str(m.get(key).map_or("", String::as_str))
            }
            Value::AnyMap(m) => {
                let key = map_key(i)?;
                m.get(key).cloned().unwrap_or(Value::Nil)
            }
            Value::Sample(Some(_)) => return Err("can't index item of type template.sample".into()),
            Value::Time(_) => return Err("can't index item of type time.Time".into()),
            Value::Duration(_) => return Err("can't index item of type time.Duration".into()),
            Value::Histogram(_) => {
                return Err("can't index item of type histogram.FloatHistogram".into());
            }
            v => return Err(format!("can't index item of type {}", v.type_name())),
        };
    }
    Ok(item)
}

fn map_key(i: &Value) -> Result<&str, String> {
    match i {
        Value::Str(s) => Ok(s),
        Value::Nil => Err("value is nil; should be of type string".into()),
        v => Err(format!(
            "value has type {}; should be string",
            v.type_name()
        )),
    }
}

fn slice(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if matches!(item, Value::Nil) {
        return Err("slice of untyped nil".into());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match item {
        Value::Str(s) | Value::Html(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::Query(q) => q.len(),
        Value::List(l, _) => l.len(),
        v => return Err(format!("can't slice item of type {}", v.type_name())),
    };
    let mut idx = [0, len, len];
    for (n, i) in indexes.iter().enumerate() {
        idx[n] = index_arg(i, len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    Ok(match item {
        Value::Str(s) | Value::Html(s) => {
            let b = &s.as_bytes()[idx[0]..idx[1]];
            Value::str(&String::from_utf8_lossy(b))
        }
        Value::Query(q) => Value::Query(Rc::new(q[idx[0]..idx[1]].to_vec())),
        Value::List(l, t) => Value::List(Rc::new(l[idx[0]..idx[1]].to_vec()), t),
        _ => Value::Nil,
    })
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Float,
    String,
    Other,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) | Value::Html(_) => Kind::String,
        _ => Kind::Other,
    }
}

const BAD_COMPARISON: &str = "incompatible types for comparison";
const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";

/// Go's `eq`: `arg1` equals any of `others`.
fn eq(a: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(a);
    for b in others {
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            if !matches!(a, Value::Nil) && !matches!(b, Value::Nil) {
                return Err(BAD_COMPARISON.into());
            }
            false
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x), Value::Int(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::Nil, Value::Nil) => true,
                (Value::Nil, _) | (_, Value::Nil) => false,
                _ if k1 == Kind::String => a.as_str() == b.as_str(),
                (Value::Sample(x), Value::Sample(y)) => match (x, y) {
                    (Some(x), Some(y)) => Rc::ptr_eq(x, y),
                    (None, None) => true,
                    _ => false,
                },
                (Value::Histogram(x), Value::Histogram(y)) => std::sync::Arc::ptr_eq(x, y),
                (Value::Span(x), Value::Span(y)) => x == y,
                (Value::Time(_), Value::Time(_)) | (Value::Duration(_), Value::Duration(_)) => {
                    false
                }
                _ if a.type_name() != b.type_name() => {
                    return Err(format!(
                        "non-comparable types {}: {}, {}: {}",
                        gofmt::sprintf("%s", std::slice::from_ref(a)),
                        a.type_name(),
                        b.type_name(),
                        gofmt::sprint_v(b)
                    ));
                }
                _ => {
                    return Err(format!(
                        "non-comparable type {}: {}",
                        gofmt::sprintf("%s", std::slice::from_ref(b)),
                        b.type_name()
                    ));
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `lt`.
fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if k1 == Kind::Other || k2 == Kind::Other {
        return Err(BAD_COMPARISON_TYPE.into());
    }
    if k1 != k2 {
        return Err(BAD_COMPARISON.into());
    }
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Bool(_), Value::Bool(_)) => return Err(BAD_COMPARISON_TYPE.into()),
        _ => a.as_str() < b.as_str(),
    })
}

/// A Go regexp for unanchored search: parsed and translated by `model::regexp` (Go's syntax
/// and error texts), with `.` not matching `\n` as Go's `regexp.Compile` has it.
struct UnanchoredRegex {
    re: regex::Regex,
    names: Vec<Option<String>>,
}

impl UnanchoredRegex {
    fn new(pattern: &str) -> Result<UnanchoredRegex, model::Error> {
        // The pattern alone first, so that errors name the user's text.
        model::regexp::Regex::new(pattern)?;
        let wrapped = model::regexp::Regex::new(&format!("(?-s:{pattern})"))?;
        let anchored = wrapped.rust_pattern();
        let inner = anchored
            .strip_prefix(r"\A")
            .and_then(|p| p.strip_suffix(r"\z"))
            .unwrap_or(anchored);
        let re = regex::RegexBuilder::new(inner)
            .size_limit(64 << 20)
            .nest_limit(1000)
            .build()
            .map_err(|_| model::Error::InvalidRegex {
                code: "expression too large".into(),
                expr: pattern.to_owned(),
            })?;
        Ok(UnanchoredRegex {
            re,
            names: wrapped.group_names().to_vec(),
        })
    }
}

/// Go's `regexp.MustCompile(pattern).ReplaceAllString(text, repl)`; a bad pattern is
/// MustCompile's panic text, as the template engine reports it.
fn re_replace_all(pattern: &str, repl: &str, src: &str) -> Result<String, String> {
    let re = UnanchoredRegex::new(pattern).map_err(|e| {
        let q = if pattern.contains('`') || pattern.chars().any(|c| c != '\t' && c.is_control()) {
            model::strconv::quote(pattern)
        } else {
            format!("`{pattern}`")
        };
        format!("regexp: Compile({q}): {e}")
    })?;
    let mut out = String::with_capacity(src.len());
    let mut last_match_end = 0;
    let mut search_pos = 0;
    while search_pos <= src.len() {
        let Some(caps) = re.re.captures_at(src, search_pos) else {
            break;
        };
        let Some(m) = caps.get(0) else { break };
        out.push_str(&src[last_match_end..m.start()]);
        if m.end() > last_match_end || m.start() == 0 {
            let spans: Vec<Option<(usize, usize)>> = (0..caps.len())
                .map(|i| caps.get(i).map(|g| (g.start(), g.end())))
                .collect();
            model::regexp::expand(&mut out, repl, src, &spans, &re.names);
        }
        last_match_end = m.end();
        let width = src[search_pos..].chars().next().map_or(0, char::len_utf8);
        if search_pos + width > m.end() {
            search_pos += width;
        } else if search_pos + 1 > m.end() {
            search_pos += 1;
        } else {
            search_pos = m.end();
        }
    }
    out.push_str(&src[last_match_end.min(src.len())..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_replace_all_matches_go() {
        assert_eq!(re_replace_all("(a)b", "x$1", "ab").unwrap(), "xa");
        assert_eq!(re_replace_all("a*", "-", "baaac").unwrap(), "-b-c-");
        assert_eq!(
            re_replace_all("^(.*):\\d+$", "$1", "host:9090").unwrap(),
            "host"
        );
        assert_eq!(re_replace_all("(?P<x>o)", "${x}0", "foo").unwrap(), "fo0o0");
        assert_eq!(re_replace_all("a.b", "X", "a\nb axb").unwrap(), "a\nb X");
        assert_eq!(
            re_replace_all("(", "", "").unwrap_err(),
            "regexp: Compile(`(`): error parsing regexp: missing closing ): `(`"
        );
    }

    #[test]
    fn hosts_split_as_go() {
        assert_eq!(split_host_port("a:1"), Some(("a", "1")));
        assert_eq!(split_host_port("[::1]:80"), Some(("::1", "80")));
        assert_eq!(split_host_port("::1"), None);
        assert_eq!(split_host_port("[::1]::80"), None);
        assert_eq!(strip_domain("foo.example.com:12345"), "foo:12345");
        assert_eq!(strip_domain("[2001:0DB8::1]:12345"), "[2001:0DB8::1]:12345");
    }

    #[test]
    fn title_and_case_mapping() {
        assert_eq!(title("aa bb CC"), "Aa Bb CC");
        assert_eq!(title("foo-bar don't x.y"), "Foo-Bar Don't X.y");
        assert_eq!(map_chars("straße", char::to_uppercase), "STRAßE");
    }

    #[test]
    fn go_floats_parse() {
        assert_eq!(parse_go_float("1.5"), Ok(1.5));
        assert_eq!(parse_go_float("+Inf"), Ok(f64::INFINITY));
        assert!(parse_go_float("NaN").unwrap().is_nan());
        assert_eq!(parse_go_float("0x1p-2"), Ok(0.25));
        assert_eq!(parse_go_float("1e400"), Err("value out of range"));
        assert_eq!(parse_go_float("one"), Err("invalid syntax"));
        assert_eq!(parse_go_float(""), Err("invalid syntax"));
    }

    #[test]
    fn durations_parse_with_sign() {
        assert_eq!(parse_duration("1h2m10ms"), Ok(3720.01));
        assert_eq!(parse_duration("-1h30m"), Ok(-5400.0));
        assert_eq!(parse_duration("-0"), Ok(0.0));
        assert_eq!(
            parse_duration("bad"),
            Err("not a valid duration string: \"bad\"".into())
        );
        assert_eq!(
            parse_duration("-bad"),
            Err("not a valid duration string: \"-bad\"".into())
        );
        assert!(parse_duration("--1h").is_err());
    }

    #[test]
    fn url_paths() {
        assert_eq!(url_path("http://testhost:9090/path/prefix"), "/path/prefix");
        assert_eq!(url_path("http://testhost:9090"), "");
        assert_eq!(url_path("https://h/p?x=1"), "/p");
    }
}
