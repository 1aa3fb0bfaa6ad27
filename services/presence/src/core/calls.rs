//! Inputs that tie an agent to a call: reserve, ringing, answer, release, end, and the
//! call in progress a presence node hears about after taking over; and the one that frees
//! the agents of every call a dead sip-edge node carried, and drops the phones registered
//! with it (`edge_gone`).
//!
//! Every input names the call. A message about another call (a late retry, a call that
//! already expired or ended) is refused with [`PresenceError::StaleCall`] and changes
//! nothing; a repeated message for the current phase is accepted as a no-op, because the
//! network may deliver it twice.

use std::time::{Duration, Instant};

use super::error::CallInput;
use super::event::Cause;
use super::ids::{AgentId, CallId, DeviceId, EdgeNode};
use super::state::AgentState;
use super::{Presence, PresenceError, Result};

/// Proof of a successful [`Presence::reserve`]: the agent is held for the call until
/// `until` unless [`Presence::confirm_ringing`] or [`Presence::answered`] comes first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The reserved agent.
    pub agent: AgentId,
    /// The call it is reserved for.
    pub call: CallId,
    /// The sip-edge node carrying the call, if the queue knew it.
    pub edge: Option<EdgeNode>,
    /// When the reservation expires by itself.
    pub until: Instant,
}

/// What [`Presence::edge_gone`] did. Both empty is not an error: the node may have carried
/// no agent's call and held no agent's phone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EdgeCleared {
    /// The agents freed from calls the node carried, ordered by id.
    pub freed: Vec<AgentId>,
    /// The devices that were registered with the node and are gone with it, as
    /// `(agent, device)`, ordered by agent, then device.
    pub devices: Vec<(AgentId, DeviceId)>,
}

impl Presence {
    /// Takes an `Available` agent for `call`, carried by the sip-edge node `edge` (if
    /// known; see [`Self::edge_gone`]), for at most `ttl`.
    ///
    /// Succeeds for exactly one caller: afterwards the agent is `Reserved`, and every other
    /// `reserve` (also a retry for the same call) fails with [`PresenceError::NotAvailable`]
    /// naming the state, in which a retrying caller can recognise its own call.
    pub fn reserve(
        &mut self,
        id: &AgentId,
        call: CallId,
        edge: Option<EdgeNode>,
        ttl: Duration,
        now: Instant,
    ) -> Result<Reservation> {
        self.handle_timeout(now);
        self.check_text("call id", call.as_str().len())?;
        self.check_edge(edge.as_ref())?;
        let max = self.config.max_reservation_ttl;
        if ttl.is_zero() || ttl > max {
            return Err(PresenceError::InvalidTtl { ttl, max });
        }
        let until = now
            .checked_add(ttl)
            .ok_or(PresenceError::InvalidTtl { ttl, max })?;
        let state = self.state(id)?;
        if !state.is_available() {
            return Err(PresenceError::NotAvailable {
                agent: id.clone(),
                state: state.clone(),
            });
        }
        let to = AgentState::Reserved {
            call: call.clone(),
            until,
        };
        self.set_state(id, to, Cause::Reserved, now);
        self.agent_mut(id)?.edge.clone_from(&edge);
        Ok(Reservation {
            agent: id.clone(),
            call,
            edge,
            until,
        })
    }

    /// The agent's devices ring for the reserved call: the reservation no longer expires.
    pub fn confirm_ringing(&mut self, id: &AgentId, call: &CallId, now: Instant) -> Result<()> {
        self.handle_timeout(now);
        match self.call_state(id, call)? {
            AgentState::Reserved { .. } => {
                let to = AgentState::Ringing { call: call.clone() };
                self.set_state(id, to, Cause::Ringing, now);
                Ok(())
            }
            AgentState::Ringing { .. } => Ok(()),
            state => Err(invalid(id, call, CallInput::ConfirmRinging, state)),
        }
    }

