//! Binary operators: scalar/scalar, vector/scalar and vector/vector with matching rules.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use model::{FloatHistogram, Labels, LabelsBuilder};

use super::eval::{Evaluator, drop_metadata};
use super::hist;
use crate::parser::{
    BinaryExpr, BinaryOp, PosRange, ValueType, VectorMatchCardinality, VectorMatching,
};
use crate::value::{Matrix, Sample, Vector};
use crate::{Error, Result};

fn btos(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// Go's `math.Mod`: the remainder with the sign of `a` (Rust's `%` on floats matches it).
fn fmod(a: f64, b: f64) -> f64 {
    a % b
}

/// Go's `math.Pow`, whose special cases Rust's `powf` shares except `pow(-1, ±Inf)`.
fn pow(a: f64, b: f64) -> f64 {
    if a == -1.0 && b.is_infinite() {
        return 1.0;
    }
    a.powf(b)
}

pub(crate) fn scalar_binop(op: BinaryOp, l: f64, r: f64) -> f64 {
    match op {
        BinaryOp::Add => l + r,
        BinaryOp::Sub => l - r,
        BinaryOp::Mul => l * r,
        BinaryOp::Div => l / r,
        BinaryOp::Pow => pow(l, r),
        BinaryOp::Mod => fmod(l, r),
        BinaryOp::Eql => btos(l == r),
        BinaryOp::Neq => btos(l != r),
        BinaryOp::Gtr => btos(l > r),
        BinaryOp::Lss => btos(l < r),
        BinaryOp::Gte => btos(l >= r),
        BinaryOp::Lte => btos(l <= r),
        BinaryOp::Atan2 => l.atan2(r),
        BinaryOp::And
        | BinaryOp::Or
        | BinaryOp::Unless
        | BinaryOp::TrimUpper
        | BinaryOp::TrimLower => f64::NAN,
    }
}

/// An annotation raised by one element operation; only the last one of a step is kept,
/// as Go's `lastErr`.
#[derive(Debug, Clone, PartialEq)]
enum Note {
    Info(String),
    Warn(String),
}

/// The outcome of one element operation (Go's `vectorElemBinop` results).
struct Elem {
    f: f64,
    h: Option<Arc<FloatHistogram>>,
    keep: bool,
    /// An informational note that does not drop the element.
    info: Option<Note>,
    /// A problem that drops the element (an info or a warning).
    err: Option<Note>,
}

impl Elem {
    fn float(f: f64, keep: bool) -> Elem {
        Elem {
            f,
            h: None,
            keep,
            info: None,
            err: None,
        }
    }

    fn hist(h: Arc<FloatHistogram>, keep: bool) -> Elem {
        Elem {
            f: 0.0,
            h: Some(h),
            keep,
            info: None,
            err: None,
        }
    }

    fn dropped(err: Note) -> Elem {
        Elem {
            f: 0.0,
            h: None,
            keep: false,
            info: None,
            err: Some(err),
        }
    }
}

fn incompatible_types(l: bool, op: BinaryOp, r: bool) -> Note {
    let ty = |h: bool| if h { "histogram" } else { "float" };
    Note::Info(format!(
        "incompatible sample types encountered for binary operator \"{op}\": {} {op} {}",
        ty(l),
        ty(r)
    ))
}

/// Go's `vectorElemBinop` with histograms: the element's value, whether to keep it, and
/// the annotations it raises.
fn elem_binop_h(
    op: BinaryOp,
    l: f64,
    r: f64,
    hl: Option<&Arc<FloatHistogram>>,
    hr: Option<&Arc<FloatHistogram>>,
) -> Elem {
    match (hl, hr) {
        (None, None) => {
            if matches!(op, BinaryOp::TrimUpper | BinaryOp::TrimLower) {
                return Elem::dropped(incompatible_types(false, op, false));
            }
            let (f, keep) = elem_binop(op, l, r);
            Elem::float(f, keep)
        }
        (None, Some(h)) => match op {
            BinaryOp::Mul => {
                let mut m = hist::mul(h, l);
                m.compact(0);
                Elem::hist(Arc::new(m), true)
            }
            _ => Elem::dropped(incompatible_types(false, op, true)),
        },
        (Some(h), None) => match op {
            BinaryOp::TrimUpper | BinaryOp::TrimLower => {
                Elem::hist(Arc::new(hist::trim(h, r, op == BinaryOp::TrimUpper)), true)
            }
            BinaryOp::Mul | BinaryOp::Div => {
                let mut m = if op == BinaryOp::Mul {
                    hist::mul(h, r)
                } else {
                    hist::div(h, r)
                };
                m.compact(0);
                Elem::hist(Arc::new(m), true)
            }
            _ => Elem::dropped(incompatible_types(true, op, false)),
        },
        (Some(a), Some(b)) => match op {
            BinaryOp::Add | BinaryOp::Sub => {
                let (res, what) = if op == BinaryOp::Add {
                    (hist::add(a, b), "addition")
                } else {
                    (hist::sub(a, b), "subtraction")
                };
                match res {
                    Ok(c) => {
                        let mut h = c.h;
                        if op == BinaryOp::Sub {
                            h.counter_reset_hint = model::CounterResetHint::Gauge;
                        }
                        let mut e = Elem::hist(Arc::new(h), true);
                        if c.nhcb_reconciled {
                            e.info = Some(Note::Info(format!(
                                "mismatched custom buckets were reconciled during {what}"
                            )));
                        }
                        if c.counter_reset_collision {
                            e.err = Some(Note::Warn(format!(
                                "conflicting counter resets during histogram {what}"
                            )));
                        }
                        e
                    }
                    Err(_) => Elem::dropped(Note::Warn(format!(
                        "incompatible bucket layout encountered for binary operator {op}"
                    ))),
                }
            }
            BinaryOp::Eql => Elem::hist(a.clone(), hist::equals(a, b)),
            BinaryOp::Neq => Elem::hist(a.clone(), !hist::equals(a, b)),
            _ => Elem::dropped(incompatible_types(true, op, true)),
        },
    }
}

/// Emits the last note of a step.
fn emit(ev: &Evaluator<'_>, note: Option<Note>, pos: PosRange) {
    match note {
        Some(Note::Info(m)) => ev.info(m, pos),
        Some(Note::Warn(m)) => ev.warn(m, pos),
        None => {}
    }
}

/// Go's `vectorElemBinop` for floats: the value and whether to keep the element.
fn elem_binop(op: BinaryOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinaryOp::Eql => (l, l == r),
        BinaryOp::Neq => (l, l != r),
        BinaryOp::Gtr => (l, l > r),
        BinaryOp::Lss => (l, l < r),
        BinaryOp::Gte => (l, l >= r),
        BinaryOp::Lte => (l, l <= r),
        // The trim operators only apply to native histograms.
        BinaryOp::TrimUpper | BinaryOp::TrimLower => (0.0, false),
        _ => (scalar_binop(op, l, r), true),
    }
}

