//! Query results: scalars, strings, instant vectors and range matrices, plus annotations.

use std::fmt;
use std::sync::Arc;

use model::strconv::format_float_f;
use model::{FloatHistogram, Labels, Timestamp};

/// One float point of a series: a timestamp (ms) and a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FPoint {
    /// Milliseconds since the epoch.
    pub t: Timestamp,
    /// The value.
    pub f: f64,
}

/// Go's `FPoint.String()`: `1.5 @[1000]`.
impl fmt::Display for FPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} @[{}]", format_float_f(self.f), self.t)
    }
}

/// One native-histogram point of a series: a timestamp (ms) and a histogram (Go's
/// `promql.HPoint`). Histograms are shared, never mutated in place.
#[derive(Debug, Clone, PartialEq)]
pub struct HPoint {
    /// Milliseconds since the epoch.
    pub t: Timestamp,
    /// The histogram.
    pub h: Arc<FloatHistogram>,
}

impl HPoint {
    /// The number of samples this point counts as in query limits and statistics (Go's
    /// `HPoint.size`: the histogram's memory size in units of 16 bytes, rounded).
    pub fn size(&self) -> usize {
        histogram_samples(&self.h)
    }
}

/// `limit_ratio`'s hash of a label set: XXH64 of the labels in Go's default
/// (`stringlabels`) layout, each name and value preceded by its length as a uvarint. That
/// is `Labels.Hash` in the Prometheus 3 builds (and so decides which series
/// `limit_ratio` keeps), not the `name 0xff value 0xff` layout of [`Labels::hash`].
pub(crate) fn stringlabels_hash(labels: &Labels) -> u64 {
    let mut buf = Vec::with_capacity(128);
    let mut put = |s: &str| {
        let mut n = s.len();
        while n >= 0x80 {
            buf.push((n & 0x7f) as u8 | 0x80);
            n >>= 7;
        }
        buf.push(n as u8);
        buf.extend_from_slice(s.as_bytes());
    };
    for (name, value) in labels.iter() {
        put(name);
        put(value);
    }
    xxhash_rust::xxh64::xxh64(&buf, 0)
}

/// The number of samples a histogram counts as (Go's `(FloatHistogram.Size() + 8) / 16`).
pub fn histogram_samples(h: &FloatHistogram) -> usize {
    // The struct is 168 bytes on 64-bit Go; every span and bucket adds 8.
    let size = 168
        + 8 * (h.positive_spans.len()
            + h.negative_spans.len()
            + h.positive_buckets.len()
            + h.negative_buckets.len()
            + h.custom_values.len());
    (size + 8) / 16
}

/// Go's `HPoint.String()`: `{count:2, sum:3, (0.5,1]:2} @[1000]`.
impl fmt::Display for HPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} @[{}]", self.h.to_go_string(), self.t)
    }
}

/// One element of an instant vector: a labelled value at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' labels.
    pub metric: Labels,
    /// Milliseconds since the epoch.
    pub t: Timestamp,
    /// The float value; meaningless (0) when `h` is set.
    pub f: f64,
    /// The histogram value, for a native-histogram sample.
    pub h: Option<Arc<FloatHistogram>>,
    /// Set when the metric name is to be removed once evaluation ends (Prometheus's delayed
    /// name removal); always `false` in results.
    pub drop_name: bool,
}

/// A labelled series of points, as in a range-query result or a range vector.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The series' labels.
    pub metric: Labels,
    /// The float points, in time order.
    pub floats: Vec<FPoint>,
    /// The histogram points, in time order (a series may have both kinds, at different
    /// times).
    pub histograms: Vec<HPoint>,
    /// See [`Sample::drop_name`].
    pub drop_name: bool,
}

/// An instant vector.
pub type Vector = Vec<Sample>;
/// A range vector or range-query result: series sorted by labels.
pub type Matrix = Vec<Series>;

/// A scalar result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scalar {
    /// Evaluation time (ms).
    pub t: Timestamp,
    /// The value.
    pub v: f64,
}

/// A string result.
#[derive(Debug, Clone, PartialEq)]
pub struct StringValue {
    /// Evaluation time (ms).
    pub t: Timestamp,
    /// The string.
    pub v: String,
}

/// The value of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar (instant queries only; range queries return a matrix).
    Scalar(Scalar),
    /// A string (instant queries only).
    String(StringValue),
    /// An instant vector.
    Vector(Vector),
    /// A range vector or the result of a range query.
    Matrix(Matrix),
}

