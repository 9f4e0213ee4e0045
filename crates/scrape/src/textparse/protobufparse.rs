//! The protobuf exposition format parser (Go's `textparse.ProtobufParser`).
//!
//! The body is a sequence of varint-length-delimited [`dto::MetricFamily`] messages. The parser
//! presents them as the text parsers present their lines: for each family a help entry, a
//! unit entry when there is a unit, a type entry, then one entry per series: counters,
//! gauges and untyped metrics are one series each; summaries and classic histograms become
//! their `_count`, `_sum`, quantile and `_bucket` series (with a `+Inf` bucket whether or not
//! the message has one); native histograms are one [`Entry::Histogram`] each, followed by
//! their classic series when asked to keep them.
//!
//! Where this differs from Go: whether a metric is a native histogram is decided for each
//! metric of a family (Go decides from the family's first one), classic series of a
//! native histogram are produced whether or not the caller read the histogram, label names
//! that repeat are an error, and NaN values are made Prometheus's normal NaN so a payload
//! cannot write staleness markers.

use std::borrow::Cow;

use model::{FloatHistogram, Histogram, Labels, Timestamp};
use prost::Message;

use super::dto::{self, MetricType as DtoType};
use super::{Entry, Exemplar, MetricType, Parser, canonical_nan, format_openmetrics_float};
use crate::{Error, Result};

/// Separates the metric name, label names and values in [`Parser::series`] keys, as Go's
/// `model.SeparatorByte`.
const SEP: u8 = 0xff;

/// Which entry the parser is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first family, or the current family is done.
    Start,
    Help,
    Unit,
    Type,
    Series,
    Histogram,
}

/// Parses a protobuf scrape body. See the module documentation.
#[derive(Debug)]
pub struct ProtobufParser<'a> {
    data: &'a [u8],
    pos: usize,
    /// 1-based number of the current family, for error messages.
    family_no: usize,
    mf: dto::MetricFamily,
    /// Index of the current metric in `mf.metric`.
    metric: usize,
    state: State,
    /// Position within a summary or classic histogram: -2 is `_count`, -1 `_sum`, others
    /// index the quantiles or buckets (one past the buckets is the synthetic `+Inf`).
    field_pos: i64,
    fields_done: bool,
    /// The classic series of the current native histogram are still to come.
    redo_classic: bool,
    /// Next native histogram exemplar (or bucket) to look at.
    exemplar_pos: usize,
    exemplar_returned: bool,
    series: Vec<u8>,
    /// Metric name of the current series (with `_count`, `_sum` or `_bucket`).
    name: String,
    /// Its `quantile` or `le` label.
    magic: Option<(&'static str, String)>,
    ignore_native: bool,
    keep_classic: bool,
    convert_nhcb: bool,
}

