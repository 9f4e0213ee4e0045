//! Upstream `model/rulefmt/testdata` and `rules/fixtures`: good files load, bad files fail
//! with Prometheus's error text (Prometheus 3 semantics: UTF-8 names are valid).

use rules::rulefmt::{ParseOptions, parse_file};

fn errors_of(path: &std::path::Path, opts: &ParseOptions) -> Vec<String> {
    let path = path.to_str().expect("UTF-8 path");
    match parse_file(path, opts) {
        Ok(_) => Vec::new(),
        Err(errs) => errs.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn upstream_rulefmt_testdata() {
    let Some(dir) = test_support::testdata_dir("upstream/model/rulefmt/testdata") else {
        return;
    };
    // (file, exact text of the first error after the file name; None: loads)
    let cases: &[(&str, Option<&str>)] = &[
        ("test.yaml", None),
        ("test_aliases.yaml", None),
        ("utf-8_lname.good.yaml", None),
        ("utf-8_annotation.good.yaml", None),
        ("legacy_validation_annotation.good.yaml", None),
        // Parsed with the UTF-8 scheme this one is fine; the legacy case is below.
        ("legacy_validation_annotation.bad.yaml", None),
        (
            "duplicate_grp.bad.yaml",
            // Go never fills in a group's own YAML node: always 0:0.
            Some("0:0: groupname: \"yolo\" is repeated in the same file"),
        ),
        (
            "bad_expr.bad.yaml",
            Some(
                "5:15: group \"yolo\", rule 1, \"yolo\": could not parse expression: 1:6: parse error: expected type range vector in call to function \"rate\", got instant vector",
            ),
        ),
        (
            "record_and_alert.bad.yaml",
            Some(
                "4:17: 5:16: group \"yolo\", rule 1, \"Hello\": only one of 'record' and 'alert' must be set",
            ),
        ),
        (
            "no_rec_alert.bad.yaml",
            Some("0:0: 0:0: group \"yolo\", rule 1, \"\": one of 'record' or 'alert' must be set"),
        ),
        (
            "noexpr.bad.yaml",
            Some("0:0: group \"yolo\", rule 1, \"ylo\": field 'expr' must be set in rule"),
        ),
        (
            "invalid_record_name.bad.yaml",
            Some(
                "4:17: group \"yolo\", rule 1, \"strawberry{flavor=\\\"sweet\\\"}\": braces present in the recording rule name; should it be in expr?: strawberry{flavor=\"sweet\"}",
            ),
        ),
        (
            "bad_field.bad.yaml",
            Some(
                "yaml: unmarshal errors:\n  line 8: field annotation not found in type rulefmt.Rule",
            ),
        ),
        (
            "invalid_label_name.bad.yaml",
            Some("group \"yolo\", rule 1, \"hola\": invalid label name: __name__"),
        ),
        (
            "record_and_for.bad.yaml",
            Some("4:17: group \"yolo\", rule 1, \"Hello\": invalid field 'for' in recording rule"),
        ),
        (
            "record_and_keep_firing_for.bad.yaml",
            Some(
                "4:17: group \"yolo\", rule 1, \"Hello\": invalid field 'keep_firing_for' in recording rule",
            ),
        ),
    ];
    let mut listed = std::collections::BTreeSet::new();
    for (name, want) in cases {
        listed.insert(name.to_string());
        let path = dir.join(name);
        let errs = errors_of(&path, &ParseOptions::default());
        match want {
            None => assert!(errs.is_empty(), "{name}: {errs:?}"),
            Some(want) => {
                let prefix = format!("{}: ", path.display());
                assert_eq!(
                    errs.first().map(|e| e.strip_prefix(&prefix).unwrap_or(e)),
                    Some(*want),
                    "{name}: {errs:?}"
                );
            }
        }
    }
    let legacy = ParseOptions {
        name_validation: model::ValidationScheme::Legacy,
        ..ParseOptions::default()
    };
    let errs = errors_of(&dir.join("legacy_validation_annotation.bad.yaml"), &legacy);
    assert!(
        errs[0].ends_with("group \"yolo\", rule 1, \"hola\": invalid annotation name: ins-tance"),
        "{errs:?}"
    );
    // Every upstream file is covered.
    for entry in std::fs::read_dir(&dir).expect("readable testdata") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .to_string();
        assert!(listed.contains(&name), "{name} has no case");
    }
}

#[test]
fn aliases_and_merge_keys_resolve() {
    let Some(dir) = test_support::testdata_dir("upstream/model/rulefmt/testdata") else {
        return;
    };
    let path = dir.join("test_aliases.yaml");
    let rgs = parse_file(path.to_str().expect("UTF-8"), &ParseOptions::default()).expect("loads");
    let expr = "sum without(instance) (rate(errors_total[5m]))\n/\nsum without(instance) (rate(requests_total[5m]))\n";
    for g in &rgs.groups {
        assert_eq!(g.rules[0].alert, "HighAlert");
        assert_eq!(g.rules[0].labels["severity"], "critical");
        assert_eq!(g.rules[1].record, "new_metric");
        assert_eq!(g.rules[3].alert, "HighAlert2");
        assert_eq!(g.rules[3].labels["severity"], "critical");
        assert!(g.rules.iter().all(|r| r.expr == expr));
    }
}

#[test]
fn upstream_rule_manager_fixtures_load() {
    let Some(dir) = test_support::testdata_dir("upstream/rules/fixtures") else {
        return;
    };
    for entry in std::fs::read_dir(&dir).expect("readable fixtures") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let errs = errors_of(&path, &ParseOptions::default());
        if name == "invalid_rules.yaml" {
            assert_eq!(
                errs,
                [format!(
                    "{}: yaml: unmarshal errors:\n  line 6: field unexpected_field not found in type rulefmt.Rule",
                    path.display()
                )]
            );
        } else {
            assert!(errs.is_empty(), "{name}: {errs:?}");
        }
    }
}

#[test]
fn missing_file_names_the_file() {
    let errs = errors_of(
        std::path::Path::new("/nonexistent/rules.yml"),
        &ParseOptions::default(),
    );
    assert_eq!(
        errs,
        ["/nonexistent/rules.yml: open /nonexistent/rules.yml: no such file or directory"]
    );
}
