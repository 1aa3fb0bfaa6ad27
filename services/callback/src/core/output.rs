//! What the core asks its owner to do, drained by `CallbackCore::poll_output`.
//!
//! Every change of a callback is one output carrying the whole record, and the record's
//! last history entry is the change's event. The owner handles them in order:
//! 1. write the record to the store (compare-and-swap, [`crate::store::CallbackStore::write`]);
//! 2. only when that write succeeded, act: publish the event, and for a
//!    [`Output::Dispatch`] dial the attempt;
//! 3. when it was refused because the stored record differs (another leader wrote it),
//!    give the stored record to `CallbackCore::handle_stored` and do not act; when the store
//!    says a newer leader wrote, stop leading.
//!
//! A request is accepted only once its record is written: if that write was refused, the
//! owner applies the same request again after `handle_stored` (it then merges into the
//! record as stored), as a client would retry. A write whose answer never came (the
//! coordinator unavailable) may have landed: read the record back and give it to
//! `handle_stored`; never dial on such a write.

use super::ids::{CallbackId, LeaderToken, Target};
use super::record::{Change, Record};
use super::time::Timestamp;

/// One instruction for the owner of the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A callback changed: write the record, then publish its last change as an event.
    Changed(Box<Record>),
    /// Dial an attempt. The record (in `dispatching` by this attempt and token) must be
    /// written first; dial only if that write succeeded. That write is what makes each
    /// attempt at most once: a leader that finds the record dispatching does not dial it.
    Dispatch(Dispatch),
}

/// One attempt to dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    /// The callback.
    pub id: CallbackId,
    /// The attempt (1-based); the result must name it.
    pub attempt: u32,
    /// The leader that dispatched it; the result must name it.
    pub token: LeaderToken,
    /// The record to write before dialling (the number, target, reasons for the agent).
    pub record: Box<Record>,
}

/// A change of a callback, for the event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The callback.
    pub id: CallbackId,
    /// Its target (for agents who watch their departments' callbacks).
    pub target: Target,
    /// When.
    pub at: Timestamp,
    /// What.
    pub change: Change,
}

impl Output {
    /// The record to write.
    pub fn record(&self) -> &Record {
        match self {
            Output::Changed(record) => record,
            Output::Dispatch(d) => &d.record,
        }
    }

    /// The event to publish once the record is written.
    pub fn event(&self) -> Option<Event> {
        let record = self.record();
        record.last_change().map(|h| Event {
            id: record.id.clone(),
            target: record.target.clone(),
            at: h.at,
            change: h.change.clone(),
        })
    }
}
