//! The checks `promtool check config` makes beyond loading: referenced files exist and
//! file-SD files parse, and static targets are still `host:port` after relabeling.

use std::collections::BTreeMap;
use std::path::Path;

use model::{Labels, relabel};

use crate::discovery::ServiceDiscoveryConfig;
use crate::http_config::TlsConfig;
use crate::scrape::check_target_address;
use crate::{Config, ScrapeConfig, StaticConfig, yaml};

/// What [`check_config`] found besides errors.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Rule files matched by `rule_files` (explicit files must exist).
    pub rule_files: Vec<String>,
    /// Warnings, such as a file_sd pattern that matches no file.
    pub warnings: Vec<String>,
}

fn check_file_exists(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Ok(());
    }
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|e| format!("stat {path}: {}", go_io_error(&e)))
}

/// An I/O error in Go's words (`no such file or directory`), as promtool prints it.
fn go_io_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::NotADirectory => "not a directory".to_string(),
        _ => e.to_string(),
    }
}

fn check_tls(tls: &TlsConfig, syntax_only: bool) -> Result<(), String> {
    if !tls.cert_file.is_empty() && tls.key_file.is_empty() {
        return Err(format!(
            "client cert file {:?} specified without client key file",
            tls.cert_file
        ));
    }
    if !tls.key_file.is_empty() && tls.cert_file.is_empty() {
        return Err(format!(
            "client key file {:?} specified without client cert file",
            tls.key_file
        ));
    }
    if syntax_only {
        return Ok(());
    }
    check_file_exists(&tls.cert_file)
        .map_err(|e| format!("error checking client cert file {:?}: {e}", tls.cert_file))?;
    check_file_exists(&tls.key_file)
        .map_err(|e| format!("error checking client key file {:?}: {e}", tls.key_file))
}

fn glob_files(pattern: &str) -> Result<Vec<String>, String> {
    // Go's `filepath.Glob` says only this (`filepath.ErrBadPattern`).
    let paths = glob::glob(pattern).map_err(|_| "syntax error in pattern".to_string())?;
    let mut out: Vec<String> = paths
        .filter_map(|p| p.ok())
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    out.sort();
    Ok(out)
}

/// Reads a file-SD file (`.json`, `.yml` or `.yaml`) into its target groups.
pub fn read_sd_file(path: &str) -> Result<Vec<StaticConfig>, String> {
    let content = std::fs::read_to_string(path).map_err(|e| format!("open {path}: {e}"))?;
    let ext = Path::new(path)
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let groups: Vec<Option<StaticConfig>> = match ext.as_str() {
        "json" => json_groups(&content)?,
        "yml" | "yaml" => yaml::from_str(&content).map_err(|e| e.to_string())?,
        _ => return Err(format!("invalid file extension: {:?}", format!(".{ext}"))),
    };
    groups
        .into_iter()
        .enumerate()
        .map(|(i, g)| g.ok_or_else(|| format!("nil target group item found (index {i})")))
        .collect()
}

/// The Go type `targetgroup.Group` reads a JSON group into.
const JSON_GROUP_TYPE: &str = "struct { Targets []string \"json:\\\"targets\\\"\"; Labels model.LabelSet \"json:\\\"labels\\\"\" }";

