//! Amazon ECS service discovery (the `ecs` role of `aws_sd_configs`), as Prometheus's
//! `discovery/aws/ecs.go`: every `refresh_interval` the region's clusters (`clusters`, or all
//! of `ListClusters`), their services and the services' tasks through the ECS JSON 1.1 API,
//! and for tasks on EC2 their container instances and instances (and for awsvpc tasks
//! their network interfaces' public IPs) through the EC2 query API, all signed with SigV4;
//! one group (source: the region) with a target `<task IP>:<port>` per task with an
//! address, labelled `__meta_ecs_*`.
//!
//! Requests run one after the other (upstream's `request_concurrency` is not an option
//! here). The first refresh checks the credentials with an empty `DescribeClusters`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use config::discovery::AwsSdConfig;
use model::{Labels, TargetGroup};
use roxmltree::Node;

use crate::api;
use crate::ec2::{default_endpoint, region, signing_client};
use crate::util::{join_host_port, sanitize};

const PREFIX: &str = "__meta_ecs_";
const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Listed {
    cluster_arns: Vec<String>,
    service_arns: Vec<String>,
    task_arns: Vec<String>,
    next_token: Option<String>,
}

#[derive(serde::Deserialize, Default, Clone)]
#[serde(default, rename_all = "camelCase")]
struct Cluster {
    cluster_arn: Option<String>,
    cluster_name: Option<String>,
    tags: Vec<Tag>,
}

#[derive(serde::Deserialize, Default, Clone)]
#[serde(default)]
struct Tag {
    key: Option<String>,
    value: Option<String>,
}