impl<'a> ProtobufParser<'a> {
    /// A parser for `data`. With `ignore_native_histograms`, native histograms are read as
    /// classic ones (their classic buckets, or just `_count`, `_sum` and a `+Inf` bucket);
    /// with `keep_classic_histograms`, a native histogram that also has classic buckets is
    /// followed by its classic series.
    pub fn new(
        data: &'a [u8],
        ignore_native_histograms: bool,
        keep_classic_histograms: bool,
    ) -> ProtobufParser<'a> {
        ProtobufParser {
            data,
            pos: 0,
            family_no: 0,
            mf: dto::MetricFamily::default(),
            metric: 0,
            state: State::Start,
            field_pos: -2,
            fields_done: false,
            redo_classic: false,
            exemplar_pos: 0,
            exemplar_returned: false,
            series: Vec::new(),
            name: String::new(),
            magic: None,
            ignore_native: ignore_native_histograms,
            keep_classic: keep_classic_histograms,
            convert_nhcb: false,
        }
    }

    /// With `on`, classic histograms (and native ones read as classic) become native
    /// histograms with custom buckets (schema -53, the finite upper bounds as custom values;
    /// `convert_classic_histograms_to_nhcb`). Classic histograms whose bounds do not increase
    /// stay classic.
    pub fn convert_classic_to_nhcb(mut self, on: bool) -> ProtobufParser<'a> {
        self.convert_nhcb = on;
        self
    }

    fn err(&self, what: impl std::fmt::Display) -> Error {
        Error::Protobuf {
            message: format!(
                "protobuf metric family {} ({:?}): {what}",
                self.family_no, self.mf.name
            ),
        }
    }

    fn typ(&self) -> DtoType {
        DtoType::try_from(self.mf.r#type).unwrap_or(DtoType::Untyped)
    }

    fn cur(&self) -> &dto::Metric {
        static EMPTY: dto::Metric = dto::Metric {
            label: Vec::new(),
            gauge: None,
            counter: None,
            summary: None,
            untyped: None,
            histogram: None,
            timestamp_ms: 0,
        };
        self.mf.metric.get(self.metric).unwrap_or(&EMPTY)
    }

    fn hist(&self) -> Cow<'_, dto::Histogram> {
        match &self.cur().histogram {
            Some(h) => Cow::Borrowed(h),
            None => Cow::Owned(dto::Histogram::default()),
        }
    }

    fn is_histogram_type(&self) -> bool {
        matches!(self.typ(), DtoType::Histogram | DtoType::GaugeHistogram)
    }

    /// Whether the current metric is presented as a native histogram (exponential).
    fn current_is_native(&self) -> bool {
        self.is_histogram_type()
            && !self.ignore_native
            && self.cur().histogram.as_ref().is_some_and(is_native)
    }

    /// Whether the current metric is a classic histogram to present as a native histogram
    /// with custom buckets (a gauge histogram stays classic, as Go's NHCB parser converts
    /// only the `histogram` type, whatever the format).
    fn current_is_nhcb(&self) -> bool {
        self.convert_nhcb
            && self.typ() == DtoType::Histogram
            && !self.current_is_native()
            && increasing_bounds(&self.hist().bucket)
    }

    /// Decodes the next non-empty family; `false` at the end of the body.
    fn next_family(&mut self) -> Result<bool> {
        loop {
            if self.pos >= self.data.len() {
                return Ok(false);
            }
            self.family_no += 1;
            self.mf = dto::MetricFamily::default();
            let mut rest = &self.data[self.pos..];
            let before = rest.len();
            let len = prost::encoding::decode_varint(&mut rest)
                .map_err(|e| self.err(format!("reading the length at byte {}: {e}", self.pos)))?;
            let header = before - rest.len();
            let len = usize::try_from(len)
                .ok()
                .filter(|&l| l <= rest.len())
                .ok_or_else(|| {
                    self.err(format!(
                        "length {len} at byte {} exceeds the {} bytes left",
                        self.pos,
                        rest.len()
                    ))
                })?;
            let start = self.pos + header;
            self.mf = dto::MetricFamily::decode(&rest[..len])
                .map_err(|e| self.err(format!("decoding the message at byte {start}: {e}")))?;
            self.pos = start + len;
            if !self.mf.metric.is_empty() {
                return Ok(true);
            }
        }
    }

    /// Checks the family's name, type and unit (Go's checks when a family starts).
    fn validate_family(&self) -> Result<()> {
        let name = &self.mf.name;
        if name.is_empty() {
            return Err(self.err("invalid metric name: \"\""));
        }
        if DtoType::try_from(self.mf.r#type).is_err() {
            return Err(self.err(format!(
                "unknown metric type for metric {name:?}: {}",
                self.mf.r#type
            )));
        }
        let unit = &self.mf.unit;
        if !unit.is_empty() {
            let base = match name.strip_suffix("_total") {
                Some(b) if self.typ() == DtoType::Counter => b,
                _ => name.as_str(),
            };
            let ok = base
                .strip_suffix(unit.as_str())
                .is_some_and(|b| b.ends_with('_'));
            if !ok {
                let what = if self.typ() == DtoType::Counter && base.len() != name.len() {
                    "counter"
                } else {
                    "metric"
                };
                return Err(self.err(format!("unit {unit:?} not a suffix of {what} {name:?}")));
            }
        }
        Ok(())
    }

    /// Prepares the metric name, magic label and series key of the current entry (Go's
    /// `onSeriesOrHistogramUpdate`; the label set itself is built by [`Parser::labels`]
    /// only, as a scrape loop asks for it on cache misses only), and sets `fields_done`.
    fn update_series(&mut self) -> Result<()> {
        let typ = self.typ();
        let complex = matches!(
            typ,
            DtoType::Summary | DtoType::Histogram | DtoType::GaugeHistogram
        );
        let mut name = std::mem::take(&mut self.name);
        name.clear();
        name.push_str(&self.mf.name);
        if self.state != State::Histogram && complex {
            match self.field_pos {
                -2 => name.push_str("_count"),
                -1 => name.push_str("_sum"),
                _ if typ != DtoType::Summary => name.push_str("_bucket"),
                _ => {}
            }
        }
        let (magic, done) = self.magic_label(typ);
        let labels: &[dto::LabelPair] = self.mf.metric.get(self.metric).map_or(&[], |m| &m.label);
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(labels.len() + 2);
        pairs.push((model::METRIC_NAME, &name));
        for l in labels {
            if l.name.is_empty() {
                return Err(self.err("invalid label name: \"\""));
            }
            pairs.push((&l.name, &l.value));
        }
        if let Some((n, v)) = &magic {
            pairs.push((n, v));
        }
        pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
        if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(self.err(format!("label name {:?} is not unique", w[0].0)));
        }
        let mut key = std::mem::take(&mut self.series);
        key.clear();
        key.extend_from_slice(name.as_bytes());
        for (n, v) in pairs.iter().filter(|(n, _)| *n != model::METRIC_NAME) {
            key.push(SEP);
            key.extend_from_slice(n.as_bytes());
            key.push(SEP);
            key.extend_from_slice(v.as_bytes());
        }
        drop(pairs);
        self.series = key;
        self.name = name;
        self.magic = magic;
        self.fields_done = done;
        Ok(())
    }

    /// The `quantile` or `le` label of a quantile or bucket series, and whether it is the
    /// last field of its summary or classic histogram.
    fn magic_label(&self, typ: DtoType) -> (Option<(&'static str, String)>, bool) {
        let m = self.cur();
        if self.state == State::Histogram || self.field_pos < 0 {
            // A summary without quantiles ends at its sum.
            let done = typ == DtoType::Summary
                && self.field_pos == -1
                && m.summary.as_ref().is_none_or(|s| s.quantile.is_empty());
            return (None, done || self.fields_done);
        }
        let pos = usize::try_from(self.field_pos).unwrap_or(usize::MAX);
        match typ {
            DtoType::Summary => {
                let qs = m.summary.as_ref().map_or(&[][..], |s| &s.quantile);
                let q = qs.get(pos).map_or(f64::NAN, |q| q.quantile);
                (
                    Some(("quantile", format_openmetrics_float(q))),
                    pos + 1 >= qs.len(),
                )
            }
            DtoType::Histogram | DtoType::GaugeHistogram => {
                let bb = m.histogram.as_ref().map_or(&[][..], |h| &h.bucket);
                match bb.get(pos) {
                    None => (Some(("le", "+Inf".to_owned())), true),
                    Some(b) => (
                        Some(("le", format_openmetrics_float(b.upper_bound))),
                        b.upper_bound == f64::INFINITY,
                    ),
                }
            }
            _ => (None, self.fields_done),
        }
    }

    /// Moves to the next metric of the family and prepares its first entry; `false` when
    /// the family is done.
    fn next_metric(&mut self) -> Result<bool> {
        self.metric += 1;
        if self.metric >= self.mf.metric.len() {
            return Ok(false);
        }
        self.start_metric()?;
        Ok(true)
    }

    fn start_metric(&mut self) -> Result<()> {
        self.field_pos = -2;
        self.fields_done = false;
        self.exemplar_pos = 0;
        if self.current_is_native() {
            self.state = State::Histogram;
            self.redo_classic = self.keep_classic && !self.hist().bucket.is_empty();
        } else if self.current_is_nhcb() {
            self.state = State::Histogram;
            self.redo_classic = self.keep_classic;
        } else {
            self.state = State::Series;
            self.redo_classic = false;
        }
        self.update_series()
    }

    /// The native histogram of the current metric, compacted, as an integer or a float
    /// histogram (float when the message's float counts are in use).
    fn native(&self) -> (Option<Histogram>, Option<FloatHistogram>) {
        let h = self.hist();
        let hint = if self.typ() == DtoType::GaugeHistogram {
            model::CounterResetHint::Gauge
        } else {
            model::CounterResetHint::Unknown
        };
        if !self.current_is_native() {
            return nhcb(&h, hint);
        }
        let spans = |s: &[dto::BucketSpan]| -> Vec<model::Span> {
            s.iter()
                .map(|s| model::Span {
                    offset: s.offset,
                    length: s.length,
                })
                .collect()
        };
        if h.sample_count_float > 0.0 || h.zero_count_float > 0.0 {
            let mut fh = FloatHistogram {
                counter_reset_hint: hint,
                schema: h.schema,
                zero_threshold: h.zero_threshold,
                zero_count: h.zero_count_float,
                count: h.sample_count_float,
                sum: canonical_nan(h.sample_sum),
                positive_spans: spans(&h.positive_span),
                negative_spans: spans(&h.negative_span),
                positive_buckets: h.positive_count.clone(),
                negative_buckets: h.negative_count.clone(),
                custom_values: Vec::new(),
            };
            if spans_match(&fh.positive_spans, fh.positive_buckets.len())
                && spans_match(&fh.negative_spans, fh.negative_buckets.len())
            {
                fh.compact(0);
            }
            return (None, Some(fh));
        }
        let mut sh = Histogram {
            counter_reset_hint: hint,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count: h.zero_count,
            count: h.sample_count,
            sum: canonical_nan(h.sample_sum),
            positive_spans: spans(&h.positive_span),
            negative_spans: spans(&h.negative_span),
            positive_buckets: h.positive_delta.clone(),
            negative_buckets: h.negative_delta.clone(),
            custom_values: Vec::new(),
        };
        if spans_match(&sh.positive_spans, sh.positive_buckets.len())
            && spans_match(&sh.negative_spans, sh.negative_buckets.len())
        {
            sh.compact(0);
        }
        (Some(sh), None)
    }

    fn timestamp(&self) -> Option<Timestamp> {
        let t = self.cur().timestamp_ms;
        // As in Go, 0 means no timestamp: proto3 cannot tell it from unset.
        (t != 0).then_some(t)
    }
}

