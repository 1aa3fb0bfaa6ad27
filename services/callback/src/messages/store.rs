//! Messages kept in the cluster coordinator: `/cc/messages/<id>`, one key per message, the
//! value JSON `{"version": 1, "message": {...}}`.
//!
//! Every write is a compare-and-swap: a new message expects the key absent (so an id is
//! taken once, and a repeated `MessageLeft` finds the message its call made), an update
//! or deletion expects the revision its etag names (so two people editing one message never
//! lose an edit: the second is refused and reads again). Any node may write; there is no
//! leader to ask. Unreadable values are skipped by lists with a warning, never a crash.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use cc_cluster::{Coordinator, Expect, KeyValue, Revision, Swap, Write};
use cc_common::config::ConfigWatch;
use serde::{Deserialize, Serialize};

use super::MessageError;
use super::record::{CallbackAsked, Edit, Message, MessageId, MessageState, NewMessage, VoiceLeft};
use crate::clock::Clock;
use crate::core::Timestamp;

/// Where messages are kept: `PREFIX<id>`.
pub const PREFIX: &str = "/cc/messages/";

/// The version of the stored value this code writes and reads.
pub const VERSION: u32 = 1;

/// The key of a message.
pub fn key(id: &MessageId) -> String {
    format!("{PREFIX}{id}")
}

/// A message's version as a client sees it: the store revision of its last change,
/// written `r<revision>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Etag(pub Revision);

impl Etag {
    /// An etag as [`Etag`]'s `Display` writes it; `None` for anything else.
    pub fn parse(text: &str) -> Option<Etag> {
        text.strip_prefix('r')?
            .parse()
            .ok()
            .filter(|r| *r > 0)
            .map(Etag)
    }
}

impl fmt::Display for Etag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// A message and its etag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub message: Message,
    pub etag: Etag,
    /// True when the change that produced it created the key (watchers tell new messages
    /// from edits by it).
    pub created: bool,
}

/// What [`MessageStore::ingest`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// A new message.
    Created(Stored),
    /// The call's message was kept before (a repeated event): nothing written.
    Existing(Stored),
}

/// Where a page of a list ends: the next page starts after it, newest first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub created: Timestamp,
    pub id: MessageId,
}

/// Which messages to list, and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Only those for this employee or department id.
    pub recipient_id: Option<String>,
    /// Only those in one of these states; empty: any.
    pub states: BTreeSet<MessageState>,
    /// At most this many.
    pub size: usize,
    /// Only those after this (the previous page's last).
    pub after: Option<Cursor>,
}

impl Query {
    fn matches(&self, message: &Message) -> bool {
        self.recipient_id
            .as_deref()
            .is_none_or(|r| message.recipient_id() == r)
            && (self.states.is_empty() || self.states.contains(&message.state))
            && self
                .after
                .as_ref()
                .is_none_or(|after| cursor(message) < *after)
    }
}

fn cursor(message: &Message) -> Cursor {
    Cursor {
        created: message.created,
        id: message.id.clone(),
    }
}

/// A page of messages, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub messages: Vec<Stored>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
    /// The store revision the page was read at.
    pub revision: Revision,
}

#[derive(Serialize)]
struct EnvelopeRef<'a> {
    version: u32,
    message: &'a Message,
}

#[derive(Deserialize)]
struct Envelope {
    version: u32,
    message: Message,
}

/// The messages of the cluster, as one node reads and writes them.
#[derive(Debug, Clone)]
pub struct MessageStore {
    coordinator: Arc<dyn Coordinator>,
    /// The organisation now: recipients and deputies are checked against it.
    config: ConfigWatch,
    clock: Clock,
}

impl MessageStore {
    /// The store in `coordinator`, checking against `config` as it changes.
    pub fn new(coordinator: Arc<dyn Coordinator>, config: ConfigWatch, clock: Clock) -> Self {
        Self {
            coordinator,
            config,
            clock,
        }
    }

    /// Where the messages are kept (watches read it).
    pub fn coordinator(&self) -> Arc<dyn Coordinator> {
        self.coordinator.clone()
    }

    /// Where the store reads the time.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Takes a new message under `id`.
    pub async fn create(&self, id: MessageId, new: NewMessage) -> Result<Stored, MessageError> {
        let config = self.config.borrow().clone();
        let message = Message::create(id, new, &config, self.clock.now())?;
        match self.put_new(&message).await? {
            Swap::Done(revision) => Ok(Stored {
                message,
                etag: Etag(revision),
                created: true,
            }),
            Swap::Conflict(_) => Err(MessageError::AlreadyExists(message.id)),
        }
    }

    /// Keeps the voice message a `MessageLeft` event reports, once per call: a repeated
    /// event finds the message its first one made and writes nothing (even if that message
    /// was edited since).
    pub async fn ingest(&self, left: VoiceLeft) -> Result<Ingested, MessageError> {
        let config = self.config.borrow().clone();
        let message = Message::from_voice(left, &config, self.clock.now())?;
        self.keep_once(message).await
    }

    /// Keeps a caller's request to be called back as a message for `recipient_id`, once
    /// per call, as [`Self::ingest`] does for voice messages.
    pub async fn ingest_callback_request(
        &self,
        recipient_id: &str,
        asked: CallbackAsked,
        at: Option<Timestamp>,
    ) -> Result<Ingested, MessageError> {
        let config = self.config.borrow().clone();
        let at = at.unwrap_or_else(|| self.clock.now());
        let message = Message::from_callback_request(recipient_id, asked, &config, at)?;
        self.keep_once(message).await
    }