/// Whether the operator changes what the metric means, so its name must go.
fn changes_metric_schema(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Pow
            | BinaryOp::Mod
            | BinaryOp::Atan2
    )
}

/// Go's `Labels.MatchLabels`.
fn match_labels(l: &Labels, on: bool, names: &[String]) -> Labels {
    let mut b = LabelsBuilder::new(l);
    if on {
        b.keep(names);
    } else {
        b.del(model::METRIC_NAME);
        for n in names {
            b.del(n);
        }
    }
    b.labels()
}

pub(crate) fn eval_binary(ev: &mut Evaluator<'_>, b: &BinaryExpr) -> Result<Matrix> {
    let op = b.op;
    let return_bool = b.return_bool;
    let pos = PosRange::new(b.lhs.pos().start, b.rhs.pos().end);
    match (b.lhs.value_type(), b.rhs.value_type()) {
        (ValueType::Scalar, ValueType::Scalar) => {
            ev.range_eval(&[&b.lhs, &b.rhs], None, &mut |_, v, _, _, out| {
                let (Some(l), Some(r)) = (v[0].first(), v[1].first()) else {
                    return Ok(());
                };
                out.push(Sample {
                    h: None,
                    metric: Labels::empty(),
                    t: 0,
                    f: scalar_binop(op, l.f, r.f),
                    drop_name: false,
                });
                Ok(())
            })
        }
        (ValueType::Vector, ValueType::Vector) => {
            let default_matching = VectorMatching {
                card: if op.is_set_operator() {
                    VectorMatchCardinality::ManyToMany
                } else {
                    VectorMatchCardinality::OneToOne
                },
                ..VectorMatching::default()
            };
            let matching = b.vector_matching.clone().unwrap_or(default_matching);
            let m = matching.clone();
            match op {
                BinaryOp::And => ev.range_eval(
                    &[&b.lhs, &b.rhs],
                    Some(&matching),
                    &mut |_, v, sh, _, out| {
                        vector_and(&v[0], &v[1], &sh[0], &sh[1], out);
                        Ok(())
                    },
                ),
                BinaryOp::Or => ev.range_eval(
                    &[&b.lhs, &b.rhs],
                    Some(&matching),
                    &mut |_, v, sh, _, out| {
                        vector_or(&v[0], &v[1], &sh[0], &sh[1], out);
                        Ok(())
                    },
                ),
                BinaryOp::Unless => ev.range_eval(
                    &[&b.lhs, &b.rhs],
                    Some(&matching),
                    &mut |_, v, sh, _, out| {
                        vector_unless(&v[0], &v[1], &sh[0], &sh[1], out);
                        Ok(())
                    },
                ),
                _ => {
                    let mut state = BinopState::default();
                    ev.range_eval(
                        &[&b.lhs, &b.rhs],
                        Some(&matching),
                        &mut |ev, v, sh, _, out| {
                            let note = vector_binop(
                                ev,
                                op,
                                &v[0],
                                &v[1],
                                &m,
                                return_bool,
                                &sh[0],
                                &sh[1],
                                &mut state,
                                out,
                            )?;
                            emit(ev, note, pos);
                            Ok(())
                        },
                    )
                }
            }
        }
        (ValueType::Vector, ValueType::Scalar) => {
            ev.range_eval(&[&b.lhs, &b.rhs], None, &mut |ev, v, _, _, out| {
                if let Some(s) = v[1].first() {
                    let note = vector_scalar_binop(ev, op, &v[0], s.f, false, return_bool, out);
                    emit(ev, note, pos);
                }
                Ok(())
            })
        }
        (ValueType::Scalar, ValueType::Vector) => {
            ev.range_eval(&[&b.lhs, &b.rhs], None, &mut |ev, v, _, _, out| {
                if let Some(s) = v[0].first() {
                    let note = vector_scalar_binop(ev, op, &v[1], s.f, true, return_bool, out);
                    emit(ev, note, pos);
                }
                Ok(())
            })
        }
        (l, r) => Err(Error::Eval(format!(
            "binary operator {op} not allowed between {} and {}",
            l.documented(),
            r.documented()
        ))),
    }
}

