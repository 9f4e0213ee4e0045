//! Prometheus's `template/template_test.go` table (text mode), Go's expected outputs, plus
//! alert-template cases and a property test that expansion never panics.

use std::rc::Rc;

use model::Labels;
use proptest::prelude::*;

use crate::value::Value;
use crate::{QuerySample, TemplateData};

fn list(v: Vec<Value>) -> Value {
    Value::List(Rc::new(v), "[]interface {}")
}

fn floats(v: &[f64]) -> Value {
    list(v.iter().map(|f| Value::Float(*f)).collect())
}

fn ints(v: &[i64]) -> Value {
    list(v.iter().map(|i| Value::Int(*i)).collect())
}

fn strs(v: &[&str]) -> Value {
    list(v.iter().map(|s| Value::str(s)).collect())
}

fn sample(pairs: &[&str], value: f64) -> QuerySample {
    QuerySample {
        labels: Labels::from_strings(pairs),
        value: value.into(),
    }
}

/// Runs `text` named "test" with `input` as `.` and `query` answering every query, as Go's
/// `testTemplateExpansion` does (external URL http://testhost:9090/path/prefix, time 0).
fn run(text: &str, input: Value, query: Vec<QuerySample>) -> Result<String, String> {
    let qf = move |_: &str| Ok(query.clone());
    let env = crate::funcs::Env {
        query: &qf,
        timestamp_ms: 0,
        external_url: "http://testhost:9090/path/prefix".into(),
    };
    crate::run("test", text, input, &env).map_err(|e| e.to_string())
}

#[track_caller]
fn ok(text: &str, input: Value, out: &str) {
    assert_eq!(run(text, input, vec![]), Ok(out.to_owned()), "{text}");
}

#[track_caller]
fn fails(text: &str, input: Value, err: &str) {
    assert_eq!(run(text, input, vec![]), Err(err.to_owned()), "{text}");
}

#[test]
fn upstream_basic_and_query_cases() {
    ok("plain text", Value::Nil, "plain text");
    ok("{{ 1 }}", Value::Nil, "1");
    fails(
        "{{\u{a0}}}",
        Value::Nil,
        "error parsing template test: template: test:1: unrecognized character in action: U+00A0",
    );
    ok("{{ \"<b>\" }}", Value::Nil, "<b>");
    ok(
        "{{define \"x\"}}{{.arg0}} {{.arg1}}{{end}}{{template \"x\" (args 1 \"2\")}}",
        Value::Nil,
        "1 2",
    );
    let q = |text: &str, samples: Vec<QuerySample>| run(text, Value::Nil, samples);
    assert_eq!(
        q(
            "{{ query \"1.5\" | first | value }}",
            vec![sample(&[], 1.5)]
        ),
        Ok("1.5".into())
    );
    let metric_a = || vec![sample(&["__name__", "metric", "instance", "a"], 11.0)];
    assert_eq!(
        q(
            "{{ query \"metric{instance='a'}\" | first | value }}",
            metric_a()
        ),
        Ok("11".into())
    );
    assert_eq!(
        q(
            "{{ query \"metric{instance='a'}\" | first | label \"instance\" }}",
            metric_a()
        ),
        Ok("a".into())
    );
    assert_eq!(
        q(
            "{{ query \"metric{__value__='a'}\" | first | strvalue }}",
            vec![sample(&["__name__", "metric", "__value__", "a"], 11.0)]
        ),
        Ok("a".into())
    );
    assert_eq!(
        q(
            "{{ query \"metric{instance='a'}\" | first | label \"foo\" }}",
            metric_a()
        ),
        Ok("".into())
    );
    assert_eq!(
        q(
            "{{ $x := query \"metric\" | first }}{{ $x.Labels.foo }}",
            metric_a()
        ),
        Ok("".into())
    );
    assert_eq!(
        q(
            "{{ range query \"metric\" | sortByLabel \"instance\" }}{{.Labels.instance}}:{{.Value}}: {{end}}",
            vec![
                sample(&["__name__", "metric", "instance", "b"], 21.0),
                sample(&["__name__", "metric", "instance", "a"], 11.0),
            ]
        ),
        Ok("a:11: b:21: ".into())
    );
    ok("{{ .Foo }}", Value::Nil, "<no value>");
    fails(
        "{{",
        Value::Nil,
        "error parsing template test: template: test:1: unclosed action",
    );
    assert_eq!(
        q("{{ query \"missing\" | first }}", vec![]),
        Err("error executing template test: template: test:1:21: executing \"test\" at <first>: error calling first: first() called on vector with no elements".into())
    );
    assert_eq!(
        q("{{ (query \"missing\").banana }}", vec![]),
        Err("error executing template test: template: test:1:10: executing \"test\" at <\"missing\">: can't evaluate field banana in type template.queryResult".into())
    );
    ok(
        "{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}",
        Value::Nil,
        "xa",
    );
}

#[test]
fn upstream_host_cases() {
    for (input, port, domain) in [
        ("foo.example.com", "foo.example.com", "foo"),
        ("foo.example.com:12345", "foo.example.com", "foo:12345"),
        ("192.0.2.1", "192.0.2.1", "192.0.2.1"),
        ("192.0.2.1:12345", "192.0.2.1", "192.0.2.1:12345"),
        ("2001:0DB8::1", "2001:0DB8::1", "2001:0DB8::1"),
        (
            "[2001:0DB8::1]:12345",
            "2001:0DB8::1",
            "[2001:0DB8::1]:12345",
        ),
        (
            "[2001:0DB8::1]::12345",
            "[2001:0DB8::1]::12345",
            "[2001:0DB8::1]::12345",
        ),
    ] {
        ok(
            &format!("{{{{ \"{input}\" | stripPort }}}}"),
            Value::Nil,
            port,
        );
        ok(
            &format!("{{{{ \"{input}\" | stripDomain }}}}"),
            Value::Nil,
            domain,
        );
    }
}

