//! `promtool check service-discovery CONFIG JOB`: Go's `sd.go`. Runs the job's service
//! discovery for `--timeout`, then prints every discovered target's labels before and after
//! relabeling (the scrape crate's [`scrape::target::populate_labels`]) as indented JSON,
//! deduplicated within each group source, as Prometheus does.

use std::collections::BTreeMap;
use std::time::Duration;

use model::{Labels, TargetGroup};

use crate::gofmt::json_string;

/// One target's result (Go's `sdCheckResult`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SdResult {
    discovered: Labels,
    labels: Labels,
    /// Go marshals its `error` interface as `{}`; only its presence shows.
    error: bool,
}

/// Runs the check and returns the exit code.
pub(crate) fn run(config_file: &str, job: &str, timeout: Duration) -> u8 {
    let cfg = match config::Config::load_file(config_file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Cannot load config {e}");
            return 1;
        }
    };
    let jobs: Vec<&config::ScrapeConfig> = cfg.all_scrape_configs().collect();
    let Some(scrape_config) = jobs.iter().find(|sc| sc.job_name == job) else {
        eprintln!("Job {job} not found. Select one of:");
        for sc in &jobs {
            eprintln!("\t{}", sc.job_name);
        }
        return 1;
    };
    let groups = match discover(scrape_config, timeout) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("Could not create new discoverer {e}");
            return 1;
        }
    };
    print!("{}", results_json(&check_results(&groups, scrape_config)));
    0
}

/// Runs the job's discovery for `timeout` and returns the groups it found last.
fn discover(sc: &config::ScrapeConfig, timeout: Duration) -> Result<Vec<TargetGroup>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the I/O runtime: {e}"))?;
    rt.block_on(async {
        let manager = discovery::Manager::new(discovery::Options {
            update_interval: Duration::from_millis(100),
            ..Default::default()
        });
        manager
            .apply_sd_configs(vec![(
                sc.job_name.clone(),
                sc.service_discovery_configs.clone(),
            )])
            .map_err(|e| e.to_string())?;
        // As Go's promtool: a block whose discoverer cannot be created fails the check.
        if let Some(first) = manager.failed_providers().into_iter().next() {
            return Err(first);
        }
        let runner = manager.clone();
        let task = tokio::spawn(async move { runner.run().await });
        tokio::time::sleep(timeout).await;
        let sets = manager.target_sets();
        manager.stop();
        let _ = task.await;
        Ok(sets.get(&sc.job_name).cloned().unwrap_or_default())
    })
}

/// Go's `getSDCheckResult` over every source: targets through relabeling, equal results
/// of one source kept once. Sources are taken in name order (Go's map order is random).
pub(crate) fn check_results(groups: &[TargetGroup], sc: &config::ScrapeConfig) -> Vec<SdResult> {
    let mut by_source: BTreeMap<&str, Vec<&TargetGroup>> = BTreeMap::new();
    for g in groups {
        by_source.entry(g.source.as_str()).or_default().push(g);
    }
    let mut out = Vec::new();
    for groups in by_source.values() {
        let mut results: Vec<SdResult> = Vec::new();
        for g in groups {
            for t in &g.targets {
                let r = match scrape::target::populate_labels(sc, t, &g.labels) {
                    Ok((labels, discovered)) => SdResult {
                        discovered,
                        labels: labels.unwrap_or_default(),
                        error: false,
                    },
                    Err(_) => SdResult {
                        discovered: scrape::target::populate_discovered_labels(sc, t, &g.labels),
                        labels: Labels::default(),
                        error: true,
                    },
                };
                if !results.contains(&r) {
                    results.push(r);
                }
            }
        }
        out.extend(results);
    }
    out
}

fn labels_json(out: &mut String, l: &Labels, indent: &str) {
    if l.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{\n");
    let n = l.len();
    for (i, (name, value)) in l.iter().enumerate() {
        out.push_str(indent);
        out.push_str("  ");
        json_string(out, name);
        out.push_str(": ");
        json_string(out, value);
        if i + 1 < n {
            out.push(',');
        }
        out.push('\n');
    }
    out.push_str(indent);
    out.push('}');
}

/// `json.MarshalIndent(results, "", "  ")`, without a final newline.
pub(crate) fn results_json(results: &[SdResult]) -> String {
    if results.is_empty() {
        return "[]".to_owned();
    }
    let mut out = String::from("[\n");
    for (i, r) in results.iter().enumerate() {
        out.push_str("  {\n    \"discoveredLabels\": ");
        labels_json(&mut out, &r.discovered, "    ");
        out.push_str(",\n    \"labels\": ");
        labels_json(&mut out, &r.labels, "    ");
        if r.error {
            out.push_str(",\n    \"error\": {}");
        }
        out.push_str("\n  }");
        if i + 1 < results.len() {
            out.push(',');
        }
        out.push('\n');
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relabeled_and_dropped_targets() {
        let cfg = config::Config::load_str(
            "scrape_configs:\n- job_name: node\n  relabel_configs:\n  - source_labels: [__address__]\n    regex: 'b:1'\n    action: drop\n",
            "",
        )
        .expect("config loads");
        let sc = cfg.all_scrape_configs().next().expect("a job");
        let group = TargetGroup {
            targets: vec![
                Labels::from_pairs([("__address__", "a:1")]),
                Labels::from_pairs([("__address__", "b:1")]),
                Labels::from_pairs([("__address__", "a:1")]),
            ],
            labels: Labels::from_pairs([("env", "<p>")]),
            source: "0".to_owned(),
        };
        let results = check_results(&[group], sc);
        assert_eq!(results.len(), 2, "the repeated target is shown once");
        assert_eq!(results[0].labels.get("instance"), Some("a:1"));
        assert!(results[1].labels.is_empty());
        let json = results_json(&results);
        assert!(
            json.contains("\n      \"env\": \"\\u003cp\\u003e\",\n"),
            "{json}"
        );
        assert!(json.contains("\n    \"labels\": {}\n  }\n]"), "{json}");
        assert_eq!(results_json(&[]), "[]");
    }
}
