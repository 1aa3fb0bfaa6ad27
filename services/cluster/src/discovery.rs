//! Reaching other services' nodes over gRPC, wherever they are now.
//!
//! - [`Owners`] follows who owns what under a prefix (`/cc/own/queue/` ...);
//! - [`routed`] makes one tonic [`Channel`] whose requests go to whatever addresses a watch
//!   says now (every node of a service, or the owner of one key): when a node dies or an
//!   ownership moves, the same channel (and every client built on it) reaches the new
//!   target, with no reconnection logic in the callers;
//! - [`Peers`] keeps one lazily connected channel per node address for callers that pin a
//!   node themselves (a call's media endpoints live on one media node).
//!
//! Every channel keeps its HTTP/2 connection alive with pings, so a node that dies without
//! closing its connections (SIGKILL, a cut link) ends the streams opened to it within
//! seconds.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint};

use crate::{Coordinator, Follower, NodeInfo, Revision};

/// How long a connection attempt to a node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// HTTP/2 ping interval and the wait for its answer.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// The endpoint of a node's gRPC API at `address` (`host:port`), with the cluster's
/// connection settings.
pub fn endpoint(address: &str) -> Result<Endpoint, tonic::transport::Error> {
    Ok(Endpoint::from_shared(format!("http://{address}"))?
        .connect_timeout(CONNECT_TIMEOUT)
        .http2_keep_alive_interval(KEEP_ALIVE)
        .keep_alive_timeout(KEEP_ALIVE)
        .keep_alive_while_idle(true))
}

/// One channel per node address, connected on first use and reconnected by tonic after a
/// failure.
#[derive(Debug, Clone, Default)]
pub struct Peers {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

impl Peers {
    /// The channel to the node at `address`.
    pub fn channel(&self, address: &str) -> Result<Channel, tonic::transport::Error> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(channel) = channels.get(address) {
            return Ok(channel.clone());
        }
        let channel = endpoint(address)?.connect_lazy();
        channels.insert(address.to_owned(), channel.clone());
        Ok(channel)
    }
}

/// A channel whose requests go to the addresses `addresses(&source)` gives now, balanced
/// over them when there are several, and waiting (until the caller's deadline) while there
/// is none. Follows `source` until every clone of the channel is dropped.
pub fn routed<T>(
    mut source: watch::Receiver<T>,
    addresses: impl Fn(&T) -> Vec<String> + Send + 'static,
) -> Channel
where
    T: Send + Sync + 'static,
{
    // Changes are rare (nodes come and go); the buffer only has to hold them until the
    // channel's next request takes them in.
    let (channel, changes) = Channel::balance_channel::<String>(1024);
    tokio::spawn(async move {
        let mut current: HashSet<String> = HashSet::new();
        loop {
            let wanted: HashSet<String> =
                addresses(&source.borrow_and_update()).into_iter().collect();
            // Removals first: an ownership that moved never has two targets at once.
            for gone in current.difference(&wanted) {
                if changes.send(Change::Remove(gone.clone())).await.is_err() {
                    return;
                }
            }
            for new in wanted.difference(&current) {
                match endpoint(new) {
                    Ok(e) => {
                        if changes.send(Change::Insert(new.clone(), e)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!(address = %new, error = %e, "unusable node address"),
                }
            }
            current = wanted;
            tokio::select! {
                changed = source.changed() => if changed.is_err() { return },
                () = changes.closed() => return,
            }
        }
    });
    channel
}

/// The holder of one ownership key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The owning node, as it wrote itself into the key.
    pub node: NodeInfo,
    /// The key's create revision: a new value means a new ownership (even by the same node
    /// again, after it lost its lease), whose state starts empty.
    pub token: Revision,
}

/// Who owns each key under a prefix, followed live. Names are the keys without the prefix
/// (`/cc/own/queue/sales` -> `sales`).
#[derive(Debug, Clone)]
pub struct Owners {
    owners: watch::Receiver<BTreeMap<String, Owner>>,
}

impl Owners {
    /// Follows the owners under `prefix` (until every clone is dropped).
    pub fn follow(coordinator: Arc<dyn Coordinator>, prefix: &str) -> Self {
        let (tx, owners) = watch::channel(BTreeMap::new());
        let mut follower = Follower::new(coordinator, prefix);
        let prefix = prefix.to_owned();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = follower.next() => {}
                    () = tx.closed() => return,
                }
                let owners = follower
                    .kvs()
                    .values()
                    .filter_map(|kv| {
                        let name = kv.key.strip_prefix(&prefix)?;
                        match serde_json::from_slice::<NodeInfo>(&kv.value) {
                            Ok(node) => Some((
                                name.to_owned(),
                                Owner {
                                    node,
                                    token: kv.create_revision,
                                },
                            )),
                            Err(e) => {
                                tracing::warn!(key = %kv.key, error = %e, "unreadable owner");
                                None
                            }
                        }
                    })
                    .collect();
                tx.send_if_modified(|current| {
                    let changed = *current != owners;
                    *current = owners;
                    changed
                });
            }
        });
        Self { owners }
    }

    /// The owner of `name` now.
    pub fn get(&self, name: &str) -> Option<Owner> {
        self.owners.borrow().get(name).cloned()
    }

    /// Every change.
    pub fn subscribe(&self) -> watch::Receiver<BTreeMap<String, Owner>> {
        self.owners.clone()
    }

    /// A channel to whoever owns `name`, following every change of owner.
    pub fn route(&self, name: &str) -> Channel {
        let name = name.to_owned();
        routed(self.owners.clone(), move |owners| {
            owners
                .get(&name)
                .map(|o| vec![o.node.address.clone()])
                .unwrap_or_default()
        })
    }
}

