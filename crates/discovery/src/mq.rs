//! Amazon MQ service discovery (`mq_sd_configs`), as Prometheus's `discovery/aws/mq.go`:
//! every `refresh_interval` the region's brokers (`ListBrokers`, 100 a page) and each
//! broker's description (`DescribeBroker`, at most `request_concurrency`, default 10, at
//! once) over the MQ REST JSON API signed with SigV4 (service `mq`); one group (source:
//! the region) with a target per `https://` endpoint of each broker instance (the
//! endpoint without its scheme is the address), labelled `__meta_mq_*`.
//!
//! The first refresh checks the credentials with a `ListBrokers`.

use std::collections::BTreeMap;
use std::time::Duration;

use config::discovery::AwsSdConfig;
use model::{Labels, TargetGroup};
use serde_json::Value;

use crate::aws::{CredentialCheck, LazyClients, bounded, rest_json_get, rfc3339};
use crate::util::sanitize;

const PREFIX: &str = "__meta_mq_";
/// Brokers serve `/metrics` over https only: only those endpoints are targets.
const ENDPOINT_PREFIX: &str = "https://";

/// Go's `url.PathEscape` of one path segment.
fn path_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Label values from a broker description, as upstream's `mq*Labels` helpers set them.
struct Put<'a>(&'a mut BTreeMap<String, String>);

impl Put<'_> {
    fn set(&mut self, label: &str, v: String) {
        self.0.insert(format!("{PREFIX}{label}"), v);
    }

    /// A string (or number) when present.
    fn opt(&mut self, label: &str, v: Option<&Value>) {
        match v {
            Some(Value::String(s)) => self.set(label, s.clone()),
            Some(Value::Number(n)) => self.set(label, n.to_string()),
            Some(Value::Bool(b)) => self.set(label, b.to_string()),
            _ => {}
        }
    }

    /// An enumeration when present and not empty.
    fn enumeration(&mut self, label: &str, v: Option<&Value>) {
        if let Some(s) = v.and_then(Value::as_str).filter(|s| !s.is_empty()) {
            self.set(label, s.to_owned());
        }
    }

    /// A list joined with commas when present.
    fn list(&mut self, label: &str, v: Option<&Value>) {
        if let Some(items) = v.and_then(Value::as_array) {
            self.set(label, join(items));
        }
    }
}

fn join(items: &[Value]) -> String {
    items
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// Data replication metadata labels, under `pending_` when `pending`.
fn replication(p: &mut Put<'_>, v: Option<&Value>, pending: &str) {
    let Some(v) = v.filter(|v| v.is_object()) else {
        return;
    };
    let base = format!("{pending}data_replication_metadata_");
    p.opt(
        &format!("{base}data_replication_role"),
        v.get("dataReplicationRole"),
    );
    if let Some(c) = v
        .get("dataReplicationCounterpart")
        .filter(|c| c.is_object())
    {
        p.opt(
            &format!("{base}data_replication_counterpart_broker_id"),
            c.get("brokerId"),
        );
        p.opt(
            &format!("{base}data_replication_counterpart_region"),
            c.get("region"),
        );
    }
}

/// LDAP server metadata labels, under `pending_` when `pending`.
fn ldap(p: &mut Put<'_>, v: Option<&Value>, pending: &str) {
    let Some(v) = v.filter(|v| v.is_object()) else {
        return;
    };
    let base = format!("{pending}ldap_server_metadata_");
    p.list(&format!("{base}hosts"), v.get("hosts"));
    for (label, key) in [
        ("role_base", "roleBase"),
        ("role_search_matching", "roleSearchMatching"),
        ("service_account_username", "serviceAccountUsername"),
        ("user_base", "userBase"),
        ("user_search_matching", "userSearchMatching"),
        ("role_name", "roleName"),
        ("role_search_subtree", "roleSearchSubtree"),
        ("user_role_name", "userRoleName"),
        ("user_search_subtree", "userSearchSubtree"),
    ] {
        p.opt(&format!("{base}{label}"), v.get(key));
    }
}

/// The targets of one broker description.
fn broker_targets(b: &Value, out: &mut Vec<Labels>) {
    let mut labels = BTreeMap::new();
    let mut p = Put(&mut labels);
    let s = |k: &str| {
        b.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let list = |k: &str| {
        b.get(k)
            .and_then(Value::as_array)
            .map(|a| join(a))
            .unwrap_or_default()
    };
    p.set("authentication_strategy", s("authenticationStrategy"));
    p.set("broker_state", s("brokerState"));
    p.set("deployment_mode", s("deploymentMode"));
    p.set("engine_type", s("engineType"));
    p.set("security_groups", list("securityGroups"));
    p.set("storage_type", s("storageType"));
    p.set("subnet_ids", list("subnetIds"));
    p.opt(
        "auto_minor_version_upgrade",
        b.get("autoMinorVersionUpgrade"),
    );
    p.opt("broker_arn", b.get("brokerArn"));
    p.opt("broker_id", b.get("brokerId"));
    p.opt("broker_name", b.get("brokerName"));
    if let Some(c) = b
        .pointer("/configurations/current")
        .filter(|c| c.is_object())
    {
        p.opt("configurations_current_id", c.get("id"));
        p.opt("configurations_current_revision", c.get("revision"));
    }
    if let Some(c) = b.get("created").and_then(Value::as_str) {
        p.set("created", rfc3339(c));
    }
    p.enumeration("data_replication_mode", b.get("dataReplicationMode"));
    replication(&mut p, b.get("dataReplicationMetadata"), "");
    if let Some(e) = b.get("encryptionOptions").filter(|e| e.is_object()) {
        p.opt(
            "encryption_options_use_aws_owned_key",
            e.get("useAwsOwnedKey"),
        );
        p.opt("encryption_options_kms_key_id", e.get("kmsKeyId"));
    }
    p.opt("engine_version", b.get("engineVersion"));
    p.opt("host_instance_type", b.get("hostInstanceType"));
    ldap(&mut p, b.get("ldapServerMetadata"), "");
    if let Some(l) = b.get("logs").filter(|l| l.is_object()) {
        p.opt("logs_audit", l.get("audit"));
        p.opt("logs_audit_log_group", l.get("auditLogGroup"));
        p.opt("logs_general", l.get("general"));
        p.opt("logs_general_log_group", l.get("generalLogGroup"));
        if let Some(pending) = l.get("pending").filter(|x| x.is_object()) {
            p.opt("logs_pending_audit", pending.get("audit"));
            p.opt("logs_pending_general", pending.get("general"));
        }
    }
    if let Some(w) = b
        .get("maintenanceWindowStartTime")
        .filter(|w| w.is_object())
    {
        p.enumeration(
            "maintenance_window_start_time_day_of_week",
            w.get("dayOfWeek"),
        );
        p.opt(
            "maintenance_window_start_time_time_of_day",
            w.get("timeOfDay"),
        );
        p.opt("maintenance_window_start_time_time_zone", w.get("timeZone"));
    }
    p.enumeration(
        "pending_authentication_strategy",
        b.get("pendingAuthenticationStrategy"),
    );
    p.enumeration(
        "pending_data_replication_mode",
        b.get("pendingDataReplicationMode"),
    );
    replication(&mut p, b.get("pendingDataReplicationMetadata"), "pending_");
    p.opt("pending_engine_version", b.get("pendingEngineVersion"));
    p.opt(
        "pending_host_instance_type",
        b.get("pendingHostInstanceType"),
    );
    ldap(&mut p, b.get("pendingLdapServerMetadata"), "pending_");
    p.list("pending_security_groups", b.get("pendingSecurityGroups"));
    p.opt("pending_storage_size", b.get("pendingStorageSize"));
    p.opt("publicly_accessible", b.get("publiclyAccessible"));
    p.opt("storage_size", b.get("storageSize"));
    if let Some(tags) = b.get("tags").and_then(Value::as_object) {
        for (k, v) in tags {
            if let Some(v) = v.as_str() {
                p.set(&format!("tags_{}", sanitize(k)), v.to_owned());
            }
        }
    }
    for instance in b
        .get("brokerInstances")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for endpoint in instance
            .get("endpoints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            let Some(address) = endpoint.strip_prefix(ENDPOINT_PREFIX) else {
                continue;
            };
            let mut t = labels.clone();
            t.insert(
                format!("{PREFIX}broker_instance_endpoint"),
                endpoint.to_owned(),
            );
            t.insert("__address__".to_owned(), address.to_owned());
            if let Some(ip) = instance.get("ipAddress").and_then(Value::as_str) {
                t.insert(format!("{PREFIX}broker_instance_ip_address"), ip.to_owned());
            }
            out.push(Labels::from_pairs(t));
        }
    }
}

