//! `cc.messages.v1.Messages`: the message store seen from gRPC. Handlers only convert (see
//! [`super::convert`]); every rule is the record's and the store's.
//!
//! Any node answers, from the cluster's coordinator; a recording is read from the
//! recordings directory of the node asked.

use std::path::PathBuf;
use std::pin::Pin;

use cc_common::Shutdown;
use cc_proto::callbacks::v1 as callbacks;
use cc_proto::messages::v1 as pb;
use cc_proto::messages::v1::messages_server::{Messages, MessagesServer};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::convert;
use super::ingest::{self, Scheduling};
use super::record::{CallbackTime, Message, Recipient};
use super::recording;
use super::store::MessageStore;
use super::watch;

/// The Messages service over one node's view of the store.
#[derive(Debug, Clone)]
pub struct MessagesApi {
    store: MessageStore,
    /// Where this node's media engine writes recordings (`[media] recordings_dir`).
    recordings_dir: PathBuf,
    /// Where a message's callback is scheduled, until the node stops.
    scheduling: Option<(Scheduling, Shutdown)>,
}

impl MessagesApi {
    /// The service (without the tonic wrapper, e.g. for tests).
    pub fn new(store: MessageStore, recordings_dir: impl Into<PathBuf>) -> Self {
        Self {
            store,
            recordings_dir: recordings_dir.into(),
            scheduling: None,
        }
    }

    /// A message taken with a callback number and a preferred window also
    /// schedules its callback through `scheduling` (`SOURCE_MESSAGE`, id
    /// `message-<message id>`, in the background: the message is kept either way).
    pub fn with_callbacks(mut self, scheduling: Scheduling, shutdown: Shutdown) -> Self {
        self.scheduling = Some((scheduling, shutdown));
        self
    }

    /// Schedules the callback `message` asks for, if any, in the background.
    fn schedule_callback(&self, message: &Message) {
        let Some((scheduling, shutdown)) = &self.scheduling else {
            return;
        };
        let Some(request) = callback_request(message) else {
            return;
        };
        let (scheduling, mut shutdown) = (scheduling.clone(), shutdown.clone());
        let what = format!("message {}", message.id.as_str());
        tokio::spawn(async move {
            if !ingest::schedule(&scheduling, request, &what, &mut shutdown).await {
                tracing::warn!(
                    what,
                    "the message's callback is not scheduled: the message holds the request"
                );
            }
        });
    }

