//! Placing a promised callback: the scheduler's leader asks a sip-edge node for one
//! attempt ([`super::DialerApi`]) and this node makes it a call of its own, with no caller's
//! INVITE behind it. The customer's phone is rung through the trunk as an outbound leg.
//!
//! - **Agent first** (a department's default, and always for an employee): the call joins
//!   the department's queue at the caller's original place (virtual hold) or now, like a
//!   caller would; the agent the queue offers is rung, and on answering hears whom they
//!   call back (`callback-agent` and the number), then the customer is dialled and the two
//!   are connected. An employee's callback rings the employee's phones directly.
//! - **Customer first**: the customer is dialled, greeted (`callback-customer`), then
//!   queued first in line, hearing music and their place like any caller.
//!
//! The attempt's outcome goes back once it is known: reached when the customer answers,
//! else no answer, busy, or failed with why (no agent in time, no trunk, the agent hung
//! up...). Withdrawing the attempt (the scheduler cancelled its request) ends the call
//! unless the customer is already on the line.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cc_common::config::{CallbackMode, Config, Route};
use cc_proto::media::internal::v1 as media;
use cc_proto::routing::internal::v1 as routing;
use ractor::{Actor, ActorRef};
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::actor::{CallActor, CallArgs, Phase, Purpose, Side, rpc};
use super::waiting::spoken_digits;
use super::{CallContext, CallEvent, CallInfo, CallMsg, CallState, unix_ms};
use crate::core::CallNo;

/// The queue priority of a customer-first callback: above every caller's (the highest a
/// call from outside gets is 2 x 9 + 1).
pub(super) const FIRST_IN_LINE: u32 = 20;

/// Callbacks are calls this node starts itself: their numbers come from a range the SIP
/// core never hands out (it counts up from 1).
static NEXT_ORIGINATED: AtomicU64 = AtomicU64::new(1 << 62);

/// Who calls the customer back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackTarget {
    Department(String),
    Employee(String),
}

/// One attempt to place, as the scheduler asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub callback_id: String,
    pub attempt: u32,
    /// Digits, with an optional leading `+`.
    pub number: String,
    pub name: String,
    pub reasons: Vec<String>,
    pub target: CallbackTarget,
    /// Virtual hold: the caller's original place in line (0: now).
    pub enqueued_at_unix_ms: u64,
    pub priority: u32,
    /// Longest wait for an agent.
    pub max_wait: Duration,
    /// How long the customer's phone rings.
    pub ring: Duration,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    Reached,
    NoAnswer,
    Busy,
    Failed(String),
}

/// A callback being placed: what was asked, and where the outcome goes.
#[derive(Debug)]
pub struct Placing {
    pub(super) placement: Placement,
    mode: CallbackMode,
    reply: Option<oneshot::Sender<Placed>>,
    /// The customer's leg, once dialled.
    pub(super) customer: Option<usize>,
    /// The customer answered.
    pub(super) reached: bool,
}

/// Why a placement was refused before any call was made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot start the call: {0}")]
    Unavailable(String),
}

/// Checks a placement against the configuration and starts its call; the receiver gets
/// the outcome. `Err` when it names nobody known, or the node cannot start a call.
pub async fn place(
    ctx: &Arc<CallContext>,
    placement: Placement,
) -> Result<(String, ActorRef<CallMsg>, oneshot::Receiver<Placed>), PlaceError> {
    let config = ctx.config();
    let mode = check(&config, &placement)?;
    let no: CallNo = NEXT_ORIGINATED.fetch_add(1, Ordering::Relaxed);
    let id = format!("{}-{no}", ctx.node);
    let args = CallArgs {
        no,
        id: id.clone(),
        ctx: ctx.clone(),
    };
    let (actor, _) = Actor::spawn(None, CallActor, args)
        .await
        .map_err(|e| PlaceError::Unavailable(e.to_string()))?;
    ctx.registry.insert(no, &id, actor.clone());
    let (tx, rx) = oneshot::channel();
    let placing = Placing {
        placement,
        mode,
        reply: Some(tx),
        customer: None,
        reached: false,
    };
    let _ = actor.cast(CallMsg::PlaceCallback(Box::new(placing)));
    Ok((id, actor, rx))
}

