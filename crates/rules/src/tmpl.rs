//! Label and annotation templates of alerting rules: the one place that calls the template
//! engine. Until the `template` crate lands this is a small stand-in that understands the
//! common forms (`{{ $labels.name }}`, `{{ $value }}`, `{{ $externalLabels.name }}`,
//! `{{ $externalURL }}` and their `.Labels`/`.Value` spellings) and rejects anything else.

use model::Labels;

/// What a template sees (Go's `template.AlertTemplateData`).
pub(crate) struct Data<'a> {
    pub(crate) labels: &'a Labels,
    pub(crate) external_labels: &'a Labels,
    pub(crate) external_url: &'a str,
    pub(crate) value: f64,
}

/// The variables Prometheus's prelude defines.
const PRELUDE_VARS: &[&str] = &["$labels", "$externalLabels", "$externalURL", "$value", "$"];

/// Parses `text` as template `name` without running it (promtool check rules).
pub(crate) fn check(name: &str, text: &str) -> Result<(), String> {
    for action in actions(name, text)? {
        for word in action.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
            if let Some(var) = word.strip_prefix('$') {
                let root = format!("${}", var.split('.').next().unwrap_or(""));
                if !PRELUDE_VARS.contains(&root.as_str()) && !text.contains(&format!("{root} :=")) {
                    let line = 1 + text[..text.find(&root).unwrap_or(0)].matches('\n').count();
                    return Err(format!(
                        "template: {name}:{line}: undefined variable \"{root}\""
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Expands template `name` for one alert at `_timestamp_ms`.
pub(crate) fn expand(
    name: &str,
    text: &str,
    data: &Data<'_>,
    _timestamp_ms: i64,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("template: {name}:1: unclosed action"))?;
        let action = after[..end].trim_matches('-').trim();
        out.push_str(&eval_action(name, action, data)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn eval_action(name: &str, action: &str, data: &Data<'_>) -> Result<String, String> {
    let label = |labels: &Labels, key: &str| labels.get(key).unwrap_or("").to_string();
    if matches!(action, "$value" | ".Value") {
        return Ok(model::strconv::format_float_g(data.value));
    }
    if matches!(action, "$externalURL" | ".ExternalURL") {
        return Ok(data.external_url.to_string());
    }
    for prefix in ["$labels.", ".Labels."] {
        if let Some(key) = action.strip_prefix(prefix) {
            return Ok(label(data.labels, key));
        }
    }
    for prefix in ["$externalLabels.", ".ExternalLabels."] {
        if let Some(key) = action.strip_prefix(prefix) {
            return Ok(label(data.external_labels, key));
        }
    }
    Err(format!(
        "template: {name}: {{{{{action}}}}} is not supported by the built-in expander"
    ))
}

/// The texts between `{{` and `}}`, or the unclosed-action error.
fn actions<'a>(name: &str, text: &'a str) -> Result<Vec<&'a str>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            let line = 1 + text[..text.len() - after.len()].matches('\n').count();
            return Err(format!("template: {name}:{line}: unclosed action"));
        };
        out.push(&after[..end]);
        rest = &after[end + 2..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_forms_expand() {
        let labels = Labels::from_pairs([("instance", "a:1")]);
        let ext = Labels::from_pairs([("dc", "eu")]);
        let data = Data {
            labels: &labels,
            external_labels: &ext,
            external_url: "http://x",
            value: 0.5,
        };
        assert_eq!(
            expand("t", "{{ $labels.instance }} is {{ $value }} in {{$externalLabels.dc}} {{ $externalURL }}", &data, 0).as_deref(),
            Ok("a:1 is 0.5 in eu http://x")
        );
    }

    #[test]
    fn undefined_variables_fail_the_check() {
        assert_eq!(
            check(
                "__alert_InstanceDown",
                "Instance {{ $label.instance }} down"
            ),
            Err("template: __alert_InstanceDown:1: undefined variable \"$label\"".to_string())
        );
        assert!(check("x", "{{ $labels.instance }} {{ $value }}").is_ok());
    }
}
