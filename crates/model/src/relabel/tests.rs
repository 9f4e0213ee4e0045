//! Tests for relabeling, ported from Prometheus's model/relabel/relabel_test.go.

use super::*;

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn cfg(action: Action, source: &[&str], regex: Option<&str>, target: &str, repl: &str) -> Config {
    Config {
        source_labels: source.iter().map(|s| (*s).to_owned()).collect(),
        regex: regex.map_or_else(Regex::default, |r| Regex::new(r).expect("valid regex")),
        target_label: target.to_owned(),
        replacement: if repl.is_empty() {
            DEFAULT_REPLACEMENT.to_owned()
        } else {
            repl.to_owned()
        },
        action,
        ..Config::default()
    }
}

fn hashmod(source: &[&str], target: &str, modulus: u64) -> Config {
    Config {
        modulus,
        ..cfg(Action::HashMod, source, None, target, "")
    }
}

#[test]
fn process_table_from_go() {
    use Action::*;
    let cases: Vec<(Labels, Vec<Config>, Option<Labels>)> = vec![
        (
            ls(&[("a", "foo"), ("b", "bar"), ("c", "baz")]),
            vec![cfg(Replace, &["a"], Some("f(.*)"), "d", "ch${1}-ch${1}")],
            Some(ls(&[
                ("a", "foo"),
                ("b", "bar"),
                ("c", "baz"),
                ("d", "choo-choo"),
            ])),
        ),
        (
            ls(&[("a", "foo"), ("b", "bar"), ("c", "baz")]),
            vec![
                cfg(Replace, &["a", "b"], Some("f(.*);(.*)r"), "a", "b${1}${2}m"),
                cfg(
                    Replace,
                    &["c", "a"],
                    Some("(b).*b(.*)ba(.*)"),
                    "d",
                    "$1$2$2$3",
                ),
            ],
            Some(ls(&[
                ("a", "boobam"),
                ("b", "bar"),
                ("c", "baz"),
                ("d", "boooom"),
            ])),
        ),
        (
            ls(&[("a", "foo")]),
            vec![
                cfg(Drop, &["a"], Some(".*o.*"), "", ""),
                cfg(Replace, &["a"], Some("f(.*)"), "d", "ch$1-ch$1"),
            ],
            None,
        ),
        (
            ls(&[("a", "foo"), ("b", "bar")]),
            vec![cfg(Drop, &["a"], Some(".*o.*"), "", "")],
            None,
        ),
        (
            ls(&[("a", "abc")]),
            vec![cfg(Replace, &["a"], Some(".*(b).*"), "d", "$1")],
            Some(ls(&[("a", "abc"), ("d", "b")])),
        ),
        (
            ls(&[("a", "foo")]),
            vec![cfg(Drop, &["a"], Some("no-match"), "", "")],
            Some(ls(&[("a", "foo")])),
        ),
        (
            ls(&[("a", "foo")]),
            vec![cfg(Drop, &["a"], Some("f|o"), "", "")],
            Some(ls(&[("a", "foo")])),
        ),
        (
            ls(&[("a", "foo")]),
            vec![cfg(Keep, &["a"], Some("no-match"), "", "")],
            None,
        ),
        (
            ls(&[("a", "foo")]),
            vec![cfg(Keep, &["a"], Some("f.*"), "", "")],
            Some(ls(&[("a", "foo")])),
        ),
        // No replacement must be applied if there is no match.
        (
            ls(&[("a", "boo")]),
            vec![cfg(Replace, &["a"], Some("f"), "b", "bar")],
            Some(ls(&[("a", "boo")])),
        ),
        (
            ls(&[("a", "foo"), ("b", "bar"), ("c", "baz")]),
            vec![hashmod(&["c"], "d", 1000)],
            Some(ls(&[
                ("a", "foo"),
                ("b", "bar"),
                ("c", "baz"),
                ("d", "976"),
            ])),
        ),
        (
            ls(&[("a", "foo\nbar")]),
            vec![hashmod(&["a"], "b", 1000)],
            Some(ls(&[("a", "foo\nbar"), ("b", "734")])),
        ),
        (
            ls(&[("a", "foo"), ("b1", "bar"), ("b2", "baz")]),
            vec![cfg(LabelMap, &[], Some("(b.*)"), "", "bar_${1}")],
            Some(ls(&[
                ("a", "foo"),
                ("b1", "bar"),
                ("b2", "baz"),
                ("bar_b1", "bar"),
                ("bar_b2", "baz"),
            ])),
        ),
        (
            ls(&[
                ("a", "foo"),
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
            ]),
            vec![cfg(LabelMap, &[], Some("__meta_(my.*)"), "", "${1}")],
            Some(ls(&[
                ("a", "foo"),
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
                ("my_bar", "aaa"),
                ("my_baz", "bbb"),
            ])),
        ),
        (
            ls(&[("a", "some-name-value")]),
            vec![cfg(
                Replace,
                &["a"],
                Some("some-([^-]+)-([^,]+)"),
                "${1}",
                "${2}",
            )],
            Some(ls(&[("a", "some-name-value"), ("name", "value")])),
        ),
        // An empty replacement deletes (here: a label that is absent anyway).
        (
            ls(&[("a", "some-name-value")]),
            vec![cfg(
                Replace,
                &["a"],
                Some("some-([^-]+)-([^,]+)"),
                "${1}",
                "${3}",
            )],
            Some(ls(&[("a", "some-name-value")])),
        ),
        // Target labels expanding to "" are invalid and skipped.
        (
            ls(&[("a", "some-name-0")]),
            vec![
                cfg(
                    Replace,
                    &["a"],
                    Some("some-([^-]+)-([^,]+)"),
                    "${3}",
                    "${1}",
                ),
                cfg(
                    Replace,
                    &["a"],
                    Some("some-([^-]+)(-[^,]+)"),
                    "${3}",
                    "${1}",
                ),
            ],
            Some(ls(&[("a", "some-name-0")])),
        ),
        (
            ls(&[("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar")]),
            vec![
                cfg(
                    Replace,
                    &["__meta_sd_tags"],
                    Some("(?:.+,|^)path:(/[^,]+).*"),
                    "__metrics_path__",
                    "${1}",
                ),
                cfg(
                    Replace,
                    &["__meta_sd_tags"],
                    Some("(?:.+,|^)job:([^,]+).*"),
                    "job",
                    "${1}",
                ),
                cfg(
                    Replace,
                    &["__meta_sd_tags"],
                    Some("(?:.+,|^)label:([^=]+)=([^,]+).*"),
                    "${1}",
                    "${2}",
                ),
            ],
            Some(ls(&[
                ("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar"),
                ("__metrics_path__", "/secret"),
                ("job", "some-job"),
                ("foo", "bar"),
            ])),
        ),
        // prometheus/prometheus#12283.
        (
            ls(&[
                ("__meta_kubernetes_pod_container_port_name", "foo"),
                (
                    "__meta_kubernetes_pod_annotation_example_metrics_port",
                    "9091",
                ),
            ]),
            vec![
                cfg(
                    LabelDrop,
                    &[],
                    Some("^__meta_kubernetes_pod_container_port_name$"),
                    "",
                    "",
                ),
                cfg(
                    Replace,
                    &["__meta_kubernetes_pod_annotation_example_metrics_port"],
                    Some("(.+)"),
                    "__meta_kubernetes_pod_container_port_name",
                    "metrics",
                ),
                cfg(
                    Keep,
                    &["__meta_kubernetes_pod_container_port_name"],
                    Some("^metrics$"),
                    "",
                    "",
                ),
            ],
            Some(ls(&[
                (
                    "__meta_kubernetes_pod_annotation_example_metrics_port",
                    "9091",
                ),
                ("__meta_kubernetes_pod_container_port_name", "metrics"),
            ])),
        ),
        (
            ls(&[("a", "foo"), ("b1", "bar"), ("b2", "baz")]),
            vec![cfg(LabelKeep, &[], Some("(b.*)"), "", "")],
            Some(ls(&[("b1", "bar"), ("b2", "baz")])),
        ),
        (
            ls(&[("a", "foo"), ("b1", "bar"), ("b2", "baz")]),
            vec![cfg(LabelDrop, &[], Some("(b.*)"), "", "")],
            Some(ls(&[("a", "foo")])),
        ),
        (
            ls(&[("foo", "bAr123Foo")]),
            vec![
                cfg(Uppercase, &["foo"], None, "foo_uppercase", ""),
                cfg(Lowercase, &["foo"], None, "foo_lowercase", ""),
            ],
            Some(ls(&[
                ("foo", "bAr123Foo"),
                ("foo_lowercase", "bar123foo"),
                ("foo_uppercase", "BAR123FOO"),
            ])),
        ),
        (
            ls(&[
                ("__tmp_port", "1234"),
                ("__port1", "1234"),
                ("__port2", "5678"),
            ]),
            vec![cfg(KeepEqual, &["__tmp_port"], None, "__port1", "")],
            Some(ls(&[
                ("__tmp_port", "1234"),
                ("__port1", "1234"),
                ("__port2", "5678"),
            ])),
        ),
        (
            ls(&[
                ("__tmp_port", "1234"),
                ("__port1", "1234"),
                ("__port2", "5678"),
            ]),
            vec![cfg(DropEqual, &["__tmp_port"], None, "__port1", "")],
            None,
        ),
        (
            ls(&[
                ("__tmp_port", "1234"),
                ("__port1", "1234"),
                ("__port2", "5678"),
            ]),
            vec![cfg(DropEqual, &["__tmp_port"], None, "__port2", "")],
            Some(ls(&[
                ("__tmp_port", "1234"),
                ("__port1", "1234"),
                ("__port2", "5678"),
            ])),
        ),
        (
            ls(&[
                ("__tmp_port", "1234"),
                ("__port1", "1234"),
                ("__port2", "5678"),
            ]),
            vec![cfg(KeepEqual, &["__tmp_port"], None, "__port2", "")],
            None,
        ),
        // The fast path: an empty input with the default regex sets the label literally.
        (
            ls(&[("a", "1")]),
            vec![cfg(Replace, &[], None, "env", "prod")],
            Some(ls(&[("a", "1"), ("env", "prod")])),
        ),
        // `.` matches newlines (Prometheus 3).
        (
            ls(&[("a", "x\ny")]),
            vec![cfg(Keep, &["a"], Some("x.y"), "", "")],
            Some(ls(&[("a", "x\ny")])),
        ),
    ];
    for (i, (input, cfgs, want)) in cases.into_iter().enumerate() {
        for c in &cfgs {
            c.validate(ValidationScheme::Utf8)
                .unwrap_or_else(|e| panic!("case {i}: config {c:?} invalid: {e}"));
        }
        assert_eq!(process(&input, &cfgs), want, "case {i}");
    }
}

