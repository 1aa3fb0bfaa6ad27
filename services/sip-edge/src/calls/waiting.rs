//! A caller waiting in a department's queue is never left in silence and is come back to
//! music plays, and every `announce_seconds` of the department (40 by
//! default) the caller hears their place in line and, once the department has handled
//! calls, the expected wait. Where the department offers the choices and the caller shows
//! a number, the announcement ends with them ("waiting-choices"): 1, another key or none
//! keeps waiting; 2 leaves the queue to leave a message for the department; 3 asks
//! to be called back without losing the place (virtual hold): the call leaves the queue, a
//! callback request with the call's original enqueue time and priority is raised as an
//! event for the callback scheduler, the caller hears "callback-confirmed" and the call
//! ends.

use cc_proto::media::internal::v1 as media;
use ractor::ActorRef;
use tracing::{info, warn};

use super::CallEvent;
use super::actor::{Call, CallMsg, Phase, Purpose};

/// The keys of the choices, as the "waiting-choices" prompt says them.
const MESSAGE_KEY: &str = "2";
const CALLBACK_KEY: &str = "3";

/// How long the caller has to press a key after choices end (here and for a busy line).
pub(super) const CHOICE_TIMEOUT_MS: u32 = 5000;

impl Call {
    /// How often the caller hears their place: the department's `announce_seconds`.
    pub(super) fn announce_every_ms(&self) -> u64 {
        let department = self.queued.as_ref().map(|q| q.department.as_str());
        department
            .and_then(|d| self.ctx.config().department(d).map(|d| d.announce_seconds))
            .map_or(self.ctx.timings.position_every.as_millis() as u64, |s| {
                u64::from(s) * 1000
            })
    }

    /// Tells the caller their place in line (and the expected wait when known), then the
    /// choices when the department offers a callback.
    pub(super) async fn announce(
        &mut self,
        myself: &ActorRef<CallMsg>,
        position: u32,
        expected_wait_ms: Option<u64>,
    ) {
        let mut prompts = vec!["position-you-are".to_owned()];
        prompts.extend(spoken_digits(&position.to_string()));
        prompts.push("position-in-line".into());
        if let Some(ms) = expected_wait_ms {
            // Whole minutes, rounded up: "about 1 minute" rather than "0".
            prompts.extend(spoken_digits(&ms.div_ceil(60_000).max(1).to_string()));
            prompts.push("wait-minutes".into());
        }
        if self.choices.is_none() && self.offers_choices() && self.listen_for_choice().await {
            prompts.push("waiting-choices".into());
        }
        info!(call = %self.id, position, expected_wait_ms, "announcing the position in line");
        self.play(myself, prompts, false, Purpose::Position).await;
    }

    /// Whether the caller hears the choices: the department offers them and there is a
    /// number to call back.
    fn offers_choices(&self) -> bool {
        let Some(q) = &self.queued else { return false };
        let offered = self
            .ctx
            .config()
            .department(&q.department)
            .is_some_and(|d| d.waiting_choices);
        offered && self.caller_number().is_some()
    }

    /// Starts collecting the caller's key before the announcement plays (a key pressed
    /// during it counts); `false` when the media node cannot.
    async fn listen_for_choice(&mut self) -> bool {
        let Some(endpoint) = self.a.clone() else {
            return false;
        };
        match self
            .collect_key(endpoint, CHOICE_TIMEOUT_MS, "", true)
            .await
        {
            Ok(collection) => {
                self.choices = Some(collection);
                true
            }
            Err(e) => {
                warn!(call = %self.id, error = %e, "cannot collect the waiting caller's choice");
                false
            }
        }
    }

    /// The caller's key after the choices (or none): a message, a callback, or waiting on.
    pub(super) async fn chosen(&mut self, myself: &ActorRef<CallMsg>, done: media::CollectDone) {
        self.choices = None;
        if self.phase != Phase::Queued {
            return;
        }
        let Some(q) = self.queued.clone() else { return };
        if done.digits == MESSAGE_KEY {
            info!(call = %self.id, department = %q.department, "the caller leaves a message instead of waiting");
            // The next prompt replaces the music (a stop sent now could arrive after it).
            self.leave_queue(true);
            let take = cc_proto::routing::internal::v1::TakeMessage {
                recipient_id: q.department,
            };
            return self.take_message(myself, take).await;
        }
        if done.digits != CALLBACK_KEY {
            return;
        }
        let Some(number) = self.caller_number() else {
            return;
        };
        let number = number.to_owned();
        info!(call = %self.id, department = %q.department, %number, "the caller asks to be called back keeping their place");
        self.emit(CallEvent::CallbackRequested {
            id: self.id.clone(),
            department: q.department.clone(),
            employee: String::new(),
            number,
            enqueued_at_unix_ms: q.enqueued_at_unix_ms,
            priority: q.priority,
            keeps_place: true,
            automatic: None,
        });
        self.leave_queue(true);
        self.farewell = "callback requested";
        self.play(
            myself,
            vec!["callback-confirmed".into()],
            false,
            Purpose::Goodbye,
        )
        .await;
    }
}

/// The prompts that say the digits of `text`, one by one (anything else is skipped).
pub(super) fn spoken_digits(text: &str) -> impl Iterator<Item = String> + '_ {
    text.chars()
        .filter(char::is_ascii_digit)
        .map(|d| format!("digit-{d}"))
}

/// "We will call you back at" and the number, digit by digit.
pub(super) fn read_back(number: &str) -> Vec<String> {
    std::iter::once("message-number".to_owned())
        .chain(spoken_digits(number))
        .collect()
}

impl Call {
    /// A scenario's offer of a callback: the caller hears the number they will be
    /// called back at and the confirmation; a callback request (not keeping a place in any
    /// line: the time is now) is raised for `from`, and the call ends. A caller who withholds
    /// their number leaves a message for `from` instead (they can say their number there).
    pub(super) async fn offer_callback(
        &mut self,
        myself: &ActorRef<CallMsg>,
        offer: cc_proto::routing::internal::v1::OfferCallback,
    ) {
        let Some(number) = self.caller_number().map(str::to_owned) else {
            info!(call = %self.id, from = %offer.from_id, "no number to call back: taking a message");
            let take = cc_proto::routing::internal::v1::TakeMessage {
                recipient_id: offer.from_id,
            };
            return self.take_message(myself, take).await;
        };
        if !self.early_media(myself).await {
            return;
        }
        info!(call = %self.id, from = %offer.from_id, %number, "callback offered and taken");
        let mut prompts = read_back(&number);
        prompts.push("callback-confirmed".into());
        let is_department = self.ctx.config().department(&offer.from_id).is_some();
        let (department, employee) = if is_department {
            (offer.from_id, String::new())
        } else {
            (String::new(), offer.from_id)
        };
        self.emit(CallEvent::CallbackRequested {
            id: self.id.clone(),
            department,
            employee,
            number,
            enqueued_at_unix_ms: super::unix_ms(),
            priority: 0,
            keeps_place: false,
            automatic: None,
        });
        self.farewell = "callback requested";
        self.play(myself, prompts, false, Purpose::Goodbye).await;
    }
}
