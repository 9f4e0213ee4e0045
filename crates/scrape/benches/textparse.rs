//! Parser throughput on Prometheus's 237-family benchmark payload (text format, and the same
//! families converted to OpenMetrics): MB/s and samples/s, with and without building labels;
//! and on a synthetic protobuf payload of counters, classic and native histograms.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scrape::textparse::{
    Entry, OpenMetricsParser, Parser, PromParser, ProtobufParser, collect_families, dto,
    write_openmetrics,
};

/// Parses the whole payload; returns the number of samples (and touches their labels when
/// `labels` is set, as a scrape loop does on a cache miss).
fn run(p: &mut dyn Parser, labels: bool) -> usize {
    let mut n = 0;
    while let Some(e) = p.next().expect("benchmark payload parses") {
        if e == Entry::Series {
            let (m, _, v) = p.series();
            black_box((m, v));
            if labels {
                black_box(p.labels().expect("valid labels"));
            }
            n += 1;
        } else if e == Entry::Histogram {
            black_box(p.histogram());
            if labels {
                black_box(p.labels().expect("valid labels"));
            }
            n += 1;
        }
    }
    n
}

fn payloads() -> Option<Vec<(&'static str, Vec<u8>)>> {
    let dir = test_support::testdata_dir("upstream/model/textparse/testdata")?;
    let text = std::fs::read(dir.join("alltypes.237mfs.prom.txt")).expect("reading payload");
    let families = collect_families(&mut PromParser::new(&text)).expect("payload parses");
    let om = write_openmetrics(&families).into_bytes();
    Some(vec![("promtext", text), ("openmetrics", om)])
}

/// 60 families of 5 metrics each: counters, classic histograms with 10 buckets, and native
/// histograms with 12 buckets in two spans (1200 entries).
fn protobuf_payload() -> Vec<u8> {
    let label = |n: &str, v: String| dto::LabelPair {
        name: n.into(),
        value: v,
    };
    let families: Vec<dto::MetricFamily> = (0..60)
        .map(|f| {
            let kind = f % 3;
            let metric = (0..5)
                .map(|m| {
                    let mut metric = dto::Metric {
                        label: vec![
                            label("instance", format!("host-{m}")),
                            label("method", "GET".into()),
                        ],
                        ..Default::default()
                    };
                    match kind {
                        0 => {
                            metric.counter = Some(dto::Counter {
                                value: f64::from(m) * 1.5,
                                ..Default::default()
                            });
                        }
                        1 => {
                            metric.histogram = Some(dto::Histogram {
                                sample_count: 100,
                                sample_sum: 42.0,
                                bucket: (0..10)
                                    .map(|b| dto::Bucket {
                                        cumulative_count: 10 * b,
                                        upper_bound: 0.001 * 2f64.powi(b as i32),
                                        ..Default::default()
                                    })
                                    .collect(),
                                ..Default::default()
                            });
                        }
                        _ => {
                            metric.histogram = Some(dto::Histogram {
                                sample_count: 100,
                                sample_sum: 42.0,
                                schema: 3,
                                zero_threshold: 1e-128,
                                zero_count: 2,
                                positive_span: vec![
                                    dto::BucketSpan {
                                        offset: -3,
                                        length: 6,
                                    },
                                    dto::BucketSpan {
                                        offset: 4,
                                        length: 6,
                                    },
                                ],
                                positive_delta: vec![1, 2, -1, 3, 0, 1, -2, 4, 1, -3, 2, 0],
                                ..Default::default()
                            });
                        }
                    }
                    metric
                })
                .collect();
            dto::MetricFamily {
                name: format!("family_{f}"),
                help: "Synthetic.".into(),
                r#type: if kind == 0 {
                    dto::MetricType::Counter as i32
                } else {
                    dto::MetricType::Histogram as i32
                },
                metric,
                unit: String::new(),
            }
        })
        .collect();
    dto::encode_delimited(&families)
}

fn parser<'a>(format: &str, body: &'a [u8]) -> Box<dyn Parser + 'a> {
    match format {
        "promtext" => Box::new(PromParser::new(body)),
        "protobuf" => Box::new(ProtobufParser::new(body, false, false)),
        _ => Box::new(OpenMetricsParser::new(body)),
    }
}

fn bench(c: &mut Criterion) {
    let mut payloads = payloads().unwrap_or_default();
    payloads.push(("protobuf", protobuf_payload()));
    for (unit, per_bytes) in [("bytes", true), ("samples", false)] {
        let mut group = c.benchmark_group(format!("textparse/{unit}"));
        group
            .sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        for (format, body) in &payloads {
            let samples = run(&mut *parser(format, body), false);
            group.throughput(if per_bytes {
                Throughput::Bytes(body.len() as u64)
            } else {
                Throughput::Elements(samples as u64)
            });
            for labels in [false, true] {
                let name = format!("{format}/{}", if labels { "labels" } else { "series" });
                group.bench_function(name, |b| {
                    b.iter(|| run(&mut *parser(format, black_box(body)), labels));
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
