//! Why the core refused an input: bad requests and misuse. Expected conditions (nobody
//! free, a target closed, a timer that fired early) are not errors. A refused input changes
//! nothing and outputs nothing.

use super::ids::{CallbackId, LeaderToken};
use super::record::StateKind;

/// The core's typed error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The callback number is not a phone number.
    #[error("invalid number {number:?}: {why}")]
    InvalidNumber {
        /// The number as given (cut to 40 characters).
        number: String,
        /// What is wrong with it.
        why: String,
    },
    /// The caller's window is empty or unusable.
    #[error("invalid window: {0}")]
    InvalidWindow(String),
    /// Not an IANA time zone name.
    #[error("unknown time zone {0:?}")]
    InvalidTimeZone(String),
    /// A field of the request is out of bounds.
    #[error("invalid {field}: {why}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// The window of the request (or reschedule) ends before now.
    #[error("the window ended before now")]
    WindowOver,
    /// A callback with this id is already known.
    #[error("callback {0} already exists")]
    DuplicateId(CallbackId),
    /// No active callback has this id (never known, or finished and forgotten by the core).
    #[error("unknown callback {0}")]
    UnknownCallback(CallbackId),
    /// The configured maximum of active callbacks is reached; a request that merges into an
    /// existing one is still accepted.
    #[error("the scheduler holds its maximum of {max} active callbacks")]
    Full {
        /// The configured maximum.
        max: usize,
    },
    /// The input needs a pending callback (a reschedule during a dial is refused: try again
    /// after its result).
    #[error("callback {id} is {state}, not pending")]
    NotPending {
        /// The callback.
        id: CallbackId,
        /// What it is instead.
        state: StateKind,
    },
    /// A result for an attempt that is not the callback's current dispatch (a second result,
    /// one for an attempt already given up as in doubt, or one under another token).
    #[error("callback {id} has no attempt {attempt} dispatched under token {token}")]
    StaleAttempt {
        /// The callback.
        id: CallbackId,
        /// The attempt the result named.
        attempt: u32,
        /// The token the result named.
        token: LeaderToken,
    },
    /// A newer leader has written: this core must stop (drop it, stop dialling).
    #[error("fenced: leader {by} took over")]
    Fenced {
        /// The newer leader's token.
        by: LeaderToken,
    },
    /// A stored record that contradicts itself (restore skips it).
    #[error("record {id} is inconsistent: {why}")]
    InvalidRecord {
        /// The record.
        id: CallbackId,
        /// The contradiction.
        why: String,
    },
}
