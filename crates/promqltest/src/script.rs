//! Parsing of test scripts into commands, as Prometheus's promql/promqltest/test.go does.

use std::sync::LazyLock;

use model::Labels;
use promql::parser::SequenceValue;
use regex::Regex;

static PAT_LOAD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^load(?:_(with_nhcb))?\s+(.+?)$").expect("valid regex"));
static PAT_EVAL_INSTANT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
        .expect("valid regex")
});
static PAT_EVAL_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$",
    )
    .expect("valid regex")
});
static PAT_EXPECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$")
        .expect("valid regex")
});
static PAT_MATCH_ANY: LazyLock<Regex> = LazyLock::new(|| Regex::new("^.*$").expect("valid regex"));
static PAT_EXPECT_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$")
        .expect("valid regex")
});

/// One command of a script.
#[derive(Debug)]
pub enum Command {
    /// `clear`: start over with an empty storage.
    Clear,
    /// `load <step>` and its series lines.
    Load(Load),
    /// `eval ...` and its expectations.
    Eval(Box<Eval>),
}

/// A `load` command.
#[derive(Debug)]
pub struct Load {
    /// 1-based line of the command.
    pub line: usize,
    /// Series to append, each with its samples (floats or histograms) in time order.
    pub series: Vec<(Labels, Vec<(i64, SequenceValue)>)>,
    /// `load_with_nhcb`: classic histogram series are also loaded as native histograms
    /// with custom buckets.
    pub with_nhcb: bool,
    /// Start timestamps from `metric{labels}@st` lines: per series, `(t, st)` pairs in time
    /// order (absolute milliseconds; samples without one have none).
    pub start_timestamps: Vec<(Labels, Vec<(i64, i64)>)>,
}

impl Load {
    /// The start timestamp given for the sample of `labels` at `t`, 0 if none.
    pub fn start_timestamp(&self, labels: &Labels, t: i64) -> i64 {
        self.start_timestamps
            .iter()
            .find(|(l, _)| l == labels)
            .and_then(|(_, sts)| {
                sts.binary_search_by_key(&t, |&(st_t, _)| st_t)
                    .ok()
                    .map(|i| sts[i].1)
            })
            .unwrap_or(0)
    }
}

/// What kind of evaluation an `eval` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalKind {
    /// `eval instant at <t>`.
    Instant {
        /// Evaluation time (ms).
        at: i64,
    },
    /// `eval range from <start> to <end> step <step>`.
    Range {
        /// Start (ms).
        start: i64,
        /// End (ms).
        end: i64,
        /// Step (ms).
        step: i64,
    },
}

/// The type of an `expect` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectType {
    /// `expect ordered`.
    Ordered,
    /// `expect fail`.
    Fail,
    /// `expect warn`.
    Warn,
    /// `expect no_warn`.
    NoWarn,
    /// `expect info`.
    Info,
    /// `expect no_info`.
    NoInfo,
}

/// What an `expect` line matches: an exact message or a regex (absent = anything).
#[derive(Debug, Clone)]
pub enum ExpectMatch {
    /// `msg: ...`: exactly this text.
    Message(String),
    /// `regex: ...` (or no text: any).
    Regex(Regex),
}

impl ExpectMatch {
    /// Whether `s` satisfies this expectation.
    pub fn matches(&self, s: &str) -> bool {
        match self {
            ExpectMatch::Message(m) => m == s,
            ExpectMatch::Regex(r) => r.is_match(s),
        }
    }
}

impl std::fmt::Display for ExpectMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpectMatch::Message(m) => write!(f, "message {m:?}"),
            ExpectMatch::Regex(r) => write!(f, "pattern {:?}", r.as_str()),
        }
    }
}

/// An expected series of an `eval`.
#[derive(Debug, Clone)]
pub struct ExpectedSeries {
    /// The labels.
    pub labels: Labels,
    /// 1-based position among the expected lines (for ordered results).
    pub pos: usize,
    /// The values (floats or histograms); `None` for an omitted (`_`) step.
    pub values: Vec<Option<SequenceValue>>,
}

