//! JUnit XML reports of `promtool test rules --junit=FILE`, laid out as Prometheus's
//! `util/junitxml` writes them with Go's `encoding/xml` (no declaration, no indentation,
//! no self-closing tags, `"`, `'`, tab and line breaks escaped as character references).

use std::fmt::Write as _;

/// A report: one suite per test file.
#[derive(Debug, Default)]
pub(crate) struct JUnit {
    suites: Vec<Suite>,
}

/// One test file: its test groups as cases.
#[derive(Debug, Default)]
pub(crate) struct Suite {
    name: String,
    failures: usize,
    errors: usize,
    timestamp: String,
    cases: Vec<Case>,
}

#[derive(Debug, Default)]
struct Case {
    name: String,
    failures: Vec<String>,
    error: String,
}

impl JUnit {
    /// Adds the suite of `file`, from its test report.
    pub(crate) fn add(&mut self, file: &str, report: &rules::unittest::FileReport) {
        let mut suite = Suite {
            name: file.to_owned(),
            timestamp: report.started.map(go_timestamp).unwrap_or_default(),
            ..Suite::default()
        };
        for g in &report.groups {
            suite.cases.push(Case {
                name: g.name.clone(),
                failures: g.failures.clone(),
                error: String::new(),
            });
            suite.failures += g.failures.len();
        }
        if let Some(e) = &report.error {
            // Go's `Abort`: the error lands on the last case, an "unknown" one if none ran.
            if suite.cases.is_empty() {
                suite.cases.push(Case {
                    name: "unknown".to_owned(),
                    ..Case::default()
                });
            }
            if let Some(last) = suite.cases.last_mut() {
                last.error = e.clone();
            }
            suite.errors += 1;
        }
        self.suites.push(suite);
    }

    /// The XML document.
    pub(crate) fn to_xml(&self) -> String {
        let mut out = String::from("<testsuites>");
        for s in &self.suites {
            let _ = write!(
                out,
                "<testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" timestamp=\"{}\">",
                escape(&s.name),
                s.cases.len(),
                s.failures,
                s.errors,
                escape(&s.timestamp)
            );
            for c in &s.cases {
                let _ = write!(out, "<testcase name=\"{}\">", escape(&c.name));
                for f in &c.failures {
                    let _ = write!(out, "<failure>{}</failure>", escape(f));
                }
                if !c.error.is_empty() {
                    let _ = write!(out, "<error>{}</error>", escape(&c.error));
                }
                out.push_str("</testcase>");
            }
            out.push_str("</testsuite>");
        }
        out.push_str("</testsuites>");
        out
    }
}

/// Go's `xml.EscapeText` as `encoding/xml` applies it to attributes and character data.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// XML 1.0's `Char` production (Go's `isInCharacterRange`).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// `2006-01-02T15:04:05` of `t` in UTC (Go prints the local time; ours is UTC, the zone
/// promtool runs in on servers and CI).
fn go_timestamp(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let secs = i64::try_from(secs).unwrap_or(0);
    let (y, m, d) = model::civil::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::unittest::{FileReport, GroupReport};

    #[test]
    fn reports_read_like_go_encoding_xml() {
        let mut j = JUnit::default();
        j.add(
            "a.yml",
            &FileReport {
                error: None,
                started: Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(86_461)),
                groups: vec![
                    GroupReport {
                        name: "ok".into(),
                        failures: Vec::new(),
                    },
                    GroupReport {
                        name: "unnamed#1".into(),
                        failures: vec!["    expr: \"x\", time: 0s,\n <a> & 'b'".into()],
                    },
                ],
            },
        );
        j.add(
            "b.yml",
            &FileReport {
                error: Some("yaml: line 1: bad".into()),
                started: None,
                groups: Vec::new(),
            },
        );
        assert_eq!(
            j.to_xml(),
            "<testsuites>\
             <testsuite name=\"a.yml\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\" timestamp=\"1970-01-02T00:01:01\">\
             <testcase name=\"ok\"></testcase>\
             <testcase name=\"unnamed#1\"><failure>    expr: &#34;x&#34;, time: 0s,&#xA; &lt;a&gt; &amp; &#39;b&#39;</failure></testcase>\
             </testsuite>\
             <testsuite name=\"b.yml\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" timestamp=\"\">\
             <testcase name=\"unknown\"><error>yaml: line 1: bad</error></testcase>\
             </testsuite></testsuites>"
        );
    }
}
