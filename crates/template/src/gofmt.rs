//! Go's `fmt` for template values: `Sprint`, `Sprintln`, `Sprintf` with Go's verbs, flags,
//! width, precision, argument indexes and its `%!verb(type=value)` error forms.

use std::fmt::Write;

use crate::gotime;
use crate::value::Value;

const MAX_NUM: usize = 1_000_000;

#[derive(Default, Clone, Copy)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

/// Go's `fmt.Sprint`: operands printed with `%v`, a space between two operands when neither
/// is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = a.as_str().is_some();
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        print_arg(&mut out, a, 'v', &Flags::default());
        prev_string = is_string;
    }
    out
}

/// Go's `fmt.Sprintln`: operands with `%v`, always space-separated, plus a newline.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print_arg(&mut out, a, 'v', &Flags::default());
    }
    out.push('\n');
    out
}

/// How a template prints a value (Go's `printableValue`, then `fmt.Fprint`): pointers are
/// followed, so a `*sample` prints as `{map[...] 1}`.
pub(crate) fn sprint_printable(v: &Value) -> String {
    match v {
        Value::Sample(Some(s)) => {
            let mut out = String::new();
            print_sample(&mut out, s, 'v', &Flags::default(), 0, false, false);
            out
        }
        v => sprint_v(v),
    }
}

/// `%v` of one value.
pub(crate) fn sprint_v(v: &Value) -> String {
    let mut out = String::new();
    print_arg(&mut out, v, 'v', &Flags::default());
    out
}

fn parsenum(s: &[u8], start: usize) -> (Option<usize>, usize) {
    let mut i = start;
    let mut num = 0usize;
    let mut isnum = false;
    while i < s.len() && s[i].is_ascii_digit() {
        if num > MAX_NUM {
            return (None, s.len());
        }
        num = num * 10 + usize::from(s[i] - b'0');
        isnum = true;
        i += 1;
    }
    (isnum.then_some(num), i)
}

/// Go's `parseArgNumber`: `[n]` at the start of `s`; (index, width consumed, ok).
fn parse_arg_number(s: &[u8]) -> (usize, usize, bool) {
    if s.len() < 3 {
        return (0, 1, false);
    }
    for i in 1..s.len() {
        if s[i] == b']' {
            let (n, newi) = parsenum(&s[..i], 1);
            return match n {
                Some(n) if newi == i && n >= 1 => (n - 1, i + 1, true),
                Some(_) if newi == i => (usize::MAX, i + 1, true),
                _ => (0, i + 1, false),
            };
        }
    }
    (0, 1, false)
}

