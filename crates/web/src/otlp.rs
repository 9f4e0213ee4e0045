//! `/api/v1/otlp/v1/metrics`: Prometheus's OTLP metrics receiver (`--web.enable-otlp-receiver`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use storage::remote::otlp::{self, DeltaTemporality, OtlpOptions, TranslationStrategy};

use crate::handler::{Body, Inner, ReceiverFeatures, read_body, receiver_error};

/// The translation options of the loaded configuration's `otlp:` block (Prometheus's
/// defaults before a configuration is loaded), with the query lookback delta and the
/// receivers' feature flags.
pub(crate) fn otlp_options(
    config: Option<&config::Config>,
    lookback: Duration,
    features: ReceiverFeatures,
) -> OtlpOptions {
    let mut opts = OtlpOptions {
        lookback_delta_ms: i64::try_from(lookback.as_millis()).unwrap_or(i64::MAX),
        ingest_ct_zero_sample: features.created_timestamp_zero_ingestion,
        type_and_unit_labels: features.type_and_unit_labels,
        delta: if features.otlp_native_delta_ingestion {
            DeltaTemporality::Ingest
        } else {
            DeltaTemporality::Refuse
        },
        ..OtlpOptions::default()
    };
    if let Some(c) = config.map(|c| &c.otlp) {
        // The configuration loader already refused unknown strategies.
        opts.translation_strategy =
            TranslationStrategy::from_config(&c.translation_strategy).unwrap_or_default();
        opts.promote_all_resource_attributes = c.promote_all_resource_attributes;
        opts.promote_resource_attributes = c.promote_resource_attributes.clone();
        opts.ignore_resource_attributes = c.ignore_resource_attributes.clone();
        opts.keep_identifying_resource_attributes = c.keep_identifying_resource_attributes;
        opts.convert_histograms_to_nhcb = c.convert_histograms_to_nhcb;
        opts.promote_scope_metadata = c.promote_scope_metadata;
        opts.label_name_underscore_sanitization = c.label_name_underscore_sanitization;
        opts.label_name_preserve_multiple_underscores = c.label_name_preserve_multiple_underscores;
    }
    opts
}

/// Decodes an OTLP metrics export (protobuf or JSON, gzip or not), translates it with the
/// configuration's `otlp:` block and appends it, answering as Prometheus: 200 (with an OTLP
/// partial-success body in the request's encoding when data points were refused), 400 for
/// undecodable bodies and rejected samples, 503 while the storage is not ready, 500
/// otherwise, 404 when the receiver is off; errors in the API's JSON form.
pub(crate) async fn serve<B>(inner: &Arc<Inner>, req: Request<B>) -> Response<Body>
where
    B: hyper::body::Body + Send,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let Some(db) = inner.opts.otlp_write_receiver.clone() else {
        return receiver_error(
            StatusCode::NOT_FOUND,
            "otlp write receiver needs to be enabled with --web.enable-otlp-receiver",
        );
    };
    let header_value = |name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header_value(header::CONTENT_TYPE);
    let content_encoding = header_value(header::CONTENT_ENCODING);
    let body = match read_body(req.into_body()).await {
        Ok(body) => body,
        Err(msg) => return receiver_error(StatusCode::BAD_REQUEST, &msg),
    };
    let opts = otlp_options(
        inner.opts.status.config().as_deref(),
        inner.opts.engine.opts().lookback_delta,
        inner.opts.receiver_features,
    );
    let d2c = inner.delta_to_cumulative.clone();
    let counters = inner.otlp_counters.clone();
    let outcome =
        tokio::task::spawn_blocking(move || {
            let res = otlp::decode_otlp_request(
                &body,
                content_type.as_deref(),
                content_encoding.as_deref(),
            )
            .and_then(|(req, encoding)| {
                otlp::append_otlp_request_with(&req, &opts, db.as_ref(), d2c.as_deref(), &counters)
                    .map(|o| (o, encoding))
            });
            let status = storage::remote::write_response_status(&res);
            (status, res.map_err(|e| e.to_string()))
        })
        .await;
    match outcome {
        Ok((_, Ok((outcome, encoding)))) => {
            if !outcome.messages.is_empty() {
                tracing::warn!(
                    rejected_data_points = outcome.rejected_points,
                    warnings = %outcome.messages.join("; "),
                    "Warnings translating OTLP metrics to Prometheus write request"
                );
            }
            match otlp::encode_otlp_response(&outcome, encoding) {
                None => Response::new(Full::new(Bytes::new())),
                Some(body) => {
                    let mut resp = Response::new(Full::new(Bytes::from(body)));
                    resp.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(encoding.content_type()),
                    );
                    resp
                }
            }
        }
        Ok((status, Err(msg))) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if status.is_server_error() {
                tracing::error!(err = %msg, "Error appending remote write");
            } else {
                tracing::error!(err = %msg, "Error decoding OTLP write request");
            }
            receiver_error(status, &msg)
        }
        Err(err) => receiver_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("OTLP write task failed: {err}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_follow_the_otlp_block() {
        let defaults = otlp_options(None, Duration::from_secs(60), ReceiverFeatures::default());
        assert_eq!(defaults.lookback_delta_ms, 60_000);
        assert_eq!(
            defaults.translation_strategy,
            TranslationStrategy::UnderscoreEscapingWithSuffixes
        );
        assert!(defaults.label_name_underscore_sanitization);
        let cfg = config::Config::load_str(
            "otlp:\n  translation_strategy: NoUTF8EscapingWithSuffixes\n  promote_resource_attributes: [k8s.pod.name]\n  promote_scope_metadata: true\n  label_name_preserve_multiple_underscores: false\n",
            ".",
        )
        .expect("config loads");
        let opts = otlp_options(
            Some(&cfg),
            Duration::from_secs(300),
            ReceiverFeatures::default(),
        );
        assert_eq!(
            opts.translation_strategy,
            TranslationStrategy::NoUTF8EscapingWithSuffixes
        );
        assert_eq!(opts.promote_resource_attributes, ["k8s.pod.name"]);
        assert!(opts.promote_scope_metadata);
        assert!(!opts.label_name_preserve_multiple_underscores);
        assert!(opts.label_name_underscore_sanitization);
    }

    #[test]
    fn feature_flags_reach_the_translation() {
        let off = otlp_options(None, Duration::from_secs(60), ReceiverFeatures::default());
        assert!(!off.ingest_ct_zero_sample && !off.type_and_unit_labels);
        assert_eq!(off.delta, DeltaTemporality::Refuse);
        let on = otlp_options(
            None,
            Duration::from_secs(60),
            ReceiverFeatures {
                created_timestamp_zero_ingestion: true,
                type_and_unit_labels: true,
                otlp_native_delta_ingestion: true,
                otlp_delta_to_cumulative: false,
            },
        );
        assert!(on.ingest_ct_zero_sample && on.type_and_unit_labels);
        assert_eq!(on.delta, DeltaTemporality::Ingest);
    }
}
