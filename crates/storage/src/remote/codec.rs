//! Conversions between model types and prompb messages, snappy framing, and the write receiver.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use model::histogram::{EXPONENTIAL_SCHEMA_MAX, is_known_schema};
use model::{FloatHistogram, Histogram, Labels, MatchType, Matcher};
use prompb::{LabelMatcher, Message, ReadRequest, ReadResponse, WriteRequest, label_matcher};

use super::histogram::HistogramSample;
use super::wire;
use super::write_v2::MAX_AHEAD;
use crate::{Appendable, Error, Exemplar, Metadata, Result};

/// How the remote-write receivers (1.0 and 2.0) append: the switches Prometheus passes to
/// its `NewWriteHandler`, and the counter it registers.
#[derive(Debug, Clone, Default)]
pub struct ReceiverOptions {
    /// `--enable-feature=created-timestamp-zero-ingestion`: remote write 2.0 created
    /// timestamps become zero samples (1.0 carries none).
    pub ingest_ct_zero_sample: bool,
    /// `prometheus_api_remote_write_invalid_labels_samples_total`: samples and histograms
    /// of series skipped for their labels (as Prometheus counts them: 2.0 adds the series'
    /// samples and histograms, 1.0 one per skipped series). Shared by every request.
    pub invalid_labels_samples: Arc<AtomicU64>,
    /// `prometheus_api_remote_write_without_metadata_appended_samples_total`: samples and
    /// histograms written (2.0) for series whose metadata the storage refused.
    pub without_metadata_samples: Arc<AtomicU64>,
}

/// Compresses with snappy's block format (not the framed format), as remote write does.
pub fn encode_snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .expect("snappy compresses any input shorter than 2^32 bytes")
}

/// Decompresses a snappy block; `what` names the message for the error.
///
/// A block whose header claims more than snappy can expand its input to (a 3-byte copy
/// yields at most 64 bytes) is refused before anything is allocated, so a few bytes cannot
/// make the receiver allocate gigabytes.
pub fn decode_snappy(body: &[u8], what: &'static str) -> Result<Vec<u8>> {
    let claimed = snap::raw::decompress_len(body).map_err(|e| snappy_error(what, &e))?;
    if claimed > body.len().saturating_mul(22).saturating_add(64) {
        tracing::debug!(
            claimed,
            compressed = body.len(),
            "snappy header claims more than the compressed bytes can hold"
        );
        return Err(Error::InvalidRemoteRequest {
            what,
            reason: SNAPPY_CORRUPT.into(),
        });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| snappy_error(what, &e))
}

/// Go's `snappy.ErrCorrupt` text, which Prometheus's receivers answer a bad body with.
const SNAPPY_CORRUPT: &str = "snappy: corrupt input";

/// A snappy failure in Go's words (`snappy: corrupt input`, or `snappy: decoded block is
/// too large`): the receivers answer with it, as Prometheus does. The details of the Rust
/// decoder go to the debug log.
fn snappy_error(what: &'static str, e: &snap::Error) -> Error {
    tracing::debug!(err = %e, what, "snappy decoding failed");
    let reason = match e {
        snap::Error::TooBig { .. } => "snappy: decoded block is too large",
        _ => SNAPPY_CORRUPT,
    };
    Error::InvalidRemoteRequest {
        what,
        reason: reason.into(),
    }
}

/// The text `/api/v1/write` and `/api/v1/read` answer an error with (the body of Go's
/// `http.Error`, without its newline): a malformed request's reason as Prometheus words it
/// (`snappy: corrupt input`), any other error as it displays.
pub fn receiver_text(err: &Error) -> String {
    match err {
        Error::InvalidRemoteRequest { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

/// Encodes and compresses a write request into an HTTP body.
pub fn encode_write_request(req: &WriteRequest) -> Vec<u8> {
    encode_snappy(&req.encode_to_vec())
}

/// Decodes a snappy-compressed remote-write 1.0 body (what `/api/v1/write` receives).
pub fn decode_write_request(body: &[u8]) -> Result<WriteRequest> {
    let raw = decode_snappy(body, "write request")?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| Error::InvalidRemoteRequest {
        what: "write request",
        reason: format!("protobuf decoding: {e}"),
    })
}

/// Encodes and compresses a read request into an HTTP body.
pub fn encode_read_request(req: &ReadRequest) -> Vec<u8> {
    encode_snappy(&req.encode_to_vec())
}

/// Decodes a snappy-compressed remote-read request (what `/api/v1/read` receives).
pub fn decode_read_request(body: &[u8]) -> Result<ReadRequest> {
    let raw = decode_snappy(body, "read request")?;
    ReadRequest::decode(raw.as_slice()).map_err(|e| Error::InvalidRemoteRequest {
        what: "read request",
        reason: format!("protobuf decoding: {e}"),
    })
}

/// Encodes and compresses a SAMPLES read response (sent with `Content-Type:
/// application/x-protobuf` and `Content-Encoding: snappy`).
pub fn encode_read_response(resp: &ReadResponse) -> Vec<u8> {
    encode_snappy(&resp.encode_to_vec())
}

/// Label pairs as protobuf labels (sorted, as `Labels` are).
pub fn labels_to_proto(labels: &Labels) -> Vec<prompb::Label> {
    labels
        .iter()
        .map(|(name, value)| prompb::Label {
            name: name.to_owned(),
            value: value.to_owned(),
        })
        .collect()
}

/// Protobuf labels as a label set, rejecting what Prometheus's receiver rejects: empty names,
/// empty values are dropped (they mean "no label"), duplicate names are an error.
pub fn labels_from_proto(labels: &[prompb::Label]) -> Result<Labels> {
    let mut pairs: Vec<(&str, &str)> = labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    clean_labels(&mut pairs)?;
    Ok(Labels::from_sorted_pairs(&pairs))
}

/// Validates and normalises decoded label pairs in place: an empty name is an error, empty
/// values are dropped, the rest is sorted by name, and a repeated name is an error.
fn clean_labels(pairs: &mut Vec<(&str, &str)>) -> Result<()> {
    if pairs.iter().any(|(n, _)| n.is_empty()) {
        return Err(invalid_labels(pairs, "label with an empty name"));
    }
    pairs.retain(|(_, v)| !v.is_empty());
    if !pairs.windows(2).all(|w| w[0].0 < w[1].0) {
        pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
        if pairs.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(invalid_labels(pairs, "duplicate label name"));
        }
    }
    Ok(())
}

fn invalid_labels(labels: &[(&str, &str)], reason: &str) -> Error {
    let shown: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    Error::InvalidRemoteRequest {
        what: "labels",
        reason: format!("{reason} in {{{}}}", shown.join(", ")),
    }
}

/// Model matchers as protobuf matchers.
pub fn matchers_to_proto(matchers: &[Matcher]) -> Vec<LabelMatcher> {
    matchers
        .iter()
        .map(|m| LabelMatcher {
            r#type: match m.match_type {
                MatchType::Equal => label_matcher::Type::Eq,
                MatchType::NotEqual => label_matcher::Type::Neq,
                MatchType::RegexMatch => label_matcher::Type::Re,
                MatchType::RegexNoMatch => label_matcher::Type::Nre,
            } as i32,
            name: m.name.clone(),
            value: m.value.clone(),
        })
        .collect()
}

