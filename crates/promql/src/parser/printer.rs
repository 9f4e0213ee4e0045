//! Canonical PromQL output: `Display for Expr` (Go's `String()`, printer.go) and
//! [`prettify`] (Go's `Pretty`, prettier.go).

use std::fmt::{self, Write};

use model::{MatchType, Matcher};

use super::ast::*;

/// Go's float formats: `%g` ([`format_float`]: shortest digits, exponent form below 1e-4
/// and from 1e6 on) and `strconv.FormatFloat(v, 'f', -1, 64)` ([`format_float_f`], which
/// the printer uses for number literals).
pub use model::strconv::{format_float_f, format_float_g as format_float};

/// A Prometheus duration string for milliseconds (`1h30m`, `0s`).
fn duration_str(ms: i64) -> String {
    if ms < 0 {
        format!("-{}", model::Duration::from_millis(ms.saturating_neg()))
    } else {
        model::Duration::from_millis(ms).to_string()
    }
}

/// Writes a label name, quoted when it is not a legacy (`[a-zA-Z_][a-zA-Z0-9_]*`) name.
fn write_label_name(f: &mut impl Write, name: &str) -> fmt::Result {
    if model::validation::is_valid_legacy_label_name(name) {
        f.write_str(name)
    } else {
        model::strconv::write_quoted(f, name)
    }
}

fn write_labels(f: &mut impl Write, labels: &[String]) -> fmt::Result {
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_label_name(f, l)?;
    }
    Ok(())
}

/// A matcher as Go's `Matcher.String()`: name (quoted if needed), operator, quoted value.
pub fn matcher_string(m: &Matcher) -> String {
    let mut s = String::new();
    let _ = write_label_name(&mut s, &m.name);
    s.push_str(m.match_type.as_str());
    s.push_str(&model::strconv::quote(&m.value));
    s
}

impl fmt::Display for NumberLiteral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.duration && self.val.is_finite() {
            let ms = (self.val * 1000.0).round() as i64;
            f.write_str(&duration_str(ms))
        } else {
            f.write_str(&format_float_f(self.val))
        }
    }
}

impl fmt::Display for DurationExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationExpr::Number(n) => write!(f, "{n}"),
            DurationExpr::Unary { op, expr, .. } => write!(f, "{op}{expr}"),
            DurationExpr::Binary { op, lhs, rhs } => write!(f, "{lhs} {op} {rhs}"),
            DurationExpr::Paren { expr, .. } => write!(f, "({expr})"),
            DurationExpr::Step { .. } => f.write_str("step()"),
            DurationExpr::Range { .. } => f.write_str("range()"),
            DurationExpr::Start { .. } => f.write_str("start()"),
            DurationExpr::End { .. } => f.write_str("end()"),
            DurationExpr::MinOf { lhs, rhs, .. } => write!(f, "min_of({lhs}, {rhs})"),
            DurationExpr::MaxOf { lhs, rhs, .. } => write!(f, "max_of({lhs}, {rhs})"),
        }
    }
}

/// ` @ t` / ` @ start()` / ` @ end()`.
fn at_str(ts: Option<i64>, pre: Option<AtModifier>) -> String {
    match (ts, pre) {
        (Some(t), _) => format!(" @ {:.3}", t as f64 / 1000.0),
        (None, Some(AtModifier::Start)) => " @ start()".to_string(),
        (None, Some(AtModifier::End)) => " @ end()".to_string(),
        (None, None) => String::new(),
    }
}

/// ` offset d` for a literal or expression offset.
fn offset_str(ms: i64, expr: Option<&DurationExpr>) -> String {
    match expr {
        // An offset operand is a primary: parenthesise anything binary built by hand.
        Some(e @ DurationExpr::Binary { .. }) => format!(" offset ({e})"),
        Some(e) => format!(" offset {e}"),
        None if ms != 0 => format!(" offset {}", duration_str(ms)),
        None => String::new(),
    }
}

fn range_modifiers(vs: &VectorSelector) -> &'static str {
    if vs.anchored {
        " anchored"
    } else if vs.smoothed {
        " smoothed"
    } else {
        ""
    }
}