/// Go's `fmt.Sprintf`.
pub(crate) fn sprintf(format: &str, a: &[Value]) -> String {
    let fb = format.as_bytes();
    let end = fb.len();
    let mut out = String::new();
    let mut arg_num = 0usize;
    let mut reordered = false;
    let mut i = 0;
    while i < end {
        let mut good_arg_num = true;
        let lasti = i;
        while i < end && fb[i] != b'%' {
            i += 1;
        }
        if i > lasti {
            out.push_str(&format[lasti..i]);
        }
        if i >= end {
            break;
        }
        i += 1;
        let mut f = Flags::default();
        while i < end {
            match fb[i] {
                b'#' => f.sharp = true,
                b'0' => f.zero = !f.minus,
                b'+' => f.plus = true,
                b'-' => {
                    f.minus = true;
                    f.zero = false;
                }
                b' ' => f.space = true,
                _ => break,
            }
            i += 1;
        }
        let mut after_index;
        // Explicit argument index.
        let mut arg_number = |arg_num: usize, i: usize, good: &mut bool| -> (usize, usize, bool) {
            if i >= end || fb[i] != b'[' {
                return (arg_num, i, false);
            }
            reordered = true;
            let (index, wid, ok) = parse_arg_number(&fb[i..]);
            if ok && index < a.len() {
                return (index, i + wid, true);
            }
            *good = false;
            (arg_num, i + wid, ok)
        };
        (arg_num, i, after_index) = arg_number(arg_num, i, &mut good_arg_num);
        // Width.
        if i < end && fb[i] == b'*' {
            i += 1;
            let (w, ok, n) = int_from_arg(a, arg_num);
            arg_num = n;
            if !ok {
                out.push_str("%!(BADWIDTH)");
            } else if w < 0 {
                f.wid = Some(w.unsigned_abs() as usize);
                f.minus = true;
                f.zero = false;
            } else {
                f.wid = Some(w as usize);
            }
            after_index = false;
        } else {
            let (w, ni) = parsenum(fb, i);
            f.wid = w;
            i = ni;
            if after_index && f.wid.is_some() {
                good_arg_num = false;
            }
        }
        // Precision.
        if i + 1 < end && fb[i] == b'.' {
            i += 1;
            if after_index {
                good_arg_num = false;
            }
            (arg_num, i, after_index) = arg_number(arg_num, i, &mut good_arg_num);
            if i < end && fb[i] == b'*' {
                i += 1;
                let (p, ok, n) = int_from_arg(a, arg_num);
                arg_num = n;
                // A negative precision argument is as bad as a missing one.
                if ok && p >= 0 {
                    f.prec = Some(p as usize);
                } else {
                    out.push_str("%!(BADPREC)");
                }
                after_index = false;
            } else {
                let (p, ni) = parsenum(fb, i);
                i = ni;
                f.prec = Some(p.unwrap_or(0));
            }
        }
        if !after_index {
            (arg_num, i, _) = arg_number(arg_num, i, &mut good_arg_num);
        }
        if i >= end {
            out.push_str("%!(NOVERB)");
            break;
        }
        let Some(verb) = format[i..].chars().next() else {
            break;
        };
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
        } else if !good_arg_num {
            let _ = write!(out, "%!{verb}(BADINDEX)");
        } else if arg_num >= a.len() {
            let _ = write!(out, "%!{verb}(MISSING)");
        } else {
            if verb == 'v' {
                f.sharp_v = f.sharp;
                f.sharp = false;
                f.plus_v = f.plus;
                f.plus = false;
            }
            print_arg(&mut out, &a[arg_num], verb, &f);
            arg_num += 1;
        }
    }
    if !reordered && arg_num < a.len() {
        out.push_str("%!(EXTRA ");
        for (i, arg) in a[arg_num..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if matches!(arg, Value::Nil) {
                out.push_str("<nil>");
            } else {
                out.push_str(arg.type_name());
                out.push('=');
                print_arg(&mut out, arg, 'v', &Flags::default());
            }
        }
        out.push(')');
    }
    out
}

fn int_from_arg(a: &[Value], arg_num: usize) -> (i64, bool, usize) {
    match a.get(arg_num) {
        Some(Value::Int(n)) if n.unsigned_abs() <= MAX_NUM as u64 => (*n, true, arg_num + 1),
        Some(_) => (0, false, arg_num + 1),
        None => (0, false, arg_num),
    }
}

fn pad(out: &mut String, s: &str, f: &Flags) {
    let Some(wid) = f.wid else {
        out.push_str(s);
        return;
    };
    let n = s.chars().count();
    if n >= wid {
        out.push_str(s);
        return;
    }
    let fill = if f.zero { '0' } else { ' ' };
    if f.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', wid - n));
    } else {
        out.extend(std::iter::repeat_n(fill, wid - n));
        out.push_str(s);
    }
}

fn bad_verb(out: &mut String, v: &Value, verb: char, f: &Flags) {
    let _ = write!(out, "%!{verb}(");
    if matches!(v, Value::Nil) {
        out.push_str("<nil>");
    } else {
        out.push_str(v.type_name());
        out.push('=');
        print_value(out, v, 'v', f, 0, true);
    }
    out.push(')');
}

fn print_arg(out: &mut String, v: &Value, verb: char, f: &Flags) {
    if let Value::Iface(inner) = v {
        return print_arg(out, inner, verb, f);
    }
    match verb {
        'T' => {
            let name = v.type_name();
            let s = if matches!(v, Value::Nil) {
                "<nil>"
            } else {
                name
            };
            pad(out, s, f);
        }
        _ if matches!(v, Value::Nil) => {
            if verb == 'v' {
                pad(out, "<nil>", f);
            } else {
                bad_verb(out, v, verb, f);
            }
        }
        _ => print_value(out, v, verb, f, 0, false),
    }
}

