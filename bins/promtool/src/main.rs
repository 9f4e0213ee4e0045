//! `promtool`: Prometheus's command-line tool. Only `check config` exists so far; `main`
//! parses flags, dispatches to one module per subcommand group and exits with its code.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod check;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check { what } => check::run(what),
    };
    ExitCode::from(code)
}
