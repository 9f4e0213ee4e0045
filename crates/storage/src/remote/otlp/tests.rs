//! Tests of the OTLP receiver; translation expectations are ported from Prometheus's
//! `otlptranslator/prometheusremotewrite` tests.

use super::translate::translate;
use super::*;
use crate::{MemStorage, Queryable, ValueType};
use model::Labels;
use prompb::otlp::{
    AggregationTemporality, AnyValue, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram, HistogramDataPoint, InstrumentationScope, KeyValue, Metric, NumberDataPoint,
    Resource, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint, ValueAtQuantile,
    any_value, metric::Data, number_data_point,
};

const TS: u64 = 1_700_000_000_123_456_789;
const TS_MS: i64 = 1_700_000_000_123;
const LOOKBACK_NS: u64 = 300_000_000_000;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
    }
}

fn kvs(pairs: &[(&str, &str)]) -> Vec<KeyValue> {
    pairs.iter().map(|(k, v)| kv(k, v)).collect()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn gauge_point(attrs: &[(&str, &str)], t: u64, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: kvs(attrs),
        time_unix_nano: t,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn metric(name: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(data),
        ..Default::default()
    }
}

fn gauge(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    metric(
        name,
        "",
        Data::Gauge(Gauge {
            data_points: points,
        }),
    )
}

fn sum(name: &str, temporality: AggregationTemporality, monotonic: bool) -> Metric {
    metric(
        name,
        "",
        Data::Sum(Sum {
            data_points: vec![gauge_point(&[("test_label", "test_value")], TS, 5.0)],
            aggregation_temporality: temporality as i32,
            is_monotonic: monotonic,
        }),
    )
}

fn explicit_histogram(name: &str, temporality: AggregationTemporality) -> Metric {
    metric(
        name,
        "",
        Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: kvs(&[("test_label", "test_value")]),
                time_unix_nano: TS,
                count: 20,
                sum: Some(30.0),
                bucket_counts: vec![10, 10, 0],
                explicit_bounds: vec![1.0, 2.0],
                ..Default::default()
            }],
            aggregation_temporality: temporality as i32,
        }),
    )
}

fn exponential_histogram(name: &str, points: usize) -> Metric {
    metric(
        name,
        "s",
        Data::ExponentialHistogram(ExponentialHistogram {
            data_points: (0..points)
                .map(|i| ExponentialHistogramDataPoint {
                    time_unix_nano: TS + i as u64,
                    count: 1,
                    ..Default::default()
                })
                .collect(),
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        }),
    )
}

