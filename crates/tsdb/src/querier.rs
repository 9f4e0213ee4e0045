//! Querying persistent blocks: postings for matchers, series sets, label names and values.
//!
//! The querier works over anything implementing [`SeriesSource`] (a persistent [`Block`]
//! here; the head answers the same interface), as Go's `blockQuerier` works over an
//! `IndexReader` and a `ChunkReader`.

pub mod postings;

use std::collections::BTreeSet;
use std::sync::Arc;

use model::{Labels, MatchType, Matcher, Timestamp};
use storage::{LabelHints, SampleIterator, SelectHints, Series, SeriesSet, ValueType};

use crate::block::Block;
use crate::chunkenc::{ChunkIterator, Value, XorIterator};
use crate::chunks::ChunkBytes;
use crate::error::Result;
use crate::index::ChunkMeta;
use crate::tombstones::Interval;

/// The bytes of a chunk handed to a querier: mapped from a block, or an owned copy (the
/// head's chunks).
#[derive(Debug, Clone)]
pub enum ChunkData {
    /// A chunk inside a memory-mapped segment file.
    Mapped(ChunkBytes),
    /// A chunk copied into memory.
    Owned(Arc<[u8]>),
    /// A chunk of another encoding than XOR (a native histogram chunk), copied.
    Encoded(crate::chunkenc::Encoding, Arc<[u8]>),
}

impl AsRef<[u8]> for ChunkData {
    fn as_ref(&self) -> &[u8] {
        match self {
            ChunkData::Mapped(b) => b.as_ref(),
            ChunkData::Owned(b) | ChunkData::Encoded(_, b) => b,
        }
    }
}

/// What a querier needs from a block-like source of series (Go's `IndexReader` +
/// `ChunkReader` + tombstones). Series are named by references ("postings"), which are
/// sorted and deduplicated wherever they are passed around.
pub trait SeriesSource: Send + Sync + 'static {
    /// The sorted label names of all series.
    fn label_names(&self) -> Result<Vec<String>>;

    /// The sorted values of label `name` over all series.
    fn label_values(&self, name: &str) -> Result<Vec<String>>;

    /// The references of series having label `name` set to any of `values`.
    fn postings(&self, name: &str, values: &[&str]) -> Result<Vec<u64>>;

    /// The references of every series.
    fn all_postings(&self) -> Result<Vec<u64>>;

    /// The references of series whose value of label `name` satisfies `pred` (series
    /// without the label are never included).
    fn postings_matching(&self, name: &str, pred: &dyn Fn(&str) -> bool) -> Result<Vec<u64>> {
        let values = self.label_values(name)?;
        let matching: Vec<&str> = values
            .iter()
            .map(String::as_str)
            .filter(|v| pred(v))
            .collect();
        if matching.is_empty() {
            return Ok(Vec::new());
        }
        self.postings(name, &matching)
    }

    /// Like [`SeriesSource::postings_matching`], where every value `pred` accepts starts with
    /// `prefix` (a regex's literal prefix), so sources with sorted values can skip the rest.
    fn postings_matching_prefix(
        &self,
        name: &str,
        prefix: &str,
        pred: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<u64>> {
        self.postings_matching(name, &|v| v.starts_with(prefix) && pred(v))
    }

    /// Orders references by their series' labels. Blocks number series in label order, so
    /// the default keeps the order as it is.
    fn sort_by_labels(&self, postings: Vec<u64>) -> Result<Vec<u64>> {
        Ok(postings)
    }

    /// The labels of series `id`; fills `chunks` with its chunk metas, sorted by time.
    fn series(&self, id: u64, chunks: &mut Vec<ChunkMeta>) -> Result<Labels>;

    /// The bytes of a chunk (XOR encoding).
    fn chunk(&self, meta: &ChunkMeta) -> Result<ChunkData>;

    /// The deleted intervals of series `id` (sorted, non-overlapping).
    fn tombstones(&self, id: u64) -> Vec<Interval> {
        let _ = id;
        Vec::new()
    }

    /// Adds where a chunk is stored to an error found while decoding its samples.
    fn chunk_error(&self, meta: &ChunkMeta, err: crate::Error) -> crate::Error {
        let _ = meta;
        err
    }
}

