//! Announced (screened) transfer, as routing's Dial step with `announce` asks, or a
//! transfer through the API. Before the callee is connected, the caller is answered and
//! asked who they are, from which company and why ("screening-name" and the tone); what
//! they say is recorded until a key (#) or [`RECORD_MS`]. The caller then hears
//! "please-hold" and music (never "connecting") while the employee's phones ring, or waits
//! in the department's queue as any caller does. The employee or agent who answers is not
//! connected: they hear "screening-caller", the recording and "screening-accept", and
//! press 1 to take the call, which bridges it. 2, no key within [`CHOICE_MS`] of the end
//! of the prompts, or hanging up declines it: the caller, still on hold, is not told. An
//! employee's decline asks routing again with the dial outcome `Declined` (the employee's
//! policy says where the call goes instead: a neutral prompt, a message, a deputy). An
//! agent's decline counts in the queue as not answering: the call keeps its place and the
//! queue offers it to the next agent. A caller asked once is not asked again on the same
//! call.

use std::collections::HashMap;

use cc_proto::media::internal::v1 as media;
use cc_proto::routing::internal::v1 as routing;
use ractor::ActorRef;
use tracing::{info, warn};

use cc_proto::queue::internal::v1 as queue;

use super::actor::{Call, CallMsg, LegKind, PLAY_MARGIN_MS, Phase, Purpose, Timer, rpc};

/// The longest the caller speaks for the announcement.
const RECORD_MS: u32 = 15_000;

/// How long the employee has to press a key once the announcement has played.
const CHOICE_MS: u32 = 10_000;

/// The key that takes the call.
const ACCEPT_KEY: &str = "1";

/// An announced dial under way.
#[derive(Debug, Clone)]
pub(super) struct Announcing {
    /// Who is rung once the announcement is recorded.
    to: Announced,
    stage: Stage,
}

/// Whom the caller is announced to.
#[derive(Debug, Clone)]
pub(super) enum Announced {
    /// An employee's phones, as routing's dial (or a transfer) asks.
    Employee(routing::Dial),
    /// The agent a department's queue offers the call to (a transfer).
    Queue(routing::Queue),
}

#[derive(Debug, Clone)]
enum Stage {
    /// The caller hears the question and the tone.
    Asking,
    /// The caller speaks; a key (collection) or the deadline ends it.
    Recording { collection: Option<u64> },
    /// The employee's phones ring, or the call waits in its queue; the caller is on hold.
    Ringing,
    /// The employee answered `leg` and hears the announcement; their key (collection)
    /// decides. `sdp` is their answer, for the bridge.
    Presenting {
        leg: usize,
        collection: Option<u64>,
        sdp: String,
    },
}

impl Call {
    /// Starts an announced dial or queueing: asks the caller who they are (unless they
    /// were asked on this call already), then rings.
    pub(super) async fn announce_to(&mut self, myself: &ActorRef<CallMsg>, to: Announced) {
        self.set_phase(match to {
            Announced::Employee(_) => Phase::Dialing,
            Announced::Queue(_) => Phase::Routing,
        });
        // Timers of an earlier dial (its giving up, its forwarding) no longer apply.
        self.forget_dial();
        let recorded = self.announcement.is_some();
        self.announcing = Some(Announcing {
            to,
            stage: if recorded {
                Stage::Ringing
            } else {
                Stage::Asking
            },
        });
        if recorded {
            return self.ring_announced(myself).await;
        }
        if !self.answer(myself, None).await {
            return;
        }
        info!(call = %self.id, "asking the caller who they are");
        self.play(
            myself,
            vec!["screening-name".into(), "tone".into()],
            false,
            Purpose::AnnounceIntro,
        )
        .await;
    }

    /// The question was asked: record the answer until a key or the deadline.
    pub(super) async fn record_announcement(&mut self, myself: &ActorRef<CallMsg>) {
        let Some(endpoint) = self.a.clone() else {
            return;
        };
        if !matches!(
            self.announcing,
            Some(Announcing {
                stage: Stage::Asking,
                ..
            })
        ) {
            return;
        }
        let metadata = HashMap::from([
            ("call_id".to_owned(), self.id.clone()),
            ("kind".to_owned(), "announcement".to_owned()),
        ]);
        let mut m = self.media_client();
        let started = tokio::time::timeout(
            self.timeout(),
            m.start_recording(media::StartRecordingRequest {
                endpoint_id: endpoint.clone(),
                file_name: format!("announce-{}.wav", self.id),
                metadata,
            }),
        )
        .await;
        match started {
            Ok(Ok(r)) => self.announcement = Some(r.into_inner().path),
            // Without a recording the employee still hears who calls is unknown: ring.
            _ => {
                warn!(call = %self.id, "cannot record the announcement; ringing without it");
                return self.ring_announced(myself).await;
            }
        }
        let collection = self.collect_key(endpoint, RECORD_MS, "#", false).await.ok();
        if let Some(a) = &mut self.announcing {
            a.stage = Stage::Recording { collection };
        }
        self.arm(
            myself,
            u64::from(RECORD_MS) + PLAY_MARGIN_MS,
            Timer::AnnounceDeadline { collection },
        );
    }

