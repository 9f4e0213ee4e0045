//! Tests of the protobuf parser: Prometheus's protobufparse_test.go table (its payload and the expectations of its scenarios), errors on bad payloads, and property tests.

use proptest::prelude::*;

use super::*;
use crate::textparse::dto::{
    Bucket, BucketSpan, Counter, Exemplar as DtoExemplar, Gauge, Histogram as DtoHistogram,
    LabelPair, Metric, MetricFamily, Quantile, Summary, Timestamp as DtoTimestamp, Untyped,
    encode_delimited,
};

fn lp(name: &str, value: &str) -> LabelPair {
    LabelPair {
        name: name.into(),
        value: value.into(),
    }
}

fn ts(seconds: i64, nanos: i32) -> Option<DtoTimestamp> {
    Some(DtoTimestamp { seconds, nanos })
}

fn dex(id: &str, value: f64, timestamp: Option<DtoTimestamp>) -> Option<DtoExemplar> {
    Some(DtoExemplar {
        label: vec![lp("dummyID", id)],
        value,
        timestamp,
    })
}

fn span(offset: i32, length: u32) -> BucketSpan {
    BucketSpan { offset, length }
}

fn family(name: &str, help: &str, t: DtoType, metric: Vec<Metric>) -> MetricFamily {
    MetricFamily {
        name: name.into(),
        help: help.into(),
        r#type: t as i32,
        metric,
        unit: String::new(),
    }
}

fn hist_metric(h: DtoHistogram, timestamp_ms: i64) -> Metric {
    Metric {
        histogram: Some(h),
        timestamp_ms,
        ..Default::default()
    }
}

/// The classic buckets the upstream `test_histogram` family and its variants share.
fn test_buckets(float: bool) -> Vec<Bucket> {
    let b = |count: u64, ub: f64, exemplar| Bucket {
        cumulative_count: if float { 0 } else { count },
        cumulative_count_float: if float { count as f64 } else { 0.0 },
        upper_bound: ub,
        exemplar,
    };
    vec![
        b(2, -0.0004899999999999998, None),
        b(
            4,
            -0.0003899999999999998,
            dex("59727", -0.00039, ts(1625851155, 146848499)),
        ),
        b(16, -0.0002899999999999998, dex("5617", -0.00029, None)),
    ]
}

fn test_histogram(float: bool) -> DtoHistogram {
    let mut h = DtoHistogram {
        sample_sum: 0.0008280461746287094,
        bucket: test_buckets(float),
        schema: 3,
        zero_threshold: 2.938735877055719e-39,
        negative_span: vec![span(-162, 1), span(23, 4)],
        positive_span: vec![span(-161, 1), span(8, 3)],
        ..Default::default()
    };
    if float {
        h.sample_count_float = 175.0;
        h.zero_count_float = 2.0;
        h.negative_count = vec![1.0, 3.0, -2.0, -1.0, 1.0];
        h.positive_count = vec![1.0, 2.0, -1.0, -1.0];
    } else {
        h.sample_count = 175;
        h.zero_count = 2;
        h.negative_delta = vec![1, 3, -2, -1, 1];
        h.positive_delta = vec![1, 2, -1, -1];
    }
    h
}

