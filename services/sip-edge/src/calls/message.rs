//! Taking a message, as routing's TakeMessage step asks: the caller is answered
//! (a recording needs the caller's audio, which many phones send only once answered),
//! hears "leave-message" (name, company, what about, when to call back) and the tone, and
//! speaks. The recording ends with a key (# as the prompt says), after
//! [`MAX_MESSAGE_MS`], or when the caller hangs up: a message is kept in every case. The
//! caller then hears the number they will be called back at, digit by digit
//! ("message-number"), and "message-saved". The message is raised as a `MessageLeft` event
//! with its recording for the messages store.

use std::collections::HashMap;

use cc_proto::media::internal::v1 as media;
use cc_proto::routing::internal::v1 as routing;
use ractor::ActorRef;
use tracing::{info, warn};

use super::CallEvent;
use super::actor::{Call, CallMsg, PLAY_MARGIN_MS, Purpose, Timer};

/// The longest message: then the recording ends as if the caller pressed #.
pub(super) const MAX_MESSAGE_MS: u32 = 180_000;

/// A message being taken.
#[derive(Debug, Clone)]
pub(super) struct Taking {
    /// The employee or department id it is for.
    recipient: String,
    /// The recording's path, once it runs.
    recording: Option<String>,
    /// The key collection that ends it.
    collection: Option<u64>,
}

impl Call {
    /// Answers the caller and plays the invitation to speak; the recording starts when it
    /// ends.
    pub(super) async fn take_message(
        &mut self,
        myself: &ActorRef<CallMsg>,
        m: routing::TakeMessage,
    ) {
        if !self.answer(myself, None).await {
            return;
        }
        info!(call = %self.id, recipient = %m.recipient_id, "taking a message");
        self.message = Some(Taking {
            recipient: m.recipient_id,
            recording: None,
            collection: None,
        });
        self.play(
            myself,
            vec!["leave-message".into(), "tone".into()],
            false,
            Purpose::MessageIntro,
        )
        .await;
    }

    /// The invitation ended: record until a key, the longest message or the caller hangs up.
    pub(super) async fn record_message(&mut self, myself: &ActorRef<CallMsg>) {
        let (Some(taking), Some(endpoint)) = (self.message.clone(), self.a.clone()) else {
            return;
        };
        let metadata = HashMap::from([
            ("call_id".to_owned(), self.id.clone()),
            ("kind".to_owned(), "message".to_owned()),
            ("recipient".to_owned(), taking.recipient.clone()),
            (
                "caller_number".to_owned(),
                self.caller_number().unwrap_or_default().to_owned(),
            ),
        ]);
        let mut m = self.media_client();
        let started = tokio::time::timeout(
            self.timeout(),
            m.start_recording(media::StartRecordingRequest {
                endpoint_id: endpoint.clone(),
                file_name: format!("message-{}.wav", self.id),
                metadata,
            }),
        )
        .await;
        let path = match started {
            Ok(Ok(r)) => r.into_inner().path,
            Ok(Err(e)) => return self.message_failed(myself, &e.to_string()).await,
            Err(_) => return self.message_failed(myself, "no answer in time").await,
        };
        // Without a collection the message still ends with the caller hanging up, or at
        // the deadline.
        let collection = self
            .collect_key(endpoint, MAX_MESSAGE_MS, "#", false)
            .await
            .ok();
        if let Some(t) = &mut self.message {
            t.recording = Some(path);
            t.collection = collection;
        }
        self.arm(
            myself,
            u64::from(MAX_MESSAGE_MS) + PLAY_MARGIN_MS,
            Timer::MessageDeadline,
        );
    }

    /// Whether a key collection is the one that ends the message.
    pub(super) fn ends_message(&self, collection: u64) -> bool {
        self.message
            .as_ref()
            .is_some_and(|t| t.collection == Some(collection))
    }

    /// The caller pressed a key (or the longest message was reached): the message is kept,
    /// the number read back, and the call ends.
    pub(super) async fn message_done(&mut self, myself: &ActorRef<CallMsg>) {
        if !self.keep_message().await {
            return;
        }
        let mut prompts = self
            .caller_number()
            .map(super::waiting::read_back)
            .unwrap_or_default();
        prompts.push("message-saved".into());
        self.farewell = "message left";
        self.play(myself, prompts, false, Purpose::Goodbye).await;
    }

    /// Stops the recording of a message under way and raises it; false when none runs. The
    /// caller hanging up ends a message this way too.
    pub(super) async fn keep_message(&mut self) -> bool {
        let Some(taking) = self.message.take() else {
            return false;
        };
        let (Some(path), Some(endpoint)) = (taking.recording, self.a.clone()) else {
            return false;
        };
        let mut m = self.media_client();
        let stopped = tokio::time::timeout(
            self.timeout(),
            m.stop_recording(media::EndpointRef {
                endpoint_id: endpoint,
            }),
        )
        .await;
        let (path, seconds) = match stopped {
            Ok(Ok(r)) => {
                let r = r.into_inner();
                (r.path, r.seconds)
            }
            // The media node finishes the file when the endpoint goes: the message is there.
            Ok(Err(e)) => {
                warn!(call = %self.id, error = %e, "cannot stop the message's recording");
                (path, 0.0)
            }
            Err(_) => {
                warn!(call = %self.id, "cannot stop the message's recording: no answer in time");
                (path, 0.0)
            }
        };
        info!(call = %self.id, recipient = %taking.recipient, %path, seconds, "message left");
        self.emit(CallEvent::MessageLeft {
            id: self.id.clone(),
            recipient: taking.recipient,
            caller_number: self.caller_number().unwrap_or_default().to_owned(),
            recording_path: path,
            duration_ms: (seconds.max(0.0) * 1000.0).round() as u64,
            edge_node: self.ctx.services.node().to_owned(),
        });
        true
    }

    /// No recording can be made: the caller hears that nobody can take the call.
    async fn message_failed(&mut self, myself: &ActorRef<CallMsg>, why: &str) {
        warn!(call = %self.id, error = why, "cannot record the message");
        self.message = None;
        self.play(myself, vec!["unavailable".into()], false, Purpose::Goodbye)
            .await;
    }
}
