//! Service discovery: finds scrape (and Alertmanager) targets and hands them over as
//! [`model::TargetGroup`]s, as Prometheus's `discovery` package does.
//!
//! Main types: [`Manager`], which runs one provider per distinct service-discovery block
//! (jobs with equal blocks share it, as in Prometheus; the closed
//! [`config::ServiceDiscoveryConfig`] enum is matched here; there is no registry),
//! coalesces their updates and sends [`TargetSets`] (groups per job) to consumers
//! on a `tokio::sync::watch` channel at most every [`Options::update_interval`];
//! [`Metrics`], the `prometheus_sd_*` metrics the managers and providers count in (one set
//! per process, written for `/metrics` by [`Metrics::write_text`]); and
//! [`file::read_file`], the file_sd reader.
//!
//! Mechanisms: `static_configs`; `file_sd_configs` (JSON and YAML files by glob, re-read
//! every `refresh_interval` and as soon as a matched file is added, removed or written, which
//! is noticed by polling file metadata every [`Options::file_watch_interval`]; a broken file
//! keeps its last good targets); `http_sd_configs` ([`http`]: a JSON list of target groups
//! fetched with the job's HTTP client options through [`httpclient`]; a failed fetch keeps
//! the last targets); and `dns_sd_configs` ([`dns`]: SRV, A, AAAA, MX and NS lookups through
//! the name servers of `/etc/resolv.conf`, or [`Options::dns_nameservers`]; a failed lookup
//! keeps the name's last targets, a name that does not exist has none); and
//! `kubernetes_sd_configs` ([`kubernetes`]: list and watch of the API server's pods, nodes,
//! services, endpoints, endpointslices or ingresses, through `api_server`, a kubeconfig file
//! or the in-cluster service account; one group per object, emptied when it is deleted;
//! node and namespace metadata attached on request); and `consul_sd_configs` (Consul's
//! catalog and health endpoints through blocking queries, one group per service with
//! Prometheus's `__meta_consul_*` labels); and `docker_sd_configs` (the Docker Engine API's
//! containers and networks over http(s) or a unix socket, one target per container,
//! network and TCP port with Prometheus's `__meta_docker_*` labels); `eureka_sd_configs`
//! (the `/apps` XML, a target per instance) and `nomad_sd_configs` (service list and
//! registrations, a target per registration); `puppetdb_sd_configs` (a PQL query POSTed to
//! `/pdb/query/v4`, a target per resource, parameters as labels on request); and
//! `marathon_sd_configs` (apps with their tasks from a random server, a group per app, a
//! target per task and port); and `dockerswarm_sd_configs` (services, tasks or nodes of a
//! swarm manager through the docker_sd client); and `vultr_sd_configs` and
//! `digitalocean_sd_configs` (the account's instances or droplets, page by page);
//! `linode_sd_configs`, `hetzner_sd_configs`, `scaleway_sd_configs`, `ionos_sd_configs` and
//! `ovhcloud_sd_configs` (cloud servers through each provider's REST API);
//! `ec2_sd_configs`, `lightsail_sd_configs`, `ecs_sd_configs`, `msk_sd_configs`,
//! `rds_sd_configs`, `elasticache_sd_configs` and `mq_sd_configs` (AWS APIs signed with
//! SigV4, `request_concurrency` requests at once; `aws_sd_configs` roles ec2, lightsail,
//! ecs, msk, rds and elasticache);
//! `gce_sd_configs` (the Compute API with application default credentials);
//! `azure_sd_configs` (Resource Manager virtual machines and scale-set machines);
//! `kuma_sd_configs` (MADS v1 over xDS REST-JSON polling); `triton_sd_configs` (triton-cmon);
//! `stackit_sd_configs` (IaaS servers, bearer token or service account key flow);
//! `outscale_sd_configs` (OUTSCALE API `ReadVms`, SigV4-signed);
//! `oci_sd_configs` (OCI compute instances and their primary VNICs, API-key-signed requests);
//! `serverset_sd_configs` and `nerve_sd_configs` (ZooKeeper trees watched through this
//! crate's own client, a target per member node);
//! `uyuni_sd_configs` (XML-RPC) and `openstack_sd_configs` (Keystone, Nova, Neutron). A block
//! whose provider cannot be created (unusable client options, an unknown scheme) is logged
//! as Prometheus logs it ("Cannot create service discovery") and counted in
//! `prometheus_sd_failed_configs`; the rest of the configuration applies. A mechanism or
//! option without a provider here ([`Error::Unsupported`], [`Error::UnsupportedOption`])
//! fails [`Manager::apply_config`] instead, so that a server never starts with a job
//! silently empty.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let cfg = config::Config::load_str(
//!     "scrape_configs:\n- job_name: node\n  static_configs: [{targets: ['localhost:9100']}]\n",
//!     "",
//! )
//! .unwrap();
//! let manager = discovery::Manager::new(discovery::Options {
//!     update_interval: std::time::Duration::from_millis(10),
//!     ..Default::default()
//! });
//! let mut sets = manager.subscribe();
//! manager.apply_config(&cfg).unwrap();
//! let runner = manager.clone();
//! let task = tokio::spawn(async move { runner.run().await });
//! sets.changed().await.unwrap();
//! assert_eq!(sets.borrow()["node"][0].targets[0].get("__address__"), Some("localhost:9100"));
//! manager.stop();
//! task.await.unwrap();
//! # }
//! ```

mod api;
mod aws;
mod azure;
mod consul;
mod digitalocean;
pub mod dns;
mod docker;
mod dockerswarm;
mod ec2;
mod ecs;
mod elasticache;
mod error;
mod eureka;
pub mod file;
mod gce;
mod hetzner;
pub mod http;
mod ionos;
pub mod kubernetes;
mod kuma;
mod lightsail;
mod linode;
mod manager;
mod marathon;
mod metrics;
mod mq;
mod msk;
mod nomad;
mod oci;
mod openstack;
mod outscale;
mod ovhcloud;
mod puppetdb;
mod rds;
mod scaleway;
mod stackit;
mod triton;
mod util;
mod uyuni;
mod vultr;
mod zookeeper;

pub use error::{Error, Result};
pub use manager::{Manager, Options, TargetSets};
pub use metrics::Metrics;
