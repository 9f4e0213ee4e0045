//! ZooKeeper service discovery (`serverset_sd_configs` and `nerve_sd_configs`), as
//! Prometheus's `discovery/zookeeper`: a tree cache ([`treecache`]) per configured path on
//! one session with the `servers`; every node below a path whose data is a Twitter
//! serverset member (`serviceEndpoint`, `additionalEndpoints`, `status`, `shard`) or an
//! AirBnB Nerve member (`host`, `port`, `name`) is one group (source: the node's path) with
//! one target, labelled `__meta_serverset_*` or `__meta_nerve_*`. A node whose data is not
//! such JSON (the path's own node, usually) has no targets; a deleted node's group is
//! emptied. The client ([`client`]) is this crate's own (jute over Tokio TCP).

mod client;
mod jute;
mod treecache;

use std::time::Duration;

use config::discovery::ZookeeperSdConfig;
use model::{Labels, TargetGroup};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::util::{join_host_port, sanitize};

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

/// A JSON value that does not fit the Go field it is decoded into.
#[derive(Debug)]
struct Mismatch(&'static str);

/// Decodes `data` as Go's `encoding/json` would into a struct: `null` leaves it zero, an
/// object fills it, anything else fails. Invalid UTF-8 inside strings is replaced, as Go
/// does.
fn go_struct(data: &[u8]) -> Result<Option<Map<String, Value>>, String> {
    let text = String::from_utf8_lossy(data);
    match serde_json::from_str::<Value>(&text).map_err(|e| e.to_string())? {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m)),
        _ => Err("json: cannot unmarshal non-object into a member".to_owned()),
    }
}

/// The value of Go field `name` in `obj`: an exact key first, else one equal but for
/// ASCII case (Go's `encoding/json` matching).
fn field<'a>(obj: Option<&'a Map<String, Value>>, name: &str) -> Option<&'a Value> {
    let obj = obj?;
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn go_string(v: Option<&Value>) -> Result<String, Mismatch> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(Mismatch("string")),
    }
}

/// A Go `int`: an integer literal (no fraction or exponent) that fits 64 bits.
fn go_int(v: Option<&Value>) -> Result<i64, Mismatch> {
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n.as_i64().ok_or(Mismatch("int")),
        Some(_) => Err(Mismatch("int")),
    }
}

fn go_object(v: Option<&Value>) -> Result<Option<&Map<String, Value>>, Mismatch> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(Mismatch("object")),
    }
}

/// A serverset endpoint: `host` and `port`.
fn endpoint(v: Option<&Value>) -> Result<(String, i64), Mismatch> {
    let obj = go_object(v)?;
    Ok((go_string(field(obj, "Host"))?, go_int(field(obj, "Port"))?))
}

/// The target of a serverset member node (Go's `parseServersetMember`).
fn parse_serverset_member(data: &[u8], path: &str) -> Result<Labels, String> {
    let fail = |e: String| format!("error unmarshaling serverset member {path:?}: {e}");
    let member = go_struct(data).map_err(fail)?;
    let obj = member.as_ref();
    let mismatch =
        |Mismatch(t): Mismatch| fail(format!("json: cannot unmarshal into Go value of type {t}"));
    let (host, port) = endpoint(field(obj, "ServiceEndpoint")).map_err(mismatch)?;
    let additional = go_object(field(obj, "AdditionalEndpoints")).map_err(mismatch)?;
    let status = go_string(field(obj, "status")).map_err(mismatch)?;
    let shard = go_int(field(obj, "shard")).map_err(mismatch)?;
    let mut pairs = vec![
        ("__meta_serverset_path".to_owned(), path.to_owned()),
        ("__address__".to_owned(), join_host_port(&host, port)),
        ("__meta_serverset_endpoint_host".to_owned(), host),
        (
            "__meta_serverset_endpoint_port".to_owned(),
            port.to_string(),
        ),
    ];
    for (name, ep) in additional.into_iter().flatten() {
        let (host, port) = endpoint(Some(ep)).map_err(mismatch)?;
        let name = sanitize(name);
        pairs.push((format!("__meta_serverset_endpoint_host_{name}"), host));
        pairs.push((
            format!("__meta_serverset_endpoint_port_{name}"),
            port.to_string(),
        ));
    }
    pairs.push(("__meta_serverset_status".to_owned(), status));
    pairs.push(("__meta_serverset_shard".to_owned(), shard.to_string()));
    Ok(Labels::from_pairs(pairs))
}

/// The target of a Nerve member node (Go's `parseNerveMember`).
fn parse_nerve_member(data: &[u8], path: &str) -> Result<Labels, String> {
    let fail = |e: String| format!("error unmarshaling nerve member {path:?}: {e}");
    let member = go_struct(data).map_err(fail)?;
    let obj = member.as_ref();
    let mismatch =
        |Mismatch(t): Mismatch| fail(format!("json: cannot unmarshal into Go value of type {t}"));
    let host = go_string(field(obj, "host")).map_err(mismatch)?;
    let port = go_int(field(obj, "port")).map_err(mismatch)?;
    let name = go_string(field(obj, "name")).map_err(mismatch)?;
    Ok(Labels::from_pairs([
        ("__meta_nerve_path".to_owned(), path.to_owned()),
        ("__address__".to_owned(), join_host_port(&host, port)),
        ("__meta_nerve_endpoint_host".to_owned(), host),
        ("__meta_nerve_endpoint_port".to_owned(), port.to_string()),
        ("__meta_nerve_endpoint_name".to_owned(), name),
    ]))
}

#[cfg(test)]
mod tests;
