//! Remote write 2.0 (`io.prometheus.write.v2.Request`): the protocol's names and headers,
//! `Content-Type` negotiation, the written-count response headers, and the receiver's append
//! (Prometheus's `writeHandler.writeV2`: partial writes, per-kind counts).

use std::sync::atomic::Ordering;
use std::time::Duration;

use model::Labels;
use prompb::Message;
use prompb::write_v2::{self, Request};

use super::codec::{ReceiverOptions, decode_snappy, max_time, prepared_histogram};
use super::histogram::{HistogramSample, histogram_from_proto};
use crate::{Appendable, Appender, Error, Exemplar, Metadata, MetricType, Result};

/// `Content-Type` of every remote-write request, before any `proto=` parameter.
pub const PROTOBUF_CONTENT_TYPE: &str = "application/x-protobuf";
/// The request header naming the protocol version.
pub const VERSION_HEADER: &str = "X-Prometheus-Remote-Write-Version";
/// Response header: float samples the receiver wrote.
pub const WRITTEN_SAMPLES_HEADER: &str = "X-Prometheus-Remote-Write-Samples-Written";
/// Response header: native histogram samples the receiver wrote.
pub const WRITTEN_HISTOGRAMS_HEADER: &str = "X-Prometheus-Remote-Write-Histograms-Written";
/// Response header: exemplars the receiver wrote.
pub const WRITTEN_EXEMPLARS_HEADER: &str = "X-Prometheus-Remote-Write-Exemplars-Written";

/// How far past the receiver's clock a sample may be (Prometheus's `maxAheadTime`).
pub(crate) const MAX_AHEAD: Duration = Duration::from_secs(10 * 60);

/// The protobuf message a remote-write request carries (config's `protobuf_message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum WriteProtoMsg {
    /// Remote write 1.0: `prometheus.WriteRequest`.
    #[default]
    V1,
    /// Remote write 2.0: `io.prometheus.write.v2.Request`.
    V2,
}

impl WriteProtoMsg {
    /// Both, in Prometheus's order.
    pub const ALL: [WriteProtoMsg; 2] = [WriteProtoMsg::V1, WriteProtoMsg::V2];

    /// The message's fully qualified name, as config and `Content-Type` spell it.
    pub fn name(self) -> &'static str {
        match self {
            WriteProtoMsg::V1 => "prometheus.WriteRequest",
            WriteProtoMsg::V2 => write_v2::REQUEST_NAME,
        }
    }

    /// The message named `name`, if it is one of the two.
    pub fn from_name(name: &str) -> Option<WriteProtoMsg> {
        WriteProtoMsg::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The `Content-Type` a sender sets (1.0 keeps the bare type, as Prometheus does for
    /// receivers that predate content negotiation).
    pub fn content_type(self) -> &'static str {
        match self {
            WriteProtoMsg::V1 => PROTOBUF_CONTENT_TYPE,
            WriteProtoMsg::V2 => "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        }
    }

    /// The value of [`VERSION_HEADER`] a sender sets.
    pub fn version(self) -> &'static str {
        match self {
            WriteProtoMsg::V1 => "0.1.0",
            WriteProtoMsg::V2 => "2.0.0",
        }
    }
}

impl std::fmt::Display for WriteProtoMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which message a request's `Content-Type` names, as Prometheus's receiver reads it: the
/// media type must be `application/x-protobuf`; a `proto=` parameter names the message (an
/// unknown one is an error); without it the body is 1.0. An empty header counts as
/// `application/x-protobuf`. The error text is the receiver's 415 body.
pub fn parse_content_type(content_type: &str) -> std::result::Result<WriteProtoMsg, String> {
    let trimmed = content_type.trim();
    let trimmed = if trimmed.is_empty() {
        PROTOBUF_CONTENT_TYPE
    } else {
        trimmed
    };
    let mut parts = trimmed.split(';');
    if parts.next() != Some(PROTOBUF_CONTENT_TYPE) {
        return Err(format!(
            "expected {PROTOBUF_CONTENT_TYPE} as the first (media) part, got {trimmed} content-type"
        ));
    }
    for p in parts {
        let pair: Vec<&str> = p.split('=').collect();
        let [key, value] = pair[..] else {
            return Err(format!(
                "as per https://www.rfc-editor.org/rfc/rfc9110#parameter expected parameters to be key-values, got {p} in {trimmed} content-type"
            ));
        };
        if key == "proto" {
            return WriteProtoMsg::from_name(value).ok_or_else(|| {
                format!(
                    "got {trimmed} content type; unknown remote write protobuf message {value}, supported: {}, {}",
                    WriteProtoMsg::V1,
                    WriteProtoMsg::V2
                )
            });
        }
    }
    Ok(WriteProtoMsg::V1)
}

