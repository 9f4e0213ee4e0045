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
//! service-discovery lists) before recording them as unknown, like go-yaml's `,inline`.
//!
//! Errors are go-yaml v2's, word for word (see [`go`]): Prometheus prints them as they are
//! (`promtool check config`, the server's log and `/-/reload`'s answer), so the Rust parser's
//! messages are translated into libyaml's, type errors name Go's types and are collected
//! across the document, and checks carry no position.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub mod go;
pub mod tabs;

pub use go::GoType;

/// A YAML error, worded as go-yaml v2 words it (see [`go`]): a syntax error (`yaml: line 3:
/// mapping values are not allowed in this context`), type errors (`yaml: unmarshal
/// errors:\n  line 2: field foo not found in type config.plain`), or the message of a check
/// made while reading a block, which Go prints without a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What Go prints, position included where Go includes it.
    pub message: String,
    /// 1-based line of the (first) offending node, when Go names one.
    pub line: Option<u64>,
    /// 1-based column of that node, when known (Go never prints it).
    pub column: Option<u64>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
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
    go::decode(s, options, None)
}

/// [`from_str`] for a type whose Go name type errors about the whole document use
/// (`cannot unmarshal !!seq into config.plain`).
pub fn from_str_typed<T: DeserializeOwned + GoType>(s: &str) -> Result<T, Error> {
    go::decode(s, options, Some((T::go_type(), T::go_inner())))
}

/// Serializes `value` as a YAML document.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_saphyr::to_string(value).map_err(|e| Error {
        message: e.to_string(),
        line: None,
        column: None,
    })
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

/// Records an unknown key as go-yaml's strict mode does (`field x not found in type T`,
/// at the key's line) and skips its value; decoding goes on.
#[doc(hidden)]
pub fn unknown_field<'de, A: serde::de::MapAccess<'de>>(
    key: &Spanned<String>,
    go_type: &str,
    map: &mut A,
) -> Result<(), A::Error> {
    go::type_issue(
        key.referenced.line().max(1),
        format_args!("field {} not found in type {go_type}", key.value),
    );
    map.next_value::<serde::de::IgnoredAny>()?;
    Ok(())
}

/// Reads `global.metric_name_validation_scheme` where, as in Go, an empty string means unset.
#[doc(hidden)]
pub fn validation_scheme<'de, A: serde::de::MapAccess<'de>>(
    map: &mut A,
) -> Result<Option<model::ValidationScheme>, A::Error> {
    read_validation_scheme(map, "global")
}

/// Reads a scrape job's `metric_name_validation_scheme` (empty: inherit).
#[doc(hidden)]
pub fn scrape_validation_scheme<'de, A: serde::de::MapAccess<'de>>(
    map: &mut A,
) -> Result<Option<model::ValidationScheme>, A::Error> {
    read_validation_scheme(map, "scrape config")
}

fn read_validation_scheme<'de, A: serde::de::MapAccess<'de>>(
    map: &mut A,
    what: &str,
) -> Result<Option<model::ValidationScheme>, A::Error> {
    let raw: Option<String> = map.next_value()?;
    match raw.as_deref() {
        None | Some("") => Ok(None),
        Some("utf8") => Ok(Some(model::ValidationScheme::Utf8)),
        Some("legacy") => Ok(Some(model::ValidationScheme::Legacy)),
        Some(other) => Err(serde::de::Error::custom(format!(
            "unknown {what} name validation method specified, must be either 'legacy' or 'utf8', got {other}"
        ))),
    }
}

