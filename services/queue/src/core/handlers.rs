//! Inputs of [`QueueCore`]: presence changes, calls entering and leaving, offer outcomes,
//! call ends and timers. Each handler validates first, so a refused input changes nothing,
//! then runs the dispatcher so that any call that can be offered is.

use std::cmp::Reverse;
use std::time::Instant;

use super::agents::Activity;
use super::ids::{DepartmentId, EdgeNode};
use super::queue::{Lifecycle, QueueKey};
use super::timer::Timer;
use super::{AgentId, CallId, Enqueue, Output, QueueCore, QueueError, QueuedCall, RejectReason};

impl QueueCore {
    /// Presence says the agent is online and not paused. Agents no department lists are
    /// remembered too, so a later configuration can use them.
    pub fn handle_agent_available(&mut self, now: Instant, agent: &AgentId) {
        let idx = self.agents.find_or_insert(agent);
        if let Some(a) = self.agents.get_mut(idx)
            && !a.ready
        {
            a.ready = true;
            a.consecutive_no_answers = 0;
            if a.activity == Activity::Idle {
                a.idle_since = Some(now);
            }
        }
        self.sync_agent(idx);
        self.dispatch(now);
    }

    /// Presence says the agent is offline or paused. A call ringing the agent moves on
    /// ([`Output::CancelOffer`] for this agent); a call in progress continues.
    pub fn handle_agent_unavailable(&mut self, now: Instant, agent: &AgentId) {
        let idx = self.agents.find_or_insert(agent);
        let reserved_for = self.agents.get_mut(idx).and_then(|a| {
            a.ready = false;
            match &a.activity {
                Activity::Reserved { call } => Some(call.clone()),
                _ => None,
            }
        });
        if let Some(call) = reserved_for {
            self.withdraw_target(now, &call, idx, false);
        }
        self.sync_agent(idx);
        self.dispatch(now);
    }

    /// A call joins a department's queue; refused for a closing department.
    pub fn handle_enqueue(&mut self, now: Instant, request: Enqueue) -> Result<(), QueueError> {
        let d = self.department_idx(&request.department)?;
        if self.calls.contains_key(&request.call) || self.talking.contains_key(&request.call) {
            return Err(QueueError::DuplicateCall(request.call));
        }
        let key = QueueKey {
            urgency: Reverse(request.priority),
            enqueued_at: request.enqueued_at.unwrap_or(now),
            seq: self.next_id(),
        };
        let Some(department) = self.departments.get_mut(d) else {
            return Err(QueueError::UnknownDepartment(request.department));
        };
        if department.lifecycle != Lifecycle::Open {
            return Err(QueueError::DepartmentClosing(request.department));
        }
        department.queued.insert(key, request.call.clone());
        department.pending.insert(key, request.call.clone());
        self.calls.insert(
            request.call,
            QueuedCall {
                department: d,
                key,
                offer: None,
                tried: Vec::new(),
                edge: request.edge,
                caller: request.caller,
            },
        );
        self.queue_changed(d);
        self.dirty.insert(d);
        self.dispatch(now);
        Ok(())
    }

    /// The caller hung up, chose a callback or voicemail, or the call was taken out of the
    /// queue: every agent still reserved for it is cancelled and freed.
    pub fn handle_abandon(&mut self, now: Instant, call: &CallId) -> Result<(), QueueError> {
        self.leave(call)?;
        self.dispatch(now);
        Ok(())
    }

    /// The sip-edge node `edge` is gone (it left the cluster): nobody can end its calls any
    /// more, so every queued call it carried is abandoned, in every department, as by
    /// [`Self::handle_abandon`], and every answered call it carried ends, as by
    /// [`Self::handle_call_ended`] (its agent goes to wrap-up). Returns the queued calls
    /// that left, by department and line order; none is not an error.
    pub fn handle_edge_gone(&mut self, now: Instant, edge: &EdgeNode) -> Vec<CallId> {
        let mut gone: Vec<(usize, QueueKey, CallId)> = self
            .calls
            .iter()
            .filter(|(_, c)| c.edge.as_ref() == Some(edge))
            .map(|(call, c)| (c.department, c.key, call.clone()))
            .collect();
        gone.sort();
        // All leave before the dispatcher runs: an agent one of them frees must not be
        // offered another call of the same dead edge.
        for (_, _, call) in &gone {
            // Listed from `calls` just above, so known.
            let _ = self.leave(call);
        }
        // Its answered calls will never report their end: they end now (the agents go to
        // wrap-up as after any call), or the agents would stay busy here for good.
        let mut ended: Vec<CallId> = self
            .talking_edges
            .iter()
            .filter(|(_, e)| *e == edge)
            .map(|(call, _)| call.clone())
            .collect();
        ended.sort();
        for call in &ended {
            let _ = self.handle_call_ended(now, call);
        }
        self.dispatch(now);
        gone.into_iter().map(|(_, _, call)| call).collect()
    }

