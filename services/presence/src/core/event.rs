//! Events presence emits, one per change, numbered so that a watcher can resume.

use std::collections::VecDeque;
use std::time::Instant;

use super::ids::AgentId;
use super::state::AgentState;

/// Which input or timer caused a state change (for reporting and debugging).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// `login`
    Login,
    /// `logout` (possibly deferred to the end of a call)
    Logout,
    /// `device_registered`
    DeviceRegistered,
    /// `device_gone`
    DeviceGone,
    /// `pause`
    Pause,
    /// `resume`
    Resume,
    /// `reserve`
    Reserved,
    /// `confirm_ringing`
    Ringing,
    /// `answered`
    Answered,
    /// `released`
    Released,
    /// `call_ended`
    CallEnded,
    /// The reservation was not confirmed before its ttl.
    ReservationExpired,
    /// Wrap-up time is over.
    WrapUpEnded,
    /// `edge_gone`: the sip-edge node carrying the agent's call left the cluster for good,
    /// so nobody can end the call any more; the agent left it with no wrap-up.
    EdgeGone,
    /// `call_in_progress`: a call that was already ringing or talking when this presence
    /// node took over (the state is rebuilt, not a new phase of the call).
    Restored,
    /// `forget`: this node no longer owns the agent's shard; another node rebuilds the
    /// agent's state.
    Forgotten,
}

/// Something every watcher of presence must know. `seq` strictly increases by one per event
/// across all agents, so `WatchEvents` can resume after the last sequence it delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceEvent {
    /// An agent was added to the configured set (in `state`, always `Offline`).
    AgentAdded {
        /// Sequence number.
        seq: u64,
        /// The agent.
        agent: AgentId,
        /// Its initial state.
        state: AgentState,
        /// When.
        at: Instant,
    },
    /// An agent's state changed; `from != to` always.
    AgentStateChanged {
        /// Sequence number.
        seq: u64,
        /// The agent.
        agent: AgentId,
        /// The state before.
        from: AgentState,
        /// The state after.
        to: AgentState,
        /// What caused it.
        cause: Cause,
        /// When.
        at: Instant,
    },
    /// An agent was removed from the configured set while in `last`.
    AgentRemoved {
        /// Sequence number.
        seq: u64,
        /// The agent.
        agent: AgentId,
        /// Its state when removed.
        last: AgentState,
        /// When.
        at: Instant,
    },
}

impl PresenceEvent {
    /// The event's sequence number.
    pub fn seq(&self) -> u64 {
        match self {
            Self::AgentAdded { seq, .. }
            | Self::AgentStateChanged { seq, .. }
            | Self::AgentRemoved { seq, .. } => *seq,
        }
    }

    /// The agent the event is about.
    pub fn agent(&self) -> &AgentId {
        match self {
            Self::AgentAdded { agent, .. }
            | Self::AgentStateChanged { agent, .. }
            | Self::AgentRemoved { agent, .. } => agent,
        }
    }
}

/// Pending events, bounded: if the owner stops draining, the oldest are dropped and counted,
/// and the watcher sees a gap in `seq` and re-reads the agent list.
#[derive(Debug)]
pub(crate) struct EventQueue {
    queue: VecDeque<PresenceEvent>,
    capacity: usize,
    next_seq: u64,
    dropped: u64,
}

impl EventQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            capacity: capacity.max(1),
            next_seq: 1,
            dropped: 0,
        }
    }

    /// Takes the next sequence number; call once per event pushed.
    pub(crate) fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        seq
    }

    pub(crate) fn push(&mut self, event: PresenceEvent) {
        if self.queue.len() >= self.capacity {
            self.queue.pop_front();
            self.dropped = self.dropped.saturating_add(1);
        }
        self.queue.push_back(event);
    }

    pub(crate) fn pop(&mut self) -> Option<PresenceEvent> {
        self.queue.pop_front()
    }

    /// The sequence number of the last event emitted (0 before any).
    pub(crate) fn last_seq(&self) -> u64 {
        self.next_seq.saturating_sub(1)
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}