#[derive(serde::Deserialize, Default, Clone)]
#[serde(default, rename_all = "camelCase")]
struct Service {
    service_arn: String,
    service_name: String,
    cluster_arn: String,
    status: String,
    tags: Vec<Tag>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Task {
    task_arn: String,
    group: String,
    task_definition_arn: String,
    launch_type: String,
    availability_zone: String,
    desired_status: String,
    last_status: String,
    health_status: String,
    platform_family: Option<String>,
    platform_version: Option<String>,
    container_instance_arn: Option<String>,
    attachments: Vec<Attachment>,
    tags: Vec<Tag>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Attachment {
    #[serde(rename = "type")]
    kind: Option<String>,
    details: Vec<Detail>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Detail {
    name: Option<String>,
    value: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Described {
    clusters: Vec<Cluster>,
    services: Vec<Service>,
    tasks: Vec<Task>,
    container_instances: Vec<ContainerInstance>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ContainerInstance {
    container_instance_arn: Option<String>,
    ec2_instance_id: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ApiError {
    #[serde(rename = "__type")]
    kind: String,
    message: Option<String>,
    #[serde(rename = "Message")]
    message_upper: Option<String>,
}

/// What EC2 tells about a container instance's host.
#[derive(Debug, Clone, Default)]
struct Instance {
    private_ip: String,
    public_ip: String,
    subnet_id: String,
    instance_type: String,
    tags: BTreeMap<String, String>,
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn text(n: Node<'_, '_>, name: &str) -> Option<String> {
    child(n, name).map(|c| c.text().unwrap_or_default().to_owned())
}

fn items<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Vec<Node<'a, 'i>> {
    child(n, name)
        .map(|s| {
            s.children()
                .filter(|c| c.is_element() && c.tag_name().name() == "item")
                .collect()
        })
        .unwrap_or_default()
}

/// The ENI attachment of a task (awsvpc networking).
fn eni(task: &Task) -> Option<&Attachment> {
    task.attachments
        .iter()
        .find(|a| a.kind.as_deref() == Some("ElasticNetworkInterface"))
}

fn detail<'a>(a: &'a Attachment, name: &str) -> Option<&'a str> {
    a.details
        .iter()
        .find(|d| d.name.as_deref() == Some(name))
        .and_then(|d| d.value.as_deref())
}

/// One ECS provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    ecs: httpclient::HttpClient,
    ec2: httpclient::HttpClient,
    region: String,
    endpoint: String,
    /// The EC2 endpoint (upstream always asks the region's public one; tests point it at a
    /// fake).
    pub(crate) ec2_endpoint: String,
    clusters: Vec<String>,
    port: u16,
    timeout: Duration,
    checked: tokio::sync::OnceCell<()>,
}

impl Discovery {
    /// A provider for `cfg`.
    ///
    /// # Errors
    /// No region, no credentials, or unusable HTTP client options.
    pub(crate) fn new(cfg: &AwsSdConfig) -> Result<Discovery, String> {
        let region = region(cfg, "ECS")?;
        Ok(Discovery {
            ecs: signing_client(cfg, &region, "ecs")?,
            ec2: signing_client(cfg, &region, "ec2")?,
            endpoint: if cfg.endpoint.is_empty() {
                default_endpoint("ecs", &region)
            } else {
                cfg.endpoint.clone()
            },
            ec2_endpoint: default_endpoint("ec2", &region),
            region,
            clusters: cfg.clusters.clone(),
            port: cfg.port,
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
            checked: tokio::sync::OnceCell::new(),
        })
    }

    /// One ECS JSON 1.1 call.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        op: &str,
        body: serde_json::Value,
    ) -> Result<T, String> {
        let url = format!("{}/", self.endpoint.trim_end_matches('/'));
        let target = format!("{TARGET_PREFIX}{op}");
        let a = api::send(
            &self.ecs,
            http::Method::POST,
            &url,
            &[
                ("Content-Type", "application/x-amz-json-1.1"),
                ("X-Amz-Target", &target),
                ("User-Agent", httpclient::USER_AGENT),
            ],
            Bytes::from(body.to_string()),
            self.timeout,
        )
        .await
        .map_err(|e| format!("operation error ECS: {op}, {e}"))?;
        if !a.status.is_success() {
            let err: ApiError = serde_json::from_slice(&a.body).unwrap_or_default();
            return Err(format!(
                "operation error ECS: {op}, https response error StatusCode: {}, RequestID: {}, api error {}: {}",
                a.status.as_u16(),
                a.header("x-amzn-requestid"),
                err.kind.rsplit('#').next().unwrap_or_default(),
                err.message.or(err.message_upper).unwrap_or_default()
            ));
        }
        serde_json::from_slice(&a.body)
            .map_err(|e| format!("operation error ECS: {op}, decoding the answer: {e}"))
    }

    /// One EC2 query call, its XML answer.
    async fn ec2_call(
        &self,
        action: &str,
        params: Vec<(String, String)>,
    ) -> Result<String, String> {
        crate::ec2::query(&self.ec2, &self.ec2_endpoint, action, params, self.timeout).await
    }

    /// Every page of a `List*` call.
    async fn list(
        &self,
        op: &str,
        mut body: serde_json::Map<String, serde_json::Value>,
        pick: fn(Listed) -> (Vec<String>, Option<String>),
    ) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        loop {
            let (arns, next) = pick(self.call(op, body.clone().into()).await?);
            out.extend(arns);
            match next {
                Some(t) => {
                    body.insert("nextToken".into(), t.into());
                }
                None => return Ok(out),
            }
        }
    }

    async fn instances(&self, ids: &[String]) -> Result<HashMap<String, Instance>, String> {
        let params = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (format!("InstanceId.{}", i + 1), id.clone()))
            .collect();
        let body = self
            .ec2_call("DescribeInstances", params)
            .await
            .map_err(|e| format!("could not describe EC2 instances: {e}"))?;
        let doc = roxmltree::Document::parse(&body)
            .map_err(|e| format!("could not describe EC2 instances: {e}"))?;
        let mut out = HashMap::new();
        for r in items(doc.root_element(), "reservationSet") {
            for inst in items(r, "instancesSet") {
                let (Some(id), Some(private_ip)) =
                    (text(inst, "instanceId"), text(inst, "privateIpAddress"))
                else {
                    continue;
                };
                let tags = items(inst, "tagSet")
                    .into_iter()
                    .filter_map(|t| Some((text(t, "key")?, text(t, "value")?)))
                    .collect();
                out.insert(
                    id,
                    Instance {
                        private_ip,
                        public_ip: text(inst, "ipAddress").unwrap_or_default(),
                        subnet_id: text(inst, "subnetId").unwrap_or_default(),
                        instance_type: text(inst, "instanceType").unwrap_or_default(),
                        tags,
                    },
                );
            }
        }
        Ok(out)
    }

    async fn eni_public_ips(&self, ids: &[String]) -> Result<HashMap<String, String>, String> {
        let params = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (format!("NetworkInterfaceId.{}", i + 1), id.clone()))
            .collect();
        let body = self
            .ec2_call("DescribeNetworkInterfaces", params)
            .await
            .map_err(|e| format!("could not describe network interfaces: {e}"))?;
        let doc = roxmltree::Document::parse(&body)
            .map_err(|e| format!("could not describe network interfaces: {e}"))?;
        Ok(items(doc.root_element(), "networkInterfaceSet")
            .into_iter()
            .filter_map(|n| {
                let ip = child(n, "association").and_then(|a| text(a, "publicIp"))?;
                Some((text(n, "networkInterfaceId")?, ip))
            })
            .collect())
    }

