//! Tests of Kubernetes SD: the groups of each role (the objects and expectations of
//! Prometheus's `discovery/kubernetes/*_test.go`), the store task, the watch stream reader,
//! and the client configurations.

use model::Labels;
use serde_json::json;

use super::objects::{self as o};
use super::targets::{self as t, Lookup};
use super::*;

/// A lookup over fixed objects.
#[derive(Default)]
struct Fake {
    pods: Vec<o::Pod>,
    services: Vec<o::Service>,
    nodes: Vec<o::Node>,
    namespaces: Vec<o::Namespace>,
    attach_node: bool,
    attach_namespace: bool,
}

impl Lookup for Fake {
    fn node(&self, name: &str) -> Option<&o::Node> {
        self.nodes.iter().find(|n| n.metadata.name == name)
    }
    fn pod(&self, namespace: &str, name: &str) -> Option<&o::Pod> {
        self.pods
            .iter()
            .find(|p| p.metadata.namespace == namespace && p.metadata.name == name)
    }
    fn service(&self, namespace: &str, name: &str) -> Option<&o::Service> {
        self.services
            .iter()
            .find(|s| s.metadata.namespace == namespace && s.metadata.name == name)
    }
    fn namespace(&self, name: &str) -> Option<&o::Namespace> {
        self.namespaces.iter().find(|n| n.metadata.name == name)
    }
    fn attach_node(&self) -> bool {
        self.attach_node
    }
    fn attach_namespace(&self) -> bool {
        self.attach_namespace
    }
}

fn parse<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// Go's `makeMultiPortPods`.
fn multi_port_pod() -> o::Pod {
    parse(json!({
        "metadata": {
            "name": "testpod", "namespace": "default", "uid": "abc123",
            "labels": {"test/label": "testvalue"},
            "annotations": {"test/annotation": "testannotationvalue"},
            "ownerReferences": [{"kind": "testcontrollerkind", "name": "testcontrollername", "controller": true}]
        },
        "spec": {
            "nodeName": "testnode",
            "containers": [
                {"name": "testcontainer0", "image": "testcontainer0:latest", "ports": [
                    {"name": "testport0", "protocol": "TCP", "containerPort": 9000},
                    {"name": "testport1", "protocol": "UDP", "containerPort": 9001}
                ]},
                {"name": "testcontainer1", "image": "testcontainer1:latest"}
            ]
        },
        "status": {
            "podIP": "1.2.3.4", "hostIP": "2.3.4.5", "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {"name": "testcontainer0", "containerID": "docker://a1b2c3d4e5f6"},
                {"name": "testcontainer1", "containerID": "containerd://6f5e4d3c2b1a"}
            ]
        }
    }))
}

#[test]
fn pod_with_ports_and_a_portless_container() {
    let g = t::build_pod(&multi_port_pod(), &Fake::default());
    assert_eq!(g.source, "pod/default/testpod");
    assert_eq!(
        g.targets,
        vec![
            ls(&[
                ("__address__", "1.2.3.4:9000"),
                ("__meta_kubernetes_pod_container_name", "testcontainer0"),
                (
                    "__meta_kubernetes_pod_container_id",
                    "docker://a1b2c3d4e5f6"
                ),
                (
                    "__meta_kubernetes_pod_container_image",
                    "testcontainer0:latest"
                ),
                ("__meta_kubernetes_pod_container_port_name", "testport0"),
                ("__meta_kubernetes_pod_container_port_number", "9000"),
                ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
                ("__meta_kubernetes_pod_container_init", "false"),
            ]),
            ls(&[
                ("__address__", "1.2.3.4:9001"),
                ("__meta_kubernetes_pod_container_name", "testcontainer0"),
                (
                    "__meta_kubernetes_pod_container_id",
                    "docker://a1b2c3d4e5f6"
                ),
                (
                    "__meta_kubernetes_pod_container_image",
                    "testcontainer0:latest"
                ),
                ("__meta_kubernetes_pod_container_port_name", "testport1"),
                ("__meta_kubernetes_pod_container_port_number", "9001"),
                ("__meta_kubernetes_pod_container_port_protocol", "UDP"),
                ("__meta_kubernetes_pod_container_init", "false"),
            ]),
            ls(&[
                ("__address__", "1.2.3.4"),
                ("__meta_kubernetes_pod_container_name", "testcontainer1"),
                (
                    "__meta_kubernetes_pod_container_id",
                    "containerd://6f5e4d3c2b1a"
                ),
                (
                    "__meta_kubernetes_pod_container_image",
                    "testcontainer1:latest"
                ),
                ("__meta_kubernetes_pod_container_init", "false"),
            ]),
        ]
    );
    assert_eq!(
        g.labels,
        ls(&[
            ("__meta_kubernetes_pod_name", "testpod"),
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_pod_label_test_label", "testvalue"),
            ("__meta_kubernetes_pod_labelpresent_test_label", "true"),
            (
                "__meta_kubernetes_pod_annotation_test_annotation",
                "testannotationvalue"
            ),
            (
                "__meta_kubernetes_pod_annotationpresent_test_annotation",
                "true"
            ),
            ("__meta_kubernetes_pod_node_name", "testnode"),
            ("__meta_kubernetes_pod_ip", "1.2.3.4"),
            ("__meta_kubernetes_pod_host_ip", "2.3.4.5"),
            ("__meta_kubernetes_pod_ready", "true"),
            ("__meta_kubernetes_pod_phase", "Running"),
            ("__meta_kubernetes_pod_uid", "abc123"),
            (
                "__meta_kubernetes_pod_controller_kind",
                "testcontrollerkind"
            ),
            (
                "__meta_kubernetes_pod_controller_name",
                "testcontrollername"
            ),
        ])
    );
}

/// Go's `makeInitContainerPods`: a pending pod whose init container has no ports.
#[test]
fn pod_init_containers_are_targets_marked_init() {
    let pod: o::Pod = parse(json!({
        "metadata": {"name": "testpod", "namespace": "default", "uid": "abc12345"},
        "spec": {
            "nodeName": "testnode",
            "containers": [{"name": "testcontainer", "image": "testcontainer:latest",
                "ports": [{"name": "testport", "protocol": "TCP", "containerPort": 9000}]}],
            "initContainers": [{"name": "initcontainer", "image": "initcontainer:latest"}]
        },
        "status": {
            "podIP": "1.2.3.4", "hostIP": "2.3.4.5", "phase": "Pending",
            "conditions": [{"type": "Ready", "status": "False"}]
        }
    }));
    let g = t::build_pod(&pod, &Fake::default());
    assert_eq!(g.targets.len(), 2);
    assert_eq!(
        g.targets[1],
        ls(&[
            ("__address__", "1.2.3.4"),
            ("__meta_kubernetes_pod_container_name", "initcontainer"),
            ("__meta_kubernetes_pod_container_id", ""),
            (
                "__meta_kubernetes_pod_container_image",
                "initcontainer:latest"
            ),
            ("__meta_kubernetes_pod_container_init", "true"),
        ])
    );
    assert_eq!(
        g.targets[0].get("__meta_kubernetes_pod_container_init"),
        Some("false")
    );
    assert_eq!(g.labels.get("__meta_kubernetes_pod_ready"), Some("false"));
    assert_eq!(g.labels.get("__meta_kubernetes_pod_phase"), Some("Pending"));
}

