//! The OTLP metrics receiver (`/api/v1/otlp/v1/metrics`): decoding OTLP/HTTP requests
//! (protobuf or JSON, optionally gzip-compressed), translating them to Prometheus series as
//! Prometheus 3 does, and appending them through the remote-write receiver's append path.
//!
//! What is translated: gauges; sums (monotonic ones are counters, named with `_total`);
//! explicit-bucket histograms as classic `_bucket` (`le`, cumulative, `+Inf`), `_sum` and
//! `_count` series, or with `convert_histograms_to_nhcb` as native histograms with custom
//! buckets; exponential histograms as integer native histograms (scales above 8 merged down
//! to 8); summaries as `quantile` series plus `_sum` and `_count`; a `target_info` series per
//! resource; `job` and `instance` from `service.namespace`/`service.name` and
//! `service.instance.id`; promoted resource attributes and scope labels per the `otlp:`
//! configuration; points flagged "no recorded value" become staleness markers; exemplars of
//! sums and histograms are appended with their series (stored when the storage keeps
//! exemplars).
//!
//!
//! Behind Prometheus's feature flags ([`OtlpOptions`]): start timestamps
//! (`start_time_unix_nano` of sums, histograms and summaries) become zero samples before
//! their samples (`created-timestamp-zero-ingestion`, as the translator's
//! `combinedAppender`: once per series and distinct start); `__type__` and `__unit__` labels
//! (`type-and-unit-labels`: the metadata type, none for unknown, and the unit as
//! `UnitNamer` spells it); delta sums and histograms stored as they are
//! (`otlp-native-delta-ingestion`: typed unknown, native histograms as gauge histograms), or
//! made cumulative first by a [`DeltaToCumulative`] kept across requests
//! (`otlp-deltatocumulative`, [`append_otlp_request_cumulative`]).
//!
//! What is refused, point by point, and reported in the OTLP partial-success response
//! (`rejected_data_points` and an explanation), never dropped silently: sums and histograms
//! with unspecified temporality, or delta temporality unless ingested, exponential
//! histograms of a scale below -4, metrics whose names normalize to nothing, points whose
//! attribute names do or whose exemplars have no value, and native histogram samples the
//! storage does not keep ([`crate::Error::NativeHistogramsUnsupported`]).

mod delta;
mod histogram;
mod json;
mod naming;
mod translate;
mod value;

use std::io::Read as _;
use std::sync::atomic::{AtomicU64, Ordering};

use prompb::Message as _;
use prompb::otlp::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};

use super::codec::{SeriesIn, append_series_and_histograms};
use crate::{Appendable, Error, Result};

pub use delta::{DEFAULT_MAX_STALE, DeltaToCumulative};

/// The decompressed body size the receiver accepts.
const MAX_DECOMPRESSED_BYTES: u64 = 128 << 20;

/// How many refusal messages a response lists before summarizing the rest.
const MAX_MESSAGES: usize = 10;

/// `otlp.translation_strategy`: how OTLP metric and attribute names become Prometheus names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TranslationStrategy {
    /// Escape names to the legacy character set and add unit and type suffixes (default).
    #[default]
    UnderscoreEscapingWithSuffixes,
    /// Escape names, add no suffixes.
    UnderscoreEscapingWithoutSuffixes,
    /// Keep UTF-8 names, add suffixes.
    NoUTF8EscapingWithSuffixes,
    /// Keep names as they are.
    NoTranslation,
}

impl TranslationStrategy {
    /// The strategy of a configuration value. The empty string behaves as `NoTranslation`,
    /// as in Prometheus (neither escaping nor suffixes); unknown names are `None`.
    pub fn from_config(s: &str) -> Option<TranslationStrategy> {
        Some(match s {
            "UnderscoreEscapingWithSuffixes" => Self::UnderscoreEscapingWithSuffixes,
            "UnderscoreEscapingWithoutSuffixes" => Self::UnderscoreEscapingWithoutSuffixes,
            "NoUTF8EscapingWithSuffixes" => Self::NoUTF8EscapingWithSuffixes,
            "NoTranslation" | "" => Self::NoTranslation,
            _ => return None,
        })
    }

