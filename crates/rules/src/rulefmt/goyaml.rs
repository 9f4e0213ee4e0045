//! go-yaml v3 as Go's `rulefmt.Parse` uses it: a node tree, and its two decodings with their type errors.
//!
//! Go decodes a rule file twice: strictly into `rulefmt.RuleGroups` (unknown fields are type
//! errors unless promtool ignores them), then leniently into `rulefmt.ruleGroups`, whose rules
//! keep the YAML nodes of `record`, `alert` and `expr` for positions. Each decoding collects
//! type errors (`line N: cannot unmarshal !!str `abc` into int`, `line N: field x not found
//! in type rulefmt.Rule`, `line N: mapping key "x" already defined at line M`) and reports
//! them together as `yaml: unmarshal errors:`; a duration that does not parse stops the
//! decoding with that message alone. Both decodings' errors are reported, so most problems
//! show twice, as in Go. The groups' own nodes are never filled in by Go (an embedded
//! `yaml.Node` without `,inline`), so group problems sit at `0:0`.

use std::collections::{BTreeMap, HashMap};

use config::yaml::tabs::{Flavour, flow_tabs_as_spaces, misplaced_tab};
use model::Duration;
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, ScanError, StructureStyle};

/// A YAML node: what it holds and where it starts (1-based line and column).
#[derive(Debug, Clone)]
pub(super) struct Node {
    line: u64,
    column: u64,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// A scalar: its text and its (short) tag, explicit or resolved.
    Scalar {
        value: String,
        tag: String,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

const NULL: &str = "!!null";

impl Node {
    fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { tag, .. } if tag == NULL)
    }

    fn tag(&self) -> &str {
        match &self.kind {
            Kind::Scalar { tag, .. } => tag,
            Kind::Seq(_) => "!!seq",
            Kind::Map(_) => "!!map",
        }
    }
}

/// Parses the first document of `source`: `Ok(None)` when there is none (Go's `io.EOF`); a
/// syntax error as go-yaml v3 words it.
pub(super) fn parse_document(source: &str) -> Result<Option<Node>, String> {
    // libyaml takes tabs leading lines in flow collections, and refuses others the Rust
    // parser takes, before any other syntax error.
    let source = &*flow_tabs_as_spaces(source);
    if let Some((_, message)) = misplaced_tab(source, Flavour::V3) {
        return Err(message);
    }
    let mut parser = Parser::new_from_str(source);
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    // Collections being built, with their anchor ids and whether they are block ones.
    let mut stack: Vec<(Node, usize, bool)> = Vec::new();
    let mut pending_key: Vec<Option<Node>> = Vec::new();
    let mut root = None;
    let mut in_document = false;
    while let Some(next) = parser.next_event() {
        let (event, span) = match next {
            Ok(next) => next,
            Err(e) => {
                let open: Vec<Open> = stack
                    .iter()
                    .map(|(n, _, block)| Open {
                        map: matches!(n.kind, Kind::Map(_)),
                        block: *block,
                        line: n.line,
                        column: n.column,
                    })
                    .collect();
                return Err(syntax_message(source, &e, &open));
            }
        };
        let line = u64::try_from(span.start.line()).unwrap_or(0);
        let column = u64::try_from(span.start.col()).unwrap_or(0) + 1;
        let (node, anchor) = match event {
            Event::DocumentStart(..) => {
                in_document = true;
                continue;
            }
            Event::DocumentEnd => {
                if in_document {
                    break;
                }
                continue;
            }
            Event::StreamEnd => break,
            Event::Scalar(value, style, anchor, tag) => {
                let tag = match tag.as_deref() {
                    Some(t) => match t.core_suffix() {
                        Some(core) => format!("!!{core}"),
                        None => t.original(),
                    },
                    None if style == ScalarStyle::Plain => resolve(&value).to_string(),
                    None => "!!str".to_string(),
                };
                let kind = Kind::Scalar {
                    value: value.into_owned(),
                    tag,
                };
                (Node { line, column, kind }, anchor)
            }
            Event::SequenceStart(style, anchor, _) => {
                stack.push((
                    Node {
                        line,
                        column,
                        kind: Kind::Seq(Vec::new()),
                    },
                    anchor,
                    style == StructureStyle::Block,
                ));
                pending_key.push(None);
                continue;
            }
            Event::MappingStart(style, anchor, _) => {
                stack.push((
                    Node {
                        line,
                        column,
                        kind: Kind::Map(Vec::new()),
                    },
                    anchor,
                    style == StructureStyle::Block,
                ));
                pending_key.push(None);
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                pending_key.pop();
                match stack.pop() {
                    Some((node, anchor, _)) => (node, anchor),
                    None => continue,
                }
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(n) => (n.clone(), 0),
                None => continue,
            },
            _ => continue,
        };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some((parent, _, _)) => match &mut parent.kind {
                Kind::Seq(items) => items.push(node),
                Kind::Map(entries) => {
                    let slot = pending_key
                        .last_mut()
                        .expect("one slot per open collection");
                    match slot.take() {
                        None => *slot = Some(node),
                        Some(key) => entries.push((key, node)),
                    }
                }
                Kind::Scalar { .. } => {}
            },
        }
    }
    if !in_document {
        return Ok(None);
    }
    // An empty document is a null scalar.
    Ok(Some(root.unwrap_or(Node {
        line: 1,
        column: 1,
        kind: Kind::Scalar {
            value: String::new(),
            tag: NULL.into(),
        },
    })))
}

