//! The call actor: owns one call from the caller's INVITE to the last BYE. It answers the
//! caller, plays what routing says (prompts, menus: see [`super::menu`]), queues the call,
//! rings the agents of the queue's plans (or an employee's phones, then their mobile, or an
//! outside number), connects the first to answer and cancels the rest, and on any end
//! (CANCEL, BYE from either side, failure) releases everything it took: legs, media
//! endpoints, the queue entry and the agent.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use cc_proto::media::internal::v1 as media;
use cc_proto::media::internal::v1::media_control_client::MediaControlClient;
use cc_proto::presence::internal::v1 as presence;
use cc_proto::queue::internal::v1 as queue;
use cc_proto::queue::internal::v1::queue_control_client::QueueControlClient;
use cc_proto::routing::internal::v1 as routing;
use cc_sip::dialog::Dialog;
use cc_sip::transaction::{TxHandle, cancel_for};
use cc_sip::{Message, Method, Request, Response};
use media::media_event::Event as MediaEv;
use queue::offer_event::Event as OfferEv;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use routing::decide_request::Outcome;
use routing::decide_response::Step;
use tonic::transport::Channel;
use tracing::{debug, info, warn};

use super::announce::Announced;
use super::callback::Placed;
use super::outbox::Outbox;
use super::sip::{self, OutboundInvite};
use super::transfer::{self, Goal, ReferSubscription, Refusal};
use super::{CallContext, CallEvent, CallInfo, CallKind, CallState, TransferError, unix_ms};
use crate::shards::agents_in_shards;

/// Queues a notification to another service in the call's outbox (ordered, retried, not
/// awaited): `notify!(self, "what", client_field, method, request)`. A presence request goes
/// to the owner of the shard of the agent it names (its `agent_id`).
macro_rules! notify {
    ($call:expr, $what:expr, queue, $method:ident, $request:expr) => {
        notify!(@ $call, $what, $call.queue_client(), $method, $request)
    };
    ($call:expr, $what:expr, presence, $method:ident, $request:expr) => {{
        let about_agent = $request;
        let client = $call.ctx.services.presence_for(&about_agent.agent_id);
        notify!(@ $call, $what, client, $method, about_agent)
    }};
    ($call:expr, $what:expr, media, $method:ident, $request:expr) => {
        notify!(@ $call, $what, $call.media_client(), $method, $request)
    };
    (@ $call:expr, $what:expr, $client:expr, $method:ident, $request:expr) => {{
        let client = $client;
        let request = $request;
        $call.outbox.push(
            $what,
            Box::new(move || {
                let mut client = client.clone();
                let request = request.clone();
                Box::pin(async move { client.$method(request).await.map(|_| ()) })
            }),
        );
    }};
}
use crate::core::{CallNo, DeviceContact, FromCall, ToCall};
use crate::transport::Peer;

/// What a call actor is told.
#[derive(Debug)]
pub enum CallMsg {
    Sip(ToCall),
    Media(media::MediaEvent),
    Offer(queue::OfferEvent),
    /// The department's queue has a new owner: join it again, keeping the place in line.
    Requeue,
    /// These presence shards have a new owner, which knows nothing of this call: tell it
    /// which of its agents are in it (talking or ringing), so none of them is offered a
    /// second call.
    PresenceMoved(Arc<BTreeSet<u32>>),
    Timer(Timer),
    /// End the call now (API hang-up, node shutdown).
    Hangup,
    /// Blind transfer of the connected call to an extension or outside number.
    Transfer {
        target: String,
        /// The target (an employee) hears who calls and accepts first (R-50).
        announced: bool,
        reply: ractor::RpcReplyPort<Result<(), TransferError>>,
    },
    /// An agent puts the connected call into a scenario by hand (R-60 "by option").
    RunScenario {
        scenario: String,
        /// The agent who does; none: the one connected.
        by: Option<String>,
        reply: ractor::RpcReplyPort<Result<(), TransferError>>,
    },
    /// The presented employee accepts or declines the announced call (R-31).
    AnswerAnnouncement {
        accept: bool,
        reply: ractor::RpcReplyPort<Result<(), super::AnnouncementError>>,
    },
    /// Another call's attended transfer replaces this call's caller dialog: hand it the
    /// connected leg, then end (R-50).
    HandOver(
        Box<super::attended::HandOverAsk>,
        ractor::RpcReplyPort<Result<Box<super::attended::Handed>, TransferError>>,
    ),
    /// The Calls API holds (`on`) or resumes the connected call (R-23).
    Hold {
        on: bool,
        reply: ractor::RpcReplyPort<Result<(), super::HoldError>>,
    },
    /// Place a promised callback (R-42): the first message of a call this node starts.
    PlaceCallback(Box<super::callback::Placing>),
    /// The scheduler no longer waits for the callback's outcome.
    CallbackWithdrawn,
}

/// The actor's own timers; a generation tells a stale one from the current.
#[derive(Debug, Clone)]
pub enum Timer {
    RingStart {
        agent: String,
        generation: u64,
    },
    RingStop {
        agent: String,
        generation: u64,
    },
    Forward {
        generation: u64,
    },
    DialGiveUp {
        generation: u64,
    },
    Position,
    Resend2xx {
        attempt: u32,
    },
    Linger,
    /// A playback should have ended by now (its PlayDone may have been lost).
    PlayDeadline {
        playback: u64,
    },
    /// A menu's keys should have been collected by now (its CollectDone may have been lost).
    MenuDeadline {
        collection: u64,
    },
    /// The longest message has been recorded.
    MessageDeadline,
    /// The busy choices' key should have been collected by now.
    BusyDeadline {
        collection: u64,
    },
    /// A caller waiting for a busy employee has waited: ring again.
    BusyRetry,
    /// An announcement's key collection should have ended by now (the caller's recording
    /// or the callee's choice).
    AnnounceDeadline {
        collection: Option<u64>,
    },
    /// The call has waited `max_wait_seconds` in the queue it joined at `generation`.
    MaxWait {
        generation: u64,
    },
    /// Try joining the department's queue again (its owner was unreachable or moving).
    Requeue,
    /// A callback's customer has rung long enough.
    CustomerGiveUp {
        generation: u64,
    },
}

pub struct CallActor;

pub struct CallArgs {
    pub no: CallNo,
    pub id: String,
    pub ctx: Arc<CallContext>,
}

impl Actor for CallActor {
    type Msg = CallMsg;
    type State = Call;
    type Arguments = CallArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<CallMsg>,
        args: CallArgs,
    ) -> Result<Call, ActorProcessingErr> {
        Ok(Call::new(args))
    }

    /// However the actor stops (a panic included), the core forgets the call's legs.
    async fn post_stop(
        &self,
        _myself: ActorRef<CallMsg>,
        call: &mut Call,
    ) -> Result<(), ActorProcessingErr> {
        if call.ctx.registry.actor(call.no).is_some() {
            warn!(call = %call.id, "call actor stopped before the call ended");
            call.ctx.registry.remove(call.no);
            call.send(FromCall::Ended { call: call.no });
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<CallMsg>,
        msg: CallMsg,
        call: &mut Call,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CallMsg::Sip(event) => call.on_sip(&myself, event).await,
            CallMsg::Media(event) => call.on_media(&myself, event).await,
            CallMsg::Offer(event) => call.on_offer(&myself, event).await,
            CallMsg::Requeue => call.requeue(&myself).await,
            CallMsg::PresenceMoved(shards) => call.report_to_new_presence(&shards),
            CallMsg::Timer(timer) => call.on_timer(&myself, timer).await,
            CallMsg::Hangup => call.end(&myself, Side::Nobody, "hung up by the API").await,
            CallMsg::Transfer {
                target,
                announced,
                reply,
            } => {
                let result = call.transfer(&myself, target, None, announced).await;
                let _ = reply.send(result);
            }
            CallMsg::RunScenario {
                scenario,
                by,
                reply,
            } => {
                let result = call.run_scenario(&myself, scenario, by).await;
                let _ = reply.send(result);
            }
            CallMsg::AnswerAnnouncement { accept, reply } => {
                let result = call.answer_announcement(&myself, accept).await;
                let _ = reply.send(result);
            }
            CallMsg::HandOver(ask, reply) => {
                let handed = call.hand_over(*ask).await;
                let given = handed.is_ok();
                let _ = reply.send(handed.map(Box::new));
                if given {
                    call.end(&myself, Side::Nobody, "replaced by an attended transfer")
                        .await;
                }
            }
            CallMsg::Hold { on, reply } => {
                let result = call.api_hold(on).await;
                let _ = reply.send(result);
            }
            CallMsg::PlaceCallback(placing) => call.start_callback(&myself, *placing).await,
            CallMsg::CallbackWithdrawn => call.callback_withdrawn(&myself).await,
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Routing,
    Queued,
    Dialing,
    Talking,
    Ending,
}

/// How a call turned away by screening ends.
const SCREENED: &str = "rejected by screening";
/// How a call ends whose caller hangs up while it waits in a queue (ringing agents
/// included): abandoned, whatever the SIP way of hanging up (CANCEL or BYE).
const ABANDONED: &str = "abandoned in queue";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// A greeting or a scenario's prompt: routing is asked again when it ends.
    Greeting,
    /// A menu's prompt: a key stops it; its collection, not its end, moves the call on.
    Menu,
    Music,
    Position,
    Goodbye,
    /// The invitation to leave a message: the recording starts when it ends.
    MessageIntro,
    /// The question who is calling (R-31): the recording starts when it ends.
    AnnounceIntro,
    /// A callback's agent hears whom they call (R-42): the customer is dialled when it
    /// ends.
    CallbackBrief,
    /// A customer-first callback's greeting: the customer is queued when it ends.
    CallbackGreeting,
}

/// Who ended the call (that side needs no BYE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Caller,
    Leg(usize),
    Nobody,
}

