//! Amazon RDS service discovery (`rds_sd_configs` and the `rds` role of `aws_sd_configs`),
//! as Prometheus's `discovery/aws/rds.go`: every `refresh_interval` the region's DB
//! clusters (`clusters`, each asked with `DBClusterIdentifier`, or all of
//! `DescribeDBClusters`) and each cluster's DB instances (`DescribeDBInstances` filtered by
//! `db-cluster-id` and the configured `filters`), both over the RDS query API (version
//! 2014-10-31, `Marker` paging, 100 records a page) signed with SigV4 (service `rds`),
//! at most `request_concurrency` (default 10) requests at once; one group (source: the
//! region) with a target per instance labelled `__meta_rds_cluster_*` and
//! `__meta_rds_instance_*`, its address the instance endpoint's host with `port`.
//!
//! The first refresh checks the credentials with an unfiltered `DescribeDBClusters`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use config::discovery::AwsSdConfig;
use model::{Labels, TargetGroup};
use roxmltree::Node;

use crate::aws::{CredentialCheck, Field, LazyClients, bounded, child, members, put_field, text};
use crate::util::{join_host_port, sanitize};

const API_VERSION: &str = "2014-10-31";
const CLUSTER: &str = "__meta_rds_cluster_";
const INSTANCE: &str = "__meta_rds_instance_";

use Field::{Enum, Scalar, Str, Time};

/// DB cluster labels: (label after `__meta_rds_cluster_`, XML element, kind).
const CLUSTER_FIELDS: &[(&str, &str, Field)] = &[
    ("arn", "DBClusterArn", Str),
    ("identifier", "DBClusterIdentifier", Str),
    (
        "activity_stream_kinesis_stream_name",
        "ActivityStreamKinesisStreamName",
        Str,
    ),
    ("activity_stream_kms_key_id", "ActivityStreamKmsKeyId", Str),
    ("activity_stream_mode", "ActivityStreamMode", Enum),
    ("activity_stream_status", "ActivityStreamStatus", Enum),
    ("allocated_storage", "AllocatedStorage", Scalar),
    (
        "auto_minor_version_upgrade",
        "AutoMinorVersionUpgrade",
        Scalar,
    ),
    ("automatic_restart_time", "AutomaticRestartTime", Time),
    (
        "aws_backup_recovery_point_arn",
        "AwsBackupRecoveryPointArn",
        Str,
    ),
    (
        "backtrack_consumed_change_records",
        "BacktrackConsumedChangeRecords",
        Scalar,
    ),
    ("backtrack_window", "BacktrackWindow", Scalar),
    ("backup_retention_period", "BackupRetentionPeriod", Scalar),
    ("capacity", "Capacity", Scalar),
    ("character_set_name", "CharacterSetName", Str),
    ("clone_group_id", "CloneGroupId", Str),
    ("cluster_create_time", "ClusterCreateTime", Time),
    ("cluster_scalability_type", "ClusterScalabilityType", Enum),
    ("copy_tags_to_snapshot", "CopyTagsToSnapshot", Scalar),
    ("cross_account_clone", "CrossAccountClone", Scalar),
    ("instance_class", "DBClusterInstanceClass", Str),
    ("parameter_group", "DBClusterParameterGroup", Str),
    ("subnet_group", "DBSubnetGroup", Str),
    ("db_system_id", "DBSystemId", Str),
    ("database_insights_mode", "DatabaseInsightsMode", Enum),
    ("database_name", "DatabaseName", Str),
    ("resource_id", "DbClusterResourceId", Str),
    ("deletion_protection", "DeletionProtection", Scalar),
    ("earliest_backtrack_time", "EarliestBacktrackTime", Time),
    ("earliest_restorable_time", "EarliestRestorableTime", Time),
    ("endpoint", "Endpoint", Str),
    ("engine", "Engine", Str),
    ("engine_lifecycle_support", "EngineLifecycleSupport", Str),
    ("engine_mode", "EngineMode", Str),
    ("engine_version", "EngineVersion", Str),
    ("global_cluster_identifier", "GlobalClusterIdentifier", Str),
    (
        "global_write_forwarding_requested",
        "GlobalWriteForwardingRequested",
        Scalar,
    ),
    (
        "global_write_forwarding_status",
        "GlobalWriteForwardingStatus",
        Enum,
    ),
    ("hosted_zone_id", "HostedZoneId", Str),
    ("http_endpoint_enabled", "HttpEndpointEnabled", Scalar),
    (
        "iam_database_authentication_enabled",
        "IAMDatabaseAuthenticationEnabled",
        Scalar,
    ),
    (
        "io_optimized_next_allowed_modification_time",
        "IOOptimizedNextAllowedModificationTime",
        Time,
    ),
    ("iops", "Iops", Scalar),
    ("kms_key_id", "KmsKeyId", Str),
    ("latest_restorable_time", "LatestRestorableTime", Time),
    (
        "local_write_forwarding_status",
        "LocalWriteForwardingStatus",
        Enum,
    ),
    ("master_username", "MasterUsername", Str),
    ("monitoring_interval", "MonitoringInterval", Scalar),
    ("monitoring_role_arn", "MonitoringRoleArn", Str),
    ("multi_az", "MultiAZ", Scalar),
    ("network_type", "NetworkType", Str),
    ("percent_progress", "PercentProgress", Str),
    (
        "performance_insights_enabled",
        "PerformanceInsightsEnabled",
        Scalar,
    ),
    (
        "performance_insights_kms_key_id",
        "PerformanceInsightsKMSKeyId",
        Str,
    ),
    (
        "performance_insights_retention_period",
        "PerformanceInsightsRetentionPeriod",
        Scalar,
    ),
    ("port", "Port", Scalar),
    ("preferred_backup_window", "PreferredBackupWindow", Str),
    (
        "preferred_maintenance_window",
        "PreferredMaintenanceWindow",
        Str,
    ),
    ("publicly_accessible", "PubliclyAccessible", Scalar),
    ("reader_endpoint", "ReaderEndpoint", Str),
    (
        "replication_source_identifier",
        "ReplicationSourceIdentifier",
        Str,
    ),
    (
        "serverless_v2_platform_version",
        "ServerlessV2PlatformVersion",
        Str,
    ),
    ("status", "Status", Str),
    ("storage_encrypted", "StorageEncrypted", Scalar),
    ("storage_encryption_type", "StorageEncryptionType", Enum),
    ("storage_throughput", "StorageThroughput", Scalar),
    ("storage_type", "StorageType", Str),
    ("upgrade_rollout_order", "UpgradeRolloutOrder", Enum),
];

