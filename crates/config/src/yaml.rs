//! The YAML layer: one place that knows which YAML library the config crate uses.
//!
//! # Choice: serde-saphyr 2.1
//!
//! Prometheus reads its configuration with go-yaml v2's `UnmarshalStrict` (YAML 1.1 flavoured).
//! Both candidates (serde_yaml_ng 0.10 and serde-saphyr 2.1) were tried on what matters for
//! being a drop-in replacement:
//!
//! | case | serde_yaml_ng 0.10 | serde-saphyr 2.1 | go-yaml v2 |
//! | --- | --- | --- | --- |
//! | unknown field | error | error | error |
//! | duplicate key | error | error | error |
//! | `honor_labels: yes` (YAML 1.1 boolean) | error | `true` | `true` |
//! | merge key `<<: *anchor` | error (unknown field `<<`) | merged | merged |
//! | error position | line and column | line and column | line |
//! | `!!binary` tags | ignored (kept as base64 text) | decoded, invalid base64 rejected | decoded |
//! | serialization | yes | yes | yes |
//! | maintenance | unmaintained libyaml port | pure Rust, released often | |
//!
//! serde-saphyr wins on the two cases real configuration files hit (`yes`/`no` booleans and
//! merge keys used to share blocks between jobs) and is actively maintained. Its one stricter
//! behaviour, rejecting YAML `null` where a string or struct is expected, is neutralised by
//! [`config_struct!`](crate::config_struct): every field is read as an `Option` and a `null`
//! becomes the field's zero value, exactly as go-yaml does.
//!
//! Unknown fields cannot go through `#[serde(flatten)]` without losing typing and positions
//! (serde buffers flattened values untyped), so the config structs are declared with
//! [`config_struct!`](crate::config_struct), which writes a typed map visitor that hands
//! unknown keys to the structs inlined into it (the HTTP client options and the
//! service-discovery lists) before rejecting them, like go-yaml's `,inline`.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A YAML syntax or type error, with its position when the parser knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What went wrong, without the position.
    pub message: String,
    /// 1-based line of the offending node, when known.
    pub line: Option<u64>,
    /// 1-based column of the offending node, when known.
    pub column: Option<u64>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, "line {line} column {column}: {}", self.message)
            }
            (Some(line), None) => write!(f, "line {line}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
    }
}

/// Deserializes one YAML document into `T`, strictly (unknown fields and duplicate keys are
/// errors), with YAML 1.1 booleans and merge keys accepted as go-yaml accepts them.
pub fn from_str<T: DeserializeOwned>(s: &str) -> Result<T, Error> {
    serde_saphyr::from_str_with_options(s, options()).map_err(|e| {
        let location = e.location();
        let mut line = location.as_ref().map(|l| l.line()).filter(|&l| l > 0);
        let mut column = location.as_ref().map(|l| l.column()).filter(|&c| c > 0);
        let message = bare_message(&e.to_string());
        // Our own messages may carry the position of the key they are about.
        let (own, rest) = split_position(&message);
        if let Some((l, c)) = own {
            line = Some(l);
            column = Some(c);
        }
        let mut message = rest.to_string();
        // The parser reports an unknown key at the start of its mapping (or nowhere, at the
        // top level): point at the key.
        if let (Some(l), Some(c)) = (line.or(Some(1)), column.or(Some(1)))
            && let Some(name) = message
                .strip_prefix("field ")
                .and_then(|m| m.split_once(" not found in type "))
                .map(|(name, _)| name)
            && let Some(found) = find_key(s, l, c, name)
        {
            line = Some(found);
            column = Some(c);
        }
        if let (Some(l), Some(c)) = (line, column)
            && let Some(key) = key_at(s, l, c)
            && !message.contains(key)
        {
            message = format!("field {key}: {message}");
        }
        Error {
            message,
            line,
            column,
        }
    })
}

/// The mapping key whose value starts at `line`/`column` (1-based), when that line is a
/// block-style `key: value` line and the column points into the value; used to name the
/// field in type errors, which the parser reports by position only.
fn key_at(source: &str, line: u64, column: u64) -> Option<&str> {
    let text = source
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let body = text.trim_start();
    let body = body.strip_prefix("- ").map(str::trim_start).unwrap_or(body);
    let (key, _) = body.split_once(':')?;
    let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
    let key_end = text.find(':')? + 1;
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.');
    (valid && usize::try_from(column).ok()? > key_end).then_some(key)
}

/// The first line at or after `line` where `key` starts at `column` (block style), staying
/// within the mapping (stops at a line indented less).
fn find_key(source: &str, line: u64, column: u64, key: &str) -> Option<u64> {
    let col = usize::try_from(column).ok()?.checked_sub(1)?;
    let first = usize::try_from(line).ok()?.checked_sub(1)?;
    for (i, text) in source.lines().enumerate().skip(first) {
        let indent = text.len() - text.trim_start_matches([' ', '-']).len();
        let body = text.trim();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        if i > first && indent < col {
            return None;
        }
        if indent == col
            && let Some(rest) = text.get(col..).and_then(|t| t.strip_prefix(key))
            && rest.trim_start().starts_with(':')
        {
            return u64::try_from(i + 1).ok();
        }
    }
    None
}

