//! Sharded ownership: a service's state cut into a fixed number of shards (presence: the
//! agents, by a hash of their id), each owned by one node at a time under
//! `<prefix><shard>`, and the shards spread evenly over the service's nodes.
//!
//! Every node runs one [`ShardClaims`] task. It claims unowned shards while it holds fewer
//! than its fair share (the shard count over the registered nodes, rounded up), and any
//! shard left unowned for [`UNOWNED_GRACE`] whatever its share (coverage first: a registered
//! node that cannot claim must not leave a shard without an owner). A node holding more
//! than its fair share while another holds less gives one shard up at a time, waiting
//! longer after each ([`RELEASE_PAUSE`] doubling up to [`RELEASE_PAUSE_MAX`], reset once the
//! shards are even), so that a node joining takes its share over in a few seconds without
//! the shards moving back and forth. The decision itself is the pure [`next_step`].
//!
//! The node's [`ShardHolder`] hears of every shard gained (after the key is written,
//! before the node acts for it) and lost (the lease lost or replaced, the key deleted or
//! taken, or before a hand-over or a shutdown releases the key: it must stop acting for
//! the shard before it returns).
//!
//! Clients reach each shard's owner through [`ShardRoutes`].

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::backoff::Backoff;
use crate::{Coordinator, LeaseState, Members, NodeInfo, Owned, Owners, Ownership, Revision};

/// How long a shard may stay unowned before any node claims it, even beyond its share.
pub const UNOWNED_GRACE: Duration = Duration::from_millis(500);

/// The pause after giving a shard up before the next one; it doubles with each further one.
pub const RELEASE_PAUSE: Duration = Duration::from_millis(250);

/// The longest pause between two shards given up.
pub const RELEASE_PAUSE_MAX: Duration = Duration::from_secs(60);

/// One gRPC channel per shard, each following the shard's owner (requests wait while a
/// shard has none, up to their own deadline).
#[derive(Debug, Clone)]
pub struct ShardRoutes {
    channels: Arc<[Channel]>,
}

impl ShardRoutes {
    /// Channels to the owners of shards `0..count` as `owners` names them.
    pub fn follow(owners: &Owners, count: u32) -> Self {
        let channels = (0..count.max(1))
            .map(|shard| owners.route(&shard.to_string()))
            .collect();
        Self { channels }
    }

    /// Every shard at one channel: one node that owns them all (a test, or a client that
    /// knows nothing of the cluster).
    pub fn single(channel: Channel, count: u32) -> Self {
        let channels = (0..count.max(1)).map(|_| channel.clone()).collect();
        Self { channels }
    }

    /// The channel to the owner of `shard`.
    pub fn get(&self, shard: u32) -> Channel {
        let i = usize::try_from(shard).unwrap_or(0) % self.channels.len();
        self.channels[i].clone()
    }

    /// How many shards there are.
    pub fn count(&self) -> u32 {
        u32::try_from(self.channels.len()).unwrap_or(u32::MAX)
    }
}

/// What a node holding shards does when it gains or loses one.
pub trait ShardHolder: Send + 'static {
    /// `shard` is owned now under `owned` (its token fences the old owner); the node acts
    /// for it once this returns.
    fn gained(&mut self, shard: u32, owned: &Owned) -> impl Future<Output = ()> + Send;

    /// `shard` is no longer owned, or is about to be released: stop acting for it (and
    /// save what the next owner needs) before returning.
    fn lost(&mut self, shard: u32) -> impl Future<Output = ()> + Send;
}

/// What a node should do next about its shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Try to take this unowned shard.
    Claim(u32),
    /// Give this owned shard up (another node holds fewer than its share).
    Release(u32),
    /// Nothing now.
    Wait,
}

/// The view [`next_step`] decides on.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// Shards `0..shards` exist.
    pub shards: u32,
    /// This node's name.
    pub me: &'a str,
    /// The service's registered nodes (this one counts whether listed or not).
    pub members: &'a BTreeSet<String>,
    /// Who owns each owned shard.
    pub owners: &'a BTreeMap<u32, String>,
    /// Unowned shards past [`UNOWNED_GRACE`].
    pub overdue: &'a BTreeSet<u32>,
    /// Whether giving a shard up is allowed now (the pause since the last one is over).
    pub may_release: bool,
}

