//! Rule files (Prometheus's `model/rulefmt`): YAML loading, strict about unknown fields,
//! with Go's validations and error texts (positions as `line:column`).

use std::collections::BTreeMap;

use crate::Error;
use model::{Duration, ValidationScheme};

mod goyaml;

/// The groups of one rule file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleGroups {
    /// The groups, in file order.
    pub groups: Vec<RuleGroup>,
}

/// A list of rules evaluated one after another at the same time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleGroup {
    /// The group's name, unique within its file.
    pub name: String,
    /// How often the group is evaluated (`None`: the global evaluation interval).
    pub interval: Option<Duration>,
    /// How far back in time the rules query (`None`: the global `rule_query_offset`).
    pub query_offset: Option<Duration>,
    /// The most series a recording rule or alerts an alerting rule may produce
    /// (0: unlimited).
    pub limit: i64,
    /// The rules.
    pub rules: Vec<Rule>,
    /// Labels added to every rule of the group (a rule's own labels win).
    pub labels: BTreeMap<String, String>,
}

/// One recording rule (`record` set) or alerting rule (`alert` set).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rule {
    /// The name of the series a recording rule writes (empty for alerting rules).
    pub record: String,
    /// The alert's name (empty for recording rules).
    pub alert: String,
    /// The PromQL expression.
    pub expr: String,
    /// How long an alert stays pending before it fires.
    pub for_: Duration,
    /// How long an alert keeps firing after its condition cleared.
    pub keep_firing_for: Duration,
    /// Labels added to the result (templates for alerting rules).
    pub labels: BTreeMap<String, String>,
    /// Annotations of the alerts (templates).
    pub annotations: BTreeMap<String, String>,
}

impl Rule {
    /// The alert name of an alerting rule, else the record name.
    pub fn name(&self) -> &str {
        if self.alert.is_empty() {
            &self.record
        } else {
            &self.alert
        }
    }
}

/// How rule files are checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions {
    /// Which metric and label names are valid (Prometheus 3: UTF-8).
    pub name_validation: ValidationScheme,
    /// Accept fields Prometheus does not know (promtool's `--ignore-unknown-fields`);
    /// by default they are errors.
    pub ignore_unknown_fields: bool,
    /// The experimental PromQL syntax rule expressions may use (by default all of it;
    /// promtool passes only what its `--enable-feature` names).
    pub promql: promql::parser::ParseOptions,
}

/// Reads and validates the rule file `path`. Errors name the file, as Go's
/// `rulefmt.ParseFile` does.
pub fn parse_file(path: &str, opts: &ParseOptions) -> Result<RuleGroups, Vec<Error>> {
    let content = std::fs::read(path)
        .map_err(|e| vec![Error::Read(format!("open {path}: {}", io_message(&e))).in_file(path)])?;
    let content = String::from_utf8(content).map_err(|_| {
        vec![Error::Yaml("yaml: invalid leading UTF-8 octet".to_string()).in_file(path)]
    })?;
    parse(&content, opts).map_err(|errs| errs.into_iter().map(|e| e.in_file(path)).collect())
}

/// Go's wording of the common I/O errors (`no such file or directory`).
pub(crate) fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "is a directory".to_string(),
        _ => e.to_string(),
    }
}

/// Parses and validates rule groups from YAML text, as Go's `rulefmt.Parse` does: only the
/// first YAML document is read, decoded twice as go-yaml v3 decodes it (strictly into
/// `rulefmt.RuleGroups`, then for the rules' node positions), and both decodings' errors
/// are reported.
pub fn parse(content: &str, opts: &ParseOptions) -> Result<RuleGroups, Vec<Error>> {
    let root = match goyaml::parse_document(content) {
        Ok(root) => root,
        // Both of Go's decodings fail on it.
        Err(message) => return Err(vec![Error::Yaml(message.clone()), Error::Yaml(message)]),
    };
    let groups = goyaml::decode_groups(root.as_ref(), !opts.ignore_unknown_fields);
    let positions = goyaml::decode_positions(root.as_ref());
    match (groups, positions) {
        (Ok(groups), Ok(positions)) => {
            let groups = RuleGroups { groups };
            let errs = validate(&groups, &positions, opts);
            if errs.is_empty() {
                Ok(groups)
            } else {
                Err(errs)
            }
        }
        (groups, positions) => Err([groups.err(), positions.err()]
            .into_iter()
            .flatten()
            .map(Error::Yaml)
            .collect()),
    }
}