/// Protobuf matchers as model matchers (regexes compiled with Prometheus's semantics).
pub fn matchers_from_proto(matchers: &[LabelMatcher]) -> Result<Vec<Matcher>> {
    matchers
        .iter()
        .map(|m| {
            let match_type = match label_matcher::Type::try_from(m.r#type) {
                Ok(label_matcher::Type::Eq) => MatchType::Equal,
                Ok(label_matcher::Type::Neq) => MatchType::NotEqual,
                Ok(label_matcher::Type::Re) => MatchType::RegexMatch,
                Ok(label_matcher::Type::Nre) => MatchType::RegexNoMatch,
                Err(_) => {
                    return Err(Error::InvalidRemoteRequest {
                        what: "read request",
                        reason: format!("invalid matcher type {}", m.r#type),
                    });
                }
            };
            Matcher::new(match_type, &m.name, &m.value).map_err(|e| Error::InvalidRemoteRequest {
                what: "read request",
                reason: format!("matcher {}: {e}", m.name),
            })
        })
        .collect()
}

/// Decodes a snappy-compressed remote-write 1.0 body and appends it: what `/api/v1/write`
/// does. See [`append_encoded_write_request`].
pub fn append_write_body(body: &[u8], db: &dyn Appendable) -> Result<usize> {
    append_write_body_with(body, db, &ReceiverOptions::default())
}

/// [`append_write_body`] counting series with invalid labels in `opts`.
pub fn append_write_body_with(
    body: &[u8],
    db: &dyn Appendable,
    opts: &ReceiverOptions,
) -> Result<usize> {
    let raw = decode_snappy(body, "write request")?;
    append_encoded_write_request_with(&raw, db, opts)
}

/// Appends a decoded write request (see [`append_encoded_write_request`]).
pub fn append_write_request(req: &WriteRequest, db: &dyn Appendable) -> Result<usize> {
    append_encoded_write_request(&req.encode_to_vec(), db)
}

/// Appends every float sample and native histogram of an encoded (uncompressed) write
/// request and commits, as Prometheus's remote-write handler does. Returns the number of
/// samples and histograms appended.
///
/// The request is read in place (no message structs, no allocation per label or sample).
/// A request that does not decode fails as a whole before anything is appended. A series
/// with invalid labels (an empty or repeated label name, no metric name) is skipped with a
/// warning, as Prometheus's 1.0 handler does, and counted in
/// [`ReceiverOptions::invalid_labels_samples`] (see [`append_encoded_write_request_with`]).
/// The first sample or histogram the storage rejects (out of order, out of bounds, more
/// than 10 minutes ahead of the receiver's clock, too old, duplicates) or that is invalid
/// (Go's histogram validation errors, after histograms of schemas 9 to 52 are reduced to
/// schema 8 as Prometheus's receiver does) rolls the whole request back and is the error
/// (the storage's own, e.g. `out of order sample`): the caller answers 400, as Prometheus's
/// 1.0 handler returns at its first append error. Histograms a storage without native
/// histograms refuses are skipped, the rest committed, and [`Error::SamplesRejected`]
/// reports them. Exemplars follow their series' samples; the storage's rejections of
/// exemplars never fail the request (they are logged), as in Prometheus.
pub fn append_encoded_write_request(raw: &[u8], db: &dyn Appendable) -> Result<usize> {
    append_encoded_write_request_with(raw, db, &ReceiverOptions::default())
}

/// [`append_encoded_write_request`] counting series with invalid labels in `opts`.
pub fn append_encoded_write_request_with(
    raw: &[u8],
    db: &dyn Appendable,
    opts: &ReceiverOptions,
) -> Result<usize> {
    let mut invalid_series = 0u64;
    // One decoding pass validates everything and keeps the cleaned labels and the samples
    // in flat buffers; the append pass then only reads them.
    let mut one: Vec<(&str, &str)> = Vec::new();
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    let mut samples: Vec<(i64, f64)> = Vec::new();
    let mut histograms: Vec<(i64, HistogramSample)> = Vec::new();
    // Per series: its label, sample and histogram ranges.
    let mut series: Vec<[std::ops::Range<usize>; 3]> = Vec::new();
    // Per series, its exemplars: (labels as pairs, timestamp, value).
    let mut exemplars: Vec<Vec<Exemplar>> = Vec::new();
    /// Where one series' parts go while its bytes are read once.
    struct Parts<'b> {
        samples: &'b mut Vec<(i64, f64)>,
        histograms: &'b mut Vec<(i64, HistogramSample)>,
        exemplars: Vec<Exemplar>,
    }
    impl<'a> wire::SeriesParts<'a> for Parts<'_> {
        fn sample(&mut self, t: i64, v: f64) -> Result<()> {
            self.samples.push((t, v));
            Ok(())
        }
        fn histogram(&mut self, t: i64, h: HistogramSample) -> Result<()> {
            self.histograms.push((t, h));
            Ok(())
        }
        fn exemplar(&mut self, labels: &[(&'a str, &'a str)], t: i64, v: f64) -> Result<()> {
            self.exemplars.push(Exemplar {
                labels: Labels::from_pairs(labels.iter().copied()),
                value: v,
                ts: t,
                has_ts: true,
            });
            Ok(())
        }
    }
    wire::for_each_series(raw, |s| {
        one.clear();
        let (s0, h0) = (samples.len(), histograms.len());
        let mut parts = Parts {
            samples: &mut samples,
            histograms: &mut histograms,
            exemplars: Vec::new(),
        };
        s.read(&mut one, &mut parts)?;
        let these = parts.exemplars;
        let checked = clean_labels(&mut one).and_then(|()| {
            if one.iter().any(|(n, _)| *n == model::METRIC_NAME) {
                Ok(())
            } else {
                Err(invalid_labels(&one, "no metric name"))
            }
        });
        if let Err(e) = checked {
            tracing::warn!(err = %e, "Invalid metric names or labels");
            invalid_series += 1;
            samples.truncate(s0);
            histograms.truncate(h0);
            return Ok(());
        }
        let l0 = pairs.len();
        pairs.extend_from_slice(&one);
        series.push([l0..pairs.len(), s0..samples.len(), h0..histograms.len()]);
        exemplars.push(these);
        Ok(())
    })?;
    if invalid_series > 0 {
        opts.invalid_labels_samples
            .fetch_add(invalid_series, Ordering::Relaxed);
    }
    let mut with_histograms = Vec::new();
    let float_series: Vec<_> = series
        .into_iter()
        .zip(exemplars)
        .map(|([label_range, sample_range, hist_range], exemplars)| {
            let labels = Labels::from_sorted_pairs(&pairs[label_range]);
            if !hist_range.is_empty() {
                with_histograms.push(SeriesIn::plain(
                    labels.clone(),
                    &histograms[hist_range],
                    Vec::new(),
                ));
            }
            SeriesIn::plain(labels, &samples[sample_range], exemplars)
        })
        .collect();
    let out = append_all(db, float_series, with_histograms, Checks::REMOTE_WRITE_V1)?;
    let (mut rejected, mut first) = (out.rejected, out.first);
    if out.unsupported > 0 {
        rejected += out.unsupported;
        first.get_or_insert_with(|| Error::NativeHistogramsUnsupported.to_string());
    }
    match first {
        Some(first) => Err(Error::SamplesRejected { rejected, first }),
        None => Ok(out.appended),
    }
}

