//! Kubernetes service discovery (`kubernetes_sd_configs`), as Prometheus's
//! `discovery/kubernetes`: lists and watches the API server's objects of a role (pods,
//! nodes, services, endpoints, endpointslices or ingresses, plus the objects whose metadata
//! their targets carry) and keeps one target group per object, named `<kind>/<namespace>/
//! <name>` (`node/<name>` for nodes). A deleted object's group comes back empty.
//!
//! Each resource has an informer task per namespace: it lists (with the role's label and
//! field selectors), sends the whole list, then watches from the list's resource version
//! (newline-delimited JSON events `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`, `ERROR`),
//! watching again from the last version seen when a watch ends, and listing again when the
//! version is gone (410). One task owns the object stores: once every informer has listed,
//! it sends every group, then the groups each event changes (a node, namespace, service or
//! pod change resends the groups that carry its metadata).

mod client;
mod objects;
mod targets;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use config::discovery::KubernetesSdConfig;
use http_body_util::BodyExt;
use model::TargetGroup;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use client::{Client, Endpoint, EventReader, Kind, Selector, WatchError};

use crate::metrics::Metrics;
use objects::{EndpointSlice, Endpoints, Ingress, Namespace, Node, ObjectMeta, Pod, Service};

/// The roles this crate implements.
pub const ROLES: &[&str] = &[
    "pod",
    "node",
    "service",
    "endpoints",
    "endpointslice",
    "ingress",
];

/// What the configuration asks that this crate does not do: the option's name, or `None`.
pub(crate) fn unsupported_option(cfg: &KubernetesSdConfig) -> Option<String> {
    if !ROLES.contains(&cfg.role.as_str()) {
        return Some(format!("role {:?}", cfg.role));
    }
    None
}

/// Builds (and drops) the HTTP client of an `api_server` configuration, so that unusable
/// HTTP options fail when the configuration is applied. Kubeconfig and in-cluster
/// configurations are read when the provider starts.
///
/// # Errors
/// The HTTP client options cannot be used.
pub(crate) fn check_client(cfg: &KubernetesSdConfig) -> Result<(), httpclient::Error> {
    if cfg.kubeconfig_file.is_empty()
        && let Some(url) = &cfg.api_server
        && !url.as_str().is_empty()
    {
        httpclient::HttpClient::new(&cfg.http_client_config)?;
    }
    Ok(())
}

/// One API object of any kind.
#[derive(Debug, Clone)]
enum Object {
    Pod(Box<Pod>),
    Node(Box<Node>),
    Service(Box<Service>),
    Endpoints(Box<Endpoints>),
    EndpointSlice(Box<EndpointSlice>),
    Ingress(Box<Ingress>),
    Namespace(Box<Namespace>),
}

impl Object {
    fn parse(kind: Kind, value: serde_json::Value) -> Result<Object, serde_json::Error> {
        Ok(match kind {
            Kind::Pod => Object::Pod(serde_json::from_value(value)?),
            Kind::Node => Object::Node(serde_json::from_value(value)?),
            Kind::Service => Object::Service(serde_json::from_value(value)?),
            Kind::Endpoints => Object::Endpoints(serde_json::from_value(value)?),
            Kind::EndpointSlice => Object::EndpointSlice(serde_json::from_value(value)?),
            Kind::Ingress => Object::Ingress(serde_json::from_value(value)?),
            Kind::Namespace => Object::Namespace(serde_json::from_value(value)?),
        })
    }

    fn meta(&self) -> &ObjectMeta {
        match self {
            Object::Pod(o) => &o.metadata,
            Object::Node(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::Endpoints(o) => &o.metadata,
            Object::EndpointSlice(o) => &o.metadata,
            Object::Ingress(o) => &o.metadata,
            Object::Namespace(o) => &o.metadata,
        }
    }
}

/// What an informer reports.
#[derive(Debug)]
enum Update {
    /// A (re)list: the informer's whole view of its resource.
    Listed {
        informer: usize,
        kind: Kind,
        namespace: Option<String>,
        objects: Vec<Object>,
    },
    /// An object was added or changed.
    Upsert(Kind, Object),
    /// An object was deleted.
    Delete(Kind, Object),
}

/// The objects known, by kind and key.
#[derive(Debug, Default)]
struct Stores {
    objects: BTreeMap<Kind, BTreeMap<String, Object>>,
    attach_node: bool,
    attach_namespace: bool,
}

impl targets::Lookup for Stores {
    fn node(&self, name: &str) -> Option<&Node> {
        match self.objects.get(&Kind::Node)?.get(name)? {
            Object::Node(n) => Some(n),
            _ => None,
        }
    }

    fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        match self
            .objects
            .get(&Kind::Pod)?
            .get(&objects::key(namespace, name))?
        {
            Object::Pod(p) => Some(p),
            _ => None,
        }
    }

    fn service(&self, namespace: &str, name: &str) -> Option<&Service> {
        match self
            .objects
            .get(&Kind::Service)?
            .get(&objects::key(namespace, name))?
        {
            Object::Service(s) => Some(s),
            _ => None,
        }
    }

    fn namespace(&self, name: &str) -> Option<&Namespace> {
        match self.objects.get(&Kind::Namespace)?.get(name)? {
            Object::Namespace(n) => Some(n),
            _ => None,
        }
    }

    fn attach_node(&self) -> bool {
        self.attach_node
    }

    fn attach_namespace(&self) -> bool {
        self.attach_namespace
    }
}

/// One Kubernetes SD provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    role: Kind,
    endpoint: Endpoint,
    namespaces: Vec<Option<String>>,
    selectors: BTreeMap<&'static str, Selector>,
    attach_node: bool,
    attach_namespace: bool,
}

/// The resource a role's groups are made of.
fn role_kind(role: &str) -> Kind {
    match role {
        "node" => Kind::Node,
        "service" => Kind::Service,
        "endpoints" => Kind::Endpoints,
        "endpointslice" => Kind::EndpointSlice,
        "ingress" => Kind::Ingress,
        _ => Kind::Pod,
    }
}

impl Discovery {
    /// A provider for `cfg` (Go's `kubernetes.New`).
    ///
    /// # Errors
    /// The API server cannot be determined: an unusable kubeconfig file, or no in-cluster
    /// configuration.
    pub(crate) fn new(cfg: &KubernetesSdConfig) -> Result<Discovery, String> {
        let endpoint = Endpoint::from_config(cfg)?;
        Ok(Discovery::with_endpoint(cfg, endpoint))
    }

    fn with_endpoint(cfg: &KubernetesSdConfig, endpoint: Endpoint) -> Discovery {
        let mut names: Vec<String> = cfg.namespaces.names.clone();
        let namespaces = if names.is_empty() && !cfg.namespaces.own_namespace {
            vec![None]
        } else {
            if cfg.namespaces.own_namespace
                && let Some(own) = &endpoint.own_namespace
            {
                names.push(own.clone());
            }
            names.into_iter().map(Some).collect()
        };
        let selectors = cfg
            .selectors
            .iter()
            .map(|s| {
                (
                    role_kind(&s.role).selector_role(),
                    Selector {
                        label: s.label.clone(),
                        field: s.field.clone(),
                    },
                )
            })
            .collect();
        Discovery {
            role: role_kind(&cfg.role),
            endpoint,
            namespaces,
            selectors,
            attach_node: cfg.attach_metadata.node,
            attach_namespace: cfg.attach_metadata.namespace,
        }
    }

    /// The resources to watch: (kind, namespaced). The role's own first.
    fn resources(&self) -> Vec<(Kind, bool)> {
        let mut out = vec![(self.role, self.role != Kind::Node)];
        match self.role {
            Kind::Endpoints | Kind::EndpointSlice => {
                out.push((Kind::Service, true));
                out.push((Kind::Pod, true));
            }
            _ => {}
        }
        let node_metadata = matches!(self.role, Kind::Pod | Kind::Endpoints | Kind::EndpointSlice);
        if self.attach_node && node_metadata {
            out.push((Kind::Node, false));
        }
        if self.attach_namespace && self.role != Kind::Node {
            out.push((Kind::Namespace, false));
        }
        out
    }

