//! `global.query_log_file`: the reloader that points the engine's query log at the
//! configured file (Prometheus's `query_engine` reloader in `cmd/prometheus/main.go`).

use std::sync::Arc;

use crate::reload::Reloader;

/// Applies `global.query_log_file` on every (re)load, as Prometheus does: the file is
/// opened anew each time (so a SIGHUP after log rotation writes to the new file), the
/// previous one is closed once the queries writing to it are done, and an empty value
/// turns the log off. A file that cannot be opened fails the reload and keeps the
/// previous log.
pub(crate) fn reloader(engine: &Arc<promql::Engine>) -> Reloader {
    let engine = engine.clone();
    Reloader {
        name: "query_engine",
        reload: Box::new(move |cfg| apply(&engine, &cfg.global.query_log_file)),
    }
}

fn apply(engine: &promql::Engine, path: &str) -> anyhow::Result<()> {
    if path.is_empty() {
        engine.set_query_logger(None);
        return Ok(());
    }
    let logger = promql::JsonFileLogger::open(path)?;
    engine.set_query_logger(Some(Arc::new(logger)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use storage::MemStorage;

    use super::*;

    fn enabled(engine: &promql::Engine) -> String {
        let mut out = String::new();
        engine.write_metrics(&mut out);
        out.lines()
            .find(|l| l.starts_with("prometheus_engine_query_log_enabled "))
            .expect("the family")
            .to_owned()
    }

    #[test]
    fn the_file_follows_the_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(promql::Engine::new(promql::EngineOpts::default()));
        let db = Arc::new(MemStorage::new());
        let (first, second) = (dir.path().join("a.log"), dir.path().join("b.log"));
        apply(&engine, first.to_str().unwrap()).unwrap();
        assert_eq!(enabled(&engine), "prometheus_engine_query_log_enabled 1");
        engine.instant_query(db.clone(), "vector(1)", 0).unwrap();

        // A file that cannot be opened fails and keeps the current log.
        let err = apply(&engine, dir.path().join("no/such.log").to_str().unwrap())
            .expect_err("no directory");
        assert!(
            err.to_string()
                .starts_with("can't create json log file: open "),
            "{err}"
        );
        engine.instant_query(db.clone(), "vector(2)", 0).unwrap();

        apply(&engine, second.to_str().unwrap()).unwrap();
        engine.instant_query(db.clone(), "vector(3)", 0).unwrap();
        apply(&engine, "").unwrap();
        assert_eq!(enabled(&engine), "prometheus_engine_query_log_enabled 0");
        engine.instant_query(db, "vector(4)", 0).unwrap();

        let a = std::fs::read_to_string(&first).unwrap();
        let b = std::fs::read_to_string(&second).unwrap();
        assert_eq!(a.lines().count(), 2, "{a}");
        assert!(a.contains(r#""query":"vector(1)""#) && a.contains(r#""query":"vector(2)""#));
        assert_eq!(b.lines().count(), 1, "{b}");
        assert!(b.contains(r#""query":"vector(3)""#), "{b}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            // 0666 less the umask, as Go creates it.
            let mode = std::fs::metadata(&first).unwrap().permissions().mode();
            assert_eq!(mode & 0o600, 0o600, "{mode:o}");
        }
    }
}
