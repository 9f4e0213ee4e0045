//! Kubernetes service discovery (`kubernetes_sd_configs`).

use crate::config_struct;
use crate::http_config::{HttpClientConfig, Url};
use crate::yaml::Validate;

const ROLES: &[&str] = &[
    "pod",
    "service",
    "endpoints",
    "endpointslice",
    "node",
    "ingress",
];

config_struct! {
    /// `kubernetes_sd_configs` entry.
    #[derive(Default)]
    pub struct KubernetesSdConfig [go = "*kubernetes.SDConfig", "kubernetes.plain"] {
        /// API server URL (in-cluster configuration when absent).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub api_server: Option<Url>,
        /// Role: pod, service, endpoints, endpointslice, node or ingress.
        pub role: String,
        /// Kubeconfig file (instead of `api_server` and HTTP options).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub kubeconfig_file: String,
        /// Namespaces to watch.
        pub namespaces: NamespaceDiscovery,
        /// Label and field selectors per role.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub selectors: Vec<SelectorConfig>,
        /// Extra metadata to attach.
        pub attach_metadata: AttachMetadata,
    }
    inline {
        /// HTTP client options (only with `api_server`).
        pub http_client_config: HttpClientConfig,
    }
}

config_struct! {
    /// Which namespaces Kubernetes SD watches.
    #[derive(Default)]
    pub struct NamespaceDiscovery [go = "kubernetes.NamespaceDiscovery", "kubernetes.plain"] {
        /// Also watch the namespace Prometheus runs in.
        pub own_namespace: bool,
        /// Namespaces (all when empty).
        pub names: Vec<String>,
    }
}

impl Validate for NamespaceDiscovery {}

config_struct! {
    /// A label/field selector for one role.
    #[derive(Default)]
    pub struct SelectorConfig [go = "kubernetes.SelectorConfig", "kubernetes.SelectorConfig"] {
        /// The role the selector applies to.
        pub role: String,
        /// Label selector.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub label: String,
        /// Field selector.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub field: String,
    }
}

impl Validate for SelectorConfig {}

config_struct! {
    /// Metadata to attach to discovered targets.
    #[derive(Default)]
    pub struct AttachMetadata [go = "kubernetes.AttachMetadataConfig", "kubernetes.AttachMetadataConfig"] {
        /// Attach node metadata (pod, endpoints, endpointslice roles).
        pub node: bool,
        /// Attach namespace metadata.
        pub namespace: bool,
    }
}

impl Validate for AttachMetadata {}

/// Checks a field selector the way `fields.ParseSelector` does: comma-separated
/// `key=value`, `key==value` or `key!=value` terms.
fn check_field_selector(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Ok(());
    }
    for term in s.split(',') {
        let ok = term.contains("!=") || term.contains('=');
        if !ok {
            return Err(format!(
                "invalid selector: '{s}'; can't understand '{term}'"
            ));
        }
    }
    Ok(())
}

/// Checks a label selector for the obvious mistakes `labels.Parse` rejects: unbalanced
/// parentheses and empty terms.
fn check_label_selector(s: &str) -> Result<(), String> {
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return Err(format!(
                "unable to parse requirement: unbalanced ')' in label selector '{s}'"
            ));
        }
    }
    if depth != 0 {
        return Err(format!(
            "unable to parse requirement: unbalanced '(' in label selector '{s}'"
        ));
    }
    Ok(())
}

impl Validate for KubernetesSdConfig {
    fn validate(&mut self) -> Result<(), String> {
        if self.role.is_empty() {
            return Err(
                "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)"
                    .into(),
            );
        }
        if !ROLES.contains(&self.role.as_str()) {
            return Err(format!("unknown Kubernetes SD role {:?}", self.role));
        }
        // Go checks each role as it reads it, selectors' too.
        if let Some(sel) = self
            .selectors
            .iter()
            .find(|sel| !ROLES.contains(&sel.role.as_str()))
        {
            return Err(format!("unknown Kubernetes SD role {:?}", sel.role));
        }
        self.http_client_config.check()?;
        let api_server = self
            .api_server
            .as_ref()
            .is_some_and(|u| !u.as_str().is_empty());
        if api_server && !self.kubeconfig_file.is_empty() {
            return Err("cannot use 'kubeconfig_file' and 'api_server' simultaneously".into());
        }
        let custom_http = !self.http_client_config.is_default();
        if !self.kubeconfig_file.is_empty() && custom_http {
            return Err(
                "cannot use a custom HTTP client configuration together with 'kubeconfig_file'"
                    .into(),
            );
        }
        if !api_server && custom_http {
            return Err(
                "to use custom HTTP client configuration please provide the 'api_server' URL explicitly"
                    .into(),
            );
        }
        if api_server && self.namespaces.own_namespace {
            return Err(
                "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously".into(),
            );
        }
        if !self.kubeconfig_file.is_empty() && self.namespaces.own_namespace {
            return Err(
                "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously".into(),
            );
        }
        let allowed: &[&str] = match self.role.as_str() {
            "pod" => &["pod", "node"],
            "service" => &["service"],
            "endpoints" => &["pod", "service", "endpoints"],
            "endpointslice" => &["pod", "service", "endpointslice"],
            "node" => &["node"],
            _ => &["ingress"],
        };
        let mut seen: Vec<&str> = Vec::new();
        for sel in &self.selectors {
            if seen.contains(&sel.role.as_str()) {
                return Err(format!("duplicated selector role: {}", sel.role));
            }
            seen.push(&sel.role);
            if !allowed.contains(&sel.role.as_str()) {
                // Go lists the role's own selectors; for pods, node selectors are also
                // accepted (they filter the nodes attached as metadata).
                let listed = if self.role == "pod" {
                    "pod".to_string()
                } else {
                    allowed.join(", ")
                };
                return Err(format!(
                    "{} role supports only {listed} selectors",
                    self.role
                ));
            }
            check_field_selector(&sel.field)?;
            check_label_selector(&sel.label)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn load(s: &str) -> Result<KubernetesSdConfig, String> {
        yaml::from_str(s).map_err(|e| e.message)
    }

    #[test]
    fn roles_and_selectors_are_checked() {
        assert!(load("role: pod").is_ok());
        assert!(load("role: vacation").unwrap_err().contains("role"));
        let err = load("role: node\nselectors: [{role: pod}]").unwrap_err();
        assert!(
            err.contains("node role supports only node selectors"),
            "{err}"
        );
        let err = load("role: pod\nselectors: [{role: pod, field: a-b}]").unwrap_err();
        assert!(err.contains("invalid selector: 'a-b'"), "{err}");
    }

    #[test]
    fn http_options_need_an_api_server() {
        let err = load("role: pod\nbasic_auth: {username: u}").unwrap_err();
        assert!(err.contains("provide the 'api_server'"), "{err}");
        assert!(load("role: pod\napi_server: https://k:6443\nbasic_auth: {username: u}").is_ok());
    }
}
