//! Alertmanager endpoints from target groups: relabeling with `__scheme__` and
//! `__alerts_path__`, and the `config-N` keys of the `alertmanagers` entries.

use model::{Labels, LabelsBuilder, TargetGroup, relabel};

/// The label holding the path alerts are POSTed to (Go's `pathLabel`).
pub const PATH_LABEL: &str = "__alerts_path__";
const SCHEME_LABEL: &str = "__scheme__";
const ADDRESS_LABEL: &str = "__address__";

/// The key of the `index`th `alertmanagers` entry, as Go's `AlertmanagerConfigs.ToMap`
/// names it (`config-0`, `config-1`, ...). Alertmanager discovery must send its target
/// groups under these keys.
pub fn set_key(index: usize) -> String {
    format!("config-{index}")
}

/// The service-discovery blocks of every `alertmanagers` entry under its key
/// ([`set_key`]), ready for `discovery::Manager::apply_sd_configs`.
pub fn sd_configs(cfg: &config::Config) -> Vec<(String, config::ServiceDiscoveryConfigs)> {
    cfg.alerting
        .alertmanagers
        .iter()
        .enumerate()
        .map(|(i, am)| (set_key(i), am.service_discovery_configs.clone()))
        .collect()
}

/// The alerts endpoint under `prefix` for API v2 (Go's `postPath`: `path.Join("/", prefix,
/// "/api/v2/alerts")`, so the path is cleaned).
pub(crate) fn post_path(prefix: &str) -> String {
    model::strutil::clean_rooted_path(&format!("/{prefix}/api/v2/alerts"))
}

/// The URL an Alertmanager's labels point at: `__scheme__://__address____alerts_path__`.
pub(crate) fn url_of(labels: &Labels) -> String {
    let scheme = labels.get(SCHEME_LABEL).unwrap_or("");
    let host = labels.get(ADDRESS_LABEL).unwrap_or("");
    let path = labels.get(PATH_LABEL).unwrap_or("");
    let mut url = String::with_capacity(scheme.len() + host.len() + path.len() + 4);
    if !scheme.is_empty() {
        url.push_str(scheme);
        url.push(':');
    }
    if !scheme.is_empty() || !host.is_empty() {
        url.push_str("//");
        url.push_str(host);
    }
    if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
        url.push('/');
    }
    url.push_str(path);
    url
}

/// The Alertmanagers of one target group (Go's `AlertmanagerFromGroup`): each target's
/// labels with the set's scheme and alerts path, then the group's labels the target lacks,
/// through `relabel_configs`. Returns the URLs kept and the URLs (of the labels before
/// relabeling) dropped, or an error naming an address that is not `host:port`.
pub(crate) fn alertmanagers_from_group(
    tg: &TargetGroup,
    cfg: &config::AlertmanagerConfig,
) -> Result<(Vec<String>, Vec<String>), String> {
    let path = post_path(&cfg.path_prefix);
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    let mut lb = LabelsBuilder::default();
    for target in &tg.targets {
        lb.reset(target);
        lb.set(SCHEME_LABEL, &cfg.scheme);
        lb.set(PATH_LABEL, &path);
        for (name, value) in tg.labels.iter() {
            if !target.has(name) {
                lb.set(name, value);
            }
        }
        let pre = lb.labels();
        if !relabel::process_builder(&mut lb, &cfg.relabel_configs) {
            dropped.push(url_of(&pre));
            continue;
        }
        let labels = lb.labels();
        config::scrape::check_target_address(labels.get(ADDRESS_LABEL).unwrap_or(""))?;
        active.push(url_of(&labels));
    }
    Ok((active, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn am_config(yaml: &str) -> config::AlertmanagerConfig {
        let cfg =
            config::Config::load_str(&format!("alerting:\n  alertmanagers:\n{yaml}"), "").unwrap();
        cfg.alerting.alertmanagers[0].clone()
    }

    fn group(targets: &[&[(&str, &str)]], labels: &[(&str, &str)]) -> TargetGroup {
        TargetGroup {
            targets: targets
                .iter()
                .map(|t| Labels::from_pairs(t.iter().copied()))
                .collect(),
            labels: Labels::from_pairs(labels.iter().copied()),
            source: "0".into(),
        }
    }

    #[test]
    fn post_paths() {
        assert_eq!(post_path(""), "/api/v2/alerts");
        assert_eq!(post_path("/"), "/api/v2/alerts");
        assert_eq!(post_path("prefix"), "/prefix/api/v2/alerts");
        assert_eq!(post_path("/prefix/"), "/prefix/api/v2/alerts");
        assert_eq!(post_path("a//b/../c"), "/a/c/api/v2/alerts");
        assert_eq!(post_path("/../x"), "/x/api/v2/alerts");
    }

    #[test]
    fn urls_from_group_with_relabeling() {
        let cfg = am_config(concat!(
            "  - scheme: https\n",
            "    path_prefix: /am\n",
            "    static_configs: [{targets: ['a:9093']}]\n",
            "    relabel_configs:\n",
            "    - {source_labels: [env], regex: dev, action: drop}\n",
            "    - {source_labels: [proto], regex: '(.+)', target_label: __scheme__}\n",
            "    - {source_labels: [sub], regex: '(.+)', target_label: __alerts_path__, replacement: '/$1/api/v2/alerts'}\n",
        ));
        let tg = group(
            &[
                &[("__address__", "a:9093")],
                &[("__address__", "b:9093"), ("env", "dev")],
                &[("__address__", "c:9093"), ("proto", "http"), ("env", "")],
                &[("__address__", "d:9093"), ("sub", "x")],
            ],
            &[("env", "prod")],
        );
        let (active, dropped) = alertmanagers_from_group(&tg, &cfg).unwrap();
        assert_eq!(
            active,
            [
                "https://a:9093/am/api/v2/alerts",
                "http://c:9093/am/api/v2/alerts",
                "https://d:9093/x/api/v2/alerts",
            ]
        );
        assert_eq!(dropped, ["https://b:9093/am/api/v2/alerts"]);
    }

    #[test]
    fn address_must_be_host_port() {
        let cfg = am_config(concat!(
            "  - static_configs: [{targets: ['a:9093']}]\n",
            "    relabel_configs: [{target_label: __address__, replacement: 'http://x/y'}]\n",
        ));
        let tg = group(&[&[("__address__", "a:9093")]], &[]);
        let err = alertmanagers_from_group(&tg, &cfg).unwrap_err();
        assert!(err.contains("is not a valid hostname"), "{err}");
    }

    #[test]
    fn keys_follow_config_order() {
        let cfg = config::Config::load_str(
            concat!(
                "alerting:\n  alertmanagers:\n",
                "  - static_configs: [{targets: ['a:1']}]\n",
                "  - static_configs: [{targets: ['b:1']}]\n",
            ),
            "",
        )
        .unwrap();
        let keys: Vec<String> = sd_configs(&cfg).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["config-0", "config-1"]);
    }
}
