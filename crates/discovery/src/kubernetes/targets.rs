//! The target groups of each role, built from the API objects (Go's `buildPod`, `buildNode`,
//! `buildService`, `buildEndpoints`, `buildEndpointSlice` and `buildIngress`).

use std::collections::BTreeMap;

use model::{Labels, TargetGroup};

use super::objects::{
    EndpointSlice, Endpoints, Ingress, Namespace, Node, ObjectMeta, ObjectReference, Pod, Service,
    key,
};

/// The prefix of every Kubernetes SD meta label.
const PREFIX: &str = "__meta_kubernetes_";
/// The namespace of the object.
pub(crate) const NAMESPACE: &str = "__meta_kubernetes_namespace";
/// What `*present_*` labels hold.
const PRESENT: &str = "true";
/// The label of an EndpointSlice that names its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// A label set under construction (Go's `model.LabelSet`).
type Set = BTreeMap<String, String>;

/// Where to look up the objects a group refers to.
pub(crate) trait Lookup {
    /// A node by name, when node metadata is attached.
    fn node(&self, name: &str) -> Option<&Node>;
    /// A pod by namespace and name.
    fn pod(&self, namespace: &str, name: &str) -> Option<&Pod>;
    /// A service by namespace and name.
    fn service(&self, namespace: &str, name: &str) -> Option<&Service>;
    /// A namespace by name, when namespace metadata is attached.
    fn namespace(&self, name: &str) -> Option<&Namespace>;
    /// Whether node metadata is attached.
    fn attach_node(&self) -> bool;
    /// Whether namespace metadata is attached.
    fn attach_namespace(&self) -> bool;
}

fn labels(set: Set) -> Labels {
    Labels::from_pairs(set)
}

fn put(set: &mut Set, name: &str, value: &str) {
    set.insert(name.to_owned(), value.to_owned());
}

