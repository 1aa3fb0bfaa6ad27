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

/// An attempt this node placed, is placing, or was asked about first.
#[derive(Debug)]
struct Attempt {
    /// The call, once placed (`None` while placing, and for an attempt never placed here).
    call: Option<ActorRef<CallMsg>>,
    /// Its outcome, once known.
    outcome: watch::Sender<Option<pb::PlaceCallbackResponse>>,
    /// Requests waiting for it now.
    waiting: usize,
    /// Bumped whenever the last request waiting goes away: a withdrawal timer started
    /// before a later one (or a new request) stands down.
    detached: u64,
    /// Withdrawn while still being placed: stopped as soon as it is.
    withdrawn: bool,
    ended_at: Option<Instant>,
}

impl Attempt {
    fn new() -> Self {
        Attempt {
            call: None,
            outcome: watch::channel(None).0,
            waiting: 0,
            detached: 0,
            withdrawn: false,
            ended_at: None,
        }
    }

    /// An attempt that will never be placed here, ended with `why` (a new leader asked about
    /// it, or withdrew it, before its placing arrived): a late request to place it gets that
    /// failure instead of a call, so a customer is never rung for an attempt already given
    /// up on.
    fn never(why: &str) -> Self {
        let attempt = Attempt {
            ended_at: Some(Instant::now()),
            ..Attempt::new()
        };
        attempt
            .outcome
            .send_replace(Some(failed(why, String::new())));
        attempt
    }

    /// Stops the call (ringing stops; a conversation goes on), or has it stopped as soon as
    /// it is placed.
    fn withdraw(&mut self) {
        match &self.call {
            Some(call) => {
                let _ = call.cast(CallMsg::CallbackWithdrawn);
            }
            None => self.withdrawn = true,
        }
    }
}

/// What a request for an attempt does.
enum Claim {
    /// Nobody placed it here yet: this request places it.
    Place(Waiting),
    /// It is placed (or given up on) already: this request waits for its outcome.
    Follow(Waiting),
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

    fn waiting(&self, key: &Key, attempt: &mut Attempt) -> Waiting {
        attempt.waiting += 1;
        Waiting {
            attempts: self.clone(),
            key: key.clone(),
            outcome: attempt.outcome.subscribe(),
        }
    }

    /// The request for `key`: the first one places it (the attempt is known here from then
    /// on, so a second request for it never places another call), later ones follow it.
    fn claim(&self, key: &Key) -> Claim {
        let mut attempts = self.lock();
        if let Some(attempt) = attempts.get_mut(key) {
            return Claim::Follow(self.waiting(key, attempt));
        }
        let attempt = attempts.entry(key.clone()).or_insert_with(Attempt::new);
        Claim::Place(self.waiting(key, attempt))
    }

    /// A request asking how an attempt ended that was never placed here: it never will be.
    fn unknown(&self, key: &Key, why: &str) -> Option<Waiting> {
        let mut attempts = self.lock();
        match attempts.get_mut(key) {
            Some(attempt) => Some(self.waiting(key, attempt)),
            None => {
                attempts.insert(key.clone(), Attempt::never(why));
                None
            }
        }
    }

    /// The attempt is placed as `call` (and stopped at once when it was withdrawn
    /// meanwhile).
    fn placed(&self, key: &Key, call: ActorRef<CallMsg>) {
        let mut attempts = self.lock();
        if let Some(attempt) = attempts.get_mut(key) {
            if attempt.withdrawn {
                let _ = call.cast(CallMsg::CallbackWithdrawn);
            }
            attempt.call = Some(call);
        }
    }