fn check(config: &Config, p: &Placement) -> Result<CallbackMode, PlaceError> {
    let digits = p.number.strip_prefix('+').unwrap_or(&p.number);
    if digits.is_empty()
        || digits.len() > cc_common::config::MAX_CALLER_DIGITS
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(PlaceError::Invalid(format!(
            "number: {:?} is not a phone number (digits with an optional leading '+')",
            p.number
        )));
    }
    if config.trunks.is_empty() {
        return Err(PlaceError::Invalid(
            "no trunk is configured to call the customer through".into(),
        ));
    }
    match &p.target {
        CallbackTarget::Department(d) => config
            .department(d)
            .map(|d| d.callback_mode)
            .ok_or_else(|| PlaceError::Invalid(format!("department_id: no department {d:?}"))),
        CallbackTarget::Employee(e) => config
            .employee(e)
            .map(|_| CallbackMode::AgentFirst)
            .ok_or_else(|| PlaceError::Invalid(format!("employee_id: no employee {e:?}"))),
    }
}

/// The number the customer sees: the first of the organisation's numbers that
/// reaches the callback's department or employee, so that calling it back lands there;
/// else the first number of all; else none.
pub(super) fn caller_id(config: &Config, target: &CallbackTarget) -> Option<String> {
    let reaches = |route: &Option<Route>| match (route, target) {
        (Some(Route::Department(d)), CallbackTarget::Department(t)) => d == t,
        (Some(Route::Employee(e)), CallbackTarget::Employee(t)) => e == t,
        _ => false,
    };
    config
        .numbers
        .iter()
        .find(|n| reaches(&n.route))
        .or_else(|| config.numbers.first())
        .map(|n| n.number.clone())
}

impl super::actor::Call {
    /// Starts placing a callback on this (new, empty) call.
    pub(super) async fn start_callback(&mut self, myself: &ActorRef<CallMsg>, placing: Placing) {
        let p = &placing.placement;
        info!(call = %self.id, callback = %p.callback_id, attempt = p.attempt, number = %p.number, target = ?p.target, mode = ?placing.mode, "placing a callback");
        let (department, target_name) = match &p.target {
            CallbackTarget::Department(d) => (Some(d.clone()), d.clone()),
            CallbackTarget::Employee(e) => (None, e.clone()),
        };
        self.ctx.registry.set_info(
            self.no(),
            CallInfo {
                id: self.id.clone(),
                dialed: p.number.clone(),
                caller: format!("callback:{target_name}"),
                state: CallState::Routing,
                department,
                agent: None,
                started_unix_ms: unix_ms(),
                connected_unix_ms: None,
                held_since_unix_ms: None,
            },
        );
        self.emit(CallEvent::Started {
            id: self.id.clone(),
            dialed: p.number.clone(),
            caller: String::new(),
            kind: super::CallKind::Callback,
        });
        self.enter_operation("callback".into());
        let target = p.target.clone();
        let priority = p.priority;
        let mode = placing.mode;
        self.callback = Some(placing);
        match (target, mode) {
            (CallbackTarget::Department(_), CallbackMode::CustomerFirst) => {
                self.dial_customer(myself).await;
            }
            (CallbackTarget::Department(department_id), CallbackMode::AgentFirst) => {
                self.enqueue(
                    myself,
                    routing::Queue {
                        department_id,
                        priority,
                    },
                )
                .await;
            }
            (CallbackTarget::Employee(employee_id), _) => {
                let dial = routing::Dial {
                    employee_id,
                    forward: None,
                    announce: false,
                };
                self.ring_employee(myself, dial).await;
            }
        }
    }

    /// Whether the call places a callback and its agent is still to hear the brief (agent
    /// first: the customer has not been dialled yet).
    pub(super) fn briefs_agent(&self) -> bool {
        self.callback.as_ref().is_some_and(|c| {
            c.customer.is_none()
                && (c.mode == CallbackMode::AgentFirst
                    || matches!(c.placement.target, CallbackTarget::Employee(_)))
        })
    }

    /// Whether leg `i` is the customer's.
    pub(super) fn is_customer_leg(&self, i: usize) -> bool {
        self.callback.as_ref().and_then(|c| c.customer) == Some(i)
    }

    /// Whether the customer's leg is answered (then it takes a BYE, not a CANCEL).
    pub(super) fn customer_on_line(&self, i: usize) -> bool {
        self.is_customer_leg(i) && self.callback.as_ref().is_some_and(|c| c.reached)
    }

    /// When the callback's place in line is (its enqueue time; 0: now).
    pub(super) fn callback_place(&self) -> Option<u64> {
        let c = self.callback.as_ref()?;
        match c.mode {
            CallbackMode::CustomerFirst => Some(0),
            CallbackMode::AgentFirst => Some(c.placement.enqueued_at_unix_ms),
        }
    }