#[test]
fn pod_without_ip_has_an_empty_group_and_no_ready_condition_is_unknown() {
    let mut pod = multi_port_pod();
    pod.status.pod_ip.clear();
    let g = t::build_pod(&pod, &Fake::default());
    assert_eq!(g, t::empty("pod/default/testpod".into()));

    let mut pod = multi_port_pod();
    pod.status.conditions.clear();
    let g = t::build_pod(&pod, &Fake::default());
    assert_eq!(g.labels.get("__meta_kubernetes_pod_ready"), Some("unknown"));
}

fn node(name: &str, address: &str, labels: serde_json::Value) -> o::Node {
    parse(json!({
        "metadata": {"name": name, "labels": labels,
            "annotations": {"test.annotation": "testannotationvalue"}},
        "spec": {"providerID": "aws:///de-west-3a/i-123"},
        "status": {
            "addresses": [{"type": "InternalIP", "address": address}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}
        }
    }))
}

#[test]
fn pod_with_node_metadata_attached() {
    let lookup = Fake {
        nodes: vec![node("testnode", "1.2.3.4", json!({"l1": "v1"}))],
        attach_node: true,
        ..Fake::default()
    };
    let g = t::build_pod(&multi_port_pod(), &lookup);
    assert_eq!(
        g.labels.get("__meta_kubernetes_node_name"),
        Some("testnode")
    );
    assert_eq!(g.labels.get("__meta_kubernetes_node_label_l1"), Some("v1"));
    assert_eq!(
        g.labels.get("__meta_kubernetes_node_labelpresent_l1"),
        Some("true")
    );
    assert_eq!(
        g.labels
            .get("__meta_kubernetes_node_annotation_test_annotation"),
        Some("testannotationvalue")
    );
    // An unknown node adds nothing.
    let g = t::build_pod(
        &multi_port_pod(),
        &Fake {
            attach_node: true,
            ..Fake::default()
        },
    );
    assert_eq!(g.labels.get("__meta_kubernetes_node_name"), None);
}

#[test]
fn node_target_is_the_kubelet_of_its_preferred_address() {
    let n = node("test", "1.2.3.4", json!({"test-label": "testvalue"}));
    let g = t::build_node(&n).unwrap();
    assert_eq!(g.source, "node/test");
    assert_eq!(
        g.targets,
        vec![ls(&[
            ("__address__", "1.2.3.4:10250"),
            ("instance", "test"),
            ("__meta_kubernetes_node_address_InternalIP", "1.2.3.4"),
        ])]
    );
    assert_eq!(
        g.labels,
        ls(&[
            ("__meta_kubernetes_node_name", "test"),
            (
                "__meta_kubernetes_node_provider_id",
                "aws:///de-west-3a/i-123"
            ),
            ("__meta_kubernetes_node_label_test_label", "testvalue"),
            ("__meta_kubernetes_node_labelpresent_test_label", "true"),
            (
                "__meta_kubernetes_node_annotation_test_annotation",
                "testannotationvalue"
            ),
            (
                "__meta_kubernetes_node_annotationpresent_test_annotation",
                "true"
            ),
        ])
    );

    // Precedence: InternalIP, InternalDNS, ExternalIP, ExternalDNS, LegacyHostIP, Hostname;
    // every type's first address is a label.
    let n: o::Node = parse(json!({
        "metadata": {"name": "n"},
        "status": {
            "addresses": [
                {"type": "Hostname", "address": "host"},
                {"type": "ExternalIP", "address": "5.6.7.8"},
                {"type": "ExternalIP", "address": "5.6.7.9"},
                {"type": "InternalDNS", "address": "n.internal"}
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}
        }
    }));
    let g = t::build_node(&n).unwrap();
    assert_eq!(g.targets[0].get("__address__"), Some("n.internal:10250"));
    assert_eq!(
        g.targets[0].get("__meta_kubernetes_node_address_ExternalIP"),
        Some("5.6.7.8")
    );
    assert_eq!(
        g.targets[0].get("__meta_kubernetes_node_address_Hostname"),
        Some("host")
    );

    let n: o::Node = parse(json!({"metadata": {"name": "x"}, "status": {"addresses": [
        {"type": "InternalIP", "address": "::1"}], "daemonEndpoints": {"kubeletEndpoint": {"Port": 1}}}}));
    assert_eq!(
        t::build_node(&n).unwrap().targets[0].get("__address__"),
        Some("[::1]:1")
    );
    // No address: nothing is sent.
    let n: o::Node = parse(json!({"metadata": {"name": "x"}}));
    assert!(t::build_node(&n).is_none());
}

/// Go's `makeMultiPortService`.
fn multi_port_service() -> o::Service {
    parse(json!({
        "metadata": {"name": "testservice", "namespace": "default",
            "labels": {"test-label": "testvalue"},
            "annotations": {"test-annotation": "testannotationvalue"}},
        "spec": {
            "ports": [
                {"name": "testport0", "protocol": "TCP", "port": 30900},
                {"name": "testport1", "protocol": "UDP", "port": 30901}
            ],
            "type": "ClusterIP", "clusterIP": "10.0.0.1"
        }
    }))
}

#[test]
fn service_targets_per_port() {
    let g = t::build_service(&multi_port_service(), &Fake::default());
    assert_eq!(g.source, "svc/default/testservice");
    assert_eq!(
        g.targets,
        vec![
            ls(&[
                ("__address__", "testservice.default.svc:30900"),
                ("__meta_kubernetes_service_type", "ClusterIP"),
                ("__meta_kubernetes_service_cluster_ip", "10.0.0.1"),
                ("__meta_kubernetes_service_port_name", "testport0"),
                ("__meta_kubernetes_service_port_number", "30900"),
                ("__meta_kubernetes_service_port_protocol", "TCP"),
            ]),
            ls(&[
                ("__address__", "testservice.default.svc:30901"),
                ("__meta_kubernetes_service_type", "ClusterIP"),
                ("__meta_kubernetes_service_cluster_ip", "10.0.0.1"),
                ("__meta_kubernetes_service_port_name", "testport1"),
                ("__meta_kubernetes_service_port_number", "30901"),
                ("__meta_kubernetes_service_port_protocol", "UDP"),
            ]),
        ]
    );
    assert_eq!(
        g.labels,
        ls(&[
            ("__meta_kubernetes_service_name", "testservice"),
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_service_label_test_label", "testvalue"),
            ("__meta_kubernetes_service_labelpresent_test_label", "true"),
            (
                "__meta_kubernetes_service_annotation_test_annotation",
                "testannotationvalue"
            ),
            (
                "__meta_kubernetes_service_annotationpresent_test_annotation",
                "true"
            ),
        ])
    );
}

