//! go-yaml v2's error texts: what `yaml.UnmarshalStrict` reports, rebuilt from serde-saphyr's.
//!
//! Go's decoder knows three kinds of failure, and Prometheus prints each as it comes:
//!
//! - a syntax error stops parsing before anything is decoded: `yaml: line N: <libyaml's
//!   problem>`;
//! - type errors (an unknown or repeated field, a value of the wrong kind) are collected
//!   while decoding goes on, then reported together: `yaml: unmarshal errors:\n  line N:
//!   field x not found in type config.plain\n  line M: cannot unmarshal !!str `abc` into
//!   int`. A block whose fields had type errors skips its own checks;
//! - an error returned by a block's `UnmarshalYAML` (every Prometheus check) stops
//!   decoding and is printed alone, with no position and no `yaml:` prefix.
//!
//! The config structs record their type errors here as they read (see
//! [`config_struct!`](crate::config_struct)); [`from_str`](super::from_str) turns what serde-saphyr reports into
//! the same three shapes, naming Go's types ([`GoType`]).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde_saphyr::Error as SaphyrError;

use super::Error;

mod relabel;
pub use relabel::relabel_rules;

/// The Go type a value is decoded into, as go-yaml names it in type errors.
pub trait GoType {
    /// The type of a field holding this value (`[]*config.ScrapeConfig`, `bool`,
    /// `config.ScrapeProtocol`).
    fn go_type() -> String;
    /// The type the value's own `UnmarshalYAML` decodes into, named in its type errors
    /// (`config.plain` for most Prometheus blocks; the type itself when it has no such
    /// method).
    fn go_inner() -> String {
        Self::go_type()
    }
}

macro_rules! go_leaf {
    ($($t:ty => $name:literal),* $(,)?) => {
        $(impl GoType for $t {
            fn go_type() -> String {
                $name.to_string()
            }
        })*
    };
}

go_leaf! {
    bool => "bool",
    String => "string",
    // The config's `u16` fields are all ports, an `int` in Go.
    u8 => "uint", u16 => "int", u32 => "uint", u64 => "uint", usize => "uint",
    i8 => "int", i16 => "int", i32 => "int", i64 => "int",
    f32 => "float64", f64 => "float64",
    // Go reads these through a string in their `UnmarshalYAML`.
    model::Duration => "string",
    model::relabel::Regex => "string",
    model::relabel::Action => "string",
}

impl GoType for model::relabel::Config {
    fn go_type() -> String {
        "*relabel.Config".into()
    }
    fn go_inner() -> String {
        "relabel.plain".into()
    }
}

impl<T: GoType> GoType for Option<T> {
    fn go_type() -> String {
        T::go_type()
    }
    fn go_inner() -> String {
        T::go_inner()
    }
}

impl<T: GoType> GoType for Vec<T> {
    fn go_type() -> String {
        format!("[]{}", T::go_type())
    }
    fn go_inner() -> String {
        T::go_inner()
    }
}

impl<V: GoType> GoType for BTreeMap<String, V> {
    fn go_type() -> String {
        format!("map[string]{}", V::go_type())
    }
    fn go_inner() -> String {
        V::go_inner()
    }
}

/// Names a field's Go type in [`config_struct!`](crate::config_struct) whether or not its
/// Rust type implements [`GoType`] (autoref specialisation: [`KnownGoType`] wins when it
/// applies, [`UnknownGoType`] says `string`, what most of Go's leaf types read through).
#[doc(hidden)]
pub struct GoTypeOf<T: ?Sized>(pub PhantomData<T>);

#[doc(hidden)]
pub trait KnownGoType {
    fn go_names(&self) -> (String, String);
}

impl<T: GoType> KnownGoType for GoTypeOf<T> {
    fn go_names(&self) -> (String, String) {
        (T::go_type(), T::go_inner())
    }
}

#[doc(hidden)]
pub trait UnknownGoType {
    fn go_names(&self) -> (String, String);
}

impl<T: ?Sized> UnknownGoType for &GoTypeOf<T> {
    fn go_names(&self) -> (String, String) {
        ("string".into(), "string".into())
    }
}

/// The field a failed value was read for, with its Go types.
#[derive(Debug, Clone)]
struct Target {
    field: String,
    ty: String,
    inner: String,
}

