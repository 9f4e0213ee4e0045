//! The run-group actors the server and the agent share, one function per kind, each adding
//! its actor to the group (cmd/prometheus/main.go). Registration order is shutdown order: the
//! callers ([`crate::server::run`], [`crate::agent::run`]) keep Prometheus's order.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::reload::{ConfigCheck, Reloader, reload_config};

/// The group every actor joins.
pub(crate) type Group = run_group::Group<anyhow::Error>;

/// Everything a configuration (re)load needs: the file, the reloaders in their order, the
/// status that records the outcome, and the check a mode applies first (agent mode's).
#[derive(Clone)]
pub(crate) struct ConfigLoader {
    pub(crate) path: PathBuf,
    pub(crate) reloaders: Arc<Vec<Reloader>>,
    pub(crate) status: Arc<web::Status>,
    pub(crate) check: Option<ConfigCheck>,
}

impl ConfigLoader {
    /// Runs [`reload_config`] off the async threads (it reads files and may take a
    /// while).
    async fn reload(&self) -> anyhow::Result<()> {
        let loader = self.clone();
        tokio::task::spawn_blocking(move || {
            reload_config(
                &loader.path,
                &loader.reloaders,
                &loader.status,
                loader.check,
            )
        })
        .await
        .context("the configuration reload task failed")?
    }
}

/// Termination handler: SIGINT, SIGTERM or `/-/quit` (`quit`) stop the group. Its
/// interrupt flips readiness to "stopping" and releases `reload_ready`.
pub(crate) fn termination_handler(
    group: &mut Group,
    status: &Arc<web::Status>,
    quit: &CancellationToken,
    reload_ready: &CancellationToken,
) -> anyhow::Result<()> {
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
            // Unblocks the reload handler if the initial load never happened.
            reload_ready.cancel();
            stop_signals(result)
        },
    );
    Ok(())
}

/// A discovery manager (`name`: "scrape discovery manager", "notify discovery manager"):
/// runs the SD providers and sends target groups to its subscribers.
pub(crate) fn discovery_manager(
    group: &mut Group,
    name: &'static str,
    discovery: &discovery::Manager,
) {
    let (run, stop) = (discovery.clone(), discovery.clone());
    group.add(
        name,
        async move {
            run.run().await;
            tracing::info!("{}", stopped_text(name));
            Ok(())
        },
        move |_: &anyhow::Result<()>| {
            tracing::info!("Stopping {name}...");
            stop.stop();
            std::future::ready(())
        },
    );
}

/// What Prometheus logs once the actor `name` has returned: `Scrape manager stopped`.
fn stopped_text(name: &str) -> String {
    let mut chars = name.chars();
    let first = chars.next().map(|c| c.to_uppercase().to_string());
    format!("{}{} stopped", first.unwrap_or_default(), chars.as_str())
}

/// An actor that starts once the initial configuration is loaded (`reload_ready`) and whose
/// interrupt awaits `stop`.
fn after_initial_load<R, S, F>(
    group: &mut Group,
    name: &'static str,
    reload_ready: &CancellationToken,
    run: R,
    stop: S,
) where
    R: Future<Output = ()> + Send + 'static,
    S: FnOnce() -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let reload_ready = reload_ready.clone();
    group.add(
        name,
        async move {
            // The termination handler's interrupt releases this wait on shutdown.
            reload_ready.cancelled().await;
            run.await;
            Ok(())
        },
        move |_: &anyhow::Result<()>| stop(),
    );
}

/// Rule manager: evaluates once the configuration is loaded; stopping it waits for the
/// running evaluations.
pub(crate) fn rule_manager(
    group: &mut Group,
    rule_manager: &rules::Manager,
    reload_ready: &CancellationToken,
) {
    let (run, stop) = (rule_manager.clone(), rule_manager.clone());
    after_initial_load(
        group,
        "rule manager",
        reload_ready,
        async move { run.run().await },
        move || async move { stop.stop().await },
    );
}

/// Scrape manager: scrapes the targets of `targets` once the configuration is loaded.
/// Stopping it waits for every scrape loop to exit and write its staleness markers.
pub(crate) fn scrape_manager(
    group: &mut Group,
    scraper: &scrape::Manager,
    targets: watch::Receiver<discovery::TargetSets>,
    reload_ready: &CancellationToken,
) {
    let (run, stop) = (scraper.clone(), scraper.clone());
    after_initial_load(
        group,
        "scrape manager",
        reload_ready,
        async move {
            run.run(targets).await;
            tracing::info!("Scrape manager stopped");
        },
        move || async move {
            tracing::info!("Stopping scrape manager...");
            stop.stop().await;
        },
    );
}

/// Notifier: sends alerts to the Alertmanagers of `targets` once the configuration is
/// loaded; stopping it drains its queue.
pub(crate) fn notifier(
    group: &mut Group,
    notifier: &notifier::Manager,
    targets: watch::Receiver<discovery::TargetSets>,
    reload_ready: &CancellationToken,
) {
    let (run, stop) = (notifier.clone(), notifier.clone());
    after_initial_load(
        group,
        "notifier",
        reload_ready,
        async move {
            run.run(targets).await;
            tracing::info!("Notifier manager stopped");
        },
        move || async move { stop.stop().await },
    );
}