/// Go's `isNativeHistogram`: any span, a zero threshold or zero observations in the zero
/// bucket. An empty native histogram signals itself with a no-op span.
fn is_native(h: &dto::Histogram) -> bool {
    !h.positive_span.is_empty()
        || !h.negative_span.is_empty()
        || h.zero_threshold > 0.0
        || h.zero_count > 0
}

/// Whether the finite upper bounds of classic buckets strictly increase (and no bound is NaN
/// or follows `+Inf`), so they can be custom bucket bounds.
fn increasing_bounds(buckets: &[dto::Bucket]) -> bool {
    buckets
        .windows(2)
        .all(|w| w[0].upper_bound < w[1].upper_bound)
        && buckets.iter().all(|b| !b.upper_bound.is_nan())
}

/// A classic histogram as a native histogram with custom buckets (Go's `convertnhcb`): the
/// finite upper bounds become custom values, cumulative counts become per-bucket counts, and
/// the `+Inf` bucket holds what the sample count adds beyond the last finite bucket. Float
/// counts give a float histogram. Empty buckets are dropped by compaction.
fn nhcb(
    h: &dto::Histogram,
    hint: model::CounterResetHint,
) -> (Option<Histogram>, Option<FloatHistogram>) {
    let custom_values: Vec<f64> = h
        .bucket
        .iter()
        .map(|b| b.upper_bound)
        .filter(|ub| ub.is_finite())
        .collect();
    let n = custom_values.len() + 1;
    let length = u32::try_from(n).unwrap_or(u32::MAX);
    let spans = vec![model::Span { offset: 0, length }];
    let float =
        h.sample_count_float > 0.0 || h.bucket.iter().any(|b| b.cumulative_count_float > 0.0);
    let cum = |b: &dto::Bucket| {
        if b.cumulative_count_float > 0.0 {
            b.cumulative_count_float
        } else {
            b.cumulative_count as f64
        }
    };
    if float {
        let count = if h.sample_count_float > 0.0 {
            h.sample_count_float
        } else {
            h.sample_count as f64
        };
        let mut buckets = Vec::with_capacity(n);
        let mut prev = 0.0;
        for b in h.bucket.iter().filter(|b| b.upper_bound.is_finite()) {
            buckets.push(cum(b) - prev);
            prev = cum(b);
        }
        buckets.push(count - prev);
        let mut fh = FloatHistogram {
            counter_reset_hint: hint,
            schema: model::histogram::CUSTOM_BUCKETS_SCHEMA,
            count,
            sum: canonical_nan(h.sample_sum),
            positive_spans: spans,
            positive_buckets: buckets,
            custom_values,
            ..Default::default()
        };
        fh.compact(0);
        return (None, Some(fh));
    }
    let mut deltas = Vec::with_capacity(n);
    let (mut prev_cum, mut prev_count) = (0u64, 0i64);
    let mut push = |c: i64| {
        deltas.push(c.wrapping_sub(prev_count));
        prev_count = c;
    };
    for b in h.bucket.iter().filter(|b| b.upper_bound.is_finite()) {
        push(b.cumulative_count.wrapping_sub(prev_cum) as i64);
        prev_cum = b.cumulative_count;
    }
    push(h.sample_count.wrapping_sub(prev_cum) as i64);
    let mut sh = Histogram {
        counter_reset_hint: hint,
        schema: model::histogram::CUSTOM_BUCKETS_SCHEMA,
        count: h.sample_count,
        sum: canonical_nan(h.sample_sum),
        positive_spans: spans,
        positive_buckets: deltas,
        custom_values,
        ..Default::default()
    };
    sh.compact(0);
    (Some(sh), None)
}

