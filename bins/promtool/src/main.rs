//! `promtool`: Prometheus's command-line tool. `main` parses flags, dispatches to one module
//! per subcommand group (`check`, `test`, `tsdb`, `query`) and exits with its code; the modules
//! parse, call and print, with the logic in helper modules their unit tests reach.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod analyze;
mod backfill;
mod check;
mod data_dir;
mod gofmt;
mod http;
mod promlint;
mod query;
mod rules_import;
mod sd;
mod test_cmd;
mod tsdb_cmd;
mod value;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tooling for the Prometheus monitoring system.
#[derive(Parser)]
#[command(name = "promtool", about, disable_version_flag = true)]
struct Cli {
    /// Show application version.
    #[arg(long, global = true)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Check the resources for validity.
    Check {
        #[command(subcommand)]
        what: check::CheckCommand,
    },
    /// Run query against a Prometheus server.
    Query(query::QueryArgs),
    /// Unit testing.
    Test {
        #[command(subcommand)]
        what: test_cmd::TestCommand,
    },
    /// Run tsdb commands.
    Tsdb {
        #[command(subcommand)]
        what: tsdb_cmd::TsdbCommand,
    },
}

fn main() -> ExitCode {
    // Like kingpin's version flag: `--version` anywhere wins over a missing or partial command.
    if std::env::args()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--version")
    {
        println!("{}", version_text());
        return ExitCode::SUCCESS;
    }
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        let _ = <Cli as clap::CommandFactory>::command().print_help();
        return ExitCode::from(1);
    };
    let code = match command {
        Command::Check { what } => check::run(what),
        Command::Test { what } => test_cmd::run(what),
        Command::Tsdb { what } => tsdb_cmd::run(what),
        Command::Query(args) => query::run(args),
    };
    ExitCode::from(code)
}

/// `promtool --version`, laid out as Prometheus's `version.Print` with what `build.rs`
/// stamped (the Go version line holds the `rustc -V` line).
fn version_text() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!(
        "promtool, version {} (branch: {}, revision: {})\n  build user:       {}\n  build date:       {}\n  go version:       {}\n  platform:         {}/{arch}\n  tags:             {}",
        env!("CARGO_PKG_VERSION"),
        env!("PROMETHEUS_BRANCH"),
        env!("PROMETHEUS_REVISION"),
        env!("PROMETHEUS_BUILD_USER"),
        env!("PROMETHEUS_BUILD_DATE"),
        env!("PROMETHEUS_RUSTC_VERSION"),
        std::env::consts::OS,
        env!("PROMETHEUS_BUILD_TAGS"),
    )
}