/// Reload handler: SIGHUP and `/-/reload` (`requests`), only after the initial
/// configuration load (`reload_ready`); with `auto_reload` (the `auto-reload-config`
/// feature) also every that often when the files' checksum
/// ([`config::Config::files_checksum`]) differs from the last successful load's.
pub(crate) fn reload_handler(
    group: &mut Group,
    loader: ConfigLoader,
    mut requests: mpsc::Receiver<web::ReloadRequest>,
    reload_ready: &CancellationToken,
    auto_reload: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let interrupt = stop.clone();
    let reload_ready = reload_ready.clone();
    let mut hangup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    group.add(
        "reload handler",
        async move {
            tokio::select! {
                () = reload_ready.cancelled() => {}
                () = stop.cancelled() => return Ok(()),
            }
            // The checksum of the files as last loaded successfully (auto-reload only).
            let mut loaded = None;
            let mut ticker = auto_reload.map(|every| {
                let mut t = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                t
            });
            if ticker.is_some() {
                loaded = files_checksum(&loader).await;
            }
            loop {
                tokio::select! {
                    _ = hangup.recv() => {
                        match loader.reload().await {
                            Err(err) => tracing::error!(err = format!("{err:#}"), "Error reloading config"),
                            Ok(()) if ticker.is_some() => loaded = files_checksum(&loader).await,
                            Ok(()) => {}
                        }
                    }
                    request = requests.recv() => {
                        let Some(answer) = request else { return Ok(()) };
                        let outcome = loader.reload().await;
                        match &outcome {
                            Err(err) => tracing::error!(err = format!("{err:#}"), "Error reloading config"),
                            Ok(()) if ticker.is_some() => loaded = files_checksum(&loader).await,
                            Ok(()) => {}
                        }
                        let _ = answer.send(outcome.map_err(|e| format!("{e:#}")));
                    }
                    () = next_tick(&mut ticker) => {
                        let current = files_checksum(&loader).await;
                        if current.is_some() && current == loaded {
                            continue;
                        }
                        tracing::info!("Configuration file change detected, reloading the configuration.");
                        match loader.reload().await {
                            Err(err) => tracing::error!(err = format!("{err:#}"), "Error reloading config"),
                            Ok(()) => loaded = current,
                        }
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
    Ok(())
}

/// The checksum of the loader's files, `None` (logged) when it cannot be had: an unreadable
/// file, no YAML.
async fn files_checksum(loader: &ConfigLoader) -> Option<u64> {
    let path = loader.path.clone();
    match tokio::task::spawn_blocking(move || config::Config::files_checksum(&path)).await {
        Ok(Ok(sum)) => Some(sum),
        Ok(Err(err)) => {
            tracing::error!(err = %err, "Failed to generate checksum during config reload");
            None
        }
        Err(err) => {
            tracing::error!(err = %err, "Failed to generate checksum during config reload");
            None
        }
    }
}

/// The next tick of `ticker`, never without one.
async fn next_tick(ticker: &mut Option<tokio::time::Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Initial configuration loading: once the storage is open (`db_open`), apply the
/// configuration, release `reload_ready`, then mark the server ready.
pub(crate) fn initial_config_loading(
    group: &mut Group,
    loader: ConfigLoader,
    db_open: &CancellationToken,
    reload_ready: &CancellationToken,
) {
    let stop = CancellationToken::new();
    let interrupt = stop.clone();
    let (db_open, reload_ready) = (db_open.clone(), reload_ready.clone());
    group.add(
        "initial configuration loading",
        async move {
            tokio::select! {
                () = db_open.cancelled() => {}
                () = stop.cancelled() => return Ok(()),
            }
            loader.reload().await.context("error loading config")?;
            reload_ready.cancel();
            loader.status.set_readiness(web::Readiness::Ready);
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

/// A storage actor (`name`: "TSDB", "WAL storage"): `run` opens the storage, serves until
/// its `stop` token is cancelled, then closes it. The interrupt cancels `stop` and waits
/// until `run` has returned, so that the actors after it stop only once the data is safe.
pub(crate) fn storage<R, F>(group: &mut Group, name: &'static str, run: R)
where
    R: FnOnce(CancellationToken) -> F,
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let stop = CancellationToken::new();
    let closed = CancellationToken::new();
    let (interrupt_stop, interrupt_closed) = (stop.clone(), closed.clone());
    let run = run(stop);
    group.add(
        name,
        async move {
            let _closed = closed.drop_guard();
            run.await
        },
        move |_: &anyhow::Result<()>| async move {
            interrupt_stop.cancel();
            interrupt_closed.cancelled().await;
        },
    );
}

/// Web handler: one server per `--web.listen-address` (`listeners`), all sharing `handler`;
/// the interrupt stops accepting, then lets open requests finish.
pub(crate) fn web_handler(
    group: &mut Group,
    listeners: Vec<TcpListener>,
    handler: web::Handler,
    serve_options: web::ServeOptions,
) {
    let shutdown = CancellationToken::new();
    let interrupt = shutdown.clone();
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
                // The first server to stop (or fail) stops the others.
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
