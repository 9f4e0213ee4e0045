//! Tests of the exposition-format parsers: Prometheus's own cases (promparse_test.go,
//! openmetricsparse_test.go), the upstream payloads, round trips and property tests.

use proptest::prelude::*;

use super::*;

/// What a parser yielded for one entry, in a comparable form.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Help(String, String),
    Type(String, MetricType),
    Unit(String, String),
    Comment(String),
    Series {
        m: String,
        t: Option<i64>,
        v: f64,
        lset: Labels,
        e: Option<Exemplar>,
    },
}

fn series(m: &str, t: Option<i64>, v: f64, lset: &[&str]) -> Item {
    Item::Series {
        m: m.to_owned(),
        t,
        v,
        lset: Labels::from_strings(lset),
        e: None,
    }
}

fn with_exemplar(item: Item, labels: &[&str], value: f64, ts: Option<i64>) -> Item {
    match item {
        Item::Series { m, t, v, lset, .. } => Item::Series {
            m,
            t,
            v,
            lset,
            e: Some(Exemplar {
                labels: Labels::from_strings(labels),
                value,
                timestamp: ts,
            }),
        },
        other => other,
    }
}

fn help(m: &str, h: &str) -> Item {
    Item::Help(m.to_owned(), h.to_owned())
}

fn typ(m: &str, t: MetricType) -> Item {
    Item::Type(m.to_owned(), t)
}

fn comment(c: &str) -> Item {
    Item::Comment(c.to_owned())
}

fn parse_all(p: &mut dyn Parser) -> Result<Vec<Item>> {
    let mut out = Vec::new();
    while let Some(entry) = p.next()? {
        out.push(match entry {
            Entry::Help => {
                let (m, h) = p.help();
                Item::Help(m.into_owned(), h.into_owned())
            }
            Entry::Type => {
                let (m, t) = p.metric_type();
                Item::Type(m.into_owned(), t)
            }
            Entry::Unit => {
                let (m, u) = p.unit();
                Item::Unit(m.into_owned(), u.into_owned())
            }
            Entry::Comment => Item::Comment(String::from_utf8_lossy(p.comment()).into_owned()),
            Entry::Histogram => unreachable!("the text formats have no native histograms"),
            Entry::Series => {
                let (m, t, v) = p.series();
                let m = String::from_utf8_lossy(m).into_owned();
                let lset = p.labels()?;
                let e = p.exemplar();
                assert_eq!(p.exemplar(), None, "an exemplar is handed out once");
                Item::Series { m, t, v, lset, e }
            }
        });
    }
    Ok(out)
}

fn prom(input: &str) -> Result<Vec<Item>> {
    parse_all(&mut PromParser::new(input.as_bytes()))
}

fn om(input: &str) -> Result<Vec<Item>> {
    parse_all(&mut OpenMetricsParser::new(input.as_bytes()))
}

/// The error message of the first error, without the line prefix, and the line.
fn first_error(p: &mut dyn Parser) -> Option<(usize, String)> {
    loop {
        match p.next() {
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(Error::Parse { line, message }) => return Some((line, message)),
            Err(e) => return Some((0, e.to_string())),
        }
    }
}

