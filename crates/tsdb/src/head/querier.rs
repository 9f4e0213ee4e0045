//! Querying the head: series selection through the postings, and sample iteration over the
//! chunks (on disk and open) and out-of-order samples of a series.

use std::sync::Arc;

use model::{FloatHistogram, Histogram, Labels, Matcher, Timestamp};
use storage::{LabelHints, SampleIterator, SelectHints, Series, SeriesSet, ValueType};

use super::Head;
use crate::chunkenc::{ChunkIterator, Encoding, Value};
use crate::error::{Error, Result};

/// A series' labels and samples.
pub(crate) type SeriesSamples = (Labels, Vec<(i64, f64)>);

/// A series' native histogram samples (integer or float) in time order.
pub(crate) type HistogramSamples = Vec<(i64, Value)>;

/// A querier over the head for `[mint, maxt]` (both inclusive).
#[derive(Debug)]
pub struct HeadQuerier {
    /// Holds back the truncation of what this querier may still read.
    _reader: super::ReaderGuard,
    head: Arc<Head>,
    mint: i64,
    maxt: i64,
}

/// A snapshot of one head series for a query: its chunks are copied out of the head, so the
/// series stays valid whatever the head does afterwards.
#[derive(Debug, Clone)]
pub struct HeadSeries {
    labels: Labels,
    chunks: Arc<[(Encoding, Arc<[u8]>)]>,
    ooo: Arc<[(i64, Value)]>,
    deleted: Arc<[(i64, i64)]>,
    /// Start timestamps `(t, st)` of samples in range that have one, sorted by `t`.
    sts: Arc<[(i64, i64)]>,
    mint: i64,
    maxt: i64,
}

/// Copies the chunks of series `r` overlapping `[mint, maxt]`; `None` if the series is gone
/// or has no data there.
pub(crate) fn snapshot_series(
    head: &Head,
    r: u64,
    mint: i64,
    maxt: i64,
) -> Result<Option<HeadSeries>> {
    let mut on_disk = Vec::new();
    let (labels, open, ooo, sts) = {
        let shard = head.shard(r).read();
        let Some(s) = shard.series.get(&r) else {
            // Listed by the postings, gone by now (Go's `seriesNotFound`).
            head.metrics.series_not_found.inc();
            return Ok(None);
        };
        for c in &s.mmapped {
            if c.max_time >= mint && c.min_time <= maxt {
                on_disk.push(c.chunk_ref);
            }
        }
        let open = s
            .head
            .as_ref()
            .filter(|h| h.chunk.num_samples() > 0 && h.max_time >= mint && h.min_time <= maxt)
            .map(|h| (h.chunk.encoding(), Arc::<[u8]>::from(h.chunk.bytes())));
        let ooo = s
            .ooo
            .as_ref()
            .map(|o| o.values_in(mint, maxt))
            .unwrap_or_default();
        let sts: Arc<[(i64, i64)]> = match shard.sts.get(&r) {
            Some(v) => {
                let lo = v.partition_point(|e| e.0 < mint);
                let hi = v.partition_point(|e| e.0 <= maxt);
                v[lo..hi].into()
            }
            None => Arc::from(Vec::new()),
        };
        (s.labels.clone(), open, ooo, sts)
    };
    if on_disk.is_empty() && open.is_none() && ooo.is_empty() {
        return Ok(None);
    }
    let mut chunks: Vec<(Encoding, Arc<[u8]>)> = Vec::with_capacity(on_disk.len() + 1);
    for cref in on_disk {
        let (enc, data) = head.mapper().chunk(cref)?;
        chunks.push((Encoding::from_u8(enc)?, data.into()));
    }
    chunks.extend(open);
    Ok(Some(HeadSeries {
        labels,
        chunks: chunks.into(),
        ooo: ooo.into(),
        deleted: head.tombstones_of(r).into(),
        sts,
        mint,
        maxt,
    }))
}