#[test]
fn upstream_humanize_cases() {
    let h = "{{ range . }}{{ humanize . }}:{{ end }}";
    ok(h, floats(&[0.0, 1.0, 1234567.0, 0.12]), "0:1:1.235M:120m:");
    ok(
        h,
        strs(&["0.0", "1.0", "1234567.0", ".12"]),
        "0:1:1.235M:120m:",
    );
    fails(
        "{{ humanize \"one\" }}",
        Value::Nil,
        "error executing template test: template: test:1:3: executing \"test\" at <humanize \"one\">: error calling humanize: strconv.ParseFloat: parsing \"one\": invalid syntax",
    );
    ok(
        h,
        ints(&[0, -1, 1, 1234567, i64::MAX]),
        "0:-1:1:1.235M:9.223E:",
    );
    ok(
        h,
        list(vec![
            Value::Int(0),
            Value::Int(1),
            Value::Int(1234567),
            Value::Float(u64::MAX as f64),
        ]),
        "0:1:1.235M:18.45E:",
    );

    let h = "{{ range . }}{{ humanize1024 . }}:{{ end }}";
    ok(h, floats(&[0.0, 1.0, 1048576.0, 0.12]), "0:1:1Mi:0.12:");
    ok(
        h,
        strs(&["0.0", "1.0", "1048576.0", ".12"]),
        "0:1:1Mi:0.12:",
    );
    fails(
        "{{ humanize1024 \"one\" }}",
        Value::Nil,
        "error executing template test: template: test:1:3: executing \"test\" at <humanize1024 \"one\">: error calling humanize1024: strconv.ParseFloat: parsing \"one\": invalid syntax",
    );
    ok(
        h,
        ints(&[0, -1, 1, 1234567, i64::MAX]),
        "0:-1:1:1.177Mi:8Ei:",
    );
    ok(
        h,
        list(vec![
            Value::Int(0),
            Value::Int(1),
            Value::Int(1234567),
            Value::Float(u64::MAX as f64),
        ]),
        "0:1:1.177Mi:16Ei:",
    );

    let h = "{{ range . }}{{ humanizeDuration . }}:{{ end }}";
    ok(
        h,
        floats(&[
            0.0,
            1.0,
            60.0,
            3600.0,
            86400.0,
            86400.0 + 3600.0,
            -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0),
            899.99,
        ]),
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:",
    );
    ok(
        h,
        strs(&["0", "1", "60", "3600", "86400"]),
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:",
    );
    ok(
        h,
        floats(&[0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345]),
        "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
    );
    ok(
        h,
        strs(&[".1", ".0001", ".12345", "60.1", "60.5", "1.2345", "12.345"]),
        "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
    );
    fails(
        "{{ humanizeDuration \"one\" }}",
        Value::Nil,
        "error executing template test: template: test:1:3: executing \"test\" at <humanizeDuration \"one\">: error calling humanizeDuration: strconv.ParseFloat: parsing \"one\": invalid syntax",
    );
    ok(h, ints(&[0, -1, 1, 1234567]), "0s:-1s:1s:14d 6h 56m 7s:");

    let all = "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}";
    let want = "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:";
    ok(
        all,
        floats(&[f64::INFINITY, f64::NEG_INFINITY, f64::NAN]),
        want,
    );
    ok(all, strs(&["+Inf", "-Inf", "NaN"]), want);

    ok(
        "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}",
        Value::Nil,
        "-22.22%:0%:12.35%:123.5%",
    );
    ok(
        "{{ range . }}{{ humanizePercentage . }}:{{ end }}",
        ints(&[0, -1, 1, 1234567, i64::MAX]),
        "0%:-100%:100%:1.235e+08%:9.223e+20%:",
    );
    ok(
        "{{ range . }}{{ humanizePercentage . }}:{{ end }}",
        list(vec![
            Value::Int(0),
            Value::Int(1),
            Value::Int(1234567),
            Value::Float(u64::MAX as f64),
        ]),
        "0%:100%:1.235e+08%:1.845e+21%:",
    );
    ok(
        r#"{{ "-0.22222" | humanizePercentage }}:{{ "0.0" | humanizePercentage }}:{{ "0.1234567" | humanizePercentage }}:{{ "1.23456" | humanizePercentage }}"#,
        Value::Nil,
        "-22.22%:0%:12.35%:123.5%",
    );
    fails(
        r#"{{ "one" | humanizePercentage }}"#,
        Value::Nil,
        "error executing template test: template: test:1:11: executing \"test\" at <humanizePercentage>: error calling humanizePercentage: strconv.ParseFloat: parsing \"one\": invalid syntax",
    );
}

#[test]
fn upstream_time_cases() {
    let h = "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}";
    ok(
        h,
        ints(&[0, -1, 1, 1234567, 9223372036]),
        "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:",
    );
    fails(
        h,
        ints(&[i64::MIN, i64::MAX]),
        "error executing template test: template: test:1:16: executing \"test\" at <humanizeTimestamp .>: error calling humanizeTimestamp: -9.223372036854776e+18 cannot be represented as a nanoseconds timestamp since it overflows int64",
    );
    fails(
        h,
        list(vec![Value::Float(u64::MAX as f64)]),
        "error executing template test: template: test:1:16: executing \"test\" at <humanizeTimestamp .>: error calling humanizeTimestamp: 1.8446744073709552e+19 cannot be represented as a nanoseconds timestamp since it overflows int64",
    );
    ok(
        "{{ 1435065584.128 | humanizeTimestamp }}",
        Value::Nil,
        "2015-06-23 13:19:44.128 +0000 UTC",
    );
    ok(
        r#"{{ "1435065584.128" | humanizeTimestamp }}"#,
        Value::Nil,
        "2015-06-23 13:19:44.128 +0000 UTC",
    );
    ok(
        r#"{{ (1435065584.128 | toTime).Format "2006" }}"#,
        Value::Nil,
        "2015",
    );
    ok(
        r#"{{ ("1435065584.128" | toTime).Format "2006" }}"#,
        Value::Nil,
        "2015",
    );
    ok(
        "{{ 1657155181 | toTime }}",
        Value::Nil,
        "2022-07-07 00:53:01 +0000 UTC",
    );
    ok(
        "{{ now | toTime }}",
        Value::Nil,
        "1970-01-01 00:00:00 +0000 UTC",
    );
    ok(
        "{{ range . }}{{ toDuration . }}:{{ end }}",
        floats(&[
            0.0,
            1.0,
            60.0,
            86400.0,
            -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0),
            899.99,
            0.1,
            0.0001,
            0.12345,
            60.5,
        ]),
        "0s:1s:1m0s:24h0m0s:-51h4m5s:14m59.99s:100ms:100µs:123.45ms:1m0.5s:",
    );
    ok(
        "{{ (toDuration 90).Seconds }} {{ (toDuration \"1.5\").String }}",
        Value::Nil,
        "90 1.5s",
    );
    fails(
        "{{ toDuration 1e10 }}",
        Value::Nil,
        "error executing template test: template: test:1:3: executing \"test\" at <toDuration 1e10>: error calling toDuration: 1e+10 cannot be represented as a nanoseconds duration since it overflows int64",
    );
    fails(
        "{{ toTime \"NaN\" }}",
        Value::Nil,
        "error executing template test: template: test:1:3: executing \"test\" at <toTime \"NaN\">: error calling toTime: value is NaN or Inf",
    );
}