/// What a 2.0 receiver wrote, from its `X-Prometheus-Remote-Write-*-Written` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteStats {
    /// Float samples written.
    pub samples: u64,
    /// Native histogram samples written.
    pub histograms: u64,
    /// Exemplars written.
    pub exemplars: u64,
    /// At least one of the headers was present, so the counts come from a 2.0 receiver
    /// (parsed stats only).
    pub confirmed: bool,
}

impl WriteStats {
    /// Nothing at all was written.
    pub fn no_data_written(&self) -> bool {
        self.samples + self.histograms + self.exemplars == 0
    }

    /// The three response headers with their values.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            (WRITTEN_SAMPLES_HEADER, self.samples.to_string()),
            (WRITTEN_HISTOGRAMS_HEADER, self.histograms.to_string()),
            (WRITTEN_EXEMPLARS_HEADER, self.exemplars.to_string()),
        ]
    }

    /// The counts in a response's headers (`get` looks one up by name); a missing or empty
    /// header means 0, and `confirmed` says whether any was there. A value that is not a
    /// count is 0 and is named in the error list.
    pub fn from_headers<'h>(get: impl Fn(&str) -> Option<&'h str>) -> (WriteStats, Vec<String>) {
        let mut s = WriteStats::default();
        let mut errors = Vec::new();
        for (name, slot) in [
            (WRITTEN_SAMPLES_HEADER, &mut s.samples),
            (WRITTEN_HISTOGRAMS_HEADER, &mut s.histograms),
            (WRITTEN_EXEMPLARS_HEADER, &mut s.exemplars),
        ] {
            let Some(v) = get(name).filter(|v| !v.is_empty()) else {
                continue;
            };
            s.confirmed = true;
            match v.trim().parse::<u64>() {
                Ok(n) => *slot = n,
                Err(e) => errors.push(format!("{name}: {v:?}: {e}")),
            }
        }
        (s, errors)
    }
}

/// The outcome of one 2.0 write, as `/api/v1/write` answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteV2Outcome {
    /// The HTTP status: 204, 400 (bad data; what was valid is written), 500 or 503
    /// (nothing written; the sender retries).
    pub status: u16,
    /// What was written: the response's written-count headers. `None` when the body did not
    /// decode (Prometheus sets no headers then).
    pub stats: Option<WriteStats>,
    /// The error text for the response body.
    pub error: Option<String>,
    /// Samples and histograms of series skipped for their labels (also added to
    /// [`ReceiverOptions::invalid_labels_samples`]).
    pub invalid_labels_samples: u64,
}

/// Decodes a snappy-compressed 2.0 body.
pub fn decode_write_v2_request(body: &[u8]) -> Result<Request> {
    let raw = decode_snappy(body, "write request")?;
    Request::decode(raw.as_slice()).map_err(|e| Error::InvalidRemoteRequest {
        what: "write request",
        reason: format!("protobuf decoding: {e}"),
    })
}

/// Encodes and compresses a 2.0 request into an HTTP body.
pub fn encode_write_v2_request(req: &Request) -> Vec<u8> {
    super::codec::encode_snappy(&req.encode_to_vec())
}

/// Decodes a snappy-compressed 2.0 body and appends it: see [`append_write_v2_request`].
pub fn append_write_v2_body(body: &[u8], db: &dyn Appendable) -> WriteV2Outcome {
    append_write_v2_body_with(body, db, &ReceiverOptions::default())
}

/// [`append_write_v2_body`] with the receiver's options.
pub fn append_write_v2_body_with(
    body: &[u8],
    db: &dyn Appendable,
    opts: &ReceiverOptions,
) -> WriteV2Outcome {
    match decode_write_v2_request(body) {
        Ok(req) => append_write_v2_request_with(&req, db, opts),
        Err(e) => WriteV2Outcome {
            status: 400,
            stats: None,
            error: Some(super::codec::receiver_text(&e)),
            invalid_labels_samples: 0,
        },
    }
}

