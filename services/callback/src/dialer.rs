//! Who places the calls: the scheduler decides when an attempt is due, the [`Dialer`]
//! connects the agent (or employee) and the customer and says how the attempt ended.
//! The real one (sip-edge originating the agent-first or customer-first call) is wired in
//! by `ccd`; this crate only defines the contract.

use std::fmt;

use crate::core::{CallbackId, Dispatch, Outcome};

/// Dials the attempts the scheduler leader dispatches.
///
/// The leader calls [`Dialer::dial`] only after the attempt's `dispatching` record is
/// stored, once per attempt, and feeds the outcome back into the core
/// (`CallbackCore::handle_result`). The contract:
/// - **Resolve when the attempt's outcome is known**: [`Outcome::Reached`] once the
///   customer and the agent are connected (the conversation itself may go on after that),
///   [`Outcome::NoAnswer`], [`Outcome::Busy`], or [`Outcome::Failed`] with why (no agent
///   could be reserved, the trunk refused ...). Never [`Outcome::InDoubt`]: that is the
///   scheduler's verdict when no outcome came at all; it counts as a failed attempt.
/// - **Finish within the core's `in_doubt_after`** of the dispatch: later, the attempt has
///   already been counted as failed and may have been retried, and the outcome is ignored.
/// - **Dropping the future does not stop the attempt by itself**: it happens when this node
///   stops leading (or dies without dropping anything); the attempt goes on, and the next
///   leader asks how it ended ([`Dialer::resume`]). The leader stops an attempt it no
///   longer wants (the callback was cancelled, a later attempt replaced it) with
///   [`Dialer::withdraw`]: stop ringing then, but never tear down a conversation already
///   connected. A dialler that cannot resume may stop the attempt when dropped: its
///   successor then counts it in doubt.
/// - **Hold no lock on the scheduler**: dials run concurrently, each in its own task, up
///   to the free agents reported for the target.
#[async_trait::async_trait]
pub trait Dialer: Send + Sync + fmt::Debug + 'static {
    /// Places one attempt: call `dispatch.record.number` for `dispatch.record.target`
    /// (the record also carries the caller's name and reasons, for the agent).
    async fn dial(&self, dispatch: Dispatch) -> Outcome;

    /// How an attempt a previous leader dispatched ended (waiting while it still runs): a
    /// new leader asks for each attempt it restored in doubt. `None` when nobody can tell
    /// (the attempt stays in doubt until `in_doubt_after`); [`Outcome::Failed`] when it is
    /// certain the attempt is not running and never reached the customer. By default
    /// nobody can tell.
    async fn resume(&self, dispatch: Dispatch) -> Option<Outcome> {
        let _ = dispatch;
        None
    }

    /// Stops attempt `attempt` of callback `id` wherever it runs (best effort).
    async fn withdraw(&self, id: CallbackId, attempt: u32) {
        let _ = (id, attempt);
    }
}
