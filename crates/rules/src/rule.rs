//! What every rule has: a name, a query, labels, health and the outcome of its last
//! evaluation; [`Rule`] is a recording or an alerting rule.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use model::Labels;

use crate::alerting::AlertingRule;
use crate::recording::RecordingRule;

/// The health of a rule after its last evaluation (`ok`, `err`, `unknown` in the API).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Health {
    /// Not evaluated yet.
    #[default]
    Unknown,
    /// The last evaluation succeeded.
    Good,
    /// The last evaluation failed; see [`Rule::last_error`].
    Bad,
}

impl Health {
    /// The API's spelling: `unknown`, `ok` or `err`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Good => "ok",
            Health::Bad => "err",
        }
    }
}

/// The outcome of a rule's last evaluation.
#[derive(Debug, Clone, Default)]
pub(crate) struct EvalState {
    pub(crate) health: Health,
    pub(crate) last_error: Option<String>,
    pub(crate) evaluation_timestamp: Option<SystemTime>,
    pub(crate) evaluation_duration: Duration,
}

/// Shared bookkeeping of both rule kinds.
#[derive(Debug, Default)]
pub(crate) struct Status(Mutex<EvalState>);

impl Status {
    pub(crate) fn get(&self) -> EvalState {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut EvalState)) {
        f(&mut self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner));
    }
}

/// A recording or an alerting rule.
#[derive(Debug)]
pub enum Rule {
    /// Writes its query's result as new series.
    Recording(RecordingRule),
    /// Turns its query's result into alerts.
    Alerting(AlertingRule),
}

impl Rule {
    /// The record name or alert name.
    pub fn name(&self) -> &str {
        match self {
            Rule::Recording(r) => r.name(),
            Rule::Alerting(r) => r.name(),
        }
    }

    /// The query, printed from its parsed form (Go's `Query().String()`).
    pub fn query(&self) -> &str {
        match self {
            Rule::Recording(r) => r.query(),
            Rule::Alerting(r) => r.query(),
        }
    }

    /// The rule's labels (group labels merged in).
    pub fn labels(&self) -> &Labels {
        match self {
            Rule::Recording(r) => r.labels(),
            Rule::Alerting(r) => r.labels(),
        }
    }

    /// The alerting rule, if this is one.
    pub fn as_alerting(&self) -> Option<&AlertingRule> {
        match self {
            Rule::Alerting(r) => Some(r),
            Rule::Recording(_) => None,
        }
    }

    /// The recording rule, if this is one.
    pub fn as_recording(&self) -> Option<&RecordingRule> {
        match self {
            Rule::Recording(r) => Some(r),
            Rule::Alerting(_) => None,
        }
    }

    pub(crate) fn status(&self) -> &Status {
        match self {
            Rule::Recording(r) => &r.status,
            Rule::Alerting(r) => &r.status,
        }
    }

    /// Health after the last evaluation.
    pub fn health(&self) -> Health {
        self.status().get().health
    }

    /// The error of the last evaluation, if it failed.
    pub fn last_error(&self) -> Option<String> {
        self.status().get().last_error
    }

    /// When the last evaluation started (wall clock), if the rule was evaluated.
    pub fn last_evaluation(&self) -> Option<SystemTime> {
        self.status().get().evaluation_timestamp
    }

    /// How long the last evaluation took.
    pub fn evaluation_duration(&self) -> Duration {
        self.status().get().evaluation_duration
    }

    /// A canonical text of the rule's definition, used to tell whether a reloaded group
    /// changed (Go compares the rules' YAML).
    pub(crate) fn definition(&self) -> String {
        match self {
            Rule::Recording(r) => format!(
                "record: {}\nexpr: {}\nlabels: {}",
                r.name(),
                r.query(),
                r.labels()
            ),
            Rule::Alerting(r) => format!(
                "alert: {}\nexpr: {}\nfor: {}\nkeep_firing_for: {}\nlabels: {}\nannotations: {}",
                r.name(),
                r.query(),
                r.hold_duration().as_millis(),
                r.keep_firing_for().as_millis(),
                r.labels(),
                r.annotations()
            ),
        }
    }
}
