//! The discovery manager (Go's `discovery.Manager`): runs one provider per distinct SD block
//! (shared by the jobs that configure it), keeps the latest target groups per provider and
//! source, and sends the whole picture to its consumers at most once per update interval.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use config::discovery::{
    AwsSdConfig, ConsulSdConfig, DnsSdConfig, DockerSdConfig, DockerSwarmSdConfig, EurekaSdConfig,
    FileSdConfig, HetznerSdConfig, HttpSdConfig, IonosSdConfig, KubernetesSdConfig, LinodeSdConfig,
    MarathonSdConfig, NomadSdConfig, OpenStackSdConfig, OvhCloudSdConfig, PortRefreshHttpSdConfig,
    PuppetDbSdConfig, ScalewaySdConfig, ServiceDiscoveryConfig, ServiceDiscoveryConfigs,
    StaticConfig, UyuniSdConfig,
};
use model::TargetGroup;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::metrics::{ManagerMetrics, Metrics};
use crate::{
    Error, Result, consul, digitalocean, dns, docker, dockerswarm, ec2, eureka, file, hetzner,
    http, ionos, kubernetes, lightsail, linode, marathon, nomad, openstack, ovhcloud, puppetdb,
    scaleway, uyuni, vultr,
};

/// Target groups per job (the `HashMap<job, Vec<TargetGroup>>` the scrape manager consumes).
/// Every configured job has an entry, empty when it has no targets.
pub type TargetSets = HashMap<String, Vec<TargetGroup>>;

/// Options of a [`Manager`].
#[derive(Debug, Clone)]
pub struct Options {
    /// The manager's name in logs (`scrape` or `notify`).
    pub name: String,
    /// How often accumulated updates are sent at most (Prometheus: 5 s).
    pub update_interval: std::time::Duration,
    /// How often file_sd checks its files for changes (added, removed, written) between
    /// `refresh_interval` re-reads. Prometheus uses inotify; a cheap `stat` poll gives the
    /// same effect without a watcher dependency.
    pub file_watch_interval: std::time::Duration,
    /// The name servers dns_sd asks (UDP, TCP when truncated). Empty (the default): those
    /// of `/etc/resolv.conf`, with its search domains and `ndots`.
    pub dns_nameservers: Vec<std::net::SocketAddr>,
    /// Where the manager and its providers count (`prometheus_sd_*`). Give the scrape and
    /// the notify manager the same [`Metrics`] so that `/metrics` writes one set; the
    /// default is a set of its own.
    pub metrics: Metrics,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            name: "scrape".into(),
            update_interval: std::time::Duration::from_secs(5),
            file_watch_interval: std::time::Duration::from_secs(1),
            dns_nameservers: Vec::new(),
            metrics: Metrics::default(),
        }
    }
}

/// The configuration of one provider: what decides whether a running provider can be kept on
/// a reload.
#[derive(Debug, Clone, PartialEq)]
enum ProviderConfig {
    /// All `static_configs` of a job, as one provider (Go's `StaticProvider`).
    Static(Vec<StaticConfig>),
    File(FileSdConfig),
    Http(Box<HttpSdConfig>),
    Dns(DnsSdConfig),
    Kubernetes(Box<KubernetesSdConfig>),
    Consul(Box<ConsulSdConfig>),
    Docker(Box<DockerSdConfig>),
    Eureka(Box<EurekaSdConfig>),
    Nomad(Box<NomadSdConfig>),
    PuppetDb(Box<PuppetDbSdConfig>),
    Marathon(Box<MarathonSdConfig>),
    DockerSwarm(Box<DockerSwarmSdConfig>),
    Vultr(Box<PortRefreshHttpSdConfig>),
    DigitalOcean(Box<PortRefreshHttpSdConfig>),
    OpenStack(Box<OpenStackSdConfig>),
    Uyuni(Box<UyuniSdConfig>),
    OvhCloud(Box<OvhCloudSdConfig>),
    Ionos(Box<IonosSdConfig>),
    Lightsail(Box<AwsSdConfig>),
    Ec2(Box<AwsSdConfig>),
    Scaleway(Box<ScalewaySdConfig>),
    Hetzner(Box<HetznerSdConfig>),
    Linode(Box<LinodeSdConfig>),
    Gce(Box<config::discovery::GceSdConfig>),
    Azure(Box<config::discovery::AzureSdConfig>),
    Kuma(Box<config::discovery::KumaSdConfig>),
    Triton(Box<config::discovery::TritonSdConfig>),
    Stackit(Box<config::discovery::StackitSdConfig>),
    Oci(Box<config::discovery::OciSdConfig>),
    Ecs(Box<AwsSdConfig>),
    Msk(Box<AwsSdConfig>),
    Rds(Box<AwsSdConfig>),
    Elasticache(Box<AwsSdConfig>),
    Mq(Box<AwsSdConfig>),
    Outscale(Box<config::discovery::OutscaleSdConfig>),
    Serverset(Box<config::discovery::ZookeeperSdConfig>),
    Nerve(Box<config::discovery::ZookeeperSdConfig>),
}

#[derive(Debug)]
struct Provider {
    /// The jobs (target sets) using it: blocks with equal configurations share one
    /// provider, as in Prometheus.
    jobs: Vec<String>,
    id: u64,
    config: ProviderConfig,
    cancel: CancellationToken,
}

#[derive(Debug, Default)]
struct State {
    providers: Vec<Provider>,
    /// Latest non-empty groups per provider id, by source.
    targets: BTreeMap<u64, BTreeMap<String, TargetGroup>>,
    jobs: Vec<String>,
    triggered: bool,
    next_id: u64,
    /// Why each block of the last applied configuration that could not be created failed.
    failures: Vec<String>,
}

#[derive(Debug)]
struct Inner {
    options: Options,
    state: Mutex<State>,
    tx: watch::Sender<TargetSets>,
    cancel: CancellationToken,
    metrics: Arc<ManagerMetrics>,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep going with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The discovery manager. Cheap to clone; clones share the manager.
///
/// Lifecycle: [`Manager::apply_config`] (or [`Manager::apply_sd_configs`]) starts, keeps or
/// stops providers; [`Manager::run`] sends updates to the receivers of
/// [`Manager::subscribe`] until [`Manager::stop`] is called.
#[derive(Debug, Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

impl Manager {
    /// A manager with no providers.
    pub fn new(options: Options) -> Manager {
        let (tx, _) = watch::channel(TargetSets::new());
        let metrics = options.metrics.manager(&options.name);
        Manager {
            inner: Arc::new(Inner {
                options,
                state: Mutex::new(State::default()),
                tx,
                cancel: CancellationToken::new(),
                metrics,
            }),
        }
    }

    /// Why each block of the last applied configuration whose provider could not be
    /// created failed (`"<kind> in <job>: <error>"`), as counted in
    /// `prometheus_sd_failed_configs`; empty when all were created.
    pub fn failed_providers(&self) -> Vec<String> {
        self.inner.state().failures.clone()
    }

    /// The metrics this manager and its providers count in ([`Options::metrics`]).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.options.metrics
    }

