//! Metric metadata (type, unit, help) as appenders and remote write carry it (Go's
//! `model/metadata.Metadata` and `model.MetricType`).

/// The type of a metric family, with Prometheus's `model.MetricType` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricType {
    /// `unknown` (also the text format's `untyped`).
    #[default]
    Unknown,
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram`.
    Histogram,
    /// `gaugehistogram`.
    GaugeHistogram,
    /// `summary`.
    Summary,
    /// `info`.
    Info,
    /// `stateset`.
    Stateset,
}

impl MetricType {
    /// Every type, in the order of their WAL codes (0 to 7).
    pub const ALL: [MetricType; 8] = [
        MetricType::Unknown,
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::GaugeHistogram,
        MetricType::Summary,
        MetricType::Info,
        MetricType::Stateset,
    ];

    /// Prometheus's name of the type (`counter`, ..., `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Unknown => "unknown",
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::Stateset => "stateset",
        }
    }

    /// The type named `s`; any other name (`untyped` included) is `Unknown`.
    pub fn from_name(s: &str) -> MetricType {
        MetricType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .unwrap_or(MetricType::Unknown)
    }

    /// The byte Prometheus's WAL metadata records use (`record.GetMetricType`).
    pub fn wal_code(self) -> u8 {
        MetricType::ALL
            .iter()
            .position(|&t| t == self)
            .map_or(0, |i| i as u8)
    }

    /// The type of a WAL code; unknown codes are `Unknown` (`record.ToMetricType`).
    pub fn from_wal_code(code: u8) -> MetricType {
        MetricType::ALL
            .get(usize::from(code))
            .copied()
            .unwrap_or(MetricType::Unknown)
    }
}

/// Type, unit and help of a series' metric family.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Metadata {
    /// The family's type.
    pub metric_type: MetricType,
    /// Its unit (empty when none).
    pub unit: String,
    /// Its help text.
    pub help: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_wal_codes_round_trip() {
        for (i, t) in MetricType::ALL.into_iter().enumerate() {
            assert_eq!(MetricType::from_name(t.as_str()), t);
            assert_eq!(usize::from(t.wal_code()), i);
            assert_eq!(MetricType::from_wal_code(t.wal_code()), t);
        }
        assert_eq!(MetricType::Counter.wal_code(), 1);
        assert_eq!(MetricType::Stateset.wal_code(), 7);
        assert_eq!(MetricType::from_wal_code(200), MetricType::Unknown);
        assert_eq!(MetricType::from_name("untyped"), MetricType::Unknown);
    }
}
