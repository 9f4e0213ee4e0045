//! Metric and label name validation, legacy and UTF-8, as Prometheus 3 does it.

use serde::{Deserialize, Serialize};

/// Which names are valid: Prometheus 3 accepts any non-empty UTF-8 name by default
/// (`utf8`); `legacy` restricts names to the classic character set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidationScheme {
    /// Metric names match `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*`.
    Legacy,
    /// Any non-empty valid UTF-8 string (the Prometheus 3 default).
    #[default]
    Utf8,
}

impl ValidationScheme {
    /// Reports whether `name` is a valid metric name under this scheme
    /// (Go's `model.IsValidMetricName` / `IsValidLegacyMetricName`).
    pub fn is_valid_metric_name(self, name: &str) -> bool {
        match self {
            ValidationScheme::Legacy => is_valid_legacy_metric_name(name),
            ValidationScheme::Utf8 => !name.is_empty(),
        }
    }

    /// Reports whether `name` is a valid label name under this scheme
    /// (Go's `model.LabelName.IsValid` / `IsValidLegacy`).
    pub fn is_valid_label_name(self, name: &str) -> bool {
        match self {
            ValidationScheme::Legacy => is_valid_legacy_label_name(name),
            ValidationScheme::Utf8 => !name.is_empty(),
        }
    }
}

/// Reports whether `name` matches `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_legacy_metric_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_alphabetic() || b == b'_' || b == b':' || (i > 0 && b.is_ascii_digit())
        })
}

/// Reports whether `name` matches `[a-zA-Z_][a-zA-Z0-9_]*` (no colons in label names).
pub fn is_valid_legacy_label_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_alphabetic() || b == b'_' || (i > 0 && b.is_ascii_digit()))
}

/// Reports whether `name` is a valid metric name under the default (UTF-8) scheme: non-empty.
/// Rust strings are always valid UTF-8, so emptiness is the only check left.
pub fn is_valid_metric_name(name: &str) -> bool {
    ValidationScheme::Utf8.is_valid_metric_name(name)
}

/// Reports whether `name` is a valid label name under the default (UTF-8) scheme: non-empty.
pub fn is_valid_label_name(name: &str) -> bool {
    ValidationScheme::Utf8.is_valid_label_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_and_utf8_names() {
        // (name, legacy metric, legacy label, utf8)
        let cases = [
            ("up", true, true, true),
            ("http_requests:rate5m", true, false, true),
            (":", true, false, true),
            ("_", true, true, true),
            ("__name__", true, true, true),
            ("a1", true, true, true),
            ("1a", false, false, true),
            ("", false, false, false),
            ("a-b", false, false, true),
            ("a.b", false, false, true),
            ("ä", false, false, true),
            ("a b", false, false, true),
        ];
        for (name, metric, label, utf8) in cases {
            assert_eq!(
                is_valid_legacy_metric_name(name),
                metric,
                "legacy metric {name:?}"
            );
            assert_eq!(
                is_valid_legacy_label_name(name),
                label,
                "legacy label {name:?}"
            );
            assert_eq!(ValidationScheme::Legacy.is_valid_metric_name(name), metric);
            assert_eq!(ValidationScheme::Legacy.is_valid_label_name(name), label);
            assert_eq!(is_valid_metric_name(name), utf8, "utf8 metric {name:?}");
            assert_eq!(is_valid_label_name(name), utf8, "utf8 label {name:?}");
        }
    }
}
