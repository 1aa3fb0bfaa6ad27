//! The presence actor: the one owner of a [`Presence`] core (DESIGN.md section 3).
//!
//! Every input goes through its mailbox, so the core needs no lock. After each message the
//! actor drains the core's events into the history ring and the broadcast channel, then
//! re-arms its single timer for the core's next deadline; re-arming after *every* message
//! is what keeps it from sleeping past a deadline that an input has just made earlier.
//!
//! With a coordinator, the actor also records every session change an API input made
//! (login, logout, pause, resume) for the sessions writer, in the order it applied them;
//! sessions restored from the coordinator are applied without being recorded again.

use std::time::{Duration, Instant};

use cc_common::actor::{DeadlineTimer, now};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::{broadcast, watch};

use crate::core::{
    Agent, AgentConfig, AgentId, AgentState, CallId, Device, DeviceId, EdgeNode, PauseReason,
    Presence, PresenceConfig, PresenceError, PresenceEvent, Reconfigured,
};
use crate::error::ServiceError;
use crate::history::History;
use crate::sessions::{Restore, Session, Sessions};
use crate::shards::{Scope, shard_of};

/// An input that changes one agent. Each maps to one core input of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// [`Presence::login`]
    Login,
    /// [`Presence::logout`]
    Logout,
    /// [`Presence::pause`]
    Pause(PauseReason),
    /// [`Presence::resume`]
    Resume,
    /// [`Presence::device_registered`]
    DeviceRegistered(Device),
    /// [`Presence::device_gone`]
    DeviceGone(DeviceId),
    /// [`Presence::reserve`]
    Reserve {
        /// The call to reserve the agent for.
        call: CallId,
        /// The sip-edge node carrying the call, if known.
        edge: Option<EdgeNode>,
        /// How long the reservation holds without a ringing confirmation.
        ttl: Duration,
    },
    /// [`Presence::confirm_ringing`]
    ConfirmRinging(CallId),
    /// [`Presence::answered`]
    Answered(CallId),
    /// [`Presence::released`]
    Released(CallId),
    /// [`Presence::call_ended`]
    CallEnded {
        /// The call that ended.
        call: CallId,
        /// The wrap-up the agent gets.
        wrap_up: Duration,
    },
    /// [`Presence::call_in_progress`]
    CallInProgress {
        /// The call ringing or talking with the agent.
        call: CallId,
        /// The sip-edge node carrying the call, if known.
        edge: Option<EdgeNode>,
        /// Whether the agent talks on it (otherwise the agent's phone rings).
        answered: bool,
    },
    /// [`Presence::call_moved`]
    CallMoved {
        /// The call the agent talks on now, and the one it was.
        call: CallId,
        from: CallId,
        edge: Option<EdgeNode>,
    },
}

impl Command {
    /// Whether the command changes the agent's session (what the coordinator keeps).
    fn is_session(&self) -> bool {
        matches!(
            self,
            Self::Login | Self::Logout | Self::Pause(_) | Self::Resume
        )
    }
}

/// What a new watcher gets, taken in one actor turn so that nothing falls between the
/// replayed events and the live ones.
#[derive(Debug)]
pub(crate) struct Subscription {
    pub(crate) replay: Vec<PresenceEvent>,
    pub(crate) live: broadcast::Receiver<PresenceEvent>,
    /// The sequence the first live event will have.
    pub(crate) next: u64,
}

/// The actor's mailbox.
#[derive(Debug)]
pub(crate) enum Msg {
    Apply(AgentId, Command, RpcReplyPort<Result<Agent, ServiceError>>),
    List(RpcReplyPort<Vec<Agent>>),
    Get(AgentId, RpcReplyPort<Result<Agent, ServiceError>>),
    Watch(u64, RpcReplyPort<Result<Subscription, ServiceError>>),
    /// The agents of one shard as they are now, and their changes from now on, taken in
    /// one turn ([`crate::PresenceHandle::watch_shard`]).
    WatchShard(
        u32,
        RpcReplyPort<Result<(Vec<Agent>, Subscription), ServiceError>>,
    ),
    /// This node owns the shard now: its agents start afresh and are served from now on.
    Own(u32, RpcReplyPort<()>),
    /// This node no longer owns the shard: its agents are refused and forgotten at once.
    Disown(u32, RpcReplyPort<()>),
    /// The configured set of agents changed ([`Presence::configure`]).
    Configure(
        Vec<AgentConfig>,
        RpcReplyPort<Result<Reconfigured, PresenceError>>,
    ),
    /// Sessions read from the coordinator after `mark` ([`Sessions::mark`]), to apply to the
    /// agents whose session did not change since; answers how many were applied.
    Restore(Vec<(AgentId, Restore)>, u64, RpcReplyPort<usize>),
    /// A sip-edge node is gone for good ([`Presence::edge_gone`]); sent by the edge
    /// follower, which needs no answer.
    EdgeGone(EdgeNode),
    /// The timer armed for this deadline fired.
    Timeout(Instant),
}