impl View<'_> {
    fn nodes(&self) -> usize {
        self.members.len() + usize::from(!self.members.contains(self.me))
    }

    /// The most shards a node should hold: the shards over the nodes, rounded up.
    pub fn fair_share(&self) -> usize {
        let shards = usize::try_from(self.shards).unwrap_or(usize::MAX);
        shards.div_ceil(self.nodes().max(1))
    }

    fn held_by(&self, node: &str) -> usize {
        self.owners.values().filter(|o| o.as_str() == node).count()
    }

    /// Whether every shard is owned and no node holds two more than another.
    pub fn balanced(&self) -> bool {
        if self.owners.len() < usize::try_from(self.shards).unwrap_or(usize::MAX) {
            return false;
        }
        let mut counts: Vec<usize> = self.members.iter().map(|m| self.held_by(m)).collect();
        counts.push(self.held_by(self.me));
        let (min, max) = (counts.iter().min(), counts.iter().max());
        matches!((min, max), (Some(min), Some(max)) if max - min <= 1)
    }
}

/// The next step for `view.me` (see the module docs). Claims start at a node-specific
/// shard so that nodes starting together mostly try different ones.
pub fn next_step(view: &View<'_>) -> Step {
    let fair = view.fair_share();
    let mine = view.held_by(view.me);
    let start = fnv1a(view.me) % view.shards.max(1);
    let unowned: Vec<u32> = (0..view.shards)
        .map(|i| (start + i) % view.shards)
        .filter(|s| !view.owners.contains_key(s))
        .collect();
    if let Some(&first) = unowned.first() {
        if mine < fair {
            return Step::Claim(first);
        }
        return match unowned.iter().find(|s| view.overdue.contains(s)) {
            Some(&overdue) => Step::Claim(overdue),
            None => Step::Wait,
        };
    }
    let short = view
        .members
        .iter()
        .filter(|m| m.as_str() != view.me)
        .any(|m| view.held_by(m) < fair);
    if view.may_release && mine > fair && short {
        let last = view
            .owners
            .iter()
            .filter(|(_, o)| o.as_str() == view.me)
            .map(|(s, _)| *s)
            .next_back();
        if let Some(shard) = last {
            return Step::Release(shard);
        }
    }
    Step::Wait
}