/// Go's `strutil.SanitizeLabelName`: every character outside `[a-zA-Z0-9_]` becomes `_`.
pub(crate) fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `host:port`, with brackets around IPv6 addresses (Go's `net.JoinHostPort`).
fn join_host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Go's `addObjectMetaLabels`: `<role>_name`, `<role>_label_*`, `<role>_labelpresent_*`,
/// `<role>_annotation_*` and `<role>_annotationpresent_*`.
fn add_object_meta(set: &mut Set, meta: &ObjectMeta, role: &str) {
    set.insert(format!("{PREFIX}{role}_name"), meta.name.clone());
    for (k, v) in &meta.labels {
        let ln = sanitize(k);
        set.insert(format!("{PREFIX}{role}_label_{ln}"), v.clone());
        set.insert(format!("{PREFIX}{role}_labelpresent_{ln}"), PRESENT.into());
    }
    for (k, v) in &meta.annotations {
        let ln = sanitize(k);
        set.insert(format!("{PREFIX}{role}_annotation_{ln}"), v.clone());
        set.insert(
            format!("{PREFIX}{role}_annotationpresent_{ln}"),
            PRESENT.into(),
        );
    }
}

/// Go's `addNodeLabels`: the metadata of the named node, when it is known.
fn add_node_labels(set: &mut Set, lookup: &dyn Lookup, node: Option<&str>) {
    if let Some(node) = node.and_then(|n| lookup.node(n)) {
        add_object_meta(set, &node.metadata, "node");
    }
}

/// Go's `addNamespaceLabels`: the labels and annotations of the object's namespace, when
/// namespace metadata is attached and the namespace is known.
fn add_namespace_labels(set: &mut Set, lookup: &dyn Lookup, namespace: &str) {
    if !lookup.attach_namespace() {
        return;
    }
    let Some(ns) = lookup.namespace(namespace) else {
        return;
    };
    for (k, v) in &ns.metadata.labels {
        let ln = sanitize(k);
        set.insert(format!("{PREFIX}namespace_label_{ln}"), v.clone());
        set.insert(
            format!("{PREFIX}namespace_labelpresent_{ln}"),
            PRESENT.into(),
        );
    }
    for (k, v) in &ns.metadata.annotations {
        let ln = sanitize(k);
        set.insert(format!("{PREFIX}namespace_annotation_{ln}"), v.clone());
        set.insert(
            format!("{PREFIX}namespace_annotationpresent_{ln}"),
            PRESENT.into(),
        );
    }
}

/// The source of a pod's group.
pub(crate) fn pod_source(namespace: &str, name: &str) -> String {
    format!("pod/{namespace}/{name}")
}

/// The pod labels shared by the pod and endpoints roles (Go's `podLabels`).
fn pod_labels(pod: &Pod) -> Set {
    let mut set = Set::new();
    put(&mut set, "__meta_kubernetes_pod_ip", &pod.status.pod_ip);
    let ready = pod
        .status
        .conditions
        .iter()
        .find(|c| c.kind == "Ready")
        .map_or_else(|| "unknown".to_owned(), |c| c.status.to_lowercase());
    put(&mut set, "__meta_kubernetes_pod_ready", &ready);
    put(&mut set, "__meta_kubernetes_pod_phase", &pod.status.phase);
    put(
        &mut set,
        "__meta_kubernetes_pod_node_name",
        &pod.spec.node_name,
    );
    put(
        &mut set,
        "__meta_kubernetes_pod_host_ip",
        &pod.status.host_ip,
    );
    put(&mut set, "__meta_kubernetes_pod_uid", &pod.metadata.uid);
    // The first IPv4 and the first IPv6 address of the pod.
    for ip in &pod.status.pod_ips {
        let Ok(addr) = ip.ip.parse::<std::net::IpAddr>() else {
            continue;
        };
        let is_v4 = match addr {
            std::net::IpAddr::V4(_) => true,
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some(),
        };
        let name = if is_v4 {
            "__meta_kubernetes_pod_ipv4"
        } else {
            "__meta_kubernetes_pod_ipv6"
        };
        set.entry(name.to_owned()).or_insert_with(|| ip.ip.clone());
    }
    add_object_meta(&mut set, &pod.metadata, "pod");
    if let Some(owner) = pod
        .metadata
        .owner_references
        .iter()
        .find(|o| o.controller == Some(true))
    {
        if !owner.kind.is_empty() {
            put(
                &mut set,
                "__meta_kubernetes_pod_controller_kind",
                &owner.kind,
            );
        }
        if !owner.name.is_empty() {
            put(
                &mut set,
                "__meta_kubernetes_pod_controller_name",
                &owner.name,
            );
        }
    }
    set
}

/// A pod's containers followed by its init containers, each with whether it is an init
/// container.
fn all_containers(pod: &Pod) -> impl Iterator<Item = (&super::objects::Container, bool)> {
    pod.spec
        .containers
        .iter()
        .map(|c| (c, false))
        .chain(pod.spec.init_containers.iter().map(|c| (c, true)))
}

/// The group of a pod: a target per container port, or per container without ports; no
/// targets (and no labels) while the pod has no IP.
pub(crate) fn build_pod(pod: &Pod, lookup: &dyn Lookup) -> TargetGroup {
    let source = pod_source(&pod.metadata.namespace, &pod.metadata.name);
    let ip = &pod.status.pod_ip;
    if ip.is_empty() {
        return empty(source);
    }
    let mut group_labels = pod_labels(pod);
    put(&mut group_labels, NAMESPACE, &pod.metadata.namespace);
    if lookup.attach_node() {
        add_node_labels(&mut group_labels, lookup, Some(&pod.spec.node_name));
    }
    add_namespace_labels(&mut group_labels, lookup, &pod.metadata.namespace);
    // A portless target's address is the bare IP, in brackets for IPv6 (RFC 3986 forbids
    // a trailing ':').
    let bare = match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => format!("[{v6}]"),
        _ => ip.clone(),
    };
    let mut targets = Vec::new();
    for (c, init) in all_containers(pod) {
        let statuses = if init {
            &pod.status.init_container_statuses
        } else {
            &pod.status.container_statuses
        };
        let id = statuses
            .iter()
            .find(|s| s.name == c.name)
            .map(|s| s.container_id.as_str())
            .unwrap_or_default();
        let init = if init { "true" } else { "false" };
        if c.ports.is_empty() {
            targets.push(Labels::from_pairs([
                ("__address__", bare.as_str()),
                ("__meta_kubernetes_pod_container_name", &c.name),
                ("__meta_kubernetes_pod_container_id", id),
                ("__meta_kubernetes_pod_container_image", &c.image),
                ("__meta_kubernetes_pod_container_init", init),
            ]));
            continue;
        }
        for port in &c.ports {
            let number = port.container_port.to_string();
            targets.push(Labels::from_pairs([
                ("__address__", join_host_port(ip, &number).as_str()),
                ("__meta_kubernetes_pod_container_name", &c.name),
                ("__meta_kubernetes_pod_container_id", id),
                ("__meta_kubernetes_pod_container_image", &c.image),
                ("__meta_kubernetes_pod_container_port_number", &number),
                ("__meta_kubernetes_pod_container_port_name", &port.name),
                (
                    "__meta_kubernetes_pod_container_port_protocol",
                    &port.protocol,
                ),
                ("__meta_kubernetes_pod_container_init", init),
            ]));
        }
    }
    TargetGroup {
        targets,
        labels: labels(group_labels),
        source,
    }
}

