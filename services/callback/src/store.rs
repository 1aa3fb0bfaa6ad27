//! The callbacks kept in the cluster coordinator: `/cc/callbacks/<id>`, one key per
//! callback, the value JSON `{"version": 1, "leader": <token>, "record": {...}}`.
//!
//! Writes are compare-and-swap on the key's mod revision as this leader last read or wrote
//! it ([`Expect::Absent`] for a callback it has never seen stored), and every value carries
//! the writing leader's token. The `Coordinator` trait offers no transaction with a second
//! condition (such as "the election key still has my create revision"), so the fencing is
//! per record, from these two:
//! - **CAS makes each record's history linear.** Two leaders that both try to move a record
//!   on from the revision they read cannot both succeed: the second write finds another
//!   revision and writes nothing. A dispatch is such a write (`dispatching`, attempt n,
//!   token t) made before dialling, so no attempt is dispatched twice, whoever leads.
//! - **The token says who is stale.** A write refused because the stored value carries a
//!   newer leader's token returns [`StoreError::Fenced`]: the writer has been replaced and
//!   stops. One refused because of an older (or its own) token returns the stored record
//!   ([`Written::Conflict`]): an earlier leader, not yet aware it was replaced, wrote after
//!   this leader read. The core takes that record as the truth (`handle_stored`); if it is
//!   `dispatching`, the attempt is in doubt and is not dialled again.
//!
//! So an old leader can still move a record the new leader has not written since its
//! restore (it finds the revision it knows), but never one the new leader has written, and
//! never in a way the new leader overlooks: its next write of that record is refused and
//! shows it. Leadership itself ends with the election key's lease, which the service watches.
//!
//! Unreadable values are skipped with a warning, never a crash.

use std::collections::HashMap;
use std::sync::Arc;

use cc_cluster::{Coordinator, Expect, KeyValue, Revision, Swap, Write};
use serde::{Deserialize, Serialize};

use crate::core::{CallbackId, LeaderToken, Record};

/// Where callbacks are kept: `PREFIX<id>`.
pub const PREFIX: &str = "/cc/callbacks/";

/// The version of the stored value this code writes and reads.
pub const VERSION: u32 = 1;

/// The key of a callback.
pub fn key(id: &CallbackId) -> String {
    format!("{PREFIX}{id}")
}

/// Why the store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The coordinator did not answer: retry later. Whether a write landed is unknown, so
    /// the store forgets the record's revision and the next write of it reads it again (it
    /// comes back as a [`Written::Conflict`] if the write did land).
    #[error("coordinator unavailable: {0}")]
    Unavailable(String),
    /// A newer leader has written: stop leading.
    #[error("fenced: leader {by} wrote after this leader")]
    Fenced {
        /// The newer leader's token.
        by: LeaderToken,
    },
    /// The record could not be encoded (a bug, not a condition).
    #[error("cannot encode callback {id}: {why}")]
    Encode {
        /// The callback.
        id: CallbackId,
        /// Why.
        why: String,
    },
}

/// The outcome of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Stored.
    Done,
    /// Nothing written: the store holds this instead (`None`: nothing, or something
    /// unreadable), written by an earlier leader or by this one in a write whose answer was
    /// lost. Give it to `CallbackCore::handle_stored` and do not act on the output.
    Conflict(Option<Box<Record>>),
}

/// Every callback read back for a new leader.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The readable records, in key order, finished ones included.
    pub records: Vec<Record>,
    /// Keys whose values could not be read (each logged).
    pub skipped: usize,
    /// The store revision they were read at.
    pub revision: Revision,
}

#[derive(Serialize)]
struct EnvelopeRef<'a> {
    version: u32,
    leader: LeaderToken,
    record: &'a Record,
}

#[derive(Deserialize)]
struct Envelope {
    version: u32,
    leader: LeaderToken,
    record: Record,
}

/// Just the version, to say why a value that is not ours could not be read.
#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

/// The callbacks of one leader in one coordinator.
#[derive(Debug)]
pub struct CallbackStore {
    coordinator: Arc<dyn Coordinator>,
    token: LeaderToken,
    /// The mod revision of each active callback as this leader last read or wrote it.
    revisions: HashMap<CallbackId, Revision>,
}

impl CallbackStore {
    /// The store as the leader holding `token` writes it.
    pub fn new(coordinator: Arc<dyn Coordinator>, token: LeaderToken) -> Self {
        Self {
            coordinator,
            token,
            revisions: HashMap::new(),
        }
    }

    /// The token this store stamps on its writes.
    pub fn token(&self) -> LeaderToken {
        self.token
    }

