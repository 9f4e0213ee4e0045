//! Which rules of a group read what another writes (Go's `buildDependencyMap` and
//! `concurrentRuleEvalController.SplitGroupIntoBatches`), for `concurrent-rule-eval`.

use model::Matcher;
use promql::parser::Expr;

/// The series Prometheus writes for alerts; reading them makes a rule depend on alerting
/// rules.
const ALERT_METRIC_NAME: &str = "ALERTS";
/// Written while restoring alerts: a rule reading it has no knowable dependency.
const ALERT_FOR_STATE_METRIC_NAME: &str = "ALERTS_FOR_STATE";

/// A rule as the analysis sees it.
#[derive(Debug)]
pub(crate) struct RuleInput<'a> {
    /// The record or alert name.
    pub(crate) name: &'a str,
    /// Whether the rule is an alerting rule (writes `ALERTS{alertname="<name>"}`).
    pub(crate) alerting: bool,
    /// The parsed query.
    pub(crate) expr: &'a Expr,
}

/// What the analysis found for one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RuleDeps {
    /// No other rule of the group reads this rule's output.
    pub(crate) no_dependents: bool,
    /// This rule reads no other rule's output.
    pub(crate) no_dependencies: bool,
}

/// The name matcher of a selector: its metric name, else its first `__name__` matcher.
fn name_matcher(name: &str, matchers: &[Matcher]) -> Option<Matcher> {
    if !name.is_empty() {
        return Matcher::new(model::MatchType::Equal, model::METRIC_NAME, name).ok();
    }
    matchers
        .iter()
        .find(|m| m.name == model::METRIC_NAME)
        .cloned()
}

/// Go's `buildDependencyMap` read through `AnalyseRules`: for every rule, whether another
/// rule reads its output (a selector whose name matcher matches its name, or `ALERTS` with
/// an `alertname` matcher matching an alerting rule) and whether it reads another's. When
/// any selector has no name matcher (`{job="x"}`) or reads `ALERTS` without `alertname` or
/// `ALERTS_FOR_STATE`, nothing can be known: every rule then counts as having both, which
/// keeps the group sequential. A group of one rule has neither.
pub(crate) fn analyse(rules: &[RuleInput<'_>]) -> Vec<RuleDeps> {
    let unknown = RuleDeps {
        no_dependents: false,
        no_dependencies: false,
    };
    // dependents[o] lists the rules reading o's output.
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); rules.len()];
    if rules.len() > 1 {
        for (r, rule) in rules.iter().enumerate() {
            let mut indeterminate = false;
            rule.expr.walk(&mut |node| {
                let vs = match node {
                    Expr::VectorSelector(vs) => vs,
                    Expr::MatrixSelector(ms) => &ms.vector_selector,
                    _ => return,
                };
                let Some(name) = name_matcher(&vs.name, &vs.matchers) else {
                    indeterminate = true;
                    return;
                };
                if name.matches(ALERT_FOR_STATE_METRIC_NAME) {
                    indeterminate = true;
                    return;
                }
                if name.matches(ALERT_METRIC_NAME) {
                    // ALERTS{alertname=...} reads the alerting rules it names.
                    let Some(alertname) = vs.matchers.iter().find(|m| m.name == "alertname") else {
                        indeterminate = true;
                        return;
                    };
                    for (o, other) in rules.iter().enumerate() {
                        if o != r && other.alerting && alertname.matches(other.name) {
                            dependents[o].push(r);
                        }
                    }
                    return;
                }
                for (o, other) in rules.iter().enumerate() {
                    if o != r && name.matches(other.name) {
                        dependents[o].push(r);
                    }
                }
            });
            if indeterminate {
                return vec![unknown; rules.len()];
            }
        }
    }
    (0..rules.len())
        .map(|i| RuleDeps {
            no_dependents: dependents[i].is_empty(),
            no_dependencies: !dependents.iter().any(|d| d.contains(&i)),
        })
        .collect()
}