#[test]
fn validate_messages_match_go() {
    use Action::*;
    let modulus_zero = cfg(HashMod, &["a"], None, "b", "");
    let cases: Vec<(Config, ValidationScheme, &str)> = vec![
        (
            cfg(Replace, &[], None, "", ""),
            ValidationScheme::Utf8,
            "relabel configuration for replace action requires 'target_label' value",
        ),
        (
            cfg(Lowercase, &[], None, "", ""),
            ValidationScheme::Utf8,
            "relabel configuration for lowercase action requires 'target_label' value",
        ),
        (
            cfg(Lowercase, &[], None, "${3}", ""),
            ValidationScheme::Legacy,
            r#""${3}" is invalid 'target_label' for lowercase action"#,
        ),
        (
            cfg(
                Replace,
                &["a"],
                Some("some-([^-]+)-([^,]+)"),
                "${3}",
                "${1}",
            ),
            ValidationScheme::Legacy,
            "",
        ),
        (
            cfg(
                Replace,
                &["a"],
                Some("some-([^-]+)-([^,]+)"),
                "0${3}",
                "${1}",
            ),
            ValidationScheme::Legacy,
            r#""0${3}" is invalid 'target_label' for replace action"#,
        ),
        (
            cfg(
                Replace,
                &["a"],
                Some("some-([^-]+)-([^,]+)"),
                "-${3}",
                "${1}",
            ),
            ValidationScheme::Legacy,
            r#""-${3}" is invalid 'target_label' for replace action"#,
        ),
        (
            cfg(
                Replace,
                &["a"],
                Some("some-([^-]+)-([^,]+)"),
                "-${3}",
                "${1}",
            ),
            ValidationScheme::Utf8,
            "",
        ),
        (
            cfg(Replace, &["a"], None, "a.b", ""),
            ValidationScheme::Utf8,
            "",
        ),
        (
            cfg(Replace, &["a"], None, "a.b", ""),
            ValidationScheme::Legacy,
            r#""a.b" is invalid 'target_label' for replace action"#,
        ),
        (
            modulus_zero,
            ValidationScheme::Utf8,
            "relabel configuration for hashmod requires non-zero modulus",
        ),
        (
            cfg(Uppercase, &["a"], None, "b", "x"),
            ValidationScheme::Utf8,
            "'replacement' can not be set for uppercase action",
        ),
        (
            cfg(LabelMap, &[], None, "", "-bad"),
            ValidationScheme::Legacy,
            r#""-bad" is invalid 'replacement' for labelmap action"#,
        ),
        (
            cfg(LabelMap, &[], None, "", "x_${1}"),
            ValidationScheme::Legacy,
            "",
        ),
        (
            cfg(KeepEqual, &["a"], Some("(.*)"), "b", ""),
            ValidationScheme::Utf8,
            "keepequal action requires only 'source_labels' and `target_label`, and no other fields",
        ),
        (
            cfg(DropEqual, &["a"], None, "b", ""),
            ValidationScheme::Utf8,
            "",
        ),
        (
            cfg(LabelDrop, &["a"], Some("x"), "", ""),
            ValidationScheme::Utf8,
            "labeldrop action requires only 'regex', and no other fields",
        ),
        (
            cfg(LabelKeep, &[], Some("x"), "t", ""),
            ValidationScheme::Utf8,
            "labelkeep action requires only 'regex', and no other fields",
        ),
        (
            cfg(LabelKeep, &[], Some("x"), "", ""),
            ValidationScheme::Utf8,
            "",
        ),
    ];
    for (i, (c, scheme, want)) in cases.into_iter().enumerate() {
        let got = c
            .validate(scheme)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(got, want, "case {i}: {c:?}");
    }
}

