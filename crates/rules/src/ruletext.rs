//! A rule's definition as the YAML Prometheus logs with a failed evaluation (`rule.String()`).

use model::Labels;

use crate::rule::Rule;

/// Whether go-yaml writes `s` as a plain scalar: not empty, no surrounding spaces, no
/// character or sequence that would read back as something else (indicators, `: `, ` #`,
/// a value resolving to another type).
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.starts_with(' ') || s.ends_with(' ') || s.ends_with(':') {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.chars().any(|c| c.is_control()) {
        return false;
    }
    // Words YAML 1.1 and 1.2 resolve to booleans, null or numbers stay strings only quoted.
    let lower = s.to_ascii_lowercase();
    let special = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf", "-.inf", "+.inf",
        ".nan",
    ];
    !(special.contains(&lower.as_str()) || s.parse::<f64>().is_ok())
}

/// `s` as go-yaml writes a string value: plain, single-quoted, or as a literal block
/// (`|-`, indented by `indent`) when it spans lines.
fn scalar(s: &str, indent: &str) -> String {
    if s.contains('\n') {
        let chomp = if s.ends_with('\n') { "" } else { "-" };
        let mut out = format!("|{chomp}");
        for line in s.trim_end_matches('\n').split('\n') {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(indent);
                out.push_str("    ");
                out.push_str(line);
            }
        }
        out
    } else if plain_ok(s) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

fn write_map(out: &mut String, key: &str, labels: &Labels) {
    if labels.is_empty() {
        return;
    }
    out.push_str(key);
    out.push_str(":\n");
    for (name, value) in labels.iter() {
        out.push_str(&format!(
            "    {}: {}\n",
            scalar(name, "    "),
            scalar(value, "    ")
        ));
    }
}

/// The rule as Prometheus's `rule.String()` writes it: its `rulefmt.Rule` in YAML (go-yaml
/// v3, four-space indents, empty fields left out).
pub(crate) fn yaml(rule: &Rule) -> String {
    let mut out = String::new();
    match rule {
        Rule::Recording(r) => {
            out.push_str(&format!("record: {}\n", scalar(r.name(), "")));
            out.push_str(&format!("expr: {}\n", scalar(r.query(), "")));
            write_map(&mut out, "labels", r.labels());
        }
        Rule::Alerting(r) => {
            out.push_str(&format!("alert: {}\n", scalar(r.name(), "")));
            out.push_str(&format!("expr: {}\n", scalar(r.query(), "")));
            let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            if !r.hold_duration().is_zero() {
                let d = model::Duration::from_millis(ms(r.hold_duration()));
                out.push_str(&format!("for: {d}\n"));
            }
            if !r.keep_firing_for().is_zero() {
                let d = model::Duration::from_millis(ms(r.keep_firing_for()));
                out.push_str(&format!("keep_firing_for: {d}\n"));
            }
            write_map(&mut out, "labels", r.labels());
            write_map(&mut out, "annotations", r.annotations());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_quoted_like_go_yaml() {
        assert_eq!(scalar("dup:bad", ""), "dup:bad");
        assert_eq!(
            scalar("{__name__=~\"up\"} * 0", ""),
            "'{__name__=~\"up\"} * 0'"
        );
        assert_eq!(scalar("vector(1)", ""), "vector(1)");
        assert_eq!(scalar("true", ""), "'true'");
        assert_eq!(scalar("12", ""), "'12'");
        assert_eq!(scalar("it's: here", ""), "'it''s: here'");
        assert_eq!(scalar("a\nb", ""), "|-\n    a\n    b");
    }
}