    /// Whether names are escaped to `[a-zA-Z0-9_:]`.
    pub fn escapes(self) -> bool {
        matches!(
            self,
            Self::UnderscoreEscapingWithSuffixes | Self::UnderscoreEscapingWithoutSuffixes
        )
    }

    /// Whether unit, `_total` and `_ratio` suffixes are added to metric names.
    pub fn adds_suffixes(self) -> bool {
        matches!(
            self,
            Self::UnderscoreEscapingWithSuffixes | Self::NoUTF8EscapingWithSuffixes
        )
    }
}

/// What the receiver does with delta temporality (sums and histograms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeltaTemporality {
    /// Refused per point (Prometheus without a delta feature).
    #[default]
    Refuse,
    /// Stored as they are, typed unknown (`--enable-feature=otlp-native-delta-ingestion`).
    Ingest,
}

/// How OTLP metrics are translated: the `otlp:` configuration block, the query lookback
/// delta (which spaces `target_info` samples) and the feature flags that change the
/// translation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpOptions {
    /// `translation_strategy`.
    pub translation_strategy: TranslationStrategy,
    /// `promote_all_resource_attributes`.
    pub promote_all_resource_attributes: bool,
    /// `promote_resource_attributes`.
    pub promote_resource_attributes: Vec<String>,
    /// `ignore_resource_attributes` (with `promote_all_resource_attributes`).
    pub ignore_resource_attributes: Vec<String>,
    /// `keep_identifying_resource_attributes`: keep `service.*` on `target_info`.
    pub keep_identifying_resource_attributes: bool,
    /// `convert_histograms_to_nhcb`: explicit histograms become native histograms with
    /// custom buckets instead of classic series.
    pub convert_histograms_to_nhcb: bool,
    /// `promote_scope_metadata`: `otel_scope_*` labels.
    pub promote_scope_metadata: bool,
    /// `label_name_underscore_sanitization`: `key` before names starting with one `_`.
    pub label_name_underscore_sanitization: bool,
    /// `label_name_preserve_multiple_underscores`: keep runs of `_` in label names.
    pub label_name_preserve_multiple_underscores: bool,
    /// `--query.lookback-delta` in milliseconds; `target_info` gets a sample every half of it.
    pub lookback_delta_ms: i64,
    /// `created-timestamp-zero-ingestion`: start timestamps become zero samples.
    pub ingest_ct_zero_sample: bool,
    /// `type-and-unit-labels`: series get `__type__` and `__unit__` labels.
    pub type_and_unit_labels: bool,
    /// What happens to delta temporality.
    pub delta: DeltaTemporality,
}

impl Default for OtlpOptions {
    /// Prometheus's defaults.
    fn default() -> Self {
        OtlpOptions {
            translation_strategy: TranslationStrategy::default(),
            promote_all_resource_attributes: false,
            promote_resource_attributes: Vec::new(),
            ignore_resource_attributes: Vec::new(),
            keep_identifying_resource_attributes: false,
            convert_histograms_to_nhcb: false,
            promote_scope_metadata: false,
            label_name_underscore_sanitization: true,
            label_name_preserve_multiple_underscores: true,
            lookback_delta_ms: 300_000,
            ingest_ct_zero_sample: false,
            type_and_unit_labels: false,
            delta: DeltaTemporality::Refuse,
        }
    }
}

/// The encoding of an OTLP request, which its response uses too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpEncoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

impl OtlpEncoding {
    /// The media type.
    pub fn content_type(self) -> &'static str {
        match self {
            OtlpEncoding::Protobuf => "application/x-protobuf",
            OtlpEncoding::Json => "application/json",
        }
    }
}

fn invalid(reason: String) -> Error {
    Error::InvalidRemoteRequest {
        what: "OTLP request",
        reason,
    }
}