#[test]
fn legacy_target_label_validity() {
    let cases = [
        ("-label", false),
        ("label", true),
        ("label${1}", true),
        ("${1}label", true),
        ("${1}", true),
        ("${", false),
        ("$", false),
        ("${}", false),
        ("foo${", false),
        ("$1", true),
        ("asd$2asd", true),
        ("-foo${1}bar-", false),
        ("_${1}_", true),
        ("foo${bar}foo", true),
    ];
    for (s, valid) in cases {
        assert_eq!(is_valid_legacy_target(s), valid, "{s:?}");
    }
}

#[test]
fn yaml_defaults_and_validation() {
    let c: Config = serde_saphyr::from_str("target_label: x\n").expect("valid config");
    assert_eq!(c.action, Action::Replace);
    assert_eq!(c.separator, ";");
    assert!(c.regex.is_default());
    assert_eq!(c.regex.as_str(), "(.*)");
    assert_eq!(c.replacement, "$1");

    let c: Config = serde_saphyr::from_str(
        "source_labels: [a, b]\nseparator: ''\nregex: 'x(.*)'\naction: HashMod\nmodulus: 8\ntarget_label: t\n",
    )
    .expect("valid config");
    assert_eq!(c.source_labels, ["a", "b"]);
    assert_eq!(c.separator, "");
    assert_eq!(c.action, Action::HashMod);
    assert_eq!(c.regex.as_str(), "x(.*)");
    assert!(!c.regex.is_default());
    assert_eq!(c.modulus, 8);

    // An explicit `(.*)` is not the default, as in Go (pointer comparison there).
    let err = serde_saphyr::from_str::<Config>(
        "source_labels: [a]\nregex: (.*)\naction: keepequal\ntarget_label: b\n",
    )
    .expect_err("explicit regex on keepequal");
    assert!(
        err.to_string().contains("keepequal action requires only"),
        "{err}"
    );

    let bad = [
        ("action: foo\n", "unknown relabel action \"foo\""),
        (
            "action:\ntarget_label: x\n",
            "relabel action cannot be empty",
        ),
        (
            "action: null\ntarget_label: x\n",
            "relabel action cannot be empty",
        ),
        ("target_label: x\nbogus: 1\n", "bogus"),
        ("target_label: x\nregex: '('\n", "missing closing )"),
        (
            "action: labeldrop\nsource_labels: []\n",
            "labeldrop action requires only 'regex'",
        ),
        (
            "source_labels: ['']\ntarget_label: x\n",
            "\"\" is not a valid label name",
        ),
        (
            "action: hashmod\ntarget_label: x\n",
            "requires non-zero modulus",
        ),
    ];
    for (yaml, want) in bad {
        let err = serde_saphyr::from_str::<Config>(yaml).expect_err(yaml);
        assert!(err.to_string().contains(want), "{yaml:?}: {err}");
    }
}