/// Start-up arguments.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) agents: Vec<AgentConfig>,
    pub(crate) limits: PresenceConfig,
    pub(crate) history: usize,
    pub(crate) broadcast: usize,
    pub(crate) sessions: Option<Sessions>,
    /// The agents this node serves, published for the APIs' streams.
    pub(crate) scope: watch::Sender<Scope>,
}

/// The actor itself is configuration-free; everything mutable is in [`State`].
#[derive(Debug)]
pub(crate) struct PresenceActor;

#[derive(Debug)]
pub(crate) struct State {
    core: Presence,
    history: History,
    events: broadcast::Sender<PresenceEvent>,
    timer: DeadlineTimer<Msg>,
    sessions: Option<Sessions>,
    scope: watch::Sender<Scope>,
}

impl Actor for PresenceActor {
    type Msg = Msg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(
        &self,
        myself: ActorRef<Msg>,
        args: Args,
    ) -> Result<State, ActorProcessingErr> {
        let now = now();
        let mut core = Presence::new(args.limits);
        for agent in args.agents {
            core.add_agent(agent, now)?;
        }
        let (events, _) = broadcast::channel(args.broadcast.max(1));
        let mut state = State {
            core,
            history: History::new(args.history),
            events,
            timer: DeadlineTimer::default(),
            sessions: args.sessions,
            scope: args.scope,
        };
        state.after_input(&myself);
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Msg>,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        state.timer.cancel();
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Msg>,
        msg: Msg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::Apply(agent, command, reply) => {
                let session = command.is_session();
                let result = match state.served(&agent) {
                    Ok(()) => state
                        .apply(&agent, command, now())
                        .map_err(ServiceError::from),
                    Err(e) => Err(e),
                };
                if let (true, Ok(changed), Some(sessions)) = (session, &result, &state.sessions) {
                    sessions.record(&agent, Session::of(changed));
                }
                state.after_input(&myself);
                // The caller may have timed out; the change stands either way.
                let _ = reply.send(result);
            }
            Msg::List(reply) => {
                let scope = state.scope.borrow().clone();
                let served = state.core.agents().filter(|a| scope.covers(a.id()));
                let _ = reply.send(served.cloned().collect());
            }
            Msg::Get(agent, reply) => {
                let result = state
                    .served(&agent)
                    .and_then(|()| Ok(state.core.agent(&agent).cloned()?));
                let _ = reply.send(result);
            }
            Msg::WatchShard(shard, reply) => {
                let result = if state.scope.borrow().covers_shard(shard) {
                    let agents = state
                        .core
                        .agents()
                        .filter(|a| shard_of(a.id()) == shard)
                        .cloned()
                        .collect();
                    Ok((agents, state.subscription()))
                } else {
                    Err(ServiceError::ShardNotOwned(shard))
                };
                let _ = reply.send(result);
            }
            Msg::Own(shard, reply) => {
                // Whatever this node knew of the shard's agents is older than the owner
                // before it: start from nothing, as the sessions store and sip-edge say.
                state.forget_shard(shard, now());
                state.scope.send_modify(|scope| scope.add(shard));
                tracing::info!(shard, "presence shard served by this node");
                state.after_input(&myself);
                let _ = reply.send(());
            }
            Msg::Disown(shard, reply) => {
                state.scope.send_modify(|scope| scope.remove(shard));
                state.forget_shard(shard, now());
                tracing::info!(shard, "presence shard no longer served by this node");
                state.after_input(&myself);
                let _ = reply.send(());
            }
            Msg::Watch(from, reply) => {
                let result = state
                    .history
                    .replay(from, state.core.last_seq())
                    .map(|replay| Subscription {
                        replay,
                        ..state.subscription()
                    });
                let _ = reply.send(result);
            }
            Msg::Configure(agents, reply) => {
                let result = state.core.configure(agents, now());
                state.after_input(&myself);
                let _ = reply.send(result);
            }
            Msg::Restore(sessions, mark, reply) => {
                let applied = state.restore(sessions, mark, now());
                state.after_input(&myself);
                let _ = reply.send(applied);
            }
            Msg::EdgeGone(edge) => {
                let cleared = state.core.edge_gone(&edge, now());
                tracing::warn!(
                    node = %edge,
                    freed = cleared.freed.len(),
                    agents = ?cleared.freed.iter().map(AgentId::as_str).collect::<Vec<_>>(),
                    devices = cleared.devices.len(),
                    "sip-edge node gone for good; the agents of its calls are free again \
                     and the phones registered with it are gone"
                );
                state.after_input(&myself);
            }
            Msg::Timeout(at) => {
                state.timer.fired(at);
                state.core.handle_timeout(now());
                state.after_input(&myself);
            }
        }
        Ok(())
    }
}

