//! Attended transfer from a phone (R-50, RFC 5589 7): the agent puts the caller on hold,
//! calls the colleague through ccd (a call of its own, the agent its caller), tells them
//! who is waiting, then sends a REFER in the caller's call whose Refer-To carries a
//! Replaces naming that consultation dialog. ccd is in the middle of both calls, so nobody
//! dials anyone: the consultation call hands its connected leg (the colleague's phone and
//! its media endpoint) to the caller's call, which bridges the caller to it; the agent is
//! hung up on both calls. The colleague hears the caller at once, with no new ringing.
//!
//! Handed over: a colleague's phone on a direct call, an agent a department's queue gave
//! the consultation (their presence moves to the caller's call, their wrap-up comes at its
//! end), or an outside number. Refused with the reason in the final NOTIFY: a dialog that
//! is no call's caller here (481); a consultation not connected, a callback, or with its
//! media on another node (501).

use cc_proto::media::internal::v1 as media;
use ractor::{ActorRef, RactorErr, call_t};
use tracing::{info, warn};

use super::actor::{Call, CallMsg, Leg, LegKind, Phase, Queued, Side, rpc};
use super::transfer::{ReferSubscription, Replaces};
use super::{CallEvent, TransferError};
use crate::core::{CallNo, FromCall};

/// What the caller's call asks of the consultation call.
#[derive(Debug)]
pub struct HandOverAsk {
    /// The consultation dialog the REFER names.
    pub(super) replaces: Replaces,
    /// Where the asking call's endpoints are: the leg's endpoint must be there too.
    pub(super) media_node: String,
    /// The asking call, which the leg's SIP dialog moves to.
    pub(super) to: CallNo,
}

/// The consultation call's connected leg, handed over.
#[derive(Debug)]
pub struct Handed {
    pub(super) leg: Leg,
    /// Its media endpoint and that endpoint's SDP.
    pub(super) endpoint: String,
    pub(super) sdp: String,
    /// The employee on it (none for an outside number).
    pub(super) employee: Option<String>,
    /// The consultation call's id, and its queue when an agent of it took the call: that
    /// agent's presence moves to the new call, and their wrap-up comes with it.
    pub(super) from_call: String,
    pub(super) queued: Option<Queued>,
}

impl Call {
    /// The connected phone asked (REFER with Replaces) that the caller take its place in
    /// the consultation call `replaces` names: that call hands its connected leg over, this
    /// call bridges the caller to it and hangs the phone up. On refusal nothing changes
    /// here (the caller stays on hold until the phone resumes).
    pub(super) async fn attended_transfer(
        &mut self,
        myself: &ActorRef<CallMsg>,
        sub: ReferSubscription,
        target: String,
        replaces: Replaces,
    ) -> Result<(), TransferError> {
        let i = self.connected_leg()?;
        let Some((other_no, other)) = self.ctx.registry.by_caller(&replaces.call_id) else {
            return Err(TransferError::NoSuchDialog);
        };
        if other_no == self.no() {
            return Err(TransferError::Unsupported(
                "the Replaces names this very call".into(),
            ));
        }
        let ask = HandOverAsk {
            replaces,
            media_node: self.media_node(),
            to: self.no(),
        };
        let within = self.timeout().saturating_mul(4).as_millis() as u64;
        let handed = match call_t!(
            other,
            |reply| CallMsg::HandOver(Box::new(ask), reply),
            within
        ) {
            Ok(handed) => *handed?,
            Err(RactorErr::Timeout) => {
                return Err(TransferError::Unsupported(
                    "the consultation call did not answer in time".into(),
                ));
            }
            Err(_) => return Err(TransferError::NoSuchDialog),
        };
        // The leg is this call's now, whatever happens next.
        self.ctx.registry.move_endpoint(&handed.endpoint, self.no());
        info!(call = %self.id, %target, leg = handed.leg.call_id(), "attended transfer: the caller joins the consultation call's callee");
        self.notify_refer(sub, 200);
        self.release_connected(i).await;
        self.hang_up_leg(i);
        let mut m = self.media_client();
        if let Some(a) = self.a.clone() {
            let r = media::EndpointRef {
                endpoint_id: a.clone(),
            };
            if let Err(e) = rpc(self.timeout(), m.unbridge(r)).await {
                tracing::debug!(call = %self.id, error = %e, "unbridge failed");
            }
            // The caller was most likely on hold, hearing music.
            if self.hold.held() {
                self.stop_play_on(a);
            }
        }
        self.clear_hold();
        if let Some((b, _)) = self.b.take() {
            self.destroy_endpoint(b);
        }
        let from_queue = matches!(handed.leg.kind, LegKind::Queue(_));
        let k = self.adopt_leg(handed.leg);
        self.b = Some((handed.endpoint.clone(), handed.sdp));
        self.winner = Some(k);
        // The agent a queue gave the consultation is this call's now: presence moves them
        // here, and their wrap-up comes at this call's end.
        self.queued = handed.queued;
        if let (true, Some(agent)) = (from_queue, handed.employee.clone()) {
            self.tell_presence_call_moved(agent, handed.from_call.clone());
        }
        self.forget_dial();
        if let Some(a) = self.a.clone() {
            let bridge = media::BridgeRequest {
                endpoint_id: a,
                other_endpoint_id: handed.endpoint,
            };
            if let Err(e) = rpc(self.timeout(), m.bridge(bridge)).await {
                warn!(call = %self.id, error = %e, "cannot bridge the caller to the transfer target");
                self.end(myself, Side::Nobody, "attended transfer failed")
                    .await;
                return Ok(());
            }
        }
        let agent = handed.employee.clone();
        self.ctx.registry.update(self.no(), |info| {
            info.agent = agent;
        });
        self.emit(CallEvent::Transferred {
            id: self.id.clone(),
            target,
        });
        self.emit(CallEvent::Answered {
            id: self.id.clone(),
            agent: handed.employee,
        });
        Ok(())
    }

