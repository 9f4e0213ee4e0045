//! The storage the web handler queries before the TSDB is open: Go's `readyStorage`.

use std::sync::{Arc, RwLock};

use model::{Labels, Timestamp};
use storage::{Appendable, Appender, Querier, Queryable, SeriesRef};

/// Answers [`storage::Error::NotReady`] until [`ReadyStorage::set`] hands it the opened
/// TSDB, and again after [`ReadyStorage::clear`] (the TSDB is closing).
#[derive(Default)]
pub(crate) struct ReadyStorage {
    db: RwLock<Option<Arc<tsdb::db::Db>>>,
}

impl ReadyStorage {
    pub(crate) fn set(&self, db: Arc<tsdb::db::Db>) {
        *self
            .db
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(db);
    }

    pub(crate) fn clear(&self) {
        *self
            .db
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    fn get(&self) -> Option<Arc<tsdb::db::Db>> {
        self.db
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Queryable for ReadyStorage {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> storage::Result<Box<dyn Querier>> {
        match self.get() {
            Some(db) => db.querier(mint, maxt),
            None => Err(storage::Error::NotReady),
        }
    }
}

impl Appendable for ReadyStorage {
    fn appender(&self) -> Box<dyn Appender> {
        match self.get() {
            Some(db) => db.appender(),
            None => Box::new(NotReadyAppender),
        }
    }
}

/// The appender of a storage that is not open: every append fails with "not ready".
struct NotReadyAppender;

impl Appender for NotReadyAppender {
    fn append(
        &mut self,
        _: SeriesRef,
        _: &Labels,
        _: Timestamp,
        _: f64,
    ) -> storage::Result<SeriesRef> {
        Err(storage::Error::NotReady)
    }

    fn commit(self: Box<Self>) -> storage::Result<()> {
        Ok(())
    }

    fn rollback(self: Box<Self>) -> storage::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_ready_until_set() {
        let s = ReadyStorage::default();
        assert!(matches!(s.querier(0, 1), Err(storage::Error::NotReady)));
        let mut app = s.appender();
        assert!(matches!(
            app.append(0, &Labels::from_pairs([("a", "b")]), 0, 1.0),
            Err(storage::Error::NotReady)
        ));
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(tsdb::db::Db::open(dir.path(), tsdb::db::Options::default()).unwrap());
        s.set(db);
        assert!(s.querier(0, 1).is_ok());
        s.clear();
        assert!(matches!(s.querier(0, 1), Err(storage::Error::NotReady)));
    }
}