/// A collection open when the parser failed: its kind, notation and start (1-based).
struct Open {
    map: bool,
    block: bool,
    line: u64,
    column: u64,
}

/// A syntax error as go-yaml v3 prints it: libyaml's problem, after `line N: ` where N is
/// the 0-based line of the problem's context (the collection or scalar being parsed), or of
/// the problem itself when the context is on the first line; one more for scanner problems;
/// no line at all when that makes 0.
fn syntax_message(source: &str, e: &ScanError, open: &[Open]) -> String {
    let info = e.info();
    let line = u64::try_from(e.marker().line()).unwrap_or(0);
    let column = u64::try_from(e.marker().col()).unwrap_or(0) + 1;
    // 0-based lines, as libyaml counts.
    let at = line.saturating_sub(1);
    let eof = u64::try_from(source.matches('\n').count()).unwrap_or(0);
    let enclosing = |map: bool| {
        open.iter()
            .rev()
            .find(|o| o.map == map && o.block && o.column <= column)
            .map_or(0, |o| o.line.saturating_sub(1))
    };
    let text_at = |l: u64, c: u64| -> &str {
        source
            .lines()
            .nth(usize::try_from(l).unwrap_or(usize::MAX).saturating_sub(1))
            .and_then(|t| t.get(usize::try_from(c).unwrap_or(1).saturating_sub(1)..))
            .unwrap_or("")
    };
    // (problem, scanner problem, context line, problem line)
    let (problem, scanner, context, problem_line) = if info.contains("unknown anchor") {
        let name: String = text_at(line, column)
            .trim_start_matches('*')
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}'))
            .collect();
        return format!("yaml: unknown anchor '{name}' referenced");
    } else if info.contains("did not find expected key") {
        ("did not find expected key", false, enclosing(true), at)
    } else if info.contains("did not find expected '-' indicator") {
        (
            "did not find expected '-' indicator",
            false,
            enclosing(false),
            at,
        )
    } else if info.contains("misplaced bracket") {
        let lines: Vec<&str> = source.lines().collect();
        let previous = lines
            .iter()
            .take(usize::try_from(at).unwrap_or(0))
            .rev()
            .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        // A value is expected after a `key:` on the bracket's line or the one above.
        let before = lines
            .get(usize::try_from(at).unwrap_or(usize::MAX))
            .and_then(|l| l.get(..usize::try_from(column).unwrap_or(1).saturating_sub(1)))
            .unwrap_or("");
        let value_expected = if before.trim().is_empty() {
            previous.is_some_and(|p| p.trim_end().ends_with(':'))
        } else {
            before.trim_end().ends_with(':')
        };
        if value_expected {
            ("did not find expected node content", false, at, at)
        } else {
            ("did not find expected key", false, enclosing(true), at)
        }
    } else if info.contains("unclosed bracket") || info.contains("mismatched bracket") {
        let flow_map = info.contains("'{'");
        let start = open
            .iter()
            .rev()
            .find(|o| !o.block && o.map == flow_map)
            .map_or(at, |o| o.line.saturating_sub(1));
        let after_open = open.iter().rev().find(|o| !o.block).map(|o| {
            text_at(o.line, o.column)
                .get(1..)
                .unwrap_or("")
                .trim()
                .is_empty()
        });
        if info.contains("unclosed") && after_open == Some(true) && !flow_map {
            // Nothing after `[`: the first entry is missing.
            ("did not find expected node content", false, eof, eof)
        } else if flow_map {
            let problem = if info.contains("unclosed") { eof } else { at };
            ("did not find expected ',' or '}'", false, start, problem)
        } else {
            let problem = if info.contains("unclosed") { eof } else { at };
            ("did not find expected ',' or ']'", false, start, problem)
        }
    } else if info.contains("unclosed quote") {
        ("found unexpected end of stream", true, at, eof)
    } else if info.contains("expected hexadecimal number") {
        // Spelled so in libyaml.
        ("did not find expected hexdecimal number", true, at, at)
    } else if info.contains("simple key expected ':'") {
        ("could not find expected ':'", true, at, at)
    } else if info.contains("tab") || info.contains("unexpected character") {
        ("found character that cannot start any token", true, at, at)
    } else {
        let known = [
            "mapping values are not allowed in this context",
            "found unknown escape character",
            "did not find expected alphabetic or numeric character",
            "did not find expected comment or line break",
            "block sequence entries are not allowed in this context",
            "did not find expected node content",
            "found undefined tag handle",
        ];
        match known.iter().find(|k| info.contains(*k)) {
            Some(k) => (*k, !k.starts_with("did not find expected node"), at, at),
            None => {
                let bare = info.rsplit(", ").next().unwrap_or(&info).to_string();
                return if line > 0 {
                    format!("yaml: line {line}: {bare}")
                } else {
                    format!("yaml: {bare}")
                };
            }
        }
    };
    let shown = if context != 0 { context } else { problem_line };
    let shown = if shown != 0 && scanner {
        shown + 1
    } else {
        shown
    };
    if shown == 0 {
        format!("yaml: {problem}")
    } else {
        format!("yaml: line {shown}: {problem}")
    }
}