/// Whether `spans` describe exactly `n` buckets. Only then are buckets compacted; other
/// histograms are left for storage validation to report.
fn spans_match(spans: &[model::Span], n: usize) -> bool {
    spans.iter().map(|s| u64::from(s.length)).sum::<u64>() == n as u64
}

fn exemplar_from(e: &dto::Exemplar) -> Exemplar {
    Exemplar {
        labels: Labels::from_pairs(e.label.iter().map(|l| (l.name.as_str(), l.value.as_str()))),
        value: e.value,
        timestamp: e.timestamp.map(|t| t.millis()),
    }
}

impl<'a> ProtobufParser<'a> {
    fn advance(&mut self) -> Result<Option<Entry>> {
        loop {
            match self.state {
                State::Start => {
                    if !self.next_family()? {
                        return Ok(None);
                    }
                    self.validate_family()?;
                    self.metric = 0;
                    self.field_pos = -2;
                    self.fields_done = false;
                    self.exemplar_pos = 0;
                    self.series = self.mf.name.as_bytes().to_vec();
                    self.state = State::Help;
                    return Ok(Some(Entry::Help));
                }
                State::Help => {
                    self.state = if self.mf.unit.is_empty() {
                        State::Type
                    } else {
                        State::Unit
                    };
                    return Ok(Some(if self.state == State::Unit {
                        Entry::Unit
                    } else {
                        Entry::Type
                    }));
                }
                State::Unit => {
                    self.state = State::Type;
                    return Ok(Some(Entry::Type));
                }
                State::Type => {
                    self.start_metric()?;
                    return Ok(Some(self.entry()));
                }
                State::Series => {
                    let complex = matches!(
                        self.typ(),
                        DtoType::Summary | DtoType::Histogram | DtoType::GaugeHistogram
                    );
                    if complex && !self.fields_done {
                        self.field_pos += 1;
                        self.update_series()?;
                        return Ok(Some(Entry::Series));
                    }
                    if self.next_metric()? {
                        return Ok(Some(self.entry()));
                    }
                    self.state = State::Start;
                }
                State::Histogram => {
                    if self.redo_classic {
                        self.redo_classic = false;
                        self.field_pos = -2;
                        self.fields_done = false;
                        self.exemplar_pos = 0;
                        self.state = State::Series;
                        self.update_series()?;
                        return Ok(Some(Entry::Series));
                    }
                    if self.next_metric()? {
                        return Ok(Some(self.entry()));
                    }
                    self.state = State::Start;
                }
            }
        }
    }

