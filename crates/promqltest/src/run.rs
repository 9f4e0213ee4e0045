//! Running parsed scripts against an engine and a fresh storage per `clear`.

use std::path::Path;
use std::sync::Arc;

use model::FloatHistogram;
use promql::parser::SequenceValue;
use promql::value::{Annotations, Matrix, Value, Vector};
use promql::{Engine, QueryResult};
use storage::{Appendable, Queryable};

use crate::script::{self, Command, Eval, EvalKind, ExpectType};

/// A storage the scripts can load samples into and query.
pub trait TestStorage: Appendable + Queryable {}
impl<T: Appendable + Queryable + ?Sized> TestStorage for T {}

/// Makes an empty storage (called at the start and at every `clear`).
pub type StorageFactory<'a> = &'a dyn Fn() -> Result<Arc<dyn TestStorage>, storage::Error>;

/// A factory for `storage::MemStorage`.
pub fn mem_storage() -> Result<Arc<dyn TestStorage>, storage::Error> {
    Ok(Arc::new(storage::MemStorage::new()))
}

/// A TSDB in a temporary directory, deleted when the storage is dropped.
struct TempTsdb {
    db: tsdb::db::Db,
    _dir: tempfile::TempDir,
}

impl Appendable for TempTsdb {
    fn appender(&self) -> Box<dyn storage::Appender> {
        self.db.appender()
    }
}

impl Queryable for TempTsdb {
    fn querier(&self, mint: i64, maxt: i64) -> storage::Result<Box<dyn storage::Querier>> {
        self.db.querier(mint, maxt)
    }
}

/// A factory for a fresh `tsdb::db::Db` (its head, without WAL) in a temporary directory.
pub fn tsdb_storage() -> Result<Arc<dyn TestStorage>, storage::Error> {
    let dir = tempfile::tempdir().map_err(storage::Error::backend)?;
    // As Prometheus's teststorage: 24h blocks, so that a script may load older samples
    // after newer ones (the head accepts samples up to half a block range back).
    const DAY: i64 = 24 * 3600 * 1000;
    let opts = tsdb::db::Options {
        wal_enabled: false,
        min_block_duration: DAY,
        max_block_duration: DAY,
        ..tsdb::db::Options::default()
    };
    let db = tsdb::db::Db::open(dir.path(), opts).map_err(storage::Error::backend)?;
    Ok(Arc::new(TempTsdb { db, _dir: dir }))
}

/// One failed `eval`.
#[derive(Debug, Clone)]
pub struct Failure {
    /// 1-based line of the `eval`.
    pub line: usize,
    /// The query.
    pub expr: String,
    /// What went wrong.
    pub message: String,
}