fn validate(
    groups: &RuleGroups,
    positions: &[Vec<goyaml::RulePositions>],
    opts: &ParseOptions,
) -> Vec<Error> {
    let scheme = opts.name_validation;
    let mut errs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (g, rule_positions) in groups.groups.iter().zip(positions) {
        // Go never fills in the groups' own YAML nodes: their position is always 0:0.
        let pos = Some((0, 0));
        if g.name.is_empty() {
            errs.push(Error::Group {
                position: pos,
                message: "Groupname must not be empty".to_string(),
            });
        }
        if !seen.insert(g.name.as_str()) {
            errs.push(Error::Group {
                position: pos,
                message: format!("groupname: \"{}\" is repeated in the same file", g.name),
            });
        }
        for k in g.labels.keys() {
            if !scheme.is_valid_label_name(k) || k == model::METRIC_NAME {
                errs.push(Error::Group {
                    position: None,
                    message: format!("invalid label name: {k}"),
                });
            }
        }
        for (i, (r, at)) in g.rules.iter().zip(rule_positions).enumerate() {
            for (position, alt_position, message) in validate_rule(r, at, scheme, &opts.promql) {
                errs.push(Error::Rule(Box::new(crate::error::RuleProblem {
                    group: g.name.clone(),
                    index: i + 1,
                    name: r.name().to_string(),
                    position,
                    alt_position,
                    message,
                })));
            }
        }
    }
    errs
}

type RuleProblem = (Option<(u64, u64)>, Option<(u64, u64)>, String);

