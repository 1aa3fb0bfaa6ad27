//! Recording the conversation: a call answered by an agent of a department that
//! records calls is recorded from the answer to its end. The recording is made on the
//! caller's endpoint (the caller left, whoever they talk to right), so it follows the call
//! through transfers; it is finished when the endpoint is destroyed as the call ends. It is
//! raised as a `RecordingStarted` event; reports list it with the call.
//!
//! A callback's conversation is recorded the same way when its department records calls
//! (from the moment the customer is connected to the agent).
//!
//! A recording that cannot be started is logged and the call goes on: a conversation is
//! never refused for want of a recording.

use std::collections::HashMap;

use cc_proto::media::internal::v1 as media;
use tracing::{info, warn};

use super::CallEvent;
use super::actor::Call;
use super::callback::CallbackTarget;

impl Call {
    /// Starts recording the conversation when the call's department records calls and it
    /// is not recorded yet.
    pub(super) async fn record_conversation(&mut self, agent: &str) {
        if self.conversation_recording.is_some() {
            return;
        }
        // The queue the call was answered from, or the department a callback is for.
        let department = self
            .queued
            .as_ref()
            .map(|q| q.department.clone())
            .or_else(
                || match self.callback.as_ref().map(|c| &c.placement.target) {
                    Some(CallbackTarget::Department(d)) => Some(d.clone()),
                    _ => None,
                },
            );
        let Some(department) = department else {
            return;
        };
        let records = self
            .ctx
            .config()
            .department(&department)
            .is_some_and(|d| d.record_calls);
        let Some(endpoint) = self.a.clone().filter(|_| records) else {
            return;
        };
        let metadata = HashMap::from([
            ("call_id".to_owned(), self.id.clone()),
            ("kind".to_owned(), "conversation".to_owned()),
            ("department".to_owned(), department.clone()),
            ("agent".to_owned(), agent.to_owned()),
            (
                "caller_number".to_owned(),
                self.caller_number().unwrap_or_default().to_owned(),
            ),
        ]);
        let mut m = self.media_client();
        let started = tokio::time::timeout(
            self.timeout(),
            m.start_recording(media::StartRecordingRequest {
                endpoint_id: endpoint,
                file_name: format!("call-{}.wav", self.id),
                metadata,
            }),
        )
        .await;
        let path = match started {
            Ok(Ok(r)) => r.into_inner().path,
            Ok(Err(e)) => {
                warn!(call = %self.id, error = %e.message(), "the conversation is not recorded");
                return;
            }
            Err(_) => {
                warn!(call = %self.id, "the conversation is not recorded: the media node did not answer in time");
                return;
            }
        };
        info!(call = %self.id, %department, path = %path, "recording the conversation");
        self.conversation_recording = Some(path.clone());
        self.emit(CallEvent::RecordingStarted {
            id: self.id.clone(),
            recording_path: path,
        });
    }
}