/// Decodes an OTLP/HTTP metrics body as Prometheus does: `Content-Type` must be exactly
/// `application/x-protobuf` or `application/json`, `Content-Encoding` empty or `gzip`.
/// Every failure is [`Error::InvalidRemoteRequest`] (HTTP 400).
pub fn decode_otlp_request(
    body: &[u8],
    content_type: Option<&str>,
    content_encoding: Option<&str>,
) -> Result<(ExportMetricsServiceRequest, OtlpEncoding)> {
    let encoding = match content_type.unwrap_or("") {
        "application/x-protobuf" => OtlpEncoding::Protobuf,
        "application/json" => OtlpEncoding::Json,
        other => {
            return Err(invalid(format!(
                "unsupported content type: {other}, supported: [application/json, application/x-protobuf]"
            )));
        }
    };
    let inflated;
    let raw = match content_encoding.unwrap_or("") {
        "" => body,
        "gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .take(MAX_DECOMPRESSED_BYTES + 1)
                .read_to_end(&mut out)
                .map_err(|e| invalid(format!("gzip: {e}")))?;
            if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
                return Err(invalid(format!(
                    "decompressed body larger than {MAX_DECOMPRESSED_BYTES} bytes"
                )));
            }
            inflated = out;
            &inflated
        }
        other => {
            return Err(invalid(format!(
                "unsupported compression: {other}. Only \"gzip\" or no compression supported"
            )));
        }
    };
    let req = match encoding {
        OtlpEncoding::Protobuf => ExportMetricsServiceRequest::decode(raw)
            .map_err(|e| invalid(format!("protobuf decoding: {e}")))?,
        OtlpEncoding::Json => {
            json::decode(raw).map_err(|e| invalid(format!("JSON decoding: {e}")))?
        }
    };
    Ok((req, encoding))
}

/// What an OTLP request did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OtlpOutcome {
    /// Samples appended (and committed).
    pub appended: usize,
    /// Data points refused by the translation (see the module documentation).
    pub rejected_points: usize,
    /// Why, one line per problem (at most a few, then a count of the rest).
    pub messages: Vec<String>,
}

impl OtlpOutcome {
    /// The OTLP partial-success answer, when something was refused or dropped.
    pub fn partial_success(&self) -> Option<ExportMetricsPartialSuccess> {
        if self.rejected_points == 0 && self.messages.is_empty() {
            return None;
        }
        Some(ExportMetricsPartialSuccess {
            rejected_data_points: i64::try_from(self.rejected_points).unwrap_or(i64::MAX),
            error_message: self.messages.join("; "),
        })
    }
}

/// The OTLP receiver's counters (Prometheus's `prometheus_api_otlp_*` of its OTLP appender),
/// shared by every request.
#[derive(Debug, Default)]
pub struct OtlpCounters {
    /// `prometheus_api_otlp_out_of_order_exemplars_total`.
    pub out_of_order_exemplars: AtomicU64,
    /// `prometheus_api_otlp_appended_samples_without_metadata_total` (one per series whose
    /// metadata the storage refused).
    pub without_metadata: AtomicU64,
}

/// Translates a decoded request with `opts` and appends it to `db`, committing what could
/// be appended. Refused points are counted in the outcome; samples the storage rejects
/// (out of order, out of bounds, duplicates) end in [`Error::SamplesRejected`] after the rest
/// is committed (HTTP 400), storage failures in their own error with nothing committed.
/// See [`append_otlp_request_with`].
pub fn append_otlp_request(
    req: &ExportMetricsServiceRequest,
    opts: &OtlpOptions,
    db: &dyn Appendable,
) -> Result<OtlpOutcome> {
    append_otlp_request_with(req, opts, db, None, &OtlpCounters::default())
}

/// [`append_otlp_request`] after `d2c` turned the request's delta sums and histograms into
/// cumulative ones (Prometheus's `otlp-deltatocumulative`); points `d2c` dropped as out of
/// order are counted as refused.
pub fn append_otlp_request_cumulative(
    req: &ExportMetricsServiceRequest,
    opts: &OtlpOptions,
    db: &dyn Appendable,
    d2c: &DeltaToCumulative,
) -> Result<OtlpOutcome> {
    append_otlp_request_with(req, opts, db, Some(d2c), &OtlpCounters::default())
}