/// Appends a 2.0 request as Prometheus 3's receiver does, allowing partial writes: a series
/// with bad labels (unresolvable symbol references, no metric name, an empty name, a repeated
/// name) is skipped; samples and histograms the storage rejects (out of order, out of bounds,
/// more than 10 minutes ahead, too old, duplicates) and invalid histograms are skipped; out
/// of order exemplars are skipped too. Everything else is committed and the skipped items
/// make the answer 400, with one line per error. Other exemplar failures are only logged. A
/// storage failure rolls everything back: 500 (503 while the storage is not ready) with
/// zero counts, so the sender retries. Metadata goes to the storage's
/// [`Appender::update_metadata`]. Created timestamps are not ingested here: see
/// [`append_write_v2_request_with`].
pub fn append_write_v2_request(req: &Request, db: &dyn Appendable) -> WriteV2Outcome {
    append_write_v2_request_with(req, db, &ReceiverOptions::default())
}

/// [`append_write_v2_request`] with the receiver's options. With
/// [`ReceiverOptions::ingest_ct_zero_sample`] (`created-timestamp-zero-ingestion`), a series'
/// `created_timestamp` becomes a zero sample before its first float sample and an empty
/// histogram before each of its histograms (Prometheus's `writeV2`); a created timestamp
/// older than the series' newest sample, or one not before the sample, is skipped without
/// failing anything. Samples and histograms of series skipped for their labels are counted
/// in [`ReceiverOptions::invalid_labels_samples`]. Each series' metadata (unknown and empty
/// when it has none) goes to [`Appender::update_metadata`]; when the storage refuses it, the
/// series' written samples are counted in [`ReceiverOptions::without_metadata_samples`].
pub fn append_write_v2_request_with(
    req: &Request,
    db: &dyn Appendable,
    opts: &ReceiverOptions,
) -> WriteV2Outcome {
    let mut app = db.appender();
    let max_t = max_time();
    let mut w = V2Writer {
        app: app.as_mut(),
        max_t,
        ingest_ct: opts.ingest_ct_zero_sample,
        stats: WriteStats::default(),
        bad: Vec::new(),
        out_of_order_exemplars: 0,
        invalid_labels_samples: 0,
        without_metadata_samples: 0,
    };
    let res = w.append(req);
    let (stats, bad, ooo) = (w.stats, w.bad, w.out_of_order_exemplars);
    let (invalid_labels_samples, without_metadata) =
        (w.invalid_labels_samples, w.without_metadata_samples);
    opts.invalid_labels_samples
        .fetch_add(invalid_labels_samples, Ordering::Relaxed);
    if ooo > 0 {
        tracing::warn!(
            num_dropped = ooo,
            "Error on ingesting out-of-order exemplars"
        );
    }
    if let Err(e) = res {
        let _ = app.rollback();
        tracing::error!(err = %e, "Error while remote writing the v2 request");
        return WriteV2Outcome {
            status: if matches!(e, Error::NotReady) {
                503
            } else {
                500
            },
            stats: Some(WriteStats::default()),
            error: Some(e.to_string()),
            invalid_labels_samples,
        };
    }
    if let Err(e) = app.commit() {
        return WriteV2Outcome {
            status: if matches!(e, Error::NotReady) {
                503
            } else {
                500
            },
            stats: Some(WriteStats::default()),
            error: Some(e.to_string()),
            invalid_labels_samples,
        };
    }
    opts.without_metadata_samples
        .fetch_add(without_metadata, Ordering::Relaxed);
    WriteV2Outcome {
        status: if bad.is_empty() { 204 } else { 400 },
        stats: Some(stats),
        error: (!bad.is_empty()).then(|| bad.join("\n")),
        invalid_labels_samples,
    }
}

/// One request's append: counts what was written, collects what was bad.
struct V2Writer<'a> {
    app: &'a mut dyn Appender,
    max_t: i64,
    /// `created-timestamp-zero-ingestion`.
    ingest_ct: bool,
    stats: WriteStats,
    bad: Vec<String>,
    out_of_order_exemplars: usize,
    /// Samples and histograms of series skipped for their labels.
    invalid_labels_samples: u64,
    /// Samples and histograms written for series whose metadata the storage refused.
    without_metadata_samples: u64,
}