/// A group without targets or labels: what a deleted object leaves.
pub(crate) fn empty(source: String) -> TargetGroup {
    TargetGroup {
        targets: Vec::new(),
        labels: Labels::empty(),
        source,
    }
}

/// The source of a node's group.
pub(crate) fn node_source(name: &str) -> String {
    format!("node/{name}")
}

/// The address of a node, by type precedence: InternalIP, InternalDNS, ExternalIP,
/// ExternalDNS, LegacyHostIP, Hostname.
fn node_address(node: &Node) -> Option<&str> {
    [
        "InternalIP",
        "InternalDNS",
        "ExternalIP",
        "ExternalDNS",
        "LegacyHostIP",
        "Hostname",
    ]
    .iter()
    .find_map(|ty| {
        node.status
            .addresses
            .iter()
            .find(|a| a.kind == *ty)
            .map(|a| a.address.as_str())
    })
}

/// The group of a node: one target at its kubelet port. `None` when the node has no usable
/// address (Prometheus sends nothing then).
pub(crate) fn build_node(node: &Node) -> Option<TargetGroup> {
    let mut group_labels = Set::new();
    put(
        &mut group_labels,
        "__meta_kubernetes_node_provider_id",
        &node.spec.provider_id,
    );
    add_object_meta(&mut group_labels, &node.metadata, "node");
    let Some(address) = node_address(node) else {
        tracing::warn!(node = %node.metadata.name, "No node address found: host address unknown");
        return None;
    };
    let mut target = Set::new();
    put(
        &mut target,
        "__address__",
        &join_host_port(address, node.status.daemon_endpoints.kubelet_endpoint.port),
    );
    put(&mut target, "instance", &node.metadata.name);
    // The first address of each type.
    for a in node.status.addresses.iter().rev() {
        target.insert(
            sanitize(&format!("{PREFIX}node_address_{}", a.kind)),
            a.address.clone(),
        );
    }
    Some(TargetGroup {
        targets: vec![labels(target)],
        labels: labels(group_labels),
        source: node_source(&node.metadata.name),
    })
}

/// The source of a service's group.
pub(crate) fn service_source(namespace: &str, name: &str) -> String {
    format!("svc/{namespace}/{name}")
}

/// Go's `serviceLabels`: namespace and object metadata.
fn service_labels(svc: &Service) -> Set {
    let mut set = Set::new();
    put(&mut set, NAMESPACE, &svc.metadata.namespace);
    add_object_meta(&mut set, &svc.metadata, "service");
    set
}

/// The group of a service: a target per port at `name.namespace.svc:port`.
pub(crate) fn build_service(svc: &Service, lookup: &dyn Lookup) -> TargetGroup {
    let host = format!("{}.{}.svc", svc.metadata.name, svc.metadata.namespace);
    let targets = svc
        .spec
        .ports
        .iter()
        .map(|port| {
            let number = port.port.to_string();
            let mut t = Set::new();
            put(&mut t, "__address__", &join_host_port(&host, &number));
            put(&mut t, "__meta_kubernetes_service_port_name", &port.name);
            put(&mut t, "__meta_kubernetes_service_port_number", &number);
            put(
                &mut t,
                "__meta_kubernetes_service_port_protocol",
                &port.protocol,
            );
            put(&mut t, "__meta_kubernetes_service_type", &svc.spec.kind);
            if svc.spec.kind == "ExternalName" {
                put(
                    &mut t,
                    "__meta_kubernetes_service_external_name",
                    &svc.spec.external_name,
                );
            } else {
                put(
                    &mut t,
                    "__meta_kubernetes_service_cluster_ip",
                    &svc.spec.cluster_ip,
                );
            }
            if svc.spec.kind == "LoadBalancer" {
                put(
                    &mut t,
                    "__meta_kubernetes_service_loadbalancer_ip",
                    &svc.spec.load_balancer_ip,
                );
            }
            labels(t)
        })
        .collect();
    let mut group_labels = service_labels(svc);
    add_namespace_labels(&mut group_labels, lookup, &svc.metadata.namespace);
    TargetGroup {
        targets,
        labels: labels(group_labels),
        source: service_source(&svc.metadata.namespace, &svc.metadata.name),
    }
}