fn request(
    resource: &[(&str, &str)],
    scope: Option<InstrumentationScope>,
    metrics: Vec<Metric>,
) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: kvs(resource),
            }),
            scope_metrics: vec![ScopeMetrics {
                scope,
                metrics,
                schema_url: "https://schema.com".into(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// Options as the upstream unit tests' zero `Settings`: escaping, no suffixes, neither
/// label-name option.
fn plain() -> OtlpOptions {
    OtlpOptions {
        translation_strategy: TranslationStrategy::UnderscoreEscapingWithoutSuffixes,
        label_name_underscore_sanitization: false,
        label_name_preserve_multiple_underscores: false,
        ..OtlpOptions::default()
    }
}

/// Every sample of the translation but `target_info`'s, as (labels, t, v).
fn samples(req: &ExportMetricsServiceRequest, opts: &OtlpOptions) -> Vec<(Labels, i64, f64)> {
    translate(req, opts)
        .series
        .into_iter()
        .filter(|(l, _)| l.metric_name() != Some("target_info"))
        .flat_map(|(l, s)| s.into_iter().map(move |(t, v)| (l.clone(), t, v)))
        .collect()
}

fn test_scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "test-scope".into(),
        version: "1.0.0".into(),
        attributes: kvs(&[("attr1", "value1"), ("attr2", "value2")]),
    }
}

/// `TestCreateAttributes`.
#[test]
fn point_labels_from_attributes_resource_and_scope() {
    let resource = [
        ("service.name", "service name"),
        ("service.instance.id", "service ID"),
        ("existent-attr", "resource value"),
        ("metric-attr", "resource value"),
        ("job", "resource value"),
        ("instance", "resource value"),
    ];
    let point = [
        ("metric-attr", "metric value"),
        ("metric-attr-other", "metric value other"),
    ];
    let base = [
        ("__name__", "test_metric"),
        ("instance", "service ID"),
        ("job", "service name"),
        ("metric_attr", "metric value"),
        ("metric_attr_other", "metric value other"),
    ];
    let scope_labels = [
        ("otel_scope_name", "test-scope"),
        ("otel_scope_schema_url", "https://schema.com"),
        ("otel_scope_version", "1.0.0"),
        ("otel_scope_attr1", "value1"),
        ("otel_scope_attr2", "value2"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        base.iter().chain(extra).copied().collect()
    };
    type Case = (
        bool,
        Vec<&'static str>,
        bool,
        Vec<&'static str>,
        Option<InstrumentationScope>,
        Vec<(&'static str, &'static str)>,
    );
    let cases: Vec<Case> = vec![
        (false, vec![], false, vec![], Some(test_scope()), with(&[])),
        (
            false,
            vec![],
            true,
            vec![],
            Some(test_scope()),
            with(&scope_labels),
        ),
        // Scope promotion without a scope name adds nothing.
        (false, vec![], true, vec![], None, with(&[])),
        (
            false,
            vec!["non-existent-attr", "existent-attr"],
            true,
            vec![],
            Some(test_scope()),
            with(&[&[("existent_attr", "resource value")][..], &scope_labels].concat()),
        ),
        // Promoted attributes never override point attributes, job or instance.
        (
            false,
            vec![
                "non-existent-attr",
                "existent-attr",
                "metric-attr",
                "job",
                "instance",
            ],
            true,
            vec![],
            Some(test_scope()),
            with(&[&[("existent_attr", "resource value")][..], &scope_labels].concat()),
        ),
        (
            false,
            vec!["existent-attr", "existent-attr"],
            true,
            vec![],
            Some(test_scope()),
            with(&[&[("existent_attr", "resource value")][..], &scope_labels].concat()),
        ),
        (
            true,
            vec![],
            true,
            vec![],
            Some(test_scope()),
            with(
                &[
                    &[
                        ("existent_attr", "resource value"),
                        ("service_name", "service name"),
                        ("service_instance_id", "service ID"),
                    ][..],
                    &scope_labels,
                ]
                .concat(),
            ),
        ),
        (
            true,
            vec![],
            true,
            vec!["service.instance.id"],
            Some(test_scope()),
            with(
                &[
                    &[
                        ("existent_attr", "resource value"),
                        ("service_name", "service name"),
                    ][..],
                    &scope_labels,
                ]
                .concat(),
            ),
        ),
    ];
    for (i, (promote_all, promote, promote_scope, ignore, scope, want)) in
        cases.into_iter().enumerate()
    {
        let opts = OtlpOptions {
            promote_all_resource_attributes: promote_all,
            promote_resource_attributes: promote.iter().map(|s| s.to_string()).collect(),
            ignore_resource_attributes: ignore.iter().map(|s| s.to_string()).collect(),
            promote_scope_metadata: promote_scope,
            ..plain()
        };
        let req = request(
            &resource,
            scope,
            vec![gauge("test_metric", vec![gauge_point(&point, TS, 1.0)])],
        );
        let got = samples(&req, &opts);
        assert_eq!(got, vec![(labels(&want), TS_MS, 1.0)], "case {i}");
    }
}

/// `TestCreateAttributes`, the label-name sanitization cases.
#[test]
fn label_name_sanitization_options() {
    let resource = [
        ("service.name", "service name"),
        ("service.instance.id", "service ID"),
        ("_private", "private value"),
        ("__reserved__", "reserved value"),
        ("label___multi", "multi value"),
    ];
    let point = [
        ("_metric_private", "private metric"),
        ("metric___multi", "multi metric"),
    ];
    /// Promoted attributes, underscore sanitization, preserve multiple underscores, labels
    /// expected besides `__name__`, `instance` and `job`.
    type Case<'a> = (&'a [&'a str], bool, bool, &'a [(&'a str, &'a str)]);
    let cases: &[Case<'_>] = &[
        (
            &["_private"],
            true,
            true,
            &[
                ("key_private", "private value"),
                ("key_metric_private", "private metric"),
                ("metric___multi", "multi metric"),
            ],
        ),
        (
            &["_private"],
            false,
            true,
            &[
                ("_private", "private value"),
                ("_metric_private", "private metric"),
                ("metric___multi", "multi metric"),
            ],
        ),
        (
            &["label___multi"],
            false,
            true,
            &[
                ("label___multi", "multi value"),
                ("_metric_private", "private metric"),
                ("metric___multi", "multi metric"),
            ],
        ),
        (
            &["label___multi"],
            false,
            false,
            &[
                ("label_multi", "multi value"),
                ("_metric_private", "private metric"),
                ("metric_multi", "multi metric"),
            ],
        ),
        (
            &["_private", "label___multi"],
            true,
            true,
            &[
                ("key_private", "private value"),
                ("label___multi", "multi value"),
                ("key_metric_private", "private metric"),
                ("metric___multi", "multi metric"),
            ],
        ),
        (
            &["_private", "label___multi"],
            false,
            false,
            &[
                ("_private", "private value"),
                ("label_multi", "multi value"),
                ("_metric_private", "private metric"),
                ("metric_multi", "multi metric"),
            ],
        ),
        (
            &["__reserved__"],
            true,
            false,
            &[
                ("__reserved__", "reserved value"),
                ("key_metric_private", "private metric"),
                ("metric_multi", "multi metric"),
            ],
        ),
    ];
    for (i, &(promote, underscore, preserve, extra)) in cases.iter().enumerate() {
        let opts = OtlpOptions {
            promote_resource_attributes: promote.iter().map(|s| s.to_string()).collect(),
            label_name_underscore_sanitization: underscore,
            label_name_preserve_multiple_underscores: preserve,
            ..plain()
        };
        let req = request(
            &resource,
            None,
            vec![gauge("test_metric", vec![gauge_point(&point, TS, 1.0)])],
        );
        let mut want = vec![
            ("__name__", "test_metric"),
            ("instance", "service ID"),
            ("job", "service name"),
        ];
        want.extend_from_slice(extra);
        assert_eq!(
            samples(&req, &opts),
            vec![(labels(&want), TS_MS, 1.0)],
            "case {i}"
        );
    }
}

#[test]
fn colliding_attribute_names_join_values_in_key_order() {
    let req = request(
        &[],
        None,
        vec![gauge(
            "m",
            vec![gauge_point(
                &[("a.b", "2"), ("a_b", "3"), ("a-b", "1")],
                TS,
                1.0,
            )],
        )],
    );
    // Sorted by the original keys: "a-b" < "a.b" < "a_b".
    assert_eq!(
        samples(&req, &plain()),
        vec![(labels(&[("__name__", "m"), ("a_b", "1;2;3")]), TS_MS, 1.0)]
    );
}

#[test]
fn job_is_namespace_slash_name_and_empty_values_drop_labels() {
    let req = request(
        &[
            ("service.namespace", "ns"),
            ("service.name", "svc"),
            ("service.instance.id", ""),
        ],
        None,
        vec![gauge("m", vec![gauge_point(&[("empty", "")], TS, 1.0)])],
    );
    assert_eq!(
        samples(&req, &plain()),
        vec![(labels(&[("__name__", "m"), ("job", "ns/svc")]), TS_MS, 1.0)]
    );
}

/// `TestPrometheusConverter_AddSummaryDataPoints`.
#[test]
fn summaries_become_sum_count_and_quantile_series() {
    let point = |count, sum, quantiles: Vec<ValueAtQuantile>| SummaryDataPoint {
        time_unix_nano: TS,
        start_time_unix_nano: TS,
        count,
        sum,
        quantile_values: quantiles,
        ..Default::default()
    };
    let req = |p| {
        request(
            &[],
            Some(test_scope()),
            vec![metric(
                "test_summary",
                "",
                Data::Summary(Summary {
                    data_points: vec![p],
                }),
            )],
        )
    };
    assert_eq!(
        samples(&req(point(0, 0.0, vec![])), &plain()),
        vec![
            (labels(&[("__name__", "test_summary_sum")]), TS_MS, 0.0),
            (labels(&[("__name__", "test_summary_count")]), TS_MS, 0.0),
        ]
    );
    let scoped = OtlpOptions {
        promote_scope_metadata: true,
        ..plain()
    };
    let scope_labels = [
        ("otel_scope_attr1", "value1"),
        ("otel_scope_attr2", "value2"),
        ("otel_scope_name", "test-scope"),
        ("otel_scope_schema_url", "https://schema.com"),
        ("otel_scope_version", "1.0.0"),
    ];
    let with_scope = |name| {
        let mut l = scope_labels.to_vec();
        l.push(("__name__", name));
        labels(&l)
    };
    assert_eq!(
        samples(&req(point(0, 0.0, vec![])), &scoped),
        vec![
            (with_scope("test_summary_sum"), TS_MS, 0.0),
            (with_scope("test_summary_count"), TS_MS, 0.0),
        ]
    );
    let quantiles = vec![
        ValueAtQuantile {
            quantile: 0.5,
            value: 30.0,
        },
        ValueAtQuantile {
            quantile: 0.9,
            value: 40.0,
        },
    ];
    assert_eq!(
        samples(&req(point(50, 100.0, quantiles)), &plain()),
        vec![
            (labels(&[("__name__", "test_summary_sum")]), TS_MS, 100.0),
            (labels(&[("__name__", "test_summary_count")]), TS_MS, 50.0),
            (
                labels(&[("__name__", "test_summary"), ("quantile", "0.5")]),
                TS_MS,
                30.0
            ),
            (
                labels(&[("__name__", "test_summary"), ("quantile", "0.9")]),
                TS_MS,
                40.0
            ),
        ]
    );
}

/// `TestPrometheusConverter_AddHistogramDataPoints` and the classic histograms of
/// `TestTemporality`.
#[test]
fn explicit_histograms_become_classic_series() {
    let empty = request(
        &[],
        None,
        vec![metric(
            "test_hist",
            "",
            Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    time_unix_nano: TS,
                    start_time_unix_nano: TS,
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
        )],
    );
    // No sum set: no _sum series.
    assert_eq!(
        samples(&empty, &plain()),
        vec![
            (labels(&[("__name__", "test_hist_count")]), TS_MS, 0.0),
            (
                labels(&[("__name__", "test_hist_bucket"), ("le", "+Inf")]),
                TS_MS,
                0.0
            ),
        ]
    );
    let req = request(
        &[],
        None,
        vec![explicit_histogram(
            "test_histogram_2",
            AggregationTemporality::Cumulative,
        )],
    );
    let l = |name: &'static str, le: Option<&'static str>| {
        let mut pairs = vec![("__name__", name), ("test_label", "test_value")];
        pairs.extend(le.map(|le| ("le", le)));
        labels(&pairs)
    };
    assert_eq!(
        samples(&req, &plain()),
        vec![
            (l("test_histogram_2_sum", None), TS_MS, 30.0),
            (l("test_histogram_2_count", None), TS_MS, 20.0),
            (l("test_histogram_2_bucket", Some("1")), TS_MS, 10.0),
            (l("test_histogram_2_bucket", Some("2")), TS_MS, 20.0),
            (l("test_histogram_2_bucket", Some("+Inf")), TS_MS, 20.0),
        ]
    );
}

#[test]
fn bucket_bounds_print_in_go_f_form() {
    let req = request(
        &[],
        None,
        vec![metric(
            "h",
            "",
            Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    time_unix_nano: TS,
                    count: 3,
                    bucket_counts: vec![1, 1, 1, 0],
                    explicit_bounds: vec![0.00001, 2.5, 1e21],
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
        )],
    );
    let les: Vec<String> = samples(&req, &plain())
        .iter()
        .filter_map(|(l, _, _)| l.get("le").map(str::to_owned))
        .collect();
    assert_eq!(les, ["0.00001", "2.5", "1000000000000000000000", "+Inf"]);
}

/// `TestTemporality`, with the differences of a server without native histograms.
#[test]
fn temporality_and_refused_kinds() {
    let series = |name: &'static str| {
        (
            labels(&[("__name__", name), ("test_label", "test_value")]),
            TS_MS,
            5.0,
        )
    };
    let cum = AggregationTemporality::Cumulative;
    let req = request(
        &[],
        None,
        vec![
            sum("test_metric_1", cum, true),
            sum("test_metric_2", cum, true),
        ],
    );
    assert_eq!(
        samples(&req, &plain()),
        vec![series("test_metric_1"), series("test_metric_2")]
    );
    for bad in [
        AggregationTemporality::Delta,
        AggregationTemporality::Unspecified,
    ] {
        let req = request(
            &[],
            None,
            vec![
                sum("test_metric_1", cum, true),
                sum("test_metric_2", bad, true),
            ],
        );
        let t = translate(&req, &plain());
        assert_eq!(t.series.len(), 1);
        assert_eq!(t.refused_points, 1);
        assert!(
            t.messages[0].starts_with(
                r#"invalid temporality and type combination for metric "test_metric_2""#
            ),
            "{:?}",
            t.messages
        );
    }
    // Delta histograms are refused; the cumulative one is kept.
    let req = request(
        &[],
        None,
        vec![
            explicit_histogram("test_histogram_1", AggregationTemporality::Delta),
            explicit_histogram("test_histogram_2", cum),
        ],
    );
    let t = translate(&req, &plain());
    assert_eq!(t.refused_points, 1);
    assert_eq!(t.series.len(), 5);
    // Exponential histograms become native histograms under the metric's own name.
    let req = request(
        &[],
        None,
        vec![exponential_histogram("latency", 3), sum("ok", cum, true)],
    );
    let t = translate(&req, &plain());
    assert_eq!(t.refused_points, 0);
    assert_eq!(t.series.len(), 1);
    assert_eq!(t.histograms.len(), 1);
    assert_eq!(t.histograms[0].0, labels(&[("__name__", "latency")]));
    assert_eq!(t.histograms[0].1.len(), 3);
    assert_eq!(t.histograms[0].1[0].1.count, 1);
    // Explicit histograms become NHCB when asked to.
    let nhcb = OtlpOptions {
        convert_histograms_to_nhcb: true,
        ..plain()
    };
    let req = request(&[], None, vec![explicit_histogram("h", cum)]);
    let t = translate(&req, &nhcb);
    assert_eq!((t.refused_points, t.series.len()), (0, 0));
    let (l, samples) = &t.histograms[0];
    assert_eq!(
        l,
        &labels(&[("__name__", "h"), ("test_label", "test_value")])
    );
    assert_eq!(samples[0].1.custom_values, vec![1.0, 2.0]);
    assert_eq!(samples[0].1.positive_buckets, vec![10, 0, -10]);
    // A metric without data.
    let req = request(
        &[],
        None,
        vec![Metric {
            name: "test_empty".into(),
            ..Default::default()
        }],
    );
    let t = translate(&req, &plain());
    assert_eq!(
        t.messages,
        [
            "could not get aggregation temporality for test_empty as it has unsupported metric type Empty"
        ]
    );
    // A gauge without points.
    let req = request(&[], None, vec![gauge("g", vec![])]);
    assert_eq!(
        translate(&req, &plain()).messages,
        ["empty data points. g is dropped"]
    );
}

#[test]
fn default_strategy_adds_suffixes_and_non_monotonic_sums_stay_gauges() {
    let opts = OtlpOptions::default();
    let mut counter = sum("http.requests", AggregationTemporality::Cumulative, true);
    counter.unit = "1".into();
    let mut updown = sum("queue.size", AggregationTemporality::Cumulative, false);
    updown.unit = "{items}".into();
    let mut hist = explicit_histogram("http.server.duration", AggregationTemporality::Cumulative);
    hist.unit = "s".into();
    let mut ratio = gauge("cpu.utilization", vec![gauge_point(&[], TS, 0.5)]);
    ratio.unit = "1".into();
    let req = request(&[], None, vec![counter, updown, hist, ratio]);
    let names: Vec<String> = samples(&req, &opts)
        .iter()
        .map(|(l, _, _)| l.metric_name().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "http_requests_total",
            "queue_size",
            "http_server_duration_seconds_sum",
            "http_server_duration_seconds_count",
            "http_server_duration_seconds_bucket",
            "http_server_duration_seconds_bucket",
            "http_server_duration_seconds_bucket",
            "cpu_utilization_ratio",
        ]
    );
    let utf8 = OtlpOptions {
        translation_strategy: TranslationStrategy::NoUTF8EscapingWithSuffixes,
        ..OtlpOptions::default()
    };
    let req = request(
        &[],
        None,
        vec![gauge(
            "my.gauge",
            vec![gauge_point(&[("http.method", "GET")], TS, 1.0)],
        )],
    );
    assert_eq!(
        samples(&req, &utf8),
        vec![(
            labels(&[("__name__", "my.gauge"), ("http.method", "GET")]),
            TS_MS,
            1.0
        )]
    );
}

