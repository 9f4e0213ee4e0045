//! The `--diff` wording of alert mismatches: the console diff of two JSON documents that
//! Go's promtool prints (nsf/jsondiff with its console options: ANSI colors, four-space
//! indent, `a => b` for changed values, keys sorted).

use std::collections::BTreeMap;

use model::Labels;

/// A JSON value, as far as alerts need one.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Json {
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

/// How two documents compare (jsondiff's `Difference`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Difference {
    Same,
    Superset,
    Different,
}

/// Alerts as Go's promtool marshals them: `[{"Annotations":{...},"Labels":{...}}]`.
pub(super) fn alerts_json(alerts: &[(Labels, Labels)]) -> Json {
    let labels = |l: &Labels| {
        Json::Obj(
            l.iter()
                .map(|(k, v)| (k.to_string(), Json::Str(v.to_string())))
                .collect(),
        )
    };
    Json::Arr(
        alerts
            .iter()
            .map(|(l, a)| {
                Json::Obj(BTreeMap::from([
                    ("Annotations".to_string(), labels(a)),
                    ("Labels".to_string(), labels(l)),
                ]))
            })
            .collect(),
    )
}

/// Compares `a` (expected) with `b` (received): the difference and its console text.
pub(super) fn compare(a: &Json, b: &Json) -> (Difference, String) {
    let mut ctx = Ctx {
        level: 0,
        last: None,
        diff: Difference::Same,
    };
    let text = ctx.diff(a, b);
    (ctx.diff, text)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Normal,
    Added,
    Removed,
    Changed,
}

impl Tag {
    fn begin(self) -> &'static str {
        match self {
            Tag::Normal => "",
            Tag::Added => "\x1b[0;32m",
            Tag::Removed => "\x1b[0;31m",
            Tag::Changed => "\x1b[0;33m",
        }
    }

    fn end(self) -> &'static str {
        match self {
            Tag::Normal => "",
            _ => "\x1b[0m",
        }
    }
}

const INDENT: &str = "    ";

struct Ctx {
    level: usize,
    last: Option<Tag>,
    diff: Difference,
}

impl Ctx {
    fn result(&mut self, d: Difference) {
        match d {
            Difference::Different => self.diff = Difference::Different,
            Difference::Superset if self.diff != Difference::Different => {
                self.diff = Difference::Superset;
            }
            _ => {}
        }
    }

    fn tag(&mut self, buf: &mut String, tag: Tag) {
        if self.last == Some(tag) {
            return;
        }
        if let Some(last) = self.last {
            buf.push_str(last.end());
        }
        buf.push_str(tag.begin());
        self.last = Some(tag);
    }

    fn newline(&self, buf: &mut String, s: &str) {
        buf.push_str(s);
        if let Some(last) = self.last {
            buf.push_str(last.end());
        }
        buf.push('\n');
        for _ in 0..self.level {
            buf.push_str(INDENT);
        }
        if let Some(last) = self.last {
            buf.push_str(last.begin());
        }
    }

    fn finalize(&mut self, mut buf: String) -> String {
        if let Some(last) = self.last.take() {
            buf.push_str(last.end());
        }
        buf
    }

    fn key(buf: &mut String, k: &str) {
        buf.push_str(&model::strconv::quote(k));
        buf.push_str(": ");
    }

    fn write_value(&mut self, buf: &mut String, v: &Json, full: bool) {
        match v {
            Json::Str(s) => buf.push_str(&model::strconv::quote(s)),
            Json::Arr(items) if full => {
                if items.is_empty() {
                    buf.push('[');
                } else {
                    self.level += 1;
                    self.newline(buf, "[");
                }
                for (i, item) in items.iter().enumerate() {
                    self.write_value(buf, item, true);
                    if i + 1 != items.len() {
                        self.newline(buf, ",");
                    } else {
                        self.level -= 1;
                        self.newline(buf, "");
                    }
                }
                buf.push(']');
            }
            Json::Arr(_) => buf.push_str("[]"),
            Json::Obj(map) if full => {
                if map.is_empty() {
                    buf.push('{');
                } else {
                    self.level += 1;
                    self.newline(buf, "{");
                }
                for (i, (k, item)) in map.iter().enumerate() {
                    Ctx::key(buf, k);
                    self.write_value(buf, item, true);
                    if i + 1 != map.len() {
                        self.newline(buf, ",");
                    } else {
                        self.level -= 1;
                        self.newline(buf, "");
                    }
                }
                buf.push('}');
            }
            Json::Obj(_) => buf.push_str("{}"),
        }
    }

    fn mismatch(&mut self, a: &Json, b: &Json) -> String {
        let mut buf = String::new();
        self.tag(&mut buf, Tag::Changed);
        self.write_value(&mut buf, a, false);
        buf.push_str(" => ");
        self.write_value(&mut buf, b, false);
        self.result(Difference::Different);
        self.finalize(buf)
    }

