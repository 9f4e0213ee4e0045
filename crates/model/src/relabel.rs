//! Relabeling: Prometheus's `relabel_config` ([`Config`]) and [`process`], as
//! `model/relabel/relabel.go` defines them.
//!
//! Regexes are anchored as `^(?s:REGEX)$` with Go's RE2 syntax (see [`crate::regexp`]);
//! `replacement` and `target_label` expand `$1`, `${1}`, `$name` and `${name}` exactly as
//! Go's `Regexp.Expand` (so `$1x` names the group `1x`; write `${1}x`). `hashmod` takes the
//! MD5 of the joined source values, reads its last 8 bytes big-endian and reduces them modulo
//! `modulus`. `lowercase`/`uppercase` map each character on its own, as Go's
//! `strings.ToLower`/`ToUpper`.
//!
//! Differences from Go: Go compiles `^(?s:` + regex + `)$` without parsing the regex on its
//! own first, so an unbalanced regex such as `a)|(b` happens to compile there (as an
//! alternation of the two halves of the wrapper); here it is rejected as `unexpected )`.
//!
//! ```
//! use model::Labels;
//! use model::relabel::{Action, Config, Regex, process};
//! let cfg = Config {
//!     source_labels: vec!["__meta_env".into()],
//!     regex: Regex::new("prod-(.*)").unwrap(),
//!     target_label: "env".into(),
//!     ..Config::default()
//! };
//! let out = process(&Labels::from_pairs([("__meta_env", "prod-eu")]), &[cfg]).unwrap();
//! assert_eq!(out.get("env"), Some("eu"));
//! ```

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, LazyLock};

use md5::{Digest, Md5};
use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::strconv::quote;
use crate::{Error, Labels, LabelsBuilder, Result, ValidationScheme, regexp};

/// What a relabel step does (the `action` field). Parsed case-insensitively.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Action {
    /// Match `regex` against the joined source values and, on a match, set the expanded
    /// `target_label` to the expanded `replacement` (an empty result deletes the label).
    #[default]
    Replace,
    /// Drop the target unless `regex` matches the joined source values.
    Keep,
    /// Drop the target if `regex` matches the joined source values.
    Drop,
    /// Drop the target unless the joined source values equal the value of `target_label`.
    KeepEqual,
    /// Drop the target if the joined source values equal the value of `target_label`.
    DropEqual,
    /// Set `target_label` to the MD5 of the joined source values modulo `modulus`.
    HashMod,
    /// Copy every label whose name matches `regex` to the name given by `replacement`.
    LabelMap,
    /// Remove every label whose name matches `regex`.
    LabelDrop,
    /// Remove every label whose name does not match `regex`.
    LabelKeep,
    /// Set `target_label` to the joined source values in lower case.
    Lowercase,
    /// Set `target_label` to the joined source values in upper case.
    Uppercase,
}

impl Action {
    const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];

    /// The name as written in configs: `replace`, `keep`, `hashmod`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// Parses an action name, ignoring case as Prometheus does.
    pub fn parse(s: &str) -> Result<Action> {
        let lower = s.to_lowercase();
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == lower)
            .ok_or_else(|| {
                Error::InvalidRelabelConfig(format!("unknown relabel action {}", quote(s)))
            })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Action, D::Error> {
        let s = String::deserialize(deserializer)?;
        Action::parse(&s).map_err(D::Error::custom)
    }
}

static DEFAULT_REGEX: LazyLock<Arc<regexp::Regex>> = LazyLock::new(|| {
    Arc::new(regexp::Regex::new(DEFAULT_REGEX_SOURCE).expect("the default regex is valid"))
});

/// The default `regex` of a relabel config.
pub const DEFAULT_REGEX_SOURCE: &str = "(.*)";
/// The default `separator` of a relabel config.
pub const DEFAULT_SEPARATOR: &str = ";";
/// The default `replacement` of a relabel config.
pub const DEFAULT_REPLACEMENT: &str = "$1";

/// A relabel regex: anchored as `^(?s:REGEX)$` (see [`crate::regexp`]), serialized as the
/// string it was written as. Cheap to clone.
///
/// [`Regex::default`] is `(.*)` and remembers that it is the default, as Prometheus does:
/// some validations and a fast path depend on whether a config left `regex` unset.
#[derive(Clone)]
pub struct Regex(Arc<regexp::Regex>);

impl Regex {
    /// Compiles `s`, anchored at both ends.
    pub fn new(s: &str) -> Result<Regex> {
        regexp::Regex::new(s)
            .map(|re| Regex(Arc::new(re)))
            .map_err(|e| match e {
                // Go compiles `^(?s:REGEX)$`, so an error about the whole expression
                // (`missing closing )`) quotes the anchored form.
                crate::Error::InvalidRegex { code, expr } if expr == s => {
                    crate::Error::InvalidRegex {
                        code,
                        expr: format!("^(?s:{s})$"),
                    }
                }
                other => other,
            })
    }