#[derive(Debug)]
struct Caller {
    tx: TxHandle,
    invite: Request,
    peer: Peer,
    tag: String,
    extension: Option<String>,
    final_sent: bool,
    cancelled: bool,
    dialog: Option<Dialog>,
    /// Our 2xx, retransmitted over UDP until the ACK.
    ok: Option<Response>,
    acked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum LegKind {
    /// An agent rung for the queue's plan.
    Queue(String),
    /// An employee's phone on a direct call.
    Direct(String),
    /// An outside number through a trunk (an employee's mobile, a transfer target).
    Trunk,
    /// The customer of a callback, through the trunk (R-42).
    Customer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancel {
    No,
    /// Wanted, but no provisional response yet (RFC 3261 9.1: wait for one).
    Wanted,
    Sent,
}

#[derive(Debug)]
pub(super) struct Leg {
    pub(super) kind: LegKind,
    call_id: String,
    invite: Request,
    dest: Peer,
    provisional: bool,
    cancel: Cancel,
    dialog: Option<Dialog>,
    /// The INVITE has its final response (or timed out).
    done: bool,
    status: Option<u16>,
    bye_received: bool,
}

impl Leg {
    fn pending(&self) -> bool {
        !self.done
    }

    /// Moves the leg's state out for another call to carry on (an attended transfer),
    /// leaving a leg that is over and needs nothing more: no BYE, no CANCEL.
    pub(super) fn hand_over(&mut self) -> Leg {
        let handed = Leg {
            kind: self.kind.clone(),
            call_id: self.call_id.clone(),
            invite: self.invite.clone(),
            dest: self.dest,
            provisional: self.provisional,
            cancel: self.cancel,
            dialog: self.dialog.take(),
            done: self.done,
            status: self.status,
            bye_received: self.bye_received,
        };
        self.done = true;
        self.bye_received = true;
        handed
    }

    /// The SIP Call-ID of the leg.
    pub(super) fn call_id(&self) -> &str {
        &self.call_id
    }
}

#[derive(Debug)]
struct Target {
    started: bool,
    start_generation: u64,
    stop_generation: u64,
}

#[derive(Debug)]
struct DialState {
    forward: Option<routing::Forward>,
    forwarded: bool,
    ringing_sent: bool,
    /// The employee dial routing asked for (none for outside numbers).
    request: Option<routing::Dial>,
}

/// The state of one call.
pub struct Call {
    no: CallNo,
    pub(super) id: String,
    /// How many events the call raised.
    emitted: std::cell::Cell<u64>,
    pub(super) ctx: Arc<CallContext>,
    outbox: Outbox,
    pub(super) phase: Phase,
    caller: Option<Caller>,
    /// The caller's media endpoint and our SDP for it (a callback's customer's endpoint
    /// and our offer to them).
    pub(super) a: Option<String>,
    pub(super) a_sdp: Option<String>,
    /// A 183 with our SDP went to the caller.
    early_sent: bool,
    /// The endpoint facing agents, and its SDP offer.
    pub(super) b: Option<(String, String)>,
    legs: Vec<Leg>,
    facts: routing::Facts,
    /// The scenario the call walks now (the last one routing said), if any.
    scenario: Option<String>,
    /// The scenario an agent put the call into, for routing to start with its next step.
    start_scenario: Option<String>,
    /// Where the call is in its scenario: routing's cursor, sent back with the next
    /// request (empty outside scenarios).
    cursor: String,
    /// How the last step ended, for the next request.
    pub(super) outcome: Option<routing::decide_request::Outcome>,
    /// Why the call ends when its goodbye prompt has played ("rejected by screening" once
    /// an employee's screening turned it away, R-30; "callback requested", R-20).
    pub(super) farewell: &'static str,
    /// The digit collection of a waiting caller's choices (R-20) under way.
    pub(super) choices: Option<u64>,
    /// The message being taken (R-40).
    pub(super) message: Option<super::message::Taking>,
    /// A busy employee's caller choosing or waiting (R-22).
    pub(super) busy: Option<super::busy::Busy>,
    /// The announced dial under way (R-31).
    pub(super) announcing: Option<super::announce::Announcing>,
    /// The recording of the caller announcing themselves, once made (asked once a call).
    pub(super) announcement: Option<String>,
    /// The recording of the conversation (R-62), once started.
    pub(super) conversation_recording: Option<String>,
    /// The scenario operation the call is in (reports time and group calls by it).
    pub(super) operation: Option<String>,
    /// The menu's digit collection under way.
    pub(super) menu: Option<u64>,
    pub(super) playback: Option<(u64, Purpose)>,
    /// The queue the call is (or was) in.
    pub(super) queued: Option<Queued>,
    /// The media node holding the call's endpoints (picked with the first one).
    media: Option<MediaControlClient<Channel>>,
    /// Its address.
    media_node: String,
    /// Tries to join the queue that failed in a row (for the retry's back-off).
    requeue_failures: u32,
    /// Other sip-edge nodes this call rings phones through.
    edge_legs: std::collections::HashSet<std::net::SocketAddr>,
    targets: HashMap<String, Target>,
    dial: Option<DialState>,
    pub(super) winner: Option<usize>,
    pub(super) generation: u64,
    /// The generation of the current stay in a queue (for its maximum wait).
    queue_generation: u64,
    lingering: bool,
    /// The callback this call places (R-42); such a call has no caller.
    pub(super) callback: Option<super::callback::Placing>,
    /// The callback the call is owed if nobody takes it (R-43).
    pub(super) lost: Option<super::lost::Lost>,
    /// Who holds the connected call (R-23).
    pub(super) hold: super::hold::Hold,
}

/// Marks an INVITE one sip-edge node sends another to ring the phones registered there
/// (its value: the call id at the sending node); such a call is never sent on again.
const EDGE_LEG_HEADER: &str = "X-CC-Edge-Leg";

/// How long the other sip-edge nodes have to say which of them has a phone registered.
const REMOTE_DEVICES_TIMEOUT: Duration = Duration::from_millis(500);

/// The queue the call joined.
#[derive(Debug, Clone)]
pub(super) struct Queued {
    pub(super) department: String,
    /// The agent's wrap-up after the call.
    wrap_up: u32,
    pub(super) priority: u32,
    /// When it first joined (its place in line wherever the queue moves).
    pub(super) enqueued_at_unix_ms: u64,
}

/// How soon a call whose queue is out of reach tries again: soon at first (a new owner may
/// be a few milliseconds from serving the department it has just taken: its key is seen
/// before it acts on it), then less often, up to once a second.
const REQUEUE_FIRST_RETRY_MS: u64 = 50;
const REQUEUE_LAST_RETRY_MS: u64 = 1000;

/// Whether an enqueue failed because the department's queue is between owners or out of
/// reach for a moment (as opposed to refused).
fn moving(e: &tonic::Status) -> bool {
    matches!(
        e.code(),
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
    )
}

pub(super) async fn rpc<T>(
    timeout: Duration,
    fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, tonic::Status> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r.map(tonic::Response::into_inner),
        Err(_) => Err(tonic::Status::deadline_exceeded("no answer in time")),
    }
}

fn random_token() -> String {
    format!("{:x}", rand::random::<u64>())
}

impl Call {
    fn new(args: CallArgs) -> Self {
        Call {
            no: args.no,
            outbox: Outbox::start(args.id.clone(), args.ctx.timings.rpc_timeout),
            id: args.id,
            emitted: std::cell::Cell::new(0),
            ctx: args.ctx,
            phase: Phase::Routing,
            caller: None,
            a: None,
            a_sdp: None,
            early_sent: false,
            b: None,
            legs: Vec::new(),
            facts: routing::Facts::default(),
            scenario: None,
            start_scenario: None,
            cursor: String::new(),
            outcome: None,
            farewell: "said goodbye",
            choices: None,
            message: None,
            announcing: None,
            announcement: None,
            conversation_recording: None,
            operation: None,
            busy: None,
            menu: None,
            playback: None,
            queued: None,
            media: None,
            media_node: String::new(),
            requeue_failures: 0,
            edge_legs: Default::default(),
            targets: HashMap::new(),
            dial: None,
            winner: None,
            generation: 0,
            queue_generation: 0,
            lingering: false,
            callback: None,
            lost: None,
            hold: super::hold::Hold::default(),
        }
    }

    pub(super) fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
        let state = match phase {
            Phase::Routing => CallState::Routing,
            Phase::Queued => CallState::Queued,
            Phase::Dialing => CallState::Dialing,
            Phase::Talking => CallState::Talking,
            Phase::Ending => CallState::Ending,
        };
        self.ctx.registry.update(self.no, |i| i.state = state);
    }

    /// Raises a call event, numbered after the call's earlier ones.
    pub(super) fn emit(&self, event: CallEvent) {
        let call_seq = self.emitted.get() + 1;
        self.emitted.set(call_seq);
        let _ = self
            .ctx
            .events
            .send(super::NumberedEvent { call_seq, event });
    }

    fn send(&self, command: FromCall) {
        let _ = self.ctx.core.send(command);
    }

    /// Notes the scenario routing's step comes from (empty: none), raising an event when
    /// the call enters one it was not in.
    fn enter_scenario(&mut self, scenario: String) {
        if scenario.is_empty() {
            self.scenario = None;
            return;
        }
        if self.scenario.as_deref() == Some(scenario.as_str()) {
            return;
        }
        info!(call = %self.id, %scenario, "scenario entered");
        self.emit(CallEvent::Scenario {
            id: self.id.clone(),
            scenario: scenario.clone(),
            by: None,
        });
        self.scenario = Some(scenario);
    }

    /// The agent or employee on the leg that answered, if it is one.
    pub(super) fn winner_agent(&self) -> Option<String> {
        match &self.legs.get(self.winner?)?.kind {
            LegKind::Queue(agent) | LegKind::Direct(agent) => Some(agent.clone()),
            LegKind::Trunk | LegKind::Customer => None,
        }
    }

    /// The call enters a scenario operation, leaving the one it was in.
    pub(super) fn enter_operation(&mut self, operation: String) {
        self.leave_operation();
        self.emit(CallEvent::Operation {
            id: self.id.clone(),
            operation: operation.clone(),
        });
        self.operation = Some(operation);
    }

    /// The call leaves the operation it is in, if any.
    pub(super) fn leave_operation(&mut self) {
        if let Some(operation) = self.operation.take() {
            self.emit(CallEvent::OperationLeft {
                id: self.id.clone(),
                operation,
            });
        }
    }

    /// Whether the call walks no scenario (routing gave no cursor).
    pub(super) fn cursor_is_empty(&self) -> bool {
        self.cursor.is_empty()
    }

    pub(super) fn timeout(&self) -> Duration {
        self.ctx.timings.rpc_timeout
    }

    pub(super) fn no(&self) -> CallNo {
        self.no
    }

    pub(super) fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    // ----- SIP events -----

    async fn on_sip(&mut self, myself: &ActorRef<CallMsg>, event: ToCall) {
        match event {
            ToCall::New {
                tx,
                request,
                peer,
                caller_extension,
            } => {
                info!(call = %self.id, dialed = request.uri.user().unwrap_or(""), from = %peer.addr(), "new call");
                if let Some(sip_call_id) = request.headers.call_id() {
                    self.ctx.registry.add_caller(sip_call_id, self.no);
                }
                let dialed = request.uri.user().unwrap_or_default().to_owned();
                let caller = request
                    .headers
                    .from()
                    .and_then(|f| f.uri.user())
                    .unwrap_or_default()
                    .to_owned();
                self.ctx.registry.set_info(
                    self.no,
                    CallInfo {
                        id: self.id.clone(),
                        dialed: dialed.clone(),
                        caller: caller.clone(),
                        state: CallState::Routing,
                        department: None,
                        agent: None,
                        started_unix_ms: unix_ms(),
                        connected_unix_ms: None,
                        held_since_unix_ms: None,
                    },
                );
                let kind = if request.headers.other(EDGE_LEG_HEADER).is_some() {
                    CallKind::Relay
                } else if caller_extension.is_some() {
                    CallKind::Internal
                } else {
                    CallKind::Inbound
                };
                self.emit(CallEvent::Started {
                    id: self.id.clone(),
                    dialed,
                    caller,
                    kind,
                });
                self.caller = Some(Caller {
                    tx,
                    invite: request,
                    peer,
                    tag: random_token(),
                    extension: caller_extension,
                    final_sent: false,
                    cancelled: false,
                    dialog: None,
                    ok: None,
                    acked: false,
                });
                self.decide(myself).await;
            }
            ToCall::Request { tx, request, peer } => {
                self.on_request(myself, tx, request, peer).await
            }
            ToCall::Ack { request } => {
                if let Some(c) = self.caller.as_mut()
                    && request.headers.call_id() == c.invite.headers.call_id()
                {
                    c.acked = true;
                }
            }
            ToCall::Cancelled { invite } => {
                if let Some(c) = self.caller.as_mut()
                    && c.tx == invite
                    && !c.final_sent
                {
                    c.cancelled = true;
                    self.respond_caller(487, None);
                    self.end(myself, Side::Caller, "caller cancelled").await;
                }
            }
            ToCall::Response { response } => self.on_response(myself, response).await,
            ToCall::Timeout { call_id, method } => {
                if method == Method::Invite
                    && let Some(i) = self.leg_index(&call_id)
                    && self.legs[i].pending()
                {
                    self.leg_failed(myself, i, 408).await;
                }
            }
        }
    }

    fn leg_index(&self, call_id: &str) -> Option<usize> {
        self.legs.iter().position(|l| l.call_id == call_id)
    }