/// Upstream's `createTestProtoBuf` families (all but the second native-exemplar one).
fn upstream_families() -> Vec<MetricFamily> {
    let mut alloc = family(
        "go_memstats_alloc_bytes_total",
        "Total number of bytes allocated, even if freed.",
        DtoType::Counter,
        vec![Metric {
            counter: Some(Counter {
                value: 1.546544e+06,
                exemplar: dex("42", 12.0, ts(1625851151, 233181499)),
                created_timestamp: None,
            }),
            ..Default::default()
        }],
    );
    alloc.unit = "bytes".into();
    let simple =
        |sample_count: u64, sample_sum: f64, counts: [u64; 2], deltas: Vec<i64>| DtoHistogram {
            sample_count,
            sample_sum,
            bucket: vec![
                Bucket {
                    cumulative_count: counts[0],
                    upper_bound: 1.1,
                    ..Default::default()
                },
                Bucket {
                    cumulative_count: counts[1],
                    upper_bound: 2.2,
                    ..Default::default()
                },
            ],
            schema: 3,
            positive_span: vec![span(8, 2)],
            positive_delta: deltas,
            ..Default::default()
        };
    let mut fam_metrics = vec![
        hist_metric(simple(5, 12.1, [2, 3], vec![2, 1]), 0),
        hist_metric(simple(6, 13.1, [1, 5], vec![1, 4]), 0),
    ];
    fam_metrics[0].label = vec![lp("foo", "bar")];
    fam_metrics[1].label = vec![lp("foo", "baz")];
    let mut with_exemplars = test_histogram(false);
    with_exemplars.exemplars = vec![
        dex("59780", -0.00039, ts(1625851155, 146848499)).expect("set"),
        dex("5617", -0.00029, None).expect("set"),
        dex("59772", -0.00052, ts(1625851160, 156848499)).expect("set"),
    ];
    vec![
        family(
            "go_build_info",
            "Build information about the main Go module.",
            DtoType::Gauge,
            vec![Metric {
                label: vec![
                    lp("checksum", ""),
                    lp("path", "github.com/prometheus/client_golang"),
                    lp("version", "(devel)"),
                ],
                gauge: Some(Gauge { value: 1.0 }),
                ..Default::default()
            }],
        ),
        alloc,
        family(
            "something_untyped",
            "Just to test the untyped type.",
            DtoType::Untyped,
            vec![Metric {
                untyped: Some(Untyped { value: 42.0 }),
                timestamp_ms: 1234567,
                ..Default::default()
            }],
        ),
        family(
            "test_histogram",
            "Test histogram with many buckets removed to keep it manageable in size.",
            DtoType::Histogram,
            vec![hist_metric(test_histogram(false), 1234568)],
        ),
        family(
            "test_gauge_histogram",
            "Like test_histogram but as gauge histogram.",
            DtoType::GaugeHistogram,
            vec![hist_metric(test_histogram(false), 1234568)],
        ),
        family(
            "test_float_histogram",
            "Test float histogram with many buckets removed to keep it manageable in size.",
            DtoType::Histogram,
            vec![hist_metric(test_histogram(true), 1234568)],
        ),
        family(
            "test_histogram2",
            "Similar histogram as before but now without sparse buckets.",
            DtoType::Histogram,
            vec![hist_metric(
                DtoHistogram {
                    sample_count: 175,
                    sample_sum: 0.000828,
                    bucket: vec![
                        Bucket {
                            cumulative_count: 2,
                            upper_bound: -0.00048,
                            ..Default::default()
                        },
                        Bucket {
                            cumulative_count: 4,
                            upper_bound: -0.00038,
                            exemplar: dex("59727", -0.00038, ts(1625851153, 146848499)),
                            ..Default::default()
                        },
                        Bucket {
                            cumulative_count: 16,
                            upper_bound: 1.0,
                            exemplar: dex("5617", -0.000295, None),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                },
                0,
            )],
        ),
        family(
            "test_histogram_family",
            "Test histogram metric family with two very simple histograms.",
            DtoType::Histogram,
            fam_metrics,
        ),
        family(
            "test_float_histogram_with_zerothreshold_zero",
            "Test float histogram with a zero threshold of zero.",
            DtoType::Histogram,
            vec![hist_metric(
                DtoHistogram {
                    sample_count_float: 5.0,
                    sample_sum: 12.1,
                    schema: 3,
                    positive_span: vec![span(8, 2)],
                    positive_count: vec![2.0, 3.0],
                    ..Default::default()
                },
                0,
            )],
        ),
        family(
            "rpc_durations_seconds",
            "RPC latency distributions.",
            DtoType::Summary,
            vec![Metric {
                label: vec![lp("service", "exponential")],
                summary: Some(Summary {
                    sample_count: 262,
                    sample_sum: 0.00025551262820703587,
                    quantile: vec![
                        Quantile {
                            quantile: 0.5,
                            value: 6.442786329648548e-07,
                        },
                        Quantile {
                            quantile: 0.9,
                            value: 1.9435742936658396e-06,
                        },
                        Quantile {
                            quantile: 0.99,
                            value: 4.0471608667037015e-06,
                        },
                    ],
                    created_timestamp: None,
                }),
                ..Default::default()
            }],
        ),
        family(
            "without_quantiles",
            "A summary without quantiles.",
            DtoType::Summary,
            vec![Metric {
                summary: Some(Summary {
                    sample_count: 42,
                    sample_sum: 1.234,
                    ..Default::default()
                }),
                ..Default::default()
            }],
        ),
        family(
            "empty_histogram",
            "A histogram without observations and with a zero threshold of zero but with a no-op span to identify it as a native histogram.",
            DtoType::Histogram,
            vec![hist_metric(
                DtoHistogram {
                    positive_span: vec![span(0, 0)],
                    ..Default::default()
                },
                0,
            )],
        ),
        family(
            "test_counter_with_createdtimestamp",
            "A counter with a created timestamp.",
            DtoType::Counter,
            vec![Metric {
                counter: Some(Counter {
                    value: 42.0,
                    exemplar: None,
                    created_timestamp: ts(1625851153, 146848499),
                }),
                ..Default::default()
            }],
        ),
        family(
            "test_histogram_with_native_histogram_exemplars",
            "A histogram with native histogram exemplars.",
            DtoType::Histogram,
            vec![hist_metric(with_exemplars, 1234568)],
        ),
    ]
}

/// One parsed entry, comparable.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // Test data.
enum Item {
    Help(String, String),
    Unit(String, String),
    Type(String, MetricType),
    Series {
        m: Vec<u8>,
        t: Option<i64>,
        v: f64,
        lset: String,
        es: Vec<Exemplar>,
        ct: Option<i64>,
    },
    Hist {
        m: Vec<u8>,
        t: Option<i64>,
        h: Option<Histogram>,
        fh: Option<FloatHistogram>,
        lset: String,
        es: Vec<Exemplar>,
        ct: Option<i64>,
    },
}

impl Item {
    fn t(mut self, at: i64) -> Item {
        match &mut self {
            Item::Series { t, .. } | Item::Hist { t, .. } => *t = Some(at),
            _ => {}
        }
        self
    }

    fn ex(mut self, id: &str, value: f64, at: Option<i64>) -> Item {
        let e = Exemplar {
            labels: Labels::from_strings(&["dummyID", id]),
            value,
            timestamp: at,
        };
        match &mut self {
            Item::Series { es, .. } | Item::Hist { es, .. } => es.push(e),
            _ => {}
        }
        self
    }

    fn ct(mut self, at: i64) -> Item {
        match &mut self {
            Item::Series { ct, .. } | Item::Hist { ct, .. } => *ct = Some(at),
            _ => {}
        }
        self
    }
}

fn help(n: &str, h: &str) -> Item {
    Item::Help(n.into(), h.into())
}

fn typ(n: &str, t: MetricType) -> Item {
    Item::Type(n.into(), t)
}

fn s(m: &[u8], v: f64, lset: &[&str]) -> Item {
    Item::Series {
        m: m.to_vec(),
        t: None,
        v,
        lset: Labels::from_strings(lset).to_string(),
        es: Vec::new(),
        ct: None,
    }
}

fn hist(m: &[u8], h: Histogram, lset: &[&str]) -> Item {
    Item::Hist {
        m: m.to_vec(),
        t: None,
        h: Some(h),
        fh: None,
        lset: Labels::from_strings(lset).to_string(),
        es: Vec::new(),
        ct: None,
    }
}

fn fhist(m: &[u8], fh: FloatHistogram, lset: &[&str]) -> Item {
    Item::Hist {
        m: m.to_vec(),
        t: None,
        h: None,
        fh: Some(fh),
        lset: Labels::from_strings(lset).to_string(),
        es: Vec::new(),
        ct: None,
    }
}

fn spans(s: &[(i32, u32)]) -> Vec<model::Span> {
    s.iter()
        .map(|&(offset, length)| model::Span { offset, length })
        .collect()
}

fn expected_test_histogram(hint: model::CounterResetHint) -> Histogram {
    Histogram {
        counter_reset_hint: hint,
        count: 175,
        zero_count: 2,
        sum: 0.0008280461746287094,
        zero_threshold: 2.938735877055719e-39,
        schema: 3,
        positive_spans: spans(&[(-161, 1), (8, 3)]),
        negative_spans: spans(&[(-162, 1), (23, 4)]),
        positive_buckets: vec![1, 2, -1, -1],
        negative_buckets: vec![1, 3, -2, -1, 1],
        custom_values: Vec::new(),
    }
}

fn parse(p: &mut ProtobufParser<'_>) -> Result<Vec<Item>> {
    let mut out = Vec::new();
    while let Some(e) = p.next()? {
        out.push(match e {
            Entry::Help => {
                let (n, h) = p.help();
                Item::Help(n.into(), h.into())
            }
            Entry::Unit => {
                let (n, u) = p.unit();
                Item::Unit(n.into(), u.into())
            }
            Entry::Type => {
                let (n, t) = p.metric_type();
                Item::Type(n.into(), t)
            }
            Entry::Comment => unreachable!("the protobuf format has no comments"),
            Entry::Series => {
                let es: Vec<Exemplar> = p.exemplar().into_iter().collect();
                assert_eq!(p.exemplar(), None, "one exemplar per series");
                let ct = p.created_timestamp();
                let (m, t, v) = p.series();
                Item::Series {
                    m: m.to_vec(),
                    t,
                    v,
                    lset: p.labels()?.to_string(),
                    es,
                    ct,
                }
            }
            Entry::Histogram => {
                let es: Vec<Exemplar> = std::iter::from_fn(|| p.exemplar()).collect();
                let ct = p.created_timestamp();
                let (m, t, h, fh) = p.histogram();
                Item::Hist {
                    m: m.to_vec(),
                    t,
                    h,
                    fh,
                    lset: p.labels()?.to_string(),
                    es,
                    ct,
                }
            }
        });
    }
    Ok(out)
}

fn assert_items(got: &[Item], want: &[Item]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "entry {i}");
    }
    assert_eq!(got.len(), want.len(), "number of entries: {got:#?}");
}

