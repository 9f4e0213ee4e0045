//! File-based service discovery (`file_sd_configs`), as Prometheus's `discovery/file`.

use std::collections::HashMap;

use config::discovery::FileSdConfig;
use model::{Labels, LabelsBuilder, TargetGroup};

use crate::{Error, Result};

/// The label holding the path of the file a target group was read from.
pub const META_FILEPATH: &str = "__meta_filepath";

/// Reads one file_sd file (`.json`, `.yml` or `.yaml`) into target groups, as Go's
/// `file.Discovery.readFile`: each group's source is `path:index` and its labels gain
/// [`META_FILEPATH`].
///
/// # Errors
/// [`Error::ReadFile`] when the file cannot be read, is not valid JSON/YAML for a list of
/// target groups, or holds a null group.
pub fn read_file(path: &str) -> Result<Vec<TargetGroup>> {
    let groups = config::check::read_sd_file(path).map_err(|message| Error::ReadFile {
        path: path.to_string(),
        message,
    })?;
    Ok(groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut tg = g.to_target_group(i);
            let mut lb = LabelsBuilder::new(&tg.labels);
            lb.set(META_FILEPATH, path);
            tg.labels = lb.labels();
            tg.source = source(path, i);
            tg
        })
        .collect())
}

fn source(path: &str, i: usize) -> String {
    format!("{path}:{i}")
}

/// The state of one file_sd provider between refreshes: how many groups each file held last
/// time, so that groups of shrunk or vanished files can be cleared.
#[derive(Debug)]
pub(crate) struct Discovery {
    patterns: Vec<String>,
    last_refresh: HashMap<String, usize>,
}

impl Discovery {
    pub(crate) fn new(cfg: &FileSdConfig) -> Discovery {
        Discovery {
            patterns: cfg.files.clone(),
            last_refresh: HashMap::new(),
        }
    }

    fn list_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.patterns {
            match glob::glob(p) {
                Ok(paths) => {
                    for path in paths.flatten() {
                        out.push(path.to_string_lossy().into_owned());
                    }
                }
                Err(e) => tracing::error!(pattern = %p, err = %e, "Error expanding glob"),
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// What changes when a matched file is added, removed or written: each file's path,
    /// modification time and length. Compared between refreshes to notice changes quickly.
    pub(crate) fn signature(&self) -> Vec<(String, Option<std::time::SystemTime>, u64)> {
        self.list_files()
            .into_iter()
            .map(|p| {
                let md = std::fs::metadata(&p).ok();
                let mtime = md.as_ref().and_then(|m| m.modified().ok());
                let len = md.map_or(0, |m| m.len());
                (p, mtime, len)
            })
            .collect()
    }

    /// Re-reads every file and returns the updates to send: the groups of every readable
    /// file, and empty groups for the sources that disappeared. A file that fails to read
    /// keeps its last good groups (nothing is sent for it), as in Prometheus.
    pub(crate) fn refresh(&mut self) -> Vec<TargetGroup> {
        let mut updates = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for path in self.list_files() {
            match read_file(&path) {
                Ok(groups) => {
                    seen.insert(path, groups.len());
                    updates.extend(groups);
                }
                Err(e) => {
                    tracing::error!(path = %path, err = %e, "Error reading file");
                    if let Some(n) = self.last_refresh.get(&path) {
                        seen.insert(path, *n);
                    }
                }
            }
        }
        for (path, &n) in &self.last_refresh {
            let m = seen.get(path).copied().unwrap_or(0);
            for i in m..n {
                updates.push(TargetGroup {
                    targets: Vec::new(),
                    labels: Labels::empty(),
                    source: source(path, i),
                });
            }
        }
        self.last_refresh = seen;
        updates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Option<String> {
        let dir = test_support::testdata_dir("upstream/discovery/file/fixtures")?;
        Some(dir.join(name).to_string_lossy().into_owned())
    }

    fn addrs(tg: &TargetGroup) -> Vec<&str> {
        tg.targets
            .iter()
            .map(|t| t.get("__address__").unwrap())
            .collect()
    }

    #[test]
    fn upstream_valid_fixtures_parse_as_go_expects() {
        for name in ["valid.json", "valid.yml", "valid3.yml"] {
            let Some(path) = fixture(name) else { return };
            let groups = read_file(&path).unwrap();
            assert_eq!(groups.len(), 2, "{name}");
            assert_eq!(addrs(&groups[0]), ["localhost:9090", "example.org:443"]);
            assert_eq!(
                groups[0].labels,
                Labels::from_pairs([("foo", "bar"), (META_FILEPATH, path.as_str())])
            );
            assert_eq!(groups[0].source, format!("{path}:0"));
            assert_eq!(addrs(&groups[1]), ["my.domain"]);
            assert_eq!(
                groups[1].labels,
                Labels::from_pairs([(META_FILEPATH, path.as_str())])
            );
            assert_eq!(groups[1].source, format!("{path}:1"));
        }
        let Some(path) = fixture("valid2.yml") else {
            return;
        };
        let groups = read_file(&path).unwrap();
        assert_eq!(groups.len(), 3);
        assert_eq!(addrs(&groups[2]), ["example.org:443"]);
        assert_eq!(groups[2].labels.get("scheme"), Some("https"));
        assert_eq!(groups[1].labels.get("fred"), Some("baz"));
    }

    #[test]
    fn upstream_invalid_fixtures_are_rejected() {
        for name in ["invalid_nil.json", "invalid_nil.yml"] {
            let Some(path) = fixture(name) else { return };
            let err = read_file(&path).unwrap_err().to_string();
            assert!(err.contains("nil target group item found"), "{name}: {err}");
            assert!(err.contains(&path), "{err}");
        }
    }

    #[test]
    fn refresh_clears_groups_of_shrunk_and_removed_files_and_keeps_broken_ones() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        let b = dir.path().join("b.yml");
        std::fs::write(&a, r#"[{"targets":["x:1"]},{"targets":["y:1"]}]"#).unwrap();
        std::fs::write(&b, "- targets: ['z:1']\n").unwrap();
        let cfg = FileSdConfig {
            files: vec![
                dir.path().join("*.json").to_string_lossy().into_owned(),
                b.to_string_lossy().into_owned(),
            ],
            ..FileSdConfig::default()
        };
        let mut d = Discovery::new(&cfg);
        let first = d.refresh();
        assert_eq!(first.len(), 3);

        // a.json shrinks to one group, b.yml breaks: a:1 is cleared, b keeps its groups.
        std::fs::write(&a, r#"[{"targets":["x:2"]}]"#).unwrap();
        std::fs::write(&b, "- targets: [unterminated\n").unwrap();
        let second = d.refresh();
        let a_path = a.to_string_lossy();
        assert_eq!(second.len(), 2, "{second:?}");
        assert_eq!(addrs(&second[0]), ["x:2"]);
        assert_eq!(second[1].source, format!("{a_path}:1"));
        assert!(second[1].targets.is_empty());

        // Removing the broken file clears what it last gave.
        std::fs::remove_file(&b).unwrap();
        let third = d.refresh();
        let b_path = b.to_string_lossy();
        assert!(
            third
                .iter()
                .any(|g| g.source == format!("{b_path}:0") && g.targets.is_empty()),
            "{third:?}"
        );
    }
}