/// The pod an endpoint address points to, when it is a known pod.
fn resolve_pod<'a>(lookup: &'a dyn Lookup, target: Option<&ObjectReference>) -> Option<&'a Pod> {
    let r = target.filter(|r| r.kind == "Pod")?;
    lookup.pod(&r.namespace, &r.name)
}

/// Pods seen behind the addresses of an Endpoints or EndpointSlice object, with the ports
/// that already gave a target, in the order first seen.
#[derive(Default)]
struct SeenPods<'a> {
    pods: Vec<(&'a Pod, Vec<i32>)>,
}

impl<'a> SeenPods<'a> {
    fn add(&mut self, pod: &'a Pod, port: Option<i32>) {
        let i = match self.pods.iter().position(|(p, _)| {
            p.metadata.namespace == pod.metadata.namespace && p.metadata.name == pod.metadata.name
        }) {
            Some(i) => i,
            None => {
                self.pods.push((pod, Vec::new()));
                self.pods.len() - 1
            }
        };
        if let Some(port) = port {
            self.pods[i].1.push(port);
        }
    }

    /// A target per container port of the seen pods that no address covered (Go's second
    /// loop of `buildEndpoints`).
    fn uncovered_targets(&self) -> Vec<Labels> {
        let mut out = Vec::new();
        for (pod, ports) in &self.pods {
            let ip = &pod.status.pod_ip;
            // The pod IP can be empty while a pod starts or after it was evicted.
            if ip.is_empty() {
                continue;
            }
            for (c, init) in all_containers(pod) {
                for cport in &c.ports {
                    if ports.contains(&cport.container_port) {
                        continue;
                    }
                    let number = cport.container_port.to_string();
                    let mut t = Set::new();
                    put(&mut t, "__address__", &join_host_port(ip, &number));
                    put(&mut t, "__meta_kubernetes_pod_container_name", &c.name);
                    put(&mut t, "__meta_kubernetes_pod_container_image", &c.image);
                    put(
                        &mut t,
                        "__meta_kubernetes_pod_container_port_name",
                        &cport.name,
                    );
                    put(
                        &mut t,
                        "__meta_kubernetes_pod_container_port_number",
                        &number,
                    );
                    put(
                        &mut t,
                        "__meta_kubernetes_pod_container_port_protocol",
                        &cport.protocol,
                    );
                    put(
                        &mut t,
                        "__meta_kubernetes_pod_container_init",
                        if init { "true" } else { "false" },
                    );
                    t.extend(pod_labels(pod));
                    out.push(labels(t));
                }
            }
        }
        out
    }
}

/// Adds the pod labels and the labels of the container port matching `port` to a target.
fn add_pod_target_labels(t: &mut Set, pod: &Pod, port: Option<i32>) {
    t.extend(pod_labels(pod));
    let Some(port) = port else {
        return;
    };
    let found = all_containers(pod).find_map(|(c, init)| {
        c.ports
            .iter()
            .find(|p| p.container_port == port)
            .map(|p| (c, p, init))
    });
    if let Some((c, cport, init)) = found {
        put(t, "__meta_kubernetes_pod_container_name", &c.name);
        put(t, "__meta_kubernetes_pod_container_image", &c.image);
        put(t, "__meta_kubernetes_pod_container_port_name", &cport.name);
        put(
            t,
            "__meta_kubernetes_pod_container_port_number",
            &port.to_string(),
        );
        put(
            t,
            "__meta_kubernetes_pod_container_port_protocol",
            &cport.protocol,
        );
        put(
            t,
            "__meta_kubernetes_pod_container_init",
            if init { "true" } else { "false" },
        );
    }
}

/// The source of an Endpoints object's group.
pub(crate) fn endpoints_source(namespace: &str, name: &str) -> String {
    format!("endpoints/{namespace}/{name}")
}