impl Value {
    /// The name of the value's type, as Prometheus's API spells it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// Go's `String()` of each value type: `scalar: 1 @[1000]`; a string as it is; a vector's
/// samples one per line (`{job="a"} => 1 @[1000]`); a matrix's series each as its labels,
/// ` =>` and one point per line (floats, then histograms). No final newline.
///
/// ```
/// use promql::value::{FPoint, Sample, Series, Value};
/// use promql::model::Labels;
///
/// let job = Labels::from_pairs([("job", "a")]);
/// let v = Value::Vector(vec![Sample { metric: job.clone(), t: 1000, f: 1.5, h: None, drop_name: false }]);
/// assert_eq!(v.to_string(), r#"{job="a"} => 1.5 @[1000]"#);
/// let floats = vec![FPoint { t: 0, f: 1.0 }, FPoint { t: 1000, f: f64::INFINITY }];
/// let m = Value::Matrix(vec![Series { metric: job, floats, ..Series::default() }]);
/// assert_eq!(m.to_string(), "{job=\"a\"} =>\n1 @[0]\n+Inf @[1000]");
/// ```
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Scalar(s) => write!(f, "scalar: {} @[{}]", format_float_f(s.v), s.t),
            Value::String(s) => f.write_str(&s.v),
            Value::Vector(v) => {
                for (i, s) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    match &s.h {
                        Some(h) => write!(
                            f,
                            "{} => {}",
                            s.metric,
                            HPoint {
                                t: s.t,
                                h: h.clone()
                            }
                        )?,
                        None => write!(f, "{} => {}", s.metric, FPoint { t: s.t, f: s.f })?,
                    }
                }
                Ok(())
            }
            Value::Matrix(m) => {
                for (i, s) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{} =>", s.metric)?;
                    for p in &s.floats {
                        write!(f, "\n{p}")?;
                    }
                    for p in &s.histograms {
                        write!(f, "\n{p}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// Whether an annotation is a warning or an informational note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnnotationKind {
    /// "PromQL warning: ...": the result may be wrong or incomplete.
    Warning,
    /// "PromQL info: ...": something the user may want to know.
    Info,
}

/// A warning or info note attached to a query result.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Annotation {
    /// Warning or info.
    pub kind: AnnotationKind,
    /// The full text, as Prometheus prints it (`PromQL info: ... (1:6)`).
    pub message: String,
}

impl fmt::Display for Annotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The set of annotations of one query (deduplicated, in first-seen order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    items: Vec<Annotation>,
}

impl Annotations {
    /// Adds an annotation unless an identical one is already present.
    pub fn add(&mut self, kind: AnnotationKind, message: String) {
        if !self
            .items
            .iter()
            .any(|a| a.kind == kind && a.message == message)
        {
            self.items.push(Annotation { kind, message });
        }
    }

    /// Adds a warning.
    pub fn warn(&mut self, message: String) {
        self.add(AnnotationKind::Warning, message);
    }

    /// Adds an info note.
    pub fn info(&mut self, message: String) {
        self.add(AnnotationKind::Info, message);
    }

    /// Adds all annotations of `other`.
    pub fn merge(&mut self, other: Annotations) {
        for a in other.items {
            self.add(a.kind, a.message);
        }
    }

    /// All annotations.
    pub fn iter(&self) -> impl Iterator<Item = &Annotation> {
        self.items.iter()
    }

    /// The warnings' texts.
    pub fn warnings(&self) -> impl Iterator<Item = &str> {
        self.items
            .iter()
            .filter(|a| a.kind == AnnotationKind::Warning)
            .map(|a| a.message.as_str())
    }

    /// The info notes' texts.
    pub fn infos(&self) -> impl Iterator<Item = &str> {
        self.items
            .iter()
            .filter(|a| a.kind == AnnotationKind::Info)
            .map(|a| a.message.as_str())
    }

    /// Whether there are no annotations.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The number of annotations.
    pub fn len(&self) -> usize {
        self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stringlabels_hash_is_xxh64_of_length_prefixed_labels() {
        let up = Labels::from_pairs([
            ("__name__", "up"),
            ("instance", "10.0.0.3:9100"),
            ("job", "api"),
        ]);
        assert_eq!(stringlabels_hash(&up), 0x04e5_1f6a_b693_632e);
        // A value of 200 bytes takes a two-byte length.
        let long = "x".repeat(200);
        let labels = Labels::from_pairs([("a", long.as_str())]);
        assert_eq!(stringlabels_hash(&labels), 0xcb96_b010_e056_c398);
        assert_eq!(stringlabels_hash(&Labels::default()), 0xef46_db37_51d8_e999);
    }
}