#[test]
fn external_name_and_load_balancer_services() {
    let svc: o::Service = parse(json!({
        "metadata": {"name": "testservice", "namespace": "default"},
        "spec": {"ports": [{"name": "testport", "protocol": "TCP", "port": 31900}],
            "type": "ExternalName", "externalName": "FooExternalName"}
    }));
    assert_eq!(
        t::build_service(&svc, &Fake::default()).targets,
        vec![ls(&[
            ("__address__", "testservice.default.svc:31900"),
            ("__meta_kubernetes_service_type", "ExternalName"),
            ("__meta_kubernetes_service_external_name", "FooExternalName"),
            ("__meta_kubernetes_service_port_name", "testport"),
            ("__meta_kubernetes_service_port_number", "31900"),
            ("__meta_kubernetes_service_port_protocol", "TCP"),
        ])]
    );
    let svc: o::Service = parse(json!({
        "metadata": {"name": "testservice-lb", "namespace": "default"},
        "spec": {"ports": [{"name": "testport0", "protocol": "TCP", "port": 31900}],
            "type": "LoadBalancer", "loadBalancerIP": "127.0.0.1", "clusterIP": "10.0.0.1"}
    }));
    assert_eq!(
        t::build_service(&svc, &Fake::default()).targets,
        vec![ls(&[
            ("__address__", "testservice-lb.default.svc:31900"),
            ("__meta_kubernetes_service_type", "LoadBalancer"),
            ("__meta_kubernetes_service_loadbalancer_ip", "127.0.0.1"),
            ("__meta_kubernetes_service_cluster_ip", "10.0.0.1"),
            ("__meta_kubernetes_service_port_name", "testport0"),
            ("__meta_kubernetes_service_port_number", "31900"),
            ("__meta_kubernetes_service_port_protocol", "TCP"),
        ])]
    );
}

/// Go's `makeEndpoints`.
fn endpoints() -> o::Endpoints {
    parse(json!({
        "metadata": {"name": "testendpoints", "namespace": "default",
            "annotations": {"test.annotation": "test"}},
        "subsets": [
            {"addresses": [{"ip": "1.2.3.4", "hostname": "testendpoint1", "nodeName": "foobar"}],
             "ports": [{"name": "testport", "port": 9000, "protocol": "TCP"}]},
            {"addresses": [{"ip": "2.3.4.5"}], "notReadyAddresses": [{"ip": "2.3.4.5"}],
             "ports": [{"name": "testport", "port": 9001, "protocol": "TCP"}]},
            {"addresses": [{"ip": "6.7.8.9", "targetRef": {"kind": "Node", "name": "barbaz"}}],
             "ports": [{"name": "testport", "port": 9002, "protocol": "TCP"}]}
        ]
    }))
}

fn endpoints_targets() -> Vec<Labels> {
    vec![
        ls(&[
            ("__address__", "1.2.3.4:9000"),
            ("__meta_kubernetes_endpoint_hostname", "testendpoint1"),
            ("__meta_kubernetes_endpoint_node_name", "foobar"),
            ("__meta_kubernetes_endpoint_port_name", "testport"),
            ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
            ("__meta_kubernetes_endpoint_ready", "true"),
        ]),
        ls(&[
            ("__address__", "2.3.4.5:9001"),
            ("__meta_kubernetes_endpoint_port_name", "testport"),
            ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
            ("__meta_kubernetes_endpoint_ready", "true"),
        ]),
        ls(&[
            ("__address__", "2.3.4.5:9001"),
            ("__meta_kubernetes_endpoint_port_name", "testport"),
            ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
            ("__meta_kubernetes_endpoint_ready", "false"),
        ]),
        ls(&[
            ("__address__", "6.7.8.9:9002"),
            ("__meta_kubernetes_endpoint_address_target_kind", "Node"),
            ("__meta_kubernetes_endpoint_address_target_name", "barbaz"),
            ("__meta_kubernetes_endpoint_port_name", "testport"),
            ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
            ("__meta_kubernetes_endpoint_ready", "true"),
        ]),
    ]
}

/// `TestEndpointsDiscoveryBeforeRun` and `TestEndpointsDiscoveryWithService`.
#[test]
fn endpoints_targets_per_address_and_port() {
    let g = t::build_endpoints(&endpoints(), &Fake::default());
    assert_eq!(g.source, "endpoints/default/testendpoints");
    assert_eq!(g.targets, endpoints_targets());
    assert_eq!(
        g.labels,
        ls(&[
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_endpoints_name", "testendpoints"),
            (
                "__meta_kubernetes_endpoints_annotation_test_annotation",
                "test"
            ),
            (
                "__meta_kubernetes_endpoints_annotationpresent_test_annotation",
                "true"
            ),
        ])
    );

    let lookup = Fake {
        services: vec![parse(json!({"metadata": {"name": "testendpoints",
            "namespace": "default", "labels": {"app/name": "test"}}}))],
        ..Fake::default()
    };
    let g = t::build_endpoints(&endpoints(), &lookup);
    assert_eq!(g.targets, endpoints_targets());
    assert_eq!(
        g.labels,
        ls(&[
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_endpoints_name", "testendpoints"),
            ("__meta_kubernetes_service_label_app_name", "test"),
            ("__meta_kubernetes_service_labelpresent_app_name", "true"),
            ("__meta_kubernetes_service_name", "testendpoints"),
            (
                "__meta_kubernetes_endpoints_annotation_test_annotation",
                "test"
            ),
            (
                "__meta_kubernetes_endpoints_annotationpresent_test_annotation",
                "true"
            ),
        ])
    );
}

fn two_container_pod() -> o::Pod {
    parse(json!({
        "metadata": {"name": "testpod", "namespace": "default", "uid": "deadbeef"},
        "spec": {"nodeName": "testnode", "containers": [
            {"name": "c1", "image": "c1:latest",
             "ports": [{"name": "mainport", "containerPort": 9000, "protocol": "TCP"}]},
            {"name": "c2", "image": "c2:latest",
             "ports": [{"name": "sideport", "containerPort": 9001, "protocol": "TCP"}]}
        ]},
        "status": {"hostIP": "2.3.4.5", "podIP": "1.2.3.4"}
    }))
}

