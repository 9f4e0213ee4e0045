//! Go's `util/treecache`: a cache of the ZooKeeper tree below one path, kept up to date
//! through watches, reporting every node whose data appears or changes and every node that
//! goes away.
//!
//! The first read walks the tree (data and children of each node, both watched). A fired
//! watch re-reads its node (and any new children, recursively). A failed read, a session
//! lost with its watches, or the configured path going away puts the cache in failure mode:
//! events are ignored until, after the retry interval (ten seconds in Prometheus), the
//! whole tree is read again and compared with the cached one, whose vanished nodes are
//! reported deleted; a failed resync waits another interval.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::{Client, EventType, WatchEvent, Watcher, ZkError};

/// A node that appeared or changed (`data` set) or went away (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) path: String,
    pub(crate) data: Option<Vec<u8>>,
}

#[derive(Debug, Default)]
struct Node {
    data: Option<Vec<u8>>,
    children: BTreeMap<String, Node>,
    /// Deleted (its watches no longer count); re-read when its parent lists it again.
    stopped: bool,
}

/// What every node update needs.
struct Ctx<'a> {
    client: &'a Client,
    watcher: &'a Watcher,
    out: &'a mpsc::UnboundedSender<Event>,
}

impl Ctx<'_> {
    fn emit(&self, path: &str, data: Option<Vec<u8>>) {
        let _ = self.out.send(Event {
            path: path.to_owned(),
            data,
        });
    }

    /// Reads `node` at `path` and its new children, watching them (Go's
    /// `recursiveNodeUpdate`). Only the head's absence is an error.
    fn update<'a>(
        &'a self,
        path: String,
        node: &'a mut Node,
        is_head: bool,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let data = match self.client.get_data(&path, self.watcher).await {
                Ok(d) => d,
                Err(ZkError::NoNode) => {
                    self.delete(&path, node);
                    if is_head {
                        return Err(format!("path {path} does not exist"));
                    }
                    return Ok(());
                }
                Err(e) => return Err(e.to_string()),
            };
            node.stopped = false;
            if node.data.as_ref() != Some(&data) {
                self.emit(&path, Some(data.clone()));
                node.data = Some(data);
            }
            let children = match self.client.children(&path, self.watcher).await {
                Ok(c) => c,
                Err(ZkError::NoNode) => {
                    self.delete(&path, node);
                    return Ok(());
                }
                Err(e) => return Err(e.to_string()),
            };
            for name in &children {
                let fresh = node.children.get(name).is_none_or(|c| c.stopped);
                if fresh {
                    let child = node.children.entry(name.clone()).or_default();
                    *child = Node::default();
                    self.update(join(&path, name), child, false).await?;
                }
            }
            let gone: Vec<String> = node
                .children
                .keys()
                .filter(|k| !children.contains(k))
                .cloned()
                .collect();
            for name in gone {
                if let Some(mut child) = node.children.remove(&name) {
                    self.delete(&join(&path, &name), &mut child);
                }
            }
            Ok(())
        })
    }

    /// Reports `node` and everything below it deleted (Go's `recursiveDelete`).
    fn delete(&self, path: &str, node: &mut Node) {
        node.stopped = true;
        if node.data.take().is_some() {
            self.emit(path, None);
        }
        for (name, child) in &mut node.children {
            self.delete(&join(path, name), child);
        }
    }

    /// Reports the nodes of `previous` missing from `current` deleted (Go's `resyncState`).
    fn resync(&self, path: &str, current: &Node, previous: &mut Node) {
        for (name, prev) in &mut previous.children {
            let p = join(path, name);
            match current.children.get(name) {
                Some(cur) => self.resync(&p, cur, prev),
                None => self.delete(&p, prev),
            }
        }
    }
}

