//! The Kubernetes API client: where the API server is and how to authenticate (`api_server`
//! with the HTTP client options, a kubeconfig file, or the in-cluster service account),
//! and the list and watch requests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use config::discovery::KubernetesSdConfig;
use config::http_config::{Authorization, BasicAuth, TlsConfig};
use config::{HttpClientConfig, Secret};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use super::objects::{List, Status, WatchEvent};

/// The service account directory of a pod.
pub(crate) const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

const USER_AGENT: &str = concat!("Prometheus/", env!("CARGO_PKG_VERSION"));

/// How long a list request may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(60);

/// Objects per list page.
const LIST_PAGE: &str = "500";

/// The resources Kubernetes SD lists and watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    Pod,
    Node,
    Service,
    Endpoints,
    EndpointSlice,
    Ingress,
    Namespace,
}

impl Kind {
    /// The role whose `selectors` entry applies to this resource.
    pub(crate) fn selector_role(self) -> &'static str {
        match self {
            Kind::Pod => "pod",
            Kind::Node => "node",
            Kind::Service => "service",
            Kind::Endpoints => "endpoints",
            Kind::EndpointSlice => "endpointslice",
            Kind::Ingress => "ingress",
            Kind::Namespace => "namespace",
        }
    }

    /// The API path of the collection, in one namespace or in all.
    pub(crate) fn path(self, namespace: Option<&str>) -> String {
        let (group, plural) = match self {
            Kind::Pod => ("/api/v1", "pods"),
            Kind::Node => ("/api/v1", "nodes"),
            Kind::Service => ("/api/v1", "services"),
            Kind::Endpoints => ("/api/v1", "endpoints"),
            Kind::EndpointSlice => ("/apis/discovery.k8s.io/v1", "endpointslices"),
            Kind::Ingress => ("/apis/networking.k8s.io/v1", "ingresses"),
            Kind::Namespace => ("/api/v1", "namespaces"),
        };
        match namespace {
            Some(ns) if !ns.is_empty() => format!("{group}/namespaces/{ns}/{plural}"),
            _ => format!("{group}/{plural}"),
        }
    }
}

/// Label and field selectors of one resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Selector {
    pub(crate) label: String,
    pub(crate) field: String,
}

/// Why a watch ended.
#[derive(Debug)]
pub(crate) enum WatchError {
    /// The resource version is too old (410 Gone): list again.
    Gone,
    /// Anything else: watch again from the same version after a pause.
    Other(String),
}

/// A client of one API server.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    base: String,
    http: httpclient::HttpClient,
}

/// Where the API server is and the HTTP options to reach it; what `rest.Config` holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Endpoint {
    pub(crate) server: String,
    pub(crate) http: HttpClientConfig,
    /// The namespace Prometheus runs in (in-cluster with `own_namespace` only).
    pub(crate) own_namespace: Option<String>,
    /// Whether its connections count as dialer `kubernetes_sd`: with `api_server` only,
    /// as in Prometheus, whose in-cluster and kubeconfig clients are client-go's.
    pub(crate) counted: bool,
}

impl Endpoint {
    /// The API server of `cfg`: `api_server` with its HTTP options, the kubeconfig file's
    /// current context, or the in-cluster configuration.
    ///
    /// # Errors
    /// A message when the kubeconfig cannot be used or the in-cluster configuration is
    /// missing.
    pub(crate) fn from_config(cfg: &KubernetesSdConfig) -> Result<Endpoint, String> {
        if !cfg.kubeconfig_file.is_empty() {
            return kubeconfig(Path::new(&cfg.kubeconfig_file));
        }
        match &cfg.api_server {
            Some(url) if !url.as_str().is_empty() => Ok(Endpoint {
                server: url.as_str().to_owned(),
                http: cfg.http_client_config.clone(),
                own_namespace: None,
                counted: true,
            }),
            _ => in_cluster(
                |k| std::env::var(k).ok(),
                Path::new(SERVICE_ACCOUNT_DIR),
                cfg.namespaces.own_namespace,
            ),
        }
    }
}