fn vector_and(lhs: &Vector, rhs: &Vector, lh: &[usize], rh: &[usize], out: &mut Vector) {
    if lhs.is_empty() || rhs.is_empty() {
        return;
    }
    let right: HashSet<usize> = rh.iter().copied().collect();
    for (i, s) in lhs.iter().enumerate() {
        if right.contains(&lh[i]) {
            out.push(s.clone());
        }
    }
}

fn vector_or(lhs: &Vector, rhs: &Vector, lh: &[usize], rh: &[usize], out: &mut Vector) {
    if lhs.is_empty() {
        out.extend(rhs.iter().cloned());
        return;
    }
    if rhs.is_empty() {
        out.extend(lhs.iter().cloned());
        return;
    }
    let left: HashSet<usize> = lh.iter().copied().collect();
    out.extend(lhs.iter().cloned());
    for (j, s) in rhs.iter().enumerate() {
        if !left.contains(&rh[j]) {
            out.push(s.clone());
        }
    }
}

fn vector_unless(lhs: &Vector, rhs: &Vector, lh: &[usize], rh: &[usize], out: &mut Vector) {
    if lhs.is_empty() || rhs.is_empty() {
        out.extend(lhs.iter().cloned());
        return;
    }
    let right: HashSet<usize> = rh.iter().copied().collect();
    for (i, s) in lhs.iter().enumerate() {
        if !right.contains(&lh[i]) {
            out.push(s.clone());
        }
    }
}

