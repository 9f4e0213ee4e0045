//! `/federate`: the latest sample of every series matching `match[]`, in the exposition format the `Accept` header negotiates (text 0.0.4 or delimited protobuf, Go's `expfmt.Negotiate`), with the external labels attached (Prometheus's web/federate.go).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use model::{CounterResetHint, FloatHistogram, Labels, METRIC_NAME};
use storage::{SelectHints, ValueType};

use crate::handler::Inner;
use crate::params::Form;
use crate::status::unix_millis;

/// The outcome of a federation request: the Content-Type and body, or an HTTP status and
/// plain-text error.
pub(crate) type Federation = Result<(String, Vec<u8>), (http::StatusCode, String)>;

/// The latest value of a series: a float or a native histogram (as floats, as Go reads it).
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Float(f64),
    Histogram(FloatHistogram),
}

/// A sample: timestamp (ms) and value.
type Sample = (i64, Value);

/// `text/plain; version=0.0.4; charset=utf-8`, Go's `expfmt.FmtText`.
const FMT_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Go's `expfmt.FmtProtoDelim`.
const FMT_PROTO_DELIM: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// The format of a federation answer and its name escaping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Text(Escaping),
    ProtoDelimited(Escaping),
}

/// Go's `model.EscapingScheme` of the answer's names: its `escaping=` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Escaping {
    /// `underscores` (the default): characters outside the legacy name set become `_`.
    Underscores,
    /// `allow-utf-8`, `dots` or `values`: names are written as they are.
    Other(&'static str),
}

impl Escaping {
    fn name(self) -> &'static str {
        match self {
            Escaping::Underscores => "underscores",
            Escaping::Other(n) => n,
        }
    }

    /// Go's `model.EscapeName` for the schemes implemented here.
    fn escape(self, name: &str) -> std::borrow::Cow<'_, str> {
        let legacy = |i: usize, c: char| {
            c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
        };
        match self {
            Escaping::Underscores
                if !name.is_empty() && !name.chars().enumerate().all(|(i, c)| legacy(i, c)) =>
            {
                name.chars()
                    .enumerate()
                    .map(|(i, c)| if legacy(i, c) { c } else { '_' })
                    .collect::<String>()
                    .into()
            }
            _ => name.into(),
        }
    }
}

impl Format {
    /// The Content-Type of the answer, with its escaping parameter.
    pub(crate) fn content_type(self) -> String {
        let (base, esc) = match self {
            Format::Text(e) => (FMT_TEXT, e),
            Format::ProtoDelimited(e) => (FMT_PROTO_DELIM, e),
        };
        format!("{base}; escaping={}", esc.name())
    }

    fn escaping(self) -> Escaping {
        match self {
            Format::Text(e) | Format::ProtoDelimited(e) => e,
        }
    }
}

/// Go's `expfmt.Negotiate`: the first acceptable format by quality (ties in header order),
/// delimited protobuf or text 0.0.4, else text; an `escaping` parameter of any entry looked
/// at chooses the name escaping. The protobuf text encodings are not offered.
pub(crate) fn negotiate(accept: &str) -> Format {
    /// One Accept entry: quality, position, media type, parameters.
    type Entry<'a> = (f64, usize, &'a str, Vec<(String, String)>);
    let mut entries: Vec<Entry<'_>> = Vec::new();
    for (i, part) in accept.split(',').enumerate() {
        let mut fields = part.split(';');
        let media = fields.next().unwrap_or("").trim();
        if media.is_empty() {
            continue;
        }
        let mut q = 1.0;
        let mut params = Vec::new();
        for f in fields {
            let Some((k, v)) = f.split_once('=') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim().trim_matches('"'));
            if k == "q" {
                q = v.parse().unwrap_or(0.0);
            } else {
                params.push((k.to_owned(), v.to_owned()));
            }
        }
        entries.push((q, i, media, params));
    }
    // goautoneg sorts by quality (stable), then by specificity of the type.
    entries.sort_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| specificity(b.2).cmp(&specificity(a.2)))
            .then(a.1.cmp(&b.1))
    });
    let mut escaping = Escaping::Underscores;
    for (_, _, media, params) in &entries {
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        match param("escaping") {
            Some("underscores") => escaping = Escaping::Underscores,
            Some("allow-utf-8") => escaping = Escaping::Other("allow-utf-8"),
            Some("dots") => escaping = Escaping::Other("dots"),
            Some("values") => escaping = Escaping::Other("values"),
            _ => {}
        }
        if *media == "application/vnd.google.protobuf"
            && param("proto") == Some("io.prometheus.client.MetricFamily")
            && param("encoding") == Some("delimited")
        {
            return Format::ProtoDelimited(escaping);
        }
        if *media == "text/plain" && matches!(param("version"), None | Some("0.0.4")) {
            return Format::Text(escaping);
        }
    }
    Format::Text(escaping)
}

