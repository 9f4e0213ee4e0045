//! Scrape targets (Go's `scrape/target.go`): label population and relabeling
//! ([`populate_labels`]), the target URL, the stable scrape offset, and the health and
//! metadata that the HTTP API reports.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use config::ScrapeConfig;
use model::{Labels, LabelsBuilder, TargetGroup};

use crate::textparse::MetricType;

/// `__address__`: the `host:port` to scrape.
pub const ADDRESS_LABEL: &str = "__address__";
/// `__scheme__`: `http` or `https`.
pub const SCHEME_LABEL: &str = "__scheme__";
/// `__metrics_path__`: the URL path.
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
/// `__scrape_interval__`.
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
/// `__scrape_timeout__`.
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
/// Prefix of labels that become URL query parameters.
pub const PARAM_LABEL_PREFIX: &str = "__param_";
/// Prefix of discovery's meta labels, dropped after relabeling.
pub const META_LABEL_PREFIX: &str = "__meta_";
/// Prefix of every internal label, none of which is stored with samples.
pub const RESERVED_LABEL_PREFIX: &str = "__";
/// `job`.
pub const JOB_LABEL: &str = "job";
/// `instance`.
pub const INSTANCE_LABEL: &str = "instance";

/// A target's health after its last scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    /// Not scraped yet.
    #[default]
    Unknown,
    /// The last scrape succeeded.
    Up,
    /// The last scrape failed.
    Down,
}

impl Health {
    /// Prometheus's spelling: `unknown`, `up`, `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// Type, help and unit of one metric family, as a target last exposed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricMetadata {
    /// The metric family name.
    pub metric_family: String,
    /// Its type (`unknown` when not declared).
    pub metric_type: MetricType,
    /// Its help text.
    pub help: String,
    /// Its unit (OpenMetrics only).
    pub unit: String,
}

#[derive(Debug, Default)]
struct Status {
    health: Health,
    last_error: Option<String>,
    last_scrape: Option<SystemTime>,
    last_scrape_duration: Duration,
}

