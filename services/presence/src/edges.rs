//! When a sip-edge node is gone for good: the grace between its registration vanishing from
//! the cluster's membership and presence freeing the agents of its calls
//! ([`crate::core::Presence::edge_gone`]).
//!
//! A node's registration vanishes with its lease. That happens when the node died, but also
//! when a live node's lease was replaced (a keep-alive lost to a slow coordinator); such a
//! node registers again at once under the same name, and its calls go on. So a node only
//! counts as gone once it has been missing for a whole grace period. Pure: membership
//! snapshots and `now` in, gone nodes and the next deadline out; the service runs it
//! against `cc_cluster::Members`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use crate::core::EdgeNode;

/// Decides which sip-edge nodes are gone for good.
///
/// # Calling contract
/// 1. Feed every membership snapshot (the names of the nodes registered now) to
///    [`Self::handle_members`]; call [`Self::handle_timeout`] when [`Self::poll_timeout`]
///    is due. Both first settle the graces ended by their `now`, so a node that was missing
///    for longer than the grace is gone even if a late snapshot shows it back (the calls of
///    the node that left are over whoever registered since).
/// 2. Then drain [`Self::poll_gone`]: each node gone for good, once per disappearance.
///
/// Only names seen present count: a node that was never in a snapshot (for instance the
/// empty list before the membership was first read) is never reported.
#[derive(Debug)]
pub struct EdgeGrace {
    grace: Duration,
    /// The nodes of the last snapshot.
    present: BTreeSet<EdgeNode>,
    /// Nodes seen present, missing since the instant given.
    missing: BTreeMap<EdgeNode, Instant>,
    /// Gone for good, not polled yet, oldest first.
    gone: VecDeque<EdgeNode>,
}

impl EdgeGrace {
    /// A tracker that knows no node yet; a node must stay missing for `grace` to be gone.
    pub fn new(grace: Duration) -> Self {
        Self {
            grace,
            present: BTreeSet::new(),
            missing: BTreeMap::new(),
            gone: VecDeque::new(),
        }
    }

    /// The nodes registered at `now`, all of them. A node present before and not in `nodes`
    /// starts its grace; a missing node in `nodes` again is back (its grace is forgotten).
    pub fn handle_members(&mut self, nodes: impl IntoIterator<Item = EdgeNode>, now: Instant) {
        self.handle_timeout(now);
        let nodes: BTreeSet<EdgeNode> = nodes.into_iter().collect();
        for left in self.present.difference(&nodes) {
            self.missing.insert(left.clone(), now);
        }
        self.missing.retain(|node, _| !nodes.contains(node));
        self.present = nodes;
    }