impl crate::Members {
    /// A channel balanced over every node of the service, following them as they come and
    /// go.
    pub fn route(&self) -> Channel {
        routed(self.subscribe(), |nodes: &Vec<NodeInfo>| {
            nodes.iter().map(|n| n.address.clone()).collect()
        })
    }
}

/// One task per node, by address: started when the node appears, aborted when it leaves
/// (and all of them when this is dropped). For following a stream from every node of a
/// service.
#[derive(Debug, Default)]
pub struct NodeTasks {
    peers: Peers,
    tasks: std::collections::HashMap<String, tokio::task::JoinHandle<()>>,
}

impl NodeTasks {
    /// Makes the followed nodes `wanted`: aborts the tasks of nodes no longer in it and
    /// starts one with `start(address, channel)` for each new one (an address that makes
    /// no endpoint is logged and skipped; `what` names the stream in logs).
    pub fn reconcile(
        &mut self,
        what: &str,
        wanted: &[String],
        mut start: impl FnMut(&str, Channel) -> tokio::task::JoinHandle<()>,
    ) {
        self.tasks.retain(|address, task| {
            let keep = wanted.contains(address);
            if !keep {
                task.abort();
            }
            keep
        });
        for address in wanted {
            if self.tasks.contains_key(address) {
                continue;
            }
            match self.peers.channel(address) {
                Ok(channel) => {
                    tracing::debug!(%address, "{what}: following a new node");
                    self.tasks.insert(address.clone(), start(address, channel));
                }
                Err(e) => tracing::warn!(%address, error = %e, "{what}: unusable node address"),
            }
        }
    }
}

/// Runs one task per node of any of `services` (by address, `except` left out), started
/// with `start(address, channel)` when the node appears and aborted when it leaves, until
/// `stop` resolves. `what` names the stream in logs. For following a stream from every node
/// that has one (events, for instance).
pub fn follow_nodes(
    coordinator: Arc<dyn Coordinator>,
    services: &[&str],
    except: Option<String>,
    what: &'static str,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    mut start: impl FnMut(&str, Channel) -> tokio::task::JoinHandle<()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let members: Vec<crate::Members> = services
        .iter()
        .map(|s| crate::Members::follow(coordinator.clone(), s))
        .collect();
    tokio::spawn(async move {
        // One wake-up channel for a change in any of the services' node lists.
        let (changed_tx, mut changed) = tokio::sync::mpsc::channel::<()>(1);
        for m in &members {
            let mut nodes = m.subscribe();
            let tx = changed_tx.clone();
            tokio::spawn(async move {
                while nodes.changed().await.is_ok() {
                    let _ = tx.try_send(());
                }
            });
        }
        drop(changed_tx);
        let mut following = NodeTasks::default();
        tokio::pin!(stop);
        loop {
            let mut wanted: Vec<String> = members
                .iter()
                .flat_map(crate::Members::current)
                .map(|n| n.address)
                .filter(|a| Some(a) != except.as_ref())
                .collect();
            wanted.sort();
            wanted.dedup();
            following.reconcile(what, &wanted, &mut start);
            tokio::select! {
                () = &mut stop => break,
                alive = changed.recv() => if alive.is_none() { break },
            }
        }
    })
}

impl Drop for NodeTasks {
    fn drop(&mut self) {
        for task in self.tasks.values() {
            task.abort();
        }
    }
}