impl SeriesSource for Block {
    fn label_names(&self) -> Result<Vec<String>> {
        Ok(self.index().label_names())
    }

    fn label_values(&self, name: &str) -> Result<Vec<String>> {
        Ok(self.index().label_values(name))
    }

    fn postings(&self, name: &str, values: &[&str]) -> Result<Vec<u64>> {
        let entries = self.index().value_entries(name);
        let mut lists = Vec::with_capacity(values.len());
        for v in values {
            if let Ok(i) = entries.binary_search_by(|(e, _)| e.as_str().cmp(v)) {
                lists.push(self.index().read_postings(entries[i].1)?);
            }
        }
        Ok(postings::merge(lists))
    }

    fn all_postings(&self) -> Result<Vec<u64>> {
        self.index().all_postings()
    }

    fn postings_matching(&self, name: &str, pred: &dyn Fn(&str) -> bool) -> Result<Vec<u64>> {
        let mut lists = Vec::new();
        for (v, off) in self.index().value_entries(name) {
            if pred(v) {
                lists.push(self.index().read_postings(*off)?);
            }
        }
        Ok(postings::merge(lists))
    }

    fn postings_matching_prefix(
        &self,
        name: &str,
        prefix: &str,
        pred: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<u64>> {
        let entries = self.index().value_entries(name);
        let start = entries.partition_point(|(v, _)| v.as_str() < prefix);
        let mut lists = Vec::new();
        for (v, off) in entries[start..]
            .iter()
            .take_while(|(v, _)| v.starts_with(prefix))
        {
            if pred(v) {
                lists.push(self.index().read_postings(*off)?);
            }
        }
        Ok(postings::merge(lists))
    }

    fn series(&self, id: u64, chunks: &mut Vec<ChunkMeta>) -> Result<Labels> {
        self.index().series(id, chunks)
    }

    fn chunk(&self, meta: &ChunkMeta) -> Result<ChunkData> {
        let c = self.chunks().chunk(meta.chunk_ref)?;
        match crate::chunkenc::Encoding::from_u8(c.encoding)? {
            crate::chunkenc::Encoding::Xor => Ok(ChunkData::Mapped(c.data)),
            enc @ (crate::chunkenc::Encoding::Histogram
            | crate::chunkenc::Encoding::FloatHistogram) => {
                Ok(ChunkData::Encoded(enc, Arc::from(c.data.as_ref())))
            }
            other => Err(crate::Error::CorruptChunk(format!(
                "chunk {:#x} has encoding {other}, which is not supported",
                meta.chunk_ref
            ))),
        }
    }

    fn tombstones(&self, id: u64) -> Vec<Interval> {
        Block::tombstones(self).get(id).to_vec()
    }

    fn chunk_error(&self, meta: &ChunkMeta, err: crate::Error) -> crate::Error {
        match self.chunks().segment_path(meta.chunk_ref) {
            Some(path) => crate::Error::Corrupt {
                path: path.to_path_buf(),
                offset: meta.chunk_ref & 0xffff_ffff,
                msg: err.to_string(),
            },
            None => err,
        }
    }
}

fn is_not(m: &Matcher) -> bool {
    matches!(m.match_type, MatchType::NotEqual | MatchType::RegexNoMatch)
}

/// Postings of the series a (positive) matcher selects among series that have the label.
fn postings_for_matcher<S: SeriesSource + ?Sized>(src: &S, m: &Matcher) -> Result<Vec<u64>> {
    if m.match_type == MatchType::Equal {
        return src.postings(&m.name, &[m.value.as_str()]);
    }
    if m.match_type == MatchType::RegexMatch
        && let Some(set) = m.set_matches()
    {
        let values: Vec<&str> = set.iter().map(String::as_str).collect();
        return src.postings(&m.name, &values);
    }
    if m.match_type == MatchType::RegexMatch
        && let Some(prefix) = m.prefix().filter(|p| !p.is_empty())
    {
        return src.postings_matching_prefix(&m.name, prefix, &|v| m.matches(v));
    }
    src.postings_matching(&m.name, &|v| m.matches(v))
}

/// Postings of the series that have label `m.name` with a value `m` does NOT match.
fn inverse_postings_for_matcher<S: SeriesSource + ?Sized>(
    src: &S,
    m: &Matcher,
) -> Result<Vec<u64>> {
    // The inverse of `!~"a|b"` is the literal set; of `!="a"` the value itself.
    if m.match_type == MatchType::RegexNoMatch
        && let Some(set) = m.set_matches()
    {
        let values: Vec<&str> = set.iter().map(String::as_str).collect();
        return src.postings(&m.name, &values);
    }
    if m.match_type == MatchType::NotEqual {
        return src.postings(&m.name, &[m.value.as_str()]);
    }
    // `=""` and `=~""` match no set value: every series with the label.
    if m.value.is_empty() && matches!(m.match_type, MatchType::Equal | MatchType::RegexMatch) {
        return src.postings_matching(&m.name, &|_| true);
    }
    src.postings_matching(&m.name, &|v| !m.matches(v))
}

/// The sorted references of the series matching every matcher, with Prometheus's semantics
/// (Go's `PostingsForMatchers`): a matcher that matches the empty string also selects
/// series lacking the label; negative matchers subtract from the positive ones, or from all
/// series when there is no positive one.
pub fn postings_for_matchers<S: SeriesSource + ?Sized>(
    src: &S,
    matchers: &[Matcher],
) -> Result<Vec<u64>> {
    if matchers.len() == 1 && matchers[0].name.is_empty() && matchers[0].value.is_empty() {
        return src.all_postings();
    }
    // Labels some matcher requires to be set (to a non-empty value).
    let must_be_set: BTreeSet<&str> = matchers
        .iter()
        .filter(|m| !m.matches(""))
        .map(|m| m.name.as_str())
        .collect();
    let is_subtracting =
        |m: &Matcher| !must_be_set.contains(m.name.as_str()) || (is_not(m) && m.matches(""));
    let mut its: Vec<Vec<u64>> = Vec::new();
    let mut not_its: Vec<Vec<u64>> = Vec::new();
    if matchers.iter().all(is_subtracting) {
        its.push(src.all_postings()?);
    }
    // Intersecting matchers first: an empty intersection ends the work early.
    let mut ordered: Vec<&Matcher> = matchers.iter().collect();
    ordered.sort_by_key(|m| is_subtracting(m));
    for m in ordered {
        if m.name.is_empty() && m.value.is_empty() {
            its.push(src.all_postings()?);
        } else if must_be_set.contains(m.name.as_str()) {
            let matches_empty = m.matches("");
            if is_not(m) && matches_empty {
                // l!="foo": subtract the series with l="foo".
                not_its.push(postings_for_matcher(src, &m.inverse())?);
            } else if is_not(m) {
                // l!="": the series with l set to anything the inverse does not match.
                let it = inverse_postings_for_matcher(src, &m.inverse())?;
                if it.is_empty() {
                    return Ok(Vec::new());
                }
                its.push(it);
            } else {
                let it = postings_for_matcher(src, m)?;
                if it.is_empty() {
                    return Ok(Vec::new());
                }
                its.push(it);
            }
        } else {
            // l="" or l=~"a|": also selects series without the label, so subtract the
            // series whose value does not match.
            not_its.push(inverse_postings_for_matcher(src, m)?);
        }
    }
    let mut result = postings::intersect(its);
    for n in &not_its {
        if result.is_empty() {
            break;
        }
        result = postings::without(&result, n);
    }
    Ok(result)
}

fn backend(e: crate::Error) -> storage::Error {
    storage::Error::backend(e)
}

fn limit(mut v: Vec<String>, hints: Option<&LabelHints>) -> Vec<String> {
    if let Some(h) = hints
        && h.limit > 0
        && v.len() > h.limit
    {
        v.truncate(h.limit);
    }
    v
}

/// A querier over one [`SeriesSource`] and a time range `[mint, maxt]` (inclusive).
pub struct SourceQuerier<S: SeriesSource> {
    source: Arc<S>,
    mint: Timestamp,
    maxt: Timestamp,
}

/// A querier over a persistent block.
pub type BlockQuerier = SourceQuerier<Block>;

impl<S: SeriesSource> SourceQuerier<S> {
    /// A querier over `source` for samples with `mint <= t <= maxt`.
    pub fn new(source: Arc<S>, mint: Timestamp, maxt: Timestamp) -> SourceQuerier<S> {
        SourceQuerier { source, mint, maxt }
    }