    /// Takes a queued call out of its queue and cancels its offer, without dispatching.
    fn leave(&mut self, call: &CallId) -> Result<(), QueueError> {
        let entry = self
            .calls
            .remove(call)
            .ok_or_else(|| QueueError::UnknownCall(call.clone()))?;
        if let Some(department) = self.departments.get_mut(entry.department) {
            department.queued.remove(&entry.key);
            department.pending.remove(&entry.key);
        }
        if let Some(offer) = entry.offer {
            for target in offer.targets {
                self.cancel_target(call, target.agent);
            }
        }
        self.queue_changed(entry.department);
        self.remove_if_drained(entry.department);
        Ok(())
    }

    /// The agent answered: the call leaves the queue, the agent is busy, every other target
    /// is cancelled.
    pub fn handle_answer(
        &mut self,
        now: Instant,
        call: &CallId,
        agent: &AgentId,
    ) -> Result<(), QueueError> {
        let a = self.offered_target(call, agent)?;
        let entry = self
            .calls
            .remove(call)
            .ok_or_else(|| QueueError::UnknownCall(call.clone()))?;
        let d = entry.department;
        let mut wrap_up = std::time::Duration::ZERO;
        if let Some(department) = self.departments.get_mut(d) {
            department.queued.remove(&entry.key);
            department.pending.remove(&entry.key);
            wrap_up = department.wrap_up;
        }
        if let Some(offer) = entry.offer {
            for target in offer.targets.iter().filter(|t| t.agent != a) {
                self.cancel_target(call, target.agent);
            }
        }
        if let Some(agent) = self.agents.get_mut(a) {
            agent.activity = Activity::Talking {
                call: call.clone(),
                department: d,
                since: now,
                wrap_up,
            };
            agent.calls_handled = agent.calls_handled.saturating_add(1);
            agent.consecutive_no_answers = 0;
            let position = agent.membership(d).map(|m| m.position);
            if let Some(department) = self.departments.get_mut(d)
                && position.is_some()
            {
                department.last_offered = position;
                if let Some(caller) = &entry.caller {
                    department.remember_caller(caller, a, now);
                }
            }
        }
        self.talking.insert(call.clone(), a);
        if let Some(edge) = entry.edge {
            self.talking_edges.insert(call.clone(), edge);
        }
        self.sync_agent(a);
        self.queue_changed(d);
        self.remove_if_drained(d);
        self.dispatch(now);
        Ok(())
    }

    /// The agent answered but has not taken the call yet: they hear who calls first (an
    /// announced transfer, R-31) and then take it ([`QueueCore::handle_answer`]) or decline
    /// it ([`QueueCore::handle_reject`]). Meanwhile the call keeps its place in line and
    /// only this agent is left in its plan: the other targets stop ringing (they did not
    /// miss it, so the next plan may ring them), and the agent's ring time gives way to
    /// [`CoreConfig::max_presentation`], after which they count as not answering.
    pub fn handle_presenting(
        &mut self,
        now: Instant,
        call: &CallId,
        agent: &AgentId,
    ) -> Result<(), QueueError> {
        let a = self.offered_target(call, agent)?;
        let generation = self.next_id();
        let stop = now.checked_add(self.config.max_presentation).unwrap_or(now);
        let Some(offer) = self.calls.get_mut(call).and_then(|c| c.offer.as_mut()) else {
            return Ok(());
        };
        let others: Vec<usize> = offer
            .targets
            .iter()
            .map(|t| t.agent)
            .filter(|other| *other != a)
            .collect();
        offer.targets.retain(|t| t.agent == a);
        for t in &mut offer.targets {
            t.start = t.start.min(now);
            t.stop = stop;
        }
        offer.generation = generation;
        self.timers.arm(
            stop,
            Timer::OfferStop {
                call: call.clone(),
                generation,
            },
        );
        for other in others {
            self.cancel_target(call, other);
        }
        self.dispatch(now);
        Ok(())
    }