#[test]
fn prom_parse_matches_prometheus() {
    // TestPromParse from promparse_test.go.
    let mut input = String::from(
        "# HELP go_gc_duration_seconds A summary of the GC invocation durations.
# \tTYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile=\"0\"} 4.9351e-05
go_gc_duration_seconds{quantile=\"0.25\",} 7.424100000000001e-05
go_gc_duration_seconds{quantile=\"0.5\",a=\"b\"} 8.3835e-05
go_gc_duration_seconds{quantile=\"0.8\", a=\"b\"} 8.3835e-05
go_gc_duration_seconds{ quantile=\"0.9\", a=\"b\"} 8.3835e-05
# Hrandom comment starting with prefix of HELP
#
wind_speed{A=\"2\",c=\"3\"} 12345
# comment with escaped \\n newline
# comment with escaped \\ escape character
# HELP nohelp1
# HELP nohelp2 
go_gc_duration_seconds{ quantile=\"1.0\", a=\"b\" } 8.3835e-05
go_gc_duration_seconds { quantile=\"1.0\", a=\"b\" } 8.3835e-05
go_gc_duration_seconds { quantile= \"1.0\", a= \"b\", } 8.3835e-05
go_gc_duration_seconds { quantile = \"1.0\", a = \"b\" } 8.3835e-05
go_gc_duration_seconds { quantile = \"2.0\" a = \"b\" } 8.3835e-05
go_gc_duration_seconds_count 99
some:aggregate:rate5m{a_b=\"c\"}\t1
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 33  \t123123
_metric_starting_with_underscore 1
testmetric{_label_starting_with_underscore=\"foo\"} 1
testmetric{label=\"\\\"bar\\\"\"} 1",
    );
    input += "\n# HELP metric foo\x00bar";
    input += "\nnull_byte_metric{a=\"abc\x00\"} 1";
    let gc = "go_gc_duration_seconds";
    let exp = vec![
        help(gc, "A summary of the GC invocation durations."),
        typ(gc, MetricType::Summary),
        series(
            r#"go_gc_duration_seconds{quantile="0"}"#,
            None,
            4.9351e-05,
            &["__name__", gc, "quantile", "0.0"],
        ),
        series(
            r#"go_gc_duration_seconds{quantile="0.25",}"#,
            None,
            7.424100000000001e-05,
            &["__name__", gc, "quantile", "0.25"],
        ),
        series(
            r#"go_gc_duration_seconds{quantile="0.5",a="b"}"#,
            None,
            8.3835e-05,
            &["__name__", gc, "quantile", "0.5", "a", "b"],
        ),
        series(
            r#"go_gc_duration_seconds{quantile="0.8", a="b"}"#,
            None,
            8.3835e-05,
            &["__name__", gc, "quantile", "0.8", "a", "b"],
        ),
        series(
            r#"go_gc_duration_seconds{ quantile="0.9", a="b"}"#,
            None,
            8.3835e-05,
            &["__name__", gc, "quantile", "0.9", "a", "b"],
        ),
        comment("# Hrandom comment starting with prefix of HELP"),
        comment("#"),
        series(
            r#"wind_speed{A="2",c="3"}"#,
            None,
            12345.0,
            &["A", "2", "__name__", "wind_speed", "c", "3"],
        ),
        comment("# comment with escaped \\n newline"),
        comment("# comment with escaped \\ escape character"),
        help("nohelp1", ""),
        help("nohelp2", ""),
        series(
            r#"go_gc_duration_seconds{ quantile="1.0", a="b" }"#,
            None,
            8.3835e-05,
            &["__name__", gc, "quantile", "1.0", "a", "b"],
        ),
        series(
            r#"go_gc_duration_seconds { quantile="1.0", a="b" }"#,
            None,
            8.3835e-05,
            &["__name__", gc, "quantile", "1.0", "a", "b"],
        ),
        series(
            r#"go_gc_duration_seconds { quantile= "1.0", a= "b", }"#,
            None,
            8.3835e-05,
            &["__name__", gc, "quantile", "1.0", "a", "b"],
        ),
        series(
            r#"go_gc_duration_seconds { quantile = "1.0", a = "b" }"#,
            None,
            8.3835e-05,
            &["__name__", gc, "quantile", "1.0", "a", "b"],
        ),
        // Unlike OpenMetrics, the text format allows missing commas between labels.
        series(
            r#"go_gc_duration_seconds { quantile = "2.0" a = "b" }"#,
            None,
            8.3835e-05,
            &["__name__", gc, "quantile", "2.0", "a", "b"],
        ),
        series(
            "go_gc_duration_seconds_count",
            None,
            99.0,
            &["__name__", "go_gc_duration_seconds_count"],
        ),
        series(
            r#"some:aggregate:rate5m{a_b="c"}"#,
            None,
            1.0,
            &["__name__", "some:aggregate:rate5m", "a_b", "c"],
        ),
        help(
            "go_goroutines",
            "Number of goroutines that currently exist.",
        ),
        typ("go_goroutines", MetricType::Gauge),
        series(
            "go_goroutines",
            Some(123123),
            33.0,
            &["__name__", "go_goroutines"],
        ),
        series(
            "_metric_starting_with_underscore",
            None,
            1.0,
            &["__name__", "_metric_starting_with_underscore"],
        ),
        series(
            r#"testmetric{_label_starting_with_underscore="foo"}"#,
            None,
            1.0,
            &[
                "__name__",
                "testmetric",
                "_label_starting_with_underscore",
                "foo",
            ],
        ),
        series(
            r#"testmetric{label="\"bar\""}"#,
            None,
            1.0,
            &["__name__", "testmetric", "label", "\"bar\""],
        ),
        help("metric", "foo\x00bar"),
        series(
            "null_byte_metric{a=\"abc\x00\"}",
            None,
            1.0,
            &["__name__", "null_byte_metric", "a", "abc\x00"],
        ),
    ];
    // As in Prometheus 3, the quantiles of a summary are normalized: "0" becomes "0.0".
    assert_eq!(prom(&input).expect("valid payload"), exp);
}

#[test]
fn utf8_names_in_both_formats() {
    let body = "# HELP \"go.gc_duration_seconds\" A summary of the GC invocation durations.
# TYPE \"go.gc_duration_seconds\" summary
{\"go.gc_duration_seconds\",quantile=\"0\"} 4.9351e-05
{ \"go.gc_duration_seconds\", quantile= \"1.0\", a= \"b\", } 8.3835e-05
{\"go.gc_duration_seconds_count\"} 99
{\"Heizölrückstoßabdämpfung 10€ metric with \\\"interesting\\\" {character\\nchoices}\",\"strange©™\\n'quoted' \\\"name\\\"\"=\"6\"} 10.0
";
    let items = prom(body).expect("valid payload");
    let name = "go.gc_duration_seconds";
    assert_eq!(
        items[0],
        help(name, "A summary of the GC invocation durations.")
    );
    assert_eq!(items[1], typ(name, MetricType::Summary));
    assert_eq!(
        items[2],
        series(
            r#"{"go.gc_duration_seconds",quantile="0"}"#,
            None,
            4.9351e-05,
            &["__name__", name, "quantile", "0.0"]
        )
    );
    assert_eq!(
        items[3],
        series(
            r#"{ "go.gc_duration_seconds", quantile= "1.0", a= "b", }"#,
            None,
            8.3835e-05,
            &["__name__", name, "quantile", "1.0", "a", "b"]
        )
    );
    assert_eq!(
        items[4],
        series(
            r#"{"go.gc_duration_seconds_count"}"#,
            None,
            99.0,
            &["__name__", "go.gc_duration_seconds_count"]
        )
    );
    let Item::Series { lset, .. } = &items[5] else {
        panic!("not a series: {:?}", items[5]);
    };
    assert_eq!(
        lset.metric_name(),
        Some("Heizölrückstoßabdämpfung 10€ metric with \"interesting\" {character\nchoices}")
    );
    assert_eq!(lset.get("strange©™\n'quoted' \"name\""), Some("6"));

    // OpenMetrics: the quoted name may come anywhere in the braces.
    let items =
        om("{q=\"0.9\",\"http.status\",a=\"b\"} 8.3835e-05\n# EOF\n").expect("valid payload");
    assert_eq!(
        items,
        [series(
            r#"{q="0.9","http.status",a="b"}"#,
            None,
            8.3835e-05,
            &["__name__", "http.status", "q", "0.9", "a", "b"]
        )]
    );
}

#[test]
fn openmetrics_parse_matches_prometheus() {
    // TestOpenMetricsParse from openmetricsparse_test.go.
    let mut input = String::from(
        "# HELP go_gc_duration_seconds A summary of the GC invocation durations.
# TYPE go_gc_duration_seconds summary
# UNIT go_gc_duration_seconds seconds
go_gc_duration_seconds{quantile=\"0\"} 4.9351e-05
go_gc_duration_seconds{quantile=\"0.25\"} 7.424100000000001e-05
go_gc_duration_seconds{quantile=\"0.5\",a=\"b\"} 8.3835e-05
# HELP nohelp1 
# HELP help2 escape \\ \\n \\\\ \\\" \\x chars
# UNIT nounit 
go_gc_duration_seconds{quantile=\"1.0\",a=\"b\"} 8.3835e-05
go_gc_duration_seconds_count 99
some:aggregate:rate5m{a_b=\"c\"} 1
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 33 123.123
# TYPE hh histogram
hh_bucket{le=\"+Inf\"} 1
# TYPE gh gaugehistogram
gh_bucket{le=\"+Inf\"} 1
# TYPE hhh histogram
hhh_bucket{le=\"+Inf\"} 1 # {id=\"histogram-bucket-test\"} 4
hhh_count 1 # {id=\"histogram-count-test\"} 4
# TYPE ggh gaugehistogram
ggh_bucket{le=\"+Inf\"} 1 # {id=\"gaugehistogram-bucket-test\",xx=\"yy\"} 4 123.123
ggh_count 1 # {id=\"gaugehistogram-count-test\",xx=\"yy\"} 4 123.123
# TYPE smr_seconds summary
smr_seconds_count 2.0 # {id=\"summary-count-test\"} 1 123.321
smr_seconds_sum 42.0 # {id=\"summary-sum-test\"} 1 123.321
# TYPE ii info
ii{foo=\"bar\"} 1
# TYPE ss stateset
ss{ss=\"foo\"} 1
ss{ss=\"bar\"} 0
ss{A=\"a\"} 0
# TYPE un unknown
_metric_starting_with_underscore 1
testmetric{_label_starting_with_underscore=\"foo\"} 1
testmetric{label=\"\\\"bar\\\"\"} 1
# TYPE foo counter
foo_total 17.0 1520879607.789 # {id=\"counter-test\"} 5",
    );
    input += "\n# HELP metric foo\x00bar";
    input += "\nnull_byte_metric{a=\"abc\x00\"} 1";
    input += "\n# EOF\n";
    let gc = "go_gc_duration_seconds";
    let exp = vec![
        help(gc, "A summary of the GC invocation durations."),
        typ(gc, MetricType::Summary),
        Item::Unit(gc.into(), "seconds".into()),
        series(
            r#"go_gc_duration_seconds{quantile="0"}"#,
            None,
            4.9351e-05,
            &["__name__", gc, "quantile", "0.0"],
        ),
        series(
            r#"go_gc_duration_seconds{quantile="0.25"}"#,
            None,
            7.424100000000001e-05,
            &["__name__", gc, "quantile", "0.25"],
        ),
        series(
            r#"go_gc_duration_seconds{quantile="0.5",a="b"}"#,
            None,
            8.3835e-05,
            &["__name__", gc, "quantile", "0.5", "a", "b"],
        ),
        help("nohelp1", ""),
        help("help2", "escape \\ \n \\ \" \\x chars"),
        Item::Unit("nounit".into(), String::new()),
        series(
            r#"go_gc_duration_seconds{quantile="1.0",a="b"}"#,
            None,
            8.3835e-05,
            &["__name__", gc, "quantile", "1.0", "a", "b"],
        ),
        series(
            "go_gc_duration_seconds_count",
            None,
            99.0,
            &["__name__", "go_gc_duration_seconds_count"],
        ),
        series(
            r#"some:aggregate:rate5m{a_b="c"}"#,
            None,
            1.0,
            &["__name__", "some:aggregate:rate5m", "a_b", "c"],
        ),
        help(
            "go_goroutines",
            "Number of goroutines that currently exist.",
        ),
        typ("go_goroutines", MetricType::Gauge),
        series(
            "go_goroutines",
            Some(123123),
            33.0,
            &["__name__", "go_goroutines"],
        ),
        typ("hh", MetricType::Histogram),
        series(
            r#"hh_bucket{le="+Inf"}"#,
            None,
            1.0,
            &["__name__", "hh_bucket", "le", "+Inf"],
        ),
        typ("gh", MetricType::GaugeHistogram),
        series(
            r#"gh_bucket{le="+Inf"}"#,
            None,
            1.0,
            &["__name__", "gh_bucket", "le", "+Inf"],
        ),
        typ("hhh", MetricType::Histogram),
        with_exemplar(
            series(
                r#"hhh_bucket{le="+Inf"}"#,
                None,
                1.0,
                &["__name__", "hhh_bucket", "le", "+Inf"],
            ),
            &["id", "histogram-bucket-test"],
            4.0,
            None,
        ),
        with_exemplar(
            series("hhh_count", None, 1.0, &["__name__", "hhh_count"]),
            &["id", "histogram-count-test"],
            4.0,
            None,
        ),
        typ("ggh", MetricType::GaugeHistogram),
        with_exemplar(
            series(
                r#"ggh_bucket{le="+Inf"}"#,
                None,
                1.0,
                &["__name__", "ggh_bucket", "le", "+Inf"],
            ),
            &["id", "gaugehistogram-bucket-test", "xx", "yy"],
            4.0,
            Some(123123),
        ),
        with_exemplar(
            series("ggh_count", None, 1.0, &["__name__", "ggh_count"]),
            &["id", "gaugehistogram-count-test", "xx", "yy"],
            4.0,
            Some(123123),
        ),
        typ("smr_seconds", MetricType::Summary),
        with_exemplar(
            series(
                "smr_seconds_count",
                None,
                2.0,
                &["__name__", "smr_seconds_count"],
            ),
            &["id", "summary-count-test"],
            1.0,
            Some(123321),
        ),
        with_exemplar(
            series(
                "smr_seconds_sum",
                None,
                42.0,
                &["__name__", "smr_seconds_sum"],
            ),
            &["id", "summary-sum-test"],
            1.0,
            Some(123321),
        ),
        typ("ii", MetricType::Info),
        series(
            r#"ii{foo="bar"}"#,
            None,
            1.0,
            &["__name__", "ii", "foo", "bar"],
        ),
        typ("ss", MetricType::Stateset),
        series(
            r#"ss{ss="foo"}"#,
            None,
            1.0,
            &["__name__", "ss", "ss", "foo"],
        ),
        series(
            r#"ss{ss="bar"}"#,
            None,
            0.0,
            &["__name__", "ss", "ss", "bar"],
        ),
        series(r#"ss{A="a"}"#, None, 0.0, &["A", "a", "__name__", "ss"]),
        typ("un", MetricType::Unknown),
        series(
            "_metric_starting_with_underscore",
            None,
            1.0,
            &["__name__", "_metric_starting_with_underscore"],
        ),
        series(
            r#"testmetric{_label_starting_with_underscore="foo"}"#,
            None,
            1.0,
            &[
                "__name__",
                "testmetric",
                "_label_starting_with_underscore",
                "foo",
            ],
        ),
        series(
            r#"testmetric{label="\"bar\""}"#,
            None,
            1.0,
            &["__name__", "testmetric", "label", "\"bar\""],
        ),
        typ("foo", MetricType::Counter),
        with_exemplar(
            series(
                "foo_total",
                Some(1520879607789),
                17.0,
                &["__name__", "foo_total"],
            ),
            &["id", "counter-test"],
            5.0,
            None,
        ),
        help("metric", "foo\x00bar"),
        series(
            "null_byte_metric{a=\"abc\x00\"}",
            None,
            1.0,
            &["__name__", "null_byte_metric", "a", "abc\x00"],
        ),
    ];
    assert_eq!(om(&input).expect("valid payload"), exp);
}

/// Broken text-format payloads and Prometheus's exact messages (TestPromParseErrors and
/// TestPromNullByteHandling), with the line they are reported on.
#[test]
fn prom_errors_match_prometheus() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "a",
            1,
            r#"expected value after metric, got "\n" ("INVALID") while parsing: "a\n""#,
        ),
        (
            "a{b='c'} 1\n",
            1,
            r#"expected label value, got "'" ("INVALID") while parsing: "a{b='""#,
        ),
        (
            "a{b=\n",
            1,
            r#"expected label value, got "\n" ("INVALID") while parsing: "a{b=\n""#,
        ),
        (
            "a{\u{ff}=\"foo\"} 1\n",
            1,
            r#"expected label name, got "\xc3" ("INVALID") while parsing: "a{\xc3""#,
        ),
        ("a{b=\"\u{ff}\"} 1\n", 0, ""),
        (
            r#"{"a", "b = "c"}"#,
            1,
            r#"expected equal, got "c\"" ("LNAME") while parsing: "{\"a\", \"b = \"c\"""#,
        ),
        (
            r#"{"a",b\nc="d"} 1"#,
            1,
            r#"expected equal, got "\\" ("INVALID") while parsing: "{\"a\",b\\""#,
        ),
        (
            "a true\n",
            1,
            r#"strconv.ParseFloat: parsing "true": invalid syntax while parsing: "a true""#,
        ),
        (
            "something_weird{problem=\"",
            1,
            r#"expected label value, got "\"\n" ("INVALID") while parsing: "something_weird{problem=\"\n""#,
        ),
        (
            "empty_label_name{=\"\"} 0",
            1,
            r#"expected label name, got "=\"" ("EQUAL") while parsing: "empty_label_name{=\"""#,
        ),
        (
            "foo 1_2\n",
            1,
            r#"unsupported character in float while parsing: "foo 1_2""#,
        ),
        (
            "foo 0x1p-3\n",
            1,
            r#"unsupported character in float while parsing: "foo 0x1p-3""#,
        ),
        (
            "foo 0x1P-3\n",
            1,
            r#"unsupported character in float while parsing: "foo 0x1P-3""#,
        ),
        (
            "foo 0 1_2\n",
            1,
            r#"expected next entry after timestamp, got "_" ("INVALID") while parsing: "foo 0 1_""#,
        ),
        (
            r#"{a="ok"} 1"#,
            1,
            r#"metric name not set while parsing: "{a=\"ok\"} 1""#,
        ),
        (
            "# TYPE #\n#EOF\n",
            1,
            r##"expected metric name after TYPE, got "#" ("INVALID") while parsing: "# TYPE #""##,
        ),
        (
            "# HELP #\n#EOF\n",
            1,
            r##"expected metric name after HELP, got "#" ("INVALID") while parsing: "# HELP #""##,
        ),
        (
            "a{b=\x00\"ssss\"} 1\n",
            1,
            r#"expected label value, got "\x00" ("INVALID") while parsing: "a{b=\x00""#,
        ),
        (
            "a{b=\"\x00",
            1,
            r#"expected label value, got "\"\x00\n" ("INVALID") while parsing: "a{b=\"\x00\n""#,
        ),
        (
            "a{b\x00=\"hiih\"}\t1",
            1,
            r#"expected equal, got "\x00" ("INVALID") while parsing: "a{b\x00""#,
        ),
        (
            "a\x00{b=\"ddd\"} 1",
            1,
            r#"expected value after metric, got "\x00" ("INVALID") while parsing: "a\x00""#,
        ),
        (
            "a 0 1\x00",
            1,
            r#"expected next entry after timestamp, got "\x00" ("INVALID") while parsing: "a 0 1\x00""#,
        ),
        // Our own: where errors are reported.
        (
            "a 1\nb 2\n# TYPE c bogus\n",
            3,
            r#"invalid metric type "bogus""#,
        ),
        (
            "a 1\n\n\nb{c=\"d\" 2\n",
            4,
            r#"expected label name, got "2" ("INVALID") while parsing: "b{c=\"d\" 2""#,
        ),
        (
            "a 1 99999999999999999999\n",
            1,
            r#"strconv.ParseInt: parsing "99999999999999999999": value out of range while parsing: "a 1 99999999999999999999""#,
        ),
        (
            "a 1e400\n",
            1,
            r#"strconv.ParseFloat: parsing "1e400": value out of range while parsing: "a 1e400""#,
        ),
        (
            "a +nan\n",
            1,
            r#"strconv.ParseFloat: parsing "+nan": invalid syntax while parsing: "a +nan""#,
        ),
        ("# HELP a \u{ff}x\n", 0, ""),
        (
            "a{b=\"c\"} 1\nb{\"x\",\"y\"} 1\n",
            2,
            r#"metric name already set while parsing: "b{\"x\",""#,
        ),
        (
            "a{\"x\"} 1\n",
            1,
            r#"metric name already set while parsing: "a{\"x\"}""#,
        ),
    ];
    for &(input, line, want) in cases {
        let got = first_error(&mut PromParser::new(input.as_bytes()));
        if line == 0 {
            // Valid UTF-8 in Rust string literals: these inputs are fine.
            assert_eq!(got, None, "input {input:?}");
            continue;
        }
        assert_eq!(got, Some((line, want.to_owned())), "input {input:?}");
    }
    // Invalid UTF-8 cannot be written in a &str: the bytes from Go's cases.
    let bytes_cases: &[(&[u8], &str)] = &[
        (
            b"a{\xff=\"foo\"} 1\n",
            r#"expected label name, got "\xff" ("INVALID") while parsing: "a{\xff""#,
        ),
        (
            b"a{b=\"\xff\"} 1\n",
            r#"invalid UTF-8 label value: "\"\xff\"""#,
        ),
        (
            b"# HELP a \xffx\n",
            r#"help text "\xffx" is not a valid utf8 string"#,
        ),
    ];
    for &(input, want) in bytes_cases {
        let got = first_error(&mut PromParser::new(input));
        assert_eq!(got, Some((1, want.to_owned())), "input {input:?}");
    }
}

#[test]
fn prom_null_bytes_are_handled_as_prometheus_does() {
    for ok in [
        "null_byte_metric{a=\"abc\x00\"} 1",
        "a{b=\"\x00ss\"} 1\n",
        "a{b=\"\x00\"} 1\n",
        // A null byte at the start of a line ends the payload, as in Go.
        "a 1\n\x00garbage",
    ] {
        assert!(prom(ok).is_ok(), "input {ok:?}");
    }
}

/// Broken OpenMetrics payloads and Prometheus's exact messages (TestOpenMetricsParseErrors
/// and TestOMNullByteHandling).
#[test]
fn openmetrics_errors_match_prometheus() {
    let cases: &[(&str, &str)] = &[
        ("", "data does not end with # EOF"),
        (
            "\n",
            r#"expected a valid start token, got "\n" ("INVALID") while parsing: "\n""#,
        ),
        (
            "metric",
            r#"expected value after metric, got "metric" ("EOF") while parsing: "metric""#,
        ),
        ("metric 1", "data does not end with # EOF"),
        ("metric 1\n", "data does not end with # EOF"),
        (
            "metric_total 1 # {aa=\"bb\"} 4",
            "data does not end with # EOF",
        ),
        (
            "a\n#EOF\n",
            r#"expected value after metric, got "\n" ("INVALID") while parsing: "a\n""#,
        ),
        (
            "\n\n#EOF\n",
            r#"expected a valid start token, got "\n" ("INVALID") while parsing: "\n""#,
        ),
        (
            " a 1\n#EOF\n",
            r#"expected a valid start token, got " " ("INVALID") while parsing: " ""#,
        ),
        (
            "9\n#EOF\n",
            r#"expected a valid start token, got "9" ("INVALID") while parsing: "9""#,
        ),
        (
            "# TYPE u untyped\n#EOF\n",
            r#"invalid metric type "untyped""#,
        ),
        (
            "# TYPE c counter \n#EOF\n",
            r#"invalid metric type "counter ""#,
        ),
        (
            "#  TYPE c counter\n#EOF\n",
            r##"expected a valid start token, got "#  " ("INVALID") while parsing: "#  ""##,
        ),
        (
            "# TYPE \n#EOF\n",
            r##"expected metric name after TYPE, got "\n" ("INVALID") while parsing: "# TYPE \n""##,
        ),
        ("# TYPE m\n#EOF\n", "expected text in TYPE"),
        (
            "# UNIT metric suffix\n#EOF\n",
            r#"unit "suffix" not a suffix of metric "metric""#,
        ),
        (
            "# UNIT metricsuffix suffix\n#EOF\n",
            r#"unit "suffix" not a suffix of metric "metricsuffix""#,
        ),
        (
            "# UNIT m suffix\n#EOF\n",
            r#"unit "suffix" not a suffix of metric "m""#,
        ),
        (
            "# UNIT \n#EOF\n",
            r##"expected metric name after UNIT, got "\n" ("INVALID") while parsing: "# UNIT \n""##,
        ),
        ("# UNIT m\n#EOF\n", "expected text in UNIT"),
        (
            "# HELP \n#EOF\n",
            r##"expected metric name after HELP, got "\n" ("INVALID") while parsing: "# HELP \n""##,
        ),
        ("# HELP m\n#EOF\n", "expected text in HELP"),
        (
            "a\t1\n#EOF\n",
            r#"expected value after metric, got "\t" ("INVALID") while parsing: "a\t""#,
        ),
        (
            "a 1\t2\n#EOF\n",
            r#"strconv.ParseFloat: parsing "1\t2": invalid syntax while parsing: "a 1\t2""#,
        ),
        (
            "a 1 2 \n#EOF\n",
            r#"expected next entry after timestamp, got " \n" ("INVALID") while parsing: "a 1 2 \n""#,
        ),
        (
            "a 1 2 #\n#EOF\n",
            r##"expected next entry after timestamp, got " #\n" ("TIMESTAMP") while parsing: "a 1 2 #\n""##,
        ),
        (
            "a 1 1z\n#EOF\n",
            r#"strconv.ParseFloat: parsing "1z": invalid syntax while parsing: "a 1 1z""#,
        ),
        (
            " # EOF\n",
            r#"expected a valid start token, got " " ("INVALID") while parsing: " ""#,
        ),
        ("# EOF\na 1", "unexpected data after # EOF"),
        ("# EOF\n\n", "unexpected data after # EOF"),
        ("# EOFa 1", "unexpected data after # EOF"),
        (
            "#\tTYPE c counter\n",
            r##"expected a valid start token, got "#\t" ("INVALID") while parsing: "#\t""##,
        ),
        ("# TYPE c  counter\n", r#"invalid metric type " counter""#),
        (
            "a 1 1 1\n# EOF\n",
            r#"expected next entry after timestamp, got " 1\n" ("TIMESTAMP") while parsing: "a 1 1 1\n""#,
        ),
        (
            "a{b='c'} 1\n# EOF\n",
            r#"expected label value, got "'" ("INVALID") while parsing: "a{b='""#,
        ),
        (
            "a{,b=\"c\"} 1\n# EOF\n",
            r#"expected label name, got ",b" ("COMMA") while parsing: "a{,b""#,
        ),
        (
            "a{b=\"c\"d=\"e\"} 1\n# EOF\n",
            r#"expected comma or brace close, got "d=" ("LNAME") while parsing: "a{b=\"c\"d=""#,
        ),
        (
            "a{b=\"c\",,d=\"e\"} 1\n# EOF\n",
            r#"expected label name, got ",d" ("COMMA") while parsing: "a{b=\"c\",,d""#,
        ),
        (
            "a{b=\n# EOF\n",
            r#"expected label value, got "\n" ("INVALID") while parsing: "a{b=\n""#,
        ),
        (
            "{\"a\",\"b = \"c\"}\n# EOF\n",
            r#"expected equal, got "c\"" ("LNAME") while parsing: "{\"a\",\"b = \"c\"""#,
        ),
        (
            "{\"a\",b\\nc=\"d\"} 1\n# EOF\n",
            r#"expected equal, got "\\" ("INVALID") while parsing: "{\"a\",b\\""#,
        ),
        (
            "a true\n",
            r#"strconv.ParseFloat: parsing "true": invalid syntax while parsing: "a true""#,
        ),
        (
            "something_weird{problem=\"\n# EOF\n",
            r#"expected label value, got "\"\n" ("INVALID") while parsing: "something_weird{problem=\"\n""#,
        ),
        (
            "empty_label_name{=\"\"} 0\n# EOF\n",
            r#"expected label name, got "=\"" ("EQUAL") while parsing: "empty_label_name{=\"""#,
        ),
        (
            "foo 1_2\n\n# EOF\n",
            r#"unsupported character in float while parsing: "foo 1_2""#,
        ),
        (
            "foo 0x1p-3\n\n# EOF\n",
            r#"unsupported character in float while parsing: "foo 0x1p-3""#,
        ),
        (
            "foo 0 1_2\n\n# EOF\n",
            r#"unsupported character in float while parsing: "foo 0 1_2""#,
        ),
        (
            "custom_metric_total 1 # {aa=bb}\n# EOF\n",
            r#"expected label value, got "b" ("INVALID") while parsing: "custom_metric_total 1 # {aa=b""#,
        ),
        (
            "custom_metric_total 1 # {aa=\"bb\"}\n# EOF\n",
            r#"expected value after exemplar labels, got "\n" ("INVALID") while parsing: "custom_metric_total 1 # {aa=\"bb\"}\n""#,
        ),
        (
            "custom_metric_total 1 # {aa=\"bb\"}",
            r#"expected value after exemplar labels, got "}" ("EOF") while parsing: "custom_metric_total 1 # {aa=\"bb\"}""#,
        ),
        (
            "custom_metric_total 1 # {bb}",
            r#"expected label name, got "}" ("BCLOSE") while parsing: "custom_metric_total 1 # {bb}""#,
        ),
        (
            "custom_metric_total 1 # {bb, a=\"dd\"}",
            r#"expected label name, got ", " ("COMMA") while parsing: "custom_metric_total 1 # {bb, ""#,
        ),
        (
            "custom_metric_total 1 # {aa=\"bb\",,cc=\"dd\"} 1",
            r#"expected label name, got ",c" ("COMMA") while parsing: "custom_metric_total 1 # {aa=\"bb\",,c""#,
        ),
        (
            "custom_metric_total 1 # {aa=\"bb\"} 1_2",
            r#"unsupported character in float while parsing: "custom_metric_total 1 # {aa=\"bb\"} 1_2""#,
        ),
        (
            "custom_metric_total 1 # {aa=\"bb\"} 0x1p-3",
            r#"unsupported character in float while parsing: "custom_metric_total 1 # {aa=\"bb\"} 0x1p-3""#,
        ),
        (
            "custom_metric_total 1 # {aa=\"bb\"} true",
            r#"strconv.ParseFloat: parsing "true": invalid syntax while parsing: "custom_metric_total 1 # {aa=\"bb\"} true""#,
        ),
        (
            "custom_metric_total 1 # {aa=\"bb\",cc=}",
            r#"expected label value, got "}" ("INVALID") while parsing: "custom_metric_total 1 # {aa=\"bb\",cc=}""#,
        ),
        (
            "custom_metric_total 1 # {aa=\\\"\u{ff}\\\"} 9.0",
            r#"expected label value, got "\\" ("INVALID") while parsing: "custom_metric_total 1 # {aa=\\""#,
        ),
        (
            "{b=\"c\",} 1",
            r#"metric name not set while parsing: "{b=\"c\",} 1""#,
        ),
        ("a 1 NaN", "invalid timestamp NaN"),
        ("a 1 -Inf", "invalid timestamp -Inf"),
        ("a 1 Inf", "invalid timestamp +Inf"),
        (
            "# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 NaN",
            "invalid exemplar timestamp NaN",
        ),
        (
            "# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 -Inf",
            "invalid exemplar timestamp -Inf",
        ),
        (
            "# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 Inf",
            "invalid exemplar timestamp +Inf",
        ),
        (
            "a{b=\x00\"ssss\"} 1\n# EOF\n",
            r#"expected label value, got "\x00" ("INVALID") while parsing: "a{b=\x00""#,
        ),
        (
            "a{b=\"\x00",
            r#"expected label value, got "\"\x00" ("INVALID") while parsing: "a{b=\"\x00""#,
        ),
        (
            "a{b\x00=\"hiih\"}\t1",
            r#"expected equal, got "\x00" ("INVALID") while parsing: "a{b\x00""#,
        ),
        (
            "a\x00{b=\"ddd\"} 1",
            r#"expected value after metric, got "\x00" ("INVALID") while parsing: "a\x00""#,
        ),
        (
            "#",
            r##"expected a valid start token, got "#" ("INVALID") while parsing: "#""##,
        ),
        (
            "# H",
            r##"expected a valid start token, got "# H" ("INVALID") while parsing: "# H""##,
        ),
        (
            "custom_metric_total 1 # {b=\x00\"ssss\"} 1\n",
            r#"expected label value, got "\x00" ("INVALID") while parsing: "custom_metric_total 1 # {b=\x00""#,
        ),
        (
            "custom_metric_total 1 # {b=\"\x00ss\"} 1\n",
            r#"expected label value, got "\"\x00" ("INVALID") while parsing: "custom_metric_total 1 # {b=\"\x00""#,
        ),
        // Unquoted names cannot stand for the metric name.
        (
            "{b} 1\n# EOF\n",
            r#"expected equal, got "} " ("BCLOSE") while parsing: "{b} ""#,
        ),
    ];
    for &(input, want) in cases {
        let got = first_error(&mut OpenMetricsParser::new(input.as_bytes()));
        assert_eq!(
            got.map(|(_, m)| m),
            Some(want.to_owned()),
            "input {input:?}"
        );
    }
    for ok in [
        "# EOF",
        "# EOF\n",
        "null_byte_metric{a=\"abc\x00\"} 1\n# EOF\n",
        "a{b=\"\x00ss\"} 1\n# EOF\n",
        "a{b=\"\x00\"} 1\n# EOF",
    ] {
        assert!(om(ok).is_ok(), "input {ok:?}");
    }
    // Lines are counted from 1; the missing # EOF is reported where the payload ends.
    let got = first_error(&mut OpenMetricsParser::new(b"a 1\nb 2\n"));
    assert_eq!(got, Some((3, "data does not end with # EOF".to_owned())));
    let got = first_error(&mut OpenMetricsParser::new(b"a 1\nb 2\nc{d=1} 3\n# EOF\n"));
    assert_eq!(
        got,
        Some((
            3,
            r#"expected label value, got "1" ("INVALID") while parsing: "c{d=1""#.to_owned()
        ))
    );
}

#[test]
fn error_says_where_and_displays_as_prometheus() {
    let mut p = PromParser::new(b"a 1\nb 2\nc{d=1} 3\n");
    let err = loop {
        match p.next() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("payload is broken"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, Error::Parse { line: 3, .. }), "{err:?}");
    // The target's lastError: Prometheus's words, no line number (scrapediff).
    assert_eq!(
        err.to_string(),
        r#"expected label value, got "1" ("INVALID") while parsing: "c{d=1""#
    );
}

#[test]
fn duplicate_label_names_are_reported() {
    let mut p = PromParser::new(b"a{b=\"1\",b=\"2\"} 1\n");
    assert_eq!(p.next(), Ok(Some(Entry::Series)));
    assert_eq!(
        p.labels(),
        Err(Error::DuplicateLabelName {
            line: 1,
            name: "b".into()
        })
    );
    let mut p = PromParser::new(b"x 0\na{__name__=\"b\"} 1\n");
    p.next().expect("valid line");
    p.next().expect("valid line");
    assert_eq!(
        p.labels().map_err(|e| e.to_string()),
        Err(r#"label name "__name__" is not unique: invalid sample"#.to_owned())
    );
    let mut p = PromParser::new(b"{\"\xff\"} 1\n");
    p.next().expect("the lexer lets any quoted bytes through");
    assert!(matches!(
        p.labels(),
        Err(Error::InvalidUtf8Name { line: 1, .. })
    ));
}

#[test]
fn special_values_and_escapes() {
    let body = "a{v=\"x\\\\y\\\"z\\nw\\t\"} NaN\nb +Inf\nc -Inf\nd -0\ne 1e-400\nf .5\ng 5.\nh +3\ni InFiNiTy\nj -inf 17\n";
    let items = prom(body).expect("valid payload");
    let Item::Series { v, lset, .. } = &items[0] else {
        panic!("not a series");
    };
    assert_eq!(v.to_bits(), model::value::NORMAL_NAN_BITS);
    assert_eq!(lset.get("v"), Some("x\\y\"z\nw\\t"));
    let values: Vec<(f64, Option<i64>)> = items[1..]
        .iter()
        .map(|i| match i {
            Item::Series { v, t, .. } => (*v, *t),
            other => panic!("not a series: {other:?}"),
        })
        .collect();
    assert_eq!(
        values,
        [
            (f64::INFINITY, None),
            (f64::NEG_INFINITY, None),
            (-0.0, None),
            (0.0, None),
            (0.5, None),
            (5.0, None),
            (3.0, None),
            (f64::INFINITY, None),
            (f64::NEG_INFINITY, Some(17)),
        ]
    );
    // A stale-marker bit pattern cannot be written in either format: every NaN is canonical.
    for input in ["a nan\n", "a NaN\n", "a NAN\n"] {
        let items = prom(input).expect("valid payload");
        let Item::Series { v, .. } = &items[0] else {
            panic!("not a series");
        };
        assert!(!model::value::is_stale_nan(*v));
        assert_eq!(v.to_bits(), model::value::NORMAL_NAN_BITS);
    }
}

#[test]
fn le_and_quantile_are_normalized_for_histograms_and_summaries() {
    let body = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1e6\"} 1\nh_bucket{le=\"+inf\"} 1\nh_bucket{le=\"x\"} 1\n# TYPE g gauge\ng{le=\"1\"} 1\n";
    let les: Vec<String> = prom(body)
        .expect("valid payload")
        .into_iter()
        .filter_map(|i| match i {
            Item::Series { lset, .. } => lset.get("le").map(str::to_owned),
            _ => None,
        })
        .collect();
    assert_eq!(les, ["1.0", "1e+06", "+Inf", "x", "1"]);
}

#[test]
fn created_timestamps_are_found_ahead_and_skipped_on_request() {
    let body = "# TYPE foo counter
foo_total{a=\"1\"} 17.0
foo_created{a=\"1\"} 1520870000.123
foo_total{a=\"2\"} 3
foo_created{a=\"2\"} 1520870001
# TYPE h histogram
h_bucket{le=\"1\"} 1
h_bucket{le=\"+Inf\"} 2
h_count 2
h_sum 3
h_created 1600000000
# TYPE g gauge
g 1
g_created 5
# TYPE nocreated counter
nocreated_total 1
# EOF
";
    let run = |skip: bool, ask: bool| -> Vec<(String, Option<i64>)> {
        let mut p = OpenMetricsParser::new(body.as_bytes());
        p.set_skip_created_series(skip);
        let mut out = Vec::new();
        while let Some(e) = p.next().expect("valid payload") {
            if e == Entry::Series {
                let name = String::from_utf8_lossy(p.series().0).into_owned();
                // Asking twice must not move the parser or change the answer.
                let ct = if ask { p.created_timestamp() } else { None };
                if ask {
                    assert_eq!(p.created_timestamp(), ct);
                }
                out.push((name, ct));
            }
        }
        out
    };
    let skipped = run(true, true);
    assert_eq!(
        skipped,
        [
            ("foo_total{a=\"1\"}".to_owned(), Some(1520870000123)),
            ("foo_total{a=\"2\"}".to_owned(), Some(1520870001000)),
            ("h_bucket{le=\"1\"}".to_owned(), Some(1600000000000)),
            ("h_bucket{le=\"+Inf\"}".to_owned(), Some(1600000000000)),
            ("h_count".to_owned(), Some(1600000000000)),
            ("h_sum".to_owned(), Some(1600000000000)),
            ("g".to_owned(), None),
            ("g_created".to_owned(), None),
            ("nocreated_total".to_owned(), None),
        ]
    );
    // As in Go, a look-up makes the parser skip `_created` lines from then on.
    assert_eq!(run(false, true), skipped);
    let all = run(false, false);
    assert_eq!(all.len(), skipped.len() + 3, "{all:?}");
    assert!(all.iter().any(|(n, _)| n == "foo_created{a=\"1\"}"));
}

#[test]
fn new_passes_options_to_the_openmetrics_parser() {
    let body = b"# TYPE c counter\nc_total 1\nc_created 2\n# EOF\n";
    let names = |skip: bool| -> Vec<String> {
        let options = ParserOptions {
            fallback: None,
            skip_created_series: skip,
            ..Default::default()
        };
        let (mut p, warning) = new(
            body,
            "application/openmetrics-text; version=1.0.0",
            &options,
        )
        .expect("known type");
        assert!(warning.is_none());
        collect_families(&mut p)
            .expect("valid payload")
            .iter()
            .flat_map(|f| &f.samples)
            .map(|s| s.labels.metric_name().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(names(false), ["c_total", "c_created"]);
    assert_eq!(names(true), ["c_total"]);
    // A blank content type with a text fallback parses the body as the text format, where
    // `# EOF` is just a comment.
    let options = ParserOptions {
        fallback: Some(Format::PrometheusText),
        skip_created_series: true,
        ..Default::default()
    };
    let (mut p, warning) = new(body, "", &options).expect("fallback applies");
    assert!(warning.is_some());
    assert!(matches!(p, TextParser::Prom(_)));
    assert_eq!(
        collect_families(&mut p).expect("valid text payload").len(),
        1
    );
}

#[test]
fn content_type_selects_the_parser_as_prometheus_does() {
    let none = None;
    let text = Some(Format::PrometheusText);
    /// Content type, fallback, chosen format or error, whether a warning comes along.
    type Case<'c> = (
        &'c str,
        Option<Format>,
        std::result::Result<Format, &'c str>,
        bool,
    );
    let cases: &[Case<'_>] = &[
        (
            "text/plain; version=0.0.4; charset=utf-8",
            none,
            Ok(Format::PrometheusText),
            false,
        ),
        ("text/plain", none, Ok(Format::PrometheusText), false),
        (
            "TEXT/PLAIN; version=1.0.0",
            none,
            Ok(Format::PrometheusText),
            false,
        ),
        (
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            none,
            Ok(Format::OpenMetricsText),
            false,
        ),
        (
            "application/openmetrics-text; version=0.0.1",
            none,
            Ok(Format::OpenMetricsText),
            false,
        ),
        (
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
            none,
            Ok(Format::PrometheusProto),
            false,
        ),
        (
            "",
            none,
            Err(
                "non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target",
            ),
            false,
        ),
        ("", text, Ok(Format::PrometheusText), true),
        (
            "application/json",
            none,
            Err(
                "received unsupported Content-Type \"application/json\" and no fallback_scrape_protocol specified for target",
            ),
            false,
        ),
        ("application/json", text, Ok(Format::PrometheusText), true),
        (
            "text/plain; version",
            none,
            Err(
                "cannot parse Content-Type \"text/plain; version\" and no fallback_scrape_protocol for target: mime: invalid media parameter",
            ),
            false,
        ),
        ("text/", text, Ok(Format::PrometheusText), true),
    ];
    for &(ct, fallback, ref want, warns) in cases {
        let got = select_format(ct, fallback);
        match (got, want) {
            (Ok((f, w)), Ok(wf)) => {
                assert_eq!(f, *wf, "{ct:?}");
                assert_eq!(w.is_some(), warns, "{ct:?}: {w:?}");
            }
            (Err(e), Err(msg)) => assert_eq!(e.to_string(), *msg, "{ct:?}"),
            (got, want) => panic!("{ct:?}: got {got:?}, want {want:?}"),
        }
    }
    let (_, warning) = select_format("", text).expect("fallback applies");
    assert_eq!(
        warning.map(|w| w.to_string()),
        Some("non-compliant scrape target sending blank Content-Type, using fallback_scrape_protocol \"text/plain\"".to_owned())
    );
    assert!(matches!(
        new(
            b"",
            "application/vnd.google.protobuf",
            &ParserOptions::default()
        ),
        Ok((TextParser::Proto(_), None))
    ));
    let (p, _) = new(
        b"# EOF\n",
        "application/openmetrics-text",
        &ParserOptions::default(),
    )
    .expect("known content type");
    assert!(matches!(p, TextParser::OpenMetrics(_)));
    assert_eq!(
        Format::from_scrape_protocol("OpenMetricsText1.0.0"),
        Some(Format::OpenMetricsText)
    );
    assert_eq!(
        Format::from_scrape_protocol("PrometheusText0.0.4"),
        Some(Format::PrometheusText)
    );
    assert_eq!(Format::from_scrape_protocol("Nope"), None);
}

#[test]
fn floats_parse_and_print_as_go_does() {
    for (s, ok) in [
        ("1", true),
        ("-1.5e-3", true),
        ("1E5", true),
        (".5", true),
        ("5.", true),
        ("+Inf", true),
        ("infinity", true),
        ("-Infinity", true),
        ("nan", true),
        ("1e", false),
        (".", false),
        ("e5", false),
        ("0x10", false),
        ("1.2.3", false),
        ("+nan", false),
        ("-nan", false),
        ("", false),
        ("--1", false),
        ("1 ", false),
        ("infinit", false),
    ] {
        assert_eq!(go_parse_float(s.as_bytes()).is_ok(), ok, "{s:?}");
    }
    for (f, want) in [
        (1.0, "1"),
        (0.1, "0.1"),
        (123456.0, "123456"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (1e-4, "0.0001"),
        (1e-5, "1e-05"),
        (4.4046288803e10, "4.4046288803e+10"),
        (-2.5, "-2.5"),
        (1e21, "1e+21"),
        (f64::MAX, "1.7976931348623157e+308"),
        (5e-324, "5e-324"),
    ] {
        assert_eq!(model::strconv::format_float_g(f), want, "{f}");
    }
    for (f, want) in [
        (1.0, "1.0"),
        (0.0, "0.0"),
        (-0.0, "0.0"),
        (100.0, "100.0"),
        (1e6, "1e+06"),
        (0.25, "0.25"),
    ] {
        assert_eq!(format_openmetrics_float(f), want, "{f}");
    }
}

// ---------------------------------------------------------------------------------------------
// Upstream payloads and round trips.

type Triple = (Labels, Option<i64>, u64);

fn triples(families: &[MetricFamily]) -> Vec<Triple> {
    families
        .iter()
        .flat_map(|f| &f.samples)
        .map(|s| (s.labels.clone(), s.timestamp, s.value.to_bits()))
        .collect()
}

fn testdata(name: &str) -> Option<Vec<u8>> {
    let dir = test_support::testdata_dir("upstream/model/textparse/testdata")?;
    Some(std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("reading {name}: {e}")))
}

#[test]
fn upstream_payloads_parse_and_round_trip() {
    let Some(dir) = test_support::testdata_dir("upstream/model/textparse/testdata") else {
        return;
    };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("listing testdata")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert!(names.len() >= 4, "{names:?}");
    for name in names {
        let body = std::fs::read(dir.join(&name)).expect("reading payload");
        let families = if name.contains(".om.") {
            collect_families(&mut OpenMetricsParser::new(&body))
        } else {
            collect_families(&mut PromParser::new(&body))
        }
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let samples = triples(&families);
        assert!(!samples.is_empty(), "{name}");

        // Text format round trip.
        let text = write_text(&families);
        let again = collect_families(&mut PromParser::new(text.as_bytes()))
            .unwrap_or_else(|e| panic!("{name} re-parsed as text: {e}\n{text}"));
        assert_eq!(triples(&again), samples, "{name}: text round trip");

        // OpenMetrics round trip (timestamps are whole milliseconds in every payload).
        let omtext = write_openmetrics(&families);
        let again = collect_families(&mut OpenMetricsParser::new(omtext.as_bytes()))
            .unwrap_or_else(|e| panic!("{name} re-parsed as OpenMetrics: {e}"));
        assert_eq!(triples(&again), samples, "{name}: OpenMetrics round trip");
    }
}

#[test]
fn benchmark_payload_has_237_families() {
    let Some(body) = testdata("alltypes.237mfs.prom.txt") else {
        return;
    };
    let families = collect_families(&mut PromParser::new(&body)).expect("valid payload");
    let with_type = families.iter().filter(|f| f.metric_type.is_some()).count();
    assert_eq!(with_type, 237);
    let nometa = testdata("alltypes.237mfs.nometa.prom.txt").expect("same folder");
    let bare = collect_families(&mut PromParser::new(&nometa)).expect("valid payload");
    // Without TYPE lines, le and quantile values are not normalized: compare the rest.
    let strip = |t: Vec<Triple>| -> Vec<(Option<String>, Option<i64>, u64)> {
        t.into_iter()
            .map(|(l, ts, v)| (l.metric_name().map(str::to_owned), ts, v))
            .collect()
    };
    assert_eq!(strip(triples(&bare)), strip(triples(&families)));
}

#[test]
fn openmetrics_payload_exemplars_and_created_lines() {
    let Some(body) = testdata("alltypes.5mfs.om.txt") else {
        return;
    };
    let mut p = OpenMetricsParser::new(&body);
    let (mut exemplars, mut created) = (0, 0);
    while let Some(e) = p.next().expect("valid payload") {
        if e == Entry::Series {
            if let Some(ex) = p.exemplar() {
                assert!(ex.labels.get("dummyID").is_some());
                assert!(ex.timestamp.is_some());
                exemplars += 1;
            }
            if p.created_timestamp().is_some() {
                created += 1;
            }
        }
    }
    assert!(exemplars > 5, "{exemplars}");
    assert!(created > 10, "{created}");
    // With created-timestamp zero ingestion on, no `_created` series is yielded.
    let mut p = OpenMetricsParser::new(&body);
    p.set_skip_created_series(true);
    let families = collect_families(&mut p).expect("valid payload");
    assert!(
        families.iter().flat_map(|f| &f.samples).all(|s| !s
            .labels
            .metric_name()
            .unwrap_or("")
            .ends_with("_created"))
    );
}

// ---------------------------------------------------------------------------------------------
// Property tests.

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}",
        1 => "[a-z.ü €\"\\\\\n{}=,]{1,10}",
    ]
}

fn label_name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
        1 => "[a-z.ü €\"\\\\\n{}=,]{1,8}",
    ]
    .prop_filter("not the metric name label", |n| n != model::METRIC_NAME)
}

fn value_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        (-1000i64..1000).prop_map(|i| i as f64),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::NAN),
    ]
}

fn sample_strategy() -> impl Strategy<Value = Sample> {
    (
        name_strategy(),
        proptest::collection::btree_map(label_name_strategy(), "[ -~ü\n\"\\\\]{0,10}", 0..4),
        // The text format has no negative timestamps.
        proptest::option::of(0i64..10_000_000_000_000),
        value_strategy(),
    )
        .prop_map(|(name, labels, timestamp, value)| Sample {
            labels: Labels::from_pairs(
                labels
                    .into_iter()
                    .chain(std::iter::once((model::METRIC_NAME.to_owned(), name))),
            ),
            timestamp,
            value: canonical_nan(value),
            exemplar: None,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        for p in [&mut PromParser::new(&body) as &mut dyn Parser, &mut OpenMetricsParser::new(&body)] {
            for _ in 0..1000 {
                match p.next() {
                    Ok(Some(_)) => {
                        let _ = p.series();
                        let _ = p.labels();
                        let _ = p.help();
                        let _ = p.metric_type();
                        let _ = p.unit();
                        let _ = p.comment();
                        let _ = p.exemplar();
                        let _ = p.created_timestamp();
                    }
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }

    #[test]
    fn mutated_payloads_never_panic(
        seed in proptest::collection::vec(sample_strategy(), 1..5),
        cut in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let family = MetricFamily { name: "x".into(), metric_type: Some(MetricType::Histogram), samples: seed, ..MetricFamily::default() };
        for mut text in [write_text(std::slice::from_ref(&family)), write_openmetrics(std::slice::from_ref(&family))] {
            let mut bytes = std::mem::take(&mut text).into_bytes();
            let at = cut.index(bytes.len());
            bytes[at] = byte;
            let _ = collect_families(&mut PromParser::new(&bytes));
            let _ = collect_families(&mut OpenMetricsParser::new(&bytes));
        }
    }

    #[test]
    fn generated_payloads_round_trip(samples in proptest::collection::vec(sample_strategy(), 0..20)) {
        let families = [MetricFamily { name: "fam".into(), help: Some("h \\ \n x".into()), metric_type: Some(MetricType::Gauge), samples, ..MetricFamily::default() }];
        let want = triples(&families);

        let text = write_text(&families);
        let got = collect_families(&mut PromParser::new(text.as_bytes()));
        prop_assert!(got.is_ok(), "{:?}\n{}", got, text);
        let got = got.unwrap_or_default();
        prop_assert_eq!(triples(&got), want.clone(), "{}", text);
        prop_assert_eq!(got[0].help.as_deref(), Some("h \\ \n x"));

        let omtext = write_openmetrics(&families);
        let got = collect_families(&mut OpenMetricsParser::new(omtext.as_bytes()));
        prop_assert!(got.is_ok(), "{:?}\n{}", got, omtext);
        let got = got.unwrap_or_default();
        // OpenMetrics timestamps are float seconds: allow the last millisecond to differ.
        let got = triples(&got);
        prop_assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            prop_assert_eq!(&g.0, &w.0);
            prop_assert_eq!(g.2, w.2);
            let close = match (g.1, w.1) {
                (Some(a), Some(b)) => (a - b).abs() <= 1,
                (a, b) => a == b,
            };
            prop_assert!(close, "timestamps {:?} and {:?}", g.1, w.1);
        }
    }
}