/// Serializes `value` as a YAML document.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_saphyr::to_string(value).map_err(|e| Error {
        message: e.to_string(),
        line: None,
        column: None,
    })
}

/// Strips the `error: line N column M: ` prefix serde-saphyr puts in its messages, since
/// [`Error`] carries the position separately.
fn bare_message(rendered: &str) -> String {
    let mut s = rendered.trim();
    if let Some(rest) = s.strip_prefix("error: ") {
        s = rest;
    }
    if let Some(rest) = s.strip_prefix("line ")
        && let Some((_, after)) = rest.split_once(": ")
        && rest.split_once(": ").is_some_and(|(pos, _)| {
            pos.split(' ')
                .all(|w| w == "column" || w.parse::<u64>().is_ok())
        })
    {
        s = after;
    }
    // Custom errors raised inside visitors get the position appended as well.
    if let Some(idx) = s.rfind(" at line ")
        && s[idx + 9..]
            .split([',', ' '])
            .filter(|w| !w.is_empty())
            .all(|w| w == "column" || w.parse::<u64>().is_ok())
    {
        s = &s[..idx];
    }
    s.to_string()
}

/// Per-struct validation run right after a struct is read, as Go's `UnmarshalYAML` methods do.
/// The error message becomes a YAML error at the struct's position.
pub trait Validate {
    /// Checks (and normalises) the freshly read value.
    fn validate(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// A struct whose fields can be filled one YAML key at a time, so that it can be inlined into
/// another struct (go-yaml's `,inline`).
pub trait Inline {
    /// Reads the value of `key` from `map` if this struct has such a field; returns whether it
    /// did.
    fn set_field<'de, A: serde::de::MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error>;
}

/// A field type whose YAML value may not contain `null` elements: Go rejects
/// `scrape_configs: [~]` and friends with an "empty or null ..." message.
pub trait NonNullSeq: Sized {
    /// Reads the field, failing with `what` when an element is null.
    fn read<'de, A: serde::de::MapAccess<'de>>(
        map: &mut A,
        what: &'static str,
    ) -> Result<Self, A::Error>;
}

impl<T: DeserializeOwned> NonNullSeq for Vec<T> {
    fn read<'de, A: serde::de::MapAccess<'de>>(
        map: &mut A,
        what: &'static str,
    ) -> Result<Self, A::Error> {
        let raw: Option<Vec<Option<T>>> = map.next_value()?;
        raw.unwrap_or_default()
            .into_iter()
            .map(|item| item.ok_or_else(|| serde::de::Error::custom(what)))
            .collect()
    }
}

#[doc(hidden)]
pub use serde_saphyr::Spanned;

/// The message for an unknown key, with the key's position when the parser knows it (the
/// parser attaches no position to errors raised at the top level).
#[doc(hidden)]
pub fn unknown_field(key: &Spanned<String>, type_name: &str) -> String {
    let (line, column) = (key.referenced.line(), key.referenced.column());
    if line > 0 {
        format!(
            "line {line} column {column}: field {} not found in type {type_name}",
            key.value
        )
    } else {
        format!("field {} not found in type {type_name}", key.value)
    }
}

/// Splits a leading `line N column M: ` off a message.
fn split_position(s: &str) -> (Option<(u64, u64)>, &str) {
    let parse = || -> Option<((u64, u64), &str)> {
        let rest = s.strip_prefix("line ")?;
        let (pos, msg) = rest.split_once(": ")?;
        let (line, column) = pos.split_once(" column ")?;
        Some(((line.parse().ok()?, column.parse().ok()?), msg))
    };
    match parse() {
        Some((pos, msg)) => (Some(pos), msg),
        None => (None, s),
    }
}

/// Reads a name validation scheme where, as in Go, an empty string means unset.
#[doc(hidden)]
pub fn validation_scheme<'de, A: serde::de::MapAccess<'de>>(
    map: &mut A,
) -> Result<Option<model::ValidationScheme>, A::Error> {
    let raw: Option<String> = map.next_value()?;
    match raw.as_deref() {
        None | Some("") => Ok(None),
        Some("utf8") => Ok(Some(model::ValidationScheme::Utf8)),
        Some("legacy") => Ok(Some(model::ValidationScheme::Legacy)),
        Some(other) => Err(serde::de::Error::custom(format!(
            "unrecognized ValidationScheme: {other:?}, must be one of '', 'utf8' or 'legacy'"
        ))),
    }
}

/// The YAML key of a Rust field name (`r#type` is `type`).
#[doc(hidden)]
pub fn field_key(rust_name: &str) -> &str {
    rust_name.strip_prefix("r#").unwrap_or(rust_name)
}

/// Declares a configuration struct: the struct itself (with `Serialize` derived and inlined
/// members flattened), a strict `Deserialize` that reads every field typed and positioned,
/// turns `null` into the field's zero value, fills absent fields from `Default` (the Go
/// defaults), forwards keys it doesn't know to the inlined members, rejects the rest as
/// `field X not found in type Y`, and finally runs [`Validate`].
///
/// A field may add `[non_null = "message"]` after its type: its sequence may not hold `null`
/// elements; `[with = path]` reads the field with `path(map)` instead. Fields in a trailing
/// `skip { .. }` group are not read from or written to YAML.
#[macro_export]
#[doc(hidden)]
macro_rules! config_struct {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[$fattr:meta])*
                $fvis:vis $field:ident : $fty:ty $([non_null = $msg:literal])? $([with = $with:path])?
            ),* $(,)?
        }
        $(
            inline {
                $(
                    $(#[$iattr:meta])*
                    $ivis:vis $ifield:ident : $ity:ty
                ),* $(,)?
            }
        )?
        $(
            skip {
                $(
                    $(#[$sattr:meta])*
                    $svis:vis $sfield:ident : $sty:ty
                ),* $(,)?
            }
        )?
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize)]
        $vis struct $name {
            $(
                $(#[$fattr])*
                $fvis $field: $fty,
            )*
            $($(
                $(#[$iattr])*
                #[serde(flatten)]
                $ivis $ifield: $ity,
            )*)?
            $($(
                $(#[$sattr])*
                #[serde(skip)]
                $svis $sfield: $sty,
            )*)?
        }

        impl $crate::yaml::Inline for $name {
            fn set_field<'de, A: serde::de::MapAccess<'de>>(
                &mut self,
                key: &str,
                map: &mut A,
            ) -> Result<bool, A::Error> {
                $(
                    if key == $crate::yaml::field_key(stringify!($field)) {
                        $crate::config_struct!(@assign self.$field, map, $fty $(, $msg)? $(; $with)?);
                        return Ok(true);
                    }
                )*
                $($(
                    if $crate::yaml::Inline::set_field(&mut self.$ifield, key, map)? {
                        return Ok(true);
                    }
                )*)?
                Ok(false)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("a mapping (", stringify!($name), ")"))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<$name, A::Error> {
                        let mut out = <$name as Default>::default();
                        while let Some(key) = map.next_key::<$crate::yaml::Spanned<String>>()? {
                            if !$crate::yaml::Inline::set_field(&mut out, &key.value, &mut map)? {
                                return Err(serde::de::Error::custom($crate::yaml::unknown_field(
                                    &key,
                                    stringify!($name),
                                )));
                            }
                        }
                        $crate::yaml::Validate::validate(&mut out)
                            .map_err(serde::de::Error::custom)?;
                        Ok(out)
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
    (@assign $place:expr, $map:ident, $fty:ty) => {
        $place = $map.next_value::<Option<$fty>>()?.unwrap_or_default()
    };
    (@assign $place:expr, $map:ident, $fty:ty, $msg:literal) => {
        $place = <$fty as $crate::yaml::NonNullSeq>::read($map, $msg)?
    };
    (@assign $place:expr, $map:ident, $fty:ty; $with:path) => {
        $place = $with($map)?
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_message_is_stripped_of_its_position() {
        assert_eq!(
            bare_message("error: line 3 column 16: mapping values"),
            "mapping values"
        );
        assert_eq!(
            bare_message("plain message: with colon"),
            "plain message: with colon"
        );
        assert_eq!(
            bare_message("error: line 4 column 9: bad thing at line 4, column 9"),
            "bad thing"
        );
    }

    #[test]
    fn yaml_11_booleans_and_merge_keys_are_accepted() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct S {
            a: bool,
            b: u32,
        }
        let v: Vec<S> = from_str("- &x {a: yes, b: 1}\n- <<: *x\n  a: no\n").unwrap();
        assert!(v[0].a);
        assert!(!v[1].a);
        assert_eq!(v[1].b, 1);
    }

    #[test]
    fn type_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        struct S {
            #[allow(dead_code)]
            honor_labels: bool,
        }
        let err = from_str::<S>("honor_labels: maybe\n").unwrap_err();
        assert_eq!(err.line, Some(1));
        assert!(err.message.starts_with("field honor_labels: "), "{err}");
        assert_eq!(key_at("a:\n  - b: [x]\n", 2, 10), Some("b"));
        assert_eq!(key_at("a: 1\n", 1, 1), None);
        let src = "x:\n  - a: 1\n    b: 2\n    bogus: 3\n  - bogus: 4\n";
        assert_eq!(find_key(src, 2, 5, "bogus"), Some(4));
        assert_eq!(find_key(src, 2, 5, "nope"), None);
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = from_str::<std::collections::BTreeMap<String, String>>("a: b\n  c: d: e\n")
            .unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.to_string().starts_with("line 2"), "{err}");
    }
}