    /// The agent declined or did not answer before the edge gave up: the plan moves on to its
    /// next target, and the miss counts towards pausing the agent. The core times targets out
    /// by itself too, so reporting a ring-out is optional.
    pub fn handle_reject(
        &mut self,
        now: Instant,
        call: &CallId,
        agent: &AgentId,
        reason: RejectReason,
    ) -> Result<(), QueueError> {
        let a = self.offered_target(call, agent)?;
        // Declining and ringing out both leave the caller waiting: both count as a miss.
        let _ = reason;
        self.withdraw_target(now, call, a, true);
        self.dispatch(now);
        Ok(())
    }

    /// An answered call ended: the agent goes to wrap-up for its department's time, then is
    /// available again.
    pub fn handle_call_ended(&mut self, now: Instant, call: &CallId) -> Result<(), QueueError> {
        let a = self
            .talking
            .remove(call)
            .ok_or_else(|| QueueError::UnknownCall(call.clone()))?;
        self.talking_edges.remove(call);
        let mut wrap_until = None;
        if let Some(agent) = self.agents.get_mut(a)
            && let Activity::Talking {
                department,
                since,
                wrap_up,
                ..
            } = agent.activity
        {
            let talk = now.saturating_duration_since(since);
            agent.talk_time = agent.talk_time.saturating_add(talk);
            if let Some(d) = self.departments.get_mut(department) {
                d.record_handle_time(talk);
            }
            if wrap_up.is_zero() {
                agent.activity = Activity::Idle;
                agent.idle_since = Some(now);
            } else {
                let until = now.checked_add(wrap_up).unwrap_or(now);
                agent.activity = Activity::WrapUp { until };
                wrap_until = Some(until);
            }
        }
        if let Some(until) = wrap_until {
            self.timers.arm(until, Timer::WrapUpEnd { agent: a });
        }
        self.sync_agent(a);
        self.dispatch(now);
        Ok(())
    }

    /// Makes no offers in `department` until `until` (calls still join its queue in their
    /// places). A queue owner that has just taken a department over holds it for a moment,
    /// so the calls that waited at the previous owner are all back in line before the first
    /// is offered: otherwise the first to come back would be served first, not the first
    /// to have called.
    pub fn handle_hold(
        &mut self,
        now: Instant,
        department: &DepartmentId,
        until: Instant,
    ) -> Result<(), QueueError> {
        let d = self.department_idx(department)?;
        if let Some(dep) = self.departments.get_mut(d) {
            dep.held_until = (until > now).then_some(until);
        }
        if until > now {
            self.timers.arm(until, Timer::HoldEnd { department: d });
        } else {
            self.dirty.insert(d);
            self.dispatch(now);
        }
        Ok(())
    }

    /// Runs every deadline due at `now`: targets ring out, wrap-ups end.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((_, timer)) = self.timers.pop_due(now) {
            match timer {
                Timer::OfferStop { call, generation } => {
                    self.expire_targets(now, &call, generation);
                }
                Timer::WrapUpEnd { agent } => {
                    if let Some(a) = self.agents.get_mut(agent)
                        && let Activity::WrapUp { until } = a.activity
                        && until <= now
                    {
                        a.activity = Activity::Idle;
                        a.idle_since = Some(until);
                        self.sync_agent(agent);
                    }
                }
                Timer::HoldEnd { department } => {
                    if let Some(d) = self.departments.get_mut(department)
                        && d.held_until.is_some_and(|until| until <= now)
                    {
                        d.held_until = None;
                        self.dirty.insert(department);
                    }
                }
            }
        }
        self.dispatch(now);
    }

    /// The agent's index if the call is currently offered to it.
    fn offered_target(&self, call: &CallId, agent: &AgentId) -> Result<usize, QueueError> {
        let entry = self.call(call)?;
        let not_offered = || QueueError::NotOffered {
            call: call.clone(),
            agent: agent.clone(),
        };
        let a = self.agents.find(agent).ok_or_else(not_offered)?;
        let offered = entry
            .offer
            .as_ref()
            .is_some_and(|o| o.targets.iter().any(|t| t.agent == a));
        if offered { Ok(a) } else { Err(not_offered()) }
    }

    pub(super) fn queue_changed(&mut self, d: usize) {
        if let Some(department) = self.departments.get(d) {
            self.outputs.push_back(Output::QueueChanged {
                department: department.id.clone(),
                waiting: department.queued.len(),
            });
        }
    }
}