/// go-yaml v3's tag for a plain scalar.
fn resolve(v: &str) -> &'static str {
    match v {
        "" | "~" | "null" | "Null" | "NULL" => return NULL,
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => return "!!bool",
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return "!!float",
        "<<" => return "!!merge",
        _ => {}
    }
    if is_timestamp(v) {
        return "!!timestamp";
    }
    let plain = v.replace('_', "");
    if go_parse_int(&plain).is_some() {
        return "!!int";
    }
    if is_yaml_float(&plain) {
        return "!!float";
    }
    "!!str"
}

/// A `YYYY-MM-DD` date (go-yaml resolves those, and longer timestamps, as `!!timestamp`).
fn is_timestamp(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
        && (b.len() == 10 || matches!(b[10], b'T' | b't' | b' ' | b'\t'))
}

/// Go's `strconv.ParseInt(s, 0, 64)`, falling back to `ParseUint`: an integer in any of
/// Go's literal bases.
fn go_parse_int(s: &str) -> Option<i128> {
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, body) = if let Some(r) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, r)
    } else if let Some(r) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        (8, r)
    } else if let Some(r) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        (2, r)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = u64::from_str_radix(body, radix).ok()?;
    let v = i128::from(v);
    if negative {
        (-v >= i128::from(i64::MIN)).then_some(-v)
    } else {
        Some(v)
    }
}

/// go-yaml's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

/// A failure that stops decoding (an `UnmarshalYAML` error that is no type error).
pub(super) struct Fatal(pub(super) String);

