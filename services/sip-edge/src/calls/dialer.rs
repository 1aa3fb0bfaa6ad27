//! `cc.sip.internal.v1.Dialer`: the callback scheduler's leader asks this node to place one
//! attempt of a callback ([`super::callback`]) and waits for its outcome. The handler only
//! converts: the call is an actor like any other, and if the request goes away (the
//! scheduler cancelled it, or lost its leadership) the call hears so and stops, unless the
//! customer is already on the line.

use std::sync::Arc;
use std::time::Duration;

use cc_proto::sip::internal::v1 as pb;
use cc_proto::sip::internal::v1::dialer_server::{Dialer, DialerServer};
use ractor::ActorRef;
use tonic::{Request, Response, Status};

use super::callback::{self, CallbackTarget, PlaceError, Placed, Placement};
use super::{CallContext, CallMsg};

/// The longest wait for an agent when the request does not say.
const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(5 * 60);
/// How long the customer's phone rings when the request does not say.
const DEFAULT_RING: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct DialerApi {
    ctx: Arc<CallContext>,
}

impl DialerApi {
    pub fn server(ctx: Arc<CallContext>) -> DialerServer<DialerApi> {
        DialerServer::new(DialerApi { ctx })
    }
}

/// Tells the call that nobody waits for its outcome any more when the request goes away
/// before the outcome came.
struct Withdraw(Option<ActorRef<CallMsg>>);

impl Drop for Withdraw {
    fn drop(&mut self) {
        if let Some(actor) = self.0.take() {
            let _ = actor.cast(CallMsg::CallbackWithdrawn);
        }
    }
}

fn placement(r: pb::PlaceCallbackRequest) -> Result<Placement, Status> {
    let target = match (r.department_id.is_empty(), r.employee_id.is_empty()) {
        (false, true) => CallbackTarget::Department(r.department_id),
        (true, false) => CallbackTarget::Employee(r.employee_id),
        _ => {
            return Err(Status::invalid_argument(
                "department_id, employee_id: exactly one is required",
            ));
        }
    };
    let or = |ms: u64, default: Duration| {
        if ms == 0 {
            default
        } else {
            Duration::from_millis(ms)
        }
    };
    Ok(Placement {
        callback_id: r.callback_id,
        attempt: r.attempt,
        number: r.number,
        name: r.name,
        reasons: r.reasons,
        target,
        enqueued_at_unix_ms: r.enqueued_at_unix_ms,
        priority: r.priority,
        max_wait: or(r.max_wait_ms, DEFAULT_MAX_WAIT),
        ring: or(r.ring_ms, DEFAULT_RING),
    })
}

#[tonic::async_trait]
impl Dialer for DialerApi {
    async fn place_callback(
        &self,
        request: Request<pb::PlaceCallbackRequest>,
    ) -> Result<Response<pb::PlaceCallbackResponse>, Status> {
        let placement = placement(request.into_inner())?;
        let (call_id, actor, outcome) =
            callback::place(&self.ctx, placement)
                .await
                .map_err(|e| match e {
                    PlaceError::Invalid(why) => Status::invalid_argument(why),
                    PlaceError::Unavailable(why) => Status::unavailable(why),
                })?;
        let mut withdraw = Withdraw(Some(actor));
        let placed = outcome.await;
        withdraw.0 = None;
        use pb::CallbackOutcome as O;
        let (outcome, detail) = match placed {
            Ok(Placed::Reached) => (O::Reached, String::new()),
            Ok(Placed::NoAnswer) => (O::NoAnswer, String::new()),
            Ok(Placed::Busy) => (O::Busy, String::new()),
            Ok(Placed::Failed(why)) => (O::Failed, why),
            Err(_) => (O::Failed, "the call ended without an outcome".to_owned()),
        };
        Ok(Response::new(pb::PlaceCallbackResponse {
            outcome: outcome.into(),
            detail,
            call_id,
        }))
    }
}
