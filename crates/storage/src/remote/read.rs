//! Remote read: a [`Queryable`] over a `remote_read` endpoint, and the server side of
//! `/api/v1/read`.

use std::sync::Arc;
use std::time::Duration;

use model::{Labels, LabelsBuilder, MatchType, Matcher, Timestamp};
use prompb::{Message, Query, QueryResult, ReadHints, ReadRequest, ReadResponse, read_request};

use super::codec::{
    decode_snappy, encode_read_request, labels_from_proto, labels_to_proto, matchers_from_proto,
    matchers_to_proto,
};
use super::histogram::{
    HistogramSample, float_histogram_to_proto, histogram_from_proto, histogram_to_proto,
};
use super::http::Endpoint;
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

/// A [`Queryable`] that answers `select` by sending a remote-read request (SAMPLES response
/// type). Label names and values are not part of the protocol: they list nothing.
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

    /// Sends one read request and returns the first query's series.
    fn read(&self, query: Query) -> Result<QueryResult> {
        let body = encode_read_request(&ReadRequest {
            queries: vec![query],
            accepted_response_types: vec![read_request::ResponseType::Samples as i32],
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

/// Answers a decoded remote-read request from `db` (the `/api/v1/read` handler's core): one
/// result per query, series sorted by labels with the samples and native histograms
/// (`TimeSeries.histograms`, Go's `ToQueryResult`) in `[start, end]`, and the
/// `external_labels` added to every series that lacks them (a matcher on an external label is
/// checked against it and then dropped, as Prometheus does).
///
/// Only the SAMPLES response type is implemented: a request that accepts only streamed
/// chunks is an [`Error::InvalidRemoteRequest`] (HTTP 400).
pub fn serve_read(
    req: &ReadRequest,
    db: &dyn Queryable,
    external_labels: &Labels,
) -> Result<ReadResponse> {
    let samples = read_request::ResponseType::Samples as i32;
    if !req.accepted_response_types.is_empty() && !req.accepted_response_types.contains(&samples) {
        return Err(Error::InvalidRemoteRequest {
            what: "read request",
            reason: "only the SAMPLES response type is supported".into(),
        });
    }
    let mut results = Vec::with_capacity(req.queries.len());
    for q in &req.queries {
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
        if !external_ok {
            results.push(QueryResult::default());
            continue;
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
        let mut set = querier.select(true, hints.as_ref(), &matchers);
        let mut timeseries = Vec::new();
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
            let (mut samples, mut histograms) = (Vec::new(), Vec::new());
            let mut vt = it.seek(q.start_timestamp_ms);
            while vt != ValueType::None && it.at_t() <= q.end_timestamp_ms {
                match vt {
                    ValueType::Histogram => {
                        let (t, h) = it.at_histogram();
                        histograms.push(histogram_to_proto(t, &h));
                    }
                    ValueType::FloatHistogram => {
                        let (t, fh) = it.at_float_histogram();
                        histograms.push(float_histogram_to_proto(t, &fh));
                    }
                    _ => {
                        let (t, v) = it.at();
                        samples.push(prompb::Sample {
                            value: v,
                            timestamp: t,
                        });
                    }
                }
                vt = it.next();
            }
            if let Some(err) = it.err() {
                return Err(Error::backend(std::io::Error::other(err.to_string())));
            }
            if samples.is_empty() && histograms.is_empty() {
                continue;
            }
            timeseries.push(prompb::TimeSeries {
                labels: labels_to_proto(&labels),
                samples,
                histograms,
                ..Default::default()
            });
        }
        results.push(QueryResult { timeseries });
    }
    Ok(ReadResponse { results })
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
}
