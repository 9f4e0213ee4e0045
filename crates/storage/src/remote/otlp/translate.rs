//! OTLP metrics to Prometheus series, as Prometheus's `otlptranslator/prometheusremotewrite`
//! converts them (`FromMetrics`, `createAttributes`, the per-type `add*DataPoints` and
//! `addResourceTargetInfo`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use model::Labels;
use prompb::otlp::{
    AggregationTemporality, ExportMetricsServiceRequest, FLAG_NO_RECORDED_VALUE,
    HistogramDataPoint, KeyValue, Metric, NumberDataPoint, ResourceMetrics, SummaryDataPoint,
    exemplar, metric::Data, number_data_point,
};

use crate::{Exemplar, Metadata, MetricType};

use super::histogram::{explicit_to_custom_buckets, exponential_to_native};
use super::naming::{LabelNamer, MetricKind, metric_name, unit_name};
use super::value::as_string;
use super::{DeltaTemporality, OtlpOptions};
use model::Histogram;

const SERVICE_NAME: &str = "service.name";
const SERVICE_NAMESPACE: &str = "service.namespace";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";

/// At most this many `target_info` samples per resource and request: a resource whose data
/// points span more intervals keeps the newest ones (Prometheus has no cap; a point stamped
/// 0 next to a current one would otherwise ask for millions of samples).
const MAX_TARGET_INFO_SAMPLES: u64 = 10_000;

/// The series a request translates into, and what could not be translated.
#[derive(Debug, Default)]
pub(crate) struct Translated {
    /// Series in the order they first appeared, each with its samples in request order.
    pub(crate) series: Vec<(Labels, Vec<(i64, f64)>)>,
    /// The start timestamps of the samples of `series` (0: none), in the same shape.
    pub(crate) series_start: Vec<Vec<i64>>,
    /// The metadata of each of `series` (its metric family's).
    pub(crate) series_metadata: Vec<Metadata>,
    /// Exemplars of sums and histogram buckets, by index into `series`.
    pub(crate) exemplars: Vec<(usize, Exemplar)>,
    /// Native histogram series (exponential histograms, and explicit ones with
    /// `convert_histograms_to_nhcb`), in the order they first appeared.
    pub(crate) histograms: Vec<(Labels, Vec<(i64, Histogram)>)>,
    /// The start timestamps of the samples of `histograms` (0: none), in the same shape.
    pub(crate) histogram_start: Vec<Vec<i64>>,
    /// The metadata of each of `histograms`.
    pub(crate) histogram_metadata: Vec<Metadata>,
    /// Exemplars of the native histograms, by index into `histograms`.
    pub(crate) histogram_exemplars: Vec<(usize, Exemplar)>,
    /// Data points refused (unsupported kinds, invalid temporality, invalid names).
    pub(crate) refused_points: usize,
    /// Why points were refused or metrics dropped, one entry per problem.
    pub(crate) messages: Vec<String>,
}

/// Translates a request into series.
pub(crate) fn translate(req: &ExportMetricsServiceRequest, opts: &OtlpOptions) -> Translated {
    let mut c = Converter {
        opts,
        namer: LabelNamer {
            utf8_allowed: !opts.translation_strategy.escapes(),
            underscore_sanitization: opts.label_name_underscore_sanitization,
            preserve_multiple_underscores: opts.label_name_preserve_multiple_underscores,
        },
        out: Translated::default(),
        index: HashMap::new(),
        histogram_index: HashMap::new(),
        type_and_unit: None,
        delta: false,
        metadata: Metadata::default(),
    };
    for rm in &req.resource_metrics {
        c.resource_metrics(rm);
    }
    c.out
}

/// A label set under construction, with `labels.Builder` semantics: setting the empty
/// value deletes the label.
#[derive(Default, Clone)]
struct LabelMap(BTreeMap<String, String>);

impl LabelMap {
    fn set(&mut self, name: String, value: String) {
        if value.is_empty() {
            self.0.remove(&name);
        } else {
            self.0.insert(name, value);
        }
    }

    fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    /// A copy with `__name__` and the extra pairs set.
    fn labels_with(&self, name: &str, extra: Option<(&str, String)>) -> Labels {
        let mut m = self.clone();
        if let Some((n, v)) = extra {
            m.set(n.to_owned(), v);
        }
        m.set("__name__".to_owned(), name.to_owned());
        m.into_labels()
    }

    fn into_labels(self) -> Labels {
        let pairs: Vec<(&str, &str)> = self
            .0
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        Labels::from_sorted_pairs(&pairs)
    }
}

/// What a native histogram point carries besides its histogram.
struct NativePoint<'a> {
    attributes: &'a [KeyValue],
    exemplars: &'a [prompb::otlp::Exemplar],
    start_time_unix_nano: u64,
    time_unix_nano: u64,
}

/// The instrumentation scope of the metrics being translated.
struct Scope<'a> {
    name: &'a str,
    version: &'a str,
    schema_url: &'a str,
    attributes: &'a [KeyValue],
}

/// The first attribute named `key` (pdata's `Map.Get`).
fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a KeyValue> {
    attrs.iter().find(|kv| kv.key == key)
}

/// OTLP nanoseconds to Prometheus milliseconds (Go's `int64(ns) / 1e6`).
fn millis(ns: u64) -> i64 {
    (ns as i64) / 1_000_000
}

fn point_value(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        Some(number_data_point::Value::AsInt(v)) => v as f64,
        None => 0.0,
    }
}

/// Sample values of a point: the staleness marker when it flags "no recorded value".
fn value_or_stale(flags: u32, v: f64) -> f64 {
    if flags & FLAG_NO_RECORDED_VALUE != 0 {
        model::value::stale_nan()
    } else {
        v
    }
}