    /// The longest a callback waits in the queue for an agent.
    pub(super) fn callback_max_wait(&self) -> Option<Duration> {
        self.callback.as_ref().map(|c| c.placement.max_wait)
    }

    /// The customer's number, for the queue (last-agent routing) and the agent's display.
    pub(super) fn callback_number(&self) -> Option<&str> {
        self.callback.as_ref().map(|c| c.placement.number.as_str())
    }

    /// The agent took the callback (agent first): they hear whom they call, then the
    /// customer is dialled.
    pub(super) async fn brief_agent(&mut self, myself: &ActorRef<CallMsg>) {
        let (Some((b, _)), Some(c)) = (self.b.clone(), self.callback.as_ref()) else {
            return;
        };
        let mut prompts = vec!["callback-agent".to_owned()];
        prompts.extend(spoken_digits(&c.placement.number));
        info!(call = %self.id, callback = %c.placement.callback_id, name = %c.placement.name, reasons = ?c.placement.reasons, "the agent hears whom they call back");
        let request = media::PlayRequest {
            endpoint_id: b,
            prompts,
            r#loop: false,
            barge_in: false,
        };
        let mut m = self.media_client();
        match rpc(self.timeout(), m.play(request)).await {
            Ok(p) => {
                self.playback = Some((p.playback_id, Purpose::CallbackBrief));
                self.arm_play_deadline(myself, p.playback_id, p.duration_ms);
            }
            Err(e) => {
                warn!(call = %self.id, error = %e, "cannot brief the agent; dialling the customer");
                self.dial_customer(myself).await;
            }
        }
    }

    /// Rings the customer through the trunk, from an endpoint of their own (placed near
    /// the agent's when there is one).
    pub(super) async fn dial_customer(&mut self, myself: &ActorRef<CallMsg>) {
        let Some(p) = self.callback.as_ref().map(|c| c.placement.clone()) else {
            return;
        };
        let config = self.ctx.config();
        let Some(trunk) = config.trunks.first().map(|t| t.target) else {
            return self
                .callback_failed(myself, Placed::Failed("no trunk is configured".into()))
                .await;
        };
        let near = self.b.as_ref().map(|(e, _)| e.clone()).unwrap_or_default();
        let request = media::CreateEndpointRequest {
            remote_offer: String::new(),
            near_endpoint_id: near,
            label: format!("{} customer", self.id),
            webrtc: false,
        };
        let mut m = self.media_client();
        let offer = match rpc(self.timeout(), m.create_endpoint(request)).await {
            Ok(ep) => {
                self.ctx.registry.add_endpoint(&ep.endpoint_id, self.no());
                self.a = Some(ep.endpoint_id);
                self.a_sdp = Some(ep.local_sdp.clone());
                ep.local_sdp
            }
            Err(e) => {
                let why = format!("no media for the customer: {e}");
                return self.callback_failed(myself, Placed::Failed(why)).await;
            }
        };
        let shown = caller_id(&config, &p.target).unwrap_or_else(|| "callback".to_owned());
        info!(call = %self.id, number = %p.number, %trunk, caller_id = %shown, "dialling the customer");
        let i = self.invite_customer(&p.number, trunk, &shown, &offer);
        if let Some(c) = self.callback.as_mut() {
            c.customer = Some(i);
        }
        if self.phase != Phase::Talking {
            self.set_phase(Phase::Dialing);
        }
        let generation = self.next_generation();
        self.arm(
            myself,
            p.ring.as_millis() as u64,
            super::actor::Timer::CustomerGiveUp { generation },
        );
    }

