//! `/api/v1/parse_query`: the PromQL AST as the JSON tree Prometheus's UI reads
//! (web/api/v1/translate_ast.go). Objects are Go maps, so their keys come out sorted.

use model::Matcher;
use promql::parser::{AtModifier, Expr, VectorSelector};
use serde_json::{Value, json};

use model::strconv::format_float_f;

/// Translates an expression into Prometheus's JSON tree.
pub(super) fn translate(expr: &Expr) -> Value {
    match expr {
        Expr::Aggregate(a) => json!({
            "type": "aggregation",
            "op": a.op.to_string(),
            "expr": translate(&a.expr),
            "param": a.param.as_deref().map_or(Value::Null, translate),
            "grouping": a.grouping,
            "without": a.without,
        }),
        Expr::Binary(b) => {
            let matching = b.vector_matching.as_ref().map_or(Value::Null, |m| {
                json!({
                    "card": m.card.to_string(),
                    "labels": m.matching_labels,
                    "on": m.on,
                    "include": m.include,
                    "fillValues": {"lhs": m.fill_values.lhs, "rhs": m.fill_values.rhs},
                })
            });
            json!({
                "type": "binaryExpr",
                "op": b.op.to_string(),
                "lhs": translate(&b.lhs),
                "rhs": translate(&b.rhs),
                "matching": matching,
                "bool": b.return_bool,
            })
        }
        Expr::Call(c) => json!({
            "type": "call",
            "func": {
                "name": c.func.name,
                "argTypes": c.func.arg_types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
                "variadic": c.func.variadic,
                "returnType": c.func.return_type.as_str(),
            },
            "args": c.args.iter().map(translate).collect::<Vec<_>>(),
        }),
        Expr::MatrixSelector(m) => {
            let mut v = selector(&m.vector_selector, "matrixSelector");
            v["range"] = json!(m.range);
            v
        }
        Expr::Subquery(s) => json!({
            "type": "subquery",
            "expr": translate(&s.expr),
            "range": s.range,
            "offset": s.original_offset,
            "step": s.step,
            "timestamp": s.timestamp,
            "startOrEnd": start_or_end(s.start_or_end),
            "alignEvalTime": false,
        }),
        // Go's translateAST formats with `strconv.FormatFloat(v, 'f', -1, 64)`: no exponent.
        Expr::NumberLiteral(n) => json!({"type": "numberLiteral", "val": format_float_f(n.val)}),
        Expr::StringLiteral(s) => json!({"type": "stringLiteral", "val": s.val}),
        Expr::Paren(p) => json!({"type": "parenExpr", "expr": translate(&p.expr)}),
        Expr::Unary(u) => json!({
            "type": "unaryExpr",
            "op": u.op.to_string(),
            "expr": translate(&u.expr),
        }),
        Expr::VectorSelector(vs) => selector(vs, "vectorSelector"),
        Expr::StepInvariant(s) => translate(&s.expr),
        // Duration expressions used as numbers (`step()`, `min_of(...)`) have no node in
        // Prometheus's UI tree; they are shown as their PromQL text.
        Expr::Duration(_) => json!({"type": "numberLiteral", "val": expr.to_string()}),
    }
}

fn selector(vs: &VectorSelector, kind: &str) -> Value {
    json!({
        "type": kind,
        "name": vs.name,
        "offset": vs.original_offset,
        "matchers": vs.matchers.iter().map(matcher).collect::<Vec<_>>(),
        "timestamp": vs.timestamp,
        "startOrEnd": start_or_end(vs.start_or_end),
        "anchored": vs.anchored,
        "smoothed": vs.smoothed,
    })
}

fn matcher(m: &Matcher) -> Value {
    json!({"name": m.name, "value": m.value, "type": m.match_type.as_str()})
}

fn start_or_end(s: Option<AtModifier>) -> Value {
    match s {
        None => Value::Null,
        Some(AtModifier::Start) => json!("start"),
        Some(AtModifier::End) => json!("end"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::to_go_json;

    #[test]
    fn translates_like_prometheus() {
        let expr = promql::parser::parse_expr("sum by (job) (rate(up{job=\"a\"}[5m])) > 1")
            .expect("valid query");
        let got = to_go_json(&translate(&expr));
        assert_eq!(
            got,
            concat!(
                r#"{"bool":false,"lhs":{"expr":{"args":[{"anchored":false,"matchers":[{"name":"job","type":"=","value":"a"},"#,
                r#"{"name":"__name__","type":"=","value":"up"}],"name":"up","offset":0,"range":300000,"smoothed":false,"#,
                r#""startOrEnd":null,"timestamp":null,"type":"matrixSelector"}],"func":{"argTypes":["matrix"],"name":"rate","#,
                r#""returnType":"vector","variadic":0},"type":"call"},"grouping":["job"],"op":"sum","param":null,"#,
                r#""type":"aggregation","without":false},"matching":null,"op":"\u003e","rhs":{"type":"numberLiteral","val":"1"},"#,
                r#""type":"binaryExpr"}"#
            )
        );
    }

    #[test]
    fn number_literals_have_no_exponent() {
        let expr = promql::parser::parse_expr("1e-7 * 1e21").expect("valid query");
        let got = to_go_json(&translate(&expr));
        assert!(got.contains(r#""val":"0.0000001""#), "{got}");
        assert!(got.contains(r#""val":"1000000000000000000000""#), "{got}");
    }
}
