//! AST rewrites behind the difftest proofs: left-open ranges as 2.42 closed ranges, and the rate/increase calls replaced by synthetic series.

use promql::parser::{Expr, MatrixSelector, VectorSelector, parse_expr};

/// Shortens every matrix-selector and subquery range of `expr` by 1 ms, so that Prometheus
/// 2.42's closed window `[t-r+1ms, t]` selects what 3.x's left-open `(t-r, t]` selects (all
/// timestamps are integer milliseconds). Returns how many ranges were shortened.
pub(crate) fn shorten_ranges(expr: &mut Expr) -> Result<usize, String> {
    let mut n = 0;
    shorten(expr, &mut n)?;
    Ok(n)
}

fn shorten(expr: &mut Expr, n: &mut usize) -> Result<(), String> {
    match expr {
        Expr::MatrixSelector(m) => {
            if m.range_expr.is_some() || m.range <= 1 {
                return Err(format!("cannot shorten the range of {m}"));
            }
            m.range -= 1;
            *n += 1;
        }
        Expr::Subquery(s) => {
            if s.range_expr.is_some() || s.range <= 1 {
                return Err(format!("cannot shorten the range of subquery {s}"));
            }
            s.range -= 1;
            *n += 1;
            shorten(&mut s.expr, n)?;
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &mut a.param {
                shorten(p, n)?;
            }
            shorten(&mut a.expr, n)?;
        }
        Expr::Binary(b) => {
            shorten(&mut b.lhs, n)?;
            shorten(&mut b.rhs, n)?;
        }
        Expr::Call(c) => {
            for a in &mut c.args {
                shorten(a, n)?;
            }
        }
        Expr::Paren(p) => shorten(&mut p.expr, n)?,
        Expr::Unary(u) => shorten(&mut u.expr, n)?,
        Expr::StepInvariant(s) => shorten(&mut s.expr, n)?,
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::Duration(_) => {}
    }
    Ok(())
}

/// One `rate`/`increase` call taken out of a query by [`extract_rate_calls`].
#[derive(Debug, Clone)]
pub(crate) struct RateCall {
    /// The metric name of the synthetic series that stands in for the call's result.
    pub(crate) synthetic: String,
    /// The call's matrix selector (range, offset and `@` as written).
    pub(crate) selector: MatrixSelector,
    /// `rate` (per second) rather than `increase`.
    pub(crate) is_rate: bool,
}

/// Replaces every `rate(sel[r])` and `increase(sel[r])` in `expr` by
/// `(difftest_rate_N * 1)`: a synthetic series that carries the call's result per series
/// and step (the `* 1` drops `__name__`, as the call does). Returns the calls in order.
/// Fails for a call inside a subquery (its inner steps are not the query's steps) and for a
/// call whose argument is not a plain matrix selector.
pub(crate) fn extract_rate_calls(expr: &mut Expr) -> Result<Vec<RateCall>, String> {
    let mut calls = Vec::new();
    extract(expr, false, &mut calls)?;
    Ok(calls)
}

fn extract(expr: &mut Expr, in_subquery: bool, calls: &mut Vec<RateCall>) -> Result<(), String> {
    match expr {
        Expr::Call(c) if matches!(c.func.name, "rate" | "increase") => {
            if in_subquery {
                return Err(format!("{} inside a subquery", c.func.name));
            }
            let Some(Expr::MatrixSelector(m)) = c.args.first() else {
                return Err(format!(
                    "{} of something other than a matrix selector",
                    c.func.name
                ));
            };
            let synthetic = format!("difftest_rate_{}", calls.len());
            calls.push(RateCall {
                synthetic: synthetic.clone(),
                selector: m.clone(),
                is_rate: c.func.name == "rate",
            });
            *expr = parse_expr(&format!("({synthetic} * 1)"))
                .map_err(|e| format!("parsing the stand-in: {e}"))?;
        }
        Expr::Call(c) => {
            for a in &mut c.args {
                extract(a, in_subquery, calls)?;
            }
        }
        Expr::Subquery(s) => extract(&mut s.expr, true, calls)?,
        Expr::Aggregate(a) => {
            if let Some(p) = &mut a.param {
                extract(p, in_subquery, calls)?;
            }
            extract(&mut a.expr, in_subquery, calls)?;
        }
        Expr::Binary(b) => {
            extract(&mut b.lhs, in_subquery, calls)?;
            extract(&mut b.rhs, in_subquery, calls)?;
        }
        Expr::Paren(p) => extract(&mut p.expr, in_subquery, calls)?,
        Expr::Unary(u) => extract(&mut u.expr, in_subquery, calls)?,
        Expr::StepInvariant(s) => extract(&mut s.expr, in_subquery, calls)?,
        Expr::MatrixSelector(_)
        | Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::Duration(_) => {}
    }
    Ok(())
}

