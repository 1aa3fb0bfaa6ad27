//! The in-process backend: the same semantics as etcd (revisions, leases that expire by
//! themselves, watches from a revision, compaction) inside one process, for `ccd all` on one
//! machine. Timers are tokio's, so tests can run it on a paused clock.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use crate::{
    Coordinator, Error, Event, Expect, KeyValue, LeaseId, Listing, Revision, Swap, WatchStream,
    Write, ttl_seconds,
};

/// How many changes the store remembers for watches from an older revision, by default.
const HISTORY: usize = 100_000;
/// Batches a live watcher may fall behind before its stream ends (it then resumes from
/// history, like after any broken watch).
const WATCH_BUFFER: usize = 4096;

/// An etcd-like store in memory. Clones share the store.
#[derive(Debug, Clone)]
pub struct MemoryCoordinator {
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    revision: Revision,
    kvs: BTreeMap<String, KeyValue>,
    /// Changes after `compacted`, oldest first.
    history: VecDeque<Event>,
    history_limit: usize,
    /// Every revision up to and including this one is forgotten.
    compacted: Revision,
    leases: HashMap<LeaseId, Lease>,
    next_lease: i64,
    changes: broadcast::Sender<Arc<Vec<Event>>>,
}

#[derive(Debug)]
struct Lease {
    ttl: Duration,
    expires: Instant,
    keys: BTreeSet<String>,
}

impl Default for MemoryCoordinator {
    fn default() -> Self {
        Self::with_history(HISTORY)
    }
}

impl MemoryCoordinator {
    /// A store that keeps the last `history` changes for watches from older revisions.
    pub fn with_history(history: usize) -> Self {
        let (changes, _) = broadcast::channel(WATCH_BUFFER);
        Self {
            state: Arc::new(Mutex::new(State {
                revision: 1,
                kvs: BTreeMap::new(),
                history: VecDeque::new(),
                history_limit: history.max(1),
                compacted: 0,
                leases: HashMap::new(),
                next_lease: 0x7000_0000_0000_0001,
                changes,
            })),
        }
    }

    /// Moves the store's revision up to `revision` (never down), as if that many changes
    /// had been made: revisions given from now on are greater. A store rebuilt from a
    /// journal starts there, so that the tokens an earlier process wrote into its values
    /// (create revisions of ownership keys) stay older than every later one.
    pub fn advance_revision(&self, revision: Revision) {
        let mut state = self.lock();
        state.revision = state.revision.max(revision);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// The store's lock. A panic while holding it cannot leave a half-applied change (every
/// change is applied after all checks), so a poisoned lock is used as is.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl State {
    fn check_key(key: &str) -> Result<(), Error> {
        if key.is_empty() {
            return Err(Error::Invalid("empty key".into()));
        }
        Ok(())
    }

    fn check_lease(&self, lease: Option<LeaseId>) -> Result<(), Error> {
        match lease {
            Some(id) if !self.leases.contains_key(&id) => Err(Error::LeaseNotFound(id)),
            _ => Ok(()),
        }
    }

    /// Applies a put; the lease was checked.
    fn put(&mut self, key: &str, value: Vec<u8>, lease: Option<LeaseId>) -> Event {
        self.revision += 1;
        let revision = self.revision;
        let create_revision = self.kvs.get(key).map_or(revision, |kv| kv.create_revision);
        if let Some(old) = self.kvs.get(key).and_then(|kv| kv.lease)
            && Some(old) != lease
            && let Some(l) = self.leases.get_mut(&old)
        {
            l.keys.remove(key);
        }
        if let Some(l) = lease.and_then(|id| self.leases.get_mut(&id)) {
            l.keys.insert(key.to_owned());
        }
        let kv = KeyValue {
            key: key.to_owned(),
            value,
            create_revision,
            mod_revision: revision,
            lease,
        };
        self.kvs.insert(key.to_owned(), kv.clone());
        Event::Put(kv)
    }

    /// Removes a key at the given revision (the caller bumped it).
    fn remove(&mut self, key: &str, revision: Revision) -> Option<Event> {
        let kv = self.kvs.remove(key)?;
        if let Some(l) = kv.lease.and_then(|id| self.leases.get_mut(&id)) {
            l.keys.remove(key);
        }
        Some(Event::Delete {
            key: key.to_owned(),
            mod_revision: revision,
        })
    }

    fn delete(&mut self, key: &str) -> Option<Event> {
        if !self.kvs.contains_key(key) {
            return None;
        }
        self.revision += 1;
        let revision = self.revision;
        self.remove(key, revision)
    }

    /// Records and announces changes.
    fn publish(&mut self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        for event in &events {
            self.history.push_back(event.clone());
        }
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted = self.compacted.max(old.revision());
            }
        }
        // Nobody watching is fine.
        let _ = self.changes.send(Arc::new(events));
    }

    /// Ends a lease: its keys are deleted in one revision, as etcd does.
    fn end_lease(&mut self, id: LeaseId) {
        let Some(lease) = self.leases.remove(&id) else {
            return;
        };
        if lease.keys.is_empty() {
            return;
        }
        self.revision += 1;
        let revision = self.revision;
        let events = lease
            .keys
            .iter()
            .filter_map(|key| self.remove(key, revision))
            .collect();
        self.publish(events);
    }
}

