//! Presence in shards (DESIGN.md section 3): each agent's state lives in one of
//! [`PRESENCE_SHARDS`] shards, by a hash of its id ([`shard_of`]), and each shard is owned
//! by one presence node at a time (`/cc/own/presence/<shard>`), the shards spread evenly
//! over the presence nodes ([`cc_cluster::ShardClaims`]).
//!
//! A node serves only the agents of the shards it owns ([`Scope`]); it refuses the others
//! with [`crate::ServiceError::NotOwned`] (UNAVAILABLE: ask the owner). Gaining a shard
//! forgets whatever the node knew of its agents, then reads their sessions back from the
//! coordinator ([`crate::PresenceHandle::restore_sessions`]); sip-edge re-reports their
//! phones and calls to the new owner. Losing one forgets its agents at once and writes
//! out the sessions still on their way, so that the next owner reads them.

use std::collections::BTreeSet;
use std::time::Duration;

use cc_cluster::keys::{PRESENCE_SHARDS, presence_shard};
use cc_cluster::{Owned, ShardHolder};

use crate::core::AgentId;
use crate::service::PresenceHandle;

/// The shard of an agent.
pub fn shard_of(agent: &AgentId) -> u32 {
    presence_shard(agent.as_str())
}

/// Which agents a presence node serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every agent: a node alone, outside any cluster.
    All,
    /// The agents of these shards.
    Shards(BTreeSet<u32>),
}

impl Scope {
    /// No shard yet: a clustered node before its first claim.
    pub fn none() -> Self {
        Self::Shards(BTreeSet::new())
    }

    /// Whether the node serves `agent`.
    pub fn covers(&self, agent: &AgentId) -> bool {
        self.covers_shard(shard_of(agent))
    }

    /// Whether the node serves the agents of `shard`.
    pub fn covers_shard(&self, shard: u32) -> bool {
        match self {
            Self::All => shard < PRESENCE_SHARDS,
            Self::Shards(shards) => shards.contains(&shard),
        }
    }

    pub(crate) fn add(&mut self, shard: u32) {
        if let Self::Shards(shards) = self {
            shards.insert(shard);
        }
    }

    pub(crate) fn remove(&mut self, shard: u32) {
        if let Self::Shards(shards) = self {
            shards.remove(&shard);
        }
    }
}

/// How often reading the sessions of a shard just gained is tried before the node serves
/// it with what sip-edge reports alone.
const RESTORE_ATTEMPTS: u32 = 5;

/// Gains and loses shards for one presence node.
#[derive(Debug)]
pub(crate) struct Holder {
    pub(crate) presence: PresenceHandle,
}

impl ShardHolder for Holder {
    async fn gained(&mut self, shard: u32, owned: &Owned) {
        if let Err(e) = self.presence.own(shard).await {
            tracing::error!(shard, error = %e, "cannot serve a presence shard just taken");
            return;
        }
        let mut retry = Duration::from_millis(100);
        for attempt in 1..=RESTORE_ATTEMPTS {
            match self.presence.restore_sessions_of(Some(shard)).await {
                Ok(applied) => {
                    tracing::info!(
                        shard,
                        token = owned.token,
                        sessions = applied,
                        "presence shard taken over"
                    );
                    return;
                }
                Err(e) if attempt < RESTORE_ATTEMPTS => {
                    tracing::warn!(shard, error = %e, "cannot read the shard's sessions yet; retrying");
                    tokio::time::sleep(retry).await;
                    retry *= 2;
                }
                Err(e) => {
                    tracing::error!(shard, error = %e, "the shard's sessions could not be read; its agents log in again");
                }
            }
        }
    }

    async fn lost(&mut self, shard: u32) {
        if let Err(e) = self.presence.disown(shard).await {
            tracing::error!(shard, error = %e, "cannot stop serving a presence shard");
        }
        if let Err(e) = self.presence.flush_sessions().await {
            tracing::warn!(shard, error = %e, "sessions not all written before the hand-over");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_covers_the_agents_of_its_shards() {
        let anna = AgentId::new("anna");
        let mut scope = Scope::none();
        assert!(!scope.covers(&anna));
        scope.add(shard_of(&anna));
        assert!(scope.covers(&anna));
        scope.remove(shard_of(&anna));
        assert!(!scope.covers(&anna));
        assert!(Scope::All.covers(&anna));
        assert!(!Scope::All.covers_shard(PRESENCE_SHARDS));
    }
}
