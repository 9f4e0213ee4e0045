//! `/api/v1/otlp/v1/metrics`: OTLP exports posted as protobuf, JSON and gzip, queried back.

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use prompb::Message as _;
use prompb::otlp::{
    AggregationTemporality, AnyValue, ExponentialHistogram, ExponentialHistogramDataPoint,
    ExportMetricsServiceRequest, ExportMetricsServiceResponse, Histogram, HistogramDataPoint,
    KeyValue, Metric, NumberDataPoint, Resource, ResourceMetrics, ScopeMetrics, Sum, any_value,
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
};

use super::{get, server};

/// 10 s after the epoch, in nanoseconds.
const T: u64 = 10_000_000_000;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
    }
}

fn export() -> ExportMetricsServiceRequest {
    let counter = Metric {
        name: "http.server.requests".into(),
        unit: "1".into(),
        data: Some(Data::Sum(Sum {
            data_points: vec![NumberDataPoint {
                attributes: vec![kv("http.method", "GET")],
                time_unix_nano: T,
                value: Some(number_data_point::Value::AsInt(7)),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    let histogram = Metric {
        name: "http.server.duration".into(),
        unit: "s".into(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                time_unix_nano: T,
                count: 4,
                sum: Some(1.5),
                bucket_counts: vec![1, 2, 1],
                explicit_bounds: vec![0.1, 0.5],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    };
    let exponential = Metric {
        name: "rpc.latency".into(),
        unit: "ms".into(),
        data: Some(Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                time_unix_nano: T,
                count: 3,
                sum: Some(6.0),
                positive: Some(Buckets {
                    offset: 0,
                    bucket_counts: vec![1, 2],
                }),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    };
    let delta = Metric {
        name: "jobs.done".into(),
        data: Some(Data::Sum(Sum {
            data_points: vec![NumberDataPoint {
                time_unix_nano: T,
                value: Some(number_data_point::Value::AsInt(1)),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.namespace", "shop"),
                    kv("service.name", "cart"),
                    kv("service.instance.id", "cart-1"),
                    kv("host.name", "node-a"),
                ],
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![counter, histogram, exponential, delta],
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

async fn post(
    handler: &web::Handler,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, http::HeaderMap, Bytes) {
    let mut req = Request::post("/api/v1/otlp/v1/metrics")
        .header("Content-Type", content_type)
        .header("Accept-Encoding", "identity");
    if let Some(e) = encoding {
        req = req.header("Content-Encoding", e);
    }
    let resp = handler
        .handle(req.body(Full::new(Bytes::from(body))).unwrap())
        .await;
    let (status, headers) = (resp.status(), resp.headers().clone());
    (
        status,
        headers,
        resp.into_body().collect().await.unwrap().to_bytes(),
    )
}

fn vector(metric: &str, value: &str) -> String {
    format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{metric},"value":[10,"{value}"]}}]}}}}"#
    )
}

#[tokio::test]
async fn protobuf_export_is_translated_and_queryable() {
    let s = server(false);
    let (status, headers, body) = post(
        &s.handler,
        "application/x-protobuf",
        None,
        export().encode_to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    // The delta sum was refused, and said so.
    assert_eq!(headers["content-type"], "application/x-protobuf");
    let resp = ExportMetricsServiceResponse::decode(body).unwrap();
    let partial = resp.partial_success.unwrap();
    assert_eq!(partial.rejected_data_points, 1);
    assert!(
        partial.error_message.contains("jobs.done")
            && partial.error_message.contains("delta temporality"),
        "{}",
        partial.error_message
    );
    // The exponential histogram is a native histogram (MemStorage keeps them).
    let a = get(
        &s.handler,
        "/api/v1/query?query=rpc_latency_milliseconds&time=10",
    )
    .await;
    assert!(
        a.body.contains(r#""histogram":[10,{"count":"3","sum":"6""#),
        "{}",
        a.body
    );

    let a = get(
        &s.handler,
        "/api/v1/query?query=http_server_requests_total&time=10",
    )
    .await;
    assert_eq!(
        a.body,
        vector(
            r#"{"__name__":"http_server_requests_total","http_method":"GET","instance":"cart-1","job":"shop/cart"}"#,
            "7"
        )
    );
    let a = get(
        &s.handler,
        "/api/v1/query?query=http_server_duration_seconds_bucket%7Ble%3D%220.5%22%7D&time=10",
    )
    .await;
    assert_eq!(
        a.body,
        vector(
            r#"{"__name__":"http_server_duration_seconds_bucket","instance":"cart-1","job":"shop/cart","le":"0.5"}"#,
            "3"
        )
    );
    let a = get(&s.handler, "/api/v1/query?query=target_info&time=10").await;
    assert_eq!(
        a.body,
        vector(
            r#"{"__name__":"target_info","host_name":"node-a","instance":"cart-1","job":"shop/cart"}"#,
            "1"
        )
    );
}

#[tokio::test]
async fn json_and_gzip_exports_and_bad_requests() {
    let s = server(false);
    let json = br#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"js"}}]},
        "scopeMetrics":[{"metrics":[{"name":"queue.depth","unit":"{items}","gauge":{"dataPoints":[{"timeUnixNano":"10000000000","asDouble":3.5}]}}]}]}]}"#;
    let (status, headers, body) = post(&s.handler, "application/json", None, json.to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    assert!(body.is_empty(), "full success answers an empty body");
    assert!(headers.get("content-type").is_none());
    let a = get(&s.handler, "/api/v1/query?query=queue_depth&time=10").await;
    assert_eq!(
        a.body,
        vector(r#"{"__name__":"queue_depth","job":"js"}"#, "3.5")
    );

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &export().encode_to_vec()).unwrap();
    let (status, _, _) = post(
        &s.handler,
        "application/x-protobuf",
        Some("gzip"),
        gz.finish().unwrap(),
    )
    .await;
    // Same samples again: duplicates of what is stored are fine, other values are not.
    assert_eq!(status, StatusCode::OK);

    let (status, headers, body) =
        post(&s.handler, "text/plain", None, export().encode_to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        body,
        r#"{"status":"error","errorType":"bad_data","error":"invalid remote OTLP request: unsupported content type: text/plain, supported: [application/json, application/x-protobuf]"}"#
    );
    let (status, _, body) = post(&s.handler, "application/x-protobuf", None, vec![0xff; 3]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");

    // A changed value at a stored timestamp is rejected by the storage: 400.
    let mut changed = export();
    if let Some(Data::Sum(sum)) = &mut changed.resource_metrics[0].scope_metrics[0].metrics[0].data
    {
        sum.data_points[0].value = Some(number_data_point::Value::AsInt(8));
    }
    let (status, _, body) = post(
        &s.handler,
        "application/x-protobuf",
        None,
        changed.encode_to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
    assert!(
        String::from_utf8_lossy(&body).contains("duplicate sample for timestamp"),
        "{body:?}"
    );
}
