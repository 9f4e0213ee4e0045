//! Delta to cumulative conversion (`otlp-deltatocumulative`): the OpenTelemetry Collector's
//! `deltatocumulative` processor that Prometheus runs before translating, keeping one running
//! total per stream.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prompb::otlp::exponential_histogram_data_point::Buckets;
use prompb::otlp::{
    AggregationTemporality, ExponentialHistogramDataPoint, ExportMetricsServiceRequest,
    HistogramDataPoint, KeyValue, Metric, NumberDataPoint, metric::Data, number_data_point,
};

use super::value::as_string;

/// The processor's default `max_stale`: a stream without points for this long is forgotten.
pub const DEFAULT_MAX_STALE: Duration = Duration::from_secs(5 * 60);

/// Most buckets a merged exponential histogram keeps per side before it is downscaled (the
/// processor's `maxBuckets`).
const MAX_BUCKETS: i64 = 160;

/// How often expired streams are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The running totals of delta streams, shared by every OTLP request (Prometheus's
/// `--enable-feature=otlp-deltatocumulative`). A stream is a resource, scope, metric (name,
/// unit, kind, monotonicity) and point attributes. Its first point starts the total; a point
/// with another start time starts it again (a new writer); a point not newer than the total
/// is dropped as out of order; otherwise the point is added (sums: values; explicit
/// histograms: counts, sum and buckets, or a restart when the bounds change; exponential
/// histograms: merged at the coarser scale and the wider zero bucket). Streams without
/// points for `max_stale` are forgotten.
#[derive(Debug)]
pub struct DeltaToCumulative {
    max_stale: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    streams: HashMap<String, Stream>,
    last_sweep: Instant,
}

#[derive(Debug)]
struct Stream {
    total: Total,
    seen: Instant,
}

#[derive(Debug)]
enum Total {
    Number(NumberDataPoint),
    Histogram(HistogramDataPoint),
    Exponential(ExponentialHistogramDataPoint),
}

impl Default for DeltaToCumulative {
    fn default() -> Self {
        DeltaToCumulative::new(DEFAULT_MAX_STALE)
    }
}

/// A point the processor can accumulate.
trait Point: Clone {
    fn start(&self) -> u64;
    fn time(&self) -> u64;
    fn wrap(self) -> Total;
    fn unwrap_mut(total: &mut Total) -> Option<&mut Self>;
    /// Adds `next` to the total `self` (already checked to be newer, same start).
    fn add(&mut self, next: &Self);
    /// Takes the exemplars and flags of `from`.
    fn take_details(&mut self, from: Self);
}

impl Point for NumberDataPoint {
    fn take_details(&mut self, from: Self) {
        self.exemplars = from.exemplars;
        self.flags = from.flags;
    }
    fn start(&self) -> u64 {
        self.start_time_unix_nano
    }
    fn time(&self) -> u64 {
        self.time_unix_nano
    }
    fn wrap(self) -> Total {
        Total::Number(self)
    }
    fn unwrap_mut(total: &mut Total) -> Option<&mut Self> {
        match total {
            Total::Number(p) => Some(p),
            _ => None,
        }
    }
    fn add(&mut self, next: &Self) {
        use number_data_point::Value::{AsDouble, AsInt};
        self.value = Some(match (self.value, next.value) {
            (Some(AsInt(a)), Some(AsInt(b))) => AsInt(a.wrapping_add(b)),
            (a, b) => {
                let f = |v: Option<number_data_point::Value>| match v {
                    Some(AsInt(i)) => i as f64,
                    Some(AsDouble(d)) => d,
                    None => 0.0,
                };
                AsDouble(f(a) + f(b))
            }
        });
        self.time_unix_nano = next.time_unix_nano;
    }
}

impl Point for HistogramDataPoint {
    fn take_details(&mut self, from: Self) {
        self.exemplars = from.exemplars;
        self.flags = from.flags;
    }
    fn start(&self) -> u64 {
        self.start_time_unix_nano
    }
    fn time(&self) -> u64 {
        self.time_unix_nano
    }
    fn wrap(self) -> Total {
        Total::Histogram(self)
    }
    fn unwrap_mut(total: &mut Total) -> Option<&mut Self> {
        match total {
            Total::Histogram(p) => Some(p),
            _ => None,
        }
    }
    fn add(&mut self, next: &Self) {
        if self.explicit_bounds != next.explicit_bounds {
            // No way to merge other bounds: the total restarts from this point.
            *self = next.clone();
            return;
        }
        for (a, b) in self.bucket_counts.iter_mut().zip(&next.bucket_counts) {
            *a = a.wrapping_add(*b);
        }
        self.count = self.count.wrapping_add(next.count);
        self.sum = self.sum.zip(next.sum).map(|(a, b)| a + b);
        self.time_unix_nano = next.time_unix_nano;
    }
}