/// What the receiver does: delta streams made cumulative by `d2c` when given, translation
/// with `opts`, one append of every series (with their start timestamps, exemplars and
/// metadata: type, unit as `__unit__` spells it, the description as help, `target_info` a
/// gauge with help "Target metadata", given to each series the storage created) and commit.
/// Out-of-order exemplars and refused metadata are counted in `counters`.
pub fn append_otlp_request_with(
    req: &ExportMetricsServiceRequest,
    opts: &OtlpOptions,
    db: &dyn Appendable,
    d2c: Option<&DeltaToCumulative>,
    counters: &OtlpCounters,
) -> Result<OtlpOutcome> {
    let converted = d2c.map(|d| d.convert(req, std::time::Instant::now()));
    let req = converted
        .as_ref()
        .and_then(|c| c.request.as_ref())
        .unwrap_or(req);
    let translated = translate::translate(req, opts);
    let by_series = |n: usize, list: Vec<(usize, crate::Exemplar)>| {
        let mut out = vec![Vec::new(); n];
        for (i, e) in list {
            out[i].push(e);
        }
        out
    };
    let exemplars = by_series(translated.series.len(), translated.exemplars);
    let histogram_exemplars =
        by_series(translated.histograms.len(), translated.histogram_exemplars);
    let out = append_series_and_histograms(
        db,
        translated
            .series
            .iter()
            .zip(&translated.series_start)
            .zip(&translated.series_metadata)
            .zip(exemplars)
            .map(|((((labels, samples), st), meta), e)| SeriesIn {
                labels: labels.clone(),
                samples,
                starts: st,
                exemplars: e,
                metadata: Some(meta),
            }),
        translated
            .histograms
            .iter()
            .zip(&translated.histogram_start)
            .zip(&translated.histogram_metadata)
            .zip(histogram_exemplars)
            .map(|((((labels, samples), st), meta), e)| SeriesIn {
                labels: labels.clone(),
                samples,
                starts: st,
                exemplars: e,
                metadata: Some(meta),
            }),
        opts.ingest_ct_zero_sample,
    )?;
    counters
        .out_of_order_exemplars
        .fetch_add(out.out_of_order_exemplars as u64, Ordering::Relaxed);
    counters
        .without_metadata
        .fetch_add(out.without_metadata as u64, Ordering::Relaxed);
    if let Some(first) = out.first {
        return Err(Error::SamplesRejected {
            rejected: out.rejected,
            first,
        });
    }
    let mut refused = translated.refused_points;
    let mut messages = translated.messages;
    if let Some(c) = converted {
        refused += c.dropped;
        messages.extend(c.messages);
    }
    if out.unsupported > 0 {
        refused += out.unsupported;
        messages.push(format!(
            "{} native histogram samples refused: native histograms are not supported by this storage",
            out.unsupported
        ));
    }
    if messages.len() > MAX_MESSAGES {
        let more = messages.len() - MAX_MESSAGES;
        messages.truncate(MAX_MESSAGES);
        messages.push(format!("and {more} more"));
    }
    Ok(OtlpOutcome {
        appended: out.appended,
        rejected_points: refused,
        messages,
    })
}

/// The response body for an outcome in the request's encoding: `None` on full success
/// (Prometheus answers 200 with an empty body), else an `ExportMetricsServiceResponse` with
/// its partial success.
pub fn encode_otlp_response(outcome: &OtlpOutcome, encoding: OtlpEncoding) -> Option<Vec<u8>> {
    let partial = outcome.partial_success()?;
    Some(match encoding {
        OtlpEncoding::Protobuf => ExportMetricsServiceResponse {
            partial_success: Some(partial),
        }
        .encode_to_vec(),
        OtlpEncoding::Json => serde_json::json!({
            "partialSuccess": {
                "rejectedDataPoints": partial.rejected_data_points.to_string(),
                "errorMessage": partial.error_message,
            }
        })
        .to_string()
        .into_bytes(),
    })
}

#[cfg(test)]
mod tests;