/// The group of an Endpoints object: a target per address and port (ready ones, then not
/// ready ones), then one per container port of the pods behind them that no address
/// covered.
pub(crate) fn build_endpoints(eps: &Endpoints, lookup: &dyn Lookup) -> TargetGroup {
    let meta = &eps.metadata;
    let mut group_labels = Set::new();
    put(&mut group_labels, NAMESPACE, &meta.namespace);
    if let Some(svc) = lookup.service(&meta.namespace, &meta.name) {
        group_labels.extend(service_labels(svc));
    }
    add_object_meta(&mut group_labels, meta, "endpoints");
    add_namespace_labels(&mut group_labels, lookup, &meta.namespace);

    let mut targets = Vec::new();
    let mut seen = SeenPods::default();
    for subset in &eps.subsets {
        for port in &subset.ports {
            let ready = subset.addresses.iter().map(|a| (a, "true"));
            let not_ready = subset.not_ready_addresses.iter().map(|a| (a, "false"));
            for (addr, ready) in ready.chain(not_ready) {
                let mut t = Set::new();
                put(&mut t, "__address__", &join_host_port(&addr.ip, port.port));
                put(&mut t, "__meta_kubernetes_endpoint_port_name", &port.name);
                put(
                    &mut t,
                    "__meta_kubernetes_endpoint_port_protocol",
                    &port.protocol,
                );
                put(&mut t, "__meta_kubernetes_endpoint_ready", ready);
                if let Some(r) = &addr.target_ref {
                    put(
                        &mut t,
                        "__meta_kubernetes_endpoint_address_target_kind",
                        &r.kind,
                    );
                    put(
                        &mut t,
                        "__meta_kubernetes_endpoint_address_target_name",
                        &r.name,
                    );
                }
                if let Some(node) = &addr.node_name {
                    put(&mut t, "__meta_kubernetes_endpoint_node_name", node);
                }
                if !addr.hostname.is_empty() {
                    put(
                        &mut t,
                        "__meta_kubernetes_endpoint_hostname",
                        &addr.hostname,
                    );
                }
                if lookup.attach_node() {
                    let node = addr.node_name.as_deref().or_else(|| {
                        addr.target_ref
                            .as_ref()
                            .filter(|r| r.kind == "Node")
                            .map(|r| r.name.as_str())
                    });
                    add_node_labels(&mut t, lookup, node);
                }
                if let Some(pod) = resolve_pod(lookup, addr.target_ref.as_ref()) {
                    seen.add(pod, Some(port.port));
                    add_pod_target_labels(&mut t, pod, Some(port.port));
                }
                targets.push(labels(t));
            }
        }
    }
    if let Some(v) = meta.labels.get("endpoints.kubernetes.io/over-capacity") {
        tracing::warn!(
            endpoint = %meta.name,
            over_capacity = %v,
            "Number of endpoints in one Endpoints object exceeds 1000, please use \"role: endpointslice\" instead"
        );
    }
    targets.extend(seen.uncovered_targets());
    TargetGroup {
        targets,
        labels: labels(group_labels),
        source: endpoints_source(&meta.namespace, &meta.name),
    }
}

/// The source of an EndpointSlice's group.
pub(crate) fn endpointslice_source(namespace: &str, name: &str) -> String {
    format!("endpointslice/{namespace}/{name}")
}

/// The Service an EndpointSlice belongs to (its `kubernetes.io/service-name` label).
pub(crate) fn slice_service(slice: &EndpointSlice) -> Option<&str> {
    slice
        .metadata
        .labels
        .get(SERVICE_NAME_LABEL)
        .map(String::as_str)
}