    /// Reports whether this is the default regex a config gets when `regex` is unset (a
    /// regex written `(.*)` explicitly is not the default, as in Go).
    pub fn is_default(&self) -> bool {
        Arc::ptr_eq(&self.0, &DEFAULT_REGEX)
    }
}

impl Default for Regex {
    fn default() -> Regex {
        Regex(DEFAULT_REGEX.clone())
    }
}

impl Deref for Regex {
    type Target = regexp::Regex;

    fn deref(&self) -> &regexp::Regex {
        &self.0
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Regex) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Regex {}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Regex({})", quote(self.as_str()))
    }
}

impl fmt::Display for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Regex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Regex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Regex, D::Error> {
        let s = String::deserialize(deserializer)?;
        Regex::new(&s).map_err(D::Error::custom)
    }
}

/// One relabeling step (a `relabel_config`), with Prometheus's defaults
/// ([`Config::default`]: action `replace`, separator `;`, regex `(.*)`, replacement `$1`).
///
/// Deserializing applies the defaults, rejects unknown fields and runs
/// [`validate`](Config::validate) with the UTF-8 name validation scheme (Prometheus 3's
/// default); call `validate` again with [`ValidationScheme::Legacy`] when the config asks
/// for legacy names. Serializing omits empty and default fields as Prometheus does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Labels whose values are joined with `separator` to form the input.
    pub source_labels: Vec<String>,
    /// Put between the source values.
    pub separator: String,
    /// Matched against the input (or against label names for the label* actions).
    pub regex: Regex,
    /// For `hashmod`: the modulus.
    pub modulus: u64,
    /// The label written to (may hold `$1`-style references for `replace`).
    pub target_label: String,
    /// The value written (`$1`-style references expanded) for `replace` and `labelmap`.
    pub replacement: String,
    /// What the step does.
    pub action: Action,
    /// Which label names are valid when [`process`] checks the expanded target label.
    /// Not part of the YAML; set by the config loader.
    pub name_validation_scheme: ValidationScheme,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            source_labels: Vec::new(),
            separator: DEFAULT_SEPARATOR.to_owned(),
            regex: Regex::default(),
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.to_owned(),
            action: Action::Replace,
            name_validation_scheme: ValidationScheme::Utf8,
        }
    }
}

/// Go's `relabelTargetLegacy`: legacy label-name characters plus `$var` / `${var}`.
fn is_valid_legacy_target(s: &str) -> bool {
    static RE: LazyLock<::regex::Regex> = LazyLock::new(|| {
        ::regex::Regex::new(
            r"^(?:(?:[a-zA-Z_]|\$(?:\{[0-9A-Za-z_]+\}|[0-9A-Za-z_]+))+[0-9A-Za-z_]*)+$",
        )
        .expect("the legacy target regex is valid")
    });
    RE.is_match(s)
}