/// What one decode has gathered so far.
#[derive(Default)]
struct State {
    /// Type errors, `line N: ...`, in document order.
    issues: Vec<String>,
    /// The innermost field whose value failed to decode.
    value_into: Option<Target>,
    /// The Go type of the innermost struct whose key failed to read (a repeated key).
    key_in: Option<String>,
    /// The document, to quote failing values as go-yaml does.
    source: String,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    STATE.with(|s| s.borrow_mut().as_mut().map(f))
}

/// Records a type error (`line N: ...`) and lets decoding go on, as go-yaml does.
#[doc(hidden)]
pub fn type_issue(line: u64, message: impl std::fmt::Display) {
    with_state(|s| s.issues.push(format!("line {line}: {message}")));
}

/// How many type errors the current decode has recorded.
#[doc(hidden)]
pub fn issue_count() -> usize {
    with_state(|s| s.issues.len()).unwrap_or(0)
}

/// Notes the Go types of a field whose value failed (the innermost one is kept).
#[doc(hidden)]
pub fn note_value_error(field: &str, (ty, inner): (String, String)) {
    with_state(|s| {
        if s.value_into.is_none() && s.key_in.is_none() {
            s.value_into = Some(Target {
                field: field.to_string(),
                ty,
                inner,
            });
        }
    });
}

/// Notes the Go type of a struct whose key failed to read (the innermost one is kept).
#[doc(hidden)]
pub fn note_key_error(name: &str) {
    with_state(|s| {
        if s.value_into.is_none() && s.key_in.is_none() {
            s.key_in = Some(name.to_string());
        }
    });
}

/// A scalar as the YAML parser resolved it (or a collection, skipped).
#[doc(hidden)]
pub enum Scalar {
    /// A YAML 1.1 boolean.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A float.
    Float(f64),
    /// A null (`~`, `null` or nothing).
    Null,
    /// Anything else (a string, a collection).
    Other,
}

/// Reads any value without failing: what a bool or number field received.
struct AnyScalar(Scalar);