/// An `eval` command.
#[derive(Debug)]
pub struct Eval {
    /// 1-based line of the command.
    pub line: usize,
    /// The query.
    pub expr: String,
    /// Instant or range.
    pub kind: EvalKind,
    /// `eval_fail` (or `expect fail`).
    pub fail: bool,
    /// `eval_warn`.
    pub warn: bool,
    /// `eval_info`.
    pub info: bool,
    /// `eval_ordered` (or `expect ordered`).
    pub ordered: bool,
    /// `expected_fail_message`.
    pub expected_fail_message: Option<String>,
    /// `expected_fail_regexp`.
    pub expected_fail_regexp: Option<Regex>,
    /// `expect` lines.
    pub expects: Vec<(ExpectType, ExpectMatch)>,
    /// An expected scalar (a bare number line).
    pub expected_scalar: Option<f64>,
    /// Expected series.
    pub expected: Vec<ExpectedSeries>,
    /// `expect string "..."`.
    pub expected_string: Option<String>,
    /// `expect range vector from .. to .. step ..`: (start, end, step) of the expected matrix.
    pub range_vector: Option<(i64, i64, i64)>,
    /// Set by `expect string` and `expect range vector`: no range-mode cross-check.
    pub exclude_from_range_query: bool,
    /// Why this case is skipped, if it is.
    pub skip: Option<String>,
}

impl Eval {
    /// Whether the command expects a failure.
    pub fn is_fail(&self) -> bool {
        self.fail || self.expects.iter().any(|(t, _)| *t == ExpectType::Fail)
    }

    /// Whether the result must be in the expected order.
    pub fn is_ordered(&self) -> bool {
        self.ordered || self.expects.iter().any(|(t, _)| *t == ExpectType::Ordered)
    }

    /// The `expect` lines of one type.
    pub fn expects_of(&self, ty: ExpectType) -> impl Iterator<Item = &ExpectMatch> {
        self.expects
            .iter()
            .filter(move |(t, _)| *t == ty)
            .map(|(_, m)| m)
    }
}

fn duration_ms(s: &str) -> Result<i64, String> {
    model::Duration::parse(s.trim())
        .map(|d| i64::try_from(std::time::Duration::from(d).as_millis()).unwrap_or(i64::MAX))
        .map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// Parses a number like Go's `strconv.ParseInt(s, 0, 64)` falling back to `ParseFloat`.
pub fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let int = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        i64::from_str_radix(b, 2).ok()
    } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|c| c.is_ascii_digit()) {
        i64::from_str_radix(&body[1..], 8).ok()
    } else if !body.is_empty() && body.bytes().all(|c| c.is_ascii_digit()) {
        body.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Some(if neg { -(i as f64) } else { i as f64 });
    }
    let lower = body.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => {
            if !body
                .bytes()
                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
                || body.is_empty()
            {
                return None;
            }
            body.parse::<f64>().ok()?
        }
    };
    Some(if neg { -v } else { v })
}

/// Unquotes a Go string literal (`"..."` with escapes or `` `...` ``).
fn go_unquote(s: &str) -> Option<String> {
    if s.len() >= 2 && s.starts_with('`') && s.ends_with('`') {
        return Some(s[1..s.len() - 1].to_string());
    }
    if s.len() < 2 || !s.starts_with('"') || !s.ends_with('"') {
        return None;
    }
    let mut out = String::new();
    let mut chars = s[1..s.len() - 1].chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            if c == '"' {
                return None;
            }
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            _ => return None,
        }
    }
    Some(out)
}

struct Parser<'a> {
    file: &'a str,
}

impl Parser<'_> {
    fn err(&self, line: usize, message: impl Into<String>) -> crate::Error {
        crate::Error::Script {
            file: self.file.to_string(),
            line,
            message: message.into(),
        }
    }

    /// Parses one series line (`metric{labels} values...`, values floats or `{{...}}`
    /// histograms).
    fn series(
        &self,
        line_no: usize,
        text: &str,
    ) -> crate::Result<(Labels, Vec<Option<SequenceValue>>)> {
        let (labels, values) = promql::parser::parse_series_desc(text)
            .map_err(|e| self.err(line_no, e.to_string()))?;
        let values = values
            .into_iter()
            .map(|v| if v.omitted { None } else { Some(v) })
            .collect();
        Ok((labels, values))
    }
}

