//! Amazon ElastiCache service discovery (`elasticache_sd_configs` and the `elasticache`
//! role of `aws_sd_configs`), as Prometheus's `discovery/aws/elasticache.go`: every
//! `refresh_interval` the region's serverless caches (`DescribeServerlessCaches`, 50 a
//! page) and node-based cache clusters with their nodes (`DescribeCacheClusters`, 100 a
//! page, asked once with `ShowCacheClustersNotInReplicationGroups` false and once true, as
//! upstream), then each resource's tags (`ListTagsForResource`), over the ElastiCache
//! query API (version 2015-02-02) signed with SigV4 (service `elasticache`), at most
//! `request_concurrency` (default 10) requests at once. `clusters` holds ARNs: a
//! `serverlesscache` ARN restricts the serverless caches, a `replicationgroup` ARN the
//! cache clusters (by id). One group (source: the region): a target per serverless cache
//! and one per cache node, labelled `__meta_elasticache_*`, addressed at the endpoint's
//! own port.
//!
//! The first refresh checks the credentials with an unfiltered `DescribeCacheClusters`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use config::discovery::AwsSdConfig;
use model::{Labels, TargetGroup};
use roxmltree::Node;

use crate::aws::{CredentialCheck, Field, LazyClients, bounded, child, members, put_field, text};
use crate::util::{join_host_port, sanitize};

const API_VERSION: &str = "2015-02-02";
const PREFIX: &str = "__meta_elasticache_";
const CLUSTER: &str = "__meta_elasticache_cache_cluster_";
const SERVERLESS: &str = "__meta_elasticache_serverless_cache_";

use Field::{Enum, Scalar, Str, Time};

/// Cache cluster labels: (label after `__meta_elasticache_cache_cluster_`, element, kind).
const CLUSTER_FIELDS: &[(&str, &str, Field)] = &[
    ("arn", "ARN", Str),
    ("cache_cluster_id", "CacheClusterId", Str),
    ("cache_cluster_status", "CacheClusterStatus", Str),
    (
        "at_rest_encryption_enabled",
        "AtRestEncryptionEnabled",
        Scalar,
    ),
    ("auth_token_enabled", "AuthTokenEnabled", Scalar),
    (
        "auth_token_last_modified",
        "AuthTokenLastModifiedDate",
        Time,
    ),
    (
        "auto_minor_version_upgrade",
        "AutoMinorVersionUpgrade",
        Scalar,
    ),
    ("cache_cluster_create_time", "CacheClusterCreateTime", Time),
    ("cache_node_type", "CacheNodeType", Str),
    ("cache_subnet_group_name", "CacheSubnetGroupName", Str),
    (
        "client_download_landing_page",
        "ClientDownloadLandingPage",
        Str,
    ),
    ("engine", "Engine", Str),
    ("engine_version", "EngineVersion", Str),
    ("ip_discovery", "IpDiscovery", Enum),
    ("network_type", "NetworkType", Enum),
    ("num_cache_nodes", "NumCacheNodes", Scalar),
    (
        "preferred_availability_zone",
        "PreferredAvailabilityZone",
        Str,
    ),
    (
        "preferred_maintenance_window",
        "PreferredMaintenanceWindow",
        Str,
    ),
    ("preferred_outpost_arn", "PreferredOutpostArn", Str),
    ("replication_group_id", "ReplicationGroupId", Str),
    (
        "replication_group_log_delivery_enabled",
        "ReplicationGroupLogDeliveryEnabled",
        Scalar,
    ),
    ("snapshot_retention_limit", "SnapshotRetentionLimit", Scalar),
    ("snapshot_window", "SnapshotWindow", Str),
    (
        "transit_encryption_enabled",
        "TransitEncryptionEnabled",
        Scalar,
    ),
    ("transit_encryption_mode", "TransitEncryptionMode", Enum),
];

/// Pending modified values: (label after `..._pending_modified_values_`, element, kind).
const PENDING_FIELDS: &[(&str, &str, Field)] = &[
    ("auth_token_status", "AuthTokenStatus", Enum),
    ("cache_node_type", "CacheNodeType", Str),
    ("engine_version", "EngineVersion", Str),
    ("num_cache_nodes", "NumCacheNodes", Scalar),
    (
        "transit_encryption_enabled",
        "TransitEncryptionEnabled",
        Scalar,
    ),
    ("transit_encryption_mode", "TransitEncryptionMode", Enum),
];

