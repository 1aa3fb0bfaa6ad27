//! Voice messages into the store: follows a node's own event stream
//! (`cc.events.v1.Events/WatchEvents { local_only }`, i.e. what its sip-edge raised) and
//! keeps every `MessageLeft` as a message ([`MessageStore::ingest`], once per call).
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
use super::record::VoiceLeft;
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
                            if let Some(events::event::Event::MessageLeft(left)) = &event.event {
                                keep(&store, VoiceLeft::from_event(left, event.unix_ms), shutdown)
                                    .await;
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

/// Keeps one voice message, trying again while the store is out of reach.
async fn keep(store: &MessageStore, left: VoiceLeft, shutdown: &mut Shutdown) {
    let mut pause = RETRY;
    loop {
        match store.ingest(left.clone()).await {
            Ok(Ingested::Created(stored)) => {
                return tracing::info!(
                    message = %stored.message.id,
                    recipient = stored.message.recipient_id(),
                    call = %left.call_id,
                    "voice message kept"
                );
            }
            Ok(Ingested::Existing(stored)) => {
                return tracing::debug!(message = %stored.message.id, "voice message already kept");
            }
            Err(MessageError::Unavailable(e)) => {
                tracing::warn!(call = %left.call_id, error = %e, retry_in = ?pause, "messages: cannot keep a voice message yet");
            }
            Err(e) => {
                return tracing::error!(call = %left.call_id, error = %e, "messages: a voice message cannot be kept");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = shutdown.wait() => return,
        }
        pause = (pause * 2).min(RETRY_MAX);
    }
}