    /// Whether a key collection belongs to the announcement (the caller's or the
    /// employee's).
    pub(super) fn announce_collection(&self, collection: u64) -> bool {
        match self.announcing.as_ref().map(|a| &a.stage) {
            Some(Stage::Recording { collection: c } | Stage::Presenting { collection: c, .. }) => {
                *c == Some(collection)
            }
            _ => false,
        }
    }

    /// The collection (or its deadline) ended: the caller finished speaking, or the
    /// employee chose.
    pub(super) async fn announce_keys(
        &mut self,
        myself: &ActorRef<CallMsg>,
        collection: Option<u64>,
        digits: &str,
    ) {
        if self.phase == Phase::Ending {
            return;
        }
        let Some(a) = &self.announcing else { return };
        match a.stage.clone() {
            Stage::Recording { collection: c } if c == collection => {
                self.stop_announcement_recording().await;
                self.ring_announced(myself).await;
            }
            Stage::Presenting {
                leg,
                collection: c,
                sdp,
            } if c == collection => {
                if digits == ACCEPT_KEY {
                    self.accept_announced(myself, leg, sdp).await;
                } else {
                    info!(call = %self.id, digits, "the callee declined the announced call");
                    self.decline_announced(myself, leg, true).await;
                }
            }
            _ => {}
        }
    }

    async fn stop_announcement_recording(&mut self) {
        let Some(endpoint) = self.a.clone() else {
            return;
        };
        let mut m = self.media_client();
        let stopped = tokio::time::timeout(
            self.timeout(),
            m.stop_recording(media::EndpointRef {
                endpoint_id: endpoint,
            }),
        )
        .await;
        match stopped {
            Ok(Ok(r)) => {
                let r = r.into_inner();
                info!(call = %self.id, seconds = r.seconds, "the caller is announced");
                self.announcement = Some(r.path);
            }
            _ => warn!(call = %self.id, "cannot stop the announcement's recording"),
        }
    }

    /// The caller waits on hold while the employee's phones ring, or in the queue.
    async fn ring_announced(&mut self, myself: &ActorRef<CallMsg>) {
        let Some(a) = &mut self.announcing else {
            return;
        };
        a.stage = Stage::Ringing;
        match a.to.clone() {
            Announced::Employee(dial) => {
                self.play(
                    myself,
                    vec!["please-hold".into(), "music-on-hold".into()],
                    true,
                    Purpose::Music,
                )
                .await;
                self.ring_employee(myself, dial).await;
            }
            // The queue plays what any caller hears there: music, their place in line.
            Announced::Queue(q) => self.enqueue(myself, q).await,
        }
    }

    /// Whether an answer on `leg` is to be presented rather than connected.
    pub(super) fn presents(&self) -> bool {
        matches!(
            self.announcing,
            Some(Announcing {
                stage: Stage::Ringing,
                ..
            })
        )
    }

