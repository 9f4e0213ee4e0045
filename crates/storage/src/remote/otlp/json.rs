//! OTLP/JSON (`application/json`) request decoding, as pdata's JSON unmarshaler reads it:
//! lowerCamelCase field names (snake_case accepted too), 64-bit integers as numbers or
//! decimal strings, floats as numbers or the strings `NaN`, `Infinity`, `-Infinity`, enums as
//! numbers or their names, `bytesValue` in base64; unknown fields are ignored.

use base64::Engine as _;
use serde_json::{Map, Value};

use prompb::otlp::{
    AnyValue, ArrayValue, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint,
    ExportMetricsServiceRequest, Gauge, Histogram, HistogramDataPoint, InstrumentationScope,
    KeyValue, KeyValueList, Metric, NumberDataPoint, Resource, ResourceMetrics, ScopeMetrics, Sum,
    Summary, SummaryDataPoint, ValueAtQuantile, any_value, exemplar,
    exponential_histogram_data_point, metric, number_data_point,
};

type Result<T> = std::result::Result<T, String>;

/// Decodes an OTLP/JSON `ExportMetricsServiceRequest`.
pub(crate) fn decode(body: &[u8]) -> Result<ExportMetricsServiceRequest> {
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let o = object(&v, "ExportMetricsServiceRequest")?;
    Ok(ExportMetricsServiceRequest {
        resource_metrics: list(o, "resourceMetrics", "resource_metrics", resource_metrics)?,
    })
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| format!("{what}: expected an object, got {v}"))
}

/// The field under its camelCase or snake_case name; `null` counts as absent.
fn field<'a>(o: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    o.get(camel)
        .or_else(|| o.get(snake))
        .filter(|v| !v.is_null())
}

fn list<T>(
    o: &Map<String, Value>,
    camel: &str,
    snake: &str,
    item: impl Fn(&Value) -> Result<T>,
) -> Result<Vec<T>> {
    match field(o, camel, snake) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(item).collect(),
        Some(v) => Err(format!("{camel}: expected an array, got {v}")),
    }
}

fn string(o: &Map<String, Value>, camel: &str, snake: &str) -> Result<String> {
    match field(o, camel, snake) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Err(format!("{camel}: expected a string, got {v}")),
    }
}

fn boolean(o: &Map<String, Value>, camel: &str, snake: &str) -> Result<bool> {
    match field(o, camel, snake) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(format!("{camel}: expected a boolean, got {v}")),
    }
}

fn u64_value(v: &Value, what: &str) -> Result<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("{what}: expected an unsigned integer, got {v}"))
}

fn i64_value(v: &Value, what: &str) -> Result<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("{what}: expected an integer, got {v}"))
}

fn f64_value(v: &Value, what: &str) -> Result<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            s => s.parse().ok().filter(|f: &f64| f.is_finite()),
        },
        _ => None,
    }
    .ok_or_else(|| format!("{what}: expected a number, got {v}"))
}

fn u64_field(o: &Map<String, Value>, camel: &str, snake: &str) -> Result<u64> {
    field(o, camel, snake).map_or(Ok(0), |v| u64_value(v, camel))
}

fn u32_field(o: &Map<String, Value>, camel: &str, snake: &str) -> Result<u32> {
    let v = u64_field(o, camel, snake)?;
    u32::try_from(v).map_err(|_| format!("{camel}: {v} does not fit 32 bits"))
}

fn f64_field(o: &Map<String, Value>, camel: &str, snake: &str) -> Result<Option<f64>> {
    field(o, camel, snake)
        .map(|v| f64_value(v, camel))
        .transpose()
}

/// `aggregationTemporality`: a number or the enum value's name.
fn temporality(o: &Map<String, Value>) -> Result<i32> {
    match field(o, "aggregationTemporality", "aggregation_temporality") {
        None => Ok(0),
        Some(Value::String(s)) => match s.as_str() {
            "AGGREGATION_TEMPORALITY_UNSPECIFIED" => Ok(0),
            "AGGREGATION_TEMPORALITY_DELTA" => Ok(1),
            "AGGREGATION_TEMPORALITY_CUMULATIVE" => Ok(2),
            other => other
                .parse()
                .map_err(|_| format!("aggregationTemporality: unknown value {other:?}")),
        },
        Some(v) => {
            let n = i64_value(v, "aggregationTemporality")?;
            i32::try_from(n).map_err(|_| format!("aggregationTemporality: {n} out of range"))
        }
    }
}