    /// The agent answered. Accepted from `Reserved` too: the answer may overtake the
    /// ringing confirmation.
    pub fn answered(&mut self, id: &AgentId, call: &CallId, now: Instant) -> Result<()> {
        self.handle_timeout(now);
        match self.call_state(id, call)? {
            AgentState::Reserved { .. } | AgentState::Ringing { .. } => {
                let to = AgentState::OnCall { call: call.clone() };
                self.set_state(id, to, Cause::Answered, now);
                Ok(())
            }
            AgentState::OnCall { .. } => Ok(()),
            state => Err(invalid(id, call, CallInput::Answered, state)),
        }
    }

    /// The call was not answered by this agent (no answer, declined, cancelled, answered
    /// elsewhere): the agent goes back to where they rest, usually `Available`.
    pub fn released(&mut self, id: &AgentId, call: &CallId, now: Instant) -> Result<()> {
        self.handle_timeout(now);
        match self.call_state(id, call)? {
            AgentState::Reserved { .. } | AgentState::Ringing { .. } => {
                let to = self.agent(id)?.rest_state();
                self.set_state(id, to, Cause::Released, now);
                Ok(())
            }
            state => Err(invalid(id, call, CallInput::Released, state)),
        }
    }

    /// The agent's call ended. From `OnCall` the agent goes to `WrapUp` for `wrap_up`
    /// (shortened to the configured maximum), then `Available`; a zero wrap-up goes straight
    /// on. If the agent asked to log out or pause, or lost their last device, during the
    /// call, that takes effect now instead of wrap-up. Before an answer this is `released`.
    pub fn call_ended(
        &mut self,
        id: &AgentId,
        call: &CallId,
        wrap_up: Duration,
        now: Instant,
    ) -> Result<()> {
        self.handle_timeout(now);
        let state = self.call_state(id, call)?;
        let rest = self.agent(id)?.rest_state();
        let to = match state {
            AgentState::Reserved { .. } | AgentState::Ringing { .. } => rest,
            AgentState::OnCall { .. } => {
                let wrap_up = wrap_up.min(self.config.max_wrap_up);
                match now.checked_add(wrap_up) {
                    Some(until) if rest.is_available() && !wrap_up.is_zero() => {
                        AgentState::WrapUp { until }
                    }
                    _ => rest,
                }
            }
            state => return Err(invalid(id, call, CallInput::CallEnded, state)),
        };
        self.set_state(id, to, Cause::CallEnded, now);
        Ok(())
    }

    /// A call that is already ringing the agent (`answered == false`) or talking with them
    /// (`answered`), reported to a presence node that took over with no memory of it: the
    /// agent is bound to `call` (`Ringing` or `OnCall`), so it is never offered a second
    /// one, and the call's later inputs (`answered`, `released`, `call_ended`) apply as for
    /// any call.
    ///
    /// Accepted from every state that is not bound to a call, whether or not the agent is
    /// logged in or has a device: the phone really is in that call (after it, the agent
    /// rests where login, pause and devices say). Idempotent for the agent's own call, and
    /// it only moves forward: a reservation becomes `Ringing` (it no longer expires) or
    /// `OnCall`, `Ringing` becomes `OnCall` when answered, `OnCall` stays. An agent bound to
    /// another call is refused with [`PresenceError::StaleCall`], naming that state.
    ///
    /// `edge` is the sip-edge node carrying the call (see [`Self::edge_gone`]); a report
    /// that names one records it (the latest report wins), one that does not keeps the edge
    /// already known for the call.
    pub fn call_in_progress(
        &mut self,
        id: &AgentId,
        call: CallId,
        edge: Option<EdgeNode>,
        answered: bool,
        now: Instant,
    ) -> Result<()> {
        self.handle_timeout(now);
        self.check_text("call id", call.as_str().len())?;
        self.check_edge(edge.as_ref())?;
        let state = self.state(id)?;
        let to = match (state, answered) {
            (state, _) if state.call().is_some_and(|bound| *bound != call) => {
                return Err(PresenceError::StaleCall {
                    agent: id.clone(),
                    call,
                    state: state.clone(),
                });
            }
            (AgentState::OnCall { .. }, _) | (AgentState::Ringing { .. }, false) => None,
            (_, true) => Some(AgentState::OnCall { call }),
            (_, false) => Some(AgentState::Ringing { call }),
        };
        if let Some(to) = to {
            self.set_state(id, to, Cause::Restored, now);
        }
        if let Some(edge) = edge {
            self.agent_mut(id)?.edge = Some(edge);
        }
        Ok(())
    }