    /// The employee answered leg `leg`: the others stop ringing, and they hear who calls.
    /// A queue's agent is presented only once the queue keeps the call for them alone
    /// (their ring time no longer runs out); if it no longer offers it to them, they are
    /// hung up and the call waits on.
    pub(super) async fn present(&mut self, myself: &ActorRef<CallMsg>, leg: usize, sdp: String) {
        if let LegKind::Queue(agent) = self.leg_kind(leg) {
            let request = queue::AgentCallRequest {
                call_id: self.id.clone(),
                agent_id: agent.clone(),
            };
            let mut q = self.queue_client();
            if let Err(e) = rpc(self.timeout(), q.presenting(request)).await {
                info!(call = %self.id, %agent, error = %e, "the queue no longer offers the call to this agent");
                return self.hang_up_leg(leg);
            }
        }
        let Some((b, _)) = self.b.clone() else {
            return self.decline_announced(myself, leg, true).await;
        };
        self.stop_other_legs(leg);
        let mut m = self.media_client();
        let set = media::SetRemoteDescriptionRequest {
            endpoint_id: b.clone(),
            sdp: sdp.clone(),
        };
        if let Err(e) = tokio::time::timeout(self.timeout(), m.set_remote_description(set))
            .await
            .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("no answer in time")))
        {
            warn!(call = %self.id, error = %e, "the callee's answer was refused");
            return self.decline_announced(myself, leg, true).await;
        }
        let collection = self.collect_key(b.clone(), CHOICE_MS, "", true).await.ok();
        let mut prompts = vec!["screening-caller".to_owned()];
        if let Some(path) = &self.announcement {
            prompts.push(format!("recording:{path}"));
        }
        prompts.push("screening-accept".into());
        let played = self.play_to_callee(&b, prompts).await;
        let lasts = match played {
            Ok(ms) => ms,
            Err(e) => {
                // The recording cannot be played: say who calls is unknown, not nothing.
                warn!(call = %self.id, error = %e, "cannot play the announcement; asking without it");
                self.play_to_callee(
                    &b,
                    vec!["screening-caller".into(), "screening-accept".into()],
                )
                .await
                .unwrap_or(0)
            }
        };
        info!(call = %self.id, leg, "presenting the caller to the callee");
        if let Some(a) = &mut self.announcing {
            a.stage = Stage::Presenting {
                leg,
                collection,
                sdp,
            };
        }
        self.arm(
            myself,
            lasts + u64::from(CHOICE_MS) + PLAY_MARGIN_MS,
            Timer::AnnounceDeadline { collection },
        );
    }

    /// Plays prompts to the callee's side; how long they last.
    async fn play_to_callee(
        &mut self,
        b: &str,
        prompts: Vec<String>,
    ) -> Result<u64, tonic::Status> {
        let mut m = self.media_client();
        let request = media::PlayRequest {
            endpoint_id: b.to_owned(),
            prompts,
            r#loop: false,
            barge_in: true,
        };
        tokio::time::timeout(self.timeout(), m.play(request))
            .await
            .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("no answer in time")))
            .map(|r| r.into_inner().duration_ms)
    }

    /// The employee took the call: connected like any answer.
    async fn accept_announced(&mut self, myself: &ActorRef<CallMsg>, leg: usize, sdp: String) {
        info!(call = %self.id, "the callee accepted the announced call");
        self.announcing = None;
        self.stop_callee_prompt();
        self.stop_prompt();
        if !self.connect(myself, leg, sdp).await {
            self.hang_up_leg(leg);
            self.end(
                myself,
                super::actor::Side::Nobody,
                "cannot connect the callee",
            )
            .await;
        }
    }

    /// The employee declined (or did not choose, or hung up: `hang_up` false): routing
    /// decides where the call goes instead; the caller stays on hold meanwhile. A queue's
    /// agent who declines is one who did not answer: the queue offers the call on.
    pub(super) async fn decline_announced(
        &mut self,
        myself: &ActorRef<CallMsg>,
        leg: usize,
        hang_up: bool,
    ) {
        let agent = match self.leg_kind(leg) {
            LegKind::Queue(agent) => Some(agent),
            _ => None,
        };
        self.withdraw_presentation(leg, hang_up);
        if let Some(agent) = agent {
            let declined = queue::rejected_request::Reason::Declined;
            return self.reject_agent(&agent, declined).await;
        }
        self.announcing = None;
        // The employee chose: a call they declined is not theirs to call back.
        self.lost = None;
        self.dial_finished(myself, routing::DialOutcome::Declined)
            .await;
    }

    /// The presented callee goes (hung up unless they hung up, `hang_up` false), and the
    /// call is back to ringing or waiting in line.
    pub(super) fn withdraw_presentation(&mut self, leg: usize, hang_up: bool) {
        if hang_up {
            self.hang_up_leg(leg);
        }
        if let Some(a) = &mut self.announcing {
            a.stage = Stage::Ringing;
        }
        // The callee's side goes with the callee: a later dial or offer makes a fresh one
        // (its offer is spent), and its silence must not end the call.
        if let Some((b, _)) = self.b.take() {
            self.destroy_endpoint(b);
        }
    }

    /// The employee accepted or declined through the API, as with keys on the phone.
    pub(super) async fn answer_announcement(
        &mut self,
        myself: &ActorRef<CallMsg>,
        accept: bool,
    ) -> Result<(), super::AnnouncementError> {
        let presenting = match self.announcing.as_ref().map(|a| a.stage.clone()) {
            Some(Stage::Presenting { leg, sdp, .. }) if self.phase != Phase::Ending => {
                Some((leg, sdp))
            }
            _ => None,
        };
        let Some((leg, sdp)) = presenting else {
            return Err(super::AnnouncementError::NotPresented);
        };
        if accept {
            self.accept_announced(myself, leg, sdp).await;
        } else {
            info!(call = %self.id, "the callee declined the announced call through the API");
            self.decline_announced(myself, leg, true).await;
        }
        Ok(())
    }

    /// The leg of a queue's agent being presented the call, if it is `agent`'s.
    pub(super) fn presented_to(&self, agent: &str) -> Option<usize> {
        self.presented_leg()
            .filter(|leg| matches!(self.leg_kind(*leg), LegKind::Queue(a) if a == agent))
    }

    /// The leg being presented the call, if one is.
    pub(super) fn presented_leg(&self) -> Option<usize> {
        match self.announcing.as_ref().map(|a| &a.stage) {
            Some(Stage::Presenting { leg, .. }) => Some(*leg),
            _ => None,
        }
    }

    /// Stops what the callee's side plays (the outbox does it: nothing waits on it).
    fn stop_callee_prompt(&mut self) {
        if let Some((b, _)) = self.b.clone() {
            self.stop_play_on(b);
        }
    }
}
