//! Voice messages and callback requests into the stores: follows a node's own event stream
//! (`cc.events.v1.Events/WatchEvents { local_only }`, i.e. what its sip-edge raised) and
//! keeps every `MessageLeft` as a message ([`MessageStore::ingest`], once per call). Every
//! `CallbackRequested` goes to the callback scheduler ([`Scheduling`]: its
//! `cc.callbacks.v1.Callbacks/ScheduleCallback`, with the call's id as the callback's, so a
//! request read twice is scheduled once); where the cluster runs no scheduler, or the
//! scheduler refuses it for good (full, or the request is one it cannot take), it is kept
//! as a message instead ([`MessageStore::ingest_callback_request`]): a promised callback is
//! never lost, and its recipient sees it.
//!
//! Over gRPC even within one process (DESIGN.md section 1), which also gives the stream's
//! sequence numbers: a broken stream resumes after the last event seen, so a restart of the
//! stream loses no message the node still keeps. A message the store cannot take yet (the
//! coordinator out of reach) is tried again with back-off, the events behind it waiting,
//! until it is kept or the node stops.

use std::time::Duration;

use cc_cluster::Members;
use cc_common::Shutdown;
use cc_proto::callbacks::v1 as callbacks;
use cc_proto::callbacks::v1::callbacks_client::CallbacksClient;
use cc_proto::events::v1 as events;
use cc_proto::events::v1::events_client::EventsClient;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use super::MessageError;
use super::record::{CallbackAsked, LostCall, VoiceLeft};
use super::store::{Ingested, MessageStore};

/// The first pause before trying again (a stream or a write); doubled up to [`RETRY_MAX`].
const RETRY: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How long a callback request waits for the scheduler nodes to be known (just after
/// start) before it is kept as a message instead.
const FIRST_MEMBERS: Duration = Duration::from_secs(5);

/// Where callback requests are scheduled.
#[derive(Debug, Clone)]
pub struct Scheduling {
    /// The scheduler nodes (service `callback`): any of them takes a request (forwarding
    /// it to the leader).
    pub nodes: Members,
    /// How long a callback asked for during a call may be tried: its window.
    pub window: Duration,
}

/// Follows the events at `events` (this node's own API) until `shutdown`, keeping every
/// voice message they report, and scheduling every callback request through `scheduling`
/// (kept as a message without it).
pub fn follow(
    store: MessageStore,
    events: Channel,
    scheduling: Option<Scheduling>,
    mut shutdown: Shutdown,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut stop = shutdown.clone();
        let keeper = Keeper { store, scheduling };
        tokio::select! {
            () = run(keeper, EventsClient::new(events), &mut stop) => {}
            () = shutdown.wait() => {}
        }
    })
}

/// Where what the events report is kept.
struct Keeper {
    store: MessageStore,
    scheduling: Option<Scheduling>,
}

async fn run(keeper: Keeper, mut client: EventsClient<Channel>, shutdown: &mut Shutdown) {
    // From the first event the node numbered: a message left before this task first
    // connected (the API starts after the services) is not missed.
    let mut next = 1;
    let mut pause = RETRY;
    loop {
        let request = events::WatchEventsRequest {
            from_sequence: next,
            local_only: true,
            from_oldest: false,
        };
        match client.watch_events(request).await {
            Ok(stream) => {
                let mut stream = stream.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(event)) => {
                            pause = RETRY;
                            next = event.sequence + 1;
                            keeper.take(&event, shutdown).await;
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!(error = %e, "messages: the event stream broke");
                            break;
                        }
                    }
                }
            }
            Err(e) if e.code() == tonic::Code::OutOfRange => {
                tracing::error!(
                    error = %e,
                    "messages: events were dropped before they could be read; a voice message among them is not in the store (its recording is in the recordings directory)"
                );
                next = 0;
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "messages: the node's events are not reachable yet")
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RETRY_MAX);
    }
}

impl Keeper {
    /// Keeps what one event asks for: a voice message, or a callback (scheduled, else
    /// kept as a message).
    async fn take(&self, event: &events::Event, shutdown: &mut Shutdown) {
        match &event.event {
            Some(events::event::Event::MessageLeft(left)) => {
                let left = VoiceLeft::from_event(left, event.unix_ms);
                keep(&self.store, Kept::Voice(left), shutdown).await;
            }
            Some(events::event::Event::CallbackRequested(asked)) => {
                let scheduled = self.schedule(asked, shutdown).await;
                if !scheduled {
                    let kept = Kept::callback(asked, event.unix_ms);
                    keep(&self.store, kept, shutdown).await;
                }
            }
            _ => {}
        }
    }

    /// Schedules a callback request with the scheduler, trying again while it is out of
    /// reach; false when there is none, or it refused the request for good (then it is kept
    /// as a message).
    async fn schedule(&self, asked: &events::CallbackRequested, shutdown: &mut Shutdown) -> bool {
        let Some(scheduling) = &self.scheduling else {
            return false;
        };
        let request = schedule_request(asked, scheduling.window);
        let what = format!("call {}", asked.call_id);
        schedule(scheduling, request, &what, shutdown).await
    }
}