#[test]
fn upstream_string_and_link_cases() {
    ok("{{ \"aa bb CC\" | title }}", Value::Nil, "Aa Bb CC");
    ok("{{ \"aa bb CC\" | toUpper }}", Value::Nil, "AA BB CC");
    ok("{{ \"aA bB CC\" | toLower }}", Value::Nil, "aa bb cc");
    ok(
        "{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}",
        Value::Nil,
        "true false",
    );
    ok(
        "{{ graphLink \"up\" }}",
        Value::Nil,
        "/graph?g0.expr=up&g0.tab=0",
    );
    ok(
        "{{ tableLink \"up\" }}",
        Value::Nil,
        "/graph?g0.expr=up&g0.tab=1",
    );
    ok("{{ pathPrefix }}", Value::Nil, "/path/prefix");
    ok(
        "{{ externalURL }}",
        Value::Nil,
        "http://testhost:9090/path/prefix",
    );
    ok(
        "{{ printf \"%0.2f\" (parseDuration \"1h2m10ms\") }}",
        Value::Nil,
        "3720.01",
    );
    ok(
        "{{ graphLink \"rate(x[5m]) > 1\" }}",
        Value::Nil,
        "/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+1&g0.tab=0",
    );
}

#[test]
fn go_text_template_semantics() {
    // Trim markers, comments, variables, else-if chains.
    ok("a  {{- 1 -}}  b {{/* c */}}d", Value::Nil, "a1b d");
    ok("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", Value::Nil, "2");
    ok(
        "{{ if eq . 1 }}one{{ else if eq . 2 }}two{{ else }}many{{ end }}",
        Value::Int(2),
        "two",
    );
    ok(
        "{{ with $x := \"a\" }}{{ . }}{{ $x }}{{ end }}{{ with \"\" }}x{{ else }}y{{ end }}",
        Value::Nil,
        "aay",
    );
    // Range over slices, maps (sorted), integers, with break and continue.
    ok(
        "{{ range $i, $e := . }}{{ $i }}={{ $e }};{{ end }}",
        strs(&["a", "b"]),
        "0=a;1=b;",
    );
    ok(
        "{{ range . }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ if eq . 4 }}{{ break }}{{ end }}{{ . }}{{ end }}",
        ints(&[1, 2, 3, 4, 5]),
        "13",
    );
    ok(
        "{{ range 3 }}{{ . }}{{ end }}{{ range $i := 0 }}x{{ else }}empty{{ end }}",
        Value::Nil,
        "012empty",
    );
    ok(
        "{{ range $k, $v := args \"b\" \"a\" }}{{ $k }}:{{ $v }} {{ end }}",
        Value::Nil,
        "arg0:b arg1:a ",
    );
    // define/template/block, and variables not leaking into templates.
    ok(
        "{{ define \"t\" }}[{{ . }}]{{ end }}{{ template \"t\" 5 }}{{ block \"b\" \"x\" }}<{{ . }}>{{ end }}",
        Value::Nil,
        "[5]<x>",
    );
    // Builtins.
    ok(
        "{{ and 1 0 2 }} {{ or 0 \"\" 3 }} {{ not 0 }} {{ len \"abc\" }} {{ index \"abc\" 1 }}",
        Value::Nil,
        "0 3 true 3 98",
    );
    ok(
        "{{ print 1 2 \"a\" 3 }}|{{ println \"x\" 1 }}|{{ printf \"%5.1f|%-4d|%q\" 3.14159 7 \"s\" }}",
        Value::Nil,
        "1 2a3|x 1\n|  3.1|7   |\"s\"",
    );
    ok(
        "{{ html \"<a href='x'>&</a>\" }} {{ js \"it's <b>\" }} {{ urlquery \"a b&c\" }}",
        Value::Nil,
        "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt; it\\'s \\u003Cb\\u003E a+b%26c",
    );
    ok(
        "{{ lt 1 2 }} {{ le 2 2 }} {{ gt 1.5 2.5 }} {{ ge \"b\" \"a\" }} {{ ne 1 2 }} {{ eq 1 3 2 1 }}",
        Value::Nil,
        "true true false true true true",
    );
    ok(
        "{{ slice \"abcdef\" 1 3 }} {{ 'a' }} {{ 0x1F }} {{ 1e3 }} {{ 1.50 }} {{ -2 }}",
        Value::Nil,
        "bc 97 31 1000 1.5 -2",
    );
    // Checked against promtool 2.42 (Go's own output).
    ok(
        "{{ printf \"%.*d|%*d\" -1 5 -4 5 }}|{{ toLower \"HÉLLO İ\" }}|{{ toUpper \"ß\" }}",
        Value::Nil,
        "%!(BADPREC)5|5   |héllo i|ß",
    );
    // Values typed interface {} (args entries, .Value) until a pipeline unwraps them. As in
    // Go, an error after a parenthesized pipeline points at the last node evaluated in it.
    ok(
        "{{ (args 1).arg0 }} {{ range (args 2) }}{{ . }}{{ end }} {{ printf \"%T\" (args 1).arg0 }}",
        Value::Nil,
        "1 2 int",
    );
    fails(
        "{{ (args).missing.x }}",
        Value::Nil,
        "error executing template test: template: test:1:4: executing \"test\" at <args>: nil pointer evaluating interface {}.x",
    );
    fails(
        "{{ range (args 1) }}{{ .x }}{{ end }}",
        Value::Nil,
        "error executing template test: template: test:1:23: executing \"test\" at <.x>: can't evaluate field x in type interface {}",
    );
    fails(
        "{{ toUpper (args).missing }}",
        Value::Nil,
        "error executing template test: template: test:1:12: executing \"test\" at <args>: wrong type for value; expected string; got interface {}",
    );
    // reflect.Value parameters take nil (Go's canBeNil).
    ok(
        "{{ not nil }} {{ eq nil nil }} {{ and 1 nil }} {{ index (args) \"x\" }}",
        Value::Nil,
        "true true <no value> <no value>",
    );
    ok(
        "{{ printf \"%v|%d\" (index (args) \"x\") nil }}",
        Value::Nil,
        "<nil>|%!d(<nil>)",
    );
    // Errors, worded and positioned as Go's.

    fails(
        "{{ gt 1.5 1 }}",
        Value::Nil,
        "error executing template test: template: test:1:3: executing \"test\" at <gt 1.5 1>: error calling gt: incompatible types for comparison",
    );
    fails(
        "{{ toUpper 1 }}",
        Value::Nil,
        "error executing template test: template: test:1:11: executing \"test\" at <1>: expected string; found 1",
    );
    fails(
        "x\n  {{ template \"nope\" }}",
        Value::Nil,
        "error executing template test: template: test:2:14: executing \"test\" at <{{template \"nope\"}}>: template \"nope\" not defined",
    );
    fails(
        "{{ index . 5 }}",
        ints(&[1]),
        "error executing template test: template: test:1:3: executing \"test\" at <index . 5>: error calling index: index out of range: 5",
    );
    fails(
        "{{ len 3 }}",
        Value::Nil,
        "error executing template test: template: test:1:3: executing \"test\" at <len 3>: error calling len: len of type int",
    );
    fails(
        "{{ printf }}",
        Value::Nil,
        "error executing template test: template: test:1:3: executing \"test\" at <printf>: wrong number of args for printf: want at least 1 got 0",
    );
    fails(
        "{{ range 1.5 }}{{ end }}",
        Value::Nil,
        "error executing template test: template: test:1:9: executing \"test\" at <1.5>: range can't iterate over 1.5",
    );
    fails(
        "{{ 18446744073709551615 }}",
        Value::Nil,
        "error executing template test: template: test:1:3: executing \"test\" at <18446744073709551615>: 18446744073709551615 overflows int",
    );
    fails(
        "{{ if }}{{ end }}",
        Value::Nil,
        "error parsing template test: template: test:1: missing value for if",
    );
    fails(
        "{{ nope }}",
        Value::Nil,
        "error parsing template test: template: test:1: function \"nope\" not defined",
    );
    fails(
        "a\n{{ if 1 }}\nb",
        Value::Nil,
        "error parsing template test: template: test:3: unexpected EOF",
    );
    fails(
        "{{ \"a\" | \"b\" }}",
        Value::Nil,
        "error parsing template test: template: test:1: non executable command in pipeline stage 2",
    );
    fails(
        "{{define \"a\"}}{{template \"a\"}}{{end}}{{template \"a\"}}",
        Value::Nil,
        "error executing template test: template: test:1:25: executing \"a\" at <{{template \"a\"}}>: exceeded maximum template depth (10000)",
    );
}