/// DB instance labels: (label after `__meta_rds_instance_`, XML element, kind); the
/// identifier, endpoints and subnet group are set apart.
const INSTANCE_FIELDS: &[(&str, &str, Field)] = &[
    ("arn", "DBInstanceArn", Str),
    (
        "activity_stream_engine_native_audit_fields_included",
        "ActivityStreamEngineNativeAuditFieldsIncluded",
        Scalar,
    ),
    (
        "activity_stream_kinesis_stream_name",
        "ActivityStreamKinesisStreamName",
        Str,
    ),
    ("activity_stream_kms_key_id", "ActivityStreamKmsKeyId", Str),
    ("activity_stream_mode", "ActivityStreamMode", Enum),
    (
        "activity_stream_policy_status",
        "ActivityStreamPolicyStatus",
        Enum,
    ),
    ("activity_stream_status", "ActivityStreamStatus", Enum),
    ("allocated_storage", "AllocatedStorage", Scalar),
    (
        "auto_minor_version_upgrade",
        "AutoMinorVersionUpgrade",
        Scalar,
    ),
    ("automatic_restart_time", "AutomaticRestartTime", Time),
    ("automation_mode", "AutomationMode", Enum),
    ("availability_zone", "AvailabilityZone", Str),
    (
        "aws_backup_recovery_point_arn",
        "AwsBackupRecoveryPointArn",
        Str,
    ),
    ("backup_retention_period", "BackupRetentionPeriod", Scalar),
    ("backup_target", "BackupTarget", Str),
    ("ca_certificate_identifier", "CACertificateIdentifier", Str),
    ("character_set_name", "CharacterSetName", Str),
    ("copy_tags_to_snapshot", "CopyTagsToSnapshot", Scalar),
    (
        "custom_iam_instance_profile",
        "CustomIamInstanceProfile",
        Str,
    ),
    (
        "customer_owned_ip_enabled",
        "CustomerOwnedIpEnabled",
        Scalar,
    ),
    ("db_cluster_identifier", "DBClusterIdentifier", Str),
    ("class", "DBInstanceClass", Str),
    ("status", "DBInstanceStatus", Str),
    ("db_name", "DBName", Str),
    ("port", "DbInstancePort", Scalar),
    ("resource_id", "DbiResourceId", Str),
    ("dedicated_log_volume", "DedicatedLogVolume", Scalar),
    ("deletion_protection", "DeletionProtection", Scalar),
    ("engine", "Engine", Str),
    ("engine_lifecycle_support", "EngineLifecycleSupport", Str),
    ("engine_version", "EngineVersion", Str),
    (
        "enhanced_monitoring_resource_arn",
        "EnhancedMonitoringResourceArn",
        Str,
    ),
    (
        "iam_database_authentication_enabled",
        "IAMDatabaseAuthenticationEnabled",
        Scalar,
    ),
    ("instance_create_time", "InstanceCreateTime", Time),
    ("iops", "Iops", Scalar),
    (
        "is_storage_config_upgrade_available",
        "IsStorageConfigUpgradeAvailable",
        Scalar,
    ),
    ("kms_key_id", "KmsKeyId", Str),
    ("latest_restorable_time", "LatestRestorableTime", Time),
    ("license_model", "LicenseModel", Str),
    ("master_username", "MasterUsername", Str),
    ("max_allocated_storage", "MaxAllocatedStorage", Scalar),
    ("monitoring_interval", "MonitoringInterval", Scalar),
    ("monitoring_role_arn", "MonitoringRoleArn", Str),
    ("multi_az", "MultiAZ", Scalar),
    ("multi_tenant", "MultiTenant", Scalar),
    ("nchar_character_set_name", "NcharCharacterSetName", Str),
    ("network_type", "NetworkType", Str),
    ("percent_progress", "PercentProgress", Str),
    (
        "performance_insights_enabled",
        "PerformanceInsightsEnabled",
        Scalar,
    ),
    (
        "performance_insights_kms_key_id",
        "PerformanceInsightsKMSKeyId",
        Str,
    ),
    (
        "performance_insights_retention_period",
        "PerformanceInsightsRetentionPeriod",
        Scalar,
    ),
    ("preferred_backup_window", "PreferredBackupWindow", Str),
    (
        "preferred_maintenance_window",
        "PreferredMaintenanceWindow",
        Str,
    ),
    ("promotion_tier", "PromotionTier", Scalar),
    ("publicly_accessible", "PubliclyAccessible", Scalar),
    (
        "read_replica_source_db_cluster_identifier",
        "ReadReplicaSourceDBClusterIdentifier",
        Str,
    ),
    (
        "read_replica_source_db_instance_identifier",
        "ReadReplicaSourceDBInstanceIdentifier",
        Str,
    ),
    ("replica_mode", "ReplicaMode", Enum),
    (
        "resume_full_automation_mode_time",
        "ResumeFullAutomationModeTime",
        Time,
    ),
    (
        "secondary_availability_zone",
        "SecondaryAvailabilityZone",
        Str,
    ),
    ("storage_encrypted", "StorageEncrypted", Scalar),
    ("storage_encryption_type", "StorageEncryptionType", Enum),
    ("storage_throughput", "StorageThroughput", Scalar),
    ("storage_type", "StorageType", Str),
    ("storage_volume_status", "StorageVolumeStatus", Str),
    ("tde_credential_arn", "TdeCredentialArn", Str),
    ("timezone", "Timezone", Str),
    ("upgrade_rollout_order", "UpgradeRolloutOrder", Enum),
    ("db_system_id", "DBSystemId", Str),
    ("database_insights_mode", "DatabaseInsightsMode", Enum),
];