impl<'de> serde::Deserialize<'de> for AnyScalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = AnyScalar;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<AnyScalar, E> {
                Ok(AnyScalar(Scalar::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<AnyScalar, E> {
                Ok(AnyScalar(Scalar::Int(i128::from(v))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<AnyScalar, E> {
                Ok(AnyScalar(Scalar::Int(i128::from(v))))
            }
            fn visit_i128<E>(self, v: i128) -> Result<AnyScalar, E> {
                Ok(AnyScalar(Scalar::Int(v)))
            }
            fn visit_u128<E>(self, v: u128) -> Result<AnyScalar, E> {
                Ok(AnyScalar(Scalar::Int(
                    i128::try_from(v).unwrap_or(i128::MAX),
                )))
            }
            fn visit_f64<E>(self, v: f64) -> Result<AnyScalar, E> {
                Ok(AnyScalar(Scalar::Float(v)))
            }
            fn visit_str<E>(self, _: &str) -> Result<AnyScalar, E> {
                Ok(AnyScalar(Scalar::Other))
            }
            fn visit_unit<E>(self) -> Result<AnyScalar, E> {
                Ok(AnyScalar(Scalar::Null))
            }
            fn visit_none<E>(self) -> Result<AnyScalar, E> {
                Ok(AnyScalar(Scalar::Null))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<AnyScalar, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(AnyScalar(Scalar::Other))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<AnyScalar, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(AnyScalar(Scalar::Other))
            }
        }
        d.deserialize_any(V)
    }
}

/// A bool or number field, read as go-yaml v2 reads it: a float fits an integer field (cut
/// to its integer part) when in range, and a value of another kind is a type error recorded
/// with its line, decoding going on with the field unchanged.
#[doc(hidden)]
pub trait GoScalar: Sized {
    /// Go's name of the type (`bool`, `int`, `uint`, `float64`).
    const GO: &'static str;
    /// The value, when `v` converts.
    fn from_scalar(v: &Scalar) -> Option<Self>;
}

impl GoScalar for bool {
    const GO: &'static str = "bool";
    fn from_scalar(v: &Scalar) -> Option<bool> {
        match v {
            Scalar::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

impl GoScalar for f64 {
    const GO: &'static str = "float64";
    #[allow(clippy::cast_precision_loss)]
    fn from_scalar(v: &Scalar) -> Option<f64> {
        match v {
            Scalar::Int(i) => Some(*i as f64),
            Scalar::Float(f) => Some(*f),
            _ => None,
        }
    }
}

macro_rules! go_int {
    ($($t:ty => $go:literal),*) => {
        $(impl GoScalar for $t {
            const GO: &'static str = $go;
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            fn from_scalar(v: &Scalar) -> Option<$t> {
                match v {
                    Scalar::Int(i) => <$t>::try_from(*i).ok(),
                    Scalar::Float(f) if f.is_finite()
                        && *f >= <$t>::MIN as f64
                        && *f <= <$t>::MAX as f64 => Some(*f as $t),
                    _ => None,
                }
            }
        })*
    };
}

go_int!(u8 => "uint", u16 => "int", u32 => "uint", u64 => "uint", usize => "uint",
    i32 => "int", i64 => "int");

/// Reads a bool or number field (or an `Option` of one) as [`GoScalar`] says; `go` is the
/// field's Go type when it is not the plain one (`int64`).
#[doc(hidden)]
pub fn read_scalar<'de, T: GoScalar, A: serde::de::MapAccess<'de>>(
    map: &mut A,
    go: Option<&str>,
) -> Result<Option<T>, A::Error> {
    let v: serde_saphyr::Spanned<AnyScalar> = map.next_value()?;
    if let Some(t) = T::from_scalar(&v.value.0) {
        return Ok(Some(t));
    }
    // A null leaves the zero value, as go-yaml does.
    if let Scalar::Null = v.value.0 {
        return Ok(None);
    }
    let (line, column) = (v.referenced.line(), v.referenced.column());
    let recorded = with_state(|s| {
        let message = cannot_unmarshal(node_at(&s.source, line, column), go.unwrap_or(T::GO));
        s.issues.push(format!("line {line}: {message}"));
    });
    match recorded {
        Some(()) => Ok(None),
        // Outside a decode a wrong kind is an error right away.
        None => Err(serde::de::Error::custom(format!(
            "cannot unmarshal into {}",
            go.unwrap_or(T::GO)
        ))),
    }
}

/// Reads a config struct's field: bools and numbers as [`read_scalar`], anything else with
/// its own `Deserialize` (autoref specialisation: [`ScalarField`] wins when it applies).
#[doc(hidden)]
pub struct FieldReader<T>(pub PhantomData<T>);

#[doc(hidden)]
pub trait ScalarField<T> {
    fn read_field<'de, A: serde::de::MapAccess<'de>>(
        &self,
        map: &mut A,
    ) -> Result<Option<T>, A::Error>;
}

impl<T: GoScalar> ScalarField<T> for FieldReader<T> {
    fn read_field<'de, A: serde::de::MapAccess<'de>>(
        &self,
        map: &mut A,
    ) -> Result<Option<T>, A::Error> {
        read_scalar(map, None)
    }
}

impl<T: GoScalar> ScalarField<Option<T>> for FieldReader<Option<T>> {
    fn read_field<'de, A: serde::de::MapAccess<'de>>(
        &self,
        map: &mut A,
    ) -> Result<Option<Option<T>>, A::Error> {
        Ok(read_scalar(map, None)?.map(Some))
    }
}

#[doc(hidden)]
pub trait PlainField<T> {
    fn read_field<'de, A: serde::de::MapAccess<'de>>(
        &self,
        map: &mut A,
    ) -> Result<Option<T>, A::Error>;
}

impl<T: DeserializeOwned> PlainField<T> for &FieldReader<T> {
    fn read_field<'de, A: serde::de::MapAccess<'de>>(
        &self,
        map: &mut A,
    ) -> Result<Option<T>, A::Error> {
        map.next_value::<Option<T>>()
    }
}

/// Decodes `s` into `T`, reporting errors as go-yaml v2 does; `root` holds the Go types of
/// `T` itself.
pub(crate) fn decode<T: DeserializeOwned>(
    s: &str,
    options: impl Fn() -> serde_saphyr::Options,
    root: Option<(String, String)>,
) -> Result<T, Error> {
    // libyaml takes tabs leading lines in flow collections.
    let s = &*super::tabs::flow_tabs_as_spaces(s);
    // Go parses the whole document before decoding: a syntax error anywhere wins, a tab
    // libyaml refuses first of all.
    if let Some((line, message)) = super::tabs::misplaced_tab(s, super::tabs::Flavour::V2) {
        return Err(Error {
            message,
            line: Some(line),
            column: None,
        });
    }
    if let Err(e) = serde_saphyr::from_str_with_options::<serde::de::IgnoredAny>(s, options()) {
        // Go decodes the first document and ignores the rest.
        if let SaphyrError::MultipleDocuments { .. } = innermost(&e)
            && let (line, _) = position(innermost(&e))
            && line > 1
        {
            let first: Vec<&str> = s
                .lines()
                .take(usize::try_from(line - 1).unwrap_or(usize::MAX))
                .collect();
            let first = first.join("\n");
            if first.len() < s.len() {
                return decode(&first, options, root);
            }
        }
        if let Some(err) = syntax_error(s, &e) {
            return Err(err);
        }
    }
    let previous = STATE.with(|st| {
        st.replace(Some(State {
            source: s.to_string(),
            ..State::default()
        }))
    });
    let result = serde_saphyr::from_str_with_options::<T>(s, options());
    let state = STATE.with(|st| st.replace(previous)).unwrap_or_default();
    match result {
        Ok(v) if state.issues.is_empty() => Ok(v),
        Ok(_) => Err(unmarshal_errors(state.issues, None)),
        Err(e) => Err(convert(s, &e, state, root)),
    }
}

fn unmarshal_errors(issues: Vec<String>, column: Option<u64>) -> Error {
    let line = issues
        .first()
        .and_then(|i| i.strip_prefix("line "))
        .and_then(|i| i.split_once(':'))
        .and_then(|(n, _)| n.parse().ok());
    Error {
        message: format!("yaml: unmarshal errors:\n  {}", issues.join("\n  ")),
        line,
        column,
    }
}

fn innermost(e: &SaphyrError) -> &SaphyrError {
    match e {
        SaphyrError::WithSnippet { error, .. } => innermost(error),
        SaphyrError::AliasError { error, .. } => innermost(error),
        _ => e,
    }
}

fn position(e: &SaphyrError) -> (u64, u64) {
    e.location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0))
}

/// A syntax error as go-yaml prints it, or `None` when `e` is no syntax error.
fn syntax_error(source: &str, e: &SaphyrError) -> Option<Error> {
    let e = innermost(e);
    let (line, column) = position(e);
    let plain = |message: &str| {
        Some(Error {
            message: format!("yaml: {message}"),
            line: None,
            column: None,
        })
    };
    let problem = match e {
        SaphyrError::ExternalMessage { msg, .. } => refine(source, line, libyaml_problem(msg)),
        SaphyrError::Eof { .. } => Problem::parser("did not find expected node content"),
        SaphyrError::UnknownAnchor { .. } => {
            let name = anchor_at(source, line, column);
            return plain(&format!("unknown anchor '{name}' referenced"));
        }
        SaphyrError::InvalidBinaryBase64 { .. } => {
            return plain("!!binary value contains invalid base64 data");
        }
        _ => return None,
    };
    // libyaml's lines are 0-based; go-yaml adds one for scanner errors only, and prints no
    // line when the result is 0. Problems found at the end of the input sit on its last line.
    let eof_line = u64::try_from(source.matches('\n').count()).unwrap_or(0) + 1;
    let at = if problem.at_eof {
        eof_line
    } else {
        (line + problem.later)
            .saturating_sub(problem.earlier)
            .min(eof_line)
    };
    let shown = if problem.scanner {
        // A scanner problem on the first line (0-based 0) gets no line at all.
        if at > 1 { at } else { 0 }
    } else {
        at.saturating_sub(1)
    };
    let message = if shown > 0 {
        format!("yaml: line {shown}: {}", problem.text)
    } else {
        format!("yaml: {}", problem.text)
    };
    Some(Error {
        message,
        line: Some(shown).filter(|&l| l > 0),
        column: Some(column).filter(|&c| c > 0 && !problem.at_eof),
    })
}

/// A libyaml problem: its text, whether its scanner (rather than its parser) reports it,
/// and whether it is found at the end of the input.
struct Problem {
    text: String,
    scanner: bool,
    at_eof: bool,
    /// Lines libyaml notices the problem after the Rust parser does.
    later: u64,
    /// Lines libyaml notices the problem before the Rust parser does.
    earlier: u64,
}

impl Problem {
    fn scanner(text: &str) -> Problem {
        Problem {
            text: text.into(),
            scanner: true,
            at_eof: false,
            later: 0,
            earlier: 0,
        }
    }

    fn parser(text: &str) -> Problem {
        Problem {
            text: text.into(),
            scanner: false,
            at_eof: false,
            later: 0,
            earlier: 0,
        }
    }

    fn at_eof(mut self) -> Problem {
        self.at_eof = true;
        self
    }

    fn next_line(mut self) -> Problem {
        self.later = 1;
        self
    }
}

/// Where the Rust parser's reason depends on context libyaml words differently: a tab
/// right after an entry's `- ` is no token for libyaml; a stray closing bracket is a missing
/// key, or a missing value when it sits deeper than a `key:` line just above it.
fn refine(source: &str, line: u64, problem: Problem) -> Problem {
    let lines: Vec<&str> = source.lines().collect();
    let Some(text) = usize::try_from(line)
        .ok()
        .and_then(|l| l.checked_sub(1))
        .and_then(|l| lines.get(l))
    else {
        return problem;
    };
    let indent = text.len() - text.trim_start_matches(' ').len();
    let tab_after_dash = |t: &str| {
        t.trim_start().starts_with('-') && t.trim_start_matches([' ', '-']).starts_with('\t')
    };
    if tab_after_dash(text) {
        return Problem::scanner("found character that cannot start any token");
    }
    // The parser may only notice on the next line.
    if problem.text.contains("'-' indicator")
        && let Some(prev) = usize::try_from(line)
            .ok()
            .and_then(|l| l.checked_sub(2))
            .and_then(|l| lines.get(l))
        && tab_after_dash(prev)
    {
        let mut p = Problem::scanner("found character that cannot start any token");
        p.earlier = 1;
        return p;
    }
    if problem.text == "misplaced bracket" {
        let previous = lines
            .iter()
            .take(usize::try_from(line).unwrap_or(1).saturating_sub(1))
            .rev()
            .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        let value_expected = previous.is_some_and(|p| {
            let p_indent = p.len() - p.trim_start().len();
            p.trim_end().ends_with(':') && indent >= p_indent
        });
        return Problem::parser(if value_expected {
            "did not find expected node content"
        } else {
            "did not find expected key"
        });
    }
    problem
}

/// libyaml's wording of a parser problem, from the Rust parser's.
fn libyaml_problem(msg: &str) -> Problem {
    let msg = msg.trim();
    // The parser appends its own position.
    let msg = match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains("column") => &msg[..i],
        _ => msg,
    };
    let msg = msg
        .strip_prefix("while parsing a block mapping, ")
        .unwrap_or(msg);
    let scanner = [
        "mapping values are not allowed in this context",
        "found character that cannot start any token",
        "could not find expected ':'",
        "block sequence entries are not allowed in this context",
        "mapping keys are not allowed in this context",
        "found unknown escape character",
        "did not find expected alphabetic or numeric character",
        "did not find expected comment or line break",
    ];
    if let Some(text) = scanner.iter().find(|t| msg.contains(&t[..t.len().min(28)])) {
        return Problem::scanner(text);
    }
    // A key without its `:`: libyaml notices on the next line.
    if msg.contains("simple key expected ':'") {
        return Problem::scanner("could not find expected ':'").next_line();
    }
    if msg.contains("invalid trailing content after")
        || msg.contains("\"-\" is only valid inside a block")
    {
        return Problem::scanner("could not find expected ':'");
    }
    if msg.contains("while scanning a plain scalar, found a tab") {
        return Problem::scanner("found a tab character that violates indentation").next_line();
    }
    if msg.contains("unexpected character") || msg.contains("tab cannot be used") {
        return Problem::scanner("found character that cannot start any token");
    }
    if msg.contains("tabs disallowed") || msg.contains("tab character") {
        return Problem::scanner("found character that cannot start any token");
    }
    if msg.contains("unclosed quote") || msg.contains("unexpected end of stream") {
        return Problem::scanner("found unexpected end of stream").at_eof();
    }
    if msg.contains("unclosed bracket '{'") || msg.contains("unclosed brace") {
        return Problem::parser("did not find expected ',' or '}'").at_eof();
    }
    if msg.contains("unclosed bracket") {
        return Problem::parser("did not find expected ',' or ']'").at_eof();
    }
    if msg.contains("unclosed brace") {
        return Problem::parser("did not find expected ',' or '}'").at_eof();
    }
    if msg.contains("mismatched bracket '{'") {
        return Problem::parser("did not find expected ',' or '}'");
    }
    if msg.contains("mismatched bracket '['") {
        return Problem::parser("did not find expected ',' or ']'");
    }
    let parser = [
        "did not find expected key",
        "did not find expected ',' or ']'",
        "did not find expected ',' or '}'",
        "did not find expected '-' indicator",
        "did not find expected node content",
        "did not find expected <document start>",
        "found undefined tag handle",
    ];
    if let Some(text) = parser.iter().find(|t| msg.contains(**t)) {
        return Problem::parser(text);
    }
    Problem::scanner(msg)
}

fn anchor_at(source: &str, line: u64, column: u64) -> String {
    let text = node_text(source, line, column).unwrap_or_default();
    let t = text.strip_prefix('*').unwrap_or(text);
    t.chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}'))
        .collect()
}

/// The rest of line `line` from `column` (1-based).
fn node_text(source: &str, line: u64, column: u64) -> Option<&str> {
    let text = source
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let col = usize::try_from(column).ok()?.checked_sub(1)?;
    let start = text.char_indices().nth(col).map(|(i, _)| i)?;
    Some(&text[start..])
}

/// The kind of node at a position: its YAML tag and, for scalars, its value.
#[derive(Debug, PartialEq)]
enum Node {
    Seq,
    Map,
    Scalar { tag: &'static str, value: String },
}

fn node_at(source: &str, line: u64, column: u64) -> Node {
    let Some(text) = node_text(source, line, column) else {
        return Node::Scalar {
            tag: "!!null",
            value: String::new(),
        };
    };
    let text = text.trim_end();
    if text.starts_with('[') || text == "-" || text.starts_with("- ") {
        return Node::Seq;
    }
    if text.starts_with('{') {
        return Node::Map;
    }
    if let Some(rest) = text.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => value.extend(chars.next()),
                c => value.push(c),
            }
        }
        return Node::Scalar {
            tag: "!!str",
            value,
        };
    }
    if let Some(rest) = text.strip_prefix('\'') {
        let value = rest.split('\'').next().unwrap_or_default().to_string();
        return Node::Scalar {
            tag: "!!str",
            value,
        };
    }
    // A plain scalar ends at a comment or, in a flow collection, at `,`, `]` or `}`;
    // followed by `: ` it is the first key of a block mapping.
    let flow = source
        .lines()
        .nth(usize::try_from(line).unwrap_or(1).saturating_sub(1))
        .is_some_and(|l| {
            let col = usize::try_from(column).unwrap_or(1).saturating_sub(1);
            let before: String = l.chars().take(col).collect();
            before.contains('[') || before.contains('{')
        });
    let mut end = text.len();
    if let Some(i) = text.find(" #") {
        end = end.min(i);
    }
    if flow && let Some(i) = text.find([',', ']', '}']) {
        end = end.min(i);
    }
    let value = text[..end].trim_end();
    if value.contains(": ") || value.ends_with(':') {
        return Node::Map;
    }
    Node::Scalar {
        tag: resolve_tag(value),
        value: value.to_string(),
    }
}

