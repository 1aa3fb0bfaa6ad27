//! Why the presence service refused a request: the core's own refusals plus what can go
//! wrong around it (the actor gone or slow, a watch from a sequence it no longer has, the
//! coordinator holding the sessions out of reach).

use crate::core::PresenceError;

/// Errors of the presence service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The core refused the input; nothing changed.
    #[error(transparent)]
    Presence(#[from] PresenceError),
    /// The presence actor has stopped (shutdown) or could not be started.
    #[error("presence is not running")]
    Stopped,
    /// The presence actor did not answer in time; the input may or may not have been applied.
    #[error("presence did not answer within {0} ms")]
    Timeout(u64),
    /// A watch asked for events older than the recent history kept in memory.
    #[error(
        "from_sequence {requested} is older than the oldest event kept ({oldest}); \
         list the agents again and watch from {oldest}"
    )]
    SequenceTooOld {
        /// The sequence asked for.
        requested: u64,
        /// The oldest sequence still kept.
        oldest: u64,
    },
    /// A watch asked for a sequence not yet emitted beyond the next one (a client of an
    /// earlier run of the node, whose sequences restarted at 1).
    #[error("from_sequence {requested} is beyond the next event ({next}); list the agents again")]
    SequenceAhead {
        /// The sequence asked for.
        requested: u64,
        /// The sequence the next event will have.
        next: u64,
    },
    /// The agent's shard is owned by another presence node (or by none, during a takeover):
    /// this node neither knows nor changes the agent. Ask the shard's owner.
    #[error("agent {agent} is in presence shard {shard}, which this node does not own")]
    NotOwned {
        /// The agent asked about.
        agent: crate::core::AgentId,
        /// Its shard.
        shard: u32,
    },
    /// A shard was asked for that this node does not own.
    #[error("presence shard {0} is not owned by this node")]
    ShardNotOwned(u32),
    /// A shard watcher fell too far behind the live events; watch again.
    #[error("the watcher fell behind presence's events; watch again")]
    Lagged,
    /// The actor could not be spawned.
    #[error("cannot start presence: {0}")]
    Start(String),
    /// The agents' sessions could not be read from (or this node's own changes could not
    /// be written to) the coordinator; nothing was restored. Retry later.
    #[error("agents' sessions unavailable: {0}")]
    Sessions(cc_cluster::Error),
}
