//! `prometheus`: the Prometheus server. Parses flags, sets up logging and the runtime, runs
//! [`server::run`] and turns its outcome into the exit code (0 after SIGINT, SIGTERM or
//! `/-/quit`; 2 for an unusable configuration or flags; 1 for any other failure).
//!
//! What runs so far: the TSDB (`--storage.tsdb.path`), the HTTP API v1 and the lifecycle
//! endpoints, configuration loading and reloading (SIGHUP, `/-/reload`). Scraping, service
//! discovery, rules, alerting and remote storage are not built yet: the configuration's
//! `scrape_configs` are loaded and validated but nothing is scraped, so the TSDB only holds
//! what was already in the data directory.
#![allow(clippy::print_stderr)]

mod flags;
mod logging;
mod ready;
mod reload;
mod server;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let settings = match flags::Flags::parse().validate() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("Error parsing command line arguments: {err:#}");
            return ExitCode::from(2);
        }
    };
    logging::init(settings.log_level, settings.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(err = %err, "Failed to start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(server::run(settings)) {
        Ok(()) => {
            tracing::info!("See you next time!");
            ExitCode::SUCCESS
        }
        Err(err) if err.is::<server::ConfigError>() => ExitCode::from(2),
        Err(err) => {
            tracing::error!(err = format!("{err:#}"), "Fatal error");
            ExitCode::FAILURE
        }
    }
}