fn resource_metrics(v: &Value) -> Result<ResourceMetrics> {
    let o = object(v, "resourceMetrics")?;
    let resource = field(o, "resource", "resource")
        .map(|r| {
            let r = object(r, "resource")?;
            Ok::<_, String>(Resource {
                attributes: list(r, "attributes", "attributes", key_value)?,
            })
        })
        .transpose()?;
    Ok(ResourceMetrics {
        resource,
        scope_metrics: list(o, "scopeMetrics", "scope_metrics", scope_metrics)?,
        schema_url: string(o, "schemaUrl", "schema_url")?,
    })
}

fn scope_metrics(v: &Value) -> Result<ScopeMetrics> {
    let o = object(v, "scopeMetrics")?;
    let scope = field(o, "scope", "scope")
        .map(|s| {
            let s = object(s, "scope")?;
            Ok::<_, String>(InstrumentationScope {
                name: string(s, "name", "name")?,
                version: string(s, "version", "version")?,
                attributes: list(s, "attributes", "attributes", key_value)?,
            })
        })
        .transpose()?;
    Ok(ScopeMetrics {
        scope,
        metrics: list(o, "metrics", "metrics", metric)?,
        schema_url: string(o, "schemaUrl", "schema_url")?,
    })
}

fn metric(v: &Value) -> Result<Metric> {
    let o = object(v, "metric")?;
    let data_points = |kind: &str, camel: &str| -> Result<&Map<String, Value>> {
        object(field(o, camel, kind).unwrap_or(&Value::Null), camel)
    };
    let data = if field(o, "gauge", "gauge").is_some() {
        let g = data_points("gauge", "gauge")?;
        Some(metric::Data::Gauge(Gauge {
            data_points: list(g, "dataPoints", "data_points", number_point)?,
        }))
    } else if field(o, "sum", "sum").is_some() {
        let s = data_points("sum", "sum")?;
        Some(metric::Data::Sum(Sum {
            data_points: list(s, "dataPoints", "data_points", number_point)?,
            aggregation_temporality: temporality(s)?,
            is_monotonic: boolean(s, "isMonotonic", "is_monotonic")?,
        }))
    } else if field(o, "histogram", "histogram").is_some() {
        let h = data_points("histogram", "histogram")?;
        Some(metric::Data::Histogram(Histogram {
            data_points: list(h, "dataPoints", "data_points", histogram_point)?,
            aggregation_temporality: temporality(h)?,
        }))
    } else if field(o, "exponentialHistogram", "exponential_histogram").is_some() {
        let h = data_points("exponential_histogram", "exponentialHistogram")?;
        Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: list(h, "dataPoints", "data_points", exponential_point)?,
            aggregation_temporality: temporality(h)?,
        }))
    } else if field(o, "summary", "summary").is_some() {
        let s = data_points("summary", "summary")?;
        Some(metric::Data::Summary(Summary {
            data_points: list(s, "dataPoints", "data_points", summary_point)?,
        }))
    } else {
        None
    };
    Ok(Metric {
        name: string(o, "name", "name")?,
        description: string(o, "description", "description")?,
        unit: string(o, "unit", "unit")?,
        data,
    })
}

fn number_point(v: &Value) -> Result<NumberDataPoint> {
    let o = object(v, "dataPoint")?;
    let value = if let Some(d) = field(o, "asDouble", "as_double") {
        Some(number_data_point::Value::AsDouble(f64_value(
            d, "asDouble",
        )?))
    } else if let Some(i) = field(o, "asInt", "as_int") {
        Some(number_data_point::Value::AsInt(i64_value(i, "asInt")?))
    } else {
        None
    };
    Ok(NumberDataPoint {
        attributes: list(o, "attributes", "attributes", key_value)?,
        start_time_unix_nano: u64_field(o, "startTimeUnixNano", "start_time_unix_nano")?,
        time_unix_nano: u64_field(o, "timeUnixNano", "time_unix_nano")?,
        value,
        exemplars: list(o, "exemplars", "exemplars", exemplar)?,
        flags: u32_field(o, "flags", "flags")?,
    })
}