fn print_value(out: &mut String, v: &Value, verb: char, f: &Flags, depth: usize, erroring: bool) {
    if verb == 'v' && f.sharp_v && !matches!(v, Value::Str(_) | Value::Html(_)) {
        pad(out, &go_syntax(v, depth), f);
        return;
    }
    match v {
        Value::Nil => pad(out, "<nil>", f),
        Value::Bool(b) => match verb {
            't' | 'v' => pad(out, if *b { "true" } else { "false" }, f),
            _ => bad_verb(out, v, verb, f),
        },
        Value::Int(i) => fmt_integer_verb(out, v, *i, verb, f),
        Value::Float(x) => match verb {
            'v' => fmt_float(out, *x, 'g', None, f),
            'g' | 'G' | 'b' | 'x' | 'X' => fmt_float(out, *x, verb, None, f),
            'e' | 'E' | 'f' | 'F' => fmt_float(out, *x, verb, Some(6), f),
            _ => bad_verb(out, v, verb, f),
        },
        Value::Str(s) | Value::Html(s) => fmt_string(out, v, s, verb, f),
        Value::Time(_) | Value::Duration(_)
            if !erroring && matches!(verb, 'v' | 's' | 'x' | 'X' | 'q') =>
        {
            let s = match v {
                Value::Time(ns) => gotime::time_string(*ns),
                Value::Duration(ns) => gotime::duration_string(*ns),
                _ => String::new(),
            };
            fmt_string(out, v, &s, verb, f);
        }
        Value::Histogram(h) if !erroring && matches!(verb, 'v' | 's' | 'x' | 'X' | 'q') => {
            fmt_string(out, v, &h.to_go_string(), verb, f);
        }
        Value::Histogram(h) => print_histogram_struct(out, h, verb, f, erroring),
        Value::Time(ns) => {
            out.push('&');
            let _ = write!(out, "{{{ns}}}");
        }
        Value::Duration(ns) => {
            out.push('&');
            let _ = write!(out, "{ns}");
        }
        Value::StrMap(m) => {
            out.push_str("map[");
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_string(out, &Value::str(k), k, verb, f);
                out.push(':');
                fmt_string(out, &Value::str(val), val, verb, f);
            }
            out.push(']');
        }
        Value::AnyMap(m) => {
            out.push_str("map[");
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_string(out, &Value::str(k), k, verb, f);
                out.push(':');
                print_value(out, val, verb, f, depth + 1, erroring);
            }
            out.push(']');
        }
        Value::Query(q) => {
            out.push('[');
            for (i, s) in q.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                // Go prints a pointer inside a slice as its address, and as a bad verb for
                // verbs that do not apply to pointers. Addresses are not reproducible, so
                // `%v` shows the sample instead.
                if matches!(verb, 'v' | 'b' | 'o' | 'd' | 'x' | 'X' | 'p') {
                    print_sample(out, s, verb, f, depth + 1, erroring, true);
                } else {
                    let _ = write!(out, "%!{verb}(*template.sample=");
                    print_sample(out, s, 'v', &Flags::default(), depth + 1, erroring, true);
                    out.push(')');
                }
            }
            out.push(']');
        }
        Value::List(l, _) => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_value(out, e, verb, f, depth + 1, erroring);
            }
            out.push(']');
        }
        Value::Span(sp) => {
            let fields = [
                ("Offset", Value::Int(i64::from(sp.offset))),
                ("Length", Value::Int(i64::from(sp.length))),
            ];
            print_fields(out, &fields, verb, f, depth + 1, erroring);
        }
        Value::Sample(Some(s)) => print_sample(out, s, verb, f, depth, erroring, true),
        Value::Sample(None) => pad(out, "<nil>", f),
        Value::Iface(inner) => print_value(out, inner, verb, f, depth, erroring),
        Value::Data(d) => {
            let fields = [
                ("Labels", Value::StrMap(d.labels.clone())),
                ("ExternalLabels", Value::StrMap(d.external_labels.clone())),
                ("ExternalURL", Value::Str(d.external_url.clone())),
                ("Value", Value::sample(&d.value)),
            ];
            print_fields(out, &fields, verb, f, depth + 1, erroring);
        }
    }
}

/// A struct's fields as Go's `fmt` prints them: `{a b}`, or `{A:a B:b}` with `%+v`.
fn print_fields(
    out: &mut String,
    fields: &[(&str, Value)],
    verb: char,
    f: &Flags,
    depth: usize,
    erroring: bool,
) {
    out.push('{');
    for (i, (name, val)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if f.plus_v {
            out.push_str(name);
            out.push(':');
        }
        print_value(out, val, verb, f, depth, erroring);
    }
    out.push('}');
}

