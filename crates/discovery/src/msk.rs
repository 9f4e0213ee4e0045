//! Amazon MSK service discovery (the `msk` role of `aws_sd_configs`), as Prometheus's
//! `discovery/aws/msk.go`: every `refresh_interval` the region's provisioned Kafka clusters
//! (`clusters`, or all of `ListClustersV2`) and their nodes (`ListNodes`) through the Kafka
//! REST JSON API signed with SigV4 (service `kafka`); one group (source: the region) with a
//! target `<endpoint>:<port>` per broker or controller endpoint, labelled `__meta_msk_*`.
//!
//! Configured clusters are described, and every cluster's nodes listed, at most
//! `request_concurrency` (default 10) at once. The first refresh checks the credentials
//! with a `ListClustersV2`.

use std::collections::BTreeMap;
use std::time::Duration;

use config::discovery::AwsSdConfig;
use model::{Labels, TargetGroup};

use crate::aws::{CredentialCheck, LazyClients, bounded, rest_json_get};
use crate::util::{join_host_port, sanitize};

const PREFIX: &str = "__meta_msk_";

#[derive(serde::Deserialize, Default, Clone)]
#[serde(default, rename_all = "camelCase")]
struct Cluster {
    cluster_arn: Option<String>,
    cluster_name: Option<String>,
    cluster_type: String,
    state: String,
    current_version: Option<String>,
    tags: BTreeMap<String, String>,
    provisioned: Provisioned,
}

#[derive(serde::Deserialize, Default, Clone)]
#[serde(default, rename_all = "camelCase")]
struct Provisioned {
    current_broker_software_info: SoftwareInfo,
    open_monitoring: Option<OpenMonitoring>,
}

#[derive(serde::Deserialize, Default, Clone)]
#[serde(default, rename_all = "camelCase")]
struct SoftwareInfo {
    kafka_version: Option<String>,
    configuration_arn: Option<String>,
    configuration_revision: Option<i64>,
}

#[derive(serde::Deserialize, Default, Clone)]
#[serde(default)]
struct OpenMonitoring {
    prometheus: Option<PrometheusInfo>,
}

#[derive(serde::Deserialize, Default, Clone)]
#[serde(default, rename_all = "camelCase")]
struct PrometheusInfo {
    jmx_exporter: Option<Exporter>,
    node_exporter: Option<Exporter>,
}

