//! Runtime values of a template execution, with Go's type names and truth rules.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::SampleValue;

/// A `map[string]string`, iterated in sorted key order as Go's templates and `fmt` do.
pub(crate) type StrMap = BTreeMap<String, String>;

/// A value as the Go template engine would see it (a `reflect.Value`).
#[derive(Clone, Debug)]
pub(crate) enum Value {
    /// No value (an invalid `reflect.Value` or an untyped nil).
    Nil,
    Bool(bool),
    /// Go's `int` (constants, `len`, indices, `Unix()`).
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    /// `html/template.HTML`, what `safeHtml` returns.
    Html(Rc<str>),
    /// `map[string]string`: label sets.
    StrMap(Rc<StrMap>),
    /// `map[string]interface{}`: what `args` returns.
    AnyMap(Rc<BTreeMap<String, Value>>),
    /// Prometheus's `queryResult` (`[]*sample`).
    Query(Rc<Vec<Rc<Sample>>>),
    /// A `*sample`; `None` is a nil pointer.
    Sample(Option<Rc<Sample>>),
    /// A `*time.Time` in UTC, as nanoseconds since the epoch.
    Time(i64),
    /// A `*time.Duration` in nanoseconds.
    Duration(i64),
    /// The alert template data struct.
    Data(Rc<Data>),
    /// A `*histogram.FloatHistogram` (never nil): a native-histogram sample value.
    Histogram(Arc<model::FloatHistogram>),
    /// A value whose static type is `interface {}` (the alert's and a sample's `.Value`, the
    /// entries of `args`); `Nil` inside is a nil interface. Pipelines unwrap it after every
    /// command, as Go's `evalPipeline` does; field access and type errors see `interface {}`.
    Iface(Box<Value>),
    /// A slice, with its Go type (`[]interface {}` in tests, a histogram's `[]float64`
    /// buckets and `[]histogram.Span` spans).
    List(Rc<Vec<Value>>, &'static str),
    /// A `histogram.Span` (a histogram's bucket span).
    Span(model::Span),
}

/// One element of a query result (Prometheus's `sample`).
#[derive(Debug)]
pub(crate) struct Sample {
    pub(crate) labels: Rc<StrMap>,
    pub(crate) value: SampleValue,
}

/// Prometheus's `AlertTemplateData` struct.
#[derive(Debug)]
pub(crate) struct Data {
    pub(crate) labels: Rc<StrMap>,
    pub(crate) external_labels: Rc<StrMap>,
    pub(crate) external_url: Rc<str>,
    pub(crate) value: SampleValue,
}

/// The Go type of the alert data struct, as Go prints it in messages.
pub(crate) const DATA_TYPE: &str = "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }";

/// The Go type name of a histogram value.
pub(crate) const HISTOGRAM_TYPE: &str = "*histogram.FloatHistogram";

/// The fields of Go's `histogram.FloatHistogram`, in its order.
pub(crate) fn histogram_fields(h: &model::FloatHistogram) -> [(&'static str, Value); 11] {
    let floats = |v: &[f64]| {
        Value::List(
            Rc::new(v.iter().map(|f| Value::Float(*f)).collect()),
            "[]float64",
        )
    };
    let spans = |v: &[model::Span]| {
        Value::List(
            Rc::new(v.iter().map(|s| Value::Span(*s)).collect()),
            "[]histogram.Span",
        )
    };
    [
        ("CounterResetHint", Value::Int(h.counter_reset_hint as i64)),
        ("Schema", Value::Int(i64::from(h.schema))),
        ("ZeroThreshold", Value::Float(h.zero_threshold)),
        ("ZeroCount", Value::Float(h.zero_count)),
        ("Count", Value::Float(h.count)),
        ("Sum", Value::Float(h.sum)),
        ("PositiveSpans", spans(&h.positive_spans)),
        ("NegativeSpans", spans(&h.negative_spans)),
        ("PositiveBuckets", floats(&h.positive_buckets)),
        ("NegativeBuckets", floats(&h.negative_buckets)),
        ("CustomValues", floats(&h.custom_values)),
    ]
}

impl Value {
    pub(crate) fn str(s: &str) -> Value {
        Value::Str(s.into())
    }

    /// The value of a sample: `float64` or `*histogram.FloatHistogram`.
    pub(crate) fn sample(v: &SampleValue) -> Value {
        match v {
            SampleValue::Float(f) => Value::Float(*f),
            SampleValue::Histogram(h) => Value::Histogram(h.clone()),
        }
    }

    /// The value inside an interface (Go's `indirectInterface`).
    pub(crate) fn unwrap_iface(self) -> Value {
        match self {
            Value::Iface(v) => v.unwrap_iface(),
            v => v,
        }
    }

    /// The Go type name (`reflect.Type.String()`).
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Html(_) => "template.HTML",
            Value::StrMap(_) => "map[string]string",
            Value::AnyMap(_) => "map[string]interface {}",
            Value::Query(_) => "template.queryResult",
            Value::Sample(_) => "*template.sample",
            Value::Time(_) => "*time.Time",
            Value::Duration(_) => "*time.Duration",
            Value::Data(_) => DATA_TYPE,
            Value::Histogram(_) => HISTOGRAM_TYPE,
            Value::List(_, t) => t,
            Value::Span(_) => "histogram.Span",
            Value::Iface(_) => "interface {}",
        }
    }

    /// Go's `isTrue`: empty collections and strings, zero numbers, false and nil are false.
    pub(crate) fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) | Value::Html(s) => !s.is_empty(),
            Value::StrMap(m) => !m.is_empty(),
            Value::AnyMap(m) => !m.is_empty(),
            Value::Query(q) => !q.is_empty(),
            Value::List(l, _) => !l.is_empty(),
            Value::Iface(v) => v.truth(),
            Value::Sample(s) => s.is_some(),
            Value::Time(_)
            | Value::Duration(_)
            | Value::Data(_)
            | Value::Histogram(_)
            | Value::Span(_) => true,
        }
    }

    /// The string inside a string-kinded value (`string`, `template.HTML`).
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Html(s) => Some(s),
            Value::Iface(v) => v.as_str(),
            _ => None,
        }
    }
}
