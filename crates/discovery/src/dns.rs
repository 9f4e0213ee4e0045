//! DNS-based service discovery (`dns_sd_configs`), as Prometheus's `discovery/dns`: every
//! refresh looks up each name (SRV, A, AAAA, MX or NS records) and turns the answers into one
//! target group per name.

use std::net::SocketAddr;

use config::discovery::DnsSdConfig;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use model::{Labels, TargetGroup};

use crate::metrics::Metrics;

/// The name that was looked up.
pub const META_DNS_NAME: &str = "__meta_dns_name";
/// The target of an SRV record, as it came (rooted, with the final dot).
pub const META_DNS_SRV_RECORD_TARGET: &str = "__meta_dns_srv_record_target";
/// The port of an SRV record.
pub const META_DNS_SRV_RECORD_PORT: &str = "__meta_dns_srv_record_port";
/// The exchange of an MX record, as it came.
pub const META_DNS_MX_RECORD_TARGET: &str = "__meta_dns_mx_record_target";
/// The name server of an NS record, as it came.
pub const META_DNS_NS_RECORD_TARGET: &str = "__meta_dns_ns_record_target";

/// One dns_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    names: Vec<String>,
    qtype: RecordType,
    port: u16,
    nameservers: Vec<SocketAddr>,
    resolver: Option<TokioResolver>,
    metrics: Metrics,
}

/// The outcome of looking up one name.
#[derive(Debug)]
enum Lookup {
    /// The answers (possibly none: the name does not exist or has no such records).
    Found(Vec<RData>),
    /// The servers could not say: the name's last targets stay.
    Failed(String),
}

impl Discovery {
    /// A provider for `cfg`, asking `nameservers` (UDP, then TCP when truncated) or, when
    /// empty, the name servers and search domains of `/etc/resolv.conf`; lookups count in
    /// `metrics` (`prometheus_sd_dns_lookups_total`, `prometheus_sd_dns_lookup_failures_total`).
    pub(crate) fn new(
        cfg: &DnsSdConfig,
        nameservers: &[SocketAddr],
        metrics: &Metrics,
    ) -> Discovery {
        let qtype = match cfg.r#type.to_ascii_uppercase().as_str() {
            "A" => RecordType::A,
            "AAAA" => RecordType::AAAA,
            "MX" => RecordType::MX,
            "NS" => RecordType::NS,
            _ => RecordType::SRV,
        };
        Discovery {
            names: cfg.names.clone(),
            qtype,
            port: cfg.port,
            nameservers: nameservers.to_vec(),
            resolver: None,
            metrics: metrics.clone(),
        }
    }

    fn resolver(&mut self) -> Result<TokioResolver, String> {
        if let Some(r) = &self.resolver {
            return Ok(r.clone());
        }
        let mut builder = if self.nameservers.is_empty() {
            TokioResolver::builder_tokio()
                .map_err(|e| format!("could not load resolv.conf: {e}"))?
        } else {
            let servers = self
                .nameservers
                .iter()
                .map(|addr| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = addr.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = addr.port();
                    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            )
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        // Prometheus asks the servers at every refresh and never reads /etc/hosts.
        opts.cache_size = 0;
        opts.positive_max_ttl = Some(std::time::Duration::ZERO);
        opts.negative_max_ttl = Some(std::time::Duration::ZERO);
        opts.use_hosts_file = ResolveHosts::Never;
        opts.preserve_intermediates = true;
        let resolver = builder
            .build()
            .map_err(|e| format!("could not create the DNS resolver: {e}"))?;
        self.resolver = Some(resolver.clone());
        Ok(resolver)
    }

    /// Looks up every name; a group per name that got an answer (an empty one when the name
    /// does not exist). Names whose lookup failed are left out, so their last targets stay,
    /// as Prometheus does.
    pub(crate) async fn refresh(&mut self) -> Vec<TargetGroup> {
        let metrics = self.metrics.clone();
        let sd = metrics.sd();
        let resolver = match self.resolver() {
            Ok(r) => r,
            Err(e) => {
                // Go fails each name's lookup when resolv.conf cannot be read.
                let n = self.names.len() as u64;
                sd.dns_lookups.add(n);
                sd.dns_lookup_failures.add(n);
                tracing::error!(err = %e, "Error refreshing DNS targets");
                return Vec::new();
            }
        };
        let mut tasks = tokio::task::JoinSet::new();
        for (i, name) in self.names.iter().enumerate() {
            let (resolver, name, qtype) = (resolver.clone(), name.clone(), self.qtype);
            tasks.spawn(async move { (i, lookup(&resolver, &name, qtype).await) });
        }
        let mut results = Vec::new();
        while let Some(done) = tasks.join_next().await {
            if let Ok(r) = done {
                results.push(r);
            }
        }
        results.sort_by_key(|(i, _)| *i);
        let mut groups = Vec::new();
        for (i, result) in results {
            let name = &self.names[i];
            sd.dns_lookups.inc();
            match result {
                Lookup::Found(records) => groups.push(group(name, &records, self.port)),
                Lookup::Failed(e) => {
                    sd.dns_lookup_failures.inc();
                    tracing::error!(name = %name, err = %e, "Error refreshing DNS targets");
                }
            }
        }
        groups
    }
}

async fn lookup(resolver: &TokioResolver, name: &str, qtype: RecordType) -> Lookup {
    match resolver.lookup(name, qtype).await {
        Ok(l) => Lookup::Found(l.answers().iter().map(|r| r.data.clone()).collect()),
        // NXDOMAIN, or a name without records of this type: no targets.
        Err(e) if e.is_no_records_found() => Lookup::Found(Vec::new()),
        Err(e) => Lookup::Failed(format!("could not resolve {name:?}: {e}")),
    }
}

/// `host:port`, with brackets around IPv6 addresses (Go's `net.JoinHostPort`).
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The target group of one name (Go's `refreshOne`): every target carries the name and the
/// record labels, empty where they do not apply.
fn group(name: &str, records: &[RData], port: u16) -> TargetGroup {
    let mut targets = Vec::new();
    for record in records {
        let (mut srv_target, mut srv_port, mut mx_target, mut ns_target) =
            (String::new(), String::new(), String::new(), String::new());
        let address = match record {
            RData::SRV(srv) => {
                srv_target = srv.target.to_string();
                srv_port = srv.port.to_string();
                host_port(srv_target.trim_end_matches('.'), srv.port)
            }
            RData::MX(mx) => {
                mx_target = mx.exchange.to_string();
                host_port(mx_target.trim_end_matches('.'), port)
            }
            RData::NS(ns) => {
                ns_target = ns.0.to_string();
                host_port(ns_target.trim_end_matches('.'), port)
            }
            RData::A(a) => host_port(&a.0.to_string(), port),
            RData::AAAA(a) => host_port(&a.0.to_string(), port),
            // CNAMEs come with A and AAAA answers; the addresses follow them.
            RData::CNAME(_) => continue,
            other => {
                tracing::warn!(record = %other, "Invalid record");
                continue;
            }
        };
        targets.push(Labels::from_pairs([
            ("__address__", address.as_str()),
            (META_DNS_NAME, name),
            (META_DNS_SRV_RECORD_TARGET, srv_target.as_str()),
            (META_DNS_SRV_RECORD_PORT, srv_port.as_str()),
            (META_DNS_MX_RECORD_TARGET, mx_target.as_str()),
            (META_DNS_NS_RECORD_TARGET, ns_target.as_str()),
        ]));
    }
    TargetGroup {
        targets,
        labels: Labels::empty(),
        source: name.to_owned(),
    }
}

#[cfg(test)]
pub(crate) mod tests;