#[derive(serde::Deserialize, Default, Clone)]
#[serde(default, rename_all = "camelCase")]
struct Exporter {
    enabled_in_broker: Option<bool>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ClusterList {
    cluster_info_list: Vec<Cluster>,
    next_token: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct DescribedCluster {
    cluster_info: Option<Cluster>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct NodeList {
    node_info_list: Vec<Node>,
    next_token: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Node {
    #[serde(rename = "nodeARN")]
    node_arn: Option<String>,
    added_to_cluster_time: Option<String>,
    instance_type: Option<String>,
    broker_node_info: Option<BrokerInfo>,
    controller_node_info: Option<ControllerInfo>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct BrokerInfo {
    #[serde(rename = "attachedENIId")]
    attached_eni_id: Option<String>,
    broker_id: Option<f64>,
    client_subnet: Option<String>,
    client_vpc_ip_address: Option<String>,
    endpoints: Vec<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ControllerInfo {
    endpoints: Vec<String>,
}

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

/// One MSK provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    /// Region, API endpoint and signing client, made at the first refresh.
    clients: LazyClients,
    clusters: Vec<String>,
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
            clients: LazyClients::new(cfg, "MSK", &["kafka"]),
            clusters: cfg.clusters.clone(),
            port: cfg.port,
            concurrency: cfg.request_concurrency_or(10),
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
            checked: CredentialCheck::default(),
        })
    }

    /// One GET of the Kafka API.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        op: &str,
        path: &str,
        query: &[(String, String)],
    ) -> Result<T, String> {
        let clients = self.clients.get().await?;
        rest_json_get(clients, "Kafka", op, path, query, self.timeout).await
    }

    async fn list_clusters(&self, token: Option<String>) -> Result<ClusterList, String> {
        let mut q = vec![
            ("clusterTypeFilter".to_owned(), "PROVISIONED".to_owned()),
            ("maxResults".to_owned(), "100".to_owned()),
        ];
        if let Some(t) = token {
            q.push(("nextToken".to_owned(), t));
        }
        self.get("ListClustersV2", "/api/v2/clusters", &q).await
    }

    /// The clusters to look at: the configured ones that are provisioned, or all.
    async fn clusters(&self) -> Result<Vec<Cluster>, String> {
        let mut out = Vec::new();
        if self.clusters.is_empty() {
            let mut token = None;
            loop {
                let page = self
                    .list_clusters(token)
                    .await
                    .map_err(|e| format!("could not list clusters: {e}"))?;
                out.extend(page.cluster_info_list);
                match page.next_token {
                    Some(t) => token = Some(t),
                    None => return Ok(out),
                }
            }
        }
        let described = bounded(self.concurrency, self.clusters.clone(), |arn| async move {
            self.get::<DescribedCluster>(
                "DescribeClusterV2",
                &format!("/api/v2/clusters/{}", path_escape(&arn)),
                &[],
            )
            .await
            .map(|d| (arn.clone(), d))
            .map_err(|e| format!("could not describe cluster {arn}: {e}"))
        })
        .await;
        for d in described {
            let (arn, d) = d?;
            match d.cluster_info {
                Some(c) if c.cluster_type == "PROVISIONED" => out.push(c),
                Some(c) => {
                    tracing::warn!(cluster = %arn, r#type = %c.cluster_type, "Skipping non-provisioned MSK cluster, only provisioned clusters are supported");
                }
                None => {}
            }
        }
        Ok(out)
    }

    /// One refresh (Go's `refresh`): the region's group.
    ///
    /// # Errors
    /// The credential check, or listing or describing clusters or nodes.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let region = &self.clients.get().await?.region;
        self.checked
            .once("MSK", || self.list_clusters(None))
            .await?;
        let clusters = self.clusters().await?;
        let arns: Vec<String> = clusters
            .iter()
            .map(|c| c.cluster_arn.clone().unwrap_or_default())
            .collect();
        let nodes = bounded(self.concurrency, arns, |arn| async move {
            self.list_nodes(&arn).await
        })
        .await;
        let mut targets = Vec::new();
        for (c, nodes) in clusters.iter().zip(nodes) {
            for n in &nodes? {
                self.node_targets(c, n, &mut targets);
            }
        }
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: region.clone(),
        }])
    }

    /// Every page of the nodes of the cluster `arn`.
    async fn list_nodes(&self, arn: &str) -> Result<Vec<Node>, String> {
        let mut nodes = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = vec![("maxResults".to_owned(), "100".to_owned())];
            if let Some(t) = &token {
                q.push(("nextToken".to_owned(), t.clone()));
            }
            let page: NodeList = self
                .get(
                    "ListNodes",
                    &format!("/v1/clusters/{}/nodes", path_escape(arn)),
                    &q,
                )
                .await
                .map_err(|e| format!("could not list nodes for cluster {arn}: {e}"))?;
            nodes.extend(page.node_info_list);
            match page.next_token {
                Some(t) => token = Some(t),
                None => return Ok(nodes),
            }
        }
    }

    /// A target per endpoint of one node.
    fn node_targets(&self, c: &Cluster, n: &Node, out: &mut Vec<Labels>) {
        let mut set: BTreeMap<String, String> = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            set.insert(format!("{PREFIX}{k}"), v.to_owned());
        };
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        let sw = &c.provisioned.current_broker_software_info;
        put("cluster_name", &s(&c.cluster_name));
        put("cluster_arn", &s(&c.cluster_arn));
        put("cluster_state", &c.state);
        put("cluster_type", &c.cluster_type);
        put("cluster_version", &s(&c.current_version));
        put("node_arn", &s(&n.node_arn));
        put("node_added_time", &s(&n.added_to_cluster_time));
        put("node_instance_type", &s(&n.instance_type));
        put("cluster_kafka_version", &s(&sw.kafka_version));
        if let Some(v) = &sw.configuration_arn {
            put("cluster_configuration_arn", v);
        }
        if let Some(v) = sw.configuration_revision {
            put("cluster_configuration_revision", &v.to_string());
        }
        let prom = c
            .provisioned
            .open_monitoring
            .as_ref()
            .and_then(|m| m.prometheus.as_ref());
        if let Some(j) = prom.and_then(|p| p.jmx_exporter.as_ref()) {
            put(
                "cluster_jmx_exporter_enabled",
                &j.enabled_in_broker.unwrap_or_default().to_string(),
            );
        }
        for (k, v) in &c.tags {
            put(&format!("cluster_tag_{}", sanitize(k)), v);
        }
        let (endpoints, index_label) = if let Some(b) = &n.broker_node_info {
            put("node_type", "BROKER");
            put("node_attached_eni", &s(&b.attached_eni_id));
            put(
                "broker_id",
                &format!("{:.0}", b.broker_id.unwrap_or_default()),
            );
            put("broker_client_subnet", &s(&b.client_subnet));
            put("broker_client_vpc_ip", &s(&b.client_vpc_ip_address));
            if let Some(e) = prom.and_then(|p| p.node_exporter.as_ref()) {
                put(
                    "broker_node_exporter_enabled",
                    &e.enabled_in_broker.unwrap_or_default().to_string(),
                );
            }
            (&b.endpoints, "broker_endpoint_index")
        } else if let Some(ctl) = &n.controller_node_info {
            put("node_type", "CONTROLLER");
            (&ctl.endpoints, "controller_endpoint_index")
        } else {
            return;
        };
        for (i, endpoint) in endpoints.iter().enumerate() {
            let mut labels = set.clone();
            labels.insert(format!("{PREFIX}{index_label}"), i.to_string());
            labels.insert(
                "__address__".to_owned(),
                join_host_port(endpoint, self.port),
            );
            out.push(Labels::from_pairs(labels));
        }
    }
}

#[cfg(test)]
mod tests;