/// Parses a script into commands. `file` names it in errors.
pub fn parse(file: &str, input: &str) -> crate::Result<Vec<Command>> {
    let p = Parser { file };
    let lines: Vec<&str> = input
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') { "" } else { l }
        })
        .collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let word = l
            .split([' ', '\t'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if word == "clear" {
            cmds.push(Command::Clear);
            i += 1;
        } else if word.starts_with("load") {
            let (next, load) = parse_load(&p, &lines, i)?;
            cmds.push(Command::Load(load));
            i = next + 1;
        } else if word.starts_with("eval") {
            let (next, eval) = parse_eval(&p, &lines, i)?;
            cmds.push(Command::Eval(Box::new(eval)));
            i = next + 1;
        } else {
            return Err(p.err(i + 1, format!("invalid command {l:?}")));
        }
    }
    Ok(cmds)
}

fn parse_load(p: &Parser<'_>, lines: &[&str], mut i: usize) -> crate::Result<(usize, Load)> {
    let caps = PAT_LOAD.captures(lines[i]).ok_or_else(|| {
        p.err(
            i + 1,
            "invalid load command. (load[_with_nhcb] <step:duration>)",
        )
    })?;
    let with_nhcb = caps.get(1).is_some();
    let gap = duration_ms(&caps[2]).map_err(|e| p.err(i + 1, e))?;
    let mut load = Load {
        line: i + 1,
        series: Vec::new(),
        with_nhcb,
        start_timestamps: Vec::new(),
    };
    // `@st` lines: offsets from each sample's time, by index.
    let mut st_offsets: Vec<(Labels, Vec<Option<i64>>)> = Vec::new();
    while i + 1 < lines.len() {
        i += 1;
        let def = lines[i];
        if def.is_empty() {
            i -= 1;
            break;
        }
        let first = def.split([' ', '\t']).next().unwrap_or_default();
        if let Some(metric) = first.strip_suffix("@st") {
            let (labels, _) = p.series(i + 1, metric)?;
            let offsets = st_values(def[first.len()..].trim())
                .map_err(|e| p.err(i + 1, format!("invalid start timestamps: {e}")))?;
            if let Some(existing) = st_offsets.iter_mut().find(|(l, _)| *l == labels) {
                existing.1 = offsets;
            } else {
                st_offsets.push((labels, offsets));
            }
            continue;
        }
        let (labels, values) = p.series(i + 1, def)?;
        let samples: Vec<(i64, SequenceValue)> = values
            .into_iter()
            .enumerate()
            .filter_map(|(k, v)| v.map(|v| (k as i64 * gap, v)))
            .collect();
        if let Some(existing) = load.series.iter_mut().find(|(l, _)| *l == labels) {
            existing.1 = samples;
        } else {
            load.series.push((labels, samples));
        }
    }
    for (labels, offsets) in st_offsets {
        let sts: Vec<(i64, i64)> = offsets
            .into_iter()
            .enumerate()
            .filter_map(|(k, o)| o.map(|o| (k as i64 * gap, k as i64 * gap + o)))
            .collect();
        load.start_timestamps.push((labels, sts));
    }
    Ok((i, load))
}

