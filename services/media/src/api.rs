//! `cc.media.internal.v1.MediaControl`: the engine seen from gRPC. Handlers only convert.

use std::pin::Pin;
use std::time::Duration;

use cc_proto::media::internal::v1 as pb;
use cc_proto::media::internal::v1::media_control_server::{MediaControl, MediaControlServer};
use cc_sip::sdp::SessionDescription;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::engine::{CollectRequest, PlayRequest};
use crate::{CollectEnd, DigitSource, EndpointId, MediaEngine, MediaError, MediaEvent, Negotiated};

#[derive(Debug, Clone)]
pub struct MediaControlService {
    engine: MediaEngine,
    node: String,
}

impl MediaControlService {
    pub fn server(engine: MediaEngine, node: String) -> MediaControlServer<MediaControlService> {
        MediaControlServer::new(MediaControlService { engine, node })
    }
}

fn status(e: MediaError) -> Status {
    match e {
        MediaError::NotFound(_) | MediaError::RecordingNotFound(_) => {
            Status::not_found(e.to_string())
        }
        MediaError::NoPorts | MediaError::Capacity(_) => Status::resource_exhausted(e.to_string()),
        MediaError::Sdp(_) | MediaError::UnknownPrompt(_) | MediaError::InvalidArgument(_) => {
            Status::invalid_argument(e.to_string())
        }
        MediaError::State(_) => Status::failed_precondition(e.to_string()),
        MediaError::ShuttingDown => Status::unavailable(e.to_string()),
        MediaError::Prompts(_) | MediaError::Recording(_) | MediaError::Io(_) => {
            Status::internal(e.to_string())
        }
    }
}

fn endpoint_id(field: &str, s: &str) -> Result<EndpointId, Status> {
    s.parse()
        .map_err(|_| Status::invalid_argument(format!("{field}: {s:?} is not an endpoint id")))
}

fn sdp(field: &str, s: &str) -> Result<SessionDescription, Status> {
    SessionDescription::parse_bytes(s.as_bytes())
        .map_err(|e| Status::invalid_argument(format!("{field}: {e}")))
}

fn negotiated(n: Option<Negotiated>) -> Option<pb::Negotiated> {
    n.map(|n| pb::Negotiated {
        codec: n.codec.encoding_name().to_owned(),
        payload_type: u32::from(n.payload_type),
        telephone_event_payload_type: n.telephone_event.map_or(0, u32::from),
        remote_address: n.remote.to_string(),
        direction: n.direction.as_str().to_owned(),
    })
}