/// Ends the lease when it is not kept alive; exits when the lease or the store is gone.
async fn expire(state: Weak<Mutex<State>>, id: LeaseId) {
    loop {
        let deadline = {
            let Some(state) = state.upgrade() else { return };
            let mut state = lock(&state);
            let Some(lease) = state.leases.get(&id) else {
                return;
            };
            if lease.expires <= Instant::now() {
                tracing::debug!(lease = %id, "lease expired");
                state.end_lease(id);
                return;
            }
            lease.expires
        };
        tokio::time::sleep_until(deadline).await;
    }
}

fn matches(prefix: &str, event: &Event) -> bool {
    event.key().starts_with(prefix)
}

#[async_trait::async_trait]
impl Coordinator for MemoryCoordinator {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, Error> {
        Ok(self.lock().kvs.get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> Result<Listing, Error> {
        let state = self.lock();
        let kvs = state
            .kvs
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, kv)| kv.clone())
            .collect();
        Ok(Listing {
            revision: state.revision,
            kvs,
        })
    }

    async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    ) -> Result<Revision, Error> {
        State::check_key(key)?;
        let mut state = self.lock();
        state.check_lease(lease)?;
        let event = state.put(key, value, lease);
        state.publish(vec![event]);
        Ok(state.revision)
    }

    async fn delete(&self, key: &str) -> Result<bool, Error> {
        let mut state = self.lock();
        let event = state.delete(key);
        let existed = event.is_some();
        state.publish(event.into_iter().collect());
        Ok(existed)
    }

    async fn swap(&self, key: &str, expect: Expect, write: Write) -> Result<Swap, Error> {
        State::check_key(key)?;
        let mut state = self.lock();
        let current = state.kvs.get(key);
        let holds = match expect {
            Expect::Absent => current.is_none(),
            Expect::ModRevision(r) => current.is_some_and(|kv| kv.mod_revision == r),
        };
        if !holds {
            return Ok(Swap::Conflict(current.cloned()));
        }
        let event = match write {
            Write::Put { value, lease } => {
                state.check_lease(lease)?;
                Some(state.put(key, value, lease))
            }
            Write::Delete => state.delete(key),
        };
        state.publish(event.into_iter().collect());
        Ok(Swap::Done(state.revision))
    }

    async fn grant(&self, ttl: Duration) -> Result<LeaseId, Error> {
        let ttl = Duration::from_secs(ttl_seconds(ttl).unsigned_abs());
        let id = {
            let mut state = self.lock();
            let id = LeaseId(state.next_lease);
            state.next_lease += 1;
            state.leases.insert(
                id,
                Lease {
                    ttl,
                    expires: Instant::now() + ttl,
                    keys: BTreeSet::new(),
                },
            );
            id
        };
        tokio::spawn(expire(Arc::downgrade(&self.state), id));
        Ok(id)
    }

    async fn keep_alive(&self, id: LeaseId) -> Result<(), Error> {
        let mut state = self.lock();
        let lease = state.leases.get_mut(&id).ok_or(Error::LeaseNotFound(id))?;
        lease.expires = Instant::now() + lease.ttl;
        Ok(())
    }

    async fn revoke(&self, id: LeaseId) -> Result<(), Error> {
        self.lock().end_lease(id);
        Ok(())
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream, Error> {
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        let prefix = prefix.to_owned();
        // History and subscription under one lock: no change falls in between.
        let (backlog, mut live) = {
            let state = self.lock();
            if from <= state.compacted {
                return Err(Error::Compacted {
                    requested: from,
                    oldest: state.compacted + 1,
                });
            }
            let backlog: Vec<Event> = state
                .history
                .iter()
                .filter(|e| e.revision() >= from && matches(&prefix, e))
                .cloned()
                .collect();
            (backlog, state.changes.subscribe())
        };
        tokio::spawn(async move {
            if !backlog.is_empty() && tx.send(Ok(backlog)).await.is_err() {
                return;
            }
            loop {
                let batch = match live.recv().await {
                    Ok(batch) => batch,
                    Err(broadcast::error::RecvError::Closed) => return,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        let _ = tx
                            .send(Err(Error::Unavailable(format!(
                                "watch fell {missed} batches behind"
                            ))))
                            .await;
                        return;
                    }
                };
                let events: Vec<Event> = batch
                    .iter()
                    .filter(|e| e.revision() >= from && matches(&prefix, e))
                    .cloned()
                    .collect();
                if !events.is_empty() && tx.send(Ok(events)).await.is_err() {
                    return;
                }
            }
        });
        Ok(WatchStream::new(rx))
    }

    async fn compact(&self, revision: Revision) -> Result<(), Error> {
        let mut state = self.lock();
        if revision > state.revision {
            return Err(Error::Invalid(format!(
                "cannot compact to revision {revision}, the store is at {}",
                state.revision
            )));
        }
        // Like etcd: watches from `revision` on still work.
        let keep_from = revision;
        while state
            .history
            .front()
            .is_some_and(|e| e.revision() < keep_from)
        {
            state.history.pop_front();
        }
        state.compacted = state.compacted.max(keep_from - 1);
        Ok(())
    }
}
