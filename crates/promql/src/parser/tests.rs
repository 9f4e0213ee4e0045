//! Parser tests: Go's parse_test.go and printer_test.go cases, the round trip over the
//! upstream test scripts, and property tests.

use super::*;

fn parse(s: &str) -> Expr {
    match parse_expr(s) {
        Ok(e) => e,
        Err(e) => panic!("parsing {s:?}: {e}"),
    }
}

fn parse_err(s: &str) -> String {
    match parse_expr(s) {
        Ok(e) => panic!("{s:?} parsed as {e:?}, expected an error"),
        Err(e) => e.to_string(),
    }
}

/// `parse(print(parse(s))) == parse(s)` and printing is stable.
fn round_trip(s: &str) -> Result<(), String> {
    let e = parse_expr(s).map_err(|e| e.to_string())?;
    let printed = e.to_string();
    let again = parse_expr(&printed).map_err(|err| format!("reparsing {printed:?}: {err}"))?;
    if again != e {
        return Err(format!("{s:?} printed as {printed:?} reparses differently"));
    }
    if again.to_string() != printed {
        return Err(format!("{printed:?} is not a fixed point"));
    }
    let pretty = prettify(&e);
    let from_pretty =
        parse_expr(&pretty).map_err(|err| format!("reparsing pretty {pretty:?}: {err}"))?;
    if from_pretty != e {
        return Err(format!("prettified {s:?} reparses differently"));
    }
    Ok(())
}

#[test]
fn printer_matches_go() {
    // printer_test.go TestExprString, plus our additions for 3.x syntax.
    let cases = [
        (
            "sum by() (task:errors:rate10s{job=\"s\"})",
            "sum(task:errors:rate10s{job=\"s\"})",
        ),
        (
            "sum by(code) (task:errors:rate10s{job=\"s\"})",
            "sum by (code) (task:errors:rate10s{job=\"s\"})",
        ),
        (
            "sum without() (task:errors:rate10s{job=\"s\"})",
            "sum without () (task:errors:rate10s{job=\"s\"})",
        ),
        (
            "sum without(instance) (task:errors:rate10s{job=\"s\"})",
            "sum without (instance) (task:errors:rate10s{job=\"s\"})",
        ),
        ("topk(5, task:errors:rate10s{job=\"s\"})", ""),
        (
            "count_values(\"value\", task:errors:rate10s{job=\"s\"})",
            "",
        ),
        ("a - on() c", "a - on () c"),
        ("a - on(b) c", "a - on (b) c"),
        ("a - on(b) group_left(x) c", "a - on (b) group_left (x) c"),
        (
            "a - on(b) group_left(x, y) c",
            "a - on (b) group_left (x, y) c",
        ),
        ("a - on(b) group_left c", "a - on (b) group_left () c"),
        ("a - on(b) group_left() (c)", "a - on (b) group_left () (c)"),
        ("a - ignoring(b) c", "a - ignoring (b) c"),
        ("a - ignoring() c", "a - c"),
        ("up > bool 0", ""),
        ("a offset 1m", ""),
        ("a offset -7m", ""),
        ("a{c=\"d\"}[5m] offset 1m", ""),
        ("a[5m] offset 1m", ""),
        ("a[12m] offset -3m", ""),
        ("a[1h:5m] offset 1m", ""),
        ("{__name__=\"a\"}", ""),
        ("a{b!=\"c\"}[1m]", ""),
        ("a{b=~\"c\"}[1m]", ""),
        ("a{b!~\"c\"}[1m]", ""),
        ("a @ 10", "a @ 10.000"),
        ("a[1m] @ 10", "a[1m] @ 10.000"),
        ("a @ start()", ""),
        ("a @ end()", ""),
        ("a[1m] @ start()", ""),
        ("a[1m] @ end()", ""),
        // Ours: canonical forms of 3.x syntax.
        ("foo[300s]", "foo[5m]"),
        // Found by diffing against Prometheus 2.42: milliseconds must survive the float.
        (
            "sum_over_time(metric[1001ms])",
            "sum_over_time(metric[1s1ms])",
        ),
        ("foo[4.018]", "foo[4s18ms]"),
        ("foo offset 2002ms", "foo offset 2s2ms"),
        ("foo[1800]", "foo[30m]"),
        ("foo[90m:1m]", "foo[1h30m:1m]"),
        ("foo[5m:]", ""),
        ("5m", ""),
        ("-5m", ""),
        ("1e6", "1000000"),
        ("0x1F", "31"),
        ("-Inf", ""),
        ("NaN", ""),
        ("'a\\'b'", "\"a'b\""),
        ("`raw\\n`", "\"raw\\\\n\""),
        (
            "{\"my.metric\", \"label.name\"=\"v\"}",
            "{\"label.name\"=\"v\",__name__=\"my.metric\"}",
        ),
        ("sum by (\"a.b\") (x)", "sum by (\"a.b\") (x)"),
        ("foo[5m+1m]", "foo[5m + 1m]"),
        ("foo offset (1h*2)", "foo offset (1h * 2)"),
        ("foo[step()]", ""),
        ("foo offset -step()", ""),
        ("foo[min_of(step()+1,1h)]", "foo[min_of(step() + 1, 1h)]"),
        ("foo[5m] anchored", ""),
        ("foo smoothed", ""),
        ("a + fill(0) b", ""),
        (
            "a + on(x) group_left fill_left(1) fill_right(2) b",
            "a + on (x) group_left () fill_left(1) fill_right(2) b",
        ),
        ("-(1)", ""),
        ("- -1", "1"),
        ("-2 ^ 2", ""),
        ("foo * Inf ^ foo", ""),
        ("foo - Inf", "foo - +Inf"),
        // Found by fuzzing: an empty selector must print as `{}`.
        ("-info(metric, {})", ""),
        // unquoted_utf8_test.go TestUnquotedUTF8NamesPrinting, with the feature disabled.
        ("foo{\"service.name\"=\"api\"}", ""),
        ("sum by (\"service.name\", \"équipe\") (foo)", ""),
        (
            "foo + on (\"service.name\") group_left (\"équipe\") bar",
            "",
        ),
        (
            "foo{\".name\"=\"x\", \"ö\"=\"y\", \"😀\"=\"z\"}",
            "foo{\".name\"=\"x\",\"ö\"=\"y\",\"😀\"=\"z\"}",
        ),
        ("-0m", "0s"),
        (
            "rate(foo[5m])[10m:1m] @ 100 offset 5m",
            "rate(foo[5m])[10m:1m] @ 100.000 offset 5m",
        ),
    ];
    for (input, want) in cases {
        let want = if want.is_empty() { input } else { want };
        assert_eq!(parse(input).to_string(), want, "printing {input:?}");
        round_trip(input).unwrap();
    }
}