    async fn on_request(
        &mut self,
        myself: &ActorRef<CallMsg>,
        tx: TxHandle,
        request: Request,
        peer: Peer,
    ) {
        let call_id = request.headers.call_id().unwrap_or_default().to_owned();
        let local = self.ctx.local.clone();
        let is_caller = self
            .caller
            .as_ref()
            .is_some_and(|c| c.invite.headers.call_id() == Some(call_id.as_str()));
        let (dialog, side, endpoint) = if is_caller {
            let c = self.caller.as_mut().expect("checked above");
            (c.dialog.as_mut(), Side::Caller, self.a.clone())
        } else if let Some(i) = self.leg_index(&call_id) {
            // A callback's customer has an endpoint of their own (`a`); every other leg
            // shares the callee's (`b`).
            let endpoint = if self.is_customer_leg(i) {
                self.a.clone()
            } else {
                self.b.as_ref().map(|(e, _)| e.clone())
            };
            (self.legs[i].dialog.as_mut(), Side::Leg(i), endpoint)
        } else {
            (None, Side::Nobody, None)
        };
        let Some(dialog) = dialog else {
            let r = sip::response(&request, 481, "x", &local, peer, None);
            return self.send(FromCall::Respond { tx, response: r });
        };
        let tag = dialog.local_uri().tag().unwrap_or_default().to_owned();
        if let Some(status) = dialog.handle_request(&request).reject_status() {
            // A BYE crossing ours (a phone hanging up after a transfer's final NOTIFY, as
            // we do) ends the dialog either way: it is answered 200, not 481.
            let status = if sip::crossed_bye(dialog, &request) {
                200
            } else {
                status
            };
            let r = sip::response(&request, status, &tag, &local, peer, None);
            return self.send(FromCall::Respond { tx, response: r });
        }
        match request.method {
            Method::Bye => {
                let r = sip::response(&request, 200, &tag, &local, peer, None);
                self.send(FromCall::Respond { tx, response: r });
                match side {
                    Side::Caller => self.end(myself, Side::Caller, "caller hung up").await,
                    Side::Leg(i) => {
                        self.legs[i].bye_received = true;
                        if self.winner == Some(i) {
                            self.end(myself, side, "agent hung up").await;
                        } else if self.customer_on_line(i) {
                            self.end(myself, side, "customer hung up").await;
                        } else if self.presented_leg() == Some(i) {
                            info!(call = %self.id, "the callee hung up on the announcement");
                            self.decline_announced(myself, i, false).await;
                        }
                    }
                    Side::Nobody => {}
                }
            }
            Method::Invite => {
                // Hold, resume or a session refresh: the media node answers the new offer.
                let answer = match (endpoint, sip::sdp_of(&request.headers, &request.body)) {
                    (Some(endpoint), Some(sdp)) => {
                        let mut m = self.media_client();
                        let req = media::SetRemoteDescriptionRequest {
                            endpoint_id: endpoint,
                            sdp,
                        };
                        rpc(self.timeout(), m.set_remote_description(req)).await
                    }
                    _ => Err(tonic::Status::invalid_argument("no SDP offer")),
                };
                let (r, receives) = match answer {
                    Ok(a) if !a.local_sdp.is_empty() => {
                        // Our answer sends when the phone receives: it holds when not.
                        let receives = a.negotiated.as_ref().is_none_or(|n| {
                            matches!(n.direction.as_str(), "sendrecv" | "sendonly")
                        });
                        let r =
                            sip::response(&request, 200, &tag, &local, peer, Some(&a.local_sdp));
                        (r, Some(receives))
                    }
                    Ok(_) | Err(_) => {
                        (sip::response(&request, 488, &tag, &local, peer, None), None)
                    }
                };
                self.send(FromCall::Respond { tx, response: r });
                if let Some(receives) = receives {
                    self.phone_hold(side, receives).await;
                }
            }
            Method::Refer => self.on_refer(myself, tx, &request, peer, side, &tag).await,
            _ => {
                let r = sip::response(&request, 405, &tag, &local, peer, None);
                self.send(FromCall::Respond { tx, response: r });
            }
        }
    }

    async fn on_response(&mut self, myself: &ActorRef<CallMsg>, response: Response) {
        let Some(i) = response.headers.call_id().and_then(|id| self.leg_index(id)) else {
            return;
        };
        if response.headers.cseq().map(|c| &c.method) != Some(&Method::Invite) {
            return;
        }
        match response.status {
            100..=199 => self.leg_provisional(i, &response),
            200..=299 => self.leg_answered(myself, i, response).await,
            status => {
                if self.legs[i].pending() {
                    self.leg_failed(myself, i, status).await;
                }
            }
        }
    }

    // ----- routing -----

    pub(super) async fn decide(&mut self, myself: &ActorRef<CallMsg>) {
        let Some(caller) = &self.caller else { return };
        if self.is_edge_leg() {
            // Another edge rings an employee's phones registered here (a queue's offer or
            // a direct call): ring the devices, nothing else; the other edge decided, and
            // hears how the ringing ended.
            let status = match routing::DialOutcome::try_from(self.facts.dial_outcome) {
                Ok(routing::DialOutcome::Busy) => Some(486),
                Ok(routing::DialOutcome::NoAnswer | routing::DialOutcome::Declined) => Some(480),
                Ok(routing::DialOutcome::Unreachable) => Some(404),
                Ok(routing::DialOutcome::Unspecified) | Err(_) => None,
            };
            if let Some(status) = status {
                self.respond_caller(status, None);
                return self.end(myself, Side::Nobody, "the phones were rung").await;
            }
            let dialed = caller.invite.uri.user().unwrap_or_default();
            let employee = self
                .ctx
                .config()
                .employee_by_extension(dialed)
                .map(|e| e.id.to_string());
            let Some(employee_id) = employee else {
                self.respond_caller(404, None);
                return self.end(myself, Side::Nobody, "no such extension").await;
            };
            let dial = routing::Dial {
                employee_id,
                forward: None,
                announce: false,
            };
            return self.dial(myself, dial).await;
        }
        let request = routing::DecideRequest {
            dialed: caller.invite.uri.user().unwrap_or_default().to_owned(),
            caller_extension: caller.extension.clone().unwrap_or_default(),
            facts: Some(self.facts),
            cursor: self.cursor.clone(),
            outcome: self.outcome.take(),
            start_scenario: self.start_scenario.take().unwrap_or_default(),
            caller_number: match caller.extension {
                Some(_) => String::new(),
                None => sip::caller_number(&caller.invite)
                    .unwrap_or_default()
                    .to_owned(),
            },
        };
        let mut r = self.ctx.services.routing.clone();
        let (step, operation) = match rpc(self.timeout(), r.decide(request)).await {
            Ok(response) => {
                self.note_lost(response.step.as_ref(), !response.screened_by.is_empty());
                self.cursor = response.cursor;
                // Each decision says afresh how a goodbye that follows it ends the call.
                self.farewell = "said goodbye";
                if !response.screened_by.is_empty() {
                    info!(call = %self.id, employee = %response.screened_by, "turned away by screening");
                    self.farewell = SCREENED;
                    self.emit(CallEvent::Screened {
                        id: self.id.clone(),
                        employee: response.screened_by,
                    });
                }
                // The operation is left before another scenario is entered.
                if self.scenario.as_deref() != Some(response.scenario_id.as_str()) {
                    self.leave_operation();
                }
                self.enter_scenario(response.scenario_id);
                (response.step, response.operation_id)
            }
            Err(e) => {
                warn!(call = %self.id, error = %e, "routing unavailable");
                self.respond_caller(503, None);
                return self.end(myself, Side::Nobody, "routing unavailable").await;
            }
        };
        debug!(call = %self.id, ?step, %operation, "routing step");
        if operation.is_empty() {
            self.leave_operation();
        } else {
            info!(call = %self.id, %operation, "scenario operation");
            self.enter_operation(operation.clone());
        }
        match step {
            Some(Step::Play(p)) => {
                if self.early_media(myself).await {
                    self.play(myself, vec![p.prompt], false, Purpose::Greeting)
                        .await;
                }
            }
            Some(Step::Menu(m)) => self.menu(myself, m).await,
            Some(Step::Queue(q)) => self.enqueue(myself, q).await,
            Some(Step::Dial(d)) => self.dial(myself, d).await,
            Some(Step::Transfer(t)) => self.transfer_out(myself, t).await,
            Some(Step::TakeMessage(m)) => self.take_message(myself, m).await,
            Some(Step::OfferCallback(c)) => self.offer_callback(myself, c).await,
            Some(Step::Hangup(h)) if !h.prompt.is_empty() => {
                if self.early_media(myself).await {
                    self.play(myself, vec![h.prompt], false, Purpose::Goodbye)
                        .await;
                }
            }
            Some(Step::Hangup(_)) => {
                self.respond_caller(480, None);
                let why = match self.farewell {
                    SCREENED => SCREENED,
                    _ => "nobody to take the call",
                };
                self.end(myself, Side::Nobody, why).await;
            }
            Some(Step::NotFound(_)) | None => {
                self.respond_caller(404, None);
                self.end(myself, Side::Nobody, "nothing configured").await;
            }
        }
    }

    // ----- the caller's leg -----

    /// A final (or provisional) response to the caller's INVITE, once.
    fn respond_caller(&mut self, status: u16, sdp: Option<&str>) {
        let local = self.ctx.local.clone();
        let Some(c) = self.caller.as_mut() else {
            return;
        };
        if c.final_sent {
            return;
        }
        let r = sip::response(&c.invite, status, &c.tag, &local, c.peer, sdp);
        if status >= 200 {
            c.final_sent = true;
        }
        if (200..300).contains(&status) {
            c.dialog = Dialog::uas(&c.invite, &r).ok();
            c.ok = Some(r.clone());
        }
        let tx = c.tx;
        self.send(FromCall::Respond { tx, response: r });
    }

    /// Gives the caller media before anyone takes the call: the endpoint, and its SDP in a
    /// 183 (early media: the caller pays nothing for waiting and can still CANCEL), or a
    /// 200 when the organisation answers waiting callers. False when the call has ended.
    pub(super) async fn early_media(&mut self, myself: &ActorRef<CallMsg>) -> bool {
        if self.ctx.config().organization.answer_before_queue {
            return self.answer(myself, None).await;
        }
        let Some(sdp) = self.caller_endpoint(myself, None).await else {
            return false;
        };
        if !self.early_sent {
            self.early_sent = true;
            self.respond_caller(183, Some(&sdp));
        }
        true
    }

    /// Answers the caller (200 with the endpoint's SDP, retransmitted until the ACK). The
    /// endpoint is made, placed near `near` (the leg it will be bridged to), if the caller
    /// has none yet. False when the call cannot be answered (and has been ended).
    pub(super) async fn answer(&mut self, myself: &ActorRef<CallMsg>, near: Option<&str>) -> bool {
        let Some(sdp) = self.caller_endpoint(myself, near).await else {
            return false;
        };
        if self.caller.as_ref().is_some_and(|c| !c.final_sent) {
            self.respond_caller(200, Some(&sdp));
            if !self.caller.as_ref().is_some_and(|c| c.peer.is_reliable()) {
                self.arm(
                    myself,
                    self.ctx.config().sip.t1_ms,
                    Timer::Resend2xx { attempt: 1 },
                );
            }
        }
        true
    }

    /// The caller's media endpoint (made on first use) and our SDP answer for it.
    async fn caller_endpoint(
        &mut self,
        myself: &ActorRef<CallMsg>,
        near: Option<&str>,
    ) -> Option<String> {
        if let (Some(_), Some(sdp)) = (&self.a, &self.a_sdp) {
            return Some(sdp.clone());
        }
        let c = self.caller.as_ref()?;
        let offer = sip::sdp_of(&c.invite.headers, &c.invite.body).unwrap_or_default();
        let request = media::CreateEndpointRequest {
            remote_offer: offer,
            near_endpoint_id: near.unwrap_or_default().to_owned(),
            label: format!("{} caller", self.id),
            webrtc: false,
        };
        let mut m = self.media_client();
        match rpc(self.timeout(), m.create_endpoint(request)).await {
            Ok(ep) => {
                self.ctx.registry.add_endpoint(&ep.endpoint_id, self.no);
                self.a = Some(ep.endpoint_id);
                self.a_sdp = Some(ep.local_sdp.clone());
                Some(ep.local_sdp)
            }
            Err(e) => {
                let status = if e.code() == tonic::Code::InvalidArgument {
                    488
                } else {
                    503
                };
                warn!(call = %self.id, error = %e, "cannot give the caller media");
                self.respond_caller(status, None);
                self.end(myself, Side::Nobody, "no media").await;
                None
            }
        }
    }