/// Caches reused across the steps of one binary operation.
#[derive(Default)]
struct BinopState {
    result_metric: HashMap<(u64, u64), Labels>,
    right_sigs: HashMap<usize, usize>,
    matched: HashMap<usize, Option<HashSet<u64>>>,
}

fn result_metric(
    state: &mut BinopState,
    lhs: &Labels,
    rhs: &Labels,
    op: BinaryOp,
    matching: &VectorMatching,
) -> Labels {
    let key = (lhs.hash(), rhs.hash());
    if let Some(l) = state.result_metric.get(&key) {
        return l.clone();
    }
    let mut b = LabelsBuilder::new(lhs);
    if changes_metric_schema(op) {
        b.del(model::METRIC_NAME).del("__type__").del("__unit__");
    }
    if matching.card == VectorMatchCardinality::OneToOne {
        if matching.on {
            b.keep(&matching.matching_labels);
        } else {
            for n in &matching.matching_labels {
                b.del(n);
            }
        }
    }
    for ln in &matching.include {
        match rhs.get(ln) {
            Some(v) if !v.is_empty() => {
                b.set(ln, v);
            }
            _ => {
                b.del(ln);
            }
        }
    }
    let l = b.labels();
    state.result_metric.insert(key, l.clone());
    l
}

#[allow(clippy::too_many_arguments)]
fn vector_binop(
    ev: &mut Evaluator<'_>,
    op: BinaryOp,
    lhs: &Vector,
    rhs: &Vector,
    matching: &VectorMatching,
    return_bool: bool,
    lh: &[usize],
    rh: &[usize],
    state: &mut BinopState,
    out: &mut Vector,
) -> Result<Option<Note>> {
    let fill = matching.fill_values;
    if (lhs.is_empty() && rhs.is_empty())
        || ((lhs.is_empty() || rhs.is_empty()) && fill.lhs.is_none() && fill.rhs.is_none())
    {
        return Ok(None);
    }
    let swapped = matching.card == VectorMatchCardinality::OneToMany;
    let (lhs, rhs, lh, rh) = if swapped {
        (rhs, lhs, rh, lh)
    } else {
        (lhs, rhs, lh, rh)
    };
    // As in Go, the fill values keep their sides even when the operands are swapped.
    let (fill_for_rhs, fill_for_lhs) = (fill.rhs, fill.lhs);
    state.right_sigs.clear();
    for (i, rs) in rhs.iter().enumerate() {
        let sig = rh[i];
        if let Some(&dup) = state.right_sigs.get(&sig) {
            let one_side = if swapped { "left" } else { "right" };
            let matched = match_labels(&rs.metric, matching.on, &matching.matching_labels);
            // Reported in sorted order so the message is stable.
            let (a, b) = if rs.metric <= rhs[dup].metric {
                (&rs.metric, &rhs[dup].metric)
            } else {
                (&rhs[dup].metric, &rs.metric)
            };
            return Err(Error::Eval(format!(
                "found duplicate series for the match group {matched} on the {one_side} hand-side of the operation: [{a}, {b}];many-to-many matching not allowed: matching labels must be unique on one side"
            )));
        }
        state.right_sigs.insert(sig, i);
    }
    state.matched.clear();
    let delayed = ev.delayed_name_removal;
    let mut last_note: Option<Note> = None;
    let mut do_op = |state: &mut BinopState, ls: &Sample, rs: &Sample, sig: usize| -> Result<()> {
        let (fl, fr) = if swapped { (rs.f, ls.f) } else { (ls.f, rs.f) };
        let (hl, hr) = if swapped {
            (rs.h.as_ref(), ls.h.as_ref())
        } else {
            (ls.h.as_ref(), rs.h.as_ref())
        };
        let e = elem_binop_h(op, fl, fr, hl, hr);
        if e.err.is_some() {
            // Go drops the element on any error, warnings included.
            last_note = e.err;
            return Ok(());
        } else if e.info.is_some() {
            last_note = e.info;
        }
        let (mut value, mut hvalue, keep) = (e.f, e.h, e.keep);
        if return_bool {
            value = btos(keep);
            hvalue = None;
        }
        let mut metric = result_metric(state, &ls.metric, &rs.metric, op, matching);
        if !delayed && return_bool {
            metric = drop_metadata(&metric);
        }
        if matching.card == VectorMatchCardinality::OneToOne {
            if state.matched.contains_key(&sig) {
                return Err(Error::Eval(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                ));
            }
            state.matched.insert(sig, None);
        } else {
            let h = metric.hash();
            let set = state
                .matched
                .entry(sig)
                .or_insert_with(|| Some(HashSet::new()));
            if let Some(set) = set
                && !set.insert(h)
            {
                return Err(Error::Eval(
                    "multiple matches for labels: grouping labels must ensure unique matches"
                        .into(),
                ));
            }
        }
        if !keep && !return_bool {
            return Ok(());
        }
        out.push(Sample {
            h: hvalue,
            metric,
            t: 0,
            f: value,
            drop_name: return_bool,
        });
        Ok(())
    };
    for (i, ls) in lhs.iter().enumerate() {
        let sig = lh[i];
        match state.right_sigs.get(&sig) {
            Some(&j) => do_op(state, ls, &rhs[j], sig)?,
            None => {
                let Some(f) = fill_for_rhs else { continue };
                let rs = Sample {
                    h: None,
                    metric: match_labels(&ls.metric, matching.on, &matching.matching_labels),
                    t: 0,
                    f,
                    drop_name: false,
                };
                do_op(state, ls, &rs, sig)?;
            }
        }
    }
    if let Some(f) = fill_for_lhs {
        let mut unmatched: Vec<(usize, usize)> = state
            .right_sigs
            .iter()
            .filter(|(sig, _)| !state.matched.contains_key(sig))
            .map(|(&s, &j)| (s, j))
            .collect();
        unmatched.sort_by_key(|&(_, j)| j);
        for (sig, j) in unmatched {
            let rs = &rhs[j];
            let ls = Sample {
                h: None,
                metric: match_labels(&rs.metric, matching.on, &matching.matching_labels),
                t: 0,
                f,
                drop_name: false,
            };
            do_op(state, &ls, rs, sig)?;
        }
    }
    Ok(last_note)
}

