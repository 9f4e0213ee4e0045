//! The read-only view of a data directory: `tsdb`'s [`ReadOnlyDb`] (blocks plus the head
//! replayed from a private copy of the WAL; nothing written, no lock), as Go's `DBReadOnly`.

pub(crate) use tsdb::db::ReadOnlyDb;

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Labels, MatchType, Matcher};
    use storage::{Appendable as _, Queryable as _, ValueType};
    use tsdb::compact::{BlockWriter, encode_chunks};
    use tsdb::db::{Db, Options};

    fn all_samples(db: &ReadOnlyDb) -> Vec<(String, i64, f64)> {
        let q = db.querier(i64::MIN, i64::MAX).expect("querier");
        let all = [Matcher::new(MatchType::RegexMatch, "__name__", ".+").expect("valid")];
        let mut set = q.select(true, None, &all);
        let mut out = Vec::new();
        while let Some(s) = set.next() {
            let s = s.expect("series");
            let mut it = s.iterator();
            while it.next() == ValueType::Float {
                let (t, v) = it.at();
                out.push((s.labels().to_string(), t, v));
            }
        }
        out
    }

    #[test]
    fn merges_blocks_and_the_replayed_head_without_writing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Labels::from_pairs([("__name__", "a")]);
        let b = Labels::from_pairs([("__name__", "b")]);
        // The head (WAL) holds a sample the block below will cover and one after it.
        let db = Db::open(dir.path(), Options::default()).expect("db opens");
        let mut app = db.appender();
        app.append(0, &a, 5_000, 1.0).expect("append");
        app.append(0, &a, 20_000, 2.0).expect("append");
        app.commit().expect("commit");
        db.close().expect("close");
        let samples: Vec<(i64, f64)> = vec![(0, 10.0), (9_000, 11.0)];
        BlockWriter::new(dir.path())
            .write(
                [(b.clone(), encode_chunks(&samples).expect("encodes"))],
                0,
                10_000,
            )
            .expect("block written")
            .expect("a block");

        let before = test_support::dir_listing(dir.path());
        let ro = ReadOnlyDb::open(dir.path()).expect("opens read-only");
        assert_eq!(ro.blocks().len(), 1);
        assert_eq!(
            all_samples(&ro),
            vec![
                // a's sample at 5 s is older than the block's end: dropped, as Go's head.Init.
                ("{__name__=\"a\"}".to_owned(), 20_000, 2.0),
                ("{__name__=\"b\"}".to_owned(), 0, 10.0),
                ("{__name__=\"b\"}".to_owned(), 9_000, 11.0),
            ]
        );
        let q = ro.querier(0, 30_000).expect("querier");
        assert_eq!(
            q.label_values("__name__", None, &[]).expect("values"),
            vec!["a".to_owned(), "b".to_owned()]
        );
        drop(q);
        drop(ro);
        assert_eq!(
            test_support::dir_listing(dir.path()),
            before,
            "the data directory was written"
        );

        let blocks_only = ReadOnlyDb::open_blocks(dir.path()).expect("opens");
        assert_eq!(all_samples(&blocks_only).len(), 2);
    }
}
