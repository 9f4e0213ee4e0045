//! `promtool`: Prometheus's command-line tool. `main` parses flags, dispatches to one module
//! per subcommand group (`check`, `test`, `tsdb`, `query`) and exits with its code; the modules
//! parse, call and print, with the logic in helper modules their unit tests reach.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod analyze;
mod backfill;
mod bench;
mod check;
mod data_dir;
mod debug;
mod gofmt;
mod http;
mod junit;
mod promlint;
mod promql_cmd;
mod push;
mod query;
mod query_analyze;
mod rules_import;
mod sd;
mod test_cmd;
mod tsdb_cmd;
mod value;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tooling for the Prometheus monitoring system.
#[derive(Parser)]
#[command(
    name = "promtool",
    about = "Tooling for the Prometheus monitoring system.",
    disable_version_flag = true
)]
struct Cli {
    /// Show application version.
    #[arg(long, global = true)]
    version: bool,
    /// Enable experimental commands.
    #[arg(long, global = true)]
    experimental: bool,
    /// Comma separated feature names to enable.
    #[arg(
        long = "enable-feature",
        global = true,
        value_delimiter = ',',
        help = "Comma separated feature names to enable. Valid options: promql-experimental-functions, promql-delayed-name-removal, promql-duration-expr, promql-extended-range-selectors. See https://prometheus.io/docs/prometheus/latest/feature_flags/ for more details"
    )]
    enable_feature: Vec<String>,
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
    /// Push to a Prometheus server.
    Push {
        /// HTTP client configuration file.
        #[arg(
            long = "http.config.file",
            value_name = "FILENAME",
            global = true,
            help = http::CONFIG_FILE_HELP
        )]
        http_config_file: Option<std::path::PathBuf>,
        #[command(subcommand)]
        what: PushCommand,
    },
    /// Run query against a Prometheus server.
    Query(query::QueryArgs),
    /// Fetch debug information.
    Debug {
        #[command(subcommand)]
        what: debug::DebugCommand,
    },
    /// PromQL formatting and editing. Requires the --experimental flag.
    Promql {
        #[command(subcommand)]
        what: promql_cmd::PromqlCommand,
    },
    /// Unit testing.
    Test(test_cmd::TestArgs),
    /// Run tsdb commands.
    Tsdb {
        #[command(subcommand)]
        what: tsdb_cmd::TsdbCommand,
    },
}

#[derive(Subcommand)]
enum PushCommand {
    /// Push metrics to a prometheus remote write (for testing purpose only).
    Metrics {
        /// Label to attach to metrics. Can be specified multiple times.
        #[arg(
            long = "label",
            value_name = "KEY=VALUE",
            default_value = "job=promtool"
        )]
        labels: Vec<String>,
        /// The time to wait for pushing metrics.
        #[arg(long, default_value = "30s")]
        timeout: String,
        /// Prometheus remote write header.
        #[arg(long = "header", value_name = "KEY=VALUE")]
        headers: Vec<String>,
        /// Protobuf message to use when writing (prometheus.WriteRequest or
        /// io.prometheus.write.v2.Request).
        #[arg(long = "protobuf_message", default_value = "prometheus.WriteRequest")]
        protobuf_message: String,
        /// Prometheus remote write url to push metrics.
        remote_write_url: String,
        /// The metric files to push, default is read from standard input.
        metric_files: Vec<String>,
    },
}

/// kingpin's `ExistingFile` check of an argument: the error promtool ends with (`path 'x'
/// does not exist`, or, naming the base name as Go's `FileInfo.Name`, `'x' is a directory`).
pub(crate) fn existing_file_error(path: &std::path::Path) -> Option<String> {
    match std::fs::metadata(path) {
        Err(_) => Some(format!("path '{}' does not exist", path.display())),
        Ok(m) if m.is_dir() => {
            let full = path.to_string_lossy();
            let trimmed = full.trim_end_matches('/');
            let name = match trimmed.rsplit_once('/') {
                _ if trimmed.is_empty() => "/",
                Some((_, base)) => base,
                None => trimmed,
            };
            Some(format!("'{name}' is a directory"))
        }
        Ok(_) => None,
    }
}