/// One MQ provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    /// Region, API endpoint and signing client, made at the first refresh.
    clients: LazyClients,
    concurrency: usize,
    timeout: Duration,
    checked: CredentialCheck,
}

impl Discovery {
    /// A provider for `cfg`; its region, credentials and HTTP client options are looked up
    /// at the first refresh ([`LazyClients`]).
    ///
    /// # Errors
    /// None so far: everything that can fail waits for the first refresh.
    pub(crate) fn new(cfg: &AwsSdConfig) -> Result<Discovery, String> {
        Ok(Discovery {
            clients: LazyClients::new(cfg, "MQ", &["mq"]),
            concurrency: cfg.request_concurrency_or(10),
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
            checked: CredentialCheck::default(),
        })
    }

    /// One GET of the MQ API.
    async fn get(&self, op: &str, path: &str, query: &[(String, String)]) -> Result<Value, String> {
        let clients = self.clients.get().await?;
        rest_json_get(clients, "mq", op, path, query, self.timeout).await
    }

    async fn list_brokers(&self) -> Result<Vec<String>, String> {
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = vec![("maxResults".to_owned(), "100".to_owned())];
            if let Some(t) = &token {
                q.push(("nextToken".to_owned(), t.clone()));
            }
            let page = self.get("ListBrokers", "/v1/brokers", &q).await?;
            for b in page
                .get("brokerSummaries")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                ids.push(
                    b.get("brokerId")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            token = page
                .get("nextToken")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if token.is_none() {
                return Ok(ids);
            }
        }
    }

    /// One refresh (Go's `refresh`): the region's group.
    ///
    /// # Errors
    /// The credential check, or listing or describing the brokers.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let region = &self.clients.get().await?.region;
        self.checked
            .once("MQ", || self.get("ListBrokers", "/v1/brokers", &[]))
            .await?;
        let ids = self
            .list_brokers()
            .await
            .map_err(|e| format!("error listing brokers: {e}"))?;
        let brokers = bounded(self.concurrency, ids, |id| async move {
            self.get(
                "DescribeBroker",
                &format!("/v1/brokers/{}", path_escape(&id)),
                &[],
            )
            .await
            .map_err(|e| format!("error describing broker {id}: {e}"))
        })
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("error describing brokers: {e}"))?;
        let mut targets = Vec::new();
        for b in &brokers {
            broker_targets(b, &mut targets);
        }
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: region.clone(),
        }])
    }
}

#[cfg(test)]
mod tests;