/// go-yaml v2's tag for a plain scalar.
fn resolve_tag(v: &str) -> &'static str {
    match v {
        "" | "~" | "null" | "Null" | "NULL" => return "!!null",
        "y" | "Y" | "yes" | "Yes" | "YES" | "n" | "N" | "no" | "No" | "NO" | "true" | "True"
        | "TRUE" | "false" | "False" | "FALSE" | "on" | "On" | "ON" | "off" | "Off" | "OFF" => {
            return "!!bool";
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return "!!float",
        "<<" => return "!!merge",
        _ => {}
    }
    let plain = v.replace('_', "");
    let digits = plain.strip_prefix(['-', '+']).unwrap_or(&plain);
    let is_int = !digits.is_empty()
        && (digits.bytes().all(|b| b.is_ascii_digit())
            || digits
                .strip_prefix("0x")
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
            || digits
                .strip_prefix("0b")
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b == b'0' || b == b'1')));
    if is_int {
        return "!!int";
    }
    let floaty = v.bytes().any(|b| b.is_ascii_digit())
        && v.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+' | b'_'));
    if floaty && v.parse::<f64>().is_ok() {
        return "!!float";
    }
    "!!str"
}

/// `cannot unmarshal !!str `abc` into int` for a node.
fn cannot_unmarshal(node: Node, into: &str) -> String {
    match node {
        Node::Seq => format!("cannot unmarshal !!seq into {into}"),
        Node::Map => format!("cannot unmarshal !!map into {into}"),
        Node::Scalar { tag, value } => {
            let shown = if value.chars().count() > 10 {
                format!("{}...", value.chars().take(7).collect::<String>())
            } else {
                value
            };
            format!("cannot unmarshal {tag} `{shown}` into {into}")
        }
    }
}

