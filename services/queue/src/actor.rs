//! The queue actor: the one owner of a [`QueueCore`] (DESIGN.md section 3).
//!
//! Every input goes through its mailbox, so the core needs no lock. After each message the
//! actor acts on the core's outputs (reservations and pauses in presence, over its gRPC API;
//! [`QueueEvent`]s for the call actors), then re-arms its single timer for the core's next
//! deadline;
//! re-arming after *every* message is what keeps it from sleeping past a deadline that an
//! input has just made earlier.
//!
//! With [`crate::Ownership`] the actor serves only the configured departments this node owns
//! (`owners`): the core is configured with configured ∩ owned, and before it handles any
//! message the actor applies the ownership changes the claims reported, so a department
//! whose ownership was lost is dropped before anything else happens.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use cc_common::actor::{DeadlineTimer, now};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::broadcast;

use crate::core::{
    AgentId, CallId, CoreConfig, DepartmentConfig, DepartmentId, EdgeNode, Enqueue, Output,
    PauseReason, Priority, QueueCore, QueueError, Reconfigured, RejectReason, RingPlan,
};
use crate::error::ServiceError;
use crate::owners::{Change, Claims};
use crate::presence_link::{PresenceLink, Reservation};
use crate::service::{QueueEvent, QueueStats, WaitingCall};

/// An input about one call. Each maps to one core `handle_*` input of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// [`QueueCore::handle_enqueue`]
    Enqueue(Enqueue),
    /// [`QueueCore::handle_abandon`]
    Abandon(CallId),
    /// [`QueueCore::handle_answer`]
    Answered {
        /// The call.
        call: CallId,
        /// The agent who answered.
        agent: AgentId,
    },
    /// [`QueueCore::handle_presenting`]
    Presenting {
        /// The call.
        call: CallId,
        /// The agent who answered and hears who calls.
        agent: AgentId,
    },
    /// [`QueueCore::handle_reject`]
    Rejected {
        /// The call.
        call: CallId,
        /// The agent who did not take it.
        agent: AgentId,
        /// Why.
        reason: RejectReason,
    },
    /// [`QueueCore::handle_call_ended`]
    CallEnded(CallId),
}

/// What presence says about an agent, reduced to what the queue needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Can be offered a call.
    Available,
    /// Busy with this call (reserved, ringing or talking).
    OnCall(CallId),
    /// Offline, paused, in wrap-up or removed.
    Unavailable,
    /// Presence cannot be followed right now (unreachable, or the stream of its news broke):
    /// the last state known is no longer fresh, so the agent is not offered calls until
    /// presence is followed again.
    Unknown,
}

/// The actor's mailbox.
#[derive(Debug)]
pub(crate) enum Msg {
    Apply(Input, RpcReplyPort<Result<(), ServiceError>>),
    /// An enqueue answered with the call's place in line, taken in the same turn.
    Join(Enqueue, RpcReplyPort<Result<WaitingCall, ServiceError>>),
    Waiting(
        DepartmentId,
        RpcReplyPort<Result<Vec<WaitingCall>, ServiceError>>,
    ),
    Position(CallId, RpcReplyPort<Result<WaitingCall, QueueError>>),
    Stats(RpcReplyPort<Vec<QueueStats>>),
    /// Every configured department, in configured order (owned here or not).
    Configured(RpcReplyPort<Vec<DepartmentId>>),
    /// The departments changed ([`QueueCore::handle_configure`]).
    Configure(
        Vec<DepartmentConfig>,
        RpcReplyPort<Result<Reconfigured, QueueError>>,
    ),
    /// Presence news about one agent (from the follower task).
    Presence(AgentId, Seen),
    /// A sip-edge node left the cluster for good (from the edge follower task): its calls
    /// leave the queues ([`QueueCore::handle_edge_gone`]).
    EdgeGone(EdgeNode),
    /// A claim reported an ownership change (applied before every message; this one only
    /// makes sure the actor gets to it).
    Claims,
    /// The timer armed for this deadline fired.
    Timeout(Instant),
}

/// Start-up arguments.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) core: CoreConfig,
    pub(crate) departments: Vec<DepartmentConfig>,
    /// `None`: serve every configured department.
    pub(crate) claims: Option<Claims>,
    pub(crate) presence: PresenceLink,
    pub(crate) events: broadcast::Sender<QueueEvent>,
    pub(crate) reservation_grace: Duration,
    pub(crate) max_reservation: Duration,
}

/// The actor itself is configuration-free; everything mutable is in [`State`].
#[derive(Debug)]
pub(crate) struct QueueActor;

