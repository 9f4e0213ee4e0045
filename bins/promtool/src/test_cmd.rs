//! `promtool test rules FILE...`: rule unit tests (`rules::unittest`), printed as Go's
//! promtool prints them (`Unit Testing:  FILE`, `  SUCCESS` or `  FAILED:` and the
//! failures), exit code 1 when any test failed.

use std::path::PathBuf;

use clap::Subcommand;

/// The `test` subcommands.
#[derive(Subcommand)]
pub(crate) enum TestCommand {
    /// Unit tests for rules.
    Rules {
        /// A list of one or more regular expressions selecting the test groups to run by
        /// name.
        #[arg(long)]
        run: Vec<String>,
        /// Ignore unknown fields in the rule files. This is useful when you want to extend
        /// rule files with custom metadata.
        #[arg(long)]
        ignore_unknown_fields: bool,
        /// The unit test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Runs a `test` subcommand and returns the exit code.
pub(crate) fn run(cmd: TestCommand) -> u8 {
    match cmd {
        TestCommand::Rules {
            run,
            ignore_unknown_fields,
            files,
        } => {
            let opts = rules::unittest::Options {
                run,
                ignore_unknown_fields,
            };
            let mut failed = false;
            for f in files {
                let path = f.to_string_lossy();
                println!("Unit Testing:  {path}");
                let errs = rules::unittest::run_file(&path, &opts, &mut |w| eprintln!("{w}"));
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
            }
            u8::from(failed)
        }
    }
}