    fn matching_labels(&self, matchers: &[Matcher]) -> Result<Vec<Labels>> {
        let ids = postings_for_matchers(self.source.as_ref(), matchers)?;
        let mut chunks = Vec::new();
        ids.into_iter()
            .map(|id| self.source.series(id, &mut chunks))
            .collect()
    }
}

impl<S: SeriesSource> storage::Querier for SourceQuerier<S> {
    fn select(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet> {
        let ids = match postings_for_matchers(self.source.as_ref(), matchers) {
            Ok(ids) if sorted => self.source.sort_by_labels(ids),
            other => other,
        };
        match ids {
            Ok(ids) => Box::new(SourceSeriesSet {
                source: Arc::clone(&self.source),
                ids: ids.into_iter(),
                mint: self.mint,
                maxt: self.maxt,
                limit: hints.map_or(0, |h| h.limit),
                returned: 0,
                chunks: Vec::new(),
                no_tombstones: Arc::from(Vec::new()),
            }),
            Err(e) => Box::new(storage::ErrSeriesSet::new(backend(e))),
        }
    }

    fn label_values(
        &self,
        name: &str,
        hints: Option<&LabelHints>,
        matchers: &[Matcher],
    ) -> storage::Result<Vec<String>> {
        if matchers.is_empty() {
            return self
                .source
                .label_values(name)
                .map(|v| limit(v, hints))
                .map_err(backend);
        }
        let labels = self.matching_labels(matchers).map_err(backend)?;
        let values: BTreeSet<String> = labels
            .iter()
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        Ok(limit(values.into_iter().collect(), hints))
    }

    fn label_names(
        &self,
        hints: Option<&LabelHints>,
        matchers: &[Matcher],
    ) -> storage::Result<Vec<String>> {
        if matchers.is_empty() {
            return self
                .source
                .label_names()
                .map(|v| limit(v, hints))
                .map_err(backend);
        }
        let labels = self.matching_labels(matchers).map_err(backend)?;
        let names: BTreeSet<String> = labels
            .iter()
            .flat_map(|l| l.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>())
            .collect();
        Ok(limit(names.into_iter().collect(), hints))
    }
}

struct SourceSeriesSet<S: SeriesSource> {
    source: Arc<S>,
    ids: std::vec::IntoIter<u64>,
    mint: Timestamp,
    maxt: Timestamp,
    limit: usize,
    returned: usize,
    /// The chunk metas of the series being read (reused between series).
    chunks: Vec<ChunkMeta>,
    /// Shared by the series without deleted intervals (nearly all), so that they need no
    /// allocation of their own.
    no_tombstones: Arc<[Interval]>,
}

impl<S: SeriesSource> SeriesSet for SourceSeriesSet<S> {
    fn next(&mut self) -> Option<storage::Result<Box<dyn Series>>> {
        if self.limit > 0 && self.returned >= self.limit {
            return None;
        }
        let chunks = &mut self.chunks;
        for id in self.ids.by_ref() {
            let labels = match self.source.series(id, chunks) {
                Ok(l) => l,
                Err(e) => return Some(Err(backend(e))),
            };
            let deleted = self.source.tombstones(id);
            let (mint, maxt) = (self.mint, self.maxt);
            chunks.retain(|c| {
                c.max_time >= mint
                    && c.min_time <= maxt
                    && !deleted
                        .iter()
                        .any(|iv| iv.mint <= c.min_time && c.max_time <= iv.maxt)
            });
            if chunks.is_empty() {
                continue;
            }
            self.returned += 1;
            let deleted = if deleted.is_empty() {
                Arc::clone(&self.no_tombstones)
            } else {
                deleted.into()
            };
            return Some(Ok(Box::new(SourceSeries {
                source: Arc::clone(&self.source),
                labels,
                chunks: Arc::from(chunks.as_slice()),
                deleted,
                mint,
                maxt,
            })));
        }
        None
    }

    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

struct SourceSeries<S: SeriesSource> {
    source: Arc<S>,
    labels: Labels,
    chunks: Arc<[ChunkMeta]>,
    deleted: Arc<[Interval]>,
    mint: Timestamp,
    maxt: Timestamp,
}

impl<S: SeriesSource> Series for SourceSeries<S> {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iterator(&self) -> Box<dyn SampleIterator> {
        Box::new(ChunkSeriesIterator {
            source: Arc::clone(&self.source),
            chunks: Arc::clone(&self.chunks),
            next_chunk: 0,
            cur: None,
            hist: None,
            cur_meta: None,
            deleted: Arc::clone(&self.deleted),
            mint: self.mint,
            maxt: self.maxt,
            at: (0, 0.0),
            started: false,
            done: false,
            err: None,
        })
    }
}

/// Iterates the samples of a series' chunks, clipped to `[mint, maxt]`, skipping deleted
/// intervals.
pub struct ChunkSeriesIterator<S: SeriesSource> {
    source: Arc<S>,
    chunks: Arc<[ChunkMeta]>,
    next_chunk: usize,
    /// Decodes the current chunk from a copy of its bytes: reading a mapped chunk goes
    /// through the segment's `Arc` and map on every access, twice per sample, which costs
    /// more than copying the chunk once.
    cur: Option<XorIterator<Arc<[u8]>>>,
    /// The current histogram chunk (instead of `cur`) and its current sample.
    hist: Option<(ChunkIterator<Arc<[u8]>>, Value)>,
    cur_meta: Option<ChunkMeta>,
    deleted: Arc<[Interval]>,
    mint: Timestamp,
    maxt: Timestamp,
    at: (Timestamp, f64),
    started: bool,
    done: bool,
    err: Option<storage::Error>,
}

impl<S: SeriesSource> ChunkSeriesIterator<S> {
    fn finish(&mut self) -> ValueType {
        self.done = true;
        self.cur = None;
        self.hist = None;
        ValueType::None
    }