/// A call known to be in a queue: the core answers positions per call but does not list a
/// department's calls, so the actor remembers them.
#[derive(Debug, Clone)]
struct Queued {
    department: DepartmentId,
    priority: Priority,
}

#[derive(Debug)]
pub(crate) struct State {
    core: QueueCore,
    /// The departments configured; the core serves those this node owns (all of them
    /// without `claims`).
    configured: Vec<DepartmentConfig>,
    /// The claims of the configured departments, in ownership mode.
    claims: Option<Claims>,
    queued: HashMap<CallId, Queued>,
    /// Agents this service reserved in presence, and for which call: presence news about
    /// that call is our own doing and must not withdraw the agent from the plan.
    reserved: HashMap<AgentId, CallId>,
    /// Reservations to free once the current input is applied (a rejected offer).
    pending_release: Vec<(AgentId, CallId)>,
    presence: PresenceLink,
    events: broadcast::Sender<QueueEvent>,
    reservation_grace: Duration,
    max_reservation: Duration,
    /// Plan targets whose ring has not started: (start, agent, call, ring time). They are
    /// taken in presence when their ring starts, so a long plan never needs a reservation
    /// longer than one ring, and an agent presence gave away meanwhile leaves the plan then.
    due: Vec<(Instant, AgentId, CallId, Duration)>,
    timer: DeadlineTimer<Msg>,
}

