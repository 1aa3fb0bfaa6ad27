//! Following a prefix: a listing, then its changes, without ever missing one. A broken
//! watch resumes from the revision after the last change seen; a resume that falls into
//! compacted history lists again and says so ([`Update::Reset`]), so the follower's copy
//! is always exactly the coordinator's state at some revision.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::backoff::Backoff;
use crate::{Coordinator, Error, Event, KeyValue, Revision, WatchStream};

/// What changed since the previous [`Follower::next`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// A fresh listing replaced everything (the first update, and after compaction).
    Reset,
    /// These changes were applied, in order.
    Changed(Vec<Event>),
}

/// Follows every key under a prefix and keeps a copy of them.
#[derive(Debug)]
pub struct Follower {
    coordinator: Arc<dyn Coordinator>,
    prefix: String,
    /// The revision the copy is at; 0 before the first listing.
    revision: Revision,
    kvs: BTreeMap<String, KeyValue>,
    stream: Option<WatchStream>,
    listed: bool,
    retry: Backoff,
}

impl Follower {
    /// A follower of `prefix`; nothing is read before the first [`Self::next`].
    pub fn new(coordinator: Arc<dyn Coordinator>, prefix: impl Into<String>) -> Self {
        Self {
            coordinator,
            prefix: prefix.into(),
            revision: 0,
            kvs: BTreeMap::new(),
            stream: None,
            listed: false,
            retry: Backoff::from(Duration::from_millis(50)),
        }
    }

    /// The keys as of [`Self::revision`].
    pub fn kvs(&self) -> &BTreeMap<String, KeyValue> {
        &self.kvs
    }

    /// The store revision the copy reflects.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// Waits for the next update and applies it to the copy. Never fails: while the
    /// coordinator is unavailable it retries (50 ms doubling to 2 s) and logs.
    pub async fn next(&mut self) -> Update {
        loop {
            if !self.listed {
                match self.coordinator.list(&self.prefix).await {
                    Ok(listing) => {
                        self.revision = listing.revision;
                        self.kvs = listing
                            .kvs
                            .into_iter()
                            .map(|kv| (kv.key.clone(), kv))
                            .collect();
                        self.listed = true;
                        self.stream = None;
                        self.retry.reset();
                        return Update::Reset;
                    }
                    Err(e) => {
                        self.wait(&e).await;
                        continue;
                    }
                }
            }
            let stream = match &mut self.stream {
                Some(stream) => stream,
                None => match self
                    .coordinator
                    .watch(&self.prefix, self.revision + 1)
                    .await
                {
                    Ok(stream) => self.stream.insert(stream),
                    Err(e) => {
                        self.failed(e).await;
                        continue;
                    }
                },
            };
            match stream.next().await {
                Some(Ok(events)) => {
                    self.retry.reset();
                    for event in &events {
                        self.revision = self.revision.max(event.revision());
                        match event {
                            Event::Put(kv) => {
                                self.kvs.insert(kv.key.clone(), kv.clone());
                            }
                            Event::Delete { key, .. } => {
                                self.kvs.remove(key);
                            }
                        }
                    }
                    return Update::Changed(events);
                }
                Some(Err(e)) => self.failed(e).await,
                None => {
                    self.failed(Error::Unavailable("watch ended".into())).await;
                }
            }
        }
    }

    async fn failed(&mut self, e: Error) {
        self.stream = None;
        if let Error::Compacted { .. } = e {
            tracing::info!(prefix = %self.prefix, revision = self.revision, "history compacted; listing again");
            self.listed = false;
        } else {
            self.wait(&e).await;
        }
    }

    async fn wait(&mut self, e: &Error) {
        tracing::warn!(prefix = %self.prefix, error = %e, retry_in = ?self.retry.peek(), "cannot follow the coordinator");
        tokio::time::sleep(self.retry.take()).await;
    }
}