fn pod_target_labels() -> Vec<(&'static str, &'static str)> {
    vec![
        ("__meta_kubernetes_pod_name", "testpod"),
        ("__meta_kubernetes_pod_ip", "1.2.3.4"),
        ("__meta_kubernetes_pod_ready", "unknown"),
        ("__meta_kubernetes_pod_phase", ""),
        ("__meta_kubernetes_pod_node_name", "testnode"),
        ("__meta_kubernetes_pod_host_ip", "2.3.4.5"),
        ("__meta_kubernetes_pod_uid", "deadbeef"),
    ]
}

/// `TestEndpointsDiscoveryAdd`: an address of a known pod carries the pod's labels and its
/// matching container port; the pod's other ports become targets of their own.
#[test]
fn endpoints_of_a_pod_carry_pod_labels_and_uncovered_ports() {
    let eps: o::Endpoints = parse(json!({
        "metadata": {"name": "testendpoints", "namespace": "default"},
        "subsets": [{
            "addresses": [{"ip": "4.3.2.1", "targetRef": {"kind": "Pod", "name": "testpod", "namespace": "default"}}],
            "ports": [{"name": "testport", "port": 9000, "protocol": "TCP"}]
        }]
    }));
    let lookup = Fake {
        pods: vec![two_container_pod()],
        ..Fake::default()
    };
    let g = t::build_endpoints(&eps, &lookup);
    let mut first = vec![
        ("__address__", "4.3.2.1:9000"),
        ("__meta_kubernetes_endpoint_port_name", "testport"),
        ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
        ("__meta_kubernetes_endpoint_ready", "true"),
        ("__meta_kubernetes_endpoint_address_target_kind", "Pod"),
        ("__meta_kubernetes_endpoint_address_target_name", "testpod"),
        ("__meta_kubernetes_pod_container_name", "c1"),
        ("__meta_kubernetes_pod_container_image", "c1:latest"),
        ("__meta_kubernetes_pod_container_port_name", "mainport"),
        ("__meta_kubernetes_pod_container_port_number", "9000"),
        ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
        ("__meta_kubernetes_pod_container_init", "false"),
    ];
    first.extend(pod_target_labels());
    let mut second = vec![
        ("__address__", "1.2.3.4:9001"),
        ("__meta_kubernetes_pod_container_name", "c2"),
        ("__meta_kubernetes_pod_container_image", "c2:latest"),
        ("__meta_kubernetes_pod_container_port_name", "sideport"),
        ("__meta_kubernetes_pod_container_port_number", "9001"),
        ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
        ("__meta_kubernetes_pod_container_init", "false"),
    ];
    second.extend(pod_target_labels());
    assert_eq!(g.targets, vec![ls(&first), ls(&second)]);
    assert_eq!(
        g.labels,
        ls(&[
            ("__meta_kubernetes_endpoints_name", "testendpoints"),
            ("__meta_kubernetes_namespace", "default"),
        ])
    );
}

/// `TestEndpointsDiscoveryWithNodeMetadata`: node labels on the targets of addresses with
/// a node name or a Node target.
#[test]
fn endpoints_with_node_metadata() {
    let lookup = Fake {
        nodes: vec![
            node("foobar", "1.1.1.1", json!({"az": "us-east1"})),
            node("barbaz", "2.2.2.2", json!({"az": "us-west2"})),
        ],
        attach_node: true,
        ..Fake::default()
    };
    let g = t::build_endpoints(&endpoints(), &lookup);
    assert_eq!(
        g.targets[0].get("__meta_kubernetes_node_label_az"),
        Some("us-east1")
    );
    assert_eq!(
        g.targets[0].get("__meta_kubernetes_node_name"),
        Some("foobar")
    );
    assert_eq!(g.targets[1].get("__meta_kubernetes_node_name"), None);
    assert_eq!(
        g.targets[3].get("__meta_kubernetes_node_label_az"),
        Some("us-west2")
    );
}

/// Go's `makeEndpointSliceV1`.
fn endpoint_slice() -> o::EndpointSlice {
    parse(json!({
        "metadata": {"name": "testendpoints", "namespace": "default",
            "labels": {"kubernetes.io/service-name": "testendpoints"},
            "annotations": {"test.annotation": "test"}},
        "addressType": "IPv4",
        "ports": [{"name": "testport", "port": 9000, "protocol": "TCP", "appProtocol": "http"}],
        "endpoints": [
            {"addresses": ["1.2.3.4"],
             "conditions": {"ready": true, "serving": true, "terminating": false},
             "hostname": "testendpoint1", "targetRef": {}, "nodeName": "foobar",
             "deprecatedTopology": {"topology": "value"}, "zone": "us-east-1a"},
            {"addresses": ["2.3.4.5"],
             "conditions": {"ready": true, "serving": true, "terminating": false},
             "zone": "us-east-1b"},
            {"addresses": ["3.4.5.6"],
             "conditions": {"ready": false, "serving": true, "terminating": true},
             "zone": "us-east-1c"},
            {"addresses": ["4.5.6.7"],
             "conditions": {"ready": true, "serving": true, "terminating": false},
             "targetRef": {"kind": "Node", "name": "barbaz"}, "zone": "us-east-1a"}
        ]
    }))
}