/// The upstream expectations shared by every scenario up to the native histograms.
fn leading_items() -> Vec<Item> {
    vec![
        help("go_build_info", "Build information about the main Go module."),
        typ("go_build_info", MetricType::Gauge),
        s(
            b"go_build_info\xffchecksum\xff\xffpath\xffgithub.com/prometheus/client_golang\xffversion\xff(devel)",
            1.0,
            &[
                "__name__",
                "go_build_info",
                "checksum",
                "",
                "path",
                "github.com/prometheus/client_golang",
                "version",
                "(devel)",
            ],
        ),
        help(
            "go_memstats_alloc_bytes_total",
            "Total number of bytes allocated, even if freed.",
        ),
        Item::Unit("go_memstats_alloc_bytes_total".into(), "bytes".into()),
        typ("go_memstats_alloc_bytes_total", MetricType::Counter),
        s(
            b"go_memstats_alloc_bytes_total",
            1.546544e+06,
            &["__name__", "go_memstats_alloc_bytes_total"],
        )
        .ex("42", 12.0, Some(1625851151233)),
        help("something_untyped", "Just to test the untyped type."),
        typ("something_untyped", MetricType::Unknown),
        s(b"something_untyped", 42.0, &["__name__", "something_untyped"]).t(1234567),
        help(
            "test_histogram",
            "Test histogram with many buckets removed to keep it manageable in size.",
        ),
        typ("test_histogram", MetricType::Histogram),
    ]
}

