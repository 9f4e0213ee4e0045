//! Service-discovery configuration blocks (`static_configs`, `*_sd_configs`) as one closed
//! enum, [`ServiceDiscoveryConfig`]: schema, defaults and validation only; discovering is
//! the `discovery` crate's job.

use std::collections::BTreeMap;
use std::path::Path;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::http_config::{HttpClientConfig, join_dir};
use crate::yaml::Inline;

mod cloud;
mod kubernetes;
mod simple;

pub use cloud::*;
pub use kubernetes::*;
pub use simple::*;

/// Declares the closed set of SD kinds: the enum, the YAML key of each kind, and the
/// [`Inline`] reader that collects `KEY: [..]` lists from a scrape or Alertmanager block.
macro_rules! sd_kinds {
    // The type a kind's list items are read as: its own, or the `via` reader.
    (@read $ty:ty) => { $ty };
    (@read $ty:ty, $via:ty) => { $via };
    (@into $item:expr) => { $item };
    (@into $item:expr, $via:ty) => { $item.into() };
    ($( $(#[$doc:meta])* $variant:ident($ty:ty) = $key:literal $(via $via:ty)?, )*) => {
        /// One service-discovery configuration, of one of the kinds Prometheus knows.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum ServiceDiscoveryConfig {
            $( $(#[$doc])* $variant($ty), )*
        }

        impl ServiceDiscoveryConfig {
            /// The YAML key listing configurations of this kind (`static_configs`,
            /// `file_sd_configs`, …).
            pub fn key(&self) -> &'static str {
                match self {
                    $( ServiceDiscoveryConfig::$variant(_) => $key, )*
                }
            }

            /// The SD's name as Prometheus reports it (`file`, `kubernetes`, …).
            pub fn name(&self) -> &'static str {
                let key = self.key();
                key.strip_suffix("_sd_configs").or_else(|| key.strip_suffix("_configs")).unwrap_or(key)
            }

            fn serialize_group<M: SerializeMap>(
                kind: &'static str,
                all: &[ServiceDiscoveryConfig],
                map: &mut M,
            ) -> Result<(), M::Error> {
                $(
                    if kind == $key {
                        let items: Vec<&$ty> = all
                            .iter()
                            .filter_map(|c| match c {
                                ServiceDiscoveryConfig::$variant(x) => Some(x),
                                #[allow(unreachable_patterns)]
                                _ => None,
                            })
                            .collect();
                        return map.serialize_entry($key, &items);
                    }
                )*
                Ok(())
            }
        }

        const SD_KEYS: &[&str] = &[$($key),*];

        impl Inline for ServiceDiscoveryConfigs {
            fn set_field<'de, A: serde::de::MapAccess<'de>>(
                &mut self,
                key: &str,
                map: &mut A,
            ) -> Result<bool, A::Error> {
                $(
                    if key == $key {
                        let raw: Option<Vec<Option<sd_kinds!(@read $ty $(, $via)?)>>> =
                            map.next_value().inspect_err(|_| {
                                #[allow(unused_imports)]
                                use crate::yaml::go::{KnownGoType as _, UnknownGoType as _};
                                let (ty, inner) =
                                    (&crate::yaml::go::GoTypeOf::<$ty>(std::marker::PhantomData))
                                        .go_names();
                                crate::yaml::go::note_value_error(key, (format!("[]{ty}"), inner));
                            })?;
                        for item in raw.unwrap_or_default() {
                            let item = item.ok_or_else(|| {
                                serde::de::Error::custom(concat!("empty or null section in ", $key))
                            })?;
                            self.0.push(ServiceDiscoveryConfig::$variant(
                                sd_kinds!(@into item $(, $via)?),
                            ));
                        }
                        return Ok(true);
                    }
                )*
                Ok(false)
            }
        }
    };
}

sd_kinds! {
    /// `static_configs`: a fixed target group.
    Static(StaticConfig) = "static_configs",
    /// `file_sd_configs`.
    File(FileSdConfig) = "file_sd_configs",
    /// `dns_sd_configs`.
    Dns(DnsSdConfig) = "dns_sd_configs",
    /// `http_sd_configs`.
    Http(HttpSdConfig) = "http_sd_configs",
    /// `kubernetes_sd_configs`.
    Kubernetes(KubernetesSdConfig) = "kubernetes_sd_configs",
    /// `consul_sd_configs`.
    Consul(ConsulSdConfig) = "consul_sd_configs",
    /// `aws_sd_configs` (one AWS discovery selected by `role`).
    Aws(AwsSdConfig) = "aws_sd_configs",
    /// `ec2_sd_configs`.
    Ec2(AwsSdConfig) = "ec2_sd_configs" via AwsSdBlock<{ aws_block::EC2 }>,
    /// `ecs_sd_configs`.
    Ecs(AwsSdConfig) = "ecs_sd_configs" via AwsSdBlock<{ aws_block::ECS }>,
    /// `rds_sd_configs`.
    Rds(AwsSdConfig) = "rds_sd_configs" via AwsSdBlock<{ aws_block::RDS }>,
    /// `msk_sd_configs`.
    Msk(AwsSdConfig) = "msk_sd_configs" via AwsSdBlock<{ aws_block::MSK }>,
    /// `elasticache_sd_configs`.
    Elasticache(AwsSdConfig) = "elasticache_sd_configs" via AwsSdBlock<{ aws_block::ELASTICACHE }>,
    /// `lightsail_sd_configs`.
    Lightsail(AwsSdConfig) = "lightsail_sd_configs" via AwsSdBlock<{ aws_block::LIGHTSAIL }>,
    /// `mq_sd_configs` (Amazon MQ).
    Mq(AwsSdConfig) = "mq_sd_configs" via AwsSdBlock<{ aws_block::MQ }>,
    /// `azure_sd_configs`.
    Azure(AzureSdConfig) = "azure_sd_configs",
    /// `gce_sd_configs`.
    Gce(GceSdConfig) = "gce_sd_configs",
    /// `openstack_sd_configs`.
    OpenStack(OpenStackSdConfig) = "openstack_sd_configs",
    /// `oci_sd_configs` (Oracle Cloud).
    Oci(OciSdConfig) = "oci_sd_configs",
    /// `outscale_sd_configs`.
    Outscale(OutscaleSdConfig) = "outscale_sd_configs",
    /// `hetzner_sd_configs`.
    Hetzner(HetznerSdConfig) = "hetzner_sd_configs",
    /// `digitalocean_sd_configs`.
    DigitalOcean(PortRefreshHttpSdConfig) = "digitalocean_sd_configs",
    /// `linode_sd_configs`.
    Linode(LinodeSdConfig) = "linode_sd_configs",
    /// `vultr_sd_configs`.
    Vultr(PortRefreshHttpSdConfig) = "vultr_sd_configs",
    /// `ionos_sd_configs`.
    Ionos(IonosSdConfig) = "ionos_sd_configs",
    /// `scaleway_sd_configs`.
    Scaleway(ScalewaySdConfig) = "scaleway_sd_configs",
    /// `ovhcloud_sd_configs`.
    OvhCloud(OvhCloudSdConfig) = "ovhcloud_sd_configs",
    /// `stackit_sd_configs`.
    Stackit(StackitSdConfig) = "stackit_sd_configs",
    /// `docker_sd_configs`.
    Docker(DockerSdConfig) = "docker_sd_configs",
    /// `dockerswarm_sd_configs`.
    DockerSwarm(DockerSwarmSdConfig) = "dockerswarm_sd_configs",
    /// `marathon_sd_configs`.
    Marathon(MarathonSdConfig) = "marathon_sd_configs",
    /// `nomad_sd_configs`.
    Nomad(NomadSdConfig) = "nomad_sd_configs",
    /// `eureka_sd_configs`.
    Eureka(EurekaSdConfig) = "eureka_sd_configs",
    /// `kuma_sd_configs`.
    Kuma(KumaSdConfig) = "kuma_sd_configs",
    /// `puppetdb_sd_configs`.
    PuppetDb(PuppetDbSdConfig) = "puppetdb_sd_configs",
    /// `uyuni_sd_configs`.
    Uyuni(UyuniSdConfig) = "uyuni_sd_configs",
    /// `triton_sd_configs`.
    Triton(TritonSdConfig) = "triton_sd_configs",
    /// `nerve_sd_configs` (Zookeeper).
    Nerve(ZookeeperSdConfig) = "nerve_sd_configs" via ZookeeperSdBlock<true>,
    /// `serverset_sd_configs` (Zookeeper).
    Serverset(ZookeeperSdConfig) = "serverset_sd_configs" via ZookeeperSdBlock<false>,
}

impl ServiceDiscoveryConfig {
    /// The HTTP client options of this SD, for the kinds that have them.
    pub fn http_client_config(&self) -> Option<&HttpClientConfig> {
        use ServiceDiscoveryConfig as S;
        Some(match self {
            S::Http(c) => &c.http_client_config,
            S::Kubernetes(c) => &c.http_client_config,
            S::Consul(c) => &c.http_client_config,
            S::Aws(c)
            | S::Ec2(c)
            | S::Ecs(c)
            | S::Rds(c)
            | S::Msk(c)
            | S::Elasticache(c)
            | S::Lightsail(c)
            | S::Mq(c) => &c.http_client_config,
            S::Azure(c) => &c.http_client_config,
            S::Hetzner(c) => &c.http_client_config,
            S::DigitalOcean(c) | S::Vultr(c) => &c.http_client_config,
            S::Linode(c) => &c.http_client_config,
            S::Ionos(c) => &c.http_client_config,
            S::Scaleway(c) => &c.http_client_config,
            S::Stackit(c) => &c.http_client_config,
            S::Docker(c) => &c.http_client_config,
            S::DockerSwarm(c) => &c.http_client_config,
            S::Marathon(c) => &c.http_client_config,
            S::Nomad(c) => &c.http_client_config,
            S::Eureka(c) => &c.http_client_config,
            S::Kuma(c) => &c.http_client_config,
            S::PuppetDb(c) => &c.http_client_config,
            S::Uyuni(c) => &c.http_client_config,
            S::Outscale(c) => &c.http_client_config,
            S::Oci(c) => &c.http_client_config,
            _ => return None,
        })
    }

    fn http_client_config_mut(&mut self) -> Option<&mut HttpClientConfig> {
        use ServiceDiscoveryConfig as S;
        Some(match self {
            S::Http(c) => &mut c.http_client_config,
            S::Kubernetes(c) => &mut c.http_client_config,
            S::Consul(c) => &mut c.http_client_config,
            S::Aws(c)
            | S::Ec2(c)
            | S::Ecs(c)
            | S::Rds(c)
            | S::Msk(c)
            | S::Elasticache(c)
            | S::Lightsail(c)
            | S::Mq(c) => &mut c.http_client_config,
            S::Azure(c) => &mut c.http_client_config,
            S::Hetzner(c) => &mut c.http_client_config,
            S::DigitalOcean(c) | S::Vultr(c) => &mut c.http_client_config,
            S::Linode(c) => &mut c.http_client_config,
            S::Ionos(c) => &mut c.http_client_config,
            S::Scaleway(c) => &mut c.http_client_config,
            S::Stackit(c) => &mut c.http_client_config,
            S::Docker(c) => &mut c.http_client_config,
            S::DockerSwarm(c) => &mut c.http_client_config,
            S::Marathon(c) => &mut c.http_client_config,
            S::Nomad(c) => &mut c.http_client_config,
            S::Eureka(c) => &mut c.http_client_config,
            S::Kuma(c) => &mut c.http_client_config,
            S::PuppetDb(c) => &mut c.http_client_config,
            S::Uyuni(c) => &mut c.http_client_config,
            S::Outscale(c) => &mut c.http_client_config,
            S::Oci(c) => &mut c.http_client_config,
            _ => return None,
        })
    }

    /// Joins relative file paths (file_sd files, credentials, TLS files) with `dir`.
    pub fn set_directory(&mut self, dir: &Path) {
        match self {
            ServiceDiscoveryConfig::File(c) => {
                for f in &mut c.files {
                    join_dir(dir, f);
                }
            }
            ServiceDiscoveryConfig::Marathon(c) => join_dir(dir, &mut c.auth_token_file),
            ServiceDiscoveryConfig::Kubernetes(c) => join_dir(dir, &mut c.kubeconfig_file),
            ServiceDiscoveryConfig::OpenStack(c) => c.tls_config.set_directory(dir),
            ServiceDiscoveryConfig::Triton(c) => c.tls_config.set_directory(dir),
            ServiceDiscoveryConfig::Scaleway(c) => join_dir(dir, &mut c.secret_key_file),
            ServiceDiscoveryConfig::Oci(c) => {
                join_dir(dir, &mut c.key_file);
                join_dir(dir, &mut c.key_passphrase_file);
            }
            ServiceDiscoveryConfig::Outscale(c) => join_dir(dir, &mut c.secret_key_file),
            ServiceDiscoveryConfig::Stackit(c) => {
                join_dir(dir, &mut c.service_account_key_path);
                join_dir(dir, &mut c.private_key_path);
                join_dir(dir, &mut c.credentials_file_path);
            }
            _ => {}
        }
        if let Some(h) = self.http_client_config_mut() {
            h.set_directory(dir);
        }
    }
}

/// The SD configurations of one scrape job or Alertmanager block, in the order they were
/// read. Inlined into those blocks, so each `*_configs` key is read into it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceDiscoveryConfigs(pub Vec<ServiceDiscoveryConfig>);

impl ServiceDiscoveryConfigs {
    /// Iterates over the configurations.
    pub fn iter(&self) -> std::slice::Iter<'_, ServiceDiscoveryConfig> {
        self.0.iter()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The static target groups, in order.
    pub fn static_configs(&self) -> impl Iterator<Item = &StaticConfig> {
        self.0.iter().filter_map(|c| match c {
            ServiceDiscoveryConfig::Static(s) => Some(s),
            _ => None,
        })
    }

    pub(crate) fn set_directory(&mut self, dir: &Path) {
        for c in &mut self.0 {
            c.set_directory(dir);
        }
    }
}

impl<'a> IntoIterator for &'a ServiceDiscoveryConfigs {
    type Item = &'a ServiceDiscoveryConfig;
    type IntoIter = std::slice::Iter<'a, ServiceDiscoveryConfig>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Serialize for ServiceDiscoveryConfigs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut kinds: Vec<&'static str> = self.0.iter().map(|c| c.key()).collect();
        kinds.sort_by_key(|k| SD_KEYS.iter().position(|x| x == k));
        kinds.dedup();
        let mut map = s.serialize_map(Some(kinds.len()))?;
        for kind in kinds {
            ServiceDiscoveryConfig::serialize_group(kind, &self.0, &mut map)?;
        }
        map.end()
    }
}

