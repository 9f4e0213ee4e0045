//! Fuzzes template parsing and expansion: `expand` and `check` never panic on any text, and
//! they agree on whether the text parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model::Labels;
use template::{Error, QuerySample, TemplateData};

fuzz_target!(|data: &str| {
    // An optional label value after a \x01 lets the fuzzer vary the data too.
    let (text, label) = data.split_once('\u{1}').unwrap_or((data, "web-1.example.com:9100"));
    let tdata = TemplateData {
        labels: Labels::from_pairs([("instance", label), ("job", "node")]),
        external_labels: Labels::from_pairs([("cluster", "eu")]),
        external_url: "http://prom.example:9090/prefix".into(),
        value: label.len() as f64 * 1.5,
    };
    let query = |q: &str| -> Result<Vec<QuerySample>, String> {
        if q.is_empty() {
            return Err("empty query".into());
        }
        Ok(vec![QuerySample {
            labels: Labels::from_pairs([("__name__", "up"), ("instance", q)]),
            value: q.len() as f64,
        }])
    };
    let expanded = template::expand("__alert_fuzz", text, &tdata, 1_700_000_000_000, &query);
    let checked = template::check("__alert_fuzz", text);
    assert_eq!(
        matches!(expanded, Err(Error::Parse { .. })),
        checked.is_err(),
        "expand and check disagree on {text:?}"
    );
});