/// Reads the target groups of a JSON SD file with the errors Go's `encoding/json` gives
/// (unknown fields refused, as file SD does).
fn json_groups(content: &str) -> Result<Vec<Option<StaticConfig>>, String> {
    use serde_json::Value;
    fn kind(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
    let unmarshal =
        |v: &Value, into: &str| format!("json: cannot unmarshal {} into {into}", kind(v));
    let value: Value = serde_json::from_str(content).map_err(|e| go_json_syntax(content, &e))?;
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => return Err(unmarshal(&other, "Go value of type []*targetgroup.Group")),
    };
    let mut groups = Vec::with_capacity(items.len());
    for item in items {
        let fields = match item {
            Value::Null => {
                groups.push(None);
                continue;
            }
            Value::Object(fields) => fields,
            other => {
                return Err(unmarshal(
                    &other,
                    &format!("Go value of type {JSON_GROUP_TYPE}"),
                ));
            }
        };
        let mut group = StaticConfig::default();
        for (key, v) in fields {
            match key.as_str() {
                "targets" => match v {
                    Value::Null => {}
                    Value::Array(targets) => {
                        for (i, t) in targets.into_iter().enumerate() {
                            match t {
                                Value::String(t) => group.targets.push(t),
                                Value::Null => group.targets.push(String::new()),
                                other => {
                                    return Err(unmarshal(
                                        &other,
                                        &format!(".targets.{i} of type string"),
                                    ));
                                }
                            }
                        }
                    }
                    other => {
                        return Err(unmarshal(
                            &other,
                            "Go struct field .targets of type []string",
                        ));
                    }
                },
                "labels" => match v {
                    Value::Null => {}
                    Value::Object(labels) => {
                        for (name, value) in labels {
                            match value {
                                Value::String(value) => {
                                    group.labels.insert(name, value);
                                }
                                Value::Null => {
                                    group.labels.insert(name, String::new());
                                }
                                other => {
                                    return Err(unmarshal(
                                        &other,
                                        &format!(
                                            "Go struct field .{name} of type model.LabelValue"
                                        ),
                                    ));
                                }
                            }
                        }
                    }
                    other => {
                        return Err(unmarshal(
                            &other,
                            "Go value of type map[model.LabelName]model.LabelValue",
                        ));
                    }
                },
                _ => return Err(format!("json: unknown field {key:?}")),
            }
        }
        crate::discovery::check_label_set(&group.labels)?;
        groups.push(Some(group));
    }
    Ok(groups)
}

/// A JSON syntax error as Go's `encoding/json` words it.
fn go_json_syntax(content: &str, e: &serde_json::Error) -> String {
    if e.is_eof() {
        return "unexpected end of JSON input".into();
    }
    let c = content
        .lines()
        .nth(e.line().saturating_sub(1))
        .and_then(|l| l.chars().nth(e.column().saturating_sub(1)));
    let quoted = match c {
        Some('\'') => "'\\''".to_string(),
        Some(c) => format!("'{c}'"),
        None => return e.to_string(),
    };
    let text = e.to_string();
    let context = [
        ("expected value", "looking for beginning of value"),
        ("trailing characters", "after top-level value"),
        ("expected `:`", "after object key"),
        (
            "key must be a string",
            "looking for beginning of object key string",
        ),
        ("expected `,` or `}`", "after object key:value pair"),
        ("expected `,` or `]`", "after array element"),
    ]
    .into_iter()
    .find(|(ours, _)| text.starts_with(ours));
    match context {
        Some((_, go)) => format!("invalid character {quoted} {go}"),
        None => text,
    }
}

/// Go's `scrape.TargetsFromGroup` reduced to what promtool checks: each target's labels
/// after relabeling must still hold a valid address.
/// `source` names each group in errors as Go's `targetgroup.Group.String` does: its index in
/// `static_configs`, nothing for a group read from an SD file.
fn check_groups_for_scrape(
    groups: &[StaticConfig],
    source: Option<usize>,
    sc: &ScrapeConfig,
) -> Result<(), String> {
    let gi = source.map(|i| i.to_string()).unwrap_or_default();
    for group in groups {
        for (i, target) in group.targets.iter().enumerate() {
            let mut pairs: BTreeMap<String, String> = group.labels.clone();
            pairs.insert("__address__".into(), target.clone());
            let defaults = [
                ("job", sc.job_name.clone()),
                ("__scheme__", sc.scheme.clone()),
                ("__metrics_path__", sc.metrics_path.clone()),
                ("__scrape_interval__", sc.scrape_interval.to_string()),
                ("__scrape_timeout__", sc.scrape_timeout.to_string()),
            ];
            for (k, v) in defaults {
                pairs.entry(k.to_string()).or_insert(v);
            }
            for (k, v) in &sc.params {
                if let Some(first) = v.first() {
                    pairs
                        .entry(format!("__param_{k}"))
                        .or_insert_with(|| first.clone());
                }
            }
            let labels = Labels::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            check_relabeled(&labels, &sc.relabel_configs)
                .map_err(|e| format!("instance {i} in group {gi}: {e}"))?;
        }
    }
    Ok(())
}