/// `child` below `parent`.
fn join(parent: &str, child: &str) -> String {
    if parent.ends_with('/') {
        format!("{parent}{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// The cached node at `path` below `head` (at `prefix`), if any.
fn find<'a>(head: &'a mut Node, prefix: &str, path: &str) -> Option<&'a mut Node> {
    let rest = path.strip_prefix(prefix)?;
    let rest = if prefix.ends_with('/') {
        rest
    } else if rest.is_empty() {
        return Some(head);
    } else {
        rest.strip_prefix('/')?
    };
    let mut node = head;
    for part in rest.split('/').filter(|p| !p.is_empty()) {
        node = node.children.get_mut(part)?;
    }
    Some(node)
}

/// Caches the tree at `prefix`, sending its [`Event`]s to `out`, until cancelled (Go's
/// `ZookeeperTreeCache.loop`). `failures` counts each switch into failure mode.
pub(crate) async fn run(
    client: &Client,
    prefix: &str,
    out: mpsc::UnboundedSender<Event>,
    retry: Duration,
    cancel: &CancellationToken,
    failures: &(dyn Fn() + Sync),
) {
    let (watcher, mut events) = mpsc::unbounded_channel::<WatchEvent>();
    let ctx = Ctx {
        client,
        watcher: &watcher,
        out: &out,
    };
    let mut head = Node::default();
    let mut retry_at: Option<tokio::time::Instant> = None;
    let failure = |retry_at: &mut Option<tokio::time::Instant>| {
        failures();
        *retry_at = Some(tokio::time::Instant::now() + retry);
    };
    let first = tokio::select! {
        () = cancel.cancelled() => return,
        r = ctx.update(prefix.to_owned(), &mut head, true) => r,
    };
    if let Err(e) = first {
        tracing::error!(path = prefix, err = %e, "Error during initial read of Zookeeper");
        failure(&mut retry_at);
    }
    loop {
        let at = retry_at;
        let sleep = async move {
            match at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            ev = events.recv() => {
                let Some(ev) = ev else { return };
                tracing::debug!(path = %ev.path, kind = ?ev.kind, "Received Zookeeper event");
                if retry_at.is_some() {
                    continue;
                }
                if ev.kind == EventType::NotWatching {
                    tracing::info!(path = prefix, "Lost connection to Zookeeper.");
                    failure(&mut retry_at);
                    continue;
                }
                let is_head = ev.path == prefix;
                let Some(node) = find(&mut head, prefix, &ev.path) else { continue };
                if node.stopped && !is_head {
                    continue;
                }
                let r = tokio::select! {
                    () = cancel.cancelled() => return,
                    r = ctx.update(ev.path.clone(), node, is_head) => r,
                };
                if let Err(e) = r {
                    tracing::error!(path = prefix, err = %e, "Error during processing of Zookeeper event");
                    failure(&mut retry_at);
                } else if head.data.is_none() {
                    tracing::error!(path = prefix, err = "path no longer exists", "Error during processing of Zookeeper event");
                    failure(&mut retry_at);
                }
            }
            () = sleep => {
                tracing::info!(path = prefix, "Attempting to resync state with Zookeeper");
                let mut previous = Node {
                    children: std::mem::take(&mut head.children),
                    ..Node::default()
                };
                let r = tokio::select! {
                    () = cancel.cancelled() => return,
                    r = ctx.update(prefix.to_owned(), &mut head, true) => r,
                };
                match r {
                    Err(e) => {
                        tracing::error!(path = prefix, err = %e, "Error during Zookeeper resync");
                        head.children = previous.children;
                        failure(&mut retry_at);
                    }
                    Ok(()) => {
                        ctx.resync(prefix, &head, &mut previous);
                        tracing::info!(path = prefix, "Zookeeper resync successful");
                        retry_at = None;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_below_the_prefix_are_found_in_the_cache() {
        let mut head = Node::default();
        head.children
            .entry("a".into())
            .or_default()
            .children
            .insert(
                "b".into(),
                Node {
                    data: Some(b"x".to_vec()),
                    ..Node::default()
                },
            );
        let b = find(&mut head, "/s", "/s/a/b").map(|n| n.data.clone());
        assert_eq!(b, Some(Some(b"x".to_vec())));
        assert!(find(&mut head, "/s", "/s").is_some());
        assert!(find(&mut head, "/s", "/sa").is_none());
        assert!(find(&mut head, "/s", "/s/c").is_none());
        assert!(find(&mut head, "/", "/a/b").is_some());
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }
}