#[test]
fn printer_drops_empty_ignoring_with_its_group_modifier_like_go() {
    // Go's getMatchingStr prints nothing for `ignoring ()`, a group modifier included
    // (format_query of Prometheus 3.5 and main), although that does not parse back the same.
    assert_eq!(parse("a - ignoring() group_left c").to_string(), "a - c");
    assert_eq!(
        parse("a - ignoring() group_right (x) c").to_string(),
        "a - c"
    );
}

#[test]
fn precedence_and_associativity() {
    let cases = [
        ("1 + 2 * 3", "1 + (2 * 3)"),
        ("1 * 2 + 3", "(1 * 2) + 3"),
        ("2 ^ 3 ^ 2", "2 ^ (3 ^ 2)"),
        ("1 - 2 - 3", "(1 - 2) - 3"),
        ("a or b and c", "a or (b and c)"),
        ("a and b unless c", "(a and b) unless c"),
        ("a == bool b + c", "a == bool (b + c)"),
        ("-a ^ b", "-(a ^ b)"),
        ("-a * b", "(-a) * b"),
        ("a atan2 b * c", "(a atan2 b) * c"),
        ("a + b offset 5m", "a + (b offset 5m)"),
        ("foo offset 100 + 2", "(foo offset 100) + 2"),
        ("foo offset -2 ^ 2", "(foo offset -2) ^ 2"),
    ];
    for (a, b) in cases {
        // Equal modulo the parentheses written in `b`.
        fn strip(e: &Expr) -> String {
            match e {
                Expr::Paren(p) => strip(&p.expr),
                Expr::Binary(b) => format!(
                    "[{} {}{} {}]",
                    strip(&b.lhs),
                    b.op,
                    if b.return_bool { " bool" } else { "" },
                    strip(&b.rhs)
                ),
                Expr::Unary(u) => format!("[{}{}]", u.op, strip(&u.expr)),
                other => other.to_string(),
            }
        }
        assert_eq!(strip(&parse(a)), strip(&parse(b)), "{a} vs {b}");
    }
}