/// Expands the values of an `@st` line: durations relative to each sample's time, in the
/// series notation (`_`, `_xN`, `d`, `dxN`, `d+dxN`, `d-dxN`; durations may be signed).
fn st_values(text: &str) -> Result<Vec<Option<i64>>, String> {
    let signed = |s: &str| -> Result<i64, String> {
        let (neg, body) = match s.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let ms = duration_ms(body)?;
        Ok(if neg { -ms } else { ms })
    };
    let mut out = Vec::new();
    for tok in text.split_whitespace() {
        let (base, times) = match tok.rsplit_once('x') {
            Some((b, n)) => (
                b,
                Some(
                    n.parse::<usize>()
                        .map_err(|_| format!("invalid repetition in {tok:?}"))?,
                ),
            ),
            None => (tok, None),
        };
        if base == "_" {
            out.extend(std::iter::repeat_n(None, times.unwrap_or(1)));
            continue;
        }
        // A step follows the first sign that is not the leading one.
        let split = base
            .char_indices()
            .skip(1)
            .find(|&(_, c)| c == '+' || c == '-')
            .map(|(k, _)| k);
        let (start, step) = match split {
            Some(k) => (signed(&base[..k])?, signed(&base[k..])?),
            None => (signed(base)?, 0),
        };
        for n in 0..=times.unwrap_or(0) {
            out.push(Some(start + n as i64 * step));
        }
    }
    Ok(out)
}