/// A native histogram the shared append path takes: either kind.
pub(crate) trait HistogramValue {
    /// The histogram as the pair [`crate::Appender::append_histogram`] takes.
    fn parts(&self) -> (Option<&Histogram>, Option<&FloatHistogram>);
}

impl HistogramValue for Histogram {
    fn parts(&self) -> (Option<&Histogram>, Option<&FloatHistogram>) {
        (Some(self), None)
    }
}

impl HistogramValue for HistogramSample {
    fn parts(&self) -> (Option<&Histogram>, Option<&FloatHistogram>) {
        HistogramSample::parts(self)
    }
}

/// One series for the shared append: its labels, samples (values of type `T`), their start
/// timestamps (the same length, or empty for none), exemplars and metadata.
pub(crate) struct SeriesIn<'a, T> {
    pub(crate) labels: Labels,
    pub(crate) samples: &'a [(i64, T)],
    pub(crate) starts: &'a [i64],
    pub(crate) exemplars: Vec<Exemplar>,
    pub(crate) metadata: Option<&'a Metadata>,
}

impl<'a, T> SeriesIn<'a, T> {
    /// A series with samples only.
    fn plain(labels: Labels, samples: &'a [(i64, T)], exemplars: Vec<Exemplar>) -> Self {
        SeriesIn {
            labels,
            samples,
            starts: &[],
            exemplars,
            metadata: None,
        }
    }
}

/// Appends validated series in one appender and commits, as the remote-write and OTLP
/// receivers do: samples the storage rejects as bad data (out of order, out of bounds, too
/// old, duplicates) are skipped and reported as [`Error::SamplesRejected`] after the rest is
/// committed; any other failure rolls everything back. Each series' exemplars are appended
/// after its samples (Prometheus's `appendExemplar`: by labels, errors only logged,
/// out-of-order ones counted in one warning per request). Then native histogram series in
/// the same appender (with their exemplars), as they are. Histograms the storage does not keep
/// ([`Error::NativeHistogramsUnsupported`]) are counted, not failed: returns the samples
/// appended and that count. Each series comes with its samples' start timestamps (the same
/// length, or empty for none); with `ingest_ct`, a start timestamp before its sample that
/// differs from the series' previous one is appended first as a zero sample (Prometheus's
/// OTLP `combinedAppender`; out-of-order and duplicate ones are skipped silently). A series
/// with metadata that the storage created gets it through [`crate::Appender::update_metadata`]
/// after its samples (refusals are counted, never failed). `Err` is a storage failure
/// (nothing kept); rejected samples are in the returned [`Appended`].
pub(crate) fn append_series_and_histograms<'a, 'h, H: HistogramValue + 'h>(
    db: &dyn Appendable,
    series: impl IntoIterator<Item = SeriesIn<'a, f64>>,
    histograms: impl IntoIterator<Item = SeriesIn<'h, H>>,
    ingest_ct: bool,
) -> Result<Appended> {
    let checks = Checks {
        histograms: false,
        ingest_ct,
        abort_on_reject: false,
    };
    append_all(db, series, histograms, checks)
}