    /// A request stopped waiting: with nobody left and the attempt running, it is
    /// withdrawn after the grace unless somebody asks again meanwhile.
    fn detach(&self, key: &Key) {
        let generation = {
            let mut attempts = self.lock();
            let Some(attempt) = attempts.get_mut(key) else {
                return;
            };
            attempt.waiting = attempt.waiting.saturating_sub(1);
            if attempt.waiting > 0 || attempt.ended_at.is_some() {
                return;
            }
            attempt.detached += 1;
            attempt.detached
        };
        let attempts = self.clone();
        let key = key.clone();
        tokio::spawn(async move {
            tokio::time::sleep(attempts.grace).await;
            let mut all = attempts.lock();
            if let Some(a) = all.get_mut(&key)
                && a.waiting == 0
                && a.ended_at.is_none()
                && a.detached == generation
            {
                tracing::info!(callback = %key.0, attempt = key.1, "nobody asked for the callback attempt again: withdrawing it");
                a.withdraw();
            }
        });
    }

    /// Stops a running attempt at once; false when none runs here (one never placed here
    /// never will be).
    fn withdraw(&self, key: &Key) -> bool {
        let mut attempts = self.lock();
        match attempts.get_mut(key) {
            Some(a) if a.ended_at.is_none() => {
                a.withdraw();
                true
            }
            Some(_) => false,
            None => {
                attempts.insert(
                    key.clone(),
                    Attempt::never("withdrawn before it was placed here"),
                );
                false
            }
        }
    }

    /// The attempt ended with `answer`; ended ones older than [`KEEP_DONE`] are forgotten.
    fn ended(&self, key: &Key, answer: pb::PlaceCallbackResponse) {
        let now = Instant::now();
        let mut attempts = self.lock();
        if let Some(a) = attempts.get_mut(key) {
            a.outcome.send_replace(Some(answer));
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
        DialerServer::new(DialerApi {
            ctx,
            attempts: Attempts {
                inner: Arc::default(),
                grace: WITHDRAW_GRACE,
            },
        })
    }

    /// Places the attempt this request claimed; a placing refused ends the attempt with
    /// the refusal (for any other request following it) and answers it.
    async fn place(&self, key: &Key, placement: Placement) -> Result<(), Status> {
        let placed = callback::place(&self.ctx, placement).await;
        let (call_id, call, placed) = match placed {
            Ok(placed) => placed,
            Err(e) => {
                let status = match e {
                    PlaceError::Invalid(why) => Status::invalid_argument(why),
                    PlaceError::Unavailable(why) => Status::unavailable(why),
                };
                self.attempts
                    .ended(key, failed(status.message(), String::new()));
                return Err(status);
            }
        };
        self.attempts.placed(key, call);
        let attempts = self.attempts.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let answer = response(placed.await, call_id);
            attempts.ended(&key, answer);
        });
        Ok(())
    }
}