    /// A receiver of the target sets, updated at most once per update interval while
    /// [`Manager::run`] runs. Starts with an empty map.
    pub fn subscribe(&self) -> watch::Receiver<TargetSets> {
        self.inner.tx.subscribe()
    }

    /// Applies the service-discovery blocks of every scrape job of `cfg`
    /// ([`config::Config::all_scrape_configs`]).
    ///
    /// # Errors
    /// See [`Manager::apply_sd_configs`].
    pub fn apply_config(&self, cfg: &config::Config) -> Result<()> {
        self.apply_sd_configs(
            cfg.all_scrape_configs()
                .map(|sc| (sc.job_name.clone(), sc.service_discovery_configs.clone()))
                .collect(),
        )
    }

    /// Applies SD configurations per job (or per Alertmanager set): providers whose
    /// configuration is unchanged keep running and keep their targets, the others are
    /// stopped and new ones started. Consumers get the full state at the next send.
    ///
    /// A block whose provider cannot be created (unusable client options, an unknown
    /// scheme) is logged as Prometheus does ("Cannot create service discovery"), counted in
    /// `prometheus_sd_failed_configs` and listed by [`Manager::failed_providers`]; the rest
    /// of the configuration applies, and a job left without providers is sent with no
    /// targets.
    ///
    /// # Errors
    /// [`Error::Unsupported`] or [`Error::UnsupportedOption`] for a mechanism or option
    /// without a provider here; [`Error::NoRuntime`] outside a Tokio runtime.
    pub fn apply_sd_configs(&self, cfgs: Vec<(String, ServiceDiscoveryConfigs)>) -> Result<()> {
        let mut wanted: Vec<(String, ProviderConfig)> = Vec::new();
        let mut failures = Vec::new();
        for (job, sds) in &cfgs {
            let mut statics = Vec::new();
            let mut files = Vec::new();
            // Checks one block (building and dropping its provider so that bad options fail
            // here) and notes the provider to run.
            let mut create = |sd: &ServiceDiscoveryConfig| -> Result<()> {
                match sd {
                    ServiceDiscoveryConfig::Static(s) => statics.push(s.clone()),
                    ServiceDiscoveryConfig::File(f) => files.push(ProviderConfig::File(f.clone())),
                    ServiceDiscoveryConfig::Http(h) => {
                        // Builds (and drops) the client so bad options fail here.
                        http::Discovery::new(h).map_err(|error| Error::HttpClient {
                            key: sd.key(),
                            job: job.clone(),
                            error,
                        })?;
                        files.push(ProviderConfig::Http(Box::new(h.clone())));
                    }
                    ServiceDiscoveryConfig::Dns(d) => files.push(ProviderConfig::Dns(d.clone())),
                    ServiceDiscoveryConfig::Kubernetes(k) => {
                        if let Some(option) = kubernetes::unsupported_option(k) {
                            return Err(Error::UnsupportedOption {
                                key: sd.key(),
                                job: job.clone(),
                                option,
                            });
                        }
                        kubernetes::check_client(k).map_err(|error| Error::HttpClient {
                            key: sd.key(),
                            job: job.clone(),
                            error,
                        })?;
                        files.push(ProviderConfig::Kubernetes(Box::new(k.clone())));
                    }
                    ServiceDiscoveryConfig::Consul(c) => {
                        // Built (and dropped) so bad options fail here.
                        consul::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Consul(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Docker(c) => {
                        docker::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Docker(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Eureka(c) => {
                        eureka::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Eureka(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Nomad(c) => {
                        nomad::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Nomad(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::PuppetDb(c) => {
                        puppetdb::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::PuppetDb(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Marathon(c) => {
                        marathon::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Marathon(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::DockerSwarm(c) => {
                        dockerswarm::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::DockerSwarm(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Vultr(c) => {
                        vultr::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Vultr(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::DigitalOcean(c) => {
                        digitalocean::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::DigitalOcean(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::OpenStack(c) => {
                        openstack::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::OpenStack(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Uyuni(c) => {
                        uyuni::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Uyuni(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::OvhCloud(c) => {
                        ovhcloud::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::OvhCloud(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Ionos(c) => {
                        ionos::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Ionos(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Lightsail(c) => {
                        lightsail::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Lightsail(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Aws(c) => {
                        // aws_sd_configs: each role runs the provider of its own kind.
                        let make: fn(&AwsSdConfig) -> std::result::Result<(), String> = match c
                            .role
                            .as_str()
                        {
                            "ec2" => |c| ec2::Discovery::new(c).map(drop),
                            "lightsail" => |c| lightsail::Discovery::new(c).map(drop),
                            "ecs" => |c| crate::ecs::Discovery::new(c).map(drop),
                            "msk" => |c| crate::msk::Discovery::new(c).map(drop),
                            "rds" => |c| crate::rds::Discovery::new(c).map(drop),
                            "elasticache" => |c| crate::elasticache::Discovery::new(c).map(drop),
                            role => {
                                return Err(Error::UnsupportedOption {
                                    key: sd.key(),
                                    job: job.clone(),
                                    option: format!("role {role:?}"),
                                });
                            }
                        };
                        make(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(match c.role.as_str() {
                            "ec2" => ProviderConfig::Ec2(Box::new(c.clone())),
                            "ecs" => ProviderConfig::Ecs(Box::new(c.clone())),
                            "msk" => ProviderConfig::Msk(Box::new(c.clone())),
                            "rds" => ProviderConfig::Rds(Box::new(c.clone())),
                            "elasticache" => ProviderConfig::Elasticache(Box::new(c.clone())),
                            _ => ProviderConfig::Lightsail(Box::new(c.clone())),
                        });
                    }
                    ServiceDiscoveryConfig::Ec2(c) => {
                        ec2::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Ec2(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Scaleway(c) => {
                        scaleway::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Scaleway(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Hetzner(c) => {
                        hetzner::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Hetzner(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Linode(c) => {
                        linode::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Linode(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Ecs(c) => {
                        crate::ecs::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Ecs(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Msk(c) => {
                        crate::msk::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Msk(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Rds(c) => {
                        crate::rds::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Rds(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Elasticache(c) => {
                        crate::elasticache::Discovery::new(c).map_err(|message| {
                            Error::Provider {
                                key: sd.key(),
                                job: job.clone(),
                                message,
                            }
                        })?;
                        files.push(ProviderConfig::Elasticache(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Mq(c) => {
                        crate::mq::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Mq(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Outscale(c) => {
                        crate::outscale::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Outscale(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Gce(c) => {
                        crate::gce::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Gce(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Azure(c) => {
                        crate::azure::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Azure(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Kuma(c) => {
                        crate::kuma::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Kuma(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Triton(c) => {
                        crate::triton::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Triton(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Stackit(c) => {
                        crate::stackit::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Stackit(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Oci(c) => {
                        if c.auth == "instance_principal" {
                            return Err(Error::UnsupportedOption {
                                key: sd.key(),
                                job: job.clone(),
                                option: "auth: instance_principal".to_owned(),
                            });
                        }
                        crate::oci::Discovery::new(c).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        files.push(ProviderConfig::Oci(Box::new(c.clone())));
                    }
                    ServiceDiscoveryConfig::Serverset(c) | ServiceDiscoveryConfig::Nerve(c) => {
                        use crate::zookeeper::{Discovery, Kind};
                        let serverset = matches!(sd, ServiceDiscoveryConfig::Serverset(_));
                        let kind = if serverset {
                            Kind::Serverset
                        } else {
                            Kind::Nerve
                        };
                        Discovery::new(c, kind).map_err(|message| Error::Provider {
                            key: sd.key(),
                            job: job.clone(),
                            message,
                        })?;
                        let c = Box::new(c.clone());
                        files.push(if serverset {
                            ProviderConfig::Serverset(c)
                        } else {
                            ProviderConfig::Nerve(c)
                        });
                    }
                    other => {
                        return Err(Error::Unsupported {
                            key: other.key(),
                            job: job.clone(),
                        });
                    }
                }
                Ok(())
            };
            for sd in sds {
                match create(sd) {
                    Ok(()) => {}
                    // A mechanism or option this server does not have fails loudly: the
                    // configuration is refused (Prometheus has no such case; logging it as a
                    // failed provider would start the server with the job silently empty).
                    Err(err @ (Error::Unsupported { .. } | Error::UnsupportedOption { .. })) => {
                        return Err(err);
                    }
                    Err(err) => {
                        tracing::error!(
                            manager = %self.inner.options.name,
                            err = %err,
                            r#type = sd.name(),
                            config = %job,
                            "Cannot create service discovery"
                        );
                        failures.push(format!("{} in {job}: {err}", sd.name()));
                    }
                }
            }
            // As Prometheus, a set without providers (none configured, or none could be
            // created) gets an empty static one.
            if !statics.is_empty() || files.is_empty() {
                wanted.push((job.clone(), ProviderConfig::Static(statics)));
            }
            wanted.extend(files.into_iter().map(|f| (job.clone(), f)));
        }
        self.inner.metrics.failed_configs.set(failures.len() as u64);
        let handle = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;

        let mut state = self.inner.state();
        state.failures = failures;
        let mut old: Vec<Option<Provider>> = std::mem::take(&mut state.providers)
            .into_iter()
            .map(Some)
            .collect();
        let mut providers: Vec<Provider> = Vec::new();
        for (job, config) in wanted {
            // A configuration already wanted by another job: share its provider.
            if let Some(p) = providers.iter_mut().find(|p| p.config == config) {
                if !p.jobs.contains(&job) {
                    p.jobs.push(job);
                }
                continue;
            }
            // A running provider with this configuration keeps running (and its targets).
            let kept = old
                .iter_mut()
                .find(|p| p.as_ref().is_some_and(|p| p.config == config));
            if let Some(mut p) = kept.and_then(Option::take) {
                p.jobs = vec![job];
                providers.push(p);
                continue;
            }
            let id = state.next_id;
            state.next_id += 1;
            let cancel = self.inner.cancel.child_token();
            state.targets.insert(id, BTreeMap::new());
            let sink = Sink {
                inner: Arc::downgrade(&self.inner),
                key: id,
                metrics: self.inner.options.metrics.clone(),
            };
            handle.spawn(run_provider(
                config.clone(),
                sink,
                cancel.clone(),
                self.inner.options.clone(),
            ));
            // Go's names: `discovery manager scrape`, provider `static/0`, its subscribers.
            let kind = format!("{config:?}");
            let kind = kind
                .split(['(', ' ', '{'])
                .next()
                .unwrap_or_default()
                .to_lowercase();
            tracing::debug!(
                component = %format!("discovery manager {}", self.inner.options.name),
                provider = %format!("{kind}/{id}"),
                subs = %format!("map[{job}:{{}}]"),
                "Starting provider"
            );
            providers.push(Provider {
                jobs: vec![job],
                id,
                config,
                cancel,
            });
        }
        for p in old.into_iter().flatten() {
            p.cancel.cancel();
            state.targets.remove(&p.id);
        }
        state.providers = providers;
        state.jobs = cfgs.into_iter().map(|(job, _)| job).collect();
        let metrics = &self.inner.metrics;
        metrics.retain_discovered(&state.jobs);
        for job in &state.jobs {
            metrics.init_discovered(job);
        }
        state.triggered = true;
        Ok(())
    }

    /// Sends the target sets to the subscribers whenever something changed, at most once
    /// per update interval, until [`Manager::stop`].
    pub async fn run(&self) {
        let interval = self.inner.options.update_interval;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.inner.cancel.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let sets = {
                let mut state = self.inner.state();
                if !std::mem::take(&mut state.triggered) {
                    continue;
                }
                all_groups(&state)
            };
            let metrics = &self.inner.metrics;
            metrics.sent.inc();
            for (job, groups) in &sets {
                let n = groups.iter().map(|g| g.targets.len() as u64).sum();
                metrics.set_discovered(job, n);
            }
            // A watch channel keeps only the newest sets and never blocks the sender, so
            // no update is ever delayed (`prometheus_sd_updates_delayed_total` stays 0).
            self.inner.tx.send_replace(sets);
        }
    }

    /// The target sets as they would be sent now.
    pub fn target_sets(&self) -> TargetSets {
        all_groups(&self.inner.state())
    }

    /// Stops every provider and makes [`Manager::run`] return.
    pub fn stop(&self) {
        self.inner.cancel.cancel();
    }
}

fn all_groups(state: &State) -> TargetSets {
    let mut sets: TargetSets = state.jobs.iter().map(|j| (j.clone(), Vec::new())).collect();
    for p in &state.providers {
        let Some(groups) = state.targets.get(&p.id) else {
            continue;
        };
        for job in &p.jobs {
            sets.entry(job.clone())
                .or_default()
                .extend(groups.values().cloned());
        }
    }
    sets
}

/// Where a provider delivers its updates.
#[derive(Debug)]
struct Sink {
    inner: std::sync::Weak<Inner>,
    /// The provider's id.
    key: u64,
    /// The process's SD metrics, for the provider's mechanism metrics.
    metrics: Metrics,
}

impl Sink {
    /// Takes one update of the provider (counted in `prometheus_sd_received_updates_total`).
    fn update(&self, groups: Vec<TargetGroup>) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let mut state = inner.state();
        // A stopped provider's late update must not bring its targets back.
        let Some(targets) = state.targets.get_mut(&self.key) else {
            return;
        };
        inner.metrics.received.inc();
        for g in groups {
            // As Go's updateGroup: an emptied group is dropped (consumers get each job's
            // full set, so its targets go away all the same) rather than kept forever.
            if g.targets.is_empty() {
                targets.remove(&g.source);
            } else {
                targets.insert(g.source.clone(), g);
            }
        }
        state.triggered = true;
    }

    /// The provider is done sending (Go's static provider closes its channel, which the
    /// manager counts as one more received update).
    fn close(&self) {
        if let Some(inner) = self.inner.upgrade()
            && inner.state().targets.contains_key(&self.key)
        {
            inner.metrics.received.inc();
        }
    }
}

async fn run_provider(
    config: ProviderConfig,
    sink: Sink,
    cancel: CancellationToken,
    options: Options,
) {
    let watch_every = options.file_watch_interval;
    match config {
        ProviderConfig::Static(statics) => {
            sink.update(
                statics
                    .iter()
                    .enumerate()
                    .map(|(i, s)| s.to_target_group(i))
                    .collect(),
            );
            sink.close();
            tracing::debug!(
                component = %format!("discovery manager {}", options.name),
                provider = %format!("static/{}", sink.key),
                "Discoverer channel closed"
            );
        }
        ProviderConfig::File(cfg) => {
            let mut d = file::Discovery::new(&cfg, &sink.metrics);
            let every = cfg
                .refresh_interval
                .to_std()
                .max(std::time::Duration::from_millis(1));
            let watch_every = watch_every.max(std::time::Duration::from_millis(1));
            loop {
                // One update per file read and per source that went away, as Go sends them.
                for update in d.refresh() {
                    sink.update(update);
                }
                // Until the next refresh, re-read early when a file changes.
                let signature = d.signature();
                let deadline = tokio::time::Instant::now() + every;
                loop {
                    let next = (tokio::time::Instant::now() + watch_every).min(deadline);
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep_until(next) => {}
                    }
                    if tokio::time::Instant::now() >= deadline || d.signature() != signature {
                        break;
                    }
                }
            }
        }
        ProviderConfig::Http(cfg) => {
            let mut d = match http::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(url = %cfg.url.as_str(), err = %e, "Cannot create service discovery");
                    return;
                }
            };
            let every = cfg.refresh_interval.to_std();
            let metrics = sink.metrics.refresh("http");
            loop {
                let start = std::time::Instant::now();
                tokio::select! {
                    () = cancel.cancelled() => return,
                    r = d.refresh() => match r {
                        Ok(groups) => sink.update(groups),
                        Err(e) => {
                            metrics.failures.inc();
                            sink.metrics.sd().http_failures.inc();
                            tracing::error!(mechanism = "http", err = %e, "Unable to refresh target groups");
                        }
                    },
                }
                metrics.duration.observe_since(start);
                if !wait(every, &cancel).await {
                    return;
                }
            }
        }
        ProviderConfig::Kubernetes(cfg) => match kubernetes::Discovery::new(&cfg) {
            Ok(d) => {
                d.run(cancel, |groups| sink.update(groups), sink.metrics.clone())
                    .await;
            }
            Err(e) => {
                tracing::error!(mechanism = "kubernetes", err = %e, "Cannot create service discovery");
            }
        },
        ProviderConfig::Consul(cfg) => match consul::Discovery::new(&cfg) {
            Ok(d) => {
                d.run(cancel, |groups| sink.update(groups), sink.metrics.clone())
                    .await;
            }
            Err(e) => {
                tracing::error!(mechanism = "consul", err = %e, "Cannot create service discovery");
            }
        },
        ProviderConfig::Docker(cfg) => {
            let d = match docker::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "docker", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "docker",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::Eureka(cfg) => {
            let d = match eureka::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "eureka", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "eureka",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::Nomad(cfg) => {
            let d = match nomad::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "nomad", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "nomad",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::PuppetDb(cfg) => {
            let d = match puppetdb::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "puppetdb", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "puppetdb",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::Marathon(cfg) => {
            let d = match marathon::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "marathon", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "marathon",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::DockerSwarm(cfg) => {
            let d = match dockerswarm::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "dockerswarm", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "dockerswarm",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::Vultr(cfg) => {
            let d = match vultr::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "vultr", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "vultr",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::DigitalOcean(cfg) => {
            let d = match digitalocean::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "digitalocean", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "digitalocean",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::OpenStack(cfg) => {
            let d = match openstack::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "openstack", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "openstack",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::Uyuni(cfg) => {
            let d = match uyuni::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "uyuni", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "uyuni",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::OvhCloud(cfg) => {
            let d = match ovhcloud::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "ovhcloud", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "ovhcloud",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::Ionos(cfg) => {
            let d = match ionos::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "ionos", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "ionos",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::Lightsail(cfg) => {
            let d = match lightsail::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "lightsail", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "lightsail",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::Ec2(cfg) => {
            let d = match ec2::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "ec2", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop("ec2", cfg.refresh_interval.to_std(), &cancel, &sink, || {
                d.refresh()
            })
            .await;
        }
        ProviderConfig::Scaleway(cfg) => {
            let d = match scaleway::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "scaleway", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "scaleway",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::Hetzner(cfg) => {
            let d = match hetzner::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "hetzner", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "hetzner",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::Linode(cfg) => {
            let d = match linode::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "linode", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "linode",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::Outscale(cfg) => {
            let d = match crate::outscale::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "outscale", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "outscale",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::Msk(cfg) => {
            let d = match crate::msk::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "msk", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop("msk", cfg.refresh_interval.to_std(), &cancel, &sink, || {
                d.refresh()
            })
            .await;
        }
        ProviderConfig::Rds(cfg) => {
            let d = match crate::rds::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "rds", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop("rds", cfg.refresh_interval.to_std(), &cancel, &sink, || {
                d.refresh()
            })
            .await;
        }
        ProviderConfig::Elasticache(cfg) => {
            let d = match crate::elasticache::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "elasticache", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "elasticache",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::Mq(cfg) => {
            let d = match crate::mq::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "mq", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop("mq", cfg.refresh_interval.to_std(), &cancel, &sink, || {
                d.refresh()
            })
            .await;
        }
        ProviderConfig::Ecs(cfg) => {
            let d = match crate::ecs::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "ecs", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop("ecs", cfg.refresh_interval.to_std(), &cancel, &sink, || {
                d.refresh()
            })
            .await;
        }
        ProviderConfig::Stackit(cfg) => {
            let d = match crate::stackit::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "stackit", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "stackit",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::Oci(cfg) => {
            let d = match crate::oci::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "oci", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop("oci", cfg.refresh_interval.to_std(), &cancel, &sink, || {
                d.refresh()
            })
            .await;
        }
        ProviderConfig::Serverset(cfg) => {
            match crate::zookeeper::Discovery::new(&cfg, crate::zookeeper::Kind::Serverset) {
                Ok(d) => {
                    let failed = || sink.metrics.sd().zookeeper_failures.inc();
                    d.run(cancel, |groups| sink.update(groups), &failed).await;
                }
                Err(e) => {
                    tracing::error!(mechanism = "serverset", err = %e, "Cannot create service discovery");
                }
            }
        }
        ProviderConfig::Nerve(cfg) => {
            match crate::zookeeper::Discovery::new(&cfg, crate::zookeeper::Kind::Nerve) {
                Ok(d) => {
                    let failed = || sink.metrics.sd().zookeeper_failures.inc();
                    d.run(cancel, |groups| sink.update(groups), &failed).await;
                }
                Err(e) => {
                    tracing::error!(mechanism = "nerve", err = %e, "Cannot create service discovery");
                }
            }
        }
        ProviderConfig::Triton(cfg) => {
            let d = match crate::triton::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "triton", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "triton",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || d.refresh(),
            )
            .await;
        }
        ProviderConfig::Kuma(cfg) => {
            let d = match crate::kuma::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "kuma", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            // Go's xDS fetch loop: a poll every refresh interval (at once after a longer
            // one), timed and counted in the prometheus_sd_kuma_fetch_* metrics.
            let every = cfg.refresh_interval.to_std();
            let metrics = sink.metrics.clone();
            loop {
                let start = std::time::Instant::now();
                let r = tokio::select! {
                    () = cancel.cancelled() => return,
                    r = d.fetch() => r,
                };
                let sd = metrics.sd();
                sd.kuma_fetch_duration.observe_since(start);
                match r {
                    Ok(Some(groups)) => sink.update(groups),
                    Ok(None) => sd.kuma_fetch_skipped_updates.inc(),
                    Err(e) => {
                        sd.kuma_fetch_failures.inc();
                        tracing::error!(mechanism = "kuma", err = %e, "error parsing resources");
                    }
                }
                if !wait(every.saturating_sub(start.elapsed()), &cancel).await {
                    return;
                }
            }
        }
        ProviderConfig::Azure(cfg) => {
            let d = match crate::azure::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "azure", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop(
                "azure",
                cfg.refresh_interval.to_std(),
                &cancel,
                &sink,
                || async {
                    let r = d.refresh().await;
                    sink.metrics.sd().azure_cache_hits.add(d.take_cache_hits());
                    r
                },
            )
            .await;
        }
        ProviderConfig::Gce(cfg) => {
            let d = match crate::gce::Discovery::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(mechanism = "gce", err = %e, "Cannot create service discovery");
                    return;
                }
            };
            refresh_loop("gce", cfg.refresh_interval.to_std(), &cancel, &sink, || {
                d.refresh()
            })
            .await;
        }
        ProviderConfig::Dns(cfg) => {
            let mut d = dns::Discovery::new(&cfg, &options.dns_nameservers, &sink.metrics);
            let every = cfg.refresh_interval.to_std();
            // A DNS refresh never fails as a whole (failed names are logged and counted in
            // the lookup failures), as in Prometheus.
            let metrics = sink.metrics.refresh("dns");
            loop {
                let start = std::time::Instant::now();
                tokio::select! {
                    () = cancel.cancelled() => return,
                    groups = d.refresh() => sink.update(groups),
                }
                metrics.duration.observe_since(start);
                if !wait(every, &cancel).await {
                    return;
                }
            }
        }
    }
}

/// Go's `refresh.Discovery`: refreshes now and then every `every` until cancelled; a
/// failed refresh is logged and keeps the last targets.
///
/// Each refresh is timed in `prometheus_sd_refresh_duration_seconds{mechanism}` and each
/// failure counted in `prometheus_sd_refresh_failures_total{mechanism}` (both series exist
/// from the provider's start); linode's and nomad's also in their mechanism's own
/// `prometheus_sd_<mechanism>_failures_total`.
async fn refresh_loop<F, Fut>(
    mechanism: &'static str,
    every: std::time::Duration,
    cancel: &CancellationToken,
    sink: &Sink,
    mut refresh: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<Vec<TargetGroup>, String>>,
{
    let metrics = sink.metrics.refresh(mechanism);
    loop {
        let start = std::time::Instant::now();
        tokio::select! {
            () = cancel.cancelled() => return,
            r = refresh() => match r {
                Ok(groups) => sink.update(groups),
                Err(e) => {
                    metrics.failures.inc();
                    match mechanism {
                        "linode" => sink.metrics.sd().linode_failures.inc(),
                        "azure" => sink.metrics.sd().azure_failures.inc(),
                        "nomad" => sink.metrics.sd().nomad_failures.inc(),
                        _ => {}
                    }
                    tracing::error!(mechanism, err = %e, "Unable to refresh target groups");
                }
            },
        }
        metrics.duration.observe_since(start);
        if !wait(every, cancel).await {
            return;
        }
    }
}

/// Sleeps `every` between refreshes (Go's `refresh.Discovery`); false when cancelled.
async fn wait(every: std::time::Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        () = cancel.cancelled() => false,
        () = tokio::time::sleep(every.max(std::time::Duration::from_millis(1))) => true,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn manager() -> Manager {
        Manager::new(Options {
            name: "test".into(),
            update_interval: Duration::from_millis(20),
            file_watch_interval: Duration::from_millis(20),
            ..Options::default()
        })
    }

    /// The value of one `prometheus_sd_*` series of `m`'s metrics, as `/metrics` shows it.
    fn metric(m: &Manager, series: &str) -> Option<f64> {
        let mut text = String::new();
        m.metrics().write_text(&mut text);
        crate::metrics::value_of(&text, series)
    }

    fn load(yaml: &str) -> config::Config {
        config::Config::load_str(yaml, "").unwrap()
    }

    fn addresses(sets: &TargetSets, job: &str) -> Vec<String> {
        let mut out: Vec<String> = sets
            .get(job)
            .into_iter()
            .flatten()
            .flat_map(|g| g.targets.iter())
            .map(|t| t.get("__address__").unwrap_or_default().to_string())
            .collect();
        out.sort();
        out
    }

    /// Waits (bounded) until the received target sets satisfy `pred`.
    async fn wait_for(
        rx: &mut watch::Receiver<TargetSets>,
        what: &str,
        pred: impl Fn(&TargetSets) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if pred(&rx.borrow_and_update()) {
                return;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => panic!("timed out waiting for {what}; last: {:?}", *rx.borrow()),
            }
        }
    }

    #[tokio::test]
    async fn zookeeper_blocks_get_providers() {
        let m = manager();
        let cfg = load(concat!(
            "scrape_configs:\n",
            "- job_name: ok\n  static_configs: [{targets: ['a:1']}]\n",
            "- job_name: zk\n  serverset_sd_configs: [{servers: ['127.0.0.1:1'], paths: ['/x']}]\n",
            "  nerve_sd_configs: [{servers: ['127.0.0.1:1'], paths: ['/y'], timeout: 1s}]\n",
            "- job_name: bad\n  nerve_sd_configs: [{servers: ['::1'], paths: ['/y']}]\n",
        ));
        m.apply_config(&cfg).unwrap();
        assert_eq!(
            m.failed_providers(),
            [
                "nerve in bad: nerve_sd_configs in job \"bad\": address ::1: too many colons in address"
            ]
        );
        let state = m.inner.state();
        let configs: Vec<&ProviderConfig> = state.providers.iter().map(|p| &p.config).collect();
        assert!(
            configs
                .iter()
                .any(|c| matches!(c, ProviderConfig::Serverset(z) if z.paths == ["/x"]))
                && configs
                    .iter()
                    .any(|c| matches!(c, ProviderConfig::Nerve(z) if z.paths == ["/y"])),
            "{configs:?}"
        );
    }

    #[tokio::test]
    async fn providers_that_cannot_be_created_are_counted_and_the_rest_applies() {
        let m = manager();
        // Unknown schemes and unreadable TLS files: each block fails alone, as
        // Prometheus's "Cannot create service discovery".
        let cfg = load(concat!(
            "scrape_configs:\n",
            "- job_name: x\n  consul_sd_configs: [{server: 'ftp://localhost:8500'}]\n",
            "- job_name: h\n  http_sd_configs: [{url: 'http://127.0.0.1:1/sd', tls_config: {ca_file: /nonexistent/ca.pem}}]\n",
            "  static_configs: [{targets: ['s:1']}]\n",
            "- job_name: d\n  docker_sd_configs: [{host: 'ftp://localhost'}]\n",
            "- job_name: ok\n  static_configs: [{targets: ['a:1', 'a:2']}]\n",
        ));
        m.apply_config(&cfg).unwrap();
        assert_eq!(
            metric(&m, "prometheus_sd_failed_configs{name=\"test\"}"),
            Some(3.0)
        );
        let failures = m.failed_providers();
        assert_eq!(failures.len(), 3, "{failures:?}");
        assert!(failures[0].starts_with("consul in x: "), "{failures:?}");
        let mut rx = m.subscribe();
        let runner = m.clone();
        let task = tokio::spawn(async move { runner.run().await });
        wait_for(&mut rx, "the jobs that work", |s| {
            addresses(s, "ok") == ["a:1", "a:2"] && addresses(s, "h") == ["s:1"]
        })
        .await;
        let sets = m.target_sets();
        assert!(sets["x"].is_empty() && sets["d"].is_empty());
        // Every job has a discovered-targets gauge, the broken ones at zero.
        for (job, n) in [("ok", 2.0), ("h", 1.0), ("x", 0.0), ("d", 0.0)] {
            let series =
                format!("prometheus_sd_discovered_targets{{config=\"{job}\",name=\"test\"}}");
            assert_eq!(metric(&m, &series), Some(n), "{job}");
        }

        // A fixed configuration clears the count; removed jobs lose their gauge.
        let fixed =
            load("scrape_configs:\n- job_name: ok\n  static_configs: [{targets: ['a:1']}]\n");
        m.apply_config(&fixed).unwrap();
        assert_eq!(
            metric(&m, "prometheus_sd_failed_configs{name=\"test\"}"),
            Some(0.0)
        );
        assert_eq!(
            metric(
                &m,
                "prometheus_sd_discovered_targets{config=\"x\",name=\"test\"}"
            ),
            None
        );
        wait_for(&mut rx, "a:1 alone", |s| addresses(s, "ok") == ["a:1"]).await;
        m.stop();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn jobs_with_equal_blocks_share_one_provider() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.yml"), "- targets: ['a:1']\n").unwrap();
        let sd = format!(
            "  file_sd_configs: [{{files: ['{}/*.yml']}}]\n",
            dir.path().display()
        );
        let cfg = load(&format!(
            "scrape_configs:\n- job_name: one\n{sd}- job_name: two\n{sd}- job_name: three\n  static_configs: [{{targets: ['b:1']}}]\n"
        ));
        let m = manager();
        m.apply_config(&cfg).unwrap();
        let jobs: Vec<Vec<String>> = m
            .inner
            .state()
            .providers
            .iter()
            .map(|p| p.jobs.clone())
            .collect();
        assert_eq!(jobs, [vec!["one", "two"], vec!["three"]]);
        let mut rx = m.subscribe();
        let runner = m.clone();
        let task = tokio::spawn(async move { runner.run().await });
        wait_for(&mut rx, "both jobs' targets", |s| {
            addresses(s, "one") == ["a:1"]
                && addresses(s, "two") == ["a:1"]
                && addresses(s, "three") == ["b:1"]
        })
        .await;
        // One file read: one update (and the static provider's two).
        assert_eq!(
            metric(&m, "prometheus_sd_received_updates_total{name=\"test\"}"),
            Some(3.0)
        );
        // Job two leaves: the shared provider keeps running for job one.
        let id = m.inner.state().providers[0].id;
        let cfg = load(&format!("scrape_configs:\n- job_name: one\n{sd}"));
        m.apply_config(&cfg).unwrap();
        assert_eq!(m.inner.state().providers[0].id, id);
        assert_eq!(addresses(&m.target_sets(), "one"), ["a:1"]);
        assert!(!m.target_sets().contains_key("two"));
        m.stop();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn static_providers_count_two_received_updates_and_sends_are_counted() {
        let m = manager();
        let cfg = load(
            "scrape_configs:\n- job_name: a\n  static_configs: [{targets: ['h:1']}]\n- job_name: empty\n",
        );
        m.apply_config(&cfg).unwrap();
        let mut rx = m.subscribe();
        let runner = m.clone();
        let task = tokio::spawn(async move { runner.run().await });
        wait_for(&mut rx, "h:1", |s| addresses(s, "a") == ["h:1"]).await;
        // Go's static provider sends once and closes its channel, which counts too; the
        // job without SD blocks gets an empty static provider of its own.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while metric(&m, "prometheus_sd_received_updates_total{name=\"test\"}") != Some(4.0) {
            assert!(tokio::time::Instant::now() < deadline, "received updates");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(metric(&m, "prometheus_sd_updates_total{name=\"test\"}").unwrap() >= 1.0);
        assert_eq!(
            metric(&m, "prometheus_sd_updates_delayed_total{name=\"test\"}"),
            Some(0.0)
        );
        m.stop();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn http_sd_targets_arrive_and_survive_a_failing_endpoint() {
        let srv = crate::http::tests::SdServer::start((
            200,
            "application/json",
            r#"[{"targets": ["a:1"]}]"#.into(),
        ))
        .await;
        let cfg = load(&format!(
            "scrape_configs:\n- job_name: h\n  http_sd_configs: [{{url: '{}', refresh_interval: 50ms}}]\n",
            srv.url()
        ));
        let m = manager();
        m.apply_config(&cfg).unwrap();
        let mut rx = m.subscribe();
        let runner = m.clone();
        let task = tokio::spawn(async move { runner.run().await });
        wait_for(&mut rx, "a:1", |s| addresses(s, "h") == ["a:1"]).await;
        assert_eq!(
            m.target_sets()["h"][0].labels.get(crate::http::META_URL),
            Some(srv.url().as_str())
        );
        assert_eq!(
            metric(
                &m,
                "prometheus_sd_refresh_failures_total{mechanism=\"http\"}"
            ),
            Some(0.0)
        );
        srv.set((503, "text/plain", "down".into()));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(addresses(&m.target_sets(), "h"), ["a:1"]);
        // Each failed refresh counts in the refresh failures and http_sd's own counter.
        let failures = metric(
            &m,
            "prometheus_sd_refresh_failures_total{mechanism=\"http\"}",
        );
        assert!(failures.is_some_and(|n| n >= 1.0), "{failures:?}");
        assert_eq!(metric(&m, "prometheus_sd_http_failures_total"), failures);
        assert!(
            metric(
                &m,
                "prometheus_sd_refresh_duration_seconds_count{mechanism=\"http\"}"
            )
            .is_some_and(|n| n >= 2.0)
        );
        srv.set((200, "application/json", r#"[{"targets": ["b:2"]}]"#.into()));
        wait_for(&mut rx, "b:2", |s| addresses(s, "h") == ["b:2"]).await;
        m.stop();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn dns_sd_targets_follow_the_records() {
        use crate::dns::tests::{Answer, DnsServer, Rec};
        let dns = DnsServer::start().await;
        dns.set(
            "_node._tcp.example.com",
            "SRV",
            Answer::Records(vec![Rec::Srv(9100, "n1.example.com")]),
        );
        let m = Manager::new(Options {
            update_interval: Duration::from_millis(20),
            dns_nameservers: vec![dns.addr],
            ..Options::default()
        });
        let cfg = load(
            "scrape_configs:\n- job_name: d\n  dns_sd_configs: [{names: ['_node._tcp.example.com'], refresh_interval: 50ms}]\n",
        );
        m.apply_config(&cfg).unwrap();
        let mut rx = m.subscribe();
        let runner = m.clone();
        let task = tokio::spawn(async move { runner.run().await });
        wait_for(&mut rx, "n1", |s| {
            addresses(s, "d") == ["n1.example.com:9100"]
        })
        .await;
        dns.set(
            "_node._tcp.example.com",
            "SRV",
            Answer::Records(vec![
                Rec::Srv(9100, "n1.example.com"),
                Rec::Srv(9100, "n2.example.com"),
            ]),
        );
        wait_for(&mut rx, "n1 and n2", |s| {
            addresses(s, "d") == ["n1.example.com:9100", "n2.example.com:9100"]
        })
        .await;
        assert_eq!(
            metric(&m, "prometheus_sd_dns_lookup_failures_total"),
            Some(0.0)
        );
        // A failing server keeps the targets; the lookups fail, the refreshes do not.
        dns.set("_node._tcp.example.com", "SRV", Answer::ServFail);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(addresses(&m.target_sets(), "d").len(), 2);
        let failures = metric(&m, "prometheus_sd_dns_lookup_failures_total");
        assert!(failures.is_some_and(|n| n >= 1.0), "{failures:?}");
        assert!(metric(&m, "prometheus_sd_dns_lookups_total") > failures);
        assert_eq!(
            metric(
                &m,
                "prometheus_sd_refresh_failures_total{mechanism=\"dns\"}"
            ),
            Some(0.0)
        );
        m.stop();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn server_based_jobs_get_their_targets() {
        use crate::util::testserver::{FakeApi, Reply, Seen};
        let api = FakeApi::start(|seen: &Seen| {
            match seen.uri.split('?').next().unwrap_or_default() {
                "/v1/catalog/services" => {
                    Reply::json(r#"{"web": []}"#).header("X-Consul-Index", "1")
                }
                "/v1/health/service/web" => Reply::json(
                    r#"[{"Node": {"Node": "n1", "Address": "10.0.0.1"}, "Service": {"ID": "web", "Port": 80}}]"#,
                )
                .header("X-Consul-Index", "1"),
                "/_ping" => Reply::status(200, "OK").header("Api-Version", "1.40"),
                "/v1.40/containers/json" => Reply::json(
                    r#"[{"Id": "c1", "Names": ["/c1"], "HostConfig": {"NetworkMode": "bridge"},
                        "NetworkSettings": {"Networks": {"bridge": {"NetworkID": "n", "IPAddress": "172.17.0.2"}}}}]"#,
                ),
                "/v1.40/networks" => Reply::json("[]"),
                "/apps" => Reply::json(
                    "<applications><application><name>A</name><instance><hostName>e1</hostName><port enabled='true'>81</port></instance></application></applications>",
                ),
                "/v1/services" => Reply::json(r#"[{"Services": [{"ServiceName": "s"}]}]"#),
                "/v1/service/s" => Reply::json(r#"[{"Address": "10.0.0.2", "Port": 82}]"#),
                "/pdb/query/v4" => Reply::json(r#"[{"certname": "p1"}]"#),
                "/v2/apps/" => Reply::json(
                    r#"{"apps": [{"id": "a", "tasks": [{"id": "t", "host": "m1", "ports": [83]}]}]}"#,
                ),
                _ => Reply::status(404, "{}"),
            }
        })
        .await;
        let cfg = load(&format!(
            concat!(
                "scrape_configs:\n",
                "- job_name: c\n  consul_sd_configs: [{{server: '{0}', datacenter: dc1, refresh_interval: 50ms}}]\n",
                "- job_name: d\n  docker_sd_configs: [{{host: 'http://{0}', refresh_interval: 50ms}}]\n",
                "- job_name: e\n  eureka_sd_configs: [{{server: 'http://{0}', refresh_interval: 50ms}}]\n",
                "- job_name: n\n  nomad_sd_configs: [{{server: 'http://{0}', refresh_interval: 50ms}}]\n",
                "- job_name: p\n  puppetdb_sd_configs: [{{url: 'http://{0}', query: 'resources {{}}', port: 84, refresh_interval: 50ms}}]\n",
                "- job_name: m\n  marathon_sd_configs: [{{servers: ['http://{0}'], refresh_interval: 50ms}}]\n",
            ),
            api.addr
        ));
        let m = manager();
        m.apply_config(&cfg).unwrap();
        let mut rx = m.subscribe();
        let runner = m.clone();
        let task = tokio::spawn(async move { runner.run().await });
        wait_for(&mut rx, "every job's target", |s| {
            addresses(s, "c") == ["10.0.0.1:80"]
                && addresses(s, "d") == ["172.17.0.2:80"]
                && addresses(s, "e") == ["e1:81"]
                && addresses(s, "n") == ["10.0.0.2:82"]
                && addresses(s, "p") == ["p1:84"]
                && addresses(s, "m") == ["m1:83"]
        })
        .await;
        // Consul's catalog and service queries are timed.
        for call in ["service", "services"] {
            let series = format!(
                "prometheus_sd_consul_rpc_duration_seconds_count{{call=\"{call}\",endpoint=\"catalog\"}}"
            );
            assert!(metric(&m, &series).is_some_and(|n| n >= 1.0), "{call}");
        }
        assert!(
            metric(
                &m,
                "prometheus_sd_refresh_duration_seconds_count{mechanism=\"eureka\"}"
            )
            .is_some_and(|n| n >= 1.0)
        );
        m.stop();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn kuma_triton_and_stackit_jobs_get_their_targets() {
        use crate::util::testserver::{FakeApi, Reply, Seen, test_ca};
        let handler = |seen: &Seen| match seen.uri.split('?').next().unwrap_or_default() {
            "/v3/discovery:monitoringassignments" => {
                if seen.body.contains("\"version_info\":\"1\"") {
                    return Reply::status(304, "");
                }
                Reply::json(
                    r#"{"versionInfo": "1", "typeUrl": "type.googleapis.com/kuma.observability.v1.MonitoringAssignment",
                        "resources": [{"@type": "type.googleapis.com/kuma.observability.v1.MonitoringAssignment",
                        "mesh": "m", "service": "s", "targets": [{"name": "dp", "scheme": "http", "address": "10.1.1.1:9090"}]}]}"#,
                )
            }
            "/v1/projects/p/servers" => Reply::json(
                r#"{"items": [{"id": "i", "nics": [{"networkName": "n", "ipv4": "10.2.2.2"}]}]}"#,
            ),
            "/v1/discover" => Reply::json(r#"{"containers": [{"vm_uuid": "u1"}]}"#),
            _ => Reply::status(404, "{}"),
        };
        let api = FakeApi::start(handler).await;
        let tls = FakeApi::start_tls(handler).await;
        let cfg = load(&format!(
            concat!(
                "scrape_configs:\n",
                "- job_name: k\n  kuma_sd_configs: [{{server: 'http://{0}', refresh_interval: 50ms}}]\n",
                "- job_name: s\n  stackit_sd_configs: [{{endpoint: 'http://{0}', project: p, refresh_interval: 50ms}}]\n",
                "- job_name: t\n  triton_sd_configs: [{{account: a, dns_suffix: d, endpoint: 127.0.0.1, port: {1}, tls_config: {{ca_file: '{2}'}}, refresh_interval: 50ms}}]\n",
            ),
            api.addr,
            tls.addr.port(),
            test_ca(),
        ));
        let m = manager();
        m.apply_config(&cfg).unwrap();
        let mut rx = m.subscribe();
        let runner = m.clone();
        let task = tokio::spawn(async move { runner.run().await });
        let triton = format!("u1.d:{}", tls.addr.port());
        wait_for(&mut rx, "every job's target", |s| {
            addresses(s, "k") == ["10.1.1.1:9090"]
                && addresses(s, "s") == ["10.2.2.2:80"]
                && addresses(s, "t") == [triton.as_str()]
        })
        .await;
        // Kuma's polls are timed, and the unchanged answers skipped.
        while metric(&m, "prometheus_sd_kuma_fetch_skipped_updates_total").unwrap_or(0.0) < 1.0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            metric(&m, "prometheus_sd_kuma_fetch_duration_seconds_count").is_some_and(|n| n >= 2.0)
        );
        assert_eq!(
            metric(&m, "prometheus_sd_kuma_fetch_failures_total"),
            Some(0.0)
        );
        assert_eq!(metric(&m, "prometheus_sd_azure_failures_total"), Some(0.0));
        for mechanism in ["stackit", "triton"] {
            let series = format!(
                "prometheus_sd_refresh_duration_seconds_count{{mechanism=\"{mechanism}\"}}"
            );
            assert!(metric(&m, &series).is_some_and(|n| n >= 1.0), "{mechanism}");
        }
        m.stop();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn static_configs_become_one_group_per_entry() {
        let m = manager();
        let cfg = load(
            "scrape_configs:\n- job_name: a\n  static_configs: [{targets: ['h:1', 'h:2'], labels: {l: v}}, {targets: ['h:3']}]\n- job_name: empty\n",
        );
        m.apply_config(&cfg).unwrap();
        let mut rx = m.subscribe();
        let runner = m.clone();
        let task = tokio::spawn(async move { runner.run().await });
        wait_for(&mut rx, "static targets", |s| addresses(s, "a").len() == 3).await;
        let sets = rx.borrow().clone();
        assert_eq!(sets["a"].len(), 2);
        assert_eq!(sets["a"][0].source, "0");
        assert_eq!(sets["a"][0].labels.get("l"), Some("v"));
        assert!(sets["empty"].is_empty());
        m.stop();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn file_sd_changes_are_sent_within_a_refresh_and_broken_files_keep_targets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("targets.yml");
        std::fs::write(&path, "- targets: ['a:1']\n").unwrap();
        let cfg = load(&format!(
            "scrape_configs:\n- job_name: f\n  file_sd_configs: [{{files: ['{}/*.yml'], refresh_interval: 50ms}}]\n",
            dir.path().display()
        ));
        let m = manager();
        m.apply_config(&cfg).unwrap();
        let mut rx = m.subscribe();
        let runner = m.clone();
        let task = tokio::spawn(async move { runner.run().await });
        wait_for(&mut rx, "a:1", |s| addresses(s, "f") == ["a:1"]).await;
        let sets = rx.borrow().clone();
        assert_eq!(
            sets["f"][0].labels.get(file::META_FILEPATH),
            Some(path.to_str().unwrap())
        );
        assert_eq!(sets["f"][0].source, format!("{}:0", path.display()));

        // Added and changed.
        std::fs::write(&path, "- targets: ['a:2', 'b:1']\n").unwrap();
        wait_for(&mut rx, "a:2 and b:1", |s| {
            addresses(s, "f") == ["a:2", "b:1"]
        })
        .await;

        assert_eq!(
            metric(
                &m,
                "prometheus_sd_discovered_targets{config=\"f\",name=\"test\"}"
            ),
            Some(2.0)
        );
        assert_eq!(
            metric(&m, "prometheus_sd_file_read_errors_total"),
            Some(0.0)
        );

        // Broken: the last good targets stay, and the read errors count.
        std::fs::write(&path, "- targets: [oops\n").unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(addresses(&m.target_sets(), "f"), ["a:2", "b:1"]);
        let errors = metric(&m, "prometheus_sd_file_read_errors_total");
        assert!(errors.is_some_and(|n| n >= 1.0), "{errors:?}");
        assert!(
            metric(&m, "prometheus_sd_file_scan_duration_seconds_count").is_some_and(|n| n >= 3.0)
        );
        let mtime = format!(
            "prometheus_sd_file_mtime_seconds{{filename=\"{}\"}}",
            path.display()
        );
        assert!(metric(&m, &mtime).is_some_and(|t| t > 1e9));

        // Fixed again, then removed.
        std::fs::write(&path, "- targets: ['c:1']\n").unwrap();
        wait_for(&mut rx, "c:1", |s| addresses(s, "f") == ["c:1"]).await;
        std::fs::remove_file(&path).unwrap();
        wait_for(&mut rx, "no targets", |s| addresses(s, "f").is_empty()).await;
        m.stop();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn file_changes_are_noticed_before_the_refresh_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        std::fs::write(&path, r#"[{"targets": ["a:1"]}]"#).unwrap();
        let cfg = load(&format!(
            "scrape_configs:\n- job_name: f\n  file_sd_configs: [{{files: ['{}'], refresh_interval: 1h}}]\n",
            path.display()
        ));
        let m = manager();
        m.apply_config(&cfg).unwrap();
        let mut rx = m.subscribe();
        let runner = m.clone();
        let task = tokio::spawn(async move { runner.run().await });
        wait_for(&mut rx, "a:1", |s| addresses(s, "f") == ["a:1"]).await;
        std::fs::write(&path, r#"[{"targets": ["b:22"]}]"#).unwrap();
        wait_for(&mut rx, "b:22", |s| addresses(s, "f") == ["b:22"]).await;
        m.stop();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn unchanged_providers_are_kept_on_reload_and_removed_jobs_dropped() {
        let m = manager();
        let one = load(
            "scrape_configs:\n- job_name: a\n  static_configs: [{targets: ['h:1']}]\n- job_name: b\n  static_configs: [{targets: ['h:2']}]\n",
        );
        m.apply_config(&one).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let ids: Vec<u64> = m.inner.state().providers.iter().map(|p| p.id).collect();
        let two = load(
            "scrape_configs:\n- job_name: a\n  static_configs: [{targets: ['h:1']}]\n- job_name: c\n  static_configs: [{targets: ['h:3']}]\n",
        );
        m.apply_config(&two).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let state = m.inner.state();
        assert_eq!(
            state.providers[0].id, ids[0],
            "job a's provider was restarted"
        );
        assert_ne!(state.providers[1].id, ids[1]);
        drop(state);
        let sets = m.target_sets();
        assert_eq!(addresses(&sets, "a"), ["h:1"]);
        assert_eq!(addresses(&sets, "c"), ["h:3"]);
        assert!(!sets.contains_key("b"));
    }
}
