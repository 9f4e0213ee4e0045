//! The Kubernetes API objects Kubernetes SD reads, as JSON: only the fields it uses.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `metav1.ObjectMeta`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ObjectMeta {
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) uid: String,
    pub(crate) resource_version: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) owner_references: Vec<OwnerReference>,
}

impl ObjectMeta {
    /// The store key: `namespace/name`, or `name` for cluster-scoped objects (Go's
    /// `MetaNamespaceKeyFunc`).
    pub(crate) fn key(&self) -> String {
        key(&self.namespace, &self.name)
    }
}

/// `namespace/name`, or `name` without a namespace.
pub(crate) fn key(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}/{name}")
    }
}

/// `metav1.OwnerReference`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct OwnerReference {
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) controller: Option<bool>,
}

/// `v1.ObjectReference` (an endpoint's target).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ObjectReference {
    pub(crate) kind: String,
    pub(crate) namespace: String,
    pub(crate) name: String,
}

/// `v1.Pod`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Pod {
    pub(crate) metadata: ObjectMeta,
    pub(crate) spec: PodSpec,
    pub(crate) status: PodStatus,
}

/// `v1.PodSpec`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct PodSpec {
    pub(crate) node_name: String,
    pub(crate) containers: Vec<Container>,
    pub(crate) init_containers: Vec<Container>,
}

/// `v1.Container`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Container {
    pub(crate) name: String,
    pub(crate) image: String,
    pub(crate) ports: Vec<ContainerPort>,
}

/// `v1.ContainerPort`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ContainerPort {
    pub(crate) name: String,
    pub(crate) container_port: i32,
    pub(crate) protocol: String,
}

/// `v1.PodStatus`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct PodStatus {
    pub(crate) phase: String,
    #[serde(rename = "podIP")]
    pub(crate) pod_ip: String,
    #[serde(rename = "hostIP")]
    pub(crate) host_ip: String,
    #[serde(rename = "podIPs")]
    pub(crate) pod_ips: Vec<PodIp>,
    pub(crate) conditions: Vec<PodCondition>,
    pub(crate) container_statuses: Vec<ContainerStatus>,
    pub(crate) init_container_statuses: Vec<ContainerStatus>,
}

/// `v1.PodIP`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct PodIp {
    pub(crate) ip: String,
}

/// `v1.Namespace`: only its metadata is used.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct Namespace {
    pub(crate) metadata: ObjectMeta,
}

/// `v1.PodCondition`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct PodCondition {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) status: String,
}

/// `v1.ContainerStatus`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ContainerStatus {
    pub(crate) name: String,
    #[serde(rename = "containerID")]
    pub(crate) container_id: String,
}

/// `v1.Node`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct Node {
    pub(crate) metadata: ObjectMeta,
    pub(crate) spec: NodeSpec,
    pub(crate) status: NodeStatus,
}

/// `v1.NodeSpec`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct NodeSpec {
    #[serde(rename = "providerID")]
    pub(crate) provider_id: String,
}

/// `v1.NodeStatus`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct NodeStatus {
    pub(crate) addresses: Vec<NodeAddress>,
    pub(crate) daemon_endpoints: DaemonEndpoints,
}

/// `v1.NodeAddress`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct NodeAddress {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) address: String,
}

/// `v1.NodeDaemonEndpoints`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct DaemonEndpoints {
    pub(crate) kubelet_endpoint: DaemonEndpoint,
}

/// `v1.DaemonEndpoint` (its one field is spelled `Port` on the wire).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct DaemonEndpoint {
    #[serde(rename = "Port")]
    pub(crate) port: i32,
}

/// `v1.Service`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct Service {
    pub(crate) metadata: ObjectMeta,
    pub(crate) spec: ServiceSpec,
}

/// `v1.ServiceSpec`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ServiceSpec {
    pub(crate) ports: Vec<ServicePort>,
    #[serde(rename = "clusterIP")]
    pub(crate) cluster_ip: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) external_name: String,
    #[serde(rename = "loadBalancerIP")]
    pub(crate) load_balancer_ip: String,
}