#[test]
fn no_recorded_value_is_a_staleness_marker() {
    let mut p = gauge_point(&[], TS, 7.0);
    p.flags = prompb::otlp::FLAG_NO_RECORDED_VALUE;
    let mut h = explicit_histogram("h", AggregationTemporality::Cumulative);
    if let Some(Data::Histogram(hist)) = &mut h.data {
        hist.data_points[0].flags = prompb::otlp::FLAG_NO_RECORDED_VALUE;
    }
    let req = request(&[], None, vec![gauge("g", vec![p]), h]);
    let got = samples(&req, &plain());
    assert_eq!(got.len(), 6);
    for (l, _, v) in got {
        assert!(model::value::is_stale_nan(v), "{l}");
    }
}

#[test]
fn invalid_names_refuse_points_not_requests() {
    let req = request(
        &[],
        None,
        vec![
            gauge(
                "@#$%",
                vec![gauge_point(&[], TS, 1.0), gauge_point(&[], TS, 2.0)],
            ),
            gauge(
                "ok",
                vec![
                    gauge_point(&[("ようこそ", "x")], TS, 1.0),
                    gauge_point(&[("fine", "x")], TS, 2.0),
                ],
            ),
        ],
    );
    let t = translate(&req, &plain());
    assert_eq!(t.refused_points, 3);
    assert_eq!(t.series.len(), 1);
    assert!(
        t.messages[0].contains("resulted in empty name"),
        "{:?}",
        t.messages
    );
    assert!(
        t.messages[1].contains("resulted in invalid name"),
        "{:?}",
        t.messages
    );
}