fn push_metrics(what: PushCommand) -> u8 {
    let PushCommand::Metrics {
        labels,
        timeout,
        headers,
        protobuf_message,
        remote_write_url,
        metric_files,
    } = what;
    let parsed = (|| {
        let labels = backfill::parse_label_flags(&labels).map_err(|e| format!("--label: {e}"))?;
        let headers =
            backfill::parse_label_flags(&headers).map_err(|e| format!("--header: {e}"))?;
        let timeout = query::parse_step(&timeout).map_err(|e| format!("--timeout: {e}"))?;
        for f in &metric_files {
            if let Some(e) = existing_file_error(std::path::Path::new(f)) {
                return Err(format!("{e}, try --help"));
            }
        }
        Ok((labels, headers, timeout))
    })();
    let (labels, headers, timeout) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("promtool: error: {e}");
            return 1;
        }
    };
    let opts = push::PushOptions {
        url: &remote_write_url,
        labels,
        headers,
        timeout: std::time::Duration::from_millis(u64::try_from(timeout).unwrap_or(0)),
        protobuf_message: &protobuf_message,
    };
    push::run(&opts, &metric_files)
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return ExitCode::from(usage_error(&e)),
    };
    let Some(command) = cli.command else {
        let _ = <Cli as clap::CommandFactory>::command().print_help();
        return ExitCode::from(1);
    };
    warn_unknown_features(&cli.enable_feature);
    let code = match command {
        Command::Check { what } => check::run(what, promql_features(&cli.enable_feature)),
        Command::Test(args) => test_cmd::run(args),
        Command::Tsdb { what } => tsdb_cmd::run(what),
        Command::Query(args) => query::run(args),
        Command::Push {
            what,
            http_config_file,
        } => match http::use_config_file(http_config_file.as_deref()) {
            Ok(()) => push_metrics(what),
            Err(code) => code,
        },
        Command::Debug { what } => debug::run(what),
        Command::Promql { what } => promql_cmd::run(cli.experimental, what),
    };
    ExitCode::from(code)
}

/// A command-line error in kingpin's words (`promtool: error: unknown long flag '--x', try
/// --help`, exit code 1) where kingpin has them; help, version and other errors as clap
/// prints them.
fn usage_error(e: &clap::Error) -> u8 {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let invalid = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    };
    let message = match (e.kind(), invalid) {
        (ErrorKind::UnknownArgument, Some(arg)) => {
            let flag = arg.split('=').next().unwrap_or(&arg).to_string();
            if flag.starts_with("--") {
                Some(format!("unknown long flag '{flag}'"))
            } else if flag.starts_with('-') {
                Some(format!("unknown short flag '{flag}'"))
            } else {
                Some(format!("unexpected {flag}"))
            }
        }
        (ErrorKind::MissingRequiredArgument, Some(arg)) if arg.starts_with('<') => {
            let name = arg
                .trim_end_matches("...")
                .trim_matches(|c| c == '<' || c == '>')
                .to_lowercase()
                .replace('_', "-");
            Some(format!("required argument '{name}' not provided"))
        }
        _ => None,
    };
    match message {
        Some(m) => {
            eprintln!("promtool: error: {m}, try --help");
            1
        }
        None => {
            let _ = e.print();
            u8::try_from(e.exit_code()).unwrap_or(1)
        }
    }
}

/// The PromQL syntax `--enable-feature` turns on, for the rule expressions `check rules`
/// and `check config` parse: none without it, as in Prometheus 3.
fn promql_features(features: &[String]) -> promql::parser::ParseOptions {
    let mut opts = promql::parser::ParseOptions::stable();
    for f in features.iter().flat_map(|f| f.split(',')) {
        match f {
            "promql-experimental-functions" => opts.experimental_functions = true,
            "promql-duration-expr" => opts.duration_expressions = true,
            "promql-extended-range-selectors" => opts.extended_range_selectors = true,
            "promql-binop-fill-modifiers" => opts.binop_fill_modifiers = true,
            _ => {}
        }
    }
    opts
}

/// `--enable-feature`: unknown feature names get Go's warning (which ends in no newline).
fn warn_unknown_features(features: &[String]) {
    const KNOWN: &[&str] = &[
        "promql-experimental-functions",
        "promql-delayed-name-removal",
        "promql-duration-expr",
        "promql-extended-range-selectors",
        "promql-binop-fill-modifiers",
        "",
    ];
    for f in features {
        if !KNOWN.contains(&f.as_str()) {
            print!("  WARNING: Unknown feature passed to --enable-feature: {f}");
        }
    }
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
