//! File-based service discovery (`file_sd_configs`), as Prometheus's `discovery/file`.

use std::collections::HashMap;

use config::discovery::FileSdConfig;
use model::{Labels, LabelsBuilder, TargetGroup};

use crate::metrics::{FileMtimes, Metrics};
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
    metrics: Metrics,
    mtimes: FileMtimes,
}

impl Discovery {
    /// A provider for `cfg`, counting in `metrics` (`prometheus_sd_file_*`).
    pub(crate) fn new(cfg: &FileSdConfig, metrics: &Metrics) -> Discovery {
        Discovery {
            patterns: cfg.files.clone(),
            last_refresh: HashMap::new(),
            metrics: metrics.clone(),
            mtimes: metrics.file_mtimes(),
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

    /// Re-reads every file and returns the updates to send, as Go sends them: the groups of
    /// each readable file, then one empty group per source that disappeared. A file that
    /// fails to read keeps its last good groups (nothing is sent for it) and counts in
    /// `prometheus_sd_file_read_errors_total`, as in Prometheus; each file read records its
    /// modification time, each scan its duration.
    pub(crate) fn refresh(&mut self) -> Vec<Vec<TargetGroup>> {
        let start = std::time::Instant::now();
        let mut updates = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for path in self.list_files() {
            match read_file(&path) {
                Ok(groups) => {
                    // Go takes the modification time of the file it read, in whole seconds.
                    if let Ok(mtime) = std::fs::metadata(&path).and_then(|m| m.modified()) {
                        let secs = match mtime.duration_since(std::time::UNIX_EPOCH) {
                            Ok(d) => d.as_secs() as f64,
                            Err(e) => -(e.duration().as_secs_f64().ceil()),
                        };
                        self.mtimes.set(&path, secs);
                    }
                    seen.insert(path, groups.len());
                    updates.push(groups);
                }
                Err(e) => {
                    self.metrics.sd().file.read_errors.inc();
                    tracing::error!(path = %path, err = %e, "Error reading file");
                    if let Some(n) = self.last_refresh.get(&path) {
                        seen.insert(path, *n);
                    }
                }
            }
        }
        for (path, &n) in &self.last_refresh {
            let m = seen.get(path).copied();
            if m.is_none_or(|m| n > m) {
                self.mtimes.remove(path);
            }
            for i in m.unwrap_or(0)..n {
                updates.push(vec![TargetGroup {
                    targets: Vec::new(),
                    labels: Labels::empty(),
                    source: source(path, i),
                }]);
            }
        }
        self.last_refresh = seen;
        self.metrics.sd().file.scan_duration.observe_since(start);
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
        let metrics = Metrics::new();
        let mut d = Discovery::new(&cfg, &metrics);
        let first = d.refresh();
        // One update per file.
        assert_eq!(first.len(), 2);
        assert_eq!(first.concat().len(), 3);
        assert_eq!(metrics.sd().file.read_errors.get(), 0);
        assert_eq!(metrics.sd().file.scan_duration.count(), 1);

        // a.json shrinks to one group, b.yml breaks: a:1 is cleared, b keeps its groups.
        std::fs::write(&a, r#"[{"targets":["x:2"]}]"#).unwrap();
        std::fs::write(&b, "- targets: [unterminated\n").unwrap();
        let second = d.refresh().concat();
        assert_eq!(metrics.sd().file.read_errors.get(), 1);
        let a_path = a.to_string_lossy();
        assert_eq!(second.len(), 2, "{second:?}");
        assert_eq!(addrs(&second[0]), ["x:2"]);
        assert_eq!(second[1].source, format!("{a_path}:1"));
        assert!(second[1].targets.is_empty());

        // Removing the broken file clears what it last gave.
        std::fs::remove_file(&b).unwrap();
        let third = d.refresh().concat();
        let b_path = b.to_string_lossy();
        assert!(
            third
                .iter()
                .any(|g| g.source == format!("{b_path}:0") && g.targets.is_empty()),
            "{third:?}"
        );
        assert_eq!(metrics.sd().file.scan_duration.count(), 3);
    }

    #[test]
    fn mtimes_follow_the_files_read() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.yml");
        std::fs::write(&a, "- targets: ['x:1']\n").unwrap();
        let cfg = FileSdConfig {
            files: vec![dir.path().join("*.yml").to_string_lossy().into_owned()],
            ..FileSdConfig::default()
        };
        let metrics = Metrics::new();
        let mut d = Discovery::new(&cfg, &metrics);
        d.refresh();
        let series = format!(
            "prometheus_sd_file_mtime_seconds{{filename=\"{}\"}}",
            a.display()
        );
        let expected = std::fs::metadata(&a)
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as f64;
        let mut text = String::new();
        metrics.write_text(&mut text);
        assert_eq!(crate::metrics::value_of(&text, &series), Some(expected));
        std::fs::remove_file(&a).unwrap();
        d.refresh();
        let mut text = String::new();
        metrics.write_text(&mut text);
        assert_eq!(crate::metrics::value_of(&text, &series), None);
    }
}
