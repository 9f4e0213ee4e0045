//! `/api/v1/targets`: the scrape manager's active and dropped targets, shaped as Prometheus's
//! `TargetDiscovery`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::ApiError;
use crate::params::Form;
use crate::status::unix_millis;
use crate::timefmt::{GoTime, format_rfc3339};

/// How the server is reached from outside, to turn a target URL on localhost into one other
/// machines can follow (Go's `GlobalURLOptions`).
#[derive(Debug, Clone, Default)]
pub struct GlobalUrlOptions {
    /// `--web.listen-address` (its port tells whether a localhost target is this server).
    pub listen_address: String,
    /// Host (and port) of the external URL.
    pub host: String,
    /// Scheme of the external URL.
    pub scheme: String,
}

#[derive(Serialize)]
struct ActiveTarget {
    #[serde(rename = "discoveredLabels")]
    discovered_labels: model::Labels,
    labels: model::Labels,
    #[serde(rename = "scrapePool")]
    scrape_pool: String,
    #[serde(rename = "scrapeUrl")]
    scrape_url: String,
    #[serde(rename = "globalUrl")]
    global_url: String,
    #[serde(rename = "lastError")]
    last_error: String,
    #[serde(rename = "lastScrape")]
    last_scrape: String,
    #[serde(rename = "lastScrapeDuration")]
    last_scrape_duration: f64,
    health: &'static str,
    #[serde(rename = "scrapeInterval")]
    scrape_interval: String,
    #[serde(rename = "scrapeTimeout")]
    scrape_timeout: String,
}

#[derive(Serialize)]
struct DroppedTarget {
    #[serde(rename = "discoveredLabels")]
    discovered_labels: model::Labels,
    #[serde(rename = "scrapePool")]
    scrape_pool: String,
}

#[derive(Serialize)]
struct TargetDiscovery {
    #[serde(rename = "activeTargets")]
    active_targets: Vec<ActiveTarget>,
    #[serde(rename = "droppedTargets")]
    dropped_targets: Vec<DroppedTarget>,
    #[serde(rename = "droppedTargetCounts")]
    dropped_target_counts: BTreeMap<String, usize>,
}

/// Go's `getGlobalURL`: a target on localhost is this server (same port: use the external
/// scheme and host) or another local service (use the external host name with its port).
fn global_url(url: &str, opts: &GlobalUrlOptions) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest
        .find('/')
        .map_or((rest, ""), |i| (&rest[..i], &rest[i..]));
    let Some((host, port)) = authority.rsplit_once(':') else {
        return url.to_owned();
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if !["127.0.0.1", "localhost", "::1"].contains(&host) {
        return url.to_owned();
    }
    let own_port = opts.listen_address.rsplit_once(':').map_or("", |(_, p)| p);
    if port == own_port {
        format!("{}://{}{path}", opts.scheme, opts.host)
    } else {
        let external_host = opts
            .host
            .rsplit_once(':')
            .map_or(opts.host.as_str(), |(h, _)| h);
        format!("{scheme}://{external_host}:{port}{path}")
    }
}