/// Go's `%#v` (Go syntax) of a value.
fn go_syntax(v: &Value, depth: usize) -> String {
    let map = |prefix: &str, entries: Vec<(String, String)>| {
        let body: Vec<String> = entries
            .into_iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect();
        format!("{prefix}{{{}}}", body.join(", "))
    };
    let str_map = |m: &crate::value::StrMap| {
        map(
            "map[string]string",
            m.iter()
                .map(|(k, v)| (model::strconv::quote(k), model::strconv::quote(v)))
                .collect(),
        )
    };
    let sample = |s: &crate::value::Sample| {
        format!(
            "&template.sample{{Labels:{}, Value:{}}}",
            str_map(&s.labels),
            go_syntax(&Value::sample(&s.value), depth + 1)
        )
    };
    match v {
        Value::Iface(inner) => go_syntax(inner, depth),
        Value::Nil if depth > 0 => "interface {}(nil)".to_owned(),
        Value::Nil | Value::Sample(None) => "<nil>".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(x) => format_float(*x, 'g', None),
        Value::Str(s) | Value::Html(s) => model::strconv::quote(s),
        Value::StrMap(m) => str_map(m),
        Value::AnyMap(m) => map(
            "map[string]interface {}",
            m.iter()
                .map(|(k, v)| (model::strconv::quote(k), go_syntax(v, depth + 1)))
                .collect(),
        ),
        Value::Query(q) => format!(
            "template.queryResult{{{}}}",
            q.iter().map(|s| sample(s)).collect::<Vec<_>>().join(", ")
        ),
        Value::Sample(Some(s)) => sample(s),
        Value::Span(sp) => format!(
            "histogram.Span{{Offset:{}, Length:0x{:x}}}",
            sp.offset, sp.length
        ),
        Value::List(l, t) => format!(
            "{t}{{{}}}",
            l.iter()
                .map(|e| go_syntax(e, depth + 1))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Time(ns) => {
            let c = gotime::civil(*ns);
            format!(
                "time.Date({}, time.{}, {}, {}, {}, {}, {}, time.UTC)",
                c.year,
                gotime::month_name(c.month),
                c.day,
                c.hour,
                c.minute,
                c.second,
                c.nanos
            )
        }
        Value::Duration(d) => d.to_string(),
        Value::Data(d) => format!(
            "{}{{Labels:{}, ExternalLabels:{}, ExternalURL:{}, Value:{}}}",
            crate::value::DATA_TYPE,
            str_map(&d.labels),
            str_map(&d.external_labels),
            model::strconv::quote(&d.external_url),
            go_syntax(&Value::sample(&d.value), depth + 1)
        ),
        Value::Histogram(h) => histogram_go_syntax(h),
    }
}

fn print_sample(
    out: &mut String,
    s: &crate::value::Sample,
    verb: char,
    f: &Flags,
    depth: usize,
    erroring: bool,
    pointer: bool,
) {
    if pointer {
        out.push('&');
    }
    out.push('{');
    if f.plus_v {
        out.push_str("Labels:");
    }
    print_value(
        out,
        &Value::StrMap(s.labels.clone()),
        verb,
        f,
        depth + 1,
        erroring,
    );
    out.push(' ');
    if f.plus_v {
        out.push_str("Value:");
    }
    print_value(out, &Value::sample(&s.value), verb, f, depth + 1, erroring);
    out.push('}');
}

/// How Go's `fmt` prints a `*histogram.FloatHistogram` with a verb its `String` method does
/// not serve: `&` and the struct, each field printed with the verb.
fn print_histogram_struct(
    out: &mut String,
    h: &model::FloatHistogram,
    verb: char,
    f: &Flags,
    erroring: bool,
) {
    out.push('&');
    print_fields(
        out,
        &crate::value::histogram_fields(h),
        verb,
        f,
        1,
        erroring,
    );
}

/// Go's `%#v` of a `*histogram.FloatHistogram` (at the top level; Go prints a nested
/// pointer as its address, which is not reproducible).
fn histogram_go_syntax(h: &model::FloatHistogram) -> String {
    let g = |x: f64| format_float(x, 'g', None);
    let spans = |v: &[model::Span]| {
        if v.is_empty() {
            return "[]histogram.Span(nil)".to_owned();
        }
        let items: Vec<String> = v
            .iter()
            .map(|s| {
                format!(
                    "histogram.Span{{Offset:{}, Length:0x{:x}}}",
                    s.offset, s.length
                )
            })
            .collect();
        format!("[]histogram.Span{{{}}}", items.join(", "))
    };
    let floats = |v: &[f64]| {
        if v.is_empty() {
            return "[]float64(nil)".to_owned();
        }
        let items: Vec<String> = v.iter().map(|x| g(*x)).collect();
        format!("[]float64{{{}}}", items.join(", "))
    };
    format!(
        "&histogram.FloatHistogram{{CounterResetHint:0x{:x}, Schema:{}, ZeroThreshold:{}, ZeroCount:{}, Count:{}, Sum:{}, PositiveSpans:{}, NegativeSpans:{}, PositiveBuckets:{}, NegativeBuckets:{}, CustomValues:{}}}",
        h.counter_reset_hint as u8,
        h.schema,
        g(h.zero_threshold),
        g(h.zero_count),
        g(h.count),
        g(h.sum),
        spans(&h.positive_spans),
        spans(&h.negative_spans),
        floats(&h.positive_buckets),
        floats(&h.negative_buckets),
        floats(&h.custom_values),
    )
}

fn fmt_string(out: &mut String, v: &Value, s: &str, verb: char, f: &Flags) {
    let truncated = |s: &str| -> String {
        match f.prec {
            Some(p) => s.chars().take(p).collect(),
            None => s.to_owned(),
        }
    };
    match verb {
        'v' if f.sharp_v => pad(out, &model::strconv::quote(s), f),
        'v' | 's' => pad(out, &truncated(s), f),
        'q' => {
            let s = truncated(s);
            let q = if f.sharp
                && !s.contains(['`', '\r'])
                && s.chars().all(|c| c == '\t' || !c.is_control())
            {
                format!("`{s}`")
            } else if f.plus {
                quote_ascii(&s)
            } else {
                model::strconv::quote(&s)
            };
            pad(out, &q, f);
        }
        'x' | 'X' => fmt_sx(out, s, verb == 'X', f),
        _ => bad_verb(out, v, verb, f),
    }
}

fn quote_ascii(s: &str) -> String {
    let q = model::strconv::quote(s);
    let mut out = String::new();
    for c in q.chars() {
        if c.is_ascii() {
            out.push(c);
        } else if (c as u32) < 0x10000 {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
    out
}

fn fmt_sx(out: &mut String, s: &str, upper: bool, f: &Flags) {
    let digits: &[u8; 17] = if upper {
        b"0123456789ABCDEFX"
    } else {
        b"0123456789abcdefx"
    };
    let bytes = s.as_bytes();
    let length = f.prec.map_or(bytes.len(), |p| p.min(bytes.len()));
    let mut width = 2 * length;
    if width == 0 {
        if let Some(w) = f.wid {
            out.extend(std::iter::repeat_n(' ', w));
        }
        return;
    }
    if f.space {
        if f.sharp {
            width *= 2;
        }
        width += length - 1;
    } else if f.sharp {
        width += 2;
    }
    let padding = f.wid.map_or(0, |w| w.saturating_sub(width));
    if !f.minus {
        out.extend(std::iter::repeat_n(if f.zero { '0' } else { ' ' }, padding));
    }
    if f.sharp {
        out.push('0');
        out.push(char::from(digits[16]));
    }
    for (i, &c) in bytes[..length].iter().enumerate() {
        if f.space && i > 0 {
            out.push(' ');
            if f.sharp {
                out.push('0');
                out.push(char::from(digits[16]));
            }
        }
        out.push(char::from(digits[usize::from(c >> 4)]));
        out.push(char::from(digits[usize::from(c & 0xf)]));
    }
    if f.minus {
        out.extend(std::iter::repeat_n(' ', padding));
    }
}

fn fmt_integer_verb(out: &mut String, v: &Value, i: i64, verb: char, f: &Flags) {
    match verb {
        'v' | 'd' => fmt_integer(out, i, 10, verb, false, f),
        'b' => fmt_integer(out, i, 2, verb, false, f),
        'o' | 'O' => fmt_integer(out, i, 8, verb, false, f),
        'x' => fmt_integer(out, i, 16, verb, false, f),
        'X' => fmt_integer(out, i, 16, verb, true, f),
        'c' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{fffd}');
            pad(out, &c.to_string(), f);
        }
        'q' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{fffd}');
            let q = model::strconv::quote(&c.to_string());
            let inner = &q[1..q.len() - 1];
            let inner = if c == '\'' {
                "\\'".to_owned()
            } else {
                inner.replace("\\\"", "\"")
            };
            pad(out, &format!("'{inner}'"), f);
        }
        'U' => {
            let mut s = format!("U+{:04X}", i);
            if f.sharp
                && let Some(c) = u32::try_from(i).ok().and_then(char::from_u32)
                && model::strconv::is_print(c)
            {
                let _ = write!(s, " '{c}'");
            }
            pad(out, &s, f);
        }
        _ => bad_verb(out, v, verb, f),
    }
}

/// Go's `fmt.fmtInteger`.
fn fmt_integer(out: &mut String, v: i64, base: u32, verb: char, upper: bool, f: &Flags) {
    let negative = v < 0;
    let u = v.unsigned_abs();
    let mut prec = 0usize;
    if let Some(p) = f.prec {
        prec = p;
        if p == 0 && u == 0 {
            let g = Flags { zero: false, ..*f };
            pad(out, "", &g);
            return;
        }
    } else if f.zero
        && !f.minus
        && let Some(w) = f.wid
    {
        prec = w;
        if negative || f.plus || f.space {
            prec = prec.saturating_sub(1);
        }
    }
    let mut digits = match base {
        2 => format!("{u:b}"),
        8 => format!("{u:o}"),
        16 if upper => format!("{u:X}"),
        16 => format!("{u:x}"),
        _ => u.to_string(),
    };
    if digits.len() < prec {
        digits = "0".repeat(prec - digits.len()) + &digits;
    }
    let mut prefix = String::new();
    if f.sharp {
        match base {
            2 => prefix.push_str("0b"),
            8 if !digits.starts_with('0') => prefix.push('0'),
            16 => prefix.push_str(if upper { "0X" } else { "0x" }),
            _ => {}
        }
    }
    if verb == 'O' {
        prefix = "0o".to_owned();
    }
    let sign = if negative {
        "-"
    } else if f.plus {
        "+"
    } else if f.space {
        " "
    } else {
        ""
    };
    let g = Flags { zero: false, ..*f };
    pad(out, &format!("{sign}{prefix}{digits}"), &g);
}

/// Go's `fmt.fmtFloat`: sign, `+`/space flags, zero padding after the sign, NaN and Inf
/// never zero-padded.
fn fmt_float(out: &mut String, v: f64, verb: char, default_prec: Option<usize>, f: &Flags) {
    let prec = f.prec.or(default_prec);
    let verb = if verb == 'F' { 'f' } else { verb };
    let mut num = format_float(v, verb, prec);
    if !num.starts_with(['-', '+']) {
        num.insert(0, '+');
    }
    if f.space && num.starts_with('+') && !f.plus {
        num.replace_range(0..1, " ");
    }
    let special = num[1..].starts_with(['I', 'N']);
    if special {
        if num[1..].starts_with('N') && !f.space && !f.plus {
            num.remove(0);
        }
        let g = Flags { zero: false, ..*f };
        pad(out, &num, &g);
        return;
    }
    if f.plus || !num.starts_with('+') {
        if f.zero
            && !f.minus
            && let Some(w) = f.wid
            && w > num.len()
        {
            out.push_str(&num[..1]);
            out.extend(std::iter::repeat_n('0', w - num.len()));
            out.push_str(&num[1..]);
            return;
        }
        pad(out, &num, f);
        return;
    }
    pad(out, &num[1..], f);
}

/// Go's `strconv.FormatFloat(v, fmt, prec, 64)` for `e`, `E`, `f`, `g`, `G`; `None` is the
/// shortest representation (precision -1).
pub(crate) fn format_float(v: f64, fmt: char, prec: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let neg = v.is_sign_negative();
    let a = v.abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if matches!(fmt, 'b' | 'x' | 'X') {
        binary_float(&mut out, a, fmt, prec);
        return out;
    }
    // Decimal digits (without trailing zeros) and the decimal point position: a = 0.d * 10^dp.
    let digits_for = |sig: Option<usize>| -> (Vec<u8>, i64) {
        if a == 0.0 {
            return (Vec::new(), 0);
        }
        let e = match sig {
            Some(n) => format!("{:.*e}", n.saturating_sub(1), a),
            None => format!("{a:e}"),
        };
        let (m, x) = e.split_once('e').unwrap_or((&e, "0"));
        let x: i64 = x.parse().unwrap_or(0);
        let mut d: Vec<u8> = m.bytes().filter(u8::is_ascii_digit).collect();
        while d.last() == Some(&b'0') {
            d.pop();
        }
        (d, x + 1)
    };
    match fmt {
        'e' | 'E' => {
            let (d, dp) = digits_for(prec.map(|p| p + 1));
            let p = prec.unwrap_or(d.len().saturating_sub(1));
            fmt_e(&mut out, &d, dp, p, fmt);
        }
        'f' => match prec {
            Some(p) => {
                let _ = write!(out, "{a:.p$}");
            }
            None => {
                let (d, dp) = digits_for(None);
                let p = (d.len() as i64 - dp).max(0) as usize;
                fmt_f(&mut out, &d, dp, p);
            }
        },
        _ => {
            let shortest = prec.is_none();
            let mut p = prec.unwrap_or(0).max(1);
            let (d, dp) = digits_for(if shortest { None } else { Some(p) });
            let nd = d.len();
            if shortest {
                p = nd;
            }
            let mut eprec = p;
            if eprec > nd && nd as i64 >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            let e = if fmt == 'G' { 'E' } else { 'e' };
            if exp < -4 || exp >= eprec as i64 {
                if p > nd {
                    p = nd;
                }
                fmt_e(&mut out, &d, dp, p.saturating_sub(1), e);
            } else {
                if p as i64 > dp {
                    p = nd;
                }
                fmt_f(&mut out, &d, dp, (p as i64 - dp).max(0) as usize);
            }
        }
    }
    out
}

/// Go's `%b` (`4503599627370496p-52`) and `%x`/`%X` (`0x1.8p+01`) of a finite, non-negative
/// float (strconv's `fmtB` and `fmtX`).
fn binary_float(out: &mut String, a: f64, fmt: char, prec: Option<usize>) {
    const MANTBITS: u32 = 52;
    let bits = a.to_bits();
    let mut exp = ((bits >> MANTBITS) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << MANTBITS) - 1);
    if exp == 0 {
        exp += 1;
    } else {
        mant |= 1u64 << MANTBITS;
    }
    exp -= 1023;
    if fmt == 'b' {
        let e = exp - i64::from(MANTBITS);
        let _ = write!(out, "{mant}p{}{e}", if e >= 0 { "+" } else { "" });
        return;
    }
    if mant == 0 {
        exp = 0;
    }
    mant <<= 60 - MANTBITS;
    while mant != 0 && mant & (1 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if let Some(p) = prec.filter(|p| *p < 15) {
        let shift = p as u32 * 4;
        let extra = (mant << shift) & ((1 << 60) - 1);
        mant >>= 60 - shift;
        if extra | (mant & 1) > 1 << 59 {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1 << 61) != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let hex: &[u8; 16] = if fmt == 'X' {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    out.push('0');
    out.push(fmt);
    out.push(if (mant >> 60) & 1 == 1 { '1' } else { '0' });
    mant <<= 4;
    match prec {
        None if mant != 0 => {
            out.push('.');
            while mant != 0 {
                out.push(char::from(hex[((mant >> 60) & 15) as usize]));
                mant <<= 4;
            }
        }
        Some(p) if p > 0 => {
            out.push('.');
            for _ in 0..p {
                out.push(char::from(hex[((mant >> 60) & 15) as usize]));
                mant <<= 4;
            }
        }
        _ => {}
    }
    out.push(if fmt == 'X' { 'P' } else { 'p' });
    out.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(out, "{:02}", exp.abs());
}

fn fmt_e(out: &mut String, d: &[u8], dp: i64, prec: usize, e: char) {
    out.push(char::from(d.first().copied().unwrap_or(b'0')));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(char::from(d.get(i).copied().unwrap_or(b'0')));
        }
    }
    out.push(e);
    let exp = if d.is_empty() { 0 } else { dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(out, "{:02}", exp.abs());
}

fn fmt_f(out: &mut String, d: &[u8], dp: i64, prec: usize) {
    if dp > 0 {
        for i in 0..dp as usize {
            out.push(char::from(d.get(i).copied().unwrap_or(b'0')));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec as i64 {
            let j = dp + i - 1;
            let c = if j >= 0 {
                d.get(j as usize).copied().unwrap_or(b'0')
            } else {
                b'0'
            };
            out.push(char::from(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(format: &str, args: &[Value]) -> String {
        sprintf(format, args)
    }

    #[test]
    fn floats_format_like_go() {
        let g4 = |v: f64| format_float(v, 'g', Some(4));
        assert_eq!(g4(1.2345), "1.234"); // round half to even on the exact binary value
        assert_eq!(g4(123_456_700.0), "1.235e+08");
        assert_eq!(g4(120.0), "120");
        assert_eq!(g4(0.0), "0");
        assert_eq!(g4(100_000.0), "1e+05");
        assert_eq!(g4(9.223_372_036_854_776e18 / 1e18), "9.223");
        assert_eq!(format_float(1234567.0, 'g', None), "1.234567e+06");
        assert_eq!(format_float(0.0001, 'g', None), "0.0001");
        assert_eq!(format_float(0.00001, 'g', None), "1e-05");
        assert_eq!(format_float(3720.01, 'f', Some(2)), "3720.01");
        assert_eq!(format_float(1.5, 'e', Some(6)), "1.500000e+00");
        assert_eq!(format_float(0.0, 'e', Some(2)), "0.00e+00");
        assert_eq!(format_float(3.0, 'x', None), "0x1.8p+01");
        assert_eq!(format_float(-0.1, 'X', None), "-0X1.999999999999AP-04");
        assert_eq!(format_float(1.0, 'x', Some(2)), "0x1.00p+00");
        assert_eq!(format_float(0.0, 'x', None), "0x0p+00");
        assert_eq!(format_float(1.0, 'b', None), "4503599627370496p-52");
    }

    #[test]
    fn printf_verbs_match_go() {
        let s = Value::str;
        assert_eq!(
            p("%s-%d-%v", &[s("a"), Value::Int(3), Value::Float(1.5)]),
            "a-3-1.5"
        );
        assert_eq!(
            p(
                "%.2f|%5.1f|%-6.2f|%06.2f",
                &[
                    Value::Float(2.71649),
                    Value::Float(2.0),
                    Value::Float(1.0),
                    Value::Float(-1.5)
                ]
            ),
            "2.72|  2.0|1.00  |-01.50"
        );
        assert_eq!(
            p(
                "%q %x %X % x",
                &[s("a\"b"), s("hi"), Value::Int(255), s("ab")]
            ),
            "\"a\\\"b\" 6869 FF 61 62"
        );
        assert_eq!(
            p(
                "%5d|%-5d|%05d|%+d",
                &[
                    Value::Int(42),
                    Value::Int(42),
                    Value::Int(-42),
                    Value::Int(42)
                ]
            ),
            "   42|42   |-0042|+42"
        );
        assert_eq!(p("%d", &[s("x")]), "%!d(string=x)");
        assert_eq!(p("%s %s", &[s("x")]), "x %!s(MISSING)");
        assert_eq!(p("%s", &[s("x"), Value::Int(1)]), "x%!(EXTRA int=1)");
        assert_eq!(p("100%%", &[]), "100%");
        assert_eq!(p("%[2]s %[1]s", &[s("a"), s("b")]), "b a");
        assert_eq!(
            p(
                "%g %e %G",
                &[
                    Value::Float(1e21),
                    Value::Float(123456.0),
                    Value::Float(1e-7)
                ]
            ),
            "1e+21 1.234560e+05 1E-07"
        );
        assert_eq!(
            p(
                "%v %v %v",
                &[
                    Value::Float(f64::INFINITY),
                    Value::Float(f64::NAN),
                    Value::Nil
                ]
            ),
            "+Inf NaN <nil>"
        );
        assert_eq!(
            p("%t %v", &[Value::Bool(true), Value::Bool(false)]),
            "true false"
        );
        assert_eq!(
            p("%c%U", &[Value::Int(65), Value::Int(0x1F600)]),
            "AU+1F600"
        );
        assert_eq!(
            p(
                "%.3s|%8.3f|%-8v|",
                &[s("abcdef"), Value::Float(2.71649), s("ab")]
            ),
            "abc|   2.716|ab      |"
        );
        assert_eq!(p("%", &[]), "%!(NOVERB)");
        assert_eq!(p("%!", &[]), "%!!(MISSING)");
    }

    #[test]
    fn sprint_spaces_like_go() {
        assert_eq!(
            sprint(&[Value::Int(1), Value::Int(2), Value::str("a"), Value::Int(3)]),
            "1 2a3"
        );
        assert_eq!(sprintln(&[Value::Int(1), Value::str("a")]), "1 a\n");
    }
}