/// The labels and decoded float samples of series `r` in `[mint, maxt]`, and its native
/// histograms.
pub(crate) fn read_series(
    head: &Head,
    r: u64,
    mint: i64,
    maxt: i64,
) -> Result<Option<(SeriesSamples, HistogramSamples)>> {
    let Some(s) = snapshot_series(head, r, mint, maxt)? else {
        return Ok(None);
    };
    let mut it = s.sample_iter();
    let mut out = Vec::new();
    let mut hists = Vec::new();
    loop {
        match it.next() {
            ValueType::None => break,
            ValueType::Float => out.push(it.at()),
            _ => hists.push((it.cur.0, it.cur.1.to_value())),
        }
    }
    if let Some(e) = it.err.take() {
        return Err(Error::CorruptChunk(format!(
            "head series {}: {e}",
            s.labels
        )));
    }
    Ok(Some(((s.labels, out), hists)))
}

impl HeadSeries {
    fn sample_iter(&self) -> HeadIterator {
        HeadIterator {
            chunks: Arc::clone(&self.chunks),
            next_chunk: 0,
            it: None,
            a: None,
            primed: false,
            ooo: Arc::clone(&self.ooo),
            j: 0,
            deleted: Arc::clone(&self.deleted),
            sts: Arc::clone(&self.sts),
            mint: self.mint,
            maxt: self.maxt,
            cur: (i64::MIN, Slot::Float(0.0)),
            started: false,
            done: false,
            err: None,
        }
    }
}

impl Series for HeadSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iterator(&self) -> Box<dyn SampleIterator> {
        Box::new(self.sample_iter())
    }
}

/// A sample's value as the head iterator moves it: floats inline, histograms boxed. The
/// histogram types make [`Value`] ~170 bytes, and moving that through the iterator twice per
/// float sample cost a memcpy each (18% of a `histogram_quantile` range query).
#[derive(Debug, Clone)]
enum Slot {
    Float(f64),
    Other(Box<Value>),
}

impl Slot {
    fn kind(&self) -> ValueType {
        match self {
            Slot::Float(_) => ValueType::Float,
            Slot::Other(v) => v.kind(),
        }
    }

    fn of(v: &Value) -> Slot {
        match v {
            Value::Float(f) => Slot::Float(*f),
            other => Slot::Other(Box::new(other.clone())),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Slot::Float(f) => Value::Float(*f),
            Slot::Other(v) => (**v).clone(),
        }
    }
}

/// Iterates the in-order chunks and the out-of-order samples of a series, merged by time,
/// within the query range and outside deleted intervals.
struct HeadIterator {
    chunks: Arc<[(Encoding, Arc<[u8]>)]>,
    next_chunk: usize,
    it: Option<ChunkIterator<Arc<[u8]>>>,
    a: Option<(i64, Slot)>,
    primed: bool,
    ooo: Arc<[(i64, Value)]>,
    j: usize,
    deleted: Arc<[(i64, i64)]>,
    sts: Arc<[(i64, i64)]>,
    mint: i64,
    maxt: i64,
    cur: (i64, Slot),
    started: bool,
    done: bool,
    err: Option<storage::Error>,
}

impl HeadIterator {
    fn advance_a(&mut self) {
        loop {
            if let Some(it) = self.it.as_mut() {
                match it.next() {
                    ValueType::Float => {
                        let (t, v) = it.at();
                        self.a = Some((t, Slot::Float(v)));
                        return;
                    }
                    ValueType::Histogram => {
                        let (t, h) = it.at_histogram();
                        self.a = Some((t, Slot::Other(Box::new(Value::Histogram(h)))));
                        return;
                    }
                    ValueType::FloatHistogram => {
                        let (t, h) = it.at_float_histogram();
                        self.a = Some((t, Slot::Other(Box::new(Value::FloatHistogram(h)))));
                        return;
                    }
                    _ => {}
                }
                if let Some(e) = it.err() {
                    self.err = Some(storage::Error::backend(Error::CorruptChunk(e.to_string())));
                    self.a = None;
                    self.chunks = Arc::from(Vec::new());
                    return;
                }
                self.it = None;
            }
            match self.chunks.get(self.next_chunk) {
                Some((enc, c)) => {
                    self.it = Some(ChunkIterator::new(*enc, Arc::clone(c)));
                    self.next_chunk += 1;
                }
                None => {
                    self.a = None;
                    return;
                }
            }
        }
    }