/// What one decoding gathers: the type errors, in document order.
struct Decoder {
    errors: Vec<String>,
    known_fields: bool,
}

impl Decoder {
    fn terror(&mut self, n: &Node, into: &str) {
        let shown = match &n.kind {
            Kind::Scalar { value, .. } if value.len() > 10 => {
                let mut cut = 7;
                while !value.is_char_boundary(cut) {
                    cut -= 1;
                }
                format!(" `{}...`", &value[..cut])
            }
            Kind::Scalar { value, .. } => format!(" `{value}`"),
            _ => String::new(),
        };
        self.errors.push(format!(
            "line {}: cannot unmarshal {}{shown} into {into}",
            n.line,
            n.tag()
        ));
    }

    /// go-yaml's check of a mapping's keys: every repeated key is an error, and a mapping
    /// with one is not decoded.
    fn unique_keys(&mut self, entries: &[(Node, Node)]) -> bool {
        let before = self.errors.len();
        for (i, (a, _)) in entries.iter().enumerate() {
            for (b, _) in &entries[i + 1..] {
                let same = match (&a.kind, &b.kind) {
                    (Kind::Scalar { value: x, .. }, Kind::Scalar { value: y, .. }) => x == y,
                    (Kind::Seq(_), Kind::Seq(_)) | (Kind::Map(_), Kind::Map(_)) => true,
                    _ => false,
                };
                if same {
                    let key = match &a.kind {
                        Kind::Scalar { value, .. } => value.as_str(),
                        _ => "",
                    };
                    self.errors.push(format!(
                        "line {}: mapping key {} already defined at line {}",
                        b.line,
                        model::strconv::quote(key),
                        a.line
                    ));
                }
            }
        }
        self.errors.len() == before
    }

    /// A scalar read into a Go `string` (a key too); `None` for null or a collection.
    fn string(&mut self, n: &Node) -> Option<String> {
        match &n.kind {
            Kind::Scalar { .. } if n.is_null() => None,
            Kind::Scalar { value, .. } => Some(value.clone()),
            Kind::Seq(_) => {
                self.terror(n, "string");
                None
            }
            Kind::Map(entries) => {
                if self.unique_keys(entries) {
                    self.terror(n, "string");
                }
                None
            }
        }
    }

    /// A Go `int` (64 bits): integers in range, floats cut to their integer part.
    fn int(&mut self, n: &Node) -> Option<i64> {
        if n.is_null() {
            return None;
        }
        if let Kind::Scalar { value, tag } = &n.kind {
            let plain = value.replace('_', "");
            let v = match tag.as_str() {
                "!!int" => go_parse_int(&plain).and_then(|v| i64::try_from(v).ok()),
                "!!float" => float_value(&plain).and_then(float_to_int),
                _ => None,
            };
            if v.is_some() {
                return v;
            }
        }
        self.not_scalar_or(n, "int");
        None
    }

    /// The type error for `n` read into a scalar type `into`.
    fn not_scalar_or(&mut self, n: &Node, into: &str) {
        if let Kind::Map(entries) = &n.kind
            && !self.unique_keys(entries)
        {
            return;
        }
        self.terror(n, into);
    }

    /// A `model.Duration`: read as a string by its `UnmarshalYAML`, whose parse error stops
    /// decoding.
    fn duration(&mut self, n: &Node) -> Result<Option<Duration>, Fatal> {
        if n.is_null() {
            return Ok(None);
        }
        let Some(s) = self.string(n) else {
            return Ok(None);
        };
        match Duration::parse(&s) {
            Ok(d) => Ok(Some(d)),
            Err(model::Error::InvalidDuration { message, .. }) => Err(Fatal(message)),
            Err(e) => Err(Fatal(e.to_string())),
        }
    }

    /// A Go `map[string]string`: a null value is the empty string.
    fn string_map(&mut self, n: &Node) -> Option<BTreeMap<String, String>> {
        match &n.kind {
            Kind::Scalar { .. } if n.is_null() => None,
            Kind::Map(entries) => {
                if !self.unique_keys(entries) {
                    return None;
                }
                let mut out = BTreeMap::new();
                for (k, v) in entries {
                    let Some(key) = self.string(k) else { continue };
                    if v.is_null() {
                        out.insert(key, String::new());
                    } else if let Some(value) = self.string(v) {
                        out.insert(key, value);
                    }
                }
                Some(out)
            }
            _ => {
                self.terror(n, "map[string]string");
                None
            }
        }
    }