impl Actor for QueueActor {
    type Msg = Msg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(
        &self,
        myself: ActorRef<Msg>,
        args: Args,
    ) -> Result<State, ActorProcessingErr> {
        let mut claims = args.claims;
        // In ownership mode nothing is owned yet: the core starts empty and fills as the
        // claims succeed.
        let served = match claims {
            Some(_) => Vec::new(),
            None => args.departments.clone(),
        };
        let core = QueueCore::new(args.core, served)?;
        if let Some(claims) = &mut claims {
            core.check_departments(&args.departments)?;
            claims.follow(&args.departments, &myself);
        }
        Ok(State {
            core,
            configured: args.departments,
            claims,
            queued: HashMap::new(),
            reserved: HashMap::new(),
            pending_release: Vec::new(),
            presence: args.presence,
            events: args.events,
            reservation_grace: args.reservation_grace,
            max_reservation: args.max_reservation,
            due: Vec::new(),
            timer: DeadlineTimer::default(),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Msg>,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        state.timer.cancel();
        // No more offers from here on: now hand every department over.
        if let Some(claims) = &mut state.claims {
            claims.release_all().await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Msg>,
        msg: Msg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        if state.follow_claims(now()) {
            state.after_input(&myself).await;
        }
        match msg {
            Msg::Apply(input, reply) => {
                let result = state.apply(input, now());
                state.after_input(&myself).await;
                // The caller may have timed out; the change stands either way.
                let _ = reply.send(result);
            }
            Msg::Join(request, reply) => {
                let call = request.call.clone();
                let now = now();
                let result = state
                    .apply(Input::Enqueue(request), now)
                    .and_then(|()| state.waiting_call(&call, now).map_err(ServiceError::from));
                state.after_input(&myself).await;
                let _ = reply.send(result);
            }
            Msg::Waiting(department, reply) => {
                let _ = reply.send(state.waiting(&department, now()));
            }
            Msg::Position(call, reply) => {
                let _ = reply.send(state.waiting_call(&call, now()));
            }
            Msg::Stats(reply) => {
                let _ = reply.send(state.stats(now()));
            }
            Msg::Configured(reply) => {
                let _ = reply.send(state.configured.iter().map(|d| d.id.clone()).collect());
            }
            Msg::Configure(departments, reply) => {
                let result = state.configure(departments, now(), &myself);
                state.after_input(&myself).await;
                let _ = reply.send(result);
            }
            Msg::Presence(agent, seen) => {
                state.follow(&agent, seen, now());
                state.after_input(&myself).await;
            }
            Msg::EdgeGone(edge) => {
                state.edge_gone(&edge, now());
                state.after_input(&myself).await;
            }
            // Applied above, before anything else.
            Msg::Claims => {}
            Msg::Timeout(at) => {
                state.timer.fired(at);
                state.core.handle_timeout(now());
                state.reserve_due(now()).await;
                state.after_input(&myself).await;
            }
        }
        Ok(())
    }
}

impl State {
    /// The departments the core should serve: the configured ones this node owns.
    fn served(&self) -> Vec<DepartmentConfig> {
        self.configured
            .iter()
            .filter(|d| self.claims.as_ref().is_none_or(|c| c.owns(&d.id)))
            .cloned()
            .collect()
    }

    /// New configured departments: checked as a whole, claimed (in ownership mode), and
    /// the owned ones served.
    fn configure(
        &mut self,
        departments: Vec<DepartmentConfig>,
        now: Instant,
        myself: &ActorRef<Msg>,
    ) -> Result<Reconfigured, QueueError> {
        self.core.check_departments(&departments)?;
        if let Some(claims) = &mut self.claims {
            claims.follow(&departments, myself);
        }
        self.configured = departments;
        self.core.handle_configure(now, self.served())
    }

    /// Applies the ownership changes the claims reported, in order; true if any.
    fn follow_claims(&mut self, now: Instant) -> bool {
        let mut changed = false;
        while let Some(change) = self.claims.as_mut().and_then(Claims::next_change) {
            changed = true;
            match change {
                Change::Lost(department) => self.disown(&department, now),
                Change::Owned(department) => {
                    match self.core.handle_configure(now, self.served()) {
                        Ok(_) => {
                            let hold = self
                                .claims
                                .as_ref()
                                .map_or(Duration::ZERO, Claims::takeover_hold);
                            if !hold.is_zero()
                                && let Err(e) = self.core.handle_hold(now, &department, now + hold)
                            {
                                tracing::error!(%department, error = %e, "cannot hold a department just taken");
                            }
                            tracing::info!(%department, ?hold, "queue ownership taken: serving the department")
                        }
                        // Checked when configured; refused only if that check is broken.
                        Err(e) => {
                            tracing::error!(%department, error = %e, "cannot serve an owned department")
                        }
                    }
                }
            }
        }
        changed
    }

    /// This node lost the department: it goes at once with its waiting and offered calls,
    /// which their sip-edge nodes enqueue again at the new owner. Agents reserved for them
    /// are not released in presence: those reservations lapse by themselves.
    fn disown(&mut self, department: &DepartmentId, now: Instant) {
        match self.core.handle_disown(now, department) {
            Ok(calls) => {
                let gone: HashSet<&CallId> = calls.iter().collect();
                self.queued.retain(|call, _| !gone.contains(call));
                self.reserved.retain(|_, call| !gone.contains(call));
                self.due.retain(|(_, _, call, _)| !gone.contains(call));
                self.pending_release
                    .retain(|(_, call)| !gone.contains(call));
                tracing::warn!(
                    %department,
                    calls = calls.len(),
                    "queue ownership lost: department dropped here with its waiting calls"
                );
            }
            // Not served (a configuration took it away meanwhile): nothing to drop.
            Err(e) => tracing::debug!(%department, error = %e, "lost department was not served"),
        }
    }

    /// The sip-edge node `edge` is gone: its queued calls are abandoned (their offers'
    /// agents are released in presence with the core's cancellations, in
    /// [`Self::after_input`]).
    fn edge_gone(&mut self, edge: &EdgeNode, now: Instant) {
        let calls = self.core.handle_edge_gone(now, edge);
        for call in &calls {
            self.queued.remove(call);
        }
        if calls.is_empty() {
            tracing::info!(%edge, "sip-edge node gone; none of its calls waits here");
        } else {
            tracing::warn!(
                %edge,
                calls = calls.len(),
                "sip-edge node gone: its waiting calls leave the queues"
            );
        }
    }

    /// A refusal as callers see it: a department configured but not served here is served
    /// by another queue node.
    fn refusal(&self, e: QueueError) -> ServiceError {
        match e {
            QueueError::UnknownDepartment(department)
                if self.configured.iter().any(|d| d.id == department) =>
            {
                ServiceError::NotOwned(department)
            }
            e => e.into(),
        }
    }

    fn apply(&mut self, input: Input, now: Instant) -> Result<(), ServiceError> {
        self.apply_core(input, now).map_err(|e| self.refusal(e))
    }

    fn apply_core(&mut self, input: Input, now: Instant) -> Result<(), QueueError> {
        let core = &mut self.core;
        match input {
            Input::Enqueue(request) => {
                let queued = Queued {
                    department: request.department.clone(),
                    priority: request.priority,
                };
                let call = request.call.clone();
                core.handle_enqueue(now, request)?;
                self.queued.insert(call, queued);
            }
            Input::Abandon(call) => {
                core.handle_abandon(now, &call)?;
                self.queued.remove(&call);
            }
            Input::Answered { call, agent } => {
                core.handle_answer(now, &call, &agent)?;
                self.queued.remove(&call);
            }
            Input::Presenting { call, agent } => core.handle_presenting(now, &call, &agent)?,
            Input::Rejected {
                call,
                agent,
                reason,
            } => {
                core.handle_reject(now, &call, &agent, reason)?;
                // A rejection emits no CancelOffer (the agent already stopped): free it here.
                self.release_later(agent, call);
            }
            Input::CallEnded(call) => core.handle_call_ended(now, &call)?,
        }
        Ok(())
    }

    /// Presence is the truth about agents: available means offerable; anything else takes
    /// the agent out of plans, except the reservation (and its ringing and talking) that
    /// this service made itself. Losing sight of presence keeps those too: the reservation
    /// protects the agent if presence still has it, and the plan's ring time ends it if not.
    fn follow(&mut self, agent: &AgentId, seen: Seen, now: Instant) {
        match seen {
            Seen::Available => self.core.handle_agent_available(now, agent),
            Seen::OnCall(call) if self.reserved.get(agent) == Some(&call) => {}
            Seen::Unknown if self.reserved.contains_key(agent) => {}
            Seen::OnCall(_) | Seen::Unavailable | Seen::Unknown => {
                self.core.handle_agent_unavailable(now, agent)
            }
        }
    }

    fn waiting(
        &self,
        department: &DepartmentId,
        now: Instant,
    ) -> Result<Vec<WaitingCall>, ServiceError> {
        // Refuses an unknown department rather than answering "nobody waits".
        self.core.waiting(department).map_err(|e| self.refusal(e))?;
        let mut calls = self
            .queued
            .iter()
            .filter(|(_, q)| &q.department == department)
            .filter_map(|(call, _)| self.waiting_call(call, now).ok())
            .collect::<Vec<_>>();
        calls.sort_by_key(|c| c.position);
        Ok(calls)
    }

    /// One queued call's place in line and waits.
    fn waiting_call(&self, call: &CallId, now: Instant) -> Result<WaitingCall, QueueError> {
        let queued = self
            .queued
            .get(call)
            .ok_or_else(|| QueueError::UnknownCall(call.clone()))?;
        Ok(WaitingCall {
            call: call.clone(),
            position: self.core.position(call)?,
            wait: self.core.wait_time(call, now)?,
            expected_wait: self.core.expected_wait(call)?,
            priority: queued.priority,
        })
    }

    fn stats(&self, now: Instant) -> Vec<QueueStats> {
        self.core
            .departments()
            .into_iter()
            .map(|department| {
                let members = self.core.members(&department).unwrap_or_default();
                QueueStats {
                    waiting: self.core.waiting(&department).unwrap_or(0),
                    longest_wait: self
                        .queued
                        .iter()
                        .filter(|(_, q)| q.department == department)
                        .filter_map(|(call, _)| self.core.wait_time(call, now).ok())
                        .max()
                        .unwrap_or(Duration::ZERO),
                    available_agents: members
                        .iter()
                        .filter(|a| self.core.agent(a).is_some_and(|f| f.available))
                        .count(),
                    agents: members.len(),
                    department,
                }
            })
            .collect()
    }

    /// Acts on the core's outputs, then re-arms the timer for its next deadline.
    async fn after_input(&mut self, myself: &ActorRef<Msg>) {
        for (agent, call) in std::mem::take(&mut self.pending_release) {
            self.release(&agent, &call).await;
        }
        while let Some(output) = self.core.poll_output() {
            let event = match output {
                Output::Offer { call, plan } => {
                    self.reserve(&call, &plan).await;
                    QueueEvent::Offer { call, plan }
                }
                Output::PlanChanged { call, plan } => {
                    // The remaining targets were brought forward: their rings start earlier.
                    self.due.retain(|(_, _, c, _)| *c != call);
                    self.reserve(&call, &plan).await;
                    QueueEvent::PlanChanged { call, plan }
                }
                Output::CancelOffer { call, agent } => {
                    self.release(&agent, &call).await;
                    QueueEvent::CancelOffer { call, agent }
                }
                Output::OfferFailed { call } => {
                    let agents: Vec<AgentId> = self
                        .reserved
                        .iter()
                        .filter(|(_, c)| **c == call)
                        .map(|(a, _)| a.clone())
                        .collect();
                    for agent in agents {
                        self.release(&agent, &call).await;
                    }
                    QueueEvent::OfferFailed { call }
                }
                Output::QueueChanged {
                    department,
                    waiting,
                } => QueueEvent::QueueChanged {
                    department,
                    waiting,
                },
                Output::PauseAgent { agent, reason } => {
                    self.pause(&agent, reason).await;
                    continue;
                }
            };
            // No receiver is not an error: no call actor listens right now.
            let _ = self.events.send(event);
        }
        self.rearm(myself);
    }

    fn rearm(&mut self, myself: &ActorRef<Msg>) {
        let due = self.due.iter().map(|(at, ..)| *at).min();
        let next = match (self.core.poll_timeout(), due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.timer.arm(myself, next, Msg::Timeout);
    }

    /// Takes the targets of a (new or changed) plan in presence as their rings start: those
    /// ringing now at once, the others when their turn comes ([`Self::reserve_due`]).
    async fn reserve(&mut self, call: &CallId, plan: &RingPlan) {
        let now = now();
        let mut ready = Vec::new();
        for target in &plan.targets {
            if self.reserved.get(&target.agent) == Some(call) {
                continue;
            }
            let start = plan.created_at.checked_add(target.start).unwrap_or(now);
            let ring = target.stop.saturating_sub(target.start);
            if start <= now {
                ready.push((call.clone(), target.agent.clone(), ring));
            } else {
                self.due
                    .push((start, target.agent.clone(), call.clone(), ring));
            }
        }
        self.reserve_all(ready).await;
    }

    /// Reserves the targets whose ring has started by `now`.
    async fn reserve_due(&mut self, now: Instant) {
        let (ready, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.due)
            .into_iter()
            .partition(|(at, ..)| *at <= now);
        self.due = later;
        let ready = ready
            .into_iter()
            .map(|(_, agent, call, ring)| (call, agent, ring))
            .collect();
        self.reserve_all(ready).await;
    }

    /// Takes each target in presence until its ring time is over plus a grace, so that a
    /// reservation nobody confirms (a crashed edge) frees itself. The requests go out
    /// together (the agents' shards may live on different presence nodes, and one slow
    /// node must not hold up the others); the answers are applied in the plan's order. An
    /// agent presence refuses is out of the plan: presence saw it leave Available first,
    /// and the news of that is still on its way to us.
    async fn reserve_all(&mut self, targets: Vec<(CallId, AgentId, Duration)>) {
        let mut asked = tokio::task::JoinSet::new();
        for (i, (call, agent, ring)) in targets.into_iter().enumerate() {
            let ttl = ring
                .saturating_add(self.reservation_grace)
                .min(self.max_reservation);
            self.reserved.insert(agent.clone(), call.clone());
            let edge = self.core.edge(&call).ok().flatten().cloned();
            let presence = self.presence.clone();
            asked.spawn(async move {
                let answer = presence.reserve(&agent, &call, edge.as_ref(), ttl).await;
                (i, call, agent, answer)
            });
        }
        let mut answers = asked.join_all().await;
        answers.sort_by_key(|(i, ..)| *i);
        for (_, call, agent, answer) in answers {
            match answer {
                Ok(Reservation::Taken) => {}
                Ok(Reservation::Refused(why)) => {
                    tracing::info!(%call, %agent, why, "agent not reservable; withdrawn from the plan");
                    self.reserved.remove(&agent);
                    self.core.handle_agent_unavailable(now(), &agent);
                }
                Err(e) => {
                    // Presence slow or gone: keep the plan; its own ring time ends it. (If
                    // presence is gone, the follower has lost it too and offers no one
                    // until it is back.)
                    tracing::warn!(%call, %agent, error = %e, "cannot reserve agent");
                }
            }
        }
    }

    /// Frees an agent this service reserved for `call`. Presence may have expired the
    /// reservation by itself already, which is fine.
    async fn release(&mut self, agent: &AgentId, call: &CallId) {
        self.due.retain(|(_, a, c, _)| !(a == agent && c == call));
        if self.reserved.get(agent) != Some(call) {
            return;
        }
        self.reserved.remove(agent);
        if let Err(e) = self.presence.release(agent, call).await {
            tracing::debug!(%call, %agent, error = %e, "reservation not released");
        }
    }

    /// [`Self::release`] for an input handler, which does not await: the agent is released
    /// with the other effects of the input in [`Self::after_input`].
    fn release_later(&mut self, agent: AgentId, call: CallId) {
        self.pending_release.push((agent, call));
    }

    async fn pause(&mut self, agent: &AgentId, reason: PauseReason) {
        if let Err(e) = self.presence.pause(agent, reason).await {
            tracing::warn!(%agent, error = %e, "cannot pause agent in presence");
        }
    }
}