    fn raw_next(&mut self) -> Option<(i64, Slot)> {
        if !self.primed {
            self.primed = true;
            self.advance_a();
        }
        let o = self.ooo.get(self.j).map(|o| o.0);
        match (self.a.as_ref().map(|a| a.0), o) {
            (Some(at), Some(ot)) if at <= ot => {
                if at == ot {
                    self.j += 1;
                }
                let a = self.a.take();
                self.advance_a();
                a
            }
            (_, Some(_)) => {
                self.j += 1;
                let (t, v) = &self.ooo[self.j - 1];
                Some((*t, Slot::of(v)))
            }
            (Some(_), None) => {
                let a = self.a.take();
                self.advance_a();
                a
            }
            (None, None) => None,
        }
    }

    fn is_deleted(&self, t: i64) -> bool {
        self.deleted.iter().any(|&(a, b)| t >= a && t <= b)
    }
}

impl SampleIterator for HeadIterator {
    fn next(&mut self) -> ValueType {
        if self.done {
            return ValueType::None;
        }
        self.started = true;
        loop {
            let Some(s) = self.raw_next() else {
                self.done = true;
                return ValueType::None;
            };
            if s.0 < self.mint || self.is_deleted(s.0) {
                continue;
            }
            if s.0 > self.maxt {
                self.done = true;
                return ValueType::None;
            }
            let kind = s.1.kind();
            self.cur = s;
            return kind;
        }
    }

    fn seek(&mut self, t: Timestamp) -> ValueType {
        if self.done {
            return ValueType::None;
        }
        if self.started && self.cur.0 >= t {
            return self.cur.1.kind();
        }
        loop {
            match self.next() {
                ValueType::None => return ValueType::None,
                other if self.cur.0 >= t => return other,
                _ => {}
            }
        }
    }

    fn at(&self) -> (Timestamp, f64) {
        match self.cur.1 {
            Slot::Float(v) => (self.cur.0, v),
            Slot::Other(_) => (self.cur.0, 0.0),
        }
    }

    fn at_histogram(&self) -> (Timestamp, Histogram) {
        match &self.cur.1 {
            Slot::Other(v) => match &**v {
                Value::Histogram(h) => (self.cur.0, h.clone()),
                _ => (self.cur.0, Histogram::default()),
            },
            Slot::Float(_) => (self.cur.0, Histogram::default()),
        }
    }

    fn at_float_histogram(&self) -> (Timestamp, FloatHistogram) {
        match &self.cur.1 {
            Slot::Other(v) => match &**v {
                Value::Histogram(h) => (self.cur.0, h.to_float()),
                Value::FloatHistogram(h) => (self.cur.0, h.clone()),
                Value::Float(_) => (self.cur.0, FloatHistogram::default()),
            },
            Slot::Float(_) => (self.cur.0, FloatHistogram::default()),
        }
    }

    fn at_st(&self) -> Timestamp {
        if self.sts.is_empty() {
            return 0;
        }
        self.sts
            .binary_search_by_key(&self.cur.0, |e| e.0)
            .map_or(0, |i| self.sts[i].1)
    }

    fn err(&self) -> Option<&storage::Error> {
        self.err.as_ref()
    }
}

/// The series a head selection found, in label order or in the order the head created them
/// (series refs), each copied out of the head only when the caller gets to it: a query over
/// many series holds one series' chunks at a time instead of all of them (a
/// `count_over_time` over 20k series held 24 MiB of copies before).
struct HeadSeriesSet {
    /// Holds back truncation of the range for as long as the set lives (it may outlive its
    /// querier).
    _reader: super::ReaderGuard,
    head: Arc<Head>,
    refs: std::vec::IntoIter<u64>,
    mint: i64,
    maxt: i64,
}

