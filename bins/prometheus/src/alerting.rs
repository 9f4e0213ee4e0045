//! The glue between the rule manager, the notifier and the web API: alerts from rules become
//! notifier alerts (Go's `sendAlerts` in cmd/prometheus), and the API reads rule groups and
//! Alertmanagers through web's narrow traits.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A millisecond timestamp as a point in time.
fn system_time(ms: model::Timestamp) -> SystemTime {
    match u64::try_from(ms) {
        Ok(ms) => UNIX_EPOCH + Duration::from_millis(ms),
        Err(_) => UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs()),
    }
}

/// The notify callback rules call with the alerts that need sending: each becomes a
/// notifier alert starting when it fired and ending when it was resolved, or else when the
/// notification stops holding (`valid_until`), with a link to the rule's expression.
pub(crate) fn send_alerts(notifier: notifier::Manager, external_url: String) -> rules::NotifyFn {
    Arc::new(move |expr: &str, alerts: &[rules::Alert]| {
        let generator_url = notifier::generator_url(&external_url, expr);
        let out: Vec<notifier::Alert> = alerts
            .iter()
            .map(|a| notifier::Alert {
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: system_time(a.fired_at.unwrap_or(a.active_at)),
                ends_at: a.resolved_at.or(a.valid_until).map(system_time),
                generator_url: generator_url.clone(),
            })
            .collect();
        if !out.is_empty() {
            notifier.send(out);
        }
    })
}

/// `/api/v1/rules` and `/api/v1/alerts` from the rule manager.
pub(crate) struct RulesApi(pub(crate) rules::Manager);

fn alert_state(s: rules::AlertState) -> web::AlertState {
    match s {
        rules::AlertState::Pending => web::AlertState::Pending,
        rules::AlertState::Firing => web::AlertState::Firing,
        rules::AlertState::Inactive | rules::AlertState::Unknown => web::AlertState::Inactive,
    }
}

fn rule_view(group: &rules::Group, rule: &rules::Rule) -> web::RuleView {
    web::RuleView {
        name: rule.name().to_owned(),
        query: rule.query().to_owned(),
        labels: rule.labels().clone(),
        health: match rule.health() {
            rules::Health::Unknown => web::RuleHealth::Unknown,
            rules::Health::Good => web::RuleHealth::Ok,
            rules::Health::Bad => web::RuleHealth::Err,
        },
        last_error: rule.last_error(),
        evaluation_time_secs: rule.evaluation_duration().as_secs_f64(),
        last_evaluation: rule.last_evaluation(),
        alerting: rule.as_alerting().map(|a| web::AlertingView {
            state: alert_state(a.state()),
            duration_secs: a.hold_duration().as_secs_f64(),
            keep_firing_for_secs: a.keep_firing_for().as_secs_f64(),
            annotations: a.annotations().clone(),
            alerts: a
                .active_alerts()
                .into_iter()
                .map(|al| web::AlertView {
                    labels: al.labels,
                    annotations: al.annotations,
                    state: alert_state(al.state),
                    // Go's times carry the evaluation slot's nanoseconds.
                    active_at: Some(group.eval_time(al.active_at)),
                    keep_firing_since: al.keep_firing_since.map(|t| group.eval_time(t)),
                    value: al.value,
                })
                .collect(),
        }),
    }
}

impl web::RulesSource for RulesApi {
    fn rule_groups(&self) -> Vec<web::RuleGroupView> {
        self.0
            .rule_groups()
            .iter()
            .map(|g| web::RuleGroupView {
                name: g.name().to_owned(),
                file: g.file().to_owned(),
                interval_secs: g.interval().as_secs_f64(),
                limit: g.limit(),
                evaluation_time_secs: g.evaluation_time().as_secs_f64(),
                last_evaluation: g.last_evaluation(),
                rules: g.rules().iter().map(|r| rule_view(g, r)).collect(),
            })
            .collect()
    }
}

/// `/api/v1/alertmanagers` from the notifier.
pub(crate) struct AlertmanagersApi(pub(crate) notifier::Manager);

impl web::AlertmanagersSource for AlertmanagersApi {
    fn alertmanagers(&self) -> (Vec<String>, Vec<String>) {
        self.0.alertmanagers()
    }
}

/// Applies the configuration's `rule_files` to the rule manager (Go's "rules" reloader):
/// the evaluation interval, the files (globs expanded), external labels and URL.
pub(crate) fn apply_rules(
    manager: &rules::Manager,
    cfg: &config::Config,
    external_url: &str,
) -> anyhow::Result<()> {
    let files = rules::expand_rule_files(&cfg.rule_files)?;
    let interval = cfg.global.evaluation_interval.to_std();
    let external_labels = cfg.global.external_labels();
    manager.set_default_query_offset(cfg.global.rule_query_offset.to_std());
    let update = manager.update(interval, &files, &external_labels, external_url);
    // Reloaders run on a blocking thread of the runtime, which may wait on async work.
    tokio::runtime::Handle::current().block_on(update)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_alerts_become_notifier_alerts_like_prometheus() {
        let nm = notifier::Manager::new(notifier::Options::default());
        let notify = send_alerts(nm.clone(), "http://prom:9090".into());
        let alert = rules::Alert {
            state: rules::AlertState::Firing,
            labels: model::Labels::from_pairs([("alertname", "Down"), ("job", "x")]),
            annotations: model::Labels::from_pairs([("summary", "down")]),
            value: 1.0,
            active_at: 1_000,
            fired_at: Some(61_000),
            resolved_at: None,
            last_sent_at: None,
            valid_until: Some(300_000),
            keep_firing_since: None,
        };
        notify("up == 0", &[alert]);
        assert_eq!(nm.queue_len(), 1);
        assert_eq!(system_time(61_000), UNIX_EPOCH + Duration::from_secs(61));
        assert_eq!(
            system_time(-1_500),
            UNIX_EPOCH - Duration::from_millis(1_500)
        );
    }
}
