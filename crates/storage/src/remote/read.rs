//! Remote read: a [`Queryable`] over a `remote_read` endpoint, and the server side of
//! `/api/v1/read`.

use std::sync::Arc;
use std::time::Duration;

use model::{Labels, LabelsBuilder, MatchType, Matcher, Timestamp};
use prompb::{Message, Query, QueryResult, ReadHints, ReadRequest, ReadResponse, read_request};

use super::chunked::{
    ChunkedReader, DEFAULT_CHUNKED_READ_LIMIT, STREAMED_CONTENT_TYPE, write_frame,
};
use super::codec::{
    decode_snappy, encode_read_request, labels_from_proto, labels_to_proto, matchers_from_proto,
    matchers_to_proto,
};
use super::histogram::{
    HistogramSample, float_histogram_to_proto, histogram_from_proto, histogram_to_proto,
};
use super::http::{Endpoint, Response};
use super::xorchunk::{self, SAMPLES_PER_CHUNK};
use crate::{
    EmptySeriesSet, ErrSeriesSet, Error, LabelHints, ListSeries, ListSeriesSet, Querier, Queryable,
    Result, SampleIterator, SelectHints, Series, SeriesSet, ValueType,
};

/// The protocol version header value of remote read.
const REMOTE_READ_VERSION: &str = "0.1.0";

/// One `remote_read` endpoint, as the binary maps it from `config::RemoteReadConfig`.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// The endpoint (`http://host:port/path`).
    pub url: String,
    /// Name of the endpoint (for logs).
    pub name: String,
    /// Timeout of one request.
    pub remote_timeout: Duration,
    /// Extra headers sent with every request.
    pub headers: Vec<(String, String)>,
    /// The HTTP client (TLS, authentication, `http_headers`), built from the endpoint's
    /// HTTP client options; the default has none of them.
    pub client: httpclient::HttpClient,
    /// Equality matchers a query must contain to be sent to this endpoint.
    pub required_matchers: Vec<(String, String)>,
    /// `global.external_labels`.
    pub external_labels: Labels,
    /// Add the external labels as equality matchers, and strip them from the results.
    pub filter_external_labels: bool,
}

struct Shared {
    endpoint: Endpoint,
    opts: ReadOptions,
    runtime: tokio::runtime::Runtime,
}

/// A [`Queryable`] that answers `select` by sending a remote-read request (accepting
/// STREAMED_XOR_CHUNKS, then SAMPLES). Label names and values are not part of the protocol: they list nothing.
///
/// The trait is synchronous, so requests run on a private single-threaded runtime on a short
/// helper thread: callable from inside or outside a tokio runtime.
#[derive(Clone)]
pub struct RemoteRead {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RemoteRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteRead")
            .field("url", &self.shared.opts.url)
            .finish_non_exhaustive()
    }
}

impl RemoteRead {
    /// A client for one endpoint.
    pub fn new(opts: ReadOptions) -> Result<RemoteRead> {
        let endpoint = Endpoint::new(
            &opts.url,
            opts.remote_timeout,
            opts.headers.clone(),
            opts.client.clone(),
        )?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::backend)?;
        Ok(RemoteRead {
            shared: Arc::new(Shared {
                endpoint,
                opts,
                runtime,
            }),
        })
    }

    /// POSTs one read request accepting `accepted` response types.
    fn post(&self, query: &Query, accepted: &[read_request::ResponseType]) -> Result<Response> {
        let body = encode_read_request(&ReadRequest {
            queries: vec![query.clone()],
            accepted_response_types: accepted.iter().map(|&t| t as i32).collect(),
        });
        let shared = self.shared.clone();
        let resp = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    shared.runtime.block_on(shared.endpoint.post(
                        body,
                        &[("X-Prometheus-Remote-Read-Version", REMOTE_READ_VERSION)],
                    ))
                })
                .join()
                .map_err(|_| Error::RemoteRequest {
                    url: shared.opts.url.clone(),
                    reason: "remote read thread panicked".into(),
                })
        })??;
        if !resp.status.is_success() {
            return Err(self.shared.endpoint.status_error(&resp));
        }
        Ok(resp)
    }

    /// Sends one read request and returns the first query's series. It asks for streamed
    /// XOR chunks first and SAMPLES second (as Prometheus's client does) and reads whichever
    /// the server answers (XOR, histogram and float histogram chunks); a streamed answer
    /// holding a chunk encoding this client does not know is asked again as SAMPLES only.
    fn read(&self, query: Query) -> Result<QueryResult> {
        use read_request::ResponseType::{Samples, StreamedXorChunks};
        let resp = self.post(&query, &[StreamedXorChunks, Samples])?;
        let resp = if is_streamed(&resp) {
            match decode_streamed(&resp.body, &query) {
                Ok(result) => return Ok(result),
                Err(StreamedError::Unsupported) => self.post(&query, &[Samples])?,
                Err(StreamedError::Other(err)) => return Err(err),
            }
        } else {
            resp
        };
        if is_streamed(&resp) {
            return Err(Error::InvalidRemoteRequest {
                what: "read response",
                reason: "a streamed answer to a SAMPLES-only request".into(),
            });
        }
        let raw = decode_snappy(&resp.body, "read response")?;
        let mut decoded =
            ReadResponse::decode(raw.as_slice()).map_err(|e| Error::InvalidRemoteRequest {
                what: "read response",
                reason: format!("protobuf decoding: {e}"),
            })?;
        if decoded.results.is_empty() {
            return Ok(QueryResult::default());
        }
        Ok(decoded.results.swap_remove(0))
    }
}

fn is_streamed(resp: &Response) -> bool {
    resp.headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-streamed-protobuf"))
}

enum StreamedError {
    /// A chunk encoding this client does not decode.
    Unsupported,
    Other(Error),
}

impl From<Error> for StreamedError {
    fn from(err: Error) -> Self {
        StreamedError::Other(err)
    }
}

fn histogram_chunk_error(e: &chunkenc::Error) -> Error {
    Error::InvalidRemoteRequest {
        what: "histogram chunk",
        reason: e.to_string(),
    }
}