/// goautoneg's tie-break: `type/subtype` before `type/*` before `*/*`.
fn specificity(media: &str) -> u8 {
    match media.split_once('/') {
        Some(("*", _)) => 0,
        Some((_, "*")) => 1,
        _ => 2,
    }
}

/// Answers a federation request at the current time in the format `accept` negotiates.
pub(crate) async fn federate(inner: &Arc<Inner>, form: &Form, accept: &str) -> Federation {
    let now = unix_millis(SystemTime::now());
    federate_at(inner, form, negotiate(accept), now).await
}

/// Answers a federation request at `now` (ms), counting errors (the storage's, not the
/// request's) and the storage's warnings in `prometheus_web_federation_*_total`.
pub(crate) async fn federate_at(
    inner: &Arc<Inner>,
    form: &Form,
    format: Format,
    now: i64,
) -> Federation {
    // Go's `parser.ParseMetricSelector`: a selector of only empty matchers is accepted here
    // (unlike the API's match[]).
    let mut sets = Vec::new();
    for v in form.values("match[]") {
        let matchers = promql::parser::parse_metric_selector(v)
            .map_err(|e| (http::StatusCode::BAD_REQUEST, format!("{e}\n")))?;
        sets.push(matchers);
    }
    let lookback =
        i64::try_from(inner.opts.engine.opts().lookback_delta.as_millis()).unwrap_or(i64::MAX);
    let (mint, maxt) = (now.saturating_sub(lookback), now);
    let external = inner
        .opts
        .status
        .config()
        .map(|c| c.global.external_labels())
        .unwrap_or_default();
    let queryable = inner.opts.queryable.clone();
    let counters = inner.clone();
    let task = tokio::task::spawn_blocking(move || -> Federation {
        let querier = queryable.querier(mint, maxt).map_err(|e| {
            let status = if matches!(e, storage::Error::NotReady) {
                http::StatusCode::SERVICE_UNAVAILABLE
            } else {
                http::StatusCode::INTERNAL_SERVER_ERROR
            };
            (status, format!("{e}\n"))
        })?;
        let hints = SelectHints {
            start: mint,
            end: maxt,
            func: Some("series".into()),
            ..SelectHints::default()
        };
        // Latest sample of each series, deduplicated across match[] sets.
        let mut latest: BTreeMap<Labels, Sample> = BTreeMap::new();
        for matchers in &sets {
            let mut set = querier.select(true, Some(&hints), matchers);
            while let Some(series) = set.next() {
                let series = series
                    .map_err(|e| (http::StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")))?;
                if let Some(sample) = last_sample(series.iterator().as_mut(), mint, maxt) {
                    latest.insert(series.labels().clone(), sample);
                }
            }
            let warnings = set.warnings().len();
            if warnings > 0 {
                tracing::debug!(?warnings, "federation select returned warnings");
                #[allow(clippy::cast_precision_loss)]
                counters
                    .web_metrics
                    .federation_warnings
                    .add(warnings as f64);
            }
        }
        Ok((format.content_type(), render(&latest, &external, format)))
    });
    let answer = task.await.map_err(|e| {
        (
            http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("federation failed: {e}\n"),
        )
    });
    let answer = answer.and_then(|a| a);
    if answer.is_err() {
        inner.web_metrics.federation_errors.inc();
    }
    answer
}

/// The newest sample in `[mint, maxt]`, unless it is a stale marker (the exposition formats
/// have none; a histogram is stale by its sum).
fn last_sample(it: &mut dyn storage::SampleIterator, mint: i64, maxt: i64) -> Option<Sample> {
    let mut last = None;
    let mut kind = it.seek(mint);
    while kind != ValueType::None {
        let t = it.at_t();
        if t > maxt {
            break;
        }
        last = Some(match kind {
            ValueType::Histogram | ValueType::FloatHistogram => {
                (t, Value::Histogram(it.at_float_histogram().1))
            }
            _ => (t, Value::Float(it.at().1)),
        });
        kind = it.next();
    }
    match last {
        Some((_, Value::Float(v))) if model::value::is_stale_nan(v) => None,
        Some((_, Value::Histogram(ref h))) if model::value::is_stale_nan(h.sum) => None,
        other => other,
    }
}

/// The family a sample goes to: its name, whether it is a histogram, and a gauge one.
fn family_key<'a>(labels: &'a Labels, value: &Value) -> (&'a str, bool, bool) {
    let name = labels.metric_name().unwrap_or("");
    match value {
        Value::Float(_) => (name, false, false),
        Value::Histogram(h) => (name, true, h.counter_reset_hint == CounterResetHint::Gauge),
    }
}

/// Writes the samples grouped by metric name (sorted), a new family whenever the name, the
/// kind (float or histogram) or the histogram's gauge-ness changes, as Go's federation does:
/// floats `untyped`, native histograms `histogram` or `gauge_histogram` (protobuf only; the
/// text format has no native histograms, so they are left out). Each series' own labels
/// come first, then the external labels it lacks, `instance=""` among them when the
/// external labels have no `instance` (Prometheus's federation always adds it); nameless
/// series are skipped.
fn render(latest: &BTreeMap<Labels, Sample>, external: &Labels, format: Format) -> Vec<u8> {
    let mut by_name: BTreeMap<&str, Vec<(&Labels, &Sample)>> = BTreeMap::new();
    for (labels, sample) in latest {
        if let Some(name) = labels.metric_name().filter(|n| !n.is_empty()) {
            by_name.entry(name).or_default().push((labels, sample));
        }
    }
    let mut extra: Vec<(&str, &str)> = external.iter().collect();
    if !external.has("instance") {
        extra.push(("instance", ""));
        extra.sort_unstable();
    }
    let esc = format.escaping();
    let mut out = Vec::new();
    let mut family: Option<(&str, bool, bool)> = None;
    let mut metrics: Vec<u8> = Vec::new();
    for (labels, (t, value)) in by_name.into_values().flatten() {
        if matches!(value, Value::Histogram(_)) && matches!(format, Format::Text(_)) {
            continue;
        }
        let key = family_key(labels, value);
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .filter(|(n, v)| *n != METRIC_NAME && !v.is_empty())
            .chain(
                extra
                    .iter()
                    .copied()
                    .filter(|(n, _)| labels.get(n).is_none_or(str::is_empty)),
            )
            .collect();
        match format {
            Format::Text(_) => {
                if family != Some(key) {
                    out.extend_from_slice(
                        format!("# TYPE {} untyped\n", esc.escape(key.0)).as_bytes(),
                    );
                    family = Some(key);
                }
                if let Value::Float(v) = value {
                    write_text_sample(&mut out, key.0, &pairs, *t, *v, esc);
                }
            }
            Format::ProtoDelimited(_) => {
                if family != Some(key) {
                    if let Some(prev) = family {
                        write_family(&mut out, prev, &metrics, esc);
                    }
                    metrics.clear();
                    family = Some(key);
                }
                let mut m = Vec::new();
                for (n, v) in &pairs {
                    let mut l = Vec::new();
                    pb_bytes(&mut l, 1, esc.escape(n).as_bytes());
                    pb_bytes(&mut l, 2, v.as_bytes());
                    pb_bytes(&mut m, 1, &l);
                }
                match value {
                    Value::Float(v) => {
                        let mut u = Vec::new();
                        pb_double(&mut u, 1, *v);
                        pb_bytes(&mut m, 5, &u);
                        pb_varint_field(&mut m, 6, *t as u64);
                    }
                    Value::Histogram(h) => {
                        pb_varint_field(&mut m, 6, *t as u64);
                        pb_bytes(&mut m, 7, &histogram_message(h));
                    }
                }
                pb_bytes(&mut metrics, 4, &m);
            }
        }
    }
    if let (Format::ProtoDelimited(_), Some(prev)) = (format, family) {
        write_family(&mut out, prev, &metrics, esc);
    }
    out
}

fn write_text_sample(
    out: &mut Vec<u8>,
    name: &str,
    pairs: &[(&str, &str)],
    t: i64,
    v: f64,
    esc: Escaping,
) {
    let mut line = esc.escape(name).into_owned();
    for (i, (n, val)) in pairs.iter().enumerate() {
        line.push(if i == 0 { '{' } else { ',' });
        let _ = write!(
            line,
            "{}=\"{}\"",
            esc.escape(n),
            model::exposition::escape_label_value(val)
        );
    }
    if !pairs.is_empty() {
        line.push('}');
    }
    let _ = writeln!(line, " {} {t}", model::strconv::format_float_g(v));
    out.extend_from_slice(line.as_bytes());
}

/// One delimited `MetricFamily` (name, type, metrics), as Go's proto2 encoder writes it.
fn write_family(
    out: &mut Vec<u8>,
    (name, hist, gauge): (&str, bool, bool),
    metrics: &[u8],
    esc: Escaping,
) {
    // client_model's MetricType: UNTYPED 3, HISTOGRAM 4, GAUGE_HISTOGRAM 5.
    let typ = match (hist, gauge) {
        (false, _) => 3,
        (true, false) => 4,
        (true, true) => 5,
    };
    let mut f = Vec::new();
    pb_bytes(&mut f, 1, esc.escape(name).as_bytes());
    pb_varint_field(&mut f, 3, typ);
    f.extend_from_slice(metrics);
    pb_varint(out, f.len() as u64);
    out.extend_from_slice(&f);
}

/// A native histogram as Go's federation fills `dto.Histogram` from a float histogram:
/// sum, float count, schema, zero threshold, float zero count (always), then spans and
/// absolute bucket counts where there are any.
fn histogram_message(h: &FloatHistogram) -> Vec<u8> {
    let mut out = Vec::new();
    pb_double(&mut out, 2, h.sum);
    pb_double(&mut out, 4, h.count);
    pb_varint_field(&mut out, 5, zigzag(i64::from(h.schema)));
    pb_double(&mut out, 6, h.zero_threshold);
    pb_double(&mut out, 8, h.zero_count);
    let spans = |out: &mut Vec<u8>, field: u32, spans: &[model::Span]| {
        for s in spans {
            let mut b = Vec::new();
            pb_varint_field(&mut b, 1, zigzag(i64::from(s.offset)));
            pb_varint_field(&mut b, 2, u64::from(s.length));
            pb_bytes(out, field, &b);
        }
    };
    spans(&mut out, 9, &h.negative_spans);
    for c in &h.negative_buckets {
        pb_double(&mut out, 11, *c);
    }
    spans(&mut out, 12, &h.positive_spans);
    for c in &h.positive_buckets {
        pb_double(&mut out, 14, *c);
    }
    out
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn pb_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn pb_varint_field(out: &mut Vec<u8>, field: u32, n: u64) {
    pb_varint(out, u64::from(field << 3));
    pb_varint(out, n);
}

fn pb_double(out: &mut Vec<u8>, field: u32, v: f64) {
    pb_varint(out, u64::from(field << 3 | 1));
    out.extend_from_slice(&v.to_le_bytes());
}

fn pb_bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    pb_varint(out, u64::from(field << 3 | 2));
    pb_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(v: f64) -> Value {
        Value::Float(v)
    }

    #[test]
    fn renders_families_with_external_labels_and_an_empty_instance() {
        let mut latest = BTreeMap::new();
        latest.insert(
            Labels::from_pairs([("__name__", "up"), ("job", "a"), ("dc", "own")]),
            (1_000, float(1.0)),
        );
        latest.insert(
            Labels::from_pairs([("__name__", "go_goroutines"), ("job", "a")]),
            (2_000, float(1_234_567.0)),
        );
        let external = Labels::from_pairs([("dc", "eu"), ("replica", "x\"y")]);
        let text = render(&latest, &external, Format::Text(Escaping::Underscores));
        assert_eq!(
            String::from_utf8(text).unwrap(),
            concat!(
                "# TYPE go_goroutines untyped\n",
                "go_goroutines{job=\"a\",dc=\"eu\",instance=\"\",replica=\"x\\\"y\"} 1.234567e+06 2000\n",
                "# TYPE up untyped\n",
                "up{dc=\"own\",job=\"a\",instance=\"\",replica=\"x\\\"y\"} 1 1000\n",
            )
        );
    }

    #[test]
    fn accept_headers_negotiate_as_expfmt() {
        let proto = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";
        assert_eq!(negotiate(""), Format::Text(Escaping::Underscores));
        assert_eq!(
            negotiate(proto),
            Format::ProtoDelimited(Escaping::Underscores)
        );
        assert_eq!(
            negotiate(&format!("text/plain;q=0.5,{proto};q=0.7")),
            Format::ProtoDelimited(Escaping::Underscores)
        );
        assert_eq!(
            negotiate(&format!("{proto};q=0.1,text/plain;version=0.0.4;q=0.5")),
            Format::Text(Escaping::Underscores)
        );
        // OpenMetrics is not offered: text.
        assert_eq!(
            negotiate("application/openmetrics-text;version=1.0.0"),
            Format::Text(Escaping::Underscores)
        );
        assert_eq!(
            negotiate(&format!("{proto};escaping=allow-utf-8")).content_type(),
            format!("{FMT_PROTO_DELIM}; escaping=allow-utf-8")
        );
        assert_eq!(
            Format::Text(Escaping::Underscores).content_type(),
            "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"
        );
        assert_eq!(Escaping::Underscores.escape("a.b-c"), "a_b_c");
        assert_eq!(Escaping::Underscores.escape("ok:name_1"), "ok:name_1");
    }

    /// The bytes Prometheus 3.5's federation writes for a float and a gauge native
    /// histogram family (checked against its answer by `cargo xtask wirediff`).
    #[test]
    fn protobuf_families_are_written_as_go_writes_them() {
        let mut latest = BTreeMap::new();
        latest.insert(
            Labels::from_pairs([("__name__", "a"), ("instance", "i")]),
            (5, float(0.0)),
        );
        let h = FloatHistogram {
            counter_reset_hint: CounterResetHint::Gauge,
            schema: 1,
            count: 3.0,
            sum: 7.0,
            positive_spans: vec![model::Span {
                offset: 1,
                length: 2,
            }],
            positive_buckets: vec![1.0, 2.0],
            ..FloatHistogram::default()
        };
        latest.insert(
            Labels::from_pairs([("__name__", "g"), ("instance", "i")]),
            (6, Value::Histogram(h)),
        );
        let got = render(
            &latest,
            &Labels::empty(),
            Format::ProtoDelimited(Escaping::Underscores),
        );
        let mut want = Vec::new();
        // Family "a": untyped, one metric with label instance="i", value 0 (written), ts 5.
        let mut metric = vec![0x0a, 0x0d, 0x0a, 0x08];
        metric.extend_from_slice(b"instance");
        metric.extend_from_slice(&[0x12, 0x01, b'i']);
        let mut m_a = metric.clone();
        m_a.extend_from_slice(&[0x2a, 0x09, 0x09]);
        m_a.extend_from_slice(&0.0f64.to_le_bytes());
        m_a.extend_from_slice(&[0x30, 0x05]);
        let mut fam = vec![0x0a, 0x01, b'a', 0x18, 0x03, 0x22, m_a.len() as u8];
        fam.extend_from_slice(&m_a);
        want.push(fam.len() as u8);
        want.extend_from_slice(&fam);
        // Family "g": gauge histogram.
        let mut hist = Vec::new();
        for (field, v) in [(2u8, 7.0f64), (4, 3.0)] {
            hist.push(field << 3 | 1);
            hist.extend_from_slice(&v.to_le_bytes());
        }
        hist.extend_from_slice(&[0x28, 0x02, 0x31]);
        hist.extend_from_slice(&0.0f64.to_le_bytes());
        hist.push(0x41);
        hist.extend_from_slice(&0.0f64.to_le_bytes());
        hist.extend_from_slice(&[0x62, 0x04, 0x08, 0x02, 0x10, 0x02]);
        for v in [1.0f64, 2.0] {
            hist.push(0x71);
            hist.extend_from_slice(&v.to_le_bytes());
        }
        let mut m_g = metric;
        m_g.extend_from_slice(&[0x30, 0x06, 0x3a, hist.len() as u8]);
        m_g.extend_from_slice(&hist);
        let mut fam = vec![0x0a, 0x01, b'g', 0x18, 0x05, 0x22, m_g.len() as u8];
        fam.extend_from_slice(&m_g);
        want.push(fam.len() as u8);
        want.extend_from_slice(&fam);
        assert_eq!(got, want);
        // The text format leaves native histograms out.
        let text = render(
            &latest,
            &Labels::empty(),
            Format::Text(Escaping::Underscores),
        );
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "# TYPE a untyped\na{instance=\"i\"} 0 5\n"
        );
    }

    #[test]
    fn stale_latest_samples_are_left_out() {
        let db = storage::MemStorage::new();
        let l = Labels::from_pairs([("__name__", "x")]);
        {
            use storage::Appendable as _;
            let mut app = db.appender();
            app.append(0, &l, 1_000, 1.0).unwrap();
            app.append(0, &l, 2_000, model::value::stale_nan()).unwrap();
            app.commit().unwrap();
        }
        use storage::Queryable as _;
        let q = db.querier(0, 10_000).unwrap();
        let mut set = q.select(true, None, &[]);
        let s = set.next().unwrap().unwrap();
        assert_eq!(last_sample(s.iterator().as_mut(), 0, 10_000), None);
        assert_eq!(
            last_sample(s.iterator().as_mut(), 0, 1_500),
            Some((1_000, Value::Float(1.0)))
        );
    }
}
