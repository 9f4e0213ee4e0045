//! `promtool check ...`: configuration checks, printed like Go's promtool (`Checking FILE`,
//! `  SUCCESS: ...` / `  FAILED: ...`) with its exit codes (0 valid, 1 invalid, 3 lint
//! problems with `--lint-fatal`). `check healthy|ready` ask a server's `/-/healthy` and
//! `/-/ready` (see [`crate::query::check_server`]).
//!
//! Rule files named by a config are checked for existence and structure only (a YAML map
//! with a `groups` list, named groups, rules with `record` or `alert` and an `expr`, and the
//! duplicate-rules lint). Parsing their PromQL and templates comes with the rules crate.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Subcommand;
use serde::Deserialize;

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
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Check if the Prometheus server is healthy.
    Healthy {
        /// The URL for the Prometheus server.
        #[arg(long, default_value = "http://localhost:9090")]
        url: String,
    },
    /// Check if the Prometheus server is ready.
    Ready {
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
}

impl Lint {
    fn parse(spec: &str, fatal: bool) -> Lint {
        let mut lint = Lint {
            duplicate_rules: false,
            too_long_scrape_interval: false,
            fatal,
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
                other => println!("WARNING: unknown lint option {other}"),
            }
        }
        lint
    }
}

/// Runs a `check` subcommand and returns the exit code.
pub(crate) fn run(cmd: CheckCommand) -> u8 {
    match cmd {
        CheckCommand::Config {
            syntax_only,
            lint,
            lint_fatal,
            agent,
            files,
        } => check_configs(&files, syntax_only, &Lint::parse(&lint, lint_fatal), agent),
        CheckCommand::Healthy { url } => crate::query::check_server(&url, "/-/healthy"),
        CheckCommand::Ready { url } => crate::query::check_server(&url, "/-/ready"),
    }
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
    let cfg = config::Config::load_file(file)?;
    if agent {
        cfg.check_agent_mode()?;
    }
    let report = config::check::check_config(&cfg, syntax_only).map_err(anyhow::Error::msg)?;
    Ok((report, cfg))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Option<Vec<RuleGroup>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RuleGroup {
    name: Option<String>,
    interval: Option<String>,
    query_offset: Option<String>,
    limit: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    rules: Option<Vec<Rule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Rule {
    record: Option<String>,
    alert: Option<String>,
    expr: Option<String>,
    #[serde(rename = "for")]
    for_: Option<String>,
    keep_firing_for: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
}

/// Structural check of one rule file: returns the number of rules, or the errors.
fn parse_rule_file(path: &str) -> Result<Vec<RuleKey>, Vec<String>> {
    let content = std::fs::read_to_string(path).map_err(|e| vec![format!("{path}: {e}")])?;
    let file: RuleFile =
        config::yaml::from_str(&content).map_err(|e| vec![format!("{path}: {e}")])?;
    let mut errs = Vec::new();
    let mut rules = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for group in file.groups.unwrap_or_default() {
        let name = group.name.unwrap_or_default();
        if name.is_empty() {
            errs.push(format!("{path}: Groupname must not be empty"));
        } else if names.contains(&name) {
            errs.push(format!(
                "{path}: groupname: {name:?} is repeated in the same file"
            ));
        }
        names.push(name.clone());
        for (i, rule) in group.rules.unwrap_or_default().into_iter().enumerate() {
            let which = format!("{path}: group {name:?}, rule {}", i + 1);
            match (&rule.record, &rule.alert) {
                (Some(_), Some(_)) => errs.push(format!(
                    "{which}: only one of 'record' and 'alert' must be set"
                )),
                (None, None) => {
                    errs.push(format!("{which}: one of 'record' or 'alert' must be set"))
                }
                _ => {}
            }
            if rule.expr.as_deref().unwrap_or("").is_empty() {
                errs.push(format!("{which}: field 'expr' must be set in rule"));
            }
            let metric = rule.alert.or(rule.record).unwrap_or_default();
            rules.push((metric, rule.labels.unwrap_or_default()));
        }
    }
    if errs.is_empty() {
        Ok(rules)
    } else {
        Err(errs)
    }
}

fn check_rule_file(path: &str, lint: &Lint, outcome: &mut Outcome) {
    println!("Checking {path}");
    match parse_rule_file(path) {
        Err(errs) => {
            eprintln!("  FAILED:");
            for e in errs {
                eprintln!("{e}");
            }
            outcome.error();
        }
        Ok(rules) => {
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
        }
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