#[test]
fn deep_nesting_is_handled_or_rejected_without_overflow() {
    let none = |_: &str| Ok(vec![]);
    let d = TemplateData::default();
    let ifs = format!("{}x{}", "{{if 1}}".repeat(900), "{{end}}".repeat(900));
    assert_eq!(crate::expand("n", &ifs, &d, 0, &none), Ok("x".into()));
    let parens = format!("{{{{ {}1{} }}}}", "(".repeat(900), ")".repeat(900));
    assert_eq!(crate::expand("n", &parens, &d, 0, &none), Ok("1".into()));
    let too_deep = format!("{{{{ {}1{} }}}}", "(".repeat(1200), ")".repeat(1200));
    assert_eq!(
        crate::check("n", &too_deep),
        Err(crate::Error::Syntax {
            name: "n".into(),
            line: 1,
            message: "max expression depth exceeded".into()
        })
    );
    let ranges = format!(
        "{}{}",
        "{{range $labels}}".repeat(500),
        "{{end}}".repeat(500)
    );
    assert_eq!(crate::expand("n", &ranges, &d, 0, &none), Ok(String::new()));
}

#[test]
fn runaway_templates_stop_at_the_step_limit() {
    let none = |_: &str| Ok(vec![]);
    let d = TemplateData::default();
    let err = crate::expand("n", "{{ range 100000000000 }}{{ end }}", &d, 0, &none).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("exceeded maximum number of execution steps (10000000)"),
        "{err}"
    );
    let doubling = "{{ $x := \"ab\" }}{{ range 40 }}{{ $x = printf \"%s%s\" $x $x }}{{ end }}";
    let err = crate::expand("n", doubling, &d, 0, &none).unwrap_err();
    assert!(err.to_string().contains("exceeds 67108864 bytes"), "{err}");
}