/// Replaces every bare vector selector of `expr` (other than the `difftest_rate_N`
/// stand-ins) by `label_replace({__difftest_sel="N"}, "__difftest_sel", "", "", "")`: the
/// series loaded under that label hold what the selector answered at each step (lookback
/// and staleness included), and the `label_replace` takes the label off again. Returns the
/// selectors in order. Fails for a selector inside a subquery (its steps are not the
/// query's steps).
pub(crate) fn extract_vector_selectors(expr: &mut Expr) -> Result<Vec<VectorSelector>, String> {
    let mut out = Vec::new();
    extract_selectors(expr, false, &mut out)?;
    Ok(out)
}

fn extract_selectors(
    expr: &mut Expr,
    in_subquery: bool,
    out: &mut Vec<VectorSelector>,
) -> Result<(), String> {
    match expr {
        Expr::VectorSelector(vs) if vs.name.starts_with("difftest_rate_") => {}
        Expr::VectorSelector(vs) => {
            if in_subquery {
                return Err(format!("selector {vs} inside a subquery"));
            }
            let n = out.len();
            out.push(vs.clone());
            *expr = parse_expr(&format!(
                r#"label_replace({{__difftest_sel="{n}"}}, "__difftest_sel", "", "", "")"#
            ))
            .map_err(|e| format!("parsing the stand-in: {e}"))?;
        }
        Expr::Subquery(s) => extract_selectors(&mut s.expr, true, out)?,
        Expr::Call(c) => {
            for a in &mut c.args {
                extract_selectors(a, in_subquery, out)?;
            }
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &mut a.param {
                extract_selectors(p, in_subquery, out)?;
            }
            extract_selectors(&mut a.expr, in_subquery, out)?;
        }
        Expr::Binary(b) => {
            extract_selectors(&mut b.lhs, in_subquery, out)?;
            extract_selectors(&mut b.rhs, in_subquery, out)?;
        }
        Expr::Paren(p) => extract_selectors(&mut p.expr, in_subquery, out)?,
        Expr::Unary(u) => extract_selectors(&mut u.expr, in_subquery, out)?,
        Expr::StepInvariant(s) => extract_selectors(&mut s.expr, in_subquery, out)?,
        Expr::MatrixSelector(_)
        | Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::Duration(_) => {}
    }
    Ok(())
}

/// The vector selectors of `expr` (bare or inside matrix selectors), skipping the synthetic
/// `difftest_rate_N` and `__difftest_sel` stand-ins.
pub(crate) fn selectors(expr: &Expr) -> Vec<VectorSelector> {
    let mut out = Vec::new();
    expr.walk(&mut |e| {
        let vs = match e {
            Expr::VectorSelector(v) => v,
            Expr::MatrixSelector(m) => &m.vector_selector,
            _ => return,
        };
        let stand_in = vs.name.starts_with("difftest_rate_")
            || vs.matchers.iter().any(|m| m.name == "__difftest_sel");
        if !stand_in {
            out.push(vs.clone());
        }
    });
    out
}

