//! Calls of dead sip-edge nodes. A sip-edge node that dies (SIGKILL) can no longer abandon,
//! answer or end its calls, so they would wait in the queues forever, reserving agents who
//! then ring nobody. In ownership mode the queue follows the sip-edge nodes registered in
//! the cluster (`/cc/nodes/sip-edge/<node>`, bound to each node's lease): a node that was
//! registered and stays away longer than a grace period is gone, and its calls leave the
//! queues ([`crate::core::QueueCore::handle_edge_gone`]).
//!
//! The grace is there because a node whose lease was merely replaced (an etcd restart, a
//! partition) registers again at once under the same name. The decision is the pure
//! [`EdgeWatch`] (snapshots and `now` in, gone nodes and the next deadline out); the task
//! around it ([`spawn`]) feeds it the membership and tells the actor.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cc_cluster::{Coordinator, Members};
use cc_common::Shutdown;
use cc_common::actor::now;
use ractor::ActorRef;

use crate::actor::Msg;
use crate::core::EdgeNode;

/// The service name sip-edge nodes register under.
const EDGE_SERVICE: &str = "sip-edge";

/// Which sip-edge nodes are gone for good, from snapshots of the registered ones.
///
/// Calling contract (sans-IO): feed every membership snapshot with
/// [`Self::handle_members`]; drain [`Self::poll_gone`] until `None`; call again (with the
/// latest snapshot or none) at [`Self::poll_timeout`]. Only nodes seen registered can go:
/// a name never seen (a call enqueued before its node's registration is followed) is
/// never reported.
#[derive(Debug)]
pub(crate) struct EdgeWatch {
    grace: Duration,
    /// Registered in the latest snapshot.
    present: BTreeSet<EdgeNode>,
    /// Seen registered, then missing: reported gone at the deadline unless back before.
    missing: BTreeMap<EdgeNode, Instant>,
}

impl EdgeWatch {
    /// Nothing seen yet; a node missing for longer than `grace` is gone.
    pub(crate) fn new(grace: Duration) -> Self {
        Self {
            grace,
            present: BTreeSet::new(),
            missing: BTreeMap::new(),
        }
    }

    /// The nodes registered at `now` (the whole list, not a change). A node that was
    /// registered and is not any more starts its grace; one back within its grace is
    /// present again as if it had never left.
    pub(crate) fn handle_members(
        &mut self,
        now: Instant,
        nodes: impl IntoIterator<Item = EdgeNode>,
    ) {
        let nodes: BTreeSet<EdgeNode> = nodes.into_iter().collect();
        let deadline = now.checked_add(self.grace).unwrap_or(now);
        for left in self.present.difference(&nodes) {
            self.missing.insert(left.clone(), deadline);
        }
        for node in &nodes {
            self.missing.remove(node);
        }
        self.present = nodes;
    }

    /// The next node gone for good by `now` (missing for its whole grace); each is
    /// reported once, then forgotten (should it register again, it is followed afresh).
    pub(crate) fn poll_gone(&mut self, now: Instant) -> Option<EdgeNode> {
        let node = self
            .missing
            .iter()
            .find(|(_, deadline)| **deadline <= now)
            .map(|(node, _)| node.clone())?;
        self.missing.remove(&node);
        Some(node)
    }

    /// When the next missing node's grace runs out.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.missing.values().min().copied()
    }
}

/// Spawns the task that follows the sip-edge nodes registered with `coordinator` and tells
/// `queue` about each one gone for longer than `grace`. It ends on shutdown or when the
/// queue actor stops.
pub(crate) fn spawn(
    coordinator: Arc<dyn Coordinator>,
    grace: Duration,
    queue: ActorRef<Msg>,
    mut shutdown: Shutdown,
) {
    tokio::spawn(async move {
        tokio::select! {
            () = shutdown.wait() => {}
            () = follow(coordinator, grace, queue) => {}
        }
    });
}

async fn follow(coordinator: Arc<dyn Coordinator>, grace: Duration, queue: ActorRef<Msg>) {
    // Empty until the first listing: nobody seen, nobody gone.
    let mut nodes = Members::follow(coordinator, EDGE_SERVICE).subscribe();
    let mut watch = EdgeWatch::new(grace);
    loop {
        let now = now();
        let registered: Vec<EdgeNode> = nodes
            .borrow_and_update()
            .iter()
            .map(|n| EdgeNode::new(n.node.as_str()))
            .collect();
        watch.handle_members(now, registered);
        while let Some(edge) = watch.poll_gone(now) {
            tracing::info!(%edge, ?grace, "sip-edge node left the cluster");
            if queue.cast(Msg::EdgeGone(edge)).is_err() {
                return;
            }
        }
        let deadline = watch.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            changed = nodes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = sleep_until(deadline) => {}
        }
    }
}