/// What one committed append of the receivers did.
pub(crate) struct Appended {
    pub(crate) appended: usize,
    /// Histograms refused with [`Error::NativeHistogramsUnsupported`].
    pub(crate) unsupported: usize,
    /// Samples and histograms rejected as bad data, and the first rejection.
    pub(crate) rejected: usize,
    pub(crate) first: Option<String>,
    /// Exemplars refused as out of order.
    pub(crate) out_of_order_exemplars: usize,
    /// Series whose metadata the storage refused.
    pub(crate) without_metadata: usize,
}

/// A histogram as the storage should get it: schemas 9 to 52 reduced to 8 (Prometheus's
/// `remoteWriteAppender`), then validated (Go's histogram validation; an error is bad data).
pub(crate) fn prepared_histogram<H: HistogramValue>(
    h: &H,
) -> std::result::Result<Option<HistogramSample>, model::HistogramError> {
    let (ih, fh) = h.parts();
    let schema = ih.map_or_else(|| fh.map_or(0, |f| f.schema), |h| h.schema);
    let reduced = if schema > EXPONENTIAL_SCHEMA_MAX && is_known_schema(schema) {
        Some(match (ih, fh) {
            (Some(h), _) => {
                let mut h = h.clone();
                h.reduce_resolution(EXPONENTIAL_SCHEMA_MAX)?;
                HistogramSample::Int(h)
            }
            (None, Some(fh)) => {
                let mut fh = fh.clone();
                fh.reduce_resolution(EXPONENTIAL_SCHEMA_MAX)?;
                HistogramSample::Float(fh)
            }
            (None, None) => return Ok(None),
        })
    } else {
        None
    };
    let (ih, fh) = reduced.as_ref().map_or((ih, fh), |r| r.parts());
    if let Some(h) = ih {
        h.validate()?;
    } else if let Some(fh) = fh {
        fh.validate()?;
    }
    Ok(reduced)
}

/// What the shared append does besides appending.
#[derive(Clone, Copy)]
struct Checks {
    /// Reduce and validate histograms first (the remote-write receiver; the OTLP
    /// translation builds its histograms itself).
    histograms: bool,
    /// Append start timestamps as zero samples.
    ingest_ct: bool,
    /// The first sample the storage rejects (out of order, out of bounds, too old,
    /// duplicate, an invalid histogram) rolls the whole request back and is the error, as
    /// Prometheus's 1.0 handler returns at its first append error; otherwise rejected
    /// samples are skipped and the rest committed (2.0 and OTLP).
    abort_on_reject: bool,
}

impl Checks {
    const REMOTE_WRITE_V1: Checks = Checks {
        histograms: true,
        ingest_ct: false,
        abort_on_reject: true,
    };
}

/// A series' start timestamps being turned into zero samples: the previous one, so that
/// each distinct start timestamp is appended once.
#[derive(Default)]
struct CtState {
    last: Option<i64>,
}

impl CtState {
    /// The start timestamp to append before the sample at `t`, if any.
    fn wanted(&mut self, ct: i64, t: i64) -> Option<i64> {
        let changed = self.last != Some(ct);
        self.last = Some(ct);
        (changed && ct != 0 && ct < t).then_some(ct)
    }
}

/// The series reference after a start-timestamp zero sample: the new one on success, else
/// the old one (out-of-order and duplicate start timestamps are normal: an earlier request
/// carried them; other failures are logged).
fn after_ct(res: Result<u64>, r: u64, labels: &Labels, ct: i64, t: i64) -> u64 {
    match res {
        Ok(new_ref) if new_ref != 0 => new_ref,
        Ok(_)
        | Err(
            Error::OutOfOrderCt
            | Error::DuplicateSampleForTimestamp
            | Error::NativeHistogramsUnsupported,
        ) => r,
        Err(e) => {
            tracing::warn!(err = %e, series = %labels, created_timestamp = ct, timestamp = t, "Error when appending CT from OTLP");
            r
        }
    }
}