fn classic_test_histogram(name: &str, t: i64) -> Vec<Item> {
    let n = |suffix: &str| format!("{name}{suffix}");
    let bucket = |le: &str, v: f64| {
        let m = format!("{name}_bucket\u{1}le\u{1}{le}");
        let m: Vec<u8> = m.bytes().map(|b| if b == 1 { 0xff } else { b }).collect();
        s(&m, v, &["__name__", &n("_bucket"), "le", le]).t(t)
    };
    vec![
        s(n("_count").as_bytes(), 175.0, &["__name__", &n("_count")]).t(t),
        s(
            n("_sum").as_bytes(),
            0.0008280461746287094,
            &["__name__", &n("_sum")],
        )
        .t(t),
        bucket("-0.0004899999999999998", 2.0),
        bucket("-0.0003899999999999998", 4.0).ex("59727", -0.00039, Some(1625851155146)),
        bucket("-0.0002899999999999998", 16.0).ex("5617", -0.00029, None),
        bucket("+Inf", 175.0),
    ]
}

#[test]
fn upstream_table_native_histograms() {
    let body = encode_delimited(&upstream_families());
    let got = parse(&mut ProtobufParser::new(&body, false, false)).unwrap();
    let mut want = leading_items();
    want.extend([
        hist(
            b"test_histogram",
            expected_test_histogram(model::CounterResetHint::Unknown),
            &["__name__", "test_histogram"],
        )
        .t(1234568)
        .ex("59727", -0.00039, Some(1625851155146)),
        help(
            "test_gauge_histogram",
            "Like test_histogram but as gauge histogram.",
        ),
        typ("test_gauge_histogram", MetricType::GaugeHistogram),
        hist(
            b"test_gauge_histogram",
            expected_test_histogram(model::CounterResetHint::Gauge),
            &["__name__", "test_gauge_histogram"],
        )
        .t(1234568)
        .ex("59727", -0.00039, Some(1625851155146)),
        help(
            "test_float_histogram",
            "Test float histogram with many buckets removed to keep it manageable in size.",
        ),
        typ("test_float_histogram", MetricType::Histogram),
        fhist(
            b"test_float_histogram",
            FloatHistogram {
                count: 175.0,
                zero_count: 2.0,
                sum: 0.0008280461746287094,
                zero_threshold: 2.938735877055719e-39,
                schema: 3,
                positive_spans: spans(&[(-161, 1), (8, 3)]),
                negative_spans: spans(&[(-162, 1), (23, 4)]),
                positive_buckets: vec![1.0, 2.0, -1.0, -1.0],
                negative_buckets: vec![1.0, 3.0, -2.0, -1.0, 1.0],
                ..Default::default()
            },
            &["__name__", "test_float_histogram"],
        )
        .t(1234568)
        .ex("59727", -0.00039, Some(1625851155146)),
        help(
            "test_histogram2",
            "Similar histogram as before but now without sparse buckets.",
        ),
        typ("test_histogram2", MetricType::Histogram),
        s(
            b"test_histogram2_count",
            175.0,
            &["__name__", "test_histogram2_count"],
        ),
        s(
            b"test_histogram2_sum",
            0.000828,
            &["__name__", "test_histogram2_sum"],
        ),
        s(
            b"test_histogram2_bucket\xffle\xff-0.00048",
            2.0,
            &["__name__", "test_histogram2_bucket", "le", "-0.00048"],
        ),
        s(
            b"test_histogram2_bucket\xffle\xff-0.00038",
            4.0,
            &["__name__", "test_histogram2_bucket", "le", "-0.00038"],
        )
        .ex("59727", -0.00038, Some(1625851153146)),
        s(
            b"test_histogram2_bucket\xffle\xff1.0",
            16.0,
            &["__name__", "test_histogram2_bucket", "le", "1.0"],
        )
        .ex("5617", -0.000295, None),
        s(
            b"test_histogram2_bucket\xffle\xff+Inf",
            175.0,
            &["__name__", "test_histogram2_bucket", "le", "+Inf"],
        ),
        help(
            "test_histogram_family",
            "Test histogram metric family with two very simple histograms.",
        ),
        typ("test_histogram_family", MetricType::Histogram),
        hist(
            b"test_histogram_family\xfffoo\xffbar",
            Histogram {
                count: 5,
                sum: 12.1,
                schema: 3,
                positive_spans: spans(&[(8, 2)]),
                positive_buckets: vec![2, 1],
                ..Default::default()
            },
            &["__name__", "test_histogram_family", "foo", "bar"],
        ),
        hist(
            b"test_histogram_family\xfffoo\xffbaz",
            Histogram {
                count: 6,
                sum: 13.1,
                schema: 3,
                positive_spans: spans(&[(8, 2)]),
                positive_buckets: vec![1, 4],
                ..Default::default()
            },
            &["__name__", "test_histogram_family", "foo", "baz"],
        ),
        help(
            "test_float_histogram_with_zerothreshold_zero",
            "Test float histogram with a zero threshold of zero.",
        ),
        typ(
            "test_float_histogram_with_zerothreshold_zero",
            MetricType::Histogram,
        ),
        fhist(
            b"test_float_histogram_with_zerothreshold_zero",
            FloatHistogram {
                count: 5.0,
                sum: 12.1,
                schema: 3,
                positive_spans: spans(&[(8, 2)]),
                positive_buckets: vec![2.0, 3.0],
                ..Default::default()
            },
            &["__name__", "test_float_histogram_with_zerothreshold_zero"],
        ),
    ]);
    want.extend(summaries());
    want.extend([
        help(
            "empty_histogram",
            "A histogram without observations and with a zero threshold of zero but with a no-op span to identify it as a native histogram.",
        ),
        typ("empty_histogram", MetricType::Histogram),
        hist(
            b"empty_histogram",
            Histogram::default(),
            &["__name__", "empty_histogram"],
        ),
    ]);
    want.extend(counter_with_ct());
    want.extend([
        help(
            "test_histogram_with_native_histogram_exemplars",
            "A histogram with native histogram exemplars.",
        ),
        typ(
            "test_histogram_with_native_histogram_exemplars",
            MetricType::Histogram,
        ),
        hist(
            b"test_histogram_with_native_histogram_exemplars",
            expected_test_histogram(model::CounterResetHint::Unknown),
            &["__name__", "test_histogram_with_native_histogram_exemplars"],
        )
        .t(1234568)
        .ex("59780", -0.00039, Some(1625851155146))
        .ex("59772", -0.00052, Some(1625851160156)),
    ]);
    assert_items(&got, &want);
}

