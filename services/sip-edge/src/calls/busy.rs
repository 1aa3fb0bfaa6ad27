//! Line busy: a caller from outside whose direct call finds the employee busy hears
//! so ("busy") and chooses ("busy-choices"): 1 waits — music, then the employee's phones
//! ring again after the organisation's `busy_wait_seconds`, up to [`MAX_WAITS`] times —
//! and 2 leaves a message for the employee. Any other key, or none within
//! [`CHOICE_TIMEOUT_MS`], goes on as routing says for a busy employee. Calls in a
//! scenario are left to it (its `no_answer`), and internal callers just hear routing's
//! answer.

use cc_proto::routing::internal::v1 as routing;
use ractor::ActorRef;
use tracing::{info, warn};

use super::actor::{Call, CallMsg, PLAY_MARGIN_MS, Phase, Purpose, Timer};
use super::waiting::CHOICE_TIMEOUT_MS;

/// How often a caller may choose to wait for the same busy employee.
const MAX_WAITS: u32 = 3;

const WAIT_KEY: &str = "1";
const MESSAGE_KEY: &str = "2";

/// A busy employee's caller choosing, or waiting.
#[derive(Debug, Clone)]
pub(super) struct Busy {
    /// The dial that found them busy, to ring again.
    dial: routing::Dial,
    /// The key collection of the choices under way.
    collection: Option<u64>,
    /// How often the caller chose to wait so far.
    waits: u32,
}

impl Call {
    /// Whether a busy outcome of `dial` is the caller's to choose about: a direct call
    /// from outside outside any scenario, the feature on, waits left.
    pub(super) fn busy_is_choice(&self, dial: Option<&routing::Dial>) -> bool {
        let Some(dial) = dial else { return false };
        self.ctx.config().organization.busy_choices
            && !self.is_edge_leg()
            && self.caller_number().is_some()
            && self.cursor_is_empty()
            && !dial.employee_id.is_empty()
            && self.busy.as_ref().is_none_or(|b| b.waits < MAX_WAITS)
    }

    /// Tells the caller the employee is busy and offers the choices.
    pub(super) async fn offer_busy_choices(
        &mut self,
        myself: &ActorRef<CallMsg>,
        dial: routing::Dial,
    ) {
        self.set_phase(Phase::Routing);
        if !self.early_media(myself).await {
            return;
        }
        let waits = self.busy.as_ref().map_or(0, |b| b.waits);
        let collection = match self.a.clone() {
            Some(endpoint) => self
                .collect_key(endpoint, CHOICE_TIMEOUT_MS, "", true)
                .await
                .ok(),
            None => None,
        };
        let Some(collection) = collection else {
            warn!(call = %self.id, "cannot collect the caller's choice: going on as routing says");
            self.busy = None;
            return self.busy_as_routing_says(myself).await;
        };
        info!(call = %self.id, employee = %dial.employee_id, waits, "the employee is busy: offering to wait or leave a message");
        self.busy = Some(Busy {
            dial,
            collection: Some(collection),
            waits,
        });
        let lasts = self
            .play(
                myself,
                vec!["busy".into(), "busy-choices".into()],
                false,
                Purpose::Menu,
            )
            .await;
        self.arm(
            myself,
            lasts + u64::from(CHOICE_TIMEOUT_MS) + PLAY_MARGIN_MS,
            Timer::BusyDeadline { collection },
        );
    }

    /// Whether a key collection is the busy choices'.
    pub(super) fn busy_collection(&self, collection: u64) -> bool {
        self.busy
            .as_ref()
            .is_some_and(|b| b.collection == Some(collection))
    }

    /// The caller chose (or did not, in time).
    pub(super) async fn busy_chosen(
        &mut self,
        myself: &ActorRef<CallMsg>,
        collection: u64,
        digits: &str,
    ) {
        let Some(busy) = self
            .busy
            .as_mut()
            .filter(|b| b.collection == Some(collection))
        else {
            return;
        };
        busy.collection = None;
        let employee = busy.dial.employee_id.clone();
        if self.phase != Phase::Routing {
            return;
        }
        // What follows plays its own prompt or music, which replaces the choices (a stop
        // sent now could arrive after it); only routing's answer may not.
        match digits {
            WAIT_KEY => {
                if let Some(b) = &mut self.busy {
                    b.waits += 1;
                }
                let wait = self.ctx.config().organization.busy_wait_seconds;
                info!(call = %self.id, wait, "the caller waits for the busy employee");
                self.music(myself).await;
                self.arm(myself, u64::from(wait) * 1000, Timer::BusyRetry);
            }
            MESSAGE_KEY => {
                self.busy = None;
                let take = routing::TakeMessage {
                    recipient_id: employee,
                };
                self.take_message(myself, take).await;
            }
            _ => {
                self.busy = None;
                if matches!(self.playback, Some((_, Purpose::Menu))) {
                    self.stop_prompt();
                }
                self.busy_as_routing_says(myself).await;
            }
        }
    }

    /// The wait is over: ring the employee again.
    pub(super) async fn busy_retry(&mut self, myself: &ActorRef<CallMsg>) {
        let Some(dial) = self.busy.as_ref().map(|b| b.dial.clone()) else {
            return;
        };
        if self.phase != Phase::Routing {
            return;
        }
        info!(call = %self.id, employee = %dial.employee_id, "ringing the employee again");
        self.dial(myself, dial).await;
    }

    /// No choice: routing hears the employee was busy.
    async fn busy_as_routing_says(&mut self, myself: &ActorRef<CallMsg>) {
        self.report_dial(myself, routing::DialOutcome::Busy).await;
    }
}
