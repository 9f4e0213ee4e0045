//! `promtool promql format|label-matchers set|delete` (experimental, behind
//! `--experimental`): parse a query, pretty-print it (the promql crate's `prettify`, Go's
//! `Pretty(0)`), or set or delete a label matcher in every vector selector first.

use clap::Subcommand;
use model::{MatchType, Matcher};
use promql::parser::{Expr, VectorSelector, parse_expr, printer::prettify};

/// The `promql` subcommands.
#[derive(Subcommand)]
pub(crate) enum PromqlCommand {
    /// Format PromQL query to pretty printed form.
    Format {
        /// PromQL query.
        query: String,
    },
    /// Edit label matchers contained within an existing PromQL query.
    #[command(name = "label-matchers")]
    LabelMatchers {
        #[command(subcommand)]
        what: LabelMatchersCommand,
    },
}

/// The `promql label-matchers` subcommands.
#[derive(Subcommand)]
pub(crate) enum LabelMatchersCommand {
    /// Set a label matcher in the query.
    Set {
        /// Type of the label matcher to set.
        #[arg(short = 't', long = "type", default_value = "=", value_parser = ["=", "!=", "=~", "!~"])]
        match_type: String,
        /// PromQL query.
        query: String,
        /// Name of the label matcher to set.
        name: String,
        /// Value of the label matcher to set.
        value: String,
    },
    /// Delete a label from the query.
    Delete {
        /// PromQL query.
        query: String,
        /// Name of the label to delete.
        name: String,
    },
}

/// Runs a `promql` subcommand and returns the exit code.
pub(crate) fn run(experimental: bool, cmd: PromqlCommand) -> u8 {
    if !experimental {
        eprintln!("This command is experimental and requires the --experimental flag to be set.");
        return 1;
    }
    let res = match cmd {
        PromqlCommand::Format { query } => parse_expr(&query)
            .map(|e| prettify(&e))
            .map_err(|e| e.to_string()),
        PromqlCommand::LabelMatchers {
            what:
                LabelMatchersCommand::Set {
                    match_type,
                    query,
                    name,
                    value,
                },
        } => set_matcher(&query, &match_type, &name, &value),
        PromqlCommand::LabelMatchers {
            what: LabelMatchersCommand::Delete { query, name },
        } => parse_expr(&query).map_err(|e| e.to_string()).map(|mut e| {
            for_each_selector(&mut e, &mut |vs| vs.matchers.retain(|m| m.name != name));
            prettify(&e)
        }),
    };
    match res {
        Ok(text) => {
            println!("{text}");
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// Go's `labelsSetPromQL`: the matcher named `name` in every selector becomes
/// `name <op> value`, or is added where missing.
fn set_matcher(query: &str, op: &str, name: &str, value: &str) -> Result<String, String> {
    let match_type = match op {
        "=" => MatchType::Equal,
        "!=" => MatchType::NotEqual,
        "=~" => MatchType::RegexMatch,
        "!~" => MatchType::RegexNoMatch,
        other => return Err(format!("invalid label match type: {other}")),
    };
    let matcher = Matcher::new(match_type, name, value).map_err(|e| e.to_string())?;
    let mut e = parse_expr(query).map_err(|e| e.to_string())?;
    for_each_selector(&mut e, &mut |vs| {
        let mut found = false;
        for m in vs.matchers.iter_mut().filter(|m| m.name == name) {
            *m = matcher.clone();
            found = true;
        }
        if !found {
            vs.matchers.push(matcher.clone());
        }
    });
    Ok(prettify(&e))
}

/// Calls `f` on every vector selector of `e` (those inside range selectors too).
fn for_each_selector(e: &mut Expr, f: &mut impl FnMut(&mut VectorSelector)) {
    match e {
        Expr::VectorSelector(vs) => f(vs),
        Expr::MatrixSelector(m) => f(&mut m.vector_selector),
        Expr::Aggregate(a) => {
            if let Some(p) = a.param.as_mut() {
                for_each_selector(p, f);
            }
            for_each_selector(&mut a.expr, f);
        }
        Expr::Binary(b) => {
            for_each_selector(&mut b.lhs, f);
            for_each_selector(&mut b.rhs, f);
        }
        Expr::Call(c) => {
            for arg in &mut c.args {
                for_each_selector(arg, f);
            }
        }
        Expr::Subquery(s) => for_each_selector(&mut s.expr, f),
        Expr::Paren(p) => for_each_selector(&mut p.expr, f),
        Expr::Unary(u) => for_each_selector(&mut u.expr, f),
        Expr::StepInvariant(s) => for_each_selector(&mut s.expr, f),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Duration(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_or_adds_and_delete_removes() {
        assert_eq!(
            set_matcher(r#"sum(rate(http{job="a"}[5m])) / up"#, "=~", "job", "b.*"),
            Ok(r#"sum(rate(http{job=~"b.*"}[5m])) / up{job=~"b.*"}"#.to_owned())
        );
        let mut e = parse_expr(r#"up{job="a",env="b"}"#).expect("parses");
        for_each_selector(&mut e, &mut |vs| vs.matchers.retain(|m| m.name != "env"));
        assert_eq!(prettify(&e), r#"up{job="a"}"#);
        assert!(set_matcher("up", "<>", "a", "b").is_err());
    }
}
