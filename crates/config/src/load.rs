//! The top-level [`Config`] and loading it as Prometheus does (`config.LoadFile`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::alerting::AlertingConfig;
use crate::config_struct;
use crate::discovery::valid_glob_path;
use crate::error::{Error, Result};
use crate::global::{GlobalConfig, RuntimeConfig};
use crate::http_config::join_dir;
use crate::remote::{RemoteReadConfig, RemoteWriteConfig};
use crate::scrape::{ScrapeConfig, ScrapeConfigs};
use crate::storage::{
    OTLP_TRANSLATION_STRATEGIES, OtlpConfig, StorageConfig, TracingConfig, storage_is_empty,
};
use crate::yaml::{self, Validate};

config_struct! {
    /// A whole `prometheus.yml`, with defaults filled in and every check Prometheus makes
    /// passed. Relative paths are already joined with the config file's directory.
    pub struct Config {
        /// The `global` block.
        pub global: GlobalConfig,
        /// The `runtime` block.
        pub runtime: RuntimeConfig,
        /// The `alerting` block.
        #[serde(skip_serializing_if = "AlertingConfig::is_empty")]
        pub alerting: AlertingConfig,
        /// Rule file patterns (a `*` is allowed in the last path element).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub rule_files: Vec<String>,
        /// Patterns of files holding more `scrape_configs`.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub scrape_config_files: Vec<String>,
        /// Scrape jobs of the main file (see [`Config::all_scrape_configs`] for the
        /// included ones too).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub scrape_configs: Vec<ScrapeConfig> [non_null = "empty or null scrape config section"],
        /// The `storage` block.
        #[serde(skip_serializing_if = "storage_is_empty")]
        pub storage: StorageConfig,
        /// The `tracing` block.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub tracing: Option<TracingConfig>,
        /// Remote write endpoints.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub remote_write: Vec<RemoteWriteConfig> [non_null = "empty or null remote write config section"],
        /// Remote read endpoints.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub remote_read: Vec<RemoteReadConfig> [non_null = "empty or null remote read config section"],
        /// The `otlp` block.
        pub otlp: OtlpConfig,
    }
    skip {
        /// Jobs read from `scrape_config_files`, each with the file it came from.
        pub included_scrape_configs: Vec<(PathBuf, ScrapeConfig)>,
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            global: GlobalConfig::defaults(),
            runtime: RuntimeConfig::default(),
            alerting: AlertingConfig::default(),
            rule_files: Vec::new(),
            scrape_config_files: Vec::new(),
            scrape_configs: Vec::new(),
            storage: StorageConfig::default(),
            tracing: None,
            remote_write: Vec::new(),
            remote_read: Vec::new(),
            otlp: OtlpConfig::default(),
            included_scrape_configs: Vec::new(),
        }
    }
}

impl Validate for Config {}

/// Go's `os.Expand` with Prometheus's mapping: `$$` is a literal `$`, unset variables expand
/// to nothing.
pub(crate) fn expand_env(s: &str, getenv: &dyn Fn(&str) -> Option<String>) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut start = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            out.push_str(&s[start..i]);
            let rest = &s[i + 1..];
            let (name, width) = shell_name(rest);
            if name.is_empty() && width > 0 {
                // Invalid syntax (`${}` or an unclosed `${`): Go eats the characters.
            } else if name.is_empty() || name == "$" {
                // A `$` followed by no name stays; `$$` is Prometheus's escape for `$`.
                out.push('$');
            } else {
                out.push_str(&getenv(name).unwrap_or_default());
            }
            i += 1 + width;
            start = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[start..]);
    out
}

