//! `promtool check ...`: configuration checks, printed like Go's promtool (`Checking FILE`,
//! `  SUCCESS: ...` / `  FAILED: ...`) with its exit codes (0 valid, 1 invalid, 3 lint
//! problems with `--lint-fatal`). `check healthy|ready` ask a server's `/-/healthy` and
//! `/-/ready` (see [`crate::query::check_server`]); `check web-config` validates
//! `--web.config.file` files with the server's own loader (`web::check_web_config`).
//!
//! Rule files (`check rules`, and those a config names) are loaded with
//! `rules::rulefmt` (Go's validations and error texts), then linted for duplicate rules.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::PathBuf;

use clap::Subcommand;
use rules::rulefmt::{self, ParseOptions, RuleGroups};

const SUCCESS: u8 = 0;
const FAILURE: u8 = 1;
const LINT_ERROR: u8 = 3;

/// Prometheus's default `--query.lookback-delta`, the bound of the scrape-interval lint.
const LOOKBACK_DELTA_MS: i64 = 5 * 60 * 1000;

/// The `check` subcommands.
#[derive(Subcommand)]
pub(crate) enum CheckCommand {
    /// Check if the config files are valid or not.
    Config {
        /// Only check the config file syntax, ignoring file and content validation
        /// referenced in the config.
        #[arg(long)]
        syntax_only: bool,
        /// Linting checks to apply to the rules/scrape configs specified in the config.
        /// Available options are: all, duplicate-rules, too-long-scrape-interval, none.
        #[arg(long, default_value = "duplicate-rules")]
        lint: String,
        /// Make lint errors exit with exit code 3.
        #[arg(long)]
        lint_fatal: bool,
        /// Check config file for Prometheus in Agent mode.
        #[arg(long)]
        agent: bool,
        /// The config files to check.
        #[arg(required = true, value_name = "CONFIG_FILES")]
        files: Vec<PathBuf>,
    },
    /// Check if the rule files are valid or not.
    Rules {
        /// Linting checks to apply. Available options are: all, duplicate-rules, none. Use
        /// --lint=none to disable linting
        #[arg(long, default_value = "duplicate-rules")]
        lint: String,
        /// Make lint errors exit with exit code 3.
        #[arg(long)]
        lint_fatal: bool,
        /// Ignore unknown fields in the rule files. This is useful when you want to extend
        /// rule files with custom metadata.
        #[arg(long)]
        ignore_unknown_fields: bool,
        /// The rule files to check (standard input when none).
        files: Vec<PathBuf>,
    },
    /// Check if the web config files are valid or not.
    #[command(name = "web-config")]
    WebConfig {
        /// The web config files to check.
        #[arg(required = true, value_name = "WEB_CONFIG_FILES")]
        files: Vec<PathBuf>,
    },
    /// Perform service discovery for the given job name and report the results, including
    /// relabeling.
    #[command(name = "service-discovery")]
    ServiceDiscovery {
        /// The time to wait for discovery results.
        #[arg(long, default_value = "30s")]
        timeout: String,
        /// The prometheus config file.
        config_file: String,
        /// The job to run service discovery for.
        job: String,
    },
    #[rustfmt::skip]
    /// Pass Prometheus metrics over stdin to lint them for consistency and correctness, and optionally perform cardinality analysis.
    ///
    /// examples:
    ///
    /// $ cat metrics.prom | promtool check metrics
    ///
    /// $ curl -s http://localhost:9090/metrics | promtool check metrics --extended
    ///
    /// $ curl -s http://localhost:9100/metrics | promtool check metrics --extended --lint=none
    #[command(verbatim_doc_comment)]
    Metrics {
        /// Print extended information related to the cardinality of the metrics.
        #[arg(long)]
        extended: bool,
        /// Linting checks to apply for metrics. Available options are: all, none. Use
        /// --lint=none to disable metrics linting.
        #[arg(long, default_value = "all")]
        lint: String,
    },
    /// Check if the Prometheus server is healthy.
    Healthy {
        /// HTTP client configuration file.
        #[arg(
            long = "http.config.file",
            value_name = "FILENAME",
            help = crate::http::CONFIG_FILE_HELP
        )]
        http_config_file: Option<std::path::PathBuf>,
        /// The URL for the Prometheus server.
        #[arg(long, default_value = "http://localhost:9090")]
        url: String,
    },
    /// Check if the Prometheus server is ready.
    Ready {
        /// HTTP client configuration file.
        #[arg(
            long = "http.config.file",
            value_name = "FILENAME",
            help = crate::http::CONFIG_FILE_HELP
        )]
        http_config_file: Option<std::path::PathBuf>,
        /// The URL for the Prometheus server.
        #[arg(long, default_value = "http://localhost:9090")]
        url: String,
    },
}