/// metrics_to_prw_test's `target_info` cases.
#[test]
fn target_info_spans_the_resource_points() {
    let resource = [
        ("resource_name_1", "value-1"),
        ("resource_name_2", "value-2"),
        ("service.name", "test-service"),
        ("service.namespace", "test-namespace"),
        ("service.instance.id", "id1234"),
    ];
    // Points every lookback/4, six per gauge: 0 .. 1.25 lookbacks.
    let points: Vec<NumberDataPoint> = (0..6)
        .map(|i| {
            gauge_point(
                &[("series_name_1", "value-1")],
                TS + i * LOOKBACK_NS / 4,
                1.23,
            )
        })
        .collect();
    let req = request(
        &resource,
        None,
        vec![gauge("gauge-1", points.clone()), gauge("gauge-2", points)],
    );
    let t = translate(&req, &OtlpOptions::default());
    let (info_labels, info) = t.series.last().expect("target_info");
    assert_eq!(
        info_labels,
        &labels(&[
            ("__name__", "target_info"),
            ("instance", "id1234"),
            ("job", "test-namespace/test-service"),
            ("resource_name_1", "value-1"),
            ("resource_name_2", "value-2"),
        ])
    );
    let ms = |ns: u64| (ns / 1_000_000) as i64;
    assert_eq!(
        info,
        &vec![
            (ms(TS), 1.0),
            (ms(TS + LOOKBACK_NS / 2), 1.0),
            (ms(TS + LOOKBACK_NS), 1.0),
            (ms(TS + LOOKBACK_NS + LOOKBACK_NS / 4), 1.0),
        ]
    );

    // Two resources with the same attributes share one target_info series, no duplicates.
    let one = |t: u64| {
        request(
            &resource,
            None,
            vec![gauge("g", vec![gauge_point(&[], t, 1.0)])],
        )
    };
    let mut req = one(TS);
    req.resource_metrics.extend(
        one(TS)
            .resource_metrics
            .into_iter()
            .chain(one(TS + LOOKBACK_NS / 2).resource_metrics),
    );
    let t = translate(&req, &OtlpOptions::default());
    let info: Vec<_> = t
        .series
        .iter()
        .filter(|(l, _)| l.metric_name() == Some("target_info"))
        .collect();
    assert_eq!(info.len(), 1);
    assert_eq!(
        info[0].1,
        vec![(ms(TS), 1.0), (ms(TS + LOOKBACK_NS / 2), 1.0)]
    );

    // keep_identifying_resource_attributes keeps service.* on target_info; scope labels are
    // never there.
    let opts = OtlpOptions {
        keep_identifying_resource_attributes: true,
        promote_scope_metadata: true,
        ..OtlpOptions::default()
    };
    let req = request(
        &resource,
        Some(test_scope()),
        vec![gauge("g", vec![gauge_point(&[], TS, 1.0)])],
    );
    let t = translate(&req, &opts);
    let (l, _) = t.series.last().expect("target_info");
    assert_eq!(l.get("service_name"), Some("test-service"));
    assert_eq!(l.get("service_namespace"), Some("test-namespace"));
    assert_eq!(l.get("service_instance_id"), Some("id1234"));
    assert_eq!(l.get("otel_scope_name"), None);
    assert_eq!(t.series[0].0.get("otel_scope_name"), Some("test-scope"));
}

#[test]
fn target_info_needs_extra_attributes_and_an_identifier() {
    let count = |resource: &[(&str, &str)]| {
        let req = request(
            resource,
            None,
            vec![gauge("g", vec![gauge_point(&[], TS, 1.0)])],
        );
        translate(&req, &OtlpOptions::default())
            .series
            .iter()
            .filter(|(l, _)| l.metric_name() == Some("target_info"))
            .count()
    };
    assert_eq!(
        count(&[("service.name", "a"), ("service.instance.id", "b")]),
        0
    );
    assert_eq!(count(&[("host.name", "h")]), 0);
    assert_eq!(
        count(&[("host.name", "h"), ("service.instance.id", "b")]),
        1
    );
}