#[test]
fn endpointslice_targets_per_endpoint_and_port() {
    let lookup = Fake {
        services: vec![parse(json!({"metadata": {"name": "testendpoints",
            "namespace": "default", "labels": {"app/name": "test"}}}))],
        ..Fake::default()
    };
    let g = t::build_endpointslice(&endpoint_slice(), &lookup);
    assert_eq!(g.source, "endpointslice/default/testendpoints");
    let port = [
        ("__meta_kubernetes_endpointslice_port", "9000"),
        ("__meta_kubernetes_endpointslice_port_name", "testport"),
        ("__meta_kubernetes_endpointslice_port_protocol", "TCP"),
        ("__meta_kubernetes_endpointslice_port_app_protocol", "http"),
    ];
    let target = |extra: &[(&'static str, &'static str)]| {
        let mut v: Vec<(&str, &str)> = port.to_vec();
        v.extend_from_slice(extra);
        ls(&v)
    };
    assert_eq!(
        g.targets,
        vec![
            target(&[
                ("__address__", "1.2.3.4:9000"),
                ("__meta_kubernetes_endpointslice_address_target_kind", ""),
                ("__meta_kubernetes_endpointslice_address_target_name", ""),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
                    "true"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
                    "true"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
                    "false"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_hostname",
                    "testendpoint1"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_node_name",
                    "foobar"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_topology_present_topology",
                    "true"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_topology_topology",
                    "value"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_zone",
                    "us-east-1a"
                ),
            ]),
            target(&[
                ("__address__", "2.3.4.5:9000"),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
                    "true"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
                    "true"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
                    "false"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_zone",
                    "us-east-1b"
                ),
            ]),
            target(&[
                ("__address__", "3.4.5.6:9000"),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
                    "false"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
                    "true"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
                    "true"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_zone",
                    "us-east-1c"
                ),
            ]),
            target(&[
                ("__address__", "4.5.6.7:9000"),
                (
                    "__meta_kubernetes_endpointslice_address_target_kind",
                    "Node"
                ),
                (
                    "__meta_kubernetes_endpointslice_address_target_name",
                    "barbaz"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
                    "true"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
                    "true"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
                    "false"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_zone",
                    "us-east-1a"
                ),
            ]),
        ]
    );
    assert_eq!(
        g.labels,
        ls(&[
            ("__meta_kubernetes_endpointslice_address_type", "IPv4"),
            ("__meta_kubernetes_endpointslice_name", "testendpoints"),
            (
                "__meta_kubernetes_endpointslice_label_kubernetes_io_service_name",
                "testendpoints"
            ),
            (
                "__meta_kubernetes_endpointslice_labelpresent_kubernetes_io_service_name",
                "true"
            ),
            (
                "__meta_kubernetes_endpointslice_annotation_test_annotation",
                "test"
            ),
            (
                "__meta_kubernetes_endpointslice_annotationpresent_test_annotation",
                "true"
            ),
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_service_label_app_name", "test"),
            ("__meta_kubernetes_service_labelpresent_app_name", "true"),
            ("__meta_kubernetes_service_name", "testendpoints"),
        ])
    );
}

#[test]
fn endpointslice_of_a_pod_carries_pod_labels_and_uncovered_ports() {
    let slice: o::EndpointSlice = parse(json!({
        "metadata": {"name": "testendpoints", "namespace": "default"},
        "addressType": "IPv4",
        "ports": [{"name": "testport", "port": 9000, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["4.3.2.1"],
            "targetRef": {"kind": "Pod", "name": "testpod", "namespace": "default"},
            "conditions": {"ready": true}}]
    }));
    let lookup = Fake {
        pods: vec![two_container_pod()],
        ..Fake::default()
    };
    let g = t::build_endpointslice(&slice, &lookup);
    assert_eq!(g.targets.len(), 2);
    assert_eq!(
        g.targets[0].get("__meta_kubernetes_pod_container_name"),
        Some("c1")
    );
    assert_eq!(
        g.targets[0].get("__meta_kubernetes_pod_uid"),
        Some("deadbeef")
    );
    assert_eq!(g.targets[1].get("__address__"), Some("1.2.3.4:9001"));
    assert_eq!(
        g.targets[1].get("__meta_kubernetes_pod_container_port_name"),
        Some("sideport")
    );
    // A port without a number: the bare address.
    let slice: o::EndpointSlice = parse(json!({
        "metadata": {"name": "s", "namespace": "default"},
        "ports": [{"name": "noport"}],
        "endpoints": [{"addresses": ["4.3.2.1"]}]
    }));
    let g = t::build_endpointslice(&slice, &Fake::default());
    assert_eq!(
        g.targets,
        vec![ls(&[
            ("__address__", "4.3.2.1"),
            ("__meta_kubernetes_endpointslice_port_name", "noport"),
        ])]
    );
}

fn ingress(tls: serde_json::Value) -> o::Ingress {
    parse(json!({
        "metadata": {"name": "testingress", "namespace": "default",
            "labels": {"test/label": "testvalue"},
            "annotations": {"test/annotation": "testannotationvalue"}},
        "spec": {
            "ingressClassName": "testclass",
            "tls": tls,
            "rules": [
                {"host": "example.com", "http": {"paths": [{"path": "/"}, {"path": "/foo"}]}},
                {"host": "test.example.com", "http": {"paths": [{}]}},
                {"host": "nohttp.example.com"}
            ]
        }
    }))
}

fn ingress_targets(schemes: [&str; 3]) -> Vec<Labels> {
    let t = |scheme: &str, host: &str, path: &str| {
        ls(&[
            ("__address__", host),
            ("__meta_kubernetes_ingress_scheme", scheme),
            ("__meta_kubernetes_ingress_host", host),
            ("__meta_kubernetes_ingress_path", path),
        ])
    };
    vec![
        t(schemes[0], "example.com", "/"),
        t(schemes[0], "example.com", "/foo"),
        t(schemes[1], "test.example.com", "/"),
        t(schemes[2], "nohttp.example.com", "/"),
    ]
}

#[test]
fn ingress_targets_per_rule_and_path_with_tls_schemes() {
    let g = t::build_ingress(&ingress(json!([])), &Fake::default());
    assert_eq!(g.source, "ingress/default/testingress");
    assert_eq!(g.targets, ingress_targets(["http", "http", "http"]));
    assert_eq!(
        g.labels,
        ls(&[
            ("__meta_kubernetes_ingress_name", "testingress"),
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_ingress_class_name", "testclass"),
            ("__meta_kubernetes_ingress_label_test_label", "testvalue"),
            ("__meta_kubernetes_ingress_labelpresent_test_label", "true"),
            (
                "__meta_kubernetes_ingress_annotation_test_annotation",
                "testannotationvalue"
            ),
            (
                "__meta_kubernetes_ingress_annotationpresent_test_annotation",
                "true"
            ),
        ])
    );
    let g = t::build_ingress(
        &ingress(json!([{"hosts": ["example.com", "test.example.com"]}])),
        &Fake::default(),
    );
    assert_eq!(g.targets, ingress_targets(["https", "https", "http"]));
    // A wildcard covers one first label, not the bare domain.
    let g = t::build_ingress(
        &ingress(json!([{"hosts": ["*.example.com"]}])),
        &Fake::default(),
    );
    assert_eq!(g.targets, ingress_targets(["http", "https", "https"]));
}

#[test]
fn label_names_are_sanitized() {
    assert_eq!(
        t::sanitize("app.kubernetes.io/name"),
        "app_kubernetes_io_name"
    );
    assert_eq!(t::sanitize("a-b_c9"), "a_b_c9");
}