/// Cache node labels: (label after `..._cache_cluster_node_`, element, kind).
const NODE_FIELDS: &[(&str, &str, Field)] = &[
    ("id", "CacheNodeId", Str),
    ("status", "CacheNodeStatus", Str),
    ("create_time", "CacheNodeCreateTime", Time),
    ("availability_zone", "CustomerAvailabilityZone", Str),
    ("customer_outpost_arn", "CustomerOutpostArn", Str),
    ("source_cache_node_id", "SourceCacheNodeId", Str),
    ("parameter_group_status", "ParameterGroupStatus", Str),
];

/// Serverless cache labels: (label after `__meta_elasticache_serverless_cache_`, element,
/// kind).
const SERVERLESS_FIELDS: &[(&str, &str, Field)] = &[
    ("arn", "ARN", Str),
    ("name", "ServerlessCacheName", Str),
    ("status", "Status", Str),
    ("engine", "Engine", Str),
    ("full_engine_version", "FullEngineVersion", Str),
    ("major_engine_version", "MajorEngineVersion", Str),
    ("description", "Description", Str),
    ("create_time", "CreateTime", Time),
    ("kms_key_id", "KmsKeyId", Str),
    ("user_group_id", "UserGroupId", Str),
    ("daily_snapshot_time", "DailySnapshotTime", Str),
    ("snapshot_retention_limit", "SnapshotRetentionLimit", Scalar),
];

/// One discovered resource before its tags are known: its ARN, the labels of its targets
/// (one per cache node, or one for a serverless cache) and the tag label prefix.
#[derive(Debug)]
struct Resource {
    arn: Option<String>,
    common: BTreeMap<String, String>,
    targets: Vec<BTreeMap<String, String>>,
    tag_prefix: &'static str,
}

/// `host:port` of an endpoint element with both.
fn address(e: Node<'_, '_>) -> Option<String> {
    let host = text(e, "Address")?;
    let port = text(e, "Port")?;
    Some(join_host_port(&host, port.trim()))
}

fn serverless(n: Node<'_, '_>) -> Resource {
    let mut l = BTreeMap::new();
    l.insert(
        format!("{PREFIX}deployment_option"),
        "serverless".to_owned(),
    );
    for (label, element, kind) in SERVERLESS_FIELDS {
        put_field(&mut l, n, SERVERLESS, label, element, *kind);
    }
    let mut target_address = None;
    for (element, label) in [
        ("Endpoint", "endpoint_"),
        ("ReaderEndpoint", "endpoint_reader_"),
    ] {
        if let Some(e) = child(n, element) {
            put_field(
                &mut l,
                e,
                SERVERLESS,
                &format!("{label}address"),
                "Address",
                Str,
            );
            put_field(
                &mut l,
                e,
                SERVERLESS,
                &format!("{label}port"),
                "Port",
                Scalar,
            );
            if element == "Endpoint" {
                target_address = address(e);
            }
        }
    }
    for (list, label) in [
        ("SecurityGroupIds", "security_group_id"),
        ("SubnetIds", "subnet_id"),
    ] {
        for (i, m) in members(n, list).into_iter().enumerate() {
            l.insert(
                format!("{SERVERLESS}{label}_{i}"),
                m.text().unwrap_or_default().to_owned(),
            );
        }
    }
    if let Some(limits) = child(n, "CacheUsageLimits") {
        // Upstream's label names have no separator before maximum/minimum/unit.
        if let Some(ds) = child(limits, "DataStorage") {
            put_field(
                &mut l,
                ds,
                SERVERLESS,
                "cache_usage_limit_data_storagemaximum",
                "Maximum",
                Scalar,
            );
            put_field(
                &mut l,
                ds,
                SERVERLESS,
                "cache_usage_limit_data_storageminimum",
                "Minimum",
                Scalar,
            );
            l.insert(
                format!("{SERVERLESS}cache_usage_limit_data_storageunit"),
                text(ds, "Unit").unwrap_or_default(),
            );
        }
        if let Some(ecpu) = child(limits, "ECPUPerSecond") {
            put_field(
                &mut l,
                ecpu,
                SERVERLESS,
                "cache_usage_limit_ecpu_per_secondmaximum",
                "Maximum",
                Scalar,
            );
            put_field(
                &mut l,
                ecpu,
                SERVERLESS,
                "cache_usage_limit_ecpu_per_secondminimum",
                "Minimum",
                Scalar,
            );
        }
    }
    let mut target = BTreeMap::new();
    if let Some(a) = target_address {
        target.insert("__address__".to_owned(), a);
    }
    Resource {
        arn: text(n, "ARN"),
        common: l,
        targets: vec![target],
        tag_prefix: SERVERLESS,
    }
}