#[test]
fn target_info_samples_are_capped_to_the_newest() {
    let req = request(
        &[("service.name", "s"), ("host", "h")],
        None,
        vec![gauge(
            "g",
            vec![gauge_point(&[], 0, 1.0), gauge_point(&[], TS, 1.0)],
        )],
    );
    let t = translate(&req, &OtlpOptions::default());
    let (_, info) = t.series.last().expect("target_info");
    assert_eq!(info.len(), 10_001);
    assert_eq!(info.last(), Some(&(TS_MS, 1.0)));
    let step = (LOOKBACK_NS / 2 / 1_000_000) as i64;
    assert!(
        info.windows(2)
            .take(10_000 - 1)
            .all(|w| w[1].0 - w[0].0 == step)
    );
}

fn stored(db: &MemStorage) -> Vec<(String, i64, f64)> {
    let q = db.querier(i64::MIN, i64::MAX).expect("querier");
    let mut set = q.select(true, None, &[]);
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let s = s.expect("series");
        let mut it = s.iterator();
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            out.push((s.labels().to_string(), t, v));
        }
    }
    out
}

/// A storage keeping floats only, as the TSDB before native histograms.
struct FloatsOnly(MemStorage);

struct FloatsOnlyAppender(Box<dyn crate::Appender>);

impl crate::Appendable for FloatsOnly {
    fn appender(&self) -> Box<dyn crate::Appender> {
        Box::new(FloatsOnlyAppender(self.0.appender()))
    }
}

impl crate::Appender for FloatsOnlyAppender {
    fn append(
        &mut self,
        r: crate::SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> crate::Result<crate::SeriesRef> {
        self.0.append(r, labels, t, v)
    }

    fn commit(self: Box<Self>) -> crate::Result<()> {
        self.0.commit()
    }

    fn rollback(self: Box<Self>) -> crate::Result<()> {
        self.0.rollback()
    }
}

#[test]
fn native_histograms_are_stored_where_the_storage_keeps_them() {
    let req = request(
        &[("service.name", "svc")],
        None,
        vec![
            gauge("g", vec![gauge_point(&[], TS, 1.0)]),
            exponential_histogram("latency", 2),
        ],
    );
    let mem = MemStorage::new();
    let outcome = append_otlp_request(&req, &OtlpOptions::default(), &mem).expect("appends");
    assert_eq!((outcome.appended, outcome.rejected_points), (3, 0));
    assert_eq!(outcome.partial_success(), None);
}

#[test]
fn append_commits_and_reports_refused_points() {
    let db = FloatsOnly(MemStorage::new());
    let req = request(
        &[("service.name", "svc")],
        None,
        vec![
            gauge("g", vec![gauge_point(&[("a", "b")], TS, 1.5)]),
            exponential_histogram("latency", 2),
        ],
    );
    let outcome = append_otlp_request(&req, &OtlpOptions::default(), &db).expect("appends");
    assert_eq!(outcome.appended, 1);
    assert_eq!(outcome.rejected_points, 2);
    assert_eq!(
        stored(&db.0),
        vec![(
            r#"{__name__="g", a="b", job="svc"}"#.to_string(),
            TS_MS,
            1.5
        )]
    );
    let partial = outcome.partial_success().expect("partial success");
    assert_eq!(partial.rejected_data_points, 2);
    assert_eq!(
        partial.error_message,
        "2 native histogram samples refused: native histograms are not supported by this storage"
    );

    let body = encode_otlp_response(&outcome, OtlpEncoding::Protobuf).expect("body");
    let resp = ExportMetricsServiceResponse::decode(body.as_slice()).expect("decodes");
    assert_eq!(resp.partial_success, Some(partial.clone()));
    let body = encode_otlp_response(&outcome, OtlpEncoding::Json).expect("body");
    let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(json["partialSuccess"]["rejectedDataPoints"], "2");
    assert_eq!(
        json["partialSuccess"]["errorMessage"],
        partial.error_message.as_str()
    );

    // A second push of the same point is a duplicate the storage rejects: 400 territory.
    let req = request(
        &[("service.name", "svc")],
        None,
        vec![gauge("g", vec![gauge_point(&[("a", "b")], TS, 2.5)])],
    );
    let err = append_otlp_request(&req, &OtlpOptions::default(), &db).unwrap_err();
    assert_eq!(crate::remote::write_response_status::<()>(&Err(err)), 400);

    let fine = OtlpOutcome {
        appended: 3,
        ..OtlpOutcome::default()
    };
    assert_eq!(encode_otlp_response(&fine, OtlpEncoding::Protobuf), None);
}

#[test]
fn many_refusals_are_summarized() {
    let req = request(
        &[],
        None,
        (0..15)
            .map(|i| sum(&format!("d{i}"), AggregationTemporality::Delta, true))
            .collect(),
    );
    let outcome =
        append_otlp_request(&req, &OtlpOptions::default(), &MemStorage::new()).expect("appends");
    assert_eq!(outcome.rejected_points, 15);
    assert_eq!(outcome.messages.len(), 11);
    assert_eq!(outcome.messages[10], "and 5 more");
}

#[test]
fn decoding_checks_content_type_and_encoding() {
    let req = request(&[], None, vec![gauge("g", vec![gauge_point(&[], TS, 1.0)])]);
    let raw = req.encode_to_vec();
    let (back, enc) =
        decode_otlp_request(&raw, Some("application/x-protobuf"), None).expect("decodes");
    assert_eq!((back, enc), (req.clone(), OtlpEncoding::Protobuf));

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &raw).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let (back, _) =
        decode_otlp_request(&gz, Some("application/x-protobuf"), Some("gzip")).expect("decodes");
    assert_eq!(back, req);

    let json = br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[{"timeUnixNano":"1","asInt":"3"}]}}]}]}]}"#;
    let (back, enc) = decode_otlp_request(json, Some("application/json"), None).expect("decodes");
    assert_eq!(enc, OtlpEncoding::Json);
    assert_eq!(
        back.resource_metrics[0].scope_metrics[0].metrics[0].name,
        "g"
    );

    for (body, ct, ce, want) in [
        (
            &raw[..],
            None,
            None,
            "unsupported content type: , supported",
        ),
        (
            &raw[..],
            Some("application/x-protobuf; charset=utf-8"),
            None,
            "unsupported content type",
        ),
        (
            &raw[..],
            Some("application/x-protobuf"),
            Some("snappy"),
            "unsupported compression: snappy",
        ),
        (
            &raw[..],
            Some("application/x-protobuf"),
            Some("gzip"),
            "gzip",
        ),
        (
            &b"\xff\xff\xff"[..],
            Some("application/x-protobuf"),
            None,
            "protobuf decoding",
        ),
        (&b"{"[..], Some("application/json"), None, "JSON decoding"),
    ] {
        let err = decode_otlp_request(body, ct, ce).unwrap_err();
        assert!(matches!(err, Error::InvalidRemoteRequest { .. }), "{err}");
        assert!(err.to_string().contains(want), "{err} !~ {want}");
    }
}

