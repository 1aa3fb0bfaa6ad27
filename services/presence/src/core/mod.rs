//! The pure presence core: agents, devices, states and reservations.
//!
//! No clock, no sockets, no tasks: every input carries `now`, and the output is the change
//! itself plus [`PresenceEvent`]s and the next deadline. The service wraps one [`Presence`]
//! in an actor and turns gRPC calls into its inputs.
//!
//! # Calling contract
//! 1. Inputs (`login`, `reserve`, `device_gone`, ...) return `Result`; an `Err` changed
//!    nothing. Every input first applies timers due at its `now`, so an input never sees an
//!    expired reservation or wrap-up, even if the owner was late calling `handle_timeout`.
//! 2. After inputs, drain [`Presence::poll_event`] until `None`: one event per change, with
//!    strictly increasing `seq`.
//! 3. Arm a timer for [`Presence::poll_timeout`] and call [`Presence::handle_timeout`] when
//!    it fires (then drain events again).
//!
//! # Rules
//! - An agent is `Available` iff logged in, with at least one device, not paused and not
//!   engaged in a call or wrap-up. Login and devices are separate facts (API vs registrar).
//! - `reserve` is the only way to take an agent, and only from `Available`; so for each
//!   agent exactly one caller succeeds until the agent is free again.
//! - Logout, pause and losing the last device during a call (`Reserved`, `Ringing`,
//!   `OnCall`) take effect when the call ends; during wrap-up they take effect at once.
//! - Call inputs name the call; a message for another call is refused and changes nothing.
//! - After a takeover, `call_in_progress` binds an agent to a call that already rings or
//!   talks, whatever the agent's login and devices; the call then ends as any other.
//! - A call binding may name the sip-edge node that carries the call ([`EdgeNode`]); when
//!   that node is gone for good (`edge_gone`), nobody can end its calls any more, so their
//!   agents leave them as if they had ended. A binding with no edge is never freed that way.
//! - A device may name the sip-edge node it registered with; when that node is gone for
//!   good, its devices are gone too (as if each had gone away by itself).

mod agent;
mod calls;
mod error;
mod event;
mod ids;
mod roster;
mod session;
mod state;
mod timers;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use agent::{Agent, AgentConfig};
pub use calls::{EdgeCleared, Reservation};
pub use error::{CallInput, PresenceError};
pub use event::{Cause, PresenceEvent};
pub use ids::{AgentId, CallId, Device, DeviceId, DeviceKind, EdgeNode};
pub use roster::Reconfigured;
pub use state::{AgentState, PauseReason};

use event::EventQueue;
use timers::Timers;

/// Result of presence inputs.
pub type Result<T, E = PresenceError> = std::result::Result<T, E>;

/// Limits that keep presence bounded whatever the inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceConfig {
    /// Most agents presence holds.
    pub max_agents: usize,
    /// Most devices per agent (SIP contacts plus browser sessions).
    pub max_devices_per_agent: usize,
    /// Longest reservation a queue may ask for.
    pub max_reservation_ttl: Duration,
    /// Longest wrap-up; longer requests are shortened to this.
    pub max_wrap_up: Duration,
    /// Most undrained events kept; beyond this the oldest are dropped (seen as a seq gap).
    pub max_pending_events: usize,
    /// Longest id or configured text (bytes).
    pub max_text_len: usize,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        Self {
            max_agents: 10_000,
            max_devices_per_agent: 8,
            max_reservation_ttl: Duration::from_secs(120),
            max_wrap_up: Duration::from_secs(3600),
            max_pending_events: 65_536,
            max_text_len: 256,
        }
    }
}

/// The state of all agents of one presence owner. See the module docs for the contract.
#[derive(Debug)]
pub struct Presence {
    config: PresenceConfig,
    agents: BTreeMap<AgentId, Agent>,
    timers: Timers,
    events: EventQueue,
}

