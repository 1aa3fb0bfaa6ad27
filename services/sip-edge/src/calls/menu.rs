//! A call's voice menu, as routing's Menu step asks: the caller hears the menu's
//! prompt (after the invalid-key prompt when routing repeats the menu) as early media, or
//! answered, as for any prompt; the first key stops it (barge-in); the keys are collected
//! by the media node from RFC 4733 events or in-band tones. The wait for the first key
//! counts from the end of the prompt (the media node restarts the timer then). Whatever
//! happens (keys or none in time) goes back to routing, which decides: the actor does not
//! know which keys are valid, only reports.

use cc_proto::media::internal::v1 as media;
use cc_proto::routing::internal::v1 as routing;
use ractor::ActorRef;
use routing::decide_request::Outcome;
use tracing::{debug, info, warn};

use super::actor::{Call, CallMsg, PLAY_MARGIN_MS, Phase, Purpose, Timer};

/// `rpc` of the actor, for the one request a menu waits on.
async fn collect(
    call: &mut Call,
    request: media::CollectDigitsRequest,
) -> Result<media::CollectDigitsResponse, tonic::Status> {
    let timeout = call.timeout();
    let mut m = call.media_client();
    match tokio::time::timeout(timeout, m.collect_digits(request)).await {
        Ok(r) => r.map(tonic::Response::into_inner),
        Err(_) => Err(tonic::Status::deadline_exceeded("no answer in time")),
    }
}

impl Call {
    /// Offers a menu: starts collecting first (so a key pressed as the prompt starts is
    /// not lost), then plays the prompt with barge-in.
    pub(super) async fn menu(&mut self, myself: &ActorRef<CallMsg>, m: routing::Menu) {
        if !self.early_media(myself).await {
            return;
        }
        let Some(endpoint) = self.a.clone() else {
            return;
        };
        let request = media::CollectDigitsRequest {
            endpoint_id: endpoint,
            max_digits: m.max_digits.max(1),
            terminator: String::new(),
            first_digit_timeout_ms: m.timeout_ms,
            inter_digit_timeout_ms: m.timeout_ms,
            after_prompt: true,
        };
        let collection = match collect(self, request).await {
            Ok(r) => r.collection_id,
            Err(e) => {
                // No keys can come: the caller takes the menu's default, as after silence.
                warn!(call = %self.id, error = %e, "cannot collect the menu's keys");
                self.outcome = Some(Outcome::MenuTimeout(routing::MenuTimeout {}));
                return Box::pin(self.decide(myself)).await;
            }
        };
        self.menu = Some(collection);
        let mut prompts = Vec::with_capacity(2);
        if !m.invalid_prompt.is_empty() {
            prompts.push(m.invalid_prompt);
        }
        prompts.push(m.prompt);
        let lasts = self.play(myself, prompts, false, Purpose::Menu).await;
        // The call goes on even if the end of the collection is never reported.
        self.arm(
            myself,
            lasts + u64::from(m.timeout_ms) + PLAY_MARGIN_MS,
            Timer::MenuDeadline { collection },
        );
    }

    /// The menu's keys (or none in time): routing decides where they lead.
    pub(super) async fn menu_collected(
        &mut self,
        myself: &ActorRef<CallMsg>,
        done: media::CollectDone,
    ) {
        if self.menu != Some(done.collection_id) || self.phase != Phase::Routing {
            return;
        }
        self.menu = None;
        if matches!(self.playback, Some((_, Purpose::Menu))) {
            // A key came before the prompt started (barge-in stops a playing one).
            self.stop_prompt();
        }
        let outcome = if done.digits.is_empty() {
            info!(call = %self.id, "no key in time");
            Outcome::MenuTimeout(routing::MenuTimeout {})
        } else {
            info!(call = %self.id, digits = %done.digits, "menu keys");
            Outcome::Digits(done.digits)
        };
        self.outcome = Some(outcome);
        self.decide(myself).await;
    }

    /// The collection's end was never reported: as if no key came in time.
    pub(super) async fn menu_overdue(&mut self, myself: &ActorRef<CallMsg>, collection: u64) {
        if self.menu != Some(collection) || self.phase != Phase::Routing {
            return;
        }
        debug!(call = %self.id, collection, "menu collection end not reported: going on");
        let done = media::CollectDone {
            collection_id: collection,
            digits: String::new(),
            reason: media::collect_done::Reason::Timeout.into(),
        };
        Box::pin(self.menu_collected(myself, done)).await;
    }
}