/// `$value` printed through every formatting path, for 42 values; the expected strings are
/// what promtool 2.42 (`promtool test rules`) produced for the same template and values.
#[test]
fn values_format_as_promtool_does() {
    let text = "{{ $value }}|{{ humanize $value }}|{{ humanize1024 $value }}|{{ humanizeDuration $value }}|{{ humanizePercentage $value }}|{{ humanizeTimestamp $value }}|{{ printf \"%.2f %g %e %v %5.1f %.3g %08.3f %d %s\" $value $value $value $value $value $value $value $value $value }}|{{ $value | printf \"%.0f\" }}|{{ if gt $value 0.5 }}gt{{ else }}le{{ end }}";
    let cases: &[(&str, &str)] = &[
        (
            "0",
            "0|0|0|0s|0%|1970-01-01 00:00:00 +0000 UTC|0.00 0 0.000000e+00 0   0.0 0 0000.000 %!d(float64=0) %!s(float64=0)|0|le",
        ),
        (
            "1",
            "1|1|1|1s|100%|1970-01-01 00:00:01 +0000 UTC|1.00 1 1.000000e+00 1   1.0 1 0001.000 %!d(float64=1) %!s(float64=1)|1|gt",
        ),
        (
            "-1",
            "-1|-1|-1|-1s|-100%|1969-12-31 23:59:59 +0000 UTC|-1.00 -1 -1.000000e+00 -1  -1.0 -1 -001.000 %!d(float64=-1) %!s(float64=-1)|-1|le",
        ),
        (
            "0.5",
            "0.5|500m|0.5|500ms|50%|1970-01-01 00:00:00.5 +0000 UTC|0.50 0.5 5.000000e-01 0.5   0.5 0.5 0000.500 %!d(float64=0.5) %!s(float64=0.5)|0|le",
        ),
        (
            "1.5",
            "1.5|1.5|1.5|1.5s|150%|1970-01-01 00:00:01.5 +0000 UTC|1.50 1.5 1.500000e+00 1.5   1.5 1.5 0001.500 %!d(float64=1.5) %!s(float64=1.5)|2|gt",
        ),
        (
            "123456",
            "123456|123.5k|120.6ki|1d 10h 17m 36s|1.235e+07%|1970-01-02 10:17:36 +0000 UTC|123456.00 123456 1.234560e+05 123456 123456.0 1.23e+05 123456.000 %!d(float64=123456) %!s(float64=123456)|123456|gt",
        ),
        (
            "1234567",
            "1.234567e+06|1.235M|1.177Mi|14d 6h 56m 7s|1.235e+08%|1970-01-15 06:56:07 +0000 UTC|1234567.00 1.234567e+06 1.234567e+06 1.234567e+06 1234567.0 1.23e+06 1234567.000 %!d(float64=1.234567e+06) %!s(float64=1.234567e+06)|1234567|gt",
        ),
        (
            "0.000012345",
            "1.2345e-05|12.35u|1.234e-05|12.35us|0.001234%|1970-01-01 00:00:00 +0000 UTC|0.00 1.2345e-05 1.234500e-05 1.2345e-05   0.0 1.23e-05 0000.000 %!d(float64=1.2345e-05) %!s(float64=1.2345e-05)|0|le",
        ),
        (
            "1e-7",
            "1e-07|100n|1e-07|100ns|1e-05%|1970-01-01 00:00:00 +0000 UTC|0.00 1e-07 1.000000e-07 1e-07   0.0 1e-07 0000.000 %!d(float64=1e-07) %!s(float64=1e-07)|0|le",
        ),
        (
            "1e21",
            "<error expanding template: error executing template __alert_A: template: __alert_A:1:238: executing \"__alert_A\" at <humanizeTimestamp $value>: error calling humanizeTimestamp: 1e+21 cannot be represented as a nanoseconds timestamp since it overflows int64>",
        ),
        (
            "1e20",
            "<error expanding template: error executing template __alert_A: template: __alert_A:1:238: executing \"__alert_A\" at <humanizeTimestamp $value>: error calling humanizeTimestamp: 1e+20 cannot be represented as a nanoseconds timestamp since it overflows int64>",
        ),
        (
            "9.999e5",
            "999900|999.9k|976.5ki|11d 13h 45m 0s|9.999e+07%|1970-01-12 13:45:00 +0000 UTC|999900.00 999900 9.999000e+05 999900 999900.0 1e+06 999900.000 %!d(float64=999900) %!s(float64=999900)|999900|gt",
        ),
        (
            "999999",
            "999999|1000k|976.6ki|11d 13h 46m 39s|1e+08%|1970-01-12 13:46:39 +0000 UTC|999999.00 999999 9.999990e+05 999999 999999.0 1e+06 999999.000 %!d(float64=999999) %!s(float64=999999)|999999|gt",
        ),
        (
            "1000000",
            "1e+06|1M|976.6ki|11d 13h 46m 40s|1e+08%|1970-01-12 13:46:40 +0000 UTC|1000000.00 1e+06 1.000000e+06 1e+06 1000000.0 1e+06 1000000.000 %!d(float64=1e+06) %!s(float64=1e+06)|1000000|gt",
        ),
        (
            "0.1",
            "0.1|100m|0.1|100ms|10%|1970-01-01 00:00:00.1 +0000 UTC|0.10 0.1 1.000000e-01 0.1   0.1 0.1 0000.100 %!d(float64=0.1) %!s(float64=0.1)|0|le",
        ),
        (
            "0.3",
            "0.3|300m|0.3|300ms|30%|1970-01-01 00:00:00.3 +0000 UTC|0.30 0.3 3.000000e-01 0.3   0.3 0.3 0000.300 %!d(float64=0.3) %!s(float64=0.3)|0|le",
        ),
        (
            "100",
            "100|100|100|1m 40s|1e+04%|1970-01-01 00:01:40 +0000 UTC|100.00 100 1.000000e+02 100 100.0 100 0100.000 %!d(float64=100) %!s(float64=100)|100|gt",
        ),
        (
            "-0.001",
            "-0.001|-1m|-0.001|-1ms|-0.1%|1969-12-31 23:59:59.999 +0000 UTC|-0.00 -0.001 -1.000000e-03 -0.001  -0.0 -0.001 -000.001 %!d(float64=-0.001) %!s(float64=-0.001)|-0|le",
        ),
        (
            "3.14159265",
            "3.14159265|3.142|3.142|3.142s|314.2%|1970-01-01 00:00:03.141 +0000 UTC|3.14 3.14159265 3.141593e+00 3.14159265   3.1 3.14 0003.142 %!d(float64=3.14159265) %!s(float64=3.14159265)|3|gt",
        ),
        (
            "2.5",
            "2.5|2.5|2.5|2.5s|250%|1970-01-01 00:00:02.5 +0000 UTC|2.50 2.5 2.500000e+00 2.5   2.5 2.5 0002.500 %!d(float64=2.5) %!s(float64=2.5)|2|gt",
        ),
        (
            "-2.5",
            "-2.5|-2.5|-2.5|-2.5s|-250%|1969-12-31 23:59:57.5 +0000 UTC|-2.50 -2.5 -2.500000e+00 -2.5  -2.5 -2.5 -002.500 %!d(float64=-2.5) %!s(float64=-2.5)|-2|le",
        ),
        (
            "86400",
            "86400|86.4k|84.38ki|1d 0h 0m 0s|8.64e+06%|1970-01-02 00:00:00 +0000 UTC|86400.00 86400 8.640000e+04 86400 86400.0 8.64e+04 86400.000 %!d(float64=86400) %!s(float64=86400)|86400|gt",
        ),
        (
            "90061.5",
            "90061.5|90.06k|87.95ki|1d 1h 1m 1s|9.006e+06%|1970-01-02 01:01:01.5 +0000 UTC|90061.50 90061.5 9.006150e+04 90061.5 90061.5 9.01e+04 90061.500 %!d(float64=90061.5) %!s(float64=90061.5)|90062|gt",
        ),
        (
            "1e15",
            "<error expanding template: error executing template __alert_A: template: __alert_A:1:238: executing \"__alert_A\" at <humanizeTimestamp $value>: error calling humanizeTimestamp: 1e+15 cannot be represented as a nanoseconds timestamp since it overflows int64>",
        ),
        (
            "123456789012",
            "<error expanding template: error executing template __alert_A: template: __alert_A:1:238: executing \"__alert_A\" at <humanizeTimestamp $value>: error calling humanizeTimestamp: 1.23456789012e+11 cannot be represented as a nanoseconds timestamp since it overflows int64>",
        ),
        (
            "0.00099999",
            "0.00099999|1000u|0.001|1000us|0.1%|1970-01-01 00:00:00 +0000 UTC|0.00 0.00099999 9.999900e-04 0.00099999   0.0 0.001 0000.001 %!d(float64=0.00099999) %!s(float64=0.00099999)|0|le",
        ),
        (
            "1e-300",
            "1e-300|1e-276y|1e-300|1e-276ys|1e-298%|1970-01-01 00:00:00 +0000 UTC|0.00 1e-300 1.000000e-300 1e-300   0.0 1e-300 0000.000 %!d(float64=1e-300) %!s(float64=1e-300)|0|le",
        ),
        (
            "1.7976931348623157e308",
            "<error expanding template: error executing template __alert_A: template: __alert_A:1:238: executing \"__alert_A\" at <humanizeTimestamp $value>: error calling humanizeTimestamp: 1.7976931348623157e+308 cannot be represented as a nanoseconds timestamp since it overflows int64>",
        ),
        (
            "-1e308",
            "<error expanding template: error executing template __alert_A: template: __alert_A:1:238: executing \"__alert_A\" at <humanizeTimestamp $value>: error calling humanizeTimestamp: -1e+308 cannot be represented as a nanoseconds timestamp since it overflows int64>",
        ),
        (
            "NaN",
            "NaN|NaN|NaN|NaN|NaN%|NaN|NaN NaN NaN NaN   NaN NaN      NaN %!d(float64=NaN) %!s(float64=NaN)|NaN|gt",
        ),
        (
            "Inf",
            "+Inf|+Inf|+Inf|+Inf|+Inf%|+Inf|+Inf +Inf +Inf +Inf  +Inf +Inf     +Inf %!d(float64=+Inf) %!s(float64=+Inf)|+Inf|gt",
        ),
        (
            "-Inf",
            "-Inf|-Inf|-Inf|-Inf|-Inf%|-Inf|-Inf -Inf -Inf -Inf  -Inf -Inf     -Inf %!d(float64=-Inf) %!s(float64=-Inf)|-Inf|le",
        ),
        (
            "1048576",
            "1.048576e+06|1.049M|1Mi|12d 3h 16m 16s|1.049e+08%|1970-01-13 03:16:16 +0000 UTC|1048576.00 1.048576e+06 1.048576e+06 1.048576e+06 1048576.0 1.05e+06 1048576.000 %!d(float64=1.048576e+06) %!s(float64=1.048576e+06)|1048576|gt",
        ),
        (
            "1023.9",
            "1023.9|1.024k|1024|17m 3s|1.024e+05%|1970-01-01 00:17:03.9 +0000 UTC|1023.90 1023.9 1.023900e+03 1023.9 1023.9 1.02e+03 1023.900 %!d(float64=1023.9) %!s(float64=1023.9)|1024|gt",
        ),
        (
            "5e-324",
            "5e-324|4.941e-300y|4.941e-324|4.941e-300ys|4.941e-322%|1970-01-01 00:00:00 +0000 UTC|0.00 5e-324 4.940656e-324 5e-324   0.0 4.94e-324 0000.000 %!d(float64=5e-324) %!s(float64=5e-324)|0|le",
        ),
        (
            "59.999",
            "59.999|60|60|60s|6000%|1970-01-01 00:00:59.999 +0000 UTC|60.00 59.999 5.999900e+01 59.999  60.0 60 0059.999 %!d(float64=59.999) %!s(float64=59.999)|60|gt",
        ),
        (
            "3599.5",
            "3599.5|3.599k|3.515ki|59m 59s|3.6e+05%|1970-01-01 00:59:59.5 +0000 UTC|3599.50 3599.5 3.599500e+03 3599.5 3599.5 3.6e+03 3599.500 %!d(float64=3599.5) %!s(float64=3599.5)|3600|gt",
        ),
        (
            "1700000000",
            "1.7e+09|1.7G|1.583Gi|19675d 22h 13m 20s|1.7e+11%|2023-11-14 22:13:20 +0000 UTC|1700000000.00 1.7e+09 1.700000e+09 1.7e+09 1700000000.0 1.7e+09 1700000000.000 %!d(float64=1.7e+09) %!s(float64=1.7e+09)|1700000000|gt",
        ),
        (
            "1700000000.123",
            "1.700000000123e+09|1.7G|1.583Gi|19675d 22h 13m 20s|1.7e+11%|2023-11-14 22:13:20.122 +0000 UTC|1700000000.12 1.700000000123e+09 1.700000e+09 1.700000000123e+09 1700000000.1 1.7e+09 1700000000.123 %!d(float64=1.700000000123e+09) %!s(float64=1.700000000123e+09)|1700000000|gt",
        ),
        (
            "0.125",
            "0.125|125m|0.125|125ms|12.5%|1970-01-01 00:00:00.125 +0000 UTC|0.12 0.125 1.250000e-01 0.125   0.1 0.125 0000.125 %!d(float64=0.125) %!s(float64=0.125)|0|le",
        ),
        (
            "7.5e-5",
            "7.5e-05|75u|7.5e-05|75us|0.0075%|1970-01-01 00:00:00 +0000 UTC|0.00 7.5e-05 7.500000e-05 7.5e-05   0.0 7.5e-05 0000.000 %!d(float64=7.5e-05) %!s(float64=7.5e-05)|0|le",
        ),
        (
            "12345.6789",
            "12345.6789|12.35k|12.06ki|3h 25m 45s|1.235e+06%|1970-01-01 03:25:45.678 +0000 UTC|12345.68 12345.6789 1.234568e+04 12345.6789 12345.7 1.23e+04 12345.679 %!d(float64=12345.6789) %!s(float64=12345.6789)|12346|gt",
        ),
    ];
    let none = |_: &str| Ok(vec![]);
    for (v, want) in cases {
        let value = match *v {
            "Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap(),
        };
        let d = TemplateData {
            value: value.into(),
            ..TemplateData::default()
        };
        let got = match crate::expand("__alert_A", text, &d, 0, &none) {
            Ok(s) => s,
            Err(e) => format!("<error expanding template: {e}>"),
        };
        assert_eq!(&got, want, "value {v}");
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            (c, false) => out.push(c),
        }
    }
    out
}