/// One scrape target: its full label set (internal `__` labels included), the labels it was
/// discovered with, and the outcome of its last scrape.
#[derive(Debug)]
pub struct Target {
    labels: Labels,
    discovered: Labels,
    params: BTreeMap<String, Vec<String>>,
    status: Mutex<Status>,
    metadata: Mutex<HashMap<String, MetricMetadata>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data stays consistent across a panic elsewhere: keep using it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Target {
    /// A target from its processed label set (see [`populate_labels`]), the labels it was
    /// discovered with, and the job's query parameters.
    pub fn new(
        labels: Labels,
        discovered: Labels,
        params: BTreeMap<String, Vec<String>>,
    ) -> Target {
        Target {
            labels,
            discovered,
            params,
            status: Mutex::new(Status::default()),
            metadata: Mutex::new(HashMap::new()),
        }
    }

    /// The public labels (without `__` labels): those attached to every scraped sample.
    pub fn labels(&self) -> Labels {
        Labels::from_pairs(
            self.labels
                .iter()
                .filter(|(n, _)| !n.starts_with(RESERVED_LABEL_PREFIX)),
        )
    }

    /// Every label, `__address__` and the other internal ones included.
    pub fn all_labels(&self) -> &Labels {
        &self.labels
    }

    /// The labels before relabeling, as discovered (with the job's defaults filled in).
    pub fn discovered_labels(&self) -> &Labels {
        &self.discovered
    }

    /// The scrape URL, as Go's `Target.URL().String()`: scheme, address, path, and the
    /// job's `params` overridden by `__param_*` labels, sorted by key.
    pub fn url(&self) -> String {
        let mut params = self.params.clone();
        for (name, value) in self.labels.iter() {
            if let Some(key) = name.strip_prefix(PARAM_LABEL_PREFIX) {
                match params.get_mut(key) {
                    Some(vs) if !vs.is_empty() => vs[0] = value.to_string(),
                    _ => {
                        params.insert(key.to_string(), vec![value.to_string()]);
                    }
                }
            }
        }
        let mut url = format!(
            "{}://{}{}",
            self.labels.get(SCHEME_LABEL).unwrap_or_default(),
            self.labels.get(ADDRESS_LABEL).unwrap_or_default(),
            escape_path(self.labels.get(METRICS_PATH_LABEL).unwrap_or_default()),
        );
        let mut first = true;
        for (k, vs) in &params {
            for v in vs {
                url.push(if first { '?' } else { '&' });
                first = false;
                model::strutil::write_query_escaped(&mut url, k);
                url.push('=');
                model::strutil::write_query_escaped(&mut url, v);
            }
        }
        url
    }

    /// The scrape interval and timeout from `__scrape_interval__` and `__scrape_timeout__`.
    pub fn interval_and_timeout(&self) -> (Duration, Duration) {
        let get = |name| {
            self.labels
                .get(name)
                .and_then(|v| model::Duration::parse(v).ok())
                .map_or(Duration::ZERO, model::Duration::to_std)
        };
        (get(SCRAPE_INTERVAL_LABEL), get(SCRAPE_TIMEOUT_LABEL))
    }

    /// Go's `Target.hash`: FNV-1a over the label hash formatted `%016d`, then the URL.
    pub(crate) fn hash(&self) -> u64 {
        let mut h = fnv::FnvHasher::default();
        h.write(format!("{:016}", self.labels.hash()).as_bytes());
        h.write(self.url().as_bytes());
        h.finish()
    }

    /// Go's `Target.offset`: how long to wait before the first scrape so that the target is
    /// scraped at a stable point of every interval, spread by its hash and the server's seed.
    pub(crate) fn offset(&self, interval: Duration, seed: u64) -> Duration {
        let interval_ns = interval.as_nanos().max(1);
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let base = interval_ns - now % interval_ns;
        let offset = u128::from(self.hash() ^ seed) % interval_ns;
        let mut next = base + offset;
        if next > interval_ns {
            next -= interval_ns;
        }
        Duration::from_nanos(u64::try_from(next).unwrap_or(u64::MAX))
    }

    /// The target's health after its last scrape.
    pub fn health(&self) -> Health {
        lock(&self.status).health
    }

    /// The error of the last scrape, if it failed.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.status).last_error.clone()
    }

    /// When the last scrape started.
    pub fn last_scrape(&self) -> Option<SystemTime> {
        lock(&self.status).last_scrape
    }

    /// How long the last scrape took.
    pub fn last_scrape_duration(&self) -> Duration {
        lock(&self.status).last_scrape_duration
    }

    pub(crate) fn report(&self, start: SystemTime, took: Duration, err: Option<String>) {
        let mut s = lock(&self.status);
        s.health = if err.is_none() {
            Health::Up
        } else {
            Health::Down
        };
        s.last_error = err;
        s.last_scrape = Some(start);
        s.last_scrape_duration = took;
    }

    /// The metadata of every metric family the target exposed, sorted by name.
    pub fn metadata(&self) -> Vec<MetricMetadata> {
        let mut out: Vec<MetricMetadata> = lock(&self.metadata).values().cloned().collect();
        out.sort_by(|a, b| a.metric_family.cmp(&b.metric_family));
        out
    }

    /// The metadata of one metric family.
    pub fn get_metadata(&self, metric_family: &str) -> Option<MetricMetadata> {
        lock(&self.metadata).get(metric_family).cloned()
    }

    /// How many metric families the metadata holds, and the bytes of their help, unit and
    /// type names (Go's `LengthMetadata` and `SizeMetadata`).
    pub(crate) fn metadata_size(&self) -> (usize, usize) {
        let md = lock(&self.metadata);
        let bytes = md
            .values()
            .map(|m| m.help.len() + m.unit.len() + m.metric_type.as_str().len())
            .sum();
        (md.len(), bytes)
    }