impl Presence {
    /// An empty presence with the given limits.
    pub fn new(config: PresenceConfig) -> Self {
        let events = EventQueue::new(config.max_pending_events);
        Self {
            config,
            agents: BTreeMap::new(),
            timers: Timers::default(),
            events,
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &PresenceConfig {
        &self.config
    }

    // ----- queries -----

    /// One agent.
    pub fn agent(&self, agent: &AgentId) -> Result<&Agent> {
        self.agents
            .get(agent)
            .ok_or_else(|| PresenceError::UnknownAgent(agent.clone()))
    }

    /// One agent's state.
    pub fn state(&self, agent: &AgentId) -> Result<&AgentState> {
        self.agent(agent).map(Agent::state)
    }

    /// All agents, ordered by id.
    pub fn agents(&self) -> impl Iterator<Item = &Agent> {
        self.agents.values()
    }

    /// Agents that can be reserved now, ordered by id (the queue applies its strategy,
    /// e.g. longest idle by [`Agent::since`]).
    pub fn available_agents(&self) -> impl Iterator<Item = &Agent> {
        self.agents
            .values()
            .filter(|agent| agent.state.is_available())
    }

    /// Number of configured agents.
    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// Whether no agent is configured.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }

    // ----- outputs -----

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<PresenceEvent> {
        self.events.pop()
    }

    /// Sequence number of the last event emitted (0 before any): where a new watcher starts.
    pub fn last_seq(&self) -> u64 {
        self.events.last_seq()
    }

    /// Events dropped because nobody drained them (see [`PresenceConfig::max_pending_events`]).
    pub fn dropped_events(&self) -> u64 {
        self.events.dropped()
    }

    /// The earliest reservation expiry or wrap-up end.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Applies every deadline due at `now`: unconfirmed reservations fall back, wrap-ups end.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Each pop removes one entry and a transition adds at most one later-or-absent
        // entry for a different state, so this ends; the bound makes it obviously so.
        let mut budget = self.timers.len();
        while budget > 0 {
            budget -= 1;
            let Some((at, id)) = self.timers.pop_due(now) else {
                break;
            };
            let Some(agent) = self.agents.get(&id) else {
                continue;
            };
            let cause = match &agent.state {
                AgentState::Reserved { until, .. } if *until == at => Cause::ReservationExpired,
                AgentState::WrapUp { until } if *until == at => Cause::WrapUpEnded,
                _ => continue,
            };
            let to = agent.rest_state();
            self.set_state(&id, to, cause, now);
        }
    }

    // ----- machinery shared by the input modules -----

    /// Moves an agent to `to`, keeping the timer table and emitting one event; a no-op when
    /// the state does not change, so callers may settle freely. A retiring agent whose call
    /// let go of it is removed right after (a second event).
    fn set_state(&mut self, id: &AgentId, to: AgentState, cause: Cause, now: Instant) {
        let Some(agent) = self.agents.get_mut(id) else {
            return;
        };
        if agent.state == to {
            return;
        }
        let from = std::mem::replace(&mut agent.state, to.clone());
        agent.since = now;
        // The edge belongs to the call: leaving it (or moving to another) forgets it.
        if from.call() != to.call() {
            agent.edge = None;
        }
        let retired = agent.retiring && !to.is_call_bound();
        self.timers.replace(id, from.deadline(), to.deadline());
        let seq = self.events.next_seq();
        self.events.push(PresenceEvent::AgentStateChanged {
            seq,
            agent: id.clone(),
            from,
            to,
            cause,
            at: now,
        });
        if retired {
            self.remove_now(id, now);
        }
    }

    /// Takes an agent out of presence, with its timers, emitting `AgentRemoved`.
    fn remove_now(&mut self, id: &AgentId, now: Instant) {
        let Some(agent) = self.agents.remove(id) else {
            return;
        };
        self.timers.replace(id, agent.state.deadline(), None);
        let seq = self.events.next_seq();
        self.events.push(PresenceEvent::AgentRemoved {
            seq,
            agent: id.clone(),
            last: agent.state,
            at: now,
        });
    }

    /// Re-derives an agent's state after its facts changed.
    fn settle(&mut self, id: &AgentId, cause: Cause, now: Instant) {
        if let Some(agent) = self.agents.get(id) {
            let to = agent.settled_state();
            self.set_state(id, to, cause, now);
        }
    }

    fn agent_mut(&mut self, id: &AgentId) -> Result<&mut Agent> {
        self.agents
            .get_mut(id)
            .ok_or_else(|| PresenceError::UnknownAgent(id.clone()))
    }

    /// Refuses empty or oversized text before anything is stored.
    fn check_text(&self, field: &'static str, len: usize) -> Result<()> {
        if len == 0 {
            return Err(PresenceError::Empty { field });
        }
        let max = self.config.max_text_len;
        if len > max {
            return Err(PresenceError::TooLong { field, len, max });
        }
        Ok(())
    }
}