    /// Another call's attended transfer replaces this call's caller dialog: checks that it
    /// may, then lets the connected leg go (its dialog moves to the asking call). The
    /// caller of this call (the agent's consultation dialog) is ended by the actor next.
    pub(super) async fn hand_over(&mut self, ask: HandOverAsk) -> Result<Handed, TransferError> {
        if !self.is_caller_dialog(&ask.replaces) {
            return Err(TransferError::NoSuchDialog);
        }
        let unsupported = |why: &str| Err(TransferError::Unsupported(why.to_owned()));
        let j = match (self.phase, self.winner) {
            (Phase::Talking, Some(j)) => j,
            _ => return unsupported("the consultation call is not connected"),
        };
        let employee = match self.leg_kind(j) {
            LegKind::Direct(employee) | LegKind::Queue(employee) => Some(employee.clone()),
            LegKind::Trunk => None,
            LegKind::Customer => return unsupported("the consultation call is a callback"),
        };
        let from_queue = matches!(self.leg_kind(j), LegKind::Queue(_));
        if self.is_edge_leg() {
            return unsupported("the consultation call came through another sip-edge node");
        }
        if self.media_node() != ask.media_node {
            return unsupported("the two calls' media are on different nodes");
        }
        let Some((endpoint, sdp)) = self.b.take() else {
            return unsupported("the consultation call has no media");
        };
        let mut m = self.media_client();
        let r = media::EndpointRef {
            endpoint_id: endpoint.clone(),
        };
        if let Err(e) = rpc(self.timeout(), m.unbridge(r)).await {
            tracing::debug!(call = %self.id, error = %e, "unbridge failed");
        }
        let leg = self.hand_over_leg(j);
        self.send_command(FromCall::MoveLeg {
            call_id: leg.call_id().to_owned(),
            to: ask.to,
        });
        self.winner = None;
        // A queue's agent took the consultation: the queue is done with it (the agent's
        // presence moves to the asking call, which ends it with the agent's wrap-up).
        let queued = if from_queue {
            self.tell_queue_call_ended();
            self.queued.take()
        } else {
            None
        };
        info!(call = %self.id, leg = leg.call_id(), "connected leg handed over to an attended transfer");
        Ok(Handed {
            leg,
            endpoint,
            sdp,
            employee,
            from_call: self.id.clone(),
            queued,
        })
    }
}