fn cache_cluster(n: Node<'_, '_>) -> Resource {
    let mut l = BTreeMap::new();
    l.insert(format!("{PREFIX}deployment_option"), "node".to_owned());
    for (label, element, kind) in CLUSTER_FIELDS {
        put_field(&mut l, n, CLUSTER, label, element, *kind);
    }
    if let Some(g) = child(n, "CacheParameterGroup") {
        put_field(
            &mut l,
            g,
            CLUSTER,
            "cache_parameter_group",
            "CacheParameterGroupName",
            Str,
        );
    }
    if let Some(e) = child(n, "ConfigurationEndpoint") {
        put_field(
            &mut l,
            e,
            CLUSTER,
            "configuration_endpoint_address",
            "Address",
            Str,
        );
        put_field(
            &mut l,
            e,
            CLUSTER,
            "configuration_endpoint_port",
            "Port",
            Scalar,
        );
    }
    if let Some(c) = child(n, "NotificationConfiguration") {
        put_field(
            &mut l,
            c,
            CLUSTER,
            "notification_topic_arn",
            "TopicArn",
            Str,
        );
        put_field(
            &mut l,
            c,
            CLUSTER,
            "notification_topic_status",
            "TopicStatus",
            Str,
        );
    }
    for (i, d) in members(n, "LogDeliveryConfigurations")
        .into_iter()
        .enumerate()
    {
        let p = "log_delivery_configuration_";
        for (label, element) in [
            ("destination_type", "DestinationType"),
            ("log_format", "LogFormat"),
            ("log_type", "LogType"),
            ("status", "Status"),
        ] {
            put_field(
                &mut l,
                d,
                CLUSTER,
                &format!("{p}{label}_{i}"),
                element,
                Enum,
            );
        }
        put_field(
            &mut l,
            d,
            CLUSTER,
            &format!("{p}message_{i}"),
            "Message",
            Str,
        );
        if let Some(details) = child(d, "DestinationDetails") {
            if let Some(cw) = child(details, "CloudWatchLogsDetails") {
                put_field(
                    &mut l,
                    cw,
                    CLUSTER,
                    &format!("{p}log_group_{i}"),
                    "LogGroup",
                    Str,
                );
            }
            if let Some(kf) = child(details, "KinesisFirehoseDetails") {
                put_field(
                    &mut l,
                    kf,
                    CLUSTER,
                    &format!("{p}delivery_stream_{i}"),
                    "DeliveryStream",
                    Str,
                );
            }
        }
    }
    if let Some(p) = child(n, "PendingModifiedValues") {
        for (label, element, kind) in PENDING_FIELDS {
            put_field(
                &mut l,
                p,
                CLUSTER,
                &format!("pending_modified_values_{label}"),
                element,
                *kind,
            );
        }
        let remove: Vec<String> = members(p, "CacheNodeIdsToRemove")
            .into_iter()
            .map(|m| m.text().unwrap_or_default().to_owned())
            .collect();
        if !remove.is_empty() {
            l.insert(
                format!("{CLUSTER}pending_modified_values_cache_node_ids_to_remove"),
                remove.join(","),
            );
        }
    }
    for (i, sg) in members(n, "SecurityGroups").into_iter().enumerate() {
        let p = "security_group_membership_";
        put_field(
            &mut l,
            sg,
            CLUSTER,
            &format!("{p}id_{i}"),
            "SecurityGroupId",
            Str,
        );
        put_field(
            &mut l,
            sg,
            CLUSTER,
            &format!("{p}status_{i}"),
            "Status",
            Str,
        );
    }
    let targets = members(n, "CacheNodes")
        .into_iter()
        .map(|node| {
            let mut t = BTreeMap::new();
            for (label, element, kind) in NODE_FIELDS {
                put_field(
                    &mut t,
                    node,
                    CLUSTER,
                    &format!("node_{label}"),
                    element,
                    *kind,
                );
            }
            if let Some(e) = child(node, "Endpoint") {
                put_field(&mut t, e, CLUSTER, "node_endpoint_address", "Address", Str);
                put_field(&mut t, e, CLUSTER, "node_endpoint_port", "Port", Scalar);
                if let Some(a) = address(e) {
                    t.insert("__address__".to_owned(), a);
                }
            }
            t
        })
        .collect();
    Resource {
        arn: text(n, "ARN"),
        common: l,
        targets,
        tag_prefix: CLUSTER,
    }
}