#[test]
fn strategies_parse_from_config() {
    assert_eq!(
        TranslationStrategy::from_config("UnderscoreEscapingWithSuffixes"),
        Some(TranslationStrategy::UnderscoreEscapingWithSuffixes)
    );
    assert_eq!(
        TranslationStrategy::from_config(""),
        Some(TranslationStrategy::NoTranslation)
    );
    assert_eq!(TranslationStrategy::from_config("Bogus"), None);
    assert!(!TranslationStrategy::NoUTF8EscapingWithSuffixes.escapes());
    assert!(TranslationStrategy::NoUTF8EscapingWithSuffixes.adds_suffixes());
    assert!(!TranslationStrategy::UnderscoreEscapingWithoutSuffixes.adds_suffixes());
}

proptest::proptest! {
    /// Arbitrary bodies never panic the decoder, and whatever decodes translates and appends
    /// without panicking.
    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512), json in proptest::bool::ANY) {
        let ct = if json { "application/json" } else { "application/x-protobuf" };
        if let Ok((req, _)) = decode_otlp_request(&body, Some(ct), None) {
            let _ = append_otlp_request(&req, &OtlpOptions::default(), &MemStorage::new());
        }
    }

    /// Mutated valid requests (a byte flipped, the tail cut) never panic either.
    #[test]
    fn mutated_requests_never_panic(flip in 0usize..4096, byte in proptest::num::u8::ANY, cut in 0usize..4096) {
        let mut h = explicit_histogram("http.server.duration", AggregationTemporality::Cumulative);
        h.unit = "s".into();
        let req = request(
            &[("service.name", "svc"), ("host.name", "h")],
            Some(test_scope()),
            vec![h, sum("requests", AggregationTemporality::Cumulative, true), exponential_histogram("e", 2)],
        );
        let mut raw = req.encode_to_vec();
        let n = raw.len();
        raw[flip % n] = byte;
        raw.truncate(cut % (n + 1));
        if let Ok((req, _)) = decode_otlp_request(&raw, Some("application/x-protobuf"), None) {
            let opts = OtlpOptions { promote_all_resource_attributes: true, promote_scope_metadata: true, ..OtlpOptions::default() };
            let _ = append_otlp_request(&req, &opts, &MemStorage::new());
        }
    }
}

fn exemplar_of(value: f64, trace: u8, attrs: &[(&str, &str)]) -> prompb::otlp::Exemplar {
    prompb::otlp::Exemplar {
        filtered_attributes: kvs(attrs),
        time_unix_nano: TS,
        value: Some(prompb::otlp::exemplar::Value::AsDouble(value)),
        span_id: if trace == 0 { vec![] } else { vec![trace; 8] },
        trace_id: if trace == 0 { vec![] } else { vec![trace; 16] },
    }
}

/// Exemplars of sums follow their series; of histograms, the first bucket not below them.
#[test]
fn exemplars_of_sums_and_histogram_buckets() {
    let mut counter = sum("c", AggregationTemporality::Cumulative, true);
    if let Some(Data::Sum(s)) = &mut counter.data {
        s.data_points[0].exemplars = vec![exemplar_of(5.0, 0xab, &[("user", "u1")])];
    }
    let mut g = gauge("g", vec![gauge_point(&[], TS, 1.0)]);
    if let Some(Data::Gauge(gauge)) = &mut g.data {
        gauge.data_points[0].exemplars = vec![exemplar_of(1.0, 1, &[])];
    }
    let mut h = explicit_histogram("h", AggregationTemporality::Cumulative);
    if let Some(Data::Histogram(hist)) = &mut h.data {
        let long = "x".repeat(100);
        hist.data_points[0].exemplars = vec![
            exemplar_of(0.5, 1, &[]),
            exemplar_of(2.0, 2, &[]),
            exemplar_of(7.0, 3, &[("long", &long)]),
        ];
    }
    let req = request(&[], None, vec![counter, g, h]);
    let t = translate(&req, &plain());
    let shown: Vec<(String, String, f64, i64)> = t
        .exemplars
        .iter()
        .map(|(i, e)| {
            (
                t.series[*i].0.to_string(),
                e.labels.to_string(),
                e.value,
                e.ts,
            )
        })
        .collect();
    let trace = |b: &str| b.repeat(16);
    let span = |b: &str| b.repeat(8);
    assert_eq!(
        shown,
        vec![
            (
                r#"{__name__="c", test_label="test_value"}"#.to_string(),
                format!(
                    r#"{{span_id="{}", trace_id="{}", user="u1"}}"#,
                    span("ab"),
                    trace("ab")
                ),
                5.0,
                TS_MS
            ),
            (
                r#"{__name__="h_bucket", le="1", test_label="test_value"}"#.to_string(),
                format!(
                    r#"{{span_id="{}", trace_id="{}"}}"#,
                    span("01"),
                    trace("01")
                ),
                0.5,
                TS_MS
            ),
            (
                r#"{__name__="h_bucket", le="2", test_label="test_value"}"#.to_string(),
                format!(
                    r#"{{span_id="{}", trace_id="{}"}}"#,
                    span("02"),
                    trace("02")
                ),
                2.0,
                TS_MS
            ),
            // Over 128 characters with the attribute: only the ids are kept.
            (
                r#"{__name__="h_bucket", le="+Inf", test_label="test_value"}"#.to_string(),
                format!(
                    r#"{{span_id="{}", trace_id="{}"}}"#,
                    span("03"),
                    trace("03")
                ),
                7.0,
                TS_MS
            ),
        ]
    );

    // An exemplar without a value refuses its point.
    let mut counter = sum("c", AggregationTemporality::Cumulative, true);
    if let Some(Data::Sum(s)) = &mut counter.data {
        let mut e = exemplar_of(1.0, 0, &[]);
        e.value = None;
        s.data_points[0].exemplars = vec![e];
    }
    let t = translate(&request(&[], None, vec![counter]), &plain());
    assert_eq!((t.refused_points, t.series.len()), (1, 0));
    assert!(
        t.messages[0].contains("unsupported exemplar value type"),
        "{:?}",
        t.messages
    );
}