fn summaries() -> Vec<Item> {
    let l = |name: &str, q: Option<&str>| -> Vec<String> {
        let mut v = vec!["__name__".to_string(), name.to_string()];
        if let Some(q) = q {
            v.extend(["quantile".to_string(), q.to_string()]);
        }
        v.extend(["service".to_string(), "exponential".to_string()]);
        v
    };
    let sq = |m: &[u8], val: f64, name: &str, q: Option<&str>| {
        let owned = l(name, q);
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        s(m, val, &refs)
    };
    vec![
        help("rpc_durations_seconds", "RPC latency distributions."),
        typ("rpc_durations_seconds", MetricType::Summary),
        sq(
            b"rpc_durations_seconds_count\xffservice\xffexponential",
            262.0,
            "rpc_durations_seconds_count",
            None,
        ),
        sq(
            b"rpc_durations_seconds_sum\xffservice\xffexponential",
            0.00025551262820703587,
            "rpc_durations_seconds_sum",
            None,
        ),
        sq(
            b"rpc_durations_seconds\xffquantile\xff0.5\xffservice\xffexponential",
            6.442786329648548e-07,
            "rpc_durations_seconds",
            Some("0.5"),
        ),
        sq(
            b"rpc_durations_seconds\xffquantile\xff0.9\xffservice\xffexponential",
            1.9435742936658396e-06,
            "rpc_durations_seconds",
            Some("0.9"),
        ),
        sq(
            b"rpc_durations_seconds\xffquantile\xff0.99\xffservice\xffexponential",
            4.0471608667037015e-06,
            "rpc_durations_seconds",
            Some("0.99"),
        ),
        help("without_quantiles", "A summary without quantiles."),
        typ("without_quantiles", MetricType::Summary),
        s(
            b"without_quantiles_count",
            42.0,
            &["__name__", "without_quantiles_count"],
        ),
        s(
            b"without_quantiles_sum",
            1.234,
            &["__name__", "without_quantiles_sum"],
        ),
    ]
}

fn counter_with_ct() -> Vec<Item> {
    vec![
        help(
            "test_counter_with_createdtimestamp",
            "A counter with a created timestamp.",
        ),
        typ("test_counter_with_createdtimestamp", MetricType::Counter),
        s(
            b"test_counter_with_createdtimestamp",
            42.0,
            &["__name__", "test_counter_with_createdtimestamp"],
        )
        .ct(1625851153146),
    ]
}

