//! Presence nodes of one cluster split the agents' shards between them: one node alone
//! serves every shard, a second one takes half over, each refuses the agents it does not
//! serve, and when a node stops the other takes its shards over with the agents' sessions.
//! A node that gave its lease up for lost takes its shards again under new tokens when the
//! lease turns out to be alive.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use cc_cluster::keys::{PRESENCE_SHARDS, presence_owner};
use cc_cluster::testing::Faulty;
use cc_cluster::{Coordinator, MemoryCoordinator, NodeInfo, NodeLease, Registration};
use cc_common::config::DEMO_TOML;
use cc_common::{Config, Shutdown, ShutdownTrigger};
use cc_presence::core::{AgentId, AgentState};
use cc_presence::shards::shard_of;
use cc_presence::{Cluster, PresenceHandle, PresenceService, Scope, ServiceError};

/// One presence node of the demo organisation (anna, piotr, maria), registered as `name`.
struct Node {
    presence: PresenceHandle,
    stop: ShutdownTrigger,
    _registration: Registration,
    _lease: NodeLease,
}

async fn node(coordinator: &Arc<dyn Coordinator>, name: &str) -> Node {
    let lease = NodeLease::start(coordinator.clone(), Duration::from_secs(4))
        .await
        .unwrap();
    let info = NodeInfo {
        service: "presence".into(),
        node: name.into(),
        address: format!("{name}.invalid:50051"),
        load: 0,
    };
    let registration = Registration::start(coordinator.clone(), &lease, info.clone());
    let (stop, shutdown) = Shutdown::new();
    let config = cc_common::config::fixed(Config::from_toml(DEMO_TOML).unwrap());
    let cluster = Cluster {
        coordinator: coordinator.clone(),
        lease: lease.subscribe(),
        node: info,
    };
    let service = PresenceService::start_sharded(config, cluster, shutdown)
        .await
        .unwrap();
    Node {
        presence: service.handle(),
        stop,
        _registration: registration,
        _lease: lease,
    }
}

fn shards(scope: &Scope) -> BTreeSet<u32> {
    (0..PRESENCE_SHARDS)
        .filter(|s| scope.covers_shard(*s))
        .collect()
}

/// Waits (on the scope's watch) until the node serves exactly `count` shards.
async fn until_serving(p: &PresenceHandle, count: usize) -> BTreeSet<u32> {
    let mut scope = p.scope();
    let served = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let now = shards(&scope.borrow_and_update());
            if now.len() == count {
                return now;
            }
            scope.changed().await.unwrap();
        }
    })
    .await;
    served.unwrap_or_else(|_| {
        panic!(
            "the node never served {count} shards; it serves {:?}",
            shards(&p.scope().borrow())
        )
    })
}

#[tokio::test]
async fn two_nodes_split_the_shards_and_the_survivor_keeps_the_sessions() {
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
    let a = node(&coordinator, "presence-a").await;
    until_serving(&a.presence, 8).await;

    let b = node(&coordinator, "presence-b").await;
    let at_a = until_serving(&a.presence, 4).await;
    let at_b = until_serving(&b.presence, 4).await;
    assert!(at_a.is_disjoint(&at_b), "{at_a:?} and {at_b:?} overlap");

    // Each agent is served by exactly one node; the other refuses it.
    for id in ["anna", "piotr", "maria"] {
        let agent = AgentId::new(id);
        let (owner, other) = if at_a.contains(&shard_of(&agent)) {
            (&a.presence, &b.presence)
        } else {
            (&b.presence, &a.presence)
        };
        assert_eq!(
            *owner.login(&agent).await.unwrap().state(),
            AgentState::Offline
        );
        match other.login(&agent).await {
            Err(ServiceError::NotOwned { shard, .. }) => assert_eq!(shard, shard_of(&agent)),
            other => panic!("{id} at the node that does not serve it: {other:?}"),
        }
        assert_eq!(owner.agents().await.unwrap().len(), {
            let served = if at_a.contains(&shard_of(&agent)) {
                &at_a
            } else {
                &at_b
            };
            ["anna", "piotr", "maria"]
                .iter()
                .filter(|n| served.contains(&shard_of(&AgentId::new(**n))))
                .count()
        });
    }

    // A stops: its shards are handed over at once, with who was logged in.
    drop(a.stop);
    until_serving(&b.presence, 8).await;
    for id in ["anna", "piotr", "maria"] {
        let agent = b.presence.agent(&AgentId::new(id)).await.unwrap();
        assert!(agent.logged_in(), "{id} lost their login in the hand-over");
    }
}

#[tokio::test]
async fn a_shard_watch_ends_when_the_shard_moves_to_another_node() {
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
    let a = node(&coordinator, "presence-a").await;
    until_serving(&a.presence, 8).await;
    let anna = AgentId::new("anna");
    let shard = shard_of(&anna);

    let (now, mut events) = a.presence.watch_shard(shard).await.unwrap();
    assert!(now.iter().any(|agent| agent.id() == &anna));
    assert!(now.iter().all(|agent| shard_of(agent.id()) == shard));

    // A second node takes half the shards over; watch until this one is among them.
    let b = node(&coordinator, "presence-b").await;
    let at_b = until_serving(&b.presence, 4).await;
    if !at_b.contains(&shard) {
        // Anna's shard stayed: a watch of one that moved ends instead.
        let moved = *at_b.iter().next().unwrap();
        assert!(matches!(
            a.presence.watch_shard(moved).await,
            Err(ServiceError::ShardNotOwned(s)) if s == moved
        ));
        return;
    }
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Some(Ok(_)) => {}
                Some(Err(e)) => return e,
                None => panic!("the watch ended without saying why"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(ended, ServiceError::ShardNotOwned(shard));
    let (now, _) = b.presence.watch_shard(shard).await.unwrap();
    assert!(now.iter().any(|agent| agent.id() == &anna));
}

/// The create revision of every shard's ownership key (its owner's token).
async fn tokens(coordinator: &Arc<dyn Coordinator>) -> Vec<i64> {
    let mut tokens = Vec::new();
    for shard in 0..PRESENCE_SHARDS {
        let kv = coordinator.get(&presence_owner(shard)).await.unwrap();
        tokens.push(kv.map_or(0, |kv| kv.create_revision));
    }
    tokens
}

/// etcd's new leader may extend the leases of the old: the node gave its lease up for lost
/// (no keep-alive for two thirds of its TTL) and dropped its shards, then confirms the
/// lease again. Its shards' keys, alive with the lease, must not stay claimed by nobody,
/// nor come back under their old tokens (the sip-edge nodes would not tell the calls in
/// progress to a new owner): each is taken again under a new one.
#[tokio::test]
async fn a_node_whose_lost_lease_is_confirmed_again_takes_its_shards_under_new_tokens() {
    let faulty = Arc::new(Faulty::default().stretched_leases());
    let coordinator: Arc<dyn Coordinator> = faulty.clone();
    let a = node(&coordinator, "presence-a").await;
    until_serving(&a.presence, 8).await;
    let before = tokens(&coordinator).await;

    faulty.cut_keep_alives(true);
    until_serving(&a.presence, 0).await;
    faulty.cut_keep_alives(false);
    until_serving(&a.presence, 8).await;
    let after = tokens(&coordinator).await;
    for (shard, (old, new)) in before.iter().zip(&after).enumerate() {
        assert!(new > old, "shard {shard}: token {new} after {old}");
    }
    drop(a.stop);
}
