//! Agent mode (`--agent`): scrape and discovery as in the server, samples go to the WAL-only
//! `tsdb::agent::Db` under `--storage.agent.path` and leave through remote write; there is no
//! query engine storage or rule manager, and the notifier runs without Alertmanagers
//! (cmd/prometheus/main.go's agent branches).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use anyhow::Context as _;
use model::Timestamp;
use storage::{Appendable, Appender, Querier, Queryable};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::actors::{self, ConfigLoader};
use crate::flags::{AgentSettings, Settings};
use crate::ready::{NotReadyAppender, ReadyStorage};
use crate::reload::{Reloader, scrape_reloaders};
use crate::remote::RemoteStorage;
use crate::server::{config_load_error, is_requested_stop, listen_all, log_features, web_options};

/// What Prometheus answers for queries against WAL-only storage.
const UNSUPPORTED: &str = "unsupported operation with WAL-only storage";

/// Agent mode refuses configuration blocks it has no use for, at start-up and on reload
/// (Go's `config.LoadFile(..., agentMode, ...)`).
fn check_agent_config(cfg: &config::Config) -> anyhow::Result<()> {
    cfg.check_agent_mode().map_err(anyhow::Error::from)
}

/// Prometheus checks `--storage.agent.wal-segment-size` when the WAL storage starts (so a
/// bad size is a fatal error, exit 1, not a flag error), then the WAL checks it is a
/// whole number of pages.
fn check_segment_size(size: usize) -> anyhow::Result<()> {
    if !(10 << 20..=256 << 20).contains(&size) {
        anyhow::bail!("flag 'storage.agent.wal-segment-size' must be set between 10MB and 256MB");
    }
    if !size.is_multiple_of(tsdb::wlog::PAGE_SIZE) {
        anyhow::bail!("opening storage failed: creating WAL: invalid segment size");
    }
    Ok(())
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

/// The agent has nothing to query (Go's agent `Querier` returns `ErrUnsupported`).
struct NoQueries;

impl Queryable for NoQueries {
    fn querier(&self, _: Timestamp, _: Timestamp) -> storage::Result<Box<dyn Querier>> {
        Err(storage::Error::backend(std::io::Error::other(UNSUPPORTED)))
    }
}

/// Runs the agent until a signal, `/-/quit` or a failing component stops it.
pub(crate) async fn run(settings: Settings, mut agent: AgentSettings) -> anyhow::Result<()> {
    crate::server::log_start("agent");
    log_features(&settings);

    // Throw an error for an invalid config before starting any component.
    let path = settings.config_file.clone();
    let loaded = config::Config::load_file(&path)
        .map_err(anyhow::Error::from)
        .and_then(|cfg| check_agent_config(&cfg).map(|()| cfg));
    let cfg = match loaded {
        Ok(cfg) => cfg,
        Err(err) => return Err(config_load_error(&path, &err)),
    };
    // As Prometheus: the out-of-order window of `storage.tsdb` applies to the agent too,
    // read once at start-up.
    if let Some(tsdb) = &cfg.storage.tsdb {
        agent.options.out_of_order_time_window = tsdb.out_of_order_time_window.as_millis();
    }

    let status = Arc::new(web::Status::new(SystemTime::now()));
    status.set_max_notification_subscribers(settings.max_notification_subscribers);
    let storage = Arc::new(ReadyAgent::default());
    let quit = CancellationToken::new();
    let (reload_tx, reload_rx) = mpsc::channel::<web::ReloadRequest>(1);
    let listeners = listen_all(&settings).await?;

    let discovery = discovery::Manager::new(discovery::Options::default());
    let sd_metrics = discovery.metrics().clone();
    // As in Prometheus's agent: the notifier's discovery manager runs (its
    // `prometheus_sd_*{name="notify"}` series are exposed) with nothing to discover.
    let notify_discovery = discovery::Manager::new(discovery::Options {
        name: "notify".into(),
        metrics: sd_metrics.clone(),
        ..discovery::Options::default()
    });
    let scrape_targets = discovery.subscribe();
    // Remote write tails <storage.agent.path>/wal; remote_read is refused in agent mode, so
    // the local storage it would merge with stays empty.
    let remote = Arc::new(RemoteStorage::new(
        &agent.path,
        Arc::new(ReadyStorage::default()),
        settings.remote_flush_deadline,
    ));
    // Scraping and the receivers append through remote storage, which counts what comes in.
    let appendable = remote.appendable_over(storage.clone());
    let scraper = scrape::Manager::new(appendable.clone(), settings.scrape.clone());
    remote.set_metadata_source(&scraper);
    // As in Prometheus's agent: the notifier runs (its metrics are exposed) with no
    // Alertmanager, since agent configurations have no alerting section.
    let notifier = notifier::Manager::new(settings.notifier.clone());

    let handler = web::Handler::new(web::Options {
        metrics_hook: Some({
            let (remote, storage, scraper) = (remote.clone(), storage.clone(), scraper.clone());
            let notifier = notifier.clone();
            Arc::new(move |out: &mut String| {
                sd_metrics.write_text(out);
                scraper.write_metrics(out);
                remote.write_metrics(out);
                notifier.write_metrics(out);
                storage.write_metrics(out);
                httpclient::write_metrics(out);
            })
        }),
        remote_write_receiver: settings
            .enable_remote_write_receiver
            .then(|| appendable.clone()),
        remote_write_messages: settings.remote_write_messages.clone(),
        otlp_write_receiver: settings.enable_otlp_receiver.then(|| appendable.clone()),
        agent: true,
        ..web_options(
            &settings,
            Arc::new(NoQueries),
            Arc::new(promql::Engine::new(settings.engine.clone())),
            &status,
            &scraper,
            &quit,
            reload_tx,
        )
    });

    // As in Prometheus's agent: no rules, notifier or query engine to reconfigure. Their
    // reloaders are there all the same, doing nothing, as Prometheus's, so that the
    // configuration loading line lists the same timings.
    let noop = |name: &'static str| Reloader {
        name,
        reload: Box::new(|_| Ok(())),
    };
    let mut reloaders = vec![noop("db_storage")];
    reloaders.extend(scrape_reloaders(&remote, &scraper, &discovery));
    reloaders.insert(3, noop("query_engine"));
    reloaders.extend(["notify", "notify_sd", "rules", "tracing"].map(noop));
    let loader = ConfigLoader {
        path: settings.config_file.clone(),
        reloaders: Arc::new(reloaders),
        status: status.clone(),
        check: Some(check_agent_config),
    };

    let db_open = CancellationToken::new();
    let reload_ready = CancellationToken::new();
    let mut group = actors::Group::new();

    actors::termination_handler(&mut group, &status, &quit, &reload_ready)?;
    actors::discovery_manager(&mut group, "scrape discovery manager", &discovery);
    actors::discovery_manager(&mut group, "notify discovery manager", &notify_discovery);
    // Scrape manager: stops (writing staleness markers) before the WAL storage closes.
    actors::scrape_manager(&mut group, &scraper, scrape_targets, &reload_ready);
    // Reload handler: SIGHUP and /-/reload, after the initial configuration load.
    actors::reload_handler(
        &mut group,
        loader.clone(),
        reload_rx,
        &reload_ready,
        settings.auto_reload,
    )?;
    // Initial configuration loading, once the WAL storage is open.
    actors::initial_config_loading(&mut group, loader, &db_open, &reload_ready);
    {
        // WAL storage: opens (replaying) the agent WAL, truncates it periodically, and closes
        // it cleanly after remote write has stopped.
        let (agent, storage, db_open, remote) = (
            agent.clone(),
            storage.clone(),
            db_open.clone(),
            remote.clone(),
        );
        actors::storage(&mut group, "WAL storage", |stop| async move {
            tracing::info!("Starting WAL storage ...");
            check_segment_size(agent.options.wal_segment_size)?;
            let (dir, opts) = (agent.path.clone(), agent.options.clone());
            let db = tokio::task::spawn_blocking(move || tsdb::agent::Db::open(&dir, opts))
                .await
                .context("opening the agent storage")?
                .context("opening storage failed")?;
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
            // Prometheus's agent logs the file system type as the message itself.
            tracing::info!("{}", crate::hostinfo::fs_type(&agent.path));
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
            tracing::debug!("WAL storage closed");
            Ok(())
        });
    }
    actors::web_handler(&mut group, listeners, handler, settings.serve);
    actors::notifier(
        &mut group,
        &notifier,
        notify_discovery.subscribe(),
        &reload_ready,
    );

    match group.run().await {
        Err(err) if !is_requested_stop(&err) => Err(err),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use model::Labels;

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
    fn segment_sizes_are_checked_as_prometheus_does() {
        for bad in [1 << 10, 1 << 30, (10 << 20) - 32 * 1024] {
            let err = check_segment_size(bad).unwrap_err().to_string();
            assert_eq!(
                err,
                "flag 'storage.agent.wal-segment-size' must be set between 10MB and 256MB"
            );
        }
        let err = check_segment_size((10 << 20) + 1024)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "opening storage failed: creating WAL: invalid segment size"
        );
        check_segment_size(10 << 20).unwrap();
        check_segment_size(tsdb::agent::Options::default().wal_segment_size).unwrap();
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