    /// The call goes on even if the end of a playback of `duration_ms` is never reported
    /// (nothing is armed for a looped one, whose length is 0).
    pub(super) fn arm_play_deadline(
        &self,
        myself: &ActorRef<CallMsg>,
        playback: u64,
        duration_ms: u64,
    ) {
        if duration_ms > 0 {
            self.arm(
                myself,
                duration_ms + PLAY_MARGIN_MS,
                Timer::PlayDeadline { playback },
            );
        }
    }

    pub(super) fn arm(&self, myself: &ActorRef<CallMsg>, after_ms: u64, timer: Timer) {
        myself.send_after(Duration::from_millis(after_ms), move || {
            CallMsg::Timer(timer)
        });
    }

    /// Plays `prompts` to the caller (a menu's prompt stops at the first key); returns how
    /// long they last (0 when looped or when nothing plays).
    pub(super) async fn play(
        &mut self,
        myself: &ActorRef<CallMsg>,
        prompts: Vec<String>,
        repeat: bool,
        purpose: Purpose,
    ) -> u64 {
        let Some(a) = self.a.clone() else { return 0 };
        let request = media::PlayRequest {
            endpoint_id: a,
            prompts,
            r#loop: repeat,
            barge_in: purpose == Purpose::Menu,
        };
        let mut m = self.media_client();
        match rpc(self.timeout(), m.play(request)).await {
            Ok(p) => {
                self.playback = Some((p.playback_id, purpose));
                self.arm_play_deadline(myself, p.playback_id, p.duration_ms);
                p.duration_ms
            }
            Err(e) => {
                warn!(call = %self.id, error = %e, "cannot play");
                // Nothing plays: carry on as if it had been heard.
                if purpose != Purpose::Music {
                    let _ = myself.cast(CallMsg::Timer(Timer::PlayDeadline { playback: 0 }));
                    self.playback = Some((0, purpose));
                }
                0
            }
        }
    }

    async fn on_media(&mut self, myself: &ActorRef<CallMsg>, event: media::MediaEvent) {
        match event.event {
            Some(MediaEv::PlayDone(done)) => {
                let Some((id, purpose)) = self.playback else {
                    return;
                };
                if id != done.playback_id {
                    return;
                }
                self.playback = None;
                match purpose {
                    Purpose::Greeting if self.phase == Phase::Routing => {
                        self.facts.greeted = true;
                        self.outcome = Some(Outcome::Played(routing::Played {}));
                        self.decide(myself).await;
                    }
                    Purpose::Position if self.phase == Phase::Queued => self.music(myself).await,
                    Purpose::Goodbye => self.end(myself, Side::Nobody, self.farewell).await,
                    Purpose::MessageIntro => self.record_message(myself).await,
                    Purpose::AnnounceIntro => self.record_announcement(myself).await,
                    Purpose::CallbackBrief if self.phase == Phase::Talking => {
                        self.dial_customer(myself).await;
                    }
                    Purpose::CallbackGreeting if self.phase == Phase::Routing => {
                        self.queue_customer(myself).await;
                    }
                    _ => {}
                }
            }
            Some(MediaEv::CollectDone(done)) if self.choices == Some(done.collection_id) => {
                self.chosen(myself, done).await;
            }
            Some(MediaEv::CollectDone(done)) if self.ends_message(done.collection_id) => {
                self.message_done(myself).await;
            }
            Some(MediaEv::CollectDone(done)) if self.busy_collection(done.collection_id) => {
                self.busy_chosen(myself, done.collection_id, &done.digits)
                    .await;
            }
            Some(MediaEv::CollectDone(done)) if self.announce_collection(done.collection_id) => {
                self.announce_keys(myself, Some(done.collection_id), &done.digits)
                    .await;
            }
            Some(MediaEv::CollectDone(done)) => self.menu_collected(myself, done).await,
            // Many phones send nothing while they only hear early media.
            Some(MediaEv::RtpTimeout(_)) if self.caller.as_ref().is_some_and(|c| !c.final_sent) => {
            }
            // Nor does a callback's customer before answering.
            Some(MediaEv::RtpTimeout(_))
                if self.callback.as_ref().is_some_and(|c| !c.reached)
                    && self.a.as_deref() == Some(event.endpoint_id.as_str()) => {}
            // The callee's side is silent only once it is someone's (an announcement's
            // callee who declined leaves it quiet on purpose).
            Some(MediaEv::RtpTimeout(_))
                if self.winner.is_none()
                    && self.a.as_deref() != Some(event.endpoint_id.as_str()) => {}
            Some(MediaEv::RtpTimeout(t)) => {
                info!(call = %self.id, silent = t.silent_seconds, "no RTP: ending the call");
                self.end(myself, Side::Nobody, "media timeout").await;
            }
            _ => {}
        }
    }

    pub(super) async fn music(&mut self, myself: &ActorRef<CallMsg>) {
        self.play(myself, vec!["music-on-hold".into()], true, Purpose::Music)
            .await;
    }

    // ----- the queue -----

    pub(super) async fn enqueue(&mut self, myself: &ActorRef<CallMsg>, q: routing::Queue) {
        // A callback's agent-first call has nobody on the line while it waits.
        let place = self.callback_place();
        if place.is_none() && !self.early_media(myself).await {
            return;
        }
        let wrap_up = self
            .ctx
            .config()
            .department(&q.department_id)
            .map_or(0, |d| d.wrap_up_seconds);
        let request = queue::EnqueueRequest {
            call_id: self.id.clone(),
            department_id: q.department_id.clone(),
            priority: q.priority,
            enqueued_at_unix_ms: place.unwrap_or(0),
            edge_node: self.ctx.services.node().to_owned(),
            caller: self.caller_identity(),
        };
        self.set_phase(Phase::Queued);
        self.queued = Some(Queued {
            department: q.department_id.clone(),
            wrap_up,
            priority: q.priority,
            enqueued_at_unix_ms: place.filter(|at| *at > 0).unwrap_or_else(unix_ms),
        });
        let department = q.department_id.clone();
        self.ctx
            .registry
            .update(self.no, |i| i.department = Some(department));
        let mut client = self.queue_client();
        let joined = rpc(self.timeout(), client.enqueue(request)).await;
        match joined {
            Ok(e) => {
                info!(call = %self.id, department = %q.department_id, position = e.position, "queued");
                self.emit(CallEvent::Queued {
                    id: self.id.clone(),
                    department: q.department_id.clone(),
                    position: e.position,
                });
                if e.position > 1 {
                    self.announce(myself, e.position, None).await;
                } else {
                    self.music(myself).await;
                }
            }
            Err(e) if moving(&e) => {
                // The department's queue is between owners (one died, the next takes over
                // when its lease expires): the caller waits with music, and joins when the
                // new owner is there (its place is its enqueue time, kept above).
                warn!(call = %self.id, department = %q.department_id, error = %e, "the department's queue is out of reach; waiting for its owner");
                self.music(myself).await;
                let pause = self.requeue_pause();
                self.arm(myself, pause, Timer::Requeue);
            }
            Err(e) => {
                warn!(call = %self.id, error = %e, "cannot queue the call");
                self.leave_queue_unavailable(myself, &e).await;
                return;
            }
        }
        let every = self.announce_every_ms();
        self.arm(myself, every, Timer::Position);
        let max_wait_ms = match self.callback_max_wait() {
            Some(wait) => wait.as_millis() as u64,
            None => u64::from(self.ctx.config().organization.max_wait_seconds) * 1000,
        };
        if max_wait_ms > 0 {
            let generation = self.next_generation();
            self.queue_generation = generation;
            self.arm(myself, max_wait_ms, Timer::MaxWait { generation });
        }
    }

    /// Joins the department's queue again with the call's original enqueue time and
    /// priority: its owner moved (the new one starts empty) or was out of reach.
    async fn requeue(&mut self, myself: &ActorRef<CallMsg>) {
        let Some(q) = self.queued.clone() else { return };
        if self.phase != Phase::Queued {
            return;
        }
        let request = queue::EnqueueRequest {
            call_id: self.id.clone(),
            department_id: q.department.clone(),
            priority: q.priority,
            enqueued_at_unix_ms: q.enqueued_at_unix_ms,
            edge_node: self.ctx.services.node().to_owned(),
            caller: self.caller_identity(),
        };
        let mut client = self.queue_client();
        match rpc(self.timeout(), client.enqueue(request)).await {
            Ok(e) => {
                self.requeue_failures = 0;
                info!(call = %self.id, department = %q.department, position = e.position, "queued at the department's owner, in its original place");
            }
            Err(e) if e.code() == tonic::Code::AlreadyExists => self.requeue_failures = 0,
            Err(e) if moving(&e) => {
                debug!(call = %self.id, department = %q.department, error = %e, "the department's queue is still out of reach");
                let pause = self.requeue_pause();
                self.arm(myself, pause, Timer::Requeue);
            }
            Err(e) => {
                warn!(call = %self.id, error = %e, "cannot queue the call again");
                self.leave_queue_unavailable(myself, &e).await;
            }
        }
    }

    /// Tells the presence nodes that have just taken the `moved` shards over which of their
    /// agents this call holds: the one talking on it (a call from a queue), and those whose
    /// phones ring for it.
    fn report_to_new_presence(&mut self, moved: &BTreeSet<u32>) {
        for (agent, answered) in agents_in_shards(self.held_agents(), moved) {
            info!(call = %self.id, %agent, answered, "telling the new presence owner about the call");
            let request = presence::CallInProgressRequest {
                agent_id: agent,
                call_id: self.id.clone(),
                answered,
                edge_node: self.ctx.services.node().to_owned(),
                replaces_call_id: String::new(),
            };
            notify!(
                self,
                "presence: call in progress",
                presence,
                call_in_progress,
                request
            );
        }
    }

    /// The agents this call holds, each with whether it answered: the one talking on it (a
    /// call from a queue), then those whose phones ring for it.
    fn held_agents(&self) -> Vec<(String, bool)> {
        let talking = match (self.phase, self.winner) {
            (Phase::Talking, Some(i)) => match &self.legs[i].kind {
                LegKind::Queue(agent) => Some(agent.clone()),
                LegKind::Direct(_) | LegKind::Trunk | LegKind::Customer => None,
            },
            _ => None,
        };
        let ringing = self
            .targets
            .iter()
            .filter(|(_, t)| t.started)
            .map(|(agent, _)| (agent.clone(), false));
        talking
            .map(|a| (a, true))
            .into_iter()
            .chain(ringing)
            .collect()
    }

    /// Who calls, for the queue's last-agent routing: the employee's extension for an
    /// internal call, else the From user (a number); empty when unknown or anonymous.
    fn caller_identity(&self) -> String {
        let Some(c) = &self.caller else {
            return self.callback_number().unwrap_or_default().to_owned();
        };
        let user = c
            .extension
            .as_deref()
            .or_else(|| c.invite.headers.from().and_then(|f| f.uri.user()))
            .unwrap_or_default();
        if user.eq_ignore_ascii_case("anonymous") {
            return String::new();
        }
        user.to_owned()
    }

    /// The pause before the next try to join the queue, growing with each failure.
    fn requeue_pause(&mut self) -> u64 {
        let pause = REQUEUE_FIRST_RETRY_MS
            .saturating_mul(1 << self.requeue_failures.min(5))
            .min(REQUEUE_LAST_RETRY_MS);
        self.requeue_failures += 1;
        pause
    }

    /// The queue refused the call for good: the caller hears that nobody can take it.
    async fn leave_queue_unavailable(&mut self, myself: &ActorRef<CallMsg>, e: &tonic::Status) {
        // A timeout may hide an enqueue that was applied: take it back, or the queue
        // would offer a call nobody carries.
        let applied = e.code() != tonic::Code::InvalidArgument && e.code() != tonic::Code::NotFound;
        self.leave_queue(applied);
        if self.callback.is_some() {
            let why = format!(
                "the department's queue refused the callback: {}",
                e.message()
            );
            return self.callback_failed(myself, Placed::Failed(why)).await;
        }
        self.play(myself, vec!["unavailable".into()], false, Purpose::Goodbye)
            .await;
    }