    /// A Go slice of `elem`s (`ty` is its Go type): elements that fail to decode are left
    /// out.
    fn seq<T>(
        &mut self,
        n: &Node,
        ty: &str,
        mut elem: impl FnMut(&mut Self, &Node) -> Result<Option<T>, Fatal>,
    ) -> Result<Vec<T>, Fatal> {
        match &n.kind {
            Kind::Scalar { .. } if n.is_null() => Ok(Vec::new()),
            Kind::Seq(items) => {
                let mut out = Vec::new();
                for item in items {
                    if let Some(v) = elem(self, item)? {
                        out.push(v);
                    }
                }
                Ok(out)
            }
            _ => {
                self.not_scalar_or(n, ty);
                Ok(Vec::new())
            }
        }
    }

    /// A Go struct of type `ty` with the given YAML `fields`: `set` reads each known field's
    /// value. `None` when the node is null or no mapping.
    fn strukt(
        &mut self,
        n: &Node,
        ty: &str,
        fields: &[&str],
        mut set: impl FnMut(&mut Self, &str, &Node) -> Result<(), Fatal>,
    ) -> Result<Option<()>, Fatal> {
        let entries = match &n.kind {
            Kind::Scalar { .. } if n.is_null() => return Ok(None),
            Kind::Map(entries) => entries,
            _ => {
                self.terror(n, ty);
                return Ok(None);
            }
        };
        if !self.unique_keys(entries) {
            return Ok(None);
        }
        let mut merge = None;
        for (k, v) in entries {
            if matches!(&k.kind, Kind::Scalar { value, tag } if value == "<<" && tag == "!!merge") {
                merge = Some(v);
                continue;
            }
            let Some(key) = self.string(k) else { continue };
            if fields.contains(&key.as_str()) {
                set(self, &key, v)?;
            } else if self.known_fields {
                self.errors.push(format!(
                    "line {}: field {key} not found in type {ty}",
                    k.line
                ));
            }
        }
        // Merged mappings fill the fields the mapping itself leaves unset.
        if let Some(m) = merge {
            let own: Vec<String> = entries
                .iter()
                .filter_map(|(k, _)| match &k.kind {
                    Kind::Scalar { value, .. } => Some(value.clone()),
                    _ => None,
                })
                .collect();
            let sources: Vec<&Node> = match &m.kind {
                Kind::Seq(items) => items.iter().rev().collect(),
                _ => vec![m],
            };
            for src in sources {
                if let Kind::Map(more) = &src.kind {
                    for (k, v) in more {
                        if let Kind::Scalar { value, .. } = &k.kind
                            && !own.contains(value)
                            && fields.contains(&value.as_str())
                        {
                            set(self, value, v)?;
                        }
                    }
                }
            }
        }
        Ok(Some(()))
    }
}