#[test]
fn json_exemplars_carry_hex_ids() {
    let body = br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"c","sum":{"aggregationTemporality":2,"isMonotonic":true,
        "dataPoints":[{"timeUnixNano":"1000000","asInt":"1","exemplars":[{"timeUnixNano":"1000000","asDouble":1,
        "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","filteredAttributes":[{"key":"k","value":{"stringValue":"v"}}]}]}]}}]}]}]}"#;
    let (req, _) = decode_otlp_request(body, Some("application/json"), None).expect("decodes");
    let t = translate(&req, &plain());
    assert_eq!(
        t.exemplars[0].1.labels.to_string(),
        r#"{k="v", span_id="eee19b7ec3c1b174", trace_id="5b8efff798038103d269b633813fc60c"}"#
    );
    let bad = br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"c","gauge":{"dataPoints":[{"exemplars":[{"traceId":"xyz"}]}]}}]}]}]}"#;
    assert!(decode_otlp_request(bad, Some("application/json"), None).is_err());
}

/// A cumulative monotonic sum with two points started at `start` (nanoseconds).
fn started_sum(name: &str, start: u64, temporality: AggregationTemporality) -> Metric {
    let point = |t: u64, v: f64| NumberDataPoint {
        start_time_unix_nano: start,
        ..gauge_point(&[], t, v)
    };
    metric(
        name,
        "",
        Data::Sum(Sum {
            data_points: vec![point(TS, 5.0), point(TS + 15_000_000_000, 7.0)],
            aggregation_temporality: temporality as i32,
            is_monotonic: true,
        }),
    )
}

#[test]
fn start_timestamps_become_zero_samples_only_with_the_option() {
    let start = TS - 60_000_000_000;
    let start_ms = TS_MS - 60_000;
    let mut hist = explicit_histogram("h", AggregationTemporality::Cumulative);
    if let Some(Data::Histogram(h)) = &mut hist.data {
        h.data_points[0].start_time_unix_nano = start;
    }
    let req = request(
        &[],
        None,
        vec![
            started_sum("c", start, AggregationTemporality::Cumulative),
            // A start equal to the sample time means "unknown" in OTLP: no zero sample.
            started_sum("same", TS, AggregationTemporality::Cumulative),
            hist,
        ],
    );
    let second = TS_MS + 15_000;
    let off = MemStorage::new();
    append_otlp_request(&req, &plain(), &off).expect("appends");
    assert!(stored(&off).iter().all(|(_, t, _)| *t >= TS_MS));

    let opts = OtlpOptions {
        ingest_ct_zero_sample: true,
        ..plain()
    };
    let on = MemStorage::new();
    let outcome = append_otlp_request(&req, &opts, &on).expect("appends");
    // Zero samples are not counted as appended samples.
    assert_eq!(outcome.appended, 4 + 5);
    let got = stored(&on);
    let of = |name: &str| -> Vec<(i64, f64)> {
        got.iter()
            .filter(|(l, _, _)| {
                l == &format!("{{__name__=\"{name}\"}}")
                    || l.starts_with(&format!("{{__name__=\"{name}\", le=\"+Inf\""))
            })
            .map(|(_, t, v)| (*t, *v))
            .collect()
    };
    assert_eq!(of("c"), [(start_ms, 0.0), (TS_MS, 5.0), (second, 7.0)]);
    assert_eq!(of("same"), [(TS_MS, 5.0), (second, 7.0)]);
    let count: Vec<_> = got
        .iter()
        .filter(|(l, _, _)| l.starts_with("{__name__=\"h_count\""))
        .map(|(_, t, v)| (*t, *v))
        .collect();
    assert_eq!(count, [(start_ms, 0.0), (TS_MS, 20.0)]);
    // A second request with the same start: the zero sample is out of order, skipped.
    let later = request(
        &[],
        None,
        vec![started_sum("c", start, AggregationTemporality::Cumulative)],
    );
    let mut later = later;
    if let Some(Data::Sum(s)) = &mut later.resource_metrics[0].scope_metrics[0].metrics[0].data {
        for (i, p) in s.data_points.iter_mut().enumerate() {
            p.time_unix_nano = TS + (30 + 15 * i as u64) * 1_000_000_000;
        }
    }
    let outcome = append_otlp_request(&later, &opts, &on).expect("appends");
    assert_eq!(outcome.appended, 2);
    assert!(outcome.messages.is_empty(), "{:?}", outcome.messages);
}

#[test]
fn native_histogram_start_timestamps_become_empty_histograms() {
    let mut m = exponential_histogram("e", 1);
    if let Some(Data::ExponentialHistogram(h)) = &mut m.data {
        h.data_points[0].start_time_unix_nano = TS - 1_000_000_000;
    }
    let req = request(&[], None, vec![m]);
    let opts = OtlpOptions {
        ingest_ct_zero_sample: true,
        ..plain()
    };
    let db = MemStorage::new();
    append_otlp_request(&req, &opts, &db).expect("appends");
    let q = db.querier(i64::MIN, i64::MAX).expect("querier");
    let mut set = q.select(true, None, &[]);
    let mut got = Vec::new();
    while let Some(s) = set.next() {
        let s = s.expect("series");
        let mut it = s.iterator();
        while it.next() == ValueType::Histogram {
            let (t, h) = it.at_float_histogram();
            got.push((t, h.count));
        }
    }
    assert_eq!(got, [(TS_MS - 1000, 0.0), (TS_MS, 1.0)]);
}

