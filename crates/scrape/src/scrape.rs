//! Scrape pools and loops (Go's `scrape/scrape.go`): one pool per job turning target groups
//! into targets, one loop per target scraping at a stable offset in its interval, appending
//! samples with one appender per scrape, tracking staleness, and reporting `up` and the other
//! synthetic series.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use config::ScrapeConfig;
use model::{Labels, LabelsBuilder, TargetGroup, Timestamp, relabel};
use storage::{Appendable, Appender, SeriesRef};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::metrics::{Metrics, PoolMetrics};
use crate::target::{self, MetricMetadata, Target};
use crate::textparse::{self, Entry, Parser, ParserOptions};
use crate::{Error, Result};

pub(crate) mod client;
mod limits;

use client::HttpClient;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data stays consistent across a panic elsewhere: keep using it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The per-job settings every loop of a pool shares.
#[derive(Debug)]
pub(crate) struct LoopOptions {
    /// The scrape pool's (job's) name, which its loops' log lines carry (`scrape_pool`).
    job_name: String,
    honor_labels: bool,
    honor_timestamps: bool,
    track_timestamps_staleness: bool,
    metric_relabel: Vec<relabel::Config>,
    sample_limit: u64,
    label_limit: u64,
    label_name_length_limit: u64,
    label_value_length_limit: u64,
    /// `native_histogram_bucket_limit` (0: none).
    bucket_limit: u64,
    /// The schema `native_histogram_min_bucket_factor` allows at most.
    max_schema: i32,
    parser: ParserOptions,
    client: HttpClient,
    offset_seed: u64,
    extra_metrics: bool,
    /// `--enable-feature=type-and-unit-labels`: series get `__type__` and `__unit__`.
    type_and_unit_labels: bool,
    /// `--enable-feature=created-timestamp-zero-ingestion`: a sample with a created
    /// timestamp gets a zero sample at that time first, and OpenMetrics `_created` series
    /// are not ingested.
    ct_zero_ingestion: bool,
    /// `--enable-feature=metadata-wal-records`: series metadata goes to the appender.
    append_metadata: bool,
    /// `--scrape.adjust-timestamps`: the tolerance within which a scrape takes its
    /// scheduled time (`None`: never).
    align_tolerance: Option<Duration>,
    /// The manager's metrics, shared by every loop.
    pub(crate) metrics: Arc<Metrics>,
}

impl LoopOptions {
    pub(crate) fn new(
        cfg: &ScrapeConfig,
        offset_seed: u64,
        manager: &crate::Options,
    ) -> Result<LoopOptions> {
        Ok(LoopOptions {
            job_name: cfg.job_name.clone(),
            honor_labels: cfg.honor_labels,
            honor_timestamps: cfg.honor_timestamps,
            track_timestamps_staleness: cfg.track_timestamps_staleness,
            metric_relabel: cfg.metric_relabel_configs.clone(),
            sample_limit: cfg.sample_limit,
            label_limit: cfg.label_limit,
            label_name_length_limit: cfg.label_name_length_limit,
            label_value_length_limit: cfg.label_value_length_limit,
            bucket_limit: cfg.native_histogram_bucket_limit,
            max_schema: limits::pick_schema(cfg.native_histogram_min_bucket_factor),
            parser: ParserOptions {
                fallback: cfg
                    .fallback_scrape_protocol
                    .as_ref()
                    .and_then(|p| textparse::Format::from_scrape_protocol(&p.0)),
                skip_created_series: manager.enable_created_timestamp_zero_ingestion,
                ignore_native_histograms: !cfg.scrape_native_histograms_enabled(),
                keep_classic_histograms: cfg.always_scrape_classic_histograms == Some(true),
                convert_classic_histograms_to_nhcb: cfg.convert_classic_histograms_to_nhcb
                    == Some(true),
            },
            client: HttpClient::new(cfg)?,
            offset_seed,
            extra_metrics: cfg
                .extra_scrape_metrics
                .unwrap_or(manager.extra_scrape_metrics),
            type_and_unit_labels: manager.enable_type_and_unit_labels,
            ct_zero_ingestion: manager.enable_created_timestamp_zero_ingestion,
            append_metadata: manager.append_metadata,
            align_tolerance: manager
                .adjust_timestamps
                .then_some(manager.timestamp_tolerance),
            metrics: Arc::default(),
        })
    }
}

#[derive(Debug)]
struct CacheEntry {
    series_ref: SeriesRef,
    labels: Labels,
    hash: u64,
    last_iter: u64,
}

/// Hashes raw series lines with xxh64 under a random seed per cache: SipHash was a visible
/// share of a scrape's CPU, and the random seed keeps colliding lines unforgeable.
#[derive(Debug, Clone)]
struct LineHasher(u64);

impl Default for LineHasher {
    fn default() -> Self {
        LineHasher(std::collections::hash_map::RandomState::new().hash_one(0u64))
    }
}

impl BuildHasher for LineHasher {
    type Hasher = xxhash_rust::xxh64::Xxh64;

    fn build_hasher(&self) -> Self::Hasher {
        xxhash_rust::xxh64::Xxh64::new(self.0)
    }
}

/// For maps keyed by a label set's 64-bit hash, which needs no second hashing.
#[derive(Debug, Default)]
struct HashKeyHasher(u64);

impl Hasher for HashKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// What a loop remembers between scrapes (Go's `scrapeCache`): the label set of each raw
/// series line, the lines metric relabeling dropped, and the series of the current and
/// previous scrape for staleness markers. Survives a config reload of the pool.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    series: HashMap<Vec<u8>, CacheEntry, LineHasher>,
    dropped: HashMap<Vec<u8>, u64, LineHasher>,
    /// Label-set hashes of the series of the current scrape (Go's `seriesCur`). Only hashes:
    /// the labels of a vanished series are found in `series` when its marker is written, so
    /// a scrape touches no label set's reference count.
    cur: HashSet<u64, BuildHasherDefault<HashKeyHasher>>,
    /// The same for the previous scrape (Go's `seriesPrev`).
    prev: HashSet<u64, BuildHasherDefault<HashKeyHasher>>,
    iter: u64,
    /// The newest timestamp appended, so end-of-run staleness markers are never out of order.
    last_append: Timestamp,
    /// With `append_metadata`: each family's metadata as last scraped (Go's
    /// `scrapeCache.metadata`).
    meta: HashMap<String, MetaEntry>,
    /// With `append_metadata`: which report series got their metadata (once per loop, as
    /// Go does when a report series enters the cache).
    report_meta: [bool; REPORT_NAMES.len()],
}

/// A family's metadata in the cache, with the scrapes it last changed in and was last seen in.
#[derive(Debug, Default)]
struct MetaEntry {
    meta: storage::Metadata,
    last_iter_change: u64,
    last_iter: u64,
}

impl Cache {
    /// Applies a `TYPE`, `HELP` or `UNIT` line of family `name` in scrape `iter` (Go's
    /// `setType`/`setHelp`/`setUnit`): a change marks the family changed in this scrape.
    fn set_meta(&mut self, name: &str, iter: u64, f: impl FnOnce(&mut storage::Metadata)) {
        let e = match self.meta.get_mut(name) {
            Some(e) => e,
            None => self.meta.entry(name.to_owned()).or_insert(MetaEntry {
                last_iter_change: iter,
                ..MetaEntry::default()
            }),
        };
        let before = e.meta.clone();
        f(&mut e.meta);
        if e.meta != before {
            e.last_iter_change = iter;
        }
        e.last_iter = iter;
    }
}

/// Counts of one scrape, reported as `scrape_samples_scraped`,
/// `scrape_samples_post_metric_relabeling` and `scrape_series_added`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AppendStats {
    pub(crate) total: u64,
    pub(crate) added: u64,
    pub(crate) series_added: u64,
}

fn is_soft_append_error(e: &storage::Error) -> bool {
    matches!(
        e,
        storage::Error::OutOfOrderSample
            | storage::Error::OutOfBounds
            | storage::Error::TooOldSample
            | storage::Error::DuplicateSampleForTimestamp
    )
}