/// What a refresh keeps of one DB cluster.
#[derive(Debug, Clone)]
struct Cluster {
    arn: String,
    labels: BTreeMap<String, String>,
    /// Member instance identifier to its `IsClusterWriter`.
    writers: HashMap<String, bool>,
}

/// What a refresh keeps of one DB instance.
#[derive(Debug)]
struct Instance {
    identifier: Option<String>,
    labels: BTreeMap<String, String>,
    /// The endpoint's address, when the endpoint has an address and a port.
    address: Option<String>,
}

fn tags(n: Node<'_, '_>, prefix: &str, out: &mut BTreeMap<String, String>) {
    for t in members(n, "TagList") {
        if let (Some(k), Some(v)) = (text(t, "Key"), text(t, "Value")) {
            out.insert(format!("{prefix}tag_{}", sanitize(&k)), v);
        }
    }
}

fn parse_cluster(n: Node<'_, '_>) -> Option<Cluster> {
    let arn = text(n, "DBClusterArn")?;
    let mut labels = BTreeMap::new();
    for (label, element, kind) in CLUSTER_FIELDS {
        put_field(&mut labels, n, CLUSTER, label, element, *kind);
    }
    tags(n, CLUSTER, &mut labels);
    let writers = members(n, "DBClusterMembers")
        .into_iter()
        .filter_map(|m| {
            let id = text(m, "DBInstanceIdentifier")?;
            let writer = text(m, "IsClusterWriter")?;
            Some((id, writer.trim() == "true"))
        })
        .collect();
    Some(Cluster {
        arn,
        labels,
        writers,
    })
}