fn point_count(data: Option<&Data>) -> usize {
    match data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

fn point_times(data: Option<&Data>) -> Vec<u64> {
    match data {
        Some(Data::Gauge(g)) => g.data_points.iter().map(|p| p.time_unix_nano).collect(),
        Some(Data::Sum(s)) => s.data_points.iter().map(|p| p.time_unix_nano).collect(),
        Some(Data::Histogram(h)) => h.data_points.iter().map(|p| p.time_unix_nano).collect(),
        Some(Data::ExponentialHistogram(h)) => {
            h.data_points.iter().map(|p| p.time_unix_nano).collect()
        }
        Some(Data::Summary(s)) => s.data_points.iter().map(|p| p.time_unix_nano).collect(),
        None => Vec::new(),
    }
}

struct Converter<'a> {
    opts: &'a OtlpOptions,
    namer: LabelNamer,
    out: Translated,
    index: HashMap<Labels, usize>,
    histogram_index: HashMap<Labels, usize>,
    /// With `type_and_unit_labels`: the current metric's `__type__` (none for unknown) and
    /// `__unit__` (empty for none) values.
    type_and_unit: Option<(Option<&'static str>, String)>,
    /// The current metric has delta temporality (ingested as it is).
    delta: bool,
    /// The current metric's metadata.
    metadata: Metadata,
}

impl Converter<'_> {
    fn refuse(&mut self, points: usize, message: String) {
        self.out.refused_points += points;
        self.out.messages.push(message);
    }

    /// Adds a sample with its start timestamp `st` (0: none) to the series `labels`;
    /// returns the series' index.
    fn add_sample(&mut self, labels: Labels, st: i64, t: i64, v: f64) -> usize {
        match self.index.get(&labels) {
            Some(&i) => {
                self.out.series[i].1.push((t, v));
                self.out.series_start[i].push(st);
                if self.out.series_metadata[i] != self.metadata {
                    self.out.series_metadata[i] = self.metadata.clone();
                }
                i
            }
            None => {
                let i = self.out.series.len();
                self.index.insert(labels.clone(), i);
                self.out.series.push((labels, vec![(t, v)]));
                self.out.series_start.push(vec![st]);
                self.out.series_metadata.push(self.metadata.clone());
                i
            }
        }
    }

    /// Adds a native histogram sample; returns the series' index in `histograms`.
    fn add_histogram(&mut self, labels: Labels, st: i64, t: i64, h: Histogram) -> usize {
        match self.histogram_index.get(&labels) {
            Some(&i) => {
                self.out.histograms[i].1.push((t, h));
                self.out.histogram_start[i].push(st);
                if self.out.histogram_metadata[i] != self.metadata {
                    self.out.histogram_metadata[i] = self.metadata.clone();
                }
                i
            }
            None => {
                let i = self.out.histograms.len();
                self.histogram_index.insert(labels.clone(), i);
                self.out.histograms.push((labels, vec![(t, h)]));
                self.out.histogram_start.push(vec![st]);
                self.out.histogram_metadata.push(self.metadata.clone());
                i
            }
        }
    }

    /// A native histogram point (already converted, or the reason it cannot be) under the
    /// metric's own name, with its exemplars.
    fn native_histogram_point(
        &mut self,
        converted: Result<Histogram, String>,
        point: NativePoint<'_>,
        name: &str,
        resource: &[KeyValue],
        scope: &Scope<'_>,
    ) {
        let NativePoint {
            attributes,
            exemplars,
            start_time_unix_nano,
            time_unix_nano,
        } = point;
        let h = match converted {
            Ok(mut h) => {
                if self.delta {
                    // Prometheus stores delta histograms as gauge histograms, so that their
                    // ups and downs do not cut chunks as counter resets.
                    h.counter_reset_hint = model::CounterResetHint::Gauge;
                }
                h
            }
            Err(e) => {
                self.refuse(
                    1,
                    format!(
                        "metric {}: data point refused: {e}",
                        model::strconv::quote(name)
                    ),
                );
                return;
            }
        };
        let Some(exemplars) = self.point_exemplars(exemplars, name) else {
            return;
        };
        let Some(base) = self.point_labels(attributes, name, resource, scope) else {
            return;
        };
        let i = self.add_histogram(
            base.labels_with(name, None),
            millis(start_time_unix_nano),
            millis(time_unix_nano),
            h,
        );
        self.out
            .histogram_exemplars
            .extend(exemplars.into_iter().map(|e| (i, e)));
    }

    /// A point's exemplars, or `None` after refusing the point for an exemplar without a
    /// value.
    fn point_exemplars(
        &mut self,
        list: &[prompb::otlp::Exemplar],
        name: &str,
    ) -> Option<Vec<Exemplar>> {
        match list.iter().map(convert_exemplar).collect() {
            Ok(v) => Some(v),
            Err(e) => {
                self.refuse(
                    1,
                    format!(
                        "metric {}: data point refused: {e}",
                        model::strconv::quote(name)
                    ),
                );
                None
            }
        }
    }

    fn resource_metrics(&mut self, rm: &ResourceMetrics) {
        let resource: &[KeyValue] = rm.resource.as_ref().map_or(&[], |r| &r.attributes);
        let (mut earliest, mut latest) = (u64::MAX, 0u64);
        for sm in &rm.scope_metrics {
            let scope = Scope {
                name: sm.scope.as_ref().map_or("", |s| &s.name),
                version: sm.scope.as_ref().map_or("", |s| &s.version),
                schema_url: &sm.schema_url,
                attributes: sm.scope.as_ref().map_or(&[], |s| &s.attributes),
            };
            for metric in &sm.metrics {
                for t in point_times(metric.data.as_ref()) {
                    earliest = earliest.min(t);
                    latest = latest.max(t);
                }
                self.metric(metric, resource, &scope);
            }
        }
        if earliest < u64::MAX {
            self.target_info(resource, earliest, latest);
        }
    }

    fn metric(&mut self, metric: &Metric, resource: &[KeyValue], scope: &Scope<'_>) {
        let points = point_count(metric.data.as_ref());
        let (kind, temporality) = match &metric.data {
            None => {
                self.out.messages.push(format!(
                    "could not get aggregation temporality for {} as it has unsupported metric type Empty",
                    metric.name
                ));
                return;
            }
            Some(Data::Gauge(_)) => (MetricKind::Gauge, None),
            Some(Data::Summary(_)) => (MetricKind::Summary, None),
            Some(Data::Sum(s)) => (
                if s.is_monotonic {
                    MetricKind::MonotonicCounter
                } else {
                    MetricKind::NonMonotonicCounter
                },
                Some(s.aggregation_temporality),
            ),
            Some(Data::Histogram(h)) => (MetricKind::Histogram, Some(h.aggregation_temporality)),
            Some(Data::ExponentialHistogram(h)) => (
                MetricKind::ExponentialHistogram,
                Some(h.aggregation_temporality),
            ),
        };
        let delta = temporality == Some(AggregationTemporality::Delta as i32);
        let delta_ingested = delta && self.opts.delta == DeltaTemporality::Ingest;
        if let Some(t) = temporality
            && t != AggregationTemporality::Cumulative as i32
            && !delta_ingested
        {
            let why = if delta {
                "delta temporality is not supported"
            } else {
                "the temporality is unspecified"
            };
            self.refuse(
                points,
                format!(
                    "invalid temporality and type combination for metric {} ({why}): {points} data points refused",
                    model::strconv::quote(&metric.name)
                ),
            );
            return;
        }
        let strategy = self.opts.translation_strategy;
        let name = match metric_name(
            &metric.name,
            &metric.unit,
            kind,
            strategy.escapes(),
            strategy.adds_suffixes(),
        ) {
            Ok(name) => name,
            Err(e) => {
                self.refuse(points, format!("{e}: {points} data points refused"));
                return;
            }
        };
        if points == 0 {
            self.out
                .messages
                .push(format!("empty data points. {} is dropped", metric.name));
            return;
        }
        self.delta = delta_ingested;
        // Prometheus's metadata type: deltas are "unknown".
        let metric_type = match kind {
            _ if delta_ingested => MetricType::Unknown,
            MetricKind::Gauge | MetricKind::NonMonotonicCounter => MetricType::Gauge,
            MetricKind::MonotonicCounter => MetricType::Counter,
            MetricKind::Histogram | MetricKind::ExponentialHistogram => MetricType::Histogram,
            MetricKind::Summary => MetricType::Summary,
        };
        let unit = if metric.unit.is_empty() {
            String::new()
        } else {
            unit_name(&metric.unit, !strategy.escapes())
        };
        self.type_and_unit = self.opts.type_and_unit_labels.then(|| {
            // "unknown" adds no label.
            let kind = (metric_type != MetricType::Unknown).then(|| metric_type.as_str());
            (kind, unit.clone())
        });
        self.metadata = Metadata {
            metric_type,
            unit,
            help: metric.description.clone(),
        };
        match &metric.data {
            Some(Data::Gauge(g)) => {
                for p in &g.data_points {
                    // Prometheus keeps no exemplars of gauges.
                    self.number_point(p, &name, resource, scope, false);
                }
            }
            Some(Data::Sum(s)) => {
                for p in &s.data_points {
                    self.number_point(p, &name, resource, scope, true);
                }
            }
            Some(Data::Histogram(h)) => {
                for p in &h.data_points {
                    if self.opts.convert_histograms_to_nhcb {
                        let nhcb = explicit_to_custom_buckets(p);
                        self.native_histogram_point(
                            Ok(nhcb),
                            NativePoint {
                                attributes: &p.attributes,
                                exemplars: &p.exemplars,
                                start_time_unix_nano: p.start_time_unix_nano,
                                time_unix_nano: p.time_unix_nano,
                            },
                            &name,
                            resource,
                            scope,
                        );
                    } else {
                        self.histogram_point(p, &name, resource, scope);
                    }
                }
            }
            Some(Data::ExponentialHistogram(h)) => {
                for p in &h.data_points {
                    self.native_histogram_point(
                        exponential_to_native(p),
                        NativePoint {
                            attributes: &p.attributes,
                            exemplars: &p.exemplars,
                            start_time_unix_nano: p.start_time_unix_nano,
                            time_unix_nano: p.time_unix_nano,
                        },
                        &name,
                        resource,
                        scope,
                    );
                }
            }
            Some(Data::Summary(s)) => {
                for p in &s.data_points {
                    self.summary_point(p, &name, resource, scope);
                }
            }
            None => {}
        }
    }

    /// The labels of a point: its attributes (sanitized, merged with `;` where names
    /// collide), promoted resource attributes, scope labels, `job` and `instance`.
    fn base_labels(
        &mut self,
        attributes: &[KeyValue],
        resource: &[KeyValue],
        scope: Option<&Scope<'_>>,
        ignore: &[&str],
        promote: bool,
    ) -> Result<LabelMap, String> {
        let namer = self.namer;
        let mut sorted: Vec<(&str, String)> = attributes
            .iter()
            .filter(|kv| !ignore.contains(&kv.key.as_str()))
            .map(|kv| (kv.key.as_str(), as_string(kv.value.as_ref())))
            .collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let mut m = LabelMap::default();
        for (key, value) in sorted {
            // With UTF-8 names the namer only refuses empty and all-underscore names.
            let name = namer.build(key)?;
            let existing = m.get(&name);
            if existing.is_empty() {
                m.set(name, value);
            } else {
                let joined = format!("{existing};{value}");
                m.set(name, joined);
            }
        }
        if promote {
            let o = self.opts;
            for kv in resource {
                let wanted = if o.promote_all_resource_attributes {
                    !o.ignore_resource_attributes.contains(&kv.key)
                } else {
                    o.promote_resource_attributes.contains(&kv.key)
                };
                if wanted {
                    let name = namer.build(&kv.key)?;
                    if m.get(&name).is_empty() {
                        m.set(name, as_string(kv.value.as_ref()));
                    }
                }
            }
        }
        if let Some(scope) =
            scope.filter(|s| self.opts.promote_scope_metadata && !s.name.is_empty())
        {
            for kv in scope.attributes {
                let name = namer.build(&format!("otel_scope_{}", kv.key))?;
                m.set(name, as_string(kv.value.as_ref()));
            }
            m.set("otel_scope_name".into(), scope.name.to_owned());
            m.set("otel_scope_version".into(), scope.version.to_owned());
            m.set("otel_scope_schema_url".into(), scope.schema_url.to_owned());
        }
        if let Some(service) = attr(resource, SERVICE_NAME) {
            let mut job = as_string(service.value.as_ref());
            if let Some(ns) = attr(resource, SERVICE_NAMESPACE) {
                job = format!("{}/{job}", as_string(ns.value.as_ref()));
            }
            m.set("job".into(), job);
        }
        if let Some(instance) = attr(resource, SERVICE_INSTANCE_ID) {
            m.set("instance".into(), as_string(instance.value.as_ref()));
        }
        Ok(m)
    }

    /// The base labels of a data point, or `None` after refusing it.
    fn point_labels(
        &mut self,
        attributes: &[KeyValue],
        name: &str,
        resource: &[KeyValue],
        scope: &Scope<'_>,
    ) -> Option<LabelMap> {
        match self.base_labels(attributes, resource, Some(scope), &[], true) {
            Ok(mut m) => {
                if let Some((kind, unit)) = &self.type_and_unit {
                    // Set after the attributes: they win over attributes of those names.
                    m.set("__type__".into(), kind.unwrap_or_default().to_owned());
                    m.set("__unit__".into(), unit.clone());
                }
                Some(m)
            }
            Err(e) => {
                self.refuse(
                    1,
                    format!(
                        "metric {}: data point refused: {e}",
                        model::strconv::quote(name)
                    ),
                );
                None
            }
        }
    }

    fn number_point(
        &mut self,
        p: &NumberDataPoint,
        name: &str,
        resource: &[KeyValue],
        scope: &Scope<'_>,
        with_exemplars: bool,
    ) {
        let exemplars = if with_exemplars {
            let Some(e) = self.point_exemplars(&p.exemplars, name) else {
                return;
            };
            e
        } else {
            Vec::new()
        };
        let Some(base) = self.point_labels(&p.attributes, name, resource, scope) else {
            return;
        };
        let v = value_or_stale(p.flags, point_value(p));
        // Gauges have no start (Prometheus passes none for them).
        let st = if with_exemplars {
            millis(p.start_time_unix_nano)
        } else {
            0
        };
        let i = self.add_sample(
            base.labels_with(name, None),
            st,
            millis(p.time_unix_nano),
            v,
        );
        self.out
            .exemplars
            .extend(exemplars.into_iter().map(|e| (i, e)));
    }

    fn histogram_point(
        &mut self,
        p: &HistogramDataPoint,
        name: &str,
        resource: &[KeyValue],
        scope: &Scope<'_>,
    ) {
        let Some(exemplars) = self.point_exemplars(&p.exemplars, name) else {
            return;
        };
        let Some(base) = self.point_labels(&p.attributes, name, resource, scope) else {
            return;
        };
        let t = millis(p.time_unix_nano);
        let st = millis(p.start_time_unix_nano);
        if let Some(sum) = p.sum {
            self.add_sample(
                base.labels_with(&format!("{name}_sum"), None),
                st,
                t,
                value_or_stale(p.flags, sum),
            );
        }
        let count = value_or_stale(p.flags, p.count as f64);
        self.add_sample(
            base.labels_with(&format!("{name}_count"), None),
            st,
            t,
            count,
        );
        let bucket = format!("{name}_bucket");
        let mut cumulative: u64 = 0;
        // Exemplars go to the first bucket whose bound is not below their value, taken in
        // the order they come (Prometheus expects them sorted by value, as SDKs send them).
        let mut exemplars = exemplars.into_iter().peekable();
        for (bound, n) in p.explicit_bounds.iter().zip(&p.bucket_counts) {
            cumulative = cumulative.wrapping_add(*n);
            let le = model::strconv::format_float_f(*bound);
            let i = self.add_sample(
                base.labels_with(&bucket, Some(("le", le))),
                st,
                t,
                value_or_stale(p.flags, cumulative as f64),
            );
            // Go's `ex.Value > bound` ends the bucket; NaN on either side does not.
            while let Some(e) =
                exemplars.next_if(|e| e.value.partial_cmp(bound) != Some(Ordering::Greater))
            {
                self.out.exemplars.push((i, e));
            }
        }
        let i = self.add_sample(
            base.labels_with(&bucket, Some(("le", "+Inf".into()))),
            st,
            t,
            count,
        );
        self.out.exemplars.extend(exemplars.map(|e| (i, e)));
    }

    fn summary_point(
        &mut self,
        p: &SummaryDataPoint,
        name: &str,
        resource: &[KeyValue],
        scope: &Scope<'_>,
    ) {
        let Some(base) = self.point_labels(&p.attributes, name, resource, scope) else {
            return;
        };
        let t = millis(p.time_unix_nano);
        let st = millis(p.start_time_unix_nano);
        self.add_sample(
            base.labels_with(&format!("{name}_sum"), None),
            st,
            t,
            value_or_stale(p.flags, p.sum),
        );
        self.add_sample(
            base.labels_with(&format!("{name}_count"), None),
            st,
            t,
            value_or_stale(p.flags, p.count as f64),
        );
        for q in &p.quantile_values {
            let quantile = model::strconv::format_float_f(q.quantile);
            self.add_sample(
                base.labels_with(name, Some(("quantile", quantile))),
                st,
                t,
                value_or_stale(p.flags, q.value),
            );
        }
    }

    /// `target_info` for a resource with attributes beyond the identifying ones: value 1 at
    /// the earliest point time, every half lookback delta after it, and the latest time.
    fn target_info(&mut self, resource: &[KeyValue], earliest: u64, latest: u64) {
        let identifying = [SERVICE_NAMESPACE, SERVICE_NAME, SERVICE_INSTANCE_ID];
        let present = identifying
            .iter()
            .filter(|k| attr(resource, k).is_some())
            .count();
        if resource.len() <= present {
            return;
        }
        let ignore: &[&str] = if self.opts.keep_identifying_resource_attributes {
            &[]
        } else {
            &identifying
        };
        let base = match self.base_labels(resource, resource, None, ignore, false) {
            Ok(m) => m,
            Err(e) => {
                self.out
                    .messages
                    .push(format!("target_info not generated: {e}"));
                return;
            }
        };
        if base.get("job").is_empty() && base.get("instance").is_empty() {
            return;
        }
        let labels = base.labels_with("target_info", None);
        self.metadata = Metadata {
            metric_type: MetricType::Gauge,
            unit: String::new(),
            help: "Target metadata".into(),
        };
        let lookback_ns = u64::try_from(self.opts.lookback_delta_ms)
            .ok()
            .filter(|&ms| ms > 0)
            .unwrap_or(300_000)
            .saturating_mul(1_000_000);
        let interval = (lookback_ns / 2).max(1);
        let mut start = earliest;
        let steps = (latest - earliest).div_ceil(interval);
        if steps > MAX_TARGET_INFO_SAMPLES {
            start = earliest + (steps - MAX_TARGET_INFO_SAMPLES) * interval;
        }
        let mut times = Vec::new();
        let mut ts = start;
        while ts < latest {
            times.push(unix_milli(ts));
            ts = ts.saturating_add(interval);
        }
        times.push(unix_milli(latest));
        // Resources sharing job and instance share the series: one sample per timestamp.
        let mut known: std::collections::HashSet<i64> = self
            .index
            .get(&labels)
            .map(|&i| self.out.series[i].1.iter().map(|s| s.0).collect())
            .unwrap_or_default();
        for t in times {
            if known.insert(t) {
                self.add_sample(labels.clone(), 0, t, 1.0);
            }
        }
    }
}