fn histogram_point(v: &Value) -> Result<HistogramDataPoint> {
    let o = object(v, "dataPoint")?;
    Ok(HistogramDataPoint {
        attributes: list(o, "attributes", "attributes", key_value)?,
        start_time_unix_nano: u64_field(o, "startTimeUnixNano", "start_time_unix_nano")?,
        time_unix_nano: u64_field(o, "timeUnixNano", "time_unix_nano")?,
        count: u64_field(o, "count", "count")?,
        sum: f64_field(o, "sum", "sum")?,
        bucket_counts: list(o, "bucketCounts", "bucket_counts", |v| {
            u64_value(v, "bucketCounts")
        })?,
        explicit_bounds: list(o, "explicitBounds", "explicit_bounds", |v| {
            f64_value(v, "explicitBounds")
        })?,
        exemplars: list(o, "exemplars", "exemplars", exemplar)?,
        flags: u32_field(o, "flags", "flags")?,
    })
}

fn exponential_point(v: &Value) -> Result<ExponentialHistogramDataPoint> {
    let o = object(v, "dataPoint")?;
    let buckets = |camel: &str| {
        field(o, camel, camel)
            .map(|b| {
                let b = object(b, camel)?;
                let offset =
                    field(b, "offset", "offset").map_or(Ok(0), |v| i64_value(v, "offset"))?;
                Ok::<_, String>(exponential_histogram_data_point::Buckets {
                    offset: i32::try_from(offset)
                        .map_err(|_| format!("offset: {offset} out of range"))?,
                    bucket_counts: list(b, "bucketCounts", "bucket_counts", |v| {
                        u64_value(v, "bucketCounts")
                    })?,
                })
            })
            .transpose()
    };
    let scale = field(o, "scale", "scale").map_or(Ok(0), |v| i64_value(v, "scale"))?;
    Ok(ExponentialHistogramDataPoint {
        attributes: list(o, "attributes", "attributes", key_value)?,
        start_time_unix_nano: u64_field(o, "startTimeUnixNano", "start_time_unix_nano")?,
        time_unix_nano: u64_field(o, "timeUnixNano", "time_unix_nano")?,
        count: u64_field(o, "count", "count")?,
        sum: f64_field(o, "sum", "sum")?,
        scale: i32::try_from(scale).map_err(|_| format!("scale: {scale} out of range"))?,
        zero_count: u64_field(o, "zeroCount", "zero_count")?,
        positive: buckets("positive")?,
        negative: buckets("negative")?,
        flags: u32_field(o, "flags", "flags")?,
        exemplars: list(o, "exemplars", "exemplars", exemplar)?,
        zero_threshold: f64_field(o, "zeroThreshold", "zero_threshold")?.unwrap_or(0.0),
    })
}

fn summary_point(v: &Value) -> Result<SummaryDataPoint> {
    let o = object(v, "dataPoint")?;
    Ok(SummaryDataPoint {
        attributes: list(o, "attributes", "attributes", key_value)?,
        start_time_unix_nano: u64_field(o, "startTimeUnixNano", "start_time_unix_nano")?,
        time_unix_nano: u64_field(o, "timeUnixNano", "time_unix_nano")?,
        count: u64_field(o, "count", "count")?,
        sum: f64_field(o, "sum", "sum")?.unwrap_or(0.0),
        quantile_values: list(o, "quantileValues", "quantile_values", |v| {
            let q = object(v, "quantileValues")?;
            Ok(ValueAtQuantile {
                quantile: f64_field(q, "quantile", "quantile")?.unwrap_or(0.0),
                value: f64_field(q, "value", "value")?.unwrap_or(0.0),
            })
        })?,
        flags: u32_field(o, "flags", "flags")?,
    })
}

