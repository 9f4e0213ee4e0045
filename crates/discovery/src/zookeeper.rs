//! ZooKeeper service discovery (`serverset_sd_configs` and `nerve_sd_configs`), as
//! Prometheus's `discovery/zookeeper`: a tree cache ([`treecache`]) per configured path on
//! one session with the `servers`; every node below a path whose data is a Twitter
//! serverset member (`serviceEndpoint`, `additionalEndpoints`, `status`, `shard`) or an
//! AirBnB Nerve member (`host`, `port`, `name`) is one group (source: the node's path) with
//! one target, labelled `__meta_serverset_*` or `__meta_nerve_*`, its JSON decoded as Go's
//! `encoding/json` decodes it ([`member`]). A node whose data does not decode (the path's
//! own node, usually) has no targets; a deleted node's group is emptied. The client
//! ([`client`]) is this crate's own (jute over Tokio TCP).

mod client;
mod jute;
mod member;
mod treecache;

use std::time::Duration;

use config::discovery::ZookeeperSdConfig;
use model::{Labels, TargetGroup};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use member::{parse_nerve_member, parse_serverset_member};

/// How long a tree cache in failure mode waits before reading its tree again (Go's
/// treecache: ten seconds).
const RETRY: Duration = Duration::from_secs(10);

/// The member format of the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Twitter serversets (`serverset_sd_configs`).
    Serverset,
    /// AirBnB Nerve (`nerve_sd_configs`).
    Nerve,
}

/// One serverset_sd or nerve_sd provider.
#[derive(Debug)]
pub(crate) struct Discovery {
    servers: Vec<String>,
    paths: Vec<String>,
    timeout: Duration,
    kind: Kind,
    retry: Duration,
}

impl Discovery {
    /// A provider for `cfg` (Go's `NewServersetDiscovery` / `NewNerveDiscovery`); it
    /// connects when run.
    ///
    /// # Errors
    /// A server address that is not `host[:port]` (as go-zookeeper's `Connect` refuses it).
    pub(crate) fn new(cfg: &ZookeeperSdConfig, kind: Kind) -> Result<Discovery, String> {
        for s in &cfg.servers {
            check_server(s)?;
        }
        Ok(Discovery {
            servers: cfg.servers.clone(),
            paths: cfg.paths.clone(),
            timeout: cfg.timeout.to_std(),
            kind,
            retry: RETRY,
        })
    }

    /// Watches the paths, sending each node's group as it appears, changes or goes away,
    /// until cancelled. `failures` is called whenever a tree cache falls into failure mode.
    pub(crate) async fn run(
        &self,
        cancel: CancellationToken,
        mut send: impl FnMut(Vec<TargetGroup>),
        failures: &(dyn Fn() + Sync),
    ) {
        let client = client::Client::connect(&self.servers, self.timeout);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let caches = futures::future::join_all(
            self.paths
                .iter()
                .map(|p| treecache::run(&client, p, tx.clone(), self.retry, &cancel, failures)),
        );
        drop(tx);
        let consume = async {
            while let Some(ev) = rx.recv().await {
                let mut groups = vec![self.group(ev)];
                while let Ok(ev) = rx.try_recv() {
                    groups.push(self.group(ev));
                }
                send(groups);
            }
        };
        tokio::select! {
            () = cancel.cancelled() => {}
            _ = caches => {}
            () = consume => {}
        }
    }

    /// The group of one tree cache event (Go's `Run`): the node's target if its data
    /// parses, none otherwise.
    fn group(&self, ev: treecache::Event) -> TargetGroup {
        let target = ev.data.as_deref().and_then(|data| {
            let parsed = match self.kind {
                Kind::Serverset => parse_serverset_member(data, &ev.path),
                Kind::Nerve => parse_nerve_member(data, &ev.path),
            };
            parsed
                .inspect_err(|e| tracing::debug!(path = %ev.path, err = %e, "skipping znode"))
                .ok()
        });
        TargetGroup {
            targets: target.into_iter().collect(),
            labels: Labels::empty(),
            source: ev.path,
        }
    }
}

/// Checks a server as Go's `net.SplitHostPort` does after go-zookeeper added the default
/// port to one without a colon.
fn check_server(server: &str) -> Result<(), String> {
    let fail = |why: &str| Err(format!("address {server}: {why}"));
    if !server.contains(':') {
        return Ok(());
    }
    if let Some(rest) = server.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return fail("missing ']' in address");
        };
        return match &rest[end + 1..] {
            "" => fail("missing port in address"),
            r if r.starts_with(':') && !r[1..].contains([':', '[', ']']) => Ok(()),
            r if r.starts_with(':') => fail("too many colons in address"),
            _ => fail("missing port in address"),
        };
    }
    if server.matches(':').count() > 1 {
        return fail("too many colons in address");
    }
    if server.contains(['[', ']']) {
        return fail("unexpected '[' or ']' in address");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