/// Which lints are on (Go's `lintConfig`).
struct Lint {
    duplicate_rules: bool,
    too_long_scrape_interval: bool,
    fatal: bool,
    /// Rule files may have fields Prometheus does not know.
    ignore_unknown_fields: bool,
    /// The experimental PromQL syntax `--enable-feature` turned on for rule expressions.
    promql: promql::parser::ParseOptions,
}

impl Lint {
    fn parse(spec: &str, fatal: bool) -> Lint {
        let mut lint = Lint {
            duplicate_rules: false,
            too_long_scrape_interval: false,
            fatal,
            ignore_unknown_fields: false,
            promql: promql::parser::ParseOptions::stable(),
        };
        for item in spec.split(',') {
            match item {
                "all" => {
                    lint.duplicate_rules = true;
                    lint.too_long_scrape_interval = true;
                }
                "duplicate-rules" => lint.duplicate_rules = true,
                "too-long-scrape-interval" => lint.too_long_scrape_interval = true,
                "none" => {}
                other => println!("WARNING: unknown lint option: {other:?}"),
            }
        }
        lint
    }
}

/// kingpin's `ExistingFiles` check, made while the arguments are parsed (before any lint
/// warning or output): the first missing path ends promtool with exit code 1.
fn first_missing(files: &[PathBuf]) -> Option<u8> {
    let error = files.iter().find_map(|f| crate::existing_file_error(f))?;
    eprintln!("promtool: error: {error}, try --help");
    Some(1)
}

/// Runs a `check` subcommand and returns the exit code.
pub(crate) fn run(cmd: CheckCommand, promql: promql::parser::ParseOptions) -> u8 {
    let files = match &cmd {
        CheckCommand::Config { files, .. }
        | CheckCommand::Rules { files, .. }
        | CheckCommand::WebConfig { files } => files.as_slice(),
        _ => &[],
    };
    if let Some(code) = first_missing(files) {
        return code;
    }
    match cmd {
        CheckCommand::Config {
            syntax_only,
            lint,
            lint_fatal,
            agent,
            files,
        } => {
            let mut lint = Lint::parse(&lint, lint_fatal);
            lint.promql = promql;
            check_configs(&files, syntax_only, &lint, agent)
        }
        CheckCommand::Rules {
            lint,
            lint_fatal,
            ignore_unknown_fields,
            files,
        } => {
            let mut lint = Lint::parse(&lint, lint_fatal);
            lint.ignore_unknown_fields = ignore_unknown_fields;
            lint.promql = promql;
            check_rule_files(&files, &lint)
        }
        CheckCommand::WebConfig { files } => check_web_configs(&files),
        CheckCommand::ServiceDiscovery {
            timeout,
            config_file,
            job,
        } => match crate::query::parse_step(&timeout) {
            Ok(ms) => crate::sd::run(
                &config_file,
                &job,
                std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
            ),
            Err(e) => {
                eprintln!("promtool: error: --timeout: {e}");
                1
            }
        },
        CheckCommand::Metrics { extended, lint } => crate::promlint::run(extended, &lint),
        CheckCommand::Healthy {
            url,
            http_config_file,
        } => crate::query::check_server(&url, "/-/healthy", http_config_file.as_deref()),
        CheckCommand::Ready {
            url,
            http_config_file,
        } => crate::query::check_server(&url, "/-/ready", http_config_file.as_deref()),
    }
}

