//! `promtool push metrics URL [FILES]`: Go's `metrics.go`. Parses text-format metrics
//! (files, or standard input) and sends them to a remote-write endpoint as one
//! snappy-compressed `prometheus.WriteRequest` per input: every sample a series with
//! `--label` labels added (a sample's own labels win; its `job` becomes `exported_job`), the
//! sample's timestamp or now, and the families' metadata. Remote write 2.0 is refused.

use std::io::Read as _;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use prompb::Message as _;
use prompb::metric_metadata::MetricType as ProtoType;
use scrape::textparse::{Entry, MetricType, Parser as _, PromParser};

use crate::http::ApiClient;

/// `push metrics` options.
pub(crate) struct PushOptions<'a> {
    pub(crate) url: &'a str,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) protobuf_message: &'a str,
}

/// Runs `push metrics` and returns the exit code.
pub(crate) fn run(opts: &PushOptions<'_>, files: &[String]) -> u8 {
    if opts.protobuf_message != "prometheus.WriteRequest" {
        eprintln!(
            "  FAILED: --protobuf_message={}: only prometheus.WriteRequest (remote write 1.0) is supported by this promtool",
            opts.protobuf_message
        );
        return 1;
    }
    let client = match ApiClient::new(opts.url, opts.headers.clone()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e:#}");
            return 1;
        }
    };
    if files.is_empty() {
        let mut data = Vec::new();
        if let Err(e) = std::io::stdin().read_to_end(&mut data) {
            eprintln!("  FAILED: {e}");
            return 1;
        }
        println!("Parsing standard input");
        return match push(&client, opts, &data) {
            Ok(()) => {
                println!("  SUCCESS: metrics pushed to remote write.");
                0
            }
            Err(e) => {
                eprintln!("  FAILED: {e:#}");
                1
            }
        };
    }
    let mut failed = false;
    for file in files {
        let data = match std::fs::read(file) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("  FAILED: open {file}: {e}");
                failed = true;
                continue;
            }
        };
        println!("Parsing metrics file {file}");
        match push(&client, opts, &data) {
            Ok(()) => println!("  SUCCESS: metrics file {file} pushed to remote write."),
            Err(e) => {
                eprintln!("  FAILED: {e:#}");
                failed = true;
            }
        }
    }
    u8::from(failed)
}

fn push(client: &ApiClient, opts: &PushOptions<'_>, data: &[u8]) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let req = write_request(data, &opts.labels, now)?;
    let raw = req.encode_to_vec();
    let body = snap::raw::Encoder::new()
        .compress_vec(&raw)
        .context("snappy encoding")?;
    let reply = client.send(
        hyper::Method::POST,
        opts.url,
        Bytes::from(body),
        &[
            ("content-encoding", "snappy"),
            ("content-type", "application/x-protobuf"),
            (
                "user-agent",
                concat!("promtool/", env!("CARGO_PKG_VERSION")),
            ),
            ("x-prometheus-remote-write-version", "0.1.0"),
        ],
        opts.timeout,
    )?;
    if !(200..300).contains(&reply.status) {
        let text = String::from_utf8_lossy(&reply.body);
        let line = text.lines().next().unwrap_or("").trim();
        bail!(
            "server returned HTTP status {} {}: {line}",
            reply.status,
            hyper::StatusCode::from_u16(reply.status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("")
        );
    }
    Ok(())
}

/// The write request for a text-format payload (see the module docs), series and metadata
/// in family-name order as Go's `MetricFamiliesToWriteRequest` sends them.
pub(crate) fn write_request(
    data: &[u8],
    extra: &[(String, String)],
    now_ms: i64,
) -> anyhow::Result<prompb::WriteRequest> {
    let families = crate::promlint::parse_families(data).map_err(|e| anyhow!(e))?;
    let mut metadata: Vec<prompb::MetricMetadata> = families
        .iter()
        .map(|f| prompb::MetricMetadata {
            r#type: proto_type(f.metric_type) as i32,
            metric_family_name: f.name.clone(),
            help: f.help.clone().unwrap_or_default(),
            unit: String::new(),
        })
        .collect();
    metadata.sort_by(|a, b| a.metric_family_name.cmp(&b.metric_family_name));
    // Samples with their family, to order them as Go does.
    let family_of = |name: &str| -> String {
        for f in &families {
            if f.name == name {
                return f.name.clone();
            }
        }
        for suffix in ["_bucket", "_count", "_sum"] {
            if let Some(base) = name.strip_suffix(suffix)
                && families.iter().any(|f| {
                    f.name == base
                        && matches!(f.metric_type, MetricType::Histogram | MetricType::Summary)
                })
            {
                return base.to_owned();
            }
        }
        name.to_owned()
    };
    let mut series: Vec<(String, prompb::TimeSeries)> = Vec::new();
    let mut p = PromParser::new(data);
    while let Some(entry) = p.next().map_err(|e| anyhow!("{e}"))? {
        if entry != Entry::Series {
            continue;
        }
        let (_, ts, v) = p.series();
        let labels = p.labels().map_err(|e| anyhow!("{e}"))?;
        let name = labels.metric_name().unwrap_or("").to_owned();
        let mut map: std::collections::BTreeMap<String, String> = extra.iter().cloned().collect();
        for (n, val) in labels.iter() {
            let n = if n == "job" { "exported_job" } else { n };
            map.insert(n.to_owned(), val.to_owned());
        }
        series.push((
            family_of(&name),
            prompb::TimeSeries {
                labels: map
                    .into_iter()
                    .map(|(name, value)| prompb::Label { name, value })
                    .collect(),
                samples: vec![prompb::Sample {
                    value: v,
                    timestamp: ts.filter(|&t| t != 0).unwrap_or(now_ms),
                }],
                ..Default::default()
            },
        ));
    }
    series.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(prompb::WriteRequest {
        timeseries: series.into_iter().map(|(_, s)| s).collect(),
        metadata,
    })
}

fn proto_type(t: MetricType) -> ProtoType {
    match t {
        MetricType::Counter => ProtoType::Counter,
        MetricType::Gauge => ProtoType::Gauge,
        MetricType::Histogram => ProtoType::Histogram,
        MetricType::GaugeHistogram => ProtoType::Gaugehistogram,
        MetricType::Summary => ProtoType::Summary,
        MetricType::Info => ProtoType::Info,
        MetricType::Stateset => ProtoType::Stateset,
        MetricType::Unknown => ProtoType::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_get_extra_labels_and_exported_job() {
        let input = b"# HELP b_total B.\n# TYPE b_total counter\nb_total{job=\"x\"} 3 1000\n\
                      # TYPE a gauge\na{job=\"promtool\",k=\"v\"} 1\n";
        let req = write_request(input, &[("job".to_owned(), "promtool".to_owned())], 42)
            .expect("converts");
        assert_eq!(req.metadata.len(), 2);
        assert_eq!(req.metadata[0].metric_family_name, "a");
        assert_eq!(req.metadata[1].help, "B.");
        let names: Vec<Vec<(String, String)>> = req
            .timeseries
            .iter()
            .map(|s| {
                s.labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect()
            })
            .collect();
        let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(
            names[0],
            [
                pair("__name__", "a"),
                pair("exported_job", "promtool"),
                pair("job", "promtool"),
                pair("k", "v")
            ]
        );
        assert_eq!(req.timeseries[0].samples[0].timestamp, 42);
        assert_eq!(req.timeseries[1].samples[0].timestamp, 1000);
        assert_eq!(req.timeseries[1].samples[0].value, 3.0);
    }
}