/// The group of an EndpointSlice: a target per endpoint address and port, then one per
/// container port of the pods behind them that no address covered.
pub(crate) fn build_endpointslice(slice: &EndpointSlice, lookup: &dyn Lookup) -> TargetGroup {
    let meta = &slice.metadata;
    let mut group_labels = Set::new();
    put(&mut group_labels, NAMESPACE, &meta.namespace);
    put(
        &mut group_labels,
        "__meta_kubernetes_endpointslice_address_type",
        &slice.address_type,
    );
    add_object_meta(&mut group_labels, meta, "endpointslice");
    if let Some(svc) = slice_service(slice).and_then(|n| lookup.service(&meta.namespace, n)) {
        group_labels.extend(service_labels(svc));
    }
    add_namespace_labels(&mut group_labels, lookup, &meta.namespace);

    let mut targets = Vec::new();
    let mut seen = SeenPods::default();
    const P: &str = "__meta_kubernetes_endpointslice_";
    for ep in &slice.endpoints {
        for port in &slice.ports {
            for addr in &ep.addresses {
                let mut t = Set::new();
                let address = match port.port {
                    Some(p) => join_host_port(addr, p),
                    None => addr.clone(),
                };
                put(&mut t, "__address__", &address);
                if let Some(v) = &port.name {
                    put(&mut t, &format!("{P}port_name"), v);
                }
                if let Some(v) = &port.protocol {
                    put(&mut t, &format!("{P}port_protocol"), v);
                }
                if let Some(v) = port.port {
                    put(&mut t, &format!("{P}port"), &v.to_string());
                }
                if let Some(v) = &port.app_protocol {
                    put(&mut t, &format!("{P}port_app_protocol"), v);
                }
                let c = &ep.conditions;
                for (name, v) in [
                    ("ready", c.ready),
                    ("serving", c.serving),
                    ("terminating", c.terminating),
                ] {
                    if let Some(v) = v {
                        put(
                            &mut t,
                            &format!("{P}endpoint_conditions_{name}"),
                            if v { "true" } else { "false" },
                        );
                    }
                }
                if let Some(v) = &ep.hostname {
                    put(&mut t, &format!("{P}endpoint_hostname"), v);
                }
                if let Some(r) = &ep.target_ref {
                    put(&mut t, &format!("{P}address_target_kind"), &r.kind);
                    put(&mut t, &format!("{P}address_target_name"), &r.name);
                }
                if let Some(v) = &ep.node_name {
                    put(&mut t, &format!("{P}endpoint_node_name"), v);
                }
                if let Some(v) = &ep.zone {
                    put(&mut t, &format!("{P}endpoint_zone"), v);
                }
                for (k, v) in &ep.deprecated_topology {
                    let ln = sanitize(k);
                    put(&mut t, &format!("{P}endpoint_topology_{ln}"), v);
                    put(
                        &mut t,
                        &format!("{P}endpoint_topology_present_{ln}"),
                        PRESENT,
                    );
                }
                if lookup.attach_node() {
                    let node = match &ep.target_ref {
                        Some(r) if r.kind == "Node" => Some(r.name.as_str()),
                        _ => ep.node_name.as_deref(),
                    };
                    add_node_labels(&mut t, lookup, node);
                }
                if let Some(pod) = resolve_pod(lookup, ep.target_ref.as_ref()) {
                    seen.add(pod, port.port);
                    add_pod_target_labels(&mut t, pod, port.port);
                }
                targets.push(labels(t));
            }
        }
    }
    targets.extend(seen.uncovered_targets());
    TargetGroup {
        targets,
        labels: labels(group_labels),
        source: endpointslice_source(&meta.namespace, &meta.name),
    }
}

/// The source of an Ingress's group.
pub(crate) fn ingress_source(namespace: &str, name: &str) -> String {
    format!("ingress/{namespace}/{name}")
}

/// Whether `host` matches a TLS host pattern: equal, or a `*.` wildcard standing for exactly
/// the first label.
fn matches_hostname_pattern(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let h: Vec<&str> = host.split('.').collect();
    p[0] == "*" && p.len() == h.len() && p[1..] == h[1..]
}

/// The group of an Ingress: a target per rule and path, at the rule's host.
pub(crate) fn build_ingress(ing: &Ingress, lookup: &dyn Lookup) -> TargetGroup {
    let meta = &ing.metadata;
    let mut group_labels = Set::new();
    put(&mut group_labels, NAMESPACE, &meta.namespace);
    if let Some(class) = &ing.spec.ingress_class_name {
        put(
            &mut group_labels,
            "__meta_kubernetes_ingress_class_name",
            class,
        );
    }
    add_object_meta(&mut group_labels, meta, "ingress");
    add_namespace_labels(&mut group_labels, lookup, &meta.namespace);
    let mut targets = Vec::new();
    for rule in &ing.spec.rules {
        let tls = ing
            .spec
            .tls
            .iter()
            .flat_map(|t| t.hosts.iter())
            .any(|pattern| matches_hostname_pattern(pattern, &rule.host));
        let scheme = if tls { "https" } else { "http" };
        let paths: Vec<&str> = match &rule.http {
            None => vec!["/"],
            Some(http) => http
                .paths
                .iter()
                .map(|p| if p.path.is_empty() { "/" } else { &p.path })
                .collect(),
        };
        for path in paths {
            targets.push(Labels::from_pairs([
                ("__address__", rule.host.as_str()),
                ("__meta_kubernetes_ingress_scheme", scheme),
                ("__meta_kubernetes_ingress_host", &rule.host),
                ("__meta_kubernetes_ingress_path", path),
            ]));
        }
    }
    TargetGroup {
        targets,
        labels: labels(group_labels),
        source: ingress_source(&meta.namespace, &meta.name),
    }
}

/// The store key of an object reference.
pub(crate) fn reference_key(r: &ObjectReference) -> String {
    key(&r.namespace, &r.name)
}