/// The keys of a relabel rule.
const RELABEL_FIELDS: &[&str] = &[
    "source_labels",
    "separator",
    "regex",
    "modulus",
    "target_label",
    "replacement",
    "action",
];

/// Named Go map types that fields declare (`[go = "..."]`).
const MAP_TYPES: &[&str] = &["url.Values", "model.LabelSet", "config.ProxyHeader"];

/// The node that failed and the Go type it was meant for: the field's own type when the
/// node is the field's value, its element's when the node sits inside the field's sequence
/// or mapping.
fn failed_node(source: &str, line: u64, column: u64, target: &Target) -> (Node, String) {
    let (field, ty, inner) = (&target.field, &target.ty, &target.inner);
    let node = node_at(source, line, column);
    let before: String = node_text(source, line, 1)
        .map(|l| {
            let col = usize::try_from(column).unwrap_or(1).saturating_sub(1);
            l.chars()
                .take(col)
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .unwrap_or_default();
    let entry = before.ends_with('-') || before.ends_with('[') || before.ends_with(',');
    // Inside a relabel rule (read without our macro), the rule's own field types.
    if inner == "relabel.plain"
        && let Some(key) = before
            .strip_suffix(':')
            .map(|b| b.trim_start().trim_start_matches("- ").trim())
        && RELABEL_FIELDS.contains(&key)
    {
        let ty = match key {
            "source_labels" => "model.LabelNames",
            "modulus" => "uint64",
            _ => "string",
        };
        return (node, ty.to_string());
    }
    if let Some(elem) = ty.strip_prefix("[]") {
        if !entry {
            return (node, ty.clone());
        }
        let elem = elem.trim_start_matches('*');
        if elem.starts_with("[]") || elem.starts_with("map[") {
            return (node, elem.to_string());
        }
        return (node, inner.clone());
    }
    if ty.starts_with("map[") || MAP_TYPES.contains(&ty.as_str()) {
        // A label set's values are `model.LabelValue`s.
        let inner = if ty == "model.LabelSet" {
            "model.LabelValue"
        } else {
            inner.as_str()
        };
        // The parser points into a sequence given where a mapping belongs.
        if entry {
            return (Node::Seq, ty.clone());
        }
        let own = !field.is_empty()
            && (before.ends_with(&format!("{field}:"))
                || before.ends_with(&format!("{field}\":"))
                || before.ends_with(&format!("{field}':")));
        if own || (before.trim().is_empty() && node != Node::Map) {
            return (node, ty.clone());
        }
        return (node, inner.to_string());
    }
    (node, inner.clone())
}

/// The line and column of the document's first node.
fn first_node(source: &str) -> Option<(u64, u64)> {
    source.lines().enumerate().find_map(|(i, l)| {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') || t.starts_with("---") || t.starts_with('%') {
            return None;
        }
        let col = l.len() - t.len();
        Some((u64::try_from(i + 1).ok()?, u64::try_from(col + 1).ok()?))
    })
}

/// The Go type of what serde expected, for a type error outside any config struct.
fn expected_go_type(e: &SaphyrError) -> Option<&'static str> {
    let expected = match e {
        SaphyrError::InvalidScalar { ty, .. } => *ty,
        SaphyrError::SerdeInvalidType { expected, .. } => expected.as_str(),
        _ => return None,
    };
    Some(match expected {
        "bool" | "boolean" | "a boolean" => "bool",
        "u8" | "u16" | "u32" | "u64" | "usize" => "uint",
        "i8" | "i16" | "i32" | "i64" | "isize" => "int",
        "f32" | "f64" | "a float" => "float64",
        "a string" | "string" | "char" => "string",
        _ => return None,
    })
}

