//! Type checking of parsed expressions (Go's `checkAST` in parse.go).

use super::{Parser, grow};
use crate::error::ParseError;
use crate::parser::ast::*;

impl Parser<'_> {
    /// Type-checks `e` and its children like Go's `checkAST`, returning its type; fills in
    /// what the check decides (set-operator cardinality, `info`'s selector flag).
    pub(crate) fn check(&self, e: &mut Expr) -> Result<ValueType, ParseError> {
        grow(|| self.check_inner(e))
    }

    fn check_inner(&self, e: &mut Expr) -> Result<ValueType, ParseError> {
        // Types are computed bottom-up from the children's checks: calling `value_type` on
        // every level would walk operator chains again and again.
        let mut typ = match &*e {
            Expr::Binary(_) | Expr::Paren(_) | Expr::Unary(_) | Expr::StepInvariant(_) => {
                ValueType::None
            }
            other => other.value_type(),
        };
        match e {
            Expr::Aggregate(a) => {
                self.expect_type(&mut a.expr, ValueType::Vector, "aggregation expression")?;
                if let Some(p) = &mut a.param {
                    match a.op {
                        AggregateOp::CountValues => {
                            self.expect_type(p, ValueType::String, "aggregation parameter")?
                        }
                        _ => self.expect_type(p, ValueType::Scalar, "aggregation parameter")?,
                    }
                }
            }
            Expr::Binary(b) => {
                let lt = self.check(&mut b.lhs)?;
                let rt = self.check(&mut b.rhs)?;
                typ = if lt == ValueType::Scalar && rt == ValueType::Scalar {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                };
                let op_range = || {
                    let bytes = self.input.as_bytes();
                    let mut s = b.lhs.pos().end;
                    while s < bytes.len() && crate::parser::lex::is_space(bytes[s] as char) {
                        s += 1;
                    }
                    (s, b.rhs.pos().start)
                };
                if b.return_bool && !b.op.is_comparison() {
                    let (s, t) = op_range();
                    return Err(self.err(
                        s,
                        t,
                        "bool modifier can only be used on comparison operators",
                    ));
                }
                if b.op.is_comparison()
                    && !b.return_bool
                    && lt == ValueType::Scalar
                    && rt == ValueType::Scalar
                {
                    let (s, t) = op_range();
                    return Err(self.err(
                        s,
                        t,
                        "comparisons between scalars must use BOOL modifier",
                    ));
                }
                let vm = b
                    .vector_matching
                    .get_or_insert_with(VectorMatching::default);
                if b.op.is_set_operator() && vm.card == VectorMatchCardinality::OneToOne {
                    vm.card = VectorMatchCardinality::ManyToMany;
                }
                if vm.on {
                    for l1 in &vm.matching_labels {
                        if vm.include.contains(l1) {
                            let (s, t) = op_range();
                            return Err(self.err(
                                s,
                                t,
                                format!(
                                    "label {} must not occur in ON and GROUP clause at once",
                                    model::strconv::quote(l1)
                                ),
                            ));
                        }
                    }
                }
                let pos = PosRange::new(b.lhs.pos().start, b.rhs.pos().end);
                for (t, side) in [(lt, &b.lhs), (rt, &b.rhs)] {
                    if t != ValueType::Scalar && t != ValueType::Vector {
                        let p = side.pos();
                        return Err(self.err(
                            p.start,
                            p.end,
                            "binary expression must contain only scalar and instant vector types",
                        ));
                    }
                }
                let fill = vm.fill_values;
                let has_fill = fill.lhs.is_some() || fill.rhs.is_some();
                if lt != ValueType::Vector || rt != ValueType::Vector {
                    if !vm.matching_labels.is_empty() {
                        return Err(self.err(
                            pos.start,
                            pos.end,
                            "vector matching only allowed between instant vectors",
                        ));
                    }
                    if has_fill {
                        return Err(self.err(
                            pos.start,
                            pos.end,
                            "filling in missing series only allowed between instant vectors",
                        ));
                    }
                    b.vector_matching = None;
                } else if b.op.is_set_operator() {
                    if matches!(
                        vm.card,
                        VectorMatchCardinality::OneToMany | VectorMatchCardinality::ManyToOne
                    ) {
                        return Err(self.err(
                            pos.start,
                            pos.end,
                            format!(
                                "no grouping allowed for {} operation",
                                model::strconv::quote(b.op.as_str())
                            ),
                        ));
                    }
                    if vm.card != VectorMatchCardinality::ManyToMany {
                        return Err(self.err(
                            pos.start,
                            pos.end,
                            "set operations must always be many-to-many",
                        ));
                    }
                    if has_fill {
                        return Err(self.err(
                            pos.start,
                            pos.end,
                            "filling in missing series not allowed for set operators",
                        ));
                    }
                }
                if (lt == ValueType::Scalar || rt == ValueType::Scalar) && b.op.is_set_operator() {
                    return Err(self.err(
                        pos.start,
                        pos.end,
                        format!(
                            "set operator {} not allowed in binary scalar expression",
                            model::strconv::quote(b.op.as_str())
                        ),
                    ));
                }
            }
            Expr::Call(c) => {
                let func = c.func;
                let nargs = func.arg_types.len();
                let pos = c.pos;
                if func.variadic == 0 {
                    if nargs != c.args.len() {
                        return Err(self.err(
                            pos.start,
                            pos.end,
                            format!(
                                "expected {nargs} argument(s) in call to {}, got {}",
                                model::strconv::quote(func.name),
                                c.args.len()
                            ),
                        ));
                    }
                } else {
                    let na = nargs - 1;
                    if na > c.args.len() {
                        return Err(self.err(
                            pos.start,
                            pos.end,
                            format!(
                                "expected at least {na} argument(s) in call to {}, got {}",
                                model::strconv::quote(func.name),
                                c.args.len()
                            ),
                        ));
                    }
                    let max = na as i64 + i64::from(func.variadic);
                    if func.variadic > 0 && max < c.args.len() as i64 {
                        return Err(self.err(
                            pos.start,
                            pos.end,
                            format!(
                                "expected at most {max} argument(s) in call to {}, got {}",
                                model::strconv::quote(func.name),
                                c.args.len()
                            ),
                        ));
                    }
                }
                if func.name == "info" && c.args.len() > 1 {
                    let t = c.args[1].value_type();
                    if t != ValueType::Vector {
                        return Err(self.err(
                            pos.start,
                            pos.end,
                            format!(
                                "expected type instant vector in call to function \"info\", got {}",
                                t.documented()
                            ),
                        ));
                    }
                    let p = c.args[1].pos();
                    match &mut c.args[1] {
                        Expr::VectorSelector(vs) if !vs.name.is_empty() => {
                            return Err(self.err(
                                p.start,
                                p.end,
                                "expected label selectors only, got vector selector instead",
                            ));
                        }
                        Expr::VectorSelector(vs) => vs.bypass_empty_matcher_check = true,
                        _ => {
                            return Err(self.err(p.start, p.end, "expected label selectors only"));
                        }
                    }
                }
                for (i, arg) in c.args.iter_mut().enumerate() {
                    let idx = if i >= nargs {
                        if func.variadic == 0 {
                            break;
                        }
                        nargs - 1
                    } else {
                        i
                    };
                    let t = self.check(arg)?;
                    let want = func.arg_types[idx];
                    if t != want {
                        let p = arg.pos();
                        return Err(self.err(
                            p.start,
                            p.end,
                            format!(
                                "expected type {} in call to function {}, got {}",
                                want.documented(),
                                model::strconv::quote(func.name),
                                t.documented()
                            ),
                        ));
                    }
                }
            }
            Expr::Paren(p) => {
                typ = self.check(&mut p.expr)?;
            }
            Expr::Unary(u) => {
                let t = self.check(&mut u.expr)?;
                typ = t;
                if t != ValueType::Scalar && t != ValueType::Vector {
                    let p = PosRange::new(u.start_pos, u.expr.pos().end);
                    return Err(self.err(
                        p.start,
                        p.end,
                        format!(
                            "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                            model::strconv::quote(t.documented())
                        ),
                    ));
                }
            }
            Expr::Subquery(s) => {
                let t = self.check(&mut s.expr)?;
                if t != ValueType::Vector {
                    let p = PosRange::new(s.expr.pos().start, s.end_pos);
                    return Err(self.err(
                        p.start,
                        p.end,
                        format!("subquery is only allowed on instant vector, got {t} instead"),
                    ));
                }
            }
            Expr::MatrixSelector(m) => {
                self.check_vector_selector(&m.vector_selector)?;
            }
            Expr::VectorSelector(vs) => {
                self.check_vector_selector(vs)?;
            }
            Expr::StepInvariant(s) => {
                typ = self.check(&mut s.expr)?;
            }
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Duration(_) => {}
        }
        Ok(typ)
    }

    fn expect_type(&self, e: &mut Expr, want: ValueType, context: &str) -> Result<(), ParseError> {
        let t = self.check(e)?;
        if t != want {
            let p = e.pos();
            return Err(self.err(
                p.start,
                p.end,
                format!(
                    "expected type {} in {context}, got {}",
                    want.documented(),
                    t.documented()
                ),
            ));
        }
        Ok(())
    }

    fn check_vector_selector(&self, vs: &VectorSelector) -> Result<(), ParseError> {
        let p = vs.pos;
        if !vs.name.is_empty() {
            let n = vs.matchers.len().saturating_sub(1);
            for m in &vs.matchers[..n] {
                if m.name == model::METRIC_NAME {
                    return Err(self.err(
                        p.start,
                        p.end,
                        format!(
                            "metric name must not be set twice: {} or {}",
                            model::strconv::quote(&vs.name),
                            model::strconv::quote(&m.value)
                        ),
                    ));
                }
            }
            return Ok(());
        }
        if !vs.bypass_empty_matcher_check && vs.matchers.iter().all(|m| m.matches("")) {
            return Err(self.err(
                p.start,
                p.end,
                "vector selector must contain at least one non-empty matcher",
            ));
        }
        Ok(())
    }
}
