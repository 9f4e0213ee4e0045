//! `promtool`: Prometheus's command-line tool. `main` parses flags, dispatches to one module
//! per subcommand group (`check`, `test`, `tsdb`, `query`) and exits with its code; the modules
//! parse, call and print, with the logic in helper modules their unit tests reach.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod analyze;
mod check;
mod data_dir;
mod gofmt;
mod http;
mod query;
mod test_cmd;
mod tsdb_cmd;
mod value;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tooling for the Prometheus monitoring system.
#[derive(Parser)]
#[command(name = "promtool", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check { what } => check::run(what),
        Command::Test { what } => test_cmd::run(what),
        Command::Tsdb { what } => tsdb_cmd::run(what),
        Command::Query(args) => query::run(args),
    };
    ExitCode::from(code)
}