impl VectorSelector {
    /// The selector without `@`, `offset` and range modifiers.
    fn write_plain(&self, f: &mut impl Write) -> fmt::Result {
        let mut labels: Vec<String> = self
            .matchers
            .iter()
            .filter(|m| {
                !(m.name == model::METRIC_NAME
                    && m.match_type == MatchType::Equal
                    && m.value == self.name
                    && !m.value.is_empty())
            })
            .map(matcher_string)
            .collect();
        f.write_str(&self.name)?;
        if labels.is_empty() {
            // Go prints nothing for an empty selector (only `info`'s second argument can be
            // one); `{}` parses back.
            return if self.name.is_empty() {
                f.write_str("{}")
            } else {
                Ok(())
            };
        }
        labels.sort();
        write!(f, "{{{}}}", labels.join(","))
    }

    fn modifiers(&self) -> String {
        format!(
            "{}{}{}",
            at_str(self.timestamp, self.start_or_end),
            offset_str(self.original_offset, self.original_offset_expr.as_ref()),
            range_modifiers(self)
        )
    }
}

impl fmt::Display for VectorSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_plain(f)?;
        f.write_str(&self.modifiers())
    }
}

impl fmt::Display for MatrixSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.vector_selector.write_plain(f)?;
        match &self.range_expr {
            Some(e) => write!(f, "[{e}]")?,
            None => write!(f, "[{}]", duration_str(self.range))?,
        }
        f.write_str(&self.vector_selector.modifiers())
    }
}

impl SubqueryExpr {
    /// Go's `getSubqueryTimeSuffix`: `[range:step] @ t offset d`.
    pub fn time_suffix(&self) -> String {
        let range = match &self.range_expr {
            Some(e) => e.to_string(),
            None => duration_str(self.range),
        };
        let step = match &self.step_expr {
            Some(e) => e.to_string(),
            None if self.step != 0 => duration_str(self.step),
            None => String::new(),
        };
        format!(
            "[{range}:{step}]{}{}",
            at_str(self.timestamp, self.start_or_end),
            offset_str(self.original_offset, self.original_offset_expr.as_ref())
        )
    }
}

impl fmt::Display for SubqueryExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.expr, self.time_suffix())
    }
}

impl AggregateExpr {
    /// The operator and grouping clause: `sum by (a) `.
    fn op_str(&self) -> String {
        let mut s = self.op.as_str().to_string();
        if self.without || !self.grouping.is_empty() {
            s.push_str(if self.without { " without (" } else { " by (" });
            let _ = write_labels(&mut s, &self.grouping);
            s.push_str(") ");
        }
        s
    }
}

impl fmt::Display for AggregateExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.op_str())?;
        f.write_char('(')?;
        if let Some(p) = &self.param {
            write!(f, "{p}, ")?;
        }
        write!(f, "{})", self.expr)
    }
}

impl BinaryExpr {
    /// ` bool on (a) group_left (b) fill(0)`: everything between the operator and the RHS.
    fn modifiers_str(&self) -> String {
        let mut s = String::new();
        if self.return_bool {
            s.push_str(" bool");
        }
        let Some(vm) = &self.vector_matching else {
            return s;
        };
        let grouped = matches!(
            vm.card,
            VectorMatchCardinality::ManyToOne | VectorMatchCardinality::OneToMany
        );
        // Like Go, `ignoring ()` is not printed, and with it neither is a group modifier.
        if !vm.matching_labels.is_empty() || vm.on {
            s.push_str(if vm.on { " on (" } else { " ignoring (" });
            let _ = write_labels(&mut s, &vm.matching_labels);
            s.push(')');
            if grouped {
                s.push_str(if vm.card == VectorMatchCardinality::ManyToOne {
                    " group_left ("
                } else {
                    " group_right ("
                });
                let _ = write_labels(&mut s, &vm.include);
                s.push(')');
            }
        }
        let fv = vm.fill_values;
        match (fv.lhs, fv.rhs) {
            (Some(l), Some(r)) if l.to_bits() == r.to_bits() || (l.is_nan() && r.is_nan()) => {
                let _ = write!(s, " fill({})", format_float_f(l));
            }
            (l, r) => {
                if let Some(l) = l {
                    let _ = write!(s, " fill_left({})", format_float_f(l));
                }
                if let Some(r) = r {
                    let _ = write!(s, " fill_right({})", format_float_f(r));
                }
            }
        }
        s
    }
}