impl Point for ExponentialHistogramDataPoint {
    fn take_details(&mut self, from: Self) {
        self.exemplars = from.exemplars;
        self.flags = from.flags;
    }
    fn start(&self) -> u64 {
        self.start_time_unix_nano
    }
    fn time(&self) -> u64 {
        self.time_unix_nano
    }
    fn wrap(self) -> Total {
        Total::Exponential(self)
    }
    fn unwrap_mut(total: &mut Total) -> Option<&mut Self> {
        match total {
            Total::Exponential(p) => Some(p),
            _ => None,
        }
    }
    fn add(&mut self, next: &Self) {
        let mut next = next.clone();
        // Both at the coarser scale.
        let scale = self.scale.min(next.scale);
        for p in [&mut *self, &mut next] {
            let by = i64::from(p.scale) - i64::from(scale);
            downscale_point(p, i32::try_from(by).unwrap_or(i32::MAX));
            p.scale = scale;
        }
        // Then coarser still while either side would need too many buckets.
        let by = needed_downscale(self.positive.as_ref(), next.positive.as_ref()).max(
            needed_downscale(self.negative.as_ref(), next.negative.as_ref()),
        );
        if by > 0 {
            downscale_point(self, by);
            downscale_point(&mut next, by);
        }
        // The wider zero bucket takes in the other's buckets below it.
        if self.zero_threshold != next.zero_threshold {
            let threshold = self.zero_threshold.max(next.zero_threshold);
            widen_zero(self, threshold);
            widen_zero(&mut next, threshold);
        }
        merge(&mut self.positive, next.positive.as_ref());
        merge(&mut self.negative, next.negative.as_ref());
        self.count = self.count.wrapping_add(next.count);
        self.zero_count = self.zero_count.wrapping_add(next.zero_count);
        self.sum = self.sum.zip(next.sum).map(|(a, b)| a + b);
        self.time_unix_nano = next.time_unix_nano;
    }
}

fn downscale_point(p: &mut ExponentialHistogramDataPoint, by: i32) {
    if by <= 0 {
        return;
    }
    for b in [&mut p.positive, &mut p.negative].into_iter().flatten() {
        downscale(b, by);
    }
    p.scale = p.scale.saturating_sub(by);
}

/// Buckets at a scale `by` coarser: bucket `i` goes to `i >> by`.
fn downscale(b: &mut Buckets, by: i32) {
    if b.bucket_counts.is_empty() || by <= 0 {
        return;
    }
    let shift = by.min(62) as u32;
    let first = i64::from(b.offset) >> shift;
    let mut out: Vec<u64> = Vec::new();
    for (i, c) in b.bucket_counts.iter().enumerate() {
        let at = ((i64::from(b.offset) + i as i64) >> shift) - first;
        let at = usize::try_from(at).unwrap_or(0);
        if at >= out.len() {
            out.resize(at + 1, 0);
        }
        out[at] = out[at].wrapping_add(*c);
    }
    b.offset = i32::try_from(first).unwrap_or(i32::MIN);
    b.bucket_counts = out;
}

/// How many scales coarser two bucket ranges must go to span at most [`MAX_BUCKETS`].
fn needed_downscale(a: Option<&Buckets>, b: Option<&Buckets>) -> i32 {
    let ranges: Vec<(i64, i64)> = [a, b]
        .into_iter()
        .flatten()
        .filter(|b| !b.bucket_counts.is_empty())
        .map(|b| {
            let lo = i64::from(b.offset);
            (lo, lo + b.bucket_counts.len() as i64)
        })
        .collect();
    let Some(mut lo) = ranges.iter().map(|r| r.0).min() else {
        return 0;
    };
    let mut up = ranges.iter().map(|r| r.1).max().unwrap_or(lo);
    let mut by = 0;
    while up - lo > MAX_BUCKETS {
        lo >>= 1;
        up >>= 1;
        by += 1;
    }
    by
}

