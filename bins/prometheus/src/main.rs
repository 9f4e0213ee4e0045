//! `prometheus`: the Prometheus server. Parses flags, sets up logging and the runtime, runs
//! [`server::run`] and turns its outcome into the exit code (0 after SIGINT, SIGTERM or
//! `/-/quit`; 2 for an unusable configuration or flags; 3 for a flag of the other mode
//! (agent or server); 1 for any other failure).
//!
//! ```text
//! cargo run --release -p prometheus -- --config.file=documentation/examples/prometheus.yml --web.listen-address=127.0.0.1:9090
//! ```
//!
//! What runs: service discovery (`static_configs`, `file_sd_configs`, `http_sd_configs`,
//! `dns_sd_configs`) and scraping
//! into the TSDB (`--storage.tsdb.path`, which may be a data directory a real Prometheus
//! wrote), the HTTP API v1 (queries, series, labels, targets, metadata, status, TSDB admin),
//! `/federate`, the readiness and lifecycle endpoints, `/metrics`, configuration loading
//! and reloading (SIGHUP, `/-/reload`), remote write (`remote_write`: one queue fed by a
//! WAL watcher per entry), the remote write receiver
//! (`--web.enable-remote-write-receiver`), the OTLP metrics receiver
//! (`--web.enable-otlp-receiver`), remote read (`/api/v1/read`, and `remote_read`
//! endpoints merged into queries), and agent mode (`--agent`, [`agent::run`]: scraping into
//! a WAL-only storage that remote write drains), TLS, basic auth and security headers from
//! `--web.config.file` (Prometheus's web config format), and a small built-in web UI
//! (`/query` and the status pages), recording and alerting rules (`rule_files`, the
//! `rules` crate) with alerts sent to Alertmanagers (`alerting`, the `notifier` crate;
//! [`alerting`] connects them). Flags of features that do not exist yet (most
//! `--enable-feature` values, a few hidden flags) stop the start-up with an error naming
//! the flag. Memory: [`alloc`] tunes glibc's malloc (arenas, thresholds, a trimming thread)
//! so that freed query and ingest buffers go back to the kernel.
#![allow(clippy::print_stderr, clippy::print_stdout)]

mod actors;
mod agent;
mod alerting;
mod alloc;
mod flags;
mod hostinfo;
mod logging;
mod querylog;
mod ready;
mod reload;
mod remote;
mod remote_wal;
mod server;

use std::process::ExitCode;

fn main() -> ExitCode {
    let flags = flags::Flags::parse_args(std::env::args_os())
        .unwrap_or_else(|e| flags::exit_on_parse_error(&e));
    if flags.version {
        println!("{}", server::version_text());
        return ExitCode::SUCCESS;
    }
    let settings = match flags.validate() {
        Ok(settings) => settings,
        Err(err) if err.is::<flags::ModeError>() => {
            eprintln!("{err}");
            return ExitCode::from(3);
        }
        Err(err) => {
            eprintln!("Error parsing command line arguments: {err:#}");
            return ExitCode::from(2);
        }
    };
    logging::init(settings.log_level, settings.log_format);
    alloc::init();
    // As Prometheus: created timestamps come with protobuf, so it becomes the first default
    // scrape protocol of every configuration this process loads.
    if settings.scrape.enable_created_timestamp_zero_ingestion {
        config::set_proto_first_default(true);
    }
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
    let outcome = match settings.agent.clone() {
        Some(agent) => runtime.block_on(agent::run(settings, agent)),
        None => runtime.block_on(server::run(settings)),
    };
    match outcome {
        Ok(()) => {
            tracing::info!("See you next time!");
            ExitCode::SUCCESS
        }
        Err(err) if err.is::<server::ConfigError>() => ExitCode::from(2),
        Err(err) if err.is::<server::Logged>() => ExitCode::FAILURE,
        Err(err) => {
            tracing::error!(err = format!("{err:#}"), "Fatal error");
            ExitCode::FAILURE
        }
    }
}
