//! Amazon ECS service discovery (the `ecs` role of `aws_sd_configs` and `ecs_sd_configs`),
//! as Prometheus's `discovery/aws/ecs.go`: every `refresh_interval` the region's clusters
//! (`clusters`, or all of `ListClusters`), described, with their services and tasks listed
//! per cluster (`ListServices`, `ListTasks`; 100 a page) over the ECS JSON 1.1 API; then per
//! cluster with tasks its services (10 at a time) and tasks (100 at a time) described, and
//! for tasks on EC2 their container instances and hosts, and for awsvpc tasks their network
//! interfaces' public IPs, through the EC2 query API, all signed with SigV4, at most
//! `request_concurrency` (default 20) requests of a kind at once. One group (source: the
//! region) with a target `<task IP>:<port>` per task with an address, labelled
//! `__meta_ecs_*`; standalone tasks (group `family:...`) have no service labels.
//!
//! The first refresh checks the credentials with an empty `DescribeClusters`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use config::discovery::AwsSdConfig;
use model::{Labels, TargetGroup};
use roxmltree::Node;

use crate::api;
use crate::aws::{CredentialCheck, LazyClients, bounded};
use crate::ec2::default_endpoint;
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

/// Whether a task was started on its own, not by a service (its group is `family:...`).
fn is_standalone(task: &Task) -> bool {
    task.group.starts_with("family:")
}

/// The service name of a service task's group (`service:<name>`).
fn service_name(task: &Task) -> &str {
    task.group.split(':').nth(1).unwrap_or_default()
}

/// Everything collected for one cluster's tasks.
struct ClusterData {
    services: HashMap<String, Service>,
    tasks: Vec<Task>,
    to_ec2: HashMap<String, String>,
    eni_ips: HashMap<String, String>,
    hosts: HashMap<String, Instance>,
}

