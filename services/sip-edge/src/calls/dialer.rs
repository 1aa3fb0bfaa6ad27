//! `cc.sip.internal.v1.Dialer`: the callback scheduler's leader asks this node to place one
//! attempt of a callback ([`super::callback`]) and waits for its outcome. The call is an
//! actor like any other; this node keeps each attempt it placed by (callback, attempt):
//! - asking again for an attempt placed here places nothing and answers its outcome
//!   (waiting while it runs), so a new leader finds out how its predecessor's attempts
//!   ended (`resume_only` asks without placing);
//! - a request that goes away (its leader died, or stopped leading) leaves the attempt
//!   running for [`WITHDRAW_GRACE`] for a new leader to ask again; with nobody asking by
//!   then, the call hears so and stops unless the customer is already on the line;
//! - `WithdrawCallback` (the callback was cancelled) stops it at once;
//! - outcomes are kept [`KEEP_DONE`] after the attempt ended.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cc_proto::sip::internal::v1 as pb;
use cc_proto::sip::internal::v1::dialer_server::{Dialer, DialerServer};
use ractor::ActorRef;
use tokio::sync::watch;
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use super::callback::{self, CallbackTarget, PlaceError, Placed, Placement};
use super::{CallContext, CallMsg};

/// The longest wait for an agent when the request does not say.
const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(5 * 60);
/// How long the customer's phone rings when the request does not say.
const DEFAULT_RING: Duration = Duration::from_secs(30);
/// How long an attempt nobody waits for any more runs on for a new leader to ask again
/// (a leader's lease outlives it by a few seconds, then its successor restores).
pub const WITHDRAW_GRACE: Duration = Duration::from_secs(30);
/// How long an attempt's outcome is kept after it ended.
pub const KEEP_DONE: Duration = Duration::from_secs(15 * 60);

/// An attempt: (callback id, attempt number).
type Key = (String, u32);

/// An attempt placed by this node.
#[derive(Debug)]
struct Attempt {
    call: ActorRef<CallMsg>,
    /// Its outcome, once known.
    outcome: watch::Receiver<Option<pb::PlaceCallbackResponse>>,
    /// Requests waiting for it now.
    waiting: usize,
    /// Bumped whenever the last request waiting goes away: a withdrawal timer started
    /// before a later one (or a new request) stands down.
    detached: u64,
    ended_at: Option<Instant>,
}

/// The attempts this node placed.
#[derive(Debug, Clone, Default)]
struct Attempts {
    inner: Arc<Mutex<HashMap<Key, Attempt>>>,
    grace: Duration,
}

impl Attempts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Attempt>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the attempt's outcome as one more request; `None` when it is unknown here.
    fn attach(&self, key: &Key) -> Option<Waiting> {
        let mut attempts = self.lock();
        let attempt = attempts.get_mut(key)?;
        attempt.waiting += 1;
        Some(Waiting {
            attempts: self.clone(),
            key: key.clone(),
            outcome: attempt.outcome.clone(),
        })
    }

    /// A request stopped waiting: with nobody left and the attempt running, it is
    /// withdrawn after the grace unless somebody asks again meanwhile.
    fn detach(&self, key: &Key) {
        let (call, generation) = {
            let mut attempts = self.lock();
            let Some(attempt) = attempts.get_mut(key) else {
                return;
            };
            attempt.waiting = attempt.waiting.saturating_sub(1);
            if attempt.waiting > 0 || attempt.ended_at.is_some() {
                return;
            }
            attempt.detached += 1;
            (attempt.call.clone(), attempt.detached)
        };
        let attempts = self.clone();
        let key = key.clone();
        tokio::spawn(async move {
            tokio::time::sleep(attempts.grace).await;
            let still_alone = attempts.lock().get(&key).is_some_and(|a| {
                a.waiting == 0 && a.ended_at.is_none() && a.detached == generation
            });
            if still_alone {
                tracing::info!(callback = %key.0, attempt = key.1, "nobody asked for the callback attempt again: withdrawing it");
                let _ = call.cast(CallMsg::CallbackWithdrawn);
            }
        });
    }

    /// Stops a running attempt at once; false when none runs here.
    fn withdraw(&self, key: &Key) -> bool {
        let attempts = self.lock();
        match attempts.get(key) {
            Some(a) if a.ended_at.is_none() => {
                let _ = a.call.cast(CallMsg::CallbackWithdrawn);
                true
            }
            _ => false,
        }
    }

    fn ended(&self, key: &Key) {
        let now = Instant::now();
        let mut attempts = self.lock();
        if let Some(a) = attempts.get_mut(key) {
            a.ended_at = Some(now);
        }
        attempts.retain(|_, a| {
            a.ended_at
                .is_none_or(|at| now.duration_since(at) < KEEP_DONE)
        });
    }
}