/// Go's `SplitGroupIntoBatches`: rule indexes in evaluation batches. Rules of one batch may
/// run at once; a batch starts when the previous one is done. First every rule without
/// dependencies, then one batch per rule with both dependencies and dependents (in group
/// order), then every rule without dependents.
pub(crate) fn batches(deps: &[RuleDeps]) -> Vec<Vec<usize>> {
    let mut first = Vec::new();
    let mut middle = Vec::new();
    let mut last = Vec::new();
    for (i, d) in deps.iter().enumerate() {
        if d.no_dependencies {
            first.push(i);
        } else if d.no_dependents {
            last.push(i);
        } else {
            middle.push(vec![i]);
        }
    }
    let mut out = Vec::with_capacity(middle.len() + 2);
    if !first.is_empty() {
        out.push(first);
    }
    out.extend(middle);
    if !last.is_empty() {
        out.push(last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(rules: &[(&str, bool, &str)]) -> (Vec<RuleDeps>, Vec<Vec<usize>>) {
        let exprs: Vec<Expr> = rules
            .iter()
            .map(|(_, _, q)| promql::parser::parse_expr(q).unwrap())
            .collect();
        let inputs: Vec<RuleInput<'_>> = rules
            .iter()
            .zip(&exprs)
            .map(|((name, alerting, _), expr)| RuleInput {
                name,
                alerting: *alerting,
                expr,
            })
            .collect();
        let deps = analyse(&inputs);
        let b = batches(&deps);
        (deps, b)
    }

    #[test]
    fn chained_rules_split_as_go_does() {
        // Go's rules/fixtures/rules_chain.yaml.
        let (_, b) = split(&[
            (
                "job:http_requests:rate1m",
                false,
                "sum by (job)(rate(http_requests_total[1m]))",
            ),
            (
                "job:http_requests:rate5m",
                false,
                "sum by (job)(rate(http_requests_total[1m]))",
            ),
            (
                "job1:http_requests:rate1m",
                false,
                r#"job:http_requests:rate1m{job="job1"}"#,
            ),
            (
                "job1_cluster1:http_requests:rate1m",
                false,
                r#"job1:http_requests:rate1m{cluster="cluster1"}"#,
            ),
            (
                "job1_cluster2:http_requests:rate1m",
                false,
                r#"job1:http_requests:rate1m{cluster="cluster2"}"#,
            ),
            (
                "job1_cluster1_namespace1:http_requests:rate1m",
                false,
                r#"job1_cluster1:http_requests:rate1m{namespace="namespace1"}"#,
            ),
            (
                "job1_cluster1_namespace2:http_requests:rate1m",
                false,
                r#"job1_cluster1:http_requests:rate1m{namespace="namespace2"}"#,
            ),
        ]);
        assert_eq!(b, [vec![0, 1], vec![2], vec![3], vec![4, 5, 6]]);
    }

    #[test]
    fn alerts_with_an_alertname_depend_on_that_alerting_rule() {
        // Go's rules/fixtures/rules_multiple.yaml.
        let (deps, b) = split(&[
            (
                "job:http_requests:rate1m",
                false,
                "sum by (job)(rate(http_requests_total[1m]))",
            ),
            (
                "job:http_requests:rate5m",
                false,
                "sum by (job)(rate(http_requests_total[5m]))",
            ),
            (
                "job:http_requests:rate15m",
                false,
                "sum by (job)(rate(http_requests_total[15m]))",
            ),
            ("TooManyRequests", false, "job:http_requests:rate15m > 100"),
            (
                "TooManyFailures",
                true,
                "sum by (job)(rate(http_requests_failed_total[1m])) > 100",
            ),
            (
                "TooManyFailuresAlerts",
                true,
                r#"count(ALERTS{alertname="TooManyFailures"}) > 5"#,
            ),
        ]);
        assert!(deps[0].no_dependents && deps[0].no_dependencies);
        assert!(!deps[2].no_dependents && deps[2].no_dependencies);
        assert!(deps[3].no_dependents && !deps[3].no_dependencies);
        assert!(!deps[4].no_dependents && deps[4].no_dependencies);
        assert!(deps[5].no_dependents && !deps[5].no_dependencies);
        assert_eq!(b, [vec![0, 1, 2, 4], vec![3, 5]]);
        // ALERTS of alerts not in the group (Go's rules_multiple_independent.yaml): no
        // dependency at all.
        let (_, b) = split(&[
            ("a", false, "sum(rate(x[1m]))"),
            (
                "b",
                false,
                r#"sum(rate(x[2h])) unless count(ALERTS{alertname="alert_1"}) > 0"#,
            ),
            (
                "c",
                false,
                r#"sum(rate(x[2h])) unless count(ALERTS{alertname=~"alert_1|alert_2"}) > 0"#,
            ),
        ]);
        assert_eq!(b, [vec![0, 1, 2]]);
    }

    #[test]
    fn unknowable_reads_keep_the_group_sequential() {
        for q in [
            r#"{job="job1"}"#,
            "ALERTS",
            "ALERTS_FOR_STATE",
            r#"rate({job="x"}[5m])"#,
        ] {
            let (deps, b) = split(&[
                ("a", false, "sum(rate(x[1m]))"),
                ("b", false, "sum(rate(y[1m]))"),
                ("c", false, q),
            ]);
            assert!(
                deps.iter().all(|d| !d.no_dependents && !d.no_dependencies),
                "{q}"
            );
            assert_eq!(b, [vec![0], vec![1], vec![2]], "{q}");
        }
        // A single rule has nothing to wait for, whatever it reads.
        let (deps, b) = split(&[("a", false, r#"{job="x"}"#)]);
        assert!(deps[0].no_dependents && deps[0].no_dependencies);
        assert_eq!(b, [vec![0]]);
    }

    #[test]
    fn regex_name_matchers_and_range_selectors_count() {
        let (deps, b) = split(&[
            ("job:a", false, "sum(x)"),
            ("job:b", false, "sum(y)"),
            ("all", false, r#"count({__name__=~"job:.*"})"#),
            ("rate_a", false, "rate(job:a[5m])"),
        ]);
        assert!(!deps[0].no_dependents);
        assert!(!deps[1].no_dependents);
        assert!(!deps[2].no_dependencies && deps[2].no_dependents);
        assert!(!deps[3].no_dependencies);
        assert_eq!(b, [vec![0, 1], vec![2, 3]]);
        // A rule reading its own output does not depend on itself.
        let (deps, _) = split(&[("x", false, "x + 1"), ("y", false, "z")]);
        assert!(deps[0].no_dependencies && deps[0].no_dependents);
    }
}