/// Every case of `testdata/promtool-2.42.txt`: outputs and parse errors that promtool 2.42
/// produced (hand-written cases and random ones from a template grammar), with the same data.
#[test]
fn templates_expand_as_promtool_does() {
    let file = include_str!("../testdata/promtool-2.42.txt");
    let up = || {
        sample(
            &["__name__", "up", "instance", "web-1:9100", "job", "x"],
            1.0,
        )
    };
    let query = |_: &str| Ok(vec![up()]);
    let d = TemplateData {
        labels: up().labels,
        value: 1.0.into(),
        ..TemplateData::default()
    };
    let mut lines = file.lines().filter(|l| !l.starts_with('#'));
    let mut n = 0;
    while let (Some(t), Some(want)) = (lines.next(), lines.next()) {
        let text = unescape(t.strip_prefix("T ").expect("a template line"));
        if let Some(out) = want.strip_prefix("O ") {
            let got = match crate::expand("__alert_A", &text, &d, 60_000, &query) {
                Ok(s) => s,
                Err(e) => format!("<error expanding template: {e}>"),
            };
            assert_eq!(got, unescape(out), "{text}");
        } else {
            let err = want.strip_prefix("E ").expect("an output or error line");
            let got = crate::check("__alert_A", &text).map_err(|e| e.to_string());
            assert_eq!(got, Err(unescape(err)), "{text}");
        }
        n += 1;
    }
    assert!(n > 800, "only {n} cases");
}