/// An exemplar; `traceId` and `spanId` are hex strings in OTLP/JSON.
fn exemplar(v: &Value) -> Result<Exemplar> {
    let o = object(v, "exemplar")?;
    let value = if let Some(d) = field(o, "asDouble", "as_double") {
        Some(exemplar::Value::AsDouble(f64_value(d, "asDouble")?))
    } else if let Some(i) = field(o, "asInt", "as_int") {
        Some(exemplar::Value::AsInt(i64_value(i, "asInt")?))
    } else {
        None
    };
    Ok(Exemplar {
        filtered_attributes: list(o, "filteredAttributes", "filtered_attributes", key_value)?,
        time_unix_nano: u64_field(o, "timeUnixNano", "time_unix_nano")?,
        value,
        span_id: hex_field(o, "spanId", "span_id", 8)?,
        trace_id: hex_field(o, "traceId", "trace_id", 16)?,
    })
}

/// A hex-encoded id of `len` bytes (or empty).
fn hex_field(o: &Map<String, Value>, camel: &str, snake: &str, len: usize) -> Result<Vec<u8>> {
    let s = string(o, camel, snake)?;
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let bytes = s.as_bytes();
    if bytes.len() != 2 * len {
        return Err(format!(
            "{camel}: expected {} hex digits, got {s:?}",
            2 * len
        ));
    }
    let digit = |c: u8| (c as char).to_digit(16);
    bytes
        .chunks(2)
        .map(|p| match (digit(p[0]), digit(p[1])) {
            (Some(h), Some(l)) => Ok((h * 16 + l) as u8),
            _ => Err(format!("{camel}: invalid hex {s:?}")),
        })
        .collect()
}

fn key_value(v: &Value) -> Result<KeyValue> {
    let o = object(v, "attribute")?;
    Ok(KeyValue {
        key: string(o, "key", "key")?,
        value: field(o, "value", "value").map(any_value).transpose()?,
    })
}