    /// The call stops waiting in its queue (telling the queue when it is there) and stops
    /// ringing anyone for it.
    pub(super) fn leave_queue(&mut self, tell_the_queue: bool) {
        if tell_the_queue {
            let left = queue::CallRequest {
                call_id: self.id.clone(),
            };
            notify!(self, "queue: abandoned", queue, abandon, left);
        }
        self.queued = None;
        self.stop_waiting();
        // Whoever it was to be announced to, it is no longer them.
        self.announcing = None;
        self.set_phase(Phase::Routing);
    }

    /// What the caller dialled (the user part of their INVITE's Request-URI).
    pub(super) fn dialed(&self) -> Option<&str> {
        self.caller.as_ref()?.invite.uri.user()
    }

    /// The number the caller calls from, when they show it (calls from outside only).
    pub(super) fn caller_number(&self) -> Option<&str> {
        let caller = self.caller.as_ref().filter(|c| c.extension.is_none())?;
        sip::caller_number(&caller.invite)
    }

    /// The queue of the department the call is (or was) in, at its owner now.
    pub(super) fn queue_client(&self) -> QueueControlClient<Channel> {
        let department = self.queued.as_ref().map_or("", |q| q.department.as_str());
        self.ctx.services.queue(department)
    }

    /// Starts collecting one key on `endpoint` (ended early by `terminator`, when not
    /// empty), waiting `timeout_ms` for it — from the end of the prompt when
    /// `after_prompt`; the collection id its CollectDone carries.
    pub(super) async fn collect_key(
        &mut self,
        endpoint: String,
        timeout_ms: u32,
        terminator: &str,
        after_prompt: bool,
    ) -> Result<u64, tonic::Status> {
        let request = media::CollectDigitsRequest {
            endpoint_id: endpoint,
            max_digits: 1,
            terminator: terminator.to_owned(),
            first_digit_timeout_ms: timeout_ms,
            inter_digit_timeout_ms: timeout_ms,
            after_prompt,
        };
        let mut m = self.media_client();
        rpc(self.timeout(), m.collect_digits(request))
            .await
            .map(|r| r.collection_id)
    }

    /// The media node of the call's endpoints, picked with the first one.
    pub(super) fn media_client(&mut self) -> MediaControlClient<Channel> {
        if self.media.is_none() {
            let (node, client) = self.ctx.services.pick_media();
            self.media = Some(client);
            self.media_node = node;
        }
        self.media.clone().expect("picked above")
    }

    /// The address of the media node holding the call's endpoints (empty: the media
    /// service as a whole, when no node was listed).
    pub(super) fn media_node(&mut self) -> String {
        self.media_client();
        self.media_node.clone()
    }

    /// Tells the queue the call is over for it (its agent is released elsewhere).
    pub(super) fn tell_queue_call_ended(&mut self) {
        let ended = queue::CallRequest {
            call_id: self.id.clone(),
        };
        notify!(self, "queue: call ended", queue, call_ended, ended);
    }

    /// Tells presence that `agent`, talking on the call `from`, talks on this call now.
    pub(super) fn tell_presence_call_moved(&mut self, agent: String, from: String) {
        let moved = presence::CallInProgressRequest {
            agent_id: agent,
            call_id: self.id.clone(),
            answered: true,
            edge_node: self.ctx.services.node().to_owned(),
            replaces_call_id: from,
        };
        notify!(
            self,
            "presence: call moved",
            presence,
            call_in_progress,
            moved
        );
    }

    /// What leg `i` is.
    pub(super) fn leg_kind(&self, i: usize) -> LegKind {
        self.legs[i].kind.clone()
    }

    /// Lets leg `i` go to another call (see [`Leg::hand_over`]).
    pub(super) fn hand_over_leg(&mut self, i: usize) -> Leg {
        self.legs[i].hand_over()
    }

    /// Whether `replaces` names the caller's dialog.
    pub(super) fn is_caller_dialog(&self, replaces: &super::transfer::Replaces) -> bool {
        self.caller
            .as_ref()
            .and_then(|c| c.dialog.as_ref())
            .is_some_and(|d| {
                let id = d.id();
                replaces.names(&id.call_id, &id.local_tag, &id.remote_tag)
            })
    }

    /// Asks the core for something (the call's own commands go through here).
    pub(super) fn send_command(&self, command: FromCall) {
        self.send(command);
    }

    /// Adds a leg another call handed over; its index.
    pub(super) fn adopt_leg(&mut self, leg: Leg) -> usize {
        self.legs.push(leg);
        self.legs.len() - 1
    }

    async fn on_offer(&mut self, myself: &ActorRef<CallMsg>, event: queue::OfferEvent) {
        if self.phase != Phase::Queued {
            return;
        }
        match event.event {
            Some(OfferEv::Offer(plan) | OfferEv::PlanChanged(plan)) => {
                for t in plan.targets {
                    let start = self.next_generation();
                    let stop = self.next_generation();
                    let target = self.targets.entry(t.agent_id.clone()).or_insert(Target {
                        started: false,
                        start_generation: 0,
                        stop_generation: 0,
                    });
                    if !target.started {
                        target.start_generation = start;
                        self.arm(
                            myself,
                            t.start_ms,
                            Timer::RingStart {
                                agent: t.agent_id.clone(),
                                generation: start,
                            },
                        );
                    }
                    let target = self.targets.get_mut(&t.agent_id).expect("inserted above");
                    target.stop_generation = stop;
                    // The queue times targets out itself (CancelOffer); this is the safety
                    // net for when its events do not reach us.
                    self.arm(
                        myself,
                        t.stop_ms + SAFETY_MARGIN_MS,
                        Timer::RingStop {
                            agent: t.agent_id,
                            generation: stop,
                        },
                    );
                }
            }
            Some(OfferEv::CancelAgentId(agent)) => self.stop_agent(&agent),
            Some(OfferEv::OfferFailed(_)) => self.stop_waiting(),
            None => {}
        }
    }

    /// Stops ringing every planned agent (the call left the queue).
    pub(super) fn stop_waiting(&mut self) {
        let agents: Vec<String> = self.targets.keys().cloned().collect();
        for agent in agents {
            self.stop_agent(&agent);
        }
    }

    /// Stops ringing an agent (the queue already knows), or presenting the call to them.
    fn stop_agent(&mut self, agent: &str) {
        self.targets.remove(agent);
        if let Some(leg) = self.presented_to(agent) {
            info!(call = %self.id, %agent, "the queue withdrew the call from the agent hearing who calls");
            self.withdraw_presentation(leg, true);
        }
        for i in 0..self.legs.len() {
            if self.legs[i].kind == LegKind::Queue(agent.to_owned()) {
                self.cancel_leg(i);
            }
        }
    }

    async fn ring_agent(&mut self, myself: &ActorRef<CallMsg>, agent: String) {
        let Some(extension) = self
            .ctx
            .config()
            .employee(&agent)
            .map(|e| e.extension.as_str().to_owned())
        else {
            return self
                .reject_agent(&agent, queue::rejected_request::Reason::Declined)
                .await;
        };
        let contacts = self.contacts(&extension).await;
        if contacts.is_empty() || !self.ensure_b(myself).await {
            return self
                .reject_agent(&agent, queue::rejected_request::Reason::Declined)
                .await;
        }
        let confirm = presence::AgentCall {
            agent_id: agent.clone(),
            call_id: self.id.clone(),
        };
        notify!(
            self,
            "presence: ringing",
            presence,
            confirm_ringing,
            confirm
        );
        self.emit(CallEvent::Offered {
            id: self.id.clone(),
            agent: agent.clone(),
        });
        let to = sip::user_uri(&extension, &self.ctx.config().sip.domain);
        for c in contacts {
            self.start_leg(LegKind::Queue(agent.clone()), c, to.clone());
        }
    }

    pub(super) async fn reject_agent(
        &mut self,
        agent: &str,
        reason: queue::rejected_request::Reason,
    ) {
        self.targets.remove(agent);
        let request = queue::RejectedRequest {
            call_id: self.id.clone(),
            agent_id: agent.to_owned(),
            reason: reason as i32,
        };
        notify!(self, "queue: rejected", queue, rejected, request);
    }