/// One ECS provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    /// Region, ECS endpoint and the clients signing for ECS and for EC2 (one identity:
    /// one credentials fetch, one `role_arn` assumption), made at the first refresh.
    clients: LazyClients,
    /// The EC2 endpoint; empty for the region's public one, which upstream always asks
    /// (tests point it at a fake).
    pub(crate) ec2_endpoint: String,
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
            clients: LazyClients::new(cfg, "ECS", &["ecs", "ec2"]),
            ec2_endpoint: String::new(),
            clusters: cfg.clusters.clone(),
            port: cfg.port,
            concurrency: cfg.request_concurrency_or(20),
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
            checked: CredentialCheck::default(),
        })
    }

    /// One ECS JSON 1.1 call.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        op: &str,
        body: serde_json::Value,
    ) -> Result<T, String> {
        let clients = self.clients.get().await?;
        let url = format!("{}/", clients.endpoint.trim_end_matches('/'));
        let target = format!("{TARGET_PREFIX}{op}");
        let a = api::send(
            clients.nth(0),
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
        let clients = self.clients.get().await?;
        let endpoint = if self.ec2_endpoint.is_empty() {
            default_endpoint("ec2", &clients.region)
        } else {
            self.ec2_endpoint.clone()
        };
        crate::ec2::query(clients.nth(1), &endpoint, action, params, self.timeout).await
    }

    /// Every page of a `List*` call (100 a page).
    async fn list(
        &self,
        op: &str,
        mut body: serde_json::Map<String, serde_json::Value>,
        pick: fn(Listed) -> (Vec<String>, Option<String>),
    ) -> Result<Vec<String>, String> {
        body.insert("maxResults".into(), 100.into());
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

    /// `List*` of every cluster in `clusters` with the cluster as parameter, at most
    /// `request_concurrency` at once; `what` names the listed things in errors.
    async fn list_per_cluster(
        &self,
        op: &'static str,
        what: &'static str,
        clusters: &[String],
        pick: fn(Listed) -> (Vec<String>, Option<String>),
    ) -> Result<Vec<Vec<String>>, String> {
        bounded(self.concurrency, clusters.to_vec(), |cluster| async move {
            let mut body = serde_json::Map::new();
            body.insert("cluster".into(), cluster.clone().into());
            self.list(op, body, pick)
                .await
                .map_err(|e| format!("could not list {what} for cluster {cluster:?}: {e}"))
        })
        .await
        .into_iter()
        .collect()
    }

    /// Cluster ARN to cluster, described 100 at a time.
    async fn describe_clusters(
        &self,
        clusters: &[String],
    ) -> Result<HashMap<String, Cluster>, String> {
        let batches: Vec<Vec<String>> = clusters.chunks(100).map(<[String]>::to_vec).collect();
        let described = bounded(self.concurrency, batches, |batch| async move {
            self.call::<Described>(
                "DescribeClusters",
                serde_json::json!({"clusters": batch, "include": ["TAGS"]}),
            )
            .await
            .map_err(|e| {
                tracing::error!(clusters = ?batch, err = %e, "Failed to describe clusters");
                format!("could not describe clusters {batch:?}: {e}")
            })
        })
        .await;
        let mut out = HashMap::new();
        for d in described {
            for c in d?.clusters {
                if let Some(arn) = c.cluster_arn.clone() {
                    out.insert(arn, c);
                }
            }
        }
        Ok(out)
    }

    /// Service name to service, described 10 at a time.
    async fn describe_services(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> Result<HashMap<String, Service>, String> {
        let batches: Vec<Vec<String>> = arns.chunks(10).map(<[String]>::to_vec).collect();
        let described = bounded(self.concurrency, batches, |batch| async move {
            self.call::<Described>(
                "DescribeServices",
                serde_json::json!({"cluster": cluster, "services": batch, "include": ["TAGS"]}),
            )
            .await
            .map_err(|e| {
                format!("could not describe services for cluster {cluster:?}: batch {batch:?}: {e}")
            })
        })
        .await;
        let mut out = HashMap::new();
        for d in described {
            for s in d?.services {
                out.insert(s.service_name.clone(), s);
            }
        }
        Ok(out)
    }

    /// The tasks, described 100 at a time.
    async fn describe_tasks(&self, cluster: &str, arns: &[String]) -> Result<Vec<Task>, String> {
        let batches: Vec<Vec<String>> = arns.chunks(100).map(<[String]>::to_vec).collect();
        let described = bounded(self.concurrency, batches, |batch| async move {
            self.call::<Described>(
                "DescribeTasks",
                serde_json::json!({"cluster": cluster, "tasks": batch, "include": ["TAGS"]}),
            )
            .await
            .map_err(|e| {
                format!("could not describe tasks in cluster {cluster:?}: batch {batch:?}: {e}")
            })
        })
        .await;
        let mut out = Vec::new();
        for d in described {
            out.extend(d?.tasks);
        }
        Ok(out)
    }

    /// Container instance ARN to EC2 instance id, described 100 at a time.
    async fn container_instances(
        &self,
        cluster: &str,
        tasks: &[Task],
    ) -> Result<HashMap<String, String>, String> {
        let arns: Vec<String> = tasks
            .iter()
            .filter_map(|t| t.container_instance_arn.clone())
            .collect();
        let batches: Vec<Vec<String>> = arns.chunks(100).map(<[String]>::to_vec).collect();
        let described = bounded(self.concurrency, batches, |batch| async move {
            self.call::<Described>(
                "DescribeContainerInstances",
                serde_json::json!({"cluster": cluster, "containerInstances": batch}),
            )
            .await
            .map_err(|e| format!("could not describe container instances: {e}"))
        })
        .await;
        let mut out = HashMap::new();
        for d in described {
            for ci in d?.container_instances {
                if let (Some(arn), Some(id)) = (ci.container_instance_arn, ci.ec2_instance_id) {
                    out.insert(arn, id);
                }
            }
        }
        Ok(out)
    }

    /// Every page of an EC2 `action` over `ids` (`<param>.N`), each answer's XML handed to
    /// `read`.
    async fn ec2_pages(
        &self,
        action: &str,
        param: &str,
        ids: &[String],
        mut read: impl FnMut(Node<'_, '_>),
    ) -> Result<(), String> {
        let mut token = String::new();
        loop {
            let mut params: Vec<(String, String)> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| (format!("{param}.{}", i + 1), id.clone()))
                .collect();
            if !token.is_empty() {
                params.push(("NextToken".to_owned(), token.clone()));
            }
            let body = self.ec2_call(action, params).await?;
            let doc = roxmltree::Document::parse(&body).map_err(|e| e.to_string())?;
            read(doc.root_element());
            token = text(doc.root_element(), "nextToken").unwrap_or_default();
            if token.is_empty() {
                return Ok(());
            }
        }
    }

    async fn instances(&self, ids: &[String]) -> Result<HashMap<String, Instance>, String> {
        let mut out = HashMap::new();
        self.ec2_pages("DescribeInstances", "InstanceId", ids, |root| {
            for r in items(root, "reservationSet") {
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
        })
        .await
        .map_err(|e| format!("could not describe EC2 instances: {e}"))?;
        Ok(out)
    }

    async fn eni_public_ips(&self, tasks: &[Task]) -> Result<HashMap<String, String>, String> {
        let ids: Vec<String> = tasks
            .iter()
            .filter_map(|t| eni(t).and_then(|a| detail(a, "networkInterfaceId")))
            .map(str::to_owned)
            .collect();
        let mut out = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        self.ec2_pages(
            "DescribeNetworkInterfaces",
            "NetworkInterfaceId",
            &ids,
            |root| {
                for n in items(root, "networkInterfaceSet") {
                    let ip = child(n, "association").and_then(|a| text(a, "publicIp"));
                    if let (Some(id), Some(ip)) = (text(n, "networkInterfaceId"), ip) {
                        out.insert(id, ip);
                    }
                }
            },
        )
        .await
        .map_err(|e| format!("could not describe network interfaces: {e}"))?;
        Ok(out)
    }

    /// What one cluster's targets need; `None` (logged) when a step fails, as upstream
    /// drops that cluster.
    async fn cluster_data(
        &self,
        cluster: &str,
        service_arns: &[String],
        task_arns: &[String],
    ) -> Option<ClusterData> {
        let (services, tasks) = tokio::join!(
            self.describe_services(cluster, service_arns),
            self.describe_tasks(cluster, task_arns)
        );
        let services = services
            .inspect_err(
                |e| tracing::error!(cluster, err = %e, "Failed to describe services for cluster"),
            )
            .ok()?;
        let tasks = tasks
            .inspect_err(
                |e| tracing::error!(cluster, err = %e, "Failed to describe tasks for cluster"),
            )
            .ok()?;
        let (to_ec2, eni_ips) = tokio::join!(
            self.container_instances(cluster, &tasks),
            self.eni_public_ips(&tasks)
        );
        let to_ec2 = to_ec2
            .inspect_err(|e| tracing::error!(cluster, err = %e, "Failed to describe container instances for cluster"))
            .ok()?;
        let eni_ips = eni_ips
            .inspect_err(|e| tracing::error!(cluster, err = %e, "Failed to describe network interfaces for cluster"))
            .ok()?;
        let mut hosts = HashMap::new();
        if !to_ec2.is_empty() {
            let mut ids: Vec<String> = to_ec2.values().cloned().collect();
            ids.sort();
            ids.dedup();
            hosts = self
                .instances(&ids)
                .await
                .inspect_err(|e| tracing::error!(cluster, err = %e, "Failed to describe EC2 instances for cluster"))
                .ok()?;
        }
        Some(ClusterData {
            services,
            tasks,
            to_ec2,
            eni_ips,
            hosts,
        })
    }

    /// One refresh (Go's `refresh`): the region's group.
    ///
    /// # Errors
    /// The credential check, or listing the clusters, describing them, or listing their
    /// services or tasks; a cluster whose services, tasks or hosts cannot be described is
    /// logged and left out, as upstream.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let region = &self.clients.get().await?.region;
        self.checked
            .once("ECS", || {
                self.call::<serde_json::Value>("DescribeClusters", serde_json::json!({}))
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
                source: region.clone(),
            }]
        };
        if clusters.is_empty() {
            return Ok(group(Vec::new()));
        }
        let (described, services, tasks) = tokio::join!(
            self.describe_clusters(&clusters),
            self.list_per_cluster("ListServices", "services", &clusters, |l| {
                (l.service_arns, l.next_token)
            }),
            self.list_per_cluster("ListTasks", "tasks", &clusters, |l| (
                l.task_arns,
                l.next_token
            )),
        );
        let (described, services, tasks) = (described?, services?, tasks?);
        let work: Vec<(String, Vec<String>, Vec<String>)> = clusters
            .into_iter()
            .zip(services)
            .zip(tasks)
            .filter(|(_, tasks)| !tasks.is_empty())
            .map(|((c, s), t)| (c, s, t))
            .collect();
        let data =
            futures::future::join_all(work.iter().map(|(c, s, t)| self.cluster_data(c, s, t)))
                .await;
        let mut targets = Vec::new();
        for ((cluster, _, _), data) in work.iter().zip(data) {
            if let Some(data) = data {
                self.cluster_targets(region, cluster, described.get(cluster), &data, &mut targets);
            }
        }
        Ok(group(targets))
    }

    /// The targets of one cluster's tasks.
    fn cluster_targets(
        &self,
        region: &str,
        cluster_arn: &str,
        cluster: Option<&Cluster>,
        data: &ClusterData,
        out: &mut Vec<Labels>,
    ) {
        for task in &data.tasks {
            let (mut ip, mut subnet, mut public) = (String::new(), String::new(), String::new());
            let mut ec2_id = String::new();
            let mut host: Option<&Instance> = None;
            let network_mode;
            if let Some(a) = eni(task) {
                network_mode = "awsvpc";
                ip = detail(a, "privateIPv4Address")
                    .unwrap_or_default()
                    .to_owned();
                subnet = detail(a, "subnetId").unwrap_or_default().to_owned();
                if let Some(p) = detail(a, "networkInterfaceId").and_then(|id| data.eni_ips.get(id))
                {
                    public.clone_from(p);
                }
                // Host details of an awsvpc task on EC2, for advanced use.
                if let Some(id) = task
                    .container_instance_arn
                    .as_ref()
                    .and_then(|c| data.to_ec2.get(c))
                {
                    ec2_id.clone_from(id);
                    host = data.hosts.get(id);
                }
            } else if let Some(c) = &task.container_instance_arn {
                network_mode = "bridge";
                match data.to_ec2.get(c) {
                    Some(id) => {
                        ec2_id.clone_from(id);
                        host = data.hosts.get(id);
                        match host {
                            Some(h) => {
                                ip.clone_from(&h.private_ip);
                                public.clone_from(&h.public_ip);
                                subnet.clone_from(&h.subnet_id);
                            }
                            None => {
                                tracing::debug!(instance = %id, task = %task.task_arn, "EC2 instance info not found");
                            }
                        }
                    }
                    None => {
                        tracing::debug!(arn = %c, task = %task.task_arn, "Container instance not found in map");
                    }
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
            put(
                "cluster_arn",
                cluster
                    .and_then(|c| c.cluster_arn.as_deref())
                    .unwrap_or(cluster_arn),
            );
            put(
                "cluster",
                cluster
                    .and_then(|c| c.cluster_name.as_deref())
                    .unwrap_or_default(),
            );
            put("task_group", &task.group);
            put("task_arn", &task.task_arn);
            put("task_definition", &task.task_definition_arn);
            put("ip_address", &ip);
            put("region", region);
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
                if !h.private_ip.is_empty() {
                    put("ec2_instance_private_ip", &h.private_ip);
                }
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
            for t in cluster.map(|c| c.tags.as_slice()).unwrap_or_default() {
                if let (Some(k), Some(v)) = (&t.key, &t.value) {
                    put(&format!("tag_cluster_{}", sanitize(k)), v);
                }
            }
            if !is_standalone(task) {
                match data.services.get(service_name(task)) {
                    Some(s) => {
                        put("service", &s.service_name);
                        put("service_arn", &s.service_arn);
                        put("service_status", &s.status);
                        for t in &s.tags {
                            if let (Some(k), Some(v)) = (&t.key, &t.value) {
                                put(&format!("tag_service_{}", sanitize(k)), v);
                            }
                        }
                    }
                    None => {
                        tracing::debug!(task = %task.task_arn, service = service_name(task), "Service not found for task");
                    }
                }
            }
            for t in &task.tags {
                if let (Some(k), Some(v)) = (&t.key, &t.value) {
                    put(&format!("tag_task_{}", sanitize(k)), v);
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
}

#[cfg(test)]
mod tests;
