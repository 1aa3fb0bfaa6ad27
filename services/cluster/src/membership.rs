//! Membership and discovery: each node registers itself under its lease at
//! `/cc/nodes/<service>/<node>` with its address and load; clients follow a service's
//! nodes and pick one (the least loaded media node, ...). A node that dies disappears with
//! its lease; a node whose lease was replaced registers again under the new one.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::backoff::Backoff;
use crate::{Coordinator, Follower, LeaseState, NodeLease};

/// Where nodes register.
pub const NODES: &str = "/cc/nodes/";

/// Load changes are written at most this often (etcd is not a metrics store).
const LOAD_EVERY: Duration = Duration::from_secs(1);

/// What a node says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// `sip-edge`, `media`, `routing`, `presence`, `queue`, `callback`.
    pub service: String,
    /// Unique in the cluster (the pod name on Kubernetes).
    pub node: String,
    /// Where its gRPC API listens (`host:port`).
    pub address: String,
    /// The service's own measure of work in hand (active calls, endpoints ...).
    pub load: u64,
}

impl NodeInfo {
    /// The registration key.
    pub fn key(&self) -> String {
        format!("{NODES}{}/{}", self.service, self.node)
    }
}

/// A node's registration, kept up to date until dropped or [`Self::deregister`]ed.
#[derive(Debug)]
pub struct Registration {
    coordinator: Arc<dyn Coordinator>,
    key: String,
    load: watch::Sender<u64>,
    task: JoinHandle<()>,
}

impl Registration {
    /// Registers `info` under the node's lease and keeps it registered.
    pub fn start(coordinator: Arc<dyn Coordinator>, lease: &NodeLease, info: NodeInfo) -> Self {
        let (load, loads) = watch::channel(info.load);
        let key = info.key();
        let task = tokio::spawn(keep_registered(
            coordinator.clone(),
            lease.subscribe(),
            info,
            loads,
        ));
        Self {
            coordinator,
            key,
            load,
            task,
        }
    }

    /// Publishes the node's load (written within a second).
    pub fn set_load(&self, load: u64) {
        self.load.send_if_modified(|current| {
            let changed = *current != load;
            *current = load;
            changed
        });
    }

    /// A function that publishes the load like [`Self::set_load`], for a task that measures
    /// it while the registration stays with its owner.
    pub fn load_reporter(&self) -> impl Fn(u64) + Send + Sync + 'static {
        let load = self.load.clone();
        move |value| {
            load.send_if_modified(|current| {
                let changed = *current != value;
                *current = value;
                changed
            });
        }
    }

    /// Removes the registration now (a graceful drain), rather than with the lease.
    pub async fn deregister(self) -> Result<(), crate::Error> {
        self.task.abort();
        self.coordinator.delete(&self.key).await.map(drop)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn keep_registered(
    coordinator: Arc<dyn Coordinator>,
    mut lease: watch::Receiver<Option<LeaseState>>,
    mut info: NodeInfo,
    mut loads: watch::Receiver<u64>,
) {
    let key = info.key();
    let mut written: Option<(LeaseState, u64)> = None;
    let mut retry = Backoff::from(Duration::from_millis(100));
    loop {
        let current = *lease.borrow_and_update();
        info.load = *loads.borrow_and_update();
        if let Some(state) = current
            && written != Some((state, info.load))
        {
            let value = serde_json::to_vec(&info).unwrap_or_default();
            match coordinator.put(&key, value, Some(state.lease)).await {
                Ok(_) => {
                    if written.is_none_or(|(s, _)| s != state) {
                        tracing::info!(%key, lease = %state.lease, "node registered");
                    }
                    written = Some((state, info.load));
                    retry.reset();
                }
                Err(e) => {
                    tracing::warn!(%key, error = %e, retry = ?retry.peek(), "cannot register the node");
                    tokio::time::sleep(retry.take()).await;
                    continue;
                }
            }
        }
        tokio::select! {
            changed = lease.changed() => if changed.is_err() { return },
            changed = loads.changed() => {
                if changed.is_err() {
                    return;
                }
                tokio::time::sleep(LOAD_EVERY).await;
            }
        }
    }
}

/// The registered nodes of one service, followed live.
#[derive(Debug, Clone)]
pub struct Members {
    nodes: watch::Receiver<Vec<NodeInfo>>,
}

impl Members {
    /// Follows the nodes of `service` (until every clone is dropped).
    pub fn follow(coordinator: Arc<dyn Coordinator>, service: &str) -> Self {
        let (tx, nodes) = watch::channel(Vec::new());
        let mut follower = Follower::new(coordinator, format!("{NODES}{service}/"));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = follower.next() => {}
                    () = tx.closed() => return,
                }
                let nodes = follower
                    .kvs()
                    .values()
                    .filter_map(|kv| match serde_json::from_slice::<NodeInfo>(&kv.value) {
                        Ok(info) => Some(info),
                        Err(e) => {
                            tracing::warn!(key = %kv.key, error = %e, "unreadable node registration");
                            None
                        }
                    })
                    .collect();
                tx.send_replace(nodes);
            }
        });
        Self { nodes }
    }

    /// The nodes now, ordered by node name.
    pub fn current(&self) -> Vec<NodeInfo> {
        self.nodes.borrow().clone()
    }

    /// The node with the least load (ties: the first by name).
    pub fn least_loaded(&self) -> Option<NodeInfo> {
        self.nodes.borrow().iter().min_by_key(|n| n.load).cloned()
    }

    /// Every change of the node list.
    pub fn subscribe(&self) -> watch::Receiver<Vec<NodeInfo>> {
        self.nodes.clone()
    }
}