    pub(crate) fn set_metadata(&self, md: HashMap<String, MetricMetadata>) {
        *lock(&self.metadata) = md;
    }

    /// Adds (or updates) the metadata of a failed scrape's families: Go's scrape cache
    /// keeps what the parser saw before the failure.
    pub(crate) fn merge_metadata(&self, md: HashMap<String, MetricMetadata>) {
        lock(&self.metadata).extend(md);
    }
}

fn escape_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    // Go's URL.String puts a slash between the host and a relative path.
    if !s.is_empty() && !s.starts_with('/') {
        out.push('/');
    }
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/!$&'()*+,;=:@[]".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Go's `PopulateDiscoveredLabels`: target labels over group labels, then the job's
/// defaults (`job`, `__scrape_interval__`, `__scrape_timeout__`, `__metrics_path__`,
/// `__scheme__`, `__param_*`) where not set.
pub fn populate_discovered_labels(cfg: &ScrapeConfig, target: &Labels, group: &Labels) -> Labels {
    let mut lb = LabelsBuilder::new(group);
    for (n, v) in target.iter() {
        lb.set(n, v);
    }
    let defaults = [
        (JOB_LABEL, cfg.job_name.clone()),
        (SCRAPE_INTERVAL_LABEL, cfg.scrape_interval.to_string()),
        (SCRAPE_TIMEOUT_LABEL, cfg.scrape_timeout.to_string()),
        (METRICS_PATH_LABEL, cfg.metrics_path.clone()),
        (SCHEME_LABEL, cfg.scheme.clone()),
    ];
    for (name, value) in &defaults {
        if lb.get(name).unwrap_or_default().is_empty() {
            lb.set(name, value);
        }
    }
    for (k, vs) in &cfg.params {
        let name = format!("{PARAM_LABEL_PREFIX}{k}");
        if let Some(v) = vs.first()
            && lb.get(&name).unwrap_or_default().is_empty()
        {
            lb.set(&name, v);
        }
    }
    lb.labels()
}

/// Go's `PopulateLabels`: the discovered labels relabeled with `relabel_configs`, checked
/// (address present and not a URL, interval and timeout valid), `__meta_*` labels dropped
/// and `instance` defaulted to the address.
///
/// Returns `(labels, discovered)`; `labels` is `None` when relabeling dropped the target.
///
/// # Errors
/// A message in Prometheus's words (`no address`, `scrape timeout cannot be greater than
/// scrape interval ("2s" > "1s")`, ...).
pub fn populate_labels(
    cfg: &ScrapeConfig,
    target: &Labels,
    group: &Labels,
) -> Result<(Option<Labels>, Labels), String> {
    let discovered = populate_discovered_labels(cfg, target, group);
    let mut lb = LabelsBuilder::new(&discovered);
    if !model::relabel::process_builder(&mut lb, &cfg.relabel_configs) {
        return Ok((None, discovered));
    }
    let addr = lb.get(ADDRESS_LABEL).unwrap_or_default().to_string();
    if addr.is_empty() {
        return Err("no address".into());
    }
    config::scrape::check_target_address(&addr)?;
    let interval = lb
        .get(SCRAPE_INTERVAL_LABEL)
        .unwrap_or_default()
        .to_string();
    let interval_d = model::Duration::parse(&interval)
        .map_err(|e| format!("error parsing scrape interval: {e}"))?;
    if interval_d == model::Duration::ZERO {
        return Err("scrape interval cannot be 0".into());
    }
    let timeout = lb.get(SCRAPE_TIMEOUT_LABEL).unwrap_or_default().to_string();
    let timeout_d = model::Duration::parse(&timeout)
        .map_err(|e| format!("error parsing scrape timeout: {e}"))?;
    if timeout_d == model::Duration::ZERO {
        return Err("scrape timeout cannot be 0".into());
    }
    if timeout_d > interval_d {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({timeout:?} > {interval:?})"
        ));
    }
    let relabeled = lb.labels();
    for (name, _) in relabeled.iter() {
        if name.starts_with(META_LABEL_PREFIX) {
            lb.del(name);
        }
    }
    if lb.get(INSTANCE_LABEL).unwrap_or_default().is_empty() {
        lb.set(INSTANCE_LABEL, &addr);
    }
    Ok((Some(lb.labels()), discovered))
}