fn data() -> TemplateData {
    TemplateData {
        labels: Labels::from_pairs([
            ("alertname", "HighLatency"),
            ("instance", "web-1:9100"),
            ("job", "api"),
        ]),
        external_labels: Labels::from_pairs([("cluster", "eu-1")]),
        external_url: "https://prom.example.com/prometheus".into(),
        value: 1234567.0.into(),
    }
}

#[test]
fn alert_templates_use_the_prelude() {
    let none = |_: &str| Ok(vec![]);
    let exp = |t: &str| crate::expand("__alert_HighLatency", t, &data(), 1_700_000_000_000, &none);
    assert_eq!(
        exp(
            "{{ $labels.job }}/{{ .Labels.instance }} {{ $value }} {{ $externalLabels.cluster }} {{ $externalURL }}"
        ),
        Ok("api/web-1:9100 1.234567e+06 eu-1 https://prom.example.com/prometheus".into())
    );
    assert_eq!(
        exp(
            "{{ $labels.missing }}|{{ index $labels \"job\" }}|{{ humanize $value }}|{{ pathPrefix }}"
        ),
        Ok("|api|1.235M|/prometheus".into())
    );
    assert_eq!(
        exp("{{ range $k, $v := $labels }}{{ $k }}={{ $v }},{{ end }}"),
        Ok("alertname=HighLatency,instance=web-1:9100,job=api,".into())
    );
    assert_eq!(
        exp("{{ if gt $value 1000.0 }}big{{ end }} {{ now }}"),
        Ok("big 1.7e+09".into())
    );
    // Positions count the 112 bytes of the prelude, as Prometheus's messages do.
    assert_eq!(
        exp("{{ .Foo }}").unwrap_err().to_string(),
        "error executing template __alert_HighLatency: template: __alert_HighLatency:1:115: executing \"__alert_HighLatency\" at <.Foo>: can't evaluate field Foo in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }"
    );
    assert_eq!(
        exp("{{ query \"up\" | first | value }}")
            .unwrap_err()
            .to_string(),
        "error executing template __alert_HighLatency: template: __alert_HighLatency:1:128: executing \"__alert_HighLatency\" at <first>: error calling first: first() called on vector with no elements"
    );
    assert_eq!(
        exp("{{ .Value.default }}").unwrap_err().to_string(),
        "error executing template __alert_HighLatency: template: __alert_HighLatency:1:121: executing \"__alert_HighLatency\" at <.Value.default>: can't evaluate field default in type interface {}"
    );
    assert_eq!(
        exp("{{ printf \"%#v|%#v|%#v\" $externalLabels (args 1 \"a\") 1.5 }}"),
        Ok("map[string]string{\"cluster\":\"eu-1\"}|map[string]interface {}{\"arg0\":1, \"arg1\":\"a\"}|1.5".into())
    );
    let failing = |q: &str| Err(format!("query {q} failed"));
    assert_eq!(
        crate::expand("a", "{{ query \"up\" }}", &data(), 0, &failing)
            .unwrap_err()
            .to_string(),
        "error executing template a: template: a:1:115: executing \"a\" at <query \"up\">: error calling query: query up failed"
    );
    assert_eq!(
        crate::check("__alert_x", "{{ $labels.job }} {{ $nope }}")
            .unwrap_err()
            .to_string(),
        "template: __alert_x:1: undefined variable \"$nope\""
    );
    assert_eq!(
        crate::check("__alert_x", "{{ $labels.job | toUpper }}"),
        Ok(())
    );
}

fn histogram_data() -> TemplateData {
    let h = model::FloatHistogram::parse_notation("{{schema:0 sum:10 count:5 buckets:[2 3]}}")
        .expect("valid notation");
    TemplateData {
        labels: Labels::from_pairs([("job", "api")]),
        value: crate::SampleValue::Histogram(std::sync::Arc::new(h)),
        ..TemplateData::default()
    }
}

