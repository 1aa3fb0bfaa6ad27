//! A callback as stored and as the API shows it: who to call, for whom, when, and what
//! happened so far. The core owns the transitions; this module only holds the data and
//! checks a record read back from the store.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::CallbackError;
use super::ids::{CallbackId, LeaderToken, PhoneNumber, Priority, Target};
use super::time::Timestamp;
use super::window::Window;

/// Where a callback request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The caller chose to be called back while waiting in a queue: keeps the place in line
    ///
    VirtualHold,
    /// A message left with a preferred callback time.
    Message,
    /// The caller hung up while waiting.
    Abandoned,
    /// Nobody answered the call.
    Missed,
    /// An integrator or agent scheduled it through the API.
    Api,
    /// The caller accepted a scenario's offer to be called back.
    Offer,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The customer was reached: the callback is done.
    Reached,
    /// Rang out.
    NoAnswer,
    /// The line was busy.
    Busy,
    /// The dial failed (trunk error, no agent could be reserved ...), with why.
    Failed(String),
    /// Set by the core, never an input: no result came within
    /// [`super::CoreConfig::in_doubt_after`] of the dispatch (a leader died mid-dial, or
    /// the dialler lost it). Treated as a failed attempt.
    InDoubt,
}

/// A callback's state, the data of each state inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum State {
    /// Waiting for its next attempt ([`Record::next_attempt_at`]).
    Pending,
    /// Attempt `attempt` was handed to the dialler by the leader with `token` at `since`.
    /// Written to the store before anything is dialled: a leader that finds it here knows
    /// the attempt may have happened.
    Dispatching {
        /// The attempt (1-based, equal to [`Record::attempts`]).
        attempt: u32,
        /// The leader that dispatched it.
        token: LeaderToken,
        /// When.
        since: Timestamp,
    },
    /// Done: the customer was reached.
    Reached {
        /// When.
        at: Timestamp,
    },
    /// Done: every allowed attempt failed.
    GaveUp {
        /// When.
        at: Timestamp,
    },
    /// Done: cancelled through the API.
    Cancelled {
        /// When.
        at: Timestamp,
    },
    /// Done: the caller's window closed before the customer was reached.
    Expired {
        /// When.
        at: Timestamp,
    },
}

/// The states by name (for lists, filters and errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StateKind {
    Pending,
    Dispatching,
    Reached,
    GaveUp,
    Cancelled,
    Expired,
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StateKind::Pending => "pending",
            StateKind::Dispatching => "dispatching",
            StateKind::Reached => "reached",
            StateKind::GaveUp => "gave up",
            StateKind::Cancelled => "cancelled",
            StateKind::Expired => "expired",
        })
    }
}

impl State {
    /// The state's name.
    pub fn kind(&self) -> StateKind {
        match self {
            State::Pending => StateKind::Pending,
            State::Dispatching { .. } => StateKind::Dispatching,
            State::Reached { .. } => StateKind::Reached,
            State::GaveUp { .. } => StateKind::GaveUp,
            State::Cancelled { .. } => StateKind::Cancelled,
            State::Expired { .. } => StateKind::Expired,
        }
    }

    /// Reached, gave up, cancelled or expired: nothing more will happen.
    pub fn is_final(&self) -> bool {
        !matches!(self, State::Pending | State::Dispatching { .. })
    }
}

/// One change of a callback: an entry of its history and the event raised for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// The callback was requested.
    Created {
        /// From where.
        source: Source,
    },
    /// Another request for the same number and target was merged into it.
    Merged {
        /// The merged request's id (it never became a callback of its own).
        request: CallbackId,
        /// Where that request came from.
        source: Source,
        /// Its reason.
        reason: String,
    },
    /// An attempt was handed to the dialler.
    Dispatched {
        /// The attempt.
        attempt: u32,
        /// By which leader.
        token: LeaderToken,
    },
    /// An attempt failed; another follows.
    Retried {
        /// The attempt that failed.
        attempt: u32,
        /// How.
        outcome: Outcome,
        /// When the next attempt is due.
        next_at: Timestamp,
    },
    /// The customer was reached.
    Reached {
        /// On which attempt.
        attempt: u32,
    },
    /// The last allowed attempt failed.
    GaveUp {
        /// The last attempt.
        attempt: u32,
        /// How it ended.
        outcome: Outcome,
    },
    /// Cancelled through the API.
    Cancelled {
        /// The attempt that was being dialled, if any (the dialler should stop it).
        during_attempt: Option<u32>,
    },
    /// The window closed before the customer was reached.
    Expired {
        /// Attempts made.
        attempts: u32,
        /// How the last one ended, if there was one.
        last: Option<Outcome>,
    },
    /// A new window (and maybe more attempts or another priority) was set.
    Rescheduled {
        /// The new window's start.
        earliest: Timestamp,
        /// The new window's end.
        latest: Timestamp,
    },
}