    fn diff(&mut self, a: &Json, b: &Json) -> String {
        match (a, b) {
            (Json::Str(x), Json::Str(y)) if x == y => {
                let mut buf = String::new();
                self.tag(&mut buf, Tag::Normal);
                self.write_value(&mut buf, a, true);
                self.result(Difference::Same);
                self.finalize(buf)
            }
            (Json::Arr(x), Json::Arr(y)) => {
                let n = x.len().max(y.len());
                let items = (0..n).map(|i| (None, x.get(i), y.get(i))).collect();
                self.collection("[", "]", items)
            }
            (Json::Obj(x), Json::Obj(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                let items = keys
                    .into_iter()
                    .map(|k| (Some(k.as_str()), x.get(k), y.get(k)))
                    .collect();
                self.collection("{", "}", items)
            }
            _ => self.mismatch(a, b),
        }
    }

    /// An array or object: its elements (key, expected, received) one a line.
    fn collection(
        &mut self,
        open: &str,
        close: &str,
        items: Vec<(Option<&str>, Option<&Json>, Option<&Json>)>,
    ) -> String {
        self.level += 1;
        let diffs: Vec<String> = items
            .iter()
            .map(|(_, a, b)| match (a, b) {
                (Some(a), Some(b)) => self.diff(a, b),
                _ => String::new(),
            })
            .collect();
        self.level -= 1;
        let mut buf = String::new();
        self.tag(&mut buf, Tag::Normal);
        if items.is_empty() {
            buf.push_str(open);
            buf.push_str(close);
            return self.finalize(buf);
        }
        self.level += 1;
        self.newline(&mut buf, open);
        let count = items.len();
        for (i, ((key, a, b), diff)) in items.into_iter().zip(diffs).enumerate() {
            match (a, b) {
                (Some(_), Some(_)) => {
                    if let Some(k) = key {
                        Ctx::key(&mut buf, k);
                    }
                    buf.push_str(&diff);
                }
                (Some(v), None) | (None, Some(v)) => {
                    let (tag, d) = if a.is_some() {
                        (Tag::Removed, Difference::Superset)
                    } else {
                        (Tag::Added, Difference::Different)
                    };
                    self.tag(&mut buf, tag);
                    if let Some(k) = key {
                        Ctx::key(&mut buf, k);
                    }
                    self.write_value(&mut buf, v, true);
                    self.result(d);
                }
                (None, None) => {}
            }
            if i + 1 < count {
                self.tag(&mut buf, Tag::Normal);
                self.newline(&mut buf, ",");
            } else {
                self.level -= 1;
                self.tag(&mut buf, Tag::Normal);
                self.newline(&mut buf, "");
            }
        }
        buf.push_str(close);
        self.finalize(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(s: &str) -> String {
        s.replace("\x1b[0;32m", "<+>")
            .replace("\x1b[0;31m", "<->")
            .replace("\x1b[0;33m", "<~>")
            .replace("\x1b[0m", "</>")
    }

    #[test]
    fn equal_documents_print_whole_and_match() {
        let a = alerts_json(&[(Labels::from_pairs([("alertname", "A")]), Labels::empty())]);
        let (d, text) = compare(&a, &a);
        assert_eq!(d, Difference::Same);
        assert_eq!(
            text,
            "[\n    {\n        \"Annotations\": {},\n        \"Labels\": {\n            \"alertname\": \"A\"\n        }\n    }\n]"
        );
    }

    /// The layout nsf/jsondiff gives: changed values `a => b` in yellow, keys only one side
    /// has in red (expected only) or green (received only), whole values written out.
    #[test]
    fn changes_additions_and_removals_are_colored() {
        let exp = alerts_json(&[(
            Labels::from_pairs([("alertname", "A"), ("sev", "page")]),
            Labels::from_pairs([("summary", "x")]),
        )]);
        let got = alerts_json(&[
            (
                Labels::from_pairs([("alertname", "A"), ("sev", "ticket")]),
                Labels::empty(),
            ),
            (Labels::from_pairs([("alertname", "A")]), Labels::empty()),
        ]);
        let (d, text) = compare(&exp, &got);
        assert_eq!(d, Difference::Different);
        assert_eq!(
            strip(&text),
            "[\n    {\n        \"Annotations\": {\n            <->\"summary\": \"x\"</>\n        },\n        \"Labels\": {\n            \"alertname\": \"A\",\n            \"sev\": <~>\"page\" => \"ticket\"</>\n        }\n    },\n    <+>{</>\n        <+>\"Annotations\": {},</>\n        <+>\"Labels\": {</>\n            <+>\"alertname\": \"A\"</>\n        <+>}</>\n    <+>}</>\n]"
        );
    }

    #[test]
    fn a_missing_side_only_is_a_superset() {
        let exp = Json::Obj(BTreeMap::from([
            ("a".to_string(), Json::Str("1".into())),
            ("b".to_string(), Json::Str("2".into())),
        ]));
        let got = Json::Obj(BTreeMap::from([("a".to_string(), Json::Str("1".into()))]));
        assert_eq!(compare(&exp, &got).0, Difference::Superset);
        assert_eq!(compare(&got, &exp).0, Difference::Different);
    }
}