fn pod_json(name: &str, ip: &str, node: &str) -> serde_json::Value {
    json!({
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": "1"},
        "spec": {"nodeName": node, "containers": [{"name": "c", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]},
        "status": {"podIP": ip}
    })
}

fn obj(kind: Kind, v: serde_json::Value) -> Object {
    Object::parse(kind, v).unwrap()
}

fn state(role: Kind, informers: usize, attach_node: bool) -> State {
    State {
        role,
        stores: Stores {
            attach_node,
            ..Stores::default()
        },
        listed: std::collections::BTreeSet::new(),
        informers,
        synced: false,
        metrics: Metrics::new(),
    }
}

fn sources(groups: &[TargetGroup]) -> Vec<(&str, usize)> {
    groups
        .iter()
        .map(|g| (g.source.as_str(), g.targets.len()))
        .collect()
}

#[test]
fn store_sends_nothing_until_every_informer_listed_then_follows_events() {
    let mut s = state(Kind::Pod, 2, true);
    let out = s.apply(Update::Listed {
        informer: 0,
        kind: Kind::Pod,
        namespace: None,
        objects: vec![
            obj(Kind::Pod, pod_json("a", "10.0.0.1", "n1")),
            obj(Kind::Pod, pod_json("b", "10.0.0.2", "n2")),
        ],
    });
    assert!(out.is_empty());
    let out = s.apply(Update::Listed {
        informer: 1,
        kind: Kind::Node,
        namespace: None,
        objects: vec![obj(
            Kind::Node,
            json!({"metadata": {"name": "n1", "labels": {"zone": "z1"}}}),
        )],
    });
    assert_eq!(sources(&out), [("pod/ns/a", 1), ("pod/ns/b", 1)]);
    assert_eq!(
        out[0].labels.get("__meta_kubernetes_node_label_zone"),
        Some("z1")
    );

    // A node change resends the pods on it.
    let out = s.apply(Update::Upsert(
        Kind::Node,
        obj(
            Kind::Node,
            json!({"metadata": {"name": "n1", "labels": {"zone": "z2"}}}),
        ),
    ));
    assert_eq!(sources(&out), [("pod/ns/a", 1)]);
    assert_eq!(
        out[0].labels.get("__meta_kubernetes_node_label_zone"),
        Some("z2")
    );

    // A deleted pod leaves an empty group.
    let out = s.apply(Update::Delete(
        Kind::Pod,
        obj(Kind::Pod, pod_json("b", "", "")),
    ));
    assert_eq!(out, vec![t::empty("pod/ns/b".into())]);

    // A relist drops what it no longer has.
    let out = s.apply(Update::Listed {
        informer: 0,
        kind: Kind::Pod,
        namespace: None,
        objects: vec![obj(Kind::Pod, pod_json("c", "10.0.0.3", "n1"))],
    });
    assert_eq!(sources(&out), [("pod/ns/a", 0), ("pod/ns/c", 1)]);

    // Every object event counted by role, as Go's informer handlers count them: pods a, b
    // and c added, b deleted and a dropped by the relist; node n1 added and updated.
    let k = &s.metrics.sd().kubernetes;
    assert_eq!(
        (
            k.events("pod", "add"),
            k.events("pod", "update"),
            k.events("pod", "delete")
        ),
        (3, 0, 2)
    );
    assert_eq!(
        (k.events("node", "add"), k.events("node", "update")),
        (1, 1)
    );
}

#[test]
fn store_resends_endpoints_when_their_service_or_pod_changes() {
    let mut s = state(Kind::Endpoints, 3, false);
    let eps = json!({
        "metadata": {"name": "svc", "namespace": "ns"},
        "subsets": [{"addresses": [{"ip": "10.0.0.1", "targetRef": {"kind": "Pod", "name": "a", "namespace": "ns"}}],
            "ports": [{"port": 80}]}]
    });
    for (i, kind, objects) in [
        (0, Kind::Endpoints, vec![obj(Kind::Endpoints, eps.clone())]),
        (1, Kind::Service, vec![]),
        (2, Kind::Pod, vec![]),
    ] {
        s.apply(Update::Listed {
            informer: i,
            kind,
            namespace: None,
            objects,
        });
    }
    let out = s.apply(Update::Upsert(
        Kind::Service,
        obj(
            Kind::Service,
            json!({"metadata": {"name": "svc", "namespace": "ns"}}),
        ),
    ));
    assert_eq!(sources(&out), [("endpoints/ns/svc", 1)]);
    assert_eq!(
        out[0].labels.get("__meta_kubernetes_service_name"),
        Some("svc")
    );
    let out = s.apply(Update::Upsert(
        Kind::Pod,
        obj(Kind::Pod, pod_json("a", "10.0.0.1", "n")),
    ));
    assert_eq!(sources(&out), [("endpoints/ns/svc", 1)]);
    assert_eq!(
        out[0].targets[0].get("__meta_kubernetes_pod_name"),
        Some("a")
    );
    // Another service changes nothing.
    let out = s.apply(Update::Upsert(
        Kind::Service,
        obj(
            Kind::Service,
            json!({"metadata": {"name": "other", "namespace": "ns"}}),
        ),
    ));
    assert!(out.is_empty());
}

#[test]
fn watch_lines_are_split_across_chunks() {
    let mut r = client::EventReader::default();
    r.push(b"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n\n{\"type\":\"DEL");
    let e = r.next_event().unwrap().unwrap();
    assert_eq!(e.kind, "ADDED");
    assert!(r.next_event().is_none());
    r.push(b"ETED\",\"object\":{}}\nnot json\n");
    assert_eq!(r.next_event().unwrap().unwrap().kind, "DELETED");
    assert!(r.next_event().unwrap().is_err());
}

#[test]
fn resource_paths_and_namespaces() {
    assert_eq!(Kind::Pod.path(None), "/api/v1/pods");
    assert_eq!(Kind::Pod.path(Some("ns")), "/api/v1/namespaces/ns/pods");
    assert_eq!(
        Kind::EndpointSlice.path(Some("ns")),
        "/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices"
    );
    assert_eq!(
        Kind::Ingress.path(None),
        "/apis/networking.k8s.io/v1/ingresses"
    );

    let cfg = |yaml: &str| -> KubernetesSdConfig { serde_saphyr::from_str(yaml).unwrap() };
    let endpoint = Endpoint {
        server: "http://127.0.0.1:1".into(),
        http: config::HttpClientConfig::default(),
        own_namespace: Some("mine".into()),
        counted: true,
    };
    let d = Discovery::with_endpoint(&cfg("role: endpoints\n"), endpoint.clone());
    assert_eq!(d.namespaces, vec![None]);
    assert_eq!(
        d.resources(),
        [
            (Kind::Endpoints, true),
            (Kind::Service, true),
            (Kind::Pod, true)
        ]
    );
    let d = Discovery::with_endpoint(
        &cfg(
            "role: pod\nnamespaces: {names: [a], own_namespace: true}\nattach_metadata: {node: true}\nselectors: [{role: pod, label: 'x=y'}]\n",
        ),
        endpoint,
    );
    assert_eq!(d.namespaces, vec![Some("a".into()), Some("mine".into())]);
    assert_eq!(d.resources(), [(Kind::Pod, true), (Kind::Node, false)]);
    assert_eq!(d.selectors["pod"].label, "x=y");
    let d = Discovery::with_endpoint(
        &cfg("role: service\nattach_metadata: {node: true, namespace: true}\n"),
        d.endpoint.clone(),
    );
    assert_eq!(
        d.resources(),
        [(Kind::Service, true), (Kind::Namespace, false)]
    );
}

#[test]
fn in_cluster_configuration_reads_the_service_account() {
    let dir = tempfile::tempdir().unwrap();
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let err = client::in_cluster(env(&[]), dir.path(), false).unwrap_err();
    assert_eq!(
        err,
        "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined"
    );
    let vars = env(&[
        ("KUBERNETES_SERVICE_HOST", "fd00::1"),
        ("KUBERNETES_SERVICE_PORT", "443"),
    ]);
    assert!(
        client::in_cluster(vars, dir.path(), false).is_err(),
        "no token"
    );
    std::fs::write(dir.path().join("token"), "tok").unwrap();
    std::fs::write(dir.path().join("namespace"), "monitoring").unwrap();
    let e = client::in_cluster(vars, dir.path(), true).unwrap();
    assert_eq!(e.server, "https://[fd00::1]:443");
    assert_eq!(e.own_namespace.as_deref(), Some("monitoring"));
    let auth = e.http.authorization.unwrap();
    assert_eq!(auth.r#type, "Bearer");
    assert_eq!(
        auth.credentials_file,
        dir.path().join("token").display().to_string()
    );
}

#[test]
fn kubeconfig_current_context_gives_server_and_credentials() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let ca = base64::engine::general_purpose::STANDARD.encode("PEM CA");
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: b\ncontexts:\n- name: a\n  context: {{cluster: one, user: u1}}\n- name: b\n  context: {{cluster: two, user: u2}}\nclusters:\n- name: one\n  cluster: {{server: 'https://one:6443'}}\n- name: two\n  cluster:\n    server: 'https://two:6443'\n    certificate-authority-data: {ca}\nusers:\n- name: u1\n  user: {{token: t1}}\n- name: u2\n  user: {{tokenFile: tok, client-certificate: certs/c.pem, client-key: /abs/k.pem}}\n"
        ),
    )
    .unwrap();
    let e = client::kubeconfig(&path).unwrap();
    assert_eq!(e.server, "https://two:6443");
    assert_eq!(e.http.tls_config.ca, "PEM CA");
    assert_eq!(
        e.http.tls_config.cert_file,
        dir.path().join("certs/c.pem").display().to_string()
    );
    assert_eq!(e.http.tls_config.key_file, "/abs/k.pem");
    assert_eq!(
        e.http.authorization.unwrap().credentials_file,
        dir.path().join("tok").display().to_string()
    );

    std::fs::write(
        &path,
        "current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: 'https://c'}}]\nusers: [{name: u, user: {exec: {command: aws}}}]\n",
    )
    .unwrap();
    let err = client::kubeconfig(&path).unwrap_err();
    assert!(
        err.contains("exec and auth-provider credentials are not supported"),
        "{err}"
    );
}