/// Moves the buckets whose upper bound is at most `threshold` into the zero bucket.
fn widen_zero(p: &mut ExponentialHistogramDataPoint, threshold: f64) {
    let scale = p.scale;
    let upper = |index: i64| ((index + 1) as f64 * (-f64::from(scale)).exp2()).exp2();
    let mut moved = 0u64;
    for b in [&mut p.positive, &mut p.negative].into_iter().flatten() {
        let mut drop = 0;
        while drop < b.bucket_counts.len() && upper(i64::from(b.offset) + drop as i64) <= threshold
        {
            moved = moved.wrapping_add(b.bucket_counts[drop]);
            drop += 1;
        }
        b.bucket_counts.drain(..drop);
        b.offset = b
            .offset
            .saturating_add(i32::try_from(drop).unwrap_or(i32::MAX));
    }
    p.zero_count = p.zero_count.wrapping_add(moved);
    p.zero_threshold = threshold;
}

/// Adds the buckets of `add` into `into` (same scale).
fn merge(into: &mut Option<Buckets>, add: Option<&Buckets>) {
    let Some(add) = add.filter(|b| !b.bucket_counts.is_empty()) else {
        return;
    };
    let Some(cur) = into.as_mut().filter(|b| !b.bucket_counts.is_empty()) else {
        *into = Some(add.clone());
        return;
    };
    let end = |b: &Buckets| i64::from(b.offset) + b.bucket_counts.len() as i64;
    let lo = i64::from(cur.offset.min(add.offset));
    let hi = end(cur).max(end(add));
    let mut out = vec![0u64; usize::try_from(hi - lo).unwrap_or(0)];
    for b in [&*cur, add] {
        let from = usize::try_from(i64::from(b.offset) - lo).unwrap_or(0);
        for (slot, c) in out[from..].iter_mut().zip(&b.bucket_counts) {
            *slot = slot.wrapping_add(*c);
        }
    }
    cur.offset = i32::try_from(lo).unwrap_or(i32::MIN);
    cur.bucket_counts = out;
}

/// A canonical text of attributes (sorted by key).
fn push_attributes(key: &mut String, attrs: &[KeyValue]) {
    let mut pairs: Vec<(&str, String)> = attrs
        .iter()
        .map(|kv| (kv.key.as_str(), as_string(kv.value.as_ref())))
        .collect();
    pairs.sort();
    for (k, v) in pairs {
        key.push_str(k);
        key.push('\u{1}');
        key.push_str(&v);
        key.push('\u{2}');
    }
    key.push('\u{3}');
}

/// What one conversion did.
#[derive(Debug, Default)]
pub(crate) struct Converted {
    /// The request with delta streams made cumulative (`None`: nothing was delta).
    pub(crate) request: Option<ExportMetricsServiceRequest>,
    /// Points dropped as out of order.
    pub(crate) dropped: usize,
    /// Why, per metric.
    pub(crate) messages: Vec<String>,
}