/// Reads the frames of a streamed answer to one query into a [`QueryResult`] (XOR chunks as
/// samples, histogram and float histogram chunks as histograms): the frames
/// of one series (consecutive, same labels) are joined, and samples outside
/// `[start, end]` (whole chunks overlap the range) are dropped.
fn decode_streamed(body: &[u8], query: &Query) -> std::result::Result<QueryResult, StreamedError> {
    let mut reader = ChunkedReader::new(body, DEFAULT_CHUNKED_READ_LIMIT);
    let mut timeseries: Vec<prompb::TimeSeries> = Vec::new();
    while let Some(frame) = reader.next_proto()? {
        if frame.query_index != 0 {
            return Err(Error::InvalidRemoteRequest {
                what: "streamed read response",
                reason: format!(
                    "query index {} for a request of one query",
                    frame.query_index
                ),
            }
            .into());
        }
        for series in frame.chunked_series {
            let mut samples = Vec::new();
            let mut histograms = Vec::new();
            let in_range = |t: i64| t >= query.start_timestamp_ms && t <= query.end_timestamp_ms;
            for chunk in &series.chunks {
                use prompb::chunk::Encoding;
                match Encoding::try_from(chunk.r#type) {
                    Ok(Encoding::Xor) => samples.extend(
                        xorchunk::decode(&chunk.data)?
                            .into_iter()
                            .filter(|&(t, _)| in_range(t))
                            .map(|(timestamp, value)| prompb::Sample { value, timestamp }),
                    ),
                    Ok(Encoding::Histogram) => {
                        let mut it = chunkenc::HistogramIterator::new(chunk.data.as_slice());
                        while it.next() {
                            let (t, h) = it.at_histogram();
                            if in_range(t) {
                                histograms.push(histogram_to_proto(t, &h));
                            }
                        }
                        if let Some(e) = it.err() {
                            return Err(histogram_chunk_error(e).into());
                        }
                    }
                    Ok(Encoding::FloatHistogram) => {
                        let mut it = chunkenc::FloatHistogramIterator::new(chunk.data.as_slice());
                        while it.next() {
                            let (t, h) = it.at_float_histogram();
                            if in_range(t) {
                                histograms.push(float_histogram_to_proto(t, &h));
                            }
                        }
                        if let Some(e) = it.err() {
                            return Err(histogram_chunk_error(e).into());
                        }
                    }
                    _ => return Err(StreamedError::Unsupported),
                }
            }
            match timeseries.last_mut() {
                Some(last) if last.labels == series.labels => {
                    last.samples.extend(samples);
                    last.histograms.extend(histograms);
                }
                _ => timeseries.push(prompb::TimeSeries {
                    labels: series.labels,
                    samples,
                    histograms,
                    ..Default::default()
                }),
            }
        }
    }
    timeseries.retain(|ts| !ts.samples.is_empty() || !ts.histograms.is_empty());
    for ts in &mut timeseries {
        // Chunks come in start time order but may overlap.
        if !ts.samples.is_sorted_by_key(|s| s.timestamp) {
            ts.samples.sort_by_key(|s| s.timestamp);
        }
        ts.samples.dedup_by_key(|s| s.timestamp);
        if !ts.histograms.is_sorted_by_key(|h| h.timestamp) {
            ts.histograms.sort_by_key(|h| h.timestamp);
        }
        ts.histograms.dedup_by_key(|h| h.timestamp);
    }
    Ok(QueryResult { timeseries })
}

impl Queryable for RemoteRead {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>> {
        Ok(Box::new(RemoteQuerier {
            client: self.clone(),
            mint,
            maxt,
        }))
    }
}

struct RemoteQuerier {
    client: RemoteRead,
    mint: Timestamp,
    maxt: Timestamp,
}

impl RemoteQuerier {
    fn select_inner(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Box<dyn SeriesSet>> {
        let opts = &self.client.shared.opts;
        // Prometheus's requiredMatchersFilter: only queries naming these equalities go out.
        let has_required = opts.required_matchers.iter().all(|(name, value)| {
            matchers
                .iter()
                .any(|m| m.match_type == MatchType::Equal && &m.name == name && &m.value == value)
        });
        if !has_required {
            return Ok(Box::new(EmptySeriesSet));
        }
        // Prometheus's addExternalLabels: match on the external labels the query does not
        // constrain itself, and strip them from what comes back.
        let mut all = matchers.to_vec();
        let mut added = Vec::new();
        if opts.filter_external_labels {
            for (name, value) in opts.external_labels.iter() {
                if !matchers.iter().any(|m| m.name == name) {
                    all.push(Matcher::new(MatchType::Equal, name, value).map_err(Error::backend)?);
                    added.push(name.to_owned());
                }
            }
        }
        let query = Query {
            start_timestamp_ms: self.mint,
            end_timestamp_ms: self.maxt,
            matchers: matchers_to_proto(&all),
            hints: hints.map(|h| ReadHints {
                step_ms: h.step,
                func: h.func.clone().unwrap_or_default(),
                start_ms: h.start,
                end_ms: h.end,
                grouping: h.grouping.clone(),
                by: h.by,
                range_ms: h.range,
            }),
        };
        let result = self.client.read(query)?;
        let mut series: Vec<Box<dyn Series>> = Vec::with_capacity(result.timeseries.len());
        for ts in result.timeseries {
            let mut labels = labels_from_proto(&ts.labels)?;
            if !added.is_empty() {
                let mut b = LabelsBuilder::new(&labels);
                for name in &added {
                    b.del(name);
                }
                labels = b.labels();
            }
            let samples: Vec<(Timestamp, f64)> =
                ts.samples.iter().map(|s| (s.timestamp, s.value)).collect();
            if ts.histograms.is_empty() {
                series.push(Box::new(ListSeries::new(labels, samples)));
            } else {
                let histograms = ts
                    .histograms
                    .iter()
                    .map(|h| (h.timestamp, histogram_from_proto(h)))
                    .collect::<Vec<_>>();
                series.push(Box::new(MixedSeries {
                    labels,
                    floats: samples.into(),
                    histograms: histograms.into(),
                }));
            }
        }
        if sorted {
            series.sort_by(|a, b| a.labels().cmp(b.labels()));
        }
        Ok(Box::new(ListSeriesSet::new(series)))
    }
}

/// A remote-read series with float samples and native histograms (Go's `concreteSeries`).
struct MixedSeries {
    labels: Labels,
    floats: Arc<[(Timestamp, f64)]>,
    histograms: Arc<[(Timestamp, HistogramSample)]>,
}

impl Series for MixedSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iterator(&self) -> Box<dyn SampleIterator> {
        Box::new(MixedIterator {
            floats: self.floats.clone(),
            histograms: self.histograms.clone(),
            next_float: 0,
            next_hist: 0,
            cur: None,
        })
    }
}

/// Merges a series' floats and histograms by timestamp; on equal timestamps the float wins
/// and the histogram is skipped (Go's `concreteSeriesIterator`).
struct MixedIterator {
    floats: Arc<[(Timestamp, f64)]>,
    histograms: Arc<[(Timestamp, HistogramSample)]>,
    /// Index of the next float and histogram not yet visited.
    next_float: usize,
    next_hist: usize,
    /// The current sample: `Ok(float index)` or `Err(histogram index)`.
    cur: Option<std::result::Result<usize, usize>>,
}