fn convert(
    source: &str,
    e: &SaphyrError,
    mut state: State,
    root: Option<(String, String)>,
) -> Error {
    let e = innermost(e);
    let (line, column) = position(e);
    // Without a noted field, the document's own type applies to the document's first node
    // only; deeper, the type serde expected is the best name there is.
    let at_root = first_node(source) == Some((line, column))
        || matches!(e, SaphyrError::SerdeUnknownField { .. });
    let root = root.filter(|_| at_root).or_else(|| {
        let ty = expected_go_type(e)?;
        Some((ty.to_string(), ty.to_string()))
    });
    let names = state.value_into.take().unwrap_or_else(|| {
        let (ty, inner) = root.unwrap_or_else(|| ("string".into(), "string".into()));
        Target {
            field: String::new(),
            ty,
            inner,
        }
    });
    match e {
        SaphyrError::Message { msg, .. } => Error {
            message: msg.clone(),
            line: None,
            column: None,
        },
        SaphyrError::DuplicateMappingKey { key, .. } => {
            let key = key.clone().unwrap_or_default();
            // A repeated key of a struct read without our macro (a relabel rule) shows as
            // a failure of the field holding it.
            let in_struct = state
                .key_in
                .clone()
                .or_else(|| Some(names.inner.clone()).filter(|inner| inner.contains('.')));
            let issue = match in_struct {
                Some(t) => format!("field {key} already set in type {t}"),
                None => format!("key {key:?} already set in map"),
            };
            state.issues.push(format!("line {line}: {issue}"));
            unmarshal_errors(state.issues, Some(column))
        }
        SaphyrError::SerdeUnknownField { field, .. } => {
            let into = if names.inner.contains('.') {
                names.inner.clone()
            } else {
                "plain".into()
            };
            state.issues.push(format!(
                "line {line}: field {field} not found in type {into}"
            ));
            unmarshal_errors(state.issues, Some(column))
        }
        SaphyrError::InvalidScalar { .. }
        | SaphyrError::SerdeInvalidType { .. }
        | SaphyrError::SerdeInvalidLength { .. }
        | SaphyrError::Unexpected { .. }
        | SaphyrError::NullIntoString { .. }
        | SaphyrError::InvalidBooleanStrict { .. }
        | SaphyrError::InvalidCharNotSingleScalar { .. }
        | SaphyrError::ExpectedEmptyMappingForUnitStruct { .. }
        | SaphyrError::UnexpectedValueForUnit { .. }
            if line > 0 =>
        {
            let (node, into) = failed_node(source, line, column, &names);
            state
                .issues
                .push(format!("line {line}: {}", cannot_unmarshal(node, &into)));
            unmarshal_errors(state.issues, Some(column))
        }
        _ => {
            if let Some(err) = syntax_error(source, e) {
                return err;
            }
            // Anything else: serde-saphyr's own text, without its position.
            let text = e.to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            let text = match text.split_once(": ") {
                Some((pos, rest)) if pos.starts_with("line ") => rest,
                _ => text,
            };
            Error {
                message: text.to_string(),
                line: Some(line).filter(|&l| l > 0),
                column: Some(column).filter(|&c| c > 0),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_resolve_as_go_yaml_v2_does() {
        assert_eq!(resolve_tag("maybe"), "!!str");
        assert_eq!(resolve_tag("yes"), "!!bool");
        assert_eq!(resolve_tag("12"), "!!int");
        assert_eq!(resolve_tag("-0x1f"), "!!int");
        assert_eq!(resolve_tag("1.5"), "!!float");
        assert_eq!(resolve_tag("1e3"), "!!float");
        assert_eq!(resolve_tag("~"), "!!null");
        assert_eq!(resolve_tag("1m"), "!!str");
    }

    #[test]
    fn nested_blocks_name_go_types_and_checks() {
        let err = |yaml: &str| {
            crate::Config::load_str(yaml, "")
                .expect_err("invalid")
                .to_string()
        };
        // Ports are Go `int`s.
        let e = err(
            "scrape_configs:\n- job_name: a\n  dns_sd_configs:\n  - names: [a]\n    port: abc\n",
        );
        assert!(
            e.ends_with("line 5: cannot unmarshal !!str `abc` into int"),
            "{e}"
        );
        // An unknown TLS version stops loading with Go's `UnmarshalYAML` message.
        let e = err("scrape_configs:\n- job_name: a\n  tls_config:\n    min_version: TLS99\n");
        assert!(e.ends_with("unknown TLS version: TLS99"), "{e}");
    }

    #[test]
    fn nodes_are_read_from_the_source() {
        let src = "a: [x]\nb: {c: d}\nc: hello world # note\nd:\n  - 1\ne: 'q'\n";
        assert_eq!(node_at(src, 1, 4), Node::Seq);
        assert_eq!(node_at(src, 2, 4), Node::Map);
        assert_eq!(
            node_at(src, 3, 4),
            Node::Scalar {
                tag: "!!str",
                value: "hello world".into()
            }
        );
        assert_eq!(node_at(src, 5, 3), Node::Seq);
        assert_eq!(
            node_at(src, 1, 5),
            Node::Scalar {
                tag: "!!str",
                value: "x".into()
            }
        );
        assert_eq!(
            cannot_unmarshal(node_at(src, 3, 4), "bool"),
            "cannot unmarshal !!str `hello w...` into bool"
        );
    }
}