#[test]
fn upstream_table_ignoring_native_histograms() {
    let body = encode_delimited(&upstream_families());
    let got = parse(&mut ProtobufParser::new(&body, true, false)).unwrap();
    // Native histograms come out as their classic series.
    let hist_start = leading_items().len();
    assert_items(&got[..hist_start], &leading_items());
    assert_items(
        &got[hist_start..hist_start + 6],
        &classic_test_histogram("test_histogram", 1234568),
    );
    let find = |name: &str| {
        got.iter()
            .position(|i| matches!(i, Item::Type(n, _) if n == name))
            .expect("family present")
            + 1
    };
    let empty = find("empty_histogram");
    assert_items(
        &got[empty..empty + 3],
        &[
            s(
                b"empty_histogram_count",
                0.0,
                &["__name__", "empty_histogram_count"],
            ),
            s(
                b"empty_histogram_sum",
                0.0,
                &["__name__", "empty_histogram_sum"],
            ),
            s(
                b"empty_histogram_bucket\xffle\xff+Inf",
                0.0,
                &["__name__", "empty_histogram_bucket", "le", "+Inf"],
            ),
        ],
    );
    let zt = find("test_float_histogram_with_zerothreshold_zero");
    assert_items(
        &got[zt..zt + 3],
        &[
            s(
                b"test_float_histogram_with_zerothreshold_zero_count",
                5.0,
                &[
                    "__name__",
                    "test_float_histogram_with_zerothreshold_zero_count",
                ],
            ),
            s(
                b"test_float_histogram_with_zerothreshold_zero_sum",
                12.1,
                &[
                    "__name__",
                    "test_float_histogram_with_zerothreshold_zero_sum",
                ],
            ),
            s(
                b"test_float_histogram_with_zerothreshold_zero_bucket\xffle\xff+Inf",
                5.0,
                &[
                    "__name__",
                    "test_float_histogram_with_zerothreshold_zero_bucket",
                    "le",
                    "+Inf",
                ],
            ),
        ],
    );
    assert!(got.iter().all(|i| !matches!(i, Item::Hist { .. })));
}

#[test]
fn upstream_table_keeping_classic_histograms() {
    let body = encode_delimited(&upstream_families());
    let got = parse(&mut ProtobufParser::new(&body, false, true)).unwrap();
    let start = leading_items().len();
    let mut want = vec![
        hist(
            b"test_histogram",
            expected_test_histogram(model::CounterResetHint::Unknown),
            &["__name__", "test_histogram"],
        )
        .t(1234568)
        .ex("59727", -0.00039, Some(1625851155146)),
    ];
    want.extend(classic_test_histogram("test_histogram", 1234568));
    assert_items(&got[start..start + want.len()], &want);
    // A native histogram without classic buckets has no classic series to keep.
    let empty = got
        .iter()
        .position(|i| matches!(i, Item::Type(n, _) if n == "empty_histogram"))
        .expect("present");
    assert!(matches!(&got[empty + 1], Item::Hist { .. }));
    assert!(matches!(&got[empty + 2], Item::Help(..)));
}

#[test]
fn histograms_are_compacted_unless_their_spans_are_inconsistent() {
    let metric = |sp: Vec<BucketSpan>, deltas: Vec<i64>| {
        hist_metric(
            DtoHistogram {
                schema: 0,
                positive_span: sp,
                positive_delta: deltas,
                ..Default::default()
            },
            0,
        )
    };
    let body = encode_delimited(&[family(
        "h",
        "",
        DtoType::Histogram,
        vec![
            // Absolute counts 1, 0, 0, 2, 3 in touching spans.
            metric(
                vec![span(0, 2), span(0, 2), span(3, 1)],
                vec![1, -1, 0, 2, 1],
            ),
            // Three buckets promised, two given.
            metric(vec![span(0, 3)], vec![1, -1]),
        ],
    )]);
    let got = parse(&mut ProtobufParser::new(&body, false, false)).unwrap();
    let hs: Vec<Histogram> = got
        .into_iter()
        .filter_map(|i| match i {
            Item::Hist { h, .. } => h,
            _ => None,
        })
        .collect();
    assert_eq!(hs[0].positive_spans, spans(&[(0, 1), (2, 1), (3, 1)]));
    assert_eq!(hs[0].positive_buckets, vec![1, 1, 1]);
    assert_eq!(hs[1].positive_spans, spans(&[(0, 3)]));
    assert_eq!(hs[1].positive_buckets, vec![1, -1]);
}

fn parse_err(body: &[u8]) -> String {
    let mut p = ProtobufParser::new(body, false, false);
    loop {
        match p.next() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("parsed without error"),
            Err(e) => return e.to_string(),
        }
    }
}

#[test]
fn bad_payloads_are_errors_naming_the_problem() {
    let good = encode_delimited(&upstream_families()[..1]);
    // A length running past the end.
    let mut truncated = good.clone();
    truncated.pop();
    assert!(
        parse_err(&truncated).contains("exceeds the"),
        "{}",
        parse_err(&truncated)
    );
    // An unterminated varint.
    assert!(parse_err(&[0xff]).contains("reading the length at byte 0"));
    // Bytes that are not a MetricFamily.
    assert!(parse_err(&[2, 0x0a, 0x05]).contains("decoding the message at byte 1"));
    let bad = |f: MetricFamily| parse_err(&encode_delimited(&[f]));
    let one = || vec![Metric::default()];
    assert!(bad(family("", "", DtoType::Gauge, one())).contains("invalid metric name"));
    let mut f = family("x", "", DtoType::Gauge, one());
    f.r#type = 42;
    assert_eq!(
        bad(f),
        "protobuf metric family 1 (\"x\"): unknown metric type for metric \"x\": 42"
    );
    let mut f = family("x_seconds_total", "", DtoType::Counter, one());
    f.unit = "bytes".into();
    assert!(bad(f).contains("unit \"bytes\" not a suffix of counter \"x_seconds_total\""));
    let mut f = family("x", "", DtoType::Gauge, one());
    f.metric[0].label = vec![lp("a", "1"), lp("a", "2")];
    assert!(bad(f).contains("label name \"a\" is not unique"));
    let mut f = family("x", "", DtoType::Gauge, one());
    f.metric[0].label = vec![lp("", "1")];
    assert!(bad(f).contains("invalid label name"));
    // Units that are suffixes are fine, `_total` aside for counters.
    let mut f = family("x_bytes_total", "", DtoType::Counter, one());
    f.unit = "bytes".into();
    let body = encode_delimited(&[f]);
    assert!(parse(&mut ProtobufParser::new(&body, false, false)).is_ok());
}