    /// The agent's call goes on under another id: an attended transfer handed the agent's
    /// leg from the call `from` (which ends without them) to `call`. The agent, bound to
    /// `from` (`OnCall`), is now `OnCall` for `call`; later inputs about `call` apply to
    /// them, inputs about `from` are stale. Idempotent once moved; an agent bound to
    /// neither is refused with [`PresenceError::StaleCall`]. `edge` as for
    /// [`Self::call_in_progress`].
    pub fn call_moved(
        &mut self,
        id: &AgentId,
        from: &CallId,
        call: CallId,
        edge: Option<EdgeNode>,
        now: Instant,
    ) -> Result<()> {
        self.handle_timeout(now);
        self.check_text("call id", call.as_str().len())?;
        self.check_edge(edge.as_ref())?;
        let state = self.state(id)?;
        match state {
            AgentState::OnCall { call: bound } if bound == from => {
                self.set_state(id, AgentState::OnCall { call }, Cause::Restored, now);
            }
            AgentState::OnCall { call: bound } if *bound == call => {}
            state => {
                return Err(PresenceError::StaleCall {
                    agent: id.clone(),
                    call,
                    state: state.clone(),
                });
            }
        }
        if let Some(edge) = edge {
            self.agent_mut(id)?.edge = Some(edge);
        }
        Ok(())
    }

    /// The sip-edge node `edge` left the cluster for good (it died): nobody will ever end
    /// the calls it carried, and the phones registered with it can no longer be rung.
    ///
    /// Every device registered with `edge` ([`super::Device::edge`]) is removed, each
    /// agent settling as for [`Self::device_gone`] (with [`Cause::DeviceGone`]: losing the
    /// last device makes the agent Offline, after the call if in one). Devices with no known
    /// edge stay.
    ///
    /// Every agent bound to one of its calls (`Reserved`, `Ringing`, `OnCall` with that edge
    /// recorded) leaves the call as if it had ended with no wrap-up: to where the agent rests
    /// (`Available` when logged in with a device left; a logout, pause or device loss asked
    /// for during the call takes effect; a retiring agent leaves presence), with
    /// [`Cause::EdgeGone`]. Bindings with no known edge are untouched.
    ///
    /// The devices go first, so that an agent whose call and only phone were both on the
    /// node goes straight to `Offline` and never shows `Available` in between. Later
    /// reports from that edge about those calls are stale.
    pub fn edge_gone(&mut self, edge: &EdgeNode, now: Instant) -> EdgeCleared {
        self.handle_timeout(now);
        let devices = self.remove_devices_of(edge, now);
        let freed: Vec<AgentId> = self
            .agents
            .values()
            .filter(|agent| agent.edge.as_ref() == Some(edge) && agent.state.is_call_bound())
            .map(|agent| agent.id().clone())
            .collect();
        for id in &freed {
            if let Some(agent) = self.agents.get(id) {
                let to = agent.rest_state();
                self.set_state(id, to, Cause::EdgeGone, now);
            }
        }
        EdgeCleared { freed, devices }
    }

    /// Refuses an empty or oversized edge name before it is stored.
    pub(super) fn check_edge(&self, edge: Option<&EdgeNode>) -> Result<()> {
        match edge {
            Some(edge) => self.check_text("edge node", edge.as_str().len()),
            None => Ok(()),
        }
    }

    /// The agent's state if it belongs to `call`; `StaleCall` otherwise.
    fn call_state(&self, id: &AgentId, call: &CallId) -> Result<AgentState> {
        let state = self.state(id)?;
        if state.call() == Some(call) {
            Ok(state.clone())
        } else {
            Err(PresenceError::StaleCall {
                agent: id.clone(),
                call: call.clone(),
                state: state.clone(),
            })
        }
    }
}

/// The error for a call input that names the agent's call but does not fit its phase.
fn invalid(id: &AgentId, call: &CallId, input: CallInput, state: AgentState) -> PresenceError {
    PresenceError::InvalidTransition {
        agent: id.clone(),
        call: call.clone(),
        input,
        state,
    }
}
