//! RFC 3261 section 17 transactions: the four state machines and the table that
//! demultiplexes messages to them.
//!
//! Each machine owns its retransmissions and timers; the [`TransactionTable`] matches
//! incoming messages to machines, hands out [`TxHandle`]s and collects what they want
//! sent ([`Transmit`]) and told ([`TransactionEvent`]). The INVITE machines implement the
//! Accepted state of RFC 6026 (timers L and M), so a retransmitted INVITE after a 2xx is
//! absorbed and a retransmitted 2xx still reaches the transaction user (TU).

mod build;
mod invite_client;
mod invite_server;
mod key;
mod non_invite_client;
mod non_invite_server;
mod table;
#[cfg(test)]
mod test_support;
mod timer;

use std::fmt;
use std::time::Instant;

use thiserror::Error;

use crate::message::{Message, Request, Response};
use crate::method::Method;
use timer::Timers;

pub use build::cancel_for;
pub use table::TransactionTable;
pub use timer::{Timer, TimerConfig};

/// Names one transaction of a [`TransactionTable`]; never reused by that table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxHandle(u64);

impl fmt::Display for TxHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx#{}", self.0)
    }
}

/// A message to put on the wire, with the opaque destination the transport layer gave
/// when the transaction was created (a peer address, a connection id...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit<D> {
    pub message: Message,
    pub dest: D,
}

/// What a transaction tells its user, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionEvent {
    /// A response for a client transaction: provisionals, the final one, and (RFC 6026)
    /// further 2xx to an INVITE, for which the TU sends the ACK again.
    Response {
        handle: TxHandle,
        response: Response,
    },
    /// No final response in time (B, F), no ACK for a non-2xx final (H), or an INVITE
    /// given up 64*T1 after its CANCEL (B).
    Timeout { handle: TxHandle, timer: Timer },
    /// The transaction left the table; its handle is no longer valid.
    Terminated { handle: TxHandle },
}

/// What [`TransactionTable::handle_request`] did with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
    /// A new server transaction: answer it with `send_response`. For an INVITE the
    /// 100 Trying is already queued.
    New { handle: TxHandle, request: Request },
    /// A new CANCEL server transaction (answer 200, or 481 when `invite` is `None`) and
    /// the INVITE server transaction it matches (RFC 3261 9.2), which the TU answers 487
    /// unless it already sent a final response.
    Cancel {
        handle: TxHandle,
        request: Request,
        invite: Option<TxHandle>,
    },
    /// A retransmission, absorbed; the transaction's last response (if any) is queued again.
    Retransmission(TxHandle),
    /// The ACK for a non-2xx final response, absorbed by its INVITE server transaction.
    AckAbsorbed(TxHandle),
    /// An ACK no transaction absorbs: the ACK for a 2xx, which belongs to the dialog.
    Ack(Request),
}

/// What [`TransactionTable::handle_response`] did with a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseOutcome {
    /// A client transaction took it; anything for the TU comes out of `poll_event`.
    Matched(TxHandle),
    /// No client transaction matches (RFC 3261 17.1.3): a stray or a 2xx retransmitted
    /// after the transaction ended. A UA drops it; a proxy may forward it.
    Unmatched(Response),
}

/// Misuse of the transaction API, or a message that cannot be matched at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransactionError {
    #[error("{0} does not exist (never created or already terminated)")]
    UnknownTransaction(TxHandle),
    #[error("{0} is a client transaction; only server transactions send responses")]
    NotAServerTransaction(TxHandle),
    #[error("a {status} response cannot be sent in state {state}")]
    InvalidState { status: u16, state: &'static str },
    #[error("status code {0} is not 100-699")]
    InvalidStatus(u16),
    #[error("the message has no {0} header")]
    MissingHeader(&'static str),
    #[error("top Via branch {0:?} does not start with the z9hG4bK magic cookie")]
    BranchWithoutMagicCookie(String),
    #[error("CSeq method {cseq} does not match request method {method}")]
    CSeqMismatch { cseq: Method, method: Method },
    #[error("ACK has no transaction of its own; send it with send_stateless")]
    AckWithoutTransaction,
    #[error("a client transaction with this branch and method is already running")]
    DuplicateTransaction,
}

/// What a machine asks its table to do; the table adds the handle and destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Transmit(Message),
    Deliver(Response),
    Timeout(Timer),
}

/// The part every machine shares with the table: timers in, deadline and liveness out.
pub(crate) trait Machine {
    fn timers(&self) -> &Timers;
    fn timers_mut(&mut self) -> &mut Timers;
    /// Reacts to one expired timer.
    fn on_timer(&mut self, timer: Timer, now: Instant, out: &mut Vec<Action>);
    fn is_terminated(&self) -> bool;

    /// Fires every timer due at `now`, in deadline order.
    fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        while let Some(timer) = self.timers_mut().pop_expired(now) {
            self.on_timer(timer, now, out);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers().next()
    }
}