    /// Every stored callback (for `CallbackCore::handle_restore`), remembering the revision
    /// of each active one. Unreadable values are skipped with a warning. A value written by
    /// a newer leader means this one is already replaced: [`StoreError::Fenced`].
    pub async fn load_all(&mut self) -> Result<Loaded, StoreError> {
        let listing = self
            .coordinator
            .list(PREFIX)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut loaded = Loaded {
            records: Vec::with_capacity(listing.kvs.len()),
            skipped: 0,
            revision: listing.revision,
        };
        self.revisions.clear();
        for kv in listing.kvs {
            let Some(envelope) = read(&kv) else {
                loaded.skipped += 1;
                continue;
            };
            if envelope.leader > self.token {
                return Err(StoreError::Fenced {
                    by: envelope.leader,
                });
            }
            if !envelope.record.state.is_final() {
                self.revisions
                    .insert(envelope.record.id.clone(), kv.mod_revision);
            }
            loaded.records.push(envelope.record);
        }
        Ok(loaded)
    }

    /// One stored callback, read again (after [`StoreError::Unavailable`], to reconcile).
    pub async fn read(&mut self, id: &CallbackId) -> Result<Option<Record>, StoreError> {
        let kv = self
            .coordinator
            .get(&key(id))
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(self.remember(id, kv)?.map(|r| *r))
    }

    /// Writes a record if the store still holds what this leader last read or wrote of it
    /// (nothing, for a new one). See the module comment for the fencing.
    pub async fn write(&mut self, record: &Record) -> Result<Written, StoreError> {
        let value = serde_json::to_vec(&EnvelopeRef {
            version: VERSION,
            leader: self.token,
            record,
        })
        .map_err(|e| StoreError::Encode {
            id: record.id.clone(),
            why: e.to_string(),
        })?;
        let id = &record.id;
        let expect = self
            .revisions
            .get(id)
            .map_or(Expect::Absent, |r| Expect::ModRevision(*r));
        let write = Write::Put { value, lease: None };
        match self.coordinator.swap(&key(id), expect, write).await {
            Ok(Swap::Done(revision)) => {
                if record.state.is_final() {
                    self.revisions.remove(id);
                } else {
                    self.revisions.insert(id.clone(), revision);
                }
                Ok(Written::Done)
            }
            Ok(Swap::Conflict(kv)) => Ok(Written::Conflict(self.remember(id, kv)?)),
            Err(e) => {
                self.revisions.remove(id);
                Err(StoreError::Unavailable(e.to_string()))
            }
        }
    }

    /// Takes what the store holds for `id` as the revision to write against next.
    fn remember(
        &mut self,
        id: &CallbackId,
        kv: Option<KeyValue>,
    ) -> Result<Option<Box<Record>>, StoreError> {
        self.revisions.remove(id);
        let Some(kv) = kv else {
            return Ok(None);
        };
        let Some(envelope) = read(&kv) else {
            return Ok(None);
        };
        if envelope.leader > self.token {
            return Err(StoreError::Fenced {
                by: envelope.leader,
            });
        }
        if !envelope.record.state.is_final() {
            self.revisions.insert(id.clone(), kv.mod_revision);
        }
        Ok(Some(Box::new(envelope.record)))
    }
}

/// A callback as stored, for readers that do not lead (the API's Get, List and Watch on
/// any node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The callback.
    pub record: Record,
    /// The leader that wrote it.
    pub leader: LeaderToken,
    /// The store revision of its last change.
    pub revision: Revision,
}

/// The callback stored at `kv`, or `None` (with a warning) when it cannot be read.
pub fn decode(kv: &KeyValue) -> Option<Stored> {
    read(kv).map(|envelope| Stored {
        record: envelope.record,
        leader: envelope.leader,
        revision: kv.mod_revision,
    })
}

/// Every readable stored callback, in id order, and the store revision they were read at.
/// Needs no leadership: a reader's view, never written back.
pub async fn list(coordinator: &dyn Coordinator) -> Result<(Vec<Stored>, Revision), StoreError> {
    let listing = coordinator
        .list(PREFIX)
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok((
        listing.kvs.iter().filter_map(decode).collect(),
        listing.revision,
    ))
}

/// One stored callback (`None`: no such key, or an unreadable value).
pub async fn get(
    coordinator: &dyn Coordinator,
    id: &CallbackId,
) -> Result<Option<Stored>, StoreError> {
    let kv = coordinator
        .get(&key(id))
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(kv.as_ref().and_then(decode))
}

/// The envelope stored at `kv`, or `None` (with a warning) when it cannot be read.
fn read(kv: &KeyValue) -> Option<Envelope> {
    let id = kv.key.strip_prefix(PREFIX).unwrap_or(&kv.key);
    let envelope: Envelope = match serde_json::from_slice(&kv.value) {
        Ok(envelope) => envelope,
        Err(e) => {
            match serde_json::from_slice::<VersionOnly>(&kv.value) {
                Ok(v) if v.version != VERSION => tracing::warn!(
                    key = %kv.key, version = v.version,
                    "skipping a callback stored by another version"
                ),
                _ => tracing::warn!(key = %kv.key, error = %e, "skipping an unreadable callback"),
            }
            return None;
        }
    };
    if envelope.version != VERSION {
        tracing::warn!(key = %kv.key, version = envelope.version, "skipping a callback stored by another version");
        return None;
    }
    if envelope.record.id.as_str() != id {
        tracing::warn!(key = %kv.key, id = %envelope.record.id, "skipping a callback stored under another id");
        return None;
    }
    Some(envelope)
}