#[test]
fn unsupported_options_are_named() {
    let cfg = |yaml: &str| -> KubernetesSdConfig { serde_saphyr::from_str(yaml).unwrap() };
    assert_eq!(unsupported_option(&cfg("role: pod\n")), None);
    let mut bad = cfg("role: pod\n");
    bad.role = "vacation".into();
    assert_eq!(
        unsupported_option(&bad).as_deref(),
        Some("role \"vacation\"")
    );
}

#[test]
fn store_resends_endpointslices_of_a_changed_service_and_everything_on_a_secondary_relist() {
    let mut s = state(Kind::EndpointSlice, 3, false);
    let slice = |name: &str, svc: &str| {
        obj(
            Kind::EndpointSlice,
            json!({
                "metadata": {"name": name, "namespace": "ns", "labels": {"kubernetes.io/service-name": svc}},
                "ports": [{"port": 80}],
                "endpoints": [{"addresses": ["10.0.0.1"]}]
            }),
        )
    };
    s.apply(Update::Listed {
        informer: 0,
        kind: Kind::EndpointSlice,
        namespace: Some("ns".into()),
        objects: vec![
            slice("web-1", "web"),
            slice("web-2", "web"),
            slice("db-1", "db"),
        ],
    });
    s.apply(Update::Listed {
        informer: 1,
        kind: Kind::Pod,
        namespace: Some("ns".into()),
        objects: vec![],
    });
    let out = s.apply(Update::Listed {
        informer: 2,
        kind: Kind::Service,
        namespace: Some("ns".into()),
        objects: vec![],
    });
    assert_eq!(out.len(), 3);
    let out = s.apply(Update::Upsert(
        Kind::Service,
        obj(
            Kind::Service,
            json!({"metadata": {"name": "web", "namespace": "ns"}}),
        ),
    ));
    assert_eq!(
        sources(&out),
        [("endpointslice/ns/web-1", 1), ("endpointslice/ns/web-2", 1)]
    );
    assert_eq!(
        out[0].labels.get("__meta_kubernetes_service_name"),
        Some("web")
    );
    // The service is gone after a relist of services: every group is rebuilt without it.
    let out = s.apply(Update::Listed {
        informer: 2,
        kind: Kind::Service,
        namespace: Some("ns".into()),
        objects: vec![],
    });
    assert_eq!(out.len(), 3);
    assert!(
        out.iter()
            .all(|g| g.labels.get("__meta_kubernetes_service_name").is_none())
    );
}