/// A series' labels from its references, or the reason they are unusable.
fn series_labels(symbols: &[String], refs: &[u32]) -> std::result::Result<Labels, String> {
    let mut pairs = Vec::with_capacity(refs.len() / 2);
    if let Err(e) = write_v2::resolve_labels(symbols, refs, &mut pairs) {
        return Err(format!("invalid labels for series: {e}"));
    }
    if pairs.iter().any(|(n, _)| n.is_empty()) {
        return Err(format!(
            "invalid metric name or labels, got {}",
            shown_pairs(&pairs)
        ));
    }
    pairs.retain(|(_, v)| !v.is_empty());
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!(
            "invalid labels for series, labels {}, duplicated label {}",
            shown_pairs(&pairs),
            w[0].0
        ));
    }
    if !pairs.iter().any(|(n, _)| *n == model::METRIC_NAME) {
        return Err(format!(
            "invalid metric name or labels, got {}",
            Labels::from_sorted_pairs(&pairs)
        ));
    }
    Ok(Labels::from_sorted_pairs(&pairs))
}

/// Label pairs as `{a="b", ...}` (Go's `Labels.String`: names outside the legacy set, the
/// empty one too, quoted) without building a label set, which would merge repeated names.
fn shown_pairs(pairs: &[(&str, &str)]) -> String {
    let mut out = String::from("{");
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if model::validation::is_valid_legacy_label_name(n) {
            out.push_str(n);
        } else {
            model::strconv::write_quoted(&mut out, n).expect("writing to a String never fails");
        }
        out.push('=');
        model::strconv::write_quoted(&mut out, v).expect("writing to a String never fails");
    }
    out.push('}');
    out
}

/// A series' metadata, or why its references do not resolve.
fn series_metadata(
    symbols: &[String],
    m: Option<&write_v2::Metadata>,
) -> std::result::Result<Metadata, write_v2::SymbolError> {
    use write_v2::metadata::MetricType as V2;
    let Some(m) = m else {
        return Ok(Metadata::default());
    };
    let help = write_v2::resolve(symbols, m.help_ref)?;
    let unit = write_v2::resolve(symbols, m.unit_ref)?;
    let metric_type = match V2::try_from(m.r#type).unwrap_or(V2::Unspecified) {
        V2::Unspecified => MetricType::Unknown,
        V2::Counter => MetricType::Counter,
        V2::Gauge => MetricType::Gauge,
        V2::Histogram => MetricType::Histogram,
        V2::Gaugehistogram => MetricType::GaugeHistogram,
        V2::Summary => MetricType::Summary,
        V2::Info => MetricType::Info,
        V2::Stateset => MetricType::Stateset,
    };
    Ok(Metadata {
        metric_type,
        unit: unit.to_owned(),
        help: help.to_owned(),
    })
}

/// The series reference after a created-timestamp zero sample: the new one on success, the
/// old one otherwise (never an error: an out-of-order created timestamp is the normal case
/// once a series exists, other failures are logged at debug level, as in Prometheus).
fn ct_outcome(res: Result<u64>, r: u64, labels: &Labels, ct: i64, t: i64) -> u64 {
    match res {
        Ok(new_ref) if new_ref != 0 => new_ref,
        Ok(_) | Err(Error::OutOfOrderCt) => r,
        Err(e) => {
            tracing::debug!(err = %e, series = %labels, created_timestamp = ct, timestamp = t, "Error when appending CT in remote write request");
            r
        }
    }
}

/// Whether an append error is bad data (400) rather than a storage failure.
fn is_bad_data(e: &Error) -> bool {
    matches!(
        e,
        Error::OutOfOrderSample
            | Error::OutOfBounds
            | Error::TooOldSample
            | Error::DuplicateSampleForTimestamp
            | Error::NativeHistogramsUnsupported
            | Error::InvalidHistogram(_)
    )
}