/// One entry of a callback's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When it happened.
    pub at: Timestamp,
    /// What happened.
    pub change: Change,
}

/// A callback, as stored under `/cc/callbacks/<id>` and shown by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Its id.
    pub id: CallbackId,
    /// The number to call.
    pub number: PhoneNumber,
    /// The caller's name, as given (may be empty).
    pub name: String,
    /// Why the caller wants to be called: the first request's reason, then those of merged
    /// requests (at most [`MAX_REASONS`], repeats dropped).
    pub reasons: Vec<String>,
    /// Who calls back.
    pub target: Target,
    /// Where the first request came from.
    pub source: Source,
    /// When it may be dialled.
    pub window: Window,
    /// Virtual hold: when the caller first joined the queue. Callbacks that have it are
    /// dispatched before scheduled ones, in this order (they keep their place in line).
    pub enqueued_at: Option<Timestamp>,
    /// When it was requested.
    pub created_at: Timestamp,
    /// Its urgency among the target's due callbacks.
    pub priority: Priority,
    /// Attempts dispatched so far (the number of the latest one).
    pub attempts: u32,
    /// The attempt after which a failure gives up.
    pub max_attempts: u32,
    /// While pending: when the next attempt is due.
    pub next_attempt_at: Timestamp,
    /// Where it stands.
    pub state: State,
    /// What happened, oldest first (at most [`super::CoreConfig::max_history`] entries: the
    /// first is kept, the oldest after it go).
    pub history: Vec<HistoryEntry>,
}

/// Most reasons a record keeps.
pub const MAX_REASONS: usize = 8;
/// Longest caller name, in characters.
pub const MAX_NAME: usize = 200;
/// Longest reason, in characters.
pub const MAX_REASON: usize = 2000;

impl Record {
    /// The latest change: the event to raise after writing the record.
    pub fn last_change(&self) -> Option<&HistoryEntry> {
        self.history.last()
    }

    /// How the last finished attempt ended, from the history.
    pub fn last_outcome(&self) -> Option<&Outcome> {
        self.history.iter().rev().find_map(|h| match &h.change {
            Change::Retried { outcome, .. } | Change::GaveUp { outcome, .. } => Some(outcome),
            Change::Reached { .. } => Some(&Outcome::Reached),
            _ => None,
        })
    }

    /// Checks what the types cannot: a record read back from the store that fails this is
    /// skipped.
    pub fn check(&self) -> Result<(), CallbackError> {
        let bad = |why: String| CallbackError::InvalidRecord {
            id: self.id.clone(),
            why,
        };
        if self.id.as_str().is_empty() || self.id.as_str().contains('/') {
            return Err(bad("empty id or one with '/'".into()));
        }
        if self.max_attempts == 0 {
            return Err(bad("max_attempts is 0".into()));
        }
        if let State::Dispatching { attempt, .. } = self.state
            && (attempt != self.attempts || attempt == 0)
        {
            return Err(bad(format!(
                "dispatching attempt {attempt} but {} attempts made",
                self.attempts
            )));
        }
        if self.state == State::Pending && self.attempts >= self.max_attempts {
            return Err(bad(format!(
                "pending after {} of {} attempts",
                self.attempts, self.max_attempts
            )));
        }
        Ok(())
    }

    /// The key that merges requests: one active callback per (number, target).
    pub(crate) fn merge_key(&self) -> (PhoneNumber, Target) {
        (self.number.clone(), self.target.clone())
    }
}

/// A request for a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The new callback's id (unique: a UUID). When the request merges into an existing
    /// callback, that one keeps its id and this one is noted in its history.
    pub id: CallbackId,
    /// The number to call.
    pub number: PhoneNumber,
    /// The caller's name, if known.
    pub name: String,
    /// Why (may be empty).
    pub reason: String,
    /// Who calls back.
    pub target: Target,
    /// From where.
    pub source: Source,
    /// When it may be dialled; a start before now means "from now".
    pub window: Window,
    /// Virtual hold: when the caller joined the queue (keeps the place in line).
    pub enqueued_at: Option<Timestamp>,
    /// Urgency.
    pub priority: Priority,
    /// Attempts allowed; `None` takes [`super::CoreConfig::max_attempts`].
    pub max_attempts: Option<u32>,
}

/// A new window for a pending callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reschedule {
    /// Replaces the window (not merged with it); the next attempt is due at its start.
    pub window: Window,
    /// More attempts on top of those made (a fresh budget for the new window); `None`
    /// keeps the budget.
    pub extra_attempts: Option<u32>,
    /// A new priority; `None` keeps it.
    pub priority: Option<Priority>,
}