    /// Runs until `cancel`: informers per resource and namespace, and the store task that
    /// hands changed groups to `send`. Object events count in
    /// `prometheus_sd_kubernetes_events_total` and failed LIST and WATCH requests in
    /// `prometheus_sd_kubernetes_failures_total`, both in `metrics`.
    pub(crate) async fn run(
        self,
        cancel: CancellationToken,
        send: impl Fn(Vec<TargetGroup>) + Send,
        metrics: Metrics,
    ) {
        let client = match Client::new(&self.endpoint) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(err = %e, "Cannot create Kubernetes service discovery");
                return;
            }
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut tasks = tokio::task::JoinSet::new();
        let mut informers = 0;
        for (kind, namespaced) in self.resources() {
            let namespaces = if namespaced {
                self.namespaces.clone()
            } else {
                vec![None]
            };
            let selector = self
                .selectors
                .get(kind.selector_role())
                .cloned()
                .unwrap_or_default();
            for namespace in namespaces {
                let informer = Informer {
                    id: informers,
                    kind,
                    namespace,
                    selector: selector.clone(),
                    client: client.clone(),
                    tx: tx.clone(),
                    metrics: metrics.clone(),
                };
                informers += 1;
                tasks.spawn(informer.run());
            }
        }
        drop(tx);
        let mut state = State {
            role: self.role,
            stores: Stores {
                attach_node: self.attach_node,
                attach_namespace: self.attach_namespace,
                ..Stores::default()
            },
            listed: BTreeSet::new(),
            informers,
            synced: false,
            metrics,
        };
        loop {
            let update = tokio::select! {
                () = cancel.cancelled() => break,
                u = rx.recv() => match u {
                    Some(u) => u,
                    None => break,
                },
            };
            let mut groups = state.apply(update);
            // Take what else has arrived, so a burst of events sends once.
            while let Ok(u) = rx.try_recv() {
                groups.extend(state.apply(u));
            }
            if !groups.is_empty() {
                let mut by_source: BTreeMap<String, TargetGroup> = BTreeMap::new();
                for g in groups {
                    by_source.insert(g.source.clone(), g);
                }
                send(by_source.into_values().collect());
            }
        }
        tasks.abort_all();
    }
}

/// The store task's state.
#[derive(Debug)]
struct State {
    role: Kind,
    stores: Stores,
    listed: BTreeSet<usize>,
    informers: usize,
    synced: bool,
    metrics: Metrics,
}