impl BinaryExpr {
    /// The left operand as printed. Go prints `+Inf`, which as the base of `^` would parse
    /// back as `+(Inf ^ x)`; `Inf` keeps the round trip exact.
    fn lhs_str(&self) -> String {
        match &*self.lhs {
            Expr::NumberLiteral(n)
                if self.op == BinaryOp::Pow && n.val == f64::INFINITY && !n.duration =>
            {
                "Inf".to_string()
            }
            e => e.to_string(),
        }
    }
}

impl fmt::Display for BinaryExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}{} {}",
            self.lhs_str(),
            self.op,
            self.modifiers_str(),
            self.rhs
        )
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.func.name)?;
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{a}")?;
        }
        f.write_char(')')
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::parse::grow(|| self.fmt_inner(f))
    }
}

impl Expr {
    fn fmt_inner(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Aggregate(a) => write!(f, "{a}"),
            Expr::Binary(b) => write!(f, "{b}"),
            Expr::Call(c) => write!(f, "{c}"),
            Expr::MatrixSelector(m) => write!(f, "{m}"),
            Expr::Subquery(s) => write!(f, "{s}"),
            Expr::NumberLiteral(n) => write!(f, "{n}"),
            Expr::StringLiteral(s) => model::strconv::write_quoted(f, &s.val),
            Expr::Paren(p) => write!(f, "({})", p.expr),
            Expr::Unary(u) => write!(f, "{}{}", u.op, u.expr),
            Expr::VectorSelector(v) => write!(f, "{v}"),
            Expr::StepInvariant(s) => write!(f, "{}", s.expr),
            Expr::Duration(d) => write!(f, "{d}"),
        }
    }
}

/// Lines longer than this are split by [`prettify`].
const MAX_CHARACTERS_PER_LINE: usize = 100;

fn indent(level: usize) -> String {
    "  ".repeat(level)
}

/// Formats an expression over several indented lines where it is longer than 100
/// characters, exactly like Go's `parser.Prettify` (used by `/api/v1/format_query`).
///
/// ```
/// let e = promql::parser::parse_expr("sum(rate(foo[5m]))").unwrap();
/// assert_eq!(promql::parser::prettify(&e), "sum(rate(foo[5m]))");
/// ```
pub fn prettify(e: &Expr) -> String {
    prettify_width(e, MAX_CHARACTERS_PER_LINE)
}

/// [`prettify`] with another line width (Go's tests use 10).
pub fn prettify_width(e: &Expr, width: usize) -> String {
    pretty(e, 0, width)
}

fn pretty(e: &Expr, level: usize, width: usize) -> String {
    super::parse::grow(|| pretty_inner(e, level, width))
}

fn pretty_inner(e: &Expr, level: usize, width: usize) -> String {
    let plain = e.to_string();
    let split = plain.len() > width;
    match e {
        Expr::Aggregate(a) if split => {
            let mut s = format!("{}{}(\n", indent(level), a.op_str());
            if let Some(p) = &a.param {
                let _ = writeln!(s, "{},", pretty(p, level + 1, width));
            }
            let _ = write!(
                s,
                "{}\n{})",
                pretty(&a.expr, level + 1, width),
                indent(level)
            );
            s
        }
        Expr::Binary(b) if split => format!(
            "{}\n{}{}{}\n{}",
            match &*b.lhs {
                Expr::NumberLiteral(_) => format!("{}{}", indent(level + 1), b.lhs_str()),
                lhs => pretty(lhs, level + 1, width),
            },
            indent(level),
            b.op,
            b.modifiers_str(),
            pretty(&b.rhs, level + 1, width)
        ),
        Expr::Call(c) if split => {
            let args: Vec<String> = c.args.iter().map(|a| pretty(a, level + 1, width)).collect();
            format!(
                "{}{}(\n{}\n{})",
                indent(level),
                c.func.name,
                args.join(",\n"),
                indent(level)
            )
        }
        Expr::Paren(p) if split => format!(
            "{}(\n{}\n{})",
            indent(level),
            pretty(&p.expr, level + 1, width),
            indent(level)
        ),
        // Go does not indent an unsplit subquery; kept for identical output.
        Expr::Subquery(_) if !split => plain,
        Expr::Subquery(s) => format!("{}{}", pretty(&s.expr, level, width), s.time_suffix()),
        Expr::StepInvariant(s) => pretty(&s.expr, level, width),
        Expr::Unary(u) => {
            let child = pretty(&u.expr, level, width);
            format!("{}{}{}", indent(level), u.op, child.trim())
        }
        _ => format!("{}{plain}", indent(level)),
    }
}