/// One request waiting for an attempt's outcome; dropping it detaches.
struct Waiting {
    attempts: Attempts,
    key: Key,
    outcome: watch::Receiver<Option<pb::PlaceCallbackResponse>>,
}

impl Waiting {
    async fn outcome(&mut self) -> Result<pb::PlaceCallbackResponse, Status> {
        match self.outcome.wait_for(Option::is_some).await {
            Ok(answer) => Ok(answer.clone().unwrap_or_default()),
            Err(_) => Err(Status::internal("the attempt ended without an outcome")),
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.attempts.detach(&self.key);
    }
}

#[derive(Debug, Clone)]
pub struct DialerApi {
    ctx: Arc<CallContext>,
    attempts: Attempts,
}

impl DialerApi {
    pub fn server(ctx: Arc<CallContext>) -> DialerServer<DialerApi> {
        DialerServer::new(DialerApi::new(ctx, WITHDRAW_GRACE))
    }

    fn new(ctx: Arc<CallContext>, grace: Duration) -> Self {
        DialerApi {
            ctx,
            attempts: Attempts {
                inner: Arc::default(),
                grace,
            },
        }
    }

    /// Places the attempt and keeps it; the request waiting for it.
    async fn place(&self, key: Key, placement: Placement) -> Result<Waiting, Status> {
        let (call_id, call, placed) =
            callback::place(&self.ctx, placement)
                .await
                .map_err(|e| match e {
                    PlaceError::Invalid(why) => Status::invalid_argument(why),
                    PlaceError::Unavailable(why) => Status::unavailable(why),
                })?;
        let (tx, outcome) = watch::channel(None);
        {
            let mut attempts = self.attempts.lock();
            if let Some(previous) = attempts.get(&key)
                && previous.ended_at.is_none()
            {
                // Placed twice at once (two leaders racing): keep the first, stop this one.
                let _ = call.cast(CallMsg::CallbackWithdrawn);
                drop(attempts);
                return self
                    .attempts
                    .attach(&key)
                    .ok_or_else(|| Status::internal("the attempt vanished"));
            }
            attempts.insert(
                key.clone(),
                Attempt {
                    call,
                    outcome,
                    waiting: 0,
                    detached: 0,
                    ended_at: None,
                },
            );
        }
        let attempts = self.attempts.clone();
        let ended = key.clone();
        tokio::spawn(async move {
            let answer = response(placed.await, call_id);
            let _ = tx.send(Some(answer));
            attempts.ended(&ended);
        });
        self.attempts
            .attach(&key)
            .ok_or_else(|| Status::internal("the attempt vanished"))
    }
}

/// The answer for an attempt that ended with `placed`.
fn response(
    placed: Result<Placed, tokio::sync::oneshot::error::RecvError>,
    call_id: String,
) -> pb::PlaceCallbackResponse {
    use pb::CallbackOutcome as O;
    let (outcome, detail) = match placed {
        Ok(Placed::Reached) => (O::Reached, String::new()),
        Ok(Placed::NoAnswer) => (O::NoAnswer, String::new()),
        Ok(Placed::Busy) => (O::Busy, String::new()),
        Ok(Placed::Failed(why)) => (O::Failed, why),
        Err(_) => (O::Failed, "the call ended without an outcome".to_owned()),
    };
    pb::PlaceCallbackResponse {
        outcome: outcome.into(),
        detail,
        call_id,
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
        let request = request.into_inner();
        let key = (request.callback_id.clone(), request.attempt);
        let mut waiting = match self.attempts.attach(&key) {
            Some(waiting) => waiting,
            None if request.resume_only => {
                return Err(Status::not_found(format!(
                    "no attempt {} of callback {} was placed here",
                    key.1, key.0
                )));
            }
            None => {
                let placement = placement(request)?;
                self.place(key, placement).await?
            }
        };
        waiting.outcome().await.map(Response::new)
    }

    async fn withdraw_callback(
        &self,
        request: Request<pb::WithdrawCallbackRequest>,
    ) -> Result<Response<pb::WithdrawCallbackResponse>, Status> {
        let request = request.into_inner();
        let key = (request.callback_id, request.attempt);
        if self.attempts.withdraw(&key) {
            tracing::info!(callback = %key.0, attempt = key.1, "callback attempt withdrawn");
            Ok(Response::new(pb::WithdrawCallbackResponse {}))
        } else {
            Err(Status::not_found(format!(
                "attempt {} of callback {} is not running here",
                key.1, key.0
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ractor::{Actor, ActorProcessingErr};
    use tokio::sync::mpsc;

    use super::*;

    /// Stands for a callback's call: tells the test when it is withdrawn.
    struct Stand;

    impl Actor for Stand {
        type Msg = CallMsg;
        type State = mpsc::UnboundedSender<()>;
        type Arguments = mpsc::UnboundedSender<()>;

        async fn pre_start(
            &self,
            _: ActorRef<CallMsg>,
            told: Self::Arguments,
        ) -> Result<Self::State, ActorProcessingErr> {
            Ok(told)
        }

        async fn handle(
            &self,
            _: ActorRef<CallMsg>,
            msg: CallMsg,
            told: &mut Self::State,
        ) -> Result<(), ActorProcessingErr> {
            if matches!(msg, CallMsg::CallbackWithdrawn) {
                let _ = told.send(());
            }
            Ok(())
        }
    }

    /// Attempts with one running attempt `("cb", 1)`, and how its call hears a withdrawal.
    async fn one_running() -> (
        Attempts,
        Key,
        watch::Sender<Option<pb::PlaceCallbackResponse>>,
        mpsc::UnboundedReceiver<()>,
    ) {
        let (told, withdrawn) = mpsc::unbounded_channel();
        let (call, _) = Actor::spawn(None, Stand, told).await.unwrap();
        let (tx, outcome) = watch::channel(None);
        let attempts = Attempts {
            inner: Arc::default(),
            grace: Duration::from_secs(30),
        };
        let key: Key = ("cb".into(), 1);
        attempts.lock().insert(
            key.clone(),
            Attempt {
                call,
                outcome,
                waiting: 0,
                detached: 0,
                ended_at: None,
            },
        );
        (attempts, key, tx, withdrawn)
    }

    /// Lets the spawned timers and the actor run (the clock is paused).
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_nobody_waits_for_runs_on_for_the_grace_and_a_new_leader_can_take_it_up() {
        let (attempts, key, tx, mut withdrawn) = one_running().await;
        // The leader's request goes away (it died): the attempt runs on.
        drop(attempts.attach(&key).unwrap());
        tokio::time::sleep(Duration::from_secs(29)).await;
        settle().await;
        assert!(withdrawn.try_recv().is_err(), "withdrawn within the grace");

        // A new leader asks again in time: the attempt is its now, and it hears the outcome.
        let mut waiting = attempts.attach(&key).unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        settle().await;
        assert!(withdrawn.try_recv().is_err(), "the old timer stood down");
        tx.send(Some(pb::PlaceCallbackResponse {
            outcome: pb::CallbackOutcome::Reached.into(),
            detail: String::new(),
            call_id: "c1".into(),
        }))
        .unwrap();
        let answer = waiting.outcome().await.unwrap();
        assert_eq!(answer.outcome(), pb::CallbackOutcome::Reached);
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_nobody_takes_up_within_the_grace_is_withdrawn() {
        let (attempts, key, _tx, mut withdrawn) = one_running().await;
        drop(attempts.attach(&key).unwrap());
        tokio::time::sleep(Duration::from_secs(31)).await;
        settle().await;
        assert!(withdrawn.try_recv().is_ok(), "withdrawn after the grace");
    }

    #[tokio::test(start_paused = true)]
    async fn a_withdrawal_stops_a_running_attempt_at_once_and_not_an_ended_one() {
        let (attempts, key, _tx, mut withdrawn) = one_running().await;
        let _waiting = attempts.attach(&key).unwrap();
        assert!(attempts.withdraw(&key));
        settle().await;
        assert!(withdrawn.try_recv().is_ok());
        attempts.ended(&key);
        assert!(!attempts.withdraw(&key), "an ended attempt is not running");
        assert!(!attempts.withdraw(&("other".into(), 1)));
        // Its outcome is still kept for a new leader to ask.
        assert!(attempts.attach(&key).is_some());
    }
}