/// The in-cluster configuration (client-go's `rest.InClusterConfig`): the API server from
/// `KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT`, the service account's token
/// (re-read at every request, it rotates) and CA from `dir`.
pub(crate) fn in_cluster(
    env: impl Fn(&str) -> Option<String>,
    dir: &Path,
    own_namespace: bool,
) -> Result<Endpoint, String> {
    let (Some(host), Some(port)) = (
        env("KUBERNETES_SERVICE_HOST").filter(|h| !h.is_empty()),
        env("KUBERNETES_SERVICE_PORT").filter(|p| !p.is_empty()),
    ) else {
        return Err("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined".into());
    };
    let token = dir.join("token");
    std::fs::metadata(&token).map_err(|e| format!("open {}: {e}", token.display()))?;
    let mut http = HttpClientConfig {
        authorization: Some(Authorization {
            r#type: "Bearer".into(),
            credentials_file: token.display().to_string(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let ca = dir.join("ca.crt");
    if ca.exists() {
        http.tls_config.ca_file = ca.display().to_string();
    } else {
        tracing::error!(file = %ca.display(), "Expected to load root CA config, but the file does not exist");
    }
    let own_namespace = if own_namespace {
        let path = dir.join("namespace");
        let ns = std::fs::read_to_string(&path)
            .map_err(|e| format!("could not determine the pod's namespace: {e}"))?;
        if ns.is_empty() {
            return Err("could not read own namespace name (empty file)".into());
        }
        Some(ns)
    } else {
        None
    };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    Ok(Endpoint {
        server: format!("https://{host}:{port}"),
        http,
        own_namespace,
        counted: false,
    })
}

/// The parts of a kubeconfig file Kubernetes SD uses.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct KubeConfig {
    current_context: String,
    contexts: Vec<Named<KubeContext>>,
    clusters: Vec<Named<KubeCluster>>,
    users: Vec<Named<KubeUser>>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Named<T> {
    name: String,
    #[serde(alias = "context", alias = "cluster", alias = "user")]
    value: T,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct KubeContext {
    cluster: String,
    user: String,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct KubeCluster {
    server: String,
    certificate_authority: String,
    certificate_authority_data: String,
    insecure_skip_tls_verify: bool,
    tls_server_name: String,
    proxy_url: String,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct KubeUser {
    token: String,
    #[serde(rename = "tokenFile")]
    token_file: String,
    client_certificate: String,
    client_certificate_data: String,
    client_key: String,
    client_key_data: String,
    username: String,
    password: String,
    exec: Option<serde_json::Value>,
    auth_provider: Option<serde_json::Value>,
}

/// Reads a kubeconfig file (client-go's `BuildConfigFromFlags("", path)`): the cluster and
/// user of its current context. Relative file names are relative to the file's directory.
pub(crate) fn kubeconfig(path: &Path) -> Result<Endpoint, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading kubeconfig {}: {e}", path.display()))?;
    let kc: KubeConfig = serde_saphyr::from_str(&text)
        .map_err(|e| format!("parsing kubeconfig {}: {e}", path.display()))?;
    if kc.current_context.is_empty() {
        return Err(format!(
            "invalid configuration: no configuration has been provided in {}",
            path.display()
        ));
    }
    let ctx = kc
        .contexts
        .iter()
        .find(|c| c.name == kc.current_context)
        .ok_or_else(|| {
            format!(
                "context was not found for specified context: {}",
                kc.current_context
            )
        })?;
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == ctx.value.cluster)
        .ok_or_else(|| format!("cluster has no server defined: {}", ctx.value.cluster))?;
    let cluster = &cluster.value;
    if cluster.server.is_empty() {
        return Err(format!(
            "invalid configuration: no server found for cluster {:?}",
            ctx.value.cluster
        ));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let resolve = |f: &str| -> String {
        if f.is_empty() {
            String::new()
        } else {
            let p = PathBuf::from(f);
            if p.is_absolute() {
                f.to_owned()
            } else {
                dir.join(p).display().to_string()
            }
        }
    };
    let decode = |what: &str, data: &str| -> Result<String, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| format!("kubeconfig {}: {what}: {e}", path.display()))?;
        String::from_utf8(bytes)
            .map_err(|_| format!("kubeconfig {}: {what} is not PEM text", path.display()))
    };
    let mut http = HttpClientConfig::default();
    let mut tls = TlsConfig {
        insecure_skip_verify: cluster.insecure_skip_tls_verify,
        server_name: cluster.tls_server_name.clone(),
        ca_file: resolve(&cluster.certificate_authority),
        ..Default::default()
    };
    if !cluster.certificate_authority_data.is_empty() {
        tls.ca = decode(
            "certificate-authority-data",
            &cluster.certificate_authority_data,
        )?;
        tls.ca_file.clear();
    }
    if !cluster.proxy_url.is_empty() {
        http.proxy.proxy_url = Some(
            config::http_config::Url::parse(&cluster.proxy_url)
                .map_err(|e| format!("kubeconfig {}: proxy-url: {e}", path.display()))?,
        );
    }
    if let Some(user) = kc.users.iter().find(|u| u.name == ctx.value.user) {
        let user = &user.value;
        if user.exec.is_some() || user.auth_provider.is_some() {
            return Err(format!(
                "kubeconfig {}: exec and auth-provider credentials are not supported",
                path.display()
            ));
        }
        if !user.client_certificate_data.is_empty() {
            tls.cert = decode("client-certificate-data", &user.client_certificate_data)?;
        } else {
            tls.cert_file = resolve(&user.client_certificate);
        }
        if !user.client_key_data.is_empty() {
            tls.key = Secret::new(decode("client-key-data", &user.client_key_data)?);
        } else {
            tls.key_file = resolve(&user.client_key);
        }
        if !user.token.is_empty() {
            http.authorization = Some(Authorization {
                r#type: "Bearer".into(),
                credentials: Secret::new(user.token.clone()),
                ..Default::default()
            });
        } else if !user.token_file.is_empty() {
            http.authorization = Some(Authorization {
                r#type: "Bearer".into(),
                credentials_file: resolve(&user.token_file),
                ..Default::default()
            });
        } else if !user.username.is_empty() {
            http.basic_auth = Some(BasicAuth {
                username: user.username.clone(),
                password: Secret::new(user.password.clone()),
                ..Default::default()
            });
        }
    }
    http.tls_config = tls;
    Ok(Endpoint {
        server: cluster.server.clone(),
        http,
        own_namespace: None,
        counted: false,
    })
}

impl Client {
    /// A client of `endpoint`.
    ///
    /// # Errors
    /// The HTTP options cannot be used (unreadable TLS files, unsupported options).
    pub(crate) fn new(endpoint: &Endpoint) -> Result<Client, httpclient::Error> {
        Ok(Client {
            base: endpoint.server.trim_end_matches('/').to_owned(),
            http: match httpclient::HttpClient::new(&endpoint.http)? {
                c if endpoint.counted => c.named("kubernetes_sd"),
                c => c.uncounted(),
            },
        })
    }

    fn url(&self, kind: Kind, namespace: Option<&str>, query: &[(&str, &str)]) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in query {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        let q = q.finish();
        let path = kind.path(namespace);
        if q.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?{q}", self.base)
        }
    }

    async fn get(&self, url: &str) -> Result<http::Response<Incoming>, String> {
        let req = http::Request::get(url)
            .header(http::header::USER_AGENT, USER_AGENT)
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("building request for {url}: {e}"))?;
        self.http.send(req).await.map_err(|e| e.to_string())
    }

    /// Lists a resource: its objects (as JSON) and the list's resource version. Pages of
    /// [`LIST_PAGE`] objects, as client-go's pager asks.
    ///
    /// # Errors
    /// A message for a failed request, a status other than 200 (including an expired
    /// continue token), or a body that is not a list.
    pub(crate) async fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        selector: &Selector,
    ) -> Result<(Vec<serde_json::Value>, String), String> {
        let mut items = Vec::new();
        let mut token = String::new();
        loop {
            let url = self.url(
                kind,
                namespace,
                &[
                    ("labelSelector", &selector.label),
                    ("fieldSelector", &selector.field),
                    ("limit", LIST_PAGE),
                    ("continue", &token),
                ],
            );
            let page = tokio::time::timeout(LIST_TIMEOUT, self.list_page(&url))
                .await
                .map_err(|_| format!("Get {url:?}: context deadline exceeded"))??;
            items.extend(page.items);
            if page.metadata.continue_token.is_empty() {
                return Ok((items, page.metadata.resource_version));
            }
            token = page.metadata.continue_token;
        }
    }

    async fn list_page(&self, url: &str) -> Result<List<serde_json::Value>, String> {
        let resp = self.get(url).await?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer of {url}: {e}"))?
            .to_bytes();
        if status != http::StatusCode::OK {
            return Err(status_error(url, status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| format!("decoding the list of {url}: {e}"))
    }

    /// Starts a watch from `resource_version`: the response whose body streams the events.
    ///
    /// # Errors
    /// [`WatchError::Gone`] on 410, [`WatchError::Other`] for anything else that failed.
    pub(crate) async fn watch(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        selector: &Selector,
        resource_version: &str,
        timeout: Duration,
    ) -> Result<Incoming, WatchError> {
        let timeout = timeout.as_secs().to_string();
        let url = self.url(
            kind,
            namespace,
            &[
                ("allowWatchBookmarks", "true"),
                ("fieldSelector", &selector.field),
                ("labelSelector", &selector.label),
                ("resourceVersion", resource_version),
                ("timeoutSeconds", &timeout),
                ("watch", "true"),
            ],
        );
        let resp = self.get(&url).await.map_err(WatchError::Other)?;
        let status = resp.status();
        if status == http::StatusCode::GONE {
            return Err(WatchError::Gone);
        }
        if status != http::StatusCode::OK {
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(WatchError::Other(status_error(&url, status, &body)));
        }
        Ok(resp.into_body())
    }
}

/// The error of an answer other than 200, with the API's message when it sent a Status.
fn status_error(url: &str, status: http::StatusCode, body: &[u8]) -> String {
    let message = serde_json::from_slice::<Status>(body)
        .ok()
        .map(|s| s.message)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    format!(
        "Get {url:?}: server returned HTTP status {} {}: {message}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    )
}

/// Splits a watch stream into events: feed it body chunks, take complete lines out.
#[derive(Debug, Default)]
pub(crate) struct EventReader {
    buf: Vec<u8>,
}

impl EventReader {
    /// Adds a chunk of the body.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete event, if a whole line has arrived. Blank lines are skipped.
    ///
    /// # Errors
    /// A line that is not a watch event.
    pub(crate) fn next_event(&mut self) -> Option<Result<WatchEvent, String>> {
        loop {
            let end = self.buf.iter().position(|b| *b == b'\n')?;
            let line: Vec<u8> = self.buf.drain(..=end).collect();
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            return Some(
                serde_json::from_slice(line).map_err(|e| format!("decoding a watch event: {e}")),
            );
        }
    }
}