fn check_relabeled(labels: &Labels, cfgs: &[relabel::Config]) -> Result<(), String> {
    let Some(out) = relabel::process(labels, cfgs) else {
        return Ok(());
    };
    match out.get("__address__") {
        None | Some("") => Err("no address".into()),
        Some(addr) => check_target_address(addr),
    }
}

fn check_groups_for_alertmanager(
    groups: &[StaticConfig],
    cfgs: &[relabel::Config],
    scheme: &str,
    path_prefix: &str,
) -> Result<(), String> {
    for group in groups {
        for target in &group.targets {
            let mut pairs: BTreeMap<String, String> = group.labels.clone();
            pairs.insert("__address__".into(), target.clone());
            pairs
                .entry("__scheme__".into())
                .or_insert_with(|| scheme.to_string());
            pairs
                .entry("__alerts_path__".into())
                .or_insert_with(|| format!("{path_prefix}/api/v2/alerts"));
            let labels = Labels::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            check_relabeled(&labels, cfgs)?;
        }
    }
    Ok(())
}

/// promtool's `checkConfig` after loading: with `syntax_only` only the checks that need no
/// other file. Errors are promtool's messages.
pub fn check_config(cfg: &Config, syntax_only: bool) -> Result<CheckReport, String> {
    let mut report = CheckReport::default();
    if !syntax_only {
        for rf in &cfg.rule_files {
            let files = glob_files(rf)?;
            if !rf.contains('*') {
                let Some(first) = files.first() else {
                    return Err(format!("{rf:?} does not point to an existing file"));
                };
                check_file_exists(first)
                    .map_err(|e| format!("error checking rule file {first:?}: {e}"))?;
            }
            report.rule_files.extend(files);
        }
    }
    let jobs: Vec<&ScrapeConfig> = if syntax_only {
        cfg.scrape_configs.iter().collect()
    } else {
        cfg.all_scrape_configs().collect()
    };
    for sc in jobs {
        if !syntax_only && let Some(auth) = &sc.http_client_config.authorization {
            check_file_exists(&auth.credentials_file).map_err(|e| {
                format!(
                    "error checking authorization credentials or bearer token file {:?}: {e}",
                    auth.credentials_file
                )
            })?;
        }
        check_tls(&sc.http_client_config.tls_config, syntax_only)?;
        let mut statics = 0;
        for sd in &sc.service_discovery_configs {
            match sd {
                ServiceDiscoveryConfig::Kubernetes(k) => {
                    check_tls(&k.http_client_config.tls_config, syntax_only)?;
                }
                ServiceDiscoveryConfig::File(f) if !syntax_only => {
                    for pattern in &f.files {
                        let files = glob_files(pattern)?;
                        if files.is_empty() {
                            report.warnings.push(format!(
                                "file {pattern:?} for file_sd in scrape job {:?} does not exist",
                                sc.job_name
                            ));
                        }
                        for file in files {
                            let groups = read_sd_file(&file)
                                .map_err(|e| format!("checking SD file {pattern:?}: {e}"))?;
                            check_groups_for_scrape(&groups, None, sc)?;
                        }
                    }
                }
                ServiceDiscoveryConfig::Static(s) => {
                    check_groups_for_scrape(std::slice::from_ref(s), Some(statics), sc)?;
                    statics += 1;
                }
                _ => {}
            }
        }
    }
    for am in &cfg.alerting.alertmanagers {
        for sd in &am.service_discovery_configs {
            match sd {
                ServiceDiscoveryConfig::File(f) if !syntax_only => {
                    for pattern in &f.files {
                        let files = glob_files(pattern)?;
                        if files.is_empty() {
                            report.warnings.push(format!(
                                "file {pattern:?} for file_sd in alertmanager config does not exist"
                            ));
                        }
                        for file in files {
                            let groups = read_sd_file(&file)
                                .map_err(|e| format!("checking SD file {pattern:?}: {e}"))?;
                            check_groups_for_alertmanager(
                                &groups,
                                &am.relabel_configs,
                                &am.scheme,
                                &am.path_prefix,
                            )?;
                        }
                    }
                }
                ServiceDiscoveryConfig::Static(s) => {
                    check_groups_for_alertmanager(
                        std::slice::from_ref(s),
                        &am.relabel_configs,
                        &am.scheme,
                        &am.path_prefix,
                    )?;
                }
                _ => {}
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> Result<CheckReport, String> {
        let cfg = Config::load_str(yaml, "").map_err(|e| e.to_string())?;
        check_config(&cfg, false)
    }

    #[test]
    fn missing_explicit_rule_file_is_an_error_but_a_glob_is_not() {
        let err = check("rule_files: [/nonexistent/x.yml]").unwrap_err();
        assert!(err.contains("does not point to an existing file"), "{err}");
        assert!(
            check("rule_files: ['/nonexistent/*.yml']")
                .unwrap()
                .rule_files
                .is_empty()
        );
    }

    #[test]
    fn relabeling_that_keeps_a_url_address_is_an_error() {
        let bad = "scrape_configs:\n- job_name: p\n  relabel_configs:\n  - {source_labels: [__address__], target_label: __param_target}\n  static_configs: [{targets: ['http://bad']}]\n";
        let err = check(bad).unwrap_err();
        assert!(err.contains("is not a valid hostname"), "{err}");
        let good = "scrape_configs:\n- job_name: p\n  relabel_configs:\n  - {source_labels: [__address__], target_label: __param_target}\n  - {target_label: __address__, replacement: good}\n  static_configs: [{targets: ['http://bad']}]\n";
        assert!(check(good).is_ok());
    }

    #[test]
    fn missing_file_sd_files_are_warnings() {
        let r = check(
            "scrape_configs:\n- job_name: p\n  file_sd_configs: [{files: [/nonexistent/x.yml]}]\n",
        )
        .unwrap();
        assert_eq!(r.warnings.len(), 1, "{r:?}");
    }

    #[test]
    fn json_sd_files_fail_as_go_encoding_json_does() {
        let err = |text: &str| json_groups(text).unwrap_err();
        assert_eq!(err(""), "unexpected end of JSON input");
        assert_eq!(
            err("x"),
            "invalid character 'x' looking for beginning of value"
        );
        assert_eq!(err("[] x"), "invalid character 'x' after top-level value");
        assert_eq!(
            err(r#"[{"targets": ["a"] "labels": {}}]"#),
            "invalid character '\"' after object key:value pair"
        );
        assert_eq!(err(r#"[{"foo": 1}]"#), "json: unknown field \"foo\"");
        assert_eq!(
            err(r#"{"targets": []}"#),
            "json: cannot unmarshal object into Go value of type []*targetgroup.Group"
        );
        assert_eq!(
            err(r#"[{"targets": "a"}]"#),
            "json: cannot unmarshal string into Go struct field .targets of type []string"
        );
        assert_eq!(
            err(r#"[{"labels": {"a": 1}}]"#),
            "json: cannot unmarshal number into Go struct field .a of type model.LabelValue"
        );
        let groups = json_groups(r#"[null, {"targets": ["a:1"], "labels": {"x": null}}]"#).unwrap();
        assert_eq!(groups.len(), 2);
        assert!(groups[0].is_none());
        assert_eq!(groups[1].as_ref().map(|g| g.labels["x"].as_str()), Some(""));
    }
}
