//! Builds the components and registers one actor per component, in Prometheus's order
//! (cmd/prometheus/main.go). Registration order is shutdown order.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::actors::{self, ConfigLoader};
use crate::flags::Settings;
use crate::ready::ReadyStorage;
use crate::reload::{Reloader, scrape_reloaders};
use crate::remote::RemoteStorage;

/// How often the TSDB compacts the head and applies retention (Prometheus: every minute).
const COMPACTION_INTERVAL: Duration = Duration::from_secs(60);

/// The configuration file could not be loaded at start-up (exit code 2, as Prometheus).
#[derive(Debug)]
pub(crate) struct ConfigError;

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("error loading config")
    }
}

impl std::error::Error for ConfigError {}

/// Whether the group ended because it was asked to (a signal or `/-/quit`).
pub(crate) fn is_requested_stop(err: &anyhow::Error) -> bool {
    matches!(
        err.downcast_ref::<run_group::Error>(),
        Some(run_group::Error::Signal(_) | run_group::Error::Cancelled)
    )
}

/// Logs the `--enable-feature` values that do nothing here or are unknown (server and agent).
pub(crate) fn log_features(settings: &Settings) {
    for info in &settings.feature_infos {
        tracing::info!("{info}");
    }
    for feature in &settings.noop_features {
        tracing::info!(option = %feature, "Option has no effect in this server");
    }
    for feature in &settings.unknown_features {
        tracing::warn!(option = %feature, "Unknown option for --enable-feature");
    }
    for warning in &settings.feature_warnings {
        tracing::warn!("{warning}");
    }
}

/// Logs a configuration file that failed to load at start-up as Prometheus does and turns
/// it into the [`ConfigError`] that exits with code 2.
pub(crate) fn config_load_error<E: std::fmt::Display + 'static>(
    path: &std::path::Path,
    err: &E,
) -> anyhow::Error {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let any = err as &dyn std::any::Any;
    let config_err = any.downcast_ref::<config::Error>().or_else(|| {
        any.downcast_ref::<anyhow::Error>()
            .and_then(|e| e.downcast_ref::<config::Error>())
    });
    if let Some(config::Error::ScrapeConfigFile { .. }) = config_err {
        // Prometheus reads them in a second step (`GetScrapeConfigs`), and says so.
        tracing::error!(
            file = %abs.display(),
            err = %err,
            "Error loading dynamic scrape config files from config (--config.file={:?})",
            path.display().to_string()
        );
    } else {
        tracing::error!(
            file = %abs.display(),
            err = %err,
            "Error loading config (--config.file={})", path.display()
        );
    }
    anyhow::Error::new(ConfigError).context(err.to_string())
}

/// The start-up lines of Prometheus's `main`: "Starting Prometheus Server" (or "Agent", for
/// `mode` `agent`) with the version
/// (`(version=..., branch=..., revision=...)`), then "operational information": build
/// context, host, and the limits on file descriptors and virtual memory.
pub(crate) fn log_start(mode: &str) {
    let b = build_info();
    let tags = match env!("PROMETHEUS_BUILD_TAGS") {
        "" => "unknown",
        tags => tags,
    };
    let version = format!(
        "(version={}, branch={}, revision={})",
        b.version, b.branch, b.revision
    );
    if mode == "agent" {
        tracing::info!(mode, version, "Starting Prometheus Agent");
    } else {
        tracing::info!(mode, version, "Starting Prometheus Server");
    }
    tracing::info!(
        build_context = format!(
            "(rust={}, platform={}/{}, user={}, date={}, tags={})",
            b.go_version
                .split_whitespace()
                .nth(1)
                .unwrap_or(&b.go_version),
            std::env::consts::OS,
            go_arch(),
            b.build_user,
            b.build_date,
            tags
        ),
        host_details = crate::hostinfo::host_details(),
        fd_limits = crate::hostinfo::limits_text(crate::hostinfo::Limit::Files),
        vm_limits = crate::hostinfo::limits_text(crate::hostinfo::Limit::AddressSpace),
        "operational information"
    );
}

/// Go's name of this machine's architecture (`GOARCH`).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// A failure already logged as Prometheus logs it: the process exits with code 1 without
/// another line.
#[derive(Debug)]
pub(crate) struct Logged;