impl V2Writer<'_> {
    /// Appends every series; `Err` is a storage failure (the caller rolls back).
    fn append(&mut self, req: &Request) -> Result<()> {
        let symbols = req.symbols.as_slice();
        let mut pairs = Vec::new();
        for ts in &req.timeseries {
            let labels = match series_labels(symbols, &ts.labels_refs) {
                Ok(l) => l,
                Err(msg) => {
                    self.bad.push(msg);
                    self.invalid_labels_samples += (ts.samples.len() + ts.histograms.len()) as u64;
                    continue;
                }
            };
            let meta = match series_metadata(symbols, ts.metadata.as_ref()) {
                Ok(meta) => meta,
                Err(e) => {
                    self.bad
                        .push(format!("invalid metadata for series {labels}: {e}"));
                    continue;
                }
            };
            let written_before = self.stats.samples + self.stats.histograms;
            let mut r = 0;
            let ct = ts.created_timestamp;
            if self.ingest_ct
                && ct != 0
                && let Some(first) = ts.samples.first().filter(|s| s.timestamp != 0)
            {
                // Only before the first sample: for the others it would be out of order.
                let res = self
                    .app
                    .append_ct_zero_sample(r, &labels, first.timestamp, ct);
                r = ct_outcome(res, r, &labels, ct, first.timestamp);
            }
            for s in &ts.samples {
                let res = if s.timestamp > self.max_t {
                    Err(Error::OutOfBounds)
                } else {
                    self.app.append(r, &labels, s.timestamp, s.value)
                };
                match res {
                    Ok(new_ref) => {
                        r = new_ref;
                        self.stats.samples += 1;
                    }
                    Err(e) if is_bad_data(&e) => self.reject(&e, s.timestamp, &labels),
                    Err(e) => return Err(e),
                }
            }
            for hp in &ts.histograms {
                let h = histogram_from_proto(hp);
                if self.ingest_ct && ct != 0 && hp.timestamp != 0 {
                    // Before every histogram, as Prometheus: integer and float histograms
                    // of one series are kept apart.
                    // The zero histogram takes the schema the sample is stored with.
                    let reduced = prepared_histogram(&h).ok().flatten();
                    let (ih, fh) = reduced.as_ref().map_or_else(|| h.parts(), |r| r.parts());
                    let res = self.app.append_histogram_ct_zero_sample(
                        r,
                        &labels,
                        hp.timestamp,
                        ct,
                        ih,
                        fh,
                    );
                    r = ct_outcome(res, r, &labels, ct, hp.timestamp);
                }
                let res = if hp.timestamp > self.max_t {
                    Err(Error::OutOfBounds)
                } else {
                    self.append_histogram(r, &labels, hp.timestamp, &h)
                };
                match res {
                    Ok(new_ref) => {
                        r = new_ref;
                        self.stats.histograms += 1;
                    }
                    Err(e) if is_bad_data(&e) => self.reject(&e, hp.timestamp, &labels),
                    Err(e) => return Err(e),
                }
            }
            for ep in &ts.exemplars {
                if let Err(e) = write_v2::resolve_labels(symbols, &ep.labels_refs, &mut pairs) {
                    self.bad
                        .push(format!("invalid exemplar labels for series {labels}: {e}"));
                    continue;
                }
                let e = Exemplar {
                    labels: Labels::from_pairs(pairs.iter().copied()),
                    value: ep.value,
                    ts: ep.timestamp,
                    has_ts: ep.timestamp != 0,
                };
                let res = if e.ts > self.max_t {
                    Err(Error::OutOfBounds)
                } else {
                    self.app.append_exemplar(0, &labels, &e)
                };
                match res {
                    Ok(_) => self.stats.exemplars += 1,
                    Err(Error::OutOfOrderExemplar) => {
                        self.out_of_order_exemplars += 1;
                        self.bad
                            .push(format!("{} for series {labels}", Error::OutOfOrderExemplar));
                    }
                    Err(err) => {
                        tracing::error!(series = %labels, err = %err, "failed to ingest exemplar, emitting error log, but no error for PRW caller");
                    }
                }
            }
            // Every series updates its metadata (unknown and empty without any), as
            // Prometheus; a failure is not the sender's error, only counted.
            if let Err(e) = self.app.update_metadata(r, &labels, &meta) {
                tracing::debug!(err = %e, "error while updating metadata from remote write");
                self.without_metadata_samples +=
                    self.stats.samples + self.stats.histograms - written_before;
            }
        }
        Ok(())
    }

    /// Reduces (schemas above 8), validates and appends one histogram.
    fn append_histogram(
        &mut self,
        r: u64,
        labels: &Labels,
        t: i64,
        h: &HistogramSample,
    ) -> Result<u64> {
        let reduced = prepared_histogram(h).map_err(|e| Error::InvalidHistogram(e.to_string()))?;
        let (ih, fh) = reduced.as_ref().map_or_else(|| h.parts(), |r| r.parts());
        self.app.append_histogram(r, labels, t, ih, fh)
    }

    fn reject(&mut self, e: &Error, t: i64, labels: &Labels) {
        tracing::error!(err = %e, series = %labels, timestamp = t, "Out of order sample from remote write");
        let what = if matches!(e, Error::OutOfBounds) && t > self.max_t {
            format!("{e}: timestamp is too far in the future")
        } else {
            e.to_string()
        };
        self.bad.push(format!("{what} for series {labels}"));
    }
}

#[cfg(test)]
mod tests;