/// One skipped `eval`.
#[derive(Debug, Clone)]
pub struct Skip {
    /// 1-based line of the `eval`.
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// The outcome of one script.
#[derive(Debug, Clone, Default)]
pub struct FileResult {
    /// Evals that passed.
    pub passed: usize,
    /// Evals that failed.
    pub failed: usize,
    /// Evals that were skipped.
    pub skipped: usize,
    /// Each failure.
    pub failures: Vec<Failure>,
    /// Each skip with its reason.
    pub skips: Vec<Skip>,
}

/// The engine options Prometheus's own test engine uses (`promqltest.NewTestEngine`).
pub fn test_engine() -> Engine {
    Engine::new(promql::EngineOpts {
        max_samples: 10_000,
        timeout: std::time::Duration::from_secs(100),
        enable_delayed_name_removal: true,
        enable_start_timestamps: true,
        no_step_subquery_interval: 60_000,
        ..promql::EngineOpts::default()
    })
}

/// Reads and runs one script file.
pub fn run_file(
    path: &Path,
    engine: &Engine,
    storage_factory: StorageFactory<'_>,
) -> crate::Result<FileResult> {
    let text = std::fs::read_to_string(path).map_err(|source| crate::Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    run_script(&path.display().to_string(), &text, engine, storage_factory)
}

/// Runs a script given as text; `name` appears in errors.
pub fn run_script(
    name: &str,
    text: &str,
    engine: &Engine,
    storage_factory: StorageFactory<'_>,
) -> crate::Result<FileResult> {
    let cmds = script::parse(name, text)?;
    let mut result = FileResult::default();
    let make = || {
        storage_factory().map_err(|source| crate::Error::Storage {
            file: name.to_string(),
            source,
        })
    };
    let mut storage = make()?;
    for cmd in cmds {
        match cmd {
            Command::Clear => {
                storage = make()?;
            }
            Command::Load(load) => {
                let mut app = storage.appender();
                for (labels, samples) in &load.series {
                    for (t, v) in samples {
                        let st = load.start_timestamp(labels, *t);
                        let res = match &v.histogram {
                            Some(h) => {
                                app.append_histogram_with_st(0, labels, st, *t, None, Some(h))
                            }
                            None => app.append_with_st(0, labels, st, *t, v.value),
                        };
                        res.map_err(|source| crate::Error::Load {
                            file: name.to_string(),
                            line: load.line,
                            source,
                        })?;
                    }
                }
                if load.with_nhcb {
                    let converted = crate::nhcb::convert(&load.series).map_err(|message| {
                        crate::Error::Script {
                            file: name.to_string(),
                            line: load.line,
                            message,
                        }
                    })?;
                    for (labels, samples) in &converted {
                        for (t, h) in samples {
                            app.append_histogram(0, labels, *t, None, Some(h)).map_err(
                                |source| crate::Error::Load {
                                    file: name.to_string(),
                                    line: load.line,
                                    source,
                                },
                            )?;
                        }
                    }
                }
                app.commit().map_err(|source| crate::Error::Load {
                    file: name.to_string(),
                    line: load.line,
                    source,
                })?;
            }
            Command::Eval(ev) => {
                if let Some(reason) = ev.skip.clone() {
                    result.skipped += 1;
                    result.skips.push(Skip {
                        line: ev.line,
                        reason,
                    });
                    continue;
                }
                let queryable: Arc<dyn Queryable> = storage.clone();
                match run_eval(&ev, engine, &queryable) {
                    Ok(()) => result.passed += 1,
                    Err(message) => {
                        result.failed += 1;
                        result.failures.push(Failure {
                            line: ev.line,
                            expr: ev.expr.clone(),
                            message,
                        });
                    }
                }
            }
        }
    }
    Ok(result)
}

fn run_eval(ev: &Eval, engine: &Engine, q: &Arc<dyn Queryable>) -> Result<(), String> {
    match ev.kind {
        EvalKind::Range { start, end, step } => {
            let res = engine.range_query(q.clone(), &ev.expr, start, end, step);
            check_outcome(ev, &ev.expr, res, Some((start, step, end)))
        }
        EvalKind::Instant { at } => {
            let mut queries = vec![(ev.expr.clone(), at)];
            queries.extend(promql::engine::at_modifier_test_cases(&ev.expr, at));
            for (expr, t) in queries {
                let res = engine.instant_query(q.clone(), &expr, t);
                let was_err = res.is_err();
                let range = ev.range_vector.map(|(s, e, st)| (s, st, e));
                check_outcome(ev, &expr, res, range)?;
                if was_err || ev.is_fail() || ev.exclude_from_range_query {
                    continue;
                }
                if has_query_context_function(&expr) {
                    continue;
                }
                let rres = engine
                    .range_query(q.clone(), &expr, t - 60_000, t + 60_000, 60_000)
                    .map_err(|e| {
                        format!(
                            "error evaluating query {expr:?} (line {}) in range mode: {e}",
                            ev.line
                        )
                    })?;
                if ev.is_ordered() {
                    continue;
                }
                let Value::Matrix(mat) = rres.value else {
                    return Err("range query did not return a matrix".to_string());
                };
                assert_matrix_sorted(&mat)?;
                let mut vec = Vector::new();
                for s in &mat {
                    if let Some(p) = s.floats.iter().find(|p| p.t == t) {
                        vec.push(promql::value::Sample {
                            h: None,
                            metric: s.metric.clone(),
                            t,
                            f: p.f,
                            drop_name: false,
                        });
                    } else if let Some(p) = s.histograms.iter().find(|p| p.t == t) {
                        vec.push(promql::value::Sample {
                            h: Some(p.h.clone()),
                            metric: s.metric.clone(),
                            t,
                            f: 0.0,
                            drop_name: false,
                        });
                    }
                }
                let cmp = if ev.expected_scalar.is_some() {
                    match vec.first() {
                        Some(s) => compare(
                            ev,
                            &Value::Scalar(promql::value::Scalar { t, v: s.f }),
                            None,
                        ),
                        None => Err("range mode returned no scalar value".to_string()),
                    }
                } else {
                    compare(ev, &Value::Vector(vec), None)
                };
                cmp.map_err(|e| {
                    format!("error in eval {expr} (line {}) range mode: {e}", ev.line)
                })?;
            }
            Ok(())
        }
    }
}

fn has_query_context_function(expr: &str) -> bool {
    ["start()", "end()", "range()", "step()"]
        .iter()
        .any(|f| expr.contains(f))
}

fn check_outcome(
    ev: &Eval,
    expr: &str,
    res: promql::Result<QueryResult>,
    range: Option<(i64, i64, i64)>,
) -> Result<(), String> {
    match res {
        Err(e) => {
            if ev.is_fail() {
                check_expected_failure(ev, &e.to_string())
            } else {
                Err(format!(
                    "error evaluating query {expr:?} (line {}): {e}",
                    ev.line
                ))
            }
        }
        Ok(r) => {
            if ev.is_fail() {
                return Err(format!(
                    "expected error evaluating query {expr:?} (line {}) but got none",
                    ev.line
                ));
            }
            check_annotations(ev, expr, &r.annotations)?;
            compare(ev, &r.value, range).map_err(|e| format!("error in eval {expr}: {e}"))
        }
    }
}

fn check_expected_failure(ev: &Eval, actual: &str) -> Result<(), String> {
    if let Some(m) = &ev.expected_fail_message
        && m != actual
    {
        return Err(format!("expected error {m:?}, but got: {actual}"));
    }
    if let Some(r) = &ev.expected_fail_regexp
        && !r.is_match(actual)
    {
        return Err(format!(
            "expected error matching {:?}, but got: {actual}",
            r.as_str()
        ));
    }
    if let Some(m) = ev.expects_of(ExpectType::Fail).next()
        && !m.matches(actual)
    {
        return Err(format!("expected error matching {m}, but got: {actual}"));
    }
    Ok(())
}

fn check_annotations(ev: &Eval, expr: &str, annos: &Annotations) -> Result<(), String> {
    let warnings: Vec<&str> = annos.warnings().collect();
    let infos: Vec<&str> = annos.infos().collect();
    if ev.warn && warnings.is_empty() {
        return Err(format!(
            "expected warnings evaluating query {expr:?} but got none"
        ));
    }
    if ev.info && infos.is_empty() {
        return Err(format!(
            "expected info annotations evaluating query {expr:?} but got none"
        ));
    }
    for (ty, actual, name) in [
        (ExpectType::Warn, &warnings, "warn"),
        (ExpectType::Info, &infos, "info"),
    ] {
        let expected: Vec<_> = ev.expects_of(ty).collect();
        if expected.is_empty() {
            continue;
        }
        if actual.is_empty() {
            return Err(format!(
                "expected {name} annotations but none were found for query {expr:?}"
            ));
        }
        for e in &expected {
            if !actual.iter().any(|a| e.matches(a)) {
                return Err(format!(
                    "expected {name} annotation matching {e} but no matching annotation was found for query {expr:?}, found: {actual:?}"
                ));
            }
        }
        for a in actual {
            if !expected.iter().any(|e| e.matches(a)) {
                return Err(format!(
                    "unexpected {name} annotation {a:?} found for query {expr}"
                ));
            }
        }
    }
    if ev.expects_of(ExpectType::NoWarn).next().is_some() && !warnings.is_empty() {
        return Err(format!(
            "unexpected warning annotations evaluating query {expr:?}: {warnings:?}"
        ));
    }
    if ev.expects_of(ExpectType::NoInfo).next().is_some() && !infos.is_empty() {
        return Err(format!(
            "unexpected info annotations evaluating query {expr:?}: {infos:?}"
        ));
    }
    Ok(())
}

/// Go's `compareNativeHistogram` on both histograms compacted: the same schema, custom
/// bounds, zero threshold and bucket layout, counts and sums equal within the test
/// tolerance, and the counter reset hint equal when the expectation spelled one.
fn histogram_matches(exp: &FloatHistogram, got: &FloatHistogram, hint_set: bool) -> bool {
    let (mut exp, mut got) = (exp.clone(), got.clone());
    exp.compact(0);
    got.compact(0);
    let buckets_match = |a: &[f64], b: &[f64]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| almost_equal(*x, *y))
    };
    exp.schema == got.schema
        && (!hint_set || exp.counter_reset_hint == got.counter_reset_hint)
        && almost_equal(exp.count, got.count)
        && almost_equal(exp.sum, got.sum)
        && (!exp.uses_custom_buckets() || exp.custom_values == got.custom_values)
        && exp.zero_threshold == got.zero_threshold
        && almost_equal(exp.zero_count, got.zero_count)
        && exp.negative_spans == got.negative_spans
        && buckets_match(&exp.negative_buckets, &got.negative_buckets)
        && exp.positive_spans == got.positive_spans
        && buckets_match(&exp.positive_buckets, &got.positive_buckets)
}