/// Reads a map of strings where, as go-yaml does, a `null` value is the empty string.
#[doc(hidden)]
pub fn string_map<'de, A: serde::de::MapAccess<'de>>(
    map: &mut A,
) -> Result<std::collections::BTreeMap<String, String>, A::Error> {
    let raw: Option<std::collections::BTreeMap<String, Option<String>>> = map.next_value()?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
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
/// After the struct's name, `[go = "*config.X", "config.plain"]` gives the Go types type
/// errors name (see [`GoType`]; by default `config.Name` and `config.plain`).
/// A field may add `[non_null = "message"]` after its type: its sequence may not hold `null`
/// elements; `[with = path]` reads the field with `path(map)` instead; `[go = "url.Values"]`
/// names its Go type when the Rust type's [`GoType`] would not. Fields in a trailing
/// `skip { .. }` group are not read from or written to YAML.
#[macro_export]
#[doc(hidden)]
macro_rules! config_struct {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident $([go = $gotype:literal, $goinner:literal])? {
            $(
                $(#[$fattr:meta])*
                $fvis:vis $field:ident : $fty:ty $([non_null = $msg:literal])? $([with = $with:path])? $([go = $fgo:literal])?
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
                        let read = (|| -> Result<(), A::Error> {
                            $crate::config_struct!(@assign self.$field, map, $fty $(, $msg)? $(; $with)?);
                            Ok(())
                        })();
                        if let Err(e) = read {
                            #[allow(unused_imports)]
                            use $crate::yaml::go::{KnownGoType as _, UnknownGoType as _};
                            let (_ty, _inner) = (&$crate::yaml::go::GoTypeOf::<$fty>(std::marker::PhantomData)).go_names();
                            $( let _ty = $fgo.to_string(); )?
                            $crate::yaml::go::note_value_error(key, (_ty, _inner));
                            return Err(e);
                        }
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

        impl $crate::yaml::GoType for $name {
            fn go_type() -> String {
                $crate::config_struct!(@go concat!("config.", stringify!($name)) $(, $gotype)?).to_string()
            }
            fn go_inner() -> String {
                $crate::config_struct!(@go "config.plain" $(, $goinner)?).to_string()
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
                        let issues = $crate::yaml::go::issue_count();
                        let go_inner = <$name as $crate::yaml::GoType>::go_inner();
                        while let Some(key) = map
                            .next_key::<$crate::yaml::Spanned<String>>()
                            .inspect_err(|_| $crate::yaml::go::note_key_error(&go_inner))?
                        {
                            if !$crate::yaml::Inline::set_field(&mut out, &key.value, &mut map)? {
                                $crate::yaml::unknown_field(&key, &go_inner, &mut map)?;
                            }
                        }
                        // As Go's `UnmarshalYAML`: a block with type errors skips its checks.
                        if $crate::yaml::go::issue_count() == issues {
                            $crate::yaml::Validate::validate(&mut out)
                                .map_err(serde::de::Error::custom)?;
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
    (@go $default:expr) => {
        $default
    };
    (@go $default:expr, $name:literal) => {
        $name
    };
    (@assign $place:expr, $map:ident, $fty:ty) => {
        $place = {
            #[allow(unused_imports)]
            use $crate::yaml::go::{PlainField as _, ScalarField as _};
            (&$crate::yaml::go::FieldReader::<$fty>(std::marker::PhantomData))
                .read_field($map)?
                .unwrap_or_default()
        }
    };
    (@assign $place:expr, $map:ident, $fty:ty, $msg:literal) => {
        $place = <$fty as $crate::yaml::NonNullSeq>::read($map, $msg)?
    };
    (@assign $place:expr, $map:ident, $fty:ty; $with:path) => {
        $place = $with($map)?
    };
    (@assign $place:expr, $map:ident, $fty:ty, $msg:literal; $with:path) => {
        $place = $with($map, $msg)?
    };
}

#[cfg(test)]
mod tests {
    use super::*;

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

    crate::config_struct! {
        #[derive(Default)]
        struct Inner [go = "*config.Inner", "config.plain"] {
            flag: bool,
            n: u64,
            names: Vec<String>,
        }
    }

    impl Validate for Inner {
        fn validate(&mut self) -> Result<(), String> {
            if self.n == 7 {
                return Err("seven is not allowed".into());
            }
            Ok(())
        }
    }

    crate::config_struct! {
        #[derive(Default)]
        struct Outer {
            inner: Vec<Inner>,
            name: String,
        }
    }

    impl Validate for Outer {}

    #[test]
    fn type_errors_read_as_go_yaml_v2_reports_them() {
        let err = from_str::<Outer>("inner:\n- flag: maybe\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "yaml: unmarshal errors:\n  line 2: cannot unmarshal !!str `maybe` into bool"
        );
        assert_eq!(err.line, Some(2));
        let err = from_str::<Outer>("inner:\n- names: a\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "yaml: unmarshal errors:\n  line 2: cannot unmarshal !!str `a` into []string"
        );
        let err = from_str::<Outer>("inner: 5\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!int `5` into []*config.Inner"
        );
        let err = from_str::<Outer>("inner: [5]\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!int `5` into config.plain"
        );
    }

    #[test]
    fn unknown_and_repeated_fields_are_collected() {
        let err = from_str::<Outer>("bogus: 1\ninner:\n- n: 1\n  other: 2\nname: x\nmore: 3\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "yaml: unmarshal errors:\n  line 1: field bogus not found in type config.plain\n  \
             line 4: field other not found in type config.plain\n  \
             line 6: field more not found in type config.plain"
        );
        let err = from_str::<Outer>("name: a\nname: b\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "yaml: unmarshal errors:\n  line 2: field name already set in type config.plain"
        );
    }

    #[test]
    fn checks_fail_without_a_position_unless_type_errors_came_first() {
        let err = from_str::<Outer>("inner:\n- n: 7\n").unwrap_err();
        assert_eq!(err.to_string(), "seven is not allowed");
        assert_eq!(err.line, None);
        // A block with type errors skips its checks.
        let err = from_str::<Outer>("inner:\n- n: 7\n  bogus: 1\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "yaml: unmarshal errors:\n  line 3: field bogus not found in type config.plain"
        );
    }

    #[test]
    fn syntax_errors_read_as_libyaml_reports_them() {
        let err = from_str::<std::collections::BTreeMap<String, String>>("a: b\n  c: d: e\n")
            .unwrap_err();
        assert_eq!(err.line, Some(2));
        assert_eq!(
            err.to_string(),
            "yaml: line 2: mapping values are not allowed in this context"
        );
    }
}