impl MixedIterator {
    fn value_type(&self) -> ValueType {
        match self.cur {
            None => ValueType::None,
            Some(Ok(_)) => ValueType::Float,
            Some(Err(i)) => match self.histograms[i].1 {
                HistogramSample::Int(_) => ValueType::Histogram,
                HistogramSample::Float(_) => ValueType::FloatHistogram,
            },
        }
    }
}

impl SampleIterator for MixedIterator {
    fn next(&mut self) -> ValueType {
        let ft = self.floats.get(self.next_float).map(|s| s.0);
        let ht = self.histograms.get(self.next_hist).map(|s| s.0);
        self.cur = match (ft, ht) {
            (None, None) => None,
            (Some(f), Some(h)) if h < f => {
                self.next_hist += 1;
                Some(Err(self.next_hist - 1))
            }
            (Some(f), h) => {
                if h == Some(f) {
                    self.next_hist += 1;
                }
                self.next_float += 1;
                Some(Ok(self.next_float - 1))
            }
            (None, Some(_)) => {
                self.next_hist += 1;
                Some(Err(self.next_hist - 1))
            }
        };
        self.value_type()
    }

    fn seek(&mut self, t: Timestamp) -> ValueType {
        if self.cur.is_some() && self.at_t() >= t {
            return self.value_type();
        }
        self.next_float += self.floats[self.next_float..].partition_point(|s| s.0 < t);
        self.next_hist += self.histograms[self.next_hist..].partition_point(|s| s.0 < t);
        self.next()
    }

    fn at(&self) -> (Timestamp, f64) {
        match self.cur {
            Some(Ok(i)) => self.floats[i],
            _ => (self.at_t(), f64::NAN),
        }
    }

    fn at_t(&self) -> Timestamp {
        match self.cur {
            Some(Ok(i)) => self.floats[i].0,
            Some(Err(i)) => self.histograms[i].0,
            None => Timestamp::MIN,
        }
    }

    fn at_histogram(&self) -> (Timestamp, model::Histogram) {
        match self.cur {
            Some(Err(i)) => match &self.histograms[i] {
                (t, HistogramSample::Int(h)) => (*t, h.clone()),
                (t, HistogramSample::Float(_)) => (*t, model::Histogram::default()),
            },
            _ => (self.at_t(), model::Histogram::default()),
        }
    }

    fn at_float_histogram(&self) -> (Timestamp, model::FloatHistogram) {
        match self.cur {
            Some(Err(i)) => (self.histograms[i].0, self.histograms[i].1.to_float()),
            _ => (self.at_t(), model::FloatHistogram::default()),
        }
    }

    fn err(&self) -> Option<&Error> {
        None
    }
}

impl Querier for RemoteQuerier {
    fn select(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet> {
        self.select_inner(sorted, hints, matchers)
            .unwrap_or_else(|e| Box::new(ErrSeriesSet::new(e)))
    }

    fn label_values(
        &self,
        _name: &str,
        _hints: Option<&LabelHints>,
        _matchers: &[Matcher],
    ) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    fn label_names(
        &self,
        _hints: Option<&LabelHints>,
        _matchers: &[Matcher],
    ) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// Limits of the `/api/v1/read` handler (Prometheus's `--storage.remote.read-*` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// `--storage.remote.read-sample-limit`: most samples (floats and histograms) one query
    /// of a SAMPLES answer may return; more is a 400 `exceeded sample limit (N)`. 0: no
    /// limit. Streamed answers are not limited by it, as in Prometheus.
    pub sample_limit: usize,
    /// `--storage.remote.read-max-bytes-in-frame`: the chunk bytes one frame of a streamed
    /// answer holds before the series goes on in the next frame (at least one chunk a frame).
    pub max_bytes_in_frame: usize,
    /// `--storage.remote.read-concurrent-limit`: most requests answered at once; more wait
    /// (0: no limit). Kept by the HTTP handler, not by [`serve_read_with`].
    pub concurrent_limit: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            sample_limit: 50_000_000,
            max_bytes_in_frame: 1_048_576,
            concurrent_limit: 10,
        }
    }
}

/// A remote-read answer in the response type the request negotiated.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadAnswer {
    /// A SAMPLES answer.
    Samples(ReadResponse),
    /// A STREAMED_XOR_CHUNKS answer: the frames of [`prompb::ChunkedReadResponse`]s.
    Streamed(Vec<u8>),
}

impl ReadAnswer {
    /// The `Content-Type` header of the answer.
    pub fn content_type(&self) -> &'static str {
        match self {
            ReadAnswer::Samples(_) => "application/x-protobuf",
            ReadAnswer::Streamed(_) => STREAMED_CONTENT_TYPE,
        }
    }

    /// The `Content-Encoding` header of the answer (`snappy` for SAMPLES).
    pub fn content_encoding(&self) -> Option<&'static str> {
        match self {
            ReadAnswer::Samples(_) => Some("snappy"),
            ReadAnswer::Streamed(_) => None,
        }
    }

    /// The response body: the snappy-compressed [`ReadResponse`], or the frames.
    pub fn into_body(self) -> Vec<u8> {
        match self {
            ReadAnswer::Samples(resp) => super::codec::encode_read_response(&resp),
            ReadAnswer::Streamed(frames) => frames,
        }
    }
}

/// Go's `NegotiateResponseType`: the first accepted response type this server supports (an
/// empty list means SAMPLES); none supported is an [`Error::InvalidRemoteRequest`].
pub fn negotiate_response_type(accepted: &[i32]) -> Result<read_request::ResponseType> {
    if accepted.is_empty() {
        return Ok(read_request::ResponseType::Samples);
    }
    accepted
        .iter()
        .find_map(|&t| read_request::ResponseType::try_from(t).ok())
        .ok_or_else(|| Error::InvalidRemoteRequest {
            what: "read request",
            reason: format!(
                "server does not support any of the requested response types: {accepted:?}; supported: map[SAMPLES:{{}} STREAMED_XOR_CHUNKS:{{}}]"
            ),
        })
}

/// Answers a decoded remote-read request from `db` in the response type it negotiates
/// ([`negotiate_response_type`]) under `limits`: what `/api/v1/read` sends.
///
/// A streamed answer re-encodes each series' values in `[start, end]` as the TSDB's chunks
/// (XOR chunks of up to 120 floats; native histograms as histogram and float histogram
/// chunks, encodings 2 and 3, as Prometheus streams them), one series per frame, split over
/// several frames when its chunks pass `limits.max_bytes_in_frame`.
pub fn serve_read_with(
    req: &ReadRequest,
    db: &dyn Queryable,
    external_labels: &Labels,
    limits: &ReadLimits,
) -> Result<ReadAnswer> {
    match negotiate_response_type(&req.accepted_response_types)? {
        read_request::ResponseType::Samples => Ok(ReadAnswer::Samples(read_samples(
            req,
            db,
            external_labels,
            limits.sample_limit,
        )?)),
        read_request::ResponseType::StreamedXorChunks => Ok(ReadAnswer::Streamed(read_streamed(
            req,
            db,
            external_labels,
            limits.max_bytes_in_frame,
        )?)),
    }
}