    /// The customer answered: connected to the agent already on the line (agent first),
    /// or greeted and queued first in line (customer first).
    pub(super) async fn customer_answered(
        &mut self,
        myself: &ActorRef<CallMsg>,
        i: usize,
        sdp: Option<String>,
    ) {
        let (Some(a), Some(sdp)) = (self.a.clone(), sdp) else {
            self.hang_up_leg(i);
            let why = Placed::Failed("the customer's answer has no SDP".into());
            return self.callback_failed(myself, why).await;
        };
        let mut m = self.media_client();
        let set = media::SetRemoteDescriptionRequest {
            endpoint_id: a.clone(),
            sdp,
        };
        if let Err(e) = rpc(self.timeout(), m.set_remote_description(set)).await {
            self.hang_up_leg(i);
            let why = Placed::Failed(format!("the customer's answer was refused: {e}"));
            return self.callback_failed(myself, why).await;
        }
        if let Some(c) = self.callback.as_mut() {
            c.reached = true;
        }
        self.settle(Placed::Reached);
        self.generation += 1; // the ring timer is over
        let briefed = self.winner.is_some();
        if briefed {
            let Some((b, _)) = self.b.clone() else { return };
            let bridge = media::BridgeRequest {
                endpoint_id: a,
                other_endpoint_id: b,
            };
            if let Err(e) = rpc(self.timeout(), m.bridge(bridge)).await {
                warn!(call = %self.id, error = %e, "cannot connect the customer to the agent");
                return self
                    .end(myself, Side::Nobody, "cannot connect the callback")
                    .await;
            }
            self.set_phase(Phase::Talking);
            self.ctx
                .registry
                .update(self.no(), |info| info.connected_unix_ms = Some(unix_ms()));
            info!(call = %self.id, "callback: the customer is connected to the agent");
            let agent = self.winner_agent().unwrap_or_default();
            self.record_conversation(&agent).await;
        } else {
            info!(call = %self.id, "callback: the customer answered; greeting them");
            self.set_phase(Phase::Routing);
            self.play(
                myself,
                vec!["callback-customer".into()],
                false,
                Purpose::CallbackGreeting,
            )
            .await;
        }
    }

    /// A customer-first callback's greeting has played: the customer joins the queue
    /// first in line.
    pub(super) async fn queue_customer(&mut self, myself: &ActorRef<CallMsg>) {
        let Some(CallbackTarget::Department(department_id)) =
            self.callback.as_ref().map(|c| c.placement.target.clone())
        else {
            return;
        };
        self.enqueue(
            myself,
            routing::Queue {
                department_id,
                priority: FIRST_IN_LINE,
            },
        )
        .await;
    }

    /// The customer's phone did not answer (a final failure response, or the ring time).
    pub(super) async fn customer_failed(&mut self, myself: &ActorRef<CallMsg>, status: u16) {
        let outcome = match status {
            // Busy, or the customer turned the call down.
            486 | 600 | 603 => Placed::Busy,
            408 | 480 | 487 => Placed::NoAnswer,
            other => Placed::Failed(format!("the trunk answered {other}")),
        };
        info!(call = %self.id, status, ?outcome, "callback: the customer was not reached");
        self.callback_failed(myself, outcome).await;
    }

    /// The attempt failed: the agent (if any) hears so, and the call ends.
    pub(super) async fn callback_failed(&mut self, myself: &ActorRef<CallMsg>, outcome: Placed) {
        let why = match &outcome {
            Placed::Reached => "callback connected",
            Placed::NoAnswer => "callback: no answer",
            Placed::Busy => "callback: customer busy",
            Placed::Failed(_) => "callback failed",
        };
        self.settle(outcome);
        if let (Some(_), Some((b, _))) = (self.winner, self.b.clone())
            && self.phase != Phase::Ending
        {
            let request = media::PlayRequest {
                endpoint_id: b,
                prompts: vec!["callback-not-reached".into()],
                r#loop: false,
                barge_in: false,
            };
            let mut m = self.media_client();
            if let Ok(p) = rpc(self.timeout(), m.play(request)).await {
                self.farewell = why;
                self.playback = Some((p.playback_id, Purpose::Goodbye));
                self.arm_play_deadline(myself, p.playback_id, p.duration_ms);
                return;
            }
        }
        self.end(myself, Side::Nobody, why).await;
    }

    /// The scheduler no longer waits for this attempt: stop it, unless the customer is on
    /// the line.
    pub(super) async fn callback_withdrawn(&mut self, myself: &ActorRef<CallMsg>) {
        let reached = self.callback.as_ref().is_some_and(|c| c.reached);
        if let Some(c) = self.callback.as_mut() {
            c.reply = None;
        }
        if !reached {
            info!(call = %self.id, "the callback attempt was withdrawn");
            self.end(myself, Side::Nobody, "callback withdrawn").await;
        }
    }

    /// Sends the attempt's outcome (once).
    pub(super) fn settle(&mut self, outcome: Placed) {
        if let Some(reply) = self.callback.as_mut().and_then(|c| c.reply.take()) {
            info!(call = %self.id, ?outcome, "callback attempt settled");
            let _ = reply.send(outcome);
        }
    }
}
