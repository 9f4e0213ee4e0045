//! Relabel rules read as go-yaml v2 reads `relabel.Config`: type errors collected, checks fatal.
//!
//! Go decodes a rule's fields in document order into its `plain` type. A value of the wrong
//! kind (`source_labels: a`) or an unknown key is a type error: recorded, and decoding goes
//! on. An error from a field's own `UnmarshalYAML` (a regex that does not compile, an
//! unknown action, an empty label name) stops everything and is printed alone, dropping the
//! type errors gathered so far. A rule with type errors skips its checks
//! ([`relabel::Fields::into_config`]).

use model::relabel;
use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::{Node, cannot_unmarshal, issue_count, node_at, note_key_error, with_state};

/// Go's name of the rule's `plain` type, named in its type errors.
const PLAIN: &str = "relabel.plain";

/// Any YAML value, kept only as far as a relabel rule's fields need it.
enum Loose {
    /// A string scalar.
    Str(String),
    /// A scalar the parser resolved to a bool or number (Go reads its text as a string).
    Scalar,
    Null,
    Seq(Vec<Spanned<Loose>>),
    Map,
}

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Loose, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Loose;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Loose, E> {
                Ok(Loose::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Loose, E> {
                Ok(Loose::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Loose, E> {
                Ok(Loose::Scalar)
            }
            fn visit_i128<E>(self, _: i128) -> Result<Loose, E> {
                Ok(Loose::Scalar)
            }
            fn visit_u128<E>(self, _: u128) -> Result<Loose, E> {
                Ok(Loose::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Loose, E> {
                Ok(Loose::Scalar)
            }
            fn visit_str<E>(self, v: &str) -> Result<Loose, E> {
                Ok(Loose::Str(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<Loose, E> {
                Ok(Loose::Null)
            }
            fn visit_none<E>(self) -> Result<Loose, E> {
                Ok(Loose::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Loose, D::Error> {
                Loose::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Loose, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = a.next_element::<Spanned<Loose>>()? {
                    items.push(item);
                }
                Ok(Loose::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Loose, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Loose::Map)
            }
        }
        d.deserialize_any(V)
    }
}

/// The line of a recorded type error (`line N: ...`).
fn issue_line(issue: &str) -> u64 {
    issue
        .strip_prefix("line ")
        .and_then(|i| i.split_once(':'))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or(0)
}

/// Records `cannot unmarshal <node> into <into>` for the node at `line` and `column`.
fn wrong_kind(line: u64, column: u64, into: &str) {
    with_state(|s| {
        let message = cannot_unmarshal(node_at(&s.source, line, column), into);
        s.issues.push(format!("line {line}: {message}"));
    });
}

/// A scalar's text as Go reads it into a string (a null is ""); `None`, with a type error
/// recorded, for a collection.
fn text(v: &Spanned<Loose>) -> Option<String> {
    let (line, column) = (v.referenced.line(), v.referenced.column());
    match &v.value {
        Loose::Str(s) => Some(s.clone()),
        Loose::Null => Some(String::new()),
        Loose::Scalar => {
            let raw = with_state(|s| match node_at(&s.source, line, column) {
                Node::Scalar { value, .. } => value,
                _ => String::new(),
            });
            Some(raw.unwrap_or_default())
        }
        Loose::Seq(_) | Loose::Map => {
            wrong_kind(line, column, "string");
            None
        }
    }
}

/// `source_labels`: a sequence of label names (`None` for null, as Go leaves it nil).
fn label_names<E: serde::de::Error>(v: &Spanned<Loose>) -> Result<Option<Vec<String>>, E> {
    match &v.value {
        Loose::Null => Ok(None),
        Loose::Seq(items) => {
            let mut names = Vec::with_capacity(items.len());
            for item in items {
                // A null name is left empty: Go does not call its `UnmarshalYAML`.
                if let Loose::Null = item.value {
                    names.push(String::new());
                    continue;
                }
                if let Some(name) = text(item) {
                    if name.is_empty() {
                        return Err(E::custom(model::Error::InvalidLabelName { name }));
                    }
                    names.push(name);
                }
            }
            Ok(Some(names))
        }
        _ => {
            wrong_kind(
                v.referenced.line(),
                v.referenced.column(),
                "model.LabelNames",
            );
            Ok(None)
        }
    }
}

/// One entry of a relabel list.
enum Rule {
    Config(Box<relabel::Config>),
    Null,
    /// Not a mapping (a type error, recorded by the list).
    Wrong,
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rule, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Rule;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a relabel rule")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Rule, E> {
                Ok(Rule::Wrong)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Rule, E> {
                Ok(Rule::Wrong)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Rule, E> {
                Ok(Rule::Wrong)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Rule, E> {
                Ok(Rule::Wrong)
            }
            fn visit_str<E>(self, _: &str) -> Result<Rule, E> {
                Ok(Rule::Wrong)
            }
            fn visit_unit<E>(self) -> Result<Rule, E> {
                Ok(Rule::Null)
            }
            fn visit_none<E>(self) -> Result<Rule, E> {
                Ok(Rule::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Rule, D::Error> {
                Rule::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Rule, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Rule::Wrong)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Rule, A::Error> {
                read_rule(&mut map).map(|c| Rule::Config(Box::new(c)))
            }
        }
        d.deserialize_any(V)
    }
}

/// Reads one rule's fields in document order (see the module's doc).
fn read_rule<'de, A: MapAccess<'de>>(map: &mut A) -> Result<relabel::Config, A::Error> {
    let issues = issue_count();
    let mut f = relabel::Fields::default();
    while let Some(key) = map
        .next_key::<Spanned<String>>()
        .inspect_err(|_| note_key_error(PLAIN))?
    {
        match key.value.as_str() {
            "modulus" => f.modulus = super::read_scalar::<u64, A>(map, Some("uint64"))?,
            "source_labels" => {
                let v: Spanned<Loose> = map.next_value()?;
                f.source_labels = label_names(&v)?;
            }
            "separator" | "target_label" | "replacement" | "regex" | "action" => {
                let v: Spanned<Loose> = map.next_value()?;
                let null = matches!(v.value, Loose::Null);
                let Some(s) = text(&v) else { continue };
                match key.value.as_str() {
                    "separator" => f.separator = Some(s),
                    "target_label" => f.target_label = Some(s),
                    "replacement" => f.replacement = Some(s),
                    "regex" => f.regex = Some(relabel::Regex::new(&s).map_err(A::Error::custom)?),
                    _ if null => f.action = Some(None),
                    _ => {
                        let a = relabel::Action::parse(&s).map_err(A::Error::custom)?;
                        f.action = Some(Some(a));
                    }
                }
            }
            _ => crate::yaml::unknown_field(&key, PLAIN, map)?,
        }
    }
    // As Go's `UnmarshalYAML`: a rule with type errors skips its checks.
    if issue_count() > issues {
        return Ok(relabel::Config::default());
    }
    f.into_config().map_err(A::Error::custom)
}

/// Reads a list of relabel rules (`relabel_configs` and friends) as Go does: type errors in
/// one rule are recorded and reading goes on; a null rule fails with `what`.
#[doc(hidden)]
pub fn relabel_rules<'de, A: MapAccess<'de>>(
    map: &mut A,
    what: &'static str,
) -> Result<Vec<relabel::Config>, A::Error> {
    let before = issue_count();
    let rules: Option<Vec<Spanned<Rule>>> = map.next_value()?;
    let mut out = Vec::new();
    let mut null = false;
    for rule in rules.unwrap_or_default() {
        match rule.value {
            Rule::Config(c) => out.push(*c),
            Rule::Null => null = true,
            Rule::Wrong => {
                // Known only now: put it among the rules' own errors in document order.
                let (line, column) = (rule.referenced.line(), rule.referenced.column());
                with_state(|s| {
                    let message = cannot_unmarshal(node_at(&s.source, line, column), PLAIN);
                    let at = s.issues[before.min(s.issues.len())..]
                        .iter()
                        .position(|i| issue_line(i) > line)
                        .map_or(s.issues.len(), |p| before + p);
                    s.issues.insert(at, format!("line {line}: {message}"));
                });
            }
        }
    }
    // Go checks for null rules in the enclosing block's `UnmarshalYAML`, which type errors
    // skip.
    if null && issue_count() == before {
        return Err(A::Error::custom(what));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    fn err(rules: &str) -> String {
        let yaml = format!("scrape_configs:\n- job_name: a\n  relabel_configs:\n{rules}");
        crate::Config::load_str(&yaml, "")
            .expect_err("invalid")
            .to_string()
    }

    #[test]
    fn type_errors_are_collected_and_checks_stop_everything() {
        // Each against promtool 3.5.3.
        let e = err("  - source_labels: a\n    foo: 1\n");
        assert!(
            e.ends_with(
                "yaml: unmarshal errors:\n  line 4: cannot unmarshal !!str `a` into model.LabelNames\n  line 5: field foo not found in type relabel.plain"
            ),
            "{e}"
        );
        // A regex that does not compile drops the type errors before it.
        let e = err("  - source_labels: a\n    regex: \"(\"\n");
        assert!(
            e.ends_with("error parsing regexp: missing closing ): `^(?s:()$`"),
            "{e}"
        );
        let e = err("  - a\n  - separator: [a]\n    source_labels: [{a: b}]\n");
        assert!(
            e.ends_with(
                "yaml: unmarshal errors:\n  line 4: cannot unmarshal !!str `a` into relabel.plain\n  line 5: cannot unmarshal !!seq into string\n  line 6: cannot unmarshal !!map into string"
            ),
            "{e}"
        );
        let e = err("  - foo: 1\n    source_labels: [a, '']\n");
        assert!(e.ends_with("\"\" is not a valid label name"), "{e}");
    }

    #[test]
    fn nulls_zero_fields_and_scalars_read_as_text() {
        // A null separator is "", which keepequal refuses.
        let e = err("  - separator:\n    target_label: x\n    action: keepequal\n");
        assert!(
            e.ends_with(
                "keepequal action requires only 'source_labels' and `target_label`, and no other fields"
            ),
            "{e}"
        );
        let yaml = "scrape_configs:\n- job_name: a\n  relabel_configs:\n  - target_label: yes\n    replacement: 0x1F\n    source_labels: [true, ~]\n";
        let cfg = crate::Config::load_str(yaml, "").expect("valid");
        let rule = &cfg.scrape_configs[0].relabel_configs[0];
        assert_eq!(rule.target_label, "yes");
        assert_eq!(rule.replacement, "0x1F");
        assert_eq!(rule.source_labels, ["true", ""]);
    }
}