    /// One refresh (Go's `refresh`): the region's group.
    ///
    /// # Errors
    /// The credential check, or listing or describing the clusters or their services; a
    /// cluster whose tasks cannot be read is logged and left out, as upstream.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        self.checked
            .get_or_try_init(|| async {
                self.call::<serde_json::Value>("DescribeClusters", serde_json::json!({}))
                    .await
                    .map(drop)
                    .map_err(|e| format!("ECS credential test failed: {e}"))
            })
            .await?;
        let clusters = if self.clusters.is_empty() {
            self.list("ListClusters", serde_json::Map::new(), |l| {
                (l.cluster_arns, l.next_token)
            })
            .await
            .map_err(|e| format!("could not list clusters: {e}"))?
        } else {
            self.clusters.clone()
        };
        let group = |targets| {
            vec![TargetGroup {
                targets,
                labels: Labels::empty(),
                source: self.region.clone(),
            }]
        };
        if clusters.is_empty() {
            return Ok(group(Vec::new()));
        }
        let mut by_arn: HashMap<String, Cluster> = HashMap::new();
        for batch in clusters.chunks(100) {
            let d: Described = self
                .call(
                    "DescribeClusters",
                    serde_json::json!({"clusters": batch, "include": ["TAGS"]}),
                )
                .await
                .map_err(|e| format!("could not describe clusters {batch:?}: {e}"))?;
            for c in d.clusters {
                if let Some(arn) = c.cluster_arn.clone() {
                    by_arn.insert(arn, c);
                }
            }
        }
        let mut services: Vec<(String, Vec<Service>)> = Vec::new();
        for cluster in &clusters {
            let mut body = serde_json::Map::new();
            body.insert("cluster".into(), cluster.clone().into());
            let arns = self
                .list("ListServices", body, |l| (l.service_arns, l.next_token))
                .await
                .map_err(|e| format!("could not list services for cluster {cluster:?}: {e}"))?;
            let mut described = Vec::new();
            for batch in arns.chunks(10) {
                let d: Described = self
                    .call(
                        "DescribeServices",
                        serde_json::json!({"cluster": cluster, "services": batch, "include": ["TAGS"]}),
                    )
                    .await
                    .map_err(|e| {
                        format!("could not describe services for cluster {cluster:?}: {e}")
                    })?;
                described.extend(d.services);
            }
            services.push((cluster.clone(), described));
        }
        let mut targets = Vec::new();
        for (cluster, services) in &services {
            if services.is_empty() {
                continue;
            }
            match self.cluster_tasks(cluster, services).await {
                Ok(tasks) => {
                    for (service, tasks) in services.iter().zip(tasks) {
                        self.service_targets(cluster, &by_arn, service, &tasks, &mut targets)
                            .await;
                    }
                }
                Err(e) => {
                    tracing::error!(cluster = %cluster, err = %e, "Failed to list or describe tasks for cluster");
                }
            }
        }
        Ok(group(targets))
    }

    /// The tasks of each of `services`, in their order.
    async fn cluster_tasks(
        &self,
        cluster: &str,
        services: &[Service],
    ) -> Result<Vec<Vec<Task>>, String> {
        let mut out = Vec::new();
        for s in services {
            let mut body = serde_json::Map::new();
            body.insert("cluster".into(), s.cluster_arn.clone().into());
            body.insert("serviceName".into(), s.service_name.clone().into());
            let arns = self
                .list("ListTasks", body, |l| (l.task_arns, l.next_token))
                .await
                .map_err(|e| {
                    format!("could not list tasks for service {:?}: {e}", s.service_arn)
                })?;
            let mut tasks = Vec::new();
            for batch in arns.chunks(100) {
                let d: Described = self
                    .call(
                        "DescribeTasks",
                        serde_json::json!({"cluster": cluster, "tasks": batch, "include": ["TAGS"]}),
                    )
                    .await
                    .map_err(|e| {
                        format!(
                            "could not describe tasks for service {:?} in cluster {cluster:?}: {e}",
                            s.service_arn
                        )
                    })?;
                tasks.extend(d.tasks);
            }
            out.push(tasks);
        }
        Ok(out)
    }

    /// The targets of one service's tasks.
    async fn service_targets(
        &self,
        cluster: &str,
        clusters: &HashMap<String, Cluster>,
        service: &Service,
        tasks: &[Task],
        out: &mut Vec<Labels>,
    ) {
        let container_arns: Vec<String> = tasks
            .iter()
            .filter_map(|t| t.container_instance_arn.clone())
            .collect();
        let eni_ids: Vec<String> = tasks
            .iter()
            .filter_map(|t| eni(t).and_then(|a| detail(a, "networkInterfaceId")))
            .map(str::to_owned)
            .collect();
        let mut to_ec2: HashMap<String, String> = HashMap::new();
        let mut hosts: HashMap<String, Instance> = HashMap::new();
        if !container_arns.is_empty() {
            match self.container_instances(cluster, &container_arns).await {
                Ok(m) => {
                    to_ec2 = m;
                    let mut ids: Vec<String> = to_ec2.values().cloned().collect();
                    ids.sort();
                    ids.dedup();
                    match self.instances(&ids).await {
                        Ok(h) => hosts = h,
                        Err(e) => {
                            tracing::error!(cluster, err = %e, "Failed to describe EC2 instances");
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(cluster, err = %e, "Failed to describe container instances");
                }
            }
        }
        let mut eni_ips: HashMap<String, String> = HashMap::new();
        if !eni_ids.is_empty() {
            match self.eni_public_ips(&eni_ids).await {
                Ok(m) => eni_ips = m,
                Err(e) => {
                    tracing::error!(cluster, err = %e, "Failed to describe network interfaces");
                }
            }
        }
        for task in tasks {
            let ec2_id = task
                .container_instance_arn
                .as_ref()
                .and_then(|c| to_ec2.get(c))
                .cloned()
                .unwrap_or_default();
            let host = hosts.get(&ec2_id);
            let (mut ip, mut subnet, mut public) = (String::new(), String::new(), String::new());
            let network_mode;
            if let Some(a) = eni(task) {
                network_mode = "awsvpc";
                ip = detail(a, "privateIPv4Address")
                    .unwrap_or_default()
                    .to_owned();
                subnet = detail(a, "subnetId").unwrap_or_default().to_owned();
                if let Some(p) = detail(a, "networkInterfaceId").and_then(|id| eni_ips.get(id)) {
                    public.clone_from(p);
                }
            } else if task.container_instance_arn.is_some() {
                network_mode = "bridge";
                if let Some(h) = host {
                    ip.clone_from(&h.private_ip);
                    public.clone_from(&h.public_ip);
                    subnet.clone_from(&h.subnet_id);
                }
            } else {
                network_mode = "";
            }
            if ip.is_empty() {
                continue;
            }
            let mut set: BTreeMap<String, String> = BTreeMap::new();
            let mut put = |k: &str, v: &str| {
                set.insert(format!("{PREFIX}{k}"), v.to_owned());
            };
            put("cluster_arn", &service.cluster_arn);
            put("service", &service.service_name);
            put("service_arn", &service.service_arn);
            put("service_status", &service.status);
            put("task_group", &task.group);
            put("task_arn", &task.task_arn);
            put("task_definition", &task.task_definition_arn);
            put("ip_address", &ip);
            put("region", &self.region);
            put("launch_type", &task.launch_type);
            put("availability_zone", &task.availability_zone);
            put("desired_status", &task.desired_status);
            put("last_status", &task.last_status);
            put("health_status", &task.health_status);
            put("network_mode", network_mode);
            if !subnet.is_empty() {
                put("subnet_id", &subnet);
            }
            if let Some(c) = &task.container_instance_arn {
                put("container_instance_arn", c);
            }
            if !ec2_id.is_empty() {
                put("ec2_instance_id", &ec2_id);
            }
            if let Some(h) = host {
                if !h.instance_type.is_empty() {
                    put("ec2_instance_type", &h.instance_type);
                }
                put("ec2_instance_private_ip", &h.private_ip);
                if !h.public_ip.is_empty() {
                    put("ec2_instance_public_ip", &h.public_ip);
                }
            }
            if !public.is_empty() {
                put("public_ip", &public);
            }
            if let Some(v) = &task.platform_family {
                put("platform_family", v);
            }
            if let Some(v) = &task.platform_version {
                put("platform_version", v);
            }
            if let Some(c) = clusters.get(&service.cluster_arn) {
                if let Some(name) = &c.cluster_name {
                    put("cluster", name);
                }
                for t in &c.tags {
                    if let (Some(k), Some(v)) = (&t.key, &t.value) {
                        put(&format!("tag_cluster_{}", sanitize(k)), v);
                    }
                }
            }
            for (kind, tags) in [("service", &service.tags), ("task", &task.tags)] {
                for t in tags {
                    if let (Some(k), Some(v)) = (&t.key, &t.value) {
                        put(&format!("tag_{kind}_{}", sanitize(k)), v);
                    }
                }
            }
            if let Some(h) = host {
                for (k, v) in &h.tags {
                    put(&format!("tag_ec2_{}", sanitize(k)), v);
                }
            }
            set.insert("__address__".to_owned(), join_host_port(&ip, self.port));
            out.push(Labels::from_pairs(set));
        }
    }

    /// Container instance ARN to EC2 instance id.
    async fn container_instances(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> Result<HashMap<String, String>, String> {
        let mut out = HashMap::new();
        for batch in arns.chunks(100) {
            let d: Described = self
                .call(
                    "DescribeContainerInstances",
                    serde_json::json!({"cluster": cluster, "containerInstances": batch}),
                )
                .await
                .map_err(|e| format!("could not describe container instances: {e}"))?;
            for ci in d.container_instances {
                if let (Some(arn), Some(id)) = (ci.container_instance_arn, ci.ec2_instance_id) {
                    out.insert(arn, id);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