fn vector_scalar_binop(
    ev: &Evaluator<'_>,
    op: BinaryOp,
    lhs: &Vector,
    scalar: f64,
    swap: bool,
    return_bool: bool,
    out: &mut Vector,
) -> Option<Note> {
    let mut last_note = None;
    for s in lhs {
        let (l, r) = if swap { (scalar, s.f) } else { (s.f, scalar) };
        let (hl, hr) = if swap {
            (None, s.h.as_ref())
        } else {
            (s.h.as_ref(), None)
        };
        let e = elem_binop_h(op, l, r, hl, hr);
        // Go keeps the element on a warning (without reporting it) and drops it otherwise.
        if let Some(n @ Note::Info(_)) = e.err {
            last_note = Some(n);
            continue;
        }
        let (mut value, mut hvalue, mut keep) = (e.f, e.h, e.keep);
        if op.is_comparison() && swap {
            value = r;
            hvalue = hr.cloned();
        }
        if return_bool {
            value = btos(keep);
            hvalue = None;
            keep = true;
        }
        if !keep {
            continue;
        }
        let mut sample = s.clone();
        sample.f = value;
        sample.h = hvalue;
        if changes_metric_schema(op) || return_bool {
            if !ev.delayed_name_removal {
                sample.metric = drop_metadata(&sample.metric);
            }
            sample.drop_name = true;
        }
        out.push(sample);
    }
    last_note
}