/// Schedules `request` (asked for by `what`, for the logs) with the scheduler nodes of
/// `scheduling`, trying again while they are out of reach; false when there is none, or
/// it refused the request for good.
pub async fn schedule(
    scheduling: &Scheduling,
    request: callbacks::ScheduleCallbackRequest,
    what: &str,
    shutdown: &mut Shutdown,
) -> bool {
    let mut pause = RETRY;
    // Just after start the scheduler nodes may not be known yet: give them a moment.
    let mut nodes = scheduling.nodes.subscribe();
    let _ = tokio::time::timeout(FIRST_MEMBERS, nodes.wait_for(|nodes| !nodes.is_empty())).await;
    loop {
        if scheduling.nodes.current().is_empty() {
            tracing::warn!(
                what,
                "no callback scheduler in the cluster: the callback is not scheduled"
            );
            return false;
        }
        let mut client = CallbacksClient::new(scheduling.nodes.route());
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            client.schedule_callback(request.clone()),
        )
        .await
        .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("no answer in time")));
        match answer {
            Ok(r) => {
                let r = r.into_inner();
                let id = r.callback.map(|c| c.callback_id).unwrap_or_default();
                tracing::info!(what, callback = %id, merged = r.merged, "callback scheduled");
                return true;
            }
            Err(e) if e.code() == tonic::Code::AlreadyExists => return true,
            Err(e)
                if matches!(
                    e.code(),
                    tonic::Code::Unavailable
                        | tonic::Code::DeadlineExceeded
                        | tonic::Code::Cancelled
                        | tonic::Code::Unknown
                ) =>
            {
                tracing::warn!(what, error = %e, retry_in = ?pause, "callbacks: the scheduler is not reachable yet");
            }
            Err(e) => {
                tracing::error!(what, error = %e, "the scheduler refused a callback request");
                return false;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = shutdown.wait() => return false,
        }
        pause = (pause * 2).min(RETRY_MAX);
    }
}

/// The scheduler's request for a callback asked for during call `asked.call_id` (whose id
/// it takes, so that reading the event twice schedules it once).
fn schedule_request(
    asked: &events::CallbackRequested,
    window: Duration,
) -> callbacks::ScheduleCallbackRequest {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let target = if asked.department_id.is_empty() {
        callbacks::target::Target::EmployeeId(asked.employee_id.clone())
    } else {
        callbacks::target::Target::DepartmentId(asked.department_id.clone())
    };
    let (source, enqueued_at_unix_ms, reason) =
        match (LostCall::from_event(asked.lost), asked.keeps_place) {
            (Some(LostCall::Abandoned), _) => (
                callbacks::Source::Abandoned,
                0,
                "hung up while waiting in line",
            ),
            (Some(LostCall::Missed), _) => {
                (callbacks::Source::Missed, 0, "called and nobody answered")
            }
            (None, true) => (
                callbacks::Source::VirtualHold,
                asked.enqueued_at_unix_ms,
                "chose a callback while waiting in line",
            ),
            (None, false) => (
                callbacks::Source::Offer,
                0,
                "accepted the offer of a callback",
            ),
        };
    callbacks::ScheduleCallbackRequest {
        callback_id: format!("call-{}", asked.call_id),
        number: asked.number.clone(),
        name: String::new(),
        reason: reason.into(),
        target: Some(callbacks::Target {
            target: Some(target),
        }),
        source: source.into(),
        earliest_unix_ms: 0,
        latest_unix_ms: now.saturating_add(window.as_millis() as u64),
        time_zone: String::new(),
        enqueued_at_unix_ms,
        priority: asked.priority.min(255),
        max_attempts: 0,
    }
}

/// What an event leaves in the store.
#[derive(Debug, Clone)]
enum Kept {
    Voice(VoiceLeft),
    Callback {
        recipient_id: String,
        asked: CallbackAsked,
        at: Option<crate::core::Timestamp>,
    },
}

impl Kept {
    fn callback(e: &events::CallbackRequested, unix_ms: u64) -> Kept {
        let recipient_id = if e.department_id.is_empty() {
            e.employee_id.clone()
        } else {
            e.department_id.clone()
        };
        Kept::Callback {
            recipient_id,
            asked: CallbackAsked {
                call_id: e.call_id.clone(),
                number: e.number.clone(),
                enqueued_at_unix_ms: e.enqueued_at_unix_ms,
                priority: e.priority,
                keeps_place: e.keeps_place,
                lost: LostCall::from_event(e.lost),
            },
            at: i64::try_from(unix_ms)
                .ok()
                .filter(|ms| *ms > 0)
                .map(crate::core::Timestamp::from_unix_ms),
        }
    }

    fn call_id(&self) -> &str {
        match self {
            Kept::Voice(v) => &v.call_id,
            Kept::Callback { asked, .. } => &asked.call_id,
        }
    }
}

/// Keeps one voice message or callback request, trying again while the store is out of
/// reach.
async fn keep(store: &MessageStore, kept: Kept, shutdown: &mut Shutdown) {
    let mut pause = RETRY;
    let call = kept.call_id().to_owned();
    loop {
        let result = match kept.clone() {
            Kept::Voice(left) => store.ingest(left).await,
            Kept::Callback {
                recipient_id,
                asked,
                at,
            } => {
                store
                    .ingest_callback_request(&recipient_id, asked, at)
                    .await
            }
        };
        match result {
            Ok(Ingested::Created(stored)) => {
                return tracing::info!(
                    message = %stored.message.id,
                    recipient = stored.message.recipient_id(),
                    %call,
                    "message kept"
                );
            }
            Ok(Ingested::Existing(stored)) => {
                return tracing::debug!(message = %stored.message.id, "message already kept");
            }
            Err(MessageError::Unavailable(e)) => {
                tracing::warn!(%call, error = %e, retry_in = ?pause, "messages: cannot keep a message yet");
            }
            Err(e) => {
                return tracing::error!(%call, error = %e, "messages: a message cannot be kept");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = shutdown.wait() => return,
        }
        pause = (pause * 2).min(RETRY_MAX);
    }
}