    /// Writes a message made from an event unless its id exists already.
    async fn keep_once(&self, message: Message) -> Result<Ingested, MessageError> {
        match self.put_new(&message).await? {
            Swap::Done(revision) => Ok(Ingested::Created(Stored {
                message,
                etag: Etag(revision),
                created: true,
            })),
            Swap::Conflict(Some(kv)) => Ok(Ingested::Existing(decode(&kv)?)),
            // Deleted between the write and its check: the call's message was taken and
            // then deleted by someone; it is not made again.
            Swap::Conflict(None) => Err(MessageError::NotFound(message.id)),
        }
    }

    /// One message.
    pub async fn get(&self, id: &MessageId) -> Result<Stored, MessageError> {
        let kv = self
            .coordinator
            .get(&key(id))
            .await
            .map_err(unavailable)?
            .ok_or_else(|| MessageError::NotFound(id.clone()))?;
        decode(&kv)
    }

    /// A page of the messages `query` asks for, newest first (by creation, then by id).
    pub async fn list(&self, query: &Query) -> Result<Page, MessageError> {
        let listing = self.coordinator.list(PREFIX).await.map_err(unavailable)?;
        let mut matching: Vec<Stored> = listing
            .kvs
            .iter()
            .filter_map(|kv| match decode(kv) {
                Ok(stored) => Some(stored),
                Err(e) => {
                    tracing::warn!(key = %kv.key, error = %e, "skipping an unreadable message");
                    None
                }
            })
            .filter(|s| query.matches(&s.message))
            .collect();
        matching.sort_by_key(|s| std::cmp::Reverse(cursor(&s.message)));
        let size = query.size.max(1);
        let next = (matching.len() > size).then(|| cursor(&matching[size - 1].message));
        matching.truncate(size);
        Ok(Page {
            messages: matching,
            next,
            revision: listing.revision,
        })
    }

    /// Applies `edit` to the message if it is still at `etag`.
    pub async fn update(
        &self,
        id: &MessageId,
        etag: Etag,
        edit: Edit,
    ) -> Result<Stored, MessageError> {
        let current = self.get(id).await?;
        if current.etag != etag {
            return Err(MessageError::Conflict {
                id: id.clone(),
                given: etag,
                current: current.etag,
            });
        }
        let config = self.config.borrow().clone();
        let message = current.message.apply(edit, &config, self.clock.now())?;
        if message == current.message {
            return Ok(current);
        }
        let value = encode(&message)?;
        let swapped = self
            .coordinator
            .swap(
                &key(id),
                Expect::ModRevision(etag.0),
                Write::Put { value, lease: None },
            )
            .await
            .map_err(unavailable)?;
        match swapped {
            Swap::Done(revision) => Ok(Stored {
                message,
                etag: Etag(revision),
                created: false,
            }),
            Swap::Conflict(kv) => Err(self.conflict(id, etag, kv)),
        }
    }

    /// Deletes the message if it is still at `etag`.
    pub async fn delete(&self, id: &MessageId, etag: Etag) -> Result<(), MessageError> {
        let swapped = self
            .coordinator
            .swap(&key(id), Expect::ModRevision(etag.0), Write::Delete)
            .await
            .map_err(unavailable)?;
        match swapped {
            Swap::Done(_) => Ok(()),
            Swap::Conflict(kv) => Err(self.conflict(id, etag, kv)),
        }
    }

    /// Writes a message whose key must not exist yet.
    async fn put_new(&self, message: &Message) -> Result<Swap, MessageError> {
        let value = encode(message)?;
        self.coordinator
            .swap(
                &key(&message.id),
                Expect::Absent,
                Write::Put { value, lease: None },
            )
            .await
            .map_err(unavailable)
    }

    /// Why a write expecting `etag` found `kv` instead.
    fn conflict(&self, id: &MessageId, etag: Etag, kv: Option<KeyValue>) -> MessageError {
        match kv {
            Some(kv) => MessageError::Conflict {
                id: id.clone(),
                given: etag,
                current: Etag(kv.mod_revision),
            },
            None => MessageError::NotFound(id.clone()),
        }
    }
}

fn unavailable(e: cc_cluster::Error) -> MessageError {
    MessageError::Unavailable(e.to_string())
}

fn encode(message: &Message) -> Result<Vec<u8>, MessageError> {
    serde_json::to_vec(&EnvelopeRef {
        version: VERSION,
        message,
    })
    .map_err(|e| MessageError::Unreadable {
        id: message.id.clone(),
        why: format!("cannot encode it: {e}"),
    })
}

/// The message stored at `kv`.
pub fn decode(kv: &KeyValue) -> Result<Stored, MessageError> {
    let id = kv.key.strip_prefix(PREFIX).unwrap_or(&kv.key);
    let unreadable = |why: String| MessageError::Unreadable {
        id: MessageId::from_key(id),
        why,
    };
    let envelope: Envelope =
        serde_json::from_slice(&kv.value).map_err(|e| unreadable(e.to_string()))?;
    if envelope.version != VERSION {
        return Err(unreadable(format!(
            "version {} (this node reads {VERSION})",
            envelope.version
        )));
    }
    if envelope.message.id.as_str() != id {
        return Err(unreadable(format!(
            "it holds message {:?}",
            envelope.message.id.as_str()
        )));
    }
    Ok(Stored {
        message: envelope.message,
        etag: Etag(kv.mod_revision),
        created: kv.create_revision == kv.mod_revision,
    })
}

#[cfg(test)]
mod tests;
