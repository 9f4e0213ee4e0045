//! Agent mode (`--agent`): scrape and discovery as in the server, samples go to the WAL-only
//! `tsdb::agent::Db` under `--storage.agent.path` and leave through remote write; there is no
//! query engine storage, rule manager or notifier (cmd/prometheus/main.go's agent branches).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use anyhow::Context as _;
use model::{Labels, Timestamp};
use storage::{Appendable, Appender, Querier, Queryable, SeriesRef};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::flags::{AgentSettings, Settings};
use crate::ready::ReadyStorage;
use crate::reload::{Reloader, reload_config_checked};
use crate::remote::RemoteStorage;
use crate::server::{ConfigError, build_info, is_requested_stop};

/// What Prometheus answers for queries against WAL-only storage.
const UNSUPPORTED: &str = "unsupported operation with WAL-only storage";

/// Agent mode refuses configuration blocks it has no use for, at start-up and on reload
/// (Go's `config.LoadFile(..., agentMode, ...)`).
fn check_agent_config(cfg: &config::Config) -> anyhow::Result<()> {
    cfg.check_agent_mode().map_err(anyhow::Error::from)
}

/// The agent storage once it is open (Go's `readyStorage` in agent mode): appends fail with
/// "not ready" before and after.
#[derive(Default)]
pub(crate) struct ReadyAgent {
    db: RwLock<Option<Arc<tsdb::agent::Db>>>,
}

impl ReadyAgent {
    fn set(&self, db: Option<Arc<tsdb::agent::Db>>) {
        *self.db.write().unwrap_or_else(PoisonError::into_inner) = db;
    }