/// Answers `/api/v1/targets` (`state=active|dropped|any`, `scrapePool=<job>`).
pub(super) fn targets(manager: &scrape::Manager, opts: &GlobalUrlOptions, form: &Form) -> String {
    let pool = form.value("scrapePool");
    let state = form.value("state").to_ascii_lowercase();
    let show_active = matches!(state.as_str(), "" | "any" | "active");
    let show_dropped = matches!(state.as_str(), "" | "any" | "dropped");
    let mut res = TargetDiscovery {
        active_targets: Vec::new(),
        dropped_targets: Vec::new(),
        dropped_target_counts: BTreeMap::new(),
    };
    if show_active {
        for (job, targets) in manager.targets_active() {
            if !pool.is_empty() && job != pool {
                continue;
            }
            for t in targets {
                let url = t.url();
                let label = |name: &str| t.all_labels().get(name).unwrap_or("").to_owned();
                res.active_targets.push(ActiveTarget {
                    discovered_labels: t.discovered_labels().clone(),
                    labels: t.labels(),
                    scrape_pool: job.clone(),
                    global_url: global_url(&url, opts),
                    scrape_url: url,
                    last_error: t.last_error().unwrap_or_default(),
                    last_scrape: t.last_scrape().map_or_else(
                        || "0001-01-01T00:00:00Z".to_owned(),
                        |at| format_rfc3339(GoTime::from_millis(unix_millis(at))),
                    ),
                    last_scrape_duration: t.last_scrape_duration().as_secs_f64(),
                    health: t.health().as_str(),
                    scrape_interval: label("__scrape_interval__"),
                    scrape_timeout: label("__scrape_timeout__"),
                });
            }
        }
    }
    // Prometheus leaves the counts `null` when dropped targets are not asked for; an empty
    // object keeps the documented schema (an object) without claiming any count.
    if show_dropped {
        for (job, dropped) in manager.targets_dropped() {
            // The counts cover every pool, whatever `scrapePool` asks for (as in Go).
            res.dropped_target_counts.insert(job.clone(), dropped.len());
            if !pool.is_empty() && job != pool {
                continue;
            }
            res.dropped_targets
                .extend(dropped.into_iter().map(|discovered_labels| DroppedTarget {
                    discovered_labels,
                    scrape_pool: job.clone(),
                }));
        }
    }
    crate::json::to_go_json(&res)
}

/// Prometheus's `metadata.Metadata`.
#[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
struct Metadata {
    #[serde(rename = "type")]
    metric_type: &'static str,
    help: String,
    unit: String,
}

/// Go's optional integer parameters of the metadata endpoints: -1 when absent.
fn number_param(form: &Form, name: &str) -> Result<i64, ApiError> {
    let s = form.value(name);
    if s.is_empty() {
        return Ok(-1);
    }
    s.parse()
        .map_err(|_| ApiError::bad_data(format!("{name} must be a number")))
}

/// Answers `/api/v1/metadata` (`metric`, `limit`, `limit_per_metric`): the distinct
/// metadata of every metric the active targets expose. Prometheus fills the result from Go
/// maps, so which metrics a `limit` keeps is unspecified there; here they come by name.
pub(super) fn metadata(manager: &scrape::Manager, form: &Form) -> Result<String, ApiError> {
    let limit = number_param(form, "limit")?;
    let per_metric = number_param(form, "limit_per_metric")?;
    let per_metric = usize::try_from(per_metric).ok().filter(|n| *n > 0);
    let metric = form.value("metric");
    let mut metrics: BTreeMap<String, BTreeSet<Metadata>> = BTreeMap::new();
    for (_, list) in manager.metadata() {
        for md in list {
            if !metric.is_empty() && md.metric_family != metric {
                continue;
            }
            let set = metrics.entry(md.metric_family.clone()).or_default();
            if per_metric.is_some_and(|n| set.len() >= n) {
                continue;
            }
            set.insert(Metadata {
                metric_type: md.metric_type.as_str(),
                help: md.help,
                unit: md.unit,
            });
        }
    }
    let limit = usize::try_from(limit).ok();
    let res: BTreeMap<String, Vec<Metadata>> = metrics
        .into_iter()
        .take(limit.unwrap_or(usize::MAX))
        .map(|(name, set)| (name, set.into_iter().collect()))
        .collect();
    Ok(crate::json::to_go_json(&res))
}

#[derive(Serialize)]
struct TargetMetadata {
    target: model::Labels,
    #[serde(skip_serializing_if = "String::is_empty")]
    metric: String,
    #[serde(rename = "type")]
    metric_type: &'static str,
    help: String,
    unit: String,
}