#[test]
fn serializes_like_go_with_omitempty() {
    let c = cfg(Action::Replace, &["a"], Some("x(.*)"), "t", "");
    let json = serde_json::to_string(&c).expect("serialize");
    assert_eq!(
        json,
        r#"{"source_labels":["a"],"separator":";","regex":"x(.*)","target_label":"t","replacement":"$1","action":"replace"}"#
    );
    let back: Config = serde_json::from_str(&json).expect("round trip");
    assert_eq!(back, c);
    let d = serde_json::to_string(&cfg(Action::LabelDrop, &[], None, "", "")).expect("serialize");
    assert_eq!(
        d,
        r#"{"separator":";","replacement":"$1","action":"labeldrop"}"#
    );
}

#[test]
fn expand_follows_go_regexp_expand() {
    let re = regexp::Regex::new("(?P<first>a+)(b+)?(c)").expect("valid");
    let cases = [
        ("$1", "aa"),
        ("${1}x", "aax"),
        ("$1x", ""), // the group named "1x" does not exist
        ("$first-$3", "aa-c"),
        ("${first}", "aa"),
        ("$2", ""), // did not participate
        ("$$1", "$1"),
        ("$", "$"),
        ("${", "${"),
        ("${1", "${1"),
        ("a$-b", "a$-b"),
        ("$01", ""), // leading zero: a name, not a number
        ("$0", "aac"),
        ("$99", ""),
    ];
    for (template, want) in cases {
        assert_eq!(
            re.expand("aac", template).as_deref(),
            Some(want),
            "{template:?}"
        );
    }
    assert_eq!(re.expand("x", "$1"), None);
}