fn float_value(s: &str) -> Option<f64> {
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// Go's `int64(f)` where go-yaml allows it (`f <= math.MaxInt64`).
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
fn float_to_int(f: f64) -> Option<i64> {
    if f.is_nan() || f > i64::MAX as f64 {
        return None;
    }
    Some(f as i64)
}

/// The outcome of one decoding: its value, or the error Go reports for it.
fn finish<T>(d: Decoder, value: Result<T, Fatal>) -> Result<T, String> {
    match value {
        Err(Fatal(message)) => Err(message),
        Ok(_) if !d.errors.is_empty() => Err(format!(
            "yaml: unmarshal errors:\n  {}",
            d.errors.join("\n  ")
        )),
        Ok(v) => Ok(v),
    }
}

/// Raw groups as the strict decoding reads them (Go's `rulefmt.RuleGroups`).
pub(super) fn decode_groups(
    root: Option<&Node>,
    known_fields: bool,
) -> Result<Vec<super::RuleGroup>, String> {
    let mut d = Decoder {
        errors: Vec::new(),
        known_fields,
    };
    let mut groups = Vec::new();
    let value = match root {
        None => Ok(None),
        Some(root) => d.strukt(root, "rulefmt.RuleGroups", &["groups"], |d, _, v| {
            groups = d.seq(v, "[]rulefmt.RuleGroup", read_group)?;
            Ok(())
        }),
    };
    finish(d, value).map(|_| groups)
}

const GROUP_FIELDS: &[&str] = &[
    "name",
    "interval",
    "query_offset",
    "limit",
    "rules",
    "labels",
];

const RULE_FIELDS: &[&str] = &[
    "record",
    "alert",
    "expr",
    "for",
    "keep_firing_for",
    "labels",
    "annotations",
];

fn read_group(d: &mut Decoder, n: &Node) -> Result<Option<super::RuleGroup>, Fatal> {
    let mut g = super::RuleGroup::default();
    let read = d.strukt(n, "rulefmt.RuleGroup", GROUP_FIELDS, |d, key, v| {
        match key {
            "name" => g.name = d.string(v).unwrap_or_default(),
            "interval" => g.interval = d.duration(v)?.filter(|i| i.as_millis() != 0),
            "query_offset" => g.query_offset = d.duration(v)?,
            "limit" => g.limit = d.int(v).unwrap_or(0),
            "rules" => g.rules = d.seq(v, "[]rulefmt.Rule", read_rule)?,
            _ => g.labels = d.string_map(v).unwrap_or_default(),
        }
        Ok(())
    })?;
    Ok(read.map(|()| g))
}

fn read_rule(d: &mut Decoder, n: &Node) -> Result<Option<super::Rule>, Fatal> {
    let mut r = super::Rule::default();
    let read = d.strukt(n, "rulefmt.Rule", RULE_FIELDS, |d, key, v| {
        match key {
            "record" => r.record = d.string(v).unwrap_or_default(),
            "alert" => r.alert = d.string(v).unwrap_or_default(),
            "expr" => r.expr = d.string(v).unwrap_or_default(),
            "for" => r.for_ = d.duration(v)?.unwrap_or(Duration::ZERO),
            "keep_firing_for" => r.keep_firing_for = d.duration(v)?.unwrap_or(Duration::ZERO),
            "labels" => r.labels = d.string_map(v).unwrap_or_default(),
            _ => r.annotations = d.string_map(v).unwrap_or_default(),
        }
        Ok(())
    })?;
    Ok(read.map(|()| r))
}

/// Positions of a rule's `record`, `alert` and `expr` nodes (`(0, 0)` when absent).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RulePositions {
    pub(super) record: (u64, u64),
    pub(super) alert: (u64, u64),
    pub(super) expr: (u64, u64),
}

/// The lenient decoding (Go's `rulefmt.ruleGroups`): each group's rules' node positions.
pub(super) fn decode_positions(root: Option<&Node>) -> Result<Vec<Vec<RulePositions>>, String> {
    let mut d = Decoder {
        errors: Vec::new(),
        known_fields: false,
    };
    let mut groups = Vec::new();
    let value = match root {
        None => Ok(None),
        Some(root) => d.strukt(root, "rulefmt.ruleGroups", &["groups"], |d, _, v| {
            groups = d.seq(v, "[]rulefmt.RuleGroupNode", read_group_node)?;
            Ok(())
        }),
    };
    finish(d, value).map(|_| groups)
}