fn parse_eval(p: &Parser<'_>, lines: &[&str], mut i: usize) -> crate::Result<(usize, Eval)> {
    let line = lines[i];
    let line_no = i + 1;
    let (modifier, expr, kind) = if let Some(c) = PAT_EVAL_INSTANT.captures(line) {
        let at = c.get(2).map_or("", |m| m.as_str());
        let at = duration_ms(at)
            .map_err(|e| p.err(line_no, format!("invalid timestamp definition {at:?}: {e}")))?;
        (
            c.get(1).map(|m| m.as_str().to_string()),
            c[3].to_string(),
            EvalKind::Instant { at },
        )
    } else if let Some(c) = PAT_EVAL_RANGE.captures(line) {
        let start = duration_ms(&c[2]).map_err(|e| p.err(line_no, e))?;
        let end = duration_ms(&c[3]).map_err(|e| p.err(line_no, e))?;
        let step = duration_ms(&c[4]).map_err(|e| p.err(line_no, e))?;
        if end < start {
            return Err(p.err(line_no, "end timestamp is before start timestamp"));
        }
        (
            c.get(1).map(|m| m.as_str().to_string()),
            c[5].to_string(),
            EvalKind::Range { start, end, step },
        )
    } else {
        return Err(p.err(line_no, "invalid evaluation command"));
    };
    let mut ev = Eval {
        line: line_no,
        expr,
        kind,
        fail: modifier.as_deref() == Some("fail"),
        warn: modifier.as_deref() == Some("warn"),
        info: modifier.as_deref() == Some("info"),
        ordered: modifier.as_deref() == Some("ordered"),
        expected_fail_message: None,
        expected_fail_regexp: None,
        expects: Vec::new(),
        expected_scalar: None,
        expected: Vec::new(),
        expected_string: None,
        range_vector: None,
        exclude_from_range_query: false,
        skip: None,
    };
    let mut pos = 0usize;
    while i + 1 < lines.len() {
        i += 1;
        let def = lines[i];
        if def.is_empty() {
            i -= 1;
            break;
        }
        if ev.fail {
            if let Some(rest) = def.strip_prefix("expected_fail_message") {
                ev.expected_fail_message = Some(rest.trim().to_string());
                break;
            }
            if let Some(rest) = def.strip_prefix("expected_fail_regexp") {
                let re = Regex::new(rest.trim())
                    .map_err(|e| p.err(i + 1, format!("invalid expected_fail_regexp: {e}")))?;
                ev.expected_fail_regexp = Some(re);
                break;
            }
        }
        if def.starts_with("expect range vector") {
            let c = PAT_EXPECT_RANGE
                .captures(def)
                .ok_or_else(|| p.err(i + 1, format!("invalid range vector definition {def:?}")))?;
            let start = duration_ms(&c[1]).map_err(|e| p.err(i + 1, e))?;
            let end = duration_ms(&c[2]).map_err(|e| p.err(i + 1, e))?;
            let step = duration_ms(&c[3]).map_err(|e| p.err(i + 1, e))?;
            ev.range_vector = Some((start, end, step));
            ev.kind = EvalKind::Instant { at: end };
            ev.exclude_from_range_query = true;
            continue;
        }
        if def.starts_with("expect string") {
            let rest = def
                .strip_prefix("expect string ")
                .ok_or_else(|| p.err(i + 1, "a quoted string literal is required"))?;
            let s = go_unquote(rest.trim())
                .ok_or_else(|| p.err(i + 1, "expected string literal not valid"))?;
            ev.expected_string = Some(s);
            ev.exclude_from_range_query = true;
            continue;
        }
        if def.split(' ').next() == Some("expect") {
            let c = PAT_EXPECT
                .captures(def.trim())
                .ok_or_else(|| p.err(i + 1, "invalid expect statement"))?;
            let ty = match &c[1] {
                "ordered" => ExpectType::Ordered,
                "fail" => ExpectType::Fail,
                "warn" => ExpectType::Warn,
                "no_warn" => ExpectType::NoWarn,
                "info" => ExpectType::Info,
                _ => ExpectType::NoInfo,
            };
            let m = match c.get(2).map(|m| m.as_str()) {
                Some("msg") => ExpectMatch::Message(c[3].trim().to_string()),
                Some(_) => ExpectMatch::Regex(
                    Regex::new(c[3].trim())
                        .map_err(|e| p.err(i + 1, format!("invalid regex: {e}")))?,
                ),
                None => ExpectMatch::Regex(PAT_MATCH_ANY.clone()),
            };
            ev.expects.push((ty, m));
            continue;
        }
        pos += 1;
        if let Some(f) = parse_number(def) {
            ev.expected_scalar = Some(f);
            break;
        }
        let (labels, values) = p.series(i + 1, def)?;
        if values.len() > 1
            && matches!(ev.kind, EvalKind::Instant { .. })
            && ev.range_vector.is_none()
        {
            return Err(p.err(
                i + 1,
                "expecting multiple values in instant evaluation not allowed",
            ));
        }
        if let Some(e) = ev.expected.iter_mut().find(|e| e.labels == labels) {
            e.pos = pos;
            e.values = values;
        } else {
            ev.expected.push(ExpectedSeries {
                labels,
                pos,
                values,
            });
        }
    }
    Ok((i, ev))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_number_follows_go() {
        assert_eq!(parse_number("10"), Some(10.0));
        assert_eq!(parse_number("-0x10"), Some(-16.0));
        assert_eq!(parse_number("1e3"), Some(1000.0));
        assert_eq!(parse_number("+Inf"), Some(f64::INFINITY));
        assert!(parse_number("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_number("foo"), None);
        assert_eq!(parse_number("{a=\"b\"} 1"), None);
    }

    #[test]
    fn st_lines_expand_relative_to_each_sample() {
        assert_eq!(
            st_values("_ -30s-1mx2 +1m _x2 -0msx1 0").unwrap(),
            vec![
                None,
                Some(-30_000),
                Some(-90_000),
                Some(-150_000),
                Some(60_000),
                None,
                None,
                Some(0),
                Some(0),
                Some(0),
            ]
        );
        assert!(st_values("1q").is_err());
        let script = "load 1m\n    c{a=\"b\"}@st _ -1s 1ms\n    c{a=\"b\"} 1 2 3\n";
        let cmds = parse("t", script).unwrap();
        let Command::Load(load) = &cmds[0] else {
            panic!("not a load: {cmds:?}");
        };
        let l = Labels::from_pairs([("__name__", "c"), ("a", "b")]);
        assert_eq!(load.series[0].1.len(), 3);
        assert_eq!(load.start_timestamp(&l, 0), 0);
        assert_eq!(load.start_timestamp(&l, 60_000), 59_000);
        assert_eq!(load.start_timestamp(&l, 120_000), 120_001);
    }

    #[test]
    fn unquote_handles_both_quotes() {
        assert_eq!(go_unquote("\"a\\nb\"").as_deref(), Some("a\nb"));
        assert_eq!(go_unquote("`Foo`").as_deref(), Some("Foo"));
        assert_eq!(go_unquote("\"\"").as_deref(), Some(""));
        assert_eq!(go_unquote("Foo"), None);
    }
}