#[test]
fn go_case_mapping() {
    assert_eq!(go_to_upper("straße"), "STRAßE");
    assert_eq!(go_to_lower("ΟΔΟΣ"), "οδοσ");
    assert_eq!(go_to_lower("İ"), "i");
}

mod props {
    use proptest::prelude::*;

    use super::*;

    fn action() -> impl Strategy<Value = Action> {
        prop::sample::select(Action::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn process_never_panics(
            pairs in prop::collection::vec(("[a-c_]{1,3}", ".{1,6}"), 0..6),
            steps in prop::collection::vec(
                (action(), prop::collection::vec("[a-c_]{1,3}", 0..3), ".{0,6}", "[a-c$_{}0-9]{0,6}", "[a-c$_{}0-9]{0,6}", 0u64..5),
                0..5,
            ),
        ) {
            let input = Labels::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            let cfgs: Vec<Config> = steps
                .into_iter()
                .filter_map(|(action, source_labels, regex, target_label, replacement, modulus)| {
                    Some(Config {
                        source_labels,
                        regex: Regex::new(&regex).ok()?,
                        target_label,
                        replacement,
                        action,
                        modulus,
                        ..Config::default()
                    })
                })
                .collect();
            // Validation may reject the configs; processing must not panic either way.
            for c in &cfgs {
                let _ = c.validate(ValidationScheme::Utf8);
            }
            if let Some(out) = process(&input, &cfgs) {
                for (n, v) in out.iter() {
                    prop_assert!(!v.is_empty(), "label {} set to an empty value", n);
                }
            }
        }

        #[test]
        fn config_yaml_never_panics(yaml in "[a-z_:\\[\\]\n $(){}.*0-9-]{0,80}") {
            let _ = serde_saphyr::from_str::<Config>(&yaml);
        }
    }
}

#[test]
fn whole_expression_errors_quote_the_anchored_regex_as_go() {
    let Err(err) = Regex::new("abc(def") else {
        panic!("unbalanced parenthesis accepted")
    };
    assert_eq!(
        err.to_string(),
        "error parsing regexp: missing closing ): `^(?s:abc(def)$`"
    );
    let Err(err) = Regex::new(r"a\q") else {
        panic!("bad escape accepted")
    };
    assert_eq!(
        err.to_string(),
        r"error parsing regexp: invalid escape sequence: `\q`"
    );
}

#[test]
fn fields_take_defaults_and_go_checks() {
    let c = Fields {
        source_labels: Some(vec!["a".into()]),
        target_label: Some("b".into()),
        ..Fields::default()
    }
    .into_config()
    .unwrap();
    assert_eq!(c.separator, ";");
    assert!(c.regex.is_default());
    assert_eq!(c.action, Action::Replace);
    let err = |f: Fields| f.into_config().unwrap_err().to_string();
    assert_eq!(
        err(Fields {
            action: Some(None),
            ..Fields::default()
        }),
        "relabel action cannot be empty"
    );
    // Empty source labels are still set, which labeldrop refuses.
    assert_eq!(
        err(Fields {
            source_labels: Some(Vec::new()),
            action: Some(Some(Action::LabelDrop)),
            ..Fields::default()
        }),
        "labeldrop action requires only 'regex', and no other fields"
    );
    assert_eq!(
        err(Fields::default()),
        "relabel configuration for replace action requires 'target_label' value"
    );
}