fn is_shell_special(c: u8) -> bool {
    matches!(c, b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-') || c.is_ascii_digit()
}

fn shell_name(s: &str) -> (&str, usize) {
    let b = s.as_bytes();
    if b[0] == b'{' {
        if b.len() > 2 && is_shell_special(b[1]) && b[2] == b'}' {
            return (&s[1..2], 3);
        }
        for (i, &c) in b.iter().enumerate().skip(1) {
            if c == b'}' {
                if i == 1 {
                    return ("", 2);
                }
                return (&s[1..i], i + 1);
            }
        }
        return ("", 1);
    }
    if is_shell_special(b[0]) {
        return (&s[0..1], 1);
    }
    let n = b
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count();
    (&s[..n], n)
}

impl Config {
    /// Loads and checks a configuration file, as `prometheus --config.file` does, including
    /// the jobs of its `scrape_config_files`.
    pub fn load_file(path: impl AsRef<Path>) -> Result<Config> {
        let mut cfg = Config::load_file_only(path)?;
        cfg.load_scrape_config_files()?;
        Ok(cfg)
    }

    /// Loads and checks a configuration file as [`Config::load_file`] does, without reading
    /// the jobs of its `scrape_config_files` (Go's `LoadFile` without `GetScrapeConfigs`:
    /// what `promtool check config --syntax-only` checks).
    pub fn load_file_only(path: impl AsRef<Path>) -> Result<Config> {
        let path = path.as_ref();
        let content = std::fs::read_to_string(path).map_err(|error| Error::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let dir = path.parent().unwrap_or(Path::new(""));
        Config::load(&content, Some(path), dir)
    }

    /// A checksum of the configuration file at `path` and of every file its `rule_files`
    /// and `scrape_config_files` globs match (Go's `config.GenerateChecksum`, which the
    /// `auto-reload-config` feature compares to notice a change). Only those two lists are
    /// read from the file, so a file that fails its checks still has a checksum.
    ///
    /// # Errors
    /// The file cannot be read, is no YAML, or a glob is malformed.
    pub fn files_checksum(path: impl AsRef<Path>) -> Result<u64> {
        use std::hash::{Hash as _, Hasher as _};

        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct ExternalFiles {
            rule_files: Vec<String>,
            scrape_config_files: Vec<String>,
        }
        let path = path.as_ref();
        let read = |p: &Path| {
            std::fs::read(p).map_err(|error| Error::Read {
                path: p.to_path_buf(),
                error,
            })
        };
        let invalid = |message: String| Error::Invalid {
            path: Some(path.to_path_buf()),
            message,
        };
        let content = read(path)?;
        let mut hash = std::hash::DefaultHasher::new();
        content.hash(&mut hash);
        let text = String::from_utf8_lossy(&content);
        let files: Option<ExternalFiles> = serde_saphyr::from_str(&text)
            .map_err(|e| invalid(format!("error unmarshalling YAML: {e}")))?;
        let files = files.unwrap_or_default();
        let dir = path.parent().unwrap_or(Path::new(""));
        for pattern in files.rule_files.iter().chain(&files.scrape_config_files) {
            let mut pattern = pattern.clone();
            join_dir(dir, &mut pattern);
            let matches = glob::glob(&pattern)
                .map_err(|e| invalid(format!("invalid file pattern {pattern:?}: {e}")))?;
            let mut matches: Vec<PathBuf> = matches.filter_map(std::result::Result::ok).collect();
            matches.sort();
            for file in matches {
                file.hash(&mut hash);
                read(&file)?.hash(&mut hash);
            }
        }
        Ok(hash.finish())
    }

    /// Loads and checks a configuration given as text; relative paths are resolved against
    /// `base_dir` (pass `""` to leave them relative to the working directory).
    pub fn load_str(s: &str, base_dir: impl AsRef<Path>) -> Result<Config> {
        let mut cfg = Config::load(s, None, base_dir.as_ref())?;
        cfg.load_scrape_config_files()?;
        Ok(cfg)
    }

    fn load(s: &str, path: Option<&Path>, dir: &Path) -> Result<Config> {
        let invalid = |message: String| Error::Invalid {
            path: path.map(Path::to_path_buf),
            message,
        };
        let mut cfg: Config = yaml::from_str_typed(s).map_err(|error| Error::Yaml {
            path: path.map(Path::to_path_buf),
            error,
        })?;
        cfg.check_all().map_err(invalid)?;
        let getenv = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        for value in cfg.global.external_labels.values_mut() {
            *value = expand_env(value, &getenv);
        }
        let strategy = cfg.otlp.translation_strategy.as_str();
        if !OTLP_TRANSLATION_STRATEGIES.contains(&strategy) && !strategy.is_empty() {
            return Err(invalid(format!(
                "unsupported OTLP translation strategy {strategy:?}"
            )));
        }
        if matches!(strategy, "NoTranslation" | "NoUTF8EscapingWithSuffixes")
            && cfg.global.validation_scheme() == model::ValidationScheme::Legacy
        {
            return Err(invalid(format!(
                "OTLP translation strategy {strategy:?} is not allowed when UTF8 is disabled"
            )));
        }
        cfg.set_directory(dir);
        Ok(cfg)
    }

    /// The checks Go's `Config.UnmarshalYAML` makes across blocks.
    fn check_all(&mut self) -> std::result::Result<(), String> {
        // An empty `global:` block leaves zero values; fill the defaults again.
        self.global.validate()?;
        for rf in &self.rule_files {
            if !valid_glob_path(rf) {
                return Err(format!("invalid rule file path {rf:?}"));
            }
        }
        for sf in &self.scrape_config_files {
            if !valid_glob_path(sf) {
                return Err(format!("invalid scrape config file path {sf:?}"));
            }
        }
        let mut jobs: Vec<&str> = Vec::new();
        for sc in &mut self.scrape_configs {
            sc.apply_global(&self.global)?;
        }
        for sc in &self.scrape_configs {
            if jobs.contains(&sc.job_name.as_str()) {
                return Err(format!(
                    "found multiple scrape configs with job name {:?}",
                    sc.job_name
                ));
            }
            jobs.push(&sc.job_name);
        }
        let scheme = self.global.validation_scheme();
        self.alerting.check(scheme)?;
        let mut names: Vec<&str> = Vec::new();
        for rw in &mut self.remote_write {
            for rc in &mut rw.write_relabel_configs {
                rc.validate(scheme).map_err(|e| e.to_string())?;
                rc.name_validation_scheme = scheme;
            }
        }
        for rw in &self.remote_write {
            if !rw.name.is_empty() && names.contains(&rw.name.as_str()) {
                return Err(format!(
                    "found multiple remote write configs with job name {:?}",
                    rw.name
                ));
            }
            names.push(&rw.name);
        }
        let mut names: Vec<&str> = Vec::new();
        for rr in &self.remote_read {
            if !rr.name.is_empty() && names.contains(&rr.name.as_str()) {
                return Err(format!(
                    "found multiple remote read configs with job name {:?}",
                    rr.name
                ));
            }
            names.push(&rr.name);
        }
        Ok(())
    }

    /// Joins every relative file path with `dir` (Go's `SetDirectory`).
    pub fn set_directory(&mut self, dir: &Path) {
        if dir.as_os_str().is_empty() {
            return;
        }
        self.global.set_directory(dir);
        for am in &mut self.alerting.alertmanagers {
            am.set_directory(dir);
        }
        if let Some(t) = &mut self.tracing {
            t.set_directory(dir);
        }
        for f in self
            .rule_files
            .iter_mut()
            .chain(self.scrape_config_files.iter_mut())
        {
            join_dir(dir, f);
        }
        for sc in &mut self.scrape_configs {
            sc.set_directory(dir);
        }
        for rw in &mut self.remote_write {
            rw.set_directory(dir);
        }
        for rr in &mut self.remote_read {
            rr.set_directory(dir);
        }
    }

    /// Reads the jobs of `scrape_config_files` (Go's `GetScrapeConfigs`): each file must hold
    /// valid jobs whose names are unique across all files and the main config.
    fn load_scrape_config_files(&mut self) -> Result<()> {
        let mut seen: HashMap<String, String> = self
            .scrape_configs
            .iter()
            .map(|sc| (sc.job_name.clone(), "main config file".to_string()))
            .collect();
        let mut included = Vec::new();
        for pattern in &self.scrape_config_files {
            // Go's `filepath.Glob` error says only `syntax error in pattern`.
            let paths = glob::glob(pattern).map_err(|_| Error::ScrapeConfigFile {
                path: PathBuf::from(pattern),
                message: format!(
                    "error retrieving scrape config files for {pattern:?}: syntax error in pattern"
                ),
            })?;
            let mut files: Vec<PathBuf> = paths.filter_map(|p| p.ok()).collect();
            files.sort();
            for file in files {
                let abs = std::path::absolute(&file).unwrap_or_else(|_| file.clone());
                let file_err = |message: String| Error::ScrapeConfigFile {
                    message: format!("{:?}: {message}", abs.display().to_string()),
                    path: abs.clone(),
                };
                let content = std::fs::read_to_string(&file)
                    .map_err(|e| file_err(crate::error::go_io_error("open", &file, &e)))?;
                let parsed: ScrapeConfigs =
                    yaml::from_str_typed(&content).map_err(|e| file_err(e.message))?;
                for mut sc in parsed.scrape_configs {
                    sc.apply_global(&self.global).map_err(file_err)?;
                    if let Some(first) = seen.get(&sc.job_name) {
                        return Err(file_err(format!(
                            "found multiple scrape configs with job name {:?}, first found in {first}",
                            sc.job_name
                        )));
                    }
                    seen.insert(
                        sc.job_name.clone(),
                        format!("{:?}", abs.display().to_string()),
                    );
                    sc.set_directory(file.parent().unwrap_or(Path::new("")));
                    included.push((file.clone(), sc));
                }
            }
        }
        self.included_scrape_configs = included;
        Ok(())
    }

    /// Every scrape job: the main file's, then those of `scrape_config_files`.
    pub fn all_scrape_configs(&self) -> impl Iterator<Item = &ScrapeConfig> {
        self.scrape_configs
            .iter()
            .chain(self.included_scrape_configs.iter().map(|(_, sc)| sc))
    }

    /// Fails when the configuration uses blocks an agent (`--agent`) does not support.
    pub fn check_agent_mode(&self) -> Result<()> {
        if !self.alerting.is_empty() {
            return Err(Error::AgentMode { field: "alerting" });
        }
        if !self.rule_files.is_empty() {
            return Err(Error::AgentMode {
                field: "rule_files",
            });
        }
        if !self.remote_read.is_empty() {
            return Err(Error::AgentMode {
                field: "remote_read",
            });
        }
        Ok(())
    }

    /// The configuration as YAML, secrets shown as `<secret>` (for `/api/v1/status/config`).
    pub fn to_yaml(&self) -> String {
        // Every value here serializes to plain YAML (strings, numbers, maps, sequences).
        yaml::to_string(self).unwrap_or_else(|e| format!("<error creating config string: {e}>"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_checksum_follows_the_file_and_its_rule_and_scrape_config_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = dir.path().join("prometheus.yml");
        let rules = dir.path().join("rules");
        std::fs::create_dir(&rules).expect("mkdir");
        std::fs::write(rules.join("a.yml"), "groups: []\n").expect("write");
        std::fs::write(dir.path().join("jobs.yml"), "scrape_configs: []\n").expect("write");
        std::fs::write(
            &cfg,
            "rule_files: [rules/*.yml]\nscrape_config_files: [jobs.yml]\nunknown_key: 1\n",
        )
        .expect("write");
        let sum = |what: &str| Config::files_checksum(&cfg).expect(what);
        let first = sum("first");
        assert_eq!(sum("again"), first);
        std::fs::write(rules.join("a.yml"), "groups: [{name: x, rules: []}]\n").expect("write");
        let after_rule = sum("after a rule change");
        assert_ne!(after_rule, first);
        std::fs::write(rules.join("b.yml"), "groups: []\n").expect("write");
        let after_new = sum("after a new rule file");
        assert_ne!(after_new, after_rule);
        std::fs::write(
            dir.path().join("jobs.yml"),
            "scrape_configs: [{job_name: j}]\n",
        )
        .expect("write");
        assert_ne!(sum("after a scrape config file change"), after_new);
        // A file that fails Prometheus's checks still has a checksum; no YAML has none.
        std::fs::write(&cfg, "global: {scrape_interval: soon}\n").expect("write");
        assert!(Config::files_checksum(&cfg).is_ok());
        std::fs::write(&cfg, "rule_files: [unclosed\n").expect("write");
        let err = Config::files_checksum(&cfg).expect_err("not YAML");
        assert!(
            err.to_string().contains("error unmarshalling YAML"),
            "{err}"
        );
        let err = Config::files_checksum(dir.path().join("missing.yml")).expect_err("missing");
        assert!(err.to_string().contains("missing.yml"), "{err}");
    }

    #[test]
    fn env_expansion_follows_go_os_expand() {
        let env = |n: &str| (n == "TEST").then(|| "TestValue".to_string());
        assert_eq!(expand_env("foo${TEST}bar", &env), "fooTestValuebar");
        assert_eq!(expand_env("${TEST}", &env), "TestValue");
        assert_eq!(expand_env("foo$${TEST}", &env), "foo${TEST}");
        assert_eq!(expand_env("foo$$bar", &env), "foo$bar");
        assert_eq!(expand_env("$UNSET-x", &env), "-x");
        assert_eq!(expand_env("end$", &env), "end$");
    }

    #[test]
    fn external_labels_expand_the_environment_at_load() {
        // Cargo sets CARGO_PKG_NAME for the test process.
        let c = Config::load_str(
            "global:\n  external_labels:\n    a: 'x-${CARGO_PKG_NAME}'\n    b: '$CARGO_PKG_NAME'\n    c: 'cost $$5'\n    d: '${PROMETHEUS_RS_SURELY_UNSET_VAR}'\n",
            "",
        )
        .unwrap();
        let l = c.global.external_labels();
        assert_eq!(l.get("a"), Some("x-config"));
        assert_eq!(l.get("b"), Some("config"));
        assert_eq!(l.get("c"), Some("cost $5"));
        assert_eq!(l.get("d"), Some(""));
    }

    #[test]
    fn extra_scrape_metrics_inherit_or_stay_unset() {
        let jobs = "scrape_configs:\n- job_name: a\n- job_name: b\n  extra_scrape_metrics: false\n";
        // Unset everywhere: left to the scrape manager (the feature flag's default).
        let c = Config::load_str(jobs, "").unwrap();
        assert_eq!(c.global.extra_scrape_metrics, None);
        assert_eq!(c.scrape_configs[0].extra_scrape_metrics, None);
        assert_eq!(c.scrape_configs[1].extra_scrape_metrics, Some(false));
        let c = Config::load_str(
            &format!("global: {{extra_scrape_metrics: true}}\n{jobs}"),
            "",
        )
        .unwrap();
        assert_eq!(c.scrape_configs[0].extra_scrape_metrics, Some(true));
        assert_eq!(c.scrape_configs[1].extra_scrape_metrics, Some(false));
    }

    #[test]
    fn empty_config_has_the_defaults() {
        let c = Config::load_str("", "").unwrap();
        assert_eq!(c.global.scrape_interval, model::Duration::from_secs(60));
        assert_eq!(c.global.scrape_timeout, model::Duration::from_secs(10));
        assert_eq!(c.global.evaluation_interval, model::Duration::from_secs(60));
        let c2 = Config::load_str("global:\n", "").unwrap();
        assert_eq!(c2.global, c.global);
    }

    #[test]
    fn jobs_inherit_global_settings() {
        let c = Config::load_str(
            "global: {scrape_interval: 15s, sample_limit: 5}\nscrape_configs:\n- job_name: a\n- job_name: b\n  scrape_interval: 5s\n",
            "",
        )
        .unwrap();
        let a = &c.scrape_configs[0];
        assert_eq!(a.scrape_interval, model::Duration::from_secs(15));
        assert_eq!(a.scrape_timeout, model::Duration::from_secs(10));
        assert_eq!(a.sample_limit, 5);
        let b = &c.scrape_configs[1];
        assert_eq!(b.scrape_timeout, model::Duration::from_secs(5));
        assert_eq!(b.metrics_path, "/metrics");
        assert!(b.honor_timestamps);
    }

    #[test]
    fn cross_block_errors_name_the_job() {
        let err =
            Config::load_str("scrape_configs:\n- job_name: a\n- job_name: a\n", "").unwrap_err();
        assert!(
            err.to_string()
                .contains("found multiple scrape configs with job name \"a\""),
            "{err}"
        );
        let err = Config::load_str(
            "scrape_configs:\n- job_name: a\n  scrape_interval: 5s\n  scrape_timeout: 6s\n",
            "",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("scrape timeout greater than scrape interval"),
            "{err}"
        );
    }

    #[test]
    fn yaml_errors_carry_line_and_field() {
        let err = Config::load_str("global:\n  scrape_interval: 1m\n  bogus: 1\n", "").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("field bogus not found"), "{msg}");
        assert!(err.line().is_some(), "{msg}");
    }

    #[test]
    fn errors_name_go_types_inside_relabel_rules_label_sets_and_urls() {
        let err = |text: &str| Config::load_str(text, "").unwrap_err().to_string();
        let rule = "scrape_configs:\n- job_name: a\n  relabel_configs:\n  - ";
        assert_eq!(
            err(&format!("{rule}regex: a\n    regex: b\n")),
            "parsing YAML file <string>: yaml: unmarshal errors:\n  line 5: field regex already set in type relabel.plain"
        );
        assert_eq!(
            err(&format!("{rule}source_labels: 12\n")),
            "parsing YAML file <string>: yaml: unmarshal errors:\n  line 4: cannot unmarshal !!int `12` into model.LabelNames"
        );
        assert_eq!(
            err("scrape_configs:\n- job_name: a\n  static_configs:\n  - labels: [a]\n"),
            "parsing YAML file <string>: yaml: unmarshal errors:\n  line 4: cannot unmarshal !!seq into model.LabelSet"
        );
        assert_eq!(
            err("remote_write:\n- url: http://re{mote/push\n"),
            "parsing YAML file <string>: parse \"http://re{mote/push\": invalid character \"{\" in host name"
        );
        // A label without a value is an empty one, as go-yaml reads it.
        let c = Config::load_str("global:\n  external_labels:\n    a:\n", "").unwrap();
        assert_eq!(
            c.global.external_labels.get("a").map(String::as_str),
            Some("")
        );
    }

    #[test]
    fn relative_paths_join_the_base_dir() {
        let c = Config::load_str(
            "rule_files: [r.yml, /abs/x.yml]\nscrape_configs:\n- job_name: a\n  file_sd_configs: [{files: [t/*.json]}]\n",
            "/etc/prom",
        )
        .unwrap();
        assert_eq!(c.rule_files, ["/etc/prom/r.yml", "/abs/x.yml"]);
        let crate::discovery::ServiceDiscoveryConfig::File(f) =
            &c.scrape_configs[0].service_discovery_configs.0[0]
        else {
            panic!("expected file SD");
        };
        assert_eq!(f.files, ["/etc/prom/t/*.json"]);
    }

    #[test]
    fn printed_config_hides_secrets_and_reloads() {
        let c = Config::load_str(
            "scrape_configs:\n- job_name: a\n  basic_auth: {username: u, password: hunter2}\n  static_configs: [{targets: ['h:1']}]\n",
            "",
        )
        .unwrap();
        let out = c.to_yaml();
        assert!(!out.contains("hunter2"), "{out}");
        assert!(out.contains("<secret>"), "{out}");
        let back = Config::load_str(&out, "").unwrap();
        assert_eq!(back.scrape_configs[0].job_name, "a");
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::Config;

    const SAMPLE: &str = "global:\n  scrape_interval: 15s\n  external_labels: {a: b}\nrule_files: [r.yml]\nscrape_configs:\n  - job_name: x\n    basic_auth: {username: u, password: p}\n    relabel_configs:\n      - source_labels: [a]\n        regex: '(.*)'\n        target_label: b\n    static_configs:\n      - targets: ['h:1']\n    kubernetes_sd_configs:\n      - role: pod\nremote_write:\n  - url: http://h/w\n    queue_config: {max_shards: 2}\n";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,300}") {
            let _ = Config::load_str(&s, "/base");
        }

        #[test]
        fn yaml_ish_text_never_panics(s in "[a-z_:\\- \\n\\[\\]{}'\"&*<>!|#0-9.,$%@?~]{0,400}") {
            let _ = Config::load_str(&s, "");
        }

        #[test]
        fn mutated_valid_config_never_panics(
            at in any::<prop::sample::Index>(),
            cut in 0usize..40,
            insert in "[ -~\\n]{0,12}",
        ) {
            let mut chars: Vec<char> = SAMPLE.chars().collect();
            let i = at.index(chars.len());
            let end = (i + cut).min(chars.len());
            chars.splice(i..end, insert.chars());
            let s: String = chars.into_iter().collect();
            if let Ok(cfg) = Config::load_str(&s, "") {
                // Whatever loads prints, and what it prints loads again.
                let printed = cfg.to_yaml();
                prop_assert!(Config::load_str(&printed, "").is_ok(), "printed config does not reload:\n{printed}");
            }
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("scrape_configs: {}{}", "[".repeat(5000), "]".repeat(5000));
        assert!(Config::load_str(&deep, "").is_err());
    }
}

#[cfg(test)]
mod validation_scheme_tests {
    use super::Config;

    #[test]
    fn empty_validation_scheme_means_unset_and_legacy_applies_to_jobs() {
        let c = Config::load_str(
            "global: {metric_name_validation_scheme: legacy}\nscrape_configs:\n- job_name: a\n  metric_name_validation_scheme: ''\n",
            "",
        )
        .unwrap();
        let job = &c.scrape_configs[0];
        assert_eq!(
            job.metric_name_validation_scheme,
            Some(model::ValidationScheme::Legacy)
        );
        assert_eq!(job.metric_name_escaping_scheme, "underscores");
        let err =
            Config::load_str("global: {metric_name_validation_scheme: bogus}", "").unwrap_err();
        assert_eq!(
            err.to_string(),
            "parsing YAML file <string>: unknown global name validation method specified, must be either 'legacy' or 'utf8', got bogus"
        );
    }
}
