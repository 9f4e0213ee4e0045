//! `promtool test [--junit=FILE] rules FILE...`: rule unit tests (`rules::unittest`),
//! printed as Prometheus 3.x's promtool prints them (`  SUCCESS` or `  FAILED:`
//! and the failures), exit code 1 when any test failed; `--junit` writes the results as
//! JUnit XML (`junit`), `--debug` and `--diff` as in Prometheus 3.

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `promtool test`: its own flags and its subcommand.
#[derive(Args)]
pub(crate) struct TestArgs {
    /// File path to store JUnit XML test results.
    #[arg(long, global = true, value_name = "JUNIT")]
    junit: Option<PathBuf>,
    #[command(subcommand)]
    what: TestCommand,
}

/// The `test` subcommands.
#[derive(Subcommand)]
pub(crate) enum TestCommand {
    /// Unit tests for rules.
    Rules {
        /// If set, will only run test groups whose names match the regular expression. Can
        /// be specified multiple times.
        #[arg(long)]
        run: Vec<String>,
        /// Enable unit test debugging.
        #[arg(long)]
        debug: bool,
        /// Print a colored diff of the expected and received alerts (experimental).
        #[arg(
            long,
            help = "[Experimental] Print colored differential output between expected & received output."
        )]
        diff: bool,
        /// Ignore unknown fields in the test files. This is useful when you want to extend
        /// rule files with custom metadata. Ensure that those fields are removed before
        /// loading them into the Prometheus server as it performs strict checks by default.
        #[arg(long)]
        ignore_unknown_fields: bool,
        /// The unit test file.
        #[arg(required = true, value_name = "TEST-RULE-FILE")]
        files: Vec<PathBuf>,
    },
}

/// Runs a `test` subcommand and returns the exit code.
pub(crate) fn run(args: TestArgs) -> u8 {
    // Go opens the report file while parsing flags: an unwritable path fails first.
    let mut junit_file = match &args.junit {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!(
                    "promtool: error: open {}: {}, try --help",
                    p.display(),
                    crate::gofmt::io_error(&e)
                );
                return 1;
            }
        },
        None => None,
    };
    let TestCommand::Rules {
        run,
        debug,
        diff,
        ignore_unknown_fields,
        files,
    } = args.what;
    for f in &files {
        if let Some(error) = crate::existing_file_error(f) {
            eprintln!("promtool: error: {error}, try --help");
            return 1;
        }
    }
    let opts = rules::unittest::Options {
        run,
        ignore_unknown_fields,
        diff,
        debug,
    };
    let mut junit = crate::junit::JUnit::default();
    let mut failed = false;
    for f in files {
        let path = f.to_string_lossy();
        let report =
            rules::unittest::run_file_report(&path, &opts, &mut |w| eprintln!("{w}"), &mut |d| {
                println!("{d}")
            });
        let errs = report.errors();
        if errs.is_empty() {
            println!("  SUCCESS");
        } else {
            eprintln!("  FAILED:");
            for e in errs {
                eprintln!("{e}");
                println!();
            }
            failed = true;
        }
        println!();
        junit.add(&path, &report);
    }
    if let Some(file) = junit_file.as_mut()
        && let Err(e) = file.write_all(junit.to_xml().as_bytes())
    {
        eprintln!("failed to write JUnit XML: {e}");
    }
    u8::from(failed)
}