/// Sleeps until `deadline`; forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(10);

    /// An [`EdgeWatch`] on a virtual clock (`t0` plus seconds).
    struct Clocked {
        watch: EdgeWatch,
        t0: Instant,
    }

    impl Clocked {
        fn new() -> Self {
            Self {
                watch: EdgeWatch::new(GRACE),
                t0: Instant::now(),
            }
        }

        fn at(&self, secs: u64) -> Instant {
            self.t0 + Duration::from_secs(secs)
        }

        /// The snapshot `nodes` at `secs`, and every node gone by then.
        fn members(&mut self, secs: u64, nodes: &[&str]) -> Vec<String> {
            let now = self.at(secs);
            self.watch
                .handle_members(now, nodes.iter().map(|n| EdgeNode::new(*n)));
            self.gone(secs)
        }

        /// The nodes gone by `secs` (a timer firing, no new snapshot).
        fn gone(&mut self, secs: u64) -> Vec<String> {
            let now = self.at(secs);
            std::iter::from_fn(|| self.watch.poll_gone(now))
                .map(|n| n.to_string())
                .collect()
        }
    }

    #[test]
    fn a_node_back_within_the_grace_is_not_gone() {
        let mut w = Clocked::new();
        assert!(w.members(0, &["edge-a", "edge-b"]).is_empty());
        // edge-a's lease replaced: away, then registered again under the same name.
        assert!(w.members(1, &["edge-b"]).is_empty());
        assert_eq!(w.watch.poll_timeout(), Some(w.at(11)));
        assert!(w.members(5, &["edge-a", "edge-b"]).is_empty());
        assert_eq!(w.watch.poll_timeout(), None, "nothing left to time");
        assert!(w.gone(60).is_empty());
    }

    #[test]
    fn a_node_away_for_longer_than_the_grace_is_gone_once() {
        let mut w = Clocked::new();
        w.members(0, &["edge-a", "edge-b"]);
        assert!(w.members(2, &["edge-b"]).is_empty());
        assert!(w.gone(11).is_empty(), "still within its grace");
        assert_eq!(w.watch.poll_timeout(), Some(w.at(12)));
        assert_eq!(w.gone(12), ["edge-a"]);
        assert_eq!(w.watch.poll_timeout(), None);
        // Reported once: later snapshots and timers do not report it again.
        assert!(w.members(13, &["edge-b"]).is_empty());
        assert!(w.gone(100).is_empty());
    }

    #[test]
    fn a_node_gone_and_back_later_is_followed_afresh() {
        let mut w = Clocked::new();
        w.members(0, &["edge-a"]);
        w.members(1, &[]);
        assert_eq!(w.gone(11), ["edge-a"]);
        // The same name registered again (a restarted pod), and gone again.
        assert!(w.members(20, &["edge-a"]).is_empty());
        assert!(w.members(21, &[]).is_empty());
        assert_eq!(w.gone(31), ["edge-a"]);
    }

    #[test]
    fn names_never_seen_registered_are_never_gone() {
        let mut w = Clocked::new();
        // The first listing has not arrived yet: an empty list says nothing.
        assert!(w.members(0, &[]).is_empty());
        w.members(1, &["edge-b"]);
        w.members(2, &["edge-b"]);
        assert_eq!(w.watch.poll_timeout(), None);
        assert!(w.gone(100).is_empty(), "edge-a never seen, so never gone");
    }

    #[test]
    fn several_nodes_keep_their_own_graces() {
        let mut w = Clocked::new();
        w.members(0, &["edge-a", "edge-b", "edge-c"]);
        w.members(1, &["edge-b", "edge-c"]);
        w.members(4, &["edge-c"]);
        assert_eq!(w.watch.poll_timeout(), Some(w.at(11)));
        assert_eq!(w.gone(11), ["edge-a"]);
        assert_eq!(w.watch.poll_timeout(), Some(w.at(14)));
        // Both due by the time the owner looks: both reported.
        w.members(6, &[]);
        assert_eq!(w.gone(30), ["edge-b", "edge-c"]);
    }
}