/// `v1.ServicePort`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct ServicePort {
    pub(crate) name: String,
    pub(crate) protocol: String,
    pub(crate) port: i32,
}

/// `v1.Endpoints`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct Endpoints {
    pub(crate) metadata: ObjectMeta,
    pub(crate) subsets: Vec<EndpointSubset>,
}

/// `v1.EndpointSubset`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct EndpointSubset {
    pub(crate) addresses: Vec<EndpointAddress>,
    pub(crate) not_ready_addresses: Vec<EndpointAddress>,
    pub(crate) ports: Vec<EndpointPort>,
}

/// `v1.EndpointAddress`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct EndpointAddress {
    pub(crate) ip: String,
    pub(crate) hostname: String,
    pub(crate) node_name: Option<String>,
    pub(crate) target_ref: Option<ObjectReference>,
}

/// `v1.EndpointPort`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct EndpointPort {
    pub(crate) name: String,
    pub(crate) port: i32,
    pub(crate) protocol: String,
}

/// `discovery.k8s.io/v1` `EndpointSlice`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct EndpointSlice {
    pub(crate) metadata: ObjectMeta,
    pub(crate) address_type: String,
    pub(crate) endpoints: Vec<SliceEndpoint>,
    pub(crate) ports: Vec<SlicePort>,
}

/// `discovery.k8s.io/v1` `Endpoint`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct SliceEndpoint {
    pub(crate) addresses: Vec<String>,
    pub(crate) conditions: SliceConditions,
    pub(crate) hostname: Option<String>,
    pub(crate) target_ref: Option<ObjectReference>,
    pub(crate) node_name: Option<String>,
    pub(crate) zone: Option<String>,
    pub(crate) deprecated_topology: BTreeMap<String, String>,
}

/// `discovery.k8s.io/v1` `EndpointConditions`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct SliceConditions {
    pub(crate) ready: Option<bool>,
    pub(crate) serving: Option<bool>,
    pub(crate) terminating: Option<bool>,
}

/// `discovery.k8s.io/v1` `EndpointPort`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct SlicePort {
    pub(crate) name: Option<String>,
    pub(crate) protocol: Option<String>,
    pub(crate) port: Option<i32>,
    pub(crate) app_protocol: Option<String>,
}

/// `networking.k8s.io/v1` `Ingress`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct Ingress {
    pub(crate) metadata: ObjectMeta,
    pub(crate) spec: IngressSpec,
}

/// `networking.k8s.io/v1` `IngressSpec`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct IngressSpec {
    pub(crate) ingress_class_name: Option<String>,
    pub(crate) tls: Vec<IngressTls>,
    pub(crate) rules: Vec<IngressRule>,
}

/// `networking.k8s.io/v1` `IngressTLS`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct IngressTls {
    pub(crate) hosts: Vec<String>,
}

/// `networking.k8s.io/v1` `IngressRule`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct IngressRule {
    pub(crate) host: String,
    pub(crate) http: Option<HttpIngressRuleValue>,
}

/// `networking.k8s.io/v1` `HTTPIngressRuleValue`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct HttpIngressRuleValue {
    pub(crate) paths: Vec<HttpIngressPath>,
}

/// `networking.k8s.io/v1` `HTTPIngressPath`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct HttpIngressPath {
    pub(crate) path: String,
}

/// A list answer: the items and the list's resource version, where a watch starts.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub(crate) struct List<T> {
    pub(crate) metadata: ListMeta,
    pub(crate) items: Vec<T>,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List {
            metadata: ListMeta::default(),
            items: Vec::new(),
        }
    }
}

/// `metav1.ListMeta`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ListMeta {
    pub(crate) resource_version: String,
    /// The token of the next page; empty on the last one.
    #[serde(rename = "continue")]
    pub(crate) continue_token: String,
}

/// One line of a watch stream.
#[derive(Debug, Deserialize)]
pub(crate) struct WatchEvent {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) object: serde_json::Value,
}

/// `metav1.Status`, the object of an `ERROR` watch event.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Status {
    pub(crate) code: i32,
    pub(crate) reason: String,
    pub(crate) message: String,
}
