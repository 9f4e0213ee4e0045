//! Fuzzes the other text parsers of `model`: durations and relabel processing never panic,
//! and durations print back to themselves.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model::Duration;
use model::relabel::{Action, Config, Regex, process};

fuzz_target!(|data: &str| {
    if let Ok(d) = Duration::parse(data) {
        assert_eq!(Duration::parse(&d.to_string()), Ok(d));
    }
    let mut parts = data.splitn(4, '\u{1}');
    let (Some(regex), Some(target), Some(replacement)) = (parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let Ok(regex) = Regex::new(regex) else {
        return;
    };
    let labels = model::Labels::from_pairs([("a", data), ("b", "x")]);
    for action in [Action::Replace, Action::LabelMap, Action::LabelDrop, Action::HashMod] {
        let cfg = Config {
            source_labels: vec!["a".into(), "b".into()],
            regex: regex.clone(),
            target_label: target.to_owned(),
            replacement: replacement.to_owned(),
            modulus: 7,
            action,
            ..Config::default()
        };
        let _ = process(&labels, &[cfg]);
    }
});
