//! Amazon EC2 service discovery (`ec2_sd_configs`), as Prometheus's `discovery/aws` EC2
//! role: every `refresh_interval` the region's instances through the EC2 query API
//! (`DescribeInstances` POSTed as a form with the configured `filters`, following
//! `NextToken`), signed with AWS Signature Version 4 (service `ec2`) by the shared HTTP
//! client; one group (source: the region) with a target per instance that has a private
//! IPv4 or an IPv6 address, labelled `__meta_ec2_*`. Availability-zone ids come from
//! `DescribeAvailabilityZones`, asked until it once succeeds.
//!
//! The region is `region`, else `AWS_REGION`, `AWS_DEFAULT_REGION`, the `AWS_PROFILE` (else
//! `default`) profile's in the shared AWS files, else the instance metadata service's
//! ([`region`]); credentials are `access_key`/`secret_key`, else the AWS SDK's
//! default chain (httpclient's sigv4), with `role_arn` assumed through STS (with
//! `external_id` when set). Both are looked up at the first refresh, as upstream does
//! ([`crate::aws::LazyClients`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use config::discovery::AwsSdConfig;
use model::{Labels, TargetGroup};
use roxmltree::Node;

use crate::aws::{Clients, LazyClients};
use crate::util::{join_host_port, sanitize};

const PREFIX: &str = "__meta_ec2_";
const SEPARATOR: &str = ",";
/// The EC2 API version the query requests name.
const API_VERSION: &str = "2016-11-15";

/// One ec2_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    /// Region, API endpoint (`endpoint`, or the region's public one) and signing client,
    /// made at the first refresh.
    clients: LazyClients,
    filters: Vec<(String, Vec<String>)>,
    port: u16,
    timeout: Duration,
    /// Zone name to zone id, once `DescribeAvailabilityZones` succeeded.
    az_ids: Mutex<Option<HashMap<String, String>>>,
}

/// The region of `cfg`, else the one the AWS SDK's default config and the instance
/// metadata service give ([`httpclient::aws_region`], with the environment read through
/// `env`), as upstream's `loadRegion` finds it. Blocks while it asks the metadata service.
///
/// # Errors
/// No region found, worded as upstream: `could not determine AWS region: ...`.
pub(crate) fn region(
    cfg: &AwsSdConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    if !cfg.region.is_empty() {
        return Ok(cfg.region.clone());
    }
    httpclient::aws_region(env).map_err(|e| format!("could not determine AWS region: {e}"))
}

/// The SigV4 options of `cfg` for `service` in `region`: its credentials, and `role_arn`
/// assumed through STS with `external_id`.
pub(crate) fn sigv4_config(
    cfg: &AwsSdConfig,
    region: &str,
    service: &str,
) -> config::remote::SigV4Config {
    config::remote::SigV4Config {
        region: region.to_owned(),
        access_key: cfg.access_key.clone(),
        secret_key: cfg.secret_key.clone(),
        profile: cfg.profile.clone(),
        role_arn: cfg.role_arn.clone(),
        external_id: cfg.external_id.clone(),
        service_name: service.to_owned(),
        ..Default::default()
    }
}

