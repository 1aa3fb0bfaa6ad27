//! The presence actor: the one owner of a [`Presence`] core (DESIGN.md section 3).
//!
//! Every input goes through its mailbox, so the core needs no lock. After each message the
//! actor drains the core's events into the history ring and the broadcast channel, then
//! re-arms its single timer for the core's next deadline; re-arming after *every* message
//! is what keeps it from sleeping past a deadline that an input has just made earlier.

use std::time::{Duration, Instant};

use cc_common::actor::{DeadlineTimer, now};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::broadcast;

use crate::core::{
    Agent, AgentConfig, AgentId, AgentState, CallId, Device, DeviceId, PauseReason, Presence,
    PresenceConfig, PresenceError, PresenceEvent, Reconfigured,
};
use crate::error::ServiceError;
use crate::history::History;

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
                let result = state.apply(&agent, command, now());
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
            Command::Reserve { call, ttl } => core.reserve(id, call, ttl, now).map(|_| ()),
            Command::ConfirmRinging(call) => core.confirm_ringing(id, &call, now),
            Command::Answered(call) => core.answered(id, &call, now),
            Command::Released(call) => core.released(id, &call, now),
            Command::CallEnded { call, wrap_up } => core.call_ended(id, &call, wrap_up, now),
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