/// A failed attempt's answer.
fn failed(why: &str, call_id: String) -> pb::PlaceCallbackResponse {
    pb::PlaceCallbackResponse {
        outcome: pb::CallbackOutcome::Failed.into(),
        detail: why.to_owned(),
        call_id,
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
        let mut waiting = if request.resume_only {
            let why = "not placed here: a later scheduler leader asked about it first";
            self.attempts.unknown(&key, why).ok_or_else(|| {
                Status::not_found(format!(
                    "no attempt {} of callback {} was placed here",
                    key.1, key.0
                ))
            })?
        } else {
            let placement = placement(request)?;
            match self.attempts.claim(&key) {
                Claim::Follow(waiting) => waiting,
                Claim::Place(waiting) => {
                    self.place(&key, placement).await?;
                    waiting
                }
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

    /// A stand-in call; the channel tells when it is withdrawn.
    async fn stand() -> (ActorRef<CallMsg>, mpsc::UnboundedReceiver<()>) {
        let (told, withdrawn) = mpsc::unbounded_channel();
        let (call, _) = Actor::spawn(None, Stand, told).await.unwrap();
        (call, withdrawn)
    }

    fn attempts() -> Attempts {
        Attempts {
            inner: Arc::default(),
            grace: Duration::from_secs(30),
        }
    }

    /// Attempts with one running attempt `("cb", 1)` placed by a request that is gone, and
    /// how its call hears a withdrawal.
    async fn one_running() -> (Attempts, Key, mpsc::UnboundedReceiver<()>) {
        let (call, withdrawn) = stand().await;
        let attempts = attempts();
        let key: Key = ("cb".into(), 1);
        let Claim::Place(placing) = attempts.claim(&key) else {
            panic!("the first request places")
        };
        attempts.placed(&key, call);
        drop(placing);
        (attempts, key, withdrawn)
    }

    fn reached() -> pb::PlaceCallbackResponse {
        pb::PlaceCallbackResponse {
            outcome: pb::CallbackOutcome::Reached.into(),
            detail: String::new(),
            call_id: "c1".into(),
        }
    }

    /// Lets the spawned timers and the actor run (the clock is paused).
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_nobody_waits_for_runs_on_for_the_grace_and_a_new_leader_can_take_it_up() {
        let (attempts, key, mut withdrawn) = one_running().await;
        // The leader's request went away (it died): the attempt runs on.
        tokio::time::sleep(Duration::from_secs(29)).await;
        settle().await;
        assert!(withdrawn.try_recv().is_err(), "withdrawn within the grace");

        // A new leader asks again in time: the attempt is its now, and it hears the outcome.
        let Claim::Follow(mut waiting) = attempts.claim(&key) else {
            panic!("a second request never places the attempt again")
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        settle().await;
        assert!(withdrawn.try_recv().is_err(), "the old timer stood down");
        attempts.ended(&key, reached());
        let answer = waiting.outcome().await.unwrap();
        assert_eq!(answer.outcome(), pb::CallbackOutcome::Reached);
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_nobody_takes_up_within_the_grace_is_withdrawn() {
        let (_attempts, _key, mut withdrawn) = one_running().await;
        tokio::time::sleep(Duration::from_secs(31)).await;
        settle().await;
        assert!(withdrawn.try_recv().is_ok(), "withdrawn after the grace");
    }

    #[tokio::test(start_paused = true)]
    async fn a_withdrawal_stops_a_running_attempt_at_once_and_not_an_ended_one() {
        let (attempts, key, mut withdrawn) = one_running().await;
        assert!(attempts.withdraw(&key));
        settle().await;
        assert!(withdrawn.try_recv().is_ok());
        attempts.ended(&key, reached());
        assert!(!attempts.withdraw(&key), "an ended attempt is not running");
        // Its outcome is still kept for a new leader to ask.
        let Claim::Follow(mut waiting) = attempts.claim(&key) else {
            panic!("an ended attempt is never placed again")
        };
        assert_eq!(
            waiting.outcome().await.unwrap().outcome(),
            pb::CallbackOutcome::Reached
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_withdrawn_while_it_is_being_placed_stops_once_placed() {
        let attempts = attempts();
        let key: Key = ("cb".into(), 1);
        let Claim::Place(_placing) = attempts.claim(&key) else {
            panic!("the first request places")
        };
        assert!(attempts.withdraw(&key), "it runs, being placed");
        let (call, mut withdrawn) = stand().await;
        attempts.placed(&key, call);
        settle().await;
        assert!(withdrawn.try_recv().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_asked_about_or_withdrawn_before_it_arrives_is_never_placed() {
        let attempts = attempts();
        for (key, asked) in [
            (("asked".to_owned(), 1), true),
            (("withdrawn".to_owned(), 2), false),
        ] {
            if asked {
                assert!(attempts.unknown(&key, "not placed here").is_none());
            } else {
                assert!(!attempts.withdraw(&key));
            }
            // The dead leader's request arrives late: it places nothing and fails.
            let Claim::Follow(mut late) = attempts.claim(&key) else {
                panic!("{key:?}: a late request must not place the attempt")
            };
            let answer = late.outcome().await.unwrap();
            assert_eq!(answer.outcome(), pb::CallbackOutcome::Failed, "{key:?}");
        }
    }
}
