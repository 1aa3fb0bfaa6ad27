//! Messages for people who could not take a call (MISSION R-40): who called, from which
//! company, what about, the number and time to call back, who could take it instead. They
//! live beside the callbacks because both are promises to call back, and, like
//! them, they are durable in the cluster's coordinator.
//!
//! - [`record`] is the message and its validation: the recipient and deputy are checked
//!   against the current configuration, the callback number is normalised, text fields
//!   are bounded; every refusal names the API field.
//! - [`store`] keeps messages under `/cc/messages/<id>` as JSON, each write a
//!   compare-and-swap on the revision the writer read (the etag), and turns a voice
//!   message's `MessageLeft` event into a message exactly once per call ([`MessageStore::ingest`]).
//! - [`watch`] turns the prefix's changes into the messages' event stream.
//! - [`ingest`] follows a node's own event stream and keeps every voice message its
//!   sip-edge reports.
//! - [`recording`] reads a voice message's WAV from this node's recordings directory.
//! - [`api`] serves `cc.messages.v1.Messages`; [`convert`] is its proto <-> domain glue.

pub mod api;
mod convert;
pub mod ingest;
pub mod record;
pub mod recording;
pub mod store;
pub mod watch;

use crate::core::PhoneNumber;

pub use record::{
    CallbackTime, Caller, Edit, MAX_NAME, MAX_SUBSTANCE, MAX_WHEN, Message, MessageId,
    MessageState, NewMessage, Origin, Recipient, Voice, VoiceLeft,
};
pub use store::{Cursor, Etag, Ingested, MessageStore, PREFIX, Page, Query, Stored};

/// Why a message request was refused or could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// A field of the request is wrong (the field as the API names it).
    #[error("{field}: {why}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// No message has this id.
    #[error("message_id: no message {0:?}")]
    NotFound(MessageId),
    /// A message with this id exists already.
    #[error("message_id: message {0:?} already exists")]
    AlreadyExists(MessageId),
    /// The message changed since the etag given was read.
    #[error(
        "etag: message {id:?} changed: {given} is not its current etag {current}; read it again and retry"
    )]
    Conflict {
        /// The message.
        id: MessageId,
        /// The etag the request sent.
        given: Etag,
        /// The message's etag now.
        current: Etag,
    },
    /// The state may only move forward.
    #[error("state: a {from} message cannot become {to} again (NEW -> READ -> DONE)")]
    Backwards {
        /// The state it is in.
        from: MessageState,
        /// The state asked for.
        to: MessageState,
    },
    /// The coordinator (where messages are kept) did not answer; a write may or may not
    /// have landed.
    #[error("message store unavailable: {0}")]
    Unavailable(String),
    /// The stored value cannot be read (written by another version, or damaged).
    #[error("message {id:?} is stored in a form this node cannot read: {why}")]
    Unreadable {
        /// The message.
        id: MessageId,
        /// Why.
        why: String,
    },
}

impl MessageError {
    pub(crate) fn invalid(field: &'static str, why: impl Into<String>) -> Self {
        MessageError::Invalid {
            field,
            why: why.into(),
        }
    }
}

/// `raw` as a callback number (`None` when empty), refused naming `field`.
pub(crate) fn phone(field: &'static str, raw: &str) -> Result<Option<PhoneNumber>, MessageError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    PhoneNumber::parse(raw)
        .map(Some)
        .map_err(|e| MessageError::invalid(field, e.to_string()))
}