impl std::fmt::Display for Logged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("already logged")
    }
}

impl std::error::Error for Logged {}

/// Binds every `--web.listen-address`, so that a taken port fails the start ("Unable to
/// start web listener", exit code 1, as Prometheus).
pub(crate) async fn listen_all(
    settings: &Settings,
) -> anyhow::Result<Vec<tokio::net::TcpListener>> {
    let mut listeners = Vec::with_capacity(settings.listen_addresses.len());
    for address in &settings.listen_addresses {
        tracing::info!(component = "web", address = %address, "Start listening for connections");
        match web::listen(address).await {
            Ok(listener) => listeners.push(listener),
            Err(err) => {
                tracing::error!(
                    err = listen_error_text(address, &err),
                    "Unable to start web listener"
                );
                return Err(anyhow::Error::new(Logged).context(err.to_string()));
            }
        }
    }
    Ok(listeners)
}

/// A failed bind in Go's words (`listen tcp ADDR: bind: address already in use`).
fn listen_error_text(address: &str, err: &web::Error) -> String {
    let io = std::error::Error::source(err).and_then(|s| s.downcast_ref::<std::io::Error>());
    match io.map(std::io::Error::kind) {
        Some(std::io::ErrorKind::AddrInUse) => {
            format!("listen tcp {address}: bind: address already in use")
        }
        Some(std::io::ErrorKind::PermissionDenied) => {
            format!("listen tcp {address}: bind: permission denied")
        }
        Some(std::io::ErrorKind::AddrNotAvailable) => {
            format!("listen tcp {address}: bind: cannot assign requested address")
        }
        _ => err.to_string(),
    }
}

/// The web handler's options as the server and the agent both set them, with no TSDB, rule
/// or Alertmanager APIs, retention text, remote write receiver, remote read or metrics hook
/// (each mode adds its own).
pub(crate) fn web_options(
    settings: &Settings,
    queryable: Arc<dyn storage::Queryable>,
    engine: Arc<promql::Engine>,
    status: &Arc<web::Status>,
    scraper: &scrape::Manager,
    quit: &CancellationToken,
    reload: mpsc::Sender<web::ReloadRequest>,
) -> web::Options {
    web::Options {
        queryable,
        engine,
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
        reload,
        remote_write_receiver: None,
        remote_write_messages: settings.remote_write_messages.clone(),
        otlp_write_receiver: None,
        receiver_features: settings.receiver_features,
        remote_read_queryable: None,
        remote_read_limits: settings.remote_read_limits,
        metrics_hook: None,
        agent: false,
        rules: None,
        alertmanagers: None,
        exemplar_queryable: None,
    }
}

