//! A new leader restores the core from the store's records, and any leader reconciles one
//! record when a write found the store holding something else (another leader wrote it).
//!
//! A record restored in `dispatching` is an attempt that may have been dialled: it is not
//! dialled again. It waits for its result until `in_doubt_after` past its dispatch (the
//! result may still come: the dialler reports under the token in the record), then counts
//! as failed and is retried like any other failed attempt. That is the at-most-once rule
//! per attempt; the cost of a leader change is at most `in_doubt_after` of delay.

use super::error::CallbackError;
use super::record::{Record, State};
use super::{CallbackCore, CallbackId, Entry, Slot, Timestamp};

/// What a restore found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// Active callbacks now in the core.
    pub active: usize,
    /// Of those, attempts that were dispatched (by this or an earlier leader) and wait for a
    /// result or their in-doubt deadline.
    pub in_doubt: usize,
    /// Finished records (they stay in the store only).
    pub finished: usize,
    /// Active callbacks whose (number, target) already had one (kept both: merging them
    /// would rewrite history nobody asked for; it can only follow a race of two leaders).
    pub duplicates: usize,
    /// Records that contradict themselves, skipped.
    pub invalid: Vec<CallbackError>,
}

impl CallbackCore {
    /// Loads records read back from the store (a new leader, after `load_all`). A record
    /// dispatched under a newer leader's token means this leader is already replaced:
    /// nothing is loaded and [`CallbackError::Fenced`] is returned. Records the core already
    /// holds are replaced by the stored ones.
    pub fn handle_restore(
        &mut self,
        now: Timestamp,
        records: Vec<Record>,
    ) -> Result<Restored, CallbackError> {
        self.check_fence()?;
        if let Some(by) = records.iter().find_map(|r| self.newer_token(r)) {
            return Err(self.fence(by));
        }
        let mut restored = Restored::default();
        self.entries.reserve(records.len());
        self.by_key.reserve(records.len());
        for record in records {
            if let Err(e) = record.check() {
                restored.invalid.push(e);
                continue;
            }
            if record.state.is_final() {
                restored.finished += 1;
                self.forget(&record.id);
                continue;
            }
            if matches!(record.state, State::Dispatching { .. }) {
                restored.in_doubt += 1;
            }
            if !self.adopt(now, record) {
                restored.duplicates += 1;
            }
        }
        self.advance(now);
        restored.active = self.entries.len();
        Ok(restored)
    }

    /// The store holds `stored` for `id` (`None`: deleted, or unreadable), not what this
    /// core last wrote: another leader wrote it. The core takes the stored record as the
    /// truth, without output (it is already stored). A record dispatched under a newer token
    /// fences this core. An inconsistent record is forgotten like a deleted one and reported.
    pub fn handle_stored(
        &mut self,
        now: Timestamp,
        id: &CallbackId,
        stored: Option<Record>,
    ) -> Result<(), CallbackError> {
        self.check_fence()?;
        if let Some(by) = stored.as_ref().and_then(|r| self.newer_token(r)) {
            return Err(self.fence(by));
        }
        self.forget(id);
        let result = match stored {
            Some(record) if record.id != *id => Err(CallbackError::InvalidRecord {
                id: id.clone(),
                why: format!("stored under the id of {}", record.id),
            }),
            Some(record) => match record.check() {
                Ok(()) => {
                    if !record.state.is_final() {
                        self.adopt(now, record);
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            },
            None => Ok(()),
        };
        self.advance(now);
        result
    }

    fn newer_token(&self, record: &Record) -> Option<super::LeaderToken> {
        match record.state {
            State::Dispatching { token, .. } if token > self.token => Some(token),
            _ => None,
        }
    }

    /// Indexes an active, checked record (replacing any entry with its id). False when its
    /// (number, target) already had another active callback.
    fn adopt(&mut self, now: Timestamp, record: Record) -> bool {
        self.forget(&record.id);
        let id = record.id.clone();
        let unique = match self.by_key.entry(record.merge_key()) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(id.clone());
                true
            }
            std::collections::hash_map::Entry::Occupied(_) => false,
        };
        let dispatched = match record.state {
            State::Dispatching { since, .. } => Some(since),
            _ => None,
        };
        self.entries.insert(
            id.clone(),
            Entry {
                record,
                slot: Slot::Unindexed,
            },
        );
        match dispatched {
            Some(since) => {
                let deadline = since.saturating_add(self.config.in_doubt_after);
                self.doubts.insert((deadline, id.clone()));
                if let Some(entry) = self.entries.get_mut(&id) {
                    entry.slot = Slot::Dispatching { deadline };
                }
            }
            None => self.schedule(now, &id),
        }
        unique
    }
}