    /// Every node missing for at least the grace at `now` is gone for good.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due: Vec<(Instant, EdgeNode)> = self
            .missing
            .iter()
            .filter(|(_, since)| now.saturating_duration_since(**since) >= self.grace)
            .map(|(node, since)| (*since, node.clone()))
            .collect();
        due.sort();
        for (_, node) in due {
            self.missing.remove(&node);
            self.gone.push_back(node);
        }
    }

    /// When the next grace ends (`None`: no node is missing, or none can end).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.missing
            .values()
            .filter_map(|since| since.checked_add(self.grace))
            .min()
    }

    /// The next node gone for good, the earliest missing first.
    pub fn poll_gone(&mut self) -> Option<EdgeNode> {
        self.gone.pop_front()
    }

    /// Whether `node` is missing now and its grace still runs.
    pub fn is_missing(&self, node: &EdgeNode) -> bool {
        self.missing.contains_key(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn nodes(names: &[&str]) -> Vec<EdgeNode> {
        names.iter().map(|n| EdgeNode::new(*n)).collect()
    }

    fn gone(g: &mut EdgeGrace) -> Vec<EdgeNode> {
        std::iter::from_fn(|| g.poll_gone()).collect()
    }

    #[test]
    fn a_node_missing_for_the_whole_grace_is_gone_once() {
        let t0 = Instant::now();
        let mut g = EdgeGrace::new(secs(10));
        g.handle_members(nodes(&["e1", "e2"]), t0);
        assert_eq!(g.poll_timeout(), None);
        g.handle_members(nodes(&["e2"]), t0 + secs(1));
        assert!(g.is_missing(&EdgeNode::new("e1")));
        assert_eq!(g.poll_timeout(), Some(t0 + secs(11)));

        g.handle_timeout(t0 + secs(10));
        assert_eq!(gone(&mut g), nodes(&[]), "the grace still runs");
        g.handle_timeout(t0 + secs(11));
        assert_eq!(gone(&mut g), nodes(&["e1"]));
        assert_eq!(g.poll_timeout(), None);
        g.handle_timeout(t0 + secs(60));
        g.handle_members(nodes(&["e2"]), t0 + secs(61));
        assert_eq!(gone(&mut g), nodes(&[]), "reported once");
    }

    #[test]
    fn a_node_back_within_the_grace_is_not_gone() {
        let t0 = Instant::now();
        let mut g = EdgeGrace::new(secs(10));
        g.handle_members(nodes(&["e1"]), t0);
        g.handle_members(nodes(&[]), t0 + secs(4));
        // Its lease was replaced: it registers again under the same name.
        g.handle_members(nodes(&["e1"]), t0 + secs(5));
        assert!(!g.is_missing(&EdgeNode::new("e1")));
        assert_eq!(g.poll_timeout(), None);
        g.handle_timeout(t0 + secs(30));
        assert_eq!(gone(&mut g), nodes(&[]));

        // Missing again later: a fresh grace from then.
        g.handle_members(nodes(&[]), t0 + secs(40));
        assert_eq!(g.poll_timeout(), Some(t0 + secs(50)));
        g.handle_timeout(t0 + secs(50));
        assert_eq!(gone(&mut g), nodes(&["e1"]));
    }

    #[test]
    fn names_never_seen_present_are_ignored() {
        let t0 = Instant::now();
        let mut g = EdgeGrace::new(secs(10));
        // Before the membership is read, the list is empty.
        g.handle_members(nodes(&[]), t0);
        g.handle_members(nodes(&["e1"]), t0 + secs(1));
        g.handle_members(nodes(&["e1"]), t0 + secs(2));
        assert_eq!(g.poll_timeout(), None);
        assert!(!g.is_missing(&EdgeNode::new("e9")));
        g.handle_timeout(t0 + secs(100));
        assert_eq!(gone(&mut g), nodes(&[]));
    }

    #[test]
    fn a_late_snapshot_does_not_revive_a_node_whose_grace_ended() {
        let t0 = Instant::now();
        let mut g = EdgeGrace::new(secs(10));
        g.handle_members(nodes(&["e1"]), t0);
        g.handle_members(nodes(&[]), t0 + secs(1));
        // The owner's timer was late; by now e1 was away for 14 s.
        g.handle_members(nodes(&["e1"]), t0 + secs(15));
        assert_eq!(gone(&mut g), nodes(&["e1"]));
        // The e1 registered now is followed afresh.
        g.handle_members(nodes(&[]), t0 + secs(16));
        assert!(g.is_missing(&EdgeNode::new("e1")));
    }

    #[test]
    fn several_nodes_are_gone_in_the_order_they_left() {
        let t0 = Instant::now();
        let mut g = EdgeGrace::new(secs(10));
        g.handle_members(nodes(&["a", "b", "c"]), t0);
        g.handle_members(nodes(&["a", "c"]), t0 + secs(1));
        g.handle_members(nodes(&["c"]), t0 + secs(2));
        assert_eq!(g.poll_timeout(), Some(t0 + secs(11)));
        g.handle_timeout(t0 + secs(12));
        assert_eq!(gone(&mut g), nodes(&["b", "a"]));
        assert_eq!(g.poll_timeout(), None);
    }

    #[test]
    fn a_zero_grace_is_gone_at_the_next_input() {
        let t0 = Instant::now();
        let mut g = EdgeGrace::new(Duration::ZERO);
        g.handle_members(nodes(&["e1"]), t0);
        g.handle_members(nodes(&[]), t0);
        assert_eq!(g.poll_timeout(), Some(t0));
        g.handle_timeout(t0);
        assert_eq!(gone(&mut g), nodes(&["e1"]));
    }
}
