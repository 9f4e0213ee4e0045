//! `promtool check service-discovery`: the JSON of static and file discovery after
//! relabeling, entry by entry byte for byte the real promtool 2.42's (Go prints the groups
//! in map order), the unknown-job error, and a discoverer that cannot be created.

use std::path::Path;

use super::{REAL_PROMTOOL, ours, run, text};

/// The top-level entries of a `check service-discovery` JSON array, as printed (Go's
/// `MarshalIndent` with two spaces: entries are separated by `\n  },\n  {\n`, which
/// nothing deeper contains), sorted.
fn entries(out: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(out);
    if text == "[]" {
        return Vec::new();
    }
    let body = text
        .strip_prefix("[\n  {\n")
        .and_then(|t| t.strip_suffix("\n  }\n]"))
        .unwrap_or_else(|| panic!("not an indented JSON array of objects: {text}"));
    let mut entries: Vec<String> = body.split("\n  },\n  {\n").map(str::to_owned).collect();
    entries.sort();
    entries
}

#[test]
fn targets_after_relabeling_match_promtool_2_42() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sd_file = tmp.path().join("sd.json");
    std::fs::write(&sd_file, r#"[{"targets":["h1:1"],"labels":{"x":"y"}}]"#).expect("write");
    let config = tmp.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "scrape_configs:\n  - job_name: node\n    static_configs:\n\
             \x20     - targets: ['localhost:9100', 'a.example:80']\n\
             \x20       labels: {{env: \"prod<1>\"}}\n\
             \x20     - targets: ['localhost:9100']\n\
             \x20   relabel_configs:\n\
             \x20     - source_labels: [__address__]\n\
             \x20       regex: 'a\\.example:80'\n\
             \x20       action: drop\n\
             \x20 - job_name: files\n    file_sd_configs:\n      - files: ['{}']\n",
            sd_file.display()
        ),
    )
    .expect("write config");
    let config = config.to_str().expect("UTF-8");
    for job in ["node", "files"] {
        let out = run(
            ours(),
            &["check", "service-discovery", "--timeout=1s", config, job],
        );
        assert!(out.status.success(), "{}", text(&out));
        let json = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            json.starts_with("[\n  {\n    \"discoveredLabels\": {\n"),
            "{json}"
        );
        if Path::new(REAL_PROMTOOL).is_file() {
            let go = run(
                REAL_PROMTOOL,
                &["check", "service-discovery", "--timeout=1s", config, job],
            );
            // Go's promtool prints the target groups of a job's discoverers in the order of
            // a Go map keyed by group source (random from run to run); ours prints them in
            // source order. Same entries, each byte for byte.
            assert_eq!(entries(&go.stdout), entries(json.as_bytes()), "{job}");
        }
    }
    let out = run(
        ours(),
        &["check", "service-discovery", "--timeout=1s", config, "nope"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Job nope not found. Select one of:\n\tnode\n\tfiles\n"
    );
}

#[test]
fn a_discoverer_that_cannot_be_created_fails_the_check() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("prometheus.yml");
    std::fs::write(
        &config,
        "scrape_configs:\n  - job_name: c\n    consul_sd_configs: [{server: 'ftp://localhost:8500'}]\n",
    )
    .expect("write config");
    let config = config.to_str().expect("UTF-8");
    let out = run(
        ours(),
        &["check", "service-discovery", "--timeout=1s", config, "c"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("Could not create new discoverer consul in c: "),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    if Path::new(REAL_PROMTOOL).is_file() {
        let go = run(
            REAL_PROMTOOL,
            &["check", "service-discovery", "--timeout=1s", config, "c"],
        );
        assert_eq!(go.status.code(), Some(1), "{}", text(&go));
    }
}