/// Checks that a label name is valid (Prometheus 3: any non-empty UTF-8 string).
pub(crate) fn check_label_set(labels: &BTreeMap<String, String>) -> Result<(), String> {
    for name in labels.keys() {
        if name.is_empty() {
            return Err(format!("{name:?} is not a valid label name"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_struct;
    use crate::yaml::{self, Validate};

    config_struct! {
        #[derive(Default)]
        struct Holder {
            name: String,
        }
        inline {
            sd: ServiceDiscoveryConfigs,
        }
    }
    impl Validate for Holder {}

    #[test]
    fn sd_lists_are_collected_in_order_and_round_trip() {
        let h: Holder = yaml::from_str(
            "name: x\nstatic_configs: [{targets: [a:1]}]\nfile_sd_configs: [{files: [f.json]}]\n",
        )
        .unwrap();
        assert_eq!(h.sd.0.len(), 2);
        assert_eq!(h.sd.0[0].name(), "static");
        assert_eq!(h.sd.0[1].name(), "file");
        let out = yaml::to_string(&h).unwrap();
        let back: Holder = yaml::from_str(&out).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn zookeeper_blocks_are_checked_with_their_kind_in_the_message() {
        for (yaml, want) in [
            (
                "serverset_sd_configs: [{paths: [/a]}]",
                "serverset SD config must contain at least one Zookeeper server",
            ),
            (
                "nerve_sd_configs: [{servers: [zk:2181]}]",
                "nerve SD config must contain at least one path",
            ),
            (
                "nerve_sd_configs: [{servers: [zk:2181], paths: [/a, b/c]}]",
                "nerve SD config paths must begin with '/': b/c",
            ),
        ] {
            let err = yaml::from_str::<Holder>(yaml).unwrap_err();
            assert!(err.message.contains(want), "{yaml}: {err}");
        }
        let h: Holder =
            yaml::from_str("serverset_sd_configs: [{servers: [zk], paths: [/a], timeout: 3s}]")
                .unwrap();
        match &h.sd.0[..] {
            [ServiceDiscoveryConfig::Serverset(c)] => {
                assert_eq!(c.timeout, model::Duration::from_secs(3));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn null_sections_and_unknown_kinds_are_rejected() {
        let err = yaml::from_str::<Holder>("static_configs: [~]").unwrap_err();
        assert!(
            err.message
                .contains("empty or null section in static_configs"),
            "{err}"
        );
        let err = yaml::from_str::<Holder>("consult_sd_configs: []").unwrap_err();
        assert!(
            err.message.contains("field consult_sd_configs not found"),
            "{err}"
        );
    }
}