    /// Where to ring `extension`: its devices registered with this node, else the other
    /// sip-edge nodes that have some (each rings its own, keeping the phones' NAT bindings
    /// and TCP connections). A leg that came from another edge is never sent on again.
    async fn contacts(&mut self, extension: &str) -> Vec<DeviceContact> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(FromCall::Contacts {
            extension: extension.to_owned(),
            reply,
        });
        let local = tokio::time::timeout(self.timeout(), rx)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        if !local.is_empty() || self.is_edge_leg() {
            return local;
        }
        let edges = self
            .ctx
            .services
            .remote_devices(extension, REMOTE_DEVICES_TIMEOUT)
            .await;
        if !edges.is_empty() {
            debug!(call = %self.id, %extension, ?edges, "ringing through the sip-edge nodes the phones registered with");
        }
        edges
            .into_iter()
            .map(|edge| {
                self.edge_legs.insert(edge);
                DeviceContact {
                    uri: sip::addr_uri(extension, edge),
                    dest: Peer::Udp(edge),
                }
            })
            .collect()
    }

    /// Whether this call is a leg another sip-edge node sent here to ring our phones.
    pub(super) fn is_edge_leg(&self) -> bool {
        self.caller
            .as_ref()
            .is_some_and(|c| c.invite.headers.other(EDGE_LEG_HEADER).is_some())
    }

    /// The endpoint that faces agents (or the mobile), created with our offer.
    async fn ensure_b(&mut self, _myself: &ActorRef<CallMsg>) -> bool {
        if self.b.is_some() {
            return true;
        }
        let request = media::CreateEndpointRequest {
            remote_offer: String::new(),
            near_endpoint_id: self.a.clone().unwrap_or_default(),
            label: format!("{} callee", self.id),
            webrtc: false,
        };
        let mut m = self.media_client();
        match rpc(self.timeout(), m.create_endpoint(request)).await {
            Ok(ep) => {
                self.ctx.registry.add_endpoint(&ep.endpoint_id, self.no);
                self.b = Some((ep.endpoint_id, ep.local_sdp));
                true
            }
            Err(e) => {
                warn!(call = %self.id, error = %e, "no media endpoint for the callee");
                false
            }
        }
    }

    /// Rings `contact` for the call's callee side (the endpoint `b`), showing the caller
    /// (a callback's customer number: the agent sees whom they call back).
    fn start_leg(&mut self, kind: LegKind, contact: DeviceContact, to: cc_sip::Uri) {
        let Some((_, offer)) = self.b.clone() else {
            return;
        };
        let domain = &self.ctx.local.domain;
        let from = match (&self.caller, self.callback_number()) {
            (Some(caller), _) => sip::presented_caller(&caller.invite, domain, &random_token()),
            (None, Some(number)) => sip::presented_number(number, domain, &random_token()),
            (None, None) => return,
        };
        self.invite_leg(kind, contact, to, from, &offer);
    }

    /// Rings a callback's customer at `number` through the trunk at `trunk`, offering
    /// `offer`, showing `shown`; the leg's index.
    pub(super) fn invite_customer(
        &mut self,
        number: &str,
        trunk: std::net::SocketAddr,
        shown: &str,
        offer: &str,
    ) -> usize {
        let contact = DeviceContact {
            uri: sip::addr_uri(number, trunk),
            dest: Peer::Udp(trunk),
        };
        let to = sip::addr_uri(number, trunk);
        let from = sip::presented_number(shown, &self.ctx.local.domain, &random_token());
        self.invite_leg(LegKind::Customer, contact, to, from, offer);
        self.legs.len() - 1
    }

    fn invite_leg(
        &mut self,
        kind: LegKind,
        contact: DeviceContact,
        to: cc_sip::Uri,
        from: cc_sip::header::NameAddr,
        offer: &str,
    ) {
        let local = &self.ctx.local;
        let call_id = format!("{}@{}", random_token(), local.addr.ip());
        let branch = format!("{}{}", cc_sip::header::BRANCH_MAGIC, random_token());
        let mut invite = sip::invite(
            local,
            OutboundInvite {
                target: contact.uri,
                to,
                from,
                call_id: &call_id,
                branch: &branch,
                sdp: offer,
                dest: contact.dest,
            },
        );
        if self.edge_legs.contains(&contact.dest.addr()) {
            invite.headers.push(cc_sip::header::Header::Other {
                name: EDGE_LEG_HEADER.into(),
                value: self.id.clone().into(),
            });
        }
        debug!(call = %self.id, leg = %call_id, ?kind, dest = %contact.dest.addr(), "ringing");
        self.send(FromCall::Request {
            call: self.no,
            request: invite.clone(),
            dest: contact.dest,
        });
        self.legs.push(Leg {
            kind,
            call_id,
            invite,
            dest: contact.dest,
            provisional: false,
            cancel: Cancel::No,
            dialog: None,
            done: false,
            status: None,
            bye_received: false,
        });
    }

    fn leg_provisional(&mut self, i: usize, response: &Response) {
        let leg = &mut self.legs[i];
        leg.provisional = true;
        if leg.cancel == Cancel::Wanted && leg.pending() {
            self.send_cancel(i);
            return;
        }
        let relay = response.status == 180 || response.status == 183;
        if relay
            && matches!(self.legs[i].kind, LegKind::Direct(_) | LegKind::Trunk)
            && let Some(d) = self.dial.as_mut()
            && !d.ringing_sent
        {
            d.ringing_sent = true;
            self.respond_caller(180, None);
        }
    }

    /// The previous dial's timers (giving up, forwarding) no longer apply, and its state
    /// is gone.
    pub(super) fn forget_dial(&mut self) {
        self.next_generation();
        self.dial = None;
    }

    /// Every other leg stops ringing, and the ringing's timers (mobile forwarding, giving
    /// up) no longer apply: leg `keep` answered.
    pub(super) fn stop_other_legs(&mut self, keep: usize) {
        self.next_generation();
        for j in 0..self.legs.len() {
            if j != keep {
                self.cancel_leg(j);
            }
        }
    }

    /// Hangs up an answered leg (unless it hung up itself).
    pub(super) fn hang_up_leg(&mut self, i: usize) {
        if !self.legs[i].bye_received {
            self.send_in_dialog(i, Method::Bye);
        }
        self.legs[i].bye_received = true;
    }

    /// Stops what plays on an endpoint (the outbox does it: nothing waits on it).
    pub(super) fn stop_play_on(&mut self, endpoint: String) {
        let r = media::EndpointRef {
            endpoint_id: endpoint,
        };
        notify!(self, "media: stop play", media, stop_play, r);
    }

    fn cancel_leg(&mut self, i: usize) {
        let leg = &mut self.legs[i];
        if !leg.pending() || leg.cancel != Cancel::No {
            return;
        }
        if leg.provisional {
            self.send_cancel(i);
        } else {
            leg.cancel = Cancel::Wanted;
        }
    }

    fn send_cancel(&mut self, i: usize) {
        let leg = &mut self.legs[i];
        leg.cancel = Cancel::Sent;
        let request = cancel_for(&leg.invite);
        let dest = leg.dest;
        self.send(FromCall::Request {
            call: self.no,
            request,
            dest,
        });
    }

    fn send_in_dialog(&mut self, i: usize, method: Method) {
        self.send_on_leg(i, |dialog| dialog.request(method));
    }

    /// Sends the request `build` makes in leg `i`'s dialog (nothing while it has none).
    fn send_on_leg(&mut self, i: usize, build: impl FnOnce(&mut Dialog) -> Request) {
        let local = self.ctx.local.clone();
        let leg = &mut self.legs[i];
        let Some(dialog) = leg.dialog.as_mut() else {
            return;
        };
        let branch = format!("{}{}", cc_sip::header::BRANCH_MAGIC, random_token());
        let request = sip::with_via(build(dialog), &local, leg.dest.transport(), &branch);
        let dest = leg.dest;
        self.send(FromCall::Request {
            call: self.no,
            request,
            dest,
        });
    }

    fn ack_leg(&self, i: usize) {
        let leg = &self.legs[i];
        let Some(dialog) = &leg.dialog else { return };
        let branch = format!("{}{}", cc_sip::header::BRANCH_MAGIC, random_token());
        let ack = sip::with_via(
            dialog.ack(1),
            &self.ctx.local,
            leg.dest.transport(),
            &branch,
        );
        self.send(FromCall::Stateless {
            message: Message::Request(ack),
            dest: leg.dest,
        });
    }

    async fn leg_answered(&mut self, myself: &ActorRef<CallMsg>, i: usize, response: Response) {
        if self.legs[i].dialog.is_some() {
            // A retransmitted 2xx: our ACK was lost.
            return self.ack_leg(i);
        }
        let dialog = match Dialog::uac(&self.legs[i].invite, &response) {
            Ok(d) => d,
            Err(e) => {
                warn!(call = %self.id, error = %e, "unusable 2xx from a callee");
                self.legs[i].done = true;
                if self.is_customer_leg(i) && self.phase != Phase::Ending {
                    let why = Placed::Failed(format!("the trunk's 2xx is unusable: {e}"));
                    self.callback_failed(myself, why).await;
                }
                return;
            }
        };
        let leg = &mut self.legs[i];
        leg.done = true;
        leg.status = Some(response.status);
        leg.dialog = Some(dialog);
        self.ack_leg(i);
        if self.is_customer_leg(i) {
            if self.legs[i].cancel != Cancel::No || self.phase == Phase::Ending {
                self.send_in_dialog(i, Method::Bye);
                return self.maybe_finish(myself);
            }
            let sdp = sip::sdp_of(&response.headers, &response.body);
            return self.customer_answered(myself, i, sdp).await;
        }
        let wanted = self.legs[i].cancel == Cancel::No
            && self.winner.is_none()
            && matches!(self.phase, Phase::Queued | Phase::Dialing);
        let sdp = sip::sdp_of(&response.headers, &response.body);
        let (Some(sdp), true) = (sdp, wanted) else {
            // Answered too late (another leg won, or we had cancelled): hang it up.
            self.send_in_dialog(i, Method::Bye);
            return self.maybe_finish(myself);
        };
        if self.presents() {
            // An announced call: the callee hears who calls and chooses first.
            return self.present(myself, i, sdp).await;
        }
        if self.connect(myself, i, sdp).await {
            return;
        }
        self.send_in_dialog(i, Method::Bye);
        self.end(myself, Side::Nobody, "cannot connect the callee")
            .await;
    }

    /// Connects the caller to the leg that answered: media bridged, the others cancelled,
    /// queue and presence told.
    pub(super) async fn connect(
        &mut self,
        myself: &ActorRef<CallMsg>,
        i: usize,
        sdp: String,
    ) -> bool {
        let Some((b, _)) = self.b.clone() else {
            return false;
        };
        let mut m = self.media_client();
        let set = media::SetRemoteDescriptionRequest {
            endpoint_id: b.clone(),
            sdp,
        };
        if let Err(e) = rpc(self.timeout(), m.set_remote_description(set)).await {
            warn!(call = %self.id, error = %e, "the callee's answer was refused");
            return false;
        }
        // A callback's agent (agent first) is alone on the line until the customer answers.
        let briefs = self.briefs_agent();
        if !briefs {
            if !self.answer(myself, Some(&b)).await {
                return false;
            }
            let Some(a) = self.a.clone() else {
                return false;
            };
            let bridge = media::BridgeRequest {
                endpoint_id: a,
                other_endpoint_id: b,
            };
            if let Err(e) = rpc(self.timeout(), m.bridge(bridge)).await {
                warn!(call = %self.id, error = %e, "cannot bridge");
                return false;
            }
        }
        self.winner = Some(i);
        // Taken: whatever happens to the call later (a transfer), it was not lost.
        self.lost = None;
        self.set_phase(Phase::Talking);
        self.playback = None;
        let agent = match &self.legs[i].kind {
            LegKind::Queue(agent) => Some(agent.clone()),
            LegKind::Direct(employee) => Some(employee.clone()),
            LegKind::Trunk | LegKind::Customer => None,
        };
        let shown = agent.clone();
        self.ctx.registry.update(self.no, |info| {
            info.agent = shown;
            info.connected_unix_ms = Some(unix_ms());
        });
        self.emit(CallEvent::Answered {
            id: self.id.clone(),
            agent,
        });
        for j in 0..self.legs.len() {
            if j != i {
                self.cancel_leg(j);
            }
        }
        if let LegKind::Queue(agent) = self.legs[i].kind.clone() {
            info!(call = %self.id, %agent, "answered by agent");
            self.targets.clear();
            if !briefs {
                self.record_conversation(&agent).await;
            }
            let answered = queue::AgentCallRequest {
                call_id: self.id.clone(),
                agent_id: agent.clone(),
            };
            notify!(self, "queue: answered", queue, answered, answered);
            let on_call = presence::AgentCall {
                agent_id: agent,
                call_id: self.id.clone(),
            };
            notify!(self, "presence: answered", presence, answered, on_call);
        } else {
            info!(call = %self.id, kind = ?self.legs[i].kind, "answered");
        }
        if briefs {
            self.brief_agent(myself).await;
        }
        true
    }

    async fn leg_failed(&mut self, myself: &ActorRef<CallMsg>, i: usize, status: u16) {
        let leg = &mut self.legs[i];
        leg.done = true;
        leg.status = Some(status);
        let cancelled = leg.cancel != Cancel::No;
        let kind = leg.kind.clone();
        if self.phase == Phase::Ending {
            return self.maybe_finish(myself);
        }
        if cancelled {
            return;
        }
        match kind {
            LegKind::Customer if status == 408 && !self.legs[i].provisional => {
                let why = Placed::Failed("the trunk did not answer the INVITE".into());
                self.callback_failed(myself, why).await;
            }
            LegKind::Customer => self.customer_failed(myself, status).await,
            LegKind::Queue(agent) => {
                let still_ringing = self.legs.iter().any(|l| {
                    l.kind == LegKind::Queue(agent.clone()) && l.pending() && l.cancel == Cancel::No
                });
                if !still_ringing && self.targets.contains_key(&agent) {
                    let reason = match status {
                        486 | 600 | 603 => queue::rejected_request::Reason::Declined,
                        _ => queue::rejected_request::Reason::NoAnswer,
                    };
                    info!(call = %self.id, %agent, status, "agent did not take the call");
                    self.reject_agent(&agent, reason).await;
                }
            }
            LegKind::Direct(_) | LegKind::Trunk => {
                let ringing = self
                    .legs
                    .iter()
                    .any(|l| l.pending() && l.cancel == Cancel::No);
                if ringing || self.phase != Phase::Dialing {
                    return;
                }
                let forward = self
                    .dial
                    .as_ref()
                    .filter(|d| !d.forwarded)
                    .and_then(|d| d.forward.clone());
                if matches!(kind, LegKind::Direct(_))
                    && let Some(f) = forward
                {
                    return self.forward(myself, f).await;
                }
                let outcome = if self.legs.iter().any(|l| l.status == Some(486)) {
                    routing::DialOutcome::Busy
                } else {
                    routing::DialOutcome::NoAnswer
                };
                self.dial_finished(myself, outcome).await;
            }
        }
    }

    // ----- direct calls -----

    /// Rings an employee as routing asks: announced first (R-31) when it says so.
    pub(super) async fn dial(&mut self, myself: &ActorRef<CallMsg>, d: routing::Dial) {
        if d.announce {
            return self.announce_to(myself, Announced::Employee(d)).await;
        }
        self.ring_employee(myself, d).await;
    }

    /// Rings an employee's phones (then their mobile).
    pub(super) async fn ring_employee(&mut self, myself: &ActorRef<CallMsg>, d: routing::Dial) {
        self.set_phase(Phase::Dialing);
        self.dial = Some(DialState {
            forward: d.forward.clone(),
            forwarded: false,
            ringing_sent: false,
            request: Some(d.clone()),
        });
        let extension = self
            .ctx
            .config()
            .employee(&d.employee_id)
            .map(|e| e.extension.as_str().to_owned())
            .unwrap_or_default();
        let contacts = self.contacts(&extension).await;
        if contacts.is_empty() {
            return match d.forward {
                Some(f) => self.forward(myself, f).await,
                None => {
                    self.dial_finished(myself, routing::DialOutcome::Unreachable)
                        .await
                }
            };
        }
        if !self.ensure_b(myself).await {
            return self.end(myself, Side::Nobody, "no media").await;
        }
        let to = sip::user_uri(&extension, &self.ctx.config().sip.domain);
        for c in contacts {
            self.start_leg(LegKind::Direct(d.employee_id.clone()), c, to.clone());
        }
        let generation = self.next_generation();
        match &d.forward {
            Some(f) => self.arm(myself, u64::from(f.after_ms), Timer::Forward { generation }),
            None => {
                let ring = self.ctx.timings.dial_ring.as_millis() as u64;
                self.arm(myself, ring, Timer::DialGiveUp { generation });
            }
        }
    }

    /// A scenario's transfer to an outside number: rings it through the trunk (the caller
    /// hears ringing, and is answered when it answers); nobody answering is reported to
    /// routing as for a dial.
    async fn transfer_out(&mut self, myself: &ActorRef<CallMsg>, t: routing::Transfer) {
        self.set_phase(Phase::Dialing);
        self.dial = Some(DialState {
            forward: None,
            forwarded: true,
            ringing_sent: false,
            request: None,
        });
        info!(call = %self.id, number = %t.number, trunk = %t.trunk_id, "transferring to an outside number");
        let trunk = (!t.trunk_id.is_empty()).then_some(t.trunk_id.as_str());
        if !self.dial_outside(myself, &t.number, trunk).await {
            self.dial_finished(myself, routing::DialOutcome::Unreachable)
                .await;
        }
    }

    /// Stops the caller's prompt, if one plays (the outbox does it: nothing waits on it).
    pub(super) fn stop_prompt(&mut self) {
        let (Some(a), Some(_)) = (self.a.clone(), self.playback.take()) else {
            return;
        };
        let r = media::EndpointRef { endpoint_id: a };
        notify!(self, "media: stop play", media, stop_play, r);
    }

    /// Stops the desk phones and rings the mobile through the trunk.
    async fn forward(&mut self, myself: &ActorRef<CallMsg>, f: routing::Forward) {
        if let Some(d) = self.dial.as_mut() {
            d.forwarded = true;
        }
        for i in 0..self.legs.len() {
            if matches!(self.legs[i].kind, LegKind::Direct(_)) {
                self.cancel_leg(i);
            }
        }
        info!(call = %self.id, number = %f.number, "forwarding to mobile");
        self.dial_outside(myself, &f.number, Some(&f.trunk_id))
            .await;
    }

    /// Rings an outside number through the trunk `trunk` (the first one when `None`); the
    /// ring gives up after `dial_ring`. False when there is no such trunk.
    async fn dial_outside(
        &mut self,
        myself: &ActorRef<CallMsg>,
        number: &str,
        trunk: Option<&str>,
    ) -> bool {
        let config = self.ctx.config();
        let target = config
            .trunks
            .iter()
            .find(|t| trunk.is_none_or(|id| t.id == id))
            .map(|t| t.target);
        let generation = self.next_generation();
        let ring = self.ctx.timings.dial_ring.as_millis() as u64;
        self.arm(myself, ring, Timer::DialGiveUp { generation });
        let Some(target) = target else {
            warn!(call = %self.id, trunk = ?trunk, "no trunk to dial an outside number");
            return false;
        };
        let contact = DeviceContact {
            uri: sip::addr_uri(number, target),
            dest: Peer::Udp(target),
        };
        let to = sip::addr_uri(number, target);
        if self.ensure_b(myself).await {
            self.start_leg(LegKind::Trunk, contact, to);
        }
        true
    }

    pub(super) async fn dial_finished(
        &mut self,
        myself: &ActorRef<CallMsg>,
        outcome: routing::DialOutcome,
    ) {
        if self.callback.is_some() {
            // A callback's employee did not take it: the customer is not dialled.
            for i in 0..self.legs.len() {
                self.cancel_leg(i);
            }
            let why = format!("the employee did not take the callback ({outcome:?})");
            return self.callback_failed(myself, Placed::Failed(why)).await;
        }
        let request = self.dial.as_ref().and_then(|d| d.request.clone());
        if outcome == routing::DialOutcome::Busy && self.busy_is_choice(request.as_ref()) {
            for i in 0..self.legs.len() {
                self.cancel_leg(i);
            }
            if let Some(dial) = request {
                return self.offer_busy_choices(myself, dial).await;
            }
        }
        self.report_dial(myself, outcome).await;
    }

    /// Routing hears how the dial ended and decides what follows.
    pub(super) async fn report_dial(
        &mut self,
        myself: &ActorRef<CallMsg>,
        outcome: routing::DialOutcome,
    ) {
        if self.phase == Phase::Ending {
            return;
        }
        // The dial is over, announced or not: the next answer is connected as usual.
        self.announcing = None;
        for i in 0..self.legs.len() {
            self.cancel_leg(i);
        }
        self.set_phase(Phase::Routing);
        self.facts.dial_outcome = outcome as i32;
        self.outcome = Some(Outcome::Dial(outcome as i32));
        // Routing may dial again, which may finish here again: the cycle is boxed.
        Box::pin(self.decide(myself)).await;
    }

    // ----- transfer -----

    /// The connected leg a transfer hands the caller away from.
    pub(super) fn connected_leg(&self) -> Result<usize, TransferError> {
        // An agent placing a callback has nobody to transfer until the customer answers.
        let customer_missing = self.callback.as_ref().is_some_and(|c| !c.reached);
        match (self.phase, self.winner) {
            (Phase::Ending, _) => Err(TransferError::Gone),
            (Phase::Talking, Some(_)) if customer_missing => Err(TransferError::NotConnected),
            (Phase::Talking, Some(i)) => Ok(i),
            _ => Err(TransferError::NotConnected),
        }
    }

    /// Blind transfer: hangs up the connected leg and sends the caller to `target` (a
    /// department's or an employee's extension, or an outside number), with music meanwhile.
    /// When the connected phone asked for it with a REFER (`refer`), it is told the transfer
    /// is made (a final NOTIFY with `200 OK`) before it is hung up. `announced` (an
    /// employee or a department) presents the caller to the employee, or the agent the
    /// queue offers them to, first, as a screening's announcement does (R-31, R-50).
    async fn transfer(
        &mut self,
        myself: &ActorRef<CallMsg>,
        target: String,
        refer: Option<ReferSubscription>,
        announced: bool,
    ) -> Result<(), TransferError> {
        let i = self.connected_leg()?;
        let goal = transfer::goal(&self.ctx.config(), &target)?;
        if announced && matches!(goal, Goal::Outside) {
            return Err(TransferError::NotAnnounceable(target));
        }
        info!(call = %self.id, %target, announced, "transfer");
        if let Some(sub) = refer {
            self.notify_refer(sub, 200);
        }
        self.let_go_of_callee(i).await;
        self.emit(CallEvent::Transferred {
            id: self.id.clone(),
            target: target.clone(),
        });
        self.music(myself).await;
        match goal {
            Goal::Queue(department_id) => {
                let q = routing::Queue {
                    department_id,
                    priority: 0,
                };
                if announced {
                    self.announce_to(myself, Announced::Queue(q)).await;
                } else {
                    self.enqueue(myself, q).await;
                }
            }
            Goal::Employee(employee_id) => {
                let d = routing::Dial {
                    employee_id,
                    forward: None,
                    announce: announced,
                };
                self.dial(myself, d).await;
            }
            Goal::Outside => {
                self.set_phase(Phase::Dialing);
                self.dial = Some(DialState {
                    forward: None,
                    forwarded: true,
                    ringing_sent: true,
                    request: None,
                });
                self.dial_outside(myself, &target, None).await;
            }
        }
        Ok(())
    }

    /// The connected callee (leg `i`) goes: hung up (to wrap-up), unbridged, its media
    /// endpoint gone, and the call out of its scenario (if what comes next does not
    /// answer, routing ends it politely rather than taking it back into the scenario).
    async fn let_go_of_callee(&mut self, i: usize) {
        self.release_connected(i).await;
        self.send_in_dialog(i, Method::Bye);
        self.clear_hold();
        self.winner = None;
        self.queued = None;
        self.dial = None;
        self.cursor.clear();
        self.scenario = None;
        if let Some(a) = self.a.clone() {
            let mut m = self.media_client();
            let r = media::EndpointRef { endpoint_id: a };
            if let Err(e) = rpc(self.timeout(), m.unbridge(r)).await {
                debug!(call = %self.id, error = %e, "unbridge failed");
            }
        }
        if let Some((b, _)) = self.b.take() {
            self.destroy_endpoint(b);
        }
        self.ctx.registry.update(self.no, |info| {
            info.agent = None;
            info.connected_unix_ms = None;
        });
    }

    /// An agent puts the caller into a scenario by hand (R-60 "by option": the caller fell
    /// into the wrong one): the agent's leg goes as in a blind transfer, and the call walks
    /// `scenario` from its start. `by` is the agent who did (default: the one connected).
    async fn run_scenario(
        &mut self,
        myself: &ActorRef<CallMsg>,
        scenario: String,
        by: Option<String>,
    ) -> Result<(), TransferError> {
        let i = self.connected_leg()?;
        if self.is_edge_leg() {
            return Err(TransferError::Unsupported(
                "the call is another sip-edge node's: ask that node".into(),
            ));
        }
        if self.ctx.config().scenario(&scenario).is_none() {
            return Err(TransferError::NoScenario(scenario));
        }
        let by = by.or_else(|| match &self.legs[i].kind {
            LegKind::Queue(agent) | LegKind::Direct(agent) => Some(agent.clone()),
            LegKind::Trunk | LegKind::Customer => None,
        });
        info!(call = %self.id, %scenario, agent = ?by, "an agent runs a scenario for the call");
        self.let_go_of_callee(i).await;
        self.leave_operation();
        self.emit(CallEvent::Scenario {
            id: self.id.clone(),
            scenario: scenario.clone(),
            by,
        });
        self.scenario = Some(scenario.clone());
        self.start_scenario = Some(scenario);
        // Routing starts the scenario afresh: how an earlier dial ended is no longer news.
        self.facts.dial_outcome = 0;
        self.outcome = None;
        self.set_phase(Phase::Routing);
        self.music(myself).await;
        Box::pin(self.decide(myself)).await;
        Ok(())
    }

    /// A REFER in one of the call's dialogs (RFC 3515): the connected phone transfers the
    /// caller blind. Refused outright (403) from anyone but the connected phone, and when
    /// it names no usable target ([`transfer::refer_target`]). Otherwise accepted (202) and
    /// carried out as the API's transfer is, the phone told by NOTIFY: `100 Trying`, then
    /// `200 OK` just before its leg is hung up, or the failure (`404 Not Found` for a
    /// target that reaches nothing), after which the call stays connected.
    async fn on_refer(
        &mut self,
        myself: &ActorRef<CallMsg>,
        tx: TxHandle,
        request: &Request,
        peer: Peer,
        side: Side,
        tag: &str,
    ) {
        let local = self.ctx.local.clone();
        let asked = self
            .refer_leg(side)
            .and_then(|leg| Ok((leg, transfer::refer_target(request)?)));
        let (leg, asked) = match asked {
            Ok(asked) => asked,
            Err(refusal) => {
                info!(call = %self.id, status = refusal.status, reason = %refusal.reason, "REFER refused");
                let mut r = sip::response(request, refusal.status, tag, &local, peer, None);
                r.reason = refusal.reason;
                return self.send(FromCall::Respond { tx, response: r });
            }
        };
        let r = sip::response(request, 202, tag, &local, peer, None);
        self.send(FromCall::Respond { tx, response: r });
        let id = request.headers.cseq().map_or(0, |c| c.seq);
        let sub = ReferSubscription { leg, id };
        self.notify_refer(sub, 100);
        let target = asked.target.clone();
        let done = match asked.replaces {
            Some(replaces) => {
                info!(call = %self.id, %target, replaces = %replaces.call_id, "the connected phone hands the caller to the call it made (REFER with Replaces)");
                self.attended_transfer(myself, sub, target, replaces).await
            }
            None => {
                info!(call = %self.id, %target, "the connected phone transfers the call (REFER)");
                self.transfer(myself, target, Some(sub), false).await
            }
        };
        if let Err(e) = done {
            info!(call = %self.id, error = %e, "transfer asked by REFER not made");
            self.notify_refer(sub, transfer::failure_status(&e));
        }
    }

    /// The leg a REFER from `side` may transfer the call from: the connected one. Not in
    /// a call another sip-edge node rang this node's phone for: that node holds the call
    /// (and its agent), and transferring here would leave it behind.
    fn refer_leg(&self, side: Side) -> Result<usize, Refusal> {
        if self.is_edge_leg() {
            return Err(Refusal::new(
                501,
                "transfer by REFER from a phone rung through another sip-edge node is not supported yet",
            ));
        }
        match (side, self.connected_leg()) {
            (Side::Leg(i), Ok(connected)) if i == connected => Ok(i),
            (Side::Caller, _) => Err(Refusal::new(
                403,
                "only the phone that took the call can transfer it",
            )),
            _ => Err(Refusal::new(403, "the call is not connected")),
        }
    }

    /// Tells the phone that sent an accepted REFER how its transfer goes: `status` as a
    /// sipfrag, the subscription ending with a final one.
    pub(super) fn notify_refer(&mut self, sub: ReferSubscription, status: u16) {
        self.send_on_leg(sub.leg, |dialog| {
            cc_sip::refer::notify(dialog, sub.id, status)
        });
    }

    /// Tells queue and presence that the connected agent (if the call came from a queue) is
    /// done with it: the agent goes to wrap-up.
    pub(super) async fn release_connected(&mut self, i: usize) {
        let LegKind::Queue(agent) = self.legs[i].kind.clone() else {
            return;
        };
        let Some(Queued { wrap_up, .. }) = self.queued.clone() else {
            return;
        };
        let ended = queue::CallRequest {
            call_id: self.id.clone(),
        };
        notify!(self, "queue: call ended", queue, call_ended, ended);
        let ended = presence::CallEndedRequest {
            agent_id: agent,
            call_id: self.id.clone(),
            wrap_up_seconds: wrap_up,
        };
        notify!(self, "presence: call ended", presence, call_ended, ended);
    }

    pub(super) fn destroy_endpoint(&mut self, endpoint: String) {
        let r = media::EndpointRef {
            endpoint_id: endpoint,
        };
        notify!(self, "media: destroy endpoint", media, destroy_endpoint, r);
    }

    // ----- timers -----

    async fn on_timer(&mut self, myself: &ActorRef<CallMsg>, timer: Timer) {
        match timer {
            Timer::RingStart { agent, generation } => {
                let current = self
                    .targets
                    .get_mut(&agent)
                    .filter(|t| t.start_generation == generation && !t.started);
                if self.phase == Phase::Queued
                    && let Some(t) = current
                {
                    t.started = true;
                    self.ring_agent(myself, agent).await;
                }
            }
            Timer::RingStop { agent, generation } => {
                // An agent hearing who calls is past ringing: the queue keeps the call for
                // them until they choose.
                if self
                    .targets
                    .get(&agent)
                    .is_some_and(|t| t.stop_generation == generation)
                    && self.presented_to(&agent).is_none()
                {
                    debug!(call = %self.id, %agent, "ring time over without word from the queue");
                    self.stop_agent(&agent);
                }
            }
            Timer::Forward { generation } => {
                if generation == self.generation
                    && self.phase == Phase::Dialing
                    && let Some(f) = self.dial.as_ref().and_then(|d| d.forward.clone())
                {
                    self.forward(myself, f).await;
                }
            }
            Timer::DialGiveUp { generation } => {
                if generation == self.generation && self.phase == Phase::Dialing {
                    self.dial_finished(myself, routing::DialOutcome::NoAnswer)
                        .await;
                }
            }
            Timer::Position => {
                if self.phase != Phase::Queued {
                    return;
                }
                let mut q = self.queue_client();
                let request = queue::CallRequest {
                    call_id: self.id.clone(),
                };
                if let Ok(p) = rpc(self.timeout(), q.get_position(request)).await
                    && matches!(self.playback, Some((_, Purpose::Music)) | None)
                {
                    self.announce(myself, p.position, p.expected_wait_ms).await;
                }
                let every = self.announce_every_ms();
                self.arm(myself, every, Timer::Position);
            }
            Timer::Resend2xx { attempt } => {
                let Some(c) = &self.caller else { return };
                if c.acked || self.phase == Phase::Ending {
                    return;
                }
                if attempt >= RESEND_2XX_ATTEMPTS {
                    // RFC 3261 13.3.1.4: no ACK in 64*T1, the session is ended with BYE.
                    return self
                        .end(myself, Side::Nobody, "no ACK from the caller")
                        .await;
                }
                if let Some(ok) = c.ok.clone() {
                    let tx = c.tx;
                    self.send(FromCall::Respond { tx, response: ok });
                }
                let config = self.ctx.config();
                let sip = &config.sip;
                let delay = (sip.t1_ms << attempt.min(16)).min(sip.t2_ms);
                self.arm(
                    myself,
                    delay,
                    Timer::Resend2xx {
                        attempt: attempt + 1,
                    },
                );
            }
            Timer::Linger => self.finish(myself),
            Timer::CustomerGiveUp { generation } => {
                if generation == self.generation
                    && let Some(i) = self.callback.as_ref().and_then(|c| c.customer)
                    && self.legs[i].pending()
                {
                    let heard = self.legs[i].provisional;
                    self.cancel_leg(i);
                    if heard {
                        self.customer_failed(myself, 408).await;
                    } else {
                        let why = Placed::Failed("the trunk did not answer the INVITE".into());
                        self.callback_failed(myself, why).await;
                    }
                }
            }
            Timer::Requeue => self.requeue(myself).await,
            Timer::MaxWait { generation } => {
                if self.phase == Phase::Queued && generation == self.queue_generation {
                    info!(call = %self.id, "waited the longest allowed: leaving the queue");
                    if self.callback.is_some() {
                        self.leave_queue(true);
                        let why = "no agent took the callback in time".to_owned();
                        let failed = Placed::Failed(why);
                        return self.callback_failed(myself, failed).await;
                    }
                    self.leave_queue(true);
                    self.play(myself, vec!["unavailable".into()], false, Purpose::Goodbye)
                        .await;
                }
            }
            Timer::MenuDeadline { collection } => self.menu_overdue(myself, collection).await,
            Timer::MessageDeadline => self.message_done(myself).await,
            Timer::BusyDeadline { collection } => {
                self.busy_chosen(myself, collection, "").await;
            }
            Timer::BusyRetry => self.busy_retry(myself).await,
            Timer::AnnounceDeadline { collection } => {
                self.announce_keys(myself, collection, "").await;
            }
            Timer::PlayDeadline { playback } => {
                if self.playback.is_some_and(|(id, _)| id == playback) {
                    debug!(call = %self.id, playback, "playback end not reported: going on");
                    let done = media::MediaEvent {
                        endpoint_id: self.a.clone().unwrap_or_default(),
                        event: Some(MediaEv::PlayDone(media::PlayDone {
                            playback_id: playback,
                            stopped: false,
                        })),
                    };
                    Box::pin(self.on_media(myself, done)).await;
                }
            }
        }
    }

    // ----- the end -----

    /// Ends the call: every leg but `by` is hung up or cancelled, the queue entry, the
    /// agent and the media endpoints are released. The actor stays until its outbound
    /// INVITEs have their final responses (a late 2xx is then hung up), at most `linger`.
    pub(super) async fn end(&mut self, myself: &ActorRef<CallMsg>, by: Side, why: &str) {
        if self.phase == Phase::Ending {
            return;
        }
        // A caller hanging up while speaking leaves their message all the same.
        let why = if self.keep_message().await {
            "message left"
        } else if by == Side::Caller && self.phase == Phase::Queued && self.queued.is_some() {
            ABANDONED
        } else {
            why
        };
        self.call_back_if_lost(by, why);
        self.set_phase(Phase::Ending);
        info!(call = %self.id, reason = why, "call ended");
        self.settle(super::callback::Placed::Failed(why.to_owned()));
        self.leave_operation();
        self.emit(CallEvent::Ended {
            id: self.id.clone(),
            reason: why.to_owned(),
        });
        if by != Side::Caller {
            if self.caller.as_ref().is_some_and(|c| !c.final_sent) {
                self.respond_caller(480, None);
            } else {
                self.bye_caller();
            }
        }
        // A callee hearing an announcement has answered: it needs a BYE, not a CANCEL.
        let presented = self.presented_leg();
        self.announcing = None;
        self.busy = None;
        self.choices = None;
        self.menu = None;
        for i in 0..self.legs.len() {
            if self.winner == Some(i) || presented == Some(i) || self.customer_on_line(i) {
                if by != Side::Leg(i) && !self.legs[i].bye_received {
                    self.send_in_dialog(i, Method::Bye);
                }
            } else {
                self.cancel_leg(i);
            }
        }
        if let Some(i) = self.winner {
            self.release_connected(i).await;
        }
        if self.queued.is_some() {
            // Also after an answer: if the queue missed the answer (it was slow and the plan
            // ran out meanwhile), it would otherwise keep offering a call that has ended. On
            // a call it no longer holds this is refused, harmlessly.
            let left = queue::CallRequest {
                call_id: self.id.clone(),
            };
            notify!(self, "queue: abandoned", queue, abandon, left);
        }
        for endpoint in [self.a.take(), self.b.take().map(|(e, _)| e)]
            .into_iter()
            .flatten()
        {
            self.destroy_endpoint(endpoint);
        }
        self.maybe_finish(myself);
    }

    fn bye_caller(&mut self) {
        let local = self.ctx.local.clone();
        let Some(c) = self.caller.as_mut() else {
            return;
        };
        let Some(dialog) = c.dialog.as_mut() else {
            return;
        };
        let branch = format!("{}{}", cc_sip::header::BRANCH_MAGIC, random_token());
        let request = sip::with_via(
            dialog.request(Method::Bye),
            &local,
            c.peer.transport(),
            &branch,
        );
        let dest = c.peer;
        self.send(FromCall::Request {
            call: self.no,
            request,
            dest,
        });
    }

    fn maybe_finish(&mut self, myself: &ActorRef<CallMsg>) {
        if self.phase != Phase::Ending {
            return;
        }
        if self.legs.iter().all(|l| !l.pending()) {
            return self.finish(myself);
        }
        if !self.lingering {
            self.lingering = true;
            let linger = self.ctx.timings.linger.as_millis() as u64;
            self.arm(myself, linger, Timer::Linger);
        }
    }

    fn finish(&mut self, myself: &ActorRef<CallMsg>) {
        self.ctx.registry.remove(self.no);
        self.send(FromCall::Ended { call: self.no });
        myself.stop(None);
    }
}

/// How long after a playback's length the call stops waiting for its end to be reported.
pub(super) const PLAY_MARGIN_MS: u64 = 3000;
/// How long after the queue's ring stop the call stops ringing an agent by itself.
const SAFETY_MARGIN_MS: u64 = 3000;
/// 2xx retransmissions before giving up on the caller's ACK (T1 doubling to T2: ~32 s).
const RESEND_2XX_ATTEMPTS: u32 = 11;