    /// The tonic server.
    pub fn server(
        store: MessageStore,
        recordings_dir: impl Into<PathBuf>,
    ) -> MessagesServer<MessagesApi> {
        MessagesServer::new(Self::new(store, recordings_dir))
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::MessageEvent, Status>> + Send>>;
type ChunkStream = Pin<Box<dyn Stream<Item = Result<pb::RecordingChunk, Status>> + Send>>;

#[tonic::async_trait]
impl Messages for MessagesApi {
    async fn create_message(
        &self,
        request: Request<pb::CreateMessageRequest>,
    ) -> Result<Response<pb::Message>, Status> {
        let (id, new) = convert::create(request.into_inner())?;
        let stored = self.store.create(id, new).await.map_err(convert::status)?;
        self.schedule_callback(&stored.message);
        Ok(Response::new(convert::message(
            &stored.message,
            stored.etag,
        )))
    }

    async fn get_message(
        &self,
        request: Request<pb::GetMessageRequest>,
    ) -> Result<Response<pb::Message>, Status> {
        let id = convert::id(&request.get_ref().message_id)?;
        let stored = self.store.get(&id).await.map_err(convert::status)?;
        Ok(Response::new(convert::message(
            &stored.message,
            stored.etag,
        )))
    }

    async fn list_messages(
        &self,
        request: Request<pb::ListMessagesRequest>,
    ) -> Result<Response<pb::ListMessagesResponse>, Status> {
        let query = convert::list(request.get_ref())?;
        let page = self.store.list(&query).await.map_err(convert::status)?;
        Ok(Response::new(pb::ListMessagesResponse {
            messages: page
                .messages
                .iter()
                .map(|s| convert::message(&s.message, s.etag))
                .collect(),
            next_page_token: page
                .next
                .as_ref()
                .map(convert::page_token)
                .unwrap_or_default(),
            revision: u64::try_from(page.revision).unwrap_or(0),
        }))
    }

    async fn update_message(
        &self,
        request: Request<pb::UpdateMessageRequest>,
    ) -> Result<Response<pb::Message>, Status> {
        let (id, etag, edit) = convert::update(request.into_inner())?;
        let stored = self
            .store
            .update(&id, etag, edit)
            .await
            .map_err(convert::status)?;
        Ok(Response::new(convert::message(
            &stored.message,
            stored.etag,
        )))
    }

    async fn delete_message(
        &self,
        request: Request<pb::DeleteMessageRequest>,
    ) -> Result<Response<pb::DeleteMessageResponse>, Status> {
        let request = request.get_ref();
        let id = convert::id(&request.message_id)?;
        let etag = convert::etag(&request.etag)?;
        self.store
            .delete(&id, etag)
            .await
            .map_err(convert::status)?;
        Ok(Response::new(pb::DeleteMessageResponse {}))
    }

    type WatchMessagesStream = EventStream;

    async fn watch_messages(
        &self,
        request: Request<pb::WatchMessagesRequest>,
    ) -> Result<Response<Self::WatchMessagesStream>, Status> {
        let (from, recipient) = convert::watch(request.get_ref())?;
        let changes = watch::watch(self.store.coordinator(), from)
            .await
            .map_err(convert::watch_status)?;
        let stream = ReceiverStream::new(changes).filter_map(move |change| match change {
            Ok(change) => convert::event(change, recipient.as_deref()).map(Ok),
            Err(e) => Some(Err(convert::watch_status(e))),
        });
        Ok(Response::new(Box::pin(stream)))
    }

    type GetMessageRecordingStream = ChunkStream;

    async fn get_message_recording(
        &self,
        request: Request<pb::GetMessageRecordingRequest>,
    ) -> Result<Response<Self::GetMessageRecordingStream>, Status> {
        let id = convert::id(&request.get_ref().message_id)?;
        let stored = self.store.get(&id).await.map_err(convert::status)?;
        let dir = self.recordings_dir.clone();
        // Opened before answering, so that a missing file is the call's status.
        let opened = tokio::task::spawn_blocking(move || recording::open(&dir, &stored.message))
            .await
            .map_err(|e| Status::internal(format!("reading the recording failed: {e}")))?
            .map_err(convert::recording_status)?;
        let total_bytes = opened.total_bytes;
        let id = id.to_string();
        let stream = ReceiverStream::new(recording::chunks(opened)).map(move |chunk| match chunk {
            Ok(data) => Ok(pb::RecordingChunk { data, total_bytes }),
            Err(e) => Err(Status::internal(format!(
                "message_id: reading the recording of message {id:?} failed: {e}"
            ))),
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// The callback a message asks for: one with a number and a preferred window, for an
/// employee or department of the configuration. A time said in words ("after 3 pm") is for
/// the recipient to read.
fn callback_request(message: &Message) -> Option<callbacks::ScheduleCallbackRequest> {
    let number = message.callback_number.as_ref()?;
    let Some(CallbackTime::Window { earliest, latest }) = &message.callback_time else {
        return None;
    };
    let target = match &message.recipient {
        Recipient::Employee(e) => callbacks::target::Target::EmployeeId(e.as_str().to_owned()),
        Recipient::Department(d) => callbacks::target::Target::DepartmentId(d.as_str().to_owned()),
        Recipient::Unlisted(_) => return None,
    };
    let reason: String = message.substance.chars().take(200).collect();
    Some(callbacks::ScheduleCallbackRequest {
        callback_id: callback_id(message.id.as_str()),
        number: number.as_str().to_owned(),
        name: message.caller.name.clone(),
        reason: if reason.is_empty() {
            "left a message".into()
        } else {
            reason
        },
        target: Some(callbacks::Target {
            target: Some(target),
        }),
        source: callbacks::Source::Message.into(),
        earliest_unix_ms: u64::try_from(earliest.unix_ms()).unwrap_or(0),
        latest_unix_ms: u64::try_from(latest.unix_ms()).unwrap_or(0),
        time_zone: String::new(),
        enqueued_at_unix_ms: 0,
        priority: 0,
        max_attempts: 0,
    })
}

/// The id of a message's callback: `message-<message id>`, or of its SHA-256 when that
/// would be longer than a callback id may be (128).
fn callback_id(message: &str) -> String {
    let id = format!("message-{message}");
    if id.len() <= 128 {
        return id;
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(message.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("message-{hex}")
}

#[cfg(test)]
mod tests {
    use super::callback_id;

    #[test]
    fn a_messages_callback_id_is_derived_from_its_id_and_never_too_long() {
        assert_eq!(callback_id("m-1"), "message-m-1");
        let long = "x".repeat(128);
        let id = callback_id(&long);
        assert!(id.len() <= 128, "{id}");
        assert_eq!(
            id,
            callback_id(&long),
            "the same message, the same callback"
        );
        assert_ne!(id, callback_id(&"y".repeat(128)));
    }
}