/// `sel[range]` with the selector's `offset` and `@` removed: every raw sample of the
/// selected series within `range` before the evaluation time.
pub(crate) fn raw_selector(vs: &VectorSelector, range: i64) -> String {
    let mut vs = vs.clone();
    vs.original_offset = 0;
    vs.original_offset_expr = None;
    vs.offset = 0;
    vs.timestamp = None;
    vs.start_or_end = None;
    Expr::MatrixSelector(MatrixSelector {
        vector_selector: vs,
        range,
        range_expr: None,
        end_pos: 0,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shortened(q: &str) -> (String, usize) {
        let mut e = parse_expr(q).expect("valid PromQL");
        let n = shorten_ranges(&mut e).expect("shortenable");
        (e.to_string(), n)
    }

    #[test]
    fn every_range_and_subquery_range_loses_one_millisecond() {
        assert_eq!(
            shortened("rate(x[5m])"),
            ("rate(x[4m59s999ms])".to_string(), 1)
        );
        assert_eq!(
            shortened("count_over_time(up[5m] @ 1700002800)"),
            (
                "count_over_time(up[4m59s999ms] @ 1700002800.000)".to_string(),
                1
            )
        );
        assert_eq!(
            shortened(
                r#"max_over_time(rate(http_requests_total{job="api"}[5m])[30m:1m]) / sum(rate(y[1m] offset 5m))"#
            ),
            (
                r#"max_over_time(rate(http_requests_total{job="api"}[4m59s999ms])[29m59s999ms:1m]) / sum(rate(y[59s999ms] offset 5m))"#
                    .to_string(),
                3
            )
        );
        assert_eq!(shortened("up + 1"), ("up + 1".to_string(), 0));
    }

    #[test]
    fn the_printed_rewrite_parses_back_to_the_shortened_ranges() {
        let (text, _) = shortened("deriv(process_resident_memory_bytes[5m])[20m:2m] offset 5m");
        let Expr::Subquery(s) = parse_expr(&text).expect("printed PromQL parses") else {
            panic!("not a subquery: {text}");
        };
        assert_eq!(s.range, 20 * 60_000 - 1);
        assert_eq!(s.original_offset, 5 * 60_000);
        let Expr::Call(c) = &*s.expr else {
            panic!("not a call")
        };
        let Expr::MatrixSelector(m) = &c.args[0] else {
            panic!("not a matrix selector")
        };
        assert_eq!(m.range, 5 * 60_000 - 1);
    }

    #[test]
    fn rate_calls_become_synthetic_series() {
        let mut e = parse_expr(
            r#"rate(a{code="500"}[5m]) / ignoring(code) group_left sum without (code) (increase(a[10m] offset 5m))"#,
        )
        .expect("valid");
        let calls = extract_rate_calls(&mut e).expect("extractable");
        assert_eq!(
            e.to_string(),
            "(difftest_rate_0 * 1) / ignoring (code) group_left () sum without (code) ((difftest_rate_1 * 1))"
        );
        assert_eq!(calls.len(), 2);
        assert!(calls[0].is_rate && !calls[1].is_rate);
        assert_eq!(calls[1].selector.range, 600_000);
        assert_eq!(calls[1].selector.vector_selector.original_offset, 300_000);
        assert!(selectors(&e).is_empty());
        assert_eq!(
            raw_selector(&calls[1].selector.vector_selector, 86_400_000),
            "a[1d]"
        );
    }

    #[test]
    fn rate_inside_a_subquery_is_refused() {
        let mut e = parse_expr("max_over_time(rate(x[5m])[30m:1m])").expect("valid");
        assert!(extract_rate_calls(&mut e).is_err());
    }

    #[test]
    fn bare_selectors_become_per_step_stand_ins_and_matrix_selectors_stay() {
        let mut e = parse_expr(
            "rate(a[5m]) / on(job) group_left process_resident_memory_bytes offset 1m + deriv(b[5m])",
        )
        .expect("valid");
        extract_rate_calls(&mut e).expect("extractable");
        let bare = extract_vector_selectors(&mut e).expect("extractable");
        assert_eq!(bare.len(), 1);
        assert_eq!(
            bare[0].to_string(),
            "process_resident_memory_bytes offset 1m"
        );
        assert_eq!(
            e.to_string(),
            r#"(difftest_rate_0 * 1) / on (job) group_left () label_replace({__difftest_sel="0"}, "__difftest_sel", "", "", "") + deriv(b[5m])"#
        );
        let sels = selectors(&e);
        assert_eq!(sels.len(), 1);
        assert_eq!(sels[0].name, "b");
        let mut e = parse_expr("max_over_time(up[10m:1m])").expect("valid");
        assert!(extract_vector_selectors(&mut e).is_err());
    }
}