/// A stable 32-bit FNV-1a hash (the same on every node and every build, unlike std's).
pub fn fnv1a(text: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in text.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// One node's claims on a sharded service's shards.
#[derive(Debug)]
pub struct ShardClaims {
    /// The cluster's coordinator.
    pub coordinator: Arc<dyn Coordinator>,
    /// Where the owners are written: `<prefix><shard>`, each value the owner's
    /// [`NodeInfo`] as JSON.
    pub prefix: &'static str,
    /// How many shards the service has.
    pub shards: u32,
    /// This node, registered under its service's name.
    pub node: NodeInfo,
    /// The node's lease ([`crate::NodeLease::subscribe`]); every key is bound to it.
    pub lease: watch::Receiver<Option<LeaseState>>,
}

/// A shard this node holds.
struct Held {
    owned: Owned,
    /// Reports the shard lost (with its token) when its ownership ends.
    watcher: JoinHandle<()>,
}

impl ShardClaims {
    /// Claims, holds and balances shards until `shutdown` resolves, then gives every held
    /// shard up (telling `holder` first) so that others take them over at once.
    pub async fn run<H: ShardHolder>(self, mut holder: H, shutdown: impl Future<Output = ()>) {
        let value = serde_json::to_vec(&self.node).unwrap_or_default();
        let owners = Owners::follow(self.coordinator.clone(), self.prefix);
        let members = Members::follow(self.coordinator.clone(), &self.node.service);
        let mut owners_rx = owners.subscribe();
        let mut members_rx = members.subscribe();
        let mut lease = self.lease.clone();
        let (lost_tx, mut lost_rx) = mpsc::unbounded_channel::<(u32, Revision)>();
        let mut held: BTreeMap<u32, Held> = BTreeMap::new();
        let mut unowned_since: BTreeMap<u32, Instant> = BTreeMap::new();
        let mut pause = RELEASE_PAUSE;
        let mut release_after = Instant::now();
        let mut retry = Backoff::from(Duration::from_millis(50));
        // Lost shards' keys being deleted; dropped (aborted) when this ends.
        let mut retiring: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
        let ownership = |shard: u32| {
            Ownership::new(
                self.coordinator.clone(),
                format!("{}{shard}", self.prefix),
                value.clone(),
            )
        };
        tokio::pin!(shutdown);
        loop {
            let now = Instant::now();
            let me = self.node.node.as_str();
            // Our own holdings as we know them (the followed map may lag behind).
            let mut view: BTreeMap<u32, String> = owners_rx
                .borrow_and_update()
                .iter()
                .filter_map(|(name, owner)| Some((name.parse::<u32>().ok()?, owner)))
                .filter(|(shard, _)| *shard < self.shards)
                .map(|(shard, owner)| {
                    let node = if owner.node.node == me && !held.contains_key(&shard) {
                        // Ours a moment ago (given up, or an older incarnation's): not
                        // claimable, and not ours to count.
                        String::from("(leaving)")
                    } else {
                        owner.node.node.clone()
                    };
                    (shard, node)
                })
                .collect();
            for shard in held.keys() {
                view.insert(*shard, me.to_owned());
            }
            unowned_since.retain(|shard, _| !view.contains_key(shard));
            for shard in (0..self.shards).filter(|s| !view.contains_key(s)) {
                unowned_since.entry(shard).or_insert(now);
            }
            let overdue: BTreeSet<u32> = unowned_since
                .iter()
                .filter(|(_, since)| now.duration_since(**since) >= UNOWNED_GRACE)
                .map(|(shard, _)| *shard)
                .collect();
            let member_names: BTreeSet<String> = members_rx
                .borrow_and_update()
                .iter()
                .map(|n| n.node.clone())
                .collect();
            let current = View {
                shards: self.shards,
                me,
                members: &member_names,
                owners: &view,
                overdue: &overdue,
                may_release: now >= release_after,
            };
            if current.balanced() {
                pause = RELEASE_PAUSE;
            }
            let step = next_step(&current);
            let lease_now = *lease.borrow_and_update();
            match (step, lease_now) {
                (Step::Claim(shard), Some(state)) => {
                    match ownership(shard).try_acquire(state.lease).await {
                        Ok(Ok(owned)) => {
                            retry.reset();
                            tracing::info!(
                                shard,
                                token = owned.token,
                                prefix = self.prefix,
                                "shard taken"
                            );
                            holder.gained(shard, &owned).await;
                            let watcher = tokio::spawn(watch_loss(
                                ownership(shard),
                                owned.clone(),
                                shard,
                                lease.clone(),
                                lost_tx.clone(),
                            ));
                            held.insert(shard, Held { owned, watcher });
                            continue;
                        }
                        // Someone else was faster: the followed owners show it soon.
                        Ok(Err(_)) => retry.reset(),
                        Err(e) => {
                            tracing::warn!(shard, error = %e, "cannot claim a shard; retrying");
                            tokio::time::sleep(retry.take()).await;
                            continue;
                        }
                    }
                }
                (Step::Release(shard), _) => {
                    if let Some(gone) = held.remove(&shard) {
                        gone.watcher.abort();
                        tracing::info!(
                            shard,
                            prefix = self.prefix,
                            "handing a shard over to balance the nodes"
                        );
                        holder.lost(shard).await;
                        if let Err(e) = ownership(shard).release(&gone.owned).await {
                            tracing::warn!(shard, error = %e, "cannot release a shard; it moves when the lease expires");
                        }
                        release_after = Instant::now() + pause;
                        pause = (pause * 2).min(RELEASE_PAUSE_MAX);
                    }
                    continue;
                }
                _ => {}
            }
            // Wake for the first unowned shard to become overdue, and for the release pause
            // to end while this node holds more than its share.
            let wake = unowned_since
                .values()
                .map(|since| *since + UNOWNED_GRACE)
                .filter(|at| *at > now)
                .chain((release_after > now).then_some(release_after))
                .min();
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = owners_rx.changed() => if changed.is_err() { return },
                changed = members_rx.changed() => if changed.is_err() { return },
                _ = lease.changed() => {}
                Some((shard, token)) = lost_rx.recv() => {
                    if let Some(gone) = held.remove(&shard) {
                        if gone.owned.token == token {
                            tracing::warn!(shard, prefix = self.prefix, "shard lost");
                            holder.lost(shard).await;
                            // Its key may outlive the loss (the lease confirmed again):
                            // gone, the shard is taken anew under a token others notice.
                            let key = ownership(shard);
                            retiring.spawn(async move { key.retire(&gone.owned).await });
                        } else {
                            held.insert(shard, gone);
                        }
                    }
                    while retiring.try_join_next().is_some() {}
                }
                () = sleep => {}
                () = &mut shutdown => {
                    for (shard, gone) in std::mem::take(&mut held) {
                        gone.watcher.abort();
                        holder.lost(shard).await;
                        if let Err(e) = ownership(shard).release(&gone.owned).await {
                            tracing::warn!(shard, error = %e, "cannot hand a shard over; it moves when the lease expires");
                        }
                    }
                    return;
                }
            }
        }
    }
}