/// `check web-config`: each file validated as the server validates `--web.config.file`
/// (`FILE SUCCESS` or `FILE FAILED: error` on standard error, as Go's promtool).
fn check_web_configs(files: &[PathBuf]) -> u8 {
    let mut failed = false;
    for f in files {
        match web::check_web_config(f) {
            Ok(()) => eprintln!("{} SUCCESS", f.display()),
            Err(err) => {
                // Go's message names no file (the line starts with it) and no field.
                let message = match &err {
                    web::Error::WebConfig { message, .. } => web_config_message(message),
                    other => other.to_string(),
                };
                eprintln!("{} FAILED: {message}", f.display());
                failed = true;
            }
        }
    }
    if failed { FAILURE } else { SUCCESS }
}

/// A web config problem as Go's exporter-toolkit words it: without the field path our
/// messages start with (`tls_server_config.min_version: `), and I/O errors in Go's words.
fn web_config_message(message: &str) -> String {
    let bare = match message.split_once(": ") {
        Some((field, rest))
            if !field.is_empty()
                && field != "yaml"
                && field
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.') =>
        {
            rest
        }
        _ => message,
    };
    // A file that cannot be read: `failed to read cert_file (PATH): open PATH: ...`.
    let enoent = "No such file or directory (os error 2)";
    if let Some((head, _)) = bare.split_once(&format!("): {enoent}"))
        && let Some((_, path)) = head.rsplit_once('(')
    {
        return format!("{head}): open {path}: no such file or directory");
    }
    bare.replace(enoent, "no such file or directory")
}

/// Outcome flags as Go tracks them: something failed, and whether a failure was more than
/// a lint finding.
#[derive(Default)]
struct Outcome {
    failed: bool,
    has_errors: bool,
}

impl Outcome {
    fn error(&mut self) {
        self.failed = true;
        self.has_errors = true;
    }

    fn code(&self, lint: &Lint) -> u8 {
        if self.failed && self.has_errors {
            FAILURE
        } else if self.failed && lint.fatal {
            LINT_ERROR
        } else {
            SUCCESS
        }
    }
}

fn check_configs(files: &[PathBuf], syntax_only: bool, lint: &Lint, agent: bool) -> u8 {
    let mut outcome = Outcome::default();
    for file in files {
        println!("Checking {}", file.display());
        let mut rule_files = Vec::new();
        match check_one_config(file, syntax_only, agent) {
            Err(e) => {
                eprintln!("  FAILED: {e:#}");
                outcome.error();
            }
            Ok((report, cfg)) => {
                for w in &report.warnings {
                    println!("  WARNING: {w}");
                }
                if !report.rule_files.is_empty() {
                    println!("  SUCCESS: {} rule files found", report.rule_files.len());
                }
                println!(
                    " SUCCESS: {} is valid prometheus config file syntax",
                    file.display()
                );
                if !syntax_only && lint.too_long_scrape_interval {
                    for sc in cfg.all_scrape_configs() {
                        if sc.scrape_interval.as_millis() >= LOOKBACK_DELTA_MS {
                            eprintln!(
                                "  FAILED: too long scrape interval found, data point will be marked as stale - job: {}, interval: {}",
                                sc.job_name, sc.scrape_interval
                            );
                            outcome.failed = true;
                            break;
                        }
                    }
                }
                rule_files = report.rule_files;
            }
        }
        println!();
        for rf in &rule_files {
            check_rule_file(rf, lint, &mut outcome);
        }
    }
    outcome.code(lint)
}