/// The shared append.
fn append_all<'a, 'h, H: HistogramValue + 'h>(
    db: &dyn Appendable,
    series: impl IntoIterator<Item = SeriesIn<'a, f64>>,
    histograms: impl IntoIterator<Item = SeriesIn<'h, H>>,
    checks: Checks,
) -> Result<Appended> {
    let mut app = db.appender();
    let max_t = max_time();
    let (mut appended, mut rejected, mut first) = (0, 0, None);
    let mut unsupported = 0usize;
    let mut out_of_order_exemplars = 0usize;
    let mut without_metadata = 0usize;
    for s in series {
        let SeriesIn {
            labels,
            samples,
            starts: cts,
            exemplars,
            metadata,
        } = s;
        let mut r = 0;
        let mut kept = false;
        let mut ct_state = CtState::default();
        for (i, &(t, v)) in samples.iter().enumerate() {
            if checks.ingest_ct
                && t <= max_t
                && let Some(ct) = ct_state.wanted(cts.get(i).copied().unwrap_or(0), t)
            {
                r = after_ct(
                    app.append_ct_zero_sample(r, &labels, t, ct),
                    r,
                    &labels,
                    ct,
                    t,
                );
            }
            let res = if t > max_t {
                Err(Error::OutOfBounds)
            } else {
                app.append(r, &labels, t, v)
            };
            match res {
                Ok(new_ref) => {
                    r = new_ref;
                    appended += 1;
                    kept = true;
                }
                Err(
                    e @ (Error::OutOfOrderSample
                    | Error::OutOfBounds
                    | Error::TooOldSample
                    | Error::DuplicateSampleForTimestamp),
                ) => {
                    if checks.abort_on_reject {
                        tracing::error!(err = %e, series = %labels, timestamp = t, "Out of order sample from remote write");
                        let _ = app.rollback();
                        return Err(e);
                    }
                    rejected += 1;
                    first.get_or_insert_with(|| rejection(&e, &labels, t, max_t));
                }
                // A storage failure, not bad data: nothing of this request is kept.
                Err(e) => {
                    let _ = app.rollback();
                    return Err(e);
                }
            }
        }
        out_of_order_exemplars += append_exemplars(app.as_mut(), &labels, &exemplars, max_t);
        without_metadata += update_metadata(app.as_mut(), r, kept, &labels, metadata);
    }
    for s in histograms {
        let SeriesIn {
            labels,
            samples,
            starts: cts,
            exemplars,
            metadata,
        } = s;
        let mut r = 0;
        let mut kept = false;
        let mut ct_state = CtState::default();
        for (i, (t, h)) in samples.iter().enumerate() {
            let prepared = if checks.histograms {
                prepared_histogram(h)
            } else {
                Ok(None)
            };
            let reduced = match prepared {
                Ok(reduced) => reduced,
                Err(e) => {
                    if checks.abort_on_reject {
                        let _ = app.rollback();
                        return Err(Error::InvalidHistogram(e.to_string()));
                    }
                    rejected += 1;
                    first.get_or_insert_with(|| {
                        format!("invalid histogram: {e} for series {labels} at {t}")
                    });
                    continue;
                }
            };
            let (ih, fh) = reduced.as_ref().map_or_else(|| h.parts(), |r| r.parts());
            if checks.ingest_ct
                && *t <= max_t
                && let Some(ct) = ct_state.wanted(cts.get(i).copied().unwrap_or(0), *t)
            {
                let res = app.append_histogram_ct_zero_sample(r, &labels, *t, ct, ih, fh);
                r = after_ct(res, r, &labels, ct, *t);
            }
            let res = if *t > max_t {
                Err(Error::OutOfBounds)
            } else {
                app.append_histogram(r, &labels, *t, ih, fh)
            };
            match res {
                Ok(new_ref) => {
                    r = new_ref;
                    appended += 1;
                    kept = true;
                }
                Err(Error::NativeHistogramsUnsupported) => unsupported += 1,
                Err(
                    e @ (Error::OutOfOrderSample
                    | Error::OutOfBounds
                    | Error::TooOldSample
                    | Error::DuplicateSampleForTimestamp),
                ) => {
                    if checks.abort_on_reject {
                        tracing::error!(err = %e, series = %labels, timestamp = *t, "Out of order sample from remote write");
                        let _ = app.rollback();
                        return Err(e);
                    }
                    rejected += 1;
                    first.get_or_insert_with(|| rejection(&e, &labels, *t, max_t));
                }
                Err(e) => {
                    let _ = app.rollback();
                    return Err(e);
                }
            }
        }
        // Exemplars of a series the storage did not take would have nothing to attach to.
        if kept {
            out_of_order_exemplars += append_exemplars(app.as_mut(), &labels, &exemplars, max_t);
        }
        without_metadata += update_metadata(app.as_mut(), r, kept, &labels, metadata);
    }
    if out_of_order_exemplars > 0 {
        tracing::warn!(
            num_dropped = out_of_order_exemplars,
            "Error on ingesting out-of-order exemplars"
        );
    }
    app.commit()?;
    Ok(Appended {
        appended,
        unsupported,
        rejected,
        first,
        out_of_order_exemplars,
        without_metadata,
    })
}

/// Gives a series the storage took a sample of (`kept`) its metadata; returns 1 when the
/// storage refused it (only logged, as Prometheus's OTLP appender does).
fn update_metadata(
    app: &mut dyn crate::Appender,
    r: u64,
    kept: bool,
    labels: &Labels,
    metadata: Option<&Metadata>,
) -> usize {
    let Some(meta) = metadata.filter(|_| kept) else {
        return 0;
    };
    match app.update_metadata(r, labels, meta) {
        Ok(_) => 0,
        Err(e) => {
            tracing::warn!(err = %e, series = %labels, "Error while updating metadata from OTLP");
            1
        }
    }
}

/// The newest timestamp a receiver accepts now: 10 minutes ahead of its clock (Prometheus's
/// `timeLimitAppender`, for 1.0, 2.0 and OTLP alike).
pub(crate) fn max_time() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    now.saturating_add(MAX_AHEAD.as_millis() as i64)
}

/// The first-rejection text of a rejected sample.
fn rejection(e: &Error, labels: &Labels, t: i64, max_t: i64) -> String {
    if matches!(e, Error::OutOfBounds) && t > max_t {
        format!("{e}: timestamp is too far in the future for series {labels} at {t}")
    } else {
        format!("{e} for series {labels} at {t}")
    }
}

/// Appends a series' exemplars; returns how many were out of order (other failures, and
/// exemplars more than 10 minutes ahead, are only logged, as in Prometheus).
fn append_exemplars(
    app: &mut dyn crate::Appender,
    labels: &Labels,
    exemplars: &[Exemplar],
    max_t: i64,
) -> usize {
    let mut out_of_order = 0;
    for e in exemplars {
        let res = if e.ts > max_t {
            Err(Error::OutOfBounds)
        } else {
            app.append_exemplar(0, labels, e)
        };
        match res {
            Ok(_) => {}
            Err(Error::OutOfOrderExemplar) => out_of_order += 1,
            Err(err) => {
                tracing::debug!(series = %labels, err = %err, "Error while adding exemplar in AppendExemplar");
            }
        }
    }
    out_of_order
}