fn parse_instance(n: Node<'_, '_>) -> Instance {
    let mut labels = BTreeMap::new();
    let identifier = text(n, "DBInstanceIdentifier");
    if let Some(id) = &identifier {
        labels.insert(format!("{INSTANCE}identifier"), id.clone());
    }
    for (label, element, kind) in INSTANCE_FIELDS {
        put_field(&mut labels, n, INSTANCE, label, element, *kind);
    }
    let mut address = None;
    for (element, label) in [
        ("Endpoint", "endpoint"),
        ("ListenerEndpoint", "listener_endpoint"),
    ] {
        let Some(e) = child(n, element) else {
            continue;
        };
        put_field(
            &mut labels,
            e,
            INSTANCE,
            &format!("{label}_address"),
            "Address",
            Str,
        );
        put_field(
            &mut labels,
            e,
            INSTANCE,
            &format!("{label}_hosted_zone_id"),
            "HostedZoneId",
            Str,
        );
        put_field(
            &mut labels,
            e,
            INSTANCE,
            &format!("{label}_port"),
            "Port",
            Scalar,
        );
        if element == "Endpoint" && text(e, "Port").is_some() {
            address = text(e, "Address");
        }
    }
    if let Some(g) = child(n, "DBSubnetGroup") {
        put_field(
            &mut labels,
            g,
            INSTANCE,
            "subnet_group",
            "DBSubnetGroupName",
            Str,
        );
    }
    tags(n, INSTANCE, &mut labels);
    Instance {
        identifier,
        labels,
        address,
    }
}