/// Prometheus 3 passes a histogram sample's `*histogram.FloatHistogram` as `.Value`.
#[test]
fn histogram_values_print_with_go_string_and_refuse_float_functions() {
    let none = |_: &str| Ok(vec![]);
    let exp = |t: &str| {
        crate::expand("__alert_H", t, &histogram_data(), 0, &none).map_err(|e| e.to_string())
    };
    let s = "{count:5, sum:10, (0.5,1]:2, (1,2]:3}";
    assert_eq!(exp("{{ $value }}"), Ok(s.into()));
    assert_eq!(
        exp("{{ .Value }}|{{ $value.String }}|{{ print $value }}"),
        Ok(format!("{s}|{s}|{s}"))
    );
    assert_eq!(
        exp(
            "{{ .Value.Count }} {{ $value.Sum }} {{ $value.ZeroCount }} {{ $value.Schema }} {{ $value.PositiveBuckets }} {{ len $value.NegativeBuckets }}"
        ),
        Ok("5 10 0 0 [2 3] 0".into())
    );
    assert_eq!(
        exp(
            "{{ $value.PositiveSpans }} {{ range $value.PositiveSpans }}{{ .Offset }}:{{ .Length }}{{ end }} {{ printf \"%T %T %+v %#v\" $value.PositiveSpans $value.NegativeBuckets (index $value.PositiveSpans 0) $value.PositiveBuckets }}"
        ),
        Ok("[{0 2}] 0:2 []histogram.Span []float64 {Offset:0 Length:2} []float64{2, 3}".into())
    );
    assert_eq!(
        exp("{{ printf \"%.1f %T %q\" $value.Count $value $value }}"),
        Ok(format!("5.0 *histogram.FloatHistogram \"{s}\""))
    );
    assert_eq!(
        exp("{{ printf \"%d\" $value }}"),
        Ok("&{0 0 %!d(float64=0) %!d(float64=0) %!d(float64=5) %!d(float64=10) [{0 2}] [] [%!d(float64=2) %!d(float64=3)] [] []}".into())
    );
    assert_eq!(
        exp("{{ printf \"%#v\" $value }}"),
        Ok("&histogram.FloatHistogram{CounterResetHint:0x0, Schema:0, ZeroThreshold:0, ZeroCount:0, Count:5, Sum:10, PositiveSpans:[]histogram.Span{histogram.Span{Offset:0, Length:0x2}}, NegativeSpans:[]histogram.Span(nil), PositiveBuckets:[]float64{2, 3}, NegativeBuckets:[]float64(nil), CustomValues:[]float64(nil)}".into())
    );
    assert_eq!(
        exp("{{ if $value }}yes{{ end }} {{ eq $value $value }} {{ eq .Value $value }}"),
        Ok("yes true true".into())
    );
    let at = |action: &str, col: usize, msg: &str| {
        format!(
            "error executing template __alert_H: template: __alert_H:1:{col}: executing \"__alert_H\" at <{action}>: {msg}"
        )
    };
    assert_eq!(
        exp("{{ humanize $value }}"),
        Err(at(
            "humanize $value",
            115,
            "error calling humanize: can't convert *histogram.FloatHistogram to float"
        ))
    );
    assert_eq!(
        exp("{{ $value | humanizePercentage }}"),
        Err(at(
            "humanizePercentage",
            124,
            "error calling humanizePercentage: can't convert *histogram.FloatHistogram to float"
        ))
    );
    assert_eq!(
        exp("{{ if gt $value 1.0 }}big{{ end }}"),
        Err(at(
            "gt $value 1.0",
            118,
            "error calling gt: invalid type for comparison"
        ))
    );
    assert_eq!(
        exp("{{ eq $value 1.0 }}"),
        Err(at(
            "eq $value 1.0",
            115,
            "error calling eq: incompatible types for comparison"
        ))
    );
    assert_eq!(
        exp("{{ len $value }}"),
        Err(at(
            "len $value",
            115,
            "error calling len: len of type histogram.FloatHistogram"
        ))
    );
    assert_eq!(
        exp("{{ $value.Foo }}"),
        Err(at(
            "$value.Foo",
            121,
            "can't evaluate field Foo in type *histogram.FloatHistogram"
        ))
    );
}

#[test]
fn query_results_carry_histograms() {
    let h = match histogram_data().value {
        crate::SampleValue::Histogram(h) => h,
        crate::SampleValue::Float(_) => unreachable!("histogram_data holds a histogram"),
    };
    let q = move |_: &str| {
        Ok(vec![QuerySample {
            labels: Labels::from_pairs([("__name__", "rpc_latency")]),
            value: crate::SampleValue::Histogram(h.clone()),
        }])
    };
    let exp = |t: &str| crate::expand("a", t, &data(), 0, &q).map_err(|e| e.to_string());
    let s = "{count:5, sum:10, (0.5,1]:2, (1,2]:3}";
    assert_eq!(exp("{{ query \"x\" | first | value }}"), Ok(s.into()));
    assert_eq!(
        exp("{{ range query \"x\" }}{{ .Value.Count }} {{ . }}{{ end }}"),
        Ok(format!("5 {{map[__name__:rpc_latency] {s}}}"))
    );
    assert!(exp("{{ query \"x\" | first | value | humanize }}").is_err());
}

proptest! {
    #[test]
    fn expand_never_panics(text in "(\\{\\{|\\}\\}|[ -~]|\\$labels|\\.Labels|range|if|end|else|define|template|humanize|printf|query|first|index|\\||\\(|\\)|\"|-| ){0,60}") {
        let q = |_: &str| Ok(vec![sample(&["__name__", "up", "job", "a"], 1.0)]);
        let _ = crate::expand("p", &text, &data(), 0, &q);
        let _ = crate::check("p", &text);
    }

    #[test]
    fn expand_never_panics_on_any_unicode(text in "\\PC{0,40}") {
        let q = |_: &str| Ok(vec![]);
        let _ = crate::expand("p", &text, &data(), 0, &q);
    }
}

/// The value of the sample line `name N` in `out`.
fn counter(out: &str, name: &str) -> f64 {
    out.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{out}"))
}

#[test]
fn expansions_and_failures_are_counted() {
    let read = || {
        let mut out = String::new();
        crate::write_metrics(&mut out);
        assert!(out.contains("# TYPE prometheus_template_text_expansions_total counter\n"));
        (
            counter(&out, "prometheus_template_text_expansions_total"),
            counter(&out, "prometheus_template_text_expansion_failures_total"),
        )
    };
    let (total, failures) = read();
    let no_query = |_: &str| Ok(vec![]);
    let data = TemplateData::default();
    assert!(crate::expand("a", "{{ 1 }}", &data, 0, &no_query).is_ok());
    assert!(crate::expand("b", "{{ nope }}", &data, 0, &no_query).is_err());
    assert!(crate::expand("c", "{{ index 1 2 }}", &data, 0, &no_query).is_err());
    // Other tests may expand at the same time: the counters grew by at least this much.
    let (total2, failures2) = read();
    assert!(total2 - total >= 3.0, "{total} -> {total2}");
    assert!(failures2 - failures >= 2.0, "{failures} -> {failures2}");
}
