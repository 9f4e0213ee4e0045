//! Configuration (re)loading: read the file, apply it to every component through named
//! reloaders, record the outcome (Prometheus's `reloadConfig`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::Context as _;

use crate::logging::GoDuration;
use crate::remote::RemoteStorage;

/// Applies a new configuration to one component.
pub(crate) type ApplyConfig = Box<dyn Fn(&Arc<config::Config>) -> anyhow::Result<()> + Send + Sync>;

/// A component that takes the new configuration, under the name used in logs.
pub(crate) struct Reloader {
    pub(crate) name: &'static str,
    pub(crate) reload: ApplyConfig,
}

/// The reloaders the server and the agent share, first in Prometheus's order: remote
/// storage, web handler, scrape manager, scrape discovery.
pub(crate) fn scrape_reloaders(
    remote: &Arc<RemoteStorage>,
    scraper: &scrape::Manager,
    discovery: &discovery::Manager,
) -> Vec<Reloader> {
    vec![
        Reloader {
            name: "remote_storage",
            reload: Box::new({
                let remote = remote.clone();
                move |cfg| remote.apply_config(cfg)
            }),
        },
        Reloader {
            name: "web_handler",
            // The handler reads the configuration from `status`, which `reload_config`
            // updates once every reloader succeeded.
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
    ]
}

/// A check a loaded configuration must pass before any reloader sees it (agent mode
/// refuses `rule_files`, `alerting` and `remote_read`).
pub(crate) type ConfigCheck = fn(&config::Config) -> anyhow::Result<()>;

/// Loads `path` and hands it to every reloader. A file that fails to load (or that `check`
/// refuses) or a reloader that fails leaves the old configuration in place (reloaders that
/// already succeeded keep the new one, as in Prometheus) and records the failure in
/// `status`, which `prometheus_config_last_reload_successful` shows.
pub(crate) fn reload_config(
    path: &Path,
    reloaders: &[Reloader],
    status: &web::Status,
    check: Option<ConfigCheck>,
) -> anyhow::Result<()> {
    let start = Instant::now();
    tracing::info!(filename = %path.display(), "Loading configuration file");
    let result = load_and_apply(path, reloaders, check);
    match result {
        Ok((cfg, timings)) => {
            status.record_reload(Some(cfg), SystemTime::now());
            tracing::info!(
                kv = timings,
                filename = %path.display(),
                totalDuration = %GoDuration(start.elapsed()),
                "Completed loading of configuration file"
            );
            Ok(())
        }
        Err(err) => {
            status.record_reload(None, SystemTime::now());
            Err(err)
        }
    }
}

fn load_and_apply(
    path: &Path,
    reloaders: &[Reloader],
    check: Option<ConfigCheck>,
) -> anyhow::Result<(Arc<config::Config>, String)> {
    let context = || {
        format!(
            "couldn't load configuration (--config.file={:?})",
            path.display().to_string()
        )
    };
    let failed_message = || {
        format!(
            "one or more errors occurred while applying the new configuration (--config.file={:?})",
            path.display().to_string()
        )
    };
    let cfg = match config::Config::load_file(path) {
        Ok(cfg) => Arc::new(cfg),
        Err(err @ config::Error::ScrapeConfigFile { .. }) => {
            // Prometheus reads these files when the scrape discovery and the scrape manager
            // apply the configuration (`GetScrapeConfigs`): both fail, and say so.
            for _ in 0..2 {
                tracing::error!(err = %err, "Failed to apply configuration");
            }
            anyhow::bail!(failed_message());
        }
        Err(err) => return Err(anyhow::Error::new(err).context(context())),
    };
    if let Some(check) = check {
        check(&cfg).with_context(context)?;
    }
    let mut failed = Vec::new();
    // `name=duration` per reloader, as Prometheus lists them once all are applied.
    let mut timings = String::new();
    for r in reloaders {
        let start = Instant::now();
        if let Err(err) = (r.reload)(&cfg) {
            tracing::error!(err = format!("{err:#}"), "Failed to apply configuration");
            failed.push(r.name);
        }
        if !timings.is_empty() {
            timings.push(' ');
        }
        timings.push_str(&format!("{}={}", r.name, GoDuration(start.elapsed())));
    }
    if !failed.is_empty() {
        tracing::debug!(
            reloaders = failed.join(", "),
            "failed to apply configuration"
        );
        anyhow::bail!(failed_message());
    }
    Ok((cfg, timings))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn a_broken_config_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prometheus.yml");
        std::fs::write(&path, "global:\n  scrape_interval: 15s\n").unwrap();
        let status = web::Status::new(SystemTime::now());
        let applied = Arc::new(AtomicUsize::new(0));
        let counter = applied.clone();
        let reloaders = [Reloader {
            name: "counter",
            reload: Box::new(move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }),
        }];
        reload_config(&path, &reloaders, &status, None).unwrap();
        assert!(status.last_reload_successful());
        let first = status.config().unwrap();

        std::fs::write(&path, "global:\n  scrape_interval: soon\n").unwrap();
        let err = reload_config(&path, &reloaders, &status, None).unwrap_err();
        assert!(
            format!("{err:#}").contains("couldn't load configuration"),
            "{err:#}"
        );
        assert!(!status.last_reload_successful());
        assert!(Arc::ptr_eq(&first, &status.config().unwrap()));
        assert_eq!(applied.load(Ordering::SeqCst), 1);
    }
}