/// One RDS provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    /// Region, API endpoint and signing client, made at the first refresh.
    clients: LazyClients,
    clusters: Vec<String>,
    filters: Vec<(String, Vec<String>)>,
    port: u16,
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
            clients: LazyClients::new(cfg, "RDS", &["rds"]),
            clusters: cfg.clusters.clone(),
            filters: cfg
                .filters
                .iter()
                .map(|f| (f.name.clone(), f.values.clone()))
                .collect(),
            port: cfg.port,
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
            "RDS",
            action,
            API_VERSION,
            params,
            self.timeout,
        )
        .await
    }

    /// Every page of `DescribeDBClusters` with `params`.
    async fn describe_clusters(&self, params: &[(String, String)]) -> Result<Vec<Cluster>, String> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut p = params.to_vec();
            if let Some(m) = &marker {
                p.push(("Marker".to_owned(), m.clone()));
            }
            p.push(("MaxRecords".to_owned(), "100".to_owned()));
            let body = self.call("DescribeDBClusters", p).await?;
            let doc = roxmltree::Document::parse(&body)
                .map_err(|e| format!("decoding DescribeDBClusters: {e}"))?;
            let result = doc
                .root_element()
                .children()
                .find(|c| c.has_tag_name("DescribeDBClustersResult"))
                .unwrap_or(doc.root_element());
            out.extend(
                members(result, "DBClusters")
                    .into_iter()
                    .filter_map(parse_cluster),
            );
            marker = text(result, "Marker").filter(|m| !m.is_empty());
            if marker.is_none() {
                return Ok(out);
            }
        }
    }

    /// Every instance of the cluster `arn` passing the configured filters.
    async fn describe_instances(&self, arn: &str) -> Result<Vec<Instance>, String> {
        let mut filters = vec![("db-cluster-id".to_owned(), vec![arn.to_owned()])];
        filters.extend(self.filters.iter().cloned());
        let mut params = Vec::new();
        for (i, (name, values)) in filters.iter().enumerate() {
            params.push((format!("Filters.Filter.{}.Name", i + 1), name.clone()));
            for (j, v) in values.iter().enumerate() {
                params.push((
                    format!("Filters.Filter.{}.Values.Value.{}", i + 1, j + 1),
                    v.clone(),
                ));
            }
        }
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut p = params.clone();
            if let Some(m) = &marker {
                p.push(("Marker".to_owned(), m.clone()));
            }
            p.push(("MaxRecords".to_owned(), "100".to_owned()));
            let body = self.call("DescribeDBInstances", p).await.map_err(|e| {
                format!("failed to describe DB instances for cluster ARN {arn}: {e}")
            })?;
            let doc = roxmltree::Document::parse(&body).map_err(|e| {
                format!("failed to describe DB instances for cluster ARN {arn}: {e}")
            })?;
            let result = doc
                .root_element()
                .children()
                .find(|c| c.has_tag_name("DescribeDBInstancesResult"))
                .unwrap_or(doc.root_element());
            out.extend(
                members(result, "DBInstances")
                    .into_iter()
                    .map(parse_instance),
            );
            marker = text(result, "Marker").filter(|m| !m.is_empty());
            if marker.is_none() {
                return Ok(out);
            }
        }
    }

    /// The clusters to look at, by ARN (or by the configured identifier).
    async fn clusters(&self) -> Result<BTreeMap<String, Cluster>, String> {
        if self.clusters.is_empty() {
            let all = self.describe_clusters(&[]).await.map_err(|e| {
                format!("error describing all DB clusters: failed to describe DB clusters: {e}")
            })?;
            return Ok(all.into_iter().map(|c| (c.arn.clone(), c)).collect());
        }
        let described = bounded(self.concurrency, self.clusters.clone(), |id| async move {
            let found = self
                .describe_clusters(&[("DBClusterIdentifier".to_owned(), id.clone())])
                .await
                .map_err(|e| format!("failed to describe DB cluster {id}: {e}"))?;
            match found.into_iter().last() {
                Some(c) => Ok((id, c)),
                None => Err(format!("no DB cluster found for ARN {id}")),
            }
        })
        .await;
        described
            .into_iter()
            .collect::<Result<_, String>>()
            .map_err(|e| format!("error describing DB clusters: {e}"))
    }

    /// One refresh (Go's `refresh`): the region's group.
    ///
    /// # Errors
    /// The credential check, or describing the clusters or their instances.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let region = &self.clients.get().await?.region;
        self.checked
            .once("RDS", || self.call("DescribeDBClusters", Vec::new()))
            .await?;
        let clusters = self.clusters().await?;
        let arns: Vec<String> = clusters.values().map(|c| c.arn.clone()).collect();
        let instances = bounded(self.concurrency, arns, |arn| async move {
            self.describe_instances(&arn).await
        })
        .await;
        let mut targets = Vec::new();
        for (cluster, instances) in clusters.values().zip(instances) {
            let instances = instances.map_err(|e| format!("error describing DB instances: {e}"))?;
            for i in instances {
                let mut labels = cluster.labels.clone();
                labels.extend(i.labels);
                if let Some(w) = i.identifier.as_ref().and_then(|id| cluster.writers.get(id)) {
                    labels.insert(format!("{INSTANCE}is_cluster_writer"), w.to_string());
                }
                if let Some(a) = &i.address {
                    labels.insert("__address__".to_owned(), join_host_port(a, self.port));
                }
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
pub(crate) mod tests;
