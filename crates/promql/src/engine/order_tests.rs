//! Result order over the TSDB, as Prometheus 3.5 lists it: instant vectors in the order the
//! storage hands series out (the head's is creation order), range queries and instant
//! range vectors sorted by labels.

use std::sync::Arc;

use model::Labels;
use storage::{Appendable, Queryable};

use crate::{Engine, EngineOpts, Value};

fn up(instance: &str) -> Labels {
    Labels::from_pairs([("__name__", "up"), ("instance", instance), ("job", "node")])
}

/// A TSDB whose head got `up` series for instances c, a, b (in that order), one sample a
/// second over a minute.
fn head_only_db(dir: &std::path::Path) -> Arc<tsdb::Db> {
    let db = Arc::new(tsdb::Db::open(dir, tsdb::Options::default()).expect("db opens"));
    for t in 0..=60 {
        let mut app = db.appender();
        for (i, inst) in ["c", "a", "b"].iter().enumerate() {
            app.append(0, &up(inst), t * 1000, i as f64)
                .expect("append");
        }
        app.commit().expect("commit");
    }
    db
}

fn instances(metrics: impl Iterator<Item = Labels>) -> Vec<String> {
    metrics
        .map(|l| l.get("instance").unwrap_or_default().to_string())
        .collect()
}

#[test]
fn instant_vectors_keep_the_heads_creation_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db: Arc<dyn Queryable> = head_only_db(dir.path());
    let engine = Engine::new(EngineOpts::default());
    let vector = |q: &str| match engine
        .instant_query(Arc::clone(&db), q, 60_000)
        .expect("query runs")
        .value
    {
        Value::Vector(v) => instances(v.into_iter().map(|s| s.metric)),
        other => panic!("{q}: a vector expected, got {other:?}"),
    };
    assert_eq!(vector("up"), ["c", "a", "b"]);
    assert_eq!(vector("up * 2"), ["c", "a", "b"]);
    assert_eq!(vector("rate(up[30s])"), ["c", "a", "b"]);
    assert_eq!(vector("sum by (instance) (up)"), ["c", "a", "b"]);
    assert_eq!(vector("up > 0"), ["a", "b"]);
}

#[test]
fn range_queries_and_instant_range_vectors_are_sorted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db: Arc<dyn Queryable> = head_only_db(dir.path());
    let engine = Engine::new(EngineOpts::default());
    let matrix = |v: Value| match v {
        Value::Matrix(m) => instances(m.into_iter().map(|s| s.metric)),
        other => panic!("a matrix expected, got {other:?}"),
    };
    let range = engine
        .range_query(Arc::clone(&db), "up", 0, 60_000, 10_000)
        .expect("query runs");
    assert_eq!(matrix(range.value), ["a", "b", "c"]);
    let instant = engine
        .instant_query(Arc::clone(&db), "up[30s]", 60_000)
        .expect("query runs");
    assert_eq!(matrix(instant.value), ["a", "b", "c"]);
}