/// What [`targets_from_group`] makes of one group.
#[derive(Debug, Default)]
pub struct GroupTargets {
    /// Targets to scrape.
    pub targets: Vec<Target>,
    /// Discovered label sets of targets dropped by relabeling.
    pub dropped: Vec<Labels>,
    /// Targets that could not be built, with the reason.
    pub failures: Vec<String>,
}

/// Go's `TargetsFromGroup`: every target of `tg` through [`populate_labels`].
pub fn targets_from_group(tg: &TargetGroup, cfg: &ScrapeConfig) -> GroupTargets {
    let mut out = GroupTargets::default();
    for (i, t) in tg.targets.iter().enumerate() {
        match populate_labels(cfg, t, &tg.labels) {
            Ok((Some(labels), discovered)) => {
                out.targets
                    .push(Target::new(labels, discovered, cfg.params.clone()));
            }
            Ok((None, discovered)) => out.dropped.push(discovered),
            Err(e) => out
                .failures
                .push(format!("instance {i} in group {}: {e}", tg.source)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(yaml: &str) -> ScrapeConfig {
        let cfg = config::Config::load_str(yaml, "").unwrap();
        cfg.scrape_configs[0].clone()
    }

    #[test]
    fn failed_scrapes_add_their_metadata() {
        let t = Target::new(
            Labels::from_pairs([("job", "j")]),
            Labels::default(),
            Default::default(),
        );
        let md = |name: &str, help: &str| {
            (
                name.to_string(),
                MetricMetadata {
                    metric_family: name.to_string(),
                    metric_type: crate::textparse::MetricType::Gauge,
                    help: help.to_string(),
                    unit: String::new(),
                },
            )
        };
        t.set_metadata([md("a", "x")].into_iter().collect());
        t.merge_metadata([md("b", "y")].into_iter().collect());
        let names: Vec<String> = t.metadata().into_iter().map(|m| m.metric_family).collect();
        assert_eq!(names, ["a", "b"]);
        t.merge_metadata([md("a", "z")].into_iter().collect());
        assert_eq!(t.get_metadata("a").map(|m| m.help), Some("z".to_string()));
    }

    #[test]
    fn labels_get_job_defaults_and_instance_from_address() {
        let cfg = job("scrape_configs:\n- job_name: j\n  params: {module: [a, b]}\n");
        let (labels, discovered) = populate_labels(
            &cfg,
            &Labels::from_pairs([(ADDRESS_LABEL, "h:1"), ("__meta_x", "m")]),
            &Labels::from_pairs([("g", "v")]),
        )
        .unwrap();
        let labels = labels.unwrap();
        assert_eq!(
            labels.to_string(),
            r#"{__address__="h:1", __metrics_path__="/metrics", __param_module="a", __scheme__="http", __scrape_interval__="1m", __scrape_timeout__="10s", g="v", instance="h:1", job="j"}"#
        );
        assert_eq!(discovered.get("__meta_x"), Some("m"));
        let t = Target::new(labels, discovered, cfg.params.clone());
        assert_eq!(t.url(), "http://h:1/metrics?module=a&module=b");
        assert_eq!(
            t.labels().to_string(),
            r#"{g="v", instance="h:1", job="j"}"#
        );
    }

    #[test]
    fn no_default_port_is_added_to_addresses() {
        // Prometheus 3 keeps addresses as configured (2.x's `no-default-scrape-port`
        // behaviour): no `:80`/`:443` in `__address__`, `instance` or the URL.
        for (scheme, addr) in [
            ("http", "example.com"),
            ("https", "example.com"),
            ("https", "[::1]"),
        ] {
            let cfg = job(&format!(
                "scrape_configs:\n- job_name: j\n  scheme: {scheme}\n"
            ));
            let (labels, discovered) = populate_labels(
                &cfg,
                &Labels::from_pairs([(ADDRESS_LABEL, addr)]),
                &Labels::default(),
            )
            .unwrap();
            let labels = labels.unwrap();
            assert_eq!(labels.get(ADDRESS_LABEL), Some(addr));
            assert_eq!(labels.get(INSTANCE_LABEL), Some(addr));
            let t = Target::new(labels, discovered, cfg.params.clone());
            assert_eq!(t.url(), format!("{scheme}://{addr}/metrics"));
        }
    }

    #[test]
    fn relabeling_can_drop_rewrite_and_break_targets() {
        let cfg = job(
            "scrape_configs:\n- job_name: j\n  relabel_configs:\n  - {source_labels: [drop], regex: yes, action: drop}\n  - {source_labels: [__meta_port], target_label: __address__, regex: '(.+)', replacement: 'h:$1'}\n  - {source_labels: [__meta_param], target_label: __param_x}\n",
        );
        let drop = populate_labels(
            &cfg,
            &Labels::from_pairs([(ADDRESS_LABEL, "a:1"), ("drop", "yes")]),
            &Labels::empty(),
        )
        .unwrap();
        assert!(drop.0.is_none());
        let (l, _) = populate_labels(
            &cfg,
            &Labels::from_pairs([
                (ADDRESS_LABEL, "a:1"),
                ("__meta_port", "9"),
                ("__meta_param", "p q"),
            ]),
            &Labels::empty(),
        )
        .unwrap();
        let t = Target::new(l.unwrap(), Labels::empty(), BTreeMap::new());
        assert_eq!(t.url(), "http://h:9/metrics?x=p+q");
        let odd = Target::new(
            Labels::from_pairs([
                (ADDRESS_LABEL, "[::1]:9"),
                (SCHEME_LABEL, "https"),
                (METRICS_PATH_LABEL, "a b"),
            ]),
            Labels::empty(),
            BTreeMap::new(),
        );
        assert_eq!(odd.url(), "https://[::1]:9/a%20b");
        assert_eq!(t.labels().get(INSTANCE_LABEL), Some("h:9"));
        assert_eq!(
            populate_labels(&cfg, &Labels::empty(), &Labels::empty()).unwrap_err(),
            "no address"
        );
        assert!(
            populate_labels(
                &cfg,
                &Labels::from_pairs([(ADDRESS_LABEL, "http://a:1/x")]),
                &Labels::empty()
            )
            .unwrap_err()
            .contains("is not a valid hostname")
        );
        let err = populate_labels(
            &cfg,
            &Labels::from_pairs([(ADDRESS_LABEL, "a:1"), (SCRAPE_TIMEOUT_LABEL, "2m")]),
            &Labels::empty(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            r#"scrape timeout cannot be greater than scrape interval ("2m" > "1m")"#
        );
    }

    #[test]
    fn offset_is_stable_and_within_the_interval() {
        let t = Target::new(
            Labels::from_pairs([
                (ADDRESS_LABEL, "a:1"),
                (SCHEME_LABEL, "http"),
                (METRICS_PATH_LABEL, "/m"),
            ]),
            Labels::empty(),
            BTreeMap::new(),
        );
        let interval = Duration::from_secs(10);
        for seed in [0, 1, u64::MAX] {
            let o = t.offset(interval, seed);
            assert!(o <= interval, "{o:?}");
        }
        assert_eq!(t.hash(), t.hash());
        // The hash is FNV-1a over "%016d" of the label hash, then the URL.
        let mut h = fnv::FnvHasher::default();
        h.write(format!("{:016}", t.all_labels().hash()).as_bytes());
        h.write(b"http://a:1/m");
        assert_eq!(t.hash(), h.finish());
    }
}