fn any_value(v: &Value) -> Result<AnyValue> {
    let o = object(v, "value")?;
    use any_value::Value as V;
    let value = if let Some(s) = field(o, "stringValue", "string_value") {
        let s = s
            .as_str()
            .ok_or_else(|| format!("stringValue: expected a string, got {s}"))?;
        Some(V::StringValue(s.to_owned()))
    } else if field(o, "boolValue", "bool_value").is_some() {
        Some(V::BoolValue(boolean(o, "boolValue", "bool_value")?))
    } else if let Some(i) = field(o, "intValue", "int_value") {
        Some(V::IntValue(i64_value(i, "intValue")?))
    } else if let Some(d) = field(o, "doubleValue", "double_value") {
        Some(V::DoubleValue(f64_value(d, "doubleValue")?))
    } else if let Some(a) = field(o, "arrayValue", "array_value") {
        let a = object(a, "arrayValue")?;
        Some(V::ArrayValue(ArrayValue {
            values: list(a, "values", "values", any_value)?,
        }))
    } else if let Some(kv) = field(o, "kvlistValue", "kvlist_value") {
        let kv = object(kv, "kvlistValue")?;
        Some(V::KvlistValue(KeyValueList {
            values: list(kv, "values", "values", key_value)?,
        }))
    } else if let Some(b) = field(o, "bytesValue", "bytes_value") {
        let b = b
            .as_str()
            .ok_or_else(|| format!("bytesValue: expected a base64 string, got {b}"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|e| format!("bytesValue: {e}"))?;
        Some(V::BytesValue(bytes))
    } else {
        None
    };
    Ok(AnyValue { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_otlp_json_example() {
        // The shape of opentelemetry-proto's examples/metrics.json.
        let body = br#"{
          "resourceMetrics": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
            "scopeMetrics": [{
              "scope": {"name": "my.library", "version": "1.0.0",
                        "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "some scope attribute"}}]},
              "metrics": [
                {"name": "my.counter", "unit": "1", "description": "I am a Counter",
                 "sum": {"aggregationTemporality": 2, "isMonotonic": true,
                         "dataPoints": [{"asDouble": 5, "startTimeUnixNano": "1544712660300000000",
                                         "timeUnixNano": "1544712660300000000",
                                         "attributes": [{"key": "my.counter.attr", "value": {"stringValue": "some value"}}]}]}},
                {"name": "my.gauge", "unit": "1", "gauge": {"dataPoints": [{"asInt": "10", "timeUnixNano": 1544712660300000000}]}},
                {"name": "my.histogram", "unit": "1",
                 "histogram": {"aggregationTemporality": "AGGREGATION_TEMPORALITY_CUMULATIVE",
                               "dataPoints": [{"timeUnixNano": "1544712660300000000", "count": 2, "sum": 2,
                                               "bucketCounts": [1, "1"], "explicitBounds": [1], "min": 0, "max": 2}]}},
                {"name": "nan.gauge", "gauge": {"data_points": [{"as_double": "NaN", "flags": 1}]}}
              ]
            }]
          }]
        }"#;
        let req = decode(body).expect("decodes");
        let sm = &req.resource_metrics[0].scope_metrics[0];
        assert_eq!(
            sm.scope.as_ref().map(|s| s.name.as_str()),
            Some("my.library")
        );
        assert_eq!(sm.metrics.len(), 4);
        let Some(metric::Data::Sum(sum)) = &sm.metrics[0].data else {
            panic!("sum expected")
        };
        assert!(sum.is_monotonic);
        assert_eq!(sum.aggregation_temporality, 2);
        assert_eq!(sum.data_points[0].time_unix_nano, 1_544_712_660_300_000_000);
        assert_eq!(
            sum.data_points[0].value,
            Some(number_data_point::Value::AsDouble(5.0))
        );
        let Some(metric::Data::Gauge(g)) = &sm.metrics[1].data else {
            panic!("gauge expected")
        };
        assert_eq!(
            g.data_points[0].value,
            Some(number_data_point::Value::AsInt(10))
        );
        let Some(metric::Data::Histogram(h)) = &sm.metrics[2].data else {
            panic!("histogram expected")
        };
        assert_eq!(h.aggregation_temporality, 2);
        assert_eq!(h.data_points[0].bucket_counts, vec![1, 1]);
        assert_eq!(h.data_points[0].sum, Some(2.0));
        let Some(metric::Data::Gauge(g)) = &sm.metrics[3].data else {
            panic!("gauge expected")
        };
        assert_eq!(g.data_points[0].flags, 1);
        assert!(matches!(
            g.data_points[0].value,
            Some(number_data_point::Value::AsDouble(v)) if v.is_nan()
        ));
    }

    #[test]
    fn attribute_values_of_every_kind() {
        let body = br#"{"resourceMetrics":[{"resource":{"attributes":[
            {"key":"s","value":{"stringValue":"x"}},
            {"key":"b","value":{"boolValue":true}},
            {"key":"i","value":{"intValue":"-3"}},
            {"key":"d","value":{"doubleValue":1.5}},
            {"key":"y","value":{"bytesValue":"aGk="}},
            {"key":"a","value":{"arrayValue":{"values":[{"intValue":1}]}}},
            {"key":"m","value":{"kvlistValue":{"values":[{"key":"k","value":{"stringValue":"v"}}]}}},
            {"key":"e","value":{}},
            {"key":"n"}
        ]}}]}"#;
        let req = decode(body).expect("decodes");
        let attrs = &req.resource_metrics[0]
            .resource
            .as_ref()
            .expect("resource")
            .attributes;
        let shown: Vec<String> = attrs
            .iter()
            .map(|kv| super::super::value::as_string(kv.value.as_ref()))
            .collect();
        assert_eq!(
            shown,
            [
                "x",
                "true",
                "-3",
                "1.5",
                "aGk=",
                "[1]",
                r#"{"k":"v"}"#,
                "",
                ""
            ]
        );
    }

    #[test]
    fn malformed_json_is_an_error() {
        for body in [
            &b"not json"[..],
            b"[]",
            br#"{"resourceMetrics":{}}"#,
            br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[{"timeUnixNano":-1}]}}]}]}]}"#,
            br#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"y","value":{"bytesValue":"!!"}}]}}]}"#,
        ] {
            assert!(decode(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }
}