#[test]
fn ast_shapes() {
    // Number folding as Go: unary minus on a literal is a literal.
    assert!(matches!(parse("-1"), Expr::NumberLiteral(n) if n.val == -1.0));
    assert!(matches!(parse("-(1)"), Expr::Unary(_)));
    assert!(matches!(parse("1_000"), Expr::NumberLiteral(n) if n.val == 1000.0));
    assert!(matches!(parse("0755"), Expr::NumberLiteral(n) if n.val == 493.0));
    assert!(matches!(parse(".5e1"), Expr::NumberLiteral(n) if n.val == 5.0));
    assert!(matches!(parse("1h"), Expr::NumberLiteral(n) if n.val == 3600.0 && n.duration));
    // Strings with every quoting and escape.
    for (input, want) in [
        (r#""a\tb""#, "a\tb"),
        (r#"'\x41\101\u00e9\U0001F600'"#, "AAé😀"),
        (r#""\"""#, "\""),
        ("`a\\b`", "a\\b"),
        (r#""\xc3\xa9""#, "é"),
        (
            r#""\u1234\U00010111\U0001011111☺""#,
            "\u{1234}\u{10111}\u{10111}11☺",
        ),
        (
            r#""\a\b\f\n\r\t\v\\\" - ""#,
            "\x07\x08\x0c\n\r\t\x0b\\\" - ",
        ),
    ] {
        match parse(input) {
            Expr::StringLiteral(s) => assert_eq!(s.val, want, "{input}"),
            other => panic!("{other:?}"),
        }
    }
    // Selectors.
    let Expr::VectorSelector(vs) = parse(r#"foo{a="b", c!~"d.*"} offset -5m @ 100.5"#) else {
        panic!()
    };
    assert_eq!(vs.name, "foo");
    assert_eq!(vs.matchers.len(), 3);
    assert_eq!(vs.matchers[2].name, "__name__");
    assert_eq!(vs.original_offset, -300_000);
    assert_eq!(vs.timestamp, Some(100_500));
    assert_eq!((vs.pos.start, vs.pos.end), (0, 39));
    let Expr::Subquery(sq) = parse("rate(a[5m])[1h:5m] @ end()") else {
        panic!()
    };
    assert_eq!((sq.range, sq.step), (3_600_000, 300_000));
    assert_eq!(sq.start_or_end, Some(AtModifier::End));
    let Expr::MatrixSelector(ms) = parse("foo[5m+step()]") else {
        panic!()
    };
    assert_eq!(ms.range, 0);
    assert_eq!(
        ms.range_expr.as_ref().map(|d| d.eval_seconds(10.0, 0.0)),
        Some(310.0)
    );
    // Binary matching.
    let Expr::Binary(b) = parse("a / on(x, y) group_right(z) b") else {
        panic!()
    };
    let vm = b.vector_matching.unwrap();
    assert_eq!(vm.card, VectorMatchCardinality::OneToMany);
    assert_eq!(vm.matching_labels, ["x", "y"]);
    assert_eq!(vm.include, ["z"]);
    let Expr::Binary(b) = parse("a and b") else {
        panic!()
    };
    assert_eq!(
        b.vector_matching.unwrap().card,
        VectorMatchCardinality::ManyToMany
    );
    let Expr::Binary(b) = parse("1 + a") else {
        panic!()
    };
    assert!(b.vector_matching.is_none());
    // Aggregations with the modifier before or after, and parameters.
    for s in ["sum by (a) (x)", "sum(x) by (a)", "SUM BY (a) (x)"] {
        let Expr::Aggregate(a) = parse(s) else {
            panic!()
        };
        assert_eq!(
            (a.op, a.grouping.as_slice(), a.without),
            (AggregateOp::Sum, &["a".to_string()][..], false)
        );
    }
    let Expr::Aggregate(a) = parse("topk(3, x) without (b)") else {
        panic!()
    };
    assert!(a.without && a.param.is_some());
    // Keywords as label and metric names.
    parse("sum without(and, by, avg, count, alert, annotations)(some_metric)");
    parse("by{a=\"b\"}");
    parse("offset{step=\"1s\"}[5m]");
    parse("step{offset=\"1s\"}[5m]");
    parse("anchored{job=\"test\"} + smoothed");
    // As in Go, which functions accept anchored/smoothed ranges is checked at evaluation.
    parse("deriv(foo[3m] anchored)");
    // Go only rejects non-positive literal ranges; expressions are checked at evaluation.
    parse("foo[-2^2]");
    parse("foo[0+-2^2]");
    parse("foo[4s+4s:1s*2] offset (5s-8)");
    parse("foo[  -  step  (  )  ]");
    assert!(matches!(parse("foo offset 5s-8"), Expr::Binary(_)));
    assert!(matches!(parse("foo offset -1^1"), Expr::Binary(_)));
    assert!(
        matches!(parse("foo offset -(1^2)"), Expr::VectorSelector(v) if v.original_offset_expr.is_some())
    );
    // Comments.
    parse("foo # comment\n + bar # another");
}

#[test]
fn positions_match_go() {
    // (input, (start, end) of the whole expression) from parse_test.go.
    let cases = [
        ("-0755", (0, 5)),
        (" +some_metric", (1, 13)),
        ("foo @ 3e-1", (0, 10)),
        ("foo[3ms] @ 2.345", (0, 16)),
        ("test{a=\"b\"}[5y] OFFSET 3d", (0, 25)),
        ("sum by (foo)(some_metric)", (0, 25)),
        ("sum (some_metric) without (foo)", (0, 31)),
        ("(sum(foo) )", (0, 11)),
        ("(sum(foo) by (bar))", (0, 19)),
        ("min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:5s])", (0, 46)),
        (
            "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:])[4m:3s]",
            (0, 51),
        ),
        ("some_metric OFFSET 1m [10m:5s]", (0, 30)),
        ("some_metric[10m:5s] offset 1m @ 123", (0, 35)),
        ("foo offset -step()", (0, 18)),
        ("foo[-step()]", (0, 12)),
        ("rate(some_metric[5m])", (0, 21)),
        ("foo * on(test,blub) group_left bar", (0, 34)),
        ("`backtick-quoted string`", (0, 24)),
    ];
    for (input, (start, end)) in cases {
        let p = parse(input).pos();
        assert_eq!((p.start, p.end), (start, end), "{input}");
    }
    // Inner nodes.
    let Expr::Aggregate(a) = parse("sum by (foo)(some_metric)") else {
        panic!()
    };
    assert_eq!((a.expr.pos().start, a.expr.pos().end), (13, 24));
    let Expr::Subquery(s) = parse("some_metric OFFSET 1m [10m:5s]") else {
        panic!()
    };
    assert_eq!((s.expr.pos().start, s.expr.pos().end), (0, 21));
    let Expr::Call(c) =
        parse("info(http_request_counter_total{namespace=\"zzz\"}, {foo=\"bar\", bar=\"baz\"})")
    else {
        panic!()
    };
    let Expr::VectorSelector(vs) = &c.args[1] else {
        panic!()
    };
    assert!(vs.bypass_empty_matcher_check);
    assert_eq!((vs.pos.start, vs.pos.end), (50, 72));
}

#[test]
fn errors_match_go() {
    // Cases from parse_test.go (message substrings; positions where Go's are certain).
    let cases = [
        ("", "no expression found in input"),
        ("# just a comment", "no expression found in input"),
        ("1+", "unexpected end of input"),
        (".", "unexpected character: '.'"),
        ("2.5.", "bad number or duration syntax: \"2.5.\""),
        ("100..4", "bad number or duration syntax: \"100..\""),
        ("0deadbeef", "bad number or duration syntax: \"0de\""),
        ("1 /", "unexpected end of input"),
        ("*1", "unexpected <op:*>"),
        ("(1))", "unexpected right parenthesis ')'"),
        ("((1)", "unclosed left parenthesis"),
        (
            "999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999",
            "value out of range",
        ),
        ("(", "unclosed left parenthesis"),
        (
            "1 and 1",
            "set operator \"and\" not allowed in binary scalar expression",
        ),
        (
            "1 == 1",
            "1:3: parse error: comparisons between scalars must use BOOL modifier",
        ),
        (
            "1 or 1",
            "set operator \"or\" not allowed in binary scalar expression",
        ),
        (
            "1 unless 1",
            "set operator \"unless\" not allowed in binary scalar expression",
        ),
        ("1 !~ 1", "unexpected character after '!': '~'"),
        ("1 =~ 1", "unexpected character after '=': '~'"),
        (
            "-\"string\"",
            "unary expression only allowed on expressions of type scalar or instant vector, got \"string\"",
        ),
        (
            "-test[5m]",
            "unary expression only allowed on expressions of type scalar or instant vector, got \"range vector\"",
        ),
        ("*test", "unexpected <op:*>"),
        // Go keeps invalid UTF-8 in strings; Rust strings cannot, so we reject it.
        (r#""\xFF\377""#, "1:1: parse error: invalid UTF-8 rune"),
        (
            r#"count_values("a\xc5z", x)"#,
            "1:14: parse error: invalid UTF-8 rune",
        ),
        ("@@", "1:1: parse error: unexpected <op:@>"),
        (
            "1 offset 1d",
            "1:1: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
        ),
        (
            "foo offset 1s offset 2s",
            "offset may not be set multiple times",
        ),
        ("a - on(b) ignoring(c) d", "unexpected <ignoring>"),
        (
            "foo and 1",
            "set operator \"and\" not allowed in binary scalar expression",
        ),
        (
            "1 and foo",
            "set operator \"and\" not allowed in binary scalar expression",
        ),
        (
            "foo or 1",
            "set operator \"or\" not allowed in binary scalar expression",
        ),
        (
            "foo and on(bar) group_left(baz) bar",
            "no grouping allowed for \"and\" operation",
        ),
        (
            "foo and on(bar) group_right(baz) bar",
            "no grouping allowed for \"and\" operation",
        ),
        (
            "foo + on(bar) group_left(bar) baz",
            "label \"bar\" must not occur in ON and GROUP clause at once",
        ),
        (
            "foo + bool bar",
            "bool modifier can only be used on comparison operators",
        ),
        (
            "foo + bool 10",
            "bool modifier can only be used on comparison operators",
        ),
        (
            "foo and bool 10",
            "bool modifier can only be used on comparison operators",
        ),
        ("{", "unexpected end of input inside braces"),
        ("}", "unexpected character: '}'"),
        ("some{", "unexpected end of input inside braces"),
        ("some}", "unexpected character: '}'"),
        (
            "some_metric{a=b}",
            "unexpected identifier \"b\" in label matching, expected string",
        ),
        (
            "some_metric{a:b=\"b\"}",
            "unexpected character inside braces: ':'",
        ),
        ("foo{a*\"b\"}", "unexpected character inside braces: '*'"),
        ("foo{a>=\"b\"}", "unexpected character inside braces: '>'"),
        (
            "foo{gibberish}",
            "unexpected \"}\" in label matching, expected label matching operator",
        ),
        ("foo{1}", "unexpected character inside braces: '1'"),
        (
            "{}",
            "vector selector must contain at least one non-empty matcher",
        ),
        (
            "{x=\"\"}",
            "vector selector must contain at least one non-empty matcher",
        ),
        (
            "{x=~\".*\"}",
            "vector selector must contain at least one non-empty matcher",
        ),
        (
            "{x!~\".+\"}",
            "vector selector must contain at least one non-empty matcher",
        ),
        (
            "{x!=\"a\"}",
            "vector selector must contain at least one non-empty matcher",
        ),
        (
            "foo{__name__=\"bar\"}",
            "metric name must not be set twice: \"foo\" or \"bar\"",
        ),
        (
            "foo{__name__= =}",
            "unexpected \"=\" in label matching, expected string",
        ),
        (
            "foo{,}",
            "unexpected \",\" in label matching, expected identifier or \"}\"",
        ),
        (
            "foo{__name__ == \"bar\"}",
            "unexpected \"=\" in label matching, expected string",
        ),
        (
            "foo{__name__=\"bar\" lol}",
            "unexpected identifier \"lol\" in label matching, expected \",\" or \"}\"",
        ),
        ("foo[5mm]", "bad number or duration syntax: \"5mm\""),
        ("foo[5m1]", "bad number or duration syntax: \"5m1\""),
        ("foo[5y1hs]", "in duration \"5y1hs\""),
        ("foo[5m1h]", "not a valid duration string: \"5m1h\""),
        ("foo[5m1m]", "not a valid duration string: \"5m1m\""),
        (
            "foo[\"5m\"]",
            "1:5: parse error: unexpected character in duration expression: '\"'",
        ),
        (
            "foo[]",
            "1:5: parse error: unexpected \"]\" in subquery or range selector, expected number, duration, step(), or range()",
        ),
        (
            "foo[0m]",
            "1:5: parse error: duration must be greater than 0",
        ),
        (
            "foo[-1]",
            "1:5: parse error: duration must be greater than 0",
        ),
        (
            "rate(foo[5m:0s])",
            "1:13: parse error: duration must be greater than 0",
        ),
        (
            "foo[5m:1m1]",
            "1:8: parse error: bad number or duration syntax: \"1m1\"",
        ),
        (
            "foo{\"a\"=}",
            "1:9: parse error: unexpected \"}\" in label matching, expected string",
        ),
        ("-=", "1:2: parse error: unexpected \"=\""),
        ("++-++-+-+-<", "1:11: parse error: unexpected <op:<>"),
        ("e-+=/(0)", "1:4: parse error: unexpected \"=\""),
        (
            "a>b()",
            "1:3: parse error: unknown function with name \"b\"",
        ),
        (
            "rate(avg)",
            "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector",
        ),
        (
            "MIN (some_metric) keep_common",
            "1:19: parse error: unexpected identifier \"keep_common\"",
        ),
        (
            "hour(some_metric, some_metric, some_metric)",
            "expected at most 1 argument(s) in call to \"hour\", got 3",
        ),
        (
            "sum by (\"foo)(some_metric{})",
            "1:9: parse error: unterminated quoted string",
        ),
        (
            "some_metric[5m] @",
            "1:18: parse error: unexpected end of input in @, expected timestamp",
        ),
        (
            "some_metric[5m] OFFSET 1mm",
            "bad number or duration syntax: \"1mm\"",
        ),
        (
            "some_metric[5m] OFFSET",
            "1:23: parse error: unexpected end of input in offset, expected number, duration, step(), or range()",
        ),
        (
            "some_metric OFFSET 1m[5m]",
            "1:22: parse error: no offset modifiers allowed before range",
        ),
        (
            "some_metric @ 123 [5m]",
            "1:19: parse error: no @ modifiers allowed before range",
        ),
        (
            "(foo + bar)[5m]",
            "1:12: parse error: ranges only allowed for vector selectors",
        ),
        (
            "sum without(==)(some_metric)",
            "unexpected <op:==> in grouping opts, expected label",
        ),
        (
            "sum without(,)(some_metric)",
            "unexpected \",\" in grouping opts, expected label",
        ),
        (
            "sum without(foo,,)(some_metric)",
            "unexpected \",\" in grouping opts, expected label",
        ),
        (
            "sum some_metric by (test)",
            "unexpected identifier \"some_metric\"",
        ),
        (
            "sum (some_metric) by test",
            "unexpected identifier \"test\" in grouping opts, expected \"(\"",
        ),
        (
            "sum () by (test)",
            "no arguments for aggregate expression provided",
        ),
        (
            "MIN keep_common (some_metric)",
            "unexpected identifier \"keep_common\"",
        ),
        (
            "sum (some_metric) without (test) by (test)",
            "unexpected <by>",
        ),
        (
            "sum without (test) (some_metric) by (test)",
            "unexpected <by>",
        ),
        (
            "topk(some_metric)",
            "wrong number of arguments for aggregate expression provided, expected 2, got 1",
        ),
        (
            "topk(some_metric,)",
            "trailing commas not allowed in function call args",
        ),
        (
            "topk(some_metric, other_metric)",
            "1:6: parse error: expected type scalar in aggregation parameter, got instant vector",
        ),
        (
            "count_values(5, other_metric)",
            "1:14: parse error: expected type string in aggregation parameter, got scalar",
        ),
        (
            "rate(some_metric[5m]) @ 1234",
            "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
        ),
        ("sum(foo) by (a.b)", "unexpected character: '.'"),
        (
            "time(1)",
            "expected 0 argument(s) in call to \"time\", got 1",
        ),
        (
            "rate()",
            "expected 1 argument(s) in call to \"rate\", got 0",
        ),
        (
            "floor(some_metric, foo)",
            "expected 1 argument(s) in call to \"floor\", got 2",
        ),
        (
            "label_join()",
            "expected at least 3 argument(s) in call to \"label_join\", got 0",
        ),
        (
            "round(some_metric, 1, 2)",
            "expected at most 2 argument(s) in call to \"round\", got 3",
        ),
        (
            "rate(some_metric)",
            "expected type range vector in call to function \"rate\", got instant vector",
        ),
        (
            "ln(1)",
            "expected type instant vector in call to function \"ln\", got scalar",
        ),
        (
            "ln(\"foo\")",
            "expected type instant vector in call to function \"ln\", got string",
        ),
        (
            "non_existent_function_far_bar()",
            "unknown function with name \"non_existent_function_far_bar\"",
        ),
        (
            "rate(some_metric[5m],)",
            "trailing commas not allowed in function call args",
        ),
        (
            "foo[5m:1m:1m]",
            "unexpected repeated colon in duration expression",
        ),
        (
            "test[5d] OFFSET 10s [10m:5s]",
            "subquery is only allowed on instant vector, got matrix",
        ),
        (
            "(foo + bar{nm=\"val\"})[5m:][10m:5s]",
            "subquery is only allowed on instant vector, got matrix",
        ),
        (
            "rate(food[1m])[1h] offset 1h",
            "ranges only allowed for vector selectors",
        ),
        (
            "foo @ start() @ end()",
            "@ <timestamp> may not be set multiple times",
        ),
        ("foo @ +Inf", "timestamp out of bounds for @ modifier: +Inf"),
        ("foo @ NaN", "timestamp out of bounds for @ modifier: NaN"),
        ("foo @", "unexpected end of input in @, expected timestamp"),
        ("\"foo\"[5m]", "ranges only allowed for vector selectors"),
        (
            "foo[5m] + bar",
            "binary expression must contain only scalar and instant vector types",
        ),
        (
            "foo[5m] anchored smoothed",
            "anchored and smoothed modifiers cannot be used together",
        ),
        (
            "a and fill(0) b",
            "filling in missing series not allowed for set operators",
        ),
        (
            "1 + fill(0) b",
            "filling in missing series only allowed between instant vectors",
        ),
        (
            "info(foo, bar)",
            "expected label selectors only, got vector selector instead",
        ),
    ];
    for (input, want) in cases {
        let got = parse_err(input);
        assert!(got.contains(want), "{input:?}: got {got:?}, want {want:?}");
    }
}

#[test]
fn deep_nesting_is_bounded_and_safe() {
    // Close to the limit everything works (on the test thread's small stack, in debug).
    let n = MAX_NESTING - 10;
    for q in [
        "a + ".repeat(n) + "a",
        "(".repeat(n / 2) + "a" + &")".repeat(n / 2),
        "-".repeat(n) + "a",
        "sum(".repeat(n / 2) + "a" + &")".repeat(n / 2),
        format!("a[{}1m", "(".repeat(n / 2)) + &")".repeat(n / 2) + "]",
    ] {
        round_trip(&q).unwrap();
    }
    // Beyond it, a clear error instead of a stack overflow (Go's fuzzing regression case).
    let q = format!("({}){}", "-{}-1".repeat(10000), "[1m:]".repeat(1000));
    let err = parse_expr(&q).unwrap_err();
    assert!(err.message.contains("nests deeper than"), "{err}");
    let err = parse_expr(&("(".repeat(100_000) + "a")).unwrap_err();
    assert!(err.message.contains("nests deeper than"), "{err}");
}

#[test]
fn stable_options_reject_experimental_syntax() {
    let opts = ParseOptions::stable();
    for (input, want) in [
        (
            "foo[5m+1m]",
            "experimental duration expression is not enabled",
        ),
        (
            "foo[5m] anchored",
            "anchored modifier is experimental and not enabled",
        ),
        (
            "a + fill(0) b",
            "binop fill modifiers are experimental and not enabled",
        ),
        (
            "mad_over_time(foo[5m])",
            "function \"mad_over_time\" is not enabled",
        ),
        (
            "limitk(1, foo)",
            "limitk() is experimental and must be enabled",
        ),
    ] {
        let got = parse_expr_with(input, &opts).unwrap_err().to_string();
        assert!(got.contains(want), "{input}: {got}");
    }
    assert!(parse_expr_with("foo[5m]", &opts).is_ok());
}

#[test]
fn error_positions() {
    let e = parse_expr("foo{1}").unwrap_err();
    assert_eq!(e.span.start, 4);
    assert_eq!(
        e.to_string(),
        "1:5: parse error: unexpected character inside braces: '1'"
    );
    let e = parse_expr("foo +\n  bar baz").unwrap_err();
    assert_eq!(
        e.to_string(),
        "2:7: parse error: unexpected identifier \"baz\""
    );
    assert_eq!(
        e.clone().with_line_offset(3).to_string(),
        "5:7: parse error: unexpected identifier \"baz\""
    );
}

#[test]
fn metric_selectors() {
    let m = parse_metric_selector(r#"foo{job="a", "x.y"=~"b|c"}"#).unwrap();
    let shown: Vec<String> = m.iter().map(matcher_string).collect();
    assert_eq!(
        shown,
        [r#"job="a""#, r#""x.y"=~"b|c""#, r#"__name__="foo""#]
    );
    assert!(parse_metric_selector("foo + bar").is_err());
    // As Go's ParseMetricSelector: no type check (the API checks for a non-empty matcher).
    assert_eq!(parse_metric_selector("{}"), Ok(Vec::new()));
    assert!(parse_metric_selector("foo offset 5m").is_err());
    assert!(parse_metric_selector("rate(x[5m])").is_err());
}

#[test]
fn prettify_matches_go() {
    // prettier_test.go, with its line width of 10.
    let cases = [
        ("sum(foo)", "sum(foo)"),
        (
            "sum by() (task:errors:rate10s{job=\"s\"})",
            "sum(\n  task:errors:rate10s{job=\"s\"}\n)",
        ),
        (
            "sum(task:errors:rate10s{job=\"s\"}) without(job,foo)",
            "sum without (job, foo) (\n  task:errors:rate10s{job=\"s\"}\n)",
        ),
        (
            "topk(10, ask:errors:rate10s{job=\"s\"})",
            "topk(\n  10,\n  ask:errors:rate10s{job=\"s\"}\n)",
        ),
        (
            "sum by(job,foo) # Comment 1.\n(sum by(job,foo) ( # Comment 2.\ntask:errors:rate10s{job=\"s\"}))",
            "sum by (job, foo) (\n  sum by (job, foo) (\n    task:errors:rate10s{job=\"s\"}\n  )\n)",
        ),
        ("a+b", "a + b"),
        ("a == bool 1", "  a\n== bool\n  1"),
        ("a + ignoring(job) b", "  a\n+ ignoring (job)\n  b"),
        ("foo + baar + foo_3", "  foo + baar\n+\n  foo_3"),
        (
            "foo_1 + ignoring(foo) foo_2 + ignoring(job) group_left foo_3 + on(instance) group_right foo_4",
            "      foo_1\n    + ignoring (foo)\n      foo_2\n  + ignoring (job) group_left ()\n    foo_3\n+ on (instance) group_right ()\n  foo_4",
        ),
        (
            "rate(long_vector_selector[10m:1m] @ start() offset 1m)",
            "rate(\n  long_vector_selector[10m:1m] @ start() offset 1m\n)",
        ),
        (
            "max_over_time(rate(demo_api_request_duration_seconds_count[1m])[1m:] @ start() offset 1m)",
            "max_over_time(\n  rate(\n    demo_api_request_duration_seconds_count[1m]\n  )[1m:] @ start() offset 1m\n)",
        ),
        (
            "label_replace(up{job=\"api-server\",service=\"a:c\"}, \"foo\", \"$1\", \"service\", \"(.*):.*\")",
            "label_replace(\n  up{job=\"api-server\",service=\"a:c\"},\n  \"foo\",\n  \"$1\",\n  \"service\",\n  \"(.*):.*\"\n)",
        ),
        ("((foo_long))", "(\n  (foo_long)\n)"),
        ("((_foo_long_))", "(\n  (\n    _foo_long_\n  )\n)"),
        ("a @ 1", "a @ 1.000"),
        ("(1 + 2)", "(1 + 2)"),
        (
            "(foo_long + bar_long + bar_2_long)",
            "(\n      foo_long\n    +\n      bar_long\n  +\n    bar_2_long\n)",
        ),
        (
            "(node_timex_offset_seconds > 0.05 and deriv(node_timex_offset_seconds[5m]) >= 0) or (node_timex_offset_seconds < -0.05 and deriv(node_timex_offset_seconds[5m]) <= 0)",
            "  (\n        node_timex_offset_seconds\n      >\n        0.05\n    and\n        deriv(\n          node_timex_offset_seconds[5m]\n        )\n      >=\n        0\n  )\nor\n  (\n        node_timex_offset_seconds\n      <\n        -0.05\n    and\n        deriv(\n          node_timex_offset_seconds[5m]\n        )\n      <=\n        0\n  )",
        ),
        (
            "(node_filesystem_avail_bytes{job=\"node\",fstype!=\"\"} / node_filesystem_size_bytes{job=\"node\",fstype!=\"\"} * 100 < 40 and predict_linear(node_filesystem_avail_bytes{job=\"node\",fstype!=\"\"}[6h], 24*60*60) < 0 and node_filesystem_readonly{job=\"node\",fstype!=\"\"} == 0)",
            "(\n            node_filesystem_avail_bytes{fstype!=\"\",job=\"node\"}\n          /\n            node_filesystem_size_bytes{fstype!=\"\",job=\"node\"}\n        *\n          100\n      <\n        40\n    and\n        predict_linear(\n          node_filesystem_avail_bytes{fstype!=\"\",job=\"node\"}[6h],\n            24 * 60\n          *\n            60\n        )\n      <\n        0\n  and\n      node_filesystem_readonly{fstype!=\"\",job=\"node\"}\n    ==\n      0\n)",
        ),
        ("-1", "-1"),
        ("(-vector_selector)", "(\n  -vector_selector\n)"),
        (
            "-histogram_quantile(0.9, -rate(foo[1m] @ start()))",
            "-histogram_quantile(\n  0.9,\n  -rate(\n    foo[1m] @ start()\n  )\n)",
        ),
        ("rate(foo[2*1h])", "rate(\n  foo[2 * 1h]\n)"),
        ("rate(foo[-5m+35m])", "rate(\n  foo[-5m + 35m]\n)"),
    ];
    for (input, want) in cases {
        let e = parse(input);
        assert_eq!(prettify_width(&e, 10), want, "{input}");
        assert_eq!(parse(want), e, "{input}");
    }
    // The default width is 100.
    assert_eq!(prettify(&parse("a + b")), "a + b");
}

/// The expression of an `eval` line: `eval[_x] instant at T EXPR` or
/// `eval[_x] range from A to B step S EXPR`.
fn eval_expr(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("eval")?;
    let rest = rest.trim_start_matches(|c: char| c != ' ' && c != '\t');
    let mut words = rest.split_whitespace();
    let n = match words.next()? {
        "instant" => 2,
        "range" => 6,
        _ => return None,
    };
    // Skip the keyword and its n argument words, keeping the rest verbatim.
    let mut s = rest.trim_start();
    for _ in 0..=n {
        let i = s.find([' ', '\t'])?;
        s = s[i..].trim_start();
    }
    Some(s.trim_end())
}

#[test]
fn round_trip_over_upstream_test_scripts() {
    let Some(dir) = test_support::testdata_dir("upstream/promql/promqltest/testdata") else {
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("readable testdata dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let (mut total, mut parsed, mut expected_fail) = (0, 0, 0);
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable test script");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(expr) = eval_expr(line) else {
                continue;
            };
            total += 1;
            let fails = line.starts_with("eval_fail")
                || lines
                    .get(i + 1)
                    .is_some_and(|l| l.trim_start().starts_with("expect fail"));
            match round_trip(expr) {
                Ok(()) => parsed += 1,
                Err(e) if fails => {
                    expected_fail += 1;
                    println!("expected failure: {expr}: {e}");
                }
                Err(e) => failures.push(format!(
                    "{}:{}: {e}",
                    f.file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default(),
                    i + 1
                )),
            }
        }
    }
    println!(
        "upstream eval expressions: {total}, round-tripped: {parsed}, failing where the script expects failure: {expected_fail}, other failures: {}",
        failures.len()
    );
    assert!(total > 2000, "only {total} eval lines found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

mod props {
    use proptest::prelude::*;

    use super::super::*;

    fn metric() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("foo".to_string()),
            Just("bar:baz".to_string()),
            Just("sum".to_string()),
            "[a-z_][a-z0-9_]{0,5}".prop_filter("not a keyword", |s| {
                parse_expr(s).is_ok_and(|e| matches!(e, Expr::VectorSelector(_)))
            }),
        ]
    }

    fn selector() -> impl Strategy<Value = String> {
        (
            metric(),
            prop::collection::vec(
                (
                    "[a-z][a-z0-9_]{0,3}|\"[a-z.]{1,4}\"",
                    prop_oneof![Just("="), Just("!="), Just("=~"), Just("!~")],
                    "[a-z0-9 .]{0,4}",
                ),
                0..3,
            ),
        )
            .prop_map(|(m, ls)| {
                if ls.is_empty() {
                    return m;
                }
                let ls: Vec<String> = ls
                    .into_iter()
                    .map(|(n, op, v)| format!("{n}{op}{}", model::strconv::quote(&v)))
                    .collect();
                format!("{m}{{{}}}", ls.join(","))
            })
    }

    fn duration() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("5m".to_string()),
            Just("1h30m".to_string()),
            Just("30s".to_string()),
            Just("90".to_string()),
            Just("step()".to_string()),
            Just("5m+1m".to_string()),
            Just("2*(1h-5m)".to_string()),
        ]
    }

    fn scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            (0.0f64..1e9).prop_map(|v| format!("{v}")),
            Just("Inf".to_string()),
            Just("-NaN".to_string()),
            Just("0x1f".to_string()),
            Just("1e-7".to_string()),
            Just("5m".to_string()),
            Just("time()".to_string()),
        ]
    }

    /// Random instant-vector expressions (valid by construction).
    fn vector_expr() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            selector(),
            (selector(), duration()).prop_map(|(s, d)| format!("rate({s}[{d}])")),
            (selector(), "[0-9]{1,3}").prop_map(|(s, o)| format!("{s} offset -{o}s")),
            (selector(), "[0-9]{1,5}").prop_map(|(s, t)| format!("{s} @ {t}")),
        ];
        leaf.prop_recursive(4, 24, 3, |inner| {
            let ops = prop_oneof![
                Just("+"),
                Just("-"),
                Just("*"),
                Just("/"),
                Just("%"),
                Just("^"),
                Just("atan2"),
                Just("== bool"),
                Just(">"),
                Just("and"),
                Just("or"),
                Just("unless")
            ];
            prop_oneof![
                (inner.clone(), ops, inner.clone()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
                (inner.clone(), scalar()).prop_map(|(a, s)| format!("{a} * {s}")),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| format!("{a} / on(job) group_left(x) {b}")),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| format!("{a} + ignoring(\"a.b\") fill(0) {b}")),
                inner.clone().prop_map(|a| format!("({a})")),
                inner.clone().prop_map(|a| format!("-{a}")),
                inner
                    .clone()
                    .prop_map(|a| format!("sum by (job, \"x.y\") ({a})")),
                inner
                    .clone()
                    .prop_map(|a| format!("topk(3, {a}) without (a)")),
                inner.clone().prop_map(|a| format!("abs({a})")),
                (inner.clone(), duration())
                    .prop_map(|(a, d)| format!("max_over_time(({a})[1h:{d}] offset 1m)")),
                inner.clone().prop_map(|a| format!(
                    "label_replace({a}, \"dst\", \"$1\", \"src\", \"(.*)\")"
                )),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn generated_expressions_round_trip(e in vector_expr()) {
            let parsed = parse_expr(&e).map_err(|err| TestCaseError::fail(format!("{e}: {err}")))?;
            let printed = parsed.to_string();
            let again = parse_expr(&printed).map_err(|err| TestCaseError::fail(format!("{printed}: {err}")))?;
            prop_assert_eq!(&again, &parsed);
            prop_assert_eq!(again.to_string(), printed);
            let pretty = prettify(&parsed);
            prop_assert_eq!(parse_expr(&pretty).ok(), Some(parsed));
        }

        #[test]
        fn random_token_soup_never_panics(tokens in prop::collection::vec(prop_oneof![
            Just("foo"), Just("{"), Just("}"), Just("("), Just(")"), Just("["), Just("]"), Just(":"),
            Just(","), Just("+"), Just("-"), Just("^"), Just("*"), Just("=="), Just("="), Just("=~"),
            Just("\"a\""), Just("'b'"), Just("`c`"), Just("5m"), Just("1"), Just("0x1"), Just("Inf"),
            Just("offset"), Just("@"), Just("start()"), Just("step()"), Just("bool"), Just("on"),
            Just("by"), Just("sum"), Just("topk"), Just("rate"), Just("group_left"), Just("fill"),
            Just("anchored"), Just("#x\n"), Just(" "), Just("and"), Just("min_of"), Just("range"),
        ], 0..16)) {
            let s = tokens.concat();
            if let Ok(e) = parse_expr(&s) {
                let printed = e.to_string();
                let again = parse_expr(&printed).map_err(|err| TestCaseError::fail(format!("{s} -> {printed}: {err}")))?;
                prop_assert_eq!(again, e);
            }
        }

        #[test]
        fn arbitrary_strings_never_panic(s in "\\PC{0,40}") {
            let _ = parse_expr(&s);
            let _ = parse_metric_selector(&s);
            let _ = parse_series_desc(&s);
        }
    }
}