/// The public endpoint of `service` in `region`.
pub(crate) fn default_endpoint(service: &str, region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://{service}.{region}.{suffix}")
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn text(n: Node<'_, '_>, name: &str) -> Option<String> {
    child(n, name).map(|c| c.text().unwrap_or_default().to_owned())
}

/// The `<item>` elements of the set `name` under `n`.
fn items<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Vec<Node<'a, 'i>> {
    child(n, name)
        .map(|s| {
            s.children()
                .filter(|c| c.is_element() && c.tag_name().name() == "item")
                .collect()
        })
        .unwrap_or_default()
}

/// POSTs one EC2 query-API `action` (form-encoded, API version 2016-11-15) to `endpoint`
/// and returns its XML answer; failures worded as the AWS SDK words them. EC2 discovery and
/// ECS discovery (hosts of EC2-backed tasks) both call it.
pub(crate) async fn query(
    client: &httpclient::HttpClient,
    endpoint: &str,
    action: &str,
    params: Vec<(String, String)>,
    timeout: Duration,
) -> Result<String, String> {
    crate::aws::query(
        client,
        endpoint,
        "EC2",
        action,
        API_VERSION,
        params,
        timeout,
    )
    .await
}

impl Discovery {
    /// A provider for `cfg`; its region, credentials and HTTP client options are looked up
    /// at the first refresh ([`LazyClients`]).
    ///
    /// # Errors
    /// None so far: everything that can fail waits for the first refresh.
    pub(crate) fn new(cfg: &AwsSdConfig) -> Result<Discovery, String> {
        Ok(Discovery {
            clients: LazyClients::new(cfg, "EC2", &["ec2"]),
            filters: cfg
                .filters
                .iter()
                .map(|f| (f.name.clone(), f.values.clone()))
                .collect(),
            port: cfg.port,
            timeout: cfg.refresh_interval.to_std().max(Duration::from_millis(1)),
            az_ids: Mutex::new(None),
        })
    }

    /// POSTs one query action and returns its XML answer.
    async fn call(
        &self,
        clients: &Clients,
        action: &str,
        params: Vec<(String, String)>,
    ) -> Result<String, String> {
        query(
            clients.client(),
            &clients.endpoint,
            action,
            params,
            self.timeout,
        )
        .await
    }

    async fn refresh_az_ids(&self, clients: &Clients) -> Result<(), String> {
        let body = self
            .call(clients, "DescribeAvailabilityZones", Vec::new())
            .await?;
        let doc = roxmltree::Document::parse(&body)
            .map_err(|e| format!("decoding DescribeAvailabilityZones: {e}"))?;
        let mut map = HashMap::new();
        for az in items(doc.root_element(), "availabilityZoneInfo") {
            if let (Some(name), Some(id)) = (text(az, "zoneName"), text(az, "zoneId")) {
                map.insert(name, id);
            }
        }
        *self.az_ids.lock().unwrap_or_else(|e| e.into_inner()) = Some(map);
        Ok(())
    }

    /// One refresh: the region's group.
    ///
    /// # Errors
    /// No clients ([`LazyClients::get`]) or a failed `DescribeInstances` page (`could not
    /// describe instances: …`); the caller keeps the last targets.
    pub(crate) async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let clients = self.clients.get().await?;
        let known = self
            .az_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        if !known && let Err(e) = self.refresh_az_ids(clients).await {
            tracing::debug!(err = %e, "Unable to describe availability zones");
        }
        let az_ids = self
            .az_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut filter_params = Vec::new();
        for (i, (name, values)) in self.filters.iter().enumerate() {
            filter_params.push((format!("Filter.{}.Name", i + 1), name.clone()));
            for (j, v) in values.iter().enumerate() {
                filter_params.push((format!("Filter.{}.Value.{}", i + 1, j + 1), v.clone()));
            }
        }
        let mut targets = Vec::new();
        let mut token = String::new();
        loop {
            let mut params = filter_params.clone();
            if !token.is_empty() {
                params.push(("NextToken".to_owned(), token.clone()));
            }
            let body = self
                .call(clients, "DescribeInstances", params)
                .await
                .map_err(|e| format!("could not describe instances: {e}"))?;
            let doc = roxmltree::Document::parse(&body)
                .map_err(|e| format!("could not describe instances: decoding the answer: {e}"))?;
            let root = doc.root_element();
            for r in items(root, "reservationSet") {
                let owner = text(r, "ownerId");
                for inst in items(r, "instancesSet") {
                    if let Some(t) =
                        self.target(&clients.region, inst, owner.as_deref(), az_ids.as_ref())
                    {
                        targets.push(t);
                    }
                }
            }
            token = text(root, "nextToken").unwrap_or_default();
            if token.is_empty() {
                break;
            }
        }
        Ok(vec![TargetGroup {
            targets,
            labels: Labels::empty(),
            source: clients.region.clone(),
        }])
    }

    /// The target of one instance, or none without a private IPv4 or IPv6 address.
    fn target(
        &self,
        region: &str,
        inst: Node<'_, '_>,
        owner: Option<&str>,
        az_ids: Option<&HashMap<String, String>>,
    ) -> Option<Labels> {
        let vpc = text(inst, "vpcId");
        let enis = items(inst, "networkInterfaceSet");
        // IPv6 addresses of interfaces in a subnet; primary ones by device index.
        let mut primary6: Vec<String> = Vec::new();
        let mut all6: Vec<String> = Vec::new();
        let mut subnets: Vec<String> = Vec::new();
        if vpc.is_some() {
            for eni in &enis {
                let Some(subnet) = text(*eni, "subnetId") else {
                    continue;
                };
                if !subnets.contains(&subnet) {
                    subnets.push(subnet);
                }
                let index = child(*eni, "attachment")
                    .and_then(|a| text(a, "deviceIndex"))
                    .and_then(|d| d.trim().parse::<i64>().ok());
                for a in items(*eni, "ipv6AddressesSet") {
                    let Some(addr) = text(a, "ipv6Address") else {
                        continue;
                    };
                    all6.push(addr.clone());
                    if text(a, "isPrimaryIpv6").as_deref() != Some("true") {
                        continue;
                    }
                    let Some(i) = index.and_then(|i| usize::try_from(i).ok()) else {
                        continue;
                    };
                    if primary6.len() <= i {
                        primary6.resize(i + 1, String::new());
                    }
                    primary6[i] = addr;
                }
            }
        }
        let default6 = if vpc.is_some() {
            primary6
                .iter()
                .chain(all6.iter())
                .find(|a| !a.is_empty())
                .cloned()
        } else {
            None
        };
        let private_ip = text(inst, "privateIpAddress");
        if private_ip.is_none() && default6.is_none() {
            return None;
        }
        let mut set: BTreeMap<String, String> = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            set.insert(format!("{PREFIX}{k}"), v);
        };
        put("region", region.to_owned());
        if let Some(id) = text(inst, "instanceId") {
            put("instance_id", id);
        }
        if let Some(o) = owner {
            put("owner_id", o.to_owned());
        }
        if let Some(d) = &default6 {
            put("default_ipv6_address", d.clone());
        }
        let address = match &private_ip {
            Some(ip) => {
                put("private_ip", ip.clone());
                join_host_port(ip, self.port)
            }
            None => join_host_port(default6.as_deref().unwrap_or_default(), self.port),
        };
        if let Some(d) = text(inst, "privateDnsName") {
            put("private_dns_name", d);
        }
        if let Some(p) = text(inst, "platform").filter(|p| !p.is_empty()) {
            put("platform", p);
        }
        if let Some(ip) = text(inst, "ipAddress") {
            put("public_ip", ip);
            if let Some(d) = text(inst, "dnsName") {
                put("public_dns_name", d);
            }
        }
        if !primary6.is_empty() {
            put(
                "primary_ipv6_addresses",
                format!("{SEPARATOR}{}{SEPARATOR}", primary6.join(SEPARATOR)),
            );
        }
        if !all6.is_empty() {
            put(
                "ipv6_addresses",
                format!("{SEPARATOR}{}{SEPARATOR}", all6.join(SEPARATOR)),
            );
        }
        if let Some(ami) = text(inst, "imageId") {
            put("ami", ami);
        }
        if let Some(az) = child(inst, "placement").and_then(|p| text(p, "availabilityZone")) {
            let id = az_ids.and_then(|m| m.get(&az)).cloned().unwrap_or_default();
            if az_ids.is_some() && id.is_empty() {
                tracing::debug!(az = %az, "Availability zone ID not found");
            }
            put("availability_zone", az);
            put("availability_zone_id", id);
        }
        if let Some(state) = child(inst, "instanceState").and_then(|s| text(s, "name")) {
            put("instance_state", state);
        }
        put(
            "instance_type",
            text(inst, "instanceType").unwrap_or_default(),
        );
        if let Some(l) = text(inst, "instanceLifecycle").filter(|l| !l.is_empty()) {
            put("instance_lifecycle", l);
        }
        if let Some(a) = text(inst, "architecture").filter(|a| !a.is_empty()) {
            put("architecture", a);
        }
        if let Some(v) = vpc {
            put("vpc_id", v);
            if let Some(s) = text(inst, "subnetId") {
                put("primary_subnet_id", s);
            }
            put(
                "subnet_id",
                format!("{SEPARATOR}{}{SEPARATOR}", subnets.join(SEPARATOR)),
            );
        }
        for t in items(inst, "tagSet") {
            if let (Some(k), Some(v)) = (text(t, "key"), text(t, "value")) {
                put(&format!("tag_{}", sanitize(&k)), v);
            }
        }
        set.insert("__address__".into(), address);
        Some(Labels::from_pairs(set))
    }
}

#[cfg(test)]
mod tests;