    fn get(&self) -> Option<Arc<tsdb::agent::Db>> {
        self.db
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The `prometheus_agent_*` metrics (nothing before the storage is open).
    fn write_metrics(&self, out: &mut String) {
        if let Some(db) = self.get() {
            db.write_metrics(out);
        }
    }
}

impl Appendable for ReadyAgent {
    fn appender(&self) -> Box<dyn Appender> {
        match self.get() {
            Some(db) => db.appender(),
            None => Box::new(NotReadyAppender),
        }
    }
}

/// The appender before the storage is open.
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

/// The agent has nothing to query (Go's agent `Querier` returns `ErrUnsupported`).
struct NoQueries;

impl Queryable for NoQueries {
    fn querier(&self, _: Timestamp, _: Timestamp) -> storage::Result<Box<dyn Querier>> {
        Err(storage::Error::backend(std::io::Error::other(UNSUPPORTED)))
    }
}

/// Runs the agent until a signal, `/-/quit` or a failing component stops it.
pub(crate) async fn run(settings: Settings, mut agent: AgentSettings) -> anyhow::Result<()> {
    tracing::info!(
        mode = "agent",
        version = env!("CARGO_PKG_VERSION"),
        "Starting Prometheus Agent"
    );
    for feature in &settings.noop_features {
        tracing::info!(option = %feature, "Option has no effect in this server");
    }
    for feature in &settings.unknown_features {
        tracing::warn!(option = %feature, "Unknown option for --enable-feature");
    }

    // Throw an error for an invalid config before starting any component.
    let path = settings.config_file.clone();
    let loaded = config::Config::load_file(&path)
        .map_err(anyhow::Error::from)
        .and_then(|cfg| check_agent_config(&cfg).map(|()| cfg));
    let cfg = match loaded {
        Ok(cfg) => cfg,
        Err(err) => {
            let abs = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
            tracing::error!(
                file = %abs.display(),
                err = %err,
                "Error loading config (--config.file={})", path.display()
            );
            return Err(anyhow::Error::new(ConfigError).context(err.to_string()));
        }
    };
    // As Prometheus: the out-of-order window of `storage.tsdb` applies to the agent too,
    // read once at start-up.
    if let Some(tsdb) = &cfg.storage.tsdb {
        agent.options.out_of_order_time_window = tsdb.out_of_order_time_window.as_millis();
    }

    let status = Arc::new(web::Status::new(SystemTime::now()));
    let storage = Arc::new(ReadyAgent::default());
    let quit = CancellationToken::new();
    let (reload_tx, mut reload_rx) = mpsc::channel::<web::ReloadRequest>(1);
    let mut listeners = Vec::with_capacity(settings.listen_addresses.len());
    for address in &settings.listen_addresses {
        listeners.push(
            web::listen(address)
                .await
                .context("starting the web server")?,
        );
        tracing::info!(address = %address, "Start listening for connections");
    }

    let discovery = discovery::Manager::new(discovery::Options::default());
    let scrape_targets = discovery.subscribe();
    let scraper = scrape::Manager::new(storage.clone(), settings.scrape.clone());
    // Remote write tails <storage.agent.path>/wal; remote_read is refused in agent mode, so
    // the local storage it would merge with stays empty.
    let remote = Arc::new(RemoteStorage::new(
        &agent.path,
        Arc::new(ReadyStorage::default()),
        settings.remote_flush_deadline,
    ));

    let handler = web::Handler::new(web::Options {
        queryable: Arc::new(NoQueries),
        engine: Arc::new(promql::Engine::new(settings.engine.clone())),
        status: status.clone(),
        tsdb_stats: None,
        tsdb_admin: None,
        scrape: Some(scraper.clone()),
        global_url: settings.global_url.clone(),
        enable_lifecycle: settings.enable_lifecycle,
        enable_admin_api: settings.enable_admin_api,
        cors_origin: settings.cors_origin.clone(),
        route_prefix: settings.route_prefix.clone(),
        flags: settings.flag_values.clone(),
        build_info: build_info(),
        storage_retention: String::new(),
        quit: quit.clone(),
        reload: reload_tx,
        remote_write_receiver: settings
            .enable_remote_write_receiver
            .then(|| -> Arc<dyn Appendable> { storage.clone() }),
        remote_read_queryable: None,
        metrics_hook: Some({
            let (remote, storage) = (remote.clone(), storage.clone());
            Arc::new(move |out: &mut String| {
                remote.write_metrics(out);
                storage.write_metrics(out);
            })
        }),
        agent: true,
        rules: None,
        alertmanagers: None,
    });

    // As in Prometheus's agent: no rules, notifier or query engine to reconfigure.
    let reloaders: Arc<Vec<Reloader>> = Arc::new(vec![
        Reloader {
            name: "remote_storage",
            reload: Box::new({
                let remote = remote.clone();
                move |cfg| remote.apply_config(cfg)
            }),
        },
        Reloader {
            name: "web_handler",
            reload: Box::new(|_| Ok(())),
        },
        Reloader {
            name: "scrape",
            reload: Box::new({
                let scraper = scraper.clone();
                move |cfg| scraper.apply_config(cfg).map_err(anyhow::Error::from)
            }),
        },
        Reloader {
            name: "scrape_sd",
            reload: Box::new({
                let discovery = discovery.clone();
                move |cfg| discovery.apply_config(cfg).map_err(anyhow::Error::from)
            }),
        },
    ]);

    let db_open = CancellationToken::new();
    let reload_ready = CancellationToken::new();
    let mut group: run_group::Group<anyhow::Error> = run_group::Group::new();

    {
        // Termination handler.
        let (signals, stop_signals) = run_group::signal_handler::<anyhow::Error>(&[
            SignalKind::interrupt(),
            SignalKind::terminate(),
        ])?;
        let (status, quit, reload_ready) = (status.clone(), quit.clone(), reload_ready.clone());
        group.add(
            "termination handler",
            async move {
                tokio::select! {
                    r = signals => r,
                    () = quit.cancelled() => {
                        tracing::warn!("Received termination request via web service, exiting gracefully...");
                        Err(run_group::Error::Cancelled.into())
                    }
                }
            },
            move |result: &anyhow::Result<()>| {
                status.set_readiness(web::Readiness::Stopping);
                reload_ready.cancel();
                stop_signals(result)
            },
        );
    }
    {
        // Scrape discovery manager.
        let (run, stop) = (discovery.clone(), discovery.clone());
        group.add(
            "scrape discovery manager",
            async move {
                run.run().await;
                Ok(())
            },
            move |_: &anyhow::Result<()>| {
                stop.stop();
                std::future::ready(())
            },
        );
    }
    {
        // Scrape manager: stops (writing staleness markers) before the WAL storage closes.
        let (run, stop, reload_ready) = (scraper.clone(), scraper.clone(), reload_ready.clone());
        group.add(
            "scrape manager",
            async move {
                reload_ready.cancelled().await;
                run.run(scrape_targets).await;
                Ok(())
            },
            move |_: &anyhow::Result<()>| async move { stop.stop().await },
        );
    }
    {
        // Reload handler: SIGHUP and /-/reload, after the initial configuration load.
        let stop = CancellationToken::new();
        let interrupt = stop.clone();
        let (path, reloaders, status, reload_ready) = (
            settings.config_file.clone(),
            reloaders.clone(),
            status.clone(),
            reload_ready.clone(),
        );
        let mut hangup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
        group.add(
            "reload handler",
            async move {
                tokio::select! {
                    () = reload_ready.cancelled() => {}
                    () = stop.cancelled() => return Ok(()),
                }
                loop {
                    tokio::select! {
                        _ = hangup.recv() => {
                            if let Err(err) = reload_blocking(&path, &reloaders, &status).await {
                                tracing::error!(err = format!("{err:#}"), "Error reloading config");
                            }
                        }
                        request = reload_rx.recv() => {
                            let Some(answer) = request else { return Ok(()) };
                            let outcome = reload_blocking(&path, &reloaders, &status).await;
                            if let Err(err) = &outcome {
                                tracing::error!(err = format!("{err:#}"), "Error reloading config");
                            }
                            let _ = answer.send(outcome.map_err(|e| format!("{e:#}")));
                        }
                        () = stop.cancelled() => return Ok(()),
                    }
                }
            },
            move |_: &anyhow::Result<()>| {
                interrupt.cancel();
                std::future::ready(())
            },
        );
    }
    {
        // Initial configuration loading, once the WAL storage is open.
        let stop = CancellationToken::new();
        let interrupt = stop.clone();
        let (path, reloaders, status, db_open, reload_ready) = (
            settings.config_file.clone(),
            reloaders.clone(),
            status.clone(),
            db_open.clone(),
            reload_ready.clone(),
        );
        group.add(
            "initial configuration loading",
            async move {
                tokio::select! {
                    () = db_open.cancelled() => {}
                    () = stop.cancelled() => return Ok(()),
                }
                reload_blocking(&path, &reloaders, &status)
                    .await
                    .context("error loading config")?;
                reload_ready.cancel();
                status.set_readiness(web::Readiness::Ready);
                tracing::info!("Server is ready to receive web requests.");
                stop.cancelled().await;
                Ok(())
            },
            move |_: &anyhow::Result<()>| {
                interrupt.cancel();
                std::future::ready(())
            },
        );
    }
    {
        // WAL storage: opens (replaying) the agent WAL, truncates it periodically, and closes
        // it cleanly after remote write has stopped.
        let stop = CancellationToken::new();
        let closed = CancellationToken::new();
        let (interrupt_stop, interrupt_closed) = (stop.clone(), closed.clone());
        let (agent, storage, db_open, remote) = (
            agent.clone(),
            storage.clone(),
            db_open.clone(),
            remote.clone(),
        );
        group.add(
            "WAL storage",
            async move {
                let _closed = closed.drop_guard();
                tracing::info!("Starting WAL storage ...");
                let (dir, opts) = (agent.path.clone(), agent.options.clone());
                let db = tokio::task::spawn_blocking(move || tsdb::agent::Db::open(&dir, opts))
                    .await
                    .context("opening the agent storage")?
                    .with_context(|| {
                        format!("opening storage failed in {}", agent.path.display())
                    })?;
                let db = Arc::new(db);
                storage.set(Some(db.clone()));
                let truncator = db.spawn_truncator(
                    Box::new({
                        let remote = remote.clone();
                        move || remote.lowest_sent_timestamp()
                    }),
                    Box::new(|err| {
                        tracing::warn!(err = %err, "failed to truncate WAL");
                    }),
                );
                tracing::info!("Agent WAL storage started");
                db_open.cancel();
                stop.cancelled().await;

                // Remote write (watchers, then queue flushes) stops before the WAL closes;
                // scraping stopped earlier.
                remote.close().await;
                storage.set(None);
                tokio::task::spawn_blocking(move || {
                    truncator.stop();
                    db.close()
                })
                .await
                .context("closing the agent storage")?
                .context("closing the agent storage")?;
                tracing::info!("WAL storage closed");
                Ok(())
            },
            move |_: &anyhow::Result<()>| async move {
                interrupt_stop.cancel();
                interrupt_closed.cancelled().await;
            },
        );
    }
    {
        // Web handler.
        let shutdown = CancellationToken::new();
        let interrupt = shutdown.clone();
        let serve_options = settings.serve;
        group.add(
            "web handler",
            async move {
                let mut servers = tokio::task::JoinSet::new();
                for listener in listeners {
                    servers.spawn(web::serve(
                        listener,
                        handler.clone(),
                        serve_options.clone(),
                        shutdown.clone(),
                    ));
                }
                while let Some(done) = servers.join_next().await {
                    shutdown.cancel();
                    done.context("web handler task")?.context("web handler")?;
                }
                Ok(())
            },
            move |_: &anyhow::Result<()>| {
                interrupt.cancel();
                std::future::ready(())
            },
        );
    }

    match group.run().await {
        Err(err) if !is_requested_stop(&err) => Err(err),
        _ => Ok(()),
    }
}

/// Reloads off the async threads, refusing what agent mode does not support.
async fn reload_blocking(
    path: &std::path::Path,
    reloaders: &Arc<Vec<Reloader>>,
    status: &Arc<web::Status>,
) -> anyhow::Result<()> {
    let (path, reloaders, status) = (path.to_path_buf(), reloaders.clone(), status.clone());
    tokio::task::spawn_blocking(move || {
        reload_config_checked(&path, &reloaders, &status, Some(check_agent_config))
    })
    .await
    .context("the configuration reload task failed")?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_config_refuses_rules_alerting_and_remote_read() {
        for yaml in [
            "rule_files: [a.yml]\n",
            "alerting:\n  alertmanagers:\n    - static_configs: [{targets: ['127.0.0.1:9093']}]\n",
            "remote_read:\n  - url: http://127.0.0.1:1/read\n",
        ] {
            let cfg = config::Config::load_str(yaml, "").unwrap();
            let err = check_agent_config(&cfg).unwrap_err().to_string();
            assert!(err.contains("is not allowed in agent mode"), "{err}");
        }
        let cfg =
            config::Config::load_str("remote_write:\n  - url: http://127.0.0.1:1/write\n", "")
                .unwrap();
        check_agent_config(&cfg).unwrap();
    }

    #[test]
    fn appends_wait_for_the_storage_and_queries_are_unsupported() {
        let ready = ReadyAgent::default();
        let series = Labels::from_pairs([("__name__", "up")]);
        let mut app = ready.appender();
        assert!(matches!(
            app.append(0, &series, 1, 1.0),
            Err(storage::Error::NotReady)
        ));
        let dir = tempfile::tempdir().unwrap();
        let db =
            Arc::new(tsdb::agent::Db::open(dir.path(), tsdb::agent::Options::default()).unwrap());
        ready.set(Some(db.clone()));
        let mut app = ready.appender();
        app.append(0, &series, 1, 1.0).unwrap();
        app.commit().unwrap();
        assert_eq!(db.num_series(), 1);
        let mut text = String::new();
        ready.write_metrics(&mut text);
        assert!(
            text.contains("prometheus_agent_active_series 1\n"),
            "{text}"
        );
        let err = NoQueries.querier(0, 1).err().unwrap().to_string();
        assert_eq!(err, UNSUPPORTED);
    }
}