    fn entry(&self) -> Entry {
        if self.state == State::Histogram {
            Entry::Histogram
        } else {
            Entry::Series
        }
    }
}

impl Parser for ProtobufParser<'_> {
    fn next(&mut self) -> Result<Option<Entry>> {
        self.exemplar_returned = false;
        self.advance()
    }

    fn series(&self) -> (&[u8], Option<Timestamp>, f64) {
        let m = self.cur();
        let v = match self.typ() {
            DtoType::Counter => m.counter.as_ref().map_or(0.0, |c| c.value),
            DtoType::Gauge => m.gauge.as_ref().map_or(0.0, |g| g.value),
            DtoType::Untyped => m.untyped.as_ref().map_or(0.0, |u| u.value),
            DtoType::Summary => {
                let s = m.summary.as_ref();
                match self.field_pos {
                    -2 => s.map_or(0.0, |s| s.sample_count as f64),
                    -1 => s.map_or(0.0, |s| s.sample_sum),
                    p => usize::try_from(p)
                        .ok()
                        .and_then(|p| s?.quantile.get(p))
                        .map_or(0.0, |q| q.value),
                }
            }
            DtoType::Histogram | DtoType::GaugeHistogram => {
                let h = self.hist();
                let count = || {
                    if h.sample_count_float != 0.0 {
                        h.sample_count_float
                    } else {
                        h.sample_count as f64
                    }
                };
                match self.field_pos {
                    -2 => count(),
                    -1 => h.sample_sum,
                    p => match usize::try_from(p).ok().and_then(|p| h.bucket.get(p)) {
                        None => count(),
                        Some(b) if b.cumulative_count_float != 0.0 => b.cumulative_count_float,
                        Some(b) => b.cumulative_count as f64,
                    },
                }
            }
        };
        (&self.series, self.timestamp(), canonical_nan(v))
    }

    fn histogram(
        &self,
    ) -> (
        &[u8],
        Option<Timestamp>,
        Option<Histogram>,
        Option<FloatHistogram>,
    ) {
        if self.state != State::Histogram {
            return (&self.series, None, None, None);
        }
        let (h, fh) = self.native();
        (&self.series, self.timestamp(), h, fh)
    }

    fn help(&self) -> (Cow<'_, str>, Cow<'_, str>) {
        (Cow::Borrowed(&self.mf.name), Cow::Borrowed(&self.mf.help))
    }

    fn metric_type(&self) -> (Cow<'_, str>, MetricType) {
        let t = match self.typ() {
            DtoType::Counter => MetricType::Counter,
            DtoType::Gauge => MetricType::Gauge,
            DtoType::Histogram => MetricType::Histogram,
            DtoType::GaugeHistogram => MetricType::GaugeHistogram,
            DtoType::Summary => MetricType::Summary,
            DtoType::Untyped => MetricType::Unknown,
        };
        (Cow::Borrowed(&self.mf.name), t)
    }

    fn unit(&self) -> (Cow<'_, str>, Cow<'_, str>) {
        (Cow::Borrowed(&self.mf.name), Cow::Borrowed(&self.mf.unit))
    }

    fn comment(&self) -> &[u8] {
        &[]
    }

    fn labels(&self) -> Result<Labels> {
        let own = self
            .cur()
            .label
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()));
        let magic = self.magic.as_ref().map(|(n, v)| (*n, v.as_str()));
        Ok(Labels::from_pairs(
            std::iter::once((model::METRIC_NAME, self.name.as_str()))
                .chain(own)
                .chain(magic),
        ))
    }

    /// For a native histogram, every exemplar with a timestamp, one per call (from its
    /// `exemplars`, or else from its classic buckets); for other series, the one exemplar
    /// of a counter or classic bucket, once.
    fn exemplar(&mut self) -> Option<Exemplar> {
        if self.exemplar_returned && self.state == State::Series {
            return None;
        }
        let found = match self.typ() {
            DtoType::Counter => self
                .cur()
                .counter
                .as_ref()
                .and_then(|c| c.exemplar.as_ref())
                .map(exemplar_from),
            DtoType::Histogram | DtoType::GaugeHistogram => {
                let h = self.cur().histogram.as_ref()?;
                if self.state == State::Series {
                    // A classic bucket's exemplar (none on `_count` and `_sum`).
                    usize::try_from(self.field_pos)
                        .ok()
                        .and_then(|p| h.bucket.get(p))
                        .and_then(|b| b.exemplar.as_ref())
                        .map(exemplar_from)
                } else {
                    // Native: the histogram's own exemplars, or else its buckets'; only
                    // those with a timestamp.
                    let candidates: Box<dyn Iterator<Item = Option<&dto::Exemplar>>> =
                        if h.exemplars.is_empty() {
                            Box::new(h.bucket.iter().map(|b| b.exemplar.as_ref()))
                        } else {
                            Box::new(h.exemplars.iter().map(Some))
                        };
                    let mut pos = self.exemplar_pos;
                    let mut found = None;
                    for e in candidates.skip(self.exemplar_pos) {
                        pos += 1;
                        if let Some(e) = e
                            && e.timestamp.is_some()
                        {
                            found = Some(exemplar_from(e));
                            break;
                        }
                    }
                    self.exemplar_pos = pos;
                    found
                }
            }
            _ => None,
        };
        if found.is_some() {
            self.exemplar_returned = true;
        }
        found
    }

    fn created_timestamp(&mut self) -> Option<Timestamp> {
        let m = self.cur();
        let ct = match self.typ() {
            DtoType::Counter => m.counter.as_ref().and_then(|c| c.created_timestamp),
            DtoType::Summary => m.summary.as_ref().and_then(|s| s.created_timestamp),
            DtoType::Histogram | DtoType::GaugeHistogram => {
                m.histogram.as_ref().and_then(|h| h.created_timestamp)
            }
            _ => None,
        };
        ct.map(|t| t.millis())
    }
}

#[cfg(test)]
mod tests;