fn check_one_config(
    file: &PathBuf,
    syntax_only: bool,
    agent: bool,
) -> anyhow::Result<(config::check::CheckReport, config::Config)> {
    // Go reads `scrape_config_files` only for a full check.
    let loaded = if syntax_only {
        config::Config::load_file_only(file)
    } else {
        config::Config::load_file(file)
    };
    let cfg = loaded.map_err(|e| match e {
        // Go reads these files after loading (`GetScrapeConfigs`), and promtool says so.
        config::Error::ScrapeConfigFile { .. } => {
            anyhow::anyhow!("error loading scrape configs: {e}")
        }
        e => e.into(),
    })?;
    if agent {
        cfg.check_agent_mode()?;
    }
    let report = config::check::check_config(&cfg, syntax_only).map_err(anyhow::Error::msg)?;
    Ok((report, cfg))
}

/// `promtool check rules FILE...` (or standard input): Go's `CheckRules`.
fn check_rule_files(files: &[PathBuf], lint: &Lint) -> u8 {
    let mut outcome = Outcome::default();
    if files.is_empty() {
        println!("Checking standard input");
        let mut data = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut data) {
            eprintln!("  FAILED: {e}");
            outcome.error();
            return outcome.code(lint);
        }
        let parsed = rulefmt::parse(&data, &parse_options(lint));
        report_rules(parsed, lint, &mut outcome);
    } else {
        for f in files {
            let path = f.to_string_lossy();
            check_rule_file(&path, lint, &mut outcome);
        }
    }
    outcome.code(lint)
}

fn parse_options(lint: &Lint) -> ParseOptions {
    ParseOptions {
        ignore_unknown_fields: lint.ignore_unknown_fields,
        promql: lint.promql,
        ..ParseOptions::default()
    }
}

fn check_rule_file(path: &str, lint: &Lint, outcome: &mut Outcome) {
    println!("Checking {path}");
    report_rules(
        rulefmt::parse_file(path, &parse_options(lint)),
        lint,
        outcome,
    );
}

/// Prints the outcome of one rule file as Go's `checkRules` does: errors after
/// `  FAILED:` (no blank line), else the duplicate-rules lint or `  SUCCESS: N rules found`.
fn report_rules(parsed: Result<RuleGroups, Vec<rules::Error>>, lint: &Lint, outcome: &mut Outcome) {
    let groups = match parsed {
        Ok(groups) => groups,
        Err(errs) => {
            eprintln!("  FAILED:");
            for e in errs {
                eprintln!("{e}");
            }
            outcome.error();
            return;
        }
    };
    let rules: Vec<RuleKey> = groups
        .groups
        .iter()
        .flat_map(|g| {
            g.rules.iter().map(|r| {
                let mut labels = g.labels.clone();
                labels.extend(r.labels.clone());
                (r.name().to_string(), labels)
            })
        })
        .collect();
    let dups = if lint.duplicate_rules {
        duplicates(&rules)
    } else {
        Vec::new()
    };
    if dups.is_empty() {
        println!("  SUCCESS: {} rules found", rules.len());
    } else {
        let mut msg = format!("lint error {} duplicate rule(s) found.\n", dups.len());
        for (metric, labels) in &dups {
            msg.push_str(&format!("Metric: {metric}\nLabel(s):\n"));
            for (k, v) in labels {
                msg.push_str(&format!("\t{k}: {v}\n"));
            }
        }
        msg.push_str("Might cause inconsistency while recording expressions");
        eprintln!("  FAILED:");
        eprintln!("{msg}");
        outcome.failed = true;
    }
    println!();
}

type RuleKey = (String, BTreeMap<String, String>);

/// Go's `checkDuplicates`: rules with the same name and labels, each reported once.
fn duplicates(rules: &[RuleKey]) -> Vec<RuleKey> {
    let mut sorted: Vec<&RuleKey> = rules.iter().collect();
    sorted.sort();
    let mut out: Vec<RuleKey> = Vec::new();
    for pair in sorted.windows(2) {
        if pair[0] == pair[1] && out.last() != Some(pair[1]) {
            out.push(pair[1].clone());
        }
    }
    out
}