/// Answers a decoded remote-read request from `db` as SAMPLES (without a sample limit): one
/// result per query, series in the order `db` lists them unsorted (Go's handler selects
/// without sorting: the TSDB head alone lists them in creation order) with the samples and native histograms
/// (`TimeSeries.histograms`, Go's `ToQueryResult`) in `[start, end]`, and the
/// `external_labels` added to every series that lacks them (a matcher on an external label is
/// checked against it and then dropped, as Prometheus does).
///
/// A request that accepts only streamed chunks is an [`Error::InvalidRemoteRequest`]; use
/// [`serve_read_with`] to answer it.
pub fn serve_read(
    req: &ReadRequest,
    db: &dyn Queryable,
    external_labels: &Labels,
) -> Result<ReadResponse> {
    let samples = read_request::ResponseType::Samples as i32;
    if !req.accepted_response_types.is_empty() && !req.accepted_response_types.contains(&samples) {
        return Err(Error::InvalidRemoteRequest {
            what: "read request",
            reason: "only the SAMPLES response type is answered here".into(),
        });
    }
    read_samples(req, db, external_labels, 0)
}

/// One value of a selected series, in time order.
enum Point {
    Float(Timestamp, f64),
    Histogram(Timestamp, model::Histogram),
    FloatHistogram(Timestamp, model::FloatHistogram),
}

/// One selected series: labels with the external labels, and its values in range.
type ReadSeries = (Labels, Vec<Point>);

/// Runs one query, calling `each` with every series that has samples in range, in label
/// order when `sorted`.
fn select_query(
    q: &Query,
    db: &dyn Queryable,
    external_labels: &Labels,
    sorted: bool,
    each: &mut dyn FnMut(ReadSeries) -> Result<bool>,
) -> Result<()> {
    let mut matchers = matchers_from_proto(&q.matchers)?;
    // A matcher on an external label is answered here, not by the storage.
    let mut external_ok = true;
    matchers.retain(|m| match external_labels.get(&m.name) {
        Some(v) => {
            external_ok &= m.matches(v);
            false
        }
        None => true,
    });
    // No matcher left selects nothing (Go's postings intersection of no lists is empty).
    if !external_ok || matchers.is_empty() {
        return Ok(());
    }
    let hints = q.hints.as_ref().map(|h| SelectHints {
        start: h.start_ms,
        end: h.end_ms,
        step: h.step_ms,
        range: h.range_ms,
        func: (!h.func.is_empty()).then(|| h.func.clone()),
        grouping: h.grouping.clone(),
        by: h.by,
        limit: 0,
    });
    let querier = db.querier(q.start_timestamp_ms, q.end_timestamp_ms)?;
    let mut set = querier.select(sorted, hints.as_ref(), &matchers);
    while let Some(series) = set.next() {
        let series = series?;
        let labels = if external_labels.is_empty() {
            series.labels().clone()
        } else {
            let mut b = LabelsBuilder::new(series.labels());
            for (name, value) in external_labels.iter() {
                if !series.labels().has(name) {
                    b.set(name, value);
                }
            }
            b.labels()
        };
        let mut it = series.iterator();
        let mut points = Vec::new();
        let mut vt = it.seek(q.start_timestamp_ms);
        while vt != ValueType::None && it.at_t() <= q.end_timestamp_ms {
            points.push(match vt {
                ValueType::Histogram => {
                    let (t, h) = it.at_histogram();
                    Point::Histogram(t, h)
                }
                ValueType::FloatHistogram => {
                    let (t, fh) = it.at_float_histogram();
                    Point::FloatHistogram(t, fh)
                }
                _ => {
                    let (t, v) = it.at();
                    Point::Float(t, v)
                }
            });
            vt = it.next();
        }
        if let Some(err) = it.err() {
            return Err(Error::backend(std::io::Error::other(err.to_string())));
        }
        if points.is_empty() {
            continue;
        }
        if !each((labels, points))? {
            return Ok(());
        }
    }
    Ok(())
}

fn read_samples(
    req: &ReadRequest,
    db: &dyn Queryable,
    external_labels: &Labels,
    sample_limit: usize,
) -> Result<ReadResponse> {
    let mut results = Vec::with_capacity(req.queries.len());
    for q in &req.queries {
        let mut timeseries = Vec::new();
        let mut num_samples = 0usize;
        select_query(q, db, external_labels, false, &mut |(labels, points)| {
            num_samples += points.len();
            if sample_limit > 0 && num_samples > sample_limit {
                return Err(Error::InvalidRemoteRequest {
                    what: "read request",
                    reason: format!("exceeded sample limit ({sample_limit})"),
                });
            }
            let (mut samples, mut histograms) = (Vec::new(), Vec::new());
            for p in points {
                match p {
                    Point::Float(timestamp, value) => {
                        samples.push(prompb::Sample { value, timestamp });
                    }
                    Point::Histogram(t, h) => histograms.push(histogram_to_proto(t, &h)),
                    Point::FloatHistogram(t, fh) => {
                        histograms.push(float_histogram_to_proto(t, &fh));
                    }
                }
            }
            timeseries.push(prompb::TimeSeries {
                labels: labels_to_proto(&labels),
                samples,
                histograms,
                ..Default::default()
            });
            Ok(true)
        })?;
        results.push(QueryResult { timeseries });
    }
    Ok(ReadResponse { results })
}

/// The frames of a streamed answer (Go's `StreamChunkedReadResponses`): each series' values
/// re-encoded as the chunks the TSDB holds them in (XOR for floats, encodings 2 and 3 for
/// integer and float native histograms), one series per frame, split over several frames
/// when its chunks pass `max_bytes_in_frame`.
fn read_streamed(
    req: &ReadRequest,
    db: &dyn Queryable,
    external_labels: &Labels,
    max_bytes_in_frame: usize,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (index, q) in req.queries.iter().enumerate() {
        // Streamed chunks come sorted, as Go's chunk querier is asked for them.
        select_query(q, db, external_labels, true, &mut |(labels, points)| {
            let labels = labels_to_proto(&labels);
            let max_data = max_bytes_in_frame as i64
                - labels.iter().map(|l| l.encoded_len() as i64).sum::<i64>();
            let mut left = max_data;
            let mut chunks = Vec::new();
            let all = encode_chunks(&points)?;
            let n = all.len();
            for (i, chunk) in all.into_iter().enumerate() {
                left -= chunk.encoded_len() as i64;
                chunks.push(chunk);
                if left > 0 && i + 1 < n {
                    continue;
                }
                let resp = prompb::ChunkedReadResponse {
                    chunked_series: vec![prompb::ChunkedSeries {
                        labels: labels.clone(),
                        chunks: std::mem::take(&mut chunks),
                    }],
                    query_index: index as i64,
                };
                write_frame(&mut out, &resp.encode_to_vec());
                left = max_data;
            }
            Ok(true)
        })?;
    }
    Ok(out)
}