#[test]
fn type_and_unit_labels_follow_the_metadata() {
    let mut counter = sum("requests", AggregationTemporality::Cumulative, true);
    counter.unit = "s".into();
    let mut g = gauge("temp", vec![gauge_point(&[("__type__", "fake")], TS, 1.0)]);
    g.unit = "By/s".into();
    let up_down = sum("queue", AggregationTemporality::Cumulative, false);
    let req = request(
        &[],
        None,
        vec![
            counter,
            g,
            up_down,
            explicit_histogram("lat", AggregationTemporality::Cumulative),
        ],
    );
    let opts = OtlpOptions {
        type_and_unit_labels: true,
        ..plain()
    };
    let got: Vec<String> = samples(&req, &opts)
        .into_iter()
        .map(|(l, _, _)| l.to_string())
        .collect();
    assert_eq!(
        got[..3],
        [
            r#"{__name__="requests", __type__="counter", __unit__="seconds", test_label="test_value"}"#,
            r#"{__name__="temp", __type__="gauge", __unit__="bytes_per_second"}"#,
            r#"{__name__="queue", __type__="gauge", test_label="test_value"}"#,
        ]
    );
    assert!(
        got[3..]
            .iter()
            .all(|l| l.contains(r#"__type__="histogram""#) && !l.contains("__unit__")),
        "{got:?}"
    );
    // Off: no such labels.
    assert!(
        samples(&req, &plain())
            .iter()
            .all(|(l, _, _)| l.get("__unit__").is_none() && l.get("__type__") != Some("counter"))
    );
}

#[test]
fn native_delta_ingestion_stores_deltas_as_they_are() {
    let delta = AggregationTemporality::Delta;
    let mut exp = exponential_histogram("e", 2);
    if let Some(Data::ExponentialHistogram(h)) = &mut exp.data {
        h.aggregation_temporality = delta as i32;
    }
    let req = request(
        &[],
        None,
        vec![
            started_sum("d", TS - 1, delta),
            explicit_histogram("h", delta),
            exp,
        ],
    );
    // Refused by default.
    let refused = translate(&req, &plain());
    assert_eq!(refused.refused_points, 5);
    assert!(refused.series.is_empty() && refused.histograms.is_empty());

    let opts = OtlpOptions {
        delta: DeltaTemporality::Ingest,
        type_and_unit_labels: true,
        ..plain()
    };
    let t = translate(&req, &opts);
    assert_eq!(t.refused_points, 0, "{:?}", t.messages);
    // Values as sent; typed unknown: no __type__ label.
    assert_eq!(t.series[0].0, labels(&[("__name__", "d")]));
    assert_eq!(t.series[0].1, [(TS_MS, 5.0), (TS_MS + 15_000, 7.0)]);
    assert!(t.series.iter().all(|(l, _)| l.get("__type__").is_none()));
    assert_eq!(
        t.histograms[0].0,
        labels(&[("__name__", "e"), ("__unit__", "seconds")])
    );
    assert!(
        t.histograms[0]
            .1
            .iter()
            .all(|(_, h)| h.counter_reset_hint == model::CounterResetHint::Gauge)
    );
}

#[test]
fn delta_to_cumulative_stores_running_totals() {
    let d2c = DeltaToCumulative::default();
    let db = MemStorage::new();
    let delta = AggregationTemporality::Delta;
    let first = request(&[], None, vec![started_sum("d", TS - 1, delta)]);
    let outcome = append_otlp_request_cumulative(&first, &plain(), &db, &d2c).expect("appends");
    assert_eq!((outcome.appended, outcome.rejected_points), (2, 0));
    let mut second = request(&[], None, vec![started_sum("d", TS - 1, delta)]);
    if let Some(Data::Sum(s)) = &mut second.resource_metrics[0].scope_metrics[0].metrics[0].data {
        s.data_points[0].time_unix_nano = TS + 15_000_000_000; // Out of order now.
        s.data_points[1].time_unix_nano = TS + 30_000_000_000;
    }
    let outcome = append_otlp_request_cumulative(&second, &plain(), &db, &d2c).expect("appends");
    assert_eq!((outcome.appended, outcome.rejected_points), (1, 1));
    assert!(
        outcome.messages[0].contains("out of order"),
        "{:?}",
        outcome.messages
    );
    let got: Vec<(i64, f64)> = stored(&db).into_iter().map(|(_, t, v)| (t, v)).collect();
    assert_eq!(
        got,
        [(TS_MS, 5.0), (TS_MS + 15_000, 12.0), (TS_MS + 30_000, 19.0)]
    );
}

/// Keeps samples in a `MemStorage` and records metadata updates at commit.
#[derive(Default)]
struct MetadataLog(MemStorage, std::sync::Arc<std::sync::Mutex<Vec<String>>>);

struct MetadataLogAppender(
    Box<dyn crate::Appender>,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    Vec<String>,
);

impl crate::Appendable for MetadataLog {
    fn appender(&self) -> Box<dyn crate::Appender> {
        Box::new(MetadataLogAppender(
            self.0.appender(),
            self.1.clone(),
            Vec::new(),
        ))
    }
}

impl crate::Appender for MetadataLogAppender {
    fn append(
        &mut self,
        r: crate::SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> crate::Result<crate::SeriesRef> {
        self.0.append(r, labels, t, v)
    }
    fn update_metadata(
        &mut self,
        r: crate::SeriesRef,
        labels: &Labels,
        meta: &crate::Metadata,
    ) -> crate::Result<crate::SeriesRef> {
        if labels.metric_name() == Some("refused") {
            return Err(crate::Error::Backend("no metadata here".into()));
        }
        self.2.push(format!(
            "{labels} {} {:?} {:?}",
            meta.metric_type.as_str(),
            meta.unit,
            meta.help
        ));
        Ok(r)
    }
    fn commit(self: Box<Self>) -> crate::Result<()> {
        self.1.lock().expect("lock").extend(self.2);
        self.0.commit()
    }
    fn rollback(self: Box<Self>) -> crate::Result<()> {
        self.0.rollback()
    }
}

#[test]
fn series_metadata_follows_the_metric() {
    let mut counter = sum("requests", AggregationTemporality::Cumulative, true);
    counter.unit = "s".into();
    counter.description = "Requests served.".into();
    let req = request(
        &[("service.name", "svc"), ("host", "h")],
        None,
        vec![
            counter,
            explicit_histogram("lat", AggregationTemporality::Cumulative),
        ],
    );
    let db = MetadataLog::default();
    append_otlp_request(&req, &plain(), &db).expect("appends");
    let got = db.1.lock().expect("lock").clone();
    assert_eq!(
        got[0],
        r#"{__name__="requests", job="svc", test_label="test_value"} counter "seconds" "Requests served.""#
    );
    assert!(
        got[1..4].iter().all(|l| l.contains(r#" histogram "" """#)),
        "{got:?}"
    );
    assert_eq!(
        got.last().map(String::as_str),
        Some(r#"{__name__="target_info", host="h", job="svc"} gauge "" "Target metadata""#)
    );
}

#[test]
fn refused_metadata_is_counted_not_failed() {
    let req = request(
        &[],
        None,
        vec![
            gauge("refused", vec![gauge_point(&[], TS, 1.0)]),
            gauge("kept", vec![gauge_point(&[], TS, 2.0)]),
        ],
    );
    let db = MetadataLog::default();
    let counters = OtlpCounters::default();
    let outcome = append_otlp_request_with(&req, &plain(), &db, None, &counters).expect("appends");
    assert_eq!(outcome.appended, 2);
    assert!(outcome.messages.is_empty());
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(counters.without_metadata.load(Relaxed), 1);
    assert_eq!(counters.out_of_order_exemplars.load(Relaxed), 0);
    assert_eq!(db.1.lock().expect("lock").len(), 1);
}