/// Go's `makePods(ns)`.
fn simple_pod(ns: &str) -> o::Pod {
    parse(json!({
        "metadata": {"name": "testpod", "namespace": ns, "uid": "abc123"},
        "spec": {"nodeName": "testnode", "containers": [{"name": "testcontainer",
            "image": "testcontainer:latest",
            "ports": [{"name": "testport", "protocol": "TCP", "containerPort": 9000}]}]},
        "status": {"podIP": "1.2.3.4", "hostIP": "2.3.4.5", "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "testcontainer", "containerID": "docker://a1b2c3d4e5f6"}]}
    }))
}

/// `TestPodDiscoveryWithNamespaceMetadata`.
#[test]
fn pod_with_namespace_metadata_attached() {
    let lookup = Fake {
        namespaces: vec![parse(json!({"metadata": {"name": "test-ns",
            "labels": {"app": "web", "tier": "frontend"},
            "annotations": {"maintainer": "devops", "build": "v3.4.5"}}}))],
        attach_namespace: true,
        ..Fake::default()
    };
    let g = t::build_pod(&simple_pod("test-ns"), &lookup);
    assert_eq!(
        g.targets,
        vec![ls(&[
            ("__address__", "1.2.3.4:9000"),
            (
                "__meta_kubernetes_pod_container_image",
                "testcontainer:latest"
            ),
            ("__meta_kubernetes_pod_container_name", "testcontainer"),
            ("__meta_kubernetes_pod_container_port_name", "testport"),
            ("__meta_kubernetes_pod_container_port_number", "9000"),
            ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
            ("__meta_kubernetes_pod_container_init", "false"),
            (
                "__meta_kubernetes_pod_container_id",
                "docker://a1b2c3d4e5f6"
            ),
        ])]
    );
    assert_eq!(
        g.labels,
        ls(&[
            ("__meta_kubernetes_namespace", "test-ns"),
            (
                "__meta_kubernetes_namespace_annotation_maintainer",
                "devops"
            ),
            (
                "__meta_kubernetes_namespace_annotationpresent_maintainer",
                "true"
            ),
            ("__meta_kubernetes_namespace_annotation_build", "v3.4.5"),
            (
                "__meta_kubernetes_namespace_annotationpresent_build",
                "true"
            ),
            ("__meta_kubernetes_namespace_label_app", "web"),
            ("__meta_kubernetes_namespace_labelpresent_app", "true"),
            ("__meta_kubernetes_namespace_label_tier", "frontend"),
            ("__meta_kubernetes_namespace_labelpresent_tier", "true"),
            ("__meta_kubernetes_pod_name", "testpod"),
            ("__meta_kubernetes_pod_ip", "1.2.3.4"),
            ("__meta_kubernetes_pod_ready", "true"),
            ("__meta_kubernetes_pod_phase", "Running"),
            ("__meta_kubernetes_pod_node_name", "testnode"),
            ("__meta_kubernetes_pod_host_ip", "2.3.4.5"),
            ("__meta_kubernetes_pod_uid", "abc123"),
        ])
    );
    // Services, endpoints, endpointslices and ingresses get them on the group too.
    let svc = t::build_service(
        &parse(json!({"metadata": {"name": "s", "namespace": "test-ns"}})),
        &lookup,
    );
    assert_eq!(
        svc.labels.get("__meta_kubernetes_namespace_label_app"),
        Some("web")
    );
    let ing = t::build_ingress(
        &parse(json!({"metadata": {"name": "i", "namespace": "test-ns"}})),
        &lookup,
    );
    assert_eq!(
        ing.labels.get("__meta_kubernetes_namespace_label_tier"),
        Some("frontend")
    );
    let eps = t::build_endpoints(
        &parse(json!({"metadata": {"name": "e", "namespace": "test-ns"}})),
        &lookup,
    );
    assert_eq!(
        eps.labels
            .get("__meta_kubernetes_namespace_annotation_build"),
        Some("v3.4.5")
    );
    let es = t::build_endpointslice(
        &parse(json!({"metadata": {"name": "e", "namespace": "test-ns"}})),
        &lookup,
    );
    assert_eq!(
        es.labels.get("__meta_kubernetes_namespace_label_app"),
        Some("web")
    );
    // Another namespace: nothing.
    let g = t::build_pod(&simple_pod("other"), &lookup);
    assert_eq!(g.labels.get("__meta_kubernetes_namespace_label_app"), None);
}

#[test]
fn pod_ip_families_and_ipv6_portless_targets() {
    let mut pod = simple_pod("default");
    pod.status.pod_ip = "fd00::5".into();
    pod.status.pod_ips = parse(json!([
        {"ip": "fd00::5"}, {"ip": "10.0.0.5"}, {"ip": "fd00::6"}, {"ip": "10.0.0.6"}
    ]));
    pod.spec.containers[0].ports.clear();
    let g = t::build_pod(&pod, &Fake::default());
    assert_eq!(g.labels.get("__meta_kubernetes_pod_ipv4"), Some("10.0.0.5"));
    assert_eq!(g.labels.get("__meta_kubernetes_pod_ipv6"), Some("fd00::5"));
    assert_eq!(g.targets[0].get("__address__"), Some("[fd00::5]"));
    let mut pod = simple_pod("default");
    pod.status.pod_ip = "fd00::5".into();
    let g = t::build_pod(&pod, &Fake::default());
    assert_eq!(g.targets[0].get("__address__"), Some("[fd00::5]:9000"));
    assert_eq!(g.labels.get("__meta_kubernetes_pod_ipv4"), None);
}

#[test]
fn store_resends_the_groups_of_a_changed_namespace() {
    let mut s = state(Kind::Service, 2, false);
    s.stores.attach_namespace = true;
    let svc = |ns: &str| {
        obj(
            Kind::Service,
            json!({"metadata": {"name": "s", "namespace": ns}}),
        )
    };
    s.apply(Update::Listed {
        informer: 0,
        kind: Kind::Service,
        namespace: None,
        objects: vec![svc("a"), svc("b")],
    });
    let out = s.apply(Update::Listed {
        informer: 1,
        kind: Kind::Namespace,
        namespace: None,
        objects: vec![],
    });
    assert_eq!(sources(&out), [("svc/a/s", 0), ("svc/b/s", 0)]);
    let out = s.apply(Update::Upsert(
        Kind::Namespace,
        obj(
            Kind::Namespace,
            json!({"metadata": {"name": "b", "labels": {"team": "x"}}}),
        ),
    ));
    assert_eq!(sources(&out), [("svc/b/s", 0)]);
    assert_eq!(
        out[0].labels.get("__meta_kubernetes_namespace_label_team"),
        Some("x")
    );
}

proptest::proptest! {
    /// However the watch stream is cut into chunks, the same events come out, in order.
    #[test]
    fn watch_events_survive_any_chunking(
        names in proptest::collection::vec("[a-z0-9\\-]{1,12}", 1..8),
        cuts in proptest::collection::vec(0usize..400, 0..10),
    ) {
        let mut stream = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let kind = ["ADDED", "MODIFIED", "DELETED", "BOOKMARK"][i % 4];
            let line = json!({"type": kind, "object": {"metadata": {"name": name}}}).to_string();
            stream.extend_from_slice(line.as_bytes());
            stream.push(b'\n');
        }
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(stream.len());
        let mut reader = client::EventReader::default();
        let mut got = Vec::new();
        let mut start = 0;
        for cut in cuts {
            reader.push(&stream[start..cut.max(start)]);
            start = cut.max(start);
            while let Some(e) = reader.next_event() {
                let e = e.unwrap();
                got.push(e.object["metadata"]["name"].as_str().unwrap().to_owned());
            }
        }
        proptest::prop_assert_eq!(got, names);
    }
}