/// Runs the server until a signal, `/-/quit` or a failing component stops it.
pub(crate) async fn run(settings: Settings) -> anyhow::Result<()> {
    // Throw an error for an invalid config before starting any component (and before
    // saying so: Prometheus checks it first thing).
    let path = settings.config_file.clone();
    let initial_config = match config::Config::load_file(&path) {
        Ok(cfg) => cfg,
        Err(err) => return Err(config_load_error(&path, &err)),
    };
    if settings.retention_defaulted {
        tracing::info!(
            duration = %settings.retention_text,
            "No time or size retention was set so using the default time retention"
        );
    }
    log_start("server");
    log_features(&settings);

    let mut tsdb_options = settings.tsdb.clone();
    // As Prometheus: the configuration file's `storage.tsdb.out_of_order_time_window`.
    if let Some(tsdb) = &initial_config.storage.tsdb {
        tsdb_options.out_of_order_time_window = tsdb.out_of_order_time_window.as_millis();
    }
    if settings.enable_exemplar_storage {
        // As Prometheus: the exemplar storage starts with the configuration file's size.
        tsdb_options.max_exemplars = crate::ready::max_exemplars(&initial_config);
    }

    let status = Arc::new(web::Status::new(SystemTime::now()));
    status.set_max_notification_subscribers(settings.max_notification_subscribers);
    let storage = Arc::new(ReadyStorage::default());
    let engine = Arc::new(promql::Engine::new(settings.engine.clone()));
    let query_log = crate::querylog::reloader(&engine);
    let quit = CancellationToken::new();
    let (reload_tx, reload_rx) = mpsc::channel::<web::ReloadRequest>(1);
    let listeners = listen_all(&settings).await?;
    // As Prometheus (toolkit_web.Validate): a broken web config stops the start.
    if let Some(path) = &settings.serve.web_config_file
        && let Err(err) = web::check_web_config(path)
    {
        tracing::error!(err = %err, "Unable to validate web configuration file");
        return Err(anyhow::Error::new(err).context("validating --web.config.file"));
    }

    // Service discovery for scraping, and the scrape manager appending to the storage.
    // One set of `prometheus_sd_*` metrics for both discovery managers, as Prometheus.
    let sd_metrics = discovery::Metrics::new();
    let discovery = discovery::Manager::new(discovery::Options {
        metrics: sd_metrics.clone(),
        ..discovery::Options::default()
    });
    let scrape_targets = discovery.subscribe();
    // Remote write queues (fed from the TSDB's WAL) and remote read endpoints; queries go
    // through it (the local TSDB merged with remote reads), appends go to the TSDB through
    // it (`remote.appendable()`, counted as `prometheus_remote_storage_*_in`).
    let remote = Arc::new(RemoteStorage::new(
        &settings.tsdb_path,
        storage.clone(),
        settings.remote_flush_deadline,
    ));
    let scraper = scrape::Manager::new(remote.appendable(), settings.scrape.clone());
    remote.set_metadata_source(&scraper);
    // Alerting: the notifier with its own discovery of Alertmanagers, and the rule manager
    // querying through the same storage as the API and writing recording rules and
    // ALERTS series to the TSDB.
    let notify_discovery = discovery::Manager::new(discovery::Options {
        name: "notify".into(),
        metrics: sd_metrics.clone(),
        ..discovery::Options::default()
    });
    let notifier = notifier::Manager::new(settings.notifier.clone());
    let rule_manager = {
        let mut opts = rules::ManagerOptions::new(
            rules::engine_query_fn(engine.clone(), remote.clone()),
            crate::alerting::send_alerts(notifier.clone(), settings.external_url.clone()),
            remote.appendable(),
            remote.clone(),
        );
        opts.outage_tolerance = settings.rules.outage_tolerance;
        opts.for_grace_period = settings.rules.for_grace_period;
        opts.resend_delay = settings.rules.resend_delay;
        opts.concurrent_evals = settings.rules.concurrent_evals;
        rules::Manager::new(opts)
    };

    let handler = web::Handler::new(web::Options {
        tsdb_stats: Some(storage.clone()),
        tsdb_admin: Some(storage.clone()),
        storage_retention: settings.retention_text.clone(),
        remote_read_queryable: Some(storage.clone()),
        remote_read_limits: settings.remote_read_limits,
        metrics_hook: Some({
            let (remote, rule_manager, notifier, storage, scraper, sd_metrics) = (
                remote.clone(),
                rule_manager.clone(),
                notifier.clone(),
                storage.clone(),
                scraper.clone(),
                sd_metrics.clone(),
            );
            Arc::new(move |out: &mut String| {
                storage.write_tsdb_metrics(out);
                sd_metrics.write_text(out);
                scraper.write_metrics(out);
                remote.write_metrics(out);
                rule_manager.write_metrics(out);
                notifier.write_metrics(out);
                httpclient::write_metrics(out);
            })
        }),
        remote_write_receiver: settings
            .enable_remote_write_receiver
            .then(|| remote.appendable()),
        remote_write_messages: settings.remote_write_messages.clone(),
        otlp_write_receiver: settings.enable_otlp_receiver.then(|| remote.appendable()),
        rules: Some(Arc::new(crate::alerting::RulesApi(rule_manager.clone()))),
        alertmanagers: Some(Arc::new(crate::alerting::AlertmanagersApi(
            notifier.clone(),
        ))),
        exemplar_queryable: Some(storage.clone()),
        ..web_options(
            &settings,
            remote.clone(),
            engine,
            &status,
            &scraper,
            &quit,
            reload_tx,
        )
    });

    // Reloaders, applied in this order on every (re)load, as in Prometheus: the TSDB's
    // (exemplar storage size) first.
    let mut reloaders = vec![Reloader {
        name: "db_storage",
        reload: Box::new({
            let (storage, exemplars) = (storage.clone(), settings.enable_exemplar_storage);
            move |cfg| {
                if exemplars {
                    storage.apply_exemplar_config(cfg);
                }
                storage.apply_tsdb_config(cfg)
            }
        }),
    }];
    reloaders.extend(scrape_reloaders(&remote, &scraper, &discovery));
    // The query log after the web handler's, before scraping's, as in Prometheus.
    let at = reloaders
        .iter()
        .position(|r| r.name == "web_handler")
        .map_or(0, |i| i + 1);
    reloaders.insert(at, query_log);
    reloaders.extend([
        Reloader {
            name: "notify",
            reload: Box::new({
                let notifier = notifier.clone();
                move |cfg| notifier.apply_config(cfg).map_err(anyhow::Error::from)
            }),
        },
        Reloader {
            name: "notify_sd",
            reload: Box::new({
                let notify_discovery = notify_discovery.clone();
                move |cfg| {
                    notify_discovery
                        .apply_sd_configs(notifier::sd_configs(cfg))
                        .map_err(anyhow::Error::from)
                }
            }),
        },
        Reloader {
            name: "rules",
            reload: Box::new({
                let (rule_manager, external_url) =
                    (rule_manager.clone(), settings.external_url.clone());
                move |cfg| crate::alerting::apply_rules(&rule_manager, cfg, &external_url)
            }),
        },
        // Prometheus's tracing manager (OpenTelemetry export, not built here) comes last.
        Reloader {
            name: "tracing",
            reload: Box::new(|_| Ok(())),
        },
    ]);
    let loader = ConfigLoader {
        path: settings.config_file.clone(),
        reloaders: Arc::new(reloaders),
        status: status.clone(),
        check: None,
    };

    let db_open = CancellationToken::new();
    let reload_ready = CancellationToken::new();
    let mut group = actors::Group::new();

    // Termination handler: first, so that SIGINT/SIGTERM or /-/quit stop everything,
    // and so that readiness flips to "stopping" before anything else stops.
    actors::termination_handler(&mut group, &status, &quit, &reload_ready)?;
    // Scrape discovery manager: runs the SD providers and sends target groups to the
    // scrape manager.
    actors::discovery_manager(&mut group, "scrape discovery manager", &discovery);
    // Notify discovery manager: Alertmanager targets for the notifier.
    actors::discovery_manager(&mut group, "notify discovery manager", &notify_discovery);
    // Rule manager: evaluates once the configuration is loaded; stops before scraping
    // does, so that absent() alerts do not fire while targets go away on shutdown.
    actors::rule_manager(&mut group, &rule_manager, &reload_ready);
    // Scrape manager: starts once the configuration is loaded. Stopping it waits for
    // every scrape loop to exit and write its staleness markers, before the TSDB (later
    // in this list) closes.
    actors::scrape_manager(&mut group, &scraper, scrape_targets, &reload_ready);
    // Reload handler: SIGHUP and /-/reload, only after the initial configuration load.
    actors::reload_handler(
        &mut group,
        loader.clone(),
        reload_rx,
        &reload_ready,
        settings.auto_reload,
    )?;
    // Initial configuration loading: once the TSDB is open, apply the configuration,
    // then mark the server ready.
    actors::initial_config_loading(&mut group, loader, &db_open, &reload_ready);
    {
        // TSDB: opens the data directory (replaying the WAL), compacts in the background,
        // and closes cleanly when interrupted. The interrupt waits for the close, so the
        // web handler (next) stops only after the data is safe.
        let (dir, opts, storage, db_open, remote, replay_status) = (
            settings.tsdb_path.clone(),
            tsdb_options,
            storage.clone(),
            db_open.clone(),
            remote.clone(),
            status.clone(),
        );
        let (flags, retention) = (
            settings.flag_values.clone(),
            settings.retention_text.clone(),
        );
        actors::storage(&mut group, "TSDB", |stop| async move {
            tracing::info!("Starting TSDB ...");
            let open_dir = dir.clone();
            // `/api/v1/status/walreplay`: the segments to replay, then done.
            let mut replay = crate::ready::wal_replay_range(&dir);
            replay_status.set_wal_replay(replay);
            let db = tokio::task::spawn_blocking(move || tsdb::db::Db::open(&open_dir, opts))
                .await
                .context("opening the TSDB")?
                .map_err(|e| match e {
                    // Go's words for a directory another process holds (flock's EAGAIN).
                    tsdb::Error::Locked(_) => anyhow::anyhow!(
                        "opening storage failed: lock DB directory: resource temporarily unavailable"
                    ),
                    other => anyhow::Error::new(other).context("opening storage failed"),
                })?;
            replay.current = replay.max;
            replay_status.set_wal_replay(replay);
            crate::ready::log_replay(&db);
            let db = Arc::new(db);
            storage.set(db.clone());
            let compactor = tsdb::db::Db::spawn_compactor(&db, COMPACTION_INTERVAL);
            tracing::info!(
                fs_type = crate::hostinfo::fs_type(&dir),
                "filesystem information"
            );
            tracing::info!("TSDB started");
            let flag = |name: &str| flags.get(name).map_or("", String::as_str).to_owned();
            tracing::debug!(
                MinBlockDuration = flag("storage.tsdb.min-block-duration"),
                MaxBlockDuration = flag("storage.tsdb.max-block-duration"),
                MaxBytes = flag("storage.tsdb.retention.size"),
                NoLockfile = flag("storage.tsdb.no-lockfile"),
                RetentionDuration = retention,
                WALSegmentSize = flag("storage.tsdb.wal-segment-size"),
                WALCompressionType = flag("storage.tsdb.wal-compression-type"),
                "TSDB options"
            );
            db_open.cancel();
            stop.cancelled().await;

            // As Prometheus's fanout close: remote storage (WAL watchers, then queue
            // flushes) stops before the TSDB closes; scraping stopped earlier.
            remote.close().await;
            storage.clear();
            let result = tokio::task::spawn_blocking(move || {
                // Each failed compaction was logged when it failed ("compaction failed").
                drop(compactor.stop());
                db.close()
            })
            .await
            .context("closing the TSDB")?;
            result.context("closing the TSDB")?;
            tracing::debug!("TSDB closed");
            Ok(())
        });
    }
    // Web handler: stops accepting, then lets open requests finish. One server per
    // --web.listen-address, all sharing the handler.
    actors::web_handler(&mut group, listeners, handler, settings.serve);
    // Notifier: sends alerts once the configuration (and so the Alertmanagers of each
    // set) is loaded; stops last, after the rule manager, draining its queue.
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

/// `prometheus --version`, laid out as Prometheus's `version.Print`.
pub(crate) fn version_text() -> String {
    let b = build_info();
    let arch = go_arch();
    format!(
        "prometheus, version {} (branch: {}, revision: {})\n  build user:       {}\n  build date:       {}\n  go version:       {}\n  platform:         {}/{arch}\n  tags:             {}",
        b.version,
        b.branch,
        b.revision,
        b.build_user,
        b.build_date,
        b.go_version,
        std::env::consts::OS,
        env!("PROMETHEUS_BUILD_TAGS"),
    )
}

/// This build's information for `/api/v1/status/buildinfo` and `prometheus_build_info`, as
/// `build.rs` stamped it. `go_version` holds the `rustc -V` line: the toolchain that built us.
pub(crate) fn build_info() -> web::BuildInfo {
    web::BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        revision: env!("PROMETHEUS_REVISION").to_owned(),
        branch: env!("PROMETHEUS_BRANCH").to_owned(),
        build_user: env!("PROMETHEUS_BUILD_USER").to_owned(),
        build_date: env!("PROMETHEUS_BUILD_DATE").to_owned(),
        go_version: env!("PROMETHEUS_RUSTC_VERSION").to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_text_reads_like_prometheus() {
        let text = version_text();
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with(&format!(
                "prometheus, version {} (branch: ",
                env!("CARGO_PKG_VERSION")
            )),
            "{first}"
        );
        assert!(text.contains("\n  go version:       rustc "), "{text}");
        let date = build_info().build_date;
        // Prometheus's stamp layout, 20060102-15:04:05.
        assert!(
            date == "unknown"
                || (date.len() == 17 && date.as_bytes()[8] == b'-' && date.as_bytes()[11] == b':'),
            "{date}"
        );
    }
}