/// Most bytes of a histogram chunk before the next one is cut (Go's head: 1 KiB, once the
/// chunk holds at least [`MIN_SAMPLES_PER_HISTOGRAM_CHUNK`] histograms).
const TARGET_HISTOGRAM_CHUNK_BYTES: usize = 1024;
/// Fewest histograms a chunk holds before its size may cut it.
const MIN_SAMPLES_PER_HISTOGRAM_CHUNK: usize = 10;

/// A chunk being filled, with its first and last timestamps.
enum OpenChunk {
    Xor(chunkenc::XorChunk),
    Histogram(chunkenc::HistogramChunk),
    FloatHistogram(chunkenc::FloatHistogramChunk),
}

impl OpenChunk {
    fn finish(self, min: Timestamp, max: Timestamp) -> prompb::Chunk {
        use prompb::chunk::Encoding;
        let (r#type, data) = match self {
            OpenChunk::Xor(c) => (Encoding::Xor, c.into_bytes()),
            OpenChunk::Histogram(c) => (Encoding::Histogram, c.bytes().to_vec()),
            OpenChunk::FloatHistogram(c) => (Encoding::FloatHistogram, c.bytes().to_vec()),
        };
        prompb::Chunk {
            min_time_ms: min,
            max_time_ms: max,
            r#type: r#type as i32,
            data,
        }
    }

    fn full(&self) -> bool {
        match self {
            OpenChunk::Xor(c) => c.num_samples() >= SAMPLES_PER_CHUNK,
            OpenChunk::Histogram(c) => hist_full(c.num_samples(), c.bytes().len()),
            OpenChunk::FloatHistogram(c) => hist_full(c.num_samples(), c.bytes().len()),
        }
    }
}

fn hist_full(samples: usize, bytes: usize) -> bool {
    samples >= SAMPLES_PER_CHUNK
        || (samples >= MIN_SAMPLES_PER_HISTOGRAM_CHUNK && bytes >= TARGET_HISTOGRAM_CHUNK_BYTES)
}

