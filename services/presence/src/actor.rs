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
use tokio::sync::broadcast;

use crate::core::{
    Agent, AgentConfig, AgentId, AgentState, CallId, Device, DeviceId, EdgeNode, PauseReason,
    Presence, PresenceConfig, PresenceError, PresenceEvent, Reconfigured,
};
use crate::error::ServiceError;
use crate::history::History;
use crate::sessions::{Restore, Session, Sessions};

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
    Apply(AgentId, Command, RpcReplyPort<Result<Agent, PresenceError>>),
    List(RpcReplyPort<Vec<Agent>>),
    Get(AgentId, RpcReplyPort<Result<Agent, PresenceError>>),
    Watch(u64, RpcReplyPort<Result<Subscription, ServiceError>>),
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
                let result = state.apply(&agent, command, now());
                if let (true, Ok(changed), Some(sessions)) = (session, &result, &state.sessions) {
                    sessions.record(&agent, Session::of(changed));
                }
                state.after_input(&myself);
                // The caller may have timed out; the change stands either way.
                let _ = reply.send(result);
            }
            Msg::List(reply) => {
                let _ = reply.send(state.core.agents().cloned().collect());
            }
            Msg::Get(agent, reply) => {
                let _ = reply.send(state.core.agent(&agent).cloned());
            }
            Msg::Watch(from, reply) => {
                let result = state
                    .history
                    .replay(from, state.core.last_seq())
                    .map(|replay| Subscription {
                        replay,
                        live: state.events.subscribe(),
                        next: state.core.last_seq().saturating_add(1),
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