/// The serverless cache names and cache cluster ids named by `clusters` (ARNs).
fn split_deployment_options(clusters: &[String]) -> (Vec<String>, Vec<String>) {
    let (mut serverless, mut nodes) = (Vec::new(), Vec::new());
    for arn in clusters.iter().filter(|a| !a.is_empty()) {
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() < 7 {
            tracing::warn!(arn = %arn, "Skipping invalid ElastiCache ARN");
            continue;
        }
        match parts[5] {
            "serverlesscache" => serverless.push(parts[6].to_owned()),
            "replicationgroup" => nodes.push(parts[6].to_owned()),
            _ => {}
        }
    }
    (serverless, nodes)
}

/// The result element `name` of a query answer (or the root).
fn result<'a, 'i>(doc: &'a roxmltree::Document<'i>, name: &str) -> Node<'a, 'i> {
    doc.root_element()
        .children()
        .find(|c| c.has_tag_name(name))
        .unwrap_or(doc.root_element())
}

/// One ElastiCache provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    /// Region, API endpoint and signing client, made at the first refresh.
    clients: LazyClients,
    clusters: Vec<String>,
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
            clients: LazyClients::new(cfg, "ElastiCache", &["elasticache"]),
            clusters: cfg.clusters.clone(),
            concurrency: cfg.request_concurrency_or(10),
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
            checked: CredentialCheck::default(),
        })
    }

    async fn call(&self, action: &str, params: Vec<(String, String)>) -> Result<String, String> {
        let clients = self.clients.get().await?;
        crate::aws::query(
            clients.client(),
            &clients.endpoint,
            "ElastiCache",
            action,
            API_VERSION,
            params,
            self.timeout,
        )
        .await
    }

    /// Every page of `action` with `params`, each answer's resources read by `read` from
    /// the list `list`; `token` names the paging parameter and answer element.
    async fn pages(
        &self,
        action: &str,
        params: Vec<(String, String)>,
        token: &str,
        list: &str,
        read: fn(Node<'_, '_>) -> Resource,
        all: bool,
    ) -> Result<Vec<Resource>, String> {
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut p = params.clone();
            if let Some(t) = &next {
                p.push((token.to_owned(), t.clone()));
            }
            let body = self.call(action, p).await?;
            let doc =
                roxmltree::Document::parse(&body).map_err(|e| format!("decoding {action}: {e}"))?;
            let r = result(&doc, &format!("{action}Result"));
            out.extend(members(r, list).into_iter().map(read));
            next = text(r, token).filter(|t| !t.is_empty());
            if !all || next.is_none() {
                return Ok(out);
            }
        }
    }

    async fn serverless_caches(&self, names: &[String]) -> Result<Vec<Resource>, String> {
        let base = vec![("MaxResults".to_owned(), "50".to_owned())];
        if names.is_empty() {
            return self
                .pages(
                    "DescribeServerlessCaches",
                    base,
                    "NextToken",
                    "ServerlessCaches",
                    serverless,
                    true,
                )
                .await
                .map_err(|e| format!("failed to describe serverless caches: {e}"));
        }
        let found = bounded(self.concurrency, names.to_vec(), |name| {
            let mut p = base.clone();
            p.push(("ServerlessCacheName".to_owned(), name.clone()));
            async move {
                self.pages(
                    "DescribeServerlessCaches",
                    p,
                    "NextToken",
                    "ServerlessCaches",
                    serverless,
                    false,
                )
                .await
                .map_err(|e| format!("failed to describe serverless cache {name}: {e}"))
            }
        })
        .await;
        Ok(found
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect())
    }

    async fn cache_clusters(&self, ids: &[String]) -> Result<Vec<Resource>, String> {
        let base = |not_in_groups: bool| {
            vec![
                ("MaxRecords".to_owned(), "100".to_owned()),
                ("ShowCacheNodeInfo".to_owned(), "true".to_owned()),
                (
                    "ShowCacheClustersNotInReplicationGroups".to_owned(),
                    not_in_groups.to_string(),
                ),
            ]
        };
        let asks: Vec<(Option<String>, bool)> = if ids.is_empty() {
            vec![(None, false), (None, true)]
        } else {
            ids.iter()
                .flat_map(|id| [(Some(id.clone()), false), (Some(id.clone()), true)])
                .collect()
        };
        let found = bounded(self.concurrency, asks, |(id, not_in_groups)| {
            let mut p = base(not_in_groups);
            if let Some(id) = &id {
                p.push(("CacheClusterId".to_owned(), id.clone()));
            }
            async move {
                self.pages(
                    "DescribeCacheClusters",
                    p,
                    "Marker",
                    "CacheClusters",
                    cache_cluster,
                    id.is_none(),
                )
                .await
                .map_err(|e| match id {
                    Some(id) => format!("failed to describe cache cluster {id}: {e}"),
                    None => format!("failed to describe cache clusters: {e}"),
                })
            }
        })
        .await;
        Ok(found
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect())
    }

    async fn tags(
        &self,
        arns: Vec<String>,
    ) -> Result<HashMap<String, Vec<(String, String)>>, String> {
        let found = bounded(self.concurrency, arns, |arn| async move {
            let body = self
                .call(
                    "ListTagsForResource",
                    vec![("ResourceName".to_owned(), arn.clone())],
                )
                .await
                .map_err(|e| format!("failed to list tags for resource {arn}: {e}"))?;
            let doc = roxmltree::Document::parse(&body)
                .map_err(|e| format!("failed to list tags for resource {arn}: {e}"))?;
            let tags = members(result(&doc, "ListTagsForResourceResult"), "TagList")
                .into_iter()
                .filter_map(|t| Some((text(t, "Key")?, text(t, "Value")?)))
                .collect();
            Ok::<_, String>((arn, tags))
        })
        .await;
        found.into_iter().collect()
    }

    /// One refresh (Go's `refresh`): the region's group.
    ///
    /// # Errors
    /// The credential check, or describing the caches or listing their tags.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let region = &self.clients.get().await?.region;
        self.checked
            .once("elasticache", || {
                self.call("DescribeCacheClusters", Vec::new())
            })
            .await?;
        let (serverless_names, cluster_ids) = split_deployment_options(&self.clusters);
        let (caches, clusters) = tokio::join!(
            self.serverless_caches(&serverless_names),
            self.cache_clusters(&cluster_ids)
        );
        let caches = caches.map_err(|e| format!("failed to describe serverless caches: {e}"))?;
        let clusters = clusters.map_err(|e| format!("failed to describe cache clusters: {e}"))?;
        let resources: Vec<Resource> = caches.into_iter().chain(clusters).collect();
        let arns = resources.iter().filter_map(|r| r.arn.clone()).collect();
        let tags = self
            .tags(arns)
            .await
            .map_err(|e| format!("failed to list tags for resources: {e}"))?;
        let mut targets = Vec::new();
        for r in resources {
            let mut common = r.common;
            for (k, v) in r
                .arn
                .as_ref()
                .and_then(|a| tags.get(a))
                .into_iter()
                .flatten()
            {
                common.insert(format!("{}tag_{}", r.tag_prefix, sanitize(k)), v.clone());
            }
            for t in r.targets {
                let mut labels = common.clone();
                labels.extend(t);
                targets.push(Labels::from_pairs(labels));
            }
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