    /// Steps the histogram chunk to the first sample at or after `target` that is not
    /// deleted; `None` when the chunk is done (moving on to the next one).
    fn advance_hist(&mut self, target: Timestamp) -> Option<ValueType> {
        let (it, cur) = self.hist.as_mut()?;
        let mut kind = it.seek(target);
        loop {
            if kind == ValueType::None {
                if let Some(e) = it.err() {
                    let e = crate::Error::CorruptChunk(e.to_string());
                    return Some(self.fail_chunk(e));
                }
                self.hist = None;
                return None;
            }
            let t = it.at_t();
            if t > self.maxt {
                return Some(self.finish());
            }
            if !self.deleted.iter().any(|iv| iv.contains(t)) {
                *cur = match kind {
                    ValueType::Histogram => Value::Histogram(it.at_histogram().1),
                    _ => Value::FloatHistogram(it.at_float_histogram().1),
                };
                self.at = (t, 0.0);
                return Some(kind);
            }
            kind = it.next();
        }
    }

    fn fail_chunk(&mut self, e: crate::Error) -> ValueType {
        let e = match &self.cur_meta {
            Some(meta) => self.source.chunk_error(meta, e),
            None => e,
        };
        self.err = Some(backend(e));
        self.finish()
    }

    /// Advances to the first sample at or after `target` (and at or after `mint`).
    fn advance(&mut self, target: Timestamp) -> ValueType {
        let target = target.max(self.mint);
        loop {
            if self.done {
                return ValueType::None;
            }
            if self.hist.is_some() {
                match self.advance_hist(target) {
                    Some(kind) => return kind,
                    None => continue,
                }
            }
            if self.cur.is_none() {
                // Skip chunks that end before the target.
                while self
                    .chunks
                    .get(self.next_chunk)
                    .is_some_and(|c| c.max_time < target)
                {
                    self.next_chunk += 1;
                }
                let Some(meta) = self.chunks.get(self.next_chunk).copied() else {
                    return self.finish();
                };
                self.next_chunk += 1;
                match self.source.chunk(&meta) {
                    Ok(data) => {
                        let bytes = match data {
                            ChunkData::Mapped(b) => Arc::from(b.as_ref()),
                            ChunkData::Owned(b) => b,
                            ChunkData::Encoded(enc, b) => {
                                self.hist = Some((ChunkIterator::new(enc, b), Value::Float(0.0)));
                                self.cur_meta = Some(meta);
                                continue;
                            }
                        };
                        self.cur = Some(XorIterator::new(bytes));
                        self.cur_meta = Some(meta);
                    }
                    Err(e) => {
                        self.err = Some(backend(e));
                        return self.finish();
                    }
                }
            }
            let it = self.cur.as_mut().expect("a chunk iterator was just set");
            if !it.seek(target) {
                if let Some(e) = it.take_err() {
                    return self.fail_chunk(e.into());
                }
                self.cur = None;
                continue;
            }
            let (t, v) = it.at();
            if t > self.maxt {
                return self.finish();
            }
            if self.deleted.iter().any(|iv| iv.contains(t)) {
                // Step past the deleted sample; the next round's seek stays on the new one.
                if !it.next() {
                    if let Some(e) = it.take_err() {
                        return self.fail_chunk(e.into());
                    }
                    self.cur = None;
                }
                continue;
            }
            self.at = (t, v);
            return ValueType::Float;
        }
    }
}

impl<S: SeriesSource> SampleIterator for ChunkSeriesIterator<S> {
    fn next(&mut self) -> ValueType {
        // Fast path: the next sample of the current chunk, when it is after the current one
        // and nothing is deleted; otherwise (end of the chunk, deleted intervals, a
        // timestamp that does not increase) `advance` continues from the same position,
        // as a seek to just after the current sample does.
        if self.started
            && !self.done
            && self.deleted.is_empty()
            && let Some(it) = self.cur.as_mut()
            && it.next()
        {
            let (t, v) = it.at();
            if t > self.at.0 {
                if t > self.maxt {
                    return self.finish();
                }
                self.at = (t, v);
                return ValueType::Float;
            }
        }
        let target = if self.started {
            if self.at.0 == Timestamp::MAX {
                return self.finish();
            }
            self.at.0 + 1
        } else {
            Timestamp::MIN
        };
        self.started = true;
        self.advance(target)
    }

    fn seek(&mut self, t: Timestamp) -> ValueType {
        if self.done {
            return ValueType::None;
        }
        if self.started && self.at.0 >= t {
            if let Some((_, v)) = &self.hist {
                return v.kind();
            }
            if self.cur.is_some() {
                return ValueType::Float;
            }
        }
        self.started = true;
        self.advance(t)
    }

    fn at(&self) -> (Timestamp, f64) {
        self.at
    }

    fn at_histogram(&self) -> (Timestamp, model::Histogram) {
        match &self.hist {
            Some((_, Value::Histogram(h))) => (self.at.0, h.clone()),
            _ => (self.at.0, model::Histogram::default()),
        }
    }

    fn at_float_histogram(&self) -> (Timestamp, model::FloatHistogram) {
        match &self.hist {
            Some((_, Value::Histogram(h))) => (self.at.0, h.to_float()),
            Some((_, Value::FloatHistogram(h))) => (self.at.0, h.clone()),
            _ => (self.at.0, model::FloatHistogram::default()),
        }
    }

    fn err(&self) -> Option<&storage::Error> {
        self.err.as_ref()
    }
}

#[cfg(test)]
mod tests;