impl SeriesSet for HeadSeriesSet {
    fn next(&mut self) -> Option<storage::Result<Box<dyn Series>>> {
        loop {
            let r = self.refs.next()?;
            match snapshot_series(&self.head, r, self.mint, self.maxt) {
                Ok(Some(s)) => return Some(Ok(Box::new(s))),
                // Gone since the selection, or no data in range.
                Ok(None) => {}
                Err(e) => {
                    // Nothing after an error.
                    self.refs = Vec::new().into_iter();
                    return Some(Err(storage::Error::backend(e)));
                }
            }
        }
    }

    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

impl HeadQuerier {
    pub(crate) fn new(head: Arc<Head>, mint: i64, maxt: i64) -> HeadQuerier {
        // Data before the head's valid range is in blocks (or deleted); an open chunk may
        // still hold some of it until it is cut. Out-of-order samples replayed from a WBL may
        // be older: they are read until compacted (an in-order sample of a block read here
        // too merges with the block's copy).
        let mint = mint.max(head.read_floor());
        HeadQuerier {
            _reader: head.register_reader(mint, maxt),
            head,
            mint,
            maxt,
        }
    }

    /// Snapshots of the matching series, sorted by labels.
    ///
    /// # Errors
    /// When a chunk can't be read back from `chunks_head/`.
    pub fn select_series(&self, matchers: &[Matcher]) -> Result<Vec<HeadSeries>> {
        let refs = self.head.postings.read().postings_for_matchers(matchers);
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            if let Some(s) = snapshot_series(&self.head, r, self.mint, self.maxt)? {
                out.push(s);
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    fn matching_labels(&self, matchers: &[Matcher]) -> Vec<Labels> {
        let refs = self.head.postings.read().postings_for_matchers(matchers);
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            let shard = self.head.shard(r).read();
            if let Some(s) = shard.series.get(&r) {
                let overlaps = s.min_time().is_some_and(|mint| mint <= self.maxt)
                    && s.max_time().is_none_or(|maxt| maxt >= self.mint)
                    || s.ooo.is_some();
                if overlaps {
                    out.push(s.labels.clone());
                }
            }
        }
        out
    }
}

fn limit_sorted(mut v: Vec<String>, hints: Option<&LabelHints>) -> Vec<String> {
    v.sort_unstable();
    v.dedup();
    if let Some(h) = hints
        && h.limit > 0
        && v.len() > h.limit
    {
        v.truncate(h.limit);
    }
    v
}

impl storage::Querier for HeadQuerier {
    /// The matching series in label order when `sorted`, else in the order the head
    /// created them (their refs, as the postings list them), as Go's head querier: an
    /// instant query that only reads the head lists its series that way.
    fn select(
        &self,
        sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet> {
        let mut refs = self.head.postings.read().postings_for_matchers(matchers);
        if sorted {
            let mut selected = Vec::with_capacity(refs.len());
            for r in refs {
                if let Some(s) = self.head.shard(r).read().series.get(&r) {
                    selected.push((s.labels.clone(), r));
                }
            }
            selected.sort_by(|a, b| a.0.cmp(&b.0));
            refs = selected.into_iter().map(|(_, r)| r).collect();
        }
        Box::new(HeadSeriesSet {
            _reader: self.head.register_reader(self.mint, self.maxt),
            head: Arc::clone(&self.head),
            refs: refs.into_iter(),
            mint: self.mint,
            maxt: self.maxt,
        })
    }

    fn label_values(
        &self,
        name: &str,
        hints: Option<&LabelHints>,
        matchers: &[Matcher],
    ) -> storage::Result<Vec<String>> {
        let values: Vec<String> = if matchers.is_empty() {
            self.head
                .postings
                .read()
                .values(name)
                .map(|(v, _)| v.to_string())
                .collect()
        } else {
            self.matching_labels(matchers)
                .iter()
                .filter_map(|l| l.get(name).map(str::to_string))
                .collect()
        };
        Ok(limit_sorted(values, hints))
    }

    fn label_names(
        &self,
        hints: Option<&LabelHints>,
        matchers: &[Matcher],
    ) -> storage::Result<Vec<String>> {
        let names: Vec<String> = if matchers.is_empty() {
            self.head
                .postings
                .read()
                .label_names()
                .map(str::to_string)
                .collect()
        } else {
            self.matching_labels(matchers)
                .iter()
                .flat_map(|l| l.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>())
                .collect()
        };
        Ok(limit_sorted(names, hints))
    }
}
