//! The OTLP receiver end to end: `--web.enable-otlp-receiver`, an OTLP/HTTP protobuf export
//! posted to `/api/v1/otlp/v1/metrics`, the translated series queried back.

use std::time::SystemTime;

use prompb::Message as _;
use prompb::otlp::{
    AggregationTemporality, AnyValue, Exemplar, ExportMetricsServiceRequest,
    ExportMetricsServiceResponse, Gauge, KeyValue, Metric, NumberDataPoint, Resource,
    ResourceMetrics, ScopeMetrics, Sum, any_value, exemplar, metric::Data, number_data_point,
};

use super::{OURS, Prometheus, free_port};

fn start(extra: &[&str]) -> (tempfile::TempDir, Prometheus) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prometheus.yml");
    std::fs::write(
        &file,
        "global:\n  scrape_interval: 1s\notlp:\n  promote_resource_attributes: [deployment.environment]\n",
    )
    .unwrap();
    let p = Prometheus::ready(OURS, &file, free_port(), extra);
    (dir, p)
}

/// POSTs an OTLP body; returns (status, content type, body).
fn post(port: u16, content_type: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let (status, head, body) = super::post(
        port,
        "/api/v1/otlp/v1/metrics",
        &format!("Content-Type: {content_type}\r\n"),
        body,
    );
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type, body)
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
    }
}

fn export(t_ns: u64) -> ExportMetricsServiceRequest {
    let point = |v| NumberDataPoint {
        attributes: vec![kv("http.route", "/cart")],
        time_unix_nano: t_ns,
        value: Some(v),
        exemplars: vec![Exemplar {
            time_unix_nano: t_ns,
            value: Some(exemplar::Value::AsInt(1)),
            trace_id: vec![0x5b; 16],
            span_id: vec![0xee; 8],
            ..Default::default()
        }],
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "checkout"),
                    kv("service.instance.id", "pod-1"),
                    kv("deployment.environment", "prod"),
                ],
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    Metric {
                        name: "http.server.requests".into(),
                        unit: "{request}".into(),
                        data: Some(Data::Sum(Sum {
                            data_points: vec![point(number_data_point::Value::AsInt(12))],
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "process.memory.usage".into(),
                        unit: "By".into(),
                        data: Some(Data::Gauge(Gauge {
                            data_points: vec![point(number_data_point::Value::AsDouble(2048.0))],
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "jobs.done".into(),
                        data: Some(Data::Sum(Sum {
                            data_points: vec![point(number_data_point::Value::AsInt(1))],
                            aggregation_temporality: AggregationTemporality::Delta as i32,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

#[test]
fn otlp_export_is_stored_under_prometheus_names() {
    let (_dir, prom) = start(&[
        "--web.enable-otlp-receiver",
        "--enable-feature=exemplar-storage",
    ]);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    let t_ns = u64::try_from(now.as_nanos()).unwrap();
    let secs = format!("{}.{:03}", now.as_secs(), now.subsec_millis());

    let (status, content_type, body) = post(
        prom.port,
        "application/x-protobuf",
        &export(t_ns).encode_to_vec(),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // The delta sum is refused and reported, the rest is stored.
    assert_eq!(content_type, "application/x-protobuf");
    let partial = ExportMetricsServiceResponse::decode(body.as_slice())
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(partial.rejected_data_points, 1);
    assert!(
        partial.error_message.contains("jobs.done"),
        "{}",
        partial.error_message
    );

    let (_, answer) = prom.get(&format!(
        "/api/v1/query?query=http_server_requests_total&time={secs}"
    ));
    assert!(
        answer.contains(
            r#"{"metric":{"__name__":"http_server_requests_total","deployment_environment":"prod","http_route":"/cart","instance":"pod-1","job":"checkout"},"value":["#
        ) && answer.contains(r#","12"]}"#),
        "{answer}"
    );
    let (_, answer) = prom.get(&format!(
        "/api/v1/query?query=process_memory_usage_bytes&time={secs}"
    ));
    assert!(answer.contains(r#","2048"]}"#), "{answer}");
    let (_, answer) = prom.get(&format!("/api/v1/query?query=target_info&time={secs}"));
    assert!(
        answer.contains(
            r#"{"__name__":"target_info","deployment_environment":"prod","instance":"pod-1","job":"checkout"}"#
        ),
        "{answer}"
    );
    let (_, answer) = prom.get(&format!("/api/v1/query?query=jobs_done_total&time={secs}"));
    assert!(answer.contains(r#""result":[]"#), "{answer}");

    // The counter's exemplar is stored with its series (gauges keep none, as in Prometheus).
    let (_, answer) = prom.get(&format!(
        "/api/v1/query_exemplars?query=%7Bjob%3D%22checkout%22%7D&start={}&end={}",
        now.as_secs() - 60,
        now.as_secs() + 60
    ));
    assert!(
        answer.contains(&format!(r#""trace_id":"{}""#, "5b".repeat(16)))
            && answer.contains(&format!(r#""span_id":"{}""#, "ee".repeat(8)))
            && answer.contains("http_server_requests_total")
            && !answer.contains("process_memory_usage_bytes"),
        "{answer}"
    );

    let (_, flags) = prom.get("/api/v1/status/flags");
    assert!(
        flags.contains(r#""web.enable-otlp-receiver":"true""#),
        "{flags}"
    );
    let (status, _, body) = post(prom.port, "application/x-protobuf", b"\xff\xff");
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
}

#[test]
fn otlp_receiver_is_off_by_default() {
    let (_dir, prom) = start(&[]);
    let (status, _, body) = post(prom.port, "application/x-protobuf", &[]);
    assert_eq!(status, 404);
    assert_eq!(
        String::from_utf8_lossy(&body),
        r#"{"status":"error","errorType":"not_found","error":"otlp write receiver needs to be enabled with --web.enable-otlp-receiver"}"#
    );
}