/// The most characters (label names and values together) an exemplar keeps its filtered
/// attributes within; beyond, only `trace_id` and `span_id` stay.
const MAX_EXEMPLAR_RUNES: usize = 128;

/// An OTLP exemplar as Prometheus's (`getPromExemplars`): `trace_id` and `span_id` in hex
/// when set, the filtered attributes when everything fits 128 characters.
fn convert_exemplar(e: &prompb::otlp::Exemplar) -> Result<Exemplar, String> {
    let value = match e.value {
        Some(exemplar::Value::AsDouble(v)) => v,
        Some(exemplar::Value::AsInt(v)) => v as f64,
        None => return Err("unsupported exemplar value type: Empty".into()),
    };
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut runes = 0;
    for (name, id) in [("trace_id", &e.trace_id), ("span_id", &e.span_id)] {
        if id.iter().any(|&b| b != 0) {
            let v = hex(id);
            runes += name.len() + v.len();
            pairs.push((name.to_owned(), v));
        }
    }
    let attrs: Vec<(String, String)> = e
        .filtered_attributes
        .iter()
        .map(|kv| (kv.key.clone(), as_string(kv.value.as_ref())))
        .collect();
    runes += attrs
        .iter()
        .map(|(k, v)| k.chars().count() + v.chars().count())
        .sum::<usize>();
    if runes <= MAX_EXEMPLAR_RUNES {
        pairs.extend(attrs);
    }
    let ts = unix_milli(e.time_unix_nano);
    Ok(Exemplar {
        labels: Labels::from_pairs(pairs),
        value,
        ts,
        has_ts: ts != 0,
    })
}

/// Go's `time.Unix(0, int64(ns)).UnixMilli()`: floor division.
fn unix_milli(ns: u64) -> i64 {
    (ns as i64).div_euclid(1_000_000)
}