/// Appends the zero sample at a series' created timestamp `ct` before its sample at `t`
/// (Go's `AppendCTZeroSample` call in the scrape loop). Failures never fail the scrape: a
/// created timestamp older than the series' newest sample is the normal case after the
/// first scrape, others are logged at debug level. Returns the series reference to use.
fn append_ct_zero_sample(
    app: &mut dyn Appender,
    series_ref: SeriesRef,
    lset: &Labels,
    t: Timestamp,
    ct: Timestamp,
    histogram: Option<&limits::Scraped>,
) -> SeriesRef {
    let res = match histogram {
        None => app.append_ct_zero_sample(series_ref, lset, t, ct),
        Some(limits::Scraped::Int(h)) => {
            app.append_histogram_ct_zero_sample(series_ref, lset, t, ct, Some(h), None)
        }
        Some(limits::Scraped::Float(fh)) => {
            app.append_histogram_ct_zero_sample(series_ref, lset, t, ct, None, Some(fh))
        }
    };
    match res {
        Ok(r) if r != 0 => r,
        Ok(_) | Err(storage::Error::OutOfOrderCt) => series_ref,
        Err(e) => {
            tracing::debug!(series = %lset, ct, t, err = %e, "Error when appending CT in scrape loop");
            series_ref
        }
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Go's `verifyLabelLimits`.
fn verify_label_limits(lset: &Labels, o: &LoopOptions) -> Result<()> {
    let met = truncate(lset.metric_name().unwrap_or_default(), 50);
    if o.label_limit > 0 && lset.len() as u64 > o.label_limit {
        return Err(Error::LabelLimit {
            message: format!(
                "label_limit exceeded (metric: {met}, number of labels: {}, limit: {})",
                lset.len(),
                o.label_limit
            ),
        });
    }
    for (name, value) in lset.iter() {
        if o.label_name_length_limit > 0 && name.len() as u64 > o.label_name_length_limit {
            return Err(Error::LabelLimit {
                message: format!(
                    "label_name_length_limit exceeded (metric: {met}, label name: {}, length: {}, limit: {})",
                    truncate(name, 50),
                    name.len(),
                    o.label_name_length_limit
                ),
            });
        }
        if o.label_value_length_limit > 0 && value.len() as u64 > o.label_value_length_limit {
            return Err(Error::LabelLimit {
                message: format!(
                    "label_value_length_limit exceeded (metric: {met}, label name: {}, value: {:?}, length: {}, limit: {})",
                    truncate(name, 50),
                    truncate(value, 50),
                    value.len(),
                    o.label_value_length_limit
                ),
            });
        }
    }
    Ok(())
}

/// Go's `mutateSampleLabels`: attaches the target's labels to a scraped series (the
/// series' own labels win with `honor_labels`; otherwise clashing ones are kept as
/// `exported_<name>`), then applies `metric_relabel_configs`. `None` means dropped.
pub(crate) fn mutate_sample_labels(
    lset: &Labels,
    target: &Labels,
    honor: bool,
    rc: &[relabel::Config],
) -> Option<Labels> {
    let mut lb = LabelsBuilder::new(lset);
    if honor {
        for (n, v) in target.iter() {
            if lset.get(n).unwrap_or_default().is_empty() {
                lb.set(n, v);
            }
        }
    } else {
        let mut conflicting: Vec<(&str, &str)> = Vec::new();
        for (n, v) in target.iter() {
            if let Some(existing) = lset.get(n).filter(|e| !e.is_empty()) {
                conflicting.push((n, existing));
            }
            lb.set(n, v);
        }
        // Go's resolveConflictingExposedLabels: shortest names first, each prefixed with
        // `exported_` until the name is free.
        conflicting.sort_by_key(|(n, _)| n.len());
        for (n, v) in conflicting {
            let mut name = format!("exported_{n}");
            while lb.get(&name).is_some_and(|x| !x.is_empty()) {
                name = format!("exported_{name}");
            }
            lb.set(&name, v);
        }
    }
    let res = lb.labels();
    let res = if rc.is_empty() {
        res
    } else {
        relabel::process(&res, rc)?
    };
    (!res.is_empty()).then_some(res)
}

/// Parses `body` and appends its samples for `target` (Go's `scrapeLoop.append`). An
/// empty body appends nothing but staleness markers for every series of the previous
/// scrape, which is how failed scrapes mark their series stale.
///
/// Returns the counts (also on failure, as far as they got), the result, and the metadata
/// seen.
pub(crate) fn append(
    app: &mut dyn Appender,
    body: &[u8],
    content_type: &str,
    t: Timestamp,
    target: &Labels,
    o: &LoopOptions,
    cache: &mut Cache,
) -> (AppendStats, Result<()>, HashMap<String, MetricMetadata>) {
    let mut stats = AppendStats::default();
    let mut metadata = HashMap::new();
    cache.cur.clear();
    let res = append_samples(
        app,
        body,
        content_type,
        t,
        target,
        o,
        cache,
        &mut stats,
        &mut metadata,
    );
    if res.is_err() {
        return (stats, res, metadata);
    }
    // Series of the previous scrape that are gone get a staleness marker. Their labels are
    // still in the cache: its entries live for ten scrapes after they were last seen.
    let mut gone: HashSet<u64, BuildHasherDefault<HashKeyHasher>> = cache
        .prev
        .iter()
        .filter(|h| !cache.cur.contains(h))
        .copied()
        .collect();
    let stale: Vec<&Labels> = if gone.is_empty() {
        Vec::new()
    } else {
        cache
            .series
            .values()
            .filter(|e| gone.remove(&e.hash))
            .map(|e| &e.labels)
            .collect()
    };
    for lset in stale {
        match app.append(0, lset, t, model::value::stale_nan()) {
            Ok(_) => {}
            Err(e) if is_soft_append_error(&e) => {}
            Err(e) => {
                return (
                    stats,
                    Err(Error::Storage {
                        message: e.to_string(),
                    }),
                    metadata,
                );
            }
        }
    }
    std::mem::swap(&mut cache.prev, &mut cache.cur);
    cache.cur.clear();
    cache.iter += 1;
    let iter = cache.iter;
    // Forget lines not seen for a while, as Go's iterDone does.
    cache.series.retain(|_, e| e.last_iter + 10 >= iter);
    cache.dropped.retain(|_, last| *last + 10 >= iter);
    cache.meta.retain(|_, e| e.last_iter + 10 >= iter);
    cache.last_append = cache.last_append.max(t);
    (stats, Ok(()), metadata)
}

#[allow(clippy::too_many_arguments)]
fn append_samples(
    app: &mut dyn Appender,
    body: &[u8],
    content_type: &str,
    default_t: Timestamp,
    target: &Labels,
    o: &LoopOptions,
    cache: &mut Cache,
    stats: &mut AppendStats,
    metadata: &mut HashMap<String, MetricMetadata>,
) -> Result<()> {
    if body.is_empty() {
        return Ok(());
    }
    let (mut p, warning) = textparse::new(body, content_type, &o.parser)?;
    if let Some(w) = warning {
        tracing::warn!(err = %w, "Content-Type fallback");
    }
    let iter = cache.iter + 1;
    let mut sample_limit_err = false;
    let mut limit_count = 0u64;
    let mut bucket_limit_err = false;
    let mut exemplars_out_of_order = 0u64;
    // Samples the storage rejected, by reason: counted once per scrape.
    let (mut out_of_order, mut duplicates, mut out_of_bounds) = (0u32, 0u32, 0u32);
    let md = |metadata: &mut HashMap<String, MetricMetadata>, name: &str| {
        if !metadata.contains_key(name) {
            metadata.insert(
                name.to_string(),
                MetricMetadata {
                    metric_family: name.to_string(),
                    metric_type: textparse::MetricType::Unknown,
                    help: String::new(),
                    unit: String::new(),
                },
            );
        }
    };
    let mut family = Family::default();
    // With `append_metadata`: the family whose metadata line came last.
    let mut last_family: Option<String> = None;
    while let Some(entry) = p.next()? {
        match entry {
            Entry::Type => {
                let (name, typ) = p.metric_type();
                if o.append_metadata {
                    cache.set_meta(&name, iter, |m| {
                        m.metric_type = storage::MetricType::from_name(typ.as_str());
                    });
                    last_family = Some(name.to_string());
                }
                md(metadata, &name);
                if let Some(m) = metadata.get_mut(name.as_ref()) {
                    m.metric_type = typ;
                }
                if o.type_and_unit_labels {
                    family.set_type(&name, typ);
                }
                continue;
            }
            Entry::Help => {
                let (name, help) = p.help();
                if o.append_metadata {
                    cache.set_meta(&name, iter, |m| {
                        if m.help != help {
                            m.help = help.to_string();
                        }
                    });
                    last_family = Some(name.to_string());
                }
                md(metadata, &name);
                if let Some(m) = metadata.get_mut(name.as_ref()) {
                    m.help = help.into_owned();
                }
                continue;
            }
            Entry::Unit => {
                let (name, unit) = p.unit();
                if o.append_metadata {
                    cache.set_meta(&name, iter, |m| {
                        if m.unit != unit {
                            m.unit = unit.to_string();
                        }
                    });
                    last_family = Some(name.to_string());
                }
                md(metadata, &name);
                if o.type_and_unit_labels {
                    family.set_unit(&name, &unit);
                }
                if let Some(m) = metadata.get_mut(name.as_ref()) {
                    m.unit = unit.into_owned();
                }
                continue;
            }
            Entry::Comment => continue,
            Entry::Series | Entry::Histogram => {}
        }
        stats.total += 1;
        let is_histogram = entry == Entry::Histogram;
        // Taken first: the raw series line below borrows the parser until the sample is
        // cached. A native histogram can have several; those without a timestamp are
        // dropped, as Prometheus does.
        let mut exemplars = Vec::new();
        while let Some(e) = p.exemplar() {
            if !(is_histogram && e.timestamp.is_none()) {
                exemplars.push(e);
            }
            if !is_histogram {
                break;
            }
        }
        // Also taken before the raw series line borrows the parser.
        let ct = if o.ct_zero_ingestion {
            p.created_timestamp()
        } else {
            None
        };
        let (raw, ts, v, mut histogram) = if is_histogram {
            let (raw, ts, h, fh) = p.histogram();
            let h = match (h, fh) {
                (Some(h), _) => Some(limits::Scraped::Int(h)),
                (None, Some(fh)) => Some(limits::Scraped::Float(fh)),
                (None, None) => None,
            };
            (raw, ts, 0.0, h)
        } else {
            let (raw, ts, v) = p.series();
            (raw, ts, v, None)
        };
        let t = match ts {
            Some(ts) if o.honor_timestamps => ts,
            _ => default_t,
        };
        if !cache.dropped.is_empty()
            && let Some(last) = cache.dropped.get_mut(raw)
        {
            *last = iter;
            continue;
        }
        let entry = match cache.series.get_mut(raw) {
            Some(e) => {
                e.last_iter = iter;
                Ok(e)
            }
            None => {
                let mut parsed = p.labels()?;
                if o.type_and_unit_labels {
                    parsed = family.add_type_and_unit(&parsed);
                }
                let Some(lset) =
                    mutate_sample_labels(&parsed, target, o.honor_labels, &o.metric_relabel)
                else {
                    cache.dropped.insert(raw.to_vec(), iter);
                    continue;
                };
                if !lset.has(model::METRIC_NAME) {
                    return Err(Error::MissingMetricName);
                }
                if let Err(e) = verify_label_limits(&lset, o) {
                    o.metrics.exceeded_label_limits.inc();
                    return Err(e);
                }
                Err(lset)
            }
        };
        if let Some(h) = &mut histogram {
            match limits::apply(h, o.bucket_limit, o.max_schema) {
                Ok(()) => {}
                Err(Error::BucketLimit) => {
                    bucket_limit_err = true;
                    stats.added += 1;
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        // Go's limitAppender counts every sample handed to it (not those the bucket limit
        // rejected); a rejected sample still counts as added, as in Go.
        limit_count += 1;
        if o.sample_limit > 0 && limit_count > o.sample_limit {
            sample_limit_err = true;
            stats.added += 1;
            continue;
        }
        let (lset, series_ref) = match &entry {
            Ok(e) => (&e.labels, e.series_ref),
            Err(lset) => (lset, 0),
        };
        let series_ref = match ct {
            Some(ct) => append_ct_zero_sample(app, series_ref, lset, t, ct, histogram.as_ref()),
            None => series_ref,
        };
        let appended = match &histogram {
            None => app.append(series_ref, lset, t, v),
            Some(limits::Scraped::Int(h)) => {
                app.append_histogram(series_ref, lset, t, Some(h), None)
            }
            Some(limits::Scraped::Float(fh)) => {
                app.append_histogram(series_ref, lset, t, None, Some(fh))
            }
        };
        // Exemplars follow their sample, even a rejected one, as in Prometheus.
        let exemplar_ref = match &appended {
            Ok(r) if *r != 0 => *r,
            _ => series_ref,
        };
        if !exemplars.is_empty() {
            exemplars_out_of_order += append_exemplars(app, exemplars, exemplar_ref, lset, t);
        }
        let new_ref = match appended {
            Ok(r) => r,
            Err(e) if is_soft_append_error(&e) => {
                match e {
                    storage::Error::OutOfOrderSample => out_of_order += 1,
                    storage::Error::DuplicateSampleForTimestamp => duplicates += 1,
                    storage::Error::OutOfBounds => out_of_bounds += 1,
                    _ => {}
                }
                tracing::debug!(series = %lset, err = %e, "Sample not appended");
                // Go hands the metadata over for a rejected sample too.
                if let Some(fam) = &last_family {
                    update_metadata(app, &cache.meta, fam, iter, entry.is_ok(), series_ref, lset);
                }
                stats.added += 1;
                continue;
            }
            Err(e) => {
                return Err(Error::Storage {
                    message: e.to_string(),
                });
            }
        };
        if let Some(fam) = &last_family {
            let known = entry.is_ok();
            let r = if new_ref != 0 { new_ref } else { series_ref };
            update_metadata(app, &cache.meta, fam, iter, known, r, lset);
        }
        let hash = match entry {
            Ok(e) => {
                if new_ref != 0 {
                    e.series_ref = new_ref;
                }
                e.hash
            }
            Err(lset) => {
                stats.series_added += 1;
                let hash = lset.hash();
                cache.series.insert(
                    raw.to_vec(),
                    CacheEntry {
                        series_ref: new_ref,
                        labels: lset,
                        hash,
                        last_iter: iter,
                    },
                );
                hash
            }
        };
        // A timestamp the job does not honour is no explicit timestamp: staleness applies.
        if ts.is_none() || !o.honor_timestamps || o.track_timestamps_staleness {
            cache.cur.insert(hash);
        }
        stats.added += 1;
    }
    if exemplars_out_of_order > 0 {
        tracing::warn!(
            num_dropped = exemplars_out_of_order,
            "Error on ingesting out-of-order exemplars"
        );
        #[allow(clippy::cast_precision_loss)]
        o.metrics
            .exemplar_out_of_order
            .add(exemplars_out_of_order as f64);
    }
    for (n, what, counter) in [
        (
            out_of_order,
            "out-of-order samples",
            &o.metrics.sample_out_of_order,
        ),
        (
            duplicates,
            "samples with different value but same timestamp",
            &o.metrics.sample_duplicate,
        ),
        (
            out_of_bounds,
            "samples that are too old or are too far into the future",
            &o.metrics.sample_out_of_bounds,
        ),
    ] {
        if n > 0 {
            tracing::warn!(num_dropped = n, "Error on ingesting {what}");
            counter.add(f64::from(n));
        }
    }
    // Once per scrape, both when both limits were hit, as Prometheus counts them.
    if sample_limit_err {
        o.metrics.exceeded_sample_limit.inc();
    }
    if bucket_limit_err {
        o.metrics.exceeded_bucket_limit.inc();
    }
    if sample_limit_err {
        return Err(Error::SampleLimit);
    }
    if bucket_limit_err {
        return Err(Error::BucketLimit);
    }
    Ok(())
}

/// Gives series `lset` (ref `r`) the metadata of `family`, the family whose metadata came
/// last, when the series is new to the cache (`known` false) or the family's metadata
/// changed in this scrape, and the series belongs to the family (Go's scrape loop with
/// `appendMetadataToWAL`). Errors are not the scrape's: logged at debug level.
fn update_metadata(
    app: &mut dyn Appender,
    meta: &HashMap<String, MetaEntry>,
    family: &str,
    iter: u64,
    known: bool,
    r: SeriesRef,
    lset: &Labels,
) {
    let Some(e) = meta.get(family) else {
        return;
    };
    if known && e.last_iter_change != iter {
        return;
    }
    let typ = {
        use storage::MetricType as S;
        use textparse::MetricType as T;
        match e.meta.metric_type {
            S::Counter => T::Counter,
            S::Gauge => T::Gauge,
            S::Histogram => T::Histogram,
            S::GaugeHistogram => T::GaugeHistogram,
            S::Summary => T::Summary,
            S::Info => T::Info,
            S::Stateset => T::Stateset,
            S::Unknown => T::Unknown,
        }
    };
    let name = lset.metric_name().unwrap_or_default();
    if !is_series_part_of_family(name, family, typ) {
        return;
    }
    if let Err(err) = app.update_metadata(r, lset, &e.meta) {
        tracing::debug!(series = %lset, err = %err, "Error when appending metadata in scrape loop");
    }
}

/// The metric family whose metadata was read last, for `type-and-unit-labels`.
#[derive(Debug, Default)]
struct Family {
    name: String,
    typ: textparse::MetricType,
    unit: String,
}

impl Family {
    /// A `TYPE` line: a new family unless it names the current one (whose unit stays).
    fn set_type(&mut self, name: &str, typ: textparse::MetricType) {
        if self.name != name {
            self.name = name.to_string();
            self.unit.clear();
        }
        self.typ = typ;
    }

    /// A `UNIT` line: a new family (of unknown type) unless it names the current one.
    fn set_unit(&mut self, name: &str, unit: &str) {
        if self.name != name {
            self.name = name.to_string();
            self.typ = textparse::MetricType::Unknown;
        }
        self.unit = unit.to_string();
    }

    /// Go's `schema.Metadata.AddToLabels` as the parsers apply it with
    /// `EnableTypeAndUnitLabels`: a series of the current family gets `__type__` (unless the
    /// type is unknown) and `__unit__` (unless there is none), replacing labels of those
    /// names it exposes itself; other series are left as they are.
    fn add_type_and_unit(&self, lset: &Labels) -> Labels {
        let name = lset.metric_name().unwrap_or_default();
        if self.name.is_empty() || !is_series_part_of_family(name, &self.name, self.typ) {
            return lset.clone();
        }
        let typ = self.typ != textparse::MetricType::Unknown;
        if !typ && self.unit.is_empty() {
            return lset.clone();
        }
        let mut lb = LabelsBuilder::new(lset);
        if typ {
            lb.set(TYPE_LABEL, self.typ.as_str());
        }
        if !self.unit.is_empty() {
            lb.set(UNIT_LABEL, &self.unit);
        }
        lb.labels()
    }
}

/// The label `type-and-unit-labels` puts the metric type in.
const TYPE_LABEL: &str = "__type__";
/// The label `type-and-unit-labels` puts the metric unit in.
const UNIT_LABEL: &str = "__unit__";

/// Go's `isSeriesPartOfFamily`: whether series `name` belongs to family `family` of type
/// `typ` (the family name itself, or it with the type's suffixes: `_total` of counters,
/// `_bucket`/`_sum`/`_count` of histograms and summaries, `_gsum`/`_gcount` of gauge
/// histograms, `_info` of infos).
fn is_series_part_of_family(name: &str, family: &str, typ: textparse::MetricType) -> bool {
    use textparse::MetricType as T;
    if !name.starts_with(family) {
        return false;
    }
    let cut = |s: &'static [&'static str]| -> &str {
        s.iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name)
    };
    let (family, got) = match typ {
        T::Counter => (
            family.strip_suffix("_total").unwrap_or(family),
            cut(&["_total"]),
        ),
        T::Histogram => (family, cut(&["_bucket", "_sum", "_count"])),
        T::GaugeHistogram => (family, cut(&["_bucket", "_gsum", "_gcount"])),
        T::Summary => (family, cut(&["_sum", "_count"])),
        T::Info => (
            family.strip_suffix("_info").unwrap_or(family),
            cut(&["_info"]),
        ),
        _ => (family, name),
    };
    family == got
}

/// Appends the exemplars of a series (OpenMetrics only: the text format has none; a line
/// has at most one) after its sample, as Prometheus's scrape loop does: an exemplar without its
/// own timestamp gets the sample's, they go in `Exemplar::compare` order, and rejections
/// never fail the scrape. Returns how many were out of order when all of them were (a
/// partial update of a series' exemplars is not counted, as in Prometheus).
fn append_exemplars(
    app: &mut dyn Appender,
    parsed: impl IntoIterator<Item = textparse::Exemplar>,
    r: SeriesRef,
    lset: &Labels,
    t: Timestamp,
) -> u64 {
    let mut exemplars: Vec<storage::Exemplar> = parsed
        .into_iter()
        .map(|e| storage::Exemplar {
            labels: e.labels,
            value: e.value,
            ts: e.timestamp.unwrap_or(t),
            has_ts: e.timestamp.is_some(),
        })
        .collect();
    if exemplars.is_empty() {
        return 0;
    }
    exemplars.sort_by(storage::Exemplar::compare);
    let mut out_of_order = 0u64;
    for e in &exemplars {
        match app.append_exemplar(r, lset, e) {
            Ok(_) => {}
            Err(storage::Error::OutOfOrderExemplar) => out_of_order += 1,
            // Exemplar storage is experimental in Prometheus: errors only get logged.
            Err(err) => {
                tracing::debug!(series = %lset, err = %err, "Error while adding exemplar");
            }
        }
    }
    if out_of_order as usize == exemplars.len() {
        out_of_order
    } else {
        0
    }
}

/// The names of the synthetic series of every scrape; with `extra_scrape_metrics` the
/// last three too.
const REPORT_NAMES: [&str; 8] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "scrape_timeout_seconds",
    "scrape_sample_limit",
    "scrape_body_size_bytes",
];

fn report_labels(target: &Labels, name: &str) -> Labels {
    let mut lb = LabelsBuilder::new(target);
    lb.set(model::METRIC_NAME, name);
    lb.labels()
}

/// Appends the synthetic series (Go's `scrapeLoop.report`); `values` is `None` for
/// staleness markers.
/// Help and unit of the report series, in [`REPORT_NAMES`] order (all gauges).
const REPORT_META: [(&str, &str); 8] = [
    (
        "Health of the scrape target. 1 means the target is healthy, 0 if the scrape failed.",
        "targets",
    ),
    ("Duration of the last scrape in seconds.", "seconds"),
    ("Number of samples last scraped.", "samples"),
    (
        "Number of samples remaining after metric relabeling was applied.",
        "samples",
    ),
    ("Number of series in the last scrape.", "series"),
    ("The configured scrape timeout for a target.", "seconds"),
    (
        "The configured sample limit for a target. Returns zero if there is no limit configured.",
        "samples",
    ),
    (
        "The uncompressed size of the last scrape response, if successful. Scrapes failing because body_size_limit is exceeded report -1, other scrape failures report 0.",
        "bytes",
    ),
];

/// Appends the report series; with `meta_sent` (`append_metadata`), a report series whose
/// metadata was not handed to the appender yet gets it after its sample.
fn report(
    app: &mut dyn Appender,
    target: &Labels,
    t: Timestamp,
    extra: bool,
    values: Option<[f64; 8]>,
    mut meta_sent: Option<&mut [bool; REPORT_NAMES.len()]>,
) {
    let n = if extra { 8 } else { 5 };
    for (i, name) in REPORT_NAMES.iter().take(n).enumerate() {
        let v = values.map_or_else(model::value::stale_nan, |vs| vs[i]);
        let lset = report_labels(target, name);
        match app.append(0, &lset, t, v) {
            Ok(r) => {
                if let Some(sent) = meta_sent.as_deref_mut()
                    && !sent[i]
                {
                    let (help, unit) = REPORT_META[i];
                    let meta = storage::Metadata {
                        metric_type: storage::MetricType::Gauge,
                        unit: unit.to_owned(),
                        help: help.to_owned(),
                    };
                    match app.update_metadata(r, &lset, &meta) {
                        Ok(_) => sent[i] = true,
                        Err(e) => {
                            tracing::debug!(series = name, err = %e, "Error when appending metadata in scrape loop");
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(series = name, err = %e, "Report sample not appended"),
        }
    }
}

/// The timestamp of a scrape starting at `now` (Go's `scrapeLoop.run`): the scheduled time
/// `aligned` (advanced here by whole intervals up to `now`) when `now` is at most
/// `tolerance` (capped at 1% of `interval`) past it, else `now` itself.
fn scrape_time(
    now: SystemTime,
    aligned: &mut SystemTime,
    interval: Duration,
    tolerance: Option<Duration>,
) -> SystemTime {
    let Some(tolerance) = tolerance else {
        return now;
    };
    let tolerance = tolerance.min(interval / 100);
    // Whole intervals since the schedule's last step (more than one after a skipped tick).
    if let Ok(behind) = now.duration_since(*aligned)
        && !interval.is_zero()
    {
        let steps = behind.as_nanos() / interval.as_nanos();
        let step = u32::try_from(steps).map_or(Duration::MAX, |n| interval.saturating_mul(n));
        *aligned = aligned.checked_add(step).unwrap_or(now);
    }
    match now.duration_since(*aligned) {
        Ok(late) if late > tolerance => now,
        // On schedule, or the clock went back: the scheduled time, as Go does.
        _ => *aligned,
    }
}

fn millis(t: SystemTime) -> Timestamp {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One scrape and its report (Go's `scrapeAndReport`).
#[allow(clippy::too_many_arguments)]
async fn scrape_and_report(
    target: &Target,
    public: &Labels,
    url: &str,
    timeout: Duration,
    o: &LoopOptions,
    appendable: &dyn Appendable,
    cache: &Mutex<Cache>,
    forced: Option<Error>,
    scheduled: SystemTime,
) {
    let start = SystemTime::now();
    let t = millis(scheduled);
    let fetched = match forced {
        Some(e) => Err(e),
        None => o.client.scrape(url, timeout).await,
    };
    let body_len = fetched.as_ref().map_or(0, |r| r.body.len());
    if matches!(fetched, Err(Error::BodySizeLimit)) {
        o.metrics.exceeded_body_size_limit.inc();
    }
    let mut cache = lock(cache);
    let mut app = appendable.appender();
    let (stats, err) = match fetched {
        Ok(resp) => {
            let (stats, res, md) = append(
                app.as_mut(),
                &resp.body,
                &resp.content_type,
                t,
                public,
                o,
                &mut cache,
            );
            match res {
                Ok(()) => {
                    target.set_metadata(md);
                    (stats, None)
                }
                Err(e) => {
                    // Go's scrape cache keeps the metadata parsed before the failure.
                    target.merge_metadata(md);
                    if let Err(re) = app.rollback() {
                        tracing::warn!(err = %re, "Rollback failed");
                    }
                    app = appendable.appender();
                    // The append failed (parse error, limits): mark the previous series
                    // stale as an empty scrape would.
                    let _ = append(app.as_mut(), b"", "", t, public, o, &mut cache);
                    (stats, Some(e))
                }
            }
        }
        Err(e) => {
            let (stats, _, _) = append(app.as_mut(), b"", "", t, public, o, &mut cache);
            (stats, Some(e))
        }
    };
    let took = start.elapsed().unwrap_or_default();
    let up = if err.is_none() { 1.0 } else { 0.0 };
    let body_size = match &err {
        Some(Error::BodySizeLimit) => -1.0,
        _ => body_len as f64,
    };
    let meta_sent = o.append_metadata.then_some(&mut cache.report_meta);
    report(
        app.as_mut(),
        public,
        t,
        o.extra_metrics,
        Some([
            up,
            took.as_secs_f64(),
            stats.total as f64,
            stats.added as f64,
            stats.series_added as f64,
            timeout.as_secs_f64(),
            o.sample_limit as f64,
            body_size,
        ]),
        meta_sent,
    );
    if let Err(e) = app.commit() {
        tracing::warn!(err = %e, "Scrape commit failed");
    }
    cache.last_append = cache.last_append.max(t);
    if let Some(e) = &err {
        tracing::debug!(err = %e, "Scrape failed");
    }
    target.report(start, took, err.map(|e| e.to_string()));
}

/// Marks every series of the target's last scrape, and its synthetic series, stale.
fn end_of_run_staleness(
    public: &Labels,
    o: &LoopOptions,
    appendable: &dyn Appendable,
    cache: &Mutex<Cache>,
) {
    let mut cache = lock(cache);
    if cache.last_append == 0 {
        // Never scraped: nothing to mark.
        return;
    }
    let t = millis(SystemTime::now()).max(cache.last_append + 1);
    let mut app = appendable.appender();
    let _ = append(app.as_mut(), b"", "", t, public, o, &mut cache);
    report(app.as_mut(), public, t, o.extra_metrics, None, None);
    if let Err(e) = app.commit() {
        tracing::warn!(err = %e, "Committing staleness markers failed");
    }
}

/// A running scrape loop.
#[derive(Debug)]
pub(crate) struct Loop {
    pub(crate) target: Arc<Target>,
    cache: Arc<Mutex<Cache>>,
    cancel: CancellationToken,
    stale_on_stop: Arc<AtomicBool>,
    join: JoinHandle<()>,
}

impl Loop {
    fn start(
        handle: &tokio::runtime::Handle,
        target: Arc<Target>,
        cache: Arc<Mutex<Cache>>,
        o: Arc<LoopOptions>,
        appendable: Arc<dyn Appendable>,
        forced: Arc<Mutex<Option<Error>>>,
    ) -> Loop {
        let cancel = CancellationToken::new();
        let stale_on_stop = Arc::new(AtomicBool::new(true));
        // Prometheus's scrape loop logger carries its pool and target on every line. An
        // error-level span is never filtered out, so its fields always reach the log.
        let span =
            tracing::error_span!("scrape loop", scrape_pool = %o.job_name, target = %target.url());
        let join = handle.spawn(tracing::Instrument::instrument(
            run_loop(
                target.clone(),
                cache.clone(),
                o,
                appendable,
                forced,
                cancel.clone(),
                stale_on_stop.clone(),
            ),
            span,
        ));
        Loop {
            target,
            cache,
            cancel,
            stale_on_stop,
            join,
        }
    }

    /// Stops the loop; with `stale`, it writes staleness markers for its series on the way
    /// out. Await the handle to know it is done.
    fn stop(self, stale: bool) -> JoinHandle<()> {
        self.stale_on_stop.store(stale, Ordering::SeqCst);
        self.cancel.cancel();
        self.join
    }
}

async fn run_loop(
    target: Arc<Target>,
    cache: Arc<Mutex<Cache>>,
    o: Arc<LoopOptions>,
    appendable: Arc<dyn Appendable>,
    forced: Arc<Mutex<Option<Error>>>,
    cancel: CancellationToken,
    stale_on_stop: Arc<AtomicBool>,
) {
    let (interval, timeout) = target.interval_and_timeout();
    let interval = interval.max(Duration::from_millis(1));
    let public = target.labels();
    let url = target.url();
    let offset = target.offset(interval, o.offset_seed);
    let mut stopped = tokio::select! {
        () = cancel.cancelled() => true,
        () = tokio::time::sleep(offset) => false,
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut aligned = SystemTime::now();
    // Go's `prometheus_target_interval_length_seconds{interval}`: the time between the
    // starts of consecutive scrapes, from the second scrape on (the series appears then).
    let mut interval_length = None;
    let mut last_start: Option<std::time::Instant> = None;
    while !stopped {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let start = std::time::Instant::now();
        if let Some(last) = last_start {
            interval_length
                .get_or_insert_with(|| o.metrics.interval_length(interval))
                .observe_at(start, start.duration_since(last).as_secs_f64());
        }
        last_start = Some(start);
        let scheduled = scrape_time(SystemTime::now(), &mut aligned, interval, o.align_tolerance);
        let forced_err = lock(&forced).clone();
        stopped = tokio::select! {
            biased;
            () = cancel.cancelled() => true,
            () = scrape_and_report(&target, &public, &url, timeout, &o, appendable.as_ref(), &cache, forced_err, scheduled) => false,
        };
    }
    if stale_on_stop.load(Ordering::SeqCst) {
        end_of_run_staleness(&public, &o, appendable.as_ref(), &cache);
    }
}

/// The targets of one job and their loops (Go's `scrapePool`).
pub(crate) struct ScrapePool {
    pub(crate) config: Arc<ScrapeConfig>,
    options: Arc<LoopOptions>,
    metrics: Arc<Metrics>,
    /// What the pool reports under its `scrape_job` label.
    pub(crate) pool_metrics: Arc<PoolMetrics>,
    appendable: Arc<dyn Appendable>,
    loops: HashMap<u64, Loop>,
    groups: Vec<TargetGroup>,
    dropped: Vec<Labels>,
    forced: Arc<Mutex<Option<Error>>>,
}

impl std::fmt::Debug for ScrapePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapePool")
            .field("job", &self.config.job_name)
            .field("targets", &self.loops.len())
            .finish()
    }
}

impl ScrapePool {
    pub(crate) fn new(
        config: Arc<ScrapeConfig>,
        appendable: Arc<dyn Appendable>,
        offset_seed: u64,
        metrics: Arc<Metrics>,
        manager: &crate::Options,
    ) -> Result<ScrapePool> {
        Ok(ScrapePool {
            options: Arc::new(LoopOptions {
                metrics: metrics.clone(),
                ..LoopOptions::new(&config, offset_seed, manager)?
            }),
            metrics,
            pool_metrics: Arc::default(),
            config,
            appendable,
            loops: HashMap::new(),
            groups: Vec::new(),
            dropped: Vec::new(),
            forced: Arc::new(Mutex::new(None)),
        })
    }

    /// Replaces the job's configuration: every loop restarts with it, keeping its cache,
    /// and targets are rebuilt from the last groups.
    pub(crate) fn reload(
        &mut self,
        handle: &tokio::runtime::Handle,
        config: Arc<ScrapeConfig>,
        offset_seed: u64,
        manager: &crate::Options,
    ) -> Result<Vec<JoinHandle<()>>> {
        self.options = Arc::new(LoopOptions {
            metrics: self.metrics.clone(),
            ..LoopOptions::new(&config, offset_seed, manager)?
        });
        self.config = config;
        Ok(self.sync_targets(handle, true))
    }

    /// Takes new target groups and starts, keeps or stops loops accordingly. Returns the
    /// handles of stopping loops.
    pub(crate) fn sync(
        &mut self,
        handle: &tokio::runtime::Handle,
        groups: Vec<TargetGroup>,
    ) -> Vec<JoinHandle<()>> {
        let start = std::time::Instant::now();
        self.groups = groups;
        let stopping = self.sync_targets(handle, false);
        self.pool_metrics.sync_length.observe_since(start);
        self.pool_metrics.syncs.inc();
        stopping
    }

    fn sync_targets(
        &mut self,
        handle: &tokio::runtime::Handle,
        restart: bool,
    ) -> Vec<JoinHandle<()>> {
        let mut wanted: Vec<(u64, Target)> = Vec::new();
        let mut dropped = Vec::new();
        for g in &self.groups {
            let built = target::targets_from_group(g, &self.config);
            // Counted by syncs only: a reload rebuilds the same targets.
            if !restart {
                #[allow(clippy::cast_precision_loss)]
                self.pool_metrics
                    .sync_failed
                    .add(built.failures.len() as f64);
            }
            for f in built.failures {
                tracing::error!(scrape_pool = %self.config.job_name, err = %f, "Creating target failed");
            }
            dropped.extend(built.dropped);
            for t in built.targets {
                let h = t.hash();
                if !wanted.iter().any(|(w, _)| *w == h) {
                    wanted.push((h, t));
                }
            }
        }
        let keep = self.config.keep_dropped_targets;
        if keep > 0 {
            dropped.truncate(usize::try_from(keep).unwrap_or(usize::MAX));
        }
        self.dropped = dropped;
        let limit = self.config.target_limit;
        let exceeded = limit > 0 && wanted.len() as u64 > limit;
        if exceeded {
            self.metrics.exceeded_target_limit.inc();
        }
        *lock(&self.forced) = exceeded.then_some(Error::TargetLimit {
            count: wanted.len(),
            limit,
        });

        let mut stopping = Vec::new();
        let mut old = std::mem::take(&mut self.loops);
        for (h, t) in wanted {
            let existing = old.remove(&h);
            let (target, cache) = match existing {
                Some(l) if !restart => {
                    self.loops.insert(h, l);
                    continue;
                }
                Some(l) => {
                    let (target, cache) = (l.target.clone(), l.cache.clone());
                    stopping.push(l.stop(false));
                    (target, cache)
                }
                None => (Arc::new(t), Arc::new(Mutex::new(Cache::default()))),
            };
            let l = Loop::start(
                handle,
                target,
                cache,
                self.options.clone(),
                self.appendable.clone(),
                self.forced.clone(),
            );
            self.loops.insert(h, l);
        }
        for (_, l) in old {
            stopping.push(l.stop(true));
        }
        stopping
    }

    /// Stops every loop, writing staleness markers.
    pub(crate) fn stop(&mut self) -> Vec<JoinHandle<()>> {
        self.loops.drain().map(|(_, l)| l.stop(true)).collect()
    }

    /// The active targets, sorted by URL.
    pub(crate) fn active_targets(&self) -> Vec<Arc<Target>> {
        let mut out: Vec<Arc<Target>> = self.loops.values().map(|l| l.target.clone()).collect();
        out.sort_by_cached_key(|t| t.url());
        out
    }

    /// What the pool reports in `/metrics` now.
    pub(crate) fn view(&self) -> crate::metrics::PoolView {
        let (mut metadata_entries, mut metadata_bytes) = (0, 0);
        for l in self.loops.values() {
            let (entries, bytes) = l.target.metadata_size();
            metadata_entries += entries;
            metadata_bytes += bytes;
        }
        crate::metrics::PoolView {
            job: self.config.job_name.clone(),
            metrics: self.pool_metrics.clone(),
            targets: self.loops.len(),
            target_limit: self.config.target_limit,
            metadata_entries,
            metadata_bytes,
        }
    }

    /// Discovered label sets of targets dropped by relabeling.
    pub(crate) fn dropped_targets(&self) -> Vec<Labels> {
        self.dropped.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrape_times_snap_to_the_schedule_within_the_tolerance() {
        let second = Duration::from_secs(1);
        let interval = 15 * second;
        let tol = Some(Duration::from_millis(2));
        let t0 = SystemTime::UNIX_EPOCH + 1_000_000 * second;
        let mut aligned = t0;
        let ms = Duration::from_millis;
        // 1 ms late: the scheduled time; 3 ms late: the real time.
        assert_eq!(
            scrape_time(t0 + interval + ms(1), &mut aligned, interval, tol),
            t0 + interval
        );
        assert_eq!(
            scrape_time(t0 + 2 * interval + ms(3), &mut aligned, interval, tol),
            t0 + 2 * interval + ms(3)
        );
        // A skipped tick: the schedule moves on by two intervals.
        assert_eq!(
            scrape_time(t0 + 4 * interval + ms(2), &mut aligned, interval, tol),
            t0 + 4 * interval
        );
        // Early (the clock went back): the scheduled time, as Go does.
        assert_eq!(
            scrape_time(t0 + 4 * interval - ms(5), &mut aligned, interval, tol),
            t0 + 4 * interval
        );
        // The tolerance is capped at 1% of the interval; off: always the real time.
        let mut a = t0;
        let short = Duration::from_millis(100);
        assert_eq!(
            scrape_time(t0 + short + ms(2), &mut a, short, tol),
            t0 + short + ms(2)
        );
        let mut a = t0;
        assert_eq!(
            scrape_time(t0 + interval, &mut a, interval, None),
            t0 + interval
        );
        assert_eq!(a, t0);
    }

    fn options(yaml_extra: &str) -> LoopOptions {
        let cfg =
            config::Config::load_str(&format!("scrape_configs:\n- job_name: j\n{yaml_extra}"), "")
                .unwrap();
        LoopOptions::new(&cfg.scrape_configs[0], 0, &crate::Options::default()).unwrap()
    }

    #[test]
    fn created_timestamps_become_zero_samples_when_enabled() {
        let cfg = config::Config::load_str("scrape_configs:\n- job_name: j\n", "").unwrap();
        let manager = crate::Options {
            enable_created_timestamp_zero_ingestion: true,
            ..crate::Options::default()
        };
        let on = LoopOptions::new(&cfg.scrape_configs[0], 0, &manager).unwrap();
        let off = options("");
        let target = Labels::from_pairs([("job", "j")]);
        let body = b"# TYPE a counter\na_total 3\na_created 1.5\n# TYPE g gauge\ng 1\n# EOF\n";
        let om = "application/openmetrics-text; version=1.0.0";
        let run = |o: &LoopOptions| {
            let mut app = Recorder::default();
            let (_, res, _) = append(
                &mut app,
                body,
                om,
                10_000,
                &target,
                o,
                &mut Cache::default(),
            );
            res.unwrap();
            app.0
        };
        let a = r#"{__name__="a_total", job="j"}"#.to_string();
        let g = r#"{__name__="g", job="j"}"#.to_string();
        assert_eq!(
            run(&on),
            vec![
                (a.clone(), 1500, 0.0),
                (a.clone(), 10_000, 3.0),
                (g.clone(), 10_000, 1.0)
            ]
        );
        let created = r#"{__name__="a_created", job="j"}"#.to_string();
        assert_eq!(
            run(&off),
            vec![(a, 10_000, 3.0), (created, 10_000, 1.5), (g, 10_000, 1.0)]
        );
    }

    #[test]
    fn clashing_labels_are_exported_repeatedly_unless_honored() {
        let target = Labels::from_pairs([("job", "j"), ("instance", "i")]);
        let exposed = Labels::from_pairs([("__name__", "m"), ("job", "x"), ("exported_job", "y")]);
        let got = mutate_sample_labels(&exposed, &target, false, &[]).unwrap();
        assert_eq!(
            got.to_string(),
            r#"{__name__="m", exported_exported_job="x", exported_job="y", instance="i", job="j"}"#
        );
        let honored = mutate_sample_labels(&exposed, &target, true, &[]).unwrap();
        assert_eq!(
            honored.to_string(),
            r#"{__name__="m", exported_job="y", instance="i", job="x"}"#
        );
    }

    #[derive(Default)]
    struct Recorder(Vec<(String, Timestamp, f64)>);

    impl Appender for Recorder {
        fn append(
            &mut self,
            _: SeriesRef,
            l: &Labels,
            t: Timestamp,
            v: f64,
        ) -> storage::Result<SeriesRef> {
            self.0.push((l.to_string(), t, v));
            Ok(0)
        }
        fn commit(self: Box<Self>) -> storage::Result<()> {
            Ok(())
        }
        fn rollback(self: Box<Self>) -> storage::Result<()> {
            Ok(())
        }
    }

    /// Records exemplars; rejects negative ones as out of order.
    #[derive(Default)]
    struct ExemplarRecorder(Vec<(String, storage::Exemplar)>);

    impl Appender for ExemplarRecorder {
        fn append(
            &mut self,
            _: SeriesRef,
            _: &Labels,
            _: Timestamp,
            _: f64,
        ) -> storage::Result<SeriesRef> {
            Ok(1)
        }
        fn append_exemplar(
            &mut self,
            r: SeriesRef,
            l: &Labels,
            e: &storage::Exemplar,
        ) -> storage::Result<SeriesRef> {
            assert_eq!(r, 1, "the sample's ref");
            if e.value < 0.0 {
                return Err(storage::Error::OutOfOrderExemplar);
            }
            self.0.push((l.to_string(), e.clone()));
            Ok(r)
        }
        fn commit(self: Box<Self>) -> storage::Result<()> {
            Ok(())
        }
        fn rollback(self: Box<Self>) -> storage::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn openmetrics_exemplars_follow_their_sample_and_out_of_order_ones_are_counted() {
        let o = options("");
        let target = Labels::from_pairs([("job", "j")]);
        let mut cache = Cache::default();
        let body = b"# TYPE a counter\na_total 1 # {trace_id=\"x\"} 0.5 123.456\n# TYPE b counter\nb_total 2 # {trace_id=\"y\"} -1\nc 3 # {trace_id=\"z\"} 7\n# EOF\n";
        let mut app = ExemplarRecorder::default();
        let (stats, res, _) = append(
            &mut app,
            body,
            "application/openmetrics-text; version=1.0.0",
            10_000,
            &target,
            &o,
            &mut cache,
        );
        res.unwrap();
        assert_eq!(stats.added, 3);
        let got: Vec<(&str, &str, f64, Timestamp, bool)> = app
            .0
            .iter()
            .map(|(s, e)| {
                (
                    s.as_str(),
                    e.labels.get("trace_id").unwrap_or(""),
                    e.value,
                    e.ts,
                    e.has_ts,
                )
            })
            .collect();
        // Without its own timestamp an exemplar takes the sample's.
        assert_eq!(
            got,
            [
                (r#"{__name__="a_total", job="j"}"#, "x", 0.5, 123_456, true),
                (r#"{__name__="c", job="j"}"#, "z", 7.0, 10_000, false),
            ]
        );
        assert_eq!(o.metrics.exemplar_out_of_order.get(), 1.0);
        // The cached series of the next scrape still carry their exemplars.
        let mut app = ExemplarRecorder::default();
        let (_, res, _) = append(
            &mut app,
            body,
            "application/openmetrics-text; version=1.0.0",
            20_000,
            &target,
            &o,
            &mut cache,
        );
        res.unwrap();
        assert_eq!(app.0.len(), 2);
        assert_eq!(o.metrics.exemplar_out_of_order.get(), 2.0);
    }

    #[test]
    fn series_missing_from_the_next_scrape_get_one_stale_marker() {
        let o = options("");
        let target = Labels::from_pairs([("job", "j")]);
        let mut cache = Cache::default();
        let ct = "text/plain; version=0.0.4";
        let mut app = Recorder::default();
        let (stats, res, _) = append(
            &mut app,
            b"a 1\nb 2\nc 3 5\n",
            ct,
            10,
            &target,
            &o,
            &mut cache,
        );
        res.unwrap();
        assert_eq!(
            stats,
            AppendStats {
                total: 3,
                added: 3,
                series_added: 3
            }
        );
        let mut app = Recorder::default();
        let (stats, res, _) = append(&mut app, b"a 1\n", ct, 20, &target, &o, &mut cache);
        res.unwrap();
        assert_eq!(
            stats,
            AppendStats {
                total: 1,
                added: 1,
                series_added: 0
            }
        );
        // b goes stale; c had an explicit timestamp, so it is not tracked.
        let stale: Vec<&str> = app
            .0
            .iter()
            .filter(|s| model::value::is_stale_nan(s.2))
            .map(|s| s.0.as_str())
            .collect();
        assert_eq!(stale, [r#"{__name__="b", job="j"}"#]);
        let mut app = Recorder::default();
        append(&mut app, b"a 1\n", ct, 30, &target, &o, &mut cache)
            .1
            .unwrap();
        assert!(app.0.iter().all(|s| !s.2.is_nan()), "no second marker");
    }

    #[test]
    fn lines_with_the_same_labels_share_one_stale_marker() {
        let o = options("");
        let target = Labels::from_pairs([("job", "j")]);
        let mut cache = Cache::default();
        let ct = "text/plain; version=0.0.4";
        let stale = |app: &Recorder| -> Vec<String> {
            app.0
                .iter()
                .filter(|s| model::value::is_stale_nan(s.2))
                .map(|s| s.0.clone())
                .collect()
        };
        // Two spellings of one series, then only one of them: the series is still there.
        let body = b"a{x=\"1\"} 1\na{x=\"1\",} 1\nb 2\n";
        append(
            &mut Recorder::default(),
            body,
            ct,
            10,
            &target,
            &o,
            &mut cache,
        )
        .1
        .unwrap();
        let mut app = Recorder::default();
        append(
            &mut app,
            b"a{x=\"1\",} 1\nb 2\n",
            ct,
            20,
            &target,
            &o,
            &mut cache,
        )
        .1
        .unwrap();
        assert!(stale(&app).is_empty(), "{:?}", app.0);
        // Both gone (an empty body, as after a failed scrape): one marker per series.
        let mut app = Recorder::default();
        append(&mut app, b"", ct, 30, &target, &o, &mut cache)
            .1
            .unwrap();
        let mut got = stale(&app);
        got.sort();
        assert_eq!(
            got,
            [
                r#"{__name__="a", job="j", x="1"}"#,
                r#"{__name__="b", job="j"}"#
            ]
        );
    }

    #[test]
    fn type_and_unit_labels_come_from_the_family_metadata() {
        let target = Labels::from_pairs([("job", "j")]);
        let run = |on: bool, body: &[u8], ct: &str| -> Vec<String> {
            let o = LoopOptions {
                type_and_unit_labels: on,
                ..options("")
            };
            let mut app = Recorder::default();
            let (_, res, _) = append(&mut app, body, ct, 1, &target, &o, &mut Cache::default());
            res.unwrap();
            app.0.into_iter().map(|s| s.0).collect()
        };
        let text = b"# TYPE a_total counter\na_total 1\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\nother 3\nu{__type__=\"mine\"} 4\n# TYPE g gauge\ng{__type__=\"mine\"} 5\n# TYPE x untyped\nx 6\n";
        let ct = "text/plain; version=0.0.4";
        assert_eq!(
            run(true, text, ct),
            [
                r#"{__name__="a_total", __type__="counter", job="j"}"#,
                r#"{__name__="h_bucket", __type__="histogram", job="j", le="1.0"}"#,
                r#"{__name__="h_count", __type__="histogram", job="j"}"#,
                // Not of the family whose TYPE came last: no metadata.
                r#"{__name__="other", job="j"}"#,
                r#"{__name__="u", __type__="mine", job="j"}"#,
                // The metadata replaces an exposed label of the same name.
                r#"{__name__="g", __type__="gauge", job="j"}"#,
                // Unknown types are not written.
                r#"{__name__="x", job="j"}"#,
            ]
        );
        // Off: the series as exposed.
        assert_eq!(run(false, text, ct)[0], r#"{__name__="a_total", job="j"}"#);

        let om = b"# TYPE req_seconds counter\n# UNIT req_seconds seconds\nreq_seconds_total{__unit__=\"ms\"} 1\n# UNIT temp_celsius celsius\ntemp_celsius 20\n# TYPE build info\nbuild_info{v=\"1\"} 1\n# EOF\n";
        assert_eq!(
            run(true, om, "application/openmetrics-text; version=1.0.0"),
            [
                r#"{__name__="req_seconds_total", __type__="counter", __unit__="seconds", job="j"}"#,
                r#"{__name__="temp_celsius", __unit__="celsius", job="j"}"#,
                r#"{__name__="build_info", __type__="info", job="j", v="1"}"#,
            ]
        );
    }

    /// Records metadata updates; refs are the order series were first seen, from 1.
    #[derive(Default)]
    struct MetaRecorder {
        refs: Vec<String>,
        updates: Vec<(SeriesRef, String, storage::Metadata)>,
        /// Samples of series whose labels contain this are rejected as out of order.
        reject: Option<&'static str>,
    }

    impl Appender for MetaRecorder {
        fn append(
            &mut self,
            _: SeriesRef,
            l: &Labels,
            _: Timestamp,
            _: f64,
        ) -> storage::Result<SeriesRef> {
            let l = l.to_string();
            if self.reject.is_some_and(|r| l.contains(r)) {
                return Err(storage::Error::OutOfOrderSample);
            }
            let i = match self.refs.iter().position(|x| *x == l) {
                Some(i) => i,
                None => {
                    self.refs.push(l);
                    self.refs.len() - 1
                }
            };
            Ok(i as SeriesRef + 1)
        }
        fn update_metadata(
            &mut self,
            r: SeriesRef,
            l: &Labels,
            m: &storage::Metadata,
        ) -> storage::Result<SeriesRef> {
            let name = l.metric_name().unwrap_or_default().to_string();
            self.updates.push((r, name, m.clone()));
            Ok(r)
        }
        fn commit(self: Box<Self>) -> storage::Result<()> {
            Ok(())
        }
        fn rollback(self: Box<Self>) -> storage::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn metadata_goes_to_the_appender_for_new_series_and_changed_families() {
        let target = Labels::from_pairs([("job", "j")]);
        let o = LoopOptions {
            append_metadata: true,
            ..options("")
        };
        let ct = "text/plain; version=0.0.4";
        let mut cache = Cache::default();
        let mut app = MetaRecorder::default();
        let mut scrape = |app: &mut MetaRecorder, body: &[u8]| {
            let before = app.updates.len();
            let (_, res, _) = append(app, body, ct, 1, &target, &o, &mut cache);
            res.unwrap();
            app.updates[before..]
                .iter()
                .map(|(r, n, m)| (*r, n.clone(), m.metric_type, m.help.clone()))
                .collect::<Vec<_>>()
        };
        use storage::MetricType as M;
        let body = b"# HELP a_total Requests.\n# TYPE a_total counter\na_total{x=\"1\"} 1\na_total{x=\"2\"} 1\nother 2\n# TYPE g gauge\ng 3\n";
        assert_eq!(
            scrape(&mut app, body),
            [
                (1, "a_total".into(), M::Counter, "Requests.".into()),
                (2, "a_total".into(), M::Counter, "Requests.".into()),
                // Not part of the family whose metadata came last: nothing.
                (4, "g".into(), M::Gauge, String::new()),
            ]
        );
        // Nothing changed, no new series: nothing.
        assert!(scrape(&mut app, body).is_empty());
        // The help of a_total changes: every series of the family gets it again.
        let changed = b"# HELP a_total Requests served.\n# TYPE a_total counter\na_total{x=\"1\"} 1\na_total{x=\"2\"} 1\nother 2\n# TYPE g gauge\ng 3\ng{new=\"y\"} 3\n";
        assert_eq!(
            scrape(&mut app, changed),
            [
                (1, "a_total".into(), M::Counter, "Requests served.".into()),
                (2, "a_total".into(), M::Counter, "Requests served.".into()),
                (5, "g".into(), M::Gauge, String::new()),
            ]
        );
        // A rejected sample's series gets its metadata all the same (as Go).
        let mut rejecting = MetaRecorder {
            reject: Some("temp"),
            ..MetaRecorder::default()
        };
        let tu = b"# TYPE temp gauge\n# HELP temp T.\ntemp 1\n";
        let (_, res, _) = append(
            &mut rejecting,
            tu,
            ct,
            1,
            &target,
            &o,
            &mut Cache::default(),
        );
        res.unwrap();
        assert_eq!(rejecting.updates.len(), 1);
        assert_eq!(
            (rejecting.updates[0].0, rejecting.updates[0].2.help.as_str()),
            (0, "T.")
        );
        // Off: never.
        let mut off = MetaRecorder::default();
        let (_, res, _) = append(
            &mut off,
            body,
            ct,
            1,
            &target,
            &options(""),
            &mut Cache::default(),
        );
        res.unwrap();
        assert!(off.updates.is_empty());
    }

    #[test]
    fn report_series_get_their_metadata_once() {
        let target = Labels::from_pairs([("job", "j")]);
        let mut app = MetaRecorder::default();
        let mut sent = [false; REPORT_NAMES.len()];
        let values = Some([1.0; 8]);
        report(&mut app, &target, 1, false, values, Some(&mut sent));
        report(&mut app, &target, 2, false, values, Some(&mut sent));
        let got: Vec<(SeriesRef, &str, &str)> = app
            .updates
            .iter()
            .map(|(r, n, m)| {
                assert_eq!(m.metric_type, storage::MetricType::Gauge);
                (*r, n.as_str(), m.unit.as_str())
            })
            .collect();
        assert_eq!(
            got,
            [
                (1, "up", "targets"),
                (2, "scrape_duration_seconds", "seconds"),
                (3, "scrape_samples_scraped", "samples"),
                (4, "scrape_samples_post_metric_relabeling", "samples"),
                (5, "scrape_series_added", "series"),
            ]
        );
        // With the extra metrics on later, only the new ones get it.
        report(&mut app, &target, 3, true, values, Some(&mut sent));
        assert_eq!(app.updates.len(), 8);
        assert_eq!(app.updates[7].1, "scrape_body_size_bytes");
        // Without `append_metadata`: never.
        let mut off = MetaRecorder::default();
        report(&mut off, &target, 1, true, values, None);
        assert!(off.updates.is_empty());
    }

    #[test]
    fn series_belong_to_a_family_as_go_decides() {
        use textparse::MetricType as T;
        for (name, family, typ, want) in [
            ("a_total", "a", T::Counter, true),
            ("a_total", "a_total", T::Counter, true),
            ("a", "a_total", T::Counter, false),
            ("a_created", "a", T::Counter, false),
            ("h_bucket", "h", T::Histogram, true),
            ("h_sum", "h", T::Summary, true),
            ("h_bucket", "h", T::Summary, false),
            ("g_gsum", "g", T::GaugeHistogram, true),
            ("b_info", "b", T::Info, true),
            ("g", "g", T::Gauge, true),
            ("g2", "g", T::Gauge, false),
            ("x", "y", T::Unknown, false),
        ] {
            assert_eq!(
                is_series_part_of_family(name, family, typ),
                want,
                "{name} {family} {typ:?}"
            );
        }
    }

    #[test]
    fn rejected_samples_and_limit_hits_are_counted_once_per_scrape() {
        let target = Labels::from_pairs([("job", "j")]);
        let ct = "text/plain; version=0.0.4";
        let o = options("");
        let mut app = MetaRecorder {
            reject: Some("temp"),
            ..MetaRecorder::default()
        };
        let body = b"temp 1\ntemp{a=\"b\"} 2\nok 3\n";
        let (_, res, _) = append(&mut app, body, ct, 1, &target, &o, &mut Cache::default());
        res.unwrap();
        assert_eq!(o.metrics.sample_out_of_order.get(), 2.0);
        assert_eq!(o.metrics.sample_duplicate.get(), 0.0);

        let o = options("  sample_limit: 1\n");
        for _ in 0..2 {
            let (_, res, _) = append(
                &mut Recorder::default(),
                b"a 1\nb 1\nc 1\n",
                ct,
                1,
                &target,
                &o,
                &mut Cache::default(),
            );
            assert!(matches!(res, Err(Error::SampleLimit)));
        }
        assert_eq!(o.metrics.exceeded_sample_limit.get(), 2.0);

        let o = options("  label_limit: 2\n");
        let (_, res, _) = append(
            &mut Recorder::default(),
            b"m{a=\"1\",b=\"2\"} 1\nm{a=\"1\",b=\"3\"} 1\n",
            ct,
            1,
            &target,
            &o,
            &mut Cache::default(),
        );
        assert!(res.is_err());
        assert_eq!(o.metrics.exceeded_label_limits.get(), 1.0);
        assert_eq!(o.metrics.exceeded_sample_limit.get(), 0.0);
    }

    #[test]
    fn limits_fail_with_prometheus_messages() {
        let target = Labels::from_pairs([("job", "j")]);
        let ct = "text/plain; version=0.0.4";
        let o = options("  label_limit: 2\n");
        let (_, res, _) = append(
            &mut Recorder::default(),
            b"m{a=\"1\",b=\"2\"} 1\n",
            ct,
            1,
            &target,
            &o,
            &mut Cache::default(),
        );
        assert_eq!(
            res.unwrap_err().to_string(),
            "label_limit exceeded (metric: m, number of labels: 4, limit: 2)"
        );
        let o = options("  label_name_length_limit: 3\n");
        let (_, res, _) = append(
            &mut Recorder::default(),
            b"m{long=\"1\"} 1\n",
            ct,
            1,
            &target,
            &o,
            &mut Cache::default(),
        );
        assert_eq!(
            res.unwrap_err().to_string(),
            "label_name_length_limit exceeded (metric: m, label name: __name__, length: 8, limit: 3)"
        );
        let o = options("  metric_relabel_configs: [{regex: __name__, action: labeldrop}]\n");
        let (_, res, _) = append(
            &mut Recorder::default(),
            b"m 1\n",
            ct,
            1,
            &target,
            &o,
            &mut Cache::default(),
        );
        assert_eq!(
            res.unwrap_err().to_string(),
            "missing metric name (__name__ label)"
        );
        let o = options("  sample_limit: 1\n");
        let (stats, res, _) = append(
            &mut Recorder::default(),
            b"a 1\nb 1\nc 1\n",
            ct,
            1,
            &target,
            &o,
            &mut Cache::default(),
        );
        assert_eq!(res.unwrap_err().to_string(), "sample limit exceeded");
        assert_eq!(stats.total, 3, "counting goes on after the limit, as in Go");
    }

    #[test]
    fn samples_over_the_sample_limit_still_count_as_added() {
        // Go's `added++` runs for a rejected sample too, so that
        // scrape_samples_post_metric_relabeling reports all samples after relabelling.
        let target = Labels::from_pairs([("job", "j")]);
        let o = options("  sample_limit: 2\n");
        let (stats, res, _) = append(
            &mut Recorder::default(),
            b"a 1\nb 1\nc 1\nd 1\n",
            "text/plain; version=0.0.4",
            1,
            &target,
            &o,
            &mut Cache::default(),
        );
        assert!(matches!(res, Err(Error::SampleLimit)));
        assert_eq!((stats.total, stats.added, stats.series_added), (4, 4, 2));
        // Samples the storage rejects softly count too.
        let mut app = MetaRecorder {
            reject: Some("temp"),
            ..MetaRecorder::default()
        };
        let (stats, res, _) = append(
            &mut app,
            b"temp 1\nok 3\n",
            "text/plain; version=0.0.4",
            1,
            &target,
            &options(""),
            &mut Cache::default(),
        );
        res.unwrap();
        assert_eq!(stats.added, 2);
    }

    #[test]
    fn timestamps_not_honoured_do_not_bypass_staleness() {
        let target = Labels::from_pairs([("job", "j")]);
        let ct = "text/plain; version=0.0.4";
        for (extra, stale) in [("", false), ("  honor_timestamps: false\n", true)] {
            let o = options(extra);
            let mut cache = Cache::default();
            append(
                &mut Recorder::default(),
                b"a 1 5\n",
                ct,
                10,
                &target,
                &o,
                &mut cache,
            )
            .1
            .unwrap();
            let mut app = Recorder::default();
            append(&mut app, b"", ct, 20, &target, &o, &mut cache)
                .1
                .unwrap();
            let marked = app.0.iter().any(|s| model::value::is_stale_nan(s.2));
            assert_eq!(marked, stale, "{extra:?}");
        }
    }
}
