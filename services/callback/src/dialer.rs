//! Who places the calls: the scheduler decides when an attempt is due, the [`Dialer`]
//! connects the agent (or employee) and the customer and says how the attempt ended.
//! The real one (sip-edge originating the agent-first or customer-first call) is wired in
//! by `ccd`; this crate only defines the contract.

use std::fmt;

use crate::core::{Dispatch, Outcome};

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
/// - **Dropping the future stops the attempt**: it happens when the callback is cancelled
///   during the dial, and when this node stops leading (its successor counts the attempt
///   in doubt). Stop ringing then, but never tear down a conversation already connected.
/// - **Hold no lock on the scheduler**: dials run concurrently, each in its own task, up
///   to the free agents reported for the target.
#[async_trait::async_trait]
pub trait Dialer: Send + Sync + fmt::Debug + 'static {
    /// Places one attempt: call `dispatch.record.number` for `dispatch.record.target`
    /// (the record also carries the caller's name and reasons, for the agent).
    async fn dial(&self, dispatch: Dispatch) -> Outcome;
}