fn read_group_node(d: &mut Decoder, n: &Node) -> Result<Option<Vec<RulePositions>>, Fatal> {
    let mut rules = Vec::new();
    let mut fields = GROUP_FIELDS.to_vec();
    // The embedded `yaml.Node`, a field named `node` to go-yaml: it takes any value.
    fields.push("node");
    let read = d.strukt(n, "rulefmt.RuleGroupNode", &fields, |d, key, v| {
        match key {
            "name" => {
                d.string(v);
            }
            "interval" | "query_offset" => {
                d.duration(v)?;
            }
            "limit" => {
                d.int(v);
            }
            "rules" => rules = d.seq(v, "[]rulefmt.RuleNode", read_rule_node)?,
            "labels" => {
                d.string_map(v);
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(read.map(|()| rules))
}

fn read_rule_node(d: &mut Decoder, n: &Node) -> Result<Option<RulePositions>, Fatal> {
    let mut p = RulePositions::default();
    let read = d.strukt(n, "rulefmt.RuleNode", RULE_FIELDS, |d, key, v| {
        // `record`, `alert` and `expr` are `yaml.Node`s: any value, kept with its position.
        let at = (v.line, v.column);
        match key {
            "record" => p.record = at,
            "alert" => p.alert = at,
            "expr" => p.expr = at,
            "for" | "keep_firing_for" => {
                d.duration(v)?;
            }
            _ => {
                d.string_map(v);
            }
        }
        Ok(())
    })?;
    Ok(read.map(|()| p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(src: &str) -> Result<usize, String> {
        let root = parse_document(src)?;
        decode_groups(root.as_ref(), true).map(|g| g.len())
    }

    fn lenient(src: &str) -> Result<usize, String> {
        let root = parse_document(src)?;
        decode_positions(root.as_ref()).map(|g| g.len())
    }

    #[test]
    fn plain_scalars_resolve_as_go_yaml_v3_does() {
        assert_eq!(resolve("yes"), "!!str");
        assert_eq!(resolve("true"), "!!bool");
        assert_eq!(resolve("0x1F"), "!!int");
        assert_eq!(resolve("1_000"), "!!int");
        assert_eq!(resolve("017"), "!!int");
        assert_eq!(resolve("019"), "!!float");
        assert_eq!(resolve("0o19"), "!!str");
        assert_eq!(resolve("1.5"), "!!float");
        assert_eq!(resolve(".5e3"), "!!float");
        assert_eq!(resolve("1m"), "!!str");
        assert_eq!(resolve("2001-12-14"), "!!timestamp");
        assert_eq!(resolve("~"), "!!null");
    }

    #[test]
    fn type_errors_are_collected_in_document_order() {
        let src = "foo: 1\ngroups:\n- name: a\n  bar: 2\n  limit: abcdefghijkl\n  rules:\n  - record: x\n    expr: up\n    baz: [1]\n";
        assert_eq!(
            strict(src),
            Err("yaml: unmarshal errors:\n  line 1: field foo not found in type rulefmt.RuleGroups\n  line 4: field bar not found in type rulefmt.RuleGroup\n  line 5: cannot unmarshal !!str `abcdefg...` into int\n  line 9: field baz not found in type rulefmt.Rule".into())
        );
        // The lenient decoding knows no unknown fields, only wrong kinds, in its own types.
        assert_eq!(
            lenient(src),
            Err(
                "yaml: unmarshal errors:\n  line 5: cannot unmarshal !!str `abcdefg...` into int"
                    .into()
            )
        );
        assert_eq!(
            lenient("groups:\n- abc\n"),
            Err("yaml: unmarshal errors:\n  line 2: cannot unmarshal !!str `abc` into rulefmt.RuleGroupNode".into())
        );
    }

    #[test]
    fn repeated_keys_stop_their_mapping() {
        let src = "groups:\n- name: a\n  name: b\n  limit: x\n  limit: y\n";
        assert_eq!(
            strict(src),
            Err("yaml: unmarshal errors:\n  line 3: mapping key \"name\" already defined at line 2\n  line 5: mapping key \"limit\" already defined at line 4".into())
        );
    }

    #[test]
    fn durations_stop_decoding_and_nulls_are_zero_values() {
        assert_eq!(
            strict("foo: 1\ngroups:\n- name: a\n  interval: soon\n"),
            Err("not a valid duration string: \"soon\"".into())
        );
        assert_eq!(
            strict("groups:\n- ~\n- name: a\n  limit: 1.9\n  labels: {a: ~}\n"),
            Ok(1)
        );
        assert_eq!(strict(""), Ok(0));
        assert_eq!(strict("# nothing\n"), Ok(0));
    }

    #[test]
    fn syntax_errors_sit_on_their_context_line_as_in_go_yaml_v3() {
        let err = |src: &str| parse_document(src).expect_err("a syntax error");
        // A parser problem: the 0-based line of the enclosing block mapping.
        assert_eq!(
            err("groups:\n- name: a\n  rules:\n  - alert: x\n   expr: up\n"),
            "yaml: line 1: did not find expected key"
        );
        // ... or of the problem itself when that mapping starts the file.
        assert_eq!(
            err("groups:\n  - name: a\n - name: b\n"),
            "yaml: line 2: did not find expected key"
        );
        assert_eq!(
            err("groups:\n  - name: a\n   bad: x: y\n"),
            "yaml: line 1: did not find expected '-' indicator"
        );
        // A scanner problem: one more; an unclosed quote on the first line counts from
        // the end of the input.
        assert_eq!(
            err("groups:\n- name: \"a\n"),
            "yaml: line 2: found unexpected end of stream"
        );
        assert_eq!(
            err("key: \"a\n\nb\n"),
            "yaml: line 4: found unexpected end of stream"
        );
        assert_eq!(
            err("groups:\n\t- name: a\n"),
            "yaml: line 2: found character that cannot start any token"
        );
        // Line 0 is not printed.
        assert_eq!(
            err("a: b: c\n"),
            "yaml: mapping values are not allowed in this context"
        );
        assert_eq!(
            err("groups: [{name: a]\n"),
            "yaml: did not find expected ',' or '}'"
        );
        assert_eq!(
            err("groups: [\n"),
            "yaml: line 1: did not find expected node content"
        );
        assert_eq!(
            err("groups:\n- name: a\n\n  rules: ]\n"),
            "yaml: line 3: did not find expected node content"
        );
        assert_eq!(
            err("groups:\n- *foo\n"),
            "yaml: unknown anchor 'foo' referenced"
        );
    }

    #[test]
    fn tabs_are_refused_where_libyaml_refuses_them() {
        let parse = |src: &str| parse_document(src).map(|_| ());
        // In a line's indentation, blank lines included.
        assert_eq!(
            parse("groups: []\n\t\n"),
            Err("yaml: line 2: found character that cannot start any token".into())
        );
        assert_eq!(
            parse("groups:\n-\tname: a\n"),
            Err("yaml: line 2: found character that cannot start any token".into())
        );
        // Left of a plain scalar's indentation: reported at the scalar.
        assert_eq!(
            parse("groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n\t\n"),
            Err("yaml: line 5: found a tab character that violates indentation".into())
        );
        assert_eq!(
            parse("groups:\n- name: a\n  rules:\n  - record: x\n    expr: >\n      up\n\t\n"),
            Err(
                "yaml: line 5: found a tab character where an indentation space is expected".into()
            )
        );
        // Taken: after a value, in comments below comments, in quoted scalars, after a
        // scalar right of its indentation, and in the next document.
        assert_eq!(parse("groups:\t[]\n"), Ok(()));
        assert_eq!(parse("# a\n\t# b\ngroups: []\n"), Ok(()));
        assert_eq!(parse("groups:\n- name: 'a\n\tb'\n"), Ok(()));
        assert_eq!(parse("groups:\n- name: a\n    \t\n"), Ok(()));
        assert_eq!(parse("groups: []\n---\ngroups: []\n\t\n"), Ok(()));
        // ... except right after the end of the first one.
        assert_eq!(
            parse("groups: []\n---\n\t\n"),
            Err("yaml: line 3: found character that cannot start any token".into())
        );
    }

    #[test]
    fn rule_nodes_keep_their_positions() {
        let root = parse_document(
            "groups:\n  - name: a\n    rules:\n      - alert: x\n        expr: up\n",
        )
        .expect("valid YAML");
        let groups = decode_positions(root.as_ref()).expect("decodes");
        let p = groups[0][0];
        assert_eq!(p.alert, (4, 16));
        assert_eq!(p.expr, (5, 15));
        assert_eq!(p.record, (0, 0));
    }
}