impl State {
    /// Applies an update to the stores; the groups to send.
    fn apply(&mut self, update: Update) -> Vec<TargetGroup> {
        let events = &self.metrics.sd().kubernetes;
        // Counts an object event as Go's informer handlers see it.
        let count = |kind: Kind, existed: bool, exists: bool| {
            let event = match (existed, exists) {
                (_, false) => "delete",
                (false, true) => "add",
                (true, true) => "update",
            };
            events.event(kind.selector_role(), event);
        };
        let mut changed: Vec<(Kind, Object, bool)> = Vec::new();
        // A relist of another resource rebuilds every group instead of matching each
        // object against each group.
        let mut rebuild_all = false;
        match update {
            Update::Listed {
                informer,
                kind,
                namespace,
                objects,
            } => {
                self.listed.insert(informer);
                rebuild_all = kind != self.role;
                let store = self.stores.objects.entry(kind).or_default();
                let fresh: BTreeSet<String> = objects.iter().map(|o| o.meta().key()).collect();
                let gone: Vec<String> = store
                    .iter()
                    .filter(|(k, o)| {
                        namespace
                            .as_ref()
                            .is_none_or(|ns| &o.meta().namespace == ns)
                            && !fresh.contains(*k)
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in gone {
                    if let Some(o) = store.remove(&k) {
                        count(kind, true, false);
                        changed.push((kind, o, false));
                    }
                }
                for o in objects {
                    let existed = store.insert(o.meta().key(), o.clone()).is_some();
                    count(kind, existed, true);
                    changed.push((kind, o, true));
                }
            }
            Update::Upsert(kind, o) => {
                let existed = self
                    .stores
                    .objects
                    .entry(kind)
                    .or_default()
                    .insert(o.meta().key(), o.clone())
                    .is_some();
                count(kind, existed, true);
                changed.push((kind, o, true));
            }
            Update::Delete(kind, o) => {
                if let Some(store) = self.stores.objects.get_mut(&kind) {
                    store.remove(&o.meta().key());
                }
                count(kind, true, false);
                changed.push((kind, o, false));
            }
        }
        if !self.synced || rebuild_all {
            if self.listed.len() < self.informers {
                return Vec::new();
            }
            // Every informer has listed: send every group.
            self.synced = true;
            let keys: Vec<String> = self
                .stores
                .objects
                .get(&self.role)
                .map(|s| s.keys().cloned().collect())
                .unwrap_or_default();
            return keys.iter().filter_map(|k| self.group(k)).collect();
        }
        let mut keys: BTreeSet<String> = BTreeSet::new();
        let mut out = Vec::new();
        for (kind, o, exists) in changed {
            if kind == self.role {
                let k = o.meta().key();
                if !exists {
                    out.push(targets::empty(self.source_of(&o)));
                    keys.remove(&k);
                } else {
                    keys.insert(k);
                }
                continue;
            }
            keys.extend(self.dependents(kind, &o));
        }
        out.extend(keys.iter().filter_map(|k| self.group(k)));
        out
    }

    fn source_of(&self, o: &Object) -> String {
        let m = o.meta();
        match self.role {
            Kind::Pod => targets::pod_source(&m.namespace, &m.name),
            Kind::Node => targets::node_source(&m.name),
            Kind::Service => targets::service_source(&m.namespace, &m.name),
            Kind::Endpoints => targets::endpoints_source(&m.namespace, &m.name),
            Kind::EndpointSlice => targets::endpointslice_source(&m.namespace, &m.name),
            Kind::Ingress => targets::ingress_source(&m.namespace, &m.name),
            Kind::Namespace => format!("namespace/{}", m.name),
        }
    }

    /// The group of the role's object with key `key`, if it is known.
    fn group(&self, key: &str) -> Option<TargetGroup> {
        let o = self.stores.objects.get(&self.role)?.get(key)?;
        let lookup = &self.stores;
        match o {
            Object::Pod(p) => Some(targets::build_pod(p, lookup)),
            Object::Node(n) => targets::build_node(n),
            Object::Service(s) => Some(targets::build_service(s, lookup)),
            Object::Endpoints(e) => Some(targets::build_endpoints(e, lookup)),
            Object::EndpointSlice(e) => Some(targets::build_endpointslice(e, lookup)),
            Object::Ingress(i) => Some(targets::build_ingress(i, lookup)),
            Object::Namespace(_) => None,
        }
    }

    /// The keys of the role's objects whose groups carry metadata of `o` (a node, service,
    /// pod or namespace).
    fn dependents(&self, kind: Kind, o: &Object) -> Vec<String> {
        let Some(store) = self.stores.objects.get(&self.role) else {
            return Vec::new();
        };
        let m = o.meta();
        if kind == Kind::Namespace {
            return store
                .iter()
                .filter(|(_, obj)| obj.meta().namespace == m.name)
                .map(|(k, _)| k.clone())
                .collect();
        }
        let node_match = |node: Option<&str>, target: Option<&objects::ObjectReference>| {
            kind == Kind::Node
                && (node == Some(m.name.as_str())
                    || target.is_some_and(|r| r.kind == "Node" && r.name == m.name))
        };
        let pod_match = |target: Option<&objects::ObjectReference>| {
            kind == Kind::Pod
                && target.is_some_and(|r| r.kind == "Pod" && targets::reference_key(r) == m.key())
        };
        store
            .iter()
            .filter(|(_, obj)| match obj {
                Object::Pod(p) => kind == Kind::Node && p.spec.node_name == m.name,
                Object::Endpoints(e) => {
                    (kind == Kind::Service && e.metadata.key() == m.key())
                        || e.subsets.iter().any(|s| {
                            s.addresses.iter().chain(&s.not_ready_addresses).any(|a| {
                                node_match(a.node_name.as_deref(), a.target_ref.as_ref())
                                    || pod_match(a.target_ref.as_ref())
                            })
                        })
                }
                Object::EndpointSlice(e) => {
                    (kind == Kind::Service
                        && e.metadata.namespace == m.namespace
                        && targets::slice_service(e) == Some(m.name.as_str()))
                        || e.endpoints.iter().any(|ep| {
                            node_match(ep.node_name.as_deref(), ep.target_ref.as_ref())
                                || pod_match(ep.target_ref.as_ref())
                        })
                }
                _ => false,
            })
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// Lists and watches one resource in one namespace (or all), reporting to the store task.
struct Informer {
    id: usize,
    kind: Kind,
    namespace: Option<String>,
    selector: Selector,
    client: Client,
    tx: mpsc::UnboundedSender<Update>,
    metrics: Metrics,
}

/// The first pause after a failure; doubled up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Informer {
    async fn run(self) {
        let mut backoff = MIN_BACKOFF;
        loop {
            let rv = match self.list().await {
                Ok(rv) => {
                    backoff = MIN_BACKOFF;
                    rv
                }
                Err(e) => {
                    self.metrics.sd().kubernetes.failures.inc();
                    tracing::error!(resource = ?self.kind, err = %e, "Failed to list Kubernetes objects");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            if self.tx.is_closed() {
                return;
            }
            self.watch_until_gone(rv).await;
        }
    }

    /// Lists and reports; the list's resource version.
    async fn list(&self) -> Result<String, String> {
        let (items, rv) = self
            .client
            .list(self.kind, self.namespace.as_deref(), &self.selector)
            .await?;
        let mut objects = Vec::with_capacity(items.len());
        for item in items {
            match Object::parse(self.kind, item) {
                Ok(o) => objects.push(o),
                Err(e) => {
                    tracing::error!(resource = ?self.kind, err = %e, "Skipping an object that cannot be decoded");
                }
            }
        }
        let _ = self.tx.send(Update::Listed {
            informer: self.id,
            kind: self.kind,
            namespace: self.namespace.clone(),
            objects,
        });
        Ok(rv)
    }

    /// Watches from `rv`, again from the last version after a watch ends, until the version
    /// is gone.
    async fn watch_until_gone(&self, mut rv: String) {
        let mut backoff = MIN_BACKOFF;
        loop {
            if self.tx.is_closed() {
                return;
            }
            // Like client-go: a server-side timeout between 5 and 10 minutes.
            let timeout = Duration::from_secs(300 + u64::from(rand_byte()) % 300);
            let body = match self
                .client
                .watch(
                    self.kind,
                    self.namespace.as_deref(),
                    &self.selector,
                    &rv,
                    timeout,
                )
                .await
            {
                Ok(b) => b,
                Err(WatchError::Gone) => {
                    self.metrics.sd().kubernetes.failures.inc();
                    return;
                }
                Err(WatchError::Other(e)) => {
                    self.metrics.sd().kubernetes.failures.inc();
                    tracing::warn!(resource = ?self.kind, err = %e, "Kubernetes watch failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            let started = tokio::time::Instant::now();
            // The server ends the watch after `timeout`; a connection that died silently is
            // given up a minute later.
            let read = tokio::time::timeout(
                timeout + Duration::from_secs(60),
                self.read_events(body, &mut rv),
            );
            let result = read.await.unwrap_or_else(|_| {
                Err(WatchError::Other(
                    "the watch outlived its timeout without ending".into(),
                ))
            });
            match result {
                // A watch that ends at once without events is retried after a pause, so a
                // server that closes watches cannot make this loop spin.
                Ok(0) if started.elapsed() < Duration::from_secs(1) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Ok(_) => backoff = MIN_BACKOFF,
                Err(WatchError::Gone) => {
                    self.metrics.sd().kubernetes.failures.inc();
                    return;
                }
                Err(WatchError::Other(e)) => {
                    self.metrics.sd().kubernetes.failures.inc();
                    tracing::warn!(resource = ?self.kind, err = %e, "Kubernetes watch ended");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Reads a watch stream to its end, reporting the events and following the resource
    /// version; how many events came.
    async fn read_events(
        &self,
        mut body: hyper::body::Incoming,
        rv: &mut String,
    ) -> Result<usize, WatchError> {
        let mut reader = EventReader::default();
        let mut events = 0;
        loop {
            let frame = match body.frame().await {
                None => return Ok(events),
                Some(Err(e)) => return Err(WatchError::Other(format!("reading the watch: {e}"))),
                Some(Ok(f)) => f,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            reader.push(&data);
            while let Some(event) = reader.next_event() {
                let event = event.map_err(WatchError::Other)?;
                events += 1;
                match event.kind.as_str() {
                    "ERROR" => {
                        let status: objects::Status =
                            serde_json::from_value(event.object).unwrap_or_default();
                        if status.code == 410
                            || status.reason == "Expired"
                            || status.reason == "Gone"
                        {
                            return Err(WatchError::Gone);
                        }
                        return Err(WatchError::Other(format!(
                            "watch error {}: {}",
                            status.code, status.message
                        )));
                    }
                    "BOOKMARK" => {
                        if let Some(v) = event
                            .object
                            .pointer("/metadata/resourceVersion")
                            .and_then(|v| v.as_str())
                        {
                            *rv = v.to_owned();
                        }
                    }
                    kind @ ("ADDED" | "MODIFIED" | "DELETED") => {
                        let o = Object::parse(self.kind, event.object).map_err(|e| {
                            WatchError::Other(format!("decoding a watched object: {e}"))
                        })?;
                        if !o.meta().resource_version.is_empty() {
                            rv.clone_from(&o.meta().resource_version);
                        }
                        let update = if kind == "DELETED" {
                            Update::Delete(self.kind, o)
                        } else {
                            Update::Upsert(self.kind, o)
                        };
                        if self.tx.send(update).is_err() {
                            return Ok(events);
                        }
                    }
                    other => {
                        tracing::debug!(event = %other, "Ignoring an unknown watch event");
                    }
                }
            }
        }
    }
}

/// A cheap random byte for spreading watch timeouts.
fn rand_byte() -> u8 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish().to_le_bytes()[0]
}

#[cfg(test)]
mod tests;