/// Reports `owned` lost when its ownership ends.
async fn watch_loss(
    ownership: Ownership,
    owned: Owned,
    shard: u32,
    mut lease: watch::Receiver<Option<LeaseState>>,
    lost: mpsc::UnboundedSender<(u32, Revision)>,
) {
    ownership.lost(&owned, &mut lease).await;
    let _ = lost.send((shard, owned.token));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn owned(pairs: &[(u32, &str)]) -> BTreeMap<u32, String> {
        pairs.iter().map(|(s, o)| (*s, (*o).to_owned())).collect()
    }

    fn step(me: &str, members: &[&str], owners: &[(u32, &str)], overdue: &[u32]) -> Step {
        let members = names(members);
        let owners = owned(owners);
        let overdue: BTreeSet<u32> = overdue.iter().copied().collect();
        next_step(&View {
            shards: 8,
            me,
            members: &members,
            owners: &owners,
            overdue: &overdue,
            may_release: true,
        })
    }

    #[test]
    fn a_node_alone_claims_every_shard() {
        let mut owners = Vec::new();
        for _ in 0..8 {
            match step("a", &["a"], &owners, &[]) {
                Step::Claim(s) => owners.push((s, "a")),
                other => panic!("expected a claim, got {other:?}"),
            }
        }
        assert_eq!(step("a", &["a"], &owners, &[]), Step::Wait);
        let claimed: BTreeSet<u32> = owners.iter().map(|(s, _)| *s).collect();
        assert_eq!(claimed, (0..8).collect());
    }

    #[test]
    fn a_node_not_yet_registered_still_counts_itself() {
        assert!(matches!(step("a", &[], &[], &[]), Step::Claim(_)));
    }

    #[test]
    fn a_node_claims_up_to_its_share_then_only_overdue_shards() {
        let owners = [(0, "a"), (1, "a"), (2, "a"), (3, "a")];
        assert_eq!(step("a", &["a", "b"], &owners, &[]), Step::Wait);
        assert_eq!(step("a", &["a", "b"], &owners, &[6]), Step::Claim(6));
        assert!(matches!(
            step("b", &["a", "b"], &owners, &[]),
            Step::Claim(4..=7)
        ));
    }

    #[test]
    fn a_node_over_its_share_gives_one_up_to_a_node_under_it() {
        let all_a: Vec<(u32, &str)> = (0..8).map(|s| (s, "a")).collect();
        assert_eq!(step("a", &["a", "b"], &all_a, &[]), Step::Release(7));
        // Nobody short: b is not registered.
        assert_eq!(step("a", &["a"], &all_a, &[]), Step::Wait);
        // Not while the pause runs.
        let members = names(&["a", "b"]);
        let owners = owned(&all_a);
        let view = View {
            shards: 8,
            me: "a",
            members: &members,
            owners: &owners,
            overdue: &BTreeSet::new(),
            may_release: false,
        };
        assert_eq!(next_step(&view), Step::Wait);
    }

    #[test]
    fn three_nodes_settle_at_three_three_two() {
        let owners = [
            (0, "a"),
            (1, "a"),
            (2, "a"),
            (3, "b"),
            (4, "b"),
            (5, "b"),
            (6, "c"),
            (7, "c"),
        ];
        for me in ["a", "b", "c"] {
            assert_eq!(step(me, &["a", "b", "c"], &owners, &[]), Step::Wait, "{me}");
        }
        let members = names(&["a", "b", "c"]);
        let owners = owned(&owners);
        let view = View {
            shards: 8,
            me: "a",
            members: &members,
            owners: &owners,
            overdue: &BTreeSet::new(),
            may_release: true,
        };
        assert!(view.balanced());
        assert_eq!(view.fair_share(), 3);
    }

    #[test]
    fn rebalancing_converges_from_one_node_to_two() {
        let mut owners: BTreeMap<u32, String> = (0..8).map(|s| (s, "a".to_owned())).collect();
        let members = names(&["a", "b"]);
        for _ in 0..20 {
            let mut moved = false;
            for me in ["a", "b"] {
                let view = View {
                    shards: 8,
                    me,
                    members: &members,
                    owners: &owners,
                    overdue: &BTreeSet::new(),
                    may_release: true,
                };
                match next_step(&view) {
                    Step::Claim(s) => {
                        owners.insert(s, me.to_owned());
                        moved = true;
                    }
                    Step::Release(s) => {
                        owners.remove(&s);
                        moved = true;
                    }
                    Step::Wait => {}
                }
            }
            if !moved {
                break;
            }
        }
        let a = owners.values().filter(|o| *o == "a").count();
        let b = owners.values().filter(|o| *o == "b").count();
        assert_eq!((a, b), (4, 4));
    }

    #[test]
    fn the_shard_hash_is_stable() {
        // FNV-1a 32 reference values: an accidental change would move every agent.
        assert_eq!(fnv1a(""), 0x811c_9dc5);
        assert_eq!(fnv1a("a"), 0xe40c_292c);
        assert_eq!(fnv1a("foobar"), 0xbf9c_f968);
    }
}