fn event(e: MediaEvent) -> pb::MediaEvent {
    use pb::media_event::Event;
    let endpoint_id = e.endpoint().to_string();
    let event = match e {
        MediaEvent::Digit {
            digit,
            duration_ms,
            source,
            ..
        } => Event::Digit(pb::DigitEvent {
            digit: digit.to_string(),
            duration_ms,
            source: match source {
                DigitSource::Rfc4733 => "rfc4733",
                DigitSource::InBand => "inband",
            }
            .to_owned(),
        }),
        MediaEvent::PlayDone {
            playback, stopped, ..
        } => Event::PlayDone(pb::PlayDone {
            playback_id: playback,
            stopped,
        }),
        MediaEvent::CollectDone {
            collection,
            digits,
            end,
            ..
        } => Event::CollectDone(pb::CollectDone {
            collection_id: collection,
            digits,
            reason: match end {
                CollectEnd::MaxDigits => pb::collect_done::Reason::MaxDigits,
                CollectEnd::Terminator => pb::collect_done::Reason::Terminator,
                CollectEnd::Timeout => pb::collect_done::Reason::Timeout,
                CollectEnd::Cancelled => pb::collect_done::Reason::Cancelled,
            }
            .into(),
        }),
        MediaEvent::RtpTimeout { silent_seconds, .. } => {
            Event::RtpTimeout(pb::RtpTimeout { silent_seconds })
        }
        MediaEvent::Ice { connected, .. } => Event::Ice(pb::IceState { connected }),
        MediaEvent::RecordingDone { path, seconds, .. } => {
            Event::RecordingDone(pb::RecordingDone {
                path: path.display().to_string(),
                seconds,
            })
        }
    };
    pb::MediaEvent {
        endpoint_id,
        event: Some(event),
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::MediaEvent, Status>> + Send>>;

#[tonic::async_trait]
impl MediaControl for MediaControlService {
    async fn create_endpoint(
        &self,
        request: Request<pb::CreateEndpointRequest>,
    ) -> Result<Response<pb::CreateEndpointResponse>, Status> {
        let r = request.into_inner();
        let browser_offer = crate::webrtc::is_webrtc_sdp(&r.remote_offer);
        if browser_offer || (r.webrtc && r.remote_offer.is_empty()) {
            // A browser: ICE-lite DTLS-SRTP by str0m on the shared WebRTC port, answering
            // its offer or offering to it.
            let offer = browser_offer.then_some(r.remote_offer.as_str());
            let created = self
                .engine
                .create_webrtc_endpoint(offer, r.label)
                .await
                .map_err(status)?;
            return Ok(Response::new(pb::CreateEndpointResponse {
                endpoint_id: created.id.to_string(),
                local_sdp: created.local_sdp,
                negotiated: negotiated(created.negotiated),
            }));
        }
        if r.webrtc {
            return Err(Status::invalid_argument(
                "remote_offer: with webrtc set it must be a browser's WebRTC offer (or empty)",
            ));
        }
        let offer = (!r.remote_offer.is_empty())
            .then(|| sdp("remote_offer", &r.remote_offer))
            .transpose()?;
        let near = (!r.near_endpoint_id.is_empty())
            .then(|| endpoint_id("near_endpoint_id", &r.near_endpoint_id))
            .transpose()?;
        let created = self
            .engine
            .create_endpoint(offer, near, r.label)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CreateEndpointResponse {
            endpoint_id: created.id.to_string(),
            local_sdp: created.local_sdp.to_string(),
            negotiated: negotiated(created.negotiated),
        }))
    }

    async fn set_remote_description(
        &self,
        request: Request<pb::SetRemoteDescriptionRequest>,
    ) -> Result<Response<pb::SetRemoteDescriptionResponse>, Status> {
        let r = request.into_inner();
        let id = endpoint_id("endpoint_id", &r.endpoint_id)?;
        if crate::webrtc::is_webrtc_sdp(&r.sdp) {
            let negotiated_audio = self
                .engine
                .set_webrtc_answer(id, r.sdp)
                .await
                .map_err(status)?;
            return Ok(Response::new(pb::SetRemoteDescriptionResponse {
                local_sdp: String::new(),
                negotiated: negotiated(negotiated_audio),
            }));
        }
        let applied = self
            .engine
            .set_remote_description(id, sdp("sdp", &r.sdp)?)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SetRemoteDescriptionResponse {
            local_sdp: applied.local_sdp.map(|s| s.to_string()).unwrap_or_default(),
            negotiated: negotiated(applied.negotiated),
        }))
    }

    async fn play(
        &self,
        request: Request<pb::PlayRequest>,
    ) -> Result<Response<pb::PlayResponse>, Status> {
        let r = request.into_inner();
        let id = endpoint_id("endpoint_id", &r.endpoint_id)?;
        let (playback_id, duration_ms) = self
            .engine
            .play(
                id,
                PlayRequest {
                    prompts: r.prompts,
                    looped: r.r#loop,
                    barge_in: r.barge_in,
                },
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::PlayResponse {
            playback_id,
            duration_ms,
        }))
    }

    async fn stop_play(
        &self,
        request: Request<pb::EndpointRef>,
    ) -> Result<Response<pb::StopPlayResponse>, Status> {
        let id = endpoint_id("endpoint_id", &request.into_inner().endpoint_id)?;
        self.engine.stop_play(id).await.map_err(status)?;
        Ok(Response::new(pb::StopPlayResponse {}))
    }

    async fn collect_digits(
        &self,
        request: Request<pb::CollectDigitsRequest>,
    ) -> Result<Response<pb::CollectDigitsResponse>, Status> {
        let r = request.into_inner();
        let id = endpoint_id("endpoint_id", &r.endpoint_id)?;
        let mut chars = r.terminator.chars();
        let terminator = match (chars.next(), chars.next()) {
            (None, _) => None,
            (Some(c), None) => Some(c),
            _ => {
                return Err(Status::invalid_argument(format!(
                    "terminator: {:?} must be one key",
                    r.terminator
                )));
            }
        };
        let collection_id = self
            .engine
            .collect_digits(
                id,
                CollectRequest {
                    max_digits: r.max_digits as usize,
                    terminator,
                    first_digit_timeout: Duration::from_millis(u64::from(r.first_digit_timeout_ms)),
                    inter_digit_timeout: Duration::from_millis(u64::from(r.inter_digit_timeout_ms)),
                    after_prompt: r.after_prompt,
                },
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CollectDigitsResponse { collection_id }))
    }

    async fn bridge(
        &self,
        request: Request<pb::BridgeRequest>,
    ) -> Result<Response<pb::BridgeResponse>, Status> {
        let r = request.into_inner();
        let a = endpoint_id("endpoint_id", &r.endpoint_id)?;
        let b = endpoint_id("other_endpoint_id", &r.other_endpoint_id)?;
        let passthrough = self.engine.bridge(a, b).await.map_err(status)?;
        Ok(Response::new(pb::BridgeResponse { passthrough }))
    }

    async fn unbridge(
        &self,
        request: Request<pb::EndpointRef>,
    ) -> Result<Response<pb::UnbridgeResponse>, Status> {
        let id = endpoint_id("endpoint_id", &request.into_inner().endpoint_id)?;
        self.engine.unbridge(id).await.map_err(status)?;
        Ok(Response::new(pb::UnbridgeResponse {}))
    }

    async fn start_recording(
        &self,
        request: Request<pb::StartRecordingRequest>,
    ) -> Result<Response<pb::StartRecordingResponse>, Status> {
        let r = request.into_inner();
        let id = endpoint_id("endpoint_id", &r.endpoint_id)?;
        let name = (!r.file_name.is_empty()).then_some(r.file_name);
        let path = self
            .engine
            .start_recording(id, name, r.metadata.into_iter().collect())
            .await
            .map_err(status)?;
        Ok(Response::new(pb::StartRecordingResponse {
            path: path.display().to_string(),
        }))
    }

    async fn stop_recording(
        &self,
        request: Request<pb::EndpointRef>,
    ) -> Result<Response<pb::StopRecordingResponse>, Status> {
        let id = endpoint_id("endpoint_id", &request.into_inner().endpoint_id)?;
        let (path, seconds) = self.engine.stop_recording(id).await.map_err(status)?;
        Ok(Response::new(pb::StopRecordingResponse {
            path: path.display().to_string(),
            seconds,
        }))
    }

    async fn destroy_endpoint(
        &self,
        request: Request<pb::EndpointRef>,
    ) -> Result<Response<pb::DestroyEndpointResponse>, Status> {
        let id = endpoint_id("endpoint_id", &request.into_inner().endpoint_id)?;
        self.engine.destroy(id).await.map_err(status)?;
        Ok(Response::new(pb::DestroyEndpointResponse {}))
    }

    async fn get_load(
        &self,
        _request: Request<pb::GetLoadRequest>,
    ) -> Result<Response<pb::Load>, Status> {
        let load = self.engine.load();
        Ok(Response::new(pb::Load {
            node: self.node.clone(),
            endpoints: load.endpoints,
            max_endpoints: load.max_endpoints,
            bridges: load.bridges,
            packets_per_second: load.packets_per_second,
        }))
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        _request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let events = self.engine.subscribe();
        tracing::debug!("media event watcher subscribed");
        let stream = BroadcastStream::new(events).map(|r| match r {
            Ok(e) => Ok(event(e)),
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                Err(Status::data_loss(format!("watcher fell {n} events behind")))
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_recording_entries_keep_their_status_codes() {
        let code = |e: MediaError| status(e).code();
        assert_eq!(
            code(MediaError::RecordingNotFound("prompts[0]: ...".into())),
            tonic::Code::NotFound
        );
        assert_eq!(
            code(MediaError::InvalidArgument("prompts[0]: ...".into())),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            code(MediaError::State("prompts[0]: still being recorded".into())),
            tonic::Code::FailedPrecondition
        );
    }
}
