//! Voice messages into the store: follows a node's own event stream
//! (`cc.events.v1.Events/WatchEvents { local_only }`, i.e. what its sip-edge raised) and
//! keeps every `MessageLeft` as a message ([`MessageStore::ingest`], once per call), and
//! every `CallbackRequested` as one too ([`MessageStore::ingest_callback_request`]): a
//! promised callback is then never lost, and its recipient sees it, until the callback
//! scheduler dials such requests itself.
//!
//! Over gRPC even within one process (DESIGN.md section 1), which also gives the stream's
//! sequence numbers: a broken stream resumes after the last event seen, so a restart of the
//! stream loses no message the node still keeps. A message the store cannot take yet (the
//! coordinator out of reach) is tried again with back-off, the events behind it waiting,
//! until it is kept or the node stops.

use std::time::Duration;

use cc_common::Shutdown;
use cc_proto::events::v1 as events;
use cc_proto::events::v1::events_client::EventsClient;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use super::MessageError;
use super::record::{CallbackAsked, VoiceLeft};
use super::store::{Ingested, MessageStore};

/// The first pause before trying again (a stream or a write); doubled up to [`RETRY_MAX`].
const RETRY: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Follows the events at `events` (this node's own API) until `shutdown`, keeping every
/// voice message they report.
pub fn follow(store: MessageStore, events: Channel, mut shutdown: Shutdown) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut stop = shutdown.clone();
        tokio::select! {
            () = run(store, EventsClient::new(events), &mut stop) => {}
            () = shutdown.wait() => {}
        }
    })
}

async fn run(store: MessageStore, mut client: EventsClient<Channel>, shutdown: &mut Shutdown) {
    // From the first event the node numbered: a message left before this task first
    // connected (the API starts after the services) is not missed.
    let mut next = 1;
    let mut pause = RETRY;
    loop {
        let request = events::WatchEventsRequest {
            from_sequence: next,
            local_only: true,
        };
        match client.watch_events(request).await {
            Ok(stream) => {
                let mut stream = stream.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(event)) => {
                            pause = RETRY;
                            next = event.sequence + 1;
                            match &event.event {
                                Some(events::event::Event::MessageLeft(left)) => {
                                    let left = VoiceLeft::from_event(left, event.unix_ms);
                                    keep(&store, Kept::Voice(left), shutdown).await;
                                }
                                Some(events::event::Event::CallbackRequested(asked)) => {
                                    let kept = Kept::callback(asked, event.unix_ms);
                                    keep(&store, kept, shutdown).await;
                                }
                                _ => {}
                            }
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