impl State {
    /// Whether this node serves `agent` now.
    fn served(&self, agent: &AgentId) -> Result<(), ServiceError> {
        if self.scope.borrow().covers(agent) {
            return Ok(());
        }
        Err(ServiceError::NotOwned {
            agent: agent.clone(),
            shard: shard_of(agent),
        })
    }

    /// Live events from the next one on.
    fn subscription(&self) -> Subscription {
        Subscription {
            replay: Vec::new(),
            live: self.events.subscribe(),
            next: self.core.last_seq().saturating_add(1),
        }
    }

    /// Forgets every agent of `shard` ([`Presence::forget`]).
    fn forget_shard(&mut self, shard: u32, now: Instant) {
        let agents: Vec<AgentId> = self
            .core
            .agents()
            .map(|a| a.id().clone())
            .filter(|id| shard_of(id) == shard)
            .collect();
        for id in agents {
            if let Err(e) = self.core.forget(&id, now) {
                tracing::warn!(agent = %id, error = %e, "cannot forget an agent");
            }
        }
    }

    fn apply(
        &mut self,
        id: &AgentId,
        command: Command,
        now: Instant,
    ) -> Result<Agent, PresenceError> {
        let core = &mut self.core;
        // A retiring agent leaves presence when its call lets go of it; the caller is still
        // answered with the agent as it left.
        let retiring = core.agent(id).ok().filter(|a| a.retiring()).cloned();
        match command {
            Command::Login => core.login(id, now),
            Command::Logout => core.logout(id, now),
            Command::Pause(reason) => core.pause(id, reason, now),
            Command::Resume => core.resume(id, now),
            Command::DeviceRegistered(device) => core.device_registered(id, device, now),
            Command::DeviceGone(device) => core.device_gone(id, &device, now),
            Command::Reserve { call, edge, ttl } => {
                core.reserve(id, call, edge, ttl, now).map(|_| ())
            }
            Command::ConfirmRinging(call) => core.confirm_ringing(id, &call, now),
            Command::Answered(call) => core.answered(id, &call, now),
            Command::Released(call) => core.released(id, &call, now),
            Command::CallEnded { call, wrap_up } => core.call_ended(id, &call, wrap_up, now),
            Command::CallInProgress {
                call,
                edge,
                answered,
            } => core.call_in_progress(id, call, edge, answered, now),
            Command::CallMoved { call, from, edge } => core.call_moved(id, &from, call, edge, now),
        }?;
        match (core.agent(id), retiring) {
            (Ok(agent), _) => Ok(agent.clone()),
            (Err(_), Some(mut gone)) => {
                gone.state = AgentState::Offline;
                Ok(gone)
            }
            (Err(e), None) => Err(e),
        }
    }

    /// Makes the sessions of known agents what the coordinator holds, except for agents
    /// whose session changed here after `mark` (that change is newer, and on its way to the
    /// coordinator). Nothing applied here is recorded: it came from there.
    fn restore(&mut self, sessions: Vec<(AgentId, Restore)>, mark: u64, now: Instant) -> usize {
        let mut applied = 0;
        for (id, session) in sessions {
            if !self.scope.borrow().covers(&id) {
                tracing::debug!(agent = %id, "stored session of an agent served elsewhere; skipped");
                continue;
            }
            if self
                .sessions
                .as_ref()
                .is_some_and(|s| s.changed_after(&id, mark))
            {
                tracing::debug!(agent = %id, "session changed here since it was read; kept");
                continue;
            }
            match restore_one(&mut self.core, &id, &session, now) {
                Ok(()) => applied += 1,
                Err(PresenceError::UnknownAgent(_)) => {
                    tracing::debug!(agent = %id, "stored session of an unknown agent; skipped");
                }
                Err(e) => {
                    tracing::warn!(agent = %id, error = %e, "stored session not applied");
                }
            }
        }
        applied
    }

    /// Publishes the core's new events and re-arms the timer for its next deadline.
    fn after_input(&mut self, myself: &ActorRef<Msg>) {
        while let Some(event) = self.core.poll_event() {
            self.history.push(event.clone());
            // No receiver is not an error: nobody watches right now.
            let _ = self.events.send(event);
        }
        let next = self.core.poll_timeout();
        self.timer.arm(myself, next, Msg::Timeout);
    }
}

/// Applies one stored session: login, then the pause (or its end), or logout. Idempotent:
/// an agent already in that session does not change.
fn restore_one(
    core: &mut Presence,
    id: &AgentId,
    session: &Restore,
    now: Instant,
) -> Result<(), PresenceError> {
    let paused = core.agent(id)?.pause_reason().cloned();
    let Restore::LoggedIn(reason) = session else {
        return core.logout(id, now);
    };
    core.login(id, now)?;
    match reason {
        Some(reason) if paused.as_ref() != Some(reason) => core.pause(id, reason.clone(), now),
        None if paused.is_some() => core.resume(id, now),
        _ => Ok(()),
    }
}