/// Answers `/api/v1/targets/metadata` (`match_target`, `metric`, `limit`).
pub(super) fn target_metadata(manager: &scrape::Manager, form: &Form) -> Result<String, ApiError> {
    let limit = usize::try_from(number_param(form, "limit")?).ok();
    let match_target = form.value("match_target");
    let matchers = if match_target.is_empty() {
        Vec::new()
    } else {
        promql::parser::parse_metric_selector(match_target)
            .map_err(|e| ApiError::invalid_param("match_target", e))?
    };
    let metric = form.value("metric");
    let mut res = Vec::new();
    for (target, list) in manager.metadata() {
        if limit.is_some_and(|n| res.len() >= n) {
            break;
        }
        let labels = target.labels();
        if !labels.matches(&matchers) {
            continue;
        }
        for md in list {
            if metric.is_empty() {
                res.push(TargetMetadata {
                    target: labels.clone(),
                    metric: md.metric_family,
                    metric_type: md.metric_type.as_str(),
                    help: md.help,
                    unit: md.unit,
                });
            } else if md.metric_family == metric {
                res.push(TargetMetadata {
                    target: labels.clone(),
                    metric: String::new(),
                    metric_type: md.metric_type.as_str(),
                    help: md.help,
                    unit: md.unit,
                });
            }
        }
    }
    Ok(crate::json::to_go_json(&res))
}

/// Go's `scrape.Manager.ScrapePoolConfig`.
fn pool_config(
    manager: &scrape::Manager,
    pool: &str,
) -> Result<std::sync::Arc<config::ScrapeConfig>, String> {
    manager
        .scrape_configs()
        .get(pool)
        .cloned()
        .ok_or_else(|| format!("scrape pool {} not found", crate::params::go_quote(pool)))
}

/// Answers `/api/v1/scrape_pools/config` (`scrapePool`): the pool's scrape config as YAML.
pub(super) fn scrape_pool_config(
    manager: &scrape::Manager,
    form: &Form,
) -> Result<String, ApiError> {
    let pool = form.value("scrapePool");
    if pool.is_empty() {
        return Err(ApiError::bad_data("no scrapePool parameter provided"));
    }
    let cfg = pool_config(manager, pool)
        .map_err(|e| ApiError::bad_data(format!("error retrieving scrape config: {e}")))?;
    let yaml = config::yaml::to_string(cfg.as_ref()).map_err(|e| {
        ApiError::new(
            crate::error::ErrorType::Internal,
            format!("error marshaling scrape config: {e}"),
        )
    })?;
    let mut out = String::from("{\"yaml\":");
    crate::json::write_str(&mut out, &yaml);
    out.push('}');
    Ok(out)
}

#[derive(Serialize)]
struct RelabelStep<'a> {
    rule: &'a model::relabel::Config,
    output: model::Labels,
    keep: bool,
}

/// Answers `/api/v1/targets/relabel_steps` (`scrapePool`, `labels` as a JSON object): the
/// labels after each of the pool's `relabel_configs` in turn, and whether the target is
/// still kept.
pub(super) fn relabel_steps(manager: &scrape::Manager, form: &Form) -> Result<String, ApiError> {
    let pool = form.value("scrapePool");
    if pool.is_empty() {
        return Err(ApiError::bad_data("no scrapePool parameter provided"));
    }
    let raw = form.value("labels");
    if raw.is_empty() {
        return Err(ApiError::bad_data("no labels parameter provided"));
    }
    let map: BTreeMap<String, String> = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_data(format!("error parsing labels: {e}")))?;
    let labels = model::Labels::from_pairs(map.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let cfg = pool_config(manager, pool)
        .map_err(|e| ApiError::bad_data(format!("error retrieving scrape config: {e}")))?;
    let rules = &cfg.relabel_configs;
    let mut steps = Vec::with_capacity(rules.len());
    for (i, rule) in rules.iter().enumerate() {
        let out = model::relabel::process(&labels, &rules[..=i]);
        steps.push(RelabelStep {
            rule,
            keep: out.is_some(),
            output: out.unwrap_or_else(model::Labels::empty),
        });
    }
    let mut out = String::from("{\"steps\":");
    out.push_str(&crate::json::to_go_json(&steps));
    out.push('}');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_urls_replace_localhost_as_go() {
        let opts = GlobalUrlOptions {
            listen_address: "0.0.0.0:9090".into(),
            host: "prom.example:9090".into(),
            scheme: "https".into(),
        };
        assert_eq!(
            global_url("http://localhost:9090/metrics", &opts),
            "https://prom.example:9090/metrics"
        );
        assert_eq!(
            global_url("http://127.0.0.1:9100/metrics", &opts),
            "http://prom.example:9100/metrics"
        );
        assert_eq!(
            global_url("http://node:9100/metrics", &opts),
            "http://node:9100/metrics"
        );
    }
}