#[test]
fn empty_families_are_skipped_and_missing_values_are_zero() {
    let body = encode_delimited(&[
        family("nothing", "", DtoType::Gauge, vec![]),
        family("bare", "", DtoType::Histogram, vec![Metric::default()]),
    ]);
    let got = parse(&mut ProtobufParser::new(&body, false, false)).unwrap();
    assert_eq!(
        got,
        vec![
            help("bare", ""),
            typ("bare", MetricType::Histogram),
            s(b"bare_count", 0.0, &["__name__", "bare_count"]),
            s(b"bare_sum", 0.0, &["__name__", "bare_sum"]),
            s(
                b"bare_bucket\xffle\xff+Inf",
                0.0,
                &["__name__", "bare_bucket", "le", "+Inf"]
            ),
        ]
    );
}

#[test]
fn nan_values_cannot_be_staleness_markers() {
    let stale = f64::from_bits(model::value::STALE_NAN_BITS);
    let body = encode_delimited(&[family(
        "g",
        "",
        DtoType::Gauge,
        vec![Metric {
            gauge: Some(Gauge { value: stale }),
            ..Default::default()
        }],
    )]);
    let mut p = ProtobufParser::new(&body, false, false);
    while p.next().unwrap() != Some(Entry::Series) {}
    assert_eq!(p.series().2.to_bits(), model::value::NORMAL_NAN_BITS);
}

fn arb_histogram() -> impl Strategy<Value = DtoHistogram> {
    (
        any::<u64>(),
        any::<f64>(),
        -10i32..10,
        prop::collection::vec((-5i32..5, 0u32..4), 0..4),
        prop::collection::vec(any::<i64>(), 0..8),
        prop::collection::vec(any::<f64>(), 0..8),
        prop::collection::vec((any::<u64>(), any::<f64>()), 0..4),
        any::<bool>(),
    )
        .prop_map(
            |(count, sum, schema, sp, deltas, counts, buckets, float)| DtoHistogram {
                sample_count: count,
                sample_count_float: if float { 1.0 } else { 0.0 },
                sample_sum: sum,
                bucket: buckets
                    .into_iter()
                    .map(|(c, ub)| Bucket {
                        cumulative_count: c,
                        upper_bound: ub,
                        ..Default::default()
                    })
                    .collect(),
                schema,
                positive_span: sp
                    .iter()
                    .map(|&(offset, length)| BucketSpan { offset, length })
                    .collect(),
                positive_delta: deltas,
                positive_count: counts,
                ..Default::default()
            },
        )
}

fn arb_family() -> impl Strategy<Value = MetricFamily> {
    (
        "[a-z_]{0,6}",
        0i32..7,
        prop::collection::vec(
            (
                prop::collection::vec(("[a-c]{0,2}", "[a-z]{0,2}"), 0..3),
                any::<f64>(),
                arb_histogram(),
                any::<i64>(),
            ),
            0..3,
        ),
    )
        .prop_map(|(name, t, metrics)| MetricFamily {
            name,
            help: String::new(),
            r#type: t,
            unit: String::new(),
            metric: metrics
                .into_iter()
                .map(|(labels, v, h, ts)| Metric {
                    label: labels.into_iter().map(|(n, v)| lp(&n, &v)).collect(),
                    gauge: Some(Gauge { value: v }),
                    counter: Some(Counter {
                        value: v,
                        ..Default::default()
                    }),
                    summary: Some(Summary {
                        sample_count: 1,
                        sample_sum: v,
                        quantile: vec![Quantile {
                            quantile: 0.5,
                            value: v,
                        }],
                        created_timestamp: None,
                    }),
                    untyped: None,
                    histogram: Some(h),
                    timestamp_ms: ts,
                })
                .collect(),
        })
}