fn validate_rule(
    r: &Rule,
    at: &goyaml::RulePositions,
    scheme: ValidationScheme,
    promql_opts: &promql::parser::ParseOptions,
) -> Vec<RuleProblem> {
    let mut out: Vec<RuleProblem> = Vec::new();
    let (record_pos, alert_pos) = (at.record, at.alert);
    if !r.record.is_empty() && !r.alert.is_empty() {
        out.push((
            Some(record_pos),
            Some(alert_pos),
            "only one of 'record' and 'alert' must be set".into(),
        ));
    }
    if r.record.is_empty() && r.alert.is_empty() {
        out.push((
            Some(record_pos),
            Some(alert_pos),
            "one of 'record' or 'alert' must be set".into(),
        ));
    }
    let expr_pos = at.expr;
    if r.expr.is_empty() {
        out.push((
            Some(expr_pos),
            None,
            "field 'expr' must be set in rule".into(),
        ));
    } else if let Err(e) = promql::parser::parse_expr_with(&r.expr, promql_opts) {
        out.push((
            Some(expr_pos),
            None,
            format!("could not parse expression: {e}"),
        ));
    }
    if !r.record.is_empty() {
        if !r.annotations.is_empty() {
            out.push((
                Some(record_pos),
                None,
                "invalid field 'annotations' in recording rule".into(),
            ));
        }
        if r.for_.as_millis() != 0 {
            out.push((
                Some(record_pos),
                None,
                "invalid field 'for' in recording rule".into(),
            ));
        }
        if r.keep_firing_for.as_millis() != 0 {
            out.push((
                Some(record_pos),
                None,
                "invalid field 'keep_firing_for' in recording rule".into(),
            ));
        }
        if !scheme.is_valid_metric_name(&r.record) {
            out.push((
                Some(record_pos),
                None,
                format!("invalid recording rule name: {}", r.record),
            ));
        }
        // A valid UTF-8 name, but most likely PromQL put in the wrong field.
        if r.record.contains('{') || r.record.contains('}') {
            out.push((
                Some(record_pos),
                None,
                format!(
                    "braces present in the recording rule name; should it be in expr?: {}",
                    r.record
                ),
            ));
        }
    }
    for k in r.labels.keys() {
        if !scheme.is_valid_label_name(k) || k == model::METRIC_NAME {
            out.push((None, None, format!("invalid label name: {k}")));
        }
    }
    for k in r.annotations.keys() {
        if !scheme.is_valid_label_name(k) {
            out.push((None, None, format!("invalid annotation name: {k}")));
        }
    }
    if !r.alert.is_empty() {
        let name = format!("__alert_{}", r.alert);
        for (k, v) in &r.labels {
            if let Err(e) = crate::tmpl::check(&name, v) {
                out.push((None, None, format!("label {k:?}: {e}")));
            }
        }
        for (k, v) in &r.annotations {
            if let Err(e) = crate::tmpl::check(&name, v) {
                out.push((None, None, format!("annotation {k:?}: {e}")));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(yaml: &str) -> Vec<String> {
        match parse(yaml, &ParseOptions::default()) {
            Ok(_) => Vec::new(),
            Err(errs) => errs.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn positions_and_texts_match_go() {
        let yaml = "groups:\n  - name: yolo\n    rules:\n      - record: Hi\n        alert: Hello\n        expr: 1\n";
        assert_eq!(
            errors(yaml),
            [
                "4:17: 5:16: group \"yolo\", rule 1, \"Hello\": only one of 'record' and 'alert' must be set"
            ]
        );
        let yaml = "groups:\n  - name: yolo\n    rules:\n      - expr: 1\n";
        assert_eq!(
            errors(yaml),
            ["0:0: 0:0: group \"yolo\", rule 1, \"\": one of 'record' or 'alert' must be set"]
        );
        let yaml = "groups:\n  - name: yolo\n  - name: yolo\n";
        assert_eq!(
            errors(yaml),
            // Go 3.5 never fills in a group's own node: 0:0.
            ["0:0: groupname: \"yolo\" is repeated in the same file"]
        );
        let yaml =
            "groups:\n  - name: yolo\n    rules:\n      - record: yolo\n        expr: rate(hi)\n";
        assert_eq!(
            errors(yaml),
            [
                "5:15: group \"yolo\", rule 1, \"yolo\": could not parse expression: 1:6: parse error: expected type range vector in call to function \"rate\", got instant vector"
            ]
        );
    }

    #[test]
    fn unknown_fields_are_rejected_with_go_wording() {
        let yaml = "groups:\n  - name: yolo\n    rules:\n      - alert: hola\n        expr: 1\n        annotation:\n          a: b\n";
        assert_eq!(
            errors(yaml),
            ["yaml: unmarshal errors:\n  line 6: field annotation not found in type rulefmt.Rule"]
        );
        let yaml = "groups:\n  - name: yolo\n    namespace: x\n";
        assert_eq!(
            errors(yaml),
            [
                "yaml: unmarshal errors:\n  line 3: field namespace not found in type rulefmt.RuleGroup"
            ]
        );
        let yaml = "tests: []\n";
        assert_eq!(
            errors(yaml),
            ["yaml: unmarshal errors:\n  line 1: field tests not found in type rulefmt.RuleGroups"]
        );
    }

    #[test]
    fn unknown_fields_can_be_ignored() {
        let yaml = "groups:\n  - name: yolo\n    namespace: x\n    rules:\n      - record: r\n        expr: up\n        owner: me\n";
        assert!(parse(yaml, &ParseOptions::default()).is_err());
        let lenient = ParseOptions {
            ignore_unknown_fields: true,
            ..ParseOptions::default()
        };
        let g = parse(yaml, &lenient).expect("unknown fields ignored");
        assert_eq!(g.groups[0].rules[0].record, "r");
    }

    #[test]
    fn empty_input_and_only_first_document() {
        assert_eq!(
            parse("", &ParseOptions::default()).ok(),
            Some(RuleGroups::default())
        );
        assert_eq!(
            parse("# nothing\n", &ParseOptions::default()).ok(),
            Some(RuleGroups::default())
        );
        let yaml = "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n---\ngroups: []\n";
        let g = parse(yaml, &ParseOptions::default()).expect("valid");
        assert_eq!(g.groups.len(), 1);
        assert_eq!(g.groups[0].rules[0].record, "x");
    }

    #[test]
    fn fields_are_read() {
        let yaml = "groups:\n  - name: g\n    interval: 30s\n    query_offset: 1m\n    limit: 3\n    labels:\n      team: a\n    rules:\n      - alert: A\n        expr: up == 0\n        for: 5m\n        keep_firing_for: 1m\n        labels:\n          severity: 1\n        annotations:\n          summary: \"{{ $labels.instance }} down\"\n";
        let g = parse(yaml, &ParseOptions::default()).expect("valid");
        let g = &g.groups[0];
        assert_eq!(g.interval, Some(Duration::from_secs(30)));
        assert_eq!(g.query_offset, Some(Duration::from_secs(60)));
        assert_eq!(g.limit, 3);
        assert_eq!(g.labels["team"], "a");
        let r = &g.rules[0];
        assert_eq!(r.name(), "A");
        assert_eq!(r.for_, Duration::from_secs(300));
        assert_eq!(r.keep_firing_for, Duration::from_secs(60));
        assert_eq!(r.labels["severity"], "1");
    }

    #[test]
    fn legacy_names_are_checked_when_asked() {
        let yaml = "groups:\n  - name: yolo\n    rules:\n      - alert: hola\n        expr: 1\n        annotations:\n          ins-tance: localhost\n";
        assert!(errors(yaml).is_empty());
        let legacy = ParseOptions {
            name_validation: ValidationScheme::Legacy,
            ..ParseOptions::default()
        };
        let errs: Vec<String> = parse(yaml, &legacy)
            .expect_err("legacy names")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            ["group \"yolo\", rule 1, \"hola\": invalid annotation name: ins-tance"]
        );
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    fn name() -> impl Strategy<Value = String> {
        "[a-z_][a-z0-9_:]{0,12}"
    }

    fn value() -> impl Strategy<Value = String> {
        // Printable text, quoted in the YAML below, including characters YAML cares about.
        "[ -~]{0,16}"
    }

    fn yaml_quote(s: &str) -> String {
        format!("'{}'", s.replace('\'', "''"))
    }

    proptest! {
        /// Rule groups written as YAML read back as the same groups.
        #[test]
        fn written_groups_read_back(
            groups in proptest::collection::btree_map(name(), proptest::collection::vec(
                (name(), any::<bool>(), proptest::collection::btree_map("[a-z][a-z0-9_]{0,8}", value(), 0..3)),
                0..4,
            ), 0..3)
        ) {
            let mut yaml = String::from("groups:\n");
            for (g, rules) in &groups {
                yaml.push_str(&format!("  - name: {}\n    rules:\n", yaml_quote(g)));
                for (r, alert, labels) in rules {
                    let kind = if *alert { "alert" } else { "record" };
                    yaml.push_str(&format!("      - {kind}: {}\n        expr: up\n", yaml_quote(r)));
                    if !labels.is_empty() {
                        yaml.push_str("        labels:\n");
                        for (k, v) in labels {
                            yaml.push_str(&format!("          {k}: {}\n", yaml_quote(v)));
                        }
                    }
                }
            }
            let parsed = parse(&yaml, &ParseOptions::default());
            // Template syntax in alert labels may legitimately fail the check.
            let has_braces = groups.values().flatten().any(|(_, a, l)| *a && l.values().any(|v| v.contains("{{")));
            prop_assume!(!has_braces);
            let parsed = parsed.map_err(|e| format!("{e:?}\n{yaml}"));
            prop_assert!(parsed.is_ok(), "{:?}", parsed);
            let parsed = parsed.unwrap_or_default();
            prop_assert_eq!(parsed.groups.len(), groups.len());
            for (pg, (g, rules)) in parsed.groups.iter().zip(&groups) {
                prop_assert_eq!(&pg.name, g);
                prop_assert_eq!(pg.rules.len(), rules.len());
                for (pr, (r, alert, labels)) in pg.rules.iter().zip(rules) {
                    prop_assert_eq!(pr.name(), r.as_str());
                    prop_assert_eq!(pr.alert.is_empty(), !*alert);
                    prop_assert_eq!(&pr.labels, labels);
                    prop_assert_eq!(pr.expr.as_str(), "up");
                }
            }
        }
    }
}

#[cfg(test)]
mod template_tests {
    use super::*;

    /// Go's TestTemplateParsing: alert templates are parsed when rule files load.
    #[test]
    fn alert_templates_are_parsed() {
        let rule = |labels: &str, annotations: &str| {
            format!(
                "groups:\n- name: example\n  rules:\n  - alert: InstanceDown\n    expr: up == 0\n    for: 5m\n    labels:\n{labels}    annotations:\n{annotations}"
            )
        };
        let ok_labels = "      severity: \"page\"\n";
        let ok_ann = "      summary: \"Instance {{ $labels.instance }} down\"\n";
        let cases = [
            (rule(ok_labels, ok_ann), true),
            (
                rule(
                    ok_labels,
                    "      summary: \"Instance {{ $label.instance }} down\"\n",
                ),
                false,
            ),
            (
                rule("      severity: \"{{$this_is_wrong}}\"\n", ok_ann),
                false,
            ),
            (
                rule(
                    ok_labels,
                    &format!("{ok_ann}      description: \"{{{{$labels.quantile * 100}}}}\"\n"),
                ),
                false,
            ),
        ];
        for (yaml, ok) in cases {
            let res = parse(&yaml, &ParseOptions::default());
            assert_eq!(res.is_ok(), ok, "{yaml}\n{res:?}");
        }
    }
}