/// Go's `almost.Equal` with the test epsilon (1e-6 relative).
pub fn almost_equal(a: f64, b: f64) -> bool {
    const EPSILON: f64 = 0.000_001;
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if model::value::is_stale_nan(a) || model::value::is_stale_nan(b) {
        return model::value::is_stale_nan(a) && model::value::is_stale_nan(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < EPSILON * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < EPSILON
}

fn assert_matrix_sorted(m: &Matrix) -> Result<(), String> {
    for w in m.windows(2) {
        if w[0].metric > w[1].metric {
            return Err(format!(
                "matrix results should always be sorted by labels, but {} sorts before {}",
                w[1].metric, w[0].metric
            ));
        }
    }
    Ok(())
}

fn compare(ev: &Eval, value: &Value, range: Option<(i64, i64, i64)>) -> Result<(), String> {
    match value {
        Value::Matrix(m) => {
            if ev.is_ordered() {
                return Err("expected ordered result, but query returned a matrix".to_string());
            }
            if ev.expected_scalar.is_some() {
                return Err("expected scalar result, but got matrix".to_string());
            }
            assert_matrix_sorted(m)?;
            let (start, step, end) = range.unwrap_or((0, 0, 0));
            for s in m {
                let exp = ev
                    .expected
                    .iter()
                    .find(|e| e.labels == s.metric)
                    .ok_or_else(|| {
                        format!(
                            "unexpected metric {} in result, has {} float points {:?}",
                            s.metric,
                            s.floats.len(),
                            s.floats
                        )
                    })?;
                let mut expected_floats = Vec::new();
                let mut expected_hists = Vec::new();
                for (i, v) in exp.values.iter().enumerate() {
                    let t = start + i as i64 * step;
                    if t > end {
                        return Err(format!(
                            "expected {} points for {}, but query time range cannot return this many points",
                            exp.values.len(),
                            exp.labels
                        ));
                    }
                    match v {
                        Some(SequenceValue {
                            histogram: Some(h),
                            counter_reset_hint_set,
                            ..
                        }) => expected_hists.push((t, h, *counter_reset_hint_set)),
                        Some(v) => expected_floats.push((t, v.value)),
                        None => {}
                    }
                }
                if expected_floats.len() != s.floats.len()
                    || expected_hists.len() != s.histograms.len()
                {
                    return Err(format!(
                        "expected {} float points and {} histogram points for {}, but got {} float points {:?} and {} histogram points",
                        expected_floats.len(),
                        expected_hists.len(),
                        exp.labels,
                        s.floats.len(),
                        s.floats.iter().map(|p| (p.t, p.f)).collect::<Vec<_>>(),
                        s.histograms.len(),
                    ));
                }
                for (i, ((et, ef), p)) in expected_floats.iter().zip(&s.floats).enumerate() {
                    if *et != p.t {
                        return Err(format!(
                            "expected float value at index {i} for {} to have timestamp {et}, but it had timestamp {}",
                            exp.labels, p.t
                        ));
                    }
                    if !almost_equal(p.f, *ef) {
                        return Err(format!(
                            "expected float value at index {i} (t={}) for {} to be {ef}, but got {}",
                            p.t, exp.labels, p.f
                        ));
                    }
                }
                for (i, ((et, eh, hint_set), p)) in
                    expected_hists.iter().zip(&s.histograms).enumerate()
                {
                    if *et != p.t {
                        return Err(format!(
                            "expected histogram value at index {i} for {} to have timestamp {et}, but it had timestamp {}",
                            exp.labels, p.t
                        ));
                    }
                    if !histogram_matches(eh, &p.h, *hint_set) {
                        return Err(format!(
                            "expected histogram value at index {i} (t={}) for {} to be {}, but got {}",
                            p.t, exp.labels, eh, p.h
                        ));
                    }
                }
            }
            for e in &ev.expected {
                if !m.iter().any(|s| s.metric == e.labels) {
                    return Err(format!("expected metric {} not found", e.labels));
                }
            }
            Ok(())
        }
        Value::Vector(v) => {
            if ev.expected_scalar.is_some() {
                return Err(format!("expected scalar result, but got vector {v:?}"));
            }
            for (pos, s) in v.iter().enumerate() {
                let exp = ev
                    .expected
                    .iter()
                    .find(|e| e.labels == s.metric)
                    .ok_or_else(|| match &s.h {
                        Some(h) => {
                            format!("unexpected metric {} in result, has value {}", s.metric, h)
                        }
                        None => format!(
                            "unexpected metric {} in result, has value {}",
                            s.metric, s.f
                        ),
                    })?;
                if ev.is_ordered() && exp.pos != pos + 1 {
                    return Err(format!(
                        "expected metric {} at position {} but was at {}",
                        s.metric,
                        exp.pos,
                        pos + 1
                    ));
                }
                let want = exp.values.first().cloned().flatten().unwrap_or_default();
                match (&want.histogram, &s.h) {
                    (Some(eh), Some(h)) => {
                        if !histogram_matches(eh, h, want.counter_reset_hint_set) {
                            return Err(format!("expected {eh} for {} but got {h}", s.metric));
                        }
                    }
                    (Some(eh), None) => {
                        return Err(format!(
                            "expected histogram {eh} for {} but got float value {}",
                            s.metric, s.f
                        ));
                    }
                    (None, Some(h)) => {
                        return Err(format!(
                            "expected float value {} for {} but got histogram {h}",
                            want.value, s.metric
                        ));
                    }
                    (None, None) => {
                        if !almost_equal(want.value, s.f) {
                            return Err(format!(
                                "expected {} for {} but got {}",
                                want.value, s.metric, s.f
                            ));
                        }
                    }
                }
            }
            for e in &ev.expected {
                if !v.iter().any(|s| s.metric == e.labels) {
                    return Err(format!("expected metric {} not found", e.labels));
                }
            }
            Ok(())
        }
        Value::Scalar(s) => {
            let Some(want) = ev.expected_scalar else {
                return Err(format!(
                    "expected vector or matrix result, but got scalar {}",
                    s.v
                ));
            };
            if !almost_equal(want, s.v) {
                return Err(format!("expected scalar {want} but got {}", s.v));
            }
            Ok(())
        }
        Value::String(s) => {
            let want = ev.expected_string.as_deref().unwrap_or("");
            if want != s.v {
                return Err(format!("expected string {want:?} but got {:?}", s.v));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn almost_equal_is_relative() {
        assert!(almost_equal(1.0, 1.0 + 1e-9));
        assert!(!almost_equal(1.0, 1.001));
        assert!(almost_equal(f64::NAN, f64::NAN));
        assert!(!almost_equal(model::value::stale_nan(), f64::NAN));
        assert!(almost_equal(0.0, 0.0));
        assert!(!almost_equal(0.0, 1e-10));
    }
}