/// The HTTP status `/api/v1/write` answers with for a decode-or-append result: 204 on
/// success, 400 for bad data (undecodable bodies, invalid labels, rejected samples), 503 while
/// the storage is not ready, 500 otherwise.
pub fn write_response_status<T>(result: &Result<T>) -> u16 {
    match result {
        Ok(_) => 204,
        Err(
            Error::InvalidRemoteRequest { .. }
            | Error::SamplesRejected { .. }
            | Error::InvalidLabels { .. }
            | Error::InvalidHistogram(_)
            | Error::OutOfOrderSample
            | Error::OutOfBounds
            | Error::TooOldSample
            | Error::DuplicateSampleForTimestamp,
        ) => 400,
        Err(Error::NotReady) => 503,
        Err(_) => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemStorage, Queryable};
    use model::FloatHistogram;
    use prompb::{Sample, TimeSeries};

    /// Records what is appended: samples and exemplars per series; rejects negative
    /// exemplars as out of order.
    #[derive(Clone, Default)]
    struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<String>>>);
    struct RecorderApp(Recorder, Vec<String>);
    impl Appendable for Recorder {
        fn appender(&self) -> Box<dyn crate::Appender> {
            Box::new(RecorderApp(self.clone(), Vec::new()))
        }
    }
    impl crate::Appender for RecorderApp {
        fn append(&mut self, _: u64, l: &Labels, t: i64, v: f64) -> Result<u64> {
            self.1.push(format!("sample {l} {t} {v}"));
            Ok(1)
        }
        fn append_exemplar(&mut self, r: u64, l: &Labels, e: &Exemplar) -> Result<u64> {
            assert_eq!(r, 0, "found by labels");
            if e.value < 0.0 {
                return Err(Error::OutOfOrderExemplar);
            }
            self.1.push(format!(
                "exemplar {l} {} {} {} {}",
                e.labels, e.ts, e.value, e.has_ts
            ));
            Ok(1)
        }
        fn commit(self: Box<Self>) -> Result<()> {
            self.0.0.lock().expect("lock").extend(self.1);
            Ok(())
        }
        fn rollback(self: Box<Self>) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn exemplars_follow_their_series_samples_and_never_fail_the_request() {
        let ex = |id: &str, v: f64, t: i64| prompb::Exemplar {
            labels: vec![prompb::Label {
                name: "trace_id".into(),
                value: id.into(),
            }],
            value: v,
            timestamp: t,
        };
        let req = WriteRequest {
            timeseries: vec![
                TimeSeries {
                    exemplars: vec![ex("a", 0.5, 900), ex("old", -1.0, 800)],
                    ..TimeSeries::from_samples(&[("__name__", "x")], &[(1000, 1.0)])
                },
                TimeSeries::from_samples(&[("__name__", "y")], &[(1000, 2.0)]),
            ],
            metadata: Vec::new(),
        };
        let db = Recorder::default();
        let n = append_encoded_write_request(&req.encode_to_vec(), &db).expect("appended");
        assert_eq!(n, 2);
        assert_eq!(
            *db.0.lock().expect("lock"),
            [
                r#"sample {__name__="x"} 1000 1"#,
                r#"exemplar {__name__="x"} {trace_id="a"} 900 0.5 true"#,
                r#"sample {__name__="y"} 1000 2"#,
            ]
        );
        // A storage without exemplar storage still takes the samples.
        let mem = MemStorage::new();
        assert_eq!(
            append_encoded_write_request(&req.encode_to_vec(), &mem).expect("appended"),
            2
        );
    }

    /// The histograms of every series of a MemStorage, as (labels, t, kind, float view).
    fn stored_histograms(db: &MemStorage) -> Vec<(String, i64, crate::ValueType, FloatHistogram)> {
        let q = db.querier(i64::MIN, i64::MAX).unwrap();
        let mut set = q.select(true, None, &[]);
        let mut got = Vec::new();
        while let Some(s) = set.next() {
            let s = s.unwrap();
            let mut it = s.iterator();
            loop {
                match it.next() {
                    crate::ValueType::None => break,
                    crate::ValueType::Float => {}
                    vt => {
                        let (t, fh) = it.at_float_histogram();
                        got.push((s.labels().to_string(), t, vt, fh));
                    }
                }
            }
        }
        got
    }

    fn int_histogram(count: u64) -> Histogram {
        Histogram {
            count,
            zero_count: 1,
            sum: 10.5,
            zero_threshold: 0.001,
            schema: 1,
            positive_spans: vec![model::Span {
                offset: -1,
                length: 2,
            }],
            positive_buckets: vec![1, count as i64 - 3],
            ..Histogram::default()
        }
    }

    #[test]
    fn receiver_appends_int_and_float_histograms() {
        use super::super::histogram::{float_histogram_to_proto, histogram_to_proto};
        let fh = int_histogram(9).to_float();
        let req = WriteRequest {
            timeseries: vec![
                TimeSeries {
                    histograms: vec![
                        histogram_to_proto(1000, &int_histogram(5)),
                        histogram_to_proto(2000, &int_histogram(7)),
                    ],
                    ..TimeSeries::from_samples(&[("__name__", "h")], &[])
                },
                TimeSeries {
                    histograms: vec![float_histogram_to_proto(1500, &fh)],
                    ..TimeSeries::from_samples(&[("__name__", "fh")], &[(500, 1.0)])
                },
            ],
            metadata: vec![],
        };
        let db = MemStorage::new();
        let n = append_write_body(&encode_write_request(&req), &db).expect("appended");
        assert_eq!(n, 4);
        let got = stored_histograms(&db);
        assert_eq!(
            got,
            vec![
                (
                    r#"{__name__="fh"}"#.into(),
                    1500,
                    crate::ValueType::FloatHistogram,
                    fh
                ),
                (
                    r#"{__name__="h"}"#.into(),
                    1000,
                    crate::ValueType::Histogram,
                    int_histogram(5).to_float()
                ),
                (
                    r#"{__name__="h"}"#.into(),
                    2000,
                    crate::ValueType::Histogram,
                    FloatHistogram {
                        // MemStorage reads a histogram after another of its series as no reset.
                        counter_reset_hint: model::CounterResetHint::NotCounterReset,
                        ..int_histogram(7).to_float()
                    }
                ),
            ]
        );
    }

    #[test]
    fn refused_and_invalid_histograms_are_bad_requests_and_the_rest_is_kept() {
        use super::super::histogram::histogram_to_proto;
        let mut bad = int_histogram(5);
        bad.count = 99; // Buckets hold 5 observations.
        // Schema 10 is reduced to 8 (two buckets become one) and accepted.
        let fine = Histogram {
            schema: 10,
            count: 4,
            positive_spans: vec![model::Span {
                offset: 1,
                length: 2,
            }],
            positive_buckets: vec![1, 1],
            sum: 2.0,
            zero_count: 1,
            ..Histogram::default()
        };
        let db = MemStorage::new();
        let first = WriteRequest {
            timeseries: vec![TimeSeries {
                histograms: vec![histogram_to_proto(2000, &int_histogram(5))],
                ..TimeSeries::from_samples(&[("__name__", "h")], &[])
            }],
            metadata: vec![],
        };
        assert_eq!(append_write_request(&first, &db).unwrap(), 1);
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                histograms: vec![
                    histogram_to_proto(1000, &int_histogram(5)), // Out of order.
                    histogram_to_proto(3000, &bad),
                    histogram_to_proto(4000, &fine),
                ],
                ..TimeSeries::from_samples(&[("__name__", "h")], &[])
            }],
            metadata: vec![],
        };
        // The first rejection (out of order) rolls the request back.
        let res = append_write_request(&req, &db);
        assert_eq!(write_response_status(&res), 400);
        let err = res.unwrap_err();
        assert!(matches!(err, Error::OutOfOrderSample), "{err}");
        assert_eq!(stored_histograms(&db).len(), 1);
        let only_fine = WriteRequest {
            timeseries: vec![TimeSeries {
                histograms: vec![histogram_to_proto(4000, &fine)],
                ..TimeSeries::from_samples(&[("__name__", "h")], &[])
            }],
            metadata: vec![],
        };
        assert_eq!(append_write_request(&only_fine, &db).unwrap(), 1);
        let got = stored_histograms(&db);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1].1, 4000);
        assert_eq!(got[1].3.schema, 8);
        assert_eq!(got[1].3.positive_buckets, [3.0]);

        // An invalid one: its validation error is the reason.
        let only_bad = WriteRequest {
            timeseries: vec![TimeSeries {
                histograms: vec![histogram_to_proto(9000, &bad)],
                ..TimeSeries::from_samples(&[("__name__", "h")], &[])
            }],
            metadata: vec![],
        };
        let res = append_write_request(&only_bad, &db);
        assert_eq!(write_response_status(&res), 400);
        match res.unwrap_err() {
            Error::InvalidHistogram(msg) => {
                assert!(msg.contains("observations found in buckets"), "{msg}");
            }
            e => panic!("unexpected {e}"),
        }

        // A storage without native histograms refuses them: 400, its samples are kept.
        let rec = Recorder::default();
        let mixed = WriteRequest {
            timeseries: vec![TimeSeries {
                histograms: vec![histogram_to_proto(1, &int_histogram(5))],
                ..TimeSeries::from_samples(&[("__name__", "x")], &[(1, 2.0)])
            }],
            metadata: vec![],
        };
        let res = append_write_request(&mixed, &rec);
        assert_eq!(write_response_status(&res), 400);
        assert_eq!(
            *rec.0.lock().expect("lock"),
            [r#"sample {__name__="x"} 1 2"#]
        );
    }

    #[test]
    fn write_request_survives_snappy_round_trip() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries::from_samples(
                &[("__name__", "up")],
                &[(1, 1.0), (2, 0.0)],
            )],
            metadata: vec![],
        };
        let body = encode_write_request(&req);
        assert_eq!(decode_write_request(&body).unwrap(), req);
    }

    #[test]
    fn garbage_bodies_are_bad_requests() {
        let err = decode_write_request(b"not snappy at all").unwrap_err();
        assert_eq!(write_response_status::<()>(&Err(err)), 400);
        // Valid snappy, invalid protobuf.
        let err = decode_write_request(&encode_snappy(&[0xff, 0xff, 0xff])).unwrap_err();
        assert!(matches!(err, Error::InvalidRemoteRequest { .. }), "{err}");
    }

    #[test]
    fn append_rolls_back_at_the_first_rejected_sample_as_prometheus_1_0_does() {
        let db = MemStorage::new();
        let req = WriteRequest {
            timeseries: vec![
                TimeSeries::from_samples(&[("__name__", "a")], &[(10, 1.0), (5, 2.0), (20, 3.0)]),
                TimeSeries::from_samples(&[("__name__", "b"), ("x", "")], &[(1, 4.0)]),
            ],
            metadata: vec![],
        };
        let res = append_write_request(&req, &db);
        assert_eq!(write_response_status(&res), 400);
        let err = res.unwrap_err();
        assert!(matches!(err, Error::OutOfOrderSample), "{err}");
        // Go's handler answers the storage error as it is.
        assert_eq!(receiver_text(&err), "out of order sample");
        let q = db.querier(0, 100).unwrap();
        let mut set = q.select(true, None, &[]);
        assert!(set.next().is_none(), "nothing of the request is kept");
        // The same samples in order are all kept.
        let ok = WriteRequest {
            timeseries: vec![TimeSeries::from_samples(
                &[("__name__", "a")],
                &[(5, 2.0), (10, 1.0)],
            )],
            metadata: vec![],
        };
        assert_eq!(append_write_request(&ok, &db).unwrap(), 2);
    }

    #[test]
    fn snappy_failures_read_as_go_words_them() {
        for body in [&b""[..], b"definitely not snappy"] {
            let err = decode_write_request(body).unwrap_err();
            assert_eq!(receiver_text(&err), "snappy: corrupt input");
            assert_eq!(
                err.to_string(),
                "invalid remote write request: snappy: corrupt input"
            );
        }
    }

    #[test]
    fn series_with_invalid_labels_are_skipped_and_counted() {
        let db = MemStorage::new();
        let opts = ReceiverOptions::default();
        let bad: [&[(&str, &str)]; 5] = [
            &[("__name__", "x"), ("a", "1"), ("a", "2")],
            &[("__name__", "x"), ("", "1")],
            &[],
            &[("job", "no_name")],
            &[("__name__", "")],
        ];
        for (i, labels) in bad.into_iter().enumerate() {
            let req = WriteRequest {
                timeseries: vec![
                    TimeSeries::from_samples(&[("__name__", "ok")], &[(i as i64, 1.0)]),
                    TimeSeries::from_samples(labels, &[(1, 1.0), (2, 2.0)]),
                ],
                metadata: vec![],
            };
            let res = append_encoded_write_request_with(&req.encode_to_vec(), &db, &opts);
            // As Prometheus's 1.0 handler: a warning, the rest written, 204.
            assert_eq!(res.expect("written"), 1, "{labels:?}");
        }
        assert_eq!(db.num_series(), 1);
        // 1.0 counts one per skipped series.
        assert_eq!(opts.invalid_labels_samples.load(Ordering::Relaxed), 5);

        // A label value that is not UTF-8 is an invalid label too (Prometheus decodes the
        // bytes and then refuses the series), not a malformed request.
        let req = WriteRequest {
            timeseries: vec![
                TimeSeries::from_samples(&[("__name__", "ok")], &[(10, 1.0)]),
                TimeSeries::from_samples(&[("__name__", "bad"), ("v", "AB")], &[(10, 1.0)]),
            ],
            metadata: vec![],
        };
        let mut raw = req.encode_to_vec();
        let at = raw
            .windows(2)
            .position(|w| w == b"AB")
            .expect("the value is in the bytes");
        raw[at] = 0xff;
        let res = append_encoded_write_request_with(&raw, &db, &opts);
        assert_eq!(res.expect("written"), 1);
        assert_eq!(opts.invalid_labels_samples.load(Ordering::Relaxed), 6);
    }

    #[test]
    fn samples_more_than_ten_minutes_ahead_are_rejected_as_out_of_bounds() {
        let db = MemStorage::new();
        let now = max_time() - MAX_AHEAD.as_millis() as i64;
        let far = now + 11 * 60 * 1000;
        let near = now + 9 * 60 * 1000;
        let mut req = WriteRequest {
            timeseries: vec![
                TimeSeries::from_samples(&[("__name__", "a")], &[(now, 1.0), (near, 2.0)]),
                TimeSeries::from_samples(&[("__name__", "b")], &[(far, 3.0)]),
            ],
            metadata: vec![],
        };
        // Go's time limit appender answers `out of bounds`, and nothing is kept.
        let res = append_write_request(&req, &db);
        assert_eq!(write_response_status(&res), 400);
        assert!(matches!(res, Err(Error::OutOfBounds)), "{res:?}");
        assert_eq!(db.num_series(), 0);
        req.timeseries.pop();
        assert_eq!(append_write_request(&req, &db).unwrap(), 2);
        assert_eq!(db.num_series(), 1);
    }

    proptest::proptest! {
        #[test]
        fn write_requests_round_trip_through_snappy_and_labels(
            series in proptest::collection::vec(
                (
                    proptest::collection::btree_map("[a-z_][a-z0-9_]{0,8}", "[ -~]{1,12}", 1..6),
                    proptest::collection::vec((proptest::num::i64::ANY, proptest::num::f64::ANY), 0..20),
                ),
                0..10,
            )
        ) {
            let req = WriteRequest {
                timeseries: series
                    .iter()
                    .map(|(labels, samples)| TimeSeries {
                        labels: labels_to_proto(&Labels::from_pairs(labels.iter().map(|(n, v)| (n.as_str(), v.as_str())))),
                        samples: samples.iter().map(|&(timestamp, value)| Sample { value, timestamp }).collect(),
                        ..Default::default()
                    })
                    .collect(),
                metadata: vec![],
            };
            let back = decode_write_request(&encode_write_request(&req)).unwrap();
            proptest::prop_assert_eq!(back.timeseries.len(), req.timeseries.len());
            for (a, b) in back.timeseries.iter().zip(&req.timeseries) {
                proptest::prop_assert_eq!(&a.labels, &b.labels);
                // proto3 omits a zero double, so -0.0 arrives as 0.0 (as with Go's gogo code).
                let bits = |ts: &TimeSeries| {
                    ts.samples
                        .iter()
                        .map(|s| (s.timestamp, if s.value == 0.0 { 0 } else { s.value.to_bits() }))
                        .collect::<Vec<_>>()
                };
                proptest::prop_assert_eq!(bits(a), bits(b));
                let labels = labels_from_proto(&a.labels).unwrap();
                proptest::prop_assert_eq!(labels_to_proto(&labels), a.labels.clone());
            }
        }
    }

    #[test]
    fn matchers_round_trip() {
        let ms = vec![
            Matcher::new(MatchType::Equal, "a", "1").unwrap(),
            Matcher::new(MatchType::NotEqual, "b", "2").unwrap(),
            Matcher::new(MatchType::RegexMatch, "c", "x|y").unwrap(),
            Matcher::new(MatchType::RegexNoMatch, "d", ".*z").unwrap(),
        ];
        let back = matchers_from_proto(&matchers_to_proto(&ms)).unwrap();
        assert_eq!(
            back.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
            ms.iter().map(|m| m.to_string()).collect::<Vec<_>>()
        );
    }
}