/// Encodes a series' values as chunks the way the TSDB's head cuts them: a new chunk when
/// the value kind changes, when a chunk is full, and where the histogram appender starts
/// one (counter reset, schema or zero-threshold change).
fn encode_chunks(points: &[Point]) -> Result<Vec<prompb::Chunk>> {
    let err = |e: chunkenc::Error| Error::backend(std::io::Error::other(e.to_string()));
    let mut out = Vec::new();
    let mut open: Option<(OpenChunk, Timestamp, Timestamp)> = None;
    for p in points {
        let t = match p {
            Point::Float(t, _) | Point::Histogram(t, _) | Point::FloatHistogram(t, _) => *t,
        };
        let same_kind = matches!(
            (&open, p),
            (Some((OpenChunk::Xor(_), ..)), Point::Float(..))
                | (Some((OpenChunk::Histogram(_), ..)), Point::Histogram(..))
                | (
                    Some((OpenChunk::FloatHistogram(_), ..)),
                    Point::FloatHistogram(..)
                )
        );
        if !same_kind || open.as_ref().is_some_and(|(c, ..)| c.full()) {
            if let Some((c, min, max)) = open.take() {
                out.push(c.finish(min, max));
            }
            open = Some((
                match p {
                    Point::Float(..) => OpenChunk::Xor(chunkenc::XorChunk::new()),
                    Point::Histogram(..) => OpenChunk::Histogram(chunkenc::HistogramChunk::new()),
                    Point::FloatHistogram(..) => {
                        OpenChunk::FloatHistogram(chunkenc::FloatHistogramChunk::new())
                    }
                },
                t,
                t,
            ));
        }
        let Some((chunk, ..)) = open.as_mut() else {
            continue;
        };
        // A histogram the open chunk cannot take starts the chunk the appender returns.
        let cut: Option<OpenChunk> = match (chunk, p) {
            (OpenChunk::Xor(c), Point::Float(t, v)) => {
                c.append(*t, *v).map_err(err)?;
                None
            }
            (OpenChunk::Histogram(c), Point::Histogram(t, h)) => {
                match c.append(None, *t, h).map_err(err)? {
                    chunkenc::HistogramAppend::NewChunk(next) => Some(OpenChunk::Histogram(next)),
                    _ => None,
                }
            }
            (OpenChunk::FloatHistogram(c), Point::FloatHistogram(t, h)) => {
                match c.append(None, *t, h).map_err(err)? {
                    chunkenc::HistogramAppend::NewChunk(next) => {
                        Some(OpenChunk::FloatHistogram(next))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        match (cut, open.take()) {
            (Some(next), Some((prev, min, max))) => {
                out.push(prev.finish(min, max));
                open = Some((next, t, t));
            }
            (_, Some((chunk, min, _))) => open = Some((chunk, min, t)),
            (_, None) => {}
        }
    }
    if let Some((c, min, max)) = open {
        out.push(c.finish(min, max));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Appendable, MemStorage};

    fn test_histogram(i: u64) -> model::Histogram {
        model::Histogram {
            count: 4 + i,
            sum: i as f64,
            zero_count: i,
            positive_spans: vec![model::Span {
                offset: 0,
                length: 1,
            }],
            positive_buckets: vec![4],
            ..model::Histogram::default()
        }
    }

    fn mixed(floats: &[(i64, f64)], hists: &[(i64, model::Histogram)]) -> MixedSeries {
        MixedSeries {
            labels: Labels::from_pairs([("foo", "bar")]),
            floats: floats.to_vec().into(),
            histograms: hists
                .iter()
                .map(|(t, h)| (*t, HistogramSample::Int(h.clone())))
                .collect::<Vec<_>>()
                .into(),
        }
    }

    /// Go's TestConcreteSeriesIterator_HistogramSamples: timestamps 1, 1, 2, 3, 4.
    #[test]
    fn mixed_iterator_seeks_histograms_like_go() {
        let hs: Vec<_> = (0..5u64)
            .map(|i| ((i as i64).max(1), test_histogram(i)))
            .collect();
        let s = mixed(&[], &hs);
        let mut it = s.iterator();
        assert_eq!(it.seek(1), ValueType::Histogram);
        assert_eq!(it.at_histogram(), (1, test_histogram(0)));
        assert_eq!(it.next(), ValueType::Histogram);
        assert_eq!(it.at_histogram(), (1, test_histogram(1)));
        assert_eq!(it.seek(1), ValueType::Histogram);
        assert_eq!(it.at_histogram(), (1, test_histogram(1)));
        assert_eq!(it.seek(3), ValueType::Histogram);
        assert_eq!(it.at_histogram(), (3, test_histogram(3)));
        assert_eq!(it.seek(2), ValueType::Histogram);
        assert_eq!(it.at_histogram(), (3, test_histogram(3)));
        assert_eq!(it.seek(5), ValueType::None);
        assert_eq!(it.seek(2), ValueType::None);
    }

    /// Go's TestConcreteSeriesIterator_FloatAndHistogramSamples: histograms at 1..=10 and
    /// 16..=20, floats at 8..=15; on shared timestamps the float wins.
    #[test]
    fn mixed_iterator_prefers_floats_on_shared_timestamps_like_go() {
        let hs: Vec<_> = (0..15u64)
            .map(|i| {
                let t = if i < 10 { i as i64 + 1 } else { i as i64 + 6 };
                (t, test_histogram(i))
            })
            .collect();
        let floats: Vec<_> = (8..=15).map(|t| (t, (t - 7) as f64)).collect();
        let s = mixed(&floats, &hs);
        let mut it = s.iterator();
        assert_eq!(it.next(), ValueType::Histogram);
        assert_eq!(it.at_histogram(), (1, test_histogram(0)));
        assert_eq!(it.next(), ValueType::Histogram);
        assert_eq!(it.at_histogram(), (2, test_histogram(1)));
        assert_eq!(it.seek(8), ValueType::Float);
        assert_eq!(it.at(), (8, 1.0));
        assert_eq!(it.seek(1), ValueType::Float);
        assert_eq!(it.at(), (8, 1.0));
        assert_eq!(it.seek(8), ValueType::Float);
        assert_eq!(it.at(), (8, 1.0));
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.at(), (9, 2.0));
        assert_eq!(it.seek(11), ValueType::Float);
        assert_eq!(it.at(), (11, 4.0));
        assert_eq!(it.seek(15), ValueType::Float);
        assert_eq!(it.at(), (15, 8.0));
        assert_eq!(it.next(), ValueType::Histogram);
        assert_eq!(it.at_histogram(), (16, test_histogram(10)));
        assert_eq!(it.next(), ValueType::Histogram);
        assert_eq!(it.at_float_histogram(), (17, test_histogram(11).to_float()));
        for _ in 0..3 {
            assert_eq!(it.next(), ValueType::Histogram);
        }
        assert_eq!(it.next(), ValueType::None);
        assert_eq!(it.next(), ValueType::None);
        assert_eq!(it.seek(1), ValueType::None);
    }

    #[test]
    fn serve_read_selects_range_and_adds_external_labels() {
        let db = MemStorage::new();
        let mut app = db.appender();
        let a = Labels::from_pairs([("__name__", "m"), ("i", "a")]);
        let b = Labels::from_pairs([("__name__", "m"), ("i", "b")]);
        for t in 0..10 {
            app.append(0, &a, t * 10, t as f64).unwrap();
            app.append(0, &b, t * 10, -(t as f64)).unwrap();
        }
        app.commit().unwrap();
        let ext = Labels::from_pairs([("cluster", "eu")]);
        let req = ReadRequest {
            queries: vec![Query {
                start_timestamp_ms: 20,
                end_timestamp_ms: 40,
                matchers: matchers_to_proto(&[
                    Matcher::new(MatchType::Equal, "i", "a").unwrap(),
                    Matcher::new(MatchType::Equal, "cluster", "eu").unwrap(),
                ]),
                hints: None,
            }],
            accepted_response_types: vec![],
        };
        let resp = serve_read(&req, &db, &ext).unwrap();
        assert_eq!(resp.results.len(), 1);
        let ts = &resp.results[0].timeseries;
        assert_eq!(ts.len(), 1);
        assert_eq!(
            labels_from_proto(&ts[0].labels).unwrap().to_string(),
            r#"{__name__="m", cluster="eu", i="a"}"#
        );
        let got: Vec<_> = ts[0]
            .samples
            .iter()
            .map(|s| (s.timestamp, s.value))
            .collect();
        assert_eq!(got, vec![(20, 2.0), (30, 3.0), (40, 4.0)]);

        // A matcher the external labels contradict selects nothing.
        let mut other = req.clone();
        other.queries[0].matchers =
            matchers_to_proto(&[Matcher::new(MatchType::Equal, "cluster", "us").unwrap()]);
        assert!(
            serve_read(&other, &db, &ext).unwrap().results[0]
                .timeseries
                .is_empty()
        );

        // Streamed chunks only: refused.
        let mut streamed = req;
        streamed.accepted_response_types =
            vec![read_request::ResponseType::StreamedXorChunks as i32];
        assert!(matches!(
            serve_read(&streamed, &db, &ext),
            Err(Error::InvalidRemoteRequest { .. })
        ));
    }

    fn streamed_db(series: i64, per_series: i64) -> MemStorage {
        let db = MemStorage::new();
        let mut app = db.appender();
        for i in 0..series {
            let l = Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())]);
            for t in 0..per_series {
                app.append(0, &l, t * 15_000, (i * 1000 + t) as f64 / 3.0)
                    .unwrap();
            }
        }
        app.commit().unwrap();
        db
    }

    fn streamed_request(
        start: i64,
        end: i64,
        accepted: &[read_request::ResponseType],
    ) -> ReadRequest {
        ReadRequest {
            queries: vec![Query {
                start_timestamp_ms: start,
                end_timestamp_ms: end,
                matchers: matchers_to_proto(&[
                    Matcher::new(MatchType::Equal, "__name__", "m").unwrap()
                ]),
                hints: None,
            }],
            accepted_response_types: accepted.iter().map(|&t| t as i32).collect(),
        }
    }

    fn all_frames(body: &[u8]) -> Vec<prompb::ChunkedReadResponse> {
        let mut r = ChunkedReader::new(body, DEFAULT_CHUNKED_READ_LIMIT);
        let mut out = Vec::new();
        while let Some(f) = r.next_proto().unwrap() {
            out.push(f);
        }
        out
    }

    /// A query without matchers (or with only external-label ones) selects nothing, as in
    /// Prometheus, whose postings intersection of no lists is empty.
    #[test]
    fn queries_without_storage_matchers_select_nothing() {
        let db = streamed_db(2, 3);
        let ext = Labels::from_pairs([("cluster", "eu")]);
        let mut req = streamed_request(0, i64::MAX, &[]);
        req.queries[0].matchers.clear();
        let resp = serve_read(&req, &db, &ext).unwrap();
        assert!(resp.results[0].timeseries.is_empty());
        req.queries[0].matchers =
            matchers_to_proto(&[Matcher::new(MatchType::Equal, "cluster", "eu").unwrap()]);
        let resp = serve_read(&req, &db, &ext).unwrap();
        assert!(resp.results[0].timeseries.is_empty());
    }

    #[test]
    fn negotiation_takes_the_first_supported_type() {
        use read_request::ResponseType::{Samples, StreamedXorChunks};
        assert_eq!(negotiate_response_type(&[]).unwrap(), Samples);
        assert_eq!(negotiate_response_type(&[1, 0]).unwrap(), StreamedXorChunks);
        assert_eq!(negotiate_response_type(&[7, 0, 1]).unwrap(), Samples);
        let err = negotiate_response_type(&[7]).unwrap_err();
        assert!(err.to_string().contains("does not support any"), "{err}");
    }

    /// The streamed answer holds the same samples as the SAMPLES one, in sorted series, with
    /// the external labels, each series' chunks of at most 120 samples.
    #[test]
    fn streamed_answer_matches_samples_answer() {
        use read_request::ResponseType::{Samples, StreamedXorChunks};
        let db = streamed_db(3, 300);
        let ext = Labels::from_pairs([("cluster", "eu")]);
        let req = streamed_request(30_000, 4_000_000, &[StreamedXorChunks, Samples]);
        let limits = ReadLimits::default();
        let ReadAnswer::Streamed(body) = serve_read_with(&req, &db, &ext, &limits).unwrap() else {
            panic!("expected a streamed answer");
        };
        let frames = all_frames(&body);
        assert_eq!(
            frames.len(),
            3,
            "one frame per series under the default frame size"
        );
        for f in &frames {
            assert_eq!(f.chunked_series.len(), 1);
            assert_eq!(f.query_index, 0);
            for c in &f.chunked_series[0].chunks {
                assert_eq!(c.r#type, prompb::chunk::Encoding::Xor as i32);
                let got = xorchunk::decode(&c.data).unwrap();
                assert!(got.len() <= SAMPLES_PER_CHUNK);
                assert_eq!(
                    (got[0].0, got[got.len() - 1].0),
                    (c.min_time_ms, c.max_time_ms)
                );
            }
        }
        let decoded = decode_streamed(&body, &req.queries[0]).ok().unwrap();
        let samples = serve_read(&streamed_request(30_000, 4_000_000, &[]), &db, &ext).unwrap();
        assert_eq!(decoded, samples.results[0]);
        assert_eq!(decoded.timeseries[0].samples.len(), 265);
        assert_eq!(
            labels_from_proto(&decoded.timeseries[2].labels)
                .unwrap()
                .to_string(),
            r#"{__name__="m", cluster="eu", i="2"}"#
        );
    }

    /// Go's frame cut: a series goes on in the next frame once its chunks fill the frame,
    /// and the client joins the frames of one series again.
    #[test]
    fn streamed_series_split_over_frames_by_size() {
        use read_request::ResponseType::StreamedXorChunks;
        let db = streamed_db(2, 1000);
        let req = streamed_request(0, i64::MAX, &[StreamedXorChunks]);
        let limits = ReadLimits {
            max_bytes_in_frame: 200,
            ..ReadLimits::default()
        };
        let ReadAnswer::Streamed(body) =
            serve_read_with(&req, &db, &Labels::empty(), &limits).unwrap()
        else {
            panic!("expected a streamed answer");
        };
        let frames = all_frames(&body);
        // 1000 samples are 9 chunks a series, each chunk bigger than the frame budget.
        assert_eq!(frames.len(), 18);
        assert!(frames.iter().all(|f| f.chunked_series[0].chunks.len() == 1));
        let decoded = decode_streamed(&body, &req.queries[0]).ok().unwrap();
        assert_eq!(decoded.timeseries.len(), 2);
        assert!(decoded.timeseries.iter().all(|ts| ts.samples.len() == 1000));
        // A big budget holds each whole series in one frame.
        let limits = ReadLimits {
            max_bytes_in_frame: 100_000,
            ..ReadLimits::default()
        };
        let ReadAnswer::Streamed(body) =
            serve_read_with(&req, &db, &Labels::empty(), &limits).unwrap()
        else {
            panic!("expected a streamed answer");
        };
        assert_eq!(all_frames(&body).len(), 2);
    }

    #[test]
    fn sample_limit_fails_a_samples_answer_only() {
        use read_request::ResponseType::{Samples, StreamedXorChunks};
        let db = streamed_db(2, 10);
        let limits = ReadLimits {
            sample_limit: 15,
            ..ReadLimits::default()
        };
        let req = streamed_request(0, i64::MAX, &[Samples]);
        let err = serve_read_with(&req, &db, &Labels::empty(), &limits).unwrap_err();
        assert!(matches!(err, Error::InvalidRemoteRequest { .. }));
        assert!(
            err.to_string().contains("exceeded sample limit (15)"),
            "{err}"
        );
        let ok = ReadLimits {
            sample_limit: 20,
            ..ReadLimits::default()
        };
        assert!(serve_read_with(&req, &db, &Labels::empty(), &ok).is_ok());
        let req = streamed_request(0, i64::MAX, &[StreamedXorChunks]);
        assert!(matches!(
            serve_read_with(&req, &db, &Labels::empty(), &limits).unwrap(),
            ReadAnswer::Streamed(_)
        ));
    }

    /// Native histograms stream as histogram chunks (encodings 2 and 3), as Prometheus
    /// streams its stored chunks: a series switching from floats to histograms gets an XOR
    /// chunk and then a histogram chunk, a counter reset cuts a chunk, a gauge float
    /// histogram goes to a gauge float histogram chunk.
    #[test]
    fn histograms_stream_as_histogram_chunks() {
        use prompb::chunk::Encoding;
        use read_request::ResponseType::StreamedXorChunks;
        let db = MemStorage::new();
        let mut app = db.appender();
        let l = Labels::from_pairs([("__name__", "m"), ("i", "a")]);
        app.append(0, &l, 500, 1.5).unwrap();
        for (t, i) in [(1000, 1), (2000, 2), (3000, 0)] {
            app.append_histogram(0, &l, t, Some(&test_histogram(i)), None)
                .unwrap();
        }
        let g = Labels::from_pairs([("__name__", "m"), ("i", "g")]);
        let gauge = model::FloatHistogram {
            counter_reset_hint: model::CounterResetHint::Gauge,
            ..test_histogram(3).to_float()
        };
        app.append_histogram(0, &g, 1000, None, Some(&gauge))
            .unwrap();
        app.commit().unwrap();
        let req = streamed_request(0, i64::MAX, &[StreamedXorChunks]);
        let ReadAnswer::Streamed(body) =
            serve_read_with(&req, &db, &Labels::empty(), &ReadLimits::default()).unwrap()
        else {
            panic!("expected a streamed answer");
        };
        let frames = all_frames(&body);
        assert_eq!(frames.len(), 2);
        let chunks = &frames[0].chunked_series[0].chunks;
        let kinds: Vec<(i32, i64, i64)> = chunks
            .iter()
            .map(|c| (c.r#type, c.min_time_ms, c.max_time_ms))
            .collect();
        assert_eq!(
            kinds,
            [
                (Encoding::Xor as i32, 500, 500),
                (Encoding::Histogram as i32, 1000, 2000),
                (Encoding::Histogram as i32, 3000, 3000),
            ]
        );
        let h = chunkenc::HistogramChunk::from_bytes(chunks[1].data.clone()).unwrap();
        assert_eq!(h.num_samples(), 2);
        let mut it = h.iter();
        assert!(it.next());
        assert_eq!(it.at_histogram().1.count, test_histogram(1).count);
        let reset = chunkenc::HistogramChunk::from_bytes(chunks[2].data.clone()).unwrap();
        assert_eq!(
            reset.counter_reset_header(),
            chunkenc::CounterResetHeader::CounterReset
        );
        // The client reads them back as the SAMPLES answer holds them.
        let q = req.queries[0].clone();
        let Ok(decoded) = decode_streamed(&body, &q) else {
            panic!("histogram chunks decode");
        };
        let samples =
            serve_read(&streamed_request(0, i64::MAX, &[]), &db, &Labels::empty()).unwrap();
        assert_eq!(decoded.timeseries, samples.results[0].timeseries);
        let gauge_chunks = &frames[1].chunked_series[0].chunks;
        assert_eq!(gauge_chunks.len(), 1);
        assert_eq!(gauge_chunks[0].r#type, Encoding::FloatHistogram as i32);
        let fh = chunkenc::FloatHistogramChunk::from_bytes(gauge_chunks[0].data.clone()).unwrap();
        assert_eq!(
            fh.counter_reset_header(),
            chunkenc::CounterResetHeader::Gauge
        );
    }

    #[test]
    fn client_rejects_corrupt_streams_and_asks_again_for_unknown_encodings() {
        let q = streamed_request(0, 100, &[]).queries.remove(0);
        let mut body = Vec::new();
        let frame = prompb::ChunkedReadResponse {
            chunked_series: vec![prompb::ChunkedSeries {
                labels: vec![prompb::Label {
                    name: "__name__".into(),
                    value: "x".into(),
                }],
                chunks: vec![prompb::Chunk {
                    min_time_ms: 0,
                    max_time_ms: 0,
                    // Not an encoding this client knows.
                    r#type: 9,
                    data: vec![0, 0],
                }],
            }],
            query_index: 0,
        };
        write_frame(&mut body, &frame.encode_to_vec());
        assert!(matches!(
            decode_streamed(&body, &q),
            Err(StreamedError::Unsupported)
        ));
        let last = body.len() - 1;
        body[last] ^= 0xff;
        assert!(matches!(
            decode_streamed(&body, &q),
            Err(StreamedError::Other(Error::InvalidRemoteRequest { .. }))
        ));
    }

    /// Regular scrapes compress far better as XOR chunks than as snappy'd samples: 100
    /// series of 720 samples at 15s.
    #[test]
    fn streamed_answers_are_smaller_for_regular_scrapes() {
        use read_request::ResponseType::{Samples, StreamedXorChunks};
        let db = MemStorage::new();
        let mut app = db.appender();
        for i in 0..100 {
            let l = Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())]);
            for t in 0..720i64 {
                app.append(0, &l, t * 15_000, (t / 10 * i) as f64).unwrap();
            }
        }
        app.commit().unwrap();
        let size = |accepted| {
            let req = streamed_request(0, i64::MAX, &[accepted]);
            serve_read_with(&req, &db, &Labels::empty(), &ReadLimits::default())
                .unwrap()
                .into_body()
                .len()
        };
        let (streamed, samples) = (size(StreamedXorChunks), size(Samples));
        assert!(
            streamed * 4 < samples,
            "streamed {streamed} B, samples {samples} B"
        );
    }
    /// A storage that lists series in reverse label order unless asked to sort, as the
    /// TSDB head lists them in creation order.
    struct Unsorted(MemStorage);

    struct UnsortedQuerier(Box<dyn crate::Querier>);

    impl Queryable for Unsorted {
        fn querier(&self, mint: i64, maxt: i64) -> crate::Result<Box<dyn crate::Querier>> {
            Ok(Box::new(UnsortedQuerier(self.0.querier(mint, maxt)?)))
        }
    }

    impl crate::Querier for UnsortedQuerier {
        fn select(
            &self,
            sorted: bool,
            hints: Option<&SelectHints>,
            matchers: &[Matcher],
        ) -> Box<dyn crate::SeriesSet> {
            let mut set = self.0.select(true, hints, matchers);
            let mut all = Vec::new();
            while let Some(s) = set.next() {
                all.push(s.unwrap());
            }
            if !sorted {
                all.reverse();
            }
            Box::new(crate::ListSeriesSet::new(all))
        }

        fn label_values(
            &self,
            name: &str,
            hints: Option<&crate::LabelHints>,
            matchers: &[Matcher],
        ) -> crate::Result<Vec<String>> {
            self.0.label_values(name, hints, matchers)
        }

        fn label_names(
            &self,
            hints: Option<&crate::LabelHints>,
            matchers: &[Matcher],
        ) -> crate::Result<Vec<String>> {
            self.0.label_names(hints, matchers)
        }
    }

    /// Go's handler selects without sorting for SAMPLES and sorted for streamed chunks.
    #[test]
    fn samples_keep_the_storage_order_and_streamed_chunks_are_sorted() {
        use read_request::ResponseType::StreamedXorChunks;
        let db = Unsorted(streamed_db(3, 10));
        let ext = Labels::default();
        let names = |r: &QueryResult| -> Vec<String> {
            r.timeseries
                .iter()
                .map(|s| {
                    labels_from_proto(&s.labels)
                        .unwrap()
                        .get("i")
                        .unwrap_or("")
                        .to_string()
                })
                .collect()
        };
        let samples = serve_read(&streamed_request(0, 200_000, &[]), &db, &ext).unwrap();
        assert_eq!(names(&samples.results[0]), ["2", "1", "0"]);
        let req = streamed_request(0, 200_000, &[StreamedXorChunks]);
        let ReadAnswer::Streamed(body) =
            serve_read_with(&req, &db, &ext, &ReadLimits::default()).unwrap()
        else {
            panic!("expected a streamed answer");
        };
        let decoded = decode_streamed(&body, &req.queries[0]).ok().unwrap();
        assert_eq!(names(&decoded), ["0", "1", "2"]);
    }
}