/// Runs a parser to its end, reading every accessor of every entry.
fn drain(body: &[u8], ignore: bool, keep: bool) -> Result<usize> {
    // Conversion to custom buckets whenever classic histograms are kept.
    let mut p = ProtobufParser::new(body, ignore, keep).convert_classic_to_nhcb(keep);
    let mut n = 0;
    while let Some(e) = p.next()? {
        n += 1;
        let _ = p.series();
        let _ = p.histogram();
        let _ = p.labels()?;
        let _ = p.help();
        let _ = p.unit();
        let _ = p.metric_type();
        let _ = p.created_timestamp();
        while p.exemplar().is_some() {
            if e != Entry::Histogram {
                break;
            }
        }
    }
    Ok(n)
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = drain(&body, false, false);
        let _ = drain(&body, true, true);
    }

    #[test]
    fn corrupted_payloads_never_panic(
        fams in prop::collection::vec(arb_family(), 0..4),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut body = encode_delimited(&fams);
        let _ = drain(&body, false, true);
        for (i, b) in flips {
            if !body.is_empty() {
                let at = i.index(body.len());
                body[at] = b;
            }
        }
        let _ = drain(&body, false, false);
        let _ = drain(&body, true, false);
    }

    #[test]
    fn every_metric_of_valid_families_is_read(fams in prop::collection::vec(arb_family(), 0..4)) {
        let valid: Vec<MetricFamily> = fams
            .into_iter()
            .filter(|f| !f.name.is_empty() && f.r#type < 6 && f.metric.iter().all(|m| {
                let mut names: Vec<&str> = m.label.iter().map(|l| l.name.as_str()).collect();
                names.sort_unstable();
                names.windows(2).all(|w| w[0] != w[1])
                    && names.iter().all(|n| !n.is_empty() && *n != "__name__")
            }))
            .collect();
        let body = encode_delimited(&valid);
        let n = drain(&body, false, false).unwrap();
        let non_empty = valid.iter().filter(|f| !f.metric.is_empty()).count();
        let metrics: usize = valid.iter().map(|f| f.metric.len()).sum();
        // At least help and type per family and one entry per metric.
        prop_assert!(n >= 2 * non_empty + metrics);
    }
}

#[test]
fn classic_histograms_convert_to_custom_buckets() {
    let families = upstream_families();
    let body = encode_delimited(&families);
    let got =
        parse(&mut ProtobufParser::new(&body, false, false).convert_classic_to_nhcb(true)).unwrap();
    let at = |name: &str| {
        got.iter()
            .position(|i| matches!(i, Item::Type(n, _) if n == name))
            .expect("family present")
            + 1
    };
    // Cumulative 2, 4, 16 and a count of 175: buckets 2, 2, 12 and 159 above 1.0.
    let want = hist(
        b"test_histogram2",
        Histogram {
            schema: model::histogram::CUSTOM_BUCKETS_SCHEMA,
            count: 175,
            sum: 0.000828,
            positive_spans: spans(&[(0, 4)]),
            positive_buckets: vec![2, 0, 10, 147],
            custom_values: vec![-0.00048, -0.00038, 1.0],
            ..Default::default()
        },
        &["__name__", "test_histogram2"],
    )
    .ex("59727", -0.00038, Some(1625851153146));
    let h2 = at("test_histogram2");
    assert_eq!(got[h2], want);
    assert!(matches!(&got[h2 + 1], Item::Help(..)), "no classic series");
    // Native histograms stay exponential.
    let th = at("test_histogram");
    assert!(matches!(&got[th], Item::Hist { h: Some(h), .. } if h.schema == 3));

    // Kept classic series follow the converted histogram.
    let got =
        parse(&mut ProtobufParser::new(&body, false, true).convert_classic_to_nhcb(true)).unwrap();
    let h2 = got
        .iter()
        .position(|i| matches!(i, Item::Type(n, _) if n == "test_histogram2"))
        .expect("present")
        + 1;
    assert_eq!(got[h2], want);
    assert_eq!(
        got[h2 + 1],
        s(
            b"test_histogram2_count",
            175.0,
            &["__name__", "test_histogram2_count"]
        )
    );

    // Float counts give a float histogram; bounds that do not increase stay classic.
    let float = |typ: DtoType, bounds: [f64; 2]| {
        family(
            "f",
            "",
            typ,
            vec![hist_metric(
                DtoHistogram {
                    sample_count_float: 4.0,
                    sample_sum: 1.0,
                    bucket: bounds
                        .iter()
                        .map(|&upper_bound| Bucket {
                            cumulative_count_float: 1.5,
                            upper_bound,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                },
                0,
            )],
        )
    };
    let body = encode_delimited(&[
        float(DtoType::Histogram, [1.0, 2.0]),
        float(DtoType::Histogram, [2.0, 1.0]),
    ]);
    let got =
        parse(&mut ProtobufParser::new(&body, false, false).convert_classic_to_nhcb(true)).unwrap();
    assert_eq!(
        got[2],
        fhist(
            b"f",
            FloatHistogram {
                schema: model::histogram::CUSTOM_BUCKETS_SCHEMA,
                count: 4.0,
                sum: 1.0,
                // The empty second bucket is compacted away.
                positive_spans: spans(&[(0, 1), (1, 1)]),
                positive_buckets: vec![1.5, 2.5],
                custom_values: vec![1.0, 2.0],
                ..Default::default()
            },
            &["__name__", "f"],
        )
    );
    assert_eq!(got[5], s(b"f_count", 4.0, &["__name__", "f_count"]));

    // A gauge histogram stays classic, as Go's NHCB parser converts only histograms (found
    // by scrapediff against Prometheus 3.5).
    let body = encode_delimited(&[float(DtoType::GaugeHistogram, [1.0, 2.0])]);
    let got =
        parse(&mut ProtobufParser::new(&body, false, false).convert_classic_to_nhcb(true)).unwrap();
    assert!(
        got.iter().all(|i| !matches!(i, Item::Hist { .. })),
        "{got:?}"
    );
}