impl DeltaToCumulative {
    /// A processor forgetting streams after `max_stale` without points.
    pub fn new(max_stale: Duration) -> DeltaToCumulative {
        DeltaToCumulative {
            max_stale,
            state: Mutex::new(State {
                streams: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }

    /// The number of streams tracked.
    pub fn streams(&self) -> usize {
        self.state.lock().map_or(0, |s| s.streams.len())
    }

    /// Converts the delta sums and histograms of `req` to cumulative ones at `now`. Requests
    /// without delta metrics are left alone (as Prometheus, which then skips the processor).
    pub(crate) fn convert(&self, req: &ExportMetricsServiceRequest, now: Instant) -> Converted {
        let delta = AggregationTemporality::Delta as i32;
        let is_delta = |m: &Metric| match &m.data {
            Some(Data::Sum(s)) => s.aggregation_temporality == delta,
            Some(Data::Histogram(h)) => h.aggregation_temporality == delta,
            Some(Data::ExponentialHistogram(h)) => h.aggregation_temporality == delta,
            _ => false,
        };
        let any = req.resource_metrics.iter().any(|rm| {
            rm.scope_metrics
                .iter()
                .any(|sm| sm.metrics.iter().any(is_delta))
        });
        if !any {
            return Converted::default();
        }
        // A poisoned lock only means another request panicked mid-way: keep the totals.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now.saturating_duration_since(state.last_sweep) >= SWEEP_EVERY {
            let max_stale = self.max_stale;
            state
                .streams
                .retain(|_, s| now.saturating_duration_since(s.seen) < max_stale);
            state.last_sweep = now;
        }
        let mut out = req.clone();
        let mut converted = Converted::default();
        for rm in &mut out.resource_metrics {
            let mut resource_key = String::new();
            push_attributes(
                &mut resource_key,
                rm.resource.as_ref().map_or(&[], |r| &r.attributes),
            );
            for sm in &mut rm.scope_metrics {
                let mut scope_key = resource_key.clone();
                if let Some(scope) = &sm.scope {
                    scope_key.push_str(&scope.name);
                    scope_key.push('\u{1}');
                    scope_key.push_str(&scope.version);
                    scope_key.push('\u{1}');
                    push_attributes(&mut scope_key, &scope.attributes);
                }
                for m in sm.metrics.iter_mut().filter(|m| is_delta(m)) {
                    let mut metric_key = scope_key.clone();
                    metric_key.push_str(&m.name);
                    metric_key.push('\u{1}');
                    metric_key.push_str(&m.unit);
                    metric_key.push('\u{1}');
                    let before = converted.dropped;
                    let cumulative = AggregationTemporality::Cumulative as i32;
                    match &mut m.data {
                        Some(Data::Sum(s)) => {
                            metric_key.push_str(if s.is_monotonic { "sum+" } else { "sum" });
                            s.data_points = state.accumulate(
                                &metric_key,
                                std::mem::take(&mut s.data_points),
                                |p| &p.attributes,
                                now,
                                &mut converted.dropped,
                            );
                            s.aggregation_temporality = cumulative;
                        }
                        Some(Data::Histogram(h)) => {
                            metric_key.push_str("histogram");
                            h.data_points = state.accumulate(
                                &metric_key,
                                std::mem::take(&mut h.data_points),
                                |p| &p.attributes,
                                now,
                                &mut converted.dropped,
                            );
                            h.aggregation_temporality = cumulative;
                        }
                        Some(Data::ExponentialHistogram(h)) => {
                            metric_key.push_str("exponential");
                            h.data_points = state.accumulate(
                                &metric_key,
                                std::mem::take(&mut h.data_points),
                                |p| &p.attributes,
                                now,
                                &mut converted.dropped,
                            );
                            h.aggregation_temporality = cumulative;
                        }
                        _ => {}
                    }
                    let dropped = converted.dropped - before;
                    if dropped > 0 {
                        converted.messages.push(format!(
                            "metric {}: {dropped} delta data points out of order, dropped",
                            model::strconv::quote(&m.name)
                        ));
                    }
                }
            }
        }
        converted.request = Some(out);
        converted
    }
}

impl State {
    /// Adds each point to its stream's total; returns the totals as cumulative points (the
    /// point's own time, attributes and exemplars, the stream's start).
    fn accumulate<P: Point>(
        &mut self,
        metric_key: &str,
        points: Vec<P>,
        attributes: impl Fn(&P) -> &[KeyValue],
        now: Instant,
        dropped: &mut usize,
    ) -> Vec<P> {
        let mut out = Vec::with_capacity(points.len());
        for p in points {
            let mut key = metric_key.to_owned();
            key.push('\u{4}');
            push_attributes(&mut key, attributes(&p));
            let total = match self.streams.get_mut(&key) {
                Some(stream) => match P::unwrap_mut(&mut stream.total) {
                    Some(total) if total.start() == p.start() => {
                        if p.time() <= total.time() {
                            *dropped += 1;
                            continue;
                        }
                        total.add(&p);
                        stream.seen = now;
                        total.clone()
                    }
                    // Another start time (a new writer) or kind: the total restarts.
                    _ => {
                        *stream = Stream {
                            total: p.clone().wrap(),
                            seen: now,
                        };
                        p.clone()
                    }
                },
                None => {
                    self.streams.insert(
                        key,
                        Stream {
                            total: p.clone().wrap(),
                            seen: now,
                        },
                    );
                    p.clone()
                }
            };
            out.push(with_point_details(total, p));
        }
        out
    }
}

/// The cumulative total carrying the incoming point's exemplars and flags (attributes are
/// the stream's own).
fn with_point_details<P: Point>(mut total: P, point: P) -> P {
    total.take_details(point);
    total
}

#[cfg(test)]
mod tests {
    use prompb::otlp::{
        ExponentialHistogram, Histogram, ResourceMetrics, ScopeMetrics, Sum, metric::Data,
    };

    use super::*;

    const S: u64 = 1_000_000_000;

    fn request(metric: Metric) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![metric],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn sum(points: &[(u64, u64, i64)], attr: &str) -> ExportMetricsServiceRequest {
        request(Metric {
            name: "jobs".into(),
            data: Some(Data::Sum(Sum {
                data_points: points
                    .iter()
                    .map(|&(start, t, v)| NumberDataPoint {
                        attributes: vec![KeyValue {
                            key: "a".into(),
                            value: Some(prompb::otlp::AnyValue {
                                value: Some(prompb::otlp::any_value::Value::StringValue(
                                    attr.into(),
                                )),
                            }),
                        }],
                        start_time_unix_nano: start,
                        time_unix_nano: t,
                        value: Some(number_data_point::Value::AsInt(v)),
                        ..Default::default()
                    })
                    .collect(),
                aggregation_temporality: AggregationTemporality::Delta as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        })
    }

    fn first_metric(c: &Converted) -> &Metric {
        &c.request.as_ref().expect("converted").resource_metrics[0].scope_metrics[0].metrics[0]
    }

    fn sum_values(c: &Converted) -> Vec<(u64, u64, i64)> {
        let Some(Data::Sum(s)) = &first_metric(c).data else {
            panic!("a sum")
        };
        assert_eq!(
            s.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        s.data_points
            .iter()
            .map(|p| {
                let Some(number_data_point::Value::AsInt(v)) = p.value else {
                    panic!("an int")
                };
                (p.start_time_unix_nano, p.time_unix_nano, v)
            })
            .collect()
    }

    #[test]
    fn sums_accumulate_per_stream_across_requests() {
        let d2c = DeltaToCumulative::default();
        let now = Instant::now();
        let c = d2c.convert(&sum(&[(S, 2 * S, 5), (S, 3 * S, 7)], "x"), now);
        assert_eq!(sum_values(&c), [(S, 2 * S, 5), (S, 3 * S, 12)]);
        // Another attribute value is another stream.
        let c = d2c.convert(&sum(&[(S, 3 * S, 1)], "y"), now);
        assert_eq!(sum_values(&c), [(S, 3 * S, 1)]);
        // Out of order: dropped and counted.
        let c = d2c.convert(&sum(&[(S, 3 * S, 100), (S, 4 * S, 3)], "x"), now);
        assert_eq!(sum_values(&c), [(S, 4 * S, 15)]);
        assert_eq!(c.dropped, 1);
        assert_eq!(c.messages.len(), 1);
        // A new start time restarts the total.
        let c = d2c.convert(&sum(&[(4 * S, 5 * S, 2)], "x"), now);
        assert_eq!(sum_values(&c), [(4 * S, 5 * S, 2)]);
        assert_eq!(d2c.streams(), 2);
    }

    #[test]
    fn cumulative_requests_are_left_alone_and_stale_streams_expire() {
        let d2c = DeltaToCumulative::new(Duration::from_secs(300));
        let mut cumulative = sum(&[(S, 2 * S, 5)], "x");
        if let Some(Data::Sum(s)) =
            &mut cumulative.resource_metrics[0].scope_metrics[0].metrics[0].data
        {
            s.aggregation_temporality = AggregationTemporality::Cumulative as i32;
        }
        let now = Instant::now();
        assert!(d2c.convert(&cumulative, now).request.is_none());
        d2c.convert(&sum(&[(S, 2 * S, 5)], "x"), now);
        assert_eq!(d2c.streams(), 1);
        // Within max_stale the total goes on; after it, the stream is forgotten.
        let later = now + Duration::from_secs(299);
        let c = d2c.convert(&sum(&[(S, 3 * S, 1)], "x"), later);
        assert_eq!(sum_values(&c), [(S, 3 * S, 6)]);
        let much_later = later + Duration::from_secs(301);
        let c = d2c.convert(&sum(&[(S, 4 * S, 1)], "y"), much_later);
        assert_eq!(sum_values(&c), [(S, 4 * S, 1)]);
        assert_eq!(d2c.streams(), 1, "x expired");
    }

    fn explicit(start: u64, t: u64, bounds: &[f64], counts: &[u64]) -> ExportMetricsServiceRequest {
        request(Metric {
            name: "lat".into(),
            data: Some(Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    start_time_unix_nano: start,
                    time_unix_nano: t,
                    count: counts.iter().sum(),
                    sum: Some(1.0),
                    bucket_counts: counts.to_vec(),
                    explicit_bounds: bounds.to_vec(),
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Delta as i32,
            })),
            ..Default::default()
        })
    }

    fn explicit_total(c: &Converted) -> (u64, Option<f64>, Vec<u64>) {
        let Some(Data::Histogram(h)) = &first_metric(c).data else {
            panic!("a histogram")
        };
        let p = &h.data_points[0];
        (p.count, p.sum, p.bucket_counts.clone())
    }

    #[test]
    fn explicit_histograms_add_buckets_or_restart_on_new_bounds() {
        let d2c = DeltaToCumulative::default();
        let now = Instant::now();
        d2c.convert(&explicit(S, 2 * S, &[1.0], &[1, 2]), now);
        let c = d2c.convert(&explicit(S, 3 * S, &[1.0], &[3, 4]), now);
        assert_eq!(explicit_total(&c), (10, Some(2.0), vec![4, 6]));
        let c = d2c.convert(&explicit(S, 4 * S, &[1.0, 2.0], &[1, 1, 1]), now);
        assert_eq!(explicit_total(&c), (3, Some(1.0), vec![1, 1, 1]));
    }

    fn exponential(
        t: u64,
        scale: i32,
        offset: i32,
        counts: &[u64],
        zero_threshold: f64,
    ) -> ExportMetricsServiceRequest {
        request(Metric {
            name: "e".into(),
            data: Some(Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    start_time_unix_nano: S,
                    time_unix_nano: t,
                    count: counts.iter().sum(),
                    scale,
                    zero_threshold,
                    positive: Some(Buckets {
                        offset,
                        bucket_counts: counts.to_vec(),
                    }),
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Delta as i32,
            })),
            ..Default::default()
        })
    }

    fn exponential_total(c: &Converted) -> ExponentialHistogramDataPoint {
        let Some(Data::ExponentialHistogram(h)) = &first_metric(c).data else {
            panic!("an exponential histogram")
        };
        h.data_points[0].clone()
    }

    #[test]
    fn exponential_histograms_merge_at_the_coarser_scale() {
        let d2c = DeltaToCumulative::default();
        let now = Instant::now();
        // Scale 1 buckets 0..3 become scale 0 buckets 0, 0, 1.
        d2c.convert(&exponential(2 * S, 1, 0, &[1, 1, 1], 0.0), now);
        let c = d2c.convert(&exponential(3 * S, 0, -1, &[5, 2], 0.0), now);
        let p = exponential_total(&c);
        assert_eq!(p.scale, 0);
        assert_eq!(p.count, 10);
        let pos = p.positive.expect("positive buckets");
        assert_eq!((pos.offset, pos.bucket_counts), (-1, vec![5, 4, 1]));

        // A wider zero bucket swallows the buckets below its threshold: at scale 0, bucket
        // -1 is (0.5, 1], bucket 0 is (1, 2].
        let c = d2c.convert(&exponential(4 * S, 0, 1, &[1], 1.0), now);
        let p = exponential_total(&c);
        assert_eq!(p.zero_threshold, 1.0);
        assert_eq!(p.zero_count, 5);
        assert_eq!(p.count, 11);
        let pos = p.positive.expect("positive buckets");
        assert_eq!((pos.offset, pos.bucket_counts), (0, vec![4, 2]));
    }

    #[test]
    fn merged_exponential_histograms_keep_at_most_160_buckets() {
        let d2c = DeltaToCumulative::default();
        let now = Instant::now();
        d2c.convert(&exponential(2 * S, 3, 0, &[1], 0.0), now);
        let c = d2c.convert(&exponential(3 * S, 3, 200, &[1], 0.0), now);
        let p = exponential_total(&c);
        // 0..201 spans 201 buckets: one scale down spans 101.
        assert_eq!(p.scale, 2);
        let pos = p.positive.expect("positive buckets");
        assert_eq!(pos.offset, 0);
        assert_eq!(pos.bucket_counts.len(), 101);
        assert_eq!(pos.bucket_counts.iter().sum::<u64>(), 2);
    }
}