impl Config {
    /// Checks the config as Go's `relabel.Config.Validate` does, with the same messages.
    pub fn validate(&self, scheme: ValidationScheme) -> Result<()> {
        let err = |m: String| Err(Error::InvalidRelabelConfig(m));
        let a = self.action;
        let valid_name = |n: &str| scheme.is_valid_label_name(n);
        let valid_with_vars = |n: &str| match scheme {
            ValidationScheme::Utf8 => !n.is_empty(),
            ValidationScheme::Legacy => is_valid_legacy_target(n),
        };
        let has_var = self.target_label.contains('$');
        if self.modulus == 0 && a == Action::HashMod {
            return err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        let needs_target = matches!(
            a,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && self.target_label.is_empty() {
            return err(format!(
                "relabel configuration for {a} action requires 'target_label' value"
            ));
        }
        let bad_target = || {
            err(format!(
                "{} is invalid 'target_label' for {a} action",
                quote(&self.target_label)
            ))
        };
        if a == Action::Replace && !has_var && !valid_name(&self.target_label) {
            return bad_target();
        }
        if a == Action::Replace && has_var && !valid_with_vars(&self.target_label) {
            return bad_target();
        }
        let case_or_equal = matches!(
            a,
            Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual
        );
        if case_or_equal && !valid_name(&self.target_label) {
            return bad_target();
        }
        if case_or_equal && self.replacement != DEFAULT_REPLACEMENT {
            return err(format!("'replacement' can not be set for {a} action"));
        }
        if a == Action::LabelMap && !valid_with_vars(&self.replacement) {
            return err(format!(
                "{} is invalid 'replacement' for {a} action",
                quote(&self.replacement)
            ));
        }
        if a == Action::HashMod && !valid_name(&self.target_label) {
            return bad_target();
        }
        if matches!(a, Action::DropEqual | Action::KeepEqual)
            && (!self.regex.is_default()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return err(format!(
                "{a} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(a, Action::LabelDrop | Action::LabelKeep)
            && (!self.source_labels.is_empty()
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return err(format!(
                "{a} action requires only 'regex', and no other fields"
            ));
        }
        Ok(())
    }
}

/// Deserializes `Some(x)` for a present field, so that `null` and absence differ.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default, deserialize_with = "present")]
    source_labels: Option<Option<Vec<String>>>,
    #[serde(default)]
    separator: Option<String>,
    #[serde(default, deserialize_with = "present")]
    regex: Option<Option<String>>,
    #[serde(default)]
    modulus: Option<u64>,
    #[serde(default)]
    target_label: Option<String>,
    #[serde(default)]
    replacement: Option<String>,
    #[serde(default, deserialize_with = "present")]
    action: Option<Option<Action>>,
}

/// A relabel rule's fields as written, before defaults and checks (Go's `plain` form of
/// [`Config`]): `None` where a field is absent, so that its default applies. A YAML reader
/// that reports errors its own way fills this in and calls [`Fields::into_config`].
#[derive(Debug, Clone, Default)]
pub struct Fields {
    /// `source_labels` (`Some` even when empty: set, as far as `labeldrop` is concerned).
    pub source_labels: Option<Vec<String>>,
    /// `separator`.
    pub separator: Option<String>,
    /// `regex` (a written null is the empty regex, as in Go).
    pub regex: Option<Regex>,
    /// `modulus`.
    pub modulus: Option<u64>,
    /// `target_label`.
    pub target_label: Option<String>,
    /// `replacement`.
    pub replacement: Option<String>,
    /// `action`; `Some(None)` for a written null, which the checks refuse.
    pub action: Option<Option<Action>>,
}

impl Fields {
    /// Applies the defaults and runs Go's checks ([`Config::validate`] with the UTF-8
    /// scheme, an empty action and `labeldrop`/`labelkeep` with source labels first).
    pub fn into_config(self) -> Result<Config> {
        let mut c = Config::default();
        let source_labels_set = self.source_labels.is_some();
        if let Some(ls) = self.source_labels {
            c.source_labels = ls;
        }
        if let Some(s) = self.separator {
            c.separator = s;
        }
        if let Some(r) = self.regex {
            c.regex = r;
        }
        if let Some(m) = self.modulus {
            c.modulus = m;
        }
        if let Some(t) = self.target_label {
            c.target_label = t;
        }
        if let Some(r) = self.replacement {
            c.replacement = r;
        }
        match self.action {
            None => {}
            // A null action zeroes Go's action, which Validate then rejects.
            Some(None) => {
                return Err(Error::InvalidRelabelConfig(
                    "relabel action cannot be empty".to_string(),
                ));
            }
            Some(Some(a)) => c.action = a,
        }
        if source_labels_set && matches!(c.action, Action::LabelDrop | Action::LabelKeep) {
            return Err(Error::InvalidRelabelConfig(format!(
                "{} action requires only 'regex', and no other fields",
                c.action
            )));
        }
        c.validate(ValidationScheme::Utf8)?;
        Ok(c)
    }
}

impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Config, D::Error> {
        let raw = RawConfig::deserialize(deserializer)?;
        let source_labels = match raw.source_labels {
            Some(Some(ls)) => {
                if let Some(bad) = ls.iter().find(|n| n.is_empty()) {
                    return Err(D::Error::custom(Error::InvalidLabelName {
                        name: bad.clone(),
                    }));
                }
                Some(ls)
            }
            _ => None,
        };
        let regex = match raw.regex {
            None => None,
            // `regex:` with no value leaves Go's regex nil, which it then replaces by "".
            Some(None) => Some(Regex::new("").map_err(D::Error::custom)?),
            Some(Some(s)) => Some(Regex::new(&s).map_err(D::Error::custom)?),
        };
        Fields {
            source_labels,
            separator: raw.separator,
            regex,
            modulus: raw.modulus,
            target_label: raw.target_label,
            replacement: raw.replacement,
            action: raw.action,
        }
        .into_config()
        .map_err(D::Error::custom)
    }
}

impl Serialize for Config {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut m = serializer.serialize_map(None)?;
        if !self.source_labels.is_empty() {
            m.serialize_entry("source_labels", &self.source_labels)?;
        }
        if !self.separator.is_empty() {
            m.serialize_entry("separator", &self.separator)?;
        }
        if !self.regex.is_default() && !self.regex.as_str().is_empty() {
            m.serialize_entry("regex", &self.regex)?;
        }
        if self.modulus != 0 {
            m.serialize_entry("modulus", &self.modulus)?;
        }
        if !self.target_label.is_empty() {
            m.serialize_entry("target_label", &self.target_label)?;
        }
        if !self.replacement.is_empty() {
            m.serialize_entry("replacement", &self.replacement)?;
        }
        m.serialize_entry("action", &self.action)?;
        m.end()
    }
}

/// Applies `cfgs` in order to `labels`. Returns `None` if a step drops the target.
pub fn process(labels: &Labels, cfgs: &[Config]) -> Option<Labels> {
    let mut lb = LabelsBuilder::new(labels);
    process_builder(&mut lb, cfgs).then(|| lb.labels())
}

/// Like [`process`], on a builder the caller owns (Go's `ProcessBuilder`); returns whether to
/// keep the target.
pub fn process_builder(lb: &mut LabelsBuilder, cfgs: &[Config]) -> bool {
    cfgs.iter().all(|cfg| relabel(cfg, lb))
}

fn relabel(cfg: &Config, lb: &mut LabelsBuilder) -> bool {
    let mut val = String::new();
    for (i, n) in cfg.source_labels.iter().enumerate() {
        if i > 0 {
            val.push_str(&cfg.separator);
        }
        val.push_str(lb.get(n).unwrap_or(""));
    }
    match cfg.action {
        Action::Drop => return !cfg.regex.is_match(&val),
        Action::Keep => return cfg.regex.is_match(&val),
        Action::DropEqual => return lb.get(&cfg.target_label).unwrap_or("") != val,
        Action::KeepEqual => return lb.get(&cfg.target_label).unwrap_or("") == val,
        Action::Replace => {
            // Fast path to add or delete a label, as in Go.
            if val.is_empty()
                && cfg.regex.is_default()
                && !cfg.target_label.contains('$')
                && !cfg.replacement.contains('$')
            {
                lb.set(&cfg.target_label, &cfg.replacement);
                return true;
            }
            let Some(caps) = cfg.regex.captures(&val) else {
                return true;
            };
            let names = cfg.regex.group_names();
            let mut target = String::new();
            regexp::expand(&mut target, &cfg.target_label, &val, &caps, names);
            if !cfg.name_validation_scheme.is_valid_label_name(&target) {
                return true;
            }
            let mut res = String::new();
            regexp::expand(&mut res, &cfg.replacement, &val, &caps, names);
            if res.is_empty() {
                lb.del(&target);
            } else {
                lb.set(&target, &res);
            }
        }
        Action::Lowercase => {
            lb.set(&cfg.target_label, &go_to_lower(&val));
        }
        Action::Uppercase => {
            lb.set(&cfg.target_label, &go_to_upper(&val));
        }
        Action::HashMod => {
            let sum = Md5::digest(val.as_bytes());
            let mut last = [0u8; 8];
            last.copy_from_slice(&sum[8..16]);
            let m = u64::from_be_bytes(last) % cfg.modulus.max(1);
            lb.set(&cfg.target_label, &m.to_string());
        }
        Action::LabelMap => {
            let current = lb.labels();
            for (name, value) in current.iter() {
                if let Some(res) = cfg.regex.expand(name, &cfg.replacement) {
                    lb.set(&res, value);
                }
            }
        }
        Action::LabelDrop => {
            let current = lb.labels();
            for (name, _) in current.iter() {
                if cfg.regex.is_match(name) {
                    lb.del(name);
                }
            }
        }
        Action::LabelKeep => {
            let current = lb.labels();
            for (name, _) in current.iter() {
                if !cfg.regex.is_match(name) {
                    lb.del(name);
                }
            }
        }
    }
    true
}

/// Go's `strings.ToLower`: per-character simple case mapping (no context-dependent rules
/// such as a final sigma). Characters whose full mapping has several characters use their
/// simple mapping, which Rust's std does not expose; the only such lowercase case is `İ`.
fn go_to_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut l = c.to_lowercase();
            match (l.next(), l.next()) {
                (Some(one), None) => one,
                _ if c == '\u{130}' => 'i',
                _ => c,
            }
        })
        .collect()
}

/// Go's `strings.ToUpper`: per-character simple case mapping. Characters whose full uppercase
/// has several characters (`ß` -> `SS`) stay unchanged, as their simple mapping mostly does.
fn go_to_upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut u = c.to_uppercase();
            match (u.next(), u.next()) {
                (Some(one), None) => one,
                _ => c,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
